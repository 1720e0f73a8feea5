/*
 * argmax.c: the i64 index of the largest value along one dim, as
 * torch.argmax: the lowest index on ties, NaN larger than any number (so the
 * first NaN wins).
 *
 * The input is viewed as [outer, L, inner] with L the searched dim, as in
 * rows.c. Each lane keeps the best value and index it has seen, in index
 * order; a later element replaces them only when it is strictly larger or a
 * NaN, and never once the best is a NaN:
 *   better = (x > best or x is NaN) and best is not NaN = fcmp ugt(x, best) and ord(best)
 * so every lane holds the first largest of the elements it saw. When the dim
 * is the last one (inner = 1) the lanes split a contiguous row and are folded
 * at the end by the same rule with the lower index winning ties; otherwise the
 * lanes are vw rows side by side (elements L apart by inner) and each lane is
 * an answer. Threads split rows, or (outer, inner chunk) pairs.
 */
#include <math.h>

#include "cg_internal.h"

/* what one argmax kernel works on */
typedef struct argk {
  LLVMValueRef x;     /* input memory (f32) */
  LLVMValueRef row;   /* contiguous: offset of the current row */
  LLVMValueRef best;  /* alloca <vw x float>: each lane's best value */
  LLVMValueRef index; /* alloca <vw x i64>: its index along the dim */
  LLVMValueRef lanes; /* <0, 1, ..., vw-1> as i64 */
} argk;

/* best, index = x, at where x beats best (masked-off lanes keep theirs) */
static void take_better(cg_ctx *c, argk *k, LLVMValueRef x, LLVMValueRef at, LLVMValueRef mask) {
  LLVMBuilderRef b = c->b;
  LLVMValueRef best = LLVMBuildLoad2(b, c->vf32, k->best, "");
  LLVMValueRef better = LLVMBuildAnd(b, LLVMBuildFCmp(b, LLVMRealUGT, x, best, ""),
                                     LLVMBuildFCmp(b, LLVMRealORD, best, best, ""), "");
  if (mask) better = LLVMBuildAnd(b, better, mask, "");
  LLVMValueRef index = LLVMBuildLoad2(b, cg_vec_type(c, IR_I64), k->index, "");
  LLVMBuildStore(b, LLVMBuildSelect(b, better, x, best, ""), k->best);
  LLVMBuildStore(b, LLVMBuildSelect(b, better, at, index, ""), k->index);
}

/* contiguous rows: elements j..j+vw-1 of the row */
static void scan_vec(cg_ctx *c, void *user, LLVMValueRef j, LLVMValueRef mask) {
  argk *k = user;
  LLVMValueRef x = cg_load_vec(c, c->vf32, k->x, LLVMBuildAdd(c->b, k->row, j, ""), mask);
  LLVMValueRef at = LLVMBuildAdd(c->b, cg_build_splat(c->b, j, c->vw), k->lanes, "");
  take_better(c, k, x, at, mask);
}

/* the row's answer from the lanes: the best value, the lower index among equals */
static LLVMValueRef fold(cg_ctx *c, argk *k) {
  LLVMBuilderRef b = c->b;
  LLVMValueRef best = LLVMBuildLoad2(b, c->vf32, k->best, "");
  LLVMValueRef index = LLVMBuildLoad2(b, cg_vec_type(c, IR_I64), k->index, "");
  LLVMValueRef v = LLVMBuildExtractElement(b, best, cg_i32(c, 0), "");
  LLVMValueRef i = LLVMBuildExtractElement(b, index, cg_i32(c, 0), "");
  for (int l = 1; l < c->vw; l++) {
    LLVMValueRef w = LLVMBuildExtractElement(b, best, cg_i32(c, l), "");
    LLVMValueRef j = LLVMBuildExtractElement(b, index, cg_i32(c, l), "");
    LLVMValueRef v_nan = LLVMBuildFCmp(b, LLVMRealUNO, v, v, "");
    LLVMValueRef w_nan = LLVMBuildFCmp(b, LLVMRealUNO, w, w, "");
    LLVMValueRef lower = LLVMBuildICmp(b, LLVMIntSLT, j, i, "");
    /* w wins: it is a NaN and v is not or comes later; or neither is and w is
     * larger, or equal and earlier */
    LLVMValueRef nan_wins =
        LLVMBuildAnd(b, w_nan, LLVMBuildOr(b, LLVMBuildNot(b, v_nan, ""), lower, ""), "");
    LLVMValueRef num_wins = LLVMBuildAnd(
        b, LLVMBuildNot(b, v_nan, ""),
        LLVMBuildOr(b, LLVMBuildFCmp(b, LLVMRealOGT, w, v, ""),
                    LLVMBuildAnd(b, LLVMBuildFCmp(b, LLVMRealOEQ, w, v, ""), lower, ""), ""),
        "");
    LLVMValueRef wins = LLVMBuildOr(b, nan_wins, num_wins, "");
    v = LLVMBuildSelect(b, wins, w, v, "");
    i = LLVMBuildSelect(b, wins, j, i, "");
  }
  return i;
}

static void contiguous(cg_ctx *c, argk *k, LLVMValueRef y, LLVMValueRef rows, LLVMValueRef len) {
  LLVMBuilderRef b = c->b;
  LLVMValueRef lo, hi;
  cg_split(c, rows, 1, &lo, &hi);
  cg_loop l;
  cg_loop_begin(c, &l, lo, hi, cg_i64(c, 1));
  k->row = LLVMBuildNUWMul(b, l.i, len, "");
  /* a lane that never sees an element keeps index `lane` with -inf: it loses
   * to lane 0 (index 0) on the tie, and to anything larger */
  LLVMBuildStore(b, cg_splat(c, cg_f32(c, -INFINITY)), k->best);
  LLVMBuildStore(b, k->lanes, k->index);
  cg_vec_loop(c, cg_i64(c, 0), len, scan_vec, k);
  LLVMBuildStore(b, fold(c, k), cg_gep(c, c->i64, y, l.i));
  cg_loop_end(c, &l);
}

static void strided(cg_ctx *c, argk *k, LLVMValueRef y, LLVMValueRef outer, LLVMValueRef len,
                    LLVMValueRef inner) {
  LLVMBuilderRef b = c->b;
  cg_chunk ch;
  cg_chunk_begin(c, &ch, outer, len, inner);
  LLVMValueRef mask = ch.mask, base = ch.base;
  LLVMBuildStore(b, cg_splat(c, cg_f32(c, -INFINITY)), k->best);
  LLVMBuildStore(b, LLVMConstNull(cg_vec_type(c, IR_I64)), k->index);
  cg_loop l;
  cg_loop_begin(c, &l, cg_i64(c, 0), len, cg_i64(c, 1));
  LLVMValueRef at = LLVMBuildAdd(b, base, LLVMBuildNUWMul(b, l.i, inner, ""), "");
  LLVMValueRef x = cg_load_vec(c, c->vf32, k->x, at, mask);
  take_better(c, k, x, cg_build_splat(b, l.i, c->vw), mask);
  cg_loop_end(c, &l);
  LLVMValueRef index = LLVMBuildLoad2(b, cg_vec_type(c, IR_I64), k->index, "");
  cg_store_vec(c, index, y, ch.out, mask);
  cg_loop_end(c, &ch.loop);
}

void cg_emit_argmax(cg_ctx *c, const ir_node *n) {
  const ir_type *xt = &c->g->values[n->inputs[0]].type;
  int R = xt->rank, dim = (int)ir_attr_int(n, "dim");
  if (R == 0 || dim < 0 || dim >= R || xt->dtype != IR_F32) {
    cg_fail(c, "codegen: argmax '%s' needs f32 and a dim in range", n->name);
    return;
  }
  argk k = {.x = cg_value_ptr(c, n->inputs[0])};
  LLVMValueRef y = cg_value_ptr(c, n->outputs[0]);
  k.best = cg_alloca(c, c->vf32, "best");
  k.index = cg_alloca(c, cg_vec_type(c, IR_I64), "index");
  LLVMValueRef lanes[64];
  for (int l = 0; l < c->vw; l++) lanes[l] = cg_i64(c, l);
  k.lanes = LLVMConstVector(lanes, (unsigned)c->vw);
  LLVMValueRef len = cg_dim(c, xt->dims[dim]), outer = cg_dims(c, xt, 0, dim);
  bool last = true;
  for (int i = dim + 1; i < R; i++)
    if (!ir_dim_is_const(xt->dims[i]) || xt->dims[i].coef != 1) last = false;
  if (last)
    contiguous(c, &k, y, outer, len);
  else
    strided(c, &k, y, outer, len, cg_dims(c, xt, dim + 1, R));
}
