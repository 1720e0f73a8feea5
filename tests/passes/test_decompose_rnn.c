/*
 * test_decompose_rnn.c: decompose turns RNN, LSTM and GRU layers into SCANs
 * (decompose_rnn.c). The interpreter computes the layers directly
 * (ir/eval_rnn.c), so for every variant (tanh / relu, no bias, stacked,
 * bidirectional, proj_size, peephole, given h0 / c0, a long sequence) the
 * numbers before and after must agree; the shape of the expansion (one scan
 * per layer and direction, one matmul per weight, gates as slices, weights
 * transposed once at session start, h_n in PyTorch's order) is checked too,
 * and the later passes keep the numbers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_passes.h"

/* the default dims do not matter: every run binds B and T itself */
#define HEAD             \
  "seqc: 1\n"            \
  "name: m\n"            \
  "dims: {B: 2, T: 7}\n" \
  "inputs:\n"            \
  "  x: {dtype: f32, shape: [B, T, 5]}\n"

/* |a - b| <= tol + tol * |b| everywhere; outputs of both graphs on the same data */
static void same_numbers(const ir_graph *before, const ir_graph *after, const int64_t *syms,
                         double tol) {
  int n = after->noutputs;
  assert_int_equal(before->noutputs, n);
  seqrt_tensor want[8], got[8];
  assert_true(n <= 8);
  for (uint64_t seed = 1; seed <= 2; seed++) {
    rand_data r = {.syms = syms, .seed = seed, .index_limit = 1};
    eval_random(before, &r, want);
    rand_data_free(&r);
    eval_random(after, &r, got);
    rand_data_free(&r);
    for (int i = 0; i < n; i++) {
      assert_string_equal(before->outputs[i].name, after->outputs[i].name);
      assert_int_equal(want[i].rank, got[i].rank);
      for (int d = 0; d < want[i].rank; d++) assert_int_equal(want[i].shape[d], got[i].shape[d]);
      const float *a = got[i].data, *b = want[i].data;
      for (int64_t k = 0; k < seqrt_tensor_numel(&want[i]); k++)
        if (!(fabs(a[k] - b[k]) <= tol + tol * fabs(b[k])))
          fail_msg("output %s[%lld]: %.9g after decompose, %.9g before", after->outputs[i].name,
                   (long long)k, a[k], b[k]);
      free(want[i].data);
      free(got[i].data);
    }
  }
}

/* lowers src, decomposes it and compares with the layer computed directly */
static ir_graph *decomposed(const char *src, const int64_t *syms) {
  ir_graph *g = load_yaml(src);
  ir_graph *before = ir_graph_clone(g);
  assert_true(run_pass(g, pass_decompose, "decompose"));
  assert_int_equal(count_op(g, IR_OP_RNN) + count_op(g, IR_OP_LSTM) + count_op(g, IR_OP_GRU), 0);
  same_numbers(before, g, syms, 2e-5);
  ir_graph_free(before);
  return g;
}

/* the later passes do not change the numbers of the decomposed graph */
static void later_passes(ir_graph *g, const int64_t *syms) {
  check_pass_numbers(g, pass_infer_shapes, "infer_shapes", syms, 1);
  check_pass_numbers(g, pass_simplify, "simplify", syms, 1);
  check_pass_numbers(g, pass_fuse, "fuse", syms, 1);
}

static const int64_t SYMS[] = {2, 7};

/* live SCAN nodes of g, in order */
static int scans(const ir_graph *g, const ir_node **out, int max) {
  int k = 0;
  for (int i = 0; i < g->nnodes; i++)
    if (!g->nodes[i].dead && g->nodes[i].op == IR_OP_SCAN && k < max) out[k++] = &g->nodes[i];
  return k;
}

static void rnn_variants(void **state) {
  (void)state;
  static const char *const nodes[] = {
      "  r: {op: rnn, input: x, hidden_size: 7}\n",
      "  r: {op: rnn, input: x, hidden_size: 3, nonlinearity: relu, bias: false}\n",
      "  r: {op: rnn, input: x, hidden_size: 4, num_layers: 3, bidirectional: true}\n",
  };
  for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
    char src[1024];
    snprintf(src, sizeof src, HEAD "outputs: [r, r.h_n]\nnodes:\n%s", nodes[i]);
    ir_graph *g = decomposed(src, SYMS);
    later_passes(g, SYMS);
    ir_graph_free(g);
  }
}

/* a two-layer bidirectional LSTM: the expansion's shape */
static void lstm_structure(void **state) {
  (void)state;
  ir_graph *g = decomposed(HEAD
                           "outputs: [l, l.h_n, l.c_n]\nnodes:\n"
                           "  l: {op: lstm, input: x, hidden_size: 4, num_layers: 2, "
                           "bidirectional: true}\n",
                           SYMS);
  const ir_node *s[8];
  assert_int_equal(scans(g, s, 8), 4);
  for (int k = 0; k < 4; k++) {
    assert_int_equal(ir_attr_int(s[k], "reverse"), k % 2);
    assert_int_equal(ir_attr_int(s[k], "nstate"), 2);
    assert_int_equal(ir_attr_int(s[k], "chunk"), 1);
    /* one matmul per weight, the four gates as slices of the last dim */
    assert_int_equal(count_op(s[k]->body, IR_OP_MATMUL), 2);
    assert_int_equal(count_op(s[k]->body, IR_OP_SLICE), 4);
    /* the weights enter transposed, by transposes of params only */
    for (int j = 3; j < 5; j++) {
      const ir_value *w = &g->values[s[k]->inputs[j]];
      assert_int_equal(w->kind, IR_VAL_NODE);
      const ir_node *t = &g->nodes[w->def];
      assert_int_equal(t->op, IR_OP_TRANSPOSE);
      assert_int_equal(g->values[t->inputs[0]].kind, IR_VAL_PARAM);
    }
    /* h0 and c0 are selected at l * D + d */
    const ir_node *sel = &g->nodes[g->values[s[k]->inputs[1]].def];
    assert_int_equal(sel->op, IR_OP_SELECT);
    assert_int_equal(ir_attr_int(sel, "index"), k);
  }
  /* layer 1 reads layer 0's two directions, forward first */
  const ir_node *cat = &g->nodes[g->values[s[2]->inputs[0]].def];
  assert_int_equal(cat->op, IR_OP_CONCAT);
  assert_int_equal(ir_attr_int(cat, "dim"), 2);
  assert_int_equal(cat->inputs[0], s[0]->outputs[0]);
  assert_int_equal(cat->inputs[1], s[1]->outputs[0]);
  /* h_n: the final states of l0, l0_reverse, l1, l1_reverse stacked on dim 0 */
  const ir_node *hn = output_node(g, "l.h_n");
  assert_int_equal(hn->op, IR_OP_CONCAT);
  assert_int_equal(ir_attr_int(hn, "dim"), 0);
  for (int k = 0; k < 4; k++) {
    const ir_node *r = &g->nodes[g->values[hn->inputs[k]].def];
    assert_int_equal(r->op, IR_OP_RESHAPE);
    assert_int_equal(r->inputs[0], s[k]->outputs[1]);
  }
  assert_string_equal(g->values[g->outputs[1].value].name, "l.h_n");
  assert_string_equal(g->values[g->outputs[0].value].name, "l");
  later_passes(g, SYMS);

  /* the transposes run once, at session start */
  pass_ctx ctx = {0};
  pass_plan_memory(g, &ctx);
  int prepared = 0;
  for (int i = 0; i < g->nnodes; i++)
    if (!g->nodes[i].dead && g->nodes[i].op == IR_OP_TRANSPOSE) {
      assert_true(g->nodes[i].at_prepare);
      prepared++;
    }
  assert_int_equal(prepared, 8);
  assert_true(ir_verify(g, "plan_memory", stderr));
  ir_graph_free(g);
}

static void lstm_variants(void **state) {
  (void)state;
  static const char *const nodes[] = {
      "  l: {op: lstm, input: x, hidden_size: 5, proj_size: 2, num_layers: 2, "
      "bidirectional: true}\n",
      "  l: {op: lstm, input: x, hidden_size: 3, peephole: true, num_layers: 2, "
      "bidirectional: true}\n",
      "  l: {op: lstm, input: x, hidden_size: 6, bias: false}\n",
  };
  for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
    char src[1024];
    snprintf(src, sizeof src, HEAD "outputs: [l, l.h_n, l.c_n]\nnodes:\n%s", nodes[i]);
    ir_graph *g = decomposed(src, SYMS);
    later_passes(g, SYMS);
    ir_graph_free(g);
  }
}

/* given h0 and c0, and a GRU with h0 */
static void initial_states(void **state) {
  (void)state;
  ir_graph *g = decomposed(HEAD
                           "  h: {dtype: f32, shape: [4, B, 3]}\n"
                           "  c: {dtype: f32, shape: [4, B, 3]}\n"
                           "outputs: [l, l.h_n, l.c_n, g, g.h_n]\nnodes:\n"
                           "  l: {op: lstm, input: x, hidden_size: 3, num_layers: 2, "
                           "bidirectional: true, h0: h, c0: c}\n"
                           "  g: {op: gru, input: l, hidden_size: 3, num_layers: 2, "
                           "bidirectional: true, h0: h}\n",
                           SYMS);
  const ir_node *s[8];
  assert_int_equal(scans(g, s, 8), 8);
  assert_int_equal(count_op(s[4]->body, IR_OP_SLICE), 6); /* r, z, n of both projections */
  later_passes(g, SYMS);
  ir_graph_free(g);
}

static void gru_variants(void **state) {
  (void)state;
  ir_graph *g = decomposed(HEAD
                           "outputs: [g, g.h_n]\nnodes:\n"
                           "  g: {op: gru, input: x, hidden_size: 9}\n",
                           SYMS);
  later_passes(g, SYMS);
  ir_graph_free(g);
}

/* a long sequence: no drift between the direct layer and its scan */
static void long_sequence(void **state) {
  (void)state;
  static const int64_t syms[] = {1, 300};
  ir_graph *g = decomposed(HEAD
                           "outputs: [l, l.c_n]\nnodes:\n"
                           "  l: {op: lstm, input: x, hidden_size: 8}\n",
                           syms);
  ir_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(rnn_variants),  cmocka_unit_test(lstm_structure),
      cmocka_unit_test(lstm_variants), cmocka_unit_test(initial_states),
      cmocka_unit_test(gru_variants),  cmocka_unit_test(long_sequence),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
