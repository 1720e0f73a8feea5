/*
 * schedule_scan.c: the schedule of one scan's steps (see schedule.c).
 *
 * Codegen emits the body once inside a loop over the steps; every thread
 * runs each step's kernels and takes its share. A barrier opens each step.
 * This file decides the rest:
 * - how each input and result moves per step (ir_port_move): an over input
 *   is read in place when its step's slice is contiguous (batch 1) or
 *   gathered into its buffer; an emit is written in place into its slot of
 *   the stacked result (batch 1) or copied there; a state swaps pointers with
 *   its next state, is read where it was emitted, or is copied over;
 * - the unit split: the scan's unit is its first state's width; body kernels
 *   that can take it (sched_unit_kernel) run by it, and so do the gathers
 *   and copies of ports whose rows are whole units;
 * - contiguous body slices (the gates of a batch-1 step) are pointers into
 *   their input, no kernel;
 * - barriers inside the step: before a kernel or copy that touches what
 *   another thread may still be touching (a unit access of memory that a
 *   unit kernel wrote is this thread's own: no barrier);
 * - the split barrier (see step_split).
 * A scan with lengths copies its emits out (codegen zeroes the rows of the
 * inactive ones afterwards, which an emit read in place as the next state
 * would lose) and never splits its opening barrier (the selection after a
 * step writes whole rows of the state).
 */
#include <string.h>

#include "passes.h"

/* everything one scan's schedule looks at */
typedef struct step {
  const sched_ctx *s;
  const ir_graph *g;        /* the graph the scan is in (the top graph's buffer table) */
  ir_graph body;            /* the scan's body, seen with that table */
  ir_node *n;               /* the SCAN */
  int nover, nstate, nemit; /* its interface */
  int64_t unit;             /* its unit split's unit, 0 = none */
  bool lengths;             /* it has lengths (ops.def) */
  ir_port_sched *in, *out;  /* n->sched.ports: per scan input, per result */
  sched_track t;            /* what one step touched since its last barrier */
} step;

/* number of times value v is a body output */
static int out_count(const ir_graph *body, int v) {
  int k = 0;
  for (int i = 0; i < body->noutputs; i++) k += body->outputs[i].value == v;
  return k;
}

/* true if body value v is a kernel result with memory of its own (not a view, input or const) */
static bool own_result(const step *S, int v) {
  const ir_value *val = &S->body.values[v];
  if (val->kind != IR_VAL_NODE || val->buffer < 0) return false;
  return S->g->buffers[val->buffer].role == SEQRT_ROLE_TEMP;
}

static int in_value(const step *S, int k) { return S->body.inputs[k]; }
static int out_value(const step *S, int e) { return S->body.outputs[e].value; }
static int buffer_of(const step *S, int v) { return S->body.values[v].buffer; }

/* how each input and result moves per step */
static void plan_ports(step *S) {
  const ir_graph *g = S->g, *body = &S->body;
  const ir_node *n = S->n;
  for (int k = 0; k < S->nover; k++) /* batch 1: the step's rows are contiguous */
    S->in[k].move =
        sched_is_one(S->s, g->values[n->inputs[k]].type.dims[0]) ? IR_PORT_DIRECT : IR_PORT_COPY;
  for (int e = 0; e < S->nemit; e++) {
    int v = out_value(S, e), as_state = 0;
    for (int s = 0; s < S->nstate; s++) as_state += out_value(S, S->nemit + s) == v;
    bool own = sched_is_one(S->s, g->values[n->outputs[e]].type.dims[0]) && own_result(S, v);
    /* an emit that is also one state (an RNN's h) is written in place and
     * read from there by the next step */
    bool direct = own && out_count(body, v) == 1 + as_state && as_state <= 1 && !S->lengths;
    S->out[e].move = direct ? IR_PORT_DIRECT : IR_PORT_COPY;
  }
  for (int s = 0; s < S->nstate; s++) {
    int v = out_value(S, S->nemit + s), as_state = 0;
    bool chain = false;
    for (int e = 0; e < S->nemit; e++)
      chain |= S->out[e].move == IR_PORT_DIRECT && out_value(S, e) == v;
    for (int k = 0; k < S->nstate; k++) as_state += out_value(S, S->nemit + k) == v;
    bool unchanged = v == in_value(S, S->nover + s);
    /* also an emit copied out (an RNN's h at batch > 1): the copy reads it
     * before the swap */
    bool swap = !chain && own_result(S, v) && as_state == 1 && !unchanged;
    S->out[S->nemit + s].move = chain       ? IR_PORT_CHAIN
                                : swap      ? IR_PORT_SWAP
                                : unchanged ? IR_PORT_STAY
                                            : IR_PORT_COPY;
  }
}

/*
 * Slices in the body that are contiguous (every dim before the sliced one is
 * 1 under the binding: the gates of a batch-1 step) become pointers into
 * their input rather than copies. Their memory is the input's for barriers.
 */
static void plan_slice_views(step *S) {
  const ir_graph *g = S->g, *body = &S->body;
  for (int k = 0; k < body->nnodes; k++) {
    ir_node *m = &body->nodes[k];
    if (m->dead || m->op != IR_OP_SLICE) continue;
    int v = m->outputs[0], ib = buffer_of(S, m->inputs[0]), ob = buffer_of(S, v);
    if (ib < 0 || ob < 0 || g->buffers[ob].role != SEQRT_ROLE_TEMP || out_count(body, v)) continue;
    const ir_type *it = &body->values[m->inputs[0]].type;
    int64_t d = ir_attr_int(m, "dim"), start = ir_attr_int(m, "start");
    if (d < 0) d += it->rank;
    bool ok = d >= 0 && d < it->rank;
    for (int j = 0; ok && j < d; j++) ok = sched_is_one(S->s, it->dims[j]);
    if (!ok) continue;
    if (start < 0) { /* from the end: needs the dim's size now */
      int64_t size;
      if (!sched_dim_known(S->s, it->dims[d], &size)) continue;
      start = start + size < 0 ? 0 : start + size;
    }
    m->sched.view = true;
    int orb = ir_buffer_root(g, ob);
    S->t.viewof[orb] = sched_track_key(&S->t, ib);
    int64_t tail = 1, d1;
    bool known = true;
    for (int j = (int)d + 1; j < it->rank && known; j++)
      known = sched_dim_known(S->s, it->dims[j], &d1), tail *= d1;
    S->t.aligned[orb] = known && S->unit > 0 && (start * tail) % S->unit == 0;
  }
}

/* true when body node k is a kernel of its own (not dead, a view or a pointer) */
static bool is_kernel(const step *S, int k) {
  const ir_node *m = &S->body.nodes[k];
  return !m->dead && !m->sched.view && !ir_node_is_view(&S->body, m);
}

/*
 * The row length of a port with body value v, when its rows are copied by
 * the unit split: a [B, len] value, len a multiple of the unit, whose memory
 * is its buffer's own or a view at a multiple of the unit (so that a
 * thread's columns are its columns of that memory). Else 0: by flat rows.
 */
static int64_t unit_port(const step *S, int v) {
  const ir_type *t = &S->body.values[v].type;
  int buf = buffer_of(S, v);
  int64_t len;
  if (S->unit <= 0 || t->rank != 2 || !sched_dim_known(S->s, t->dims[1], &len) || len % S->unit ||
      buf < 0 || S->g->buffers[buf].role == SEQRT_ROLE_ALIAS)
    return 0;
  return S->t.viewof[buf] < 0 || S->t.aligned[buf] ? len : 0;
}

/* a copy from memory rd to memory wr (-1: none), by the unit split or not */
static void track_copy(step *S, ir_port_sched *p, int rd, int wr, bool unit) {
  unsigned char mode = unit ? SCHED_UNIT : SCHED_FULL;
  sched_access a[2] = {{rd, mode, false}, {wr, mode, true}};
  p->unit = unit ? S->unit : 0;
  p->barrier = sched_track_access(&S->t, a, 2, 0);
}

/*
 * Input j of unit kernel m is read only at this thread's columns: it is not
 * a matmul operand (those read whole rows), its last dim is the result's
 * (broadcast along the others is fine: the column decides the owner) or m
 * is a unit slice of it, and it is its buffer's own memory or a slice view
 * at a multiple of the unit.
 */
static bool aligned_input(const step *S, const ir_node *m, int j) {
  if (j < 2 && sched_has_matmul(m)) return false;
  const ir_value *v = &S->body.values[m->inputs[j]];
  const ir_type *it = &v->type, *ot = &S->body.values[m->outputs[0]].type;
  int64_t a, b;
  /* a unit slice reads its input's columns at the same offsets in the unit */
  if (m->op != IR_OP_SLICE &&
      (it->rank < 1 || it->rank > ot->rank || !sched_dim_known(S->s, it->dims[it->rank - 1], &a) ||
       !sched_dim_known(S->s, ot->dims[ot->rank - 1], &b) || a != b))
    return false;
  int buf = v->buffer;
  if (buf < 0) return true; /* a constant: never written */
  if (S->g->buffers[buf].role == SEQRT_ROLE_ALIAS) return false;
  return S->t.viewof[buf] < 0 || S->t.aligned[buf];
}

/* body kernel m: its unit split, and a barrier before it if it needs one */
static void track_kernel(step *S, ir_node *m) {
  bool unit = sched_unit_kernel(S->s, &S->body, m, S->unit);
  sched_access a[128];
  int na = 0;
  bool many = m->ninputs + m->noutputs > 128; /* too many to track: wait, to be safe */
  for (int j = 0; j < m->ninputs && na < 128; j++)
    a[na++] = (sched_access){sched_track_key(&S->t, buffer_of(S, m->inputs[j])),
                             unit && aligned_input(S, m, j) ? SCHED_UNIT : SCHED_FULL, false};
  for (int j = 0; j < m->noutputs && na < 128; j++)
    a[na++] = (sched_access){sched_track_key(&S->t, buffer_of(S, m->outputs[j])),
                             unit ? SCHED_UNIT : SCHED_FULL, true};
  if (many) {
    sched_track_clear(&S->t);
    S->t.barriers++;
  }
  m->sched.unit = unit ? S->unit : 0;
  m->sched.barrier = sched_track_access(&S->t, a, na, 0) || many;
}

/* one step in order: gathers, kernels, copies out */
static void plan_step(step *S) {
  const ir_graph *g = S->g;
  sched_track_clear(&S->t);
  S->t.barriers = 0;
  for (int k = 0; k < S->nover; k++)
    if (S->in[k].move == IR_PORT_COPY) {
      int v = in_value(S, k);
      track_copy(S, &S->in[k], -1, ir_buffer_root(g, buffer_of(S, v)), unit_port(S, v) > 0);
    }
  for (int k = 0; k < S->body.nnodes; k++) {
    ir_node *m = &S->body.nodes[k];
    if (!is_kernel(S, k)) continue;
    track_kernel(S, m);
    if (m->op == IR_OP_SCAN) sched_scan(S->s, &S->body, m);
  }
  for (int e = 0; e < S->nemit; e++)
    if (S->out[e].move == IR_PORT_COPY) {
      int v = out_value(S, e);
      int wr = ir_buffer_root(g, g->values[S->n->outputs[e]].buffer);
      track_copy(S, &S->out[e], sched_track_key(&S->t, buffer_of(S, v)), wr, unit_port(S, v) > 0);
    }
  for (int s = 0; s < S->nstate; s++)
    if (S->out[S->nemit + s].move == IR_PORT_COPY) {
      int b = buffer_of(S, out_value(S, S->nemit + s));
      int rd = b >= 0 ? sched_track_key(&S->t, b) : -1;
      int wr = ir_buffer_root(g, buffer_of(S, in_value(S, S->nover + s)));
      track_copy(S, &S->out[S->nemit + s], rd, wr, false);
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
 * step touches, with no barrier inside it):
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
 * Returns the body node that waits, or -1.
 */
static int step_split(const step *S) {
  const ir_graph *g = S->g, *body = &S->body;
  const sched_track *t = &S->t;
  if (S->unit <= 0 || t->barriers > 0 || S->lengths) return -1;
  for (int k = 0; k < S->nover; k++)
    if (S->in[k].move != IR_PORT_DIRECT) return -1;
  int first = -1;
  for (int k = 0; k < body->nnodes && first < 0; k++)
    if (is_kernel(S, k)) first = k;
  if (first < 0) return -1;
  const ir_node *m = &body->nodes[first];
  if (!sched_has_matmul(m) || !m->sched.unit) return -1;
  int bb = buffer_of(S, m->inputs[1]);
  if (bb < 0 || g->buffers[bb].panel <= 0 || t->written[sched_track_key(t, bb)] != SCHED_UNTOUCHED)
    return -1;
  const ir_type *at = &body->values[m->inputs[0]].type;
  int64_t K;
  if (!sched_dim_known(S->s, at->dims[at->rank - 1], &K) || K != S->unit) return -1;
  int state = -1;
  for (int s = 0; s < S->nstate; s++)
    if (in_value(S, S->nover + s) == m->inputs[0]) state = s;
  if (state < 0 || S->out[S->nemit + state].move == IR_PORT_COPY) return -1;
  int qb = buffer_of(S, in_value(S, S->nover + state));
  int pb = buffer_of(S, out_value(S, S->nemit + state));
  if (t->written[sched_track_key(t, qb)] == SCHED_FULL) return -1;
  if (pb >= 0 && t->written[sched_track_key(t, pb)] == SCHED_FULL) return -1;
  int ob = sched_track_key(t, buffer_of(S, m->outputs[0]));
  if (ob < 0 || sched_conflicts(t->read[ob], SCHED_UNIT) ||
      sched_conflicts(t->written[ob], SCHED_UNIT))
    return -1;
  return first;
}

void sched_scan(const sched_ctx *s, const ir_graph *g, ir_node *n) {
  int nover = (int)ir_attr_int(n, "nover"), nstate = (int)ir_attr_int(n, "nstate");
  int nemit = n->noutputs - nstate;
  if (n->body->ninputs != n->ninputs || n->body->noutputs != nemit + nstate || nemit < 0)
    return; /* codegen reports it */
  step S = {
      .s = s, .g = g, .body = *n->body, .n = n, .nover = nover, .nstate = nstate, .nemit = nemit};
  S.body.buffers = g->buffers;
  S.body.nbuffers = g->nbuffers;
  S.unit = sched_scan_unit(s, n);
  const ir_attr *len = ir_get_attr(n, "lengths");
  S.lengths = len && len->i;
  n->sched.ports = ir_alloc(n->body, sizeof(ir_port_sched) * (size_t)(n->ninputs + n->noutputs));
  S.in = n->sched.ports;
  S.out = n->sched.ports + n->ninputs;
  n->sched.unit = S.unit;
  sched_track_init(&S.t, &S.body, false);
  plan_ports(&S);
  plan_slice_views(&S);
  plan_step(&S);
  int wait = step_split(&S);
  if (wait >= 0) n->body->nodes[wait].sched.wait = n->sched.wait = true;
  sched_track_free(&S.t);
}
