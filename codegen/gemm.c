/*
 * gemm.c: C = A @ B (+ epilogue) for f32, emitted inline as LLVM IR.
 *
 * The heart is a tile: an mr x (nv vectors) block of C held in registers as
 * accumulators while k runs, each step broadcasting A[i, p] and multiplying
 * it into a row of B (BLIS's micro-kernel). Around it:
 *
 *  - Packed path (the thread has more than MR rows, or B is transposed): k is
 *    cut into blocks of KC and n into panels of NR columns; each KC x NR panel
 *    of B is copied into a stack buffer (contiguous, zero-padded past n, and
 *    transposed when trans_b) that stays in L1 while every row block of the
 *    thread's rows runs over it. C is loaded back between k blocks; the
 *    epilogue runs with the last one.
 *  - Direct path (at most MR rows, B as given): B has no reuse worth a copy,
 *    so tiles read it in place with masked loads; one row at a time uses a
 *    wide tile to keep enough independent sums in flight (the batch-1 RNN step).
 *
 * Rows past the end of a tile repeat the last row (so every load is in
 * bounds) and are masked off at the store; columns past n are masked. Threads
 * split rows in whole tiles when there are enough, else columns in vectors.
 */
#include <stdlib.h>
#include <string.h>

#include "cg.h"

/* the largest tile: rows times vectors, a bound for the accumulator arrays */
#define MAX_ACC 64
#define MAX_NV 8

/* k block of the packed path: KC x NR floats of B stay in L1 */
static int kc_(void) { const char *e = getenv("GEMM_KC"); return e ? atoi(e) : 256; }
#define KC kc_()
/* rows of B the packing loop prefetches ahead */
static int pa_(void) { const char *e = getenv("GEMM_PA"); return e ? atoi(e) : 16; }
#define PACK_AHEAD pa_()
/* k steps per iteration of a tile's inner loop */
#define UNROLL 4

/* tile shapes for a vector width: packed mr x nv, direct mr x nv, one row x nv */
typedef struct shapes {
  int mr, nv;     /* packed path tile (mr is also the row unit of the thread split) */
  int dmr, dnv;   /* direct path tile for several rows */
  int onv;        /* direct path tile for a single row: vectors */
} shapes;

static shapes shapes_for(int w) {
  /* 32 vector registers with AVX-512, 16 below it */
  if (getenv("GEMM_MR")) return (shapes){atoi(getenv("GEMM_MR")), atoi(getenv("GEMM_NV")), 4, 4, 8};
  if (w >= 16) return (shapes){8, 2, 4, 4, 8};
  return (shapes){6, 2, 4, 2, 4};
}

/* what every helper needs */
typedef struct gx {
  LLVMModuleRef mod;  /* for intrinsic declarations */
  LLVMBuilderRef b;   /* emits at its position */
  LLVMContextRef cx;  /* the module's context */
  const cg_gemm *g;   /* the request */
  int w;              /* floats per vector */
  shapes s;           /* tile shapes for w */
  LLVMTypeRef f32, i1, i32, i64, ptr; /* scalar types */
  LLVMTypeRef vf, vm, vi32, vi64;     /* <w x float>, <w x i1>, <w x i32>, <w x i64> */
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
  return LLVMBuildSelect(x->b, lt(x, a, b), a, b, "");
}
static LLVMValueRef max_(gx *x, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(x->b, lt(x, a, b), b, a, "");
}
/* ceil(a / b) for a >= 0, b > 0 */
static LLVMValueRef cdiv(gx *x, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildUDiv(x->b, add(x, a, sub(x, b, i64c(x, 1))), b, "");
}

static LLVMValueRef gep(gx *x, LLVMValueRef p, LLVMValueRef idx) {
  return LLVMBuildGEP2(x->b, x->f32, p, &idx, 1, "");
}

/* vector of w copies of a scalar */
static LLVMValueRef splat(gx *x, LLVMValueRef s, LLVMTypeRef vt) {
  LLVMValueRef v = LLVMBuildInsertElement(x->b, LLVMGetPoison(vt), s,
                                          LLVMConstInt(x->i32, 0, 0), "");
  LLVMValueRef zeros = LLVMConstNull(LLVMVectorType(x->i32, (unsigned)x->w));
  return LLVMBuildShuffleVector(x->b, v, LLVMGetPoison(vt), zeros, "");
}

/* <0, 1, ..., w-1> of the element type et */
static LLVMValueRef iota(gx *x, LLVMTypeRef et) {
  LLVMValueRef v[16];
  for (int i = 0; i < x->w; i++) v[i] = LLVMConstInt(et, (uint64_t)i, 0);
  return LLVMConstVector(v, (unsigned)x->w);
}

/* lanes whose index is below rem (i64, any value) */
static LLVMValueRef mask_below(gx *x, LLVMValueRef rem) {
  LLVMValueRef r = min_(x, max_(x, rem, i64c(x, 0)), i64c(x, x->w));
  r = LLVMBuildTrunc(x->b, r, x->i32, "");
  return LLVMBuildICmp(x->b, LLVMIntSLT, iota(x, x->i32), splat(x, r, x->vi32), "");
}

static LLVMValueRef call_intrinsic(gx *x, const char *name, LLVMTypeRef *types, unsigned ntypes,
                                   LLVMValueRef *args, unsigned nargs) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  IR_ASSERT(id != 0);
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(x->mod, id, types, ntypes);
  LLVMTypeRef fty = LLVMIntrinsicGetType(x->cx, id, types, ntypes);
  return LLVMBuildCall2(x->b, fty, fn, args, nargs, "");
}

/* <w x float> at p: plain load when mask is NULL, else masked-off lanes read 0 */
static LLVMValueRef load_vec(gx *x, LLVMValueRef p, LLVMValueRef mask, unsigned align) {
  if (!mask) {
    LLVMValueRef v = LLVMBuildLoad2(x->b, x->vf, p, "");
    LLVMSetAlignment(v, align);
    return v;
  }
  LLVMTypeRef types[2] = {x->vf, x->ptr};
  LLVMValueRef args[4] = {p, LLVMConstInt(x->i32, align, 0), mask, LLVMConstNull(x->vf)};
  return call_intrinsic(x, "llvm.masked.load", types, 2, args, 4);
}

static void store_vec(gx *x, LLVMValueRef v, LLVMValueRef p, LLVMValueRef mask, unsigned align) {
  if (!mask) {
    LLVMSetAlignment(LLVMBuildStore(x->b, v, p), align);
    return;
  }
  LLVMTypeRef types[2] = {x->vf, x->ptr};
  LLVMValueRef args[4] = {v, p, LLVMConstInt(x->i32, align, 0), mask};
  call_intrinsic(x, "llvm.masked.store", types, 2, args, 4);
}

/* prefetch for reading (0) or writing (1), into all cache levels */
static void prefetch(gx *x, LLVMValueRef p, int write) {
  LLVMValueRef args[4] = {p, LLVMConstInt(x->i32, (uint64_t)write, 0), LLVMConstInt(x->i32, 3, 0),
                          LLVMConstInt(x->i32, 1, 0)};
  call_intrinsic(x, "llvm.prefetch", &x->ptr, 1, args, 4);
}

/* a counted loop: for (i = lo; i < hi; i += step), carrying values around */
typedef struct loop {
  LLVMValueRef i;                   /* i64 induction variable */
  LLVMBasicBlockRef head, exit;     /* test block, block after the loop */
  int ncarry;                       /* carried values */
  LLVMValueRef carry[MAX_ACC];      /* their phis: current values in the body, final after */
} loop;

/* opens the loop and leaves the builder in its body */
static void loop_begin(gx *x, loop *l, LLVMValueRef lo, LLVMValueRef hi, int ncarry,
                       const LLVMValueRef *init) {
  LLVMBasicBlockRef pre = LLVMGetInsertBlock(x->b);
  LLVMValueRef fn = LLVMGetBasicBlockParent(pre);
  l->head = LLVMAppendBasicBlockInContext(x->cx, fn, "gemm.head");
  LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(x->cx, fn, "gemm.body");
  l->exit = LLVMAppendBasicBlockInContext(x->cx, fn, "gemm.exit");
  LLVMBuildBr(x->b, l->head);
  LLVMPositionBuilderAtEnd(x->b, l->head);
  l->i = LLVMBuildPhi(x->b, x->i64, "");
  LLVMAddIncoming(l->i, &lo, &pre, 1);
  IR_ASSERT(ncarry <= MAX_ACC);
  l->ncarry = ncarry;
  for (int c = 0; c < ncarry; c++) {
    l->carry[c] = LLVMBuildPhi(x->b, LLVMTypeOf(init[c]), "");
    LLVMAddIncoming(l->carry[c], (LLVMValueRef *)&init[c], &pre, 1);
  }
  LLVMBuildCondBr(x->b, lt(x, l->i, hi), body, l->exit);
  LLVMPositionBuilderAtEnd(x->b, body);
}

/* closes the body (next: the carried values' new values) and goes on after the loop */
static void loop_end(gx *x, loop *l, LLVMValueRef step, const LLVMValueRef *next) {
  LLVMValueRef inc = add(x, l->i, step);
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(x->b);
  LLVMBuildBr(x->b, l->head);
  LLVMAddIncoming(l->i, &inc, &latch, 1);
  for (int c = 0; c < l->ncarry; c++)
    LLVMAddIncoming(l->carry[c], (LLVMValueRef *)&next[c], &latch, 1);
  LLVMPositionBuilderAtEnd(x->b, l->exit);
}

/* one tile of C: rows [i, i + mr) and nv vectors from column j */
typedef struct tile {
  int mr, nv;             /* shape */
  LLVMValueRef i, j;      /* i64 first row and column */
  LLVMValueRef mend;      /* i64 rows at and past mend are padding */
  LLVMValueRef a0;        /* i64 column of A where this k range starts */
  LLVMValueRef kc;        /* i64 k steps */
  LLVMValueRef bp;        /* ptr to B's row of the first k step, at column j */
  LLVMValueRef bstride;   /* i64 floats between B's rows at bp */
  bool packed;            /* bp is the aligned panel: plain loads; else masked loads */
  LLVMValueRef *colmask;  /* [nv] lanes inside n */
  LLVMValueRef first;     /* i1: start from 0 rather than C; NULL = always */
  LLVMValueRef last;      /* i1: apply the epilogue; NULL = always */
} tile;

/* one k step: acc[r * nv + v] += A[row r, p] * B[p, vector v] */
static void tile_step(gx *x, const tile *t, LLVMValueRef *arow, LLVMValueRef p,
                      LLVMValueRef *acc) {
  const cg_gemm *g = x->g;
  LLVMValueRef bv[MAX_NV];
  LLVMValueRef brow = gep(x, t->bp, mul(x, p, t->bstride));
  for (int v = 0; v < t->nv; v++) {
    LLVMValueRef q = gep(x, brow, i64c(x, (int64_t)v * x->w));
    bv[v] = t->packed ? load_vec(x, q, NULL, 64) : load_vec(x, q, t->colmask[v], 4);
  }
  for (int r = 0; r < t->mr; r++) {
    LLVMValueRef a = LLVMBuildLoad2(x->b, x->f32, gep(x, arow[r], p), "");
    LLVMSetAlignment(a, 4);
    LLVMValueRef as = splat(x, a, x->vf);
    for (int v = 0; v < t->nv; v++) {
      LLVMValueRef args[3] = {as, bv[v], acc[r * t->nv + v]};
      acc[r * t->nv + v] = call_intrinsic(x, "llvm.fmuladd", &x->vf, 1, args, 3);
    }
  }
  (void)g;
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
    LLVMValueRef rmask = splat(x, inside, x->vm);
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
        LLVMValueRef lm = LLVMBuildAnd(x->b, cmask[r * nv + v], splat(x, notfirst, x->vm), "");
        LLVMValueRef old = load_vec(x, gep(x, crow[r], i64c(x, (int64_t)v * x->w)), lm, 4);
        acc[r * nv + v] = LLVMBuildFAdd(x->b, acc[r * nv + v], old, "");
      }
  }

  if (!g->epilogue || !t->last) {
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

/*
 * Direct path: rows [m0, m1) (at most MR of them), columns [n0, n1), B read
 * in place. One row uses the wide single-row tile; more use dmr-row tiles.
 */
static void emit_direct(gx *x, LLVMValueRef m0, LLVMValueRef m1, LLVMValueRef n0,
                        LLVMValueRef n1) {
  const cg_gemm *g = x->g;
  LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(x->b));
  LLVMBasicBlockRef one = LLVMAppendBasicBlockInContext(x->cx, fn, "gemm.onerow");
  LLVMBasicBlockRef many = LLVMAppendBasicBlockInContext(x->cx, fn, "gemm.rows");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(x->cx, fn, "gemm.direct.done");
  LLVMValueRef single = LLVMBuildICmp(x->b, LLVMIntEQ, sub(x, m1, m0), i64c(x, 1), "");
  LLVMBuildCondBr(x->b, single, one, many);

  for (int pass = 0; pass < 2; pass++) {
    LLVMPositionBuilderAtEnd(x->b, pass == 0 ? one : many);
    int mr = pass == 0 ? 1 : x->s.dmr, nv = pass == 0 ? x->s.onv : x->s.dnv;
    loop li;
    loop_begin(x, &li, m0, m1, 0, NULL);
    loop lj;
    loop_begin(x, &lj, n0, n1, 0, NULL);
    LLVMValueRef colmask[MAX_NV];
    column_masks(x, lj.i, n1, nv, colmask);
    tile t = {mr, nv, li.i, lj.i, m1, i64c(x, 0), x->k, gep(x, g->b, lj.i), g->ldb, false,
              colmask, NULL, NULL};
    emit_tile(x, &t);
    loop_end(x, &lj, i64c(x, (int64_t)nv * x->w), NULL);
    loop_end(x, &li, i64c(x, mr), NULL);
    LLVMBuildBr(x->b, done);
  }
  LLVMPositionBuilderAtEnd(x->b, done);
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

/*
 * Copies B[pc .. pc + kc, j .. j + NR) into panel[kc][NR], zero past nend
 * (B[j + c, pc + p] when trans_b, gathered).
 */
static void pack_panel(gx *x, LLVMValueRef panel, LLVMValueRef pc, LLVMValueRef kc,
                       LLVMValueRef j, LLVMValueRef *colmask) {
  const cg_gemm *g = x->g;
  int nv = x->s.nv, nr = nv * x->w;
  LLVMValueRef idx[MAX_NV];
  if (g->trans_b) {
    /* element (p, c) of the panel is B[(j + c) * ldb + pc + p] */
    LLVMValueRef lanes = add(x, splat(x, j, x->vi64), iota(x, x->i64));
    for (int v = 0; v < nv; v++) {
      LLVMValueRef cols = add(x, lanes, splat(x, i64c(x, (int64_t)v * x->w), x->vi64));
      idx[v] = add(x, mul(x, cols, splat(x, g->ldb, x->vi64)), splat(x, pc, x->vi64));
    }
  }
  loop l;
  loop_begin(x, &l, i64c(x, 0), kc, 0, NULL);
  LLVMValueRef dst = gep(x, panel, mul(x, l.i, i64c(x, nr)));
  LLVMValueRef src = g->trans_b ? NULL : gep(x, g->b, add(x, mul(x, add(x, pc, l.i), g->ldb), j));
  for (int v = 0; v < nv; v++) {
    LLVMValueRef val;
    if (g->trans_b) {
      LLVMValueRef at = add(x, idx[v], splat(x, l.i, x->vi64));
      LLVMValueRef ptrs = LLVMBuildGEP2(x->b, x->f32, g->b, &at, 1, "");
      LLVMTypeRef types[2] = {x->vf, LLVMTypeOf(ptrs)};
      LLVMValueRef args[4] = {ptrs, LLVMConstInt(x->i32, 4, 0), colmask[v], LLVMConstNull(x->vf)};
      val = call_intrinsic(x, "llvm.masked.gather", types, 2, args, 4);
    } else {
      /* rows of B are far apart: ask for a row well ahead so that many are in flight */
      LLVMValueRef ahead = gep(x, src, add(x, mul(x, g->ldb, i64c(x, PACK_AHEAD)),
                                             i64c(x, (int64_t)v * x->w)));
      prefetch(x, ahead, 0);
      val = load_vec(x, gep(x, src, i64c(x, (int64_t)v * x->w)), colmask[v], 4);
    }
    store_vec(x, val, gep(x, dst, i64c(x, (int64_t)v * x->w)), NULL, 64);
  }
  loop_end(x, &l, i64c(x, 1), NULL);
}

/* Packed path: rows [m0, m1), columns [n0, n1), k in blocks of KC. */
static void emit_packed(gx *x, LLVMValueRef m0, LLVMValueRef m1, LLVMValueRef n0,
                        LLVMValueRef n1) {
  int mr = x->s.mr, nv = x->s.nv, nr = nv * x->w;
  LLVMValueRef panel = panel_buffer(x, nr);
  lifetime(x, "llvm.lifetime.start", panel, nr);
  /* k = 0 still runs one (empty) block, which stores zeros and the epilogue */
  loop lp;
  loop_begin(x, &lp, i64c(x, 0), max_(x, x->k, i64c(x, 1)), 0, NULL);
  LLVMValueRef pc = lp.i;
  LLVMValueRef kc = min_(x, i64c(x, KC), sub(x, x->k, pc));
  LLVMValueRef first = LLVMBuildICmp(x->b, LLVMIntEQ, pc, i64c(x, 0), "");
  LLVMValueRef last = LLVMBuildICmp(x->b, LLVMIntSGE, add(x, pc, i64c(x, KC)), x->k, "");
  loop lj;
  loop_begin(x, &lj, n0, n1, 0, NULL);
  LLVMValueRef colmask[MAX_NV];
  column_masks(x, lj.i, n1, nv, colmask);
  pack_panel(x, panel, pc, kc, lj.i, colmask);
  loop li;
  loop_begin(x, &li, m0, m1, 0, NULL);
  tile t = {mr, nv, li.i, lj.i, m1, pc, kc, panel, i64c(x, nr), true, colmask, first, last};
  emit_tile(x, &t);
  loop_end(x, &li, i64c(x, mr), NULL);
  loop_end(x, &lj, i64c(x, nr), NULL);
  loop_end(x, &lp, i64c(x, KC), NULL);
  lifetime(x, "llvm.lifetime.end", panel, nr);
}

void cg_emit_gemm(LLVMModuleRef m, LLVMBuilderRef b, const cg_gemm *g) {
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
  x.vi64 = LLVMVectorType(x.i64, (unsigned)x.w);
  x.m = g->m, x.n = g->n, x.k = g->k;

  /* this thread's rows and columns: whole MR-row blocks when there are at
   * least two per thread, else whole vectors of columns */
  LLVMValueRef ith = LLVMBuildSExt(b, g->ith, x.i64, ""), nth = LLVMBuildSExt(b, g->nth, x.i64, "");
  LLVMValueRef ith1 = add(&x, ith, i64c(&x, 1));
  LLVMValueRef mr = i64c(&x, x.s.mr), w = i64c(&x, x.w);
  LLVMValueRef mb = cdiv(&x, x.m, mr);
  LLVMValueRef by_rows = LLVMBuildICmp(b, LLVMIntSGE, mb, mul(&x, nth, i64c(&x, 2)), "");
  if (getenv("GEMM_SPLIT")) by_rows = LLVMBuildAnd(b, by_rows, LLVMBuildICmp(b, LLVMIntSGT, x.m, x.n, ""), "");
  LLVMValueRef r0 = min_(&x, x.m, mul(&x, LLVMBuildUDiv(b, mul(&x, ith, mb), nth, ""), mr));
  LLVMValueRef r1 = min_(&x, x.m, mul(&x, LLVMBuildUDiv(b, mul(&x, ith1, mb), nth, ""), mr));
  LLVMValueRef nvec = cdiv(&x, x.n, w);
  LLVMValueRef c0 = min_(&x, x.n, mul(&x, LLVMBuildUDiv(b, mul(&x, ith, nvec), nth, ""), w));
  LLVMValueRef c1 = min_(&x, x.n, mul(&x, LLVMBuildUDiv(b, mul(&x, ith1, nvec), nth, ""), w));
  LLVMValueRef m0 = LLVMBuildSelect(b, by_rows, r0, i64c(&x, 0), "");
  LLVMValueRef m1 = LLVMBuildSelect(b, by_rows, r1, x.m, "");
  LLVMValueRef n0 = LLVMBuildSelect(b, by_rows, i64c(&x, 0), c0, "");
  LLVMValueRef n1 = LLVMBuildSelect(b, by_rows, x.n, c1, "");

  if (g->trans_b) {
    emit_packed(&x, m0, m1, n0, n1);
    return;
  }
  LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(b));
  LLVMBasicBlockRef packed = LLVMAppendBasicBlockInContext(x.cx, fn, "gemm.packed");
  LLVMBasicBlockRef direct = LLVMAppendBasicBlockInContext(x.cx, fn, "gemm.direct");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(x.cx, fn, "gemm.done");
  LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSGT, sub(&x, m1, m0), mr, ""), packed, direct);
  LLVMPositionBuilderAtEnd(b, packed);
  emit_packed(&x, m0, m1, n0, n1);
  LLVMBuildBr(b, done);
  LLVMPositionBuilderAtEnd(b, direct);
  emit_direct(&x, m0, m1, n0, n1);
  LLVMBuildBr(b, done);
  LLVMPositionBuilderAtEnd(b, done);
}
