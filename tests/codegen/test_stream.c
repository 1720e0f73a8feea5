/*
 * test_stream.c: sessions that continue (SPEC 9). A streaming model (carried
 * recurrences, positions from the session position) run in pieces of uneven
 * lengths, pieces of 1 among them, gives the numbers of the same sequence run
 * whole: JIT-compiled with T read at run time (as `seqc run` compiles runs of
 * different lengths), at 1 and 2 threads, and in the interpreter's session.
 * Outputs along T are the pieces' outputs put end to end; the others (final
 * states) are the last piece's. Inputs along T are cut into the pieces, the
 * others (a seq2seq model's source) given whole to every piece, or to the
 * first only when static. Models:
 * carried recurrences, key/value caches (stacks with learned or sinusoidal
 * positions, a window whose ring is shorter than some pieces, nn.Transformer's
 * decoder). Also: the position advances by each piece, a reset starts over,
 * a failed run (an index out of range, a cache overflow) leaves the state as
 * it was, and a run with another batch size is refused until a reset.
 * With lengths (SPEC 11, lengths_pieces): a row whose length ends in the
 * second piece runs the first piece whole (length = the piece's T) and the
 * rest in the second; a row whose length ends in the first piece has there
 * the whole run's outputs and final state (its carried state), and a second
 * piece would continue it (a length is at least 1, as in PyTorch).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cg_test.h"

enum { B = 2, MAX_IN = 4, MAX_OUT = 6, MAX_PIECES = 8 };

/* a model compiled for B = 2 with T left to run time, its parameters, and the
 * graph as lowered (what the interpreter runs) */
typedef struct streamer {
  ir_graph *ref;          /* lowered */
  ir_graph *g;            /* through the pipeline */
  cg_jit *jit;            /* compiled */
  cgt_store params;       /* random parameters */
  int64_t imax;           /* integer inputs are in [0, imax) */
} streamer;

static void open_streamer(streamer *m, const char *yaml, int64_t T, int64_t imax) {
  m->ref = cgt_load(yaml);
  m->imax = imax;
  assert_true(m->ref->streams);
  uint64_t rng = 11;
  int64_t plan[IR_MAX_SYMS] = {B, T};
  m->params = (cgt_store){calloc((size_t)m->ref->nvalues + 1, sizeof(cgt_tensor)), 0};
  for (int v = 0; v < m->ref->nvalues; v++) {
    const ir_value *val = &m->ref->values[v];
    if (val->kind != IR_VAL_PARAM) continue;
    cgt_tensor *p = &m->params.items[m->params.n++];
    p->name = strdup(val->name);
    p->t = cgt_random(&val->type, plan, &rng, 10);
    for (int64_t i = 0; i < seqrt_tensor_numel(&p->t); i++) ((float *)p->t.data)[i] *= 0.3f;
  }
  m->g = ir_graph_clone(m->ref);
  int64_t bind[IR_MAX_SYMS] = {B, -1}; /* dims after B and T: their defaults */
  for (int i = 2; i < m->ref->nsyms; i++) bind[i] = m->ref->syms[i].def_value;
  m->jit = cgt_compile(m->g, &(cg_options){.bind_syms = bind, .opt_level = 3});
  const seqrt_model_desc *desc = cg_jit_desc(m->jit);
  assert_int_equal(desc->streaming, 1);
  assert_int_equal(desc->sym_bound[1], -1);
}

static void close_streamer(streamer *m) {
  for (int p = 0; p < m->params.n; p++) {
    free(m->params.items[p].name);
    free(m->params.items[p].t.data);
  }
  free(m->params.items);
  cg_jit_free(m->jit);
  ir_graph_free(m->g);
  ir_graph_free(m->ref);
}

/* a session of the compiled model planned for T, its parameters bound */
static seqrt_session *open_session(const streamer *m, int64_t T, int nth) {
  seqrt_error err = {{0}};
  int64_t syms[IR_MAX_SYMS] = {B, T};
  for (int i = 2; i < m->ref->nsyms; i++) syms[i] = m->ref->syms[i].def_value;
  seqrt_session *s = seqrt_session_new(cg_jit_desc(m->jit), syms, nth, &err);
  if (!s) fprintf(stderr, "session: %s\n", err.msg);
  assert_non_null(s);
  for (int p = 0; p < m->params.n; p++)
    assert_int_equal(
        seqrt_session_set_param(s, m->params.items[p].name, &m->params.items[p].t, &err), 0);
  return s;
}

/* rows [from, to) of axis 1 of x (rank >= 2), a new tensor */
static seqrt_tensor piece_of(const seqrt_tensor *x, int64_t from, int64_t to) {
  seqrt_tensor p = *x;
  p.shape[1] = to - from;
  size_t es = seqrt_dtype_size(x->dtype), inner = es;
  for (int k = 2; k < x->rank; k++) inner *= (size_t)x->shape[k];
  p.data = malloc((size_t)seqrt_tensor_numel(&p) * es + 1);
  assert_non_null(p.data);
  for (int64_t b = 0; b < x->shape[0]; b++)
    memcpy((char *)p.data + (size_t)(b * p.shape[1]) * inner,
           (const char *)x->data + (size_t)(b * x->shape[1] + from) * inner,
           (size_t)p.shape[1] * inner);
  return p;
}

/* out (allocated like the whole run's) gets the output of the piece
 * [from, from + len) of a sequence of T: at its place along axis 1 when the
 * output runs along the sequence (its axis 1 in proportion to the length:
 * T, or T / chunk for a segment scan's emits), else whole (a final state) */
static void put_piece(seqrt_tensor *out, const seqrt_tensor *piece, int64_t from, int64_t len,
                      int64_t T) {
  size_t es = seqrt_dtype_size(piece->dtype);
  if (out->rank < 2 || len == T || out->shape[1] * len != piece->shape[1] * T) {
    memcpy(out->data, piece->data, (size_t)seqrt_tensor_numel(piece) * es);
    return;
  }
  size_t inner = es;
  for (int k = 2; k < out->rank; k++) inner *= (size_t)out->shape[k];
  int64_t at = from * out->shape[1] / T;
  for (int64_t b = 0; b < out->shape[0]; b++)
    memcpy((char *)out->data + (size_t)(b * out->shape[1] + at) * inner,
           (const char *)piece->data + (size_t)(b * piece->shape[1]) * inner,
           (size_t)piece->shape[1] * inner);
}

/* a copy of each output into fresh memory */
static void keep(const seqrt_tensor *o, int n, seqrt_tensor *kept) {
  for (int i = 0; i < n; i++) {
    kept[i] = o[i];
    size_t bytes = (size_t)seqrt_tensor_numel(&o[i]) * seqrt_dtype_size(o[i].dtype);
    kept[i].data = malloc(bytes + 1);
    assert_non_null(kept[i].data);
    memcpy(kept[i].data, o[i].data, bytes);
  }
}

static void free_all(seqrt_tensor *t, int n) {
  for (int i = 0; i < n; i++) free(t[i].data);
}

/*
 * The model of yaml (dims B, T and maybe more; inputs [B, T, ...] cut into
 * pieces, others given whole) on random inputs of length T: whole, then in
 * pieces of the given lengths (summing to T), in a compiled session at 1 and
 * 2 threads and in the interpreter's session; every way's outputs within
 * SPEC 8 of the compiled whole run's. The session is reset and run whole
 * again between the ways, which must give the first numbers.
 */
static void check_pieces(const char *yaml, int64_t T, int64_t imax, const int64_t *lengths,
                         int npieces) {
  streamer m;
  open_streamer(&m, yaml, T, imax);
  const ir_graph *ref = m.ref;
  int nout = ref->noutputs, nin = ref->ninputs;
  assert_true(nout <= MAX_OUT && nin <= MAX_IN && npieces <= MAX_PIECES);
  uint64_t rng = 5;
  int64_t whole_syms[IR_MAX_SYMS] = {B, T};
  for (int i = 2; i < ref->nsyms; i++) whole_syms[i] = ref->syms[i].def_value;
  seqrt_tensor x[MAX_IN], pieces[MAX_PIECES][MAX_IN];
  bool along[MAX_IN];
  for (int i = 0; i < nin; i++) {
    const ir_type *t = &ref->values[ref->inputs[i]].type;
    x[i] = cgt_random(t, whole_syms, &rng, imax);
    along[i] = ir_at_position(ref, t);
  }
  int64_t at[MAX_PIECES + 1] = {0};
  for (int k = 0; k < npieces; k++) {
    at[k + 1] = at[k] + lengths[k];
    for (int i = 0; i < nin; i++) {
      pieces[k][i] = along[i] ? piece_of(&x[i], at[k], at[k + 1]) : x[i];
      if (k > 0 && ref->values[ref->inputs[i]].is_static) /* left out after the first */
        memset(&pieces[k][i], 0, sizeof pieces[k][i]);
    }
  }
  assert_int_equal(at[npieces], T);

  seqrt_error err = {{0}};
  seqrt_tensor o[MAX_OUT], whole[MAX_OUT], joined[MAX_OUT];
  seqrt_session *s = open_session(&m, T, 1);
  assert_int_equal(seqrt_session_run(s, x, o, &err), 0);
  assert_int_equal(seqrt_session_position(s), T);
  keep(o, nout, whole);
  keep(o, nout, joined);
  seqrt_session_free(s);

  for (int nth = 1; nth <= 2; nth++) {
    s = open_session(&m, T, nth);
    for (int round = 0; round < 2; round++) { /* the second after a reset */
      for (int k = 0; k < npieces; k++) {
        int rc = seqrt_session_run(s, pieces[k], o, &err);
        if (rc) fprintf(stderr, "piece %d: %s\n", k, err.msg);
        assert_int_equal(rc, 0);
        assert_int_equal(seqrt_session_position(s), at[k + 1]);
        for (int i = 0; i < nout; i++) put_piece(&joined[i], &o[i], at[k], lengths[k], T);
      }
      for (int i = 0; i < nout; i++)
        cgt_compare(ref->outputs[i].name, &joined[i], &whole[i], 1e-4, "pieces", nth);
      seqrt_session_reset(s);
      assert_int_equal(seqrt_session_position(s), 0);
    }
    /* whole after the reset: the first run's numbers again */
    assert_int_equal(seqrt_session_run(s, x, o, &err), 0);
    for (int i = 0; i < nout; i++)
      cgt_compare(ref->outputs[i].name, &o[i], &whole[i], 1e-5, "whole after reset", nth);
    seqrt_session_free(s);
  }

  /* the interpreter's session, whole and in pieces */
  ir_session *is = ir_session_new(ref);
  seqrt_tensor iw[MAX_OUT];
  assert_true(ir_eval_run(is, whole_syms, x, cgt_get_param, &m.params, iw, &err));
  for (int i = 0; i < nout; i++)
    cgt_compare(ref->outputs[i].name, &iw[i], &whole[i], 1e-4, "interpreter whole", 1);
  free_all(iw, nout);
  ir_session_reset(is);
  for (int k = 0; k < npieces; k++) {
    int64_t syms[IR_MAX_SYMS];
    memcpy(syms, whole_syms, sizeof syms);
    syms[1] = lengths[k];
    seqrt_tensor ip[MAX_OUT];
    bool ok = ir_eval_run(is, syms, pieces[k], cgt_get_param, &m.params, ip, &err);
    if (!ok) fprintf(stderr, "interpreter piece %d: %s\n", k, err.msg);
    assert_true(ok);
    assert_int_equal(ir_session_position(is), at[k + 1]);
    for (int i = 0; i < nout; i++) put_piece(&joined[i], &ip[i], at[k], lengths[k], T);
    free_all(ip, nout);
  }
  for (int i = 0; i < nout; i++)
    cgt_compare(ref->outputs[i].name, &joined[i], &whole[i], 1e-4, "interpreter pieces", 1);
  ir_session_free(is);

  free_all(whole, nout);
  free_all(joined, nout);
  for (int k = 0; k < npieces; k++)
    for (int i = 0; i < nin; i++)
      if (along[i]) free(pieces[k][i].data);
  for (int i = 0; i < nin; i++) free(x[i].data);
  close_streamer(&m);
}

static const int64_t uneven[] = {5, 1, 3, 1, 2};

/* x [B, T, F] with lengths n (i64) as inputs, a new tensor of n */
static seqrt_tensor lengths_of(int64_t a, int64_t b) {
  seqrt_tensor n = {.dtype = SEQRT_I64, .rank = 1, .shape = {B}};
  n.data = malloc(2 * sizeof(int64_t));
  assert_non_null(n.data);
  ((int64_t *)n.data)[0] = a;
  ((int64_t *)n.data)[1] = b;
  return n;
}

/* got's elements [from, to) of each row r (rows: dim `rows` of got, want alike)
 * within 1e-4 of want's at the same place shifted by `shift` along axis 1 */
static void same_part(const char *what, const seqrt_tensor *got, const seqrt_tensor *want, int row,
                      int64_t from, int64_t to, int64_t shift) {
  /* y [B, T, H]: row r, steps [from, to); h_n [1, B, H]: from = to = -1, the row's H */
  const float *g = got->data, *w = want->data;
  if (from < 0) {
    int64_t H = got->shape[2];
    for (int64_t j = 0; j < H; j++)
      if (fabs(g[row * H + j] - w[row * H + j]) > 1e-4 * (1 + fabs(w[row * H + j]))) {
        fprintf(stderr, "%s: row %d unit %lld: %g, want %g\n", what, row, (long long)j,
                g[row * H + j], w[row * H + j]);
        fail();
      }
    return;
  }
  int64_t H = got->shape[2], Tg = got->shape[1], Tw = want->shape[1];
  for (int64_t t = from; t < to; t++)
    for (int64_t j = 0; j < H; j++) {
      float a = g[(row * Tg + t) * H + j], b = w[(row * Tw + t + shift) * H + j];
      if (fabs(a - b) > 1e-4 * (1 + fabs(b))) {
        fprintf(stderr, "%s: row %d step %lld unit %lld: %g, want %g\n", what, row, (long long)t,
                (long long)j, a, b);
        fail();
      }
    }
}

/*
 * A carried LSTM with lengths, T = 12 in pieces of 5 and 7, compiled (1 and 2
 * threads) and interpreted. Lengths {12, 9}: both rows end in the second
 * piece: the pieces' lengths are {5, 5} then {7, 4}, and the outputs put end
 * to end and the last piece's h_n, c_n are the whole run's. Lengths {12, 3}:
 * row 1 ends in the first piece (lengths {5, 3}): its outputs there and the
 * first piece's h_n, c_n of row 1 are the whole run's.
 */
static void lengths_pieces(void **state) {
  (void)state;
  streamer m;
  open_streamer(&m,
                "seqc: 1\nname: m\ndims: {B: 2, T: 12}\n"
                "inputs:\n  x: {dtype: f32, shape: [B, T, 6]}\n  n: {dtype: i64, shape: [B]}\n"
                "outputs: [l, l.h_n, l.c_n]\nnodes:\n"
                "  l: {op: lstm, input: x, hidden_size: 8, carry: true, lengths: n}\n",
                12, 10);
  const ir_graph *ref = m.ref;
  assert_int_equal(ref->ninputs, 2);
  uint64_t rng = 7;
  int64_t syms[IR_MAX_SYMS] = {B, 12};
  seqrt_tensor x = cgt_random(&ref->values[ref->inputs[0]].type, syms, &rng, 10);
  seqrt_tensor x1 = piece_of(&x, 0, 5), x2 = piece_of(&x, 5, 12);
  static const int64_t cases[2][2] = {{12, 9}, {12, 3}};
  seqrt_error err = {{0}};
  for (int cs = 0; cs < 2; cs++) {
    int64_t l0 = cases[cs][0], l1 = cases[cs][1];
    seqrt_tensor n = lengths_of(l0, l1), n1 = lengths_of(5, l1 < 5 ? l1 : 5);
    seqrt_tensor n2 = lengths_of(l0 - 5, l1 > 5 ? l1 - 5 : 1);
    seqrt_tensor whole_in[2] = {x, n}, in1[2] = {x1, n1}, in2[2] = {x2, n2};
    for (int nth = 0; nth <= 2; nth++) { /* 0: the interpreter */
      seqrt_tensor whole[3], p1[3], p2[3];
      ir_session *is = nth ? NULL : ir_session_new(ref);
      seqrt_session *s = nth ? open_session(&m, 12, nth) : NULL;
      int64_t s1[IR_MAX_SYMS] = {B, 5}, s2[IR_MAX_SYMS] = {B, 7};
#define RUN(ins, outs, sy)                                                       \
  do {                                                                           \
    seqrt_tensor o[3];                                                           \
    bool ok = nth ? seqrt_session_run(s, ins, o, &err) == 0                      \
                  : ir_eval_run(is, sy, ins, cgt_get_param, &m.params, o, &err); \
    if (!ok) fprintf(stderr, "lengths_pieces: %s\n", err.msg);                   \
    assert_true(ok);                                                             \
    if (nth) /* a session's outputs are its own until its next run */            \
      keep(o, 3, outs);                                                          \
    else                                                                         \
      memcpy(outs, o, sizeof o);                                                 \
  } while (0)
      RUN(whole_in, whole, syms);
      if (nth)
        seqrt_session_reset(s);
      else
        ir_session_reset(is);
      RUN(in1, p1, s1);
      RUN(in2, p2, s2);
#undef RUN
      for (int row = 0; row < B; row++) {
        same_part("first piece", &p1[0], &whole[0], row, 0, 5, 0);
        if (cs == 1 && row == 1) { /* ended in the first piece */
          same_part("h_n after the first piece", &p1[1], &whole[1], row, -1, -1, 0);
          same_part("c_n after the first piece", &p1[2], &whole[2], row, -1, -1, 0);
          continue;
        }
        same_part("second piece", &p2[0], &whole[0], row, 0, 7, 5);
        same_part("h_n", &p2[1], &whole[1], row, -1, -1, 0);
        same_part("c_n", &p2[2], &whole[2], row, -1, -1, 0);
      }
      free_all(whole, 3);
      free_all(p1, 3);
      free_all(p2, 3);
      if (s) seqrt_session_free(s);
      if (is) ir_session_free(is);
    }
    free(n.data), free(n1.data), free(n2.data);
  }
  free(x.data), free(x1.data), free(x2.data);
  close_streamer(&m);
}

static void lstm_pieces(void **state) {
  (void)state;
  check_pieces("seqc: 1\nname: m\ndims: {B: 2, T: 12}\n"
               "inputs:\n  x: {dtype: f32, shape: [B, T, 8]}\n"
               "outputs: [l, l.h_n, l.c_n]\nnodes:\n"
               "  l: {op: lstm, input: x, hidden_size: 16, num_layers: 2, proj_size: 8,"
               " carry: true}\n",
               12, 10, uneven, 5);
}

static void gru_and_rnn_pieces(void **state) {
  (void)state;
  check_pieces("seqc: 1\nname: m\ndims: {B: 2, T: 12}\n"
               "inputs:\n  x: {dtype: f32, shape: [B, T, 8]}\n"
               "outputs: [r, g.h_n, r.h_n]\nnodes:\n"
               "  g: {op: gru, input: x, hidden_size: 16, carry: true}\n"
               "  r: {op: rnn, input: g, hidden_size: 16, num_layers: 2, nonlinearity: relu,"
               " carry: true}\n",
               12, 10, uneven, 5);
}

/* a scan of segments of 2 carries too; the pieces are multiples of 2 */
static void scan_pieces(void **state) {
  (void)state;
  static const int64_t even[] = {4, 2, 6};
  check_pieces("seqc: 1\nname: m\ndims: {B: 2, T: 12}\n"
               "inputs:\n  x: {dtype: f32, shape: [B, T, 8]}\n"
               "outputs: [c, c.h]\nnodes:\n"
               "  c:\n    op: scan\n    over: {x: x}\n    chunk: 2\n    carry: true\n"
               "    state: {h: {zeros: [B, 16]}}\n"
               "    body:\n"
               "      m:  {op: mean, input: x, dim: 1}\n"
               "      a:  {op: linear, input: m, out_features: 16}\n"
               "      b:  {op: linear, input: h, out_features: 16, bias: false}\n"
               "      s:  {op: add, inputs: [a, b]}\n"
               "      hn: {op: tanh, input: s}\n"
               "    next: {h: hn}\n    emit: [hn]\n",
               12, 10, even, 3);
}

/* Memformer's memory carries across runs: pieces of whole segments (3) give
 * the whole run's output and final memory */
static void memformer_pieces(void **state) {
  (void)state;
  static const int64_t segments[] = {6, 3, 3};
  check_pieces("seqc: 1\nname: m\ndims: {B: 2, T: 12}\n"
               "inputs:\n  x: {dtype: f32, shape: [B, T, 8]}\n"
               "outputs: [mf, mf.memory]\nnodes:\n"
               "  mf: {op: memformer_encoder, input: x, num_layers: 2, nhead: 2,"
               " dim_feedforward: 16, num_slots: 4, segment: 3, write_temperature: 0.7,"
               " carry: true}\n",
               12, 10, segments, 3);
}

/* Transformer-XL's memories carry across runs, and a run's first segment sees
 * as much memory as the position says: pieces of whole segments (3) give
 * the whole run's output; mem_len 4 and 8 (above the segment), and same_length */
static void xl_pieces(void **state) {
  (void)state;
  static const int64_t segments[] = {6, 3, 3};
  static const char *const attrs[] = {"mem_len: 4", "mem_len: 8, same_length: true, clamp_len: 5"};
  for (int k = 0; k < 2; k++) {
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "seqc: 1\nname: m\ndims: {B: 2, T: 12}\n"
             "inputs:\n  x: {dtype: f32, shape: [B, T, 8]}\n"
             "outputs: [xl]\nnodes:\n"
             "  xl: {op: transformer_xl, input: x, num_layers: 2, n_head: 2, d_head: 4,"
             " d_inner: 16, segment: 3, %s, carry: true}\n",
             attrs[k]);
    check_pieces(yaml, 12, 10, segments, 3);
  }
}

/* positions and positional encoding count from the session position */
static void positions_pieces(void **state) {
  (void)state;
  check_pieces("seqc: 1\nname: m\ndims: {B: 2, T: 12}\n"
               "inputs:\n  tokens: {dtype: i32, shape: [B, T]}\n"
               "outputs: [y, pos, g.h_n]\nnodes:\n"
               "  pos:  {op: positions, input: tokens}\n"
               "  pemb: {op: embedding, input: pos, num_embeddings: 16, embedding_dim: 8}\n"
               "  tok:  {op: embedding, input: tokens, num_embeddings: 10, embedding_dim: 8}\n"
               "  s:    {op: add, inputs: [tok, pemb]}\n"
               "  pe:   {op: positional_encoding, input: s}\n"
               "  g:    {op: gru, input: pe, hidden_size: 8, carry: true}\n"
               "  y:    {op: linear, input: g, out_features: 4}\n",
               12, 10, uneven, 5);
}

/* a GPT-style stack with learned positions (positions, embedding) and caches */
static void cached_stack_pieces(void **state) {
  (void)state;
  check_pieces("seqc: 1\nname: m\ndims: {B: 2, T: 12}\n"
               "inputs:\n  tokens: {dtype: i32, shape: [B, T]}\n"
               "outputs: [head]\nnodes:\n"
               "  pos:  {op: positions, input: tokens}\n"
               "  pemb: {op: embedding, input: pos, num_embeddings: 16, embedding_dim: 16}\n"
               "  tok:  {op: embedding, input: tokens, num_embeddings: 10, embedding_dim: 16}\n"
               "  s:    {op: add, inputs: [tok, pemb]}\n"
               "  blocks: {op: transformer_encoder, input: s, num_layers: 2, nhead: 2,"
               " dim_feedforward: 32, norm_first: true, causal: true, cache: 12}\n"
               "  head: {op: linear, input: blocks, out_features: 10}\n",
               12, 10, uneven, 5);
}

/* sinusoidal positions and a window of 3 in a ring of 4 rows: the pieces of
 * 5 are longer than the ring, and the sequence goes past it */
static void windowed_ring_pieces(void **state) {
  (void)state;
  check_pieces("seqc: 1\nname: m\ndims: {B: 2, T: 12}\n"
               "inputs:\n  x: {dtype: f32, shape: [B, T, 16]}\n"
               "outputs: [a]\nnodes:\n"
               "  pe: {op: positional_encoding, input: x}\n"
               "  a:  {op: multihead_attention, input: pe, num_heads: 4, causal: true,"
               " window: 3, cache: 4}\n",
               12, 10, uneven, 5);
}

/* decode steps of one batch row and one head past 512 kept positions: at 2
 * threads the kernel splits the keys of each step of 1 (split-K), through a
 * cache that has not wrapped and through a windowed ring that has */
static const int64_t long_pieces[] = {600, 1, 1, 300, 1, 197};

static void split_decode_pieces(void **state) {
  (void)state;
  check_pieces("seqc: 1\nname: m\ndims: {B: 2, T: 1100}\n"
               "inputs:\n  x: {dtype: f32, shape: [1, T, 16]}\n"
               "outputs: [a]\nnodes:\n"
               "  pe: {op: positional_encoding, input: x}\n"
               "  a:  {op: multihead_attention, input: pe, num_heads: 1, causal: true,"
               " cache: 1100}\n",
               1100, 10, long_pieces, 6);
  check_pieces("seqc: 1\nname: m\ndims: {B: 2, T: 1100}\n"
               "inputs:\n  x: {dtype: f32, shape: [1, T, 16]}\n"
               "outputs: [a]\nnodes:\n"
               "  pe: {op: positional_encoding, input: x}\n"
               "  a:  {op: multihead_attention, input: pe, num_heads: 1, causal: true,"
               " window: 700, cache: 800}\n",
               1100, 10, long_pieces, 6);
}

/* nn.Transformer: the source whole in every piece, the decoder's self-attention cached */
static void seq2seq_pieces(void **state) {
  (void)state;
  check_pieces("seqc: 1\nname: m\ndims: {B: 2, T: 12, S: 5, C: 12}\n"
               "inputs:\n  src: {dtype: f32, shape: [B, S, 16]}\n"
               "  tgt: {dtype: f32, shape: [B, T, 16]}\n"
               "outputs: [tr]\nnodes:\n"
               "  tr: {op: transformer, src: src, tgt: tgt, nhead: 2, num_encoder_layers: 1,"
               " num_decoder_layers: 2, dim_feedforward: 32, causal: true, cache: C}\n",
               12, 10, uneven, 5);
}

/* the same with a static source: the first piece gives it, the encoder runs
 * then only, and the later pieces leave it out; an output of the encoder
 * alone comes with every run */
static void static_source_pieces(void **state) {
  (void)state;
  check_pieces("seqc: 1\nname: m\ndims: {B: 2, T: 12, S: 5, C: 12}\n"
               "inputs:\n  src: {dtype: f32, shape: [B, S, 16], static: true}\n"
               "  tgt: {dtype: f32, shape: [B, T, 16]}\n"
               "outputs: [tr, mem]\nnodes:\n"
               "  tr: {op: transformer, src: src, tgt: tgt, nhead: 2, num_encoder_layers: 1,"
               " num_decoder_layers: 2, dim_feedforward: 32, causal: true, cache: C}\n"
               "  mem: {op: relu, input: src}\n",
               12, 10, uneven, 5);
}

/* a static input: the first run after a reset must give it */
static void static_needed_first(void **state) {
  (void)state;
  streamer m;
  open_streamer(&m,
                "seqc: 1\nname: m\ndims: {B: 2, T: 4, S: 3}\n"
                "inputs:\n  src: {dtype: f32, shape: [B, S, 8], static: true}\n"
                "  x: {dtype: f32, shape: [B, T, 8]}\n"
                "outputs: [a]\nnodes:\n"
                "  g: {op: gru, input: x, hidden_size: 8, carry: true}\n"
                "  a: {op: multihead_attention, input: g, key: src, num_heads: 2}\n",
                4, 10);
  uint64_t rng = 2;
  int64_t syms[IR_MAX_SYMS] = {B, 4, 3};
  seqrt_tensor in[2] = {cgt_random(&m.ref->values[m.ref->inputs[0]].type, syms, &rng, 10),
                        cgt_random(&m.ref->values[m.ref->inputs[1]].type, syms, &rng, 10)};
  seqrt_tensor none[2] = {{0}, in[1]}, o[1];
  seqrt_error err = {{0}};
  seqrt_session *s = open_session(&m, 4, 1);
  assert_int_not_equal(seqrt_session_run(s, none, o, &err), 0);
  cgt_same_message("no source", err.msg,
                   "input 'src' is static: the first run after a reset must give it");
  assert_int_equal(seqrt_session_run(s, in, o, &err), 0);
  assert_int_equal(seqrt_session_run(s, none, o, &err), 0); /* later runs leave it out */
  seqrt_session_reset(s);
  assert_int_not_equal(seqrt_session_run(s, none, o, &err), 0);
  seqrt_session_free(s);
  free(in[0].data);
  free(in[1].data);
  close_streamer(&m);
}

/* a run past a cache without a window: refused with the cache's name and S,
 * the session as it was (the next run continues from the last good one) */
static void cache_overflow(void **state) {
  (void)state;
  static const char yaml[] =
      "seqc: 1\nname: m\ndims: {B: 2, T: 8}\n"
      "inputs:\n  x: {dtype: f32, shape: [B, T, 8]}\n"
      "outputs: [a]\nnodes:\n"
      "  a: {op: multihead_attention, input: x, num_heads: 2, causal: true, cache: 8}\n";
  streamer m;
  open_streamer(&m, yaml, 8, 10);
  uint64_t rng = 4;
  int64_t syms[IR_MAX_SYMS] = {B, 8};
  seqrt_tensor x = cgt_random(&m.ref->values[m.ref->inputs[0]].type, syms, &rng, 10);
  seqrt_tensor p0 = piece_of(&x, 0, 5), p1 = piece_of(&x, 5, 8), big = piece_of(&x, 0, 4);
  static const char want[] =
      "'a.k_cache' keeps 8 positions: the session is at position 5, and a run of 4 more would go "
      "past them (reset the session, or give the model a larger cache)";
  seqrt_error err = {{0}};
  seqrt_tensor o[1], whole[1], joined[1];
  for (int nth = 1; nth <= 2; nth++) {
    seqrt_session *s = open_session(&m, 8, nth);
    assert_int_equal(seqrt_session_run(s, &x, o, &err), 0);
    keep(o, 1, whole);
    keep(o, 1, joined);
    seqrt_session_reset(s);
    assert_int_equal(seqrt_session_run(s, &p0, o, &err), 0);
    put_piece(&joined[0], &o[0], 0, 5, 8);
    assert_int_not_equal(seqrt_session_run(s, &big, o, &err), 0);
    cgt_same_message("overflow", err.msg, want);
    assert_int_equal(seqrt_session_position(s), 5);
    assert_int_equal(seqrt_session_run(s, &p1, o, &err), 0);
    put_piece(&joined[0], &o[0], 5, 3, 8);
    cgt_compare("a", &joined[0], &whole[0], 1e-4, "around an overflow", nth);
    seqrt_session_reset(s);
    assert_int_equal(seqrt_session_run(s, &x, o, &err), 0);
    free_all(whole, 1);
    free_all(joined, 1);
    seqrt_session_free(s);
  }
  ir_session *is = ir_session_new(m.ref);
  int64_t s5[IR_MAX_SYMS] = {B, 5}, s4[IR_MAX_SYMS] = {B, 4};
  seqrt_tensor a[1];
  assert_true(ir_eval_run(is, s5, &p0, cgt_get_param, &m.params, a, &err));
  free_all(a, 1);
  assert_false(ir_eval_run(is, s4, &big, cgt_get_param, &m.params, a, &err));
  cgt_same_message("interpreter overflow", err.msg, want);
  assert_int_equal(ir_session_position(is), 5);
  ir_session_free(is);
  free(x.data);
  free(p0.data);
  free(p1.data);
  free(big.data);
  close_streamer(&m);
}

static const char tokens_lstm[] =
    "seqc: 1\nname: m\ndims: {B: 2, T: 8}\n"
    "inputs:\n  tokens: {dtype: i32, shape: [B, T]}\n"
    "outputs: [l, l.h_n]\nnodes:\n"
    "  e: {op: embedding, input: tokens, num_embeddings: 10, embedding_dim: 8}\n"
    "  l: {op: lstm, input: e, hidden_size: 8, carry: true}\n";

/* a run that fails (an index out of range) leaves state and position as they
 * were: the pieces around it still give the whole run's numbers */
static void failed_run_keeps_state(void **state) {
  (void)state;
  streamer m;
  open_streamer(&m, tokens_lstm, 8, 10);
  uint64_t rng = 9;
  int64_t syms[IR_MAX_SYMS] = {B, 8};
  seqrt_tensor x = cgt_random(&m.ref->values[m.ref->inputs[0]].type, syms, &rng, 10);
  seqrt_tensor p0 = piece_of(&x, 0, 3), p1 = piece_of(&x, 3, 8), bad = piece_of(&x, 3, 8);
  ((int32_t *)bad.data)[7] = 10; /* row 1, position 2 */
  seqrt_error err = {{0}};
  seqrt_tensor o[2], whole[2], joined[2];
  for (int nth = 1; nth <= 2; nth++) {
    seqrt_session *s = open_session(&m, 8, nth);
    assert_int_equal(seqrt_session_run(s, &x, o, &err), 0);
    keep(o, 2, whole);
    keep(o, 2, joined);
    seqrt_session_reset(s);
    assert_int_equal(seqrt_session_run(s, &p0, o, &err), 0);
    put_piece(&joined[0], &o[0], 0, 3, 8);
    assert_int_not_equal(seqrt_session_run(s, &bad, o, &err), 0);
    cgt_same_message("bad token", err.msg,
                     "index 10 out of range [0, 10) at position [1, 2] of 'tokens'");
    assert_int_equal(seqrt_session_position(s), 3);
    assert_int_equal(seqrt_session_run(s, &p1, o, &err), 0);
    put_piece(&joined[0], &o[0], 3, 5, 8);
    put_piece(&joined[1], &o[1], 3, 5, 8);
    cgt_compare("l", &joined[0], &whole[0], 1e-4, "around a failed run", nth);
    cgt_compare("l.h_n", &joined[1], &whole[1], 1e-4, "around a failed run", nth);
    free_all(whole, 2);
    free_all(joined, 2);
    seqrt_session_free(s);
  }
  /* the interpreter's session too */
  ir_session *is = ir_session_new(m.ref);
  int64_t s3[IR_MAX_SYMS] = {B, 3}, s5[IR_MAX_SYMS] = {B, 5};
  seqrt_tensor a[2], b[2];
  assert_true(ir_eval_run(is, s3, &p0, cgt_get_param, &m.params, a, &err));
  assert_false(ir_eval_run(is, s5, &bad, cgt_get_param, &m.params, b, &err));
  assert_int_equal(ir_session_position(is), 3);
  assert_true(ir_eval_run(is, s5, &p1, cgt_get_param, &m.params, b, &err));
  assert_int_equal(ir_session_position(is), 8);
  free_all(a, 2);
  free_all(b, 2);
  ir_session_free(is);
  free(x.data);
  free(p0.data);
  free(p1.data);
  free(bad.data);
  close_streamer(&m);
}

/* the state is laid out for the batch size of the first run after a reset */
static void other_batch_needs_reset(void **state) {
  (void)state;
  streamer m;
  open_streamer(&m, tokens_lstm, 8, 10);
  uint64_t rng = 3;
  int64_t syms2[IR_MAX_SYMS] = {2, 4}, syms1[IR_MAX_SYMS] = {1, 4};
  const ir_type *t = &m.ref->values[m.ref->inputs[0]].type;
  seqrt_tensor x2 = cgt_random(t, syms2, &rng, 10), x1 = cgt_random(t, syms1, &rng, 10);
  seqrt_error err = {{0}};
  seqrt_tensor o[2];
  /* B is compiled in here (2): compile a model with B at run time instead */
  ir_graph *g = ir_graph_clone(m.ref);
  ir_diags d;
  ir_diags_init(&d, "test.yaml", NULL, 0, stderr);
  const int64_t bind[] = {-1, -1};
  cg_options opt = {.bind_syms = bind, .opt_level = 1};
  ir_target target;
  cg_target(&opt, &target);
  pass_ctx ctx = {.diags = &d, .target = &target, .bind_syms = bind};
  assert_true(pass_run_pipeline(g, &ctx));
  cg_jit *j = cg_jit_compile(g, &opt, &err);
  assert_non_null(j);
  const int64_t plan[] = {2, 8};
  seqrt_session *s = seqrt_session_new(cg_jit_desc(j), plan, 1, &err);
  assert_non_null(s);
  assert_int_equal(seqrt_session_random_params(s, 1, &err), 0);
  assert_int_equal(seqrt_session_run(s, &x2, o, &err), 0);
  assert_int_not_equal(seqrt_session_run(s, &x1, o, &err), 0);
  cgt_same_message("other batch", err.msg,
                   "state 'l.h_n' is [1, 2, 8] in this session, this run makes it [1, 1, 8] (a "
                   "run with another batch size needs a reset)");
  assert_int_equal(seqrt_session_position(s), 4);
  seqrt_session_reset(s);
  assert_int_equal(seqrt_session_run(s, &x1, o, &err), 0);
  assert_int_equal(seqrt_session_position(s), 4);
  seqrt_session_free(s);
  cg_jit_free(j);
  ir_graph_free(g);
  free(x1.data);
  free(x2.data);
  close_streamer(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(lstm_pieces),
      cmocka_unit_test(lengths_pieces),
      cmocka_unit_test(gru_and_rnn_pieces),
      cmocka_unit_test(scan_pieces),
      cmocka_unit_test(memformer_pieces),
      cmocka_unit_test(xl_pieces),
      cmocka_unit_test(positions_pieces),
      cmocka_unit_test(cached_stack_pieces),
      cmocka_unit_test(windowed_ring_pieces),
      cmocka_unit_test(split_decode_pieces),
      cmocka_unit_test(seq2seq_pieces),
      cmocka_unit_test(static_source_pieces),
      cmocka_unit_test(static_needed_first),
      cmocka_unit_test(cache_overflow),
      cmocka_unit_test(failed_run_keeps_state),
      cmocka_unit_test(other_batch_needs_reset),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
