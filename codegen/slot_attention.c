/*
 * slot_attention.c: Memformer's write attention (the slot_attention op,
 * ops.def), one item (batch b, slot s, head h) at a time, read straight from
 * the projections' layouts (no head transposes): the query, own key and own
 * value at row s of qkv [B, k, 3E], the segment's keys and values at the C
 * rows of kv [B, C, 2E], the result at row s of out [B, k, E], columns
 * [h dh, (h + 1) dh). Per item, q scaled once, the own key opens the row
 * (the max its score, the sum 1, acc its value), then the C keys come a
 * tile of at most TILE at a time:
 *   1. the tile's scores q.k_j into a row buffer (never a score matrix),
 *      and the running max;
 *   2. the tile's exp(score - max) vw keys at a time, summed; the sum and
 *      acc so far rescaled by exp(old max - new max) (online softmax);
 *   3. acc += p_j v_j;
 * and out = acc / sum.
 * The head's vectors (dh floats) are held in nv = ceil(dh / vw) vectors, the
 * last masked. Threads split the B k H items; consecutive items write
 * consecutive columns of out.
 */
#include "cg_internal.h"

enum {
  MAX_NV = 64, /* dh up to 64 vectors (256 floats with SSE's 4) */
  TILE = 512   /* keys a tile: the row buffer (on the stack) holds one tile */
};

/* pass 2 of an item: its scores become exp(score - max), summed */
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

/* what every key's pass needs: the query, the masks, the vector count */
typedef struct item {
  LLVMValueRef q;            /* alloca [nv x <vw x float>]: the query, times scale */
  LLVMValueRef mask[MAX_NV]; /* the lanes of vector v below dh (NULL: all) */
  int nv;                    /* vectors of dh */
} item;

/* q . x[at .. at + dh), the scaled score of the key at `at` */
static LLVMValueRef score(cg_ctx *c, const item *it, LLVMValueRef x, LLVMValueRef at) {
  LLVMBuilderRef b = c->b;
  LLVMValueRef dot = LLVMConstNull(c->vf32);
  for (int v = 0; v < it->nv; v++) {
    LLVMValueRef off = LLVMBuildAdd(b, at, cg_i64(c, (int64_t)v * c->vw), "");
    LLVMValueRef args[3] = {LLVMBuildLoad2(b, c->vf32, cg_gep(c, c->vf32, it->q, cg_i64(c, v)), ""),
                            cg_load_vec(c, c->vf32, x, off, it->mask[v]), dot};
    dot = cg_intrinsic(c, "llvm.fmuladd", &c->vf32, 1, args, 3);
  }
  return cg_hsum(c, dot);
}

/* acc += p * x[at .. at + dh) (p splat; first: acc = p * x) */
static void weigh(cg_ctx *c, const item *it, LLVMValueRef acc, LLVMValueRef p, LLVMValueRef x,
                  LLVMValueRef at, bool first) {
  LLVMBuilderRef b = c->b;
  for (int v = 0; v < it->nv; v++) {
    LLVMValueRef slot = cg_gep(c, c->vf32, acc, cg_i64(c, v));
    LLVMValueRef xv = cg_load_vec(
        c, c->vf32, x, LLVMBuildAdd(b, at, cg_i64(c, (int64_t)v * c->vw), ""), it->mask[v]);
    LLVMValueRef args[3] = {p, xv,
                            first ? LLVMConstNull(c->vf32) : LLVMBuildLoad2(b, c->vf32, slot, "")};
    LLVMBuildStore(b, cg_intrinsic(c, "llvm.fmuladd", &c->vf32, 1, args, 3), slot);
  }
}

void cg_emit_slot_attention(cg_ctx *c, const ir_node *n) {
  LLVMBuilderRef b = c->b;
  const ir_type *qt = &c->g->values[n->inputs[0]].type, *kt = &c->g->values[n->inputs[1]].type;
  if (!ir_dim_is_const(qt->dims[1]) || !ir_dim_is_const(kt->dims[1])) {
    cg_fail(c, "codegen: slot_attention '%s' needs constant slots and segment", n->name);
    return;
  }
  int64_t k = qt->dims[1].coef, E = qt->dims[2].coef / 3, C = kt->dims[1].coef;
  int64_t H = ir_attr_int(n, "num_heads"), dh = E / H;
  item it = {.nv = (int)((dh + c->vw - 1) / c->vw)};
  if (it.nv > MAX_NV) {
    cg_fail(c, "codegen: slot_attention '%s': head size %lld is too large (at most %d)", n->name,
            (long long)dh, MAX_NV * c->vw);
    return;
  }
  LLVMValueRef QKV = cg_value_ptr(c, n->inputs[0]), KV = cg_value_ptr(c, n->inputs[1]);
  LLVMValueRef O = cg_value_ptr(c, n->outputs[0]);
  for (int v = 0; v < it.nv; v++)
    it.mask[v] = (v + 1) * c->vw <= dh ? NULL : cg_mask_upto(c, cg_i64(c, dh - (int64_t)v * c->vw));
  LLVMTypeRef arr = LLVMArrayType2(c->vf32, (uint64_t)it.nv);
  it.q = cg_alloca(c, arr, "q");
  LLVMValueRef acc = cg_alloca(c, arr, "acc"), mx = cg_alloca(c, c->f32, "max");
  LLVMValueRef vsum = cg_alloca(c, c->vf32, "tile_sum"), lsum = cg_alloca(c, c->f32, "sum");
  int64_t tile = C < TILE ? (C > 0 ? C : 1) : TILE;
  LLVMValueRef sc = cg_alloca(c, LLVMArrayType2(c->f32, (uint64_t)tile), "scores");
  LLVMValueRef vscale = cg_splat(c, cg_f32(c, ir_attr_float(n, "scale")));

  LLVMValueRef items = LLVMBuildNUWMul(b, cg_dim(c, qt->dims[0]), cg_i64(c, k * H), "");
  LLVMValueRef lo, hi;
  cg_split(c, items, 1, &lo, &hi);
  cg_loop r;
  cg_loop_begin(c, &r, lo, hi, cg_i64(c, 1));
  LLVMValueRef h = LLVMBuildURem(b, r.i, cg_i64(c, H), "");
  LLVMValueRef row = LLVMBuildUDiv(b, r.i, cg_i64(c, H), ""); /* b k + s */
  LLVMValueRef bb = LLVMBuildUDiv(b, row, cg_i64(c, k), "");
  LLVMValueRef hcol = LLVMBuildNUWMul(b, h, cg_i64(c, dh), "");
  LLVMValueRef qat = LLVMBuildAdd(b, LLVMBuildNUWMul(b, row, cg_i64(c, 3 * E), ""), hcol, "");
  LLVMValueRef kvat = LLVMBuildAdd(b, LLVMBuildNUWMul(b, bb, cg_i64(c, C * 2 * E), ""), hcol, "");
  for (int v = 0; v < it.nv; v++) {
    LLVMValueRef q = cg_load_vec(
        c, c->vf32, QKV, LLVMBuildAdd(b, qat, cg_i64(c, (int64_t)v * c->vw), ""), it.mask[v]);
    LLVMBuildStore(b, LLVMBuildFMul(b, q, vscale, ""), cg_gep(c, c->vf32, it.q, cg_i64(c, v)));
  }

  /* the slot's own key opens the row: the max its score, the sum its
   * exp(0) = 1, acc its value */
  LLVMValueRef own = score(c, &it, QKV, LLVMBuildAdd(b, qat, cg_i64(c, E), ""));
  LLVMBuildStore(b, own, mx);
  LLVMBuildStore(b, cg_f32(c, 1.0), lsum);
  weigh(c, &it, acc, cg_splat(c, cg_f32(c, 1.0)), QKV, LLVMBuildAdd(b, qat, cg_i64(c, 2 * E), ""),
        true);

  /* then the segment's keys, a tile of at most TILE at a time */
  cg_loop t;
  cg_loop_begin(c, &t, cg_i64(c, 0), cg_i64(c, C), cg_i64(c, TILE));
  LLVMValueRef tn = cg_min(c, cg_i64(c, TILE), LLVMBuildSub(b, cg_i64(c, C), t.i, ""));
  LLVMValueRef tat = LLVMBuildAdd(b, kvat, LLVMBuildNUWMul(b, t.i, cg_i64(c, 2 * E), ""), "");
  LLVMValueRef m0 = LLVMBuildLoad2(b, c->f32, mx, "");

  /* 1: the tile's scores into sc[j], the running max */
  cg_loop j;
  cg_loop_begin(c, &j, cg_i64(c, 0), tn, cg_i64(c, 1));
  LLVMValueRef s =
      score(c, &it, KV, LLVMBuildAdd(b, tat, LLVMBuildNUWMul(b, j.i, cg_i64(c, 2 * E), ""), ""));
  LLVMBuildStore(b, s, cg_gep(c, c->f32, sc, j.i));
  LLVMBuildStore(b, cg_fmax(c, LLVMBuildLoad2(b, c->f32, mx, ""), s), mx);
  cg_loop_end(c, &j);

  /* 2: p = exp(score - max), vw keys at a time, summed; what came before
   * rescaled from the old max to the new (by 1 when it did not move) */
  LLVMValueRef m = LLVMBuildLoad2(b, c->f32, mx, "");
  LLVMValueRef alpha = cg_math_exp(c->mod, b, LLVMBuildFSub(b, m0, m, ""));
  row_exp e = {.sc = sc, .max = cg_splat(c, m), .sum = vsum};
  LLVMBuildStore(b, LLVMConstNull(c->vf32), vsum);
  cg_vec_loop(c, cg_i64(c, 0), tn, exp_keys, &e);
  LLVMValueRef l = LLVMBuildFMul(b, LLVMBuildLoad2(b, c->f32, lsum, ""), alpha, "");
  l = LLVMBuildFAdd(b, l, cg_hsum(c, LLVMBuildLoad2(b, c->vf32, vsum, "")), "");
  LLVMBuildStore(b, l, lsum);
  LLVMValueRef valpha = cg_splat(c, alpha);
  for (int v = 0; v < it.nv; v++) {
    LLVMValueRef slot = cg_gep(c, c->vf32, acc, cg_i64(c, v));
    LLVMBuildStore(b, LLVMBuildFMul(b, LLVMBuildLoad2(b, c->vf32, slot, ""), valpha, ""), slot);
  }

  /* 3: the weighted sum of the tile's values */
  cg_loop jv;
  cg_loop_begin(c, &jv, cg_i64(c, 0), tn, cg_i64(c, 1));
  LLVMValueRef vat = LLVMBuildAdd(b, tat, LLVMBuildNUWMul(b, jv.i, cg_i64(c, 2 * E), ""), "");
  LLVMValueRef p = cg_splat(c, LLVMBuildLoad2(b, c->f32, cg_gep(c, c->f32, sc, jv.i), ""));
  weigh(c, &it, acc, p, KV, LLVMBuildAdd(b, vat, cg_i64(c, E), ""), false);
  cg_loop_end(c, &jv);
  cg_loop_end(c, &t);

  /* the sum holds the max key's exp(0) = 1: no 0 to guard */
  LLVMValueRef inv =
      cg_splat(c, LLVMBuildFDiv(b, cg_f32(c, 1.0), LLVMBuildLoad2(b, c->f32, lsum, ""), ""));
  LLVMValueRef oat = LLVMBuildAdd(b, LLVMBuildNUWMul(b, row, cg_i64(c, E), ""), hcol, "");
  for (int v = 0; v < it.nv; v++) {
    LLVMValueRef a = LLVMBuildLoad2(b, c->vf32, cg_gep(c, c->vf32, acc, cg_i64(c, v)), "");
    cg_store_vec(c, LLVMBuildFMul(b, a, inv, ""), O,
                 LLVMBuildAdd(b, oat, cg_i64(c, (int64_t)v * c->vw), ""), it.mask[v]);
  }
  cg_loop_end(c, &r);
}
