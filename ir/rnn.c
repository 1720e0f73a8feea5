/*
 * rnn.c: the input layout of the recurrent layers RNN, LSTM and GRU, which
 * the frontend builds, shape inference checks, the interpreter and decompose
 * read and the FLOP count weighs: x, h0 (LSTM: and c0), then per layer and
 * direction, forward first, w_ih, w_hh[, b_ih, b_hh][, w_hr][, w_ci, w_cf, w_co]
 * (ops.def), then, with lengths, the lengths [B]. Only this file knows that
 * order.
 */
#include "ir.h"

ir_rnn_layout ir_rnn_layout_make(ir_op op, int64_t hidden, int64_t proj_size, int64_t layers,
                                 bool bidirectional, bool bias, bool peephole) {
  IR_ASSERT(op == IR_OP_RNN || op == IR_OP_LSTM || op == IR_OP_GRU);
  bool lstm = op == IR_OP_LSTM;
  ir_rnn_layout r = {.op = op, .H = hidden, .L = layers, .D = bidirectional ? 2 : 1};
  r.G = lstm ? 4 : op == IR_OP_GRU ? 3 : 1;
  r.bias = bias;
  r.proj = lstm && proj_size > 0;
  r.peep = lstm && peephole;
  r.P = r.proj ? proj_size : hidden;
  r.nstates = lstm ? 2 : 1;
  r.per_dir = 2 + (r.bias ? 2 : 0) + (r.proj ? 1 : 0) + (r.peep ? 3 : 0);
  r.ninputs = 1 + r.nstates + (int)(r.L * r.D) * r.per_dir;
  r.lengths = -1;
  return r;
}

ir_rnn_layout ir_rnn_layout_with_lengths(ir_rnn_layout r) {
  if (r.lengths < 0) r.lengths = r.ninputs++;
  return r;
}

ir_rnn_layout ir_rnn_layout_of(const ir_node *n) {
  bool lstm = n->op == IR_OP_LSTM;
  ir_rnn_layout r = ir_rnn_layout_make(
      n->op, ir_attr_int(n, "hidden_size"), lstm ? ir_attr_int(n, "proj_size") : 0,
      ir_attr_int(n, "num_layers"), ir_attr_int(n, "bidirectional") != 0,
      ir_attr_int(n, "bias") != 0, lstm && ir_attr_int(n, "peephole") != 0);
  const ir_attr *len = ir_get_attr(n, "lengths");
  return len && len->i ? ir_rnn_layout_with_lengths(r) : r;
}

ir_rnn_params ir_rnn_params_at(const ir_rnn_layout *r, int64_t layer, int dir) {
  IR_ASSERT(layer >= 0 && layer < r->L && dir >= 0 && dir < r->D);
  int k = 1 + r->nstates + (int)(layer * r->D + dir) * r->per_dir;
  ir_rnn_params p = {-1, -1, -1, -1, -1, -1, -1, -1};
  p.w_ih = k++;
  p.w_hh = k++;
  if (r->bias) {
    p.b_ih = k++;
    p.b_hh = k++;
  }
  if (r->proj) p.w_hr = k++;
  if (r->peep) {
    p.w_ci = k++;
    p.w_cf = k++;
    p.w_co = k++;
  }
  return p;
}
