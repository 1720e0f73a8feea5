/*
 * eval_attention.c: multihead_attention and the Transformer layers computed
 * directly, as PyTorch defines nn.MultiheadAttention,
 * nn.TransformerEncoderLayer and nn.TransformerDecoderLayer (batch_first,
 * dropout off), for the reference interpreter.
 *
 * decompose turns these layers into linears, reshapes, transposes and the
 * `attention` op; computing them here from the definition, one batch row at
 * a time on plain [T, E] matrices in double, gives the tests an oracle that
 * does not share the expansion's mistakes. Results round to f32 once.
 *
 *   mha(q, k, v) = concat_h(softmax(Q_h K_h^T / sqrt(dh) + mask) V_h) W_out^T + b_out,
 *     Q = q W_q^T + b_q, K = k W_k^T + b_k, V = v W_v^T + b_v (W_q, W_k, W_v: the
 *     row blocks of in_proj_weight), key j masked for query i unless
 *     (j <= i or not causal) and (|i - j| <= window or window < 0), and
 *     for every query when the key padding mask is non-zero at (b, j); a
 *     query that sees no key has weights 0 (SPEC 11; PyTorch gives NaN)
 *   encoder: x = norm1(x + sa(x)); x = norm2(x + ff(x))
 *     norm_first: x = x + sa(norm1(x)); x = x + ff(norm2(x))
 *   decoder: the same with x = norm2(x + mha(x, memory)) (norm_first:
 *     x = x + mha(norm2(x), memory)) between them, ff after norm3;
 *     the cross-attention is never masked
 *   ff(x) = linear2(act(linear1(x))), act relu or gelu (exact)
 *
 * With a cache (SPEC 9) the self-attention's keys and values are the kept
 * positions max(0, p-S) .. p-1 of the caches [B, H, S, dh] (position j at row
 * j mod S) and then this run's, positions p .. p+T-1; query i is position
 * p+i and the mask compares positions. The run's keys and values, per head,
 * are the layer's results 1 and 2.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

/* a layer's sizes, flags and parameters */
typedef struct layer {
  int64_t E, H, F;        /* model dim, heads, dim_feedforward */
  bool causal;            /* self-attention: key j only for j <= i */
  int64_t window;         /* self-attention: |i - j| <= window, -1 = no window */
  bool gelu;              /* feed-forward activation gelu (exact), else relu */
  bool norm_first;        /* pre-norm */
  double eps;             /* layer norm epsilon */
  ir_tf_layout r;         /* where the parameters sit */
  const seqrt_tensor *in; /* the node's inputs */
  int64_t p;              /* the session position (with a cache) */
  int64_t S;              /* positions a cache keeps, 0 without */
  int64_t first, nkept;   /* the first kept position (max(0, p - S)), how many */
  const seqrt_tensor *mask;     /* (self-)attention's key padding mask [B, Tk], or NULL */
  const seqrt_tensor *mem_mask; /* cross-attention's [B, S], or NULL */
  int64_t b;                    /* the batch row being computed */
} layer;

/* the self-attention cache of one batch row: the kept keys and values */
typedef struct kept_kv {
  int64_t b;          /* the batch row */
  double *k, *v;      /* [nkept + T, E]: the kept positions, then this run's */
  double *p;          /* nkept + T scores */
  seqrt_tensor *knew; /* results 1 and 2 [B, H, T, dh]: this run's keys, values */
  seqrt_tensor *vnew;
} kept_kv;

/* weight or bias of part p, NULL for a missing bias */
static const float *weight(const layer *l, ir_tf_part p) { return l->in[l->r.weight[p]].data; }
static const float *bias(const layer *l, ir_tf_part p) {
  return l->r.bias_at[p] >= 0 ? l->in[l->r.bias_at[p]].data : NULL;
}

/* y [T, rows] = x [T, cols] W^T + b, W the rows [r0, r0 + rows) of a [*, cols] weight */
static void affine(const double *x, int64_t T, int64_t cols, const float *W, const float *b,
                   int64_t r0, int64_t rows, double *y) {
  for (int64_t t = 0; t < T; t++)
    for (int64_t r = 0; r < rows; r++) {
      double s = b ? b[r0 + r] : 0.0;
      for (int64_t k = 0; k < cols; k++) s += (double)W[(r0 + r) * cols + k] * x[t * cols + k];
      y[t * rows + r] = s;
    }
}

/* whether key j of the layer's row is padding under mask (NULL: none is) */
static bool padding(const layer *l, const seqrt_tensor *mask, int64_t j) {
  if (!mask) return false;
  int64_t at = l->b * mask->shape[1] + j;
  if (mask->dtype == SEQRT_I32) return ((const int32_t *)mask->data)[at] != 0;
  return ((const int64_t *)mask->data)[at] != 0;
}

static bool sees(int64_t i, int64_t j, bool causal, int64_t window) {
  if (causal && j > i) return false;
  return window < 0 || (i - j <= window && j - i <= window);
}

/* the cache's kept rows of batch row c->b into c->k, c->v, this run's K, V
 * [T, E] after them, and into the results knew, vnew */
static void keep_kv(const layer *l, kept_kv *c, const double *K, const double *V, int64_t T) {
  int64_t E = l->E, H = l->H, dh = E / H;
  const float *kc = l->in[l->r.cache].data, *vc = l->in[l->r.cache + 1].data;
  for (int64_t j = 0; j < l->nkept; j++)
    for (int64_t h = 0; h < H; h++)
      for (int64_t d = 0; d < dh; d++) {
        int64_t at = ((c->b * H + h) * l->S + (l->first + j) % l->S) * dh + d;
        c->k[j * E + h * dh + d] = kc[at];
        c->v[j * E + h * dh + d] = vc[at];
      }
  memcpy(c->k + l->nkept * E, K, sizeof(double) * (size_t)(T * E));
  memcpy(c->v + l->nkept * E, V, sizeof(double) * (size_t)(T * E));
  for (int64_t t = 0; t < T; t++)
    for (int64_t h = 0; h < H; h++)
      for (int64_t d = 0; d < dh; d++) {
        int64_t at = ((c->b * H + h) * T + t) * dh + d;
        ((float *)c->knew->data)[at] = (float)K[t * E + h * dh + d];
        ((float *)c->vnew->data)[at] = (float)V[t * E + h * dh + d];
      }
}

/* y [Tq, E] = mha(q [Tq, E], k, v [Tk, E]) with parts in_p, out_p; tmp holds
 * (2 Tq + 2 Tk) E + Tk doubles. With c (a cached self-attention, Tq = Tk):
 * the kept keys and values come first, and query i is position p+i. */
static void mha(const layer *l, ir_tf_part in_p, ir_tf_part out_p, const double *q, int64_t Tq,
                const double *k, const double *v, int64_t Tk, bool causal, int64_t window,
                const seqrt_tensor *mask, double *y, double *tmp, kept_kv *c) {
  int64_t E = l->E, dh = E / l->H;
  double *Q = tmp, *K = Q + Tq * E, *V = K + Tk * E, *O = V + Tk * E, *p = O + Tq * E;
  affine(q, Tq, E, weight(l, in_p), bias(l, in_p), 0, E, Q);
  affine(k, Tk, E, weight(l, in_p), bias(l, in_p), E, E, K);
  affine(v, Tk, E, weight(l, in_p), bias(l, in_p), 2 * E, E, V);
  int64_t q0 = 0, k0 = 0; /* positions of query 0 and key 0 */
  if (c) {
    keep_kv(l, c, K, V, Tk);
    K = c->k, V = c->v, p = c->p;
    q0 = l->p, k0 = l->first;
    Tk += l->nkept;
  }
  double scale = 1.0 / sqrt((double)dh);
  for (int64_t h = 0; h < l->H; h++)
    for (int64_t i = 0; i < Tq; i++) {
      double mx = -INFINITY, sum = 0;
      for (int64_t j = 0; j < Tk; j++) {
        p[j] = -INFINITY;
        if (!sees(q0 + i, k0 + j, causal, window) || padding(l, mask, j)) continue;
        double s = 0;
        for (int64_t c = 0; c < dh; c++) s += Q[i * E + h * dh + c] * K[j * E + h * dh + c];
        p[j] = s * scale;
        if (p[j] > mx) mx = p[j];
      }
      for (int64_t j = 0; j < Tk; j++) {
        p[j] = p[j] == -INFINITY ? 0 : exp(p[j] - mx);
        sum += p[j];
      }
      for (int64_t c = 0; c < dh; c++) {
        double acc = 0;
        for (int64_t j = 0; j < Tk; j++) acc += p[j] * V[j * E + h * dh + c];
        O[i * E + h * dh + c] = sum > 0 ? acc / sum : 0; /* no key seen: weights 0 */
      }
    }
  affine(O, Tq, E, weight(l, out_p), bias(l, out_p), 0, E, y);
}

/* y [T, E] = layer_norm(x) with part p's weight and bias */
static void norm(const layer *l, ir_tf_part p, const double *x, int64_t T, double *y) {
  const float *w = weight(l, p), *b = bias(l, p);
  for (int64_t t = 0; t < T; t++) {
    const double *r = x + t * l->E;
    double mean = 0, var = 0;
    for (int64_t e = 0; e < l->E; e++) mean += r[e];
    mean /= (double)l->E;
    for (int64_t e = 0; e < l->E; e++) var += (r[e] - mean) * (r[e] - mean);
    var /= (double)l->E;
    double inv = 1.0 / sqrt(var + l->eps);
    for (int64_t e = 0; e < l->E; e++)
      y[t * l->E + e] = (r[e] - mean) * inv * w[e] + (b ? b[e] : 0.0);
  }
}

/* y [T, E] = linear2(act(linear1(x))); hid holds T F doubles */
static void feed_forward(const layer *l, const double *x, int64_t T, double *y, double *hid) {
  affine(x, T, l->E, weight(l, IR_TF_LINEAR1), bias(l, IR_TF_LINEAR1), 0, l->F, hid);
  for (int64_t i = 0; i < T * l->F; i++) {
    double v = hid[i];
    hid[i] = l->gelu ? 0.5 * v * (1.0 + erf(v / sqrt(2.0))) : (v > 0 ? v : 0);
  }
  affine(hid, T, l->F, weight(l, IR_TF_LINEAR2), bias(l, IR_TF_LINEAR2), 0, l->E, y);
}

/* scratch of one batch row */
typedef struct scratch {
  double *x;   /* the running activation [T, E] */
  double *a;   /* a norm's output [T, E] */
  double *b;   /* a block's output [T, E] */
  double *mem; /* the decoder's memory or MHA's key/value [Tk, E] */
  double *tmp; /* mha's and feed_forward's temporaries */
} scratch;

/*
 * x += block(pre-normed x), or x = norm(x + block(x)): one residual block of
 * a layer. which: 0 self-attention, 1 cross-attention on s->mem, 2 feed-forward.
 */
static void residual(const layer *l, int which, ir_tf_part np, int64_t T, int64_t Tk, scratch *s,
                     kept_kv *c) {
  const double *src = s->x;
  if (l->norm_first) {
    norm(l, np, s->x, T, s->a);
    src = s->a;
  }
  if (which == 0)
    mha(l, IR_TF_SA_IN, IR_TF_SA_OUT, src, T, src, src, T, l->causal, l->window, l->mask, s->b,
        s->tmp, c);
  else if (which == 1)
    mha(l, IR_TF_CA_IN, IR_TF_CA_OUT, src, T, s->mem, s->mem, Tk, false, -1, l->mem_mask, s->b,
        s->tmp, NULL);
  else
    feed_forward(l, src, T, s->b, s->tmp);
  for (int64_t i = 0; i < T * l->E; i++) s->x[i] += s->b[i];
  if (!l->norm_first) {
    norm(l, np, s->x, T, s->a);
    memcpy(s->x, s->a, sizeof(double) * (size_t)(T * l->E));
  }
}

/* row b of input i ([B, T, E] f32) into d as doubles */
static void load(const seqrt_tensor *t, int64_t b, double *d) {
  int64_t n = t->shape[1] * t->shape[2];
  const float *f = (const float *)t->data + b * n;
  for (int64_t i = 0; i < n; i++) d[i] = f[i];
}

bool ir_eval_tf_layer(const ir_graph *g, const ir_node *n, const seqrt_tensor *in,
                      int64_t position, seqrt_tensor *out, seqrt_error *err) {
  bool is_mha = n->op == IR_OP_MULTIHEAD_ATTENTION;
  layer l = {.r = ir_tf_layout_of(n), .in = in, .E = in[0].shape[2]};
  l.H = ir_attr_int(n, is_mha ? "num_heads" : "nhead");
  l.causal = ir_attr_int(n, "causal") != 0;
  l.window = ir_attr_int(n, "window");
  if (!is_mha) {
    const ir_attr *act = ir_get_attr(n, "activation");
    l.F = ir_attr_int(n, "dim_feedforward");
    l.gelu = act && act->s && !strcmp(act->s, "gelu");
    l.norm_first = ir_attr_int(n, "norm_first") != 0;
    l.eps = ir_attr_float(n, "eps");
  }
  if (n->ninputs != l.r.ninputs || in[0].rank != 3 || l.H < 1 || l.E % l.H)
    return ir_eval_fail(err, "internal error: node '%s': bad %s inputs", n->name ? n->name : "?",
                        ir_ops[n->op].name);
  int64_t B = in[0].shape[0], T = in[0].shape[1], E = l.E;
  int64_t Tk = l.r.nacts > 1 ? in[1].shape[1] : T;
  l.mask = l.r.mask >= 0 ? &in[l.r.mask] : NULL;
  l.mem_mask = l.r.memory_mask >= 0 ? &in[l.r.memory_mask] : NULL;
  kept_kv cache = {0}, *c = NULL;
  if (l.r.cache >= 0) {
    l.p = position;
    l.S = in[l.r.cache].shape[2];
    l.first = l.p > l.S ? l.p - l.S : 0;
    l.nkept = l.p - l.first;
    if (l.window < 0 && l.p + T > l.S) {
      char msg[512];
      return ir_eval_fail(err, "%s",
                          seqrt_cache_full_msg(msg, sizeof msg, g->values[n->inputs[l.r.cache]].name,
                                               l.S, l.p, T));
    }
    int64_t keys = l.nkept + T;
    cache.k = malloc(sizeof(double) * (size_t)(2 * keys * E + keys + 1));
    if (!cache.k) return ir_eval_fail(err, "out of memory");
    cache.v = cache.k + keys * E;
    cache.p = cache.v + keys * E;
    cache.knew = &out[1];
    cache.vnew = &out[2];
    c = &cache;
  }
  int64_t Tm = Tk > T ? Tk : T, wide = l.F > E ? l.F : E;
  size_t tmp = (size_t)((2 * Tm + 2 * Tm) * E + Tm + T * wide);
  double *buf = malloc(sizeof(double) * ((size_t)(3 * T * E + 2 * Tk * E) + tmp + 1));
  if (!buf) {
    free(cache.k);
    return ir_eval_fail(err, "out of memory");
  }
  scratch s = {.x = buf, .a = buf + T * E, .b = buf + 2 * T * E, .mem = buf + 3 * T * E};
  s.tmp = s.mem + 2 * Tk * E;
  float *y = out[0].data;
  for (int64_t b = 0; b < B; b++) {
    cache.b = b;
    l.b = b;
    load(&in[0], b, s.x);
    if (is_mha) { /* query, key and value as given (the same values or not) */
      double *k = s.mem, *v = s.mem + Tk * E;
      load(&in[1], b, k);
      load(&in[2], b, v);
      mha(&l, IR_TF_SA_IN, IR_TF_SA_OUT, s.x, T, k, v, Tk, l.causal, l.window, l.mask, s.b, s.tmp,
          c);
      memcpy(s.x, s.b, sizeof(double) * (size_t)(T * E));
    } else {
      if (l.r.nacts > 1) load(&in[1], b, s.mem);
      residual(&l, 0, IR_TF_NORM1, T, Tk, &s, c);
      if (n->op == IR_OP_TRANSFORMER_DECODER_LAYER) {
        residual(&l, 1, IR_TF_NORM2, T, Tk, &s, NULL);
        residual(&l, 2, IR_TF_NORM3, T, Tk, &s, NULL);
      } else {
        residual(&l, 2, IR_TF_NORM2, T, Tk, &s, NULL);
      }
    }
    for (int64_t i = 0; i < T * E; i++) y[b * T * E + i] = (float)s.x[i];
  }
  free(buf);
  free(cache.k);
  return true;
}
