/*
 * dot.c: the IR as a Graphviz graph, for `seqc graph`.
 *
 *   digraph "mlp" {
 *     "in_x" [shape=ellipse, label="x\nf32[B, 16]"];
 *     "n0_3" [label="fc1\nmatmul\nf32[B, 32]", tooltip="reads fc1.weight"];
 *     "in_x" -> "n0_3";
 *     subgraph "cluster_n0_5" { label="x_gates\nfused"; ...the body's nodes... }
 *   }
 *
 * One box per node with its name, op and result types; a FUSED or SCAN node
 * is a cluster holding its body's nodes, and an edge into it goes to the
 * body nodes that read the corresponding body input, an edge out of it
 * leaves the body node that makes the corresponding body output, and a
 * dashed edge goes from a scan's next state to the readers of its state.
 * Parameters
 * and constants are not boxes: a node's tooltip (the hover text of an SVG)
 * names the parameters it reads. Inputs are ellipses, session state
 * cylinders, outputs plain text. The form is deterministic.
 */
#include <stdio.h>
#include <string.h>

#include "ir.h"

/* a graph being drawn: the top graph, or the body of node `owner` of `parent` */
typedef struct scope {
  const ir_graph *g;           /* the graph */
  char prefix[96];             /* node ids of this graph start with it */
  const struct scope *parent;  /* the enclosing scope, NULL at the top */
  const ir_node *owner;        /* the FUSED or SCAN node whose body g is */
} scope;

static bool is_cluster(const ir_node *n) { return n->body != NULL; }

/* s as the inside of a DOT string (quotes and backslashes escaped) */
static void put_escaped(FILE *out, const char *s) {
  for (; s && *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', out);
    fputc(*s, out);
  }
}

static void body_scope(const scope *s, int node, scope *b) {
  *b = (scope){.g = s->g->nodes[node].body, .parent = s, .owner = &s->g->nodes[node]};
  snprintf(b->prefix, sizeof b->prefix, "%.80s_%d", s->prefix, node); /* nests 7 deep */
}

/* the DOT id of what makes value v of scope s into buf; false for a param or const */
static bool source(const scope *s, int v, char *buf, size_t size) {
  const ir_value *val = &s->g->values[v];
  switch (val->kind) {
    case IR_VAL_PARAM:
    case IR_VAL_CONST: return false;
    case IR_VAL_STATE: snprintf(buf, size, "state_%d", v); return true;
    case IR_VAL_INPUT:
      if (!s->parent) {
        snprintf(buf, size, "in_%d", v);
        return true;
      }
      for (int k = 0; k < s->g->ninputs; k++) /* body input k: the owner's input k */
        if (s->g->inputs[k] == v) return source(s->parent, s->owner->inputs[k], buf, size);
      return false;
    case IR_VAL_NODE:
      break;
  }
  if (!is_cluster(&s->g->nodes[val->def])) {
    snprintf(buf, size, "%s_%d", s->prefix, val->def);
    return true;
  }
  scope b;
  body_scope(s, val->def, &b);
  if (val->def_output >= b.g->noutputs) return false;
  return source(&b, b.g->outputs[val->def_output].value, buf, size);
}

static void types_of(const ir_graph *g, const ir_node *n, FILE *out) {
  for (int k = 0; k < n->noutputs; k++) {
    char t[256];
    fputs("\\n", out);
    put_escaped(out, ir_dtype_name(g->values[n->outputs[k]].type.dtype));
    put_escaped(out, ir_type_str(g, &g->values[n->outputs[k]].type, t, sizeof t));
  }
}

/* the parameters node n reads, as a tooltip */
static void tooltip(const ir_graph *g, const ir_node *n, FILE *out) {
  int shown = 0;
  for (int k = 0; k < n->ninputs; k++) {
    const ir_value *v = &g->values[n->inputs[k]];
    if (v->kind != IR_VAL_PARAM) continue;
    fputs(shown++ ? ", " : ", tooltip=\"reads ", out);
    put_escaped(out, v->name);
  }
  if (shown) fputs("\"", out);
}

/* in a scan body (or a fused body in one), the value that becomes state input v
 * at the next step, in the scan body *at; else -1 */
static int next_state(const scope *s, int v, const scope **at) {
  if (!s->owner) return -1;
  if (s->owner->op != IR_OP_SCAN) { /* a fused body's input k: its node's input k */
    for (int k = 0; k < s->g->ninputs; k++)
      if (s->g->inputs[k] == v) return next_state(s->parent, s->owner->inputs[k], at);
    return -1;
  }
  *at = s;
  int64_t nover = ir_attr_int(s->owner, "nover"), nstate = ir_attr_int(s->owner, "nstate");
  int nemit = s->g->noutputs - (int)nstate;
  for (int k = (int)nover; k < nover + nstate && k < s->g->ninputs; k++)
    if (s->g->inputs[k] == v) return s->g->outputs[nemit + k - nover].value;
  return -1;
}

/* the edges into node i of s (its producers', one per producer), or into its body */
static void edges(const scope *s, int i, FILE *out) {
  const ir_node *n = &s->g->nodes[i];
  if (is_cluster(n)) {
    scope b;
    body_scope(s, i, &b);
    for (int j = 0; j < b.g->nnodes; j++)
      if (!b.g->nodes[j].dead) edges(&b, j, out);
    return;
  }
  for (int k = 0; k < n->ninputs; k++) {
    char from[128];
    bool dup = false;
    for (int j = 0; j < k; j++) dup |= n->inputs[j] == n->inputs[k];
    if (dup) continue;
    if (source(s, n->inputs[k], from, sizeof from))
      fprintf(out, "  \"%s\" -> \"%s_%d\";\n", from, s->prefix, i);
    const scope *body = NULL;
    int next = next_state(s, n->inputs[k], &body);
    if (next >= 0 && source(body, next, from, sizeof from))
      fprintf(out, "  \"%s\" -> \"%s_%d\" [style=dashed, constraint=false];\n", from,
              s->prefix, i);
  }
}

/* the nodes of s, bodies as clusters; no edges (an edge written inside a cluster
 * would pull the node at its other end into it) */
static void boxes(const scope *s, FILE *out, int depth) {
  for (int i = 0; i < s->g->nnodes; i++) {
    const ir_node *n = &s->g->nodes[i];
    if (n->dead) continue;
    if (is_cluster(n)) {
      scope b;
      body_scope(s, i, &b);
      fprintf(out, "%*ssubgraph \"cluster%s\" {\n%*slabel=\"", depth * 2, "", b.prefix,
              depth * 2 + 2, "");
      put_escaped(out, n->name);
      fprintf(out, "\\n%s\"; style=rounded;\n", ir_ops[n->op].name);
      boxes(&b, out, depth + 1);
      fprintf(out, "%*s}\n", depth * 2, "");
      continue;
    }
    fprintf(out, "%*s\"%s_%d\" [label=\"", depth * 2, "", s->prefix, i);
    put_escaped(out, n->name);
    fprintf(out, "\\n%s", ir_ops[n->op].name);
    types_of(s->g, n, out);
    fputs("\"", out);
    tooltip(s->g, n, out);
    fputs("];\n", out);
  }
}

void ir_print_dot(const ir_graph *g, FILE *out) {
  fputs("digraph \"", out);
  put_escaped(out, g->name ? g->name : "model");
  fputs("\" {\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n", out);
  for (int k = 0; k < g->ninputs; k++) {
    int v = g->inputs[k];
    char t[256];
    fprintf(out, "  \"in_%d\" [shape=ellipse, label=\"", v);
    put_escaped(out, g->values[v].name);
    fprintf(out, "\\n%s", ir_dtype_name(g->values[v].type.dtype));
    put_escaped(out, ir_type_str(g, &g->values[v].type, t, sizeof t));
    fputs("\"];\n", out);
  }
  for (int v = 0; v < g->nvalues; v++) {
    if (g->values[v].kind != IR_VAL_STATE) continue;
    fprintf(out, "  \"state_%d\" [shape=cylinder, label=\"", v);
    put_escaped(out, g->values[v].name);
    fputs("\"];\n", out);
  }
  scope top = {.g = g, .prefix = "n"};
  boxes(&top, out, 1);
  for (int i = 0; i < g->nnodes; i++)
    if (!g->nodes[i].dead) edges(&top, i, out);
  for (int k = 0; k < g->noutputs; k++) {
    char from[128];
    fprintf(out, "  \"out_%d\" [shape=plaintext, label=\"", k);
    put_escaped(out, g->outputs[k].name);
    fputs("\"];\n", out);
    if (source(&top, g->outputs[k].value, from, sizeof from))
      fprintf(out, "  \"%s\" -> \"out_%d\";\n", from, k);
  }
  fputs("}\n", out);
}
