/*
 * hoist.c: work in a scan body that does not depend on the carried state
 * leaves the loop. The input projection x_t @ W_ih^T + b_ih of every step of
 * an RNN becomes one GEMM over all steps, [B, T, F] @ W -> [B, T, 4H], whose
 * result enters the scan as a new over input.
 *
 * A body node is hoisted when it is a MATMUL of a step value by a capture, an
 * elementwise op, or a SLICE along a dim other than the batch, and its inputs
 * are step values (over inputs, or results of hoisted nodes) or invariants
 * (captures and constants) that broadcast the same against [B, ...] as
 * against [B, T, ...] (rank below the step value's). At top level the node
 * runs on the whole sequence: the step dim is inserted after the batch. The
 * hoisted results the remaining body still reads become over inputs, placed
 * after the existing ones. A slice goes only with a reader that goes too
 * (alone it would copy the sequence).
 *
 * A node that reads only captures and constants (a weight's transpose, its
 * rows) leaves any scan, whatever its chunk: it becomes a capture, computed
 * once (at prepare when it reads parameters only) rather than every step or
 * segment. Step values move only out of scans of chunk 1.
 */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

/* what a body value is, for hoisting */
enum { OTHER, STEP, INVARIANT };

/* can body node m run on the whole sequence, given the kinds of its inputs? */
static bool hoistable(const ir_graph *b, const ir_node *m, const char *kind) {
  if (m->dead || m->noutputs != 1 || m->body) return false;
  bool any_step = false;
  for (int j = 0; j < m->ninputs; j++) {
    if (kind[m->inputs[j]] == OTHER) return false;
    any_step |= kind[m->inputs[j]] == STEP;
  }
  if (!any_step) return false;
  const ir_type *rt = &b->values[m->outputs[0]].type;
  if (rt->rank < 1) return false;
  if (m->op == IR_OP_MATMUL) {
    const ir_type *a = &b->values[m->inputs[0]].type, *w = &b->values[m->inputs[1]].type;
    return kind[m->inputs[0]] == STEP && kind[m->inputs[1]] == INVARIANT && a->rank == 2 &&
           w->rank == 2;
  }
  if (m->op == IR_OP_SLICE) {
    int64_t d = ir_attr_int(m, "dim");
    if (d < 0) d += rt->rank;
    return d >= 1;
  }
  if (!(ir_ops[m->op].traits & IR_T_ELEMWISE) || m->op == IR_OP_COPY) return false;
  for (int j = 0; j < m->ninputs; j++) {
    const ir_type *t = &b->values[m->inputs[j]].type;
    if (kind[m->inputs[j]] == STEP ? t->rank != rt->rank : t->rank >= rt->rank) return false;
  }
  return true;
}

/* does body node m read captures and constants only (a weight's transpose)? */
static bool invariant(const ir_node *m, const char *kind) {
  if (m->dead || m->noutputs != 1 || m->body || m->ninputs == 0) return false;
  for (int j = 0; j < m->ninputs; j++)
    if (kind[m->inputs[j]] != INVARIANT) return false;
  return true;
}

/* the top-level value standing for body value v (a const is copied up once) */
static int top_value(ir_graph *g, const ir_node *s, const ir_graph *b, int v, int *map) {
  if (map[v] >= 0) return map[v];
  const ir_value *val = &b->values[v];
  IR_ASSERT(val->kind == IR_VAL_CONST);
  return map[v] = ir_add_const(g, val->type, val->data, val->loc);
  (void)s;
}

/* copies the attributes of body node m to top node t; a slice of step values
 * (step: it runs on the sequence now) moves its dim out by one, a slice of
 * invariants (a weight's rows) keeps it */
static void copy_attrs(ir_graph *g, int t, const ir_node *m, bool step) {
  for (int a = 0; a < m->nattrs; a++) {
    const ir_attr *at = &m->attrs[a];
    switch (at->kind) {
      case IR_ATTR_INT: {
        int64_t v = at->i;
        if (step && m->op == IR_OP_SLICE && strcmp(at->key, "dim") == 0) v = (v < 0 ? v : v + 1);
        ir_set_attr_int(g, t, at->key, v);
        break;
      }
      case IR_ATTR_FLOAT:
        ir_set_attr_float(g, t, at->key, at->f);
        break;
      case IR_ATTR_STR:
        ir_set_attr_str(g, t, at->key, at->s);
        break;
      case IR_ATTR_INTS:
        ir_set_attr_ints(g, t, at->key, at->ints, at->nints);
        break;
    }
  }
}

/*
 * Removes over inputs and captures the body no longer reads (the sequence the
 * hoisted projection read, its weight), keeping one over input for the length
 * and the lengths (the first capture of a scan with lengths=1). Sets nover.
 */
static void drop_unused_inputs(ir_graph *g, int si, int nover, int nstate) {
  ir_node *s = &g->nodes[si];
  ir_graph *b = s->body;
  int *uses = ir_use_counts(b);
  int k = 0, over = nover;
  const ir_attr *len = ir_get_attr(s, "lengths");
  int keep = len && len->i ? nover + nstate : -1;
  for (int i = 0; i < s->ninputs; i++) {
    bool state = (i >= nover && i < nover + nstate) || i == keep;
    bool drop = !state && uses[b->inputs[i]] == 0 && !(i < nover && over == 1);
    if (drop) {
      if (i < nover) over--;
      continue;
    }
    s->inputs[k] = s->inputs[i];
    b->inputs[k] = b->inputs[i];
    k++;
  }
  s->ninputs = b->ninputs = k;
  free(uses);
  ir_set_attr_int(g, si, "nover", over);
}

/* hoists what it can out of the scan at node index si; true if it did */
static bool hoist_scan(ir_graph *g, int si, ir_diags *d) {
  ir_node *s = &g->nodes[si];
  bool segments = ir_attr_int(s, "chunk") > 1; /* only invariants leave */
  ir_graph *b = s->body;
  int nover = (int)ir_attr_int(s, "nover"), nstate = (int)ir_attr_int(s, "nstate");
  char *kind = calloc((size_t)b->nvalues + 1, 1);
  int *map = malloc(sizeof(int) * (size_t)(b->nvalues + 1));
  bool *moved = calloc((size_t)b->nnodes + 1, sizeof(bool));
  IR_ASSERT(kind && map && moved);
  for (int v = 0; v < b->nvalues; v++) {
    map[v] = -1;
    if (b->values[v].kind == IR_VAL_CONST) kind[v] = INVARIANT;
  }
  for (int k = 0; k < b->ninputs; k++) {
    int v = b->inputs[k];
    if (k < nover)
      kind[v] = STEP;
    else if (k >= nover + nstate)
      kind[v] = INVARIANT;
    if (k < nover || k >= nover + nstate) map[v] = s->inputs[k];
  }
  int nmoved = 0;
  for (int i = 0; i < b->nnodes; i++) {
    const ir_node *m = &b->nodes[i];
    if (invariant(m, kind)) {
      kind[m->outputs[0]] = INVARIANT;
    } else if (!segments && hoistable(b, m, kind)) {
      kind[m->outputs[0]] = STEP;
    } else {
      continue;
    }
    moved[i] = true;
    nmoved++;
  }
  /* a slice none of whose readers left the loop stays in it: in a batch-1
   * step it is a view of its input's row, outside a copy of the sequence */
  for (int i = b->nnodes - 1; i >= 0; i--) {
    if (!moved[i] || b->nodes[i].op != IR_OP_SLICE) continue;
    int v = b->nodes[i].outputs[0];
    bool feeds_moved = false;
    for (int j = i + 1; j < b->nnodes && !feeds_moved; j++)
      for (int k = 0; k < b->nodes[j].ninputs; k++)
        feeds_moved |= moved[j] && b->nodes[j].inputs[k] == v;
    if (feeds_moved) continue;
    moved[i] = false;
    nmoved--;
  }
  if (nmoved == 0) {
    free(kind), free(map), free(moved);
    return false;
  }

  /* the hoisted nodes at top level, in order, before the scan */
  int pos = si;
  for (int i = 0; i < b->nnodes; i++) {
    if (!moved[i]) continue;
    const ir_node *m = &b->nodes[i];
    int ins[8];
    IR_ASSERT(m->ninputs <= 8);
    for (int j = 0; j < m->ninputs; j++) ins[j] = top_value(g, s, b, m->inputs[j], map);
    int t = ir_insert_node(g, pos++, m->op, m->name, ins, m->ninputs, m->loc);
    copy_attrs(g, t, m, kind[m->outputs[0]] == STEP);
    bool ok = ir_infer_node(g, t, d);
    IR_ASSERT(ok); /* the body's types were consistent */
    map[m->outputs[0]] = g->nodes[t].outputs[0];
    s = &g->nodes[pos]; /* the scan moved one down (and the array may have moved) */
  }
  si = pos;

  /* hoisted results the rest of the body reads become over inputs */
  int *uses = calloc((size_t)b->nvalues + 1, sizeof(int));
  IR_ASSERT(uses);
  for (int i = 0; i < b->nnodes; i++) {
    if (moved[i] || b->nodes[i].dead) continue;
    for (int j = 0; j < b->nodes[i].ninputs; j++) uses[b->nodes[i].inputs[j]]++;
  }
  for (int k = 0; k < b->noutputs; k++) uses[b->outputs[k].value]++;
  /* step values go after the over inputs, invariants after the captures */
  int nfront = 0, ncap = 0;
  int *front = malloc(sizeof(int) * (size_t)(b->nnodes + 1));
  int *caps = malloc(sizeof(int) * (size_t)(b->nnodes + 1));
  IR_ASSERT(front && caps);
  for (int i = 0; i < b->nnodes; i++) {
    int v = b->nodes[i].outputs[0];
    if (!moved[i] || !uses[v]) continue;
    if (kind[v] == STEP)
      front[nfront++] = v;
    else
      caps[ncap++] = v;
  }

  int nold = s->ninputs, nin = nold + nfront + ncap;
  int *ins = ir_alloc(g, sizeof(int) * (size_t)nin);
  int *bins = malloc(sizeof(int) * (size_t)nin);
  IR_ASSERT(bins);
  for (int k = 0; k < nover; k++) ins[k] = s->inputs[k], bins[k] = b->inputs[k];
  for (int k = nover; k < nold; k++)
    ins[k + nfront] = s->inputs[k], bins[k + nfront] = b->inputs[k];
  for (int f = 0; f < nfront + ncap; f++) {
    int v = f < nfront ? front[f] : caps[f - nfront];
    int at = f < nfront ? nover + f : nold + f;
    int nv = ir_add_input(b, b->values[v].name, b->values[v].type, b->values[v].loc);
    ir_replace_uses(b, v, nv);
    ins[at] = map[v];
    bins[at] = nv;
  }
  /* the new inputs were appended: put the whole list in scan order */
  IR_ASSERT(b->ninputs == nin);
  memcpy(b->inputs, bins, sizeof(int) * (size_t)nin);
  free(bins);
  s->inputs = ins;
  s->ninputs = nin;
  for (int i = 0; i < b->nnodes; i++)
    if (moved[i]) b->nodes[i].dead = true;
  ir_graph_compact(b);
  drop_unused_inputs(g, si, nover + nfront, nstate);
  bool ok = ir_infer_node(g, si, d);
  IR_ASSERT(ok);
  free(kind), free(map), free(moved), free(uses), free(front), free(caps);
  return nmoved > 0;
}

bool pass_hoist(ir_graph *g, pass_ctx *ctx) {
  ir_diags local;
  ir_diags *d = pass_diags(ctx, &local);
  bool changed = false;
  for (int i = 0; i < g->nnodes; i++) {
    if (g->nodes[i].dead || g->nodes[i].op != IR_OP_SCAN) continue;
    if (hoist_scan(g, i, d)) {
      changed = true;
      while (g->nodes[i].op != IR_OP_SCAN) i++; /* past the hoisted nodes */
    }
  }
  if (changed) ir_graph_reindex(g);
  return changed;
}
