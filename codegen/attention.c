/*
 * attention.c: softmax(q k^T * scale + mask) v as one tiled kernel with an
 * online softmax (FlashAttention's recurrence), so no Tq x Tk matrix is ever
 * held: per query tile the kernel keeps a tq x tk score tile, a tq x dh
 * accumulator and the running max m and sum l of every row, all on the stack.
 * Peak memory is linear in T.
 *
 * Work items are (batch*head, query tile) pairs, dealt round-robin to the
 * threads (item = ith, ith + nth, ...), which balances causal attention,
 * whose later query tiles see more keys. For a query tile [i0, i1) only the
 * key tiles that some row may see are visited: [0, i1) when causal,
 * [i0 - r, i1 + r) with a window r, so restricted attention costs O(r T d).
 * Inside a visited tile, scores outside a row's range are set to -inf.
 *
 * Both products are the register-blocked GEMM of gemm.c run by one thread:
 * S = Q_tile K_tile^T (trans_b), then acc = acc * alpha + P V_tile, the
 * GEMM adding its sums to the accumulator scaled by each row's alpha as it
 * stores (row_scale). Both are calls to shared GEMM functions specialized
 * to the tile's shape (cg_gemm.specialize), so the code of the products
 * exists once however many paths (plain, cached runs, a split decode step)
 * and layers there are. tile_k stays <= 256 so that the GEMM's k fits in
 * one of its k blocks.
 *
 * Masks compare positions. Without a cache query i and key j are positions
 * i and j. With one (SPEC 9: inputs kc, vc [B, H, S, dh], causal
 * self-attention) query i is position p+i, and the keys come in runs of
 * contiguous rows: the kept positions max(0, p-S) .. p-1 of the ring (rows
 * j mod S, so at most two runs), then k's, positions p .. p+T-1. Each run
 * goes through the same tile loop (cg_attn_keys) into one online softmax.
 *
 * A key padding mask (SPEC 11; key_padding 1: input 3, i32/i64 [B, Tk],
 * non-zero = padding; never with a cache) hides a key from every query of
 * its batch row: before a key tile is computed the kernel counts its valid
 * keys in the row's mask (tk integer loads, against the tile's tq x tk x dh
 * products) and skips the tile when there are none, so a padded suffix costs
 * one such count per tile; inside a computed tile the padded keys' scores
 * are -inf. A query that sees no key at all keeps l = 0, and its output is 0
 * (attention weights 0, as SPEC 11 says; PyTorch gives NaN).
 *
 * A relative position bias (T5; pos_bias R, the last input a table [H, 2R+1])
 * is added in the score pass, where the positions are known whatever the path
 * (plain, cached runs, a split decode step's part, padded keys): the scores
 * of query position i against keys k0 + j + lane get table[h, clamp(k0 + j +
 * lane - i, -R, R) + R]. The lanes' distances are consecutive, so each work
 * item first copies its head's row into the scratch with vw copies of each
 * end value on either side; a vector's bias is then one load at clamp(d,
 * -R - vw, R) + R + vw, d = k0 + j - i. A row too long for the scratch is
 * read with a gather a vector instead. Without the attribute the kernel is
 * built as before.
 *
 * The tiles and the online softmax are shared (cg_attn_*, cg_internal.h):
 * rel_attention.c runs Transformer-XL's attention through them, adding its
 * position term to the scores of each key tile before the scale
 * (cg_attn_term: computed once per key tile, read per row).
 */
#include <math.h>
#include <string.h>

#include "cg_internal.h"

/* default tiles when tile_attention did not choose */
#define TILE_Q 32
#define TILE_K 128
/* accumulator floats per thread (tq * dh) on the stack at most */
#define MAX_ACC_FLOATS (16 * 1024)
/* floats of a padded row of the position bias table (2R + 1 + 2 vw) on the stack at most */
#define MAX_BIAS_FLOATS 4096

static LLVMValueRef iota(cg_ctx *c) {
  LLVMValueRef e[64];
  for (int i = 0; i < c->vw; i++) e[i] = LLVMConstInt(c->i64, (unsigned long long)i, 0);
  return LLVMConstVector(e, (unsigned)c->vw);
}

static LLVMValueRef splat64(cg_ctx *c, LLVMValueRef v) {
  LLVMTypeRef vt = LLVMVectorType(c->i64, (unsigned)c->vw);
  LLVMValueRef u = LLVMGetUndef(vt);
  u = LLVMBuildInsertElement(c->b, u, v, cg_i32(c, 0), "");
  LLVMValueRef zero[64];
  for (int i = 0; i < c->vw; i++) zero[i] = cg_i32(c, 0);
  return LLVMBuildShuffleVector(c->b, u, u, LLVMConstVector(zero, (unsigned)c->vw), "");
}

static LLVMValueRef load_f(cg_ctx *c, LLVMValueRef arr, LLVMValueRef i) {
  return LLVMBuildLoad2(c->b, c->f32, cg_gep(c, c->f32, arr, i), "");
}
static void store_f(cg_ctx *c, LLVMValueRef v, LLVMValueRef arr, LLVMValueRef i) {
  LLVMBuildStore(c->b, v, cg_gep(c, c->f32, arr, i));
}

/* <vw x i1>: the keys k0 + j.. that the padding mask lets through (masked-off lanes: false) */
static LLVMValueRef unpadded(cg_ctx *c, const cg_attn *a, LLVMValueRef j, LLVMValueRef mask) {
  LLVMBuilderRef b = c->b;
  LLVMValueRef m = cg_load_vec(c, a->pad_vt, a->pad, LLVMBuildAdd(b, a->pad_k0, j, ""), mask);
  LLVMValueRef keep = LLVMBuildICmp(b, LLVMIntEQ, m, LLVMConstNull(a->pad_vt), "");
  return mask ? LLVMBuildAnd(b, keep, mask, "") : keep;
}

/* counts the tile's unpadded keys into sum_acc (one lane each) */
static void count_pass(cg_ctx *c, void *user, LLVMValueRef j, LLVMValueRef mask) {
  cg_attn *a = user;
  LLVMBuilderRef b = c->b;
  LLVMValueRef one = LLVMBuildSelect(b, unpadded(c, a, j, mask), cg_splat(c, cg_f32(c, 1)),
                                     LLVMConstNull(c->vf32), "");
  LLVMValueRef s = LLVMBuildLoad2(b, c->vf32, a->sum_acc, "");
  LLVMBuildStore(b, LLVMBuildFAdd(b, s, one, ""), a->sum_acc);
}

/* <vw x float>: the bias of columns j.. of the row, the table row's entries at
 * the distances bias_d0 + j + lane clamped to [-R, R] (always inside the row,
 * so the tail's lanes may read it too) */
static LLVMValueRef position_bias(cg_ctx *c, const cg_attn *a, LLVMValueRef j) {
  LLVMBuilderRef b = c->b;
  if (a->bias_padded) { /* past either end, all vw lanes read copies of the end value */
    LLVMValueRef d = LLVMBuildAdd(b, a->bias_d0, j, "");
    d = cg_max(c, cg_min(c, d, cg_i64(c, a->R)), cg_i64(c, -a->R - c->vw));
    return cg_load_vec(c, c->vf32, a->bias, LLVMBuildAdd(b, d, cg_i64(c, a->R + c->vw), ""), NULL);
  }
  LLVMValueRef d = LLVMBuildAdd(b, splat64(c, LLVMBuildAdd(b, a->bias_d0, j, "")), iota(c), "");
  LLVMValueRef hi = splat64(c, cg_i64(c, a->R)), lo = splat64(c, cg_i64(c, -a->R));
  d = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, d, lo, ""), lo, d, "");
  d = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, d, hi, ""), hi, d, "");
  LLVMValueRef idx = LLVMBuildAdd(b, d, hi, "");
  LLVMValueRef ptrs = LLVMBuildGEP2(b, c->f32, a->bias, &idx, 1, "");
  LLVMValueRef all[64];
  for (int i = 0; i < c->vw; i++) all[i] = LLVMConstInt(LLVMInt1TypeInContext(c->llvm), 1, 0);
  LLVMTypeRef types[] = {c->vf32, LLVMTypeOf(ptrs)};
  LLVMValueRef args[] = {ptrs, cg_i32(c, 4), LLVMConstVector(all, (unsigned)c->vw),
                         LLVMGetUndef(c->vf32)};
  return cg_intrinsic(c, "llvm.masked.gather", types, 2, args, 4);
}

/* pass 1 over a score row: add the term, scale, add the position bias, mask to -inf,
 * running max */
static void score_pass(cg_ctx *c, void *user, LLVMValueRef j, LLVMValueRef mask) {
  cg_attn *a = user;
  LLVMBuilderRef b = c->b;
  LLVMValueRef at = LLVMBuildAdd(b, a->row_off, j, "");
  LLVMValueRef x = cg_load_vec(c, c->vf32, a->S, at, mask);
  if (a->term) x = LLVMBuildFAdd(b, x, a->term->cols(c, a->term->user, j), "");
  x = LLVMBuildFMul(b, x, a->scale, "");
  if (a->bias) x = LLVMBuildFAdd(b, x, position_bias(c, a, j), "");
  LLVMValueRef ninf = cg_splat(c, cg_f32(c, -INFINITY));
  LLVMValueRef valid = a->pad ? unpadded(c, a, j, mask) : mask; /* both include the tail's */
  if (a->masked) {
    LLVMValueRef jj = LLVMBuildAdd(b, splat64(c, j), iota(c), "");
    LLVMValueRef in = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntSGE, jj, splat64(c, a->lo), ""),
                                   LLVMBuildICmp(b, LLVMIntSLT, jj, splat64(c, a->hi), ""), "");
    valid = valid ? LLVMBuildAnd(b, valid, in, "") : in;
  }
  if (valid) x = LLVMBuildSelect(b, valid, x, ninf, "");
  cg_store_vec(c, x, a->S, at, mask);
  LLVMValueRef m = LLVMBuildLoad2(b, c->vf32, a->mx_acc, "");
  LLVMBuildStore(b, cg_fmax(c, m, x), a->mx_acc);
}

/* pass 2: p = exp(x - m) (0 where x is -inf), row sum */
static void exp_pass(cg_ctx *c, void *user, LLVMValueRef j, LLVMValueRef mask) {
  cg_attn *a = user;
  LLVMBuilderRef b = c->b;
  LLVMValueRef at = LLVMBuildAdd(b, a->row_off, j, "");
  LLVMValueRef x = cg_load_vec(c, c->vf32, a->S, at, mask);
  LLVMValueRef p = cg_math_exp(c->mod, b, LLVMBuildFSub(b, x, a->m_use, ""));
  LLVMValueRef dead = LLVMBuildFCmp(b, LLVMRealOEQ, x, cg_splat(c, cg_f32(c, -INFINITY)), "");
  p = LLVMBuildSelect(b, dead, LLVMConstNull(c->vf32), p, "");
  if (mask) p = LLVMBuildSelect(b, mask, p, LLVMConstNull(c->vf32), "");
  cg_store_vec(c, p, a->S, at, mask);
  LLVMValueRef s = LLVMBuildLoad2(b, c->vf32, a->sum_acc, "");
  LLVMBuildStore(b, LLVMBuildFAdd(b, s, p, ""), a->sum_acc);
}

static void zero_pass(cg_ctx *c, void *user, LLVMValueRef j, LLVMValueRef mask) {
  cg_attn *a = user;
  cg_store_vec(c, LLVMConstNull(c->vf32), a->acc, j, mask);
}

static void finish_pass(cg_ctx *c, void *user, LLVMValueRef j, LLVMValueRef mask) {
  cg_attn *a = user;
  LLVMBuilderRef b = c->b;
  LLVMValueRef v = cg_load_vec(c, c->vf32, a->acc, LLVMBuildAdd(b, a->acc_row, j, ""), mask);
  cg_store_vec(c, LLVMBuildFMul(b, v, a->inv, ""), a->out, LLVMBuildAdd(b, a->out_row, j, ""),
               mask);
}

/*
 * The kernel's per-thread scratch of n floats: one stack array per entry
 * function, shared by all its attention nodes (they run one after another),
 * so a deep model does not grow the threads' stacks by a tile set per layer.
 */
static LLVMValueRef scratch(cg_ctx *c, int64_t n) {
  static const char name[] = "attn.scratch";
  for (LLVMValueRef i = LLVMGetFirstInstruction(c->entry); i; i = LLVMGetNextInstruction(i)) {
    size_t len;
    const char *nm = LLVMGetValueName2(i, &len);
    if (!LLVMIsAAllocaInst(i) || len != sizeof name - 1 || memcmp(nm, name, len)) continue;
    LLVMTypeRef t = LLVMGetAllocatedType(i);
    if ((int64_t)LLVMGetArrayLength2(t) >= n) return i;
  }
  LLVMValueRef p = cg_alloca(c, LLVMArrayType2(c->f32, (uint64_t)n), name);
  LLVMSetAlignment(p, 64);
  return p;
}

/* the table's row `row` (2R+1 floats) into the padded copy a->bias: entry k
 * is row[clamp(k - vw, 0, 2R)] for k in [0, 2R+1 + 2 vw) */
static void pad_bias_row(cg_ctx *c, cg_attn *a, LLVMValueRef row) {
  LLVMBuilderRef b = c->b;
  LLVMValueRef vw = cg_i64(c, c->vw);
  cg_loop k;
  cg_loop_begin(c, &k, cg_i64(c, 0), cg_i64(c, 2 * a->R + 1 + 2 * c->vw), cg_i64(c, 1));
  LLVMValueRef at =
      cg_max(c, cg_min(c, LLVMBuildSub(b, k.i, vw, ""), cg_i64(c, 2 * a->R)), cg_i64(c, 0));
  store_f(c, load_f(c, row, at), a->bias, k.i);
  cg_loop_end(c, &k);
}

/* floats from the start of the scratch, each part 16-float (64-byte) aligned */
static int64_t up16(int64_t n) { return (n + 15) / 16 * 16; }

static int64_t attr_or(const ir_node *n, const char *key, int64_t def) {
  const ir_attr *a = ir_get_attr(n, key);
  return a && a->kind == IR_ATTR_INT && a->i > 0 ? a->i : def;
}

/* the scratch: S, acc, m, l, alpha, then the caller's extra floats; tk stays
 * <= 256 (the second GEMM's epilogue must see the old accumulator) and tq
 * shrinks until the accumulator fits MAX_ACC_FLOATS */
void cg_attn_begin(cg_ctx *c, cg_attn *a, int64_t tq, int64_t tk, int64_t dh, double scale,
                   int64_t extra) {
  if (tk > 256) tk = 256;
  while (tq > 1 && tq * dh > MAX_ACC_FLOATS) tq /= 2;
  a->tq = tq, a->tk = tk;
  int64_t o_acc = up16(tq * tk), o_m = o_acc + up16(tq * (dh > 0 ? dh : 1));
  int64_t o_l = o_m + up16(tq), o_alpha = o_l + up16(tq), o_extra = o_alpha + up16(tq);
  LLVMValueRef base = scratch(c, o_extra + up16(extra));
  a->S = cg_gep(c, c->f32, base, cg_i64(c, 0));
  a->acc = cg_gep(c, c->f32, base, cg_i64(c, o_acc));
  a->m = cg_gep(c, c->f32, base, cg_i64(c, o_m));
  a->l = cg_gep(c, c->f32, base, cg_i64(c, o_l));
  a->alpha = cg_gep(c, c->f32, base, cg_i64(c, o_alpha));
  a->extra = cg_gep(c, c->f32, base, cg_i64(c, o_extra));
  a->mx_acc = cg_alloca(c, c->vf32, "attn.mx");
  a->sum_acc = cg_alloca(c, c->vf32, "attn.sum");
  a->scale = cg_splat(c, cg_f32(c, scale));
  a->dh = cg_i64(c, dh);
}

void cg_attn_reset(cg_ctx *c, cg_attn *a) {
  LLVMValueRef zero = cg_i64(c, 0);
  cg_loop r;
  cg_loop_begin(c, &r, zero, cg_i64(c, a->tq), cg_i64(c, 1));
  store_f(c, cg_f32(c, -INFINITY), a->m, r.i);
  store_f(c, cg_f32(c, 0), a->l, r.i);
  cg_loop_end(c, &r);
  cg_vec_loop(c, zero, LLVMBuildMul(c->b, cg_i64(c, a->tq), a->dh, ""), zero_pass, a);
}

void cg_attn_products(LLVMContextRef cx, int vw, LLVMValueRef rows, LLVMValueRef cols,
                      LLVMValueRef dh, int64_t tq, int64_t tk, cg_gemm *s, cg_gemm *pv) {
  LLVMTypeRef i32 = LLVMInt32TypeInContext(cx), i64 = LLVMInt64TypeInContext(cx);
  LLVMValueRef zero = LLVMConstInt(i32, 0, 0), one = LLVMConstInt(i32, 1, 0);
  LLVMValueRef TK = LLVMConstInt(i64, (unsigned long long)tk, 0);
  /* S = Q K^T: rows x cols of a tk-wide tile, k the head dim */
  *s = (cg_gemm){.vec_width = vw, .trans_b = true, .ith = zero, .nth = one, .specialize = true};
  s->m = rows, s->n = cols, s->k = dh;
  s->lda = dh, s->ldb = dh, s->ldc = TK;
  /* acc = acc * alpha + P V: a query tile's rows against a key tile, the direct path */
  *pv = (cg_gemm){.vec_width = vw,
                  .ith = zero,
                  .nth = one,
                  .specialize = true,
                  .accumulate = true,
                  .m_max = tq,
                  .k_max = tk};
  pv->m = rows, pv->n = dh, pv->k = cols;
  pv->lda = TK, pv->ldb = dh, pv->ldc = dh;
}

/* every tile of tk keys some row may see, scores masked to the row's positions */
void cg_attn_keys(cg_ctx *c, cg_attn *a, const cg_attn_rows *q, LLVMValueRef K, LLVMValueRef V,
                  LLVMValueRef kbase, LLVMValueRef pos0, LLVMValueRef n, bool causal,
                  int64_t window) {
  LLVMBuilderRef b = c->b;
  LLVMValueRef TK = cg_i64(c, a->tk), one = cg_i64(c, 1), zero = cg_i64(c, 0);
  LLVMValueRef qlast = LLVMBuildSub(b, LLVMBuildAdd(b, q->qpos, q->rows, ""), one, "");
  /* the keys some row of the tile may see, as indices into this run */
  LLVMValueRef jlo = zero, jhi = n;
  if (window >= 0) {
    jlo = cg_max(c, LLVMBuildSub(b, LLVMBuildSub(b, q->qpos, cg_i64(c, window), ""), pos0, ""),
                 zero);
    jhi = cg_min(c, LLVMBuildSub(b, LLVMBuildAdd(b, qlast, cg_i64(c, window + 1), ""), pos0, ""),
                 jhi);
  }
  if (causal) jhi = cg_min(c, jhi, LLVMBuildSub(b, LLVMBuildAdd(b, qlast, one, ""), pos0, ""));
  if (q->klo) {
    jlo = cg_max(c, jlo, LLVMBuildSub(b, q->klo, pos0, ""));
    jhi = cg_min(c, jhi, LLVMBuildSub(b, q->khi, pos0, ""));
  }

  cg_loop kt_loop;
  cg_loop_begin(c, &kt_loop, jlo, jhi, TK);
  LLVMValueRef j0 = kt_loop.i;
  LLVMValueRef j1 = cg_min(c, LLVMBuildAdd(b, j0, TK, ""), jhi);
  LLVMValueRef cols = LLVMBuildSub(b, j1, j0, "");
  LLVMValueRef kofs = LLVMBuildAdd(b, kbase, LLVMBuildMul(b, j0, a->dh, ""), "");
  cg_if live; /* with a padding mask: the tile only when some key is not padding */
  if (a->pad) {
    a->pad_k0 = j0; /* no cache with a mask: key j is mask column j (pos0 is 0) */
    LLVMBuildStore(b, LLVMConstNull(c->vf32), a->sum_acc);
    cg_vec_loop(c, zero, cols, count_pass, a);
    LLVMValueRef valid = cg_hsum(c, LLVMBuildLoad2(b, c->vf32, a->sum_acc, ""));
    cg_if_begin(c, &live, LLVMBuildFCmp(b, LLVMRealOGT, valid, cg_f32(c, 0), ""));
  }

  /* both products are the module's shared GEMM (gemm.c): the same code for
   * every path of every attention */
  cg_gemm s, pv;
  cg_attn_products(c->llvm, c->vw, q->rows, cols, a->dh, a->tq, a->tk, &s, &pv);
  s.shared = pv.shared = c->share_gemms;
  s.a = cg_gep(c, c->f32, q->Q, q->qbase);
  s.b = cg_gep(c, c->f32, K, kofs);
  s.c = a->S;
  cg_emit_gemm(c->mod, b, &s);
  /* positions of the tile's keys [k0, k1) */
  LLVMValueRef k0 = LLVMBuildAdd(b, pos0, j0, ""), k1 = LLVMBuildAdd(b, pos0, j1, "");
  if (a->term) a->term->tile(c, a->term->user, q->qpos, q->rows, k0, k1);

  /* online softmax, row by row */
  cg_loop r;
  cg_loop_begin(c, &r, zero, q->rows, one);
  LLVMValueRef i = LLVMBuildAdd(b, q->qpos, r.i, "");
  a->row_off = LLVMBuildMul(b, r.i, TK, "");
  LLVMValueRef lo = k0, hi = k1;
  if (window >= 0) {
    lo = cg_max(c, lo, LLVMBuildSub(b, i, cg_i64(c, window), ""));
    hi = cg_min(c, hi, LLVMBuildAdd(b, i, cg_i64(c, window + 1), ""));
  }
  if (causal) hi = cg_min(c, hi, LLVMBuildAdd(b, i, one, ""));
  a->lo = LLVMBuildSub(b, lo, k0, "");
  a->hi = LLVMBuildSub(b, hi, k0, "");
  if (a->bias) a->bias_d0 = LLVMBuildSub(b, k0, i, "");
  if (a->term) a->term->row(c, a->term->user, r.i, i);
  LLVMBuildStore(b, cg_splat(c, cg_f32(c, -INFINITY)), a->mx_acc);
  cg_vec_loop(c, zero, cols, score_pass, a);
  LLVMValueRef mx = cg_hmax(c, LLVMBuildLoad2(b, c->vf32, a->mx_acc, ""));
  LLVMValueRef m_old = load_f(c, a->m, r.i);
  LLVMValueRef m_new = cg_fmax(c, m_old, mx);
  LLVMValueRef ninf = cg_f32(c, -INFINITY);
  LLVMValueRef none = LLVMBuildFCmp(b, LLVMRealOEQ, m_new, ninf, "");
  LLVMValueRef m_use = LLVMBuildSelect(b, none, cg_f32(c, 0), m_new, "");
  a->m_use = cg_splat(c, m_use);
  LLVMBuildStore(b, LLVMConstNull(c->vf32), a->sum_acc);
  cg_vec_loop(c, zero, cols, exp_pass, a);
  LLVMValueRef sum = cg_hsum(c, LLVMBuildLoad2(b, c->vf32, a->sum_acc, ""));
  LLVMValueRef al = cg_math_exp(c->mod, b, LLVMBuildFSub(b, m_old, m_use, ""));
  al = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOEQ, m_old, ninf, ""), cg_f32(c, 0), al, "");
  store_f(c, al, a->alpha, r.i);
  store_f(c, LLVMBuildFAdd(b, LLVMBuildFMul(b, load_f(c, a->l, r.i), al, ""), sum, ""), a->l, r.i);
  store_f(c, m_new, a->m, r.i);
  cg_loop_end(c, &r);

  /* acc = acc * alpha + P V: the GEMM adds its sums to acc scaled by alpha */
  pv.row_scale = a->alpha;
  pv.a = a->S;
  pv.b = cg_gep(c, c->f32, V, kofs);
  pv.c = a->acc;
  cg_emit_gemm(c->mod, b, &pv);
  if (a->pad) cg_if_end(c, &live);
  cg_loop_end(c, &kt_loop);
}

/* the kept positions a cached attention sees, from the ring kc, vc (S rows a
 * batch-head, position x at row x mod S): [max(0, p - S), p) in at most two
 * runs of contiguous rows, before and after the ring's wrap */
static void visit_kept(cg_ctx *c, cg_attn *a, const cg_attn_rows *q, const ir_node *n,
                       LLVMValueRef bh, int64_t window) {
  LLVMBuilderRef b = c->b;
  const ir_type *ct = &c->g->values[n->inputs[3]].type;
  LLVMValueRef KC = cg_value_ptr(c, n->inputs[3]), VC = cg_value_ptr(c, n->inputs[4]);
  LLVMValueRef S = cg_dim(c, ct->dims[2]), p = cg_session(c, SEQRT_SYM_POSITION);
  LLVMValueRef first = cg_max(c, LLVMBuildSub(b, p, S, ""), cg_i64(c, 0));
  LLVMValueRef ring = LLVMBuildMul(b, LLVMBuildMul(b, bh, S, ""), a->dh, "");
  /* first .. wrap: rows first mod S ..; wrap .. p: rows 0 .. */
  LLVMValueRef row0 = LLVMBuildURem(b, first, S, "");
  LLVMValueRef wrap = cg_min(c, LLVMBuildAdd(b, first, LLVMBuildSub(b, S, row0, ""), ""), p);
  LLVMValueRef at0 = LLVMBuildAdd(b, ring, LLVMBuildMul(b, row0, a->dh, ""), "");
  cg_attn_keys(c, a, q, KC, VC, at0, first, LLVMBuildSub(b, wrap, first, ""), true, window);
  cg_attn_keys(c, a, q, KC, VC, ring, wrap, LLVMBuildSub(b, p, wrap, ""), true, window);
}

/* a cached attention without a window whose run would go past the cache:
 * the run's error (SEQRT_FAIL_CACHE); the kernel reads only kept rows anyway */
static void check_cache(cg_ctx *c, const ir_node *n, LLVMValueRef Tk) {
  LLVMBuilderRef b = c->b;
  const ir_value *kc = &c->g->values[n->inputs[3]];
  LLVMValueRef S = cg_dim(c, kc->type.dims[2]), p = cg_session(c, SEQRT_SYM_POSITION);
  cg_if over;
  cg_if_begin(c, &over, LLVMBuildICmp(b, LLVMIntSGT, LLVMBuildAdd(b, p, Tk, ""), S, ""));
  cg_fail_cache(c, kc->buffer, S, p, Tk);
  cg_if_end(c, &over);
}

/* 1 / l, or 0 for l = 0: a row that saw no key has weights 0 (SPEC 11) */
static LLVMValueRef inverse(cg_ctx *c, LLVMValueRef l) {
  LLVMBuilderRef b = c->b;
  LLVMValueRef inv = LLVMBuildFDiv(b, cg_f32(c, 1), l, "");
  return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, l, cg_f32(c, 0), ""), inv, cg_f32(c, 0),
                         "");
}

/*
 * Split-K. A decode step (Tq = 1) has B * H work items; when they are fewer
 * than the threads and the row sees many keys, each item's visible keys
 * [lo, lo + n) are cut into parts, one work item each. A part leaves its
 * running max m, sum l and unnormalized row acc in the partials [BH, splits,
 * dh + 2] (m, l, acc); after the team's barrier each batch-head's parts are
 * combined as the online softmax would have: with M the largest m,
 * out = sum_k e^(m_k - M) acc_k / sum_k e^(m_k - M) l_k. The number of parts
 * depends only on values every thread has, so all threads take the same
 * branch to the barrier.
 */
#define SPLIT_KEYS 256 /* keys a part has at least: below, the wait costs more than it saves */

typedef struct split {
  LLVMValueRef parts; /* i64 parts per work item (1: no split) */
  LLVMValueRef lo, n; /* i64 the query row's first visible key position, and their count */
  LLVMValueRef P;     /* the partials */
  int64_t max;        /* splits: the partials' parts per batch-head */
  int64_t stride;     /* floats of one part: dh + 2 */
} split;

static split plan_split(cg_ctx *c, const ir_node *n, LLVMValueRef Tq, LLVMValueRef Tk,
                        LLVMValueRef items, bool causal, int64_t window) {
  LLVMBuilderRef b = c->b;
  const ir_type *pt = &c->g->values[n->outputs[1]].type;
  split s = {
      .max = pt->dims[2].coef, .stride = pt->dims[3].coef, .P = cg_value_ptr(c, n->outputs[1])};
  LLVMValueRef zero = cg_i64(c, 0), one = cg_i64(c, 1);
  bool cached = ir_attn_layout_of(n).cache >= 0;
  LLVMValueRef p = cached ? cg_session(c, SEQRT_SYM_POSITION) : zero; /* the row's position */
  LLVMValueRef lo = zero, hi = LLVMBuildAdd(b, p, Tk, "");
  if (cached) {
    LLVMValueRef S = cg_dim(c, c->g->values[n->inputs[3]].type.dims[2]);
    lo = cg_max(c, LLVMBuildSub(b, p, S, ""), zero);
  }
  if (causal) hi = cg_min(c, hi, LLVMBuildAdd(b, p, one, ""));
  if (window >= 0) {
    lo = cg_max(c, lo, LLVMBuildSub(b, p, cg_i64(c, window), ""));
    hi = cg_min(c, hi, LLVMBuildAdd(b, p, cg_i64(c, window + 1), ""));
  }
  s.lo = lo;
  s.n = cg_max(c, LLVMBuildSub(b, hi, lo, ""), zero);
  LLVMValueRef nth = LLVMBuildSExt(b, c->nth, c->i64, "");
  LLVMValueRef k = cg_min(c, cg_i64(c, s.max), LLVMBuildSDiv(b, nth, cg_max(c, items, one), ""));
  k = cg_max(c, cg_min(c, k, LLVMBuildSDiv(b, s.n, cg_i64(c, SPLIT_KEYS), "")), one);
  s.parts = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntEQ, Tq, one, ""), k, one, "split.parts");
  return s;
}

/* the part'th of the visible keys, or all of them when the item is whole */
static void part_range(cg_ctx *c, const split *s, LLVMValueRef part, cg_attn_rows *q) {
  LLVMBuilderRef b = c->b;
  LLVMValueRef one = cg_i64(c, 1);
  LLVMValueRef many = LLVMBuildICmp(b, LLVMIntSGT, s->parts, one, "");
  LLVMValueRef from = LLVMBuildUDiv(b, LLVMBuildMul(b, s->n, part, ""), s->parts, "");
  LLVMValueRef to =
      LLVMBuildUDiv(b, LLVMBuildMul(b, s->n, LLVMBuildAdd(b, part, one, ""), ""), s->parts, "");
  q->klo = LLVMBuildSelect(b, many, LLVMBuildAdd(b, s->lo, from, ""), cg_i64(c, INT64_MIN / 4), "");
  q->khi = LLVMBuildSelect(b, many, LLVMBuildAdd(b, s->lo, to, ""), cg_i64(c, INT64_MAX / 4), "");
}

/* what the combine pass reads and writes */
typedef struct combine {
  cg_attn *a;        /* alpha: each part's weight e^(m_k - M) */
  const split *s;    /* the partials */
  LLVMValueRef base; /* i64 the batch-head's first part in the partials */
  LLVMValueRef out;  /* i64 its output row in O */
  LLVMValueRef O;    /* the output */
  LLVMValueRef inv;  /* <vw x float> 1 / sum_k weight_k l_k */
  LLVMValueRef sum;  /* alloca <vw x float> */
} combine;

static void keep_pass(cg_ctx *c, void *user, LLVMValueRef j, LLVMValueRef mask) {
  combine *k = user;
  LLVMValueRef v = cg_load_vec(c, c->vf32, k->a->acc, j, mask);
  cg_store_vec(c, v, k->s->P, LLVMBuildAdd(c->b, k->base, j, ""), mask);
}

static void combine_pass(cg_ctx *c, void *user, LLVMValueRef j, LLVMValueRef mask) {
  combine *k = user;
  LLVMBuilderRef b = c->b;
  LLVMBuildStore(b, LLVMConstNull(c->vf32), k->sum);
  cg_loop part;
  cg_loop_begin(c, &part, cg_i64(c, 0), k->s->parts, cg_i64(c, 1));
  LLVMValueRef at =
      LLVMBuildAdd(b, k->base, LLVMBuildMul(b, part.i, cg_i64(c, k->s->stride), ""), "");
  LLVMValueRef acc = cg_load_vec(
      c, c->vf32, k->s->P, LLVMBuildAdd(b, at, LLVMBuildAdd(b, j, cg_i64(c, 2), ""), ""), mask);
  LLVMValueRef w = cg_splat(c, load_f(c, k->a->alpha, part.i));
  LLVMValueRef sum = LLVMBuildLoad2(b, c->vf32, k->sum, "");
  LLVMBuildStore(b, LLVMBuildFAdd(b, sum, LLVMBuildFMul(b, acc, w, ""), ""), k->sum);
  cg_loop_end(c, &part);
  LLVMValueRef r = LLVMBuildFMul(b, LLVMBuildLoad2(b, c->vf32, k->sum, ""), k->inv, "");
  cg_store_vec(c, r, k->O, LLVMBuildAdd(b, k->out, j, ""), mask);
}

/* a part's m, l and unnormalized row (the tile's one row) into the partials */
static void keep_partial(cg_ctx *c, cg_attn *a, const split *s, LLVMValueRef bh,
                         LLVMValueRef part) {
  LLVMBuilderRef b = c->b;
  LLVMValueRef at =
      LLVMBuildMul(b, LLVMBuildAdd(b, LLVMBuildMul(b, bh, cg_i64(c, s->max), ""), part, ""),
                   cg_i64(c, s->stride), "");
  store_f(c, load_f(c, a->m, cg_i64(c, 0)), s->P, at);
  store_f(c, load_f(c, a->l, cg_i64(c, 0)), s->P, LLVMBuildAdd(b, at, cg_i64(c, 1), ""));
  combine k = {.a = a, .s = s, .base = LLVMBuildAdd(b, at, cg_i64(c, 2), "")};
  cg_vec_loop(c, cg_i64(c, 0), a->dh, keep_pass, &k);
}

/* after the barrier: each batch-head's parts into its output row (Tq = 1) */
static void combine_parts(cg_ctx *c, cg_attn *a, const split *s, LLVMValueRef BH, LLVMValueRef O) {
  LLVMBuilderRef b = c->b;
  LLVMValueRef zero = cg_i64(c, 0), one = cg_i64(c, 1), ninf = cg_f32(c, -INFINITY);
  LLVMValueRef M = a->m, L = a->l; /* the scratch's first floats hold the running M and L */
  cg_loop it;
  cg_loop_begin(c, &it, LLVMBuildSExt(b, c->ith, c->i64, ""), BH,
                LLVMBuildSExt(b, c->nth, c->i64, ""));
  LLVMValueRef base = LLVMBuildMul(b, it.i, cg_i64(c, s->max * s->stride), "");
  store_f(c, ninf, M, zero);
  cg_loop k1;
  cg_loop_begin(c, &k1, zero, s->parts, one);
  LLVMValueRef mk =
      load_f(c, s->P, LLVMBuildAdd(b, base, LLVMBuildMul(b, k1.i, cg_i64(c, s->stride), ""), ""));
  store_f(c, cg_fmax(c, load_f(c, M, zero), mk), M, zero);
  cg_loop_end(c, &k1);
  LLVMValueRef m_all = load_f(c, M, zero);
  LLVMValueRef m_use =
      LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOEQ, m_all, ninf, ""), cg_f32(c, 0), m_all, "");
  store_f(c, cg_f32(c, 0), L, zero);
  cg_loop k2;
  cg_loop_begin(c, &k2, zero, s->parts, one);
  LLVMValueRef at = LLVMBuildAdd(b, base, LLVMBuildMul(b, k2.i, cg_i64(c, s->stride), ""), "");
  LLVMValueRef m = load_f(c, s->P, at), l = load_f(c, s->P, LLVMBuildAdd(b, at, one, ""));
  LLVMValueRef w = cg_math_exp(c->mod, b, LLVMBuildFSub(b, m, m_use, ""));
  w = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOEQ, m, ninf, ""), cg_f32(c, 0), w, "");
  store_f(c, w, a->alpha, k2.i);
  store_f(c, LLVMBuildFAdd(b, load_f(c, L, zero), LLVMBuildFMul(b, w, l, ""), ""), L, zero);
  cg_loop_end(c, &k2);
  /* a row that saw no key is 0, as unsplit */
  combine k = {.a = a,
               .s = s,
               .base = base,
               .out = LLVMBuildMul(b, it.i, a->dh, ""),
               .O = O,
               .sum = a->mx_acc};
  k.inv = cg_splat(c, inverse(c, load_f(c, L, zero)));
  cg_vec_loop(c, zero, a->dh, combine_pass, &k);
  cg_loop_end(c, &it);
}

void cg_attn_finish(cg_ctx *c, cg_attn *a, LLVMValueRef rows, LLVMValueRef qbase, LLVMValueRef O) {
  LLVMBuilderRef b = c->b;
  cg_loop f;
  cg_loop_begin(c, &f, cg_i64(c, 0), rows, cg_i64(c, 1));
  a->inv = cg_splat(c, inverse(c, load_f(c, a->l, f.i)));
  a->acc_row = LLVMBuildMul(b, f.i, a->dh, "");
  a->out_row = LLVMBuildAdd(b, qbase, a->acc_row, "");
  a->out = O;
  cg_vec_loop(c, cg_i64(c, 0), a->dh, finish_pass, a);
  cg_loop_end(c, &f);
}

void cg_emit_attention(cg_ctx *c, const ir_node *n) {
  const ir_graph *g = c->g;
  LLVMBuilderRef b = c->b;
  const ir_type *qt = &g->values[n->inputs[0]].type, *kt = &g->values[n->inputs[1]].type;
  if (!ir_dim_is_const(qt->dims[3])) {
    cg_fail(c, "codegen: attention '%s' needs a constant head dim", n->name);
    return;
  }
  int64_t dh = qt->dims[3].coef;
  bool causal = ir_attr_int(n, "causal") != 0;
  int64_t window = ir_attr_int(n, "window");
  ir_attn_layout at = ir_attn_layout_of(n);
  bool cached = at.cache >= 0, padded = at.mask >= 0;
  if (padded && cached) {
    cg_fail(c, "codegen: attention '%s': a key padding mask with caches", n->name);
    return;
  }

  cg_attn a = {.masked = causal || window >= 0, .R = at.R};
  int64_t bias_floats = at.table >= 0 ? 2 * at.R + 1 + 2 * c->vw : 0;
  a.bias_padded = bias_floats > 0 && bias_floats <= MAX_BIAS_FLOATS;
  cg_attn_begin(c, &a, attr_or(n, "tile_q", TILE_Q), attr_or(n, "tile_k", TILE_K), dh,
                ir_attr_float(n, "scale"), a.bias_padded ? bias_floats : 0);
  int64_t tq = a.tq;

  LLVMValueRef Q = cg_value_ptr(c, n->inputs[0]), K = cg_value_ptr(c, n->inputs[1]);
  LLVMValueRef V = cg_value_ptr(c, n->inputs[2]), O = cg_value_ptr(c, n->outputs[0]);
  LLVMValueRef BH = cg_dims(c, qt, 0, 2), Tq = cg_dim(c, qt->dims[2]), Tk = cg_dim(c, kt->dims[2]);
  LLVMValueRef TQ = cg_i64(c, tq), one = cg_i64(c, 1), zero = cg_i64(c, 0);
  LLVMValueRef nqt = LLVMBuildUDiv(b, LLVMBuildAdd(b, Tq, cg_i64(c, tq - 1), ""), TQ, "");
  LLVMValueRef items = LLVMBuildMul(b, BH, nqt, "");
  LLVMValueRef ith = LLVMBuildSExt(b, c->ith, c->i64, ""),
               nth = LLVMBuildSExt(b, c->nth, c->i64, "");
  if (cached && window < 0) check_cache(c, n, Tk);
  /* a node with partials may split a decode step's keys (split-K above) */
  bool can_split = n->noutputs == 2;
  split sp = {0};
  LLVMValueRef units = items;
  if (can_split) {
    sp = plan_split(c, n, Tq, Tk, items, causal, window);
    if (sp.max > up16(tq) || sp.stride != dh + 2) { /* alpha holds a weight per part */
      cg_fail(c, "codegen: attention '%s': partials of %lld parts of %lld floats", n->name,
              (long long)sp.max, (long long)sp.stride);
      return;
    }
    units = LLVMBuildMul(b, items, sp.parts, "");
  }

  cg_loop it;
  cg_loop_begin(c, &it, ith, units, nth);
  LLVMValueRef item = it.i, part = zero;
  if (can_split) {
    item = LLVMBuildUDiv(b, it.i, sp.parts, "");
    part = LLVMBuildURem(b, it.i, sp.parts, "");
  }
  LLVMValueRef bh = LLVMBuildUDiv(b, item, nqt, ""), qi = LLVMBuildURem(b, item, nqt, "");
  LLVMValueRef i0 = LLVMBuildMul(b, qi, TQ, "");
  LLVMValueRef i1 = cg_min(c, LLVMBuildAdd(b, i0, TQ, ""), Tq);
  LLVMValueRef rows = LLVMBuildSub(b, i1, i0, "");
  LLVMValueRef qbase =
      LLVMBuildMul(b, LLVMBuildAdd(b, LLVMBuildMul(b, bh, Tq, ""), i0, ""), a.dh, "");
  LLVMValueRef kbase = LLVMBuildMul(b, LLVMBuildMul(b, bh, Tk, ""), a.dh, "");
  if (padded) { /* batch row bh / H's mask: Tk columns */
    ir_dtype mt = g->values[n->inputs[at.mask]].type.dtype;
    LLVMValueRef row = LLVMBuildUDiv(b, bh, cg_dim(c, qt->dims[1]), "");
    a.pad_vt = cg_vec_type(c, mt);
    a.pad = cg_gep(c, cg_elem_type(c, mt), cg_value_ptr(c, n->inputs[at.mask]),
                   LLVMBuildMul(b, row, Tk, ""));
  }
  if (at.table >= 0) { /* head bh mod H's row of the table, padded when it fits */
    LLVMValueRef h = LLVMBuildURem(b, bh, cg_dim(c, qt->dims[1]), "");
    LLVMValueRef row = cg_gep(c, c->f32, cg_value_ptr(c, n->inputs[at.table]),
                              LLVMBuildMul(b, h, cg_i64(c, 2 * at.R + 1), ""));
    a.bias = row;
    if (a.bias_padded) {
      a.bias = a.extra;
      pad_bias_row(c, &a, row);
    }
  }

  cg_attn_reset(c, &a);

  cg_attn_rows q = {.Q = Q, .qbase = qbase, .rows = rows, .qpos = i0};
  if (can_split) part_range(c, &sp, part, &q);
  if (cached) { /* the kept positions, then this run's from p */
    q.qpos = LLVMBuildAdd(b, i0, cg_session(c, SEQRT_SYM_POSITION), "");
    visit_kept(c, &a, &q, n, bh, window);
  }
  cg_attn_keys(c, &a, &q, K, V, kbase, cached ? cg_session(c, SEQRT_SYM_POSITION) : zero, Tk,
               causal, window);

  if (!can_split) {
    cg_attn_finish(c, &a, rows, qbase, O);
  } else {
    cg_if whole;
    cg_if_begin(c, &whole, LLVMBuildICmp(b, LLVMIntEQ, sp.parts, one, ""));
    cg_attn_finish(c, &a, rows, qbase, O);
    cg_if_else(c, &whole);
    keep_partial(c, &a, &sp, bh, part);
    cg_if_end(c, &whole);
  }
  cg_loop_end(c, &it);

  if (can_split) { /* every part kept: combine them (the same branch in every thread) */
    cg_if parts;
    cg_if_begin(c, &parts, LLVMBuildICmp(b, LLVMIntSGT, sp.parts, one, ""));
    cg_barrier(c);
    combine_parts(c, &a, &sp, BH, O);
    cg_if_end(c, &parts);
  }
}
