/*
 * fuse.c: elementwise chains and matmul epilogues into FUSED nodes, so that
 * intermediate values stay in registers instead of going through memory.
 *
 * (a) Epilogue: a MATMUL whose result has one use, by an elementwise node of
 *     the same result type, takes that node and then each further elementwise
 *     node while the chained value has one use and the type stays the same
 *     (other operands may broadcast: a bias [N]). Inputs 0 and 1 of the fused
 *     node are always the matmul's two operands, even when they are the same
 *     value, so codegen finds the GEMM operands in place.
 * (b) Chains: a maximal group of two or more elementwise nodes of one result
 *     type, in which every value produced inside has all its uses inside (a
 *     value read twice, as a GRU's n in n + z * (h - n), is computed once and
 *     stays in a register). A lone elementwise node stays as it is.
 *
 * Nodes that read only params and consts (transitively) run once at session
 * start and are never fused. A graph output is never absorbed, except as the
 * group's final result: a value used inside the group and as an output has two
 * uses, so the use counts keep it out.
 *
 * The fused node stands where the group's final node stood (every external
 * operand is defined before the node that reads it, hence before the final
 * one), takes its name and position, and its result takes over the final
 * value's uses and name. Its inputs are the external operands in first-use
 * order; its body holds the members in order, with the same names and types.
 */
#include <stdlib.h>

#include "passes.h"

/* the state of one run of the pass */
typedef struct fuser {
  ir_graph *g;  /* the graph being fused */
  bool *prep;   /* by value id, below nprep: computed from params/consts only */
  int nprep;    /* length of prep (values added later are run-time results) */
  int *uses;    /* by value id: live uses (nodes and outputs), recomputed per group */
  int *members; /* node indices of the group being built, in topological order */
  int nmembers; /* length of members */
  int *ext;     /* external operands of the group, in first-use order */
  int next;     /* length of ext */
} fuser;

static bool is_elementwise(ir_op op) {
  return (ir_ops[op].traits & IR_T_ELEMWISE) && op != IR_OP_COPY;
}

/* marks values that need only params and consts, as plan_memory will */
static void mark_prepare(fuser *f) {
  const ir_graph *g = f->g;
  for (int v = 0; v < g->nvalues; v++)
    f->prep[v] = g->values[v].kind == IR_VAL_PARAM || g->values[v].kind == IR_VAL_CONST;
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    bool prep = n->ninputs > 0;
    for (int j = 0; j < n->ninputs && prep; j++) prep = f->prep[n->inputs[j]];
    for (int j = 0; j < n->noutputs; j++) f->prep[n->outputs[j]] = prep;
  }
}

/* node i runs at session start */
static bool node_prep(const fuser *f, int i) {
  int v = f->g->nodes[i].outputs[0];
  return v < f->nprep && f->prep[v];
}

/* node i may join a group: live, elementwise, run-time, one result */
static bool fusible(const fuser *f, int i) {
  const ir_node *n = &f->g->nodes[i];
  return !n->dead && is_elementwise(n->op) && n->noutputs == 1 && !n->body && !node_prep(f, i);
}

/* the live node reading v, when v has exactly one use and that use is a node */
static int sole_user(const fuser *f, int v) {
  if (f->uses[v] != 1) return -1;
  const ir_graph *g = f->g;
  /* readers come after the definition (def is kept current by insertions) */
  int i = g->values[v].kind == IR_VAL_NODE ? g->values[v].def + 1 : 0, j = -1;
  return ir_next_use(g, v, &i, &j) ? i : -1; /* -1: the use is a graph output */
}

static void recount(fuser *f) {
  free(f->uses);
  f->uses = ir_use_counts(f->g);
}

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

/* true if value v is a result of a group member */
static bool made_inside(const fuser *f, int v) {
  const ir_value *val = &f->g->values[v];
  if (val->kind != IR_VAL_NODE) return false;
  for (int k = 0; k < f->nmembers; k++)
    if (f->members[k] == val->def) return true;
  return false;
}

static void add_ext(fuser *f, int v, bool dedup) {
  if (dedup)
    for (int k = 0; k < f->next; k++)
      if (f->ext[k] == v) return;
  f->ext[f->next++] = v;
}

/*
 * Replaces the members (sorted, at least two) by one FUSED node placed after
 * the last member. A leading MATMUL keeps its operands as inputs 0 and 1.
 */
static void build_fused(fuser *f) {
  ir_graph *g = f->g;
  qsort(f->members, (size_t)f->nmembers, sizeof(int), cmp_int);

  f->next = 0;
  for (int k = 0; k < f->nmembers; k++) {
    const ir_node *n = &g->nodes[f->members[k]];
    bool gemm = k == 0 && n->op == IR_OP_MATMUL;
    for (int j = 0; j < n->ninputs; j++)
      if (!made_inside(f, n->inputs[j])) add_ext(f, n->inputs[j], !gemm);
  }

  /* the body: external operands as inputs, members in order */
  int last = f->members[f->nmembers - 1];
  ir_graph *body = ir_graph_new(g->nodes[last].name);
  body->parent = g;
  int *map = malloc(sizeof(int) * (size_t)g->nvalues); /* outer value -> body value */
  IR_ASSERT(map);
  for (int k = 0; k < f->next; k++) {
    const ir_value *v = &g->values[f->ext[k]];
    map[f->ext[k]] = ir_add_input(body, v->name, v->type, v->loc);
  }
  int *ins = NULL;
  for (int k = 0; k < f->nmembers; k++) {
    const ir_node *n = &g->nodes[f->members[k]];
    ins = realloc(ins, sizeof(int) * (size_t)n->ninputs);
    IR_ASSERT(ins);
    for (int j = 0; j < n->ninputs; j++) ins[j] = map[n->inputs[j]];
    int b = ir_add_node(body, n->op, n->name, ins, n->ninputs, n->loc);
    ir_copy_attrs(body, b, n);
    int out = n->outputs[0], bout = body->nodes[b].outputs[0];
    body->values[bout].type = g->values[out].type;
    body->values[bout].name = ir_strdup(body, g->values[out].name);
    map[out] = bout;
  }
  int final = g->nodes[last].outputs[0];
  ir_add_output(body, g->values[final].name, map[final]);
  free(ins);
  free(map);

  for (int k = 0; k < f->nmembers; k++) g->nodes[f->members[k]].dead = true;
  const ir_node *fin = &g->nodes[last];
  int fn = ir_insert_node(g, last + 1, IR_OP_FUSED, fin->name, f->ext, f->next, fin->loc);
  g->nodes[fn].body = body;
  int res = g->nodes[fn].outputs[0];
  g->values[res].type = g->values[final].type;
  g->values[res].name = g->values[final].name;
  ir_replace_uses(g, final, res);
  recount(f);
}

/* (a): the epilogue chain of the MATMUL at node i; true if it fused */
static bool fuse_epilogue(fuser *f, int i) {
  ir_graph *g = f->g;
  const ir_node *mm = &g->nodes[i];
  if (mm->dead || mm->op != IR_OP_MATMUL || node_prep(f, i)) return false;
  const ir_type *t = &g->values[mm->outputs[0]].type;
  f->nmembers = 0;
  f->members[f->nmembers++] = i;
  int v = mm->outputs[0];
  for (int u; (u = sole_user(f, v)) >= 0; v = g->nodes[u].outputs[0]) {
    if (!fusible(f, u) || !ir_type_eq(&g->values[g->nodes[u].outputs[0]].type, t)) break;
    f->members[f->nmembers++] = u;
  }
  if (f->nmembers < 2) return false;
  build_fused(f);
  return true;
}

/* true if node i is in the group */
static bool is_member(const fuser *f, int i) {
  for (int k = 0; k < f->nmembers; k++)
    if (f->members[k] == i) return true;
  return false;
}

/* reads of value v by the group's members */
static int uses_inside(const fuser *f, int v) {
  int n = 0;
  for (int k = 0; k < f->nmembers; k++) {
    const ir_node *m = &f->g->nodes[f->members[k]];
    for (int j = 0; j < m->ninputs; j++) n += m->inputs[j] == v;
  }
  return n;
}

/* (b): the group of elementwise nodes whose final node is i; true if it fused */
static bool fuse_chain(fuser *f, int i) {
  ir_graph *g = f->g;
  if (!fusible(f, i)) return false;
  const ir_type *t = &g->values[g->nodes[i].outputs[0]].type;
  f->nmembers = 0;
  f->members[f->nmembers++] = i;
  /* a producer joins once every read of its result is a member's; each
   * joining can complete another's reads, so sweep until none joins */
  for (bool grew = true; grew;) {
    grew = false;
    for (int k = 0; k < f->nmembers; k++) {
      const ir_node *n = &g->nodes[f->members[k]];
      for (int j = 0; j < n->ninputs; j++) {
        int v = n->inputs[j];
        const ir_value *val = &g->values[v];
        if (val->kind != IR_VAL_NODE || is_member(f, val->def)) continue;
        if (!fusible(f, val->def) || !ir_type_eq(&val->type, t)) continue;
        if (uses_inside(f, v) != f->uses[v]) continue;
        f->members[f->nmembers++] = val->def;
        grew = true;
      }
    }
  }
  if (f->nmembers < 2) return false;
  build_fused(f);
  return true;
}

bool pass_fuse(ir_graph *g, pass_ctx *ctx) {
  bool body_changed = false; /* scan bodies are fused as graphs of their own */
  for (int i = 0; i < g->nnodes; i++)
    if (!g->nodes[i].dead && g->nodes[i].op == IR_OP_SCAN)
      body_changed |= pass_fuse(g->nodes[i].body, ctx);
  fuser f = {.g = g, .nprep = g->nvalues};
  f.prep = malloc(sizeof(bool) * (size_t)(g->nvalues ? g->nvalues : 1));
  f.members = malloc(sizeof(int) * (size_t)(g->nnodes ? g->nnodes : 1));
  f.ext = malloc(sizeof(int) * (size_t)(2 * g->nnodes + 2)); /* members have <= 2 inputs */
  IR_ASSERT(f.prep && f.members && f.ext);
  mark_prepare(&f);
  recount(&f);

  bool changed = false;
  /* epilogues first, so a matmul's consumers go with it rather than into a
   * chain of their own; a fused node goes after the members, which are all
   * after i, so indices up to i stay put */
  for (int i = 0; i < g->nnodes; i++)
    if (fuse_epilogue(&f, i)) changed = true;
  /* chains from their final node backwards, so each tree is found whole */
  for (int i = g->nnodes - 1; i >= 0; i--)
    if (fuse_chain(&f, i)) changed = true;

  free(f.prep);
  free(f.members);
  free(f.ext);
  free(f.uses);
  if (changed) ir_graph_compact(g);
  return changed || body_changed;
}
