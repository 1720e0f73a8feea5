/*
 * slot_attention.c: the slot_attention op (ops.def), Memformer's write
 * attention as decompose_memory.c leaves it between in_proj and out_proj:
 * its result type and its reference evaluation, in double.
 *
 *   qkv [B, k, 3E]: each slot's query, key and value (in_proj's row order)
 *   kv  [B, C, 2E]: each segment row's key and value
 *   slot s, head h: keys its own and the C rows', scores q.k * scale,
 *   softmax, the weighted values into columns [h dh, (h + 1) dh) of row s.
 */
#include <math.h>
#include <stdlib.h>

#include "ir.h"

bool ir_infer_slot_attention(ir_graph *g, int n, ir_diags *d) {
  const ir_node *node = &g->nodes[n];
  const ir_type *q = &g->values[node->inputs[0]].type, *kv = &g->values[node->inputs[1]].type;
  char a[256], b[256];
  int64_t H = ir_attr_int(node, "num_heads");
  if (q->dtype != IR_F32 || q->rank != 3 || !ir_dim_is_const(q->dims[2]) || q->dims[2].coef % 3 ||
      H < 1 || (q->dims[2].coef / 3) % H)
    return ir_node_error(
        d, node,
        "slot_attention '%s': expected qkv f32 [B, k, 3E] with %lld heads dividing E, got %s %s",
        node->name, (long long)H, ir_dtype_name(q->dtype), ir_type_str(g, q, a, sizeof a));
  int64_t E = q->dims[2].coef / 3;
  if (kv->dtype != IR_F32 || kv->rank != 3 || !ir_dim_eq(kv->dims[0], q->dims[0]) ||
      !ir_dim_is_const(kv->dims[2]) || kv->dims[2].coef != 2 * E)
    return ir_node_error(
        d, node, "slot_attention '%s': expected kv f32 [B, C, %lld] beside qkv %s, got %s %s",
        node->name, (long long)(2 * E), ir_type_str(g, q, a, sizeof a), ir_dtype_name(kv->dtype),
        ir_type_str(g, kv, b, sizeof b));
  ir_type out = *q;
  out.dims[2] = ir_dim_const(E);
  g->values[node->outputs[0]].type = out;
  return true;
}

bool ir_eval_slot_attention(const ir_node *n, const seqrt_tensor *in, seqrt_tensor *out,
                            seqrt_error *err) {
  int64_t B = in[0].shape[0], k = in[0].shape[1], E = in[0].shape[2] / 3, C = in[1].shape[1];
  int64_t H = ir_attr_int(n, "num_heads"), dh = E / H;
  double scale = ir_attr_float(n, "scale");
  const float *qkv = in[0].data, *kv = in[1].data;
  float *res = out->data;
  double *p = malloc(sizeof(double) * (size_t)(C + 1)); /* key 0 the slot's own */
  if (!p) return ir_eval_fail(err, "out of memory");
  for (int64_t b = 0; b < B; b++)
    for (int64_t s = 0; s < k; s++)
      for (int64_t h = 0; h < H; h++) {
        const float *q = qkv + (b * k + s) * 3 * E + h * dh;
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j <= C; j++) {
          const float *key = j == 0 ? q + E : kv + (b * C + j - 1) * 2 * E + h * dh;
          double dot = 0;
          for (int64_t e = 0; e < dh; e++) dot += (double)q[e] * key[e];
          p[j] = dot * scale;
          mx = fmax(mx, p[j]);
        }
        for (int64_t j = 0; j <= C; j++) sum += p[j] = exp(p[j] - mx);
        for (int64_t e = 0; e < dh; e++) {
          double acc = 0;
          for (int64_t j = 0; j <= C; j++)
            acc += p[j] * (j == 0 ? q[2 * E + e] : kv[(b * C + j - 1) * 2 * E + E + h * dh + e]);
          res[(b * k + s) * E + h * dh + e] = (float)(acc / sum);
        }
      }
  free(p);
  return true;
}
