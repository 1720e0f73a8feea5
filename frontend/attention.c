/*
 * attention.c: multihead_attention (nn.MultiheadAttention, batch_first), the
 * checks and parameters it shares with the Transformer layers
 * (transformer.c), and conv1d.
 *
 * The frontend parses and validates a layer and emits it as one node of its
 * layer op, with its weights as params under PyTorch's state_dict names
 * (`in_proj_weight`, `out_proj.bias`, with the caller's prefix such as
 * `layers.0.self_attn.`); decompose expands it into primitives
 * (passes/decompose_attention.c). ir/transformer.c says where each weight
 * sits among the node's inputs.
 */
#include <stdio.h>
#include <string.h>

#include "fe.h"

static const bool yes = true, no = false;

int fe_node(fe_ctx *L, ir_op op, const char *suffix, const int *inputs, int n) {
  char name[512];
  snprintf(name, sizeof name, "%s.%s", fe_cur_name(L), suffix);
  return ir_add_node(L->g, op, ir_strdup(L->g, name), inputs, n, fe_cur_loc(L));
}

int fe_done(fe_ctx *L, int node) {
  if (!ir_infer_node(L->g, node, L->d)) return -1;
  return L->g->nodes[node].outputs[0];
}

int fe_finish(fe_ctx *L, int value) {
  if (value < 0) return -1;
  int node = L->g->values[value].def;
  IR_ASSERT(node >= 0);
  const char *name = ir_strdup(L->g, fe_cur_name(L)); /* the AST's text does not outlive it */
  L->g->nodes[node].name = name;
  L->g->values[value].name = name;
  return node;
}

static ir_type f32v(int64_t n) {
  return (ir_type){.dtype = IR_F32, .rank = 1, .dims = {ir_dim_const(n)}};
}

int fe_prefixed_param(fe_ctx *L, const char *prefix, const char *name, ir_type t) {
  char full[512];
  snprintf(full, sizeof full, "%s%s", prefix, name);
  return fe_param(L, ir_strdup(L->g, full), t);
}

int fe_build_norm(fe_ctx *L, const char *prefix, const char *what, int x, int64_t E, double eps,
                  bool bias) {
  char w[256], b[256];
  snprintf(w, sizeof w, "%s.weight", what);
  snprintf(b, sizeof b, "%s.bias", what);
  int inputs[3] = {x, fe_prefixed_param(L, prefix, w, f32v(E)), -1};
  if (bias) {
    inputs[2] = fe_prefixed_param(L, prefix, b, f32v(E));
  } else { /* LayerNorm(bias=False) of recent PyTorch: a zero bias */
    float *zeros = ir_alloc(L->g, sizeof(float) * (size_t)E);
    inputs[2] = ir_add_const(L->g, f32v(E), zeros, fe_cur_loc(L));
  }
  char suffix[512];
  snprintf(suffix, sizeof suffix, "%s%s", prefix, what);
  int n = fe_node(L, IR_OP_LAYER_NORM, suffix, inputs, 3);
  ir_set_attr_float(L->g, n, "eps", eps);
  return fe_done(L, n);
}

void fe_tf_params(fe_ctx *L, const char *prefix, const ir_tf_layout *r, ir_tf_part part, int64_t E,
                  int64_t F, int *inputs) {
  for (int b = 0; b < 2; b++) {
    int at = b ? r->bias_at[part] : r->weight[part];
    if (at < 0) continue;
    char name[256];
    ir_tf_param_name(r->op, part, b, name, sizeof name);
    inputs[at] = fe_prefixed_param(L, prefix, name, ir_tf_param_type(part, b, E, F));
  }
}

/*
 * The model dim of x: f32 [B, T, E] with E constant; `key` (embed_dim or
 * d_model), if given, must agree. what names the input in messages.
 */
bool fe_model_dim(fe_ctx *L, int x, const char *what, const char *key, int64_t *E) {
  const ir_type *t = &L->g->values[x].type;
  char buf[256];
  if (t->dtype != IR_F32 || t->rank != 3 || !ir_dim_is_const(t->dims[2])) {
    ir_error(L->d, fe_cur_loc(L),
             "%s '%s': expected %s of f32 [B, T, %s] with a constant %s, got %s %s", L->op,
             fe_cur_name(L), what, key, key, ir_dtype_name(t->dtype),
             ir_type_str(L->g, t, buf, sizeof buf));
    return false;
  }
  int64_t given, zero = 0;
  if (!fe_int(L, key, FE_NONNEG, &zero, &given)) return false;
  *E = t->dims[2].coef;
  if (given && given != *E) {
    ir_error(L->d, fe_attr(L, key)->loc, "attribute '%s' of '%s' is %lld, but its %s %s has %lld",
             key, fe_cur_name(L), (long long)given, what, ir_type_str(L->g, t, buf, sizeof buf),
             (long long)*E);
    return false;
  }
  return true;
}

bool fe_attn_common(fe_ctx *L, const char *heads_key, int64_t def_heads, int64_t E, fe_attn *a) {
  static const int64_t none = -1;
  static const double zero = 0;
  int64_t heads, window;
  double p;
  bool bias, causal, bf;
  const int64_t *hd = def_heads > 0 ? &def_heads : NULL;
  bool ok = fe_int(L, heads_key, FE_POSITIVE, hd, &heads);
  ok &= fe_bool(L, "bias", &yes, &bias);
  ok &= fe_bool(L, "causal", &no, &causal);
  ok &= fe_int(L, "window", FE_NONNEG, &none, &window);
  ok &= fe_float(L, "dropout", &zero, &p);
  ok &= fe_bool(L, "batch_first", &yes, &bf);
  if (!ok) return false;
  if (!bf) {
    ir_error(L->d, fe_attr(L, "batch_first")->loc,
             "attribute 'batch_first' of '%s': sequence tensors are batch-first [B, T, E]",
             fe_cur_name(L));
    return false;
  }
  if (E % heads) {
    ir_error(L->d, fe_attr(L, heads_key) ? fe_attr(L, heads_key)->loc : fe_cur_loc(L),
             "%s '%s': embed dim %lld is not divisible by %s %lld", L->op, fe_cur_name(L),
             (long long)E, heads_key, (long long)heads);
    return false;
  }
  *a = (fe_attn){.E = E, .H = heads, .bias = bias, .causal = causal, .window = window};
  return fe_cache_attr(L, causal, window, &a->cache);
}

int fe_padding_mask(fe_ctx *L, const char *key, ir_dim B, ir_dim Tk, bool cached) {
  const fe_ast *at = fe_attr(L, key);
  if (!at) return -1;
  int m = fe_value_attr(L, key);
  if (m < 0) return -2;
  if (cached) { /* the mask would have to cover the cached positions of earlier runs */
    ir_error(L->d, at->loc,
             "attribute '%s' of '%s': a key padding mask cannot go with a cache (the "
             "self-attention's keys include earlier runs' positions); drop one of them",
             key, fe_cur_name(L));
    return -2;
  }
  const ir_type *t = &L->g->values[m].type;
  if ((t->dtype == IR_I32 || t->dtype == IR_I64) && t->rank == 2 && ir_dim_eq(t->dims[0], B) &&
      ir_dim_eq(t->dims[1], Tk))
    return m;
  char b1[64], b2[64], b3[256];
  ir_error(L->d, at->loc,
           "attribute '%s' of '%s': expected an integer (i32 or i64) mask [%s, %s] (batch, key "
           "length; non-zero = padding), got %s %s",
           key, fe_cur_name(L), ir_dim_str(L->g, B, b1, sizeof b1),
           ir_dim_str(L->g, Tk, b2, sizeof b2), ir_dtype_name(t->dtype),
           ir_type_str(L->g, t, b3, sizeof b3));
  return -2;
}

/* kdim / vdim as nn.MultiheadAttention: accepted only equal to embed_dim */
static bool same_dim(fe_ctx *L, const char *key, int64_t E) {
  int64_t v, zero = 0;
  if (!fe_int(L, key, FE_NONNEG, &zero, &v)) return false;
  if (v && v != E) {
    ir_error(L->d, fe_attr(L, key)->loc,
             "attribute '%s' of '%s' is %lld: only %s equal to embed_dim (%lld) is supported", key,
             fe_cur_name(L), (long long)v, key, (long long)E);
    return false;
  }
  return true;
}

/*
 * multihead_attention: input (query), key, value, embed_dim, num_heads, bias,
 * causal, window, dropout, batch_first, kdim, vdim, cache, key_padding_mask
 */
int fe_lower_multihead_attention(fe_ctx *L) {
  int q = fe_value_attr(L, "input");
  int k = fe_attr(L, "key") ? fe_value_attr(L, "key") : q;
  int v = fe_attr(L, "value") ? fe_value_attr(L, "value") : k;
  if (q < 0 || k < 0 || v < 0) return -1;
  int64_t E, Ek, Ev;
  fe_attn a;
  if (!fe_model_dim(L, q, "input", "embed_dim", &E) || !fe_attn_common(L, "num_heads", 0, E, &a))
    return -1;
  if (!same_dim(L, "kdim", E) || !same_dim(L, "vdim", E)) return -1;
  if ((k != q && !fe_model_dim(L, k, "key", "embed_dim", &Ek)) ||
      (v != q && !fe_model_dim(L, v, "value", "embed_dim", &Ev)))
    return -1;
  if ((k != q && Ek != E) || (v != q && Ev != E)) {
    ir_error(L->d, fe_cur_loc(L),
             "multihead_attention '%s': key and value need embed_dim %lld features (kdim and "
             "vdim other than embed_dim are not supported)",
             fe_cur_name(L), (long long)E);
    return -1;
  }
  const ir_type *kt = &L->g->values[k].type, *vt = &L->g->values[v].type;
  const ir_type *qt = &L->g->values[q].type;
  char b1[256], b2[256], b3[256];
  if (!ir_dim_eq(kt->dims[0], qt->dims[0]) || !ir_dim_eq(vt->dims[0], qt->dims[0]) ||
      !ir_dim_eq(kt->dims[1], vt->dims[1])) {
    ir_error(L->d, fe_cur_loc(L),
             "multihead_attention '%s': query %s, key %s and value %s must share B, and key and "
             "value T",
             fe_cur_name(L), ir_type_str(L->g, qt, b1, sizeof b1),
             ir_type_str(L->g, kt, b2, sizeof b2), ir_type_str(L->g, vt, b3, sizeof b3));
    return -1;
  }
  bool cached = a.cache.coef > 0;
  if (cached && (k != q || v != q)) {
    ir_error(L->d, fe_attr(L, "cache")->loc,
             "'%s' cannot keep a cache: only self-attention (no key or value) keeps its keys",
             fe_cur_name(L));
    return -1;
  }
  int mask = fe_padding_mask(L, "key_padding_mask", qt->dims[0], kt->dims[1], cached);
  if (mask == -2) return -1;
  /* the parameters in PyTorch's order: in_proj weight and bias, then out_proj's */
  ir_tf_layout r = ir_tf_layout_make(IR_OP_MULTIHEAD_ATTENTION, a.bias, cached, mask >= 0, false);
  int inputs[10] = {q, k, v};
  fe_tf_params(L, "", &r, IR_TF_SA_IN, E, 0, inputs);
  fe_tf_params(L, "", &r, IR_TF_SA_OUT, E, 0, inputs);
  if (cached) fe_cache_inputs(L, fe_cur_name(L), q, a.H, E, a.cache, &inputs[r.cache]);
  if (mask >= 0) inputs[r.mask] = mask;
  int n = ir_insert_node_n(L->g, L->g->nnodes, IR_OP_MULTIHEAD_ATTENTION, fe_cur_name(L), inputs,
                           r.ninputs, cached ? 3 : 1, fe_cur_loc(L));
  ir_set_attr_int(L->g, n, "num_heads", a.H);
  ir_set_attr_int(L->g, n, "bias", a.bias);
  ir_set_attr_int(L->g, n, "causal", a.causal);
  ir_set_attr_int(L->g, n, "window", a.window);
  if (mask >= 0) ir_set_attr_int(L->g, n, "key_padding", 1);
  if (cached) {
    ir_set_attr_int(L->g, n, "cache", 1);
    fe_cache_results(L, &L->g->nodes[n], &inputs[r.cache]);
  }
  return n;
}

/*
 * conv1d: input [B, T, C] (batch-first, channels last), out_channels,
 * kernel_size, stride (1), padding (0), dilation (1), groups (1 only), bias
 * (true), in_channels (inferred, checked), padding_mode (zeros only). The
 * weight keeps PyTorch's [out, in, k]; a TRANSPOSE to [k, in, out] (run once
 * at session start) gives the kernel rows of out_channels to vectorize over.
 */
int fe_lower_conv1d(fe_ctx *L) {
  static const int64_t one = 1, zero = 0;
  static const char *const modes[] = {"zeros", NULL};
  int64_t out, k, stride, pad, dil, groups, in = 0;
  int mode;
  bool bias;
  int x = fe_value_attr(L, "input");
  bool ok = fe_int(L, "out_channels", FE_POSITIVE, NULL, &out);
  ok &= fe_int(L, "kernel_size", FE_POSITIVE, NULL, &k);
  ok &= fe_int(L, "stride", FE_POSITIVE, &one, &stride);
  ok &= fe_int(L, "padding", FE_NONNEG, &zero, &pad);
  ok &= fe_int(L, "dilation", FE_POSITIVE, &one, &dil);
  ok &= fe_int(L, "groups", FE_POSITIVE, &one, &groups);
  ok &= fe_int(L, "in_channels", FE_NONNEG, &zero, &in);
  ok &= fe_bool(L, "bias", &yes, &bias);
  ok &= fe_choice(L, "padding_mode", modes, 0, &mode);
  if (!ok || x < 0) return -1;
  if (groups != 1) {
    ir_error(L->d, fe_attr(L, "groups")->loc,
             "attribute 'groups' of '%s': only groups: 1 is supported", fe_cur_name(L));
    return -1;
  }
  const ir_type *t = &L->g->values[x].type;
  char buf[256];
  if (t->dtype != IR_F32 || t->rank != 3 || !ir_dim_is_const(t->dims[2])) {
    ir_error(L->d, fe_cur_loc(L),
             "conv1d '%s': expected an input of f32 [B, T, in_channels] with a constant "
             "in_channels, got %s %s",
             fe_cur_name(L), ir_dtype_name(t->dtype), ir_type_str(L->g, t, buf, sizeof buf));
    return -1;
  }
  int64_t C = t->dims[2].coef;
  if (in && in != C) {
    ir_error(L->d, fe_attr(L, "in_channels")->loc,
             "attribute 'in_channels' of '%s' is %lld, but its input %s has %lld channels",
             fe_cur_name(L), (long long)in, ir_type_str(L->g, t, buf, sizeof buf), (long long)C);
    return -1;
  }
  ir_type wt = {
      .dtype = IR_F32, .rank = 3, .dims = {ir_dim_const(out), ir_dim_const(C), ir_dim_const(k)}};
  int w = fe_param(L, "weight", wt);
  int tn = fe_node(L, IR_OP_TRANSPOSE, "weight_t", &w, 1);
  static const int64_t perm[3] = {2, 1, 0};
  ir_set_attr_ints(L->g, tn, "perm", perm, 3);
  int inputs[3] = {x, fe_done(L, tn), -1};
  if (inputs[1] < 0) return -1;
  if (bias) inputs[2] = fe_param(L, "bias", f32v(out));
  int n = ir_add_node(L->g, IR_OP_CONV1D, fe_cur_name(L), inputs, bias ? 3 : 2, fe_cur_loc(L));
  ir_set_attr_int(L->g, n, "stride", stride);
  ir_set_attr_int(L->g, n, "padding", pad);
  ir_set_attr_int(L->g, n, "dilation", dil);
  return n;
}
