/*
 * test_attention.c: the tiled attention kernel (codegen/attention.c) against
 * the interpreter's plain attention: T = 1, 7, 13 (and a long windowed one),
 * 1 and 3 heads, head dims around the vector width, tile sizes that do and do
 * not divide T, no mask, causal, window, window + causal, and cross attention
 * with Tq != Tk; compiled with bound and symbolic dims, at 1 and 2 threads.
 * Key padding masks (i32 and i64): rows padded as a suffix, with holes
 * (one as long as several key tiles), before the first key, and wholly
 * (output 0), with and without causal and window masks, over many key tiles
 * and in split decode steps.
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

/* one attention node of g on q, k, v (and key padding mask pad >= 0), with the
 * tiles given (0: the pass chooses) */
static void attention_pad(ir_graph *g, const char *name, int q, int k, int v, int pad, bool causal,
                          int64_t window, int64_t tq, int64_t tk, double scale) {
  int in[4] = {q, k, v, pad};
  int n = ir_insert_node_n(g, g->nnodes, IR_OP_ATTENTION, name, in, pad >= 0 ? 4 : 3, 1, L0);
  if (pad >= 0) ir_set_attr_int(g, n, "key_padding", 1);
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(short_sequences),
      cmocka_unit_test(wide_heads),
      cmocka_unit_test(long_windowed),
      cmocka_unit_test(decode_steps),
      cmocka_unit_test(padding_masks),
      cmocka_unit_test(padded_decode),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
