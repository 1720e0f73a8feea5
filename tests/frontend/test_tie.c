/*
 * test_tie.c: shared parameters (SPEC 11, `weight: NODE.PARAM` on linear and
 * embedding): a tie reads the owner's parameter value itself (one value, so
 * one buffer and one name), a tie to a tie finds the first owner, and every
 * wrong tie is one positioned error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include "fe_test.h"

/* lines 1-8; nodes from line 9 */
#define HEAD                              \
  "seqc: 1\n"                             \
  "name: m\n"                             \
  "dims: {B: 2, T: 5}\n"                  \
  "inputs:\n"                             \
  "  tok: {dtype: i64, shape: [B, T]}\n"  \
  "  x: {dtype: f32, shape: [B, T, 4]}\n" \
  "outputs: [head, x]\n"                  \
  "nodes:\n"                              \
  "  embed: {op: embedding, input: tok, num_embeddings: 10, embedding_dim: 4}\n" /* 9 */

/* the parameter values of g called name */
static int params_named(const ir_graph *g, const char *name) {
  int n = 0;
  for (int v = 0; v < g->nvalues; v++)
    n += g->values[v].kind == IR_VAL_PARAM && !strcmp(g->values[v].name, name);
  return n;
}

static int count_params(const ir_graph *g) {
  int n = 0;
  for (int v = 0; v < g->nvalues; v++) n += g->values[v].kind == IR_VAL_PARAM;
  return n;
}

/* a GPT's head tied to its embedding reads the embedding's weight value */
static void head_reads_the_embedding(void **state) {
  (void)state;
  ir_graph *g = lower_ok(HEAD
                         "  head: {op: linear, input: embed, out_features: 10, bias: false,\n"
                         "         weight: embed.weight}\n");
  const ir_node *embed = node_named(g, "embed"), *head = node_named(g, "head");
  assert_int_equal(head->inputs[1], embed->inputs[0]);
  assert_int_equal(params_named(g, "embed.weight"), 1);
  assert_int_equal(params_named(g, "head.weight"), 0);
  assert_int_equal(count_params(g), 1);
  assert_string_equal(type_of(g, "head"), "f32 [B, T, 10]");
  ir_graph_free(g);
  /* its bias stays its own */
  g = lower_ok(HEAD "  head: {op: linear, input: embed, out_features: 10, weight: embed.weight}\n");
  assert_int_equal(params_named(g, "head.bias"), 1);
  assert_int_equal(count_params(g), 2);
  ir_graph_free(g);
}

/* a tie to a tie is the first owner; an embedding may share a linear's weight */
static void tie_to_a_tie(void **state) {
  (void)state;
  ir_graph *g = lower_ok(
      "seqc: 1\nname: m\ndims: {B: 2, T: 5}\n"
      "inputs: {tok: {dtype: i32, shape: [B, T]}, x: {dtype: f32, shape: [B, T, 4]}}\n"
      "outputs: [head, e2]\nnodes:\n"
      "  proj: {op: linear, input: x, out_features: 10, bias: false}\n"
      "  mid: {op: linear, input: proj, out_features: 4, bias: false}\n"
      "  head: {op: linear, input: x, out_features: 10, bias: false, weight: proj.weight}\n"
      "  again: {op: linear, input: x, out_features: 10, bias: false, weight: head.weight}\n"
      "  e2: {op: embedding, input: tok, num_embeddings: 10, embedding_dim: 4,\n"
      "       weight: again.weight}\n");
  int w = node_named(g, "proj")->inputs[1];
  assert_int_equal(node_named(g, "head")->inputs[1], w);
  assert_int_equal(node_named(g, "again")->inputs[1], w);
  assert_int_equal(node_named(g, "e2")->inputs[0], w);
  assert_int_equal(count_params(g), 2); /* proj.weight, mid.weight */
  ir_graph_free(g);
}

/* a parameter of a layer op, by its state_dict name with dots */
static void dotted_names(void **state) {
  (void)state;
  ir_graph *g = lower_ok(
      HEAD
      "  enc: {op: transformer_encoder_layer, input: embed, nhead: 2, dim_feedforward: 4}\n"
      "  head: {op: linear, input: enc, out_features: 4, bias: false,\n"
      "         weight: enc.self_attn.out_proj.weight}\n");
  const ir_value *w = &g->values[node_named(g, "head")->inputs[1]];
  assert_string_equal(w->name, "enc.self_attn.out_proj.weight");
  assert_int_equal(params_named(g, "enc.self_attn.out_proj.weight"), 1);
  ir_graph_free(g);
}

/* in a scan body: a body node's parameter, or one of a node above the scan,
 * each entering the body as one capture */
static void in_a_scan_body(void **state) {
  (void)state;
  ir_graph *g = lower_ok(
      HEAD
      "  head:\n" /* 10 */
      "    op: scan\n"
      "    over: {e: embed}\n"
      "    state: {h: {zeros: [B, 4]}}\n"
      "    body:\n"
      "      a: {op: linear, input: e, out_features: 4, bias: false}\n"
      "      b: {op: linear, input: h, out_features: 4, bias: false, weight: a.weight}\n"
      "      c: {op: linear, input: b, out_features: 10, bias: false, weight: embed.weight}\n"
      "      d: {op: add, inputs: [a, b]}\n"
      "    emit: [c]\n"
      "    next: {h: d}\n");
  assert_int_equal(params_named(g, "head.a.weight"), 1);
  assert_int_equal(params_named(g, "head.b.weight"), 0);
  assert_int_equal(params_named(g, "head.c.weight"), 0);
  assert_int_equal(count_params(g), 2); /* embed.weight, head.a.weight */
  const ir_node *scan = node_named(g, "head");
  const ir_graph *b = scan->body;
  const ir_node *a = node_named(b, "a"), *bb = node_named(b, "b"), *c = node_named(b, "c");
  assert_int_equal(bb->inputs[1], a->inputs[1]);
  /* c's weight is the body input that carries embed.weight */
  int k = 0;
  while (b->inputs[k] != c->inputs[1]) k++;
  assert_int_equal(scan->inputs[k], node_named(g, "embed")->inputs[0]);
  ir_graph_free(g);
}

static void bad_ties(void **state) {
  (void)state;
  /* another shape: both shapes, and what sizes the node's */
  expect_error(HEAD "  head: {op: linear, input: x, out_features: 4, weight: embed.weight}\n",
               "t.yaml:10:57: error: 'head' shares 'embed.weight', which is f32 [10, 4], but it "
               "needs f32 [4, 4] (out_features, in_features)");
  expect_error(HEAD
               "  head: {op: embedding, input: tok, num_embeddings: 10, embedding_dim: 5,\n"
               "         weight: embed.weight}\n",
               "t.yaml:11:18: error: 'head' shares 'embed.weight', which is f32 [10, 4], but it "
               "needs f32 [10, 5] (num_embeddings, embedding_dim)");
  /* a parameter that does not exist, with the closest the node has */
  expect_error(HEAD "  head: {op: linear, input: x, out_features: 10, weight: embed.weigth}\n",
               "t.yaml:10:58: error: 'embed' has no parameter 'weigth'; did you mean 'weight'?");
  expect_error(HEAD "  head: {op: linear, input: x, out_features: 10, weight: embed.bias}\n",
               "t.yaml:10:58: error: 'embed' has no parameter 'bias'");
  expect_error(HEAD "  head: {op: linear, input: x, out_features: 10, weight: embd.weight}\n",
               "t.yaml:10:58: error: undefined node 'embd'; did you mean 'embed'?");
  /* a node below, itself, an input, not NODE.PARAM */
  expect_error(HEAD
               "  head: {op: linear, input: x, out_features: 10, weight: late.weight}\n"
               "  late: {op: linear, input: x, out_features: 10}\n",
               "t.yaml:10:58: error: 'late' is defined below 'head': a node may share only "
               "parameters of nodes above it");
  expect_error(HEAD "  head: {op: linear, input: x, out_features: 10, weight: head.weight}\n",
               "t.yaml:10:58: error: 'head' ties its weight to itself");
  expect_error(HEAD "  head: {op: linear, input: x, out_features: 10, weight: x.weight}\n",
               "t.yaml:10:58: error: 'x' is an input: only a node has parameters to share");
  expect_error(HEAD "  head: {op: linear, input: x, out_features: 10, weight: embed}\n",
               "t.yaml:10:58: error: attribute 'weight' of 'head' must name a parameter of a "
               "node above it, NODE.PARAM (e.g. embed.weight)");
  /* in a scan body: the scan around it, a body node below */
  expect_error(HEAD
               "  head: {op: scan, over: {e: embed}, emit: [a],\n"
               "         body: {a: {op: linear, input: e, out_features: 4, weight: head.a}}}\n",
               "t.yaml:11:68: error: 'head' is the scan around 'a': a node may share only "
               "parameters of nodes above it");
  expect_error(HEAD
               "  head: {op: scan, over: {e: embed}, emit: [a],\n"
               "         body: {a: {op: linear, input: e, out_features: 4, weight: b.weight},\n"
               "                b: {op: linear, input: e, out_features: 4}}}\n",
               "t.yaml:11:68: error: 'b' is defined below 'a': a node may share only "
               "parameters of nodes above it");
  /* an op that has no `weight` */
  expect_error(HEAD "  head: {op: layer_norm, input: x, weight: embed.weight}\n",
               "t.yaml:10:36: error: unknown attribute 'weight' for op 'layer_norm'");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(head_reads_the_embedding),
      cmocka_unit_test(tie_to_a_tie),
      cmocka_unit_test(dotted_names),
      cmocka_unit_test(in_a_scan_body),
      cmocka_unit_test(bad_ties),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
