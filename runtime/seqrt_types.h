/*
 * seqrt_types.h: the few types the compiler's IR and the runtime share
 * (dtypes, tensors, errors, buffer roles) and their tiny helpers. It is
 * header-only and includes only the C library, so that ir/ can use it
 * without linking the runtime (OpenMP, cJSON). seqrt.h includes it; a
 * program that embeds a model includes seqrt.h, never this file directly.
 */
#ifndef SEQRT_TYPES_H
#define SEQRT_TYPES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SEQRT_MAX_RANK 8

typedef enum seqrt_dtype { SEQRT_F32 = 0, SEQRT_I32 = 1, SEQRT_I64 = 2 } seqrt_dtype;

typedef struct seqrt_error {
  char msg[1024]; /* what went wrong, one line, no trailing newline */
} seqrt_error;

/* A dense row-major tensor. data is not owned unless a function says so. */
typedef struct seqrt_tensor {
  seqrt_dtype dtype;              /* element type */
  int rank;                       /* number of dims */
  int64_t shape[SEQRT_MAX_RANK];  /* outermost first */
  void *data;                     /* elements */
} seqrt_tensor;

/* What a buffer of a compiled model holds; the compiler plans them (ir_buffer)
 * and the runtime places them (seqrt_buffer_desc). */
typedef enum seqrt_role {
  SEQRT_ROLE_INPUT,    /* caller's input tensor */
  SEQRT_ROLE_OUTPUT,   /* model output: lives in the arena, valid after run */
  SEQRT_ROLE_PARAM,    /* weight, bound by name before the first run */
  SEQRT_ROLE_PREPARED, /* computed from params once by prepare(), kept */
  SEQRT_ROLE_TEMP,     /* scratch: lives from step first to step last */
  SEQRT_ROLE_ALIAS,    /* same memory as buffer `alias` (a view) */
  SEQRT_ROLE_STATE,    /* kept by the session between runs, zeroed by a reset (SPEC 9) */
} seqrt_role;

static inline size_t seqrt_dtype_size(seqrt_dtype t) {
  switch (t) {
  case SEQRT_F32: return 4;
  case SEQRT_I32: return 4;
  case SEQRT_I64: return 8;
  }
  return 0;
}

/* "f32", "i32", "i64" */
static inline const char *seqrt_dtype_name(seqrt_dtype t) {
  switch (t) {
  case SEQRT_F32: return "f32";
  case SEQRT_I32: return "i32";
  case SEQRT_I64: return "i64";
  }
  return "?";
}

static inline int64_t seqrt_tensor_numel(const seqrt_tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) n *= t->shape[i];
  return n;
}

/* "[32, 4]" into buf */
static inline const char *seqrt_shape_str(const int64_t *shape, int rank, char *buf,
                                          size_t size) {
  size_t k = 0;
  k += (size_t)snprintf(buf + k, size - k, "[");
  for (int i = 0; i < rank && k < size; i++)
    k += (size_t)snprintf(buf + k, size - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
  if (k < size) snprintf(buf + k, size - k, "]");
  return buf;
}

/* the error of a run that would go past a key/value cache without a window
 * (SPEC 9): `name` the cache, S its positions, p the session position, T the
 * run's; one text for the runtime and the interpreter */
static inline const char *seqrt_cache_full_msg(char *buf, size_t size, const char *name,
                                               int64_t S, int64_t p, int64_t T) {
  snprintf(buf, size,
           "'%s' keeps %lld positions: the session is at position %lld, and a run of %lld more "
           "would go past them (reset the session, or give the model a larger cache)",
           name ? name : "?", (long long)S, (long long)p, (long long)T);
  return buf;
}

#endif
