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

seqrt_session *seqrt_driver_session(const seqrt_driver *d, const seqrt_model_desc *desc,
                                    const int64_t *syms, seqrt_st_file **weights_file) {
  seqrt_error err;
  *weights_file = NULL;
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

seqrt_st_file *seqrt_driver_read_inputs(const seqrt_driver *d, const char *path,
                                        const char *const *names, int n, seqrt_tensor *inputs,
                                        bool *given) {
  seqrt_error err;
  seqrt_st_file *f = seqrt_st_open(path, &err);
  if (!f) {
    seqrt_report(d->tool, "error", NULL, "%s", err.msg); /* the message names the file */
    return NULL;
  }
  warn_ctx w = {d->tool, path};
  if (seqrt_read_inputs(f, names, n, d->strict, warn_file, &w, inputs, given, &err)) {
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
  if (seqrt_st_write(path, names, outputs, n, &err)) {
    seqrt_report(d->tool, "error", NULL, "%s", err.msg); /* "OUT: cannot write: ..." */
    return SEQRT_EXIT_ERROR;
  }
  return SEQRT_EXIT_OK;
}

/* the session as it stands between runs */
typedef struct session_state {
  const seqrt_model_desc *desc; /* the model, once known */
  seqrt_session *session;       /* opened at the first run */
  seqrt_st_file *weights;       /* its weights file, kept open while it runs */
  int64_t *syms;                /* the dims it was opened for */
  int nsyms;                    /* entries of syms */
} session_state;

/* one run: its inputs, bound dims, then the session (opened at the first
 * run), the run itself and its outputs */
static int drive_one(const seqrt_driver *d, session_state *st, const seqrt_driver_run *r,
                     int index) {
  int nin = d->desc ? d->desc->ninputs : d->ninputs;
  if (nin < 0) nin = 0;
  seqrt_tensor *inputs = calloc((size_t)nin + 1, sizeof *inputs);
  bool *given = calloc((size_t)nin + 1, sizeof *given);
  const char **names = calloc((size_t)nin + 1, sizeof *names);
  int64_t *syms = calloc((size_t)st->nsyms + 1, sizeof *syms);
  seqrt_st_file *in_file = NULL;
  seqrt_error err;
  int status = SEQRT_EXIT_ERROR;
  if (!inputs || !given || !names || !syms) {
    seqrt_report(d->tool, "error", NULL, "out of memory");
    goto done;
  }
  for (int i = 0; i < nin; i++)
    names[i] = d->desc ? seqrt_input_name(d->desc, i) : d->input_names[i];
  for (int s = 0; s < st->nsyms; s++) syms[s] = d->dims ? d->dims[s] : -1;

  if (r->input) {
    in_file = seqrt_driver_read_inputs(d, r->input, names, nin, inputs, given);
    if (!in_file) goto done;
  } else if (!d->random_inputs) {
    seqrt_report(d->tool, "error", NULL, "run %d has no input file", index + 1);
    goto done;
  }
  if (d->bind) {
    status = d->bind(d->user, r->input ? inputs : NULL, r->input ? given : NULL, syms);
    if (status) goto done;
    status = SEQRT_EXIT_ERROR;
  } else if (seqrt_bind_dims(d->desc, r->input ? inputs : NULL, r->input ? given : NULL, syms,
                             &err)) {
    seqrt_report(d->tool, "error", NULL, "%s", err.msg);
    goto done;
  }
  if (!r->input) d->random_inputs(d->user, syms, (uint64_t)d->input_seed, inputs);

  if (!st->session) {
    st->desc = d->desc ? d->desc : d->compile(d->user, syms);
    if (!st->desc) goto done; /* the compiler reported why */
    st->session = seqrt_driver_session(d, st->desc, syms, &st->weights);
    if (!st->session) goto done;
    memcpy(st->syms, syms, sizeof *syms * (size_t)st->nsyms);
  } else if (st->nsyms && memcmp(st->syms, syms, sizeof *syms * (size_t)st->nsyms)) {
    /* a session is planned for one set of dims; SPEC 9's sessions that
     * continue will let a later run take its own */
    seqrt_report(d->tool, "error", r->input, "run %d binds other dims than the session's first run",
                 index + 1);
    goto done;
  }
  int nout = st->desc->noutputs > 0 ? st->desc->noutputs : 0;
  seqrt_tensor *outputs = calloc((size_t)nout + 1, sizeof *outputs);
  if (!outputs) {
    seqrt_report(d->tool, "error", NULL, "out of memory");
    goto done;
  }
  if (seqrt_session_run(st->session, inputs, outputs, &err))
    seqrt_report(d->tool, "error", NULL, "%s", err.msg);
  else
    status = seqrt_driver_emit(d, r->output, st->desc->output_names, outputs, nout);
  free(outputs);
done:
  if (!r->input && inputs && d->random_inputs)
    for (int i = 0; i < nin; i++) free(inputs[i].data);
  seqrt_st_close(in_file);
  free(inputs);
  free(given);
  free(names);
  free(syms);
  return status;
}

int seqrt_drive(const seqrt_driver *d, const seqrt_driver_run *runs, int nruns) {
  session_state st = {.nsyms = d->desc ? d->desc->nsyms : d->nsyms};
  if (st.nsyms < 0) st.nsyms = 0;
  st.syms = calloc((size_t)st.nsyms + 1, sizeof *st.syms);
  if (!st.syms) {
    seqrt_report(d->tool, "error", NULL, "out of memory");
    return SEQRT_EXIT_ERROR;
  }
  int status = SEQRT_EXIT_OK;
  /* a failed run stops the list (SPEC 9): earlier outputs stay written, later runs,
   * which would continue from it, are not made */
  for (int k = 0; k < nruns && status == SEQRT_EXIT_OK; k++)
    status = drive_one(d, &st, &runs[k], k);
  seqrt_session_free(st.session);
  seqrt_st_close(st.weights);
  free(st.syms);
  return status;
}
