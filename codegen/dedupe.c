/*
 * dedupe.c: a kernel function identical to one built before it is dropped
 * as soon as it is built, and the earlier one called instead (issue 18).
 *
 * LLVM's mergefunc pass folds identical functions once the module is built,
 * but it compares every copy with the one it keeps, and a layer's kernel
 * that calls its own epilogue function matches only after a second round:
 * the same encoder with 24 layers spent 17 ms there, and its compile time
 * grew with the layers. Here each new function is hashed and compared with
 * the earlier ones of the same hash right away, so the module (and
 * mergefunc, which stays for what this misses) holds the distinct kernels
 * only, and a kernel's epilogue is already the shared one when the kernel
 * is compared.
 *
 * The comparison is deliberately narrow: two functions are the same when
 * every instruction has the same opcode, type, flags and operands, where an
 * operand local to the function (argument, block, instruction) must sit at
 * the same place in the other, and any other (constants and globals, which
 * LLVM makes once per context) must be the very same value, or a private
 * constant global with the same contents. Anything it does not know
 * (metadata, atomics, call-site attributes, opcodes codegen never emits)
 * makes two functions different: a miss costs compile time, a false match
 * would run the wrong code.
 */
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

/* the functions kept so far, with their hashes */
struct cg_dedupe {
  LLVMValueRef *fn; /* kept functions */
  uint64_t *hash;   /* their hashes */
  int n, cap;       /* kept, room */
};

/* a function's local values (arguments, blocks, instructions) numbered in order */
typedef struct numbering {
  LLVMValueRef *key; /* open addressing, NULL = empty */
  int *index;        /* the value's number */
  size_t mask;       /* slots - 1 (a power of two) */
} numbering;

static size_t slot_of(const numbering *m, LLVMValueRef v) {
  size_t h = (size_t)(((uintptr_t)v >> 4) * 0x9E3779B97F4A7C15ull);
  size_t i = h & m->mask;
  while (m->key[i] && m->key[i] != v) i = (i + 1) & m->mask;
  return i;
}

static void number(numbering *m, LLVMValueRef v, int index) {
  size_t i = slot_of(m, v);
  m->key[i] = v;
  m->index[i] = index;
}

/* v's number, or -1 when v is not local to the function */
static int index_of(const numbering *m, LLVMValueRef v) {
  size_t i = slot_of(m, v);
  return m->key[i] ? m->index[i] : -1;
}

static int count_values(LLVMValueRef f) {
  int n = (int)LLVMCountParams(f);
  for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(f); bb; bb = LLVMGetNextBasicBlock(bb)) {
    n++;
    for (LLVMValueRef i = LLVMGetFirstInstruction(bb); i; i = LLVMGetNextInstruction(i)) n++;
  }
  return n;
}

static numbering number_function(LLVMValueRef f) {
  int n = count_values(f);
  size_t slots = 16;
  while (slots < 2 * (size_t)n) slots *= 2;
  numbering m = {calloc(slots, sizeof *m.key), calloc(slots, sizeof *m.index), slots - 1};
  IR_ASSERT(m.key && m.index);
  int k = 0;
  for (unsigned p = 0; p < LLVMCountParams(f); p++) number(&m, LLVMGetParam(f, p), k++);
  for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(f); bb; bb = LLVMGetNextBasicBlock(bb)) {
    number(&m, LLVMBasicBlockAsValue(bb), k++);
    for (LLVMValueRef i = LLVMGetFirstInstruction(bb); i; i = LLVMGetNextInstruction(i))
      number(&m, i, k++);
  }
  return m;
}

static void numbering_free(numbering *m) {
  free(m->key);
  free(m->index);
}

static uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001B3ull; }

/* a hash that equal functions share: opcodes, types and non-local operands */
static uint64_t hash_function(LLVMValueRef f) {
  uint64_t h = mix(0xCBF29CE484222325ull, (uintptr_t)LLVMGlobalGetValueType(f));
  for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(f); bb; bb = LLVMGetNextBasicBlock(bb)) {
    h = mix(h, 0xB10C);
    for (LLVMValueRef i = LLVMGetFirstInstruction(bb); i; i = LLVMGetNextInstruction(i)) {
      h = mix(h, (uint64_t)LLVMGetInstructionOpcode(i));
      h = mix(h, (uintptr_t)LLVMTypeOf(i));
      int nops = LLVMGetNumOperands(i);
      for (int k = 0; k < nops; k++) {
        LLVMValueRef op = LLVMGetOperand(i, k);
        /* constants: their identity; anything else (locals, globals): its kind */
        h = mix(h, LLVMIsAConstant(op) && !LLVMIsAGlobalValue(op) ? (uintptr_t)op
                                                                    : (uint64_t)LLVMGetValueKind(op));
      }
    }
  }
  return h;
}

/* n attributes of each, in the order their builder added them, agree: enum
 * attributes (kind and value) only */
static bool same_attribute_list(const LLVMAttributeRef *a, const LLVMAttributeRef *b, unsigned n) {
  for (unsigned k = 0; k < n; k++)
    if (!LLVMIsEnumAttribute(a[k]) || !LLVMIsEnumAttribute(b[k]) ||
        LLVMGetEnumAttributeKind(a[k]) != LLVMGetEnumAttributeKind(b[k]) ||
        LLVMGetEnumAttributeValue(a[k]) != LLVMGetEnumAttributeValue(b[k]))
      return false;
  return true;
}

/* the attributes at index idx (function, return or a parameter) of
 * functions f and g, or of calls f and g when calls */
static bool same_attributes(LLVMValueRef f, LLVMValueRef g, LLVMAttributeIndex idx, bool calls) {
  unsigned n = calls ? LLVMGetCallSiteAttributeCount(f, idx) : LLVMGetAttributeCountAtIndex(f, idx);
  if (n != (calls ? LLVMGetCallSiteAttributeCount(g, idx) : LLVMGetAttributeCountAtIndex(g, idx)))
    return false;
  if (n == 0) return true;
  LLVMAttributeRef *a = calloc(n, sizeof *a), *b = calloc(n, sizeof *b);
  IR_ASSERT(a && b);
  if (calls) {
    LLVMGetCallSiteAttributes(f, idx, a);
    LLVMGetCallSiteAttributes(g, idx, b);
  } else {
    LLVMGetAttributesAtIndex(f, idx, a);
    LLVMGetAttributesAtIndex(g, idx, b);
  }
  bool same = same_attribute_list(a, b, n);
  free(a);
  free(b);
  return same;
}

/* two non-local operands are the same: one value, or two private constant
 * globals with the same contents (the id tables of two layers' calls) */
static bool same_global(LLVMValueRef a, LLVMValueRef b) {
  if (a == b) return true;
  if (!LLVMIsAGlobalVariable(a) || !LLVMIsAGlobalVariable(b)) return false;
  return LLVMIsGlobalConstant(a) && LLVMIsGlobalConstant(b) &&
         LLVMGetLinkage(a) == LLVMPrivateLinkage && LLVMGetLinkage(b) == LLVMPrivateLinkage &&
         LLVMGetInitializer(a) && LLVMGetInitializer(a) == LLVMGetInitializer(b) &&
         LLVMGlobalGetValueType(a) == LLVMGlobalGetValueType(b) &&
         LLVMGetAlignment(a) == LLVMGetAlignment(b);
}

/* the opcode's state beyond its operands agrees (false for opcodes codegen never emits) */
static bool same_flags(LLVMValueRef a, LLVMValueRef b) {
  if (LLVMHasMetadata(a) || LLVMHasMetadata(b)) return false;
  if (LLVMCanValueUseFastMathFlags(a) && LLVMGetFastMathFlags(a) != LLVMGetFastMathFlags(b))
    return false; /* floating-point arithmetic, compares, selects, phis and calls */
  switch (LLVMGetInstructionOpcode(a)) {
    case LLVMAdd:
    case LLVMSub:
    case LLVMMul:
    case LLVMShl:
      return LLVMGetNSW(a) == LLVMGetNSW(b) && LLVMGetNUW(a) == LLVMGetNUW(b);
    case LLVMUDiv:
    case LLVMSDiv:
    case LLVMLShr:
    case LLVMAShr:
      return LLVMGetExact(a) == LLVMGetExact(b);
    case LLVMOr:
      return LLVMGetIsDisjoint(a) == LLVMGetIsDisjoint(b);
    case LLVMZExt:
      return LLVMGetNNeg(a) == LLVMGetNNeg(b);
    case LLVMFAdd:
    case LLVMFSub:
    case LLVMFMul:
    case LLVMFDiv:
    case LLVMFRem:
    case LLVMFNeg:
      return true;
    case LLVMFCmp:
      return LLVMGetFCmpPredicate(a) == LLVMGetFCmpPredicate(b);
    case LLVMICmp:
      return LLVMGetICmpPredicate(a) == LLVMGetICmpPredicate(b);
    case LLVMLoad:
    case LLVMStore:
      return LLVMGetAlignment(a) == LLVMGetAlignment(b) &&
             LLVMGetVolatile(a) == LLVMGetVolatile(b) && LLVMGetOrdering(a) == LLVMGetOrdering(b);
    case LLVMAlloca:
      return LLVMGetAlignment(a) == LLVMGetAlignment(b) &&
             LLVMGetAllocatedType(a) == LLVMGetAllocatedType(b);
    case LLVMGetElementPtr:
      return LLVMIsInBounds(a) == LLVMIsInBounds(b) &&
             LLVMGetGEPSourceElementType(a) == LLVMGetGEPSourceElementType(b);
    case LLVMCall: {
      if (LLVMGetCalledFunctionType(a) != LLVMGetCalledFunctionType(b) ||
          LLVMGetTailCallKind(a) != LLVMGetTailCallKind(b) ||
          LLVMGetInstructionCallConv(a) != LLVMGetInstructionCallConv(b))
        return false;
      /* call-site attributes (a memcpy's operands' alignment) */
      unsigned nargs = LLVMGetNumArgOperands(a);
      for (int idx = -1; idx <= (int)nargs; idx++)
        if (!same_attributes(a, b, (LLVMAttributeIndex)idx, true)) return false;
      return true;
    }
    case LLVMShuffleVector: {
      unsigned n = LLVMGetNumMaskElements(a);
      if (n != LLVMGetNumMaskElements(b)) return false;
      for (unsigned k = 0; k < n; k++)
        if (LLVMGetMaskValue(a, k) != LLVMGetMaskValue(b, k)) return false;
      return true;
    }
    case LLVMExtractValue:
    case LLVMInsertValue: {
      unsigned n = LLVMGetNumIndices(a);
      return n == LLVMGetNumIndices(b) &&
             !memcmp(LLVMGetIndices(a), LLVMGetIndices(b), n * sizeof(unsigned));
    }
    case LLVMPHI:
      return LLVMCountIncoming(a) == LLVMCountIncoming(b);
    case LLVMTrunc:
    case LLVMSExt:
    case LLVMFPTrunc:
    case LLVMFPExt:
    case LLVMFPToUI:
    case LLVMFPToSI:
    case LLVMUIToFP:
    case LLVMSIToFP:
    case LLVMPtrToInt:
    case LLVMIntToPtr:
    case LLVMBitCast:
    case LLVMAnd:
    case LLVMXor:
    case LLVMURem:
    case LLVMSRem:
    case LLVMSelect:
    case LLVMExtractElement:
    case LLVMInsertElement:
    case LLVMBr:
    case LLVMSwitch:
    case LLVMRet:
    case LLVMUnreachable:
    case LLVMFreeze:
      return true;
    default:
      return false;
  }
}

/* a local operand sits at the same place in both; any other is the same value */
static bool same_operand(const numbering *mf, const numbering *mg, LLVMValueRef a, LLVMValueRef b) {
  int ia = index_of(mf, a), ib = index_of(mg, b);
  if (ia >= 0 || ib >= 0) return ia == ib;
  return same_global(a, b);
}

static bool same_function(LLVMValueRef f, LLVMValueRef g) {
  if (LLVMGlobalGetValueType(f) != LLVMGlobalGetValueType(g) ||
      LLVMGetLinkage(f) != LLVMGetLinkage(g) || LLVMCountBasicBlocks(f) != LLVMCountBasicBlocks(g))
    return false;
  for (int idx = -1; idx <= (int)LLVMCountParams(f); idx++)
    if (!same_attributes(f, g, (LLVMAttributeIndex)idx, false)) return false;
  numbering mf = number_function(f), mg = number_function(g);
  bool same = true;
  LLVMBasicBlockRef bf = LLVMGetFirstBasicBlock(f), bg = LLVMGetFirstBasicBlock(g);
  for (; same && bf && bg; bf = LLVMGetNextBasicBlock(bf), bg = LLVMGetNextBasicBlock(bg)) {
    LLVMValueRef a = LLVMGetFirstInstruction(bf), b = LLVMGetFirstInstruction(bg);
    for (; same && a && b; a = LLVMGetNextInstruction(a), b = LLVMGetNextInstruction(b)) {
      int nops = LLVMGetNumOperands(a);
      same = LLVMGetInstructionOpcode(a) == LLVMGetInstructionOpcode(b) &&
             LLVMTypeOf(a) == LLVMTypeOf(b) && nops == LLVMGetNumOperands(b) && same_flags(a, b);
      for (int k = 0; k < nops && same; k++)
        same = same_operand(&mf, &mg, LLVMGetOperand(a, k), LLVMGetOperand(b, k));
      if (same && LLVMGetInstructionOpcode(a) == LLVMPHI)
        for (unsigned k = 0; k < LLVMCountIncoming(a) && same; k++)
          same = index_of(&mf, LLVMBasicBlockAsValue(LLVMGetIncomingBlock(a, k))) ==
                 index_of(&mg, LLVMBasicBlockAsValue(LLVMGetIncomingBlock(b, k)));
    }
    same = same && !a && !b;
  }
  numbering_free(&mf);
  numbering_free(&mg);
  return same;
}

cg_dedupe *cg_dedupe_new(void) {
  cg_dedupe *d = calloc(1, sizeof *d);
  IR_ASSERT(d);
  return d;
}

void cg_dedupe_free(cg_dedupe *d) {
  if (!d) return;
  free(d->fn);
  free(d->hash);
  free(d);
}

LLVMValueRef cg_dedupe_function(cg_dedupe *d, LLVMValueRef fn) {
  if (!d) return fn;
  uint64_t h = hash_function(fn);
  for (int k = 0; k < d->n; k++)
    if (d->hash[k] == h && same_function(d->fn[k], fn)) {
      LLVMDeleteFunction(fn);
      return d->fn[k];
    }
  if (d->n == d->cap) {
    d->cap = d->cap ? 2 * d->cap : 64;
    d->fn = realloc(d->fn, sizeof *d->fn * (size_t)d->cap);
    d->hash = realloc(d->hash, sizeof *d->hash * (size_t)d->cap);
    IR_ASSERT(d->fn && d->hash);
  }
  d->fn[d->n] = fn;
  d->hash[d->n++] = h;
  return fn;
}
