/* tensor.c: the runtime's error and size helpers (tensor helpers: seqrt_types.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

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
