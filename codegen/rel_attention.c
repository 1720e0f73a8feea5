/*
 * rel_attention.c: Transformer-XL's attention on one segment (the
 * rel_attention op, ops.def) in attention.c's tiles and online softmax
 * (cg_attn): no score matrix beyond one tq x tk tile exists. For query i of
 * batch b and head h (position i + M; key j is at position j), with
 * mlen = min(M, rows[0] (+ the session position p with streams)):
 *   keys j in [M - mlen, i + M] (and j > i with same_length),
 *   s = ((q + r_w_bias) . k_j + (q + r_r_bias) . rk[i + M - j]) * scale.
 *
 * So it is causal attention over the run of keys from M - mlen, and
 * same_length is a window of M - 1 behind the query. Work items are
 * (batch * head, query tile) pairs as in attention.c. Each item first writes
 * its rows plus r_w_bias (the content query, the first GEMM's A) and plus
 * r_r_bias (the position query) into the scratch. Then, per key tile, the
 * position term is one more small GEMM: query rows [P0, P1) and keys
 * [k0, k1) meet only the distances d in [P0 - (k1 - 1), P1 - 1 - k0] (at
 * most tq + tk - 1 rows of rk; below 0 nothing is seen), so
 * band = Qr rk[dlo .. dhi]^T, [rows, dhi - dlo + 1], and score (i, j) adds
 * band[row, i - j - dlo] before the scale. Along a row consecutive keys read
 * the band backwards: a vector of keys is one load and a lane reversal.
 * Lanes of keys past the row's position read below the band's row (up to
 * tq + tk + vw floats before it, the pad): their scores are -inf anyway.
 */
#include <math.h>

#include "cg_internal.h"

/* tiles when the node does not set tile_q, tile_k (the benchmark's shapes ran fastest) */
#define TILE_Q 32
#define TILE_K 128

/* the position term of the current key tile, for the score pass */
typedef struct rel {
  int64_t tq;        /* query rows of a tile */
  int64_t bw;        /* floats of a band row: tq + tk - 1 */
  LLVMValueRef qr;   /* float[tq * dh]: the tile's q + r_r_bias rows */
  LLVMValueRef band; /* float[tq * bw]: the tile's position terms, by distance */
  LLVMValueRef rk;   /* the head's rk rows, rk[h] */
  LLVMValueRef dh;   /* i64 head dim */
  LLVMValueRef k0;   /* i64 the key tile's first position */
  LLVMValueRef dlo;  /* i64 the band's first distance */
  LLVMValueRef last; /* i64 the row's band index of key column 0 */
  LLVMValueRef rev;  /* the lane reversal's shuffle mask */
  int vw;            /* floats per vector */
} rel;

/* query rows [qpos, qpos + rows) against keys [k0, k1): band = Qr rk[dlo .. dhi]^T */
static void band_tile(cg_ctx *c, void *user, LLVMValueRef qpos, LLVMValueRef rows, LLVMValueRef k0,
                      LLVMValueRef k1) {
  rel *r = user;
  LLVMBuilderRef b = c->b;
  LLVMValueRef one = cg_i64(c, 1);
  LLVMValueRef dlo =
      cg_max(c, LLVMBuildSub(b, LLVMBuildAdd(b, qpos, one, ""), k1, ""), cg_i64(c, 0));
  LLVMValueRef dhi =
      LLVMBuildSub(b, LLVMBuildSub(b, LLVMBuildAdd(b, qpos, rows, ""), one, ""), k0, "");
  r->k0 = k0, r->dlo = dlo;
  /* the shape of attention's S = Q K^T, bw columns wide */
  cg_gemm g, unused;
  LLVMValueRef n = LLVMBuildAdd(b, LLVMBuildSub(b, dhi, dlo, ""), one, "");
  cg_attn_products(c->llvm, c->vw, rows, n, r->dh, r->tq, r->bw, &g, &unused);
  g.shared = c->share_gemms;
  g.a = r->qr;
  g.b = cg_gep(c, c->f32, r->rk, LLVMBuildMul(b, dlo, r->dh, ""));
  g.c = r->band;
  cg_emit_gemm(c->mod, b, &g);
}

/* row `row` of the tile, query position i: key column j is at band index last - j */
static void band_row(cg_ctx *c, void *user, LLVMValueRef row, LLVMValueRef i) {
  rel *r = user;
  LLVMBuilderRef b = c->b;
  LLVMValueRef d0 = LLVMBuildSub(b, LLVMBuildSub(b, i, r->k0, ""), r->dlo, "");
  r->last = LLVMBuildAdd(b, LLVMBuildMul(b, row, cg_i64(c, r->bw), ""), d0, "");
}

/* columns j .. j + vw - 1: band indices last - j down to last - j - vw + 1 */
static LLVMValueRef band_cols(cg_ctx *c, void *user, LLVMValueRef j) {
  rel *r = user;
  LLVMBuilderRef b = c->b;
  LLVMValueRef at = LLVMBuildSub(b, r->last, LLVMBuildAdd(b, j, cg_i64(c, r->vw - 1), ""), "");
  LLVMValueRef v = cg_load_vec(c, c->vf32, r->band, at, NULL);
  return LLVMBuildShuffleVector(b, v, LLVMGetUndef(c->vf32), r->rev, "");
}

/* dst = src + bias for one row's vectors (the tile's two biased queries) */
typedef struct biased {
  LLVMValueRef Q, U, W;        /* q, r_w_bias, r_r_bias */
  LLVMValueRef qu, qr;         /* the tile's scratch rows */
  LLVMValueRef q_at, b_at, at; /* i64 offsets: q's row, the head's biases, the scratch row */
} biased;

static void bias_pass(cg_ctx *c, void *user, LLVMValueRef j, LLVMValueRef mask) {
  biased *x = user;
  LLVMBuilderRef b = c->b;
  LLVMValueRef q = cg_load_vec(c, c->vf32, x->Q, LLVMBuildAdd(b, x->q_at, j, ""), mask);
  LLVMValueRef hb = LLVMBuildAdd(b, x->b_at, j, ""), to = LLVMBuildAdd(b, x->at, j, "");
  LLVMValueRef u = cg_load_vec(c, c->vf32, x->U, hb, mask);
  LLVMValueRef w = cg_load_vec(c, c->vf32, x->W, hb, mask);
  cg_store_vec(c, LLVMBuildFAdd(b, q, u, ""), x->qu, to, mask);
  cg_store_vec(c, LLVMBuildFAdd(b, q, w, ""), x->qr, to, mask);
}

static int64_t attr_or(const ir_node *n, const char *key, int64_t def) {
  const ir_attr *a = ir_get_attr(n, key);
  return a && a->kind == IR_ATTR_INT && a->i > 0 ? a->i : def;
}

static int64_t up16(int64_t n) { return (n + 15) / 16 * 16; }

void cg_emit_rel_attention(cg_ctx *c, const ir_node *n) {
  LLVMBuilderRef b = c->b;
  const ir_type *qt = &c->g->values[n->inputs[0]].type, *kt = &c->g->values[n->inputs[1]].type;
  if (!ir_dim_is_const(qt->dims[1]) || !ir_dim_is_const(qt->dims[2]) ||
      !ir_dim_is_const(qt->dims[3]) || !ir_dim_is_const(kt->dims[2])) {
    cg_fail(c, "codegen: rel_attention '%s' needs constant heads, segment and keys", n->name);
    return;
  }
  int64_t H = qt->dims[1].coef, C = qt->dims[2].coef, dh = qt->dims[3].coef;
  int64_t K = kt->dims[2].coef, M = ir_attr_int(n, "mem");
  bool same = ir_attr_int(n, "same_length") != 0;
  int64_t tq = attr_or(n, "tile_q", TILE_Q), tk = attr_or(n, "tile_k", TILE_K);
  if (tk > 256) tk = 256;
  /* the scratch beyond the tiles: q + r_w_bias, q + r_r_bias, the pad, the band
   * (sized for tq and tk as asked: cg_attn_begin only shrinks them) */
  int64_t o_qr = up16(tq * dh), o_band = o_qr + up16(tq * dh) + up16(tq + tk + c->vw);
  cg_attn a = {.masked = true};
  cg_attn_begin(c, &a, tq, tk, dh, ir_attr_float(n, "scale"), o_band + tq * (tq + tk - 1));
  tq = a.tq;
  rel r = {.tq = tq, .bw = tq + a.tk - 1, .dh = a.dh, .vw = c->vw};
  LLVMValueRef qu = a.extra;
  r.qr = cg_gep(c, c->f32, a.extra, cg_i64(c, o_qr));
  r.band = cg_gep(c, c->f32, a.extra, cg_i64(c, o_band));
  LLVMValueRef rev[64];
  for (int l = 0; l < c->vw; l++) rev[l] = cg_i32(c, c->vw - 1 - l);
  r.rev = LLVMConstVector(rev, (unsigned)c->vw);
  cg_attn_term term = {.tile = band_tile, .row = band_row, .cols = band_cols, .user = &r};
  a.term = &term;

  LLVMValueRef Q = cg_value_ptr(c, n->inputs[0]), Kp = cg_value_ptr(c, n->inputs[1]);
  LLVMValueRef V = cg_value_ptr(c, n->inputs[2]), RK = cg_value_ptr(c, n->inputs[3]);
  LLVMValueRef O = cg_value_ptr(c, n->outputs[0]);
  int64_t nqt = (C + tq - 1) / tq;
  LLVMValueRef items = LLVMBuildMul(b, cg_dim(c, qt->dims[0]), cg_i64(c, H * nqt), "");
  LLVMValueRef zero = cg_i64(c, 0), one = cg_i64(c, 1);
  /* the memory rows written before this segment: keys from first = M - mlen (the
   * count only matters up to M: capped as a float, it converts whatever it is) */
  LLVMValueRef rows_f = LLVMBuildLoad2(b, c->f32, cg_value_ptr(c, n->inputs[6]), "");
  LLVMValueRef fm = cg_f32(c, (float)M);
  rows_f = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, rows_f, fm, ""), rows_f, fm, "");
  LLVMValueRef s0 = LLVMBuildFPToSI(b, rows_f, c->i64, "");
  if (ir_attr_int(n, "streams")) s0 = LLVMBuildAdd(b, s0, cg_session(c, SEQRT_SYM_POSITION), "");
  LLVMValueRef mlen = cg_max(c, zero, cg_min(c, cg_i64(c, M), s0));
  LLVMValueRef first = LLVMBuildSub(b, cg_i64(c, M), mlen, "");

  cg_loop it;
  cg_loop_begin(c, &it, LLVMBuildSExt(b, c->ith, c->i64, ""), items,
                LLVMBuildSExt(b, c->nth, c->i64, ""));
  LLVMValueRef bh = LLVMBuildUDiv(b, it.i, cg_i64(c, nqt), "");
  LLVMValueRef i0 = LLVMBuildMul(b, LLVMBuildURem(b, it.i, cg_i64(c, nqt), ""), cg_i64(c, tq), "");
  LLVMValueRef rows =
      LLVMBuildSub(b, cg_min(c, LLVMBuildAdd(b, i0, cg_i64(c, tq), ""), cg_i64(c, C)), i0, "");
  LLVMValueRef h = LLVMBuildURem(b, bh, cg_i64(c, H), "");
  LLVMValueRef qbase =
      LLVMBuildMul(b, LLVMBuildAdd(b, LLVMBuildMul(b, bh, cg_i64(c, C), ""), i0, ""), a.dh, "");
  r.rk = cg_gep(c, c->f32, RK, LLVMBuildMul(b, h, cg_i64(c, K * dh), ""));

  /* the tile's biased queries */
  biased x = {.Q = Q,
              .U = cg_value_ptr(c, n->inputs[4]),
              .W = cg_value_ptr(c, n->inputs[5]),
              .qu = qu,
              .qr = r.qr,
              .b_at = LLVMBuildMul(b, h, a.dh, "")};
  cg_loop row;
  cg_loop_begin(c, &row, zero, rows, one);
  x.at = LLVMBuildMul(b, row.i, a.dh, "");
  x.q_at = LLVMBuildAdd(b, qbase, x.at, "");
  cg_vec_loop(c, zero, a.dh, bias_pass, &x);
  cg_loop_end(c, &row);

  cg_attn_reset(c, &a);
  if (!same || M > 0) { /* same_length without memory: no query sees a key */
    LLVMValueRef kbase = LLVMBuildMul(
        b, LLVMBuildAdd(b, LLVMBuildMul(b, bh, cg_i64(c, K), ""), first, ""), a.dh, "");
    cg_attn_rows q = {
        .Q = qu, .qbase = zero, .rows = rows, .qpos = LLVMBuildAdd(b, i0, cg_i64(c, M), "")};
    cg_attn_keys(c, &a, &q, Kp, V, kbase, first, LLVMBuildSub(b, cg_i64(c, K), first, ""), true,
                 same ? M - 1 : -1);
  }
  cg_attn_finish(c, &a, rows, qbase, O);
  cg_loop_end(c, &it);
}
