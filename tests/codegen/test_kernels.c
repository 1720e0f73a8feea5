/*
 * test_kernels.c: elementwise and row kernels (unary and binary ops with
 * broadcasting, fused chains, copies, softmax, norms, mean), compiled fused,
 * unfused and with symbolic dims, run at 1 and 2 threads, and compared with
 * the interpreter on sizes around the vector width.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cg_test.h"

static const int sizes[] = {1, 3, 7, 16, 17, 31, 33, 100};
#define NSIZES (int)(sizeof sizes / sizeof sizes[0])

/* "seqc: 1 ... dims: {B: b, T: t}" followed by the rest, formatted */
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

static void unary_ops(void **state) {
  (void)state;
  for (int i = 0; i < NSIZES; i++) {
    int d = sizes[i];
    char *y = model(2, 3,
                    "inputs:\n  x: {dtype: f32, shape: [B, T, %d]}\n"
                    "outputs: [r, g, gt, t, s, si, e, sp]\nnodes:\n"
                    "  r: {op: relu, input: x}\n"
                    "  g: {op: gelu, input: x}\n"
                    "  gt: {op: gelu, input: x, approximate: tanh}\n"
                    "  t: {op: tanh, input: x}\n"
                    "  s: {op: sigmoid, input: x}\n"
                    "  si: {op: silu, input: x}\n"
                    "  e: {op: exp, input: x}\n"
                    "  sp: {op: softplus, input: x}\n",
                    d);
    cgt_check(y, &(cgt_opts){.variants = i % 2 ? CGT_FUSED : CGT_SYMBOLIC, .seed = (uint64_t)d});
  }
}

/* each pair of operand shapes broadcasts to [B, T, D] (or [D] ... ) */
static void binary_broadcast(void **state) {
  (void)state;
  static const char *const shapes[][2] = {
      {"[B, T, D]", "[B, T, D]"}, {"[B, T, D]", "[D]"},       {"[B, T, D]", "[T, 1]"},
      {"[B, 1, D]", "[B, T, 1]"}, {"[D]", "[B, T, D]"},       {"[1]", "[B, T, D]"},
      {"[B, T, D]", "[1, 1, 1]"}, {"[T, D]", "[B, 1, 1, 1]"}, {"[B, 1, T, 1]", "[1, B, 1, D]"},
  };
  static const char *const ops[] = {"add", "sub", "mul", "div"};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    int d = sizes[s % NSIZES];
    char a[64], b[64];
    /* D is a constant: replace the letter */
    snprintf(a, sizeof a, "%s", shapes[s][0]);
    snprintf(b, sizeof b, "%s", shapes[s][1]);
    for (char *p = a; *p; p++)
      if (*p == 'D') *p = '#';
    for (char *p = b; *p; p++)
      if (*p == 'D') *p = '#';
    char ta[80], tb[80];
    int k = 0;
    for (char *p = a; *p; p++)
      k += p[0] == '#' ? snprintf(ta + k, sizeof ta - (size_t)k, "%d", d)
                       : snprintf(ta + k, sizeof ta - (size_t)k, "%c", *p);
    k = 0;
    for (char *p = b; *p; p++)
      k += p[0] == '#' ? snprintf(tb + k, sizeof tb - (size_t)k, "%d", d)
                       : snprintf(tb + k, sizeof tb - (size_t)k, "%c", *p);
    const char *op = ops[s % 4];
    char *y = model(3, 5,
                    "inputs:\n  a: {dtype: f32, shape: %s}\n  b: {dtype: f32, shape: %s}\n"
                    "outputs: [r, q]\nnodes:\n"
                    "  r: {op: %s, inputs: [a, b]}\n"
                    "  q: {op: %s, inputs: [b, a]}\n",
                    ta, tb, op, ops[(s + 1) % 4]);
    cgt_check(y, &(cgt_opts){.seed = s + 1});
  }
}

static void scalar_operands(void **state) {
  (void)state;
  char *y = model(2, 7,
                  "inputs:\n  x: {dtype: f32, shape: [B, T, 33]}\n"
                  "outputs: [a, b, c, d]\nnodes:\n"
                  "  a: {op: add, inputs: [x, 2.5]}\n"
                  "  b: {op: div, inputs: [1.0, x]}\n"
                  "  c: {op: mul, inputs: [-3, x]}\n"
                  "  d: {op: sub, inputs: [x, 0.25]}\n");
  cgt_check(y, NULL);
}

/* chains the fuse pass turns into one kernel, with broadcast operands inside */
static void fused_chains(void **state) {
  (void)state;
  for (int i = 0; i < NSIZES; i++) {
    int d = sizes[i];
    char *y = model(2, 1 + i,
                    "inputs:\n  x: {dtype: f32, shape: [B, T, %d]}\n"
                    "  b: {dtype: f32, shape: [%d]}\n  c: {dtype: f32, shape: [T, 1]}\n"
                    "outputs: [o, p]\nnodes:\n"
                    "  s: {op: add, inputs: [x, b]}\n"
                    "  h: {op: mul, inputs: [s, 0.5]}\n"
                    "  g: {op: gelu, input: h}\n"
                    "  o: {op: sub, inputs: [g, c]}\n"
                    "  t: {op: tanh, input: x}\n"
                    "  u: {op: sigmoid, input: c}\n"
                    "  v: {op: mul, inputs: [t, u]}\n"
                    "  w: {op: silu, input: v}\n"
                    "  p: {op: div, inputs: [w, 3]}\n",
                    d, d);
    cgt_check(y, &(cgt_opts){.seed = (uint64_t)i + 7});
  }
}

/* outputs that are inputs (any dtype) or repeated get copies of their own */
static void copies(void **state) {
  (void)state;
  char *y = model(2, 9,
                  "inputs:\n  x: {dtype: f32, shape: [B, T, 5]}\n"
                  "  i: {dtype: i32, shape: [B, T]}\n  l: {dtype: i64, shape: [T, 3]}\n"
                  "outputs: [x, i, l, r]\nnodes:\n"
                  "  r: {op: relu, input: x}\n");
  cgt_check(y, &(cgt_opts){.index_max = 1000});
}

static void softmax_dims(void **state) {
  (void)state;
  for (int i = 0; i < NSIZES; i++) {
    int d = sizes[i];
    char *y = model(2, sizes[(i + 3) % NSIZES],
                    "inputs:\n  x: {dtype: f32, shape: [B, T, %d]}\n"
                    "outputs: [last, mid, first]\nnodes:\n"
                    "  last: {op: softmax, input: x}\n"
                    "  mid: {op: softmax, input: x, dim: 1}\n"
                    "  first: {op: softmax, input: x, dim: 0}\n",
                    d);
    cgt_check(y, &(cgt_opts){.variants = i % 2 ? CGT_FUSED : CGT_SYMBOLIC, .seed = (uint64_t)d});
  }
  /* large values: the max is subtracted first */
  char *y = model(1, 4,
                  "inputs:\n  x: {dtype: f32, shape: [B, T, 40]}\n"
                  "outputs: [s]\nnodes:\n"
                  "  big: {op: mul, inputs: [x, 100]}\n"
                  "  s: {op: softmax, input: big, dim: 2}\n");
  cgt_check(y, NULL);
}

static void norms(void **state) {
  (void)state;
  for (int i = 0; i < NSIZES; i++) {
    int d = sizes[i];
    char *y = model(3, sizes[(i + 5) % NSIZES],
                    "inputs:\n  x: {dtype: f32, shape: [B, T, %d]}\n"
                    "outputs: [ln, rms, ln2]\nnodes:\n"
                    "  ln: {op: layer_norm, input: x}\n"
                    "  rms: {op: rms_norm, input: x}\n"
                    "  ln2: {op: layer_norm, input: x, eps: 0.1}\n",
                    d);
    cgt_check(y, &(cgt_opts){.variants = i % 2 ? CGT_FUSED : CGT_SYMBOLIC, .seed = (uint64_t)d});
  }
}

static void means(void **state) {
  (void)state;
  for (int i = 0; i < NSIZES; i += 2) {
    int d = sizes[i];
    char *y = model(2, sizes[(i + 1) % NSIZES],
                    "inputs:\n  x: {dtype: f32, shape: [B, T, %d]}\n"
                    "outputs: [a, b, c, k]\nnodes:\n"
                    "  a: {op: mean, input: x, dim: 2}\n"
                    "  b: {op: mean, input: x, dim: 1}\n"
                    "  c: {op: mean, input: x, dim: 0}\n"
                    "  k: {op: mean, input: x, dim: -2, keepdim: true}\n",
                    d);
    cgt_check(y, &(cgt_opts){.seed = (uint64_t)d});
  }
}

/* the same model under several bindings of its dims, symbolic code included */
static void dims_bindings(void **state) {
  (void)state;
  const char *y =
      "seqc: 1\nname: m\ndims: {B: 2, T: 8}\n"
      "inputs:\n  x: {dtype: f32, shape: [B, T, 19]}\n  y: {dtype: f32, shape: [T, 19]}\n"
      "outputs: [o, s]\nnodes:\n"
      "  a: {op: add, inputs: [x, y]}\n"
      "  o: {op: layer_norm, input: a}\n"
      "  s: {op: softmax, input: a, dim: 1}\n";
  static const int64_t binds[][2] = {{1, 1}, {1, 17}, {5, 3}, {2, 33}, {0, 4}};
  for (size_t i = 0; i < sizeof binds / sizeof binds[0]; i++)
    cgt_check(y, &(cgt_opts){.syms = binds[i], .seed = i + 3});
}

/* narrower targets: AVX2 (8 floats a vector) and plain x86-64 (SSE, 4) */
static void narrow_targets(void **state) {
  (void)state;
  const char *y =
      "seqc: 1\nname: m\ndims: {B: 2, T: 7}\n"
      "inputs:\n  x: {dtype: f32, shape: [B, T, 13]}\n  b: {dtype: f32, shape: [13]}\n"
      "outputs: [a, s, m, l, r]\nnodes:\n"
      "  a: {op: add, inputs: [x, b]}\n"
      "  g: {op: gelu, input: a}\n"
      "  s: {op: softmax, input: g, dim: 1}\n"
      "  m: {op: mean, input: s, dim: 2}\n"
      "  l: {op: layer_norm, input: x}\n"
      "  h: {op: linear, input: l, out_features: 9}\n"
      "  r: {op: tanh, input: h}\n";
  cgt_check(y, &(cgt_opts){.variants = CGT_AVX2 | CGT_SSE, .tol = 2e-5});
}

/* what codegen cannot compile is an error message, not a crash */
static void compile_errors(void **state) {
  (void)state;
  ir_graph *g = cgt_load(
      "seqc: 1\nname: m\ninputs:\n  x: {dtype: f32, shape: [3, 4]}\noutputs: [l]\nnodes:\n"
      "  l: {op: linear, input: x, out_features: 2}\n");
  seqrt_error err = {{0}};
  /* no memory plan yet */
  assert_null(cg_jit_compile(g, NULL, &err));
  assert_non_null(strstr(err.msg, "memory plan"));
  /* planned but never decomposed: a layer op reaches codegen */
  ir_diags d;
  ir_diags_init(&d, "test.yaml", NULL, 0, stderr);
  ir_target target;
  cg_target(NULL, &target);
  pass_ctx ctx = {.diags = &d};
  pass_plan_memory(g, &ctx);
  /* planned, not scheduled */
  err.msg[0] = 0;
  assert_null(cg_jit_compile(g, &(cg_options){.opt_level = 3}, &err));
  assert_non_null(strstr(err.msg, "the graph has no schedule"));
  ctx.target = &target;
  pass_schedule(g, &ctx);
  err.msg[0] = 0;
  assert_null(cg_jit_compile(g, &(cg_options){.opt_level = 3}, &err));
  assert_non_null(strstr(err.msg, "linear"));
  assert_null(cg_jit_compile(g, NULL, NULL)); /* no error to fill: still no crash */
  ir_graph_free(g);
}

/* a dim is known at compile time only when each of its symbols is bound:
 * B*T with both left to run time (-1) is not (-1 * -1 would say 1) */
static void dims_known(void **state) {
  (void)state;
  ir_dim bt, b2t;
  assert_true(ir_dim_mul(ir_dim_sym(0), ir_dim_sym(1), &bt));
  assert_true(ir_dim_mul(bt, ir_dim_const(2), &b2t));
  int64_t v = 0, none[2] = {-1, -1}, some[2] = {3, -1}, all[2] = {3, 5};
  cg_ctx c = {.bind_syms = none};
  assert_false(cg_dim_known(&c, bt, &v));
  assert_true(cg_dim_known(&c, ir_dim_const(7), &v));
  assert_int_equal(v, 7);
  c.bind_syms = some;
  assert_false(cg_dim_known(&c, b2t, &v));
  assert_true(cg_dim_known(&c, ir_dim_sym(0), &v));
  assert_int_equal(v, 3);
  c.bind_syms = all;
  assert_true(cg_dim_known(&c, b2t, &v));
  assert_int_equal(v, 30);
  c.bind_syms = NULL;
  assert_false(cg_dim_known(&c, ir_dim_sym(0), &v));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(unary_ops),       cmocka_unit_test(binary_broadcast),
      cmocka_unit_test(scalar_operands), cmocka_unit_test(fused_chains),
      cmocka_unit_test(copies),          cmocka_unit_test(softmax_dims),
      cmocka_unit_test(norms),           cmocka_unit_test(means),
      cmocka_unit_test(dims_bindings),   cmocka_unit_test(narrow_targets),
      cmocka_unit_test(compile_errors),  cmocka_unit_test(dims_known),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
