/*
 * decompose.c: layer ops to primitives.
 *
 *   LINEAR(x, W, b?)  ->  Wt = TRANSPOSE(W, perm [1, 0])
 *                         mm = MATMUL(x, Wt, trans_b 0)
 *                         y  = ADD(mm, b)                  (with a bias)
 *                         (x of rank 1: RESHAPE to [1, in] first, back to [out] last)
 *   DROPOUT(x)        ->  x                                (identity at inference)
 *   RNN, LSTM, GRU    ->  SCANs, one per layer and direction (decompose_rnn.c)
 *   MULTIHEAD_ATTENTION, TRANSFORMER_ENCODER_LAYER, TRANSFORMER_DECODER_LAYER
 *                     ->  LINEARs, RESHAPE, TRANSPOSE, SELECT, ATTENTION, LAYER_NORM,
 *                         ADD, RELU or GELU (decompose_attention.c)
 *   T5_ATTENTION      ->  CONCAT (weights), LINEARs, RESHAPE, TRANSPOSE, SELECT, EMBEDDING of
 *                         constant buckets (the position bias table), ATTENTION
 *                         (decompose_attention.c)
 *   MEMORY_WRITE      ->  LINEARs, RESHAPE, TRANSPOSE, SELECT, SLICE, MATMUL, CONCAT,
 *                         SOFTMAX, ADD, MUL, RMS_NORM (decompose_memory.c)
 *
 * This is the one place where layers become primitives: the frontend emits
 * every layer op as one node.
 *
 * The transpose reads only the weight, so plan_memory runs it once at session
 * start and the GEMM kernel sees B row-major [in, out]. The last new node keeps
 * the layer's name and position and its result the layer result's name, so
 * messages and model outputs read as the user wrote them. Bodies (FUSED, later
 * scan) are decomposed too.
 */
#include <stdio.h>

#include "passes.h"

/* inserts op at pos with a name made of base and suffix; infers its type */
static int insert(ir_graph *g, int pos, ir_op op, const char *base, const char *suffix,
                  const int *inputs, int ninputs, ir_loc loc) {
  char name[256];
  snprintf(name, sizeof name, "%s%s", base ? base : "", suffix);
  return ir_insert_node(g, pos, op, name, inputs, ninputs, loc);
}

/* inserts a RESHAPE of v to type t (a view: no copy) and returns its result */
static int reshape(ir_graph *g, int pos, const char *name, const char *suffix, int v, ir_type t,
                   ir_loc loc, ir_diags *d) {
  int r = insert(g, pos, IR_OP_RESHAPE, name, suffix, &v, 1, loc);
  g->values[g->nodes[r].outputs[0]].type = t;
  ir_infer_node(g, r, d);
  return g->nodes[r].outputs[0];
}

/*
 * Expands the LINEAR at node i; returns the index of the node after it. An
 * input of rank 1 (PyTorch allows it, MATMUL does not) is viewed as one row
 * [1, in] and the result viewed back as [out].
 */
static int expand_linear(ir_graph *g, int i, ir_diags *d) {
  ir_node *lin = &g->nodes[i];
  int x = lin->inputs[0], w = lin->inputs[1];
  int b = lin->ninputs > 2 ? lin->inputs[2] : -1;
  int old = lin->outputs[0];
  const char *name = lin->name;
  ir_loc loc = lin->loc;
  bool bias = b >= 0, vec = g->values[x].type.rank == 1;

  int pos = i;
  if (vec) {
    ir_type row = g->values[x].type;
    row.rank = 2;
    row.dims[1] = row.dims[0];
    row.dims[0] = ir_dim_const(1);
    x = reshape(g, pos++, name, ".row", x, row, loc, d);
  }
  int t = insert(g, pos++, IR_OP_TRANSPOSE, name, ".weight_t", &w, 1, loc);
  const int64_t perm[2] = {1, 0};
  ir_set_attr_ints(g, t, "perm", perm, 2);
  ir_infer_node(g, t, d);

  /* the last node made takes the plain name */
  int mm_in[2] = {x, g->nodes[t].outputs[0]};
  int mm = insert(g, pos++, IR_OP_MATMUL, name, bias || vec ? ".matmul" : "", mm_in, 2, loc);
  ir_set_attr_int(g, mm, "trans_b", 0);
  ir_infer_node(g, mm, d);
  int res = g->nodes[mm].outputs[0];

  if (bias) {
    int add_in[2] = {res, b};
    int add = insert(g, pos++, IR_OP_ADD, name, vec ? ".bias" : "", add_in, 2, loc);
    ir_infer_node(g, add, d);
    res = g->nodes[add].outputs[0];
  }
  if (vec) {
    ir_type flat = g->values[res].type;
    if (flat.rank == 2) {
      flat.rank = 1;
      flat.dims[0] = flat.dims[1];
    }
    res = reshape(g, pos++, name, "", res, flat, loc, d);
  }

  /* the LINEAR now sits at pos */
  g->nodes[pos].dead = true;
  g->values[res].name = g->values[old].name;
  ir_replace_uses(g, old, res);
  return pos + 1;
}

/* decomposes g and every body in it; true if anything changed */
static bool decompose(ir_graph *g, ir_diags *d) {
  bool changed = false;
  for (int i = 0; i < g->nnodes;) {
    ir_node *n = &g->nodes[i];
    if (n->dead) {
      i++;
      continue;
    }
    if (n->body && decompose(n->body, d)) changed = true;
    switch (n->op) {
      case IR_OP_LINEAR:
        i = expand_linear(g, i, d);
        changed = true;
        break;
      case IR_OP_RNN: /* decompose_rnn.c */
      case IR_OP_LSTM:
      case IR_OP_GRU:
        i = pass_expand_recurrent(g, i, d);
        changed = true;
        break;
      case IR_OP_MULTIHEAD_ATTENTION: /* decompose_attention.c; the loop goes on at */
      case IR_OP_TRANSFORMER_ENCODER_LAYER: /* the first new node, so the layers it */
      case IR_OP_TRANSFORMER_DECODER_LAYER: /* makes are expanded in turn */
      case IR_OP_T5_ATTENTION:
        i = pass_expand_attention(g, i, d);
        changed = true;
        break;
      case IR_OP_TRANSFORMER_XL: /* decompose_xl.c: a segment scan around rel_attention */
        i = pass_expand_xl(g, i, d);
        changed = true;
        break;
      case IR_OP_MEMORY_WRITE: /* decompose_memory.c; its linears are expanded in turn */
        i = pass_expand_memory_write(g, i, d);
        changed = true;
        break;
      case IR_OP_DROPOUT:
        n->dead = true;
        ir_replace_uses(g, n->outputs[0], n->inputs[0]);
        changed = true;
        i++;
        break;
#define ELEM(id, formula) case IR_OP_##id:
#include "ops.def"
      case IR_OP_MATMUL:
      case IR_OP_SOFTMAX:
      case IR_OP_LAYER_NORM:
      case IR_OP_RMS_NORM:
      case IR_OP_MEAN:
      case IR_OP_ARGMAX:
      case IR_OP_CONCAT:
      case IR_OP_SLICE:
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
      case IR_OP_FUSED:
      case IR_OP_COUNT: /* primitives already */
        i++;
        break;
    }
  }
  if (changed) ir_graph_compact(g);
  return changed;
}

int pass_typed(pass_expansion *e, int node) {
  IR_ASSERT(ir_infer_node(e->g, node, e->d));
  return e->g->nodes[node].outputs[0];
}

int pass_reshape(pass_expansion *e, const char *suffix, int v, int rank, const ir_dim *dims) {
  int n = pass_put(e, IR_OP_RESHAPE, suffix, &v, 1);
  ir_type t = e->g->values[v].type;
  t.rank = rank;
  for (int i = 0; i < rank; i++) t.dims[i] = dims[i];
  e->g->values[e->g->nodes[n].outputs[0]].type = t;
  return pass_typed(e, n);
}

int pass_transpose(pass_expansion *e, const char *suffix, int v, int rank, const int64_t *perm) {
  int n = pass_put(e, IR_OP_TRANSPOSE, suffix, &v, 1);
  ir_set_attr_ints(e->g, n, "perm", perm, rank);
  return pass_typed(e, n);
}

int pass_slice(pass_expansion *e, const char *suffix, int v, int dim, int64_t lo, int64_t hi) {
  int n = pass_put(e, IR_OP_SLICE, suffix, &v, 1);
  ir_set_attr_int(e->g, n, "dim", dim);
  ir_set_attr_int(e->g, n, "start", lo);
  ir_set_attr_int(e->g, n, "end", hi);
  return pass_typed(e, n);
}

int pass_select(pass_expansion *e, const char *suffix, int v, int dim, int64_t index) {
  int n = pass_put(e, IR_OP_SELECT, suffix, &v, 1);
  ir_set_attr_int(e->g, n, "dim", dim);
  ir_set_attr_int(e->g, n, "index", index);
  return pass_typed(e, n);
}

int pass_linear(pass_expansion *e, const char *suffix, int x, int w, int b) {
  int in[3] = {x, w, b};
  return pass_typed(e, pass_put(e, IR_OP_LINEAR, suffix, in, b >= 0 ? 3 : 2));
}

int pass_put(pass_expansion *e, ir_op op, const char *suffix, const int *in, int n) {
  return pass_put_n(e, op, suffix, in, n, ir_ops[op].outputs);
}

int pass_put_n(pass_expansion *e, ir_op op, const char *suffix, const int *in, int n, int nout) {
  char name[512];
  snprintf(name, sizeof name, "%s.%s", e->name, suffix);
  return ir_insert_node_n(e->g, e->pos++, op, name, in, n, nout, e->loc);
}

bool pass_decompose(ir_graph *g, pass_ctx *ctx) {
  ir_diags local;
  ir_diags *d = pass_diags(ctx, &local);
  return decompose(g, d);
}
