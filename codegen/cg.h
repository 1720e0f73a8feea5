/*
 * cg.h: code generation. Turns a planned IR graph (after pass_plan_memory)
 * into an LLVM module with the SPMD entry points `prepare` and `run` of
 * seqrt.h, optimizes it (O3, host or given CPU), and either JIT-compiles it
 * (ORC LLJIT) or writes an object file.
 */
#ifndef SEQC_CG_H
#define SEQC_CG_H

#include <stdbool.h>

#include "ir.h"
#include "seqrt.h"

typedef struct cg_options {
  const int64_t *bind_syms; /* symbol values to fold in as constants, NULL = symbolic */
  const char *cpu;          /* target CPU, NULL = host */
  const char *features;     /* target features, NULL = host's (or CPU default) */
  int opt_level;            /* 0..3, default 3 */
} cg_options;

typedef struct cg_jit cg_jit;

/*
 * Compiles g to native code in this process. The descriptor (buffers, inputs,
 * outputs, entry points) stays valid until cg_jit_free. Returns NULL with a
 * message in err on failure (an LLVM error: a compiler bug, not user error).
 */
cg_jit *cg_jit_compile(const ir_graph *g, const cg_options *opt, seqrt_error *err);
const seqrt_model_desc *cg_jit_desc(const cg_jit *j);
void cg_jit_free(cg_jit *j);

/* ==== internal: shared by codegen's own files, not for other folders ==== */

#include <llvm-c/Core.h>

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
  int vec_width;              /* floats per vector on the target: 16, 8 or 4 */
  /*
   * Optional epilogue, applied to finished sums before they are stored:
   * acc is a <vec_width x float> of C[row, col .. col+vec_width-1] (row, col
   * i64), mask an <vec_width x i1> of the lanes inside n (NULL when all are).
   * Returns the vector to store. NULL epilogue stores acc as is.
   */
  LLVMValueRef (*epilogue)(void *user, LLVMBuilderRef b, LLVMValueRef acc, LLVMValueRef row,
                           LLVMValueRef col, LLVMValueRef mask);
  void *user; /* passed to epilogue */
} cg_gemm;

void cg_emit_gemm(LLVMModuleRef m, LLVMBuilderRef b, const cg_gemm *g);

#endif
