/* test_simplify.c: dead code, common subexpressions, constant folding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_passes.h"

static const ir_loc L0 = {1, 1};

/* a chain nobody reads goes, whole; what an output reads stays */
static void dead_code_to_fixed_point(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("dce");
  int x = ir_add_input(g, "x", tf32(2, 3, 4), L0);
  int a = op1(g, IR_OP_RELU, "a", x);
  int b = op1(g, IR_OP_TANH, "b", a);
  op2(g, IR_OP_MUL, "c", b, x);
  int k = op1(g, IR_OP_SIGMOID, "keep", x);
  int out = op1(g, IR_OP_EXP, "out", k);
  ir_add_output(g, "out", out);
  ir_add_output(g, "keep", k);
  assert_true(check_pass_numbers(g, pass_simplify, "simplify", NULL, 1));
  assert_int_equal(g->nnodes, 2);
  assert_int_equal(g->nodes[0].op, IR_OP_SIGMOID);
  assert_int_equal(g->nodes[1].op, IR_OP_EXP);
  assert_string_equal(output_node(g, "out")->name, "out");
  assert_string_equal(output_node(g, "keep")->name, "keep");
  /* nothing left to do */
  assert_false(run_pass(g, pass_simplify, "simplify"));
  ir_graph_free(g);
}

/* relu(x) twice, add(a1, y) and add(y, a2): one relu, one add */
static void cse_merges_duplicates(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("cse");
  int x = ir_add_input(g, "x", tf32(2, 3, 4), L0);
  int y = ir_add_input(g, "y", tf32(1, 4), L0);
  int a1 = op1(g, IR_OP_RELU, "a1", x);
  int a2 = op1(g, IR_OP_RELU, "a2", x);
  int s = op2(g, IR_OP_ADD, "s", a1, y);
  int t = op2(g, IR_OP_ADD, "t", y, a2);
  int out = op2(g, IR_OP_MUL, "out", s, t);
  ir_add_output(g, "out", out);
  ir_add_output(g, "t", t);
  assert_true(check_pass_numbers(g, pass_simplify, "simplify", NULL, 1));
  assert_int_equal(count_live(g), 3);
  assert_int_equal(count_op(g, IR_OP_RELU), 1);
  assert_int_equal(count_op(g, IR_OP_ADD), 1);
  const ir_node *mul = output_node(g, "out");
  assert_int_equal(mul->inputs[0], mul->inputs[1]);
  assert_int_equal(mul->inputs[0], s);
  /* the later duplicate's output now names the earlier result */
  assert_int_equal(g->outputs[1].value, s);
  assert_string_equal(g->outputs[1].name, "t");
  ir_graph_free(g);
}

/* same op and inputs but different attributes or result shapes stay apart */
static void cse_respects_attrs(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("attrs");
  int x = ir_add_input(g, "x", tf32(2, 4, 4), L0);
  int y = ir_add_input(g, "y", tf32(2, 4, 4), L0);
  int w = ir_add_param(g, "ln.weight", tf32(1, 4), L0);
  int b = ir_add_param(g, "ln.bias", tf32(1, 4), L0);
  int n;
  const char *outs[] = {"sm0", "sm1", "ln5", "ln6", "t1", "t2", "r1", "r2", "d1", "d2"};
  int v[10];
  n = mk(g, IR_OP_SOFTMAX, "sm0", 1, x);
  ir_set_attr_int(g, n, "dim", 0);
  v[0] = infer(g, n);
  n = mk(g, IR_OP_SOFTMAX, "sm1", 1, x);
  ir_set_attr_int(g, n, "dim", 1);
  v[1] = infer(g, n);
  n = mk(g, IR_OP_LAYER_NORM, "ln5", 3, x, w, b);
  ir_set_attr_float(g, n, "eps", 1e-5);
  v[2] = infer(g, n);
  n = mk(g, IR_OP_LAYER_NORM, "ln6", 3, x, w, b);
  ir_set_attr_float(g, n, "eps", 1e-6);
  v[3] = infer(g, n);
  const int64_t perm[] = {1, 0};
  n = mk(g, IR_OP_TRANSPOSE, "t1", 1, x);
  ir_set_attr_ints(g, n, "perm", perm, 2);
  v[4] = infer(g, n);
  n = mk(g, IR_OP_TRANSPOSE, "t2", 1, x);
  ir_set_attr_ints(g, n, "perm", perm, 2);
  v[5] = infer(g, n);
  /* a RESHAPE's target is its result type */
  n = mk(g, IR_OP_RESHAPE, "r1", 1, x);
  g->values[g->nodes[n].outputs[0]].type = tf32(2, 2, 8);
  v[6] = infer(g, n);
  n = mk(g, IR_OP_RESHAPE, "r2", 1, x);
  g->values[g->nodes[n].outputs[0]].type = tf32(2, 8, 2);
  v[7] = infer(g, n);
  v[8] = op2(g, IR_OP_SUB, "d1", x, y);
  v[9] = op2(g, IR_OP_SUB, "d2", y, x);
  for (int i = 0; i < 10; i++) ir_add_output(g, outs[i], v[i]);

  assert_true(check_pass_numbers(g, pass_simplify, "simplify", NULL, 1));
  /* only the two transposes merged */
  assert_int_equal(count_live(g), 9);
  assert_int_equal(count_op(g, IR_OP_TRANSPOSE), 1);
  assert_int_equal(g->outputs[5].value, g->outputs[4].value);
  assert_int_equal(g->values[g->outputs[7].value].type.dims[0].coef, 8);
  ir_graph_free(g);
}

static int add_const_f32(ir_graph *g, ir_type t, const float *data) {
  return ir_add_const(g, t, data, L0);
}

/* transpose(relu(c1 + c2)) + x: everything but the last add folds */
static void folds_constants(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("fold");
  int x = ir_add_input(g, "x", tf32(2, 3, 2), L0);
  const float c1d[6] = {1, -2, 3, -4, 5, -6}, c2d[3] = {0.5f, 1, -10};
  int c1 = add_const_f32(g, tf32(2, 2, 3), c1d);
  int c2 = add_const_f32(g, tf32(1, 3), c2d);
  int s = op2(g, IR_OP_ADD, "s", c1, c2);
  int r = op1(g, IR_OP_RELU, "r", s);
  const int64_t perm[] = {1, 0};
  int tn = mk(g, IR_OP_TRANSPOSE, "t", 1, r);
  ir_set_attr_ints(g, tn, "perm", perm, 2);
  int t = infer(g, tn);
  int out = op2(g, IR_OP_ADD, "out", t, x);
  ir_add_output(g, "out", out);

  assert_true(check_pass_numbers(g, pass_simplify, "simplify", NULL, 1));
  assert_int_equal(g->nnodes, 1);
  const ir_node *add = &g->nodes[0];
  assert_string_equal(add->name, "out");
  assert_int_equal(add->inputs[1], x);
  const ir_value *k = &g->values[add->inputs[0]];
  assert_int_equal(k->kind, IR_VAL_CONST);
  assert_int_equal(k->type.rank, 2);
  assert_int_equal(k->type.dims[0].coef, 3);
  assert_int_equal(k->type.dims[1].coef, 2);
  /* relu(c1 + c2) = relu([[1.5, -1, -7], [-3.5, 6, -16]]), transposed */
  const float want[6] = {1.5f, 0, 0, 6, 0, 0};
  for (int i = 0; i < 6; i++) assert_float_equal(((float *)k->data)[i], want[i], 0);
  ir_graph_free(g);
}

/* a const of more than 1M elements is not copied by folding, except
 * through a view (which copies nothing at run time either) */
static void fold_limits(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("big");
  int x = ir_add_input(g, "x", tf32(1, 4), L0);
  int64_t n = 1025 * 1024;
  float *big = calloc((size_t)n, sizeof(float));
  assert_non_null(big);
  big[7] = 3;
  int c = add_const_f32(g, tf32(2, 1025, 1024), big);
  free(big);
  int e = op1(g, IR_OP_EXP, "e", c);
  int rn = mk(g, IR_OP_RESHAPE, "r", 1, c);
  g->values[g->nodes[rn].outputs[0]].type = tf32(1, 1025 * 1024);
  int r = infer(g, rn);
  const float small[4] = {1, 2, 3, 4};
  int s = add_const_f32(g, tf32(1, 4), small);
  int m = op2(g, IR_OP_MUL, "m", s, x); /* reads an input: stays */
  ir_add_output(g, "e", e);
  ir_add_output(g, "r", r);
  ir_add_output(g, "m", m);

  assert_true(run_pass(g, pass_simplify, "simplify"));
  assert_int_equal(count_live(g), 2);
  assert_int_equal(count_op(g, IR_OP_EXP), 1);
  assert_int_equal(count_op(g, IR_OP_MUL), 1);
  const ir_value *rv = &g->values[g->outputs[1].value];
  assert_int_equal(rv->kind, IR_VAL_CONST);
  assert_int_equal(rv->type.rank, 1);
  assert_float_equal(((float *)rv->data)[7], 3, 0);
  ir_graph_free(g);
}

/* an embedding of constants with an index out of range is left for the run
 * to report, not folded */
static void fold_leaves_data_errors(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("emb");
  const float wd[6] = {1, 2, 3, 4, 5, 6};
  int w = add_const_f32(g, tf32(2, 3, 2), wd);
  ir_type it = {.dtype = IR_I32, .rank = 1, .dims = {ir_dim_const(2)}};
  const int32_t good[2] = {2, 0}, bad[2] = {0, 5};
  int ig = ir_add_const(g, it, good, L0), ib = ir_add_const(g, it, bad, L0);
  ir_add_output(g, "good", op2(g, IR_OP_EMBEDDING, "good", w, ig));
  ir_add_output(g, "bad", op2(g, IR_OP_EMBEDDING, "bad", w, ib));
  assert_true(run_pass(g, pass_simplify, "simplify"));
  assert_int_equal(g->nnodes, 1);
  assert_string_equal(output_node(g, "bad")->name, "bad");
  const ir_value *k = &g->values[g->outputs[0].value];
  assert_int_equal(k->kind, IR_VAL_CONST);
  const float want[4] = {5, 6, 1, 2};
  for (int i = 0; i < 4; i++) assert_float_equal(((float *)k->data)[i], want[i], 0);
  ir_graph_free(g);
}

static const char *dup_yaml =
    "seqc: 1\n"
    "name: dup\n"
    "dims: {B: 2, T: 3}\n"
    "inputs:\n"
    "  x: {dtype: f32, shape: [B, T, 8]}\n"
    "outputs: [out]\n"
    "nodes:\n"
    "  fc: {op: linear, input: x, out_features: 8}\n"
    "  a: {op: gelu, input: fc}\n"
    "  b: {op: gelu, input: fc}\n"
    "  unused: {op: tanh, input: a}\n"
    "  c: {op: mul, inputs: [a, b]}\n"
    "  ln: {op: layer_norm, input: c}\n"
    "  out: {op: add, inputs: [ln, x]}\n";

static void yaml_after_decompose(void **state) {
  (void)state;
  ir_graph *g = load_yaml(dup_yaml);
  const int64_t syms[] = {2, 3};
  assert_true(run_pass(g, pass_decompose, "decompose"));
  int before = count_live(g);
  assert_true(check_pass_numbers(g, pass_simplify, "simplify", syms, 1));
  /* one gelu merged, the tanh gone */
  assert_int_equal(count_live(g), before - 2);
  assert_int_equal(count_op(g, IR_OP_GELU), 1);
  assert_int_equal(count_op(g, IR_OP_TANH), 0);
  assert_false(run_pass(g, pass_simplify, "simplify"));
  ir_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(dead_code_to_fixed_point),
      cmocka_unit_test(cse_merges_duplicates),
      cmocka_unit_test(cse_respects_attrs),
      cmocka_unit_test(folds_constants),
      cmocka_unit_test(fold_limits),
      cmocka_unit_test(fold_leaves_data_errors),
      cmocka_unit_test(yaml_after_decompose),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
