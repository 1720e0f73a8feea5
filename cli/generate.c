/*
 * generate.c: `seqc generate`: feed a prompt to a language model, then one
 * chosen token per row per step (SPEC 9). A streaming model (carry or
 * cache) runs the prompt once and then one position per step; any other
 * model runs the whole sequence again from position 0 at every step. The
 * choice of a token is sample.c's, the token texts vocab.c's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char help[] =
    "usage: seqc generate MODEL.yaml (--weights W.safetensors | --random-weights SEED)\n"
    "                     (--prompt \"ID ID ...\" | --input IN.safetensors)\n"
    "                     [--max-new-tokens N] [--eos ID] [--temperature X] [--top-k K]\n"
    "                     [--top-p P] [--seed S] [--vocab FILE] [--output OUT.safetensors]\n"
    "                     [--dim N=V]... [--threads N] [--unroll N] [--strict]\n"
    "\n"
    "Generates tokens with a language model: an integer input [B, T] of tokens (T the\n"
    "position dim) and a first output [B, T, V] of logits. The prompt is fed, then at\n"
    "each step one token per row, chosen from the logits of the row's last position.\n"
    "A model without carry or cache runs the whole sequence again at each step.\n"
    "  --weights W          parameters by name (NODE.PARAM), as a PyTorch state_dict\n"
    "  --random-weights S   fill every parameter reproducibly from seed S instead\n"
    "  --prompt \"ID ...\"    the prompt as token ids (B = 1); with --vocab, as text\n"
    "  --input IN           the tokens [B, P] under the token input's name, and the\n"
    "                       model's other inputs\n"
    "  --max-new-tokens N   new tokens per row (default 32)\n"
    "  --eos ID             stop once every row has produced ID (a finished row keeps\n"
    "                       producing it; an ID in the prompt does not count)\n"
    "  --temperature X      0 (default): the most likely token (ties: the lowest id);\n"
    "                       X > 0: a sample from softmax(logits / X)\n"
    "  --top-k K            sample among the K most likely only (default 0: all)\n"
    "  --top-p P            then among the fewest most likely whose probabilities\n"
    "                       (renormalized) sum to at least P, in (0, 1] (default 1)\n"
    "  --seed S             the sampler's seed (default 0): the same seed, the same tokens\n"
    "  --vocab FILE         token texts, line k for id k (\\n and \\\\ escaped): the\n"
    "                       prompt is text and the new tokens print as text\n"
    "  --output OUT         write `tokens` (i64 [B, P+N], the prompt included) and\n"
    "                       `logits` (f32 [B, N, V], the raw logits of each step)\n"
    "  --dim N=V            bind dim N; for the position dim, the longest run planned for\n"
    "  --threads N          threads (default 0: all cores)\n"
    "  --unroll N           scan steps per loop iteration (default: chosen per scan)\n"
    "  --strict             warnings (unused parameters or inputs) are errors\n"
    "B = 1 prints the new tokens as they come; B > 1, one line per row at the end (up\n"
    "to its --eos). Then one line on stderr: prefill ms, ms per new token, tokens/s.\n";

typedef struct gen_args {
  cli_opts o;           /* shared options */
  const char *weights;  /* --weights, or NULL */
  int64_t weights_seed; /* --random-weights, -1 unset */
  const char *prompt;   /* --prompt, or NULL */
  const char *input;    /* --input, or NULL */
  int64_t max_new;      /* --max-new-tokens */
  int64_t eos;          /* --eos, -1 none */
  cli_sampler sampler;  /* --temperature, --top-k, --top-p */
  int64_t seed;         /* --seed */
  const char *vocab;    /* --vocab, or NULL */
  const char *output;   /* --output, or NULL */
} gen_args;

/* a finite double, false if s is none */
static bool parse_double(const char *s, double *out) {
  if (!s || !*s) return false;
  char *end;
  double v = strtod(s, &end);
  if (*end || !isfinite(v)) return false;
  *out = v;
  return true;
}

static int parse(int argc, char **argv, gen_args *a) {
  memset(a, 0, sizeof *a);
  a->weights_seed = a->eos = -1;
  a->max_new = 32;
  a->sampler = (cli_sampler){.temperature = 0, .top_k = 0, .top_p = 1.0};
  for (int i = 1; i < argc; i++) {
    cli_arg c = cli_parse_common(argc, argv, &i, &a->o, help);
    if (c == CLI_ARG_BAD) return CLI_USAGE;
    if (c == CLI_ARG_HELP) return -1;
    if (c == CLI_ARG_TAKEN) continue;
    const char *s = argv[i];
    const char **str = !strcmp(s, "--weights")                      ? &a->weights
                       : !strcmp(s, "--prompt")                     ? &a->prompt
                       : !strcmp(s, "--input")                      ? &a->input
                       : !strcmp(s, "--vocab")                      ? &a->vocab
                       : !strcmp(s, "--output") || !strcmp(s, "-o") ? &a->output
                                                                    : NULL;
    int64_t *num = !strcmp(s, "--random-weights")   ? &a->weights_seed
                   : !strcmp(s, "--max-new-tokens") ? &a->max_new
                   : !strcmp(s, "--eos")            ? &a->eos
                   : !strcmp(s, "--top-k")          ? &a->sampler.top_k
                   : !strcmp(s, "--seed")           ? &a->seed
                                                    : NULL;
    double *real = !strcmp(s, "--temperature") ? &a->sampler.temperature
                   : !strcmp(s, "--top-p")     ? &a->sampler.top_p
                                               : NULL;
    if ((str || num || real) && i + 1 >= argc)
      return cli_usage_error("generate", "%s needs a value", s);
    if (str) {
      *str = argv[++i];
    } else if (num) {
      if (!cli_parse_int(argv[++i], num))
        return cli_usage_error("generate", "%s wants a non-negative integer, got '%s'", s, argv[i]);
    } else if (real) {
      if (!parse_double(argv[++i], real))
        return cli_usage_error("generate", "%s wants a number, got '%s'", s, argv[i]);
    } else if (s[0] == '-') {
      return cli_usage_error("generate", "unknown option '%s'", s);
    } else if (!a->o.model) {
      a->o.model = s;
    } else {
      return cli_usage_error("generate", "unexpected argument '%s'", s);
    }
  }
  if (!a->o.model) return cli_usage_error("generate", "no model file given");
  if (!a->weights == (a->weights_seed < 0))
    return cli_usage_error("generate", "give exactly one of --weights and --random-weights");
  if (!a->prompt == !a->input)
    return cli_usage_error("generate", "give exactly one of --prompt and --input");
  if (a->max_new < 1) return cli_usage_error("generate", "--max-new-tokens wants at least 1");
  if (a->sampler.temperature < 0)
    return cli_usage_error("generate", "--temperature wants a number >= 0 (0: greedy), got %g",
                           a->sampler.temperature);
  if (!(a->sampler.top_p > 0 && a->sampler.top_p <= 1))
    return cli_usage_error("generate", "--top-p wants a number in (0, 1], got %g",
                           a->sampler.top_p);
  return CLI_OK;
}

/* d is the dim of symbol s alone */
static bool is_sym(ir_dim d, int s) {
  return s >= 0 && d.coef == 1 && d.sym[0] == s && d.sym[1] < 0;
}

/* the model as generate sees it, found before the passes change the graph */
typedef struct lm_shape {
  int tokens;      /* index of the token input among the model's inputs */
  int value;       /* its value id */
  ir_dtype dtype;  /* its dtype, i32 or i64 */
  ir_dim logits_v; /* V, the last dim of the first output */
} lm_shape;

/* the token input and the logits, or an error saying why the model cannot generate */
static int find_lm_shape(const ir_graph *g, const char *path, lm_shape *lm) {
  int t = g->position_sym;
  if (t < 0)
    return cli_error(
        "%s: the model has no position dim (position_dim:, default T): generate "
        "needs a token input [B, T]",
        path);
  const char *tn = g->syms[t].name;
  lm->tokens = -1;
  for (int i = 0; i < g->ninputs; i++) {
    const ir_value *v = &g->values[g->inputs[i]];
    if (v->type.dtype == IR_F32 || v->type.rank != 2 || !is_sym(v->type.dims[1], t)) continue;
    if (lm->tokens >= 0)
      return cli_error(
          "%s: inputs '%s' and '%s' are both integer [B, %s]: generate needs one "
          "token input",
          path, g->values[g->inputs[lm->tokens]].name, v->name, tn);
    lm->tokens = i;
  }
  if (lm->tokens < 0)
    return cli_error(
        "%s: the model has no token input: generate needs an integer input "
        "[B, %s] (%s the position dim)",
        path, tn, tn);
  /* the steps extend the tokens along T; another input cannot grow with them */
  for (int i = 0; i < g->ninputs; i++) {
    const ir_value *v = &g->values[g->inputs[i]];
    for (int k = 0; k < v->type.rank && i != lm->tokens; k++)
      for (int q = 0; q < IR_DIM_SYMS; q++)
        if (v->type.dims[k].sym[q] == t)
          return cli_error(
              "%s: input '%s' has the position dim %s too: generate feeds tokens "
              "along %s, and nothing else",
              path, v->name, tn, tn);
  }
  lm->value = g->inputs[lm->tokens];
  const ir_type *tok = &g->values[lm->value].type;
  lm->dtype = tok->dtype;
  char buf[128], bdim[64];
  if (g->noutputs < 1) return cli_error("%s: the model has no output", path);
  const ir_value *out = &g->values[g->outputs[0].value];
  const ir_type *o = &out->type;
  if (o->dtype != IR_F32 || o->rank != 3 || !ir_dim_eq(o->dims[0], tok->dims[0]) ||
      !is_sym(o->dims[1], t))
    return cli_error("%s: the first output '%s' is %s %s: generate needs logits f32 [%s, %s, V]",
                     path, g->outputs[0].name, ir_dtype_name(o->dtype),
                     ir_type_str(g, o, buf, sizeof buf),
                     ir_dim_str(g, tok->dims[0], bdim, sizeof bdim), tn);
  lm->logits_v = o->dims[2];
  return CLI_OK;
}

/* --prompt as ids: integers separated by blanks */
static int64_t prompt_ids(const char *s, int64_t *ids) {
  int64_t n = 0;
  while (*s) {
    while (*s == ' ' || *s == '\t' || *s == '\n') s++;
    if (!*s) break;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || v < 0 || (*end && *end != ' ' && *end != '\t' && *end != '\n')) return -1;
    ids[n++] = v;
    s = end;
  }
  return n;
}

/* --prompt with --vocab: text split into tokens; an error names the character */
static int64_t prompt_text(const cli_vocab *v, const char *vocab_path, const char *s,
                           int64_t *ids) {
  size_t bad;
  int64_t n = cli_vocab_encode(v, s, ids, &bad);
  if (n >= 0) return n;
  size_t chars = 0; /* UTF-8 characters before the bad one: the column a user counts */
  for (size_t i = 0; i < bad; i++) chars += ((unsigned char)s[i] & 0xc0) != 0x80;
  size_t len = 1;
  while (s[bad + len] && ((unsigned char)s[bad + len] & 0xc0) == 0x80) len++;
  cli_error("--prompt: no token of %s starts with '%.*s' (character %zu of the prompt)", vocab_path,
            (int)len, s + bad, chars + 1);
  return -1;
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* prints a token as it comes (B = 1): its text, or its id after a space */
static void print_token(const cli_vocab *v, int64_t id, bool first) {
  if (v && id < v->n)
    fwrite(v->text[id], 1, v->len[id], stdout);
  else
    printf("%s%lld", first ? "" : " ", (long long)id);
}

/* everything a generation holds, freed in one place */
typedef struct gen_state {
  cli_model m;            /* the model */
  cli_vocab vocab;        /* --vocab, n = 0 without */
  seqrt_st_file *in_file; /* --input (holds the inputs' memory) */
  seqrt_st_file *w_file;  /* --weights */
  seqrt_tensor *inputs;   /* the model's inputs */
  bool *given;            /* inputs read from in_file */
  cg_jit *jit;            /* the compiled model */
  seqrt_session *session; /* its session */
  seqrt_tensor *outputs;  /* a run's outputs (views into the session) */
  int64_t *tokens;        /* i64 [B, P+N]: prompt and new tokens, row stride P+N */
  void *feed;             /* a run's tokens [B, L] in the model's dtype */
  float *logits;          /* f32 [B, N, V] for --output, or NULL */
  bool *finished;         /* rows that produced --eos */
  cli_choice *work;       /* the sampler's scratch, V entries */
} gen_state;

static void gen_free(gen_state *st) {
  seqrt_session_free(st->session);
  cg_jit_free(st->jit);
  seqrt_st_close(st->w_file);
  seqrt_st_close(st->in_file);
  cli_vocab_free(&st->vocab);
  cli_model_free(&st->m);
  free(st->inputs);
  free(st->given);
  free(st->outputs);
  free(st->tokens);
  free(st->feed);
  free(st->logits);
  free(st->finished);
  free(st->work);
}

/* warnings of the input file's loader go through the CLI's one format */
static void warn_input(void *user, const char *msg) {
  cli_warning("%s: %s", (const char *)user, msg);
}

/* the prompt: tokens [B, P] into st->tokens (row stride P+N) and the other inputs */
static int read_prompt(gen_state *st, const gen_args *a, const lm_shape *lm, int64_t *B,
                       int64_t *P) {
  const ir_graph *g = st->m.graph;
  int nin = g->ninputs;
  int64_t *ids = NULL;
  seqrt_tensor tok = {0};
  if (a->input) {
    const char **names = calloc((size_t)nin + 1, sizeof *names);
    IR_ASSERT(names);
    for (int i = 0; i < nin; i++) names[i] = g->values[g->inputs[i]].name;
    seqrt_error err;
    st->in_file = seqrt_st_open(a->input, &err);
    if (!st->in_file) {
      free(names);
      return cli_error("%s", err.msg);
    }
    int status = seqrt_read_inputs(st->in_file, names, nin, a->o.strict, warn_input,
                                   (void *)a->input, NULL, st->inputs, st->given, &err);
    free(names);
    if (status) return cli_error("%s: %s", a->input, err.msg);
    tok = st->inputs[lm->tokens];
    if (tok.dtype == SEQRT_F32 || tok.rank != 2 || tok.shape[0] < 1 || tok.shape[1] < 1) {
      char shape[128];
      return cli_error(
          "%s: input '%s' is %s %s: the tokens must be integer [B, P], B and P at "
          "least 1",
          a->input, g->values[lm->value].name, seqrt_dtype_name(tok.dtype),
          seqrt_shape_str(tok.shape, tok.rank, shape, sizeof shape));
    }
  } else {
    for (int i = 0; i < nin; i++)
      if (i != lm->tokens)
        return cli_error(
            "input '%s' is not given: --prompt gives the tokens only; give every "
            "input with --input IN.safetensors",
            g->values[g->inputs[i]].name);
    ids = calloc(strlen(a->prompt) + 1, sizeof *ids);
    IR_ASSERT(ids);
    int64_t n = st->vocab.text ? prompt_text(&st->vocab, a->vocab, a->prompt, ids)
                               : prompt_ids(a->prompt, ids);
    if (n < 0 && !st->vocab.text) {
      free(ids);
      return cli_usage_error("generate",
                             "--prompt wants token ids separated by spaces (or "
                             "text with --vocab), got '%s'",
                             a->prompt);
    }
    if (n == 0) {
      free(ids);
      return cli_usage_error("generate", "--prompt is empty");
    }
    if (n < 0) {
      free(ids);
      return CLI_ERROR;
    }
    tok = (seqrt_tensor){.dtype = SEQRT_I64, .rank = 2, .shape = {1, n}, .data = ids};
  }
  *B = tok.shape[0];
  *P = tok.shape[1];
  int64_t stride = *P + a->max_new;
  st->tokens = calloc((size_t)(*B * stride), sizeof *st->tokens);
  IR_ASSERT(st->tokens);
  for (int64_t b = 0; b < *B; b++)
    for (int64_t t = 0; t < *P; t++) {
      int64_t k = b * *P + t;
      int64_t id =
          tok.dtype == SEQRT_I32 ? ((const int32_t *)tok.data)[k] : ((const int64_t *)tok.data)[k];
      if (id < 0) {
        free(ids);
        return cli_error("%s: token %lld at [%lld, %lld] is negative", a->input, (long long)id,
                         (long long)b, (long long)t);
      }
      st->tokens[b * stride + t] = id;
    }
  free(ids);
  /* the token input, as each run binds it: the feed buffer, [B, P] for now */
  st->feed = calloc((size_t)(*B * stride), ir_dtype_size(lm->dtype));
  IR_ASSERT(st->feed);
  st->inputs[lm->tokens] = (seqrt_tensor){
      .dtype = (seqrt_dtype)lm->dtype, .rank = 2, .shape = {*B, *P}, .data = st->feed};
  st->given[lm->tokens] = true;
  return CLI_OK;
}

/* the run's tokens: positions [from, from + L) of each row into the feed, [B, L] */
static void fill_feed(gen_state *st, const lm_shape *lm, int64_t B, int64_t stride, int64_t from,
                      int64_t L) {
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < L; t++) {
      int64_t id = st->tokens[b * stride + from + t];
      if (lm->dtype == IR_I32)
        ((int32_t *)st->feed)[b * L + t] = (int32_t)id;
      else
        ((int64_t *)st->feed)[b * L + t] = id;
    }
  st->inputs[lm->tokens].shape[1] = L;
}

/* --output: tokens [B, P+n] and logits [B, n, V] of the n steps made */
static int write_output(gen_state *st, const char *path, int64_t B, int64_t P, int64_t N, int64_t n,
                        int64_t V) {
  /* rows were laid out for N new tokens: close the gaps of a stop at n < N */
  for (int64_t b = 0; b < B; b++) {
    memmove(&st->tokens[b * (P + n)], &st->tokens[b * (P + N)],
            sizeof *st->tokens * (size_t)(P + n));
    memmove(&st->logits[b * n * V], &st->logits[b * N * V], sizeof *st->logits * (size_t)(n * V));
  }
  seqrt_tensor t[2] = {{.dtype = SEQRT_I64, .rank = 2, .shape = {B, P + n}, .data = st->tokens},
                       {.dtype = SEQRT_F32, .rank = 3, .shape = {B, n, V}, .data = st->logits}};
  const char *names[2] = {"tokens", "logits"};
  seqrt_error err;
  if (seqrt_st_write(path, names, t, 2, &err)) return cli_error("%s", err.msg);
  return CLI_OK;
}

/* B > 1: each row's new tokens on a line, up to its first --eos */
static void print_rows(const gen_state *st, const cli_vocab *v, int64_t B, int64_t stride,
                       int64_t P, int64_t n, int64_t eos) {
  for (int64_t b = 0; b < B; b++) {
    for (int64_t k = 0; k < n; k++) {
      int64_t id = st->tokens[b * stride + P + k];
      print_token(v, id, k == 0);
      if (id == eos) break;
    }
    putchar('\n');
  }
}

/*
 * The generation loop. Step k (from 0) runs the model, chooses token P+k of
 * each row from the logits at the run's last position, and feeds it at step
 * k+1: a streaming model gets that one position, another model the whole
 * sequence [B, P+k+1] from position 0 (planned for P+N-1 at most). The
 * tokens of the last step are not fed.
 */
static int generate(gen_state *st, const gen_args *a, const lm_shape *lm, bool streaming, int64_t B,
                    int64_t P, int64_t V) {
  const seqrt_model_desc *desc = cg_jit_desc(st->jit);
  int64_t N = a->max_new, stride = P + N;
  const cli_vocab *vocab = st->vocab.text ? &st->vocab : NULL;
  st->outputs = calloc((size_t)desc->noutputs + 1, sizeof *st->outputs);
  st->finished = calloc((size_t)B, sizeof *st->finished);
  st->work = calloc((size_t)V, sizeof *st->work);
  if (a->output) st->logits = calloc((size_t)(B * N * V), sizeof *st->logits);
  IR_ASSERT(st->outputs && st->finished && st->work && (!a->output || st->logits));
  cli_rng rng;
  cli_rng_seed(&rng, (uint64_t)a->seed);
  double start = now_ms(), prefilled = start;
  int64_t n = 0; /* steps made */
  bool all_done = false;
  while (n < N && !all_done) {
    int64_t from = 0, L = P + n; /* the run's positions of each row */
    if (streaming && n > 0) from = P + n - 1, L = 1;
    fill_feed(st, lm, B, stride, from, L);
    seqrt_error err;
    if (seqrt_session_run(st->session, st->inputs, st->outputs, &err))
      return cli_error("step %lld: %s", (long long)n + 1, err.msg);
    const seqrt_tensor *out = &st->outputs[0];
    IR_ASSERT(out->rank == 3 && out->shape[0] == B && out->shape[1] == L && out->shape[2] == V);
    if (streaming && n == 0) /* later runs leave the static inputs out: the session keeps them */
      for (int i = 0; i < desc->ninputs; i++)
        if (i != lm->tokens && desc->input_static && desc->input_static[i])
          st->inputs[i] = (seqrt_tensor){0};
    all_done = a->eos >= 0;
    for (int64_t b = 0; b < B; b++) {
      const float *row = (const float *)out->data + (b * L + L - 1) * V;
      double u = a->sampler.temperature > 0 ? cli_rng_uniform(&rng) : 0; /* a draw every row */
      int64_t id = st->finished[b] ? a->eos : cli_choose(row, V, &a->sampler, u, st->work);
      st->tokens[b * stride + P + n] = id;
      if (st->logits) memcpy(&st->logits[(b * N + n) * V], row, sizeof *row * (size_t)V);
      if (id == a->eos) st->finished[b] = true;
      all_done &= st->finished[b];
    }
    if (B == 1) {
      print_token(vocab, st->tokens[P + n], n == 0);
      fflush(stdout);
    }
    if (++n == 1) prefilled = now_ms();
  }
  double end = now_ms();
  if (B == 1)
    putchar('\n');
  else
    print_rows(st, vocab, B, stride, P, n, a->eos);
  fflush(stdout);
  double per_token = n > 1 ? (end - prefilled) / (double)(n - 1) : prefilled - start;
  fprintf(stderr,
          "seqc: prefill %.2f ms (%lld x %lld tokens), %.3f ms per new token, %.1f tokens/s\n",
          prefilled - start, (long long)B, (long long)P, per_token,
          (double)(B * n) / ((end - start) / 1e3));
  return a->output ? write_output(st, a->output, B, P, N, n, V) : CLI_OK;
}

int cmd_generate(int argc, char **argv) {
  gen_args a;
  int status = parse(argc, argv, &a);
  if (status) return status < 0 ? CLI_OK : status;

  gen_state st;
  memset(&st, 0, sizeof st);
  char msg[512];
  if (a.vocab && !cli_vocab_load(&st.vocab, a.vocab, msg, sizeof msg)) return cli_error("%s", msg);
  if (!cli_model_load(&st.m, a.o.model, a.o.strict)) {
    gen_free(&st);
    return CLI_ERROR;
  }
  ir_graph *g = st.m.graph;
  lm_shape lm = {0};
  /* a streaming model (SPEC 9: carry or cache) continues its session: the
   * prompt once, then one position a step */
  bool streaming = g->streams;
  int64_t B = 0, P = 0;
  st.inputs = calloc((size_t)g->ninputs + 1, sizeof *st.inputs);
  st.given = calloc((size_t)g->ninputs + 1, sizeof *st.given);
  IR_ASSERT(st.inputs && st.given);
  status = find_lm_shape(g, a.o.model, &lm);
  if (!status) status = read_prompt(&st, &a, &lm, &B, &P);
  if (status) goto done;

  /* dims: the position dim's --dim is the longest run to plan for (SPEC 9),
   * checked here; the others bind as in `seqc run`, T from the prompt */
  int t = g->position_sym;
  int64_t longest = streaming ? P : P + a.max_new - 1, planned = longest;
  cli_opts others = a.o;
  others.ndims = 0;
  for (int d = 0; d < a.o.ndims; d++) {
    if (strcmp(a.o.dim_names[d], g->syms[t].name)) {
      others.dim_names[others.ndims] = a.o.dim_names[d];
      others.dim_values[others.ndims++] = a.o.dim_values[d];
    } else if ((planned = a.o.dim_values[d]) < longest) {
      status = cli_error(
          "--dim %s=%lld: the prompt (%lld) and the new tokens need runs of %s = "
          "%lld",
          g->syms[t].name, (long long)planned, (long long)P, g->syms[t].name, (long long)longest);
      goto done;
    }
  }
  int64_t syms[IR_MAX_SYMS], bound[IR_MAX_SYMS];
  status = cli_bind_dims(g, &others, st.inputs, st.given, syms);
  if (status) goto done;
  int64_t V = ir_dim_eval(lm.logits_v, syms);
  if (a.eos >= V) {
    status = cli_error("--eos %lld is no token id: the logits have V = %lld ids (0 to %lld)",
                       (long long)a.eos, (long long)V, (long long)V - 1);
    goto done;
  }
  if (st.vocab.text && st.vocab.n < V) {
    status = cli_error("%s: %lld tokens, but the model's logits have V = %lld", a.vocab,
                       (long long)st.vocab.n, (long long)V);
    goto done;
  }
  if (!streaming)
    cli_warning(
        "%s: no node has carry or cache, so every new token runs the whole sequence "
        "again from position 0",
        a.o.model);

  /* the position dim is left symbolic (each run binds its own length), the
   * others are folded in; the session is planned for the longest run */
  memcpy(bound, syms, sizeof syms);
  bound[t] = -1;
  for (int s = g->nsyms; s < ir_syms_count(g); s++) bound[s] = -1;
  ir_syms_complete(g, bound);
  syms[t] = planned;
  st.jit = cli_compile_unroll(g, bound, &st.m.diags, a.o.unroll);
  if (!st.jit) {
    status = CLI_ERROR;
    goto done;
  }
  seqrt_driver drv = {.tool = "seqc",
                      .weights = a.weights,
                      .weights_seed = a.weights_seed,
                      .strict = a.o.strict,
                      .threads = a.o.threads};
  st.session = seqrt_driver_session(&drv, cg_jit_desc(st.jit), syms, &st.w_file);
  if (!st.session) {
    status = CLI_ERROR; /* reported */
    goto done;
  }
  status = generate(&st, &a, &lm, streaming, B, P, V);
done:
  gen_free(&st);
  return status;
}
