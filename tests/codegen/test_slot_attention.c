/*
 * test_slot_attention.c: Memformer's write attention kernel
 * (codegen/slot_attention.c) against the interpreter's slot_attention
 * (ir/slot_attention.c): segments of 1, 7 and 64 rows, 1, 2 and 4 heads,
 * head dims that fill vectors and that do not (one past two vectors), 1
 * slot and several, scales of temperatures 1 and not, at 1, 2 and 3 threads
 * (items that split evenly and not), with the batch bound and symbolic, for
 * the host's vector width and for 8 and 4 floats; a segment of several key
 * tiles. Then the whole write in a
 * memformer_encoder (decompose_memory.c's linears, this kernel, out_proj and
 * the norm) against the interpreter's memory_write from SPEC's text, over
 * several segments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cg_test.h"

static const ir_loc L0 = {1, 1};

static ir_type f32_3(int64_t rows, int64_t cols) {
  return (ir_type){
      .dtype = IR_F32, .rank = 3, .dims = {ir_dim_sym(0), ir_dim_const(rows), ir_dim_const(cols)}};
}

/* one slot_attention of k slots on C rows, H heads of dh, temperature t */
static void check(int64_t k, int64_t C, int64_t H, int64_t dh, double t, unsigned variants,
                  int threads) {
  ir_graph *g = ir_graph_new("slots");
  ir_graph_add_sym(g, "B", 3, L0);
  int64_t E = H * dh;
  int in[2] = {ir_add_input(g, "qkv", f32_3(k, 3 * E), L0),
               ir_add_input(g, "kv", f32_3(C, 2 * E), L0)};
  int n = ir_add_node(g, IR_OP_SLOT_ATTENTION, "heads", in, 2, L0);
  ir_set_attr_int(g, n, "num_heads", H);
  ir_set_attr_float(g, n, "scale", 1.0 / (sqrt((double)dh) * t));
  ir_diags d;
  ir_diags_init(&d, "test", NULL, 0, stderr);
  assert_true(ir_infer_node(g, n, &d));
  ir_add_output(g, "heads", g->nodes[n].outputs[0]);
  cgt_check_graph(g, &(cgt_opts){.variants = variants,
                                 .seed = (uint64_t)(k * 1009 + C * 31 + H * 7 + dh),
                                 .threads = threads});
}

/* segments of 1, 7 and 64 rows; 1, 2, 4 heads; dh 5, 3, 13 and a full 16 */
static void segments_and_heads(void **state) {
  (void)state;
  static const int64_t Cs[] = {1, 7, 64};
  static const int64_t Hs[] = {1, 2, 4};
  static const int64_t dhs[] = {5, 3, 13, 16};
  static const double ts[] = {1.0, 0.3, 2.5};
  for (int c = 0; c < 3; c++)
    for (int h = 0; h < 3; h++) {
      int i = c * 3 + h;
      unsigned variants = i % 3 == 0 ? CGT_SYMBOLIC : i % 3 == 1 ? CGT_FUSED : CGT_SSE;
      check(i % 2 ? 5 : 1, Cs[c], Hs[h], dhs[i % 4], ts[(c + h) % 3], variants, 3);
    }
}

/* a head past two vectors, for 8 and 4 floats a vector */
static void wide_heads(void **state) {
  (void)state;
  check(3, 9, 2, 37, 0.7, CGT_FUSED | CGT_AVX2 | CGT_SSE, 3);
}

/* a segment of several key tiles (codegen's TILE is 512), the last partial:
 * the running max moves between tiles */
static void long_segment(void **state) {
  (void)state;
  check(2, 1100, 2, 6, 0.2, CGT_FUSED | CGT_SSE, 3);
}

/* the whole write inside the encoder's segment scan, several segments */
static void encoder_write(void **state) {
  (void)state;
  static const char *const attrs[] = {
      "nhead: 2, num_slots: 3, segment: 7, write_temperature: 0.5",
      "nhead: 4, num_slots: 5, segment: 1, write_temperature: 2",
      "nhead: 1, num_slots: 2, segment: 14",
  };
  for (int i = 0; i < 3; i++) {
    char y[1024];
    snprintf(
        y, sizeof y,
        "seqc: 1\nname: m\ndims: {B: 2, T: 14}\ninputs:\n  x: {dtype: f32, shape: [B, T, 12]}\n"
        "outputs: [mf, mf.memory]\nnodes:\n"
        "  mf: {op: memformer_encoder, input: x, num_layers: 1, dim_feedforward: 16, %s}\n",
        attrs[i]);
    cgt_check(y, &(cgt_opts){.variants = i == 0 ? CGT_FUSED | CGT_UNFUSED : CGT_FUSED,
                             .seed = (uint64_t)i + 1,
                             .threads = 3});
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(segments_and_heads),
      cmocka_unit_test(wide_heads),
      cmocka_unit_test(long_segment),
      cmocka_unit_test(encoder_write),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
