/* test_yaml.c: the YAML reader: tree shape, positions, and its errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include "fe_test.h"

/* parses src expecting success; diagnostics must stay empty */
static fe_ast *parse_ok(const char *src) {
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  ir_diags d;
  ir_diags_init(&d, "t.yaml", src, strlen(src), f);
  fe_ast *a = fe_parse_yaml(src, strlen(src), &d);
  fclose(f);
  assert_string_equal(buf, "");
  assert_non_null(a);
  free(buf);
  return a;
}

/* parsing src fails with exactly these message lines */
static void parse_fails(const char *src, size_t len, const char *want) {
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  ir_diags d;
  ir_diags_init(&d, "t.yaml", src, len, f);
  fe_ast *a = fe_parse_yaml(src, len, &d);
  fclose(f);
  assert_null(a);
  char *got = message_lines(buf);
  assert_string_equal(got, want);
  assert_true(d.nerrors > 0);
  free(got);
  free(buf);
}

static void tree_and_positions(void **state) {
  (void)state;
  fe_ast *a = parse_ok("seqc: 1\nname: m\nouts: [a, 'b', \"c\"]\nnodes:\n  fc: {op: linear}\n");
  assert_int_equal(a->kind, FE_MAP);
  assert_int_equal(a->nitems, 4);
  assert_string_equal(a->keys[2]->text, "outs");
  assert_int_equal(a->keys[2]->loc.line, 3);
  assert_int_equal(a->keys[2]->loc.col, 1);
  const fe_ast *outs = fe_map_get(a, "outs");
  assert_int_equal(outs->kind, FE_SEQ);
  assert_int_equal(outs->nitems, 3);
  assert_int_equal(outs->loc.col, 7);
  assert_false(outs->items[0]->quoted);
  assert_true(outs->items[1]->quoted);
  assert_true(outs->items[2]->quoted);
  assert_string_equal(outs->items[2]->text, "c");
  assert_int_equal(outs->items[2]->loc.col, 16);
  const fe_ast *fc = fe_map_get(fe_map_get(a, "nodes"), "fc");
  assert_int_equal(fc->kind, FE_MAP);
  assert_int_equal(fc->loc.line, 5);
  assert_int_equal(fc->loc.col, 7);
  const fe_ast *op = fe_map_get(fc, "op");
  assert_string_equal(op->text, "linear");
  assert_int_equal(op->loc.line, 5);
  assert_int_equal(op->loc.col, 12);
  assert_null(fe_map_get(a, "missing"));
  assert_null(fe_map_get(outs, "a")); /* not a mapping */
  fe_ast_free(a);
}

static void block_scalars_are_strings(void **state) {
  (void)state;
  fe_ast *a = parse_ok("a: |\n  12\nb: 12\nc: !!str 12\n");
  assert_true(fe_map_get(a, "a")->quoted);
  assert_false(fe_map_get(a, "b")->quoted);
  assert_true(fe_map_get(a, "c")->quoted);
  fe_ast_free(a);
}

static void duplicate_keys(void **state) {
  (void)state;
  const char *src = "seqc: 1\nname: m\nname: n\nnodes:\n  a: {op: relu, op: tanh}\n";
  parse_fails(src, strlen(src),
              "t.yaml:3:1: error: duplicate key 'name'\n"
              "t.yaml:5:17: error: duplicate key 'op'\n");
}

static void anchors_and_aliases(void **state) {
  (void)state;
  const char *src = "seqc: 1\nname: &n m\nother: *n\n";
  parse_fails(src, strlen(src),
              "t.yaml:2:7: error: YAML anchors and aliases are not supported\n"
              "t.yaml:3:8: error: YAML anchors and aliases are not supported\n");
  const char *src2 = "a: &m {x: 1}\n";
  parse_fails(src2, strlen(src2),
              "t.yaml:1:4: error: YAML anchors and aliases are not supported\n");
}

static void syntax_errors(void **state) {
  (void)state;
  const char *src = "seqc: 1\nname: m\n  bad: [\n";
  parse_fails(src, strlen(src),
              "t.yaml:3:6: error: mapping values are not allowed in this context\n");
  const char *src2 = "a: [1, 2\nb: 3\n";
  lowered r = lower(src2);
  assert_null(r.g);
  assert_int_equal(r.nerrors, 1);
  assert_true(!strncmp(r.diags, "t.yaml:", 7));
  lowered_free(&r);
  const char *src3 = "a: \"\\q\"\n";
  parse_fails(src3, strlen(src3), "t.yaml:1:5: error: found unknown escape character\n");
}

static void bad_encoding(void **state) {
  (void)state;
  const char src[] = "a: 1\nb: \x80\n";
  parse_fails(src, sizeof src - 1, "t.yaml:2:4: error: invalid leading UTF-8 octet\n");
}

static void empty_documents(void **state) {
  (void)state;
  parse_fails("", 0, "t.yaml:1:1: error: empty document\n");
  parse_fails("# nothing\n", 10, "t.yaml:1:1: error: empty document\n");
  parse_fails("---\n", 4, "t.yaml:1:1: error: empty document\n");
}

static void more_than_one_document(void **state) {
  (void)state;
  const char *src = "a: 1\n---\nb: 2\n";
  parse_fails(src, strlen(src), "t.yaml:2:1: error: a model file holds one YAML document\n");
}

static void complex_keys(void **state) {
  (void)state;
  const char *src = "? [a]\n: 3\nb: 4\n";
  parse_fails(src, strlen(src), "t.yaml:1:3: error: mapping keys must be plain scalars\n");
}

static void deep_nesting(void **state) {
  (void)state;
  size_t n = 100000;
  char *src = malloc(2 * n);
  memset(src, '[', n);
  memset(src + n, ']', n);
  parse_fails(src, 2 * n, "t.yaml:1:201: error: nesting deeper than 200 levels\n");
  free(src);
}

/* the text may be unterminated: only len bytes are read */
static void reads_only_len_bytes(void **state) {
  (void)state;
  char *src = malloc(8);
  memcpy(src, "a: [1, 2]", 8); /* "a: [1, 2" without the bracket */
  parse_fails(src, 8, "t.yaml:2:1: error: did not find expected ',' or ']'\n");
  free(src);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(tree_and_positions),   cmocka_unit_test(block_scalars_are_strings),
      cmocka_unit_test(duplicate_keys),       cmocka_unit_test(anchors_and_aliases),
      cmocka_unit_test(syntax_errors),        cmocka_unit_test(bad_encoding),
      cmocka_unit_test(empty_documents),      cmocka_unit_test(more_than_one_document),
      cmocka_unit_test(complex_keys),         cmocka_unit_test(deep_nesting),
      cmocka_unit_test(reads_only_len_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
