/*
 * test_dedupe.c: a kernel function identical to one built before is that
 * one (codegen/dedupe.c), and a function that differs in anything the code
 * means (a flag, an alignment, a constant, a predicate, which local value
 * an operand is, the callee, the contents of a table) stays its own. Small
 * functions built here with the LLVM C API as codegen builds kernels: a
 * loop with a phi, loads and stores, a memcpy with its operands' alignment,
 * a call, a private constant table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>
#include <llvm-c/Analysis.h>

#include "cg_internal.h"

/* what one built function varies in (0: the reference) */
typedef enum variant {
  SAME,
  NSW,        /* the loop's add without nsw */
  ALIGN,      /* a load's alignment */
  CONSTANT,   /* a constant operand */
  PREDICATE,  /* the loop test's predicate */
  OPERANDS,   /* a multiply's operands swapped (a different local value) */
  CALLEE,     /* another function called */
  TABLE,      /* a table with other contents */
  TABLE_COPY, /* another table with the same contents */
  METADATA,   /* an instruction with metadata: never the same */
  MEMCPY,     /* the memcpy's alignment attribute */
} variant;

typedef struct fixture {
  LLVMContextRef cx;
  LLVMModuleRef m;
  LLVMTypeRef i64, ptr, void_t, fty;
  LLVMValueRef callee[2]; /* two external functions */
  LLVMValueRef table[2];  /* two private constant tables, {1, 2} and {1, 3} */
  LLVMValueRef memcpy_fn;
  int made;
} fixture;

static LLVMValueRef table(fixture *f, int64_t second) {
  LLVMValueRef v[] = {LLVMConstInt(f->i64, 1, 0), LLVMConstInt(f->i64, (unsigned long long)second, 0)};
  LLVMValueRef init = LLVMConstArray2(f->i64, v, 2);
  LLVMValueRef g = LLVMAddGlobal(f->m, LLVMTypeOf(init), "ids");
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
  return g;
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  f->cx = LLVMContextCreate();
  f->m = LLVMModuleCreateWithNameInContext("dedupe", f->cx);
  f->i64 = LLVMInt64TypeInContext(f->cx);
  f->ptr = LLVMPointerTypeInContext(f->cx, 0);
  f->void_t = LLVMVoidTypeInContext(f->cx);
  LLVMTypeRef params[] = {f->ptr, f->i64};
  f->fty = LLVMFunctionType(f->void_t, params, 2, 0);
  f->callee[0] = LLVMAddFunction(f->m, "ext_a", f->fty);
  f->callee[1] = LLVMAddFunction(f->m, "ext_b", f->fty);
  f->table[0] = table(f, 2);
  f->table[1] = table(f, 3);
  LLVMTypeRef mc[] = {f->ptr, f->ptr, f->i64};
  unsigned id = LLVMLookupIntrinsicID("llvm.memcpy", 11);
  f->memcpy_fn = LLVMGetIntrinsicDeclaration(f->m, id, mc, 3);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  LLVMDisposeModule(f->m);
  LLVMContextDispose(f->cx);
  free(f);
  return 0;
}

/* void k(ptr p, i64 n): for i < n: p[i] = p[i] * p[i+1] + C; then a memcpy,
 * a call and a load from a table, varied by v */
static LLVMValueRef build(fixture *f, variant v) {
  LLVMValueRef fn = LLVMAddFunction(f->m, "kernel", f->fty);
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  LLVMValueRef p = LLVMGetParam(fn, 0), n = LLVMGetParam(fn, 1);
  LLVMBuilderRef b = LLVMCreateBuilderInContext(f->cx);
  LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(f->cx, fn, "entry");
  LLVMBasicBlockRef head = LLVMAppendBasicBlockInContext(f->cx, fn, "loop");
  LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(f->cx, fn, "body");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(f->cx, fn, "done");
  LLVMPositionBuilderAtEnd(b, entry);
  LLVMBuildBr(b, head);
  LLVMPositionBuilderAtEnd(b, head);
  LLVMValueRef i = LLVMBuildPhi(b, f->i64, "i");
  LLVMValueRef zero = LLVMConstInt(f->i64, 0, 0), one = LLVMConstInt(f->i64, 1, 0);
  LLVMBuildCondBr(b, LLVMBuildICmp(b, v == PREDICATE ? LLVMIntULT : LLVMIntSLT, i, n, ""), body,
                  done);
  LLVMPositionBuilderAtEnd(b, body);
  LLVMValueRef at = LLVMBuildInBoundsGEP2(b, f->i64, p, &i, 1, "");
  LLVMValueRef i1 = LLVMBuildAdd(b, i, one, "");
  LLVMValueRef at1 = LLVMBuildInBoundsGEP2(b, f->i64, p, &i1, 1, "");
  LLVMValueRef x = LLVMBuildLoad2(b, f->i64, at, ""), y = LLVMBuildLoad2(b, f->i64, at1, "");
  LLVMSetAlignment(x, 8);
  LLVMSetAlignment(y, v == ALIGN ? 4 : 8);
  LLVMValueRef prod = v == OPERANDS ? LLVMBuildMul(b, y, x, "") : LLVMBuildMul(b, x, y, "");
  LLVMValueRef sum = LLVMBuildAdd(b, prod, LLVMConstInt(f->i64, v == CONSTANT ? 8 : 7, 0), "");
  if (v == METADATA) {
    LLVMValueRef md = LLVMMetadataAsValue(f->cx, LLVMMDStringInContext2(f->cx, "x", 1));
    LLVMSetMetadata(sum, LLVMGetMDKindIDInContext(f->cx, "seqc.test", 9), md);
  }
  LLVMSetAlignment(LLVMBuildStore(b, sum, at), 8);
  LLVMValueRef next = v == NSW ? LLVMBuildAdd(b, i, one, "") : LLVMBuildNSWAdd(b, i, one, "");
  LLVMBuildBr(b, head);
  LLVMAddIncoming(i, &zero, &entry, 1);
  LLVMAddIncoming(i, &next, &body, 1);
  LLVMPositionBuilderAtEnd(b, done);
  LLVMTypeRef mc[] = {f->ptr, f->ptr, f->i64, LLVMInt1TypeInContext(f->cx)};
  LLVMValueRef dst = LLVMBuildInBoundsGEP2(b, f->i64, p, &n, 1, "");
  LLVMValueRef margs[] = {dst, p, LLVMConstInt(f->i64, 64, 0),
                          LLVMConstInt(LLVMInt1TypeInContext(f->cx), 0, 0)};
  LLVMValueRef copy =
      LLVMBuildCall2(b, LLVMFunctionType(f->void_t, mc, 4, 0), f->memcpy_fn, margs, 4, "");
  unsigned align = LLVMGetEnumAttributeKindForName("align", 5);
  LLVMAddCallSiteAttribute(copy, 1, LLVMCreateEnumAttribute(f->cx, align, v == MEMCPY ? 8 : 4));
  LLVMValueRef args[] = {p, n};
  LLVMBuildCall2(b, f->fty, f->callee[v == CALLEE], args, 2, "");
  LLVMValueRef tab = v == TABLE ? f->table[1] : f->table[0];
  if (v == TABLE_COPY) tab = table(f, 2);
  LLVMValueRef t = LLVMBuildLoad2(b, f->i64, tab, "");
  LLVMSetAlignment(t, 8);
  LLVMSetAlignment(LLVMBuildStore(b, t, p), 8);
  LLVMBuildRetVoid(b);
  LLVMDisposeBuilder(b);
  return fn;
}

static int functions(LLVMModuleRef m) {
  int n = 0;
  for (LLVMValueRef fn = LLVMGetFirstFunction(m); fn; fn = LLVMGetNextFunction(fn))
    n += !LLVMIsDeclaration(fn);
  return n;
}

/* the same code twice is one function; the copy is deleted */
static void same_code_one_function(void **state) {
  fixture *f = *state;
  cg_dedupe *d = cg_dedupe_new();
  LLVMValueRef a = build(f, SAME);
  assert_ptr_equal(cg_dedupe_function(d, a), a);
  assert_ptr_equal(cg_dedupe_function(d, build(f, SAME)), a);
  /* a table with the same contents is the same operand (two layers' ids) */
  assert_ptr_equal(cg_dedupe_function(d, build(f, TABLE_COPY)), a);
  assert_int_equal(functions(f->m), 1);
  assert_false(LLVMVerifyModule(f->m, LLVMReturnStatusAction, NULL));
  cg_dedupe_free(d);
}

/* any difference keeps a function of its own, and each is found again */
static void differences_stay_apart(void **state) {
  fixture *f = *state;
  cg_dedupe *d = cg_dedupe_new();
  static const variant vs[] = {SAME,     NSW,    ALIGN, CONSTANT, PREDICATE,
                               OPERANDS, CALLEE, TABLE, MEMCPY};
  enum { NV = sizeof vs / sizeof *vs };
  LLVMValueRef kept[NV];
  for (int k = 0; k < NV; k++) {
    kept[k] = build(f, vs[k]);
    assert_ptr_equal(cg_dedupe_function(d, kept[k]), kept[k]);
  }
  for (int k = 0; k < NV; k++) assert_ptr_equal(cg_dedupe_function(d, build(f, vs[k])), kept[k]);
  assert_int_equal(functions(f->m), NV);
  /* metadata is not compared: a function with some is never merged */
  LLVMValueRef md = build(f, METADATA);
  assert_ptr_equal(cg_dedupe_function(d, md), md);
  LLVMValueRef md2 = build(f, METADATA);
  assert_ptr_equal(cg_dedupe_function(d, md2), md2);
  assert_false(LLVMVerifyModule(f->m, LLVMReturnStatusAction, NULL));
  cg_dedupe_free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(same_code_one_function, setup, teardown),
      cmocka_unit_test_setup_teardown(differences_stay_apart, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
