/* tensor.c: dtypes, small tensor helpers, and the runtime's error and size helpers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

size_t seqrt_dtype_size(seqrt_dtype t) {
  switch (t) {
  case SEQRT_F32: return 4;
  case SEQRT_I32: return 4;
  case SEQRT_I64: return 8;
  }
  return 0;
}

const char *seqrt_dtype_name(seqrt_dtype t) {
  switch (t) {
  case SEQRT_F32: return "f32";
  case SEQRT_I32: return "i32";
  case SEQRT_I64: return "i64";
  }
  return "?";
}

int64_t seqrt_tensor_numel(const seqrt_tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) n *= t->shape[i];
  return n;
}

const char *seqrt_shape_str(const int64_t *shape, int rank, char *buf, size_t size) {
  size_t k = 0;
  k += (size_t)snprintf(buf + k, size - k, "[");
  for (int i = 0; i < rank && k < size; i++)
    k += (size_t)snprintf(buf + k, size - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
  if (k < size) snprintf(buf + k, size - k, "]");
  return buf;
}

void rt_errorf(seqrt_error *err, const char *fmt, ...) {
  if (!err) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
}

bool rt_mul_size(size_t a, size_t b, size_t *out) {
  size_t r;
  if (__builtin_mul_overflow(a, b, &r)) return false;
  *out = r;
  return true;
}

bool rt_round64(size_t n, size_t *out) {
  if (n > SIZE_MAX - 63) return false;
  *out = (n + 63) & ~(size_t)63;
  return true;
}

void *rt_alloc64(size_t size) {
  size_t n;
  if (!rt_round64(size ? size : 1, &n)) return NULL;
  void *p = aligned_alloc(64, n);
  if (p) memset(p, 0, n);
  return p;
}
