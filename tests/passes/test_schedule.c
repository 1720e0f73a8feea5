/*
 * test_schedule.c: the schedule pass writes how threads share each kernel
 * and where they wait: barriers only before kernels that touch what earlier
 * ones still use, the unit split of a batch-1 LSTM's step and of the input
 * projection that feeds it, port moves per batch, slice pointers, the split
 * step barrier, column panels; nothing without a target; printed by ir_print.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "test_passes.h"

/* the GEMM reads B in place for few rows (codegen's rule is of this kind) */
static bool few_rows(int vec_width, int64_t rows, int64_t k, int64_t cols) {
  (void)vec_width, (void)k, (void)cols;
  return rows <= 4;
}
static const ir_target wide = {.vec_width = 16, .gemm_reads_b_in_place = few_rows};

/* YAML text through the whole pipeline for target t (NULL: none), dims
 * bound to syms (NULL: symbolic) */
static ir_graph *scheduled(const char *y, const int64_t *syms, const ir_target *t, bool fuse) {
  ir_graph *g = load_yaml(y);
  ir_diags d;
  ir_diags_init(&d, "test", NULL, 0, stderr);
  pass_ctx ctx = {.diags = &d, .syms = syms, .target = t, .no_fuse = !fuse};
  assert_true(pass_run_pipeline(g, &ctx));
  return g;
}

static const char lstm[] =
    "seqc: 1\nname: m\ndims: {B: 1, T: 8}\n"
    "inputs:\n  x: {dtype: f32, shape: [B, T, 32]}\n"
    "outputs: [r]\nnodes:\n"
    "  r: {op: lstm, input: x, hidden_size: 64}\n";

/* the live node whose (first) result is named `name`, or fails */
static const ir_node *made(const ir_graph *g, const char *name) {
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (!n->dead && n->noutputs >= 1 && g->values[n->outputs[0]].name &&
        strcmp(g->values[n->outputs[0]].name, name) == 0)
      return n;
  }
  fail_msg("no node makes '%s'", name);
  return NULL;
}

/* the panel unit of the buffer of the value named `name` */
static int64_t panels(const ir_graph *g, const char *name) {
  for (int v = 0; v < g->nvalues; v++)
    if (g->values[v].name && strcmp(g->values[v].name, name) == 0 && g->values[v].buffer >= 0)
      return g->buffers[g->values[v].buffer].panel;
  fail_msg("no value '%s'", name);
  return -1;
}

static const ir_node *the_scan(const ir_graph *g) {
  int i = find_op(g, IR_OP_SCAN);
  assert_true(i >= 0);
  return &g->nodes[i];
}

/* batch 1: everything in place, the step split by hidden unit, its barrier
 * split around the recurrent GEMM, Whh^T in panels */
static void lstm_batch_one(void **state) {
  (void)state;
  int64_t syms[2] = {1, 8};
  ir_graph *g = scheduled(lstm, syms, &wide, true);
  assert_int_equal(g->sched_width, 16);
  const ir_node *s = the_scan(g);
  assert_int_equal(s->sched.unit, 64);
  assert_true(s->sched.wait);
  const ir_port_sched *in = s->sched.ports, *out = s->sched.ports + s->ninputs;
  assert_int_equal(in[0].move, IR_PORT_DIRECT);  /* x_gates, read in place */
  assert_int_equal(in[1].move, IR_PORT_STAY);    /* h0, c0 and the captures */
  assert_int_equal(out[0].move, IR_PORT_DIRECT); /* h emitted into its slot */
  assert_int_equal(out[1].move, IR_PORT_CHAIN);  /* and read from there */
  assert_int_equal(out[2].move, IR_PORT_SWAP);   /* c double-buffered */
  const ir_graph *body = s->body;
  int waits = 0, views = 0, barriers = 0, units = 0;
  for (int k = 0; k < body->nnodes; k++) {
    const ir_node *m = &body->nodes[k];
    if (m->dead) continue;
    waits += m->sched.wait;
    views += m->sched.view;
    barriers += m->sched.barrier;
    units += m->sched.unit == 64;
  }
  assert_int_equal(waits, 1);
  assert_int_equal(views, 4);                           /* the four gates */
  assert_int_equal(barriers, 0);                        /* every kernel reads only its own units */
  assert_int_equal(units, 3);                           /* gates GEMM, c_next, h_next */
  assert_int_equal(made(g, "x_gates")->sched.unit, 64); /* the hoisted projection */
  assert_int_equal(panels(g, "r.weight_hh_l0_t"), 64);
  assert_int_equal(panels(g, "r.weight_ih_l0_t"), 0);
  ir_graph_free(g);
}

/* batch 3: gathers and copies (by unit rows), no pointers, no split
 * barrier; a symbolic batch: no unit split of the projection, no panels */
static void lstm_other_batches(void **state) {
  (void)state;
  int64_t syms[2] = {3, 8};
  ir_graph *g = scheduled(lstm, syms, &wide, true);
  const ir_node *s = the_scan(g);
  const ir_port_sched *in = s->sched.ports, *out = s->sched.ports + s->ninputs;
  assert_int_equal(in[0].move, IR_PORT_COPY);
  assert_int_equal(in[0].unit, 64); /* each thread gathers the columns it reads */
  assert_int_equal(out[0].move, IR_PORT_COPY);
  assert_int_equal(out[0].unit, 64);
  assert_int_equal(out[1].move, IR_PORT_SWAP);
  assert_false(s->sched.wait);
  for (int k = 0; k < s->body->nnodes; k++) assert_false(s->body->nodes[k].sched.view);
  assert_int_equal(made(g, "x_gates")->sched.unit, 0);
  assert_int_equal(panels(g, "r.weight_hh_l0_t"), 64); /* 3 rows: still read in place */
  ir_graph_free(g);

  g = scheduled(lstm, NULL, &wide, true);
  s = the_scan(g);
  assert_int_equal(s->sched.ports[0].move, IR_PORT_COPY);
  assert_false(s->sched.wait);
  assert_int_equal(panels(g, "r.weight_hh_l0_t"), 0); /* rows unknown */
  ir_graph_free(g);
}

/* a barrier goes only before a kernel that reads what kernels since the
 * last one wrote: a and b run together, c waits for both */
static void barriers_between_kernels(void **state) {
  (void)state;
  static const char y[] =
      "seqc: 1\nname: m\ndims: {B: 2}\n"
      "inputs:\n  x: {dtype: f32, shape: [B, 8]}\n"
      "outputs: [c]\nnodes:\n"
      "  a: {op: relu, input: x}\n"
      "  b: {op: tanh, input: x}\n"
      "  c: {op: add, inputs: [a, b]}\n";
  int64_t syms[1] = {2};
  ir_graph *g = scheduled(y, syms, &wide, false);
  assert_false(made(g, "a")->sched.barrier);
  assert_false(made(g, "b")->sched.barrier);
  assert_true(made(g, "c")->sched.barrier);
  ir_graph_free(g);
}

/* no target: no schedule (nothing to compile for); with one, ir_print shows it */
static void printed_or_absent(void **state) {
  (void)state;
  int64_t syms[2] = {1, 8};
  ir_graph *g = scheduled(lstm, syms, NULL, true);
  assert_int_equal(g->sched_width, 0);
  assert_null(the_scan(g)->sched.ports);
  ir_graph_free(g);

  g = scheduled(lstm, syms, &wide, true);
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  ir_print(g, f);
  fclose(f);
  assert_non_null(strstr(text, "[ports in: direct stay stay stay stay; out: direct chain swap]"));
  assert_non_null(strstr(text, "[unit 64]  [wait]"));
  assert_non_null(strstr(text, "[view]"));
  assert_non_null(strstr(text, "prepared panels of 64]"));
  free(text);
  ir_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(lstm_batch_one),
      cmocka_unit_test(lstm_other_batches),
      cmocka_unit_test(barriers_between_kernels),
      cmocka_unit_test(printed_or_absent),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
