/*
 * panels.c: which prepared weights are stored in column panels, and the
 * TRANSPOSE that writes them there (the layout: cg.h, at cg_panel_plan).
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

/* trans_b of matmul m, or of the matmul inside fused m (whose operands must
 * be the fused node's first two inputs, as matmul.c reads them); -1 if none */
static int64_t gemm_trans_b(const ir_node *m) {
  if (m->op == IR_OP_MATMUL) return ir_attr_int(m, "trans_b");
  if (m->op != IR_OP_FUSED) return -1;
  const ir_graph *fb = m->body;
  for (int i = 0; i < fb->nnodes; i++) {
    const ir_node *mm = &fb->nodes[i];
    if (mm->dead || mm->op != IR_OP_MATMUL) continue;
    if (fb->ninputs < 2 || mm->inputs[0] != fb->inputs[0] || mm->inputs[1] != fb->inputs[1])
      return -1;
    return ir_attr_int(mm, "trans_b");
  }
  return -1;
}

/*
 * True when every use of body input v of scan n is as B of a GEMM by the
 * unit split (columns in units of `unit`), not trans_b, whose rows (the
 * batch, bound at compile time) let the direct path read B in place; and v
 * is used at least once and is no body output.
 */
static bool only_step_gemms(cg_ctx *c, const ir_node *n, int v, int64_t unit) {
  const ir_graph *body = n->body;
  for (int i = 0; i < body->noutputs; i++)
    if (body->outputs[i].value == v) return false;
  const ir_graph *saved_g = c->g;
  int64_t saved_unit = c->unit_len;
  c->g = body; /* cg_unit_kernel looks the kernel's types up there */
  c->unit_len = unit;
  bool ok = true;
  int uses = 0;
  for (int i = 0, j = -1; ok && ir_next_use(body, v, &i, &j);) {
    const ir_node *m = &body->nodes[i];
    uses++;
    ok = j == 1 && gemm_trans_b(m) == 0 && cg_unit_kernel(c, m);
    if (!ok) break;
    const ir_type *at = &body->values[m->inputs[0]].type;
    int64_t rows = 1, d, k;
    for (int r = 0; r + 1 < at->rank && ok; r++) ok = cg_dim_known(c, at->dims[r], &d), rows *= d;
    ok = ok && cg_dim_known(c, at->dims[at->rank - 1], &k) &&
         cg_gemm_reads_b_in_place(c->vw, rows, k, unit);
  }
  c->g = saved_g;
  c->unit_len = saved_unit;
  return ok && uses > 0;
}

/* the unit of panels for prepared transpose t of c->g, or 0 when some use
 * of its result wants it row-major */
static int64_t panel_unit_of(cg_ctx *c, const ir_node *t) {
  const ir_graph *g = c->g;
  int v = t->outputs[0];
  const ir_value *val = &g->values[v];
  const ir_attr *perm = ir_get_attr(t, "perm");
  int64_t N;
  if (val->type.rank != 2 || val->type.dtype != IR_F32 || val->buffer < 0 ||
      g->buffers[val->buffer].role != SEQRT_ROLE_PREPARED || !perm || perm->nints != 2 ||
      perm->ints[0] != 1 || !cg_dim_known(c, val->type.dims[1], &N))
    return 0;
  for (int i = 0; i < g->noutputs; i++)
    if (g->outputs[i].value == v) return 0;
  int64_t unit = 0;
  for (int i = 0, k = -1; ir_next_use(g, v, &i, &k);) {
    const ir_node *n = &g->nodes[i];
    if (n->op != IR_OP_SCAN || n->at_prepare) return 0;
    int captures = (int)(ir_attr_int(n, "nover") + ir_attr_int(n, "nstate"));
    int64_t u = cg_scan_unit(c, n);
    if (k < captures || u <= 0 || N % u || (unit && u != unit)) return 0;
    if (!only_step_gemms(c, n, n->body->inputs[k], u)) return 0;
    unit = u;
  }
  return unit;
}

void cg_panel_plan(cg_ctx *c) {
  const ir_graph *g = c->g;
  c->panel_unit = calloc((size_t)g->nbuffers + 1, sizeof *c->panel_unit);
  IR_ASSERT(c->panel_unit);
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *t = &g->nodes[i];
    if (t->dead || !t->at_prepare || t->op != IR_OP_TRANSPOSE) continue;
    int64_t unit = panel_unit_of(c, t);
    if (!unit) continue;
    int v = t->outputs[0];
    c->panel_unit[g->values[v].buffer] = unit;
    /* and the body inputs it is captured as (their buffers are in g's table) */
    for (int j = 0, k = -1; ir_next_use(g, v, &j, &k);) {
      const ir_graph *body = g->nodes[j].body; /* a scan: panel_unit_of checked */
      c->panel_unit[body->values[body->inputs[k]].buffer] = unit;
    }
  }
}

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
  int64_t U = c->panel_unit[out->buffer], nr = cg_gemm_panel_cols(c->vw);
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
