/*
 * transformer.c: the Transformer layers of PyTorch 1.13 (batch_first), expanded
 * into primitives and `attention` (see attention.c):
 *
 *   encoder layer, post-norm:  x = norm1(x + sa(x));  x = norm2(x + ff(x))
 *   encoder layer, norm_first: x = x + sa(norm1(x));  x = x + ff(norm2(x))
 *   decoder layer: the same with cross attention mha(x, memory) and norm2
 *     between self-attention (norm1) and feed-forward (norm3)
 *   ff(x) = linear2(activation(linear1(x))), activation relu or gelu (exact)
 *
 * Stacks put the layers under `layers.{i}.` and an optional final `norm.`;
 * nn.Transformer is encoder.* (with encoder.norm) and decoder.* (with
 * decoder.norm). Dropout is the identity at inference. `causal` and `window`
 * mask self-attention only; nn.Transformer applies them to the decoder's
 * self-attention only (SPEC section 7).
 */
#include <stdio.h>
#include <string.h>

#include "fe.h"

static const bool no = false;

/* everything one layer needs */
typedef struct layer_cfg {
  fe_attn self;    /* self-attention: heads, bias, causal, window */
  fe_attn cross;   /* decoder cross-attention: no mask */
  int64_t E;       /* d_model */
  int64_t ff;      /* dim_feedforward */
  bool gelu;       /* activation gelu (exact), else relu */
  bool norm_first; /* pre-norm */
  bool bias;       /* linears and norms carry biases */
  double eps;      /* layer_norm_eps */
} layer_cfg;

static int add(fe_ctx *L, const char *prefix, const char *what, int a, int b) {
  if (a < 0 || b < 0) return -1;
  char s[512];
  snprintf(s, sizeof s, "%s%s", prefix, what);
  int in[2] = {a, b};
  return fe_done(L, fe_node(L, IR_OP_ADD, s, in, 2));
}

static int norm(fe_ctx *L, const char *prefix, const char *what, int x, const layer_cfg *c) {
  return x < 0 ? -1 : fe_build_norm(L, prefix, what, x, c->E, c->eps, c->bias);
}

/* linear2(activation(linear1(x))) */
static int feed_forward(fe_ctx *L, const char *prefix, int x, const layer_cfg *c) {
  if (x < 0) return -1;
  int h = fe_build_linear(L, prefix, "linear1", x, c->E, c->ff, c->bias);
  if (h < 0) return -1;
  char s[512];
  snprintf(s, sizeof s, "%sactivation", prefix);
  int n = fe_node(L, c->gelu ? IR_OP_GELU : IR_OP_RELU, s, &h, 1);
  if (c->gelu) ir_set_attr_int(L->g, n, "tanh", 0);
  h = fe_done(L, n);
  return h < 0 ? -1 : fe_build_linear(L, prefix, "linear2", h, c->ff, c->E, c->bias);
}

/* self-attention block on x (already normed when norm_first) */
static int self_attn(fe_ctx *L, const char *prefix, int x, const layer_cfg *c) {
  if (x < 0) return -1;
  char p[512];
  snprintf(p, sizeof p, "%sself_attn.", prefix);
  return fe_build_mha(L, p, x, x, x, &c->self);
}

static int cross_attn(fe_ctx *L, const char *prefix, int x, int mem, const layer_cfg *c) {
  if (x < 0) return -1;
  char p[512];
  snprintf(p, sizeof p, "%smultihead_attn.", prefix);
  return fe_build_mha(L, p, x, mem, mem, &c->cross);
}

static int encoder_layer(fe_ctx *L, const char *prefix, int x, const layer_cfg *c) {
  if (c->norm_first) {
    x = add(L, prefix, "sa_add", x, self_attn(L, prefix, norm(L, prefix, "norm1", x, c), c));
    return add(L, prefix, "ff_add", x, feed_forward(L, prefix, norm(L, prefix, "norm2", x, c), c));
  }
  x = norm(L, prefix, "norm1", add(L, prefix, "sa_add", x, self_attn(L, prefix, x, c)), c);
  return norm(L, prefix, "norm2", add(L, prefix, "ff_add", x, feed_forward(L, prefix, x, c)), c);
}

static int decoder_layer(fe_ctx *L, const char *prefix, int x, int mem, const layer_cfg *c) {
  if (c->norm_first) {
    x = add(L, prefix, "sa_add", x, self_attn(L, prefix, norm(L, prefix, "norm1", x, c), c));
    x = add(L, prefix, "ca_add", x, cross_attn(L, prefix, norm(L, prefix, "norm2", x, c), mem, c));
    return add(L, prefix, "ff_add", x, feed_forward(L, prefix, norm(L, prefix, "norm3", x, c), c));
  }
  x = norm(L, prefix, "norm1", add(L, prefix, "sa_add", x, self_attn(L, prefix, x, c)), c);
  x = norm(L, prefix, "norm2", add(L, prefix, "ca_add", x, cross_attn(L, prefix, x, mem, c)), c);
  return norm(L, prefix, "norm3", add(L, prefix, "ff_add", x, feed_forward(L, prefix, x, c)), c);
}

/* num_layers layers under PREFIXlayers.{i}., then PREFIXnorm. when final_norm */
static int stack(fe_ctx *L, const char *prefix, int x, int mem, int64_t layers, bool final_norm,
                 const layer_cfg *c) {
  for (int64_t i = 0; i < layers && x >= 0; i++) {
    char p[512];
    snprintf(p, sizeof p, "%slayers.%lld.", prefix, (long long)i);
    x = mem < 0 ? encoder_layer(L, p, x, c) : decoder_layer(L, p, x, mem, c);
  }
  return final_norm ? norm(L, prefix, "norm", x, c) : x;
}

/*
 * The attributes every layer shares: d_model (inferred from x, checked),
 * nhead, dim_feedforward (2048), dropout, activation (relu | gelu),
 * layer_norm_eps (1e-5), batch_first (true), norm_first (false), bias (true),
 * causal (false), window (none). def_heads > 0 gives nhead a default.
 */
static bool layer_attrs(fe_ctx *L, int x, int64_t def_heads, layer_cfg *c) {
  static const char *const acts[] = {"relu", "gelu", NULL};
  static const int64_t def_ff = 2048;
  static const double def_eps = 1e-5;
  int act;
  if (!fe_model_dim(L, x, "input", "d_model", &c->E)) return false;
  bool ok = fe_attn_common(L, "nhead", def_heads, c->E, &c->self);
  ok &= fe_int(L, "dim_feedforward", FE_POSITIVE, &def_ff, &c->ff);
  ok &= fe_choice(L, "activation", acts, 0, &act);
  ok &= fe_float(L, "layer_norm_eps", &def_eps, &c->eps);
  ok &= fe_bool(L, "norm_first", &no, &c->norm_first);
  if (!ok) return false;
  c->gelu = act == 1;
  c->bias = c->self.bias;
  c->cross = c->self;
  c->cross.causal = false;
  c->cross.window = -1;
  return true;
}

/* memory: f32 [B, S, d_model] with the batch of x */
static bool check_memory(fe_ctx *L, int x, int mem, const char *what, int64_t E) {
  const ir_type *t = &L->g->values[mem].type, *xt = &L->g->values[x].type;
  char a[256], b[256];
  if (t->dtype == IR_F32 && t->rank == 3 && ir_dim_eq(t->dims[2], ir_dim_const(E)) &&
      ir_dim_eq(t->dims[0], xt->dims[0]))
    return true;
  ir_error(L->d, fe_cur_loc(L), "%s '%s': expected %s of f32 [%s, S, %lld], got %s %s", L->op,
           fe_cur_name(L), what, ir_dim_str(L->g, xt->dims[0], a, sizeof a), (long long)E,
           ir_dtype_name(t->dtype), ir_type_str(L->g, t, b, sizeof b));
  return false;
}

#define LAYER_KEYS                                                                          \
  "d_model nhead dim_feedforward dropout activation layer_norm_eps batch_first norm_first " \
  "bias causal window"

/* transformer_encoder_layer: input, LAYER_KEYS */
int fe_lower_transformer_encoder_layer(fe_ctx *L) {
  int x = fe_value_attr(L, "input");
  layer_cfg c;
  if (x < 0 || !layer_attrs(L, x, 0, &c)) return -1;
  return fe_finish(L, encoder_layer(L, "", x, &c));
}

/* transformer_decoder_layer: input (target), memory, LAYER_KEYS */
int fe_lower_transformer_decoder_layer(fe_ctx *L) {
  int x = fe_value_attr(L, "input"), mem = fe_value_attr(L, "memory");
  layer_cfg c;
  if (x < 0 || mem < 0 || !layer_attrs(L, x, 0, &c)) return -1;
  if (!check_memory(L, x, mem, "memory", c.E)) return -1;
  return fe_finish(L, decoder_layer(L, "", x, mem, &c));
}

/* transformer_encoder / transformer_decoder: input, [memory,] num_layers, norm (false),
 * LAYER_KEYS */
static int lower_stack(fe_ctx *L, bool decoder) {
  int x = fe_value_attr(L, "input"), mem = decoder ? fe_value_attr(L, "memory") : -1;
  int64_t layers;
  bool final_norm;
  layer_cfg c;
  bool ok = fe_int(L, "num_layers", FE_POSITIVE, NULL, &layers);
  ok &= fe_bool(L, "norm", &no, &final_norm);
  if (!ok || x < 0 || (decoder && mem < 0) || !layer_attrs(L, x, 0, &c)) return -1;
  if (decoder && !check_memory(L, x, mem, "memory", c.E)) return -1;
  return fe_finish(L, stack(L, "", x, mem, layers, final_norm, &c));
}

int fe_lower_transformer_encoder(fe_ctx *L) { return lower_stack(L, false); }
int fe_lower_transformer_decoder(fe_ctx *L) { return lower_stack(L, true); }

/* transformer: src, tgt, num_encoder_layers (6), num_decoder_layers (6), nhead (8),
 * LAYER_KEYS; the value is the decoder's output */
int fe_lower_transformer(fe_ctx *L) {
  static const int64_t six = 6;
  int src = fe_value_attr(L, "src"), tgt = fe_value_attr(L, "tgt");
  int64_t nenc, ndec;
  bool ok = fe_int(L, "num_encoder_layers", FE_POSITIVE, &six, &nenc);
  ok &= fe_int(L, "num_decoder_layers", FE_POSITIVE, &six, &ndec);
  layer_cfg c;
  if (!ok || src < 0 || tgt < 0 || !layer_attrs(L, src, 8, &c)) return -1;
  if (!check_memory(L, src, tgt, "tgt", c.E)) return -1;
  layer_cfg enc = c;
  enc.self.causal = false;
  enc.self.window = -1;
  int mem = stack(L, "encoder.", src, -1, nenc, true, &enc);
  if (mem < 0) return -1;
  return fe_finish(L, stack(L, "decoder.", tgt, mem, ndec, true, &c));
}
