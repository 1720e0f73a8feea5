/*
 * emit.c: small builders every kernel uses: constants and dims, buffer
 * addresses, loops and ifs, vector loads and stores with masks, horizontal
 * reductions, the split of work between threads, and broadcasting index
 * spaces.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

void cg_fail(cg_ctx *c, const char *fmt, ...) {
  if (!c->failed && c->err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err->msg, sizeof c->err->msg, fmt, ap);
    va_end(ap);
  }
  c->failed = true;
}

LLVMValueRef cg_i64(cg_ctx *c, int64_t v) { return LLVMConstInt(c->i64, (unsigned long long)v, 1); }
LLVMValueRef cg_i32(cg_ctx *c, int32_t v) { return LLVMConstInt(c->i32, (unsigned long long)v, 1); }
LLVMValueRef cg_f32(cg_ctx *c, double v) { return LLVMConstReal(c->f32, v); }

LLVMValueRef cg_dim(cg_ctx *c, ir_dim d) {
  LLVMValueRef v = cg_i64(c, d.coef);
  if (d.coef == 0) return v;
  for (int i = 0; i < IR_DIM_SYMS; i++)
    if (d.sym[i] >= 0) v = LLVMBuildNUWMul(c->b, v, c->sym_val[d.sym[i]], "");
  return v;
}

LLVMValueRef cg_dims(cg_ctx *c, const ir_type *t, int from, int to) {
  LLVMValueRef v = cg_i64(c, 1);
  for (int i = from; i < to; i++) v = LLVMBuildNUWMul(c->b, v, cg_dim(c, t->dims[i]), "");
  return v;
}

LLVMValueRef cg_min(cg_ctx *c, LLVMValueRef a, LLVMValueRef b) {
  return cg_build_smin(c->b, a, b);
}

LLVMValueRef cg_max(cg_ctx *c, LLVMValueRef a, LLVMValueRef b) {
  return cg_build_smax(c->b, a, b);
}

LLVMTypeRef cg_elem_type(cg_ctx *c, ir_dtype t) {
  switch (t) {
    case IR_F32:
      return c->f32;
    case IR_I32:
      return c->i32;
    case IR_I64:
      return c->i64;
  }
  IR_ASSERT(!"dtype");
}

LLVMTypeRef cg_vec_type(cg_ctx *c, ir_dtype t) {
  return LLVMVectorType(cg_elem_type(c, t), (unsigned)c->vw);
}

LLVMValueRef cg_gep(cg_ctx *c, LLVMTypeRef elem, LLVMValueRef ptr, LLVMValueRef idx) {
  return LLVMBuildInBoundsGEP2(c->b, elem, ptr, &idx, 1, "");
}

/* the constant's bytes as a private global, made once per value */
static LLVMValueRef const_global(cg_ctx *c, int value) {
  if (c->const_global[value]) return c->const_global[value];
  const ir_value *v = &c->g->values[value];
  int64_t n = ir_type_numel_eval(&v->type, NULL);
  size_t bytes = (size_t)n * ir_dtype_size(v->type.dtype);
  LLVMValueRef init = LLVMConstStringInContext2(c->llvm, v->data, bytes, 1);
  char name[32];
  snprintf(name, sizeof name, "const.%d", value);
  LLVMValueRef gv = LLVMAddGlobal(c->mod, LLVMTypeOf(init), name);
  LLVMSetInitializer(gv, init);
  LLVMSetGlobalConstant(gv, 1);
  LLVMSetLinkage(gv, LLVMPrivateLinkage);
  LLVMSetUnnamedAddress(gv, LLVMGlobalUnnamedAddr);
  LLVMSetAlignment(gv, 64);
  return c->const_global[value] = gv;
}

LLVMValueRef cg_value_ptr(cg_ctx *c, int value) {
  const ir_value *v = &c->g->values[value];
  if (v->kind == IR_VAL_CONST) return const_global(c, value);
  if (v->buffer >= 0) return cg_value_buffer(c, v->buffer);
  /* a view with no buffer of its own (reshape of a constant) */
  if (v->kind == IR_VAL_NODE && v->def >= 0) {
    const ir_node *d = &c->g->nodes[v->def];
    if (ir_ops[d->op].traits & IR_T_VIEW) return cg_value_ptr(c, d->inputs[0]);
  }
  cg_fail(c, "codegen: value '%s' has no memory planned", v->name ? v->name : "?");
  return LLVMConstNull(c->ptr);
}

LLVMValueRef cg_alloca(cg_ctx *c, LLVMTypeRef t, const char *name) {
  LLVMBuilderRef b = LLVMCreateBuilderInContext(c->llvm);
  LLVMValueRef first = LLVMGetFirstInstruction(c->entry);
  if (first)
    LLVMPositionBuilderBefore(b, first);
  else
    LLVMPositionBuilderAtEnd(b, c->entry);
  LLVMValueRef a = LLVMBuildAlloca(b, t, name);
  LLVMDisposeBuilder(b);
  return a;
}

LLVMValueRef cg_intrinsic(cg_ctx *c, const char *name, LLVMTypeRef *types, int ntypes,
                          LLVMValueRef *args, int nargs) {
  return cg_build_intrinsic(c->b, name, types, ntypes, args, nargs);
}

void cg_split(cg_ctx *c, LLVMValueRef n, int64_t unit, LLVMValueRef *lo, LLVMValueRef *hi) {
  LLVMBuilderRef b = c->b;
  LLVMValueRef units = n;
  if (unit > 1)
    units = LLVMBuildUDiv(b, LLVMBuildAdd(b, n, cg_i64(c, unit - 1), ""), cg_i64(c, unit), "");
  LLVMValueRef ith = LLVMBuildSExt(b, c->ith, c->i64, "");
  LLVMValueRef nth = LLVMBuildSExt(b, c->nth, c->i64, "");
  LLVMValueRef l = LLVMBuildUDiv(b, LLVMBuildMul(b, ith, units, ""), nth, "");
  LLVMValueRef h =
      LLVMBuildUDiv(b, LLVMBuildMul(b, LLVMBuildAdd(b, ith, cg_i64(c, 1), ""), units, ""), nth, "");
  if (unit > 1) {
    l = cg_min(c, LLVMBuildMul(b, l, cg_i64(c, unit), ""), n);
    h = cg_min(c, LLVMBuildMul(b, h, cg_i64(c, unit), ""), n);
  }
  *lo = l;
  *hi = h;
}

/* declaration of a runtime function in the module */
static LLVMValueRef runtime_fn(cg_ctx *c, const char *name, LLVMTypeRef fty) {
  LLVMValueRef f = LLVMGetNamedFunction(c->mod, name);
  if (!f) f = LLVMAddFunction(c->mod, name, fty);
  return f;
}

/* seqrt_NAME(team, ith) */
static void call_team(cg_ctx *c, const char *name) {
  LLVMTypeRef params[2] = {c->ptr, c->i32};
  LLVMTypeRef fty = LLVMFunctionType(c->void_t, params, 2, 0);
  LLVMValueRef args[2] = {c->team, c->ith};
  LLVMBuildCall2(c->b, fty, runtime_fn(c, name, fty), args, 2, "");
}

LLVMValueRef cg_session(cg_ctx *c, int which) { return c->session_val[which]; }

void cg_return_if_failed(cg_ctx *c) {
  LLVMTypeRef params[1] = {c->ptr};
  LLVMTypeRef fty = LLVMFunctionType(c->i32, params, 1, 0);
  LLVMValueRef failed =
      LLVMBuildCall2(c->b, fty, runtime_fn(c, "seqrt_failed", fty), &c->team, 1, "failed");
  LLVMBasicBlockRef stop = LLVMAppendBasicBlockInContext(c->llvm, c->fn, "failed");
  LLVMBasicBlockRef go = LLVMAppendBasicBlockInContext(c->llvm, c->fn, "commit");
  LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntNE, failed, cg_i32(c, 0), ""), stop, go);
  LLVMPositionBuilderAtEnd(c->b, stop);
  LLVMBuildRetVoid(c->b);
  LLVMPositionBuilderAtEnd(c->b, go);
}

void cg_barrier(cg_ctx *c) { call_team(c, "seqrt_barrier"); }
void cg_arrive(cg_ctx *c) { call_team(c, "seqrt_arrive"); }
void cg_wait(cg_ctx *c) { call_team(c, "seqrt_wait"); }

/* seqrt_fail(team, code, a, b, c, d) */
static void call_fail(cg_ctx *c, int code, LLVMValueRef a, LLVMValueRef b, LLVMValueRef x,
                      LLVMValueRef y) {
  LLVMTypeRef params[] = {c->ptr, c->i32, c->i64, c->i64, c->i64, c->i64};
  LLVMTypeRef fty = LLVMFunctionType(c->void_t, params, 6, 0);
  LLVMValueRef args[] = {c->team, cg_i32(c, code), a, b, x, y};
  LLVMBuildCall2(c->b, fty, runtime_fn(c, "seqrt_fail", fty), args, 6, "");
}

void cg_fail_index(cg_ctx *c, int buffer, LLVMValueRef pos, LLVMValueRef index,
                   LLVMValueRef limit) {
  call_fail(c, SEQRT_FAIL_INDEX, cg_buffer_id(c, buffer), pos, index, limit);
}

void cg_fail_length(cg_ctx *c, int buffer, LLVMValueRef row, LLVMValueRef len, LLVMValueRef T) {
  call_fail(c, SEQRT_FAIL_LENGTH, cg_buffer_id(c, buffer), row, len, T);
}

void cg_fail_cache(cg_ctx *c, int buffer, LLVMValueRef S, LLVMValueRef p, LLVMValueRef T) {
  call_fail(c, SEQRT_FAIL_CACHE, cg_buffer_id(c, buffer), S, p, T);
}

void cg_check_chunk(cg_ctx *c, int buffer, ir_dim length, int64_t chunk) {
  if (chunk <= 1 || ir_dim_is_const(length)) return; /* infer_shapes checked it */
  LLVMValueRef t = cg_dim(c, length);
  LLVMValueRef rem = LLVMBuildSRem(c->b, t, cg_i64(c, chunk), "");
  cg_if f;
  cg_if_begin(c, &f, LLVMBuildICmp(c->b, LLVMIntNE, rem, cg_i64(c, 0), ""));
  call_fail(c, SEQRT_FAIL_CHUNK, cg_i64(c, buffer), t, cg_i64(c, chunk), cg_i64(c, 0));
  cg_if_end(c, &f);
}

void cg_loop_begin(cg_ctx *c, cg_loop *l, LLVMValueRef lo, LLVMValueRef hi, LLVMValueRef step) {
  cg_build_loop_begin(c->b, l, lo, hi, 0, NULL);
  l->step = step;
  l->nsw = true;
}

void cg_loop_end(cg_ctx *c, cg_loop *l) { cg_build_loop_end(c->b, l, l->step, NULL); }

void cg_if_begin(cg_ctx *c, cg_if *f, LLVMValueRef cond) {
  LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(c->llvm, c->fn, "then");
  f->other = LLVMAppendBasicBlockInContext(c->llvm, c->fn, "else");
  f->done = LLVMAppendBasicBlockInContext(c->llvm, c->fn, "endif");
  f->has_else = false;
  LLVMBuildCondBr(c->b, cond, then, f->other);
  LLVMPositionBuilderAtEnd(c->b, then);
}

void cg_if_else(cg_ctx *c, cg_if *f) {
  LLVMBuildBr(c->b, f->done);
  LLVMPositionBuilderAtEnd(c->b, f->other);
  f->has_else = true;
}

void cg_if_end(cg_ctx *c, cg_if *f) {
  LLVMBuildBr(c->b, f->done);
  if (!f->has_else) {
    LLVMPositionBuilderAtEnd(c->b, f->other);
    LLVMBuildBr(c->b, f->done);
  }
  LLVMPositionBuilderAtEnd(c->b, f->done);
}

LLVMValueRef cg_splat(cg_ctx *c, LLVMValueRef scalar) {
  return cg_build_splat(c->b, scalar, c->vw);
}

LLVMValueRef cg_mask_upto(cg_ctx *c, LLVMValueRef n) {
  return cg_build_mask_below(c->b, n, c->vw);
}

/* size of a scalar element type, which is also the alignment loads assume */
static unsigned elem_bytes(cg_ctx *c, LLVMTypeRef elem) {
  if (elem == c->f32 || elem == c->i32) return 4;
  if (elem == c->f64 || elem == c->i64) return 8;
  return 1;
}

LLVMValueRef cg_load_vec(cg_ctx *c, LLVMTypeRef vty, LLVMValueRef ptr, LLVMValueRef idx,
                         LLVMValueRef mask) {
  LLVMTypeRef elem = LLVMGetElementType(vty);
  return cg_build_load_vec(c->b, vty, cg_gep(c, elem, ptr, idx), mask, elem_bytes(c, elem));
}

void cg_store_vec(cg_ctx *c, LLVMValueRef v, LLVMValueRef ptr, LLVMValueRef idx,
                  LLVMValueRef mask) {
  LLVMTypeRef elem = LLVMGetElementType(LLVMTypeOf(v));
  cg_build_store_vec(c->b, v, cg_gep(c, elem, ptr, idx), mask, elem_bytes(c, elem));
}

LLVMValueRef cg_fmax(cg_ctx *c, LLVMValueRef a, LLVMValueRef b) {
  LLVMTypeRef t = LLVMTypeOf(a);
  LLVMValueRef args[] = {a, b};
  return cg_intrinsic(c, "llvm.maxnum", &t, 1, args, 2);
}

/* folds the lanes pairwise (halves) with op: 0 = add, 1 = max */
static LLVMValueRef fold_lanes(cg_ctx *c, LLVMValueRef v, int op) {
  int w = (int)LLVMGetVectorSize(LLVMTypeOf(v));
  while (w > 1) {
    int h = w / 2;
    LLVMValueRef lo[32], hi[32];
    for (int i = 0; i < h; i++) lo[i] = cg_i32(c, i), hi[i] = cg_i32(c, h + i);
    LLVMValueRef a = LLVMBuildShuffleVector(c->b, v, v, LLVMConstVector(lo, (unsigned)h), "");
    LLVMValueRef b = LLVMBuildShuffleVector(c->b, v, v, LLVMConstVector(hi, (unsigned)h), "");
    v = op == 0 ? LLVMBuildFAdd(c->b, a, b, "") : cg_fmax(c, a, b);
    w = h;
  }
  return LLVMBuildExtractElement(c->b, v, cg_i32(c, 0), "");
}

LLVMValueRef cg_hsum(cg_ctx *c, LLVMValueRef v) { return fold_lanes(c, v, 0); }
LLVMValueRef cg_hmax(cg_ctx *c, LLVMValueRef v) { return fold_lanes(c, v, 1); }

void cg_vec_loop(cg_ctx *c, LLVMValueRef lo, LLVMValueRef hi, cg_vec_body body, void *user) {
  LLVMBuilderRef b = c->b;
  LLVMValueRef n = cg_max(c, LLVMBuildSub(b, hi, lo, ""), cg_i64(c, 0));
  LLVMValueRef full = LLVMBuildAdd(b, lo, LLVMBuildAnd(b, n, cg_i64(c, -(int64_t)c->vw), ""), "");
  cg_loop l;
  cg_loop_begin(c, &l, lo, full, cg_i64(c, c->vw));
  body(c, user, l.i, NULL);
  cg_loop_end(c, &l);
  cg_if f;
  cg_if_begin(c, &f, LLVMBuildICmp(b, LLVMIntSLT, full, hi, ""));
  body(c, user, full, cg_mask_upto(c, LLVMBuildSub(b, hi, full, "")));
  cg_if_end(c, &f);
}

void cg_chunk_begin(cg_ctx *c, cg_chunk *ch, LLVMValueRef outer, LLVMValueRef len,
                    LLVMValueRef inner) {
  LLVMBuilderRef b = c->b;
  LLVMValueRef vw = cg_i64(c, c->vw);
  LLVMValueRef chunks = LLVMBuildUDiv(b, LLVMBuildAdd(b, inner, cg_i64(c, c->vw - 1), ""), vw, "");
  LLVMValueRef lo, hi;
  cg_split(c, LLVMBuildNUWMul(b, outer, chunks, ""), 1, &lo, &hi);
  cg_loop_begin(c, &ch->loop, lo, hi, cg_i64(c, 1));
  ch->o = LLVMBuildUDiv(b, ch->loop.i, chunks, "");
  ch->i0 = LLVMBuildNUWMul(b, LLVMBuildURem(b, ch->loop.i, chunks, ""), vw, "");
  ch->mask = cg_mask_upto(c, LLVMBuildSub(b, inner, ch->i0, ""));
  ch->base = LLVMBuildAdd(b, LLVMBuildNUWMul(b, ch->o, LLVMBuildNUWMul(b, len, inner, ""), ""),
                          ch->i0, "");
  ch->out = LLVMBuildAdd(b, LLVMBuildNUWMul(b, ch->o, inner, ""), ch->i0, "");
}

/* ---- broadcasting index spaces ---- */

void cg_space_init(cg_ctx *c, cg_space *s, const ir_type *out, int ndims, const ir_type **ops,
                   int nops) {
  memset(s, 0, sizeof *s);
  s->nops = nops;
  size_t cells = (size_t)(nops > 0 ? nops : 1) * IR_MAX_RANK;
  s->stride = calloc(cells, sizeof *s->stride);
  s->bcast = calloc(cells, sizeof *s->bcast);
  IR_ASSERT(s->stride && s->bcast);
  bool prev_bc[64];
  IR_ASSERT(nops <= 64);
  for (int d = 0; d < ndims; d++) {
    ir_dim od = out->dims[d];
    if (ir_dim_is_const(od) && od.coef == 1) continue; /* size 1: index always 0 */
    bool bc[64];
    for (int k = 0; k < nops; k++) {
      int a = d - (out->rank - ops[k]->rank); /* operand's dim aligned with d */
      bc[k] = a < 0 || (ir_dim_is_const(ops[k]->dims[a]) && ops[k]->dims[a].coef == 1);
    }
    bool merge = s->ngroups > 0;
    for (int k = 0; k < nops && merge; k++) merge = bc[k] == prev_bc[k];
    LLVMValueRef size = cg_dim(c, od);
    if (merge) {
      int g = s->ngroups - 1;
      s->size[g] = LLVMBuildNUWMul(c->b, s->size[g], size, "");
    } else {
      s->size[s->ngroups++] = size;
    }
    int g = s->ngroups - 1;
    for (int k = 0; k < nops; k++) {
      int a = d - (out->rank - ops[k]->rank);
      s->bcast[k * IR_MAX_RANK + g] = bc[k];
      /* the innermost dim of a group sets its stride; later dims overwrite */
      s->stride[k * IR_MAX_RANK + g] =
          bc[k] ? cg_i64(c, 0) : cg_dims(c, ops[k], a + 1, ops[k]->rank);
      prev_bc[k] = bc[k];
    }
  }
}

void cg_space_free(cg_space *s) {
  free(s->stride);
  free(s->bcast);
  s->stride = NULL;
  s->bcast = NULL;
}

void cg_space_offsets(cg_ctx *c, const cg_space *s, int ngroups, LLVMValueRef flat,
                      LLVMValueRef *off) {
  LLVMBuilderRef b = c->b;
  for (int k = 0; k < s->nops; k++) off[k] = cg_i64(c, 0);
  LLVMValueRef rest = flat;
  for (int g = ngroups - 1; g >= 0; g--) {
    LLVMValueRef idx = rest;
    if (g > 0) {
      idx = LLVMBuildURem(b, rest, s->size[g], "");
      rest = LLVMBuildUDiv(b, rest, s->size[g], "");
    }
    for (int k = 0; k < s->nops; k++) {
      if (s->bcast[k * IR_MAX_RANK + g]) continue;
      LLVMValueRef t = LLVMBuildNUWMul(b, idx, s->stride[k * IR_MAX_RANK + g], "");
      off[k] = LLVMBuildNUWAdd(b, off[k], t, "");
    }
  }
}

bool cg_dim_known(const cg_ctx *c, ir_dim d, int64_t *v) {
  if (ir_dim_is_const(d)) return *v = d.coef, true;
  if (!c->bind_syms) return false;
  for (int i = 0; i < IR_DIM_SYMS; i++) /* -1: left to run time (B*T of two is no 1) */
    if (d.sym[i] >= 0 && (c->bind_syms[d.sym[i]] < 0 || d.sym[i] == c->varying_sym - 1))
      return false;
  *v = ir_dim_eval(d, c->bind_syms);
  return *v >= 0;
}

bool cg_unit_kernel(const cg_ctx *c, const ir_node *n) {
  if (c->unit_len <= 0 || n->sched.unit <= 0) return false;
  IR_ASSERT(n->sched.unit == c->unit_len); /* the schedule split the step or the kernel so */
  return true;
}
