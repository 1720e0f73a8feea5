/*
 * params.c: binding the model's parameters: from a weights file by name, one
 * at a time from the caller's memory, or filled with random values.
 *
 * Binding is all or nothing: a weights file with one bad tensor leaves the
 * session as it was. Any change marks the prepared buffers stale, so the next
 * run recomputes them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

/* checks that t fits PARAM buffer b (dtype, then shape) */
static bool check_param(const seqrt_session *s, int b, const seqrt_tensor *t, seqrt_error *err) {
  const seqrt_buffer_desc *bd = &s->desc->bufs[b];
  const int64_t *shape = &s->shapes[(size_t)b * SEQRT_MAX_RANK];
  if (t->dtype != (seqrt_dtype)bd->dtype) {
    rt_errorf(err, "parameter '%s': expected %s, got %s", bd->name,
              seqrt_dtype_name((seqrt_dtype)bd->dtype), seqrt_dtype_name(t->dtype));
    return false;
  }
  bool same = t->rank == bd->rank;
  for (int k = 0; same && k < t->rank; k++) same = t->shape[k] == shape[k];
  if (!same) {
    char want[256], got[256];
    int rank = t->rank < 0 ? 0 : t->rank > SEQRT_MAX_RANK ? SEQRT_MAX_RANK : t->rank;
    rt_errorf(err, "parameter '%s': expected %s, got %s", bd->name,
              seqrt_shape_str(shape, bd->rank, want, sizeof want),
              seqrt_shape_str(t->shape, rank, got, sizeof got));
    return false;
  }
  if (!t->data && s->bytes[b] > 0) {
    rt_errorf(err, "parameter '%s' has no data", bd->name);
    return false;
  }
  return true;
}

int seqrt_session_load_weights(seqrt_session *s, seqrt_st_file *f, bool strict, seqrt_warn_fn warn,
                               void *user, seqrt_error *err) {
  const seqrt_model_desc *d = s->desc;
  int nt = seqrt_st_count(f);
  void **staged = calloc((size_t)d->nbufs + 1, sizeof *staged);
  bool *used = calloc((size_t)nt + 1, sizeof *used);
  if (!staged || !used) {
    free(staged);
    free(used);
    rt_errorf(err, "out of memory");
    return 1;
  }
  bool ok = true;
  for (int b = 0; ok && b < d->nbufs; b++) {
    const seqrt_buffer_desc *bd = &d->bufs[b];
    if (bd->role != SEQRT_ROLE_PARAM) continue;
    int k = seqrt_st_find(f, bd->name);
    seqrt_tensor t;
    if (k < 0) {
      char want[320];
      rt_errorf(
          err, "missing parameter '%s' (expected %s %s)", bd->name,
          seqrt_dtype_name((seqrt_dtype)bd->dtype),
          seqrt_shape_str(&s->shapes[(size_t)b * SEQRT_MAX_RANK], bd->rank, want, sizeof want));
      ok = false;
    } else if (seqrt_st_get(f, k, &t, err) || !check_param(s, b, &t, err)) {
      ok = false;
    } else {
      staged[b] = t.data;
      used[k] = true;
    }
  }
  for (int k = 0; ok && k < nt; k++) {
    for (int i = 0; !used[k] && i < d->nignored; i++)
      used[k] = !strcmp(d->ignored[i], seqrt_st_name(f, k));
    if (used[k]) continue;
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "unused parameter '%s' in weights file", seqrt_st_name(f, k));
    if (strict) {
      rt_errorf(err, "%s", msg);
      ok = false;
    } else if (warn) {
      warn(user, msg);
    }
  }
  if (ok) {
    for (int b = 0; b < d->nbufs; b++)
      if (d->bufs[b].role == SEQRT_ROLE_PARAM) s->params[b] = staged[b];
    s->prepare_done = false;
  }
  free(staged);
  free(used);
  return ok ? 0 : 1;
}

int seqrt_session_set_param(seqrt_session *s, const char *name, const seqrt_tensor *t,
                            seqrt_error *err) {
  const seqrt_model_desc *d = s->desc;
  int found = 0;
  for (int b = 0; b < d->nbufs; b++) {
    if (d->bufs[b].role != SEQRT_ROLE_PARAM || strcmp(d->bufs[b].name, name)) continue;
    if (!check_param(s, b, t, err)) return 1;
    found++;
  }
  if (!found) {
    rt_errorf(err, "model '%s' has no parameter '%s'", d->name ? d->name : "?", name);
    return 1;
  }
  for (int b = 0; b < d->nbufs; b++)
    if (d->bufs[b].role == SEQRT_ROLE_PARAM && !strcmp(d->bufs[b].name, name))
      s->params[b] = t->data;
  s->prepare_done = false;
  return 0;
}

/* splitmix64: small, fast, and the same everywhere */
static uint64_t next_random(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* FNV-1a: each parameter draws from its own stream, so its values depend on
 * the seed and its name only, not on which other parameters the model has */
static uint64_t hash_name(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return h;
}

void seqrt_random_param(uint64_t seed, const char *name, int64_t fan_in, float *x, int64_t numel) {
  double bound = 1.0 / sqrt((double)(fan_in > 0 ? fan_in : 1));
  uint64_t state = seed ^ hash_name(name);
  for (int64_t i = 0; i < numel; i++) {
    double u = (double)(next_random(&state) >> 11) * 0x1p-53; /* [0, 1) */
    x[i] = (float)((2.0 * u - 1.0) * bound);
  }
}

int seqrt_session_random_params(seqrt_session *s, uint64_t seed, seqrt_error *err) {
  const seqrt_model_desc *d = s->desc;
  size_t total = 0;
  for (int b = 0; b < d->nbufs; b++) {
    if (d->bufs[b].role != SEQRT_ROLE_PARAM) continue;
    if (total > SIZE_MAX - s->bytes[b]) {
      rt_errorf(err, "the model's parameters are too large");
      return 1;
    }
    total += s->bytes[b];
  }
  unsigned char *mem = rt_alloc64(total);
  if (!mem) {
    rt_errorf(err, "cannot allocate %zu bytes for random parameters", total);
    return 1;
  }
  size_t at = 0;
  for (int b = 0; b < d->nbufs; b++) {
    const seqrt_buffer_desc *bd = &d->bufs[b];
    if (bd->role != SEQRT_ROLE_PARAM) continue;
    void *p = mem + at;
    at += s->bytes[b];
    s->params[b] = p;
    if (bd->dtype != SEQRT_F32) continue; /* integer parameters stay zero */
    const int64_t *shape = &s->shapes[(size_t)b * SEQRT_MAX_RANK];
    int64_t fan_in = bd->rank > 0 ? shape[bd->rank - 1] : 1, numel = 1;
    for (int k = 0; k < bd->rank; k++) numel *= shape[k];
    seqrt_random_param(seed, bd->name, fan_in, p, numel);
  }
  free(s->random);
  s->random = mem;
  s->prepare_done = false;
  return 0;
}
