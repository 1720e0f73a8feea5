/*
 * analyze.c: `seqc analyze`: Vaswani et al.'s Table 1 for a model's own
 * layers (ir/analyze.c classifies them): per YAML node, its FLOPs as a
 * polynomial in the sequence length n (the other dims bound), the growth
 * per layer, the operations that run one after another and the longest path
 * between two positions. With --measure it times the model at the lengths
 * given and fits the exponent of time ~ n^e beside the FLOPs' own.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: seqc analyze MODEL.yaml [--measure N1,N2,...] [--json] [--dim N=V]... [--threads N]\n"
    "\n"
    "For every node of the model: its FLOPs as a polynomial in the sequence length\n"
    "n (the position dim: T, or position_dim:, else axis 1 of the first input\n"
    "[B, N, ...] whose N is a dim), the other dims at their bound\n"
    "values; how its work grows per layer, how many operations must run one after\n"
    "another as n grows, and the longest path between two positions (Vaswani et\n"
    "al. 2017, Table 1). --measure times the model at those lengths (random\n"
    "weights and inputs; the fastest of at least 5 runs and 0.2 s) and fits the\n"
    "exponent e of time ~ n^e, printed beside\n"
    "the exponent of the FLOPs over the same lengths. --json prints one object.\n";

/* the FLOPs are fitted at SPREAD, 2 SPREAD and 3 SPREAD times the bound length */
enum { SPREAD = 256 };

/* one YAML node: the graph nodes lowered from it */
typedef struct row {
  const char *name;   /* the YAML node's name (its nodes' shortest) */
  const char *op;     /* the op of its most ordering node */
  int line, col;      /* the YAML position, which groups the nodes */
  double poly[3];     /* FLOPs = poly[0] + poly[1] n + poly[2] n^2 */
  ir_seq_class cls;   /* how it orders positions (its nodes' highest rank) */
  bool matmul;        /* some node multiplies matrices */
} row;

/* flops of node i at n = n1 * k, k = 1, 2, 3, into f */
static void flops_at(const ir_graph *g, int i, const int64_t *syms, int64_t n1, double *f) {
  for (int k = 0; k < 3; k++) {
    int64_t s[IR_MAX_SYMS];
    memcpy(s, syms, sizeof s);
    s[g->position_sym] = n1 * (k + 1);
    ir_syms_complete(g, s);
    f[k] = ir_node_flops(g, i, s);
  }
}

/* the table's rows, in the order of the model file; their count */
static int rows_of(const ir_graph *g, const int64_t *syms, row *rows) {
  int n = 0;
  /* sampled far out, where the floors of derived dims ((T-3)/2) move the fit by
   * 1/SPREAD at most; n1 keeps the bound length's divisors (a segment's) */
  int64_t n0 = syms[g->position_sym] * SPREAD;
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *nd = &g->nodes[i];
    if (nd->dead) continue;
    int r = 0;
    while (r < n && (rows[r].line != nd->loc.line || rows[r].col != nd->loc.col)) r++;
    if (r == n)
      rows[n++] = (row){.name = nd->name, .op = ir_ops[nd->op].name, .line = nd->loc.line,
                        .col = nd->loc.col, .cls = {.kind = IR_SEQ_POSITIONWISE}};
    row *w = &rows[r];
    if (strlen(nd->name) < strlen(w->name)) w->name = nd->name;
    double f[3];
    flops_at(g, i, syms, n0, f);
    /* f(k) = a + b k + c k^2 at k = 1, 2, 3, with n = n0 k */
    double c = (f[2] - 2 * f[1] + f[0]) / 2, b = f[1] - f[0] - 3 * c, a = f[0] - b - c;
    w->poly[0] += a;
    w->poly[1] += b / (double)n0;
    w->poly[2] += c / ((double)n0 * (double)n0);
    ir_seq_class cls = ir_seq_class_of(g, nd);
    if (ir_seq_rank(cls.kind) > ir_seq_rank(w->cls.kind)) {
      w->cls = cls;
      w->op = ir_ops[nd->op].name;
    }
    w->matmul |= ir_ops[nd->op].flops == IR_FLOPS_MATMUL && f[0] > 0;
  }
  return n;
}

/* p as "a + b n + c n^2"; a term below 1e-6 of the largest at the bound length n0
 * is a rounding of the fit (a floor of a derived dim), left out */
static void formula(const double *p, double n0, char *buf, size_t size) {
  double at[3] = {fabs(p[0]), fabs(p[1]) * n0, fabs(p[2]) * n0 * n0};
  double big = fmax(at[0], fmax(at[1], at[2]));
  static const char *const pow_[3] = {"", " n", " n^2"};
  size_t k = 0;
  buf[0] = 0;
  for (int e = 2; e >= 0 && k < size; e--) {
    if (big == 0 || at[e] < 1e-6 * big) continue;
    const char *sep = !k ? (p[e] < 0 ? "-" : "") : p[e] < 0 ? " - " : " + ";
    k += (size_t)snprintf(buf + k, size - k, "%s%.4g%s", sep, fabs(p[e]), pow_[e]);
  }
  if (!k) snprintf(buf, size, "0");
}

static double poly_at(const double *p, double n) { return p[0] + p[1] * n + p[2] * n * n; }

/* the least-squares slope of log y over log x */
static double slope(const double *x, const double *y, int n) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (int i = 0; i < n; i++) {
    double lx = log(x[i]), ly = log(y[i]);
    sx += lx, sy += ly, sxx += lx * lx, sxy += lx * ly;
  }
  return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

/*
 * The fastest run of the compiled model at each length lens[k], ms, into
 * ms[k]. The lengths take turns, a run of each per round (after a warm-up
 * round), for at least 5 rounds and 0.2 s a length: a run disturbed by
 * another process (or by a neighbour on the other half of a core, which
 * slows every run while it lasts) then hits every length alike, and the
 * fastest of many is the work itself. (Measured one length after the
 * other, a busy spell over the first length alone bent the fitted exponent
 * of an LSTM from 1.0 to 0.76.)
 */
static int measure(ir_graph *g, int64_t *syms, cli_model *m, const cli_opts *o,
                   const int64_t *lens, int nlens, double *ms) {
  int64_t plan[IR_MAX_SYMS], bind[IR_MAX_SYMS];
  memcpy(plan, syms, sizeof plan);
  memcpy(bind, syms, sizeof bind);
  int64_t longest = 0;
  for (int k = 0; k < nlens; k++) longest = lens[k] > longest ? lens[k] : longest;
  plan[g->position_sym] = longest;
  ir_syms_complete(g, plan);
  bind[g->position_sym] = -1; /* read at run time: one compile for every length */
  for (int s = g->nsyms; s < g->nsyms + g->nderived; s++) bind[s] = -1;
  cli_times t;
  cg_jit *jit = cli_compile_timed(g, bind, &m->diags, o, &t);
  if (!jit) return CLI_ERROR;
  const seqrt_model_desc *desc = cg_jit_desc(jit);
  seqrt_driver drv = {.tool = "seqc", .weights_seed = 1, .threads = o->threads};
  seqrt_st_file *no_file = NULL;
  seqrt_session *session = seqrt_driver_session(&drv, desc, plan, &no_file);
  int status = session ? CLI_OK : CLI_ERROR;
  int per = g->ninputs + 1; /* inputs of one length */
  seqrt_tensor *inputs = calloc((size_t)(nlens * per), sizeof *inputs);
  seqrt_tensor *outputs = calloc((size_t)desc->noutputs + 1, sizeof *outputs);
  for (int k = 0; k < nlens; k++) {
    int64_t s[IR_MAX_SYMS];
    memcpy(s, syms, sizeof s);
    s[g->position_sym] = lens[k];
    ir_syms_complete(g, s);
    cli_random_inputs(g, s, 1, &inputs[k * per]);
    ms[k] = INFINITY;
  }
  double start = cli_now_ms();
  for (int r = -1; status == CLI_OK && (r < 5 || (cli_now_ms() - start < 200.0 * nlens && r < 1000));
       r++)
    for (int k = 0; k < nlens && status == CLI_OK; k++) {
      seqrt_error err;
      if (desc->streaming) seqrt_session_reset(session); /* each run starts over */
      double t0 = cli_now_ms();
      if (seqrt_session_run(session, &inputs[k * per], outputs, &err)) {
        status = cli_error("n = %lld: %s", (long long)lens[k], err.msg);
        break;
      }
      double dt = cli_now_ms() - t0;
      if (r >= 0 && dt < ms[k]) ms[k] = dt;
    }
  for (int i = 0; i < nlens * per; i++) free(inputs[i].data);
  free(inputs);
  free(outputs);
  seqrt_session_free(session);
  cg_jit_free(jit);
  return status;
}

/* n: the position dim (T, or position_dim:), else axis 1 of the first input
 * [B, N, ...] whose N is a dim name; -1 if none */
static int sequence_dim(const ir_graph *g) {
  if (g->position_sym >= 0) return g->position_sym;
  for (int k = 0; k < g->ninputs; k++) {
    const ir_type *t = &g->values[g->inputs[k]].type;
    if (t->rank >= 2 && t->dims[1].coef == 1 && t->dims[1].sym[0] >= 0 && t->dims[1].sym[1] < 0 &&
        t->dims[1].sym[0] < g->nsyms)
      return t->dims[1].sym[0];
  }
  return -1;
}

/* "N1,N2,..." into lens (at least 2, at most cap, each positive); their count or -1 */
static int parse_lengths(const char *s, int64_t *lens, int cap) {
  int n = 0;
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", s);
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    if (n == cap || !cli_parse_int(tok, &lens[n]) || lens[n] < 1) return -1;
    n++;
  }
  return n >= 2 ? n : -1;
}

static void print_table(const ir_graph *g, const int64_t *syms, const row *rows, int n,
                        const double *total, const ir_seq_text *tt) {
  printf("model %s: n = %s, FLOPs at", g->name ? g->name : "", g->syms[g->position_sym].name);
  for (int s = 0; s < g->nsyms; s++)
    if (s != g->position_sym) printf(" %s=%lld", g->syms[s].name, (long long)syms[s]);
  printf("\n%-22s %-26s %-34s %-26s %-10s %s\n", "node", "op", "FLOPs", "per layer", "sequential",
         "longest path");
  for (int r = 0; r <= n; r++) {
    char f[96];
    ir_seq_text t;
    if (r < n) ir_seq_describe(&rows[r].cls, rows[r].matmul, &t);
    else t = *tt;
    formula(r < n ? rows[r].poly : total, (double)syms[g->position_sym], f, sizeof f);
    printf("%-22s %-26s %-34s %-26s %-10s %s\n", r < n ? rows[r].name : "(model)",
           r < n ? rows[r].op : "", f, t.complexity, t.sequential, t.path);
  }
}

int cmd_analyze(int argc, char **argv) {
  cli_opts o = {0};
  const char *lengths = NULL;
  bool json = false;
  for (int i = 1; i < argc; i++) {
    cli_arg c = cli_parse_common(argc, argv, &i, &o, help);
    if (c == CLI_ARG_BAD) return CLI_USAGE;
    if (c == CLI_ARG_HELP) return CLI_OK;
    if (c == CLI_ARG_TAKEN) continue;
    const char *s = argv[i];
    if (!strcmp(s, "--json")) {
      json = true;
    } else if (!strcmp(s, "--measure")) {
      if (i + 1 >= argc) return cli_usage_error("analyze", "--measure needs lengths N1,N2,...");
      lengths = argv[++i];
    } else if (cli_model_arg("analyze", &o, s) != CLI_OK) {
      return CLI_USAGE;
    }
  }
  if (!o.model) return cli_usage_error("analyze", "no model file given");
  int64_t lens[64];
  int nlens = lengths ? parse_lengths(lengths, lens, 64) : 0;
  if (nlens < 0)
    return cli_usage_error("analyze", "--measure wants 2 to 64 positive lengths, N1,N2,...");
  cli_model m;
  if (!cli_model_load(&m, o.model, o.strict)) {
    cli_model_free(&m);
    return CLI_ERROR;
  }
  ir_graph *g = m.graph;
  int64_t syms[IR_MAX_SYMS];
  int status = CLI_ERROR;
  row *rows = calloc((size_t)g->nnodes + 1, sizeof *rows);
  int n_sym = sequence_dim(g);
  if (n_sym < 0) {
    cli_error("%s: the model has no sequence dim to grow (a dim T, position_dim:, or an "
              "input [B, N, ...] whose N is a dim)",
              o.model);
    goto done;
  }
  g->position_sym = n_sym; /* what the analysis calls n; the graph is not compiled for a
                              session here (measure's compile only times runs) */
  status = cli_bind_dims(g, &o, NULL, NULL, syms);
  if (status != CLI_OK) goto done;
  int n = rows_of(g, syms, rows), k = 0;
  for (int r = 0; r < n; r++) /* rows without work or order are left out */
    if (ir_seq_rank(rows[r].cls.kind) > 0 || rows[r].poly[1] + rows[r].poly[2] > 0) rows[k++] = rows[r];
  n = k;
  double total[3] = {0};
  ir_seq_class worst = {.kind = IR_SEQ_POSITIONWISE};
  bool matmul = false;
  for (int r = 0; r < n; r++) {
    for (int e = 0; e < 3; e++) total[e] += rows[r].poly[e];
    if (ir_seq_rank(rows[r].cls.kind) > ir_seq_rank(worst.kind)) worst = rows[r].cls;
    matmul |= rows[r].matmul;
  }
  ir_seq_text tt;
  ir_seq_describe(&worst, matmul, &tt);
  double ms[64], fl[64], lx[64];
  if (nlens && (status = measure(g, syms, &m, &o, lens, nlens, ms)) != CLI_OK) goto done;
  for (int i = 0; i < nlens; i++) {
    lx[i] = (double)lens[i];
    fl[i] = poly_at(total, lx[i]);
  }
  if (json) {
    printf("{\"model\": \"%s\", \"n\": \"%s\", \"layers\": [", g->name ? g->name : "",
           g->syms[g->position_sym].name);
    for (int r = 0; r <= n; r++) {
      ir_seq_text t = tt;
      const double *p = r < n ? rows[r].poly : total;
      if (r < n) ir_seq_describe(&rows[r].cls, rows[r].matmul, &t);
      printf("%s{\"node\": \"%s\", \"op\": \"%s\", \"flops\": [%.6g, %.6g, %.6g], "
             "\"per_layer\": \"%s\", \"sequential\": \"%s\", \"path\": \"%s\"}",
             r ? ", " : "", r < n ? rows[r].name : "(model)", r < n ? rows[r].op : "", p[0],
             p[1], p[2], t.complexity, t.sequential, t.path);
    }
    printf("]");
    if (nlens) {
      printf(", \"measured\": [");
      for (int i = 0; i < nlens; i++)
        printf("%s{\"n\": %lld, \"ms\": %.4f}", i ? ", " : "", (long long)lens[i], ms[i]);
      printf("], \"exponent\": %.3f, \"flops_exponent\": %.3f", slope(lx, ms, nlens),
             slope(lx, fl, nlens));
    }
    printf("}\n");
  } else {
    print_table(g, syms, rows, n, total, &tt);
    if (nlens) {
      printf("\nmeasured (fastest of the runs, threads %d):\n", o.threads);
      for (int i = 0; i < nlens; i++)
        printf("  n = %-8lld %10.4f ms  %.4g FLOPs\n", (long long)lens[i], ms[i], fl[i]);
      printf("growth: time ~ n^%.2f; FLOPs ~ n^%.2f over the same lengths\n",
             slope(lx, ms, nlens), slope(lx, fl, nlens));
    }
  }
  status = CLI_OK;
done:
  free(rows);
  cli_model_free(&m);
  return status;
}
