/*
 * beam.c: the bookkeeping of `seqc generate --beams N`, as Hugging Face
 * transformers' generate(num_beams=N, do_sample=False, length_penalty=1.0,
 * early_stopping=False) does it (BeamSearchScorer, 4.4x). Pure: it sees
 * rows of logits and says which beams go on with which tokens; the session,
 * the feeding and the printing are generate.c's.
 *
 * Each prompt row b owns N beams, session rows b*N .. b*N+N-1. At step k
 * (from 0) every beam's logits become log_softmax (in double) added to the
 * beam's cumulative log-probability; at step 0 only beam 0 takes part (its
 * N beams are one prompt, and would otherwise start as copies). The best 2N
 * candidates of the row (ties: the lowest beam, then the lowest token) are
 * taken in order: one ending in eos whose rank is below N becomes a finished
 * hypothesis, scored by its sum of log-probabilities divided by its number
 * of new tokens (the eos included); one ending in eos of a later rank is
 * dropped; the others become the row's next beams until there are N. A row
 * keeps its N best hypotheses (a better one replaces the worst) and is done
 * once it has N and the best candidate's sum divided by the current length
 * is no better than the worst of them (HF's early_stopping=False rule: a
 * heuristic, a longer hypothesis could still do better since the sums are
 * negative). After the last step the live beams of rows not done compete
 * too, each scored by its sum over its length; the best (ties: the first
 * found) is the row's answer.
 *
 * Every hypothesis is a (step, parent, token) triple: the sequence of
 * session row `parent` as step `step` saw it, plus `token`. The steps'
 * parents and tokens are kept (from, tok), so a hypothesis's tokens and the
 * session row of each of its steps (whose logits chose them) are traced
 * back without copying sequences around.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

bool cli_beams_init(cli_beams *bs, int64_t B, int64_t N, int64_t V, int64_t max_new, int64_t eos) {
  memset(bs, 0, sizeof *bs);
  bs->B = B, bs->N = N, bs->V = V, bs->max_new = max_new, bs->eos = eos;
  size_t rows = (size_t)(B * N);
  bs->score = calloc(rows, sizeof *bs->score);
  bs->next_score = calloc(rows, sizeof *bs->next_score);
  bs->from = calloc(rows * (size_t)max_new, sizeof *bs->from);
  bs->tok = calloc(rows * (size_t)max_new, sizeof *bs->tok);
  bs->cand = calloc((size_t)(2 * N) + 1, sizeof *bs->cand);
  bs->hyps = calloc(rows, sizeof *bs->hyps);
  bs->nhyps = calloc((size_t)B, sizeof *bs->nhyps);
  bs->done = calloc((size_t)B, sizeof *bs->done);
  return bs->score && bs->next_score && bs->from && bs->tok && bs->cand && bs->hyps && bs->nhyps &&
         bs->done;
}

void cli_beams_free(cli_beams *bs) {
  free(bs->score);
  free(bs->next_score);
  free(bs->from);
  free(bs->tok);
  free(bs->cand);
  free(bs->hyps);
  free(bs->nhyps);
  free(bs->done);
}

/* log(sum(exp(row))) in double, NaN logits left out */
static double log_sum_exp(const float *row, int64_t V) {
  double max = -INFINITY, sum = 0;
  for (int64_t i = 0; i < V; i++)
    if (row[i] > max) max = row[i];
  if (!isfinite(max)) return max;
  for (int64_t i = 0; i < V; i++)
    if (!isnan(row[i])) sum += exp((double)row[i] - max);
  return max + log(sum);
}

/* a before b: the higher score, then the lower beam, then the lower token */
static bool ranks_before(const cli_beam_cand *a, const cli_beam_cand *b) {
  if (a->score != b->score) return a->score > b->score;
  if (a->beam != b->beam) return a->beam < b->beam;
  return a->token < b->token;
}

/* puts c among the best (*n of at most k, kept in rank order) if it belongs */
static void offer(cli_beam_cand *best, int64_t *n, int64_t k, cli_beam_cand c) {
  if (*n == k && !ranks_before(&c, &best[k - 1])) return;
  int64_t at = *n < k ? (*n)++ : k - 1;
  while (at > 0 && ranks_before(&c, &best[at - 1])) {
    best[at] = best[at - 1];
    at--;
  }
  best[at] = c;
}

int64_t cli_beams_top(const float *logits, int64_t row_stride, int64_t live, int64_t V,
                      const double *score, int64_t k, cli_beam_cand *best) {
  int64_t n = 0;
  for (int64_t j = 0; j < live; j++) {
    const float *row = logits + j * row_stride;
    double lse = log_sum_exp(row, V);
    for (int64_t t = 0; t < V; t++) {
      if (isnan(row[t])) continue; /* never a candidate */
      double s = score[j] + ((double)row[t] - lse);
      offer(best, &n, k, (cli_beam_cand){.score = s, .beam = j, .token = t});
    }
  }
  return n;
}

void cli_beams_add_hyp(cli_beams *bs, int64_t b, cli_beam_hyp h) {
  h.score = h.sum / (double)h.len;
  cli_beam_hyp *row = &bs->hyps[b * bs->N];
  int64_t n = bs->nhyps[b];
  if (n < bs->N) {
    row[bs->nhyps[b]++] = h;
    return;
  }
  int64_t worst = 0; /* the lowest score, the first added among equal ones (as HF) */
  for (int64_t i = 1; i < n; i++)
    if (row[i].score < row[worst].score) worst = i;
  if (!(h.score > row[worst].score)) return;
  /* keep the order of adding: the worst leaves, the new one comes last */
  memmove(&row[worst], &row[worst + 1], sizeof *row * (size_t)(n - 1 - worst));
  row[n - 1] = h;
}

/* the lowest score among row b's hypotheses */
static double worst_score(const cli_beams *bs, int64_t b) {
  double w = INFINITY;
  for (int64_t i = 0; i < bs->nhyps[b]; i++)
    if (bs->hyps[b * bs->N + i].score < w) w = bs->hyps[b * bs->N + i].score;
  return w;
}

bool cli_beams_step(cli_beams *bs, const float *logits, int64_t row_stride) {
  int64_t N = bs->N, V = bs->V, k = bs->steps;
  int64_t *from = &bs->from[k * bs->B * N], *tok = &bs->tok[k * bs->B * N];
  bool all_done = true;
  for (int64_t b = 0; b < bs->B; b++) {
    int64_t base = b * N;
    if (bs->done[b]) { /* its beams idle on: fed eos (or 0), their state left */
      for (int64_t i = 0; i < N; i++) {
        from[base + i] = base + i;
        tok[base + i] = bs->eos >= 0 ? bs->eos : 0;
        bs->next_score[base + i] = bs->score[base + i];
      }
      continue;
    }
    int64_t n = cli_beams_top(logits + base * row_stride, row_stride, k == 0 ? 1 : N, V,
                              &bs->score[base], 2 * N, bs->cand);
    int64_t kept = 0;
    for (int64_t r = 0; r < n && kept < N; r++) {
      const cli_beam_cand *c = &bs->cand[r];
      if (c->token == bs->eos) {
        if (r < N)
          cli_beams_add_hyp(bs, b,
                            (cli_beam_hyp){.sum = c->score,
                                           .step = k,
                                           .parent = base + c->beam,
                                           .token = c->token,
                                           .len = k + 1});
        continue;
      }
      from[base + kept] = base + c->beam;
      tok[base + kept] = c->token;
      bs->next_score[base + kept] = c->score;
      kept++;
    }
    for (; kept < N; kept++) { /* too few tokens (NaN logits): dead beams */
      from[base + kept] = base;
      tok[base + kept] = bs->eos >= 0 ? bs->eos : 0;
      bs->next_score[base + kept] = -INFINITY;
    }
    if (bs->nhyps[b] == N && n > 0 && worst_score(bs, b) >= bs->cand[0].score / (double)(k + 1))
      bs->done[b] = true;
    all_done &= bs->done[b];
  }
  memcpy(bs->score, bs->next_score, sizeof *bs->score * (size_t)(bs->B * N));
  bs->steps++;
  return all_done;
}

void cli_beams_finish(cli_beams *bs) {
  int64_t n = bs->steps, N = bs->N;
  if (n == 0) return;
  const int64_t *from = &bs->from[(n - 1) * bs->B * N], *tok = &bs->tok[(n - 1) * bs->B * N];
  for (int64_t b = 0; b < bs->B; b++) {
    if (bs->done[b]) continue;
    for (int64_t i = b * N; i < b * N + N; i++)
      if (isfinite(bs->score[i]))
        cli_beams_add_hyp(
            bs, b,
            (cli_beam_hyp){
                .sum = bs->score[i], .step = n - 1, .parent = from[i], .token = tok[i], .len = n});
  }
}

const cli_beam_hyp *cli_beams_best(const cli_beams *bs, int64_t b) {
  const cli_beam_hyp *row = &bs->hyps[b * bs->N], *best = NULL;
  for (int64_t i = 0; i < bs->nhyps[b]; i++)
    if (!best || row[i].score > best->score) best = &row[i];
  return best;
}

void cli_beams_trace(const cli_beams *bs, const cli_beam_hyp *h, int64_t *tokens, int64_t *rows) {
  int64_t BN = bs->B * bs->N, cur = h->parent;
  tokens[h->step] = h->token;
  if (rows) rows[h->step] = cur;
  for (int64_t s = h->step - 1; s >= 0; s--) {
    tokens[s] = bs->tok[s * BN + cur];
    cur = bs->from[s * BN + cur];
    if (rows) rows[s] = cur;
  }
}
