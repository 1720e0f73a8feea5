/*
 * cli.h: the seqc command line, one file per subcommand. This is the only
 * place that wires frontend, passes, codegen and runtime together.
 */
#ifndef SEQC_CLI_H
#define SEQC_CLI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cg.h"
#include "fe.h"
#include "ir.h"
#include "passes.h"
#include "seqrt.h"

/* exit statuses (SPEC section 6); CLI_INTERRUPTED, a loop stopped by Ctrl-C,
 * is the shell's 128 + SIGINT */
enum { CLI_OK = 0, CLI_ERROR = 1, CLI_USAGE = 2, CLI_INTERRUPTED = 130 };

#define CLI_MAX_DIMS 16

/* options shared by the subcommands; each parses only what it accepts */
typedef struct cli_opts {
  const char *model;           /* MODEL.yaml */
  const char *dim_names[CLI_MAX_DIMS]; /* --dim N=V: names */
  int64_t dim_values[CLI_MAX_DIMS];    /* --dim N=V: values */
  int ndims;                   /* number of --dim */
  int threads;                 /* --threads, 0 = all cores */
  bool strict;                 /* --strict */
  int unroll;                  /* --unroll N: scan steps per loop iteration, 0 = chosen */
  bool no_cache;               /* --no-cache: neither read nor write the compile cache */
  size_t max_memory;           /* --max-memory SIZE in bytes, 0 = the available memory */
  const int64_t *plan;         /* the dims the session will be planned for, where a compile
                                  leaves some to run time (generate's longest run); NULL:
                                  the compile's own (cli_compile_timed checks the memory) */
} cli_opts;

/* a model loaded and checked: source text, diagnostics, graph */
typedef struct cli_model {
  char *src;       /* the YAML text (diags point into it) */
  ir_diags diags;  /* user diagnostics, to stderr */
  ir_graph *graph; /* lowered graph, NULL on error */
} cli_model;

/* loads and lowers opts->model; false (status 1) after printing errors */
bool cli_model_load(cli_model *m, const char *path, bool strict);
void cli_model_free(cli_model *m);

/* syms[] from --dim alone, -1 for the dims it leaves symbolic; CLI_USAGE for a
 * name the model has no dim of */
int cli_bind_given_dims(const ir_graph *g, const cli_opts *o, int64_t *syms);
/*
 * Fills syms[] for every symbol of g: --dim first, then the shapes of the given
 * input tensors (inputs may be NULL), then YAML defaults. Reports disagreements
 * as errors naming the input, then completes the derived dims: syms has room
 * for IR_MAX_SYMS. Returns CLI_OK, CLI_ERROR or CLI_USAGE.
 */
int cli_bind_dims(const ir_graph *g, const cli_opts *o, const seqrt_tensor *inputs,
                  const bool *given, int64_t *syms);

/* runs the pass pipeline with dims bound to syms (-1: left symbolic, read at
 * run time) and JIT-compiles, with the compile cache (cli_cache_dir); NULL on
 * error */
cg_jit *cli_compile(ir_graph *g, const int64_t *syms, ir_diags *d);
/* the same with o's --unroll and --no-cache (o NULL: the defaults) */
cg_jit *cli_compile_opts(ir_graph *g, const int64_t *syms, ir_diags *d, const cli_opts *o);

/* how long a compile took, by stage (milliseconds) */
typedef struct cli_times {
  double frontend_ms; /* loading and lowering the YAML (the caller measures it) */
  double passes_ms;   /* the pass pipeline */
  cg_stats cg;        /* codegen's stages and the cache (cg.h) */
} cli_times;
/* cli_compile_opts, also filling t->passes_ms and t->cg */
cg_jit *cli_compile_timed(ir_graph *g, const int64_t *syms, ir_diags *d, const cli_opts *o,
                          cli_times *t);
/* the times on stderr, one line: "seqc: compile: frontend 1.2 ms, ..." */
void cli_print_times(const cli_times *t);
/* a monotonic clock in milliseconds */
double cli_now_ms(void);

/* ---- interrupt.c: Ctrl-C stops generate's and bench's loops at the next step ---- */
/* from now on the first SIGINT sets the flag (and the second kills); false
 * when SIGINT is ignored (inherited so) and stays so */
bool cli_interrupt_catch(void);
/* SIGINT kills again, if cli_interrupt_catch caught it */
void cli_interrupt_release(bool caught);
/* a SIGINT came since cli_interrupt_catch */
bool cli_interrupted(void);

/* ---- progress.c: a status line on stderr, only when it is a terminal ---- */

typedef struct cli_progress {
  bool on;        /* stderr is a terminal (SEQC_PROGRESS=1 or 0 overrides) */
  bool shown;     /* a line is on the screen */
  double start;   /* when the work began (cli_now_ms) */
  double last;    /* when the line was last written */
  char what[128]; /* the line's prefix, e.g. "bench mlp" */
} cli_progress;
void cli_progress_begin(cli_progress *p, const char *what);
/* "seqc: WHAT: TEXT" in place of the last line, at most ten times a second */
void cli_progress_step(cli_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* erases the line */
void cli_progress_end(cli_progress *p);

/* a compile's line: a thread that shows the elapsed time once a second has passed */
typedef struct cli_ticker {
  cli_progress p;       /* the line */
  pthread_t thread;     /* the ticker */
  pthread_mutex_t lock; /* guards done */
  pthread_cond_t wake;  /* signalled by stop */
  bool done;            /* stop was called */
  bool running;         /* the thread was started */
} cli_ticker;
void cli_ticker_start(cli_ticker *t, const char *what);
void cli_ticker_stop(cli_ticker *t);

/*
 * The compile cache's directory: $SEQC_CACHE_DIR, else $XDG_CACHE_HOME/seqc,
 * else $HOME/.cache/seqc, written to buf; NULL (no cache) with o's
 * --no-cache or SEQC_NO_CACHE set (not "" or "0"), or with no HOME.
 */
const char *cli_cache_dir(const cli_opts *o, char *buf, size_t size);
/* the cache's bound: $SEQC_CACHE_MAX_MB megabytes, 0 (the default) if unset */
int64_t cli_cache_max_bytes(void);

/*
 * Random inputs of the bound shapes: f32 uniform in [-1, 1]; integer inputs
 * in [0, N) where N is the smallest embedding table they index (else [0, 10));
 * a key padding mask [B, S] a padded batch: each row valid for a length
 * uniform in [ceil(S/4), S], then 1s. Returns malloc'd data in t[i].data.
 */
void cli_random_inputs(const ir_graph *g, const int64_t *syms, uint64_t seed, seqrt_tensor *t);

/* FLOPs of g under syms: matmuls, attention, conv1d, recurrences (ir_graph_flops, ir/flops.c) */
double cli_count_flops(const ir_graph *g, const int64_t *syms);

/* What cli_parse_common made of argv[*i]. */
typedef enum {
  CLI_ARG_OTHER, /* not a shared option: the subcommand's own */
  CLI_ARG_TAKEN, /* a shared option, consumed with its value (*i moved past it) */
  CLI_ARG_HELP,  /* --help or -h: the subcommand's help was printed; stop, status 0 */
  CLI_ARG_BAD,   /* a usage error, printed; stop, status CLI_USAGE */
} cli_arg;

/* The options every subcommand takes (--dim, --threads, --unroll, --strict,
 * --no-cache, --max-memory) and --help, which prints HELP on stdout. */
cli_arg cli_parse_common(int argc, char **argv, int *i, cli_opts *o, const char *help);
/*
 * The CLI's messages, in the runtime driver's one format (seqrt_report):
 * "seqc: error: MSG" (returns CLI_ERROR) and "seqc: warning: MSG" on stderr.
 * A message about a data file starts with the file: "W.safetensors: missing
 * parameter ...". Messages about a place in the YAML go through ir_diags
 * ("FILE:LINE:COL: error: ...") instead.
 */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* usage error: "seqc: error: MSG" and a hint naming `seqc CMD --help` (`seqc --help`
 * for a NULL cmd); returns CLI_USAGE */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s, an argument of cmd that is no option it knows: the model file (the first such),
 * else a usage error (an unknown option, a second file); CLI_OK or CLI_USAGE */
int cli_model_arg(const char *cmd, cli_opts *o, const char *s);
/* " decompose infer_shapes ..." and a newline on stdout (the end of a command's help) */
void cli_print_passes(void);
/* the usage error of an unknown pass name, with a did-you-mean and the list; `also`
 * names what else the option takes ("all") */
int cli_unknown_pass(const char *cmd, const char *name, const char *also);
/* parses a non-negative integer; false if not one */
bool cli_parse_int(const char *s, int64_t *out);

/* ---- token choice for `seqc generate` (sample.c; the generator is documented there) ---- */

/* splitmix64's state, seeded with --seed as is */
typedef struct cli_rng {
  uint64_t state; /* advanced by a constant at each draw */
} cli_rng;
void cli_rng_seed(cli_rng *r, uint64_t seed);
uint64_t cli_rng_next(cli_rng *r);
/* the next draw's top 53 bits as a double in [0, 1) */
double cli_rng_uniform(cli_rng *r);

/* how a token is chosen from a row of logits */
typedef struct cli_sampler {
  double temperature; /* 0: greedy (argmax); > 0: sample from softmax(logits / temperature) */
  int64_t top_k;      /* keep the top_k most likely (0: all) */
  double top_p;       /* then the fewest most likely with probability >= top_p, in (0, 1] */
} cli_sampler;

/* one token and its probability, the sampler's scratch (V entries) */
typedef struct cli_choice {
  int64_t id;  /* token id */
  double prob; /* its probability (renormalized over the kept tokens) */
} cli_choice;

/* index of the largest of logits[0..V), the lowest on ties (NaN never wins) */
int64_t cli_argmax(const float *logits, int64_t V);
/* the distribution s samples from (temperature > 0): work[0..n) holds the n
 * kept tokens, most likely first, probabilities summing to 1; returns n */
int64_t cli_sample_dist(const float *logits, int64_t V, const cli_sampler *s, cli_choice *work);
/* the token a uniform draw u in [0, 1) picks from dist[0..n) (by running sum) */
int64_t cli_sample_pick(const cli_choice *dist, int64_t n, double u);
/* the token s chooses: argmax without temperature, else the pick of u;
 * work has room for V entries */
int64_t cli_choose(const float *logits, int64_t V, const cli_sampler *s, double u,
                   cli_choice *work);

/* ---- beam search for `seqc generate --beams N` (beam.c; the rules are documented there) ---- */

/* a continuation of a beam: its cumulative log-probability with the token */
typedef struct cli_beam_cand {
  double score;  /* the beam's sum of log-probabilities plus the token's */
  int64_t beam;  /* the beam it continues, within its prompt row (0 .. N-1) */
  int64_t token; /* the token */
} cli_beam_cand;

/* a finished hypothesis (or, at the end, a live beam): session row `parent`
 * as step `step` saw it, plus `token` */
typedef struct cli_beam_hyp {
  double sum;     /* sum of the log-probabilities of its new tokens */
  double score;   /* sum / len: what hypotheses are ranked by */
  int64_t step;   /* the step that chose its last token */
  int64_t parent; /* the session row whose logits at that step chose it */
  int64_t token;  /* its last token (eos, unless it is a live beam at the end) */
  int64_t len;    /* its new tokens, the last included: step + 1 */
} cli_beam_hyp;

/* the search over B prompt rows of N beams each (session rows b*N + i) */
typedef struct cli_beams {
  int64_t B, N, V;     /* prompt rows, beams per row, token ids */
  int64_t max_new;     /* most steps */
  int64_t eos;         /* --eos, -1 none */
  int64_t steps;       /* steps made */
  double *score;       /* [B*N] each live beam's sum of log-probabilities */
  double *next_score;  /* [B*N] scratch of a step */
  int64_t *from;       /* [max_new][B*N] after step k, the row new row i continues */
  int64_t *tok;        /* [max_new][B*N] after step k, the token new row i appends */
  cli_beam_cand *cand; /* a row's best 2N candidates, scratch */
  cli_beam_hyp *hyps;  /* [B][N] each row's best finished hypotheses, in order of adding */
  int64_t *nhyps;      /* [B] how many */
  bool *done;          /* [B] the row cannot do better: its beams idle */
} cli_beams;

/* allocates for B rows of N beams; false when out of memory (free anyway) */
bool cli_beams_init(cli_beams *bs, int64_t B, int64_t N, int64_t V, int64_t max_new, int64_t eos);
void cli_beams_free(cli_beams *bs);
/*
 * The best k continuations (at most) of beams 0..live-1, beam j's logits at
 * logits + j * row_stride, its sum score[j]: rank order into best (room for
 * k); returns how many (a NaN logit is no candidate).
 */
int64_t cli_beams_top(const float *logits, int64_t row_stride, int64_t live, int64_t V,
                      const double *score, int64_t k, cli_beam_cand *best);
/* adds h (its sum, step, parent, token and len set) to row b's hypotheses if it is
 * among the N best */
void cli_beams_add_hyp(cli_beams *bs, int64_t b, cli_beam_hyp h);
/* one step: session row r's logits at logits + r * row_stride; fills the
 * step's from and tok; true once every row is done */
bool cli_beams_step(cli_beams *bs, const float *logits, int64_t row_stride);
/* after the last step: the live beams of the rows not done become hypotheses */
void cli_beams_finish(cli_beams *bs);
/* row b's best hypothesis (the first of the highest score), NULL if none */
const cli_beam_hyp *cli_beams_best(const cli_beams *bs, int64_t b);
/* h's new tokens into tokens[0..h->len) and, with rows, the session row whose
 * logits chose each of them */
void cli_beams_trace(const cli_beams *bs, const cli_beam_hyp *h, int64_t *tokens, int64_t *rows);

/* ---- token texts for `seqc generate --vocab` (vocab.c) ---- */

/* a vocabulary file: line k (from 0) is token k's text, `\n` and `\\` escaped */
typedef struct cli_vocab {
  int64_t n;     /* number of tokens */
  char **text;   /* text of token k (unescaped, NUL-terminated) */
  size_t *len;   /* its length in bytes */
  char *mem;     /* the unescaped texts, one block */
} cli_vocab;

/* parses the text of a vocabulary file (len bytes); false with msg (room for
 * size bytes) on a bad escape, naming its line */
bool cli_vocab_parse(cli_vocab *v, const char *text, size_t len, char *msg, size_t size);
/* reads and parses path; false with msg (starting with the path) */
bool cli_vocab_load(cli_vocab *v, const char *path, char *msg, size_t size);
void cli_vocab_free(cli_vocab *v);
/*
 * Splits text from the left, each time by the longest token it starts with
 * (the lowest id among equal ones); ids has room for strlen(text) entries.
 * Returns the number of ids, or -1 with *bad the byte offset of a character
 * that no token starts with.
 */
int64_t cli_vocab_encode(const cli_vocab *v, const char *text, int64_t *ids, size_t *bad);

/* ---- `seqc generate`'s pieces (generate.c, prompt.c, beam_generate.c) ---- */

/* the options of `seqc generate` */
typedef struct cli_gen_args {
  cli_opts o;           /* shared options */
  const char *weights;  /* --weights, or NULL */
  int64_t weights_seed; /* --random-weights, -1 unset */
  const char *prompt;   /* --prompt, or NULL */
  const char *input;    /* --input, or NULL */
  int64_t max_new;      /* --max-new-tokens */
  int64_t eos;          /* --eos, -1 none */
  cli_sampler sampler;  /* --temperature, --top-k, --top-p */
  int64_t seed;         /* --seed */
  int64_t beams;        /* --beams: 1 chooses one token per row, N > 1 searches N beams */
  const char *vocab;    /* --vocab, or NULL */
  const char *output;   /* --output, or NULL */
} cli_gen_args;

/* the model as generate sees it, found before the passes change the graph */
typedef struct cli_lm_shape {
  int tokens;      /* index of the token input among the model's inputs */
  int value;       /* its value id */
  ir_dtype dtype;  /* its dtype, i32 or i64 */
  ir_dim logits_v; /* V, the last dim of the first output */
} cli_lm_shape;

/* everything a generation holds, freed in one place */
typedef struct cli_gen {
  cli_model m;            /* the model */
  cli_vocab vocab;        /* --vocab, n = 0 without */
  seqrt_st_file *in_file; /* --input (holds the inputs' memory) */
  seqrt_st_file *w_file;  /* --weights */
  seqrt_tensor *inputs;   /* the model's inputs */
  bool *given;            /* inputs read from in_file */
  void **repeated;        /* per input: its rows repeated per beam (owned), or NULL */
  cg_jit *jit;            /* the compiled model */
  seqrt_session *session; /* its session */
  seqrt_tensor *outputs;  /* a run's outputs (views into the session) */
  int64_t *tokens;        /* i64 [B, P+N]: prompt and new tokens, row stride P+N */
  void *feed;             /* a run's tokens [B, L] in the model's dtype */
  float *logits;          /* f32 [B, N, V] for --output, or NULL */
  bool *finished;         /* rows that produced --eos */
  cli_choice *work;       /* the sampler's scratch, V entries */
} cli_gen;

/* the token input and the logits, or an error saying why the model cannot generate */
int cli_lm_find(const ir_graph *g, const char *path, cli_lm_shape *lm);
/* the prompt: tokens [B, P] into st->tokens (row stride P+N) and the other inputs */
int cli_gen_read_prompt(cli_gen *st, const cli_gen_args *a, const cli_lm_shape *lm, int64_t *B,
                        int64_t *P);
/* --beams N: every prompt row (and every row of the other inputs with the
 * batch dim first) repeated N times, row b*N+i a copy of row b; *B becomes B*N */
int cli_gen_repeat_rows(cli_gen *st, const cli_gen_args *a, const cli_lm_shape *lm, int64_t *B,
                        int64_t P);
/* the run's tokens: positions [from, from + L) of each row into the feed, [B, L] */
void cli_gen_feed(cli_gen *st, const cli_lm_shape *lm, int64_t B, int64_t stride, int64_t from,
                  int64_t L);
/* --output: tokens [B, P+n] and logits [B, n, V] of the n steps made, from
 * arrays laid out for N steps (compacted in place) */
int cli_gen_write(const char *path, int64_t *tokens, float *logits, int64_t B, int64_t P, int64_t N,
                  int64_t n, int64_t V);
/* prints a token as it comes: its text, or its id after a space */
void cli_print_token(const cli_vocab *v, int64_t id, bool first);
/* each row's new tokens on a line, up to its first eos */
void cli_gen_print_rows(const int64_t *tokens, const cli_vocab *v, int64_t B, int64_t stride,
                        int64_t P, int64_t n, int64_t eos);
/* after a loop that made n of N steps: a Ctrl-C that stopped it short is an
 * error line and CLI_INTERRUPTED, else CLI_OK */
int cli_gen_interrupted(int64_t n, int64_t N);
/* the timing line on stderr: prefill ms, ms per new token, tokens/s */
void cli_gen_report(double start, double prefilled, double end, int64_t B, int64_t P, int64_t n,
                    int64_t beams);
/* the generation loop of --beams N (beam_generate.c): st holds B*N session
 * rows (cli_gen_repeat_rows); B is the prompt rows */
int cli_generate_beams(cli_gen *st, const cli_gen_args *a, const cli_lm_shape *lm, bool streaming,
                       int64_t B, int64_t P, int64_t V);

int cmd_check(int argc, char **argv);
int cmd_ir(int argc, char **argv);
int cmd_graph(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_compile(int argc, char **argv);
int cmd_ops(int argc, char **argv);
int cmd_generate(int argc, char **argv);

#endif
