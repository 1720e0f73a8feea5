/*
 * test_scan.c: SCAN and FILL in shape inference, the verifier and the
 * reference interpreter, on graphs built by hand: a tanh recurrence forward
 * and reversed (checked against a plain C loop), segments of chunk 2 with
 * per-segment and per-step emits, the user errors inference reports, the
 * broken bodies the verifier catches, and the h0 check of the layer ops.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

static const ir_loc L = {3, 5};

static ir_type ty(int rank, const int *dims) {
  ir_type t = {.dtype = IR_F32, .rank = rank};
  for (int i = 0; i < rank; i++) t.dims[i] = dims[i] >= 0 ? ir_dim_const(dims[i]) : ir_dim_sym(0);
  return t;
}
#define T_(...) ty(sizeof((int[]){__VA_ARGS__}) / sizeof(int), (int[]){__VA_ARGS__})
enum { SB = -1 }; /* the symbol B in a T_ list */

/* infers node n; false with the diagnostics in *msg (malloc'd) on error */
static bool infer_msg(ir_graph *g, int n, char **msg) {
  size_t len = 0;
  FILE *f = open_memstream(msg, &len);
  ir_diags d;
  ir_diags_init(&d, "t.yaml", NULL, 0, f);
  bool ok = ir_infer_node(g, n, &d);
  fclose(f);
  return ok && d.nerrors == 0;
}

static void infer_ok(ir_graph *g, int n) {
  char *msg = NULL;
  bool ok = infer_msg(g, n, &msg);
  if (!ok) fprintf(stderr, "%s", msg);
  free(msg);
  assert_true(ok);
}

/* a body node of op on a (and b when >= 0), inferred; its result */
static int bop(ir_graph *b, ir_op op, int x, int y) {
  int in[2] = {x, y};
  int n = ir_add_node(b, op, ir_ops[op].name, in, y >= 0 ? 2 : 1, L);
  infer_ok(b, n);
  return b->nodes[n].outputs[0];
}

/* FILL of type t with v; its result */
static int fill(ir_graph *g, ir_type t, double v) {
  int n = ir_add_node(g, IR_OP_FILL, "zeros", NULL, 0, L);
  ir_set_attr_float(g, n, "value", v);
  g->values[g->nodes[n].outputs[0]].type = t;
  infer_ok(g, n);
  return g->nodes[n].outputs[0];
}

/* a SCAN over ins with body b (outputs set), attributes as given; the node index */
static int scan(ir_graph *g, ir_graph *b, const int *ins, int nin, int nover, int nstate,
                bool reverse, int chunk) {
  int n = ir_insert_node_n(g, g->nnodes, IR_OP_SCAN, "cell", ins, nin, b->noutputs, L);
  g->nodes[n].body = b;
  ir_set_attr_int(g, n, "nover", nover);
  ir_set_attr_int(g, n, "nstate", nstate);
  ir_set_attr_int(g, n, "reverse", reverse);
  ir_set_attr_int(g, n, "chunk", chunk);
  return n;
}

/*
 * x [B, T, 2] over, h0 zeros [B, 2], capture w [2] (a param):
 *   hn = tanh(x_t * w + h);  emits hn and s = x_t + h; next h = hn
 */
static ir_graph *tanh_cell(int T, bool reverse, int *node) {
  ir_graph *g = ir_graph_new("scan");
  ir_graph_add_sym(g, "B", 2, L);
  int x = ir_add_input(g, "x", T_(SB, T, 2), L);
  int w = ir_add_param(g, "cell.w", T_(2), L);
  int h0 = fill(g, T_(SB, 2), 0.0);
  ir_graph *b = ir_graph_new(NULL);
  b->parent = g;
  int bx = ir_add_input(b, "x", T_(SB, 2), L), bh = ir_add_input(b, "h", T_(SB, 2), L);
  int bw = ir_add_input(b, "cell.w", T_(2), L);
  int hn = bop(b, IR_OP_TANH, bop(b, IR_OP_ADD, bop(b, IR_OP_MUL, bx, bw), bh), -1);
  int s = bop(b, IR_OP_ADD, bx, bh);
  ir_add_output(b, "hn", hn);
  ir_add_output(b, "s", s);
  ir_add_output(b, "h", hn);
  int ins[3] = {x, h0, w};
  *node = scan(g, b, ins, 3, 1, 1, reverse, 1);
  infer_ok(g, *node);
  for (int k = 0; k < 3; k++) {
    static const char *names[] = {"cell", "cell.s", "cell.h"};
    ir_add_output(g, names[k], g->nodes[*node].outputs[k]);
  }
  return g;
}

static const float W[2] = {0.5f, -1.25f};

static bool get_w(void *user, const char *name, seqrt_tensor *out) {
  (void)user;
  if (strcmp(name, "cell.w")) return false;
  *out = (seqrt_tensor){.dtype = SEQRT_F32, .rank = 1, .shape = {2}, .data = (void *)W};
  return true;
}

static void types_of(const ir_graph *g, int node, const char *want) {
  char got[512] = "", buf[128];
  for (int k = 0; k < g->nodes[node].noutputs; k++) {
    const ir_type *t = &g->values[g->nodes[node].outputs[k]].type;
    snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", k ? " " : "",
             ir_type_str(g, t, buf, sizeof buf));
  }
  assert_string_equal(got, want);
}

static void run_tanh_cell(bool reverse) {
  enum { B = 2, T = 3 };
  int node;
  ir_graph *g = tanh_cell(T, reverse, &node);
  assert_true(ir_verify(g, "test", stderr));
  types_of(g, node, "[B, 3, 2] [B, 3, 2] [B, 2]");
  float x[B * T * 2];
  for (int i = 0; i < B * T * 2; i++) x[i] = (float)sin(0.7 * i + 0.1);
  seqrt_tensor in = {.dtype = SEQRT_F32, .rank = 3, .shape = {B, T, 2}, .data = x};
  int64_t syms[1] = {B};
  seqrt_tensor out[3];
  seqrt_error err = {{0}};
  assert_true(ir_eval(g, syms, &in, get_w, NULL, out, &err));
  for (int b = 0; b < B; b++) {
    double h[2] = {0, 0};
    for (int s = 0; s < T; s++) {
      int t = reverse ? T - 1 - s : s;
      for (int j = 0; j < 2; j++) {
        double xv = x[(b * T + t) * 2 + j];
        double sum = xv + h[j], hn = tanh(xv * (double)W[j] + h[j]);
        assert_float_equal(((float *)out[1].data)[(b * T + t) * 2 + j], sum, 1e-6);
        assert_float_equal(((float *)out[0].data)[(b * T + t) * 2 + j], hn, 1e-6);
        h[j] = hn;
      }
    }
    for (int j = 0; j < 2; j++) assert_float_equal(((float *)out[2].data)[b * 2 + j], h[j], 1e-6);
  }
  assert_int_equal(out[0].rank, 3);
  assert_int_equal(out[2].rank, 2);
  for (int k = 0; k < 3; k++) free(out[k].data);
  ir_graph_free(g);
}

static void test_tanh_forward(void **state) {
  (void)state;
  run_tanh_cell(false);
}

static void test_tanh_reverse(void **state) {
  (void)state;
  run_tanh_cell(true);
}

/*
 * x [B, 4, 2] in segments of 2: emits the segment itself scaled by the
 * running sum ([B, 2, 2] -> [B, 4, 2]) and the segment's mean ([B, 2] ->
 * [B, 2, 2]); state m' = m + mean.
 */
static void run_chunks(bool reverse) {
  enum { B = 1, T = 4 };
  ir_graph *g = ir_graph_new("chunks");
  ir_graph_add_sym(g, "B", B, L);
  int x = ir_add_input(g, "x", T_(SB, T, 2), L);
  int m0 = fill(g, T_(SB, 2), 1.0);
  ir_graph *b = ir_graph_new(NULL);
  b->parent = g;
  int bx = ir_add_input(b, "x", T_(SB, 2, 2), L), bm = ir_add_input(b, "m", T_(SB, 2), L);
  int mn = ir_add_node(b, IR_OP_MEAN, "mean", &bx, 1, L);
  ir_set_attr_int(b, mn, "dim", 1);
  ir_set_attr_int(b, mn, "keepdim", 0);
  infer_ok(b, mn);
  int mean = b->nodes[mn].outputs[0];
  int m1 = bop(b, IR_OP_ADD, bm, mean);
  int rs = ir_add_node(b, IR_OP_RESHAPE, "m3", &bm, 1, L);
  b->values[b->nodes[rs].outputs[0]].type = T_(SB, 1, 2);
  infer_ok(b, rs);
  int scaled = bop(b, IR_OP_MUL, bx, b->nodes[rs].outputs[0]);
  ir_add_output(b, "scaled", scaled);
  ir_add_output(b, "mean", mean);
  ir_add_output(b, "m", m1);
  int ins[2] = {x, m0};
  int node = scan(g, b, ins, 2, 1, 1, reverse, 2);
  infer_ok(g, node);
  types_of(g, node, "[B, 4, 2] [B, 2, 2] [B, 2]");
  for (int k = 0; k < 3; k++)
    ir_add_output(g, k == 0 ? "cell" : k == 1 ? "mean" : "m", g->nodes[node].outputs[k]);
  assert_true(ir_verify(g, "test", stderr));

  float xs[T * 2] = {1, 2, 3, 4, 5, 6, 7, 8};
  seqrt_tensor in = {.dtype = SEQRT_F32, .rank = 3, .shape = {B, T, 2}, .data = xs};
  int64_t syms[1] = {B};
  seqrt_tensor out[3];
  seqrt_error err = {{0}};
  assert_true(ir_eval(g, syms, &in, NULL, NULL, out, &err));
  /* segment means: (2, 3) and (6, 7) */
  const float *sc = out[0].data, *me = out[1].data, *m = out[2].data;
  assert_float_equal(me[0], 2, 1e-6);
  assert_float_equal(me[1], 3, 1e-6);
  assert_float_equal(me[2], 6, 1e-6);
  assert_float_equal(me[3], 7, 1e-6);
  assert_float_equal(m[0], 9, 1e-6);
  assert_float_equal(m[1], 11, 1e-6);
  /* the first segment run sees m = 1, the second 1 + its predecessor's mean */
  float first[2] = {1, 1}, second[2] = {reverse ? 7.0f : 3.0f, reverse ? 8.0f : 4.0f};
  const float *seg0 = reverse ? second : first, *seg1 = reverse ? first : second;
  for (int r = 0; r < 2; r++)
    for (int j = 0; j < 2; j++) {
      assert_float_equal(sc[r * 2 + j], xs[r * 2 + j] * seg0[j], 1e-6);
      assert_float_equal(sc[4 + r * 2 + j], xs[4 + r * 2 + j] * seg1[j], 1e-6);
    }
  for (int k = 0; k < 3; k++) free(out[k].data);
  ir_graph_free(g);
}

static void test_chunks_forward(void **state) {
  (void)state;
  run_chunks(false);
}

static void test_chunks_reverse(void **state) {
  (void)state;
  run_chunks(true);
}

/* a one-state identity body over x of type xt, chunk c: the node's inference error */
static char *scan_error(ir_type xt, int chunk, ir_type state, bool bad_next) {
  ir_graph *g = ir_graph_new("bad");
  ir_graph_add_sym(g, "B", 2, L);
  int x = ir_add_input(g, "x", xt, L);
  int h0 = fill(g, state, 0.0);
  ir_graph *b = ir_graph_new(NULL);
  b->parent = g;
  ir_type step = xt;
  if (chunk > 1)
    step.dims[1] = ir_dim_const(chunk);
  else
    memmove(&step.dims[1], &step.dims[2], sizeof(ir_dim) * (size_t)(--step.rank - 1));
  int bx = ir_add_input(b, "x", step, L), bh = ir_add_input(b, "h", state, L);
  ir_add_output(b, "x", bx);
  ir_add_output(b, "h", bad_next ? bx : bh);
  int ins[2] = {x, h0};
  int n = scan(g, b, ins, 2, 1, 1, false, chunk);
  char *msg = NULL;
  assert_false(infer_msg(g, n, &msg));
  ir_graph_free(g);
  return msg;
}

static void test_inference_errors(void **state) {
  (void)state;
  char *m = scan_error(T_(SB, 5, 3), 2, T_(SB, 3), false);
  assert_non_null(strstr(m,
                         "t.yaml:3:5: error: scan 'cell': chunk 2 does not divide the "
                         "sequence length 5"));
  free(m);
  m = scan_error(T_(SB, 4, 3), 1, T_(SB, 4), true);
  assert_non_null(strstr(m,
                         "scan 'cell': next value of state 'h' is f32 [B, 3], but the state "
                         "is f32 [B, 4]"));
  free(m);
}

/* a good scan for the verifier tests, and what breaking it does */
static void test_verifier(void **state) {
  (void)state;
  int node;
  ir_graph *g = tanh_cell(4, false, &node);
  char *out = NULL;
  size_t len = 0;
  assert_true(ir_verify(g, "test", stderr));

  /* a param inside the body: params must enter as captures */
  ir_graph *b = g->nodes[node].body;
  int p = ir_add_param(b, "cell.q", T_(2), L);
  FILE *f = open_memstream(&out, &len);
  assert_false(ir_verify(g, "test", f));
  fclose(f);
  assert_non_null(strstr(out, "params enter a body as captures"));
  free(out);
  b->values[p].kind = IR_VAL_CONST; /* undo, as a const with data */
  b->values[p].data = ir_alloc(b, 8);
  assert_true(ir_verify(g, "test", stderr));

  /* the state's result of another type than the state */
  int res = g->nodes[node].outputs[2];
  g->values[res].type = T_(SB, 3);
  f = open_memstream(&out, &len);
  assert_false(ir_verify(g, "test", f));
  fclose(f);
  assert_non_null(strstr(out,
                         "node 1 (cell, scan): state 0: next value, initial value and result "
                         "differ in type"));
  free(out);
  g->values[res].type = T_(SB, 2);

  /* lengths=1 needs an integer [B] first capture (here the f32 [2] weight) */
  ir_set_attr_int(g, node, "lengths", 1);
  f = open_memstream(&out, &len);
  assert_false(ir_verify(g, "test", f));
  fclose(f);
  assert_non_null(strstr(out, "node 1 (cell, scan): lengths=1 but input 2 is no integer [B]"));
  free(out);
  ir_set_attr_int(g, node, "lengths", 0);
  assert_true(ir_verify(g, "test", stderr));

  /* a broken node inside the body is reported with the scan as its place */
  ir_node *tn = &b->nodes[b->nnodes - 1];
  tn->inputs[0] = 999;
  f = open_memstream(&out, &len);
  assert_false(ir_verify(g, "test", f));
  fclose(f);
  assert_non_null(strstr(out, "node 1 (cell, scan): body: node"));
  free(out);
  ir_graph_free(g);
}

/* FILL: every element, any dtype */
static void test_fill(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("fill");
  ir_graph_add_sym(g, "B", 3, L);
  int v = fill(g, T_(SB, 2), -2.5);
  int n = ir_add_node(g, IR_OP_FILL, "ones", NULL, 0, L);
  ir_set_attr_float(g, n, "value", 7.0);
  g->values[g->nodes[n].outputs[0]].type =
      (ir_type){.dtype = IR_I32, .rank = 1, .dims = {ir_dim_const(4)}};
  infer_ok(g, n);
  ir_add_output(g, "z", v);
  ir_add_output(g, "i", g->nodes[n].outputs[0]);
  assert_true(ir_verify(g, "test", stderr));
  int64_t syms[1] = {3};
  seqrt_tensor out[2];
  seqrt_error err = {{0}};
  assert_true(ir_eval(g, syms, NULL, NULL, NULL, out, &err));
  assert_int_equal(out[0].shape[0], 3);
  for (int i = 0; i < 6; i++) assert_float_equal(((float *)out[0].data)[i], -2.5, 0);
  for (int i = 0; i < 4; i++) assert_int_equal(((int32_t *)out[1].data)[i], 7);
  free(out[0].data);
  free(out[1].data);
  ir_graph_free(g);
}

/* a one-layer GRU with h0 of the wrong shape is a user error naming both shapes */
static void test_recurrent_h0(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("gru");
  ir_graph_add_sym(g, "B", 2, L);
  int ins[6];
  ins[0] = ir_add_input(g, "x", T_(SB, 5, 3), L);
  ins[1] = ir_add_input(g, "h", T_(2, SB, 4), L);
  ins[2] = ir_add_param(g, "g.weight_ih_l0", T_(12, 3), L);
  ins[3] = ir_add_param(g, "g.weight_hh_l0", T_(12, 4), L);
  ins[4] = ir_add_param(g, "g.bias_ih_l0", T_(12), L);
  ins[5] = ir_add_param(g, "g.bias_hh_l0", T_(12), L);
  int n = ir_add_node(g, IR_OP_GRU, "g", ins, 6, L);
  ir_set_attr_int(g, n, "hidden_size", 4);
  ir_set_attr_int(g, n, "num_layers", 1);
  ir_set_attr_int(g, n, "bidirectional", 0);
  ir_set_attr_int(g, n, "bias", 1);
  char *msg = NULL;
  assert_false(infer_msg(g, n, &msg));
  assert_non_null(strstr(msg, "gru 'g': h0: expected f32 [1, B, 4], got f32 [2, B, 4]"));
  free(msg);
  g->values[ins[1]].type = T_(1, SB, 4);
  infer_ok(g, n);
  types_of(g, n, "[B, 5, 4] [1, B, 4]");
  ir_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tanh_forward),
      cmocka_unit_test(test_tanh_reverse),
      cmocka_unit_test(test_chunks_forward),
      cmocka_unit_test(test_chunks_reverse),
      cmocka_unit_test(test_inference_errors),
      cmocka_unit_test(test_verifier),
      cmocka_unit_test(test_fill),
      cmocka_unit_test(test_recurrent_h0),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
