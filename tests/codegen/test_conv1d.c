/*
 * test_conv1d.c: the conv1d kernel against the interpreter: kernel sizes,
 * strides, dilations and paddings, channel counts around the vector width,
 * with and without bias, "same" padding with a symbolic T; 1 and 2 threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cg_test.h"

static void shapes(void **state) {
  (void)state;
  static const int cfg[][7] = {
      /* T, C, O, k, stride, pad, dil */
      {13, 5, 19, 3, 1, 1, 1},  {11, 6, 7, 3, 2, 1, 2}, {1, 8, 33, 1, 1, 0, 1},
      {17, 16, 16, 4, 3, 2, 1}, {9, 3, 1, 5, 1, 0, 2},
  };
  for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
    const int *c = cfg[i];
    char y[1024];
    snprintf(y, sizeof y,
             "seqc: 1\nname: m\ndims: {B: 2}\ninputs:\n  x: {dtype: f32, shape: [B, %d, %d]}\n"
             "outputs: [conv]\nnodes:\n"
             "  conv: {op: conv1d, input: x, out_channels: %d, kernel_size: %d, stride: %d, "
             "padding: %d, dilation: %d, bias: %s}\n",
             c[0], c[1], c[2], c[3], c[4], c[5], c[6], i % 2 ? "false" : "true");
    cgt_check(y,
              &(cgt_opts){.variants = CGT_FUSED | (i % 2 ? CGT_SSE : CGT_UNFUSED), .seed = i + 1});
  }
}

/* "same" padding keeps T symbolic */
static void same_padding_symbolic(void **state) {
  (void)state;
  cgt_check(
      "seqc: 1\nname: m\ndims: {B: 2, T: 21}\ninputs:\n  x: {dtype: f32, shape: [B, T, 12]}\n"
      "outputs: [r]\nnodes:\n"
      "  conv: {op: conv1d, input: x, out_channels: 24, kernel_size: 5, padding: 4, "
      "dilation: 2}\n"
      "  r: {op: relu, input: conv}\n",
      &(cgt_opts){.variants = CGT_ALL});
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(shapes),
      cmocka_unit_test(same_padding_symbolic),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
