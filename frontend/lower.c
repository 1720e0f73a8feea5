/*
 * lower.c: a model's AST to an IR graph (SPEC section 1): the top-level keys,
 * `dims:` as graph symbols, `inputs:`, the nodes in order (each lowered by
 * its op in ops.c, then typed at once so later nodes can size their
 * parameters), and `outputs:`.
 *
 * Lowering goes on after an error so that one run reports as many mistakes
 * as it can; a node that reads a failed one is skipped without a message
 * (its cause is already reported).
 */
#include <stdlib.h>
#include <string.h>

#include "fe.h"

static const char *const NAME_RULE = "[A-Za-z_][A-Za-z0-9_]*";

static bool is_ident(const fe_ast *a) {
  if (a->kind != FE_SCALAR) return false;
  const char *t = a->text;
  if (!((*t >= 'A' && *t <= 'Z') || (*t >= 'a' && *t <= 'z') || *t == '_')) return false;
  for (t++; *t; t++)
    if (!((*t >= 'A' && *t <= 'Z') || (*t >= 'a' && *t <= 'z') || (*t >= '0' && *t <= '9') ||
          *t == '_'))
      return false;
  return true;
}

static fe_def *find(fe_def *defs, int n, const char *name, size_t len) {
  for (int i = 0; i < n; i++)
    if (strlen(defs[i].name) == len && !strncmp(defs[i].name, name, len)) return &defs[i];
  return NULL;
}

/* the named extra result `sub` of def, or -1 after reporting it missing */
static int named_output(fe_ctx *L, const fe_ast *ref, const fe_def *def, const char *sub) {
  for (int i = 0; i < def->nouts; i++)
    if (!strcmp(def->outs[i].name, sub)) return def->outs[i].value;
  ir_error(L->d, ref->loc, "'%s' has no output '%s'", def->name, sub);
  return -1;
}

int fe_resolve(fe_ctx *L, const fe_ast *ref) {
  const char *text = ref->text, *dot = strchr(text, '.');
  size_t len = dot ? (size_t)(dot - text) : strlen(text);
  fe_def *in = find(L->ins, L->nins, text, len);
  if (in) {
    in->used = true;
    if (in->failed) return -1;
    if (dot) return named_output(L, ref, in, dot + 1);
    return in->value;
  }
  fe_def *def = find(L->defs, L->ndefs, text, len);
  if (!def && L->outer) /* a scan body reads a value defined above the scan */
    return fe_capture(L, fe_resolve(L->outer, ref));
  if (!def) {
    ir_error(L->d, ref->loc, "undefined value '%s'", text);
    return -1;
  }
  int at = (int)(def - L->defs);
  if (at == L->cur) {
    ir_error(L->d, ref->loc, "'%s' reads itself: a node may use only values defined above it",
             def->name);
    return -1;
  }
  if (at > L->cur) {
    ir_error(L->d, ref->loc,
             "'%s' is defined below '%s': a node may use only values defined "
             "above it",
             def->name, fe_cur_name(L));
    return -1;
  }
  if (def->failed) return -1;
  return dot ? named_output(L, ref, def, dot + 1) : def->value;
}

/* seqc: the integer 1; false stops lowering, the rest would be read in the wrong language */
static bool check_version(fe_ctx *L, const fe_ast *model) {
  const fe_ast *v = fe_map_get(model, "seqc");
  int64_t n;
  if (!v) {
    ir_error(L->d, (ir_loc){1, 1}, "missing 'seqc: 1'");
    return false;
  }
  if (fe_parse_int(v, &n) && n == 1) return true;
  if (v->kind == FE_SCALAR)
    ir_error(L->d, v->loc, "unknown language version %s", v->text);
  else
    ir_error(L->d, v->loc, "'seqc' must be the language version, 1");
  return false;
}

/* name: [A-Za-z_][A-Za-z0-9_]* (it names the AOT symbols) */
static void lower_name(fe_ctx *L, const fe_ast *model) {
  const fe_ast *v = fe_map_get(model, "name");
  if (!v)
    ir_error(L->d, (ir_loc){1, 1}, "missing 'name'");
  else if (!is_ident(v))
    ir_error(L->d, v->loc, "model name '%s' must match %s", v->kind == FE_SCALAR ? v->text : "",
             NAME_RULE);
  else
    L->g->name = ir_strdup(L->g, v->text);
}

/* dims: NAME -> positive integer (the default size), each a graph symbol */
static void lower_dims(fe_ctx *L, const fe_ast *dims) {
  if (dims->kind != FE_MAP) {
    ir_error(L->d, dims->loc, "'dims' must be a mapping of dim names to sizes");
    return;
  }
  for (int i = 0; i < dims->nitems; i++) {
    const fe_ast *k = dims->keys[i], *v = dims->items[i];
    int64_t n;
    if (!is_ident(k)) {
      ir_error(L->d, k->loc, "dim name '%s' must match %s", k->text, NAME_RULE);
    } else if (L->g->nsyms == IR_MAX_SYMS) {
      ir_error(L->d, k->loc, "too many dims: at most %d", IR_MAX_SYMS);
      return;
    } else {
      if (!fe_parse_int(v, &n) || n <= 0) {
        ir_error(L->d, v->loc, "dim '%s' must be a positive integer", k->text);
        n = 1; /* still a dim, so shapes that use it raise no further errors */
      }
      ir_graph_add_sym(L->g, k->text, n, k->loc);
    }
  }
}

/* position_dim: NAME, a dim of `dims:` (default T when there is one): the
 * dim whose positions a session counts (SPEC 9) */
static void lower_position_dim(fe_ctx *L, const fe_ast *v) {
  L->g->position_sym = ir_graph_find_sym(L->g, "T");
  if (!v) return;
  if (!is_ident(v)) {
    ir_error(L->d, v->loc, "'position_dim' must be the name of a dim of 'dims'");
    return;
  }
  L->g->position_sym = ir_graph_find_sym(L->g, v->text);
  if (L->g->position_sym >= 0) return;
  fe_suggest s;
  fe_suggest_init(&s, v->text);
  for (int i = 0; i < L->g->nsyms; i++)
    fe_suggest_try(&s, L->g->syms[i].name, strlen(L->g->syms[i].name));
  ir_error(L->d, v->loc, "position_dim '%s' is not a dim of 'dims'%s", v->text,
           fe_suggest_hint(&s));
}

/* an input's `shape:`: dim names and positive integers */
static bool input_shape(fe_ctx *L, const fe_def *in, const fe_ast *shape, ir_type *t) {
  if (shape->kind != FE_SEQ || shape->nitems > IR_MAX_RANK) {
    ir_error(L->d, shape->loc,
             "shape of input '%s' must be a list of at most %d dim names "
             "and positive integers",
             in->name, IR_MAX_RANK);
    return false;
  }
  bool ok = true;
  t->rank = shape->nitems;
  for (int i = 0; i < shape->nitems; i++) {
    const fe_ast *it = shape->items[i];
    int64_t n;
    int sym;
    if (fe_parse_int(it, &n) && n > 0) {
      t->dims[i] = ir_dim_const(n);
    } else if (it->kind == FE_SCALAR && (sym = ir_graph_find_sym(L->g, it->text)) >= 0) {
      t->dims[i] = ir_dim_sym(sym);
    } else if (is_ident(it)) {
      ir_error(L->d, it->loc, "undefined dim '%s'", it->text);
      ok = false;
    } else {
      ir_error(L->d, it->loc, "shape of input '%s' must list dim names and positive integers",
               in->name);
      ok = false;
    }
  }
  return ok;
}

/* one input: {dtype: f32 | i32 | i64 (f32), shape: [dims]} */
static bool lower_input(fe_ctx *L, fe_def *in) {
  const fe_ast *m = in->node;
  if (!is_ident(in->key)) {
    ir_error(L->d, in->key->loc, "input name '%s' must match %s", in->name, NAME_RULE);
    return false;
  }
  if (m->kind != FE_MAP) {
    ir_error(L->d, m->loc, "input '%s' must be a mapping {dtype: ..., shape: [...]}", in->name);
    return false;
  }
  bool ok = true;
  for (int i = 0; i < m->nitems; i++)
    if (strcmp(m->keys[i]->text, "dtype") && strcmp(m->keys[i]->text, "shape") &&
        strcmp(m->keys[i]->text, "static")) {
      fe_suggest s;
      fe_suggest_init(&s, m->keys[i]->text);
      fe_suggest_words(&s, "dtype shape static");
      ir_error(L->d, m->keys[i]->loc, "unknown key '%s' in input '%s'%s", m->keys[i]->text,
               in->name, fe_suggest_hint(&s));
      ok = false;
    }
  ir_type t = {.dtype = IR_F32};
  const fe_ast *dt = fe_map_get(m, "dtype"), *shape = fe_map_get(m, "shape");
  if (dt) {
    if (dt->kind == FE_SCALAR && !strcmp(dt->text, "f32"))
      t.dtype = IR_F32;
    else if (dt->kind == FE_SCALAR && !strcmp(dt->text, "i32"))
      t.dtype = IR_I32;
    else if (dt->kind == FE_SCALAR && !strcmp(dt->text, "i64"))
      t.dtype = IR_I64;
    else {
      ir_error(L->d, dt->loc, "dtype of input '%s' must be f32, i32 or i64", in->name);
      ok = false;
    }
  }
  if (!shape) {
    ir_error(L->d, in->key->loc, "input '%s' needs a 'shape'", in->name);
    return false;
  }
  /* static: true (SPEC 9): given by the first run after a reset, kept */
  const fe_ast *st = fe_map_get(m, "static");
  bool is_static = false;
  if (st && !fe_is_null(st) && !fe_parse_bool(st, &is_static)) {
    ir_error(L->d, st->loc, "'static' of input '%s' must be true or false", in->name);
    ok = false;
  }
  if (!input_shape(L, in, shape, &t) || !ok) return false;
  in->value = ir_add_input(L->g, in->name, t, in->key->loc);
  L->g->values[in->value].is_static = is_static;
  return true;
}

/* fills defs from a mapping of NAME -> value (`inputs:` or `nodes:`) */
static fe_def *collect(const fe_ast *map, int *n) {
  *n = map->nitems;
  fe_def *defs = calloc((size_t)(map->nitems ? map->nitems : 1), sizeof *defs);
  IR_ASSERT(defs);
  for (int i = 0; i < map->nitems; i++)
    defs[i] = (fe_def){
        .name = map->keys[i]->text, .key = map->keys[i], .node = map->items[i], .value = -1};
  return defs;
}

/* is key one of the space-separated words of list? (a word may end in an
 * ops.def ":kind" after the key) */
static bool has_word(const char *list, const char *key) {
  size_t len = strlen(key);
  for (const char *p = list; *p;) {
    size_t n = strcspn(p, " ");
    if (n >= len && !strncmp(p, key, len) && (n == len || p[len] == ':')) return true;
    p += n;
    while (*p == ' ') p++;
  }
  return false;
}

/* a node's keys besides `op` must be among the op's keys */
static bool check_keys(fe_ctx *L, const fe_op *op) {
  const fe_ast *m = fe_cur_node(L);
  bool ok = true;
  for (int i = 0; i < m->nitems; i++) {
    const char *k = m->keys[i]->text;
    if (!strcmp(k, "op") || has_word(op->keys, k)) continue;
    fe_suggest s;
    fe_suggest_init(&s, k);
    fe_suggest_words(&s, op->keys);
    /* lengths (SPEC 11) belong to the recurrences: say so rather than guess a word */
    const char *hint = !strcmp(k, "lengths") ? " (only rnn, lstm, gru and scan take 'lengths')"
                                             : fe_suggest_hint(&s);
    ir_error(L->d, m->keys[i]->loc, "unknown attribute '%s' for op '%s'%s", k, op->name, hint);
    ok = false;
  }
  return ok;
}

/* an op name the language does not know, with the closest one it does */
static void unknown_op(fe_ctx *L, const fe_ast *opname) {
  fe_suggest s;
  fe_suggest_init(&s, opname->text);
  for (int i = 0; fe_op_at(i); i++) fe_suggest_words(&s, fe_op_at(i)->name);
  ir_error(L->d, opname->loc, "unknown op '%s'%s", opname->text, fe_suggest_hint(&s));
}

/* node: {op: NAME, ...the op's keys}; false when it is not lowered */
bool fe_lower_node(fe_ctx *L, fe_def *def) {
  const fe_ast *m = def->node;
  if (!is_ident(def->key)) {
    ir_error(L->d, def->key->loc, "node name '%s' must match %s", def->name, NAME_RULE);
    return false;
  }
  if (find(L->ins, L->nins, def->name, strlen(def->name))) {
    ir_error(L->d, def->key->loc, "'%s' is already an input", def->name);
    return false;
  }
  if (m->kind != FE_MAP) {
    ir_error(L->d, m->loc, "node '%s' must be a mapping with an 'op'", def->name);
    return false;
  }
  const fe_ast *opname = fe_map_get(m, "op");
  if (!opname) {
    ir_error(L->d, def->key->loc, "node '%s' has no 'op'", def->name);
    return false;
  }
  const fe_op *op = opname->kind == FE_SCALAR ? fe_find_op(opname->text) : NULL;
  if (!op) {
    if (opname->kind != FE_SCALAR)
      ir_error(L->d, opname->loc, "'op' must be an op name");
    else if (fe_op_unsupported(opname->text))
      ir_error(L->d, opname->loc, "op '%s' is not supported yet", opname->text);
    else
      unknown_op(L, opname);
    return false;
  }
  if (!check_keys(L, op)) return false;
  L->op = op->name;
  int n = op->lower(L);
  if (n < 0 || !ir_infer_node(L->g, n, L->d)) return false;
  def->value = L->g->nodes[n].outputs[0];
  return true;
}

/* outputs: a non-empty list of value names, none twice */
static void lower_outputs(fe_ctx *L, const fe_ast *outs) {
  if (outs->kind != FE_SEQ || outs->nitems == 0) {
    ir_error(L->d, outs->loc, "'outputs' must be a non-empty list of value names");
    return;
  }
  for (int i = 0; i < outs->nitems; i++) {
    const fe_ast *o = outs->items[i];
    if (o->kind != FE_SCALAR) {
      ir_error(L->d, o->loc, "'outputs' must be a non-empty list of value names");
      continue;
    }
    bool twice = false;
    for (int j = 0; j < i && !twice; j++)
      twice = outs->items[j]->kind == FE_SCALAR && !strcmp(outs->items[j]->text, o->text);
    if (twice) {
      ir_error(L->d, o->loc, "output '%s' is listed twice", o->text);
      continue;
    }
    int v = fe_resolve(L, o);
    if (v >= 0) ir_add_output(L->g, o->text, v);
  }
}

/* the model: seqc, name, dims, inputs, outputs, nodes */
ir_graph *fe_lower(const fe_ast *model, ir_diags *d) {
  int errors = d->nerrors;
  fe_ctx L = {.d = d};
  if (!model || model->kind != FE_MAP) {
    ir_error(d, model ? model->loc : (ir_loc){1, 1},
             "a model must be a mapping with seqc, name, dims, inputs, outputs and nodes");
    return NULL;
  }
  if (!check_version(&L, model)) return NULL;
  L.g = ir_graph_new(NULL);
  lower_name(&L, model);
  static const char *const keys[] = {"seqc",    "name",  "dims",         "inputs",
                                     "outputs", "nodes", "position_dim", NULL};
  for (int i = 0; i < model->nitems; i++) {
    int k = 0;
    while (keys[k] && strcmp(keys[k], model->keys[i]->text)) k++;
    if (keys[k]) continue;
    fe_suggest s;
    fe_suggest_init(&s, model->keys[i]->text);
    for (k = 0; keys[k]; k++) fe_suggest_try(&s, keys[k], strlen(keys[k]));
    ir_error(d, model->keys[i]->loc, "unknown key '%s'%s", model->keys[i]->text,
             fe_suggest_hint(&s));
  }
  const fe_ast *dims = fe_map_get(model, "dims"), *inputs = fe_map_get(model, "inputs");
  const fe_ast *nodes = fe_map_get(model, "nodes"), *outputs = fe_map_get(model, "outputs");
  if (dims) lower_dims(&L, dims);
  lower_position_dim(&L, fe_map_get(model, "position_dim"));

  if (!inputs)
    ir_error(d, (ir_loc){1, 1}, "missing 'inputs'");
  else if (inputs->kind != FE_MAP)
    ir_error(d, inputs->loc, "'inputs' must be a mapping");
  else
    L.ins = collect(inputs, &L.nins);
  for (int i = 0; i < L.nins; i++) L.ins[i].failed = !lower_input(&L, &L.ins[i]);

  if (nodes && nodes->kind != FE_MAP)
    ir_error(d, nodes->loc, "'nodes' must be a mapping");
  else if (nodes)
    L.defs = collect(nodes, &L.ndefs);
  for (L.cur = 0; L.cur < L.ndefs; L.cur++) L.defs[L.cur].failed = !fe_lower_node(&L, &L.defs[L.cur]);

  if (!outputs)
    ir_error(d, (ir_loc){1, 1}, "missing 'outputs'");
  else
    lower_outputs(&L, outputs);
  if (d->nerrors == errors) fe_finish_state(&L);
  free(L.writes);
  free(L.ties);

  if (d->nerrors == errors)
    for (int i = 0; i < L.nins; i++)
      if (!L.ins[i].used) ir_warning(d, L.ins[i].key->loc, "input '%s' is not used", L.ins[i].name);
  free(L.ins);
  free(L.defs);
  if (d->nerrors > errors) {
    ir_graph_free(L.g);
    return NULL;
  }
  return L.g;
}
