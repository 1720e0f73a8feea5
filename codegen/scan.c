/*
 * scan.c: the SCAN loop. The body is emitted once, inside a real loop over
 * the steps, so code size and compile time do not depend on T.
 *
 * Body values live in buffers that plan_memory added to the top graph's
 * table (TEMP for the scan's step). The kernels of the body are the ordinary
 * kernel emitters, run with a per-thread copy of the buffer-pointer table in
 * which the entries of the body are repointed every step:
 * - an over input is read in place (its step's slice is contiguous when the
 *   batch is 1) or copied into its buffer at the top of the step;
 * - an emit is written in place into its step's slot of the stacked result
 *   (batch 1), or copied there at the end of the step;
 * - a state is double-buffered: the next state's buffer and the state's
 *   buffer swap pointers after each step (or the next state is copied over
 *   when it is not a kernel's own result).
 * Every thread takes its share of each kernel by ith/nth; a barrier opens
 * each step (split around the first kernel when it can sum its own part of
 * the state first: step_split) and goes between two kernels of a step only
 * when the second touches what the first wrote (or writes what it read).
 */
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

/* vectors a unit needs before the kernels that feed a scan take its split
 * (cg_feeds_scan_unit): below it a thread's window is too narrow to share */
#define UNIT_SPLIT_MIN 4

/*
 * What the kernels since the last barrier touched, by root buffer: 0 not,
 * UNIT only at this thread's columns of the unit split (see cg_ctx), FULL
 * anywhere. A UNIT read of what a UNIT kernel wrote is this thread's own
 * data: no barrier between them.
 */
enum { UNTOUCHED, UNIT, FULL };
typedef struct track {
  unsigned char *read, *written; /* by root buffer of the top graph's table */
  int n;                         /* table size */
  int *viewof;                   /* by buffer: the root of the memory a slice view points into, or -1 */
  bool *aligned;                 /* by buffer: a slice view whose offset is a multiple of the unit */
  bool dry;     /* tracking only (step_accesses): barriers are counted, not emitted */
  int barriers; /* barriers tracking asked for since the step began */
} track;

/* the memory buffer b stands for: its root, or what a slice view points into */
static int key(const ir_graph *g, const track *t, int b) {
  int r = ir_buffer_root(g, b);
  if (r >= 0 && t->viewof[r] >= 0) r = t->viewof[r];
  return r;
}

static void track_clear(track *t) {
  memset(t->read, 0, (size_t)t->n + 1);
  memset(t->written, 0, (size_t)t->n + 1);
}

/* a barrier: every thread is done with what was tracked */
static void track_barrier(cg_ctx *c, track *t) {
  if (!t->dry) cg_barrier(c);
  t->barriers++;
  track_clear(t);
}

/* an access of `mode` to a buffer last touched as `was` needs the other threads done */
static bool conflicts(unsigned char was, unsigned char mode) {
  return was != UNTOUCHED && (was == FULL || mode == FULL);
}

/*
 * Barrier first if an access of buffers rd (read, modes rm) / wr (written,
 * modes wm) conflicts with what was touched since the last one.
 */
static void track_access(cg_ctx *c, track *t, const int *rd, const unsigned char *rm, int nrd,
                         const int *wr, const unsigned char *wm, int nwr) {
  bool need = false;
  for (int i = 0; i < nrd; i++) need |= rd[i] >= 0 && conflicts(t->written[rd[i]], rm[i]);
  for (int i = 0; i < nwr; i++)
    need |= wr[i] >= 0 && (conflicts(t->read[wr[i]], wm[i]) || conflicts(t->written[wr[i]], wm[i]));
  if (need) track_barrier(c, t);
  for (int i = 0; i < nrd; i++)
    if (rd[i] >= 0 && t->read[rd[i]] < rm[i]) t->read[rd[i]] = rm[i];
  for (int i = 0; i < nwr; i++)
    if (wr[i] >= 0 && t->written[wr[i]] < wm[i]) t->written[wr[i]] = wm[i];
}

/* a copy's access of one read and one written buffer, both in `mode` */
static void track_copy(cg_ctx *c, track *t, int rd, int wr, unsigned char mode) {
  track_access(c, t, &rd, &mode, rd >= 0 ? 1 : 0, &wr, &mode, wr >= 0 ? 1 : 0);
}

bool cg_dim_known(const cg_ctx *c, ir_dim d, int64_t *v) {
  if (ir_dim_is_const(d)) return *v = d.coef, true;
  if (!c->bind_syms) return false;
  *v = ir_dim_eval(d, c->bind_syms);
  return *v >= 0;
}

/* true when m is a matmul, or fused around one */
static bool has_matmul(const ir_node *m) {
  if (m->op == IR_OP_MATMUL) return true;
  if (m->op != IR_OP_FUSED) return false;
  for (int i = 0; i < m->body->nnodes; i++)
    if (!m->body->nodes[i].dead && m->body->nodes[i].op == IR_OP_MATMUL) return true;
  return false;
}

bool cg_unit_kernel(const cg_ctx *c, const ir_node *n) {
  if (c->unit_len <= 0 || n->noutputs != 1 || n->ninputs < 1) return false;
  const ir_type *ot = &c->g->values[n->outputs[0]].type;
  int64_t N;
  if (ot->rank < 1 || !cg_dim_known(c, ot->dims[ot->rank - 1], &N) || N % c->unit_len) return false;
  switch (n->op) {
#define ELEM(id, formula) case IR_OP_##id:
#include "ops.def"
      return true;
    case IR_OP_SLICE: {
      /* of the last dim, from a multiple of the unit: a thread's columns
       * of the result are its columns of the input (a step's gates) */
      const ir_type *it = &c->g->values[n->inputs[0]].type;
      int64_t d = ir_attr_int(n, "dim"), start = ir_attr_int(n, "start");
      return (d == -1 || d == it->rank - 1) && start >= 0 && start % c->unit_len == 0;
    }
    case IR_OP_MATMUL:
    case IR_OP_FUSED:
      /* a matmul by one matrix (matmul.c's one big GEMM), whose columns are
       * the result's: a window of them is a window of the result */
      if (!has_matmul(n)) return true;
      return n->ninputs >= 2 && c->g->values[n->inputs[0]].type.rank >= 2 &&
             c->g->values[n->inputs[1]].type.rank == 2;
    case IR_OP_SOFTMAX: /* rows, movement and the rest: their threads split otherwise */
    case IR_OP_LAYER_NORM:
    case IR_OP_RMS_NORM:
    case IR_OP_MEAN:
    case IR_OP_CONCAT:
    case IR_OP_SELECT:
    case IR_OP_TRANSPOSE:
    case IR_OP_RESHAPE:
    case IR_OP_EMBEDDING:
    case IR_OP_POSITIONAL_ENCODING:
    case IR_OP_ATTENTION:
    case IR_OP_CONV1D:
    case IR_OP_FILL:
    case IR_OP_SCAN:
    case IR_OP_LINEAR:
    case IR_OP_DROPOUT:
    case IR_OP_RNN:
    case IR_OP_LSTM:
    case IR_OP_GRU:
    case IR_OP_COUNT:
      return false;
  }
  IR_ASSERT(!"cg_unit_kernel: op");
}

/*
 * Input j of unit kernel m is read only at this thread's columns: it is not
 * a matmul operand (those read whole rows), its last dim is the result's
 * (broadcast along the others is fine: the column decides the owner) or m
 * is a unit slice of it, and it is its buffer's own memory or a slice view
 * at a multiple of the unit.
 */
static bool aligned_input(const cg_ctx *c, const track *t, const ir_graph *g, const ir_node *m,
                          int j) {
  if (j < 2 && has_matmul(m)) return false;
  const ir_value *v = &g->values[m->inputs[j]];
  const ir_type *it = &v->type, *ot = &g->values[m->outputs[0]].type;
  int64_t a, b;
  /* a unit slice reads its input's columns at the same offsets in the unit */
  if (m->op != IR_OP_SLICE &&
      (it->rank < 1 || it->rank > ot->rank || !cg_dim_known(c, it->dims[it->rank - 1], &a) ||
       !cg_dim_known(c, ot->dims[ot->rank - 1], &b) || a != b))
    return false;
  int buf = v->buffer;
  if (buf < 0) return true; /* a constant: never written */
  if (g->buffers[buf].role == SEQRT_ROLE_ALIAS) return false;
  return t->viewof[buf] < 0 || t->aligned[buf];
}

/* a body kernel's accesses, by root buffer */
static void track_node(cg_ctx *c, track *t, const ir_graph *g, const ir_node *m) {
  int rd[64], wr[64], nrd = 0, nwr = 0;
  unsigned char rm[64], wm[64];
  bool unit = cg_unit_kernel(c, m);
  for (int j = 0; j < m->ninputs && nrd < 64; j++) {
    rm[nrd] = unit && aligned_input(c, t, g, m, j) ? UNIT : FULL;
    rd[nrd++] = key(g, t, g->values[m->inputs[j]].buffer);
  }
  for (int j = 0; j < m->noutputs && nwr < 64; j++) {
    wm[nwr] = unit ? UNIT : FULL;
    wr[nwr++] = key(g, t, g->values[m->outputs[j]].buffer);
  }
  if (m->ninputs > 64 || m->noutputs > 64) track_barrier(c, t); /* too many to track: be safe */
  track_access(c, t, rd, rm, nrd, wr, wm, nwr);
}

/* i64 to a pointer offset by `elems` elements of es bytes */
static LLVMValueRef offset(cg_ctx *c, LLVMValueRef p, LLVMValueRef elems, size_t es) {
  return LLVMBuildGEP2(c->b, c->i8, p,
                       (LLVMValueRef[]){LLVMBuildMul(c->b, elems, cg_i64(c, (int64_t)es), "")}, 1,
                       "");
}

/* true when dim d is 1 under the compile-time binding */
static bool is_one(cg_ctx *c, ir_dim d) {
  if (ir_dim_is_const(d)) return d.coef == 1;
  return c->bind_syms && ir_dim_eval(d, c->bind_syms) == 1;
}

/* slot of buffer b in the local table */
static LLVMValueRef slot(cg_ctx *c, LLVMValueRef table, int b) {
  return cg_gep(c, c->ptr, table, cg_i64(c, b));
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
  int value;            /* body value */
  int buf;              /* its buffer */
  bool direct;          /* over/emit: pointer into the outer tensor, no copy */
  bool swap;            /* state: double-buffered by pointer swap */
  bool chain;           /* state: also a direct emit; the next step reads that slot in place */
  LLVMValueRef outer;   /* outer tensor's address */
  LLVMValueRef rows;    /* batch B */
  LLVMValueRef len;     /* elements per step per batch row */
  LLVMValueRef ostride; /* outer elements per batch row */
  size_t es;            /* element size */
} port;

/* number of times value v is a body output */
static int out_count(const ir_graph *body, int v) {
  int k = 0;
  for (int i = 0; i < body->noutputs; i++) k += body->outputs[i].value == v;
  return k;
}

/* true if v is a kernel result with memory of its own (not a view, input or const) */
static bool own_result(const ir_graph *g, const ir_graph *body, int v) {
  const ir_value *val = &body->values[v];
  if (val->kind != IR_VAL_NODE || val->buffer < 0) return false;
  return g->buffers[val->buffer].role == SEQRT_ROLE_TEMP;
}

/* everything one step's emission needs */
typedef struct scan {
  const ir_node *n;         /* the SCAN node */
  const ir_graph *g;        /* top graph */
  const ir_graph *body;     /* the body, seen with g's buffer table */
  const ir_graph *body0;    /* the body itself (buffers name it) */
  int nover, nstate, nemit; /* interface counts */
  bool reverse;             /* t = steps-1 .. 0 */
  LLVMValueRef steps;       /* i64 number of steps */
  LLVMValueRef local;       /* the per-thread table of buffer pointers */
  port *in, *out;           /* per scan input / result */
  int *aliases, naliases;   /* body buffers that view others */
  track t;                  /* barrier tracking */
  LLVMValueRef *body_const; /* const globals of body values */
  LLVMValueRef *view_off;   /* by body node: element offset of a SLICE read in place, or NULL */
  int64_t unit_len;         /* the unit split's unit (cg_ctx): the first state's width, or 0 */
  int split;                /* body node that waits inside (step_split), or -1: a plain barrier */
} scan;

/* true when body node k is a kernel of its own: emit_step emits and tracks it */
static bool is_kernel(const scan *S, int k) {
  const ir_node *m = &S->body->nodes[k];
  if (m->dead || S->view_off[k]) return false;
  if (ir_ops[m->op].traits & IR_T_VIEW) {
    int vb = S->body->values[m->outputs[0]].buffer;
    if (vb < 0 || S->g->buffers[vb].role == SEQRT_ROLE_ALIAS) return false;
  }
  return true;
}

/* state s is neither swapped nor read where it was emitted, nor unchanged: copied */
static bool state_copied(const scan *S, int s) {
  const port *p = &S->out[S->nemit + s], *q = &S->in[S->nover + s];
  return !(p->swap || p->chain || p->value == q->value);
}

/*
 * The row length of port p, when its rows are copied by the unit split: a
 * [B, len] value, len a multiple of the unit, whose memory is its buffer's
 * own or a view at a multiple of the unit (so that a thread's columns are
 * its columns of that memory). Else 0: copied by the flat split.
 */
static int64_t unit_port(const cg_ctx *c, const scan *S, const port *p) {
  const ir_type *t = &S->body->values[p->value].type;
  int64_t len;
  if (S->unit_len <= 0 || t->rank != 2 || !cg_dim_known(c, t->dims[1], &len) || len % S->unit_len ||
      p->buf < 0 || S->g->buffers[p->buf].role == SEQRT_ROLE_ALIAS)
    return 0;
  return S->t.viewof[p->buf] < 0 || S->t.aligned[p->buf] ? len : 0;
}

/*
 * The step's gathers of over inputs not contiguous per step (tracking only
 * when dry). By the unit split where the port allows: each thread copies the
 * columns its unit kernels read, and no barrier separates them.
 */
static void step_gather(cg_ctx *c, scan *S, LLVMValueRef tt) {
  for (int k = 0; k < S->nover; k++) {
    port *p = &S->in[k];
    if (p->direct) continue;
    int64_t unit_len = unit_port(c, S, p);
    track_copy(c, &S->t, -1, ir_buffer_root(S->g, p->buf), unit_len ? UNIT : FULL);
    if (S->t.dry) continue;
    LLVMValueRef src = offset(c, p->outer, LLVMBuildMul(c->b, tt, p->len, ""), p->es);
    LLVMValueRef dst = load_slot(c, S->local, p->buf);
    if (unit_len)
      cg_copy_unit_rows(c, (int64_t)p->es, dst, p->len, src, p->ostride, p->rows, unit_len);
    else
      cg_copy_rows(c, (int64_t)p->es, dst, p->len, src, p->ostride, p->rows, p->len);
  }
}

/* emits not written in place (by the unit split where the port allows, as
 * step_gather), and states not swapped, leave by copy (tracking only when dry) */
static void step_copies_out(cg_ctx *c, scan *S, LLVMValueRef tt) {
  const ir_graph *g = S->g;
  for (int e = 0; e < S->n->noutputs && !c->failed; e++) {
    port *p = &S->out[e];
    if (e < S->nemit) {
      if (p->direct) continue;
      int rd = key(g, &S->t, p->buf);
      int wr = ir_buffer_root(g, g->values[S->n->outputs[e]].buffer);
      int64_t unit_len = unit_port(c, S, p);
      track_copy(c, &S->t, rd, wr, unit_len ? UNIT : FULL);
      if (S->t.dry) continue;
      LLVMValueRef dst = offset(c, p->outer, LLVMBuildMul(c->b, tt, p->len, ""), p->es);
      LLVMValueRef src = cg_value_ptr(c, p->value);
      if (unit_len)
        cg_copy_unit_rows(c, (int64_t)p->es, dst, p->ostride, src, p->len, p->rows, unit_len);
      else
        cg_copy_rows(c, (int64_t)p->es, dst, p->ostride, src, p->len, p->rows, p->len);
    } else if (state_copied(S, e - S->nemit)) {
      port *q = &S->in[S->nover + e - S->nemit];
      int rd = p->buf >= 0 ? key(g, &S->t, p->buf) : -1, wr = ir_buffer_root(g, q->buf);
      track_copy(c, &S->t, rd, wr, FULL);
      if (S->t.dry) continue;
      const ir_type *st = &S->body->values[q->value].type;
      LLVMValueRef total = cg_dims(c, st, 0, st->rank);
      cg_copy_rows(c, (int64_t)p->es, load_slot(c, S->local, q->buf), total,
                   cg_value_ptr(c, p->value), total, cg_i64(c, 1), total);
    }
  }
}

/*
 * The split barrier. A step opens with a barrier because its first kernel,
 * the recurrent matmul, reads every thread's part of the state. But the part
 * of k over this thread's own units reads only what the thread wrote itself,
 * so the step can arrive, sum that part, and only then wait: the others'
 * stores of the last step and the barrier's own latency hide behind work.
 *
 * The first kernel m may run before the wait when (S->t holds what one whole
 * step touches, with no barrier inside it, from step_accesses):
 * - it is a unit kernel around a matmul whose B is in column panels and whose
 *   A is a state as wide as the unit: its own k range is the thread's units;
 * - every over input is read in place (no gather runs before it);
 * - the state's memory now is no other thread's writing: in the last step it
 *   was the next state, written only at each thread's own units, and nothing
 *   in a step writes the state itself;
 * - nothing in a step writes B, and m's result is touched only at each
 *   thread's own units (its unit write meets no one's full access).
 * The other threads can be anywhere from the last step to this step's wait;
 * with one barrier per step, that is somewhere in one step's accesses.
 */
static int step_split(cg_ctx *c, scan *S) {
  const ir_graph *g = S->g, *body = S->body;
  const track *t = &S->t;
  if (S->unit_len <= 0 || t->barriers > 0 || !c->panel_unit) return -1;
  for (int k = 0; k < S->nover; k++)
    if (!S->in[k].direct) return -1;
  int first = -1;
  for (int k = 0; k < body->nnodes && first < 0; k++)
    if (is_kernel(S, k)) first = k;
  if (first < 0) return -1;
  const ir_node *m = &body->nodes[first];
  if (!has_matmul(m) || !cg_unit_kernel(c, m)) return -1;
  int bb = body->values[m->inputs[1]].buffer;
  if (bb < 0 || c->panel_unit[bb] <= 0 || t->written[key(g, t, bb)] != UNTOUCHED) return -1;
  const ir_type *at = &body->values[m->inputs[0]].type;
  int64_t K;
  if (!cg_dim_known(c, at->dims[at->rank - 1], &K) || K != S->unit_len) return -1;
  int state = -1;
  for (int s = 0; s < S->nstate; s++)
    if (S->in[S->nover + s].value == m->inputs[0]) state = s;
  if (state < 0 || state_copied(S, state)) return -1;
  const port *p = &S->out[S->nemit + state], *q = &S->in[S->nover + state];
  if (t->written[key(g, t, q->buf)] == FULL) return -1;
  if (p->buf >= 0 && t->written[key(g, t, p->buf)] == FULL) return -1;
  int ob = key(g, t, body->values[m->outputs[0]].buffer);
  if (ob < 0 || conflicts(t->read[ob], UNIT) || conflicts(t->written[ob], UNIT)) return -1;
  return first;
}

/* what one step touches, by tracking it without emitting it: into S->t */
static void step_accesses(cg_ctx *c, scan *S) {
  const ir_graph *g = S->g;
  int64_t saved_unit = c->unit_len;
  c->unit_len = S->unit_len;
  c->g = S->body;
  S->t.dry = true;
  S->t.barriers = 0;
  track_clear(&S->t);
  step_gather(c, S, NULL);
  for (int k = 0; k < S->body->nnodes; k++)
    if (is_kernel(S, k)) track_node(c, &S->t, S->body, &S->body->nodes[k]);
  step_copies_out(c, S, NULL);
  S->split = step_split(c, S);
  S->t.dry = false;
  c->g = g;
  c->unit_len = saved_unit;
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
    if (!p->direct || t->rank != 2 || p->es != 4 || !cg_dim_known(c, t->dims[1], &w) ||
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

/*
 * One step at loop index i (the step's own index is i, or steps-1-i
 * reversed). `open`: a barrier first, so that the previous step is done
 * everywhere (split when step_split allows: the step arrives here and its
 * first kernel waits); the second scan of a pair shares the first one's.
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
    if (in[k].direct)
      store_slot(c, local, in[k].buf,
                 offset(c, in[k].outer, LLVMBuildMul(b, tt, in[k].len, ""), in[k].es));
  for (int e = 0; e < nemit; e++)
    if (out[e].direct)
      store_slot(c, local, out[e].buf,
                 offset(c, out[e].outer, LLVMBuildMul(b, tt, out[e].len, ""), out[e].es));
  for (int k = 0; k < S->naliases; k++)
    store_slot(c, local, S->aliases[k], load_slot(c, local, ir_buffer_root(g, S->aliases[k])));
  bool split = open && S->split >= 0;
  if (split)
    cg_arrive(c); /* this thread is done with the previous step; the first kernel waits */
  else if (open)
    cg_barrier(c); /* the previous step (or the setup) is done everywhere */
  track_clear(&S->t);

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
    track_node(c, &S->t, body, m);
    c->step_wait = split && k == S->split;
    cg_emit_kernel(c, m);
    c->step_wait = false;
  }

  step_copies_out(c, S, tt);
  c->g = g;
  c->bufs = saved_bufs;
  c->const_global = saved_const;
  c->unit_len = saved_unit;
  c->unit_lo = saved_lo, c->unit_hi = saved_hi;
  /* swap: the next state becomes the state, its old memory the next state's */
  for (int s = 0; s < nstate; s++) {
    port *p = &out[nemit + s];
    port *q = &in[nover + s];
    if (p->chain) { /* the next step reads the state where this step emitted it */
      store_slot(c, local, q->buf, load_slot(c, local, p->buf));
      continue;
    }
    if (!p->swap) continue;
    LLVMValueRef a = load_slot(c, local, q->buf), z = load_slot(c, local, p->buf);
    store_slot(c, local, q->buf, z);
    store_slot(c, local, p->buf, a);
  }
}

/* the unit split's unit: the width of the first state (an RNN's hidden size) */
int64_t cg_scan_unit(const cg_ctx *c, const ir_node *n) {
  int nover = (int)ir_attr_int(n, "nover");
  if (ir_attr_int(n, "nstate") < 1 || nover >= n->body->ninputs) return 0;
  const ir_type *st = &n->body->values[n->body->inputs[nover]].type;
  int64_t u;
  if (st->rank < 1 || st->dtype != IR_F32 || !cg_dim_known(c, st->dims[st->rank - 1], &u)) return 0;
  return u > 0 && u % c->vw == 0 ? u : 0;
}

/*
 * The scan unit that value v of c->g feeds: every use of v is as an over
 * input [1, T, F] of a scan with the unit split, or a slice of v's last dim whose
 * result is used that way. 0 when some use is anything else or the units
 * differ. `unit` 0 finds the unit; given, slices must start at a multiple.
 */
static int64_t over_unit(const cg_ctx *c, int v, int64_t unit) {
  const ir_graph *g = c->g;
  int uses = 0;
  for (int i = 0, k = -1; ir_next_use(g, v, &i, &k);) {
    const ir_node *n = &g->nodes[i];
    uses++;
    int64_t u = 0;
    if (n->op == IR_OP_SCAN && k < ir_attr_int(n, "nover")) {
      /* batch 1: the steps read their rows in place (more rows gather
       * them, and the split by rows reads less of the input) */
      int64_t b;
      const ir_type *t = &g->values[v].type;
      if (t->rank == 3 && cg_dim_known(c, t->dims[0], &b) && b == 1) u = cg_scan_unit(c, n);
    } else if (n->op == IR_OP_SLICE) {
      const ir_type *it = &g->values[v].type;
      int64_t d = ir_attr_int(n, "dim"), start = ir_attr_int(n, "start");
      if (d < 0) d += it->rank;
      bool aligned = unit == 0 || (start >= 0 && start % unit == 0);
      if (d == it->rank - 1 && aligned) u = over_unit(c, n->outputs[0], unit);
    }
    if (u <= 0 || (unit > 0 && u != unit)) return 0;
    unit = u;
  }
  return uses > 0 ? unit : 0;
}

int64_t cg_feeds_scan_unit(const cg_ctx *c, const ir_node *n) {
  if (n->noutputs != 1 || n->op == IR_OP_SCAN) return 0;
  int v = n->outputs[0];
  const ir_type *t = &c->g->values[v].type;
  int64_t N;
  if (t->rank < 2 || !cg_dim_known(c, t->dims[t->rank - 1], &N)) return 0;
  for (int i = 0; i < c->g->noutputs; i++)
    if (c->g->outputs[i].value == v) return 0;
  int64_t unit = over_unit(c, v, 0);
  if (unit < UNIT_SPLIT_MIN * c->vw || N % unit || over_unit(c, v, unit) != unit) return 0;
  return unit;
}

/*
 * Slices in the body that are contiguous (every dim before the sliced one is
 * 1 under the binding: the gates of a batch-1 step) become pointers into
 * their input rather than copies. Their memory is the input's for barriers.
 */
static void find_slice_views(cg_ctx *c, scan *S) {
  const ir_graph *g = S->g, *body = S->body;
  for (int k = 0; k < body->nnodes; k++) {
    const ir_node *m = &body->nodes[k];
    if (m->dead || m->op != IR_OP_SLICE) continue;
    int v = m->outputs[0], ib = body->values[m->inputs[0]].buffer, ob = body->values[v].buffer;
    if (ib < 0 || ob < 0 || g->buffers[ob].role != SEQRT_ROLE_TEMP || out_count(body, v)) continue;
    const ir_type *it = &body->values[m->inputs[0]].type;
    int64_t d = ir_attr_int(m, "dim"), start = ir_attr_int(m, "start");
    if (d < 0) d += it->rank;
    bool ok = d >= 0 && d < it->rank;
    for (int j = 0; ok && j < d; j++) ok = is_one(c, it->dims[j]);
    if (!ok) continue;
    if (start < 0) { /* from the end: needs the dim's size now */
      ir_dim sd = it->dims[d];
      if (!ir_dim_is_const(sd) && !c->bind_syms) continue;
      int64_t size = ir_dim_is_const(sd) ? sd.coef : ir_dim_eval(sd, c->bind_syms);
      start = start + size < 0 ? 0 : start + size;
    }
    S->view_off[k] = LLVMBuildMul(c->b, cg_i64(c, start), cg_dims(c, it, (int)d + 1, it->rank), "");
    int orb = ir_buffer_root(g, ob);
    S->t.viewof[orb] = key(g, &S->t, ib);
    int64_t tail = 1, d1;
    bool known = true;
    for (int j = (int)d + 1; j < it->rank && known; j++)
      known = cg_dim_known(c, it->dims[j], &d1), tail *= d1;
    S->t.aligned[orb] = known && S->unit_len > 0 && (start * tail) % S->unit_len == 0;
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
  if (body0->ninputs != n->ninputs || body0->noutputs != nemit + nstate || nemit < 0) {
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
  *view = *body0;
  view->buffers = g->buffers;
  view->nbuffers = g->nbuffers;
  const ir_graph *body = view;

  scan *S = out_scan;
  *S = (scan){.n = n,
              .g = g,
              .body = body,
              .body0 = body0,
              .nover = nover,
              .nstate = nstate,
              .nemit = nemit,
              .reverse = ir_attr_int(n, "reverse") != 0};
  const ir_type *lt = nover ? &g->values[n->inputs[0]].type : &g->values[n->outputs[0]].type;
  LLVMValueRef T = cg_dim(c, lt->dims[1]);
  S->steps = LLVMBuildSDiv(b, T, cg_i64(c, chunk), "steps");

  /* the per-thread table of buffer pointers, a copy of bufs */
  LLVMTypeRef tab_ty = LLVMArrayType(c->ptr, (unsigned)(g->nbuffers > 0 ? g->nbuffers : 1));
  LLVMValueRef local = S->local = cg_alloca(c, tab_ty, "scan_bufs");
  LLVMBuildMemCpy(b, local, 8, c->bufs, 8, cg_i64(c, (int64_t)g->nbuffers * 8));

  port *in = S->in = calloc((size_t)n->ninputs + 1, sizeof *in);
  port *out = S->out = calloc((size_t)n->noutputs + 1, sizeof *out);
  IR_ASSERT(in && out);
  for (int k = 0; k < n->ninputs; k++) {
    port *p = &in[k];
    p->value = body->inputs[k];
    p->buf = body->values[p->value].buffer;
    IR_ASSERT(p->buf >= 0);
    p->outer = cg_value_ptr(c, n->inputs[k]);
    const ir_type *t = &g->values[n->inputs[k]].type;
    p->es = ir_dtype_size(t->dtype);
    if (k < nover) {
      p->rows = cg_dim(c, t->dims[0]);
      p->len = LLVMBuildMul(b, cg_i64(c, chunk), cg_dims(c, t, 2, t->rank), "");
      p->ostride = cg_dims(c, t, 1, t->rank);
      p->direct = is_one(c, t->dims[0]);
    } else if (k >= nover + nstate) {
      store_slot(c, local, p->buf, p->outer); /* captures: read in place */
    }
  }
  for (int e = 0; e < n->noutputs; e++) {
    port *p = &out[e];
    p->value = body->outputs[e].value;
    p->buf = body->values[p->value].buffer;
    p->outer = cg_value_ptr(c, n->outputs[e]);
    const ir_type *t = &g->values[n->outputs[e]].type;
    p->es = ir_dtype_size(t->dtype);
    if (e < nemit) {
      const ir_type *bt = &body->values[p->value].type;
      p->rows = cg_dim(c, t->dims[0]);
      p->len = cg_dims(c, bt, 1, bt->rank);
      p->ostride = cg_dims(c, t, 1, t->rank);
      int state_out = 0;
      for (int s = 0; s < nstate; s++) state_out += body->outputs[nemit + s].value == p->value;
      int count = out_count(body, p->value);
      bool own = is_one(c, t->dims[0]) && own_result(g, body, p->value);
      /* an emit that is also one state (an RNN's h) is written in place and
       * read from there by the next step */
      p->direct = own && count == 1 + state_out && state_out <= 1;
    } else {
      int s = e - nemit, as_state = 0;
      for (int k = 0; k < nemit; k++) p->chain |= out[k].direct && out[k].value == p->value;
      for (int k = 0; k < nstate; k++) as_state += body->outputs[nemit + k].value == p->value;
      /* also an emit copied out (an RNN's h at batch > 1): the copy reads
       * it before the swap */
      p->swap = !p->chain && own_result(g, body, p->value) && as_state == 1 &&
                p->value != in[nover + s].value;
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
  S->t = (track){.read = calloc((size_t)g->nbuffers + 1, 1),
                 .written = calloc((size_t)g->nbuffers + 1, 1),
                 .n = g->nbuffers,
                 .viewof = malloc(sizeof(int) * (size_t)(g->nbuffers + 1)),
                 .aligned = calloc((size_t)g->nbuffers + 1, sizeof(bool))};
  S->body_const = calloc((size_t)body->nvalues + 1, sizeof *S->body_const);
  S->view_off = calloc((size_t)body->nnodes + 1, sizeof *S->view_off);
  IR_ASSERT(S->t.read && S->t.written && S->t.viewof && S->t.aligned && S->body_const && S->view_off);
  for (int i = 0; i < g->nbuffers; i++) S->t.viewof[i] = -1;
  S->unit_len = cg_scan_unit(c, n);
  find_slice_views(c, S);
  step_accesses(c, S);
  return true;
}

/*
 * The loop: step i of every scan of S[0..ns) under one barrier, `unroll`
 * (of the first) steps per iteration, then one at a time for the rest. The
 * scans run the same steps and do not read each other (pair_scans).
 */
static void scan_loop(cg_ctx *c, scan *S, int ns) {
  LLVMBuilderRef b = c->b;
  const ir_attr *ua = ir_get_attr(S[0].n, "unroll");
  int64_t unroll = ua && ua->i > 1 ? ua->i : 1;
  LLVMValueRef steps = S[0].steps, main_end = steps;
  /* a split step reads its own part of the state before waiting: the
   * initial states must be in everywhere first */
  if (S[0].split >= 0) cg_barrier(c);
  if (unroll > 1) {
    main_end = LLVMBuildSub(b, steps, LLVMBuildSRem(b, steps, cg_i64(c, unroll), ""), "");
    cg_loop l;
    cg_loop_begin(c, &l, cg_i64(c, 0), main_end, cg_i64(c, unroll));
    for (int64_t u = 0; u < unroll && !c->failed; u++)
      for (int k = 0; k < ns; k++)
        emit_step(c, &S[k], LLVMBuildAdd(b, l.i, cg_i64(c, u), ""), k == 0);
    cg_loop_end(c, &l);
  }
  cg_loop l;
  cg_loop_begin(c, &l, unroll > 1 ? main_end : cg_i64(c, 0), steps, cg_i64(c, 1));
  for (int k = 0; k < ns; k++) emit_step(c, &S[k], l.i, k == 0);
  cg_loop_end(c, &l);
}

/* after the loop: the final states out, and the scan's memory freed */
static void scan_close(cg_ctx *c, scan *S) {
  const ir_graph *g = S->g;
  const ir_node *n = S->n;
  int nover = S->nover, nstate = S->nstate, nemit = S->nemit;
  port *in = S->in, *out = S->out;
  LLVMValueRef local = S->local;
  /* final states */
  cg_barrier(c);
  for (int s = 0; s < nstate; s++) {
    port *q = &in[nover + s];
    const ir_type *st = &g->values[n->outputs[nemit + s]].type;
    LLVMValueRef total = cg_dims(c, st, 0, st->rank);
    cg_copy_rows(c, (int64_t)q->es, out[nemit + s].outer, total, load_slot(c, local, q->buf), total,
                 cg_i64(c, 1), total);
  }
  cg_barrier(c);

  free(S->body_const);
  free(S->view_off);
  free(S->t.viewof);
  free(S->t.aligned);
  free(S->t.read);
  free(S->t.written);
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

/* FILL: every element of the result = value (split between threads) */
void cg_emit_fill(cg_ctx *c, const ir_node *n) {
  LLVMBuilderRef b = c->b;
  const ir_type *t = &c->g->values[n->outputs[0]].type;
  double v = ir_attr_float(n, "value");
  LLVMTypeRef et = cg_elem_type(c, t->dtype);
  LLVMValueRef x = t->dtype == IR_F32 ? LLVMConstReal(et, v)
                                      : LLVMConstInt(et, (unsigned long long)(long long)v, 1);
  LLVMValueRef total = cg_dims(c, t, 0, t->rank), lo, hi;
  cg_split(c, total, 16, &lo, &hi);
  LLVMValueRef p = cg_value_ptr(c, n->outputs[0]);
  cg_loop l;
  cg_loop_begin(c, &l, lo, hi, cg_i64(c, 1));
  LLVMSetAlignment(LLVMBuildStore(b, x, cg_gep(c, et, p, l.i)), (unsigned)ir_dtype_size(t->dtype));
  cg_loop_end(c, &l);
}
