/*
 * test_parallel.c: the JIT's module compiled in parts on several threads
 * (codegen/parallel.c). A two-layer encoder (a dozen distinct kernel
 * functions) compiled on 1, 2 and 3 threads comes in 1, 2 and 3 objects,
 * and every way computes the very same bits; a model of one kernel stays
 * one object whatever the threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cg_test.h"

static const char *const ENCODER =
    "seqc: 1\nname: enc\ndims: {B: 2, T: 9}\n"
    "inputs:\n  x: {dtype: f32, shape: [B, T, 32]}\n"
    "outputs: [y]\nnodes:\n"
    "  y: {op: transformer_encoder, input: x, num_layers: 2, nhead: 4, dim_feedforward: 64}\n";

static const char *const ONE_KERNEL =
    "seqc: 1\nname: one\ndims: {B: 2, T: 9}\n"
    "inputs:\n  x: {dtype: f32, shape: [B, T, 32]}\n"
    "outputs: [y]\nnodes:\n"
    "  y: {op: tanh, input: x}\n";

#define N (2 * 9 * 32)

/* compiles yaml on `threads` threads and runs it on fixed data into out;
 * returns the number of objects its code came in */
static int compile_and_run(const char *yaml, int threads, float *out) {
  ir_graph *g = cgt_load(yaml);
  int64_t syms[2] = {2, 9};
  cg_jit *j = cgt_compile(
      g, &(cg_options){.bind_syms = syms, .opt_level = 2, .compile_threads = threads});
  int parts = cg_jit_stats(j)->parts;
  float x[N];
  for (int i = 0; i < N; i++) x[i] = (float)((i * 37) % 29) / 14.0f - 1.0f;
  cgt_run_once(j, 2, 9, 3, x, out, N);
  cg_jit_free(j);
  ir_graph_free(g);
  return parts;
}

static void parts_compute_the_same(void **state) {
  (void)state;
  float one[N], more[N];
  assert_int_equal(compile_and_run(ENCODER, 1, one), 1);
  for (int threads = 2; threads <= 3; threads++) {
    assert_int_equal(compile_and_run(ENCODER, threads, more), threads);
    assert_memory_equal(one, more, sizeof one);
  }
}

static void one_kernel_one_part(void **state) {
  (void)state;
  float out[N];
  assert_int_equal(compile_and_run(ONE_KERNEL, 4, out), 1);
  for (int i = 0; i < N; i++) {
    float x = (float)((i * 37) % 29) / 14.0f - 1.0f;
    assert_true(out[i] > tanhf(x) - 1e-6f && out[i] < tanhf(x) + 1e-6f);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(parts_compute_the_same),
      cmocka_unit_test(one_kernel_one_part),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
