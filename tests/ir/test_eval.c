/*
 * test_eval.c: the reference interpreter, op by op, on small cases whose
 * answers were worked out by hand or taken from PyTorch 1.13 (float32).
 *
 * Graphs are built by hand with result types set directly, so these tests do
 * not depend on shape inference.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

static const ir_loc L = {1, 1};

/* a type with constant dims */
static ir_type ty(ir_dtype dt, int rank, ...) {
  ir_type t = {.dtype = dt, .rank = rank};
  va_list ap;
  va_start(ap, rank);
  for (int i = 0; i < rank; i++) t.dims[i] = ir_dim_const(va_arg(ap, int));
  va_end(ap);
  return t;
}

/* appends a node with result type t; returns its result value */
static int add(ir_graph *g, ir_op op, const char *name, ir_type t, int nin, ...) {
  int ins[16];
  va_list ap;
  va_start(ap, nin);
  for (int i = 0; i < nin; i++) ins[i] = va_arg(ap, int);
  va_end(ap);
  int n = ir_add_node(g, op, name, ins, nin, L);
  int v = g->nodes[n].outputs[0];
  g->values[v].type = t;
  return v;
}

/* the node that defines value v */
static int node_of(ir_graph *g, int v) { return g->values[v].def; }

static seqrt_tensor tensor(seqrt_dtype dt, const void *data, int rank, ...) {
  seqrt_tensor t = {.dtype = dt, .rank = rank, .data = (void *)data};
  va_list ap;
  va_start(ap, rank);
  for (int i = 0; i < rank; i++) t.shape[i] = va_arg(ap, int);
  va_end(ap);
  return t;
}

/* parameters by name, for get_param */
typedef struct params {
  int n;                 /* entries */
  const char *names[8];  /* their names */
  seqrt_tensor t[8];     /* their tensors */
} params;

static bool get_param(void *user, const char *name, seqrt_tensor *out) {
  params *p = user;
  for (int i = 0; p && i < p->n; i++)
    if (strcmp(p->names[i], name) == 0) {
      *out = p->t[i];
      return true;
    }
  return false;
}

static void close_enough(const float *got, const float *want, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    double tol = 1e-4 + 1e-4 * fabs(want[i]);
    if (!(fabs((double)got[i] - want[i]) <= tol))
      fail_msg("element %lld: got %.8g, want %.8g", (long long)i, got[i], want[i]);
  }
}

static void shape_is(const seqrt_tensor *t, int rank, const int64_t *shape) {
  assert_int_equal(t->rank, rank);
  for (int i = 0; i < rank; i++) assert_int_equal(t->shape[i], shape[i]);
}

/* runs g (must succeed) into outs[0..g->noutputs) */
static void run_ok(ir_graph *g, const int64_t *syms, const seqrt_tensor *in, params *p,
                   seqrt_tensor *outs) {
  seqrt_error err = {""};
  bool ok = ir_eval(g, syms, in, get_param, p, outs, &err);
  if (!ok) fail_msg("ir_eval failed: %s", err.msg);
}

/* runs g, which must fail, and returns the message */
static void run_fails(ir_graph *g, const int64_t *syms, const seqrt_tensor *in, params *p,
                      seqrt_error *err) {
  seqrt_tensor outs[8];
  memset(outs, 0, sizeof outs);
  assert_false(ir_eval(g, syms, in, get_param, p, outs, err));
  for (int i = 0; i < 8; i++) assert_null(outs[i].data);
}

static void free_outs(seqrt_tensor *outs, int n) {
  for (int i = 0; i < n; i++) free(outs[i].data);
}

/* checks output i: shape and f32 values */
#define CHECK_OUT(outs, i, rank, shape_init, want_init)         \
  do {                                                          \
    const int64_t shape_[] = shape_init;                        \
    const float want_[] = want_init;                            \
    shape_is(&(outs)[i], rank, shape_);                         \
    assert_int_equal((outs)[i].dtype, SEQRT_F32);               \
    assert_int_equal(seqrt_tensor_numel(&(outs)[i]),            \
                     (int64_t)(sizeof want_ / sizeof want_[0])); \
    close_enough((outs)[i].data, want_, sizeof want_ / sizeof want_[0]); \
  } while (0)
#define A(...) {__VA_ARGS__}

static void test_binary_broadcast(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("bin");
  int a = ir_add_input(g, "a", ty(IR_F32, 2, 2, 3), L);
  int b = ir_add_input(g, "b", ty(IR_F32, 1, 3), L);
  int c = ir_add_input(g, "c", ty(IR_F32, 3, 2, 1, 3), L);
  int d = ir_add_input(g, "d", ty(IR_F32, 2, 4, 1), L);
  float two = 2.0f;
  int s = ir_add_const(g, ty(IR_F32, 0), &two, L);
  ir_add_output(g, "add", add(g, IR_OP_ADD, "add", ty(IR_F32, 2, 2, 3), 2, a, b));
  ir_add_output(g, "mul", add(g, IR_OP_MUL, "mul", ty(IR_F32, 3, 2, 4, 3), 2, c, d));
  ir_add_output(g, "div", add(g, IR_OP_DIV, "div", ty(IR_F32, 2, 2, 3), 2, a, s));
  ir_add_output(g, "sub", add(g, IR_OP_SUB, "sub", ty(IR_F32, 1, 3), 2, s, b));
  float av[] = {1, 2, 3, 4, 5, 6}, bv[] = {10, 20, 30}, dv[] = {1, 2, 3, 4};
  seqrt_tensor in[] = {tensor(SEQRT_F32, av, 2, 2, 3), tensor(SEQRT_F32, bv, 1, 3),
                       tensor(SEQRT_F32, av, 3, 2, 1, 3), tensor(SEQRT_F32, dv, 2, 4, 1)};
  seqrt_tensor outs[4];
  run_ok(g, NULL, in, NULL, outs);
  CHECK_OUT(outs, 0, 2, A(2, 3), A(11, 22, 33, 14, 25, 36));
  CHECK_OUT(outs, 1, 3, A(2, 4, 3),
            A(1, 2, 3, 2, 4, 6, 3, 6, 9, 4, 8, 12, 4, 5, 6, 8, 10, 12, 12, 15, 18, 16, 20, 24));
  CHECK_OUT(outs, 2, 2, A(2, 3), A(0.5, 1, 1.5, 2, 2.5, 3));
  CHECK_OUT(outs, 3, 1, A(3), A(-8, -18, -28));
  free_outs(outs, 4);
  ir_graph_free(g);
}

static void test_unary(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("unary");
  int x = ir_add_input(g, "x", ty(IR_F32, 1, 8), L);
  ir_op ops[] = {IR_OP_RELU, IR_OP_GELU, IR_OP_GELU, IR_OP_TANH,
                 IR_OP_SIGMOID, IR_OP_SILU, IR_OP_EXP};
  for (int i = 0; i < 7; i++) {
    int v = add(g, ops[i], "u", ty(IR_F32, 1, 8), 1, x);
    if (ops[i] == IR_OP_GELU) ir_set_attr_int(g, node_of(g, v), "tanh", i == 2);
    ir_add_output(g, "u", v);
  }
  float xv[] = {-3.0f, -1.5f, -0.25f, 0.0f, 0.5f, 1.0f, 2.5f, 4.0f};
  seqrt_tensor in = tensor(SEQRT_F32, xv, 1, 8), outs[7];
  run_ok(g, NULL, &in, NULL, outs);
  /* PyTorch 1.13: relu, gelu, gelu(approximate='tanh'), tanh, sigmoid, silu, exp */
  CHECK_OUT(outs, 0, 1, A(8), A(0, 0, 0, 0, 0.5f, 1, 2.5f, 4));
  CHECK_OUT(outs, 1, 1, A(8),
            A(-0.0040498674f, -0.10021086f, -0.10032343f, 0, 0.3457312f, 0.84134471f, 2.4844759f,
              3.9998732f));
  CHECK_OUT(outs, 2, 1, A(8),
            A(-0.0036374331f, -0.10042843f, -0.10032465f, 0, 0.345714f, 0.84119201f, 2.4849157f,
              3.9999299f));
  CHECK_OUT(outs, 3, 1, A(8),
            A(-0.99505478f, -0.90514827f, -0.24491866f, 0, 0.46211717f, 0.76159418f, 0.98661429f,
              0.99932933f));
  CHECK_OUT(outs, 4, 1, A(8),
            A(0.047425874f, 0.18242553f, 0.4378235f, 0.5f, 0.62245935f, 0.7310586f, 0.92414182f,
              0.98201376f));
  CHECK_OUT(outs, 5, 1, A(8),
            A(-0.14227761f, -0.27363828f, -0.10945588f, 0, 0.31122968f, 0.7310586f, 2.3103545f,
              3.928055f));
  CHECK_OUT(outs, 6, 1, A(8),
            A(0.049787067f, 0.22313017f, 0.77880079f, 1, 1.6487212f, 2.7182817f, 12.182494f,
              54.598152f));
  free_outs(outs, 7);
  ir_graph_free(g);
}

static void test_matmul_batched(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("mm");
  int a = ir_add_input(g, "a", ty(IR_F32, 4, 2, 1, 2, 2), L);
  int b = ir_add_param(g, "b", ty(IR_F32, 3, 3, 2, 2), L);
  int a2 = ir_add_input(g, "a2", ty(IR_F32, 2, 2, 3), L);
  int b2 = ir_add_param(g, "b2", ty(IR_F32, 2, 4, 3), L);
  int m0 = add(g, IR_OP_MATMUL, "mm", ty(IR_F32, 4, 2, 3, 2, 2), 2, a, b);
  ir_set_attr_int(g, node_of(g, m0), "trans_b", 0);
  int m1 = add(g, IR_OP_MATMUL, "mm_tb", ty(IR_F32, 4, 2, 3, 2, 2), 2, a, b);
  ir_set_attr_int(g, node_of(g, m1), "trans_b", 1);
  int m2 = add(g, IR_OP_MATMUL, "mm_tb2", ty(IR_F32, 2, 2, 4), 2, a2, b2);
  ir_set_attr_int(g, node_of(g, m2), "trans_b", 1);
  ir_add_output(g, "mm", m0);
  ir_add_output(g, "mm_tb", m1);
  ir_add_output(g, "mm_tb2", m2);
  float av[8], bv[12], a2v[6], b2v[12];
  for (int i = 0; i < 8; i++) av[i] = i * 0.5f - 1.0f;
  for (int i = 0; i < 12; i++) bv[i] = i * 0.25f - 1.0f;
  for (int i = 0; i < 6; i++) a2v[i] = i - 2.0f;
  for (int i = 0; i < 12; i++) b2v[i] = i * 0.5f;
  seqrt_tensor in[] = {tensor(SEQRT_F32, av, 4, 2, 1, 2, 2), tensor(SEQRT_F32, a2v, 2, 2, 3)};
  params p = {2, {"b", "b2"}, {tensor(SEQRT_F32, bv, 3, 3, 2, 2), tensor(SEQRT_F32, b2v, 2, 4, 3)}};
  seqrt_tensor outs[3];
  run_ok(g, NULL, in, &p, outs);
  CHECK_OUT(outs, 0, 4, A(2, 3, 2, 2),
            A(1.25f, 0.875f, -0.25f, -0.125f, -0.25f, -0.625f, 0.25f, 0.375f, -1.75f, -2.125f,
              0.75f, 0.875f, -1.75f, -1.125f, -3.25f, -2.125f, 0.75f, 1.375f, 1.25f, 2.375f, 3.25f,
              3.875f, 5.75f, 6.875f));
  CHECK_OUT(outs, 1, 4, A(2, 3, 2, 2),
            A(1.375f, 0.625f, -0.375f, -0.125f, -0.125f, -0.875f, 0.125f, 0.375f, -1.625f,
              -2.375f, 0.625f, 0.875f, -2.125f, -0.875f, -3.875f, -1.625f, 0.375f, 1.625f, 0.625f,
              2.875f, 2.875f, 4.125f, 5.125f, 7.375f));
  CHECK_OUT(outs, 2, 2, A(2, 4), A(-0.5f, -5, -9.5f, -14, 4, 13, 22, 31));
  free_outs(outs, 3);
  ir_graph_free(g);
}

static void test_softmax_middle_dim(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("sm");
  int x = ir_add_input(g, "x", ty(IR_F32, 3, 2, 3, 2), L);
  int s = add(g, IR_OP_SOFTMAX, "sm", ty(IR_F32, 3, 2, 3, 2), 1, x);
  ir_set_attr_int(g, node_of(g, s), "dim", 1);
  ir_add_output(g, "sm", s);
  /* large values too: the stable form must not overflow */
  float xv[] = {1, 2, 3, -1, 0.5f, 0, -2, 4, 0, 0, 1, 1};
  seqrt_tensor in = tensor(SEQRT_F32, xv, 3, 2, 3, 2), outs[1];
  run_ok(g, NULL, &in, NULL, outs);
  CHECK_OUT(outs, 0, 3, A(2, 3, 2),
            A(0.11116561f, 0.8437947f, 0.82140899f, 0.042010065f, 0.067425355f, 0.1141952f,
              0.035119023f, 0.93623954f, 0.25949645f, 0.017147826f, 0.70538449f, 0.04661262f));
  free_outs(outs, 1);
  for (int i = 0; i < 12; i++) xv[i] += 1000.0f;
  run_ok(g, NULL, &in, NULL, outs);
  CHECK_OUT(outs, 0, 3, A(2, 3, 2),
            A(0.11116561f, 0.8437947f, 0.82140899f, 0.042010065f, 0.067425355f, 0.1141952f,
              0.035119023f, 0.93623954f, 0.25949645f, 0.017147826f, 0.70538449f, 0.04661262f));
  free_outs(outs, 1);
  ir_graph_free(g);
}

static void test_norms(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("norms");
  int x = ir_add_input(g, "x", ty(IR_F32, 2, 2, 4), L);
  int w = ir_add_param(g, "ln.weight", ty(IR_F32, 1, 4), L);
  int b = ir_add_param(g, "ln.bias", ty(IR_F32, 1, 4), L);
  int ln = add(g, IR_OP_LAYER_NORM, "ln", ty(IR_F32, 2, 2, 4), 3, x, w, b);
  ir_set_attr_float(g, node_of(g, ln), "eps", 1e-5);
  int rms = add(g, IR_OP_RMS_NORM, "rms", ty(IR_F32, 2, 2, 4), 2, x, w);
  ir_set_attr_float(g, node_of(g, rms), "eps", 1e-6);
  ir_add_output(g, "ln", ln);
  ir_add_output(g, "rms", rms);
  float xv[] = {1, 2, 3, 4, -1, 0.5f, 0, 2}, wv[] = {1, 0.5f, -1, 2}, bv[] = {0, 0.1f, 0.2f, -0.3f};
  seqrt_tensor in = tensor(SEQRT_F32, xv, 2, 2, 4), outs[2];
  params p = {2,
              {"ln.weight", "ln.bias"},
              {tensor(SEQRT_F32, wv, 1, 4), tensor(SEQRT_F32, bv, 1, 4)}};
  run_ok(g, NULL, &in, &p, outs);
  CHECK_OUT(outs, 0, 2, A(2, 4),
            A(-1.3416355f, -0.12360593f, -0.2472118f, 2.383271f, -1.2701652f, 0.15773478f,
              0.54640871f, 2.7022088f));
  CHECK_OUT(outs, 1, 2, A(2, 4),
            A(0.36514837f, 0.36514837f, -1.095445f, 2.9211869f, -0.87287128f, 0.21821782f, 0,
              3.4914851f));
  free_outs(outs, 2);
  ir_graph_free(g);
}

static void test_mean(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("mean");
  int x = ir_add_input(g, "x", ty(IR_F32, 2, 2, 3), L);
  int y = ir_add_input(g, "y", ty(IR_F32, 3, 2, 3, 2), L);
  int m0 = add(g, IR_OP_MEAN, "keep", ty(IR_F32, 2, 2, 1), 1, x);
  ir_set_attr_int(g, node_of(g, m0), "dim", 1);
  ir_set_attr_int(g, node_of(g, m0), "keepdim", 1);
  int m1 = add(g, IR_OP_MEAN, "drop", ty(IR_F32, 1, 3), 1, x);
  ir_set_attr_int(g, node_of(g, m1), "dim", 0);
  ir_set_attr_int(g, node_of(g, m1), "keepdim", 0);
  int m2 = add(g, IR_OP_MEAN, "mid", ty(IR_F32, 3, 2, 1, 2), 1, y);
  ir_set_attr_int(g, node_of(g, m2), "dim", 1);
  ir_set_attr_int(g, node_of(g, m2), "keepdim", 1);
  ir_add_output(g, "keep", m0);
  ir_add_output(g, "drop", m1);
  ir_add_output(g, "mid", m2);
  float xv[] = {1, 2, 3, 4, 5, 6}, yv[12];
  for (int i = 0; i < 12; i++) yv[i] = (float)i;
  seqrt_tensor in[] = {tensor(SEQRT_F32, xv, 2, 2, 3), tensor(SEQRT_F32, yv, 3, 2, 3, 2)};
  seqrt_tensor outs[3];
  run_ok(g, NULL, in, NULL, outs);
  CHECK_OUT(outs, 0, 2, A(2, 1), A(2, 5));
  CHECK_OUT(outs, 1, 1, A(3), A(2.5f, 3.5f, 4.5f));
  CHECK_OUT(outs, 2, 3, A(2, 1, 2), A(2, 3, 8, 9));
  free_outs(outs, 3);
  ir_graph_free(g);
}

/* a slice node on x with the given bounds and result type */
static int slice(ir_graph *g, int x, int dim, int64_t start, int64_t end, ir_type t) {
  int v = add(g, IR_OP_SLICE, "sl", t, 1, x);
  ir_set_attr_int(g, node_of(g, v), "dim", dim);
  ir_set_attr_int(g, node_of(g, v), "start", start);
  ir_set_attr_int(g, node_of(g, v), "end", end);
  return v;
}

static void test_slice_negative(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("slice");
  int x = ir_add_input(g, "x", ty(IR_F32, 2, 2, 5), L);
  int ids = ir_add_input(g, "ids", ty(IR_I64, 1, 6), L);
  ir_add_output(g, "tail", slice(g, x, 1, -3, INT64_MAX, ty(IR_F32, 2, 2, 3)));
  ir_add_output(g, "inner", slice(g, x, 1, 1, -1, ty(IR_F32, 2, 2, 3)));
  ir_add_output(g, "clamp", slice(g, x, 0, -100, 1, ty(IR_F32, 2, 1, 5)));
  ir_add_output(g, "empty", slice(g, ids, 0, 4, 2, ty(IR_I64, 1, 0)));
  ir_add_output(g, "ids", slice(g, ids, 0, -2, 100, ty(IR_I64, 1, 2)));
  float xv[10];
  for (int i = 0; i < 10; i++) xv[i] = (float)i;
  int64_t idv[] = {10, 11, 12, 13, 14, 15};
  seqrt_tensor in[] = {tensor(SEQRT_F32, xv, 2, 2, 5), tensor(SEQRT_I64, idv, 1, 6)};
  seqrt_tensor outs[5];
  run_ok(g, NULL, in, NULL, outs);
  CHECK_OUT(outs, 0, 2, A(2, 3), A(2, 3, 4, 7, 8, 9));
  CHECK_OUT(outs, 1, 2, A(2, 3), A(1, 2, 3, 6, 7, 8));
  CHECK_OUT(outs, 2, 2, A(1, 5), A(0, 1, 2, 3, 4));
  assert_int_equal(outs[3].rank, 1);
  assert_int_equal(outs[3].shape[0], 0);
  assert_int_equal(outs[4].dtype, SEQRT_I64);
  assert_int_equal(((int64_t *)outs[4].data)[0], 14);
  assert_int_equal(((int64_t *)outs[4].data)[1], 15);
  free_outs(outs, 5);
  ir_graph_free(g);
}

static int select_(ir_graph *g, int x, int dim, int64_t index, ir_type t) {
  int v = add(g, IR_OP_SELECT, "sel", t, 1, x);
  ir_set_attr_int(g, node_of(g, v), "dim", dim);
  ir_set_attr_int(g, node_of(g, v), "index", index);
  return v;
}

static void test_select(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("select");
  int x = ir_add_input(g, "x", ty(IR_F32, 3, 2, 3, 2), L);
  ir_add_output(g, "last", select_(g, x, 1, -1, ty(IR_F32, 2, 2, 2)));
  ir_add_output(g, "first", select_(g, x, 0, 1, ty(IR_F32, 2, 3, 2)));
  ir_add_output(g, "inner", select_(g, x, 2, 0, ty(IR_F32, 2, 2, 3)));
  float xv[12];
  for (int i = 0; i < 12; i++) xv[i] = (float)i;
  seqrt_tensor in = tensor(SEQRT_F32, xv, 3, 2, 3, 2), outs[3];
  run_ok(g, NULL, &in, NULL, outs);
  CHECK_OUT(outs, 0, 2, A(2, 2), A(4, 5, 10, 11));
  CHECK_OUT(outs, 1, 2, A(3, 2), A(6, 7, 8, 9, 10, 11));
  CHECK_OUT(outs, 2, 2, A(2, 3), A(0, 2, 4, 6, 8, 10));
  free_outs(outs, 3);
  ir_graph_free(g);
}

static void test_select_out_of_range(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("select");
  int x = ir_add_input(g, "x", ty(IR_F32, 2, 2, 3), L);
  ir_add_output(g, "bad", select_(g, x, 1, -4, ty(IR_F32, 1, 2)));
  float xv[6] = {0};
  seqrt_tensor in = tensor(SEQRT_F32, xv, 2, 2, 3);
  seqrt_error err = {""};
  run_fails(g, NULL, &in, NULL, &err);
  assert_string_equal(err.msg, "select index -4 out of range for dim 1 of size 3 in 'sel'");
  ir_graph_free(g);
}

static void test_transpose_rank3(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("tr");
  int x = ir_add_input(g, "x", ty(IR_F32, 3, 2, 3, 4), L);
  int t = add(g, IR_OP_TRANSPOSE, "tr", ty(IR_F32, 3, 4, 2, 3), 1, x);
  int64_t perm[] = {2, 0, 1};
  ir_set_attr_ints(g, node_of(g, t), "perm", perm, 3);
  ir_add_output(g, "tr", t);
  float xv[24];
  for (int i = 0; i < 24; i++) xv[i] = (float)i;
  seqrt_tensor in = tensor(SEQRT_F32, xv, 3, 2, 3, 4), outs[1];
  run_ok(g, NULL, &in, NULL, outs);
  /* out[i][j][k] = x[j][k][i] */
  CHECK_OUT(outs, 0, 3, A(4, 2, 3),
            A(0, 4, 8, 12, 16, 20, 1, 5, 9, 13, 17, 21, 2, 6, 10, 14, 18, 22, 3, 7, 11, 15, 19,
              23));
  free_outs(outs, 1);
  ir_graph_free(g);
}

static void test_reshape_symbolic(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("rs");
  int B = ir_graph_add_sym(g, "B", 1, L);
  ir_type xt = {.dtype = IR_F32, .rank = 2, .dims = {ir_dim_sym(B), ir_dim_const(3)}};
  int x = ir_add_input(g, "x", xt, L);
  ir_type flat = {.dtype = IR_F32, .rank = 1};
  assert_true(ir_dim_mul(ir_dim_sym(B), ir_dim_const(3), &flat.dims[0]));
  ir_add_output(g, "flat", add(g, IR_OP_RESHAPE, "flat", flat, 1, x));
  ir_type t32 = {.dtype = IR_F32, .rank = 2, .dims = {ir_dim_const(3), ir_dim_sym(B)}};
  ir_add_output(g, "t32", add(g, IR_OP_RESHAPE, "t32", t32, 1, x));
  float xv[] = {1, 2, 3, 4, 5, 6};
  int64_t syms[] = {2};
  seqrt_tensor in = tensor(SEQRT_F32, xv, 2, 2, 3), outs[2];
  run_ok(g, syms, &in, NULL, outs);
  CHECK_OUT(outs, 0, 1, A(6), A(1, 2, 3, 4, 5, 6));
  CHECK_OUT(outs, 1, 2, A(3, 2), A(1, 2, 3, 4, 5, 6));
  free_outs(outs, 2);
  /* the input must agree with the binding */
  seqrt_error err = {""};
  syms[0] = 3;
  run_fails(g, syms, &in, NULL, &err);
  assert_string_equal(err.msg, "input 'x': expected f32[3, 3], got f32[2, 3]");
  ir_graph_free(g);
}

static void test_concat3(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("cat");
  int a = ir_add_input(g, "a", ty(IR_F32, 2, 2, 1), L);
  int b = ir_add_input(g, "b", ty(IR_F32, 2, 2, 2), L);
  int c = ir_add_input(g, "c", ty(IR_F32, 2, 2, 3), L);
  int cat1 = add(g, IR_OP_CONCAT, "cat1", ty(IR_F32, 2, 2, 6), 3, a, b, c);
  ir_set_attr_int(g, node_of(g, cat1), "dim", 1);
  int cat0 = add(g, IR_OP_CONCAT, "cat0", ty(IR_F32, 2, 6, 2), 3, b, b, b);
  ir_set_attr_int(g, node_of(g, cat0), "dim", 0);
  ir_add_output(g, "cat1", cat1);
  ir_add_output(g, "cat0", cat0);
  float av[] = {1, 2}, bv[] = {3, 4, 5, 6}, cv[] = {7, 8, 9, 10, 11, 12};
  seqrt_tensor in[] = {tensor(SEQRT_F32, av, 2, 2, 1), tensor(SEQRT_F32, bv, 2, 2, 2),
                       tensor(SEQRT_F32, cv, 2, 2, 3)};
  seqrt_tensor outs[2];
  run_ok(g, NULL, in, NULL, outs);
  CHECK_OUT(outs, 0, 2, A(2, 6), A(1, 3, 4, 7, 8, 9, 2, 5, 6, 10, 11, 12));
  CHECK_OUT(outs, 1, 2, A(6, 2), A(3, 4, 5, 6, 3, 4, 5, 6, 3, 4, 5, 6));
  free_outs(outs, 2);
  ir_graph_free(g);
}

static void test_embedding(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("emb");
  int w = ir_add_param(g, "embed.weight", ty(IR_F32, 2, 4, 2), L);
  int t32 = ir_add_input(g, "t32", ty(IR_I32, 2, 2, 3), L);
  int t64 = ir_add_input(g, "t64", ty(IR_I64, 1, 3), L);
  ir_add_output(g, "e32", add(g, IR_OP_EMBEDDING, "e32", ty(IR_F32, 3, 2, 3, 2), 2, w, t32));
  ir_add_output(g, "e64", add(g, IR_OP_EMBEDDING, "e64", ty(IR_F32, 2, 3, 2), 2, w, t64));
  float wv[] = {0, 1, 10, 11, 20, 21, 30, 31};
  int32_t i32[] = {0, 3, 1, 2, 2, 0};
  int64_t i64[] = {3, 0, 1};
  seqrt_tensor in[] = {tensor(SEQRT_I32, i32, 2, 2, 3), tensor(SEQRT_I64, i64, 1, 3)};
  params p = {1, {"embed.weight"}, {tensor(SEQRT_F32, wv, 2, 4, 2)}};
  seqrt_tensor outs[2];
  run_ok(g, NULL, in, &p, outs);
  CHECK_OUT(outs, 0, 3, A(2, 3, 2), A(0, 1, 30, 31, 10, 11, 20, 21, 20, 21, 0, 1));
  CHECK_OUT(outs, 1, 2, A(3, 2), A(30, 31, 0, 1, 10, 11));
  free_outs(outs, 2);
  ir_graph_free(g);
}

static void test_embedding_out_of_range(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("emb");
  int w = ir_add_param(g, "embed.weight", ty(IR_F32, 2, 1000, 2), L);
  int tok = ir_add_input(g, "tokens", ty(IR_I32, 2, 1, 6), L);
  int ids = ir_add_input(g, "ids", ty(IR_I64, 2, 2, 2), L);
  int e = add(g, IR_OP_EMBEDDING, "embed", ty(IR_F32, 3, 1, 6, 2), 2, w, tok);
  ir_add_output(g, "e", add(g, IR_OP_RELU, "r", ty(IR_F32, 3, 1, 6, 2), 1, e));
  ir_add_output(g, "f", add(g, IR_OP_EMBEDDING, "f", ty(IR_F32, 3, 2, 2, 2), 2, w, ids));
  float *wv = calloc(2000, sizeof(float));
  int32_t tv[] = {1, 2, 3, 4, 5, 1000};
  int64_t iv[] = {0, 999, -1, 0};
  seqrt_tensor in[] = {tensor(SEQRT_I32, tv, 2, 1, 6), tensor(SEQRT_I64, iv, 2, 2, 2)};
  params p = {1, {"embed.weight"}, {tensor(SEQRT_F32, wv, 2, 1000, 2)}};
  seqrt_error err = {""};
  run_fails(g, NULL, in, &p, &err);
  assert_string_equal(err.msg, "index 1000 out of range [0, 1000) at position [0, 5] of 'tokens'");
  tv[5] = 999;
  run_fails(g, NULL, in, &p, &err);
  assert_string_equal(err.msg, "index -1 out of range [0, 1000) at position [1, 0] of 'ids'");
  iv[2] = 7;
  seqrt_tensor outs[2];
  run_ok(g, NULL, in, &p, outs);
  free_outs(outs, 2);
  free(wv);
  ir_graph_free(g);
}

static void test_positional_encoding(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("pe");
  int x = ir_add_input(g, "x", ty(IR_F32, 3, 2, 3, 4), L);
  ir_add_output(g, "pe", add(g, IR_OP_POSITIONAL_ENCODING, "pe", ty(IR_F32, 3, 2, 3, 4), 1, x));
  float xv[24];
  for (int i = 0; i < 24; i++) xv[i] = i < 12 ? 0.0f : 1.0f;
  seqrt_tensor in = tensor(SEQRT_F32, xv, 3, 2, 3, 4), outs[1];
  run_ok(g, NULL, &in, NULL, outs);
  /* D = 4: dims 0,1 use pos / 1, dims 2,3 use pos / 10000^(2/4) = pos / 100 */
  CHECK_OUT(outs, 0, 3, A(2, 3, 4),
            A(0, 1, 0, 1, 0.84147096f, 0.54030228f, 0.0099998331f, 0.99994999f, 0.90929741f,
              -0.41614684f, 0.019998666f, 0.99980003f, /* batch 1: x = 1 */
              1, 2, 1, 2, 1.84147096f, 1.54030228f, 1.0099998331f, 1.99994999f, 1.90929741f,
              0.58385316f, 1.019998666f, 1.99980003f));
  free_outs(outs, 1);
  ir_graph_free(g);
}

/* fused (x, bias): relu((x + bias) * 0.5) with the const inside the body */
static void test_fused_body(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("fused");
  int x = ir_add_input(g, "x", ty(IR_F32, 2, 2, 3), L);
  int bias = ir_add_param(g, "bias", ty(IR_F32, 1, 3), L);
  int ins[] = {x, bias};
  int n = ir_add_node(g, IR_OP_FUSED, "f", ins, 2, L);
  int f = g->nodes[n].outputs[0];
  g->values[f].type = ty(IR_F32, 2, 2, 3);
  ir_graph *b = ir_graph_new("f");
  b->parent = g;
  int a0 = ir_add_input(b, "a", ty(IR_F32, 2, 2, 3), L);
  int a1 = ir_add_input(b, "b", ty(IR_F32, 1, 3), L);
  float half = 0.5f;
  int c = ir_add_const(b, ty(IR_F32, 0), &half, L);
  int s = add(b, IR_OP_ADD, "s", ty(IR_F32, 2, 2, 3), 2, a0, a1);
  int m = add(b, IR_OP_MUL, "m", ty(IR_F32, 2, 2, 3), 2, s, c);
  ir_add_output(b, "out", add(b, IR_OP_RELU, "r", ty(IR_F32, 2, 2, 3), 1, m));
  g->nodes[n].body = b;
  /* read the fused result twice: by a node and as an output */
  ir_add_output(g, "f", f);
  ir_add_output(g, "neg", add(g, IR_OP_SUB, "neg", ty(IR_F32, 2, 2, 3), 2, x, f));
  assert_true(ir_verify(g, "test", stderr));
  float xv[] = {1, -2, 3, -4, 5, -6}, bv[] = {1, 1, -10};
  seqrt_tensor in = tensor(SEQRT_F32, xv, 2, 2, 3), outs[2];
  params p = {1, {"bias"}, {tensor(SEQRT_F32, bv, 1, 3)}};
  run_ok(g, NULL, &in, &p, outs);
  CHECK_OUT(outs, 0, 2, A(2, 3), A(1, 0, 0, 0, 3, 0));
  CHECK_OUT(outs, 1, 2, A(2, 3), A(0, -2, 3, -4, 2, -6));
  free_outs(outs, 2);
  ir_graph_free(g);
}

static void test_copy_dropout(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("copy");
  int x = ir_add_input(g, "x", ty(IR_F32, 1, 3), L);
  int ids = ir_add_input(g, "ids", ty(IR_I64, 1, 2), L);
  int d = add(g, IR_OP_DROPOUT, "drop", ty(IR_F32, 1, 3), 1, x);
  ir_set_attr_float(g, node_of(g, d), "p", 0.5);
  ir_add_output(g, "drop", d);
  ir_add_output(g, "ids", add(g, IR_OP_COPY, "ids", ty(IR_I64, 1, 2), 1, ids));
  float xv[] = {1.5f, -2, 3};
  int64_t iv[] = {7, -9};
  seqrt_tensor in[] = {tensor(SEQRT_F32, xv, 1, 3), tensor(SEQRT_I64, iv, 1, 2)}, outs[2];
  run_ok(g, NULL, in, NULL, outs);
  CHECK_OUT(outs, 0, 1, A(3), A(1.5f, -2, 3));
  assert_int_equal(outs[1].dtype, SEQRT_I64);
  assert_memory_equal(outs[1].data, iv, sizeof iv);
  assert_ptr_not_equal(outs[1].data, iv);
  free_outs(outs, 2);
  ir_graph_free(g);
}

static void test_linear(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("linear");
  int x = ir_add_input(g, "x", ty(IR_F32, 3, 1, 2, 3), L);
  int w = ir_add_param(g, "fc.weight", ty(IR_F32, 2, 2, 3), L);
  int b = ir_add_param(g, "fc.bias", ty(IR_F32, 1, 2), L);
  ir_add_output(g, "with", add(g, IR_OP_LINEAR, "fc", ty(IR_F32, 3, 1, 2, 2), 3, x, w, b));
  ir_add_output(g, "without", add(g, IR_OP_LINEAR, "fc2", ty(IR_F32, 3, 1, 2, 2), 2, x, w));
  float xv[] = {1, 2, 3, 0, -1, 0.5f}, wv[] = {0.1f, 0.2f, 0.3f, -0.5f, 0, 1};
  float bv[] = {0.5f, -0.25f};
  seqrt_tensor in = tensor(SEQRT_F32, xv, 3, 1, 2, 3), outs[2];
  params p = {2,
              {"fc.weight", "fc.bias"},
              {tensor(SEQRT_F32, wv, 2, 2, 3), tensor(SEQRT_F32, bv, 1, 2)}};
  run_ok(g, NULL, &in, &p, outs);
  CHECK_OUT(outs, 0, 3, A(1, 2, 2), A(1.9000001f, 2.25f, 0.44999999f, 0.25f));
  CHECK_OUT(outs, 1, 3, A(1, 2, 2), A(1.4000001f, 2.5f, -0.049999997f, 0.5f));
  free_outs(outs, 2);
  ir_graph_free(g);
}

static void test_param_errors(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("params");
  int x = ir_add_input(g, "x", ty(IR_F32, 2, 1, 3), L);
  int w = ir_add_param(g, "fc.weight", ty(IR_F32, 2, 2, 3), L);
  ir_add_param(g, "unused.weight", ty(IR_F32, 1, 5), L); /* never asked for */
  ir_add_output(g, "y", add(g, IR_OP_LINEAR, "fc", ty(IR_F32, 2, 1, 2), 2, x, w));
  float xv[3] = {0}, wv[6] = {0};
  seqrt_tensor in = tensor(SEQRT_F32, xv, 2, 1, 3);
  seqrt_error err = {""};
  run_fails(g, NULL, &in, NULL, &err);
  assert_string_equal(err.msg, "missing parameter 'fc.weight'");
  params p = {1, {"fc.weight"}, {tensor(SEQRT_F32, wv, 2, 3, 2)}};
  run_fails(g, NULL, &in, &p, &err);
  assert_string_equal(err.msg, "parameter 'fc.weight': expected f32[2, 3], got f32[3, 2]");
  p.t[0] = tensor(SEQRT_F32, wv, 2, 2, 3);
  in.dtype = SEQRT_I32;
  run_fails(g, NULL, &in, &p, &err);
  assert_string_equal(err.msg, "input 'x': expected f32[1, 3], got i32[1, 3]");
  ir_graph_free(g);
}

/* every output gets memory of its own, even the same value twice or an input */
static void test_outputs_distinct(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("outs");
  int x = ir_add_input(g, "x", ty(IR_F32, 1, 2), L);
  int r = add(g, IR_OP_RELU, "r", ty(IR_F32, 1, 2), 1, x);
  int dead = add(g, IR_OP_EXP, "dead", ty(IR_F32, 1, 2), 1, x);
  g->nodes[node_of(g, dead)].dead = true;
  ir_add_output(g, "a", r);
  ir_add_output(g, "b", r);
  ir_add_output(g, "x", x);
  float xv[] = {-1, 2};
  seqrt_tensor in = tensor(SEQRT_F32, xv, 1, 2), outs[3];
  run_ok(g, NULL, &in, NULL, outs);
  CHECK_OUT(outs, 0, 1, A(2), A(0, 2));
  CHECK_OUT(outs, 1, 1, A(2), A(0, 2));
  CHECK_OUT(outs, 2, 1, A(2), A(-1, 2));
  assert_ptr_not_equal(outs[0].data, outs[1].data);
  assert_ptr_not_equal(outs[2].data, xv);
  free_outs(outs, 3);
  ir_graph_free(g);
}

/*
 * attention with a relative position bias (pos_bias R = 2, T = 5, two heads):
 * k and v are the identity, so query i's score of key j is 0.5 q[i][j] plus
 * the head's table entry for the distance j - i, clamped to [-2, 2], and its
 * output row is the attention weights. The table's index of each (i, j) is
 * written out by hand; the tables are lopsided, so a distance of the wrong
 * sign or unclamped shows.
 */
static void test_attention_position_bias(void **state) {
  (void)state;
  enum { H = 2, T = 5 };
  static const int idx[T][T] = {
      {2, 3, 4, 4, 4}, {1, 2, 3, 4, 4}, {0, 1, 2, 3, 4}, {0, 0, 1, 2, 3}, {0, 0, 0, 1, 2}};
  static const float table[H * 5] = {0.5f, -1, 2, 0.25f, 1.5f, -2, 1, 0, 3, -0.5f};
  float q[H * T * T], eye[H * T * T] = {0};
  for (int h = 0; h < H; h++)
    for (int i = 0; i < T; i++)
      for (int c = 0; c < T; c++) {
        q[(h * T + i) * T + c] = (float)(((h * 5 + i) * 3 + c * 7) % 5 - 2);
        eye[(h * T + i) * T + c] = i == c;
      }
  ir_graph *g = ir_graph_new("bias");
  ir_type qt = ty(IR_F32, 4, 1, H, T, T);
  int qv = ir_add_input(g, "q", qt, L), kv = ir_add_input(g, "k", qt, L);
  int vv = ir_add_input(g, "v", qt, L), tv = ir_add_input(g, "table", ty(IR_F32, 2, H, 5), L);
  for (int causal = 0; causal < 2; causal++) {
    const char *name = causal ? "causal" : "plain";
    int n = ir_insert_node_n(g, g->nnodes, IR_OP_ATTENTION, name, (int[]){qv, kv, vv, tv}, 4, 1, L);
    g->values[g->nodes[n].outputs[0]].type = qt;
    ir_set_attr_float(g, n, "scale", 0.5);
    ir_set_attr_int(g, n, "causal", causal);
    ir_set_attr_int(g, n, "window", -1);
    ir_set_attr_int(g, n, "pos_bias", 2);
    ir_add_output(g, name, g->nodes[n].outputs[0]);
  }
  seqrt_tensor in[] = {tensor(SEQRT_F32, q, 4, 1, H, T, T), tensor(SEQRT_F32, eye, 4, 1, H, T, T),
                       tensor(SEQRT_F32, eye, 4, 1, H, T, T), tensor(SEQRT_F32, table, 2, H, 5)};
  seqrt_tensor outs[2];
  run_ok(g, NULL, in, NULL, outs);
  for (int causal = 0; causal < 2; causal++) {
    float want[H * T * T];
    for (int h = 0; h < H; h++)
      for (int i = 0; i < T; i++) {
        double w[T], sum = 0;
        for (int j = 0; j < T; j++) {
          bool seen = !causal || j <= i;
          w[j] = seen ? exp(0.5 * q[(h * T + i) * T + j] + table[h * 5 + idx[i][j]]) : 0;
          sum += w[j];
        }
        for (int j = 0; j < T; j++) want[(h * T + i) * T + j] = (float)(w[j] / sum);
      }
    shape_is(&outs[causal], 4, (const int64_t[]){1, H, T, T});
    close_enough(outs[causal].data, want, H * T * T);
  }
  free_outs(outs, 2);
  ir_graph_free(g);
}

/* a result type that disagrees with the inputs is caught, not read past */
static void test_wrong_result_type(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("bad");
  int a = ir_add_input(g, "a", ty(IR_F32, 2, 2, 3), L);
  int b = ir_add_input(g, "b", ty(IR_F32, 2, 3, 2), L);
  int m = add(g, IR_OP_MATMUL, "mm", ty(IR_F32, 2, 2, 3), 2, a, b);
  ir_set_attr_int(g, node_of(g, m), "trans_b", 0);
  ir_add_output(g, "mm", m);
  float av[6] = {0}, bv[6] = {0};
  seqrt_tensor in[] = {tensor(SEQRT_F32, av, 2, 2, 3), tensor(SEQRT_F32, bv, 2, 3, 2)};
  seqrt_error err = {""};
  run_fails(g, NULL, in, NULL, &err);
  assert_string_equal(err.msg,
                      "internal error: node 'mm' (matmul): inputs give [2, 2] but the result "
                      "type says [2, 3]");
  ir_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_binary_broadcast),
      cmocka_unit_test(test_unary),
      cmocka_unit_test(test_matmul_batched),
      cmocka_unit_test(test_softmax_middle_dim),
      cmocka_unit_test(test_norms),
      cmocka_unit_test(test_mean),
      cmocka_unit_test(test_slice_negative),
      cmocka_unit_test(test_select),
      cmocka_unit_test(test_select_out_of_range),
      cmocka_unit_test(test_transpose_rank3),
      cmocka_unit_test(test_reshape_symbolic),
      cmocka_unit_test(test_concat3),
      cmocka_unit_test(test_embedding),
      cmocka_unit_test(test_embedding_out_of_range),
      cmocka_unit_test(test_positional_encoding),
      cmocka_unit_test(test_fused_body),
      cmocka_unit_test(test_copy_dropout),
      cmocka_unit_test(test_linear),
      cmocka_unit_test(test_param_errors),
      cmocka_unit_test(test_outputs_distinct),
      cmocka_unit_test(test_wrong_result_type),
      cmocka_unit_test(test_attention_position_bias),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
