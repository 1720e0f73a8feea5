/*
 * parallel.c: the JIT's module compiled on several cores. LLVM optimizes and
 * compiles one module on one thread, and a context may not be shared
 * between threads, so the module (built, its identical kernels merged) is
 * cut into parts: its kernel functions are dealt to the parts by size, the
 * largest first to the lightest part, and each part is the whole module
 * read again from its bitcode into a context of its own, with the other
 * parts' kernels left as declarations (the entry points live in part 0).
 * The kernels become external so that the JIT links the parts' objects
 * into one program. Each part is optimized and compiled on its own thread
 * with its own target machine.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/BitReader.h>
#include <llvm-c/BitWriter.h>

#include "cg_internal.h"

/* a part on its thread */
typedef struct part {
  LLVMContextRef llvm;      /* its own context */
  LLVMModuleRef mod;        /* the module with only this part's kernels defined */
  LLVMTargetMachineRef tm;  /* its own target machine */
  int level;                /* optimization level */
  LLVMMemoryBufferRef obj;  /* the object, or NULL on failure */
  cg_stats st;              /* its stages' times */
  seqrt_error err;          /* its failure */
} part;

static bool is_kernel(LLVMValueRef f, const char **name) {
  size_t len;
  *name = LLVMGetValueName2(f, &len);
  return len > 7 && !strncmp(*name, "kernel.", 7) && !LLVMIsDeclaration(f);
}

static int64_t instructions(LLVMValueRef f) {
  int64_t n = 0;
  for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(f); bb; bb = LLVMGetNextBasicBlock(bb))
    for (LLVMValueRef i = LLVMGetFirstInstruction(bb); i; i = LLVMGetNextInstruction(i)) n++;
  return n;
}

/*
 * Makes f a declaration. The C API has no Function::deleteBody, and erasing
 * the blocks one by one frees instructions that later blocks still use
 * (their uses then point into freed memory, which crashed once a kernel's
 * layout changed): so first every value's uses go to poison and every
 * branch goes, then nothing refers to anything being erased.
 */
static void drop_body(LLVMValueRef f) {
  for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(f); bb; bb = LLVMGetNextBasicBlock(bb))
    for (LLVMValueRef i = LLVMGetFirstInstruction(bb); i; i = LLVMGetNextInstruction(i))
      if (LLVMGetTypeKind(LLVMTypeOf(i)) != LLVMVoidTypeKind)
        LLVMReplaceAllUsesWith(i, LLVMGetPoison(LLVMTypeOf(i)));
  for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(f); bb; bb = LLVMGetNextBasicBlock(bb)) {
    LLVMValueRef t = LLVMGetBasicBlockTerminator(bb);
    if (t) LLVMInstructionEraseFromParent(t);
  }
  LLVMBasicBlockRef bb;
  while ((bb = LLVMGetFirstBasicBlock(f))) LLVMDeleteBasicBlock(bb);
  LLVMSetLinkage(f, LLVMExternalLinkage);
}

static void *compile_part(void *arg) {
  part *p = arg;
  p->obj = cg_module_emit(p->mod, p->tm, p->level, &p->st, &p->err);
  return NULL;
}

/* which part each kernel function of mod goes to (by name), largest first
 * to the lightest part; returns the kernels' names (malloc'd, owned by mod) */
typedef struct deal {
  char **names; /* kernel names */
  int *to;      /* their parts */
  int n;        /* kernels */
} deal;

static deal deal_kernels(LLVMModuleRef mod, int nparts) {
  deal d = {0};
  int cap = 0;
  int64_t *size = NULL;
  for (LLVMValueRef f = LLVMGetFirstFunction(mod); f; f = LLVMGetNextFunction(f)) {
    const char *name;
    if (!is_kernel(f, &name)) continue;
    if (d.n == cap) {
      cap = cap ? 2 * cap : 32;
      d.names = realloc(d.names, sizeof *d.names * (size_t)cap);
      size = realloc(size, sizeof *size * (size_t)cap);
      IR_ASSERT(d.names && size);
    }
    d.names[d.n] = strdup(name);
    IR_ASSERT(d.names[d.n]);
    size[d.n++] = instructions(f);
  }
  d.to = calloc((size_t)d.n + 1, sizeof *d.to);
  int64_t load[CG_MAX_PARTS] = {0};
  bool *done = calloc((size_t)d.n + 1, sizeof *done);
  IR_ASSERT(d.to && done);
  for (int k = 0; k < d.n; k++) {
    int big = -1, light = 0;
    for (int i = 0; i < d.n; i++)
      if (!done[i] && (big < 0 || size[i] > size[big])) big = i;
    for (int q = 1; q < nparts; q++)
      if (load[q] < load[light]) light = q;
    done[big] = true;
    d.to[big] = light;
    load[light] += size[big];
  }
  free(done);
  free(size);
  return d;
}

static void deal_free(deal *d) {
  for (int i = 0; i < d->n; i++) free(d->names[i]);
  free(d->names);
  free(d->to);
}

int cg_emit_parts(LLVMModuleRef mod, const cg_options *opt, LLVMTargetMachineRef tm, int level,
                  int nparts, LLVMMemoryBufferRef *objs, cg_stats *st, seqrt_error *err) {
  if (nparts > CG_MAX_PARTS) nparts = CG_MAX_PARTS;
  deal d = nparts > 1 ? deal_kernels(mod, nparts) : (deal){0};
  /* no part without a kernel (with fewer kernels than parts, the deal gave
   * kernel k of the largest first part k: parts past d.n are empty) */
  if (nparts > d.n) nparts = d.n;
  if (nparts < 2) {
    deal_free(&d);
    objs[0] = cg_module_emit(mod, tm, level, st, err);
    return objs[0] ? 1 : 0;
  }
  LLVMMemoryBufferRef bc = LLVMWriteBitcodeToMemoryBuffer(mod);
  part parts[CG_MAX_PARTS];
  memset(parts, 0, sizeof parts);
  bool ok = true;
  for (int q = 0; q < nparts && ok; q++) {
    part *p = &parts[q];
    p->level = level;
    p->llvm = LLVMContextCreate();
    LLVMMemoryBufferRef copy = LLVMCreateMemoryBufferWithMemoryRange(
        LLVMGetBufferStart(bc), LLVMGetBufferSize(bc), "seqc part", 0);
    ok = !LLVMParseBitcodeInContext2(p->llvm, copy, &p->mod);
    LLVMDisposeMemoryBuffer(copy);
    int vw;
    if (ok) p->tm = cg_target_machine(opt, level, false, &vw, err);
    ok = ok && p->tm;
    if (!ok) break;
    for (int k = 0; k < d.n; k++) {
      LLVMValueRef f = LLVMGetNamedFunction(p->mod, d.names[k]);
      IR_ASSERT(f);
      if (d.to[k] == q)
        LLVMSetLinkage(f, LLVMExternalLinkage);
      else
        drop_body(f);
    }
    if (q > 0) /* the entry points live in part 0 */
      for (const char *const *e = (const char *const[]){"run", "prepare", NULL}; *e; e++) {
        LLVMValueRef f = LLVMGetNamedFunction(p->mod, *e);
        if (f) LLVMDeleteFunction(f);
      }
  }
  LLVMDisposeMemoryBuffer(bc);
  deal_free(&d);
  if (!ok && !err->msg[0]) snprintf(err->msg, sizeof err->msg, "codegen: reading a part's bitcode");

  pthread_t th[CG_MAX_PARTS];
  bool started[CG_MAX_PARTS] = {false};
  for (int q = 1; q < nparts && ok; q++)
    started[q] = pthread_create(&th[q], NULL, compile_part, &parts[q]) == 0;
  if (ok) compile_part(&parts[0]);
  for (int q = 1; q < nparts; q++)
    if (started[q]) pthread_join(th[q], NULL);
    else if (ok) compile_part(&parts[q]); /* no thread: here, after the others */

  int n = 0;
  for (int q = 0; q < nparts; q++) {
    part *p = &parts[q];
    if (ok && !p->obj) {
      *err = p->err;
      ok = false;
    }
    if (p->st.optimize_ms > st->optimize_ms) st->optimize_ms = p->st.optimize_ms;
    if (p->st.machine_ms > st->machine_ms) st->machine_ms = p->st.machine_ms;
    objs[n++] = p->obj;
    if (p->mod) LLVMDisposeModule(p->mod);
    if (p->llvm) LLVMContextDispose(p->llvm);
    if (p->tm) LLVMDisposeTargetMachine(p->tm);
  }
  if (!ok) {
    for (int q = 0; q < n; q++)
      if (objs[q]) LLVMDisposeMemoryBuffer(objs[q]);
    return 0;
  }
  return n;
}
