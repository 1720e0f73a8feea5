/*
 * cg.h: code generation, as the rest of seqc sees it. Turns a planned IR
 * graph (after pass_plan_memory) into an LLVM module with the SPMD entry
 * points `prepare` and `run` of seqrt.h, optimizes it (O3, host or given
 * CPU), and either JIT-compiles it (ORC LLJIT) or writes an object file.
 * No LLVM type appears here; the kernels' internals are in cg_internal.h,
 * which only codegen's own files (and its tests and benchmarks) include.
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

/* target.c: what the schedule pass needs of the target opt names (its vector width,
 * the GEMM's rule): give it to the pipeline (pass_ctx.target) of a graph
 * that codegen will compile with the same opt */
void cg_target(const cg_options *opt, ir_target *t);

typedef struct cg_jit cg_jit;

/*
 * Compiles g to native code in this process. The descriptor (buffers, inputs,
 * outputs, entry points) stays valid until cg_jit_free. Returns NULL with a
 * message in err on failure (an LLVM error: a compiler bug, not user error).
 */
cg_jit *cg_jit_compile(const ir_graph *g, const cg_options *opt, seqrt_error *err);
const seqrt_model_desc *cg_jit_desc(const cg_jit *j);
void cg_jit_free(cg_jit *j);

/* ---- ahead of time (object.c) ---- */

typedef enum cg_emit_kind {
  CG_EMIT_OBJ,  /* relocatable object (position independent, so it also links into a .so) */
  CG_EMIT_ASM,  /* assembly text */
  CG_EMIT_LLVM, /* optimized LLVM IR text */
} cg_emit_kind;

typedef struct cg_object_options {
  cg_emit_kind kind;                   /* what to write */
  const char *symbol;                  /* descriptor symbol (seqc_model_NAME) */
  const char *alias;                   /* second name for it (SEQRT_SHARED_SYMBOL), or NULL */
  const seqrt_embedded_param *params;  /* parameters to carry in the object, or NULL */
  int nparams;                         /* number of params */
} cg_object_options;

/*
 * Writes g, compiled for opt (bind_syms may hold -1 for dims left symbolic;
 * opt->cpu NULL = host), to path: the entry points (internal) and the
 * seqrt_model_desc `symbol` that points at them. Non-zero with err set on
 * failure (an unknown CPU, a file that cannot be written, an LLVM error).
 */
int cg_object_write(const ir_graph *g, const cg_options *opt, const cg_object_options *oo,
                    const char *path, seqrt_error *err);
/* true if LLVM knows cpu for this target ("x86-64-v3", "znver4", ...) */
bool cg_cpu_known(const char *cpu);

/* ---- descriptor (desc.c) ---- */

/* the seqrt_model_desc of g (entry points left NULL), all of it malloc'd */
seqrt_model_desc *cg_desc_new(const ir_graph *g, const int64_t *bind_syms);
void cg_desc_free(seqrt_model_desc *d);

#endif
