/*
 * scan.c: the `scan` op (SPEC sections 4 and 7), a user's own recurrence.
 *
 *   cell: {op: scan, over: {x: embed}, chunk: 1, reverse: false,
 *          state: {h: {zeros: [B, 64]}}, body: {...}, next: {h: hn}, emit: [hn]}
 *
 * becomes one SCAN node whose body graph is lowered like a model of its own:
 * its inputs are the over names (one step [B, ...], or one segment
 * [B, chunk, ...]), then the state names, then the captures: every value
 * defined above the scan that the body reads, added when first read (the body's
 * fe_ctx has the scan's as `outer`, and fe_resolve falls back to it). The
 * parameters of body nodes are top-level params named SCAN.NODE.PARAM that
 * enter the body as captures too (fe_param), so the runtime binds them as it
 * binds any other. `zeros` states are FILL nodes above the SCAN.
 *
 * Results: the emits stacked along dim 1, then the final states. The scan's
 * value is its first emit; SCAN.E names each emit, SCAN.S each final state.
 * `lengths: V` (SPEC 11, an integer [B], chunk 1 only) is the first capture,
 * taken before the body is lowered, and the SCAN gets lengths=1 (ops.def).
 */
#include <stdlib.h>
#include <string.h>

#include "fe.h"

int fe_capture(fe_ctx *L, int v) {
  if (v < 0) return -1;
  IR_ASSERT(L->outer);
  const ir_graph *outer = L->outer->g;
  int first = L->g->ninputs - L->ncaptured; /* captures follow the over and state inputs */
  for (int i = 0; i < L->ncaptured; i++)
    if (L->captured[i] == v) return L->g->inputs[first + i];
  if (L->ncaptured == L->cap_captured) {
    L->cap_captured = L->cap_captured ? 2 * L->cap_captured : 8;
    L->captured = realloc(L->captured, sizeof(int) * (size_t)L->cap_captured);
    IR_ASSERT(L->captured);
  }
  L->captured[L->ncaptured++] = v;
  const ir_value *val = &outer->values[v];
  return ir_add_input(L->g, val->name, val->type, val->loc);
}

/* a mapping attribute of the current node, or NULL after an error (required) / when absent */
static const fe_ast *map_attr(fe_ctx *L, const char *key, bool required, bool *ok) {
  const fe_ast *a = fe_attr(L, key);
  if (!a) {
    if (required) {
      ir_error(L->d, fe_cur_loc(L), "missing attribute '%s' for op 'scan'", key);
      *ok = false;
    }
    return NULL;
  }
  if (a->kind != FE_MAP) {
    ir_error(L->d, a->loc, "attribute '%s' of '%s' must be a mapping", key, fe_cur_name(L));
    *ok = false;
    return NULL;
  }
  return a;
}

static bool is_name(const fe_ast *a) {
  if (a->kind != FE_SCALAR || a->quoted) return false;
  const char *t = a->text;
  if (!((*t >= 'A' && *t <= 'Z') || (*t >= 'a' && *t <= 'z') || *t == '_')) return false;
  for (t++; *t; t++)
    if (!((*t >= 'A' && *t <= 'Z') || (*t >= 'a' && *t <= 'z') || (*t >= '0' && *t <= '9') ||
          *t == '_'))
      return false;
  return true;
}

/* a `{zeros: [dims]}` state: a FILL of zeros above the scan; its value or -1 */
static int zeros_state(fe_ctx *L, const char *state, const fe_ast *m) {
  const fe_ast *dims = fe_map_get(m, "zeros");
  if (m->nitems != 1 || !dims || dims->kind != FE_SEQ || dims->nitems > IR_MAX_RANK) {
    ir_error(L->d, m->loc,
             "state '%s' of '%s' must be a value name or {zeros: [dims]} with at most %d dims",
             state, fe_cur_name(L), IR_MAX_RANK);
    return -1;
  }
  ir_type t = {.dtype = IR_F32, .rank = dims->nitems};
  for (int i = 0; i < dims->nitems; i++) {
    const fe_ast *it = dims->items[i];
    int64_t n;
    int sym;
    if (fe_parse_int(it, &n) && n > 0) {
      t.dims[i] = ir_dim_const(n);
    } else if (it->kind == FE_SCALAR && (sym = ir_graph_find_sym(L->g, it->text)) >= 0) {
      t.dims[i] = ir_dim_sym(sym);
    } else {
      ir_error(L->d, it->loc, "zeros of state '%s': '%s' is not a dim name or positive integer",
               state, it->kind == FE_SCALAR ? it->text : "");
      return -1;
    }
  }
  char name[256];
  snprintf(name, sizeof name, "%s.%s.zeros", fe_cur_name(L), state);
  int n = ir_add_node(L->g, IR_OP_FILL, name, NULL, 0, m->loc);
  ir_set_attr_float(L->g, n, "value", 0.0);
  L->g->values[L->g->nodes[n].outputs[0]].type = t;
  if (!ir_infer_node(L->g, n, L->d)) return -1;
  return L->g->nodes[n].outputs[0];
}

/* one over or state entry: its name, its outer value and the body input made for it */
typedef struct slot {
  const fe_ast *key; /* the name as written */
  int outer;         /* the value it starts from (outer graph), -1 after an error */
} slot;

/* reads `over:` or `state:` into slots; false after an error */
static bool read_slots(fe_ctx *L, const fe_ast *m, bool state, slot *s) {
  bool ok = true;
  for (int i = 0; i < m->nitems; i++) {
    const fe_ast *k = m->keys[i], *v = m->items[i];
    s[i] = (slot){k, -1};
    if (!is_name(k)) {
      ir_error(L->d, k->loc, "'%s' in '%s' of '%s' must be a name", k->text,
               state ? "state" : "over", fe_cur_name(L));
      ok = false;
      continue;
    }
    if (state && v->kind == FE_MAP)
      s[i].outer = zeros_state(L, k->text, v);
    else if (v->kind == FE_SCALAR)
      s[i].outer = fe_resolve(L, v);
    else {
      ir_error(L->d, v->loc, "'%s' in '%s' of '%s' must name a value%s", k->text,
               state ? "state" : "over", fe_cur_name(L), state ? " or be {zeros: [dims]}" : "");
      ok = false;
      continue;
    }
    if (s[i].outer < 0) ok = false;
  }
  return ok;
}

/* the name list of `emit:` (a list of names, or one name) */
static bool read_emits(fe_ctx *L, const fe_ast *a, const fe_ast ***emits, int *n) {
  if (!a) {
    *emits = NULL;
    *n = 0;
    return true;
  }
  if (a->kind == FE_SCALAR) {
    *emits = malloc(sizeof(fe_ast *));
    (*emits)[0] = a;
    *n = 1;
    return true;
  }
  bool ok = a->kind == FE_SEQ;
  for (int i = 0; ok && i < a->nitems; i++) ok = a->items[i]->kind == FE_SCALAR;
  if (!ok) {
    ir_error(L->d, a->loc, "attribute 'emit' of '%s' must be a list of body value names",
             fe_cur_name(L));
    return false;
  }
  *emits = malloc(sizeof(fe_ast *) * (size_t)(a->nitems + 1));
  for (int i = 0; i < a->nitems; i++) (*emits)[i] = a->items[i];
  *n = a->nitems;
  return true;
}

/* the body's type of over value x: one step [B, ...] or one segment [B, chunk, ...] */
static bool step_type(fe_ctx *L, const slot *s, int64_t chunk, ir_type *t) {
  *t = L->g->values[s->outer].type;
  if (t->rank < 2) {
    char buf[256];
    ir_error(L->d, s->key->loc, "scan '%s': '%s' to scan over must be [B, T, ...], got %s",
             fe_cur_name(L), s->key->text, ir_type_str(L->g, t, buf, sizeof buf));
    return false;
  }
  if (chunk > 1) {
    t->dims[1] = ir_dim_const(chunk);
  } else {
    memmove(&t->dims[1], &t->dims[2], sizeof(ir_dim) * (size_t)(t->rank - 2));
    t->rank--;
  }
  return true;
}

/* the index of name among the keys of m, -1 if none */
static int key_index(const fe_ast *m, const char *name) {
  for (int i = 0; m && i < m->nitems; i++)
    if (!strcmp(m->keys[i]->text, name)) return i;
  return -1;
}

/* everything one lowering of a scan holds, freed by done() */
typedef struct scan {
  slot *over, *state;   /* the over and state entries */
  int nover, nstate;    /* their numbers */
  const fe_ast **emits; /* `emit:` names */
  int nemit;            /* their number */
  int lengths;          /* the lengths value (outer graph), or < 0 when none */
  fe_ctx B;             /* the body's lowering */
  ir_graph *body;       /* the body graph (NULL once the node owns it) */
} scan;

static int done(scan *s, int result) {
  free(s->over);
  free(s->state);
  free(s->emits);
  free(s->B.ins);
  free(s->B.defs);
  free(s->B.captured);
  ir_graph_free(s->body);
  return result;
}

/*
 * Body value v, named by `next:` entry ref, must have state i's type. Checked
 * here, where the entry's position is known; shape inference of the SCAN
 * would report the same at the scan's line.
 */
static bool next_fits(fe_ctx *L, const scan *s, int i, const fe_ast *ref, int v) {
  const ir_type *e = &s->body->values[v].type, *st = &L->g->values[s->state[i].outer].type;
  if (ir_type_eq(e, st)) return true;
  char x[256], y[256];
  ir_error(L->d, ref->loc, "scan '%s': next value of state '%s' is %s %s, but the state is %s %s",
           fe_cur_name(L), s->state[i].key->text, ir_dtype_name(e->dtype),
           ir_type_str(L->g, e, x, sizeof x), ir_dtype_name(st->dtype),
           ir_type_str(L->g, st, y, sizeof y));
  return false;
}

/* lowers the body nodes and names its outputs: emits, then next states */
static bool lower_body(fe_ctx *L, scan *s, const fe_ast *body, const fe_ast *next, int64_t chunk) {
  fe_ctx *B = &s->B;
  s->body = ir_graph_new(NULL);
  s->body->parent = L->g;
  *B = (fe_ctx){.g = s->body, .d = L->d, .outer = L, .cur = 0};
  B->nins = s->nover + s->nstate;
  B->ins = calloc((size_t)B->nins + 1, sizeof(fe_def));
  bool ok = true;
  for (int i = 0; i < B->nins; i++) {
    const slot *sl = i < s->nover ? &s->over[i] : &s->state[i - s->nover];
    ir_type t = L->g->values[sl->outer].type;
    if (i < s->nover && !step_type(L, sl, chunk, &t)) ok = false;
    B->ins[i] = (fe_def){.name = sl->key->text, .key = sl->key, .node = sl->key, .value = -1};
    B->ins[i].value = ir_add_input(s->body, sl->key->text, t, sl->key->loc);
    B->ins[i].used = true; /* an unread over or state is no mistake worth a warning */
  }
  if (!ok) return false;
  if (s->lengths >= 0) fe_capture(B, s->lengths); /* the first capture (ops.def) */
  B->ndefs = body->nitems;
  B->defs = calloc((size_t)B->ndefs + 1, sizeof(fe_def));
  for (int i = 0; i < body->nitems; i++)
    B->defs[i] = (fe_def){
        .name = body->keys[i]->text, .key = body->keys[i], .node = body->items[i], .value = -1};
  for (B->cur = 0; B->cur < B->ndefs; B->cur++)
    if (!(B->defs[B->cur].failed = !fe_lower_node(B, &B->defs[B->cur])))
      continue;
    else
      ok = false;
  if (!ok) return false;
  /* emits and next values are read as if below the last body node */
  for (int i = 0; i < s->nemit; i++) {
    int v = fe_resolve(B, s->emits[i]);
    if (v < 0) return false;
    ir_add_output(s->body, s->emits[i]->text, v);
  }
  for (int i = 0; i < s->nstate; i++) {
    const fe_ast *ref = next->items[key_index(next, s->state[i].key->text)];
    if (ref->kind != FE_SCALAR) {
      ir_error(L->d, ref->loc, "next value of state '%s' must be a body value name",
               s->state[i].key->text);
      return false;
    }
    int v = fe_resolve(B, ref);
    if (v < 0 || !next_fits(L, s, i, ref, v)) return false;
    ir_add_output(s->body, s->state[i].key->text, v);
  }
  return true;
}

int fe_lower_scan(fe_ctx *L) {
  static const int64_t one = 1;
  static const bool no = false;
  scan s = {.lengths = -2};
  int64_t chunk;
  bool reverse, carry = false, ok = true;
  const char *name = fe_cur_name(L);
  const fe_ast *over = map_attr(L, "over", true, &ok);
  const fe_ast *state = map_attr(L, "state", false, &ok);
  const fe_ast *next = map_attr(L, "next", false, &ok);
  const fe_ast *body = map_attr(L, "body", true, &ok);
  ok &= fe_int(L, "chunk", FE_POSITIVE, &one, &chunk);
  ok &= fe_bool(L, "reverse", &no, &reverse);
  ok &= read_emits(L, fe_attr(L, "emit"), &s.emits, &s.nemit);
  if (!ok || !fe_carry_attr(L, "reverse", reverse, &carry)) return done(&s, -1);
  if (over->nitems == 0) {
    ir_error(L->d, over->loc, "scan '%s' needs at least one value in 'over'", name);
    return done(&s, -1);
  }
  if (body->nitems == 0) {
    ir_error(L->d, body->loc, "the body of scan '%s' is empty", name);
    return done(&s, -1);
  }
  /* every state has a next value, every next value a state, no emit a state's name */
  for (int i = 0; state && i < state->nitems; i++)
    if (key_index(next, state->keys[i]->text) < 0) {
      ir_error(L->d, state->keys[i]->loc, "state '%s' of scan '%s' has no 'next' value",
               state->keys[i]->text, name);
      ok = false;
    }
  for (int i = 0; next && i < next->nitems; i++)
    if (key_index(state, next->keys[i]->text) < 0) {
      ir_error(L->d, next->keys[i]->loc, "'next' of scan '%s' names '%s', which is not a state",
               name, next->keys[i]->text);
      ok = false;
    }
  for (int i = 0; i < s.nemit; i++) {
    if (key_index(state, s.emits[i]->text) >= 0) {
      ir_error(L->d, s.emits[i]->loc,
               "scan '%s' emits '%s', which is also a state: '%s.%s' would name both", name,
               s.emits[i]->text, name, s.emits[i]->text);
      ok = false;
    }
    for (int j = 0; j < i; j++)
      if (!strcmp(s.emits[j]->text, s.emits[i]->text)) {
        ir_error(L->d, s.emits[i]->loc, "scan '%s' emits '%s' twice", name, s.emits[i]->text);
        ok = false;
      }
  }
  if (s.nemit + (state ? state->nitems : 0) == 0) {
    ir_error(L->d, fe_cur_loc(L), "scan '%s' has neither 'emit' nor 'state': it gives nothing",
             name);
    ok = false;
  }
  if (!ok) return done(&s, -1);
  s.nover = over->nitems;
  s.nstate = state ? state->nitems : 0;
  s.over = calloc((size_t)s.nover + 1, sizeof(slot));
  s.state = calloc((size_t)s.nstate + 1, sizeof(slot));
  ok = read_slots(L, over, false, s.over);
  if (state) ok &= read_slots(L, state, true, s.state);
  if (ok) s.lengths = fe_lengths_attr(L, L->g->values[s.over[0].outer].type.dims[0]);
  if (ok && s.lengths >= 0 && chunk > 1) {
    ir_error(L->d, fe_attr(L, "lengths")->loc,
             "attribute 'lengths' of '%s': a scan with chunk %lld cannot take lengths (lengths "
             "need chunk 1)",
             name, (long long)chunk);
    return done(&s, -1);
  }
  if (!ok || s.lengths == -1 || !lower_body(L, &s, body, next, chunk)) return done(&s, -1);

  /* the SCAN: over values, initial states, captures */
  int nin = s.nover + s.nstate + s.B.ncaptured, nout = s.nemit + s.nstate;
  int *inputs = calloc((size_t)nin + 1, sizeof(int));
  for (int i = 0; i < s.nover; i++) inputs[i] = s.over[i].outer;
  for (int i = 0; i < s.nstate; i++) /* a carried state starts where the last run left it */
    inputs[s.nover + i] = carry ? fe_carry_in(L, s.state[i].key->text, s.state[i].outer)
                                : s.state[i].outer;
  for (int i = 0; i < s.nstate; i++)
    if (inputs[s.nover + i] < 0) {
      free(inputs);
      return done(&s, -1);
    }
  for (int i = 0; i < s.B.ncaptured; i++) inputs[s.nover + s.nstate + i] = s.B.captured[i];
  int n = ir_insert_node_n(L->g, L->g->nnodes, IR_OP_SCAN, name, inputs, nin, nout, fe_cur_loc(L));
  free(inputs);
  ir_node *node = &L->g->nodes[n];
  node->body = s.body;
  s.body = NULL;
  ir_set_attr_int(L->g, n, "nover", s.nover);
  ir_set_attr_int(L->g, n, "nstate", s.nstate);
  ir_set_attr_int(L->g, n, "reverse", reverse);
  ir_set_attr_int(L->g, n, "chunk", chunk);
  if (s.lengths >= 0) ir_set_attr_int(L->g, n, "lengths", 1);

  /* names: SCAN (first result), SCAN.E, SCAN.S */
  fe_def *def = &L->defs[L->cur];
  def->nouts = nout;
  def->outs = ir_alloc(L->g, sizeof(fe_named) * (size_t)nout);
  for (int k = 0; k < nout; k++) {
    const char *sub = k < s.nemit ? s.emits[k]->text : s.state[k - s.nemit].key->text;
    size_t len = strlen(name) + strlen(sub) + 2;
    char *full = ir_alloc(L->g, len);
    snprintf(full, len, "%s.%s", name, sub);
    int v = L->g->nodes[n].outputs[k];
    if (k > 0) L->g->values[v].name = full;
    def->outs[k] = (fe_named){ir_strdup(L->g, sub), v};
    if (carry && k >= s.nemit) fe_carry_out(L, L->g->nodes[n].inputs[s.nover + k - s.nemit], v);
  }
  return done(&s, n);
}
