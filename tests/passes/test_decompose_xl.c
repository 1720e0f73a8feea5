/*
 * test_decompose_xl.c: decompose turns transformer_xl into a segment scan
 * around rel_attention (passes/decompose_xl.c). The interpreter computes the
 * layer op straight from SPEC's text (ir/eval_xl.c), and rel_attention from
 * its own definition, so the numbers before and after decompose must agree:
 * memory below and above the segment, clamp_len, same_length, a segment of
 * one row, no memory. No layer op may be left, and the FLOP count must not
 * move.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "test_passes.h"

static const int64_t SYMS[] = {2, 12};

static void check(const char *attrs) {
  char src[1024];
  snprintf(src, sizeof src,
           "seqc: 1\nname: m\ndims: {B: 2, T: 12}\ninputs:\n  x: {dtype: f32, shape: [B, T, 8]}\n"
           "outputs: [xl]\nnodes:\n"
           "  xl: {op: transformer_xl, input: x, num_layers: 2, n_head: 2, d_head: 3, "
           "d_inner: 16, %s}\n",
           attrs);
  ir_graph *g = load_yaml(src);
  check_decompose(g, SYMS);
}

static void memories(void **state) {
  (void)state;
  check("mem_len: 3, segment: 4");
  check("mem_len: 8, segment: 3");
  check("mem_len: 5, segment: 4, clamp_len: 2, same_length: true");
  check("mem_len: 2, segment: 1");
  check("mem_len: 0, segment: 6");
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(memories)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
