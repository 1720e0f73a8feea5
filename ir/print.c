/*
 * print.c: the IR as text, for `seqc ir`, --print-after and test failures.
 *
 * The form is deterministic (same graph, same bytes) so tests can compare it:
 *
 *   graph mlp (B = 1, T = 128)
 *     input  %0 x : f32[B, 16]
 *     param  %1 fc1.weight : f32[32, 16]
 *     %2 = transpose %1 {perm=[1, 0]} : f32[16, 32]   ; fc1 @7:10  [prepare]
 *     %3 = matmul %0, %2 {trans_b=0} : f32[B, 32]     ; fc1 @7:10
 *     output y = %3
 *
 * A FUSED or SCAN node's body follows it, indented one more level, with its
 * own value ids; a SCAN body's `output` lines name its emits, then its next
 * states. Once plan_memory has run, every value that has a buffer shows it.
 */
#include <inttypes.h>
#include <string.h>

#include "ir.h"

/* column where the `; name @line:col` comment of a node line starts */
enum { COMMENT_COL = 50 };
/* const elements shown before "..." */
enum { CONST_SHOWN = 8 };

static const ir_graph *root_of(const ir_graph *g) {
  while (g && g->parent) g = g->parent;
  return g;
}

const char *ir_dim_str(const ir_graph *g, ir_dim d, char *buf, size_t size) {
  const ir_graph *r = root_of(g);
  size_t k = 0;
  if (size == 0) return buf;
  buf[0] = '\0';
  if (d.coef == 0 || ir_dim_is_const(d)) {
    snprintf(buf, size, "%" PRId64, d.coef);
    return buf;
  }
  /* a derived symbol alone prints as its expression, (T-3)/2; in a product
   * it is parenthesized, B*((T-3)/2) */
  bool alone = d.coef == 1 && d.sym[1] < 0;
  if (d.coef != 1) k += (size_t)snprintf(buf, size, "%" PRId64, d.coef);
  for (int i = 0; i < IR_DIM_SYMS && k < size; i++) {
    int s = d.sym[i];
    if (s < 0) continue;
    const char *sep = k ? "*" : "";
    bool paren = !alone && r && s >= r->nsyms;
    if (r && s < r->nsyms + r->nderived)
      k += (size_t)snprintf(buf + k, size - k, paren ? "%s(%s)" : "%s%s", sep, r->syms[s].name);
    else k += (size_t)snprintf(buf + k, size - k, "%s$%d", sep, s); /* unknown symbol */
  }
  return buf;
}

const char *ir_type_str(const ir_graph *g, const ir_type *t, char *buf, size_t size) {
  size_t k = 0;
  if (size == 0) return buf;
  if (t->rank < 0) {
    snprintf(buf, size, "[?]");
    return buf;
  }
  k += (size_t)snprintf(buf, size, "[");
  for (int i = 0; i < t->rank && i < IR_MAX_RANK && k < size; i++) {
    char d[64];
    k += (size_t)snprintf(buf + k, size - k, "%s%s", i ? ", " : "",
                          ir_dim_str(g, t->dims[i], d, sizeof d));
  }
  if (k < size) snprintf(buf + k, size - k, "]");
  return buf;
}

/* a line being built, so the comment column can be padded to */
typedef struct line {
  char s[4096]; /* text so far */
  size_t n;     /* its length */
} line;

static void put(line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(line *l, const char *fmt, ...) {
  if (l->n >= sizeof l->s) return;
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(l->s + l->n, sizeof l->s - l->n, fmt, ap);
  va_end(ap);
  if (k > 0) l->n += (size_t)k;
  if (l->n > sizeof l->s - 1) l->n = sizeof l->s - 1;
}

static void pad_to(line *l, size_t col) {
  if (l->n + 2 > col) put(l, "  ");
  else
    while (l->n < col) put(l, " ");
}

static void put_type(line *l, const ir_graph *g, const ir_type *t) {
  char buf[512];
  if (t->rank < 0) put(l, "?");
  else put(l, "%s%s", ir_dtype_name(t->dtype), ir_type_str(g, t, buf, sizeof buf));
}

static const char *role_name(seqrt_role r) {
  switch (r) {
  case SEQRT_ROLE_INPUT: return "input";
  case SEQRT_ROLE_OUTPUT: return "output";
  case SEQRT_ROLE_PARAM: return "param";
  case SEQRT_ROLE_PREPARED: return "prepared";
  case SEQRT_ROLE_TEMP: return "temp";
  case SEQRT_ROLE_ALIAS: return "alias";
  case SEQRT_ROLE_STATE: return "state";
  }
  return "?";
}

/* "[buf 3 temp 2..5]" for a planned value; `tag` names the value when a node has several */
static void put_buffer(line *l, const ir_graph *g, int v, bool tag) {
  if (g->nbuffers <= 0 || v < 0 || v >= g->nvalues) return;
  int b = g->values[v].buffer;
  if (b < 0) return;
  if (b >= g->nbuffers) {
    put(l, "  [buf %d: out of range]", b);
    return;
  }
  const ir_buffer *buf = &g->buffers[b];
  put(l, "  [");
  if (tag) put(l, "%%%d ", v);
  put(l, "buf %d %s", b, role_name(buf->role));
  if (buf->role == SEQRT_ROLE_TEMP || buf->role == SEQRT_ROLE_OUTPUT)
    put(l, " %d..%d", buf->first, buf->last);
  if (buf->role == SEQRT_ROLE_ALIAS) put(l, " of %d", buf->alias);
  if (buf->panel > 0) put(l, " panels of %" PRId64, buf->panel);
  put(l, "]");
}

static void put_const_data(line *l, const ir_value *v) {
  if (!v->data || v->type.rank < 0) return;
  int64_t n = 1;
  for (int i = 0; i < v->type.rank; i++) {
    if (!ir_dim_is_const(v->type.dims[i])) return; /* size unknown: do not read */
    n *= v->type.dims[i].coef;
  }
  put(l, " = ");
  if (v->type.rank > 0) put(l, "[");
  for (int64_t i = 0; i < n && i < CONST_SHOWN; i++) {
    if (i) put(l, ", ");
    switch (v->type.dtype) {
    case IR_F32: put(l, "%.9g", (double)((const float *)v->data)[i]); break;
    case IR_I32: put(l, "%" PRId32, ((const int32_t *)v->data)[i]); break;
    case IR_I64: put(l, "%" PRId64, ((const int64_t *)v->data)[i]); break;
    }
  }
  if (n > CONST_SHOWN) put(l, ", ...");
  if (v->type.rank > 0) put(l, "]");
}

static void put_attr(line *l, const ir_attr *a) {
  put(l, "%s=", a->key ? a->key : "?");
  switch (a->kind) {
  case IR_ATTR_INT: put(l, "%" PRId64, a->i); break;
  case IR_ATTR_FLOAT: put(l, "%.9g", a->f); break;
  case IR_ATTR_STR: put(l, "\"%s\"", a->s ? a->s : ""); break;
  case IR_ATTR_INTS:
    put(l, "[");
    for (int i = 0; i < a->nints; i++) put(l, "%s%" PRId64, i ? ", " : "", a->ints[i]);
    put(l, "]");
    break;
  }
}

static void emit(line *l, FILE *out) {
  fwrite(l->s, 1, l->n, out);
  fputc('\n', out);
  l->n = 0;
}

static void print_graph(const ir_graph *g, FILE *out, int indent);

static const char *move_name(ir_port_move m) {
  switch (m) {
    case IR_PORT_STAY: return "stay";
    case IR_PORT_DIRECT: return "direct";
    case IR_PORT_COPY: return "copy";
    case IR_PORT_SWAP: return "swap";
    case IR_PORT_CHAIN: return "chain";
  }
  return "?";
}

/* the schedule's word on node n: [barrier] [unit 512] [wait] [view] [ports ...] */
static void put_sched(line *l, const ir_node *n) {
  const ir_sched *s = &n->sched;
  if (s->barrier) put(l, "  [barrier]");
  if (s->unit > 0) put(l, "  [unit %" PRId64 "]", s->unit);
  if (s->wait) put(l, "  [wait]");
  if (s->view) put(l, "  [view]");
  if (!s->ports) return;
  put(l, "  [ports in:");
  for (int j = 0; j < n->ninputs + n->noutputs; j++) {
    const ir_port_sched *p = &s->ports[j];
    if (j == n->ninputs) put(l, "; out:");
    put(l, " %s%s", p->barrier ? "barrier " : "", move_name(p->move));
    if (p->unit > 0) put(l, "/unit %" PRId64, p->unit);
  }
  put(l, "]");
}

static void print_node(const ir_graph *g, int i, FILE *out, int indent) {
  const ir_node *n = &g->nodes[i];
  const char *opname = n->op < IR_OP_COUNT ? ir_ops[n->op].name : "?op";
  line l = {.n = 0};
  put(&l, "%*s", indent, "");
  for (int j = 0; j < n->noutputs; j++) put(&l, "%s%%%d", j ? ", " : "", n->outputs[j]);
  put(&l, n->noutputs ? " = %s" : "%s", opname); /* a node without results: its op alone */
  for (int j = 0; j < n->ninputs; j++) put(&l, "%s%%%d", j ? ", " : " ", n->inputs[j]);
  if (n->nattrs > 0) {
    put(&l, " {");
    for (int a = 0; a < n->nattrs; a++) {
      if (a) put(&l, ", ");
      put_attr(&l, &n->attrs[a]);
    }
    put(&l, "}");
  }
  if (n->noutputs) put(&l, " :");
  for (int j = 0; j < n->noutputs; j++) {
    int v = n->outputs[j];
    put(&l, j ? ", " : " ");
    if (v >= 0 && v < g->nvalues) put_type(&l, g, &g->values[v].type);
    else put(&l, "?");
  }
  pad_to(&l, COMMENT_COL + (size_t)indent - 2);
  put(&l, "; %s @%d:%d", n->name ? n->name : "?", n->loc.line, n->loc.col);
  if (n->at_prepare) put(&l, "  [prepare]");
  if (n->once) put(&l, "  [once]");
  put_sched(&l, n);
  for (int j = 0; j < n->noutputs; j++) put_buffer(&l, g, n->outputs[j], n->noutputs > 1);
  emit(&l, out);
  if (n->body) print_graph(n->body, out, indent + 2);
}

/* `kind` is "input ", "param ", "const " or "state "; names are left out when NULL */
static void print_value(const ir_graph *g, int v, const char *kind, FILE *out, int indent) {
  const ir_value *val = &g->values[v];
  line l = {.n = 0};
  put(&l, "%*s%s %%%d", indent, "", kind, v);
  if (val->name && val->name[0]) put(&l, " %s", val->name);
  put(&l, " : ");
  put_type(&l, g, &val->type);
  if (val->kind == IR_VAL_CONST) put_const_data(&l, val);
  put_buffer(&l, g, v, false);
  emit(&l, out);
}

static void print_graph(const ir_graph *g, FILE *out, int indent) {
  for (int i = 0; i < g->ninputs; i++)
    if (g->inputs[i] >= 0 && g->inputs[i] < g->nvalues)
      print_value(g, g->inputs[i], "input ", out, indent);
  for (int v = 0; v < g->nvalues; v++)
    if (g->values[v].kind == IR_VAL_PARAM) print_value(g, v, "param ", out, indent);
  for (int v = 0; v < g->nvalues; v++)
    if (g->values[v].kind == IR_VAL_CONST) print_value(g, v, "const ", out, indent);
  for (int v = 0; v < g->nvalues; v++)
    if (g->values[v].kind == IR_VAL_STATE) print_value(g, v, "state ", out, indent);
  for (int i = 0; i < g->nnodes; i++)
    if (!g->nodes[i].dead) print_node(g, i, out, indent);
  for (int i = 0; i < g->noutputs; i++) {
    const ir_output *o = &g->outputs[i];
    if (o->name && o->name[0]) fprintf(out, "%*soutput %s = %%%d\n", indent, "", o->name, o->value);
    else fprintf(out, "%*soutput %%%d\n", indent, "", o->value);
  }
}

void ir_print(const ir_graph *g, FILE *out) {
  fprintf(out, "graph %s", g->name ? g->name : "?");
  if (g->nsyms > 0) {
    fprintf(out, " (");
    for (int i = 0; i < g->nsyms; i++)
      fprintf(out, "%s%s = %" PRId64, i ? ", " : "", g->syms[i].name, g->syms[i].def_value);
    fprintf(out, ")");
  }
  fputc('\n', out);
  for (int i = g->nsyms; i < g->nsyms + g->nderived; i++)
    fprintf(out, "  dim %s >= %" PRId64 " ; %s\n", g->syms[i].name, g->syms[i].min,
            g->syms[i].what ? g->syms[i].what : "");
  print_graph(g, out, 2);
}
