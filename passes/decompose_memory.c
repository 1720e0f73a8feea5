/*
 * decompose_memory.c: Memformer's memory write (memory_write, SPEC 10) into
 * primitives. With M [B, k, E], y [B, C, E], H heads of dh, s = 1 / (sqrt(dh) t):
 *
 *   q          = LINEAR(M, rows [0, E) of in_proj) * s       heads [B, H, k, dh]
 *   km, vm     = LINEAR(M, rows [E, 3E))                     heads [B, H, k, dh] each
 *   ky, vy     = LINEAR(y, rows [E, 3E))                     heads [B, H, C, dh] each
 *   own        = MATMUL(q, km^T) one slot at a time          [B, H, k, 1]
 *   rows       = MATMUL(q, ky^T)                             [B, H, k, C]
 *   p          = SOFTMAX(CONCAT(own, rows))                  [B, H, k, 1 + C]
 *   heads      = MATMUL(p[..., :1], vm) + MATMUL(p[..., 1:], vy)
 *   out        = LINEAR(merged heads, out_proj) + memory_bias
 *   result     = RMS_NORM(out, weight 1/sqrt(E), eps 1e-24/E)
 *
 * The mask of SPEC's text (slot s sees row s of M and the rows of y) is the
 * split of the keys into each slot's own, taken one slot at a time as a
 * matmul of batch [B, H, k] on [1, dh] rows, and the segment's, shared. The
 * last line is F.normalize: x / sqrt(sum x^2 + 1e-24), which equals x /
 * max(|x|, 1e-12) wherever |x| is above 1e-11 and gives 0 for 0. The
 * in_proj slices read params only, so they run once at session start.
 */
#include <math.h>
#include <stdio.h>

#include "passes.h"

typedef pass_expansion out;

static int op2(out *o, ir_op op, const char *suffix, int a, int b) {
  int in[2] = {a, b};
  return pass_typed(o, pass_put(o, op, suffix, in, 2));
}

static int matmul(out *o, const char *suffix, int a, int b, bool trans_b) {
  int in[2] = {a, b};
  int n = pass_put(o, IR_OP_MATMUL, suffix, in, 2);
  ir_set_attr_int(o->g, n, "trans_b", trans_b);
  return pass_typed(o, n);
}

/* a constant f32 [n], every element v */
static int constant(out *o, int64_t n, double v) {
  float *data = ir_alloc(o->g, sizeof(float) * (size_t)n);
  for (int64_t i = 0; i < n; i++) data[i] = (float)v;
  ir_type t = {.dtype = IR_F32, .rank = 1, .dims = {ir_dim_const(n)}};
  return ir_add_const(o->g, t, data, o->loc);
}

/* x [B, R, parts * E] -> parts head tensors [B, H, R, dh] into res */
static void heads(out *o, const char *what, int x, int parts, int64_t H, int64_t dh, int *res) {
  char s[64];
  const ir_type *t = &o->g->values[x].type;
  ir_dim dims[5] = {t->dims[0], t->dims[1], ir_dim_const(parts), ir_dim_const(H),
                    ir_dim_const(dh)};
  snprintf(s, sizeof s, "%s_heads", what);
  int r = pass_reshape(o, s, x, 5, dims);
  static const int64_t perm[5] = {2, 0, 3, 1, 4};
  snprintf(s, sizeof s, "%s_heads_t", what);
  r = pass_transpose(o, s, r, 5, perm);
  for (int i = 0; i < parts; i++) {
    snprintf(s, sizeof s, "%s%d", what, i);
    res[i] = pass_select(o, s, r, 0, i);
  }
}

/* [B, H, k, n] -> [B, H, k, 1, n]: one row per slot, for the per-slot matmuls */
static int per_slot(out *o, const char *suffix, int v) {
  const ir_type *t = &o->g->values[v].type;
  ir_dim dims[5] = {t->dims[0], t->dims[1], t->dims[2], ir_dim_const(1), t->dims[3]};
  return pass_reshape(o, suffix, v, 5, dims);
}

int pass_expand_memory_write(ir_graph *g, int i, ir_diags *d) {
  const ir_node *n = &g->nodes[i];
  int M = n->inputs[0], Y = n->inputs[1], win = n->inputs[2], bin = n->inputs[3];
  int wout = n->inputs[4], bout = n->inputs[5], mbias = n->inputs[6], res = n->outputs[0];
  const ir_type *mt = &g->values[M].type;
  int64_t k = mt->dims[1].coef, E = mt->dims[2].coef, H = ir_attr_int(n, "num_heads");
  int64_t C = g->values[Y].type.dims[1].coef, dh = E / H;
  double scale = 1.0 / (sqrt((double)dh) * ir_attr_float(n, "temperature"));
  ir_dim B = mt->dims[0];
  out o = {.g = g, .pos = i, .name = n->name, .loc = n->loc, .d = d};

  /* projections: q of the slots, k and v of the slots and of the segment's rows */
  int wq = pass_slice(&o, "q_weight", win, 0, 0, E), bq = pass_slice(&o, "q_bias", bin, 0, 0, E);
  int wkv = pass_slice(&o, "kv_weight", win, 0, E, 3 * E), bkv = pass_slice(&o, "kv_bias", bin, 0, E, 3 * E);
  int q = pass_linear(&o, "q_proj", M, wq, bq);
  int kvm = pass_linear(&o, "memory_kv_proj", M, wkv, bkv);
  int kvy = pass_linear(&o, "segment_kv_proj", Y, wkv, bkv);
  int qh[1], m[2], y[2];
  heads(&o, "q", q, 1, H, dh, qh);
  heads(&o, "memory_kv", kvm, 2, H, dh, m);
  heads(&o, "segment_kv", kvy, 2, H, dh, y);
  int qs = op2(&o, IR_OP_MUL, "q_scaled", qh[0], constant(&o, 1, scale));

  /* scores: each slot on its own key, every slot on the segment's rows */
  int own = matmul(&o, "own_score", per_slot(&o, "q_slot", qs), per_slot(&o, "k_slot", m[0]), true);
  ir_dim sd[4] = {B, ir_dim_const(H), ir_dim_const(k), ir_dim_const(1)};
  own = pass_reshape(&o, "own_scores", own, 4, sd);
  int rows = matmul(&o, "segment_scores", qs, y[0], true);
  int cat_in[2] = {own, rows};
  int cat = pass_put(&o, IR_OP_CONCAT, "scores", cat_in, 2);
  ir_set_attr_int(g, cat, "dim", 3);
  int p = pass_put(&o, IR_OP_SOFTMAX, "weights", (int[]){pass_typed(&o, cat)}, 1);
  ir_set_attr_int(g, p, "dim", 3);
  int pw = pass_typed(&o, p);

  /* the weighted sums, heads merged, out_proj, bias, normalized */
  int pown = per_slot(&o, "own_weight", pass_slice(&o, "own_weight_col", pw, 3, 0, 1));
  int vown = matmul(&o, "own_value", pown, per_slot(&o, "v_slot", m[1]), false);
  ir_dim hd[4] = {B, ir_dim_const(H), ir_dim_const(k), ir_dim_const(dh)};
  vown = pass_reshape(&o, "own_values", vown, 4, hd);
  int vrows = matmul(&o, "segment_values", pass_slice(&o, "segment_weights", pw, 3, 1, 1 + C), y[1], false);
  int att = op2(&o, IR_OP_ADD, "heads", vown, vrows);
  static const int64_t back[4] = {0, 2, 1, 3};
  att = pass_transpose(&o, "heads_t", att, 4, back);
  ir_dim md[3] = {B, ir_dim_const(k), ir_dim_const(E)};
  att = pass_reshape(&o, "merged", att, 3, md);
  int written = pass_linear(&o, "out_proj", att, wout, bout);
  int biased = op2(&o, IR_OP_ADD, "biased", written, mbias);
  int nin[2] = {biased, constant(&o, E, 1.0 / sqrt((double)E))};
  int norm = pass_put(&o, IR_OP_RMS_NORM, "normalized", nin, 2);
  ir_set_attr_float(g, norm, "eps", 1e-24 / (double)E);
  int r = pass_typed(&o, norm);

  /* the last node takes the layer's name and uses */
  int last = o.pos - 1;
  g->nodes[last].name = g->values[res].name ? g->values[res].name : g->nodes[o.pos].name;
  g->values[r].name = g->values[res].name;
  g->nodes[o.pos].dead = true;
  ir_replace_uses(g, res, r);
  return i; /* the linears go on to decompose's loop */
}
