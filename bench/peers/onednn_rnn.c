/* bench/peers/onednn_rnn.c: the oneDNN (C API, 2.x) peer for the RNN workloads.
 *
 * Runs PyTorch-equivalent nn.LSTM / nn.GRU / nn.RNN(tanh) inference with
 * oneDNN's own RNN primitives (dnnl_lstm_forward_desc_init,
 * dnnl_lbr_gru_forward_desc_init -- PyTorch's GRU is the
 * "linear-before-reset" variant -- and dnnl_vanilla_rnn_forward_desc_init),
 * prop_kind forward_inference, one primitive per layer (a bidirectional
 * multi-layer stack cannot be a single primitive because layer 1 sees 2H
 * input channels).  Weights come from prepare.py already in oneDNN's ldigo /
 * ldgo order (gates reordered there) and are reordered once, outside the
 * timed loop, into the primitive's preferred (packed) layout.  Initial states
 * are zeros, as in the PyTorch models.  The output sequence is checked
 * against PyTorch's (y.bin) and the error is reported.
 *
 * Build: bench/peers/setup.sh (cc -O2 -fopenmp onednn_rnn.c -ldnnl -lm, into
 * bench/out/peers/build)
 * Usage: onednn_rnn ARTDIR KIND T N I H LAYERS DIRS FLOPS [options]
 *   KIND: lstm | gru | rnn ; options: --workload NAME --threads N
 *   --budget SECONDS --min-iters N --max-iters N --warmup N
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

static float *load_f32(const char *dir, const char *name, size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cannot open %s\n", path);
    exit(2);
  }
  float *p = malloc(n * sizeof(float));
  if (fread(p, sizeof(float), n, f) != n) {
    fprintf(stderr, "short read %s (want %zu floats)\n", path, n);
    exit(2);
  }
  fclose(f);
  return p;
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

typedef struct {
  dnnl_primitive_t prim;
  dnnl_memory_t src, dst, wl, wi, bias, scratch;
} layer_t;

/* Reorder user memory (plain) into a memory with the primitive's desc. */
static dnnl_memory_t to_prim_layout(dnnl_engine_t eng, dnnl_stream_t st,
                                    const dnnl_memory_desc_t *user_md, float *user_data,
                                    const dnnl_memory_desc_t *want_md) {
  dnnl_memory_t user, out;
  CHECK(dnnl_memory_create(&user, user_md, eng, user_data));
  CHECK(dnnl_memory_create(&out, want_md, eng, DNNL_MEMORY_ALLOCATE));
  dnnl_primitive_desc_t rpd;
  CHECK(dnnl_reorder_primitive_desc_create(&rpd, user_md, eng, want_md, eng, NULL));
  dnnl_primitive_t r;
  CHECK(dnnl_primitive_create(&r, rpd));
  dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, out}};
  CHECK(dnnl_primitive_execute(r, st, 2, a));
  CHECK(dnnl_stream_wait(st));
  dnnl_primitive_destroy(r);
  dnnl_primitive_desc_destroy(rpd);
  dnnl_memory_destroy(user);
  return out;
}

int main(int argc, char **argv) {
  if (argc < 10) {
    fprintf(stderr, "usage: %s ARTDIR KIND T N I H LAYERS DIRS FLOPS [options]\n", argv[0]);
    return 2;
  }
  const char *dir = argv[1], *kind = argv[2];
  long T = atol(argv[3]), N = atol(argv[4]), I = atol(argv[5]), H = atol(argv[6]);
  int L = atoi(argv[7]), D = atoi(argv[8]);
  double flops = atof(argv[9]);
  const char *wname = "?";
  int threads = 2, min_iters = 5, max_iters = 1000, warmup = 3;
  double budget = 1.0;
  for (int i = 10; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--workload"))
      wname = argv[i + 1];
    else if (!strcmp(argv[i], "--threads"))
      threads = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--budget"))
      budget = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--min-iters"))
      min_iters = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--max-iters"))
      max_iters = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--warmup"))
      warmup = atoi(argv[i + 1]);
    else {
      fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  omp_set_num_threads(threads);

  int G, Gb; /* gates in weights, gates in bias */
  if (!strcmp(kind, "lstm"))
    G = 4, Gb = 4;
  else if (!strcmp(kind, "gru"))
    G = 3, Gb = 4; /* lbr: extra bias */
  else if (!strcmp(kind, "rnn"))
    G = 1, Gb = 1;
  else {
    fprintf(stderr, "bad kind %s\n", kind);
    return 2;
  }

  dnnl_engine_t eng;
  dnnl_stream_t st;
  CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
  CHECK(dnnl_stream_create(&st, eng, dnnl_stream_default_flags));

  dnnl_primitive_attr_t attr;
  CHECK(dnnl_primitive_attr_create(&attr));
  CHECK(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));

  float *x = load_f32(dir, "x.bin", (size_t)T * N * I);
  float *yref = load_f32(dir, "y.bin", (size_t)T * N * H * D);

  layer_t *ly = calloc(L, sizeof(layer_t));
  char impl_all[1024] = "";
  dnnl_memory_t prev_dst = NULL;
  for (int l = 0; l < L; ++l) {
    long Il = l == 0 ? I : H * D;
    dnnl_memory_desc_t src_md, dst_md, wl_any, wi_any, b_md, wl_user, wi_user;
    dnnl_dims_t src_d = {T, N, Il}, dst_d = {T, N, H * D};
    dnnl_dims_t wl_d = {1, D, Il, G, H}, wi_d = {1, D, H, G, H}, b_d = {1, D, Gb, H};
    CHECK(dnnl_memory_desc_init_by_tag(&src_md, 3, src_d, dnnl_f32, dnnl_tnc));
    CHECK(dnnl_memory_desc_init_by_tag(&dst_md, 3, dst_d, dnnl_f32, dnnl_tnc));
    CHECK(dnnl_memory_desc_init_by_tag(&wl_any, 5, wl_d, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&wi_any, 5, wi_d, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&wl_user, 5, wl_d, dnnl_f32, dnnl_ldigo));
    CHECK(dnnl_memory_desc_init_by_tag(&wi_user, 5, wi_d, dnnl_f32, dnnl_ldigo));
    CHECK(dnnl_memory_desc_init_by_tag(&b_md, 4, b_d, dnnl_f32, dnnl_ldgo));
    dnnl_rnn_direction_t dir_k =
        D == 2 ? dnnl_bidirectional_concat : dnnl_unidirectional_left2right;
    dnnl_rnn_desc_t rd;
    if (G == 4)
      CHECK(dnnl_lstm_forward_desc_init(&rd, dnnl_forward_inference, dir_k, &src_md, NULL, NULL,
                                        &wl_any, &wi_any, &b_md, &dst_md, NULL, NULL,
                                        dnnl_rnn_flags_undef));
    else if (G == 3)
      CHECK(dnnl_lbr_gru_forward_desc_init(&rd, dnnl_forward_inference, dir_k, &src_md, NULL,
                                           &wl_any, &wi_any, &b_md, &dst_md, NULL,
                                           dnnl_rnn_flags_undef));
    else
      CHECK(dnnl_vanilla_rnn_forward_desc_init(&rd, dnnl_forward_inference, dnnl_eltwise_tanh,
                                               dir_k, &src_md, NULL, &wl_any, &wi_any, &b_md,
                                               &dst_md, NULL, dnnl_rnn_flags_undef, 0.f, 0.f));
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_primitive_desc_create(&pd, &rd, attr, eng, NULL));
    const char *impl = NULL;
    CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
    if (l) strncat(impl_all, ",", sizeof impl_all - strlen(impl_all) - 1);
    strncat(impl_all, impl, sizeof impl_all - strlen(impl_all) - 1);

    char nm[64];
    snprintf(nm, sizeof nm, "dnnl_l%d_wl.bin", l);
    float *wl = load_f32(dir, nm, (size_t)D * Il * G * H);
    snprintf(nm, sizeof nm, "dnnl_l%d_wi.bin", l);
    float *wi = load_f32(dir, nm, (size_t)D * H * G * H);
    snprintf(nm, sizeof nm, "dnnl_l%d_b.bin", l);
    float *b = load_f32(dir, nm, (size_t)D * Gb * H);

    ly[l].wl = to_prim_layout(eng, st, &wl_user, wl,
                              dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0));
    ly[l].wi = to_prim_layout(eng, st, &wi_user, wi,
                              dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1));
    CHECK(dnnl_memory_create(&ly[l].bias, &b_md, eng, b));
    if (l == 0)
      CHECK(dnnl_memory_create(&ly[l].src, &src_md, eng, x));
    else
      ly[l].src = prev_dst;
    CHECK(dnnl_memory_create(&ly[l].dst, &dst_md, eng, DNNL_MEMORY_ALLOCATE));
    CHECK(dnnl_memory_create(&ly[l].scratch,
                             dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0), eng,
                             DNNL_MEMORY_ALLOCATE));
    prev_dst = ly[l].dst;
    CHECK(dnnl_primitive_create(&ly[l].prim, pd));
    dnnl_primitive_desc_destroy(pd);
    free(wl);
    free(wi);
  }

  /* one forward = all layers */
#define FORWARD()                                                                     \
  do {                                                                                \
    for (int l_ = 0; l_ < L; ++l_) {                                                  \
      dnnl_exec_arg_t a_[6] = {                                                       \
          {DNNL_ARG_SRC_LAYER, ly[l_].src},   {DNNL_ARG_WEIGHTS_LAYER, ly[l_].wl},    \
          {DNNL_ARG_WEIGHTS_ITER, ly[l_].wi}, {DNNL_ARG_BIAS, ly[l_].bias},           \
          {DNNL_ARG_DST_LAYER, ly[l_].dst},   {DNNL_ARG_SCRATCHPAD, ly[l_].scratch}}; \
      CHECK(dnnl_primitive_execute(ly[l_].prim, st, 6, a_));                          \
    }                                                                                 \
    CHECK(dnnl_stream_wait(st));                                                      \
  } while (0)

  double t0 = now_s();
  for (int i = 0; i < warmup || now_s() - t0 < 0.1; ++i) FORWARD();

  void *outp;
  CHECK(dnnl_memory_get_data_handle(ly[L - 1].dst, &outp));
  const float *out = outp;
  double err = 0;
  for (size_t i = 0; i < (size_t)T * N * H * D; ++i) {
    double e = fabs((double)out[i] - yref[i]);
    if (e > err || isnan(e)) err = e;
  }

  double *ts = malloc(sizeof(double) * max_iters);
  int n = 0;
  double start = now_s();
  while (n < max_iters && (n < min_iters || now_s() - start < budget)) {
    double a = now_s();
    FORWARD();
    ts[n++] = now_s() - a;
  }
  qsort(ts, n, sizeof(double), cmp_d);
  double med = pct(ts, n, 50), p10 = pct(ts, n, 10), p90 = pct(ts, n, 90);

  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  const dnnl_version_t *v = dnnl_version();
  printf(
      "{\"workload\": \"%s\", \"peer\": \"onednn_c\", \"median_ms\": %.4f, "
      "\"p10_ms\": %.4f, \"p90_ms\": %.4f, \"peak_rss_mb\": %.1f, "
      "\"gflops\": %.2f, \"flops\": %.0f, \"iters\": %d, \"threads\": %d, "
      "\"max_abs_err\": %.3g, \"impl\": \"%s\", \"lib\": \"oneDNN "
      "%d.%d.%d\"}\n",
      wname, med * 1e3, p10 * 1e3, p90 * 1e3, ru.ru_maxrss / 1024.0, flops / med / 1e9, flops, n,
      threads, err, impl_all, v->major, v->minor, v->patch);
  return 0;
}
