/* compile.c: `seqc compile`: a model to an object file, shared library, assembly or LLVM IR. */
#include <ctype.h>
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

extern char **environ;

static const char help[] =
    "usage: seqc compile MODEL.yaml -o OUT [--header MODEL.h] [--emit obj|shared|asm|llvm]\n"
    "                    [--target-cpu CPU] [--dim N=V]... [--embed-weights W.safetensors]\n"
    "                    [--unroll N] [--strict] [--no-cache] [--verbose]\n"
    "\n"
    "Compiles MODEL.yaml ahead of time. The output holds the model's code and its\n"
    "descriptor `const seqrt_model_desc seqc_model_NAME` (NAME from `name:`), which a\n"
    "program passes to seqrt_session_new after linking OUT with the runtime (-lseqrt).\n"
    "  -o OUT             file to write\n"
    "  --header H         also write C declarations: the descriptor, dims, inputs, outputs\n"
    "  --emit KIND        obj (default): relocatable object; shared: a shared library\n"
    "                     that `seqrt-run` runs; asm: assembly; llvm: optimized LLVM IR\n"
    "  --target-cpu CPU   LLVM CPU name (x86-64-v3, znver4, ...; default: this machine)\n"
    "  --dim N=V          fix dim N at compile time (others stay symbolic: the session\n"
    "                     binds them, from its syms or from the inputs' shapes)\n"
    "  --embed-weights W  carry the parameters of W inside the output, so the program\n"
    "                     needs no weights file\n"
    "  --unroll N         scan steps per loop iteration (default: chosen per scan)\n"
    "  --strict           parameters in W that the model does not use are errors\n"
    "  --no-cache         compile without the compile cache (neither read nor written;\n"
    "                     objects with --embed-weights are never cached)\n"
    "  --verbose          print the time of each compile stage, and whether the\n"
    "                     cache hit, on stderr\n";

typedef struct compile_args {
  cli_opts o;          /* shared options (--dim, --strict) */
  const char *out;     /* -o */
  const char *header;  /* --header */
  const char *cpu;     /* --target-cpu, NULL = host */
  const char *weights; /* --embed-weights */
  const char *emit;    /* --emit, as given */
  cg_emit_kind kind;   /* what cg_object_write writes */
  bool shared;         /* --emit shared: link the object into a .so */
  bool verbose;        /* --verbose: stage times on stderr */
} compile_args;

static int parse(int argc, char **argv, compile_args *a) {
  memset(a, 0, sizeof *a);
  a->emit = "obj";
  for (int i = 1; i < argc; i++) {
    cli_arg c = cli_parse_common(argc, argv, &i, &a->o, help);
    if (c == CLI_ARG_BAD) return CLI_USAGE;
    if (c == CLI_ARG_HELP) return -1;
    if (c == CLI_ARG_TAKEN) continue;
    const char *s = argv[i];
    if (!strcmp(s, "--verbose") || !strcmp(s, "-v")) {
      a->verbose = true;
      continue;
    }
    const char **str = !strcmp(s, "-o") || !strcmp(s, "--output") ? &a->out
                       : !strcmp(s, "--header")                   ? &a->header
                       : !strcmp(s, "--emit")                     ? &a->emit
                       : !strcmp(s, "--target-cpu")               ? &a->cpu
                       : !strcmp(s, "--embed-weights")            ? &a->weights
                                                                  : NULL;
    if (str && i + 1 >= argc) return cli_usage_error("compile", "%s needs a value", s);
    if (str)
      *str = argv[++i];
    else if (s[0] == '-')
      return cli_usage_error("compile", "unknown option '%s'", s);
    else if (!a->o.model)
      a->o.model = s;
    else
      return cli_usage_error("compile", "unexpected argument '%s'", s);
  }
  if (!a->o.model) return cli_usage_error("compile", "no model file given");
  if (!a->out) return cli_usage_error("compile", "no output file given (-o OUT)");
  if (!strcmp(a->emit, "obj")) {
    a->kind = CG_EMIT_OBJ;
  } else if (!strcmp(a->emit, "shared")) {
    a->kind = CG_EMIT_OBJ;
    a->shared = true;
  } else if (!strcmp(a->emit, "asm")) {
    a->kind = CG_EMIT_ASM;
  } else if (!strcmp(a->emit, "llvm")) {
    a->kind = CG_EMIT_LLVM;
  } else {
    return cli_usage_error("compile", "--emit wants obj, shared, asm or llvm, got '%s'", a->emit);
  }
  if (a->cpu && (!strcmp(a->cpu, "native") || !strcmp(a->cpu, "host"))) a->cpu = NULL;
  if (a->cpu && !cg_cpu_known(a->cpu))
    return cli_usage_error("compile", "unknown target CPU '%s' (see `llc -mcpu=help`)", a->cpu);
  return CLI_OK;
}

/* ---- embedded weights ---- */

/* the parameters of the planned graph, read from the weights file and checked */
typedef struct embed_set {
  seqrt_st_file *file;          /* the weights (keeps the tensors' memory) */
  seqrt_embedded_param *params; /* one per distinct parameter name */
  int n;                        /* number of params */
} embed_set;

static int load_embedded(const ir_graph *g, const int64_t *syms, const compile_args *a,
                         embed_set *e) {
  seqrt_error err;
  e->file = seqrt_st_open(a->weights, &err);
  if (!e->file) return cli_error("%s", err.msg); /* the message names the file */
  e->params = calloc((size_t)g->nbuffers + 1, sizeof *e->params);
  bool *used = calloc((size_t)seqrt_st_count(e->file) + 1, sizeof *used);
  IR_ASSERT(e->params && used);
  int status = CLI_OK;
  for (int b = 0; b < g->nbuffers; b++) {
    if (g->buffers[b].role != SEQRT_ROLE_PARAM) continue;
    const ir_value *v = &g->values[g->buffers[b].value];
    bool seen = false;
    for (int i = 0; i < e->n && !seen; i++) seen = !strcmp(e->params[i].name, v->name);
    if (seen) continue;
    int k = seqrt_st_find(e->file, v->name);
    seqrt_embedded_param *p = &e->params[e->n];
    /* the shape when every dim of it is known now; the session checks the rest */
    bool known = true;
    int64_t want[IR_MAX_RANK];
    for (int j = 0; known && j < v->type.rank; j++) {
      ir_dim d = v->type.dims[j];
      for (int q = 0; q < IR_DIM_SYMS; q++)
        if (d.sym[q] >= 0 && syms[d.sym[q]] < 0) known = false;
      if (known) want[j] = ir_dim_eval(d, syms);
    }
    char ws[128], gs[128];
    if (known)
      seqrt_shape_str(want, v->type.rank, ws, sizeof ws);
    else
      snprintf(ws, sizeof ws, "(rank %d)", v->type.rank);
    const char *dt = seqrt_dtype_name((seqrt_dtype)v->type.dtype);
    if (k < 0) {
      status =
          cli_error("%s: missing parameter '%s' (expected %s %s)", a->weights, v->name, dt, ws);
      continue;
    }
    used[k] = true;
    if (seqrt_st_get(e->file, k, &p->tensor, &err)) {
      status = cli_error("%s", err.msg);
      continue;
    }
    bool shape_ok = p->tensor.rank == v->type.rank;
    for (int j = 0; known && shape_ok && j < v->type.rank; j++)
      shape_ok = want[j] == p->tensor.shape[j];
    if ((int)p->tensor.dtype != (int)v->type.dtype || !shape_ok) {
      status = cli_error("%s: parameter '%s': expected %s %s, got %s %s", a->weights, v->name, dt,
                         ws, seqrt_dtype_name(p->tensor.dtype),
                         seqrt_shape_str(p->tensor.shape, p->tensor.rank, gs, sizeof gs));
      continue;
    }
    p->name = v->name;
    e->n++;
  }
  for (int k = 0; k < seqrt_st_count(e->file); k++) {
    if (used[k]) continue;
    const char *fmt = "%s: tensor '%s' is not a parameter of the model";
    if (a->o.strict)
      status = cli_error(fmt, a->weights, seqrt_st_name(e->file, k));
    else
      cli_warning(fmt, a->weights, seqrt_st_name(e->file, k));
  }
  free(used);
  return status;
}

/* ---- header ---- */

/* s as a C identifier: other characters become '_' */
static void ident(FILE *f, const char *s, bool upper) {
  for (; *s; s++) {
    int c = (unsigned char)*s;
    fputc(isalnum(c) ? (upper ? toupper(c) : c) : '_', f);
  }
}

/* "[B, T, 64]" from a symbolic shape */
static void print_shape(FILE *f, const seqrt_model_desc *d, const seqrt_buffer_desc *b) {
  fputc('[', f);
  for (int k = 0; k < b->rank; k++) {
    seqrt_dim x = b->shape[k];
    bool any = false;
    if (k) fputs(", ", f);
    if (x.coef != 1 || (x.sym[0] < 0 && x.sym[1] < 0)) {
      fprintf(f, "%lld", (long long)x.coef);
      any = true;
    }
    bool alone = x.coef == 1 && x.sym[1] < 0;
    for (int j = 0; j < 2; j++) {
      int s = x.sym[j];
      if (s < 0) continue;
      if (s < d->nsyms) /* a derived dim is its expression, in a product parenthesized */
        fprintf(f, "%s%s", any ? "*" : "", d->sym_names[s]);
      else
        fprintf(f, alone ? "%s%s" : "%s(%s)", any ? "*" : "", d->derived[s - d->nsyms].name);
      any = true;
    }
  }
  fputc(']', f);
}

/* The enum of the model's inputs or outputs (WHAT: "input" or "output") in
 * the order seqrt_session_run takes them: an enumerator a buffer, named
 * NAMES[i] (NULL: the buffer's own name), its dtype and shape in a comment,
 * then their number. */
static void print_buffers(FILE *f, const seqrt_model_desc *d, const char *what, int n,
                          const int32_t *ids, const char *const *names) {
  fprintf(f, "/* %ss: seqrt_session_run's %ss[], in this order */\nenum {\n", what, what);
  for (int i = 0; i < n; i++) {
    const seqrt_buffer_desc *b = &d->bufs[ids[i]];
    const char *bname = names ? names[i] : b->name;
    fputs("  SEQC_", f);
    ident(f, d->name, true);
    fputc('_', f);
    ident(f, what, true);
    fputc('_', f);
    ident(f, bname, false);
    fprintf(f, " = %d, /* \"%s\" %s ", i, bname, seqrt_dtype_name((seqrt_dtype)b->dtype));
    print_shape(f, d, b);
    fputs(" */\n", f);
  }
  fputs("  SEQC_", f);
  ident(f, d->name, true);
  fputs("_N", f);
  ident(f, what, true);
  fprintf(f, "S = %d\n};\n\n", n);
}

static int write_header(const char *path, const compile_args *a, const seqrt_model_desc *d,
                        const char *symbol, int nembedded) {
  FILE *f = fopen(path, "w");
  if (!f) return cli_error("%s: cannot write: %s", path, strerror(errno));
  const char *name = d->name;
  fprintf(f, "/* Generated by `seqc compile` from %s: do not edit. */\n", a->o.model);
  fputs("#ifndef SEQC_MODEL_", f);
  ident(f, name, true);
  fputs("_H\n#define SEQC_MODEL_", f);
  ident(f, name, true);
  fputs("_H\n\n#include <seqrt.h>\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n", f);
  fprintf(f, "/* the model: seqrt_session_new(&%s, syms, nthreads, &err) */\n", symbol);
  fprintf(f, "extern const seqrt_model_desc %s;\n\n", symbol);
  fprintf(f, "/* parameters carried inside the object (0: load them from a weights file) */\n");
  fputs("#define SEQC_", f);
  ident(f, name, true);
  fprintf(f, "_EMBEDDED_PARAMS %d\n\n", nembedded);

  fputs("/* dims: index into seqrt_session_new's syms[] (-1 there = from the inputs) */\nenum {\n",
        f);
  for (int i = 0; i < d->nsyms; i++) {
    fputs("  SEQC_", f);
    ident(f, name, true);
    fputs("_DIM_", f);
    ident(f, d->sym_names[i], false);
    fprintf(f, " = %d, /* ", i);
    if (d->sym_bound[i] >= 0)
      fprintf(f, "compiled for %lld", (long long)d->sym_bound[i]);
    else
      fprintf(f, "symbolic, YAML default %lld", (long long)d->sym_defaults[i]);
    fputs(" */\n", f);
  }
  fputs("  SEQC_", f);
  ident(f, name, true);
  fprintf(f, "_NDIMS = %d\n};\n\n", d->nsyms);

  print_buffers(f, d, "input", d->ninputs, d->inputs, NULL);
  print_buffers(f, d, "output", d->noutputs, d->outputs, d->output_names);
  fputs("#ifdef __cplusplus\n}\n#endif\n#endif\n", f);
  if (fclose(f)) return cli_error("%s: cannot write: %s", path, strerror(errno));
  return CLI_OK;
}

/* ---- shared library ---- */

/* links obj into the shared library out with $CC (default cc); seqrt_* stay
 * undefined, resolved by the program that dlopens it (seqrt-run) */
static int link_shared(const char *obj, const char *out) {
  const char *cc = getenv("CC");
  if (!cc || !*cc) cc = "cc";
  char *argv[] = {(char *)cc, "-shared", "-o", (char *)out, (char *)obj, "-lm", NULL};
  pid_t pid;
  int rc = posix_spawnp(&pid, cc, NULL, NULL, argv, environ);
  if (rc) return cli_error("cannot run the linker '%s': %s", cc, strerror(rc));
  int ws;
  if (waitpid(pid, &ws, 0) < 0 || !WIFEXITED(ws) || WEXITSTATUS(ws))
    return cli_error("linking %s with '%s' failed", out, cc);
  return CLI_OK;
}

int cmd_compile(int argc, char **argv) {
  compile_args a;
  int status = parse(argc, argv, &a);
  if (status) return status < 0 ? CLI_OK : status;

  cli_times times = {0};
  double since = cli_now_ms();
  cli_model m;
  if (!cli_model_load(&m, a.o.model, a.o.strict)) {
    cli_model_free(&m);
    return CLI_ERROR;
  }
  ir_graph *g = m.graph;
  fe_warn_pieces(g, &m.diags);
  times.frontend_ms = cli_now_ms() - since;
  if (m.diags.nerrors) { /* --strict */
    cli_model_free(&m);
    return CLI_ERROR;
  }
  int64_t syms[IR_MAX_SYMS];
  embed_set emb = {0};
  char symbol[256], tmp[] = "/tmp/seqc-XXXXXX.o";
  bool have_tmp = false;
  status = cli_bind_given_dims(g, &a.o, syms);
  if (status) goto done;
  bool all_bound = true;
  for (int s = 0; s < g->nsyms; s++) all_bound &= syms[s] >= 0;
  char cache[4096];
  cg_options opt = {.bind_syms = syms,
                    .cpu = a.cpu,
                    .opt_level = 3,
                    .cache_dir = cli_cache_dir(&a.o, cache, sizeof cache),
                    .cache_max_bytes = cli_cache_max_bytes()};
  ir_target target;
  cg_target(&opt, &target);
  pass_ctx ctx = {.diags = &m.diags,
                  .syms = all_bound ? syms : NULL,
                  .unroll = a.o.unroll,
                  .target = &target,
                  .bind_syms = syms};
  since = cli_now_ms();
  if (!pass_run_pipeline(g, &ctx)) {
    status = CLI_ERROR;
    goto done;
  }
  times.passes_ms = cli_now_ms() - since;
  if (a.weights && (status = load_embedded(g, syms, &a, &emb))) goto done;

  snprintf(symbol, sizeof symbol, "seqc_model_%s", g->name ? g->name : "model");
  cg_object_options oo = {.kind = a.kind,
                          .symbol = symbol,
                          .alias = a.shared ? SEQRT_SHARED_SYMBOL : NULL,
                          .params = emb.params,
                          .nparams = emb.n,
                          .stats = &times.cg};
  const char *path = a.out;
  if (a.shared) {
    int fd = mkstemps(tmp, 2);
    if (fd < 0) {
      status = cli_error("cannot create a temporary object: %s", strerror(errno));
      goto done;
    }
    close(fd);
    have_tmp = true;
    path = tmp;
  }
  seqrt_error err;
  if (cg_object_write(g, &opt, &oo, path, &err)) {
    status = cli_error("%s", err.msg);
    goto done;
  }
  if (times.cg.cache_note[0])
    cli_warning("compile cache: %s (compiled without it)", times.cg.cache_note);
  since = cli_now_ms();
  if (a.shared && (status = link_shared(tmp, a.out))) goto done;
  times.cg.link_ms = cli_now_ms() - since;
  if (a.verbose) cli_print_times(&times);
  if (a.header) {
    seqrt_model_desc *d = cg_desc_new(g, syms);
    status = write_header(a.header, &a, d, symbol, emb.n);
    cg_desc_free(d);
  }
done:
  if (have_tmp) unlink(tmp);
  free(emb.params);
  seqrt_st_close(emb.file);
  cli_model_free(&m);
  return status;
}
