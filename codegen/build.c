/*
 * build.c: LLVM builder helpers that need nothing but a builder: intrinsic
 * calls, integer min and max, splats and lane masks, masked vector loads and
 * stores, counted loops with carried values. The kernel emitters' cg_ctx
 * forms (emit.c), the GEMM (gemm.c) and the vector math (math.c) all build
 * on these, so each construct is spelled once.
 */
#include <string.h>

#include "cg_internal.h"

static LLVMModuleRef module_of(LLVMBuilderRef b) {
  return LLVMGetGlobalParent(LLVMGetBasicBlockParent(LLVMGetInsertBlock(b)));
}

static LLVMContextRef context_of(LLVMBuilderRef b) {
  return LLVMGetModuleContext(module_of(b));
}

LLVMValueRef cg_build_intrinsic(LLVMBuilderRef b, const char *name, LLVMTypeRef *types,
                                int ntypes, LLVMValueRef *args, int nargs) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  IR_ASSERT(id != 0);
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(module_of(b), id, types, (size_t)ntypes);
  LLVMTypeRef fty = LLVMIntrinsicGetType(context_of(b), id, types, (size_t)ntypes);
  return LLVMBuildCall2(b, fty, fn, args, (unsigned)nargs, "");
}

LLVMValueRef cg_build_smin(LLVMBuilderRef b, LLVMValueRef x, LLVMValueRef y) {
  return LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, x, y, ""), x, y, "");
}

LLVMValueRef cg_build_smax(LLVMBuilderRef b, LLVMValueRef x, LLVMValueRef y) {
  return LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, x, y, ""), y, x, "");
}

LLVMValueRef cg_build_splat(LLVMBuilderRef b, LLVMValueRef scalar, int lanes) {
  LLVMTypeRef i32 = LLVMInt32TypeInContext(context_of(b));
  LLVMTypeRef vty = LLVMVectorType(LLVMTypeOf(scalar), (unsigned)lanes);
  LLVMValueRef zero = LLVMConstInt(i32, 0, 0);
  LLVMValueRef v = LLVMBuildInsertElement(b, LLVMGetPoison(vty), scalar, zero, "");
  LLVMValueRef zeros = LLVMConstNull(LLVMVectorType(i32, (unsigned)lanes));
  return LLVMBuildShuffleVector(b, v, LLVMGetPoison(vty), zeros, "");
}

LLVMValueRef cg_build_mask_below(LLVMBuilderRef b, LLVMValueRef n, int lanes) {
  LLVMContextRef cx = context_of(b);
  LLVMTypeRef i32 = LLVMInt32TypeInContext(cx), i64 = LLVMInt64TypeInContext(cx);
  LLVMValueRef iota[64];
  IR_ASSERT(lanes <= 64);
  for (int i = 0; i < lanes; i++) iota[i] = LLVMConstInt(i32, (uint64_t)i, 0);
  LLVMValueRef r = cg_build_smin(b, cg_build_smax(b, n, LLVMConstInt(i64, 0, 0)),
                                 LLVMConstInt(i64, (uint64_t)lanes, 0));
  r = LLVMBuildTrunc(b, r, i32, "");
  return LLVMBuildICmp(b, LLVMIntSLT, LLVMConstVector(iota, (unsigned)lanes),
                       cg_build_splat(b, r, lanes), "mask");
}

LLVMValueRef cg_build_load_vec(LLVMBuilderRef b, LLVMTypeRef vty, LLVMValueRef p,
                               LLVMValueRef mask, unsigned align) {
  if (!mask) {
    LLVMValueRef v = LLVMBuildLoad2(b, vty, p, "");
    LLVMSetAlignment(v, align);
    return v;
  }
  LLVMContextRef cx = context_of(b);
  LLVMTypeRef types[] = {vty, LLVMPointerTypeInContext(cx, 0)};
  LLVMValueRef args[] = {p, LLVMConstInt(LLVMInt32TypeInContext(cx), align, 0), mask,
                         LLVMConstNull(vty)};
  return cg_build_intrinsic(b, "llvm.masked.load", types, 2, args, 4);
}

void cg_build_store_vec(LLVMBuilderRef b, LLVMValueRef v, LLVMValueRef p, LLVMValueRef mask,
                        unsigned align) {
  if (!mask) {
    LLVMSetAlignment(LLVMBuildStore(b, v, p), align);
    return;
  }
  LLVMContextRef cx = context_of(b);
  LLVMTypeRef types[] = {LLVMTypeOf(v), LLVMPointerTypeInContext(cx, 0)};
  LLVMValueRef args[] = {v, p, LLVMConstInt(LLVMInt32TypeInContext(cx), align, 0), mask};
  cg_build_intrinsic(b, "llvm.masked.store", types, 2, args, 4);
}

void cg_build_loop_begin(LLVMBuilderRef b, cg_loop *l, LLVMValueRef lo, LLVMValueRef hi,
                         int ncarry, const LLVMValueRef *init) {
  LLVMContextRef cx = context_of(b);
  LLVMBasicBlockRef pre = LLVMGetInsertBlock(b);
  LLVMValueRef fn = LLVMGetBasicBlockParent(pre);
  l->head = LLVMAppendBasicBlockInContext(cx, fn, "loop");
  LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(cx, fn, "body");
  l->exit = LLVMAppendBasicBlockInContext(cx, fn, "done");
  LLVMBuildBr(b, l->head);
  LLVMPositionBuilderAtEnd(b, l->head);
  l->i = LLVMBuildPhi(b, LLVMInt64TypeInContext(cx), "i");
  LLVMAddIncoming(l->i, &lo, &pre, 1);
  IR_ASSERT(ncarry >= 0 && ncarry <= CG_LOOP_MAX_CARRY);
  l->ncarry = ncarry;
  l->nsw = false;
  for (int c = 0; c < ncarry; c++) {
    l->carry[c] = LLVMBuildPhi(b, LLVMTypeOf(init[c]), "");
    LLVMAddIncoming(l->carry[c], (LLVMValueRef *)&init[c], &pre, 1);
  }
  LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, l->i, hi, ""), body, l->exit);
  LLVMPositionBuilderAtEnd(b, body);
}

void cg_build_loop_end(LLVMBuilderRef b, cg_loop *l, LLVMValueRef step, const LLVMValueRef *next) {
  LLVMValueRef inc = l->nsw ? LLVMBuildNSWAdd(b, l->i, step, "") : LLVMBuildAdd(b, l->i, step, "");
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(b);
  LLVMBuildBr(b, l->head);
  LLVMAddIncoming(l->i, &inc, &latch, 1);
  for (int c = 0; c < l->ncarry; c++)
    LLVMAddIncoming(l->carry[c], (LLVMValueRef *)&next[c], &latch, 1);
  LLVMPositionBuilderAtEnd(b, l->exit);
}
