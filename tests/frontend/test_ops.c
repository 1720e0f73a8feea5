/*
 * test_ops.c: every op of the language lowers to the IR we expect: the op,
 * its attributes, its parameters (names and shapes), and the inferred type.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include "fe_test.h"

/* lines 1-7; every test lists its outputs and nodes after */
#define HEAD                              \
  "seqc: 1\n"                             \
  "name: ops\n"                           \
  "dims: {B: 2, T: 5}\n"                  \
  "inputs:\n"                             \
  "  x: {dtype: f32, shape: [B, T, 8]}\n" \
  "  tok: {dtype: i32, shape: [B, T]}\n"  \
  "  v: {shape: [8]}\n"

static void type_is(const ir_graph *g, const char *name, const char *want) {
  assert_string_equal(type_of(g, name), want);
}

/* the value feeding input i of node n */
static const ir_value *arg(const ir_graph *g, const ir_node *n, int i) {
  assert_true(i < n->ninputs);
  return &g->values[n->inputs[i]];
}

static void model_structure(void **state) {
  (void)state;
  ir_graph *g = lower_ok(HEAD "outputs: [r, tok, v]\nnodes:\n  r: {op: relu, input: x}\n");
  assert_string_equal(g->name, "ops");
  assert_int_equal(g->nsyms, 2);
  assert_string_equal(g->syms[0].name, "B");
  assert_int_equal(g->syms[0].def_value, 2);
  assert_int_equal(g->syms[1].def_value, 5);
  assert_int_equal(g->syms[1].loc.line, 3);
  assert_int_equal(g->ninputs, 3);
  type_is(g, "x", "f32 [B, T, 8]");
  type_is(g, "tok", "i32 [B, T]");
  type_is(g, "v", "f32 [8]"); /* dtype defaults to f32 */
  assert_int_equal(g->noutputs, 3);
  assert_string_equal(g->outputs[0].name, "r");
  assert_int_equal(g->outputs[0].value, g->nodes[0].outputs[0]);
  assert_string_equal(g->outputs[1].name, "tok");
  assert_int_equal(g->outputs[1].value, g->inputs[1]);
  assert_int_equal(g->nnodes, 1);
  assert_int_equal(g->nodes[0].loc.line, 10);
  assert_int_equal(g->nodes[0].loc.col, 3);
  assert_true(ir_verify(g, "frontend", stderr));
  ir_graph_free(g);
  /* no nodes at all: an input is an output */
  g = lower_ok(
      "seqc: 1\nname: id\ninputs: {x: {dtype: i64, shape: [3]}}\noutputs: [x]\nnodes: {}\n");
  assert_int_equal(g->nnodes, 0);
  ir_graph_free(g);
}

static void linear(void **state) {
  (void)state;
  ir_graph *g = lower_ok(HEAD
                         "outputs: [a, b, tok]\nnodes:\n"
                         "  a: {op: linear, input: x, out_features: 32, in_features: 8}\n"
                         "  b: {op: linear, input: a, out_features: 3, bias: false}\n"
                         "  c: {op: linear, input: v, out_features: 2}\n");
  type_is(g, "a", "f32 [B, T, 32]");
  type_is(g, "a.weight", "f32 [32, 8]");
  type_is(g, "a.bias", "f32 [32]");
  type_is(g, "b", "f32 [B, T, 3]");
  type_is(g, "b.weight", "f32 [3, 32]");
  type_is(g, "c", "f32 [2]");
  const ir_node *a = node_named(g, "a"), *b = node_named(g, "b");
  assert_int_equal(a->op, IR_OP_LINEAR);
  assert_int_equal(a->ninputs, 3);
  assert_int_equal(arg(g, a, 1)->kind, IR_VAL_PARAM);
  assert_string_equal(arg(g, a, 2)->name, "a.bias");
  assert_int_equal(b->ninputs, 2);
  for (int i = 0; i < g->nvalues; i++) /* no bias for b */
    assert_true(!g->values[i].name || strcmp(g->values[i].name, "b.bias"));
  ir_graph_free(g);
}

static void embedding(void **state) {
  (void)state;
  ir_graph *g = lower_ok(
      "seqc: 1\nname: e\ninputs: {t: {dtype: i64, shape: [4]}}\noutputs: [e]\n"
      "nodes:\n  e: {op: embedding, input: t, num_embeddings: 100, "
      "embedding_dim: 16, padding_idx: 0}\n");
  type_is(g, "e", "f32 [4, 16]");
  type_is(g, "e.weight", "f32 [100, 16]");
  const ir_node *n = node_named(g, "e");
  assert_int_equal(n->op, IR_OP_EMBEDDING);
  assert_string_equal(arg(g, n, 0)->name, "e.weight");
  assert_string_equal(arg(g, n, 1)->name, "t");
  ir_graph_free(g);
  g = lower_ok(HEAD
               "outputs: [e, x, v]\nnodes:\n  e: {op: embedding, input: tok, num_embeddings: 10, "
               "embedding_dim: 4}\n");
  type_is(g, "e", "f32 [B, T, 4]");
  ir_graph_free(g);
}

static void norms(void **state) {
  (void)state;
  ir_graph *g = lower_ok(HEAD
                         "outputs: [a, b, c, d, tok]\nnodes:\n"
                         "  a: {op: layer_norm, input: x}\n"
                         "  b: {op: layer_norm, input: x, eps: 1e-6, normalized_shape: 8}\n"
                         "  c: {op: rms_norm, input: x, normalized_shape: [8]}\n"
                         "  d: {op: rms_norm, input: v, eps: 0.001}\n");
  type_is(g, "a", "f32 [B, T, 8]");
  type_is(g, "a.weight", "f32 [8]");
  type_is(g, "a.bias", "f32 [8]");
  type_is(g, "c.weight", "f32 [8]");
  const ir_node *a = node_named(g, "a"), *b = node_named(g, "b");
  const ir_node *c = node_named(g, "c"), *d = node_named(g, "d");
  assert_int_equal(a->op, IR_OP_LAYER_NORM);
  assert_int_equal(a->ninputs, 3);
  assert_string_equal(arg(g, a, 2)->name, "a.bias");
  assert_true(ir_attr_float(a, "eps") == 1e-5);
  assert_true(ir_attr_float(b, "eps") == 1e-6);
  assert_int_equal(c->op, IR_OP_RMS_NORM);
  assert_int_equal(c->ninputs, 2);
  assert_true(ir_attr_float(c, "eps") == 1e-6);
  assert_true(ir_attr_float(d, "eps") == 0.001);
  ir_graph_free(g);
}

static void binary(void **state) {
  (void)state;
  ir_graph *g = lower_ok(HEAD
                         "outputs: [a, s, m, d, k, tok]\nnodes:\n"
                         "  a: {op: add, inputs: [x, v]}\n"
                         "  p: {op: mean, input: x, dim: 1, keepdim: true}\n"
                         "  q: {op: select, input: x, dim: 0, index: 0}\n"
                         "  s: {op: sub, inputs: [p, q]}\n"
                         "  m: {op: mul, inputs: [2, x]}\n"
                         "  d: {op: div, inputs: [v, -0.5]}\n"
                         "  k: {op: add, inputs: [1, 2]}\n");
  type_is(g, "a", "f32 [B, T, 8]");
  type_is(g, "p", "f32 [B, 1, 8]");
  type_is(g, "q", "f32 [T, 8]");
  type_is(g, "s", "f32 [B, T, 8]"); /* [B, 1, 8] - [T, 8] */
  type_is(g, "m", "f32 [B, T, 8]");
  type_is(g, "d", "f32 [8]");
  type_is(g, "k", "f32 []");
  const ir_node *s = node_named(g, "s"), *m = node_named(g, "m"), *d = node_named(g, "d");
  assert_int_equal(s->op, IR_OP_SUB);
  assert_int_equal(m->op, IR_OP_MUL);
  assert_int_equal(d->op, IR_OP_DIV);
  const ir_value *two = arg(g, m, 0), *half = arg(g, d, 1);
  assert_int_equal(two->kind, IR_VAL_CONST);
  assert_int_equal(two->type.rank, 0);
  assert_int_equal(two->type.dtype, IR_F32);
  assert_true(*(const float *)two->data == 2.0f);
  assert_true(*(const float *)half->data == -0.5f);
  ir_graph_free(g);
}

static void matmul(void **state) {
  (void)state;
  ir_graph *g = lower_ok(HEAD
                         "outputs: [m, o, tok, v]\nnodes:\n"
                         "  w: {op: linear, input: x, out_features: 4, bias: false}\n"
                         "  t: {op: transpose, input: x, dims: [0, 2, 1]}\n"
                         "  m: {op: matmul, inputs: [x, t]}\n"
                         "  o: {op: matmul, inputs: [t, w]}\n");
  type_is(g, "t", "f32 [B, 8, T]");
  type_is(g, "m", "f32 [B, T, T]");
  type_is(g, "o", "f32 [B, 8, 4]");
  ir_graph_free(g);
  lowered r = lower(HEAD
                    "outputs: [n]\nnodes:\n  r: {op: reshape, input: v, shape: [2, 4]}\n"
                    "  n: {op: matmul, inputs: [x, r]}\n");
  assert_null(r.g); /* [B, T, 8] @ [2, 4] */
  lowered_free(&r);
  g = lower_ok(
      "seqc: 1\nname: mm\ndims: {B: 3}\ninputs:\n  a: {shape: [B, 1, 5, 6]}\n"
      "  b: {shape: [4, 6, 7]}\noutputs: [m]\nnodes:\n  m: {op: matmul, inputs: [a, b]}\n");
  type_is(g, "m", "f32 [B, 4, 5, 7]");
  assert_int_equal(ir_attr_int(node_named(g, "m"), "trans_b"), 0);
  ir_graph_free(g);
}

static void unary(void **state) {
  (void)state;
  static const char *const ops[] = {"relu", "tanh", "sigmoid", "silu", "exp", "gelu", "softplus"};
  static const ir_op ids[] = {IR_OP_RELU, IR_OP_TANH, IR_OP_SIGMOID, IR_OP_SILU,
                              IR_OP_EXP,  IR_OP_GELU, IR_OP_SOFTPLUS};
  for (int i = 0; i < 7; i++) {
    char src[512];
    snprintf(src, sizeof src, HEAD "outputs: [y, tok, v]\nnodes:\n  y: {op: %s, input: x}\n",
             ops[i]);
    ir_graph *g = lower_ok(src);
    assert_int_equal(node_named(g, "y")->op, ids[i]);
    type_is(g, "y", "f32 [B, T, 8]");
    ir_graph_free(g);
  }
  ir_graph *g = lower_ok(HEAD
                         "outputs: [a, b, tok]\nnodes:\n"
                         "  a: {op: gelu, input: x, approximate: none}\n"
                         "  b: {op: gelu, input: v, approximate: tanh}\n");
  assert_int_equal(ir_attr_int(node_named(g, "a"), "tanh"), 0);
  assert_int_equal(ir_attr_int(node_named(g, "b"), "tanh"), 1);
  ir_graph_free(g);
}

/* elementwise ops come from ops.def with no code of their own: the table's
 * attributes are the keys (softplus has none: beta and threshold are fixed),
 * and ops the passes make are not part of the language */
static void elementwise_from_the_table(void **state) {
  (void)state;
  expect_error(HEAD "outputs: [y]\nnodes:\n  y: {op: softplus, input: x, beta: 2}\n",
               "t.yaml:10:31: error: unknown attribute 'beta' for op 'softplus'");
  expect_error(HEAD "outputs: [y]\nnodes:\n  y: {op: softplus}\n",
               "t.yaml:10:3: error: missing attribute 'input' for op 'softplus'");
  expect_error(HEAD "outputs: [y]\nnodes:\n  y: {op: softplus, input: tok}\n",
               "t.yaml:10:3: error: softplus 'y': expected f32, got i32 [B, T]");
  /* the suggestion, when one is offered, is an op a model may write */
  static const char *const internal[] = {"copy", "fused", "fill", "attention"};
  static const char *const hint[] = {"", "", "; did you mean 'silu'?", ""};
  for (int i = 0; i < 4; i++) {
    char src[512], want[128];
    snprintf(src, sizeof src, HEAD "outputs: [y]\nnodes:\n  y: {op: %s, input: x}\n", internal[i]);
    snprintf(want, sizeof want, "t.yaml:10:11: error: unknown op '%s'%s", internal[i], hint[i]);
    expect_error(src, want);
  }
}

static void row_ops(void **state) {
  (void)state;
  ir_graph *g = lower_ok(HEAD
                         "outputs: [s, t, u, m, k, tok, v]\nnodes:\n"
                         "  s: {op: softmax, input: x}\n"
                         "  t: {op: softmax, input: x, dim: 1}\n"
                         "  u: {op: softmax, input: x, dim: -3}\n"
                         "  m: {op: mean, input: x, dim: -1}\n"
                         "  k: {op: mean, input: x, dim: 1, keepdim: true}\n");
  assert_int_equal(ir_attr_int(node_named(g, "s"), "dim"), 2);
  assert_int_equal(ir_attr_int(node_named(g, "t"), "dim"), 1);
  assert_int_equal(ir_attr_int(node_named(g, "u"), "dim"), 0);
  type_is(g, "s", "f32 [B, T, 8]");
  type_is(g, "m", "f32 [B, T]");
  assert_int_equal(ir_attr_int(node_named(g, "m"), "dim"), 2);
  assert_int_equal(ir_attr_int(node_named(g, "m"), "keepdim"), 0);
  type_is(g, "k", "f32 [B, 1, 8]");
  assert_int_equal(ir_attr_int(node_named(g, "k"), "keepdim"), 1);
  ir_graph_free(g);
}

static void concat(void **state) {
  (void)state;
  ir_graph *g = lower_ok(HEAD
                         "outputs: [a, b, c, tok]\nnodes:\n"
                         "  a: {op: concat, inputs: [x, x], dim: -1}\n"
                         "  b: {op: concat, inputs: [x, x, x], dim: 1}\n"
                         "  c: {op: concat, inputs: [v, v, v]}\n");
  type_is(g, "a", "f32 [B, T, 16]");
  assert_int_equal(ir_attr_int(node_named(g, "a"), "dim"), 2);
  type_is(g, "b", "f32 [B, 3*T, 8]");
  assert_int_equal(node_named(g, "b")->ninputs, 3);
  type_is(g, "c", "f32 [24]");
  ir_graph_free(g);
}

static void slice_and_select(void **state) {
  (void)state;
  ir_graph *g = lower_ok(HEAD
                         "outputs: [a, b, c, d, e, f, h, i, j, k, l, tok, m]\nnodes:\n"
                         "  a: {op: slice, input: x, dim: 2, start: 2, end: 6}\n"
                         "  b: {op: slice, input: x, dim: -1, start: -3}\n"
                         "  c: {op: slice, input: x, dim: 2, end: -1}\n"
                         "  d: {op: slice, input: x, dim: 2, start: 5, end: 100}\n"
                         "  e: {op: slice, input: x, dim: 1, end: 3}\n"
                         "  f: {op: slice, input: x, dim: 1, start: -2}\n"
                         "  h: {op: slice, input: x, dim: 1, start: 0, end: null}\n"
                         "  i: {op: slice, input: x, dim: 2, start: 6, end: 2}\n"
                         "  j: {op: slice, input: x, dim: 1, start: -4, end: -1}\n"
                         "  k: {op: select, input: x, dim: 1, index: -1}\n"
                         "  l: {op: select, input: x, dim: -1, index: 7}\n"
                         "  m: {op: select, input: v, dim: 0, index: -8}\n");
  type_is(g, "a", "f32 [B, T, 4]");
  type_is(g, "b", "f32 [B, T, 3]");
  type_is(g, "c", "f32 [B, T, 7]");
  type_is(g, "d", "f32 [B, T, 3]");
  type_is(g, "e", "f32 [B, 3, 8]");
  type_is(g, "f", "f32 [B, 2, 8]");
  type_is(g, "h", "f32 [B, T, 8]");
  type_is(g, "i", "f32 [B, T, 0]");
  type_is(g, "j", "f32 [B, 3, 8]");
  const ir_node *b = node_named(g, "b"), *h = node_named(g, "h");
  assert_int_equal(ir_attr_int(b, "dim"), 2);
  assert_int_equal(ir_attr_int(b, "start"), -3);
  assert_true(ir_attr_int(b, "end") == INT64_MAX);
  assert_true(ir_attr_int(h, "end") == INT64_MAX);
  type_is(g, "k", "f32 [B, 8]");
  assert_int_equal(ir_attr_int(node_named(g, "k"), "index"), -1);
  type_is(g, "l", "f32 [B, T]");
  assert_int_equal(ir_attr_int(node_named(g, "l"), "dim"), 2);
  type_is(g, "m", "f32 []");
  ir_graph_free(g);
}

static void transpose_and_reshape(void **state) {
  (void)state;
  ir_graph *g = lower_ok(HEAD
                         "outputs: [t, a, b, c, d, tok, v]\nnodes:\n"
                         "  t: {op: transpose, input: x, dims: [-1, 0, 1]}\n"
                         "  a: {op: reshape, input: x, shape: [B, -1]}\n"
                         "  b: {op: reshape, input: x, shape: [-1, 8]}\n"
                         "  c: {op: reshape, input: x, shape: [B, T, 2, 4]}\n"
                         "  d: {op: reshape, input: a, shape: [-1]}\n");
  type_is(g, "t", "f32 [8, B, T]");
  const ir_attr *perm = ir_get_attr(node_named(g, "t"), "perm");
  assert_int_equal(perm->nints, 3);
  assert_int_equal(perm->ints[0], 2);
  assert_int_equal(perm->ints[1], 0);
  assert_int_equal(perm->ints[2], 1);
  type_is(g, "a", "f32 [B, 8*T]");
  type_is(g, "b", "f32 [B*T, 8]");
  type_is(g, "c", "f32 [B, T, 2, 4]");
  type_is(g, "d", "f32 [8*B*T]");
  assert_int_equal(node_named(g, "c")->op, IR_OP_RESHAPE);
  ir_graph_free(g);
}

static void dropout_and_pe(void **state) {
  (void)state;
  ir_graph *g = lower_ok(HEAD
                         "outputs: [d, e, p, tok, v]\nnodes:\n"
                         "  d: {op: dropout, input: x}\n"
                         "  e: {op: dropout, input: x, p: 0.1}\n"
                         "  p: {op: positional_encoding, input: x, kind: sinusoidal}\n");
  assert_int_equal(node_named(g, "d")->op, IR_OP_DROPOUT);
  assert_true(ir_attr_float(node_named(g, "d"), "p") == 0.5);
  assert_true(ir_attr_float(node_named(g, "e"), "p") == 0.1);
  type_is(g, "e", "f32 [B, T, 8]");
  assert_int_equal(node_named(g, "p")->op, IR_OP_POSITIONAL_ENCODING);
  type_is(g, "p", "f32 [B, T, 8]");
  ir_graph_free(g);
}

/* the SPEC's block style, comments, an MLP end to end; the verifier accepts it */
static void block_style_model(void **state) {
  (void)state;
  ir_graph *g = lower_ok(
      "# a small classifier\n"
      "seqc: 1\n"
      "name: tagger\n"
      "dims:\n  B: 1\n  T: 128\n"
      "inputs:\n"
      "  tokens:\n    dtype: i32\n    shape: [B, T]\n"
      "outputs:\n  - logits\n  - probs\n"
      "nodes:\n"
      "  embed:\n    op: embedding\n    input: tokens\n"
      "    num_embeddings: 1000\n    embedding_dim: 64\n"
      "  pe: {op: positional_encoding, input: embed}\n"
      "  norm: {op: layer_norm, input: pe}\n"
      "  hidden: {op: linear, input: norm, out_features: 256}\n"
      "  act: {op: gelu, input: hidden}\n"
      "  drop: {op: dropout, input: act, p: 0.1}\n"
      "  logits: {op: linear, input: drop, out_features: 10}\n"
      "  probs: {op: softmax, input: logits}\n");
  type_is(g, "logits", "f32 [B, T, 10]");
  type_is(g, "hidden.weight", "f32 [256, 64]");
  type_is(g, "logits.weight", "f32 [10, 256]");
  assert_int_equal(node_named(g, "embed")->loc.line, 15);
  assert_true(ir_verify(g, "frontend", stderr));
  ir_graph_free(g);
}

/* fe_load_model reads a file, keeps the text for diagnostics and lowers it */
static void load_from_file(void **state) {
  (void)state;
  char path[] = "/tmp/seqc_fe_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  const char *text =
      "seqc: 1\nname: f\ninputs: {x: {shape: [2]}}\noutputs: [y]\n"
      "nodes: {y: {op: relu, input: x}}\n";
  FILE *f = fdopen(fd, "w");
  fputs(text, f);
  fclose(f);
  ir_diags d;
  ir_diags_init(&d, path, NULL, 0, stderr);
  char *src;
  ir_graph *g = fe_load_model(path, &d, &src);
  remove(path);
  assert_non_null(g);
  assert_string_equal(src, text);
  assert_ptr_equal(d.src, src);
  type_is(g, "y", "f32 [2]");
  ir_graph_free(g);
  free(src);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(model_structure),
      cmocka_unit_test(linear),
      cmocka_unit_test(embedding),
      cmocka_unit_test(norms),
      cmocka_unit_test(binary),
      cmocka_unit_test(matmul),
      cmocka_unit_test(unary),
      cmocka_unit_test(elementwise_from_the_table),
      cmocka_unit_test(row_ops),
      cmocka_unit_test(concat),
      cmocka_unit_test(slice_and_select),
      cmocka_unit_test(transpose_and_reshape),
      cmocka_unit_test(dropout_and_pe),
      cmocka_unit_test(block_style_model),
      cmocka_unit_test(load_from_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
