/*
 * memformer.c: `memformer_encoder` (SPEC section 10), Memformer's
 * memory-augmented encoder, lowered to one segment-level SCAN (chunk C) whose
 * carried state is the memory, as a user could write it by hand:
 *
 *   mf: {op: memformer_encoder, input: x, num_layers: 2, nhead: 4,
 *        dim_feedforward: 256, num_slots: 8, segment: 32}
 *
 *   memory_0 = normalize(memory_bias) for every row of the batch
 *   scan over segments x_s of C rows, state memory:
 *     per layer l (pre-norm):  x += self_attn(n1(x));  x += mem_attn(n2(x), memory);
 *                              x += linear2(act(linear1(n3(x))))
 *     y = norm(x)                                         (emitted: the value, [B, T, E])
 *     memory = memory_write(memory, y)                    (the next state: NODE.memory)
 *
 * The body's nodes are the layers a YAML scan body would hold
 * (multihead_attention, linear, layer_norm, add, relu or gelu) plus the
 * memory_write layer op, all expanded by decompose; their parameters are
 * NODE.layers.L.self_attn.in_proj_weight ..., NODE.norm.*, NODE.writer.*,
 * the names SPEC gives. normalize(v) is RMS_NORM with weight 1/sqrt(E) and eps
 * 1e-24/E, which is v / sqrt(sum v^2 + 1e-24): F.normalize's v / max(|v|,
 * 1e-12) wherever |v| > 1e-11.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fe.h"

/* the attributes */
typedef struct mf_cfg {
  int64_t E, H, F, k, C, layers; /* d_model, nhead, dim_feedforward, num_slots, segment */
  double tau, eps;               /* write_temperature, layer_norm_eps */
  bool gelu;                     /* activation gelu (exact), else relu */
} mf_cfg;

static ir_type f32v(int64_t n) {
  return (ir_type){.dtype = IR_F32, .rank = 1, .dims = {ir_dim_const(n)}};
}

static ir_type f32m(int64_t r, int64_t c) {
  return (ir_type){.dtype = IR_F32, .rank = 2, .dims = {ir_dim_const(r), ir_dim_const(c)}};
}

/* v viewed as type t (a RESHAPE named PREFIX.suffix) */
static int view(fe_ctx *B, const char *suffix, int v, const ir_type *t) {
  int n = fe_node(B, IR_OP_RESHAPE, suffix, &v, 1);
  B->g->values[B->g->nodes[n].outputs[0]].type = *t;
  return fe_done(B, n);
}

/* a constant f32 [n], every element v */
static int constant(fe_ctx *L, int64_t n, double v) {
  float *data = ir_alloc(L->g, sizeof(float) * (size_t)n);
  for (int64_t i = 0; i < n; i++) data[i] = (float)v;
  return ir_add_const(L->g, f32v(n), data, fe_cur_loc(L));
}

/* the body's current "node", whose name prefixes the next params and nodes */
static void at(fe_ctx *B, fe_def *def, const char *name) {
  def->name = ir_strdup(B->g, name);
  B->cur = 0;
}

static int node(fe_ctx *B, ir_op op, const char *suffix, const int *in, int n) {
  return fe_node(B, op, suffix, in, n);
}

static int add(fe_ctx *B, const char *suffix, int a, int b) {
  return fe_done(B, node(B, IR_OP_ADD, suffix, (int[]){a, b}, 2));
}

/* nn.MultiheadAttention NAME under the current prefix: query q, key = value kv */
static int mha(fe_ctx *B, const char *name, int q, int kv, const mf_cfg *c) {
  ir_tf_layout r = ir_tf_layout_make(IR_OP_MULTIHEAD_ATTENTION, true, false, false, false);
  int inputs[9] = {q, kv, kv};
  char prefix[64];
  snprintf(prefix, sizeof prefix, "%s.", name);
  fe_tf_params(B, prefix, &r, IR_TF_SA_IN, c->E, 0, inputs);
  fe_tf_params(B, prefix, &r, IR_TF_SA_OUT, c->E, 0, inputs);
  char full[128];
  snprintf(full, sizeof full, "%s.%s", fe_cur_name(B), name);
  int n = ir_insert_node_n(B->g, B->g->nnodes, IR_OP_MULTIHEAD_ATTENTION, ir_strdup(B->g, full),
                           inputs, r.ninputs, 1, fe_cur_loc(B));
  ir_set_attr_int(B->g, n, "num_heads", c->H);
  ir_set_attr_int(B->g, n, "bias", 1);
  ir_set_attr_int(B->g, n, "causal", 0);
  ir_set_attr_int(B->g, n, "window", -1);
  return fe_done(B, n);
}

/* linear NAME (weight [out, in], bias [out]) under the current prefix */
static int linear(fe_ctx *B, const char *name, int x, int64_t in, int64_t outf) {
  char w[64], b[64];
  snprintf(w, sizeof w, "%s.weight", name);
  snprintf(b, sizeof b, "%s.bias", name);
  int inputs[3] = {x, fe_param(B, ir_strdup(B->g, w), f32m(outf, in)),
                   fe_param(B, ir_strdup(B->g, b), f32v(outf))};
  return fe_done(B, node(B, IR_OP_LINEAR, name, inputs, 3));
}

/* layer_norm with params WHAT.weight, WHAT.bias (what NULL: weight, bias) under the
 * current prefix, node PREFIX.what (or PREFIX) */
static int layer_norm(fe_ctx *B, const char *what, int x, const mf_cfg *c) {
  char w[64], b[64];
  snprintf(w, sizeof w, "%s%sweight", what ? what : "", what ? "." : "");
  snprintf(b, sizeof b, "%s%sbias", what ? what : "", what ? "." : "");
  int inputs[3] = {x, fe_param(B, ir_strdup(B->g, w), f32v(c->E)),
                   fe_param(B, ir_strdup(B->g, b), f32v(c->E))};
  int n = what ? node(B, IR_OP_LAYER_NORM, what, inputs, 3)
               : ir_add_node(B->g, IR_OP_LAYER_NORM, fe_cur_name(B), inputs, 3, fe_cur_loc(B));
  ir_set_attr_float(B->g, n, "eps", c->eps);
  return fe_done(B, n);
}

/* one pre-norm layer on segment x, reading memory mem */
static int layer(fe_ctx *B, int x, int mem, const mf_cfg *c) {
  int h = layer_norm(B, "n1", x, c);
  x = add(B, "self_attn_add", x, mha(B, "self_attn", h, h, c));
  h = layer_norm(B, "n2", x, c);
  x = add(B, "mem_attn_add", x, mha(B, "mem_attn", h, mem, c));
  h = layer_norm(B, "n3", x, c);
  h = linear(B, "linear1", h, c->E, c->F);
  int act = node(B, c->gelu ? IR_OP_GELU : IR_OP_RELU, "activation", &h, 1);
  if (c->gelu) ir_set_attr_int(B->g, act, "tanh", 0);
  h = linear(B, "linear2", fe_done(B, act), c->F, c->E);
  return add(B, "ff_add", x, h);
}

/* normalize(memory_bias) [k, E], then the same for every row of x's batch */
static int first_memory(fe_ctx *L, int bias, int x, const mf_cfg *c) {
  int in[2] = {bias, constant(L, c->E, 1.0 / sqrt((double)c->E))};
  int n = fe_node(L, IR_OP_RMS_NORM, "memory_bias_normalized", in, 2);
  ir_set_attr_float(L->g, n, "eps", 1e-24 / (double)c->E);
  int nb = fe_done(L, n);
  int z = fe_node(L, IR_OP_FILL, "memory_zeros", NULL, 0);
  ir_set_attr_float(L->g, z, "value", 0.0);
  L->g->values[L->g->nodes[z].outputs[0]].type =
      (ir_type){.dtype = IR_F32,
                .rank = 3,
                .dims = {L->g->values[x].type.dims[0], ir_dim_const(c->k), ir_dim_const(c->E)}};
  int zeros = fe_done(L, z);
  return fe_done(L, fe_node(L, IR_OP_ADD, "memory_init", (int[]){zeros, nb}, 2));
}

/* reads and checks the attributes */
static bool attrs(fe_ctx *L, int x, mf_cfg *c) {
  static const char *const acts[] = {"relu", "gelu", NULL};
  static const double one = 1.0, def_eps = 1e-5;
  int act;
  if (!fe_model_dim(L, x, "input", "d_model", &c->E)) return false;
  bool ok = fe_int(L, "num_layers", FE_LAYERS, NULL, &c->layers);
  ok &= fe_int(L, "nhead", FE_POSITIVE, NULL, &c->H);
  ok &= fe_int(L, "dim_feedforward", FE_POSITIVE, NULL, &c->F);
  ok &= fe_int(L, "num_slots", FE_POSITIVE, NULL, &c->k);
  ok &= fe_int(L, "segment", FE_POSITIVE, NULL, &c->C);
  ok &= fe_float(L, "write_temperature", &one, &c->tau);
  ok &= fe_choice(L, "activation", acts, 0, &act);
  ok &= fe_float(L, "layer_norm_eps", &def_eps, &c->eps);
  if (!ok) return false;
  c->gelu = act == 1;
  if (c->E % c->H) {
    ir_error(L->d, fe_attr(L, "nhead")->loc,
             "memformer_encoder '%s': d_model %lld is not divisible by nhead %lld", fe_cur_name(L),
             (long long)c->E, (long long)c->H);
    return false;
  }
  if (!(c->tau > 0)) {
    ir_error(L->d, fe_attr(L, "write_temperature")->loc,
             "attribute 'write_temperature' of '%s' must be positive, got %g", fe_cur_name(L),
             c->tau);
    return false;
  }
  ir_dim T = L->g->values[x].type.dims[1];
  if (ir_dim_is_const(T) && T.coef % c->C) {
    char buf[64];
    ir_error(L->d, fe_attr(L, "segment")->loc,
             "memformer_encoder '%s': segment %lld does not divide the sequence length %s",
             fe_cur_name(L), (long long)c->C, ir_dim_str(L->g, T, buf, sizeof buf));
    return false;
  }
  return true;
}

int fe_lower_memformer_encoder(fe_ctx *L) {
  int x = fe_value_attr(L, "input");
  mf_cfg c;
  bool carry = false;
  if (x < 0 || !attrs(L, x, &c) || !fe_carry_attr(L, NULL, false, &carry)) return -1;
  const char *name = fe_cur_name(L);
  int bias = fe_param(L, "memory_bias", f32m(c.k, c.E));
  int init = first_memory(L, bias, x, &c);
  if (init < 0) return -1;

  /* the body: inputs x (one segment) and memory, then captures */
  ir_graph *body = ir_graph_new(NULL);
  body->parent = L->g;
  fe_def def = {.key = L->defs[L->cur].key, .node = L->defs[L->cur].node, .value = -1};
  fe_ctx B = {.g = body, .d = L->d, .outer = L, .defs = &def, .ndefs = 1, .op = L->op};
  const ir_type *xt = &L->g->values[x].type;
  ir_type seg = *xt, step = *xt;
  seg.dims[1] = ir_dim_const(c.C);
  step.rank = 2;
  step.dims[1] = xt->dims[2];
  ir_loc loc = fe_cur_loc(L);
  /* a scan of chunk 1 hands its body one step [B, E]: viewed as a segment [B, 1, E] */
  int h = ir_add_input(body, "x", c.C > 1 ? seg : step, loc);
  int mem = ir_add_input(body, "memory", L->g->values[init].type, loc);
  at(&B, &def, "x");
  if (c.C == 1) h = view(&B, "segment", h, &seg);
  for (int64_t l = 0; l < c.layers && h >= 0; l++) {
    char p[32];
    snprintf(p, sizeof p, "layers.%lld", (long long)l);
    at(&B, &def, p);
    h = layer(&B, h, mem, &c);
  }
  at(&B, &def, "norm");
  int y = h < 0 ? -1 : layer_norm(&B, NULL, h, &c);
  int next = -1;
  if (y >= 0) {
    at(&B, &def, "writer");
    ir_tf_layout r = ir_tf_layout_make(IR_OP_MULTIHEAD_ATTENTION, true, false, false, false);
    int in[9] = {mem, y, mem};
    fe_tf_params(&B, "", &r, IR_TF_SA_IN, c.E, 0, in);
    fe_tf_params(&B, "", &r, IR_TF_SA_OUT, c.E, 0, in);
    /* the multihead layout puts the params after q, k, v: memory_write takes M, y, params */
    int wi[7] = {mem, y, in[3], in[4], in[5], in[6], fe_capture(&B, bias)};
    int n = ir_add_node(body, IR_OP_MEMORY_WRITE, ir_strdup(body, "writer"), wi, 7, loc);
    ir_set_attr_int(body, n, "num_heads", c.H);
    ir_set_attr_float(body, n, "temperature", c.tau);
    next = fe_done(&B, n);
  }
  if (next < 0) {
    free(B.captured);
    ir_graph_free(body);
    return -1;
  }
  ir_add_output(body, "y", c.C > 1 ? y : view(&B, "step", y, &step));
  ir_add_output(body, "memory", next);

  /* the SCAN: the input, the first (or carried) memory, then the captures */
  int nin = 2 + B.ncaptured;
  int *inputs = calloc((size_t)nin, sizeof(int));
  IR_ASSERT(inputs);
  inputs[0] = x;
  inputs[1] = carry ? fe_carry_in(L, "memory", init) : init;
  for (int i = 0; i < B.ncaptured; i++) inputs[2 + i] = B.captured[i];
  free(B.captured);
  if (inputs[1] < 0) {
    free(inputs);
    ir_graph_free(body);
    return -1;
  }
  int n = ir_insert_node_n(L->g, L->g->nnodes, IR_OP_SCAN, name, inputs, nin, 2, loc);
  free(inputs);
  L->g->nodes[n].body = body;
  ir_set_attr_int(L->g, n, "nover", 1);
  ir_set_attr_int(L->g, n, "nstate", 1);
  ir_set_attr_int(L->g, n, "reverse", 0);
  ir_set_attr_int(L->g, n, "chunk", c.C);

  /* names: NODE (the output) and NODE.memory */
  fe_def *d = &L->defs[L->cur];
  d->nouts = 2;
  d->outs = ir_alloc(L->g, sizeof(fe_named) * 2);
  const char *subs[2] = {"y", "memory"};
  for (int k = 0; k < 2; k++) {
    int v = L->g->nodes[n].outputs[k];
    if (k > 0) {
      size_t len = strlen(name) + 8;
      char *full = ir_alloc(L->g, len);
      snprintf(full, len, "%s.memory", name);
      L->g->values[v].name = full;
    }
    d->outs[k] = (fe_named){ir_strdup(L->g, subs[k]), v};
  }
  if (carry) fe_carry_out(L, L->g->nodes[n].inputs[1], L->g->nodes[n].outputs[1]);
  return n;
}
