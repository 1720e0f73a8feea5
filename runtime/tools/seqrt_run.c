/*
 * seqrt_run.c: `seqrt-run MODEL.so ...` runs a model compiled with
 * `seqc compile --emit shared` exactly as `seqc run` runs its YAML: same
 * options (but no compiler: the code is in MODEL.so), same errors, same exit
 * statuses (0 success, 1 error in the model or data, 2 usage). It needs only
 * the runtime; MODEL.so's references to seqrt_* resolve against this program.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seqrt.h"

enum { OK = SEQRT_EXIT_OK, ERROR = SEQRT_EXIT_ERROR, USAGE = SEQRT_EXIT_USAGE };
#define MAX_DIMS 16

static const char help[] =
    "usage: seqrt-run MODEL.so (--weights W.safetensors | --random-weights SEED)\n"
    "                 --input IN.safetensors [--output OUT.safetensors]\n"
    "                 [--input IN2 --output OUT2]... [--dim N=V]... [--threads N] [--strict]\n"
    "\n"
    "Runs a model compiled by `seqc compile --emit shared` once, or once per --input.\n"
    "  --weights W        parameters by name (NODE.PARAM); optional when the model\n"
    "                     was compiled with --embed-weights\n"
    "  --random-weights S fill every parameter reproducibly from seed S instead\n"
    "  --input IN         model inputs by input name\n"
    "  --output OUT       write every output under its output name, as safetensors,\n"
    "                     or .npz (numpy) or .json by OUT's extension (without it,\n"
    "                     a summary of each output is printed)\n"
    "  --input IN1 --output OUT1 --input IN2 --output OUT2 ...\n"
    "                     runs in order in one session, OUTk the outputs of the\n"
    "                     k-th run; each run takes its dims from its own inputs\n"
    "                     (runs may differ in length or batch: the session is\n"
    "                     planned for the largest)\n"
    "  --dim N=V          bind dim N (else taken from the inputs' shapes, else the\n"
    "                     compiled value or YAML default)\n"
    "  --threads N        threads (default 0: all cores)\n"
    "  --max-memory SIZE  refuse a run that needs more memory (512M, 2G; default: the\n"
    "                     machine's available memory)\n"
    "  --strict           warnings (unused parameters or inputs) are errors\n";

typedef struct args {
  const char *model;               /* MODEL.so */
  const char *weights;             /* --weights */
  seqrt_driver_run *runs;          /* --input IN paired with --output OUT, in order */
  int ninputs;                     /* --input given */
  int noutputs;                    /* --output given */
  long long weights_seed;          /* --random-weights, -1 unset */
  const char *dim_names[MAX_DIMS]; /* --dim N=V: names */
  long long dim_values[MAX_DIMS];  /* --dim N=V: values */
  int ndims;                       /* number of --dim */
  int threads;                     /* --threads */
  size_t max_memory;               /* --max-memory, 0 = the available memory */
  int strict;                      /* --strict */
} args;

static const char tool[] = "seqrt-run";

/* a usage error: the driver's format, then where help is; status 2 */
static int usage(const char *fmt, const char *arg) {
  seqrt_report(tool, "error", NULL, fmt, arg);
  fprintf(stderr, "(see `seqrt-run --help`)\n");
  return USAGE;
}

/* a non-negative integer, or -1 */
static long long parse_int(const char *s) {
  if (!s || !*s) return -1;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  return *end || v < 0 || errno == ERANGE ? -1 : v; /* not clamped to LLONG_MAX */
}

static int parse(int argc, char **argv, args *a) {
  memset(a, 0, sizeof *a);
  a->weights_seed = -1;
  a->runs = calloc((size_t)argc + 1, sizeof *a->runs); /* at most one run an argument */
  if (!a->runs) {
    seqrt_report(tool, "error", NULL, "out of memory");
    return ERROR;
  }
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i];
    if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
      fputs(help, stdout);
      return -1;
    }
    if (!strcmp(s, "--strict")) {
      a->strict = 1;
      continue;
    }
    bool takes = !strcmp(s, "--weights") || !strcmp(s, "--input") || !strcmp(s, "--output") ||
                 !strcmp(s, "-o") || !strcmp(s, "--random-weights") || !strcmp(s, "--dim") ||
                 !strcmp(s, "--threads") || !strcmp(s, "--max-memory");
    if (takes && i + 1 >= argc) return usage("%s needs a value", s);
    if (!strcmp(s, "--weights")) {
      a->weights = argv[++i];
    } else if (!strcmp(s, "--input")) {
      a->runs[a->ninputs++].input = argv[++i];
    } else if (!strcmp(s, "--output") || !strcmp(s, "-o")) {
      a->runs[a->noutputs++].output = argv[++i];
    } else if (!strcmp(s, "--random-weights")) {
      if ((a->weights_seed = parse_int(argv[++i])) < 0)
        return usage("%s wants a non-negative integer seed", s);
    } else if (!strcmp(s, "--threads")) {
      long long v = parse_int(argv[++i]);
      if (v < 0 || v > 1024) return usage("%s wants a number (0 = all cores)", s);
      a->threads = (int)v;
    } else if (!strcmp(s, "--max-memory")) {
      if (seqrt_parse_size(argv[++i], &a->max_memory))
        return usage("--max-memory wants a size such as 512M or 2G, got '%s'", argv[i]);
    } else if (!strcmp(s, "--dim")) {
      char *spec = argv[++i];
      char *eq = strchr(spec, '=');
      long long v = eq ? parse_int(eq + 1) : -1;
      if (!eq || eq == spec || v <= 0)
        return usage("--dim wants NAME=POSITIVE_INTEGER, got '%s'", spec);
      if (a->ndims == MAX_DIMS) return usage("too many --dim%s", "");
      *eq = '\0';
      a->dim_names[a->ndims] = spec;
      a->dim_values[a->ndims++] = v;
    } else if (!strcmp(s, "--random-input")) {
      return usage("%s: random inputs need the YAML (use `seqc run`)", s);
    } else if (s[0] == '-') {
      return usage("unknown option '%s'", s);
    } else if (!a->model) {
      a->model = s;
    } else {
      return usage("unexpected argument '%s'", s);
    }
  }
  if (!a->model) return usage("no model file given%s", "");
  if (a->weights && a->weights_seed >= 0)
    return usage("give at most one of --weights and --random-weights%s", "");
  if (!a->ninputs) return usage("no input file given (--input IN)%s", "");
  if (a->noutputs > a->ninputs || (a->ninputs > 1 && a->noutputs != a->ninputs)) {
    char counts[64];
    snprintf(counts, sizeof counts, "%d --input, %d --output", a->ninputs, a->noutputs);
    return usage("give one --output for each --input (%s)", counts);
  }
  return OK;
}

int main(int argc, char **argv) {
  args a;
  int status = parse(argc, argv, &a);
  if (status) {
    free(a.runs);
    return status < 0 ? OK : status;
  }

  /* a bare file name means this folder, as for every other file argument (dlopen would
   * search the library path instead) */
  char path[4096];
  snprintf(path, sizeof path, "%s%s", strchr(a.model, '/') ? "" : "./", a.model);
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    /* dlerror says "PATH: WHY": the report names the file already */
    const char *why = dlerror();
    size_t n = strlen(path);
    if (why && !strncmp(why, path, n) && !strncmp(why + n, ": ", 2)) why += n + 2;
    seqrt_report(tool, "error", a.model, "cannot load: %s", why ? why : "?");
    free(a.runs);
    return ERROR;
  }
  const seqrt_model_desc *d = dlsym(lib, SEQRT_SHARED_SYMBOL);
  if (!d) {
    seqrt_report(tool, "error", a.model, "not a model made by `seqc compile --emit shared`");
    dlclose(lib);
    free(a.runs);
    return ERROR;
  }
  int nsyms = d->nsyms > 0 ? d->nsyms : 0;
  int64_t *dims = calloc((size_t)nsyms + 1, sizeof *dims);
  if (!dims) {
    seqrt_report(tool, "error", NULL, "out of memory");
    dlclose(lib);
    free(a.runs);
    return ERROR;
  }
  for (int i = 0; i < nsyms; i++) dims[i] = -1;
  for (int k = 0; k < a.ndims && status == OK; k++) {
    int i = seqrt_find_sym(d, a.dim_names[k]);
    if (i >= 0) {
      dims[i] = a.dim_values[k];
      continue;
    }
    char known[512] = "";
    size_t n = 0;
    for (int t = 0; t < nsyms && n < sizeof known; t++)
      n += (size_t)snprintf(known + n, sizeof known - n, "%s%s",
                            t ? " " : " (its dims: ", d->sym_names[t]);
    if (nsyms && n < sizeof known) snprintf(known + n, sizeof known - n, ")");
    seqrt_report(tool, "error", NULL, "--dim %s: the model has no dim '%s'%s", a.dim_names[k],
                 a.dim_names[k], known);
    status = USAGE;
  }
  if (status == OK && !a.weights && a.weights_seed < 0 && d->nembedded == 0)
    status =
        usage("give one of --weights and --random-weights (%s has no embedded weights)", a.model);
  if (status == OK) {
    seqrt_driver drv = {.tool = tool,
                        .desc = d,
                        .weights = a.weights,
                        .weights_seed = a.weights_seed,
                        .input_seed = -1,
                        .strict = a.strict,
                        .threads = a.threads,
                        .max_memory = a.max_memory,
                        .dims = dims};
    status = seqrt_drive(&drv, a.runs, a.ninputs);
  }
  free(a.runs);
  free(dims);
  dlclose(lib);
  return status;
}
