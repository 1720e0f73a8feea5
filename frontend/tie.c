/*
 * tie.c: shared parameters (SPEC 11). `weight: NODE.PARAM` on a linear or an
 * embedding makes the node read a parameter of a node defined above instead
 * of owning one: the IR value of that parameter is read by both nodes, so it
 * has one buffer, one name in the weights file and in the parameter tables,
 * and --random-weights fills it once. Nothing is copied.
 *
 * Names are state_dict names: NODE is the part before the first dot, PARAM
 * the rest (`encoder.layers.0.linear1.weight`). In a scan body a parameter of
 * body node N is SCAN.N.PARAM at top level (fe_param), and a tie there names
 * a body node or a node above the scan, each read through the body's
 * captures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fe.h"

/* the top-level lowering, which owns the graph every parameter is a value of */
static fe_ctx *root_of(fe_ctx *L) {
  while (L->outer) L = L->outer;
  return L;
}

/* "A.B" in memory of the top-level graph */
static char *join(fe_ctx *L, const char *a, const char *b, size_t blen) {
  size_t n = strlen(a) + blen + 2;
  char *s = ir_alloc(root_of(L)->g, n);
  snprintf(s, n, "%s.%.*s", a, (int)blen, b);
  return s;
}

/* the top-level name of `name` (NODE.PARAM) as a parameter of scope S: each
 * enclosing scan's name before it */
static const char *top_name(fe_ctx *S, const char *name) {
  for (; S->outer; S = S->outer) name = join(S, fe_cur_name(S->outer), name, strlen(name));
  return name;
}

/* the parameter of the top-level graph called name, following ties; -1 if none */
static int find_param(fe_ctx *root, const char *name) {
  for (int i = 0; i < root->nties; i++)
    if (!strcmp(root->ties[i].name, name)) return root->ties[i].value;
  const ir_graph *g = root->g;
  for (int v = 0; v < g->nvalues; v++)
    if (g->values[v].kind == IR_VAL_PARAM && g->values[v].name && !strcmp(g->values[v].name, name))
      return v;
  return -1;
}

/* top-level value v as scope L reads it: through the captures of every scan
 * body between them */
static int read_in(fe_ctx *L, int v) { return L->outer ? fe_capture(L, read_in(L->outer, v)) : v; }

/* "did you mean" among the parameters (and ties) named PREFIX.something */
static const char *suggest_param(fe_ctx *root, const char *prefix, const char *word,
                                 fe_suggest *s) {
  size_t n = strlen(prefix);
  fe_suggest_init(s, word);
  const ir_graph *g = root->g;
  for (int v = 0; v < g->nvalues; v++) {
    const char *name = g->values[v].name;
    if (g->values[v].kind == IR_VAL_PARAM && name && !strncmp(name, prefix, n) && name[n] == '.')
      fe_suggest_try(s, name + n + 1, strlen(name + n + 1));
  }
  for (int i = 0; i < root->nties; i++) {
    const char *name = root->ties[i].name;
    if (!strncmp(name, prefix, n) && name[n] == '.')
      fe_suggest_try(s, name + n + 1, strlen(name + n + 1));
  }
  return fe_suggest_hint(s);
}

/* the node called name[0..len) in scope S, or NULL */
static fe_def *find_def(fe_def *defs, int n, const char *name, size_t len) {
  for (int i = 0; i < n; i++)
    if (strlen(defs[i].name) == len && !strncmp(defs[i].name, name, len)) return &defs[i];
  return NULL;
}

static void record(fe_ctx *root, const char *name, int value) {
  if (root->nties == root->cap_ties) {
    root->cap_ties = root->cap_ties ? 2 * root->cap_ties : 8;
    root->ties = realloc(root->ties, sizeof *root->ties * (size_t)root->cap_ties);
    IR_ASSERT(root->ties);
  }
  root->ties[root->nties++] = (fe_tie){name, value};
}

/* weight: NODE.PARAM: the top-level parameter value, or -1 after an error at ref */
static int resolve_tie(fe_ctx *L, const fe_ast *ref) {
  const char *text = ref->kind == FE_SCALAR ? ref->text : "", *dot = strchr(text, '.');
  if (ref->kind != FE_SCALAR || !dot || dot == text || !dot[1]) {
    ir_error(L->d, ref->loc,
             "attribute 'weight' of '%s' must name a parameter of a node above it, "
             "NODE.PARAM (e.g. embed.weight)",
             fe_cur_name(L));
    return -1;
  }
  size_t len = (size_t)(dot - text);
  /* the innermost scope that defines NODE: the body, then the graphs around it */
  for (fe_ctx *S = L; S; S = S->outer) {
    if (find_def(S->ins, S->nins, text, len)) {
      ir_error(L->d, ref->loc, "'%.*s' is an input: only a node has parameters to share", (int)len,
               text);
      return -1;
    }
    fe_def *def = find_def(S->defs, S->ndefs, text, len);
    if (!def) continue;
    int at = (int)(def - S->defs);
    if (at == S->cur) {
      if (S == L)
        ir_error(L->d, ref->loc, "'%s' ties its weight to itself", def->name);
      else
        ir_error(L->d, ref->loc,
                 "'%s' is the scan around '%s': a node may share only "
                 "parameters of nodes above it",
                 def->name, fe_cur_name(L));
      return -1;
    }
    if (at > S->cur) {
      ir_error(L->d, ref->loc,
               "'%s' is defined below '%s': a node may share only parameters of nodes "
               "above it",
               def->name, fe_cur_name(L));
      return -1;
    }
    if (def->failed) return -1; /* its error is out */
    fe_ctx *root = root_of(L);
    int v = find_param(root, top_name(S, text));
    if (v >= 0) return v;
    fe_suggest s;
    ir_error(L->d, ref->loc, "'%s' has no parameter '%s'%s", def->name, dot + 1,
             suggest_param(root, top_name(S, def->name), dot + 1, &s));
    return -1;
  }
  fe_suggest s;
  char word[64];
  snprintf(word, sizeof word, "%.*s", (int)len, text);
  fe_suggest_init(&s, word);
  for (fe_ctx *S = L; S; S = S->outer)
    for (int i = 0; i < S->cur; i++) fe_suggest_try(&s, S->defs[i].name, strlen(S->defs[i].name));
  ir_error(L->d, ref->loc, "undefined node '%.*s'%s", (int)len, text, fe_suggest_hint(&s));
  return -1;
}

int fe_weight(fe_ctx *L, ir_type t, const char *dims) {
  const fe_ast *ref = fe_attr(L, "weight");
  if (!ref || fe_is_null(ref)) return fe_param(L, "weight", t);
  int v = resolve_tie(L, ref);
  if (v < 0) return -1;
  fe_ctx *root = root_of(L);
  const ir_type *have = &root->g->values[v].type;
  if (!ir_type_eq(have, &t)) {
    char a[256], b[256];
    ir_error(L->d, ref->loc, "'%s' shares '%s', which is %s %s, but it needs %s %s (%s)",
             fe_cur_name(L), ref->text, ir_dtype_name(have->dtype),
             ir_type_str(root->g, have, a, sizeof a), ir_dtype_name(t.dtype),
             ir_type_str(root->g, &t, b, sizeof b), dims);
    return -1;
  }
  const char *own = top_name(L, join(L, fe_cur_name(L), "weight", 6));
  record(root, own, v);
  return read_in(L, v);
}
