/*
 * test_t5.c: ir_t5_bucket is HF's _relative_position_bucket. The expected
 * buckets are what its float32 torch code gives (transformers'
 * modeling_t5.py, run once by hand), at T5's defaults (32 buckets, max
 * distance 128) both ways, and at 8 buckets and max distance 5 over
 * -12..12, where every distance at or past 5 shares its side's last bucket;
 * and settings where only float32 in HF's order gives HF's bucket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "ir.h"

static void defaults(void **state) {
  (void)state;
  static const int64_t r[] = {0, 1, -1, 8, -20, 200, -128, 127, -7, 9, -300};
  static const int64_t bidir[] = {0, 17, 1, 24, 10, 31, 15, 31, 7, 24, 15};
  for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
    assert_int_equal(ir_t5_bucket(r[i], true, 32, 128), bidir[i]);
  static const int64_t rc[] = {-1, 5, -16, -1000, -17, -100, 0};
  static const int64_t causal[] = {1, 0, 16, 31, 16, 30, 0};
  for (size_t i = 0; i < sizeof rc / sizeof rc[0]; i++)
    assert_int_equal(ir_t5_bucket(rc[i], false, 32, 128), causal[i]);
}

static void small_table_saturates(void **state) {
  (void)state;
  static const int64_t want[25] = {3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 1, 0,
                                   5, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7};
  for (int64_t r = -12; r <= 12; r++) assert_int_equal(ir_t5_bucket(r, true, 8, 5), want[r + 12]);
}

/* settings where double evaluation gives another bucket than HF's float32 one
 * (found by comparing the two over N < 40, max distance < 60, causal) */
static void float32_like_hf(void **state) {
  (void)state;
  static const int64_t cases[][4] = {/* N, max distance, n = -r, HF's bucket */
                                     {17, 27, 12, 10}, {17, 27, 18, 13}, {19, 16, 12, 14},
                                     {19, 25, 15, 13}, {36, 32, 24, 27}, {36, 50, 30, 26},
                                     {8, 25, 10, 6}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    assert_int_equal(ir_t5_bucket(-cases[i][2], false, cases[i][0], cases[i][1]), cases[i][3]);
}

static void layout(void **state) {
  (void)state;
  ir_t5_layout r = ir_t5_layout_make(true, true);
  assert_int_equal(r.rel, IR_T5_O + 1);
  assert_int_equal(r.cache, IR_T5_O + 2);
  assert_int_equal(r.ninputs, IR_T5_O + 4);
  r = ir_t5_layout_make(false, true);
  assert_int_equal(r.rel, -1);
  assert_int_equal(r.cache, IR_T5_O + 1);
  r = ir_t5_layout_make(false, false);
  assert_int_equal(r.ninputs, 6);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(defaults),
                                     cmocka_unit_test(small_table_saturates),
                                     cmocka_unit_test(float32_like_hf),
                                     cmocka_unit_test(layout)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
