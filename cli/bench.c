/* bench.c: `seqc bench`: compile once, run many times, report timings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"

static const char help[] =
    "usage: seqc bench MODEL.yaml [--dim N=V]... [--threads N] [--unroll N] [--iters N] [--json]\n"
    "                  [--input IN.safetensors] [--no-cache]\n"
    "\n"
    "Compiles the model once for the bound dims (YAML defaults unless --dim), then\n"
    "runs it on random weights and inputs: warm-up, then --iters runs (default: at\n"
    "least 10 runs and 0.5 s). Prints compile time, the median, 10th and 90th\n"
    "percentile run time, the planned arena, peak RSS and GFLOP/s (FLOPs as the peer\n"
    "kit counts them: matmuls, attention, conv1d, recurrent weights; over the\n"
    "median). --json prints one JSON object with the keys compile_ms, median_ms,\n"
    "p10_ms, p90_ms, peak_rss_mb, gflops (and more: cache_hit, kernels, the compile\n"
    "stages in stages_ms).\n"
    "  --threads N   threads (default 0: all cores)\n"
    "  --max-memory SIZE  refuse a run that needs more memory (512M, 2G; default: the\n"
    "                machine's available memory)\n"
    "  --unroll N    scan steps per loop iteration (default: chosen per scan)\n"
    "  --input IN    the model inputs that IN holds (of the bound shapes) instead of\n"
    "                random ones (e.g. a batch's lengths)\n"
    "  --no-cache    compile without the compile cache (neither read nor written)\n"
    "Ctrl-C stops after the current run, prints the timings of the runs made, and\n"
    "exits with status 130.\n";

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* inputs[i] (drawn, of the bound shape) := the tensor of IN named as model input
 * i, where IN has one of the same shape and dtype; false after an error */
static bool file_inputs(const char *path, const ir_graph *g, seqrt_tensor *inputs) {
  seqrt_error err;
  seqrt_st_file *f = seqrt_st_open(path, &err);
  if (!f) {
    cli_error("%s", err.msg);
    return false;
  }
  for (int i = 0; i < g->ninputs; i++) {
    const char *name = g->values[g->inputs[i]].name;
    int k = seqrt_st_find(f, name);
    seqrt_tensor t;
    if (k < 0) continue;
    if (seqrt_st_get(f, k, &t, &err)) {
      cli_error("%s", err.msg);
      seqrt_st_close(f);
      return false;
    }
    bool same = t.dtype == inputs[i].dtype && t.rank == inputs[i].rank;
    for (int d = 0; same && d < t.rank; d++) same = t.shape[d] == inputs[i].shape[d];
    if (!same) {
      cli_error("%s: input '%s' has another dtype or shape than the bound model's (use --dim)",
                path, name);
      seqrt_st_close(f);
      return false;
    }
    memcpy(inputs[i].data, t.data, (size_t)seqrt_tensor_numel(&t) * seqrt_dtype_size(t.dtype));
  }
  seqrt_st_close(f);
  return true;
}

/* the q-quantile of sorted v[0..n) */
static double quantile(const double *v, int n, double q) {
  double pos = q * (n - 1);
  int lo = (int)pos;
  int hi = lo + 1 < n ? lo + 1 : lo;
  return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}

int cmd_bench(int argc, char **argv) {
  cli_opts o = {0};
  int64_t iters = 0;
  bool json = false;
  const char *input = NULL;
  for (int i = 1; i < argc; i++) {
    cli_arg c = cli_parse_common(argc, argv, &i, &o, help);
    if (c == CLI_ARG_BAD) return CLI_USAGE;
    if (c == CLI_ARG_HELP) return CLI_OK;
    if (c == CLI_ARG_TAKEN) continue;
    const char *s = argv[i];
    if (!strcmp(s, "--json")) {
      json = true;
    } else if (!strcmp(s, "--iters")) {
      if (i + 1 >= argc || !cli_parse_int(argv[i + 1], &iters) || iters < 1 || iters > 1000000)
        return cli_usage_error("bench", "--iters wants a positive number");
      i++;
    } else if (!strcmp(s, "--input")) {
      if (i + 1 >= argc) return cli_usage_error("bench", "--input wants a file");
      input = argv[++i];
    } else if (s[0] == '-') {
      return cli_usage_error("bench", "unknown option '%s'", s);
    } else if (o.model) {
      return cli_usage_error("bench", "unexpected argument '%s'", s);
    } else {
      o.model = s;
    }
  }
  if (!o.model) return cli_usage_error("bench", "no model file given");

  double t0 = cli_now_ms();
  cli_model m;
  if (!cli_model_load(&m, o.model, o.strict)) {
    cli_model_free(&m);
    return CLI_ERROR;
  }
  cli_times times_ms;
  ir_graph *g = m.graph;
  int64_t syms[IR_MAX_SYMS];
  int status = cli_bind_dims(g, &o, NULL, NULL, syms);
  if (status) {
    cli_model_free(&m);
    return status;
  }
  double flops = cli_count_flops(g, syms);
  double t_front = cli_now_ms() - t0;
  cg_jit *jit = cli_compile_timed(g, syms, &m.diags, &o, &times_ms);
  double compile_ms = cli_now_ms() - t0;
  times_ms.frontend_ms = t_front;
  /* after the clock: drawing T-long inputs is not compiling */
  int nin = g->ninputs;
  seqrt_tensor *inputs = calloc((size_t)nin + 1, sizeof *inputs);
  seqrt_session *session = NULL;
  seqrt_st_file *no_file = NULL;
  seqrt_tensor *outputs = NULL;
  double *times = NULL;
  seqrt_error err;
  bool caught = false; /* SIGINT handled by the loops (cli_interrupt_catch) */
  status = CLI_ERROR;
  if (!jit) goto done;
  const seqrt_model_desc *desc = cg_jit_desc(jit);
  /* the driver's session, random parameters; the runs are timed here. The
   * session first: it refuses a run too large for --max-memory before the
   * inputs take their share */
  seqrt_driver drv = {
      .tool = "seqc", .weights_seed = 1, .threads = o.threads, .max_memory = o.max_memory};
  session = seqrt_driver_session(&drv, desc, syms, &no_file);
  if (!session) goto done;
  cli_random_inputs(g, syms, 1, inputs);
  if (input && !file_inputs(input, g, inputs)) goto done;
  outputs = calloc((size_t)desc->noutputs + 1, sizeof *outputs);

  /* warm-up: at least 3 runs and 0.1 s */
  /* a streaming model's runs continue one another: each timed run starts the
   * session over (untimed), or the runs would fill its key/value caches */
  bool restart = desc->streaming;
  cli_progress bar;
  char what[160];
  snprintf(what, sizeof what, "bench %s", g->name ? g->name : "");
  cli_progress_begin(&bar, what);
  /* from here a Ctrl-C stops after the run it comes in; the timings so far print */
  caught = cli_interrupt_catch();
  double start = cli_now_ms();
  for (int k = 0; (k < 3 || cli_now_ms() - start < 100) && !cli_interrupted(); k++) {
    cli_progress_step(&bar, "warm-up run %d", k + 1);
    if (restart) seqrt_session_reset(session);
    if (seqrt_session_run(session, inputs, outputs, &err)) goto fail;
  }
  int cap = iters ? (int)iters : 1000;
  times = malloc(sizeof(double) * (size_t)cap);
  int n = 0;
  start = cli_now_ms();
  while (n < cap && (iters ? n < iters : (n < 10 || cli_now_ms() - start < 500)) &&
         !cli_interrupted()) {
    if (restart) seqrt_session_reset(session);
    double t = cli_now_ms();
    if (seqrt_session_run(session, inputs, outputs, &err)) goto fail;
    times[n++] = cli_now_ms() - t;
    cli_progress_step(&bar, "run %d, last %.3f ms", n, times[n - 1]);
  }
  cli_progress_end(&bar);
  if (n == 0) { /* interrupted in the warm-up */
    cli_error("interrupted (Ctrl-C) before the first timed run");
    status = CLI_INTERRUPTED;
    goto done;
  }
  qsort(times, (size_t)n, sizeof(double), cmp_double);
  double median = quantile(times, n, 0.5), p10 = quantile(times, n, 0.1),
         p90 = quantile(times, n, 0.9);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double rss_mb = (double)ru.ru_maxrss / 1024.0;
  double arena_mb = (double)seqrt_session_arena_bytes(session) / (1024.0 * 1024.0);
  double gflops = median > 0 ? flops / (median * 1e6) : 0;
  int threads = o.threads;
  if (json) {
    printf("{\"model\": \"%s\", \"dims\": {", g->name ? g->name : "");
    for (int s = 0; s < g->nsyms; s++)
      printf("%s\"%s\": %lld", s ? ", " : "", g->syms[s].name, (long long)syms[s]);
    printf("}, \"threads\": %d, \"iters\": %d, \"compile_ms\": %.3f, \"median_ms\": %.4f, "
           "\"p10_ms\": %.4f, \"p90_ms\": %.4f, \"peak_rss_mb\": %.1f, \"arena_mb\": %.3f, "
           "\"flops\": %.0f, \"gflops\": %.2f, \"cache_hit\": %s, \"model_hit\": %s, ",
           threads, n, compile_ms, median, p10, p90, rss_mb, arena_mb, flops, gflops,
           times_ms.cg.cache_hit ? "true" : "false", times_ms.cg.model_hit ? "true" : "false");
    /* a whole-model hit built no module: its kernels are not counted */
    if (times_ms.cg.kernels >= 0)
      printf("\"kernels\": %d, ", times_ms.cg.kernels);
    else
      printf("\"kernels\": null, ");
    const cg_stats *c = &times_ms.cg;
    printf("\"stages_ms\": {\"frontend\": %.3f, \"passes\": %.3f, \"llvm_ir\": %.3f, "
           "\"llvm_opt\": %.3f, \"machine_code\": %.3f, \"cache\": %.3f, \"link\": %.3f}}\n",
           times_ms.frontend_ms, times_ms.passes_ms, c->ir_ms, c->optimize_ms, c->machine_ms,
           c->cache_ms, c->link_ms);
  } else {
    printf("model %s:", g->name ? g->name : "");
    for (int s = 0; s < g->nsyms; s++)
      printf(" %s=%lld", g->syms[s].name, (long long)syms[s]);
    printf("\ncompile:  %.1f ms%s\n", compile_ms,
           !times_ms.cg.cache_used ? "" : times_ms.cg.cache_hit ? " (cache hit)" : " (cache miss)");
    char th[32];
    snprintf(th, sizeof th, "%d", threads);
    printf("run:      median %.4f ms  (p10 %.4f, p90 %.4f) over %d runs, threads %s\n", median,
           p10, p90, n, threads ? th : "all");
    printf("memory:   arena %.2f MB, peak RSS %.1f MB\n", arena_mb, rss_mb);
    printf("speed:    %.2f GFLOP/s (%.4g FLOPs a run)\n", gflops, flops);
  }
  status = CLI_OK;
  if (cli_interrupted()) {
    fflush(stdout); /* the timings first, then why there are only so many */
    cli_error("interrupted (Ctrl-C) after %d timed runs", n);
    status = CLI_INTERRUPTED;
  }
  goto done;
fail:
  cli_progress_end(&bar);
  cli_error("%s", err.msg);
  status = CLI_ERROR;
done:
  cli_interrupt_release(caught);
  for (int i = 0; i < nin; i++) free(inputs[i].data);
  free(inputs);
  free(outputs);
  free(times);
  seqrt_session_free(session);
  cg_jit_free(jit);
  cli_model_free(&m);
  return status;
}
