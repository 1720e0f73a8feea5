/*
 * panels.c: the column-panel layout of prepared weights (which ones the
 * schedule pass chose: ir_buffer.panel), and the TRANSPOSE that writes them.
 *
 * A batch-1 LSTM step multiplies h by Whh^T [K, 4H]: each thread reads its
 * hidden units' columns of every gate, K rows of 512 bytes that lie a whole
 * row of B apart. Those rows fall into a few cache sets, which then hold
 * the thread's whole share of B and nothing else: the weights stream from
 * L3 every step instead of staying in L2. In panels a tile's columns are one
 * contiguous stream.
 */
#include <stdlib.h>

#include "cg_internal.h"

void cg_panel_at(LLVMBuilderRef b, LLVMValueRef col, int64_t unit, int64_t nr, LLVMValueRef *start,
                 LLVMValueRef *width) {
  LLVMTypeRef i64 = LLVMTypeOf(col);
  LLVMValueRef u = LLVMBuildURem(b, col, LLVMConstInt(i64, (uint64_t)unit, 0), "");
  LLVMValueRef q0 =
      LLVMBuildSub(b, u, LLVMBuildURem(b, u, LLVMConstInt(i64, (uint64_t)nr, 0), ""), "");
  *start = LLVMBuildAdd(b, LLVMBuildSub(b, col, u, ""), q0, "");
  LLVMValueRef rest = LLVMBuildSub(b, LLVMConstInt(i64, (uint64_t)unit, 0), q0, "");
  LLVMValueRef nrc = LLVMConstInt(i64, (uint64_t)nr, 0);
  *width = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, rest, nrc, ""), rest, nrc, "");
}

void cg_emit_panel_transpose(cg_ctx *c, const ir_node *n) {
  LLVMBuilderRef b = c->b;
  const ir_value *out = &c->g->values[n->outputs[0]];
  int64_t U = c->g->buffers[out->buffer].panel, nr = cg_gemm_panel_cols(c->vw);
  LLVMValueRef K = cg_dim(c, out->type.dims[0]), N = cg_dim(c, out->type.dims[1]);
  LLVMValueRef src = cg_value_ptr(c, n->inputs[0]), dst = cg_value_ptr(c, n->outputs[0]);
  /* this thread's columns of B: rows of the [N, K] weight, read in order */
  LLVMValueRef lo, hi;
  cg_split(c, N, 1, &lo, &hi);
  cg_loop col;
  cg_loop_begin(c, &col, lo, hi, cg_i64(c, 1));
  LLVMValueRef start, wq;
  cg_panel_at(b, col.i, U, nr, &start, &wq);
  LLVMValueRef base =
      LLVMBuildAdd(b, LLVMBuildMul(b, start, K, ""), LLVMBuildSub(b, col.i, start, ""), "");
  LLVMValueRef srow = LLVMBuildMul(b, col.i, K, "");
  cg_loop p;
  cg_loop_begin(c, &p, cg_i64(c, 0), K, cg_i64(c, 1));
  LLVMValueRef x =
      LLVMBuildLoad2(b, c->f32, cg_gep(c, c->f32, src, LLVMBuildAdd(b, srow, p.i, "")), "");
  LLVMSetAlignment(x, 4);
  LLVMValueRef at = LLVMBuildAdd(b, base, LLVMBuildMul(b, p.i, wq, ""), "");
  LLVMSetAlignment(LLVMBuildStore(b, x, cg_gep(c, c->f32, dst, at)), 4);
  cg_loop_end(c, &p);
  cg_loop_end(c, &col);
}
