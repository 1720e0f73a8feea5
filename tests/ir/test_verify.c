/*
 * test_verify.c: the verifier accepts a well-formed graph and names each kind
 * of breakage a pass could leave behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "ir.h"

static const ir_loc L = {3, 5};

static ir_type ty(int rank, ...) {
  ir_type t = {.dtype = IR_F32, .rank = rank};
  va_list ap;
  va_start(ap, rank);
  for (int i = 0; i < rank; i++) t.dims[i] = ir_dim_const(va_arg(ap, int));
  va_end(ap);
  return t;
}

static int add(ir_graph *g, ir_op op, const char *name, ir_type t, int nin, ...) {
  int ins[8];
  va_list ap;
  va_start(ap, nin);
  for (int i = 0; i < nin; i++) ins[i] = va_arg(ap, int);
  va_end(ap);
  int n = ir_add_node(g, op, name, ins, nin, L);
  g->values[g->nodes[n].outputs[0]].type = t;
  return n;
}

/* value ids of the base graph */
enum { X = 0, W = 1, R = 2, M = 3, S = 4 };

/*
 * x f32[2, 3], param w f32[3, 3]
 * node 0  r  = relu x
 * node 1  mm = matmul r, w {trans_b=0}
 * node 2  sm = softmax mm {dim=1}
 * output y = sm
 */
static ir_graph *base(void) {
  ir_graph *g = ir_graph_new("base");
  assert_int_equal(ir_add_input(g, "x", ty(2, 2, 3), L), X);
  assert_int_equal(ir_add_param(g, "w", ty(2, 3, 3), L), W);
  add(g, IR_OP_RELU, "r", ty(2, 2, 3), 1, X);
  ir_set_attr_int(g, add(g, IR_OP_MATMUL, "mm", ty(2, 2, 3), 2, R, W), "trans_b", 0);
  ir_set_attr_int(g, add(g, IR_OP_SOFTMAX, "sm", ty(2, 2, 3), 1, M), "dim", 1);
  ir_add_output(g, "y", S);
  return g;
}

/* runs the verifier; returns what it printed (caller frees) and its verdict in *ok */
static char *verify(const ir_graph *g, bool *ok) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  *ok = ir_verify(g, "test", f);
  fclose(f);
  return text;
}

/* the verifier must fail and print `want` (a whole line, prefix added here) */
static void fails_with(ir_graph *g, const char *want) {
  bool ok;
  char *text = verify(g, &ok);
  char line[1024];
  snprintf(line, sizeof line, "seqc: error: internal error: IR verifier after 'test': %s\n", want);
  if (ok || !strstr(text, line))
    fail_msg("verifier %s, printed:\n%s\nexpected the line:\n%s", ok ? "passed" : "failed", text,
             line);
  free(text);
  ir_graph_free(g);
}

static void test_valid_graph_passes(void **state) {
  (void)state;
  ir_graph *g = base();
  bool ok;
  char *text = verify(g, &ok);
  assert_true(ok);
  assert_string_equal(text, "");
  free(text);
  /* dead nodes whose results nobody reads are fine, as are graph outputs that are inputs */
  add(g, IR_OP_EXP, "gone", ty(2, 2, 3), 1, 999); /* garbage input, but dead */
  g->nodes[3].dead = true;
  ir_add_output(g, "x", X);
  text = verify(g, &ok);
  assert_true(ok);
  free(text);
  ir_graph_free(g);
}

static void test_wrong_arity(void **state) {
  (void)state;
  ir_graph *g = base();
  g->nodes[1].ninputs = 1;
  fails_with(g, "node 1 (mm, matmul): 1 inputs, expected 2");

  g = base();
  g->nodes[1].noutputs = 0;
  fails_with(g, "node 1 (mm, matmul): 0 results, expected 1");

  g = base();
  ir_set_attr_int(g, add(g, IR_OP_CONCAT, "cat", ty(2, 2, 3), 0), "dim", 0);
  fails_with(g, "node 3 (cat, concat): 0 inputs, expected at least 1");

  g = base();
  add(g, IR_OP_LINEAR, "fc", ty(2, 2, 3), 4, X, W, W, W);
  fails_with(g, "node 3 (fc, linear): 4 inputs, expected 2 to 3");

  g = base();
  g->nodes[0].op = IR_OP_COUNT;
  char want[64];
  snprintf(want, sizeof want, "node 0 (r, ?op): invalid op %d", (int)IR_OP_COUNT);
  fails_with(g, want);
}

static void test_use_before_definition(void **state) {
  (void)state;
  ir_graph *g = base();
  g->nodes[0].inputs[0] = S;
  fails_with(g, "node 0 (r, relu): input 0 reads %4 before its definition by node 2 (sm)");

  /* reading its own result */
  g = base();
  g->nodes[1].inputs[0] = M;
  fails_with(g, "node 1 (mm, matmul): input 0 reads %3 before its definition by node 1 (mm)");

  g = base();
  g->nodes[0].dead = true;
  fails_with(g, "node 1 (mm, matmul): input 0 reads %2, the result of dead node 0 (r)");

  g = base();
  g->nodes[2].dead = true;
  ir_graph_reindex(g);
  fails_with(g, "output 'y' is %4, which no live node defines");

  g = base();
  g->ninputs = 0; /* x is no longer a graph input */
  fails_with(g, "node 0 (r, relu): input 0 reads %0, an input missing from the graph's input list");

  g = base();
  g->nodes[2].inputs[0] = 77;
  fails_with(g, "node 2 (sm, softmax): input 0 is %77, not a value");
}

static void test_def_consistency(void **state) {
  (void)state;
  ir_graph *g = base();
  g->values[M].def = 2;
  fails_with(g, "node 1 (mm, matmul): result %3 says it is result 0 of node 2");

  g = base();
  g->nodes[2].outputs[0] = M; /* two nodes define %3 */
  fails_with(g, "node 2 (sm, softmax): result %3 is defined twice");

  g = base();
  g->nodes[0].outputs[0] = W;
  fails_with(g, "node 0 (r, relu): result %1 is not a node value");
}

static void test_missing_attribute(void **state) {
  (void)state;
  ir_graph *g = base();
  g->nodes[2].nattrs = 0;
  fails_with(g, "node 2 (sm, softmax): missing attribute 'dim' (int)");

  g = base();
  int n = add(g, IR_OP_LAYER_NORM, "ln", ty(2, 2, 3), 3, S, W, W);
  fails_with(g, "node 3 (ln, layer_norm): missing attribute 'eps' (float)");
  (void)n;
}

static void test_wrong_attribute_kind(void **state) {
  (void)state;
  ir_graph *g = base();
  ir_set_attr_float(g, 2, "dim", 1.0);
  fails_with(g, "node 2 (sm, softmax): attribute 'dim' is float, expected int");

  g = base();
  int64_t one = 1;
  ir_set_attr_ints(g, 1, "trans_b", &one, 1);
  fails_with(g, "node 1 (mm, matmul): attribute 'trans_b' is int list, expected int");

  g = base();
  ir_set_attr_str(g, 0, "approximate", "tanh");
  fails_with(g, "node 0 (r, relu): attribute 'approximate' is not in ops.def for relu");
}

static void test_attribute_values(void **state) {
  (void)state;
  ir_graph *g = base();
  ir_set_attr_int(g, 2, "dim", 2);
  fails_with(g, "node 2 (sm, softmax): dim 2 outside [0, 2)");

  g = base();
  ir_set_attr_int(g, 1, "trans_b", 2);
  fails_with(g, "node 1 (mm, matmul): attribute 'trans_b' is not 0 or 1");

  g = base();
  int64_t perm[] = {0, 0};
  ir_set_attr_ints(g, add(g, IR_OP_TRANSPOSE, "t", ty(2, 3, 2), 1, S), "perm", perm, 2);
  fails_with(g, "node 3 (t, transpose): perm is not a permutation of 0..1");

  g = base();
  ir_set_attr_ints(g, add(g, IR_OP_TRANSPOSE, "t", ty(2, 3, 2), 1, S), "perm", perm, 1);
  fails_with(g, "node 3 (t, transpose): perm has 1 entries for an input of rank 2");

  g = base();
  add(g, IR_OP_RESHAPE, "rs", ty(1, 5), 1, S);
  fails_with(g, "node 3 (rs, reshape): reshape of 6 elements into 5");

  g = base();
  ir_set_attr_int(g, add(g, IR_OP_CONCAT, "cat", ty(2, 4, 3), 2, S, W), "dim", 0);
  g->values[W].type = ty(1, 9);
  fails_with(g, "node 3 (cat, concat): input 1 is f32 of rank 1, input 0 f32 of rank 2");
}

/* attention: q, k, v and either the caches or, with key_padding 1, the mask */
static ir_graph *attention_graph(int nin, bool key_padding) {
  ir_graph *g = ir_graph_new("attn");
  ir_type m = {.dtype = IR_I64, .rank = 2, .dims = {ir_dim_const(1), ir_dim_const(2)}};
  int q = ir_add_input(g, "q", ty(4, 1, 1, 2, 4), L), k = ir_add_input(g, "k", ty(4, 1, 1, 2, 4), L);
  int v = ir_add_input(g, "v", ty(4, 1, 1, 2, 4), L), pad = ir_add_input(g, "pad", m, L);
  int ins[4] = {q, k, v, pad};
  int n = ir_insert_node_n(g, 0, IR_OP_ATTENTION, "a", ins, nin, 1, L);
  g->values[g->nodes[n].outputs[0]].type = ty(4, 1, 1, 2, 4);
  ir_set_attr_float(g, n, "scale", 0.5);
  ir_set_attr_int(g, n, "causal", 0);
  ir_set_attr_int(g, n, "window", -1);
  if (key_padding) ir_set_attr_int(g, n, "key_padding", 1);
  ir_add_output(g, "y", g->nodes[n].outputs[0]);
  return g;
}

static void test_attention_inputs(void **state) {
  (void)state;
  ir_graph *g = attention_graph(4, true);
  bool ok;
  free(verify(g, &ok));
  assert_true(ok);
  ir_graph_free(g);
  fails_with(attention_graph(3, true),
             "node 0 (a, attention): 3 inputs with key_padding 1, expected 4 (q, k, v, mask)");
  fails_with(attention_graph(4, false),
             "node 0 (a, attention): 4 inputs with key_padding 0, expected 3 or 5 (q, k, v[, kc, vc])");
}

/* attention with pos_bias: the table comes last, after what the other attributes ask for */
static ir_graph *bias_graph(int nin, int64_t R) {
  ir_graph *g = ir_graph_new("attn");
  int q = ir_add_input(g, "q", ty(4, 1, 1, 2, 4), L);
  int k = ir_add_input(g, "k", ty(4, 1, 1, 2, 4), L);
  int v = ir_add_input(g, "v", ty(4, 1, 1, 2, 4), L), t = ir_add_input(g, "t", ty(2, 1, 3), L);
  int ins[4] = {q, k, v, t};
  int n = ir_insert_node_n(g, 0, IR_OP_ATTENTION, "a", ins, nin, 1, L);
  g->values[g->nodes[n].outputs[0]].type = ty(4, 1, 1, 2, 4);
  ir_set_attr_float(g, n, "scale", 0.5);
  ir_set_attr_int(g, n, "causal", 0);
  ir_set_attr_int(g, n, "window", -1);
  ir_set_attr_int(g, n, "pos_bias", R);
  ir_add_output(g, "y", g->nodes[n].outputs[0]);
  return g;
}

static void test_attention_bias_inputs(void **state) {
  (void)state;
  ir_graph *g = bias_graph(4, 1);
  bool ok;
  free(verify(g, &ok));
  assert_true(ok);
  ir_graph_free(g);
  fails_with(bias_graph(3, 1), "node 0 (a, attention): 3 inputs with key_padding 0 and pos_bias, "
                               "expected 3 or 5 (q, k, v[, kc, vc]) and the table");
  fails_with(bias_graph(4, -1), "node 0 (a, attention): pos_bias -1, expected >= 0");
}

/* symbolic reshape: [B, T, 4] -> [B*T, 4] is fine, -> [B, 4*T] is fine, -> [T, 4] is not */
static void test_symbolic_reshape(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("sym");
  int B = ir_graph_add_sym(g, "B", 2, L), T = ir_graph_add_sym(g, "T", 8, L);
  ir_type xt = {IR_F32, 3, {ir_dim_sym(B), ir_dim_sym(T), ir_dim_const(4)}};
  int x = ir_add_input(g, "x", xt, L);
  ir_type flat = {IR_F32, 2, {ir_dim_const(0), ir_dim_const(4)}}, wide = flat;
  assert_true(ir_dim_mul(ir_dim_sym(B), ir_dim_sym(T), &flat.dims[0]));
  wide.dims[0] = ir_dim_sym(B);
  assert_true(ir_dim_mul(ir_dim_const(4), ir_dim_sym(T), &wide.dims[1]));
  add(g, IR_OP_RESHAPE, "flat", flat, 1, x);
  add(g, IR_OP_RESHAPE, "wide", wide, 1, x);
  bool ok;
  char *text = verify(g, &ok);
  assert_true(ok);
  free(text);
  ir_type bad = {IR_F32, 2, {ir_dim_sym(T), ir_dim_const(4)}};
  add(g, IR_OP_RESHAPE, "bad", bad, 1, x);
  fails_with(g, "node 2 (bad, reshape): reshape of 4*B*T elements into 4*T");
}

static void test_uninferred_type(void **state) {
  (void)state;
  ir_graph *g = base();
  g->values[M].type.rank = -1;
  fails_with(g, "node 1 (mm, matmul): result %3 has no inferred type");

  g = base();
  g->values[X].type.rank = -1;
  fails_with(g, "value %0 (x) has no inferred type");

  g = base();
  g->values[R].type.dims[0] = ir_dim_sym(3); /* the graph has no symbols */
  fails_with(g, "node 0 (r, relu): result %2 has a dim naming an unknown symbol");
}

/* fused (x, w): body a + b with one output, as the fuse pass builds it */
static ir_graph *with_fused(ir_graph **body) {
  ir_graph *g = base();
  int ins[] = {S, X};
  int n = ir_add_node(g, IR_OP_FUSED, "f", ins, 2, L);
  g->values[g->nodes[n].outputs[0]].type = ty(2, 2, 3);
  ir_graph *b = ir_graph_new("f");
  b->parent = g;
  int a0 = ir_add_input(b, "a", ty(2, 2, 3), L);
  int a1 = ir_add_input(b, "b", ty(2, 2, 3), L);
  add(b, IR_OP_ADD, "s", ty(2, 2, 3), 2, a0, a1);
  ir_add_output(b, "out", 2);
  g->nodes[n].body = b;
  ir_add_output(g, "f", g->nodes[n].outputs[0]);
  *body = b;
  return g;
}

static void test_bad_body(void **state) {
  (void)state;
  ir_graph *b;
  ir_graph *g = with_fused(&b);
  bool ok;
  char *text = verify(g, &ok);
  assert_true(ok);
  free(text);
  ir_graph_free(g);

  g = with_fused(&b);
  b->nodes[0].ninputs = 1;
  fails_with(g, "node 3 (f, fused): body: node 0 (s, add): 1 inputs, expected 2");

  g = with_fused(&b);
  b->nodes[0].inputs[1] = 2; /* its own result */
  fails_with(g, "node 3 (f, fused): body: node 0 (s, add): input 1 reads %2 before its "
                "definition by node 0 (s)");

  g = with_fused(&b);
  b->ninputs = 1;
  fails_with(g, "node 3 (f, fused): body has 1 inputs for 2 node inputs");

  g = with_fused(&b);
  ir_add_output(b, "again", 2);
  fails_with(g, "node 3 (f, fused): body has 2 outputs, expected 1");

  g = with_fused(&b);
  b->values[1].type = ty(1, 3);
  fails_with(g, "node 3 (f, fused): body input 1 has another type than node input 1");

  g = with_fused(&b);
  b->parent = NULL;
  fails_with(g, "node 3 (f, fused): body's parent is not this graph");

  g = with_fused(&b);
  ir_graph_free(b);
  g->nodes[3].body = NULL;
  fails_with(g, "node 3 (f, fused): has no body");

  /* a body on an op that has none */
  g = base();
  g->nodes[0].body = ir_graph_new("stray");
  g->nodes[0].body->parent = g;
  fails_with(g, "node 0 (r, relu): has a body but is not fused");
}

static void test_buffers(void **state) {
  (void)state;
  ir_graph *g = base();
  g->buffers = ir_alloc(g, sizeof(ir_buffer) * 2);
  g->nbuffers = 2;
  g->buffers[0] = (ir_buffer){.value = X, .role = SEQRT_ROLE_INPUT, .alias = -1};
  g->buffers[1] = (ir_buffer){.value = S, .role = SEQRT_ROLE_OUTPUT, .first = 2, .last = 2,
                              .alias = -1};
  g->values[X].buffer = 0;
  g->values[S].buffer = 1;
  bool ok;
  char *text = verify(g, &ok);
  assert_true(ok);
  free(text);
  g->values[M].buffer = 2;
  fails_with(g, "value %3 has buffer 2, outside [-1, 2)");
}

/* the session state: read and written whole, by the top graph, the writes last */
static void test_state(void **state) {
  (void)state;
  ir_graph *g = base();
  int st = ir_add_state(g, "h", ty(2, 2, 3), L); /* value 5 */
  int rd = ir_add_node(g, IR_OP_STATE_READ, "read", (int[]){st, X}, 2, L);
  g->values[g->nodes[rd].outputs[0]].type = ty(2, 2, 3);
  ir_add_node(g, IR_OP_STATE_WRITE, "write", (int[]){st, S}, 2, L);
  bool ok;
  free(verify(g, &ok));
  assert_true(ok);
  /* a node after the write */
  add(g, IR_OP_EXP, "late", ty(2, 2, 3), 1, X);
  fails_with(g, "node 5 (late, exp): comes after a state write (state writes must be the last "
                "nodes)");
  /* a write of a value of another type */
  g = base();
  st = ir_add_state(g, "h", ty(2, 3, 3), L);
  ir_add_node(g, IR_OP_STATE_WRITE, "write", (int[]){st, S}, 2, L);
  fails_with(g, "node 3 (write, state_write): input 1 does not have the state's type");
  /* a read of something that is no state */
  g = base();
  rd = ir_add_node(g, IR_OP_STATE_READ, "read", (int[]){X, X}, 2, L);
  g->values[g->nodes[rd].outputs[0]].type = ty(2, 2, 3);
  fails_with(g, "node 3 (read, state_read): input 0 is not a STATE value of the top graph");
}

static void test_reports_each_broken_node(void **state) {
  (void)state;
  ir_graph *g = base();
  g->nodes[0].ninputs = 2;
  g->nodes[2].nattrs = 0;
  bool ok;
  char *text = verify(g, &ok);
  assert_false(ok);
  assert_non_null(strstr(text, "node 0 (r, relu): 2 inputs, expected 1\n"));
  assert_non_null(strstr(text, "node 2 (sm, softmax): missing attribute 'dim' (int)\n"));
  free(text);
  ir_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid_graph_passes),
      cmocka_unit_test(test_wrong_arity),
      cmocka_unit_test(test_use_before_definition),
      cmocka_unit_test(test_def_consistency),
      cmocka_unit_test(test_missing_attribute),
      cmocka_unit_test(test_wrong_attribute_kind),
      cmocka_unit_test(test_attribute_values),
      cmocka_unit_test(test_symbolic_reshape),
      cmocka_unit_test(test_attention_inputs),
      cmocka_unit_test(test_attention_bias_inputs),
      cmocka_unit_test(test_uninferred_type),
      cmocka_unit_test(test_bad_body),
      cmocka_unit_test(test_buffers),
      cmocka_unit_test(test_state),
      cmocka_unit_test(test_reports_each_broken_node),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
