/*
 * t5.c: T5's attention (SPEC 10, HF's T5Attention), the layer op
 * t5_attention that the t5_encoder and t5_decoder stacks are made of: its
 * input layout, the relative position bucket, its result types, and its
 * evaluation for the interpreter, computed directly from the definition
 * (one batch row and head at a time, in double), so the tests have an
 * oracle that does not share decompose's expansion.
 *
 *   inputs  x [B, Tq, D], kv [B, Tk, D] (x itself for self-attention),
 *           q, k, v weights [H dkv, D], o weight [D, H dkv], then with
 *           relative 1 the bias table relative_attention_bias [N, H], then
 *           with cache 1 the key and value caches [B, H, S, dkv]
 *   results y [B, Tq, D]; with a cache also this run's keys and values
 *           [B, H, Tq, dkv] (cache_write nodes keep them)
 *
 *   score(i, j) = Q_i . K_j (no 1/sqrt(dkv)) + bias[bucket(kpos - qpos), h]
 *   (relative 1), masked to kpos <= qpos when causal, softmax over keys.
 *
 * Positions as attention's: query i is position i (p + i with a cache, p the
 * session position), key j is position j (the kept ones, then this run's).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

ir_t5_layout ir_t5_layout_make(bool relative, bool cache) {
  ir_t5_layout r = {.rel = -1, .cache = -1};
  int k = IR_T5_O + 1;
  if (relative) r.rel = k++;
  if (cache) {
    r.cache = k;
    k += 2;
  }
  r.ninputs = k;
  return r;
}

ir_t5_layout ir_t5_layout_of(const ir_node *n) {
  const ir_attr *c = ir_get_attr(n, "cache");
  return ir_t5_layout_make(ir_attr_int(n, "relative") != 0, c && c->i);
}

/* HF's _relative_position_bucket, in float32 and in its order of operations:
 * log(n / E) in float, divided by log(max_distance / E) (a Python float, so
 * computed in double and rounded to float), times N - E, truncated. SPEC 10
 * says integer or double evaluation agrees; it does at T5's settings, but
 * tests/golden/ref_t5.py --scan finds (N, max_distance) pairs where either
 * differs from HF by one bucket, and none where this does. */
int64_t ir_t5_bucket(int64_t r, bool bidirectional, int64_t N, int64_t max_distance) {
  int64_t base = 0, n;
  if (bidirectional) {
    N /= 2;
    if (r > 0) base = N;
    n = r < 0 ? -r : r;
  } else {
    n = r < 0 ? -r : 0;
  }
  int64_t E = N / 2;
  if (n < E) return base + n;
  float f = logf((float)n / (float)E) / (float)log((double)max_distance / (double)E) *
            (float)(N - E);
  int64_t big = E + (int64_t)f; /* f >= 0: truncation is floor, as HF's .to(long) */
  return base + (big < N - 1 ? big : N - 1);
}

/* ---- result types ---- */

static bool fail(ir_diags *d, const ir_node *n, const char *fmt, const char *a, const char *b) {
  ir_error(d, n->loc, fmt, n->name, a, b);
  return false;
}

/* input i must have type want; what names it when the value has no name */
static bool param(ir_graph *g, const ir_node *n, ir_diags *d, int i, const char *what,
                  ir_type want) {
  const ir_value *v = &g->values[n->inputs[i]];
  if (ir_type_eq(&v->type, &want)) return true;
  char a[256], b[256];
  ir_error(d, n->loc, "t5_attention '%s': %s: expected f32 %s, got %s %s", n->name,
           v->name ? v->name : what, ir_type_str(g, &want, a, sizeof a),
           ir_dtype_name(v->type.dtype), ir_type_str(g, &v->type, b, sizeof b));
  return false;
}

static ir_type mat(int64_t rows, int64_t cols) {
  return (ir_type){.dtype = IR_F32, .rank = 2, .dims = {ir_dim_const(rows), ir_dim_const(cols)}};
}

bool ir_infer_t5_attention(ir_graph *g, int ni, ir_diags *d) {
  const ir_node *n = &g->nodes[ni];
  ir_t5_layout r = ir_t5_layout_of(n);
  int64_t H = ir_attr_int(n, "num_heads"), dkv = ir_attr_int(n, "d_kv");
  const ir_type *x = &g->values[n->inputs[0]].type, *kv = &g->values[n->inputs[1]].type;
  char a[256], b[256];
  if (n->ninputs != r.ninputs || n->noutputs != (r.cache >= 0 ? 3 : 1) || H < 1 || dkv < 1)
    return fail(d, n, "t5_attention '%s': bad inputs or results%s%s", "", "");
  if (x->dtype != IR_F32 || x->rank != 3 || !ir_dim_is_const(x->dims[2]) ||
      kv->dtype != IR_F32 || kv->rank != 3 || !ir_dim_eq(kv->dims[2], x->dims[2]) ||
      !ir_dim_eq(kv->dims[0], x->dims[0]))
    return fail(d, n, "t5_attention '%s': expected f32 [B, T, D] and [B, S, D], got %s and %s",
                ir_type_str(g, x, a, sizeof a), ir_type_str(g, kv, b, sizeof b));
  int64_t D = x->dims[2].coef;
  static const char *const w[4] = {"q.weight", "k.weight", "v.weight", "o.weight"};
  for (int k = IR_T5_Q; k <= IR_T5_O; k++)
    if (!param(g, n, d, k, w[k - IR_T5_Q], k == IR_T5_O ? mat(D, H * dkv) : mat(H * dkv, D)))
      return false;
  if (r.rel >= 0 &&
      !param(g, n, d, r.rel, "relative_attention_bias.weight",
             mat(ir_attr_int(n, "num_buckets"), H)))
    return false;
  g->values[n->outputs[0]].type = *x;
  if (r.cache < 0) return true;
  ir_type heads = {.dtype = IR_F32,
                   .rank = 4,
                   .dims = {x->dims[0], ir_dim_const(H), x->dims[1], ir_dim_const(dkv)}};
  for (int k = 0; k < 2; k++) {
    const ir_type *t = &g->values[n->inputs[r.cache + k]].type;
    ir_type want = heads;
    want.dims[2] = t->rank == 4 ? t->dims[2] : heads.dims[2];
    if (g->values[n->inputs[r.cache + k]].kind != IR_VAL_STATE ||
        !param(g, n, d, r.cache + k, k ? "value cache" : "key cache", want))
      return false;
    g->values[n->outputs[1 + k]].type = heads;
  }
  return true;
}

/* ---- evaluation ---- */

/* y [T, rows] = x [T, cols] W^T, W [rows, cols] */
static void project(const double *x, int64_t T, int64_t cols, const float *W, int64_t rows,
                    double *y) {
  for (int64_t t = 0; t < T; t++)
    for (int64_t r = 0; r < rows; r++) {
      double s = 0;
      for (int64_t k = 0; k < cols; k++) s += (double)W[r * cols + k] * x[t * cols + k];
      y[t * rows + r] = s;
    }
}

/* rows [T, D] of batch row b of an f32 [B, T, D] into doubles */
static void load(const seqrt_tensor *t, int64_t b, double *d) {
  int64_t n = t->shape[1] * t->shape[2];
  for (int64_t i = 0; i < n; i++) d[i] = ((const float *)t->data)[b * n + i];
}

/* what one batch row's attention reads */
typedef struct t5_row {
  const double *Q, *K, *V; /* [Tq, HK], [nk, HK], [nk, HK] */
  int64_t Tq, nk, H, dkv;  /* sizes; HK = H dkv */
  int64_t q0, k0;          /* positions of query 0 and key 0 */
  bool causal;             /* key position <= query position */
  const float *rel;        /* bias table [N, H], or NULL */
  int64_t N, max_distance; /* buckets, their max distance */
} t5_row;

/* O [Tq, HK] = the heads' softmax(Q K^T + bias) V, p room for nk scores */
static void attend(const t5_row *a, double *O, double *p) {
  int64_t HK = a->H * a->dkv;
  for (int64_t h = 0; h < a->H; h++)
    for (int64_t i = 0; i < a->Tq; i++) {
      int64_t qpos = a->q0 + i;
      double mx = -INFINITY, sum = 0;
      for (int64_t j = 0; j < a->nk; j++) {
        int64_t kpos = a->k0 + j;
        p[j] = -INFINITY;
        if (a->causal && kpos > qpos) continue;
        double s = 0;
        for (int64_t c = 0; c < a->dkv; c++)
          s += a->Q[i * HK + h * a->dkv + c] * a->K[j * HK + h * a->dkv + c];
        if (a->rel)
          s += a->rel[ir_t5_bucket(kpos - qpos, !a->causal, a->N, a->max_distance) * a->H + h];
        p[j] = s;
        if (s > mx) mx = s;
      }
      for (int64_t j = 0; j < a->nk; j++) {
        p[j] = p[j] == -INFINITY ? 0 : exp(p[j] - mx);
        sum += p[j];
      }
      for (int64_t c = 0; c < a->dkv; c++) {
        double acc = 0;
        for (int64_t j = 0; j < a->nk; j++) acc += p[j] * a->V[j * HK + h * a->dkv + c];
        O[i * HK + h * a->dkv + c] = acc / sum;
      }
    }
}

/* the kept rows of the caches (positions first .. first + nkept - 1, row
 * position mod S) before this run's K, V [T, HK] into K2, V2; and this run's
 * into the results knew, vnew [B, H, T, dkv] */
static void keep(const seqrt_tensor *kc, const seqrt_tensor *vc, int64_t b, int64_t first,
                 int64_t nkept, const double *K, const double *V, int64_t T, int64_t H,
                 int64_t dkv, double *K2, double *V2, seqrt_tensor *knew, seqrt_tensor *vnew) {
  int64_t S = kc->shape[2], HK = H * dkv;
  for (int64_t j = 0; j < nkept; j++)
    for (int64_t h = 0; h < H; h++)
      for (int64_t c = 0; c < dkv; c++) {
        int64_t at = ((b * H + h) * S + (first + j) % S) * dkv + c;
        K2[j * HK + h * dkv + c] = ((const float *)kc->data)[at];
        V2[j * HK + h * dkv + c] = ((const float *)vc->data)[at];
      }
  memcpy(K2 + nkept * HK, K, sizeof(double) * (size_t)(T * HK));
  memcpy(V2 + nkept * HK, V, sizeof(double) * (size_t)(T * HK));
  for (int64_t t = 0; t < T; t++)
    for (int64_t h = 0; h < H; h++)
      for (int64_t c = 0; c < dkv; c++) {
        int64_t at = ((b * H + h) * T + t) * dkv + c;
        ((float *)knew->data)[at] = (float)K[t * HK + h * dkv + c];
        ((float *)vnew->data)[at] = (float)V[t * HK + h * dkv + c];
      }
}

bool ir_eval_t5_attention(const ir_graph *g, const ir_node *n, const seqrt_tensor *in,
                          int64_t position, seqrt_tensor *out, seqrt_error *err) {
  ir_t5_layout r = ir_t5_layout_of(n);
  int64_t B = in[0].shape[0], Tq = in[0].shape[1], D = in[0].shape[2], Tk = in[1].shape[1];
  t5_row a = {.H = ir_attr_int(n, "num_heads"),
              .dkv = ir_attr_int(n, "d_kv"),
              .causal = ir_attr_int(n, "causal") != 0,
              .rel = r.rel >= 0 ? in[r.rel].data : NULL,
              .N = ir_attr_int(n, "num_buckets"),
              .max_distance = ir_attr_int(n, "max_distance"),
              .Tq = Tq};
  int64_t HK = a.H * a.dkv, first = 0, nkept = 0;
  if (r.cache >= 0) {
    int64_t S = in[r.cache].shape[2];
    first = position > S ? position - S : 0;
    nkept = position - first;
    if (position + Tq > S) {
      char msg[512];
      return ir_eval_fail(err, "%s",
                          seqrt_cache_full_msg(msg, sizeof msg,
                                               g->values[n->inputs[r.cache]].name, S, position,
                                               Tq));
    }
    a.q0 = position;
    a.k0 = first;
  }
  int64_t nk = nkept + Tk;
  size_t doubles = (size_t)(Tq * D + Tk * D + Tq * HK + 2 * Tk * HK + 2 * nk * HK + Tq * HK +
                            nk + Tq * D);
  double *buf = malloc(sizeof(double) * doubles);
  if (!buf) return ir_eval_fail(err, "out of memory");
  double *x = buf, *kv = x + Tq * D, *Q = kv + Tk * D, *K = Q + Tq * HK, *V = K + Tk * HK;
  double *K2 = V + Tk * HK, *V2 = K2 + nk * HK, *O = V2 + nk * HK, *p = O + Tq * HK;
  double *y = p + nk;
  for (int64_t b = 0; b < B; b++) {
    load(&in[0], b, x);
    load(&in[1], b, kv);
    project(x, Tq, D, in[IR_T5_Q].data, HK, Q);
    project(kv, Tk, D, in[IR_T5_K].data, HK, K);
    project(kv, Tk, D, in[IR_T5_V].data, HK, V);
    a.Q = Q, a.K = K, a.V = V, a.nk = Tk;
    if (r.cache >= 0) {
      keep(&in[r.cache], &in[r.cache + 1], b, first, nkept, K, V, Tk, a.H, a.dkv, K2, V2, &out[1],
           &out[2]);
      a.K = K2, a.V = V2, a.nk = nk;
    }
    attend(&a, O, p);
    project(O, Tq, HK, in[IR_T5_O].data, D, y);
    for (int64_t i = 0; i < Tq * D; i++) ((float *)out[0].data)[b * Tq * D + i] = (float)y[i];
  }
  free(buf);
  return true;
}
