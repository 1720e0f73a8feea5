/*
 * test_desc.c: the model descriptor the JIT hands the runtime: buffers with
 * names, roles, symbolic shapes and lifetimes, inputs and outputs by buffer
 * id, symbols bound or not, and the entry points.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cg_test.h"

static const char *const MODEL =
    "seqc: 1\nname: tagger\ndims: {B: 2, T: 5}\n"
    "inputs:\n  tok: {dtype: i32, shape: [B, T]}\n  x: {dtype: f32, shape: [B, T, 8]}\n"
    "outputs: [logits, x, h]\nnodes:\n"
    "  e: {op: embedding, input: tok, num_embeddings: 20, embedding_dim: 8}\n"
    "  s: {op: add, inputs: [e, x]}\n"
    "  h: {op: relu, input: s}\n"
    "  logits: {op: linear, input: h, out_features: 3}\n";

/* the buffer named name, failing the test if there is none */
static const seqrt_buffer_desc *buf_named(const seqrt_model_desc *d, const char *name) {
  for (int i = 0; i < d->nbufs; i++)
    if (strcmp(d->bufs[i].name, name) == 0) return &d->bufs[i];
  fprintf(stderr, "no buffer %s\n", name);
  fail();
  return NULL;
}

static void check_desc(bool bind) {
  ir_graph *g = cgt_load(MODEL);
  ir_diags d;
  ir_diags_init(&d, "test.yaml", NULL, 0, stderr);
  int64_t syms[2] = {2, 5};
  cg_options opt = {.bind_syms = bind ? syms : NULL, .opt_level = 1};
  ir_target target;
  cg_target(&opt, &target);
  pass_ctx ctx = {.diags = &d, .syms = bind ? syms : NULL, .target = &target};
  assert_true(pass_run_pipeline(g, &ctx));
  seqrt_error err = {{0}};
  cg_jit *j = cg_jit_compile(g, &opt, &err);
  assert_non_null(j);
  const seqrt_model_desc *m = cg_jit_desc(j);
  assert_int_equal(m->abi_version, SEQRT_ABI_VERSION);
  assert_string_equal(m->name, "tagger");
  assert_int_equal(m->nsyms, 2);
  assert_string_equal(m->sym_names[0], "B");
  assert_string_equal(m->sym_names[1], "T");
  assert_int_equal(m->sym_defaults[1], 5);
  assert_int_equal(m->sym_bound[0], bind ? 2 : -1);
  assert_int_equal(m->sym_bound[1], bind ? 5 : -1);
  assert_non_null(m->run);
  assert_non_null(m->prepare); /* the linear's weight is transposed once */

  assert_int_equal(m->nbufs, g->nbuffers);
  assert_int_equal(m->ninputs, 2);
  const seqrt_buffer_desc *tok = &m->bufs[m->inputs[0]];
  assert_string_equal(tok->name, "tok");
  assert_int_equal(tok->role, SEQRT_ROLE_INPUT);
  assert_int_equal(tok->dtype, SEQRT_I32);
  assert_int_equal(tok->rank, 2);
  assert_int_equal(tok->shape[0].coef, 1);
  assert_int_equal(tok->shape[0].sym[0], 0); /* B */
  assert_int_equal(tok->shape[1].sym[0], 1); /* T */
  assert_string_equal(m->bufs[m->inputs[1]].name, "x");

  assert_int_equal(m->noutputs, 3);
  static const char *const outs[] = {"logits", "x", "h"};
  for (int i = 0; i < 3; i++) {
    assert_string_equal(m->output_names[i], outs[i]);
    const seqrt_buffer_desc *o = &m->bufs[m->outputs[i]];
    assert_string_equal(o->name, outs[i]);
    assert_int_equal(o->role, SEQRT_ROLE_OUTPUT);
  }
  /* the output x is a copy, not the input's memory */
  assert_int_not_equal(m->outputs[1], m->inputs[1]);
  const seqrt_buffer_desc *logits = &m->bufs[m->outputs[0]];
  assert_int_equal(logits->rank, 3);
  assert_int_equal(logits->shape[2].coef, 3);
  assert_int_equal(logits->shape[2].sym[0], -1);

  const seqrt_buffer_desc *w = buf_named(m, "e.weight");
  assert_int_equal(w->role, SEQRT_ROLE_PARAM);
  assert_int_equal(w->shape[0].coef, 20);
  assert_int_equal(w->shape[1].coef, 8);
  for (int i = 0; i < m->nbufs; i++) {
    const seqrt_buffer_desc *b = &m->bufs[i];
    if (b->role == SEQRT_ROLE_TEMP) assert_true(b->first <= b->last);
    if (b->role == SEQRT_ROLE_ALIAS)
      assert_true(b->alias >= 0 && b->alias < m->nbufs);
    else
      assert_int_equal(b->alias, -1);
  }
  cg_jit_free(j);
  ir_graph_free(g);
}

static void bound(void **state) {
  (void)state;
  check_desc(true);
}

static void symbolic(void **state) {
  (void)state;
  check_desc(false);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(bound),
      cmocka_unit_test(symbolic),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
