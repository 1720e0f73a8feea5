/*
 * sample.c: how `seqc generate` chooses a token from a row of logits, and the
 * generator it draws from. Pure functions: no session, no allocation, no
 * global state; the caller owns the generator and the scratch space.
 *
 * The generator is splitmix64 (Steele, Lea and Flood, "Fast splittable
 * pseudorandom number generators", 2014; the seeding generator of
 * xoshiro): a 64-bit state, seeded with --seed as is, advanced by the golden
 * gamma 0x9e3779b97f4a7c15 at each draw and mixed by two xor-shift-multiply
 * rounds. A draw's top 53 bits make a double u = (z >> 11) * 2^-53 in [0, 1).
 * `seqc generate` draws once per row at each step, in row order (finished
 * rows too, their draw unused), so the tokens depend on the seed, the logits
 * and nothing else.
 *
 * Sampling (temperature X > 0), HF's order: p_i = exp((l_i - max l) / X) in
 * double; the tokens sorted by p, most likely first (ties: the lowest id
 * first); the first top_k kept (0 keeps all); then the shortest prefix whose
 * probabilities, renormalized over those kept, sum to at least top_p. The
 * token is the first of that prefix whose running sum of p exceeds u times
 * the prefix's sum (the last one if rounding leaves none). Greedy (temperature
 * 0) is the argmax, the lowest id among equal logits.
 */
#include <math.h>
#include <stdlib.h>

#include "cli.h"

void cli_rng_seed(cli_rng *r, uint64_t seed) { r->state = seed; }

uint64_t cli_rng_next(cli_rng *r) {
  uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double cli_rng_uniform(cli_rng *r) { return (double)(cli_rng_next(r) >> 11) * 0x1.0p-53; }

int64_t cli_argmax(const float *logits, int64_t V) {
  int64_t best = 0;
  for (int64_t i = 1; i < V; i++) /* strictly greater: a tie keeps the lower id */
    if (logits[i] > logits[best] || (isnan(logits[best]) && !isnan(logits[i]))) best = i;
  return best;
}

/* most likely first; equal probabilities by id, so the order is total */
static int by_prob(const void *a, const void *b) {
  const cli_choice *x = a, *y = b;
  if (x->prob != y->prob) return x->prob > y->prob ? -1 : 1;
  return (x->id > y->id) - (x->id < y->id);
}

int64_t cli_sample_dist(const float *logits, int64_t V, const cli_sampler *s, cli_choice *work) {
  double max = -INFINITY;
  for (int64_t i = 0; i < V; i++)
    if (logits[i] > max) max = logits[i];
  for (int64_t i = 0; i < V; i++) {
    /* a NaN logit, or all of them -inf, gets probability 0: never drawn */
    double p = isfinite(max) ? exp(((double)logits[i] - max) / s->temperature) : 0.0;
    work[i] = (cli_choice){.id = i, .prob = isnan(p) ? 0.0 : p};
  }
  qsort(work, (size_t)V, sizeof *work, by_prob);
  int64_t kept = s->top_k > 0 && s->top_k < V ? s->top_k : V;
  double total = 0;
  for (int64_t i = 0; i < kept; i++) total += work[i].prob;
  if (!(total > 0)) { /* nothing finite: the lowest id, as argmax would */
    work[0] = (cli_choice){.id = 0, .prob = 1.0};
    return 1;
  }
  if (s->top_p < 1.0) {
    double sum = 0;
    int64_t n = 0;
    while (n < kept && sum < s->top_p * total) sum += work[n++].prob;
    kept = n > 0 ? n : 1;
    total = 0;
    for (int64_t i = 0; i < kept; i++) total += work[i].prob;
  }
  for (int64_t i = 0; i < kept; i++) work[i].prob /= total;
  return kept;
}

int64_t cli_sample_pick(const cli_choice *dist, int64_t n, double u) {
  double target = u, sum = 0; /* the probabilities sum to 1 up to rounding */
  for (int64_t i = 0; i < n; i++) {
    sum += dist[i].prob;
    if (sum > target) return dist[i].id;
  }
  return dist[n - 1].id;
}

int64_t cli_choose(const float *logits, int64_t V, const cli_sampler *s, double u,
                   cli_choice *work) {
  if (!(s->temperature > 0)) return cli_argmax(logits, V);
  int64_t n = cli_sample_dist(logits, V, s, work);
  return cli_sample_pick(work, n, u);
}
