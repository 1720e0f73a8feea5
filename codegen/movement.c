/*
 * movement.c: kernels that only move elements: concat, slice, select,
 * transpose, and reshape when its result has memory of its own. They work on
 * any dtype. Most reduce to copying `rows` runs of `len` contiguous elements
 * with memcpy, the flat range of elements split evenly between threads so
 * that a single long run (concat along dim 0) is shared too.
 */
#include <stdint.h>
#include <string.h>

#include "cg_internal.h"

static int64_t elem_size(const ir_type *t) { return (int64_t)ir_dtype_size(t->dtype); }

void cg_copy_rows(cg_ctx *c, int64_t es, LLVMValueRef dst, LLVMValueRef ds, LLVMValueRef src,
                  LLVMValueRef ss, LLVMValueRef rows, LLVMValueRef len) {
  LLVMBuilderRef b = c->b;
  LLVMValueRef lo, hi;
  cg_split(c, LLVMBuildNUWMul(b, rows, len, ""), 64 / es, &lo, &hi);
  cg_if f;
  cg_if_begin(c, &f, LLVMBuildICmp(b, LLVMIntSLT, lo, hi, ""));
  LLVMValueRef r0 = LLVMBuildUDiv(b, lo, len, "");
  LLVMValueRef r1 =
      LLVMBuildUDiv(b, LLVMBuildAdd(b, hi, LLVMBuildSub(b, len, cg_i64(c, 1), ""), ""), len, "");
  cg_loop l;
  cg_loop_begin(c, &l, r0, r1, cg_i64(c, 1));
  LLVMValueRef start = LLVMBuildNUWMul(b, l.i, len, "");
  LLVMValueRef a = LLVMBuildSub(b, cg_max(c, start, lo), start, "");
  LLVMValueRef e = LLVMBuildSub(b, cg_min(c, LLVMBuildAdd(b, start, len, ""), hi), start, "");
  LLVMValueRef d = LLVMBuildAdd(b, LLVMBuildNUWMul(b, l.i, ds, ""), a, "");
  LLVMValueRef s = LLVMBuildAdd(b, LLVMBuildNUWMul(b, l.i, ss, ""), a, "");
  LLVMValueRef bytes = LLVMBuildNUWMul(b, LLVMBuildSub(b, e, a, ""), cg_i64(c, es), "");
  LLVMValueRef pd =
      LLVMBuildGEP2(b, c->i8, dst, (LLVMValueRef[]){LLVMBuildMul(b, d, cg_i64(c, es), "")}, 1, "");
  LLVMValueRef ps =
      LLVMBuildGEP2(b, c->i8, src, (LLVMValueRef[]){LLVMBuildMul(b, s, cg_i64(c, es), "")}, 1, "");
  LLVMBuildMemCpy(b, pd, (unsigned)es, ps, (unsigned)es, bytes);
  cg_loop_end(c, &l);
  cg_if_end(c, &f);
}

void cg_copy_unit_rows(cg_ctx *c, int64_t es, LLVMValueRef dst, LLVMValueRef ds, LLVMValueRef src,
                       LLVMValueRef ss, LLVMValueRef rows, int64_t len) {
  LLVMBuilderRef b = c->b;
  LLVMValueRef bytes =
      LLVMBuildMul(b, LLVMBuildSub(b, c->unit_hi, c->unit_lo, ""), cg_i64(c, es), "");
  cg_loop l;
  cg_loop_begin(c, &l, cg_i64(c, 0), rows, cg_i64(c, 1));
  for (int64_t u = 0; u < len; u += c->unit_len) {
    LLVMValueRef col = LLVMBuildAdd(b, cg_i64(c, u), c->unit_lo, "");
    LLVMValueRef d = LLVMBuildAdd(b, LLVMBuildNUWMul(b, l.i, ds, ""), col, "");
    LLVMValueRef q = LLVMBuildAdd(b, LLVMBuildNUWMul(b, l.i, ss, ""), col, "");
    LLVMValueRef pd = LLVMBuildGEP2(b, c->i8, dst,
                                    (LLVMValueRef[]){LLVMBuildMul(b, d, cg_i64(c, es), "")}, 1, "");
    LLVMValueRef ps = LLVMBuildGEP2(b, c->i8, src,
                                    (LLVMValueRef[]){LLVMBuildMul(b, q, cg_i64(c, es), "")}, 1, "");
    LLVMBuildMemCpy(b, pd, (unsigned)es, ps, (unsigned)es, bytes);
  }
  cg_loop_end(c, &l);
}

/* zeroes this thread's share of n elements at dst */
static void zero_fill(cg_ctx *c, int64_t es, LLVMValueRef dst, LLVMValueRef n) {
  LLVMBuilderRef b = c->b;
  LLVMValueRef lo, hi;
  cg_split(c, n, 64 / es, &lo, &hi);
  LLVMValueRef p =
      LLVMBuildGEP2(b, c->i8, dst, (LLVMValueRef[]){LLVMBuildMul(b, lo, cg_i64(c, es), "")}, 1, "");
  LLVMValueRef bytes =
      LLVMBuildMul(b, cg_max(c, LLVMBuildSub(b, hi, lo, ""), cg_i64(c, 0)), cg_i64(c, es), "");
  LLVMBuildMemSet(b, p, LLVMConstInt(c->i8, 0, 0), bytes, (unsigned)es);
}

static int norm_dim(int64_t d, int rank) { return (int)(d < 0 ? d + rank : d); }

static void concat(cg_ctx *c, const ir_node *n) {
  LLVMBuilderRef b = c->b;
  const ir_type *ot = &c->g->values[n->outputs[0]].type;
  int d = norm_dim(ir_attr_int(n, "dim"), ot->rank);
  if (d < 0 || d >= ot->rank) {
    cg_fail(c, "codegen: concat '%s': dim out of range", n->name);
    return;
  }
  int64_t es = elem_size(ot);
  LLVMValueRef out = cg_value_ptr(c, n->outputs[0]);
  LLVMValueRef outer = cg_dims(c, ot, 0, d);
  LLVMValueRef inner = cg_dims(c, ot, d + 1, ot->rank);
  LLVMValueRef out_row = LLVMBuildNUWMul(b, cg_dim(c, ot->dims[d]), inner, "");
  LLVMValueRef off = cg_i64(c, 0);
  for (int k = 0; k < n->ninputs; k++) {
    const ir_type *it = &c->g->values[n->inputs[k]].type;
    LLVMValueRef len = LLVMBuildNUWMul(b, cg_dim(c, it->dims[d]), inner, "");
    LLVMValueRef dst = LLVMBuildGEP2(
        b, c->i8, out, (LLVMValueRef[]){LLVMBuildMul(b, off, cg_i64(c, es), "")}, 1, "");
    cg_copy_rows(c, es, dst, out_row, cg_value_ptr(c, n->inputs[k]), len, outer, len);
    off = LLVMBuildAdd(b, off, len, "");
  }
}

/* slice and select: a run of `count` indices from `start` along dim d */
static void take(cg_ctx *c, const ir_node *n) {
  LLVMBuilderRef b = c->b;
  const ir_value *iv = &c->g->values[n->inputs[0]];
  const ir_type *it = &iv->type;
  int d = norm_dim(ir_attr_int(n, "dim"), it->rank);
  if (d < 0 || d >= it->rank) {
    cg_fail(c, "codegen: %s '%s': dim out of range", ir_ops[n->op].name, n->name);
    return;
  }
  int64_t es = elem_size(it);
  LLVMValueRef in = cg_value_ptr(c, n->inputs[0]);
  LLVMValueRef out = cg_value_ptr(c, n->outputs[0]);
  LLVMValueRef L = cg_dim(c, it->dims[d]);
  LLVMValueRef outer = cg_dims(c, it, 0, d);
  LLVMValueRef inner = cg_dims(c, it, d + 1, it->rank);
  LLVMValueRef zero = cg_i64(c, 0);
  if (n->op == IR_OP_SLICE) {
    /* Python's rules: negative counts from the end, then clamp to [0, L] */
    int64_t s0 = ir_attr_int(n, "start"), e0 = ir_attr_int(n, "end");
    LLVMValueRef s = cg_i64(c, s0), e = e0 == INT64_MAX ? L : cg_i64(c, e0);
    if (s0 < 0) s = LLVMBuildAdd(b, s, L, "");
    if (e0 < 0) e = LLVMBuildAdd(b, e, L, "");
    s = cg_min(c, cg_max(c, s, zero), L);
    e = cg_min(c, cg_max(c, e, zero), L);
    LLVMValueRef cnt = cg_max(c, LLVMBuildSub(b, e, s, ""), zero);
    LLVMValueRef src = cg_gep(c, cg_elem_type(c, it->dtype), in, LLVMBuildMul(b, s, inner, ""));
    LLVMValueRef len = LLVMBuildMul(b, cnt, inner, "");
    const ir_type *ot = &c->g->values[n->outputs[0]].type;
    int64_t width;
    if (cg_unit_kernel(c, n) && cg_dim_known(c, ot->dims[ot->rank - 1], &width))
      cg_copy_unit_rows(c, es, out, len, src, L, outer, width); /* a step's gates, by unit */
    else
      cg_copy_rows(c, es, out, len, src, LLVMBuildMul(b, L, inner, ""), outer, len);
    return;
  }
  int64_t i0 = ir_attr_int(n, "index");
  LLVMValueRef i = cg_i64(c, i0);
  if (i0 < 0) i = LLVMBuildAdd(b, i, L, "");
  cg_if f;
  cg_if_begin(c, &f, LLVMBuildICmp(b, LLVMIntULT, i, L, ""));
  LLVMValueRef src = cg_gep(c, cg_elem_type(c, it->dtype), in, LLVMBuildMul(b, i, inner, ""));
  cg_copy_rows(c, es, out, inner, src, LLVMBuildMul(b, L, inner, ""), outer, inner);
  cg_if_else(c, &f);
  /* only a symbolic dim can make a constant index miss: report, read nothing */
  cg_if f0;
  cg_if_begin(c, &f0, LLVMBuildICmp(b, LLVMIntEQ, c->ith, cg_i32(c, 0), ""));
  cg_fail_index(c, -1, zero, cg_i64(c, i0), L);
  cg_if_end(c, &f0);
  zero_fill(c, es, out, LLVMBuildMul(b, outer, inner, ""));
  cg_if_end(c, &f);
}

static bool is_one(LLVMValueRef v) {
  return LLVMIsAConstantInt(v) && LLVMConstIntGetSExtValue(v) == 1;
}

enum { TILE = 16 }; /* a tile of the blocked transpose: TILE x TILE elements */

/*
 * The two innermost runs swap places (a matrix transpose, maybe batched):
 * out[o, a, j] = in[off(o) + a + j * s]. Row by row, one side would be read
 * or written a whole stride apart; TILE x TILE blocks keep both sides within
 * a few cache lines. Threads split the (o, block of a) pairs.
 */
static void tiled(cg_ctx *c, const cg_space *s, LLVMTypeRef et, LLVMValueRef in, LLVMValueRef out) {
  LLVMBuilderRef b = c->b;
  int G = s->ngroups;
  LLVMValueRef one = cg_i64(c, 1), tile = cg_i64(c, TILE);
  LLVMValueRef outer = one;
  for (int g = 0; g < G - 2; g++) outer = LLVMBuildNUWMul(b, outer, s->size[g], "");
  LLVMValueRef A = s->size[G - 2], J = s->size[G - 1], js = s->stride[G - 1];
  LLVMValueRef ablocks = LLVMBuildUDiv(b, LLVMBuildAdd(b, A, cg_i64(c, TILE - 1), ""), tile, "");
  LLVMValueRef lo, hi;
  cg_split(c, LLVMBuildNUWMul(b, outer, ablocks, ""), 1, &lo, &hi);
  cg_loop it;
  cg_loop_begin(c, &it, lo, hi, one);
  LLVMValueRef o = LLVMBuildUDiv(b, it.i, ablocks, "");
  LLVMValueRef a0 = LLVMBuildNUWMul(b, LLVMBuildURem(b, it.i, ablocks, ""), tile, "");
  LLVMValueRef a1 = cg_min(c, LLVMBuildAdd(b, a0, tile, ""), A);
  LLVMValueRef off;
  cg_space_offsets(c, s, G - 2, o, &off);
  LLVMValueRef obase = LLVMBuildNUWMul(b, o, LLVMBuildNUWMul(b, A, J, ""), "");
  cg_loop jb;
  cg_loop_begin(c, &jb, cg_i64(c, 0), J, tile);
  LLVMValueRef j1 = cg_min(c, LLVMBuildAdd(b, jb.i, tile, ""), J);
  cg_loop la;
  cg_loop_begin(c, &la, a0, a1, one);
  LLVMValueRef src_a = LLVMBuildAdd(b, off, la.i, "");
  LLVMValueRef dst_a = LLVMBuildAdd(b, obase, LLVMBuildNUWMul(b, la.i, J, ""), "");
  cg_loop lj;
  cg_loop_begin(c, &lj, jb.i, j1, one);
  LLVMValueRef src = LLVMBuildAdd(b, src_a, LLVMBuildNUWMul(b, lj.i, js, ""), "");
  LLVMValueRef v = LLVMBuildLoad2(b, et, cg_gep(c, et, in, src), "");
  LLVMBuildStore(b, v, cg_gep(c, et, out, LLVMBuildAdd(b, dst_a, lj.i, "")));
  cg_loop_end(c, &lj);
  cg_loop_end(c, &la);
  cg_loop_end(c, &jb);
  cg_loop_end(c, &it);
}

static void transpose(cg_ctx *c, const ir_node *n) {
  LLVMBuilderRef b = c->b;
  const ir_type *it = &c->g->values[n->inputs[0]].type;
  const ir_attr *pa = ir_get_attr(n, "perm");
  int R = it->rank;
  if (!pa || pa->kind != IR_ATTR_INTS || pa->nints != R) {
    cg_fail(c, "codegen: transpose '%s' needs a permutation of its %d dims", n->name, R);
    return;
  }
  int64_t es = elem_size(it);
  LLVMTypeRef et = cg_elem_type(c, it->dtype);
  LLVMValueRef in = cg_value_ptr(c, n->inputs[0]);
  LLVMValueRef out = cg_value_ptr(c, n->outputs[0]);
  /* groups: runs of output dims that are adjacent input dims in order, size-1 dims dropped */
  cg_space s = {.nops = 1};
  LLVMValueRef stride[IR_MAX_RANK];
  bool bc[IR_MAX_RANK] = {false};
  s.stride = stride;
  s.bcast = bc;
  int last_in = -2; /* input dim of the previous kept output dim */
  for (int i = 0; i < R; i++) {
    int p = norm_dim(pa->ints[i], R);
    if (p < 0 || p >= R) {
      cg_fail(c, "codegen: transpose '%s': bad permutation", n->name);
      return;
    }
    if (ir_dim_is_const(it->dims[p]) && it->dims[p].coef == 1) continue;
    bool adjacent = s.ngroups > 0 && p > last_in;
    for (int q = last_in + 1; q < p && adjacent; q++)
      adjacent = ir_dim_is_const(it->dims[q]) && it->dims[q].coef == 1;
    LLVMValueRef size = cg_dim(c, it->dims[p]);
    if (adjacent) {
      s.size[s.ngroups - 1] = LLVMBuildNUWMul(b, s.size[s.ngroups - 1], size, "");
    } else {
      s.size[s.ngroups++] = size;
    }
    stride[s.ngroups - 1] = cg_dims(c, it, p + 1, R);
    last_in = p;
  }
  int G = s.ngroups;
  LLVMValueRef one = cg_i64(c, 1);
  if (G <= 1) { /* the same order: one contiguous copy */
    LLVMValueRef total = cg_dims(c, it, 0, R);
    cg_copy_rows(c, es, out, total, in, total, one, total);
    return;
  }
  if (is_one(stride[G - 2]) && !is_one(stride[G - 1])) {
    tiled(c, &s, et, in, out);
    return;
  }
  LLVMValueRef rows = one;
  for (int g = 0; g < G - 1; g++) rows = LLVMBuildNUWMul(b, rows, s.size[g], "");
  LLVMValueRef len = s.size[G - 1];
  LLVMValueRef lo, hi;
  cg_split(c, rows, 1, &lo, &hi);
  cg_loop l;
  cg_loop_begin(c, &l, lo, hi, one);
  LLVMValueRef off;
  cg_space_offsets(c, &s, G - 1, l.i, &off);
  LLVMValueRef dst = LLVMBuildNUWMul(b, l.i, len, "");
  if (is_one(stride[G - 1])) {
    /* the innermost run is contiguous in the input too */
    LLVMBuildMemCpy(b, cg_gep(c, et, out, dst), (unsigned)es, cg_gep(c, et, in, off), (unsigned)es,
                    LLVMBuildNUWMul(b, len, cg_i64(c, es), ""));
  } else {
    cg_loop j;
    cg_loop_begin(c, &j, cg_i64(c, 0), len, one);
    LLVMValueRef src = LLVMBuildAdd(b, off, LLVMBuildNUWMul(b, j.i, stride[G - 1], ""), "");
    LLVMValueRef v = LLVMBuildLoad2(b, et, cg_gep(c, et, in, src), "");
    LLVMBuildStore(b, v, cg_gep(c, et, out, LLVMBuildAdd(b, dst, j.i, "")));
    cg_loop_end(c, &j);
  }
  cg_loop_end(c, &l);
}

/* cache_write: row t of x [B, H, T, dh] to row (p + t) mod S of the cache
 * [B, H, S, dh], for the last min(T, S) rows; each thread its share of the
 * B*H*T rows */
static void cache_write(cg_ctx *c, const ir_node *n) {
  LLVMBuilderRef b = c->b;
  const ir_type *ct = &c->g->values[n->inputs[0]].type, *xt = &c->g->values[n->inputs[1]].type;
  LLVMValueRef S = cg_dim(c, ct->dims[2]), T = cg_dim(c, xt->dims[2]);
  LLVMValueRef dh = cg_dim(c, xt->dims[3]), p = cg_session(c, SEQRT_SYM_POSITION);
  LLVMValueRef cache = cg_value_ptr(c, n->inputs[0]), x = cg_value_ptr(c, n->inputs[1]);
  LLVMValueRef skip = cg_max(c, LLVMBuildSub(b, T, S, ""), cg_i64(c, 0));
  LLVMValueRef lo, hi;
  cg_split(c, LLVMBuildMul(b, cg_dims(c, xt, 0, 2), T, ""), 1, &lo, &hi);
  cg_loop r;
  cg_loop_begin(c, &r, lo, hi, cg_i64(c, 1));
  LLVMValueRef bh = LLVMBuildUDiv(b, r.i, T, ""), t = LLVMBuildURem(b, r.i, T, "");
  cg_if kept;
  cg_if_begin(c, &kept, LLVMBuildICmp(b, LLVMIntSGE, t, skip, ""));
  LLVMValueRef row = LLVMBuildURem(b, LLVMBuildAdd(b, p, t, ""), S, "");
  LLVMValueRef to = LLVMBuildMul(b, LLVMBuildAdd(b, LLVMBuildMul(b, bh, S, ""), row, ""), dh, "");
  LLVMBuildMemCpy(b, cg_gep(c, c->f32, cache, to), 4,
                  cg_gep(c, c->f32, x, LLVMBuildMul(b, r.i, dh, "")), 4,
                  LLVMBuildMul(b, dh, cg_i64(c, 4), ""));
  cg_if_end(c, &kept);
  cg_loop_end(c, &r);
}

/* state_read: the kept state once the session has run, else the initial
 * value; state_write: the value over the kept state. Flat copies.
 * cache_write: above. */
void cg_emit_state(cg_ctx *c, const ir_node *n) {
  LLVMBuilderRef b = c->b;
  if (n->op == IR_OP_CACHE_WRITE) {
    cache_write(c, n);
    return;
  }
  const ir_type *t = &c->g->values[n->inputs[0]].type;
  LLVMValueRef total = cg_dims(c, t, 0, t->rank);
  LLVMValueRef state = cg_value_ptr(c, n->inputs[0]), x = cg_value_ptr(c, n->inputs[1]);
  LLVMValueRef dst = state, src = x;
  if (n->op == IR_OP_STATE_READ) {
    LLVMValueRef ran =
        LLVMBuildICmp(b, LLVMIntSGT, cg_session(c, SEQRT_SYM_RUNS), cg_i64(c, 0), "continues");
    dst = cg_value_ptr(c, n->outputs[0]);
    src = LLVMBuildSelect(b, ran, state, x, "from");
  }
  cg_copy_rows(c, elem_size(t), dst, total, src, total, cg_i64(c, 1), total);
}

void cg_emit_movement(cg_ctx *c, const ir_node *n) {
  switch (n->op) {
    case IR_OP_CONCAT:
      concat(c, n);
      return;
    case IR_OP_SLICE:
    case IR_OP_SELECT:
      take(c, n);
      return;
    case IR_OP_TRANSPOSE:
      transpose(c, n);
      return;
    case IR_OP_RESHAPE: {
      const ir_value *ov = &c->g->values[n->outputs[0]];
      if (ov->buffer < 0 || c->g->buffers[ov->buffer].role == SEQRT_ROLE_ALIAS) return;
      const ir_type *t = &ov->type;
      LLVMValueRef total = cg_dims(c, t, 0, t->rank);
      cg_copy_rows(c, elem_size(t), cg_value_ptr(c, n->outputs[0]), total,
                   cg_value_ptr(c, n->inputs[0]), total, cg_i64(c, 1), total);
      return;
    }
#define ELEM(id, formula) case IR_OP_##id:
#include "ops.def"
    case IR_OP_MATMUL:
    case IR_OP_SOFTMAX:
    case IR_OP_LAYER_NORM:
    case IR_OP_RMS_NORM:
    case IR_OP_MEAN:
    case IR_OP_ARGMAX:
    case IR_OP_EMBEDDING:
    case IR_OP_POSITIONAL_ENCODING:
    case IR_OP_POSITIONS:
    case IR_OP_STATE_READ:
    case IR_OP_STATE_WRITE:
    case IR_OP_CACHE_WRITE:
    case IR_OP_ATTENTION:
    case IR_OP_REL_ATTENTION:
    case IR_OP_SLOT_ATTENTION:
    case IR_OP_CONV1D:
    case IR_OP_FILL:
    case IR_OP_SCAN:
#define LAYER(id) case IR_OP_##id:
#include "ops.def"
    case IR_OP_FUSED:
    case IR_OP_COUNT:
      break;
  }
  IR_ASSERT(!"cg_emit_movement: not a movement op (cg_emit_kernel sends only those)");
}
