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
  int opt_level;            /* 0: none; 1..3: kernel pipeline (target.c), codegen levels; default 3 */
  const char *cache_dir;    /* compile cache directory (cache.c), NULL = no cache */
  int64_t cache_max_bytes;  /* bound of the cache directory, 0 = 512 MB */
  int compile_threads;      /* JIT: threads LLVM compiles on (parallel.c), 0 = the cores */
  /* a hash (CG_HASH_BYTES) of everything the graph came from: the model's
   * text and the options of the frontend and the passes (the caller's
   * promise: the same source gives the same graph); NULL = none. With it,
   * the JIT also keeps a whole-model entry under it, and a compile that
   * finds one loads it without building the LLVM module at all */
  const uint8_t *source_key;
  /* JIT: compile the shared GEMMs with the model even when the ones
   * precompiled into seqc fit the target (gemm_library.c) */
  bool no_gemm_library;
  /* set by cg_jit_compile, not by callers: the module only declares the
   * shared GEMMs and the JIT links seqc's (AOT never does) */
  bool gemm_library;
} cg_options;

/* What a compile did and how long each stage took (milliseconds). */
typedef struct cg_stats {
  double ir_ms;        /* building the LLVM module from the graph */
  double optimize_ms;  /* LLVM's optimization pipeline (0 on a cache hit) */
  double machine_ms;   /* machine code: instruction selection, registers, the object */
  double cache_ms;     /* the cache: hashing the module, reading or writing the entry */
  double link_ms;      /* JIT: loading the object and resolving the entry points */
  bool cache_used;     /* the compile looked in a cache directory */
  bool cache_hit;      /* the object came from the cache: no optimization, no machine code */
  bool model_hit;      /* ... by the whole-model entry (source_key): no LLVM module either */
  int parts;           /* JIT: objects the code came in (parts compiled in parallel) */
  int kernels;         /* distinct kernel functions in the module (kernel_fn.c), -1 when
                          a whole-model hit built no module */
  bool gemm_library;   /* JIT: linked the GEMMs precompiled into seqc (gemm_library.c) */
  char cache_note[256]; /* why the cache was not written ("" when it was fine): for a warning */
} cg_stats;

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
/* what cg_jit_compile did (stage times, cache hit) */
const cg_stats *cg_jit_stats(const cg_jit *j);
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
  cg_stats *stats;                     /* filled when not NULL; the cache is used only for
                                          CG_EMIT_OBJ without params */
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

/*
 * ---- the compile cache (cache.c) ----
 * A directory of entries KEY.entry (a header, then an object's bytes),
 * checked on every read: a bad entry is a miss, never trusted. The keys are
 * cg_cache_key's (cg_internal.h); the functions here never fail loudly.
 */
#define CG_HASH_BYTES 32

/* SHA-256 of data */
void cg_sha256(const void *data, size_t len, uint8_t out[CG_HASH_BYTES]);
/* where the entry of key lives: DIR/HEX.entry */
void cg_cache_entry_path(const char *dir, const uint8_t key[CG_HASH_BYTES], char *path,
                         size_t size);
/* true with the payload (malloc'd, for the caller to free) if dir holds a
 * sound entry for key, which it marks as just used; false if none or a bad one */
bool cg_cache_load(const char *dir, const uint8_t key[CG_HASH_BYTES], void **payload,
                   size_t *len);
/* writes the entry of key (creating dir), atomically, then evicts the oldest
 * entries until the directory holds at most max_bytes (0 = 512 MB); false
 * with a message in msg (size bytes) if it could not write */
bool cg_cache_store(const char *dir, int64_t max_bytes, const uint8_t key[CG_HASH_BYTES],
                    const void *payload, size_t len, char *msg, size_t size);

/* ---- descriptor (desc.c) ---- */

/* the seqrt_model_desc of g (entry points left NULL), all of it malloc'd */
seqrt_model_desc *cg_desc_new(const ir_graph *g, const int64_t *bind_syms);
void cg_desc_free(seqrt_model_desc *d);

#endif
