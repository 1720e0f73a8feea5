/*
 * test_session.c: sessions over hand-written model descriptors and entry
 * functions: symbol binding, the arena plan, prepare, parameters from files,
 * memory and random values, input checks, and results at 1 and 2 threads.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rt.h"

static char dir[64];

static int make_dir(void **state) {
  strcpy(dir, "/tmp/seqrt_session_XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static const char *tmp_path(const char *name) {
  static char buf[256];
  snprintf(buf, sizeof buf, "%s/%s", dir, name);
  return buf;
}

/* rows [lo, hi) of n that thread ith of nth takes */
static void share(int64_t n, int32_t ith, int32_t nth, int64_t *lo, int64_t *hi) {
  *lo = n * ith / nth;
  *hi = n * (ith + 1) / nth;
}

/* ---- the toy model: P = 2*w at prepare; t = x + P; y = t * 3 (through a view); s = rowsum(y) */

enum { SYM_B, SYM_N };
enum { X, W, P, T, T_FLAT, Y, S, Y_FLAT, NTOY };

#define DIM(c, s0, s1)  \
  {                     \
    (c), { (s0), (s1) } \
  }
#define SYM(s) DIM(1, s, -1)

static const char *const toy_sym_names[] = {"B", "N"};
static const int64_t toy_defaults[] = {2, 3};
static const int64_t toy_unbound[] = {-1, -1};
static const seqrt_buffer_desc toy_bufs[NTOY] = {
    [X] = {"x", SEQRT_F32, SEQRT_ROLE_INPUT, 2, {SYM(SYM_B), SYM(SYM_N)}, -1, -1, -1},
    [W] = {"w", SEQRT_F32, SEQRT_ROLE_PARAM, 1, {SYM(SYM_N)}, -1, -1, -1},
    [P] = {"p", SEQRT_F32, SEQRT_ROLE_PREPARED, 1, {SYM(SYM_N)}, -1, -1, -1},
    [T] = {"t", SEQRT_F32, SEQRT_ROLE_TEMP, 2, {SYM(SYM_B), SYM(SYM_N)}, 0, 0, -1},
    [T_FLAT] = {"t_flat", SEQRT_F32, SEQRT_ROLE_ALIAS, 1, {DIM(1, SYM_B, SYM_N)}, 1, 1, T},
    [Y] = {"y", SEQRT_F32, SEQRT_ROLE_OUTPUT, 2, {SYM(SYM_B), SYM(SYM_N)}, 1, 2, -1},
    [S] = {"s", SEQRT_F32, SEQRT_ROLE_OUTPUT, 1, {SYM(SYM_B)}, 2, 2, -1},
    [Y_FLAT] = {"y_flat", SEQRT_F32, SEQRT_ROLE_ALIAS, 1, {DIM(1, SYM_B, SYM_N)}, 3, 3, Y},
};
static const int32_t toy_inputs[] = {X};
static const int32_t toy_outputs[] = {Y, S, Y_FLAT};
static const char *const toy_output_names[] = {"y", "s", "y_flat"};

static atomic_int prepare_calls;

static void toy_prepare(void *const *bufs, const int64_t *syms, seqrt_team *team, int32_t ith,
                        int32_t nth) {
  const float *w = bufs[W];
  float *p = bufs[P];
  int64_t lo, hi;
  share(syms[SYM_N], ith, nth, &lo, &hi);
  for (int64_t j = lo; j < hi; j++) p[j] = 2 * w[j];
  if (ith == 0) atomic_fetch_add(&prepare_calls, 1);
}

static void toy_run(void *const *bufs, const int64_t *syms, seqrt_team *team, int32_t ith,
                    int32_t nth) {
  int64_t B = syms[SYM_B], N = syms[SYM_N], lo, hi;
  const float *x = bufs[X], *p = bufs[P];
  float *t = bufs[T], *y = bufs[Y], *s = bufs[S];
  const float *t_flat = bufs[T_FLAT];
  share(B, ith, nth, &lo, &hi);
  for (int64_t r = lo; r < hi; r++)
    for (int64_t j = 0; j < N; j++) t[r * N + j] = x[r * N + j] + p[j];
  seqrt_barrier(team, ith);
  share(B * N, ith, nth, &lo, &hi);
  for (int64_t i = lo; i < hi; i++) y[i] = t_flat[i] * 3;
  seqrt_barrier(team, ith);
  share(B, ith, nth, &lo, &hi);
  for (int64_t r = lo; r < hi; r++) {
    float sum = 0;
    for (int64_t j = 0; j < N; j++) sum += y[r * N + j];
    s[r] = sum;
  }
}

static const seqrt_model_desc toy = {
    .abi_version = SEQRT_ABI_VERSION,
    .name = "toy",
    .nsyms = 2,
    .sym_names = toy_sym_names,
    .sym_defaults = toy_defaults,
    .sym_bound = toy_unbound,
    .nbufs = NTOY,
    .bufs = toy_bufs,
    .ninputs = 1,
    .inputs = toy_inputs,
    .noutputs = 3,
    .outputs = toy_outputs,
    .output_names = toy_output_names,
    .prepare = toy_prepare,
    .run = toy_run,
};

/* runs toy with B rows of x[r][j] = r*N + j + 1 and w[j] = j + 0.5; checks every output */
static void check_toy(int64_t B, int nthreads) {
  int64_t N = 3, syms[2] = {B, N};
  seqrt_error err;
  seqrt_session *s = seqrt_session_new(&toy, syms, nthreads, &err);
  if (!s) fail_msg("%s", err.msg);
  assert_int_equal(seqrt_session_sym(s, SYM_B), B);
  assert_int_equal(seqrt_session_sym(s, SYM_N), N);
  assert_int_equal(seqrt_session_sym(s, 2), -1);
  float w[3] = {0.5f, 1.5f, 2.5f};
  seqrt_tensor wt = {SEQRT_F32, 1, {N}, w};
  assert_int_equal(seqrt_session_set_param(s, "w", &wt, &err), 0);
  float *x = malloc(sizeof(float) * (size_t)(B * N));
  for (int64_t i = 0; i < B * N; i++) x[i] = (float)(i + 1);
  seqrt_tensor in = {SEQRT_F32, 2, {B, N}, x}, out[3];
  int before = atomic_load(&prepare_calls);
  if (seqrt_session_run(s, &in, out, &err)) fail_msg("%s", err.msg);
  assert_int_equal(atomic_load(&prepare_calls), before + 1);
  assert_int_equal(out[0].rank, 2);
  assert_int_equal(out[0].shape[0], B);
  assert_int_equal(out[0].shape[1], N);
  assert_int_equal(out[1].rank, 1);
  assert_int_equal(out[1].shape[0], B);
  assert_int_equal(out[2].rank, 1);
  assert_int_equal(out[2].shape[0], B * N);
  assert_ptr_equal(out[2].data, out[0].data); /* a view of y */
  for (int64_t r = 0; r < B; r++) {
    float sum = 0;
    for (int64_t j = 0; j < N; j++) {
      float want = (x[r * N + j] + 2 * w[j]) * 3;
      assert_float_equal(((float *)out[0].data)[r * N + j], want, 1e-5);
      sum += want;
    }
    assert_float_equal(((float *)out[1].data)[r], sum, 1e-4);
  }
  /* a second run does not prepare again */
  if (seqrt_session_run(s, &in, out, &err)) fail_msg("%s", err.msg);
  assert_int_equal(atomic_load(&prepare_calls), before + 1);
  free(x);
  seqrt_session_free(s);
}

static void test_toy_one_thread(void **state) {
  check_toy(2, 1);
  check_toy(5, 1);
}

static void test_toy_two_threads(void **state) {
  check_toy(2, 2);
  check_toy(7, 2);
  check_toy(1, 2); /* a thread with no rows still meets the barriers */
  check_toy(4, 0); /* all cores */
}

/* y and s live to the end; t (kept alive by its view until step 1) may share only with s */
static void test_toy_memory(void **state) {
  seqrt_error err;
  seqrt_session *s = seqrt_session_new(&toy, NULL, 1, &err);
  if (!s) fail_msg("%s", err.msg);
  assert_int_equal(s->bytes[T], 64); /* 24 bytes, rounded to 64 */
  for (int b = 0; b < NTOY; b++)
    if (s->bufs[b]) assert_int_equal((uintptr_t)s->bufs[b] % 64, 0);
  unsigned char *t = s->bufs[T], *y = s->bufs[Y], *sum = s->bufs[S];
  assert_true(t + 64 <= y || y + 64 <= t);
  assert_true(sum + 64 <= y || y + 64 <= sum);
  assert_ptr_equal(sum, t);
  assert_int_equal(seqrt_session_arena_bytes(s), 2 * 64 + 64); /* arena + prepared p */
  seqrt_session_free(s);
}

/* the need, known without allocating, is what a session then takes; at dims
 * too large to allocate it is still known (and nothing is allocated) */
static void test_need(void **state) {
  seqrt_error err;
  seqrt_memory_need need;
  assert_int_equal(seqrt_session_need(&toy, NULL, &need, &err), 0);
  seqrt_session *s = seqrt_session_new(&toy, NULL, 1, &err);
  if (!s) fail_msg("%s", err.msg);
  assert_int_equal(need.arena + need.prepared + need.state, seqrt_session_arena_bytes(s));
  assert_int_equal(need.arena, 2 * 64);
  assert_int_equal(need.prepared, 64);
  assert_int_equal(need.params, 64); /* w [N]: 12 bytes, rounded */
  assert_int_equal(need.inputs, 64); /* x [B, N]: 24 bytes, rounded */
  seqrt_session_free(s);
  int64_t huge[] = {(int64_t)1 << 24, (int64_t)1 << 20}; /* y alone: 64 TiB */
  assert_int_equal(seqrt_session_need(&toy, huge, &need, &err), 0);
  assert_true(need.arena >= ((size_t)1 << 46));
  assert_int_equal(need.inputs, (size_t)4 << 44);
  int64_t too_big[] = {(int64_t)1 << 40, (int64_t)1 << 40}; /* does not fit size_t */
  assert_int_not_equal(seqrt_session_need(&toy, too_big, &need, &err), 0);
  assert_non_null(strstr(err.msg, "too large"));
  /* sizes as --max-memory takes them */
  size_t n;
  assert_int_equal(seqrt_parse_size("512M", &n), 0);
  assert_int_equal(n, (size_t)512 << 20);
  assert_int_equal(seqrt_parse_size("2GB", &n), 0);
  assert_int_equal(n, (size_t)2 << 30);
  assert_int_equal(seqrt_parse_size("4096", &n), 0);
  assert_int_equal(n, 4096);
  const char *bad[] = {"", "0", "-1", "1.5G", "12Q", "G", "2 G", "99999999999T"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_int_not_equal(seqrt_parse_size(bad[i], &n), 0);
  char buf[32];
  assert_string_equal(seqrt_format_size((size_t)3 << 29, buf, sizeof buf), "1.5 GiB");
  assert_string_equal(seqrt_format_size(100, buf, sizeof buf), "100 bytes");
}

/* ---- a chain of temps: t0 = x + 1, t_i = t_{i-1} + 1, out = t_last + 1 */

enum { CHAIN_N = 1000, CHAIN_L = 12 };

static void chain_run(void *const *bufs, const int64_t *syms, seqrt_team *team, int32_t ith,
                      int32_t nth) {
  int64_t lo, hi;
  share(CHAIN_N, ith, nth, &lo, &hi);
  for (int step = 0; step <= CHAIN_L; step++) {
    const float *src = bufs[step == 0 ? 0 : step];
    float *dst = bufs[step + 1];
    for (int64_t i = lo; i < hi; i++) dst[i] = src[i] + 1;
    seqrt_barrier(team, ith);
  }
}

static void test_planner_reuses(void **state) {
  seqrt_buffer_desc bufs[CHAIN_L + 2];
  memset(bufs, 0, sizeof bufs);
  char names[CHAIN_L + 2][16];
  for (int i = 0; i < CHAIN_L + 2; i++) {
    snprintf(names[i], sizeof names[i], "b%d", i);
    bufs[i] = (seqrt_buffer_desc){
        names[i], SEQRT_F32, SEQRT_ROLE_TEMP, 1, {DIM(CHAIN_N, -1, -1)}, i - 1, i, -1};
  }
  bufs[0].role = SEQRT_ROLE_INPUT;
  bufs[CHAIN_L + 1].role = SEQRT_ROLE_OUTPUT;
  int32_t in = 0, out = CHAIN_L + 1;
  const char *out_name = "out";
  seqrt_model_desc d = {.abi_version = SEQRT_ABI_VERSION,
                        .name = "chain",
                        .nbufs = CHAIN_L + 2,
                        .bufs = bufs,
                        .ninputs = 1,
                        .inputs = &in,
                        .noutputs = 1,
                        .outputs = &out,
                        .output_names = &out_name,
                        .run = chain_run};
  seqrt_error err;
  seqrt_session *s = seqrt_session_new(&d, NULL, 2, &err);
  if (!s) fail_msg("%s", err.msg);
  size_t one = 4032; /* 4000 bytes rounded to 64 */
  assert_int_equal(s->bytes[1], one);
  /* at most two temps are live at once, plus the output with the last one */
  assert_true(seqrt_session_arena_bytes(s) <= 3 * one);
  assert_true(seqrt_session_arena_bytes(s) < (CHAIN_L + 1) * one);
  for (int a = 1; a <= CHAIN_L + 1; a++)
    for (int b = a + 1; b <= CHAIN_L + 1; b++) {
      bool live_together = bufs[a].first <= bufs[b].last && bufs[b].first <= bufs[a].last;
      if (b == CHAIN_L + 1) live_together = bufs[a].last >= bufs[b].first;
      unsigned char *pa = s->bufs[a], *pb = s->bufs[b];
      if (live_together) assert_true(pa + one <= pb || pb + one <= pa);
    }
  float x[CHAIN_N];
  for (int i = 0; i < CHAIN_N; i++) x[i] = (float)i;
  seqrt_tensor t_in = {SEQRT_F32, 1, {CHAIN_N}, x}, t_out;
  if (seqrt_session_run(s, &t_in, &t_out, &err)) fail_msg("%s", err.msg);
  for (int i = 0; i < CHAIN_N; i++)
    assert_float_equal(((float *)t_out.data)[i], i + CHAIN_L + 1, 0);
  seqrt_session_free(s);
}

/* rt_plan on random blocks: aligned, disjoint when live together, never more than the sum */
static void test_plan_random(void **state) {
  uint64_t rng = 7;
  for (int iter = 0; iter < 200; iter++) {
    enum { NB = 60 };
    rt_block blocks[NB];
    size_t sum = 0;
    for (int i = 0; i < NB; i++) {
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      blocks[i].size = 64 * (size_t)((rng >> 33) % 50);
      blocks[i].first = (int32_t)((rng >> 20) % 40);
      blocks[i].last = blocks[i].first + (int32_t)((rng >> 10) % 8);
      sum += blocks[i].size;
    }
    size_t total = rt_plan(blocks, NB);
    assert_true(total <= sum);
    size_t peak = 0; /* the most bytes live at one step: no plan can do better */
    for (int step = 0; step < 48; step++) {
      size_t live = 0;
      for (int i = 0; i < NB; i++)
        if (blocks[i].first <= step && step <= blocks[i].last) live += blocks[i].size;
      if (live > peak) peak = live;
    }
    assert_true(total >= peak);
    for (int i = 0; i < NB; i++) {
      assert_int_equal(blocks[i].offset % 64, 0);
      assert_true(blocks[i].offset + blocks[i].size <= total);
      for (int j = i + 1; j < NB; j++) {
        const rt_block *a = &blocks[i], *b = &blocks[j];
        if (!a->size || !b->size || a->first > b->last || b->first > a->last) continue;
        assert_true(a->offset + a->size <= b->offset || b->offset + b->size <= a->offset);
      }
    }
  }
}

/* ---- parameters and inputs: the messages */

static void write_weights(const char *path, const char *const *names, const seqrt_tensor *t,
                          int n) {
  seqrt_error err;
  if (seqrt_st_write(path, names, t, n, &err)) fail_msg("%s", err.msg);
}

/* load_weights of toy from a file holding the given tensors: its status and message.
 * The file stays open (the session may point into it) until the next load. */
static seqrt_st_file *loaded;

static int load(seqrt_session *s, const char *const *names, const seqrt_tensor *t, int n,
                bool strict, seqrt_warn_fn warn, void *user, seqrt_error *err) {
  static int count;
  char name[64];
  snprintf(name, sizeof name, "w%d.safetensors", count++);
  const char *path = tmp_path(name);
  write_weights(path, names, t, n);
  seqrt_st_file *f = seqrt_st_open(path, err);
  if (!f) fail_msg("%s", err->msg);
  int status = seqrt_session_load_weights(s, f, strict, warn, user, err);
  seqrt_st_close(loaded);
  loaded = f;
  return status;
}

/* collects warnings */
typedef struct warnings {
  int n;           /* how many */
  char last[1024]; /* the last one */
} warnings;

static void collect(void *user, const char *msg) {
  warnings *w = user;
  w->n++;
  snprintf(w->last, sizeof w->last, "%s", msg);
}

static void test_param_errors(void **state) {
  seqrt_error err;
  seqrt_session *s = seqrt_session_new(&toy, NULL, 1, &err);
  if (!s) fail_msg("%s", err.msg);
  float w[4] = {1, 2, 3, 4};
  int64_t wi[3] = {1, 2, 3};
  const char *names[] = {"w", "extra"};
  seqrt_tensor good = {SEQRT_F32, 1, {3}, w};
  seqrt_tensor ints = {SEQRT_I64, 1, {3}, wi};
  seqrt_tensor wide = {SEQRT_F32, 1, {4}, w};
  seqrt_tensor matrix = {SEQRT_F32, 2, {3, 1}, w};

  const char *other[] = {"v"};
  assert_int_not_equal(load(s, other, &good, 1, false, NULL, NULL, &err), 0);
  assert_string_equal(err.msg, "missing parameter 'w' (expected f32 [3])");
  assert_int_not_equal(load(s, names, &ints, 1, false, NULL, NULL, &err), 0);
  assert_string_equal(err.msg, "parameter 'w': expected f32, got i64");
  assert_int_not_equal(load(s, names, &wide, 1, false, NULL, NULL, &err), 0);
  assert_string_equal(err.msg, "parameter 'w': expected [3], got [4]");
  assert_int_not_equal(load(s, names, &matrix, 1, false, NULL, NULL, &err), 0);
  assert_string_equal(err.msg, "parameter 'w': expected [3], got [3, 1]");

  /* nothing was bound by the failed loads */
  float x[6] = {0};
  seqrt_tensor in = {SEQRT_F32, 2, {2, 3}, x}, out[3];
  assert_int_not_equal(seqrt_session_run(s, &in, out, &err), 0);
  assert_string_equal(err.msg, "parameter 'w' is not bound");

  /* an unused tensor: an error when strict (and nothing bound), else one warning */
  seqrt_tensor two[2] = {good, good};
  warnings warned = {0};
  assert_int_not_equal(load(s, names, two, 2, true, collect, &warned, &err), 0);
  assert_string_equal(err.msg, "unused parameter 'extra' in weights file");
  assert_int_equal(warned.n, 0);
  assert_int_not_equal(seqrt_session_run(s, &in, out, &err), 0);
  assert_string_equal(err.msg, "parameter 'w' is not bound");
  assert_int_equal(load(s, names, two, 2, false, collect, &warned, &err), 0);
  assert_int_equal(warned.n, 1);
  assert_string_equal(warned.last, "unused parameter 'extra' in weights file");
  if (seqrt_session_run(s, &in, out, &err)) fail_msg("%s", err.msg);
  assert_float_equal(((float *)out[0].data)[2], 2 * 3 * 3, 0);

  /* set_param checks the same way */
  assert_int_not_equal(seqrt_session_set_param(s, "nope", &good, &err), 0);
  assert_non_null(strstr(err.msg, "'nope'"));
  assert_int_not_equal(seqrt_session_set_param(s, "w", &wide, &err), 0);
  assert_string_equal(err.msg, "parameter 'w': expected [3], got [4]");
  assert_int_not_equal(seqrt_session_set_param(s, "w", &ints, &err), 0);
  assert_string_equal(err.msg, "parameter 'w': expected f32, got i64");
  seqrt_session_free(s);
  seqrt_st_close(loaded);
  loaded = NULL;
}

static void test_input_errors(void **state) {
  seqrt_error err;
  seqrt_session *s = seqrt_session_new(&toy, NULL, 1, &err);
  if (!s) fail_msg("%s", err.msg);
  assert_int_equal(seqrt_session_random_params(s, 1, &err), 0);
  float x[8] = {0};
  int32_t xi[6] = {0};
  seqrt_tensor out[3];
  seqrt_tensor wide = {SEQRT_F32, 2, {2, 4}, x};
  assert_int_not_equal(seqrt_session_run(s, &wide, out, &err), 0);
  assert_string_equal(err.msg, "input 'x': expected f32 [2, 3], got f32 [2, 4]");
  seqrt_tensor ints = {SEQRT_I32, 2, {2, 3}, xi};
  assert_int_not_equal(seqrt_session_run(s, &ints, out, &err), 0);
  assert_string_equal(err.msg, "input 'x': expected f32 [2, 3], got i32 [2, 3]");
  seqrt_tensor flat = {SEQRT_F32, 1, {6}, x};
  assert_int_not_equal(seqrt_session_run(s, &flat, out, &err), 0);
  assert_string_equal(err.msg, "input 'x': expected f32 [2, 3], got f32 [6]");
  seqrt_tensor nodata = {SEQRT_F32, 2, {2, 3}, NULL};
  assert_int_not_equal(seqrt_session_run(s, &nodata, out, &err), 0);
  assert_non_null(strstr(err.msg, "'x'"));
  assert_int_not_equal(seqrt_session_run(s, NULL, out, &err), 0);
  seqrt_tensor good = {SEQRT_F32, 2, {2, 3}, x};
  if (seqrt_session_run(s, &good, out, &err)) fail_msg("%s", err.msg);
  seqrt_session_free(s);
}

static void test_syms(void **state) {
  seqrt_error err;
  int64_t bound[2] = {-1, 3}, defaults[2] = {2, 7};
  seqrt_model_desc d = toy;
  d.sym_bound = bound;
  d.sym_defaults = defaults;
  seqrt_session *s = seqrt_session_new(&d, NULL, 1, &err);
  if (!s) fail_msg("%s", err.msg);
  assert_int_equal(seqrt_session_sym(s, SYM_B), 2); /* default */
  assert_int_equal(seqrt_session_sym(s, SYM_N), 3); /* bound beats default */
  seqrt_session_free(s);

  int64_t given[2] = {5, 4};
  assert_null(seqrt_session_new(&d, given, 1, &err));
  assert_non_null(strstr(err.msg, "N"));
  assert_non_null(strstr(err.msg, "3"));
  assert_non_null(strstr(err.msg, "4"));
  given[1] = 3;
  s = seqrt_session_new(&d, given, 1, &err);
  if (!s) fail_msg("%s", err.msg);
  assert_int_equal(seqrt_session_sym(s, SYM_B), 5);
  seqrt_session_free(s);

  /* dims too large for memory are an error, not a wrapped size */
  int64_t huge[2] = {INT64_MAX / 2, 3};
  assert_null(seqrt_session_new(&toy, huge, 1, &err));
  assert_non_null(strstr(err.msg, "too large"));

  assert_null(seqrt_session_new(&toy, NULL, -1, &err));
  d = toy;
  d.abi_version = 99;
  assert_null(seqrt_session_new(&d, NULL, 1, &err));
  assert_non_null(strstr(err.msg, "ABI"));
  seqrt_buffer_desc cyc[2] = {toy_bufs[T_FLAT], toy_bufs[T_FLAT]};
  cyc[0].alias = 1;
  cyc[1].alias = 0;
  d = toy;
  d.bufs = cyc;
  d.nbufs = 2;
  d.ninputs = d.noutputs = 0;
  assert_null(seqrt_session_new(&d, NULL, 1, &err));
  assert_non_null(strstr(err.msg, "invalid descriptor"));
}

static void test_prepare_again(void **state) {
  seqrt_error err;
  seqrt_session *s = seqrt_session_new(&toy, NULL, 2, &err);
  if (!s) fail_msg("%s", err.msg);
  float w1[3] = {1, 1, 1}, w2[3] = {10, 10, 10}, x[6] = {0};
  seqrt_tensor t1 = {SEQRT_F32, 1, {3}, w1}, t2 = {SEQRT_F32, 1, {3}, w2};
  seqrt_tensor in = {SEQRT_F32, 2, {2, 3}, x}, out[3];
  int before = atomic_load(&prepare_calls);
  assert_int_equal(seqrt_session_set_param(s, "w", &t1, &err), 0);
  assert_int_equal(seqrt_session_run(s, &in, out, &err), 0);
  assert_float_equal(((float *)out[0].data)[0], 6, 0);
  assert_int_equal(seqrt_session_set_param(s, "w", &t2, &err), 0);
  assert_int_equal(seqrt_session_run(s, &in, out, &err), 0);
  assert_float_equal(((float *)out[0].data)[0], 60, 0);
  assert_int_equal(seqrt_session_run(s, &in, out, &err), 0);
  assert_int_equal(atomic_load(&prepare_calls), before + 2);
  seqrt_session_free(s);
}

static void test_random_params(void **state) {
  seqrt_error err;
  int64_t syms[2] = {2, 100};
  seqrt_session *a = seqrt_session_new(&toy, syms, 1, &err);
  seqrt_session *b = seqrt_session_new(&toy, syms, 1, &err);
  assert_non_null(a);
  assert_non_null(b);
  assert_int_equal(seqrt_session_random_params(a, 42, &err), 0);
  assert_int_equal(seqrt_session_random_params(b, 42, &err), 0);
  const float *wa = a->params[W], *wb = b->params[W];
  assert_memory_equal(wa, wb, 100 * sizeof(float));
  float bound = 1 / sqrtf(100), lo = 1, hi = -1;
  for (int i = 0; i < 100; i++) {
    assert_true(fabsf(wa[i]) <= bound);
    lo = fminf(lo, wa[i]);
    hi = fmaxf(hi, wa[i]);
  }
  assert_true(lo < -bound / 2 && hi > bound / 2); /* spread over the range */
  assert_int_equal(seqrt_session_random_params(b, 43, &err), 0);
  assert_memory_not_equal(a->params[W], b->params[W], 100 * sizeof(float));
  float x[200] = {0};
  seqrt_tensor in = {SEQRT_F32, 2, {2, 100}, x}, out[3];
  if (seqrt_session_run(a, &in, out, &err)) fail_msg("%s", err.msg);
  assert_float_equal(((float *)out[0].data)[7], 6 * wa[7], 1e-6);
  seqrt_session_free(a);
  seqrt_session_free(b);
}

/* ---- barriers: threads read what the others wrote in the phase before */

enum { PP_N = 1024, PP_PHASES = 400 };

static void pingpong_run(void *const *bufs, const int64_t *syms, seqrt_team *team, int32_t ith,
                         int32_t nth) {
  float *a = bufs[0], *b = bufs[1];
  int32_t *seen = bufs[2];
  int64_t lo, hi;
  share(PP_N, ith, nth, &lo, &hi);
  for (int64_t i = lo; i < hi; i++) b[i] = (float)i;
  if (ith == 0) seen[0] = nth;
  seqrt_barrier(team, ith);
  for (int p = 0; p < PP_PHASES; p++) {
    float *dst = p % 2 ? b : a;
    const float *src = p % 2 ? a : b;
    /* each element reads one half a block away: always another thread's */
    for (int64_t i = lo; i < hi; i++) dst[i] = src[(i + PP_N / 2 + 1) % PP_N] * 0.5f + (float)p;
    seqrt_barrier(team, ith);
  }
}

/*
 * The same with the barrier split: between arriving and waiting each thread
 * reads what it wrote itself in the phase before and writes a buffer no one
 * else reads (a scan step's own k range); after waiting, the others' part.
 */
static void pingpong_split_run(void *const *bufs, const int64_t *syms, seqrt_team *team,
                               int32_t ith, int32_t nth) {
  float *a = bufs[0], *b = bufs[1], *own = bufs[3];
  int32_t *seen = bufs[2];
  int64_t lo, hi;
  share(PP_N, ith, nth, &lo, &hi);
  for (int64_t i = lo; i < hi; i++) b[i] = (float)i;
  if (ith == 0) seen[0] = nth;
  for (int p = 0; p < PP_PHASES; p++) {
    float *dst = p % 2 ? b : a;
    const float *src = p % 2 ? a : b;
    seqrt_arrive(team, ith);
    for (int64_t i = lo; i < hi; i++) own[i] = src[i] * 0.25f;
    seqrt_wait(team, ith);
    for (int64_t i = lo; i < hi; i++)
      dst[i] = own[i] + src[(i + PP_N / 2 + 1) % PP_N] * 0.5f + (float)p;
  }
  seqrt_barrier(team, ith);
}

/* runs the pingpong (split: pingpong_split_run) at nthreads and checks it
 * against the same phases computed here */
static void check_pingpong(int nthreads, int want_nth, bool split) {
  seqrt_buffer_desc bufs[4] = {
      {"a", SEQRT_F32, SEQRT_ROLE_TEMP, 1, {DIM(PP_N, -1, -1)}, 0, 0, -1},
      {"b", SEQRT_F32, SEQRT_ROLE_OUTPUT, 1, {DIM(PP_N, -1, -1)}, 0, 0, -1},
      {"nth", SEQRT_I32, SEQRT_ROLE_OUTPUT, 1, {DIM(1, -1, -1)}, 0, 0, -1},
      {"own", SEQRT_F32, SEQRT_ROLE_TEMP, 1, {DIM(PP_N, -1, -1)}, 0, 0, -1},
  };
  int32_t outs[2] = {1, 2};
  const char *names[2] = {"b", "nth"};
  seqrt_model_desc d = {.abi_version = SEQRT_ABI_VERSION,
                        .name = "pingpong",
                        .nbufs = 4,
                        .bufs = bufs,
                        .noutputs = 2,
                        .outputs = outs,
                        .output_names = names,
                        .run = split ? pingpong_split_run : pingpong_run};
  seqrt_error err;
  seqrt_session *s = seqrt_session_new(&d, NULL, nthreads, &err);
  if (!s) fail_msg("%s", err.msg);
  seqrt_tensor out[2];
  if (seqrt_session_run(s, NULL, out, &err)) fail_msg("%s", err.msg);
  assert_int_equal(((int32_t *)out[1].data)[0], want_nth);

  static float a[PP_N], b[PP_N];
  float own = split ? 0.25f : 0.0f;
  for (int i = 0; i < PP_N; i++) b[i] = (float)i;
  for (int p = 0; p < PP_PHASES; p++) {
    float *dst = p % 2 ? b : a, *src = p % 2 ? a : b;
    for (int i = 0; i < PP_N; i++)
      dst[i] = src[i] * own + src[(i + PP_N / 2 + 1) % PP_N] * 0.5f + (float)p;
  }
  assert_memory_equal(out[0].data, b, sizeof b);
  seqrt_session_free(s);
}

static void test_barrier(void **state) {
  check_pingpong(2, 2, false);
  check_pingpong(1, 1, false);
  check_pingpong(3, 3, false); /* more threads than cores: the spin must yield */
  check_pingpong(2, 2, true);
  check_pingpong(3, 3, true);
  check_pingpong(1, 1, true);
}

/* ---- seqrt_fail: an index out of range becomes an error naming it */

static void gather_run(void *const *bufs, const int64_t *syms, seqrt_team *team, int32_t ith,
                       int32_t nth) {
  const int32_t *tok = bufs[0];
  float *out = bufs[1];
  int64_t lo, hi;
  share(syms[0], ith, nth, &lo, &hi);
  for (int64_t i = lo; i < hi; i++) {
    if (tok[i] < 0 || tok[i] >= 1000) {
      seqrt_fail(team, SEQRT_FAIL_INDEX, 0, i, tok[i], 1000);
      out[i] = 0;
    } else {
      out[i] = (float)tok[i] / 2;
    }
  }
}

static void test_fail_index(void **state) {
  static const char *const sym_names[] = {"T"};
  static const int64_t defaults[] = {8};
  seqrt_buffer_desc bufs[2] = {
      {"tokens", SEQRT_I32, SEQRT_ROLE_INPUT, 2, {DIM(1, -1, -1), SYM(0)}, -1, -1, -1},
      {"out", SEQRT_F32, SEQRT_ROLE_OUTPUT, 2, {DIM(1, -1, -1), SYM(0)}, 0, 0, -1},
  };
  int32_t in = 0, outb = 1;
  const char *name = "out";
  seqrt_model_desc d = {.abi_version = SEQRT_ABI_VERSION,
                        .name = "gather",
                        .nsyms = 1,
                        .sym_names = sym_names,
                        .sym_defaults = defaults,
                        .nbufs = 2,
                        .bufs = bufs,
                        .ninputs = 1,
                        .inputs = &in,
                        .noutputs = 1,
                        .outputs = &outb,
                        .output_names = &name,
                        .run = gather_run};
  seqrt_error err;
  seqrt_session *s = seqrt_session_new(&d, NULL, 2, &err);
  if (!s) fail_msg("%s", err.msg);
  int32_t tok[8] = {0, 1, 2, 3, 4, 1000, 6, 7};
  seqrt_tensor t = {SEQRT_I32, 2, {1, 8}, tok}, out;
  assert_int_not_equal(seqrt_session_run(s, &t, &out, &err), 0);
  assert_string_equal(err.msg, "index 1000 out of range [0, 1000) at position [0, 5] of 'tokens'");
  /* two bad indices, one on each thread: one report, either */
  tok[5] = 5;
  tok[1] = -1;
  tok[6] = 2000;
  assert_int_not_equal(seqrt_session_run(s, &t, &out, &err), 0);
  if (strcmp(err.msg, "index -1 out of range [0, 1000) at position [0, 1] of 'tokens'") &&
      strcmp(err.msg, "index 2000 out of range [0, 1000) at position [0, 6] of 'tokens'"))
    fail_msg("unexpected: %s", err.msg);
  /* the next good run succeeds: the failure does not stick */
  tok[1] = 1;
  tok[6] = 6;
  if (seqrt_session_run(s, &t, &out, &err)) fail_msg("%s", err.msg);
  assert_float_equal(((float *)out.data)[7], 3.5, 0);
  seqrt_session_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_toy_one_thread), cmocka_unit_test(test_toy_two_threads),
      cmocka_unit_test(test_toy_memory),     cmocka_unit_test(test_need),
      cmocka_unit_test(test_planner_reuses), cmocka_unit_test(test_plan_random),
      cmocka_unit_test(test_param_errors),   cmocka_unit_test(test_input_errors),
      cmocka_unit_test(test_syms),           cmocka_unit_test(test_prepare_again),
      cmocka_unit_test(test_random_params),  cmocka_unit_test(test_barrier),
      cmocka_unit_test(test_fail_index),
  };
  return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
