/*
 * test_attention.c: the tiled attention kernel (codegen/attention.c) against
 * the interpreter's plain attention: T = 1, 7, 13 (and a long windowed one),
 * 1 and 3 heads, head dims around the vector width, tile sizes that do and do
 * not divide T, no mask, causal, window, window + causal, and cross attention
 * with Tq != Tk; compiled with bound and symbolic dims, at 1 and 2 threads.
 * Key padding masks (i32 and i64): rows padded as a suffix, with holes
 * (one as long as several key tiles), before the first key, and wholly
 * (output 0), with and without causal and window masks, over many key tiles
 * and in split decode steps. A relative position bias (pos_bias R, T5) with
 * every mask, with key padding, across shapes (Tq != Tk), in split decode
 * steps and in cached runs that continue a session (the kept keys, a ring
 * shorter than the positions with a window, single-row steps that split),
 * with R = 0, R below T (the clamp at both ends) and R past every distance.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cg_test.h"

static const ir_loc L0 = {1, 1};

static ir_type qkv_type(int h, int t_sym, int64_t dh) {
  return (ir_type){.dtype = IR_F32,
                   .rank = 4,
                   .dims = {ir_dim_sym(0), ir_dim_const(h), ir_dim_sym(t_sym), ir_dim_const(dh)}};
}

/* one attention node of g on q, k, v, then the key padding mask pad and the
 * position bias table tab of pos_bias R when >= 0, with the tiles given (0:
 * the pass chooses) */
static void attention_bias(ir_graph *g, const char *name, int q, int k, int v, int pad, int tab,
                           int64_t R, bool causal, int64_t window, int64_t tq, int64_t tk,
                           double scale) {
  int in[5] = {q, k, v}, nin = 3;
  if (pad >= 0) in[nin++] = pad;
  if (tab >= 0) in[nin++] = tab;
  int n = ir_insert_node_n(g, g->nnodes, IR_OP_ATTENTION, name, in, nin, 1, L0);
  if (pad >= 0) ir_set_attr_int(g, n, "key_padding", 1);
  if (tab >= 0) ir_set_attr_int(g, n, "pos_bias", R);
  ir_set_attr_float(g, n, "scale", scale);
  ir_set_attr_int(g, n, "causal", causal);
  ir_set_attr_int(g, n, "window", window);
  if (tq) ir_set_attr_int(g, n, "tile_q", tq);
  if (tk) ir_set_attr_int(g, n, "tile_k", tk);
  ir_diags d;
  ir_diags_init(&d, "test", NULL, 0, stderr);
  assert_true(ir_infer_node(g, n, &d));
  ir_add_output(g, name, g->nodes[n].outputs[0]);
}

/* the same without a position bias */
static void attention_pad(ir_graph *g, const char *name, int q, int k, int v, int pad, bool causal,
                          int64_t window, int64_t tq, int64_t tk, double scale) {
  attention_bias(g, name, q, k, v, pad, -1, 0, causal, window, tq, tk, scale);
}

static void attention(ir_graph *g, const char *name, int q, int k, int v, bool causal,
                      int64_t window, int64_t tq, int64_t tk, double scale) {
  attention_pad(g, name, q, k, v, -1, causal, window, tq, tk, scale);
}

/*
 * A graph with self-attention of every mask kind and one cross attention
 * (keys of length S), B = 2.
 */
static void check(int64_t T, int64_t S, int h, int64_t dh, int64_t tq, int64_t tk, int64_t window,
                  unsigned variants) {
  ir_graph *g = ir_graph_new("attn");
  ir_graph_add_sym(g, "B", 2, L0);
  ir_graph_add_sym(g, "T", T, L0);
  ir_graph_add_sym(g, "S", S, L0);
  int q = ir_add_input(g, "q", qkv_type(h, 1, dh), L0);
  int k = ir_add_input(g, "k", qkv_type(h, 1, dh), L0);
  int v = ir_add_input(g, "v", qkv_type(h, 1, dh), L0);
  int mk = ir_add_input(g, "mk", qkv_type(h, 2, dh), L0);
  int mv = ir_add_input(g, "mv", qkv_type(h, 2, dh), L0);
  double scale = 1 / sqrt((double)dh);
  attention(g, "plain", q, k, v, false, -1, tq, tk, scale);
  attention(g, "causal", q, k, v, true, -1, tq, tk, scale);
  attention(g, "window", q, k, v, false, window, tq, tk, 0.7);
  attention(g, "window_causal", q, k, v, true, window, tq, tk, scale);
  attention(g, "cross", q, mk, mv, false, -1, tq, tk, scale);
  cgt_check_graph(g, &(cgt_opts){.variants = variants, .seed = (uint64_t)(T * 131 + h * 7 + dh)});
}

/* T = 1, 7, 13 with tiles that divide T, do not, and exceed it */
static void short_sequences(void **state) {
  (void)state;
  static const int64_t Ts[] = {1, 7, 13};
  static const int64_t tiles[][2] = {{4, 16}, {5, 3}, {0, 0}, {1, 1}};
  for (int t = 0; t < 3; t++)
    for (int i = 0; i < 4; i++) {
      int h = (t + i) % 2 ? 3 : 1;
      int64_t dh = i % 2 ? 8 : 5;
      unsigned variants = i % 2 ? CGT_FUSED : CGT_SYMBOLIC;
      check(Ts[t], Ts[(t + 1) % 3] + 2, h, dh, tiles[i][0], tiles[i][1], 2, variants);
    }
}

/* a head dim past two vectors, and the narrower targets */
static void wide_heads(void **state) {
  (void)state;
  check(13, 9, 3, 37, 8, 16, 3, CGT_FUSED | CGT_AVX2 | CGT_SSE);
}

/* many query and key tiles: windows skip whole key tiles */
static void long_windowed(void **state) {
  (void)state;
  check(300, 77, 1, 16, 16, 32, 20, CGT_FUSED);
  check(257, 64, 3, 8, 0, 0, 5, CGT_SYMBOLIC);
}

/*
 * Decode steps: one query row of one batch and head against many keys, so
 * that at 2 threads the kernel splits the keys (split-K) and combines the
 * parts; a head dim that fills vectors and one that does not, key counts
 * that cut into equal and unequal parts (3 threads: 3 parts), and a row
 * that sees a window only.
 */
static void decode_steps(void **state) {
  (void)state;
  static const int64_t dhs[] = {64, 37};
  static const int64_t Ss[] = {1000, 777, 4096};
  for (int i = 0; i < 3; i++) {
    ir_graph *g = ir_graph_new("decode");
    ir_graph_add_sym(g, "B", 1, L0);
    ir_graph_add_sym(g, "T", 1, L0);
    ir_graph_add_sym(g, "S", Ss[i], L0);
    int64_t dh = dhs[i % 2];
    int q = ir_add_input(g, "q", qkv_type(1, 1, dh), L0);
    int mk = ir_add_input(g, "mk", qkv_type(1, 2, dh), L0);
    int mv = ir_add_input(g, "mv", qkv_type(1, 2, dh), L0);
    attention(g, "cross", q, mk, mv, false, -1, 0, 0, 1 / sqrt((double)dh));
    attention(g, "tiles", q, mk, mv, false, -1, 1, 16, 0.3);
    attention(g, "window", q, mk, mv, false, 600, 0, 0, 0.5);
    cgt_check_graph(g, &(cgt_opts){.variants = i == 0 ? CGT_SYMBOLIC : CGT_FUSED,
                                   .seed = (uint64_t)(Ss[i] + dh),
                                   .threads = i == 2 ? 3 : 2});
  }
}

/* mask [B, Tk] of an input named pad*: row b of run r padded by kind (b + r) % 5:
 * a suffix, holes (one of them Tk/4 .. Tk/2 long), a prefix, everything, nothing;
 * padding is any non-zero value */
static void fill_padding(const char *name, seqrt_tensor *t, int run) {
  if (strncmp(name, "pad", 3)) return;
  int64_t B = t->shape[0], Tk = t->shape[1];
  for (int64_t b = 0; b < B; b++)
    for (int64_t j = 0; j < Tk; j++) {
      int64_t len = 1 + (b * 7919 + run * 31) % Tk, kind = (b + run) % 5;
      bool pad = kind == 0   ? j >= len
                 : kind == 1 ? (j / 3 + b) % 4 == 1 || (j >= Tk / 4 && j < Tk / 2)
                 : kind == 2 ? j < Tk / 3
                             : kind == 3;
      int64_t v = pad ? 1 + (j % 3) * 6 : 0; /* 1, 7, 13: non-zero is padding */
      if (t->dtype == SEQRT_I32)
        ((int32_t *)t->data)[b * Tk + j] = (int32_t)v;
      else
        ((int64_t *)t->data)[b * Tk + j] = v;
    }
}

static ir_type mask_type(ir_dtype dt, int t_sym) {
  return (ir_type){.dtype = dt, .rank = 2, .dims = {ir_dim_sym(0), ir_dim_sym(t_sym)}};
}

/* masked self- and cross attention, B = 5 (every padding kind in each run) */
static void check_padded(int64_t T, int64_t S, int h, int64_t dh, int64_t tq, int64_t tk,
                         int64_t window, unsigned variants) {
  ir_graph *g = ir_graph_new("padded");
  ir_graph_add_sym(g, "B", 5, L0);
  ir_graph_add_sym(g, "T", T, L0);
  ir_graph_add_sym(g, "S", S, L0);
  int q = ir_add_input(g, "q", qkv_type(h, 1, dh), L0);
  int k = ir_add_input(g, "k", qkv_type(h, 1, dh), L0);
  int v = ir_add_input(g, "v", qkv_type(h, 1, dh), L0);
  int pad = ir_add_input(g, "pad", mask_type(IR_I32, 1), L0);
  int mk = ir_add_input(g, "mk", qkv_type(h, 2, dh), L0);
  int mv = ir_add_input(g, "mv", qkv_type(h, 2, dh), L0);
  int padm = ir_add_input(g, "padm", mask_type(IR_I64, 2), L0);
  double scale = 1 / sqrt((double)dh);
  attention_pad(g, "plain", q, k, v, pad, false, -1, tq, tk, scale);
  attention_pad(g, "causal", q, k, v, pad, true, -1, tq, tk, scale);
  attention_pad(g, "window_causal", q, k, v, pad, true, window, tq, tk, 0.7);
  attention_pad(g, "cross", q, mk, mv, padm, false, -1, tq, tk, scale);
  cgt_check_graph(
      g,
      &(cgt_opts){
          .variants = variants, .seed = (uint64_t)(T * 17 + S), .runs = 2, .fill = fill_padding});
}

/* short rows with odd tiles; long keys, where whole key tiles are padding */
static void padding_masks(void **state) {
  (void)state;
  check_padded(7, 13, 3, 5, 4, 16, 2, CGT_SYMBOLIC);
  check_padded(13, 1, 1, 8, 5, 3, 3, CGT_FUSED | CGT_SSE);
  check_padded(300, 257, 2, 16, 16, 32, 20, CGT_FUSED);
}

/* decode steps with padded keys: the parts of a split step that hold padding only */
static void padded_decode(void **state) {
  (void)state;
  for (int i = 0; i < 2; i++) {
    ir_graph *g = ir_graph_new("decode");
    ir_graph_add_sym(g, "B", 1, L0);
    ir_graph_add_sym(g, "T", 1, L0);
    ir_graph_add_sym(g, "S", i ? 777 : 1000, L0);
    int64_t dh = i ? 37 : 64;
    int q = ir_add_input(g, "q", qkv_type(1, 1, dh), L0);
    int mk = ir_add_input(g, "mk", qkv_type(1, 2, dh), L0);
    int mv = ir_add_input(g, "mv", qkv_type(1, 2, dh), L0);
    int pad = ir_add_input(g, "pad", mask_type(i ? IR_I32 : IR_I64, 2), L0);
    attention_pad(g, "cross", q, mk, mv, pad, false, -1, 0, 0, 1 / sqrt((double)dh));
    attention_pad(g, "window", q, mk, mv, pad, false, 600, 0, 0, 0.5);
    cgt_check_graph(g, &(cgt_opts){.variants = i ? CGT_FUSED : CGT_SYMBOLIC,
                                   .seed = (uint64_t)(99 + i),
                                   .threads = 3,
                                   .runs = 5,
                                   .fill = fill_padding});
  }
}

/* the position bias table of pos_bias R for h heads: an input f32 [h, 2R+1] */
static int bias_table(ir_graph *g, int h, int64_t R) {
  ir_type t = {.dtype = IR_F32, .rank = 2, .dims = {ir_dim_const(h), ir_dim_const(2 * R + 1)}};
  return ir_add_input(g, "table", t, L0);
}

/* self-attention of every mask kind, a cross attention (Tk = S) and padded
 * keys (the padding of check_padded, B = 5), each with the bias of pos_bias R */
static void check_bias(int64_t T, int64_t S, int h, int64_t dh, int64_t tq, int64_t tk,
                       int64_t window, int64_t R, unsigned variants) {
  ir_graph *g = ir_graph_new("bias");
  ir_graph_add_sym(g, "B", 5, L0);
  ir_graph_add_sym(g, "T", T, L0);
  ir_graph_add_sym(g, "S", S, L0);
  int q = ir_add_input(g, "q", qkv_type(h, 1, dh), L0);
  int k = ir_add_input(g, "k", qkv_type(h, 1, dh), L0);
  int v = ir_add_input(g, "v", qkv_type(h, 1, dh), L0);
  int mk = ir_add_input(g, "mk", qkv_type(h, 2, dh), L0);
  int mv = ir_add_input(g, "mv", qkv_type(h, 2, dh), L0);
  int pad = ir_add_input(g, "pad", mask_type(IR_I32, 1), L0);
  int padm = ir_add_input(g, "padm", mask_type(IR_I64, 2), L0);
  int tab = bias_table(g, h, R);
  double scale = 1 / sqrt((double)dh);
  attention_bias(g, "plain", q, k, v, -1, tab, R, false, -1, tq, tk, scale);
  attention_bias(g, "causal", q, k, v, -1, tab, R, true, -1, tq, tk, scale);
  attention_bias(g, "window", q, k, v, -1, tab, R, false, window, tq, tk, 0.7);
  attention_bias(g, "window_causal", q, k, v, -1, tab, R, true, window, tq, tk, scale);
  attention_bias(g, "cross", q, mk, mv, -1, tab, R, false, -1, tq, tk, scale);
  attention_bias(g, "padded_causal", q, k, v, pad, tab, R, true, -1, tq, tk, scale);
  attention_bias(g, "padded_cross", q, mk, mv, padm, tab, R, false, window, tq, tk, scale);
  cgt_check_graph(g, &(cgt_opts){.variants = variants,
                                 .seed = (uint64_t)(T * 13 + S + R),
                                 .runs = 2,
                                 .fill = fill_padding});
}

/* R below T (distances clamp on both sides), R = 0 (one bias a head), R past
 * every distance (and past what the kernel copies to its stack); odd tiles,
 * many tiles, the narrower targets */
static void position_bias(void **state) {
  (void)state;
  check_bias(7, 13, 3, 5, 4, 16, 2, 2, CGT_SYMBOLIC);
  check_bias(13, 9, 1, 8, 5, 3, 3, 0, CGT_SSE);
  check_bias(13, 9, 2, 8, 0, 0, 3, 20, CGT_AVX2);
  check_bias(300, 257, 2, 16, 16, 32, 20, 50, CGT_FUSED);
  check_bias(9, 5, 2, 8, 4, 16, 2, 2100, CGT_FUSED); /* a row too long to copy: gathers */
}

/* decode steps with a bias: a query row against many keys, distances far
 * past R, split across 3 threads, plain, windowed and with padded keys */
static void bias_decode(void **state) {
  (void)state;
  for (int i = 0; i < 2; i++) {
    ir_graph *g = ir_graph_new("decode");
    ir_graph_add_sym(g, "B", 1, L0);
    ir_graph_add_sym(g, "T", 1, L0);
    ir_graph_add_sym(g, "S", i ? 777 : 1000, L0);
    int64_t dh = i ? 37 : 64, R = i ? 128 : 300;
    int q = ir_add_input(g, "q", qkv_type(1, 1, dh), L0);
    int mk = ir_add_input(g, "mk", qkv_type(1, 2, dh), L0);
    int mv = ir_add_input(g, "mv", qkv_type(1, 2, dh), L0);
    int pad = ir_add_input(g, "pad", mask_type(IR_I32, 2), L0);
    int tab = bias_table(g, 1, R);
    double scale = 1 / sqrt((double)dh);
    attention_bias(g, "cross", q, mk, mv, -1, tab, R, false, -1, 0, 0, scale);
    attention_bias(g, "window", q, mk, mv, -1, tab, R, false, 600, 0, 0, 0.5);
    attention_bias(g, "padded", q, mk, mv, pad, tab, R, false, -1, 0, 0, scale);
    cgt_check_graph(g, &(cgt_opts){.variants = i ? CGT_FUSED : CGT_SYMBOLIC,
                                   .seed = (uint64_t)(7 + i),
                                   .threads = 3,
                                   .runs = 3,
                                   .fill = fill_padding});
  }
}

enum { MAX_PIECES = 8 };

/* a cached self-attention with a position bias, as a session keeps it */
typedef struct cached {
  ir_graph *ref;    /* as built: what the interpreter runs */
  cg_jit *jit;      /* compiled with T read at run time */
  ir_graph *g;      /* the graph the JIT compiled */
  int64_t B, h, dh; /* batch, heads, head dim */
} cached;

/*
 * q, k, v [B, h, T, dh] and the table [h, 2R+1] as inputs, the caches kc, vc
 * [B, h, S, dh] as state: y = attention(q, k, v, kc, vc, table), causal,
 * with the window given, and this run's k, v written to the caches.
 */
static void open_cached(cached *m, int64_t B, int h, int64_t dh, int64_t S, int64_t window,
                        int64_t R) {
  *m = (cached){.B = B, .h = h, .dh = dh};
  ir_graph *g = m->ref = ir_graph_new("cached");
  ir_graph_add_sym(g, "B", B, L0);
  g->position_sym = ir_graph_add_sym(g, "T", 1, L0);
  int q = ir_add_input(g, "q", qkv_type(h, 1, dh), L0);
  int k = ir_add_input(g, "k", qkv_type(h, 1, dh), L0);
  int v = ir_add_input(g, "v", qkv_type(h, 1, dh), L0);
  int tab = bias_table(g, h, R);
  ir_type ct = qkv_type(h, 1, dh);
  ct.dims[2] = ir_dim_const(S);
  int kc = ir_add_state(g, "kc", ct, L0), vc = ir_add_state(g, "vc", ct, L0);
  g->streams = true;
  int in[6] = {q, k, v, kc, vc, tab};
  int n = ir_insert_node_n(g, g->nnodes, IR_OP_ATTENTION, "y", in, 6, 1, L0);
  ir_set_attr_float(g, n, "scale", 1 / sqrt((double)dh));
  ir_set_attr_int(g, n, "causal", 1);
  ir_set_attr_int(g, n, "window", window);
  ir_set_attr_int(g, n, "pos_bias", R);
  ir_diags d;
  ir_diags_init(&d, "test", NULL, 0, stderr);
  assert_true(ir_infer_node(g, n, &d));
  ir_add_output(g, "y", g->nodes[n].outputs[0]);
  for (int c = 0; c < 2; c++) {
    int w =
        ir_add_node(g, IR_OP_CACHE_WRITE, c ? "vc" : "kc", (int[]){c ? vc : kc, c ? v : k}, 2, L0);
    assert_true(ir_infer_node(g, w, &d));
  }
  m->g = ir_graph_clone(g);
  int64_t bind[IR_MAX_SYMS] = {B, -1};
  m->jit = cgt_compile(m->g, &(cg_options){.bind_syms = bind, .opt_level = 3});
}

/*
 * A session of pieces of the given lengths on random inputs (the table
 * fixed), compiled at 1 .. threads threads, against the interpreter's
 * session: every piece's output, and a reset starts over.
 */
static void check_cached(int64_t B, int h, int64_t dh, int64_t S, int64_t window, int64_t R,
                         const int64_t *lengths, int npieces, int threads) {
  cached m;
  open_cached(&m, B, h, dh, S, window, R);
  assert_true(npieces <= MAX_PIECES);
  uint64_t rng = (uint64_t)(S * 7 + R);
  int64_t plan = 1;
  for (int k = 0; k < npieces; k++) plan = lengths[k] > plan ? lengths[k] : plan;
  seqrt_tensor in[MAX_PIECES][4], want[MAX_PIECES];
  seqrt_error err = {{0}};
  ir_session *is = ir_session_new(m.ref);
  for (int k = 0; k < npieces; k++) {
    int64_t syms[IR_MAX_SYMS] = {B, lengths[k]};
    for (int i = 0; i < 4; i++) {
      if (i == 3 && k > 0) { /* one table for the session */
        in[k][i] = in[0][i];
        continue;
      }
      in[k][i] = cgt_random(&m.ref->values[m.ref->inputs[i]].type, syms, &rng, 10);
    }
    bool ok = ir_eval_run(is, syms, in[k], cgt_get_param, NULL, &want[k], &err);
    if (!ok) fprintf(stderr, "interpreter piece %d: %s\n", k, err.msg);
    assert_true(ok);
  }
  ir_session_free(is);
  int64_t syms[IR_MAX_SYMS] = {B, plan};
  for (int nth = 1; nth <= threads; nth++) {
    seqrt_session *s = seqrt_session_new(cg_jit_desc(m.jit), syms, nth, &err);
    if (!s) fprintf(stderr, "session: %s\n", err.msg);
    assert_non_null(s);
    for (int round = 0; round < 2; round++) { /* the second after a reset */
      for (int k = 0; k < npieces; k++) {
        seqrt_tensor got;
        int rc = seqrt_session_run(s, in[k], &got, &err);
        if (rc) fprintf(stderr, "piece %d: %s\n", k, err.msg);
        assert_int_equal(rc, 0);
        char variant[64];
        snprintf(variant, sizeof variant, "cached, piece %d, round %d", k, round + 1);
        cgt_compare("y", &got, &want[k], 1e-5, variant, nth);
      }
      seqrt_session_reset(s);
    }
    seqrt_session_free(s);
  }
  for (int k = 0; k < npieces; k++) {
    free(want[k].data);
    for (int i = 0; i < (k ? 3 : 4); i++) free(in[k][i].data);
  }
  cg_jit_free(m.jit);
  ir_graph_free(m.g);
  ir_graph_free(m.ref);
}

/*
 * Cached runs with a bias: the kept positions come before this run's, so
 * query i is position p + i. A cache that holds every position (R below
 * the distances, and R = 0); a window with a ring shorter than the
 * positions (p > S, the kept rows wrapping); a long first run and then
 * single rows that split across 2 threads (B = h = 1, 700+ keys).
 */
static void bias_cached(void **state) {
  (void)state;
  static const int64_t uneven[] = {5, 1, 3, 1, 2, 4};
  check_cached(2, 3, 8, 16, -1, 3, uneven, 6, 2);
  check_cached(2, 1, 5, 16, -1, 0, uneven, 6, 2);
  static const int64_t ring[] = {3, 1, 4, 2, 5, 1, 3, 2};
  check_cached(2, 2, 8, 6, 4, 2, ring, 8, 2);
  check_cached(1, 2, 37, 5, 5, 9, ring, 8, 2);
  static const int64_t decode[] = {700, 1, 1, 1};
  check_cached(1, 1, 64, 1024, -1, 100, decode, 4, 2);
  check_cached(1, 1, 16, 512, 600, 40, decode, 4, 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(short_sequences),
      cmocka_unit_test(wide_heads),
      cmocka_unit_test(long_windowed),
      cmocka_unit_test(decode_steps),
      cmocka_unit_test(padding_masks),
      cmocka_unit_test(padded_decode),
      cmocka_unit_test(position_bias),
      cmocka_unit_test(bias_decode),
      cmocka_unit_test(bias_cached),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
