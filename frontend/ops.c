/*
 * ops.c: the ops of the model language (SPEC section 5, and the layers
 * lowered so far), each a function that reads its node's attributes and adds
 * IR nodes and parameters. The table at the bottom lists every op with the
 * keys it accepts; lower.c rejects any other key before the function runs,
 * and runs shape inference on the node the function returns. Elementwise ops
 * (add, relu, exp, ...) need no entry: lower_elementwise takes them, with
 * their keys, from ops.def.
 */
#include <stdio.h>
#include <string.h>

#include "fe.h"

static const bool yes = true, no = false;

int fe_param(fe_ctx *L, const char *name, ir_type t) {
  size_t n = strlen(fe_cur_name(L)) + strlen(name) + 2;
  char *full = ir_alloc(L->g, n);
  snprintf(full, n, "%s.%s", fe_cur_name(L), name);
  /* in a scan body: SCANNODE.BODYNODE.PARAM, a top-level param that enters as a capture */
  if (L->outer) return fe_capture(L, fe_param(L->outer, full, t));
  return ir_add_param(L->g, full, t, fe_cur_loc(L));
}

/* a * b for element counts, false when the constant factor overflows */
static bool mul(ir_dim a, ir_dim b, ir_dim *out) {
  int64_t c;
  return !__builtin_mul_overflow(a.coef, b.coef, &c) && ir_dim_mul(a, b, out);
}

static int add(fe_ctx *L, ir_op op, const int *inputs, int n) {
  return ir_add_node(L->g, op, fe_cur_name(L), inputs, n, fe_cur_loc(L));
}

static const ir_type *type_of(fe_ctx *L, int v) { return &L->g->values[v].type; }

static ir_type f32(int rank, const int64_t *dims) {
  ir_type t = {.dtype = IR_F32, .rank = rank};
  for (int i = 0; i < rank; i++) t.dims[i] = ir_dim_const(dims[i]);
  return t;
}

/*
 * The last dim of f32 x, which sizes a parameter and so must be a constant.
 * what names it in the message.
 */
static bool feature_dim(fe_ctx *L, int x, const char *what, int64_t *out) {
  const ir_type *t = type_of(L, x);
  char buf[256];
  if (t->dtype != IR_F32) { /* the same words as shape inference would use */
    ir_error(L->d, fe_cur_loc(L), "%s '%s': expected f32, got %s %s", L->op, fe_cur_name(L),
             ir_dtype_name(t->dtype), ir_type_str(L->g, t, buf, sizeof buf));
    return false;
  }
  if (t->rank < 1) {
    ir_error(L->d, fe_cur_loc(L), "%s '%s': expected an input of shape [..., %s], got %s", L->op,
             fe_cur_name(L), what, ir_type_str(L->g, t, buf, sizeof buf));
    return false;
  }
  ir_dim d = t->dims[t->rank - 1];
  if (!ir_dim_is_const(d)) {
    char dim[64];
    ir_error(L->d, fe_cur_loc(L),
             "%s '%s': the last dim of %s (%s) sizes a parameter, so it "
             "must be a constant",
             L->op, fe_cur_name(L), ir_type_str(L->g, t, buf, sizeof buf),
             ir_dim_str(L->g, d, dim, sizeof dim));
    return false;
  }
  *out = d.coef;
  return true;
}

/* linear: input, out_features, in_features (checked), bias (true), weight (its own, or
 * NODE.PARAM of a node above: fe_weight) */
static int lower_linear(fe_ctx *L) {
  int64_t out, in = 0, zero = 0;
  bool bias;
  int x = fe_value_attr(L, "input");
  bool ok = fe_int(L, "out_features", FE_POSITIVE, NULL, &out);
  ok &= fe_int(L, "in_features", FE_POSITIVE, &zero, &in);
  ok &= fe_bool(L, "bias", &yes, &bias);
  int64_t feat;
  if (!ok || x < 0 || !feature_dim(L, x, "in_features", &feat)) return -1;
  if (in && in != feat) {
    char buf[256];
    ir_error(L->d, fe_attr(L, "in_features")->loc,
             "attribute 'in_features' of '%s' is %lld, but its input %s has %lld features",
             fe_cur_name(L), (long long)in, ir_type_str(L->g, type_of(L, x), buf, sizeof buf),
             (long long)feat);
    return -1;
  }
  int w = fe_weight(L, f32(2, (int64_t[]){out, feat}), "out_features, in_features");
  if (w < 0) return -1;
  int inputs[3] = {x, w, -1};
  if (bias) inputs[2] = fe_param(L, "bias", f32(1, &out));
  return add(L, IR_OP_LINEAR, inputs, bias ? 3 : 2);
}

/* embedding: input (i32/i64 indices), num_embeddings, embedding_dim, padding_idx, weight
 * (its own, or NODE.PARAM of a node above: fe_weight) */
static int lower_embedding(fe_ctx *L) {
  int64_t num, dim, pad, none = INT64_MIN;
  int x = fe_value_attr(L, "input");
  bool ok = fe_int(L, "num_embeddings", FE_POSITIVE, NULL, &num);
  ok &= fe_int(L, "embedding_dim", FE_POSITIVE, NULL, &dim);
  ok &= fe_int(L, "padding_idx", FE_ANY, &none, &pad);
  if (ok && pad != none && (pad >= num || pad < -num)) {
    ir_error(L->d, fe_attr(L, "padding_idx")->loc,
             "attribute 'padding_idx' of '%s' must be within num_embeddings (%lld)", fe_cur_name(L),
             (long long)num);
    return -1;
  }
  if (!ok || x < 0) return -1;
  /* padding_idx only changes training (its row gets no gradient): nothing to lower */
  int inputs[2] = {fe_weight(L, f32(2, (int64_t[]){num, dim}), "num_embeddings, embedding_dim"), x};
  if (inputs[0] < 0) return -1;
  return add(L, IR_OP_EMBEDDING, inputs, 2);
}

/*
 * The normalized size of a norm over the last dim of x: normalized_shape, if
 * given, must say the same (an integer or a one-element list, as PyTorch
 * takes), and elementwise_affine must stay true.
 */
static bool norm_dim(fe_ctx *L, int x, int64_t *d) {
  bool affine;
  if (!fe_bool(L, "elementwise_affine", &yes, &affine)) return false;
  if (!affine) {
    ir_error(L->d, fe_attr(L, "elementwise_affine")->loc,
             "attribute 'elementwise_affine' of '%s': false is not supported", fe_cur_name(L));
    return false;
  }
  if (!feature_dim(L, x, "D", d)) return false;
  const fe_ast *ns = fe_attr(L, "normalized_shape");
  if (!ns) return true;
  int64_t v;
  bool good = fe_parse_int(ns, &v) ||
              (ns->kind == FE_SEQ && ns->nitems == 1 && fe_parse_int(ns->items[0], &v));
  if (!good || v != *d) {
    char buf[256];
    ir_error(L->d, ns->loc,
             "attribute 'normalized_shape' of '%s' must be [%lld], the last dim of its input %s",
             fe_cur_name(L), (long long)*d, ir_type_str(L->g, type_of(L, x), buf, sizeof buf));
    return false;
  }
  return true;
}

/* layer_norm: input, eps (1e-5), normalized_shape (the last dim), elementwise_affine (true) */
static int lower_layer_norm(fe_ctx *L) {
  static const double def_eps = 1e-5;
  double eps;
  int64_t d;
  int x = fe_value_attr(L, "input");
  bool ok = fe_float(L, "eps", &def_eps, &eps);
  if (!ok || x < 0 || !norm_dim(L, x, &d)) return -1;
  int inputs[3] = {x, fe_param(L, "weight", f32(1, &d)), fe_param(L, "bias", f32(1, &d))};
  int n = add(L, IR_OP_LAYER_NORM, inputs, 3);
  ir_set_attr_float(L->g, n, "eps", eps);
  return n;
}

/* rms_norm: input, eps (1e-6), normalized_shape (the last dim), elementwise_affine (true) */
static int lower_rms_norm(fe_ctx *L) {
  static const double def_eps = 1e-6;
  double eps;
  int64_t d;
  int x = fe_value_attr(L, "input");
  bool ok = fe_float(L, "eps", &def_eps, &eps);
  if (!ok || x < 0 || !norm_dim(L, x, &d)) return -1;
  int inputs[2] = {x, fe_param(L, "weight", f32(1, &d))};
  int n = add(L, IR_OP_RMS_NORM, inputs, 2);
  ir_set_attr_float(L->g, n, "eps", eps);
  return n;
}

/* matmul: inputs [a, b] */
static int lower_matmul(fe_ctx *L) {
  int *v;
  if (fe_values_attr(L, "inputs", 2, 2, false, &v) < 0) return -1;
  int n = add(L, IR_OP_MATMUL, v, 2);
  ir_set_attr_int(L->g, n, "trans_b", 0);
  return n;
}

/*
 * Every elementwise op of ops.def that models may write and that has no entry
 * of its own in ops[] below (add, relu, exp, ...): `input` (binary ops:
 * `inputs` [a, b], where a number stands for an f32 scalar) and the op's
 * ops.def attributes under their own names, required unless marked '?'.
 */
static int lower_elementwise(fe_ctx *L) {
  ir_op op = ir_op_by_name(L->op);
  bool binary = ir_ops[op].traits & IR_T_BINARY;
  int x = -1, *v = &x;
  if (binary) {
    if (fe_values_attr(L, "inputs", 2, 2, true, &v) < 0) return -1;
  } else {
    x = fe_value_attr(L, "input");
  }
  ir_attr_spec specs[IR_MAX_OP_ATTRS];
  int nspecs = ir_attr_specs(op, specs);
  int64_t ints[IR_MAX_OP_ATTRS];
  double floats[IR_MAX_OP_ATTRS];
  bool ok = true, given[IR_MAX_OP_ATTRS];
  for (int k = 0; k < nspecs; k++) {
    given[k] = !specs[k].optional || fe_attr(L, specs[k].key);
    if (!given[k]) continue;
    switch (specs[k].kind) {
      case IR_ATTR_INT: ok &= fe_int(L, specs[k].key, FE_ANY, NULL, &ints[k]); break;
      case IR_ATTR_FLOAT: ok &= fe_float(L, specs[k].key, NULL, &floats[k]); break;
      case IR_ATTR_STR:
      case IR_ATTR_INTS: IR_ASSERT(!"ops.def: an elementwise op with a string or list attribute");
    }
  }
  if (!ok || v[0] < 0) return -1;
  int n = add(L, op, v, binary ? 2 : 1);
  for (int k = 0; k < nspecs; k++)
    if (given[k] && specs[k].kind == IR_ATTR_INT) ir_set_attr_int(L->g, n, specs[k].key, ints[k]);
    else if (given[k]) ir_set_attr_float(L->g, n, specs[k].key, floats[k]);
  return n;
}

/* gelu: input, approximate (none | tanh) */
static int lower_gelu(fe_ctx *L) {
  static const char *const kinds[] = {"none", "tanh", NULL};
  int x = fe_value_attr(L, "input"), tanh_approx;
  if (!fe_choice(L, "approximate", kinds, 0, &tanh_approx) || x < 0) return -1;
  int n = add(L, IR_OP_GELU, &x, 1);
  ir_set_attr_int(L->g, n, "tanh", tanh_approx);
  return n;
}

/* softmax: input, dim (-1) */
static int lower_softmax(fe_ctx *L) {
  static const int64_t last = -1;
  int64_t dim;
  int x = fe_value_attr(L, "input");
  if (x < 0 || !fe_dim_attr(L, "dim", type_of(L, x), &last, &dim)) return -1;
  int n = add(L, IR_OP_SOFTMAX, &x, 1);
  ir_set_attr_int(L->g, n, "dim", dim);
  return n;
}

/* concat: inputs (one or more), dim (0) */
static int lower_concat(fe_ctx *L) {
  static const int64_t first = 0;
  int64_t dim;
  int *v;
  int nv = fe_values_attr(L, "inputs", 1, -1, false, &v);
  if (nv < 0 || !fe_dim_attr(L, "dim", type_of(L, v[0]), &first, &dim)) return -1;
  int n = add(L, IR_OP_CONCAT, v, nv);
  ir_set_attr_int(L->g, n, "dim", dim);
  return n;
}

/* slice: input, dim, start (0), end (to the end); Python-style negative indices */
static int lower_slice(fe_ctx *L) {
  static const int64_t zero = 0, to_end = INT64_MAX;
  int64_t dim, start, end;
  int x = fe_value_attr(L, "input");
  bool ok = fe_int(L, "start", FE_ANY, &zero, &start);
  ok &= fe_int(L, "end", FE_ANY, &to_end, &end);
  if (!ok || x < 0 || !fe_dim_attr(L, "dim", type_of(L, x), NULL, &dim)) return -1;
  int n = add(L, IR_OP_SLICE, &x, 1);
  ir_set_attr_int(L->g, n, "dim", dim);
  ir_set_attr_int(L->g, n, "start", start);
  ir_set_attr_int(L->g, n, "end", end);
  return n;
}

/* select: input, dim, index (-1 = last); the dim is removed */
static int lower_select(fe_ctx *L) {
  int64_t dim, index;
  int x = fe_value_attr(L, "input");
  bool ok = fe_int(L, "index", FE_ANY, NULL, &index);
  if (!ok || x < 0 || !fe_dim_attr(L, "dim", type_of(L, x), NULL, &dim)) return -1;
  int n = add(L, IR_OP_SELECT, &x, 1);
  ir_set_attr_int(L->g, n, "dim", dim);
  ir_set_attr_int(L->g, n, "index", index);
  return n;
}

/* mean: input, dim, keepdim (false) */
static int lower_mean(fe_ctx *L) {
  int64_t dim;
  bool keep;
  int x = fe_value_attr(L, "input");
  bool ok = fe_bool(L, "keepdim", &no, &keep);
  if (!ok || x < 0 || !fe_dim_attr(L, "dim", type_of(L, x), NULL, &dim)) return -1;
  int n = add(L, IR_OP_MEAN, &x, 1);
  ir_set_attr_int(L->g, n, "dim", dim);
  ir_set_attr_int(L->g, n, "keepdim", keep);
  return n;
}

/* argmax: input (f32), dim (-1), keepdim (false); i64 indices */
static int lower_argmax(fe_ctx *L) {
  static const int64_t last = -1;
  int64_t dim;
  bool keep;
  int x = fe_value_attr(L, "input");
  bool ok = fe_bool(L, "keepdim", &no, &keep);
  if (!ok || x < 0 || !fe_dim_attr(L, "dim", type_of(L, x), &last, &dim)) return -1;
  int n = add(L, IR_OP_ARGMAX, &x, 1);
  ir_set_attr_int(L->g, n, "dim", dim);
  ir_set_attr_int(L->g, n, "keepdim", keep);
  return n;
}

/* transpose: input, dims (a full permutation; negative dims count from the end) */
static int lower_transpose(fe_ctx *L) {
  int x = fe_value_attr(L, "input");
  const fe_ast *a = fe_attr(L, "dims");
  if (!a) {
    ir_error(L->d, fe_cur_loc(L), "missing attribute 'dims' for op 'transpose'");
    return -1;
  }
  if (x < 0) return -1;
  const ir_type *t = type_of(L, x);
  int64_t perm[IR_MAX_RANK];
  bool seen[IR_MAX_RANK] = {0}, ok = a->kind == FE_SEQ && a->nitems == t->rank;
  for (int i = 0; ok && i < a->nitems; i++) {
    int64_t k;
    ok = fe_parse_int(a->items[i], &k) && k >= -t->rank && k < t->rank;
    if (ok) perm[i] = k < 0 ? k + t->rank : k;
    ok = ok && !seen[perm[i]];
    if (ok) seen[perm[i]] = true;
  }
  if (!ok) {
    char buf[256];
    ir_error(L->d, a->loc, "attribute 'dims' of '%s' must be a permutation of the %d dims of %s",
             fe_cur_name(L), t->rank, ir_type_str(L->g, t, buf, sizeof buf));
    return -1;
  }
  int n = add(L, IR_OP_TRANSPOSE, &x, 1);
  ir_set_attr_ints(L->g, n, "perm", perm, t->rank);
  return n;
}

/* reshape: input, shape (dim names, positive integers, at most one -1) */
static int lower_reshape(fe_ctx *L) {
  int x = fe_value_attr(L, "input");
  const fe_ast *a = fe_attr(L, "shape");
  if (!a) {
    ir_error(L->d, fe_cur_loc(L), "missing attribute 'shape' for op 'reshape'");
    return -1;
  }
  const char *what = "a list of dim names, positive integers and at most one -1";
  if (a->kind != FE_SEQ || a->nitems > IR_MAX_RANK) {
    ir_error(L->d, a->loc, "attribute 'shape' of '%s' must be %s (up to %d dims)", fe_cur_name(L),
             what, IR_MAX_RANK);
    return -1;
  }
  ir_type r = {.rank = a->nitems};
  ir_dim known = ir_dim_const(1);
  int infer_at = -1;
  bool ok = true;
  for (int i = 0; i < a->nitems; i++) {
    const fe_ast *it = a->items[i];
    int64_t v;
    if (fe_parse_int(it, &v) && (v > 0 || v == -1)) {
      if (v == -1 && infer_at >= 0) {
        ir_error(L->d, it->loc, "attribute 'shape' of '%s' may hold only one -1", fe_cur_name(L));
        ok = false;
        continue;
      }
      if (v == -1) infer_at = i;
      r.dims[i] = ir_dim_const(v == -1 ? 1 : v);
    } else if (it->kind == FE_SCALAR && ir_graph_find_sym(L->g, it->text) >= 0) {
      r.dims[i] = ir_dim_sym(ir_graph_find_sym(L->g, it->text));
    } else if (it->kind == FE_SCALAR && !fe_parse_int(it, &v) && it->text[0]) {
      ir_error(L->d, it->loc, "undefined dim '%s'", it->text);
      ok = false;
      continue;
    } else {
      ir_error(L->d, it->loc, "attribute 'shape' of '%s' must be %s", fe_cur_name(L), what);
      ok = false;
      continue;
    }
    if (i != infer_at && !mul(known, r.dims[i], &known)) {
      ir_error(L->d, a->loc, "attribute 'shape' of '%s' has too many elements to count",
               fe_cur_name(L));
      ok = false;
      break;
    }
  }
  if (!ok || x < 0) return -1;
  const ir_type *t = type_of(L, x);
  r.dtype = t->dtype;
  ir_dim total = ir_dim_const(1);
  bool counted = true;
  for (int i = 0; counted && i < t->rank; i++) counted = mul(total, t->dims[i], &total);
  if (infer_at >= 0 && (!counted || !ir_dim_div(total, known, &r.dims[infer_at]))) {
    char b1[256], b2[64], b3[64];
    ir_error(L->d, a->items[infer_at]->loc,
             "reshape '%s': cannot infer -1: the %s elements of %s are not a multiple of %s",
             fe_cur_name(L), counted ? ir_dim_str(L->g, total, b2, sizeof b2) : "many",
             ir_type_str(L->g, t, b1, sizeof b1), ir_dim_str(L->g, known, b3, sizeof b3));
    return -1;
  }
  int n = add(L, IR_OP_RESHAPE, &x, 1);
  L->g->values[L->g->nodes[n].outputs[0]].type = r;
  return n;
}

/* dropout: input, p (0.5, in [0, 1)); identity at inference */
static int lower_dropout(fe_ctx *L) {
  static const double half = 0.5;
  double p;
  int x = fe_value_attr(L, "input");
  if (!fe_float(L, "p", &half, &p)) return -1;
  if (p < 0 || p >= 1) {
    ir_error(L->d, fe_attr(L, "p")->loc, "attribute 'p' of '%s' must be a number in [0, 1)",
             fe_cur_name(L));
    return -1;
  }
  if (x < 0) return -1;
  int n = add(L, IR_OP_DROPOUT, &x, 1);
  ir_set_attr_float(L->g, n, "p", p);
  return n;
}

/* positions: input (SPEC 9): the positions of its first two dims, from p
 * along the position dim */
static int lower_positions(fe_ctx *L) {
  int x = fe_value_attr(L, "input");
  if (x < 0) return -1;
  return add(L, IR_OP_POSITIONS, &x, 1);
}

/* positional_encoding: input, kind (sinusoidal) */
static int lower_positional_encoding(fe_ctx *L) {
  static const char *const kinds[] = {"sinusoidal", NULL};
  int kind, x = fe_value_attr(L, "input");
  if (!fe_choice(L, "kind", kinds, 0, &kind) || x < 0) return -1;
  return add(L, IR_OP_POSITIONAL_ENCODING, &x, 1);
}

/* the attributes every transformer layer takes (transformer.c) */
#define LAYER_KEYS                                                                             \
  "d_model nhead dim_feedforward dropout activation layer_norm_eps batch_first norm_first bias " \
  "causal window cache"

static const fe_op ops[] = {
    {"linear", "input out_features in_features bias weight", lower_linear},
    {"embedding", "input num_embeddings embedding_dim padding_idx weight", lower_embedding},
    {"layer_norm", "input eps normalized_shape elementwise_affine", lower_layer_norm},
    {"rms_norm", "input eps normalized_shape elementwise_affine", lower_rms_norm},
    {"matmul", "inputs", lower_matmul},
    {"gelu", "input approximate", lower_gelu},
    {"softmax", "input dim", lower_softmax},
    {"concat", "inputs dim", lower_concat},
    {"slice", "input dim start end", lower_slice},
    {"select", "input dim index", lower_select},
    {"mean", "input dim keepdim", lower_mean},
    {"argmax", "input dim keepdim", lower_argmax},
    {"transpose", "input dims", lower_transpose},
    {"reshape", "input shape", lower_reshape},
    {"dropout", "input p", lower_dropout},
    {"positional_encoding", "input kind", lower_positional_encoding},
    {"positions", "input", lower_positions},
    {"scan", "over chunk reverse state body next emit carry lengths", fe_lower_scan},
    {"rnn",
     "input hidden_size num_layers nonlinearity bias batch_first dropout bidirectional "
     "input_size h0 carry lengths",
     fe_lower_recurrent},
    {"lstm",
     "input hidden_size num_layers bias batch_first dropout bidirectional proj_size "
     "input_size peephole h0 c0 carry lengths",
     fe_lower_recurrent},
    {"gru",
     "input hidden_size num_layers bias batch_first dropout bidirectional input_size h0 carry "
     "lengths",
     fe_lower_recurrent},
    {"multihead_attention",
     "input key value embed_dim num_heads bias causal window dropout batch_first kdim vdim "
     "cache key_padding_mask",
     fe_lower_multihead_attention},
    {"transformer_encoder_layer", "input src_key_padding_mask " LAYER_KEYS,
     fe_lower_transformer_encoder_layer},
    {"transformer_decoder_layer",
     "input memory tgt_key_padding_mask memory_key_padding_mask " LAYER_KEYS,
     fe_lower_transformer_decoder_layer},
    {"transformer_encoder", "input num_layers norm src_key_padding_mask " LAYER_KEYS,
     fe_lower_transformer_encoder},
    {"transformer_decoder",
     "input memory num_layers norm tgt_key_padding_mask memory_key_padding_mask " LAYER_KEYS,
     fe_lower_transformer_decoder},
    {"transformer",
     "src tgt num_encoder_layers num_decoder_layers src_key_padding_mask tgt_key_padding_mask "
     "memory_key_padding_mask " LAYER_KEYS,
     fe_lower_transformer},
    {"transformer_xl",
     "input num_layers n_head d_head d_inner mem_len segment clamp_len same_length "
     "layer_norm_eps d_model carry",
     fe_lower_transformer_xl},
    {"memformer_encoder",
     "input num_layers nhead dim_feedforward num_slots segment write_temperature activation "
     "layer_norm_eps d_model carry",
     fe_lower_memformer_encoder},
    {"t5_encoder",
     "input num_layers num_heads d_kv d_ff feed_forward_proj relative_attention_num_buckets "
     "relative_attention_max_distance layer_norm_epsilon d_model",
     fe_lower_t5_encoder},
    {"t5_decoder",
     "input memory num_layers num_heads d_kv d_ff feed_forward_proj "
     "relative_attention_num_buckets relative_attention_max_distance layer_norm_epsilon "
     "d_model cache",
     fe_lower_t5_decoder},
    {"conv1d",
     "input out_channels kernel_size stride padding dilation groups bias in_channels padding_mode",
     fe_lower_conv1d},
};

/* lower_elementwise's entry for each op of ops.def; fe_find_op hands out the
 * elementwise ones a model may write. Keys are `input` or `inputs` and the
 * attrs string of ops.def, whose words lower.c takes up to their ':'. */
static const fe_op elementwise_ops[IR_OP_COUNT] = {
#define OP(id, name, min_in, max_in, nout, traits, attrs, flops, sem) \
  [IR_OP_##id] = {name, (traits) & IR_T_BINARY ? "inputs " attrs : "input " attrs, lower_elementwise},
#include "ops.def"
};

const fe_op *fe_find_op(const char *name) {
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (!strcmp(ops[i].name, name)) return &ops[i];
  ir_op op = ir_op_by_name(name);
  if (op == IR_OP_COUNT) return NULL;
  unsigned traits = ir_ops[op].traits;
  if (!(traits & IR_T_ELEMWISE) || (traits & IR_T_INTERNAL)) return NULL;
  return &elementwise_ops[op];
}

bool fe_op_unsupported(const char *name) {
  static const char *const later[] = {NULL};
  for (int i = 0; later[i]; i++)
    if (!strcmp(later[i], name)) return true;
  return false;
}

const fe_op *fe_op_at(int i) {
  if (i < 0) return NULL;
  if ((size_t)i < sizeof ops / sizeof ops[0]) return &ops[i];
  i -= (int)(sizeof ops / sizeof ops[0]);
  /* then the elementwise ops of ops.def a model may write, in its order */
  for (int k = 0; k < IR_OP_COUNT; k++) {
    if (fe_find_op(ir_ops[k].name) != &elementwise_ops[k]) continue;
    if (i-- == 0) return &elementwise_ops[k];
  }
  return NULL;
}
