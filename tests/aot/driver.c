/*
 * driver.c: a C program that embeds one model compiled by `seqc compile`, as
 * a user's program would: built by tests/aot/aot.sh with
 *   cc -DSEQC_MODEL=seqc_model_NAME driver.c NAME.o -lseqrt ...
 *
 *   driver gen --seed S [--dim N=V]... --weights-out W --input-out IN
 *       random parameters and inputs for the model's dims, from the descriptor
 *       alone (index inputs stay below the smallest row count of a 2-D parameter,
 *       so they are in range of every embedding table; a 1-D integer input is
 *       a batch's lengths (SPEC 11), in [1, the shortest axis 1 of the inputs])
 *   driver run [--weights W] --input IN --output OUT [--dim N=V]... [--threads N]
 *       loads the inputs, binds the dims, runs once and writes the outputs
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seqrt.h"

#ifndef SEQC_MODEL
#error "build with -DSEQC_MODEL=seqc_model_NAME"
#endif
extern const seqrt_model_desc SEQC_MODEL;

typedef struct opts {
  const char *weights, *input, *output; /* run: files */
  const char *weights_out, *input_out;  /* gen: files */
  long long seed;                       /* gen: seed */
  int threads;                          /* run: threads */
  int64_t syms[64];                     /* --dim values, -1 = not given */
} opts;

static int die(const char *what, const char *msg) {
  fprintf(stderr, "driver: %s: %s\n", what, msg);
  return 1;
}

static uint64_t next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* shape of buffer b under syms */
static void shape_of(const seqrt_buffer_desc *b, const int64_t *syms, seqrt_tensor *t) {
  t->dtype = (seqrt_dtype)b->dtype;
  t->rank = b->rank;
  for (int k = 0; k < b->rank; k++) {
    int64_t v = b->shape[k].coef;
    for (int j = 0; j < 2; j++)
      if (b->shape[k].sym[j] >= 0) v *= syms[b->shape[k].sym[j]];
    t->shape[k] = v;
  }
}

/* integers in [first, first + limit) */
static void fill(seqrt_tensor *t, uint64_t *state, double scale, int64_t limit, int64_t first) {
  int64_t n = seqrt_tensor_numel(t);
  t->data = malloc((size_t)(n > 0 ? n : 1) * seqrt_dtype_size(t->dtype));
  for (int64_t i = 0; i < n; i++) {
    uint64_t r = next(state);
    if (t->dtype == SEQRT_F32)
      ((float *)t->data)[i] = (float)(((double)(r >> 11) / 9007199254740992.0 * 2 - 1) * scale);
    else if (t->dtype == SEQRT_I32)
      ((int32_t *)t->data)[i] = (int32_t)(first + (int64_t)(r % (uint64_t)limit));
    else
      ((int64_t *)t->data)[i] = first + (int64_t)(r % (uint64_t)limit);
  }
}

static int gen(const seqrt_model_desc *d, opts *o) {
  seqrt_error err;
  int64_t *syms = o->syms;
  for (int s = 0; s < d->nsyms; s++)
    if (syms[s] < 0) syms[s] = d->sym_bound[s] >= 0 ? d->sym_bound[s] : d->sym_defaults[s];
  uint64_t state = (uint64_t)o->seed;
  /* parameters: each distinct name once, uniform in +-1/sqrt(last dim) */
  int np = 0;
  int64_t limit = -1;
  seqrt_tensor *pt = calloc((size_t)d->nbufs + 1, sizeof *pt);
  const char **pn = calloc((size_t)d->nbufs + 1, sizeof *pn);
  for (int b = 0; b < d->nbufs; b++) {
    if (d->bufs[b].role != SEQRT_ROLE_PARAM) continue;
    int seen = 0;
    for (int i = 0; i < np; i++) seen |= !strcmp(pn[i], d->bufs[b].name);
    if (seen) continue;
    pn[np] = d->bufs[b].name;
    shape_of(&d->bufs[b], syms, &pt[np]);
    int64_t last = pt[np].rank ? pt[np].shape[pt[np].rank - 1] : 1;
    if (pt[np].rank == 2 && (limit < 0 || pt[np].shape[0] < limit)) limit = pt[np].shape[0];
    fill(&pt[np], &state, 1.0 / sqrt((double)(last > 0 ? last : 1)), 1, 0);
    np++;
  }
  if (limit <= 0) limit = 1;
  seqrt_tensor *it = calloc((size_t)d->ninputs + 1, sizeof *it);
  const char **in = calloc((size_t)d->ninputs + 1, sizeof *in);
  int64_t steps = -1; /* the shortest axis 1 of the inputs: the lengths' bound */
  for (int i = 0; i < d->ninputs; i++) {
    in[i] = seqrt_input_name(d, i);
    shape_of(&d->bufs[d->inputs[i]], syms, &it[i]);
    if (it[i].rank >= 2 && (steps < 0 || it[i].shape[1] < steps)) steps = it[i].shape[1];
  }
  for (int i = 0; i < d->ninputs; i++) {
    bool lengths = it[i].rank == 1 && it[i].dtype != SEQRT_F32 && steps > 0;
    fill(&it[i], &state, 1.0, lengths ? steps : limit, lengths ? 1 : 0);
  }
  int rc = 0;
  if (seqrt_st_write(o->weights_out, pn, pt, np, &err) ||
      seqrt_st_write(o->input_out, in, it, d->ninputs, &err))
    rc = die("gen", err.msg);
  for (int i = 0; i < np; i++) free(pt[i].data);
  for (int i = 0; i < d->ninputs; i++) free(it[i].data);
  free(pt);
  free(pn);
  free(it);
  free(in);
  return rc;
}

static int run(const seqrt_model_desc *d, opts *o) {
  seqrt_error err;
  int rc = 1;
  int n = d->ninputs;
  seqrt_tensor *in = calloc((size_t)n + 1, sizeof *in);
  seqrt_tensor *out = calloc((size_t)d->noutputs + 1, sizeof *out);
  bool *given = calloc((size_t)n + 1, sizeof *given);
  const char **names = calloc((size_t)n + 1, sizeof *names);
  seqrt_st_file *fi = NULL, *fw = NULL;
  seqrt_session *s = NULL;
  for (int i = 0; i < n; i++) names[i] = seqrt_input_name(d, i);
  if (!(fi = seqrt_st_open(o->input, &err)) ||
      seqrt_read_inputs(fi, names, n, false, NULL, NULL, NULL, in, given, &err) ||
      seqrt_bind_dims(d, in, given, o->syms, &err) ||
      !(s = seqrt_session_new(d, o->syms, o->threads, &err))) {
    die("run", err.msg);
    goto done;
  }
  if (o->weights && (!(fw = seqrt_st_open(o->weights, &err)) ||
                     seqrt_session_load_weights(s, fw, true, NULL, NULL, &err))) {
    die("weights", err.msg);
    goto done;
  }
  if (seqrt_session_run(s, in, out, &err) ||
      seqrt_st_write(o->output, d->output_names, out, d->noutputs, &err)) {
    die("run", err.msg);
    goto done;
  }
  rc = 0;
done:
  seqrt_session_free(s);
  seqrt_st_close(fw);
  seqrt_st_close(fi);
  free(in);
  free(out);
  free(given);
  free(names);
  return rc;
}

int main(int argc, char **argv) {
  const seqrt_model_desc *d = &SEQC_MODEL;
  opts o = {.seed = 1, .threads = 1};
  for (int i = 0; i < 64; i++) o.syms[i] = -1;
  if (argc < 2 || d->nsyms > 64) return die("usage", "driver gen|run ...");
  for (int i = 2; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--weights"))
      o.weights = v;
    else if (!strcmp(k, "--input"))
      o.input = v;
    else if (!strcmp(k, "--output"))
      o.output = v;
    else if (!strcmp(k, "--weights-out"))
      o.weights_out = v;
    else if (!strcmp(k, "--input-out"))
      o.input_out = v;
    else if (!strcmp(k, "--seed"))
      o.seed = atoll(v);
    else if (!strcmp(k, "--threads"))
      o.threads = atoi(v);
    else if (!strcmp(k, "--dim")) {
      char name[64];
      long long val;
      if (sscanf(v, "%63[^=]=%lld", name, &val) != 2) return die("--dim", v);
      int s = seqrt_find_sym(d, name);
      if (s < 0) return die("--dim: no such dim", name);
      o.syms[s] = val;
    } else {
      return die("unknown option", k);
    }
  }
  if (!strcmp(argv[1], "gen") && o.weights_out && o.input_out) return gen(d, &o);
  if (!strcmp(argv[1], "run") && o.input && o.output) return run(d, &o);
  return die("usage", "driver gen|run ...");
}
