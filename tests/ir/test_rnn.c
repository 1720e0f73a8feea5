/*
 * test_rnn.c: ir_rnn_layout and ir_rnn_params_at place every parameter of a
 * recurrent layer where ops.def says: after x and the states, per layer and
 * direction (forward first) w_ih, w_hh[, b_ih, b_hh][, w_hr][, w_ci, w_cf, w_co].
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "ir.h"

static void lstm_with_everything_but_peepholes(void **state) {
  (void)state;
  ir_rnn_layout r = ir_rnn_layout_make(IR_OP_LSTM, 8, 4, 2, true, true, false);
  assert_int_equal(r.nstates, 2);
  assert_int_equal(r.G, 4);
  assert_int_equal(r.P, 4);
  assert_int_equal(r.per_dir, 5);
  assert_int_equal(r.ninputs, 3 + 4 * 5);
  ir_rnn_params p = ir_rnn_params_at(&r, 0, 0);
  assert_int_equal(p.w_ih, 3);
  assert_int_equal(p.w_hh, 4);
  assert_int_equal(p.b_ih, 5);
  assert_int_equal(p.b_hh, 6);
  assert_int_equal(p.w_hr, 7);
  assert_int_equal(p.w_ci, -1);
  p = ir_rnn_params_at(&r, 1, 1); /* layer 1 reverse: the fourth block */
  assert_int_equal(p.w_ih, 3 + 3 * 5);
  assert_int_equal(p.w_hr, 3 + 3 * 5 + 4);
}

static void peepholes_and_no_bias(void **state) {
  (void)state;
  ir_rnn_layout r = ir_rnn_layout_make(IR_OP_LSTM, 8, 0, 1, false, false, true);
  ir_rnn_params p = ir_rnn_params_at(&r, 0, 0);
  assert_int_equal(r.P, 8);
  assert_int_equal(r.ninputs, 3 + 5);
  assert_int_equal(p.w_hh, 4);
  assert_int_equal(p.b_ih, -1);
  assert_int_equal(p.b_hh, -1);
  assert_int_equal(p.w_hr, -1);
  assert_int_equal(p.w_ci, 5);
  assert_int_equal(p.w_cf, 6);
  assert_int_equal(p.w_co, 7);
}

static void gru_and_rnn_from_nodes(void **state) {
  (void)state;
  ir_graph *g = ir_graph_new("m");
  int ins[2] = {ir_add_input(g, "x", (ir_type){.rank = 0}, (ir_loc){1, 1}), 0};
  ins[1] = ins[0];
  int n = ir_insert_node_n(g, 0, IR_OP_GRU, "g", ins, 2, 2, (ir_loc){1, 1});
  ir_set_attr_int(g, n, "hidden_size", 3);
  ir_set_attr_int(g, n, "num_layers", 3);
  ir_set_attr_int(g, n, "bidirectional", 0);
  ir_set_attr_int(g, n, "bias", 1);
  ir_rnn_layout r = ir_rnn_layout_of(&g->nodes[n]);
  assert_int_equal(r.G, 3);
  assert_int_equal(r.nstates, 1);
  assert_int_equal(r.ninputs, 2 + 3 * 4);
  assert_int_equal(ir_rnn_params_at(&r, 2, 0).b_hh, 2 + 2 * 4 + 3);
  g->nodes[n].op = IR_OP_RNN; /* no proj_size or peephole: an RNN has none */
  r = ir_rnn_layout_of(&g->nodes[n]);
  assert_int_equal(r.G, 1);
  assert_false(r.proj || r.peep);
  ir_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(lstm_with_everything_but_peepholes),
      cmocka_unit_test(peepholes_and_no_bias),
      cmocka_unit_test(gru_and_rnn_from_nodes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
