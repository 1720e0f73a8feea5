/* test_infer_shapes.c: reinference, change detection, errors reported once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_passes.h"

static const ir_loc L0 = {1, 1};

/* x [B, 6] -> relu a -> mul b (a * x) -> softmax c */
static ir_graph *small_graph(void) {
  ir_graph *g = ir_graph_new("small");
  int B = ir_graph_add_sym(g, "B", 2, L0);
  int x = ir_add_input(g, "x", tf32(2, SYM(B), 6), L0);
  int a = op1(g, IR_OP_RELU, "a", x);
  int b = op2(g, IR_OP_MUL, "b", a, x);
  int cn = mk(g, IR_OP_SOFTMAX, "c", 1, b);
  ir_set_attr_int(g, cn, "dim", 1);
  ir_add_output(g, "c", infer(g, cn));
  return g;
}

static void unchanged_when_typed(void **state) {
  (void)state;
  ir_graph *g = small_graph();
  assert_false(run_pass(g, pass_infer_shapes, "infer_shapes"));
  ir_graph_free(g);
}

static void restores_types(void **state) {
  (void)state;
  ir_graph *g = small_graph();
  ir_type want[3];
  for (int i = 0; i < 3; i++) want[i] = g->values[g->nodes[i].outputs[0]].type;
  g->values[g->nodes[0].outputs[0]].type.rank = -1;
  g->values[g->nodes[2].outputs[0]].type = tf32(2, 7, 7);
  assert_true(run_pass(g, pass_infer_shapes, "infer_shapes"));
  for (int i = 0; i < 3; i++)
    assert_true(ir_type_eq(&want[i], &g->values[g->nodes[i].outputs[0]].type));
  assert_false(run_pass(g, pass_infer_shapes, "infer_shapes"));
  ir_graph_free(g);
}

/* a shape mismatch is one error at the node's position; what reads the bad
 * result is not blamed too */
static void mismatch_reported_once(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("bad");
  int x = ir_add_input(g, "x", tf32(2, 2, 3), L0);
  int y = ir_add_input(g, "y", tf32(2, 4, 5), L0);
  int add_in[2] = {x, y};
  int add = ir_add_node(g, IR_OP_ADD, "s", add_in, 2, (ir_loc){7, 3});
  int s = g->nodes[add].outputs[0];
  int r = ir_add_node(g, IR_OP_RELU, "r", &s, 1, (ir_loc){8, 3});
  int m_in[2] = {g->nodes[r].outputs[0], x};
  ir_add_node(g, IR_OP_MUL, "m", m_in, 2, (ir_loc){9, 3});
  int ok = ir_add_node(g, IR_OP_TANH, "ok", &x, 1, (ir_loc){10, 3});
  ir_add_output(g, "m", g->nodes[2].outputs[0]);

  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  assert_non_null(out);
  ir_diags d;
  ir_diags_init(&d, "m.yaml", NULL, 0, out);
  pass_ctx ctx = {.diags = &d};
  pass_infer_shapes(g, &ctx);
  fclose(out);
  assert_int_equal(d.nerrors, 1);
  assert_non_null(strstr(text, "m.yaml:7:3: error"));
  assert_null(strstr(text, "m.yaml:8:"));
  assert_null(strstr(text, "m.yaml:9:"));
  /* nodes that do not depend on the error still get their types */
  assert_int_equal(g->values[g->nodes[ok].outputs[0]].type.rank, 2);
  free(text);
  ir_graph_free(g);
}

static const char *classifier_yaml =
    "seqc: 1\n"
    "name: tagger\n"
    "dims: {B: 2, T: 5}\n"
    "inputs:\n"
    "  tokens: {dtype: i32, shape: [B, T]}\n"
    "outputs: [probs]\n"
    "nodes:\n"
    "  embed: {op: embedding, input: tokens, num_embeddings: 20, embedding_dim: 8}\n"
    "  logits: {op: linear, input: embed, out_features: 4}\n"
    "  probs: {op: softmax, input: logits}\n";

/* after decompose every new value is typed already: nothing changes */
static void typed_after_decompose(void **state) {
  (void)state;
  ir_graph *g = load_yaml(classifier_yaml);
  assert_false(run_pass(g, pass_infer_shapes, "infer_shapes"));
  assert_true(run_pass(g, pass_decompose, "decompose"));
  assert_false(run_pass(g, pass_infer_shapes, "infer_shapes"));
  const ir_type *t = &g->values[g->outputs[0].value].type;
  assert_int_equal(t->rank, 3);
  assert_int_equal(t->dims[2].coef, 4);
  ir_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(unchanged_when_typed),
      cmocka_unit_test(restores_types),
      cmocka_unit_test(mismatch_reported_once),
      cmocka_unit_test(typed_after_decompose),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
