/*
 * flops.c: the work a graph does, counted as the peers count it: multiply-adds
 * twice, elementwise work not at all. Each op's rule is its flops column of
 * ops.def (IR_FLOPS_*); `seqc check` and `seqc bench` report the count.
 */
#include "ir.h"

static double dim_of(const ir_graph *g, int v, int axis, const int64_t *syms) {
  return (double)ir_dim_eval(g->values[v].type.dims[axis], syms);
}

/* (query, key) pairs attention computes: all Tq * Tk (causal too, as the peer
 * kit counts it), but with a window r >= 0 only the pairs inside it */
static double attention_pairs(bool causal, int64_t r, int64_t tq, int64_t tk) {
  if (r < 0) return (double)tq * (double)tk;
  double pairs = 0;
  for (int64_t i = 0; i < tq; i++) {
    int64_t lo = i - r < 0 ? 0 : i - r;
    int64_t hi = causal ? i : i + r;
    if (hi > tk - 1) hi = tk - 1;
    if (hi >= lo) pairs += (double)(hi - lo + 1);
  }
  return pairs;
}

/*
 * multihead attention of queries q [B, Tq, E] on keys [B, Tk, E], as its
 * expansion counts it: the q, k and v projections and out_proj (matmuls of K
 * = E), and `attention`'s 4 * dh per pair and head, i.e. 4 * E per pair
 */
static double mha_flops(double B, double tq, double tk, double E, bool causal, int64_t window) {
  double proj = 2.0 * E * B * E * (tq + 2.0 * tk + tq);
  return proj + 4.0 * E * B * attention_pairs(causal, window, (int64_t)tq, (int64_t)tk);
}

/* a multihead_attention or Transformer layer node: what decompose makes of it counts */
static double layer_flops(const ir_graph *g, const ir_node *n, const int64_t *syms) {
  double B = dim_of(g, n->inputs[0], 0, syms), T = dim_of(g, n->inputs[0], 1, syms);
  double E = dim_of(g, n->inputs[0], 2, syms);
  if (n->op == IR_OP_TRANSFORMER_XL) { /* as decompose_xl.c's expansion counts: per
                                        * segment, row and layer, keys M + C (the memory
                                        * full): qkv of the keys, the scores' two terms
                                        * and the weighted sum, o_net, the feed-forward;
                                        * and r_net of the M + C distances once a layer */
    ir_xl_cfg c = ir_xl_cfg_of(n);
    double K = (double)(c.mem_len + c.segment), Cs = (double)c.segment;
    double Eh = (double)(c.n_head * c.d_head), Fi = (double)c.d_inner;
    double per = 2.0 * E * K * 3.0 * Eh + 6.0 * Eh * Cs * K + 2.0 * Eh * E * Cs +
                 4.0 * E * Fi * Cs;
    return (double)c.layers * (B * (T / Cs) * per + 2.0 * E * K * Eh);
  }
  if (n->op == IR_OP_MEMORY_WRITE) { /* T = k slots; the projections of M and of the C rows,
                                      * scores and weighted sums on 1 + C keys, out_proj */
    double C = dim_of(g, n->inputs[1], 1, syms);
    return 2.0 * E * B * E * (T + 2.0 * T + 2.0 * C + T) + 4.0 * E * B * T * (1.0 + C);
  }
  if (n->op == IR_OP_T5_ATTENTION) { /* E = D here: the projections to and from H d_kv,
                                      * and 4 H d_kv per (query, key) pair */
    double HK = (double)(ir_attr_int(n, "num_heads") * ir_attr_int(n, "d_kv"));
    double Tk = dim_of(g, n->inputs[1], 1, syms);
    bool causal = ir_attr_int(n, "causal") != 0;
    return 2.0 * E * B * HK * (T + 2.0 * Tk + T) +
           4.0 * HK * B * attention_pairs(causal, -1, (int64_t)T, (int64_t)Tk);
  }
  bool causal = ir_attr_int(n, "causal") != 0;
  int64_t window = ir_attr_int(n, "window");
  if (n->op == IR_OP_MULTIHEAD_ATTENTION)
    return mha_flops(B, T, dim_of(g, n->inputs[1], 1, syms), E, causal, window);
  double F = (double)ir_attr_int(n, "dim_feedforward");
  double flops = mha_flops(B, T, T, E, causal, window) + 2.0 * 2.0 * E * F * B * T;
  if (n->op == IR_OP_TRANSFORMER_DECODER_LAYER) /* cross-attention on memory, unmasked */
    flops += mha_flops(B, T, dim_of(g, n->inputs[1], 1, syms), E, false, -1);
  return flops;
}

/* the FLOPs of node n of g */
static double node_flops(const ir_graph *g, const ir_node *n, const int64_t *syms) {
  const ir_type *out = n->noutputs > 0 ? &g->values[n->outputs[0]].type : NULL;
  switch (ir_ops[n->op].flops) {
    case IR_FLOPS_NONE:
      return 0;
    case IR_FLOPS_MATMUL: { /* 2 * M * N * K */
      const ir_type *a = &g->values[n->inputs[0]].type;
      if (out->rank < 1 || a->rank < 1) return 0;
      double k = (double)ir_dim_eval(a->dims[a->rank - 1], syms);
      return 2.0 * k * (double)ir_type_numel_eval(out, syms);
    }
    case IR_FLOPS_ATTENTION: { /* QK^T and PV: 4 * dh per pair, q [B, H, Tq, dh] */
      const ir_type *q = &g->values[n->inputs[0]].type;
      if (n->op == IR_OP_REL_ATTENTION) /* every key of the full memory, and the r term */
        return 6.0 * dim_of(g, n->inputs[1], 2, syms) * (double)ir_type_numel_eval(q, syms);
      if (n->op == IR_OP_SLOT_ATTENTION) /* per slot and column: its own key and C rows' */
        return 4.0 * (1.0 + dim_of(g, n->inputs[1], 1, syms)) *
               (double)ir_type_numel_eval(out, syms);
      double tq = dim_of(g, n->inputs[0], 2, syms);
      double pairs = attention_pairs(ir_attr_int(n, "causal") != 0, ir_attr_int(n, "window"),
                                     (int64_t)tq, (int64_t)dim_of(g, n->inputs[1], 2, syms));
      return 4.0 * pairs * (double)ir_type_numel_eval(q, syms) / tq;
    }
    case IR_FLOPS_CONV1D: { /* 2 * B * Tout * O * k * C, w [k, C, O] */
      const ir_type *w = &g->values[n->inputs[1]].type;
      double kc = dim_of(g, n->inputs[1], 0, syms) * dim_of(g, n->inputs[1], 1, syms);
      return w->rank == 3 ? 2.0 * kc * (double)ir_type_numel_eval(out, syms) : 0;
    }
    case IR_FLOPS_RECURRENT: { /* every weight matrix (w_ih, w_hh, w_hr) at every step */
      double bt = dim_of(g, n->inputs[0], 0, syms) * dim_of(g, n->inputs[0], 1, syms);
      double flops = 0;
      ir_rnn_layout r = ir_rnn_layout_of(n);
      for (int64_t l = 0; l < r.L; l++)
        for (int d = 0; d < r.D; d++) {
          ir_rnn_params p = ir_rnn_params_at(&r, l, d);
          int w[3] = {p.w_ih, p.w_hh, p.w_hr};
          for (int k = 0; k < 3; k++)
            if (w[k] >= 0)
              flops += 2.0 * bt * (double)ir_type_numel_eval(&g->values[n->inputs[w[k]]].type, syms);
        }
      return flops;
    }
    case IR_FLOPS_SCAN: { /* the body once a step */
      double steps = dim_of(g, n->inputs[0], 1, syms);
      int64_t chunk = ir_attr_int(n, "chunk");
      if (chunk > 1) steps /= (double)chunk;
      return n->body ? steps * ir_graph_flops(n->body, syms) : 0;
    }
    case IR_FLOPS_BODY:
      return n->body ? ir_graph_flops(n->body, syms) : 0;
    case IR_FLOPS_LAYER:
      return layer_flops(g, n, syms);
  }
  IR_ASSERT(!"flops rule");
}

double ir_node_flops(const ir_graph *g, int i, const int64_t *syms) {
  return g->nodes[i].dead ? 0 : node_flops(g, &g->nodes[i], syms);
}

double ir_graph_flops(const ir_graph *g, const int64_t *syms) {
  double flops = 0;
  for (int i = 0; i < g->nnodes; i++)
    if (!g->nodes[i].dead) flops += node_flops(g, &g->nodes[i], syms);
  return flops;
}
