/*
 * t5.c: `t5_encoder` and `t5_decoder` (SPEC section 10), HF's T5Stack
 * without its embedding, as the nodes a YAML file could hold (rms_norm,
 * linear, relu or gelu, mul, add) around the t5_attention layer op (ir/t5.c),
 * which decompose expands:
 *
 *   enc: {op: t5_encoder, input: x, num_layers: 6, num_heads: 8, d_kv: 64, d_ff: 2048}
 *
 *   per block N (pre-norm residual blocks; the decoder's self-attention causal):
 *     x += SelfAttention(layer.0.layer_norm(x))           (position bias of block 0)
 *     x += EncDecAttention(layer.1.layer_norm(x), memory)  (decoder only; no bias)
 *     x += DenseReluDense(layer.K.layer_norm(x))           (K = 1 encoder, 2 decoder)
 *   value = final_layer_norm(x)
 *   DenseReluDense: wo(relu(wi x)), or gated-gelu: wo(gelu_tanh(wi_0 x) * wi_1 x)
 *
 * Parameters are HF's names under the node (NODE.block.0.layer.0.SelfAttention.q.weight,
 * NODE.final_layer_norm.weight), so nodes named `encoder` and `decoder` load a
 * T5 checkpoint unchanged. The norms are T5LayerNorm: RMS_NORM, no mean, no
 * bias. Every block's self-attention reads the one relative_attention_bias
 * param of block 0, as HF's has_relative_attention_bias does.
 */
#include <stdio.h>
#include <string.h>

#include "fe.h"

/* the attributes */
typedef struct t5_cfg {
  int64_t D, layers, H, dkv, ff; /* d_model, num_layers, num_heads, d_kv, d_ff */
  bool gated;                    /* feed_forward_proj gated-gelu, else relu */
  int64_t N, max_distance;       /* relative_attention_num_buckets, _max_distance */
  double eps;                    /* layer_norm_epsilon */
  bool decoder;                  /* t5_decoder: causal self-attention, cross-attention */
  ir_dim cache;                  /* the decoder's cache S, 0 without */
} t5_cfg;

static ir_type f32v(int64_t n) {
  return (ir_type){.dtype = IR_F32, .rank = 1, .dims = {ir_dim_const(n)}};
}

static ir_type f32m(int64_t r, int64_t c) {
  return (ir_type){.dtype = IR_F32, .rank = 2, .dims = {ir_dim_const(r), ir_dim_const(c)}};
}

/* an error at attribute key (or the node) of the current node */
static bool bad(fe_ctx *L, const char *key, const char *msg, long long a, long long b) {
  const fe_ast *at = fe_attr(L, key);
  char text[256];
  snprintf(text, sizeof text, msg, a, b);
  ir_error(L->d, at ? at->loc : fe_cur_loc(L), "%s '%s': %s", L->op, fe_cur_name(L), text);
  return false;
}

static bool attrs(fe_ctx *L, int x, t5_cfg *c) {
  static const char *const projs[] = {"relu", "gated-gelu", NULL};
  static const int64_t def_n = 32, def_dist = 128;
  static const double def_eps = 1e-6;
  int proj;
  if (!fe_model_dim(L, x, "input", "d_model", &c->D)) return false;
  bool ok = fe_int(L, "num_layers", FE_LAYERS, NULL, &c->layers);
  ok &= fe_int(L, "num_heads", FE_POSITIVE, NULL, &c->H);
  ok &= fe_int(L, "d_kv", FE_POSITIVE, NULL, &c->dkv);
  ok &= fe_int(L, "d_ff", FE_POSITIVE, NULL, &c->ff);
  ok &= fe_choice(L, "feed_forward_proj", projs, 0, &proj);
  ok &= fe_int(L, "relative_attention_num_buckets", FE_POSITIVE, &def_n, &c->N);
  ok &= fe_int(L, "relative_attention_max_distance", FE_POSITIVE, &def_dist, &c->max_distance);
  ok &= fe_float(L, "layer_norm_epsilon", &def_eps, &c->eps);
  if (!ok) return false;
  c->gated = proj == 1;
  /* the bucket function's exact part: E = N/2 buckets (N/4 each way, bidirectional) */
  int64_t min_n = c->decoder ? 2 : 4, E = (c->decoder ? c->N : c->N / 2) / 2;
  if (c->N < min_n)
    return bad(L, "relative_attention_num_buckets", "%lld buckets: at least %lld are needed",
               c->N, min_n);
  if (c->max_distance <= E)
    return bad(L, "relative_attention_max_distance",
               "max distance %lld must exceed the %lld exactly bucketed distances", c->max_distance,
               E);
  return true;
}

/* T5LayerNorm PREFIX.layer_norm: RMS_NORM with its weight */
static int norm(fe_ctx *L, const char *prefix, const char *what, int x, const t5_cfg *c) {
  char name[512];
  snprintf(name, sizeof name, "%s%s", prefix, what);
  int in[2] = {x, fe_prefixed_param(L, name, ".weight", f32v(c->D))};
  int n = fe_node(L, IR_OP_RMS_NORM, name, in, 2);
  ir_set_attr_float(L->g, n, "eps", c->eps);
  return fe_done(L, n);
}

/* LINEAR PREFIXname without bias, weight [out, in] */
static int linear(fe_ctx *L, const char *prefix, const char *name, int x, int64_t in,
                  int64_t outf) {
  char full[512];
  snprintf(full, sizeof full, "%s%s", prefix, name);
  int inputs[2] = {x, fe_prefixed_param(L, full, ".weight", f32m(outf, in))};
  return fe_done(L, fe_node(L, IR_OP_LINEAR, full, inputs, 2));
}

static int binary(fe_ctx *L, ir_op op, const char *prefix, const char *what, int a, int b) {
  char name[512];
  snprintf(name, sizeof name, "%s%s", prefix, what);
  return fe_done(L, fe_node(L, op, name, (int[]){a, b}, 2));
}

/* the relative_attention_bias of block 0's self-attention, shared by every block */
static int relative_bias(fe_ctx *L, const t5_cfg *c) {
  return fe_param(L, "block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                  f32m(c->N, c->H));
}

/* t5_attention PREFIXwhat of query x on kv (x: self-attention, with the bias rel >= 0) */
static int attention(fe_ctx *L, const char *prefix, const char *what, int x, int kv, int rel,
                     bool causal, const t5_cfg *c) {
  char name[512];
  snprintf(name, sizeof name, "%s%s.", prefix, what);
  bool cached = causal && c->cache.coef > 0;
  ir_t5_layout r = ir_t5_layout_make(rel >= 0, cached);
  int inputs[9] = {x, kv};
  static const char *const w[4] = {"q.weight", "k.weight", "v.weight", "o.weight"};
  int64_t HK = c->H * c->dkv;
  for (int k = IR_T5_Q; k <= IR_T5_O; k++)
    inputs[k] = fe_prefixed_param(L, name, w[k - IR_T5_Q],
                                  k == IR_T5_O ? f32m(c->D, HK) : f32m(HK, c->D));
  if (rel >= 0) inputs[r.rel] = rel;
  char full[512];
  snprintf(full, sizeof full, "%s.%s%s", fe_cur_name(L), prefix, what);
  if (cached) fe_cache_inputs(L, full, x, c->H, HK, c->cache, &inputs[r.cache]);
  int n = ir_insert_node_n(L->g, L->g->nnodes, IR_OP_T5_ATTENTION, ir_strdup(L->g, full), inputs,
                           r.ninputs, cached ? 3 : 1, fe_cur_loc(L));
  ir_set_attr_int(L->g, n, "num_heads", c->H);
  ir_set_attr_int(L->g, n, "d_kv", c->dkv);
  ir_set_attr_int(L->g, n, "causal", causal);
  ir_set_attr_int(L->g, n, "relative", rel >= 0);
  ir_set_attr_int(L->g, n, "num_buckets", c->N);
  ir_set_attr_int(L->g, n, "max_distance", c->max_distance);
  if (cached) {
    ir_set_attr_int(L->g, n, "cache", 1);
    fe_cache_results(L, &L->g->nodes[n], &inputs[r.cache]);
  }
  return fe_done(L, n);
}

/* T5DenseActDense or T5DenseGatedActDense under PREFIXDenseReluDense. */
static int feed_forward(fe_ctx *L, const char *prefix, int x, const t5_cfg *c) {
  char p[256];
  snprintf(p, sizeof p, "%sDenseReluDense.", prefix);
  int h;
  if (c->gated) {
    int g = linear(L, p, "wi_0", x, c->D, c->ff);
    char name[512];
    snprintf(name, sizeof name, "%sgelu", p);
    int act = fe_node(L, IR_OP_GELU, name, &g, 1);
    ir_set_attr_int(L->g, act, "tanh", 1); /* HF's gelu_new */
    h = binary(L, IR_OP_MUL, p, "gate", fe_done(L, act), linear(L, p, "wi_1", x, c->D, c->ff));
  } else {
    char name[512];
    snprintf(name, sizeof name, "%srelu", p);
    int wi = linear(L, p, "wi", x, c->D, c->ff);
    h = fe_done(L, fe_node(L, IR_OP_RELU, name, &wi, 1));
  }
  return linear(L, p, "wo", h, c->ff, c->D);
}

/* block N: its residual layers on x (mem >= 0: the decoder's) */
static int block(fe_ctx *L, int64_t i, int x, int mem, int rel, const t5_cfg *c) {
  char p[3][128];
  for (int k = 0; k < 3; k++) snprintf(p[k], sizeof p[k], "block.%lld.layer.%d.", (long long)i, k);
  int h = norm(L, p[0], "layer_norm", x, c);
  x = binary(L, IR_OP_ADD, p[0], "add", x, attention(L, p[0], "SelfAttention", h, h, rel,
                                                      c->decoder, c));
  int ff = 1;
  if (mem >= 0) {
    h = norm(L, p[1], "layer_norm", x, c);
    x = binary(L, IR_OP_ADD, p[1], "add", x,
               attention(L, p[1], "EncDecAttention", h, mem, -1, false, c));
    ff = 2;
  }
  h = norm(L, p[ff], "layer_norm", x, c);
  return binary(L, IR_OP_ADD, p[ff], "add", x, feed_forward(L, p[ff], h, c));
}

static int lower(fe_ctx *L, bool decoder) {
  t5_cfg c = {.decoder = decoder, .cache = ir_dim_const(0)};
  int x = fe_value_attr(L, "input"), mem = decoder ? fe_value_attr(L, "memory") : -1;
  if (x < 0 || (decoder && mem < 0) || !attrs(L, x, &c)) return -1;
  if (decoder && !fe_cache_attr(L, true, -1, &c.cache)) return -1;
  if (decoder) {
    const ir_type *t = &L->g->values[mem].type, *xt = &L->g->values[x].type;
    char a[256], b[64];
    if (t->dtype != IR_F32 || t->rank != 3 || !ir_dim_eq(t->dims[2], ir_dim_const(c.D)) ||
        !ir_dim_eq(t->dims[0], xt->dims[0])) {
      ir_error(L->d, fe_attr(L, "memory")->loc,
               "t5_decoder '%s': expected memory of f32 [%s, S, %lld] (the encoder's output), "
               "got %s %s",
               fe_cur_name(L), ir_dim_str(L->g, xt->dims[0], b, sizeof b), (long long)c.D,
               ir_dtype_name(t->dtype), ir_type_str(L->g, t, a, sizeof a));
      return -1;
    }
  }
  int rel = relative_bias(L, &c);
  for (int64_t i = 0; i < c.layers && x >= 0; i++) x = block(L, i, x, mem, rel, &c);
  if (x < 0) return -1;
  int n = norm(L, "", "final_layer_norm", x, &c);
  return fe_finish(L, n); /* the value takes the node's name */
}

int fe_lower_t5_encoder(fe_ctx *L) { return lower(L, false); }
int fe_lower_t5_decoder(fe_ctx *L) { return lower(L, true); }
