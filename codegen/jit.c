/*
 * jit.c: compiles a planned graph to native code in this process.
 *
 * The module is built for the host CPU (or the one cg_options names),
 * verified, optimized with the new pass manager at the requested level, and
 * handed to an ORC LLJIT whose target machine is the same one. The runtime's
 * team functions (seqrt_barrier, seqrt_arrive, seqrt_wait) and seqrt_fail
 * are defined in the JIT as absolute symbols
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

  LLVMOrcThreadSafeContextRef tsctx = LLVMOrcCreateNewThreadSafeContext();
  LLVMContextRef llvm = LLVMOrcThreadSafeContextGetContext(tsctx);
  LLVMModuleRef mod = cg_module_build(g, opt, vw, llvm, err);
  if (!mod) goto fail_tm;
  if (!cg_module_optimize(mod, tm, level, err)) goto fail_mod;

  /* the JIT's machine is a copy of tm (which the builder disposes) */
  LLVMOrcJITTargetMachineBuilderRef jtmb =
      LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(tm);
  tm = NULL;
  LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
  LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, jtmb);
  cg_jit *j = calloc(1, sizeof *j);
  IR_ASSERT(j);
  if (take_error(LLVMOrcCreateLLJIT(&j->jit, builder), err, "creating the JIT")) {
    free(j);
    goto fail_mod;
  }
  if (take_error(define_runtime(j->jit), err, "runtime symbols")) goto fail_jit;
  bool has_prepare = LLVMGetNamedFunction(mod, "prepare") != NULL;
  LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(mod, tsctx);
  mod = NULL;
  LLVMErrorRef e = LLVMOrcLLJITAddLLVMIRModule(j->jit, LLVMOrcLLJITGetMainJITDylib(j->jit), tsm);
  if (e) {
    LLVMOrcDisposeThreadSafeModule(tsm);
    take_error(e, err, "adding the module");
    goto fail_jit;
  }
  LLVMOrcDisposeThreadSafeContext(tsctx);
  tsctx = NULL;

  j->desc = cg_desc_new(g, opt ? opt->bind_syms : NULL);
  LLVMOrcExecutorAddress addr = 0;
  if (take_error(LLVMOrcLLJITLookup(j->jit, &addr, "run"), err, "looking up run")) goto fail_jit;
  j->desc->run = (seqrt_entry_fn)(uintptr_t)addr;
  if (has_prepare) {
    if (take_error(LLVMOrcLLJITLookup(j->jit, &addr, "prepare"), err, "looking up prepare"))
      goto fail_jit;
    j->desc->prepare = (seqrt_entry_fn)(uintptr_t)addr;
  }
  return j;

fail_jit:
  cg_jit_free(j);
fail_mod:
  if (mod) LLVMDisposeModule(mod);
fail_tm:
  if (tm) LLVMDisposeTargetMachine(tm);
  if (tsctx) LLVMOrcDisposeThreadSafeContext(tsctx);
  return NULL;
}

const seqrt_model_desc *cg_jit_desc(const cg_jit *j) { return j->desc; }

void cg_jit_free(cg_jit *j) {
  if (!j) return;
  if (j->jit) {
    LLVMErrorRef e = LLVMOrcDisposeLLJIT(j->jit);
    if (e) LLVMConsumeError(e);
  }
  cg_desc_free(j->desc);
  free(j);
}
