/*
 * test_flops.c: ir_graph_flops counts by ops.def's flops column: matmuls (and
 * linear) 2*M*N*K, attention 4*dh per (query, key) pair inside its window,
 * conv1d 2*k*C per result element, recurrent layers 2*B*T per weight element,
 * a scan's body once a step, a fused body once, elementwise work not at all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "ir.h"

static const ir_loc L = {1, 1};

/* an f32 type with the given constant dims; -1 stands for symbol 0 (T) */
static ir_type f32(int rank, const int64_t *dims) {
  ir_type t = {.dtype = IR_F32, .rank = rank};
  for (int i = 0; i < rank; i++) t.dims[i] = dims[i] < 0 ? ir_dim_sym(0) : ir_dim_const(dims[i]);
  return t;
}
#define T(...) f32(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t), (int64_t[]){__VA_ARGS__})

static int input(ir_graph *g, ir_type t) { return ir_add_input(g, "x", t, L); }

/* node op on inputs ins with result type t; returns the node */
static int node(ir_graph *g, ir_op op, const int *ins, int n, ir_type t) {
  int k = ir_insert_node_n(g, g->nnodes, op, "n", ins, n, 1, L);
  g->values[g->nodes[k].outputs[0]].type = t;
  return k;
}

static void matmul_and_elementwise(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("m");
  ir_graph_add_sym(g, "T", 5, L);
  int a = input(g, T(2, -1, 3)), b = input(g, T(3, 4));
  int mm = node(g, IR_OP_MATMUL, (int[]){a, b}, 2, T(2, -1, 4));
  int r = node(g, IR_OP_RELU, (int[]){g->nodes[mm].outputs[0]}, 1, T(2, -1, 4));
  node(g, IR_OP_ADD, (int[]){g->nodes[r].outputs[0], g->nodes[r].outputs[0]}, 2, T(2, -1, 4));
  int64_t syms[1] = {7};
  assert_true(ir_graph_flops(g, syms) == 2.0 * 3 * (2 * 7 * 4)); /* 2 K * elements */
  g->nodes[mm].dead = true;
  assert_true(ir_graph_flops(g, syms) == 0);
  ir_graph_free(g);
}

static void attention_window(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("m");
  int q = input(g, T(1, 2, 4, 3)), k = input(g, T(1, 2, 4, 3));
  int n = node(g, IR_OP_ATTENTION, (int[]){q, k, k}, 3, T(1, 2, 4, 3));
  ir_set_attr_float(g, n, "scale", 1);
  ir_set_attr_int(g, n, "causal", 0);
  ir_set_attr_int(g, n, "window", -1);
  /* 16 pairs, 4 * dh = 12 each, B * H = 2 */
  assert_true(ir_graph_flops(g, NULL) == 16 * 12 * 2);
  ir_set_attr_int(g, n, "window", 1); /* pairs per query: 2, 3, 3, 2 */
  assert_true(ir_graph_flops(g, NULL) == 10 * 12 * 2);
  ir_set_attr_int(g, n, "causal", 1); /* 1, 2, 2, 2 */
  assert_true(ir_graph_flops(g, NULL) == 7 * 12 * 2);
  ir_graph_free(g);
}

static void conv1d_and_recurrent(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("m");
  int x = input(g, T(2, 6, 3)), w = input(g, T(5, 3, 4));
  node(g, IR_OP_CONV1D, (int[]){x, w}, 2, T(2, 2, 4));
  assert_true(ir_graph_flops(g, NULL) == 2.0 * 5 * 3 * (2 * 2 * 4));
  ir_graph_free(g);

  /* lstm: x, h0, c0, then w_ih [4H, F], w_hh [4H, H], biases (rank 1: not counted) */
  g = ir_graph_new("m");
  int ins[7] = {input(g, T(2, 6, 3)), input(g, T(1, 2, 5)), input(g, T(1, 2, 5)),
                input(g, T(20, 3)), input(g, T(20, 5)), input(g, T(20)), input(g, T(20))};
  int n = ir_insert_node_n(g, 0, IR_OP_LSTM, "l", ins, 7, 3, L);
  static const char *const keys[] = {"hidden_size", "num_layers", "bidirectional", "bias",
                                     "proj_size", "peephole"};
  static const int64_t vals[] = {5, 1, 0, 1, 0, 0};
  for (int k = 0; k < 6; k++) ir_set_attr_int(g, n, keys[k], vals[k]);
  assert_true(ir_graph_flops(g, NULL) == 2.0 * 2 * 6 * (20 * 3 + 20 * 5));
  ir_graph_free(g);
}

static void bodies(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("m");
  ir_graph_add_sym(g, "T", 8, L);
  int x = input(g, T(2, -1, 3)), w = input(g, T(3, 3));
  int s = ir_insert_node_n(g, 0, IR_OP_SCAN, "s", (int[]){x, w}, 2, 1, L);
  ir_set_attr_int(g, s, "chunk", 1);
  ir_graph *b = ir_graph_new("body");
  b->parent = g;
  int bx = input(b, T(2, 3)), bw = input(b, T(3, 3));
  node(b, IR_OP_MATMUL, (int[]){bx, bw}, 2, T(2, 3));
  g->nodes[s].body = b;
  int64_t syms[1] = {8};
  double step = 2.0 * 3 * 6;
  assert_true(ir_graph_flops(g, syms) == 8 * step);
  ir_set_attr_int(g, s, "chunk", 4); /* two steps of four rows */
  assert_true(ir_graph_flops(g, syms) == 2 * step);
  g->nodes[s].op = IR_OP_FUSED; /* a body counted once */
  assert_true(ir_graph_flops(g, syms) == step);
  ir_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(matmul_and_elementwise),
      cmocka_unit_test(attention_window),
      cmocka_unit_test(conv1d_and_recurrent),
      cmocka_unit_test(bodies),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
