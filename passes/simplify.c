/*
 * simplify.c: constant folding, common subexpressions, dead code.
 *
 * One sweep of each, in this order, reaches a fixed point: folding in
 * topological order folds whole constant subgraphs; CSE in order sees the
 * inputs of a node already merged; dead code in reverse order sees every use
 * of a value before deciding about its producer. Bodies are simplified too.
 */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

/* results larger than this stay computed at run time (the const would bloat
 * the graph and the object file) */
#define FOLD_MAX_ELEMS (1 << 20)

/* ---- constant folding ---- */

/* number of elements of t if it is constant-shaped, else -1 */
static int64_t const_numel(const ir_type *t) {
  ir_dim n;
  if (t->rank < 0 || !ir_type_numel(t, &n) || !ir_dim_is_const(n)) return -1;
  return n.coef;
}

/* the folded graph has no params */
static bool no_param(void *user, const char *name, seqrt_tensor *out) {
  (void)user, (void)name, (void)out;
  return false;
}

/* makes const c take the place of result value v */
static void take_over(ir_graph *g, int v, int c) {
  g->values[c].name = g->values[v].name;
  ir_replace_uses(g, v, c);
}

/*
 * Evaluates node i (all inputs constant) with the interpreter on a graph of
 * its own and replaces its results by constants. False when it cannot run at
 * compile time (a data error such as an embedding index out of range, left
 * for the run to report).
 */
static bool eval_node(ir_graph *g, int i) {
  const ir_node *n = &g->nodes[i];
  ir_graph *one = ir_graph_new("fold");
  for (int s = 0; s < g->nsyms; s++)
    ir_graph_add_sym(one, g->syms[s].name, g->syms[s].def_value, g->syms[s].loc);
  int *ins = malloc(sizeof(int) * (size_t)n->ninputs);
  IR_ASSERT(ins);
  for (int j = 0; j < n->ninputs; j++) {
    const ir_value *c = &g->values[n->inputs[j]];
    ins[j] = ir_add_const(one, c->type, c->data, c->loc);
  }
  int m = ir_add_node(one, n->op, n->name, ins, n->ninputs, n->loc);
  free(ins);
  ir_copy_attrs(one, m, n);
  for (int j = 0; j < n->noutputs; j++) {
    int r = one->nodes[m].outputs[j];
    one->values[r].type = g->values[n->outputs[j]].type;
    ir_add_output(one, one->values[r].name, r);
  }

  int64_t syms[IR_MAX_SYMS] = {0};
  seqrt_tensor *outs = calloc((size_t)n->noutputs, sizeof *outs);
  IR_ASSERT(outs);
  seqrt_error err;
  bool ok = ir_eval(one, syms, NULL, no_param, NULL, outs, &err);
  ir_graph_free(one);
  for (int j = 0; j < n->noutputs; j++) {
    if (ok) {
      int v = g->nodes[i].outputs[j];
      int c = ir_add_const(g, g->values[v].type, outs[j].data, g->nodes[i].loc);
      take_over(g, v, c);
    }
    free(outs[j].data);
  }
  free(outs);
  return ok;
}

/* folds node i if every input is a constant and every result small */
static bool fold(ir_graph *g, int i) {
  const ir_node *n = &g->nodes[i];
  if (n->body || n->ninputs == 0) return false;
  for (int j = 0; j < n->ninputs; j++)
    if (g->values[n->inputs[j]].kind != IR_VAL_CONST) return false;
  bool view = ir_ops[n->op].traits & IR_T_VIEW;
  for (int j = 0; j < n->noutputs; j++) {
    int64_t numel = const_numel(&g->values[n->outputs[j]].type);
    /* a view copies nothing, so any size folds (plan_memory needs views of
     * constants gone) */
    if (numel < 0 || (!view && numel > FOLD_MAX_ELEMS)) return false;
  }
  if (view) {
    /* same elements in the result's shape */
    int v = n->outputs[0];
    int c = ir_add_const(g, g->values[v].type, g->values[n->inputs[0]].data, n->loc);
    take_over(g, v, c);
  } else if (!eval_node(g, i)) {
    return false;
  }
  g->nodes[i].dead = true;
  return true;
}

/* ---- common subexpressions ---- */

/* ADD and MUL give the same result with their inputs swapped */
static bool commutes(ir_op op) { return op == IR_OP_ADD || op == IR_OP_MUL; }

static uint64_t mix(uint64_t h, uint64_t x) {
  h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h;
}

/* hash of what makes two nodes the same: op and inputs (order-free if the op
 * commutes); equal nodes hash equal, attrs are left to same_node */
static uint64_t node_hash(const ir_node *n) {
  uint64_t h = mix(0, (uint64_t)n->op);
  h = mix(h, (uint64_t)n->ninputs);
  if (commutes(n->op) && n->ninputs == 2) {
    uint64_t a = (uint64_t)n->inputs[0], b = (uint64_t)n->inputs[1];
    return mix(mix(h, a < b ? a : b), a < b ? b : a);
  }
  for (int j = 0; j < n->ninputs; j++) h = mix(h, (uint64_t)n->inputs[j]);
  return h;
}

static bool same_attr(const ir_attr *a, const ir_attr *b) {
  if (a->kind != b->kind) return false;
  switch (a->kind) {
    case IR_ATTR_INT:
      return a->i == b->i;
    /* bitwise: NaN equals itself, 0.0 and -0.0 differ */
    case IR_ATTR_FLOAT:
      return memcmp(&a->f, &b->f, sizeof a->f) == 0;
    case IR_ATTR_STR:
      return a->s == b->s || (a->s && b->s && strcmp(a->s, b->s) == 0);
    case IR_ATTR_INTS:
      return a->nints == b->nints &&
             (a->nints == 0 || memcmp(a->ints, b->ints, sizeof(int64_t) * (size_t)a->nints) == 0);
  }
  return false;
}

static bool same_inputs(const ir_node *a, const ir_node *b) {
  if (a->ninputs != b->ninputs) return false;
  if (memcmp(a->inputs, b->inputs, sizeof(int) * (size_t)a->ninputs) == 0) return true;
  return commutes(a->op) && a->ninputs == 2 && a->inputs[0] == b->inputs[1] &&
         a->inputs[1] == b->inputs[0];
}

/* a and b compute the same results (the result types count: a RESHAPE's
 * target shape is its result type) */
static bool same_node(const ir_graph *g, const ir_node *a, const ir_node *b) {
  if (a->op != b->op || a->body || b->body || a->nattrs != b->nattrs ||
      a->noutputs != b->noutputs || !same_inputs(a, b))
    return false;
  for (int i = 0; i < a->nattrs; i++) {
    const ir_attr *other = ir_get_attr(b, a->attrs[i].key);
    if (!other || !same_attr(&a->attrs[i], other)) return false;
  }
  for (int j = 0; j < a->noutputs; j++) {
    const ir_type *ta = &g->values[a->outputs[j]].type, *tb = &g->values[b->outputs[j]].type;
    if (ta->rank < 0 || !ir_type_eq(ta, tb)) return false;
  }
  return true;
}

/* merges every node into an earlier equal one; open addressing on node_hash */
static bool cse(ir_graph *g) {
  size_t cap = 16;
  while (cap < (size_t)g->nnodes * 2) cap *= 2;
  int *slot = malloc(sizeof(int) * cap);
  IR_ASSERT(slot);
  for (size_t s = 0; s < cap; s++) slot[s] = -1;
  bool changed = false;
  for (int i = 0; i < g->nnodes; i++) {
    ir_node *n = &g->nodes[i];
    if (n->dead || n->body || (ir_ops[n->op].traits & IR_T_EFFECT)) continue;
    size_t s = node_hash(n) & (cap - 1);
    for (; slot[s] >= 0; s = (s + 1) & (cap - 1)) {
      const ir_node *first = &g->nodes[slot[s]];
      if (!same_node(g, first, n)) continue;
      for (int j = 0; j < n->noutputs; j++) ir_replace_uses(g, n->outputs[j], first->outputs[j]);
      n->dead = true;
      changed = true;
      break;
    }
    if (!n->dead) slot[s] = i;
  }
  free(slot);
  return changed;
}

/* ---- dead code ---- */

/* kills nodes none of whose results is used; in reverse order, so one sweep
 * also kills what only dead nodes used */
static bool dead_code(ir_graph *g) {
  int *uses = ir_use_counts(g);
  bool changed = false;
  for (int i = g->nnodes - 1; i >= 0; i--) {
    ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    bool used = ir_ops[n->op].traits & IR_T_EFFECT; /* a state write is its own use */
    for (int j = 0; j < n->noutputs; j++) used |= uses[n->outputs[j]] > 0;
    if (used) continue;
    n->dead = true;
    changed = true;
    for (int j = 0; j < n->ninputs; j++) uses[n->inputs[j]]--;
  }
  free(uses);
  return changed;
}

/* simplifies g and every body in it; true if anything changed */
static bool simplify(ir_graph *g) {
  bool changed = false;
  for (int i = 0; i < g->nnodes; i++) {
    ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    if (n->body && simplify(n->body)) changed = true;
    if (fold(g, i)) changed = true;
  }
  if (cse(g)) changed = true;
  if (dead_code(g)) changed = true;
  if (changed) ir_graph_compact(g);
  return changed;
}

bool pass_simplify(ir_graph *g, pass_ctx *ctx) {
  (void)ctx;
  return simplify(g);
}
