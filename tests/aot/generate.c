/*
 * generate.c: greedy generation with a model compiled ahead of time, the way
 * a program that embeds seqc does it (SPEC 9): one session, the prompt run
 * once, then one token a run, each the argmax of the last row's logits, with
 * seqrt_session_position counting the positions; then seqrt_session_reset
 * and the same again, which must give the same tokens.
 *
 *   gen WEIGHTS.safetensors N ID...   prints the N new token ids
 *   gen --rss WEIGHTS.safetensors ID...
 *       generates 10 tokens, then after a reset 1000: the peak resident size
 *       of the process must be where 10 steps left it, within 256 KiB (a
 *       run allocates nothing; the caches were placed when the session
 *       began); prints both in KiB
 *
 * The model's first input is the tokens i32 or i64 [1, T], its first output
 * the logits [1, T, V]; built with -DSEQC_MODEL=seqc_model_NAME (tests/aot/
 * generate.sh links it with the object and libseqrt).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "seqrt.h"

#ifndef SEQC_MODEL
#error "build with -DSEQC_MODEL=seqc_model_NAME"
#endif
extern const seqrt_model_desc SEQC_MODEL;

#define MAX_TOKENS 4096

static int die(const char *what, const char *msg) {
  fprintf(stderr, "gen: %s: %s\n", what, msg);
  return 1;
}

/* runs the tokens ids[0..n) as one run; the argmax of its last position's logits */
static int step(seqrt_session *s, const seqrt_model_desc *d, const int64_t *ids, int64_t n,
                int64_t *next, seqrt_error *err) {
  int32_t ids32[MAX_TOKENS];
  for (int64_t i = 0; i < n; i++) ids32[i] = (int32_t)ids[i];
  seqrt_tensor in = {.dtype = (seqrt_dtype)d->bufs[d->inputs[0]].dtype, .rank = 2, .shape = {1, n}};
  in.data = in.dtype == SEQRT_I64 ? (void *)ids : (void *)ids32;
  seqrt_tensor out[8];
  if (d->noutputs > 8 || seqrt_session_run(s, &in, out, err)) return 1;
  int64_t V = out[0].shape[2];
  const float *row = (const float *)out[0].data + (n - 1) * V;
  int64_t best = 0;
  for (int64_t v = 1; v < V; v++)
    if (row[v] > row[best]) best = v;
  *next = best;
  return 0;
}

/* the prompt, then n - 1 runs of one token: the n new tokens into out */
static int generate(seqrt_session *s, const int64_t *prompt, int64_t P, int64_t n, int64_t *out,
                    seqrt_error *err) {
  const seqrt_model_desc *d = &SEQC_MODEL;
  if (step(s, d, prompt, P, &out[0], err)) return 1;
  for (int64_t k = 1; k < n; k++) {
    if (seqrt_session_position(s) != P + k - 1) {
      snprintf(err->msg, sizeof err->msg, "position %lld after %lld tokens",
               (long long)seqrt_session_position(s), (long long)(P + k - 1));
      return 1;
    }
    if (step(s, d, &out[k - 1], 1, &out[k], err)) return 1;
  }
  return 0;
}

/* the process's peak resident size in KiB */
static long peak_kib(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

int main(int argc, char **argv) {
  bool rss = argc > 1 && !strcmp(argv[1], "--rss");
  if (argc < 4) return die("usage", "gen WEIGHTS.safetensors N ID... | gen --rss WEIGHTS ID...");
  const char *weights = argv[rss ? 2 : 1]; /* the prompt's ids start at argv[3] either way */
  int64_t n = rss ? 1000 : atoll(argv[2]), P = argc - 3;
  if (n < 1 || n > MAX_TOKENS || P > MAX_TOKENS) return die("usage", "bad N or prompt");
  static int64_t prompt[MAX_TOKENS], a[MAX_TOKENS], b[MAX_TOKENS];
  for (int64_t i = 0; i < P; i++) prompt[i] = atoll(argv[3 + i]);

  const seqrt_model_desc *d = &SEQC_MODEL;
  if (!d->streaming) return die(d->name, "the model does not stream (no carry or cache)");
  seqrt_error err;
  int64_t syms[64];
  for (int i = 0; i < d->nsyms && i < 64; i++) syms[i] = -1;
  if (d->position_sym >= 0) syms[d->position_sym] = P; /* the longest run: the prompt */
  seqrt_session *s = seqrt_session_new(d, syms, 2, &err);
  if (!s) return die("session", err.msg);
  seqrt_st_file *w = seqrt_st_open(weights, &err);
  if (!w || seqrt_session_load_weights(s, w, true, NULL, NULL, &err)) return die(weights, err.msg);
  int rc = 0;
  if (rss) { /* 10 steps, then 1000 from the start */
    long after10 = 0;
    rc = generate(s, prompt, P, 10, a, &err);
    if (!rc) {
      after10 = peak_kib();
      seqrt_session_reset(s);
      rc = generate(s, prompt, P, n, a, &err);
    }
    if (rc) return die("generate", err.msg);
    long after1000 = peak_kib();
    printf("%ld %ld\n", after10, after1000);
    seqrt_st_close(w);
    seqrt_session_free(s);
    /* a slack of 256 KiB: the process's own pages (thread stacks, stdio) may
     * move by a few under load; what a run would allocate per token (a row of
     * the caches, 2 KiB a layer) grows it by megabytes in 990 steps */
    return after1000 > after10 + 256 ? die("rss", "1000 steps grew the peak resident size") : 0;
  }
  rc = generate(s, prompt, P, n, a, &err);
  if (!rc) { /* start over: the same tokens */
    seqrt_session_reset(s);
    rc = seqrt_session_position(s) != 0 || generate(s, prompt, P, n, b, &err);
    if (!rc && memcmp(a, b, sizeof *a * (size_t)n)) rc = die("reset", "other tokens the second time");
  }
  if (rc) return die("generate", err.msg);
  for (int64_t k = 0; k < n; k++) printf("%s%lld", k ? " " : "", (long long)a[k]);
  putchar('\n');
  seqrt_st_close(w);
  seqrt_session_free(s);
  return 0;
}
