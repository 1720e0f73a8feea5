/* main.c: `seqc COMMAND ...` dispatch, top-level help and `seqc help COMMAND`. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: seqc COMMAND [MODEL.yaml] [options]\n"
    "\n"
    "commands:\n"
    "  check   validate a model; print its nodes, shapes, parameters, FLOPs\n"
    "  ir      print the IR as text (--print-after PASS|all)\n"
    "  graph   draw the IR as a picture (DOT, SVG or PNG with Graphviz)\n"
    "  analyze per layer: FLOPs in n, sequential operations, longest path (--measure)\n"
    "  run     compile and run a model on weights and inputs from safetensors files\n"
    "  bench   compile once, run repeatedly on random data, report timings\n"
    "  compile compile ahead of time to an object, shared library, asm or LLVM IR\n"
    "  generate continue a prompt token by token with a language model\n"
    "  ops     list the ops a model file may use, with their keys\n"
    "  help    `seqc help COMMAND` describes a command's options\n"
    "\n"
    "`seqc COMMAND --help` also describes a command's options. The model language\n"
    "is described in docs/language.md.\n"
    "exit status: 0 success, 1 error in the model or data, 2 usage\n";

/* every subcommand; its function gets argv from the command's name on */
static const struct {
  const char *name;              /* as typed after `seqc` */
  int (*run)(int, char **);      /* cmd_NAME */
} commands[] = {
    {"check", cmd_check}, {"ir", cmd_ir},           {"run", cmd_run},
    {"bench", cmd_bench}, {"compile", cmd_compile}, {"ops", cmd_ops},
    {"generate", cmd_generate}, {"graph", cmd_graph}, {"analyze", cmd_analyze},
};
enum { NCOMMANDS = sizeof commands / sizeof commands[0] };

static int find_command(const char *name) {
  for (int i = 0; i < NCOMMANDS; i++)
    if (!strcmp(commands[i].name, name)) return i;
  return -1;
}

/* unknown command: a usage error, with the closest command if one is close */
static int unknown_command(const char *name) {
  fe_suggest s;
  fe_suggest_init(&s, name);
  for (int i = 0; i < NCOMMANDS; i++) fe_suggest_words(&s, commands[i].name);
  fe_suggest_try(&s, "help", 4);
  /* the formatter's line and its hint, like every usage error; the list of
   * commands is one `seqc --help` away */
  return cli_usage_error(NULL, "unknown command '%s'%s", name, fe_suggest_hint(&s));
}

/* `seqc help [COMMAND]`: the command's own help, as `seqc COMMAND --help` prints it */
static int help_command(int argc, char **argv) {
  if (argc < 3 || !strcmp(argv[2], "help")) {
    fputs(usage, stdout);
    return CLI_OK;
  }
  if (argc > 3) return cli_usage_error("help", "unexpected argument '%s'", argv[3]);
  int c = find_command(argv[2]);
  if (c < 0) return unknown_command(argv[2]);
  char flag[] = "--help";
  char *args[] = {argv[2], flag, NULL};
  return commands[c].run(2, args);
}

int main(int argc, char **argv) {
  if (argc < 2) return cli_usage_error(NULL, "no command given (check, run, compile, ...)");
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
    fputs(usage, stdout);
    return CLI_OK;
  }
  if (!strcmp(cmd, "help")) return help_command(argc, argv);
  if (!strcmp(cmd, "--version")) {
    puts("seqc 0.1 (model language version 1)");
    return CLI_OK;
  }
  int c = find_command(cmd);
  if (c < 0) return unknown_command(cmd);
  return commands[c].run(argc - 1, argv + 1);
}
