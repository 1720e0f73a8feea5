/*
 * test_gemm.c: cg_emit_gemm against a plain double loop.
 *
 * The test JIT-compiles functions that call the emitter, with sizes and
 * strides as run-time arguments, or folded in as constants, for B stored
 * [k, n] or [n, k] (trans_b), with and without an epilogue (relu(acc +
 * bias[col] + row / 1024), which also checks the row and column the epilogue
 * is given). C lives in a larger buffer filled with NaN: the elements outside
 * the m x n matrix must stay NaN. With nth = 2 each thread alone must write a
 * part of C, the two parts disjoint and together all of it, and both threads
 * at once (pthreads) the right result.
 *
 * The shared form (cg_gemm.shared: one function per module and variant,
 * called with its sizes; the epilogue a call per finished tile) runs the
 * same cases, its epilogue the same relu written as such a function, plus
 * `accumulate` (C += A @ B) and a column window.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cg_internal.h"
#include "jit_helper.h"

/* void f(A, B, C, bias, m, n, k, lda, ldb, ldc, ith, nth) */
typedef void (*gemm_fn)(const float *a, const float *b, float *c, const float *bias, int64_t m,
                        int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc, int32_t ith,
                        int32_t nth);

#define WIDTH 16

/* what the epilogue needs to emit its code */
typedef struct epi_user {
  LLVMModuleRef mod; /* for the masked-load intrinsic */
  LLVMValueRef bias; /* ptr parameter of the function */
  int w;             /* vector width */
} epi_user;

/* relu(acc + bias[col..] + row / 1024) */
static LLVMValueRef bias_relu(void *user, LLVMBuilderRef b, LLVMValueRef acc, LLVMValueRef row,
                              LLVMValueRef col, LLVMValueRef mask) {
  epi_user *e = user;
  LLVMContextRef cx = LLVMGetModuleContext(e->mod);
  LLVMTypeRef f32 = LLVMFloatTypeInContext(cx), vf = LLVMVectorType(f32, (unsigned)e->w);
  LLVMTypeRef ptr = LLVMPointerTypeInContext(cx, 0), i32 = LLVMInt32TypeInContext(cx);
  LLVMValueRef p = LLVMBuildGEP2(b, f32, e->bias, &col, 1, "");
  LLVMValueRef bias;
  if (mask) {
    const char *name = "llvm.masked.load";
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMTypeRef types[2] = {vf, ptr};
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(e->mod, id, types, 2);
    LLVMValueRef args[4] = {p, LLVMConstInt(i32, 4, 0), mask, LLVMConstNull(vf)};
    bias = LLVMBuildCall2(b, LLVMIntrinsicGetType(cx, id, types, 2), fn, args, 4, "");
  } else {
    bias = LLVMBuildLoad2(b, vf, p, "");
    LLVMSetAlignment(bias, 4);
  }
  LLVMValueRef r =
      LLVMBuildFMul(b, LLVMBuildSIToFP(b, row, f32, ""), LLVMConstReal(f32, 1.0 / 1024), "");
  LLVMValueRef rv = LLVMBuildInsertElement(b, LLVMGetPoison(vf), r, LLVMConstInt(i32, 0, 0), "");
  rv = LLVMBuildShuffleVector(b, rv, LLVMGetPoison(vf),
                              LLVMConstNull(LLVMVectorType(i32, (unsigned)e->w)), "");
  LLVMValueRef s = LLVMBuildFAdd(b, LLVMBuildFAdd(b, acc, bias, ""), rv, "");
  LLVMValueRef pos = LLVMBuildFCmp(b, LLVMRealOGT, s, LLVMConstNull(vf), "");
  return LLVMBuildSelect(b, pos, s, LLVMConstNull(vf), "");
}

/*
 * The shared GEMM's epilogue (cg_gemm_epi_type) doing what bias_relu does:
 * C[r, j] = relu(C[r, j] + bias[j] + r / 1024) for r in [r0, r1), j in
 * [c0, c1); ctx is the bias. Scalar code: it checks the block it is given.
 */
static LLVMValueRef build_tile_relu(jh *h) {
  LLVMContextRef cx = h->cx;
  LLVMTypeRef f32 = LLVMFloatTypeInContext(cx), i64 = LLVMInt64TypeInContext(cx);
  LLVMValueRef fn = LLVMAddFunction(h->mod, "tile_relu", cg_gemm_epi_type(cx));
  LLVMBuilderRef b = LLVMCreateBuilderInContext(cx);
  LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(cx, fn, "entry");
  LLVMBasicBlockRef rows = LLVMAppendBasicBlockInContext(cx, fn, "rows");
  LLVMBasicBlockRef cols = LLVMAppendBasicBlockInContext(cx, fn, "cols");
  LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(cx, fn, "next_row");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(cx, fn, "done");
  LLVMValueRef bias = LLVMGetParam(fn, 0), c = LLVMGetParam(fn, 1), ldc = LLVMGetParam(fn, 2);
  LLVMValueRef r0 = LLVMGetParam(fn, 3), r1 = LLVMGetParam(fn, 4);
  LLVMValueRef c0 = LLVMGetParam(fn, 5), c1 = LLVMGetParam(fn, 6);
  LLVMPositionBuilderAtEnd(b, entry);
  LLVMValueRef empty = LLVMBuildOr(b, LLVMBuildICmp(b, LLVMIntSGE, r0, r1, ""),
                                   LLVMBuildICmp(b, LLVMIntSGE, c0, c1, ""), "");
  LLVMBuildCondBr(b, empty, done, rows);
  LLVMPositionBuilderAtEnd(b, rows);
  LLVMValueRef r = LLVMBuildPhi(b, i64, "r");
  LLVMBuildBr(b, cols);
  LLVMPositionBuilderAtEnd(b, cols);
  LLVMValueRef j = LLVMBuildPhi(b, i64, "j");
  LLVMValueRef at = LLVMBuildAdd(b, LLVMBuildMul(b, r, ldc, ""), j, "");
  LLVMValueRef pc = LLVMBuildGEP2(b, f32, c, &at, 1, "");
  LLVMValueRef pb = LLVMBuildGEP2(b, f32, bias, &j, 1, "");
  LLVMValueRef v = LLVMBuildFAdd(b, LLVMBuildLoad2(b, f32, pc, ""), LLVMBuildLoad2(b, f32, pb, ""), "");
  v = LLVMBuildFAdd(b, v,
                    LLVMBuildFMul(b, LLVMBuildSIToFP(b, r, f32, ""), LLVMConstReal(f32, 1.0 / 1024), ""),
                    "");
  LLVMValueRef pos = LLVMBuildFCmp(b, LLVMRealOGT, v, LLVMConstNull(f32), "");
  LLVMBuildStore(b, LLVMBuildSelect(b, pos, v, LLVMConstNull(f32), ""), pc);
  LLVMValueRef j1 = LLVMBuildAdd(b, j, LLVMConstInt(i64, 1, 0), "");
  LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, j1, c1, ""), cols, next);
  LLVMPositionBuilderAtEnd(b, next);
  LLVMValueRef rn = LLVMBuildAdd(b, r, LLVMConstInt(i64, 1, 0), "");
  LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, rn, r1, ""), rows, done);
  LLVMPositionBuilderAtEnd(b, done);
  LLVMBuildRetVoid(b);
  LLVMAddIncoming(r, (LLVMValueRef[]){r0, rn}, (LLVMBasicBlockRef[]){entry, next}, 2);
  LLVMAddIncoming(j, (LLVMValueRef[]){c0, j1}, (LLVMBasicBlockRef[]){rows, cols}, 2);
  LLVMDisposeBuilder(b);
  return fn;
}

/* how build_gemm calls the emitter */
typedef enum form {
  INLINE,     /* the GEMM's code in the function, epilogue in registers */
  SHARED,     /* a call of the module's shared GEMM, epilogue tile_relu */
  ACCUMULATE, /* shared, C += A @ B, no epilogue */
  WINDOW,     /* shared, columns [ith, nth) of every row (ith, nth: the window) */
  ROW_SCALE,  /* shared and specialized, C = C * bias[row] + A @ B */
  BOUNDED,    /* shared and specialized to constant sizes, m and k bounded by them */
} form;

/* sizes folded into a function as constants */
typedef struct dims {
  int64_t m, n, k, lda, ldb, ldc;
} dims;

/* defines NAME with the gemm_fn signature; sizes from d, or the arguments when d is NULL */
static void build_gemm_as(jh *h, const char *name, bool trans_b, bool epi, const dims *d, int w,
                          form how) {
  LLVMContextRef cx = h->cx;
  LLVMTypeRef ptr = LLVMPointerTypeInContext(cx, 0), i64 = LLVMInt64TypeInContext(cx);
  LLVMTypeRef i32 = LLVMInt32TypeInContext(cx);
  LLVMTypeRef params[12] = {ptr, ptr, ptr, ptr, i64, i64, i64, i64, i64, i64, i32, i32};
  LLVMValueRef fn =
      LLVMAddFunction(h->mod, name, LLVMFunctionType(LLVMVoidTypeInContext(cx), params, 12, 0));
  LLVMBuilderRef b = LLVMCreateBuilderInContext(cx);
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(cx, fn, "entry"));
  epi_user eu = {h->mod, LLVMGetParam(fn, 3), w};
  cg_gemm g = {0};
  g.a = LLVMGetParam(fn, 0);
  g.b = LLVMGetParam(fn, 1);
  g.c = LLVMGetParam(fn, 2);
  if (d) {
    g.m = LLVMConstInt(i64, (uint64_t)d->m, 0);
    g.n = LLVMConstInt(i64, (uint64_t)d->n, 0);
    g.k = LLVMConstInt(i64, (uint64_t)d->k, 0);
    g.lda = LLVMConstInt(i64, (uint64_t)d->lda, 0);
    g.ldb = LLVMConstInt(i64, (uint64_t)d->ldb, 0);
    g.ldc = LLVMConstInt(i64, (uint64_t)d->ldc, 0);
  } else {
    g.m = LLVMGetParam(fn, 4);
    g.n = LLVMGetParam(fn, 5);
    g.k = LLVMGetParam(fn, 6);
    g.lda = LLVMGetParam(fn, 7);
    g.ldb = LLVMGetParam(fn, 8);
    g.ldc = LLVMGetParam(fn, 9);
  }
  g.ith = LLVMGetParam(fn, 10);
  g.nth = LLVMGetParam(fn, 11);
  g.trans_b = trans_b;
  g.vec_width = w;
  g.shared = how != INLINE;
  g.accumulate = how == ACCUMULATE || how == ROW_SCALE;
  if (how == ROW_SCALE) g.specialize = true, g.row_scale = eu.bias;
  if (how == BOUNDED) g.specialize = true, g.m_max = d->m, g.k_max = d->k;
  if (how == WINDOW) {
    g.n_lo = LLVMBuildSExt(b, g.ith, i64, "");
    g.n_hi = LLVMBuildSExt(b, g.nth, i64, "");
  }
  if (epi && how == INLINE) {
    g.epilogue = bias_relu;
    g.user = &eu;
  } else if (epi) {
    LLVMValueRef f = LLVMGetNamedFunction(h->mod, "tile_relu");
    g.tile_epi = f ? f : build_tile_relu(h);
    g.tile_ctx = eu.bias;
  }
  cg_emit_gemm(h->mod, b, &g);
  LLVMBuildRetVoid(b);
  LLVMDisposeBuilder(b);
}

static void build_gemm(jh *h, const char *name, bool trans_b, bool epi, const dims *d, int w) {
  build_gemm_as(h, name, trans_b, epi, d, w, INLINE);
}

/* operands of one case, with C's surroundings */
typedef struct problem {
  int64_t m, n, k, lda, ldb, ldc;
  bool trans_b, epi;
  float *a, *b, *bias;
  double *want, *scale; /* reference, and sum of |terms| for the tolerance */
  size_t csize;         /* floats in a C buffer: ldc * m plus a guard */
} problem;

static float frand(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (float)((double)(*s >> 40) / (double)(1 << 24) * 2.0 - 1.0);
}

static void problem_init(problem *p, int64_t m, int64_t n, int64_t k, bool trans_b, bool epi,
                         int64_t pad) {
  memset(p, 0, sizeof *p);
  p->m = m, p->n = n, p->k = k, p->trans_b = trans_b, p->epi = epi;
  p->lda = k + pad;
  p->ldb = (trans_b ? k : n) + pad;
  p->ldc = n + pad;
  uint64_t s = (uint64_t)(m * 1000003 + n * 1009 + k * 7 + trans_b);
  size_t asz = (size_t)(m * p->lda + 1), bsz = (size_t)((trans_b ? n : k) * p->ldb + 1);
  p->a = malloc(asz * sizeof *p->a);
  p->b = malloc(bsz * sizeof *p->b);
  p->bias = malloc((size_t)(n + 1) * sizeof *p->bias);
  p->want = malloc((size_t)(m * n + 1) * sizeof *p->want);
  p->scale = malloc((size_t)(m * n + 1) * sizeof *p->scale);
  assert_true(p->a && p->b && p->bias && p->want && p->scale);
  for (size_t i = 0; i < asz; i++) p->a[i] = frand(&s);
  for (size_t i = 0; i < bsz; i++) p->b[i] = frand(&s);
  for (int64_t i = 0; i < n; i++) p->bias[i] = frand(&s);
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double sum = 0, mag = 0;
      for (int64_t q = 0; q < k; q++) {
        double bv = trans_b ? p->b[j * p->ldb + q] : p->b[q * p->ldb + j];
        sum += (double)p->a[i * p->lda + q] * bv;
        mag += fabs((double)p->a[i * p->lda + q] * bv);
      }
      if (epi) {
        sum += p->bias[j] + (double)i / 1024;
        mag += fabs(p->bias[j]) + (double)i / 1024;
        if (sum < 0) sum = 0;
      }
      p->want[i * n + j] = sum;
      p->scale[i * n + j] = mag;
    }
  p->csize = (size_t)(m * p->ldc + 64);
}

static void problem_free(problem *p) {
  free(p->a);
  free(p->b);
  free(p->bias);
  free(p->want);
  free(p->scale);
}

static float *new_c(const problem *p) {
  float *c = malloc(p->csize * sizeof *c);
  assert_non_null(c);
  for (size_t i = 0; i < p->csize; i++) c[i] = NAN;
  return c;
}

static void run(gemm_fn f, const problem *p, float *c, int ith, int nth) {
  f(p->a, p->b, c, p->bias, p->m, p->n, p->k, p->lda, p->ldb, p->ldc, ith, nth);
}

/* C matches the reference inside m x n and is untouched (NaN) outside */
static void check_c(const problem *p, const float *c, const char *what) {
  int64_t bad = 0;
  for (size_t idx = 0; idx < p->csize; idx++) {
    int64_t i = (int64_t)idx / p->ldc, j = (int64_t)idx % p->ldc;
    bool inside = i < p->m && j < p->n;
    bool ok;
    if (inside) {
      double want = p->want[i * p->n + j];
      ok = fabs((double)c[idx] - want) <= 1e-5 * (1.0 + p->scale[i * p->n + j]);
    } else {
      ok = isnan(c[idx]);
    }
    if (!ok && bad++ < 3)
      print_error("%s m=%ld n=%ld k=%ld trans_b=%d epi=%d: C[%ld, %ld] = %g, want %g\n", what,
                  (long)p->m, (long)p->n, (long)p->k, p->trans_b, p->epi, (long)i, (long)j,
                  (double)c[idx], inside ? p->want[i * p->n + j] : NAN);
  }
  assert_int_equal(bad, 0);
}

/* the fixture: every function compiled once */
typedef struct fixture {
  jh h;
  gemm_fn rt[2][2];  /* run-time sizes: [trans_b][epilogue] */
  gemm_fn ct[32];    /* constant sizes, one per entry of const_cases */
  gemm_fn narrow[4]; /* run-time sizes, epilogue: [width 8, 4] x [trans_b] */
  gemm_fn sh[2][2];  /* the shared form: [trans_b][epilogue] */
  gemm_fn sh_acc;    /* the shared form, accumulate */
  gemm_fn sh_win[2]; /* the shared form, a column window: [epilogue] */
  gemm_fn sh_scale;  /* the shared form, C = C * bias[row] + A @ B */
  gemm_fn bounded[3]; /* the shared form with m and k bounded: one per bounded_cases */
} fixture;

/* shapes compiled with constant sizes: m, n, k, trans_b, epilogue */
static const int64_t const_cases[][5] = {
    {1, 1, 1, 0, 1},     {1, 1024, 256, 0, 1}, {3, 7, 15, 1, 0},    {16, 16, 16, 0, 0},
    {17, 33, 31, 0, 1},  {64, 64, 64, 1, 1},   {100, 129, 7, 0, 0}, {129, 100, 300, 0, 1},
    {33, 17, 600, 1, 1}, {0, 5, 5, 0, 1},      {5, 0, 5, 0, 1},     {5, 5, 0, 0, 1},
    {2, 65, 3, 0, 1},    {8, 31, 17, 1, 0},
};
#define NCONST ((int)(sizeof const_cases / sizeof const_cases[0]))
/* m, n, k of the bounded shared form (at most 64 rows, a small B: the direct
 * path only, the packed one left out) */
static const int64_t bounded_cases[3][3] = {{1, 40, 9}, {17, 33, 31}, {64, 100, 300}};
static const int narrow_widths[2] = {8, 4};

static int setup(void **state) {
  fixture *fx = calloc(1, sizeof *fx);
  if (!fx) return -1;
  jh_init(&fx->h, "test_gemm");
  char name[64];
  for (int t = 0; t < 2; t++)
    for (int e = 0; e < 2; e++) {
      snprintf(name, sizeof name, "rt_%d_%d", t, e);
      build_gemm(&fx->h, name, t, e, NULL, WIDTH);
    }
  for (int i = 0; i < NCONST; i++) {
    const int64_t *cc = const_cases[i];
    /* the padding problem_init uses with pad = 1 */
    dims d = {cc[0], cc[1], cc[2], cc[2] + 1, (cc[3] ? cc[2] : cc[1]) + 1, cc[1] + 1};
    snprintf(name, sizeof name, "ct_%d", i);
    build_gemm(&fx->h, name, cc[3], cc[4], &d, WIDTH);
  }
  for (int i = 0; i < 4; i++) {
    snprintf(name, sizeof name, "narrow_%d", i);
    build_gemm(&fx->h, name, i % 2, true, NULL, narrow_widths[i / 2]);
  }
  for (int t = 0; t < 2; t++)
    for (int e = 0; e < 2; e++) {
      snprintf(name, sizeof name, "sh_%d_%d", t, e);
      build_gemm_as(&fx->h, name, t, e, NULL, WIDTH, SHARED);
    }
  build_gemm_as(&fx->h, "sh_acc", false, false, NULL, WIDTH, ACCUMULATE);
  build_gemm_as(&fx->h, "sh_win_0", false, false, NULL, WIDTH, WINDOW);
  build_gemm_as(&fx->h, "sh_win_1", false, true, NULL, WIDTH, WINDOW);
  build_gemm_as(&fx->h, "sh_scale", false, false, NULL, WIDTH, ROW_SCALE);
  for (int i = 0; i < 3; i++) {
    const int64_t *bc = bounded_cases[i];
    dims d = {bc[0], bc[1], bc[2], bc[2] + 1, bc[1] + 1, bc[1] + 1};
    snprintf(name, sizeof name, "bounded_%d", i);
    build_gemm_as(&fx->h, name, false, false, &d, WIDTH, BOUNDED);
  }
  if (jh_compile(&fx->h, 1)) return -1;
  for (int t = 0; t < 2; t++)
    for (int e = 0; e < 2; e++) {
      snprintf(name, sizeof name, "sh_%d_%d", t, e);
      if (!(fx->sh[t][e] = (gemm_fn)jh_lookup(&fx->h, name))) return -1;
    }
  if (!(fx->sh_acc = (gemm_fn)jh_lookup(&fx->h, "sh_acc"))) return -1;
  if (!(fx->sh_scale = (gemm_fn)jh_lookup(&fx->h, "sh_scale"))) return -1;
  for (int i = 0; i < 3; i++) {
    snprintf(name, sizeof name, "bounded_%d", i);
    if (!(fx->bounded[i] = (gemm_fn)jh_lookup(&fx->h, name))) return -1;
  }
  for (int e = 0; e < 2; e++) {
    snprintf(name, sizeof name, "sh_win_%d", e);
    if (!(fx->sh_win[e] = (gemm_fn)jh_lookup(&fx->h, name))) return -1;
  }
  for (int t = 0; t < 2; t++)
    for (int e = 0; e < 2; e++) {
      snprintf(name, sizeof name, "rt_%d_%d", t, e);
      if (!(fx->rt[t][e] = (gemm_fn)jh_lookup(&fx->h, name))) return -1;
    }
  for (int i = 0; i < NCONST; i++) {
    snprintf(name, sizeof name, "ct_%d", i);
    if (!(fx->ct[i] = (gemm_fn)jh_lookup(&fx->h, name))) return -1;
  }
  for (int i = 0; i < 4; i++) {
    snprintf(name, sizeof name, "narrow_%d", i);
    if (!(fx->narrow[i] = (gemm_fn)jh_lookup(&fx->h, name))) return -1;
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

static const int64_t sizes[] = {1, 2, 3, 7, 15, 16, 17, 31, 33, 64, 100, 129};
#define NSIZES ((int)(sizeof sizes / sizeof sizes[0]))

/* one thread, run-time sizes: the cross product of sizes (k over a subset) */
static void test_runtime_sizes(void **state) {
  fixture *fx = *state;
  static const int64_t ks[] = {1, 2, 7, 16, 33, 129};
  for (int t = 0; t < 2; t++)
    for (int mi = 0; mi < NSIZES; mi++)
      for (int ni = 0; ni < NSIZES; ni++)
        for (int ki = 0; ki < 6; ki++) {
          bool epi = (mi + ni + ki) % 2 == 0;
          problem p;
          problem_init(&p, sizes[mi], sizes[ni], ks[ki], t, epi, (mi + ki) % 3);
          float *c = new_c(&p);
          run(fx->rt[t][epi], &p, c, 0, 1);
          check_c(&p, c, "runtime");
          free(c);
          problem_free(&p);
        }
}

/*
 * k past one k block (KC = 256 packed, DIRECT_KB = 128 direct with several
 * rows), where C is reloaded and the epilogue waits for the last (257: a last
 * block of one step); the last shape's B is too large to be read in place by
 * 20 rows.
 */
static void test_long_k(void **state) {
  fixture *fx = *state;
  static const int64_t shapes[][3] = {{1, 300, 520}, {5, 40, 257},    {9, 17, 257},
                                      {33, 50, 600}, {100, 33, 1000}, {20, 1030, 1100}};
  for (int s = 0; s < 6; s++)
    for (int t = 0; t < 2; t++)
      for (int e = 0; e < 2; e++) {
        problem p;
        problem_init(&p, shapes[s][0], shapes[s][1], shapes[s][2], t, e, 1);
        float *c = new_c(&p);
        run(fx->rt[t][e], &p, c, 0, 1);
        check_c(&p, c, "long k");
        free(c);
        problem_free(&p);
      }
}

/* m, n or k = 0: nothing is written, or (k = 0) C = epilogue(0) */
static void test_empty(void **state) {
  fixture *fx = *state;
  static const int64_t shapes[][3] = {{0, 5, 5}, {5, 0, 5}, {5, 5, 0}, {0, 0, 0}, {40, 70, 0}};
  for (int s = 0; s < 5; s++)
    for (int t = 0; t < 2; t++)
      for (int e = 0; e < 2; e++) {
        problem p;
        problem_init(&p, shapes[s][0], shapes[s][1], shapes[s][2], t, e, 1);
        float *c = new_c(&p);
        run(fx->rt[t][e], &p, c, 0, 1);
        check_c(&p, c, "empty");
        free(c);
        problem_free(&p);
      }
}

static void test_constant_sizes(void **state) {
  fixture *fx = *state;
  for (int i = 0; i < NCONST; i++) {
    const int64_t *cc = const_cases[i];
    problem p;
    problem_init(&p, cc[0], cc[1], cc[2], cc[3], cc[4], 1);
    float *c = new_c(&p);
    run(fx->ct[i], &p, c, 0, 1);
    check_c(&p, c, "constant");
    free(c);
    problem_free(&p);
  }
}

/* the other vector widths, 8 and 4, with and without trans_b */
static void test_narrow_widths(void **state) {
  fixture *fx = *state;
  static const int64_t shapes[][3] = {{1, 37, 19},   {3, 9, 5},    {7, 64, 33},
                                      {17, 31, 300}, {64, 33, 17}, {100, 129, 64}};
  for (int i = 0; i < 4; i++)
    for (int s = 0; s < 6; s++) {
      problem p;
      problem_init(&p, shapes[s][0], shapes[s][1], shapes[s][2], i % 2, true, 2);
      float *c = new_c(&p);
      run(fx->narrow[i], &p, c, 0, 1);
      check_c(&p, c, "narrow");
      free(c);
      problem_free(&p);
    }
}

/* one call of the function on its own thread */
typedef struct job {
  gemm_fn f;
  const problem *p;
  float *c;
  int ith;
} job;

static void *run_job(void *arg) {
  job *j = arg;
  run(j->f, j->p, j->c, j->ith, 2);
  return NULL;
}

/* nth = 2: each thread alone writes its own part; both together all of C */
static void test_two_threads(void **state) {
  fixture *fx = *state;
  static const int64_t ms[] = {1, 2, 7, 16, 17, 33, 64, 129};
  static const int64_t ns[] = {1, 15, 17, 33, 100, 129};
  for (int t = 0; t < 2; t++)
    for (int mi = 0; mi < 8; mi++)
      for (int ni = 0; ni < 6; ni++) {
        bool epi = (mi + ni) % 2 == 1;
        int64_t k = (mi * 7 + ni) % 3 == 0 ? 300 : 31;
        problem p;
        problem_init(&p, ms[mi], ns[ni], k, t, epi, 1);
        gemm_fn f = fx->rt[t][epi];
        float *c0 = new_c(&p), *c1 = new_c(&p), *both = new_c(&p);
        run(f, &p, c0, 0, 2);
        run(f, &p, c1, 1, 2);
        int64_t overlap = 0, missing = 0;
        for (size_t i = 0; i < p.csize; i++) {
          bool w0 = !isnan(c0[i]), w1 = !isnan(c1[i]);
          overlap += w0 && w1;
          if (w1) c0[i] = c1[i];
          missing += !w0 && !w1 && (int64_t)i / p.ldc < p.m && (int64_t)i % p.ldc < p.n;
        }
        assert_int_equal(overlap, 0);
        assert_int_equal(missing, 0);
        check_c(&p, c0, "merged threads");
        pthread_t th[2];
        job jobs[2] = {{f, &p, both, 0}, {f, &p, both, 1}};
        for (int i = 0; i < 2; i++)
          assert_int_equal(pthread_create(&th[i], NULL, run_job, &jobs[i]), 0);
        for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
        check_c(&p, both, "two threads");
        free(c0);
        free(c1);
        free(both);
        problem_free(&p);
      }
}

/* the shared form, one thread: the sizes of test_runtime_sizes and test_long_k */
static void test_shared(void **state) {
  fixture *fx = *state;
  static const int64_t ks[] = {1, 7, 16, 33, 257, 600};
  for (int t = 0; t < 2; t++)
    for (int mi = 0; mi < NSIZES; mi++)
      for (int ni = 0; ni < NSIZES; ni += 2)
        for (int ki = 0; ki < 6; ki++) {
          bool epi = (mi + ni + ki) % 2 == 0;
          problem p;
          problem_init(&p, sizes[mi], sizes[ni], ks[ki], t, epi, (mi + ki) % 3);
          float *c = new_c(&p);
          run(fx->sh[t][epi], &p, c, 0, 1);
          check_c(&p, c, "shared");
          free(c);
          problem_free(&p);
        }
}

/* the shared form with nth = 2 and 3: the threads' parts together give C */
static void test_shared_threads(void **state) {
  fixture *fx = *state;
  static const int64_t ms[] = {1, 3, 17, 64, 129}, ns[] = {1, 33, 129};
  for (int t = 0; t < 2; t++)
    for (int mi = 0; mi < 5; mi++)
      for (int ni = 0; ni < 3; ni++)
        for (int nth = 2; nth <= 3; nth++) {
          bool epi = (mi + ni + nth) % 2 == 1;
          problem p;
          problem_init(&p, ms[mi], ns[ni], (mi + ni) % 2 ? 300 : 31, t, epi, 1);
          float *c = new_c(&p);
          for (int ith = 0; ith < nth; ith++) run(fx->sh[t][epi], &p, c, ith, nth);
          check_c(&p, c, "shared threads");
          free(c);
          problem_free(&p);
        }
}

/* C += A @ B: C starts at a known value inside m x n (NaN outside, untouched) */
static void test_shared_accumulate(void **state) {
  fixture *fx = *state;
  /* the direct path's one-row and several-row tiles, then (more than 64 rows) the packed path */
  static const int64_t shapes[][3] = {{1, 40, 9},     {3, 129, 64},  {17, 33, 31},
                                      {64, 100, 300}, {129, 100, 300}, {200, 40, 600}};
  for (int s = 0; s < 6; s++) {
    problem p;
    problem_init(&p, shapes[s][0], shapes[s][1], shapes[s][2], false, false, 1);
    float *c = new_c(&p);
    for (int64_t i = 0; i < p.m; i++)
      for (int64_t j = 0; j < p.n; j++) {
        float old = (float)((i * 7 + j) % 5) - 2.0f;
        c[i * p.ldc + j] = old;
        p.want[i * p.n + j] += old;
        p.scale[i * p.n + j] += fabs(old);
      }
    run(fx->sh_acc, &p, c, 0, 1);
    check_c(&p, c, "accumulate");
    free(c);
    problem_free(&p);
  }
}

/* C = C * scale[row] + A @ B (attention's rescale): the old C scaled once,
 * whatever the k blocks and the path; scale in the bias buffer (m floats) */
static void test_shared_row_scale(void **state) {
  fixture *fx = *state;
  static const int64_t shapes[][3] = {{1, 40, 9},     {3, 129, 300},   {17, 33, 31},
                                      {64, 100, 300}, {129, 100, 300}, {200, 40, 600}};
  for (int s = 0; s < 6; s++) {
    problem p;
    problem_init(&p, shapes[s][0], shapes[s][1], shapes[s][2], false, false, 1);
    float *scale = malloc(sizeof(float) * (size_t)(p.m + 1));
    assert_non_null(scale);
    float *c = new_c(&p);
    for (int64_t i = 0; i < p.m; i++) {
      scale[i] = 0.25f * (float)(i % 7) - 0.5f;
      for (int64_t j = 0; j < p.n; j++) {
        float old = (float)((i * 7 + j) % 5) - 2.0f;
        c[i * p.ldc + j] = old;
        p.want[i * p.n + j] += (double)old * scale[i];
        p.scale[i * p.n + j] += fabs((double)old * scale[i]);
      }
    }
    fx->sh_scale(p.a, p.b, c, scale, p.m, p.n, p.k, p.lda, p.ldb, p.ldc, 0, 1);
    check_c(&p, c, "row scale");
    free(c);
    free(scale);
    problem_free(&p);
  }
}

/* the bounded form (attention's P V: a query tile against a key tile) */
static void test_shared_bounded(void **state) {
  fixture *fx = *state;
  for (int i = 0; i < 3; i++) {
    problem p;
    problem_init(&p, bounded_cases[i][0], bounded_cases[i][1], bounded_cases[i][2], false,
                 false, 1);
    float *c = new_c(&p);
    run(fx->bounded[i], &p, c, 0, 1);
    check_c(&p, c, "bounded");
    free(c);
    problem_free(&p);
  }
}

/* a column window [lo, hi) of every row: only those columns are written */
static void test_shared_window(void **state) {
  fixture *fx = *state;
  static const int64_t shapes[][5] = {/* m, n, k, lo, hi */
                                      {1, 64, 20, 16, 48},
                                      {5, 100, 33, 32, 100},
                                      {40, 129, 300, 0, 64},
                                      {70, 64, 8, 48, 64}};
  for (int s = 0; s < 4; s++)
    for (int e = 0; e < 2; e++) {
      const int64_t *sh = shapes[s];
      problem p;
      problem_init(&p, sh[0], sh[1], sh[2], false, e, 1);
      float *c = new_c(&p);
      run(fx->sh_win[e], &p, c, (int)sh[3], (int)sh[4]);
      int64_t bad = 0;
      for (int64_t i = 0; i < p.m; i++)
        for (int64_t j = 0; j < p.n; j++) {
          float got = c[i * p.ldc + j];
          double want = p.want[i * p.n + j];
          bool inside = j >= sh[3] && j < sh[4];
          bad += inside ? !(fabs(got - want) <= 1e-5 * (1 + p.scale[i * p.n + j])) : !isnan(got);
        }
      if (bad) print_error("window %d epi %d: %ld wrong\n", s, e, (long)bad);
      assert_int_equal(bad, 0);
      free(c);
      problem_free(&p);
    }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_runtime_sizes), cmocka_unit_test(test_long_k),
      cmocka_unit_test(test_empty),         cmocka_unit_test(test_constant_sizes),
      cmocka_unit_test(test_narrow_widths), cmocka_unit_test(test_two_threads),
      cmocka_unit_test(test_shared),        cmocka_unit_test(test_shared_threads),
      cmocka_unit_test(test_shared_accumulate), cmocka_unit_test(test_shared_window),
      cmocka_unit_test(test_shared_row_scale),  cmocka_unit_test(test_shared_bounded),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
