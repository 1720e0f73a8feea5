/*
 * schedule.c: the last pass. Every thread of the team runs every kernel and
 * takes its share; this pass decides how they share each kernel and where
 * they wait for each other, and writes it into the graph (ir_sched on nodes,
 * ir_buffer.panel) for codegen to emit as told:
 * - a barrier goes before a kernel only when it touches memory that the
 *   kernels since the last barrier may still be using (the hazard tracker
 *   below, for the top graph and for each scan step alike);
 * - the unit split: the kernels of a scan step whose results are as wide as
 *   a multiple of the first state's width (an RNN's hidden size H) give each
 *   thread the same columns of every H-wide unit, so that the step's gates
 *   are the thread's own data and need no barrier between them; kernels
 *   before the scan that only feed its over inputs take the same split;
 * - prepared weights that only scan steps multiply by, by the unit split,
 *   are stored in column panels (see codegen/panels.c for why);
 * - per scan, how each input and result moves each step, which body slices
 *   are pointers, and whether the step's barrier is split around its first
 *   kernel: schedule_scan.c.
 */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

/* vectors a unit needs before the kernels that feed a scan take its split:
 * below it a thread's window is too narrow to share */
#define UNIT_SPLIT_MIN 4

bool sched_dim_known(const sched_ctx *s, ir_dim d, int64_t *v) {
  if (ir_dim_is_const(d)) return *v = d.coef, true;
  if (!s->syms) return false;
  for (int i = 0; i < IR_DIM_SYMS; i++)
    if (d.sym[i] >= 0 && s->syms[d.sym[i]] < 0) return false; /* left to run time */
  *v = ir_dim_eval(d, s->syms);
  return *v >= 0;
}

bool sched_is_one(const sched_ctx *s, ir_dim d) {
  int64_t v;
  return sched_dim_known(s, d, &v) && v == 1;
}

bool sched_has_matmul(const ir_node *m) {
  if (m->op == IR_OP_MATMUL) return true;
  if (m->op != IR_OP_FUSED) return false;
  for (int i = 0; i < m->body->nnodes; i++)
    if (!m->body->nodes[i].dead && m->body->nodes[i].op == IR_OP_MATMUL) return true;
  return false;
}

bool sched_unit_kernel(const sched_ctx *s, const ir_graph *g, const ir_node *n, int64_t unit) {
  if (unit <= 0 || n->noutputs != 1 || n->ninputs < 1) return false;
  const ir_type *ot = &g->values[n->outputs[0]].type;
  int64_t N;
  if (ot->rank < 1 || !sched_dim_known(s, ot->dims[ot->rank - 1], &N) || N % unit) return false;
  switch (n->op) {
#define ELEM(id, formula) case IR_OP_##id:
#include "ops.def"
    return true;
    case IR_OP_SLICE: {
      /* of the last dim, from a multiple of the unit: a thread's columns
       * of the result are its columns of the input (a step's gates) */
      const ir_type *it = &g->values[n->inputs[0]].type;
      int64_t d = ir_attr_int(n, "dim"), start = ir_attr_int(n, "start");
      return (d == -1 || d == it->rank - 1) && start >= 0 && start % unit == 0;
    }
    case IR_OP_MATMUL:
    case IR_OP_FUSED:
      /* a matmul by one matrix (one big GEMM), whose columns are the
       * result's: a window of them is a window of the result */
      if (!sched_has_matmul(n)) return true;
      return n->ninputs >= 2 && g->values[n->inputs[0]].type.rank >= 2 &&
             g->values[n->inputs[1]].type.rank == 2;
    case IR_OP_SOFTMAX: /* rows, movement and the rest: their threads split otherwise */
    case IR_OP_LAYER_NORM:
    case IR_OP_RMS_NORM:
    case IR_OP_MEAN:
    case IR_OP_ARGMAX:
    case IR_OP_CONCAT:
    case IR_OP_SELECT:
    case IR_OP_TRANSPOSE:
    case IR_OP_RESHAPE:
    case IR_OP_EMBEDDING:
    case IR_OP_POSITIONAL_ENCODING:
    case IR_OP_POSITIONS:
    case IR_OP_STATE_READ:
    case IR_OP_STATE_WRITE:
    case IR_OP_CACHE_WRITE:
    case IR_OP_ATTENTION:
    case IR_OP_REL_ATTENTION:
    case IR_OP_SLOT_ATTENTION:
    case IR_OP_CONV1D:
    case IR_OP_FILL:
    case IR_OP_SCAN:
#define LAYER(id) case IR_OP_##id:
#include "ops.def"
    case IR_OP_COUNT:
      return false;
  }
  IR_ASSERT(!"sched_unit_kernel: op");
}

int64_t sched_scan_unit(const sched_ctx *s, const ir_node *n) {
  int nover = (int)ir_attr_int(n, "nover");
  if (ir_attr_int(n, "nstate") < 1 || nover >= n->body->ninputs) return 0;
  const ir_type *st = &n->body->values[n->body->inputs[nover]].type;
  int64_t u;
  if (st->rank < 1 || st->dtype != IR_F32 || !sched_dim_known(s, st->dims[st->rank - 1], &u))
    return 0;
  return u > 0 && u % s->target->vec_width == 0 ? u : 0;
}

/* ---- the hazard tracker ---- */

void sched_track_init(sched_track *t, const ir_graph *g, bool arena) {
  int n = g->nbuffers + 1;
  *t = (sched_track){.g = g,
                     .read = calloc((size_t)n, 1),
                     .written = calloc((size_t)n, 1),
                     .viewof = malloc(sizeof(int) * (size_t)n),
                     .aligned = calloc((size_t)n, sizeof(bool)),
                     .arena = arena};
  IR_ASSERT(t->read && t->written && t->viewof && t->aligned);
  for (int i = 0; i < n; i++) t->viewof[i] = -1;
  sched_track_clear(t);
}

void sched_track_free(sched_track *t) {
  free(t->read);
  free(t->written);
  free(t->viewof);
  free(t->aligned);
}

void sched_track_clear(sched_track *t) {
  memset(t->read, 0, (size_t)t->g->nbuffers + 1);
  memset(t->written, 0, (size_t)t->g->nbuffers + 1);
  t->min_last = INT32_MAX;
}

int sched_track_key(const sched_track *t, int buffer) {
  int r = ir_buffer_root(t->g, buffer);
  if (r >= 0 && t->viewof[r] >= 0) r = t->viewof[r];
  return r;
}

/* TEMP and OUTPUT buffers share the arena: the runtime may give a buffer
 * memory that an earlier one, dead by then, used */
static bool in_arena(const ir_graph *g, int b) {
  int r = g->buffers[b].role;
  return r == SEQRT_ROLE_TEMP || r == SEQRT_ROLE_OUTPUT;
}

/* an access of `mode` to memory last touched as `was` needs the others done */
bool sched_conflicts(unsigned char was, unsigned char mode) {
  return was != SCHED_UNTOUCHED && (was == SCHED_FULL || mode == SCHED_FULL);
}

bool sched_track_needs(const sched_track *t, const sched_access *a, int n, int step) {
  for (int i = 0; i < n; i++) {
    int k = a[i].key;
    if (k < 0) continue;
    if (sched_conflicts(t->written[k], a[i].mode)) return true;
    if (!a[i].write) continue;
    if (sched_conflicts(t->read[k], a[i].mode)) return true;
    /* memory the arena may have handed on from a buffer dead before `step` */
    if (t->arena && in_arena(t->g, k) && t->min_last < step) return true;
  }
  return false;
}

void sched_track_touch(sched_track *t, const sched_access *a, int n) {
  for (int i = 0; i < n; i++) {
    int k = a[i].key;
    if (k < 0) continue;
    unsigned char *m = a[i].write ? &t->written[k] : &t->read[k];
    if (*m < a[i].mode) *m = a[i].mode;
    if (t->arena && in_arena(t->g, k) && t->g->buffers[k].last < t->min_last)
      t->min_last = t->g->buffers[k].last;
  }
}

bool sched_track_access(sched_track *t, const sched_access *a, int n, int step) {
  bool barrier = sched_track_needs(t, a, n, step);
  if (barrier) {
    sched_track_clear(t);
    t->barriers++;
  }
  sched_track_touch(t, a, n);
  return barrier;
}

/* ---- the top graph ---- */

/* every access of node n into a (room for all), all of them FULL (the top
 * graph's kernels share their memory by any split); returns their number */
static int node_accesses(const sched_track *t, const ir_node *n, sched_access *a) {
  int k = 0;
  for (int j = 0; j < n->ninputs; j++) /* a state write writes its state, input 0 */
    a[k++] = (sched_access){sched_track_key(t, t->g->values[n->inputs[j]].buffer), SCHED_FULL,
                            (ir_ops[n->op].traits & IR_T_EFFECT) && j == 0};
  for (int j = 0; j < n->noutputs; j++)
    a[k++] =
        (sched_access){sched_track_key(t, t->g->values[n->outputs[j]].buffer), SCHED_FULL, true};
  return k;
}

/*
 * The scan unit that value v of g feeds: every use of v is as an over input
 * [1, T, F] of a scan with the unit split, or a slice of v's last dim whose
 * result is used that way. 0 when some use is anything else or the units
 * differ. `unit` 0 finds the unit; given, slices must start at a multiple.
 */
static int64_t over_unit(const sched_ctx *s, const ir_graph *g, int v, int64_t unit) {
  int uses = 0;
  for (int i = 0, k = -1; ir_next_use(g, v, &i, &k);) {
    const ir_node *n = &g->nodes[i];
    uses++;
    int64_t u = 0;
    if (n->op == IR_OP_SCAN && k < ir_attr_int(n, "nover")) {
      /* batch 1: the steps read their rows in place (more rows gather
       * them, and the split by rows reads less of the input) */
      const ir_type *t = &g->values[v].type;
      if (t->rank == 3 && sched_is_one(s, t->dims[0])) u = sched_scan_unit(s, n);
    } else if (n->op == IR_OP_SLICE) {
      const ir_type *it = &g->values[v].type;
      int64_t d = ir_attr_int(n, "dim"), start = ir_attr_int(n, "start");
      if (d < 0) d += it->rank;
      bool aligned = unit == 0 || (start >= 0 && start % unit == 0);
      if (d == it->rank - 1 && aligned) u = over_unit(s, g, n->outputs[0], unit);
    }
    if (u <= 0 || (unit > 0 && u != unit)) return 0;
    unit = u;
  }
  return uses > 0 ? unit : 0;
}

/* the unit split of top kernel n, which feeds scans by it (or 0) */
static int64_t feeds_scan_unit(const sched_ctx *s, const ir_graph *g, const ir_node *n) {
  if (n->at_prepare || n->noutputs != 1 || n->op == IR_OP_SCAN) return 0;
  int v = n->outputs[0];
  const ir_type *t = &g->values[v].type;
  int64_t N;
  if (t->rank < 2 || !sched_dim_known(s, t->dims[t->rank - 1], &N)) return 0;
  for (int i = 0; i < g->noutputs; i++)
    if (g->outputs[i].value == v) return 0;
  int64_t unit = over_unit(s, g, v, 0);
  if (unit < UNIT_SPLIT_MIN * s->target->vec_width || N % unit || over_unit(s, g, v, unit) != unit)
    return 0;
  return sched_unit_kernel(s, g, n, unit) ? unit : 0;
}

/* barriers and splits of the kernels that run at prepare (or at run) */
static void schedule_entry(const sched_ctx *s, ir_graph *g, bool prepare) {
  sched_track t;
  sched_track_init(&t, g, true);
  int most = 1;
  for (int i = 0; i < g->nnodes; i++)
    if (g->nodes[i].ninputs + g->nodes[i].noutputs > most)
      most = g->nodes[i].ninputs + g->nodes[i].noutputs;
  sched_access *a[2] = {malloc(sizeof(sched_access) * (size_t)most),
                        malloc(sizeof(sched_access) * (size_t)most)};
  IR_ASSERT(a[0] && a[1]);
  int writes = 0;
  bool last_once = false;
  for (int i = 0; i < g->nnodes; i++) {
    ir_node *n = &g->nodes[i];
    if (n->dead || n->at_prepare != prepare || ir_node_is_view(g, n)) continue;
    ir_node *partner = (ir_node *)ir_paired_scan(g, i);
    int na = node_accesses(&t, n, a[0]);
    int nb = partner ? node_accesses(&t, partner, a[1]) : 0;
    /* the state writes start once every thread is done (codegen checks
     * there that the run has not failed) */
    bool commit = (ir_ops[n->op].traits & IR_T_EFFECT) && !writes++;
    /* the nodes that run in the first run only start and end with a barrier:
     * a run that skips them must not rely on the barriers among them */
    bool edge = n->once != last_once;
    last_once = n->once;
    bool barrier = commit || edge || sched_track_needs(&t, a[0], na, i) ||
                   (partner && sched_track_needs(&t, a[1], nb, i));
    if (barrier) sched_track_clear(&t);
    n->sched.barrier = barrier;
    n->sched.unit = feeds_scan_unit(s, g, n);
    if (n->op == IR_OP_SCAN) sched_scan(s, g, n);
    if (partner) {
      sched_scan(s, g, partner);
      sched_track_touch(&t, a[1], nb);
      i = (int)(partner - g->nodes);
    }
    sched_track_touch(&t, a[0], na);
  }
  free(a[0]);
  free(a[1]);
  sched_track_free(&t);
}

/* ---- column panels ---- */

/* trans_b of matmul m, or of the matmul inside fused m (whose operands must
 * be the fused node's first two inputs, as codegen reads them); -1 if none */
static int64_t gemm_trans_b(const ir_node *m) {
  if (m->op == IR_OP_MATMUL) return ir_attr_int(m, "trans_b");
  if (m->op != IR_OP_FUSED) return -1;
  const ir_graph *fb = m->body;
  for (int i = 0; i < fb->nnodes; i++) {
    const ir_node *mm = &fb->nodes[i];
    if (mm->dead || mm->op != IR_OP_MATMUL) continue;
    if (fb->ninputs < 2 || mm->inputs[0] != fb->inputs[0] || mm->inputs[1] != fb->inputs[1])
      return -1;
    return ir_attr_int(mm, "trans_b");
  }
  return -1;
}

/*
 * True when every use of body input v of scan n is as B of a GEMM by the
 * unit split (columns in units of `unit`), not trans_b, whose rows (the
 * batch, bound at compile time) let the direct path read B in place; and v
 * is used at least once and is no body output.
 */
static bool only_step_gemms(const sched_ctx *s, const ir_node *n, int v, int64_t unit) {
  const ir_graph *body = n->body;
  for (int i = 0; i < body->noutputs; i++)
    if (body->outputs[i].value == v) return false;
  int uses = 0;
  for (int i = 0, j = -1; ir_next_use(body, v, &i, &j);) {
    const ir_node *m = &body->nodes[i];
    uses++;
    if (j != 1 || gemm_trans_b(m) != 0 || !sched_unit_kernel(s, body, m, unit)) return false;
    const ir_type *at = &body->values[m->inputs[0]].type;
    int64_t rows = 1, d, k;
    for (int r = 0; r + 1 < at->rank; r++) {
      if (!sched_dim_known(s, at->dims[r], &d)) return false;
      rows *= d;
    }
    if (!sched_dim_known(s, at->dims[at->rank - 1], &k) ||
        !s->target->gemm_reads_b_in_place(s->target->vec_width, rows, k, unit))
      return false;
  }
  return uses > 0;
}

/* the unit of panels for prepared transpose t of g, or 0 when some use of
 * its result wants it row-major */
static int64_t panel_unit_of(const sched_ctx *s, const ir_graph *g, const ir_node *t) {
  int v = t->outputs[0];
  const ir_value *val = &g->values[v];
  const ir_attr *perm = ir_get_attr(t, "perm");
  int64_t N;
  if (val->type.rank != 2 || val->type.dtype != IR_F32 || val->buffer < 0 ||
      g->buffers[val->buffer].role != SEQRT_ROLE_PREPARED || !perm || perm->nints != 2 ||
      perm->ints[0] != 1 || !sched_dim_known(s, val->type.dims[1], &N))
    return 0;
  for (int i = 0; i < g->noutputs; i++)
    if (g->outputs[i].value == v) return 0;
  int64_t unit = 0;
  for (int i = 0, k = -1; ir_next_use(g, v, &i, &k);) {
    const ir_node *n = &g->nodes[i];
    if (n->op != IR_OP_SCAN || n->at_prepare) return 0;
    int captures = (int)(ir_attr_int(n, "nover") + ir_attr_int(n, "nstate"));
    int64_t u = sched_scan_unit(s, n);
    if (k < captures || u <= 0 || N % u || (unit && u != unit)) return 0;
    if (!only_step_gemms(s, n, n->body->inputs[k], u)) return 0;
    unit = u;
  }
  return unit;
}

/* prepared transposes of weights that only scan steps multiply by write
 * column panels: their buffers, and the body inputs they are captured as */
static void plan_panels(const sched_ctx *s, ir_graph *g) {
  for (int i = 0; i < g->nbuffers; i++) g->buffers[i].panel = 0;
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *t = &g->nodes[i];
    if (t->dead || !t->at_prepare || t->op != IR_OP_TRANSPOSE) continue;
    int64_t unit = panel_unit_of(s, g, t);
    if (!unit) continue;
    int v = t->outputs[0];
    g->buffers[g->values[v].buffer].panel = unit;
    for (int j = 0, k = -1; ir_next_use(g, v, &j, &k);) {
      const ir_graph *body = g->nodes[j].body; /* a scan: panel_unit_of checked */
      g->buffers[body->values[body->inputs[k]].buffer].panel = unit;
    }
  }
}

/* drops an earlier schedule of g and of its scan bodies */
static void unschedule(ir_graph *g) {
  for (int i = 0; i < g->nnodes; i++) {
    ir_node *n = &g->nodes[i];
    n->sched = (ir_sched){0};
    if (n->op == IR_OP_SCAN && n->body) unschedule(n->body);
  }
}

bool pass_schedule(ir_graph *g, pass_ctx *ctx) {
  if (!ctx->target) return false;                 /* no codegen follows */
  if (!g->buffers && g->nnodes > 0) return false; /* nothing planned: codegen says so */
  sched_ctx s = {.target = ctx->target, .syms = ctx->bind_syms ? ctx->bind_syms : ctx->syms};
  int64_t completed[IR_MAX_SYMS];
  if (ctx->bind_syms) { /* derived symbols follow the base ones they are made of */
    memcpy(completed, ctx->bind_syms, sizeof(int64_t) * (size_t)g->nsyms);
    ir_syms_complete(g, completed);
    s.syms = completed;
  }
  unschedule(g);
  plan_panels(&s, g);
  schedule_entry(&s, g, true);
  schedule_entry(&s, g, false);
  g->sched_width = ctx->target->vec_width;
  return true;
}
