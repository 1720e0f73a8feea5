/*
 * test_attention.c: the tiled attention kernel (codegen/attention.c) against
 * the interpreter's plain attention: T = 1, 7, 13 (and a long windowed one),
 * 1 and 3 heads, head dims around the vector width, tile sizes that do and do
 * not divide T, no mask, causal, window, window + causal, and cross attention
 * with Tq != Tk; compiled with bound and symbolic dims, at 1 and 2 threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cg_test.h"

static const ir_loc L0 = {1, 1};

static ir_type qkv_type(int h, int t_sym, int64_t dh) {
  return (ir_type){.dtype = IR_F32,
                   .rank = 4,
                   .dims = {ir_dim_sym(0), ir_dim_const(h), ir_dim_sym(t_sym), ir_dim_const(dh)}};
}

/* one attention node of g on q, k, v, with the tiles given (0: the pass chooses) */
static void attention(ir_graph *g, const char *name, int q, int k, int v, bool causal,
                      int64_t window, int64_t tq, int64_t tk, double scale) {
  int in[3] = {q, k, v};
  int n = ir_insert_node_n(g, g->nnodes, IR_OP_ATTENTION, name, in, 3, 1, L0);
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(short_sequences),
      cmocka_unit_test(wide_heads),
      cmocka_unit_test(long_windowed),
      cmocka_unit_test(decode_steps),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
