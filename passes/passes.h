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
  const ir_target *target; /* what schedule plans for (cg_target); NULL: no codegen follows */
  const int64_t *bind_syms; /* the binding codegen folds in, -1 = left to run time (a
                               partial --dim); NULL = syms */
  const char *stop_after;  /* pass name: the pipeline ends after it (seqc graph); NULL = never */
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
/* where a pass reports user errors: ctx->diags, or *local made to print to
 * stderr when the caller gave none */
ir_diags *pass_diags(pass_ctx *ctx, ir_diags *local);

/* every layer op (linear, dropout, recurrent, attention, Transformer) to primitives */
bool pass_decompose(ir_graph *g, pass_ctx *ctx);
/* where decompose puts the nodes of a layer's expansion */
typedef struct pass_expansion {
  ir_graph *g;      /* the graph holding the layer */
  int pos;          /* the next node goes here (the layer node moves down) */
  const char *name; /* the layer's name, the prefix of every new node */
  ir_loc loc;       /* the layer's position, every new node's */
  ir_diags *d;      /* errors (none expected: the layer was typed) */
} pass_expansion;
/* inserts node NAME.suffix of op at e->pos (attributes are set by the caller
 * before it is typed); its index */
int pass_put(pass_expansion *e, ir_op op, const char *suffix, const int *in, int n);
/* the same for an op whose result count is per node (ops.def outputs -1): nout results */
int pass_put_n(pass_expansion *e, ir_op op, const char *suffix, const int *in, int n, int nout);
/* infers node (a pass_put's, its attributes set) and returns its result */
int pass_typed(pass_expansion *e, int node);
/* the expansions' common nodes, named NAME.suffix and typed; each returns its result:
 * v viewed with rank dims (its dtype), v's dims permuted, v[lo:hi] along dim,
 * v[index] along dim (dim removed), LINEAR(x, w[, b]) (b -1: none; decompose's loop
 * expands it when it reaches it) */
int pass_reshape(pass_expansion *e, const char *suffix, int v, int rank, const ir_dim *dims);
int pass_transpose(pass_expansion *e, const char *suffix, int v, int rank, const int64_t *perm);
int pass_slice(pass_expansion *e, const char *suffix, int v, int dim, int64_t lo, int64_t hi);
int pass_select(pass_expansion *e, const char *suffix, int v, int dim, int64_t index);
int pass_linear(pass_expansion *e, const char *suffix, int x, int w, int b);
/* decompose_rnn.c, called by decompose: expands the RNN, LSTM or GRU at node i
 * into SCANs; returns the index of the node after the expansion */
int pass_expand_recurrent(ir_graph *g, int i, ir_diags *d);
/* decompose_attention.c, called by decompose: expands the multihead_attention or
 * Transformer layer at node i into primitives and the linear and multihead_attention
 * layers that decompose then expands; returns i, the first new node */
int pass_expand_attention(ir_graph *g, int i, ir_diags *d);
/* decompose_memory.c, called by decompose: expands Memformer's memory_write at node i
 * into primitives and linears; returns i, the first new node */
int pass_expand_memory_write(ir_graph *g, int i, ir_diags *d);
/* decompose_xl.c: transformer_xl at node i into a segment scan around rel_attention;
 * returns i, the first new node */
int pass_expand_xl(ir_graph *g, int i, ir_diags *d);
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
/* how threads share each kernel and where they wait (ir_sched), for ctx->target */
bool pass_schedule(ir_graph *g, pass_ctx *ctx);

/* ---- the schedule's parts (schedule.c, schedule_scan.c) ---- */

typedef struct sched_ctx {
  const ir_target *target; /* vector width, the GEMM's rule */
  const int64_t *syms;     /* codegen's binding (derived ones completed), -1 unbound; or NULL */
} sched_ctx;

/* d's value under the binding, when every symbol of it is bound */
bool sched_dim_known(const sched_ctx *s, ir_dim d, int64_t *v);
/* d is known to be 1 */
bool sched_is_one(const sched_ctx *s, ir_dim d);
/* m is a matmul, or fused around one */
bool sched_has_matmul(const ir_node *m);
/* kernel n of graph g can run by the unit split of `unit` (each thread its
 * columns of every unit of the result's last dim) */
bool sched_unit_kernel(const sched_ctx *s, const ir_graph *g, const ir_node *n, int64_t unit);
/* the unit of scan n's steps: its first state's width when a multiple of the
 * vector width, else 0 */
int64_t sched_scan_unit(const sched_ctx *s, const ir_node *n);
/* the schedule of scan n's steps; g: the graph n is in, seen with the top
 * graph's buffer table */
void sched_scan(const sched_ctx *s, const ir_graph *g, ir_node *n);

/* how a kernel or copy touches memory: not, only at this thread's columns
 * of the unit split, or anywhere */
enum { SCHED_UNTOUCHED, SCHED_UNIT, SCHED_FULL };
typedef struct sched_access {
  int key;            /* the memory (sched_track_key), -1 none */
  unsigned char mode; /* SCHED_UNIT or SCHED_FULL */
  bool write;         /* written, else read */
} sched_access;

/* The hazard tracker: what the kernels since the last barrier touched. A
 * UNIT read of what a UNIT kernel wrote is this thread's own data. */
typedef struct sched_track {
  const ir_graph *g;             /* whose buffer table (a body: seen with the top one) */
  unsigned char *read, *written; /* by memory key: SCHED_UNTOUCHED, _UNIT or _FULL */
  int *viewof;   /* by buffer: the memory a slice view points into, or -1 */
  bool *aligned; /* by buffer: a slice view whose offset is a multiple of the unit */
  bool arena;    /* the top graph: writing arena memory waits for readers of dead buffers */
  int min_last;  /* arena: smallest `last` of an arena buffer touched, INT32_MAX if none */
  int barriers;  /* barriers asked for since the caller last zeroed it */
} sched_track;

void sched_track_init(sched_track *t, const ir_graph *g, bool arena);
void sched_track_free(sched_track *t);
/* a barrier: every thread is done with what was tracked */
void sched_track_clear(sched_track *t);
/* the memory buffer b stands for: its root, or what a slice view points into */
int sched_track_key(const sched_track *t, int buffer);
/* an access of `mode` to memory last touched as `was` needs the others done */
bool sched_conflicts(unsigned char was, unsigned char mode);
/* accesses a[0..n) of the kernel at node index `step` need a barrier first */
bool sched_track_needs(const sched_track *t, const sched_access *a, int n, int step);
void sched_track_touch(sched_track *t, const sched_access *a, int n);
/* needs, then (a barrier if so) touch: returns whether a barrier goes first */
bool sched_track_access(sched_track *t, const sched_access *a, int n, int step);

#endif
