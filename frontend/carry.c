/*
 * carry.c: `carry: true` on rnn, lstm, gru and scan (SPEC 9). A carried
 * recurrence starts each run from the final state of the session's previous
 * run: its initial state becomes
 *
 *   %s = state NODE.h_n              (a STATE value: the session keeps it)
 *   %r = state_read %s, %init        (the kept state once the session ran, else init)
 *
 * and its final state is written back by a state_write node that lowering
 * appends after every other node, so that a run that fails before the end
 * keeps the state it had (codegen checks for a failure before the writes).
 */
#include <stdlib.h>
#include <string.h>

#include "fe.h"

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
  int state = g->nodes[g->values[carried].def].inputs[0];
  if (L->ncarries == L->cap_carries) {
    L->cap_carries = L->cap_carries ? 2 * L->cap_carries : 8;
    L->carries = realloc(L->carries, sizeof(int) * 2 * (size_t)L->cap_carries);
    IR_ASSERT(L->carries);
  }
  L->carries[2 * L->ncarries] = state;
  L->carries[2 * L->ncarries + 1] = final;
  L->ncarries++;
}

bool fe_finish_carries(fe_ctx *L) {
  bool ok = true;
  for (int i = 0; i < L->ncarries; i++) {
    int in[2] = {L->carries[2 * i], L->carries[2 * i + 1]};
    const ir_value *st = &L->g->values[in[0]];
    int n = ir_add_node(L->g, IR_OP_STATE_WRITE, st->name, in, 2, st->loc);
    ok &= ir_infer_node(L->g, n, L->d);
  }
  free(L->carries);
  L->carries = NULL;
  L->ncarries = L->cap_carries = 0;
  return ok;
}
