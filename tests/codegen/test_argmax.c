/*
 * test_argmax.c: the argmax kernel (codegen/argmax.c) against the
 * interpreter: along the last dim (lanes folded), a middle and the first dim
 * (lanes side by side), keepdim, on sizes around the vector width; rows with
 * exact ties at the largest value (the lowest index wins) and rows with NaNs
 * (the first NaN wins), made inside the model; fused, unfused and symbolic,
 * at 1 and 2 threads, and for narrower vectors (AVX2, SSE).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cg_test.h"

static const int sizes[] = {1, 3, 7, 16, 17, 31, 33, 100};
#define NSIZES (int)(sizeof sizes / sizeof sizes[0])

/* argmax of v along the last, middle and first dim, and keepdim, as outputs a, m, f, k */
#define ARGMAXES(v)             \
  "  a: {op: argmax, input: " v \
  "}\n"                         \
  "  m: {op: argmax, input: " v \
  ", dim: 1}\n"                 \
  "  f: {op: argmax, input: " v \
  ", dim: 0}\n"                 \
  "  k: {op: argmax, input: " v ", dim: -2, keepdim: true}\n"

/* inputs x [B, T, d] uniform in [-2, 2) */
static char *model(int64_t b, int64_t t, int d, const char *nodes) {
  static char buf[4096];
  snprintf(buf, sizeof buf,
           "seqc: 1\nname: m\ndims: {B: %lld, T: %lld}\n"
           "inputs:\n  x: {dtype: f32, shape: [B, T, %d]}\n"
           "outputs: [a, m, f, k]\nnodes:\n%s",
           (long long)b, (long long)t, d, nodes);
  return buf;
}

static void distinct_values(void **state) {
  (void)state;
  for (int i = 0; i < NSIZES; i++)
    cgt_check(model(3, sizes[(i + 3) % NSIZES], sizes[i], ARGMAXES("x")),
              &(cgt_opts){.seed = (uint64_t)sizes[i]});
}

/* t = -relu(1.5 - x): 0, the largest, wherever x >= 1.5 (about one element in
 * eight), so most rows hold it several times */
static void ties(void **state) {
  (void)state;
  const char *tie =
      "  c: {op: sub, inputs: [1.5, x]}\n"
      "  r: {op: relu, input: c}\n"
      "  t: {op: sub, inputs: [0, r]}\n" ARGMAXES("t");
  for (int i = 0; i < NSIZES; i++)
    cgt_check(model(2, sizes[(i + 5) % NSIZES], sizes[i], tie),
              &(cgt_opts){.seed = (uint64_t)sizes[i] + 11});
}

/* v = x * (relu(1.8 - x) / relu(1.8 - x)): x, but NaN (0/0) wherever x >= 1.8 */
static void nans(void **state) {
  (void)state;
  const char *nan =
      "  c: {op: sub, inputs: [1.8, x]}\n"
      "  r: {op: relu, input: c}\n"
      "  q: {op: div, inputs: [r, r]}\n"
      "  v: {op: mul, inputs: [x, q]}\n" ARGMAXES("v");
  for (int i = 0; i < NSIZES; i++)
    cgt_check(model(2, sizes[(i + 2) % NSIZES], sizes[i], nan),
              &(cgt_opts){.seed = (uint64_t)sizes[i] + 23});
}

/* 8 and 4 floats a vector: the fold over fewer lanes */
static void narrow_targets(void **state) {
  (void)state;
  const char *both =
      "  c: {op: sub, inputs: [1.8, x]}\n"
      "  r: {op: relu, input: c}\n"
      "  q: {op: div, inputs: [r, r]}\n"
      "  v: {op: mul, inputs: [x, q]}\n"
      "  a: {op: argmax, input: v}\n"
      "  m: {op: argmax, input: x, dim: 1}\n"
      "  s: {op: sub, inputs: [0, r]}\n"
      "  f: {op: argmax, input: s, dim: 0}\n"
      "  k: {op: argmax, input: s, keepdim: true}\n";
  for (int i = 0; i < NSIZES; i++)
    cgt_check(model(2, 9, sizes[i], both),
              &(cgt_opts){.variants = CGT_AVX2 | CGT_SSE, .seed = (uint64_t)sizes[i] + 5});
}

/* the i64 indices feed an embedding (greedy decoding's next input) and are an output too */
static void feeds_embedding(void **state) {
  (void)state;
  const char *y =
      "seqc: 1\nname: m\ndims: {B: 3, T: 7}\n"
      "inputs:\n  x: {dtype: f32, shape: [B, T, 21]}\n"
      "outputs: [e, a]\nnodes:\n"
      "  a: {op: argmax, input: x}\n"
      "  e: {op: embedding, input: a, num_embeddings: 21, embedding_dim: 5}\n";
  cgt_check(y, &(cgt_opts){.seed = 9});
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(distinct_values),
      cmocka_unit_test(ties),
      cmocka_unit_test(nans),
      cmocka_unit_test(narrow_targets),
      cmocka_unit_test(feeds_embedding),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
