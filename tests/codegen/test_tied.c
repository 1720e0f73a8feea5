/*
 * test_tied.c: models whose nodes share a parameter (SPEC 11, `weight:
 * NODE.PARAM`) compiled and run against the interpreter: one parameter read
 * by an embedding (rows gathered) and by a linear (a GEMM, whose transposed
 * copy is prepared once) at 1 and 2 threads, fused, unfused and symbolic; the
 * other way round; and a tie inside a scan body, where the parameter enters
 * as a capture.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cg_test.h"

/* a GPT whose head reads the embedding's weight */
static void tied_head(void **state) {
  (void)state;
  const char *y =
      "seqc: 1\nname: m\ndims: {B: 2, T: 11}\n"
      "inputs: {tokens: {dtype: i64, shape: [B, T]}}\n"
      "outputs: [lm_head, h]\nnodes:\n"
      "  embed: {op: embedding, input: tokens, num_embeddings: 37, embedding_dim: 16}\n"
      "  h: {op: transformer_encoder, input: embed, num_layers: 1, nhead: 2,\n"
      "      dim_feedforward: 24, norm_first: true, causal: true, norm: true}\n"
      "  lm_head: {op: linear, input: h, out_features: 37, bias: false, weight: embed.weight}\n";
  cgt_check(y, &(cgt_opts){.index_max = 37, .tol = 2e-5});
}

/* an embedding that reads a linear's weight, and a second linear reading it too */
static void tied_embedding(void **state) {
  (void)state;
  const char *y =
      "seqc: 1\nname: m\ndims: {B: 3, T: 5}\n"
      "inputs: {x: {dtype: f32, shape: [B, T, 12]}, tok: {dtype: i32, shape: [B, T]}}\n"
      "outputs: [p, e, q]\nnodes:\n"
      "  p: {op: linear, input: x, out_features: 19}\n"
      "  e: {op: embedding, input: tok, num_embeddings: 19, embedding_dim: 12, weight: p.weight}\n"
      "  s: {op: add, inputs: [e, x]}\n"
      "  q: {op: linear, input: s, out_features: 19, weight: e.weight, bias: false}\n";
  cgt_check(y, &(cgt_opts){.index_max = 19});
}

/* a scan body's linear sharing a weight of a body node and one of a node above */
static void tied_in_scan(void **state) {
  (void)state;
  const char *y =
      "seqc: 1\nname: m\ndims: {B: 2, T: 6}\n"
      "inputs: {x: {dtype: f32, shape: [B, T, 8]}}\n"
      "outputs: [c]\nnodes:\n"
      "  pre: {op: linear, input: x, out_features: 8, bias: false}\n"
      "  c:\n"
      "    op: scan\n"
      "    over: {e: pre}\n"
      "    state: {h: {zeros: [B, 8]}}\n"
      "    body:\n"
      "      a: {op: linear, input: e, out_features: 8}\n"
      "      b: {op: linear, input: h, out_features: 8, bias: false, weight: a.weight}\n"
      "      d: {op: add, inputs: [a, b]}\n"
      "      t: {op: tanh, input: d}\n"
      "      o: {op: linear, input: t, out_features: 8, bias: false, weight: pre.weight}\n"
      "    emit: [o]\n"
      "    next: {h: t}\n";
  cgt_check(y, &(cgt_opts){.seed = 4});
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(tied_head),
      cmocka_unit_test(tied_embedding),
      cmocka_unit_test(tied_in_scan),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
