/*
 * test_transformer.c: lowering of multihead_attention and the Transformer
 * layers: PyTorch's parameter names and shapes under the node, the result
 * types, the attention nodes' masks, and the user errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fe_test.h"

#define HEAD                                        \
  "seqc: 1\nname: m\ndims: {B: 2, T: 7, S: 5}\n"    \
  "inputs:\n  x: {dtype: f32, shape: [B, T, 12]}\n" \
  "  mem: {dtype: f32, shape: [B, S, 12]}\n  tok: {dtype: i32, shape: [B, T]}\n"

/* the attentions of g's layer nodes with these causal / window masks: a
 * multihead_attention node's own, a Transformer layer's self-attention and
 * a decoder layer's cross-attention (never masked) */
static int attention_nodes(const ir_graph *g, int causal, int64_t window) {
  int k = 0;
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead || !ir_is_tf_layer(n->op)) continue;
    k += ir_attr_int(n, "causal") == causal && ir_attr_int(n, "window") == window;
    k += n->op == IR_OP_TRANSFORMER_DECODER_LAYER && causal == 0 && window == -1;
  }
  return k;
}

/* live nodes of op */
static int nodes_of(const ir_graph *g, ir_op op) {
  int k = 0;
  for (int i = 0; i < g->nnodes; i++) k += !g->nodes[i].dead && g->nodes[i].op == op;
  return k;
}

/* lowers src without errors (warnings of unused inputs are fine) */
static ir_graph *lower_ok_w(const char *src) {
  lowered r = lower(src);
  if (!r.g || r.nerrors) fprintf(stderr, "for:\n%s\ngot:\n%s\n", src, r.diags);
  assert_non_null(r.g);
  assert_int_equal(r.nerrors, 0);
  free(r.diags);
  return r.g;
}

static int params(const ir_graph *g) {
  int k = 0;
  for (int i = 0; i < g->nvalues; i++) k += g->values[i].kind == IR_VAL_PARAM;
  return k;
}

static void mha_self_and_cross(void **state) {
  (void)state;
  ir_graph *g = lower_ok_w(HEAD
                           "outputs: [a, c, n]\nnodes:\n"
                           "  a: {op: multihead_attention, input: x, num_heads: 3, "
                           "causal: true, window: 2}\n"
                           "  c: {op: multihead_attention, input: x, key: mem, num_heads: 4, "
                           "embed_dim: 12, kdim: 12}\n"
                           "  n: {op: multihead_attention, input: x, num_heads: 1, bias: false}\n");
  assert_string_equal(type_of(g, "a"), "f32 [B, T, 12]");
  assert_string_equal(type_of(g, "c"), "f32 [B, T, 12]");
  assert_string_equal(type_of(g, "a.in_proj_weight"), "f32 [36, 12]");
  assert_string_equal(type_of(g, "a.in_proj_bias"), "f32 [36]");
  assert_string_equal(type_of(g, "a.out_proj.weight"), "f32 [12, 12]");
  assert_string_equal(type_of(g, "a.out_proj.bias"), "f32 [12]");
  assert_string_equal(type_of(g, "c.in_proj_weight"), "f32 [36, 12]");
  assert_string_equal(type_of(g, "n.in_proj_weight"), "f32 [36, 12]");
  assert_int_equal(params(g), 4 + 4 + 2); /* no biases on n */
  assert_int_equal(attention_nodes(g, 1, 2), 1);
  assert_int_equal(attention_nodes(g, 0, -1), 2);
  /* one layer node each, nothing expanded: decompose does that */
  assert_int_equal(nodes_of(g, IR_OP_MULTIHEAD_ATTENTION), 3);
  assert_int_equal(g->nnodes, 3);
  ir_graph_free(g);
}

static void encoder_layer_params(void **state) {
  (void)state;
  ir_graph *g = lower_ok_w(HEAD
                           "outputs: [e]\nnodes:\n"
                           "  e: {op: transformer_encoder_layer, input: x, nhead: 3, "
                           "dim_feedforward: 20, d_model: 12, norm_first: true, "
                           "activation: gelu, dropout: 0.1, window: 3}\n");
  static const char *const want[][2] = {
      {"e.self_attn.in_proj_weight", "f32 [36, 12]"},
      {"e.self_attn.in_proj_bias", "f32 [36]"},
      {"e.self_attn.out_proj.weight", "f32 [12, 12]"},
      {"e.self_attn.out_proj.bias", "f32 [12]"},
      {"e.linear1.weight", "f32 [20, 12]"},
      {"e.linear1.bias", "f32 [20]"},
      {"e.linear2.weight", "f32 [12, 20]"},
      {"e.linear2.bias", "f32 [12]"},
      {"e.norm1.weight", "f32 [12]"},
      {"e.norm1.bias", "f32 [12]"},
      {"e.norm2.weight", "f32 [12]"},
      {"e.norm2.bias", "f32 [12]"},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    assert_string_equal(type_of(g, want[i][0]), want[i][1]);
  assert_int_equal(params(g), 12);
  assert_string_equal(type_of(g, "e"), "f32 [B, T, 12]");
  assert_int_equal(attention_nodes(g, 0, 3), 1);
  ir_graph_free(g);
}

static void stacks_and_transformer(void **state) {
  (void)state;
  ir_graph *g = lower_ok_w(HEAD
                           "outputs: [d, t]\nnodes:\n"
                           "  d: {op: transformer_decoder, input: x, memory: mem, nhead: 2, "
                           "num_layers: 2, norm: true, dim_feedforward: 8, causal: true}\n"
                           "  t: {op: transformer, src: mem, tgt: x, nhead: 4, "
                           "num_encoder_layers: 1, num_decoder_layers: 2, dim_feedforward: 8, "
                           "causal: true}\n");
  assert_string_equal(type_of(g, "d.layers.1.multihead_attn.in_proj_weight"), "f32 [36, 12]");
  assert_string_equal(type_of(g, "d.layers.0.norm3.bias"), "f32 [12]");
  assert_string_equal(type_of(g, "d.norm.weight"), "f32 [12]");
  assert_string_equal(type_of(g, "t.encoder.layers.0.self_attn.in_proj_weight"), "f32 [36, 12]");
  assert_string_equal(type_of(g, "t.encoder.norm.bias"), "f32 [12]");
  assert_string_equal(type_of(g, "t.decoder.layers.1.linear2.weight"), "f32 [12, 8]");
  assert_string_equal(type_of(g, "t.decoder.norm.weight"), "f32 [12]");
  /* decoder layer: 4 + 4 + 4 + 6 = 18; stack of 2 + norm = 38; transformer:
   * encoder 1 * 12 + 2, decoder 2 * 18 + 2 */
  assert_int_equal(params(g), 38 + 14 + 38);
  /* causal on self-attention of the decoders only: 2 + 2; cross and encoder plain */
  assert_int_equal(attention_nodes(g, 1, -1), 4);
  assert_int_equal(attention_nodes(g, 0, -1), 2 + 1 + 2);
  assert_string_equal(type_of(g, "t"), "f32 [B, T, 12]");
  /* a node per layer, and the final norms as layer_norm */
  assert_int_equal(nodes_of(g, IR_OP_TRANSFORMER_DECODER_LAYER), 2 + 2);
  assert_int_equal(nodes_of(g, IR_OP_TRANSFORMER_ENCODER_LAYER), 1);
  assert_int_equal(nodes_of(g, IR_OP_LAYER_NORM), 3);
  ir_graph_free(g);
}

static void errors(void **state) {
  (void)state;
  expect_error(HEAD
               "outputs: [a]\nnodes:\n  a: {op: multihead_attention, input: x, num_heads: 5}\n",
               "t.yaml:10:53: error: multihead_attention 'a': embed dim 12 is not divisible by "
               "num_heads 5");
  expect_error(HEAD
               "outputs: [a]\nnodes:\n"
               "  a: {op: multihead_attention, input: x, num_heads: 2, embed_dim: 16}\n",
               "t.yaml:10:67: error: attribute 'embed_dim' of 'a' is 16, but its input "
               "[B, T, 12] has 12");
  expect_error(HEAD
               "outputs: [a]\nnodes:\n"
               "  a: {op: multihead_attention, input: x, num_heads: 2, kdim: 6}\n",
               "t.yaml:10:62: error: attribute 'kdim' of 'a' is 6: only kdim equal to embed_dim "
               "(12) is supported");
  expect_error(
      HEAD "outputs: [a]\nnodes:\n  a: {op: multihead_attention, input: tok, num_heads: 2}\n",
      "t.yaml:10:3: error: multihead_attention 'a': expected input of f32 [B, T, embed_dim] "
      "with a constant embed_dim, got i32 [B, T]");
  expect_error(HEAD
               "outputs: [e]\nnodes:\n"
               "  e: {op: transformer_encoder_layer, input: x, nhead: 2, activation: swish}\n",
               "t.yaml:10:70: error: attribute 'activation' of 'e' must be relu or gelu");
  expect_error(HEAD
               "outputs: [e]\nnodes:\n"
               "  e: {op: transformer_encoder_layer, input: x, nhead: 2, batch_first: false}\n",
               "t.yaml:10:71: error: attribute 'batch_first' of 'e': sequence tensors are "
               "batch-first [B, T, E]");
  expect_error(HEAD
               "outputs: [e]\nnodes:\n"
               "  e: {op: transformer_encoder_layer, input: x, nhead: 2, window: -1}\n",
               "t.yaml:10:66: error: attribute 'window' of 'e' must be a non-negative integer");
  expect_error(HEAD
               "outputs: [e]\nnodes:\n"
               "  e: {op: transformer_decoder_layer, input: mem, memory: tok, nhead: 2}\n",
               "t.yaml:10:3: error: transformer_decoder_layer 'e': expected memory of f32 "
               "[B, S, 12], got i32 [B, T]");
  expect_error(HEAD "outputs: [e]\nnodes:\n  e: {op: transformer_encoder, input: x, nhead: 2}\n",
               "t.yaml:10:3: error: missing attribute 'num_layers' for op 'transformer_encoder'");
  expect_error(HEAD "outputs: [e]\nnodes:\n  e: {op: transformer, src: x, tgt: x, heads: 2}\n",
               "t.yaml:10:40: error: unknown attribute 'heads' for op 'transformer'; did you mean "
               "'nhead'?");
}

static void conv1d(void **state) {
  (void)state;
  ir_graph *g = lower_ok_w(HEAD
                           "outputs: [c, s]\nnodes:\n"
                           "  c: {op: conv1d, input: x, out_channels: 4, kernel_size: 3, "
                           "in_channels: 12, padding: 1}\n"
                           "  s: {op: conv1d, input: x, out_channels: 4, kernel_size: 3, "
                           "padding: 1, bias: false}\n");
  assert_string_equal(type_of(g, "c.weight"), "f32 [4, 12, 3]");
  assert_string_equal(type_of(g, "c.bias"), "f32 [4]");
  assert_string_equal(type_of(g, "s"), "f32 [B, T, 4]");
  assert_string_equal(type_of(g, "c"), "f32 [B, T, 4]");
  assert_int_equal(params(g), 3);
  ir_graph_free(g);
  /* a length other than T is a derived dim of T */
  g = lower_ok_w(HEAD "outputs: [c]\nnodes:\n  c: {op: conv1d, input: x, out_channels: 4, "
                      "kernel_size: 3}\n");
  assert_string_equal(type_of(g, "c"), "f32 [B, T-2, 4]");
  ir_graph_free(g);
  expect_error(HEAD
               "outputs: [c]\nnodes:\n  c: {op: conv1d, input: x, out_channels: 4, "
               "kernel_size: 3, padding: 1, groups: 2}\n",
               "t.yaml:10:82: error: attribute 'groups' of 'c': only groups: 1 is supported");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(mha_self_and_cross),
      cmocka_unit_test(encoder_layer_params),
      cmocka_unit_test(stacks_and_transformer),
      cmocka_unit_test(errors),
      cmocka_unit_test(conv1d),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
