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
 * and the optimization pipeline are object.c's, shared with AOT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* the object of mod, from the cache when opt names one and holds it, else
 * optimized and compiled by tm (and then stored); NULL with err set */
static LLVMMemoryBufferRef module_object(LLVMModuleRef mod, LLVMTargetMachineRef tm, int level,
                                         const cg_options *opt, cg_stats *st, seqrt_error *err) {
  const char *dir = opt ? opt->cache_dir : NULL;
  uint8_t key[CG_HASH_BYTES];
  double t = cg_now_ms();
  if (dir) {
    st->cache_used = true;
    cg_cache_key(mod, tm, level, "jit", key);
    void *bytes;
    size_t len;
    st->cache_hit = cg_cache_load(dir, key, &bytes, &len);
    if (st->cache_hit) {
      LLVMMemoryBufferRef obj = LLVMCreateMemoryBufferWithMemoryRangeCopy(bytes, len, "seqc");
      free(bytes);
      st->cache_ms += cg_now_ms() - t;
      return obj;
    }
    st->cache_ms += cg_now_ms() - t;
  }
  LLVMMemoryBufferRef obj = cg_module_emit(mod, tm, level, st, err);
  if (!obj) return NULL;
  if (dir) {
    t = cg_now_ms();
    cg_cache_store(dir, opt->cache_max_bytes, key, LLVMGetBufferStart(obj), LLVMGetBufferSize(obj),
                   st->cache_note, sizeof st->cache_note);
    st->cache_ms += cg_now_ms() - t;
  }
  return obj;
}

/* the whole-model entry of opt->source_key, if the cache holds it: no module
 * to build (NULL otherwise) */
static LLVMMemoryBufferRef model_object(LLVMTargetMachineRef tm, int level, const cg_options *opt,
                                        cg_stats *st) {
  if (!opt || !opt->cache_dir || !opt->source_key) return NULL;
  double t = cg_now_ms();
  uint8_t key[CG_HASH_BYTES];
  cg_cache_source_key(opt->source_key, tm, level, "jit", key);
  void *bytes;
  size_t len;
  st->cache_used = true;
  if (!cg_cache_load(opt->cache_dir, key, &bytes, &len)) {
    st->cache_ms = cg_now_ms() - t;
    return NULL;
  }
  LLVMMemoryBufferRef obj = LLVMCreateMemoryBufferWithMemoryRangeCopy(bytes, len, "seqc");
  free(bytes);
  st->cache_hit = st->model_hit = true;
  st->kernels = -1;
  st->cache_ms = cg_now_ms() - t;
  return obj;
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

  /* the module becomes an object here, in memory (or comes from the cache);
   * the JIT only links it */
  LLVMMemoryBufferRef obj = model_object(tm, level, opt, &st);
  if (!obj) {
    double t = cg_now_ms();
    LLVMContextRef llvm = LLVMContextCreate();
    LLVMModuleRef mod = cg_module_build(g, opt, vw, llvm, err);
    st.ir_ms = cg_now_ms() - t;
    st.kernels = mod ? cg_module_kernels(mod) : 0;
    if (mod) obj = module_object(mod, tm, level, opt, &st, err);
    if (mod) LLVMDisposeModule(mod);
    LLVMContextDispose(llvm);
    if (!obj) {
      LLVMDisposeTargetMachine(tm);
      return NULL;
    }
    if (st.cache_used && opt->source_key) { /* the whole-model entry, for next time */
      t = cg_now_ms();
      uint8_t key[CG_HASH_BYTES];
      cg_cache_source_key(opt->source_key, tm, level, "jit", key);
      cg_cache_store(opt->cache_dir, opt->cache_max_bytes, key, LLVMGetBufferStart(obj),
                     LLVMGetBufferSize(obj), st.cache_note, sizeof st.cache_note);
      st.cache_ms += cg_now_ms() - t;
    }
  }
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
    LLVMDisposeMemoryBuffer(obj);
    free(j);
    return NULL;
  }
  if (take_error(define_runtime(j->jit), err, "runtime symbols")) {
    LLVMDisposeMemoryBuffer(obj);
    goto fail_jit;
  }
  /* the JIT owns obj from here, whatever the outcome */
  if (take_error(LLVMOrcLLJITAddObjectFile(j->jit, LLVMOrcLLJITGetMainJITDylib(j->jit), obj), err,
                 "adding the object"))
    goto fail_jit;

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
