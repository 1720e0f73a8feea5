/*
 * test_unroll.c: the unroll pass sets each scan's `unroll` factor: the one
 * asked for (--unroll N), else one already set stays, else small bodies get 2
 * and large ones 1. The graph stays verifiable and computes the same numbers
 * (the interpreter ignores the factor; codegen's loop is tested with every
 * factor in tests/codegen/test_scan.c). Also: fuse groups the gate arithmetic
 * inside scan bodies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_passes.h"

static const char *yaml =
    "seqc: 1\nname: m\ndims: {B: 2, T: 7}\n"
    "inputs:\n  x: {dtype: f32, shape: [B, T, 4]}\n"
    "outputs: [l, l.h_n]\nnodes:\n"
    "  l: {op: gru, input: x, hidden_size: 5}\n";

static ir_graph *prepared(void) {
  ir_graph *g = load_yaml(yaml);
  run_pass(g, pass_decompose, "decompose");
  run_pass(g, pass_infer_shapes, "infer_shapes");
  run_pass(g, pass_simplify, "simplify");
  return g;
}

static int64_t factor(const ir_graph *g) {
  int i = find_op(g, IR_OP_SCAN);
  assert_true(i >= 0);
  const ir_attr *a = ir_get_attr(&g->nodes[i], "unroll");
  return a ? a->i : 0;
}

static void factor_asked_for(void **state) {
  (void)state;
  for (int f = 1; f <= 8; f++) {
    ir_graph *g = prepared();
    assert_int_equal(factor(g), 0);
    ir_diags d;
    ir_diags_init(&d, "test", NULL, 0, stderr);
    pass_ctx ctx = {.diags = &d, .unroll = f};
    assert_true(pass_unroll(g, &ctx));
    assert_true(ir_verify(g, "unroll", stderr));
    assert_int_equal(factor(g), f);
    assert_false(pass_unroll(g, &ctx)); /* already so */
    ir_graph_free(g);
  }
}

static void factor_chosen(void **state) {
  (void)state;
  ir_graph *g = prepared();
  int64_t syms[] = {2, 7};
  /* GRU body before fuse: more than 8 kernels, no unrolling */
  assert_true(check_pass_numbers(g, pass_unroll, "unroll", syms, 1));
  assert_int_equal(factor(g), 1);
  ir_graph_free(g);

  g = prepared();
  run_pass(g, pass_hoist, "hoist");
  run_pass(g, pass_fuse, "fuse");
  assert_true(check_pass_numbers(g, pass_unroll, "unroll", syms, 1));
  assert_int_equal(factor(g), 2); /* a few fused kernels: 2 steps per iteration */
  ir_graph_free(g);

  /* a factor already on the node stays when none is asked for */
  g = prepared();
  ir_set_attr_int(g, find_op(g, IR_OP_SCAN), "unroll", 5);
  assert_false(run_pass(g, pass_unroll, "unroll"));
  assert_int_equal(factor(g), 5);
  ir_graph_free(g);
}

static void fuse_in_body(void **state) {
  (void)state;
  ir_graph *g = prepared();
  run_pass(g, pass_hoist, "hoist");
  const ir_graph *body = g->nodes[find_op(g, IR_OP_SCAN)].body;
  int before = count_live(body);
  assert_int_equal(count_op(body, IR_OP_FUSED), 0);
  int64_t syms[] = {2, 7};
  assert_true(check_pass_numbers(g, pass_fuse, "fuse", syms, 1));
  body = g->nodes[find_op(g, IR_OP_SCAN)].body;
  assert_true(count_op(body, IR_OP_FUSED) >= 2); /* matmul epilogue and gate chain */
  assert_true(count_live(body) < before);
  assert_int_equal(count_op(body, IR_OP_SIGMOID) + count_op(body, IR_OP_TANH), 0);
  ir_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(factor_asked_for),
      cmocka_unit_test(factor_chosen),
      cmocka_unit_test(fuse_in_body),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
