/*
 * rel_attention.c: Transformer-XL's attention on one segment (the
 * rel_attention op, ops.def), one query row at a time: its scores into a
 * row buffer (K floats; no score matrix is kept), then exp(score - max)
 * vw keys at a time, then the weighted sum of the values. For query i of
 * batch b and head h, with
 * mlen = min(M, qpos[b, 0]):
 *   keys j in [M - mlen, i + M] (and j > i with same_length),
 *   s = ((q + r_w_bias) . k_j + (q + r_r_bias) . rk[i + M - j]) * scale.
 * Threads split the B * H * C rows. The head's vectors (dh floats) are held
 * in nv = ceil(dh / vw) vectors, the last masked.
 *
 * WIP: a first, row-wise kernel for correctness; the tiled form (a key
 * tile's two terms as small GEMMs, the distance band of rk per tile) is
 * the next step.
 */
#include <math.h>

#include "cg_internal.h"

enum { MAX_NV = 16 };

/* pass 2 of a row: its scores become exp(score - max), summed */
typedef struct row_exp {
  LLVMValueRef sc;  /* the row's scores (f32 array) */
  LLVMValueRef max; /* their max, splat */
  LLVMValueRef sum; /* alloca <vw x float>: the running sums */
} row_exp;

static void exp_keys(cg_ctx *c, void *user, LLVMValueRef j, LLVMValueRef mask) {
  row_exp *e = user;
  LLVMBuilderRef b = c->b;
  LLVMValueRef x = cg_load_vec(c, c->vf32, e->sc, j, mask);
  LLVMValueRef p = cg_math_exp(c->mod, b, LLVMBuildFSub(b, x, e->max, ""));
  if (mask) p = LLVMBuildSelect(b, mask, p, LLVMConstNull(c->vf32), "");
  cg_store_vec(c, p, e->sc, j, mask);
  LLVMBuildStore(b, LLVMBuildFAdd(b, LLVMBuildLoad2(b, c->vf32, e->sum, ""), p, ""), e->sum);
}

void cg_emit_rel_attention(cg_ctx *c, const ir_node *n) {
  LLVMBuilderRef b = c->b;
  const ir_type *qt = &c->g->values[n->inputs[0]].type, *kt = &c->g->values[n->inputs[1]].type;
  if (!ir_dim_is_const(qt->dims[1]) || !ir_dim_is_const(qt->dims[2]) ||
      !ir_dim_is_const(qt->dims[3]) || !ir_dim_is_const(kt->dims[2])) {
    cg_fail(c, "codegen: rel_attention '%s' needs constant heads, segment and keys", n->name);
    return;
  }
  int64_t H = qt->dims[1].coef, C = qt->dims[2].coef, dh = qt->dims[3].coef;
  int64_t K = kt->dims[2].coef, M = ir_attr_int(n, "mem");
  int nv = (int)((dh + c->vw - 1) / c->vw);
  if (nv > MAX_NV) {
    cg_fail(c, "codegen: rel_attention '%s': d_head %lld is too large", n->name, (long long)dh);
    return;
  }
  bool same = ir_attr_int(n, "same_length") != 0;
  LLVMValueRef scale = cg_f32(c, ir_attr_float(n, "scale"));
  LLVMValueRef Q = cg_value_ptr(c, n->inputs[0]), Kp = cg_value_ptr(c, n->inputs[1]);
  LLVMValueRef V = cg_value_ptr(c, n->inputs[2]), RK = cg_value_ptr(c, n->inputs[3]);
  LLVMValueRef U = cg_value_ptr(c, n->inputs[4]), W = cg_value_ptr(c, n->inputs[5]);
  LLVMValueRef P = cg_value_ptr(c, n->inputs[6]), O = cg_value_ptr(c, n->outputs[0]);
  bool pos32 = c->g->values[n->inputs[6]].type.dtype == IR_I32;
  LLVMValueRef mask[MAX_NV];
  for (int v = 0; v < nv; v++)
    mask[v] = (v + 1) * c->vw <= dh ? NULL : cg_mask_upto(c, cg_i64(c, dh - (int64_t)v * c->vw));
  LLVMTypeRef arr = LLVMArrayType2(c->vf32, (uint64_t)nv);
  LLVMValueRef qu = cg_alloca(c, arr, "q_w"), qw = cg_alloca(c, arr, "q_r");
  LLVMValueRef acc = cg_alloca(c, arr, "acc");
  LLVMValueRef mx = cg_alloca(c, c->f32, "max"), vsum = cg_alloca(c, c->vf32, "sum");
  /* one row of scores, then of weights: K floats (the row, never the matrix) */
  LLVMValueRef sc = cg_alloca(c, LLVMArrayType2(c->f32, (uint64_t)K), "scores");
#define SLOT(base, v) cg_gep(c, c->vf32, base, cg_i64(c, v))

  LLVMValueRef rows = LLVMBuildNUWMul(b, cg_dim(c, qt->dims[0]), cg_i64(c, H * C), "");
  LLVMValueRef lo, hi;
  cg_split(c, rows, 1, &lo, &hi);
  cg_loop r;
  cg_loop_begin(c, &r, lo, hi, cg_i64(c, 1));
  LLVMValueRef i = LLVMBuildURem(b, r.i, cg_i64(c, C), "");
  LLVMValueRef bh = LLVMBuildUDiv(b, r.i, cg_i64(c, C), "");
  LLVMValueRef h = LLVMBuildURem(b, bh, cg_i64(c, H), "");
  LLVMValueRef bb = LLVMBuildUDiv(b, bh, cg_i64(c, H), "");
  LLVMValueRef qbase = LLVMBuildNUWMul(b, r.i, cg_i64(c, dh), "");
  LLVMValueRef kbase = LLVMBuildNUWMul(b, bh, cg_i64(c, K * dh), "");
  LLVMValueRef hbase = LLVMBuildNUWMul(b, h, cg_i64(c, dh), "");
  /* the memory rows written before this segment */
  LLVMValueRef pat = cg_gep(c, pos32 ? c->i32 : c->i64, P, LLVMBuildNUWMul(b, bb, cg_i64(c, C), ""));
  LLVMValueRef pos0 = LLVMBuildLoad2(b, pos32 ? c->i32 : c->i64, pat, "");
  if (pos32) pos0 = LLVMBuildSExt(b, pos0, c->i64, "");
  LLVMValueRef mlen = cg_max(c, cg_i64(c, 0), cg_min(c, cg_i64(c, M), pos0));
  LLVMValueRef jlo = LLVMBuildSub(b, cg_i64(c, M), mlen, "");
  if (same) jlo = cg_max(c, jlo, LLVMBuildAdd(b, i, cg_i64(c, 1), ""));
  LLVMValueRef jhi = LLVMBuildAdd(b, i, cg_i64(c, M + 1), "");
  for (int v = 0; v < nv; v++) {
    LLVMValueRef off = cg_i64(c, (int64_t)v * c->vw);
    LLVMValueRef q = cg_load_vec(c, c->vf32, Q, LLVMBuildAdd(b, qbase, off, ""), mask[v]);
    LLVMValueRef u = cg_load_vec(c, c->vf32, U, LLVMBuildAdd(b, hbase, off, ""), mask[v]);
    LLVMValueRef w = cg_load_vec(c, c->vf32, W, LLVMBuildAdd(b, hbase, off, ""), mask[v]);
    LLVMBuildStore(b, LLVMBuildFAdd(b, q, u, ""), SLOT(qu, v));
    LLVMBuildStore(b, LLVMBuildFAdd(b, q, w, ""), SLOT(qw, v));
    LLVMBuildStore(b, LLVMConstNull(c->vf32), SLOT(acc, v));
  }
  LLVMBuildStore(b, cg_f32(c, -INFINITY), mx);

  /* 1: the row's scores into sc[j], and their max */
  cg_loop j;
  cg_loop_begin(c, &j, jlo, jhi, cg_i64(c, 1));
  LLVMValueRef krow = LLVMBuildAdd(b, kbase, LLVMBuildNUWMul(b, j.i, cg_i64(c, dh), ""), "");
  LLVMValueRef dist = LLVMBuildSub(b, LLVMBuildAdd(b, i, cg_i64(c, M), ""), j.i, "");
  LLVMValueRef rrow = LLVMBuildNUWMul(
      b, LLVMBuildAdd(b, LLVMBuildNUWMul(b, h, cg_i64(c, K), ""), dist, ""), cg_i64(c, dh), "");
  LLVMValueRef dot = LLVMConstNull(c->vf32);
  for (int v = 0; v < nv; v++) {
    LLVMValueRef off = cg_i64(c, (int64_t)v * c->vw);
    LLVMValueRef kv = cg_load_vec(c, c->vf32, Kp, LLVMBuildAdd(b, krow, off, ""), mask[v]);
    LLVMValueRef rv = cg_load_vec(c, c->vf32, RK, LLVMBuildAdd(b, rrow, off, ""), mask[v]);
    LLVMValueRef a1[3] = {LLVMBuildLoad2(b, c->vf32, SLOT(qu, v), ""), kv, dot};
    dot = cg_intrinsic(c, "llvm.fmuladd", &c->vf32, 1, a1, 3);
    LLVMValueRef a2[3] = {LLVMBuildLoad2(b, c->vf32, SLOT(qw, v), ""), rv, dot};
    dot = cg_intrinsic(c, "llvm.fmuladd", &c->vf32, 1, a2, 3);
  }
  LLVMValueRef s = LLVMBuildFMul(b, cg_hsum(c, dot), scale, "");
  LLVMBuildStore(b, s, cg_gep(c, c->f32, sc, j.i));
  LLVMBuildStore(b, cg_fmax(c, LLVMBuildLoad2(b, c->f32, mx, ""), s), mx);
  cg_loop_end(c, &j);

  /* 2: p = exp(sc - max), vw keys at a time, and their sum */
  row_exp e = {.sc = sc, .max = cg_splat(c, LLVMBuildLoad2(b, c->f32, mx, "")), .sum = vsum};
  LLVMBuildStore(b, LLVMConstNull(c->vf32), vsum);
  cg_vec_loop(c, jlo, jhi, exp_keys, &e);
  LLVMValueRef l = cg_hsum(c, LLVMBuildLoad2(b, c->vf32, vsum, ""));

  /* 3: the weighted sum of the values */
  cg_loop jv;
  cg_loop_begin(c, &jv, jlo, jhi, cg_i64(c, 1));
  LLVMValueRef vrow = LLVMBuildAdd(b, kbase, LLVMBuildNUWMul(b, jv.i, cg_i64(c, dh), ""), "");
  LLVMValueRef vp = cg_splat(c, LLVMBuildLoad2(b, c->f32, cg_gep(c, c->f32, sc, jv.i), ""));
  for (int v = 0; v < nv; v++) {
    LLVMValueRef off = cg_i64(c, (int64_t)v * c->vw);
    LLVMValueRef vv = cg_load_vec(c, c->vf32, V, LLVMBuildAdd(b, vrow, off, ""), mask[v]);
    LLVMValueRef args[3] = {vp, vv, LLVMBuildLoad2(b, c->vf32, SLOT(acc, v), "")};
    LLVMBuildStore(b, cg_intrinsic(c, "llvm.fmuladd", &c->vf32, 1, args, 3), SLOT(acc, v));
  }
  cg_loop_end(c, &jv);

  /* weights 0 when no key was seen (sum 0) */
  LLVMValueRef seen = LLVMBuildFCmp(b, LLVMRealOGT, l, cg_f32(c, 0.0), "");
  LLVMValueRef inv = LLVMBuildSelect(b, seen, LLVMBuildFDiv(b, cg_f32(c, 1.0), l, ""),
                                     cg_f32(c, 0.0), "");
  LLVMValueRef vinv = cg_splat(c, inv);
  for (int v = 0; v < nv; v++) {
    LLVMValueRef off = cg_i64(c, (int64_t)v * c->vw);
    LLVMValueRef o = LLVMBuildFMul(b, LLVMBuildLoad2(b, c->vf32, SLOT(acc, v), ""), vinv, "");
    cg_store_vec(c, o, O, LLVMBuildAdd(b, qbase, off, ""), mask[v]);
  }
  cg_loop_end(c, &r);
#undef SLOT
}
