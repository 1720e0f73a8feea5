/*
 * test_derived.c: derived symbols (ir_dim_floordiv): canonical definitions
 * and hash-consing (equal lengths are equal dims), gcd reduction, constant
 * folding, composition of floor divisions, their values (ir_syms_complete,
 * ir_sym_too_small), printing, and the conv1d and segment-scan lengths that
 * shape inference gives through them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

static const ir_loc L = {1, 1};

/* graph with base symbols B (0) and T (1) */
static ir_graph *bt_graph(void) {
  ir_graph *g = ir_graph_new("d");
  ir_graph_add_sym(g, "B", 2, L);
  ir_graph_add_sym(g, "T", 8, L);
  return g;
}

static ir_dim c(int64_t n) { return ir_dim_const(n); }
static ir_dim s(int sym, int64_t coef) { return (ir_dim){coef, {(int8_t)sym, -1}}; }

/* floor((a + b) / den), asserting it can be made */
static ir_dim fd(ir_graph *g, ir_dim a, ir_dim b, int64_t den) {
  ir_dim t[2] = {a, b}, out;
  assert_true(ir_dim_floordiv(g, t, 2, den, 1, "test", L, &out));
  return out;
}

static const char *str(ir_graph *g, ir_dim d) {
  static char buf[128];
  return ir_dim_str(g, d, buf, sizeof buf);
}

static void test_constants_and_plain_dims_fold(void **state) {
  (void)state;
  ir_graph *g = bt_graph();
  /* (37 + 2 - 2 - 1 + 2) / 2 = 19: a constant input folds */
  ir_dim d = fd(g, c(37), c(1), 2);
  assert_true(ir_dim_is_const(d));
  assert_int_equal(d.coef, 19);
  /* floor(-3 / 2) = -2, not C's -1 */
  assert_int_equal(fd(g, c(-3), c(0), 2).coef, -2);
  /* (4*T)/2 = 2*T; (T + 0)/1 = T; (2*T + 3)/2 = T + 1 (a sum: derived, den 1) */
  assert_true(ir_dim_eq(fd(g, s(1, 4), c(0), 2), s(1, 2)));
  assert_true(ir_dim_eq(fd(g, s(1, 1), c(0), 1), ir_dim_sym(1)));
  ir_dim t1 = fd(g, s(1, 2), c(3), 2);
  assert_string_equal(str(g, t1), "T+1");
  assert_int_equal(g->nderived, 1);
  ir_graph_free(g);
}

static void test_equal_definitions_share_a_symbol(void **state) {
  (void)state;
  ir_graph *g = bt_graph();
  /* a chunk-2 scan's T/2 and a kernel-2 stride-2 conv's floor((T-2)/2)+1 */
  ir_dim scan = fd(g, s(1, 1), c(0), 2);
  ir_dim conv = fd(g, s(1, 1), c(-2 + 2), 2);
  assert_false(ir_dim_is_const(scan));
  assert_true(ir_dim_eq(scan, conv));
  assert_int_equal(g->nderived, 1);
  /* gcd: (2*T + 2)/4 = (T + 1)/2, once */
  ir_dim a = fd(g, s(1, 1), c(1), 2), b = fd(g, s(1, 2), c(2), 4);
  assert_true(ir_dim_eq(a, b));
  /* (2*T + 3)/4 = (T + 1)/2 too: floor(3/2) = 1 */
  assert_true(ir_dim_eq(a, fd(g, s(1, 2), c(3), 4)));
  /* order of terms and like terms merged: (1 + T + T - T)/2 */
  ir_dim t[4] = {c(1), s(1, 1), s(1, 1), s(1, -1)}, m;
  assert_true(ir_dim_floordiv(g, t, 4, 2, 1, "test", L, &m));
  assert_true(ir_dim_eq(a, m));
  assert_int_equal(g->nderived, 2);
  /* different definitions differ */
  assert_false(ir_dim_eq(a, fd(g, s(1, 1), c(-1), 2)));
  assert_false(ir_dim_eq(a, fd(g, s(1, 1), c(1), 3)));
  assert_int_equal(g->nderived, 4);
  ir_graph_free(g);
}

static void test_too_many_terms_is_refused(void **state) {
  (void)state;
  ir_graph *g = bt_graph();
  ir_dim t[5] = {s(0, 1), s(1, 1), (ir_dim){1, {0, 1}}, (ir_dim){1, {0, 0}}, c(1)}, out;
  assert_true(ir_dim_floordiv(g, t, 4, 2, 1, "test", L, &out)); /* four terms fit */
  assert_false(ir_dim_floordiv(g, t, 5, 2, 1, "test", L, &out));
  assert_int_equal(g->nderived, 1);
  ir_graph_free(g);
}

static void test_floor_divisions_compose(void **state) {
  (void)state;
  ir_graph *g = bt_graph();
  /* conv k3 s2 p1 twice: floor((floor((T+1)/2) + 1)/2) = floor((T+3)/4) */
  ir_dim d1 = fd(g, s(1, 1), c(1), 2);
  ir_dim d2 = fd(g, d1, c(1), 2);
  assert_string_equal(str(g, d2), "(T+3)/4");
  ir_dim direct = fd(g, s(1, 1), c(3), 4);
  assert_true(ir_dim_eq(d2, direct));
  /* a sum over a derived sum expands: (T-2) - 2 = T-4 */
  ir_dim m2 = fd(g, s(1, 1), c(-2), 1);
  assert_string_equal(str(g, m2), "T-2");
  assert_string_equal(str(g, fd(g, m2, c(-2), 1)), "T-4");
  /* 2 * floor(x/2) does not fold into one division: a symbol over a symbol */
  ir_dim two = (ir_dim){2, {d1.sym[0], -1}};
  ir_dim n = fd(g, two, c(1), 3);
  assert_string_equal(str(g, n), "(2*((T+1)/2)+1)/3");
  ir_graph_free(g);
}

static void test_values_follow_the_base_symbols(void **state) {
  (void)state;
  ir_graph *g = bt_graph();
  ir_dim half = fd(g, s(1, 1), c(-3), 2); /* (T-3)/2, a length: min 1 */
  ir_dim bt = fd(g, (ir_dim){1, {0, 1}}, c(0), 4); /* (B*T)/4 */
  int h = half.sym[0], q = bt.sym[0];
  assert_int_equal(ir_syms_count(g), 4);
  int64_t syms[IR_MAX_SYMS] = {3, 10};
  ir_syms_complete(g, syms);
  assert_int_equal(syms[h], 3);
  assert_int_equal(syms[q], 7);
  assert_false(ir_sym_too_small(g, h, syms));
  syms[1] = 4; /* (4-3)/2 = 0: too small */
  ir_syms_complete(g, syms);
  assert_int_equal(syms[h], 0);
  assert_true(ir_sym_too_small(g, h, syms));
  char buf[64];
  assert_string_equal(ir_sym_inputs_str(g, h, syms, buf, sizeof buf), "T = 4");
  assert_string_equal(ir_sym_inputs_str(g, q, syms, buf, sizeof buf), "B = 3, T = 4");
  syms[1] = 1; /* floor(-2/2) = -1: a real value, not "unknown" */
  ir_syms_complete(g, syms);
  assert_int_equal(syms[h], -1);
  assert_true(ir_sym_too_small(g, h, syms));
  syms[1] = -1; /* T left to run time: unknown, no error */
  ir_syms_complete(g, syms);
  assert_int_equal(syms[h], -1);
  assert_int_equal(syms[q], -1);
  assert_false(ir_sym_too_small(g, h, syms));
  ir_graph_free(g);
}

static void test_printing_is_unambiguous(void **state) {
  (void)state;
  ir_graph *g = bt_graph();
  ir_dim d = fd(g, s(1, 1), c(-1), 2);
  assert_string_equal(str(g, d), "(T-1)/2");
  ir_dim prod;
  assert_true(ir_dim_mul(ir_dim_sym(0), d, &prod));
  assert_string_equal(str(g, prod), "B*((T-1)/2)");
  assert_true(ir_dim_mul(c(3), d, &prod));
  assert_string_equal(str(g, prod), "3*((T-1)/2)");
  assert_string_equal(str(g, fd(g, s(1, 1), c(0), 4)), "T/4");
  assert_string_equal(str(g, fd(g, s(1, 2), c(0), 3)), "(2*T)/3");
  assert_string_equal(str(g, fd(g, s(0, -1), s(1, 1), 1)), "-B+T");
  ir_type t = {.dtype = IR_F32, .rank = 3, .dims = {ir_dim_sym(0), d, c(4)}};
  char buf[128];
  assert_string_equal(ir_type_str(g, &t, buf, sizeof buf), "[B, (T-1)/2, 4]");
  ir_graph_free(g);
}

static void test_clone_keeps_derived_symbols(void **state) {
  (void)state;
  ir_graph *g = bt_graph();
  ir_dim d = fd(g, s(1, 1), c(-1), 2);
  ir_graph *k = ir_graph_clone(g);
  assert_int_equal(k->nderived, 1);
  assert_true(ir_dim_eq(fd(k, s(1, 1), c(-1), 2), d));
  assert_int_equal(k->nderived, 1);
  assert_string_equal(k->syms[d.sym[0]].what, "test");
  ir_graph_free(g);
  ir_graph_free(k);
}

/* conv1d's inferred length: floor((T + 2p - dil*(k-1) - 1) / s) + 1 */
static void test_conv1d_length_is_derived(void **state) {
  (void)state;
  ir_graph *g = bt_graph();
  ir_type xt = {.dtype = IR_F32, .rank = 3, .dims = {ir_dim_sym(0), ir_dim_sym(1), c(4)}};
  ir_type wt = {.dtype = IR_F32, .rank = 3, .dims = {c(5), c(4), c(6)}};
  int x = ir_add_input(g, "x", xt, L);
  int w = ir_add_param(g, "c.weight", wt, L);
  int ins[2] = {x, w};
  int n = ir_add_node(g, IR_OP_CONV1D, "c", ins, 2, L);
  ir_set_attr_int(g, n, "stride", 3);
  ir_set_attr_int(g, n, "padding", 1);
  ir_set_attr_int(g, n, "dilation", 2);
  ir_diags d;
  ir_diags_init(&d, "t.yaml", NULL, 0, stderr);
  assert_true(ir_infer_node(g, n, &d));
  const ir_type *o = &g->values[g->nodes[n].outputs[0]].type;
  char buf[128];
  /* floor((T + 2 - 8 - 1)/3) + 1 = floor((T - 4)/3) */
  assert_string_equal(ir_type_str(g, o, buf, sizeof buf), "[B, (T-4)/3, 6]");
  int sym = o->dims[1].sym[0];
  assert_string_equal(g->syms[sym].what, "conv1d 'c': output length");
  assert_int_equal(g->syms[sym].min, 1);
  /* nn.Conv1d's length at T = 37: (37 + 2 - 8 - 1)/3 + 1 = 11 */
  int64_t syms[IR_MAX_SYMS] = {2, 37};
  ir_syms_complete(g, syms);
  assert_int_equal(ir_dim_eval(o->dims[1], syms), 11);
  ir_graph_free(g);
}

/* zero weights of the shape asked for */
static bool zero_param(void *user, const char *name, seqrt_tensor *out) {
  (void)name;
  static float w[5 * 4 * 6];
  *out = (seqrt_tensor){.dtype = SEQRT_F32, .rank = 3, .shape = {5, 4, 6}, .data = w};
  (void)user;
  return true;
}

/* the interpreter takes base values only and computes the derived ones */
static void test_eval_completes_derived_values(void **state) {
  (void)state;
  ir_graph *g = bt_graph();
  ir_type xt = {.dtype = IR_F32, .rank = 3, .dims = {ir_dim_sym(0), ir_dim_sym(1), c(4)}};
  ir_type wt = {.dtype = IR_F32, .rank = 3, .dims = {c(5), c(4), c(6)}};
  int ins[2] = {ir_add_input(g, "x", xt, L), ir_add_param(g, "c.weight", wt, L)};
  int n = ir_add_node(g, IR_OP_CONV1D, "c", ins, 2, L);
  ir_set_attr_int(g, n, "stride", 3);
  ir_set_attr_int(g, n, "padding", 1);
  ir_set_attr_int(g, n, "dilation", 2);
  ir_diags d;
  ir_diags_init(&d, "t.yaml", NULL, 0, stderr);
  assert_true(ir_infer_node(g, n, &d));
  ir_add_output(g, "c", g->nodes[n].outputs[0]);
  static float x[2 * 37 * 4];
  seqrt_tensor in = {.dtype = SEQRT_F32, .rank = 3, .shape = {2, 37, 4}, .data = x}, out;
  seqrt_error err;
  int64_t base[2] = {2, 37}; /* no room for derived values: ir_eval has its own */
  assert_true(ir_eval(g, base, &in, zero_param, NULL, &out, &err));
  assert_int_equal(out.rank, 3);
  assert_int_equal(out.shape[1], 11); /* (37 + 2 - 8 - 1)/3 + 1 */
  free(out.data);
  int64_t short_t[2] = {2, 4};
  in.shape[1] = 4;
  assert_false(ir_eval(g, short_t, &in, zero_param, NULL, &out, &err));
  assert_string_equal(err.msg, "conv1d 'c': output length (T-4)/3 is 0 for T = 4");
  ir_graph_free(g);
}

/* the verifier checks that a derived symbol reads only earlier symbols */
static void test_verifier_checks_definitions(void **state) {
  (void)state;
  ir_graph *g = bt_graph();
  ir_dim d = fd(g, s(1, 1), c(-1), 2);
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_true(ir_verify(g, "test", f));
  g->syms[d.sym[0]].terms[0].sym[0] = (int8_t)d.sym[0]; /* reads itself */
  assert_false(ir_verify(g, "test", f));
  fclose(f);
  assert_non_null(strstr(text, "IR verifier after 'test': derived symbol 2 ((T-1)/2) reads "
                               "symbol 2, not an earlier one\n"));
  free(text);
  ir_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_constants_and_plain_dims_fold),
      cmocka_unit_test(test_equal_definitions_share_a_symbol),
      cmocka_unit_test(test_too_many_terms_is_refused),
      cmocka_unit_test(test_floor_divisions_compose),
      cmocka_unit_test(test_values_follow_the_base_symbols),
      cmocka_unit_test(test_printing_is_unambiguous),
      cmocka_unit_test(test_clone_keeps_derived_symbols),
      cmocka_unit_test(test_conv1d_length_is_derived),
      cmocka_unit_test(test_verifier_checks_definitions),
      cmocka_unit_test(test_eval_completes_derived_values),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
