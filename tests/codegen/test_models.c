/*
 * test_models.c: whole small models (an embedding front end, an attention
 * block written with primitives, an MLP with norms and residuals), compiled
 * every way and run at 1 and 2 threads under several bindings of their dims:
 * many kernels in a row, so buffers get reused and barriers matter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cg_test.h"

static const double TOL = 1e-5;

static const char *const ATTENTION =
    "seqc: 1\nname: attn\ndims: {B: 2, T: 11}\n"
    "inputs:\n  tok: {dtype: i64, shape: [B, T]}\n"
    "outputs: [out, probs]\nnodes:\n"
    "  emb: {op: embedding, input: tok, num_embeddings: 40, embedding_dim: 24}\n"
    "  pe: {op: positional_encoding, input: emb}\n"
    "  ln: {op: layer_norm, input: pe}\n"
    "  q: {op: linear, input: ln, out_features: 24}\n"
    "  k: {op: linear, input: ln, out_features: 24}\n"
    "  v: {op: linear, input: ln, out_features: 24}\n"
    "  qh: {op: reshape, input: q, shape: [B, T, 4, 6]}\n"
    "  kh: {op: reshape, input: k, shape: [B, T, 4, 6]}\n"
    "  vh: {op: reshape, input: v, shape: [B, T, 4, 6]}\n"
    "  qt: {op: transpose, input: qh, dims: [0, 2, 1, 3]}\n"
    "  kt: {op: transpose, input: kh, dims: [0, 2, 3, 1]}\n"
    "  vt: {op: transpose, input: vh, dims: [0, 2, 1, 3]}\n"
    "  s: {op: matmul, inputs: [qt, kt]}\n"
    "  sc: {op: mul, inputs: [s, 0.40824829]}\n"
    "  probs: {op: softmax, input: sc, dim: -1}\n"
    "  ctx: {op: matmul, inputs: [probs, vt]}\n"
    "  ct: {op: transpose, input: ctx, dims: [0, 2, 1, 3]}\n"
    "  cm: {op: reshape, input: ct, shape: [B, T, 24]}\n"
    "  o: {op: linear, input: cm, out_features: 24}\n"
    "  res: {op: add, inputs: [o, pe]}\n"
    "  out: {op: rms_norm, input: res}\n";

static void attention_block(void **state) {
  (void)state;
  static const int64_t binds[][2] = {{2, 11}, {1, 1}, {3, 33}};
  for (int i = 0; i < 3; i++)
    cgt_check(ATTENTION, &(cgt_opts){.syms = binds[i],
                                     .index_max = 40,
                                     .seed = (uint64_t)i + 1,
                                     .tol = TOL,
                                     .variants = i ? CGT_FUSED : CGT_ALL});
}

static const char *const MLP =
    "seqc: 1\nname: mlp\ndims: {B: 3, T: 17}\n"
    "inputs:\n  x: {dtype: f32, shape: [B, T, 20]}\n  m: {dtype: f32, shape: [B, T, 1]}\n"
    "outputs: [y, pooled, first, parts]\nnodes:\n"
    "  h1: {op: linear, input: x, out_features: 48}\n"
    "  a1: {op: silu, input: h1}\n"
    "  d1: {op: dropout, input: a1, p: 0.1}\n"
    "  h2: {op: linear, input: d1, out_features: 20}\n"
    "  g2: {op: gelu, input: h2, approximate: tanh}\n"
    "  r2: {op: add, inputs: [g2, x]}\n"
    "  n2: {op: layer_norm, input: r2}\n"
    "  masked: {op: mul, inputs: [n2, m]}\n"
    "  y: {op: softmax, input: masked, dim: 1}\n"
    "  pooled: {op: mean, input: masked, dim: 1}\n"
    "  first: {op: select, input: masked, dim: 1, index: 0}\n"
    "  lo: {op: slice, input: masked, dim: 2, start: 0, end: 7}\n"
    "  hi: {op: slice, input: masked, dim: 2, start: -5}\n"
    "  ex: {op: exp, input: hi}\n"
    "  parts: {op: concat, inputs: [lo, ex, lo], dim: 2}\n";

static void mlp(void **state) {
  (void)state;
  static const int64_t binds[][2] = {{3, 17}, {1, 2}, {4, 100}};
  for (int i = 0; i < 3; i++)
    cgt_check(MLP, &(cgt_opts){.syms = binds[i],
                               .seed = (uint64_t)i + 5,
                               .tol = TOL,
                               .variants = i ? CGT_FUSED | CGT_UNFUSED : CGT_ALL});
}

/* larger tensors, unfused: many kernels reusing memory, racing if a barrier is missing */
static void barrier_stress(void **state) {
  (void)state;
  const char *y =
      "seqc: 1\nname: s\ndims: {B: 4, T: 64}\n"
      "inputs:\n  x: {dtype: f32, shape: [B, T, 96]}\n"
      "outputs: [o]\nnodes:\n"
      "  a: {op: tanh, input: x}\n"
      "  b: {op: softmax, input: a, dim: 1}\n"
      "  c: {op: mul, inputs: [b, x]}\n"
      "  d: {op: transpose, input: c, dims: [0, 2, 1]}\n"
      "  e: {op: sigmoid, input: d}\n"
      "  f: {op: transpose, input: e, dims: [0, 2, 1]}\n"
      "  g: {op: add, inputs: [f, a]}\n"
      "  h: {op: layer_norm, input: g}\n"
      "  i: {op: relu, input: h}\n"
      "  j: {op: sub, inputs: [i, c]}\n"
      "  o: {op: rms_norm, input: j}\n";
  for (uint64_t seed = 1; seed <= 3; seed++)
    cgt_check(y, &(cgt_opts){.variants = CGT_UNFUSED | CGT_FUSED, .seed = seed});
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(attention_block),
      cmocka_unit_test(mlp),
      cmocka_unit_test(barrier_stress),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
