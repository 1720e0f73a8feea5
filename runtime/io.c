/*
 * io.c: a model's inputs from a safetensors file and its dims from their
 * shapes: the file handling that `seqc run` (JIT) and `seqrt-run` (a shared
 * library made by `seqc compile`) share, so both report the same errors; and
 * integer inputs in either width (SPEC 11).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "rt.h"

int seqrt_read_inputs(seqrt_st_file *f, const char *const *names, int n, bool strict,
                      seqrt_warn_fn warn, void *user, const bool *kept, seqrt_tensor *t,
                      bool *given, seqrt_error *err) {
  for (int i = 0; i < n; i++) {
    given[i] = false;
    int k = seqrt_st_find(f, names[i]);
    if (kept && kept[i]) { /* the session keeps what the first run made of it */
      memset(&t[i], 0, sizeof t[i]);
      if (k >= 0 && warn) {
        char msg[512];
        snprintf(msg, sizeof msg,
                 "input '%s' is static: the session keeps what its first run made of it, and "
                 "ignores this one",
                 names[i]);
        warn(user, msg);
      }
      continue;
    }
    if (k < 0) {
      rt_errorf(err, "input '%s' is missing", names[i]);
      return 1;
    }
    if (seqrt_st_get(f, k, &t[i], err)) return 1;
    given[i] = true;
  }
  for (int k = 0; k < seqrt_st_count(f); k++) {
    const char *name = seqrt_st_name(f, k);
    bool used = false;
    for (int i = 0; i < n && !used; i++) used = !strcmp(names[i], name);
    if (used) continue;
    if (strict) {
      rt_errorf(err, "tensor '%s' is not an input of the model", name);
      return 1;
    }
    if (warn) {
      char msg[512];
      snprintf(msg, sizeof msg, "tensor '%s' is not an input of the model", name);
      warn(user, msg);
    }
  }
  return 0;
}

int seqrt_convert_integers(const char *name, const seqrt_tensor *t, seqrt_dtype want, void *dst,
                           seqrt_error *err) {
  bool ints =
      (t->dtype == SEQRT_I32 || t->dtype == SEQRT_I64) && (want == SEQRT_I32 || want == SEQRT_I64);
  if (!ints) {
    rt_errorf(err, "input '%s': cannot convert %s to %s", name, seqrt_dtype_name(t->dtype),
              seqrt_dtype_name(want));
    return 1;
  }
  int64_t n = seqrt_tensor_numel(t);
  if (t->dtype == want) {
    memcpy(dst, t->data, (size_t)n * seqrt_dtype_size(want));
    return 0;
  }
  if (want == SEQRT_I64) {
    const int32_t *x = t->data;
    int64_t *y = dst;
    for (int64_t i = 0; i < n; i++) y[i] = x[i];
    return 0;
  }
  const int64_t *x = t->data;
  int32_t *y = dst;
  for (int64_t i = 0; i < n; i++) {
    if (x[i] < INT32_MIN || x[i] > INT32_MAX) {
      int64_t idx[SEQRT_MAX_RANK], flat = i;
      for (int k = t->rank - 1; k >= 0; k--) {
        idx[k] = t->shape[k] > 0 ? flat % t->shape[k] : 0;
        flat = t->shape[k] > 0 ? flat / t->shape[k] : 0;
      }
      char at[256];
      rt_errorf(err, "input '%s': value %lld at %s is outside the range of its dtype i32", name,
                (long long)x[i], seqrt_shape_str(idx, t->rank, at, sizeof at));
      return 1;
    }
    y[i] = (int32_t)x[i];
  }
  return 0;
}

const char *seqrt_input_name(const seqrt_model_desc *d, int i) {
  const char *name = d->bufs[d->inputs[i]].name;
  return name ? name : "?";
}

int seqrt_find_sym(const seqrt_model_desc *d, const char *name) {
  for (int i = 0; i < d->nsyms; i++)
    if (d->sym_names[i] && !strcmp(d->sym_names[i], name)) return i;
  return -1;
}

/* shape of buffer b under syms (base symbols only, nsyms of them), with -1
 * where a symbol is unknown here (unbound, or derived) */
static void eval_shape(const seqrt_buffer_desc *b, const int64_t *syms, int nsyms,
                       int64_t *shape) {
  for (int k = 0; k < b->rank; k++) {
    int64_t v = b->shape[k].coef;
    for (int j = 0; j < 2 && v >= 0; j++) {
      int s = b->shape[k].sym[j];
      if (s >= 0) v = s >= nsyms || syms[s] < 0 ? -1 : v * syms[s];
    }
    shape[k] = v;
  }
}

int seqrt_bind_dims(const seqrt_model_desc *d, const seqrt_tensor *inputs, const bool *given,
                    int64_t *syms, seqrt_error *err) {
  /* where each fixed value came from, for the message */
  enum { NONE, GIVEN, BOUND, INPUT };
  int from[64] = {0};
  if (d->nsyms > 64) {
    rt_errorf(err, "model '%s' has too many dims", d->name ? d->name : "?");
    return 1;
  }
  for (int s = 0; s < d->nsyms; s++) {
    int64_t bound = d->sym_bound ? d->sym_bound[s] : -1;
    if (syms[s] >= 0) {
      from[s] = GIVEN;
      if (bound >= 0 && syms[s] != bound) {
        rt_errorf(err, "dim %s = %lld, but the model was compiled for %s = %lld", d->sym_names[s],
                  (long long)syms[s], d->sym_names[s], (long long)bound);
        return 1;
      }
    } else if (bound >= 0) {
      syms[s] = bound;
      from[s] = BOUND;
    }
  }
  for (int i = 0; inputs && i < d->ninputs; i++) {
    if (given && !given[i]) continue;
    const seqrt_buffer_desc *b = &d->bufs[d->inputs[i]];
    const seqrt_tensor *t = &inputs[i];
    if (t->rank != b->rank) continue; /* the session reports the shape error */
    for (int k = 0; k < t->rank; k++) {
      seqrt_dim dim = b->shape[k];
      /* only a base symbol alone binds; derived ones follow in the session */
      if (dim.coef != 1 || dim.sym[0] < 0 || dim.sym[0] >= d->nsyms || dim.sym[1] >= 0) continue;
      int s = dim.sym[0];
      if (syms[s] < 0) {
        syms[s] = t->shape[k];
        from[s] = INPUT;
      } else if (syms[s] != t->shape[k]) {
        char want[128], got[128];
        int64_t shape[SEQRT_MAX_RANK];
        eval_shape(b, syms, d->nsyms, shape);
        for (int j = 0; j < t->rank; j++)
          if (shape[j] < 0) shape[j] = t->shape[j];
        rt_errorf(err, "input '%s': expected %s, got %s (%s = %lld%s)", b->name,
                  seqrt_shape_str(shape, t->rank, want, sizeof want),
                  seqrt_shape_str(t->shape, t->rank, got, sizeof got), d->sym_names[s],
                  (long long)syms[s],
                  from[s] == GIVEN   ? " from --dim"
                  : from[s] == BOUND ? " compiled in"
                                     : " from another input");
        return 1;
      }
    }
  }
  for (int s = 0; s < d->nsyms; s++)
    if (syms[s] < 0) syms[s] = d->sym_defaults[s];
  return 0;
}
