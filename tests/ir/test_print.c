/*
 * test_print.c: the IR printer's exact text (tests and --print-after rely on
 * it being stable), and the type and dim strings used in messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "ir.h"

static const ir_loc L = {7, 10};

/* ir_print into a string (caller frees) */
static char *print(const ir_graph *g) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  ir_print(g, f);
  fclose(f);
  return text;
}

static void prints(const ir_graph *g, const char *want) {
  char *got = print(g);
  if (strcmp(got, want) != 0) fail_msg("printed:\n%s\nexpected:\n%s", got, want);
  free(got);
}

static ir_type cty(int rank, const int *dims) {
  ir_type t = {.dtype = IR_F32, .rank = rank};
  for (int i = 0; i < rank; i++) t.dims[i] = ir_dim_const(dims[i]);
  return t;
}

/* the example of print.c's header comment */
static ir_graph *mlp(void) {
  ir_graph *g = ir_graph_new("mlp");
  int B = ir_graph_add_sym(g, "B", 1, (ir_loc){2, 1});
  ir_graph_add_sym(g, "T", 128, (ir_loc){2, 1});
  ir_type xt = {IR_F32, 2, {ir_dim_sym(B), ir_dim_const(16)}};
  int x = ir_add_input(g, "x", xt, (ir_loc){4, 3});
  int w = ir_add_param(g, "fc1.weight", cty(2, (int[]){32, 16}), L);
  int n = ir_add_node(g, IR_OP_TRANSPOSE, "fc1", &w, 1, L);
  int64_t perm[] = {1, 0};
  ir_set_attr_ints(g, n, "perm", perm, 2);
  g->nodes[n].at_prepare = true;
  int t = g->nodes[n].outputs[0];
  g->values[t].type = cty(2, (int[]){16, 32});
  int ins[] = {x, t};
  n = ir_add_node(g, IR_OP_MATMUL, "fc1", ins, 2, L);
  ir_set_attr_int(g, n, "trans_b", 0);
  int y = g->nodes[n].outputs[0];
  g->values[y].type = (ir_type){IR_F32, 2, {ir_dim_sym(B), ir_dim_const(32)}};
  ir_add_output(g, "y", y);
  return g;
}

static void test_print_mlp(void **state) {
  (void)state;
  ir_graph *g = mlp();
  const char *want =
      "graph mlp (B = 1, T = 128)\n"
      "  input  %0 x : f32[B, 16]\n"
      "  param  %1 fc1.weight : f32[32, 16]\n"
      "  %2 = transpose %1 {perm=[1, 0]} : f32[16, 32]   ; fc1 @7:10  [prepare]\n"
      "  %3 = matmul %0, %2 {trans_b=0} : f32[B, 32]     ; fc1 @7:10\n"
      "  output y = %3\n";
  prints(g, want);
  /* deterministic: again, and on a clone */
  prints(g, want);
  ir_graph *c = ir_graph_clone(g);
  prints(c, want);
  ir_graph_free(c);
  ir_graph_free(g);
}

/* consts with their data, float attrs, dead nodes left out, a fused body indented */
static void test_print_const_fused_dead(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("f");
  int x = ir_add_input(g, "x", cty(1, (int[]){3}), (ir_loc){1, 1});
  float cv[] = {1, 0.5f, -2};
  int c = ir_add_const(g, cty(1, (int[]){3}), cv, (ir_loc){1, 1});
  float many[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  ir_add_const(g, cty(1, (int[]){10}), many, (ir_loc){1, 1});
  int32_t k = 7;
  ir_add_const(g, (ir_type){.dtype = IR_I32, .rank = 0}, &k, (ir_loc){1, 1});
  int d = ir_add_node(g, IR_OP_EXP, "gone", &x, 1, (ir_loc){9, 3});
  g->nodes[d].dead = true;
  int ins[] = {x, c};
  int n = ir_add_node(g, IR_OP_FUSED, "ln", ins, 2, (ir_loc){5, 3});
  int f = g->nodes[n].outputs[0];
  g->values[f].type = cty(1, (int[]){3});
  ir_graph *b = ir_graph_new("ln");
  b->parent = g;
  int a0 = ir_add_input(b, "a", cty(1, (int[]){3}), (ir_loc){5, 3});
  int a1 = ir_add_input(b, "b", cty(1, (int[]){3}), (ir_loc){5, 3});
  int bins[] = {a0, a1};
  int s = ir_add_node(b, IR_OP_ADD, "ln", bins, 2, (ir_loc){5, 3});
  b->values[b->nodes[s].outputs[0]].type = cty(1, (int[]){3});
  ir_add_output(b, NULL, b->nodes[s].outputs[0]);
  g->nodes[n].body = b;
  int m = ir_add_node(g, IR_OP_LAYER_NORM, "ln2", (int[]){f, c, c}, 3, (ir_loc){6, 3});
  ir_set_attr_float(g, m, "eps", 1e-5);
  g->values[g->nodes[m].outputs[0]].type = cty(1, (int[]){3});
  ir_add_output(g, "y", g->nodes[m].outputs[0]);
  prints(g,
         "graph f\n"
         "  input  %0 x : f32[3]\n"
         "  const  %1 : f32[3] = [1, 0.5, -2]\n"
         "  const  %2 : f32[10] = [0, 1, 2, 3, 4, 5, 6, 7, ...]\n"
         "  const  %3 : i32[] = 7\n"
         "  %5 = fused %0, %1 : f32[3]                      ; ln @5:3\n"
         "    input  %0 a : f32[3]\n"
         "    input  %1 b : f32[3]\n"
         "    %2 = add %0, %1 : f32[3]                        ; ln @5:3\n"
         "    output %2\n"
         "  %6 = layer_norm %5, %1, %1 {eps=1e-05} : f32[3]  ; ln2 @6:3\n"
         "  output y = %6\n");
  ir_graph_free(g);
}

/* after plan_memory: buffers on values, lifetimes, aliases */
static void test_print_buffers(void **state) {
  (void)state;
  ir_graph *g = mlp();
  g->buffers = ir_alloc(g, sizeof(ir_buffer) * 4);
  g->nbuffers = 4;
  g->buffers[0] = (ir_buffer){.value = 0, .role = SEQRT_ROLE_INPUT, .alias = -1};
  g->buffers[1] = (ir_buffer){.value = 1, .role = SEQRT_ROLE_PARAM, .alias = -1};
  g->buffers[2] = (ir_buffer){.value = 2, .role = SEQRT_ROLE_PREPARED, .alias = -1};
  g->buffers[3] = (ir_buffer){.value = 3, .role = SEQRT_ROLE_OUTPUT, .first = 1, .last = 1,
                              .alias = -1};
  for (int v = 0; v < 4; v++) g->values[v].buffer = v;
  prints(g,
         "graph mlp (B = 1, T = 128)\n"
         "  input  %0 x : f32[B, 16]  [buf 0 input]\n"
         "  param  %1 fc1.weight : f32[32, 16]  [buf 1 param]\n"
         "  %2 = transpose %1 {perm=[1, 0]} : f32[16, 32]   ; fc1 @7:10  [prepare]  [buf 2 "
         "prepared]\n"
         "  %3 = matmul %0, %2 {trans_b=0} : f32[B, 32]     ; fc1 @7:10  [buf 3 output 1..1]\n"
         "  output y = %3\n");
  g->buffers[3] = (ir_buffer){.value = 3, .role = SEQRT_ROLE_ALIAS, .alias = 0};
  char *text = print(g);
  assert_non_null(strstr(text, "; fc1 @7:10  [buf 3 alias of 0]\n"));
  free(text);
  ir_graph_free(g);
}

static void test_type_and_dim_str(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("dims");
  int B = ir_graph_add_sym(g, "B", 1, L), T = ir_graph_add_sym(g, "T", 8, L);
  char buf[128];
  assert_string_equal(ir_dim_str(g, ir_dim_const(32), buf, sizeof buf), "32");
  assert_string_equal(ir_dim_str(g, ir_dim_const(0), buf, sizeof buf), "0");
  assert_string_equal(ir_dim_str(g, ir_dim_sym(T), buf, sizeof buf), "T");
  ir_dim bt, t2, bt4;
  assert_true(ir_dim_mul(ir_dim_sym(B), ir_dim_sym(T), &bt));
  assert_true(ir_dim_mul(ir_dim_const(2), ir_dim_sym(T), &t2));
  assert_true(ir_dim_mul(bt, ir_dim_const(4), &bt4));
  assert_string_equal(ir_dim_str(g, bt, buf, sizeof buf), "B*T");
  assert_string_equal(ir_dim_str(g, t2, buf, sizeof buf), "2*T");
  assert_string_equal(ir_dim_str(g, bt4, buf, sizeof buf), "4*B*T");
  ir_type t = {IR_F32, 3, {ir_dim_sym(B), ir_dim_sym(T), ir_dim_const(64)}};
  assert_string_equal(ir_type_str(g, &t, buf, sizeof buf), "[B, T, 64]");
  t.rank = 0;
  assert_string_equal(ir_type_str(g, &t, buf, sizeof buf), "[]");
  t.rank = -1;
  assert_string_equal(ir_type_str(g, &t, buf, sizeof buf), "[?]");
  /* a body names symbols through its root */
  ir_graph *body = ir_graph_new("body");
  body->parent = g;
  assert_string_equal(ir_dim_str(body, bt, buf, sizeof buf), "B*T");
  ir_graph_free(body);
  /* a small buffer truncates, never overflows */
  char small[5];
  t.rank = 3;
  assert_string_equal(ir_type_str(g, &t, small, sizeof small), "[B, ");
  ir_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_print_mlp),
      cmocka_unit_test(test_print_const_fused_dead),
      cmocka_unit_test(test_print_buffers),
      cmocka_unit_test(test_type_and_dim_str),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
