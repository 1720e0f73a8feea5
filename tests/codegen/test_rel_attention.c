/*
 * test_rel_attention.c: Transformer-XL's attention kernel (rel_attention,
 * codegen/rel_attention.c: attention.c's tiles with the position term as a
 * band of distances per key tile) against the interpreter's
 * ir_eval_rel_attention. Segments C that the query tile divides and does not,
 * no memory (M = 0), memory rows still unwritten (mlen < M: the session's
 * four runs have written 0, 2, 5 and 1000 rows before the segment), same_length (also with M = 0,
 * where no query sees a key), head dims that fill vectors and do not (5, 37),
 * tiles of one row and one key, tiles larger than the keys, a key tile
 * shorter than the query tile; at 1, 2 and 3 threads, with B bound and
 * symbolic, and for the 8- and 4-float vectors of narrower targets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cg_test.h"

static const ir_loc L0 = {1, 1};

/* one rel_attention case: its shape, mask and tiles (0: the kernel's default) */
typedef struct rel_case {
  int64_t C, M, H, dh; /* segment, memory rows, heads, head dim */
  bool same;           /* same_length */
  int64_t tq, tk;      /* tile_q, tile_k */
} rel_case;

static ir_type f32_type(int rank, const ir_dim *dims) {
  ir_type t = {.dtype = IR_F32, .rank = rank};
  for (int i = 0; i < rank; i++) t.dims[i] = dims[i];
  return t;
}

/* the inputs of case k (q, k, v, rk, r_w_bias, r_r_bias, rows) and its node, an output of g */
static void add_case(ir_graph *g, int k, const rel_case *rc) {
  ir_dim B = ir_dim_sym(0), C = ir_dim_const(rc->C), K = ir_dim_const(rc->M + rc->C);
  ir_dim H = ir_dim_const(rc->H), dh = ir_dim_const(rc->dh);
  char name[64];
#define NAME(what) (snprintf(name, sizeof name, "%s%d", what, k), name)
  int in[7];
  in[0] = ir_add_input(g, NAME("q"), f32_type(4, (ir_dim[]){B, H, C, dh}), L0);
  in[1] = ir_add_input(g, NAME("k"), f32_type(4, (ir_dim[]){B, H, K, dh}), L0);
  in[2] = ir_add_input(g, NAME("v"), f32_type(4, (ir_dim[]){B, H, K, dh}), L0);
  in[3] = ir_add_input(g, NAME("rk"), f32_type(3, (ir_dim[]){H, K, dh}), L0);
  in[4] = ir_add_input(g, NAME("u"), f32_type(2, (ir_dim[]){H, dh}), L0);
  in[5] = ir_add_input(g, NAME("w"), f32_type(2, (ir_dim[]){H, dh}), L0);
  in[6] = ir_add_input(g, NAME("rows"), f32_type(1, (ir_dim[]){ir_dim_const(1)}), L0);
  int n = ir_insert_node_n(g, g->nnodes, IR_OP_REL_ATTENTION, NAME("rel"), in, 7, 1, L0);
  ir_set_attr_float(g, n, "scale", 1 / sqrt((double)rc->dh));
  ir_set_attr_int(g, n, "mem", rc->M);
  ir_set_attr_int(g, n, "same_length", rc->same);
  ir_set_attr_int(g, n, "streams", 0);
  if (rc->tq) ir_set_attr_int(g, n, "tile_q", rc->tq);
  if (rc->tk) ir_set_attr_int(g, n, "tile_k", rc->tk);
  ir_diags d;
  ir_diags_init(&d, "test", NULL, 0, stderr);
  assert_true(ir_infer_node(g, n, &d));
  ir_add_output(g, NAME("out"), g->nodes[n].outputs[0]);
#undef NAME
}

/* run r's segment comes after 0, 2, 5 or 1000 rows (no memory written, some,
 * more, all of it) */
static void fill_rows(const char *name, seqrt_tensor *t, int run) {
  if (strncmp(name, "rows", 4)) return;
  static const float written[] = {0, 2, 5, 1000};
  *(float *)t->data = written[run % 4];
}

/* the cases in one graph of B = 3, compiled and run (4 runs a session) as variants asks */
static void check(const rel_case *cases, int n, unsigned variants, int threads) {
  ir_graph *g = ir_graph_new("rel");
  ir_graph_add_sym(g, "B", 3, L0);
  for (int k = 0; k < n; k++) add_case(g, k, &cases[k]);
  cgt_check_graph(g, &(cgt_opts){.variants = variants,
                                 .seed = (uint64_t)(cases[0].C * 31 + cases[0].M),
                                 .threads = threads,
                                 .runs = 4,
                                 .fill = fill_rows});
}

/* segments the query tile does not divide, memory below, at and above the
 * segment, none, and tiles of every shape */
static void tiles(void **state) {
  (void)state;
  static const rel_case cases[] = {
      {.C = 7, .M = 5, .H = 2, .dh = 5, .tq = 4, .tk = 16},
      {.C = 7, .M = 5, .H = 2, .dh = 5, .tq = 3, .tk = 2},
      {.C = 8, .M = 0, .H = 1, .dh = 8},
      {.C = 6, .M = 12, .H = 3, .dh = 16, .tq = 1, .tk = 1},
      {.C = 13, .M = 20, .H = 2, .dh = 37, .tq = 5, .tk = 3},
      {.C = 1, .M = 3, .H = 2, .dh = 4, .tq = 2, .tk = 2},
      {.C = 9, .M = 9, .H = 1, .dh = 12, .tq = 16, .tk = 64},
  };
  check(cases, 7, CGT_FUSED | CGT_SYMBOLIC, 3);
}

/* same_length: a window of M - 1 behind each query (none at all without memory) */
static void same_length(void **state) {
  (void)state;
  static const rel_case cases[] = {
      {.C = 6, .M = 4, .H = 2, .dh = 5, .same = true, .tq = 4, .tk = 4},
      {.C = 11, .M = 7, .H = 1, .dh = 8, .same = true, .tq = 3, .tk = 5},
      {.C = 5, .M = 0, .H = 2, .dh = 3, .same = true},
      {.C = 5, .M = 1, .H = 1, .dh = 6, .same = true, .tq = 2, .tk = 1},
  };
  check(cases, 4, CGT_FUSED | CGT_SYMBOLIC, 2);
}

/* 8- and 4-float vectors: the band's lane reversal and tails at other widths */
static void narrow_vectors(void **state) {
  (void)state;
  static const rel_case cases[] = {
      {.C = 7, .M = 5, .H = 2, .dh = 5, .tq = 4, .tk = 16},
      {.C = 13, .M = 20, .H = 2, .dh = 37, .tq = 5, .tk = 9},
      {.C = 6, .M = 4, .H = 2, .dh = 5, .same = true, .tq = 4, .tk = 4},
  };
  check(cases, 3, CGT_AVX2 | CGT_SSE, 2);
}

/* the benchmark's shape scaled down: whole tiles of many keys, segments longer than a tile */
static void long_segments(void **state) {
  (void)state;
  static const rel_case cases[] = {
      {.C = 64, .M = 64, .H = 2, .dh = 64},
      {.C = 48, .M = 100, .H = 1, .dh = 32, .same = true, .tq = 16, .tk = 32},
      {.C = 70, .M = 30, .H = 1, .dh = 20, .tq = 32, .tk = 128},
  };
  check(cases, 3, CGT_FUSED, 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(tiles),
      cmocka_unit_test(same_length),
      cmocka_unit_test(narrow_vectors),
      cmocka_unit_test(long_segments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
