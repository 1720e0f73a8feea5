/*
 * infer_shapes.c: (re)infers the type of every node result in order.
 *
 * Mismatches are user errors, reported by ir_infer_node at the node's YAML
 * position. Once one node failed, the nodes that read its (now untyped) results
 * are skipped rather than blamed for it, so the user sees each mistake once.
 */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

/* true if some input of node n has no type (downstream of an error) */
static bool reads_untyped(const ir_graph *g, const ir_node *n) {
  for (int j = 0; j < n->ninputs; j++)
    if (g->values[n->inputs[j]].type.rank < 0) return true;
  return false;
}

/* length of Python's x[start:end] on a dim of size n */
static int64_t slice_length(int64_t n, int64_t start, int64_t end) {
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = start < 0 ? 0 : start > n ? n : start;
  end = end < 0 ? 0 : end > n ? n : end;
  return end > start ? end - start : 0;
}

/* a segment scan over a symbolic T was typed assuming chunk divides it */
static void check_bound_chunk(const ir_graph *g, const ir_node *n, const int64_t *syms,
                              ir_diags *d) {
  char dim[64];
  int64_t chunk = ir_attr_int(n, "chunk");
  const ir_type *x = &g->values[n->inputs[0]].type;
  if (chunk <= 1 || x->rank < 2 || ir_dim_is_const(x->dims[1])) return;
  int64_t t = ir_dim_eval(x->dims[1], syms);
  if (t % chunk != 0)
    ir_error(d, n->loc, "scan '%s': chunk %lld does not divide the sequence length %s = %lld",
             n->name ? n->name : "", (long long)chunk,
             ir_dim_str(g, x->dims[1], dim, sizeof dim), (long long)t);
}

/*
 * Slices and segment scans of symbolic dims were typed assuming the dim fits;
 * once the dims are bound, a dim that does not is the user's error.
 */
static void check_bound_dims(const ir_graph *g, const int64_t *syms, ir_diags *d) {
  char dim[64];
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    if (n->body) check_bound_dims(n->body, syms, d);
    if (n->op == IR_OP_SCAN) check_bound_chunk(g, n, syms, d);
    if (n->op != IR_OP_SLICE) continue;
    const ir_type *in = &g->values[n->inputs[0]].type;
    const ir_type *out = &g->values[n->outputs[0]].type;
    int64_t axis = ir_attr_int(n, "dim");
    if (in->rank <= axis || out->rank <= axis || ir_dim_is_const(in->dims[axis])) continue;
    int64_t size = ir_dim_eval(in->dims[axis], syms);
    int64_t start = ir_attr_int(n, "start"), end = ir_attr_int(n, "end");
    int64_t got = slice_length(size, start, end);
    int64_t want = ir_dim_eval(out->dims[axis], syms);
    if (got != want)
      ir_error(d, n->loc,
               "slice '%s': dim %s = %lld is too short for start %lld, end %lld "
               "(%lld elements, the model needs %lld)",
               n->name ? n->name : "", ir_dim_str(g, in->dims[axis], dim, sizeof dim),
               (long long)size, (long long)start, (long long)end, (long long)got,
               (long long)want);
  }
}

/* a derived dim below its min (a conv's output length 0) is the dims' fault */
static void check_derived(const ir_graph *g, const int64_t *syms, ir_diags *d) {
  for (int s = g->nsyms; s < g->nsyms + g->nderived; s++) {
    const ir_symbol *def = &g->syms[s];
    char deps[256];
    if (ir_sym_too_small(g, s, syms))
      ir_error(d, def->loc, "%s %s is %lld for %s", def->what, def->name, (long long)syms[s],
               ir_sym_inputs_str(g, s, syms, deps, sizeof deps));
  }
}

bool pass_infer_shapes(ir_graph *g, pass_ctx *ctx) {
  ir_diags local;
  ir_diags *d = pass_diags(ctx, &local);
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
  if (!failed && ctx->syms) {
    int64_t syms[IR_MAX_SYMS];
    memcpy(syms, ctx->syms, sizeof(int64_t) * (size_t)g->nsyms);
    ir_syms_complete(g, syms);
    check_derived(g, syms, d);
    check_bound_dims(g, syms, d);
  }
  return changed;
}
