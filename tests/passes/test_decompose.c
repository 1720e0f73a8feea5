/* test_decompose.c: LINEAR and DROPOUT to primitives, same numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_passes.h"

static const ir_loc L0 = {1, 1};

/* x [B, 4] -> linear fc (3 outputs, bias optional) -> output "fc" */
static ir_graph *linear_graph(bool bias, int *x, int *w, int *b) {
  ir_graph *g = ir_graph_new("lin");
  int B = ir_graph_add_sym(g, "B", 2, L0);
  *x = ir_add_input(g, "x", tf32(2, SYM(B), 4), L0);
  *w = ir_add_param(g, "fc.weight", tf32(2, 3, 4), L0);
  *b = bias ? ir_add_param(g, "fc.bias", tf32(1, 3), L0) : -1;
  int n = bias ? mk(g, IR_OP_LINEAR, "fc", 3, *x, *w, *b) : mk(g, IR_OP_LINEAR, "fc", 2, *x, *w);
  ir_add_output(g, "fc", infer(g, n));
  return g;
}

static void linear_with_bias(void **state) {
  (void)state;
  int x, w, b;
  ir_graph *g = linear_graph(true, &x, &w, &b);
  const int64_t syms[] = {5};
  assert_true(check_pass_numbers(g, pass_decompose, "decompose", syms, 1));

  assert_int_equal(g->nnodes, 3);
  const ir_node *t = &g->nodes[0], *mm = &g->nodes[1], *add = &g->nodes[2];
  assert_int_equal(t->op, IR_OP_TRANSPOSE);
  assert_int_equal(mm->op, IR_OP_MATMUL);
  assert_int_equal(add->op, IR_OP_ADD);
  /* the transpose reads only the weight, so it can run at session start */
  assert_int_equal(t->ninputs, 1);
  assert_int_equal(t->inputs[0], w);
  const ir_attr *perm = ir_get_attr(t, "perm");
  assert_non_null(perm);
  assert_int_equal(perm->nints, 2);
  assert_int_equal(perm->ints[0], 1);
  assert_int_equal(perm->ints[1], 0);
  const ir_type *tt = &g->values[t->outputs[0]].type;
  assert_int_equal(tt->rank, 2);
  assert_int_equal(tt->dims[0].coef, 4);
  assert_int_equal(tt->dims[1].coef, 3);
  /* x @ Wt, not transposed inside the GEMM */
  assert_int_equal(mm->inputs[0], x);
  assert_int_equal(mm->inputs[1], t->outputs[0]);
  assert_int_equal(ir_attr_int(mm, "trans_b"), 0);
  assert_int_equal(add->inputs[0], mm->outputs[0]);
  assert_int_equal(add->inputs[1], b);
  /* the last node is the layer as the user named it */
  assert_string_equal(add->name, "fc");
  assert_int_equal(g->outputs[0].value, add->outputs[0]);
  assert_string_equal(g->values[add->outputs[0]].name, "fc");
  assert_string_equal(g->outputs[0].name, "fc");
  ir_graph_free(g);
}

static void linear_without_bias(void **state) {
  (void)state;
  int x, w, b;
  ir_graph *g = linear_graph(false, &x, &w, &b);
  const int64_t syms[] = {3};
  assert_true(check_pass_numbers(g, pass_decompose, "decompose", syms, 1));
  assert_int_equal(g->nnodes, 2);
  assert_int_equal(g->nodes[0].op, IR_OP_TRANSPOSE);
  assert_int_equal(g->nodes[1].op, IR_OP_MATMUL);
  assert_string_equal(g->nodes[1].name, "fc");
  assert_int_equal(g->outputs[0].value, g->nodes[1].outputs[0]);
  assert_string_equal(g->values[g->outputs[0].value].name, "fc");
  ir_graph_free(g);
}

/* x [4]: viewed as a row [1, 4] for the GEMM and back as [3] */
static void linear_of_vector(void **state) {
  (void)state;
  for (int bias = 0; bias < 2; bias++) {
    ir_graph *g = ir_graph_new("vec");
    int x = ir_add_input(g, "x", tf32(1, 4), L0);
    int w = ir_add_param(g, "fc.weight", tf32(2, 3, 4), L0);
    int n = bias ? mk(g, IR_OP_LINEAR, "fc", 3, x, w, ir_add_param(g, "fc.bias", tf32(1, 3), L0))
                 : mk(g, IR_OP_LINEAR, "fc", 2, x, w);
    ir_add_output(g, "fc", infer(g, n));
    assert_true(check_pass_numbers(g, pass_decompose, "decompose", NULL, 1));
    assert_int_equal(g->nnodes, 4 + bias);
    assert_int_equal(g->nodes[0].op, IR_OP_RESHAPE);
    assert_int_equal(g->nodes[0].inputs[0], x);
    assert_int_equal(g->values[g->nodes[0].outputs[0]].type.rank, 2);
    assert_int_equal(count_op(g, IR_OP_MATMUL), 1);
    const ir_node *last = output_node(g, "fc");
    assert_ptr_equal(last, &g->nodes[g->nnodes - 1]);
    assert_int_equal(last->op, IR_OP_RESHAPE);
    assert_string_equal(last->name, "fc");
    const ir_type *t = &g->values[last->outputs[0]].type;
    assert_int_equal(t->rank, 1);
    assert_int_equal(t->dims[0].coef, 3);
    ir_graph_free(g);
  }
}

/* every use of the layer's result moves to the new result: nodes and outputs */
static void linear_uses_rewired(void **state) {
  (void)state;
  int x, w, b;
  ir_graph *g = linear_graph(true, &x, &w, &b);
  int y = g->outputs[0].value;
  int r = op1(g, IR_OP_RELU, "r", y);
  int s = op2(g, IR_OP_MUL, "s", y, r);
  ir_add_output(g, "s", s);
  const int64_t syms[] = {4};
  assert_true(check_pass_numbers(g, pass_decompose, "decompose", syms, 1));
  int add = find_op(g, IR_OP_ADD);
  assert_true(add >= 0);
  int res = g->nodes[add].outputs[0];
  const ir_node *relu = &g->nodes[find_op(g, IR_OP_RELU)];
  assert_int_equal(relu->inputs[0], res);
  const ir_node *mul = output_node(g, "s");
  assert_int_equal(mul->inputs[0], res);
  assert_int_equal(count_op(g, IR_OP_LINEAR), 0);
  ir_graph_free(g);
}

/* x -> dropout d -> relu r; outputs d and r */
static void dropout_is_identity(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("drop");
  int x = ir_add_input(g, "x", tf32(2, 3, 4), L0);
  int dn = mk(g, IR_OP_DROPOUT, "d", 1, x);
  ir_set_attr_float(g, dn, "p", 0.5);
  int d = infer(g, dn);
  int r = op1(g, IR_OP_RELU, "r", d);
  ir_add_output(g, "d", d);
  ir_add_output(g, "r", r);
  assert_true(check_pass_numbers(g, pass_decompose, "decompose", NULL, 1));
  assert_int_equal(g->nnodes, 1);
  assert_int_equal(g->nodes[0].op, IR_OP_RELU);
  assert_int_equal(g->nodes[0].inputs[0], x);
  assert_int_equal(g->outputs[0].value, x);
  assert_string_equal(g->outputs[0].name, "d");
  assert_int_equal(g->outputs[1].value, g->nodes[0].outputs[0]);
  ir_graph_free(g);
}

static void nothing_to_do(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("plain");
  int x = ir_add_input(g, "x", tf32(1, 8), L0);
  ir_add_output(g, "y", op1(g, IR_OP_TANH, "y", x));
  assert_false(run_pass(g, pass_decompose, "decompose"));
  assert_int_equal(g->nnodes, 1);
  ir_graph_free(g);
}

static const char *mlp_yaml =
    "seqc: 1\n"
    "name: mlp\n"
    "dims: {B: 2, T: 3}\n"
    "inputs:\n"
    "  x: {dtype: f32, shape: [B, T, 8]}\n"
    "outputs: [out, fc1]\n"
    "nodes:\n"
    "  fc1: {op: linear, input: x, out_features: 16}\n"
    "  act: {op: gelu, input: fc1}\n"
    "  drop: {op: dropout, input: act, p: 0.1}\n"
    "  ln: {op: layer_norm, input: drop}\n"
    "  fc2: {op: linear, input: ln, out_features: 8, bias: false}\n"
    "  r: {op: relu, input: fc2}\n"
    "  out: {op: add, inputs: [r, x]}\n";

static void yaml_mlp(void **state) {
  (void)state;
  ir_graph *g = load_yaml(mlp_yaml);
  const int64_t syms[] = {2, 3};
  assert_true(check_pass_numbers(g, pass_decompose, "decompose", syms, 1));
  for (int i = 0; i < g->nnodes; i++) assert_false(ir_ops[g->nodes[i].op].traits & IR_T_LAYER);
  assert_int_equal(count_op(g, IR_OP_TRANSPOSE), 2);
  assert_int_equal(count_op(g, IR_OP_MATMUL), 2);
  /* fc1's bias add, out's residual add */
  assert_int_equal(count_op(g, IR_OP_ADD), 2);
  assert_string_equal(output_node(g, "fc1")->name, "fc1");
  assert_int_equal(output_node(g, "fc1")->op, IR_OP_ADD);
  /* the layer norm now reads the gelu directly */
  const ir_node *ln = &g->nodes[find_op(g, IR_OP_LAYER_NORM)];
  assert_int_equal(g->nodes[g->values[ln->inputs[0]].def].op, IR_OP_GELU);
  /* a second run finds nothing */
  assert_false(run_pass(g, pass_decompose, "decompose"));
  ir_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(linear_with_bias),
      cmocka_unit_test(linear_of_vector),
      cmocka_unit_test(linear_without_bias),
      cmocka_unit_test(linear_uses_rewired),
      cmocka_unit_test(dropout_is_identity),
      cmocka_unit_test(nothing_to_do),
      cmocka_unit_test(yaml_mlp),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
