/*
 * memory_write.c: Memformer's memory write (SPEC section 10), the layer op
 * memory_write: its result type, and its reference evaluation, written
 * straight from SPEC's text in double, apart from the primitives decompose
 * makes of it (passes/decompose_memory.c), so that each checks the other.
 *
 *   inputs  M [B, k, E], y [B, C, E], in_proj_weight [3E, E], in_proj_bias [3E],
 *           out_proj.weight [E, E], out_proj.bias [E], memory_bias [k, E]
 *   slot s: attention (num_heads heads) of its query on its own key and value
 *           and those of the C rows of y, scores q.k / sqrt(dh) / temperature;
 *           out_proj of the heads; + memory_bias[s]; divided by its norm
 *           (at least 1e-12), as F.normalize.
 */
#include <math.h>
#include <stdlib.h>

#include "ir.h"

/* memory_write's inputs, by position */
enum { MEM, SEG, W_IN, B_IN, W_OUT, B_OUT, BIAS };

static ir_type f32c(int rank, int64_t a, int64_t b) {
  return (ir_type){.dtype = IR_F32, .rank = rank, .dims = {ir_dim_const(a), ir_dim_const(b)}};
}

bool ir_infer_memory_write(ir_graph *g, int n, ir_diags *d) {
  const ir_node *node = &g->nodes[n];
  const ir_type *m = &g->values[node->inputs[MEM]].type, *y = &g->values[node->inputs[SEG]].type;
  char a[256], b[256];
  if (m->dtype != IR_F32 || m->rank != 3 || !ir_dim_is_const(m->dims[1]) ||
      !ir_dim_is_const(m->dims[2]))
    return ir_node_error(d, node, "memory_write '%s': expected memory of f32 [B, k, E], got %s %s",
                         node->name, ir_dtype_name(m->dtype), ir_type_str(g, m, a, sizeof a));
  int64_t k = m->dims[1].coef, E = m->dims[2].coef, H = ir_attr_int(node, "num_heads");
  if (y->dtype != IR_F32 || y->rank != 3 || !ir_dim_eq(y->dims[0], m->dims[0]) ||
      !ir_dim_is_const(y->dims[1]) || !ir_dim_eq(y->dims[2], m->dims[2]))
    return ir_node_error(
        d, node,
        "memory_write '%s': expected a segment of f32 [B, C, %lld] beside memory %s, got %s %s",
        node->name, (long long)E, ir_type_str(g, m, a, sizeof a), ir_dtype_name(y->dtype),
        ir_type_str(g, y, b, sizeof b));
  if (H < 1 || E % H)
    return ir_node_error(d, node, "memory_write '%s': %lld heads do not divide E = %lld",
                         node->name, (long long)H, (long long)E);
  if (!(ir_attr_float(node, "temperature") > 0))
    return ir_node_error(d, node, "memory_write '%s': the temperature must be positive",
                         node->name);
  const ir_type want[] = {[W_IN] = f32c(2, 3 * E, E),
                          [B_IN] = f32c(1, 3 * E, 0),
                          [W_OUT] = f32c(2, E, E),
                          [B_OUT] = f32c(1, E, 0),
                          [BIAS] = f32c(2, k, E)};
  for (int i = W_IN; i <= BIAS; i++) {
    const ir_type *t = &g->values[node->inputs[i]].type;
    if (!ir_type_eq(t, &want[i]))
      return ir_node_error(d, node, "'%s': parameter %s: expected f32 %s, got %s %s", node->name,
                           g->values[node->inputs[i]].name ? g->values[node->inputs[i]].name : "?",
                           ir_type_str(g, &want[i], a, sizeof a), ir_dtype_name(t->dtype),
                           ir_type_str(g, t, b, sizeof b));
  }
  g->values[node->outputs[0]].type = *m;
  return true;
}

/* rows [r0, r0 + n) of W x + b for one vector x of E: out[n] */
static void project(const float *W, const float *bias, int64_t r0, int64_t n, int64_t E,
                    const float *x, double *out) {
  for (int64_t r = 0; r < n; r++) {
    double s = bias[r0 + r];
    for (int64_t c = 0; c < E; c++) s += (double)W[(r0 + r) * E + c] * x[c];
    out[r] = s;
  }
}

bool ir_eval_memory_write(const ir_node *n, const seqrt_tensor *in, seqrt_tensor *out,
                          seqrt_error *err) {
  int64_t B = in[MEM].shape[0], k = in[MEM].shape[1], E = in[MEM].shape[2];
  int64_t C = in[SEG].shape[1], H = ir_attr_int(n, "num_heads"), dh = E / H;
  double scale = 1.0 / (sqrt((double)dh) * ir_attr_float(n, "temperature"));
  const float *M = in[MEM].data, *Y = in[SEG].data, *Win = in[W_IN].data, *bin = in[B_IN].data;
  const float *Wo = in[W_OUT].data, *bo = in[B_OUT].data, *mb = in[BIAS].data;
  float *res = out->data;
  /* per slot: its q, k, v; per row of y: k, v; scores; the heads' output; the slot's result */
  double *q = malloc(sizeof(double) * (size_t)(3 * E + 2 * C * E + (C + 1) + 2 * E));
  if (!q) return ir_eval_fail(err, "out of memory");
  double *ks = q + E, *vs = ks + E, *ky = vs + E, *vy = ky + C * E, *p = vy + C * E;
  double *heads = p + C + 1, *o = heads + E;
  for (int64_t b = 0; b < B; b++) {
    for (int64_t j = 0; j < C; j++) {
      const float *yj = Y + (b * C + j) * E;
      project(Win, bin, E, E, E, yj, ky + j * E);
      project(Win, bin, 2 * E, E, E, yj, vy + j * E);
    }
    for (int64_t s = 0; s < k; s++) {
      const float *ms = M + (b * k + s) * E;
      project(Win, bin, 0, E, E, ms, q);
      project(Win, bin, E, E, E, ms, ks);
      project(Win, bin, 2 * E, E, E, ms, vs);
      for (int64_t h = 0; h < H; h++) {
        const double *qh = q + h * dh;
        /* key 0 is the slot's own, keys 1..C the segment's rows */
        double mx = -INFINITY;
        for (int64_t j = 0; j <= C; j++) {
          const double *kj = j == 0 ? ks + h * dh : ky + (j - 1) * E + h * dh;
          double dot = 0;
          for (int64_t e = 0; e < dh; e++) dot += qh[e] * kj[e];
          p[j] = dot * scale;
          if (p[j] > mx) mx = p[j];
        }
        double sum = 0;
        for (int64_t j = 0; j <= C; j++) sum += p[j] = exp(p[j] - mx);
        for (int64_t e = 0; e < dh; e++) {
          double acc = 0;
          for (int64_t j = 0; j <= C; j++)
            acc += p[j] * (j == 0 ? vs[h * dh + e] : vy[(j - 1) * E + h * dh + e]);
          heads[h * dh + e] = acc / sum;
        }
      }
      double norm2 = 0;
      for (int64_t r = 0; r < E; r++) {
        double v = bo[r];
        for (int64_t c = 0; c < E; c++) v += (double)Wo[r * E + c] * heads[c];
        o[r] = v + mb[s * E + r];
        norm2 += o[r] * o[r];
      }
      double div = fmax(sqrt(norm2), 1e-12);
      for (int64_t r = 0; r < E; r++) res[(b * k + s) * E + r] = (float)(o[r] / div);
    }
  }
  free(q);
  return true;
}
