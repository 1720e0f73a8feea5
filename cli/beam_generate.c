/*
 * beam_generate.c: the generation loop of `seqc generate --beams N`. The
 * session has N rows per prompt row (cli_gen_repeat_rows), one per beam.
 * Step k runs every row as the greedy loop does (a streaming model one
 * position, another the whole sequence from position 0), gives the logits
 * of each row's last position to the search (beam.c), and reorders the
 * rows' tokens by the beams' new parents; a streaming model's kept state
 * follows them (seqrt_session_select_rows), so that row i continues the
 * sequence of its parent. The best hypothesis of each prompt row is printed
 * at the end (a beam can still change until then) and written by --output,
 * its logits traced back through the parents.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* rows' tokens (stride each) reordered: row i becomes old row from[i] with
 * tok[i] at position at; scratch has room for them all */
static void reorder_tokens(int64_t *tokens, int64_t *scratch, int64_t rows, int64_t stride,
                           int64_t at, const int64_t *from, const int64_t *tok) {
  memcpy(scratch, tokens, sizeof *tokens * (size_t)(rows * stride));
  for (int64_t i = 0; i < rows; i++) {
    memcpy(&tokens[i * stride], &scratch[from[i] * stride], sizeof *tokens * (size_t)at);
    tokens[i * stride + at] = tok[i];
  }
}

int cli_generate_beams(cli_gen *st, const cli_gen_args *a, const cli_lm_shape *lm, bool streaming,
                       int64_t B, int64_t P, int64_t V) {
  const seqrt_model_desc *desc = cg_jit_desc(st->jit);
  int64_t N = a->max_new, stride = P + N, beams = a->beams, rows = B * beams;
  const cli_vocab *vocab = st->vocab.text ? &st->vocab : NULL;
  cli_beams bs;
  bool ok = cli_beams_init(&bs, B, beams, V, N, a->eos);
  st->outputs = calloc((size_t)desc->noutputs + 1, sizeof *st->outputs);
  int64_t *scratch = calloc((size_t)(rows * stride), sizeof *scratch);
  /* --output: every row's logits of every step, [N][rows][V], to trace the best path in */
  float *steps = a->output ? calloc((size_t)(N * rows * V), sizeof *steps) : NULL;
  IR_ASSERT(ok && st->outputs && scratch && (!a->output || steps));
  double start = cli_now_ms(), prefilled = start;
  int64_t n = 0; /* steps made */
  bool all_done = false;
  int status = CLI_OK;
  seqrt_error err;
  while (n < N && !all_done && !cli_interrupted()) {
    int64_t from = 0, L = P + n;
    if (streaming && n > 0) from = P + n - 1, L = 1;
    cli_gen_feed(st, lm, rows, stride, from, L);
    if (seqrt_session_run(st->session, st->inputs, st->outputs, &err)) {
      status = cli_error("step %lld: %s", (long long)n + 1, err.msg);
      break;
    }
    const seqrt_tensor *out = &st->outputs[0];
    IR_ASSERT(out->rank == 3 && out->shape[0] == rows && out->shape[1] == L && out->shape[2] == V);
    if (streaming && n == 0) /* later runs leave the static inputs out: the session keeps them */
      for (int i = 0; i < desc->ninputs; i++)
        if (i != lm->tokens && desc->input_static && desc->input_static[i])
          st->inputs[i] = (seqrt_tensor){0};
    const float *last = (const float *)out->data + (L - 1) * V; /* row r at r * L * V */
    if (steps)
      for (int64_t r = 0; r < rows; r++)
        memcpy(&steps[(n * rows + r) * V], last + r * L * V, sizeof *steps * (size_t)V);
    all_done = cli_beams_step(&bs, last, L * V);
    const int64_t *parent = &bs.from[n * rows], *tok = &bs.tok[n * rows];
    reorder_tokens(st->tokens, scratch, rows, stride, P + n, parent, tok);
    /* the next run continues each beam's parent */
    if (streaming && n + 1 < N && !all_done &&
        seqrt_session_select_rows(st->session, parent, rows, &err)) {
      status = cli_error("step %lld: %s", (long long)n + 1, err.msg);
      break;
    }
    if (++n == 1) prefilled = cli_now_ms();
  }
  double end = cli_now_ms();
  if (status == CLI_OK) {
    cli_beams_finish(&bs);
    /* the best hypothesis of each prompt row, as tokens [B, P+N] padded with
     * eos after its own (and logits [B, N, V], 0 after its eos) */
    int64_t *best = calloc((size_t)(B * stride), sizeof *best);
    int64_t *path = calloc((size_t)N, sizeof *path); /* the session row of each step */
    float *logits = steps ? calloc((size_t)(B * N * V) + 1, sizeof *logits) : NULL;
    IR_ASSERT(best && path && (!steps || logits));
    for (int64_t b = 0; b < B; b++) {
      int64_t *row = &best[b * stride];
      memcpy(row, &st->tokens[b * beams * stride], sizeof *row * (size_t)P);
      for (int64_t k = 0; k < n; k++) row[P + k] = a->eos >= 0 ? a->eos : 0;
      const cli_beam_hyp *h = cli_beams_best(&bs, b);
      if (!h) continue; /* no finite score at all: eos (or 0) throughout */
      cli_beams_trace(&bs, h, row + P, path);
      for (int64_t k = 0; logits && k < h->len; k++)
        memcpy(&logits[(b * N + k) * V], &steps[(k * rows + path[k]) * V],
               sizeof *logits * (size_t)V);
    }
    cli_gen_print_rows(best, vocab, B, stride, P, n, a->eos);
    fflush(stdout);
    cli_gen_report(start, prefilled, end, B, P, n, beams);
    if (a->output) status = cli_gen_write(a->output, best, logits, B, P, N, n, V);
    if (status == CLI_OK && !all_done) status = cli_gen_interrupted(n, N);
    free(best);
    free(path);
    free(logits);
  }
  free(scratch);
  free(steps);
  cli_beams_free(&bs);
  return status;
}
