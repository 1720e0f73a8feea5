/*
 * jit.c: compiles a planned graph to native code in this process.
 *
 * The module is built for the host CPU (or the one cg_options names),
 * verified, optimized with the new pass manager at the requested level and
 * compiled to an object in memory, which an ORC LLJIT (whose target machine
 * is the same one) links. With a cache directory the object may come from
 * the cache instead (cache.c): then optimization and machine code are
 * skipped. The runtime's team functions (seqrt_barrier, seqrt_arrive,
 * seqrt_wait) and seqrt_fail are defined in the JIT as absolute symbols
 * (they live in a static library, so dlsym would not find them); libm (sin,
 * cos, pow) comes from a process symbol generator. Every LLVM error becomes
 * a seqrt_error message: nothing here aborts on bad input. The target machine
 * and the optimization pipeline are object.c's, shared with AOT. When seqc's
 * precompiled shared GEMMs fit the target (gemm_library.c), the module only
 * declares them and the JIT links their object beside the module's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "cg_internal.h"

struct cg_jit {
  LLVMOrcLLJITRef jit;    /* owns the compiled code */
  seqrt_model_desc *desc; /* buffers, symbols and entry points (malloc'd) */
  cg_stats stats;         /* stage times, cache hit */
};

/* copies an LLVM error into err (consuming it); true if there was one */
static bool take_error(LLVMErrorRef e, seqrt_error *err, const char *what) {
  if (!e) return false;
  char *m = LLVMGetErrorMessage(e);
  snprintf(err->msg, sizeof err->msg, "codegen: %s: %s", what, m);
  LLVMDisposeErrorMessage(m);
  return true;
}

/* defines the team functions and seqrt_fail, and exposes the process's symbols */
static LLVMErrorRef define_runtime(LLVMOrcLLJITRef jit) {
  LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(jit);
  LLVMJITSymbolFlags flags = {LLVMJITSymbolGenericFlagsExported | LLVMJITSymbolGenericFlagsCallable,
                              0};
  LLVMOrcCSymbolMapPair syms[] = {
      {LLVMOrcLLJITMangleAndIntern(jit, "seqrt_barrier"),
       {(LLVMOrcJITTargetAddress)(uintptr_t)&seqrt_barrier, flags}},
      {LLVMOrcLLJITMangleAndIntern(jit, "seqrt_arrive"),
       {(LLVMOrcJITTargetAddress)(uintptr_t)&seqrt_arrive, flags}},
      {LLVMOrcLLJITMangleAndIntern(jit, "seqrt_wait"),
       {(LLVMOrcJITTargetAddress)(uintptr_t)&seqrt_wait, flags}},
      {LLVMOrcLLJITMangleAndIntern(jit, "seqrt_fail"),
       {(LLVMOrcJITTargetAddress)(uintptr_t)&seqrt_fail, flags}},
      {LLVMOrcLLJITMangleAndIntern(jit, "seqrt_failed"),
       {(LLVMOrcJITTargetAddress)(uintptr_t)&seqrt_failed, flags}},
  };
  LLVMOrcMaterializationUnitRef mu = LLVMOrcAbsoluteSymbols(syms, sizeof syms / sizeof syms[0]);
  LLVMErrorRef e = LLVMOrcJITDylibDefine(jd, mu);
  if (e) {
    LLVMOrcDisposeMaterializationUnit(mu);
    return e;
  }
  LLVMOrcDefinitionGeneratorRef gen;
  e = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&gen, LLVMOrcLLJITGetGlobalPrefix(jit),
                                                           NULL, NULL);
  if (e) return e;
  LLVMOrcJITDylibAddGenerator(jd, gen);
  return NULL;
}

/*
 * The JIT's code is one object per part of the module (parallel.c); a cache
 * entry holds them all: "SEQCOBJS", their count (u32), each one's length
 * (u64), then their bytes.
 */
typedef struct objects {
  LLVMMemoryBufferRef obj[CG_MAX_PARTS]; /* the parts' objects */
  int n;                                 /* their number, 0: none */
} objects;

static void put_le(uint8_t *p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get_le(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static void store_objects(const cg_options *opt, const uint8_t key[CG_HASH_BYTES],
                          const objects *o, cg_stats *st) {
  size_t len = 12 + 8 * (size_t)o->n;
  for (int i = 0; i < o->n; i++) len += LLVMGetBufferSize(o->obj[i]);
  uint8_t *buf = malloc(len), *p = buf + 12 + 8 * (size_t)o->n;
  IR_ASSERT(buf);
  memcpy(buf, "SEQCOBJS", 8);
  put_le(buf + 8, (uint64_t)o->n, 4);
  for (int i = 0; i < o->n; i++) {
    size_t n = LLVMGetBufferSize(o->obj[i]);
    put_le(buf + 12 + 8 * i, n, 8);
    memcpy(p, LLVMGetBufferStart(o->obj[i]), n);
    p += n;
  }
  cg_cache_store(opt->cache_dir, opt->cache_max_bytes, key, buf, len, st->cache_note,
                 sizeof st->cache_note);
  free(buf);
}

/* the entry of key as objects; false when absent or not of this form (a
 * checked entry of another kind under this key cannot happen, but is a miss) */
static bool load_objects(const cg_options *opt, const uint8_t key[CG_HASH_BYTES], objects *o) {
  void *bytes;
  size_t len;
  if (!cg_cache_load(opt->cache_dir, key, &bytes, &len)) return false;
  const uint8_t *b = bytes;
  uint64_t n = len >= 12 && !memcmp(b, "SEQCOBJS", 8) ? get_le(b + 8, 4) : 0;
  bool ok = n >= 1 && n <= CG_MAX_PARTS && len >= 12 + 8 * n;
  size_t at = 12 + 8 * (size_t)n;
  for (uint64_t i = 0; ok && i < n; i++) {
    uint64_t m = get_le(b + 12 + 8 * i, 8);
    ok = m <= len - at;
    if (ok) o->obj[o->n++] = LLVMCreateMemoryBufferWithMemoryRangeCopy((const char *)b + at, m,
                                                                      "seqc");
    at += m;
  }
  free(bytes);
  if (!ok || at != len) {
    for (int i = 0; i < o->n; i++) LLVMDisposeMemoryBuffer(o->obj[i]);
    o->n = 0;
    return false;
  }
  return true;
}

/* threads to compile on: opt's, else the machine's cores (at most CG_MAX_PARTS) */
static int compile_threads(const cg_options *opt) {
  long n = opt && opt->compile_threads > 0 ? opt->compile_threads : sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > CG_MAX_PARTS ? CG_MAX_PARTS : (int)n;
}

/* the objects of mod, from the cache when opt names one and holds them,
 * else optimized and compiled in parts (and then stored); false with err set */
/* the cache's kind of a JIT's objects: those that need the GEMM library apart */
static const char *jit_kind(const cg_options *opt) {
  return opt && opt->gemm_library ? "jit+gemmlib" : "jit";
}

static bool module_objects(LLVMModuleRef mod, LLVMTargetMachineRef tm, int level,
                           const cg_options *opt, cg_stats *st, objects *o, seqrt_error *err) {
  const char *dir = opt ? opt->cache_dir : NULL;
  uint8_t key[CG_HASH_BYTES];
  double t = cg_now_ms();
  if (dir) {
    st->cache_used = true;
    cg_cache_key(mod, tm, level, jit_kind(opt), key);
    st->cache_hit = load_objects(opt, key, o);
    st->cache_ms += cg_now_ms() - t;
    if (st->cache_hit) return true;
  }
  o->n = cg_emit_parts(mod, opt, tm, level, compile_threads(opt), o->obj, st, err);
  if (!o->n) return false;
  if (dir) {
    t = cg_now_ms();
    store_objects(opt, key, o, st);
    st->cache_ms += cg_now_ms() - t;
  }
  return true;
}

/* the whole-model entry of opt->source_key, if the cache holds it: no module
 * to build (false otherwise) */
static bool model_objects(LLVMTargetMachineRef tm, int level, const cg_options *opt, cg_stats *st,
                          objects *o) {
  if (!opt || !opt->cache_dir || !opt->source_key) return false;
  double t = cg_now_ms();
  uint8_t key[CG_HASH_BYTES];
  cg_cache_source_key(opt->source_key, tm, level, jit_kind(opt), key);
  st->cache_used = true;
  bool hit = load_objects(opt, key, o);
  if (hit) {
    st->cache_hit = st->model_hit = true;
    st->kernels = -1;
  }
  st->cache_ms = cg_now_ms() - t;
  return hit;
}

cg_jit *cg_jit_compile(const ir_graph *g, const cg_options *opt, seqrt_error *err) {
  seqrt_error scratch;
  if (!err) err = &scratch;
  err->msg[0] = 0;
  int level = opt ? opt->opt_level : 3;
  if (level < 0) level = 0;
  if (level > 3) level = 3;
  int vw = 4;
  LLVMTargetMachineRef tm = cg_target_machine(opt, level, false, &vw, err);
  if (!tm) return NULL;
  cg_stats st = {0};
  /* the precompiled GEMMs when they fit, unless the caller asked for none */
  cg_options with = opt ? *opt : (cg_options){.opt_level = 3};
  with.gemm_library = !with.no_gemm_library && cg_gemm_library_fits(tm, vw, level);
  opt = &with;

  /* the module becomes objects here, in memory (or comes from the cache);
   * the JIT only links them */
  objects o = {.n = 0};
  if (!model_objects(tm, level, opt, &st, &o)) {
    double t = cg_now_ms();
    LLVMContextRef llvm = LLVMContextCreate();
    LLVMModuleRef mod = cg_module_build(g, opt, vw, llvm, err);
    st.ir_ms = cg_now_ms() - t;
    st.kernels = mod ? cg_module_kernels(mod) : 0;
    bool ok = mod && module_objects(mod, tm, level, opt, &st, &o, err);
    if (mod) LLVMDisposeModule(mod);
    LLVMContextDispose(llvm);
    if (!ok) {
      LLVMDisposeTargetMachine(tm);
      return NULL;
    }
    if (st.cache_used && opt->source_key) { /* the whole-model entry, for next time */
      t = cg_now_ms();
      uint8_t key[CG_HASH_BYTES];
      cg_cache_source_key(opt->source_key, tm, level, jit_kind(opt), key);
      store_objects(opt, key, &o, &st);
      st.cache_ms += cg_now_ms() - t;
    }
  }
  st.parts = o.n;
  st.gemm_library = opt->gemm_library;
  bool has_prepare = cg_has_prepare(g);
  double t = cg_now_ms();
  /* the JIT's machine is a copy of tm (which the builder disposes) */
  LLVMOrcJITTargetMachineBuilderRef jtmb =
      LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(tm);
  LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
  LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, jtmb);
  cg_jit *j = calloc(1, sizeof *j);
  IR_ASSERT(j);
  if (take_error(LLVMOrcCreateLLJIT(&j->jit, builder), err, "creating the JIT")) {
    for (int i = 0; i < o.n; i++) LLVMDisposeMemoryBuffer(o.obj[i]);
    free(j);
    return NULL;
  }
  if (take_error(define_runtime(j->jit), err, "runtime symbols")) {
    for (int i = 0; i < o.n; i++) LLVMDisposeMemoryBuffer(o.obj[i]);
    goto fail_jit;
  }
  /* the JIT owns each object from here, whatever the outcome */
  bool added = !opt->gemm_library ||
               !take_error(LLVMOrcLLJITAddObjectFile(j->jit, LLVMOrcLLJITGetMainJITDylib(j->jit),
                                                     cg_gemm_library_object()),
                           err, "adding the GEMM library");
  for (int i = 0; i < o.n; i++) {
    if (!added) {
      LLVMDisposeMemoryBuffer(o.obj[i]);
      continue;
    }
    added = !take_error(
        LLVMOrcLLJITAddObjectFile(j->jit, LLVMOrcLLJITGetMainJITDylib(j->jit), o.obj[i]), err,
        "adding an object");
  }
  if (!added) goto fail_jit;

  j->desc = cg_desc_new(g, opt ? opt->bind_syms : NULL);
  LLVMOrcExecutorAddress addr = 0;
  if (take_error(LLVMOrcLLJITLookup(j->jit, &addr, "run"), err, "looking up run")) goto fail_jit;
  j->desc->run = (seqrt_entry_fn)(uintptr_t)addr;
  if (has_prepare) {
    if (take_error(LLVMOrcLLJITLookup(j->jit, &addr, "prepare"), err, "looking up prepare"))
      goto fail_jit;
    j->desc->prepare = (seqrt_entry_fn)(uintptr_t)addr;
  }
  st.link_ms = cg_now_ms() - t;
  j->stats = st;
  return j;

fail_jit:
  cg_jit_free(j);
  return NULL;
}

const seqrt_model_desc *cg_jit_desc(const cg_jit *j) { return j->desc; }

const cg_stats *cg_jit_stats(const cg_jit *j) { return &j->stats; }

void cg_jit_free(cg_jit *j) {
  if (!j) return;
  if (j->jit) {
    LLVMErrorRef e = LLVMOrcDisposeLLJIT(j->jit);
    if (e) LLVMConsumeError(e);
  }
  cg_desc_free(j->desc);
  free(j);
}
