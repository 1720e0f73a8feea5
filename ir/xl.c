/*
 * xl.c: the transformer_xl layer op's layout (SPEC 10): its attributes, the
 * place, name and type of each parameter, and its result types. The
 * frontend builds the node from it, shape inference checks it, the
 * interpreter (eval_xl.c) reads it. Only this file knows the order.
 *
 *   inputs  x [B, T, D], mems [L, B, M, D], then for each layer N the 13
 *           parameters of IR_XL_NPARAMS in ir_xl_param order, named
 *           layers.N.<name>
 *   results y [B, T, D], mems after the run [L, B, M, D]
 */
#include <stdio.h>

#include "ir.h"

static const char *const names[IR_XL_NPARAMS] = {
    "dec_attn.qkv_net.weight",  "dec_attn.r_net.weight",       "dec_attn.o_net.weight",
    "dec_attn.r_w_bias",        "dec_attn.r_r_bias",           "dec_attn.layer_norm.weight",
    "dec_attn.layer_norm.bias", "pos_ff.CoreNet.0.weight",     "pos_ff.CoreNet.0.bias",
    "pos_ff.CoreNet.3.weight",  "pos_ff.CoreNet.3.bias",       "pos_ff.layer_norm.weight",
    "pos_ff.layer_norm.bias"};

ir_xl_cfg ir_xl_cfg_of(const ir_node *n) {
  return (ir_xl_cfg){.layers = ir_attr_int(n, "num_layers"),
                     .n_head = ir_attr_int(n, "n_head"),
                     .d_head = ir_attr_int(n, "d_head"),
                     .d_inner = ir_attr_int(n, "d_inner"),
                     .mem_len = ir_attr_int(n, "mem_len"),
                     .segment = ir_attr_int(n, "segment"),
                     .clamp_len = ir_attr_int(n, "clamp_len"),
                     .same_length = ir_attr_int(n, "same_length") != 0,
                     .eps = ir_attr_float(n, "eps")};
}

const char *ir_xl_param_name(int layer, ir_xl_param p, char *buf, size_t size) {
  snprintf(buf, size, "layers.%d.%s", layer, names[p]);
  return buf;
}

ir_type ir_xl_param_type(const ir_xl_cfg *c, int64_t D, ir_xl_param p) {
  int64_t E = c->n_head * c->d_head, F = c->d_inner;
  int64_t dims[IR_XL_NPARAMS][2] = {
      [IR_XL_QKV] = {3 * E, D},     [IR_XL_R_NET] = {E, D},      [IR_XL_O_NET] = {D, E},
      [IR_XL_R_W_BIAS] = {c->n_head, c->d_head}, [IR_XL_R_R_BIAS] = {c->n_head, c->d_head},
      [IR_XL_ATTN_NORM_W] = {D, 0}, [IR_XL_ATTN_NORM_B] = {D, 0}, [IR_XL_FF0_W] = {F, D},
      [IR_XL_FF0_B] = {F, 0},       [IR_XL_FF3_W] = {D, F},      [IR_XL_FF3_B] = {D, 0},
      [IR_XL_FF_NORM_W] = {D, 0},   [IR_XL_FF_NORM_B] = {D, 0}};
  ir_type t = {.dtype = IR_F32, .rank = dims[p][1] ? 2 : 1};
  t.dims[0] = ir_dim_const(dims[p][0]);
  if (dims[p][1]) t.dims[1] = ir_dim_const(dims[p][1]);
  return t;
}

ir_xl_params ir_xl_params_at(const ir_node *n, const seqrt_tensor *in, int64_t layer) {
  const float *p[IR_XL_NPARAMS];
  for (int k = 0; k < IR_XL_NPARAMS; k++) p[k] = in[2 + layer * IR_XL_NPARAMS + k].data;
  (void)n;
  return (ir_xl_params){.qkv = p[IR_XL_QKV],
                        .r_net = p[IR_XL_R_NET],
                        .o_net = p[IR_XL_O_NET],
                        .r_w_bias = p[IR_XL_R_W_BIAS],
                        .r_r_bias = p[IR_XL_R_R_BIAS],
                        .attn_norm_w = p[IR_XL_ATTN_NORM_W],
                        .attn_norm_b = p[IR_XL_ATTN_NORM_B],
                        .ff0_w = p[IR_XL_FF0_W],
                        .ff0_b = p[IR_XL_FF0_B],
                        .ff3_w = p[IR_XL_FF3_W],
                        .ff3_b = p[IR_XL_FF3_B],
                        .ff_norm_w = p[IR_XL_FF_NORM_W],
                        .ff_norm_b = p[IR_XL_FF_NORM_B]};
}

bool ir_infer_xl(ir_graph *g, int ni, ir_diags *d) {
  const ir_node *n = &g->nodes[ni];
  ir_xl_cfg c = ir_xl_cfg_of(n);
  const ir_type *x = &g->values[n->inputs[0]].type, *m = &g->values[n->inputs[1]].type;
  char a[256], b[256];
  if (x->dtype != IR_F32 || x->rank != 3 || !ir_dim_is_const(x->dims[2])) {
    ir_error(d, n->loc, "transformer_xl '%s': expected input of f32 [B, T, d_model], got %s %s",
             n->name, ir_dtype_name(x->dtype), ir_type_str(g, x, a, sizeof a));
    return false;
  }
  int64_t D = x->dims[2].coef;
  ir_type mt = {.dtype = IR_F32,
                .rank = 4,
                .dims = {ir_dim_const(c.layers), x->dims[0], ir_dim_const(c.mem_len),
                         ir_dim_const(D)}};
  if (!ir_type_eq(m, &mt)) {
    ir_error(d, n->loc, "transformer_xl '%s': expected memories of f32 %s, got %s %s", n->name,
             ir_type_str(g, &mt, a, sizeof a), ir_dtype_name(m->dtype), ir_type_str(g, m, b, sizeof b));
    return false;
  }
  if (n->ninputs != 2 + c.layers * IR_XL_NPARAMS) {
    ir_error(d, n->loc, "transformer_xl '%s': %d inputs for %lld layers", n->name, n->ninputs,
             (long long)c.layers);
    return false;
  }
  for (int64_t l = 0; l < c.layers; l++)
    for (int k = 0; k < IR_XL_NPARAMS; k++) {
      ir_type want = ir_xl_param_type(&c, D, (ir_xl_param)k);
      const ir_type *t = &g->values[n->inputs[2 + l * IR_XL_NPARAMS + k]].type;
      if (ir_type_eq(t, &want)) continue;
      char nm[128];
      ir_error(d, n->loc, "'%s': parameter %s: expected f32 %s, got %s %s", n->name,
               ir_xl_param_name((int)l, (ir_xl_param)k, nm, sizeof nm),
               ir_type_str(g, &want, a, sizeof a), ir_dtype_name(t->dtype),
               ir_type_str(g, t, b, sizeof b));
      return false;
    }
  g->values[n->outputs[0]].type = *x;
  g->values[n->outputs[1]].type = mt;
  return true;
}
