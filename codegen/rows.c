/*
 * rows.c: reductions along one dim (softmax, layer_norm, rms_norm, mean).
 *
 * The input is viewed as [outer, L, inner] with L the reduced dim. When the
 * dim is the last one (inner = 1), a row is contiguous: threads split the
 * rows and each row is reduced with vector accumulators and a horizontal
 * fold. Otherwise the vector runs across inner (vw independent rows side by
 * side, elements L apart by inner), so no horizontal fold is needed; threads
 * split the (outer, inner chunk) pairs.
 */
#include <math.h>
#include <string.h>

#include "cg_internal.h"

/* what one row kernel works on */
typedef struct rowk {
  ir_op op;             /* SOFTMAX, LAYER_NORM, RMS_NORM or MEAN */
  LLVMValueRef x, y;    /* input and output memory */
  LLVMValueRef w, bias; /* layer_norm / rms_norm weight and bias (NULL when absent) */
  LLVMValueRef eps;     /* float epsilon */
  LLVMValueRef len;     /* i64 L */
  LLVMValueRef x_row;   /* contiguous path: offset of the current row */
  LLVMValueRef acc;     /* alloca: vector accumulator */
  LLVMValueRef a, s;    /* per-row scalars splat: max / mean and scale */
} rowk;

/* ---- contiguous rows ---- */

static void acc_max(cg_ctx *c, void *user, LLVMValueRef j, LLVMValueRef mask) {
  rowk *k = user;
  LLVMValueRef x = cg_load_vec(c, c->vf32, k->x, LLVMBuildAdd(c->b, k->x_row, j, ""), mask);
  if (mask) x = LLVMBuildSelect(c->b, mask, x, cg_splat(c, cg_f32(c, -INFINITY)), "");
  LLVMValueRef a = LLVMBuildLoad2(c->b, c->vf32, k->acc, "");
  LLVMBuildStore(c->b, cg_fmax(c, a, x), k->acc);
}

/* acc += f(x) where f depends on the op and pass; exp results are stored */
static void acc_sum(cg_ctx *c, void *user, LLVMValueRef j, LLVMValueRef mask) {
  rowk *k = user;
  LLVMBuilderRef b = c->b;
  LLVMValueRef at = LLVMBuildAdd(b, k->x_row, j, "");
  LLVMValueRef x = cg_load_vec(c, c->vf32, k->x, at, mask);
  LLVMValueRef t = x;
  if (k->op == IR_OP_SOFTMAX) {
    t = cg_math_exp(c->mod, b, LLVMBuildFSub(b, x, k->a, ""));
    cg_store_vec(c, t, k->y, at, mask);
  } else if (k->op == IR_OP_RMS_NORM) {
    t = LLVMBuildFMul(b, x, x, "");
  } else if (k->op == IR_OP_LAYER_NORM && k->a) {
    LLVMValueRef d = LLVMBuildFSub(b, x, k->a, "");
    t = LLVMBuildFMul(b, d, d, "");
  }
  if (mask) t = LLVMBuildSelect(b, mask, t, LLVMConstNull(c->vf32), "");
  LLVMValueRef a = LLVMBuildLoad2(b, c->vf32, k->acc, "");
  LLVMBuildStore(b, LLVMBuildFAdd(b, a, t, ""), k->acc);
}

/* the last pass: writes the normalized row */
static void finish(cg_ctx *c, void *user, LLVMValueRef j, LLVMValueRef mask) {
  rowk *k = user;
  LLVMBuilderRef b = c->b;
  LLVMValueRef at = LLVMBuildAdd(b, k->x_row, j, "");
  LLVMValueRef r;
  if (k->op == IR_OP_SOFTMAX) {
    r = LLVMBuildFMul(b, cg_load_vec(c, c->vf32, k->y, at, mask), k->s, "");
  } else {
    LLVMValueRef x = cg_load_vec(c, c->vf32, k->x, at, mask);
    if (k->op == IR_OP_LAYER_NORM) x = LLVMBuildFSub(b, x, k->a, "");
    r = LLVMBuildFMul(b, x, k->s, "");
    r = LLVMBuildFMul(b, r, cg_load_vec(c, c->vf32, k->w, j, mask), "");
    if (k->bias) r = LLVMBuildFAdd(b, r, cg_load_vec(c, c->vf32, k->bias, j, mask), "");
  }
  cg_store_vec(c, r, k->y, at, mask);
}

/* one pass over the row accumulating with fn from init; returns the folded sum or max */
static LLVMValueRef row_pass(cg_ctx *c, rowk *k, cg_vec_body fn, double init, bool max) {
  LLVMBuildStore(c->b, cg_splat(c, cg_f32(c, init)), k->acc);
  cg_vec_loop(c, cg_i64(c, 0), k->len, fn, k);
  LLVMValueRef a = LLVMBuildLoad2(c->b, c->vf32, k->acc, "");
  return max ? cg_hmax(c, a) : cg_hsum(c, a);
}

static void contiguous(cg_ctx *c, rowk *k, LLVMValueRef rows) {
  LLVMBuilderRef b = c->b;
  LLVMValueRef lo, hi;
  cg_split(c, rows, 1, &lo, &hi);
  cg_loop l;
  cg_loop_begin(c, &l, lo, hi, cg_i64(c, 1));
  k->x_row = LLVMBuildNUWMul(b, l.i, k->len, "");
  LLVMValueRef lenf = LLVMBuildSIToFP(b, k->len, c->f32, "");
  k->a = NULL;
  switch (k->op) {
    case IR_OP_SOFTMAX: {
      LLVMValueRef m = row_pass(c, k, acc_max, -INFINITY, true);
      k->a = cg_splat(c, m);
      LLVMValueRef sum = row_pass(c, k, acc_sum, 0, false);
      k->s = cg_splat(c, LLVMBuildFDiv(b, cg_f32(c, 1), sum, ""));
      cg_vec_loop(c, cg_i64(c, 0), k->len, finish, k);
      break;
    }
    case IR_OP_MEAN: {
      LLVMValueRef sum = row_pass(c, k, acc_sum, 0, false);
      LLVMValueRef p = cg_gep(c, c->f32, k->y, l.i);
      LLVMBuildStore(b, LLVMBuildFDiv(b, sum, lenf, ""), p);
      break;
    }
    case IR_OP_LAYER_NORM: {
      LLVMValueRef mean = LLVMBuildFDiv(b, row_pass(c, k, acc_sum, 0, false), lenf, "");
      k->a = cg_splat(c, mean);
      LLVMValueRef var = LLVMBuildFDiv(b, row_pass(c, k, acc_sum, 0, false), lenf, "");
      LLVMTypeRef t = c->f32;
      LLVMValueRef arg = LLVMBuildFAdd(b, var, k->eps, "");
      LLVMValueRef sd = cg_intrinsic(c, "llvm.sqrt", &t, 1, &arg, 1);
      k->s = cg_splat(c, LLVMBuildFDiv(b, cg_f32(c, 1), sd, ""));
      cg_vec_loop(c, cg_i64(c, 0), k->len, finish, k);
      break;
    }
    case IR_OP_RMS_NORM: {
      LLVMValueRef ms = LLVMBuildFDiv(b, row_pass(c, k, acc_sum, 0, false), lenf, "");
      LLVMTypeRef t = c->f32;
      LLVMValueRef arg = LLVMBuildFAdd(b, ms, k->eps, "");
      LLVMValueRef r = cg_intrinsic(c, "llvm.sqrt", &t, 1, &arg, 1);
      k->s = cg_splat(c, LLVMBuildFDiv(b, cg_f32(c, 1), r, ""));
      cg_vec_loop(c, cg_i64(c, 0), k->len, finish, k);
      break;
    }
#define ELEM(id, formula) case IR_OP_##id:
#include "ops.def"
    case IR_OP_MATMUL:
    case IR_OP_ARGMAX: /* argmax.c */
    case IR_OP_CONCAT:
    case IR_OP_SLICE:
    case IR_OP_SELECT:
    case IR_OP_TRANSPOSE:
    case IR_OP_RESHAPE:
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
      IR_ASSERT(!"rows.c: not a row op (cg_emit_kernel sends only softmax, norms and mean)");
  }
  cg_loop_end(c, &l);
}

/* ---- strided rows: vectors across inner ---- */

static void strided(cg_ctx *c, rowk *k, LLVMValueRef outer, LLVMValueRef inner) {
  LLVMBuilderRef b = c->b;
  cg_chunk ch;
  cg_chunk_begin(c, &ch, outer, k->len, inner);
  LLVMValueRef mask = ch.mask, base = ch.base;
  LLVMValueRef lenf = cg_splat(c, LLVMBuildSIToFP(b, k->len, c->f32, ""));
  LLVMValueRef acc = k->acc;
  cg_loop l;

  if (k->op == IR_OP_MEAN) {
    LLVMBuildStore(b, LLVMConstNull(c->vf32), acc);
    cg_loop_begin(c, &l, cg_i64(c, 0), k->len, cg_i64(c, 1));
    LLVMValueRef at = LLVMBuildAdd(b, base, LLVMBuildNUWMul(b, l.i, inner, ""), "");
    LLVMValueRef x = cg_load_vec(c, c->vf32, k->x, at, mask);
    LLVMBuildStore(b, LLVMBuildFAdd(b, LLVMBuildLoad2(b, c->vf32, acc, ""), x, ""), acc);
    cg_loop_end(c, &l);
    LLVMValueRef m = LLVMBuildFDiv(b, LLVMBuildLoad2(b, c->vf32, acc, ""), lenf, "");
    cg_store_vec(c, m, k->y, ch.out, mask);
  } else if (k->op == IR_OP_SOFTMAX) {
    LLVMBuildStore(b, cg_splat(c, cg_f32(c, -INFINITY)), acc);
    cg_loop_begin(c, &l, cg_i64(c, 0), k->len, cg_i64(c, 1));
    LLVMValueRef at = LLVMBuildAdd(b, base, LLVMBuildNUWMul(b, l.i, inner, ""), "");
    LLVMValueRef x = cg_load_vec(c, c->vf32, k->x, at, mask);
    LLVMBuildStore(b, cg_fmax(c, LLVMBuildLoad2(b, c->vf32, acc, ""), x), acc);
    cg_loop_end(c, &l);
    LLVMValueRef m = LLVMBuildLoad2(b, c->vf32, acc, "");
    LLVMBuildStore(b, LLVMConstNull(c->vf32), acc);
    cg_loop_begin(c, &l, cg_i64(c, 0), k->len, cg_i64(c, 1));
    at = LLVMBuildAdd(b, base, LLVMBuildNUWMul(b, l.i, inner, ""), "");
    x = cg_load_vec(c, c->vf32, k->x, at, mask);
    LLVMValueRef e = cg_math_exp(c->mod, b, LLVMBuildFSub(b, x, m, ""));
    cg_store_vec(c, e, k->y, at, mask);
    LLVMBuildStore(b, LLVMBuildFAdd(b, LLVMBuildLoad2(b, c->vf32, acc, ""), e, ""), acc);
    cg_loop_end(c, &l);
    LLVMValueRef s =
        LLVMBuildFDiv(b, cg_splat(c, cg_f32(c, 1)), LLVMBuildLoad2(b, c->vf32, acc, ""), "");
    cg_loop_begin(c, &l, cg_i64(c, 0), k->len, cg_i64(c, 1));
    at = LLVMBuildAdd(b, base, LLVMBuildNUWMul(b, l.i, inner, ""), "");
    LLVMValueRef y = cg_load_vec(c, c->vf32, k->y, at, mask);
    cg_store_vec(c, LLVMBuildFMul(b, y, s, ""), k->y, at, mask);
    cg_loop_end(c, &l);
  } else {
    IR_ASSERT(!"strided norm");
  }
  cg_loop_end(c, &ch.loop);
}

void cg_emit_rows(cg_ctx *c, const ir_node *n) {
  const ir_type *xt = &c->g->values[n->inputs[0]].type;
  int R = xt->rank;
  int dim = R - 1;
  if (n->op == IR_OP_SOFTMAX || n->op == IR_OP_MEAN) {
    dim = (int)ir_attr_int(n, "dim");
    if (dim < 0) dim += R;
  }
  if (R == 0 || dim < 0 || dim >= R) {
    cg_fail(c, "codegen: %s '%s': dim out of range", ir_ops[n->op].name, n->name);
    return;
  }
  if (xt->dtype != IR_F32) {
    cg_fail(c, "codegen: %s '%s' needs f32", ir_ops[n->op].name, n->name);
    return;
  }
  rowk k = {.op = n->op};
  k.x = cg_value_ptr(c, n->inputs[0]);
  k.y = cg_value_ptr(c, n->outputs[0]);
  if (n->op == IR_OP_LAYER_NORM || n->op == IR_OP_RMS_NORM) {
    k.w = cg_value_ptr(c, n->inputs[1]);
    if (n->op == IR_OP_LAYER_NORM) k.bias = cg_value_ptr(c, n->inputs[2]);
    k.eps = cg_f32(c, (float)ir_attr_float(n, "eps"));
  }
  k.len = cg_dim(c, xt->dims[dim]);
  k.acc = cg_alloca(c, c->vf32, "acc");
  LLVMValueRef outer = cg_dims(c, xt, 0, dim);
  bool last = true;
  for (int i = dim + 1; i < R; i++)
    if (!ir_dim_is_const(xt->dims[i]) || xt->dims[i].coef != 1) last = false;
  if (last)
    contiguous(c, &k, outer);
  else
    strided(c, &k, outer, cg_dims(c, xt, dim + 1, R));
}
