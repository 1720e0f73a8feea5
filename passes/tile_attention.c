/*
 * tile_attention.c: attention written with primitives becomes one `attention`
 * node, and every attention node gets the tile sizes that codegen's tiled
 * kernel (codegen/attention.c) reads.
 *
 *   s = MATMUL(q, k, trans_b 1)  or  MATMUL(q, TRANSPOSE(k, swap last two))
 *   s = s * c  or  s / c          (optional; c a scalar constant; after fuse
 *                                  this is a FUSED body [matmul, mul|div])
 *   p = SOFTMAX(s, dim -1)
 *   o = MATMUL(p, v)
 *     ->  o = RESHAPE(ATTENTION(q', k', v', scale c or 1/c), o's type)
 *
 * with q, k, v of rank 3 ([B, T, d], viewed as [B, 1, T, d]) or 4, the same
 * batch dims and head dim, and s and p used only by the chain. The chain's
 * Tq x Tk matrices then never exist.
 *
 * Tiles: tile_q query rows (64 when no mask skips tiles, so that each key
 * tile loaded serves more rows; 32 under a causal or window mask, whose
 * ragged tiles balance better small; fewer when the head dim is large, to
 * keep the tile_q x dh accumulator small) and tile_k key columns (128, at most
 * 256, which the kernel needs; shorter when Tk, a cache's S or the window is
 * short).
 * Attributes already set (tests set them) are kept.
 *
 * A node whose query may be one row (a decode step) also gets `splits` and
 * the partials result, the scratch of codegen's split-K (add_partials).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes.h"

/* parts a split decode step cuts its keys into at most (the partials hold
 * this many; a run uses fewer when the team or the keys are fewer) */
#define ATTENTION_SPLITS 8

static ir_node *def_of(ir_graph *g, int v) {
  int d = g->values[v].def;
  return d >= 0 && !g->nodes[d].dead ? &g->nodes[d] : NULL;
}

static bool scalar_const(const ir_graph *g, int v, double *out) {
  const ir_value *x = &g->values[v];
  if (x->kind != IR_VAL_CONST || x->type.dtype != IR_F32) return false;
  for (int i = 0; i < x->type.rank; i++)
    if (!ir_dim_is_const(x->type.dims[i]) || x->type.dims[i].coef != 1) return false;
  *out = *(const float *)x->data;
  return true;
}

/* k from the second operand of the scores matmul: k itself when trans_b, else a transpose's input
 */
static int key_of(ir_graph *g, const ir_node *mm, int b) {
  if (ir_attr_int(mm, "trans_b")) return b;
  ir_node *t = def_of(g, b);
  if (!t || t->op != IR_OP_TRANSPOSE) return -1;
  const ir_attr *p = ir_get_attr(t, "perm");
  int r = p->nints;
  for (int i = 0; i < r - 2; i++)
    if (p->ints[i] != i) return -1;
  return p->ints[r - 2] == r - 1 && p->ints[r - 1] == r - 2 ? t->inputs[0] : -1;
}

/* q, k and the scale of the scores value s, or false; *mm_node: a separate matmul node
 * feeding an unfused scale, which dies too (-1 when none) */
static bool scores(ir_graph *g, int s, const int *uses, int *q, int *k, double *scale,
                   int *mm_node) {
  ir_node *n = def_of(g, s);
  if (!n) return false;
  *scale = 1;
  *mm_node = -1;
  if (n->op == IR_OP_MATMUL) {
    *q = n->inputs[0];
    *k = key_of(g, n, n->inputs[1]);
    return *k >= 0;
  }
  if ((n->op == IR_OP_MUL || n->op == IR_OP_DIV) && uses[n->inputs[0]] == 1) {
    double c;
    ir_node *mm = def_of(g, n->inputs[0]);
    if (!mm || mm->op != IR_OP_MATMUL || !scalar_const(g, n->inputs[1], &c) || c == 0) return false;
    *scale = n->op == IR_OP_MUL ? c : 1 / c;
    *q = mm->inputs[0];
    *k = key_of(g, mm, mm->inputs[1]);
    *mm_node = g->values[n->inputs[0]].def;
    return *k >= 0;
  }
  if (n->op != IR_OP_FUSED) return false;
  /* body: inputs [a, b, c?], nodes MATMUL(a, b) then MUL/DIV(mm, c) */
  ir_graph *body = n->body;
  int live[4], nl = 0;
  for (int i = 0; i < body->nnodes && nl < 3; i++)
    if (!body->nodes[i].dead) live[nl++] = i;
  if (nl != 2 || body->noutputs != 1) return false;
  ir_node *mm = &body->nodes[live[0]], *op = &body->nodes[live[1]];
  if (mm->op != IR_OP_MATMUL || (op->op != IR_OP_MUL && op->op != IR_OP_DIV)) return false;
  if (body->outputs[0].value != op->outputs[0] || op->inputs[0] != mm->outputs[0]) return false;
  /* the operands must be body inputs (or a body constant): map them to the node's inputs */
  int ops[3] = {mm->inputs[0], mm->inputs[1], op->inputs[1]};
  double c;
  bool inner_const = scalar_const(body, ops[2], &c);
  for (int j = 0; j < 3; j++) {
    int outer = -1;
    for (int i = 0; i < body->ninputs; i++)
      if (body->inputs[i] == ops[j]) outer = n->inputs[i];
    if (outer < 0 && !(j == 2 && inner_const)) return false;
    ops[j] = outer;
  }
  if (!inner_const && !scalar_const(g, ops[2], &c)) return false;
  if (c == 0) return false;
  *scale = op->op == IR_OP_MUL ? c : 1 / c;
  *q = ops[0];
  *k = key_of(g, mm, ops[1]);
  return *k >= 0;
}

/* q, k, v of rank 3 or 4 with equal batch dims, k and v of one shape, one head dim */
static bool shapes_fit(const ir_graph *g, int q, int k, int v) {
  const ir_type *a = &g->values[q].type, *b = &g->values[k].type, *c = &g->values[v].type;
  if (a->rank < 3 || a->rank > 4 || !ir_type_eq(b, c) || a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (i != a->rank - 2 && !ir_dim_eq(a->dims[i], b->dims[i])) return false;
  return ir_dim_is_const(a->dims[a->rank - 1]);
}

/* a RESHAPE of v to rank 4 ([B, 1, T, d] from rank 3) inserted at pos; v itself at rank 4 */
static int as4(ir_graph *g, int *pos, int v, const char *name, ir_loc loc, ir_diags *d) {
  const ir_type *t = &g->values[v].type;
  if (t->rank == 4) return v;
  int n = ir_insert_node(g, (*pos)++, IR_OP_RESHAPE, name, &v, 1, loc);
  ir_type r = {
      .dtype = IR_F32, .rank = 4, .dims = {t->dims[0], ir_dim_const(1), t->dims[1], t->dims[2]}};
  g->values[g->nodes[n].outputs[0]].type = r;
  ir_infer_node(g, n, d);
  return g->nodes[n].outputs[0];
}

/* rewrites the chain ending at the matmul node i; true if it did */
static bool match(ir_graph *g, int i, const int *uses, ir_diags *d) {
  ir_node *o = &g->nodes[i];
  if (o->op != IR_OP_MATMUL || ir_attr_int(o, "trans_b")) return false;
  int p = o->inputs[0], v = o->inputs[1];
  ir_node *sm = def_of(g, p);
  if (!sm || sm->op != IR_OP_SOFTMAX || uses[p] != 1) return false;
  int s = sm->inputs[0];
  if (ir_attr_int(sm, "dim") != g->values[s].type.rank - 1 || uses[s] != 1) return false;
  int q, k;
  double scale;
  int mm_node;
  if (!scores(g, s, uses, &q, &k, &scale, &mm_node) || !shapes_fit(g, q, k, v)) return false;

  int sm_node = g->values[p].def, s_node = g->values[s].def;
  int old = o->outputs[0];
  const char *name = o->name;
  ir_loc loc = o->loc;
  ir_type out_t = g->values[old].type;
  int pos = i;
  char nm[256];
  snprintf(nm, sizeof nm, "%s.q4", name);
  int in[3] = {as4(g, &pos, q, nm, loc, d), -1, -1};
  snprintf(nm, sizeof nm, "%s.k4", name);
  in[1] = as4(g, &pos, k, nm, loc, d);
  snprintf(nm, sizeof nm, "%s.v4", name);
  in[2] = as4(g, &pos, v, nm, loc, d);
  bool rank3 = out_t.rank == 3;
  int a = ir_insert_node_n(g, pos++, IR_OP_ATTENTION, rank3 ? "attention" : name, in, 3, 1, loc);
  if (rank3) {
    snprintf(nm, sizeof nm, "%s.attention", name);
    g->nodes[a].name = ir_strdup(g, nm);
  }
  ir_set_attr_float(g, a, "scale", scale);
  ir_set_attr_int(g, a, "causal", 0);
  ir_set_attr_int(g, a, "window", -1);
  ir_infer_node(g, a, d);
  int res = g->nodes[a].outputs[0];
  if (rank3) {
    int r = ir_insert_node(g, pos++, IR_OP_RESHAPE, name, &res, 1, loc);
    g->values[g->nodes[r].outputs[0]].type = out_t;
    ir_infer_node(g, r, d);
    res = g->nodes[r].outputs[0];
  }
  /* the old matmul now sits at pos; softmax and scores are before the insertions */
  g->nodes[pos].dead = true;
  g->nodes[sm_node].dead = true;
  g->nodes[s_node].dead = true;
  if (mm_node >= 0) g->nodes[mm_node].dead = true;
  g->values[res].name = g->values[old].name;
  ir_replace_uses(g, old, res);
  return true;
}

static void choose_tiles(ir_graph *g, ir_node *n, const int64_t *syms, int64_t tile_q,
                         int64_t tile_k) {
  int idx = (int)(n - g->nodes);
  const ir_type *q = &g->values[n->inputs[0]].type, *k = &g->values[n->inputs[1]].type;
  ir_attn_layout at = ir_attn_layout_of(n);
  if (at.cache >= 0) k = &g->values[n->inputs[at.cache]].type; /* a cache: its S keys, at most */
  int64_t dh = ir_dim_is_const(q->dims[3]) ? q->dims[3].coef : 64;
  if (!ir_get_attr(n, "tile_q")) {
    int64_t tq = tile_q;
    while (tq > 4 && tq * dh > 8192) tq /= 2;
    ir_set_attr_int(g, idx, "tile_q", tq);
  }
  if (!ir_get_attr(n, "tile_k")) {
    int64_t tk = tile_k, w = ir_attr_int(n, "window");
    if (w >= 0 && 2 * w + 1 < tk) tk = (2 * w + 16) / 16 * 16;
    int64_t T = ir_dim_is_const(k->dims[2]) ? k->dims[2].coef
                : syms                      ? ir_dim_eval(k->dims[2], syms)
                                            : tk;
    if (T < tk) tk = (T + 15) / 16 * 16;
    if (tk < 16) tk = 16;
    ir_set_attr_int(g, idx, "tile_k", tk > 256 ? 256 : tk);
  }
}

/*
 * A decode step (one query row a batch and head) has too few work items for
 * the team when B * H is small, and a long cache makes each one long: such a
 * node may cut its keys into parts run by different threads (split-K), whose
 * partial softmax states it then combines, so it gets the partials result as
 * its scratch. That is a node of the top graph (the kernel waits for the
 * whole team between its halves) whose query rows are not known to be more
 * than one, with a constant head dim. Attributes already set are kept.
 */
static bool add_partials(ir_graph *g, int idx, ir_diags *d) {
  ir_node *n = &g->nodes[idx];
  const ir_type *q = &g->values[n->inputs[0]].type;
  bool rows_one = !ir_dim_is_const(q->dims[2]) || q->dims[2].coef == 1;
  if (g->parent || n->noutputs != 1 || ir_get_attr(n, "splits") || !rows_one ||
      !ir_dim_is_const(q->dims[3]))
    return false;
  ir_set_attr_int(g, idx, "splits", ATTENTION_SPLITS);
  char name[256];
  snprintf(name, sizeof name, "%s.partials", n->name);
  ir_add_result(g, idx, name);
  ir_infer_node(g, idx, d);
  return true;
}

bool pass_tile_attention(ir_graph *g, pass_ctx *ctx) {
  ir_diags local;
  ir_diags *d = pass_diags(ctx, &local);
  bool changed = false;
  int *uses = ir_use_counts(g);
  for (int i = 0; i < g->nnodes; i++) {
    if (g->nodes[i].dead || !match(g, i, uses, d)) continue;
    changed = true;
    free(uses);
    uses = ir_use_counts(g);
  }
  free(uses);
  if (changed) { /* the transposes of k that only the chains read */
    uses = ir_use_counts(g);
    for (int i = g->nnodes - 1; i >= 0; i--) {
      ir_node *n = &g->nodes[i];
      if (!n->dead && n->op == IR_OP_TRANSPOSE && uses[n->outputs[0]] == 0) {
        n->dead = true;
        uses[n->inputs[0]]--;
      }
    }
    free(uses);
    ir_graph_compact(g);
  }
  for (int i = 0; i < g->nnodes; i++) {
    ir_node *n = &g->nodes[i];
    if (n->dead || n->op != IR_OP_ATTENTION) continue;
    if (!ir_get_attr(n, "tile_q") || !ir_get_attr(n, "tile_k")) changed = true;
    bool masked = ir_attr_int(n, "causal") != 0 || ir_attr_int(n, "window") >= 0;
    choose_tiles(g, n, ctx->syms, masked ? 32 : 64, 128);
    if (add_partials(g, i, d)) changed = true;
  }
  return changed;
}
