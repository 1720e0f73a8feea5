/*
 * test_gemm_library.c: the shared GEMMs precompiled into seqc
 * (codegen/gemm_library.c). The build compiles them for this machine, so
 * they fit a JIT compile here at level 3 and nothing else (another level,
 * another CPU). A two-layer encoder compiled with them and without them
 * computes the very same bits, and with them defines three GEMM functions
 * fewer: it links the library's GEMM and its attention products (head dim
 * 16 and key tiles of 128, which the library holds: a sequence shorter
 * than a tile gets a tile of its length, which it does not).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cg_internal.h"
#include "cg_test.h"

static const char *const ENCODER =
    "seqc: 1\nname: enc\ndims: {B: 1, T: 130}\n"
    "inputs:\n  x: {dtype: f32, shape: [B, T, 32]}\n"
    "outputs: [y]\nnodes:\n"
    "  y: {op: transformer_encoder, input: x, num_layers: 2, nhead: 2, dim_feedforward: 64}\n";

#define N (1 * 130 * 32)

static bool fits(const char *cpu, int level) {
  seqrt_error err = {{0}};
  int vw = 0;
  LLVMTargetMachineRef tm = cg_target_machine(&(cg_options){.cpu = cpu}, level, false, &vw, &err);
  assert_non_null(tm);
  bool f = cg_gemm_library_fits(tm, vw, level);
  LLVMDisposeTargetMachine(tm);
  return f;
}

static void fits_this_machine_only(void **state) {
  (void)state;
  assert_true(cg_gemm_lib_size > 0);
  assert_true(fits(NULL, 3));
  assert_false(fits(NULL, 2));
  assert_false(fits("x86-64", 3));
}

/* compiles the encoder (with the library or not), runs it on fixed data
 * into out; returns the kernel functions its module defined */
static int compile_and_run(bool library, float *out) {
  ir_graph *g = cgt_load(ENCODER);
  int64_t syms[2] = {1, 130};
  cg_jit *j = cgt_compile(g, &(cg_options){.bind_syms = syms, .opt_level = 3,
                                           .no_gemm_library = !library});
  int kernels = cg_jit_stats(j)->kernels;
  float x[N];
  for (int i = 0; i < N; i++) x[i] = (float)((i * 53) % 31) / 15.0f - 1.0f;
  cgt_run_once(j, 1, 130, 5, x, out, N);
  cg_jit_free(j);
  ir_graph_free(g);
  return kernels;
}

static void same_bits_three_functions_fewer(void **state) {
  (void)state;
  float with[N], without[N];
  int k_with = compile_and_run(true, with), k_without = compile_and_run(false, without);
  assert_memory_equal(with, without, sizeof with);
  /* the GEMM every linear calls, and attention's two products specialized
   * to its tiles */
  assert_int_equal(k_without - k_with, 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(fits_this_machine_only),
      cmocka_unit_test(same_bits_three_functions_fewer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
