/*
 * test_hoist.c: the hoist pass on scans. The input projection of a custom
 * cell and of an LSTM leaves the body as one matmul over [B, T, F]; the body
 * keeps only what reads the state; work on captures only (a weight's
 * transpose) leaves as a new capture, out of a segment scan too; a reverse
 * scan hoists the same way. The interpreter gives the
 * same numbers before and after, and the verifier passes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_passes.h"

static const char *cell_yaml(const char *a_input, bool reverse) {
  static char buf[2048];
  snprintf(buf, sizeof buf,
           "seqc: 1\nname: m\ndims: {B: 2, T: 5}\n"
           "inputs:\n  x: {dtype: f32, shape: [B, T, 6]}\n"
           "outputs: [cell, cell.h]\nnodes:\n"
           "  cell:\n    op: scan\n    over: {x: x}\n    reverse: %s\n"
           "    state: {h: {zeros: [B, 8]}}\n    body:\n"
           "      a:  {op: linear, input: %s, out_features: 8}\n"
           "      r:  {op: relu, input: a}\n"
           "      b:  {op: linear, input: h, out_features: 8, bias: false}\n"
           "      s:  {op: add, inputs: [r, b]}\n"
           "      hn: {op: tanh, input: s}\n"
           "    next: {h: hn}\n    emit: [hn]\n",
           reverse ? "true" : "false", a_input);
  return buf;
}

/* the graph after decompose, infer_shapes and simplify */
static ir_graph *prepared(const char *yaml) {
  ir_graph *g = load_yaml(yaml);
  run_pass(g, pass_decompose, "decompose");
  run_pass(g, pass_infer_shapes, "infer_shapes");
  run_pass(g, pass_simplify, "simplify");
  return g;
}

static const ir_node *the_scan(const ir_graph *g) {
  int i = find_op(g, IR_OP_SCAN);
  assert_true(i >= 0);
  return &g->nodes[i];
}

static void projection_leaves_the_loop(void **state) {
  (void)state;
  for (int rev = 0; rev < 2; rev++) {
    ir_graph *g = prepared(cell_yaml("x", rev));
    const ir_node *s = the_scan(g);
    assert_int_equal(count_op(s->body, IR_OP_MATMUL), 2);
    int top_mm = count_op(g, IR_OP_MATMUL);
    int64_t syms[] = {2, 5};
    assert_true(check_pass_numbers(g, pass_hoist, "hoist", syms, 1));
    s = the_scan(g);
    /* x W^T, + b and relu left; h W^T stayed */
    assert_int_equal(count_op(s->body, IR_OP_MATMUL), 1);
    assert_int_equal(count_op(s->body, IR_OP_RELU), 0);
    assert_int_equal(count_op(g, IR_OP_MATMUL), top_mm + 1);
    assert_int_equal(count_op(g, IR_OP_RELU), 1);
    const ir_node *mm = &g->nodes[find_op(g, IR_OP_MATMUL)];
    assert_int_equal(g->values[mm->outputs[0]].type.rank, 3); /* [B, T, 8]: all steps */
    /* the over input is now the projection (x itself is no longer read) */
    assert_int_equal(ir_attr_int(s, "nover"), 1);
    assert_int_equal(ir_attr_int(s, "reverse"), rev);
    const ir_value *over = &g->values[s->inputs[0]];
    assert_int_equal(over->kind, IR_VAL_NODE);
    assert_int_equal(g->nodes[over->def].op, IR_OP_RELU);
    /* a second run finds nothing more */
    assert_false(run_pass(g, pass_hoist, "hoist"));
    ir_graph_free(g);
  }
}

/* both matmuls read the state: only the weights' transposes (captures only) leave */
static void state_work_stays(void **state) {
  (void)state;
  ir_graph *g = prepared(cell_yaml("h", false));
  const ir_graph *body = the_scan(g)->body;
  assert_int_equal(count_op(body, IR_OP_TRANSPOSE), 2);
  int live = count_live(body), top = count_op(g, IR_OP_TRANSPOSE);
  int64_t syms[] = {2, 5};
  assert_true(check_pass_numbers(g, pass_hoist, "hoist", syms, 1));
  body = the_scan(g)->body;
  assert_int_equal(count_op(body, IR_OP_TRANSPOSE), 0);
  assert_int_equal(count_op(body, IR_OP_MATMUL), 2);
  assert_int_equal(count_live(body), live - 2);
  assert_int_equal(count_op(g, IR_OP_TRANSPOSE), top + 2); /* at top: run at prepare */
  assert_false(run_pass(g, pass_hoist, "hoist"));
  ir_graph_free(g);
}

/* a segment scan (Memformer: chunk 3) keeps its step work, but its weights'
 * transposes leave it: once per session instead of once per segment */
static void segment_scans_lose_weight_work(void **state) {
  (void)state;
  ir_graph *g = prepared(
      "seqc: 1\nname: m\ndims: {B: 2, L: 9}\n"
      "inputs:\n  x: {dtype: f32, shape: [B, L, 8]}\n"
      "outputs: [enc]\nnodes:\n"
      "  enc: {op: memformer_encoder, input: x, num_layers: 1, nhead: 2, dim_feedforward: 16,\n"
      "        num_slots: 4, segment: 3}\n");
  const ir_node *s = the_scan(g);
  assert_int_equal(ir_attr_int(s, "chunk"), 3);
  int transposes = count_op(s->body, IR_OP_TRANSPOSE), matmuls = count_op(s->body, IR_OP_MATMUL);
  int nover = (int)ir_attr_int(s, "nover");
  assert_true(transposes >= 4);
  int64_t syms[] = {2, 9};
  assert_true(check_pass_numbers(g, pass_hoist, "hoist", syms, 1));
  s = the_scan(g);
  assert_true(count_op(s->body, IR_OP_TRANSPOSE) < transposes);
  for (int i = 0; i < s->body->nnodes; i++) { /* none left that reads captures only */
    const ir_node *m = &s->body->nodes[i];
    if (m->dead || m->op != IR_OP_TRANSPOSE) continue;
    const ir_value *in = &s->body->values[m->inputs[0]];
    assert_int_equal(in->kind, IR_VAL_NODE);
  }
  assert_int_equal(count_op(s->body, IR_OP_MATMUL), matmuls); /* the segment's work stays */
  assert_int_equal(ir_attr_int(s, "nover"), nover);
  assert_false(run_pass(g, pass_hoist, "hoist"));
  ir_graph_free(g);
}

static void lstm_input_gemm(void **state) {
  (void)state;
  ir_graph *g = prepared(
      "seqc: 1\nname: m\ndims: {B: 3, T: 4}\n"
      "inputs:\n  x: {dtype: f32, shape: [B, T, 5]}\n"
      "outputs: [l, l.h_n, l.c_n]\nnodes:\n"
      "  l: {op: lstm, input: x, hidden_size: 6, num_layers: 2}\n");
  int64_t syms[] = {3, 4};
  assert_true(check_pass_numbers(g, pass_hoist, "hoist", syms, 1));
  /* every layer's scan keeps exactly its recurrent matmul */
  int scans = 0;
  for (int i = 0; i < g->nnodes; i++) {
    if (g->nodes[i].op != IR_OP_SCAN) continue;
    scans++;
    assert_int_equal(count_op(g->nodes[i].body, IR_OP_MATMUL), 1);
  }
  assert_int_equal(scans, 2);
  ir_graph_free(g);
}

/*
 * A slice of the projection leaves the loop only with a reader that leaves
 * too: a GRU's gate slices are read by the state's arithmetic, so they stay
 * (views of the step's row, not copies of the whole sequence) and the body
 * reads the projection whole; a slice under a hoisted relu leaves with it.
 */
/* a slice of a captured weight (the query rows of a cross-attention's
 * in_proj) leaves the loop as it is: only slices of step values gain the
 * sequence dim (it used to move to dim 1, slicing the weight's columns) */
static void weight_slices_keep_their_dim(void **state) {
  (void)state;
  ir_graph *g = prepared(
      "seqc: 1\nname: m\ndims: {B: 2, T: 4}\n"
      "inputs:\n  x: {dtype: f32, shape: [B, T, 8]}\n"
      "outputs: [cell, cell.m]\nnodes:\n"
      "  cell:\n    op: scan\n    over: {x: x}\n"
      "    state: {m: {zeros: [B, 3, 8]}}\n    body:\n"
      "      xs: {op: reshape, input: x, shape: [B, 1, 8]}\n"
      "      a:  {op: multihead_attention, input: m, key: xs, num_heads: 2}\n"
      "      mn: {op: add, inputs: [a, m]}\n"
      "    next: {m: mn}\n    emit: [mn]\n");
  int slices = count_op(the_scan(g)->body, IR_OP_SLICE);
  assert_true(slices >= 2);
  int64_t syms[] = {2, 4};
  assert_true(check_pass_numbers(g, pass_hoist, "hoist", syms, 1));
  /* the weight slices left the loop with their dim 0 */
  for (int i = 0; i < g->nnodes; i++)
    if (!g->nodes[i].dead && g->nodes[i].op == IR_OP_SLICE)
      assert_int_equal(ir_attr_int(&g->nodes[i], "dim"), 0);
  assert_true(count_op(g, IR_OP_SLICE) > 0);
  ir_graph_free(g);
}

static void slices_stay_with_readers(void **state) {
  (void)state;
  ir_graph *g = prepared(
      "seqc: 1\nname: m\ndims: {B: 2, T: 4}\n"
      "inputs:\n  x: {dtype: f32, shape: [B, T, 5]}\n"
      "outputs: [g, g.h_n]\nnodes:\n"
      "  g: {op: gru, input: x, hidden_size: 6}\n");
  int64_t syms[] = {2, 4};
  int slices = count_op(the_scan(g)->body, IR_OP_SLICE);
  assert_true(slices >= 3);
  assert_true(check_pass_numbers(g, pass_hoist, "hoist", syms, 1));
  const ir_node *s = the_scan(g);
  assert_int_equal(count_op(s->body, IR_OP_SLICE), slices);
  assert_int_equal(ir_attr_int(s, "nover"), 1);
  const ir_value *over = &g->values[s->inputs[0]];
  assert_int_equal(over->type.dims[2].coef, 18); /* [B, T, 3H] */
  ir_graph_free(g);

  g = prepared(
      "seqc: 1\nname: m\ndims: {B: 2, T: 5}\n"
      "inputs:\n  x: {dtype: f32, shape: [B, T, 6]}\n"
      "outputs: [cell, cell.h]\nnodes:\n"
      "  cell:\n    op: scan\n    over: {x: x}\n"
      "    state: {h: {zeros: [B, 4]}}\n    body:\n"
      "      a:  {op: linear, input: x, out_features: 8}\n"
      "      p:  {op: slice, input: a, dim: 1, start: 2, end: 6}\n"
      "      r:  {op: relu, input: p}\n"
      "      q:  {op: slice, input: a, dim: 1, start: 4, end: 8}\n"
      "      s:  {op: add, inputs: [r, h]}\n"
      "      t:  {op: mul, inputs: [s, q]}\n"
      "    next: {h: t}\n    emit: [t]\n");
  int64_t syms5[] = {2, 5};
  assert_true(check_pass_numbers(g, pass_hoist, "hoist", syms5, 1));
  s = the_scan(g);
  assert_int_equal(count_op(s->body, IR_OP_SLICE), 1); /* q stays, p left with r */
  assert_int_equal(count_op(s->body, IR_OP_RELU), 0);
  assert_int_equal(count_op(g, IR_OP_SLICE), 1);
  ir_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(projection_leaves_the_loop),
      cmocka_unit_test(state_work_stays),
      cmocka_unit_test(lstm_input_gemm),
      cmocka_unit_test(segment_scans_lose_weight_work),
      cmocka_unit_test(slices_stay_with_readers),
      cmocka_unit_test(weight_slices_keep_their_dim),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
