/*
 * test_math.c: the vector math of codegen/math.c against libm in double.
 * For every function and every width (16, 8, 4 lanes and scalar) the test
 * JIT-compiles out[i] = f(in[i]) and runs it on special values, a sweep over
 * float bit patterns (the whole range) and a dense sweep of [-20, 20]. Each
 * result must be within a few ulp of the double reference (or within a small
 * absolute error where the reference is near 0 and the function's float form
 * cannot be relative there), NaN where libm says NaN, and inf where it says inf.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cg_internal.h"
#include "jit_helper.h"

enum { F_EXP, F_TANH, F_SIGMOID, F_ERF, F_GELU, F_GELU_TANH, F_SIN, F_COS, F_SOFTPLUS, NFN };
static const char *fn_names[NFN] = {"exp",  "tanh",      "sigmoid", "erf",     "gelu",
                                    "gelu_tanh", "sin",  "cos",     "softplus"};
static const int widths[] = {16, 8, 4, 1};
#define NWIDTH 4

/* out[i] = f(in[i]) for i < n, n a multiple of the width */
typedef void (*map_fn)(float *out, const float *in, int64_t n);

/* what the tests share: the JIT and the functions it compiled */
typedef struct fixture {
  jh h;                    /* the JIT holding every function */
  map_fn fns[NFN][NWIDTH]; /* fns[f][w]: function f at widths[w] */
} fixture;

static LLVMValueRef emit_op(int f, LLVMModuleRef m, LLVMBuilderRef b, LLVMValueRef x) {
  switch (f) {
    case F_EXP:
      return cg_math_exp(m, b, x);
    case F_TANH:
      return cg_math_tanh(m, b, x);
    case F_SIGMOID:
      return cg_math_sigmoid(m, b, x);
    case F_ERF:
      return cg_math_erf(m, b, x);
    case F_GELU:
      return cg_math_gelu(m, b, x, false);
    case F_GELU_TANH:
      return cg_math_gelu(m, b, x, true);
    case F_SIN:
      return cg_math_sin(m, b, x);
    case F_SOFTPLUS: /* an op's vector formula, as codegen's kernels emit it */
      return cg_math_op(m, b, &(ir_node){.op = IR_OP_SOFTPLUS}, &x);
    default:
      return cg_math_cos(m, b, x);
  }
}

/* defines `void NAME(float *out, const float *in, i64 n)` mapping f at width w */
static void build_map(jh *h, int f, int w, const char *name) {
  LLVMContextRef cx = h->cx;
  LLVMTypeRef ptr = LLVMPointerTypeInContext(cx, 0), i64 = LLVMInt64TypeInContext(cx);
  LLVMTypeRef f32 = LLVMFloatTypeInContext(cx);
  LLVMTypeRef vt = w == 1 ? f32 : LLVMVectorType(f32, (unsigned)w);
  LLVMTypeRef params[3] = {ptr, ptr, i64};
  LLVMTypeRef fty = LLVMFunctionType(LLVMVoidTypeInContext(cx), params, 3, 0);
  LLVMValueRef fn = LLVMAddFunction(h->mod, name, fty);
  LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(cx, fn, "entry");
  LLVMBasicBlockRef loop = LLVMAppendBasicBlockInContext(cx, fn, "loop");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(cx, fn, "done");
  LLVMBuilderRef b = LLVMCreateBuilderInContext(cx);
  LLVMPositionBuilderAtEnd(b, entry);
  LLVMBuildBr(b, loop);
  LLVMPositionBuilderAtEnd(b, loop);
  LLVMValueRef i = LLVMBuildPhi(b, i64, "i");
  LLVMValueRef pin = LLVMBuildGEP2(b, f32, LLVMGetParam(fn, 1), &i, 1, "");
  LLVMValueRef x = LLVMBuildLoad2(b, vt, pin, "x");
  LLVMSetAlignment(x, 4);
  LLVMValueRef y = emit_op(f, h->mod, b, x);
  LLVMValueRef pout = LLVMBuildGEP2(b, f32, LLVMGetParam(fn, 0), &i, 1, "");
  LLVMSetAlignment(LLVMBuildStore(b, y, pout), 4);
  LLVMValueRef next = LLVMBuildAdd(b, i, LLVMConstInt(i64, (uint64_t)w, 0), "");
  LLVMValueRef zero = LLVMConstInt(i64, 0, 0);
  LLVMAddIncoming(i, &zero, &entry, 1);
  LLVMAddIncoming(i, &next, &loop, 1);
  LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, next, LLVMGetParam(fn, 2), ""), loop, done);
  LLVMPositionBuilderAtEnd(b, done);
  LLVMBuildRetVoid(b);
  LLVMDisposeBuilder(b);
}

static int setup(void **state) {
  fixture *fx = calloc(1, sizeof *fx);
  if (!fx) return -1;
  jh_init(&fx->h, "test_math");
  char name[64];
  for (int f = 0; f < NFN; f++)
    for (int w = 0; w < NWIDTH; w++) {
      snprintf(name, sizeof name, "%s_%d", fn_names[f], widths[w]);
      build_map(&fx->h, f, widths[w], name);
    }
  if (jh_compile(&fx->h, 1)) return -1;
  for (int f = 0; f < NFN; f++)
    for (int w = 0; w < NWIDTH; w++) {
      snprintf(name, sizeof name, "%s_%d", fn_names[f], widths[w]);
      fx->fns[f][w] = (map_fn)jh_lookup(&fx->h, name);
      if (!fx->fns[f][w]) return -1;
    }
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture *fx = *state;
  jh_free(&fx->h);
  free(fx);
  return 0;
}

static double reference(int f, double x) {
  switch (f) {
    case F_EXP:
      return exp(x);
    case F_TANH:
      return tanh(x);
    case F_SIGMOID:
      return 1.0 / (1.0 + exp(-x));
    case F_ERF:
      return erf(x);
    case F_GELU:
      return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case F_GELU_TANH:
      return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case F_SIN:
      return sin(x);
    case F_SOFTPLUS: /* nn.Softplus, beta 1, threshold 20 */
      return x > 20 ? x : log1p(exp(x));
    default:
      return cos(x);
  }
}

/* the float spacing at |r| (2^-149 among the subnormals) */
static double ulp_at(double r) {
  r = fabs(r);
  if (r < FLT_MIN) return ldexp(1.0, -149);
  return ldexp(1.0, ilogb(r) - 23);
}

/* allowed error: ulps of the reference, and an absolute floor */
static const double max_ulp[NFN] = {2, 2, 3, 6, 8, 8, 2, 2, 3};

static double abs_floor(int f, double x) {
  switch (f) {
    /* near the zeros of sin/cos the reduction's absolute error is all there is */
    case F_SIN:
    case F_COS:
      return 1e-9;
    /* 1 + erf and 1 + tanh cancel in float for x << 0, as in PyTorch */
    case F_GELU:
      return 1e-6;
    case F_GELU_TANH:
      return 1e-7;
    default:
      return 0;
  }
}

/*
 * Is got an acceptable float result of f at x? Records the worst ulp error
 * within the ulp bound in worst[0] and the worst absolute error beyond it in worst[1].
 */
static int acceptable(int f, float x, float got, double *worst) {
  double ref = reference(f, (double)x);
  if (isnan(ref)) return isnan(got);
  /* outside sin/cos's accurate range: only bounded */
  if ((f == F_SIN || f == F_COS) && fabs(x) > 1e5) return fabsf(got) <= 1.0f;
  if (isnan(got)) return 0;
  if (isinf(ref) || fabs(ref) > FLT_MAX) {
    /* exp beyond FLT_MAX: inf, or FLT_MAX right at the edge */
    return (isinf(got) || fabs(got) == FLT_MAX) && (got > 0) == (ref > 0);
  }
  if (isinf(got)) return 0;
  double err = fabs((double)got - ref);
  double u = err / ulp_at(ref);
  if (u <= max_ulp[f]) {
    if (u > worst[0]) worst[0] = u;
    return 1;
  }
  /* excused by the absolute floor: record that error apart */
  if (err > worst[1]) worst[1] = err;
  return err <= abs_floor(f, x);
}

static float bits_float(uint32_t u) {
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
}

/* the inputs: special values, a sweep over bit patterns, a dense sweep of [-20, 20] */
static float *make_inputs(int64_t *count) {
  static const float special[] = {
      0.0f,    -0.0f,   1e-45f,      -1e-45f,    FLT_MIN, -FLT_MIN, 1e-30f,   -1e-30f,   1e-10f,
      -1e-10f, 1e-4f,   -1e-4f,      0.5f,       -0.5f,   0.625f,   -0.625f,  1.0f,      -1.0f,
      3.92f,   -3.92f,  4.0f,        -4.0f,      10.0f,   -10.0f,   87.0f,    -87.0f,    88.72f,
      88.73f,  -87.33f, -88.0f,      -100.0f,    100.0f,  -103.0f,  -104.5f,  -150.0f,   1000.0f,
      1e4f,    -1e4f,   3.14159265f, 1.5707964f, FLT_MAX, -FLT_MAX, INFINITY, -INFINITY, NAN};
  int64_t nspecial = (int64_t)(sizeof special / sizeof special[0]);
  int64_t nbits = (int64_t)(((uint64_t)1 << 32) / 4099) + 1;
  int64_t ndense = 400001;
  int64_t n = nspecial + nbits + ndense;
  n = (n + 15) / 16 * 16;
  float *in = calloc((size_t)n, sizeof *in);
  assert_non_null(in);
  int64_t k = 0;
  for (int64_t i = 0; i < nspecial; i++) in[k++] = special[i];
  for (uint64_t u = 0; u < ((uint64_t)1 << 32); u += 4099) in[k++] = bits_float((uint32_t)u);
  for (int64_t i = 0; i < ndense; i++) in[k++] = (float)(-20.0 + 40.0 * (double)i / (ndense - 1));
  *count = n;
  return in;
}

static void check_function(void **state, int f) {
  fixture *fx = *state;
  int64_t n;
  float *in = make_inputs(&n);
  float *out = malloc((size_t)n * sizeof *out);
  assert_non_null(out);
  for (int w = 0; w < NWIDTH; w++) {
    memset(out, 0, (size_t)n * sizeof *out);
    fx->fns[f][w](out, in, n);
    double worst[2] = {0, 0};
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
      if (acceptable(f, in[i], out[i], worst)) continue;
      if (bad++ < 5)
        print_error("%s width %d: f(%.9g) = %.9g, want %.17g\n", fn_names[f], widths[w],
                    (double)in[i], (double)out[i], reference(f, in[i]));
    }
    print_message("%s width %2d: worst %.2f ulp, %.3g absolute beyond %g ulp\n", fn_names[f],
                  widths[w], worst[0], worst[1], max_ulp[f]);
    assert_int_equal(bad, 0);
  }
  free(out);
  free(in);
}

static void test_exp(void **state) { check_function(state, F_EXP); }
static void test_tanh(void **state) { check_function(state, F_TANH); }
static void test_sigmoid(void **state) { check_function(state, F_SIGMOID); }
static void test_erf(void **state) { check_function(state, F_ERF); }
static void test_gelu(void **state) { check_function(state, F_GELU); }
static void test_gelu_tanh(void **state) { check_function(state, F_GELU_TANH); }
static void test_sin(void **state) { check_function(state, F_SIN); }
static void test_cos(void **state) { check_function(state, F_COS); }
static void test_softplus(void **state) { check_function(state, F_SOFTPLUS); }

/* exact values the sweep's tolerance would let slip: signs of zero, saturation */
static void test_exact_values(void **state) {
  fixture *fx = *state;
  float in[16] = {-0.0f, INFINITY, -INFINITY, NAN, -100.0f, 100.0f, 0.0f, 1e-30f};
  float out[16];
  for (int w = 0; w < NWIDTH; w++) {
    fx->fns[F_EXP][w](out, in, 16);
    assert_true(out[0] == 1.0f && out[1] == INFINITY && out[2] == 0.0f && isnan(out[3]));
    fx->fns[F_TANH][w](out, in, 16);
    assert_true(out[0] == 0.0f && signbit(out[0]));
    assert_true(out[1] == 1.0f && out[2] == -1.0f && isnan(out[3]));
    assert_true(out[4] == -1.0f && out[5] == 1.0f && out[7] == 1e-30f);
    fx->fns[F_SIGMOID][w](out, in, 16);
    assert_true(out[1] == 1.0f && out[2] == 0.0f && isnan(out[3]));
    assert_true(out[4] >= 0.0f && out[4] < 1e-38f && out[5] == 1.0f && out[6] == 0.5f);
    fx->fns[F_ERF][w](out, in, 16);
    assert_true(out[0] == 0.0f && signbit(out[0]));
    assert_true(out[1] == 1.0f && out[2] == -1.0f && isnan(out[3]));
    assert_true(out[4] == -1.0f && out[5] == 1.0f);
    fx->fns[F_SIN][w](out, in, 16);
    assert_true(out[0] == 0.0f && signbit(out[0]) && isnan(out[1]) && isnan(out[2]));
    assert_true(isnan(out[3]) && out[7] == 1e-30f);
    fx->fns[F_COS][w](out, in, 16);
    assert_true(out[0] == 1.0f && isnan(out[1]) && isnan(out[3]));
    fx->fns[F_GELU][w](out, in, 16);
    assert_true(out[5] == 100.0f && fabsf(out[4]) < 1e-30f && isnan(out[3]));
    fx->fns[F_GELU_TANH][w](out, in, 16);
    assert_true(out[5] == 100.0f && fabsf(out[4]) < 1e-30f && isnan(out[3]));
    /* above the threshold x itself; far below, e^x (a subnormal at -100), then 0 */
    fx->fns[F_SOFTPLUS][w](out, in, 16);
    assert_true(out[1] == INFINITY && out[2] == 0.0f && isnan(out[3]) && out[5] == 100.0f);
    assert_true(out[4] > 0.0f && fabsf(out[4] - expf(-100.0f)) <= 1e-45f);
    assert_true(out[6] == (float)log(2.0) && out[0] == (float)log(2.0));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exp), cmocka_unit_test(test_tanh), cmocka_unit_test(test_sigmoid),
      cmocka_unit_test(test_erf), cmocka_unit_test(test_gelu), cmocka_unit_test(test_gelu_tanh),
      cmocka_unit_test(test_sin), cmocka_unit_test(test_cos),  cmocka_unit_test(test_softplus),
      cmocka_unit_test(test_exact_values),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
