/*
 * merge_gemm.c: matmuls that read the same operand become one. The per-gate
 * weights of a custom cell, h @ W_a and h @ W_b, become h @ [W_a | W_b]
 * followed by slices of the result, so the step runs one GEMM over all gates.
 *
 * A group is the live MATMULs of one graph with the same first operand and
 * trans_b whose second operand is a weight of rank 2 with the same K: at top
 * level a param; in a scan body a capture (the concat of the weights is built
 * at top level and enters the scan as a new capture). The concat reads params
 * only, so plan_memory runs it once at session start.
 */
#include <stdlib.h>

#include "passes.h"

/* is body or top value v a weight the concat can be built from? */
static bool weight(const ir_graph *g, int v, int ncap_from) {
  const ir_value *val = &g->values[v];
  if (val->type.rank != 2) return false;
  if (!g->parent) return val->kind == IR_VAL_PARAM;
  for (int k = ncap_from; k < g->ninputs; k++)
    if (g->inputs[k] == v) return true;
  return false;
}

/* the outer value of capture v of scan node s */
static int outer_of(const ir_graph *b, const ir_node *s, int v) {
  for (int k = 0; k < b->ninputs; k++)
    if (b->inputs[k] == v) return s->inputs[k];
  IR_ASSERT(!"not a capture");
  return -1;
}

/*
 * Merges one group in graph x (the top graph g itself, or the body of scan
 * node si of g). Returns true if it merged one; the caller loops.
 */
static bool merge_one(ir_graph *g, int si, ir_graph *x, ir_diags *d) {
  int ncap_from = 0;
  if (x != g) {
    const ir_node *s = &g->nodes[si];
    ncap_from = (int)(ir_attr_int(s, "nover") + ir_attr_int(s, "nstate"));
  }
  for (int i = 0; i < x->nnodes; i++) {
    const ir_node *a = &x->nodes[i];
    if (a->dead || a->op != IR_OP_MATMUL || !weight(x, a->inputs[1], ncap_from)) continue;
    int64_t tb = ir_attr_int(a, "trans_b");
    int kdim = tb ? 1 : 0;
    ir_dim K = x->values[a->inputs[1]].type.dims[kdim];
    int group[64], ng = 0;
    for (int j = i; j < x->nnodes && ng < 64; j++) {
      const ir_node *m = &x->nodes[j];
      if (m->dead || m->op != IR_OP_MATMUL || m->inputs[0] != a->inputs[0] ||
          ir_attr_int(m, "trans_b") != tb || !weight(x, m->inputs[1], ncap_from) ||
          !ir_dim_eq(x->values[m->inputs[1]].type.dims[kdim], K) ||
          !ir_dim_is_const(x->values[m->inputs[1]].type.dims[1 - kdim]))
        continue;
      group[ng++] = j;
    }
    if (ng < 2) continue;

    /* the concat of the weights, at top level, before the scan (or the first matmul) */
    int ws[64];
    for (int k = 0; k < ng; k++) {
      int w = x->nodes[group[k]].inputs[1];
      ws[k] = x == g ? w : outer_of(x, &g->nodes[si], w);
    }
    int at = x == g ? i : si;
    int cat = ir_insert_node(g, at, IR_OP_CONCAT, "merged_weight", ws, ng, x->nodes[i].loc);
    ir_set_attr_int(g, cat, "dim", tb ? 0 : 1);
    bool ok = ir_infer_node(g, cat, d);
    IR_ASSERT(ok);
    int wcat = g->nodes[cat].outputs[0];
    if (x == g) {
      i++; /* the group moved one down */
      for (int k = 0; k < ng; k++) group[k]++;
    } else {
      si++;
      ir_node *s = &g->nodes[si];
      int *ins = ir_alloc(g, sizeof(int) * (size_t)(s->ninputs + 1));
      for (int k = 0; k < s->ninputs; k++) ins[k] = s->inputs[k];
      ins[s->ninputs] = wcat;
      s->inputs = ins;
      s->ninputs++;
      wcat = ir_add_input(x, "merged_weight", g->values[wcat].type, x->nodes[i].loc);
    }

    /* one matmul at the first one's place, then a slice per old result */
    int ins[2] = {x->nodes[i].inputs[0], wcat};
    int mm = ir_insert_node(x, i, IR_OP_MATMUL, x->nodes[i].name, ins, 2, x->nodes[i].loc);
    ir_set_attr_int(x, mm, "trans_b", tb);
    ok = ir_infer_node(x, mm, d);
    IR_ASSERT(ok);
    int merged = x->nodes[mm].outputs[0];
    int rank = x->values[merged].type.rank;
    int64_t off = 0;
    for (int k = 0; k < ng; k++) {
      const ir_node *m = &x->nodes[group[k] + 1 + k]; /* after the matmul and k slices */
      int64_t n = x->values[m->inputs[1]].type.dims[1 - kdim].coef;
      int old = m->outputs[0];
      const char *name = m->name;
      int sl = ir_insert_node(x, mm + 1 + k, IR_OP_SLICE, name, &merged, 1, m->loc);
      ir_set_attr_int(x, sl, "dim", rank - 1);
      ir_set_attr_int(x, sl, "start", off);
      ir_set_attr_int(x, sl, "end", off + n);
      ok = ir_infer_node(x, sl, d);
      IR_ASSERT(ok);
      off += n;
      ir_replace_uses(x, old, x->nodes[sl].outputs[0]);
      x->nodes[group[k] + 2 + k].dead = true; /* the old matmul, now after k+1 slices */
    }
    ir_graph_compact(x);
    if (x != g) {
      ok = ir_infer_node(g, si, d);
      IR_ASSERT(ok);
    }
    return true;
  }
  return false;
}

bool pass_merge_gemm(ir_graph *g, pass_ctx *ctx) {
  ir_diags local;
  ir_diags *d = pass_diags(ctx, &local);
  bool changed = false;
  while (merge_one(g, 0, g, d)) changed = true;
  for (int i = 0; i < g->nnodes; i++) {
    if (g->nodes[i].dead || g->nodes[i].op != IR_OP_SCAN) continue;
    while (merge_one(g, i, g->nodes[i].body, d)) {
      changed = true;
      i++; /* the concat went before the scan */
    }
  }
  if (changed) ir_graph_reindex(g);
  return changed;
}
