/*
 * gemm.c: C = A @ B (+ epilogue) for f32, emitted inline as LLVM IR.
 *
 * The heart is a tile: an mr x (nv vectors) block of C held in registers as
 * accumulators while k runs, each step broadcasting A[i, p] and multiplying
 * it into a row of B (BLIS's micro-kernel). Each thread takes its rows and
 * columns of C, then one of three paths by its number of rows:
 *
 *  - Packed (many rows, or a large B): k is cut into blocks of KC, rows into
 *    blocks of MC (A's MC x KC block stays in L2) and n into panels of NR
 *    columns; each KC x NR panel of B is copied into a stack buffer
 *    (contiguous and aligned; zero past n; transposed in registers when
 *    trans_b) that stays in L1 while the block's row tiles run over it.
 *    Between k blocks C is stored and added back; the epilogue runs with the
 *    last block.
 *  - Direct (few rows, B not transposed): B has too little reuse to pay for
 *    copies, so tiles read it in place with masked loads, over all of k at
 *    once; a single row uses a wide tile to keep enough independent sums in
 *    flight (the batch-1 RNN step).
 *  - Dot (1 to DOT_ROWS rows, trans_b): C[i, j] is the dot product of two
 *    contiguous rows; w of them are summed in vectors and folded together.
 *
 * Tile rows past the end repeat the last row (every load stays in bounds)
 * and are masked off at the store, as are columns past n. Threads split rows
 * in whole tiles when there are at least two per thread, else columns in
 * whole vectors, so m = 1 still shares its n.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

/* the largest tile: rows times vectors, a bound for the accumulator arrays */
#define MAX_ACC 64
#define MAX_NV 8

/* k block of the packed path: KC x NR floats of B stay in L1 */
#define KC 256
/* row tiles per block of the packed path: A's MC_TILES * MR x KC block stays in L2 */
#define MC_TILES 64
/* thread rows up to which B is read in place when the thread's columns of B
 * have at most DIRECT_B floats (so that they stay in cache across the passes) */
#define DIRECT_ROWS 64
#define DIRECT_B (1 << 20)
/* k steps per block of the direct path's several-row tiles: the block of a
 * tile's columns of B (DIRECT_KB x dnv vectors, 32 KB at AVX-512) stays in
 * L1 while the thread's row tiles pass */
#define DIRECT_KB 128
/* thread rows up to which trans_b uses dot products rather than a packed panel */
#define DOT_ROWS 3
/* k steps per iteration of a tile's inner loop */
#define UNROLL 4

/* tile shapes for a vector width: packed mr x nv, direct mr x nv, one row x nv */
typedef struct shapes {
  int mr, nv;   /* packed path tile (mr is also the row unit of the thread split) */
  int dmr, dnv; /* direct path tile for several rows */
  int onv;      /* direct path tile for a single row: vectors */
} shapes;

static shapes shapes_for(int w) {
  /* 32 vector registers with AVX-512, 16 below it */
  if (w >= 16) return (shapes){8, 2, 4, 4, 8};
  return (shapes){6, 2, 4, 2, 4};
}

/* what every helper needs */
typedef struct gx {
  LLVMModuleRef mod;                  /* for intrinsic declarations */
  LLVMBuilderRef b;                   /* emits at its position */
  LLVMContextRef cx;                  /* the module's context */
  const cg_gemm *g;                   /* the request */
  int w;                              /* floats per vector */
  shapes s;                           /* tile shapes for w */
  LLVMTypeRef f32, i1, i32, i64, ptr; /* scalar types */
  LLVMTypeRef vf, vm, vi32;           /* <w x float>, <w x i1>, <w x i32> */
  LLVMValueRef m, n, k;               /* i64 sizes */
} gx;

static LLVMValueRef i64c(gx *x, int64_t v) { return LLVMConstInt(x->i64, (uint64_t)v, 1); }

static LLVMValueRef add(gx *x, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildAdd(x->b, a, b, "");
}
static LLVMValueRef sub(gx *x, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSub(x->b, a, b, "");
}
static LLVMValueRef mul(gx *x, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildMul(x->b, a, b, "");
}
static LLVMValueRef lt(gx *x, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildICmp(x->b, LLVMIntSLT, a, b, "");
}
static LLVMValueRef min_(gx *x, LLVMValueRef a, LLVMValueRef b) {
  return cg_build_smin(x->b, a, b);
}
static LLVMValueRef max_(gx *x, LLVMValueRef a, LLVMValueRef b) {
  return cg_build_smax(x->b, a, b);
}
/* ceil(a / b) for a >= 0, b > 0 */
static LLVMValueRef cdiv(gx *x, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildUDiv(x->b, add(x, a, sub(x, b, i64c(x, 1))), b, "");
}

static LLVMValueRef gep(gx *x, LLVMValueRef p, LLVMValueRef idx) {
  return LLVMBuildGEP2(x->b, x->f32, p, &idx, 1, "");
}

/* vector of w copies of a scalar */
static LLVMValueRef splat(gx *x, LLVMValueRef s) { return cg_build_splat(x->b, s, x->w); }

/* lanes whose index is below rem (i64, any value) */
static LLVMValueRef mask_below(gx *x, LLVMValueRef rem) {
  return cg_build_mask_below(x->b, rem, x->w);
}

static LLVMValueRef call_intrinsic(gx *x, const char *name, LLVMTypeRef *types, unsigned ntypes,
                                   LLVMValueRef *args, unsigned nargs) {
  return cg_build_intrinsic(x->b, name, types, (int)ntypes, args, (int)nargs);
}

/* <w x float> at p: plain load when mask is NULL, else masked-off lanes read 0 */
static LLVMValueRef load_vec(gx *x, LLVMValueRef p, LLVMValueRef mask, unsigned align) {
  return cg_build_load_vec(x->b, x->vf, p, mask, align);
}

static void store_vec(gx *x, LLVMValueRef v, LLVMValueRef p, LLVMValueRef mask, unsigned align) {
  cg_build_store_vec(x->b, v, p, mask, align);
}

/* prefetch for reading (0) or writing (1), into all cache levels */
static void prefetch(gx *x, LLVMValueRef p, int write) {
  LLVMValueRef args[4] = {p, LLVMConstInt(x->i32, (uint64_t)write, 0), LLVMConstInt(x->i32, 3, 0),
                          LLVMConstInt(x->i32, 1, 0)};
  call_intrinsic(x, "llvm.prefetch", &x->ptr, 1, args, 4);
}

/* a counted loop carrying values around (build.c); begin leaves the builder in its body */
typedef cg_loop loop;
static void loop_begin(gx *x, loop *l, LLVMValueRef lo, LLVMValueRef hi, int ncarry,
                       const LLVMValueRef *init) {
  cg_build_loop_begin(x->b, l, lo, hi, ncarry, init);
}
/* closes the body (next: the carried values' new values) and goes on after the loop */
static void loop_end(gx *x, loop *l, LLVMValueRef step, const LLVMValueRef *next) {
  cg_build_loop_end(x->b, l, step, next);
}

/* one tile of C: rows [i, i + mr) and nv vectors from column j */
typedef struct tile {
  int mr, nv;            /* shape */
  LLVMValueRef i, j;     /* i64 first row and column */
  LLVMValueRef mend;     /* i64 rows at and past mend are padding */
  LLVMValueRef nend;     /* i64 columns at and past nend are padding */
  LLVMValueRef a0;       /* i64 column of A where this k range starts */
  LLVMValueRef kc;       /* i64 k steps */
  LLVMValueRef bp;       /* ptr to B's row of the first k step, at column j */
  LLVMValueRef bstride;  /* i64 floats between B's rows at bp */
  bool packed;           /* bp is the aligned panel: plain loads; else masked loads */
  LLVMValueRef *colmask; /* [nv] lanes inside n */
  LLVMValueRef first;    /* i1: start from 0 rather than C; NULL = always */
  LLVMValueRef scale_old; /* i1: the C added is first scaled by row_scale (the first k
                             block of a row_scale GEMM), NULL: never */
  LLVMValueRef last;     /* i1: apply the epilogue; NULL = always */
} tile;

/* one k step: acc[r * nv + v] += A[row r, p] * B[p, vector v] */
static void tile_step(gx *x, const tile *t, LLVMValueRef *arow, LLVMValueRef p, LLVMValueRef *acc) {
  LLVMValueRef bv[MAX_NV];
  LLVMValueRef brow = gep(x, t->bp, mul(x, p, t->bstride));
  for (int v = 0; v < t->nv; v++) {
    LLVMValueRef q = gep(x, brow, i64c(x, (int64_t)v * x->w));
    bv[v] = t->packed ? load_vec(x, q, NULL, 64) : load_vec(x, q, t->colmask[v], 4);
  }
  for (int r = 0; r < t->mr; r++) {
    LLVMValueRef a = LLVMBuildLoad2(x->b, x->f32, gep(x, arow[r], p), "");
    LLVMSetAlignment(a, 4);
    LLVMValueRef as = splat(x, a);
    for (int v = 0; v < t->nv; v++) {
      LLVMValueRef args[3] = {as, bv[v], acc[r * t->nv + v]};
      acc[r * t->nv + v] = call_intrinsic(x, "llvm.fmuladd", &x->vf, 1, args, 3);
    }
  }
}

/* a shared GEMM's epilogue on C[r0..r1, c0..c1), just stored */
static void call_tile_epi(gx *x, LLVMValueRef r0, LLVMValueRef r1, LLVMValueRef c0,
                          LLVMValueRef c1) {
  const cg_gemm *g = x->g;
  /* the shared GEMM takes a null epilogue for none: a branch per tile */
  LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(x->b));
  LLVMBasicBlockRef call = LLVMAppendBasicBlockInContext(x->cx, fn, "gemm.epi_call");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(x->cx, fn, "gemm.epi_done");
  LLVMBuildCondBr(x->b, LLVMBuildIsNull(x->b, g->tile_epi, ""), done, call);
  LLVMPositionBuilderAtEnd(x->b, call);
  LLVMValueRef args[] = {g->tile_ctx, g->c, g->ldc, r0, r1, c0, c1};
  LLVMBuildCall2(x->b, cg_gemm_epi_type(x->cx), g->tile_epi, args, 7, "");
  LLVMBuildBr(x->b, done);
  LLVMPositionBuilderAtEnd(x->b, done);
}

/* stores the finished sums, through the epilogue when `epi` */
static void tile_store(gx *x, const tile *t, LLVMValueRef *acc, LLVMValueRef *crow,
                       LLVMValueRef *rowc, LLVMValueRef *cmask, bool epi) {
  const cg_gemm *g = x->g;
  for (int r = 0; r < t->mr; r++)
    for (int v = 0; v < t->nv; v++) {
      LLVMValueRef val = acc[r * t->nv + v];
      LLVMValueRef mask = cmask[r * t->nv + v];
      if (epi && g->epilogue) {
        LLVMValueRef col = add(x, t->j, i64c(x, (int64_t)v * x->w));
        val = g->epilogue(g->user, x->b, val, rowc[r], col, mask);
      }
      store_vec(x, val, gep(x, crow[r], i64c(x, (int64_t)v * x->w)), mask, 4);
    }
  if (epi && g->tile_epi)
    call_tile_epi(x, t->i, min_(x, add(x, t->i, i64c(x, t->mr)), t->mend), t->j,
                  min_(x, add(x, t->j, i64c(x, (int64_t)t->nv * x->w)), t->nend));
}

static void emit_tile(gx *x, const tile *t) {
  const cg_gemm *g = x->g;
  int mr = t->mr, nv = t->nv, nacc = mr * nv;
  IR_ASSERT(nacc <= MAX_ACC && nv <= MAX_NV);
  LLVMValueRef arow[MAX_ACC], crow[MAX_ACC], rowc[MAX_ACC], cmask[MAX_ACC], acc[MAX_ACC];
  LLVMValueRef lastrow = sub(x, t->mend, i64c(x, 1));
  LLVMValueRef notfirst = t->first ? LLVMBuildNot(x->b, t->first, "") : NULL;
  for (int r = 0; r < mr; r++) {
    LLVMValueRef row = add(x, t->i, i64c(x, r));
    LLVMValueRef inside = lt(x, row, t->mend);
    rowc[r] = LLVMBuildSelect(x->b, inside, row, lastrow, "");
    arow[r] = gep(x, g->a, add(x, mul(x, rowc[r], g->lda), t->a0));
    crow[r] = gep(x, g->c, add(x, mul(x, rowc[r], g->ldc), t->j));
    LLVMValueRef rmask = splat(x, inside);
    for (int v = 0; v < nv; v++) {
      cmask[r * nv + v] = LLVMBuildAnd(x->b, t->colmask[v], rmask, "");
      acc[r * nv + v] = LLVMConstNull(x->vf);
      /* C is needed only after the k loop: fetch it meanwhile */
      prefetch(x, gep(x, crow[r], i64c(x, (int64_t)v * x->w)), 1);
    }
  }

  /* k loop, UNROLL steps at a time, then the rest one by one */
  LLVMValueRef kmain = LLVMBuildAnd(x->b, t->kc, i64c(x, ~(int64_t)(UNROLL - 1)), "");
  loop l;
  loop_begin(x, &l, i64c(x, 0), kmain, nacc, acc);
  LLVMValueRef cur[MAX_ACC];
  memcpy(cur, l.carry, (size_t)nacc * sizeof *cur);
  for (int u = 0; u < UNROLL; u++) tile_step(x, t, arow, add(x, l.i, i64c(x, u)), cur);
  loop_end(x, &l, i64c(x, UNROLL), cur);
  loop lr;
  loop_begin(x, &lr, kmain, t->kc, nacc, l.carry);
  memcpy(cur, lr.carry, (size_t)nacc * sizeof *cur);
  tile_step(x, t, arow, lr.i, cur);
  loop_end(x, &lr, i64c(x, 1), cur);
  memcpy(acc, lr.carry, (size_t)nacc * sizeof *acc);
  if (notfirst) {
    /* a later k block adds to what the earlier ones stored */
    for (int r = 0; r < mr; r++)
      for (int v = 0; v < nv; v++) {
        LLVMValueRef lm = LLVMBuildAnd(x->b, cmask[r * nv + v], splat(x, notfirst), "");
        LLVMValueRef old = load_vec(x, gep(x, crow[r], i64c(x, (int64_t)v * x->w)), lm, 4);
        if (t->scale_old) {
          LLVMValueRef s = LLVMBuildLoad2(x->b, x->f32, gep(x, g->row_scale, rowc[r]), "");
          LLVMValueRef scaled = LLVMBuildFMul(x->b, old, splat(x, s), "");
          old = LLVMBuildSelect(x->b, t->scale_old, scaled, old, "");
        }
        acc[r * nv + v] = LLVMBuildFAdd(x->b, acc[r * nv + v], old, "");
      }
  }

  if (!(g->epilogue || g->tile_epi) || !t->last) {
    tile_store(x, t, acc, crow, rowc, cmask, true);
    return;
  }
  /* the epilogue belongs to the last k block only */
  LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(x->b));
  LLVMBasicBlockRef epi = LLVMAppendBasicBlockInContext(x->cx, fn, "gemm.epi");
  LLVMBasicBlockRef plain = LLVMAppendBasicBlockInContext(x->cx, fn, "gemm.partial");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(x->cx, fn, "gemm.stored");
  LLVMBuildCondBr(x->b, t->last, epi, plain);
  LLVMPositionBuilderAtEnd(x->b, epi);
  tile_store(x, t, acc, crow, rowc, cmask, true);
  LLVMBuildBr(x->b, done);
  LLVMPositionBuilderAtEnd(x->b, plain);
  tile_store(x, t, acc, crow, rowc, cmask, false);
  LLVMBuildBr(x->b, done);
  LLVMPositionBuilderAtEnd(x->b, done);
}

/* masks of the nv vectors from column j, lanes below nend */
static void column_masks(gx *x, LLVMValueRef j, LLVMValueRef nend, int nv, LLVMValueRef *mask) {
  LLVMValueRef rem = sub(x, nend, j);
  for (int v = 0; v < nv; v++) mask[v] = mask_below(x, sub(x, rem, i64c(x, (int64_t)v * x->w)));
}

/* the direct path's B at column j, k = 0: where its row starts and the
 * floats between rows (row-major B, or its column panel); *end is lowered to
 * the panel's end, where a tile must stop */
static LLVMValueRef direct_b(gx *x, LLVMValueRef j, LLVMValueRef *end, LLVMValueRef *stride) {
  const cg_gemm *g = x->g;
  *stride = g->ldb;
  if (g->b_panel_unit <= 0) return gep(x, g->b, j);
  /* B in column panels (cg_panel_plan): the panel's rows are wq floats apart */
  LLVMValueRef start, wq;
  cg_panel_at(x->b, j, g->b_panel_unit, cg_gemm_panel_cols(x->w), &start, &wq);
  *end = min_(x, *end, add(x, start, wq));
  *stride = wq;
  return gep(x, g->b, add(x, mul(x, start, x->k), sub(x, j, start)));
}

/*
 * Direct path, one row (the batch-1 RNN step): the wide single-row tile over
 * columns [n0, n1), B read in place over k in [k0, k0 + kc).
 */
static void direct_one_row(gx *x, LLVMValueRef m0, LLVMValueRef n0, LLVMValueRef n1,
                           LLVMValueRef k0, LLVMValueRef kc) {
  const cg_gemm *g = x->g;
  int nv = x->s.onv;
  /* the row of A all at once: in a scan step it is the state the other
   * threads just wrote, and the tile's k loop would meet each of its cache
   * lines as a miss of its own, one after the other. Only the k range
   * summed: before a split step's wait the others' part is still being
   * written, and reading it then slows the writers (measured) */
  loop lp;
  loop_begin(x, &lp, k0, add(x, k0, kc), 0, NULL);
  prefetch(x, gep(x, g->a, add(x, mul(x, m0, g->lda), lp.i)), 0);
  loop_end(x, &lp, i64c(x, 16), NULL);
  loop lj;
  loop_begin(x, &lj, n0, n1, 0, NULL);
  LLVMValueRef end = min_(x, add(x, lj.i, i64c(x, (int64_t)nv * x->w)), n1), bstride;
  LLVMValueRef b0 = direct_b(x, lj.i, &end, &bstride);
  LLVMValueRef colmask[MAX_NV];
  column_masks(x, lj.i, end, nv, colmask);
  tile t = {.mr = 1,
            .nv = nv,
            .i = m0,
            .j = lj.i,
            .mend = add(x, m0, i64c(x, 1)),
            .nend = end,
            .a0 = k0,
            .kc = kc,
            .bp = gep(x, b0, mul(x, k0, bstride)),
            .bstride = bstride,
            .colmask = colmask,
            .first = g->accumulate ? LLVMConstInt(x->i1, 0, 0) : NULL,
            .scale_old = g->row_scale ? LLVMConstInt(x->i1, 1, 0) : NULL,
            .last = g->partial ? LLVMBuildNot(x->b, g->partial, "") : NULL};
  emit_tile(x, &t);
  loop_end(x, &lj, sub(x, end, lj.i), NULL);
}

/*
 * Direct path, several rows: dmr-row tiles. Each tile's columns of B are cut
 * into blocks of DIRECT_KB k steps, and every row tile of the thread runs
 * over a block while it is in L1: B comes from L2 (or memory) once per call
 * whatever the rows. (Rows outside, B's columns inside, read all of the
 * thread's B once per row tile: 64 rows of a row-major 512 x 2048 B, 2 MB a
 * thread, came from L3 16 times.) Between blocks C holds the partial sums;
 * the epilogue runs with the last. k = 0 still runs one (empty) block, which
 * stores zeros and the epilogue.
 */
static void direct_rows(gx *x, LLVMValueRef m0, LLVMValueRef m1, LLVMValueRef n0,
                        LLVMValueRef n1, LLVMValueRef k0, LLVMValueRef kc) {
  const cg_gemm *g = x->g;
  int mr = x->s.dmr, nv = x->s.dnv;
  LLVMValueRef kend = add(x, k0, kc);
  loop lj;
  loop_begin(x, &lj, n0, n1, 0, NULL);
  LLVMValueRef end = min_(x, add(x, lj.i, i64c(x, (int64_t)nv * x->w)), n1), bstride;
  LLVMValueRef b0 = direct_b(x, lj.i, &end, &bstride);
  LLVMValueRef colmask[MAX_NV];
  column_masks(x, lj.i, end, nv, colmask);
  loop lk;
  loop_begin(x, &lk, k0, max_(x, kend, add(x, k0, i64c(x, 1))), 0, NULL);
  LLVMValueRef first = g->accumulate ? LLVMConstInt(x->i1, 0, 0)
                                     : LLVMBuildICmp(x->b, LLVMIntEQ, lk.i, k0, "");
  LLVMValueRef last =
      LLVMBuildICmp(x->b, LLVMIntSGE, add(x, lk.i, i64c(x, DIRECT_KB)), kend, "");
  if (g->partial) last = LLVMBuildAnd(x->b, last, LLVMBuildNot(x->b, g->partial, ""), "");
  LLVMValueRef kb = min_(x, i64c(x, DIRECT_KB), sub(x, kend, lk.i));
  LLVMValueRef bp = gep(x, b0, mul(x, lk.i, bstride));
  loop li;
  loop_begin(x, &li, m0, m1, 0, NULL);
  tile t = {.mr = mr,
            .nv = nv,
            .i = li.i,
            .j = lj.i,
            .mend = m1,
            .nend = end,
            .a0 = lk.i,
            .kc = kb,
            .bp = bp,
            .bstride = bstride,
            .colmask = colmask,
            .first = first,
            .scale_old = g->row_scale ? LLVMBuildICmp(x->b, LLVMIntEQ, lk.i, k0, "") : NULL,
            .last = last};
  emit_tile(x, &t);
  loop_end(x, &li, i64c(x, mr), NULL);
  loop_end(x, &lk, i64c(x, DIRECT_KB), NULL);
  loop_end(x, &lj, sub(x, end, lj.i), NULL);
}

/* Direct path: rows [m0, m1) (a few), columns [n0, n1), B read in place. */
static void emit_direct(gx *x, LLVMValueRef m0, LLVMValueRef m1, LLVMValueRef n0, LLVMValueRef n1) {
  const cg_gemm *g = x->g;
  /* the k range summed */
  LLVMValueRef k0 = g->k_hi ? g->k_lo : i64c(x, 0), kc = g->k_hi ? sub(x, g->k_hi, g->k_lo) : x->k;
  LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(x->b));
  LLVMBasicBlockRef one = LLVMAppendBasicBlockInContext(x->cx, fn, "gemm.onerow");
  LLVMBasicBlockRef many = LLVMAppendBasicBlockInContext(x->cx, fn, "gemm.rows");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(x->cx, fn, "gemm.direct.done");
  LLVMValueRef single = LLVMBuildICmp(x->b, LLVMIntEQ, sub(x, m1, m0), i64c(x, 1), "");
  LLVMBuildCondBr(x->b, single, one, many);
  LLVMPositionBuilderAtEnd(x->b, one);
  direct_one_row(x, m0, n0, n1, k0, kc);
  LLVMBuildBr(x->b, done);
  LLVMPositionBuilderAtEnd(x->b, many);
  direct_rows(x, m0, m1, n0, n1, k0, kc);
  LLVMBuildBr(x->b, done);
  LLVMPositionBuilderAtEnd(x->b, done);
}

/*
 * Folds w vectors of w lanes into one vector whose lane c is the sum of
 * vector c's lanes: log2(w) rounds, each adding the halves of every block of
 * lanes of two vectors into one (w - 1 additions in all, not w reductions).
 */
static LLVMValueRef fold_sums(gx *x, LLVMValueRef *v) {
  LLVMValueRef cur[16];
  memcpy(cur, v, (size_t)x->w * sizeof *cur);
  for (int n = x->w, blk = x->w; n > 1; n /= 2, blk /= 2) {
    /* cur[i] holds w/n sums in blocks of blk lanes; pair them up into blocks of blk/2 */
    LLVMValueRef lo[16], hi[16];
    int idx = 0;
    for (int src = 0; src < 2; src++)
      for (int j = 0; j < x->w / blk; j++)
        for (int l = 0; l < blk / 2; l++, idx++) {
          lo[idx] = LLVMConstInt(x->i32, (uint64_t)(src * x->w + j * blk + l), 0);
          hi[idx] = LLVMConstInt(x->i32, (uint64_t)(src * x->w + j * blk + blk / 2 + l), 0);
        }
    LLVMValueRef plo = LLVMConstVector(lo, (unsigned)x->w),
                 phi = LLVMConstVector(hi, (unsigned)x->w);
    for (int i = 0; i < n / 2; i++) {
      LLVMValueRef a = LLVMBuildShuffleVector(x->b, cur[2 * i], cur[2 * i + 1], plo, "");
      LLVMValueRef c = LLVMBuildShuffleVector(x->b, cur[2 * i], cur[2 * i + 1], phi, "");
      cur[i] = LLVMBuildFAdd(x->b, a, c, "");
    }
  }
  return cur[0];
}

/*
 * Dot path (trans_b, few rows): C[i, j] is the dot product of two contiguous
 * rows, A's row i and B's row j. w columns at a time, each summed in its own
 * vector along k; fold_sums then makes the vector of C[i, j .. j + w).
 */
static void emit_dot(gx *x, LLVMValueRef m0, LLVMValueRef m1, LLVMValueRef n0, LLVMValueRef n1) {
  const cg_gemm *g = x->g;
  int w = x->w;
  loop li;
  loop_begin(x, &li, m0, m1, 0, NULL);
  LLVMValueRef arow = gep(x, g->a, mul(x, li.i, g->lda));
  LLVMValueRef crow = gep(x, g->c, mul(x, li.i, g->ldc));
  loop lj;
  loop_begin(x, &lj, n0, n1, 0, NULL);
  LLVMValueRef colmask = mask_below(x, sub(x, n1, lj.i));
  /* B's rows for the w columns; those past n repeat the last one (masked at the store) */
  LLVMValueRef brow[16], acc[16];
  LLVMValueRef lastcol = sub(x, n1, i64c(x, 1));
  for (int c = 0; c < w; c++) {
    brow[c] = gep(x, g->b, mul(x, min_(x, add(x, lj.i, i64c(x, c)), lastcol), g->ldb));
    acc[c] = LLVMConstNull(x->vf);
  }
  LLVMValueRef kmain = LLVMBuildAnd(x->b, x->k, i64c(x, -(int64_t)w), "");
  loop lp;
  loop_begin(x, &lp, i64c(x, 0), kmain, w, acc);
  LLVMValueRef a = load_vec(x, gep(x, arow, lp.i), NULL, 4), next[16];
  for (int c = 0; c < w; c++) {
    LLVMValueRef args[3] = {a, load_vec(x, gep(x, brow[c], lp.i), NULL, 4), lp.carry[c]};
    next[c] = call_intrinsic(x, "llvm.fmuladd", &x->vf, 1, args, 3);
  }
  loop_end(x, &lp, i64c(x, w), next);
  /* the k tail in one masked step (no lanes when w divides k) */
  LLVMValueRef kmask = mask_below(x, sub(x, x->k, kmain));
  a = load_vec(x, gep(x, arow, kmain), kmask, 4);
  for (int c = 0; c < w; c++) {
    LLVMValueRef args[3] = {a, load_vec(x, gep(x, brow[c], kmain), kmask, 4), lp.carry[c]};
    acc[c] = call_intrinsic(x, "llvm.fmuladd", &x->vf, 1, args, 3);
  }
  LLVMValueRef sums = fold_sums(x, acc);
  if (g->epilogue) sums = g->epilogue(g->user, x->b, sums, li.i, lj.i, colmask);
  store_vec(x, sums, gep(x, crow, lj.i), colmask, 4);
  loop_end(x, &lj, i64c(x, w), NULL);
  /* a shared GEMM's epilogue once per row: a call per vector would cost more than its sums */
  if (g->tile_epi) call_tile_epi(x, li.i, add(x, li.i, i64c(x, 1)), n0, n1);
  loop_end(x, &li, i64c(x, 1), NULL);
}

/* a [KC * NR] float buffer in the function's entry block, 64-byte aligned */
static LLVMValueRef panel_buffer(gx *x, int nr) {
  LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(x->b));
  LLVMBasicBlockRef entry = LLVMGetEntryBasicBlock(fn);
  LLVMBuilderRef eb = LLVMCreateBuilderInContext(x->cx);
  LLVMValueRef first = LLVMGetFirstInstruction(entry);
  if (first)
    LLVMPositionBuilderBefore(eb, first);
  else
    LLVMPositionBuilderAtEnd(eb, entry);
  LLVMValueRef buf = LLVMBuildAlloca(eb, LLVMArrayType2(x->f32, (uint64_t)KC * nr), "gemm.panel");
  LLVMSetAlignment(buf, 64);
  LLVMDisposeBuilder(eb);
  return buf;
}

/* llvm.lifetime.start/end of the panel, so that several GEMMs in one function share stack */
static void lifetime(gx *x, const char *name, LLVMValueRef buf, int nr) {
  LLVMValueRef args[2] = {i64c(x, (int64_t)KC * nr * 4), buf};
  call_intrinsic(x, name, &x->ptr, 1, args, 2);
}

/* transposes the w x w block v[row][lane] in place: log2(w) rounds of block swaps */
static void transpose(gx *x, LLVMValueRef *v) {
  int w = x->w;
  for (int d = w / 2; d >= 1; d /= 2) {
    /* swap the off-diagonal d-blocks of rows i and i + d */
    LLVMValueRef lo[16], hi[16];
    for (int l = 0; l < w; l++) {
      bool upper = (l & d) != 0;
      lo[l] = LLVMConstInt(x->i32, (uint64_t)(upper ? w + l - d : l), 0);
      hi[l] = LLVMConstInt(x->i32, (uint64_t)(upper ? w + l : l + d), 0);
    }
    LLVMValueRef plo = LLVMConstVector(lo, (unsigned)w), phi = LLVMConstVector(hi, (unsigned)w);
    for (int i = 0; i < w; i++) {
      if (i & d) continue;
      LLVMValueRef a = v[i], b = v[i + d];
      v[i] = LLVMBuildShuffleVector(x->b, a, b, plo, "");
      v[i + d] = LLVMBuildShuffleVector(x->b, a, b, phi, "");
    }
  }
}

/*
 * Copies B[pc .. pc + kc, j .. j + NR) into panel[kc][NR], zero past nend.
 * With trans_b, B[j + c, pc + p] instead: w-long pieces of w rows of B are
 * loaded and transposed in registers (the panel's rows past kc, up to the
 * next multiple of w, get junk that no tile reads; columns past nend repeat
 * B's last row, masked off at the store).
 */
static void pack_panel(gx *x, LLVMValueRef panel, LLVMValueRef pc, LLVMValueRef kc, LLVMValueRef j,
                       LLVMValueRef nend, LLVMValueRef *colmask) {
  const cg_gemm *g = x->g;
  int w = x->w, nv = x->s.nv, nr = nv * w;
  if (g->trans_b) {
    LLVMValueRef rowp[MAX_NV * 16], last = sub(x, nend, i64c(x, 1));
    for (int c = 0; c < nr; c++) {
      LLVMValueRef row = min_(x, add(x, j, i64c(x, c)), last);
      rowp[c] = gep(x, g->b, add(x, mul(x, row, g->ldb), pc));
    }
    loop l;
    loop_begin(x, &l, i64c(x, 0), kc, 0, NULL);
    LLVMValueRef kmask = mask_below(x, sub(x, kc, l.i));
    for (int v = 0; v < nv; v++) {
      LLVMValueRef blk[16];
      for (int c = 0; c < w; c++) blk[c] = load_vec(x, gep(x, rowp[v * w + c], l.i), kmask, 4);
      transpose(x, blk);
      for (int q = 0; q < w; q++) {
        LLVMValueRef at = add(x, mul(x, add(x, l.i, i64c(x, q)), i64c(x, nr)), i64c(x, v * w));
        store_vec(x, blk[q], gep(x, panel, at), NULL, 64);
      }
    }
    loop_end(x, &l, i64c(x, w), NULL);
    return;
  }
  loop l;
  loop_begin(x, &l, i64c(x, 0), kc, 0, NULL);
  LLVMValueRef dst = gep(x, panel, mul(x, l.i, i64c(x, nr)));
  LLVMValueRef src = gep(x, g->b, add(x, mul(x, add(x, pc, l.i), g->ldb), j));
  for (int v = 0; v < nv; v++) {
    LLVMValueRef val = load_vec(x, gep(x, src, i64c(x, (int64_t)v * w)), colmask[v], 4);
    store_vec(x, val, gep(x, dst, i64c(x, (int64_t)v * w)), NULL, 64);
  }
  loop_end(x, &l, i64c(x, 1), NULL);
}

/* Packed path: rows [m0, m1), columns [n0, n1), k in blocks of KC. */
static void emit_packed(gx *x, LLVMValueRef m0, LLVMValueRef m1, LLVMValueRef n0, LLVMValueRef n1) {
  int mr = x->s.mr, nv = x->s.nv, nr = nv * x->w;
  LLVMValueRef panel = panel_buffer(x, nr);
  lifetime(x, "llvm.lifetime.start", panel, nr);
  /* k = 0 still runs one (empty) block, which stores zeros and the epilogue */
  loop lp;
  loop_begin(x, &lp, i64c(x, 0), max_(x, x->k, i64c(x, 1)), 0, NULL);
  LLVMValueRef pc = lp.i;
  LLVMValueRef kc = min_(x, i64c(x, KC), sub(x, x->k, pc));
  LLVMValueRef first = x->g->accumulate ? LLVMConstInt(x->i1, 0, 0)
                                         : LLVMBuildICmp(x->b, LLVMIntEQ, pc, i64c(x, 0), "");
  LLVMValueRef last = LLVMBuildICmp(x->b, LLVMIntSGE, add(x, pc, i64c(x, KC)), x->k, "");
  /* rows in blocks of MC, whose KC columns of A stay in L2 while the panels pass */
  int mc = mr * MC_TILES;
  loop lc;
  loop_begin(x, &lc, m0, m1, 0, NULL);
  LLVMValueRef cend = min_(x, add(x, lc.i, i64c(x, mc)), m1);
  loop lj;
  loop_begin(x, &lj, n0, n1, 0, NULL);
  LLVMValueRef colmask[MAX_NV];
  column_masks(x, lj.i, n1, nv, colmask);
  pack_panel(x, panel, pc, kc, lj.i, n1, colmask);
  loop li;
  loop_begin(x, &li, lc.i, cend, 0, NULL);
  tile t = {.mr = mr,
            .nv = nv,
            .i = li.i,
            .j = lj.i,
            .mend = m1,
            .nend = n1,
            .a0 = pc,
            .kc = kc,
            .bp = panel,
            .bstride = i64c(x, nr),
            .packed = true,
            .colmask = colmask,
            .first = first,
            .scale_old = x->g->row_scale ? LLVMBuildICmp(x->b, LLVMIntEQ, pc, i64c(x, 0), "") : NULL,
            .last = last};
  emit_tile(x, &t);
  loop_end(x, &li, i64c(x, mr), NULL);
  loop_end(x, &lj, i64c(x, nr), NULL);
  loop_end(x, &lc, i64c(x, mc), NULL);
  loop_end(x, &lp, i64c(x, KC), NULL);
  lifetime(x, "llvm.lifetime.end", panel, nr);
}

int64_t cg_gemm_panel_cols(int vec_width) {
  return (int64_t)shapes_for(vec_width).onv * vec_width;
}

bool cg_gemm_reads_b_in_place(int vec_width, int64_t rows, int64_t k, int64_t cols) {
  return rows <= shapes_for(vec_width).mr || (rows <= DIRECT_ROWS && k * cols <= DIRECT_B);
}

static void emit_gemm(LLVMModuleRef m, LLVMBuilderRef b, const cg_gemm *g) {
  gx x = {0};
  x.mod = m;
  x.b = b;
  x.cx = LLVMGetModuleContext(m);
  x.g = g;
  x.w = g->vec_width;
  IR_ASSERT(x.w == 16 || x.w == 8 || x.w == 4);
  x.s = shapes_for(x.w);
  x.f32 = LLVMFloatTypeInContext(x.cx);
  x.i1 = LLVMInt1TypeInContext(x.cx);
  x.i32 = LLVMInt32TypeInContext(x.cx);
  x.i64 = LLVMInt64TypeInContext(x.cx);
  x.ptr = LLVMPointerTypeInContext(x.cx, 0);
  x.vf = LLVMVectorType(x.f32, (unsigned)x.w);
  x.vm = LLVMVectorType(x.i1, (unsigned)x.w);
  x.vi32 = LLVMVectorType(x.i32, (unsigned)x.w);
  x.m = g->m, x.n = g->n, x.k = g->k;

  /* this thread's rows and columns: whole MR-row blocks when there are at
   * least two per thread, else whole vectors of columns */
  LLVMValueRef ith = LLVMBuildSExt(b, g->ith, x.i64, ""), nth = LLVMBuildSExt(b, g->nth, x.i64, "");
  LLVMValueRef ith1 = add(&x, ith, i64c(&x, 1));
  LLVMValueRef mr = i64c(&x, x.s.mr), w = i64c(&x, x.w);
  LLVMValueRef mb = cdiv(&x, x.m, mr);
  LLVMValueRef by_rows = LLVMBuildICmp(b, LLVMIntSGE, mb, mul(&x, nth, i64c(&x, 2)), "");
  LLVMValueRef r0 = min_(&x, x.m, mul(&x, LLVMBuildUDiv(b, mul(&x, ith, mb), nth, ""), mr));
  LLVMValueRef r1 = min_(&x, x.m, mul(&x, LLVMBuildUDiv(b, mul(&x, ith1, mb), nth, ""), mr));
  LLVMValueRef nvec = cdiv(&x, x.n, w);
  LLVMValueRef c0 = min_(&x, x.n, mul(&x, LLVMBuildUDiv(b, mul(&x, ith, nvec), nth, ""), w));
  LLVMValueRef c1 = min_(&x, x.n, mul(&x, LLVMBuildUDiv(b, mul(&x, ith1, nvec), nth, ""), w));
  LLVMValueRef m0 = LLVMBuildSelect(b, by_rows, r0, i64c(&x, 0), "");
  LLVMValueRef m1 = LLVMBuildSelect(b, by_rows, r1, x.m, "");
  LLVMValueRef n0 = LLVMBuildSelect(b, by_rows, i64c(&x, 0), c0, "");
  LLVMValueRef n1 = LLVMBuildSelect(b, by_rows, x.n, c1, "");
  if (g->n_lo) { /* the caller's window, all rows */
    m0 = i64c(&x, 0), m1 = x.m;
    n0 = g->n_lo, n1 = g->n_hi;
  }

  IR_ASSERT(!(g->trans_b && g->b_panel_unit > 0));
  IR_ASSERT(!g->k_hi || g->b_panel_unit > 0);
  if (g->trans_b) {
    LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(b));
    LLVMBasicBlockRef packed = LLVMAppendBasicBlockInContext(x.cx, fn, "gemm.packed");
    LLVMBasicBlockRef dot = LLVMAppendBasicBlockInContext(x.cx, fn, "gemm.dot");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(x.cx, fn, "gemm.done");
    LLVMValueRef few = LLVMBuildICmp(b, LLVMIntSLE, sub(&x, m1, m0), i64c(&x, DOT_ROWS), "");
    LLVMBuildCondBr(b, few, dot, packed);
    LLVMPositionBuilderAtEnd(b, packed);
    emit_packed(&x, m0, m1, n0, n1);
    LLVMBuildBr(b, done);
    LLVMPositionBuilderAtEnd(b, dot);
    emit_dot(&x, m0, m1, n0, n1);
    LLVMBuildBr(b, done);
    LLVMPositionBuilderAtEnd(b, done);
    return;
  }
  /* only the direct path reads panels; and it is the only one possible when
   * the caller's bounds keep rows and B small (attention's P V) */
  bool direct_only = g->m_max > 0 && g->m_max <= DIRECT_ROWS && g->k_max > 0 &&
                     LLVMIsAConstantInt(x.n) &&
                     g->k_max * LLVMConstIntGetSExtValue(x.n) <= DIRECT_B;
  if (g->b_panel_unit > 0 || direct_only) {
    emit_direct(&x, m0, m1, n0, n1);
    return;
  }
  LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(b));
  LLVMBasicBlockRef packed = LLVMAppendBasicBlockInContext(x.cx, fn, "gemm.packed");
  LLVMBasicBlockRef direct = LLVMAppendBasicBlockInContext(x.cx, fn, "gemm.direct");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(x.cx, fn, "gemm.done");
  /* direct for at most MR rows, or up to DIRECT_ROWS when the thread's part of
   * B stays in cache across the passes (each pass of dmr rows reads all of it) */
  LLVMValueRef rows = sub(&x, m1, m0);
  LLVMValueRef bsize = mul(&x, x.k, sub(&x, n1, n0));
  LLVMValueRef small_b = LLVMBuildICmp(b, LLVMIntSLE, bsize, i64c(&x, DIRECT_B), "");
  LLVMValueRef few = LLVMBuildICmp(b, LLVMIntSLE, rows, i64c(&x, DIRECT_ROWS), "");
  LLVMValueRef direct_ok = LLVMBuildOr(b, LLVMBuildICmp(b, LLVMIntSLE, rows, mr, ""),
                                       LLVMBuildAnd(b, few, small_b, ""), "");
  LLVMBuildCondBr(b, direct_ok, direct, packed);
  LLVMPositionBuilderAtEnd(b, packed);
  emit_packed(&x, m0, m1, n0, n1);
  LLVMBuildBr(b, done);
  LLVMPositionBuilderAtEnd(b, direct);
  emit_direct(&x, m0, m1, n0, n1);
  LLVMBuildBr(b, done);
  LLVMPositionBuilderAtEnd(b, done);
}

LLVMTypeRef cg_gemm_epi_type(LLVMContextRef cx) {
  LLVMTypeRef ptr = LLVMPointerTypeInContext(cx, 0), i64 = LLVMInt64TypeInContext(cx);
  LLVMTypeRef params[] = {ptr, ptr, i64, i64, i64, i64, i64};
  return LLVMFunctionType(LLVMVoidTypeInContext(cx), params, 7, 0);
}

/* the shared GEMM's arguments, in order */
enum { SG_A, SG_B, SG_C, SG_M, SG_N, SG_K, SG_LDA, SG_LDB, SG_LDC, SG_ITH, SG_NTH, SG_EPI, SG_CTX,
       SG_NLO, SG_NHI, SG_NARGS };

static LLVMTypeRef shared_type(LLVMContextRef cx) {
  LLVMTypeRef ptr = LLVMPointerTypeInContext(cx, 0), i64 = LLVMInt64TypeInContext(cx);
  LLVMTypeRef i32 = LLVMInt32TypeInContext(cx);
  LLVMTypeRef params[SG_NARGS] = {ptr, ptr, ptr, i64, i64, i64, i64, i64,
                                  i64, i32, i32, ptr, ptr, i64, i64};
  return LLVMFunctionType(LLVMVoidTypeInContext(cx), params, SG_NARGS, 0);
}

/* the module links seqc's precompiled shared GEMMs (gemm_library.c) rather
 * than defining them: cg_module_build marks it so for the JIT */
static bool from_library(LLVMModuleRef m) {
  return LLVMGetModuleFlag(m, CG_GEMM_LIBRARY_FLAG, strlen(CG_GEMM_LIBRARY_FLAG)) != NULL;
}

/*
 * The module's shared GEMM of a variant (trans_b, accumulate, a column
 * window or not), made on first use (only declared when the module links
 * the library's): the whole GEMM of emit_gemm with every
 * size an argument, and the epilogue a call per finished tile (a null
 * tile_epi: none). Named kernel.* so that a parallel compile deals it to one
 * part like a kernel (which makes it external there); internal here, so
 * that two models' objects link into one program. Without a window, n_lo
 * and n_hi are unused.
 */
/* a specialized shared GEMM's value of an argument: the call site's when it
 * is a constant (baked in), else the parameter; the name records which */
static LLVMValueRef bake(const cg_gemm *g, LLVMValueRef at_site, LLVMValueRef param) {
  return g->specialize && LLVMIsAConstantInt(at_site) ? at_site : param;
}

static void name_baked(char *name, size_t size, const char *key, LLVMValueRef v) {
  if (!LLVMIsAConstantInt(v)) return;
  size_t len = strlen(name);
  snprintf(name + len, size - len, ".%s%lld", key, LLVMConstIntGetSExtValue(v));
}

static LLVMValueRef shared_gemm(LLVMModuleRef m, const cg_gemm *g) {
  char name[256];
  bool window = g->n_lo != NULL;
  snprintf(name, sizeof name, "kernel.gemm.t%d.a%d.n%d.w%d", g->trans_b, g->accumulate, window,
           g->vec_width);
  if (g->specialize) {
    const char *keys[] = {"m", "n", "k", "lda", "ldb", "ldc", "ith", "nth"};
    LLVMValueRef vals[] = {g->m, g->n, g->k, g->lda, g->ldb, g->ldc, g->ith, g->nth};
    for (int i = 0; i < 8; i++) name_baked(name, sizeof name, keys[i], vals[i]);
    if (!g->tile_epi) snprintf(name + strlen(name), sizeof name - strlen(name), ".e0");
    if (g->row_scale) snprintf(name + strlen(name), sizeof name - strlen(name), ".rs");
    if (g->m_max > 0 || g->k_max > 0)
      snprintf(name + strlen(name), sizeof name - strlen(name), ".mmax%lld.kmax%lld",
               (long long)g->m_max, (long long)g->k_max);
  }
  LLVMValueRef fn = LLVMGetNamedFunction(m, name);
  if (fn) return fn;
  LLVMContextRef cx = LLVMGetModuleContext(m);
  fn = LLVMAddFunction(m, name, shared_type(cx));
  if (from_library(m) && (!g->specialize || cg_gemm_library_has(name)))
    return fn; /* external: the library's */
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  static const char *const attrs[] = {"nounwind", "noinline"};
  for (int a = 0; a < 2; a++) {
    unsigned kind = LLVMGetEnumAttributeKindForName(attrs[a], strlen(attrs[a]));
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(cx, kind, 0));
  }
  LLVMBuilderRef b = LLVMCreateBuilderInContext(cx);
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(cx, fn, "entry"));
  cg_gemm sg = {.a = LLVMGetParam(fn, SG_A),
                .b = LLVMGetParam(fn, SG_B),
                .c = LLVMGetParam(fn, SG_C),
                .m = bake(g, g->m, LLVMGetParam(fn, SG_M)),
                .n = bake(g, g->n, LLVMGetParam(fn, SG_N)),
                .k = bake(g, g->k, LLVMGetParam(fn, SG_K)),
                .lda = bake(g, g->lda, LLVMGetParam(fn, SG_LDA)),
                .ldb = bake(g, g->ldb, LLVMGetParam(fn, SG_LDB)),
                .ldc = bake(g, g->ldc, LLVMGetParam(fn, SG_LDC)),
                .trans_b = g->trans_b,
                .accumulate = g->accumulate,
                .ith = bake(g, g->ith, LLVMGetParam(fn, SG_ITH)),
                .nth = bake(g, g->nth, LLVMGetParam(fn, SG_NTH)),
                .vec_width = g->vec_width,
                .m_max = g->specialize ? g->m_max : 0,
                .k_max = g->specialize ? g->k_max : 0,
                .tile_ctx = LLVMGetParam(fn, SG_CTX)};
  if (window) sg.n_lo = LLVMGetParam(fn, SG_NLO), sg.n_hi = LLVMGetParam(fn, SG_NHI);
  /* the epilogue is optional: call_tile_epi skips a null one (a specialized
   * GEMM called without one has none) */
  sg.tile_epi = g->specialize && !g->tile_epi ? NULL : LLVMGetParam(fn, SG_EPI);
  if (g->row_scale) sg.row_scale = LLVMGetParam(fn, SG_CTX), sg.tile_ctx = NULL;
  emit_gemm(m, b, &sg);
  LLVMBuildRetVoid(b);
  LLVMDisposeBuilder(b);
  return fn;
}

void cg_emit_gemm(LLVMModuleRef m, LLVMBuilderRef b, const cg_gemm *g) {
  if (!g->shared) {
    emit_gemm(m, b, g);
    return;
  }
  IR_ASSERT(!g->epilogue && g->b_panel_unit <= 0 && !g->k_hi);
  IR_ASSERT(!(g->accumulate && g->trans_b)); /* the dot path does not accumulate */
  IR_ASSERT(!g->row_scale || (g->specialize && g->accumulate && !g->tile_epi));
  LLVMContextRef cx = LLVMGetModuleContext(m);
  LLVMValueRef null = LLVMConstPointerNull(LLVMPointerTypeInContext(cx, 0));
  LLVMValueRef zero = LLVMConstInt(LLVMInt64TypeInContext(cx), 0, 0);
  LLVMValueRef args[SG_NARGS] = {
      g->a,   g->b,   g->c,   g->m,   g->n,   g->k, g->lda, g->ldb, g->ldc, g->ith, g->nth,
      g->tile_epi ? g->tile_epi : null,
      g->row_scale ? g->row_scale : g->tile_ctx ? g->tile_ctx : null,
      g->n_lo ? g->n_lo : zero,               g->n_hi ? g->n_hi : zero};
  LLVMBuildCall2(b, shared_type(cx), shared_gemm(m, g), args, SG_NARGS, "");
}

/* head dims and query tiles (tile_attention.c's choices) whose attention
 * products the library holds, at the usual key tile */
static const int64_t LIB_HEAD_DIMS[] = {16, 32, 64, 128};
static const int64_t LIB_TILE_Q[] = {32, 64};
#define LIB_TILE_K 128

void cg_gemm_library_define(LLVMModuleRef m, int vec_width) {
  LLVMContextRef cx = LLVMGetModuleContext(m);
  LLVMTypeRef i64 = LLVMInt64TypeInContext(cx);
  LLVMValueRef any = LLVMConstInt(i64, 0, 0); /* marks a window variant */
  for (int t = 0; t < 2; t++)
    for (int a = 0; a < 2 - t; a++) /* accumulate only without trans_b */
      for (int w = 0; w < 2; w++) {
        cg_gemm g = {.trans_b = t, .accumulate = a, .vec_width = vec_width, .n_lo = w ? any : NULL};
        LLVMSetLinkage(shared_gemm(m, &g), LLVMExternalLinkage);
      }
  /* attention's two products (and a relative attention's band, S-shaped
   * with tq + tk - 1 columns), specialized as the kernels specialize them:
   * rows and columns vary per tile (run-time), the rest is baked in */
  LLVMValueRef varies = LLVMGetUndef(i64);
  LLVMValueRef marker = LLVMConstPointerNull(LLVMPointerTypeInContext(cx, 0));
  for (size_t d = 0; d < sizeof LIB_HEAD_DIMS / sizeof *LIB_HEAD_DIMS; d++)
    for (size_t q = 0; q < sizeof LIB_TILE_Q / sizeof *LIB_TILE_Q; q++) {
      LLVMValueRef dh = LLVMConstInt(i64, (unsigned long long)LIB_HEAD_DIMS[d], 0);
      int64_t tq = LIB_TILE_Q[q];
      cg_gemm s, pv, band, unused;
      cg_attn_products(cx, vec_width, varies, varies, dh, tq, LIB_TILE_K, &s, &pv);
      pv.row_scale = marker;
      cg_attn_products(cx, vec_width, varies, varies, dh, tq, tq + LIB_TILE_K - 1, &band,
                       &unused);
      const cg_gemm *each[] = {&s, &pv, &band};
      for (int k = 0; k < 3; k++) LLVMSetLinkage(shared_gemm(m, each[k]), LLVMExternalLinkage);
    }
}
