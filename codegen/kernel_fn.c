/*
 * kernel_fn.c: every kernel of an entry point is a function of its own, and
 * kernels whose code comes out identical are one function called from
 * several places (issue 18: the same GEMM, layer norm or attention in every
 * layer of a stack). LLVM then optimizes and allocates registers for many
 * small functions, each distinct one once, instead of one huge `run`.
 *
 * A kernel function takes the entry's arguments plus a table of buffer ids:
 *   void kernel.N(ptr bufs, ptr ids, i64 nids, ptr syms, ptr team, i32 ith, i32 nth)
 * and finds buffer k of its own (its slot k, in the order its code first
 * asked for them) at bufs[ids[k]], so the code of two layers' kernels
 * differs only in their call sites' id tables. A scan's per-thread table of
 * buffer pointers holds the kernel's nids slots the same way (local[k]). Symbols and the session's numbers are loaded
 * (or folded in) at the function's entry as the entry points do. Two
 * kernels are the same function when their printed IR, with value names
 * dropped, is the same text. The functions are internal and noinline: they
 * stay small for the optimizer, and a call costs nothing beside a kernel.
 */
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

/* one distinct kernel function */
typedef struct kernel_fn {
  uint64_t hash;   /* FNV-1a of text */
  char *text;      /* its printed IR, names dropped (malloc'd) */
  LLVMValueRef fn; /* the function */
} kernel_fn;

struct cg_kernels {
  kernel_fn *fns; /* the distinct kernels so far */
  int n, cap;     /* their number, room */
  int calls;      /* kernel calls emitted */
};

cg_kernels *cg_kernels_new(void) {
  cg_kernels *k = calloc(1, sizeof *k);
  IR_ASSERT(k);
  return k;
}

void cg_kernels_free(cg_kernels *k) {
  if (!k) return;
  for (int i = 0; i < k->n; i++) free(k->fns[i].text);
  free(k->fns);
  free(k);
}

int cg_kernels_distinct(const cg_kernels *k) { return k ? k->n : 0; }

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

/* the kernel's IR as text without the names that tell layers apart */
static char *print_anonymous(LLVMValueRef fn) {
  for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(fn); bb; bb = LLVMGetNextBasicBlock(bb))
    for (LLVMValueRef i = LLVMGetFirstInstruction(bb); i; i = LLVMGetNextInstruction(i))
      if (LLVMGetTypeKind(LLVMTypeOf(i)) != LLVMVoidTypeKind) LLVMSetValueName2(i, "", 0);
  LLVMSetValueName2(fn, "kernel", 6);
  char *s = LLVMPrintValueToString(fn);
  char *copy = strdup(s);
  LLVMDisposeMessage(s);
  IR_ASSERT(copy);
  return copy;
}

/* an earlier kernel with this code, else fn itself, recorded */
static LLVMValueRef share(cg_kernels *k, LLVMValueRef fn) {
  char *text = print_anonymous(fn);
  uint64_t h = fnv1a(text);
  for (int i = 0; i < k->n; i++)
    if (k->fns[i].hash == h && strcmp(k->fns[i].text, text) == 0) {
      free(text);
      LLVMDeleteFunction(fn);
      return k->fns[i].fn;
    }
  if (k->n == k->cap) {
    k->cap = k->cap ? 2 * k->cap : 64;
    k->fns = realloc(k->fns, sizeof *k->fns * (size_t)k->cap);
    IR_ASSERT(k->fns);
  }
  char name[32];
  snprintf(name, sizeof name, "kernel.%d", k->n);
  LLVMSetValueName2(fn, name, strlen(name));
  k->fns[k->n++] = (kernel_fn){.hash = h, .text = text, .fn = fn};
  return fn;
}

/* the caller's per-function state, while a kernel function is built */
typedef struct saved {
  LLVMValueRef fn, bufs, syms, team, ith, nth, ids;
  LLVMBasicBlockRef entry, at;
  LLVMValueRef sym_val[IR_MAX_SYMS];
  LLVMValueRef session_val[SEQRT_SESSION_SYMS];
} saved;

static void save(cg_ctx *c, saved *s) {
  *s = (saved){.fn = c->fn, .bufs = c->bufs, .syms = c->syms, .team = c->team, .ith = c->ith,
               .nth = c->nth, .ids = c->ids, .entry = c->entry, .at = LLVMGetInsertBlock(c->b)};
  memcpy(s->sym_val, c->sym_val, sizeof s->sym_val);
  memcpy(s->session_val, c->session_val, sizeof s->session_val);
}

static void restore(cg_ctx *c, const saved *s) {
  c->fn = s->fn, c->bufs = s->bufs, c->syms = s->syms, c->team = s->team;
  c->ith = s->ith, c->nth = s->nth, c->ids = s->ids, c->entry = s->entry;
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

void cg_kernel_call(cg_ctx *c, const ir_node *n, const ir_node *partner,
                    void (*emit)(cg_ctx *c, const ir_node *n, const ir_node *partner)) {
  saved s;
  save(c, &s);
  LLVMTypeRef params[] = {c->ptr, c->ptr, c->i64, c->ptr, c->ptr, c->i32, c->i32};
  LLVMTypeRef fty = LLVMFunctionType(c->void_t, params, 7, 0);
  LLVMValueRef fn = LLVMAddFunction(c->mod, "kernel.new", fty);
  LLVMSetLinkage(fn, LLVMInternalLinkage);
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
  c->nslots = 0;
  emit(c, n, partner);
  LLVMBuildRetVoid(c->b);
  for (int k = 0; k < c->nslots; k++) c->slot_of[c->slot_buf[k]] = -1;
  restore(c, &s);
  if (c->failed) return;

  fn = share(c->kernels, fn);
  /* the call site's table of buffer ids */
  LLVMValueRef *ids = malloc(sizeof *ids * (size_t)(c->nslots + 1));
  IR_ASSERT(ids);
  for (int k = 0; k < c->nslots; k++) ids[k] = cg_i32(c, c->slot_buf[k]);
  LLVMValueRef init = LLVMConstArray2(c->i32, ids, (uint64_t)c->nslots);
  free(ids);
  LLVMValueRef table = LLVMAddGlobal(c->mod, LLVMTypeOf(init), "ids");
  LLVMSetInitializer(table, init);
  LLVMSetGlobalConstant(table, 1);
  LLVMSetLinkage(table, LLVMPrivateLinkage);
  LLVMSetUnnamedAddress(table, LLVMGlobalUnnamedAddr);
  LLVMValueRef args[] = {c->bufs, table, cg_i64(c, c->nslots), c->syms, c->team, c->ith, c->nth};
  LLVMBuildCall2(c->b, fty, fn, args, 7, "");
  c->kernels->calls++;
}
