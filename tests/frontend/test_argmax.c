/*
 * test_argmax.c: the argmax op (SPEC 11) from YAML to the interpreter: its
 * result type (i64, the dim dropped or kept), its errors, positioned, and the
 * interpreter's answers on rows picked by hand: the lowest index of equal
 * largest values, NaN larger than any number (the first NaN wins), -inf and
 * -0.0.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fe_test.h"

#define HEAD                              \
  "seqc: 1\n"                             \
  "name: m\n"                             \
  "dims: {B: 2, T: 5}\n"                  \
  "inputs:\n"                             \
  "  x: {dtype: f32, shape: [B, T, 4]}\n" \
  "  tok: {dtype: i32, shape: [B, T]}\n"  \
  "outputs: [a, tok]\n"                   \
  "nodes:\n"

static void types(void **state) {
  (void)state;
  ir_graph *g = lower_ok(HEAD
                         "  a: {op: argmax, input: x}\n"
                         "  b: {op: argmax, input: x, dim: 1}\n"
                         "  c: {op: argmax, input: x, dim: 0, keepdim: true}\n"
                         "  d: {op: argmax, input: x, dim: -2, keepdim: false}\n"
                         "  e: {op: add, inputs: [x, 1]}\n"
                         "  f: {op: concat, inputs: [b, d], dim: 1}\n");
  assert_string_equal(type_of(g, "a"), "i64 [B, T]");
  assert_string_equal(type_of(g, "b"), "i64 [B, 4]");
  assert_string_equal(type_of(g, "c"), "i64 [1, T, 4]");
  assert_string_equal(type_of(g, "f"), "i64 [B, 8]");
  assert_int_equal(ir_attr_int(node_named(g, "a"), "dim"), 2);
  assert_int_equal(ir_attr_int(node_named(g, "d"), "dim"), 1);
  ir_graph_free(g);
}

static void errors(void **state) {
  (void)state;
  expect_error(HEAD "  a: {op: argmax, input: tok}\n",
               "t.yaml:9:3: error: argmax 'a': expected f32, got i32 [B, T]");
  expect_error(HEAD "  a: {op: argmax, input: x, dim: 3}\n",
               "t.yaml:9:34: error: attribute 'dim' of 'a': dim 3 is out of range for [B, T, 4]");
  expect_error(HEAD "  a: {op: argmax, input: x, keepdim: 2}\n",
               "t.yaml:9:38: error: attribute 'keepdim' of 'a' must be true or false");
  expect_error(HEAD "  a: {op: argmax, input: x, index: 2}\n",
               "t.yaml:9:29: error: unknown attribute 'index' for op 'argmax'");
}

/* the interpreter on x [3, 6] of hand-picked rows, along dim 1, and along dim 0 */
static void answers(void **state) {
  (void)state;
  ir_graph *g = lower_ok(
      "seqc: 1\nname: m\ninputs: {x: {dtype: f32, shape: [3, 6]}}\n"
      "outputs: [r, c]\nnodes:\n"
      "  r: {op: argmax, input: x}\n"
      "  c: {op: argmax, input: x, dim: 0, keepdim: true}\n");
  const float inf = INFINITY, nan = NAN;
  float x[3][6] = {
      {1, 5, 2, 5, -inf, 5},        /* equal largest at 1, 3, 5: 1 */
      {-inf, -inf, nan, 9, nan, 0}, /* the first NaN: 2 */
      {-0.0f, 0, -inf, 9, -1, 0},   /* 9 at 3 */
  };
  seqrt_tensor in = {.dtype = SEQRT_F32, .rank = 2, .shape = {3, 6}, .data = x}, out[2];
  seqrt_error err = {{0}};
  int64_t syms[1] = {0};
  assert_true(ir_eval(g, syms, &in, NULL, NULL, out, &err));
  assert_int_equal(out[0].dtype, SEQRT_I64);
  const int64_t *r = out[0].data, *c = out[1].data;
  assert_int_equal(r[0], 1);
  assert_int_equal(r[1], 2);
  assert_int_equal(r[2], 3);
  /* columns: 1 vs -inf vs -0 -> 0; 5, -inf, 0 -> 0; 2, NaN, -inf -> 1; 5, 9, 9 -> 1;
   * -inf, NaN, -1 -> 1; 5, 0, 0 -> 0 */
  assert_int_equal(out[1].rank, 2);
  assert_int_equal(out[1].shape[0], 1);
  static const int64_t want[6] = {0, 0, 1, 1, 1, 0};
  for (int k = 0; k < 6; k++) assert_int_equal(c[k], want[k]);
  /* a row that is all -inf, and -0.0 tied with 0.0: the first */
  float y[3][6] = {{-inf, -inf, -inf, -inf, -inf, -inf}, {-0.0f, 0, -0.0f, 0, 0, 0}, {0}};
  in.data = y;
  free(out[0].data);
  free(out[1].data);
  assert_true(ir_eval(g, syms, &in, NULL, NULL, out, &err));
  assert_int_equal(((int64_t *)out[0].data)[0], 0);
  assert_int_equal(((int64_t *)out[0].data)[1], 0);
  free(out[0].data);
  free(out[1].data);
  ir_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(types),
      cmocka_unit_test(errors),
      cmocka_unit_test(answers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
