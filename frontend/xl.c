/*
 * xl.c: `transformer_xl` (SPEC section 10), Transformer-XL's stack of
 * RelPartialLearnableDecoderLayer, as one transformer_xl layer op (ir/xl.c
 * gives its layout): x, the layers' memories [L, B, M, D] (zeros, or with
 * carry what the last run left), then every layer's 13 parameters under
 * NODE.layers.N.* (SPEC's names, which are HF TransfoXLModel's with untie_r).
 * The value is the last layer's output [B, T, D].
 */
#include <stdio.h>
#include <string.h>

#include "fe.h"

/* an error at attribute key of the current node */
static bool bad(fe_ctx *L, const char *key, const char *fmt, long long v) {
  const fe_ast *a = fe_attr(L, key);
  char msg[256];
  snprintf(msg, sizeof msg, fmt, v);
  ir_error(L->d, a ? a->loc : fe_cur_loc(L), "transformer_xl '%s': %s", fe_cur_name(L), msg);
  return false;
}

static bool attrs(fe_ctx *L, int x, ir_xl_cfg *c, int64_t *D) {
  static const int64_t zero = 0;
  static const double def_eps = 1e-5;
  static const bool no = false;
  if (!fe_model_dim(L, x, "input", "d_model", D)) return false;
  bool ok = fe_int(L, "num_layers", FE_POSITIVE, NULL, &c->layers);
  ok &= fe_int(L, "n_head", FE_POSITIVE, NULL, &c->n_head);
  ok &= fe_int(L, "d_head", FE_POSITIVE, NULL, &c->d_head);
  ok &= fe_int(L, "d_inner", FE_POSITIVE, NULL, &c->d_inner);
  ok &= fe_int(L, "mem_len", FE_NONNEG, NULL, &c->mem_len);
  ok &= fe_int(L, "segment", FE_POSITIVE, NULL, &c->segment);
  ok &= fe_int(L, "clamp_len", FE_NONNEG, &zero, &c->clamp_len);
  ok &= fe_bool(L, "same_length", &no, &c->same_length);
  ok &= fe_float(L, "layer_norm_eps", &def_eps, &c->eps);
  if (!ok) return false;
  if (*D % 2) return bad(L, "d_model", "d_model %lld must be even (half sines, half cosines)", *D);
  if (c->same_length && c->mem_len == 0)
    return bad(L, "same_length", "same_length needs a memory (mem_len is %lld)", 0);
  ir_dim T = L->g->values[x].type.dims[1];
  if (ir_dim_is_const(T) && T.coef % c->segment) {
    ir_error(L->d, fe_attr(L, "segment")->loc,
             "transformer_xl '%s': segment %lld does not divide the sequence length %lld",
             fe_cur_name(L), (long long)c->segment, (long long)T.coef);
    return false;
  }
  return true;
}

int fe_lower_transformer_xl(fe_ctx *L) {
  int x = fe_value_attr(L, "input");
  ir_xl_cfg c = {0};
  int64_t D;
  bool carry = false;
  if (x < 0 || !attrs(L, x, &c, &D) || !fe_carry_attr(L, NULL, false, &carry)) return -1;
  if (c.layers > 64) {
    bad(L, "num_layers", "at most 64 layers, got %lld", (long long)c.layers);
    return -1;
  }
  /* the memories: zeros (never read: a memory row counts only once written) */
  const ir_type *xt = &L->g->values[x].type;
  int z = fe_node(L, IR_OP_FILL, "mems_zeros", NULL, 0);
  ir_set_attr_float(L->g, z, "value", 0.0);
  L->g->values[L->g->nodes[z].outputs[0]].type =
      (ir_type){.dtype = IR_F32,
                .rank = 4,
                .dims = {ir_dim_const(c.layers), xt->dims[0], ir_dim_const(c.mem_len),
                         ir_dim_const(D)}};
  int mems = fe_done(L, z);
  if (mems >= 0 && carry) mems = fe_carry_in(L, "mems", mems);
  if (mems < 0) return -1;
  int inputs[2 + 64 * IR_XL_NPARAMS];
  inputs[0] = x;
  inputs[1] = mems;
  for (int l = 0; l < c.layers; l++)
    for (int k = 0; k < IR_XL_NPARAMS; k++) {
      char name[128];
      ir_xl_param_name(l, (ir_xl_param)k, name, sizeof name);
      inputs[2 + l * IR_XL_NPARAMS + k] =
          fe_param(L, ir_strdup(L->g, name), ir_xl_param_type(&c, D, (ir_xl_param)k));
    }
  int n = ir_insert_node_n(L->g, L->g->nnodes, IR_OP_TRANSFORMER_XL, fe_cur_name(L), inputs,
                           2 + (int)c.layers * IR_XL_NPARAMS, 2, fe_cur_loc(L));
  ir_set_attr_int(L->g, n, "num_layers", c.layers);
  ir_set_attr_int(L->g, n, "n_head", c.n_head);
  ir_set_attr_int(L->g, n, "d_head", c.d_head);
  ir_set_attr_int(L->g, n, "d_inner", c.d_inner);
  ir_set_attr_int(L->g, n, "mem_len", c.mem_len);
  ir_set_attr_int(L->g, n, "segment", c.segment);
  ir_set_attr_int(L->g, n, "clamp_len", c.clamp_len);
  ir_set_attr_int(L->g, n, "same_length", c.same_length);
  ir_set_attr_float(L->g, n, "eps", c.eps);
  char full[256];
  snprintf(full, sizeof full, "%s.pos_emb.inv_freq", fe_cur_name(L));
  ir_add_ignored(L->g, full); /* the buffer KY and HF files hold: R is computed here */
  snprintf(full, sizeof full, "%s.mems", fe_cur_name(L));
  L->g->values[L->g->nodes[n].outputs[1]].name = ir_strdup(L->g, full);
  if (carry) fe_carry_out(L, mems, L->g->nodes[n].outputs[1]);
  return n;
}
