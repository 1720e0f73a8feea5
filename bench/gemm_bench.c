/*
 * gemm_bench.c: GFLOP/s of codegen's GEMM (cg_emit_gemm) JIT-compiled for
 * this machine, on one thread and on two (nth = 2, two pthreads each calling
 * the kernel with its ith, as the runtime's team does), for the square
 * 1024^3 case and RNN / MLP shapes. Sizes are compiled in as constants (dims
 * bound, the usual case) and also passed at run time.
 *
 *   gemm_bench [seconds per measurement, default 0.5] [m k n trans_b]...
 *
 * Shapes given on the command line replace the default list. GEMM_LOCKSTEP=1:
 * the two threads meet at a barrier after every call (as a scan's steps do).
 * On a VM whose two vCPUs may share a physical core, the two-thread column is
 * unreliable.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/codegen/jit_helper.h"
#include "cg_internal.h"

typedef void (*gemm_fn)(const float *a, const float *b, float *c, int64_t m, int64_t n, int64_t k,
                        int32_t ith, int32_t nth);

/* one benchmarked shape: C[m, n] = A[m, k] @ B (B [k, n], or [n, k] when trans_b) */
typedef struct shape {
  int64_t m, k, n;
  bool trans_b;
  const char *what; /* where the shape comes from */
} shape;

static const shape shapes_default[] = {
    {1024, 1024, 1024, false, "square"},
    {1, 256, 1024, false, "RNN step, batch 1 (LSTM H=256 gates)"},
    {64, 512, 2048, false, "MLP up-projection, 64 rows"},
    {64, 2048, 512, false, "MLP down-projection, 64 rows"},
    {8192, 256, 512, false, "MLP fc1 of bench/bench_mlp.sh (B*T = 8192)"},
    {512, 64, 512, true, "attention scores Q K^T (T=512, d=64)"},
};
#define MAX_SHAPES 32

/* defines `name`: the GEMM of s with constant sizes (or run-time ones) */
static void build(jh *h, const char *name, const shape *s, bool constant, int w) {
  LLVMContextRef cx = h->cx;
  LLVMTypeRef ptr = LLVMPointerTypeInContext(cx, 0), i64 = LLVMInt64TypeInContext(cx);
  LLVMTypeRef i32 = LLVMInt32TypeInContext(cx);
  LLVMTypeRef params[8] = {ptr, ptr, ptr, i64, i64, i64, i32, i32};
  LLVMValueRef fn =
      LLVMAddFunction(h->mod, name, LLVMFunctionType(LLVMVoidTypeInContext(cx), params, 8, 0));
  LLVMBuilderRef b = LLVMCreateBuilderInContext(cx);
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(cx, fn, "entry"));
  cg_gemm g = {0};
  g.a = LLVMGetParam(fn, 0);
  g.b = LLVMGetParam(fn, 1);
  g.c = LLVMGetParam(fn, 2);
  if (constant) {
    g.m = LLVMConstInt(i64, (uint64_t)s->m, 0);
    g.n = LLVMConstInt(i64, (uint64_t)s->n, 0);
    g.k = LLVMConstInt(i64, (uint64_t)s->k, 0);
  } else {
    g.m = LLVMGetParam(fn, 3);
    g.n = LLVMGetParam(fn, 4);
    g.k = LLVMGetParam(fn, 5);
  }
  g.lda = g.k;
  g.ldb = s->trans_b ? g.k : g.n;
  g.ldc = g.n;
  g.trans_b = s->trans_b;
  g.ith = LLVMGetParam(fn, 6);
  g.nth = LLVMGetParam(fn, 7);
  g.vec_width = w;
  cg_emit_gemm(h->mod, b, &g);
  LLVMBuildRetVoid(b);
  LLVMDisposeBuilder(b);
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* a call of the kernel by one thread of a team */
typedef struct job {
  gemm_fn f;
  const shape *s;
  const float *a, *b;
  float *c;
  int ith, nth;
  long iters;
  atomic_long *arrived; /* GEMM_LOCKSTEP: calls finished by all threads, as a barrier */
} job;

static void *run_job(void *arg) {
  job *j = arg;
  for (long i = 0; i < j->iters; i++) {
    j->f(j->a, j->b, j->c, j->s->m, j->s->n, j->s->k, j->ith, j->nth);
    if (j->arrived) { /* every call starts together, as the steps of a scan do */
      atomic_fetch_add(j->arrived, 1);
      while (atomic_load(j->arrived) < (i + 1) * j->nth) __builtin_ia32_pause();
    }
  }
  return NULL;
}

/*
 * Seconds per call of f with nth threads: the best of batches of about 20 ms
 * filling the budget (the machine is a VM with bursts of outside load; the
 * best batch is the kernel's own speed).
 */
static double time_call(gemm_fn f, const shape *s, const float *a, const float *b, float *c,
                        int nth, double budget) {
  job jobs[2];
  atomic_long arrived = 0;
  bool lockstep = getenv("GEMM_LOCKSTEP") && nth > 1;
  for (int t = 0; t < nth; t++) jobs[t] = (job){f, s, a, b, c, t, nth, 1, NULL};
  double t0 = now();
  run_job(&jobs[0]);
  long iters = (long)(0.02 / (now() - t0 + 1e-9)) + 1;
  double best = 1e30, start_all = now();
  do {
    atomic_store(&arrived, 0);
    for (int t = 0; t < nth; t++) jobs[t].iters = iters, jobs[t].arrived = lockstep ? &arrived : NULL;
    pthread_t th[2];
    double start = now();
    for (int t = 1; t < nth; t++) pthread_create(&th[t], NULL, run_job, &jobs[t]);
    run_job(&jobs[0]);
    for (int t = 1; t < nth; t++) pthread_join(th[t], NULL);
    double dt = (now() - start) / (double)iters;
    if (dt < best) best = dt;
  } while (now() - start_all < budget);
  return best;
}

int main(int argc, char **argv) {
  double budget = argc > 1 ? atof(argv[1]) : 0.5;
  shape shapes[MAX_SHAPES];
  int nshapes = 0;
  for (int i = 2; i + 3 < argc && nshapes < MAX_SHAPES; i += 4)
    shapes[nshapes++] = (shape){atol(argv[i]), atol(argv[i + 1]), atol(argv[i + 2]),
                                atoi(argv[i + 3]) != 0, "custom"};
  if (!nshapes) {
    nshapes = (int)(sizeof shapes_default / sizeof shapes_default[0]);
    memcpy(shapes, shapes_default, sizeof shapes_default);
  }
  char *features = LLVMGetHostCPUFeatures();
  int w = strstr(features, "+avx512f") ? 16 : strstr(features, "+avx2") ? 8 : 4;
  char *cpu = LLVMGetHostCPUName();
  printf("host %s, vector width %d\n", cpu, w);
  LLVMDisposeMessage(cpu);
  LLVMDisposeMessage(features);

  jh h;
  jh_init(&h, "gemm_bench");
  char name[64];
  for (int i = 0; i < nshapes; i++)
    for (int c = 0; c < 2; c++) {
      snprintf(name, sizeof name, "gemm_%d_%d", i, c);
      build(&h, name, &shapes[i], c == 1, w);
    }
  if (jh_compile(&h, 1)) return 1;

  printf("%-6s %-6s %-6s %-3s %-9s %10s %10s  %s\n", "m", "k", "n", "tB", "sizes", "1 thread",
         "2 threads", "GFLOP/s");
  for (int i = 0; i < nshapes; i++) {
    const shape *s = &shapes[i];
    size_t asz = (size_t)(s->m * s->k), bsz = (size_t)(s->k * s->n), csz = (size_t)(s->m * s->n);
    float *a = aligned_alloc(64, (asz * 4 + 63) / 64 * 64);
    float *b = aligned_alloc(64, (bsz * 4 + 63) / 64 * 64);
    float *c = aligned_alloc(64, (csz * 4 + 63) / 64 * 64);
    for (size_t j = 0; j < asz; j++) a[j] = (float)(j % 7) * 0.25f - 0.75f;
    for (size_t j = 0; j < bsz; j++) b[j] = (float)(j % 5) * 0.25f - 0.5f;
    double flop = 2.0 * (double)s->m * (double)s->n * (double)s->k;
    for (int cst = 1; cst >= 0; cst--) {
      snprintf(name, sizeof name, "gemm_%d_%d", i, cst);
      gemm_fn f = (gemm_fn)jh_lookup(&h, name);
      if (!f) return 1;
      double t1 = time_call(f, s, a, b, c, 1, budget);
      double t2 = time_call(f, s, a, b, c, 2, budget);
      printf("%-6ld %-6ld %-6ld %-3d %-9s %10.1f %10.1f  %s\n", (long)s->m, (long)s->k, (long)s->n,
             s->trans_b, cst ? "constant" : "run-time", flop / t1 / 1e9, flop / t2 / 1e9, s->what);
    }
    free(a);
    free(b);
    free(c);
  }
  jh_free(&h);
  return 0;
}
