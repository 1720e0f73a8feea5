/*
 * analyze.c: the question the seeds ask of every architecture (Vaswani et
 * al. 2017, Table 1), answered from a model's own graph as the frontend
 * lowered it: per layer, how the work grows with the sequence length n,
 * how many operations must run one after another, and the longest path a
 * signal takes between two positions.
 *
 *   kind          complexity per layer   sequential   longest path
 *   attention     O(n^2 d)               O(1)         O(1)
 *   window r      O(r n d)               O(1)         O(n/r)
 *   convolution   O(k n d^2)             O(1)         O(n/k)
 *   recurrence    O(n d^2)               O(n)         O(n)
 *   segments C    O(n C d)               O(n/C)       O(n/C)   (state carried per segment)
 *   XL, memory M  O(n (M+C) d)           O(n/C)       O(1) up to L(M+C), none beyond
 *   pooling       O(n d)                 O(1)         O(1)
 *   positionwise  O(n d^2) or O(n d)     O(1)         none (each position alone)
 *
 * A node's kind comes from its op (a matmul whose result has two axes of
 * length n is attention written by hand); `seqc analyze` prints the table
 * with each row's FLOPs as a polynomial in n (ir_node_flops at three lengths).
 */
#include <stdio.h>
#include <string.h>

#include "ir.h"

/* whether dim d is the position dim n */
static bool is_n(const ir_graph *g, ir_dim d) {
  return g->position_sym >= 0 && ir_dim_eq(d, ir_dim_sym(g->position_sym));
}

static int64_t attr_or(const ir_node *n, const char *key, int64_t def) {
  const ir_attr *a = ir_get_attr(n, key);
  return a ? a->i : def;
}

ir_seq_class ir_seq_class_of(const ir_graph *g, const ir_node *n) {
  ir_seq_class c = {.kind = IR_SEQ_POSITIONWISE};
  switch (n->op) {
    case IR_OP_RNN:
    case IR_OP_LSTM:
    case IR_OP_GRU: c.kind = IR_SEQ_RECURRENT; break;
    case IR_OP_SCAN:
      c.size = attr_or(n, "chunk", 1);
      c.kind = c.size > 1 ? IR_SEQ_SEGMENTS : IR_SEQ_RECURRENT;
      break;
    case IR_OP_TRANSFORMER_XL:
      c.kind = IR_SEQ_XL;
      c.size = ir_attr_int(n, "segment");
      c.memory = ir_attr_int(n, "mem_len");
      c.layers = ir_attr_int(n, "num_layers");
      break;
    case IR_OP_MULTIHEAD_ATTENTION:
    case IR_OP_TRANSFORMER_ENCODER_LAYER:
    case IR_OP_TRANSFORMER_DECODER_LAYER:
    case IR_OP_T5_ATTENTION:
    case IR_OP_ATTENTION:
      c.size = attr_or(n, "window", -1);
      c.kind = c.size >= 0 ? IR_SEQ_WINDOW : IR_SEQ_ATTENTION;
      break;
    case IR_OP_CONV1D:
      c.kind = IR_SEQ_CONV;
      c.size = ir_dim_eval(g->values[n->inputs[1]].type.dims[0], NULL) * attr_or(n, "dilation", 1);
      break;
    case IR_OP_MEAN: {
      const ir_type *t = &g->values[n->inputs[0]].type;
      int64_t dim = ir_attr_int(n, "dim");
      if (dim < 0) dim += t->rank;
      if (dim >= 0 && dim < t->rank && is_n(g, t->dims[dim])) c.kind = IR_SEQ_POOL;
      break;
    }
    case IR_OP_MATMUL: { /* [.., n, n] scores, or weights times them */
      const ir_type *t = &g->values[n->outputs[0]].type, *a = &g->values[n->inputs[0]].type;
      bool scores = t->rank >= 2 && is_n(g, t->dims[t->rank - 1]) && is_n(g, t->dims[t->rank - 2]);
      bool mix = a->rank >= 2 && is_n(g, a->dims[a->rank - 1]) && is_n(g, a->dims[a->rank - 2]);
      if (scores || mix) c.kind = IR_SEQ_ATTENTION;
      break;
    }
    default: break;
  }
  return c;
}

/* how much a kind orders positions: recurrences first, positionwise last */
int ir_seq_rank(ir_seq_kind k) {
  static const int rank[] = {[IR_SEQ_POSITIONWISE] = 0, [IR_SEQ_POOL] = 1,
                             [IR_SEQ_ATTENTION] = 2,    [IR_SEQ_WINDOW] = 3,
                             [IR_SEQ_CONV] = 4,         [IR_SEQ_XL] = 5,
                             [IR_SEQ_SEGMENTS] = 6,     [IR_SEQ_RECURRENT] = 7};
  return rank[k];
}

void ir_seq_describe(const ir_seq_class *c, bool matmul, ir_seq_text *t) {
  long long s = (long long)c->size;
  snprintf(t->sequential, sizeof t->sequential, "O(1)");
  switch (c->kind) {
    case IR_SEQ_POSITIONWISE:
      snprintf(t->complexity, sizeof t->complexity, matmul ? "O(n d^2)" : "O(n d)");
      snprintf(t->path, sizeof t->path, "none");
      break;
    case IR_SEQ_POOL:
      snprintf(t->complexity, sizeof t->complexity, "O(n d)");
      snprintf(t->path, sizeof t->path, "O(1)");
      break;
    case IR_SEQ_ATTENTION:
      snprintf(t->complexity, sizeof t->complexity, "O(n^2 d)");
      snprintf(t->path, sizeof t->path, "O(1)");
      break;
    case IR_SEQ_WINDOW:
      snprintf(t->complexity, sizeof t->complexity, "O(r n d), r=%lld", s);
      snprintf(t->path, sizeof t->path, "O(n/r)");
      break;
    case IR_SEQ_CONV:
      snprintf(t->complexity, sizeof t->complexity, "O(k n d^2), k=%lld", s);
      snprintf(t->path, sizeof t->path, "O(n/k)");
      break;
    case IR_SEQ_RECURRENT:
      snprintf(t->complexity, sizeof t->complexity, "O(n d^2)");
      snprintf(t->sequential, sizeof t->sequential, "O(n)");
      snprintf(t->path, sizeof t->path, "O(n)");
      break;
    case IR_SEQ_SEGMENTS:
      snprintf(t->complexity, sizeof t->complexity, "O(n C d), C=%lld", s);
      snprintf(t->sequential, sizeof t->sequential, "O(n/C)");
      snprintf(t->path, sizeof t->path, "O(n/C)");
      break;
    case IR_SEQ_XL:
      snprintf(t->complexity, sizeof t->complexity, "O(n (M+C) d), M=%lld C=%lld",
               (long long)c->memory, s);
      snprintf(t->sequential, sizeof t->sequential, "O(n/C)");
      snprintf(t->path, sizeof t->path, "O(1) to L(M+C)=%lld, none beyond",
               (long long)(c->layers * (c->memory + c->size)));
      break;
  }
}
