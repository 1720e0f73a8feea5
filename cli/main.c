/* main.c: `seqc COMMAND ...` dispatch and top-level help. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: seqc COMMAND MODEL.yaml [options]\n"
    "\n"
    "commands:\n"
    "  check   validate a model; print shapes, parameter count, FLOPs\n"
    "  ir      print the IR as text (--print-after PASS|all)\n"
    "  run     compile and run a model on weights and inputs from safetensors files\n"
    "  bench   compile once, run repeatedly on random data, report timings\n"
    "  compile compile ahead of time to an object, shared library, asm or LLVM IR\n"
    "\n"
    "`seqc COMMAND --help` describes a command's options.\n"
    "exit status: 0 success, 1 error in the model or data, 2 usage\n";

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage, stderr);
    return CLI_USAGE;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    fputs(usage, stdout);
    return CLI_OK;
  }
  if (!strcmp(cmd, "--version")) {
    puts("seqc 0.1 (model language version 1)");
    return CLI_OK;
  }
  if (!strcmp(cmd, "check")) return cmd_check(argc - 1, argv + 1);
  if (!strcmp(cmd, "ir")) return cmd_ir(argc - 1, argv + 1);
  if (!strcmp(cmd, "run")) return cmd_run(argc - 1, argv + 1);
  if (!strcmp(cmd, "bench")) return cmd_bench(argc - 1, argv + 1);
  if (!strcmp(cmd, "compile")) return cmd_compile(argc - 1, argv + 1);
  fprintf(stderr, "seqc: unknown command '%s'\n\n%s", cmd, usage);
  return CLI_USAGE;
}
