/*
 * test_matmul.c: matmul kernels (plain, batched with broadcast batch dims,
 * folded into one GEMM) and fused epilogues (linear's bias, activations,
 * broadcast operands), compiled and compared with the interpreter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cg_test.h"

static char *model(int64_t b, int64_t t, const char *fmt, ...) {
  static char buf[8192];
  int n = snprintf(buf, sizeof buf, "seqc: 1\nname: m\ndims: {B: %lld, T: %lld}\n", (long long)b,
                   (long long)t);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
  va_end(ap);
  return buf;
}

/* sums of up to 100 products of values in [-2, 2): allow for float rounding */
static const double TOL = 1e-5;

static void plain(void **state) {
  (void)state;
  static const int mkn[][3] = {{1, 1, 1},    {1, 7, 3},     {3, 1, 17},   {7, 17, 31},
                               {17, 33, 16}, {33, 16, 100}, {64, 31, 33}, {100, 3, 7}};
  for (size_t i = 0; i < sizeof mkn / sizeof mkn[0]; i++) {
    char *y =
        model(1, 1,
              "inputs:\n  a: {dtype: f32, shape: [%d, %d]}\n  b: {dtype: f32, shape: [%d, %d]}\n"
              "outputs: [c]\nnodes:\n  c: {op: matmul, inputs: [a, b]}\n",
              mkn[i][0], mkn[i][1], mkn[i][1], mkn[i][2]);
    cgt_check(y, &(cgt_opts){.variants = CGT_FUSED, .seed = i + 1, .tol = TOL});
  }
}

static void batched(void **state) {
  (void)state;
  static const char *const shapes[][2] = {
      {"[B, T, 7]", "[7, 17]"},         /* folded into one GEMM */
      {"[B, T, 7]", "[B, 7, 17]"},      /* same batch */
      {"[T, 7]", "[B, 7, 33]"},         /* a broadcast */
      {"[B, 1, T, 5]", "[1, 3, 5, 9]"}, /* both broadcast */
      {"[B, 3, T, 16]", "[3, 16, 1]"},  /* n = 1 */
      {"[B, T, 1]", "[B, 1, 31]"},      /* k = 1 */
  };
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    char *y = model(3, 17,
                    "inputs:\n  a: {dtype: f32, shape: %s}\n  b: {dtype: f32, shape: %s}\n"
                    "outputs: [c]\nnodes:\n  c: {op: matmul, inputs: [a, b]}\n",
                    shapes[i][0], shapes[i][1]);
    cgt_check(y, &(cgt_opts){.variants = CGT_FUSED | CGT_SYMBOLIC, .seed = i + 1, .tol = TOL});
  }
  /* one batch per thread and fewer batches than threads */
  static const int64_t one[] = {1, 5};
  cgt_check(model(3, 5,
                  "inputs:\n  a: {dtype: f32, shape: [B, T, 9]}\n"
                  "  b: {dtype: f32, shape: [B, 9, T]}\n"
                  "outputs: [c]\nnodes:\n  c: {op: matmul, inputs: [a, b]}\n"),
            &(cgt_opts){.syms = one, .tol = TOL});
}

/* linear: matmul with trans_b and the bias in the epilogue */
static void linears(void **state) {
  (void)state;
  static const int io[][2] = {{1, 1}, {3, 17}, {16, 16}, {33, 7}, {31, 100}};
  for (size_t i = 0; i < sizeof io / sizeof io[0]; i++) {
    char *y = model(2, 9,
                    "inputs:\n  x: {dtype: f32, shape: [B, T, %d]}\n"
                    "outputs: [l, n]\nnodes:\n"
                    "  l: {op: linear, input: x, out_features: %d}\n"
                    "  n: {op: linear, input: x, out_features: %d, bias: false}\n",
                    io[i][0], io[i][1], io[i][1]);
    unsigned v = i % 2 ? CGT_FUSED | CGT_UNFUSED : CGT_SYMBOLIC;
    cgt_check(y, &(cgt_opts){.variants = v, .seed = i + 1, .tol = TOL});
  }
}

/* epilogues: bias + gelu, residual add, broadcast operands, scalar scale */
static void epilogues(void **state) {
  (void)state;
  static const int dims[][2] = {{33, 31}, {5, 64}};
  for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
    int d = dims[i][0], h = dims[i][1];
    char *y = model(2, 7,
                    "inputs:\n  x: {dtype: f32, shape: [B, T, %d]}\n"
                    "  r: {dtype: f32, shape: [B, T, %d]}\n  c: {dtype: f32, shape: [T, 1]}\n"
                    "  w: {dtype: f32, shape: [%d, %d]}\n"
                    "outputs: [g, res, sc, act]\nnodes:\n"
                    "  l1: {op: linear, input: x, out_features: %d}\n"
                    "  g: {op: gelu, input: l1}\n"
                    "  l2: {op: linear, input: x, out_features: %d}\n"
                    "  s2: {op: add, inputs: [l2, r]}\n"
                    "  res: {op: mul, inputs: [s2, c]}\n"
                    "  m: {op: matmul, inputs: [x, w]}\n"
                    "  sc: {op: div, inputs: [m, 4]}\n"
                    "  l3: {op: linear, input: x, out_features: %d}\n"
                    "  t3: {op: tanh, input: l3}\n"
                    "  act: {op: sigmoid, input: t3}\n",
                    d, h, d, h, h, h, h);
    cgt_check(y, &(cgt_opts){.variants = i ? CGT_FUSED : CGT_ALL, .seed = i + 1, .tol = TOL});
  }
}

/* attention-shaped: q k^T / sqrt(d), softmax over keys, @ v */
static void attention_like(void **state) {
  (void)state;
  char *y = model(2, 13,
                  "inputs:\n  q: {dtype: f32, shape: [B, 3, T, 8]}\n"
                  "  k: {dtype: f32, shape: [B, 3, T, 8]}\n  v: {dtype: f32, shape: [B, 3, T, 8]}\n"
                  "outputs: [o]\nnodes:\n"
                  "  kt: {op: transpose, input: k, dims: [0, 1, 3, 2]}\n"
                  "  s: {op: matmul, inputs: [q, kt]}\n"
                  "  sc: {op: mul, inputs: [s, 0.35355339]}\n"
                  "  p: {op: softmax, input: sc}\n"
                  "  o: {op: matmul, inputs: [p, v]}\n");
  cgt_check(y, &(cgt_opts){.tol = TOL});
}

/* an f32 type from dims: n >= 0 a size, -1 - i symbol i */
static ir_type tf32(int rank, const int *dims) {
  ir_type t = {.dtype = IR_F32, .rank = rank};
  for (int i = 0; i < rank; i++)
    t.dims[i] = dims[i] >= 0 ? ir_dim_const(dims[i]) : ir_dim_sym(-dims[i] - 1);
  return t;
}

/* matmul with trans_b (the frontend never makes one; passes may), by hand */
static void trans_b(void **state) {
  (void)state;
  static const int shapes[][2][4] = {
      {{-1, 7, 0, 0}, {17, 7, 0, 0}},   /* [B, 7] @ [17, 7]^T */
      {{-1, -2, 33, 0}, {5, 33, 0, 0}}, /* [B, T, 33] @ [5, 33]^T, folded */
      {{-1, -2, 9, 0}, {-1, 19, 9, 0}}, /* batched */
      {{3, -2, 16, 0}, {1, -2, 16, 0}}, /* broadcast batch, n = T */
  };
  static const int ranks[][2] = {{2, 2}, {3, 2}, {3, 3}, {3, 3}};
  for (int i = 0; i < 4; i++) {
    ir_graph *g = ir_graph_new("m");
    ir_loc loc = {1, 1};
    ir_graph_add_sym(g, "B", 3, loc);
    ir_graph_add_sym(g, "T", 11, loc);
    int a = ir_add_input(g, "a", tf32(ranks[i][0], shapes[i][0]), loc);
    int b = ir_add_input(g, "b", tf32(ranks[i][1], shapes[i][1]), loc);
    int n = ir_add_node(g, IR_OP_MATMUL, "c", (int[]){a, b}, 2, loc);
    ir_set_attr_int(g, n, "trans_b", 1);
    ir_diags d;
    ir_diags_init(&d, "test", NULL, 0, stderr);
    assert_true(ir_infer_node(g, n, &d));
    int c = g->nodes[n].outputs[0];
    /* and an epilogue on top */
    int r = ir_add_node(g, IR_OP_RELU, "r", &c, 1, loc);
    assert_true(ir_infer_node(g, r, &d));
    ir_add_output(g, "r", g->nodes[r].outputs[0]);
    cgt_check_graph(g, &(cgt_opts){.seed = (uint64_t)i + 1, .tol = TOL});
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(plain),     cmocka_unit_test(batched),        cmocka_unit_test(linears),
      cmocka_unit_test(epilogues), cmocka_unit_test(attention_like), cmocka_unit_test(trans_b),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
