/*
 * passes.h: the optimization passes, one file each, and the pipeline that
 * runs them in order (pipeline.c). A pass returns whether it changed the
 * graph; the verifier runs after every pass that did.
 */
#ifndef SEQC_PASSES_H
#define SEQC_PASSES_H

#include <stdbool.h>
#include <stdio.h>

#include "ir.h"

typedef struct pass_ctx {
  ir_diags *diags;         /* user errors (shape mismatches) go here */
  const int64_t *syms;     /* symbol binding, or NULL when dims stay symbolic */
  const char *print_after; /* pass name or "all": print the graph after it, NULL = never */
  FILE *print_out;         /* where print_after prints (stdout by default) */
  int unroll;              /* recurrence unroll factor, 0 = chosen by the pass */
  bool no_fuse;            /* skip fuse (tests compare fused and unfused) */
} pass_ctx;

typedef bool (*pass_fn)(ir_graph *g, pass_ctx *ctx);

typedef struct pass_info {
  const char *name; /* as in --print-after */
  pass_fn run;      /* the pass */
} pass_info;

/* the pipeline in order, terminated by {NULL, NULL} */
extern const pass_info pass_pipeline[];

/*
 * Runs every pass in order, the verifier before the first and after each
 * pass that changed the graph. Returns false when a pass reported user
 * errors (ctx->diags) or the verifier failed (a compiler bug, printed).
 */
bool pass_run_pipeline(ir_graph *g, pass_ctx *ctx);
/* true if name is a pass of the pipeline or "all" */
bool pass_name_known(const char *name);

/* layer ops (linear, dropout, ...) to primitives */
bool pass_decompose(ir_graph *g, pass_ctx *ctx);
/* decompose_rnn.c, called by decompose: expands the RNN, LSTM or GRU at node i
 * into SCANs; returns the index of the node after the expansion */
int pass_expand_recurrent(ir_graph *g, int i, ir_diags *d);
/* (re)infers every type; mismatches are user errors at the node's YAML line */
bool pass_infer_shapes(ir_graph *g, pass_ctx *ctx);
/* constant folding, CSE, dead code */
bool pass_simplify(ir_graph *g, pass_ctx *ctx);
/* scan body work independent of the state (input projections) out of the loop */
bool pass_hoist(ir_graph *g, pass_ctx *ctx);
/* matmuls sharing their first operand into one over concatenated weights */
bool pass_merge_gemm(ir_graph *g, pass_ctx *ctx);
/* elementwise chains and matmul epilogues into FUSED nodes */
bool pass_fuse(ir_graph *g, pass_ctx *ctx);
/* unroll factor of every SCAN's compiled loop (ctx->unroll, or chosen) */
bool pass_unroll(ir_graph *g, pass_ctx *ctx);
/* softmax(q k^T * c) v chains into `attention`; tile sizes of every attention node */
bool pass_tile_attention(ir_graph *g, pass_ctx *ctx);
/* independent scans of equal steps (bidirectional layers) made adjacent, pair=1 */
bool pass_pair_scans(ir_graph *g, pass_ctx *ctx);
/* marks param-only nodes at_prepare; buffer per value that needs memory */
bool pass_plan_memory(ir_graph *g, pass_ctx *ctx);

#endif
