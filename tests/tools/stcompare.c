/*
 * stcompare: compares two safetensors files, for tests.
 *
 *   stcompare GOT.safetensors WANT.safetensors [--atol A] [--rtol R]
 *
 * GOT and WANT must hold the same tensor names (a tensor missing from GOT or
 * one GOT has beyond WANT is a mismatch), WANT at least one tensor, each with
 * the same dtype and shape, and |got - want| <= atol + rtol * |want|
 * elementwise (integers equal, NaN only matches NaN). One line per tensor;
 * exit 0 if all match, 1 otherwise, 2 on bad usage.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seqrt.h"

static const char usage[] =
    "usage: stcompare GOT.safetensors WANT.safetensors [--atol A] [--rtol R]\n"
    "  GOT and WANT hold the same tensors (WANT at least one), same dtype and shape, with\n"
    "  |got - want| <= atol + rtol * |want| (defaults 1e-4, 1e-4)\n";

/* a non-negative number from s; false if s is not one */
static bool parse_tol(const char *s, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end || !(v >= 0) || isinf(v)) return false;
  *out = v;
  return true;
}

/* element i of t as a double */
static double value(const seqrt_tensor *t, int64_t i) {
  switch (t->dtype) {
  case SEQRT_F32: return ((const float *)t->data)[i];
  case SEQRT_I32: return ((const int32_t *)t->data)[i];
  case SEQRT_I64: return (double)((const int64_t *)t->data)[i];
  }
  return 0;
}

static bool int_equal(const seqrt_tensor *a, const seqrt_tensor *b, int64_t i) {
  if (a->dtype == SEQRT_I32) return ((const int32_t *)a->data)[i] == ((const int32_t *)b->data)[i];
  return ((const int64_t *)a->data)[i] == ((const int64_t *)b->data)[i];
}

/* flat index i of shape as "[a, b, c]" */
static const char *position(const seqrt_tensor *t, int64_t i, char *buf, size_t size) {
  int64_t idx[SEQRT_MAX_RANK];
  for (int k = t->rank - 1; k >= 0; k--) {
    idx[k] = t->shape[k] ? i % t->shape[k] : 0;
    i = t->shape[k] ? i / t->shape[k] : 0;
  }
  return seqrt_shape_str(idx, t->rank, buf, size);
}

/* compares one tensor; prints its line; true if it matches */
static bool compare(const char *name, const seqrt_tensor *got, const seqrt_tensor *want,
                    double atol, double rtol) {
  char gs[160], ws[160];
  seqrt_shape_str(got->shape, got->rank, gs, sizeof gs);
  seqrt_shape_str(want->shape, want->rank, ws, sizeof ws);
  if (got->dtype != want->dtype || strcmp(gs, ws)) {
    printf("%s: MISMATCH: got %s %s, want %s %s\n", name, seqrt_dtype_name(got->dtype), gs,
           seqrt_dtype_name(want->dtype), ws);
    return false;
  }
  int64_t n = seqrt_tensor_numel(want), bad = 0, first_bad = -1;
  double max_err = 0;
  bool is_float = want->dtype == SEQRT_F32;
  for (int64_t i = 0; i < n; i++) {
    double g = value(got, i), w = value(want, i);
    bool ok;
    if (!is_float) {
      ok = int_equal(got, want, i);
    } else if (isnan(w) || isnan(g)) {
      ok = isnan(w) && isnan(g);
    } else if (isinf(w) || isinf(g)) {
      ok = g == w;
    } else {
      double e = fabs(g - w);
      if (e > max_err) max_err = e;
      ok = e <= atol + rtol * fabs(w);
    }
    if (!ok && bad++ == 0) first_bad = i;
  }
  printf("%s: %s %s max abs err %.3g", name, seqrt_dtype_name(want->dtype), ws, max_err);
  if (!bad) {
    printf(" ok\n");
    return true;
  }
  char pos[160];
  printf(" MISMATCH: %lld of %lld elements, first at %s: got %.9g, want %.9g\n", (long long)bad,
         (long long)n, position(want, first_bad, pos, sizeof pos), value(got, first_bad),
         value(want, first_bad));
  return false;
}

int main(int argc, char **argv) {
  const char *paths[2] = {NULL, NULL};
  int npaths = 0;
  double atol = 1e-4, rtol = 1e-4;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage, stdout);
      return 0;
    }
    if (!strcmp(a, "--atol") || !strcmp(a, "--rtol")) {
      if (i + 1 >= argc || !parse_tol(argv[i + 1], !strcmp(a, "--atol") ? &atol : &rtol)) {
        fprintf(stderr, "stcompare: %s wants a non-negative number\n%s", a, usage);
        return 2;
      }
      i++;
    } else if (a[0] == '-' && a[1]) {
      fprintf(stderr, "stcompare: unknown option '%s'\n%s", a, usage);
      return 2;
    } else if (npaths < 2) {
      paths[npaths++] = a;
    } else {
      fprintf(stderr, "stcompare: unexpected argument '%s'\n%s", a, usage);
      return 2;
    }
  }
  if (npaths != 2) {
    fputs(usage, stderr);
    return 2;
  }

  seqrt_error err;
  seqrt_st_file *got = seqrt_st_open(paths[0], &err), *want = NULL;
  if (!got || !(want = seqrt_st_open(paths[1], &err))) {
    fprintf(stderr, "stcompare: %s\n", err.msg);
    seqrt_st_close(got);
    return 1;
  }
  /* an empty WANT would make every GOT match: a golden file written wrong */
  bool all = seqrt_st_count(want) > 0;
  if (!all) printf("MISMATCH: %s holds no tensors\n", paths[1]);
  for (int i = 0; i < seqrt_st_count(want); i++) {
    const char *name = seqrt_st_name(want, i);
    int k = seqrt_st_find(got, name);
    seqrt_tensor g, w;
    if (k < 0) {
      printf("%s: MISMATCH: missing in %s\n", name, paths[0]);
      all = false;
    } else if (seqrt_st_get(want, i, &w, &err) || seqrt_st_get(got, k, &g, &err)) {
      printf("%s: MISMATCH: %s\n", name, err.msg);
      all = false;
    } else if (!compare(name, &g, &w, atol, rtol)) {
      all = false;
    }
  }
  /* an output WANT does not know of is as wrong as one it misses */
  for (int k = 0; k < seqrt_st_count(got); k++)
    if (seqrt_st_find(want, seqrt_st_name(got, k)) < 0) {
      printf("%s: MISMATCH: only in %s\n", seqrt_st_name(got, k), paths[0]);
      all = false;
    }
  printf("%s\n", all ? "all tensors match" : "MISMATCH");
  seqrt_st_close(got);
  seqrt_st_close(want);
  return all ? 0 : 1;
}
