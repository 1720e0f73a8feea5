/*
 * test_slot_attention.c: the slot_attention op's type and interpreter
 * (ir/slot_attention.c) on cases worked by hand: one head of one column
 * (the own key and one row's, softmax of scaled scores), two heads that read
 * their own columns of qkv and kv; and the types it refuses: a width not 3E,
 * heads that do not divide E, kv not [B, C, 2E], integers.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "ir.h"

static const ir_loc L0 = {1, 1};

static ir_type f32(ir_dtype dt, int64_t rows, int64_t cols) {
  return (ir_type){
      .dtype = dt, .rank = 3, .dims = {ir_dim_const(1), ir_dim_const(rows), ir_dim_const(cols)}};
}

/* a graph of one slot_attention on inputs of these types; whether it typed */
static bool build(ir_graph **out, ir_type q, ir_type kv, int64_t H, double scale) {
  ir_graph *g = ir_graph_new("slots");
  int in[2] = {ir_add_input(g, "qkv", q, L0), ir_add_input(g, "kv", kv, L0)};
  int n = ir_add_node(g, IR_OP_SLOT_ATTENTION, "heads", in, 2, L0);
  ir_set_attr_int(g, n, "num_heads", H);
  ir_set_attr_float(g, n, "scale", scale);
  ir_diags d;
  ir_diags_init(&d, "test", NULL, 0, stderr);
  bool ok = ir_infer_node(g, n, &d);
  assert_int_equal(d.nerrors, ok ? 0 : 1);
  ir_add_output(g, "heads", g->nodes[n].outputs[0]);
  *out = g;
  return ok;
}

/* slot_attention on qkv [1, 1, 3E], kv [1, 1, 2E]: the result's E values */
static void eval(int64_t E, int64_t H, double scale, float *qkv, float *kv, float *res) {
  ir_graph *g;
  assert_true(build(&g, f32(IR_F32, 1, 3 * E), f32(IR_F32, 1, 2 * E), H, scale));
  const ir_type *t = &g->values[g->outputs[0].value].type;
  assert_int_equal(t->rank, 3);
  assert_int_equal(t->dims[2].coef, E);
  seqrt_tensor in[2] = {
      {.dtype = SEQRT_F32, .rank = 3, .shape = {1, 1, 3 * E}, .data = qkv},
      {.dtype = SEQRT_F32, .rank = 3, .shape = {1, 1, 2 * E}, .data = kv},
  };
  seqrt_tensor got = {0};
  seqrt_error err = {{0}};
  assert_true(ir_eval(g, NULL, in, NULL, NULL, &got, &err));
  for (int64_t e = 0; e < E; e++) res[e] = ((float *)got.data)[e];
  free(got.data);
  ir_graph_free(g);
}

static void worked_by_hand(void **state) {
  (void)state;
  /* q 1, own key 2, own value 3; the row's key 0, value 5; scale 0.5:
   * scores 1 and 0, out = (3 e + 5) / (e + 1) */
  float qkv[3] = {1, 2, 3}, kv[2] = {0, 5}, r[1];
  eval(1, 1, 0.5, qkv, kv, r);
  double e = exp(1.0);
  assert_float_equal(r[0], (3 * e + 5) / (e + 1), 1e-6);
  /* two heads of one column: head 0 scores 0 (own) and 1, head 1 (q 0)
   * scores 0 and 0, the mean of its values */
  float qkv2[6] = {1, 0, 0, 1, 10, 20}, kv2[4] = {1, 1, 30, 40}, r2[2];
  eval(2, 2, 1.0, qkv2, kv2, r2);
  assert_float_equal(r2[0], (10 + 30 * e) / (1 + e), 1e-5);
  assert_float_equal(r2[1], 30.0, 1e-6);
}

static void refused_types(void **state) {
  (void)state;
  ir_graph *g;
  assert_false(build(&g, f32(IR_F32, 2, 7), f32(IR_F32, 3, 4), 1, 1.0)); /* 7 is no 3E */
  ir_graph_free(g);
  assert_false(build(&g, f32(IR_F32, 2, 9), f32(IR_F32, 3, 6), 2, 1.0)); /* 2 heads, E 3 */
  ir_graph_free(g);
  assert_false(build(&g, f32(IR_F32, 2, 12), f32(IR_F32, 3, 12), 2, 1.0)); /* kv 3E */
  ir_graph_free(g);
  assert_false(build(&g, f32(IR_I32, 2, 12), f32(IR_F32, 3, 8), 2, 1.0));
  ir_graph_free(g);
  assert_true(build(&g, f32(IR_F32, 2, 12), f32(IR_F32, 3, 8), 2, 1.0));
  ir_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(worked_by_hand),
      cmocka_unit_test(refused_types),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
