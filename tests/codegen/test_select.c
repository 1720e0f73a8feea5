/*
 * test_select.c: seqrt_session_select_rows, the reorder of a session's kept
 * state that beam search needs. A streaming model (a carried LSTM, a cached
 * GPT-style stack, nn.Transformer with a static source and a cached decoder)
 * of 3 rows runs a first piece, selects rows [1, 0, 1] and runs a second
 * piece: its outputs equal those of a fresh session whose first piece was
 * given rows 1, 0, 1 of the first input, at 1 and 2 threads. Also: the
 * identity keeps the state, and bad arguments are errors that change
 * nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cg_test.h"

enum { B = 3, T1 = 4, T2 = 2, MAX_IN = 2, MAX_OUT = 3 };

static const int64_t pick[B] = {1, 0, 1};

/* a model compiled with B = 3 and T left to run time, with random parameters */
typedef struct model {
  ir_graph *ref;             /* lowered */
  ir_graph *g;               /* through the pipeline */
  cg_jit *jit;               /* compiled */
  cgt_store params;          /* random parameters */
  int64_t syms[IR_MAX_SYMS]; /* planned dims: B, T = T1, then the defaults */
} model;

static void open_model(model *m, const char *yaml) {
  m->ref = cgt_load(yaml);
  assert_true(m->ref->streams);
  for (int i = 0; i < m->ref->nsyms; i++) m->syms[i] = m->ref->syms[i].def_value;
  m->syms[0] = B;
  m->syms[1] = T1;
  uint64_t rng = 7;
  m->params = (cgt_store){calloc((size_t)m->ref->nvalues + 1, sizeof(cgt_tensor)), 0};
  for (int v = 0; v < m->ref->nvalues; v++) {
    const ir_value *val = &m->ref->values[v];
    if (val->kind != IR_VAL_PARAM) continue;
    cgt_tensor *p = &m->params.items[m->params.n++];
    p->name = strdup(val->name);
    p->t = cgt_random(&val->type, m->syms, &rng, 10);
    for (int64_t i = 0; i < seqrt_tensor_numel(&p->t); i++) ((float *)p->t.data)[i] *= 0.3f;
  }
  m->g = ir_graph_clone(m->ref);
  int64_t bind[IR_MAX_SYMS];
  memcpy(bind, m->syms, sizeof bind);
  bind[1] = -1; /* T at run time */
  m->jit = cgt_compile(m->g, &(cg_options){.bind_syms = bind, .opt_level = 3});
}

static void close_model(model *m) {
  for (int p = 0; p < m->params.n; p++) {
    free(m->params.items[p].name);
    free(m->params.items[p].t.data);
  }
  free(m->params.items);
  cg_jit_free(m->jit);
  ir_graph_free(m->g);
  ir_graph_free(m->ref);
}

static seqrt_session *open_session(const model *m, int nth) {
  seqrt_error err = {{0}};
  seqrt_session *s = seqrt_session_new(cg_jit_desc(m->jit), m->syms, nth, &err);
  if (!s) fprintf(stderr, "session: %s\n", err.msg);
  assert_non_null(s);
  for (int p = 0; p < m->params.n; p++)
    assert_int_equal(
        seqrt_session_set_param(s, m->params.items[p].name, &m->params.items[p].t, &err), 0);
  return s;
}

/* the inputs of one piece of length T: random, [B, ...] */
static void random_inputs(const model *m, int64_t T, uint64_t *rng, seqrt_tensor *x) {
  int64_t syms[IR_MAX_SYMS];
  memcpy(syms, m->syms, sizeof syms);
  syms[1] = T;
  for (int i = 0; i < m->ref->ninputs; i++)
    x[i] = cgt_random(&m->ref->values[m->ref->inputs[i]].type, syms, rng, 10);
}

/* rows rows[0..B) of x along axis 0, a new tensor */
static seqrt_tensor rows_of(const seqrt_tensor *x, const int64_t *rows) {
  seqrt_tensor y = *x;
  size_t row = seqrt_dtype_size(x->dtype);
  for (int k = 1; k < x->rank; k++) row *= (size_t)x->shape[k];
  y.data = malloc(row * B + 1);
  assert_non_null(y.data);
  for (int i = 0; i < B; i++)
    memcpy((char *)y.data + (size_t)i * row, (const char *)x->data + (size_t)rows[i] * row, row);
  return y;
}

static void copy_out(const seqrt_tensor *o, int n, seqrt_tensor *kept) {
  for (int i = 0; i < n; i++) {
    kept[i] = o[i];
    size_t bytes = (size_t)seqrt_tensor_numel(&o[i]) * seqrt_dtype_size(o[i].dtype);
    kept[i].data = malloc(bytes + 1);
    assert_non_null(kept[i].data);
    memcpy(kept[i].data, o[i].data, bytes);
  }
}

/* the static inputs left out after the first run */
static void drop_static(const model *m, seqrt_tensor *x) {
  for (int i = 0; i < m->ref->ninputs; i++)
    if (m->ref->values[m->ref->inputs[i]].is_static) memset(&x[i], 0, sizeof x[i]);
}

/* piece 1, select [1, 0, 1], piece 2 == piece 1 on rows [1, 0, 1], piece 2 */
static void check_select(const char *yaml) {
  model m;
  open_model(&m, yaml);
  int nin = m.ref->ninputs, nout = m.ref->noutputs;
  assert_true(nin <= MAX_IN && nout <= MAX_OUT);
  uint64_t rng = 3;
  seqrt_tensor x1[MAX_IN], x2[MAX_IN], x1p[MAX_IN], x2s[MAX_IN];
  random_inputs(&m, T1, &rng, x1);
  random_inputs(&m, T2, &rng, x2);
  for (int i = 0; i < nin; i++) x1p[i] = rows_of(&x1[i], pick);
  memcpy(x2s, x2, sizeof x2s);
  drop_static(&m, x2s);
  seqrt_error err = {{0}};
  seqrt_tensor o[MAX_OUT], want[MAX_OUT], other[MAX_OUT];
  for (int nth = 1; nth <= 2; nth++) {
    /* from scratch: the selected rows' first piece, then the second */
    seqrt_session *s = open_session(&m, nth);
    assert_int_equal(seqrt_session_run(s, x1p, o, &err), 0);
    assert_int_equal(seqrt_session_run(s, x2s, o, &err), 0);
    copy_out(o, nout, want);
    seqrt_session_free(s);

    s = open_session(&m, nth);
    assert_int_equal(seqrt_session_run(s, x1, o, &err), 0);
    int64_t p = seqrt_session_position(s);
    assert_int_equal(seqrt_session_select_rows(s, pick, B, &err), 0);
    assert_int_equal(seqrt_session_position(s), p);
    assert_int_equal(seqrt_session_run(s, x2s, o, &err), 0);
    for (int i = 0; i < nout; i++)
      cgt_compare(m.ref->outputs[i].name, &o[i], &want[i], 1e-5, "select", nth);

    /* without the select the second piece differs: the test can tell */
    seqrt_session_reset(s);
    assert_int_equal(seqrt_session_run(s, x1, o, &err), 0);
    static const int64_t same[B] = {0, 1, 2};
    assert_int_equal(seqrt_session_select_rows(s, same, B, &err), 0);
    assert_int_equal(seqrt_session_run(s, x2s, o, &err), 0);
    copy_out(o, 1, other);
    int64_t n = seqrt_tensor_numel(&other[0]), differ = 0;
    for (int64_t k = 0; k < n; k++)
      differ += fabsf(((float *)other[0].data)[k] - ((float *)want[0].data)[k]) > 1e-3f;
    assert_true(differ > 0);
    free(other[0].data);

    /* bad arguments: errors, the state as it was */
    static const int64_t out_of_range[B] = {0, 3, 1};
    assert_int_not_equal(seqrt_session_select_rows(s, out_of_range, B, &err), 0);
    cgt_same_message("row", err.msg, "select_rows: row 3 of entry 1 is not in [0, 3)");
    assert_int_not_equal(seqrt_session_select_rows(s, pick, 2, &err), 0);
    cgt_same_message("count", err.msg, "select_rows: 2 rows given, the session's state has B = 3");
    seqrt_session_free(s);
    for (int i = 0; i < nout; i++) free(want[i].data);
  }
  for (int i = 0; i < nin; i++) {
    free(x1[i].data);
    free(x2[i].data);
    free(x1p[i].data);
  }
  close_model(&m);
}

static void carried_lstm(void **state) {
  (void)state;
  check_select(
      "seqc: 1\nname: m\ndims: {B: 3, T: 4}\n"
      "inputs:\n  tokens: {dtype: i32, shape: [B, T]}\n"
      "outputs: [head, rnn.h_n, rnn.c_n]\nnodes:\n"
      "  embed: {op: embedding, input: tokens, num_embeddings: 10, embedding_dim: 8}\n"
      "  rnn:   {op: lstm, input: embed, hidden_size: 16, num_layers: 2, carry: true}\n"
      "  head:  {op: linear, input: rnn, out_features: 10}\n");
}

static void cached_gpt(void **state) {
  (void)state;
  check_select(
      "seqc: 1\nname: m\ndims: {B: 3, T: 4}\n"
      "inputs:\n  tokens: {dtype: i32, shape: [B, T]}\n"
      "outputs: [head]\nnodes:\n"
      "  embed:  {op: embedding, input: tokens, num_embeddings: 10, embedding_dim: 16}\n"
      "  pos:    {op: positional_encoding, input: embed, kind: sinusoidal}\n"
      "  blocks: {op: transformer_encoder, input: pos, num_layers: 2, nhead: 2,"
      " dim_feedforward: 32, norm_first: true, causal: true, norm: true, cache: 8}\n"
      "  head:   {op: linear, input: blocks, out_features: 10}\n");
}

/* the encoder's output and cross-attention's keys and values are state too */
static void static_source(void **state) {
  (void)state;
  check_select(
      "seqc: 1\nname: m\ndims: {B: 3, T: 4, S: 5}\n"
      "inputs:\n  src: {dtype: i32, shape: [B, S], static: true}\n"
      "  tgt: {dtype: i32, shape: [B, T]}\n"
      "outputs: [gen]\nnodes:\n"
      "  se: {op: embedding, input: src, num_embeddings: 10, embedding_dim: 16}\n"
      "  te: {op: embedding, input: tgt, num_embeddings: 10, embedding_dim: 16}\n"
      "  tr: {op: transformer, src: se, tgt: te, nhead: 2, num_encoder_layers: 1,"
      " num_decoder_layers: 1, dim_feedforward: 32, causal: true, cache: 8}\n"
      "  gen: {op: linear, input: tr, out_features: 10}\n");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(carried_lstm),
      cmocka_unit_test(cached_gpt),
      cmocka_unit_test(static_source),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
