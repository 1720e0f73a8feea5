/*
 * fe_test.h: helpers shared by the frontend tests (included by each
 * tests/frontend/test_*.c after the cmocka headers): lowering YAML text with
 * the diagnostics captured, and comparing the diagnostic lines exactly.
 * (static inline: a test file need not use them all.)
 */
#ifndef SEQC_FE_TEST_H
#define SEQC_FE_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fe.h"

/* the outcome of parsing and lowering one text */
typedef struct lowered {
  ir_graph *g;   /* the graph, NULL after errors */
  char *diags;   /* everything printed on the diagnostics stream (malloc'd) */
  int nerrors;   /* errors counted */
  int nwarnings; /* warnings counted */
} lowered;

/* parses and lowers len bytes of src as file "t.yaml" */
static inline lowered lower_n(const char *src, size_t len) {
  lowered r = {0};
  size_t n = 0;
  FILE *f = open_memstream(&r.diags, &n);
  assert_non_null(f);
  ir_diags d;
  ir_diags_init(&d, "t.yaml", src, len, f);
  fe_ast *a = fe_parse_yaml(src, len, &d);
  if (a) r.g = fe_lower(a, &d);
  fe_ast_free(a);
  fclose(f);
  r.nerrors = d.nerrors;
  r.nwarnings = d.nwarnings;
  return r;
}

static inline lowered lower(const char *src) { return lower_n(src, strlen(src)); }

static inline void lowered_free(lowered *r) {
  ir_graph_free(r->g);
  free(r->diags);
}

/* only the `t.yaml:L:C: kind: msg` lines of the diagnostics (not the source
 * lines and carets), each ending in a newline; malloc'd */
static inline char *message_lines(const char *diags) {
  char *out = calloc(1, strlen(diags) + 1);
  assert_non_null(out);
  for (const char *p = diags; *p;) {
    const char *e = strchr(p, '\n');
    size_t n = e ? (size_t)(e - p + 1) : strlen(p);
    if (!strncmp(p, "t.yaml:", 7)) strncat(out, p, n);
    p += n;
  }
  return out;
}

/* lowering src fails with exactly these diagnostic lines ("...\n...\n") */
static inline void expect_diags(const char *src, const char *want) {
  lowered r = lower(src);
  char *got = message_lines(r.diags);
  if (strcmp(got, want)) fprintf(stderr, "for:\n%s\nwant:\n%sgot:\n%s\n", src, want, r.diags);
#ifndef REPORT_ONLY
  assert_string_equal(got, want);
#endif
  assert_null(r.g);
  free(got);
  lowered_free(&r);
}

/* the same for a single error line (given without its newline) */
static inline void expect_error(const char *src, const char *want) {
  char buf[1024];
  snprintf(buf, sizeof buf, "%s\n", want);
  expect_diags(src, buf);
}

/* lowers src, which must succeed with no diagnostics at all */
static inline ir_graph *lower_ok(const char *src) {
  lowered r = lower(src);
  if (!r.g || r.diags[0]) fprintf(stderr, "for:\n%s\ngot:\n%s\n", src, r.diags);
  assert_non_null(r.g);
  assert_string_equal(r.diags, "");
  free(r.diags);
  return r.g;
}

/* the value a node or an input is named by, asserting it exists */
static inline const ir_value *value_named(const ir_graph *g, const char *name) {
  for (int i = 0; i < g->nvalues; i++)
    if (g->values[i].name && !strcmp(g->values[i].name, name)) return &g->values[i];
  fail_msg("no value named '%s'", name);
  return NULL;
}

/* a value's type as "f32 [B, T, 32]" */
static inline const char *type_of(const ir_graph *g, const char *name) {
  static char out[300];
  char buf[256];
  const ir_value *v = value_named(g, name);
  snprintf(out, sizeof out, "%s %s", ir_dtype_name(v->type.dtype),
           ir_type_str(g, &v->type, buf, sizeof buf));
  return out;
}

/* the node whose result is named name */
static inline const ir_node *node_named(const ir_graph *g, const char *name) {
  const ir_value *v = value_named(g, name);
  assert_int_equal(v->kind, IR_VAL_NODE);
  return &g->nodes[v->def];
}

#endif
