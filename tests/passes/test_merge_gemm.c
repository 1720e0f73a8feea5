/*
 * test_merge_gemm.c: matmuls of one operand become one. A custom cell with a
 * weight per gate (h @ W_a, h @ W_b, h @ W_c) gets one matmul over the
 * concatenated weights (built at top level, a new capture of the scan) and a
 * slice per gate; top-level matmuls of one input by params merge the same way;
 * matmuls of different operands stay. Numbers equal before and after.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_passes.h"

static const char *cell =
    "seqc: 1\nname: m\ndims: {B: 2, T: 4}\n"
    "inputs:\n  x: {dtype: f32, shape: [B, T, 6]}\n"
    "outputs: [cell, cell.h]\nnodes:\n"
    "  cell:\n    op: scan\n    over: {x: x}\n"
    "    state: {h: {zeros: [B, 5]}}\n    body:\n"
    "      a:  {op: linear, input: h, out_features: 5, bias: false}\n"
    "      b:  {op: linear, input: h, out_features: 5, bias: false}\n"
    "      c:  {op: linear, input: h, out_features: 3, bias: false}\n"
    "      u:  {op: linear, input: x, out_features: 5}\n"
    "      sa: {op: sigmoid, input: a}\n"
    "      m1: {op: mul, inputs: [sa, b]}\n"
    "      s:  {op: add, inputs: [m1, u]}\n"
    "      hn: {op: tanh, input: s}\n"
    "      e:  {op: relu, input: c}\n"
    "    next: {h: hn}\n    emit: [hn, e]\n";

static ir_graph *prepared(const char *yaml) {
  ir_graph *g = load_yaml(yaml);
  run_pass(g, pass_decompose, "decompose");
  run_pass(g, pass_infer_shapes, "infer_shapes");
  run_pass(g, pass_simplify, "simplify");
  run_pass(g, pass_hoist, "hoist");
  return g;
}

static void gates_of_a_cell(void **state) {
  (void)state;
  ir_graph *g = prepared(cell);
  int si = find_op(g, IR_OP_SCAN);
  assert_int_equal(count_op(g->nodes[si].body, IR_OP_MATMUL), 3);
  int nin = g->nodes[si].ninputs, concats = count_op(g, IR_OP_CONCAT);
  int64_t syms[] = {2, 4};
  assert_true(check_pass_numbers(g, pass_merge_gemm, "merge_gemm", syms, 1));
  si = find_op(g, IR_OP_SCAN);
  const ir_graph *body = g->nodes[si].body;
  assert_int_equal(count_op(body, IR_OP_MATMUL), 1);
  assert_int_equal(count_op(body, IR_OP_SLICE), 3);
  const ir_node *mm = &body->nodes[find_op(body, IR_OP_MATMUL)];
  const ir_type *t = &body->values[mm->outputs[0]].type;
  assert_int_equal(t->dims[t->rank - 1].coef, 13); /* 5 + 5 + 3 */
  assert_int_equal(count_op(g, IR_OP_CONCAT), concats + 1);
  assert_int_equal(g->nodes[si].ninputs, nin + 1); /* the merged weight, a capture */
  assert_false(run_pass(g, pass_merge_gemm, "merge_gemm"));
  ir_graph_free(g);
}

static void top_level(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("m");
  int x = ir_add_input(g, "x", tf32(2, 3, 4), (ir_loc){1, 1});
  int y = ir_add_input(g, "y", tf32(2, 3, 4), (ir_loc){1, 1});
  int w1 = ir_add_param(g, "w1", tf32(2, 4, 6), (ir_loc){1, 1});
  int w2 = ir_add_param(g, "w2", tf32(2, 4, 2), (ir_loc){1, 1});
  int w3 = ir_add_param(g, "w3", tf32(2, 4, 2), (ir_loc){1, 1});
  int outs[3], ws[3] = {w1, w2, w3}, as[3] = {x, x, y};
  for (int k = 0; k < 3; k++) {
    int n = mk(g, IR_OP_MATMUL, "mm", 2, as[k], ws[k]);
    ir_set_attr_int(g, n, "trans_b", 0);
    outs[k] = infer(g, n);
  }
  ir_add_output(g, "a", outs[0]);
  ir_add_output(g, "b", op1(g, IR_OP_RELU, "r", outs[1]));
  ir_add_output(g, "c", outs[2]);
  assert_true(check_pass_numbers(g, pass_merge_gemm, "merge_gemm", NULL, 1));
  assert_int_equal(count_op(g, IR_OP_MATMUL), 2); /* x's two merged, y's alone */
  assert_int_equal(count_op(g, IR_OP_CONCAT), 1);
  assert_int_equal(count_op(g, IR_OP_SLICE), 2);
  ir_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(gates_of_a_cell),
      cmocka_unit_test(top_level),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
