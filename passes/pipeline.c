/*
 * pipeline.c: the passes in the order they run. Read it top to bottom: this
 * list is the compiler's middle end.
 */
#include <string.h>

#include "passes.h"

const pass_info pass_pipeline[] = {
    {"decompose", pass_decompose},         /* layer ops to primitives */
    {"infer_shapes", pass_infer_shapes},   /* types and shapes, user errors */
    {"simplify", pass_simplify},           /* fold, CSE, DCE */
    {"hoist", pass_hoist},                 /* state-independent scan work out of the loop */
    {"merge_gemm", pass_merge_gemm},       /* matmuls of one operand into one */
    {"fuse", pass_fuse},                   /* elementwise chains, matmul epilogues */
    {"unroll", pass_unroll},               /* steps per iteration of each scan loop */
    {"tile_attention", pass_tile_attention}, /* attention chains, tile sizes */
    {"pair_scans", pass_pair_scans},       /* both directions of a layer in one loop */
    {"plan_memory", pass_plan_memory},     /* prepare-time nodes, buffers, lifetimes */
    {"schedule", pass_schedule},           /* thread splits, barriers, per-step moves */
    {NULL, NULL},
};

ir_diags *pass_diags(pass_ctx *ctx, ir_diags *local) {
  if (ctx->diags) return ctx->diags;
  ir_diags_init(local, NULL, NULL, 0, stderr);
  return local;
}

bool pass_name_known(const char *name) {
  if (strcmp(name, "all") == 0) return true;
  for (const pass_info *p = pass_pipeline; p->name; p++)
    if (strcmp(p->name, name) == 0) return true;
  return false;
}

bool pass_run_pipeline(ir_graph *g, pass_ctx *ctx) {
  FILE *out = ctx->print_out ? ctx->print_out : stdout;
  if (!ir_verify(g, "frontend", stderr)) return false;
  /* the passes see the derived symbols' values too, completed again before
   * each pass since inference may derive new ones */
  int64_t syms[IR_MAX_SYMS];
  pass_ctx local = *ctx;
  if (ctx->syms) {
    memcpy(syms, ctx->syms, sizeof(int64_t) * (size_t)g->nsyms);
    local.syms = syms;
  }
  ctx = &local;
  for (const pass_info *p = pass_pipeline; p->name; p++) {
    if (p->run == pass_fuse && ctx->no_fuse) continue;
    if (ctx->syms) ir_syms_complete(g, syms);
    int errors = ctx->diags ? ctx->diags->nerrors : 0;
    bool changed = p->run(g, ctx);
    if (ctx->diags && ctx->diags->nerrors > errors) return false;
    if (changed && !ir_verify(g, p->name, stderr)) return false;
    if (ctx->print_after &&
        (strcmp(ctx->print_after, "all") == 0 || strcmp(ctx->print_after, p->name) == 0)) {
      fprintf(out, "; after %s\n", p->name);
      ir_print(g, out);
    }
    if (ctx->stop_after && strcmp(ctx->stop_after, p->name) == 0) break;
  }
  return true;
}
