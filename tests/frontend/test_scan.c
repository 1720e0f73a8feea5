/*
 * test_scan.c: lowering of `scan`, `rnn`, `lstm` and `gru` (SPEC sections 2,
 * 3, 4 and 7): the SCAN node and its body (inputs, captures, parameters as
 * top-level SCAN.NODE.PARAM values, result names), the layer nodes with
 * PyTorch's parameter names and shapes, and each error at its position.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include "fe_test.h"

/* lines 1-5; a test adds `outputs:` (line 6), `nodes:` (7) and nodes from line 8 */
#define HEAD             \
  "seqc: 1\n"            \
  "name: m\n"            \
  "dims: {B: 2, T: 6}\n" \
  "inputs:\n"            \
  "  x: {dtype: f32, shape: [B, T, 4]}\n"

#define CELL                                                        \
  "  e: {op: linear, input: x, out_features: 3}\n"                  \
  "  cell:\n"                                                       \
  "    op: scan\n"                                                  \
  "    over: {x: e}\n"                                              \
  "    state: {h: {zeros: [B, 5]}}\n"                               \
  "    body:\n"                                                     \
  "      a: {op: linear, input: x, out_features: 5}\n"              \
  "      b: {op: linear, input: h, out_features: 5, bias: false}\n" \
  "      s: {op: add, inputs: [a, b]}\n"                            \
  "      hn: {op: tanh, input: s}\n"                                \
  "    next: {h: hn}\n"                                             \
  "    emit: [hn, s]\n"

static const ir_node *scan_node(const ir_graph *g) {
  for (int i = 0; i < g->nnodes; i++)
    if (g->nodes[i].op == IR_OP_SCAN) return &g->nodes[i];
  fail_msg("no scan");
  return NULL;
}

/* SPEC section 4's cell: the node, its body, its captures and names */
static void cell(void **state) {
  (void)state;
  ir_graph *g = lower_ok(HEAD "outputs: [cell, cell.s, cell.h]\nnodes:\n" CELL);
  assert_true(ir_verify(g, "frontend", stderr));
  const ir_node *n = scan_node(g);
  assert_int_equal(ir_attr_int(n, "nover"), 1);
  assert_int_equal(ir_attr_int(n, "nstate"), 1);
  assert_int_equal(ir_attr_int(n, "reverse"), 0);
  assert_int_equal(ir_attr_int(n, "chunk"), 1);
  assert_int_equal(n->noutputs, 3);
  assert_string_equal(type_of(g, "cell"), "f32 [B, T, 5]");
  assert_string_equal(type_of(g, "cell.s"), "f32 [B, T, 5]");
  assert_string_equal(type_of(g, "cell.h"), "f32 [B, 5]");
  /* body parameters are top-level params named SCAN.NODE.PARAM */
  assert_int_equal(value_named(g, "cell.a.weight")->kind, IR_VAL_PARAM);
  assert_string_equal(type_of(g, "cell.a.weight"), "f32 [5, 3]");
  assert_string_equal(type_of(g, "cell.a.bias"), "f32 [5]");
  assert_string_equal(type_of(g, "cell.b.weight"), "f32 [5, 5]");
  /* inputs: over e, the zeros state (a FILL above), then the three params */
  assert_int_equal(n->ninputs, 5);
  assert_int_equal(n->inputs[0], value_named(g, "e") - g->values);
  const ir_node *z = &g->nodes[g->values[n->inputs[1]].def];
  assert_int_equal(z->op, IR_OP_FILL);
  assert_true(ir_attr_float(z, "value") == 0.0);
  const ir_graph *b = n->body;
  assert_ptr_equal(b->parent, g);
  assert_int_equal(b->ninputs, 5);
  static const char *const names[] = {"x", "h", "cell.a.weight", "cell.a.bias", "cell.b.weight"};
  static const char *const types[] = {"[B, 3]", "[B, 5]", "[5, 3]", "[5]", "[5, 5]"};
  for (int i = 0; i < 5; i++) {
    char buf[64];
    const ir_value *v = &b->values[b->inputs[i]];
    assert_string_equal(v->name, names[i]);
    assert_string_equal(ir_type_str(b, &v->type, buf, sizeof buf), types[i]);
    if (i >= 2) assert_string_equal(g->values[n->inputs[i]].name, names[i]);
  }
  for (int v = 0; v < b->nvalues; v++) assert_int_not_equal(b->values[v].kind, IR_VAL_PARAM);
  assert_int_equal(b->noutputs, 3);
  assert_string_equal(b->outputs[0].name, "hn");
  assert_string_equal(b->outputs[1].name, "s");
  assert_string_equal(b->outputs[2].name, "h");
  assert_int_equal(b->outputs[0].value, b->outputs[2].value);
  ir_graph_free(g);
}

/* captures of outer values (each once), shadowing, reverse, chunk, a value as initial state */
static void captures_and_options(void **state) {
  (void)state;
  ir_graph *g = lower_ok(HEAD
                         "outputs: [c, c.h]\nnodes:\n"
                         "  e: {op: tanh, input: x}\n"
                         "  h0: {op: select, input: x, dim: 1, index: 0}\n"
                         "  c:\n"
                         "    op: scan\n"
                         "    over: {x: x}\n"
                         "    reverse: true\n"
                         "    chunk: 2\n"
                         "    state: {h: h0}\n"
                         "    body:\n"
                         "      m: {op: mean, input: x, dim: 1}\n"
                         "      p: {op: add, inputs: [m, h]}\n"
                         "      q: {op: mul, inputs: [p, h0]}\n"
                         "      e: {op: add, inputs: [q, h0]}\n"
                         "      y: {op: mul, inputs: [x, 2]}\n"
                         "    next: {h: e}\n"
                         "    emit: y\n");
  const ir_node *n = scan_node(g);
  assert_int_equal(ir_attr_int(n, "reverse"), 1);
  assert_int_equal(ir_attr_int(n, "chunk"), 2);
  /* x, h0 (the state), h0 again as one capture; the body's e shadows the outer e */
  assert_int_equal(n->ninputs, 3);
  assert_int_equal(n->inputs[1], n->inputs[2]);
  assert_string_equal(type_of(g, "c"), "f32 [B, T, 4]");
  assert_string_equal(type_of(g, "c.h"), "f32 [B, 4]");
  char buf[64];
  const ir_value *bx = &n->body->values[n->body->inputs[0]];
  assert_string_equal(ir_type_str(g, &bx->type, buf, sizeof buf), "[B, 2, 4]");
  assert_true(ir_verify(g, "frontend", stderr));
  ir_graph_free(g);
}

/* a scan inside a scan: parameters are OUTER.INNER.NODE.PARAM, captured through both */
static void nested(void **state) {
  (void)state;
  ir_graph *g = lower_ok(HEAD
                         "outputs: [o]\nnodes:\n"
                         "  o:\n"
                         "    op: scan\n"
                         "    over: {x: x}\n"
                         "    body:\n"
                         "      r: {op: reshape, input: x, shape: [B, 2, 2]}\n"
                         "      i:\n"
                         "        op: scan\n"
                         "        over: {z: r}\n"
                         "        body:\n"
                         "          l: {op: linear, input: z, out_features: 3}\n"
                         "        emit: [l]\n"
                         "    emit: [i]\n");
  assert_string_equal(type_of(g, "o"), "f32 [B, T, 2, 3]");
  assert_int_equal(value_named(g, "o.i.l.weight")->kind, IR_VAL_PARAM);
  assert_string_equal(type_of(g, "o.i.l.weight"), "f32 [3, 2]");
  const ir_node *n = scan_node(g);
  assert_int_equal(n->ninputs, 3); /* x, then the weight and bias as captures */
  assert_true(ir_verify(g, "frontend", stderr));
  ir_graph_free(g);
}

/* rnn, lstm, gru: the layer node, its parameters as PyTorch names them, its results */
static void layers(void **state) {
  (void)state;
  ir_graph *g =
      lower_ok(HEAD
               "outputs: [l, l.h_n, l.c_n, r.h_n, g]\nnodes:\n"
               "  l: {op: lstm, input: x, hidden_size: 5, num_layers: 2, "
               "bidirectional: true, proj_size: 3}\n"
               "  r: {op: rnn, input: l, hidden_size: 7, nonlinearity: relu, bias: false}\n"
               "  g: {op: gru, input: x, hidden_size: 3, input_size: 4}\n");
  assert_string_equal(type_of(g, "l"), "f32 [B, T, 6]");
  assert_string_equal(type_of(g, "l.h_n"), "f32 [4, B, 3]");
  assert_string_equal(type_of(g, "l.c_n"), "f32 [4, B, 5]");
  assert_string_equal(type_of(g, "l.weight_ih_l0"), "f32 [20, 4]");
  assert_string_equal(type_of(g, "l.weight_hh_l0_reverse"), "f32 [20, 3]");
  assert_string_equal(type_of(g, "l.weight_ih_l1_reverse"), "f32 [20, 6]");
  assert_string_equal(type_of(g, "l.weight_hr_l1"), "f32 [3, 5]");
  assert_string_equal(type_of(g, "l.bias_hh_l1_reverse"), "f32 [20]");
  assert_string_equal(type_of(g, "r"), "f32 [B, T, 7]");
  assert_string_equal(type_of(g, "r.h_n"), "f32 [1, B, 7]");
  assert_string_equal(type_of(g, "r.weight_ih_l0"), "f32 [7, 6]");
  assert_string_equal(type_of(g, "g.weight_ih_l0"), "f32 [9, 4]");
  assert_string_equal(type_of(g, "g.h_n"), "f32 [1, B, 3]");
  const ir_node *l = node_named(g, "l"), *r = node_named(g, "r");
  assert_int_equal(l->op, IR_OP_LSTM);
  assert_int_equal(l->ninputs, 3 + 4 * 5);
  assert_int_equal(ir_attr_int(l, "proj_size"), 3);
  assert_int_equal(r->op, IR_OP_RNN);
  assert_int_equal(ir_attr_int(r, "relu"), 1);
  assert_int_equal(r->ninputs, 2 + 2);
  /* absent h0 and c0 are zeros of the layout of h_n and c_n */
  assert_string_equal(type_of(g, "l.h0"), "f32 [4, B, 3]");
  assert_string_equal(type_of(g, "l.c0"), "f32 [4, B, 5]");
  assert_int_equal(node_named(g, "l.c0")->op, IR_OP_FILL);
  assert_true(ir_verify(g, "frontend", stderr));
  ir_graph_free(g);

  g = lower_ok(HEAD
               "  h: {dtype: f32, shape: [2, B, 4]}\n"
               "outputs: [l]\nnodes:\n"
               "  l: {op: lstm, input: x, hidden_size: 4, peephole: true, bidirectional: true, "
               "h0: h}\n");
  assert_string_equal(type_of(g, "l.weight_ci_l0"), "f32 [4]");
  assert_string_equal(type_of(g, "l.weight_co_l0_reverse"), "f32 [4]");
  assert_int_equal(node_named(g, "l")->inputs[1], value_named(g, "h") - g->values);
  ir_graph_free(g);
}

static void scan_errors(void **state) {
  (void)state;
  expect_diags(HEAD
               "outputs: [c]\nnodes:\n"
               "  c:\n"
               "    op: scan\n"
               "    over: {x: x}\n"
               "    state: {h: {zeros: [B, 4]}, k: {zeros: [B, 4]}}\n"
               "    body:\n"
               "      a: {op: add, inputs: [x, h]}\n"
               "    next: {h: a, q: a}\n"
               "    emit: [a, h]\n",
               "t.yaml:11:33: error: state 'k' of scan 'c' has no 'next' value\n"
               "t.yaml:14:18: error: 'next' of scan 'c' names 'q', which is not a state\n"
               "t.yaml:15:15: error: scan 'c' emits 'h', which is also a state: 'c.h' would "
               "name both\n");
  expect_error(HEAD
               "outputs: [c]\nnodes:\n"
               "  c:\n"
               "    op: scan\n"
               "    over: {x: x}\n"
               "    body:\n"
               "      a: {op: add, inputs: [x, zz]}\n"
               "    emit: [a]\n",
               "t.yaml:12:32: error: undefined value 'zz'");
  expect_diags(HEAD
               "outputs: [c]\nnodes:\n"
               "  c:\n"
               "    op: scan\n"
               "    over: {x: x}\n"
               "    body:\n"
               "      a: {op: add, inputs: [x, c]}\n"
               "      b: {op: add, inputs: [x, later]}\n"
               "    emit: [a]\n"
               "  later: {op: tanh, input: x}\n",
               "t.yaml:12:32: error: 'c' reads itself: a node may use only values defined above "
               "it\n"
               "t.yaml:13:32: error: 'later' is defined below 'c': a node may use only values "
               "defined above it\n");
  /* a next value of another shape than its state */
  expect_error(HEAD
               "outputs: [c]\nnodes:\n"
               "  c:\n"
               "    op: scan\n"
               "    over: {x: x}\n"
               "    state: {h: {zeros: [B, 5]}}\n"
               "    body:\n"
               "      a: {op: tanh, input: x}\n"
               "    next: {h: a}\n"
               "    emit: [a]\n",
               "t.yaml:14:15: error: scan 'c': next value of state 'h' is f32 [B, 4], but the state "
               "is f32 [B, 5]");
  /* chunk must divide a known T */
  expect_error(
      "seqc: 1\nname: m\ninputs:\n  x: {shape: [2, 7, 4]}\noutputs: [c]\nnodes:\n"
      "  c: {op: scan, over: {x: x}, chunk: 2, body: {a: {op: tanh, input: x}}, "
      "emit: [a]}\n",
      "t.yaml:7:3: error: scan 'c': chunk 2 does not divide the sequence length 7");
  expect_error(HEAD "outputs: [c]\nnodes:\n  c: {op: scan, over: {x: x}, body: {}}\n",
               "t.yaml:8:37: error: the body of scan 'c' is empty");
  expect_error(HEAD
               "outputs: [c]\nnodes:\n  c: {op: scan, over: {}, body: {a: {op: tanh, "
               "input: x}}, emit: a}\n",
               "t.yaml:8:23: error: scan 'c' needs at least one value in 'over'");
  expect_error(HEAD
               "outputs: [c]\nnodes:\n  c: {op: scan, over: {x: x}, state: {h: [B]}, "
               "body: {a: {op: tanh, input: x}}, next: {h: a}}\n",
               "t.yaml:8:42: error: 'h' in 'state' of 'c' must name a value or be {zeros: [dims]}");
  expect_error(HEAD
               "outputs: [c.q]\nnodes:\n  c: {op: scan, over: {x: x}, "
               "body: {a: {op: tanh, input: x}}, emit: a}\n",
               "t.yaml:6:11: error: 'c' has no output 'q'");
}

static void layer_errors(void **state) {
  (void)state;
  expect_error(HEAD
               "outputs: [c]\nnodes:\n"
               "  c: {op: lstm, input: x, hidden_size: 5, proj_size: 2, peephole: true}\n",
               "t.yaml:8:67: error: attribute 'peephole' of 'c' cannot be combined with proj_size");
  expect_error(HEAD
               "outputs: [c]\nnodes:\n"
               "  h: {op: slice, input: x, dim: 2, start: 0, end: 3}\n"
               "  c: {op: gru, input: x, hidden_size: 5, h0: h}\n",
               "t.yaml:9:46: error: attribute 'h0' of 'c' must be f32 [1, B, 5] (num_layers * "
               "directions, batch, size), got f32 [B, T, 3]");
  expect_error(HEAD
               "outputs: [c]\nnodes:\n"
               "  c: {op: gru, input: x, hidden_size: 5, batch_first: false}\n",
               "t.yaml:8:55: error: attribute 'batch_first' of 'c' must be true: sequences are "
               "[B, T, features]");
  expect_error(HEAD
               "outputs: [c.c_n]\nnodes:\n"
               "  c: {op: gru, input: x, hidden_size: 5, bidirectional: true}\n",
               "t.yaml:6:11: error: 'c' has no output 'c_n'");
  expect_error(HEAD
               "outputs: [c]\nnodes:\n"
               "  c: {op: rnn, input: x, hidden_size: 5, nonlinearity: sigmoid}\n",
               "t.yaml:8:56: error: attribute 'nonlinearity' of 'c' must be tanh or relu");
  expect_error(HEAD
               "outputs: [c]\nnodes:\n"
               "  c: {op: lstm, input: x, hidden_size: 5, input_size: 3}\n",
               "t.yaml:8:55: error: attribute 'input_size' of 'c' is 3, but its input "
               "[B, T, 4] has 4 features");
  expect_error(HEAD
               "outputs: [c]\nnodes:\n"
               "  c: {op: lstm, input: x, hidden_size: 5, c0: x}\n",
               "t.yaml:8:47: error: attribute 'c0' of 'c' must be f32 [1, B, 5] (num_layers * "
               "directions, batch, size), got f32 [B, T, 4]");
  expect_error(HEAD "outputs: [c]\nnodes:\n  c: {op: gru, input: x, hidden_size: 5, c0: x}\n",
               "t.yaml:8:42: error: unknown attribute 'c0' for op 'gru'; did you mean 'h0'?");
  expect_error(HEAD "outputs: [c]\nnodes:\n  c: {op: rnn, input: x}\n",
               "t.yaml:8:3: error: missing attribute 'hidden_size' for op 'rnn'");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(cell),        cmocka_unit_test(captures_and_options),
      cmocka_unit_test(nested),      cmocka_unit_test(layers),
      cmocka_unit_test(scan_errors), cmocka_unit_test(layer_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
