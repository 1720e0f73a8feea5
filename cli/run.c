/* run.c: `seqc run`: compile a model just in time and run it once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: seqc run MODEL.yaml (--weights W.safetensors | --random-weights SEED)\n"
    "                (--input IN.safetensors | --random-input SEED)\n"
    "                [--output OUT.safetensors] [--dim N=V]... [--threads N] [--unroll N] "
    "[--strict]\n"
    "\n"
    "Compiles MODEL.yaml for the bound dims and runs it once.\n"
    "  --weights W        parameters by name (NODE.PARAM), as a PyTorch state_dict\n"
    "  --random-weights S fill every parameter reproducibly from seed S instead\n"
    "  --input IN         model inputs by input name\n"
    "  --random-input S   random inputs of the bound shapes from seed S instead\n"
    "  --output OUT       write every output under its output name (without it,\n"
    "                     a summary of each output is printed)\n"
    "  --dim N=V          bind dim N (else taken from the inputs' shapes, else the\n"
    "                     YAML default)\n"
    "  --threads N        threads (default 0: all cores)\n"
    "  --unroll N         scan steps per loop iteration (default: chosen per scan)\n"
    "  --strict           warnings (unused parameters or inputs) are errors\n"
    "  --interpret        run the reference interpreter instead of compiled code\n"
    "                     (slow; for checking seqc itself; parameters only from\n"
    "                     --weights)\n";

typedef struct run_args {
  cli_opts o;           /* shared options */
  const char *weights;  /* --weights */
  const char *input;    /* --input */
  const char *output;   /* --output */
  int64_t weights_seed; /* --random-weights, -1 unset */
  int64_t input_seed;   /* --random-input, -1 unset */
  bool interpret;       /* --interpret: ir_eval instead of the JIT */
} run_args;

static int parse(int argc, char **argv, run_args *a) {
  memset(a, 0, sizeof *a);
  a->weights_seed = a->input_seed = -1;
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i];
    int c = cli_parse_common(argc, argv, &i, &a->o);
    if (c < 0) return CLI_USAGE;
    if (c > 0) continue;
    if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
      fputs(help, stdout);
      return -1;
    }
    if (!strcmp(s, "--interpret")) {
      a->interpret = true;
      continue;
    }
    const char **str = !strcmp(s, "--weights")                      ? &a->weights
                       : !strcmp(s, "--input")                      ? &a->input
                       : !strcmp(s, "--output") || !strcmp(s, "-o") ? &a->output
                                                                    : NULL;
    int64_t *num = !strcmp(s, "--random-weights") ? &a->weights_seed
                   : !strcmp(s, "--random-input") ? &a->input_seed
                                                  : NULL;
    if ((str || num) && i + 1 >= argc) return cli_usage_error("run", "%s needs a value", s);
    if (str) {
      *str = argv[++i];
    } else if (num) {
      if (!cli_parse_int(argv[++i], num))
        return cli_usage_error("run", "%s wants a non-negative integer seed", s);
    } else if (s[0] == '-') {
      return cli_usage_error("run", "unknown option '%s'", s);
    } else if (!a->o.model) {
      a->o.model = s;
    } else {
      return cli_usage_error("run", "unexpected argument '%s'", s);
    }
  }
  if (!a->o.model) return cli_usage_error("run", "no model file given");
  if (!a->weights == (a->weights_seed < 0))
    return cli_usage_error("run", "give exactly one of --weights and --random-weights");
  if (!a->input == (a->input_seed < 0))
    return cli_usage_error("run", "give exactly one of --input and --random-input");
  return CLI_OK;
}

static void print_warning(void *user, const char *msg) {
  fprintf(stderr, "%s: warning: %s\n", (const char *)user, msg);
}

/* the model's inputs from IN by name; given[i] marks those found (the
 * runtime's reader, which seqrt-run uses too, so both report alike) */
static int read_inputs(const ir_graph *g, seqrt_st_file *f, const char *path, bool strict,
                       seqrt_tensor *t, bool *given) {
  const char **names = calloc((size_t)g->ninputs + 1, sizeof *names);
  IR_ASSERT(names);
  for (int i = 0; i < g->ninputs; i++) names[i] = g->values[g->inputs[i]].name;
  seqrt_error err;
  int status = CLI_OK;
  if (seqrt_read_inputs(f, names, g->ninputs, strict, print_warning, (void *)path, t, given,
                        &err)) {
    fprintf(stderr, "%s: error: %s\n", path, err.msg);
    status = CLI_ERROR;
  }
  free(names);
  return status;
}

/* ir_param_fn over a weights file */
static bool file_param(void *user, const char *name, seqrt_tensor *out) {
  seqrt_st_file *f = user;
  if (!f) return false;
  int k = seqrt_st_find(f, name);
  seqrt_error err;
  return k >= 0 && seqrt_st_get(f, k, out, &err) == 0;
}

/* ir_param_fn for --random-weights: the values a session would draw */
typedef struct random_params {
  const ir_graph *g;   /* the model: a parameter's type by name */
  const int64_t *syms; /* bound dims */
  uint64_t seed;       /* --random-weights SEED */
  void **mem;          /* what was handed out, freed after the run */
  int nmem;            /* entries of mem */
} random_params;

static bool random_param(void *user, const char *name, seqrt_tensor *out) {
  random_params *r = user;
  const ir_graph *g = r->g;
  for (int v = 0; v < g->nvalues; v++) {
    const ir_value *val = &g->values[v];
    if (val->kind != IR_VAL_PARAM || !val->name || strcmp(val->name, name)) continue;
    *out = (seqrt_tensor){.dtype = (seqrt_dtype)val->type.dtype, .rank = val->type.rank};
    int64_t numel = 1;
    for (int k = 0; k < val->type.rank; k++)
      numel *= out->shape[k] = ir_dim_eval(val->type.dims[k], r->syms);
    void *p =
        r->nmem < g->nvalues ? calloc((size_t)numel + 1, ir_dtype_size(val->type.dtype)) : NULL;
    if (!p) return false;
    r->mem[r->nmem++] = out->data = p;
    if (val->type.dtype == IR_F32) /* integer parameters stay zero, as in a session */
      seqrt_random_param(r->seed, name, val->type.rank ? out->shape[val->type.rank - 1] : 1, p,
                         numel);
    return true;
  }
  return false;
}

/* prints each output's shape and first values */
static void print_outputs(const char *const *names, int n, const seqrt_tensor *out) {
  for (int i = 0; i < n; i++) {
    char shape[128];
    const seqrt_tensor *t = &out[i];
    printf("%s: %s %s", names[i], seqrt_dtype_name(t->dtype),
           seqrt_shape_str(t->shape, t->rank, shape, sizeof shape));
    int64_t n = seqrt_tensor_numel(t);
    printf(" =");
    for (int64_t k = 0; k < n && k < 8; k++) {
      if (t->dtype == SEQRT_F32)
        printf(" %.6g", ((const float *)t->data)[k]);
      else if (t->dtype == SEQRT_I32)
        printf(" %d", ((const int32_t *)t->data)[k]);
      else
        printf(" %lld", (long long)((const int64_t *)t->data)[k]);
    }
    printf(n > 8 ? " ...\n" : "\n");
  }
}

/* --interpret: the reference interpreter on the graph as lowered */
static int interpret(const ir_graph *g, const int64_t *syms, const seqrt_tensor *inputs,
                     const run_args *a) {
  seqrt_error err;
  seqrt_st_file *w = a->weights ? seqrt_st_open(a->weights, &err) : NULL;
  if (a->weights && !w) {
    fprintf(stderr, "seqc: error: %s\n", err.msg);
    return CLI_ERROR;
  }
  int n = g->noutputs;
  seqrt_tensor *out = calloc((size_t)n + 1, sizeof *out);
  const char **names = calloc((size_t)n + 1, sizeof *names);
  for (int i = 0; i < n; i++) names[i] = g->outputs[i].name;
  int status = CLI_OK;
  random_params r = {g, syms, (uint64_t)a->weights_seed,
                     calloc((size_t)g->nvalues + 1, sizeof(void *)), 0};
  bool ok = w ? ir_eval(g, syms, inputs, file_param, w, out, &err)
              : ir_eval(g, syms, inputs, random_param, &r, out, &err);
  for (int i = 0; i < r.nmem; i++) free(r.mem[i]);
  free(r.mem);
  if (!ok) {
    fprintf(stderr, "seqc: error: %s\n", err.msg);
    status = CLI_ERROR;
  } else if (a->output) {
    if (seqrt_st_write(a->output, names, out, n, &err)) {
      fprintf(stderr, "seqc: error: %s\n", err.msg);
      status = CLI_ERROR;
    }
  } else {
    print_outputs(names, n, out);
  }
  for (int i = 0; i < n; i++) free(out[i].data);
  free(out);
  free(names);
  seqrt_st_close(w);
  return status;
}

int cmd_run(int argc, char **argv) {
  run_args a;
  int status = parse(argc, argv, &a);
  if (status) return status < 0 ? CLI_OK : status;

  cli_model m;
  if (!cli_model_load(&m, a.o.model, a.o.strict)) {
    cli_model_free(&m);
    return CLI_ERROR;
  }
  ir_graph *g = m.graph;
  int nin = g->ninputs;
  seqrt_tensor *inputs = calloc((size_t)nin + 1, sizeof *inputs);
  bool *given = calloc((size_t)nin + 1, sizeof *given);
  seqrt_tensor *outputs = NULL;
  seqrt_st_file *in_file = NULL, *w_file = NULL;
  seqrt_session *session = NULL;
  cg_jit *jit = NULL;
  bool random_inputs = a.input_seed >= 0;
  int64_t syms[IR_MAX_SYMS];
  seqrt_error err;

  if (!random_inputs) {
    in_file = seqrt_st_open(a.input, &err);
    if (!in_file) {
      fprintf(stderr, "seqc: %s\n", err.msg);
      status = CLI_ERROR;
      goto done;
    }
    status = read_inputs(g, in_file, a.input, a.o.strict, inputs, given);
    if (status) goto done;
  }
  status = cli_bind_dims(g, &a.o, random_inputs ? NULL : inputs, given, syms);
  if (status) goto done;
  if (random_inputs) cli_random_inputs(g, syms, (uint64_t)a.input_seed, inputs);
  if (a.interpret) {
    status = interpret(g, syms, inputs, &a);
    goto done;
  }

  jit = cli_compile_unroll(g, syms, &m.diags, a.o.unroll);
  if (!jit) {
    status = CLI_ERROR;
    goto done;
  }
  const seqrt_model_desc *desc = cg_jit_desc(jit);
  session = seqrt_session_new(desc, syms, a.o.threads, &err);
  if (!session) goto fail;
  if (a.weights) {
    w_file = seqrt_st_open(a.weights, &err);
    if (!w_file) goto fail;
    if (seqrt_session_load_weights(session, w_file, a.o.strict, print_warning, (void *)a.weights,
                                   &err))
      goto fail;
  } else if (seqrt_session_random_params(session, (uint64_t)a.weights_seed, &err)) {
    goto fail;
  }
  outputs = calloc((size_t)desc->noutputs + 1, sizeof *outputs);
  if (seqrt_session_run(session, inputs, outputs, &err)) goto fail;
  if (a.output) {
    if (seqrt_st_write(a.output, desc->output_names, outputs, desc->noutputs, &err)) goto fail;
  } else {
    print_outputs(desc->output_names, desc->noutputs, outputs);
  }
  status = CLI_OK;
  goto done;
fail:
  fprintf(stderr, "seqc: error: %s\n", err.msg);
  status = CLI_ERROR;
done:
  if (random_inputs)
    for (int i = 0; i < nin; i++) free(inputs[i].data);
  free(inputs);
  free(given);
  free(outputs);
  seqrt_session_free(session);
  cg_jit_free(jit);
  seqrt_st_close(w_file);
  seqrt_st_close(in_file);
  cli_model_free(&m);
  return status;
}
