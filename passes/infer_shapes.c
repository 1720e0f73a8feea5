/*
 * infer_shapes.c: (re)infers the type of every node result in order.
 *
 * Mismatches are user errors, reported by ir_infer_node at the node's YAML
 * position. Once one node failed, the nodes that read its (now untyped) results
 * are skipped rather than blamed for it, so the user sees each mistake once.
 */
#include <stdlib.h>

#include "passes.h"

/* true if some input of node n has no type (downstream of an error) */
static bool reads_untyped(const ir_graph *g, const ir_node *n) {
  for (int j = 0; j < n->ninputs; j++)
    if (g->values[n->inputs[j]].type.rank < 0) return true;
  return false;
}

bool pass_infer_shapes(ir_graph *g, pass_ctx *ctx) {
  ir_diags local;
  ir_diags *d = ctx->diags;
  if (!d) {
    ir_diags_init(&local, NULL, NULL, 0, stderr);
    d = &local;
  }
  /* types as they were, to tell whether inference changed any */
  int nbefore = g->nvalues;
  ir_type *before = malloc(sizeof(ir_type) * (size_t)(nbefore ? nbefore : 1));
  IR_ASSERT(before);
  for (int v = 0; v < nbefore; v++) before[v] = g->values[v].type;

  bool changed = false, failed = false;
  for (int i = 0; i < g->nnodes; i++) {
    ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    bool ok = !(failed && reads_untyped(g, n)) && ir_infer_node(g, i, d);
    n = &g->nodes[i];
    if (!ok) {
      failed = true;
      for (int j = 0; j < n->noutputs; j++) g->values[n->outputs[j]].type.rank = -1;
    }
    for (int j = 0; j < n->noutputs; j++) {
      int v = n->outputs[j];
      if (v >= nbefore || !ir_type_eq(&before[v], &g->values[v].type)) changed = true;
    }
  }
  free(before);
  return changed;
}
