/*
 * infer.c: result types of one node from its inputs' types.
 *
 * Dims stay symbolic (B, T): two dims fit when they are equal as symbolic
 * products, or (broadcasting) when one is the constant 1. Every mismatch is a
 * user error at the node's YAML position that names the node and the shape it
 * expected, e.g. `'fc1': parameter weight: expected [32, 4], got [32, 5]`.
 */
#include <stdarg.h>
#include <string.h>

#include "ir.h"

/* what every rule needs: the graph, the node and where errors go */
typedef struct infer {
  ir_graph *g;      /* graph holding the node */
  const ir_node *n; /* node being inferred */
  ir_diags *d;      /* user errors */
  char buf[4][256]; /* room for type strings in one message */
} infer;

static const ir_type *in(const infer *s, int i) { return &s->g->values[s->n->inputs[i]].type; }

/* type string i of the message being built */
static const char *ts(infer *s, int i, const ir_type *t) {
  return ir_type_str(s->g, t, s->buf[i], sizeof s->buf[i]);
}

static bool fail(infer *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(infer *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ir_verror(s->d, s->n->loc, false, fmt, ap);
  va_end(ap);
  return false;
}

static const char *op_name(const infer *s) { return ir_ops[s->n->op].name; }

static bool is_one(ir_dim d) { return ir_dim_is_const(d) && d.coef == 1; }

/* input i must be f32: arithmetic on indices is a mistake, not a conversion */
static bool need_f32(infer *s, int i) {
  const ir_type *t = in(s, i);
  if (t->dtype == IR_F32) return true;
  return fail(s, "%s '%s': expected f32, got %s %s", op_name(s), s->n->name,
              ir_dtype_name(t->dtype), ts(s, 0, t));
}

static bool need_rank(infer *s, int i, int min, const char *shape) {
  const ir_type *t = in(s, i);
  if (t->rank >= min) return true;
  return fail(s, "%s '%s': expected an input of shape %s, got %s", op_name(s), s->n->name, shape,
              ts(s, 0, t));
}

static bool need_dim(infer *s, int64_t dim, const ir_type *t) {
  if (dim >= 0 && dim < t->rank) return true;
  return fail(s, "%s '%s': dim %lld is out of range for %s", op_name(s), s->n->name, (long long)dim,
              ts(s, 0, t));
}

/*
 * numpy broadcasting of a and b, leaving out their last `skip` dims (matmul
 * broadcasts only its batch dims); result dims go right-aligned into out.
 */
static bool broadcast(const ir_type *a, const ir_type *b, int skip, ir_type *out) {
  int ra = a->rank - skip, rb = b->rank - skip;
  int r = ra > rb ? ra : rb;
  out->rank = r;
  for (int i = 0; i < r; i++) {
    int ia = ra - r + i, ib = rb - r + i;
    ir_dim da = ia >= 0 ? a->dims[ia] : ir_dim_const(1);
    ir_dim db = ib >= 0 ? b->dims[ib] : ir_dim_const(1);
    if (ir_dim_eq(da, db) || is_one(db))
      out->dims[i] = da;
    else if (is_one(da))
      out->dims[i] = db;
    else
      return false;
  }
  return true;
}

static bool binary(infer *s, ir_type *out) {
  if (!need_f32(s, 0) || !need_f32(s, 1)) return false;
  out->dtype = IR_F32;
  if (!broadcast(in(s, 0), in(s, 1), 0, out))
    return fail(s, "%s '%s': shapes %s and %s do not broadcast", op_name(s), s->n->name,
                ts(s, 0, in(s, 0)), ts(s, 1, in(s, 1)));
  return true;
}

/* by the op's traits: binary ops broadcast f32 operands, unary ones keep their
 * input's type (f32, but COPY takes any dtype) */
static bool elementwise(infer *s, ir_type *out) {
  if (ir_ops[s->n->op].traits & IR_T_BINARY) return binary(s, out);
  *out = *in(s, 0);
  return s->n->op == IR_OP_COPY || need_f32(s, 0);
}

static bool matmul(infer *s, ir_type *out) {
  if (!need_f32(s, 0) || !need_f32(s, 1)) return false;
  const ir_type *a = in(s, 0), *b = in(s, 1);
  bool tb = ir_attr_int(s->n, "trans_b") != 0;
  if (a->rank < 2 || b->rank < 2)
    return fail(s, "matmul '%s': inputs need at least 2 dims, got %s @ %s", s->n->name, ts(s, 0, a),
                ts(s, 1, b));
  ir_dim k_a = a->dims[a->rank - 1];
  ir_dim k_b = b->dims[b->rank - (tb ? 1 : 2)];
  ir_dim n = b->dims[b->rank - (tb ? 2 : 1)];
  if (!ir_dim_eq(k_a, k_b))
    return fail(s, "matmul '%s': inner dims differ: %s @ %s%s", s->n->name, ts(s, 0, a),
                ts(s, 1, b), tb ? "^T" : "");
  out->dtype = IR_F32;
  if (!broadcast(a, b, 2, out))
    return fail(s, "matmul '%s': batch dims of %s and %s do not broadcast", s->n->name, ts(s, 0, a),
                ts(s, 1, b));
  out->dims[out->rank] = a->dims[a->rank - 2];
  out->dims[out->rank + 1] = n;
  out->rank += 2;
  return true;
}

/* the part of a param's name after "NODE.", or the whole name */
static const char *param_label(const infer *s, int input) {
  const char *name = s->g->values[s->n->inputs[input]].name;
  size_t len = strlen(s->n->name);
  if (name && !strncmp(name, s->n->name, len) && name[len] == '.') return name + len + 1;
  return name ? name : "?";
}

/* input i (a parameter) must be of type want */
static bool need_param(infer *s, int i, const ir_type *want) {
  const ir_type *t = in(s, i);
  if (ir_type_eq(t, want)) return true;
  if (t->dtype != want->dtype)
    return fail(s, "'%s': parameter %s: expected %s %s, got %s %s", s->n->name, param_label(s, i),
                ir_dtype_name(want->dtype), ts(s, 0, want), ir_dtype_name(t->dtype), ts(s, 1, t));
  return fail(s, "'%s': parameter %s: expected %s, got %s", s->n->name, param_label(s, i),
              ts(s, 0, want), ts(s, 1, t));
}

static ir_type vec(ir_dim d) { return (ir_type){.dtype = IR_F32, .rank = 1, .dims = {d}}; }

/* x [..., in], weight [out, in], bias [out] -> [..., out] */
static bool linear(infer *s, ir_type *out) {
  if (!need_f32(s, 0) || !need_rank(s, 0, 1, "[..., in_features]")) return false;
  const ir_type *x = in(s, 0), *w = in(s, 1);
  ir_dim in_f = x->dims[x->rank - 1];
  ir_dim out_f = w->rank >= 1 ? w->dims[0] : ir_dim_const(0);
  ir_type want = {.dtype = IR_F32, .rank = 2, .dims = {out_f, in_f}};
  if (!need_param(s, 1, &want)) return false;
  if (s->n->ninputs > 2) {
    ir_type wb = vec(out_f);
    if (!need_param(s, 2, &wb)) return false;
  }
  *out = *x;
  out->dims[x->rank - 1] = out_f;
  return true;
}

/* x [..., D] with weight (and bias) [D] */
static bool norm(infer *s, ir_type *out) {
  if (!need_f32(s, 0) || !need_rank(s, 0, 1, "[..., D]")) return false;
  const ir_type *x = in(s, 0);
  ir_type want = vec(x->dims[x->rank - 1]);
  for (int i = 1; i < s->n->ninputs; i++)
    if (!need_param(s, i, &want)) return false;
  *out = *x;
  return true;
}

/* a + b when both are multiples of the same symbols */
static bool dim_add(ir_dim a, ir_dim b, ir_dim *out) {
  if (a.coef == 0) return *out = b, true;
  if (b.coef == 0) return *out = a, true;
  if (a.sym[0] != b.sym[0] || a.sym[1] != b.sym[1]) return false;
  *out = a;
  return !__builtin_add_overflow(a.coef, b.coef, &out->coef);
}

static bool concat(infer *s, ir_type *out) {
  const ir_type *a = in(s, 0);
  int64_t dim = ir_attr_int(s->n, "dim");
  if (!need_dim(s, dim, a)) return false;
  *out = *a;
  for (int i = 1; i < s->n->ninputs; i++) {
    const ir_type *b = in(s, i);
    if (b->dtype != a->dtype)
      return fail(s, "concat '%s': inputs %s %s and %s %s differ in dtype", s->n->name,
                  ir_dtype_name(a->dtype), ts(s, 0, a), ir_dtype_name(b->dtype), ts(s, 1, b));
    bool fits = b->rank == a->rank;
    for (int k = 0; fits && k < a->rank; k++)
      if (k != dim && !ir_dim_eq(a->dims[k], b->dims[k])) fits = false;
    if (!fits)
      return fail(s, "concat '%s': shapes %s and %s differ outside dim %lld", s->n->name,
                  ts(s, 0, a), ts(s, 1, b), (long long)dim);
    if (!dim_add(out->dims[dim], b->dims[dim], &out->dims[dim])) {
      char x[64], y[64];
      return fail(s, "concat '%s': cannot add %s and %s along dim %lld: not a dim", s->n->name,
                  ir_dim_str(s->g, out->dims[dim], x, sizeof x),
                  ir_dim_str(s->g, b->dims[dim], y, sizeof y), (long long)dim);
    }
  }
  return true;
}

/* Python's x[start:end] length on a dim of n elements */
static int64_t slice_len(int64_t n, int64_t start, int64_t end) {
  int64_t b = start < 0 ? (start + n > 0 ? start + n : 0) : (start < n ? start : n);
  int64_t e = end < 0 ? (end + n > 0 ? end + n : 0) : (end < n ? end : n);
  return e > b ? e - b : 0;
}

static bool slice(infer *s, ir_type *out) {
  const ir_type *x = in(s, 0);
  int64_t dim = ir_attr_int(s->n, "dim");
  int64_t start = ir_attr_int(s->n, "start"), end = ir_attr_int(s->n, "end");
  if (!need_dim(s, dim, x)) return false;
  *out = *x;
  ir_dim d = x->dims[dim];
  if (ir_dim_is_const(d)) {
    out->dims[dim] = ir_dim_const(slice_len(d.coef, start, end));
    return true;
  }
  /* a symbolic dim: only lengths that do not depend on its value */
  bool to_end = end == INT64_MAX;
  if (start == 0 && to_end) return true;
  if (start < 0 && start > INT64_MIN && to_end) {
    out->dims[dim] = ir_dim_const(-start);
    return true;
  }
  if (!to_end && end >= start && (start >= 0 || end < 0)) {
    out->dims[dim] = ir_dim_const(end - start);
    return true;
  }
  char e[32] = "";
  if (!to_end) snprintf(e, sizeof e, "%lld", (long long)end);
  return fail(s,
              "slice '%s': the length of [%lld:%s] along dim %lld of %s depends on %s; "
              "slice a constant dim or give a fixed-size range",
              s->n->name, (long long)start, e, (long long)dim, ts(s, 0, x),
              ir_dim_str(s->g, d, s->buf[1], sizeof s->buf[1]));
}

static bool select_(infer *s, ir_type *out) {
  const ir_type *x = in(s, 0);
  int64_t dim = ir_attr_int(s->n, "dim"), index = ir_attr_int(s->n, "index");
  if (!need_dim(s, dim, x)) return false;
  ir_dim d = x->dims[dim];
  if (ir_dim_is_const(d) && (index >= d.coef || index < -d.coef))
    return fail(s, "select '%s': index %lld is out of range for dim %lld of %s", s->n->name,
                (long long)index, (long long)dim, ts(s, 0, x));
  *out = *x;
  memmove(&out->dims[dim], &out->dims[dim + 1], sizeof(ir_dim) * (size_t)(x->rank - dim - 1));
  out->rank--;
  return true;
}

static bool mean(infer *s, ir_type *out) {
  if (!need_f32(s, 0)) return false;
  const ir_type *x = in(s, 0);
  int64_t dim = ir_attr_int(s->n, "dim");
  if (!need_dim(s, dim, x)) return false;
  *out = *x;
  if (ir_attr_int(s->n, "keepdim")) {
    out->dims[dim] = ir_dim_const(1);
  } else {
    memmove(&out->dims[dim], &out->dims[dim + 1], sizeof(ir_dim) * (size_t)(x->rank - dim - 1));
    out->rank--;
  }
  return true;
}

static bool transpose(infer *s, ir_type *out) {
  const ir_type *x = in(s, 0);
  const ir_attr *p = ir_get_attr(s->n, "perm");
  IR_ASSERT(p && p->kind == IR_ATTR_INTS);
  bool seen[IR_MAX_RANK] = {0}, ok = p->nints == x->rank;
  for (int i = 0; ok && i < p->nints; i++) {
    int64_t k = p->ints[i];
    if (k < 0 || k >= x->rank || seen[k])
      ok = false;
    else
      seen[k] = true;
  }
  if (!ok) {
    char list[160] = "[";
    for (int i = 0; i < p->nints && strlen(list) < sizeof list - 24; i++)
      snprintf(list + strlen(list), sizeof list - strlen(list), "%s%lld", i ? ", " : "",
               (long long)p->ints[i]);
    strcat(list, "]");
    return fail(s, "transpose '%s': %s is not a permutation of the %d dims of %s", s->n->name, list,
                x->rank, ts(s, 0, x));
  }
  *out = *x;
  for (int i = 0; i < x->rank; i++) out->dims[i] = x->dims[p->ints[i]];
  return true;
}

/* ir_type_numel that also fails (instead of overflowing) when the constant factor would */
static bool numel(const ir_type *t, ir_dim *out) {
  ir_dim n = ir_dim_const(1);
  for (int i = 0; i < t->rank; i++) {
    int64_t c;
    if (__builtin_mul_overflow(n.coef, t->dims[i].coef, &c) || !ir_dim_mul(n, t->dims[i], &n))
      return false;
  }
  *out = n;
  return true;
}

/* the result type was set when the node was built; the element count must agree */
static bool reshape(infer *s, ir_type *out) {
  const ir_type *x = in(s, 0);
  ir_type *r = &s->g->values[s->n->outputs[0]].type;
  IR_ASSERT(r->rank >= 0);
  ir_dim nx, nr;
  if (!numel(x, &nx) || !numel(r, &nr) || !ir_dim_eq(nx, nr))
    return fail(s, "reshape '%s': cannot reshape %s to %s: the element counts differ", s->n->name,
                ts(s, 0, x), ts(s, 1, r));
  *out = *r;
  out->dtype = x->dtype;
  return true;
}

/* weight [N, D], indices [...] -> [..., D] */
static bool embedding(infer *s, ir_type *out) {
  const ir_type *w = in(s, 0), *idx = in(s, 1);
  if (w->dtype != IR_F32 || w->rank != 2)
    return fail(s, "'%s': parameter %s: expected f32 [num_embeddings, embedding_dim], got %s %s",
                s->n->name, param_label(s, 0), ir_dtype_name(w->dtype), ts(s, 0, w));
  if (idx->dtype != IR_I32 && idx->dtype != IR_I64)
    return fail(s, "embedding '%s': expected i32 or i64 indices, got %s %s", s->n->name,
                ir_dtype_name(idx->dtype), ts(s, 0, idx));
  if (idx->rank >= IR_MAX_RANK)
    return fail(s, "embedding '%s': indices %s leave no room for the embedding dim", s->n->name,
                ts(s, 0, idx));
  *out = *idx;
  out->dtype = IR_F32;
  out->dims[out->rank++] = w->dims[1];
  return true;
}

/* q [B, H, Tq, dh], k and v [B, H, Tk, dh] -> [B, H, Tq, dh] */
/* a cache [B, H, S, dh] and rows of it [B, H, T, dh] */
static bool same_rows(infer *s, const ir_type *cache, const ir_type *rows) {
  bool ok = cache->dtype == IR_F32 && rows->dtype == IR_F32 && cache->rank == 4 && rows->rank == 4;
  for (int k = 0; ok && k < 4; k++) ok = k == 2 || ir_dim_eq(cache->dims[k], rows->dims[k]);
  if (ok) return true;
  return fail(s, "%s '%s': a cache %s and rows %s that do not fit it", op_name(s), s->n->name,
              ts(s, 0, cache), ts(s, 1, rows));
}

/* the relative position bias table of pos_bias R: f32 [H, 2R+1], H = q's heads */
static bool bias_table(infer *s, const ir_attn_layout *at, const ir_type *q) {
  const char *name = s->n->name;
  if (at->R < 0 || at->R > INT32_MAX)
    return fail(s, "attention '%s': pos_bias %lld, expected 0 .. %d", name, (long long)at->R,
                INT32_MAX);
  const ir_type *t = in(s, at->table);
  ir_type want = {.dtype = IR_F32, .rank = 2, .dims = {q->dims[1], ir_dim_const(2 * at->R + 1)}};
  if (ir_type_eq(t, &want)) return true;
  return fail(s,
              "attention '%s': expected the position bias table f32 %s (pos_bias %lld) as input "
              "%d, got %s %s",
              name, ts(s, 0, &want), (long long)at->R, at->table, ir_dtype_name(t->dtype),
              ts(s, 1, t));
}

static bool attention(infer *s, ir_type *out) {
  for (int i = 0; i < 3; i++)
    if (!need_f32(s, i)) return false;
  const ir_type *q = in(s, 0), *k = in(s, 1), *v = in(s, 2);
  bool ok = q->rank == 4 && ir_type_eq(k, v);
  for (int i = 0; ok && i < 4; i++)
    if (i != 2 && !ir_dim_eq(q->dims[i], k->dims[i])) ok = false;
  if (!ok)
    return fail(s, "attention '%s': expected q [B, H, Tq, dh] and k, v [B, H, Tk, dh], got %s, %s, %s",
                s->n->name, ts(s, 0, q), ts(s, 1, k), ts(s, 2, v));
  ir_attn_layout at = ir_attn_layout_of(s->n);
  int rest = at.table >= 0 ? s->n->ninputs - 1 : s->n->ninputs; /* inputs before the table */
  const char *then = at.table >= 0 ? ", then the position bias table" : "";
  if (rest < 3)
    return fail(s, "attention '%s': %d inputs, expected q, k, v%s", s->n->name, s->n->ninputs,
                then);
  if (at.mask >= 0) { /* input 3: the key padding mask, i32/i64 [B, Tk]; no caches then */
    if (rest != 4)
      return fail(s, "attention '%s': key_padding with %d inputs, expected %d (q, k, v, mask%s)",
                  s->n->name, s->n->ninputs, 4 + (at.table >= 0), then);
    const ir_type *m = in(s, 3);
    if ((m->dtype != IR_I32 && m->dtype != IR_I64) || m->rank != 2 ||
        !ir_dim_eq(m->dims[0], q->dims[0]) || !ir_dim_eq(m->dims[1], k->dims[2]))
      return fail(s,
                  "attention '%s': expected a key padding mask i32/i64 [B, Tk] as input 3, "
                  "got %s %s",
                  s->n->name, ir_dtype_name(m->dtype), ts(s, 3, m));
  } else if (rest > 3) { /* caches: causal self-attention's, rows like k's */
    if (at.cache < 0)
      return fail(s, "attention '%s': %d inputs: without key_padding, q, k, v and two caches%s",
                  s->n->name, s->n->ninputs, then);
    const ir_type *kc = in(s, 3), *vc = in(s, 4);
    bool self = ir_attr_int(s->n, "causal") && ir_dim_eq(q->dims[2], k->dims[2]);
    if (!self || s->g->values[s->n->inputs[3]].kind != IR_VAL_STATE ||
        s->g->values[s->n->inputs[4]].kind != IR_VAL_STATE || !ir_type_eq(kc, vc))
      return fail(s, "attention '%s': caches need causal self-attention and two states of one type",
                  s->n->name);
    if (!same_rows(s, kc, k)) return false;
  }
  if (at.table >= 0 && !bias_table(s, &at, q)) return false;
  *out = *q;
  return true;
}

/* x [B, T, C], w [k, C, O], bias [O] -> [B, Tout, O] with
 * Tout = floor((T + 2*pad - dil*(k-1) - 1) / stride) + 1, a derived dim when T is symbolic */
static bool conv1d(infer *s, ir_type *out) {
  if (!need_f32(s, 0) || !need_f32(s, 1)) return false;
  const ir_type *x = in(s, 0), *w = in(s, 1);
  if (x->rank != 3 || w->rank != 3 || !ir_dim_eq(x->dims[2], w->dims[1]) ||
      !ir_dim_is_const(w->dims[0]))
    return fail(s, "conv1d '%s': expected x [B, T, C] and weight [k, C, O], got %s and %s",
                s->n->name, ts(s, 0, x), ts(s, 1, w));
  if (s->n->ninputs > 2) {
    ir_type b = vec(w->dims[2]);
    if (!need_param(s, 2, &b)) return false;
  }
  int64_t k = w->dims[0].coef, st = ir_attr_int(s->n, "stride");
  int64_t pad = ir_attr_int(s->n, "padding"), dil = ir_attr_int(s->n, "dilation");
  int64_t shrink = dil * (k - 1) + 1 - 2 * pad; /* Tout = (T - shrink) / stride + 1 */
  ir_dim T = x->dims[1], Tout;
  if (ir_dim_is_const(T) && T.coef < shrink)
    return fail(s, "conv1d '%s': input %s is shorter than the kernel's reach of %lld steps",
                s->n->name, ts(s, 0, x), (long long)shrink);
  char what[256];
  snprintf(what, sizeof what, "conv1d '%s': output length", s->n->name);
  ir_dim terms[2] = {T, ir_dim_const(st - shrink)};
  if (!ir_dim_floordiv(s->g, terms, 2, st, 1, what, s->n->loc, &Tout))
    return fail(s, "conv1d '%s': the output length of %s needs more dims than a model may have",
                s->n->name, ts(s, 0, x));
  *out = (ir_type){.dtype = IR_F32, .rank = 3, .dims = {x->dims[0], Tout, w->dims[2]}};
  return true;
}

/* a fused kernel's type is its body's: infer the body on the node's input types */
static bool fused(infer *s, ir_type *out) {
  ir_graph *b = s->n->body;
  IR_ASSERT(b && b->ninputs == s->n->ninputs && b->noutputs >= 1);
  for (int i = 0; i < b->ninputs; i++) b->values[b->inputs[i]].type = *in(s, i);
  for (int i = 0; i < b->nnodes; i++)
    if (!b->nodes[i].dead && !ir_infer_node(b, i, s->d)) return false;
  *out = b->values[b->outputs[0].value].type;
  return out->rank >= 0;
}

/* state_read and state_write: input 0 is a STATE value, input i has its type */
static bool same_state(infer *s, int i) {
  IR_ASSERT(s->g->values[s->n->inputs[0]].kind == IR_VAL_STATE);
  if (ir_type_eq(in(s, 0), in(s, i))) return true;
  return fail(s, "%s '%s': the state is %s %s, its value %s %s", op_name(s), s->n->name,
              ir_dtype_name(in(s, 0)->dtype), ts(s, 0, in(s, 0)), ir_dtype_name(in(s, i)->dtype),
              ts(s, 1, in(s, i)));
}

/* no result to type: only the check */
static bool state_write(infer *s) { return same_state(s, 1); }

static bool cache_write(infer *s) {
  IR_ASSERT(s->g->values[s->n->inputs[0]].kind == IR_VAL_STATE);
  return same_rows(s, in(s, 0), in(s, 1));
}

bool ir_infer_node(ir_graph *g, int n, ir_diags *d) {
  infer s = {.g = g, .n = &g->nodes[n], .d = d};
  const ir_node *node = s.n;
  for (int i = 0; i < node->ninputs; i++)
    if (in(&s, i)->rank < 0) return false; /* an input failed: its error is already out */
  /* several results (infer_scan.c) */
  if (node->op == IR_OP_SCAN) return ir_infer_scan(g, n, d);
  if (node->op == IR_OP_RNN || node->op == IR_OP_LSTM || node->op == IR_OP_GRU)
    return ir_infer_recurrent(g, n, d);
  if (ir_is_tf_layer(node->op)) return ir_infer_tf_layer(g, n, d); /* infer_attention.c */
  if (node->op == IR_OP_MEMORY_WRITE) return ir_infer_memory_write(g, n, d);
  if (node->op == IR_OP_SLOT_ATTENTION) return ir_infer_slot_attention(g, n, d);
  if (node->op == IR_OP_TRANSFORMER_XL) return ir_infer_xl(g, n, d); /* xl.c */
  if (node->op == IR_OP_T5_ATTENTION) return ir_infer_t5_attention(g, n, d); /* t5.c */
  if (node->op == IR_OP_REL_ATTENTION) { /* WIP: the result is q's type; checks next */
    g->values[node->outputs[0]].type = g->values[node->inputs[0]].type;
    return true;
  }
  if (node->op == IR_OP_STATE_WRITE) return state_write(&s);
  if (node->op == IR_OP_CACHE_WRITE) return cache_write(&s);
  IR_ASSERT(node->noutputs == 1 || node->op == IR_OP_ATTENTION); /* + its partials */
  ir_type out = {.dtype = IR_F32, .rank = -1};
  bool ok = false;
  switch (node->op) {
#define ELEM(id, formula) case IR_OP_##id:
#include "ops.def"
      ok = elementwise(&s, &out);
      break;
    case IR_OP_DROPOUT:
      ok = need_f32(&s, 0);
      out = *in(&s, 0);
      break;
    case IR_OP_MATMUL:
      ok = matmul(&s, &out);
      break;
    case IR_OP_SOFTMAX:
      ok = need_f32(&s, 0) && need_dim(&s, ir_attr_int(node, "dim"), in(&s, 0));
      out = *in(&s, 0);
      break;
    case IR_OP_LAYER_NORM:
    case IR_OP_RMS_NORM:
      ok = norm(&s, &out);
      break;
    case IR_OP_MEAN:
      ok = mean(&s, &out);
      break;
    case IR_OP_ARGMAX: /* mean's shape, of indices */
      ok = mean(&s, &out);
      out.dtype = IR_I64;
      break;
    case IR_OP_CONCAT:
      ok = concat(&s, &out);
      break;
    case IR_OP_SLICE:
      ok = slice(&s, &out);
      break;
    case IR_OP_SELECT:
      ok = select_(&s, &out);
      break;
    case IR_OP_TRANSPOSE:
      ok = transpose(&s, &out);
      break;
    case IR_OP_RESHAPE:
      ok = reshape(&s, &out);
      break;
    case IR_OP_EMBEDDING:
      ok = embedding(&s, &out);
      break;
    case IR_OP_POSITIONAL_ENCODING:
      ok = need_f32(&s, 0) && need_rank(&s, 0, 2, "[..., T, D]");
      out = *in(&s, 0);
      break;
    case IR_OP_POSITIONS:
      ok = need_rank(&s, 0, 2, "[B, T, ...]");
      out = (ir_type){.dtype = IR_I64, .rank = 2, .dims = {in(&s, 0)->dims[0], in(&s, 0)->dims[1]}};
      break;
    case IR_OP_STATE_READ:
      ok = same_state(&s, 1);
      out = *in(&s, 0);
      break;
    case IR_OP_ATTENTION:
      ok = attention(&s, &out);
      if (ok && node->noutputs == 2) { /* the partials: [B, H, splits, dh + 2] */
        ir_type pt = out;
        pt.dims[2] = ir_dim_const(ir_attr_int(node, "splits"));
        ok = ir_dim_is_const(out.dims[3]);
        pt.dims[3] = ir_dim_const(out.dims[3].coef + 2);
        if (ok) g->values[node->outputs[1]].type = pt;
        else fail(&s, "attention '%s': split needs a constant head dim", node->name);
      }
      break;
    case IR_OP_CONV1D:
      ok = conv1d(&s, &out);
      break;
    case IR_OP_LINEAR:
      ok = linear(&s, &out);
      break;
    case IR_OP_FUSED:
      ok = fused(&s, &out);
      break;
    case IR_OP_FILL: /* the result type was set when the node was built */
      out = g->values[node->outputs[0]].type;
      IR_ASSERT(out.rank >= 0);
      ok = true;
      break;
    case IR_OP_STATE_WRITE:
    case IR_OP_CACHE_WRITE:
    case IR_OP_SCAN:
    case IR_OP_RNN:
    case IR_OP_LSTM:
    case IR_OP_GRU:
    case IR_OP_MULTIHEAD_ATTENTION:
    case IR_OP_TRANSFORMER_ENCODER_LAYER:
    case IR_OP_TRANSFORMER_DECODER_LAYER:
    case IR_OP_MEMORY_WRITE:
    case IR_OP_TRANSFORMER_XL:
    case IR_OP_T5_ATTENTION:
    case IR_OP_REL_ATTENTION:
    case IR_OP_SLOT_ATTENTION:
    case IR_OP_COUNT:
      IR_ASSERT(!"not an op");
  }
  if (!ok) return false;
  g->values[node->outputs[0]].type = out;
  return true;
}
