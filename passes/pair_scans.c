/*
 * pair_scans.c: the two directions of a bidirectional layer advance in one
 * loop.
 *
 * decompose_rnn expands a bidirectional layer into two SCANs, forward and
 * reverse, that read the same input and not each other. Run one after the
 * other they cost two loops of T steps, each step opened by a barrier; run
 * together, one loop of T steps does step t of the first and step t of the
 * second under one barrier, and either body's kernels fill the time the other
 * would wait.
 *
 * For each SCAN A the pass looks at the next SCAN B. When B does not depend
 * on A and both run the same number of steps (the same length T and chunk),
 * the nodes between them that B needs move before A, B moves right after A,
 * and A gets pair=1. plan_memory then gives A and B one step, so all their
 * memory is live at once; codegen emits the two bodies in one loop; the
 * interpreter, which runs nodes in order, needs nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

/* the first over input's length dim (dim 1), false when the scan has none */
static bool length_of(const ir_graph *g, const ir_node *n, ir_dim *t) {
  if (ir_attr_int(n, "nover") < 1) return false;
  const ir_type *x = &g->values[n->inputs[0]].type;
  if (x->rank < 2) return false;
  *t = x->dims[1];
  return true;
}

/* A and B run the same steps: same length and chunk */
static bool same_steps(const ir_graph *g, const ir_node *a, const ir_node *b) {
  ir_dim ta, tb;
  return length_of(g, a, &ta) && length_of(g, b, &tb) && ir_dim_eq(ta, tb) &&
         ir_attr_int(a, "chunk") == ir_attr_int(b, "chunk");
}

/* true when node k reads a result of a node marked in mark[] */
static bool reads_marked(const ir_graph *g, const ir_node *k, const bool *mark) {
  for (int j = 0; j < k->ninputs; j++) {
    const ir_value *v = &g->values[k->inputs[j]];
    if (v->kind == IR_VAL_NODE && v->def >= 0 && mark[v->def]) return true;
  }
  return false;
}

/*
 * Pairs SCAN a with the next live SCAN b when they are independent and of
 * equal steps, reordering the nodes between them; returns the pair's new
 * first index, or -1.
 */
static int pair_at(ir_graph *g, int a, bool *mark, ir_node *tmp) {
  int b = a + 1;
  while (b < g->nnodes && (g->nodes[b].dead || g->nodes[b].op != IR_OP_SCAN)) b++;
  if (b >= g->nnodes || !same_steps(g, &g->nodes[a], &g->nodes[b])) return -1;

  /* what depends on a, from a up to b: b must not */
  memset(mark, 0, sizeof(bool) * (size_t)g->nnodes);
  mark[a] = true;
  for (int k = a + 1; k <= b; k++)
    mark[k] = !g->nodes[k].dead && reads_marked(g, &g->nodes[k], mark);
  if (mark[b]) return -1;

  /* what b needs between a and b (none of it depends on a, or b would) */
  memset(mark, 0, sizeof(bool) * (size_t)g->nnodes);
  mark[b] = true;
  for (int k = b - 1; k > a; k--) {
    if (g->nodes[k].dead) continue;
    for (int o = 0; o < g->nodes[k].noutputs && !mark[k]; o++) {
      int v = g->nodes[k].outputs[o];
      for (int u = k + 1; u <= b && !mark[k]; u++) {
        if (!mark[u]) continue;
        for (int j = 0; j < g->nodes[u].ninputs; j++)
          if (g->nodes[u].inputs[j] == v) mark[k] = true;
      }
    }
  }

  /* new order of [a, b]: b's needs, a, b, then the rest */
  int n = 0;
  for (int k = a + 1; k < b; k++)
    if (mark[k]) tmp[n++] = g->nodes[k];
  int new_a = a + n;
  tmp[n++] = g->nodes[a];
  tmp[n++] = g->nodes[b];
  for (int k = a + 1; k < b; k++)
    if (!mark[k]) tmp[n++] = g->nodes[k];
  IR_ASSERT(n == b - a + 1);
  memcpy(&g->nodes[a], tmp, sizeof(ir_node) * (size_t)n);
  ir_graph_reindex(g);
  ir_set_attr_int(g, new_a, "pair", 1);
  return new_a;
}

bool pass_pair_scans(ir_graph *g, pass_ctx *ctx) {
  (void)ctx;
  bool *mark = calloc((size_t)g->nnodes + 1, sizeof *mark);
  ir_node *tmp = malloc(sizeof(ir_node) * (size_t)(g->nnodes + 1));
  IR_ASSERT(mark && tmp);
  bool changed = false;
  for (int a = 0; a < g->nnodes; a++) {
    ir_node *n = &g->nodes[a];
    if (n->dead || n->op != IR_OP_SCAN || ir_get_attr(n, "pair")) continue;
    int first = pair_at(g, a, mark, tmp);
    if (first < 0) continue;
    changed = true;
    a = first + 1; /* the partner: the next scan to pair comes after it */
  }
  free(mark);
  free(tmp);
  return changed;
}
