/*
 * test_pair_scans.c: pair_scans puts the two directions of a bidirectional
 * layer next to each other with pair=1 on the first, moving before them what
 * the second needs; it leaves alone scans that depend on each other or run
 * other steps. The graph stays verifiable and computes the same numbers, and
 * plan_memory gives the pair one step.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_passes.h"

static ir_graph *prepared(const char *yaml) {
  ir_graph *g = load_yaml(yaml);
  run_pass(g, pass_decompose, "decompose");
  run_pass(g, pass_infer_shapes, "infer_shapes");
  run_pass(g, pass_simplify, "simplify");
  run_pass(g, pass_hoist, "hoist");
  run_pass(g, pass_fuse, "fuse");
  return g;
}

/* indices of the live scans, in order; their count */
static int scans(const ir_graph *g, int *at) {
  int n = 0;
  for (int i = 0; i < g->nnodes; i++)
    if (!g->nodes[i].dead && g->nodes[i].op == IR_OP_SCAN) at[n++] = i;
  return n;
}

static bool paired(const ir_graph *g, int i) {
  const ir_attr *a = ir_get_attr(&g->nodes[i], "pair");
  return a && a->i == 1;
}

/* the next live node after i */
static int next_live(const ir_graph *g, int i) {
  do i++;
  while (i < g->nnodes && g->nodes[i].dead);
  return i;
}

static const char *bidir =
    "seqc: 1\nname: m\ndims: {B: 2, T: 7}\n"
    "inputs:\n  x: {dtype: f32, shape: [B, T, 4]}\n"
    "outputs: [l, l.h_n]\nnodes:\n"
    "  l: {op: lstm, input: x, hidden_size: 5, num_layers: 2, bidirectional: true}\n";

static void bidirectional_layers_pair(void **state) {
  (void)state;
  ir_graph *g = prepared(bidir);
  int at[8];
  assert_int_equal(scans(g, at), 4);
  /* before: the reverse scan's projection sits between the two */
  assert_true(next_live(g, at[0]) < at[1] && next_live(g, at[0]) != at[1]);
  int64_t syms[] = {2, 7};
  assert_true(check_pass_numbers(g, pass_pair_scans, "pair_scans", syms, 1));
  assert_int_equal(scans(g, at), 4);
  /* layer 0 forward + reverse, layer 1 forward + reverse */
  assert_true(paired(g, at[0]));
  assert_int_equal(next_live(g, at[0]), at[1]);
  assert_false(paired(g, at[1]));
  assert_true(paired(g, at[2]));
  assert_int_equal(next_live(g, at[2]), at[3]);
  assert_int_equal(ir_attr_int(&g->nodes[at[0]], "reverse"), 0);
  assert_int_equal(ir_attr_int(&g->nodes[at[1]], "reverse"), 1);
  assert_false(run_pass(g, pass_pair_scans, "pair_scans")); /* already so */

  /* plan_memory: the pair shares one step, so its memory is live at once */
  run_pass(g, pass_plan_memory, "plan_memory");
  scans(g, at);
  int fwd = g->values[g->nodes[at[0]].outputs[0]].buffer;
  int rev = g->values[g->nodes[at[1]].outputs[0]].buffer;
  int fwd_in = g->values[g->nodes[at[0]].inputs[0]].buffer;
  assert_int_equal(g->buffers[fwd].first, g->buffers[rev].first);
  assert_true(g->buffers[fwd_in].last >= g->buffers[rev].first);
  ir_graph_free(g);
}

/* stacked one-way layers: the second reads the first, no pair */
static void dependent_scans_stay(void **state) {
  (void)state;
  ir_graph *g = prepared(
      "seqc: 1\nname: m\ndims: {B: 2, T: 7}\n"
      "inputs:\n  x: {dtype: f32, shape: [B, T, 4]}\n"
      "outputs: [l]\nnodes:\n"
      "  l: {op: gru, input: x, hidden_size: 5, num_layers: 3}\n");
  assert_false(run_pass(g, pass_pair_scans, "pair_scans"));
  int at[8];
  assert_int_equal(scans(g, at), 3);
  for (int k = 0; k < 3; k++) assert_false(paired(g, at[k]));
  ir_graph_free(g);
}

/* independent scans of other lengths, or other chunks, do not pair */
static void other_steps_stay(void **state) {
  (void)state;
  ir_graph *g = prepared(
      "seqc: 1\nname: m\ndims: {B: 2, S: 4}\n"
      "inputs:\n  x: {dtype: f32, shape: [B, 6, 4]}\n  y: {dtype: f32, shape: [B, S, 4]}\n"
      "outputs: [a, b, c]\nnodes:\n"
      "  a: {op: rnn, input: x, hidden_size: 3}\n"
      "  b: {op: rnn, input: y, hidden_size: 3}\n"
      "  c:\n    op: scan\n    over: {u: x}\n    chunk: 2\n"
      "    state: {h: {zeros: [B, 4]}}\n"
      "    body:\n      m: {op: mean, input: u, dim: 1}\n      s: {op: add, inputs: [m, h]}\n"
      "    next: {h: s}\n    emit: [s]\n");
  assert_false(run_pass(g, pass_pair_scans, "pair_scans"));
  ir_graph_free(g);
}

/* the verifier refuses a pair=1 that does not hold */
static void verifier_checks_pairs(void **state) {
  (void)state;
  ir_graph *g = prepared(
      "seqc: 1\nname: m\ndims: {B: 2, T: 7}\n"
      "inputs:\n  x: {dtype: f32, shape: [B, T, 4]}\n"
      "outputs: [l]\nnodes:\n"
      "  l: {op: rnn, input: x, hidden_size: 5, num_layers: 2}\n");
  int at[8];
  assert_int_equal(scans(g, at), 2);
  ir_set_attr_int(g, at[1], "pair", 1); /* the last scan: no scan follows */
  FILE *sink = tmpfile();
  assert_non_null(sink);
  assert_false(ir_verify(g, "test", sink));
  ir_set_attr_int(g, at[1], "pair", 0);
  assert_true(ir_verify(g, "test", sink));
  fclose(sink);
  ir_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(bidirectional_layers_pair),
      cmocka_unit_test(dependent_scans_stay),
      cmocka_unit_test(other_steps_stay),
      cmocka_unit_test(verifier_checks_pairs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
