/* bench/peers/onednn_matmul.c: the practical sgemm peak through oneDNN's matmul primitive (C
 * API, 2.x).
 *
 * C[M,N] = A[M,K] * B[K,N], f32, row-major ("ab") src/dst.  Weights (B) are
 * row-major too by default; --packed lets the primitive choose its weights
 * layout (format_tag any, reordered once outside the timed loop).
 *
 * Build: bench/peers/setup.sh (cc -O2 -fopenmp onednn_matmul.c -ldnnl -lm, into
 * bench/out/peers/build)
 * Usage: onednn_matmul [--m M --n N --k K --threads T --budget S
 *                       --min-iters N --packed 0|1 --peer NAME]
 * Prints one JSON line on stdout.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "dnnl.h"

#define CHECK(f)                                                                          \
  do {                                                                                    \
    dnnl_status_t s_ = (f);                                                               \
    if (s_ != dnnl_success) {                                                             \
      fprintf(stderr, "oneDNN error %d at %s:%d: %s\n", (int)s_, __FILE__, __LINE__, #f); \
      exit(2);                                                                            \
    }                                                                                     \
  } while (0)

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double pct(const double *s, int n, double q) {
  if (n == 1) return s[0];
  double pos = (n - 1) * q / 100.0;
  int lo = (int)floor(pos), hi = lo + 1 < n ? lo + 1 : n - 1;
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

int main(int argc, char **argv) {
  long M = 1024, N = 1024, K = 1024;
  int threads = 2, min_iters = 10, max_iters = 2000, packed = 0;
  double budget = 0.5;
  const char *peer = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--m"))
      M = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--n"))
      N = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--k"))
      K = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--threads"))
      threads = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--budget"))
      budget = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--min-iters"))
      min_iters = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--packed"))
      packed = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--peer"))
      peer = argv[i + 1];
    else {
      fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  omp_set_num_threads(threads);
  char peer_buf[64];
  if (!peer) {
    snprintf(peer_buf, sizeof peer_buf, "onednn_matmul%s_t%d", packed ? "_packed" : "", threads);
    peer = peer_buf;
  }

  dnnl_engine_t eng;
  dnnl_stream_t st;
  CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
  CHECK(dnnl_stream_create(&st, eng, dnnl_stream_default_flags));

  dnnl_memory_desc_t a_md, b_md, b_user_md, c_md;
  dnnl_dims_t ad = {M, K}, bd = {K, N}, cd = {M, N};
  CHECK(dnnl_memory_desc_init_by_tag(&a_md, 2, ad, dnnl_f32, dnnl_ab));
  CHECK(dnnl_memory_desc_init_by_tag(&b_user_md, 2, bd, dnnl_f32, dnnl_ab));
  CHECK(
      dnnl_memory_desc_init_by_tag(&b_md, 2, bd, dnnl_f32, packed ? dnnl_format_tag_any : dnnl_ab));
  CHECK(dnnl_memory_desc_init_by_tag(&c_md, 2, cd, dnnl_f32, dnnl_ab));
  dnnl_matmul_desc_t md;
  CHECK(dnnl_matmul_desc_init(&md, &a_md, &b_md, NULL, &c_md));
  dnnl_primitive_desc_t pd;
  CHECK(dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL));
  const char *impl = NULL;
  CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
  const dnnl_memory_desc_t *b_want = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);

  dnnl_memory_t a, b_user, b, c;
  CHECK(dnnl_memory_create(&a, &a_md, eng, DNNL_MEMORY_ALLOCATE));
  CHECK(dnnl_memory_create(&b_user, &b_user_md, eng, DNNL_MEMORY_ALLOCATE));
  CHECK(dnnl_memory_create(&c, &c_md, eng, DNNL_MEMORY_ALLOCATE));
  CHECK(dnnl_memory_create(&b, b_want, eng, DNNL_MEMORY_ALLOCATE));
  float *pa, *pb;
  CHECK(dnnl_memory_get_data_handle(a, (void **)&pa));
  CHECK(dnnl_memory_get_data_handle(b_user, (void **)&pb));
  srand(1);
  for (long i = 0; i < M * K; ++i) pa[i] = rand() / (float)RAND_MAX - 0.5f;
  for (long i = 0; i < K * N; ++i) pb[i] = rand() / (float)RAND_MAX - 0.5f;
  {
    dnnl_primitive_desc_t rpd;
    CHECK(dnnl_reorder_primitive_desc_create(&rpd, &b_user_md, eng, b_want, eng, NULL));
    dnnl_primitive_t r;
    CHECK(dnnl_primitive_create(&r, rpd));
    dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, b_user}, {DNNL_ARG_TO, b}};
    CHECK(dnnl_primitive_execute(r, st, 2, ra));
    CHECK(dnnl_stream_wait(st));
  }
  dnnl_primitive_t mm;
  CHECK(dnnl_primitive_create(&mm, pd));
  dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}};

  double t0 = now_s();
  for (int i = 0; i < 3 || now_s() - t0 < 0.2; ++i) {
    CHECK(dnnl_primitive_execute(mm, st, 3, args));
    CHECK(dnnl_stream_wait(st));
  }
  double *ts = malloc(sizeof(double) * max_iters);
  int n = 0;
  double start = now_s();
  while (n < max_iters && (n < min_iters || now_s() - start < budget)) {
    double s = now_s();
    CHECK(dnnl_primitive_execute(mm, st, 3, args));
    CHECK(dnnl_stream_wait(st));
    ts[n++] = now_s() - s;
  }
  qsort(ts, n, sizeof(double), cmp_d);
  double med = pct(ts, n, 50);
  double fl = 2.0 * M * N * K;
  /* spot-check one output element against a naive dot product */
  float *pc;
  CHECK(dnnl_memory_get_data_handle(c, (void **)&pc));
  double ref = 0;
  for (long k = 0; k < K; ++k) ref += (double)pa[7 * K + k] * pb[k * N + 5];
  double err = fabs(ref - pc[7 * N + 5]);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf(
      "{\"workload\": \"sgemm_%ldx%ldx%ld\", \"peer\": \"%s\", "
      "\"median_ms\": %.4f, \"p10_ms\": %.4f, \"p90_ms\": %.4f, "
      "\"peak_rss_mb\": %.1f, \"gflops\": %.2f, \"flops\": %.0f, "
      "\"iters\": %d, \"threads\": %d, \"max_abs_err\": %.3g, "
      "\"impl\": \"%s\"}\n",
      M, N, K, peer, med * 1e3, pct(ts, n, 10) * 1e3, pct(ts, n, 90) * 1e3, ru.ru_maxrss / 1024.0,
      fl / med / 1e9, fl, n, threads, err, impl);
  return 0;
}
