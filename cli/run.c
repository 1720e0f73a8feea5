/* run.c: `seqc run`: compile a model just in time and run it, once or once per input file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: seqc run MODEL.yaml (--weights W.safetensors | --random-weights SEED)\n"
    "                (--input IN.safetensors | --random-input SEED) [--output OUT.safetensors]\n"
    "                [--input IN2 --output OUT2]... [--dim N=V]... [--threads N] [--unroll N]\n"
    "                [--strict] [--no-cache] [--verbose]\n"
    "\n"
    "Compiles MODEL.yaml for the bound dims and runs it once, or once per --input.\n"
    "  --weights W        parameters by name (NODE.PARAM), as a PyTorch state_dict\n"
    "  --random-weights S fill every parameter reproducibly from seed S instead\n"
    "  --input IN         model inputs by input name\n"
    "  --random-input S   random inputs of the bound shapes from seed S instead\n"
    "  --output OUT       write every output under its output name, as safetensors,\n"
    "                     or .npz (numpy) or .json by OUT's extension (without it,\n"
    "                     a summary of each output is printed)\n"
    "  --input IN1 --output OUT1 --input IN2 --output OUT2 ...\n"
    "                     runs in order in one session, OUTk the outputs of the\n"
    "                     k-th run; each run takes its dims from its own inputs\n"
    "                     (runs may differ in length or batch: the session is\n"
    "                     planned for the largest)\n"
    "  --dim N=V          bind dim N (else taken from the inputs' shapes, else the\n"
    "                     YAML default)\n"
    "  --threads N        threads (default 0: all cores)\n"
    "  --max-memory SIZE  refuse a run that needs more memory (512M, 2G; default: the\n"
    "                     machine's available memory)\n"
    "  --unroll N         scan steps per loop iteration (default: chosen per scan)\n"
    "  --strict           warnings (unused parameters or inputs) are errors\n"
    "  --no-cache         compile without the compile cache (neither read nor written)\n"
    "  --verbose          print the time of each compile stage, and whether the\n"
    "                     cache hit, on stderr\n"
    "  --interpret        run the reference interpreter instead of compiled code\n"
    "                     (slow; for checking seqc itself; parameters only from\n"
    "                     --weights)\n";

typedef struct run_args {
  cli_opts o;             /* shared options */
  const char *weights;    /* --weights */
  seqrt_driver_run *runs; /* --input IN (or NULL: --random-input) paired with --output OUT */
  int nruns;              /* entries of runs */
  int ninputs;            /* --input given */
  int noutputs;           /* --output given */
  int64_t weights_seed;   /* --random-weights, -1 unset */
  int64_t input_seed;     /* --random-input, -1 unset */
  bool interpret;         /* --interpret: ir_eval instead of the JIT */
  bool verbose;           /* --verbose: compile stage times on stderr */
} run_args;

static int parse(int argc, char **argv, run_args *a) {
  memset(a, 0, sizeof *a);
  a->weights_seed = a->input_seed = -1;
  a->runs = calloc((size_t)argc + 1, sizeof *a->runs); /* at most one run an argument */
  IR_ASSERT(a->runs);
  for (int i = 1; i < argc; i++) {
    cli_arg c = cli_parse_common(argc, argv, &i, &a->o, help);
    if (c == CLI_ARG_BAD) return CLI_USAGE;
    if (c == CLI_ARG_HELP) return -1;
    if (c == CLI_ARG_TAKEN) continue;
    const char *s = argv[i];
    if (!strcmp(s, "--interpret")) {
      a->interpret = true;
      continue;
    }
    if (!strcmp(s, "--verbose") || !strcmp(s, "-v")) {
      a->verbose = true;
      continue;
    }
    bool out = !strcmp(s, "--output") || !strcmp(s, "-o");
    const char **str = !strcmp(s, "--weights") ? &a->weights
                       : !strcmp(s, "--input") ? &a->runs[a->ninputs++].input
                       : out                   ? &a->runs[a->noutputs++].output
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
  if (!a->ninputs == (a->input_seed < 0))
    return cli_usage_error("run", "give exactly one of --input and --random-input");
  a->nruns = a->ninputs ? a->ninputs : 1;
  if (a->noutputs > a->nruns || (a->nruns > 1 && a->noutputs != a->nruns))
    return cli_usage_error("run", "give one --output for each --input (%d --input, %d --output)",
                           a->ninputs, a->noutputs);
  return CLI_OK;
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

/* the model as the runtime driver sees it: dims bound on the IR, code compiled
 * for them just in time, once every run's dims are known */
typedef struct jit_model {
  ir_graph *g;       /* the lowered model; the passes change it when it compiles */
  const run_args *a; /* the options */
  ir_diags *diags;   /* the model's diagnostics */
  cg_jit *jit;       /* compiled once the runs' dims are known */
  double load_ms;    /* loading the YAML (for --verbose) */
} jit_model;

/* syms holds the base dims only (the driver's array); cli_bind_dims also
 * completes the derived ones, so it binds into a table of every symbol */
static int bind_hook(void *user, const seqrt_tensor *inputs, const bool *given, int64_t *syms) {
  jit_model *m = user;
  int64_t all[IR_MAX_SYMS];
  memcpy(all, syms, sizeof *syms * (size_t)m->g->nsyms);
  int status = cli_bind_dims(m->g, &m->a->o, inputs, given, all);
  memcpy(syms, all, sizeof *syms * (size_t)m->g->nsyms);
  return status;
}

static void random_inputs_hook(void *user, const int64_t *syms, uint64_t seed,
                               seqrt_tensor *inputs) {
  jit_model *m = user;
  cli_random_inputs(m->g, syms, seed, inputs);
}

/* a dim that differs between the runs comes as -1: the code is compiled to
 * read it at run time, the others are folded in */
static const seqrt_model_desc *compile_hook(void *user, const int64_t *syms) {
  jit_model *m = user;
  cli_times t;
  m->jit = cli_compile_timed(m->g, syms, m->diags, &m->a->o, &t);
  t.frontend_ms = m->load_ms;
  if (m->jit && m->a->verbose) cli_print_times(&t);
  return m->jit ? cg_jit_desc(m->jit) : NULL;
}

/* a tensor of the weights file W that names no parameter of g: a warning, or
 * with --strict an error, as the session's loader reports it for the JIT */
static int check_unused_params(const ir_graph *g, seqrt_st_file *w, const run_args *a) {
  for (int k = 0; k < seqrt_st_count(w); k++) {
    const char *name = seqrt_st_name(w, k);
    bool used = false;
    for (int i = 0; i < g->nignored && !used; i++) used = !strcmp(g->ignored[i], name);
    for (int v = 0; v < g->nvalues && !used; v++)
      used = g->values[v].kind == IR_VAL_PARAM && g->values[v].name &&
             !strcmp(g->values[v].name, name);
    if (used) continue;
    if (a->o.strict) return cli_error("%s: unused parameter '%s' in weights file", a->weights, name);
    cli_warning("%s: unused parameter '%s' in weights file", a->weights, name);
  }
  return CLI_OK;
}

/* integer inputs of file given in the other width (SPEC 11) converted as a
 * session does, into converted[i] (malloc'd); false after reporting an error */
static bool widen_inputs(const ir_graph *g, const char *file, seqrt_tensor *inputs,
                         void **converted) {
  for (int i = 0; i < g->ninputs; i++) {
    const ir_value *v = &g->values[g->inputs[i]];
    seqrt_tensor *t = &inputs[i];
    if (!t->data || t->dtype == (seqrt_dtype)v->type.dtype || v->type.dtype == IR_F32 ||
        t->dtype == SEQRT_F32)
      continue; /* the interpreter reports a wrong dtype */
    seqrt_error err;
    converted[i] = malloc((size_t)seqrt_tensor_numel(t) * 8 + 1);
    IR_ASSERT(converted[i]);
    if (seqrt_convert_integers(v->name, t, (seqrt_dtype)v->type.dtype, converted[i], &err)) {
      cli_error("%s: %s", file, err.msg);
      return false;
    }
    t->dtype = (seqrt_dtype)v->type.dtype;
    t->data = converted[i];
  }
  return true;
}

/* --interpret: the reference interpreter on the graph as lowered; the driver's
 * steps around it, a run of the interpreter's session where the session would run */
static int interpret(const ir_graph *g, ir_session *session, const seqrt_driver *drv,
                     const run_args *a, const seqrt_driver_run *run, const bool *kept) {
  int nin = g->ninputs, n = g->noutputs;
  seqrt_tensor *inputs = calloc((size_t)nin + 1, sizeof *inputs);
  bool *given = calloc((size_t)nin + 1, sizeof *given);
  seqrt_tensor *out = calloc((size_t)n + 1, sizeof *out);
  const char **names = calloc((size_t)n + 1, sizeof *names);
  void **converted = calloc((size_t)nin + 1, sizeof *converted);
  IR_ASSERT(inputs && given && out && names && converted);
  for (int i = 0; i < n; i++) names[i] = g->outputs[i].name;
  seqrt_st_file *in_file = NULL, *w = NULL;
  random_params r = {g, NULL, (uint64_t)a->weights_seed,
                     calloc((size_t)g->nvalues + 1, sizeof(void *)), 0};
  int64_t syms[IR_MAX_SYMS];
  seqrt_error err;
  int status = CLI_ERROR;
  if (run->input &&
      !(in_file = seqrt_driver_read_inputs(drv, run->input, drv->input_names, nin, kept, inputs,
                                           given)))
    goto done;
  status = cli_bind_dims(g, &a->o, run->input ? inputs : NULL, run->input ? given : NULL, syms);
  if (status) goto done;
  status = CLI_ERROR;
  if (!run->input) cli_random_inputs(g, syms, (uint64_t)a->input_seed, inputs);
  if (a->weights && !(w = seqrt_st_open(a->weights, &err))) {
    cli_error("%s", err.msg);
    goto done;
  }
  if (w && check_unused_params(g, w, a)) goto done;
  if (run->input && !widen_inputs(g, run->input, inputs, converted)) goto done;
  r.syms = syms;
  bool ok = w ? ir_eval_run(session, syms, inputs, file_param, w, out, &err)
              : ir_eval_run(session, syms, inputs, random_param, &r, out, &err);
  if (!ok)
    cli_error("%s", err.msg);
  else
    status = seqrt_driver_emit(drv, run->output, names, out, n);
  for (int i = 0; i < n; i++) free(out[i].data);
done:
  if (!run->input)
    for (int i = 0; i < nin; i++) free(inputs[i].data);
  for (int i = 0; i < nin; i++) free(converted[i]);
  free(converted);
  for (int i = 0; i < r.nmem; i++) free(r.mem[i]);
  free(r.mem);
  free(inputs);
  free(given);
  free(out);
  free(names);
  seqrt_st_close(w);
  seqrt_st_close(in_file);
  return status;
}

int cmd_run(int argc, char **argv) {
  run_args a;
  int status = parse(argc, argv, &a);
  if (status) {
    free(a.runs);
    return status < 0 ? CLI_OK : status;
  }

  double since = cli_now_ms();
  cli_model m;
  if (!cli_model_load(&m, a.o.model, a.o.strict)) {
    cli_model_free(&m);
    free(a.runs);
    return CLI_ERROR;
  }
  ir_graph *g = m.graph;
  double load_ms = cli_now_ms() - since;
  const char **names = calloc((size_t)g->ninputs + 1, sizeof *names);
  IR_ASSERT(names);
  bool *statics = calloc((size_t)g->ninputs + 1, sizeof *statics);
  IR_ASSERT(names && statics);
  for (int i = 0; i < g->ninputs; i++) {
    names[i] = g->values[g->inputs[i]].name;
    statics[i] = g->values[g->inputs[i]].is_static;
  }
  jit_model jm = {g, &a, &m.diags, NULL, load_ms};
  seqrt_driver drv = {.tool = "seqc",
                      .weights = a.weights,
                      .weights_seed = a.weights_seed,
                      .input_seed = a.input_seed,
                      .strict = a.o.strict,
                      .threads = a.o.threads,
                      .max_memory = a.o.max_memory,
                      .nsyms = g->nsyms,
                      .ninputs = g->ninputs,
                      .input_names = names,
                      .input_static = statics,
                      .bind = bind_hook,
                      .random_inputs = random_inputs_hook,
                      .compile = compile_hook,
                      .user = &jm};
  if (a.interpret) {
    /* the runs in one session of the interpreter, as in a runtime session */
    ir_session *session = ir_session_new(g);
    IR_ASSERT(session);
    for (int k = 0; k < a.nruns && status == CLI_OK; k++)
      status = interpret(g, session, &drv, &a, &a.runs[k], k ? statics : NULL);
    ir_session_free(session);
  } else {
    status = seqrt_drive(&drv, a.runs, a.nruns);
  }
  cg_jit_free(jm.jit);
  free(a.runs);
  free(names);
  free(statics);
  cli_model_free(&m);
  return status;
}
