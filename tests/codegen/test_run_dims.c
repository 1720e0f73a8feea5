/*
 * test_run_dims.c: a JIT-compiled model run at several lengths in one
 * session (SPEC 9). The model (a GRU, causal self-attention and a linear
 * head) is compiled as `seqc run` compiles one whose runs differ in T: B
 * folded in, T left symbolic. A session planned for T = 10 runs T = 10, 3,
 * 1, 7, at 1 and 2 threads; each run must give bit for bit what a fresh
 * session planned at that T gives, and the interpreter's numbers within
 * SPEC 8's tolerance; its outputs stay where they were (the arena neither
 * moves nor grows). T = 11 is refused with the message naming the input,
 * the dim and the plan, and the session then runs T = 5 as well.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cg_test.h"

static const char model[] =
    "seqc: 1\nname: m\ndims: {B: 2, T: 10}\n"
    "inputs:\n  x: {dtype: f32, shape: [B, T, 8]}\n"
    "outputs: [y, g.h_n]\nnodes:\n"
    "  g: {op: gru, input: x, hidden_size: 16}\n"
    "  sa: {op: multihead_attention, input: g, num_heads: 2, causal: true}\n"
    "  y: {op: linear, input: sa, out_features: 4}\n";

enum { PLAN_T = 10, B = 2 };

/* a session of desc planned for T with the parameters of store */
static seqrt_session *open_session(const seqrt_model_desc *desc, int64_t T, int nth,
                                   const cgt_store *params) {
  seqrt_error err = {{0}};
  const int64_t syms[] = {B, T};
  seqrt_session *s = seqrt_session_new(desc, syms, nth, &err);
  if (!s) fprintf(stderr, "session: %s\n", err.msg);
  assert_non_null(s);
  for (int p = 0; p < params->n; p++)
    assert_int_equal(seqrt_session_set_param(s, params->items[p].name, &params->items[p].t, &err),
                     0);
  return s;
}

/* runs s on x; 0 or the status, outputs in out */
static int run(seqrt_session *s, const seqrt_tensor *x, seqrt_tensor *out, seqrt_error *err) {
  return seqrt_session_run(s, x, out, err);
}

static void same_bits(const seqrt_tensor *got, const seqrt_tensor *want, const char *what) {
  assert_int_equal(got->rank, want->rank);
  for (int k = 0; k < got->rank; k++) assert_int_equal(got->shape[k], want->shape[k]);
  int64_t n = seqrt_tensor_numel(got);
  if (memcmp(got->data, want->data, (size_t)n * sizeof(float))) {
    fprintf(stderr, "%s: differs from a session planned at the run's T\n", what);
    fail();
  }
}

static void runs_of_other_lengths(void **state) {
  (void)state;
  ir_graph *ref = cgt_load(model);
  uint64_t rng = 7;
  int64_t plan[IR_MAX_SYMS] = {B, PLAN_T};
  cgt_store params = {calloc((size_t)ref->nvalues + 1, sizeof(cgt_tensor)), 0};
  for (int v = 0; v < ref->nvalues; v++) {
    const ir_value *val = &ref->values[v];
    if (val->kind != IR_VAL_PARAM) continue;
    cgt_tensor *p = &params.items[params.n++];
    p->name = strdup(val->name);
    p->t = cgt_random(&val->type, plan, &rng, 10);
    for (int64_t i = 0; i < seqrt_tensor_numel(&p->t); i++) ((float *)p->t.data)[i] *= 0.25f;
  }

  /* B folded in, T read at run time: what cli_compile does with {B, -1} */
  ir_graph *g = ir_graph_clone(ref);
  ir_diags d;
  ir_diags_init(&d, "test.yaml", NULL, 0, stderr);
  const int64_t bind[] = {B, -1};
  cg_options opt = {.bind_syms = bind, .opt_level = 3};
  ir_target target;
  cg_target(&opt, &target);
  pass_ctx ctx = {.diags = &d, .syms = NULL, .target = &target, .bind_syms = bind};
  assert_true(pass_run_pipeline(g, &ctx));
  seqrt_error err = {{0}};
  cg_jit *j = cg_jit_compile(g, &opt, &err);
  assert_non_null(j);
  const seqrt_model_desc *desc = cg_jit_desc(j);
  assert_int_equal(desc->sym_bound[1], -1);

  static const int64_t lengths[] = {10, 3, 1, 7, 5};
  enum { NRUNS = sizeof lengths / sizeof lengths[0] };
  seqrt_tensor x[NRUNS];
  for (int r = 0; r < NRUNS; r++) {
    int64_t syms[IR_MAX_SYMS] = {B, lengths[r]};
    x[r] = cgt_random(&ref->values[ref->inputs[0]].type, syms, &rng, 10);
  }
  for (int nth = 1; nth <= 2; nth++) {
    seqrt_session *s = open_session(desc, PLAN_T, nth, &params);
    size_t bytes = seqrt_session_arena_bytes(s);
    void *where[2] = {NULL, NULL};
    for (int r = 0; r < NRUNS; r++) {
      int64_t T = lengths[r];
      char what[64];
      snprintf(what, sizeof what, "T = %lld, %d threads", (long long)T, nth);
      if (r == NRUNS - 1) { /* over the plan first: refused, and the session goes on */
        int64_t syms[IR_MAX_SYMS] = {B, PLAN_T + 1};
        seqrt_tensor big = cgt_random(&ref->values[ref->inputs[0]].type, syms, &rng, 10);
        seqrt_tensor out[2];
        assert_int_not_equal(run(s, &big, out, &err), 0);
        assert_string_equal(err.msg,
                            "input 'x': T = 11 is more than the 10 this session was planned for");
        free(big.data);
      }
      seqrt_tensor got[2], want[2], ref_out[2];
      int rc = run(s, &x[r], got, &err);
      if (rc) fprintf(stderr, "%s: %s\n", what, err.msg);
      assert_int_equal(rc, 0);
      assert_int_equal(got[0].shape[1], T);
      assert_int_equal(seqrt_session_arena_bytes(s), bytes);
      for (int i = 0; i < 2; i++) {
        if (!where[i]) where[i] = got[i].data;
        assert_ptr_equal(got[i].data, where[i]); /* the arena did not move */
      }
      /* a fresh session planned at this T */
      seqrt_session *fresh = open_session(desc, T, nth, &params);
      assert_int_equal(run(fresh, &x[r], want, &err), 0);
      same_bits(&got[0], &want[0], what);
      same_bits(&got[1], &want[1], what);
      seqrt_session_free(fresh);
      /* and the interpreter at this T */
      int64_t syms[IR_MAX_SYMS] = {B, T};
      assert_true(ir_eval(ref, syms, &x[r], cgt_get_param, &params, ref_out, &err));
      cgt_compare("y", &got[0], &ref_out[0], 1e-4, what, nth);
      cgt_compare("g.h_n", &got[1], &ref_out[1], 1e-4, what, nth);
      free(ref_out[0].data);
      free(ref_out[1].data);
    }
    seqrt_session_free(s);
  }

  for (int r = 0; r < NRUNS; r++) free(x[r].data);
  for (int p = 0; p < params.n; p++) {
    free(params.items[p].name);
    free(params.items[p].t.data);
  }
  free(params.items);
  cg_jit_free(j);
  ir_graph_free(g);
  ir_graph_free(ref);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(runs_of_other_lengths),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
