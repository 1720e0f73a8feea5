/*
 * test_infer.c: ir_infer_node on graphs built by hand, for what the frontend
 * never builds itself: wrong parameter shapes (as after a pass or a bad
 * weights file), transposed matmuls, fused bodies, copies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include "fe_test.h"

static const ir_loc AT = {4, 3};

/* an f32 type; negative entries are symbols: -1 is symbol 0, -2 symbol 1 */
static ir_type ty(int rank, const int *dims) {
  ir_type t = {.dtype = IR_F32, .rank = rank};
  for (int i = 0; i < rank; i++)
    t.dims[i] = dims[i] >= 0 ? ir_dim_const(dims[i]) : ir_dim_sym(-dims[i] - 1);
  return t;
}
#define TY(...) ty(sizeof((int[]){__VA_ARGS__}) / sizeof(int), (int[]){__VA_ARGS__})

/* a graph with symbols B, T */
static ir_graph *graph(void) {
  ir_graph *g = ir_graph_new("g");
  ir_graph_add_sym(g, "B", 2, AT);
  ir_graph_add_sym(g, "T", 3, AT);
  return g;
}

/* infers node n; returns the diagnostics' message lines ("" when it succeeded) */
static char *infer(ir_graph *g, int n, bool want_ok) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ir_diags d;
  ir_diags_init(&d, "t.yaml", NULL, 0, f);
  bool ok = ir_infer_node(g, n, &d);
  fclose(f);
  assert_int_equal(ok, want_ok);
  assert_int_equal(d.nerrors, want_ok ? 0 : 1);
  char *lines = message_lines(buf);
  free(buf);
  return lines;
}

static void expect_fail(ir_graph *g, int n, const char *want) {
  char *got = infer(g, n, false);
  assert_string_equal(got, want);
  free(got);
}

static const char *result(ir_graph *g, int n) {
  char *got = infer(g, n, true);
  assert_string_equal(got, "");
  free(got);
  return type_of(g, g->values[g->nodes[n].outputs[0]].name);
}

static void linear_params(void **state) {
  (void)state;
  ir_graph *g = graph();
  int x = ir_add_input(g, "x", TY(-1, 4), AT);
  int w = ir_add_param(g, "fc1.weight", TY(32, 5), AT);
  int b = ir_add_param(g, "fc1.bias", TY(32), AT);
  int n = ir_add_node(g, IR_OP_LINEAR, "fc1", (int[]){x, w, b}, 3, AT);
  expect_fail(g, n, "t.yaml:4:3: error: 'fc1': parameter weight: expected [32, 4], got [32, 5]\n");
  g->values[w].type = TY(32, 4);
  g->values[b].type = TY(16);
  expect_fail(g, n, "t.yaml:4:3: error: 'fc1': parameter bias: expected [32], got [16]\n");
  g->values[b].type = TY(32);
  assert_string_equal(result(g, n), "f32 [B, 32]");
  g->values[b].type.dtype = IR_I32;
  expect_fail(g, n, "t.yaml:4:3: error: 'fc1': parameter bias: expected f32 [32], got i32 [32]\n");
  ir_graph_free(g);
}

static void norm_params(void **state) {
  (void)state;
  ir_graph *g = graph();
  int x = ir_add_input(g, "x", TY(-1, -2, 16), AT);
  int w = ir_add_param(g, "ln.weight", TY(16), AT);
  int b = ir_add_param(g, "ln.bias", TY(8), AT);
  int n = ir_add_node(g, IR_OP_LAYER_NORM, "ln", (int[]){x, w, b}, 3, AT);
  ir_set_attr_float(g, n, "eps", 1e-5);
  expect_fail(g, n, "t.yaml:4:3: error: 'ln': parameter bias: expected [16], got [8]\n");
  int r = ir_add_node(g, IR_OP_RMS_NORM, "rms", (int[]){x, w}, 2, AT);
  ir_set_attr_float(g, r, "eps", 1e-6);
  assert_string_equal(result(g, r), "f32 [B, T, 16]");
  ir_graph_free(g);
}

static void matmul_trans_b(void **state) {
  (void)state;
  ir_graph *g = graph();
  int a = ir_add_input(g, "a", TY(-1, 3, 16), AT);
  int b = ir_add_input(g, "b", TY(4, 16), AT);
  int c = ir_add_input(g, "c", TY(-2, 1, 16, 5), AT);
  int n = ir_add_node(g, IR_OP_MATMUL, "mm", (int[]){a, b}, 2, AT);
  ir_set_attr_int(g, n, "trans_b", 1);
  assert_string_equal(result(g, n), "f32 [B, 3, 4]");
  ir_set_attr_int(g, n, "trans_b", 0);
  expect_fail(g, n, "t.yaml:4:3: error: matmul 'mm': inner dims differ: [B, 3, 16] @ [4, 16]\n");
  int m = ir_add_node(g, IR_OP_MATMUL, "bb", (int[]){a, c}, 2, AT);
  ir_set_attr_int(g, m, "trans_b", 0);
  assert_string_equal(result(g, m), "f32 [T, B, 3, 5]");
  int k = ir_add_node(g, IR_OP_MATMUL, "t", (int[]){c, b}, 2, AT);
  ir_set_attr_int(g, k, "trans_b", 1);
  expect_fail(g, k,
              "t.yaml:4:3: error: matmul 't': inner dims differ: [T, 1, 16, 5] @ [4, 16]^T\n");
  ir_graph_free(g);
}

static void broadcasting(void **state) {
  (void)state;
  ir_graph *g = graph();
  int a = ir_add_input(g, "a", TY(-1, 1, 8), AT);
  int b = ir_add_input(g, "b", TY(-2, 1), AT);
  int c = ir_add_input(g, "c", TY(-1, 16), AT);
  int n = ir_add_node(g, IR_OP_DIV, "d", (int[]){a, b}, 2, AT);
  assert_string_equal(result(g, n), "f32 [B, T, 8]");
  int m = ir_add_node(g, IR_OP_ADD, "x", (int[]){c, a}, 2, AT);
  expect_fail(g, m, "t.yaml:4:3: error: add 'x': shapes [B, 16] and [B, 1, 8] do not broadcast\n");
  ir_graph_free(g);
}

static void copy_keeps_any_dtype(void **state) {
  (void)state;
  ir_graph *g = graph();
  ir_type t = TY(-1, -2);
  t.dtype = IR_I64;
  int x = ir_add_input(g, "x", t, AT);
  int n = ir_add_node(g, IR_OP_COPY, "c", &x, 1, AT);
  assert_string_equal(result(g, n), "i64 [B, T]");
  int e = ir_add_node(g, IR_OP_EXP, "e", &x, 1, AT);
  expect_fail(g, e, "t.yaml:4:3: error: exp 'e': expected f32, got i64 [B, T]\n");
  ir_graph_free(g);
}

static void reshape_checks_count(void **state) {
  (void)state;
  ir_graph *g = graph();
  int x = ir_add_input(g, "x", TY(-1, -2, 6), AT);
  int n = ir_add_node(g, IR_OP_RESHAPE, "r", &x, 1, AT);
  g->values[g->nodes[n].outputs[0]].type = TY(-2, 3, -1, 2);
  assert_string_equal(result(g, n), "f32 [T, 3, B, 2]");
  g->values[g->nodes[n].outputs[0]].type = TY(-2, 3, -1);
  expect_fail(g, n,
              "t.yaml:4:3: error: reshape 'r': cannot reshape [B, T, 6] to [T, 3, B]: the "
              "element counts differ\n");
  ir_graph_free(g);
}

static void embedding_checks(void **state) {
  (void)state;
  ir_graph *g = graph();
  ir_type it = TY(-1, -2);
  it.dtype = IR_I32;
  int idx = ir_add_input(g, "i", it, AT);
  int w = ir_add_param(g, "e.weight", TY(10, 4, 1), AT);
  int n = ir_add_node(g, IR_OP_EMBEDDING, "e", (int[]){w, idx}, 2, AT);
  expect_fail(g, n,
              "t.yaml:4:3: error: 'e': parameter weight: expected f32 [num_embeddings, "
              "embedding_dim], got f32 [10, 4, 1]\n");
  g->values[w].type = TY(10, 4);
  assert_string_equal(result(g, n), "f32 [B, T, 4]");
  ir_graph_free(g);
}

/* attention's position bias table (pos_bias R): f32 [H, 2R+1] after the other
 * inputs, H being q's heads; anything else is an error naming that shape */
static void attention_bias_table(void **state) {
  (void)state;
  ir_graph *g = graph();
  int q = ir_add_input(g, "q", TY(-1, 3, -2, 8), AT), k = ir_add_input(g, "k", TY(-1, 3, 5, 8), AT);
  int t = ir_add_input(g, "t", TY(3, 5), AT);
  int n = ir_insert_node_n(g, g->nnodes, IR_OP_ATTENTION, "a", (int[]){q, k, k, t}, 4, 1, AT);
  ir_set_attr_float(g, n, "scale", 1);
  ir_set_attr_int(g, n, "causal", 0);
  ir_set_attr_int(g, n, "window", -1);
  ir_set_attr_int(g, n, "pos_bias", 2);
  assert_string_equal(result(g, n), "f32 [B, 3, T, 8]");
  static const int bad[][2] = {{3, 4}, {3, 6}, {2, 5}, {5, 3}};
  for (int i = 0; i < 4; i++) {
    g->values[t].type = TY(bad[i][0], bad[i][1]);
    char want[256];
    snprintf(want, sizeof want,
             "t.yaml:4:3: error: attention 'a': expected the position bias table f32 [3, 5] "
             "(pos_bias 2) as input 3, got f32 [%d, %d]\n",
             bad[i][0], bad[i][1]);
    expect_fail(g, n, want);
  }
  g->values[t].type = TY(3, 5);
  g->values[t].type.dtype = IR_I32;
  expect_fail(g, n,
              "t.yaml:4:3: error: attention 'a': expected the position bias table f32 [3, 5] "
              "(pos_bias 2) as input 3, got i32 [3, 5]\n");
  g->values[t].type = TY(3, 1, 5);
  expect_fail(g, n,
              "t.yaml:4:3: error: attention 'a': expected the position bias table f32 [3, 5] "
              "(pos_bias 2) as input 3, got f32 [3, 1, 5]\n");
  ir_set_attr_int(g, n, "pos_bias", -1);
  expect_fail(g, n, "t.yaml:4:3: error: attention 'a': pos_bias -1, expected 0 .. 2147483647\n");
  /* the table missing: q, k, v only */
  ir_set_attr_int(g, n, "pos_bias", 0);
  g->nodes[n].ninputs = 3;
  expect_fail(g, n,
              "t.yaml:4:3: error: attention 'a': 3 inputs, expected q, k, v, then the position "
              "bias table\n");
  ir_graph_free(g);
}

/* a fused node's type is its body's output, inferred from the node's inputs */
static void fused_body(void **state) {
  (void)state;
  ir_graph *g = graph();
  int x = ir_add_input(g, "x", TY(-1, 8), AT);
  int y = ir_add_input(g, "y", TY(8), AT);
  int n = ir_add_node(g, IR_OP_FUSED, "f", (int[]){x, y}, 2, AT);
  ir_graph *body = ir_graph_new("f");
  body->parent = g;
  int bx = ir_add_input(body, "x", (ir_type){.rank = -1}, AT);
  int by = ir_add_input(body, "y", (ir_type){.rank = -1}, AT);
  int s = ir_add_node(body, IR_OP_MUL, "f.mul", (int[]){bx, by}, 2, AT);
  int r = ir_add_node(body, IR_OP_RELU, "f.relu", &body->nodes[s].outputs[0], 1, AT);
  ir_add_output(body, "f", body->nodes[r].outputs[0]);
  g->nodes[n].body = body;
  assert_string_equal(result(g, n), "f32 [B, 8]");
  assert_string_equal(type_of(body, "f.mul"), "f32 [B, 8]");
  g->values[y].type = TY(3);
  expect_fail(g, n, "t.yaml:4:3: error: mul 'f.mul': shapes [B, 8] and [3] do not broadcast\n");
  ir_graph_free(g);
}

/* an input that has no type yet (its node failed): no new message, just false */
static void untyped_input_is_quiet(void **state) {
  (void)state;
  ir_graph *g = graph();
  int x = ir_add_input(g, "x", TY(2), AT);
  int a = ir_add_node(g, IR_OP_RELU, "a", &x, 1, AT);
  int b = ir_add_node(g, IR_OP_RELU, "b", &g->nodes[a].outputs[0], 1, AT);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ir_diags d;
  ir_diags_init(&d, "t.yaml", NULL, 0, f);
  assert_false(ir_infer_node(g, b, &d));
  fclose(f);
  assert_string_equal(buf, "");
  free(buf);
  ir_graph_free(g);
}

static void slices_on_symbols(void **state) {
  (void)state;
  ir_graph *g = graph();
  int x = ir_add_input(g, "x", TY(-1, -2), AT);
  int n = ir_add_node(g, IR_OP_SLICE, "s", &x, 1, AT);
  ir_set_attr_int(g, n, "dim", 1);
  ir_set_attr_int(g, n, "start", 2);
  ir_set_attr_int(g, n, "end", 7);
  assert_string_equal(result(g, n), "f32 [B, 5]");
  ir_set_attr_int(g, n, "start", -3);
  ir_set_attr_int(g, n, "end", INT64_MAX);
  assert_string_equal(result(g, n), "f32 [B, 3]");
  ir_set_attr_int(g, n, "start", 0);
  assert_string_equal(result(g, n), "f32 [B, T]");
  ir_set_attr_int(g, n, "end", -1);
  expect_fail(g, n,
              "t.yaml:4:3: error: slice 's': the length of [0:-1] along dim 1 of [B, T] "
              "depends on T; slice a constant dim or give a fixed-size range\n");
  ir_set_attr_int(g, n, "dim", 2);
  expect_fail(g, n, "t.yaml:4:3: error: slice 's': dim 2 is out of range for [B, T]\n");
  ir_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(linear_params),          cmocka_unit_test(norm_params),
      cmocka_unit_test(matmul_trans_b),         cmocka_unit_test(broadcasting),
      cmocka_unit_test(copy_keeps_any_dtype),   cmocka_unit_test(reshape_checks_count),
      cmocka_unit_test(embedding_checks),       cmocka_unit_test(fused_body),
      cmocka_unit_test(untyped_input_is_quiet), cmocka_unit_test(slices_on_symbols),
      cmocka_unit_test(attention_bias_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
