/*
 * module.c: a planned graph to an LLVM module with the SPMD entry points
 * `prepare` (nodes marked at_prepare) and `run` (the rest), each a sequence
 * of kernels in node order. Every thread runs the whole sequence and takes
 * its share of each kernel by ith/nth; a barrier goes between two kernels
 * only when the second could touch memory the first is still using (see
 * needs_barrier).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

/* true if the comma-separated feature list holds exactly `want` ("+avx2") */
static bool has_feature(const char *features, const char *want) {
  size_t n = strlen(want);
  for (const char *p = features; p && *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n && strncmp(p, want, n) == 0) return true;
    p = e ? e + 1 : NULL;
  }
  return false;
}

int cg_vec_width(const char *cpu, const char *features) {
  if (features && *features) {
    if (has_feature(features, "+avx512f")) return 16;
    if (has_feature(features, "+avx2")) return 8;
    return 4;
  }
  /* no feature list: what the CPU name implies (AOT with --target-cpu only) */
  static const char *const avx512[] = {
      "skylake-avx512", "cascadelake", "cooperlake", "cannonlake",     "icelake-client",
      "icelake-server", "tigerlake",   "rocketlake", "sapphirerapids", "emeraldrapids",
      "graniterapids",  "znver4",      "znver5",     "x86-64-v4",      NULL};
  static const char *const avx2[] = {
      "haswell",   "broadwell", "skylake", "alderlake", "raptorlake", "meteorlake", "arrowlake",
      "lunarlake", "znver1",    "znver2",  "znver3",    "x86-64-v3",  NULL};
  for (int i = 0; cpu && avx512[i]; i++)
    if (strcmp(cpu, avx512[i]) == 0) return 16;
  for (int i = 0; cpu && avx2[i]; i++)
    if (strcmp(cpu, avx2[i]) == 0) return 8;
  return 4;
}

/* ---- barriers ---- */

/* what the kernels since the last barrier touched */
typedef struct hazards {
  bool *read, *written; /* by root buffer */
  int min_last;         /* smallest `last` of an arena buffer touched, INT32_MAX if none */
} hazards;

/* TEMP and OUTPUT buffers share the arena: the runtime may give a buffer
 * memory that an earlier one, dead by then, used */
static bool in_arena(const ir_graph *g, int b) {
  int r = g->buffers[b].role;
  return r == SEQRT_ROLE_TEMP || r == SEQRT_ROLE_OUTPUT;
}

/*
 * Kernel `step` must wait for every thread to finish the kernels before it
 * when it reads what they wrote, writes what they read or wrote, or writes
 * arena memory while they touched a buffer whose life ended before `step`
 * (its memory may be the same).
 */
static bool needs_barrier(const ir_graph *g, const hazards *h, const ir_node *n, int step) {
  for (int j = 0; j < n->ninputs; j++) {
    int r = ir_buffer_root(g, g->values[n->inputs[j]].buffer);
    if (r >= 0 && h->written[r]) return true;
  }
  for (int j = 0; j < n->noutputs; j++) {
    int r = ir_buffer_root(g, g->values[n->outputs[j]].buffer);
    if (r < 0) continue;
    if (h->read[r] || h->written[r]) return true;
    if (in_arena(g, r) && h->min_last < step) return true;
  }
  return false;
}

static void touch(const ir_graph *g, hazards *h, int value, bool write) {
  int r = ir_buffer_root(g, g->values[value].buffer);
  if (r < 0) return;
  if (write)
    h->written[r] = true;
  else
    h->read[r] = true;
  if (in_arena(g, r) && g->buffers[r].last < h->min_last) h->min_last = g->buffers[r].last;
}

static void clear(const ir_graph *g, hazards *h) {
  memset(h->read, 0, (size_t)g->nbuffers + 1);
  memset(h->written, 0, (size_t)g->nbuffers + 1);
  h->min_last = INT32_MAX;
}

/* ---- kernels ---- */

/* a reshape whose result is a view of its input: nothing to run */
static bool is_view(const ir_graph *g, const ir_node *n) {
  if (!(ir_ops[n->op].traits & IR_T_VIEW)) return false;
  int b = g->values[n->outputs[0]].buffer;
  return b < 0 || g->buffers[b].role == SEQRT_ROLE_ALIAS;
}

/* the scan that runs in one loop with scan node i (pair=1), or NULL */
static const ir_node *paired_scan(const ir_graph *g, int i) {
  const ir_node *n = &g->nodes[i];
  const ir_attr *p = n->op == IR_OP_SCAN ? ir_get_attr(n, "pair") : NULL;
  if (!p || !p->i) return NULL;
  int j = i + 1;
  while (j < g->nnodes && g->nodes[j].dead) j++;
  if (j >= g->nnodes || g->nodes[j].op != IR_OP_SCAN || g->nodes[j].at_prepare != n->at_prepare)
    return NULL; /* the verifier vouches for the rest */
  return &g->nodes[j];
}

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
    case IR_OP_TRANSPOSE: {
      int ob = c->g->values[n->outputs[0]].buffer;
      if (c->panel_unit && ob >= 0 && c->panel_unit[ob] > 0) {
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
      cg_emit_embed(c, n);
      return;
    case IR_OP_ATTENTION:
      cg_emit_attention(c, n);
      return;
    case IR_OP_CONV1D:
      cg_emit_conv1d(c, n);
      return;
    case IR_OP_LINEAR: /* layers: decompose expands them; a library caller may skip it */
    case IR_OP_DROPOUT:
    case IR_OP_RNN:
    case IR_OP_LSTM:
    case IR_OP_GRU:
    case IR_OP_COUNT:
      cg_fail(c, "codegen: op %s ('%s') should not reach codegen", ir_ops[n->op].name, n->name);
      return;
  }
}

/* kernel n of the top graph; one that feeds scans takes their unit split */
static void emit_top_kernel(cg_ctx *c, const ir_node *n) {
  c->unit_len = n->at_prepare ? 0 : cg_feeds_scan_unit(c, n);
  if (c->unit_len > 0 && !cg_unit_kernel(c, n)) c->unit_len = 0;
  if (c->unit_len > 0) cg_split(c, cg_i64(c, c->unit_len), c->vw, &c->unit_lo, &c->unit_hi);
  cg_emit_kernel(c, n);
  c->unit_len = 0;
}

/* adds function `name` running the nodes whose at_prepare equals prepare */
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
  hazards h = {calloc((size_t)g->nbuffers + 1, 1), calloc((size_t)g->nbuffers + 1, 1), 0};
  IR_ASSERT(h.read && h.written);
  clear(g, &h);
  for (int i = 0; i < g->nnodes && !c->failed; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead || n->at_prepare != prepare || is_view(g, n)) continue;
    const ir_node *partner = paired_scan(g, i);
    if (needs_barrier(g, &h, n, i) || (partner && needs_barrier(g, &h, partner, i))) {
      cg_barrier(c);
      clear(g, &h);
    }
    if (partner) {
      cg_emit_scan_pair(c, n, partner);
      for (int j = 0; j < partner->ninputs; j++) touch(g, &h, partner->inputs[j], false);
      for (int j = 0; j < partner->noutputs; j++) touch(g, &h, partner->outputs[j], true);
      i = (int)(partner - g->nodes);
    } else {
      emit_top_kernel(c, n);
    }
    for (int j = 0; j < n->ninputs; j++) touch(g, &h, n->inputs[j], false);
    for (int j = 0; j < n->noutputs; j++) touch(g, &h, n->outputs[j], true);
  }
  free(h.read);
  free(h.written);
  LLVMBuildRetVoid(c->b);
}

LLVMModuleRef cg_module_build(const ir_graph *g, const cg_options *opt, int vec_width,
                              LLVMContextRef llvm, seqrt_error *err) {
  if (!g->buffers && g->nnodes > 0) {
    if (err) snprintf(err->msg, sizeof err->msg, "codegen: the graph has no memory plan");
    return NULL;
  }
  LLVMModuleRef mod = LLVMModuleCreateWithNameInContext(g->name ? g->name : "seqc", llvm);
  cg_ctx c = {.llvm = llvm, .mod = mod, .g = g, .err = err, .vw = vec_width};
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
  IR_ASSERT(c.const_global);
  cg_panel_plan(&c);

  bool any_prepare = false;
  for (int i = 0; i < g->nnodes; i++)
    if (!g->nodes[i].dead && g->nodes[i].at_prepare && !is_view(g, &g->nodes[i]))
      any_prepare = true;
  if (any_prepare) build_entry(&c, "prepare", true);
  if (!c.failed) build_entry(&c, "run", false);

  free(c.const_global);
  free(c.panel_unit);
  LLVMDisposeBuilder(c.b);
  if (c.failed) {
    LLVMDisposeModule(mod);
    return NULL;
  }
  return mod;
}
