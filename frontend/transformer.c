/*
 * transformer.c: the Transformer layers of PyTorch 1.13 (batch_first), each
 * emitted as one node of its layer op, transformer_encoder_layer or
 * transformer_decoder_layer, which decompose expands
 * (passes/decompose_attention.c):
 *
 *   encoder layer, post-norm:  x = norm1(x + sa(x));  x = norm2(x + ff(x))
 *   encoder layer, norm_first: x = x + sa(norm1(x));  x = x + ff(norm2(x))
 *   decoder layer: the same with cross attention mha(x, memory) and norm2
 *     between self-attention (norm1) and feed-forward (norm3)
 *   ff(x) = linear2(activation(linear1(x))), activation relu or gelu (exact)
 *
 * Stacks are a loop here: one layer node per layer, under `layers.{i}.`,
 * and an optional final `norm.` (a layer_norm); nn.Transformer is encoder.*
 * (with encoder.norm) and decoder.* (with decoder.norm). Dropout is the
 * identity at inference. `causal` and `window` mask self-attention only;
 * nn.Transformer applies them to the decoder's self-attention only (SPEC
 * section 7). Key padding masks (SPEC 11) go to every layer of a stack:
 * src_key_padding_mask to an encoder's self-attention, tgt_key_padding_mask
 * to a decoder's, memory_key_padding_mask to its cross-attention;
 * nn.Transformer takes all three and never derives the memory's from src's.
 */
#include <stdio.h>
#include <string.h>

#include "fe.h"

static const bool no = false;

/* everything one layer needs */
typedef struct layer_cfg {
  fe_attn self;    /* self-attention: heads, bias, causal, window */
  int64_t E;       /* d_model */
  int64_t ff;      /* dim_feedforward */
  bool gelu;       /* activation gelu (exact), else relu */
  bool norm_first; /* pre-norm */
  bool bias;       /* linears and norms carry biases */
  double eps;      /* layer_norm_eps */
  int mask;        /* self-attention's key padding mask value, -1 without */
  int memory_mask; /* a decoder's cross-attention's, -1 without */
} layer_cfg;

/*
 * The order the parameters are made in, PyTorch's order of use (which
 * depends on norm_first); the params keep it among the graph's values, so
 * the compiled model lists them as it always has.
 */
static const ir_tf_part enc_post[] = {IR_TF_SA_IN,   IR_TF_SA_OUT,  IR_TF_NORM1,
                                      IR_TF_LINEAR1, IR_TF_LINEAR2, IR_TF_NORM2};
static const ir_tf_part enc_pre[] = {IR_TF_NORM1, IR_TF_SA_IN,   IR_TF_SA_OUT,
                                     IR_TF_NORM2, IR_TF_LINEAR1, IR_TF_LINEAR2};
static const ir_tf_part dec_post[] = {IR_TF_SA_IN,   IR_TF_SA_OUT,  IR_TF_NORM1,
                                      IR_TF_CA_IN,   IR_TF_CA_OUT,  IR_TF_NORM2,
                                      IR_TF_LINEAR1, IR_TF_LINEAR2, IR_TF_NORM3};
static const ir_tf_part dec_pre[] = {IR_TF_NORM1, IR_TF_SA_IN,   IR_TF_SA_OUT,
                                     IR_TF_NORM2, IR_TF_CA_IN,   IR_TF_CA_OUT,
                                     IR_TF_NORM3, IR_TF_LINEAR1, IR_TF_LINEAR2};

/* one layer node on x (and memory mem >= 0: a decoder layer) with params
 * under PREFIX, named CURNODE.PREFIX (without its dot), or CURNODE for
 * prefix ""; its result value, or -1 */
static int layer(fe_ctx *L, const char *prefix, int x, int mem, const layer_cfg *c) {
  if (x < 0) return -1;
  bool dec = mem >= 0;
  ir_op op = dec ? IR_OP_TRANSFORMER_DECODER_LAYER : IR_OP_TRANSFORMER_ENCODER_LAYER;
  bool cached = c->self.cache.coef > 0;
  ir_tf_layout r = ir_tf_layout_make(op, c->bias, cached, c->mask >= 0, dec && c->memory_mask >= 0);
  int inputs[32] = {x, mem};
  IR_ASSERT(r.ninputs <= 32);
  const ir_tf_part *order =
      dec ? (c->norm_first ? dec_pre : dec_post) : (c->norm_first ? enc_pre : enc_post);
  int nparts = dec ? 9 : 6;
  for (int k = 0; k < nparts; k++) fe_tf_params(L, prefix, &r, order[k], c->E, c->ff, inputs);
  char name[512];
  size_t len = strlen(prefix);
  snprintf(name, sizeof name, "%s%s%.*s", fe_cur_name(L), len ? "." : "", len ? (int)len - 1 : 0,
           prefix);
  if (cached) {
    char sa[600];
    snprintf(sa, sizeof sa, "%s.self_attn", name);
    fe_cache_inputs(L, sa, x, c->self.H, c->E, c->self.cache, &inputs[r.cache]);
  }
  if (r.mask >= 0) inputs[r.mask] = c->mask;
  if (r.memory_mask >= 0) inputs[r.memory_mask] = c->memory_mask;
  int n = ir_insert_node_n(L->g, L->g->nnodes, op, ir_strdup(L->g, name), inputs, r.ninputs,
                           cached ? 3 : 1, fe_cur_loc(L));
  ir_set_attr_int(L->g, n, "nhead", c->self.H);
  ir_set_attr_int(L->g, n, "dim_feedforward", c->ff);
  ir_set_attr_str(L->g, n, "activation", c->gelu ? "gelu" : "relu");
  ir_set_attr_int(L->g, n, "norm_first", c->norm_first);
  ir_set_attr_int(L->g, n, "bias", c->bias);
  ir_set_attr_float(L->g, n, "eps", c->eps);
  ir_set_attr_int(L->g, n, "causal", c->self.causal);
  ir_set_attr_int(L->g, n, "window", c->self.window);
  if (r.mask >= 0) ir_set_attr_int(L->g, n, "key_padding", 1);
  if (r.memory_mask >= 0) ir_set_attr_int(L->g, n, "memory_key_padding", 1);
  if (cached) {
    ir_set_attr_int(L->g, n, "cache", 1);
    fe_cache_results(L, &L->g->nodes[n], &inputs[r.cache]);
  }
  if (len) { /* in a stack: the name of its expansion's last node (finish renames the last) */
    char last[600];
    snprintf(last, sizeof last, "%s.%s", name, ir_tf_last_part(op, c->norm_first));
    L->g->values[L->g->nodes[n].outputs[0]].name = ir_strdup(L->g, last);
  }
  return fe_done(L, n);
}

/* num_layers layers under PREFIXlayers.{i}., then PREFIXnorm. when final_norm */
static int stack(fe_ctx *L, const char *prefix, int x, int mem, int64_t layers, bool final_norm,
                 const layer_cfg *c) {
  for (int64_t i = 0; i < layers && x >= 0; i++) {
    char p[512];
    snprintf(p, sizeof p, "%slayers.%lld.", prefix, (long long)i);
    x = layer(L, p, x, mem, c);
  }
  if (x < 0) return -1;
  return final_norm ? fe_build_norm(L, prefix, "norm", x, c->E, c->eps, c->bias) : x;
}

/*
 * The node for value v, the YAML node's result: a primitive (a final norm)
 * takes the YAML node's name as it is; a layer node keeps its own
 * (CURNODE.layers.3, the prefix of the nodes decompose makes of it) and only
 * its result takes the YAML node's name, which decompose gives its last node.
 */
static int finish(fe_ctx *L, int v) {
  if (v < 0) return -1;
  int n = L->g->values[v].def;
  if (!ir_is_tf_layer(L->g->nodes[n].op)) return fe_finish(L, v);
  L->g->values[v].name = ir_strdup(L->g, fe_cur_name(L));
  return n;
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
  c->mask = c->memory_mask = -1;
  return true;
}

/* the key padding masks of a layer on x (and memory mem >= 0) into c:
 * self_key for the self-attention, memory_key for the cross-attention
 * (NULL: the op has none) */
static bool masks(fe_ctx *L, int x, int mem, const char *self_key, const char *memory_key,
                  layer_cfg *c) {
  const ir_type *xt = &L->g->values[x].type;
  c->mask = fe_padding_mask(L, self_key, xt->dims[0], xt->dims[1], c->self.cache.coef > 0);
  if (memory_key && mem >= 0)
    c->memory_mask =
        fe_padding_mask(L, memory_key, xt->dims[0], L->g->values[mem].type.dims[1], false);
  return c->mask != -2 && c->memory_mask != -2;
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

/* LAYER_KEYS: the attributes every layer takes (ops.c lists them) */

/* transformer_encoder_layer: input, LAYER_KEYS */
int fe_lower_transformer_encoder_layer(fe_ctx *L) {
  int x = fe_value_attr(L, "input");
  layer_cfg c;
  if (x < 0 || !layer_attrs(L, x, 0, &c)) return -1;
  if (!masks(L, x, -1, "src_key_padding_mask", NULL, &c)) return -1;
  return finish(L, layer(L, "", x, -1, &c));
}

/* transformer_decoder_layer: input (target), memory, LAYER_KEYS */
int fe_lower_transformer_decoder_layer(fe_ctx *L) {
  int x = fe_value_attr(L, "input"), mem = fe_value_attr(L, "memory");
  layer_cfg c;
  if (x < 0 || mem < 0 || !layer_attrs(L, x, 0, &c)) return -1;
  if (!check_memory(L, x, mem, "memory", c.E)) return -1;
  if (!masks(L, x, mem, "tgt_key_padding_mask", "memory_key_padding_mask", &c)) return -1;
  return finish(L, layer(L, "", x, mem, &c));
}

/* transformer_encoder / transformer_decoder: input, [memory,] num_layers, norm (false),
 * LAYER_KEYS */
static int lower_stack(fe_ctx *L, bool decoder) {
  int x = fe_value_attr(L, "input"), mem = decoder ? fe_value_attr(L, "memory") : -1;
  int64_t layers;
  bool final_norm;
  layer_cfg c;
  bool ok = fe_int(L, "num_layers", FE_LAYERS, NULL, &layers);
  ok &= fe_bool(L, "norm", &no, &final_norm);
  if (!ok || x < 0 || (decoder && mem < 0) || !layer_attrs(L, x, 0, &c)) return -1;
  if (decoder && !check_memory(L, x, mem, "memory", c.E)) return -1;
  if (!masks(L, x, mem, decoder ? "tgt_key_padding_mask" : "src_key_padding_mask",
             decoder ? "memory_key_padding_mask" : NULL, &c))
    return -1;
  return finish(L, stack(L, "", x, mem, layers, final_norm, &c));
}

int fe_lower_transformer_encoder(fe_ctx *L) { return lower_stack(L, false); }
int fe_lower_transformer_decoder(fe_ctx *L) { return lower_stack(L, true); }

/* transformer: src, tgt, num_encoder_layers (6), num_decoder_layers (6), nhead (8),
 * LAYER_KEYS; the value is the decoder's output */
int fe_lower_transformer(fe_ctx *L) {
  static const int64_t six = 6;
  int src = fe_value_attr(L, "src"), tgt = fe_value_attr(L, "tgt");
  int64_t nenc, ndec;
  bool ok = fe_int(L, "num_encoder_layers", FE_LAYERS, &six, &nenc);
  ok &= fe_int(L, "num_decoder_layers", FE_LAYERS, &six, &ndec);
  layer_cfg c;
  if (!ok || src < 0 || tgt < 0 || !layer_attrs(L, src, 8, &c)) return -1;
  if (!check_memory(L, src, tgt, "tgt", c.E)) return -1;
  layer_cfg enc = c;
  enc.self.causal = false; /* nn.Transformer masks (and caches) the decoder only */
  enc.self.window = -1;
  enc.self.cache = ir_dim_const(0);
  /* src's mask on the encoder's self-attention; tgt's and memory's (given apart, as
   * nn.Transformer takes them) on the decoder's self- and cross-attention */
  if (!masks(L, src, -1, "src_key_padding_mask", NULL, &enc) ||
      !masks(L, tgt, src, "tgt_key_padding_mask", "memory_key_padding_mask", &c))
    return -1;
  int mem = stack(L, "encoder.", src, -1, nenc, true, &enc);
  if (mem < 0) return -1;
  return finish(L, stack(L, "decoder.", tgt, mem, ndec, true, &c));
}
