/*
 * test_errors.c: every class of model error comes out as exactly the
 * positioned `t.yaml:LINE:COL: error: MESSAGE` line(s) we promise, and the
 * lowering returns no graph.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include "fe_test.h"

/* lines 1-6; a test adds `outputs:` (line 7), `nodes:` (8) and nodes from line 9 */
#define HEAD                              \
  "seqc: 1\n"                             \
  "name: m\n"                             \
  "dims: {B: 2, T: 5}\n"                  \
  "inputs:\n"                             \
  "  x: {dtype: f32, shape: [B, T, 8]}\n" \
  "  tok: {dtype: i32, shape: [B, T]}\n"

static void version(void **state) {
  (void)state;
  expect_error("name: m\nnodes: {}\n", "t.yaml:1:1: error: missing 'seqc: 1'");
  expect_error("name: m\nseqc: 2\n", "t.yaml:2:7: error: unknown language version 2");
  expect_error("seqc: one\n", "t.yaml:1:7: error: unknown language version one");
  expect_error("seqc: [1]\n", "t.yaml:1:7: error: 'seqc' must be the language version, 1");
  expect_error("- seqc: 1\n",
               "t.yaml:1:1: error: a model must be a mapping with seqc, name, dims, inputs, "
               "outputs and nodes");
}

static void name(void **state) {
  (void)state;
  expect_error("seqc: 1\ninputs: {x: {shape: [2]}}\noutputs: [x]\n",
               "t.yaml:1:1: error: missing 'name'");
  expect_error("seqc: 1\nname: 9lives\ninputs: {x: {shape: [2]}}\noutputs: [x]\n",
               "t.yaml:2:7: error: model name '9lives' must match [A-Za-z_][A-Za-z0-9_]*");
  expect_error("seqc: 1\nname: a-b\ninputs: {x: {shape: [2]}}\noutputs: [x]\n",
               "t.yaml:2:7: error: model name 'a-b' must match [A-Za-z_][A-Za-z0-9_]*");
}

static void top_level_keys(void **state) {
  (void)state;
  expect_error(HEAD "outputs: [x]\nweights: w.safetensors\n",
               "t.yaml:8:1: error: unknown key 'weights'");
  expect_diags("seqc: 1\nname: m\n",
               "t.yaml:1:1: error: missing 'inputs'\n"
               "t.yaml:1:1: error: missing 'outputs'\n");
  expect_error(HEAD "outputs: []\n",
               "t.yaml:7:10: error: 'outputs' must be a non-empty list of value names");
  expect_error(HEAD "outputs: x\n",
               "t.yaml:7:10: error: 'outputs' must be a non-empty list of value names");
  expect_error(HEAD "outputs: [x]\nnodes: [a]\n", "t.yaml:8:8: error: 'nodes' must be a mapping");
}

/* position_dim (SPEC 9): a dim of `dims:`, T by default, none without T */
static void position_dim(void **state) {
  (void)state;
  expect_error(HEAD "outputs: [x]\nposition_dim: S\n",
               "t.yaml:8:15: error: position_dim 'S' is not a dim of 'dims'");
  expect_error(HEAD "outputs: [x]\nposition_dim: t\n",
               "t.yaml:8:15: error: position_dim 't' is not a dim of 'dims'; did you mean 'T'?");
  expect_error(HEAD "outputs: [x]\nposition_dim: [T]\n",
               "t.yaml:8:15: error: 'position_dim' must be the name of a dim of 'dims'");
  ir_graph *g = lower_ok(HEAD "outputs: [x, tok]\nposition_dim: B\n");
  assert_int_equal(g->position_sym, ir_graph_find_sym(g, "B"));
  ir_graph_free(g);
  g = lower_ok(HEAD "outputs: [x, tok]\n");
  assert_int_equal(g->position_sym, ir_graph_find_sym(g, "T"));
  ir_graph *c = ir_graph_clone(g);
  assert_int_equal(c->position_sym, g->position_sym);
  ir_graph_free(c);
  ir_graph_free(g);
  g = lower_ok("seqc: 1\nname: m\ndims: {B: 2}\ninputs: {x: {shape: [B]}}\noutputs: [x]\n");
  assert_int_equal(g->position_sym, -1);
  ir_graph_free(g);
}

/* carry (SPEC 9): top-level, forward-only recurrences; the graph streams and
 * writes each carried state back in its last nodes */
static void carry(void **state) {
  (void)state;
  expect_error(HEAD "outputs: [l]\nnodes:\n"
                    "  l: {op: lstm, input: x, hidden_size: 4, bidirectional: true, carry: true}\n",
               "t.yaml:9:71: error: 'l' cannot carry its state with bidirectional: true (a "
               "reverse pass cannot stream)");
  expect_error(HEAD "outputs: [c]\nnodes:\n"
                    "  c: {op: scan, over: {x: x}, reverse: true, carry: true, state: {h: x},"
                    " next: {h: x}, body: {y: {op: relu, input: x}}, emit: [y]}\n",
               "t.yaml:9:53: error: 'c' cannot carry its state with reverse: true (a reverse "
               "pass cannot stream)");
  expect_error(HEAD "outputs: [c]\nnodes:\n"
                    "  c:\n    op: scan\n    over: {x: x}\n    emit: [g]\n"
                    "    body:\n      g: {op: gru, input: x, hidden_size: 4, carry: true}\n",
               "t.yaml:14:53: error: 'g' carries its state, but it is inside a scan body: only "
               "top-level nodes carry");
  expect_error(HEAD "outputs: [g]\nnodes:\n  g: {op: gru, input: x, hidden_size: 4, carry: 2}\n",
               "t.yaml:9:49: error: attribute 'carry' of 'g' must be true or false");
  ir_graph *g = lower_ok(HEAD "outputs: [y, l.h_n, tok]\nnodes:\n"
                              "  l: {op: lstm, input: x, hidden_size: 4, carry: true}\n"
                              "  y: {op: relu, input: l}\n");
  assert_true(g->streams);
  int states = 0, writes = 0;
  for (int v = 0; v < g->nvalues; v++) states += g->values[v].kind == IR_VAL_STATE;
  for (int i = g->nnodes - 2; i < g->nnodes; i++) writes += g->nodes[i].op == IR_OP_STATE_WRITE;
  assert_int_equal(states, 2);
  assert_int_equal(writes, 2);
  ir_graph_free(g);
  g = lower_ok(HEAD "outputs: [l, tok]\nnodes:\n  l: {op: lstm, input: x, hidden_size: 4}\n");
  assert_false(g->streams);
  ir_graph_free(g);
}

/* cache (SPEC 9): causal self-attention, a size that stays, S >= window */
static void cache(void **state) {
  (void)state;
  expect_error(HEAD "outputs: [a]\nnodes:\n"
                    "  a: {op: multihead_attention, input: x, num_heads: 2, cache: 8}\n",
               "t.yaml:9:63: error: 'a' cannot keep a cache: only causal self-attention keeps "
               "its keys (give causal: true)");
  expect_error(HEAD "outputs: [a]\nnodes:\n"
                    "  a: {op: multihead_attention, input: x, num_heads: 2, causal: true,"
                    " window: 4, cache: 2}\n",
               "t.yaml:9:88: error: 'a' cannot keep a cache: a cache of 2 positions cannot hold "
               "a window of 4");
  expect_error(HEAD "outputs: [a]\nnodes:\n"
                    "  a: {op: multihead_attention, input: x, num_heads: 2, causal: true,"
                    " cache: T}\n",
               "t.yaml:9:77: error: 'a' cannot keep a cache: dim T is in the shape of input 'x', "
               "so it changes from run to run; give the cache a dim of its own");
  expect_error(HEAD "outputs: [a]\nnodes:\n"
                    "  a: {op: multihead_attention, input: x, num_heads: 2, causal: true,"
                    " cache: -3}\n",
               "t.yaml:9:77: error: attribute 'cache' of 'a' must be a positive integer or a dim "
               "name");
  expect_error(HEAD "outputs: [a]\nnodes:\n"
                    "  r: {op: relu, input: x}\n"
                    "  a: {op: multihead_attention, input: x, key: r, num_heads: 2,"
                    " causal: true, cache: 4}\n",
               "t.yaml:10:85: error: 'a' cannot keep a cache: only self-attention (no key or "
               "value) keeps its keys");
  expect_error("seqc: 1\nname: m\ndims: {B: 2}\ninputs: {x: {shape: [B], static: maybe}}\n"
               "outputs: [x]\n",
               "t.yaml:4:34: error: 'static' of input 'x' must be true or false");
  ir_graph *g = lower_ok(HEAD "outputs: [d, tok]\nnodes:\n"
                              "  d: {op: transformer_encoder, input: x, num_layers: 2, nhead: 2,"
                              " causal: true, cache: 16}\n");
  assert_true(g->streams);
  int states = 0, writes = 0;
  for (int v = 0; v < g->nvalues; v++) states += g->values[v].kind == IR_VAL_STATE;
  for (int i = 0; i < g->nnodes; i++) writes += g->nodes[i].op == IR_OP_CACHE_WRITE;
  assert_int_equal(states, 4);
  assert_int_equal(writes, 4);
  ir_graph_free(g);
}

static void dims_and_inputs(void **state) {
  (void)state;
  expect_error("seqc: 1\nname: m\ndims: {B: 0}\ninputs: {x: {shape: [B]}}\noutputs: [x]\n",
               "t.yaml:3:11: error: dim 'B' must be a positive integer");
  expect_error("seqc: 1\nname: m\ndims: {B: 2}\ninputs: {x: {shape: [B, T]}}\noutputs: [x]\n",
               "t.yaml:4:25: error: undefined dim 'T'");
  expect_error("seqc: 1\nname: m\ninputs: {x: {dtype: f16, shape: [2]}}\noutputs: [x]\n",
               "t.yaml:3:21: error: dtype of input 'x' must be f32, i32 or i64");
  expect_error("seqc: 1\nname: m\ninputs: {x: {dtype: f32}}\noutputs: [x]\n",
               "t.yaml:3:10: error: input 'x' needs a 'shape'");
  expect_error("seqc: 1\nname: m\ninputs: {x: {shape: [2], layout: nchw}}\noutputs: [x]\n",
               "t.yaml:3:26: error: unknown key 'layout' in input 'x'");
  expect_error("seqc: 1\nname: m\ninputs: {x: {shape: [2, -3]}}\noutputs: [x]\n",
               "t.yaml:3:25: error: shape of input 'x' must list dim names and positive integers");
}

/* a stack's layer count is bounded: a typo's 3333333333333331 layers are an
 * error at the attribute, not a frontend building them forever (a fuzzer's
 * find); the same rule for every stacked op */
static void layer_counts(void **state) {
  (void)state;
  expect_error(HEAD "outputs: [e]\nnodes:\n"
                    "  e: {op: transformer_encoder, input: x, num_layers: 3333333333333331, nhead: 2}\n",
               "t.yaml:9:54: error: attribute 'num_layers' of 'e' must be a layer count from 1 to 256");
  expect_error(HEAD "outputs: [t]\nnodes:\n"
                    "  t: {op: transformer, src: x, tgt: x, nhead: 2, num_decoder_layers: 257}\n",
               "t.yaml:9:70: error: attribute 'num_decoder_layers' of 't' must be a layer count "
               "from 1 to 256");
  expect_error(HEAD "outputs: [m]\nnodes:\n"
                    "  m: {op: memformer_encoder, input: x, num_layers: 0, nhead: 2, "
                    "dim_feedforward: 8, num_slots: 2, segment: 5}\n",
               "t.yaml:9:52: error: attribute 'num_layers' of 'm' must be a layer count from 1 to 256");
}

static void unknown_node_key(void **state) {
  (void)state;
  expect_error(HEAD
               "outputs: [fc]\nnodes:\n  fc: {op: linear, input: x, out_features: 4, act: relu}\n",
               "t.yaml:9:47: error: unknown attribute 'act' for op 'linear'");
  expect_error(HEAD "outputs: [r]\nnodes:\n  r: {op: relu, inputs: [x]}\n",
               "t.yaml:9:17: error: unknown attribute 'inputs' for op 'relu'; did you mean 'input'?");
}

static void attribute_types(void **state) {
  (void)state;
  expect_error(HEAD "outputs: [fc]\nnodes:\n  fc: {op: linear, input: x, out_features: \"32\"}\n",
               "t.yaml:9:44: error: attribute 'out_features' of 'fc' must be a positive integer");
  expect_error(HEAD "outputs: [fc]\nnodes:\n  fc: {op: linear, input: x, out_features: 0}\n",
               "t.yaml:9:44: error: attribute 'out_features' of 'fc' must be a positive integer");
  expect_error(HEAD "outputs: [fc]\nnodes:\n  fc: {op: linear, input: x, out_features: 2.5}\n",
               "t.yaml:9:44: error: attribute 'out_features' of 'fc' must be a positive integer");
  expect_error(HEAD
               "outputs: [fc]\nnodes:\n  fc: {op: linear, input: x, out_features: 4, bias: yes}\n",
               "t.yaml:9:53: error: attribute 'bias' of 'fc' must be true or false");
  expect_error(HEAD "outputs: [n]\nnodes:\n  n: {op: layer_norm, input: x, eps: small}\n",
               "t.yaml:9:38: error: attribute 'eps' of 'n' must be a number");
  expect_error(HEAD "outputs: [g]\nnodes:\n  g: {op: gelu, input: x, approximate: erf}\n",
               "t.yaml:9:40: error: attribute 'approximate' of 'g' must be none or tanh");
  expect_error(HEAD "outputs: [d]\nnodes:\n  d: {op: dropout, input: x, p: 1}\n",
               "t.yaml:9:33: error: attribute 'p' of 'd' must be a number in [0, 1)");
  expect_error(HEAD "outputs: [s]\nnodes:\n  s: {op: softmax, input: x, dim: last}\n",
               "t.yaml:9:35: error: attribute 'dim' of 's' must be an integer");
  expect_error(HEAD "outputs: [f]\nnodes:\n  f: {op: relu, input: [x]}\n",
               "t.yaml:9:24: error: attribute 'input' of 'f' must be a value name");
  expect_error(HEAD "outputs: [a]\nnodes:\n  a: {op: add, inputs: x}\n",
               "t.yaml:9:24: error: attribute 'inputs' of 'a' must be a list of value names");
  expect_error(HEAD "outputs: [a]\nnodes:\n  a: {op: add, inputs: [x, x, x]}\n",
               "t.yaml:9:24: error: attribute 'inputs' of 'a' must be a list of 2 values");
  expect_error(HEAD
               "outputs: [p]\nnodes:\n  p: {op: positional_encoding, input: x, kind: learned}\n",
               "t.yaml:9:48: error: attribute 'kind' of 'p' must be sinusoidal");
  expect_error(HEAD
               "outputs: [n]\nnodes:\n  n: {op: layer_norm, input: x, elementwise_affine: false}\n",
               "t.yaml:9:53: error: attribute 'elementwise_affine' of 'n': false is not supported");
  expect_error(HEAD
               "outputs: [n]\nnodes:\n  n: {op: layer_norm, input: x, normalized_shape: [5, 8]}\n",
               "t.yaml:9:51: error: attribute 'normalized_shape' of 'n' must be [8], the last dim "
               "of its input [B, T, 8]");
  expect_error(
      HEAD
      "outputs: [e]\nnodes:\n  e: {op: embedding, input: tok, num_embeddings: 4, "
      "embedding_dim: 2, padding_idx: 4}\n",
      "t.yaml:9:84: error: attribute 'padding_idx' of 'e' must be within num_embeddings (4)");
}

static void missing_attributes(void **state) {
  (void)state;
  expect_error(HEAD "outputs: [fc]\nnodes:\n  fc: {op: linear, input: x}\n",
               "t.yaml:9:3: error: missing attribute 'out_features' for op 'linear'");
  expect_error(HEAD "outputs: [r]\nnodes:\n  r: {op: relu}\n",
               "t.yaml:9:3: error: missing attribute 'input' for op 'relu'");
  expect_error(HEAD "outputs: [r]\nnodes:\n  r: {input: x}\n",
               "t.yaml:9:3: error: node 'r' has no 'op'");
  expect_error(HEAD "outputs: [r]\nnodes:\n  r: relu\n",
               "t.yaml:9:6: error: node 'r' must be a mapping with an 'op'");
}

static void ops(void **state) {
  (void)state;
  expect_error(HEAD "outputs: [y]\nnodes:\n  y: {op: lstmm, input: x}\n",
               "t.yaml:9:11: error: unknown op 'lstmm'; did you mean 'lstm'?");
  expect_error(HEAD "outputs: [y]\nnodes:\n  y: {op: copy, input: x}\n",
               "t.yaml:9:11: error: unknown op 'copy'");
  /* every SPEC op is lowered now: a layer op rejects a key of another layer */
  static const char *const layers[] = {"multihead_attention", "transformer_encoder_layer",
                                       "transformer_decoder_layer", "transformer_encoder",
                                       "transformer_decoder", "conv1d"};
  for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
    char src[512], want[256];
    snprintf(src, sizeof src,
             HEAD "outputs: [y]\nnodes:\n  y: {op: %s, input: x, hidden_size: 4}\n", layers[i]);
    snprintf(want, sizeof want, "t.yaml:9:%d: error: unknown attribute 'hidden_size' for op '%s'",
             23 + (int)strlen(layers[i]), layers[i]);
    expect_error(src, want);
  }
}

/* a name one or two edits (or only case) away from a known one is offered */
static void did_you_mean(void **state) {
  (void)state;
  expect_error(HEAD "outputs: [y]\nnodes:\n  y: {op: LSTM, input: x, hidden_size: 4}\n",
               "t.yaml:9:11: error: unknown op 'LSTM'; did you mean 'lstm'?");
  expect_error(HEAD "outputs: [y]\nnodes:\n  y: {op: layernorm, input: x}\n",
               "t.yaml:9:11: error: unknown op 'layernorm'; did you mean 'layer_norm'?");
  expect_error(HEAD "outputs: [y]\nnodes:\n  y: {op: multihead_atention, input: x}\n",
               "t.yaml:9:11: error: unknown op 'multihead_atention'; did you mean "
               "'multihead_attention'?");
  expect_error(HEAD "outputs: [y]\nnodes:\n  y: {op: linear, input: x, out_feature: 4}\n",
               "t.yaml:9:29: error: unknown attribute 'out_feature' for op 'linear'; did you "
               "mean 'out_features'?");
  expect_error(HEAD "outputs: [y]\nnodes:\n  y: {op: lstm, input: x, hiden_size: 4}\n",
               "t.yaml:9:27: error: unknown attribute 'hiden_size' for op 'lstm'; did you mean "
               "'hidden_size'?");
  expect_error(HEAD "outputs: [x]\nnode:\n  y: {op: relu, input: x}\n",
               "t.yaml:8:1: error: unknown key 'node'; did you mean 'nodes'?");
  expect_error(HEAD "outputs: [x]\nDims: {B: 2}\n",
               "t.yaml:8:1: error: unknown key 'Dims'; did you mean 'dims'?");
  expect_error("seqc: 1\nname: m\ninputs: {x: {shape: [2], dtyp: f32}}\noutputs: [x]\n",
               "t.yaml:3:26: error: unknown key 'dtyp' in input 'x'; did you mean 'dtype'?");
  /* nothing close: no suggestion */
  expect_error(HEAD "outputs: [y]\nnodes:\n  y: {op: frobnicate, input: x}\n",
               "t.yaml:9:11: error: unknown op 'frobnicate'");
  expect_error(HEAD "outputs: [y]\nnodes:\n  y: {op: relu, input: x, p: 1}\n",
               "t.yaml:9:27: error: unknown attribute 'p' for op 'relu'");
}

/* a `next:` value of another shape than its state is reported at the entry */
/* memformer_encoder: the segment must divide a known T; heads divide d_model;
 * a positive write temperature; carry only at the top */
static void memformer(void **state) {
  (void)state;
  const char *mf = "  mf: {op: memformer_encoder, input: x, num_layers: 1, nhead: 2, "
                   "dim_feedforward: 8, num_slots: 2, ";
  char yaml[1024];
  snprintf(yaml, sizeof yaml,
           "seqc: 1\nname: m\ninputs:\n  x: {dtype: f32, shape: [2, 5, 8]}\n"
           "outputs: [mf]\nnodes:\n%ssegment: 2}\n", mf);
  expect_error(yaml, "t.yaml:7:109: error: memformer_encoder 'mf': segment 2 does not divide "
                     "the sequence length 5");
  snprintf(yaml, sizeof yaml, HEAD "outputs: [mf, tok]\nnodes:\n%ssegment: 5, nhead: 3}\n",
           "  mf: {op: memformer_encoder, input: x, num_layers: 1, dim_feedforward: 8, "
           "num_slots: 2, ");
  expect_error(yaml, "t.yaml:9:109: error: memformer_encoder 'mf': d_model 8 is not divisible "
                     "by nhead 3");
  snprintf(yaml, sizeof yaml, HEAD "outputs: [mf, tok]\nnodes:\n%ssegment: 5, write_temperature: 0}\n",
           mf);
  expect_error(yaml, "t.yaml:9:131: error: attribute 'write_temperature' of 'mf' must be "
                     "positive, got 0");
  snprintf(yaml, sizeof yaml, HEAD "outputs: [mf, tok]\nnodes:\n%ssegment: 5, memory: 3}\n", mf);
  expect_error(yaml, "t.yaml:9:112: error: unknown attribute 'memory' for op 'memformer_encoder'");
  snprintf(yaml, sizeof yaml,
           HEAD "outputs: [mf, tok]\nnodes:\n"
                "  mf: {op: memformer_encoder, input: tok, num_layers: 1, nhead: 2, "
                "dim_feedforward: 8, num_slots: 2, segment: 5}\n");
  expect_error(yaml, "t.yaml:9:3: error: memformer_encoder 'mf': expected input of f32 "
                     "[B, T, d_model] with a constant d_model, got i32 [B, T]");
}

/* transformer_xl: same_length needs a memory; d_model even; the segment divides a known T */
static void transformer_xl(void **state) {
  (void)state;
  const char *xl = "  xl: {op: transformer_xl, input: x, num_layers: 1, n_head: 2, d_head: 4, "
                   "d_inner: 8, ";
  char yaml[1024];
  snprintf(yaml, sizeof yaml, HEAD "outputs: [xl, tok]\nnodes:\n%smem_len: 0, segment: 5, "
           "same_length: true}\n", xl);
  expect_error(yaml, "t.yaml:9:124: error: transformer_xl 'xl': same_length needs a memory "
                     "(mem_len is 0)");
  snprintf(yaml, sizeof yaml,
           "seqc: 1\nname: m\ninputs:\n  x: {dtype: f32, shape: [2, 5, 8]}\n"
           "outputs: [xl]\nnodes:\n%smem_len: 3, segment: 2}\n", xl);
  expect_error(yaml, "t.yaml:7:108: error: transformer_xl 'xl': segment 2 does not divide the "
                     "sequence length 5");
  snprintf(yaml, sizeof yaml,
           "seqc: 1\nname: m\ninputs:\n  x: {dtype: f32, shape: [2, 5, 7]}\n"
           "outputs: [xl]\nnodes:\n%smem_len: 3, segment: 5}\n", xl);
  expect_error(yaml, "t.yaml:7:3: error: transformer_xl 'xl': d_model 7 must be even (half sines, "
                     "half cosines)");
  snprintf(yaml, sizeof yaml, HEAD "outputs: [xl, tok]\nnodes:\n%ssegment: 5}\n", xl);
  expect_error(yaml, "t.yaml:9:3: error: missing attribute 'mem_len' for op 'transformer_xl'");
}

/* t5_encoder / t5_decoder: the feed-forward kind, the bucket attributes, the memory */
static void t5_stacks(void **state) {
  (void)state;
  const char *enc = "  e: {op: t5_encoder, input: x, num_layers: 1, num_heads: 2, d_kv: 3, "
                    "d_ff: 8, ";
  char yaml[1024];
  snprintf(yaml, sizeof yaml, HEAD "outputs: [e, tok]\nnodes:\n%sfeed_forward_proj: gelu}\n",
           enc);
  expect_error(yaml, "t.yaml:9:99: error: attribute 'feed_forward_proj' of 'e' must be relu or "
                     "gated-gelu");
  snprintf(yaml, sizeof yaml,
           HEAD "outputs: [e, tok]\nnodes:\n%srelative_attention_num_buckets: 3}\n", enc);
  expect_error(yaml, "t.yaml:9:112: error: t5_encoder 'e': 3 buckets: at least 4 are needed");
  /* N = 8: 4 buckets each way, 2 of them exact; the max distance must pass them */
  snprintf(yaml, sizeof yaml,
           HEAD "outputs: [e, tok]\nnodes:\n%srelative_attention_num_buckets: 8, "
                "relative_attention_max_distance: 2}\n",
           enc);
  expect_error(yaml, "t.yaml:9:148: error: t5_encoder 'e': max distance 2 must exceed the 2 "
                     "exactly bucketed distances");
  snprintf(yaml, sizeof yaml, HEAD "outputs: [e, tok]\nnodes:\n%scache: 8}\n", enc);
  expect_error(yaml, "t.yaml:9:80: error: unknown attribute 'cache' for op 't5_encoder'");
  snprintf(yaml, sizeof yaml,
           HEAD "outputs: [d, tok]\nnodes:\n"
                "  d: {op: t5_decoder, input: x, memory: tok, num_layers: 1, num_heads: 2, "
                "d_kv: 3, d_ff: 8}\n");
  expect_error(yaml, "t.yaml:9:41: error: t5_decoder 'd': expected memory of f32 [B, S, 8] (the "
                     "encoder's output), got i32 [B, T]");
  snprintf(yaml, sizeof yaml,
           HEAD "outputs: [d, tok]\nnodes:\n"
                "  d: {op: t5_decoder, input: x, num_layers: 1, num_heads: 2, d_kv: 3, d_ff: 8}\n");
  expect_error(yaml, "t.yaml:9:3: error: missing attribute 'memory' for op 't5_decoder'");
}

static void scan_next_position(void **state) {
  (void)state;
  expect_error(HEAD
               "outputs: [c]\nnodes:\n"
               "  c:\n"                                /* 9 */
               "    op: scan\n"                        /* 10 */
               "    over: {x: x}\n"                    /* 11 */
               "    state: {h: {zeros: [B, 16]}}\n"    /* 12 */
               "    body:\n"                           /* 13 */
               "      a: {op: linear, input: x, out_features: 8}\n" /* 14 */
               "      b: {op: tanh, input: a}\n"       /* 15 */
               "    emit: [b]\n"                       /* 16 */
               "    next:\n"                           /* 17 */
               "      h: b\n",                         /* 18 */
               "t.yaml:18:10: error: scan 'c': next value of state 'h' is f32 [B, 8], but the "
               "state is f32 [B, 16]");
  /* the same with a state that starts from a value */
  expect_error(HEAD
               "outputs: [c]\nnodes:\n"
               "  h0: {op: mean, input: x, dim: 1}\n"  /* 9: [B, 8] */
               "  c: {op: scan, over: {x: x}, state: {h: h0}, emit: [s],\n"
               "      body: {s: {op: sum_not, input: x}}, next: {h: x}}\n",
               "t.yaml:11:22: error: unknown op 'sum_not'");
  expect_error(HEAD
               "outputs: [c]\nnodes:\n"
               "  h0: {op: mean, input: x, dim: 1}\n"
               "  c: {op: scan, over: {x: tok}, state: {h: h0}, emit: [s],\n"
               "      body: {s: {op: mul, inputs: [h, 2]}}, next: {h: x}}\n",
               "t.yaml:11:55: error: scan 'c': next value of state 'h' is i32 [B], but the "
               "state is f32 [B, 8]");
}

static void references(void **state) {
  (void)state;
  expect_error(HEAD "outputs: [y]\nnodes:\n  y: {op: relu, input: foo}\n",
               "t.yaml:9:24: error: undefined value 'foo'");
  expect_error(HEAD "outputs: [b]\nnodes:\n  a: {op: relu, input: b}\n  b: {op: relu, input: a}\n",
               "t.yaml:9:24: error: 'b' is defined below 'a': a node may use only values "
               "defined above it");
  expect_error(HEAD "outputs: [a]\nnodes:\n  a: {op: add, inputs: [x, a]}\n",
               "t.yaml:9:28: error: 'a' reads itself: a node may use only values defined above it");
  expect_error(HEAD "outputs: [fc1.h_n]\nnodes:\n  fc1: {op: linear, input: x, out_features: 4}\n",
               "t.yaml:7:11: error: 'fc1' has no output 'h_n'");
  expect_error(HEAD "outputs: [y]\nnodes:\n  y: {op: relu, input: x.c_n}\n",
               "t.yaml:9:24: error: 'x' has no output 'c_n'");
  expect_error(HEAD "outputs: [nope]\n", "t.yaml:7:11: error: undefined value 'nope'");
  expect_error(HEAD "outputs: [x, tok, x]\n", "t.yaml:7:19: error: output 'x' is listed twice");
  expect_error(HEAD "outputs: [x]\nnodes:\n  tok: {op: relu, input: x}\n",
               "t.yaml:9:3: error: 'tok' is already an input");
  expect_error(HEAD "outputs: [x]\nnodes:\n  a.b: {op: relu, input: x}\n",
               "t.yaml:9:3: error: node name 'a.b' must match [A-Za-z_][A-Za-z0-9_]*");
}

static void shapes(void **state) {
  (void)state;
  expect_error(HEAD
               "outputs: [s]\nnodes:\n  f: {op: linear, input: x, out_features: 16}\n"
               "  s: {op: add, inputs: [x, f]}\n",
               "t.yaml:10:3: error: add 's': shapes [B, T, 8] and [B, T, 16] do not broadcast");
  expect_error(HEAD
               "outputs: [m]\nnodes:\n  t: {op: slice, input: x, dim: 2, end: 3}\n"
               "  m: {op: matmul, inputs: [x, t]}\n",
               "t.yaml:10:3: error: matmul 'm': inner dims differ: [B, T, 8] @ [B, T, 3]");
  expect_error(
      HEAD "outputs: [fc]\nnodes:\n  fc: {op: linear, input: x, out_features: 4, in_features: 6}\n",
      "t.yaml:9:60: error: attribute 'in_features' of 'fc' is 6, but its input [B, T, 8] "
      "has 8 features");
  expect_error(HEAD
               "outputs: [fc]\nnodes:\n  t: {op: transpose, input: x, dims: [0, 2, 1]}\n"
               "  fc: {op: linear, input: t, out_features: 4}\n",
               "t.yaml:10:3: error: linear 'fc': the last dim of [B, 8, T] (T) sizes a parameter, "
               "so it must be a constant");
  expect_error(HEAD "outputs: [r]\nnodes:\n  r: {op: reshape, input: x, shape: [-1, B, -1]}\n",
               "t.yaml:9:45: error: attribute 'shape' of 'r' may hold only one -1");
  expect_error(HEAD "outputs: [r]\nnodes:\n  r: {op: reshape, input: x, shape: [B, T, 9]}\n",
               "t.yaml:9:3: error: reshape 'r': cannot reshape [B, T, 8] to [B, T, 9]: the element "
               "counts differ");
  expect_error(HEAD "outputs: [r]\nnodes:\n  r: {op: reshape, input: x, shape: [B, -1, 3]}\n",
               "t.yaml:9:41: error: reshape 'r': cannot infer -1: the 8*B*T elements of [B, T, 8] "
               "are not a multiple of 3*B");
  expect_error(HEAD "outputs: [r]\nnodes:\n  r: {op: reshape, input: x, shape: [B, Q]}\n",
               "t.yaml:9:41: error: undefined dim 'Q'");
  expect_error(HEAD "outputs: [t]\nnodes:\n  t: {op: transpose, input: x, dims: [0, 0, 1]}\n",
               "t.yaml:9:38: error: attribute 'dims' of 't' must be a permutation of the 3 dims "
               "of [B, T, 8]");
  expect_error(HEAD "outputs: [t]\nnodes:\n  t: {op: transpose, input: x, dims: [1, 0]}\n",
               "t.yaml:9:38: error: attribute 'dims' of 't' must be a permutation of the 3 dims "
               "of [B, T, 8]");
  expect_error(HEAD "outputs: [s]\nnodes:\n  s: {op: select, input: x, dim: 3, index: 0}\n",
               "t.yaml:9:34: error: attribute 'dim' of 's': dim 3 is out of range for [B, T, 8]");
  expect_error(HEAD "outputs: [s]\nnodes:\n  s: {op: select, input: x, dim: -4, index: 0}\n",
               "t.yaml:9:34: error: attribute 'dim' of 's': dim -4 is out of range for [B, T, 8]");
  expect_error(HEAD "outputs: [s]\nnodes:\n  s: {op: select, input: x, dim: 2, index: 8}\n",
               "t.yaml:9:3: error: select 's': index 8 is out of range for dim 2 of [B, T, 8]");
  expect_error(HEAD "outputs: [s]\nnodes:\n  s: {op: slice, input: x, dim: 1, start: 1}\n",
               "t.yaml:9:3: error: slice 's': the length of [1:] along dim 1 of [B, T, 8] depends "
               "on T; slice a constant dim or give a fixed-size range");
  expect_error(
      HEAD "outputs: [c]\nnodes:\n  c: {op: concat, inputs: [x, tok], dim: 1}\n",
      "t.yaml:9:3: error: concat 'c': inputs f32 [B, T, 8] and i32 [B, T] differ in dtype");
  expect_error(
      HEAD
      "outputs: [c]\nnodes:\n  s: {op: slice, input: x, dim: 2, end: 4}\n"
      "  c: {op: concat, inputs: [x, s], dim: 1}\n",
      "t.yaml:10:3: error: concat 'c': shapes [B, T, 8] and [B, T, 4] differ outside dim 1");
  expect_error(HEAD
               "outputs: [c]\nnodes:\n  s: {op: slice, input: x, dim: 1, end: 2}\n"
               "  c: {op: concat, inputs: [x, s], dim: 1}\n",
               "t.yaml:10:3: error: concat 'c': cannot add T and 2 along dim 1: not a dim");
  expect_error(HEAD
               "outputs: [m]\nnodes:\n  s: {op: select, input: x, dim: 1, index: 0}\n"
               "  v: {op: select, input: s, dim: 1, index: 0}\n"
               "  m: {op: matmul, inputs: [v, s]}\n",
               "t.yaml:11:3: error: matmul 'm': inputs need at least 2 dims, got [B] @ [B, 8]");
  expect_error(HEAD
               "outputs: [p]\nnodes:\n  s: {op: mean, input: x, dim: 1}\n"
               "  v: {op: mean, input: s, dim: 1}\n"
               "  p: {op: positional_encoding, input: v}\n",
               "t.yaml:11:3: error: positional_encoding 'p': expected an input of shape "
               "[..., T, D], got [B]");
}

static void dtypes(void **state) {
  (void)state;
  expect_error(HEAD "outputs: [r]\nnodes:\n  r: {op: relu, input: tok}\n",
               "t.yaml:9:3: error: relu 'r': expected f32, got i32 [B, T]");
  expect_error(HEAD "outputs: [a]\nnodes:\n  a: {op: mul, inputs: [2, tok]}\n",
               "t.yaml:9:3: error: mul 'a': expected f32, got i32 [B, T]");
  expect_error(HEAD
               "outputs: [e]\nnodes:\n  e: {op: embedding, input: x, num_embeddings: 4, "
               "embedding_dim: 2}\n",
               "t.yaml:9:3: error: embedding 'e': expected i32 or i64 indices, got f32 [B, T, 8]");
  expect_error(HEAD "outputs: [fc]\nnodes:\n  fc: {op: linear, input: tok, out_features: 2}\n",
               "t.yaml:9:3: error: linear 'fc': expected f32, got i32 [B, T]");
  expect_error(HEAD "outputs: [n]\nnodes:\n  n: {op: rms_norm, input: tok}\n",
               "t.yaml:9:3: error: rms_norm 'n': expected f32, got i32 [B, T]");
}

/* errors in several nodes are all reported; a node reading a failed one is skipped quietly */
static void keeps_going(void **state) {
  (void)state;
  expect_diags(HEAD
               "outputs: [c, d, e]\nnodes:\n"
               "  a: {op: linear, input: x, out_features: zero}\n" /* 9 */
               "  b: {op: relu, input: a}\n"                       /* skipped */
               "  c: {op: add, inputs: [b, x]}\n"                  /* skipped */
               "  d: {op: tanh, input: tok}\n"                     /* 12 */
               "  e: {op: frob, input: x}\n",                      /* 13 */
               "t.yaml:9:43: error: attribute 'out_features' of 'a' must be a positive integer\n"
               "t.yaml:12:3: error: tanh 'd': expected f32, got i32 [B, T]\n"
               "t.yaml:13:11: error: unknown op 'frob'\n");
  /* a bad input: nodes reading it are skipped */
  expect_diags(
      "seqc: 1\nname: m\ninputs:\n  x: {dtype: f64, shape: [4]}\noutputs: [r]\n"
      "nodes:\n  r: {op: relu, input: x}\n  s: {op: relu, input: y}\n",
      "t.yaml:4:14: error: dtype of input 'x' must be f32, i32 or i64\n"
      "t.yaml:8:24: error: undefined value 'y'\n");
}

static void unused_input_is_a_warning(void **state) {
  (void)state;
  lowered r = lower(HEAD "outputs: [y]\nnodes:\n  y: {op: relu, input: x}\n");
  assert_non_null(r.g);
  assert_int_equal(r.nerrors, 0);
  assert_int_equal(r.nwarnings, 1);
  char *got = message_lines(r.diags);
  assert_string_equal(got, "t.yaml:6:3: warning: input 'tok' is not used\n");
  free(got);
  lowered_free(&r);
}

static void cannot_read(void **state) {
  (void)state;
  char *buf = NULL, *src = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  ir_diags d;
  ir_diags_init(&d, "/nonexistent/m.yaml", NULL, 0, f);
  ir_graph *g = fe_load_model("/nonexistent/m.yaml", &d, &src);
  fclose(f);
  assert_null(g);
  assert_null(src);
  assert_string_equal(buf,
                      "/nonexistent/m.yaml:1:1: error: cannot read /nonexistent/m.yaml: "
                      "No such file or directory\n");
  free(buf);
}

/* key padding masks (SPEC 11): integer [B, S] with S the key length; not with a cache;
 * only on the ops that take one */
#define PAD_HEAD                            \
  "seqc: 1\n"                               \
  "name: m\n"                               \
  "dims: {B: 2, T: 5, S: 3}\n"              \
  "inputs:\n"                               \
  "  x: {dtype: f32, shape: [B, T, 8]}\n"   \
  "  mem: {dtype: f32, shape: [B, S, 8]}\n" \
  "  pad: {dtype: i64, shape: [B, T]}\n"    \
  "  fpad: {dtype: f32, shape: [B, T]}\n"

static void padding_masks(void **state) {
  (void)state;
  expect_error(PAD_HEAD
               "outputs: [a]\nnodes:\n"
               "  a: {op: multihead_attention, input: x, num_heads: 2,"
               " key_padding_mask: fpad}\n",
               "t.yaml:11:74: error: attribute 'key_padding_mask' of 'a': expected an integer (i32 "
               "or i64) mask [B, T] (batch, key length; non-zero = padding), got f32 [B, T]");
  expect_error(PAD_HEAD
               "outputs: [a]\nnodes:\n"
               "  a: {op: multihead_attention, input: x, key: mem, num_heads: 2,"
               " key_padding_mask: pad}\n",
               "t.yaml:11:84: error: attribute 'key_padding_mask' of 'a': expected an integer (i32 "
               "or i64) mask [B, S] (batch, key length; non-zero = padding), got i64 [B, T]");
  expect_error(
      PAD_HEAD
      "outputs: [d]\nnodes:\n"
      "  d: {op: transformer_decoder_layer, input: x, memory: mem, nhead: 2,"
      " memory_key_padding_mask: pad}\n",
      "t.yaml:11:96: error: attribute 'memory_key_padding_mask' of 'd': expected an integer (i32 "
      "or i64) mask [B, S] (batch, key length; non-zero = padding), got i64 [B, T]");
  expect_error(
      PAD_HEAD
      "outputs: [e]\nnodes:\n"
      "  e: {op: transformer_encoder, input: x, num_layers: 1, nhead: 2,"
      " causal: true, cache: 8, src_key_padding_mask: pad}\n",
      "t.yaml:11:113: error: attribute 'src_key_padding_mask' of 'e': a key padding mask cannot go "
      "with a cache (the self-attention's keys include earlier runs' positions); drop one of them");
  expect_error(PAD_HEAD
               "outputs: [l]\nnodes:\n"
               "  l: {op: linear, input: x, out_features: 3, key_padding_mask: pad}\n",
               "t.yaml:11:46: error: unknown attribute 'key_padding_mask' for op 'linear'");
  expect_error(
      PAD_HEAD
      "outputs: [a]\nnodes:\n"
      "  a: {op: multihead_attention, input: x, num_heads: 2,"
      " src_key_padding_mask: pad}\n",
      "t.yaml:11:56: error: unknown attribute 'src_key_padding_mask' for op 'multihead_attention'");
  expect_error(PAD_HEAD
               "outputs: [e]\nnodes:\n"
               "  e: {op: transformer_encoder, input: x, num_layers: 1, nhead: 2,"
               " memory_key_padding_mask: pad}\n",
               "t.yaml:11:67: error: unknown attribute 'memory_key_padding_mask' for op "
               "'transformer_encoder'");
  ir_graph *g = lower_ok(PAD_HEAD
                         "outputs: [t, fpad, mem]\nnodes:\n"
                         "  t: {op: transformer, src: x, tgt: x, nhead: 2,"
                         " num_encoder_layers: 1, num_decoder_layers: 1,"
                         " src_key_padding_mask: pad, tgt_key_padding_mask: pad,"
                         " memory_key_padding_mask: pad}\n");
  ir_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(version),
      cmocka_unit_test(name),
      cmocka_unit_test(position_dim),
      cmocka_unit_test(carry),
      cmocka_unit_test(cache),
      cmocka_unit_test(top_level_keys),
      cmocka_unit_test(dims_and_inputs),
      cmocka_unit_test(layer_counts),
      cmocka_unit_test(unknown_node_key),
      cmocka_unit_test(attribute_types),
      cmocka_unit_test(missing_attributes),
      cmocka_unit_test(ops),
      cmocka_unit_test(did_you_mean),
      cmocka_unit_test(scan_next_position),
      cmocka_unit_test(references),
      cmocka_unit_test(shapes),
      cmocka_unit_test(dtypes),
      cmocka_unit_test(memformer),
      cmocka_unit_test(transformer_xl),
      cmocka_unit_test(t5_stacks),
      cmocka_unit_test(keeps_going),
      cmocka_unit_test(unused_input_is_a_warning),
      cmocka_unit_test(cannot_read),
      cmocka_unit_test(padding_masks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
