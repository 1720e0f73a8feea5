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
 * run time) and JIT-compiles; NULL on error */
cg_jit *cli_compile(ir_graph *g, const int64_t *syms, ir_diags *d);
/* the same with the scan unroll factor (0 = chosen by the unroll pass) */
cg_jit *cli_compile_unroll(ir_graph *g, const int64_t *syms, ir_diags *d, int unroll);

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

/* The options every subcommand takes (--dim, --threads, --unroll, --strict)
 * and --help, which prints HELP on stdout. */
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

int cmd_check(int argc, char **argv);
int cmd_ir(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_compile(int argc, char **argv);
int cmd_ops(int argc, char **argv);

#endif
