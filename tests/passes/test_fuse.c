/* test_fuse.c: matmul epilogues and elementwise chains into FUSED nodes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_passes.h"

static const ir_loc L0 = {1, 1};
static const int64_t SYMS[] = {3, 5};

/* asserts the body of fused node n runs exactly ops (in order) */
static void assert_body_ops(const ir_node *n, int nops, const ir_op *ops) {
  assert_int_equal(n->op, IR_OP_FUSED);
  assert_non_null(n->body);
  const ir_graph *b = n->body;
  assert_int_equal(b->nnodes, nops);
  for (int i = 0; i < nops; i++) assert_int_equal(b->nodes[i].op, ops[i]);
  assert_int_equal(b->ninputs, n->ninputs);
  assert_int_equal(b->noutputs, 1);
  assert_int_equal(b->outputs[0].value, b->nodes[nops - 1].outputs[0]);
}

/* asserts node n reads exactly the values ins */
static void assert_inputs(const ir_node *n, int nins, const int *ins) {
  assert_int_equal(n->ninputs, nins);
  for (int i = 0; i < nins; i++) assert_int_equal(n->inputs[i], ins[i]);
}

static int matmul(ir_graph *g, const char *name, int a, int b) {
  int n = mk(g, IR_OP_MATMUL, name, 2, a, b);
  ir_set_attr_int(g, n, "trans_b", 0);
  return infer(g, n);
}

/* relu(x @ w + b): one node, the matmul's operands first */
static void epilogue_bias_relu(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("epi");
  int B = ir_graph_add_sym(g, "B", 2, L0);
  int x = ir_add_input(g, "x", tf32(2, SYM(B), 8), L0);
  int w = ir_add_input(g, "w", tf32(2, 8, 6), L0);
  int b = ir_add_param(g, "fc.bias", tf32(1, 6), L0);
  int mm = matmul(g, "mm", x, w);
  int a = op2(g, IR_OP_ADD, "a", mm, b);
  ir_add_output(g, "r", op1(g, IR_OP_RELU, "r", a));

  assert_true(check_pass_numbers(g, pass_fuse, "fuse", SYMS, 1));
  assert_int_equal(g->nnodes, 1);
  const ir_node *f = &g->nodes[0];
  assert_body_ops(f, 3, (ir_op[]){IR_OP_MATMUL, IR_OP_ADD, IR_OP_RELU});
  assert_inputs(f, 3, (int[]){x, w, b});
  assert_string_equal(f->name, "r");
  assert_int_equal(g->outputs[0].value, f->outputs[0]);
  assert_string_equal(g->values[f->outputs[0]].name, "r");
  /* the body: its own graph under this one, inputs named as outside */
  const ir_graph *body = f->body;
  assert_ptr_equal(body->parent, g);
  assert_string_equal(body->values[body->inputs[2]].name, "fc.bias");
  assert_int_equal(body->nodes[0].inputs[0], body->inputs[0]);
  assert_int_equal(body->nodes[0].inputs[1], body->inputs[1]);
  assert_int_equal(ir_attr_int(&body->nodes[0], "trans_b"), 0);
  assert_string_equal(body->nodes[1].name, "a");
  /* fusing again finds nothing */
  assert_false(run_pass(g, pass_fuse, "fuse"));
  ir_graph_free(g);
}

/* the chain stops at a value with two uses, and at a shape change */
static void epilogue_stops(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("stop");
  int x = ir_add_input(g, "x", tf32(2, 4, 8), L0);
  int w = ir_add_input(g, "w", tf32(2, 8, 6), L0);
  int b = ir_add_input(g, "b", tf32(1, 6), L0);
  int mm = matmul(g, "mm", x, w);
  int a = op2(g, IR_OP_ADD, "a", mm, b);
  int r = op1(g, IR_OP_RELU, "r", a);
  int s = op2(g, IR_OP_MUL, "s", r, r); /* r has two uses */
  ir_add_output(g, "s", s);
  /* a matmul whose consumer broadcasts it to a bigger shape */
  int y = ir_add_input(g, "y", tf32(3, 2, 4, 6), L0);
  int mm2 = matmul(g, "mm2", x, w);
  ir_add_output(g, "big", op2(g, IR_OP_ADD, "big", mm2, y));
  /* a matmul result that is also an output */
  int mm3 = matmul(g, "mm3", x, w);
  ir_add_output(g, "mm3", mm3);
  ir_add_output(g, "t", op1(g, IR_OP_TANH, "t", mm3));

  assert_true(check_pass_numbers(g, pass_fuse, "fuse", NULL, 1));
  assert_int_equal(count_op(g, IR_OP_FUSED), 1);
  const ir_node *f = &g->nodes[find_op(g, IR_OP_FUSED)];
  assert_body_ops(f, 3, (ir_op[]){IR_OP_MATMUL, IR_OP_ADD, IR_OP_RELU});
  assert_string_equal(f->name, "r");
  /* the square is a lone elementwise node: left alone */
  const ir_node *sq = output_node(g, "s");
  assert_int_equal(sq->op, IR_OP_MUL);
  assert_int_equal(sq->inputs[0], f->outputs[0]);
  assert_int_equal(output_node(g, "big")->op, IR_OP_ADD);
  assert_int_equal(output_node(g, "t")->op, IR_OP_TANH);
  assert_int_equal(count_op(g, IR_OP_MATMUL), 2);
  ir_graph_free(g);
}

/* x @ x: both operands stay, as inputs 0 and 1; later reads of x share them */
static void epilogue_same_operands(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("sq");
  int x = ir_add_input(g, "x", tf32(2, 5, 5), L0);
  int mm = matmul(g, "mm", x, x);
  int e = op2(g, IR_OP_SUB, "e", mm, x);
  ir_add_output(g, "e", e);
  assert_true(check_pass_numbers(g, pass_fuse, "fuse", NULL, 1));
  assert_int_equal(g->nnodes, 1);
  assert_inputs(&g->nodes[0], 2, (int[]){x, x});
  ir_graph_free(g);
}

/* tanh((x + bias) * sigmoid(y)): a tree, external operands in first-use order */
static void chain_with_broadcast(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("chain");
  int B = ir_graph_add_sym(g, "B", 2, L0);
  int T = ir_graph_add_sym(g, "T", 3, L0);
  int x = ir_add_input(g, "x", tf32(3, SYM(B), SYM(T), 8), L0);
  int y = ir_add_input(g, "y", tf32(3, SYM(B), SYM(T), 8), L0);
  int bias = ir_add_param(g, "bias", tf32(1, 8), L0);
  int a = op2(g, IR_OP_ADD, "a", x, bias);
  int s = op1(g, IR_OP_SIGMOID, "s", y);
  int m = op2(g, IR_OP_MUL, "m", a, s);
  int o = op1(g, IR_OP_TANH, "o", m);
  int sm = mk(g, IR_OP_SOFTMAX, "sm", 1, o);
  ir_set_attr_int(g, sm, "dim", 2);
  ir_add_output(g, "sm", infer(g, sm));

  assert_true(check_pass_numbers(g, pass_fuse, "fuse", SYMS, 1));
  assert_int_equal(g->nnodes, 2);
  const ir_node *f = &g->nodes[0];
  assert_body_ops(f, 4, (ir_op[]){IR_OP_ADD, IR_OP_SIGMOID, IR_OP_MUL, IR_OP_TANH});
  assert_inputs(f, 3, (int[]){x, bias, y});
  assert_string_equal(f->name, "o");
  assert_string_equal(g->values[f->outputs[0]].name, "o");
  assert_int_equal(g->nodes[1].op, IR_OP_SOFTMAX);
  assert_int_equal(g->nodes[1].inputs[0], f->outputs[0]);
  /* body types are the outer ones: [B, T, 8] inside too, bias [8] */
  const ir_graph *body = f->body;
  assert_int_equal(body->values[body->inputs[1]].type.rank, 1);
  assert_true(ir_type_eq(&body->values[body->outputs[0].value].type, &g->values[o].type));
  ir_graph_free(g);
}

/*
 * A GRU's h' = n + z * (h - n), n = tanh(a): n is read twice, both times
 * inside, so it joins and the whole cell is one node; a value that is also
 * read outside (e, by the output too) stays out, with its own producer.
 */
static void chain_reads_twice(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("dag");
  int a = ir_add_input(g, "a", tf32(2, 3, 8), L0);
  int h = ir_add_input(g, "h", tf32(2, 3, 8), L0);
  int zi = ir_add_input(g, "zi", tf32(2, 3, 8), L0);
  int n = op1(g, IR_OP_TANH, "n", a);
  int z = op1(g, IR_OP_SIGMOID, "z", zi);
  int d = op2(g, IR_OP_SUB, "d", h, n);
  int zd = op2(g, IR_OP_MUL, "zd", z, d);
  int hn = op2(g, IR_OP_ADD, "hn", n, zd);
  /* e = exp(h) is read by o and is an output: o's group leaves it out */
  int e = op1(g, IR_OP_EXP, "e", op1(g, IR_OP_RELU, "r", h));
  int o = op2(g, IR_OP_MUL, "o", e, e);
  ir_add_output(g, "hn", hn);
  ir_add_output(g, "e", e);
  ir_add_output(g, "o", op1(g, IR_OP_TANH, "ot", o));

  assert_true(check_pass_numbers(g, pass_fuse, "fuse", NULL, 1));
  const ir_node *f = output_node(g, "hn");
  assert_int_equal(f->op, IR_OP_FUSED);
  assert_body_ops(f, 5, (ir_op[]){IR_OP_TANH, IR_OP_SIGMOID, IR_OP_SUB, IR_OP_MUL, IR_OP_ADD});
  assert_inputs(f, 3, (int[]){a, zi, h});
  const ir_node *fe = output_node(g, "e"), *fo = output_node(g, "o");
  assert_int_equal(fe->op, IR_OP_FUSED);
  assert_body_ops(fe, 2, (ir_op[]){IR_OP_RELU, IR_OP_EXP});
  assert_int_equal(fo->op, IR_OP_FUSED);
  assert_body_ops(fo, 2, (ir_op[]){IR_OP_MUL, IR_OP_TANH});
  assert_inputs(fo, 1, (int[]){fe->outputs[0]});
  assert_int_equal(count_op(g, IR_OP_FUSED), 3);
  assert_int_equal(g->nnodes, 3);
  ir_graph_free(g);
}

/* a member whose result is smaller than the group's (it broadcasts) stays out */
static void chain_shape_boundary(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("bound");
  int x = ir_add_input(g, "x", tf32(2, 4, 8), L0);
  int v = ir_add_input(g, "v", tf32(1, 8), L0);
  int a = op1(g, IR_OP_RELU, "a", v);
  int b = op2(g, IR_OP_ADD, "b", x, a);
  ir_add_output(g, "c", op1(g, IR_OP_EXP, "c", b));
  assert_true(check_pass_numbers(g, pass_fuse, "fuse", NULL, 1));
  assert_int_equal(g->nnodes, 2);
  assert_int_equal(g->nodes[0].op, IR_OP_RELU);
  assert_body_ops(&g->nodes[1], 2, (ir_op[]){IR_OP_ADD, IR_OP_EXP});
  assert_inputs(&g->nodes[1], 2, (int[]){x, a});
  ir_graph_free(g);
}

/* lone elementwise nodes and param-only work stay as they are */
static void nothing_to_fuse(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("lone");
  int x = ir_add_input(g, "x", tf32(2, 4, 8), L0);
  int p = ir_add_param(g, "p", tf32(1, 8), L0);
  int q = ir_add_param(g, "q", tf32(2, 8, 8), L0);
  int r = op1(g, IR_OP_RELU, "r", x);
  int sm = mk(g, IR_OP_SOFTMAX, "sm", 1, r);
  ir_set_attr_int(g, sm, "dim", 1);
  int e = op1(g, IR_OP_EXP, "e", infer(g, sm));
  /* a chain and a matmul epilogue on params only: session start work */
  int pp = op1(g, IR_OP_TANH, "pp", op1(g, IR_OP_SIGMOID, "ps", p));
  int pq = op1(g, IR_OP_RELU, "pq", matmul(g, "pm", q, q));
  int o1 = op2(g, IR_OP_ADD, "o1", e, pp);
  int o2 = matmul(g, "o2", x, pq);
  ir_add_output(g, "e", e); /* two uses: not absorbed into o1 */
  ir_add_output(g, "o1", o1);
  ir_add_output(g, "o2", o2);
  int before = g->nnodes;
  assert_false(run_pass(g, pass_fuse, "fuse"));
  assert_int_equal(g->nnodes, before);
  assert_int_equal(count_op(g, IR_OP_FUSED), 0);
  ir_graph_free(g);
}

/* a graph output inside a would-be group ends the group there */
static void outputs_not_absorbed(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("outs");
  int x = ir_add_input(g, "x", tf32(2, 4, 8), L0);
  int a = op1(g, IR_OP_RELU, "a", x);
  int b = op1(g, IR_OP_TANH, "b", a);
  int c = op1(g, IR_OP_EXP, "c", b);
  ir_add_output(g, "c", c);
  ir_add_output(g, "a", a);
  assert_true(check_pass_numbers(g, pass_fuse, "fuse", NULL, 1));
  assert_int_equal(g->nnodes, 2);
  assert_int_equal(output_node(g, "a")->op, IR_OP_RELU);
  const ir_node *f = output_node(g, "c");
  assert_body_ops(f, 2, (ir_op[]){IR_OP_TANH, IR_OP_EXP});
  assert_inputs(f, 1, (int[]){a});
  ir_graph_free(g);
}

static const char *mlp_yaml =
    "seqc: 1\n"
    "name: mlp\n"
    "dims: {B: 2, T: 3}\n"
    "inputs:\n"
    "  x: {dtype: f32, shape: [B, T, 8]}\n"
    "outputs: [out]\n"
    "nodes:\n"
    "  fc1: {op: linear, input: x, out_features: 16}\n"
    "  act: {op: gelu, input: fc1}\n"
    "  ln: {op: layer_norm, input: act}\n"
    "  fc2: {op: linear, input: ln, out_features: 8}\n"
    "  r: {op: relu, input: fc2}\n"
    "  out: {op: add, inputs: [r, x]}\n";

/* the MLP through decompose .. fuse: two GEMMs with their epilogues */
static void mlp_pipeline(void **state) {
  (void)state;
  ir_graph *g = load_yaml(mlp_yaml);
  check_pipeline_numbers(g, SYMS, 1);
  assert_int_equal(count_op(g, IR_OP_FUSED), 2);
  assert_int_equal(count_op(g, IR_OP_TRANSPOSE), 2); /* weights, at session start */
  assert_int_equal(count_op(g, IR_OP_LAYER_NORM), 1);
  assert_int_equal(count_live(g), 5);
  const ir_node *out = output_node(g, "out");
  assert_string_equal(out->name, "out");
  assert_body_ops(out, 4, (ir_op[]){IR_OP_MATMUL, IR_OP_ADD, IR_OP_RELU, IR_OP_ADD});
  assert_int_equal(out->ninputs, 4);
  assert_int_equal(g->values[out->inputs[0]].def, find_op(g, IR_OP_LAYER_NORM));
  assert_string_equal(g->values[out->inputs[2]].name, "fc2.bias");
  assert_int_equal(out->inputs[3], g->inputs[0]);
  const ir_node *ln = &g->nodes[find_op(g, IR_OP_LAYER_NORM)];
  const ir_node *act = &g->nodes[g->values[ln->inputs[0]].def];
  assert_string_equal(act->name, "act");
  assert_body_ops(act, 3, (ir_op[]){IR_OP_MATMUL, IR_OP_ADD, IR_OP_GELU});
  assert_int_equal(act->inputs[0], g->inputs[0]);
  assert_int_equal(g->nodes[g->values[act->inputs[1]].def].op, IR_OP_TRANSPOSE);
  ir_graph_free(g);
}

static const char *tagger_yaml =
    "seqc: 1\n"
    "name: tagger\n"
    "dims: {B: 2, T: 5}\n"
    "inputs:\n"
    "  tokens: {dtype: i32, shape: [B, T]}\n"
    "outputs: [probs]\n"
    "nodes:\n"
    "  embed: {op: embedding, input: tokens, num_embeddings: 20, embedding_dim: 8}\n"
    "  drop: {op: dropout, input: embed, p: 0.2}\n"
    "  logits: {op: linear, input: drop, out_features: 4}\n"
    "  probs: {op: softmax, input: logits}\n";

/* embedding, linear, softmax: the bias add rides on the GEMM */
static void token_classifier(void **state) {
  (void)state;
  ir_graph *g = load_yaml(tagger_yaml);
  check_pipeline_numbers(g, SYMS, 20);
  assert_int_equal(count_op(g, IR_OP_FUSED), 1);
  assert_int_equal(count_op(g, IR_OP_DROPOUT), 0);
  const ir_node *probs = output_node(g, "probs");
  assert_int_equal(probs->op, IR_OP_SOFTMAX);
  const ir_node *f = &g->nodes[g->values[probs->inputs[0]].def];
  assert_string_equal(f->name, "logits");
  assert_body_ops(f, 2, (ir_op[]){IR_OP_MATMUL, IR_OP_ADD});
  assert_int_equal(g->nodes[g->values[f->inputs[0]].def].op, IR_OP_EMBEDDING);
  ir_graph_free(g);
}

static const char *chains_yaml =
    "seqc: 1\n"
    "name: chains\n"
    "dims: {B: 2, T: 3}\n"
    "inputs:\n"
    "  x: {dtype: f32, shape: [B, T, 8]}\n"
    "  y: {dtype: f32, shape: [T, 8]}\n"
    "  z: {dtype: f32, shape: [8]}\n"
    "outputs: [o, g]\n"
    "nodes:\n"
    "  a: {op: add, inputs: [x, y]}\n"
    "  s: {op: silu, input: a}\n"
    "  m: {op: mul, inputs: [s, z]}\n"
    "  d: {op: div, inputs: [m, x]}\n"
    "  g: {op: gelu, input: d, approximate: tanh}\n"
    "  e: {op: exp, input: z}\n"
    "  sq: {op: sigmoid, input: e}\n"
    "  o: {op: sub, inputs: [g, sq]}\n";

/* broadcasting chains from YAML: an output ends one group, a smaller shape
 * another */
static void yaml_chains(void **state) {
  (void)state;
  ir_graph *g = load_yaml(chains_yaml);
  check_pipeline_numbers(g, SYMS, 1);
  /* [a s m d g] (g is an output, so its own group's end), [e sq], o alone */
  assert_int_equal(count_op(g, IR_OP_FUSED), 2);
  const ir_node *gn = output_node(g, "g");
  assert_body_ops(gn, 5, (ir_op[]){IR_OP_ADD, IR_OP_SILU, IR_OP_MUL, IR_OP_DIV, IR_OP_GELU});
  assert_inputs(gn, 3, (int[]){g->inputs[0], g->inputs[1], g->inputs[2]});
  assert_int_equal(ir_attr_int(&gn->body->nodes[4], "tanh"), 1);
  const ir_node *o = output_node(g, "o");
  assert_int_equal(o->op, IR_OP_SUB);
  const ir_node *sq = &g->nodes[g->values[o->inputs[1]].def];
  assert_body_ops(sq, 2, (ir_op[]){IR_OP_EXP, IR_OP_SIGMOID});
  ir_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(epilogue_bias_relu),
      cmocka_unit_test(epilogue_stops),
      cmocka_unit_test(epilogue_same_operands),
      cmocka_unit_test(chain_with_broadcast),
      cmocka_unit_test(chain_shape_boundary),
      cmocka_unit_test(chain_reads_twice),
      cmocka_unit_test(nothing_to_fuse),
      cmocka_unit_test(outputs_not_absorbed),
      cmocka_unit_test(mlp_pipeline),
      cmocka_unit_test(token_classifier),
      cmocka_unit_test(yaml_chains),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
