/*
 * test_graph.c: the graph's walks over uses: ir_next_use visits every read of
 * a value by a live node, in order, and agrees with ir_use_counts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdlib.h>

#include "ir.h"

static const ir_loc L = {1, 1};

static ir_type vec3(void) {
  ir_type t = {.dtype = IR_F32, .rank = 1};
  t.dims[0] = ir_dim_const(3);
  return t;
}

/* adds a node; returns its result */
static int node(ir_graph *g, ir_op op, const char *name, int nin, int a, int b) {
  int ins[2] = {a, b};
  int n = ir_add_node(g, op, name, ins, nin, L);
  int v = g->nodes[n].outputs[0];
  g->values[v].type = vec3();
  return v;
}

/*
 * x f32[3]
 * node 0  a = relu x
 * node 1  b = add x, x         (two reads in one node)
 * node 2  c = relu a           (no read of x)
 * node 3  d = add a, x         (dead)
 * node 4  e = mul b, x
 * output x, e                  (an output is not a read)
 */
static ir_graph *uses_graph(int *x) {
  ir_graph *g = ir_graph_new("uses");
  *x = ir_add_input(g, "x", vec3(), L);
  int a = node(g, IR_OP_RELU, "a", 1, *x, 0);
  int b = node(g, IR_OP_ADD, "b", 2, *x, *x);
  node(g, IR_OP_RELU, "c", 1, a, 0);
  int d = node(g, IR_OP_ADD, "d", 2, a, *x);
  g->nodes[g->values[d].def].dead = true;
  int e = node(g, IR_OP_MUL, "e", 2, b, *x);
  ir_add_output(g, "x", *x);
  ir_add_output(g, "e", e);
  return g;
}

static void test_next_use_visits_reads_in_order(void **state) {
  (void)state;
  int x;
  ir_graph *g = uses_graph(&x);
  static const int want[][2] = {{0, 0}, {1, 0}, {1, 1}, {4, 1}};
  int n = 0;
  for (int i = 0, k = -1; ir_next_use(g, x, &i, &k); n++) {
    assert_true(n < 4);
    assert_int_equal(i, want[n][0]);
    assert_int_equal(k, want[n][1]);
  }
  assert_int_equal(n, 4);
  /* ir_use_counts counts the same reads, and the output besides */
  int *uses = ir_use_counts(g);
  assert_int_equal(uses[x], n + 1);
  free(uses);
  ir_graph_free(g);
}

static void test_next_use_from_a_node(void **state) {
  (void)state;
  int x;
  ir_graph *g = uses_graph(&x);
  /* from node 2 on: only e's read; from the second input of node 1: that one */
  int i = 2, k = -1;
  assert_true(ir_next_use(g, x, &i, &k));
  assert_int_equal(i, 4);
  assert_int_equal(k, 1);
  assert_false(ir_next_use(g, x, &i, &k));
  assert_false(ir_next_use(g, x, &i, &k)); /* stays finished */
  i = 1, k = 0;
  assert_true(ir_next_use(g, x, &i, &k));
  assert_int_equal(i, 1);
  assert_int_equal(k, 1);
  /* a value nothing reads: no use at all */
  int e = g->nodes[4].outputs[0];
  i = 0, k = -1;
  assert_false(ir_next_use(g, e, &i, &k));
  ir_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_next_use_visits_reads_in_order),
      cmocka_unit_test(test_next_use_from_a_node),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
