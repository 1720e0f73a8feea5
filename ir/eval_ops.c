/*
 * eval_ops.c: one plain C kernel per op of ops.def, for the reference
 * interpreter. Clarity over speed, but no quadratic surprises: matmul walks
 * rows so that the reads are contiguous. Floats are f32 in memory as in
 * PyTorch; sums and transcendental functions run in double and round once,
 * which keeps the result within the tolerance of PyTorch's float32 kernels.
 *
 * Every kernel recomputes its result shape from its inputs and compares it
 * with the shape of the result type: the interpreter is also a check of
 * shape inference.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

bool ir_eval_fail(seqrt_error *err, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
  }
  return false;
}

static int64_t numel(const seqrt_tensor *t) { return seqrt_tensor_numel(t); }

static const char *op_name(const ir_node *n) { return ir_ops[n->op].name; }
static const char *node_name(const ir_node *n) { return n->name ? n->name : "?"; }

/* an internal error on node n: the IR broke a promise the kernels rely on */
#define BUG(err, n, fmt, ...)                                                                 \
  ir_eval_fail(err, "internal error: node '%s' (%s): " fmt, node_name(n), op_name(n), \
               __VA_ARGS__)

/* true if out has exactly the shape that the inputs give */
static bool expect_shape(const ir_node *n, const seqrt_tensor *out, int rank, const int64_t *shape,
                         seqrt_error *err) {
  bool same = out->rank == rank;
  for (int i = 0; i < rank && same; i++) same = out->shape[i] == shape[i];
  if (same) return true;
  char a[256], b[256];
  return BUG(err, n, "inputs give %s but the result type says %s",
             seqrt_shape_str(shape, rank, a, sizeof a),
             seqrt_shape_str(out->shape, out->rank, b, sizeof b));
}

static bool expect_dtype(const ir_node *n, const seqrt_tensor *t, seqrt_dtype want,
                         const char *what, seqrt_error *err) {
  if (t->dtype == want) return true;
  return BUG(err, n, "%s is %s, expected %s", what, seqrt_dtype_name(t->dtype),
             seqrt_dtype_name(want));
}

/* the node's `dim` attribute, checked against t's rank (the verifier does too) */
static bool dim_attr(const ir_node *n, const seqrt_tensor *t, int *dim, seqrt_error *err) {
  int64_t d = ir_attr_int(n, "dim");
  if (d < 0 || d >= t->rank) return BUG(err, n, "dim %" PRId64 " outside [0, %d)", d, t->rank);
  *dim = (int)d;
  return true;
}

/* row-major strides (in elements) of t */
static void strides_of(const seqrt_tensor *t, int64_t *st) {
  int64_t s = 1;
  for (int i = t->rank - 1; i >= 0; i--) {
    st[i] = s;
    s *= t->shape[i];
  }
}

/* splits t's shape around dim into outer * shape[dim] * inner */
static void split_at(const seqrt_tensor *t, int dim, int64_t *outer, int64_t *inner) {
  *outer = 1;
  *inner = 1;
  for (int i = 0; i < dim; i++) *outer *= t->shape[i];
  for (int i = dim + 1; i < t->rank; i++) *inner *= t->shape[i];
}

/*
 * Odometer over `shape`: after each element, moves the offsets of up to two
 * operands by their strides, rolling over dims that reached their size.
 */
static void step(int rank, const int64_t *shape, int64_t *idx, const int64_t *s0, int64_t *o0,
                 const int64_t *s1, int64_t *o1) {
  for (int d = rank - 1; d >= 0; d--) {
    idx[d]++;
    *o0 += s0[d];
    if (s1) *o1 += s1[d];
    if (idx[d] < shape[d]) return;
    *o0 -= s0[d] * shape[d];
    if (s1) *o1 -= s1[d] * shape[d];
    idx[d] = 0;
  }
}

/*
 * Broadcasts shapes a and b numpy-style into shape (rank r); sa/sb receive
 * the strides to read each operand with (0 along a broadcast dim).
 */
static bool broadcast(const int64_t *a, int ra, const int64_t *b, int rb, int *r, int64_t *shape,
                      int64_t *sa, int64_t *sb) {
  *r = ra > rb ? ra : rb;
  int64_t ta = 1, tb = 1;
  for (int d = *r - 1; d >= 0; d--) {
    int ia = d - (*r - ra), ib = d - (*r - rb);
    int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1) return false;
    shape[d] = da == 1 ? db : da;
    sa[d] = da == 1 ? 0 : ta;
    sb[d] = db == 1 ? 0 : tb;
    ta *= da;
    tb *= db;
  }
  return true;
}

/* ---- elementwise ---- */

/* the ELEM formulas of ops.def, one function each, and a table of them by op */
typedef double (*scalar_fn)(double x, double y, const double *a);
#define ELEM(id, formula)                                          \
  static double scalar_##id(double x, double y, const double *a) { \
    (void)x, (void)y, (void)a;                                     \
    return (formula);                                              \
  }
#include "ops.def"

static const scalar_fn scalars[IR_OP_COUNT] = {
#define ELEM(id, formula) [IR_OP_##id] = scalar_##id,
#include "ops.def"
};

/* Checked when this file compiles: ELEM formulas belong to IR_T_ELEMWISE ops
 * (a second one for the same op would define scalar_ID twice), and there are
 * as many as elementwise ops, so none of those lacks one. */
enum {
#define OP(id, name, min_in, max_in, nout, traits, attrs, flops, sem) TRAITS_##id = (traits),
#include "ops.def"
};
#define ELEM(id, formula) \
  _Static_assert(TRAITS_##id & IR_T_ELEMWISE, "ops.def: ELEM(" #id ") on an op without IR_T_ELEMWISE");
#include "ops.def"
enum {
  N_ELEMWISE = 0
#define OP(id, name, min_in, max_in, nout, traits, attrs, flops, sem) +((traits) & IR_T_ELEMWISE ? 1 : 0)
#include "ops.def"
  ,
  N_FORMULAS = 0
#define ELEM(id, formula) +1
#include "ops.def"
};
_Static_assert(N_ELEMWISE == N_FORMULAS, "ops.def: an IR_T_ELEMWISE op has no ELEM formula");

/* n's formula; an op without one never reaches here (the table is checked above) */
static scalar_fn scalar_of(const ir_node *n) {
  scalar_fn f = scalars[n->op];
  IR_ASSERT(f);
  return f;
}

static bool binary(const ir_node *n, const seqrt_tensor *a, const seqrt_tensor *b,
                   seqrt_tensor *out, seqrt_error *err) {
  if (!expect_dtype(n, a, SEQRT_F32, "input 0", err) ||
      !expect_dtype(n, b, SEQRT_F32, "input 1", err))
    return false;
  int r;
  int64_t shape[SEQRT_MAX_RANK], sa[SEQRT_MAX_RANK], sb[SEQRT_MAX_RANK], idx[SEQRT_MAX_RANK] = {0};
  if (!broadcast(a->shape, a->rank, b->shape, b->rank, &r, shape, sa, sb)) {
    char x[256], y[256];
    return BUG(err, n, "cannot broadcast %s with %s", seqrt_shape_str(a->shape, a->rank, x, 256),
               seqrt_shape_str(b->shape, b->rank, y, 256));
  }
  if (!expect_shape(n, out, r, shape, err)) return false;
  scalar_fn f = scalar_of(n);
  double at[IR_MAX_OP_ATTRS];
  ir_attr_values(n, at);
  const float *x = a->data, *y = b->data;
  float *o = out->data;
  int64_t total = numel(out), ia = 0, ib = 0;
  for (int64_t i = 0; i < total; i++) {
    o[i] = (float)f(x[ia], y[ib], at);
    step(r, shape, idx, sa, &ia, sb, &ib);
  }
  return true;
}

static bool unary(const ir_node *n, const seqrt_tensor *a, seqrt_tensor *out, seqrt_error *err) {
  if (!expect_dtype(n, a, SEQRT_F32, "input", err) ||
      !expect_shape(n, out, a->rank, a->shape, err))
    return false;
  scalar_fn f = scalar_of(n);
  double at[IR_MAX_OP_ATTRS];
  ir_attr_values(n, at);
  const float *x = a->data;
  float *o = out->data;
  int64_t total = numel(a);
  for (int64_t i = 0; i < total; i++) o[i] = (float)f(x[i], 0, at);
  return true;
}

/* COPY, DROPOUT: the same elements, any dtype */
static bool identity(const ir_node *n, const seqrt_tensor *a, seqrt_tensor *out,
                     seqrt_error *err) {
  if (!expect_dtype(n, a, out->dtype, "input", err) ||
      !expect_shape(n, out, a->rank, a->shape, err))
    return false;
  memcpy(out->data, a->data, (size_t)numel(a) * seqrt_dtype_size(a->dtype));
  return true;
}

/* ---- linear algebra ---- */

static bool matmul(const ir_node *n, const seqrt_tensor *a, const seqrt_tensor *b,
                   seqrt_tensor *out, seqrt_error *err) {
  if (!expect_dtype(n, a, SEQRT_F32, "input 0", err) ||
      !expect_dtype(n, b, SEQRT_F32, "input 1", err))
    return false;
  if (a->rank < 2 || b->rank < 2)
    return BUG(err, n, "ranks %d and %d, need >= 2", a->rank, b->rank);
  bool tb = ir_attr_int(n, "trans_b") != 0;
  int64_t M = a->shape[a->rank - 2], K = a->shape[a->rank - 1];
  int64_t KB = b->shape[b->rank - (tb ? 1 : 2)], N = b->shape[b->rank - (tb ? 2 : 1)];
  if (K != KB) return BUG(err, n, "inner dims %" PRId64 " and %" PRId64 " differ", K, KB);
  int r;
  int64_t shape[SEQRT_MAX_RANK], sa[SEQRT_MAX_RANK], sb[SEQRT_MAX_RANK], idx[SEQRT_MAX_RANK] = {0};
  if (!broadcast(a->shape, a->rank - 2, b->shape, b->rank - 2, &r, shape, sa, sb))
    return BUG(err, n, "%s", "batch dims do not broadcast");
  shape[r] = M;
  shape[r + 1] = N;
  if (!expect_shape(n, out, r + 2, shape, err)) return false;
  int64_t batches = 1, ia = 0, ib = 0;
  for (int d = 0; d < r; d++) batches *= shape[d];
  double *acc = malloc(sizeof(double) * (size_t)(N > 0 ? N : 1));
  if (!acc) return ir_eval_fail(err, "out of memory");
  for (int64_t bt = 0; bt < batches; bt++) {
    const float *A = (const float *)a->data + ia * M * K;
    const float *B = (const float *)b->data + ib * K * N;
    float *C = (float *)out->data + bt * M * N;
    for (int64_t i = 0; i < M; i++) {
      const float *arow = A + i * K;
      if (tb) {
        for (int64_t j = 0; j < N; j++) {
          double s = 0;
          for (int64_t k = 0; k < K; k++) s += (double)arow[k] * B[j * K + k];
          C[i * N + j] = (float)s;
        }
      } else {
        for (int64_t j = 0; j < N; j++) acc[j] = 0;
        for (int64_t k = 0; k < K; k++) {
          double av = arow[k];
          const float *brow = B + k * N;
          for (int64_t j = 0; j < N; j++) acc[j] += av * brow[j];
        }
        for (int64_t j = 0; j < N; j++) C[i * N + j] = (float)acc[j];
      }
    }
    if (r > 0) step(r, shape, idx, sa, &ia, sb, &ib);
  }
  free(acc);
  return true;
}

/* x [..., in] @ weight[out, in]^T + bias[out] */
static bool linear(const ir_node *n, const seqrt_tensor *in, seqrt_tensor *out, seqrt_error *err) {
  const seqrt_tensor *x = &in[0], *w = &in[1], *bias = n->ninputs > 2 ? &in[2] : NULL;
  if (!expect_dtype(n, x, SEQRT_F32, "input", err) ||
      !expect_dtype(n, w, SEQRT_F32, "weight", err) ||
      (bias && !expect_dtype(n, bias, SEQRT_F32, "bias", err)))
    return false;
  if (x->rank < 1 || w->rank != 2) return BUG(err, n, "ranks %d and %d", x->rank, w->rank);
  int64_t I = x->shape[x->rank - 1], O = w->shape[0];
  if (w->shape[1] != I)
    return BUG(err, n, "weight has %" PRId64 " inputs, x %" PRId64, w->shape[1], I);
  if (bias && (bias->rank != 1 || bias->shape[0] != O))
    return BUG(err, n, "%s", "bias is not [out]");
  int64_t shape[SEQRT_MAX_RANK];
  memcpy(shape, x->shape, sizeof shape);
  shape[x->rank - 1] = O;
  if (!expect_shape(n, out, x->rank, shape, err)) return false;
  int64_t rows = I ? numel(x) / I : numel(out) / (O ? O : 1);
  const float *X = x->data, *W = w->data, *Bv = bias ? bias->data : NULL;
  float *Y = out->data;
  for (int64_t r = 0; r < rows; r++)
    for (int64_t o = 0; o < O; o++) {
      double s = Bv ? Bv[o] : 0;
      for (int64_t k = 0; k < I; k++) s += (double)X[r * I + k] * W[o * I + k];
      Y[r * O + o] = (float)s;
    }
  return true;
}

/* ---- row kernels ---- */

static bool softmax(const ir_node *n, const seqrt_tensor *a, seqrt_tensor *out, seqrt_error *err) {
  if (!expect_dtype(n, a, SEQRT_F32, "input", err) ||
      !expect_shape(n, out, a->rank, a->shape, err))
    return false;
  int dim;
  if (!dim_attr(n, a, &dim, err)) return false;
  int64_t outer, inner, len = a->shape[dim];
  split_at(a, dim, &outer, &inner);
  const float *x = a->data;
  float *o = out->data;
  for (int64_t p = 0; p < outer; p++)
    for (int64_t q = 0; q < inner; q++) {
      int64_t base = p * len * inner + q;
      float mx = -INFINITY;
      for (int64_t k = 0; k < len; k++) mx = fmaxf(mx, x[base + k * inner]);
      double sum = 0;
      for (int64_t k = 0; k < len; k++) sum += exp((double)x[base + k * inner] - mx);
      for (int64_t k = 0; k < len; k++)
        o[base + k * inner] = (float)(exp((double)x[base + k * inner] - mx) / sum);
    }
  return true;
}

/* layer_norm (with bias) and rms_norm (bias NULL) over the last dim */
static bool norm(const ir_node *n, const seqrt_tensor *in, seqrt_tensor *out, seqrt_error *err) {
  bool rms = n->op == IR_OP_RMS_NORM;
  const seqrt_tensor *x = &in[0], *w = &in[1], *b = rms ? NULL : &in[2];
  if (!expect_dtype(n, x, SEQRT_F32, "input", err) ||
      !expect_dtype(n, w, SEQRT_F32, "weight", err) ||
      (b && !expect_dtype(n, b, SEQRT_F32, "bias", err)) ||
      !expect_shape(n, out, x->rank, x->shape, err))
    return false;
  if (x->rank < 1) return BUG(err, n, "%s", "input is a scalar");
  int64_t D = x->shape[x->rank - 1];
  if (numel(w) != D || (b && numel(b) != D))
    return BUG(err, n, "weight or bias does not have %" PRId64 " elements", D);
  double eps = ir_attr_float(n, "eps");
  int64_t rows = D ? numel(x) / D : 0;
  const float *X = x->data, *W = w->data, *Bv = b ? b->data : NULL;
  float *Y = out->data;
  for (int64_t r = 0; r < rows; r++) {
    const float *row = X + r * D;
    double mean = 0, var = 0;
    if (!rms) {
      for (int64_t k = 0; k < D; k++) mean += row[k];
      mean /= (double)D;
    }
    for (int64_t k = 0; k < D; k++) var += (row[k] - mean) * (row[k] - mean);
    var /= (double)D;
    double inv = 1.0 / sqrt(var + eps);
    for (int64_t k = 0; k < D; k++)
      Y[r * D + k] = (float)((row[k] - mean) * inv * W[k] + (Bv ? Bv[k] : 0.0));
  }
  return true;
}

static bool mean(const ir_node *n, const seqrt_tensor *a, seqrt_tensor *out, seqrt_error *err) {
  int dim;
  if (!expect_dtype(n, a, SEQRT_F32, "input", err) || !dim_attr(n, a, &dim, err)) return false;
  bool keep = ir_attr_int(n, "keepdim") != 0;
  int64_t shape[SEQRT_MAX_RANK];
  int r = 0;
  for (int i = 0; i < a->rank; i++)
    if (i != dim) shape[r++] = a->shape[i];
    else if (keep) shape[r++] = 1;
  if (!expect_shape(n, out, r, shape, err)) return false;
  int64_t outer, inner, len = a->shape[dim];
  split_at(a, dim, &outer, &inner);
  const float *x = a->data;
  float *o = out->data;
  for (int64_t p = 0; p < outer; p++)
    for (int64_t q = 0; q < inner; q++) {
      double s = 0;
      for (int64_t k = 0; k < len; k++) s += x[p * len * inner + k * inner + q];
      o[p * inner + q] = (float)(len ? s / (double)len : NAN); /* mean of nothing: NaN as torch */
    }
  return true;
}

/* i64 index of the largest along dim, as torch.argmax: the lowest index on
 * ties, NaN larger than any number (so the first NaN wins) */
static bool argmax(const ir_node *n, const seqrt_tensor *a, seqrt_tensor *out, seqrt_error *err) {
  int dim;
  if (!expect_dtype(n, a, SEQRT_F32, "input", err) || !dim_attr(n, a, &dim, err)) return false;
  if (!expect_dtype(n, out, SEQRT_I64, "result", err)) return false;
  bool keep = ir_attr_int(n, "keepdim") != 0;
  int64_t shape[SEQRT_MAX_RANK];
  int r = 0;
  for (int i = 0; i < a->rank; i++)
    if (i != dim)
      shape[r++] = a->shape[i];
    else if (keep)
      shape[r++] = 1;
  if (!expect_shape(n, out, r, shape, err)) return false;
  int64_t outer, inner, len = a->shape[dim];
  split_at(a, dim, &outer, &inner);
  const float *x = a->data;
  int64_t *o = out->data;
  for (int64_t p = 0; p < outer; p++)
    for (int64_t q = 0; q < inner; q++) {
      int64_t best = 0;
      for (int64_t k = 1; k < len; k++) {
        float v = x[p * len * inner + k * inner + q], b = x[p * len * inner + best * inner + q];
        if (!isnan(b) && (isnan(v) || v > b)) best = k;
      }
      o[p * inner + q] = best;
    }
  return true;
}

/* ---- data movement (any dtype) ---- */

static bool concat(const ir_node *n, const seqrt_tensor *in, seqrt_tensor *out, seqrt_error *err) {
  const seqrt_tensor *a = &in[0];
  int dim;
  if (!dim_attr(n, a, &dim, err)) return false;
  int64_t shape[SEQRT_MAX_RANK];
  memcpy(shape, a->shape, sizeof shape);
  shape[dim] = 0;
  for (int i = 0; i < n->ninputs; i++) {
    const seqrt_tensor *t = &in[i];
    if (!expect_dtype(n, t, a->dtype, "an input", err)) return false;
    bool fits = t->rank == a->rank;
    for (int d = 0; d < a->rank && fits; d++) fits = d == dim || t->shape[d] == a->shape[d];
    if (!fits) return BUG(err, n, "input %d does not fit input 0 outside dim %d", i, dim);
    shape[dim] += t->shape[dim];
  }
  if (!expect_shape(n, out, a->rank, shape, err)) return false;
  size_t es = seqrt_dtype_size(a->dtype);
  int64_t outer, inner;
  split_at(a, dim, &outer, &inner);
  char *o = out->data;
  for (int64_t p = 0; p < outer; p++)
    for (int i = 0; i < n->ninputs; i++) {
      size_t block = (size_t)(in[i].shape[dim] * inner) * es;
      memcpy(o, (const char *)in[i].data + (size_t)p * block, block);
      o += block;
    }
  return true;
}

/* Python's clamping of a slice bound into [0, len] */
static int64_t slice_bound(int64_t v, int64_t len) {
  if (v < 0) v = v < -len ? 0 : v + len;
  return v > len ? len : v;
}

static bool slice(const ir_node *n, const seqrt_tensor *a, seqrt_tensor *out, seqrt_error *err) {
  int dim;
  if (!dim_attr(n, a, &dim, err)) return false;
  int64_t len = a->shape[dim];
  int64_t s = slice_bound(ir_attr_int(n, "start"), len);
  int64_t e = slice_bound(ir_attr_int(n, "end"), len);
  if (e < s) e = s;
  int64_t shape[SEQRT_MAX_RANK];
  memcpy(shape, a->shape, sizeof shape);
  shape[dim] = e - s;
  if (!expect_dtype(n, a, out->dtype, "input", err) ||
      !expect_shape(n, out, a->rank, shape, err))
    return false;
  size_t es = seqrt_dtype_size(a->dtype);
  int64_t outer, inner;
  split_at(a, dim, &outer, &inner);
  size_t block = (size_t)((e - s) * inner) * es;
  for (int64_t p = 0; p < outer; p++)
    memcpy((char *)out->data + (size_t)p * block,
           (const char *)a->data + (size_t)((p * len + s) * inner) * es, block);
  return true;
}

static bool select_(const ir_node *n, const seqrt_tensor *a, seqrt_tensor *out, seqrt_error *err) {
  int dim;
  if (!dim_attr(n, a, &dim, err)) return false;
  int64_t len = a->shape[dim], index = ir_attr_int(n, "index");
  int64_t k = index < 0 ? index + len : index;
  if (k < 0 || k >= len)
    return ir_eval_fail(err, "select index %" PRId64 " out of range for dim %d of size %" PRId64
                             " in '%s'",
                        index, dim, len, node_name(n));
  int64_t shape[SEQRT_MAX_RANK];
  int r = 0;
  for (int i = 0; i < a->rank; i++)
    if (i != dim) shape[r++] = a->shape[i];
  if (!expect_dtype(n, a, out->dtype, "input", err) || !expect_shape(n, out, r, shape, err))
    return false;
  size_t es = seqrt_dtype_size(a->dtype);
  int64_t outer, inner;
  split_at(a, dim, &outer, &inner);
  size_t block = (size_t)inner * es;
  for (int64_t p = 0; p < outer; p++)
    memcpy((char *)out->data + (size_t)p * block,
           (const char *)a->data + (size_t)((p * len + k) * inner) * es, block);
  return true;
}

static bool transpose(const ir_node *n, const seqrt_tensor *a, seqrt_tensor *out,
                      seqrt_error *err) {
  const ir_attr *perm = ir_get_attr(n, "perm");
  if (!perm || perm->nints != a->rank) return BUG(err, n, "%s", "perm does not match the rank");
  int64_t st[SEQRT_MAX_RANK], shape[SEQRT_MAX_RANK], ps[SEQRT_MAX_RANK], idx[SEQRT_MAX_RANK] = {0};
  strides_of(a, st);
  for (int i = 0; i < a->rank; i++) {
    if (perm->ints[i] < 0 || perm->ints[i] >= a->rank) return BUG(err, n, "%s", "bad perm");
    shape[i] = a->shape[perm->ints[i]];
    ps[i] = st[perm->ints[i]];
  }
  if (!expect_dtype(n, a, out->dtype, "input", err) ||
      !expect_shape(n, out, a->rank, shape, err))
    return false;
  size_t es = seqrt_dtype_size(a->dtype);
  int64_t total = numel(a), off = 0;
  for (int64_t i = 0; i < total; i++) {
    memcpy((char *)out->data + (size_t)i * es, (const char *)a->data + (size_t)off * es, es);
    step(a->rank, shape, idx, ps, &off, NULL, NULL);
  }
  return true;
}

/* the element count is all that must agree: the result type holds the shape */
static bool reshape(const ir_node *n, const seqrt_tensor *a, seqrt_tensor *out,
                    seqrt_error *err) {
  if (!expect_dtype(n, a, out->dtype, "input", err)) return false;
  if (numel(a) != numel(out))
    return BUG(err, n, "%" PRId64 " elements into %" PRId64, numel(a), numel(out));
  memcpy(out->data, a->data, (size_t)numel(a) * seqrt_dtype_size(a->dtype));
  return true;
}

/* "[0, 5]": flat position p unravelled over shape */
static const char *position_str(int64_t p, const int64_t *shape, int rank, char *buf, size_t size) {
  int64_t idx[SEQRT_MAX_RANK];
  for (int d = rank - 1; d >= 0; d--) {
    idx[d] = shape[d] ? p % shape[d] : 0;
    p = shape[d] ? p / shape[d] : 0;
  }
  return seqrt_shape_str(idx, rank, buf, size);
}

static bool embedding(const ir_graph *g, const ir_node *n, const seqrt_tensor *in,
                      seqrt_tensor *out, seqrt_error *err) {
  const seqrt_tensor *w = &in[0], *ix = &in[1];
  if (!expect_dtype(n, w, out->dtype, "weight", err)) return false;
  if (w->rank != 2) return BUG(err, n, "weight has rank %d, expected 2", w->rank);
  if (ix->dtype != SEQRT_I32 && ix->dtype != SEQRT_I64)
    return BUG(err, n, "indices are %s", seqrt_dtype_name(ix->dtype));
  if (ix->rank + 1 > SEQRT_MAX_RANK) return BUG(err, n, "%s", "indices rank too large");
  int64_t N = w->shape[0], D = w->shape[1], shape[SEQRT_MAX_RANK];
  memcpy(shape, ix->shape, sizeof(int64_t) * (size_t)ix->rank);
  shape[ix->rank] = D;
  if (!expect_shape(n, out, ix->rank + 1, shape, err)) return false;
  size_t row = (size_t)D * seqrt_dtype_size(w->dtype);
  int64_t total = numel(ix);
  for (int64_t p = 0; p < total; p++) {
    int64_t k = ix->dtype == SEQRT_I32 ? ((const int32_t *)ix->data)[p]
                                       : ((const int64_t *)ix->data)[p];
    if (k < 0 || k >= N) {
      char pos[256];
      const char *name = g->values[n->inputs[1]].name;
      return ir_eval_fail(err,
                          "index %" PRId64 " out of range [0, %" PRId64 ") at position %s of '%s'",
                          k, N, position_str(p, ix->shape, ix->rank, pos, sizeof pos),
                          name ? name : "?");
    }
    memcpy((char *)out->data + (size_t)p * row, (const char *)w->data + (size_t)k * row, row);
  }
  return true;
}

/* x [..., T, D] + PE[T, D], PE(pos, 2i) = sin(pos / 10000^(2i/D)), odd: cos;
 * pos = p0 + t (p0: the session position when T is the position dim, else 0) */
static bool positional_encoding(const ir_node *n, const seqrt_tensor *a, int64_t p0,
                                seqrt_tensor *out, seqrt_error *err) {
  if (!expect_dtype(n, a, SEQRT_F32, "input", err) ||
      !expect_shape(n, out, a->rank, a->shape, err))
    return false;
  if (a->rank < 2) return BUG(err, n, "input has rank %d, expected >= 2", a->rank);
  int64_t T = a->shape[a->rank - 2], D = a->shape[a->rank - 1];
  if (a->rank != 3) p0 = 0; /* only [B, T, D] runs along axis 1 */
  double *pe = malloc(sizeof(double) * (size_t)(T * D > 0 ? T * D : 1));
  if (!pe) return ir_eval_fail(err, "out of memory");
  for (int64_t t = 0; t < T; t++)
    for (int64_t j = 0; j < D; j++) {
      double angle = (double)(p0 + t) / pow(10000.0, (double)(j - j % 2) / (double)D);
      pe[t * D + j] = j % 2 ? cos(angle) : sin(angle);
    }
  int64_t total = numel(a), plane = T * D;
  const float *x = a->data;
  float *o = out->data;
  for (int64_t i = 0; i < total; i++) o[i] = (float)(x[i] + pe[i % plane]);
  free(pe);
  return true;
}

/* true when query i may see key j under the node's causal and window attrs */
static bool attends(int64_t i, int64_t j, bool causal, int64_t window) {
  if (causal && j > i) return false;
  return window < 0 || (j >= i - window && j <= i + window);
}

/* whether key j of batch row b is padding in the mask [B, Tk] (i32 or i64) */
static bool padded(const seqrt_tensor *mask, int64_t b, int64_t j) {
  int64_t at = b * mask->shape[1] + j;
  if (mask->dtype == SEQRT_I32) return ((const int32_t *)mask->data)[at] != 0;
  return ((const int64_t *)mask->data)[at] != 0;
}

/*
 * q [B, H, Tq, dh], k, v [B, H, Tk, dh]: softmax(q k^T * scale + mask) v, row
 * by row in double with the whole row of scores (the plain definition,
 * memory O(keys)). With caches kc, vc [B, H, S, dh] (inputs 3 and 4) query i
 * is position p+i, and the keys are the kept positions max(0, p-S) .. p-1
 * (position j at row j mod S) and then k's, positions p .. p+Tk-1; the mask
 * compares positions. With key_padding, input 3 [B, Tk] hides key j of
 * row b wherever it is non-zero. With pos_bias R, the last input, a table
 * [H, 2R+1], adds table[h, clamp(key position - query position, -R, R) + R]
 * to each score of head h.
 */
static bool attention(const ir_graph *g, const ir_node *n, const seqrt_tensor *in,
                      int64_t position, seqrt_tensor *out, seqrt_error *err) {
  const seqrt_tensor *q = &in[0], *k = &in[1], *v = &in[2];
  ir_attn_layout at = ir_attn_layout_of(n);
  const seqrt_tensor *mask = at.mask >= 0 ? &in[at.mask] : NULL; /* [B, Tk], non-zero = padding */
  const seqrt_tensor *table = at.table >= 0 ? &in[at.table] : NULL;
  for (int i = 0; i < n->ninputs; i++)
    if (i != at.mask && !expect_dtype(n, &in[i], SEQRT_F32, "an input", err)) return false;
  if (q->rank != 4 || k->rank != 4 || v->rank != 4)
    return BUG(err, n, "ranks %d, %d, %d, need 4", q->rank, k->rank, v->rank);
  int64_t BH = q->shape[0] * q->shape[1], Tq = q->shape[2], Tk = k->shape[2], dh = q->shape[3];
  if (!expect_shape(n, out, 4, q->shape, err)) return false;
  double scale = ir_attr_float(n, "scale");
  bool causal = ir_attr_int(n, "causal") != 0;
  int64_t window = ir_attr_int(n, "window");
  bool cached = at.cache >= 0;
  int64_t R = at.R, width = 2 * R + 1; /* the table's row: distances -R .. R */
  if (table && (table->rank != 2 || table->shape[0] != q->shape[1] || table->shape[1] != width))
    return BUG(err, n, "%s", "position bias table not [H, 2R+1]");
  if (mask && (mask->rank != 2 || mask->shape[0] != q->shape[0] || mask->shape[1] != Tk ||
               (mask->dtype != SEQRT_I32 && mask->dtype != SEQRT_I64)))
    return BUG(err, n, "%s", "key padding mask not [B, Tk] i32/i64");
  int64_t S = cached ? in[3].shape[2] : 0, p0 = cached ? position : 0;
  int64_t first_kept = p0 > S ? p0 - S : 0, nkept = p0 - first_kept;
  if (cached && window < 0 && p0 + Tk > S) {
    char msg[512];
    seqrt_cache_full_msg(msg, sizeof msg, g->values[n->inputs[3]].name, S, p0, Tk);
    return ir_eval_fail(err, "%s", msg);
  }
  int64_t nkeys = nkept + Tk;
  double *p = malloc(sizeof(double) * (size_t)(nkeys > 0 ? nkeys : 1));
  double *acc = malloc(sizeof(double) * (size_t)(dh > 0 ? dh : 1));
  const float **krow = malloc(sizeof(float *) * 2 * (size_t)(nkeys > 0 ? nkeys : 1));
  if (!p || !acc || !krow) {
    free(p);
    free(acc);
    free(krow);
    return ir_eval_fail(err, "out of memory");
  }
  const float **vrow = krow + nkeys;
  for (int64_t bh = 0; bh < BH; bh++) {
    const float *Q = (const float *)q->data + bh * Tq * dh;
    float *O = (float *)out->data + bh * Tq * dh;
    /* key number j is position first_kept + j: the kept ones, then k's */
    for (int64_t j = 0; j < nkept; j++) {
      int64_t row = (first_kept + j) % (S ? S : 1);
      krow[j] = (const float *)in[3].data + (bh * S + row) * dh;
      vrow[j] = (const float *)in[4].data + (bh * S + row) * dh;
    }
    for (int64_t j = 0; j < Tk; j++) {
      krow[nkept + j] = (const float *)k->data + (bh * Tk + j) * dh;
      vrow[nkept + j] = (const float *)v->data + (bh * Tk + j) * dh;
    }
    /* head h's row of the table */
    const float *bias = table ? (const float *)table->data + bh % q->shape[1] * width : NULL;
    for (int64_t i = 0; i < Tq; i++) {
      double mx = -INFINITY, sum = 0;
      for (int64_t j = 0; j < nkeys; j++) {
        p[j] = -INFINITY;
        if (!attends(p0 + i, first_kept + j, causal, window)) continue;
        if (mask && padded(mask, bh / q->shape[1], j)) continue; /* no caches: j is k's */
        double s = 0;
        for (int64_t c = 0; c < dh; c++) s += (double)Q[i * dh + c] * krow[j][c];
        p[j] = s * scale;
        if (bias) {
          int64_t d = first_kept + j - (p0 + i); /* key position - query position */
          p[j] += bias[(d < -R ? -R : d > R ? R : d) + R];
        }
        if (p[j] > mx) mx = p[j];
      }
      for (int64_t c = 0; c < dh; c++) acc[c] = 0;
      for (int64_t j = 0; j < nkeys; j++) {
        if (p[j] == -INFINITY) continue;
        double e = exp(p[j] - mx);
        sum += e;
        for (int64_t c = 0; c < dh; c++) acc[c] += e * vrow[j][c];
      }
      /* a row that sees no key has weights 0 (SPEC 11; PyTorch gives NaN) */
      for (int64_t c = 0; c < dh; c++) O[i * dh + c] = sum > 0 ? (float)(acc[c] / sum) : 0.0f;
    }
  }
  free(p);
  free(acc);
  free(krow);
  return true;
}

/* every element of out = the node's value */
static bool fill(const ir_node *n, seqrt_tensor *out, seqrt_error *err) {
  double v = ir_attr_float(n, "value");
  int64_t total = numel(out);
  for (int64_t i = 0; i < total; i++) switch (out->dtype) {
    case SEQRT_F32: ((float *)out->data)[i] = (float)v; break;
    case SEQRT_I32: ((int32_t *)out->data)[i] = (int32_t)v; break;
    case SEQRT_I64: ((int64_t *)out->data)[i] = (int64_t)v; break;
    default: return BUG(err, n, "%s", "bad dtype");
    }
  return true;
}

/* x [B, T, C], w [k, C, O], bias [O]: nn.Conv1d, sums in double */
static bool conv1d(const ir_node *n, const seqrt_tensor *in, seqrt_tensor *out, seqrt_error *err) {
  const seqrt_tensor *x = &in[0], *w = &in[1], *bias = n->ninputs > 2 ? &in[2] : NULL;
  if (x->rank != 3 || w->rank != 3 || w->shape[1] != x->shape[2])
    return BUG(err, n, "ranks %d and %d or channels differ", x->rank, w->rank);
  int64_t B = x->shape[0], T = x->shape[1], C = x->shape[2], K = w->shape[0], O = w->shape[2];
  int64_t st = ir_attr_int(n, "stride"), pad = ir_attr_int(n, "padding");
  int64_t dil = ir_attr_int(n, "dilation");
  int64_t Tout = (T + 2 * pad - dil * (K - 1) - 1) / st + 1;
  int64_t shape[3] = {B, Tout, O};
  if (!expect_shape(n, out, 3, shape, err)) return false;
  double *acc = malloc(sizeof(double) * (size_t)(O > 0 ? O : 1));
  if (!acc) return ir_eval_fail(err, "out of memory");
  const float *X = x->data, *W = w->data;
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < Tout; t++) {
      for (int64_t o = 0; o < O; o++) acc[o] = bias ? ((const float *)bias->data)[o] : 0;
      for (int64_t j = 0; j < K; j++) {
        int64_t ti = t * st + j * dil - pad;
        if (ti < 0 || ti >= T) continue;
        for (int64_t c = 0; c < C; c++) {
          double xv = X[(b * T + ti) * C + c];
          const float *wr = W + (j * C + c) * O;
          for (int64_t o = 0; o < O; o++) acc[o] += xv * wr[o];
        }
      }
      float *y = (float *)out->data + (b * Tout + t) * O;
      for (int64_t o = 0; o < O; o++) y[o] = (float)acc[o];
    }
  free(acc);
  return true;
}

/* out [B, T] i64 = p0 + t */
static bool positions(const ir_node *n, int64_t p0, seqrt_tensor *out, seqrt_error *err) {
  if (out->dtype != SEQRT_I64 || out->rank != 2) return BUG(err, n, "%s", "result is not i64 [B, T]");
  int64_t *o = out->data;
  for (int64_t b = 0; b < out->shape[0]; b++)
    for (int64_t t = 0; t < out->shape[1]; t++) o[b * out->shape[1] + t] = p0 + t;
  return true;
}

bool ir_eval_kernel(const ir_graph *g, const ir_node *n, const seqrt_tensor *in, int64_t position,
                    seqrt_tensor *out, seqrt_error *err) {
  /* the ops that count positions start at p when they run along the position dim */
  int64_t p0 = ir_at_position(g, &g->values[n->inputs[0]].type) ? position : 0;
  switch (n->op) {
  case IR_OP_DROPOUT: return identity(n, &in[0], out, err);
#define ELEM(id, formula) case IR_OP_##id:
#include "ops.def"
    if (n->op == IR_OP_COPY) return identity(n, &in[0], out, err); /* any dtype */
    return ir_ops[n->op].traits & IR_T_BINARY ? binary(n, &in[0], &in[1], out, err)
                                               : unary(n, &in[0], out, err);
  case IR_OP_MATMUL: return matmul(n, &in[0], &in[1], out, err);
  case IR_OP_SOFTMAX: return softmax(n, &in[0], out, err);
  case IR_OP_LAYER_NORM:
  case IR_OP_RMS_NORM: return norm(n, in, out, err);
  case IR_OP_MEAN: return mean(n, &in[0], out, err);
  case IR_OP_ARGMAX:
    return argmax(n, &in[0], out, err);
  case IR_OP_CONCAT: return concat(n, in, out, err);
  case IR_OP_SLICE: return slice(n, &in[0], out, err);
  case IR_OP_SELECT: return select_(n, &in[0], out, err);
  case IR_OP_TRANSPOSE: return transpose(n, &in[0], out, err);
  case IR_OP_RESHAPE: return reshape(n, &in[0], out, err);
  case IR_OP_EMBEDDING: return embedding(g, n, in, out, err);
  case IR_OP_POSITIONAL_ENCODING: return positional_encoding(n, &in[0], p0, out, err);
  case IR_OP_POSITIONS: return positions(n, p0, out, err);
  case IR_OP_ATTENTION: return attention(g, n, in, position, out, err);
  case IR_OP_CONV1D: return conv1d(n, in, out, err);
  case IR_OP_LINEAR: return linear(n, in, out, err);
  case IR_OP_FILL: return fill(n, out, err);
  case IR_OP_MEMORY_WRITE: return ir_eval_memory_write(n, in, out, err);
  case IR_OP_REL_ATTENTION: return ir_eval_rel_attention(n, in, position, out, err);
  case IR_OP_SLOT_ATTENTION: return ir_eval_slot_attention(n, in, out, err);
  case IR_OP_STATE_READ: /* eval.c: they need the session */
  case IR_OP_STATE_WRITE:
  case IR_OP_CACHE_WRITE:
  case IR_OP_SCAN: /* eval.c runs the body; eval_rnn.c, eval_attention.c the layers */
  case IR_OP_RNN:
  case IR_OP_LSTM:
  case IR_OP_GRU:
  case IR_OP_MULTIHEAD_ATTENTION:
  case IR_OP_TRANSFORMER_ENCODER_LAYER:
  case IR_OP_TRANSFORMER_DECODER_LAYER:
  case IR_OP_TRANSFORMER_XL:
  case IR_OP_T5_ATTENTION:
  case IR_OP_FUSED:
  case IR_OP_COUNT: break;
  }
  return BUG(err, n, "%s", "no kernel for this op");
}
