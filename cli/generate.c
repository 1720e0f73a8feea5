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
#include <unistd.h>

#include "cli.h"

static const char help[] =
    "usage: seqc generate MODEL.yaml (--weights W.safetensors | --random-weights SEED)\n"
    "                     (--prompt \"ID ID ...\" | --input IN.safetensors)\n"
    "                     [--max-new-tokens N] [--eos ID] [--temperature X] [--top-k K]\n"
    "                     [--top-p P] [--seed S] [--beams N] [--vocab FILE]\n"
    "                     [--output OUT.safetensors]\n"
    "                     [--dim N=V]... [--threads N] [--unroll N] [--strict]\n"
    "                     [--no-cache]\n"
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
    "  --beams N            beam search with N beams a row (default 1: none), as HF's\n"
    "                       generate(num_beams=N, length_penalty=1.0,\n"
    "                       early_stopping=False): a finished hypothesis scores its\n"
    "                       log-probability over its new tokens (eos included); the\n"
    "                       best is printed at the end; not with --temperature\n"
    "  --vocab FILE         token texts, line k for id k (\\n and \\\\ escaped): the\n"
    "                       prompt is text and the new tokens print as text\n"
    "  --output OUT         write `tokens` (i64 [B, P+N], the prompt included) and\n"
    "                       `logits` (f32 [B, N, V], the raw logits of each step;\n"
    "                       with --beams, the best hypothesis's, 0 after its eos);\n"
    "                       safetensors, or .npz or .json by OUT's extension\n"
    "  --dim N=V            bind dim N; for the position dim, the longest run planned for\n"
    "  --threads N          threads (default 0: all cores)\n"
    "  --max-memory SIZE    refuse a run that needs more memory (512M, 2G; default: the\n"
    "                       machine's available memory)\n"
    "  --unroll N           scan steps per loop iteration (default: chosen per scan)\n"
    "  --strict             warnings (unused parameters or inputs) are errors\n"
    "  --no-cache           compile without the compile cache (neither read nor written)\n"
    "B = 1 prints the new tokens as they come; B > 1 (or --beams), one line per row\n"
    "at the end (up to its --eos). Then one line on stderr: prefill ms, ms per new\n"
    "token, tokens/s. Ctrl-C stops after the current token, prints (and writes) the\n"
    "tokens so far, and exits with status 130.\n";

/* a finite double, false if s is none */
static bool parse_double(const char *s, double *out) {
  if (!s || !*s) return false;
  char *end;
  double v = strtod(s, &end);
  if (*end || !isfinite(v)) return false;
  *out = v;
  return true;
}

static int parse(int argc, char **argv, cli_gen_args *a) {
  memset(a, 0, sizeof *a);
  a->weights_seed = a->eos = -1;
  a->max_new = 32;
  a->beams = 1;
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
                   : !strcmp(s, "--beams")          ? &a->beams
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
  if (a->beams < 1) return cli_usage_error("generate", "--beams wants at least 1");
  if (a->beams > 1 && a->sampler.temperature > 0)
    return cli_usage_error("generate",
                           "--beams %lld with --temperature %g: beam sampling is not supported "
                           "(beam search is greedy: leave out --temperature, or --beams)",
                           (long long)a->beams, a->sampler.temperature);
  if (!(a->sampler.top_p > 0 && a->sampler.top_p <= 1))
    return cli_usage_error("generate", "--top-p wants a number in (0, 1], got %g",
                           a->sampler.top_p);
  return CLI_OK;
}

/* prints a token: its text, or its id after a space */
void cli_print_token(const cli_vocab *v, int64_t id, bool first) {
  if (v && id < v->n)
    fwrite(v->text[id], 1, v->len[id], stdout);
  else
    printf("%s%lld", first ? "" : " ", (long long)id);
}

static void gen_free(cli_gen *st) {
  seqrt_session_free(st->session);
  cg_jit_free(st->jit);
  seqrt_st_close(st->w_file);
  seqrt_st_close(st->in_file);
  cli_vocab_free(&st->vocab);
  for (int i = 0; st->repeated && st->m.graph && i < st->m.graph->ninputs; i++)
    free(st->repeated[i]);
  cli_model_free(&st->m);
  free(st->inputs);
  free(st->given);
  free(st->repeated);
  free(st->outputs);
  free(st->tokens);
  free(st->feed);
  free(st->logits);
  free(st->finished);
  free(st->work);
}

void cli_gen_feed(cli_gen *st, const cli_lm_shape *lm, int64_t B, int64_t stride, int64_t from,
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

int cli_gen_write(const char *path, int64_t *tokens, float *logits, int64_t B, int64_t P, int64_t N,
                  int64_t n, int64_t V) {
  /* rows were laid out for N new tokens: close the gaps of a stop at n < N */
  for (int64_t b = 0; b < B; b++) {
    memmove(&tokens[b * (P + n)], &tokens[b * (P + N)], sizeof *tokens * (size_t)(P + n));
    memmove(&logits[b * n * V], &logits[b * N * V], sizeof *logits * (size_t)(n * V));
  }
  seqrt_tensor t[2] = {{.dtype = SEQRT_I64, .rank = 2, .shape = {B, P + n}, .data = tokens},
                       {.dtype = SEQRT_F32, .rank = 3, .shape = {B, n, V}, .data = logits}};
  const char *names[2] = {"tokens", "logits"};
  seqrt_error err;
  if (seqrt_tensors_write(path, names, t, 2, &err)) return cli_error("%s", err.msg);
  return CLI_OK;
}

void cli_gen_print_rows(const int64_t *tokens, const cli_vocab *v, int64_t B, int64_t stride,
                        int64_t P, int64_t n, int64_t eos) {
  for (int64_t b = 0; b < B; b++) {
    for (int64_t k = 0; k < n; k++) {
      int64_t id = tokens[b * stride + P + k];
      cli_print_token(v, id, k == 0);
      if (id == eos) break;
    }
    putchar('\n');
  }
}

int cli_gen_interrupted(int64_t n, int64_t N) {
  if (!cli_interrupted() || n == N) return CLI_OK;
  cli_error("interrupted (Ctrl-C) after %lld of %lld new tokens", (long long)n, (long long)N);
  return CLI_INTERRUPTED;
}

void cli_gen_report(double start, double prefilled, double end, int64_t B, int64_t P, int64_t n,
                    int64_t beams) {
  double per_token = n > 1 ? (end - prefilled) / (double)(n - 1) : prefilled - start;
  char each[48] = "";
  if (beams > 1) snprintf(each, sizeof each, ", %lld beams each", (long long)beams);
  fprintf(stderr,
          "seqc: prefill %.2f ms (%lld x %lld tokens%s), %.3f ms per new token, %.1f tokens/s\n",
          prefilled - start, (long long)B, (long long)P, each, per_token,
          (double)(B * n) / ((end - start) / 1e3));
}

/*
 * The generation loop. Step k (from 0) runs the model, chooses token P+k of
 * each row from the logits at the run's last position, and feeds it at step
 * k+1: a streaming model gets that one position, another model the whole
 * sequence [B, P+k+1] from position 0 (planned for P+N-1 at most). The
 * tokens of the last step are not fed.
 */
static int generate(cli_gen *st, const cli_gen_args *a, const cli_lm_shape *lm, bool streaming,
                    int64_t B, int64_t P, int64_t V) {
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
  double start = cli_now_ms(), prefilled = start;
  int64_t n = 0; /* steps made */
  bool all_done = false;
  /* the status line only when the tokens do not print on the same terminal */
  cli_progress bar;
  cli_progress_begin(&bar, "generate");
  bar.on &= B > 1 || !isatty(STDOUT_FILENO);
  while (n < N && !all_done && !cli_interrupted()) {
    cli_progress_step(&bar, "token %lld of %lld", (long long)n + 1, (long long)N);
    int64_t from = 0, L = P + n; /* the run's positions of each row */
    if (streaming && n > 0) from = P + n - 1, L = 1;
    cli_gen_feed(st, lm, B, stride, from, L);
    seqrt_error err;
    if (seqrt_session_run(st->session, st->inputs, st->outputs, &err)) {
      cli_progress_end(&bar);
      return cli_error("step %lld: %s", (long long)n + 1, err.msg);
    }
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
      cli_print_token(vocab, st->tokens[P + n], n == 0);
      fflush(stdout);
    }
    if (++n == 1) prefilled = cli_now_ms();
  }
  cli_progress_end(&bar);
  double end = cli_now_ms();
  if (B == 1)
    putchar('\n');
  else
    cli_gen_print_rows(st->tokens, vocab, B, stride, P, n, a->eos);
  fflush(stdout);
  cli_gen_report(start, prefilled, end, B, P, n, 1);
  int status = a->output ? cli_gen_write(a->output, st->tokens, st->logits, B, P, N, n, V) : CLI_OK;
  return status || all_done ? status : cli_gen_interrupted(n, N);
}

int cmd_generate(int argc, char **argv) {
  cli_gen_args a;
  int status = parse(argc, argv, &a);
  if (status) return status < 0 ? CLI_OK : status;

  cli_gen st;
  memset(&st, 0, sizeof st);
  char msg[512];
  if (a.vocab && !cli_vocab_load(&st.vocab, a.vocab, msg, sizeof msg)) return cli_error("%s", msg);
  if (!cli_model_load(&st.m, a.o.model, a.o.strict)) {
    gen_free(&st);
    return CLI_ERROR;
  }
  ir_graph *g = st.m.graph;
  cli_lm_shape lm = {0};
  /* a streaming model (SPEC 9: carry or cache) continues its session: the
   * prompt once, then one position a step */
  bool streaming = g->streams;
  int64_t B = 0, P = 0;
  st.inputs = calloc((size_t)g->ninputs + 1, sizeof *st.inputs);
  st.given = calloc((size_t)g->ninputs + 1, sizeof *st.given);
  IR_ASSERT(st.inputs && st.given);
  status = cli_lm_find(g, a.o.model, &lm);
  if (!status) status = cli_gen_read_prompt(&st, &a, &lm, &B, &P);
  int64_t rows = B; /* the prompt's rows; with --beams the session has N a row */
  if (!status && a.beams > 1) status = cli_gen_repeat_rows(&st, &a, &lm, &B, P);
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
  if (a.beams > 1 && V < 2 * a.beams) {
    status = cli_error(
        "--beams %lld: beam search keeps the best 2N = %lld continuations, but "
        "the logits have V = %lld ids",
        (long long)a.beams, (long long)(2 * a.beams), (long long)V);
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
  a.o.plan = syms; /* the memory check before the compile */
  st.jit = cli_compile_opts(g, bound, &st.m.diags, &a.o);
  if (!st.jit) {
    status = CLI_ERROR;
    goto done;
  }
  seqrt_driver drv = {.tool = "seqc",
                      .weights = a.weights,
                      .weights_seed = a.weights_seed,
                      .strict = a.o.strict,
                      .threads = a.o.threads,
                      .max_memory = a.o.max_memory};
  st.session = seqrt_driver_session(&drv, cg_jit_desc(st.jit), syms, &st.w_file);
  if (!st.session) {
    status = CLI_ERROR; /* reported */
    goto done;
  }
  /* from here a Ctrl-C stops after the step it comes in */
  bool caught = cli_interrupt_catch();
  status = a.beams > 1 ? cli_generate_beams(&st, &a, &lm, streaming, rows, P, V)
                       : generate(&st, &a, &lm, streaming, B, P, V);
  cli_interrupt_release(caught);
done:
  gen_free(&st);
  return status;
}
