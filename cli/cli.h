/*
 * cli.h: the seqc command line, one file per subcommand. This is the only
 * place that wires frontend, passes, codegen and runtime together.
 */
#ifndef SEQC_CLI_H
#define SEQC_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "cg.h"
#include "fe.h"
#include "ir.h"
#include "passes.h"
#include "seqrt.h"

/* exit statuses (SPEC section 6) */
enum { CLI_OK = 0, CLI_ERROR = 1, CLI_USAGE = 2 };

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
/* the same with the scan unroll factor (0 = chosen by the unroll pass) */
cg_jit *cli_compile_unroll(ir_graph *g, const int64_t *syms, ir_diags *d, int unroll);

/* how long a compile took, by stage (milliseconds) */
typedef struct cli_times {
  double frontend_ms; /* loading and lowering the YAML (the caller measures it) */
  double passes_ms;   /* the pass pipeline */
  cg_stats cg;        /* codegen's stages and the cache (cg.h) */
} cli_times;
/* cli_compile_unroll, also filling t->passes_ms and t->cg */
cg_jit *cli_compile_timed(ir_graph *g, const int64_t *syms, ir_diags *d, int unroll, cli_times *t);
/* the times on stderr, one line: "seqc: compile: frontend 1.2 ms, ..." */
void cli_print_times(const cli_times *t);
/* a monotonic clock in milliseconds */
double cli_now_ms(void);

/*
 * The compile cache's directory: $SEQC_CACHE_DIR, else $XDG_CACHE_HOME/seqc,
 * else $HOME/.cache/seqc, written to buf; NULL (no cache) after --no-cache
 * or with SEQC_NO_CACHE set (not "" or "0"), or with no HOME.
 */
const char *cli_cache_dir(char *buf, size_t size);
/* the cache's bound: $SEQC_CACHE_MAX_MB megabytes, 0 (the default) if unset */
int64_t cli_cache_max_bytes(void);

/*
 * Random inputs of the bound shapes: f32 uniform in [-1, 1]; integer inputs
 * in [0, N) where N is the smallest embedding table they index (else [0, 10)).
 * Returns malloc'd data in t[i].data.
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
 * --no-cache) and --help, which prints HELP on stdout. --no-cache sets
 * SEQC_NO_CACHE=1 in the environment, which cli_cache_dir reads: so every
 * subcommand that compiles through cli_compile honors it. */
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
/* usage error: "seqc: error: MSG" and a hint naming `seqc CMD --help`; returns CLI_USAGE */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
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

int cmd_check(int argc, char **argv);
int cmd_ir(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_compile(int argc, char **argv);
int cmd_ops(int argc, char **argv);
int cmd_generate(int argc, char **argv);

#endif
