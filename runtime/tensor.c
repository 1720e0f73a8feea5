/* tensor.c: dtypes and small tensor helpers. */
#include <stdio.h>

#include "seqrt.h"

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
