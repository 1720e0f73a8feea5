/*
 * conv1d.c: nn.Conv1d on batch-first [B, T, C] with the weight as [k, C, O]
 * (transposed once at session start by the graph). Threads split the output
 * rows (b, t); each row is vectors across O, accumulating
 *   y[b, t, o..] += x[b, ti, c] * w[j, c, o..]   for taps j with 0 <= ti < T
 * so the weight is read contiguously and x once per (tap, channel).
 */
#include "cg_internal.h"

typedef struct conv {
  LLVMValueRef x, w, bias, y;    /* memory of the input, weight, bias (or NULL) and output */
  LLVMValueRef C, O, K, T;       /* i64 channels in and out, taps, input length */
  LLVMValueRef stride, pad, dil; /* i64 attrs */
  LLVMValueRef b, t;             /* i64 current output row */
  LLVMValueRef y_row;            /* i64 offset of the output row */
  LLVMValueRef acc;              /* alloca <vw x float> */
} conv;

static void row_body(cg_ctx *c, void *user, LLVMValueRef o, LLVMValueRef mask) {
  conv *k = user;
  LLVMBuilderRef b = c->b;
  LLVMValueRef init = k->bias ? cg_load_vec(c, c->vf32, k->bias, o, mask) : LLVMConstNull(c->vf32);
  LLVMBuildStore(b, init, k->acc);
  cg_loop j;
  cg_loop_begin(c, &j, cg_i64(c, 0), k->K, cg_i64(c, 1));
  LLVMValueRef ti = LLVMBuildSub(
      b,
      LLVMBuildAdd(b, LLVMBuildMul(b, k->t, k->stride, ""), LLVMBuildMul(b, j.i, k->dil, ""), ""),
      k->pad, "");
  LLVMValueRef inside = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntSGE, ti, cg_i64(c, 0), ""),
                                     LLVMBuildICmp(b, LLVMIntSLT, ti, k->T, ""), "");
  cg_if f;
  cg_if_begin(c, &f, inside);
  LLVMValueRef xrow =
      LLVMBuildMul(b, LLVMBuildAdd(b, LLVMBuildMul(b, k->b, k->T, ""), ti, ""), k->C, "");
  LLVMValueRef wtap = LLVMBuildMul(b, j.i, k->C, "");
  cg_loop ch;
  cg_loop_begin(c, &ch, cg_i64(c, 0), k->C, cg_i64(c, 1));
  LLVMValueRef xv =
      LLVMBuildLoad2(b, c->f32, cg_gep(c, c->f32, k->x, LLVMBuildAdd(b, xrow, ch.i, "")), "");
  LLVMValueRef wat =
      LLVMBuildAdd(b, LLVMBuildMul(b, LLVMBuildAdd(b, wtap, ch.i, ""), k->O, ""), o, "");
  LLVMValueRef wv = cg_load_vec(c, c->vf32, k->w, wat, mask);
  LLVMValueRef a = LLVMBuildLoad2(b, c->vf32, k->acc, "");
  LLVMValueRef args[3] = {cg_splat(c, xv), wv, a};
  LLVMTypeRef vt = c->vf32;
  LLVMBuildStore(b, cg_intrinsic(c, "llvm.fmuladd", &vt, 1, args, 3), k->acc);
  cg_loop_end(c, &ch);
  cg_if_end(c, &f);
  cg_loop_end(c, &j);
  cg_store_vec(c, LLVMBuildLoad2(b, c->vf32, k->acc, ""), k->y, LLVMBuildAdd(b, k->y_row, o, ""),
               mask);
}

void cg_emit_conv1d(cg_ctx *c, const ir_node *n) {
  const ir_graph *g = c->g;
  LLVMBuilderRef b = c->b;
  const ir_type *xt = &g->values[n->inputs[0]].type, *wt = &g->values[n->inputs[1]].type;
  const ir_type *yt = &g->values[n->outputs[0]].type;
  conv k = {0};
  k.x = cg_value_ptr(c, n->inputs[0]);
  k.w = cg_value_ptr(c, n->inputs[1]);
  k.bias = n->ninputs > 2 ? cg_value_ptr(c, n->inputs[2]) : NULL;
  k.y = cg_value_ptr(c, n->outputs[0]);
  k.T = cg_dim(c, xt->dims[1]);
  k.C = cg_dim(c, xt->dims[2]);
  k.K = cg_dim(c, wt->dims[0]);
  k.O = cg_dim(c, wt->dims[2]);
  k.stride = cg_i64(c, ir_attr_int(n, "stride"));
  k.pad = cg_i64(c, ir_attr_int(n, "padding"));
  k.dil = cg_i64(c, ir_attr_int(n, "dilation"));
  k.acc = cg_alloca(c, c->vf32, "conv.acc");
  LLVMValueRef Tout = cg_dim(c, yt->dims[1]);
  LLVMValueRef rows = LLVMBuildMul(b, cg_dim(c, yt->dims[0]), Tout, "");
  LLVMValueRef lo, hi;
  cg_split(c, rows, 1, &lo, &hi);
  cg_loop r;
  cg_loop_begin(c, &r, lo, hi, cg_i64(c, 1));
  k.b = LLVMBuildUDiv(b, r.i, Tout, "");
  k.t = LLVMBuildURem(b, r.i, Tout, "");
  k.y_row = LLVMBuildMul(b, r.i, k.O, "");
  cg_vec_loop(c, cg_i64(c, 0), k.O, row_body, &k);
  cg_loop_end(c, &r);
}
