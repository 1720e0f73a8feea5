/*
 * transformer.c: the input layout of the attention and Transformer layer ops
 * (multihead_attention, transformer_encoder_layer, transformer_decoder_layer),
 * which the frontend builds, shape inference checks, the interpreter and
 * decompose read and the FLOP count weighs: the activations, then each part's
 * weight and bias in ir_tf_part order. Only this file knows that order and
 * the parts' PyTorch names. Also where the inputs of the `attention` op that
 * decompose makes of them sit.
 */
#include <stdio.h>

#include "ir.h"

bool ir_is_tf_layer(ir_op op) {
  return op == IR_OP_MULTIHEAD_ATTENTION || op == IR_OP_TRANSFORMER_ENCODER_LAYER ||
         op == IR_OP_TRANSFORMER_DECODER_LAYER;
}

/* whether op has part p: MHA its two projections, the encoder all but the
 * cross-attention and norm3, the decoder every part */
static bool has_part(ir_op op, ir_tf_part p) {
  if (op == IR_OP_MULTIHEAD_ATTENTION) return p == IR_TF_SA_IN || p == IR_TF_SA_OUT;
  if (op == IR_OP_TRANSFORMER_ENCODER_LAYER)
    return p != IR_TF_CA_IN && p != IR_TF_CA_OUT && p != IR_TF_NORM3;
  return true;
}

ir_tf_layout ir_tf_layout_make(ir_op op, bool bias, bool cache, bool mask, bool memory_mask) {
  IR_ASSERT(ir_is_tf_layer(op));
  IR_ASSERT(!memory_mask || op == IR_OP_TRANSFORMER_DECODER_LAYER);
  ir_tf_layout r = {.op = op, .bias = bias, .cache = -1, .mask = -1, .memory_mask = -1};
  r.nacts = op == IR_OP_MULTIHEAD_ATTENTION ? 3 : op == IR_OP_TRANSFORMER_DECODER_LAYER ? 2 : 1;
  int k = r.nacts;
  for (int p = 0; p < IR_TF_NPARTS; p++) {
    r.weight[p] = r.bias_at[p] = -1;
    if (!has_part(op, (ir_tf_part)p)) continue;
    r.weight[p] = k++;
    if (bias) r.bias_at[p] = k++;
  }
  if (cache) {
    r.cache = k;
    k += 2;
  }
  if (mask) r.mask = k++;
  if (memory_mask) r.memory_mask = k++;
  r.ninputs = k;
  return r;
}

/* an optional 0/1 attribute, 0 when absent */
static bool flag(const ir_node *n, const char *key) {
  const ir_attr *a = ir_get_attr(n, key);
  return a && a->i;
}

ir_attn_layout ir_attn_layout_of(const ir_node *n) {
  IR_ASSERT(n->op == IR_OP_ATTENTION);
  const ir_attr *pb = ir_get_attr(n, "pos_bias");
  ir_attn_layout r = {.mask = -1, .cache = -1, .table = -1, .R = -1};
  int rest = n->ninputs; /* inputs before the table */
  if (pb) {
    r.R = pb->i;
    r.table = --rest;
  }
  if (flag(n, "key_padding"))
    r.mask = 3;
  else if (rest == 5)
    r.cache = 3;
  return r;
}

ir_tf_layout ir_tf_layout_of(const ir_node *n) {
  return ir_tf_layout_make(n->op, ir_attr_int(n, "bias") != 0, flag(n, "cache"),
                           flag(n, "key_padding"), flag(n, "memory_key_padding"));
}

const char *ir_tf_param_name(ir_op op, ir_tf_part part, bool bias, char *buf, size_t size) {
  static const char *const parts[IR_TF_NPARTS] = {"self_attn.",
                                                  "self_attn.out_proj",
                                                  "multihead_attn.",
                                                  "multihead_attn.out_proj",
                                                  "linear1",
                                                  "linear2",
                                                  "norm1",
                                                  "norm2",
                                                  "norm3"};
  const char *p = parts[part];
  if (op == IR_OP_MULTIHEAD_ATTENTION) p = part == IR_TF_SA_IN ? "" : "out_proj";
  bool in_proj = part == IR_TF_SA_IN || part == IR_TF_CA_IN;
  if (in_proj) /* nn.MultiheadAttention's packed projection: in_proj_weight, in_proj_bias */
    snprintf(buf, size, "%sin_proj_%s", p, bias ? "bias" : "weight");
  else
    snprintf(buf, size, "%s.%s", p, bias ? "bias" : "weight");
  return buf;
}

const char *ir_tf_last_part(ir_op op, bool norm_first) {
  if (norm_first) return "ff_add";
  return op == IR_OP_TRANSFORMER_DECODER_LAYER ? "norm3" : "norm2";
}

ir_type ir_tf_param_type(ir_tf_part part, bool bias, int64_t E, int64_t F) {
  int64_t rows = E, cols = E;
  if (part == IR_TF_SA_IN || part == IR_TF_CA_IN) rows = 3 * E;
  if (part == IR_TF_LINEAR1) rows = F;
  if (part == IR_TF_LINEAR2) cols = F;
  bool vector = bias || part >= IR_TF_NORM1;
  return (ir_type){
      .dtype = IR_F32, .rank = vector ? 1 : 2, .dims = {ir_dim_const(rows), ir_dim_const(cols)}};
}
