/*
 * scan.c: the SCAN loop. The body is emitted once, inside a real loop over
 * the steps, so code size and compile time do not depend on T.
 *
 * Body values live in buffers that plan_memory added to the top graph's
 * table (TEMP for the scan's step). The kernels of the body are the ordinary
 * kernel emitters, each in a kernel function of its own (kernel_fn.c) that
 * the step calls with a per-thread copy of the buffer-pointer table in
 * which the entries of the body are repointed every step. How each input and
 * result moves per step (read or written in place, gathered, copied out,
 * swapped), which kernels and copies run by the unit split, which body
 * slices are pointers, where barriers go inside a step and whether the
 * step's opening barrier is split: all of it is the schedule pass's
 * (passes/schedule_scan.c, ir_sched); this file emits it.
 *
 * A scan with lengths (SPEC 11; ops.def: row b is active at step t iff
 * t < lengths[b]) checks them first (a data error names the row), then at
 * each step counts the active rows. None: the step runs no kernel and only
 * writes its emits' zeros (the steps past the longest row, forward; before
 * it, reverse). Some: the step's kernels run on the active rows when they are
 * rows 0..n-1 (a batch sorted by length, longest first: a finished row costs
 * nothing), else on every row; then, after a barrier, the inactive rows are
 * selected back (their emits 0, their state the initial one) and a forward
 * row at its last step leaves its final state. Copies select, never blend:
 * the kept rows are exactly what they were. The kernels see the prefix as
 * their batch: the batch symbol's value is the step's rows while they are
 * emitted (cg_ctx.varying_sym), which needs a body whose values hold the
 * batch dim first or not at all (prefix_rows).
 */
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

/* i64 to a pointer offset by `elems` elements of es bytes */
static LLVMValueRef offset(cg_ctx *c, LLVMValueRef p, LLVMValueRef elems, size_t es) {
  return LLVMBuildGEP2(c->b, c->i8, p,
                       (LLVMValueRef[]){LLVMBuildMul(c->b, elems, cg_i64(c, (int64_t)es), "")}, 1,
                       "");
}

/* slot of buffer b in the local table */
static LLVMValueRef slot(cg_ctx *c, LLVMValueRef table, int b) {
  return cg_gep(c, c->ptr, table, cg_i64(c, cg_buffer_slot(c, b)));
}
static LLVMValueRef load_slot(cg_ctx *c, LLVMValueRef table, int b) {
  LLVMValueRef p = LLVMBuildLoad2(c->b, c->ptr, slot(c, table, b), "");
  LLVMSetAlignment(p, 8);
  return p;
}
static void store_slot(cg_ctx *c, LLVMValueRef table, int b, LLVMValueRef p) {
  LLVMSetAlignment(LLVMBuildStore(c->b, p, slot(c, table, b)), 8);
}

/* how a body input or output is connected per step */
typedef struct port {
  int value;                  /* body value */
  int buf;                    /* its buffer */
  const ir_port_sched *sched; /* how it moves (the schedule's) */
  LLVMValueRef outer;         /* outer tensor's address */
  LLVMValueRef rows;          /* batch B */
  LLVMValueRef len;           /* elements per step per batch row */
  LLVMValueRef ostride;       /* outer elements per batch row */
  size_t es;                  /* element size */
} port;

static bool moves(const port *p, ir_port_move m) { return p->sched->move == m; }

/* everything one step's emission needs */
typedef struct scan {
  const ir_node *n;         /* the SCAN node */
  const ir_graph *g;        /* top graph */
  const ir_graph *body;     /* the body, seen with g's buffer table */
  int nover, nstate, nemit; /* interface counts */
  bool reverse;             /* t = steps-1 .. 0 */
  LLVMValueRef steps;       /* i64 number of steps */
  LLVMValueRef local;       /* the per-thread table of buffer pointers */
  port *in, *out;           /* per scan input / result */
  int *aliases, naliases;   /* body buffers that view others */
  LLVMValueRef *body_const; /* const globals of body values */
  LLVMValueRef *view_off;   /* by body node: element offset of a SLICE read in place, or NULL */
  int64_t unit_len;         /* the unit split's unit (cg_ctx): the first state's width, or 0 */
  LLVMValueRef lengths;     /* the lengths [B] (lengths=1), else NULL */
  LLVMTypeRef len_ty;       /* their element type, i32 or i64 */
  LLVMValueRef batch;       /* B, the number of lengths */
  int batch_sym;            /* B's symbol when a step may run on a prefix of the rows, or -1 */
  LLVMValueRef rows_now;    /* the rows this step's kernels run on (while emitted), or NULL */
} scan;

/* the rows a gather or copy of port p moves in this step */
static LLVMValueRef rows_of(const scan *S, const port *p) {
  return S->rows_now ? S->rows_now : p->rows;
}

/* ---- lengths ---- */

/* lengths[row] as i64 */
static LLVMValueRef length_at(cg_ctx *c, const scan *S, LLVMValueRef row) {
  LLVMValueRef v = LLVMBuildLoad2(c->b, S->len_ty, cg_gep(c, S->len_ty, S->lengths, row), "len");
  return S->len_ty == c->i64 ? v : LLVMBuildSExt(c->b, v, c->i64, "");
}

/* true when B (a lone symbol) is in the body's values (and its fused kernels')
 * only as their first dim, no port moves in place (batch 1), no slice is a
 * view and no scan is nested: then the step's first n rows are the rows
 * 0..n-1 of every value, and the kernels may run on them alone */
/* B is only the first dim of body's values, in fused bodies too; no views, no nested scan */
static bool batch_first_only(const ir_graph *body, ir_dim batch) {
  int bs = batch.sym[0];
  for (int k = 0; k < body->nnodes; k++) {
    const ir_node *m = &body->nodes[k];
    if (m->dead) continue;
    if (m->sched.view || m->op == IR_OP_SCAN) return false;
    if (m->body && !batch_first_only(m->body, batch)) return false; /* a fused kernel's */
  }
  for (int v = 0; v < body->nvalues; v++) {
    const ir_type *t = &body->values[v].type;
    for (int d = 0; d < t->rank; d++) {
      const ir_dim *x = &t->dims[d];
      bool has = x->sym[0] == bs || x->sym[1] == bs;
      if (has && (d > 0 || !ir_dim_eq(*x, batch))) return false;
    }
  }
  return true;
}

static bool prefix_rows(const ir_node *n, ir_dim batch) {
  if (batch.coef != 1 || batch.sym[0] < 0 || batch.sym[1] >= 0) return false;
  for (int k = 0; k < n->ninputs + n->noutputs; k++)
    if (n->sched.ports[k].move == IR_PORT_DIRECT) return false;
  return batch_first_only(n->body, batch);
}

/* the data check: every length in [1, T] (this thread's rows) */
static void check_lengths(cg_ctx *c, const scan *S, int buffer) {
  LLVMBuilderRef b = c->b;
  LLVMValueRef lo, hi;
  cg_split(c, S->batch, 1, &lo, &hi);
  cg_loop l;
  cg_loop_begin(c, &l, lo, hi, cg_i64(c, 1));
  LLVMValueRef len = length_at(c, S, l.i);
  cg_if f; /* unsigned: a length below 1 wraps above T */
  cg_if_begin(c, &f,
              LLVMBuildICmp(b, LLVMIntUGE, LLVMBuildSub(b, len, cg_i64(c, 1), ""), S->steps, ""));
  cg_fail_length(c, buffer, l.i, len, S->steps);
  cg_if_end(c, &f);
  cg_loop_end(c, &l);
}

/* the number of rows active at step tt, and whether a row stops being active
 * or (forward) finishes there: then the step needs the selection */
static void count_active(cg_ctx *c, const scan *S, LLVMValueRef tt, LLVMValueRef *active,
                         LLVMValueRef *select, LLVMValueRef *prefix) {
  LLVMBuilderRef b = c->b;
  LLVMValueRef na = cg_alloca(c, c->i64, "active"), fin = cg_alloca(c, c->i64, "finishing");
  LLVMValueRef lead = cg_alloca(c, c->i64, "leading"); /* active rows before the first not */
  LLVMBuildStore(b, cg_i64(c, 0), na);
  LLVMBuildStore(b, cg_i64(c, 0), fin);
  LLVMBuildStore(b, cg_i64(c, 0), lead);
  cg_loop l;
  cg_loop_begin(c, &l, cg_i64(c, 0), S->batch, cg_i64(c, 1));
  LLVMValueRef len = length_at(c, S, l.i);
  LLVMValueRef on1 = LLVMBuildICmp(b, LLVMIntSLT, tt, len, "");
  LLVMValueRef on = LLVMBuildZExt(b, on1, c->i64, "");
  LLVMBuildStore(b, LLVMBuildAdd(b, LLVMBuildLoad2(b, c->i64, na, ""), on, ""), na);
  LLVMValueRef ld = LLVMBuildLoad2(b, c->i64, lead, "");
  LLVMValueRef more = LLVMBuildAnd(b, on1, LLVMBuildICmp(b, LLVMIntEQ, ld, l.i, ""), "");
  LLVMBuildStore(b, LLVMBuildAdd(b, ld, LLVMBuildZExt(b, more, c->i64, ""), ""), lead);
  if (!S->reverse) {
    LLVMValueRef last = LLVMBuildICmp(b, LLVMIntEQ, tt, LLVMBuildSub(b, len, cg_i64(c, 1), ""), "");
    LLVMBuildStore(
        b,
        LLVMBuildOr(b, LLVMBuildLoad2(b, c->i64, fin, ""), LLVMBuildZExt(b, last, c->i64, ""), ""),
        fin);
  }
  cg_loop_end(c, &l);
  *active = LLVMBuildLoad2(b, c->i64, na, "");
  LLVMValueRef some_off = LLVMBuildICmp(b, LLVMIntSLT, *active, S->batch, "");
  LLVMValueRef any_fin =
      LLVMBuildICmp(b, LLVMIntNE, LLVMBuildLoad2(b, c->i64, fin, ""), cg_i64(c, 0), "");
  *select = LLVMBuildOr(b, some_off, any_fin, "");
  *prefix = LLVMBuildICmp(b, LLVMIntEQ, LLVMBuildLoad2(b, c->i64, lead, ""), *active, "");
}

/* zeros in emit e's row `row` at step tt */
static void zero_emit_row(cg_ctx *c, const scan *S, int e, LLVMValueRef row, LLVMValueRef tt) {
  LLVMBuilderRef b = c->b;
  const port *p = &S->out[e];
  LLVMValueRef at =
      LLVMBuildAdd(b, LLVMBuildMul(b, row, p->ostride, ""), LLVMBuildMul(b, tt, p->len, ""), "");
  LLVMBuildMemSet(b, offset(c, p->outer, at, p->es), LLVMConstInt(c->i8, 0, 0),
                  LLVMBuildMul(b, p->len, cg_i64(c, (int64_t)p->es), ""), 1);
}

/* row `row` of state s: its address in memory base, and its size in bytes */
static LLVMValueRef state_row(cg_ctx *c, const scan *S, int s, LLVMValueRef base, LLVMValueRef row,
                              LLVMValueRef *bytes) {
  const port *q = &S->in[S->nover + s];
  const ir_type *st = &S->body->values[q->value].type;
  LLVMValueRef len = cg_dims(c, st, 1, st->rank);
  *bytes = LLVMBuildMul(c->b, len, cg_i64(c, (int64_t)q->es), "");
  return offset(c, base, LLVMBuildMul(c->b, row, len, ""), q->es);
}

/* a step with no active row: only its emits' zeros (this thread's rows) */
static void idle_step(cg_ctx *c, const scan *S, LLVMValueRef tt) {
  LLVMValueRef lo, hi;
  cg_split(c, S->batch, 1, &lo, &hi);
  cg_loop l;
  cg_loop_begin(c, &l, lo, hi, cg_i64(c, 1));
  for (int e = 0; e < S->nemit; e++) zero_emit_row(c, S, e, l.i, tt);
  cg_loop_end(c, &l);
}

/* after a step that ran every row: the inactive rows selected back (emits
 * 0, state the initial one), a forward row at its last step its final state */
static void select_rows(cg_ctx *c, const scan *S, LLVMValueRef tt) {
  LLVMBuilderRef b = c->b;
  cg_barrier(c); /* the step's kernels, copies and swaps are done everywhere */
  LLVMValueRef lo, hi;
  cg_split(c, S->batch, 1, &lo, &hi);
  cg_loop l;
  cg_loop_begin(c, &l, lo, hi, cg_i64(c, 1));
  LLVMValueRef len = length_at(c, S, l.i);
  cg_if off;
  cg_if_begin(c, &off, LLVMBuildICmp(b, LLVMIntSGE, tt, len, ""));
  for (int e = 0; e < S->nemit; e++) zero_emit_row(c, S, e, l.i, tt);
  for (int s = 0; s < S->nstate; s++) {
    const port *q = &S->in[S->nover + s];
    LLVMValueRef bytes;
    LLVMValueRef dst = state_row(c, S, s, load_slot(c, S->local, q->buf), l.i, &bytes);
    LLVMValueRef src = state_row(c, S, s, q->outer, l.i, &bytes);
    LLVMBuildMemCpy(b, dst, 1, src, 1, bytes);
  }
  if (!S->reverse) {
    cg_if_else(c, &off);
    cg_if last;
    cg_if_begin(c, &last,
                LLVMBuildICmp(b, LLVMIntEQ, tt, LLVMBuildSub(b, len, cg_i64(c, 1), ""), ""));
    for (int s = 0; s < S->nstate; s++) {
      const port *q = &S->in[S->nover + s];
      LLVMValueRef bytes;
      LLVMValueRef dst = state_row(c, S, s, S->out[S->nemit + s].outer, l.i, &bytes);
      LLVMValueRef src = state_row(c, S, s, load_slot(c, S->local, q->buf), l.i, &bytes);
      LLVMBuildMemCpy(b, dst, 1, src, 1, bytes);
    }
    cg_if_end(c, &last);
  }
  cg_if_end(c, &off);
  cg_loop_end(c, &l);
}

/* true when body node k is a kernel of its own: emit_step emits it */
static bool is_kernel(const scan *S, int k) {
  const ir_node *m = &S->body->nodes[k];
  return !m->dead && !m->sched.view && !ir_node_is_view(S->body, m);
}

/* the row length of port p copied by the unit split ([B, len], len known) */
static int64_t unit_row(cg_ctx *c, const scan *S, const port *p) {
  const ir_type *t = &S->body->values[p->value].type;
  int64_t len = 0;
  IR_ASSERT(p->sched->unit == S->unit_len && t->rank == 2 && cg_dim_known(c, t->dims[1], &len));
  return len;
}

/* the step's gathers of over inputs not read in place (by the unit split
 * where the schedule says: each thread copies the columns its unit
 * kernels read) */
static void step_gather(cg_ctx *c, scan *S, LLVMValueRef tt) {
  for (int k = 0; k < S->nover; k++) {
    port *p = &S->in[k];
    if (!moves(p, IR_PORT_COPY)) continue;
    if (p->sched->barrier) cg_barrier(c);
    LLVMValueRef src = offset(c, p->outer, LLVMBuildMul(c->b, tt, p->len, ""), p->es);
    LLVMValueRef dst = load_slot(c, S->local, p->buf);
    if (p->sched->unit)
      cg_copy_unit_rows(c, (int64_t)p->es, dst, p->len, src, p->ostride, rows_of(S, p),
                        unit_row(c, S, p));
    else
      cg_copy_rows(c, (int64_t)p->es, dst, p->len, src, p->ostride, rows_of(S, p), p->len);
  }
}

/* emits not written in place (by the unit split where the schedule says,
 * as step_gather), and states not swapped, leave by copy */
static void step_copies_out(cg_ctx *c, scan *S, LLVMValueRef tt) {
  for (int e = 0; e < S->n->noutputs && !c->failed; e++) {
    port *p = &S->out[e];
    if (!moves(p, IR_PORT_COPY)) continue;
    if (p->sched->barrier) cg_barrier(c);
    if (e < S->nemit) {
      LLVMValueRef dst = offset(c, p->outer, LLVMBuildMul(c->b, tt, p->len, ""), p->es);
      LLVMValueRef src = cg_value_ptr(c, p->value);
      if (p->sched->unit)
        cg_copy_unit_rows(c, (int64_t)p->es, dst, p->ostride, src, p->len, rows_of(S, p),
                          unit_row(c, S, p));
      else
        cg_copy_rows(c, (int64_t)p->es, dst, p->ostride, src, p->len, rows_of(S, p), p->len);
    } else {
      port *q = &S->in[S->nover + e - S->nemit];
      const ir_type *st = &S->body->values[q->value].type;
      LLVMValueRef total = cg_dims(c, st, 0, st->rank);
      cg_copy_rows(c, (int64_t)p->es, load_slot(c, S->local, q->buf), total,
                   cg_value_ptr(c, p->value), total, cg_i64(c, 1), total);
    }
  }
}

/*
 * The over inputs' rows of this step at this thread's units, fetched while
 * the step's matmul runs: the input projection before the scan wrote them
 * long ago (by the unit split, cg_feeds_scan_unit, or else by rows, half of
 * them in another core's cache), and the weights' stream has pushed them out.
 */
static void prefetch_overs(cg_ctx *c, scan *S) {
  LLVMBuilderRef b = c->b;
  for (int k = 0; k < S->nover; k++) {
    port *p = &S->in[k];
    const ir_type *t = &S->body->values[p->value].type;
    int64_t w;
    if (!moves(p, IR_PORT_DIRECT) || t->rank != 2 || p->es != 4 || !cg_dim_known(c, t->dims[1], &w) ||
        w % S->unit_len)
      continue;
    LLVMValueRef base = load_slot(c, S->local, p->buf);
    for (int64_t u = 0; u < w; u += S->unit_len) {
      cg_loop l;
      cg_loop_begin(c, &l, LLVMBuildAdd(b, cg_i64(c, u), c->unit_lo, ""),
                    LLVMBuildAdd(b, cg_i64(c, u), c->unit_hi, ""), cg_i64(c, 16));
      LLVMValueRef args[4] = {offset(c, base, l.i, 4), cg_i32(c, 0), cg_i32(c, 2), cg_i32(c, 1)};
      cg_intrinsic(c, "llvm.prefetch", &c->ptr, 1, args, 4);
      cg_loop_end(c, &l);
    }
  }
}

/* body kernel m in its kernel function, which finds this thread's hidden
 * units itself (the caller's are its own values) */
static void emit_step_kernel(cg_ctx *c, const ir_node *m, const ir_node *partner) {
  (void)partner;
  if (c->unit_len > 0) cg_split(c, cg_i64(c, c->unit_len), c->vw, &c->unit_lo, &c->unit_hi);
  cg_emit_kernel(c, m);
}

/*
 * One step at loop index i (the step's own index is i, or steps-1-i
 * reversed). `open`: a barrier first, so that the previous step is done
 * everywhere (split when the schedule says: the step arrives here and the
 * kernel with sched.wait waits); the second scan of a pair shares the first
 * one's.
 */
static void emit_step(cg_ctx *c, scan *S, LLVMValueRef i, bool open) {
  LLVMBuilderRef b = c->b;
  const ir_graph *g = S->g, *body = S->body;
  LLVMValueRef local = S->local;
  port *in = S->in, *out = S->out;
  int nover = S->nover, nstate = S->nstate, nemit = S->nemit;
  LLVMValueRef tt =
      S->reverse ? LLVMBuildSub(b, LLVMBuildSub(b, S->steps, cg_i64(c, 1), ""), i, "") : i;
  /* pointers of this step */
  for (int k = 0; k < nover; k++)
    if (moves(&in[k], IR_PORT_DIRECT))
      store_slot(c, local, in[k].buf,
                 offset(c, in[k].outer, LLVMBuildMul(b, tt, in[k].len, ""), in[k].es));
  for (int e = 0; e < nemit; e++)
    if (moves(&out[e], IR_PORT_DIRECT))
      store_slot(c, local, out[e].buf,
                 offset(c, out[e].outer, LLVMBuildMul(b, tt, out[e].len, ""), out[e].es));
  for (int k = 0; k < S->naliases; k++)
    store_slot(c, local, S->aliases[k], load_slot(c, local, ir_buffer_root(g, S->aliases[k])));
  bool split = open && S->n->sched.wait;
  if (split)
    cg_arrive(c); /* this thread is done with the previous step; a kernel waits */
  else if (open)
    cg_barrier(c); /* the previous step (or the setup) is done everywhere */
  LLVMValueRef active = NULL, select = NULL, prefix = NULL;
  cg_if any;
  LLVMValueRef saved_batch = NULL;
  int saved_varying = c->varying_sym;
  if (S->lengths) { /* the same counts on every thread: every branch below is taken by all */
    count_active(c, S, tt, &active, &select, &prefix);
    cg_if_begin(c, &any, LLVMBuildICmp(b, LLVMIntSGT, active, cg_i64(c, 0), ""));
    if (S->batch_sym >= 0) { /* the kernels' batch: the active prefix, or every row */
      S->rows_now = LLVMBuildSelect(b, prefix, active, S->batch, "rows");
      saved_batch = c->sym_val[S->batch_sym];
      c->sym_val[S->batch_sym] = S->rows_now;
      c->varying_sym = S->batch_sym + 1;
    }
  }

  /* the body's kernels (and the gathers), this thread's hidden units by the unit split */
  int64_t saved_unit = c->unit_len;
  LLVMValueRef saved_lo = c->unit_lo, saved_hi = c->unit_hi;
  c->unit_len = S->unit_len;
  if (S->unit_len > 0) cg_split(c, cg_i64(c, S->unit_len), c->vw, &c->unit_lo, &c->unit_hi);
  step_gather(c, S, tt);
  if (S->unit_len > 0) prefetch_overs(c, S);
  LLVMValueRef saved_bufs = c->bufs;
  LLVMValueRef *saved_const = c->const_global;
  c->g = body;
  c->bufs = local;
  c->const_global = S->body_const;
  for (int k = 0; k < body->nnodes && !c->failed; k++) {
    const ir_node *m = &body->nodes[k];
    if (S->view_off[k]) { /* a contiguous slice: a pointer into its input, no kernel */
      int ib = body->values[m->inputs[0]].buffer, ob = body->values[m->outputs[0]].buffer;
      const ir_type *it = &body->values[m->inputs[0]].type;
      store_slot(c, local, ob,
                 offset(c, load_slot(c, local, ib), S->view_off[k], ir_dtype_size(it->dtype)));
      for (int a = 0; a < S->naliases; a++)
        if (ir_buffer_root(g, S->aliases[a]) == ob)
          store_slot(c, local, S->aliases[a], load_slot(c, local, ob));
      continue;
    }
    if (!is_kernel(S, k)) continue;
    if (m->sched.barrier) cg_barrier(c);
    c->step_wait = split && m->sched.wait;
    cg_kernel_call(c, m, NULL, emit_step_kernel);
    c->step_wait = false;
  }

  step_copies_out(c, S, tt);
  if (saved_batch) {
    c->sym_val[S->batch_sym] = saved_batch;
    c->varying_sym = saved_varying;
    S->rows_now = NULL;
  }
  c->g = g;
  c->bufs = saved_bufs;
  c->const_global = saved_const;
  c->unit_len = saved_unit;
  c->unit_lo = saved_lo, c->unit_hi = saved_hi;
  /* swap: the next state becomes the state, its old memory the next state's */
  for (int s = 0; s < nstate; s++) {
    port *p = &out[nemit + s];
    port *q = &in[nover + s];
    if (moves(p, IR_PORT_CHAIN)) { /* the next step reads the state where this step emitted it */
      store_slot(c, local, q->buf, load_slot(c, local, p->buf));
      continue;
    }
    if (!moves(p, IR_PORT_SWAP)) continue;
    LLVMValueRef a = load_slot(c, local, q->buf), z = load_slot(c, local, p->buf);
    store_slot(c, local, q->buf, z);
    store_slot(c, local, p->buf, a);
  }
  if (S->lengths) {
    cg_if sel;
    cg_if_begin(c, &sel, select);
    select_rows(c, S, tt);
    cg_if_end(c, &sel);
    cg_if_else(c, &any);
    idle_step(c, S, tt);
    cg_if_end(c, &any);
  }
}

/* the element offsets of the body slices the schedule made pointers into
 * their inputs (sched.view: contiguous, every dim before the sliced one 1) */
static void find_slice_views(cg_ctx *c, scan *S) {
  const ir_graph *body = S->body;
  for (int k = 0; k < body->nnodes; k++) {
    const ir_node *m = &body->nodes[k];
    if (m->dead || !m->sched.view) continue;
    const ir_type *it = &body->values[m->inputs[0]].type;
    int64_t d = ir_attr_int(m, "dim"), start = ir_attr_int(m, "start");
    if (d < 0) d += it->rank;
    if (start < 0) { /* from the end: the schedule saw the dim's size known */
      int64_t size;
      IR_ASSERT(cg_dim_known(c, it->dims[d], &size));
      start = start + size < 0 ? 0 : start + size;
    }
    S->view_off[k] = LLVMBuildMul(c->b, cg_i64(c, start), cg_dims(c, it, (int)d + 1, it->rank), "");
  }
}

/*
 * Everything before the loop: the ports, the per-thread pointer table, the
 * initial states copied in. `view` receives the body seen with the top
 * graph's buffer table (emitters look buffers up in c->g). False after
 * cg_fail.
 */
static bool scan_open(cg_ctx *c, const ir_node *n, ir_graph *view, scan *out_scan) {
  const ir_graph *g = c->g;
  const ir_graph *body0 = n->body;
  LLVMBuilderRef b = c->b;
  int nover = (int)ir_attr_int(n, "nover"), nstate = (int)ir_attr_int(n, "nstate");
  int64_t chunk = ir_attr_int(n, "chunk");
  if (chunk < 1) chunk = 1;
  int nemit = n->noutputs - nstate;
  if (body0->ninputs != n->ninputs || body0->noutputs != nemit + nstate || nemit < 0 ||
      !n->sched.ports) {
    cg_fail(c, "codegen: scan '%s' does not match its body", n->name);
    return false;
  }
  if (nover == 0 && nemit == 0) {
    cg_fail(c, "codegen: scan '%s' has neither over inputs nor emits: no length", n->name);
    return false;
  }
  if (nover > 0) { /* a length left symbolic may not be a multiple of chunk */
    const ir_value *x = &g->values[n->inputs[0]];
    cg_check_chunk(c, x->buffer, x->type.dims[1], chunk);
  }
  for (int k = 0; k < n->ninputs + n->noutputs; k++) { /* in place: one row per step */
    const ir_port_sched *ps = &n->sched.ports[k];
    const ir_value *v = &g->values[k < n->ninputs ? n->inputs[k] : n->outputs[k - n->ninputs]];
    int64_t rows;
    if (ps->move == IR_PORT_DIRECT && !(cg_dim_known(c, v->type.dims[0], &rows) && rows == 1)) {
      cg_fail(c, "codegen: scan '%s' was scheduled for batch 1, the binding says otherwise",
              n->name);
      return false;
    }
  }
  *view = *body0;
  view->buffers = g->buffers;
  view->nbuffers = g->nbuffers;
  const ir_graph *body = view;

  scan *S = out_scan;
  *S = (scan){.batch_sym = -1,
              .n = n,
              .g = g,
              .body = body,
              .nover = nover,
              .nstate = nstate,
              .nemit = nemit,
              .reverse = ir_attr_int(n, "reverse") != 0};
  const ir_type *lt = nover ? &g->values[n->inputs[0]].type : &g->values[n->outputs[0]].type;
  LLVMValueRef T = cg_dim(c, lt->dims[1]);
  S->steps = LLVMBuildSDiv(b, T, cg_i64(c, chunk), "steps");

  /* the per-thread table of buffer pointers, a copy of bufs (of the kernel
   * function's slots: what the scan uses) */
  LLVMTypeRef tab_ty = LLVMArrayType(c->ptr, (unsigned)(g->nbuffers > 0 ? g->nbuffers : 1));
  LLVMValueRef local = S->local = cg_alloca(c, tab_ty, "scan_bufs");
  if (c->ids)
    cg_fill_table(c, local);
  else
    LLVMBuildMemCpy(b, local, 8, c->bufs, 8, cg_i64(c, (int64_t)g->nbuffers * 8));

  port *in = S->in = calloc((size_t)n->ninputs + 1, sizeof *in);
  port *out = S->out = calloc((size_t)n->noutputs + 1, sizeof *out);
  IR_ASSERT(in && out);
  for (int k = 0; k < n->ninputs; k++) {
    port *p = &in[k];
    p->value = body->inputs[k];
    p->sched = &n->sched.ports[k];
    p->buf = body->values[p->value].buffer;
    IR_ASSERT(p->buf >= 0);
    p->outer = cg_value_ptr(c, n->inputs[k]);
    const ir_type *t = &g->values[n->inputs[k]].type;
    p->es = ir_dtype_size(t->dtype);
    if (k < nover) {
      p->rows = cg_dim(c, t->dims[0]);
      p->len = LLVMBuildMul(b, cg_i64(c, chunk), cg_dims(c, t, 2, t->rank), "");
      p->ostride = cg_dims(c, t, 1, t->rank);
    } else if (k >= nover + nstate) {
      store_slot(c, local, p->buf, p->outer); /* captures: read in place */
    }
  }
  for (int e = 0; e < n->noutputs; e++) {
    port *p = &out[e];
    p->value = body->outputs[e].value;
    p->sched = &n->sched.ports[n->ninputs + e];
    p->buf = body->values[p->value].buffer;
    p->outer = cg_value_ptr(c, n->outputs[e]);
    const ir_type *t = &g->values[n->outputs[e]].type;
    p->es = ir_dtype_size(t->dtype);
    if (e < nemit) {
      const ir_type *bt = &body->values[p->value].type;
      p->rows = cg_dim(c, t->dims[0]);
      p->len = cg_dims(c, bt, 1, bt->rank);
      p->ostride = cg_dims(c, t, 1, t->rank);
    }
  }

  /* initial states into the state buffers */
  for (int s = 0; s < nstate; s++) {
    port *p = &in[nover + s];
    const ir_type *t = &g->values[n->inputs[nover + s]].type;
    LLVMValueRef total = cg_dims(c, t, 0, t->rank);
    cg_copy_rows(c, (int64_t)p->es, load_slot(c, local, p->buf), total, p->outer, total,
                 cg_i64(c, 1), total);
  }

  /* body buffers that alias others: repointed whenever their roots move */
  S->aliases = calloc((size_t)g->nbuffers + 1, sizeof *S->aliases);
  IR_ASSERT(S->aliases);
  for (int i = 0; i < g->nbuffers; i++)
    if (g->buffers[i].graph == body0 && g->buffers[i].role == SEQRT_ROLE_ALIAS)
      S->aliases[S->naliases++] = i;
  S->body_const = calloc((size_t)body->nvalues + 1, sizeof *S->body_const);
  S->view_off = calloc((size_t)body->nnodes + 1, sizeof *S->view_off);
  IR_ASSERT(S->body_const && S->view_off);
  S->unit_len = n->sched.unit;
  find_slice_views(c, S);
  const ir_attr *la = ir_get_attr(n, "lengths");
  if (la && la->i) {
    if (chunk != 1 || n->sched.wait || nover + nstate >= n->ninputs) {
      cg_fail(c, "codegen: scan '%s' has lengths but chunk %lld or a split step", n->name,
              (long long)chunk);
      return false;
    }
    const ir_value *lv = &g->values[n->inputs[nover + nstate]];
    S->lengths = in[nover + nstate].outer;
    S->len_ty = cg_elem_type(c, lv->type.dtype);
    S->batch = cg_dim(c, lv->type.dims[0]);
    S->batch_sym = prefix_rows(n, lv->type.dims[0]) ? lv->type.dims[0].sym[0] : -1;
    check_lengths(c, S, lv->buffer);
  }
  return true;
}

/*
 * The loop: step i of every scan of S[0..ns) under one barrier, `unroll`
 * (of the first) steps per iteration. The steps of an iteration past the
 * last step are skipped by a test (every thread takes the same branch), so
 * the body's code exists `unroll` times, not once more for a remainder
 * loop: compile time is a scan's largest part in a recurrent model. Each
 * step is inside the test of the one before, which its code may follow. The
 * scans run the same steps and do not read each other (pair_scans).
 */
static void scan_loop(cg_ctx *c, scan *S, int ns) {
  LLVMBuilderRef b = c->b;
  const ir_attr *ua = ir_get_attr(S[0].n, "unroll");
  int64_t unroll = ua && ua->i > 1 ? ua->i : 1;
  LLVMValueRef steps = S[0].steps;
  /* a split step reads its own part of the state before waiting: the
   * initial states must be in everywhere first */
  if (S[0].n->sched.wait) cg_barrier(c);
  cg_loop l;
  cg_loop_begin(c, &l, cg_i64(c, 0), steps, cg_i64(c, unroll));
  cg_if more[64];
  IR_ASSERT(unroll <= 64);
  for (int64_t u = 0; u < unroll && !c->failed; u++) {
    LLVMValueRef i = LLVMBuildAdd(b, l.i, cg_i64(c, u), "");
    if (u > 0) cg_if_begin(c, &more[u], LLVMBuildICmp(b, LLVMIntSLT, i, steps, ""));
    for (int k = 0; k < ns; k++) emit_step(c, &S[k], i, k == 0);
  }
  for (int64_t u = unroll - 1; u > 0 && !c->failed; u--) cg_if_end(c, &more[u]);
  cg_loop_end(c, &l);
}

/* after the loop: the final states out, and the scan's memory freed */
static void scan_close(cg_ctx *c, scan *S) {
  const ir_graph *g = S->g;
  const ir_node *n = S->n;
  int nover = S->nover, nstate = S->nstate, nemit = S->nemit;
  port *in = S->in, *out = S->out;
  LLVMValueRef local = S->local;
  /* final states (forward with lengths: taken at each row's last step) */
  cg_barrier(c);
  for (int s = 0; s < nstate && !(S->lengths && !S->reverse); s++) {
    port *q = &in[nover + s];
    const ir_type *st = &g->values[n->outputs[nemit + s]].type;
    LLVMValueRef total = cg_dims(c, st, 0, st->rank);
    cg_copy_rows(c, (int64_t)q->es, out[nemit + s].outer, total, load_slot(c, local, q->buf), total,
                 cg_i64(c, 1), total);
  }
  cg_barrier(c);

  free(S->body_const);
  free(S->view_off);
  free(S->aliases);
  free(in);
  free(out);
}

void cg_emit_scan(cg_ctx *c, const ir_node *n) {
  ir_graph view;
  scan S;
  if (!scan_open(c, n, &view, &S)) return;
  scan_loop(c, &S, 1);
  scan_close(c, &S);
}

void cg_emit_scan_pair(cg_ctx *c, const ir_node *a, const ir_node *b) {
  ir_graph view[2];
  scan S[2];
  if (!scan_open(c, a, &view[0], &S[0])) return;
  if (!scan_open(c, b, &view[1], &S[1])) {
    scan_close(c, &S[0]);
    return;
  }
  scan_loop(c, S, 2);
  scan_close(c, &S[0]);
  scan_close(c, &S[1]);
}
