/*
 * seqrt_run.c: `seqrt-run MODEL.so ...` runs a model compiled with
 * `seqc compile --emit shared` exactly as `seqc run` runs its YAML: same
 * options (but no compiler: the code is in MODEL.so), same errors, same exit
 * statuses (0 success, 1 error in the model or data, 2 usage). It needs only
 * the runtime; MODEL.so's references to seqrt_* resolve against this program.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seqrt.h"

enum { OK = 0, ERROR = 1, USAGE = 2 };
#define MAX_DIMS 16

static const char help[] =
    "usage: seqrt-run MODEL.so (--weights W.safetensors | --random-weights SEED)\n"
    "                 --input IN.safetensors [--output OUT.safetensors]\n"
    "                 [--dim N=V]... [--threads N] [--strict]\n"
    "\n"
    "Runs a model compiled by `seqc compile --emit shared` once.\n"
    "  --weights W        parameters by name (NODE.PARAM); optional when the model\n"
    "                     was compiled with --embed-weights\n"
    "  --random-weights S fill every parameter reproducibly from seed S instead\n"
    "  --input IN         model inputs by input name\n"
    "  --output OUT       write every output under its output name (without it,\n"
    "                     a summary of each output is printed)\n"
    "  --dim N=V          bind dim N (else taken from the inputs' shapes, else the\n"
    "                     compiled value or YAML default)\n"
    "  --threads N        threads (default 0: all cores)\n"
    "  --strict           warnings (unused parameters or inputs) are errors\n";

typedef struct args {
  const char *model;               /* MODEL.so */
  const char *weights;             /* --weights */
  const char *input;               /* --input */
  const char *output;              /* --output */
  long long weights_seed;          /* --random-weights, -1 unset */
  const char *dim_names[MAX_DIMS]; /* --dim N=V: names */
  long long dim_values[MAX_DIMS];  /* --dim N=V: values */
  int ndims;                       /* number of --dim */
  int threads;                     /* --threads */
  int strict;                      /* --strict */
} args;

static int usage(const char *fmt, const char *arg) {
  fprintf(stderr, "seqrt-run: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(see `seqrt-run --help`)\n");
  return USAGE;
}

/* a non-negative integer, or -1 */
static long long parse_int(const char *s) {
  if (!s || !*s) return -1;
  char *end;
  long long v = strtoll(s, &end, 10);
  return *end || v < 0 ? -1 : v;
}

static int parse(int argc, char **argv, args *a) {
  memset(a, 0, sizeof *a);
  a->weights_seed = -1;
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
                 !strcmp(s, "--threads");
    if (takes && i + 1 >= argc) return usage("%s needs a value", s);
    if (!strcmp(s, "--weights")) {
      a->weights = argv[++i];
    } else if (!strcmp(s, "--input")) {
      a->input = argv[++i];
    } else if (!strcmp(s, "--output") || !strcmp(s, "-o")) {
      a->output = argv[++i];
    } else if (!strcmp(s, "--random-weights")) {
      if ((a->weights_seed = parse_int(argv[++i])) < 0)
        return usage("%s wants a non-negative integer seed", s);
    } else if (!strcmp(s, "--threads")) {
      long long v = parse_int(argv[++i]);
      if (v < 0 || v > 1024) return usage("%s wants a number (0 = all cores)", s);
      a->threads = (int)v;
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
  if (!a->input) return usage("no input file given (--input IN)%s", "");
  return OK;
}

static void print_warning(void *user, const char *msg) {
  fprintf(stderr, "%s: warning: %s\n", (const char *)user, msg);
}

/* prints each output's shape and first values, as `seqc run` does */
static void print_outputs(const char *const *names, int n, const seqrt_tensor *out) {
  for (int i = 0; i < n; i++) {
    char shape[128];
    const seqrt_tensor *t = &out[i];
    printf("%s: %s %s =", names[i], seqrt_dtype_name(t->dtype),
           seqrt_shape_str(t->shape, t->rank, shape, sizeof shape));
    int64_t count = seqrt_tensor_numel(t);
    for (int64_t k = 0; k < count && k < 8; k++) {
      if (t->dtype == SEQRT_F32)
        printf(" %.6g", ((const float *)t->data)[k]);
      else if (t->dtype == SEQRT_I32)
        printf(" %d", ((const int32_t *)t->data)[k]);
      else
        printf(" %lld", (long long)((const int64_t *)t->data)[k]);
    }
    printf(count > 8 ? " ...\n" : "\n");
  }
}

int main(int argc, char **argv) {
  args a;
  int status = parse(argc, argv, &a);
  if (status) return status < 0 ? OK : status;

  /* a bare file name means this folder, as for every other file argument (dlopen would
   * search the library path instead) */
  char path[4096];
  snprintf(path, sizeof path, "%s%s", strchr(a.model, '/') ? "" : "./", a.model);
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "seqrt-run: error: cannot load %s: %s\n", a.model, dlerror());
    return ERROR;
  }
  const seqrt_model_desc *d = dlsym(lib, SEQRT_SHARED_SYMBOL);
  if (!d) {
    fprintf(stderr, "seqrt-run: error: %s is not a model made by `seqc compile --emit shared`\n",
            a.model);
    dlclose(lib);
    return ERROR;
  }
  seqrt_error err;
  seqrt_st_file *in_file = NULL, *w_file = NULL;
  seqrt_session *s = NULL;
  int nin = d->ninputs > 0 ? d->ninputs : 0, nsyms = d->nsyms > 0 ? d->nsyms : 0;
  seqrt_tensor *inputs = calloc((size_t)nin + 1, sizeof *inputs);
  seqrt_tensor *outputs = calloc((size_t)(d->noutputs > 0 ? d->noutputs : 0) + 1, sizeof *outputs);
  bool *given = calloc((size_t)nin + 1, sizeof *given);
  const char **names = calloc((size_t)nin + 1, sizeof *names);
  int64_t *syms = calloc((size_t)nsyms + 1, sizeof *syms);
  if (!inputs || !outputs || !given || !names || !syms) {
    fprintf(stderr, "seqrt-run: error: out of memory\n");
    status = ERROR;
    goto done;
  }
  for (int i = 0; i < nsyms; i++) syms[i] = -1;
  for (int k = 0; k < a.ndims; k++) {
    int i = seqrt_find_sym(d, a.dim_names[k]);
    if (i < 0) {
      fprintf(stderr, "seqrt-run: --dim %s: the model has no dim '%s'", a.dim_names[k],
              a.dim_names[k]);
      if (nsyms) {
        fprintf(stderr, " (its dims:");
        for (int t = 0; t < nsyms; t++) fprintf(stderr, " %s", d->sym_names[t]);
        fprintf(stderr, ")");
      }
      fprintf(stderr, "\n");
      status = USAGE;
      goto done;
    }
    syms[i] = a.dim_values[k];
  }
  if (!a.weights && a.weights_seed < 0 && d->nembedded == 0) {
    status =
        usage("give one of --weights and --random-weights (%s has no embedded weights)", a.model);
    goto done;
  }

  in_file = seqrt_st_open(a.input, &err);
  if (!in_file) {
    fprintf(stderr, "seqrt-run: %s\n", err.msg);
    status = ERROR;
    goto done;
  }
  for (int i = 0; i < nin; i++) names[i] = seqrt_input_name(d, i);
  if (seqrt_read_inputs(in_file, names, nin, a.strict, print_warning, (void *)a.input, inputs,
                        given, &err)) {
    fprintf(stderr, "%s: error: %s\n", a.input, err.msg);
    status = ERROR;
    goto done;
  }
  if (seqrt_bind_dims(d, inputs, given, syms, &err)) goto fail;
  s = seqrt_session_new(d, syms, a.threads, &err);
  if (!s) goto fail;
  if (a.weights) {
    w_file = seqrt_st_open(a.weights, &err);
    if (!w_file) goto fail;
    if (seqrt_session_load_weights(s, w_file, a.strict, print_warning, (void *)a.weights, &err))
      goto fail;
  } else if (a.weights_seed >= 0 &&
             seqrt_session_random_params(s, (uint64_t)a.weights_seed, &err)) {
    goto fail;
  }
  if (seqrt_session_run(s, inputs, outputs, &err)) goto fail;
  if (a.output) {
    if (seqrt_st_write(a.output, d->output_names, outputs, d->noutputs, &err)) goto fail;
  } else {
    print_outputs(d->output_names, d->noutputs, outputs);
  }
  status = OK;
  goto done;
fail:
  fprintf(stderr, "seqrt-run: error: %s\n", err.msg);
  status = ERROR;
done:
  seqrt_session_free(s);
  seqrt_st_close(w_file);
  seqrt_st_close(in_file);
  free(inputs);
  free(outputs);
  free(given);
  free(names);
  free(syms);
  dlclose(lib);
  return status;
}
