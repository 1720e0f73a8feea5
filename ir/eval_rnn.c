/*
 * eval_rnn.c: the recurrent layers RNN, LSTM and GRU computed directly, as
 * PyTorch's documentation writes them, for the reference interpreter.
 *
 * decompose turns these layers into SCANs of matmuls and gates; computing
 * them here without that expansion gives the tests an oracle that does not
 * share its mistakes. Sums and gates run in double, stored states too, and
 * results round to f32 once.
 *
 * Inputs (ops.def): x [B, T, F], h0 [L*D, B, P], for LSTM c0 [L*D, B, H],
 * then per layer and direction w_ih [G*H, in], w_hh [G*H, P], b_ih, b_hh
 * [G*H] (with bias), LSTM w_hr [P, H] (proj_size), LSTM w_ci, w_cf, w_co [H]
 * (peephole). G is 1, 4 (i, f, g, o) or 3 (r, z, n); P is proj_size or H.
 * With lengths (the last input), row b runs only its steps t < lengths[b]
 * (reverse from lengths[b]-1 down to 0), as pack_padded_sequence: outputs
 * past its end are 0 and h_n, c_n are where it finishes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

/* the sizes and flags of one layer op */
typedef struct cell {
  ir_op op;              /* RNN, LSTM or GRU */
  int64_t B, T, F;       /* batch, steps, input features */
  int64_t H, P, L, D, G; /* hidden, output (proj) size, layers, directions, gates */
  bool bias, relu, peep; /* attributes */
  bool proj;             /* LSTM with proj_size */
} cell;

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

/* y[r] = sum_k W[r, k] x[k] (+ b[r]) for r < rows */
static void matvec(const float *W, const float *b, const double *x, int64_t rows, int64_t cols,
                   double *y) {
  for (int64_t r = 0; r < rows; r++) {
    double s = b ? b[r] : 0.0;
    for (int64_t k = 0; k < cols; k++) s += (double)W[r * cols + k] * x[k];
    y[r] = s;
  }
}

/* the data of input i of the layer (in), NULL for i = -1 (absent) */
static const float *param(const seqrt_tensor *in, int i) { return i >= 0 ? in[i].data : NULL; }

/* one step of one batch row: h (P) and c (H) updated from input x (n features),
 * with the parameters in[p->...] of one layer and direction */
static void step(const cell *c, const seqrt_tensor *in, const ir_rnn_params *p, const double *x,
                 int64_t n, double *h, double *cs, double *gi, double *gh, double *tmp) {
  const float *w_ih = param(in, p->w_ih), *w_hh = param(in, p->w_hh);
  const float *b_ih = param(in, p->b_ih), *b_hh = param(in, p->b_hh);
  int64_t H = c->H;
  matvec(w_ih, b_ih, x, c->G * H, n, gi);
  matvec(w_hh, b_hh, h, c->G * H, c->P, gh);
  if (c->op == IR_OP_RNN) {
    for (int64_t j = 0; j < H; j++) {
      double s = gi[j] + gh[j];
      h[j] = c->relu ? (s > 0 ? s : 0) : tanh(s);
    }
  } else if (c->op == IR_OP_GRU) {
    for (int64_t j = 0; j < H; j++) {
      double r = sigm(gi[j] + gh[j]), z = sigm(gi[H + j] + gh[H + j]);
      double nn = tanh(gi[2 * H + j] + r * gh[2 * H + j]);
      h[j] = (1 - z) * nn + z * h[j];
    }
  } else {
    const float *w_hr = param(in, p->w_hr);
    const float *w_ci = param(in, p->w_ci), *w_cf = param(in, p->w_cf);
    const float *w_co = param(in, p->w_co);
    for (int64_t j = 0; j < H; j++) {
      double ig = gi[j] + gh[j], fg = gi[H + j] + gh[H + j];
      double gg = gi[2 * H + j] + gh[2 * H + j], og = gi[3 * H + j] + gh[3 * H + j];
      if (c->peep) {
        ig += w_ci[j] * cs[j];
        fg += w_cf[j] * cs[j];
      }
      cs[j] = sigm(fg) * cs[j] + sigm(ig) * tanh(gg);
      if (c->peep) og += w_co[j] * cs[j];
      tmp[j] = sigm(og) * tanh(cs[j]);
    }
    if (c->proj)
      matvec(w_hr, NULL, tmp, c->P, H, h);
    else
      memcpy(h, tmp, sizeof(double) * (size_t)H);
  }
}

bool ir_eval_recurrent(const ir_graph *g, const ir_node *n, const seqrt_tensor *in,
                       seqrt_tensor *out, seqrt_error *err) {
  ir_rnn_layout r = ir_rnn_layout_of(n);
  cell c = {.op = n->op};
  c.B = in[0].shape[0];
  c.T = in[0].shape[1];
  c.F = in[0].shape[2];
  c.H = r.H;
  c.L = r.L;
  c.D = r.D;
  c.G = r.G;
  c.bias = r.bias;
  c.relu = n->op == IR_OP_RNN && ir_attr_int(n, "relu");
  c.peep = r.peep;
  c.proj = r.proj;
  c.P = r.P;
  if (n->ninputs != r.ninputs || in[0].rank != 3)
    return ir_eval_fail(err, "internal error: node '%s': bad recurrent layer inputs",
                        n->name ? n->name : "?");
  int64_t width = c.D * c.P, maxin = c.F > width ? c.F : width, G = c.G * c.H;
  double *seq = malloc(sizeof(double) * (size_t)(c.B * c.T * maxin + 1));
  double *next = malloc(sizeof(double) * (size_t)(c.B * c.T * width + 1));
  double *h = malloc(sizeof(double) * (size_t)(c.P + c.H + 2 * G + c.H + 1));
  if (!seq || !next || !h) {
    free(seq);
    free(next);
    free(h);
    return ir_eval_fail(err, "out of memory");
  }
  double *cs = h + c.P, *gi = cs + c.H, *gh = gi + G, *tmp = gh + G;
  const seqrt_tensor *lengths = r.lengths >= 0 ? &in[r.lengths] : NULL;
  if (lengths && !ir_eval_check_lengths(lengths, g->values[n->inputs[r.lengths]].name, c.T, err)) {
    free(seq);
    free(next);
    free(h);
    return false;
  }
  const float *x = in[0].data;
  for (int64_t i = 0; i < c.B * c.T * c.F; i++) seq[i] = x[i];
  int64_t nin = c.F;
  for (int64_t l = 0; l < c.L; l++) {
    for (int64_t d = 0; d < c.D; d++) {
      int64_t ld = l * c.D + d;
      ir_rnn_params p = ir_rnn_params_at(&r, l, (int)d);
      for (int64_t b = 0; b < c.B; b++) {
        const float *h0 = (const float *)in[1].data + (ld * c.B + b) * c.P;
        for (int64_t j = 0; j < c.P; j++) h[j] = h0[j];
        if (c.op == IR_OP_LSTM) {
          const float *c0 = (const float *)in[2].data + (ld * c.B + b) * c.H;
          for (int64_t j = 0; j < c.H; j++) cs[j] = c0[j];
        }
        int64_t len = lengths ? ir_eval_length(lengths, b) : c.T;
        for (int64_t t = len; t < c.T; t++) /* past the row's end: 0 */
          memset(&next[(b * c.T + t) * width + d * c.P], 0, sizeof(double) * (size_t)c.P);
        for (int64_t s = 0; s < len; s++) {
          int64_t t = d ? len - 1 - s : s;
          step(&c, in, &p, &seq[(b * c.T + t) * nin], nin, h, cs, gi, gh, tmp);
          memcpy(&next[(b * c.T + t) * width + d * c.P], h, sizeof(double) * (size_t)c.P);
        }
        float *hn = (float *)out[1].data + (ld * c.B + b) * c.P;
        for (int64_t j = 0; j < c.P; j++) hn[j] = (float)h[j];
        if (c.op == IR_OP_LSTM) {
          float *cn = (float *)out[2].data + (ld * c.B + b) * c.H;
          for (int64_t j = 0; j < c.H; j++) cn[j] = (float)cs[j];
        }
      }
    }
    /* the next layer reads this one's output, rounded to f32 as PyTorch stores it */
    for (int64_t i = 0; i < c.B * c.T * width; i++) seq[i] = (float)next[i];
    nin = width;
  }
  float *y = out[0].data;
  for (int64_t i = 0; i < c.B * c.T * width; i++) y[i] = (float)seq[i];
  free(seq);
  free(next);
  free(h);
  return true;
}
