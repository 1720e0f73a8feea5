/*
 * kernel_fn.c: every kernel of an entry point is a function of its own, and
 * kernels whose code comes out identical are one function called from
 * several places (issue 18: the same GEMM, layer norm or attention in every
 * layer of a stack). LLVM then optimizes and allocates registers for many
 * small functions, each distinct one once, instead of one huge `run`.
 *
 * A kernel function takes the entry's arguments plus a table of buffer ids:
 *   void kernel.N(ptr bufs, ptr ids, i64 nids, ptr syms, ptr team, i32 ith, i32 nth, i64 rows)
 * and finds buffer k of its own (its slot k, in the order its code first
 * asked for them) at bufs[ids[k]], so the code of two layers' kernels
 * differs only in their call sites' id tables. A scan's per-thread table of
 * buffer pointers holds the kernel's nids slots the same way (local[k]).
 * The kernels of a scan's step are kernel functions too, called from the
 * scan's: their bufs is that table and their ids its slots, so a step's
 * kernels are shared between the layers and directions of a stack and the
 * unrolled copies of a step, and a long step is many small functions that
 * the module's parts (parallel.c) compile side by side. `rows` is the
 * step's active rows when a scan with lengths varies its batch
 * (cg_ctx.varying_sym), else 0.
 * Symbols and the session's numbers are loaded (or folded in) at the
 * function's entry as the entry points do. A kernel function identical to
 * one built before is dropped as soon as it is built (dedupe.c), and when
 * the module is built LLVM's mergefunc pass folds what that missed (it
 * compares functions instruction by instruction, names aside, and points
 * every call at the one kept). The functions are internal and noinline:
 * they stay small for the optimizer, and a call costs nothing beside a
 * kernel.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Transforms/PassBuilder.h>

#include "cg_internal.h"

int cg_module_kernels(LLVMModuleRef mod) {
  int n = 0;
  for (LLVMValueRef f = LLVMGetFirstFunction(mod); f; f = LLVMGetNextFunction(f)) {
    size_t len;
    const char *name = LLVMGetValueName2(f, &len);
    n += len > 7 && !strncmp(name, "kernel.", 7) && !LLVMIsDeclaration(f);
  }
  return n;
}

bool cg_merge_kernels(LLVMModuleRef mod, seqrt_error *err) {
  LLVMPassBuilderOptionsRef pbo = LLVMCreatePassBuilderOptions();
  LLVMErrorRef e = LLVMRunPasses(mod, "constmerge,mergefunc", NULL, pbo);
  LLVMDisposePassBuilderOptions(pbo);
  if (!e) return true;
  char *m = LLVMGetErrorMessage(e);
  if (err) snprintf(err->msg, sizeof err->msg, "codegen: merging kernels: %s", m);
  LLVMDisposeErrorMessage(m);
  return false;
}

/* the caller's per-function state, while a kernel function is built */
typedef struct saved {
  LLVMValueRef fn, bufs, syms, team, ith, nth, ids, unit_lo, unit_hi;
  LLVMBasicBlockRef entry, at;
  LLVMValueRef sym_val[IR_MAX_SYMS];
  LLVMValueRef session_val[SEQRT_SESSION_SYMS];
} saved;

static void save(cg_ctx *c, saved *s) {
  *s = (saved){.fn = c->fn,
               .bufs = c->bufs,
               .syms = c->syms,
               .team = c->team,
               .ith = c->ith,
               .nth = c->nth,
               .ids = c->ids,
               .unit_lo = c->unit_lo,
               .unit_hi = c->unit_hi,
               .entry = c->entry,
               .at = LLVMGetInsertBlock(c->b)};
  memcpy(s->sym_val, c->sym_val, sizeof s->sym_val);
  memcpy(s->session_val, c->session_val, sizeof s->session_val);
}

static void restore(cg_ctx *c, const saved *s) {
  c->fn = s->fn, c->bufs = s->bufs, c->syms = s->syms, c->team = s->team;
  c->ith = s->ith, c->nth = s->nth, c->ids = s->ids, c->entry = s->entry;
  c->unit_lo = s->unit_lo, c->unit_hi = s->unit_hi;
  memcpy(c->sym_val, s->sym_val, sizeof s->sym_val);
  memcpy(c->session_val, s->session_val, sizeof s->session_val);
  LLVMPositionBuilderAtEnd(c->b, s->at);
}

/* true when buffers are the kernel function's own (not a scan step's table of them) */
static bool in_kernel(const cg_ctx *c) { return c->ids && c->bufs == LLVMGetParam(c->fn, 0); }

int cg_buffer_slot(cg_ctx *c, int buffer) {
  if (!c->ids) return buffer;
  int slot = c->slot_of[buffer];
  if (slot < 0) {
    slot = c->slot_of[buffer] = c->nslots;
    c->slot_buf[c->nslots++] = buffer;
  }
  return slot;
}

/* i64 id of the buffer at slot k of the kernel's table */
static LLVMValueRef slot_id(cg_ctx *c, LLVMValueRef k) {
  LLVMValueRef id = LLVMBuildLoad2(c->b, c->i32, cg_gep(c, c->i32, c->ids, k), "");
  LLVMSetAlignment(id, 4);
  return LLVMBuildSExt(c->b, id, c->i64, "");
}

LLVMValueRef cg_buffer_id(cg_ctx *c, int buffer) {
  if (buffer < 0 || !c->ids) return cg_i64(c, buffer);
  return slot_id(c, cg_i64(c, cg_buffer_slot(c, buffer)));
}

void cg_fill_table(cg_ctx *c, LLVMValueRef table) {
  LLVMValueRef bufs = LLVMGetParam(c->fn, 0);
  cg_loop k;
  cg_loop_begin(c, &k, cg_i64(c, 0), LLVMGetParam(c->fn, 2), cg_i64(c, 1));
  LLVMValueRef p = LLVMBuildLoad2(c->b, c->ptr, cg_gep(c, c->ptr, bufs, slot_id(c, k.i)), "");
  LLVMSetAlignment(p, 8);
  LLVMSetAlignment(LLVMBuildStore(c->b, p, cg_gep(c, c->ptr, table, k.i)), 8);
  cg_loop_end(c, &k);
}

LLVMValueRef cg_value_buffer(cg_ctx *c, int buffer) {
  if (!in_kernel(c)) { /* an entry's bufs, or a scan's table (by slot in a kernel function) */
    LLVMValueRef at = cg_gep(c, c->ptr, c->bufs, cg_i64(c, cg_buffer_slot(c, buffer)));
    LLVMValueRef p = LLVMBuildLoad2(c->b, c->ptr, at, "");
    LLVMSetAlignment(p, 8);
    return p;
  }
  LLVMValueRef at = cg_gep(c, c->ptr, c->bufs, cg_buffer_id(c, buffer));
  LLVMValueRef p = LLVMBuildLoad2(c->b, c->ptr, at, "");
  LLVMSetAlignment(p, 8);
  return p;
}

/* the slots a function has asked for, set aside while another is built (a
 * scan step's kernel inside the scan's kernel function) */
typedef struct slots {
  int *buf; /* per slot: the buffer id */
  int n;    /* slots */
} slots;

static slots take_slots(cg_ctx *c) {
  slots t = {malloc(sizeof *t.buf * (size_t)(c->nslots + 1)), c->nslots};
  IR_ASSERT(t.buf);
  memcpy(t.buf, c->slot_buf, sizeof *t.buf * (size_t)t.n);
  for (int k = 0; k < t.n; k++) c->slot_of[t.buf[k]] = -1;
  c->nslots = 0;
  return t;
}

static void give_slots(cg_ctx *c, slots t) {
  memcpy(c->slot_buf, t.buf, sizeof *t.buf * (size_t)t.n);
  for (int k = 0; k < t.n; k++) c->slot_of[t.buf[k]] = k;
  c->nslots = t.n;
  free(t.buf);
}

LLVMTypeRef cg_kernel_type(cg_ctx *c) {
  LLVMTypeRef params[] = {c->ptr, c->ptr, c->i64, c->ptr, c->ptr, c->i32, c->i32, c->i64};
  return LLVMFunctionType(c->void_t, params, 8, 0);
}

cg_kernel cg_kernel_fn(cg_ctx *c, const ir_node *n, const ir_node *partner,
                       void (*emit)(cg_ctx *c, const ir_node *n, const ir_node *partner)) {
  saved s;
  save(c, &s);
  slots caller = take_slots(c);
  LLVMValueRef fn = LLVMAddFunction(c->mod, "kernel", cg_kernel_type(c));
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  /* its address means nothing: mergefunc may point an entry's table at the one kept */
  LLVMSetUnnamedAddress(fn, LLVMGlobalUnnamedAddr);
  static const char *const attrs[] = {"nounwind", "noinline"};
  for (int a = 0; a < 2; a++) {
    unsigned kind = LLVMGetEnumAttributeKindForName(attrs[a], strlen(attrs[a]));
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                            LLVMCreateEnumAttribute(c->llvm, kind, 0));
  }
  c->fn = fn;
  c->bufs = LLVMGetParam(fn, 0);
  c->ids = LLVMGetParam(fn, 1);
  c->syms = LLVMGetParam(fn, 3);
  c->team = LLVMGetParam(fn, 4);
  c->ith = LLVMGetParam(fn, 5);
  c->nth = LLVMGetParam(fn, 6);
  c->entry = LLVMAppendBasicBlockInContext(c->llvm, fn, "entry");
  LLVMPositionBuilderAtEnd(c->b, c->entry);
  cg_load_syms(c);
  if (c->varying_sym) c->sym_val[c->varying_sym - 1] = LLVMGetParam(fn, 7);
  emit(c, n, partner);
  LLVMBuildRetVoid(c->b);
  slots own = take_slots(c);
  give_slots(c, caller);
  restore(c, &s);
  if (c->failed) {
    free(own.buf);
    return (cg_kernel){0};
  }

  LLVMValueRef same = cg_dedupe_function(c->dedupe, fn);
  if (same == fn) {
    char name[32];
    snprintf(name, sizeof name, "kernel.%d", c->nkernels++);
    LLVMSetValueName2(fn, name, strlen(name));
  }
  fn = same; /* an identical kernel built before (another layer's): that one */
  /* the call site's table: each slot's buffer id, or in a kernel function
   * the caller's slot of it (its bufs is then a scan's table) */
  LLVMValueRef *ids = malloc(sizeof *ids * (size_t)(own.n + 1));
  IR_ASSERT(ids);
  for (int k = 0; k < own.n; k++) ids[k] = cg_i32(c, cg_buffer_slot(c, own.buf[k]));
  LLVMValueRef init = LLVMConstArray2(c->i32, ids, (uint64_t)own.n);
  free(ids);
  free(own.buf);
  LLVMValueRef table = LLVMAddGlobal(c->mod, LLVMTypeOf(init), "ids");
  LLVMSetInitializer(table, init);
  LLVMSetGlobalConstant(table, 1);
  LLVMSetLinkage(table, LLVMPrivateLinkage);
  LLVMSetUnnamedAddress(table, LLVMGlobalUnnamedAddr);
  return (cg_kernel){.fn = fn, .ids = table, .nids = own.n};
}

void cg_kernel_call(cg_ctx *c, const ir_node *n, const ir_node *partner,
                    void (*emit)(cg_ctx *c, const ir_node *n, const ir_node *partner)) {
  cg_kernel k = cg_kernel_fn(c, n, partner, emit);
  if (!k.fn) return;
  LLVMValueRef rows = c->varying_sym ? c->sym_val[c->varying_sym - 1] : cg_i64(c, 0);
  LLVMValueRef args[] = {c->bufs, k.ids, cg_i64(c, k.nids), c->syms, c->team, c->ith, c->nth, rows};
  LLVMBuildCall2(c->b, cg_kernel_type(c), k.fn, args, 8, "");
}
