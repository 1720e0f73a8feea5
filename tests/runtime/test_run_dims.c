/*
 * test_run_dims.c: runs of one session with their own dims (SPEC 9), over
 * hand-written descriptors whose entries read every dim from syms:
 *
 * - a session planned for B = 3, T = 8 runs smaller B and T, each run's
 *   outputs of the run's shapes and values, with the arena neither moved nor
 *   grown and the derived dim recomputed per run;
 * - a dim over the plan is an error naming the input, the dim, its value and
 *   the planned one, and the session runs on afterwards;
 * - prepare runs again when a dim of a PREPARED buffer's shape changed, and
 *   only then;
 * - a dim compiled in, or in a parameter's shape, keeps its planned value;
 * - a derived dim below its min is the error of that run only;
 * - a descriptor whose buffer would outgrow its planned place is refused.
 */
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

#define DIM(c, s0, s1)  \
  {                     \
    (c), { (s0), (s1) } \
  }
#define SYM(s) DIM(1, s, -1)

/* ---- ramp: p[j] = 100*T + j at prepare; y = x + p; z[r][i] = y[r][2i] (D = (T+1)/2) ---- */

enum { SYM_B, SYM_T, SYM_D };
enum { X, P, Y, Z, NRAMP };

static const char *const ramp_sym_names[] = {"B", "T"};
static const int64_t ramp_defaults[] = {3, 8};
static const int64_t ramp_unbound[] = {-1, -1};
static const int64_t ramp_t_bound[] = {-1, 8};
/* D = floor((T + 1) / 2), at least 1 */
static const seqrt_sym_def ramp_derived[] = {
    {"(T+1)/2", "ramp 'z': output length", 2, {SYM(SYM_T), DIM(1, -1, -1)}, 2, 1},
};
static const seqrt_buffer_desc ramp_bufs[NRAMP] = {
    [X] = {"x", SEQRT_F32, SEQRT_ROLE_INPUT, 2, {SYM(SYM_B), SYM(SYM_T)}, -1, -1, -1},
    [P] = {"p", SEQRT_F32, SEQRT_ROLE_PREPARED, 1, {SYM(SYM_T)}, -1, -1, -1},
    [Y] = {"y", SEQRT_F32, SEQRT_ROLE_OUTPUT, 2, {SYM(SYM_B), SYM(SYM_T)}, 0, 1, -1},
    [Z] = {"z", SEQRT_F32, SEQRT_ROLE_OUTPUT, 2, {SYM(SYM_B), SYM(SYM_D)}, 1, 1, -1},
};
static const int32_t ramp_inputs[] = {X};
static const int32_t ramp_outputs[] = {Y, Z};
static const char *const ramp_output_names[] = {"y", "z"};

static atomic_int prepare_calls;

static void ramp_prepare(void *const *bufs, const int64_t *syms, seqrt_team *team, int32_t ith,
                         int32_t nth) {
  (void)team;
  float *p = bufs[P];
  int64_t T = syms[SYM_T];
  for (int64_t j = T * ith / nth; j < T * (ith + 1) / nth; j++) p[j] = (float)(100 * T + j);
  if (ith == 0) atomic_fetch_add(&prepare_calls, 1);
}

static void ramp_run(void *const *bufs, const int64_t *syms, seqrt_team *team, int32_t ith,
                     int32_t nth) {
  int64_t B = syms[SYM_B], T = syms[SYM_T], D = syms[SYM_D];
  const float *x = bufs[X], *p = bufs[P];
  float *y = bufs[Y], *z = bufs[Z];
  for (int64_t r = B * ith / nth; r < B * (ith + 1) / nth; r++)
    for (int64_t j = 0; j < T; j++) y[r * T + j] = x[r * T + j] + p[j];
  seqrt_barrier(team, ith);
  for (int64_t r = B * ith / nth; r < B * (ith + 1) / nth; r++)
    for (int64_t i = 0; i < D; i++) z[r * D + i] = y[r * T + 2 * i];
}

static seqrt_model_desc ramp_desc(const int64_t *bound) {
  return (seqrt_model_desc){
      .abi_version = SEQRT_ABI_VERSION,
      .name = "ramp",
      .nsyms = 2,
      .sym_names = ramp_sym_names,
      .sym_defaults = ramp_defaults,
      .sym_bound = bound,
      .nbufs = NRAMP,
      .bufs = ramp_bufs,
      .ninputs = 1,
      .inputs = ramp_inputs,
      .noutputs = 2,
      .outputs = ramp_outputs,
      .output_names = ramp_output_names,
      .prepare = ramp_prepare,
      .run = ramp_run,
      .nderived = 1,
      .derived = ramp_derived,
  };
}

/* x[r][j] = r * 1000 + j, B x T */
static seqrt_tensor ramp_input(float *mem, int64_t B, int64_t T) {
  for (int64_t r = 0; r < B; r++)
    for (int64_t j = 0; j < T; j++) mem[r * T + j] = (float)(r * 1000 + j);
  return (seqrt_tensor){.dtype = SEQRT_F32, .rank = 2, .shape = {B, T}, .data = mem};
}

/* one run at B x T; checks the outputs' shapes and every value */
static void ramp_check(seqrt_session *s, int64_t B, int64_t T) {
  float x[64];
  seqrt_tensor in = ramp_input(x, B, T), out[2];
  seqrt_error err = {{0}};
  int rc = seqrt_session_run(s, &in, out, &err);
  if (rc) fprintf(stderr, "run B=%lld T=%lld: %s\n", (long long)B, (long long)T, err.msg);
  assert_int_equal(rc, 0);
  int64_t D = (T + 1) / 2;
  assert_int_equal(out[0].rank, 2);
  assert_int_equal(out[0].shape[0], B);
  assert_int_equal(out[0].shape[1], T);
  assert_int_equal(out[1].shape[0], B);
  assert_int_equal(out[1].shape[1], D);
  const float *y = out[0].data, *z = out[1].data;
  for (int64_t r = 0; r < B; r++) {
    for (int64_t j = 0; j < T; j++)
      assert_float_equal(y[r * T + j], (float)(r * 1000 + j + 100 * T + j), 0);
    for (int64_t i = 0; i < D; i++) assert_float_equal(z[r * D + i], y[r * T + 2 * i], 0);
  }
  assert_int_equal(seqrt_session_run_sym(s, SYM_B), B);
  assert_int_equal(seqrt_session_run_sym(s, SYM_T), T);
  assert_int_equal(seqrt_session_run_sym(s, SYM_D), D);
}

/* smaller runs in a session planned for B = 3, T = 8: no new memory, run's shapes and values */
static void runs_below_plan(void **state) {
  (void)state;
  seqrt_model_desc d = ramp_desc(ramp_unbound);
  for (int nth = 1; nth <= 2; nth++) {
    seqrt_error err = {{0}};
    const int64_t plan[] = {3, 8};
    seqrt_session *s = seqrt_session_new(&d, plan, nth, &err);
    assert_non_null(s);
    unsigned char *arena = s->arena, *prepared = s->prepared;
    size_t bytes = seqrt_session_arena_bytes(s);
    /* before any run, the run's dims are the plan's */
    assert_int_equal(seqrt_session_run_sym(s, SYM_T), 8);
    assert_int_equal(seqrt_session_run_sym(s, SYM_D), 4);
    static const int64_t runs[][2] = {{3, 8}, {2, 3}, {1, 1}, {3, 7}, {1, 8}, {3, 8}};
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
      ramp_check(s, runs[k][0], runs[k][1]);
      assert_ptr_equal(s->arena, arena);
      assert_ptr_equal(s->prepared, prepared);
      assert_int_equal(seqrt_session_arena_bytes(s), bytes);
      /* the plan stays what the session was made for */
      assert_int_equal(seqrt_session_sym(s, SYM_B), 3);
      assert_int_equal(seqrt_session_sym(s, SYM_T), 8);
      assert_int_equal(seqrt_session_sym(s, SYM_D), 4);
    }
    seqrt_session_free(s);
  }
}

/* no model streams yet (SPEC 9): p stays 0 over runs, and a reset keeps the
 * plan and the parameters, so runs go on as before */
static void position_and_reset(void **state) {
  (void)state;
  seqrt_model_desc d = ramp_desc(ramp_unbound);
  seqrt_error err = {{0}};
  const int64_t plan[] = {3, 8};
  seqrt_session *s = seqrt_session_new(&d, plan, 2, &err);
  assert_non_null(s);
  assert_int_equal(seqrt_session_position(s), 0);
  ramp_check(s, 3, 8);
  ramp_check(s, 2, 5);
  assert_int_equal(seqrt_session_position(s), 0);
  seqrt_session_reset(s);
  assert_int_equal(seqrt_session_position(s), 0);
  ramp_check(s, 1, 3);
  assert_int_equal(seqrt_session_sym(s, SYM_T), 8);
  seqrt_session_free(s);
}

/* a dim over the plan: the message, nothing run, and the session goes on */
static void run_over_plan(void **state) {
  (void)state;
  seqrt_model_desc d = ramp_desc(ramp_unbound);
  seqrt_error err = {{0}};
  const int64_t plan[] = {3, 8};
  seqrt_session *s = seqrt_session_new(&d, plan, 2, &err);
  assert_non_null(s);
  ramp_check(s, 2, 5);
  float x[64];
  seqrt_tensor in = ramp_input(x, 2, 9), out[2];
  assert_int_not_equal(seqrt_session_run(s, &in, out, &err), 0);
  assert_string_equal(err.msg, "input 'x': T = 9 is more than the 8 this session was planned for");
  assert_int_equal(seqrt_session_run_sym(s, SYM_T), 5); /* the last run's, not the refused one's */
  in = ramp_input(x, 4, 2);
  assert_int_not_equal(seqrt_session_run(s, &in, out, &err), 0);
  assert_string_equal(err.msg, "input 'x': B = 4 is more than the 3 this session was planned for");
  ramp_check(s, 3, 6);
  /* a derived dim below its min fails that run only: T = 0 gives (T+1)/2 = 0 */
  in = ramp_input(x, 2, 0);
  assert_int_not_equal(seqrt_session_run(s, &in, out, &err), 0);
  assert_string_equal(err.msg, "ramp 'z': output length (T+1)/2 is 0 for B = 2, T = 0");
  ramp_check(s, 1, 2);
  seqrt_session_free(s);
}

/* prepare again when T (in p's shape) changes, not when only B does */
static void prepare_follows_dims(void **state) {
  (void)state;
  seqrt_model_desc d = ramp_desc(ramp_unbound);
  seqrt_error err = {{0}};
  const int64_t plan[] = {3, 8};
  seqrt_session *s = seqrt_session_new(&d, plan, 1, &err);
  assert_non_null(s);
  atomic_store(&prepare_calls, 0);
  ramp_check(s, 3, 8);
  assert_int_equal(atomic_load(&prepare_calls), 1);
  ramp_check(s, 1, 8); /* B only */
  assert_int_equal(atomic_load(&prepare_calls), 1);
  ramp_check(s, 1, 4); /* T: p is prepared for 4 */
  assert_int_equal(atomic_load(&prepare_calls), 2);
  ramp_check(s, 2, 4);
  assert_int_equal(atomic_load(&prepare_calls), 2);
  ramp_check(s, 2, 8); /* back to 8: p again */
  assert_int_equal(atomic_load(&prepare_calls), 3);
  seqrt_session_free(s);
}

/* T compiled in: a run must have it, with the message of a wrong shape */
static void bound_dim_stays(void **state) {
  (void)state;
  seqrt_model_desc d = ramp_desc(ramp_t_bound);
  seqrt_error err = {{0}};
  seqrt_session *s = seqrt_session_new(&d, NULL, 1, &err);
  assert_non_null(s);
  ramp_check(s, 2, 8); /* B still follows the input */
  float x[64];
  seqrt_tensor in = ramp_input(x, 2, 4), out[2];
  assert_int_not_equal(seqrt_session_run(s, &in, out, &err), 0);
  assert_string_equal(err.msg, "input 'x': expected f32 [2, 8], got f32 [2, 4]");
  ramp_check(s, 1, 8);
  seqrt_session_free(s);
}

/* ---- scale: y = x * w, w a parameter [N]: N keeps its planned value ---- */

enum { SX, SW, SY, NSCALE };
static const char *const scale_sym_names[] = {"B", "N"};
static const int64_t scale_defaults[] = {2, 4};
static const seqrt_buffer_desc scale_bufs[NSCALE] = {
    [SX] = {"x", SEQRT_F32, SEQRT_ROLE_INPUT, 2, {SYM(0), SYM(1)}, -1, -1, -1},
    [SW] = {"w", SEQRT_F32, SEQRT_ROLE_PARAM, 1, {SYM(1)}, -1, -1, -1},
    [SY] = {"y", SEQRT_F32, SEQRT_ROLE_OUTPUT, 2, {SYM(0), SYM(1)}, 0, 0, -1},
};
static const int32_t scale_inputs[] = {SX};
static const int32_t scale_outputs[] = {SY};
static const char *const scale_output_names[] = {"y"};

static void scale_run(void *const *bufs, const int64_t *syms, seqrt_team *team, int32_t ith,
                      int32_t nth) {
  (void)team;
  int64_t B = syms[0], N = syms[1];
  const float *x = bufs[SX], *w = bufs[SW];
  float *y = bufs[SY];
  for (int64_t r = B * ith / nth; r < B * (ith + 1) / nth; r++)
    for (int64_t j = 0; j < N; j++) y[r * N + j] = x[r * N + j] * w[j];
}

static void param_dim_stays(void **state) {
  (void)state;
  const seqrt_model_desc d = {.abi_version = SEQRT_ABI_VERSION,
                              .name = "scale",
                              .nsyms = 2,
                              .sym_names = scale_sym_names,
                              .sym_defaults = scale_defaults,
                              .nbufs = NSCALE,
                              .bufs = scale_bufs,
                              .ninputs = 1,
                              .inputs = scale_inputs,
                              .noutputs = 1,
                              .outputs = scale_outputs,
                              .output_names = scale_output_names,
                              .run = scale_run};
  seqrt_error err = {{0}};
  seqrt_session *s = seqrt_session_new(&d, NULL, 1, &err);
  assert_non_null(s);
  float w[4] = {1, 2, 3, 4}, x[8] = {1, 1, 1, 1, 2, 2, 2, 2};
  seqrt_tensor wt = {.dtype = SEQRT_F32, .rank = 1, .shape = {4}, .data = w};
  assert_int_equal(seqrt_session_set_param(s, "w", &wt, &err), 0);
  seqrt_tensor in = {.dtype = SEQRT_F32, .rank = 2, .shape = {1, 4}, .data = x + 4}, out;
  assert_int_equal(seqrt_session_run(s, &in, &out, &err), 0); /* B = 1 of 2 */
  assert_int_equal(out.shape[0], 1);
  assert_float_equal(((float *)out.data)[3], 8, 0);
  in.shape[1] = 3; /* N is w's: the input must have it */
  assert_int_not_equal(seqrt_session_run(s, &in, &out, &err), 0);
  assert_string_equal(err.msg, "input 'x': expected f32 [1, 4], got f32 [1, 3]");
  seqrt_session_free(s);
}

/* ---- shrink: a derived dim that grows as T shrinks, 10 - T: refused, not overrun ---- */

static const char *const shrink_sym_names[] = {"T"};
static const int64_t shrink_defaults[] = {8};
static const seqrt_sym_def shrink_derived[] = {
    {"10-T", "shrink 'y': length", 2, {DIM(-1, 0, -1), DIM(10, -1, -1)}, 1, 0},
};
static const seqrt_buffer_desc shrink_bufs[] = {
    {"x", SEQRT_F32, SEQRT_ROLE_INPUT, 1, {SYM(0)}, -1, -1, -1},
    {"y", SEQRT_F32, SEQRT_ROLE_OUTPUT, 1, {DIM(16, 1, -1)}, 0, 0, -1},
};
static const int32_t shrink_inputs[] = {0};
static const int32_t shrink_outputs[] = {1};
static const char *const shrink_output_names[] = {"y"};

static void shrink_run(void *const *bufs, const int64_t *syms, seqrt_team *team, int32_t ith,
                       int32_t nth) {
  (void)team;
  float *y = bufs[1];
  if (ith == 0)
    for (int64_t i = 0; i < 16 * syms[1] && nth > 0; i++) y[i] = 1;
}

static void outgrown_buffer_refused(void **state) {
  (void)state;
  const seqrt_model_desc d = {.abi_version = SEQRT_ABI_VERSION,
                              .name = "shrink",
                              .nsyms = 1,
                              .sym_names = shrink_sym_names,
                              .sym_defaults = shrink_defaults,
                              .nbufs = 2,
                              .bufs = shrink_bufs,
                              .ninputs = 1,
                              .inputs = shrink_inputs,
                              .noutputs = 1,
                              .outputs = shrink_outputs,
                              .output_names = shrink_output_names,
                              .run = shrink_run,
                              .nderived = 1,
                              .derived = shrink_derived};
  seqrt_error err = {{0}};
  seqrt_session *s = seqrt_session_new(&d, NULL, 1, &err); /* T = 8: y has 16 * 2 */
  assert_non_null(s);
  float x[8] = {0};
  seqrt_tensor in = {.dtype = SEQRT_F32, .rank = 1, .shape = {8}, .data = x}, out;
  assert_int_equal(seqrt_session_run(s, &in, &out, &err), 0);
  assert_int_equal(out.shape[0], 32);
  in.shape[0] = 4; /* 10 - 4 = 6: y would need 16 * 6 */
  assert_int_not_equal(seqrt_session_run(s, &in, &out, &err), 0);
  assert_string_equal(err.msg, "buffer 'y' does not fit in the place this session planned for it");
  seqrt_session_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(runs_below_plan),      cmocka_unit_test(run_over_plan),
      cmocka_unit_test(prepare_follows_dims), cmocka_unit_test(bound_dim_stays),
      cmocka_unit_test(param_dim_stays),      cmocka_unit_test(outgrown_buffer_refused),
      cmocka_unit_test(position_and_reset),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
