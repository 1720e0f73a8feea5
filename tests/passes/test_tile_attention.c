/*
 * test_tile_attention.c: softmax(q k^T * c) v chains become one `attention`
 * node with the interpreter's numbers unchanged, chains that must stay do,
 * and every attention node gets tile sizes (kept when already set), also
 * one with a position bias table among its inputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_passes.h"

static const int64_t SYMS[] = {2, 13};

/* q k^T scaled by a constant, then softmax and @ v, at rank 4 */
static void chain_rank4_fused(void **state) {
  (void)state;
  ir_graph *g = load_yaml(
      "seqc: 1\nname: m\ndims: {B: 2, T: 13}\n"
      "inputs:\n  q: {dtype: f32, shape: [B, 3, T, 8]}\n  k: {dtype: f32, shape: [B, 3, T, 8]}\n"
      "  v: {dtype: f32, shape: [B, 3, T, 8]}\noutputs: [o]\nnodes:\n"
      "  kt: {op: transpose, input: k, dims: [0, 1, 3, 2]}\n"
      "  s: {op: matmul, inputs: [q, kt]}\n"
      "  ss: {op: mul, inputs: [s, 0.35]}\n"
      "  p: {op: softmax, input: ss}\n"
      "  o: {op: matmul, inputs: [p, v]}\n");
  check_pipeline_numbers(g, SYMS, 1);
  assert_true(check_pass_numbers(g, pass_tile_attention, "tile_attention", SYMS, 1));
  assert_int_equal(count_op(g, IR_OP_ATTENTION), 1);
  assert_int_equal(count_op(g, IR_OP_SOFTMAX), 0);
  assert_int_equal(count_op(g, IR_OP_MATMUL), 0);
  const ir_node *a = output_node(g, "o");
  assert_int_equal(a->op, IR_OP_ATTENTION);
  assert_true(ir_attr_float(a, "scale") > 0.349 && ir_attr_float(a, "scale") < 0.351);
  assert_int_equal(ir_attr_int(a, "tile_q"), 64);    /* no mask: the big tile */
  assert_int_equal(ir_attr_int(a, "tile_k"), 128);   /* T symbolic, no binding */
  assert_int_equal(count_op(g, IR_OP_TRANSPOSE), 0); /* k^T died with the chain */
  /* T symbolic: a run may be a decode step, so the split-K partials come along */
  assert_int_equal(a->noutputs, 2);
  assert_int_equal(ir_attr_int(a, "splits"), 8);
  const ir_type *pt = &g->values[a->outputs[1]].type;
  assert_int_equal(pt->rank, 4);
  assert_true(ir_dim_is_const(pt->dims[2]) && pt->dims[2].coef == 8);
  assert_true(ir_dim_is_const(pt->dims[3]) && pt->dims[3].coef == 8 + 2);
  ir_graph_free(g);
}

/* the partials of a split decode step: with one query row, not with several */
static void partials_for_one_row(void **state) {
  (void)state;
  for (int rows = 1; rows <= 5; rows += 4) {
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "seqc: 1\nname: m\ndims: {B: 2, T: 13}\n"
             "inputs:\n  q: {dtype: f32, shape: [B, 3, %d, 8]}\n"
             "  k: {dtype: f32, shape: [B, 3, T, 8]}\n"
             "  v: {dtype: f32, shape: [B, 3, T, 8]}\noutputs: [o]\nnodes:\n"
             "  kt: {op: transpose, input: k, dims: [0, 1, 3, 2]}\n"
             "  s: {op: matmul, inputs: [q, kt]}\n"
             "  p: {op: softmax, input: s}\n"
             "  o: {op: matmul, inputs: [p, v]}\n",
             rows);
    ir_graph *g = load_yaml(yaml);
    run_pass(g, pass_decompose, "decompose");
    run_pass(g, pass_infer_shapes, "infer_shapes");
    assert_true(check_pass_numbers(g, pass_tile_attention, "tile_attention", SYMS, 1));
    const ir_node *a = output_node(g, "o");
    assert_int_equal(a->op, IR_OP_ATTENTION);
    assert_int_equal(a->noutputs, rows == 1 ? 2 : 1);
    assert_int_equal(ir_get_attr(a, "splits") != NULL, rows == 1);
    ir_graph_free(g);
  }
}

/* rank 3, scale by division, unfused: viewed as one head */
static void chain_rank3_div(void **state) {
  (void)state;
  ir_graph *g = load_yaml(
      "seqc: 1\nname: m\ndims: {B: 2, T: 13}\n"
      "inputs:\n  x: {dtype: f32, shape: [B, T, 8]}\noutputs: [o]\nnodes:\n"
      "  kt: {op: transpose, input: x, dims: [0, 2, 1]}\n"
      "  s: {op: matmul, inputs: [x, kt]}\n"
      "  ss: {op: div, inputs: [s, 4]}\n"
      "  p: {op: softmax, input: ss, dim: -1}\n"
      "  o: {op: matmul, inputs: [p, x]}\n");
  run_pass(g, pass_decompose, "decompose");
  run_pass(g, pass_infer_shapes, "infer_shapes");
  assert_true(check_pass_numbers(g, pass_tile_attention, "tile_attention", SYMS, 1));
  assert_int_equal(count_op(g, IR_OP_ATTENTION), 1);
  assert_int_equal(count_op(g, IR_OP_SOFTMAX), 0);
  const ir_node *a = &g->nodes[find_op(g, IR_OP_ATTENTION)];
  assert_true(ir_attr_float(a, "scale") > 0.2499 && ir_attr_float(a, "scale") < 0.2501);
  assert_int_equal(output_node(g, "o")->op, IR_OP_RESHAPE);
  ir_graph_free(g);
}

/* the probabilities are an output, or softmax runs along another dim: no rewrite */
static void chains_that_stay(void **state) {
  (void)state;
  static const char *const models[] = {
      "outputs: [o, p]\nnodes:\n"
      "  kt: {op: transpose, input: x, dims: [0, 2, 1]}\n"
      "  s: {op: matmul, inputs: [x, kt]}\n"
      "  p: {op: softmax, input: s}\n"
      "  o: {op: matmul, inputs: [p, x]}\n",
      "outputs: [o]\nnodes:\n"
      "  kt: {op: transpose, input: x, dims: [0, 2, 1]}\n"
      "  s: {op: matmul, inputs: [x, kt]}\n"
      "  p: {op: softmax, input: s, dim: 1}\n"
      "  o: {op: matmul, inputs: [p, x]}\n",
  };
  for (int i = 0; i < 2; i++) {
    char src[1024];
    snprintf(src, sizeof src,
             "seqc: 1\nname: m\ndims: {B: 2, T: 13}\n"
             "inputs:\n  x: {dtype: f32, shape: [B, T, 8]}\n%s",
             models[i]);
    ir_graph *g = load_yaml(src);
    run_pass(g, pass_decompose, "decompose");
    assert_false(run_pass(g, pass_tile_attention, "tile_attention"));
    assert_int_equal(count_op(g, IR_OP_ATTENTION), 0);
    assert_int_equal(count_op(g, IR_OP_SOFTMAX), 1);
    ir_graph_free(g);
  }
}

/* multihead_attention's node: tiles sized by head dim, T and window; set ones kept */
static void tiles(void **state) {
  (void)state;
  ir_graph *g = load_yaml(
      "seqc: 1\nname: m\ndims: {B: 1, T: 1000}\n"
      "inputs:\n  x: {dtype: f32, shape: [B, T, 1024]}\noutputs: [a, w, s]\nnodes:\n"
      "  a: {op: multihead_attention, input: x, num_heads: 1}\n"
      "  w: {op: multihead_attention, input: x, num_heads: 16, window: 5}\n"
      "  s: {op: multihead_attention, input: x, num_heads: 16}\n");
  run_pass(g, pass_decompose, "decompose"); /* the attention nodes come from it */
  int set = -1;
  for (int i = 0; i < g->nnodes; i++)
    if (g->nodes[i].op == IR_OP_ATTENTION && strncmp(g->nodes[i].name, "s.", 2) == 0) set = i;
  assert_true(set >= 0);
  ir_set_attr_int(g, set, "tile_q", 7);
  ir_set_attr_int(g, set, "tile_k", 9);
  assert_true(run_pass(g, pass_tile_attention, "tile_attention"));
  int seen = 0;
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->op != IR_OP_ATTENTION) continue;
    seen++;
    int64_t tq = ir_attr_int(n, "tile_q"), tk = ir_attr_int(n, "tile_k");
    if (n->name[0] == 'a') {
      assert_int_equal(tq, 8); /* dh 1024: a small accumulator */
      assert_int_equal(tk, 128);
    } else if (n->name[0] == 'w') {
      assert_int_equal(tq, 32);
      assert_int_equal(tk, 16); /* 2 * 5 + 1 keys at most */
    } else {
      assert_int_equal(tq, 7);
      assert_int_equal(tk, 9);
    }
  }
  assert_int_equal(seen, 3);
  ir_graph_free(g);
}

/* an attention node of g with inputs ins (pos_bias R: the last is the table) */
static int bias_node(ir_graph *g, const char *name, const int *ins, int nin, bool causal,
                     bool padded, int64_t R) {
  int n = ir_insert_node_n(g, g->nnodes, IR_OP_ATTENTION, name, ins, nin, 1, (ir_loc){1, 1});
  ir_set_attr_float(g, n, "scale", 0.5);
  ir_set_attr_int(g, n, "causal", causal);
  ir_set_attr_int(g, n, "window", -1);
  if (padded) ir_set_attr_int(g, n, "key_padding", 1);
  ir_set_attr_int(g, n, "pos_bias", R);
  ir_add_output(g, name, infer(g, n));
  return n;
}

/* nodes with a position bias table: tile_k from the cache's S or from Tk, never
 * from the mask or the table, and a decode step's partials added with the
 * table and pos_bias kept */
static void bias_tables(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("bias");
  ir_loc at = {1, 1};
  int q = ir_add_input(g, "q", tf32(4, 1, 2, 5, 8), at);
  int k = ir_add_input(g, "k", tf32(4, 1, 2, 5, 8), at);
  int mk = ir_add_input(g, "mk", tf32(4, 1, 2, 100, 8), at);
  int q1 = ir_add_input(g, "q1", tf32(4, 1, 2, 1, 8), at);
  ir_type mt = {.dtype = IR_I64, .rank = 2, .dims = {ir_dim_const(1), ir_dim_const(100)}};
  int mask = ir_add_input(g, "mask", mt, at), tab = ir_add_input(g, "table", tf32(2, 2, 7), at);
  int kc = ir_add_state(g, "kc", tf32(4, 1, 2, 40, 8), at);
  int vc = ir_add_state(g, "vc", tf32(4, 1, 2, 40, 8), at);
  int c = bias_node(g, "cached", (int[]){q, k, k, kc, vc, tab}, 6, true, false, 3);
  int p = bias_node(g, "padded", (int[]){q, mk, mk, mask, tab}, 5, false, true, 3);
  int d = bias_node(g, "decode", (int[]){q1, mk, mk, tab}, 4, false, false, 3);
  assert_true(run_pass(g, pass_tile_attention, "tile_attention"));
  assert_int_equal(ir_attr_int(&g->nodes[c], "tile_k"), 48);  /* S = 40 */
  assert_int_equal(ir_attr_int(&g->nodes[p], "tile_k"), 112); /* Tk = 100 */
  const ir_node *n = &g->nodes[d];
  assert_int_equal(n->noutputs, 2);
  assert_int_equal(ir_attr_int(n, "splits"), 8);
  assert_int_equal(n->ninputs, 4);
  assert_int_equal(n->inputs[3], tab);
  assert_int_equal(ir_attr_int(n, "pos_bias"), 3);
  ir_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(chain_rank4_fused),
      cmocka_unit_test(partials_for_one_row),
      cmocka_unit_test(chain_rank3_div),
      cmocka_unit_test(chains_that_stay),
      cmocka_unit_test(tiles),
      cmocka_unit_test(bias_tables),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
