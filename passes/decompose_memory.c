/*
 * decompose_memory.c: Memformer's memory write (memory_write, SPEC 10) into
 * two GEMMs, one attention kernel and one row pass. With M [B, k, E],
 * y [B, C, E], H heads of dh, s = 1 / (sqrt(dh) t):
 *
 *   qkv     = LINEAR(M, in_proj)                          [B, k, 3E]
 *   kv      = LINEAR(y, rows [E, 3E) of in_proj)          [B, C, 2E]
 *   heads   = SLOT_ATTENTION(qkv, kv) {H, s}              [B, k, E]
 *   out     = LINEAR(heads, out_proj) + memory_bias
 *   result  = RMS_NORM(out, weight 1/sqrt(E), eps 1e-24/E)
 *
 * slot_attention is SPEC's mask (slot s sees row s of M and the rows of y)
 * as one kernel that reads the projections as they come (codegen/
 * slot_attention.c): no head transposes, no score tensor. fuse makes the
 * bias adds out_proj's epilogue, so the write ends in one GEMM and the
 * norm's row pass. The last line is F.normalize: x / sqrt(sum x^2 + 1e-24),
 * which equals x / max(|x|, 1e-12) wherever |x| is above 1e-11 and gives 0
 * for 0. The in_proj slices read params only, so they run once at session
 * start.
 */
#include <math.h>

#include "passes.h"

typedef pass_expansion out;

/* a constant f32 [n], every element v */
static int constant(out *o, int64_t n, double v) {
  float *data = ir_alloc(o->g, sizeof(float) * (size_t)n);
  for (int64_t i = 0; i < n; i++) data[i] = (float)v;
  ir_type t = {.dtype = IR_F32, .rank = 1, .dims = {ir_dim_const(n)}};
  return ir_add_const(o->g, t, data, o->loc);
}

int pass_expand_memory_write(ir_graph *g, int i, ir_diags *d) {
  const ir_node *n = &g->nodes[i];
  int M = n->inputs[0], Y = n->inputs[1], win = n->inputs[2], bin = n->inputs[3];
  int wout = n->inputs[4], bout = n->inputs[5], mbias = n->inputs[6], res = n->outputs[0];
  int64_t E = g->values[M].type.dims[2].coef, H = ir_attr_int(n, "num_heads");
  double scale = 1.0 / (sqrt((double)(E / H)) * ir_attr_float(n, "temperature"));
  out o = {.g = g, .pos = i, .name = n->name, .loc = n->loc, .d = d};

  /* projections: q, k and v of the slots, k and v of the segment's rows */
  int qkv = pass_linear(&o, "memory_qkv_proj", M, win, bin);
  int wkv = pass_slice(&o, "kv_weight", win, 0, E, 3 * E);
  int bkv = pass_slice(&o, "kv_bias", bin, 0, E, 3 * E);
  int kv = pass_linear(&o, "segment_kv_proj", Y, wkv, bkv);

  /* each slot on itself and the segment */
  int ain[2] = {qkv, kv};
  int an = pass_put(&o, IR_OP_SLOT_ATTENTION, "heads", ain, 2);
  ir_set_attr_int(g, an, "num_heads", H);
  ir_set_attr_float(g, an, "scale", scale);
  int att = pass_typed(&o, an);

  /* out_proj, bias, normalized */
  int written = pass_linear(&o, "out_proj", att, wout, bout);
  int add_in[2] = {written, mbias};
  int biased = pass_typed(&o, pass_put(&o, IR_OP_ADD, "biased", add_in, 2));
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
