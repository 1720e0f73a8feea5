/*
 * test_beam.c: the bookkeeping of `seqc generate --beams N` (cli/beam.c) on
 * fixed logits: the best 2N continuations by cumulative log-probability
 * (ties: the lower beam, then the lower token), only beam 0 at the first
 * step, an eos among the first N candidates becoming a finished hypothesis
 * and one of a later rank dropped, hypotheses ranked by their sum over
 * their length, HF's early_stopping=False rule, the live beams competing at
 * the end, and the trace of a hypothesis's tokens and rows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <math.h>
#include <string.h>

/* beam.c is part of the seqc program, not of a library: compiled in here */
#include "../../cli/beam.c"

#define TOL 1e-6

/* a row of logits whose log_softmax is log(p) */
static void logp(float *row, const double *p, int V) {
  for (int i = 0; i < V; i++) row[i] = (float)log(p[i]);
}

static void top_2n_with_ties(void **state) {
  (void)state;
  float logits[2][3];
  logp(logits[0], (const double[]){0.5, 0.25, 0.25}, 3);
  logp(logits[1], (const double[]){0.5, 0.25, 0.25}, 3);
  double score[2] = {0, 0};
  cli_beam_cand best[4];
  assert_int_equal(cli_beams_top(&logits[0][0], 3, 2, 3, score, 4, best), 4);
  /* equal scores: beam 0 before beam 1, then token 1 before token 2 */
  static const int64_t beam[4] = {0, 1, 0, 0}, token[4] = {0, 0, 1, 2};
  for (int i = 0; i < 4; i++) {
    assert_int_equal(best[i].beam, beam[i]);
    assert_int_equal(best[i].token, token[i]);
  }
  assert_float_equal(best[0].score, log(0.5), TOL);
  assert_float_equal(best[2].score, log(0.25), TOL);
  /* the beams' sums count: beam 1 ahead by 1 takes every place it can */
  score[1] = 1.0;
  assert_int_equal(cli_beams_top(&logits[0][0], 3, 2, 3, score, 4, best), 4);
  static const int64_t beam2[4] = {1, 1, 1, 0}, token2[4] = {0, 1, 2, 0};
  for (int i = 0; i < 4; i++) {
    assert_int_equal(best[i].beam, beam2[i]);
    assert_int_equal(best[i].token, token2[i]);
  }
  assert_float_equal(best[0].score, 1.0 + log(0.5), TOL);
}

/* B = 1, N = 2, V = 4, eos 3 */
static void eos_ranks(void **state) {
  (void)state;
  cli_beams bs;
  assert_true(cli_beams_init(&bs, 1, 2, 4, 5, 3));
  float l[2][4];
  /* step 0: row 1 (a copy of the prompt) would win if it took part */
  logp(l[0], (const double[]){0.1, 0.4, 0.3, 0.2}, 4);
  logp(l[1], (const double[]){0.97, 0.01, 0.01, 0.01}, 4);
  assert_false(cli_beams_step(&bs, &l[0][0], 4));
  /* tokens 1 and 2 of beam 0; eos (rank 2) is not reached */
  assert_int_equal(bs.nhyps[0], 0);
  assert_int_equal(bs.from[0], 0);
  assert_int_equal(bs.from[1], 0);
  assert_int_equal(bs.tok[0], 1);
  assert_int_equal(bs.tok[1], 2);
  assert_float_equal(bs.score[0], log(0.4), TOL);
  assert_float_equal(bs.score[1], log(0.3), TOL);
  /* step 1, in rank order: beam 0's eos (rank 0 < N: a hypothesis of 2
   * tokens), beam 0's token 0, beam 1's eos (rank 2: dropped), beam 1's token 0 */
  logp(l[0], (const double[]){0.45, 0.03, 0.02, 0.5}, 4);
  logp(l[1], (const double[]){0.3, 0.2, 0.1, 0.4}, 4);
  assert_false(cli_beams_step(&bs, &l[0][0], 4));
  assert_int_equal(bs.nhyps[0], 1);
  assert_float_equal(bs.hyps[0].score, (log(0.4) + log(0.5)) / 2, TOL);
  assert_int_equal(bs.hyps[0].len, 2);
  assert_int_equal(bs.from[2], 0);
  assert_int_equal(bs.tok[2], 0);
  assert_int_equal(bs.from[3], 1);
  assert_int_equal(bs.tok[3], 0);
  assert_float_equal(bs.score[1], log(0.3) + log(0.3), TOL);
  /* the end: the live beams compete by sum over length 2: beam 0's -0.86
   * gets in, beam 1's -1.20 does not; the hypothesis (-0.80) wins */
  cli_beams_finish(&bs);
  assert_int_equal(bs.nhyps[0], 2);
  assert_float_equal(bs.hyps[1].score, (log(0.4) + log(0.45)) / 2, TOL);
  const cli_beam_hyp *h = cli_beams_best(&bs, 0);
  assert_non_null(h);
  assert_int_equal(h->token, 3);
  assert_float_equal(h->score, (log(0.4) + log(0.5)) / 2, TOL);
  cli_beams_free(&bs);
}

static void length_normalized(void **state) {
  (void)state;
  cli_beams bs;
  assert_true(cli_beams_init(&bs, 1, 2, 4, 5, 3));
  cli_beams_add_hyp(&bs, 0, (cli_beam_hyp){.sum = -1.5, .len = 1, .token = 1});
  cli_beams_add_hyp(&bs, 0, (cli_beam_hyp){.sum = -3.0, .len = 3, .token = 3});
  cli_beams_add_hyp(&bs, 0, (cli_beam_hyp){.sum = -2.4, .len = 2, .token = 2});
  assert_int_equal(bs.nhyps[0], 2); /* -1.5 / 1 was the worst: replaced */
  cli_beams_add_hyp(&bs, 0, (cli_beam_hyp){.sum = -5.0, .len = 2, .token = 4});
  assert_int_equal(bs.nhyps[0], 2); /* -2.5: not among the best 2 */
  const cli_beam_hyp *h = cli_beams_best(&bs, 0);
  assert_int_equal(h->token, 3); /* the longest, with the lowest sum: -1.0 a token */
  assert_float_equal(h->score, -1.0, TOL);
  assert_int_equal(bs.hyps[0].token + bs.hyps[1].token, 5);
  cli_beams_free(&bs);
}

/* HF's early_stopping=False: done once N hypotheses and the best candidate's
 * sum over the current length does not beat the worst of them */
static void early_stop(void **state) {
  (void)state;
  cli_beams bs;
  assert_true(cli_beams_init(&bs, 1, 2, 4, 10, 3));
  float l[2][4];
  /* step 0: tokens 2 and 3 (eos) tie: 2 ranks first; eos second, a hypothesis */
  logp(l[0], (const double[]){0.05, 0.05, 0.45, 0.45}, 4);
  logp(l[1], (const double[]){0.25, 0.25, 0.25, 0.25}, 4);
  assert_false(cli_beams_step(&bs, &l[0][0], 4));
  assert_int_equal(bs.nhyps[0], 1);
  assert_int_equal(bs.tok[0], 2);
  assert_int_equal(bs.tok[1], 0);
  /* step 1: beam 0 ends (a hypothesis of 2, -0.41 a token); the best
   * candidate is that eos itself, -0.83 / 2 > the worst hypothesis (-0.80): not done */
  logp(l[0], (const double[]){0.01, 0.01, 0.01, 0.97}, 4);
  logp(l[1], (const double[]){0.25, 0.25, 0.25, 0.25}, 4);
  assert_false(cli_beams_step(&bs, &l[0][0], 4));
  assert_int_equal(bs.nhyps[0], 2);
  assert_int_equal(bs.from[2], 1); /* both beams now continue beam 1 */
  assert_int_equal(bs.from[3], 1);
  assert_false(bs.done[0]);
  /* step 2: the best candidate (-4.4 - 1.4) / 3 cannot beat -0.80: done */
  assert_true(cli_beams_step(&bs, &l[0][0], 4));
  assert_true(bs.done[0]);
  /* a done row's beams idle: fed eos, their rows kept */
  logp(l[0], (const double[]){0.97, 0.01, 0.01, 0.01}, 4);
  assert_true(cli_beams_step(&bs, &l[0][0], 4));
  assert_int_equal(bs.from[3 * 2 + 1], 1);
  assert_int_equal(bs.tok[3 * 2 + 0], 3);
  assert_int_equal(bs.nhyps[0], 2);
  cli_beams_finish(&bs); /* done: the live beams do not count */
  const cli_beam_hyp *h = cli_beams_best(&bs, 0);
  assert_float_equal(h->score, (log(0.45) + log(0.97)) / 2, TOL);
  int64_t tokens[2], rows[2];
  cli_beams_trace(&bs, h, tokens, rows);
  assert_int_equal(tokens[0], 2);
  assert_int_equal(tokens[1], 3);
  assert_int_equal(rows[0], 0); /* step 0's logits of row 0, step 1's of row 0 */
  assert_int_equal(rows[1], 0);
  cli_beams_free(&bs);
}

/* two prompt rows search apart; a trace goes through the parents */
static void rows_apart_and_trace(void **state) {
  (void)state;
  cli_beams bs;
  assert_true(cli_beams_init(&bs, 2, 2, 4, 3, -1));
  float l[4][4];
  for (int r = 0; r < 4; r++) logp(l[r], (const double[]){0.4, 0.3, 0.2, 0.1}, 4);
  logp(l[2], (const double[]){0.1, 0.2, 0.3, 0.4}, 4); /* row 1's beam 0 */
  assert_false(cli_beams_step(&bs, &l[0][0], 4));
  assert_int_equal(bs.from[2], 2); /* row 1's beams come from session row 2 */
  assert_int_equal(bs.tok[2], 3);
  assert_int_equal(bs.tok[3], 2);
  /* step 1: row 1's beam 1 (token 2) gets the best continuation */
  for (int r = 0; r < 4; r++) logp(l[r], (const double[]){0.25, 0.25, 0.25, 0.25}, 4);
  logp(l[3], (const double[]){0.02, 0.96, 0.01, 0.01}, 4);
  assert_false(cli_beams_step(&bs, &l[0][0], 4));
  assert_int_equal(bs.from[4 + 2], 3);
  assert_int_equal(bs.tok[4 + 2], 1);
  cli_beams_finish(&bs); /* no eos: the live beams, length 2 */
  assert_int_equal(bs.nhyps[1], 2);
  const cli_beam_hyp *h = cli_beams_best(&bs, 1);
  assert_float_equal(h->score, (log(0.3) + log(0.96)) / 2, TOL);
  int64_t tokens[2], rows[2];
  cli_beams_trace(&bs, h, tokens, rows);
  assert_int_equal(tokens[0], 2);
  assert_int_equal(tokens[1], 1);
  assert_int_equal(rows[0], 2); /* step 0: row 1's beam 0 chose token 2 */
  assert_int_equal(rows[1], 3); /* step 1: its child in session row 3 chose 1 */
  cli_beams_free(&bs);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(top_2n_with_ties),     cmocka_unit_test(eos_ranks),
      cmocka_unit_test(length_normalized),    cmocka_unit_test(early_stop),
      cmocka_unit_test(rows_apart_and_trace),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
