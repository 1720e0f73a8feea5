/*
 * recurrent.c: the `rnn`, `lstm` and `gru` ops (SPEC sections 2, 3 and 7),
 * lowered to one RNN, LSTM or GRU layer node that decompose expands into
 * SCANs.
 *
 * Attributes are nn.RNN's / nn.LSTM's / nn.GRU's. Sequences are batch-first
 * (batch_first: false is an error); dropout between layers is identity at
 * inference. The layer node reads x, h0 (and c0), then the parameters of
 * each layer and direction, forward first, in the order ops.def lists them,
 * named as PyTorch's state_dict names them. Absent h0 / c0 are zeros (FILL).
 * Results: NODE [B, T, D*P], NODE.h_n [L*D, B, P], for lstm NODE.c_n.
 * `lengths: V` (SPEC 11, an integer [B]) is the node's last input and every
 * scan of its expansion reads it.
 */
#include <stdio.h>
#include <string.h>

#include "fe.h"

static const bool yes = true, no = false;

static ir_type f32(int rank, const int64_t *dims) {
  ir_type t = {.dtype = IR_F32, .rank = rank};
  for (int i = 0; i < rank; i++) t.dims[i] = ir_dim_const(dims[i]);
  return t;
}

/* the input x: f32 [B, T, F] with a constant F */
static bool input_features(fe_ctx *L, int x, int64_t *F) {
  const ir_type *t = &L->g->values[x].type;
  char buf[256];
  if (t->dtype != IR_F32 || t->rank != 3 || !ir_dim_is_const(t->dims[2])) {
    ir_error(L->d, fe_cur_loc(L),
             "%s '%s': expected an f32 input [B, T, features] with a constant feature size, "
             "got %s %s",
             L->op, fe_cur_name(L), ir_dtype_name(t->dtype), ir_type_str(L->g, t, buf, sizeof buf));
    return false;
  }
  *F = t->dims[2].coef;
  return true;
}

/* the initial state `key` (h0 or c0) of type want, or zeros (a FILL) when absent */
static int initial_state(fe_ctx *L, const char *key, ir_type want) {
  const fe_ast *a = fe_attr(L, key);
  char w[256], g[256];
  if (a && !fe_is_null(a)) {
    int v = fe_value_attr(L, key);
    if (v < 0) return -1;
    const ir_type *t = &L->g->values[v].type;
    if (ir_type_eq(t, &want)) return v;
    ir_error(L->d, a->loc,
             "attribute '%s' of '%s' must be f32 %s (num_layers * directions, batch, size), "
             "got %s %s",
             key, fe_cur_name(L), ir_type_str(L->g, &want, w, sizeof w), ir_dtype_name(t->dtype),
             ir_type_str(L->g, t, g, sizeof g));
    return -1;
  }
  char name[256];
  snprintf(name, sizeof name, "%s.%s", fe_cur_name(L), key);
  int n = ir_add_node(L->g, IR_OP_FILL, name, NULL, 0, fe_cur_loc(L));
  ir_set_attr_float(L->g, n, "value", 0.0);
  L->g->values[L->g->nodes[n].outputs[0]].type = want;
  if (!ir_infer_node(L->g, n, L->d)) return -1;
  return L->g->nodes[n].outputs[0];
}

int fe_lengths_attr(fe_ctx *L, ir_dim batch) {
  const fe_ast *a = fe_attr(L, "lengths");
  if (!a || fe_is_null(a)) return -2;
  int v = fe_value_attr(L, "lengths");
  if (v < 0) return -1;
  const ir_type *t = &L->g->values[v].type;
  bool integer = t->dtype == IR_I32 || t->dtype == IR_I64;
  if (integer && t->rank == 1 && ir_dim_eq(t->dims[0], batch)) return v;
  ir_type want = {.dtype = IR_I64, .rank = 1, .dims = {batch}};
  char w[256], g[256];
  ir_error(L->d, a->loc,
           "attribute 'lengths' of '%s' must be an integer (i32 or i64) %s, one length per batch "
           "row, got %s %s",
           fe_cur_name(L), ir_type_str(L->g, &want, w, sizeof w), ir_dtype_name(t->dtype),
           ir_type_str(L->g, t, g, sizeof g));
  return -1;
}

/* an error at attribute key of the current node */
static bool bad(fe_ctx *L, const char *key, const char *msg) {
  const fe_ast *a = fe_attr(L, key);
  ir_error(L->d, a ? a->loc : fe_cur_loc(L), "attribute '%s' of '%s' %s", key, fe_cur_name(L), msg);
  return false;
}

int fe_lower_recurrent(fe_ctx *L) {
  static const int64_t one = 1, zero = 0;
  static const double none = 0.0;
  static const char *const acts[] = {"tanh", "relu", NULL};
  ir_op op = !strcmp(L->op, "lstm") ? IR_OP_LSTM : !strcmp(L->op, "gru") ? IR_OP_GRU : IR_OP_RNN;
  bool lstm = op == IR_OP_LSTM;
  int64_t H, nl, proj = 0, in_size, F;
  bool bias, bidir, batch_first, peep = false, carry;
  double dropout;
  int relu = 0;
  int x = fe_value_attr(L, "input");
  bool ok = fe_int(L, "hidden_size", FE_POSITIVE, NULL, &H);
  ok &= fe_int(L, "num_layers", FE_POSITIVE, &one, &nl);
  ok &= fe_bool(L, "bias", &yes, &bias);
  ok &= fe_bool(L, "bidirectional", &no, &bidir);
  ok &= fe_bool(L, "batch_first", &yes, &batch_first);
  ok &= fe_float(L, "dropout", &none, &dropout);
  ok &= fe_int(L, "input_size", FE_POSITIVE, &zero, &in_size);
  if (op == IR_OP_RNN) ok &= fe_choice(L, "nonlinearity", acts, 0, &relu);
  if (lstm) {
    ok &= fe_int(L, "proj_size", FE_NONNEG, &zero, &proj);
    ok &= fe_bool(L, "peephole", &no, &peep);
  }
  if (!ok || !fe_carry_attr(L, "bidirectional", bidir, &carry)) return -1;
  if (!batch_first)
    return bad(L, "batch_first", "must be true: sequences are [B, T, features]"), -1;
  if (dropout < 0 || dropout >= 1) return bad(L, "dropout", "must be a number in [0, 1)"), -1;
  if (lstm && proj >= H) return bad(L, "proj_size", "must be smaller than hidden_size"), -1;
  if (peep && proj > 0) return bad(L, "peephole", "cannot be combined with proj_size"), -1;
  if (x < 0 || !input_features(L, x, &F)) return -1;
  if (in_size && in_size != F) {
    char buf[256];
    ir_error(L->d, fe_attr(L, "input_size")->loc,
             "attribute 'input_size' of '%s' is %lld, but its input %s has %lld features",
             fe_cur_name(L), (long long)in_size,
             ir_type_str(L->g, &L->g->values[x].type, buf, sizeof buf), (long long)F);
    return -1;
  }
  int64_t D = bidir ? 2 : 1, P = proj > 0 ? proj : H;
  int64_t G = lstm ? 4 : op == IR_OP_GRU ? 3 : 1;
  ir_type h0t = {.dtype = IR_F32,
                 .rank = 3,
                 .dims = {ir_dim_const(nl * D), L->g->values[x].type.dims[0], ir_dim_const(P)}};
  ir_type c0t = h0t;
  c0t.dims[2] = ir_dim_const(H);
  int h0 = initial_state(L, "h0", h0t);
  int c0 = lstm ? initial_state(L, "c0", c0t) : -2;
  if (h0 < 0 || c0 == -1) return -1;
  if (carry) { /* each run starts from the last run's h_n (and c_n) */
    h0 = fe_carry_in(L, "h_n", h0);
    if (lstm && h0 >= 0) c0 = fe_carry_in(L, "c_n", c0);
    if (h0 < 0 || c0 == -1) return -1;
  }

  int lengths = fe_lengths_attr(L, L->g->values[x].type.dims[0]);
  if (lengths == -1) return -1;

  if (nl * D > 64)
    return bad(L, "num_layers", "is too large (at most 32 bidirectional layers)"), -1;
  ir_rnn_layout r = ir_rnn_layout_make(op, H, proj, nl, bidir, bias, peep);
  if (lengths >= 0) r = ir_rnn_layout_with_lengths(r);
  int inputs[4 + 64 * 8];
  inputs[0] = x;
  inputs[1] = h0;
  if (lstm) inputs[2] = c0;
  for (int64_t l = 0; l < nl; l++)
    for (int d = 0; d < D; d++) {
      ir_rnn_params p = ir_rnn_params_at(&r, l, d);
      char sfx[32], name[64];
      snprintf(sfx, sizeof sfx, "l%lld%s", (long long)l, d ? "_reverse" : "");
      int64_t in = l == 0 ? F : D * P;
      /* PyTorch's state_dict names, created in input order (the params' order in the graph) */
#define PARAM(at, what, type)                     \
  do {                                            \
    snprintf(name, sizeof name, what "_%s", sfx); \
    inputs[at] = fe_param(L, name, type);         \
  } while (0)
      PARAM(p.w_ih, "weight_ih", f32(2, (int64_t[]){G * H, in}));
      PARAM(p.w_hh, "weight_hh", f32(2, (int64_t[]){G * H, P}));
      if (bias) {
        PARAM(p.b_ih, "bias_ih", f32(1, (int64_t[]){G * H}));
        PARAM(p.b_hh, "bias_hh", f32(1, (int64_t[]){G * H}));
      }
      if (r.proj) PARAM(p.w_hr, "weight_hr", f32(2, (int64_t[]){P, H}));
      if (r.peep) {
        PARAM(p.w_ci, "weight_ci", f32(1, &H));
        PARAM(p.w_cf, "weight_cf", f32(1, &H));
        PARAM(p.w_co, "weight_co", f32(1, &H));
      }
#undef PARAM
    }
  if (lengths >= 0) inputs[r.lengths] = lengths;
  int n = ir_add_node(L->g, op, fe_cur_name(L), inputs, r.ninputs, fe_cur_loc(L));
  ir_set_attr_int(L->g, n, "hidden_size", H);
  ir_set_attr_int(L->g, n, "num_layers", nl);
  ir_set_attr_int(L->g, n, "bidirectional", bidir);
  ir_set_attr_int(L->g, n, "bias", bias);
  if (lengths >= 0) ir_set_attr_int(L->g, n, "lengths", 1);
  if (op == IR_OP_RNN) ir_set_attr_int(L->g, n, "relu", relu);
  if (lstm) {
    ir_set_attr_int(L->g, n, "proj_size", proj);
    ir_set_attr_int(L->g, n, "peephole", peep);
  }
  /* NODE.h_n and NODE.c_n */
  static const char *const extra[] = {"h_n", "c_n"};
  fe_def *def = &L->defs[L->cur];
  def->nouts = lstm ? 2 : 1;
  def->outs = ir_alloc(L->g, sizeof(fe_named) * 2);
  for (int i = 0; i < def->nouts; i++) {
    int v = L->g->nodes[n].outputs[i + 1];
    char full[256];
    snprintf(full, sizeof full, "%s.%s", fe_cur_name(L), extra[i]);
    L->g->values[v].name = ir_strdup(L->g, full);
    def->outs[i] = (fe_named){extra[i], v};
    if (carry) fe_carry_out(L, i == 0 ? h0 : c0, v);
  }
  return n;
}
