/*
 * test_object.c: cg_object_write against the JIT. A model is compiled both
 * ways; the object is linked into a shared library (cc -shared) and opened,
 * and its descriptor must equal cg_desc_new's field by field (so the LLVM
 * struct layout matches seqrt.h's), and both must compute the same outputs
 * on the same random parameters and inputs, with dims symbolic and bound;
 * a session of each, run three times on new inputs, gives the interpreter's
 * outputs every time. The model streams (SPEC 9: a carried GRU, positional
 * encoding from the session position, attention with a window and a ring
 * cache shorter than some runs), so each run continues the last, and so does
 * the interpreter's session it is compared with.
 * Also: embedded parameters, an unknown CPU, asm and LLVM IR output.
 */
#include <dlfcn.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cg.h"
#include "fe.h"
#include "passes.h"
#include "rt.h"

static const char *const MODEL =
    "seqc: 1\nname: tiny\ndims: {B: 2, T: 5}\n"
    "inputs:\n  tok: {dtype: i32, shape: [B, T]}\n  x: {dtype: f32, shape: [B, T, 8]}\n"
    "outputs: [y, p]\nnodes:\n"
    "  emb: {op: embedding, input: tok, num_embeddings: 7, embedding_dim: 8}\n"
    "  s: {op: add, inputs: [emb, x]}\n"
    "  pe: {op: positional_encoding, input: s}\n"
    "  g: {op: gru, input: pe, hidden_size: 8, carry: true}\n"
    "  a: {op: multihead_attention, input: g, num_heads: 2, causal: true, window: 6, cache: 8}\n"
    "  h: {op: linear, input: a, out_features: 6}\n"
    "  p: {op: softmax, input: h}\n"
    "  y: {op: layer_norm, input: h}\n";

/* a scratch folder for the files of one test */
typedef struct scratch {
  char dir[64];   /* mkdtemp'd */
  char path[160]; /* last path made by at() */
} scratch;

static const char *at(scratch *s, const char *name) {
  snprintf(s->path, sizeof s->path, "%s/%s", s->dir, name);
  return s->path;
}

/* the model as the frontend lowers it (what the interpreter runs) */
static ir_graph *lowered(void) {
  char path[] = "/tmp/seqc-aot-XXXXXX.yaml";
  int fd = mkstemps(path, 5);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, MODEL, strlen(MODEL)), (ssize_t)strlen(MODEL));
  close(fd);
  ir_diags d;
  ir_diags_init(&d, path, NULL, 0, stderr);
  char *src = NULL;
  ir_graph *g = fe_load_model(path, &d, &src);
  unlink(path);
  free(src);
  assert_non_null(g);
  assert_int_equal(d.nerrors, 0);
  return g;
}

/* the model through the pass pipeline, ready for codegen */
static ir_graph *planned(const int64_t *syms) {
  ir_graph *g = lowered();
  ir_diags d;
  ir_diags_init(&d, "tiny.yaml", NULL, 0, stderr);
  ir_target target; /* the host's: the tests write objects for it */
  cg_target(&(cg_options){.bind_syms = syms}, &target);
  pass_ctx ctx = {.diags = &d, .syms = syms, .target = &target};
  assert_true(pass_run_pipeline(g, &ctx));
  return g;
}

/* links obj into a shared library and opens it (seqrt_* come from this test program,
 * linked with -rdynamic) */
static void *open_object(scratch *s, const char *obj) {
  char so[200], cmd[512];
  snprintf(so, sizeof so, "%s/m.so", s->dir);
  snprintf(cmd, sizeof cmd, "cc -shared -o %s %s -lm", so, obj);
  assert_int_equal(system(cmd), 0);
  void *lib = dlopen(so, RTLD_NOW | RTLD_LOCAL);
  if (!lib) fprintf(stderr, "dlopen: %s\n", dlerror());
  assert_non_null(lib);
  return lib;
}

static void same_desc(const seqrt_model_desc *a, const seqrt_model_desc *b) {
  assert_int_equal(a->abi_version, b->abi_version);
  assert_string_equal(a->name, b->name);
  assert_int_equal(a->nsyms, b->nsyms);
  for (int i = 0; i < a->nsyms; i++) {
    assert_string_equal(a->sym_names[i], b->sym_names[i]);
    assert_int_equal(a->sym_defaults[i], b->sym_defaults[i]);
    assert_int_equal(a->sym_bound[i], b->sym_bound[i]);
  }
  assert_int_equal(a->nbufs, b->nbufs);
  for (int i = 0; i < a->nbufs; i++) {
    const seqrt_buffer_desc *x = &a->bufs[i], *y = &b->bufs[i];
    assert_string_equal(x->name, y->name);
    assert_int_equal(x->dtype, y->dtype);
    assert_int_equal(x->role, y->role);
    assert_int_equal(x->rank, y->rank);
    for (int k = 0; k < x->rank; k++) {
      assert_int_equal(x->shape[k].coef, y->shape[k].coef);
      assert_int_equal(x->shape[k].sym[0], y->shape[k].sym[0]);
      assert_int_equal(x->shape[k].sym[1], y->shape[k].sym[1]);
    }
    assert_int_equal(x->first, y->first);
    assert_int_equal(x->last, y->last);
    assert_int_equal(x->alias, y->alias);
  }
  assert_int_equal(a->ninputs, b->ninputs);
  for (int i = 0; i < a->ninputs; i++) assert_int_equal(a->inputs[i], b->inputs[i]);
  assert_int_equal(a->position_sym, b->position_sym);
  assert_int_equal(a->streaming, b->streaming);
  assert_int_equal(a->noutputs, b->noutputs);
  for (int i = 0; i < a->noutputs; i++) {
    assert_int_equal(a->outputs[i], b->outputs[i]);
    assert_string_equal(a->output_names[i], b->output_names[i]);
  }
  assert_true((a->prepare == NULL) == (b->prepare == NULL));
  assert_non_null(a->run);
}

/* random tok in [0, 7) and x in [-1, 1] for B, T; each seed its own data */
static void make_inputs(int64_t B, int64_t T, uint32_t seed, seqrt_tensor *in) {
  uint32_t r = seed;
  in[0] = (seqrt_tensor){SEQRT_I32, 2, {B, T}, calloc((size_t)(B * T), 4)};
  in[1] = (seqrt_tensor){SEQRT_F32, 3, {B, T, 8}, calloc((size_t)(B * T * 8), 4)};
  for (int64_t i = 0; i < B * T; i++)
    ((int32_t *)in[0].data)[i] = (int32_t)(((r = r * 1103515245u + 12345u) >> 8) % 7);
  for (int64_t i = 0; i < B * T * 8; i++)
    ((float *)in[1].data)[i] = (float)(((r = r * 1103515245u + 12345u) >> 8) % 2001) / 1000.0f - 1;
}

/* ir_param_fn over a session's bound parameters */
static bool session_param(void *user, const char *name, seqrt_tensor *out) {
  const seqrt_session *s = user;
  const seqrt_model_desc *d = s->desc;
  for (int b = 0; b < d->nbufs; b++) {
    if (d->bufs[b].role != SEQRT_ROLE_PARAM || strcmp(d->bufs[b].name, name)) continue;
    *out = (seqrt_tensor){.dtype = (seqrt_dtype)d->bufs[b].dtype, .rank = d->bufs[b].rank};
    memcpy(out->shape, &s->shapes[(size_t)b * SEQRT_MAX_RANK], sizeof(int64_t) * SEQRT_MAX_RANK);
    out->data = s->params[b];
    return out->data != NULL;
  }
  return false;
}

/* got (n floats) within 1e-5 + 1e-5 * |want| of want, element by element */
static void close_to(const float *got, const float *want, size_t n) {
  for (size_t k = 0; k < n; k++) {
    double tol = 1e-5 + 1e-5 * fabs((double)want[k]);
    if (!(fabs((double)got[k] - (double)want[k]) <= tol))
      fprintf(stderr, "element %zu: got %.9g, want %.9g\n", k, got[k], want[k]);
    assert_true(fabs((double)got[k] - (double)want[k]) <= tol);
  }
}

/*
 * Runs d at (B, T) RUNS times in one session, each run on inputs of its own,
 * with random params of seed 3 (or the embedded ones); the outputs of run k are
 * copied into out[k]. With ref (the model as lowered), every run must also give
 * what a session of the interpreter gives for the same inputs on the session's
 * parameters: each run computes from its new inputs, continuing the state and
 * the position that the last left (the model streams).
 */
static void run_model(const seqrt_model_desc *d, int64_t B, int64_t T, bool random, int runs,
                      const ir_graph *ref, float *(*out)[2]) {
  seqrt_error err;
  int64_t syms[2] = {B, T};
  seqrt_session *s = seqrt_session_new(d, syms, 2, &err);
  if (!s) fprintf(stderr, "%s\n", err.msg);
  assert_non_null(s);
  if (random) assert_int_equal(seqrt_session_random_params(s, 3, &err), 0);
  /* every run's inputs live to the end: a session that kept reading the first
   * run's memory must not find the next run's data there by chance */
  seqrt_tensor(*ins)[2] = calloc((size_t)runs, sizeof *ins);
  assert_non_null(ins);
  ir_session *interp = ref ? ir_session_new(ref) : NULL;
  for (int k = 0; k < runs; k++) {
    seqrt_tensor *in = ins[k], o[2];
    make_inputs(B, T, 12345u + 1000u * (uint32_t)k, in);
    int rc = seqrt_session_run(s, in, o, &err);
    if (rc) fprintf(stderr, "run %d: %s\n", k, err.msg);
    assert_int_equal(rc, 0);
    for (int i = 0; i < 2; i++) {
      assert_int_equal(o[i].rank, 3);
      assert_int_equal(seqrt_tensor_numel(&o[i]), B * T * 6);
      size_t n = (size_t)seqrt_tensor_numel(&o[i]);
      out[k][i] = malloc(n * 4);
      memcpy(out[k][i], o[i].data, n * 4);
    }
    assert_int_equal(seqrt_session_position(s), (k + 1) * T);
    if (ref) {
      seqrt_tensor want[2] = {{0}};
      bool ok = ir_eval_run(interp, syms, in, session_param, s, want, &err);
      if (!ok) fprintf(stderr, "ir_eval: %s\n", err.msg);
      assert_true(ok);
      for (int i = 0; i < 2; i++) {
        close_to(out[k][i], want[i].data, (size_t)(B * T * 6));
        free(want[i].data);
      }
    }
  }
  for (int k = 0; k < runs; k++)
    for (int i = 0; i < 2; i++) free(ins[k][i].data);
  free(ins);
  ir_session_free(interp);
  seqrt_session_free(s);
}

static void same_outputs(float **a, float **b, int64_t B, int64_t T) {
  size_t n[2] = {(size_t)(B * T * 6), (size_t)(B * T * 6)};
  for (int i = 0; i < 2; i++) {
    for (size_t k = 0; k < n[i]; k++) assert_float_equal(a[i][k], b[i][k], 1e-6);
    free(a[i]);
    free(b[i]);
  }
}

static void object_matches_jit(void **state) {
  (void)state;
  scratch s;
  strcpy(s.dir, "/tmp/seqc-aot-XXXXXX");
  assert_non_null(mkdtemp(s.dir));
  ir_graph *g = planned(NULL);
  int64_t unbound[2] = {-1, -1};
  cg_options opt = {.bind_syms = unbound, .opt_level = 2};
  cg_object_options oo = {.kind = CG_EMIT_OBJ, .symbol = "seqc_model_tiny", .alias = "other"};
  seqrt_error err;
  char obj[200];
  snprintf(obj, sizeof obj, "%s", at(&s, "m.o"));
  int rc = cg_object_write(g, &opt, &oo, obj, &err);
  if (rc) fprintf(stderr, "cg_object_write: %s\n", err.msg);
  assert_int_equal(rc, 0);
  void *lib = open_object(&s, obj);
  const seqrt_model_desc *aot = dlsym(lib, "seqc_model_tiny");
  assert_non_null(aot);
  assert_ptr_equal(dlsym(lib, "other"), aot);
  assert_null(dlsym(lib, "run")); /* entries are internal: models never clash */

  cg_options jopt = {.opt_level = 2};
  cg_jit *j = cg_jit_compile(g, &jopt, &err);
  assert_non_null(j);
  same_desc(aot, cg_jit_desc(j));
  assert_int_equal(aot->nembedded, 0);
  /* each size: one session of each run three times, on three inputs */
  ir_graph *ref = lowered();
  static const int64_t sizes[][2] = {{2, 5}, {1, 1}, {3, 40}};
  for (int i = 0; i < 3; i++) {
    float *a[3][2], *b[3][2];
    run_model(aot, sizes[i][0], sizes[i][1], true, 3, ref, a);
    run_model(cg_jit_desc(j), sizes[i][0], sizes[i][1], true, 3, ref, b);
    for (int k = 0; k < 3; k++) same_outputs(a[k], b[k], sizes[i][0], sizes[i][1]);
  }
  ir_graph_free(ref);
  cg_jit_free(j);
  dlclose(lib);
  ir_graph_free(g);
  unlink(obj);
  unlink(at(&s, "m.so"));
  rmdir(s.dir);
}

/* B bound to 2, T symbolic, and every parameter embedded */
static void embedded_params(void **state) {
  (void)state;
  scratch s;
  strcpy(s.dir, "/tmp/seqc-aot-XXXXXX");
  assert_non_null(mkdtemp(s.dir));
  int64_t bind[2] = {2, -1};
  ir_graph *g = planned(NULL);
  /* parameter values: those random_params gives a JIT session */
  cg_options jopt = {.opt_level = 2};
  seqrt_error err;
  cg_jit *j = cg_jit_compile(g, &jopt, &err);
  assert_non_null(j);
  int64_t syms[2] = {2, 5};
  seqrt_session *js = seqrt_session_new(cg_jit_desc(j), syms, 1, &err);
  if (!js) fprintf(stderr, "%s\n", err.msg);
  assert_non_null(js);
  assert_int_equal(seqrt_session_random_params(js, 3, &err), 0);
  const seqrt_model_desc *jd = cg_jit_desc(j);
  seqrt_embedded_param params[16];
  int np = 0;
  for (int b = 0; b < jd->nbufs; b++) {
    if (jd->bufs[b].role != SEQRT_ROLE_PARAM) continue;
    seqrt_embedded_param *p = &params[np++];
    p->name = jd->bufs[b].name;
    p->tensor.dtype = (seqrt_dtype)jd->bufs[b].dtype;
    p->tensor.rank = jd->bufs[b].rank;
    for (int k = 0; k < p->tensor.rank; k++) p->tensor.shape[k] = jd->bufs[b].shape[k].coef;
    p->tensor.data = js->params[b];
  }
  assert_int_equal(np, 13); /* emb, g (4), a (4), h (weight, bias), y (weight, bias) */
  cg_options opt = {.bind_syms = bind, .opt_level = 2};
  cg_object_options oo = {
      .kind = CG_EMIT_OBJ, .symbol = "seqc_model_tiny", .params = params, .nparams = np};
  char obj[200];
  snprintf(obj, sizeof obj, "%s", at(&s, "e.o"));
  assert_int_equal(cg_object_write(g, &opt, &oo, obj, &err), 0);
  void *lib = open_object(&s, obj);
  const seqrt_model_desc *aot = dlsym(lib, "seqc_model_tiny");
  assert_non_null(aot);
  assert_int_equal(aot->nembedded, np);
  assert_int_equal(aot->sym_bound[0], 2);
  assert_int_equal(aot->sym_bound[1], -1);
  for (int i = 0; i < np; i++) {
    assert_string_equal(aot->embedded[i].name, params[i].name);
    assert_int_equal((uintptr_t)aot->embedded[i].tensor.data % 64, 0);
  }
  float *a[1][2], *b[1][2];
  run_model(aot, 2, 9, false, 1, NULL, a); /* no parameters given: the embedded ones */
  run_model(jd, 2, 9, true, 1, NULL, b);
  same_outputs(a[0], b[0], 2, 9);
  /* B is compiled in */
  int64_t wrong[2] = {3, 9};
  assert_null(seqrt_session_new(aot, wrong, 1, &err));
  assert_non_null(strstr(err.msg, "compiled for B = 2"));
  seqrt_session_free(js);
  cg_jit_free(j);
  dlclose(lib);
  ir_graph_free(g);
  unlink(obj);
  unlink(at(&s, "m.so"));
  rmdir(s.dir);
}

/* g's schedule made again for the target opt names (an object for another CPU) */
static void reschedule(ir_graph *g, const cg_options *opt) {
  ir_target target;
  cg_target(opt, &target);
  pass_ctx ctx = {.target = &target, .bind_syms = opt->bind_syms};
  assert_true(pass_schedule(g, &ctx));
}

static void other_outputs(void **state) {
  (void)state;
  scratch s;
  strcpy(s.dir, "/tmp/seqc-aot-XXXXXX");
  assert_non_null(mkdtemp(s.dir));
  int64_t bind[2] = {2, 5};
  ir_graph *g = planned(bind);
  seqrt_error err;
  cg_options bad = {.bind_syms = bind, .cpu = "pentium9", .opt_level = 2};
  cg_object_options oo = {.kind = CG_EMIT_ASM, .symbol = "seqc_model_tiny"};
  assert_int_not_equal(cg_object_write(g, &bad, &oo, at(&s, "x.s"), &err), 0);
  assert_non_null(strstr(err.msg, "unknown target CPU 'pentium9'"));
  assert_false(cg_cpu_known("pentium9"));
  assert_true(cg_cpu_known("x86-64-v3"));

  cg_options v3 = {.bind_syms = bind, .cpu = "x86-64-v3", .opt_level = 2};
  /* scheduled for the host's vectors, not for v3's 8 floats */
  ir_target host;
  cg_target(NULL, &host);
  if (host.vec_width != 8) {
    char want[128];
    snprintf(want, sizeof want, "scheduled for %d floats per vector, the target has 8",
             host.vec_width);
    assert_int_not_equal(cg_object_write(g, &v3, &oo, at(&s, "x.s"), &err), 0);
    assert_non_null(strstr(err.msg, want));
  }
  reschedule(g, &v3);
  assert_int_equal(cg_object_write(g, &v3, &oo, at(&s, "x.s"), &err), 0);
  FILE *f = fopen(s.path, "r");
  assert_non_null(f);
  char line[512];
  bool ymm = false, zmm = false;
  while (fgets(line, sizeof line, f)) {
    ymm |= strstr(line, "ymm") != NULL;
    zmm |= strstr(line, "zmm") != NULL;
  }
  fclose(f);
  assert_true(ymm);
  assert_false(zmm);
  unlink(s.path);

  oo.kind = CG_EMIT_LLVM;
  assert_int_equal(cg_object_write(g, &v3, &oo, at(&s, "x.ll"), &err), 0);
  f = fopen(s.path, "r");
  assert_non_null(f);
  bool run = false, desc = false;
  while (fgets(line, sizeof line, f)) {
    run |= strstr(line, "define internal void @seqc_model_tiny.run(") != NULL;
    desc |= strncmp(line, "@seqc_model_tiny = ", 19) == 0;
  }
  fclose(f);
  assert_true(run);
  assert_true(desc);
  unlink(s.path);
  /* a folder that does not exist */
  assert_int_not_equal(cg_object_write(g, &v3, &oo, "/nonexistent/dir/x.ll", &err), 0);
  assert_non_null(strstr(err.msg, "cannot write"));
  ir_graph_free(g);
  rmdir(s.dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(object_matches_jit),
      cmocka_unit_test(embedded_params),
      cmocka_unit_test(other_outputs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
