/*
 * matmul.c: batched matmul, alone or fused with an elementwise epilogue.
 *
 * a [..., M, K] @ b [..., K, N] (b [..., N, K] when trans_b); batch dims
 * broadcast. When b is a plain matrix, a's leading dims fold into M and the
 * whole matmul is one GEMM. Otherwise a loop over the batch calls the GEMM
 * once per batch: when the batches divide evenly between the threads (or are
 * many) each thread takes whole batches, else all threads share each GEMM.
 *
 * A FUSED node whose body holds a MATMUL evaluates the rest of its body in
 * the GEMM's epilogue, on the accumulator vector of C[row, col..], loading
 * the other operands at that (broadcast) position.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

/* one operand of the epilogue (a body input or a non-scalar body constant) */
typedef struct operand {
  int value;        /* body value id */
  LLVMValueRef ptr; /* its memory */
  bool col_bcast;   /* broadcast along the last dim: one element per row */
  LLVMValueRef vec; /* scalar constant splat, or NULL */
} operand;

typedef struct epilogue {
  cg_ctx *c;            /* context */
  const ir_graph *body; /* fused body */
  int mm_value;         /* body value id of the matmul's result */
  operand *ops;         /* operands read by the epilogue */
  int nops;
  cg_space rows;     /* the output's dims but the last, for the operands' row offsets */
  LLVMValueRef row0; /* flat row index of the GEMM's row 0 (batch * M) */
} epilogue;

/* operand o's vector at C[row, col..]: its constant, its row's element
 * (col_bcast), or its elements; ptr + off is where its row starts */
static LLVMValueRef operand_value(cg_ctx *c, const operand *o, LLVMValueRef ptr, LLVMValueRef off,
                                  LLVMValueRef col, LLVMValueRef mask) {
  if (o->vec) return o->vec;
  if (o->col_bcast)
    return cg_splat(c, LLVMBuildLoad2(c->b, c->f32, cg_gep(c, c->f32, ptr, off), ""));
  return cg_load_vec(c, c->vf32, ptr, LLVMBuildAdd(c->b, off, col, ""), mask);
}

static LLVMValueRef apply_epilogue(void *user, LLVMBuilderRef b, LLVMValueRef acc, LLVMValueRef row,
                                   LLVMValueRef col, LLVMValueRef mask) {
  epilogue *e = user;
  cg_ctx *c = e->c;
  LLVMBuilderRef saved = c->b;
  c->b = b;
  LLVMValueRef *vals = calloc((size_t)e->body->nvalues, sizeof *vals);
  LLVMValueRef *off = calloc((size_t)e->nops + 1, sizeof *off);
  vals[e->mm_value] = acc;
  LLVMValueRef flat = LLVMBuildAdd(b, e->row0, row, "");
  cg_space_offsets(c, &e->rows, e->rows.ngroups, flat, off);
  for (int i = 0; i < e->nops; i++)
    vals[e->ops[i].value] = operand_value(c, &e->ops[i], e->ops[i].ptr, off[i], col, mask);
  LLVMValueRef r = cg_eval_body(c, e->body, vals);
  free(vals);
  free(off);
  c->b = saved;
  return r ? r : acc;
}

/*
 * The epilogue as a function of its own, for the shared GEMM (gemm.c): it
 * applies the body in place to a block C[r0..r1, c0..c1) that the GEMM has
 * just stored (in L1), so one GEMM serves every fused matmul and only this
 * small function differs between them. It reads its operands through a
 * context that the call site fills (share_epilogue): row0, then each
 * operand's pointer and stride per flat row. Possible when every operand's
 * offset is linear in the flat row: the output's leading dims are one group
 * (each operand has C's rows, or one row for all); else NULL.
 */
typedef struct epi_fn {
  LLVMValueRef fn;  /* the function (cg_gemm_epi_type) */
  LLVMValueRef ctx; /* i64 [1 + 2 * nops] in the kernel's entry block */
} epi_fn;

static bool epilogue_is_linear(const epilogue *e) { return e->rows.ngroups <= 1; }

/* e's operand i's stride per flat row: 0 when no leading dim varies */
static LLVMValueRef row_stride(cg_ctx *c, const epilogue *e, int i) {
  return e->rows.ngroups ? e->rows.stride[i * IR_MAX_RANK] : cg_i64(c, 0);
}

static LLVMValueRef ctx_slot(cg_ctx *c, LLVMValueRef ctx, int k) {
  return cg_gep(c, c->i64, ctx, cg_i64(c, k));
}

static epi_fn build_epilogue_fn(cg_ctx *c, epilogue *e) {
  epi_fn f = {0};
  LLVMBuilderRef eb = LLVMCreateBuilderInContext(c->llvm);
  LLVMValueRef first = LLVMGetFirstInstruction(c->entry);
  if (first)
    LLVMPositionBuilderBefore(eb, first);
  else
    LLVMPositionBuilderAtEnd(eb, c->entry);
  f.ctx = LLVMBuildArrayAlloca(eb, c->i64, cg_i64(c, 1 + 2 * e->nops), "epi.ctx");
  LLVMSetAlignment(f.ctx, 8);
  LLVMDisposeBuilder(eb);

  /* the function, built with c pointed at it */
  LLVMValueRef fn = LLVMAddFunction(c->mod, "kernel.epi", cg_gemm_epi_type(c->llvm));
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  LLVMSetUnnamedAddress(fn, LLVMGlobalUnnamedAddr); /* mergefunc may fold equal ones */
  unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
  LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                          LLVMCreateEnumAttribute(c->llvm, nounwind, 0));
  LLVMBuilderRef saved_b = c->b;
  LLVMValueRef saved_fn = c->fn;
  LLVMBasicBlockRef saved_entry = c->entry;
  c->b = LLVMCreateBuilderInContext(c->llvm);
  c->fn = fn;
  c->entry = LLVMAppendBasicBlockInContext(c->llvm, fn, "entry");
  LLVMPositionBuilderAtEnd(c->b, c->entry);
  LLVMBuilderRef b = c->b;
  LLVMValueRef ctx = LLVMGetParam(fn, 0), C = LLVMGetParam(fn, 1), ldc = LLVMGetParam(fn, 2);
  LLVMValueRef r0 = LLVMGetParam(fn, 3), r1 = LLVMGetParam(fn, 4);
  LLVMValueRef c0 = LLVMGetParam(fn, 5), c1 = LLVMGetParam(fn, 6);
  LLVMValueRef row0 = LLVMBuildLoad2(b, c->i64, ctx_slot(c, ctx, 0), "");
  LLVMValueRef *ptr = calloc((size_t)e->nops + 1, sizeof *ptr);
  LLVMValueRef *stride = calloc((size_t)e->nops + 1, sizeof *stride);
  for (int i = 0; i < e->nops; i++) {
    if (e->ops[i].vec) continue;
    ptr[i] = LLVMBuildLoad2(b, c->ptr, ctx_slot(c, ctx, 1 + 2 * i), "");
    stride[i] = LLVMBuildLoad2(b, c->i64, ctx_slot(c, ctx, 2 + 2 * i), "");
  }
  LLVMValueRef *vals = calloc((size_t)e->body->nvalues, sizeof *vals);
  cg_loop r;
  cg_loop_begin(c, &r, r0, r1, cg_i64(c, 1));
  LLVMValueRef flat = LLVMBuildAdd(b, row0, r.i, "");
  LLVMValueRef crow = cg_gep(c, c->f32, C, LLVMBuildMul(b, r.i, ldc, ""));
  cg_loop col;
  cg_loop_begin(c, &col, c0, c1, cg_i64(c, c->vw));
  LLVMValueRef mask = cg_build_mask_below(b, LLVMBuildSub(b, c1, col.i, ""), c->vw);
  memset(vals, 0, sizeof *vals * (size_t)e->body->nvalues);
  vals[e->mm_value] = cg_load_vec(c, c->vf32, crow, col.i, mask);
  for (int i = 0; i < e->nops; i++) {
    LLVMValueRef off = e->ops[i].vec ? NULL : LLVMBuildMul(b, flat, stride[i], "");
    vals[e->ops[i].value] = operand_value(c, &e->ops[i], ptr[i], off, col.i, mask);
  }
  LLVMValueRef out = cg_eval_body(c, e->body, vals);
  cg_store_vec(c, out ? out : vals[e->mm_value], crow, col.i, mask);
  cg_loop_end(c, &col);
  cg_loop_end(c, &r);
  LLVMBuildRetVoid(b);
  free(vals);
  free(ptr);
  free(stride);
  LLVMDisposeBuilder(c->b);
  c->b = saved_b, c->fn = saved_fn, c->entry = saved_entry;
  f.fn = cg_dedupe_function(c->dedupe, fn); /* another layer's, when the same */
  return f;
}

/* the context of the epilogue's function, for a call whose row 0 is e->row0 */
static void fill_epilogue_ctx(cg_ctx *c, const epilogue *e, const epi_fn *f) {
  LLVMBuilderRef b = c->b;
  LLVMBuildStore(b, e->row0, ctx_slot(c, f->ctx, 0));
  for (int i = 0; i < e->nops; i++) {
    if (e->ops[i].vec) continue;
    LLVMBuildStore(b, e->ops[i].ptr, ctx_slot(c, f->ctx, 1 + 2 * i));
    LLVMBuildStore(b, row_stride(c, e, i), ctx_slot(c, f->ctx, 2 + 2 * i));
  }
}

int cg_gemm_sites(const ir_graph *g) {
  int n = 0;
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *k = &g->nodes[i];
    if (k->dead) continue;
    if (k->op == IR_OP_MATMUL) n++;
    if (k->op == IR_OP_ATTENTION) n += 2;
    if (k->op == IR_OP_REL_ATTENTION) n += 3; /* and the position term's band */
    if (k->body) n += cg_gemm_sites(k->body); /* a fused matmul, a scan's body */
  }
  return n;
}

/* the rows of a [..., M, K] operand known at compile time: the product of
 * its leading dims' constant factors (a bound symbol counts with its value) */
static int64_t known_rows(cg_ctx *c, const ir_type *t) {
  int64_t rows = 1;
  for (int d = 0; d < t->rank - 1; d++) {
    LLVMValueRef v = cg_dim(c, t->dims[d]);
    rows *= LLVMIsAConstantInt(v) ? LLVMConstIntGetSExtValue(v) : t->dims[d].coef;
  }
  return rows;
}

/* gm over this thread's columns of every unit (a scan step's hidden units) */
static void unit_columns(cg_ctx *c, cg_gemm *gm) {
  LLVMBuilderRef b = c->b;
  LLVMValueRef U = cg_i64(c, c->unit_len);
  cg_loop l;
  cg_loop_begin(c, &l, cg_i64(c, 0), LLVMBuildUDiv(b, gm->n, U, ""), cg_i64(c, 1));
  LLVMValueRef base = LLVMBuildMul(b, l.i, U, "");
  gm->n_lo = LLVMBuildAdd(b, base, c->unit_lo, "");
  gm->n_hi = LLVMBuildAdd(b, base, c->unit_hi, "");
  cg_emit_gemm(c->mod, b, gm);
  cg_loop_end(c, &l);
}

/* finds the matmul of a fused body and the operands its epilogue reads */
static bool setup_epilogue(cg_ctx *c, const ir_node *n, epilogue *e, const ir_type *ot) {
  const ir_graph *body = n->body;
  int mm = -1;
  for (int i = 0; i < body->nnodes; i++)
    if (!body->nodes[i].dead && body->nodes[i].op == IR_OP_MATMUL) {
      if (mm >= 0) return false;
      mm = i;
    }
  if (mm < 0) return false;
  const ir_node *m = &body->nodes[mm];
  /* fuse puts the matmul's operands first */
  if (n->ninputs < 2 || m->inputs[0] != body->inputs[0] || m->inputs[1] != body->inputs[1])
    return false;
  e->c = c;
  e->body = body;
  e->mm_value = m->outputs[0];
  if (!ir_type_eq(&body->values[e->mm_value].type, ot)) return false;
  /* body values read by the nodes after the matmul */
  bool *used = calloc((size_t)body->nvalues, sizeof *used);
  for (int i = 0; i < body->nnodes; i++) {
    const ir_node *k = &body->nodes[i];
    if (k->dead || i == mm) continue;
    for (int j = 0; j < k->ninputs; j++) used[k->inputs[j]] = true;
  }
  used[body->outputs[0].value] = true;
  e->ops = calloc((size_t)body->nvalues + 1, sizeof *e->ops);
  const ir_type **types = calloc((size_t)body->nvalues + 1, sizeof *types);
  for (int v = 0; v < body->nvalues; v++) {
    const ir_value *bv = &body->values[v];
    if (!used[v] || v == e->mm_value) continue;
    LLVMValueRef ptr = NULL;
    if (bv->kind == IR_VAL_CONST) {
      if (cg_is_scalar_const(bv)) {
        operand *o = &e->ops[e->nops];
        memset(o, 0, sizeof *o);
        o->value = v;
        o->vec = cg_scalar_const(c, bv);
        types[e->nops++] = &bv->type;
        continue;
      }
      int64_t nel = ir_type_numel_eval(&bv->type, NULL);
      LLVMValueRef init = LLVMConstStringInContext2(c->llvm, bv->data, (size_t)nel * 4, 1);
      ptr = LLVMAddGlobal(c->mod, LLVMTypeOf(init), "fused.const");
      LLVMSetInitializer(ptr, init);
      LLVMSetGlobalConstant(ptr, 1);
      LLVMSetLinkage(ptr, LLVMPrivateLinkage);
      LLVMSetAlignment(ptr, 64);
    } else {
      int pos = -1;
      for (int i = 0; i < body->ninputs; i++)
        if (body->inputs[i] == v) pos = i;
      if (pos < 0) continue; /* a node result: computed by cg_eval_body */
      ptr = cg_value_ptr(c, n->inputs[pos]);
      const ir_value *outer = &c->g->values[n->inputs[pos]];
      if (cg_is_scalar_const(outer)) {
        operand *o = &e->ops[e->nops];
        memset(o, 0, sizeof *o);
        o->value = v;
        o->vec = cg_scalar_const(c, outer);
        types[e->nops++] = &bv->type;
        continue;
      }
    }
    operand *o = &e->ops[e->nops];
    memset(o, 0, sizeof *o);
    o->value = v;
    o->ptr = ptr;
    const ir_type *t = &bv->type;
    o->col_bcast = t->rank == 0 ||
                   (ir_dim_is_const(t->dims[t->rank - 1]) && t->dims[t->rank - 1].coef == 1 &&
                    !(ir_dim_is_const(ot->dims[ot->rank - 1]) && ot->dims[ot->rank - 1].coef == 1));
    types[e->nops++] = t;
  }
  free(used);
  cg_space_init(c, &e->rows, ot, ot->rank - 1, types, e->nops);
  free(types);
  return true;
}

void cg_emit_matmul(cg_ctx *c, const ir_node *n) {
  LLVMBuilderRef b = c->b;
  const ir_graph *g = c->g;
  const ir_type *at = &g->values[n->inputs[0]].type;
  const ir_type *bt = &g->values[n->inputs[1]].type;
  const ir_type *ot = &g->values[n->outputs[0]].type;
  const ir_node *mm = n;
  epilogue e = {0};
  bool fused = n->op == IR_OP_FUSED;
  if (fused) {
    if (!setup_epilogue(c, n, &e, ot)) {
      cg_fail(c, "codegen: fused node '%s' is not a matmul with an elementwise epilogue", n->name);
      free(e.ops);
      cg_space_free(&e.rows);
      return;
    }
    for (int i = 0; i < n->body->nnodes; i++)
      if (n->body->nodes[i].op == IR_OP_MATMUL) mm = &n->body->nodes[i];
  }
  int ra = at->rank, rb = bt->rank, R = ot->rank;
  if (ra < 2 || rb < 2 || R < 2 || at->dtype != IR_F32 || bt->dtype != IR_F32) {
    cg_fail(c, "codegen: matmul '%s' needs f32 operands of rank 2 or more", n->name);
    free(e.ops);
    cg_space_free(&e.rows);
    return;
  }
  const ir_attr *tb = ir_get_attr(mm, "trans_b");
  bool trans_b = tb && tb->i != 0;
  cg_gemm gm = {0};
  gm.trans_b = trans_b;
  gm.vec_width = c->vw;
  gm.m = cg_dim(c, at->dims[ra - 2]);
  gm.k = cg_dim(c, at->dims[ra - 1]);
  gm.n = cg_dim(c, ot->dims[R - 1]);
  gm.lda = gm.k;
  gm.ldb = trans_b ? gm.k : gm.n;
  gm.ldc = gm.n;
  if (fused) {
    gm.epilogue = apply_epilogue;
    gm.user = &e;
  }
  LLVMValueRef A = cg_value_ptr(c, n->inputs[0]);
  LLVMValueRef B = cg_value_ptr(c, n->inputs[1]);
  LLVMValueRef C = cg_value_ptr(c, n->outputs[0]);

  int bb = c->g->values[n->inputs[1]].buffer;
  if (rb == 2 && bb >= 0) gm.b_panel_unit = c->g->buffers[bb].panel;
  bool unit = rb == 2 && cg_unit_kernel(c, n);
  bool split = c->step_wait && unit && gm.b_panel_unit > 0;
  /*
   * The module's shared GEMM (gemm.c), but for a recurrent step's GEMM on
   * a few rows, and with B in panels (a step's weights) or a split k: those
   * keep their sizes as constants and the epilogue in registers, since a
   * call and an epilogue pass per tile would cost a step a few percent. A
   * segment scan's GEMMs (rows = batch x segment) are large enough.
   */
  enum { SHARED_MIN_STEP_ROWS = 16 };
  epi_fn ef = {0};
  bool in_step = c->g->parent != NULL; /* a kernel of a scan's body */
  bool big = !unit || !in_step || known_rows(c, at) >= SHARED_MIN_STEP_ROWS;
  if (c->share_gemms && big && !split && gm.b_panel_unit <= 0 &&
      (!fused || epilogue_is_linear(&e))) {
    gm.shared = true;
    if (fused) {
      ef = build_epilogue_fn(c, &e);
      gm.epilogue = NULL, gm.user = NULL;
      gm.tile_epi = ef.fn, gm.tile_ctx = ef.ctx;
    }
  }
  if (c->step_wait && !split) cg_wait(c); /* no split after all: the whole barrier first */
  if (rb == 2) {
    /* b is one matrix: every row of a is a row of one big GEMM */
    gm.m = cg_dims(c, at, 0, ra - 1);
    gm.a = A, gm.b = B, gm.c = C;
    gm.ith = c->ith, gm.nth = c->nth;
    e.row0 = cg_i64(c, 0);
    if (split) {
      /* k over this thread's own units first, while the others finish the
       * step before (partial unless that is all of k: one thread) */
      LLVMValueRef zero = cg_i64(c, 0), lo = c->unit_lo, hi = c->unit_hi;
      LLVMValueRef some_below = LLVMBuildICmp(b, LLVMIntSGT, lo, zero, "");
      gm.k_lo = lo, gm.k_hi = hi;
      gm.partial = LLVMBuildOr(b, some_below, LLVMBuildICmp(b, LLVMIntSLT, hi, gm.k, ""), "");
      unit_columns(c, &gm);
      cg_wait(c);
      /* then the rest, [hi, k) and [0, lo), the last of them with the
       * epilogue: one loop over the two ranges, so that every thread runs
       * the same code. (The first and the last thread have one range each;
       * when each range had code of its own, the last thread's took longer
       * and the others waited for it every step.) */
      cg_loop r;
      cg_loop_begin(c, &r, zero, cg_i64(c, 2), cg_i64(c, 1));
      LLVMValueRef below = LLVMBuildICmp(b, LLVMIntEQ, r.i, cg_i64(c, 1), "");
      gm.k_lo = LLVMBuildSelect(b, below, zero, hi, "");
      gm.k_hi = LLVMBuildSelect(b, below, lo, gm.k, "");
      gm.accumulate = true;
      gm.partial = LLVMBuildAnd(b, LLVMBuildNot(b, below, ""), some_below, "");
      cg_if some;
      cg_if_begin(c, &some, LLVMBuildICmp(b, LLVMIntSLT, gm.k_lo, gm.k_hi, ""));
      unit_columns(c, &gm);
      cg_if_end(c, &some);
      cg_loop_end(c, &r);
    } else if (unit) {
      if (ef.fn) fill_epilogue_ctx(c, &e, &ef);
      unit_columns(c, &gm);
    } else {
      if (ef.fn) fill_epilogue_ctx(c, &e, &ef);
      cg_emit_gemm(c->mod, b, &gm);
    }
  } else {
    const ir_type *ops[2] = {at, bt};
    cg_space s;
    cg_space_init(c, &s, ot, R - 2, ops, 2);
    LLVMValueRef nb = cg_dims(c, ot, 0, R - 2);
    /* whole batches per thread when they divide evenly or are many (the
     * threads then finish within a quarter of a share of each other) */
    LLVMValueRef nth = LLVMBuildSExt(b, c->nth, c->i64, "");
    LLVMValueRef even =
        LLVMBuildICmp(b, LLVMIntEQ, LLVMBuildURem(b, nb, nth, ""), cg_i64(c, 0), "");
    LLVMValueRef many =
        LLVMBuildICmp(b, LLVMIntSGE, nb, LLVMBuildMul(b, nth, cg_i64(c, 4), ""), "");
    LLVMValueRef split = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntSGE, nb, nth, ""),
                                      LLVMBuildOr(b, even, many, ""), "");
    LLVMValueRef lo, hi;
    cg_split(c, nb, 1, &lo, &hi);
    lo = LLVMBuildSelect(b, split, lo, cg_i64(c, 0), "");
    hi = LLVMBuildSelect(b, split, hi, nb, "");
    gm.ith = LLVMBuildSelect(b, split, cg_i32(c, 0), c->ith, "");
    gm.nth = LLVMBuildSelect(b, split, cg_i32(c, 1), c->nth, "");
    LLVMValueRef mn = LLVMBuildNUWMul(b, gm.m, gm.n, "");
    cg_loop l;
    cg_loop_begin(c, &l, lo, hi, cg_i64(c, 1));
    LLVMValueRef off[2];
    cg_space_offsets(c, &s, s.ngroups, l.i, off);
    gm.a = cg_gep(c, c->f32, A, off[0]);
    gm.b = cg_gep(c, c->f32, B, off[1]);
    gm.c = cg_gep(c, c->f32, C, LLVMBuildNUWMul(b, l.i, mn, ""));
    e.row0 = LLVMBuildNUWMul(b, l.i, gm.m, "");
    if (ef.fn) fill_epilogue_ctx(c, &e, &ef);
    cg_emit_gemm(c->mod, b, &gm);
    cg_loop_end(c, &l);
    cg_space_free(&s);
  }
  free(e.ops);
  if (fused) cg_space_free(&e.rows);
}
