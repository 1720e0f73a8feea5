/*
 * infer_scan.c: result types of the ops with several results: SCAN (the one
 * loop construct) and the recurrent layers RNN, LSTM, GRU that decompose into
 * SCANs. ir_infer_node hands them here.
 *
 * SCAN: over inputs [B, T, ...] are seen by the body one step at a time
 * ([B, ...]) or one segment at a time ([B, chunk, ...]); states keep their
 * type from step to step; captures are seen whole. The body is inferred on
 * those types, then each emit becomes a result stacked along dim 1: an emit
 * [B, H] gives [B, T, H] (chunk 1) or [B, T/chunk, H] (one row per segment),
 * an emit [B, chunk, H, ...] (rank 3 or more) of a segment recurrence
 * concatenates back to [B, T, H, ...]; a rank-2 emit [B, chunk] stacks like any
 * [B, H]. So a result of the emit's rank concatenates, one of rank + 1 stacks:
 * the interpreter and codegen tell the two apart by the ranks alone. Final
 * states have their initial states' types. A scan or layer with lengths reads
 * an integer [B] (B: the first input's dim 0); a scan's needs chunk 1.
 */
#include <string.h>

#include "ir.h"

static const char *tstr(const ir_graph *g, const ir_type *t, char *buf, size_t size) {
  return ir_type_str(g, t, buf, size);
}

/* the name of body output k (the emit or state name the frontend gave it) */
static const char *out_name(const ir_graph *b, int k) {
  return b->outputs[k].name && b->outputs[k].name[0] ? b->outputs[k].name : "?";
}

/* the type over input x has in the body: dim 1 removed, or chunk long */
static ir_type step_type(const ir_type *x, int64_t chunk) {
  ir_type t = *x;
  if (chunk > 1) {
    t.dims[1] = ir_dim_const(chunk);
  } else {
    memmove(&t.dims[1], &t.dims[2], sizeof(ir_dim) * (size_t)(x->rank - 2));
    t.rank--;
  }
  return t;
}

/* the sequence dim T of the over inputs; false after an error */
static bool seq_dim(ir_graph *g, const ir_node *n, int nover, int64_t chunk, ir_diags *d,
                    ir_dim *T) {
  char a[256], b[256];
  for (int i = 0; i < nover; i++) {
    const ir_type *x = &g->values[n->inputs[i]].type;
    if (x->rank < 2)
      return ir_node_error(d, n, "scan '%s': input %d to scan over must be [B, T, ...], got %s",
                           n->name, i, tstr(g, x, a, sizeof a));
    if (i == 0)
      *T = x->dims[1];
    else if (!ir_dim_eq(*T, x->dims[1]))
      return ir_node_error(d, n, "scan '%s': inputs to scan over differ in length: %s and %s",
                           n->name, tstr(g, &g->values[n->inputs[0]].type, a, sizeof a),
                           tstr(g, x, b, sizeof b));
  }
  if (chunk > 1 && ir_dim_is_const(*T) && T->coef % chunk != 0)
    return ir_node_error(d, n, "scan '%s': chunk %lld does not divide the sequence length %lld",
                         n->name, (long long)chunk, (long long)T->coef);
  return true;
}

/* input i of n, the lengths, is an integer [B] with B the batch dim of input 0 */
static bool lengths_type(ir_graph *g, const ir_node *n, int i, ir_diags *d) {
  const ir_type *t = &g->values[n->inputs[i]].type, *x = &g->values[n->inputs[0]].type;
  if ((t->dtype == IR_I32 || t->dtype == IR_I64) && t->rank == 1 && x->rank >= 1 &&
      ir_dim_eq(t->dims[0], x->dims[0]))
    return true;
  char a[256];
  return ir_node_error(
      d, n, "%s '%s': lengths must be an integer [B], one per batch row, got %s %s",
      ir_ops[n->op].name, n->name, ir_dtype_name(t->dtype), tstr(g, t, a, sizeof a));
}

/* the result type of an emit of body type e */
static bool emit_type(ir_graph *g, const ir_node *n, int k, const ir_type *e, ir_dim T,
                      int64_t chunk, ir_diags *d, ir_type *out) {
  char a[256], b[64];
  const ir_graph *body = n->body;
  if (e->rank < 1 || e->rank >= IR_MAX_RANK)
    return ir_node_error(d, n, "scan '%s': emit '%s' is %s; it needs a batch dim and room for T",
                         n->name, out_name(body, k), tstr(g, e, a, sizeof a));
  *out = *e;
  if (chunk > 1 && e->rank >= 3 && ir_dim_is_const(e->dims[1]) && e->dims[1].coef == chunk) {
    out->dims[1] = T; /* [B, C, ...] segments concatenate back to [B, T, ...] */
    return true;
  }
  ir_dim steps = T;
  char what[256];
  snprintf(what, sizeof what, "scan '%s': segments", n->name);
  if (chunk > 1 && !ir_dim_floordiv(g, &T, 1, chunk, 0, what, n->loc, &steps))
    return ir_node_error(
        d, n,
        "scan '%s': emit '%s' stacks one row per segment, but %s/%lld needs more dims "
        "than a model may have",
        n->name, out_name(body, k), ir_dim_str(g, T, b, sizeof b), (long long)chunk);
  memmove(&out->dims[2], &out->dims[1], sizeof(ir_dim) * (size_t)(e->rank - 1));
  out->dims[1] = steps;
  out->rank++;
  return true;
}

bool ir_infer_scan(ir_graph *g, int ni, ir_diags *d) {
  const ir_node *n = &g->nodes[ni];
  ir_graph *b = n->body;
  int64_t nover = ir_attr_int(n, "nover"), nstate = ir_attr_int(n, "nstate");
  int64_t chunk = ir_attr_int(n, "chunk");
  IR_ASSERT(b && b->ninputs == n->ninputs && nover >= 1 && nstate >= 0 && chunk >= 1);
  IR_ASSERT(nover + nstate <= n->ninputs && b->noutputs >= nstate);
  IR_ASSERT(n->noutputs == b->noutputs);
  ir_dim T;
  if (!seq_dim(g, n, (int)nover, chunk, d, &T)) return false;
  const ir_attr *len = ir_get_attr(n, "lengths");
  if (len && len->i) {
    if (chunk > 1)
      return ir_node_error(d, n, "scan '%s': lengths need chunk 1, not %lld", n->name,
                           (long long)chunk);
    IR_ASSERT(nover + nstate < n->ninputs);
    if (!lengths_type(g, n, (int)(nover + nstate), d)) return false;
  }
  for (int i = 0; i < b->ninputs; i++) {
    const ir_type *t = &g->values[n->inputs[i]].type;
    b->values[b->inputs[i]].type = i < nover ? step_type(t, chunk) : *t;
  }
  for (int i = 0; i < b->nnodes; i++)
    if (!b->nodes[i].dead && !ir_infer_node(b, i, d)) return false;
  int nemit = b->noutputs - (int)nstate;
  char x[256], y[256];
  for (int k = 0; k < b->noutputs; k++) {
    const ir_type *e = &b->values[b->outputs[k].value].type;
    if (e->rank < 0) return false;
    ir_type r;
    if (k < nemit) {
      if (!emit_type(g, n, k, e, T, chunk, d, &r)) return false;
    } else {
      r = g->values[n->inputs[nover + k - nemit]].type;
      if (!ir_type_eq(e, &r))
        return ir_node_error(
            d, n, "scan '%s': next value of state '%s' is %s %s, but the state is %s %s", n->name,
            out_name(b, k), ir_dtype_name(e->dtype), tstr(g, e, x, sizeof x),
            ir_dtype_name(r.dtype), tstr(g, &r, y, sizeof y));
    }
    if (len && len->i &&
        (r.rank < 1 || !ir_dim_eq(r.dims[0], g->values[n->inputs[0]].type.dims[0])))
      return ir_node_error(
          d, n, "scan '%s': with lengths, %s '%s' must have the batch dim first, got %s", n->name,
          k < nemit ? "emit" : "state", out_name(b, k), tstr(g, &r, x, sizeof x));
    g->values[n->outputs[k]].type = r;
  }
  return true;
}

/* ---- RNN, LSTM, GRU ---- */

/* input i must be f32 [a, b, c] */
static bool need_state(ir_graph *g, const ir_node *n, int i, const char *what, ir_type want,
                       ir_diags *d) {
  const ir_type *t = &g->values[n->inputs[i]].type;
  if (ir_type_eq(t, &want)) return true;
  char a[256], b[256];
  return ir_node_error(d, n, "%s '%s': %s: expected %s %s, got %s %s", ir_ops[n->op].name, n->name,
                       what, ir_dtype_name(want.dtype), tstr(g, &want, a, sizeof a),
                       ir_dtype_name(t->dtype), tstr(g, t, b, sizeof b));
}

bool ir_infer_recurrent(ir_graph *g, int ni, ir_diags *d) {
  const ir_node *n = &g->nodes[ni];
  const ir_type *x = &g->values[n->inputs[0]].type;
  char a[256];
  ir_rnn_layout r = ir_rnn_layout_of(n);
  int64_t H = r.H, L = r.L, D = r.D, P = r.P;
  int nstates = r.nstates;
  IR_ASSERT(n->ninputs == r.ninputs);
  if (x->dtype != IR_F32 || x->rank != 3)
    return ir_node_error(d, n, "%s '%s': expected an f32 input [B, T, features], got %s %s",
                         ir_ops[n->op].name, n->name, ir_dtype_name(x->dtype),
                         tstr(g, x, a, sizeof a));
  ir_type hn = {
      .dtype = IR_F32, .rank = 3, .dims = {ir_dim_const(L * D), x->dims[0], ir_dim_const(P)}};
  ir_type cn = hn;
  cn.dims[2] = ir_dim_const(H);
  if (!need_state(g, n, 1, "h0", hn, d)) return false;
  if (nstates == 2 && !need_state(g, n, 2, "c0", cn, d)) return false;
  if (r.lengths >= 0 && !lengths_type(g, n, r.lengths, d)) return false;
  ir_type y = {.dtype = IR_F32, .rank = 3, .dims = {x->dims[0], x->dims[1], ir_dim_const(D * P)}};
  g->values[n->outputs[0]].type = y;
  g->values[n->outputs[1]].type = hn;
  if (nstates == 2) g->values[n->outputs[2]].type = cn;
  return true;
}
