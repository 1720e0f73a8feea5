/*
 * eval.c: the reference interpreter, the oracle for every test of the passes
 * and of generated code.
 *
 * It walks the live nodes in order with plain C kernels (eval_ops.c). Each
 * node result gets its own malloc'd tensor, freed as soon as its last reader
 * has run, so a long model does not hold every intermediate at once. Shapes
 * come from the result types under the symbol binding; graph inputs and params
 * are checked against their types before anything runs. A FUSED node runs its
 * body as a graph of its own; a SCAN runs its body once per step (run_scan);
 * the recurrent, attention and Transformer layers have their own direct
 * implementations (eval_rnn.c, eval_attention.c).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

/* what the interpreter keeps between the runs of one session */
struct ir_session {
  const ir_graph *g;     /* the model */
  int64_t position;      /* p: positions of the position dim consumed by a streaming model */
  int64_t runs;          /* successful runs since the start or the last reset */
  seqrt_tensor *state;   /* by value id: the kept tensor of each STATE value, and the results
                            of the nodes of static inputs (data malloc'd) */
  bool *once;            /* by node: depends on static inputs only (ir_once_nodes) */
  bool *static_only;     /* by symbol: a dim of static inputs only, kept from the first run */
  int64_t kept_syms[IR_MAX_SYMS]; /* the first run's symbols since the reset */
};

/* what every level of the walk shares */
typedef struct run {
  ir_session *session;   /* the session's state and position */
  const int64_t *syms;   /* symbol binding */
  ir_param_fn get_param; /* params by name */
  void *user;            /* get_param's context */
  seqrt_error *err;      /* where an error message goes */
} run;

/* the run-time tensor of one value */
typedef struct slot {
  seqrt_tensor t; /* dtype, concrete shape, elements */
  bool owned;     /* t.data was malloc'd here and is freed after the last use */
} slot;

/* dtype and shape of type t under the binding */
static void shape_of(const ir_type *t, const int64_t *syms, seqrt_tensor *out) {
  memset(out, 0, sizeof *out);
  out->dtype = (seqrt_dtype)t->dtype;
  out->rank = t->rank;
  for (int i = 0; i < t->rank; i++) out->shape[i] = ir_dim_eval(t->dims[i], syms);
}

static bool alloc_data(seqrt_tensor *t, seqrt_error *err) {
  int64_t n = seqrt_tensor_numel(t);
  if (n < 0) return ir_eval_fail(err, "internal error: negative size");
  size_t bytes = (size_t)n * seqrt_dtype_size(t->dtype);
  t->data = calloc(1, bytes ? bytes : 1); /* zeroed: a result no kernel here writes (attention's
                                             partials, codegen's scratch) reads as 0 */
  if (!t->data) return ir_eval_fail(err, "out of memory (%zu bytes)", bytes);
  return true;
}

/* false with "KIND 'NAME': expected f32[2, 3], got f32[2, 4]" unless got matches want */
static bool check_given(const char *kind, const char *name, const seqrt_tensor *want,
                        const seqrt_tensor *got, seqrt_error *err) {
  bool same = got->dtype == want->dtype && got->rank == want->rank;
  for (int i = 0; i < want->rank && same; i++) same = got->shape[i] == want->shape[i];
  if (same && (got->data || seqrt_tensor_numel(want) == 0)) return true;
  if (same) return ir_eval_fail(err, "%s '%s' has no data", kind, name ? name : "?");
  char a[256], b[256];
  bool ranked = got->rank >= 0 && got->rank <= SEQRT_MAX_RANK;
  return ir_eval_fail(err, "%s '%s': expected %s%s, got %s%s", kind, name ? name : "?",
                      seqrt_dtype_name(want->dtype),
                      seqrt_shape_str(want->shape, want->rank, a, sizeof a),
                      seqrt_dtype_name(got->dtype),
                      ranked ? seqrt_shape_str(got->shape, got->rank, b, sizeof b) : "[?]");
}

/* a fresh malloc'd copy of t */
static bool copy_out(const seqrt_tensor *t, seqrt_tensor *out, seqrt_error *err) {
  *out = *t;
  if (!alloc_data(out, err)) return false;
  memcpy(out->data, t->data, (size_t)seqrt_tensor_numel(t) * seqrt_dtype_size(t->dtype));
  return true;
}

static bool run_graph(const ir_graph *g, const run *r, const seqrt_tensor *inputs,
                      seqrt_tensor *outputs);

/* bytes of one element of t */
static size_t esize(const seqrt_tensor *t) { return seqrt_dtype_size(t->dtype); }

/* a copy of t as what the session keeps for value v */
static bool keep_result(ir_session *ss, const seqrt_tensor *t, int v, seqrt_error *err) {
  seqrt_tensor *kept = &ss->state[v];
  size_t bytes = (size_t)seqrt_tensor_numel(t) * esize(t);
  void *p = realloc(kept->data, bytes ? bytes : 1);
  if (!p) return ir_eval_fail(err, "out of memory");
  *kept = *t;
  kept->data = p;
  memcpy(p, t->data, bytes);
  return true;
}

/* the kept tensor of STATE value v, zeros of its type's shape when nothing is
 * kept yet (the session's start or reset) */
static bool kept_state(const ir_graph *g, int v, const run *r, seqrt_tensor **out) {
  seqrt_tensor *kept = &r->session->state[v];
  if (!kept->data) {
    shape_of(&g->values[v].type, r->syms, kept);
    size_t bytes = (size_t)seqrt_tensor_numel(kept) * esize(kept);
    if (!(kept->data = calloc(1, bytes ? bytes : 1))) return ir_eval_fail(r->err, "out of memory");
  }
  *out = kept;
  return true;
}

/* fills the slots of graph inputs, consts, states and the params that something reads */
static bool bind_leaves(const ir_graph *g, const run *r, const seqrt_tensor *inputs,
                        const int *uses, slot *s) {
  for (int i = 0; i < g->ninputs; i++) {
    int v = g->inputs[i];
    /* a static input is read by the first run after a reset only */
    if (g->values[v].is_static && r->session->runs > 0 && r->session->g == g) continue;
    seqrt_tensor want;
    shape_of(&g->values[v].type, r->syms, &want);
    if (!check_given("input", g->values[v].name, &want, &inputs[i], r->err)) return false;
    s[v].t = inputs[i];
  }
  for (int v = 0; v < g->nvalues; v++) {
    const ir_value *val = &g->values[v];
    if (val->kind == IR_VAL_STATE) {
      /* what the session kept, laid out for the batch of the first run since
       * the reset: this run must give it the same shape */
      seqrt_tensor *kept = &r->session->state[v], want;
      shape_of(&val->type, r->syms, &want);
      bool same = !kept->data || kept->rank == want.rank;
      for (int k = 0; same && kept->data && k < want.rank; k++)
        same = kept->shape[k] == want.shape[k];
      char a[256], b[256];
      if (!same)
        return ir_eval_fail(r->err,
                            "state '%s' is %s in this session, this run makes it %s (a run with "
                            "another batch size needs a reset)",
                            val->name ? val->name : "?",
                            seqrt_shape_str(kept->shape, kept->rank, a, sizeof a),
                            seqrt_shape_str(want.shape, want.rank, b, sizeof b));
      if (!kept_state(g, v, r, &kept)) return false;
      s[v].t = *kept;
    } else if (val->kind == IR_VAL_CONST) {
      shape_of(&val->type, r->syms, &s[v].t);
      s[v].t.data = val->data;
    } else if (val->kind == IR_VAL_PARAM && uses[v] > 0) {
      seqrt_tensor want, got;
      memset(&got, 0, sizeof got);
      shape_of(&val->type, r->syms, &want);
      if (!r->get_param || !r->get_param(r->user, val->name, &got))
        return ir_eval_fail(r->err, "missing parameter '%s'", val->name ? val->name : "?");
      if (!check_given("parameter", val->name, &want, &got, r->err)) return false;
      s[v].t = got;
    }
  }
  return true;
}

/* row b of t (of rows equal parts) */
static char *row_of(const seqrt_tensor *t, int64_t b) {
  int64_t rows = t->shape[0], row = rows ? seqrt_tensor_numel(t) / rows : 0;
  return (char *)t->data + (size_t)(b * row) * esize(t);
}
static size_t row_bytes(const seqrt_tensor *t) {
  return t->shape[0] ? (size_t)(seqrt_tensor_numel(t) / t->shape[0]) * esize(t) : 0;
}

int64_t ir_eval_length(const seqrt_tensor *lengths, int64_t b) {
  return lengths->dtype == SEQRT_I32 ? ((const int32_t *)lengths->data)[b]
                                     : ((const int64_t *)lengths->data)[b];
}

bool ir_eval_check_lengths(const seqrt_tensor *lengths, const char *name, int64_t T,
                           seqrt_error *err) {
  for (int64_t b = 0; b < lengths->shape[0]; b++) {
    int64_t len = ir_eval_length(lengths, b);
    if (len < 1 || len > T)
      return ir_eval_fail(
          err, "length %" PRId64 " of row %" PRId64 " in '%s' is outside [1, %" PRId64 "]", len, b,
          name ? name : "?", T);
  }
  return true;
}

/* the lengths rule after step t of scan n (see run_scan): bout holds the body's results
 * of the step, s the scan's results */
static void apply_lengths(const ir_node *n, const seqrt_tensor *in, const seqrt_tensor *lengths,
                          int64_t t, seqrt_tensor *bout, slot *s) {
  int nover = (int)ir_attr_int(n, "nover"), nstate = (int)ir_attr_int(n, "nstate");
  int nemit = n->noutputs - nstate;
  bool reverse = ir_attr_int(n, "reverse") != 0;
  for (int64_t b = 0; b < lengths->shape[0]; b++) {
    int64_t len = ir_eval_length(lengths, b);
    if (t >= len) { /* inactive: zeros out, the state stays its initial one */
      for (int k = 0; k < nemit; k++) memset(row_of(&bout[k], b), 0, row_bytes(&bout[k]));
      for (int k = 0; k < nstate; k++)
        memcpy(row_of(&bout[nemit + k], b), row_of(&in[nover + k], b), row_bytes(&in[nover + k]));
    } else if (!reverse && t == len - 1) { /* the row's last step: its final state */
      for (int k = 0; k < nstate; k++)
        memcpy(row_of(&s[n->outputs[nemit + k]].t, b), row_of(&bout[nemit + k], b),
               row_bytes(&bout[nemit + k]));
    }
  }
}

/*
 * SCAN: the body once per step (chunk 1) or segment, t = 0..T-1 or reversed.
 * Over inputs are copied out one step at a time, states passed on, captures
 * given whole; each emit is written at its own step's place in its result,
 * one row per step or segment ([B, H] emits) or chunk rows ([B, chunk, H]).
 * With lengths (chunk 1), after each step the rows that are not active
 * (t >= lengths[b]) get their initial state back and emit zeros, and a
 * forward row's final state is taken at its last active step.
 */
static bool run_scan(const ir_graph *g, const ir_node *n, const run *r, const seqrt_tensor *in,
                     slot *s) {
  const ir_graph *b = n->body;
  int nover = (int)ir_attr_int(n, "nover"), nstate = (int)ir_attr_int(n, "nstate");
  int64_t C = ir_attr_int(n, "chunk");
  bool reverse = ir_attr_int(n, "reverse") != 0;
  int nin = n->ninputs, nout = n->noutputs, nemit = nout - nstate;
  int64_t T = in[0].shape[1];
  if (C < 1 || T % C != 0)
    return ir_eval_fail(r->err, "scan '%s': the sequence length %" PRId64
                        " is not a multiple of chunk %" PRId64, n->name ? n->name : "?", T, C);
  int64_t steps = T / C;
  const ir_attr *la = ir_get_attr(n, "lengths");
  const seqrt_tensor *lengths = la && la->i ? &in[nover + nstate] : NULL;
  if (lengths &&
      !ir_eval_check_lengths(lengths, g->values[n->inputs[nover + nstate]].name, T, r->err))
    return false;
  seqrt_tensor *bin = calloc((size_t)nin, sizeof *bin);
  seqrt_tensor *bout = calloc((size_t)nout, sizeof *bout);
  bool ok = bin && bout;
  if (!ok) ir_eval_fail(r->err, "out of memory");
  for (int i = 0; ok && i < nin; i++) {
    bin[i] = in[i];
    if (i < nover) { /* one step of [B, T, ...]: [B, ...] or [B, C, ...] */
      shape_of(&b->values[b->inputs[i]].type, r->syms, &bin[i]);
      bin[i].data = NULL;
      ok = alloc_data(&bin[i], r->err);
    } else if (i < nover + nstate) { /* the state, owned here from step to step */
      seqrt_tensor t = in[i];
      ok = copy_out(&t, &bin[i], r->err);
    }
  }
  for (int64_t j = 0; ok && j < steps; j++) {
    int64_t seg = reverse ? steps - 1 - j : j;
    for (int i = 0; i < nover; i++) {
      int64_t B = in[i].shape[0], row = seqrt_tensor_numel(&in[i]) / (B * (T ? T : 1));
      size_t len = (size_t)(C * row) * esize(&in[i]);
      for (int64_t bb = 0; bb < B; bb++)
        memcpy((char *)bin[i].data + (size_t)bb * len,
               (const char *)in[i].data + (size_t)((bb * T + seg * C) * row) * esize(&in[i]), len);
    }
    ok = run_graph(b, r, bin, bout);
    if (ok && lengths) apply_lengths(n, in, lengths, seg, bout, s);
    for (int k = 0; ok && k < nemit; k++) {
      seqrt_tensor *e = &bout[k], *o = &s[n->outputs[k]].t;
      int64_t rows = e->rank == o->rank ? C : 1; /* [B, C, ...] emits fill C rows */
      int64_t B = e->shape[0], row = seqrt_tensor_numel(e) / (B * rows);
      size_t len = (size_t)(rows * row) * esize(e);
      for (int64_t bb = 0; bb < B; bb++)
        memcpy((char *)o->data + (size_t)((bb * o->shape[1] + seg * rows) * row) * esize(e),
               (const char *)e->data + (size_t)bb * len, len);
    }
    for (int k = 0; k < nout && ok; k++) {
      if (k < nemit) {
        free(bout[k].data);
      } else {
        free(bin[nover + k - nemit].data);
        bin[nover + k - nemit].data = bout[k].data;
      }
      bout[k].data = NULL;
    }
  }
  for (int k = 0; ok && k < nstate && !(lengths && !reverse); k++) {
    seqrt_tensor *o = &s[n->outputs[nemit + k]].t;
    memcpy(o->data, bin[nover + k].data, (size_t)seqrt_tensor_numel(o) * esize(o));
  }
  for (int i = 0; bin && i < nover + nstate && i < nin; i++) free(bin[i].data);
  free(bin);
  free(bout);
  return ok;
}

/*
 * state_read: the kept state once the session has run, else init.
 * state_write: x becomes the kept state. cache_write: x's rows [B, H, T, dh]
 * go to the rows (p + t) mod S of the kept cache, the last min(T, S) of them.
 * The writes are the graph's last nodes, so a run that fails keeps the state
 * it had.
 */
static bool run_state(const ir_graph *g, const ir_node *n, const run *r, slot *s) {
  seqrt_tensor *kept;
  if (!kept_state(g, n->inputs[0], r, &kept)) return false;
  const seqrt_tensor *x = &s[n->inputs[1]].t;
  if (n->op == IR_OP_STATE_WRITE) {
    memcpy(kept->data, x->data, (size_t)seqrt_tensor_numel(x) * esize(x));
    return true;
  }
  if (n->op == IR_OP_CACHE_WRITE) {
    int64_t BH = x->shape[0] * x->shape[1], T = x->shape[2], dh = x->shape[3];
    int64_t S = kept->shape[2], p = r->session->position;
    for (int64_t bh = 0; bh < BH; bh++)
      for (int64_t t = T > S ? T - S : 0; t < T; t++)
        memcpy((float *)kept->data + (bh * S + (p + t) % S) * dh,
               (const float *)x->data + (bh * T + t) * dh, sizeof(float) * (size_t)dh);
    return true;
  }
  slot *o = &s[n->outputs[0]];
  shape_of(&g->values[n->outputs[0]].type, r->syms, &o->t);
  const seqrt_tensor *from = r->session->runs > 0 ? kept : x;
  if (!alloc_data(&o->t, r->err)) return false;
  o->owned = true;
  memcpy(o->t.data, from->data, (size_t)seqrt_tensor_numel(&o->t) * esize(&o->t));
  return true;
}

/* node n of g: results allocated from their types, then the kernel or the body */
static bool run_node(const ir_graph *g, const ir_node *n, const run *r, slot *s) {
  if (n->op == IR_OP_STATE_READ || (ir_ops[n->op].traits & IR_T_EFFECT))
    return run_state(g, n, r, s);
  seqrt_tensor *in = malloc(sizeof(seqrt_tensor) * (size_t)(n->ninputs ? n->ninputs : 1));
  if (!in) return ir_eval_fail(r->err, "out of memory");
  bool ok = true;
  for (int k = 0; k < n->ninputs && ok; k++) {
    in[k] = s[n->inputs[k]].t;
    /* an unverified graph may read a value nothing computed: never follow NULL */
    if (!in[k].data && seqrt_tensor_numel(&in[k]) != 0)
      ok = ir_eval_fail(r->err, "internal error: node '%s' reads %%%d, which has no value",
                        n->name ? n->name : "?", n->inputs[k]);
  }
  for (int k = 0; k < n->noutputs && ok; k++) {
    slot *o = &s[n->outputs[k]];
    shape_of(&g->values[n->outputs[k]].type, r->syms, &o->t);
    if (n->op != IR_OP_FUSED) ok = o->owned = alloc_data(&o->t, r->err);
  }
  if (ok && n->op == IR_OP_FUSED) {
    slot *o = &s[n->outputs[0]];
    seqrt_tensor want = o->t, got;
    ok = run_graph(n->body, r, in, &got);
    if (ok) {
      o->t = got;
      o->owned = true;
      ok = check_given("internal error: the result of fused node", n->name, &want, &got, r->err);
    }
  } else if (ok && n->op == IR_OP_SCAN) {
    ok = run_scan(g, n, r, in, s);
  } else if (ok && (n->op == IR_OP_RNN || n->op == IR_OP_LSTM || n->op == IR_OP_GRU)) {
    seqrt_tensor outs[4];
    IR_ASSERT(n->noutputs <= 4);
    for (int k = 0; k < n->noutputs; k++) outs[k] = s[n->outputs[k]].t;
    ok = ir_eval_recurrent(g, n, in, outs, r->err);
  } else if (ok && n->op == IR_OP_TRANSFORMER_XL) {
    seqrt_tensor outs[2] = {s[n->outputs[0]].t, s[n->outputs[1]].t};
    ok = ir_eval_xl(n, in, r->session->position, outs, r->err);
  } else if (ok && n->op == IR_OP_T5_ATTENTION) {
    seqrt_tensor outs[3];
    IR_ASSERT(n->noutputs <= 3);
    for (int k = 0; k < n->noutputs; k++) outs[k] = s[n->outputs[k]].t;
    ok = ir_eval_t5_attention(g, n, in, r->session->position, outs, r->err);
  } else if (ok && ir_is_tf_layer(n->op)) {
    seqrt_tensor outs[3];
    IR_ASSERT(n->noutputs <= 3);
    for (int k = 0; k < n->noutputs; k++) outs[k] = s[n->outputs[k]].t;
    ok = ir_eval_tf_layer(g, n, in, r->session->position, outs, r->err);
  } else if (ok) {
    ok = ir_eval_kernel(g, n, in, r->session->position, &s[n->outputs[0]].t, r->err);
  }
  free(in);
  return ok;
}

static void release(slot *s) {
  if (s->owned) free(s->t.data);
  s->owned = false;
  s->t.data = NULL;
}

/*
 * Runs g with inputs[i] for g->inputs[i]; outputs[i] receives a fresh copy of
 * output i. On failure no output is left allocated.
 */
static bool run_graph(const ir_graph *g, const run *r, const seqrt_tensor *inputs,
                      seqrt_tensor *outputs) {
  slot *s = calloc((size_t)(g->nvalues ? g->nvalues : 1), sizeof(slot));
  int *uses = ir_use_counts(g);
  if (!s) {
    free(uses);
    return ir_eval_fail(r->err, "out of memory");
  }
  bool ok = bind_leaves(g, r, inputs, uses, s);
  ir_session *ss = r->session->g == g ? r->session : NULL; /* the top graph's session */
  for (int i = 0; i < g->nnodes && ok; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    if (ss && ss->once[i] && ss->runs > 0) { /* what the first run left */
      for (int k = 0; k < n->noutputs; k++) s[n->outputs[k]].t = ss->state[n->outputs[k]];
    } else {
      ok = run_node(g, n, r, s);
      for (int k = 0; ok && ss && ss->once[i] && k < n->noutputs; k++)
        ok = keep_result(ss, &s[n->outputs[k]].t, n->outputs[k], r->err);
    }
    for (int k = 0; k < n->ninputs; k++)
      if (--uses[n->inputs[k]] == 0) release(&s[n->inputs[k]]);
    for (int k = 0; k < n->noutputs; k++)
      if (uses[n->outputs[k]] == 0) release(&s[n->outputs[k]]);
  }
  int made = 0;
  for (; made < g->noutputs && ok; made++)
    ok = copy_out(&s[g->outputs[made].value].t, &outputs[made], r->err);
  if (!ok)
    for (int i = 0; i < made - 1; i++) {
      free(outputs[i].data);
      outputs[i].data = NULL;
    }
  for (int v = 0; v < g->nvalues; v++) release(&s[v]);
  free(s);
  free(uses);
  return ok;
}

ir_session *ir_session_new(const ir_graph *g) {
  ir_session *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->g = g;
  s->state = calloc((size_t)g->nvalues + 1, sizeof *s->state);
  s->static_only = calloc(IR_MAX_SYMS, sizeof *s->static_only);
  bool *dynamic = calloc(IR_MAX_SYMS, sizeof *dynamic);
  if (!s->state || !s->static_only || !dynamic) {
    free(dynamic);
    ir_session_free(s);
    return NULL;
  }
  s->once = ir_once_nodes(g);
  for (int i = 0; i < g->ninputs; i++) {
    const ir_value *in = &g->values[g->inputs[i]];
    for (int k = 0; k < in->type.rank; k++)
      for (int j = 0; j < IR_DIM_SYMS; j++)
        if (in->type.dims[k].sym[j] >= 0)
          (in->is_static ? s->static_only : dynamic)[in->type.dims[k].sym[j]] = true;
  }
  for (int i = 0; i < IR_MAX_SYMS; i++) s->static_only[i] = s->static_only[i] && !dynamic[i];
  free(dynamic);
  return s;
}

void ir_session_reset(ir_session *s) {
  for (int v = 0; v < s->g->nvalues; v++) {
    free(s->state[v].data);
    memset(&s->state[v], 0, sizeof s->state[v]);
  }
  s->position = 0;
  s->runs = 0;
}

void ir_session_free(ir_session *s) {
  if (!s) return;
  if (s->state) ir_session_reset(s);
  free(s->state);
  free(s->once);
  free(s->static_only);
  free(s);
}

int64_t ir_session_position(const ir_session *s) { return s->position; }

bool ir_eval(const ir_graph *g, const int64_t *syms, const seqrt_tensor *inputs,
             ir_param_fn get_param, void *user, seqrt_tensor *outputs, seqrt_error *err) {
  ir_session *s = ir_session_new(g);
  if (!s) return ir_eval_fail(err, "out of memory");
  bool ok = ir_eval_run(s, syms, inputs, get_param, user, outputs, err);
  ir_session_free(s);
  return ok;
}

bool ir_eval_run(ir_session *session, const int64_t *syms, const seqrt_tensor *inputs,
                 ir_param_fn get_param, void *user, seqrt_tensor *outputs, seqrt_error *err) {
  const ir_graph *g = session->g;
  for (int i = 0; i < g->nsyms; i++)
    if (!syms || syms[i] < 0)
      return ir_eval_fail(err, "symbol '%s' has no value", g->syms[i].name);
  /* derived symbols from the base ones: callers may pass base values only; the
   * dims of static inputs only keep the first run's values */
  int64_t all[IR_MAX_SYMS] = {0};
  memcpy(all, syms ? syms : all, sizeof(int64_t) * (size_t)g->nsyms);
  for (int i = 0; session->runs > 0 && i < g->nsyms; i++)
    if (session->static_only[i]) all[i] = session->kept_syms[i];
  ir_syms_complete(g, all);
  for (int s = g->nsyms; s < g->nsyms + g->nderived; s++)
    if (ir_sym_too_small(g, s, all)) {
      char deps[128];
      return ir_eval_fail(err, "%s %s is %" PRId64 " for %s", g->syms[s].what, g->syms[s].name,
                          all[s], ir_sym_inputs_str(g, s, all, deps, sizeof deps));
    }
  run r = {session, all, get_param, user, err};
  if (!run_graph(g, &r, inputs, outputs)) return false;
  if (session->runs++ == 0) memcpy(session->kept_syms, all, sizeof all);
  if (g->streams && g->position_sym >= 0) session->position += all[g->position_sym];
  return true;
}
