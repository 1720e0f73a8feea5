/*
 * cg_internal.h: what codegen's own files share (LLVM emission context,
 * vector math, GEMM, one emitter per kernel family, the module builder, the
 * target machine). Not for other folders: they see codegen through cg.h.
 */
#ifndef SEQC_CG_INTERNAL_H
#define SEQC_CG_INTERNAL_H

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

#include "cg.h"

/*
 * Vector math (math.c). x is a float or a <N x float> vector; the result has
 * x's type. Accurate to a few ulp over the whole float range (|err| well under
 * SPEC section 8's 1e-4 + 1e-4*|want|), NaN in gives NaN out, and no call to
 * libm: pure LLVM IR, so it vectorizes and runs in AOT objects too.
 */
LLVMValueRef cg_math_exp(LLVMModuleRef m, LLVMBuilderRef b, LLVMValueRef x);
LLVMValueRef cg_math_tanh(LLVMModuleRef m, LLVMBuilderRef b, LLVMValueRef x);
LLVMValueRef cg_math_sigmoid(LLVMModuleRef m, LLVMBuilderRef b, LLVMValueRef x);
LLVMValueRef cg_math_erf(LLVMModuleRef m, LLVMBuilderRef b, LLVMValueRef x);
/* x * 0.5 * (1 + erf(x / sqrt 2)), or the tanh approximation when approx_tanh */
LLVMValueRef cg_math_gelu(LLVMModuleRef m, LLVMBuilderRef b, LLVMValueRef x, bool approx_tanh);
LLVMValueRef cg_math_sin(LLVMModuleRef m, LLVMBuilderRef b, LLVMValueRef x);
LLVMValueRef cg_math_cos(LLVMModuleRef m, LLVMBuilderRef b, LLVMValueRef x);
/* the vector formula of elementwise op n (ops.def's ELEM, on vectors): args are
 * its operands in input order, f32 except for COPY's */
LLVMValueRef cg_math_op(LLVMModuleRef m, LLVMBuilderRef b, const ir_node *n, LLVMValueRef *args);

/*
 * Register-blocked GEMM (gemm.c): C[m, n] = A[m, k] @ B[k, n] (B given as
 * [n, k] when trans_b), f32, row-major with row strides lda, ldb, ldc. The
 * code is emitted inline at the builder's position (the builder ends after
 * it). Work is split between threads ith/nth (by rows of C, or by columns
 * when m is too small to share); with nth = 1 one thread does all of it.
 */
typedef struct cg_gemm {
  LLVMValueRef a, b, c;       /* ptr (float *) */
  LLVMValueRef m, n, k;       /* i64 sizes: constants when dims are bound */
  LLVMValueRef lda, ldb, ldc; /* i64 row strides, in elements */
  bool trans_b;               /* B is stored [n, k] */
  LLVMValueRef ith, nth;      /* i32 thread index and count */
  /* optional column window: when set, this call computes columns [n_lo,
   * n_hi) of every row (multiples of vec_width, or n) and ignores ith/nth */
  LLVMValueRef n_lo, n_hi;
  int vec_width;              /* floats per vector on the target: 16, 8 or 4 */
  /* > 0: B (not trans_b) is stored in column panels of this unit (see
   * cg_panel_plan), not row-major; then the direct path runs, whatever m */
  int64_t b_panel_unit;
  /* optional k range, with B in panels only: when k_hi is set, only k in
   * [k_lo, k_hi) is summed; `accumulate` adds the sums to what C holds, and
   * where the i1 `partial` (NULL: false) holds, they are stored without the
   * epilogue (a later call over the rest of k applies it). A scan step sums
   * its own k range before its wait. */
  LLVMValueRef k_lo, k_hi;
  bool accumulate;
  LLVMValueRef partial;
  /*
   * Optional epilogue, applied to finished sums before they are stored:
   * acc is a <vec_width x float> of C[row, col .. col+vec_width-1] (row, col
   * i64), mask an <vec_width x i1> of the lanes inside n (NULL when all are).
   * Returns the vector to store. NULL epilogue stores acc as is.
   */
  LLVMValueRef (*epilogue)(void *user, LLVMBuilderRef b, LLVMValueRef acc, LLVMValueRef row,
                           LLVMValueRef col, LLVMValueRef mask);
  void *user; /* passed to epilogue */
  /*
   * Shared form (issue 18): when `shared`, the GEMM is a call to one
   * function per module and variant (trans_b), sizes and strides its
   * arguments, so that every GEMM of a model is the same code. It takes no
   * `epilogue` callback; instead, when tile_epi is set (a ptr to a
   * cg_gemm_epi_type function), it calls tile_epi(tile_ctx, c, ldc, r0, r1,
   * c0, c1) after storing each finished block C[r0..r1, c0..c1). Not with a
   * panel B or a k range; `accumulate` (C += A @ B) only without trans_b.
   */
  bool shared;
  LLVMValueRef tile_epi, tile_ctx; /* ptr: the epilogue function and its context, or NULL */
  /* with shared: the function bakes in the sizes, strides and thread split
   * that are constants at this call (and no epilogue if it has none), so
   * calls that agree on them share one specialized function (attention's
   * tiles: the same shapes on every path, too small to pay for run-time
   * sizes); the library holds those of common head dims */
  bool specialize;
  /* ptr float[m], or NULL: C = C * row_scale[row] + A @ B (with accumulate,
   * specialize and no tile_epi: attention's online-softmax rescale, in
   * registers as C's old value is added) */
  LLVMValueRef row_scale;
  /* bounds of m and k known to the caller (0: none), which may rule paths
   * out: at most DIRECT_ROWS rows with a small B is the direct path only */
  int64_t m_max, k_max;
} cg_gemm;

/* the type of a shared GEMM's epilogue: void (ptr ctx, ptr c, i64 ldc, i64 r0,
 * i64 r1, i64 c0, i64 c1), applied in place to rows [r0, r1) and columns
 * [c0, c1) of C (row stride ldc) */
LLVMTypeRef cg_gemm_epi_type(LLVMContextRef cx);

void cg_emit_gemm(LLVMModuleRef m, LLVMBuilderRef b, const cg_gemm *g);
/* the GEMMs a graph's kernels emit (scan bodies included): a matmul one, an
 * attention two, a relative attention three. Below CG_SHARED_GEMM_SITES a model inlines them: a GEMM
 * with constant sizes folds down to one path, cheaper to compile than a
 * shared one with all of them */
int cg_gemm_sites(const ir_graph *g);
#define CG_SHARED_GEMM_SITES 3

/*
 * gemm_library.c: every variant of the shared GEMM, compiled when seqc is
 * built (codegen/gemmlib/gen.c) for the build machine's CPU and embedded in
 * seqc, so that a JIT compile on that CPU links them instead of compiling
 * them (the bulk of a Transformer's code). A module built with
 * cg_options.gemm_library carries the flag CG_GEMM_LIBRARY_FLAG and only
 * declares them.
 */
#define CG_GEMM_LIBRARY_FLAG "seqc.gemm_library"
/* defines every variant in m, external (the generator's job) */
void cg_gemm_library_define(LLVMModuleRef m, int vec_width);
/* true when the library was built for tm's CPU and features, vec_width and level */
bool cg_gemm_library_fits(LLVMTargetMachineRef tm, int vec_width, int level);
/* a copy of the library's object, for the JIT to link */
LLVMMemoryBufferRef cg_gemm_library_object(void);
/* true when the library defines the function `name` (a specialized GEMM
 * the kernels would otherwise compile) */
bool cg_gemm_library_has(const char *name);
/* what codegen/gemmlib/gen.c embeds (the build's cg_gemm_library.c; size 0
 * in the generator itself, which links gemmlib/none.c) */
extern const unsigned char cg_gemm_lib_object[];
extern const size_t cg_gemm_lib_size;
extern const char cg_gemm_lib_cpu[], cg_gemm_lib_features[];
extern const int cg_gemm_lib_width, cg_gemm_lib_level;
extern const char *const cg_gemm_lib_names[]; /* the functions it defines */
extern const int cg_gemm_lib_count;
/* the columns of B that one tile of the single-row direct path reads: the
 * width of a column panel */
int64_t cg_gemm_panel_cols(int vec_width);
/* true when a thread's share of rows x cols of C, over k, reads B in place
 * (the direct path); cg_emit_gemm decides the same at run time */
bool cg_gemm_reads_b_in_place(int vec_width, int64_t rows, int64_t k, int64_t cols);

/* ---- builder helpers (build.c): need only a builder; the cg_ctx forms
 * below, the GEMM and the vector math use them ---- */

struct cg_loop;
/* calls intrinsic `name` overloaded on types[0..ntypes) */
LLVMValueRef cg_build_intrinsic(LLVMBuilderRef b, const char *name, LLVMTypeRef *types,
                                int ntypes, LLVMValueRef *args, int nargs);
LLVMValueRef cg_build_smin(LLVMBuilderRef b, LLVMValueRef x, LLVMValueRef y); /* signed */
LLVMValueRef cg_build_smax(LLVMBuilderRef b, LLVMValueRef x, LLVMValueRef y); /* signed */
/* <lanes x T>, every lane the scalar */
LLVMValueRef cg_build_splat(LLVMBuilderRef b, LLVMValueRef scalar, int lanes);
/* <lanes x i1>: lanes whose index is below n (i64, any value) */
LLVMValueRef cg_build_mask_below(LLVMBuilderRef b, LLVMValueRef n, int lanes);
/* a vty at p: a plain load when mask is NULL, else masked-off lanes read 0 */
LLVMValueRef cg_build_load_vec(LLVMBuilderRef b, LLVMTypeRef vty, LLVMValueRef p,
                               LLVMValueRef mask, unsigned align);
void cg_build_store_vec(LLVMBuilderRef b, LLVMValueRef v, LLVMValueRef p, LLVMValueRef mask,
                        unsigned align);
/* for (i = lo; i < hi; i += step) carrying ncarry values (init: their values
 * on entry; l->carry[]: theirs in the body, and after the loop the final
 * ones); begin leaves the builder in the body, end takes the step and the
 * carried values' next values and leaves the builder after the loop */
void cg_build_loop_begin(LLVMBuilderRef b, struct cg_loop *l, LLVMValueRef lo, LLVMValueRef hi,
                         int ncarry, const LLVMValueRef *init);
void cg_build_loop_end(LLVMBuilderRef b, struct cg_loop *l, LLVMValueRef step,
                       const LLVMValueRef *next);

/* ---- emission context and helpers (emit.c) ---- */

/* Everything a kernel emitter needs: the LLVM handles, the graph, and the
 * parameters of the entry function being built. */
typedef struct cg_ctx {
  LLVMContextRef llvm;      /* context owning types and constants */
  LLVMModuleRef mod;        /* module being built */
  LLVMBuilderRef b;         /* builder, at the current kernel's position */
  const ir_graph *g;        /* the planned graph */
  const int64_t *bind_syms; /* symbol values folded in as constants, or NULL */
  int vw;                   /* vector width: floats per vector on the target */
  seqrt_error *err;         /* where unsupported constructs are reported */
  bool failed;              /* an error was reported: the module is unusable */
  LLVMValueRef fn;          /* entry function being emitted */
  LLVMBasicBlockRef entry;  /* its entry block, home of every alloca */
  /* its parameters, as seqrt_entry_fn has them */
  LLVMValueRef bufs, syms, team, ith, nth;
  LLVMValueRef sym_val[IR_MAX_SYMS]; /* i64 value of each symbol in this function */
  int varying_sym; /* 1 + a symbol whose sym_val is not its bound value now (a scan with
                      lengths: its batch, the step's active rows; scan.c), 0 = none */
  LLVMValueRef session_val[SEQRT_SESSION_SYMS]; /* i64 p and runs since reset (seqrt.h) */
  LLVMValueRef *const_global;        /* per value id: global holding an IR_VAL_CONST, or NULL */
  /* scalar types, then <vw x float>, <vw x i1>, <vw x i32> */
  LLVMTypeRef f32, f64, i1, i8, i32, i64, ptr, void_t;
  LLVMTypeRef vf32, vi1, vi32;
  /*
   * The unit split (the schedule's ir_sched.unit; scan.c sets it for a
   * step, module.c for a kernel that feeds scans; 0 elsewhere): a kernel
   * whose sched.unit is set takes, in every row of its result, the columns
   * whose index mod unit_len lies in [unit_lo, unit_hi), this thread's
   * hidden units. A chain of such kernels (gates matmul, then the cell
   * arithmetic on slices of its gates) then needs no barrier between them:
   * each thread reads only what it wrote.
   */
  int64_t unit_len;               /* the unit (a state's width), 0 = off */
  LLVMValueRef unit_lo, unit_hi; /* i64: this thread's columns of a unit */
  /* the kernel being emitted opens a step whose barrier is split (its
   * sched.wait): the step arrived before it, and it sums k over this
   * thread's own units of the state (its matmul's A, which it wrote
   * itself), then cg_wait, then the rest of k */
  bool step_wait;
  /* the module's GEMMs call its shared GEMM functions (gemm.c): it has
   * enough GEMMs to pay for compiling them (cg_gemm_sites) */
  bool share_gemms;
  /* kernel functions (kernel_fn.c) */
  int nkernels;        /* kernel functions made so far (their names: kernel.N) */
  LLVMValueRef ids;    /* in a kernel function: its table of buffer ids, else NULL */
  int *slot_of;        /* per buffer id: its slot in the kernel's table, -1 */
  int *slot_buf;       /* per slot: the buffer id */
  int nslots;          /* slots the kernel being built has asked for */
  struct cg_dedupe *dedupe; /* the kernel functions built so far (dedupe.c) */
} cg_ctx;

/* dedupe.c: a kernel function identical to one built before is that one */
typedef struct cg_dedupe cg_dedupe;
cg_dedupe *cg_dedupe_new(void);
void cg_dedupe_free(cg_dedupe *d);
/* fn (just built, not called yet) if it is new, else the identical function
 * kept before (fn is then deleted) */
LLVMValueRef cg_dedupe_function(cg_dedupe *d, LLVMValueRef fn);

/* kernel_fn.c: each kernel a function, identical ones shared */
/* the kernel functions a built module defines */
int cg_module_kernels(LLVMModuleRef mod);
/* identical kernel functions become one (LLVM's mergefunc, which compares
 * them op by op): before the cache key and the optimization */
bool cg_merge_kernels(LLVMModuleRef mod, seqrt_error *err);
/* a kernel function and what its call passes */
typedef struct cg_kernel {
  LLVMValueRef fn;  /* the function (NULL after cg_fail) */
  LLVMValueRef ids; /* the call site's table of buffer ids (a constant global) */
  int nids;         /* its entries */
} cg_kernel;
/* void kernel(bufs, ids, nids, syms, team, ith, nth, rows) */
LLVMTypeRef cg_kernel_type(cg_ctx *c);
/* builds kernel n (and partner, a paired scan, or NULL) with emit into a
 * function of its own (mergefunc makes identical ones one) */
cg_kernel cg_kernel_fn(cg_ctx *c, const ir_node *n, const ir_node *partner,
                       void (*emit)(cg_ctx *c, const ir_node *n, const ir_node *partner));
/* cg_kernel_fn, and a call of it here */
void cg_kernel_call(cg_ctx *c, const ir_node *n, const ir_node *partner,
                    void (*emit)(cg_ctx *c, const ir_node *n, const ir_node *partner));
/* the pointer of buffer `buffer` (in a kernel function through its id table) */
LLVMValueRef cg_value_buffer(cg_ctx *c, int buffer);
/* i64 id of buffer `buffer` (-1: none), for messages: in a kernel function
 * from its id table, so that layers' kernels stay the same code */
LLVMValueRef cg_buffer_id(cg_ctx *c, int buffer);
/* where buffer `buffer` sits in a table of buffer pointers: its slot in a
 * kernel function (made on first use), else its id */
int cg_buffer_slot(cg_ctx *c, int buffer);
/* in a kernel function: table[k] = bufs[ids[k]] for each of its slots (a
 * scan's per-thread table, indexed by cg_buffer_slot) */
void cg_fill_table(cg_ctx *c, LLVMValueRef table);
/* module.c: the symbols and the session's numbers at the current function's entry */
void cg_load_syms(cg_ctx *c);

/* reports an unsupported construct (first message wins) and marks c failed */
void cg_fail(cg_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
LLVMValueRef cg_i64(cg_ctx *c, int64_t v);
LLVMValueRef cg_i32(cg_ctx *c, int32_t v);
LLVMValueRef cg_f32(cg_ctx *c, double v);
/* i64 value of a dim: a constant when bound or constant, else from syms */
LLVMValueRef cg_dim(cg_ctx *c, ir_dim d);
/* product of dims [from, to) of t (1 when empty) */
LLVMValueRef cg_dims(cg_ctx *c, const ir_type *t, int from, int to);
LLVMValueRef cg_min(cg_ctx *c, LLVMValueRef a, LLVMValueRef b); /* signed i64 */
LLVMValueRef cg_max(cg_ctx *c, LLVMValueRef a, LLVMValueRef b); /* signed i64 */
LLVMTypeRef cg_elem_type(cg_ctx *c, ir_dtype t);
/* <vw x elem> for a dtype */
LLVMTypeRef cg_vec_type(cg_ctx *c, ir_dtype t);
/* address of element idx (i64) of an array of elem at ptr */
LLVMValueRef cg_gep(cg_ctx *c, LLVMTypeRef elem, LLVMValueRef ptr, LLVMValueRef idx);
/* address of a top-level value's data: a constant global, or bufs[value.buffer] */
LLVMValueRef cg_value_ptr(cg_ctx *c, int value);
/* stack slot in the entry block (so mem2reg promotes it) */
LLVMValueRef cg_alloca(cg_ctx *c, LLVMTypeRef t, const char *name);
/* calls intrinsic `name` overloaded on types[0..ntypes) */
LLVMValueRef cg_intrinsic(cg_ctx *c, const char *name, LLVMTypeRef *types, int ntypes,
                          LLVMValueRef *args, int nargs);
/* this thread's share [lo, hi) of [0, n), cut at multiples of unit */
void cg_split(cg_ctx *c, LLVMValueRef n, int64_t unit, LLVMValueRef *lo, LLVMValueRef *hi);
/* the value of the session's p (SEQRT_SYM_POSITION) or runs since reset (SEQRT_SYM_RUNS) */
LLVMValueRef cg_session(cg_ctx *c, int which);
/* returns from the entry when some thread has failed (seqrt_failed); after a barrier */
void cg_return_if_failed(cg_ctx *c);
/* seqrt_barrier(team, ith); its two halves seqrt_arrive and seqrt_wait */
void cg_barrier(cg_ctx *c);
void cg_arrive(cg_ctx *c);
void cg_wait(cg_ctx *c);
/* seqrt_fail(team, SEQRT_FAIL_CACHE, buffer, S, p, T): a run past a cache (emit.c) */
void cg_fail_cache(cg_ctx *c, int buffer, LLVMValueRef S, LLVMValueRef p, LLVMValueRef T);
/* seqrt_fail(team, SEQRT_FAIL_LENGTH, buffer, row, length, T): a scan's length out of range */
void cg_fail_length(cg_ctx *c, int buffer, LLVMValueRef row, LLVMValueRef len, LLVMValueRef T);
/* seqrt_fail(team, SEQRT_FAIL_INDEX, buffer, pos, index, limit), all i64 */
void cg_fail_index(cg_ctx *c, int buffer, LLVMValueRef pos, LLVMValueRef index, LLVMValueRef limit);
/* reports SEQRT_FAIL_CHUNK at run time when a symbolic length is no multiple
 * of chunk (the scan then runs its whole segments only) */
void cg_check_chunk(cg_ctx *c, int buffer, ir_dim length, int64_t chunk);

/* for (i = lo; i < hi; i += step): begin leaves the builder in the body */
#define CG_LOOP_MAX_CARRY 64
typedef struct cg_loop {
  LLVMValueRef i;               /* i64 induction variable */
  LLVMValueRef step;            /* i64 increment (cg_loop_begin's; build.c's take it at the end) */
  LLVMBasicBlockRef head, exit; /* test block, block after the loop */
  int ncarry;                   /* values carried around the loop (build.c's form) */
  /* the increment is nsw (cg_loop_begin's loops); the GEMM's loops, tuned
   * without it, keep a plain add: LLVM unrolls them differently with it */
  bool nsw;
  LLVMValueRef carry[CG_LOOP_MAX_CARRY]; /* their phis: current values in the body, final after */
} cg_loop;
void cg_loop_begin(cg_ctx *c, cg_loop *l, LLVMValueRef lo, LLVMValueRef hi, LLVMValueRef step);
void cg_loop_end(cg_ctx *c, cg_loop *l);

/* if (cond) { ... } [else { ... }] */
typedef struct cg_if {
  LLVMBasicBlockRef other, done; /* else block, join block */
  bool has_else;                 /* cg_if_else was called */
} cg_if;
void cg_if_begin(cg_ctx *c, cg_if *f, LLVMValueRef cond);
void cg_if_else(cg_ctx *c, cg_if *f);
void cg_if_end(cg_ctx *c, cg_if *f);

/* vectors of width vw */
LLVMValueRef cg_splat(cg_ctx *c, LLVMValueRef scalar);
/* <vw x i1>: lanes below n (i64, any value) */
LLVMValueRef cg_mask_upto(cg_ctx *c, LLVMValueRef n);
/* <vw x elem> at ptr[idx..]; mask NULL = all lanes, else masked-off lanes read 0 */
LLVMValueRef cg_load_vec(cg_ctx *c, LLVMTypeRef vty, LLVMValueRef ptr, LLVMValueRef idx,
                         LLVMValueRef mask);
void cg_store_vec(cg_ctx *c, LLVMValueRef v, LLVMValueRef ptr, LLVMValueRef idx, LLVMValueRef mask);
LLVMValueRef cg_hsum(cg_ctx *c, LLVMValueRef v);                 /* sum of the lanes */
LLVMValueRef cg_hmax(cg_ctx *c, LLVMValueRef v);                 /* max of the lanes */
LLVMValueRef cg_fmax(cg_ctx *c, LLVMValueRef a, LLVMValueRef b); /* llvm.maxnum */
/*
 * for (j = lo; j < hi; j += vw) body(j, mask): full vectors get mask NULL,
 * a last partial vector the mask of its lanes below hi. The body is emitted
 * twice (full and tail).
 */
typedef void (*cg_vec_body)(cg_ctx *c, void *user, LLVMValueRef j, LLVMValueRef mask);
void cg_vec_loop(cg_ctx *c, LLVMValueRef lo, LLVMValueRef hi, cg_vec_body body, void *user);
/*
 * The loop of a kernel along a dim that is not the last ([outer, len, inner],
 * vectors across inner): this thread's share of the (outer row o, chunk of vw
 * lanes from i0) pairs. begin opens it and fills the chunk; element (o, l,
 * i0 + lane) is at base + l * inner, the chunk's lanes past inner are off
 * in mask, and its result (o, i0 + lane) of [outer, inner] is at out. Close
 * with cg_loop_end(c, &ch->loop).
 */
typedef struct cg_chunk {
  struct cg_loop loop;     /* over the thread's pairs */
  LLVMValueRef o, i0;      /* i64: the outer row, the first lane's index in inner */
  LLVMValueRef mask;       /* <vw x i1>: lanes inside inner */
  LLVMValueRef base, out;  /* i64: offset of element (o, 0, i0), of result (o, i0) */
} cg_chunk;
void cg_chunk_begin(cg_ctx *c, cg_chunk *ch, LLVMValueRef outer, LLVMValueRef len,
                    LLVMValueRef inner);

/*
 * An index space for broadcasting: the first ndims dims of an output type,
 * with size-1 dims dropped and adjacent dims merged when every operand
 * broadcasts them alike, so [B, T, D] + [D] has two groups and a plain
 * elementwise op one. Operands are right-aligned to the output's rank.
 */
typedef struct cg_space {
  int ngroups;                    /* groups, outermost first */
  LLVMValueRef size[IR_MAX_RANK]; /* i64 size of each group */
  int nops;                       /* operands */
  LLVMValueRef *stride; /* [op * IR_MAX_RANK + group]: i64 element stride, 0 = broadcast */
  bool *bcast;          /* [op * IR_MAX_RANK + group]: operand broadcast along group */
} cg_space;
void cg_space_init(cg_ctx *c, cg_space *s, const ir_type *out, int ndims, const ir_type **ops,
                   int nops);
void cg_space_free(cg_space *s);
/* off[op] = element offset of operand op at flat index `flat` over groups [0, ngroups) */
void cg_space_offsets(cg_ctx *c, const cg_space *s, int ngroups, LLVMValueRef flat,
                      LLVMValueRef *off);

/* ---- kernels (one file each) ---- */

/* elementwise.c: unary and binary ops, copy, fused bodies without a matmul */
void cg_emit_elementwise(cg_ctx *c, const ir_node *n);
/* one elementwise op of n on vectors args (n's inputs in order) */
LLVMValueRef cg_eval_op(cg_ctx *c, const ir_node *n, LLVMValueRef *args);
/* true if a value is one element known at compile time (a rank-0 or [1] constant) */
bool cg_is_scalar_const(const ir_value *v);
/* splat of that element */
LLVMValueRef cg_scalar_const(cg_ctx *c, const ir_value *v);
/*
 * Evaluates a fused body on vectors: vals[v] (by body value id) must hold
 * every body input and non-scalar constant the nodes read, and may hold node
 * results already computed (a matmul's accumulator); fills the rest and
 * returns the body's output.
 */
LLVMValueRef cg_eval_body(cg_ctx *c, const ir_graph *body, LLVMValueRef *vals);

/* matmul.c: batched matmul and fused matmul + elementwise epilogue */
void cg_emit_matmul(cg_ctx *c, const ir_node *n);
/* rows.c: softmax, layer_norm, rms_norm, mean, along any dim */
void cg_emit_rows(cg_ctx *c, const ir_node *n);
/* argmax.c: i64 indices of the largest value along a dim */
void cg_emit_argmax(cg_ctx *c, const ir_node *n);
/* movement.c: concat, slice, select, transpose (and reshape when it copies) */
void cg_emit_movement(cg_ctx *c, const ir_node *n);
/* dst[r * ds + i] = src[r * ss + i] for r < rows, i < len (elements of es
 * bytes); the flat range rows * len is split evenly between the threads */
void cg_copy_rows(cg_ctx *c, int64_t es, LLVMValueRef dst, LLVMValueRef ds, LLVMValueRef src,
                  LLVMValueRef ss, LLVMValueRef rows, LLVMValueRef len);
/* the same for this thread's columns of the unit split only (unit_lo ..
 * unit_hi of every unit of a row; len a multiple of the unit): what its unit
 * kernels read or wrote, so that no other thread need wait for the copy */
void cg_copy_unit_rows(cg_ctx *c, int64_t es, LLVMValueRef dst, LLVMValueRef ds, LLVMValueRef src,
                       LLVMValueRef ss, LLVMValueRef rows, int64_t len);
/* embed.c: embedding lookup, positional encoding and positions */
void cg_emit_embed(cg_ctx *c, const ir_node *n);
/* movement.c: state_read and state_write, copies of the session's state */
void cg_emit_state(cg_ctx *c, const ir_node *n);
/* attention.c: tiled attention with online softmax (memory linear in T) */
void cg_emit_attention(cg_ctx *c, const ir_node *n);
/* rel_attention.c: Transformer-XL's attention on a segment, through the tiles below */
void cg_emit_rel_attention(cg_ctx *c, const ir_node *n);
/* slot_attention.c: Memformer's write attention, one (batch, head, slot) at a time */
void cg_emit_slot_attention(cg_ctx *c, const ir_node *n);

/*
 * attention.c's tiles and online softmax, which the attention kernels share
 * (attention.c's header tells how they work). A kernel sets up a cg_attn
 * (cg_attn_begin), and per query tile clears it (cg_attn_reset), feeds it runs
 * of keys (cg_attn_keys) and writes the rows out (cg_attn_finish).
 */

/* a score term beyond q . k (rel_attention.c's position term), added to the
 * scores of a key tile before they are scaled */
typedef struct cg_attn_term {
  /* after the key tile's q . k: query positions [qpos, qpos + rows), keys [k0, k1) */
  void (*tile)(cg_ctx *c, void *user, LLVMValueRef qpos, LLVMValueRef rows, LLVMValueRef k0,
               LLVMValueRef k1);
  /* before the score pass of the tile's row r, query position i */
  void (*row)(cg_ctx *c, void *user, LLVMValueRef r, LLVMValueRef i);
  /* <vw x float>: the row's term at columns j .. j + vw - 1 (lanes of masked or
   * absent keys may hold anything finite or not: they become -inf) */
  LLVMValueRef (*cols)(cg_ctx *c, void *user, LLVMValueRef j);
  void *user; /* the kernel's, passed to each */
} cg_attn_term;

typedef struct cg_attn {
  int64_t tq, tk;       /* query rows and key columns of a tile */
  LLVMValueRef S;       /* float[tq * tk]: scores, then probabilities */
  LLVMValueRef acc;     /* float[tq * dh]: unnormalized output rows */
  LLVMValueRef m, l;    /* float[tq]: running max and sum of each row */
  LLVMValueRef alpha;   /* float[tq]: rescale factor of each row for this key tile */
  LLVMValueRef extra;   /* float[]: the caller's part of the scratch (cg_attn_begin) */
  LLVMValueRef row_off; /* i64: row r's offset into S (r * tk) */
  LLVMValueRef lo, hi;  /* i64: visible key columns of the row, relative to the tile */
  LLVMValueRef scale;   /* <vw x float> splat of scale */
  LLVMValueRef mx_acc;  /* alloca <vw x float> for the row max */
  LLVMValueRef sum_acc; /* alloca <vw x float> for the row sum */
  LLVMValueRef m_use;   /* <vw x float> splat: the row's max, 0 when still -inf */
  LLVMValueRef dh;      /* i64 head dim */
  LLVMValueRef out;     /* output row pointer (finish pass) */
  LLVMValueRef inv;     /* <vw x float> 1 / l (finish pass) */
  LLVMValueRef acc_row; /* i64 offset of the row in acc (finish pass) */
  LLVMValueRef out_row; /* i64 offset of the row in out (finish pass) */
  bool masked;          /* causal or window: per-element masks needed */
  LLVMValueRef pad;     /* the key padding mask's row of the batch (Tk i32 or i64), NULL: none */
  LLVMTypeRef pad_vt;   /* <vw x i32|i64>: the mask's vector type */
  LLVMValueRef pad_k0;  /* i64: the key tile's first key, its column in the mask row */
  LLVMValueRef bias;    /* the head's row of the position bias table, NULL: none; padded
                           (bias_padded): 2R+1 + 2 vw floats, row[0] and row[2R] vw
                           times before and after it, else the table's 2R+1 */
  bool bias_padded;     /* bias is the padded copy: loads, not gathers */
  int64_t R;            /* pos_bias: distances clamp to [-R, R] */
  LLVMValueRef bias_d0; /* i64: key position - query position of the row's column 0 */
  const cg_attn_term *term; /* a score term beyond q . k, NULL: none */
} cg_attn;

/* one query tile's rows and where they sit */
typedef struct cg_attn_rows {
  LLVMValueRef Q, qbase; /* the queries: Q + qbase, dh floats a row */
  LLVMValueRef rows;     /* i64 rows in the tile */
  LLVMValueRef qpos;     /* i64 position of its first row */
  LLVMValueRef klo, khi; /* i64 key positions [klo, khi) this work item visits (its
                            part of a split decode step), NULL: all it may see */
} cg_attn_rows;

/* a's tiles (tq x tk, head dim dh; tk <= 256) in the entry function's attention
 * scratch, with `extra` more floats for the caller at a->extra (64-byte aligned) */
void cg_attn_begin(cg_ctx *c, cg_attn *a, int64_t tq, int64_t tk, int64_t dh, double scale,
                   int64_t extra);
/* a fresh online softmax for the next query tile */
void cg_attn_reset(cg_ctx *c, cg_attn *a);
/* the keys K + kbase (rows of dh floats, n of them, key j at position pos0 + j;
 * V alike) into the online softmax of query tile q: every tile of keys some row
 * may see (causal: positions up to the row's; window >= 0: within that of it) */
void cg_attn_keys(cg_ctx *c, cg_attn *a, const cg_attn_rows *q, LLVMValueRef K, LLVMValueRef V,
                  LLVMValueRef kbase, LLVMValueRef pos0, LLVMValueRef n, bool causal,
                  int64_t window);
/* the sizes, strides and flags of a key tile's two products, S = Q K^T
 * (rows x cols, into a tk-wide S) and acc = acc * alpha + P V (the caller
 * sets the pointers, row_scale and shared): in one place for the kernels
 * and the GEMM library, which precompiles them for common head dims */
void cg_attn_products(LLVMContextRef cx, int vw, LLVMValueRef rows, LLVMValueRef cols,
                      LLVMValueRef dh, int64_t tq, int64_t tk, cg_gemm *s, cg_gemm *pv);
/* out = acc / l for the tile's rows into O + qbase (0 where no key was seen) */
void cg_attn_finish(cg_ctx *c, cg_attn *a, LLVMValueRef rows, LLVMValueRef qbase, LLVMValueRef O);
/* conv1d.c: nn.Conv1d over batch-first [B, T, C] */
void cg_emit_conv1d(cg_ctx *c, const ir_node *n);

/* scan.c: the SCAN loop (body emitted once, per-step barriers, double-buffered states) */
void cg_emit_scan(cg_ctx *c, const ir_node *n);
/* scan.c: two scans of one step count in one loop (pair_scans made them adjacent) */
void cg_emit_scan_pair(cg_ctx *c, const ir_node *a, const ir_node *b);
/* emit.c: true when kernel n runs by the unit split of c (its sched.unit, see cg_ctx) */
bool cg_unit_kernel(const cg_ctx *c, const ir_node *n);
/* emit.c: value of dim d under the compile-time binding; false when symbolic */
bool cg_dim_known(const cg_ctx *c, ir_dim d, int64_t *v);
/*
 * panels.c: a weight that only batch-few scan steps multiply by (B of their
 * recurrent GEMM; the schedule pass picks them) is stored, once at prepare,
 * in column panels: within each
 * unit of U columns (a gate's hidden units), panel q holds columns
 * [q*NR, min((q+1)*NR, U)) (NR = cg_gemm_panel_cols) as K rows of wq
 * floats, at the offset its first column s would have times K. A tile of
 * the step's GEMM then reads one contiguous stream, not K rows a row of B
 * apart (whose 4 KB strides crowd a few cache sets). The layout does not
 * depend on the thread count.
 */
/* the panel holding column col (i64) of B in panels of unit `unit` and
 * nr-wide panels: its first column *start and its width *width (i64) */
void cg_panel_at(LLVMBuilderRef b, LLVMValueRef col, int64_t unit, int64_t nr, LLVMValueRef *start,
                 LLVMValueRef *width);
/* TRANSPOSE of a [N, K] weight into panels of its output buffer's unit (ir_buffer.panel) */
void cg_emit_panel_transpose(cg_ctx *c, const ir_node *n);
/* elementwise.c: FILL, every element the attribute `value` */
void cg_emit_fill(cg_ctx *c, const ir_node *n);

/* ---- module (module.c) ---- */

/* one kernel of node n of c->g (any op that reaches codegen) */
void cg_emit_kernel(cg_ctx *c, const ir_node *n);

/*
 * Builds the module of g in llvm: functions `prepare` (omitted when no node
 * is at_prepare) and `run`, both seqrt_entry_fn. NULL with err set when g
 * holds something codegen does not support.
 */
LLVMModuleRef cg_module_build(const ir_graph *g, const cg_options *opt, int vec_width,
                              LLVMContextRef llvm, seqrt_error *err);

/* ---- target machine (target.c), for the JIT and AOT alike ---- */

/* floats per vector for a CPU / feature string: 16 (avx512f), 8 (avx2) or 4 */
int cg_vec_width(const char *cpu, const char *features);
/* the machine for opt's cpu/features (NULL = host), its vector width in *vw;
 * pic: position-independent code (AOT), else the JIT's code model */
LLVMTargetMachineRef cg_target_machine(const cg_options *opt, int level, bool pic, int *vw,
                                       seqrt_error *err);
/* sets mod's triple and layout from tm, verifies it and optimizes at level */
bool cg_module_optimize(LLVMModuleRef mod, LLVMTargetMachineRef tm, int level, seqrt_error *err);
/* parallel.c: mod cut into up to nparts modules by its kernel functions,
 * each optimized and compiled on a thread of its own, into objs (room for
 * CG_MAX_PARTS); returns their number (1 when there is nothing to cut), 0
 * with err set on failure. The stages' times are the slowest part's. */
#define CG_MAX_PARTS 8
int cg_emit_parts(LLVMModuleRef mod, const cg_options *opt, LLVMTargetMachineRef tm, int level,
                  int nparts, LLVMMemoryBufferRef *objs, cg_stats *st, seqrt_error *err);
/* mod optimized at level and compiled by tm to an object in memory, the two
 * stages timed into st (optimize_ms, machine_ms); NULL with err set */
LLVMMemoryBufferRef cg_module_emit(LLVMModuleRef mod, LLVMTargetMachineRef tm, int level,
                                   cg_stats *st, seqrt_error *err);

/* ---- compile cache (cache.c; the entries' functions are in cg.h) ---- */

/*
 * The key of the object that tm makes of mod at level: a SHA-256 of mod's
 * bitcode (unoptimized: every codegen decision is in it), tm's triple, CPU
 * and features, the level, kind (what the object is for: "jit", "obj"; a
 * kernel's entry would say so here), the LLVM version and cg_build_id.
 */
void cg_cache_key(LLVMModuleRef mod, LLVMTargetMachineRef tm, int level, const char *kind,
                  uint8_t key[CG_HASH_BYTES]);
/* the key of a whole-model entry: the same start, then cg_options.source_key
 * in place of the module (which need not be built to find it) */
void cg_cache_source_key(const uint8_t source[CG_HASH_BYTES], LLVMTargetMachineRef tm, int level,
                         const char *kind, uint8_t key[CG_HASH_BYTES]);
/* module.c: true if g has nodes for the `prepare` entry */
bool cg_has_prepare(const ir_graph *g);
/* SHA-256 (hex) of the compiler's sources, in cg_build_id.c, which
 * cmake/build_id.cmake writes into the build tree whenever one changes */
extern const char cg_build_id[];
/* a monotonic clock, for cg_stats */
double cg_now_ms(void);

#endif
