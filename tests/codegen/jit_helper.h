/*
 * jit_helper.h: shared setup of the codegen tests and the GEMM bench. A test
 * builds a small module with the LLVM C API in jh's context, then jh_compile
 * verifies it, optimizes it at O3 for the host CPU (as codegen does) and hands
 * it to an ORC LLJIT, from which jh_lookup fetches the functions.
 */
#ifndef SEQC_JIT_HELPER_H
#define SEQC_JIT_HELPER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

typedef struct jh {
  LLVMOrcThreadSafeContextRef tsc; /* owns cx */
  LLVMContextRef cx;               /* context the test builds its module in */
  LLVMModuleRef mod;   /* the module under construction; the JIT owns it after compile */
  LLVMOrcLLJITRef jit; /* NULL until jh_compile succeeds */
} jh;

static void jh_init(jh *h, const char *name) {
  LLVMInitializeNativeTarget();
  LLVMInitializeNativeAsmPrinter();
  h->tsc = LLVMOrcCreateNewThreadSafeContext();
  h->cx = LLVMOrcThreadSafeContextGetContext(h->tsc);
  h->mod = LLVMModuleCreateWithNameInContext(name, h->cx);
  h->jit = NULL;
}

/* prints the LLVM error and frees it; returns 1 when there was one */
static int jh_error(LLVMErrorRef e, const char *what) {
  if (!e) return 0;
  char *msg = LLVMGetErrorMessage(e);
  fprintf(stderr, "%s: %s\n", what, msg);
  LLVMDisposeErrorMessage(msg);
  return 1;
}

/* the host target machine (CPU and features of this machine, O3) */
static LLVMTargetMachineRef jh_host_machine(void) {
  char *triple = LLVMGetDefaultTargetTriple();
  LLVMTargetRef t = NULL;
  char *err = NULL;
  if (LLVMGetTargetFromTriple(triple, &t, &err)) {
    fprintf(stderr, "no target: %s\n", err);
    LLVMDisposeMessage(err);
    LLVMDisposeMessage(triple);
    return NULL;
  }
  char *cpu = LLVMGetHostCPUName(), *feat = LLVMGetHostCPUFeatures();
  LLVMTargetMachineRef tm = LLVMCreateTargetMachine(
      t, triple, cpu, feat, LLVMCodeGenLevelAggressive, LLVMRelocDefault, LLVMCodeModelJITDefault);
  LLVMDisposeMessage(cpu);
  LLVMDisposeMessage(feat);
  LLVMDisposeMessage(triple);
  return tm;
}

/* verify, optimize (O3 unless opt is 0) and JIT the module; 0 on success */
static int jh_compile(jh *h, int opt) {
  char *err = NULL;
  if (LLVMVerifyModule(h->mod, LLVMReturnStatusAction, &err)) {
    fprintf(stderr, "invalid module: %s\n", err);
    LLVMDisposeMessage(err);
    return 1;
  }
  LLVMDisposeMessage(err);
  LLVMTargetMachineRef tm = jh_host_machine();
  if (!tm) return 1;
  char *triple = LLVMGetTargetMachineTriple(tm);
  LLVMSetTarget(h->mod, triple);
  LLVMDisposeMessage(triple);
  LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
  LLVMSetModuleDataLayout(h->mod, td);
  LLVMDisposeTargetData(td);
  if (opt) {
    LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
    int bad = jh_error(LLVMRunPasses(h->mod, "default<O3>", tm, po), "passes");
    LLVMDisposePassBuilderOptions(po);
    if (bad) {
      LLVMDisposeTargetMachine(tm);
      return 1;
    }
  }
  LLVMDisposeTargetMachine(tm);
  if (getenv("JH_DUMP")) LLVMDumpModule(h->mod);

  LLVMOrcJITTargetMachineBuilderRef jtmb = NULL;
  if (jh_error(LLVMOrcJITTargetMachineBuilderDetectHost(&jtmb), "host")) return 1;
  LLVMOrcLLJITBuilderRef jb = LLVMOrcCreateLLJITBuilder();
  LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(jb, jtmb);
  if (jh_error(LLVMOrcCreateLLJIT(&h->jit, jb), "lljit")) return 1;
  LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(h->mod, h->tsc);
  h->mod = NULL;
  if (jh_error(LLVMOrcLLJITAddLLVMIRModule(h->jit, LLVMOrcLLJITGetMainJITDylib(h->jit), tsm),
               "add module")) {
    LLVMOrcDisposeThreadSafeModule(tsm);
    return 1;
  }
  return 0;
}

static void *jh_lookup(jh *h, const char *name) {
  LLVMOrcExecutorAddress addr = 0;
  if (jh_error(LLVMOrcLLJITLookup(h->jit, &addr, name), name)) return NULL;
  return (void *)(uintptr_t)addr;
}

static void jh_free(jh *h) {
  if (h->mod) LLVMDisposeModule(h->mod);
  if (h->jit) jh_error(LLVMOrcDisposeLLJIT(h->jit), "dispose");
  LLVMOrcDisposeThreadSafeContext(h->tsc);
}

#endif
