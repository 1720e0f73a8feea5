/*
 * decompose_rnn.c: the recurrent layers RNN, LSTM, GRU into SCANs, one per
 * layer and direction, each body computing one step as PyTorch does:
 *
 *   RNN   h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)                 (tanh or relu)
 *   LSTM  gates = x W_ih^T + b_ih + h W_hh^T + b_hh; i, f, g, o = slices of H
 *         i = sigmoid(i [+ w_ci * c]), f = sigmoid(f [+ w_cf * c]), g = tanh(g)
 *         c' = f * c + i * g;  o = sigmoid(o [+ w_co * c']);  h' = o * tanh(c') [W_hr^T]
 *   GRU   gi = x W_ih^T + b_ih, gh = h W_hh^T + b_hh; r, z, n as slices of H
 *         r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z), n = tanh(gi_n + r * gh_n)
 *         h' = n + z * (h - n)          (= (1 - z) * n + z * h, as PyTorch's kernel computes it)
 *
 * Each weight is one MATMUL of its own and the gates are SLICEs of the last
 * dim, so the later passes see the pattern they look for: hoist moves the
 * x W_ih^T of every step out of the loop as one GEMM, merge_gemm and fuse
 * join the rest. The weights enter the bodies transposed; the TRANSPOSEs read
 * params only and so run once at session start (plan_memory marks them).
 *
 * Around the scans: h0 (and c0) is SELECTed per layer and direction (index
 * l*D + d, PyTorch's order), a bidirectional layer CONCATs its forward and
 * reverse outputs on the last dim (forward first), each layer feeds the next,
 * and the final states are RESHAPEd to [1, B, P] and CONCATed on dim 0 into
 * h_n / c_n [L*D, B, P]. The layer's results keep their value names.
 * A layer with lengths hands them to every scan (each layer and direction)
 * as its first capture, with lengths=1: the scan does the rest (ops.def).
 */
#include <stdio.h>
#include <string.h>

#include "passes.h"

typedef pass_expansion out; /* where the expansion's nodes go (passes.h) */

/* infers node n of g, returns its first result */
static int typed(ir_graph *g, int n, ir_diags *d) {
  IR_ASSERT(ir_infer_node(g, n, d));
  return g->nodes[n].outputs[0];
}

static int transposed(out *o, int w, const char *what) {
  static const int64_t perm[2] = {1, 0};
  char sfx[128];
  snprintf(sfx, sizeof sfx, "%s_t", what);
  int n = pass_put(o, IR_OP_TRANSPOSE, sfx, &w, 1);
  ir_set_attr_ints(o->g, n, "perm", perm, 2);
  return typed(o->g, n, o->d);
}

/* SELECT index i of dim 0 */
static int pick(out *o, int v, int64_t i, const char *suffix) {
  int n = pass_put(o, IR_OP_SELECT, suffix, &v, 1);
  ir_set_attr_int(o->g, n, "dim", 0);
  ir_set_attr_int(o->g, n, "index", i);
  return typed(o->g, n, o->d);
}

/* CONCAT of vs along dim (a single value stays as it is) */
static int join(out *o, const int *vs, int n, int64_t dim, const char *suffix) {
  if (n == 1) return vs[0];
  int c = pass_put(o, IR_OP_CONCAT, suffix, vs, n);
  ir_set_attr_int(o->g, c, "dim", dim);
  return typed(o->g, c, o->d);
}

/* ---- one step's body ---- */

/* the body being built */
typedef struct body {
  ir_graph *b; /* the graph */
  ir_loc loc;  /* the layer's position, on every node */
  ir_diags *d; /* errors */
} body;

/* a body node of op on a (and b when >= 0); its result */
static int op(body *s, ir_op o, const char *name, int a, int b) {
  int in[2] = {a, b};
  int n = ir_add_node(s->b, o, name, in, b >= 0 ? 2 : 1, s->loc);
  if (o == IR_OP_MATMUL) ir_set_attr_int(s->b, n, "trans_b", 0);
  return typed(s->b, n, s->d);
}

/* a + b, or a when b < 0 (no bias) */
static int add(body *s, const char *name, int a, int b) {
  return b < 0 ? a : op(s, IR_OP_ADD, name, a, b);
}

/* gate k of H along the last dim of v [B, G*H] */
static int gate(body *s, const char *name, int v, int k, int64_t H) {
  int n = ir_add_node(s->b, IR_OP_SLICE, name, &v, 1, s->loc);
  ir_set_attr_int(s->b, n, "dim", s->b->values[v].type.rank - 1);
  ir_set_attr_int(s->b, n, "start", k * H);
  ir_set_attr_int(s->b, n, "end", (k + 1) * H);
  return typed(s->b, n, s->d);
}

/* the layer's shape */
typedef struct layer {
  ir_op op;           /* RNN, LSTM or GRU */
  int64_t H, P, L, D; /* hidden, output size, layers, directions */
  bool bias, relu, peep, proj;
  ir_rnn_layout r; /* where its inputs sit */
} layer;

/*
 * Captures of a step (body inputs after x and the states), in this order:
 * w_ih^T, w_hh^T, [b_ih, b_hh], [w_hr^T], [w_ci, w_cf, w_co]. Returns the
 * body's outputs: emit h', next h', [next c'].
 */
static void step_body(const layer *ly, body *s, const int *cap, int x, int h, int c) {
  int k = 2;
  int b_ih = ly->bias ? cap[k++] : -1, b_hh = ly->bias ? cap[k++] : -1;
  int w_hr = ly->proj ? cap[k++] : -1;
  int xg = add(s, "x_gates", op(s, IR_OP_MATMUL, "x_proj", x, cap[0]), b_ih);
  int hg = add(s, "h_gates", op(s, IR_OP_MATMUL, "h_proj", h, cap[1]), b_hh);
  int64_t H = ly->H;
  int hn, cn = -1;
  if (ly->op == IR_OP_RNN) {
    hn = op(s, ly->relu ? IR_OP_RELU : IR_OP_TANH, "h_next", op(s, IR_OP_ADD, "gates", xg, hg), -1);
  } else if (ly->op == IR_OP_GRU) {
    int r = op(s, IR_OP_SIGMOID, "r",
               op(s, IR_OP_ADD, "r_in", gate(s, "x_r", xg, 0, H), gate(s, "h_r", hg, 0, H)), -1);
    int z = op(s, IR_OP_SIGMOID, "z",
               op(s, IR_OP_ADD, "z_in", gate(s, "x_z", xg, 1, H), gate(s, "h_z", hg, 1, H)), -1);
    int rn = op(s, IR_OP_MUL, "r_h_n", r, gate(s, "h_n", hg, 2, H));
    int n = op(s, IR_OP_TANH, "n", op(s, IR_OP_ADD, "n_in", gate(s, "x_n", xg, 2, H), rn), -1);
    int zd = op(s, IR_OP_MUL, "z_diff", z, op(s, IR_OP_SUB, "diff", h, n));
    hn = op(s, IR_OP_ADD, "h_next", n, zd);
  } else {
    int g4 = op(s, IR_OP_ADD, "gates", xg, hg);
    int i = gate(s, "i_in", g4, 0, H), f = gate(s, "f_in", g4, 1, H);
    int g = gate(s, "g_in", g4, 2, H), o = gate(s, "o_in", g4, 3, H);
    if (ly->peep) {
      i = op(s, IR_OP_ADD, "i_peep", i, op(s, IR_OP_MUL, "ci", c, cap[k]));
      f = op(s, IR_OP_ADD, "f_peep", f, op(s, IR_OP_MUL, "cf", c, cap[k + 1]));
    }
    i = op(s, IR_OP_SIGMOID, "i", i, -1);
    f = op(s, IR_OP_SIGMOID, "f", f, -1);
    g = op(s, IR_OP_TANH, "g", g, -1);
    cn = op(s, IR_OP_ADD, "c_next", op(s, IR_OP_MUL, "f_c", f, c), op(s, IR_OP_MUL, "i_g", i, g));
    if (ly->peep) o = op(s, IR_OP_ADD, "o_peep", o, op(s, IR_OP_MUL, "co", cn, cap[k + 2]));
    o = op(s, IR_OP_SIGMOID, "o", o, -1);
    hn = op(s, IR_OP_MUL, ly->proj ? "h_cell" : "h_next", o, op(s, IR_OP_TANH, "c_act", cn, -1));
    if (ly->proj) hn = op(s, IR_OP_MATMUL, "h_next", hn, w_hr);
  }
  ir_add_output(s->b, "h", hn);
  ir_add_output(s->b, "h_next", hn);
  if (cn >= 0) ir_add_output(s->b, "c_next", cn);
}

/* a value's type with dim 1 removed ([B, T, F] -> [B, F]) */
static ir_type step_of(const ir_type *t) {
  ir_type s = *t;
  s.dims[1] = s.dims[2];
  s.rank = 2;
  return s;
}

/*
 * One SCAN for layer l, direction dir over x; ins are the layer's inputs
 * (ir_rnn_params_at places the parameters). Sets *y [B, T, P], *hN [B, P], *cN [B, H].
 */
static void scan_one(out *o, const layer *ly, int64_t l, int dir, int x, int h0, int c0,
                     int lengths, const int *ins, int *y, int *hN, int *cN) {
  char tag[64], what[128];
  snprintf(tag, sizeof tag, "l%lld%s", (long long)l, dir ? "_reverse" : "");
  bool lstm = ly->op == IR_OP_LSTM;
  ir_rnn_params p = ir_rnn_params_at(&ly->r, l, dir);
  /* captures: transposed weights (prepared once), biases and peephole weights as they are */
  int cap[8], ncap = 0;
  snprintf(what, sizeof what, "weight_ih_%s", tag);
  cap[ncap++] = transposed(o, ins[p.w_ih], what);
  snprintf(what, sizeof what, "weight_hh_%s", tag);
  cap[ncap++] = transposed(o, ins[p.w_hh], what);
  if (ly->bias) {
    cap[ncap++] = ins[p.b_ih];
    cap[ncap++] = ins[p.b_hh];
  }
  if (ly->proj) {
    snprintf(what, sizeof what, "weight_hr_%s", tag);
    cap[ncap++] = transposed(o, ins[p.w_hr], what);
  }
  if (ly->peep) {
    cap[ncap++] = ins[p.w_ci];
    cap[ncap++] = ins[p.w_cf];
    cap[ncap++] = ins[p.w_co];
  }
  int64_t ld = l * ly->D + dir;
  snprintf(what, sizeof what, "h0_%s", tag);
  int h = pick(o, h0, ld, what);
  int c = -1;
  if (lstm) {
    snprintf(what, sizeof what, "c0_%s", tag);
    c = pick(o, c0, ld, what);
  }

  ir_graph *g = o->g;
  body s = {ir_graph_new(NULL), o->loc, o->d};
  s.b->parent = g;
  int bx = ir_add_input(s.b, "x", step_of(&g->values[x].type), o->loc);
  int bh = ir_add_input(s.b, "h", g->values[h].type, o->loc);
  int bc = lstm ? ir_add_input(s.b, "c", g->values[c].type, o->loc) : -1;
  if (lengths >= 0) ir_add_input(s.b, "lengths", g->values[lengths].type, o->loc);
  int bcap[8];
  for (int j = 0; j < ncap; j++)
    bcap[j] = ir_add_input(s.b, g->values[cap[j]].name, g->values[cap[j]].type, o->loc);
  step_body(ly, &s, bcap, bx, bh, bc);

  int in[12], nin = 0;
  in[nin++] = x;
  in[nin++] = h;
  if (lstm) in[nin++] = c;
  if (lengths >= 0) in[nin++] = lengths;
  for (int j = 0; j < ncap; j++) in[nin++] = cap[j];
  char name[256];
  snprintf(name, sizeof name, "%s.%s", o->name, tag);
  int n = ir_insert_node_n(g, o->pos++, IR_OP_SCAN, name, in, nin, lstm ? 3 : 2, o->loc);
  g->nodes[n].body = s.b;
  ir_set_attr_int(g, n, "nover", 1);
  ir_set_attr_int(g, n, "nstate", lstm ? 2 : 1);
  ir_set_attr_int(g, n, "reverse", dir);
  ir_set_attr_int(g, n, "chunk", 1);
  if (lengths >= 0) ir_set_attr_int(g, n, "lengths", 1);
  IR_ASSERT(ir_infer_node(g, n, o->d));
  *y = g->nodes[n].outputs[0];
  *hN = g->nodes[n].outputs[1];
  *cN = lstm ? g->nodes[n].outputs[2] : -1;
}

/* [B, X] -> [1, B, X] */
static int unsqueeze(out *o, int v, const char *suffix) {
  int n = pass_put(o, IR_OP_RESHAPE, suffix, &v, 1);
  ir_type t = o->g->values[v].type;
  memmove(&t.dims[1], &t.dims[0], sizeof(ir_dim) * (size_t)t.rank);
  t.dims[0] = ir_dim_const(1);
  t.rank++;
  o->g->values[o->g->nodes[n].outputs[0]].type = t;
  return typed(o->g, n, o->d);
}

int pass_expand_recurrent(ir_graph *g, int i, ir_diags *d) {
  const ir_node *n = &g->nodes[i];
  layer ly = {.op = n->op, .r = ir_rnn_layout_of(n)};
  ly.H = ly.r.H;
  ly.L = ly.r.L;
  ly.D = ly.r.D;
  ly.bias = ly.r.bias;
  ly.relu = n->op == IR_OP_RNN && ir_attr_int(n, "relu");
  ly.peep = ly.r.peep;
  ly.proj = ly.r.proj;
  ly.P = ly.r.P;
  bool lstm = n->op == IR_OP_LSTM;
  IR_ASSERT(n->ninputs == ly.r.ninputs && ly.L * ly.D <= 64);
  /* copy what the node holds: inserting nodes moves the node array */
  int ins[4 + 64 * 8], olds[3];
  memcpy(ins, n->inputs, sizeof(int) * (size_t)n->ninputs);
  for (int k = 0; k < n->noutputs; k++) olds[k] = n->outputs[k];
  int nout = n->noutputs;
  out o = {g, i, n->name, n->loc, d};

  int x = ins[0], hs[128], cs[128];
  for (int64_t l = 0; l < ly.L; l++) {
    int ys[2];
    for (int dir = 0; dir < ly.D; dir++) {
      int64_t ld = l * ly.D + dir;
      scan_one(&o, &ly, l, dir, x, ins[1], lstm ? ins[2] : -1,
               ly.r.lengths >= 0 ? ins[ly.r.lengths] : -1, ins, &ys[dir], &hs[ld], &cs[ld]);
    }
    char sfx[64];
    snprintf(sfx, sizeof sfx, "l%lld_out", (long long)l);
    x = join(&o, ys, (int)ly.D, 2, sfx);
  }
  int LD = (int)(ly.L * ly.D), res[3] = {x, -1, -1};
  for (int s = 0; s < (lstm ? 2 : 1); s++) {
    int *fin = s ? cs : hs, parts[128];
    for (int k = 0; k < LD; k++) {
      char sfx[64];
      snprintf(sfx, sizeof sfx, "%s_%d", s ? "c_n" : "h_n", k);
      parts[k] = unsqueeze(&o, fin[k], sfx);
    }
    res[1 + s] = join(&o, parts, LD, 0, s ? "c_n" : "h_n");
  }
  /* the layer node now sits at o.pos */
  g->nodes[o.pos].dead = true;
  for (int k = 0; k < nout; k++) {
    g->values[res[k]].name = g->values[olds[k]].name;
    ir_replace_uses(g, olds[k], res[k]);
  }
  return o.pos + 1;
}
