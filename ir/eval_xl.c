/*
 * eval_xl.c: the transformer_xl layer op computed straight from SPEC 10's
 * text, in double, one batch row, segment and layer at a time: the
 * interpreter's oracle, independent of how decompose expands the op.
 *
 *   inputs  x [B, T, D], mems [L, B, M, D] (each layer's memory, right-aligned:
 *           its last mlen rows hold it), then per layer the 13 parameters in
 *           ir_xl_param order
 *   results y [B, T, D], the memories after the run [L, B, M, D]
 *
 * The run's first query sits at position p (the session position when the
 * node streams, else 0) and mlen = min(M, p + s C) before segment s.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

/* x W^T (+ b) for rows of x: out[n][rows] */
static void affine(const double *x, int64_t n, int64_t in, const float *W, const float *b,
                   int64_t rows, double *out) {
  for (int64_t i = 0; i < n; i++)
    for (int64_t r = 0; r < rows; r++) {
      double s = b ? b[r] : 0.0;
      for (int64_t c = 0; c < in; c++) s += x[i * in + c] * (double)W[r * in + c];
      out[i * rows + r] = s;
    }
}

/* layer norm of each of n rows of D, in place */
static void norm(double *x, int64_t n, int64_t D, const float *w, const float *b, double eps) {
  for (int64_t i = 0; i < n; i++) {
    double *r = x + i * D, mean = 0, var = 0;
    for (int64_t c = 0; c < D; c++) mean += r[c];
    mean /= (double)D;
    for (int64_t c = 0; c < D; c++) var += (r[c] - mean) * (r[c] - mean);
    var /= (double)D;
    double inv = 1.0 / sqrt(var + eps);
    for (int64_t c = 0; c < D; c++) r[c] = (r[c] - mean) * inv * w[c] + b[c];
  }
}

bool ir_eval_xl(const ir_node *n, const seqrt_tensor *in, int64_t position, seqrt_tensor *out,
                seqrt_error *err) {
  ir_xl_cfg c = ir_xl_cfg_of(n);
  int64_t B = in[0].shape[0], T = in[0].shape[1], D = in[0].shape[2];
  int64_t L = c.layers, M = c.mem_len, C = c.segment, H = c.n_head, dh = c.d_head, F = c.d_inner;
  int64_t E = H * dh, K = M + C; /* attention width; most keys a query can see */
  if (T % C)
    return ir_eval_fail(err, "transformer_xl '%s': the sequence length %lld is not a multiple of "
                        "its segment %lld", n->name, (long long)T, (long long)C);
  int64_t p = position;
  const float *X = in[0].data, *mems0 = in[1].data;
  float *Y = out[0].data, *mems1 = out[1].data;
  size_t doubles = (size_t)(L * M * D + K * D + 3 * K * E + K * E + K + C * E + 2 * C * D + C * F +
                            D);
  double *buf = malloc(sizeof(double) * doubles);
  if (!buf) return ir_eval_fail(err, "out of memory");
  double *mem = buf, *cat = mem + L * M * D, *qkv = cat + K * D, *rk = qkv + 3 * K * E;
  double *sc = rk + K * E, *att = sc + K, *h = att + C * E, *o = h + C * D, *ff = o + C * D;
  double *R = ff + C * F;
  double scale = 1.0 / sqrt((double)dh);
  for (int64_t b = 0; b < B; b++) {
    for (int64_t l = 0; l < L; l++)
      for (int64_t i = 0; i < M * D; i++) mem[l * M * D + i] = mems0[((l * B + b) * M) * D + i];
    for (int64_t s = 0; s < T / C; s++) {
      int64_t mlen = p + s * C < M ? p + s * C : M;
      for (int64_t i = 0; i < C * D; i++) h[i] = X[(b * T + s * C) * D + i];
      for (int64_t l = 0; l < L; l++) {
        ir_xl_params w = ir_xl_params_at(n, in, l);
        double *ml = mem + l * M * D;
        int64_t klen = mlen + C;
        memcpy(cat, ml + (M - mlen) * D, sizeof(double) * (size_t)(mlen * D));
        memcpy(cat + mlen * D, h, sizeof(double) * (size_t)(C * D));
        affine(cat, klen, D, w.qkv, NULL, 3 * E, qkv);
        /* r_net of the sinusoid row of every distance 0 .. klen - 1 (clamped) */
        for (int64_t d = 0; d < klen; d++) {
          double dist = (double)(c.clamp_len > 0 && d > c.clamp_len ? c.clamp_len : d);
          for (int64_t t = 0; t < D / 2; t++) {
            double f = pow(10000.0, -2.0 * (double)t / (double)D);
            R[t] = sin(dist * f);
            R[D / 2 + t] = cos(dist * f);
          }
          affine(R, 1, D, w.r_net, NULL, E, rk + d * E);
        }
        for (int64_t i = 0; i < C; i++)
          for (int64_t hd = 0; hd < H; hd++) {
            const double *q = qkv + (mlen + i) * 3 * E + hd * dh;
            double mx = -INFINITY;
            for (int64_t j = 0; j < klen; j++) {
              bool seen = j <= i + mlen && (!c.same_length || j > i + mlen - M);
              if (!seen) {
                sc[j] = -INFINITY;
                continue;
              }
              const double *k = qkv + j * 3 * E + E + hd * dh, *r = rk + (i + mlen - j) * E + hd * dh;
              double ac = 0, bd = 0;
              for (int64_t e = 0; e < dh; e++) {
                ac += (q[e] + w.r_w_bias[hd * dh + e]) * k[e];
                bd += (q[e] + w.r_r_bias[hd * dh + e]) * r[e];
              }
              sc[j] = (ac + bd) * scale;
              if (sc[j] > mx) mx = sc[j];
            }
            double sum = 0;
            for (int64_t j = 0; j < klen; j++) sum += sc[j] = sc[j] == -INFINITY ? 0 : exp(sc[j] - mx);
            for (int64_t e = 0; e < dh; e++) {
              double a = 0;
              for (int64_t j = 0; j < klen; j++) a += sc[j] * qkv[j * 3 * E + 2 * E + hd * dh + e];
              att[i * E + hd * dh + e] = a / sum;
            }
          }
        affine(att, C, E, w.o_net, NULL, D, o);
        for (int64_t i = 0; i < C * D; i++) o[i] += h[i];
        norm(o, C, D, w.attn_norm_w, w.attn_norm_b, c.eps);
        affine(o, C, D, w.ff0_w, w.ff0_b, F, ff);
        for (int64_t i = 0; i < C * F; i++) ff[i] = ff[i] > 0 ? ff[i] : 0;
        affine(ff, C, F, w.ff3_w, w.ff3_b, D, h); /* h: the layer's output */
        for (int64_t i = 0; i < C * D; i++) h[i] += o[i];
        norm(h, C, D, w.ff_norm_w, w.ff_norm_b, c.eps);
        /* the memory: the last min(M, klen) rows of [memory ; this layer's input],
         * right-aligned (cat holds that input still) */
        int64_t keep = klen < M ? klen : M;
        memmove(ml + (M - keep) * D, cat + (klen - keep) * D, sizeof(double) * (size_t)(keep * D));
      }
      for (int64_t i = 0; i < C * D; i++) Y[(b * T + s * C) * D + i] = (float)h[i];
    }
    for (int64_t l = 0; l < L; l++)
      for (int64_t i = 0; i < M * D; i++) mems1[((l * B + b) * M) * D + i] = (float)mem[l * M * D + i];
  }
  free(buf);
  (void)K;
  return true;
}

bool ir_eval_rel_attention(const ir_node *n, const seqrt_tensor *in, int64_t position,
                           seqrt_tensor *out, seqrt_error *err) {
  const seqrt_tensor *q = &in[0], *k = &in[1], *v = &in[2], *rk = &in[3];
  int64_t B = q->shape[0], H = q->shape[1], C = q->shape[2], dh = q->shape[3];
  int64_t M = ir_attr_int(n, "mem"), K = k->shape[2];
  bool same = ir_attr_int(n, "same_length") != 0;
  double scale = ir_attr_float(n, "scale");
  if (K != M + C || rk->shape[1] != K)
    return ir_eval_fail(err, "internal error: rel_attention '%s': %lld keys for M %lld, C %lld",
                        n->name, (long long)K, (long long)M, (long long)C);
  const float *u = in[4].data, *w = in[5].data;
  double *p = malloc(sizeof(double) * (size_t)(K + 1));
  if (!p) return ir_eval_fail(err, "out of memory");
  /* the segment's first position: the rows written before it, from p when it streams */
  double pos0 = (double)((const float *)in[6].data)[0];
  if (ir_attr_int(n, "streams")) pos0 += (double)position;
  int64_t mlen = pos0 < (double)M ? (int64_t)pos0 : M;
  if (mlen < 0) mlen = 0;
  for (int64_t b = 0; b < B; b++) {
    for (int64_t h = 0; h < H; h++)
      for (int64_t i = 0; i < C; i++) {
        const float *qi = (const float *)q->data + ((b * H + h) * C + i) * dh;
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < K; j++) {
          p[j] = -INFINITY;
          if (j < M - mlen || j > i + M || (same && j <= i)) continue;
          const float *kj = (const float *)k->data + ((b * H + h) * K + j) * dh;
          const float *r = (const float *)rk->data + (h * K + (i + M - j)) * dh;
          double s = 0;
          for (int64_t e = 0; e < dh; e++)
            s += ((double)qi[e] + u[h * dh + e]) * kj[e] + ((double)qi[e] + w[h * dh + e]) * r[e];
          p[j] = s * scale;
          if (p[j] > mx) mx = p[j];
        }
        for (int64_t j = 0; j < K; j++) sum += p[j] = p[j] == -INFINITY ? 0 : exp(p[j] - mx);
        float *o = (float *)out->data + ((b * H + h) * C + i) * dh;
        for (int64_t e = 0; e < dh; e++) {
          double a = 0;
          for (int64_t j = 0; j < K; j++)
            if (p[j] != 0) a += p[j] * ((const float *)v->data)[((b * H + h) * K + j) * dh + e];
          o[e] = (float)(sum > 0 ? a / sum : 0.0);
        }
      }
  }
  free(p);
  return true;
}
