/*
 * graph.c: `seqc graph`: the IR as a picture. ir/dot.c writes the DOT text;
 * an .svg or .png is made by Graphviz's `dot` when it is on PATH (Debian's
 * graphviz package), else the DOT text is written beside it with a warning.
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

extern char **environ;

static const char help[] =
    "usage: seqc graph MODEL.yaml [--after PASS|lowered] [-o FILE.dot|.svg|.png] [--dim N=V]...\n"
    "\n"
    "Draws the model's IR: a box per node (its name, op and result types), the\n"
    "nodes of a fused kernel or a scan body in a cluster, the parameters a node\n"
    "reads as its tooltip (hover text in an SVG). Without --after: after the whole\n"
    "pipeline; `lowered`: as the frontend lowered it; else after the named pass.\n"
    "Without -o the DOT text goes to stdout. An .svg or .png needs Graphviz's\n"
    "`dot` (apt-get install graphviz); without it the DOT text is written to\n"
    "FILE.dot instead, with a warning.\n"
    "passes, in order:";

/* whether `dot` is an executable file in a folder of PATH */
static bool have_dot(void) {
  const char *path = getenv("PATH");
  while (path && *path) {
    const char *end = strchr(path, ':');
    size_t n = end ? (size_t)(end - path) : strlen(path);
    char file[4096];
    if (n > 0 && n < sizeof file - 8) {
      snprintf(file, sizeof file, "%.*s/dot", (int)n, path);
      if (access(file, X_OK) == 0) return true;
    }
    path = end ? end + 1 : NULL;
  }
  return false;
}

/* the graph's DOT text into path */
static bool write_dot(const ir_graph *g, const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) return cli_error("%s: cannot write: %m", path) == CLI_OK;
  ir_print_dot(g, f);
  if (fclose(f) != 0) return cli_error("%s: cannot write: %m", path) == CLI_OK;
  return true;
}

/* `dot -TFORMAT -o out in`; its exit status */
static int run_dot(const char *format, const char *in, const char *out) {
  char flag[16];
  snprintf(flag, sizeof flag, "-T%s", format);
  char *argv[] = {"dot", flag, "-o", (char *)out, (char *)in, NULL};
  pid_t pid;
  if (posix_spawnp(&pid, "dot", NULL, NULL, argv, environ) != 0) return -1;
  int status;
  if (waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* the picture of g in out (NULL: DOT to stdout) */
static int draw(const ir_graph *g, const char *out) {
  if (!out) {
    ir_print_dot(g, stdout);
    return CLI_OK;
  }
  const char *dot = strrchr(out, '.');
  const char *ext = dot ? dot + 1 : "";
  if (!strcmp(ext, "dot")) return write_dot(g, out) ? CLI_OK : CLI_ERROR;
  size_t stem = strlen(out) - strlen(ext) - 1;
  char text[4096];
  if (strlen(out) + 8 > sizeof text) return cli_error("%s: file name too long", out);
  if (!have_dot()) {
    snprintf(text, sizeof text, "%.*s.dot", (int)stem, out);
    if (!write_dot(g, text)) return CLI_ERROR;
    cli_warning("Graphviz's `dot` is not installed (apt-get install graphviz): "
                "wrote the DOT text to %s instead of %s",
                text, out);
    return CLI_OK;
  }
  snprintf(text, sizeof text, "%s.tmp%ld.dot", out, (long)getpid());
  if (!write_dot(g, text)) return CLI_ERROR;
  int status = run_dot(ext, text, out);
  remove(text);
  if (status != 0) return cli_error("%s: Graphviz's dot failed (exit status %d)", out, status);
  return CLI_OK;
}

int cmd_graph(int argc, char **argv) {
  cli_opts o = {0};
  const char *after = NULL, *out = NULL;
  for (int i = 1; i < argc; i++) {
    cli_arg c = cli_parse_common(argc, argv, &i, &o, help);
    if (c == CLI_ARG_BAD) return CLI_USAGE;
    if (c == CLI_ARG_HELP) { /* the help ends with the list of passes */
      cli_print_passes();
      return CLI_OK;
    }
    if (c == CLI_ARG_TAKEN) continue;
    const char *s = argv[i];
    if (!strcmp(s, "--after") || !strcmp(s, "-o") || !strcmp(s, "--output")) {
      if (i + 1 >= argc) return cli_usage_error("graph", "%s needs a value", s);
      *(!strcmp(s, "--after") ? &after : &out) = argv[++i];
      continue;
    }
    if (cli_model_arg("graph", &o, s) != CLI_OK) return CLI_USAGE;
  }
  if (!o.model) return cli_usage_error("graph", "no model file given");
  bool lowered = after && !strcmp(after, "lowered");
  if (after && !lowered && (!pass_name_known(after) || !strcmp(after, "all")))
    return cli_unknown_pass("graph", after, "lowered");
  if (out) {
    const char *dot = strrchr(out, '.');
    if (!dot || (strcmp(dot, ".dot") && strcmp(dot, ".svg") && strcmp(dot, ".png")))
      return cli_usage_error("graph", "-o %s: expected a file ending in .dot, .svg or .png", out);
  }
  cli_model m;
  if (!cli_model_load(&m, o.model, o.strict)) {
    cli_model_free(&m);
    return CLI_ERROR;
  }
  int64_t syms[IR_MAX_SYMS];
  int status = cli_bind_dims(m.graph, &o, NULL, NULL, syms);
  if (status == CLI_OK && !lowered) {
    ir_target target; /* the schedule this machine's JIT would use */
    cg_target(&(cg_options){.bind_syms = o.ndims ? syms : NULL}, &target);
    pass_ctx ctx = {.diags = &m.diags,
                    .syms = o.ndims ? syms : NULL,
                    .stop_after = after,
                    .target = &target};
    if (!pass_run_pipeline(m.graph, &ctx)) status = CLI_ERROR;
  }
  if (status == CLI_OK) status = draw(m.graph, out);
  cli_model_free(&m);
  return status;
}
