/*
 * test_decompose_xl.c: decompose turns transformer_xl into a segment scan
 * around rel_attention (passes/decompose_xl.c). The interpreter computes the
 * layer op straight from SPEC's text (ir/eval_xl.c), and rel_attention from
 * its own definition, so the numbers before and after decompose must agree:
 * memory below and above the segment, clamp_len, same_length, a segment of
 * one row, no memory. No layer op may be left, and the FLOP count must not
 * move. The segment scan reads nothing beyond x that grows with T (its
 * segments' positions are a count of rows in a state, not a [B, T] input).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "test_passes.h"

static const int64_t SYMS[] = {2, 12};

/* true when dim d is a multiple of symbol s */
static bool uses_sym(ir_dim d, int s) {
  for (int i = 0; i < IR_DIM_SYMS; i++)
    if (d.sym[i] == s) return true;
  return false;
}

/* a 2-layer transformer_xl over x [B=2, T=12, 8] with attrs (YAML) added */
static ir_graph *xl_graph(const char *attrs) {
  char src[1024];
  snprintf(src, sizeof src,
           "seqc: 1\nname: m\ndims: {B: 2, T: 12}\ninputs:\n  x: {dtype: f32, shape: [B, T, 8]}\n"
           "outputs: [xl]\nnodes:\n"
           "  xl: {op: transformer_xl, input: x, num_layers: 2, n_head: 2, d_head: 3, "
           "d_inner: 16, %s}\n",
           attrs);
  return load_yaml(src);
}

/* the scan's inputs past x, and every value of its body but x's, have no dim in T (symbol 1) */
static void nothing_grows(const char *attrs) {
  ir_graph *g = xl_graph(attrs);
  ir_diags d;
  ir_diags_init(&d, "test", NULL, 0, stderr);
  assert_true(pass_decompose(g, &(pass_ctx){.diags = &d}));
  int scans = 0;
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    assert_int_not_equal(n->op, IR_OP_POSITIONS);
    if (n->op != IR_OP_SCAN) continue;
    scans++;
    assert_int_equal(ir_attr_int(n, "nover"), 1);
    for (int k = 1; k < n->ninputs; k++) {
      const ir_type *t = &g->values[n->inputs[k]].type;
      for (int r = 0; r < t->rank; r++)
        if (uses_sym(t->dims[r], 1))
          fail_msg("scan input %d ('%s') grows with T", k, g->values[n->inputs[k]].name);
    }
  }
  assert_int_equal(scans, 1);
  ir_graph_free(g);
}

static void check(const char *attrs) {
  ir_graph *g = xl_graph(attrs);
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

static void constant_reads(void **state) {
  (void)state;
  nothing_grows("mem_len: 3, segment: 4");
  nothing_grows("mem_len: 0, segment: 1");
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(memories), cmocka_unit_test(constant_reads)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
