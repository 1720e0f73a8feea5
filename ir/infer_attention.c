/*
 * infer_attention.c: result types of the attention and Transformer layer ops
 * (multihead_attention, transformer_encoder_layer, transformer_decoder_layer).
 *
 * The result has the type of the first activation, f32 [B, T, E]. Every
 * other input is checked against the sizes the layer implies (E from it, the
 * heads and dim_feedforward from the attributes), so a graph built by hand or
 * by a pass is refused at the node, as its decomposition would be.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ir.h"

/* the node being inferred and where errors go */
typedef struct check {
  ir_graph *g;         /* graph holding the node */
  const ir_node *n;    /* the layer node */
  ir_diags *d;         /* user errors */
  char a[256], b[256]; /* room for two type strings */
} check;

static bool fail(check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(check *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ir_verror(c->d, c->n->loc, false, fmt, ap);
  va_end(ap);
  return false;
}

static const ir_type *in(const check *c, int i) { return &c->g->values[c->n->inputs[i]].type; }

/* activation i: f32 [B, *, E] with E constant; *E is set from the first */
static bool activation(check *c, int i, const char *what, int64_t *E) {
  const ir_type *t = in(c, i), *x = in(c, 0);
  bool ok = t->dtype == IR_F32 && t->rank == 3 && ir_dim_is_const(t->dims[2]);
  if (ok && i > 0) ok = t->dims[2].coef == *E && ir_dim_eq(t->dims[0], x->dims[0]);
  if (ok) {
    *E = t->dims[2].coef;
    return true;
  }
  char e[32] = "E";
  if (i > 0) snprintf(e, sizeof e, "%lld", (long long)*E);
  return fail(c, "%s '%s': expected %s of f32 [%s, %s, %s], got %s %s", ir_ops[c->n->op].name,
              c->n->name, what, i > 0 ? ir_dim_str(c->g, x->dims[0], c->b, sizeof c->b) : "B",
              i > 0 ? "S" : "T", e, ir_dtype_name(t->dtype),
              ir_type_str(c->g, t, c->a, sizeof c->a));
}

/* input i, the layer's parameter `what`, must have type want */
static bool param(check *c, int i, const char *what, ir_type want) {
  const ir_type *t = in(c, i);
  if (ir_type_eq(t, &want)) return true;
  return fail(c, "'%s': parameter %s: expected %s %s, got %s %s", c->n->name, what,
              ir_dtype_name(want.dtype), ir_type_str(c->g, &want, c->a, sizeof c->a),
              ir_dtype_name(t->dtype), ir_type_str(c->g, t, c->b, sizeof c->b));
}

/* input i, a key padding mask `what` for keys of length Tk: i32/i64 [B, Tk] */
static bool mask(check *c, int i, const char *what, ir_dim Tk) {
  const ir_type *t = in(c, i), *x = in(c, 0);
  if ((t->dtype == IR_I32 || t->dtype == IR_I64) && t->rank == 2 &&
      ir_dim_eq(t->dims[0], x->dims[0]) && ir_dim_eq(t->dims[1], Tk))
    return true;
  char bd[64], td[64];
  return fail(c, "'%s': %s: expected an integer (i32 or i64) [%s, %s], got %s %s", c->n->name, what,
              ir_dim_str(c->g, x->dims[0], bd, sizeof bd), ir_dim_str(c->g, Tk, td, sizeof td),
              ir_dtype_name(t->dtype), ir_type_str(c->g, t, c->a, sizeof c->a));
}

bool ir_infer_tf_layer(ir_graph *g, int n, ir_diags *d) {
  check c = {.g = g, .n = &g->nodes[n], .d = d};
  const ir_node *node = c.n;
  ir_tf_layout r = ir_tf_layout_of(node);
  if (node->ninputs != r.ninputs)
    return fail(&c, "%s '%s': expected %d inputs (bias %d), got %d", ir_ops[node->op].name,
                node->name, r.ninputs, (int)r.bias, node->ninputs);
  bool mha = node->op == IR_OP_MULTIHEAD_ATTENTION;
  int64_t E = 0, heads = ir_attr_int(node, mha ? "num_heads" : "nhead");
  int64_t F = mha ? 0 : ir_attr_int(node, "dim_feedforward");
  if (!activation(&c, 0, mha ? "query" : "input", &E)) return false;
  if (mha && (!activation(&c, 1, "key", &E) || !activation(&c, 2, "value", &E))) return false;
  if (mha && !ir_dim_eq(in(&c, 1)->dims[1], in(&c, 2)->dims[1]))
    return fail(&c, "multihead_attention '%s': key %s and value %s must share T", node->name,
                ir_type_str(g, in(&c, 1), c.a, sizeof c.a),
                ir_type_str(g, in(&c, 2), c.b, sizeof c.b));
  if (node->op == IR_OP_TRANSFORMER_DECODER_LAYER && !activation(&c, 1, "memory", &E)) return false;
  if (heads < 1 || E % heads)
    return fail(&c, "%s '%s': embed dim %lld is not divisible by %lld heads", ir_ops[node->op].name,
                node->name, (long long)E, (long long)heads);
  for (int p = 0; p < IR_TF_NPARTS; p++) {
    if (r.weight[p] < 0) continue;
    for (int b = 0; b < 2; b++) {
      int at = b ? r.bias_at[p] : r.weight[p];
      char name[128];
      ir_tf_param_name(node->op, (ir_tf_part)p, b, name, sizeof name);
      if (at >= 0 && !param(&c, at, name, ir_tf_param_type((ir_tf_part)p, b, E, F))) return false;
    }
  }
  if (r.mask >= 0 && r.cache >= 0)
    return fail(&c, "'%s': a key padding mask and a cache cannot go together", node->name);
  /* the frontend's attribute names: PyTorch's */
  const char *self_mask = mha                                           ? "key_padding_mask"
                          : node->op == IR_OP_TRANSFORMER_ENCODER_LAYER ? "src_key_padding_mask"
                                                                        : "tgt_key_padding_mask";
  if (r.mask >= 0 && !mask(&c, r.mask, self_mask, in(&c, mha ? 1 : 0)->dims[1])) return false;
  if (r.memory_mask >= 0 && !mask(&c, r.memory_mask, "memory_key_padding_mask", in(&c, 1)->dims[1]))
    return false;
  int want = r.cache >= 0 ? 3 : 1;
  if (node->noutputs != want)
    return fail(&c, "%s '%s': %d results, expected %d", ir_ops[node->op].name, node->name,
                node->noutputs, want);
  g->values[node->outputs[0]].type = *in(&c, 0);
  if (r.cache >= 0) {
    /* the caches [B, H, S, dh]; this run's keys and values [B, H, T, dh] */
    const ir_type *x = in(&c, 0);
    ir_type kv = {.dtype = IR_F32,
                  .rank = 4,
                  .dims = {x->dims[0], ir_dim_const(heads), x->dims[1], ir_dim_const(E / heads)}};
    for (int k = 0; k < 2; k++) {
      const ir_type *t = in(&c, r.cache + k);
      ir_type want_t = kv;
      want_t.dims[2] = t->rank == 4 ? t->dims[2] : kv.dims[2];
      if (g->values[node->inputs[r.cache + k]].kind != IR_VAL_STATE || !ir_type_eq(t, &want_t))
        return fail(&c, "'%s': %s cache: expected the state f32 %s, got %s %s", node->name,
                    k ? "value" : "key", ir_type_str(g, &want_t, c.a, sizeof c.a),
                    ir_dtype_name(t->dtype), ir_type_str(g, t, c.b, sizeof c.b));
      g->values[node->outputs[1 + k]].type = kv;
    }
  }
  return true;
}
