/*
 * test_movement.c: data movement and lookups (concat, slice, select,
 * transpose, reshape, embedding, positional_encoding), compiled and compared
 * with the interpreter; embedding indices out of range fail the run cleanly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cg_test.h"

static char *model(int64_t b, int64_t t, const char *fmt, ...) {
  static char buf[8192];
  int n = snprintf(buf, sizeof buf, "seqc: 1\nname: m\ndims: {B: %lld, T: %lld}\n", (long long)b,
                   (long long)t);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
  va_end(ap);
  return buf;
}

static void concat(void **state) {
  (void)state;
  static const int sizes[] = {1, 3, 17, 33};
  for (int i = 0; i < 4; i++) {
    int d = sizes[i];
    /* sums of symbolic dims are not dims: concat along constant ones */
    char *y = model(2, sizes[3 - i],
                    "inputs:\n  x: {dtype: f32, shape: [B, T, %d]}\n"
                    "  y: {dtype: f32, shape: [B, T, 5]}\n"
                    "  a: {dtype: f32, shape: [3, 4, %d]}\n  z: {dtype: f32, shape: [3, 2, %d]}\n"
                    "  w: {dtype: f32, shape: [1, 4, %d]}\n"
                    "  i: {dtype: i64, shape: [B, 3]}\n  j: {dtype: i64, shape: [B, 1]}\n"
                    "outputs: [last, mid, first, one, ints]\nnodes:\n"
                    "  last: {op: concat, inputs: [x, y, x], dim: -1}\n"
                    "  mid: {op: concat, inputs: [a, z], dim: 1}\n"
                    "  first: {op: concat, inputs: [a, w, a], dim: 0}\n"
                    "  one: {op: concat, inputs: [y]}\n"
                    "  ints: {op: concat, inputs: [j, i, j], dim: 1}\n",
                    d, d, d, d);
    cgt_check(y, &(cgt_opts){.seed = (uint64_t)i + 1, .index_max = 100});
  }
}

static void slices(void **state) {
  (void)state;
  static const int64_t ranges[][2] = {{0, INT64_MAX}, {1, 3}, {-3, -1}, {2, 100},
                                      {-100, 2},      {3, 3}, {5, 2},   {-1, INT64_MAX}};
  for (int dim = 0; dim < 3; dim++)
    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++) {
      char end[32] = "";
      if (ranges[r][1] != INT64_MAX)
        snprintf(end, sizeof end, ", end: %lld", (long long)ranges[r][1]);
      char *y =
          model(4, 7,
                "inputs:\n  x: {dtype: f32, shape: [4, 7, 17]}\n"
                "  t: {dtype: i32, shape: [4, 7]}\n"
                "outputs: [s, i]\nnodes:\n"
                "  s: {op: slice, input: x, dim: %d, start: %lld%s}\n"
                "  i: {op: slice, input: t, dim: %d, start: %lld%s}\n",
                dim, (long long)ranges[r][0], end, dim < 2 ? dim : 1, (long long)ranges[r][0], end);
      cgt_check(y, &(cgt_opts){.variants = CGT_FUSED, .seed = r + 1});
    }
  /* along symbolic dims, ranges whose length does not depend on the dim */
  char *y = model(3, 9,
                  "inputs:\n  x: {dtype: f32, shape: [B, T, 17]}\n"
                  "outputs: [a, b, c, d]\nnodes:\n"
                  "  a: {op: slice, input: x, dim: 1, start: -3}\n"
                  "  b: {op: slice, input: x, dim: 1, start: 1, end: 3}\n"
                  "  c: {op: slice, input: x, dim: 0, start: 0}\n"
                  "  d: {op: slice, input: x, dim: 2, start: 4, end: -4}\n");
  cgt_check(y, NULL);
}

static void selects(void **state) {
  (void)state;
  static const int64_t idx[] = {0, 1, -1, -2};
  for (int dim = 0; dim < 3; dim++)
    for (int k = 0; k < 4; k++) {
      char *y = model(3, 5,
                      "inputs:\n  x: {dtype: f32, shape: [B, T, 33]}\n"
                      "outputs: [s]\nnodes:\n"
                      "  s: {op: select, input: x, dim: %d, index: %lld}\n",
                      dim, (long long)idx[k]);
      cgt_check(y, &(cgt_opts){.seed = (uint64_t)k + 1});
    }
}

/* a constant index past a symbolic dim is found at run time: an error, no read */
static void select_out_of_range(void **state) {
  (void)state;
  /* bad_index expects failures; it lands in the unused integer input u */
  const char *y =
      "seqc: 1\nname: m\ndims: {B: 2, T: 9}\n"
      "inputs:\n  x: {dtype: f32, shape: [B, T, 4]}\n  u: {dtype: i32, shape: [1]}\n"
      "outputs: [s]\nnodes:\n"
      "  s: {op: select, input: x, dim: 1, index: 5}\n";
  static const int64_t short_t[] = {2, 3};
  cgt_check(y, &(cgt_opts){.syms = short_t, .bad_index = 5, .variants = CGT_SYMBOLIC,
                           /* the compiled model's message names no node (the interpreter's does) */
                           .error = "index 5 out of range [0, 3)",
                           .eval_error = "select index 5 out of range for dim 1 of size 3 in 's'"});
}

static void transposes(void **state) {
  (void)state;
  static const char *const perms3[] = {"[0, 1, 2]", "[0, 2, 1]", "[1, 0, 2]",
                                       "[1, 2, 0]", "[2, 0, 1]", "[2, 1, 0]"};
  for (int p = 0; p < 6; p++) {
    char *y = model(3, 17,
                    "inputs:\n  x: {dtype: f32, shape: [B, T, 33]}\n"
                    "  i: {dtype: i64, shape: [B, T, 2]}\n"
                    "outputs: [t, u]\nnodes:\n"
                    "  t: {op: transpose, input: x, dims: %s}\n"
                    "  u: {op: transpose, input: i, dims: %s}\n",
                    perms3[p], perms3[p]);
    cgt_check(y, &(cgt_opts){.seed = (uint64_t)p + 1, .index_max = 1000});
  }
  static const char *const perms4[] = {"[0, 2, 1, 3]", "[3, 2, 1, 0]", "[0, 1, 3, 2]",
                                       "[2, 0, 3, 1]", "[1, 0, 2, 3]"};
  for (int p = 0; p < 5; p++) {
    /* size-1 dims let runs merge across them */
    char *y = model(2, 7,
                    "inputs:\n  x: {dtype: f32, shape: [B, T, 4, 9]}\n"
                    "  o: {dtype: f32, shape: [B, 1, T, 1]}\n"
                    "outputs: [t, u]\nnodes:\n"
                    "  t: {op: transpose, input: x, dims: %s}\n"
                    "  u: {op: transpose, input: o, dims: %s}\n",
                    perms4[p], perms4[p]);
    cgt_check(y, &(cgt_opts){.seed = (uint64_t)p + 11});
  }
}

static void reshapes(void **state) {
  (void)state;
  /* a view inside the graph, and a reshape that is an output (gets a copy) */
  char *y = model(2, 6,
                  "inputs:\n  x: {dtype: f32, shape: [B, T, 12]}\n"
                  "outputs: [r, s, v]\nnodes:\n"
                  "  r: {op: reshape, input: x, shape: [B, T, 3, 4]}\n"
                  "  t: {op: transpose, input: r, dims: [0, 2, 1, 3]}\n"
                  "  s: {op: softmax, input: t, dim: 2}\n"
                  "  v: {op: reshape, input: s, shape: [-1, 4]}\n");
  cgt_check(y, NULL);
}

static void embeddings(void **state) {
  (void)state;
  static const int dims[] = {1, 7, 16, 33};
  for (int i = 0; i < 4; i++) {
    char *y = model(2, 9,
                    "inputs:\n  a: {dtype: i32, shape: [B, T]}\n  b: {dtype: i64, shape: [T]}\n"
                    "outputs: [e, f]\nnodes:\n"
                    "  e: {op: embedding, input: a, num_embeddings: 50, embedding_dim: %d}\n"
                    "  f: {op: embedding, input: b, num_embeddings: 50, embedding_dim: %d}\n",
                    dims[i], dims[i]);
    cgt_check(y, &(cgt_opts){.index_max = 50, .seed = (uint64_t)i + 1});
  }
}

/* an index outside [0, N) fails the run with a message naming it, no crash */
static void embedding_out_of_range(void **state) {
  (void)state;
  const char *y =
      "seqc: 1\nname: m\ndims: {B: 2, T: 9}\n"
      "inputs:\n  a: {dtype: i32, shape: [B, T]}\n"
      "outputs: [e]\nnodes:\n"
      "  e: {op: embedding, input: a, num_embeddings: 50, embedding_dim: 8}\n"
      "  r: {op: relu, input: e}\n";
  /* a, [B = 2, T = 9]: flat position 3 is [0, 3], 17 is [1, 8] */
  cgt_check(y, &(cgt_opts){.index_max = 50, .bad_index = 50, .bad_pos = 3,
                           .error = "index 50 out of range [0, 50) at position [0, 3] of 'a'"});
  cgt_check(y, &(cgt_opts){.index_max = 50, .bad_index = -7, .bad_pos = 17,
                           .error = "index -7 out of range [0, 50) at position [1, 8] of 'a'"});
  cgt_check(y, &(cgt_opts){.index_max = 50, .bad_index = 1000000, .bad_pos = 0,
                           .error = "index 1000000 out of range [0, 50) at position [0, 0] of 'a'"});
  const char *l =
      "seqc: 1\nname: m\ndims: {B: 2, T: 9}\n"
      "inputs:\n  a: {dtype: i64, shape: [B, T]}\n"
      "outputs: [e]\nnodes:\n"
      "  e: {op: embedding, input: a, num_embeddings: 5, embedding_dim: 3}\n";
  cgt_check(l, &(cgt_opts){.index_max = 5, .bad_index = 5000000000ll, .bad_pos = 5,
                           .error = "index 5000000000 out of range [0, 5) at position [0, 5] of 'a'"});
}

static void positional(void **state) {
  (void)state;
  /* long sequences: the angle recurrence must not drift */
  static const int dims[][2] = {{1, 1}, {5, 8}, {17, 7}, {100, 33}, {3, 64}, {3000, 40}};
  for (int i = 0; i < 6; i++) {
    char *y =
        model(2, dims[i][0],
              "inputs:\n  x: {dtype: f32, shape: [B, T, %d]}\n  z: {dtype: f32, shape: [T, %d]}\n"
              "outputs: [p, q]\nnodes:\n"
              "  p: {op: positional_encoding, input: x}\n"
              "  q: {op: positional_encoding, input: z}\n",
              dims[i][1], dims[i][1]);
    cgt_check(y, &(cgt_opts){.seed = (uint64_t)i + 1});
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(concat),     cmocka_unit_test(slices),
      cmocka_unit_test(selects),    cmocka_unit_test(select_out_of_range),
      cmocka_unit_test(transposes), cmocka_unit_test(reshapes),
      cmocka_unit_test(embeddings), cmocka_unit_test(embedding_out_of_range),
      cmocka_unit_test(positional),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
