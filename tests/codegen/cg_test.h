/*
 * cg_test.h: the differential harness of the codegen tests (included by each
 * tests/codegen/test_*.c of the kernels, after the cmocka headers).
 *
 * A model given as YAML is lowered by the frontend, and the interpreter
 * (ir_eval) computes the expected outputs on random parameters and inputs.
 * Then, for each variant asked for (fused or not, dims bound or symbolic),
 * the graph goes through the pass pipeline and the JIT, and the compiled
 * model runs through the runtime at 1 and 2 threads (or up to
 * cgt_opts.threads) on the same data; every output must match within
 * 1e-5 + 1e-5 * |want|. With cgt_opts.runs, each session runs that many
 * times on new inputs; with cgt_opts.threads_tol, every thread count must
 * give one thread's outputs within that tolerance.
 */
#ifndef SEQC_CG_TEST_H
#define SEQC_CG_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"
#include "fe.h"
#include "passes.h"

/* variants of one model to compile and run */
enum {
  CGT_FUSED = 1 << 0,    /* full pipeline, bound dims */
  CGT_UNFUSED = 1 << 1,  /* without the fuse pass, bound dims */
  CGT_SYMBOLIC = 1 << 2, /* full pipeline, dims left symbolic (loaded at run time) */
  CGT_AVX2 = 1 << 3,     /* full pipeline, bound dims, for -mcpu=haswell (8 floats a vector) */
  CGT_SSE = 1 << 4,      /* full pipeline, symbolic dims, for -mcpu=x86-64 (4 floats) */
  CGT_ALL = CGT_FUSED | CGT_UNFUSED | CGT_SYMBOLIC,
};

/* rewrites input `name` of run `run` after its random fill (a pattern a test needs) */
typedef void (*cgt_fill)(const char *name, seqrt_tensor *t, int run);

/* what a case does beyond the defaults */
typedef struct cgt_opts {
  const int64_t *syms; /* symbol values, NULL = the YAML defaults */
  unsigned variants;   /* CGT_* (0 = CGT_ALL) */
  int64_t index_max;   /* integer inputs are uniform in [0, index_max) (0 = 10) */
  int64_t index_min;   /* ... plus this (lengths: 1, for [1, index_max]) */
  bool sorted;         /* integer inputs sorted, largest first (lengths as
                          pack_padded_sequence's enforce_sorted wants them) */
  int64_t bad_index;   /* when non-zero: the integer input's element bad_pos holds this */
  int64_t bad_pos;     /* position of bad_index (flat) */
  const char *error;   /* the whole message every run must fail with (needs bad_index) */
  const char *eval_error; /* the interpreter's message, when it differs from error */
  uint64_t seed;       /* data seed (0 = 1) */
  double tol;          /* tolerance (0 = 1e-5) */
  int threads;         /* runs at 1 .. threads threads (0 = 2) */
  int runs;            /* runs of each session, each on new inputs (0 = 1) */
  double threads_tol;  /* > 0: every output x1 at one thread and xn at n threads must
                          have |xn - x1| <= threads_tol * (1 + |x1|) (0: not compared) */
  cgt_fill fill;       /* when set: called on every input after its random fill */
} cgt_opts;

/* a named tensor, owned */
typedef struct cgt_tensor {
  char *name;     /* parameter or input name */
  seqrt_tensor t; /* its data (malloc'd) */
} cgt_tensor;

typedef struct cgt_store {
  cgt_tensor *items; /* parameters */
  int n;             /* number of items */
} cgt_store;

static inline uint64_t cgt_next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* uniform in [lo, hi) */
static inline double cgt_uniform(uint64_t *s, double lo, double hi) {
  return lo + (hi - lo) * (double)(cgt_next(s) >> 11) / 9007199254740992.0;
}

/* a tensor of type t under syms, random: f32 in [-2, 2), integers in [0, imax) */
static inline seqrt_tensor cgt_random(const ir_type *t, const int64_t *syms, uint64_t *rng,
                                      int64_t imax) {
  seqrt_tensor x = {.dtype = (seqrt_dtype)t->dtype, .rank = t->rank};
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) n *= x.shape[i] = ir_dim_eval(t->dims[i], syms);
  size_t es = ir_dtype_size(t->dtype);
  x.data = malloc((size_t)(n > 0 ? n : 1) * es);
  assert_non_null(x.data);
  for (int64_t i = 0; i < n; i++) {
    switch (t->dtype) {
      case IR_F32:
        ((float *)x.data)[i] = (float)cgt_uniform(rng, -2, 2);
        break;
      case IR_I32:
        ((int32_t *)x.data)[i] = (int32_t)(cgt_next(rng) % (uint64_t)imax);
        break;
      case IR_I64:
        ((int64_t *)x.data)[i] = (int64_t)(cgt_next(rng) % (uint64_t)imax);
        break;
    }
  }
  return x;
}

static inline bool cgt_get_param(void *user, const char *name, seqrt_tensor *out) {
  cgt_store *s = user;
  for (int i = 0; i < s->n; i++)
    if (strcmp(s->items[i].name, name) == 0) {
      *out = s->items[i].t;
      return true;
    }
  return false;
}

/* a model from YAML text, lowered; fails the test on any error */
static inline ir_graph *cgt_load(const char *src) {
  ir_diags d;
  ir_diags_init(&d, "test.yaml", src, strlen(src), stderr);
  fe_ast *ast = fe_parse_yaml(src, strlen(src), &d);
  assert_non_null(ast);
  ir_graph *g = fe_lower(ast, &d);
  fe_ast_free(ast);
  assert_int_equal(d.nerrors, 0);
  assert_non_null(g);
  return g;
}

/* compares got with want element by element; prints the first miss */
static inline void cgt_compare(const char *name, const seqrt_tensor *got, const seqrt_tensor *want,
                               double tol, const char *variant, int nth) {
  assert_int_equal(got->dtype, want->dtype);
  assert_int_equal(got->rank, want->rank);
  for (int i = 0; i < want->rank; i++) assert_int_equal(got->shape[i], want->shape[i]);
  int64_t n = seqrt_tensor_numel(want);
  for (int64_t i = 0; i < n; i++) {
    double g, w;
    switch (want->dtype) {
      case SEQRT_F32:
        g = ((float *)got->data)[i], w = ((float *)want->data)[i];
        break;
      case SEQRT_I32:
        g = ((int32_t *)got->data)[i], w = ((int32_t *)want->data)[i];
        break;
      default:
        g = (double)((int64_t *)got->data)[i], w = (double)((int64_t *)want->data)[i];
    }
    if (isnan(w) && isnan(g)) continue;
    if (!(fabs(g - w) <= tol + tol * fabs(w))) {
      fprintf(stderr, "output %s [%s, %d threads]: element %lld is %.9g, want %.9g\n", name,
              variant, nth, (long long)i, g, w);
      fail();
    }
  }
}

/* the message got is exactly want (shown when not) */
static inline void cgt_same_message(const char *who, const char *got, const char *want) {
  if (strcmp(got, want))
    fprintf(stderr, "%s: error message\n  got:  %s\n  want: %s\n", who, got, want);
  assert_string_equal(got, want);
}

/*
 * g through the pass pipeline for opt's target and dims (folded into the
 * passes when every base dim is bound, as the CLI does; -1 stays symbolic)
 * and JIT-compiled with opt; LLVM's message on stderr if that fails.
 */
static inline cg_jit *cgt_compile(ir_graph *g, const cg_options *opt) {
  ir_diags d;
  ir_diags_init(&d, "test.yaml", NULL, 0, stderr);
  bool all_bound = opt->bind_syms != NULL;
  for (int s = 0; all_bound && s < g->nsyms; s++) all_bound = opt->bind_syms[s] >= 0;
  ir_target target;
  cg_target(opt, &target);
  pass_ctx ctx = {.diags = &d,
                  .syms = all_bound ? opt->bind_syms : NULL,
                  .target = &target,
                  .bind_syms = opt->bind_syms};
  assert_true(pass_run_pipeline(g, &ctx));
  seqrt_error err = {{0}};
  cg_jit *j = cg_jit_compile(g, opt, &err);
  if (!j) fprintf(stderr, "cg_jit_compile: %s\n", err.msg);
  assert_non_null(j);
  return j;
}

/* one run of j's model on input x [B, T, 32] with random parameters from
 * seed (syms {B, T}); its only output's n floats into out */
static inline void cgt_run_once(cg_jit *j, int64_t B, int64_t T, uint64_t seed, float *x,
                                float *out, int64_t n) {
  int64_t syms[2] = {B, T};
  seqrt_error err = {{0}};
  seqrt_session *s = seqrt_session_new(cg_jit_desc(j), syms, 2, &err);
  assert_non_null(s);
  assert_int_equal(seqrt_session_random_params(s, seed, &err), 0);
  seqrt_tensor in = {.dtype = SEQRT_F32, .rank = 3, .shape = {B, T, 32}, .data = x};
  seqrt_tensor y;
  assert_int_equal(seqrt_session_run(s, &in, &y, &err), 0);
  assert_int_equal(seqrt_tensor_numel(&y), n);
  memcpy(out, y.data, sizeof(float) * (size_t)n);
  seqrt_session_free(s);
}

/*
 * Runs the model ref (a lowered graph, freed here) every way o asks for and
 * compares with the interpreter. With a bad index, both the interpreter and every compiled run
 * must fail instead, with exactly the message o->error (o->eval_error for the interpreter, if
 * set): the index, the valid range and the position, and nothing crashes.
 */
static inline void cgt_check_graph(ir_graph *ref, const cgt_opts *o) {
  cgt_opts def = {0};
  if (!o) o = &def;
  unsigned variants = o->variants ? o->variants : CGT_ALL;
  int64_t imax = o->index_max ? o->index_max : 10;
  double tol = o->tol > 0 ? o->tol : 1e-5;
  uint64_t rng = o->seed ? o->seed : 1;
  int64_t syms[IR_MAX_SYMS];
  for (int i = 0; i < ref->nsyms; i++) syms[i] = o->syms ? o->syms[i] : ref->syms[i].def_value;

  /* parameters and inputs, shared by the interpreter and every compiled run */
  cgt_store params = {calloc((size_t)ref->nvalues + 1, sizeof(cgt_tensor)), 0};
  for (int v = 0; v < ref->nvalues; v++) {
    const ir_value *val = &ref->values[v];
    if (val->kind != IR_VAL_PARAM) continue;
    cgt_tensor *p = &params.items[params.n++];
    p->name = strdup(val->name);
    p->t = cgt_random(&val->type, syms, &rng, imax);
    /* weights as PyTorch initializes them, +-1/sqrt(fan_in): activations stay O(1)
     * through a stack of layers, as in a trained model */
    if (p->t.dtype == SEQRT_F32 && p->t.rank > 0 && p->t.shape[p->t.rank - 1] > 0) {
      float scale = (float)(0.5 / sqrt((double)p->t.shape[p->t.rank - 1]));
      for (int64_t i = 0; i < seqrt_tensor_numel(&p->t); i++) ((float *)p->t.data)[i] *= scale;
    }
  }
  /* one set of inputs and expected outputs for each run of a session */
  int runs = o->runs > 0 ? o->runs : 1;
  assert_true(runs == 1 || !o->bad_index);
  int nin = ref->ninputs, nout = ref->noutputs;
  seqrt_tensor *inputs = calloc((size_t)(runs * nin) + 1, sizeof *inputs);
  seqrt_tensor *want = calloc((size_t)(runs * nout) + 1, sizeof *want);
  seqrt_error err = {{0}};
  for (int r = 0; r < runs; r++) {
    bool planted = false;
    for (int i = 0; i < nin; i++) {
      const ir_value *val = &ref->values[ref->inputs[i]];
      seqrt_tensor *in = &inputs[r * nin + i];
      *in = cgt_random(&val->type, syms, &rng, imax);
      if (o->fill) o->fill(val->name, in, r);
      for (int64_t e = 0; o->index_min && e < seqrt_tensor_numel(in); e++) {
        if (in->dtype == SEQRT_I32) ((int32_t *)in->data)[e] += (int32_t)o->index_min;
        if (in->dtype == SEQRT_I64) ((int64_t *)in->data)[e] += o->index_min;
      }
      int64_t ne = seqrt_tensor_numel(in);
      for (int64_t e = 1; o->sorted && in->dtype != SEQRT_F32 && e < ne; e++) /* insertion */
        for (int64_t k = e; k > 0; k--) {
          bool i32 = in->dtype == SEQRT_I32;
          int64_t a = i32 ? ((int32_t *)in->data)[k - 1] : ((int64_t *)in->data)[k - 1];
          int64_t z = i32 ? ((int32_t *)in->data)[k] : ((int64_t *)in->data)[k];
          if (a >= z) break;
          if (i32)
            ((int32_t *)in->data)[k - 1] = (int32_t)z, ((int32_t *)in->data)[k] = (int32_t)a;
          else
            ((int64_t *)in->data)[k - 1] = z, ((int64_t *)in->data)[k] = a;
        }
      if (o->bad_index && !planted && val->type.dtype != IR_F32) {
        if (val->type.dtype == IR_I32)
          ((int32_t *)in->data)[o->bad_pos] = (int32_t)o->bad_index;
        else
          ((int64_t *)in->data)[o->bad_pos] = o->bad_index;
        planted = true;
      }
    }
    bool ok = ir_eval(ref, syms, &inputs[r * nin], cgt_get_param, &params, &want[r * nout], &err);
    if (o->bad_index) {
      assert_non_null(o->error); /* a failure must say what it is, in full */
      assert_false(ok);
      cgt_same_message("interpreter", err.msg, o->eval_error ? o->eval_error : o->error);
    } else if (!ok) {
      fprintf(stderr, "ir_eval: %s\n", err.msg);
    }
    if (!o->bad_index) assert_true(ok);
  }

  static const unsigned kinds[] = {CGT_FUSED, CGT_UNFUSED, CGT_SYMBOLIC, CGT_AVX2, CGT_SSE};
  static const char *const kind_names[] = {"fused", "unfused", "symbolic", "avx2", "sse"};
  static const char *const cpus[] = {NULL, NULL, NULL, "haswell", "x86-64"};
  for (int k = 0; k < 5; k++) {
    if (!(variants & kinds[k])) continue;
    bool bind = kinds[k] != CGT_SYMBOLIC && kinds[k] != CGT_SSE;
    ir_graph *g = ir_graph_clone(ref);
    ir_diags d;
    ir_diags_init(&d, "test.yaml", NULL, 0, stderr);
    cg_options opt = {.bind_syms = bind ? syms : NULL, .cpu = cpus[k], .opt_level = 3};
    ir_target target;
    cg_target(&opt, &target);
    pass_ctx ctx = {.diags = &d,
                    .syms = bind ? syms : NULL,
                    .no_fuse = kinds[k] == CGT_UNFUSED,
                    .target = &target};
    assert_true(pass_run_pipeline(g, &ctx));
    if (getenv("CGT_PRINT")) ir_print(g, stderr);
    cg_jit *j = cg_jit_compile(g, &opt, &err);
    if (!j) fprintf(stderr, "cg_jit_compile [%s]: %s\n", kind_names[k], err.msg);
    assert_non_null(j);
    const seqrt_model_desc *desc = cg_jit_desc(j);
    /* with o->threads_tol: copies of the outputs of each run at one thread */
    seqrt_tensor *first = calloc((size_t)(runs * nout) + 1, sizeof *first);
    for (int nth = 1; nth <= (o->threads > 0 ? o->threads : 2); nth++) {
      seqrt_session *s = seqrt_session_new(desc, syms, nth, &err);
      if (!s) fprintf(stderr, "session: %s\n", err.msg);
      assert_non_null(s);
      for (int p = 0; p < params.n; p++)
        assert_int_equal(seqrt_session_set_param(s, params.items[p].name, &params.items[p].t, &err),
                         0);
      seqrt_tensor *got = calloc((size_t)nout + 1, sizeof *got);
      for (int r = 0; r < runs; r++) {
        int rc = seqrt_session_run(s, &inputs[r * nin], got, &err);
        if (o->bad_index) {
          assert_int_not_equal(rc, 0);
          cgt_same_message(kind_names[k], err.msg, o->error);
          continue;
        }
        if (rc) fprintf(stderr, "run %d [%s]: %s\n", r, kind_names[k], err.msg);
        assert_int_equal(rc, 0);
        char variant[64];
        snprintf(variant, sizeof variant, "%s, run %d", kind_names[k], r + 1);
        for (int i = 0; i < nout; i++) {
          const char *name = ref->outputs[i].name;
          cgt_compare(name, &got[i], &want[r * nout + i], tol, variant, nth);
          if (!(o->threads_tol > 0) || got[i].dtype != SEQRT_F32) continue;
          seqrt_tensor *f = &first[r * nout + i];
          int64_t n = seqrt_tensor_numel(&got[i]);
          if (nth == 1) {
            *f = got[i];
            f->data = malloc((size_t)n * 4 + 1);
            memcpy(f->data, got[i].data, (size_t)n * 4);
            continue;
          }
          for (int64_t e = 0; e < n; e++) {
            double x = ((float *)f->data)[e], y = ((float *)got[i].data)[e];
            if (fabs(y - x) <= o->threads_tol + o->threads_tol * fabs(x)) continue;
            fprintf(stderr, "output %s [%s]: element %lld is %.9g at %d threads, %.9g at 1\n",
                    name, variant, (long long)e, y, nth, x);
            fail();
          }
        }
      }
      free(got);
      seqrt_session_free(s);
    }
    for (int i = 0; i < runs * nout; i++) free(first[i].data);
    free(first);
    cg_jit_free(j);
    ir_graph_free(g);
  }

  for (int i = 0; i < runs * nout; i++) free(want[i].data);
  free(want);
  for (int i = 0; i < runs * nin; i++) free(inputs[i].data);
  free(inputs);
  for (int p = 0; p < params.n; p++) {
    free(params.items[p].name);
    free(params.items[p].t.data);
  }
  free(params.items);
  ir_graph_free(ref);
}

/* cgt_check_graph on the model in yaml */
static inline void cgt_check(const char *yaml, const cgt_opts *o) {
  cgt_check_graph(cgt_load(yaml), o);
}

#endif
