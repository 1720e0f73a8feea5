/*
 * plan_memory.c: decides where every value lives at run time.
 *
 * - Nodes that read only params, consts and other such nodes are marked
 *   at_prepare: they run once at session start (the transposed weights of a
 *   GEMM), and their results become PREPARED buffers.
 * - Nodes that read only static inputs (SPEC 9) and such values are marked
 *   once (ir_once_nodes): they run in the first run after a reset (an
 *   encoder of a fixed source), and their results that later nodes read are
 *   STATE buffers, which the session keeps.
 * - Every graph output gets a buffer of its own, written in the run stage: an
 *   output that is an input, a param, a prepared value, a view, or a value
 *   already given to another output name gets a COPY node at the end.
 * - Every other value a kernel reads or writes gets a buffer: INPUT, PARAM,
 *   STATE (kept by the session between runs, outside the arena),
 *   TEMP (with its lifetime [first, last] in node steps, so the runtime can
 *   reuse memory), or ALIAS for the result of a view (RESHAPE).
 *
 * Offsets are not fixed here: they depend on the dims, which ahead-of-time
 * objects bind only at run time. The runtime places the buffers from these
 * lifetimes when a session starts, so the peak is known before running.
 */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

/* marks nodes that depend on params and constants only */
static void mark_prepare(ir_graph *g) {
  for (int i = 0; i < g->nnodes; i++) {
    ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    bool prep = n->ninputs > 0;
    for (int j = 0; j < n->ninputs && prep; j++) {
      const ir_value *v = &g->values[n->inputs[j]];
      if (v->kind == IR_VAL_PARAM || v->kind == IR_VAL_CONST) continue;
      prep = v->kind == IR_VAL_NODE && g->nodes[v->def].at_prepare;
    }
    n->at_prepare = prep;
  }
}

/* marks the nodes that run in the first run after a reset only */
static void mark_once(ir_graph *g) {
  bool *once = ir_once_nodes(g);
  for (int i = 0; i < g->nnodes; i++) g->nodes[i].once = once[i] && !g->nodes[i].at_prepare;
  free(once);
}

/* true when output value v can be written straight into its own buffer */
static bool output_is_own(const ir_graph *g, int out_index) {
  int v = g->outputs[out_index].value;
  const ir_value *val = &g->values[v];
  if (val->kind != IR_VAL_NODE) return false;
  const ir_node *n = &g->nodes[val->def];
  if (n->at_prepare || n->once || (ir_ops[n->op].traits & IR_T_VIEW)) return false;
  for (int i = 0; i < out_index; i++)
    if (g->outputs[i].value == v) return false;
  return true;
}

/* adds COPY nodes so that every output has memory of its own, before the
 * state writes (which stay the last nodes) */
static void copy_outputs(ir_graph *g) {
  int tail = g->nnodes;
  while (tail > 0 &&
         (g->nodes[tail - 1].dead || (ir_ops[g->nodes[tail - 1].op].traits & IR_T_EFFECT)))
    tail--;
  for (int i = 0; i < g->noutputs; i++) {
    if (output_is_own(g, i)) continue;
    int src = g->outputs[i].value;
    ir_loc loc = g->values[src].loc;
    int n = ir_insert_node(g, tail++, IR_OP_COPY, g->outputs[i].name, &src, 1, loc);
    int dst = g->nodes[n].outputs[0];
    g->values[dst].type = g->values[src].type;
    g->outputs[i].value = dst;
  }
}

/* whether a node that is not `once` reads value v (or an output is v),
 * directly or through a view of it */
static bool read_later(const ir_graph *g, int v) {
  for (int i = 0, k = -1; ir_next_use(g, v, &i, &k);) {
    const ir_node *n = &g->nodes[i];
    if (!n->once || ((ir_ops[n->op].traits & IR_T_VIEW) && read_later(g, n->outputs[0])))
      return true;
  }
  for (int i = 0; i < g->noutputs; i++)
    if (g->outputs[i].value == v) return true;
  return false;
}

/* the buffer of value v, made on first request */
static int buffer_of(ir_graph *g, int v, int *count) {
  ir_value *val = &g->values[v];
  if (val->buffer >= 0) return val->buffer;
  val->buffer = (*count)++;
  return val->buffer;
}

/* ---- scan bodies ---- */

/* number of body buffers plan_body would add for body (nested scans included) */
static int count_body(const ir_graph *body) {
  int n = body->ninputs;
  for (int i = 0; i < body->nnodes; i++) {
    const ir_node *m = &body->nodes[i];
    if (m->dead) continue;
    n += m->noutputs;
    if (m->op == IR_OP_SCAN) n += count_body(m->body);
  }
  return n;
}

/* appends a buffer of top graph g for body value v */
static int add_body_buffer(ir_graph *g, ir_graph *body, int v, int step) {
  int b = g->nbuffers++;
  ir_buffer *buf = &g->buffers[b];
  *buf = (ir_buffer){.value = v, .role = SEQRT_ROLE_TEMP, .first = step, .last = step,
                     .alias = -1, .graph = body};
  body->values[v].buffer = b;
  return b;
}

/*
 * Gives every body value a kernel touches a TEMP buffer of the top graph that
 * lives for the scan node's step: body values exist only while the scan
 * runs, all at once (a step reads what the previous one wrote), so they get
 * distinct memory and the feed-forward plan around them is unchanged. Views
 * alias their input's buffer as at top level.
 */
static void plan_body(ir_graph *g, ir_graph *body, int step) {
  for (int i = 0; i < body->nvalues; i++) body->values[i].buffer = -1;
  for (int i = 0; i < body->ninputs; i++) add_body_buffer(g, body, body->inputs[i], step);
  for (int i = 0; i < body->nnodes; i++) {
    ir_node *m = &body->nodes[i];
    if (m->dead) continue;
    for (int j = 0; j < m->noutputs; j++) {
      int b = add_body_buffer(g, body, m->outputs[j], step);
      if (!(ir_ops[m->op].traits & IR_T_VIEW)) continue;
      int src = body->values[m->inputs[0]].buffer;
      if (src < 0) { /* a view of a constant: codegen reads the constant */
        g->buffers[b].role = SEQRT_ROLE_TEMP;
        continue;
      }
      g->buffers[b].role = SEQRT_ROLE_ALIAS;
      g->buffers[b].alias = src;
    }
    if (m->op == IR_OP_SCAN) plan_body(g, m->body, step);
  }
}

/* the buffers of every scan body, after the top-level ones */
static void plan_scans(ir_graph *g, const int *step) {
  int extra = 0;
  for (int i = 0; i < g->nnodes; i++)
    if (!g->nodes[i].dead && g->nodes[i].op == IR_OP_SCAN) extra += count_body(g->nodes[i].body);
  if (extra == 0) return;
  ir_buffer *old = g->buffers;
  g->buffers = ir_alloc(g, sizeof(ir_buffer) * (size_t)(g->nbuffers + extra));
  memcpy(g->buffers, old, sizeof(ir_buffer) * (size_t)g->nbuffers);
  for (int i = 0; i < g->nnodes; i++)
    if (!g->nodes[i].dead && g->nodes[i].op == IR_OP_SCAN) plan_body(g, g->nodes[i].body, step[i]);
}

/*
 * The step of every node, its index, except that a scan paired with the one
 * before it (pair_scans) shares that one's step: they run in one loop, so
 * everything either reads or writes is live at once.
 */
static int *node_steps(const ir_graph *g) {
  int *step = malloc(sizeof(int) * (size_t)(g->nnodes + 1));
  IR_ASSERT(step);
  int prev = -1;
  for (int i = 0; i < g->nnodes; i++) {
    step[i] = i;
    if (g->nodes[i].dead) continue;
    const ir_attr *p = prev >= 0 ? ir_get_attr(&g->nodes[prev], "pair") : NULL;
    if (p && p->i) step[i] = step[prev];
    prev = i;
  }
  return step;
}

bool pass_plan_memory(ir_graph *g, pass_ctx *ctx) {
  (void)ctx;
  mark_prepare(g);
  mark_once(g);
  copy_outputs(g);
  ir_graph_reindex(g);

  for (int i = 0; i < g->nvalues; i++) g->values[i].buffer = -1;
  int count = 0;
  /* inputs first, in model order, then every param (used or not: the weights
   * file must still provide it), then node results in node order */
  for (int i = 0; i < g->ninputs; i++) buffer_of(g, g->inputs[i], &count);
  for (int i = 0; i < g->nvalues; i++)
    if (g->values[i].kind == IR_VAL_PARAM) buffer_of(g, i, &count);
  for (int i = 0; i < g->nvalues; i++)
    if (g->values[i].kind == IR_VAL_STATE) buffer_of(g, i, &count);
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int j = 0; j < n->noutputs; j++) buffer_of(g, n->outputs[j], &count);
  }

  g->buffers = ir_alloc(g, sizeof(ir_buffer) * (size_t)(count > 0 ? count : 1));
  g->nbuffers = count;
  int *step = node_steps(g);
  for (int i = 0; i < g->nvalues; i++) {
    const ir_value *v = &g->values[i];
    if (v->buffer < 0) continue;
    ir_buffer *b = &g->buffers[v->buffer];
    b->value = i;
    b->alias = -1;
    b->first = v->kind == IR_VAL_NODE ? step[v->def] : -1;
    b->last = b->first;
    if (v->kind == IR_VAL_INPUT) b->role = SEQRT_ROLE_INPUT;
    else if (v->kind == IR_VAL_PARAM) b->role = SEQRT_ROLE_PARAM;
    else if (v->kind == IR_VAL_STATE) b->role = SEQRT_ROLE_STATE;
    else {
      const ir_node *n = &g->nodes[v->def];
      if (ir_ops[n->op].traits & IR_T_VIEW) {
        int src = n->inputs[0];
        IR_ASSERT(g->values[src].buffer >= 0); /* views of consts are folded by simplify */
        b->role = SEQRT_ROLE_ALIAS;
        b->alias = g->values[src].buffer;
      } else if (n->at_prepare) {
        b->role = SEQRT_ROLE_PREPARED;
      } else if (n->once && read_later(g, i)) {
        b->role = SEQRT_ROLE_STATE; /* made by the first run, read by every run */
      } else {
        b->role = SEQRT_ROLE_TEMP;
      }
    }
  }
  for (int i = 0; i < g->noutputs; i++) {
    ir_buffer *b = &g->buffers[g->values[g->outputs[i].value].buffer];
    b->role = SEQRT_ROLE_OUTPUT;
  }

  /* lifetimes: a read at step i keeps the memory it reads (through views) alive */
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int j = 0; j < n->ninputs; j++) {
      int vb = g->values[n->inputs[j]].buffer;
      if (vb < 0) continue;
      int rb = ir_buffer_root(g, vb);
      if (g->buffers[rb].last < step[i]) g->buffers[rb].last = step[i];
      if (g->buffers[vb].last < step[i]) g->buffers[vb].last = step[i];
    }
  }
  for (int i = 0; i < g->nbuffers; i++)
    if (g->buffers[i].role == SEQRT_ROLE_OUTPUT) g->buffers[i].last = g->nnodes;
  plan_scans(g, step);
  free(step);
  return true;
}
