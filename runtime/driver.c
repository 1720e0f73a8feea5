/*
 * driver.c: one session of a model and a list of runs, each reading its
 * inputs, running and writing (or printing) its outputs, with every problem
 * reported in one format: what `seqc run`, `seqc bench` and `seqrt-run`
 * share, so the three say the same things the same way.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

void seqrt_vreport(const char *tool, const char *severity, const char *file, const char *fmt,
                   va_list ap) {
  /* one buffer and one write, so that lines of threads or processes sharing
   * stderr do not interleave mid-line */
  char line[2048];
  int k = snprintf(line, sizeof line, "%s: %s: ", tool, severity);
  if (file && k >= 0 && (size_t)k < sizeof line)
    k += snprintf(line + k, sizeof line - (size_t)k, "%s: ", file);
  if (k >= 0 && (size_t)k < sizeof line) vsnprintf(line + k, sizeof line - (size_t)k, fmt, ap);
  fprintf(stderr, "%s\n", line);
}

void seqrt_report(const char *tool, const char *severity, const char *file, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  seqrt_vreport(tool, severity, file, fmt, ap);
  va_end(ap);
}

/* what a seqrt_warn_fn needs to report: who speaks, about which file */
typedef struct warn_ctx {
  const char *tool; /* message prefix */
  const char *file; /* the file the warnings are about */
} warn_ctx;

static void warn_file(void *user, const char *msg) {
  const warn_ctx *w = user;
  seqrt_report(w->tool, "warning", w->file, "%s", msg);
}

/* a + b, or SIZE_MAX when that does not fit */
static size_t add_sat(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }

/* true if a session of desc for syms, with random parameters when it makes
 * them and nrandom runs' random inputs, fits d's limit; else reports the
 * need and the limit. Nothing large is allocated here: the need comes from
 * the plan (seqrt_session_need). */
static bool fits_limit(const seqrt_driver *d, const seqrt_model_desc *desc, const int64_t *syms,
                       int nrandom) {
  seqrt_error err;
  seqrt_memory_need need;
  if (seqrt_session_need(desc, syms, &need, &err)) {
    seqrt_report(d->tool, "error", NULL, "%s", err.msg); /* as seqrt_session_new says it */
    return false;
  }
  size_t limit = d->max_memory ? d->max_memory : seqrt_available_memory();
  if (!limit) return true; /* no limit given and none known */
  size_t params = !d->weights && d->weights_seed >= 0 ? need.params : 0;
  size_t inputs = 0;
  for (int k = 0; k < nrandom; k++) inputs = add_sat(inputs, need.inputs);
  size_t total =
      add_sat(add_sat(add_sat(need.arena, need.prepared), add_sat(need.state, need.scratch)),
              add_sat(params, inputs));
  if (total <= limit) return true;
  char t[32], a[32], pr[32], st[32], sc[32], pa[32], in[32], l[32];
  seqrt_report(
      d->tool, "error", NULL,
      "the run needs %s of memory (arena %s, prepared weights %s, state %s, "
      "scratch %s, parameters %s, inputs %s), more than the %s %s",
      seqrt_format_size(total, t, sizeof t), seqrt_format_size(need.arena, a, sizeof a),
      seqrt_format_size(need.prepared, pr, sizeof pr), seqrt_format_size(need.state, st, sizeof st),
      seqrt_format_size(need.scratch, sc, sizeof sc), seqrt_format_size(params, pa, sizeof pa),
      seqrt_format_size(inputs, in, sizeof in), seqrt_format_size(limit, l, sizeof l),
      d->max_memory ? "that --max-memory allows"
                    : "the machine has available (--max-memory SIZE sets the limit)");
  return false;
}

/* seqrt_driver_session, counting nrandom runs' random inputs against the limit */
static seqrt_session *driver_session(const seqrt_driver *d, const seqrt_model_desc *desc,
                                     const int64_t *syms, int nrandom,
                                     seqrt_st_file **weights_file) {
  seqrt_error err;
  *weights_file = NULL;
  if (!fits_limit(d, desc, syms, nrandom)) return NULL;
  seqrt_session *s = seqrt_session_new(desc, syms, d->threads, &err);
  if (!s) {
    seqrt_report(d->tool, "error", NULL, "%s", err.msg);
    return NULL;
  }
  if (d->weights) {
    /* the open error starts with the file ("W: cannot open: ...", "W: corrupt ...") */
    seqrt_st_file *f = seqrt_st_open(d->weights, &err);
    if (!f) {
      seqrt_report(d->tool, "error", NULL, "%s", err.msg);
      seqrt_session_free(s);
      return NULL;
    }
    warn_ctx w = {d->tool, d->weights};
    if (seqrt_session_load_weights(s, f, d->strict, warn_file, &w, &err)) {
      seqrt_report(d->tool, "error", d->weights, "%s", err.msg);
      seqrt_session_free(s);
      seqrt_st_close(f);
      return NULL;
    }
    *weights_file = f;
  } else if (d->weights_seed >= 0 &&
             seqrt_session_random_params(s, (uint64_t)d->weights_seed, &err)) {
    seqrt_report(d->tool, "error", NULL, "%s", err.msg);
    seqrt_session_free(s);
    return NULL;
  }
  return s;
}

seqrt_session *seqrt_driver_session(const seqrt_driver *d, const seqrt_model_desc *desc,
                                    const int64_t *syms, seqrt_st_file **weights_file) {
  return driver_session(d, desc, syms, 0, weights_file);
}

seqrt_st_file *seqrt_driver_read_inputs(const seqrt_driver *d, const char *path,
                                        const char *const *names, int n, const bool *kept,
                                        seqrt_tensor *inputs, bool *given) {
  seqrt_error err;
  seqrt_st_file *f = seqrt_st_open(path, &err);
  if (!f) {
    seqrt_report(d->tool, "error", NULL, "%s", err.msg); /* the message names the file */
    return NULL;
  }
  warn_ctx w = {d->tool, path};
  if (seqrt_read_inputs(f, names, n, d->strict, warn_file, &w, kept, inputs, given, &err)) {
    seqrt_report(d->tool, "error", path, "%s", err.msg);
    seqrt_st_close(f);
    return NULL;
  }
  return f;
}

/* each output's shape and first values on stdout */
static void print_outputs(const char *const *names, const seqrt_tensor *out, int n) {
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

int seqrt_driver_emit(const seqrt_driver *d, const char *path, const char *const *names,
                      const seqrt_tensor *outputs, int n) {
  if (!path) {
    print_outputs(names, outputs, n);
    return SEQRT_EXIT_OK;
  }
  seqrt_error err;
  if (seqrt_tensors_write(path, names, outputs, n, &err)) {
    seqrt_report(d->tool, "error", NULL, "%s", err.msg); /* "OUT: cannot write: ..." */
    return SEQRT_EXIT_ERROR;
  }
  return SEQRT_EXIT_OK;
}

/* one run between the two passes: its inputs read and its dims bound */
typedef struct run_state {
  seqrt_st_file *file;  /* its input file (holds the inputs' memory), or NULL */
  seqrt_tensor *inputs; /* the model's inputs, views into file or malloc'd (random) */
  bool *given;          /* inputs found in file */
  int64_t *syms;        /* the base dims it binds */
  bool drawn;           /* its random inputs were made (once the session fits) */
} run_state;

/* run r's inputs (read from its file, or drawn at random) and dims; reports any problem */
static int read_run(const seqrt_driver *d, const seqrt_driver_run *r, int index,
                    const char *const *names, int nin, int nsyms, run_state *rs) {
  seqrt_error err;
  rs->inputs = calloc((size_t)nin + 1, sizeof *rs->inputs);
  rs->given = calloc((size_t)nin + 1, sizeof *rs->given);
  rs->syms = calloc((size_t)nsyms + 1, sizeof *rs->syms);
  if (!rs->inputs || !rs->given || !rs->syms) {
    seqrt_report(d->tool, "error", NULL, "out of memory");
    return SEQRT_EXIT_ERROR;
  }
  for (int s = 0; s < nsyms; s++) rs->syms[s] = d->dims ? d->dims[s] : -1;
  /* a later run of the session leaves the static inputs out (SPEC 9) */
  bool *kept = index > 0 ? calloc((size_t)nin + 1, sizeof *kept) : NULL;
  if (index > 0 && !kept) { /* without it a later run would have to give its static inputs */
    seqrt_report(d->tool, "error", NULL, "out of memory");
    return SEQRT_EXIT_ERROR;
  }
  for (int i = 0; kept && i < nin; i++)
    kept[i] = d->desc ? d->desc->input_static && d->desc->input_static[i]
                      : d->input_static && d->input_static[i];
  if (r->input)
    rs->file = seqrt_driver_read_inputs(d, r->input, names, nin, kept, rs->inputs, rs->given);
  free(kept);
  if (r->input && !rs->file) return SEQRT_EXIT_ERROR;
  if (!r->input && !d->random_inputs) {
    seqrt_report(d->tool, "error", NULL, "run %d has no input file", index + 1);
    return SEQRT_EXIT_ERROR;
  }
  const seqrt_tensor *in = r->input ? rs->inputs : NULL;
  const bool *given = r->input ? rs->given : NULL;
  if (d->bind) {
    int status = d->bind(d->user, in, given, rs->syms);
    if (status) return status;
  } else if (seqrt_bind_dims(d->desc, in, given, rs->syms, &err)) {
    seqrt_report(d->tool, "error", NULL, "%s", err.msg); /* as `bind` reports it */
    return SEQRT_EXIT_ERROR;
  }
  return SEQRT_EXIT_OK; /* random inputs are drawn once the session fits (draw_run) */
}

/* run r's random inputs (none with an input file), at its dims */
static void draw_run(const seqrt_driver *d, const seqrt_driver_run *r, run_state *rs) {
  if (!r->input) d->random_inputs(d->user, rs->syms, (uint64_t)d->input_seed, rs->inputs);
  rs->drawn = true;
}

static void free_run(const seqrt_driver *d, const seqrt_driver_run *r, int nin, run_state *rs) {
  if (!r->input && rs->drawn && rs->inputs && d->random_inputs)
    for (int i = 0; i < nin; i++) free(rs->inputs[i].data);
  seqrt_st_close(rs->file);
  free(rs->inputs);
  free(rs->given);
  free(rs->syms);
}

/* one run of the session: run, then write (or print) the outputs */
static int run_one(const seqrt_driver *d, const seqrt_model_desc *desc, seqrt_session *session,
                   const seqrt_driver_run *r, const run_state *rs) {
  int nout = desc->noutputs > 0 ? desc->noutputs : 0;
  seqrt_tensor *outputs = calloc((size_t)nout + 1, sizeof *outputs);
  seqrt_error err;
  int status = SEQRT_EXIT_ERROR;
  if (!outputs)
    seqrt_report(d->tool, "error", NULL, "out of memory");
  else if (seqrt_session_run(session, rs->inputs, outputs, &err))
    seqrt_report(d->tool, "error", r->input, "%s", err.msg); /* its data was at fault */
  else
    status = seqrt_driver_emit(d, r->output, desc->output_names, outputs, nout);
  free(outputs);
  return status;
}

/*
 * Two passes: first every run's inputs are read and its dims bound, so the
 * session can be planned for all of them; then the runs are made in order.
 * A dim with one value in every run is fixed (compiled in by a compiler's
 * hook: the fastest code); one that differs is left symbolic and the session
 * is planned for its largest value, each run taking its own (SPEC 9).
 */
int seqrt_drive(const seqrt_driver *d, const seqrt_driver_run *runs, int nruns) {
  int nin = d->desc ? d->desc->ninputs : d->ninputs;
  int nsyms = d->desc ? d->desc->nsyms : d->nsyms;
  if (nin < 0) nin = 0;
  if (nsyms < 0) nsyms = 0;
  if (nruns < 0) nruns = 0;
  run_state *rs = calloc((size_t)nruns + 1, sizeof *rs);
  const char **names = calloc((size_t)nin + 1, sizeof *names);
  int64_t *plan = calloc((size_t)nsyms + 1, sizeof *plan);
  int64_t *fixed = calloc((size_t)nsyms + 1, sizeof *fixed);
  if (!rs || !names || !plan || !fixed) {
    free(rs);
    free(names);
    free(plan);
    free(fixed);
    seqrt_report(d->tool, "error", NULL, "out of memory");
    return SEQRT_EXIT_ERROR;
  }
  for (int i = 0; i < nin; i++)
    names[i] = d->desc ? seqrt_input_name(d->desc, i) : d->input_names[i];

  /* the runs up to the first whose inputs or dims are bad (reported); that
   * one and the later ones are not made, the earlier ones are (SPEC 9) */
  int ready = 0, late = SEQRT_EXIT_OK;
  while (ready < nruns && !late) {
    late = read_run(d, &runs[ready], ready, names, nin, nsyms, &rs[ready]);
    if (!late) ready++;
  }
  for (int s = 0; s < nsyms; s++) {
    plan[s] = fixed[s] = ready ? rs[0].syms[s] : -1;
    for (int k = 1; k < ready; k++) {
      if (rs[k].syms[s] != fixed[s]) fixed[s] = -1;
      if (rs[k].syms[s] > plan[s]) plan[s] = rs[k].syms[s];
    }
  }

  int status = SEQRT_EXIT_OK;
  const seqrt_model_desc *desc = NULL;
  seqrt_session *session = NULL;
  seqrt_st_file *weights = NULL;
  if (ready) {
    int nrandom = 0;
    for (int k = 0; k < ready; k++) nrandom += !runs[k].input;
    desc = d->desc ? d->desc : d->compile(d->user, fixed);
    session = desc ? driver_session(d, desc, plan, nrandom, &weights) : NULL;
    if (!session) status = SEQRT_EXIT_ERROR; /* reported */
    for (int k = 0; k < ready && session; k++) draw_run(d, &runs[k], &rs[k]);
  }
  /* a failed run stops the list: earlier outputs stay written, later runs,
   * which would continue from it, are not made */
  for (int k = 0; k < ready && status == SEQRT_EXIT_OK; k++)
    status = run_one(d, desc, session, &runs[k], &rs[k]);
  if (status == SEQRT_EXIT_OK) status = late;

  seqrt_session_free(session);
  seqrt_st_close(weights);
  for (int k = 0; k <= ready && k < nruns; k++) free_run(d, &runs[k], nin, &rs[k]);
  free(rs);
  free(names);
  free(plan);
  free(fixed);
  return status;
}
