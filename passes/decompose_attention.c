/*
 * decompose_attention.c: multihead_attention and the Transformer layers into
 * primitives, exactly what the frontend built before these were layer ops:
 *
 *   multihead_attention(q, k, v), E = H * dh:
 *     self:  qkv = LINEAR(q, in_proj_weight, in_proj_bias)            [B, T, 3E]
 *            RESHAPE [B, T, 3, H, dh], TRANSPOSE [2, 0, 3, 1, 4]      [3, B, H, T, dh]
 *            q, k, v = SELECT dim 0, index 0, 1, 2                    [B, H, T, dh]
 *     cross: q from the query with rows [0, E) of in_proj (SLICEs of the
 *            params, so they run once at session start), k and v from the key
 *            with rows [E, 3E) in one LINEAR when key is value, else apart
 *     a = ATTENTION(q, k, v, scale 1/sqrt(dh), causal, window)
 *     TRANSPOSE [0, 2, 1, 3], RESHAPE [B, Tq, E], LINEAR(out_proj)
 *   transformer_encoder_layer(x), post-norm:
 *     x = norm1(x + self_attn(x));  x = norm2(x + linear2(act(linear1(x))))
 *     norm_first: x = x + self_attn(norm1(x));  x = x + ff(norm2(x))
 *   transformer_decoder_layer(x, memory): the same with a cross-attention
 *     block multihead_attn(x, memory, memory) under norm2, ff under norm3
 *
 *   t5_attention (ir/t5.c): the same without biases or scaling, q, k, v
 *     from three weights (one LINEAR on their CONCAT), and ATTENTION's
 *     position bias table from relative_attention_bias (bias_table below)
 *
 * A key padding mask (SPEC 11) goes to ATTENTION as its input 3 (with
 * key_padding 1): a multihead_attention's own, a layer's to its
 * self-attention (key_padding) and, in a decoder, the memory's to its
 * cross-attention (memory_key_padding).
 *
 * A cached self-attention (SPEC 9) passes its key and value caches on to
 * ATTENTION (inputs 3 and 4), and its results 1 and 2, this run's keys and
 * values, are the k and v heads: a layer's go to its self_attn's, a
 * multihead_attention's to the heads it split.
 *
 * A Transformer layer becomes multihead_attention and linear nodes (and
 * layer_norm, add, relu or gelu); decompose's loop then expands those in
 * place, so one stage holds each layer's expansion once. A layer_norm
 * without bias gets a zero bias constant. New nodes are named NAME.part
 * after the layer (NAME.self_attn.qkv_proj, NAME.norm1); the last one takes
 * the name of the layer's result, which keeps its value name.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes.h"

typedef pass_expansion out; /* where the expansion's nodes go (passes.h) */

/* the last node made takes the layer result's name, and the layer's uses */
static void finish(out *o, int layer_result) {
  ir_graph *g = o->g;
  int last = o->pos - 1, res = g->nodes[last].outputs[0];
  g->nodes[last].name = g->values[layer_result].name;
  g->values[res].name = g->values[layer_result].name;
  g->nodes[o->pos].dead = true; /* the layer, moved down by the insertions */
  ir_replace_uses(g, layer_result, res);
}

/* ---- multihead_attention ---- */

/* rows [lo, hi) of a parameter (SLICE of dim 0); it reads params only, so it runs once at
 * session start */
static int rows(out *o, const char *suffix, int p, int64_t lo, int64_t hi) {
  return pass_slice(o, suffix, p, 0, lo, hi);
}

/* the attention's sizes */
typedef struct mha_cfg {
  int64_t E, H;   /* embed dim, heads */
  bool causal;    /* attention's causal */
  int64_t window; /* attention's window */
} mha_cfg;

/* x [B, T, k*E] (k: 3 for q, k, v; 2 for k, v; 1) -> k heads tensors [B, H, T, dh]
 * into res[0..k), named PREFIXheads, PREFIXheads_t and the last k of q, k, v */
static void split_heads(out *o, const char *prefix, int x, int k, const mha_cfg *c, int *res) {
  char s[128];
  const ir_type *t = &o->g->values[x].type;
  ir_dim dims[5] = {t->dims[0], t->dims[1], ir_dim_const(k), ir_dim_const(c->H),
                    ir_dim_const(c->E / c->H)};
  snprintf(s, sizeof s, "%sheads", prefix);
  int r = pass_reshape(o, s, x, 5, dims);
  static const int64_t perm[5] = {2, 0, 3, 1, 4};
  snprintf(s, sizeof s, "%sheads_t", prefix);
  r = pass_transpose(o, s, r, 5, perm);
  static const char *const names[3] = {"q", "k", "v"};
  for (int i = 0; i < k; i++) {
    snprintf(s, sizeof s, "%s%s", prefix, names[3 - k + i]);
    res[i] = pass_select(o, s, r, 0, i);
  }
}

/* one projection of x by rows [lo, hi) of in_proj (weight w, bias b or -1) */
static int project(out *o, const char *what, int x, int w, int b, int64_t lo, int64_t hi) {
  char s[128];
  snprintf(s, sizeof s, "%s_weight", what);
  int ws = rows(o, s, w, lo, hi), bs = -1;
  if (b >= 0) {
    snprintf(s, sizeof s, "%s_bias", what);
    bs = rows(o, s, b, lo, hi);
  }
  snprintf(s, sizeof s, "%s_proj", what);
  return pass_linear(o, s, x, ws, bs);
}

/* a cached layer's results 1 and 2 (this run's keys and values) become k and v */
static void pass_on_kv(ir_graph *g, const ir_node *n, int k, int v) {
  if (n->noutputs < 3) return;
  ir_replace_uses(g, n->outputs[1], k);
  ir_replace_uses(g, n->outputs[2], v);
}

static int expand_mha(ir_graph *g, int i, ir_diags *d) {
  /* a copy: insertions move g->nodes (its inputs and attrs stay where they are) */
  ir_node mha = g->nodes[i];
  const ir_node *n = &mha;
  ir_tf_layout r = ir_tf_layout_of(n);
  int q = n->inputs[0], k = n->inputs[1], v = n->inputs[2];
  int w = n->inputs[r.weight[IR_TF_SA_IN]], wo = n->inputs[r.weight[IR_TF_SA_OUT]];
  int b = r.bias ? n->inputs[r.bias_at[IR_TF_SA_IN]] : -1;
  int bo = r.bias ? n->inputs[r.bias_at[IR_TF_SA_OUT]] : -1;
  int result = n->outputs[0];
  mha_cfg c = {.E = g->values[q].type.dims[2].coef,
               .H = ir_attr_int(n, "num_heads"),
               .causal = ir_attr_int(n, "causal") != 0,
               .window = ir_attr_int(n, "window")};
  out o = {.g = g, .pos = i, .name = n->name, .loc = n->loc, .d = d};
  int64_t E = c.E;
  int qkv[3];
  if (q == k && k == v) {
    split_heads(&o, "", pass_linear(&o, "qkv_proj", q, w, b), 3, &c, qkv);
  } else {
    split_heads(&o, "", project(&o, "q", q, w, b, 0, E), 1, &c, &qkv[0]);
    if (k == v) {
      split_heads(&o, "", project(&o, "kv", k, w, b, E, 3 * E), 2, &c, &qkv[1]);
    } else {
      int kp = project(&o, "k", k, w, b, E, 2 * E), vp = project(&o, "v", v, w, b, 2 * E, 3 * E);
      /* split_heads names the last k heads q, k, v from the end: k_v and v_v here */
      split_heads(&o, "k_", kp, 1, &c, &qkv[1]);
      split_heads(&o, "v_", vp, 1, &c, &qkv[2]);
    }
  }
  int ins[6] = {qkv[0], qkv[1], qkv[2]}, nins = 3;
  if (r.cache >= 0) {
    ins[nins++] = n->inputs[r.cache];
    ins[nins++] = n->inputs[r.cache + 1];
  }
  if (r.mask >= 0) ins[nins++] = n->inputs[r.mask]; /* infer refuses it with caches */
  int an = pass_put_n(&o, IR_OP_ATTENTION, "attention", ins, nins, 1);
  if (r.mask >= 0) ir_set_attr_int(g, an, "key_padding", 1);
  ir_set_attr_float(g, an, "scale", 1.0 / sqrt((double)(E / c.H)));
  ir_set_attr_int(g, an, "causal", c.causal);
  ir_set_attr_int(g, an, "window", c.window);
  static const int64_t merge[4] = {0, 2, 1, 3};
  int a = pass_transpose(&o, "merge", pass_typed(&o, an), 4, merge);
  const ir_type *qt = &g->values[q].type;
  ir_dim dims[3] = {qt->dims[0], qt->dims[1], ir_dim_const(E)};
  a = pass_reshape(&o, "merged", a, 3, dims);
  pass_linear(&o, "out_proj", a, wo, bo);
  finish(&o, result);
  pass_on_kv(g, n, qkv[1], qkv[2]);
  return i;
}

/* ---- Transformer layers ---- */

/* what the blocks of one layer read */
typedef struct tf {
  out o;            /* where nodes go */
  const ir_node *n; /* the layer node (its inputs; attributes) */
  ir_tf_layout r;   /* where its parameters sit */
  int64_t E;        /* d_model */
  int kv[2];        /* a cached layer: its self-attention's keys and values results */
} tf;

static int weight(const tf *t, ir_tf_part p) { return t->n->inputs[t->r.weight[p]]; }
static int bias(const tf *t, ir_tf_part p) {
  return t->r.bias_at[p] >= 0 ? t->n->inputs[t->r.bias_at[p]] : -1;
}

/* the layer's input at index at, or -1 for at -1 */
static int input(const tf *t, int at) { return at >= 0 ? t->n->inputs[at] : -1; }

static int add(tf *t, const char *suffix, int a, int b) {
  int in[2] = {a, b};
  return pass_typed(&t->o, pass_put(&t->o, IR_OP_ADD, suffix, in, 2));
}

/* LAYER_NORM of x with part p; without biases a zero bias (LayerNorm(bias=False)) */
static int norm(tf *t, const char *suffix, int x, ir_tf_part p) {
  int in[3] = {x, weight(t, p), bias(t, p)};
  if (in[2] < 0) {
    ir_type ty = {.dtype = IR_F32, .rank = 1, .dims = {ir_dim_const(t->E)}};
    float *zeros = calloc((size_t)t->E, sizeof(float));
    IR_ASSERT(zeros);
    in[2] = ir_add_const(t->o.g, ty, zeros, t->o.loc);
    free(zeros);
  }
  int n = pass_put(&t->o, IR_OP_LAYER_NORM, suffix, in, 3);
  ir_set_attr_float(t->o.g, n, "eps", ir_attr_float(t->n, "eps"));
  return pass_typed(&t->o, n);
}

/* a MULTIHEAD_ATTENTION node NAME.what on (q, kv, kv) with parts in_p, out_p,
 * its result named NAME.what.out_proj (its last node's name once expanded);
 * the self-attention (masked) of a cached layer takes its caches; key padding
 * mask pad, or -1 */
static int attend(tf *t, const char *what, int q, int kv, ir_tf_part in_p, ir_tf_part out_p,
                  bool masked, int pad) {
  int in[10] = {q, kv, kv, weight(t, in_p)}, k = 4;
  if (t->r.bias) in[k++] = bias(t, in_p);
  in[k++] = weight(t, out_p);
  if (t->r.bias) in[k++] = bias(t, out_p);
  bool cached = masked && t->r.cache >= 0;
  if (cached) {
    in[k++] = t->n->inputs[t->r.cache];
    in[k++] = t->n->inputs[t->r.cache + 1];
  }
  if (pad >= 0) in[k++] = pad;
  char full[512];
  snprintf(full, sizeof full, "%s.%s", t->o.name, what);
  int n = ir_insert_node_n(t->o.g, t->o.pos++, IR_OP_MULTIHEAD_ATTENTION, full, in, k,
                           cached ? 3 : 1, t->o.loc);
  ir_graph *g = t->o.g;
  if (cached) { /* the layer's keys and values are its self-attention's */
    ir_set_attr_int(g, n, "cache", 1);
    t->kv[0] = g->nodes[n].outputs[1];
    t->kv[1] = g->nodes[n].outputs[2];
  }
  ir_set_attr_int(g, n, "num_heads", ir_attr_int(t->n, "nhead"));
  ir_set_attr_int(g, n, "bias", t->r.bias);
  ir_set_attr_int(g, n, "causal", masked ? ir_attr_int(t->n, "causal") : 0);
  ir_set_attr_int(g, n, "window", masked ? ir_attr_int(t->n, "window") : -1);
  if (pad >= 0) ir_set_attr_int(g, n, "key_padding", 1);
  char name[512];
  snprintf(name, sizeof name, "%s.%s.out_proj", t->o.name, what);
  g->values[g->nodes[n].outputs[0]].name = ir_strdup(g, name);
  return pass_typed(&t->o, n);
}

/* linear2(activation(linear1(x))) */
static int feed_forward(tf *t, int x) {
  int h = pass_linear(&t->o, "linear1", x, weight(t, IR_TF_LINEAR1), bias(t, IR_TF_LINEAR1));
  const ir_attr *act = ir_get_attr(t->n, "activation");
  bool gelu = act && act->s && !strcmp(act->s, "gelu");
  int n = pass_put(&t->o, gelu ? IR_OP_GELU : IR_OP_RELU, "activation", &h, 1);
  if (gelu) ir_set_attr_int(t->o.g, n, "tanh", 0);
  h = pass_typed(&t->o, n);
  return pass_linear(&t->o, "linear2", h, weight(t, IR_TF_LINEAR2), bias(t, IR_TF_LINEAR2));
}

/* one residual block: x + block(norm(x)) (norm_first) or norm(x + block(x));
 * block 0: self-attention, 1: cross-attention on mem, 2: feed-forward */
static int residual(tf *t, int block, int x, int mem, ir_tf_part np, const char *norm_name) {
  static const char *const adds[3] = {"sa_add", "ca_add", "ff_add"};
  bool first = ir_attr_int(t->n, "norm_first") != 0;
  int src = first ? norm(t, norm_name, x, np) : x, y;
  if (block == 0)
    y = attend(t, "self_attn", src, src, IR_TF_SA_IN, IR_TF_SA_OUT, true, input(t, t->r.mask));
  else if (block == 1)
    y = attend(t, "multihead_attn", src, mem, IR_TF_CA_IN, IR_TF_CA_OUT, false,
               input(t, t->r.memory_mask));
  else
    y = feed_forward(t, src);
  x = add(t, adds[block], x, y);
  return first ? x : norm(t, norm_name, x, np);
}

static int expand_layer(ir_graph *g, int i, ir_diags *d) {
  /* a copy: insertions move g->nodes (its inputs and attrs stay where they are) */
  ir_node layer = g->nodes[i];
  const ir_node *n = &layer;
  tf t = {.o = {.g = g, .pos = i, .name = n->name, .loc = n->loc, .d = d},
          .n = n,
          .r = ir_tf_layout_of(n),
          .E = g->values[n->inputs[0]].type.dims[2].coef};
  int result = n->outputs[0];
  bool decoder = n->op == IR_OP_TRANSFORMER_DECODER_LAYER;
  int mem = decoder ? n->inputs[1] : -1;
  int x = residual(&t, 0, n->inputs[0], mem, IR_TF_NORM1, "norm1");
  if (decoder) x = residual(&t, 1, x, mem, IR_TF_NORM2, "norm2");
  residual(&t, 2, x, mem, decoder ? IR_TF_NORM3 : IR_TF_NORM2, decoder ? "norm3" : "norm2");
  finish(&t.o, result);
  if (t.r.cache >= 0) pass_on_kv(g, n, t.kv[0], t.kv[1]);
  return i;
}

/* ---- T5's attention ---- */

/* CONCAT of weights w[0..n) along dim 0 (params: it runs once at session start) */
static int stacked(out *o, const char *suffix, const int *w, int n) {
  int c = pass_put(o, IR_OP_CONCAT, suffix, w, n);
  ir_set_attr_int(o->g, c, "dim", 0);
  return pass_typed(o, c);
}

/*
 * The position bias table [H, 2R+1] of attention's pos_bias (R =
 * max_distance): row h, column R + d is the bias of head h at distance d =
 * key position - query position, clamped to [-R, R], which loses nothing,
 * since the bucket is the same for every distance at or past max_distance
 * either way. The buckets are a constant; the table is an EMBEDDING of them
 * (params and constants only: computed once at session start).
 */
static int bias_table(out *o, int rel, int64_t R, bool bidirectional, int64_t N) {
  ir_type it = {.dtype = IR_I64, .rank = 1, .dims = {ir_dim_const(2 * R + 1)}};
  int64_t *ids = malloc(sizeof(int64_t) * (size_t)(2 * R + 1));
  IR_ASSERT(ids);
  for (int64_t d = -R; d <= R; d++) ids[R + d] = ir_t5_bucket(d, bidirectional, N, R);
  int in[2] = {rel, ir_add_const(o->g, it, ids, o->loc)};
  free(ids);
  int by_distance = pass_typed(o, pass_put(o, IR_OP_EMBEDDING, "position_bias", in, 2));
  static const int64_t swap[2] = {1, 0};
  return pass_transpose(o, "position_bias_t", by_distance, 2, swap);
}

/* t5_attention (ir/t5.c): the projections of multihead_attention without
 * biases (q, k and v in one LINEAR for self-attention, k and v in one for
 * cross-attention), an unscaled ATTENTION with the bias table, o */
static int expand_t5(ir_graph *g, int i, ir_diags *d) {
  ir_node t5 = g->nodes[i]; /* a copy: insertions move g->nodes */
  const ir_node *n = &t5;
  ir_t5_layout r = ir_t5_layout_of(n);
  int x = n->inputs[0], kv = n->inputs[1], result = n->outputs[0];
  int64_t H = ir_attr_int(n, "num_heads"), R = ir_attr_int(n, "max_distance");
  bool causal = ir_attr_int(n, "causal") != 0;
  mha_cfg c = {.E = H * ir_attr_int(n, "d_kv"), .H = H, .causal = causal, .window = -1};
  out o = {.g = g, .pos = i, .name = n->name, .loc = n->loc, .d = d};
  int qkv[3], w[3] = {n->inputs[IR_T5_Q], n->inputs[IR_T5_K], n->inputs[IR_T5_V]};
  if (x == kv) {
    split_heads(&o, "", pass_linear(&o, "qkv", x, stacked(&o, "qkv_weight", w, 3), -1), 3, &c,
                qkv);
  } else {
    split_heads(&o, "", pass_linear(&o, "q", x, w[0], -1), 1, &c, &qkv[0]);
    split_heads(&o, "", pass_linear(&o, "kv", kv, stacked(&o, "kv_weight", w + 1, 2), -1), 2, &c,
                &qkv[1]);
  }
  int ins[6] = {qkv[0], qkv[1], qkv[2]}, nins = 3;
  if (r.cache >= 0) {
    ins[nins++] = n->inputs[r.cache];
    ins[nins++] = n->inputs[r.cache + 1];
  }
  if (r.rel >= 0)
    ins[nins++] = bias_table(&o, n->inputs[r.rel], R, !causal, ir_attr_int(n, "num_buckets"));
  int an = pass_put_n(&o, IR_OP_ATTENTION, "attention", ins, nins, 1);
  ir_set_attr_float(g, an, "scale", 1.0);
  ir_set_attr_int(g, an, "causal", causal);
  ir_set_attr_int(g, an, "window", -1);
  if (r.rel >= 0) ir_set_attr_int(g, an, "pos_bias", R);
  static const int64_t merge[4] = {0, 2, 1, 3};
  int a = pass_transpose(&o, "merge", pass_typed(&o, an), 4, merge);
  const ir_type *xt = &g->values[x].type;
  ir_dim dims[3] = {xt->dims[0], xt->dims[1], ir_dim_const(c.E)};
  pass_linear(&o, "o", pass_reshape(&o, "merged", a, 3, dims), n->inputs[IR_T5_O], -1);
  finish(&o, result);
  pass_on_kv(g, n, qkv[1], qkv[2]);
  return i;
}

int pass_expand_attention(ir_graph *g, int i, ir_diags *d) {
  if (g->nodes[i].op == IR_OP_T5_ATTENTION) return expand_t5(g, i, d);
  if (g->nodes[i].op == IR_OP_MULTIHEAD_ATTENTION) return expand_mha(g, i, d);
  return expand_layer(g, i, d);
}
