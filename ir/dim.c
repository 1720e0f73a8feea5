/* dim.c: symbolic dims (coef * sym0 * sym1) and types. */
#include "ir.h"

const char *ir_dtype_name(ir_dtype t) { return seqrt_dtype_name((seqrt_dtype)t); }
size_t ir_dtype_size(ir_dtype t) { return seqrt_dtype_size((seqrt_dtype)t); }

ir_dim ir_dim_const(int64_t n) { return (ir_dim){n, {-1, -1}}; }
ir_dim ir_dim_sym(int sym) { return (ir_dim){1, {(int8_t)sym, -1}}; }

bool ir_dim_is_const(ir_dim d) { return d.sym[0] < 0; }

bool ir_dim_eq(ir_dim a, ir_dim b) {
  if (a.coef == 0 && b.coef == 0) return true;
  return a.coef == b.coef && a.sym[0] == b.sym[0] && a.sym[1] == b.sym[1];
}

/* keeps sym sorted with -1 last */
static ir_dim normalize(ir_dim d) {
  if (d.coef == 0) return ir_dim_const(0);
  if (d.sym[0] < 0 && d.sym[1] >= 0) d.sym[0] = d.sym[1], d.sym[1] = -1;
  if (d.sym[1] >= 0 && d.sym[1] < d.sym[0]) {
    int8_t t = d.sym[0];
    d.sym[0] = d.sym[1];
    d.sym[1] = t;
  }
  return d;
}

bool ir_dim_mul(ir_dim a, ir_dim b, ir_dim *out) {
  int8_t s[4];
  int n = 0;
  for (int i = 0; i < IR_DIM_SYMS; i++) {
    if (a.sym[i] >= 0) s[n++] = a.sym[i];
    if (b.sym[i] >= 0) s[n++] = b.sym[i];
  }
  if (a.coef == 0 || b.coef == 0) {
    *out = ir_dim_const(0);
    return true;
  }
  int64_t coef;
  if (n > IR_DIM_SYMS || __builtin_mul_overflow(a.coef, b.coef, &coef)) return false;
  ir_dim r = {coef, {n > 0 ? s[0] : -1, n > 1 ? s[1] : -1}};
  *out = normalize(r);
  return true;
}

bool ir_dim_div(ir_dim a, ir_dim b, ir_dim *out) {
  if (b.coef == 0 || a.coef % b.coef != 0) return false;
  int8_t s[IR_DIM_SYMS] = {a.sym[0], a.sym[1]};
  for (int i = 0; i < IR_DIM_SYMS; i++) {
    if (b.sym[i] < 0) continue;
    int j = 0;
    while (j < IR_DIM_SYMS && s[j] != b.sym[i]) j++;
    if (j == IR_DIM_SYMS) return false;
    s[j] = -1;
  }
  *out = normalize((ir_dim){a.coef / b.coef, {s[0], s[1]}});
  return true;
}

/* a * b, saturated at the int64 bound of its sign: a product of huge
 * user dims (--dim B=2^62) is huge, not undefined behavior */
static int64_t mul_saturated(int64_t a, int64_t b) {
  int64_t r;
  if (!__builtin_mul_overflow(a, b, &r)) return r;
  return (a < 0) != (b < 0) ? INT64_MIN : INT64_MAX;
}

int64_t ir_dim_eval(ir_dim d, const int64_t *syms) {
  int64_t v = d.coef;
  for (int i = 0; i < IR_DIM_SYMS; i++)
    if (d.sym[i] >= 0) v = mul_saturated(v, syms[d.sym[i]]);
  return v;
}

bool ir_type_numel(const ir_type *t, ir_dim *out) {
  ir_dim n = ir_dim_const(1);
  for (int i = 0; i < t->rank; i++)
    if (!ir_dim_mul(n, t->dims[i], &n)) return false;
  *out = n;
  return true;
}

int64_t ir_type_numel_eval(const ir_type *t, const int64_t *syms) {
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) n = mul_saturated(n, ir_dim_eval(t->dims[i], syms));
  return n;
}

bool ir_type_eq(const ir_type *a, const ir_type *b) {
  if (a->dtype != b->dtype || a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (!ir_dim_eq(a->dims[i], b->dims[i])) return false;
  return true;
}
