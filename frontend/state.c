/*
 * state.c: what a session keeps between runs (SPEC 9), as the frontend
 * lowers it.
 *
 * `carry: true` on rnn, lstm, gru and scan: a carried recurrence starts each
 * run from the final state of the session's previous run: its initial state
 * becomes
 *
 *   %s = state NODE.h_n              (a STATE value: the session keeps it)
 *   %r = state_read %s, %init        (the kept state once the session ran, else init)
 *
 * and its final state is written back by a state_write node.
 *
 * `cache: S` on causal self-attention: the layer node reads two STATE values,
 * its key and value caches [B, H, S, dh], and gives this run's keys and
 * values as results 1 and 2, which cache_write nodes keep.
 *
 * Every write is a node that lowering appends after every other node, so that
 * a run that fails before the end keeps the state it had (codegen checks for
 * a failure before the writes).
 */
#include <stdlib.h>
#include <string.h>

#include "fe.h"

/* records a state write (op, state, value) for fe_finish_state */
static void keep(fe_ctx *L, ir_op op, int state, int value) {
  if (L->nwrites == L->cap_writes) {
    L->cap_writes = L->cap_writes ? 2 * L->cap_writes : 8;
    L->writes = realloc(L->writes, sizeof *L->writes * (size_t)L->cap_writes);
    IR_ASSERT(L->writes);
  }
  L->writes[L->nwrites++] = (fe_write){op, state, value};
}

bool fe_carry_attr(fe_ctx *L, const char *conflict, bool has_conflict, bool *carry) {
  static const bool no = false;
  if (!fe_bool(L, "carry", &no, carry)) return false;
  if (!*carry) return true;
  const fe_ast *a = fe_attr(L, "carry");
  if (L->outer) {
    ir_error(L->d, a->loc,
             "'%s' carries its state, but it is inside a scan body: only top-level nodes carry",
             fe_cur_name(L));
    return false;
  }
  if (has_conflict) {
    ir_error(L->d, a->loc,
             "'%s' cannot carry its state with %s: true (a reverse pass cannot stream)",
             fe_cur_name(L), conflict);
    return false;
  }
  return true;
}

/* a graph input whose shape has symbol sym, or -1 */
static int input_with(const ir_graph *g, int sym) {
  for (int i = 0; i < g->ninputs; i++) {
    const ir_type *t = &g->values[g->inputs[i]].type;
    for (int k = 0; k < t->rank; k++)
      if (t->dims[k].sym[0] == sym || t->dims[k].sym[1] == sym) return g->inputs[i];
  }
  return -1;
}

bool fe_cache_attr(fe_ctx *L, bool causal, int64_t window, ir_dim *S) {
  *S = ir_dim_const(0);
  const fe_ast *a = fe_attr(L, "cache");
  if (!a || fe_is_null(a)) return true;
  int64_t n;
  int sym = a->kind == FE_SCALAR && !a->quoted ? ir_graph_find_sym(L->g, a->text) : -1;
  if (sym >= 0) {
    *S = ir_dim_sym(sym);
    n = L->g->syms[sym].def_value;
  } else if (fe_parse_int(a, &n) && n > 0) {
    *S = ir_dim_const(n);
  } else {
    ir_error(L->d, a->loc, "attribute 'cache' of '%s' must be a positive integer or a dim name",
             fe_cur_name(L));
    return false;
  }
  const char *why = NULL;
  char buf[200];
  int in = sym >= 0 ? input_with(L->g, sym) : -1;
  if (in >= 0) {
    snprintf(buf, sizeof buf,
             "dim %s is in the shape of input '%s', so it changes from run to run; give the "
             "cache a dim of its own",
             a->text, L->g->values[in].name);
    why = buf;
  } else if (L->outer) {
    why = "it is inside a scan body: only top-level nodes keep a cache";
  } else if (!causal) {
    why = "only causal self-attention keeps its keys (give causal: true)";
  } else if (window >= 0 && n < window) {
    snprintf(buf, sizeof buf, "a cache of %lld positions cannot hold a window of %lld", (long long)n,
             (long long)window);
    why = buf;
  }
  if (why) {
    ir_error(L->d, a->loc, "'%s' cannot keep a cache: %s", fe_cur_name(L), why);
    return false;
  }
  return true;
}

void fe_cache_inputs(fe_ctx *L, const char *name, int x, int64_t H, int64_t E, ir_dim S,
                     int *inputs) {
  const ir_type *xt = &L->g->values[x].type;
  ir_type t = {.dtype = IR_F32, .rank = 4, .dims = {xt->dims[0], ir_dim_const(H), S,
                                                   ir_dim_const(E / H)}};
  char full[512];
  snprintf(full, sizeof full, "%s.k_cache", name);
  inputs[0] = ir_add_state(L->g, full, t, fe_cur_loc(L));
  snprintf(full, sizeof full, "%s.v_cache", name);
  inputs[1] = ir_add_state(L->g, full, t, fe_cur_loc(L));
  L->g->streams = true;
}

void fe_cache_results(fe_ctx *L, const ir_node *n, const int *caches) {
  for (int k = 0; k < 2; k++) keep(L, IR_OP_CACHE_WRITE, caches[k], n->outputs[1 + k]);
}

int fe_carry_in(fe_ctx *L, const char *what, int init) {
  ir_graph *g = L->g;
  char name[256];
  snprintf(name, sizeof name, "%s.%s", fe_cur_name(L), what);
  int state = ir_add_state(g, name, g->values[init].type, fe_cur_loc(L));
  int in[2] = {state, init};
  snprintf(name, sizeof name, "%s.%s.carried", fe_cur_name(L), what);
  int n = ir_add_node(g, IR_OP_STATE_READ, name, in, 2, fe_cur_loc(L));
  if (!ir_infer_node(g, n, L->d)) return -1;
  g->streams = true;
  return g->nodes[n].outputs[0];
}

void fe_carry_out(fe_ctx *L, int carried, int final) {
  const ir_graph *g = L->g;
  keep(L, IR_OP_STATE_WRITE, g->nodes[g->values[carried].def].inputs[0], final);
}

bool fe_finish_state(fe_ctx *L) {
  bool ok = true;
  for (int i = 0; i < L->nwrites; i++) {
    int in[2] = {L->writes[i].state, L->writes[i].value};
    const ir_value *st = &L->g->values[in[0]];
    int n = ir_add_node(L->g, L->writes[i].op, st->name, in, 2, st->loc);
    ok &= ir_infer_node(L->g, n, L->d);
  }
  free(L->writes);
  L->writes = NULL;
  L->nwrites = L->cap_writes = 0;
  return ok;
}

/* whether value v of g is made by a state_read: a carried initial state */
static bool carried(const ir_graph *g, int v) {
  int d = g->values[v].def;
  return d >= 0 && g->nodes[d].op == IR_OP_STATE_READ;
}

/* what makes node n of a streaming model read its input's whole position
 * axis at once, or NULL */
static const char *whole_axis(const ir_graph *g, const ir_node *n) {
  const ir_type *x = n->ninputs ? &g->values[n->inputs[0]].type : NULL;
  bool along = x && ir_at_position(g, x);
  switch (n->op) {
  case IR_OP_RNN:
  case IR_OP_LSTM:
  case IR_OP_GRU:
    if (ir_attr_int(n, "bidirectional")) return "it is bidirectional";
    return along && !carried(g, n->inputs[1]) ? "it does not carry its state" : NULL;
  case IR_OP_SCAN: {
    int nover = (int)ir_attr_int(n, "nover"), nstate = (int)ir_attr_int(n, "nstate");
    if (!along || nstate == 0 || carried(g, n->inputs[nover])) return NULL;
    return ir_attr_int(n, "reverse") ? "it runs in reverse" : "it does not carry its state";
  }
  case IR_OP_MULTIHEAD_ATTENTION:
  case IR_OP_TRANSFORMER_ENCODER_LAYER:
  case IR_OP_TRANSFORMER_DECODER_LAYER:
    return along && ir_tf_layout_of(n).cache < 0 ? "its self-attention keeps no cache" : NULL;
  case IR_OP_MEAN:
    return along && ir_attr_int(n, "dim") == 1 ? "it averages over the position dim" : NULL;
  case IR_OP_ARGMAX:
    return along && ir_attr_int(n, "dim") == 1 ? "it looks for the largest along the position dim"
                                               : NULL;
  case IR_OP_CONV1D:
    return along ? "its kernel reads neighbouring positions" : NULL;
  default:
    return NULL;
  }
}

void fe_warn_pieces(const ir_graph *g, ir_diags *d) {
  if (!g->streams) return;
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *n = &g->nodes[i];
    const char *why = n->dead ? NULL : whole_axis(g, n);
    if (why)
      ir_warning(d, n->loc,
                 "'%s' reads the whole position axis at once (%s): run in pieces, this "
                 "streaming model gives other numbers than run whole",
                 n->name, why);
  }
}
