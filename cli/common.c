/* common.c: what several subcommands share: options, loading, dims, compiling. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

int cli_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  seqrt_vreport("seqc", "error", NULL, fmt, ap);
  va_end(ap);
  return CLI_ERROR;
}

void cli_warning(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  seqrt_vreport("seqc", "warning", NULL, fmt, ap);
  va_end(ap);
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  seqrt_vreport("seqc", "error", NULL, fmt, ap);
  va_end(ap);
  fprintf(stderr, "(see `seqc%s%s --help`)\n", cmd ? " " : "", cmd ? cmd : "");
  return CLI_USAGE;
}

int cli_model_arg(const char *cmd, cli_opts *o, const char *s) {
  if (s[0] == '-') return cli_usage_error(cmd, "unknown option '%s'", s);
  if (o->model) return cli_usage_error(cmd, "unexpected argument '%s'", s);
  o->model = s;
  return CLI_OK;
}

void cli_print_passes(void) {
  for (const pass_info *p = pass_pipeline; p->name; p++) printf(" %s", p->name);
  printf("\n");
}

int cli_unknown_pass(const char *cmd, const char *name, const char *also) {
  fe_suggest sg;
  fe_suggest_init(&sg, name);
  char list[1024];
  size_t k = 0;
  for (const pass_info *p = pass_pipeline; p->name && k < sizeof list; p++) {
    fe_suggest_words(&sg, p->name);
    k += (size_t)snprintf(list + k, sizeof list - k, " %s", p->name);
  }
  return cli_usage_error(cmd, "unknown pass '%s'%s (passes:%s, or %s)", name,
                         fe_suggest_hint(&sg), list, also);
}

bool cli_parse_int(const char *s, int64_t *out) {
  if (!s || !*s) return false;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  /* out of range: strtoll's LLONG_MAX would be a number the user never gave */
  if (*end || v < 0 || errno == ERANGE) return false;
  *out = v;
  return true;
}

cli_arg cli_parse_common(int argc, char **argv, int *i, cli_opts *o, const char *help) {
  const char *a = argv[*i];
  const char *cmd = argv[0];
  if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
    fputs(help, stdout);
    return CLI_ARG_HELP;
  }
  if (!strcmp(a, "--dim")) {
    if (*i + 1 >= argc) return cli_usage_error(cmd, "--dim needs N=V"), CLI_ARG_BAD;
    char *spec = argv[++*i];
    char *eq = strchr(spec, '=');
    int64_t v;
    if (!eq || eq == spec || !cli_parse_int(eq + 1, &v) || v == 0)
      return cli_usage_error(cmd, "--dim wants NAME=POSITIVE_INTEGER, got '%s'", spec), CLI_ARG_BAD;
    if (o->ndims == CLI_MAX_DIMS) return cli_usage_error(cmd, "too many --dim"), CLI_ARG_BAD;
    *eq = '\0'; /* argv is ours: the name ends at the '=' */
    o->dim_names[o->ndims] = spec;
    o->dim_values[o->ndims++] = v;
    return CLI_ARG_TAKEN;
  }
  if (!strcmp(a, "--threads")) {
    int64_t v;
    if (*i + 1 >= argc || !cli_parse_int(argv[*i + 1], &v) || v > 1024)
      return cli_usage_error(cmd, "--threads wants a number (0 = all cores)"), CLI_ARG_BAD;
    ++*i;
    o->threads = (int)v;
    return CLI_ARG_TAKEN;
  }
  if (!strcmp(a, "--max-memory")) {
    if (*i + 1 >= argc)
      return cli_usage_error(cmd, "--max-memory needs a size such as 512M or 2G"), CLI_ARG_BAD;
    if (seqrt_parse_size(argv[*i + 1], &o->max_memory))
      return cli_usage_error(cmd, "--max-memory wants a size such as 512M or 2G, got '%s'",
                             argv[*i + 1]),
             CLI_ARG_BAD;
    ++*i;
    return CLI_ARG_TAKEN;
  }
  if (!strcmp(a, "--unroll")) {
    int64_t v;
    if (*i + 1 >= argc || !cli_parse_int(argv[*i + 1], &v) || v > 64)
      return cli_usage_error(cmd, "--unroll wants a number of steps, 1..64 (0 = chosen)"),
             CLI_ARG_BAD;
    ++*i;
    o->unroll = (int)v;
    return CLI_ARG_TAKEN;
  }
  if (!strcmp(a, "--strict")) {
    o->strict = true;
    return CLI_ARG_TAKEN;
  }
  if (!strcmp(a, "--no-cache")) {
    o->no_cache = true;
    return CLI_ARG_TAKEN;
  }
  return CLI_ARG_OTHER;
}

bool cli_model_load(cli_model *m, const char *path, bool strict) {
  memset(m, 0, sizeof *m);
  ir_diags_init(&m->diags, path, NULL, 0, stderr);
  m->diags.warnings_are_errors = strict;
  m->graph = fe_load_model(path, &m->diags, &m->src);
  if (m->graph && m->diags.nerrors == 0) return true;
  ir_graph_free(m->graph);
  m->graph = NULL;
  return false;
}

void cli_model_free(cli_model *m) {
  ir_graph_free(m->graph);
  free(m->src);
}

int cli_bind_given_dims(const ir_graph *g, const cli_opts *o, int64_t *syms) {
  for (int s = 0; s < g->nsyms; s++) syms[s] = -1;
  for (int d = 0; d < o->ndims; d++) {
    int s = ir_graph_find_sym(g, o->dim_names[d]);
    if (s < 0) {
      char known[512] = "";
      size_t n = 0;
      for (int t = 0; t < g->nsyms && n < sizeof known; t++)
        n += (size_t)snprintf(known + n, sizeof known - n, "%s%s",
                              t ? " " : " (its dims: ", g->syms[t].name);
      if (g->nsyms && n < sizeof known) snprintf(known + n, sizeof known - n, ")");
      cli_error("--dim %s: the model has no dim '%s'%s", o->dim_names[d], o->dim_names[d], known);
      return CLI_USAGE;
    }
    syms[s] = o->dim_values[d];
  }
  return CLI_OK;
}

int cli_bind_dims(const ir_graph *g, const cli_opts *o, const seqrt_tensor *inputs,
                  const bool *given, int64_t *syms) {
  int status = cli_bind_given_dims(g, o, syms);
  if (status) return status;
  bool from_dim[IR_MAX_SYMS] = {0};
  for (int s = 0; s < g->nsyms; s++) from_dim[s] = syms[s] >= 0;
  for (int i = 0; inputs && i < g->ninputs; i++) {
    if (given && !given[i]) continue;
    const ir_value *v = &g->values[g->inputs[i]];
    const seqrt_tensor *t = &inputs[i];
    if (t->rank != v->type.rank) continue; /* the runtime reports the shape error */
    for (int k = 0; k < t->rank; k++) {
      ir_dim d = v->type.dims[k];
      if (d.coef != 1 || d.sym[0] < 0 || d.sym[1] >= 0) continue;
      int s = d.sym[0];
      if (syms[s] < 0) {
        syms[s] = t->shape[k];
      } else if (syms[s] != t->shape[k]) {
        char want[128], got[128];
        int64_t shape[IR_MAX_RANK];
        for (int j = 0; j < t->rank; j++) {
          ir_dim e = v->type.dims[j];
          bool bound = true;
          for (int q = 0; q < IR_DIM_SYMS; q++)
            if (e.sym[q] >= 0 && syms[e.sym[q]] < 0) bound = false;
          shape[j] = bound ? ir_dim_eval(e, syms) : t->shape[j];
        }
        cli_error("input '%s': expected %s, got %s (%s = %lld%s)", v->name,
                  seqrt_shape_str(shape, t->rank, want, sizeof want),
                  seqrt_shape_str(t->shape, t->rank, got, sizeof got), g->syms[s].name,
                  (long long)syms[s], from_dim[s] ? " from --dim" : " from another input");
        return CLI_ERROR;
      }
    }
  }
  for (int s = 0; s < g->nsyms; s++)
    if (syms[s] < 0) syms[s] = g->syms[s].def_value;
  ir_syms_complete(g, syms); /* derived dims (a strided conv's length) from the bound ones */
  return CLI_OK;
}

cg_jit *cli_compile(ir_graph *g, const int64_t *syms, ir_diags *d) {
  return cli_compile_opts(g, syms, d, NULL);
}

cg_jit *cli_compile_opts(ir_graph *g, const int64_t *syms, ir_diags *d, const cli_opts *o) {
  cli_times t;
  return cli_compile_timed(g, syms, d, o, &t);
}

double cli_now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

const char *cli_cache_dir(const cli_opts *o, char *buf, size_t size) {
  const char *off = getenv("SEQC_NO_CACHE");
  if ((o && o->no_cache) || (off && *off && strcmp(off, "0"))) return NULL;
  const char *dir = getenv("SEQC_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"),
             *home = getenv("HOME");
  int n;
  if (dir && *dir)
    n = snprintf(buf, size, "%s", dir);
  else if (xdg && *xdg)
    n = snprintf(buf, size, "%s/seqc", xdg);
  else if (home && *home)
    n = snprintf(buf, size, "%s/.cache/seqc", home);
  else
    return NULL;
  return n > 0 && (size_t)n < size ? buf : NULL;
}

int64_t cli_cache_max_bytes(void) {
  const char *s = getenv("SEQC_CACHE_MAX_MB");
  int64_t mb;
  if (!s || !*s) return 0;
  if (!cli_parse_int(s, &mb) || mb < 1 || mb > ((int64_t)1 << 40)) {
    cli_warning("SEQC_CACHE_MAX_MB wants a positive number of megabytes, got '%s': using 512", s);
    return 0;
  }
  return mb << 20;
}

/*
 * The source key of a whole-model cache entry (cg_options.source_key): a
 * hash of what the graph and its passes are made from here: the model's
 * text (the graph g was lowered from it and nothing else), every base dim,
 * bound or symbolic (-1), and the unroll factor. The target, the versions and the
 * compiler's build id go into the entry's key in codegen.
 */
static void source_key(const ir_graph *g, const int64_t *syms, const ir_diags *d, int unroll,
                       uint8_t key[CG_HASH_BYTES]) {
  static const char tag[] = "seqc source key 1";
  int nsyms = g->nsyms; /* the base dims: codegen completes the derived ones from them */
  size_t n = sizeof tag + d->src_len + sizeof(int64_t) * (size_t)(nsyms + 2);
  unsigned char *buf = malloc(n), *p = buf;
  IR_ASSERT(buf);
  memcpy(p, tag, sizeof tag), p += sizeof tag;
  int64_t head[2] = {nsyms, unroll};
  memcpy(p, head, sizeof head), p += sizeof head;
  memcpy(p, syms, sizeof(int64_t) * (size_t)nsyms), p += sizeof(int64_t) * (size_t)nsyms;
  memcpy(p, d->src, d->src_len);
  cg_sha256(buf, n, key);
  free(buf);
}

/*
 * Whether the session the planned graph g needs at syms (every dim bound)
 * (o->plan when the compile leaves dims to run time) fits the memory limit,
 * before LLVM compiles anything: a model far too large
 * for the machine is refused in milliseconds, not after a compile. The
 * driver checks again with what it adds (random parameters and inputs) once
 * the code exists. Dims left to run time (-1): nothing to check yet.
 */
static bool session_fits(const ir_graph *g, const int64_t *syms, const cli_opts *o) {
  if (o && o->plan) syms = o->plan;
  for (int s = 0; s < g->nsyms; s++)
    if (syms[s] < 0) return true;
  size_t limit = o && o->max_memory ? o->max_memory : seqrt_available_memory();
  if (!limit) return true;
  seqrt_model_desc *desc = cg_desc_new(g, syms);
  seqrt_memory_need need;
  seqrt_error err;
  bool known = desc && seqrt_session_need(desc, syms, &need, &err) == 0;
  cg_desc_free(desc);
  if (!known) return true; /* the driver reports what is wrong with the dims */
  size_t total = need.arena, parts[3] = {need.prepared, need.state, need.scratch};
  for (int k = 0; k < 3; k++) total = total > SIZE_MAX - parts[k] ? SIZE_MAX : total + parts[k];
  if (total <= limit) return true;
  char t[32], a[32], pr[32], st[32], sc[32], l[32];
  cli_error("the run needs at least %s of memory (arena %s, prepared weights %s, state %s, "
            "scratch %s), more than the %s %s",
            seqrt_format_size(total, t, sizeof t), seqrt_format_size(need.arena, a, sizeof a),
            seqrt_format_size(need.prepared, pr, sizeof pr),
            seqrt_format_size(need.state, st, sizeof st),
            seqrt_format_size(need.scratch, sc, sizeof sc), seqrt_format_size(limit, l, sizeof l),
            o && o->max_memory ? "that --max-memory allows"
                               : "the machine has available (--max-memory SIZE sets the limit)");
  return false;
}

cg_jit *cli_compile_timed(ir_graph *g, const int64_t *syms, ir_diags *d, const cli_opts *o,
                          cli_times *t) {
  /* a dim at -1 is left symbolic: the code reads it from the session at run
   * time (runs of other lengths in one session); the others fold in */
  bool all_bound = true;
  for (int s = 0; s < g->nsyms; s++) all_bound &= syms[s] >= 0;
  char dir[4096];
  cg_options opt = {.bind_syms = syms,
                    .opt_level = 3,
                    .cache_dir = cli_cache_dir(o, dir, sizeof dir),
                    .cache_max_bytes = cli_cache_max_bytes()};
  uint8_t from[CG_HASH_BYTES];
  if (opt.cache_dir && d && d->src) {
    source_key(g, syms, d, o ? o->unroll : 0, from);
    opt.source_key = from;
  }
  ir_target target;
  cg_target(&opt, &target);
  pass_ctx ctx = {.diags = d,
                  .syms = all_bound ? syms : NULL,
                  .unroll = o ? o->unroll : 0,
                  .target = &target,
                  .bind_syms = syms};
  memset(t, 0, sizeof *t);
  cli_ticker ticker;
  char what[160];
  snprintf(what, sizeof what, "compiling %s", g->name ? g->name : "the model");
  cli_ticker_start(&ticker, what);
  double t0 = cli_now_ms();
  bool passed = pass_run_pipeline(g, &ctx);
  t->passes_ms = cli_now_ms() - t0;
  bool fits = passed && session_fits(g, syms, o);
  seqrt_error err;
  cg_jit *j = fits ? cg_jit_compile(g, &opt, &err) : NULL;
  cli_ticker_stop(&ticker);
  if (!fits) return NULL;
  if (!j) {
    cli_error("internal: code generation failed: %s", err.msg);
    return NULL;
  }
  t->cg = *cg_jit_stats(j);
  /* one compile a process: this is the "at most once" of the warning */
  if (t->cg.cache_note[0])
    cli_warning("compile cache: %s (compiled without it)", t->cg.cache_note);
  return j;
}

void cli_print_times(const cli_times *t) {
  const cg_stats *c = &t->cg;
  double total = t->frontend_ms + t->passes_ms + c->ir_ms + c->optimize_ms + c->machine_ms +
                 c->cache_ms + c->link_ms;
  fprintf(stderr,
          "seqc: compile: frontend %.1f ms, passes %.1f ms, LLVM IR %.1f ms, LLVM optimization "
          "%.1f ms, machine code %.1f ms, cache %.1f ms (%s), link/load %.1f ms%s; total %.1f ms\n",
          t->frontend_ms, t->passes_ms, c->ir_ms, c->optimize_ms, c->machine_ms, c->cache_ms,
          !c->cache_used ? "not used"
          : c->model_hit ? "hit, whole model"
          : c->cache_hit ? "hit"
                         : "miss",
          c->link_ms, c->gemm_library ? " (precompiled GEMMs)" : "", total);
}

/* splitmix64: small, reproducible */
static uint64_t next_random(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* smallest embedding table that input value v indexes, 10 if none */
static int64_t index_limit(const ir_graph *g, int v, const int64_t *syms) {
  int64_t limit = -1;
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead || n->op != IR_OP_EMBEDDING || n->inputs[1] != v) continue;
    int64_t rows = ir_dim_eval(g->values[n->inputs[0]].type.dims[0], syms);
    if (limit < 0 || rows < limit) limit = rows;
  }
  return limit > 0 ? limit : 10;
}

/* whether input value v is read as a key padding mask (SPEC 11): by a layer
 * node before decompose, or by an attention node after it */
static bool is_padding_mask(const ir_graph *g, int v) {
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    if (ir_is_tf_layer(n->op)) {
      ir_tf_layout r = ir_tf_layout_of(n);
      if ((r.mask >= 0 && n->inputs[r.mask] == v) ||
          (r.memory_mask >= 0 && n->inputs[r.memory_mask] == v))
        return true;
    }
    const ir_attr *kp = ir_get_attr(n, "key_padding");
    if (n->op == IR_OP_ATTENTION && kp && kp->i && n->inputs[3] == v) return true;
  }
  return false;
}

/* a padded batch as a user has one: row b valid for a length drawn uniformly
 * from [ceil(S/4), S] (one draw a row), padding (1) after it, so position 0
 * (BERT's [CLS]) never is; bench/bench_transformer.sh's padded workload */
static void random_padding(seqrt_tensor *t, uint64_t *state) {
  int64_t B = t->shape[0], S = t->shape[1], shortest = (S + 3) / 4;
  for (int64_t b = 0; b < B; b++) {
    uint64_t r = next_random(state);
    int64_t len = S > 0 ? shortest + (int64_t)(r % (uint64_t)(S - shortest + 1)) : 0;
    for (int64_t j = 0; j < S; j++) {
      if (t->dtype == SEQRT_I32)
        ((int32_t *)t->data)[b * S + j] = j >= len;
      else
        ((int64_t *)t->data)[b * S + j] = j >= len;
    }
  }
}

/* T of the sequence that input value v gives the lengths of (SPEC 11), 0 if none: its
 * random values are then lengths in [1, T] */
static int64_t length_limit(const ir_graph *g, int v, const int64_t *syms) {
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *n = &g->nodes[i];
    const ir_attr *a = ir_get_attr(n, "lengths");
    if (n->dead || !a || !a->i) continue;
    int at = n->op == IR_OP_SCAN ? (int)(ir_attr_int(n, "nover") + ir_attr_int(n, "nstate"))
                                 : ir_rnn_layout_of(n).lengths;
    if (at >= 0 && at < n->ninputs && n->inputs[at] == v)
      return ir_dim_eval(g->values[n->inputs[0]].type.dims[1], syms);
  }
  return 0;
}

void cli_random_inputs(const ir_graph *g, const int64_t *syms, uint64_t seed, seqrt_tensor *t) {
  uint64_t state = seed;
  for (int i = 0; i < g->ninputs; i++) {
    const ir_value *v = &g->values[g->inputs[i]];
    t[i].dtype = (seqrt_dtype)v->type.dtype;
    t[i].rank = v->type.rank;
    for (int k = 0; k < v->type.rank; k++) t[i].shape[k] = ir_dim_eval(v->type.dims[k], syms);
    int64_t n = seqrt_tensor_numel(&t[i]);
    t[i].data = malloc((size_t)(n > 0 ? n : 1) * seqrt_dtype_size(t[i].dtype));
    if (t[i].rank == 2 && v->type.dtype != IR_F32 && is_padding_mask(g, g->inputs[i])) {
      random_padding(&t[i], &state);
      continue;
    }
    int64_t steps = v->type.dtype == IR_F32 ? 0 : length_limit(g, g->inputs[i], syms);
    /* lengths: uniform in [1, T]; indices: uniform in [0, the smallest table) */
    int64_t first = steps > 0 ? 1 : 0;
    int64_t limit = steps > 0                 ? steps
                    : v->type.dtype == IR_F32 ? 0
                                              : index_limit(g, g->inputs[i], syms);
    for (int64_t k = 0; k < n; k++) {
      uint64_t r = next_random(&state);
      if (t[i].dtype == SEQRT_F32)
        ((float *)t[i].data)[k] = (float)((double)(r >> 11) / 9007199254740992.0 * 2.0 - 1.0);
      else if (t[i].dtype == SEQRT_I32)
        ((int32_t *)t[i].data)[k] = (int32_t)(first + (int64_t)(r % (uint64_t)limit));
      else
        ((int64_t *)t[i].data)[k] = first + (int64_t)(r % (uint64_t)limit);
    }
  }
}

/* the count is the IR's (ir/flops.c): each op's rule is in ops.def */
double cli_count_flops(const ir_graph *g, const int64_t *syms) { return ir_graph_flops(g, syms); }
