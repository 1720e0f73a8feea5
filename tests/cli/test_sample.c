/*
 * test_sample.c: the token choice of `seqc generate` (cli/sample.c): the
 * generator is splitmix64 as documented, greedy is the argmax with ties to
 * the lowest id, and sampled frequencies follow softmax(logits / T), cut by
 * top-k and then top-p (renormalized after top-k), by a chi-square test
 * from a fixed seed (so it cannot flake).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <math.h>
#include <string.h>

/* sample.c is part of the seqc program, not of a library: compiled in here */
#include "../../cli/sample.c"

/* a fixed row of logits: ids 1 and 5 tie, so the order of equal tokens shows */
static const float logits[6] = {2.0f, 1.0f, 0.5f, 0.0f, -1.0f, 1.0f};
enum { V = 6, DRAWS = 60000 };
/* the order sample.c must sort them in: by probability, equal ones by id */
static const int64_t order[V] = {0, 1, 5, 2, 3, 4};

/* softmax(logits / temp) in double, as the test's own reference */
static void softmax(double temp, double *p) {
  double sum = 0;
  for (int i = 0; i < V; i++) sum += p[i] = exp(((double)logits[i] - 2.0) / temp);
  for (int i = 0; i < V; i++) p[i] /= sum;
}

/* want[] restricted to the ids in keep[0..n), renormalized; the rest 0 */
static void restrict_to(double *want, const int64_t *keep, int n) {
  double kept[V] = {0}, sum = 0;
  for (int i = 0; i < n; i++) sum += kept[keep[i]] = want[keep[i]];
  for (int i = 0; i < V; i++) want[i] = kept[i] / sum;
}

/*
 * DRAWS tokens chosen by s from the generator seeded with seed; the
 * chi-square statistic of their counts against want (ids with want 0 must
 * never come). df = (ids with want > 0) - 1 <= 5; the 0.999 quantile of
 * chi-square with 5 degrees of freedom is 20.5, so a right sampler passes
 * with any seed but one in a thousand, and this seed is fixed.
 */
static double chi_square(const cli_sampler *s, uint64_t seed, const double *want) {
  cli_rng r;
  cli_rng_seed(&r, seed);
  cli_choice work[V];
  long count[V] = {0};
  for (int k = 0; k < DRAWS; k++) {
    int64_t id = cli_choose(logits, V, s, cli_rng_uniform(&r), work);
    assert_true(id >= 0 && id < V);
    count[id]++;
  }
  double chi = 0;
  for (int i = 0; i < V; i++) {
    if (want[i] == 0) {
      assert_int_equal(count[i], 0);
      continue;
    }
    double e = want[i] * DRAWS;
    chi += (count[i] - e) * (count[i] - e) / e;
  }
  return chi;
}

/* the distribution cli_sample_dist returns equals want (kept ids in order) */
static void expect_dist(const cli_sampler *s, const double *want, int nkept) {
  cli_choice work[V];
  int64_t n = cli_sample_dist(logits, V, s, work);
  assert_int_equal(n, nkept);
  for (int i = 0; i < n; i++) {
    assert_int_equal(work[i].id, order[i]);
    assert_true(fabs(work[i].prob - want[order[i]]) < 1e-12);
  }
}

static void generator_is_splitmix64(void **state) {
  (void)state;
  cli_rng r, q;
  cli_rng_seed(&r, 0);
  /* splitmix64's first outputs from seed 0, as published with xoshiro */
  assert_true(cli_rng_next(&r) == 0xe220a8397b1dcdafull);
  assert_true(cli_rng_next(&r) == 0x6e789e6aa1b965f4ull);
  cli_rng_seed(&r, 7);
  cli_rng_seed(&q, 7);
  for (int i = 0; i < 1000; i++) {
    double u = cli_rng_uniform(&r);
    assert_true(u >= 0 && u < 1);
    assert_true(u == cli_rng_uniform(&q)); /* same seed, same draws */
  }
  cli_rng_seed(&q, 8);
  assert_true(cli_rng_next(&r) != cli_rng_next(&q));
}

static void greedy_is_argmax_lowest_on_ties(void **state) {
  (void)state;
  assert_int_equal(cli_argmax(logits, V), 0);
  const float tie[4] = {1.0f, 3.0f, 3.0f, 2.0f};
  assert_int_equal(cli_argmax(tie, 4), 1);
  const float nan_first[3] = {NAN, 1.0f, 2.0f};
  assert_int_equal(cli_argmax(nan_first, 3), 2);
  /* temperature 0 is greedy, whatever the draw */
  cli_sampler greedy = {.temperature = 0, .top_k = 0, .top_p = 1};
  cli_choice work[V];
  assert_int_equal(cli_choose(tie, 4, &greedy, 0.99, work), 1);
  /* top-k 1 with a temperature: the argmax too, whatever the draw; ties to the lowest id */
  cli_sampler k1 = {.temperature = 2.5, .top_k = 1, .top_p = 1};
  for (double u = 0; u < 1; u += 0.125) assert_int_equal(cli_choose(tie, 4, &k1, u, work), 1);
}

static void samples_follow_softmax(void **state) {
  (void)state;
  double want[V];
  for (int t = 0; t < 3; t++) {
    double temp = (double[]){0.7, 1.0, 3.0}[t];
    cli_sampler s = {.temperature = temp, .top_k = 0, .top_p = 1};
    softmax(temp, want);
    expect_dist(&s, want, V);
    double chi = chi_square(&s, 1234 + (uint64_t)t, want);
    assert_true(chi < 20.5);
  }
  /* the test can fail: frequencies drawn from softmax(l / 0.7) are far from T = 1's */
  cli_sampler cold = {.temperature = 0.7, .top_k = 0, .top_p = 1};
  softmax(1.0, want);
  assert_true(chi_square(&cold, 1234, want) > 100);
}

static void top_k_truncates_and_renormalizes(void **state) {
  (void)state;
  double want[V];
  /* k = 3 keeps 0, 1, 5; k = 2 keeps 0 and 1: of the tied 1 and 5 the lower id */
  for (int k = 2; k <= 3; k++) {
    cli_sampler s = {.temperature = 0.8, .top_k = k, .top_p = 1};
    softmax(0.8, want);
    restrict_to(want, order, k);
    expect_dist(&s, want, k);
    assert_true(chi_square(&s, 99 + (uint64_t)k, want) < 20.5);
  }
  /* k >= V keeps all */
  cli_sampler all = {.temperature = 0.8, .top_k = 100, .top_p = 1};
  softmax(0.8, want);
  expect_dist(&all, want, V);
}

static void top_p_after_top_k(void **state) {
  (void)state;
  double p[V], cum_raw[V], cum_k4[V];
  softmax(1.0, p);
  double sum4 = p[order[0]] + p[order[1]] + p[order[2]] + p[order[3]];
  for (int i = 0; i < V; i++) {
    cum_raw[i] = (i ? cum_raw[i - 1] : 0) + p[order[i]];
    cum_k4[i] = cum_raw[i] / sum4;
  }
  /* top-p alone: the fewest most likely with mass >= top_p (3 here) */
  double want[V];
  cli_sampler s = {.temperature = 1.0, .top_k = 0, .top_p = (cum_raw[1] + cum_raw[2]) / 2};
  memcpy(want, p, sizeof want);
  restrict_to(want, order, 3);
  expect_dist(&s, want, 3);
  assert_true(chi_square(&s, 5, want) < 20.5);
  /*
   * top-k 4 and then top-p: the mass is counted over the 4 kept (HF's
   * order), so a top_p between the raw and the renormalized mass of the
   * best 3 keeps 3, where counting raw mass would keep 4
   */
  double top_p = (cum_raw[2] + cum_k4[2]) / 2;
  assert_true(top_p > cum_k4[1] && top_p > cum_raw[2]); /* the case tells them apart */
  cli_sampler ks = {.temperature = 1.0, .top_k = 4, .top_p = top_p};
  memcpy(want, p, sizeof want);
  restrict_to(want, order, 3);
  expect_dist(&ks, want, 3);
  assert_true(chi_square(&ks, 6, want) < 20.5);
  /* a tiny top_p keeps the best token only: greedy */
  cli_sampler tiny = {.temperature = 1.0, .top_k = 0, .top_p = 1e-9};
  memcpy(want, p, sizeof want);
  restrict_to(want, order, 1);
  expect_dist(&tiny, want, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(generator_is_splitmix64), cmocka_unit_test(greedy_is_argmax_lowest_on_ties),
      cmocka_unit_test(samples_follow_softmax),  cmocka_unit_test(top_k_truncates_and_renormalizes),
      cmocka_unit_test(top_p_after_top_k),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
