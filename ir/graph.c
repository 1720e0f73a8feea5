/* graph.c: building, editing and copying IR graphs. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

/* one block of the graph's bump allocator */
struct ir_chunk {
  struct ir_chunk *next; /* older chunk */
  size_t used, size;     /* bytes handed out, bytes in data */
  max_align_t data[];    /* the memory */
};

void *ir_alloc(ir_graph *g, size_t size) {
  size = (size + 15) & ~(size_t)15;
  struct ir_chunk *c = g->mem;
  if (!c || c->size - c->used < size) {
    size_t cap = size > 65536 ? size : 65536;
    c = malloc(sizeof *c + cap);
    IR_ASSERT(c);
    c->next = g->mem;
    c->used = 0;
    c->size = cap;
    g->mem = c;
  }
  void *p = (char *)c->data + c->used;
  c->used += size;
  memset(p, 0, size);
  return p;
}

char *ir_strdup(ir_graph *g, const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *p = ir_alloc(g, n);
  memcpy(p, s, n);
  return p;
}

ir_graph *ir_graph_new(const char *name) {
  ir_graph *g = calloc(1, sizeof *g);
  IR_ASSERT(g);
  g->name = name ? ir_strdup(g, name) : NULL;
  g->position_sym = -1;
  return g;
}

void ir_graph_free(ir_graph *g) {
  if (!g) return;
  for (int i = 0; i < g->nnodes; i++) ir_graph_free(g->nodes[i].body);
  for (struct ir_chunk *c = g->mem, *n; c; c = n) {
    n = c->next;
    free(c);
  }
  free(g->values);
  free(g->nodes);
  free(g->inputs);
  free(g->outputs);
  free(g);
}

/* grows *arr (of elem bytes) so that index n fits */
static void reserve(void **arr, int *cap, int n, size_t elem) {
  if (n < *cap) return;
  int c = *cap ? *cap * 2 : 16;
  while (c <= n) c *= 2;
  *arr = realloc(*arr, (size_t)c * elem);
  IR_ASSERT(*arr);
  memset((char *)*arr + (size_t)*cap * elem, 0, (size_t)(c - *cap) * elem);
  *cap = c;
}

int ir_graph_find_sym(const ir_graph *g, const char *name) {
  while (g->parent) g = g->parent;
  for (int i = 0; i < g->nsyms; i++)
    if (strcmp(g->syms[i].name, name) == 0) return i;
  return -1;
}

int ir_graph_add_sym(ir_graph *g, const char *name, int64_t def_value, ir_loc loc) {
  /* derived symbols sit after the base ones and keep their indices */
  IR_ASSERT(!g->parent && g->nsyms < IR_MAX_SYMS && g->nderived == 0);
  g->syms[g->nsyms] = (ir_symbol){.name = ir_strdup(g, name), .def_value = def_value, .loc = loc};
  return g->nsyms++;
}

static int add_value(ir_graph *g, ir_value_kind kind, const char *name, ir_loc loc) {
  reserve((void **)&g->values, &g->cap_values, g->nvalues, sizeof(ir_value));
  ir_value *v = &g->values[g->nvalues];
  memset(v, 0, sizeof *v);
  v->kind = kind;
  v->name = ir_strdup(g, name);
  v->def = -1;
  v->type.rank = -1;
  v->loc = loc;
  v->buffer = -1;
  return g->nvalues++;
}

int ir_add_input(ir_graph *g, const char *name, ir_type type, ir_loc loc) {
  int v = add_value(g, IR_VAL_INPUT, name, loc);
  g->values[v].type = type;
  reserve((void **)&g->inputs, &g->cap_inputs, g->ninputs, sizeof(int));
  g->inputs[g->ninputs++] = v;
  return v;
}

int ir_add_param(ir_graph *g, const char *name, ir_type type, ir_loc loc) {
  int v = add_value(g, IR_VAL_PARAM, name, loc);
  g->values[v].type = type;
  return v;
}

int ir_add_state(ir_graph *g, const char *name, ir_type type, ir_loc loc) {
  int v = add_value(g, IR_VAL_STATE, name, loc);
  g->values[v].type = type;
  return v;
}

int ir_add_const(ir_graph *g, ir_type type, const void *data, ir_loc loc) {
  int v = add_value(g, IR_VAL_CONST, NULL, loc);
  g->values[v].type = type;
  ir_dim n;
  IR_ASSERT(ir_type_numel(&type, &n) && ir_dim_is_const(n));
  size_t bytes = (size_t)n.coef * ir_dtype_size(type.dtype);
  g->values[v].data = ir_alloc(g, bytes ? bytes : 1);
  memcpy(g->values[v].data, data, bytes);
  return v;
}

int ir_insert_node(ir_graph *g, int pos, ir_op op, const char *name, const int *inputs,
                   int ninputs, ir_loc loc) {
  IR_ASSERT(op < IR_OP_COUNT && ir_ops[op].outputs >= 0);
  return ir_insert_node_n(g, pos, op, name, inputs, ninputs, ir_ops[op].outputs, loc);
}

int ir_insert_node_n(ir_graph *g, int pos, ir_op op, const char *name, const int *inputs,
                     int ninputs, int nout, ir_loc loc) {
  IR_ASSERT(op < IR_OP_COUNT && pos >= 0 && pos <= g->nnodes && nout >= 0);
  IR_ASSERT(ir_ops[op].outputs < 0 || ir_ops[op].outputs == nout);
  reserve((void **)&g->nodes, &g->cap_nodes, g->nnodes, sizeof(ir_node));
  memmove(&g->nodes[pos + 1], &g->nodes[pos], (size_t)(g->nnodes - pos) * sizeof(ir_node));
  g->nnodes++;
  ir_node *n = &g->nodes[pos];
  memset(n, 0, sizeof *n);
  n->op = op;
  n->name = ir_strdup(g, name);
  n->loc = loc;
  n->ninputs = ninputs;
  n->inputs = ir_alloc(g, sizeof(int) * (size_t)(ninputs > 0 ? ninputs : 1));
  if (ninputs) memcpy(n->inputs, inputs, sizeof(int) * (size_t)ninputs);
  n->noutputs = nout;
  n->outputs = ir_alloc(g, sizeof(int) * (size_t)nout);
  for (int i = 0; i < nout; i++) {
    char buf[256];
    if (i == 0) snprintf(buf, sizeof buf, "%s", name ? name : "");
    else snprintf(buf, sizeof buf, "%s.OUT%d", name ? name : "", i);
    int v = add_value(g, IR_VAL_NODE, buf, loc);
    n = &g->nodes[pos]; /* values array may move, nodes not, but be plain */
    n->outputs[i] = v;
  }
  ir_graph_reindex(g);
  return pos;
}

int ir_add_node(ir_graph *g, ir_op op, const char *name, const int *inputs, int ninputs,
                ir_loc loc) {
  return ir_insert_node(g, g->nnodes, op, name, inputs, ninputs, loc);
}

int ir_add_result(ir_graph *g, int node, const char *name) {
  IR_ASSERT(node >= 0 && node < g->nnodes && ir_ops[g->nodes[node].op].outputs < 0);
  int v = add_value(g, IR_VAL_NODE, name, g->nodes[node].loc);
  ir_node *n = &g->nodes[node];
  int *outs = ir_alloc(g, sizeof(int) * (size_t)(n->noutputs + 1));
  memcpy(outs, n->outputs, sizeof(int) * (size_t)n->noutputs);
  outs[n->noutputs++] = v;
  n->outputs = outs;
  ir_graph_reindex(g);
  return v;
}

void ir_add_output(ir_graph *g, const char *name, int value) {
  reserve((void **)&g->outputs, &g->cap_outputs, g->noutputs, sizeof(ir_output));
  g->outputs[g->noutputs++] = (ir_output){ir_strdup(g, name), value};
}

/* the attribute slot for key on node, added if missing */
static ir_attr *attr_slot(ir_graph *g, int node, const char *key, ir_attr_kind kind) {
  ir_node *n = &g->nodes[node];
  for (int i = 0; i < n->nattrs; i++)
    if (strcmp(n->attrs[i].key, key) == 0) {
      n->attrs[i].kind = kind;
      return &n->attrs[i];
    }
  ir_attr *a = ir_alloc(g, sizeof(ir_attr) * (size_t)(n->nattrs + 1));
  if (n->nattrs) memcpy(a, n->attrs, sizeof(ir_attr) * (size_t)n->nattrs);
  n->attrs = a;
  ir_attr *s = &a[n->nattrs++];
  s->key = ir_strdup(g, key);
  s->kind = kind;
  return s;
}

void ir_set_attr_int(ir_graph *g, int node, const char *key, int64_t v) {
  attr_slot(g, node, key, IR_ATTR_INT)->i = v;
}
void ir_set_attr_float(ir_graph *g, int node, const char *key, double v) {
  attr_slot(g, node, key, IR_ATTR_FLOAT)->f = v;
}
void ir_set_attr_str(ir_graph *g, int node, const char *key, const char *v) {
  attr_slot(g, node, key, IR_ATTR_STR)->s = ir_strdup(g, v);
}
void ir_set_attr_ints(ir_graph *g, int node, const char *key, const int64_t *v, int n) {
  ir_attr *a = attr_slot(g, node, key, IR_ATTR_INTS);
  a->ints = ir_alloc(g, sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
  if (n) memcpy(a->ints, v, sizeof(int64_t) * (size_t)n);
  a->nints = n;
}

void ir_copy_attrs(ir_graph *g, int node, const ir_node *src) {
  for (int a = 0; a < src->nattrs; a++) {
    const ir_attr *at = &src->attrs[a];
    switch (at->kind) {
      case IR_ATTR_INT:
        ir_set_attr_int(g, node, at->key, at->i);
        break;
      case IR_ATTR_FLOAT:
        ir_set_attr_float(g, node, at->key, at->f);
        break;
      case IR_ATTR_STR:
        ir_set_attr_str(g, node, at->key, at->s);
        break;
      case IR_ATTR_INTS:
        ir_set_attr_ints(g, node, at->key, at->ints, at->nints);
        break;
    }
  }
}

const ir_attr *ir_get_attr(const ir_node *n, const char *key) {
  for (int i = 0; i < n->nattrs; i++)
    if (strcmp(n->attrs[i].key, key) == 0) return &n->attrs[i];
  return NULL;
}

int64_t ir_attr_int(const ir_node *n, const char *key) {
  const ir_attr *a = ir_get_attr(n, key);
  IR_ASSERT(a && a->kind == IR_ATTR_INT);
  return a->i;
}

double ir_attr_float(const ir_node *n, const char *key) {
  const ir_attr *a = ir_get_attr(n, key);
  IR_ASSERT(a && a->kind == IR_ATTR_FLOAT);
  return a->f;
}

void ir_replace_uses(ir_graph *g, int from, int to) {
  for (int i = 0; i < g->nnodes; i++) {
    ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int j = 0; j < n->ninputs; j++)
      if (n->inputs[j] == from) n->inputs[j] = to;
  }
  for (int i = 0; i < g->noutputs; i++)
    if (g->outputs[i].value == from) g->outputs[i].value = to;
}

void ir_graph_reindex(ir_graph *g) {
  for (int i = 0; i < g->nvalues; i++)
    if (g->values[i].kind == IR_VAL_NODE) g->values[i].def = -1;
  for (int i = 0; i < g->nnodes; i++) {
    ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int j = 0; j < n->noutputs; j++) {
      g->values[n->outputs[j]].def = i;
      g->values[n->outputs[j]].def_output = j;
    }
  }
}

void ir_graph_compact(ir_graph *g) {
  int k = 0;
  for (int i = 0; i < g->nnodes; i++) {
    if (g->nodes[i].dead) {
      ir_graph_free(g->nodes[i].body);
      continue;
    }
    g->nodes[k++] = g->nodes[i];
  }
  g->nnodes = k;
  ir_graph_reindex(g);
}

int *ir_use_counts(const ir_graph *g) {
  int *uses = calloc((size_t)(g->nvalues ? g->nvalues : 1), sizeof(int));
  IR_ASSERT(uses);
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int j = 0; j < n->ninputs; j++) uses[n->inputs[j]]++;
  }
  for (int i = 0; i < g->noutputs; i++) uses[g->outputs[i].value]++;
  return uses;
}

bool ir_next_use(const ir_graph *g, int v, int *node, int *slot) {
  for (int i = *node, k = *slot + 1; i < g->nnodes; i++, k = 0) {
    const ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (; k < n->ninputs; k++)
      if (n->inputs[k] == v) {
        *node = i, *slot = k;
        return true;
      }
  }
  *node = g->nnodes, *slot = -1;
  return false;
}

void ir_add_ignored(ir_graph *g, const char *name) {
  const char **names = ir_alloc(g, sizeof(char *) * (size_t)(g->nignored + 1));
  for (int i = 0; i < g->nignored; i++) names[i] = g->ignored[i];
  names[g->nignored++] = ir_strdup(g, name);
  g->ignored = names;
}

ir_graph *ir_graph_clone(const ir_graph *g) {
  ir_graph *c = ir_graph_new(g->name);
  c->parent = g->parent;
  c->nsyms = g->nsyms;
  c->nderived = g->nderived;
  c->position_sym = g->position_sym;
  c->streams = g->streams;
  for (int i = 0; i < g->nignored; i++) ir_add_ignored(c, g->ignored[i]);
  for (int i = 0; i < g->nsyms + g->nderived; i++) {
    c->syms[i] = g->syms[i];
    c->syms[i].name = ir_strdup(c, g->syms[i].name);
    if (g->syms[i].what) c->syms[i].what = ir_strdup(c, g->syms[i].what);
  }
  for (int i = 0; i < g->nvalues; i++) {
    const ir_value *v = &g->values[i];
    int id = add_value(c, v->kind, v->name, v->loc);
    ir_value *w = &c->values[id];
    w->type = v->type;
    w->def = v->def;
    w->def_output = v->def_output;
    w->buffer = v->buffer;
    w->is_static = v->is_static;
    if (v->kind == IR_VAL_CONST) {
      int64_t n = 1;
      for (int d = 0; d < v->type.rank; d++) n *= v->type.dims[d].coef;
      size_t bytes = (size_t)n * ir_dtype_size(v->type.dtype);
      w->data = ir_alloc(c, bytes ? bytes : 1);
      memcpy(w->data, v->data, bytes);
    }
  }
  for (int i = 0; i < g->ninputs; i++) {
    reserve((void **)&c->inputs, &c->cap_inputs, c->ninputs, sizeof(int));
    c->inputs[c->ninputs++] = g->inputs[i];
  }
  for (int i = 0; i < g->noutputs; i++) ir_add_output(c, g->outputs[i].name, g->outputs[i].value);
  if (g->nbuffers) {
    c->buffers = ir_alloc(c, sizeof(ir_buffer) * (size_t)g->nbuffers);
    memcpy(c->buffers, g->buffers, sizeof(ir_buffer) * (size_t)g->nbuffers);
    c->nbuffers = g->nbuffers;
  }
  c->sched_width = g->sched_width;
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *n = &g->nodes[i];
    reserve((void **)&c->nodes, &c->cap_nodes, c->nnodes, sizeof(ir_node));
    ir_node *m = &c->nodes[c->nnodes++];
    *m = *n;
    m->name = ir_strdup(c, n->name);
    m->inputs = ir_alloc(c, sizeof(int) * (size_t)(n->ninputs > 0 ? n->ninputs : 1));
    memcpy(m->inputs, n->inputs, sizeof(int) * (size_t)n->ninputs);
    m->outputs = ir_alloc(c, sizeof(int) * (size_t)(n->noutputs > 0 ? n->noutputs : 1));
    memcpy(m->outputs, n->outputs, sizeof(int) * (size_t)n->noutputs);
    m->attrs = ir_alloc(c, sizeof(ir_attr) * (size_t)(n->nattrs > 0 ? n->nattrs : 1));
    for (int a = 0; a < n->nattrs; a++) {
      m->attrs[a] = n->attrs[a];
      m->attrs[a].key = ir_strdup(c, n->attrs[a].key);
      m->attrs[a].s = ir_strdup(c, n->attrs[a].s);
      if (n->attrs[a].kind == IR_ATTR_INTS) {
        m->attrs[a].ints = ir_alloc(c, sizeof(int64_t) * (size_t)(n->attrs[a].nints + 1));
        memcpy(m->attrs[a].ints, n->attrs[a].ints, sizeof(int64_t) * (size_t)n->attrs[a].nints);
      }
    }
    if (n->sched.ports) {
      size_t bytes = sizeof(ir_port_sched) * (size_t)(n->ninputs + n->noutputs);
      m->sched.ports = ir_alloc(c, bytes);
      memcpy(m->sched.ports, n->sched.ports, bytes);
    }
    m->body = n->body ? ir_graph_clone(n->body) : NULL;
    if (m->body) m->body->parent = c;
  }
  return c;
}

int ir_buffer_root(const ir_graph *g, int b) {
  while (b >= 0 && g->buffers[b].role == SEQRT_ROLE_ALIAS) b = g->buffers[b].alias;
  return b;
}

bool ir_node_is_view(const ir_graph *g, const ir_node *n) {
  if (!(ir_ops[n->op].traits & IR_T_VIEW)) return false;
  int b = g->values[n->outputs[0]].buffer;
  return b < 0 || g->buffers[b].role == SEQRT_ROLE_ALIAS;
}

bool *ir_once_nodes(const ir_graph *g) {
  /* per value: 0 varies by run, 1 params and constants only, 2 static (with a static input) */
  unsigned char *kind = calloc((size_t)g->nvalues + 1, 1);
  bool *once = calloc((size_t)g->nnodes + 1, sizeof *once);
  IR_ASSERT(kind && once);
  for (int v = 0; v < g->nvalues; v++) {
    const ir_value *val = &g->values[v];
    kind[v] = val->kind == IR_VAL_PARAM || val->kind == IR_VAL_CONST ? 1
              : val->kind == IR_VAL_INPUT && val->is_static         ? 2
                                                                     : 0;
  }
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead || n->ninputs == 0 || n->op == IR_OP_STATE_READ ||
        (ir_ops[n->op].traits & IR_T_EFFECT))
      continue;
    unsigned char k = 1;
    for (int j = 0; j < n->ninputs && k; j++) {
      unsigned char in = kind[n->inputs[j]];
      k = in == 0 ? 0 : in > k ? in : k;
    }
    for (int j = 0; j < n->noutputs; j++) kind[n->outputs[j]] = k;
    once[i] = k == 2;
  }
  free(kind);
  return once;
}

bool ir_at_position(const ir_graph *g, const ir_type *t) {
  /* a scan body's values are steps, not the session's positions */
  return !g->parent && g->position_sym >= 0 && t->rank >= 2 &&
         ir_dim_eq(t->dims[1], ir_dim_sym(g->position_sym));
}

const ir_node *ir_paired_scan(const ir_graph *g, int i) {
  const ir_node *n = &g->nodes[i];
  const ir_attr *p = n->op == IR_OP_SCAN ? ir_get_attr(n, "pair") : NULL;
  if (!p || !p->i) return NULL;
  int j = i + 1;
  while (j < g->nnodes && g->nodes[j].dead) j++;
  if (j >= g->nnodes || g->nodes[j].op != IR_OP_SCAN || g->nodes[j].at_prepare != n->at_prepare ||
      g->nodes[j].once != n->once)
    return NULL; /* the verifier vouches for the rest */
  return &g->nodes[j];
}
