/*
 * unroll.c: chooses how many steps of each SCAN one iteration of the compiled
 * loop runs (attribute `unroll`; codegen emits the body that many times, the
 * steps of the last iteration past the end skipped by a test, so any T works).
 *
 * The factor is ctx->unroll (`--unroll N`) when given; otherwise a factor
 * already on the node stays, and else small bodies get 2 (the loop's own
 * overhead and the pointer bookkeeping of a step are shared by two steps) and
 * large ones 1 (their code would only grow).
 */
#include "passes.h"

/* live kernels of a body */
static int kernels(const ir_graph *body) {
  int n = 0;
  for (int i = 0; i < body->nnodes; i++) n += !body->nodes[i].dead;
  return n;
}

static bool unroll_graph(ir_graph *g, pass_ctx *ctx) {
  bool changed = false;
  for (int i = 0; i < g->nnodes; i++) {
    ir_node *n = &g->nodes[i];
    if (n->dead || n->op != IR_OP_SCAN) continue;
    changed |= unroll_graph(n->body, ctx);
    const ir_attr *have = ir_get_attr(n, "unroll");
    int64_t f = ctx->unroll;
    if (f <= 0) {
      if (have) continue;
      f = kernels(n->body) <= 8 ? 2 : 1;
    }
    if (f > 64) f = 64; /* code size: no gain beyond a few steps */
    if (have && have->i == f) continue;
    ir_set_attr_int(g, i, "unroll", f);
    changed = true;
  }
  return changed;
}

bool pass_unroll(ir_graph *g, pass_ctx *ctx) { return unroll_graph(g, ctx); }
