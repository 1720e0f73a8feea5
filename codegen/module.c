/*
 * module.c: a planned graph to an LLVM module with the SPMD entry points
 * `prepare` (nodes marked at_prepare) and `run` (the rest), each a sequence
 * of kernels in node order. Every thread runs the whole sequence and takes
 * its share of each kernel by ith/nth; barriers and splits go where the
 * schedule pass said (ir_sched).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

void cg_emit_kernel(cg_ctx *c, const ir_node *n) {
  switch (n->op) {
    case IR_OP_SCAN:
      cg_emit_scan(c, n);
      return;
    case IR_OP_FILL:
      cg_emit_fill(c, n);
      return;
#define ELEM(id, formula) case IR_OP_##id:
#include "ops.def"
      cg_emit_elementwise(c, n);
      return;
    case IR_OP_FUSED: {
      bool mm = false;
      for (int i = 0; i < n->body->nnodes; i++) mm |= n->body->nodes[i].op == IR_OP_MATMUL;
      if (mm)
        cg_emit_matmul(c, n);
      else
        cg_emit_elementwise(c, n);
      return;
    }
    case IR_OP_MATMUL:
      cg_emit_matmul(c, n);
      return;
    case IR_OP_SOFTMAX:
    case IR_OP_LAYER_NORM:
    case IR_OP_RMS_NORM:
    case IR_OP_MEAN:
      cg_emit_rows(c, n);
      return;
    case IR_OP_ARGMAX:
      cg_emit_argmax(c, n);
      return;
    case IR_OP_TRANSPOSE: {
      int ob = c->g->values[n->outputs[0]].buffer;
      if (ob >= 0 && c->g->buffers[ob].panel > 0) {
        cg_emit_panel_transpose(c, n);
        return;
      }
      cg_emit_movement(c, n);
      return;
    }
    case IR_OP_CONCAT:
    case IR_OP_SLICE:
    case IR_OP_SELECT:
    case IR_OP_RESHAPE:
      cg_emit_movement(c, n);
      return;
    case IR_OP_EMBEDDING:
    case IR_OP_POSITIONAL_ENCODING:
    case IR_OP_POSITIONS:
      cg_emit_embed(c, n);
      return;
    case IR_OP_STATE_READ:
    case IR_OP_STATE_WRITE:
    case IR_OP_CACHE_WRITE:
      cg_emit_state(c, n);
      return;
    case IR_OP_ATTENTION:
      cg_emit_attention(c, n);
      return;
    case IR_OP_REL_ATTENTION:
      cg_emit_rel_attention(c, n);
      return;
    case IR_OP_SLOT_ATTENTION:
      cg_emit_slot_attention(c, n);
      return;
    case IR_OP_CONV1D:
      cg_emit_conv1d(c, n);
      return;
      /* layers: decompose expands them; a library caller may skip it */
#define LAYER(id) case IR_OP_##id:
#include "ops.def"
    case IR_OP_COUNT:
      cg_fail(c, "codegen: op %s ('%s') should not reach codegen", ir_ops[n->op].name, n->name);
      return;
  }
}

/* kernel n of the top graph (with partner: a pair of scans in one loop);
 * one that feeds scans takes their unit split */
static void emit_top_kernel(cg_ctx *c, const ir_node *n, const ir_node *partner) {
  if (partner) {
    cg_emit_scan_pair(c, n, partner);
    return;
  }
  c->unit_len = n->op == IR_OP_SCAN ? 0 : n->sched.unit;
  if (c->unit_len > 0) cg_split(c, cg_i64(c, c->unit_len), c->vw, &c->unit_lo, &c->unit_hi);
  cg_emit_kernel(c, n);
  c->unit_len = 0;
}

void cg_load_syms(cg_ctx *c) {
  const ir_graph *g = c->g;
  while (g->parent) g = g->parent; /* a scan body's kernel: the symbols are the model's */
  for (int s = 0; s < g->nsyms + g->nderived; s++) { /* derived ones follow the base */
    if (c->bind_syms && c->bind_syms[s] >= 0) { /* -1: left symbolic (AOT) */
      c->sym_val[s] = cg_i64(c, c->bind_syms[s]);
    } else {
      LLVMValueRef v =
          LLVMBuildLoad2(c->b, c->i64, cg_gep(c, c->i64, c->syms, cg_i64(c, s)), g->syms[s].name);
      LLVMSetAlignment(v, 8);
      c->sym_val[s] = v;
    }
  }
  for (int k = 0; k < SEQRT_SESSION_SYMS; k++) { /* after the symbols (seqrt.h) */
    if (k == SEQRT_SYM_POSITION && !g->streams) { /* p stays 0 in a model that does not stream */
      c->session_val[k] = cg_i64(c, 0);
      continue;
    }
    LLVMValueRef at = cg_i64(c, g->nsyms + g->nderived + k);
    c->session_val[k] = LLVMBuildLoad2(c->b, c->i64, cg_gep(c, c->i64, c->syms, at),
                                       k == SEQRT_SYM_POSITION ? "position" : "runs");
    LLVMSetAlignment(c->session_val[k], 8);
  }
}

/* how an entry runs a row of its table (the row's flags) */
enum {
  ROW_BARRIER = 1, /* a barrier first: the kernel reads what others wrote */
  ROW_ONCE = 2,    /* only in the first run after a reset (SPEC 9): static inputs only */
  ROW_COMMIT = 4,  /* the first state write: a failed run returns before it */
};

/* the entry's rows: { kernel, its ids, their count, flags } */
typedef struct rows {
  LLVMValueRef *row; /* constant structs */
  int n, cap;        /* rows, room */
} rows;

static void add_row(cg_ctx *c, rows *r, cg_kernel k, int flags) {
  if (r->n == r->cap) {
    r->cap = r->cap ? 2 * r->cap : 64;
    r->row = realloc(r->row, sizeof *r->row * (size_t)r->cap);
    IR_ASSERT(r->row);
  }
  LLVMValueRef f[] = {k.fn, k.ids, cg_i64(c, k.nids), cg_i64(c, flags)};
  r->row[r->n++] = LLVMConstStructInContext(c->llvm, f, 4, 0);
}

/* true when the i64 flags have bit `bit` */
static LLVMValueRef has_flag(cg_ctx *c, LLVMValueRef flags, int bit) {
  LLVMValueRef set = LLVMBuildAnd(c->b, flags, cg_i64(c, bit), "");
  return LLVMBuildICmp(c->b, LLVMIntNE, set, cg_i64(c, 0), "");
}

/*
 * Adds function `name` running the nodes whose at_prepare equals prepare:
 * a loop over a constant table with a row per kernel function call (its
 * barrier, whether it runs once, whether it commits), not a call
 * instruction per kernel, so that the entry of a model with hundreds of
 * kernels costs LLVM nothing to compile.
 */
static void build_entry(cg_ctx *c, const char *name, bool prepare) {
  const ir_graph *g = c->g;
  LLVMTypeRef params[] = {c->ptr, c->ptr, c->ptr, c->i32, c->i32};
  LLVMTypeRef fty = LLVMFunctionType(c->void_t, params, 5, 0);
  c->fn = LLVMAddFunction(c->mod, name, fty);
  unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
  LLVMAddAttributeAtIndex(c->fn, LLVMAttributeFunctionIndex,
                          LLVMCreateEnumAttribute(c->llvm, nounwind, 0));
  c->bufs = LLVMGetParam(c->fn, 0);
  c->syms = LLVMGetParam(c->fn, 1);
  c->team = LLVMGetParam(c->fn, 2);
  c->ith = LLVMGetParam(c->fn, 3);
  c->nth = LLVMGetParam(c->fn, 4);
  LLVMSetValueName2(c->bufs, "bufs", 4);
  LLVMSetValueName2(c->syms, "syms", 4);
  LLVMSetValueName2(c->team, "team", 4);
  LLVMSetValueName2(c->ith, "ith", 3);
  LLVMSetValueName2(c->nth, "nth", 3);
  c->entry = LLVMAppendBasicBlockInContext(c->llvm, c->fn, "entry");
  LLVMPositionBuilderAtEnd(c->b, c->entry);
  cg_load_syms(c);
  rows r = {0};
  bool committing = false;
  for (int i = 0; i < g->nnodes && !c->failed; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead || n->at_prepare != prepare || ir_node_is_view(g, n)) continue;
    int flags = n->sched.barrier ? ROW_BARRIER : 0;
    if (n->once) flags |= ROW_ONCE;
    /* the state writes, the last nodes: none when the run failed (after the
     * schedule's barrier every thread sees every failure) */
    if ((ir_ops[n->op].traits & IR_T_EFFECT) && !committing) {
      committing = true;
      flags |= ROW_COMMIT;
    }
    const ir_node *partner = ir_paired_scan(g, i);
    cg_kernel k = cg_kernel_fn(c, n, partner, emit_top_kernel);
    if (k.fn) add_row(c, &r, k, flags);
    if (partner) i = (int)(partner - g->nodes);
  }
  if (c->failed) {
    free(r.row);
    return;
  }
  LLVMTypeRef fields[] = {c->ptr, c->ptr, c->i64, c->i64};
  LLVMTypeRef row_ty = LLVMStructTypeInContext(c->llvm, fields, 4, 0);
  LLVMValueRef init = LLVMConstArray2(row_ty, r.row, (uint64_t)r.n);
  free(r.row);
  LLVMValueRef table = LLVMAddGlobal(c->mod, LLVMTypeOf(init), "kernels");
  LLVMSetInitializer(table, init);
  LLVMSetGlobalConstant(table, 1);
  LLVMSetLinkage(table, LLVMPrivateLinkage);

  LLVMBuilderRef b = c->b;
  cg_loop l;
  cg_loop_begin(c, &l, cg_i64(c, 0), cg_i64(c, r.n), cg_i64(c, 1));
  LLVMValueRef idx[2] = {cg_i64(c, 0), l.i};
  LLVMValueRef row = LLVMBuildInBoundsGEP2(b, LLVMTypeOf(init), table, idx, 2, "row");
  LLVMValueRef field[4];
  for (unsigned k = 0; k < 4; k++) {
    LLVMValueRef at = LLVMBuildStructGEP2(b, row_ty, row, k, "");
    field[k] = LLVMBuildLoad2(b, k < 2 ? c->ptr : c->i64, at, "");
    LLVMSetAlignment(field[k], 8);
  }
  LLVMValueRef flags = field[3];
  cg_if barrier;
  cg_if_begin(c, &barrier, has_flag(c, flags, ROW_BARRIER));
  cg_barrier(c);
  cg_if_end(c, &barrier);
  /* a node marked once runs in the first run after a reset; the others
   * (and every row after a reset) run */
  LLVMValueRef later =
      LLVMBuildICmp(b, LLVMIntNE, cg_session(c, SEQRT_SYM_RUNS), cg_i64(c, 0), "later");
  cg_if run;
  LLVMValueRef skip = LLVMBuildAnd(b, has_flag(c, flags, ROW_ONCE), later, "skip");
  cg_if_begin(c, &run, LLVMBuildNot(b, skip, ""));
  cg_if commit;
  cg_if_begin(c, &commit, has_flag(c, flags, ROW_COMMIT));
  cg_return_if_failed(c);
  cg_if_end(c, &commit);
  LLVMValueRef args[] = {c->bufs, field[1], field[2], c->syms,
                         c->team, c->ith,   c->nth,   cg_i64(c, 0)};
  LLVMBuildCall2(b, cg_kernel_type(c), field[0], args, 8, "");
  cg_if_end(c, &run);
  cg_loop_end(c, &l);
  LLVMBuildRetVoid(b);
}

bool cg_has_prepare(const ir_graph *g) {
  for (int i = 0; i < g->nnodes; i++)
    if (!g->nodes[i].dead && g->nodes[i].at_prepare && !ir_node_is_view(g, &g->nodes[i]))
      return true;
  return false;
}

LLVMModuleRef cg_module_build(const ir_graph *g, const cg_options *opt, int vec_width,
                              LLVMContextRef llvm, seqrt_error *err) {
  if (!g->buffers && g->nnodes > 0) {
    if (err) snprintf(err->msg, sizeof err->msg, "codegen: the graph has no memory plan");
    return NULL;
  }
  if (g->sched_width != vec_width) { /* the schedule's splits are in vectors of its width */
    if (err)
      snprintf(err->msg, sizeof err->msg,
               g->sched_width ? "codegen: the graph was scheduled for %d floats per vector, the "
                                "target has %d (run the pipeline with this target)"
                              : "codegen: the graph has no schedule (%d), the target has %d "
                                "floats per vector (run the pipeline with a target)",
               g->sched_width, vec_width);
    return NULL;
  }
  LLVMModuleRef mod = LLVMModuleCreateWithNameInContext(g->name ? g->name : "seqc", llvm);
  cg_ctx c = {.llvm = llvm, .mod = mod, .g = g, .err = err, .vw = vec_width};
  c.share_gemms = cg_gemm_sites(g) >= CG_SHARED_GEMM_SITES;
  if (c.share_gemms && opt && opt->gemm_library) /* the shared GEMMs are declared only */
    LLVMAddModuleFlag(mod, LLVMModuleFlagBehaviorError, CG_GEMM_LIBRARY_FLAG,
                      strlen(CG_GEMM_LIBRARY_FLAG),
                      LLVMValueAsMetadata(LLVMConstInt(LLVMInt32TypeInContext(llvm), 1, 0)));
  /* derived symbols fold in when the base ones they follow from are bound */
  int64_t bound[IR_MAX_SYMS];
  if (opt && opt->bind_syms) {
    memcpy(bound, opt->bind_syms, sizeof(int64_t) * (size_t)g->nsyms);
    ir_syms_complete(g, bound);
    c.bind_syms = bound;
  }
  c.b = LLVMCreateBuilderInContext(llvm);
  c.f32 = LLVMFloatTypeInContext(llvm);
  c.f64 = LLVMDoubleTypeInContext(llvm);
  c.i1 = LLVMInt1TypeInContext(llvm);
  c.i8 = LLVMInt8TypeInContext(llvm);
  c.i32 = LLVMInt32TypeInContext(llvm);
  c.i64 = LLVMInt64TypeInContext(llvm);
  c.ptr = LLVMPointerTypeInContext(llvm, 0);
  c.void_t = LLVMVoidTypeInContext(llvm);
  c.vf32 = LLVMVectorType(c.f32, (unsigned)vec_width);
  c.vi1 = LLVMVectorType(c.i1, (unsigned)vec_width);
  c.vi32 = LLVMVectorType(c.i32, (unsigned)vec_width);
  c.const_global = calloc((size_t)g->nvalues + 1, sizeof *c.const_global);
  c.slot_of = malloc(sizeof *c.slot_of * (size_t)(g->nbuffers + 1));
  c.slot_buf = malloc(sizeof *c.slot_buf * (size_t)(g->nbuffers + 1));
  IR_ASSERT(c.const_global && c.slot_of && c.slot_buf);
  for (int i = 0; i < g->nbuffers; i++) c.slot_of[i] = -1;

  c.dedupe = cg_dedupe_new();
  if (cg_has_prepare(g)) build_entry(&c, "prepare", true);
  if (!c.failed) build_entry(&c, "run", false);
  cg_dedupe_free(c.dedupe);

  free(c.const_global);
  free(c.slot_of);
  free(c.slot_buf);
  LLVMDisposeBuilder(c.b);
  if (c.failed || !cg_merge_kernels(mod, err)) {
    LLVMDisposeModule(mod);
    return NULL;
  }
  return mod;
}
