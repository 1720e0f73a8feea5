/*
 * verify.c: the IR's structural invariants, checked before the pipeline and
 * after every pass that changed the graph (QBE's checker between passes).
 *
 * A failure is the compiler's bug, never the user's: it is printed as
 *   seqc: error: internal error: IR verifier after 'PASS': node N (NAME, OP): WHAT
 * (with "node K (NAME, fused): body: " in front for a node inside a body).
 * Each broken node is reported once (its first problem), so one bad pass does
 * not bury the message under consequences.
 */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

/* stop printing after this many failures */
enum { MAX_REPORTS = 20 };

typedef struct checker {
  const char *after; /* pass that ran last */
  FILE *out;         /* where failures go */
  int nfail;         /* failures found */
  char where[512];   /* prefix naming the enclosing FUSED nodes, "" at top level */
} checker;

static const char *op_name(ir_op op) { return op < IR_OP_COUNT ? ir_ops[op].name : "?op"; }

/* prints one failure; `node` < 0 for a graph-level one */
static void fail(checker *c, const ir_graph *g, int node, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(checker *c, const ir_graph *g, int node, const char *fmt, ...) {
  if (c->nfail++ >= MAX_REPORTS) return;
  fprintf(c->out, "seqc: error: internal error: IR verifier after '%s': %s",
          c->after ? c->after : "?", c->where);
  if (node >= 0) {
    const ir_node *n = &g->nodes[node];
    fprintf(c->out, "node %d (%s, %s): ", node, n->name ? n->name : "?", op_name(n->op));
  }
  va_list ap;
  va_start(ap, fmt);
  vfprintf(c->out, fmt, ap);
  va_end(ap);
  fputc('\n', c->out);
}

static const char *kind_name(ir_attr_kind k) {
  switch (k) {
  case IR_ATTR_INT: return "int";
  case IR_ATTR_FLOAT: return "float";
  case IR_ATTR_STR: return "string";
  case IR_ATTR_INTS: return "int list";
  }
  return "?";
}

/* NULL if type t is well formed for graph g, else what is wrong (static text) */
static const char *type_problem(const ir_graph *g, const ir_type *t) {
  if (t->rank < 0) return "has no inferred type";
  if (t->rank > IR_MAX_RANK) return "has a rank above IR_MAX_RANK";
  if (t->dtype != IR_F32 && t->dtype != IR_I32 && t->dtype != IR_I64) return "has a bad dtype";
  int nsyms = ir_syms_count(g);
  for (int i = 0; i < t->rank; i++) {
    if (t->dims[i].coef < 0) return "has a negative dim";
    for (int s = 0; s < IR_DIM_SYMS; s++)
      if (t->dims[i].sym[s] >= nsyms) return "has a dim naming an unknown symbol";
  }
  return NULL;
}

/* false (after reporting) when node n's attributes do not match ops.def */
static bool check_attrs(checker *c, const ir_graph *g, int node) {
  const ir_node *n = &g->nodes[node];
  ir_attr_spec specs[IR_MAX_OP_ATTRS];
  int nspecs = ir_attr_specs(n->op, specs);
  if (n->nattrs > 0 && !n->attrs) return fail(c, g, node, "attrs is NULL"), false;
  for (int i = 0; i < nspecs; i++) {
    const ir_attr *a = ir_get_attr(n, specs[i].key);
    if (!a) {
      if (specs[i].optional) continue;
      fail(c, g, node, "missing attribute '%s' (%s)", specs[i].key, kind_name(specs[i].kind));
      return false;
    }
    if (a->kind != specs[i].kind) {
      fail(c, g, node, "attribute '%s' is %s, expected %s", specs[i].key, kind_name(a->kind),
           kind_name(specs[i].kind));
      return false;
    }
    if (a->kind == IR_ATTR_INTS && (a->nints < 0 || (a->nints > 0 && !a->ints))) {
      fail(c, g, node, "attribute '%s' has a bad int list", specs[i].key);
      return false;
    }
  }
  for (int i = 0; i < n->nattrs; i++) {
    const char *key = n->attrs[i].key;
    bool known = false;
    for (int j = 0; j < nspecs && !known; j++) known = key && strcmp(key, specs[j].key) == 0;
    if (!known) {
      fail(c, g, node, "attribute '%s' is not in ops.def for %s", key ? key : "?",
           ir_ops[n->op].name);
      return false;
    }
  }
  return true;
}

/* true if attribute key (an int) is within [0, limit) or absent */
static bool int_attr_in(const ir_node *n, const char *key, int64_t limit) {
  const ir_attr *a = ir_get_attr(n, key);
  return !a || (a->kind == IR_ATTR_INT && a->i >= 0 && a->i < limit);
}

/*
 * What ops.def attrs mean for the input types: dims are already normalized
 * by the frontend and the interpreter and codegen index with them directly.
 */
static bool check_op_attrs(checker *c, const ir_graph *g, int node) {
  const ir_node *n = &g->nodes[node];
  int rank = g->values[n->inputs[0]].type.rank;
  switch (n->op) {
  case IR_OP_SOFTMAX:
  case IR_OP_MEAN:
  case IR_OP_ARGMAX:
  case IR_OP_SLICE:
  case IR_OP_SELECT:
  case IR_OP_CONCAT:
    if (!int_attr_in(n, "dim", rank)) {
      fail(c, g, node, "dim %lld outside [0, %d)", (long long)ir_attr_int(n, "dim"), rank);
      return false;
    }
    for (int k = 1; n->op == IR_OP_CONCAT && k < n->ninputs; k++) {
      const ir_type *t = &g->values[n->inputs[k]].type, *t0 = &g->values[n->inputs[0]].type;
      if (t->rank != t0->rank || t->dtype != t0->dtype) {
        fail(c, g, node, "input %d is %s of rank %d, input 0 %s of rank %d", k,
             ir_dtype_name(t->dtype), t->rank, ir_dtype_name(t0->dtype), t0->rank);
        return false;
      }
    }
    break;
  case IR_OP_RESHAPE: {
    /* symbolic products may need more than IR_DIM_SYMS symbols: compare when both fit */
    ir_dim a, b;
    const ir_type *from = &g->values[n->inputs[0]].type, *to = &g->values[n->outputs[0]].type;
    if (ir_type_numel(from, &a) && ir_type_numel(to, &b) && !ir_dim_eq(a, b)) {
      char x[64], y[64];
      fail(c, g, node, "reshape of %s elements into %s", ir_dim_str(g, a, x, sizeof x),
           ir_dim_str(g, b, y, sizeof y));
      return false;
    }
    break;
  }
  case IR_OP_TRANSPOSE: {
    const ir_attr *p = ir_get_attr(n, "perm");
    if (p->nints != rank) {
      fail(c, g, node, "perm has %d entries for an input of rank %d", p->nints, rank);
      return false;
    }
    bool seen[IR_MAX_RANK] = {false};
    for (int i = 0; i < p->nints; i++) {
      if (p->ints[i] < 0 || p->ints[i] >= rank || seen[p->ints[i]]) {
        fail(c, g, node, "perm is not a permutation of 0..%d", rank - 1);
        return false;
      }
      seen[p->ints[i]] = true;
    }
    break;
  }
  case IR_OP_ATTENTION: {
    /* the partials of a split decode step come with `splits`, in the top graph
     * only (the kernel waits for the whole team between its two halves) */
    const ir_attr *s = ir_get_attr(n, "splits");
    int want = s ? 2 : 1;
    if (n->noutputs != want || (s && (s->i < 2 || g->parent))) {
      fail(c, g, node, "%d results with splits %lld%s, expected %d", n->noutputs,
           s ? (long long)s->i : 0LL, g->parent ? " in a body" : "", want);
      return false;
    }
    /* q, k, v, then either the caches kc, vc or (key_padding 1) the padding mask,
     * then (pos_bias) the position bias table */
    const ir_attr *kp = ir_get_attr(n, "key_padding"), *pb = ir_get_attr(n, "pos_bias");
    bool padded = kp && kp->i;
    int table = pb != NULL, rest = n->ninputs - table;
    bool fits = padded ? rest == 4 : rest == 3 || rest == 5;
    if (!int_attr_in(n, "key_padding", 2) || !fits) {
      fail(c, g, node, "%d inputs with key_padding %d%s, expected %s%s", n->ninputs, (int)padded,
           table ? " and pos_bias" : "",
           padded ? "4 (q, k, v, mask)" : "3 or 5 (q, k, v[, kc, vc])",
           table ? " and the table" : "");
      return false;
    }
    if (pb && (pb->kind != IR_ATTR_INT || pb->i < 0)) {
      fail(c, g, node, "pos_bias %lld, expected >= 0", (long long)pb->i);
      return false;
    }
    break;
  }
  case IR_OP_STATE_READ:
  case IR_OP_STATE_WRITE:
  case IR_OP_CACHE_WRITE: {
    /* the state of the top graph, read and written whole (a cache by rows) */
    const ir_value *st = &g->values[n->inputs[0]];
    if (g->parent || st->kind != IR_VAL_STATE) {
      fail(c, g, node, "input 0 is not a STATE value of the top graph");
      return false;
    }
    if (n->op == IR_OP_CACHE_WRITE) break; /* infer checks its rows */
    if (!ir_type_eq(&st->type, &g->values[n->inputs[1]].type)) {
      fail(c, g, node, "input 1 does not have the state's type");
      return false;
    }
    break;
  }
#define ELEM(id, formula) case IR_OP_##id:
#include "ops.def"
  case IR_OP_MATMUL:
  case IR_OP_LAYER_NORM:
  case IR_OP_RMS_NORM:
  case IR_OP_EMBEDDING:
  case IR_OP_POSITIONAL_ENCODING:
  case IR_OP_POSITIONS:
  case IR_OP_CONV1D:
  case IR_OP_REL_ATTENTION:
  case IR_OP_SLOT_ATTENTION:
  case IR_OP_FILL:
  case IR_OP_SCAN:
#define LAYER(id) case IR_OP_##id:
#include "ops.def"
  case IR_OP_FUSED:
  case IR_OP_COUNT: break; /* nothing beyond ops.def's attrs (the flags below) */
  }
  const char *flags[] = {"trans_b", "keepdim", "tanh"};
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
    if (!int_attr_in(n, flags[i], 2)) {
      fail(c, g, node, "attribute '%s' is not 0 or 1", flags[i]);
      return false;
    }
  return true;
}

/* the schedule's marks where they mean something: ports on scans (all of
 * them, once the graph is scheduled), pointers on slices, one wait a body */
static bool check_sched(checker *c, const ir_graph *g, int node) {
  const ir_node *n = &g->nodes[node];
  const ir_graph *top = g;
  while (top->parent) top = top->parent;
  if (n->sched.ports && n->op != IR_OP_SCAN) return fail(c, g, node, "ports on a non-scan"), false;
  if (n->op == IR_OP_SCAN && !n->dead && top->sched_width && !n->sched.ports)
    return fail(c, g, node, "a scheduled graph's scan without ports"), false;
  if (n->sched.view && n->op != IR_OP_SLICE) return fail(c, g, node, "view on a non-slice"), false;
  if (n->sched.unit < 0) return fail(c, g, node, "unit %lld", (long long)n->sched.unit), false;
  if (n->op == IR_OP_SCAN && n->sched.wait) {
    int waits = 0;
    for (int k = 0; k < n->body->nnodes; k++) /* a scan in the body: its own steps */
      waits += n->body->nodes[k].sched.wait && n->body->nodes[k].op != IR_OP_SCAN;
    if (waits != 1) return fail(c, g, node, "a split step with %d waits", waits), false;
  }
  return true;
}

static bool verify_graph(checker *c, const ir_graph *g);

/* verifies body b of node `node`, its messages prefixed with where it sits */
static bool verify_body(checker *c, const ir_graph *b, int node, const char *name,
                        const char *kind) {
  size_t len = strlen(c->where);
  snprintf(c->where + len, sizeof c->where - len, "node %d (%s, %s): body: ", node,
           name ? name : "?", kind);
  bool ok = verify_graph(c, b);
  c->where[len] = '\0';
  return ok;
}

/* the FUSED node's body: shape of its interface, then the body itself */
static bool check_body(checker *c, const ir_graph *g, int node) {
  const ir_node *n = &g->nodes[node];
  const ir_graph *b = n->body;
  if (!b) return fail(c, g, node, "has no body"), false;
  if (b->parent != g) return fail(c, g, node, "body's parent is not this graph"), false;
  if (b->ninputs != n->ninputs) {
    fail(c, g, node, "body has %d inputs for %d node inputs", b->ninputs, n->ninputs);
    return false;
  }
  if (b->noutputs != 1) {
    fail(c, g, node, "body has %d outputs, expected 1", b->noutputs);
    return false;
  }
  for (int i = 0; i < b->ninputs; i++) {
    int v = b->inputs[i];
    if (v < 0 || v >= b->nvalues || b->values[v].kind != IR_VAL_INPUT) {
      fail(c, g, node, "body input %d (%%%d) is not an input value", i, v);
      return false;
    }
    if (!ir_type_eq(&b->values[v].type, &g->values[n->inputs[i]].type)) {
      fail(c, g, node, "body input %d has another type than node input %d", i, i);
      return false;
    }
  }
  int bo = b->outputs[0].value;
  if (bo >= 0 && bo < b->nvalues &&
      !ir_type_eq(&b->values[bo].type, &g->values[n->outputs[0]].type)) {
    fail(c, g, node, "body output has another type than the node's result");
    return false;
  }
  return verify_body(c, b, node, n->name, "fused");
}

/*
 * A SCAN: its attrs against its inputs, the body's interface (over inputs one
 * step or segment of the node's, states and captures as given, next states
 * as the states, emits one step of the results), no params inside the body
 * (they are captures), then the body itself.
 */
/* pair=1: the next live node is a scan of the same steps not reading this one */
static bool check_pair(checker *c, const ir_graph *g, int node) {
  const ir_node *n = &g->nodes[node];
  int m = node + 1;
  while (m < g->nnodes && g->nodes[m].dead) m++;
  if (m >= g->nnodes || g->nodes[m].op != IR_OP_SCAN)
    return fail(c, g, node, "pair=1 but the next node is not a scan"), false;
  const ir_node *p = &g->nodes[m];
  const ir_type *a = &g->values[n->inputs[0]].type, *b = &g->values[p->inputs[0]].type;
  if (ir_attr_int(p, "nover") < 1 || a->rank < 2 || b->rank < 2 ||
      !ir_dim_eq(a->dims[1], b->dims[1]) || ir_attr_int(p, "chunk") != ir_attr_int(n, "chunk"))
    return fail(c, g, node, "pair=1 but scan node %d runs other steps", m), false;
  for (int j = 0; j < p->ninputs; j++) {
    const ir_value *v = &g->values[p->inputs[j]];
    if (v->kind == IR_VAL_NODE && v->def == node)
      return fail(c, g, node, "pair=1 but scan node %d reads its result", m), false;
  }
  return true;
}

static bool check_scan(checker *c, const ir_graph *g, int node) {
  const ir_node *n = &g->nodes[node];
  const ir_graph *b = n->body;
  int64_t nover = ir_attr_int(n, "nover"), nstate = ir_attr_int(n, "nstate");
  int64_t chunk = ir_attr_int(n, "chunk"), rev = ir_attr_int(n, "reverse");
  if (nover < 1 || nstate < 0 || nover + nstate > n->ninputs || chunk < 1 || rev < 0 || rev > 1) {
    fail(c, g, node, "nover %lld, nstate %lld, chunk %lld, reverse %lld do not fit %d inputs",
         (long long)nover, (long long)nstate, (long long)chunk, (long long)rev, n->ninputs);
    return false;
  }
  const ir_attr *pair = ir_get_attr(n, "pair");
  if (pair && pair->i && !check_pair(c, g, node)) return false;
  const ir_attr *len = ir_get_attr(n, "lengths");
  if (len && len->i) { /* the first capture: an integer [B], the batch of over input 0 */
    const ir_type *lt =
        nover + nstate < n->ninputs ? &g->values[n->inputs[nover + nstate]].type : NULL;
    const ir_type *x = &g->values[n->inputs[0]].type;
    if (len->i != 1 || chunk != 1 || !lt || (lt->dtype != IR_I32 && lt->dtype != IR_I64) ||
        lt->rank != 1 || x->rank < 1 || !ir_dim_eq(lt->dims[0], x->dims[0]))
      return fail(c, g, node, "lengths=%lld but input %lld is no integer [B] (or chunk > 1)",
                  (long long)len->i, (long long)(nover + nstate)),
             false;
  }
  if (!b) return fail(c, g, node, "has no body"), false;
  if (b->parent != g) return fail(c, g, node, "body's parent is not this graph"), false;
  if (b->ninputs != n->ninputs || b->noutputs != n->noutputs || b->noutputs < nstate) {
    fail(c, g, node, "body has %d inputs and %d outputs for %d node inputs and %d results",
         b->ninputs, b->noutputs, n->ninputs, n->noutputs);
    return false;
  }
  for (int v = 0; v < b->nvalues; v++)
    if (b->values[v].kind == IR_VAL_PARAM) {
      fail(c, g, node, "body holds param %%%d (%s): params enter a body as captures", v,
           b->values[v].name ? b->values[v].name : "?");
      return false;
    }
  for (int i = 0; i < b->ninputs; i++) {
    int v = b->inputs[i];
    if (v < 0 || v >= b->nvalues || b->values[v].kind != IR_VAL_INPUT) {
      fail(c, g, node, "body input %d (%%%d) is not an input value", i, v);
      return false;
    }
    ir_type want = g->values[n->inputs[i]].type;
    if (i < nover) {
      if (want.rank < 2) return fail(c, g, node, "over input %d has rank %d", i, want.rank), false;
      if (chunk > 1) {
        want.dims[1] = ir_dim_const(chunk);
      } else {
        memmove(&want.dims[1], &want.dims[2], sizeof(ir_dim) * (size_t)(want.rank - 2));
        want.rank--;
      }
    }
    if (!ir_type_eq(&b->values[v].type, &want)) {
      fail(c, g, node, "body input %d has another type than one step of node input %d", i, i);
      return false;
    }
  }
  int nemit = b->noutputs - (int)nstate;
  for (int k = 0; k < b->noutputs; k++) {
    int bo = b->outputs[k].value;
    if (bo < 0 || bo >= b->nvalues) continue; /* verify_graph(b) reports it */
    const ir_type *e = &b->values[bo].type, *r = &g->values[n->outputs[k]].type;
    if (k >= nemit) {
      const ir_type *st = &g->values[n->inputs[nover + k - nemit]].type;
      if (!ir_type_eq(e, st) || !ir_type_eq(r, st)) {
        fail(c, g, node, "state %d: next value, initial value and result differ in type",
             k - nemit);
        return false;
      }
    } else if (e->rank >= 0 && r->rank >= 0 &&
               (e->dtype != r->dtype || (r->rank != e->rank + 1 && r->rank != e->rank) ||
                !ir_dim_eq(e->dims[0], r->dims[0]))) {
      fail(c, g, node, "emit %d is not one step of result %d", k, k);
      return false;
    }
  }
  return verify_body(c, b, node, n->name, "scan");
}

/* why value v may not be read here (defined[v] is false); names the culprit */
static void report_undefined(checker *c, const ir_graph *g, int node, int k, int v) {
  const ir_value *val = &g->values[v];
  if (val->kind == IR_VAL_INPUT) {
    fail(c, g, node, "input %d reads %%%d, an input missing from the graph's input list", k, v);
    return;
  }
  /* find the node that lists v among its results, if any */
  for (int j = 0; j < g->nnodes; j++)
    for (int o = 0; o < g->nodes[j].noutputs; o++)
      if (g->nodes[j].outputs && g->nodes[j].outputs[o] == v) {
        if (g->nodes[j].dead)
          fail(c, g, node, "input %d reads %%%d, the result of dead node %d (%s)", k, v, j,
               g->nodes[j].name ? g->nodes[j].name : "?");
        else
          fail(c, g, node, "input %d reads %%%d before its definition by node %d (%s)", k, v, j,
               g->nodes[j].name ? g->nodes[j].name : "?");
        return;
      }
  fail(c, g, node, "input %d reads %%%d, which no node defines", k, v);
}

/* checks node `i` and marks its results defined; false on the first problem */
static bool check_node(checker *c, const ir_graph *g, int i, bool *defined) {
  const ir_node *n = &g->nodes[i];
  if (n->op >= IR_OP_COUNT) return fail(c, g, i, "invalid op %d", (int)n->op), false;
  const ir_op_info *info = &ir_ops[n->op];
  if (n->ninputs < info->min_inputs || (info->max_inputs >= 0 && n->ninputs > info->max_inputs)) {
    if (info->max_inputs < 0)
      fail(c, g, i, "%d inputs, expected at least %d", n->ninputs, info->min_inputs);
    else if (info->min_inputs == info->max_inputs)
      fail(c, g, i, "%d inputs, expected %d", n->ninputs, info->min_inputs);
    else
      fail(c, g, i, "%d inputs, expected %d to %d", n->ninputs, info->min_inputs,
           info->max_inputs);
    return false;
  }
  if (info->outputs >= 0 && n->noutputs != info->outputs) {
    fail(c, g, i, "%d results, expected %d", n->noutputs, info->outputs);
    return false;
  }
  if ((n->ninputs > 0 && !n->inputs) || (n->noutputs > 0 && !n->outputs))
    return fail(c, g, i, "inputs or outputs array is NULL"), false;
  for (int k = 0; k < n->ninputs; k++) {
    int v = n->inputs[k];
    if (v < 0 || v >= g->nvalues)
      return fail(c, g, i, "input %d is %%%d, not a value", k, v), false;
    if (!defined[v]) return report_undefined(c, g, i, k, v), false;
    const char *why = type_problem(g, &g->values[v].type);
    if (why) return fail(c, g, i, "input %d (%%%d) %s", k, v, why), false;
  }
  for (int k = 0; k < n->noutputs; k++) {
    int v = n->outputs[k];
    if (v < 0 || v >= g->nvalues)
      return fail(c, g, i, "result %d is %%%d, not a value", k, v), false;
    const ir_value *val = &g->values[v];
    if (val->kind != IR_VAL_NODE) return fail(c, g, i, "result %%%d is not a node value", v), false;
    if (defined[v]) return fail(c, g, i, "result %%%d is defined twice", v), false;
    if (val->def != i || val->def_output != k) {
      fail(c, g, i, "result %%%d says it is result %d of node %d", v, val->def_output, val->def);
      return false;
    }
    const char *why = type_problem(g, &val->type);
    if (why) return fail(c, g, i, "result %%%d %s", v, why), false;
  }
  if (!check_attrs(c, g, i) || !check_op_attrs(c, g, i) || !check_sched(c, g, i)) return false;
  if (n->op == IR_OP_FUSED) {
    if (!check_body(c, g, i)) return false;
  } else if (n->op == IR_OP_SCAN) {
    if (!check_scan(c, g, i)) return false;
  } else if (n->body) {
    return fail(c, g, i, "has a body but is not fused"), false;
  }
  for (int k = 0; k < n->noutputs; k++) defined[n->outputs[k]] = true;
  return true;
}

/* values, inputs, nodes in order, outputs, buffers */
static bool verify_graph(checker *c, const ir_graph *g) {
  int before = c->nfail;
  bool *defined = calloc((size_t)(g->nvalues > 0 ? g->nvalues : 1), sizeof(bool));
  IR_ASSERT(defined);
  for (int v = 0; v < g->nvalues; v++) {
    const ir_value *val = &g->values[v];
    switch (val->kind) {
    case IR_VAL_INPUT: break; /* defined by being listed in g->inputs */
    case IR_VAL_STATE:
      if (g->parent) fail(c, g, -1, "value %%%d is a STATE value in a body", v);
      /* fall through */
    case IR_VAL_PARAM:
    case IR_VAL_CONST:
      if (val->def != -1)
        fail(c, g, -1, "value %%%d is not a node result but has def %d", v, val->def);
      if (val->kind == IR_VAL_CONST) {
        bool sized = val->type.rank >= 0;
        for (int d = 0; d < val->type.rank && sized; d++)
          sized = ir_dim_is_const(val->type.dims[d]);
        if (!val->data || !sized) fail(c, g, -1, "const %%%d has no data or a symbolic shape", v);
      }
      defined[v] = true;
      break;
    case IR_VAL_NODE: {
      /* a stale def (dead node) is harmless until the value is read */
      int d = val->def;
      if (d >= g->nnodes || (d >= 0 && !g->nodes[d].dead &&
                             (val->def_output < 0 || val->def_output >= g->nodes[d].noutputs ||
                              g->nodes[d].outputs[val->def_output] != v)))
        fail(c, g, -1, "value %%%d says it is result %d of node %d, which does not list it", v,
             val->def_output, d);
      break;
    }
    default: fail(c, g, -1, "value %%%d has a bad kind %d", v, (int)val->kind);
    }
  }
  for (int i = 0; i < g->ninputs; i++) {
    int v = g->inputs[i];
    if (v < 0 || v >= g->nvalues || g->values[v].kind != IR_VAL_INPUT) {
      fail(c, g, -1, "graph input %d is %%%d, not an input value", i, v);
      continue;
    }
    if (defined[v]) fail(c, g, -1, "graph input %%%d is listed twice", v);
    defined[v] = true;
  }
  for (int v = 0; v < g->nvalues; v++) {
    const char *why = g->values[v].kind != IR_VAL_NODE && defined[v]
                          ? type_problem(g, &g->values[v].type)
                          : NULL;
    if (why)
      fail(c, g, -1, "value %%%d (%s) %s", v, g->values[v].name ? g->values[v].name : "", why);
  }
  /* the state writes are the graph's last nodes: codegen runs them only when
   * nothing before them failed, so that a failed run leaves the state as it was */
  bool writes = false;
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    bool effect = n->op < IR_OP_COUNT && (ir_ops[n->op].traits & IR_T_EFFECT); /* else below */
    if (writes && !effect)
      fail(c, g, i, "comes after a state write (state writes must be the last nodes)");
    writes |= effect;
  }
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead || check_node(c, g, i, defined) || !n->outputs) continue;
    /* reported already: its readers should not fail in its place */
    for (int k = 0; k < n->noutputs; k++)
      if (n->outputs[k] >= 0 && n->outputs[k] < g->nvalues) defined[n->outputs[k]] = true;
  }
  for (int i = 0; i < g->noutputs; i++) {
    const ir_output *o = &g->outputs[i];
    const char *name = o->name ? o->name : "?";
    if (o->value < 0 || o->value >= g->nvalues)
      fail(c, g, -1, "output '%s' is %%%d, not a value", name, o->value);
    else if (!defined[o->value])
      fail(c, g, -1, "output '%s' is %%%d, which no live node defines", name, o->value);
    else if (type_problem(g, &g->values[o->value].type))
      fail(c, g, -1, "output '%s' (%%%d) %s", name, o->value,
           type_problem(g, &g->values[o->value].type));
  }
  if (g->nbuffers > 0) {
    if (!g->buffers) fail(c, g, -1, "nbuffers is %d but buffers is NULL", g->nbuffers);
    for (int v = 0; v < g->nvalues; v++) {
      int b = g->values[v].buffer;
      if (b < -1 || b >= g->nbuffers)
        fail(c, g, -1, "value %%%d has buffer %d, outside [-1, %d)", v, b, g->nbuffers);
    }
    for (int b = 0; b < g->nbuffers && g->buffers; b++) {
      const ir_buffer *buf = &g->buffers[b];
      int nv = buf->graph ? buf->graph->nvalues : g->nvalues; /* scan body buffers */
      if (buf->value < 0 || buf->value >= nv)
        fail(c, g, -1, "buffer %d holds %%%d, not a value", b, buf->value);
      if (buf->role == SEQRT_ROLE_ALIAS && (buf->alias < 0 || buf->alias >= g->nbuffers))
        fail(c, g, -1, "alias buffer %d views buffer %d, not a buffer", b, buf->alias);
    }
  }
  free(defined);
  return c->nfail == before;
}

/* derived symbols: well-formed definitions over earlier symbols only */
static void verify_derived(checker *c, const ir_graph *g) {
  if (g->parent) return; /* bodies share the root's table */
  if (g->nsyms < 0 || g->nderived < 0 || g->nsyms + g->nderived > IR_MAX_SYMS)
    fail(c, g, -1, "symbol table has %d base and %d derived symbols", g->nsyms, g->nderived);
  for (int i = g->nsyms; i < g->nsyms + g->nderived && i < IR_MAX_SYMS; i++) {
    const ir_symbol *d = &g->syms[i];
    if (d->nterms < 1 || d->nterms > IR_SYM_TERMS || d->den < 1)
      fail(c, g, -1, "derived symbol %d (%s) has %d terms over %lld", i, d->name, d->nterms,
           (long long)d->den);
    for (int k = 0; k < d->nterms && k < IR_SYM_TERMS; k++)
      for (int j = 0; j < IR_DIM_SYMS; j++)
        if (d->terms[k].sym[j] >= i)
          fail(c, g, -1, "derived symbol %d (%s) reads symbol %d, not an earlier one", i,
               d->name, d->terms[k].sym[j]);
  }
}

bool ir_verify(const ir_graph *g, const char *after, FILE *out) {
  checker c = {.after = after, .out = out ? out : stderr, .nfail = 0, .where = ""};
  verify_derived(&c, g);
  bool ok = verify_graph(&c, g) && c.nfail == 0;
  if (c.nfail > MAX_REPORTS)
    fprintf(c.out, "seqc: error: internal error: IR verifier after '%s': %d more problems\n",
            after ? after : "?", c.nfail - MAX_REPORTS);
  return ok;
}
