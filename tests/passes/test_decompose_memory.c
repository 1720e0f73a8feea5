/*
 * test_decompose_memory.c: decompose turns Memformer's memory_write into
 * primitives (passes/decompose_memory.c). The interpreter computes the layer
 * op straight from SPEC's text (ir/memory_write.c), so before and after
 * decompose the numbers of a memformer_encoder (whose scan body holds the
 * write) must agree at 1e-6, no layer op may be left in the body, and the
 * FLOP count must not move. The write becomes one slot_attention kernel
 * between the projections and out_proj: no softmax, concat or head
 * transpose is left of the per-slot matmuls. Variants: one head and several,
 * temperature 1 and not, one segment and several, a segment of one row.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>

#include <cmocka.h>

#include "test_passes.h"

static const int64_t SYMS[] = {2, 12};

/* the memformer_encoder of the given attributes on x [B, T, 8], decomposed */
static void check(const char *attrs) {
  char src[1024];
  snprintf(src, sizeof src,
           "seqc: 1\nname: m\ndims: {B: 2, T: 12}\ninputs:\n  x: {dtype: f32, shape: [B, T, 8]}\n"
           "outputs: [mf, mf.memory]\nnodes:\n"
           "  mf: {op: memformer_encoder, input: x, num_layers: 1, dim_feedforward: 16, %s}\n",
           attrs);
  ir_graph *g = load_yaml(src);
  int scan = find_op(g, IR_OP_SCAN);
  assert_true(scan >= 0);
  assert_int_equal(count_op(g->nodes[scan].body, IR_OP_MEMORY_WRITE), 1);
  double flops = ir_graph_flops(g, SYMS);
  assert_true(check_pass_numbers(g, pass_decompose, "decompose", SYMS, 1));
  assert_no_layers(g);
  double after = ir_graph_flops(g, SYMS);
  if (fabs(after - flops) > 1e-9 * flops)
    fail_msg("flops %.17g before decompose, %.17g after", flops, after);
  const ir_graph *body = g->nodes[find_op(g, IR_OP_SCAN)].body;
  assert_int_equal(count_op(body, IR_OP_SLOT_ATTENTION), 1);
  assert_int_equal(count_op(body, IR_OP_CONCAT), 0);
  /* the encoder's own attentions have their softmax in `attention` */
  assert_int_equal(count_op(body, IR_OP_SOFTMAX), 0);
  ir_graph_free(g);
}

static void write_heads_and_temperature(void **state) {
  (void)state;
  check("nhead: 1, num_slots: 3, segment: 4");
  check("nhead: 2, num_slots: 5, segment: 3, write_temperature: 0.25");
  check("nhead: 4, num_slots: 2, segment: 12, write_temperature: 3");
}

static void segment_of_one_row(void **state) {
  (void)state;
  check("nhead: 2, num_slots: 4, segment: 1");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(write_heads_and_temperature),
      cmocka_unit_test(segment_of_one_row),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
