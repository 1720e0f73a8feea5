/*
 * test_decompose_t5.c: decompose turns t5_attention into linears, the
 * position bias table and an unscaled `attention` with pos_bias
 * (passes/decompose_attention.c). The interpreter computes t5_attention
 * straight from HF's definition (ir/t5.c), bucketing every (query, key)
 * pair, and `attention` from its own, with the clamped table: the numbers
 * before and after decompose must agree. Lengths past the max distance (so
 * the clamp matters), both feed-forward kinds, num_heads * d_kv other than
 * d_model, the decoder's causal buckets and its cross-attention. No layer
 * op may be left, and the FLOP count must not move.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "test_passes.h"

static const int64_t SYMS[] = {2, 12, 7};

static void check(const char *node) {
  char src[1024];
  snprintf(src, sizeof src,
           "seqc: 1\nname: m\ndims: {B: 2, T: 12, S: 7}\ninputs:\n"
           "  x: {dtype: f32, shape: [B, T, 8]}\n  mem: {dtype: f32, shape: [B, S, 8]}\n"
           "outputs: [t5]\nnodes:\n  t5: {%s}\n",
           node);
  ir_graph *g = load_yaml(src);
  check_decompose(g, SYMS);
}

static void encoder(void **state) {
  (void)state;
  check("op: t5_encoder, input: x, num_layers: 2, num_heads: 2, d_kv: 3, d_ff: 16, "
        "relative_attention_num_buckets: 8, relative_attention_max_distance: 5");
  check("op: t5_encoder, input: x, num_layers: 1, num_heads: 4, d_kv: 2, d_ff: 12, "
        "feed_forward_proj: gated-gelu, relative_attention_num_buckets: 6, "
        "relative_attention_max_distance: 3");
  check("op: t5_encoder, input: x, num_layers: 1, num_heads: 2, d_kv: 4, d_ff: 8");
}

static void decoder(void **state) {
  (void)state;
  check("op: t5_decoder, input: x, memory: mem, num_layers: 2, num_heads: 2, d_kv: 3, "
        "d_ff: 16, relative_attention_num_buckets: 4, relative_attention_max_distance: 6");
  check("op: t5_decoder, input: x, memory: mem, num_layers: 1, num_heads: 1, d_kv: 5, "
        "d_ff: 8, feed_forward_proj: gated-gelu");
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(encoder), cmocka_unit_test(decoder)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
