/*
 * fuzz_cli.c: bytes as a command line: the first line names the subcommand,
 * each further line is one argument. Only parsing is fuzzed: `check`, `ir`
 * and `ops` run in a folder holding a tiny model m.yaml (they compile
 * nothing, so they may go all the way), the others in an empty folder, so
 * whatever model they are given cannot be read and they stop right after
 * their arguments were parsed, before any compile. The status must be one
 * of SPEC 6's.
 */
#include "fuzz.h"

#include <limits.h>

#include "cli.h"

static const char tiny_model[] =
    "seqc: 1\n"
    "name: tiny\n"
    "dims: {B: 2, T: 3}\n"
    "inputs:\n"
    "  x: {dtype: f32, shape: [B, T, 4]}\n"
    "outputs: [y]\n"
    "nodes:\n"
    "  h: {op: linear, input: x, out_features: 8}\n"
    "  y: {op: softmax, input: h}\n";

/* the two working folders (see above), made by LLVMFuzzerInitialize */
static char with_model[PATH_MAX], empty[PATH_MAX];

static const struct {
  const char *name;         /* the subcommand */
  int (*run)(int, char **); /* cmd_NAME */
  bool reads_model;         /* runs where m.yaml exists */
} commands[] = {
    {"check", cmd_check, true},     {"ir", cmd_ir, true},
    {"ops", cmd_ops, true},         {"graph", cmd_graph, false},
    {"analyze", cmd_analyze, false}, {"run", cmd_run, false},
    {"bench", cmd_bench, false},    {"compile", cmd_compile, false},
    {"generate", cmd_generate, false},
};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  char base[] = "/tmp/seqc-fuzz-cli-XXXXXX";
  FUZZ_CHECK(mkdtemp(base));
  snprintf(with_model, sizeof with_model, "%s/model", base);
  snprintf(empty, sizeof empty, "%s/empty", base);
  FUZZ_CHECK(mkdir(with_model, 0700) == 0 && mkdir(empty, 0700) == 0);
  char path[PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/m.yaml", with_model);
  FILE *f = fopen(path, "w");
  FUZZ_CHECK(f && fputs(tiny_model, f) >= 0 && fclose(f) == 0);
  /* no compile cache: nothing is compiled, and nothing may be written */
  setenv("SEQC_NO_CACHE", "1", 1);
  setenv("SEQC_PROGRESS", "0", 1);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* the lines, each NUL-terminated, in one exact-size copy */
  char *text = malloc(size + 1);
  FUZZ_CHECK(text);
  memcpy(text, data, size);
  text[size] = '\0';
  int argc = 0;
  char **argv = malloc((size + 2) * sizeof *argv);
  FUZZ_CHECK(argv);
  for (char *p = text;;) {
    argv[argc++] = p;
    char *nl = memchr(p, '\n', (size_t)(text + size - p));
    if (!nl) break;
    *nl = '\0';
    p = nl + 1;
  }
  argv[argc] = NULL;
  for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++) {
    if (strcmp(argv[0], commands[c].name)) continue;
    FUZZ_CHECK(chdir(commands[c].reads_model ? with_model : empty) == 0);
    int status = commands[c].run(argc, argv);
    FUZZ_CHECK(status == CLI_OK || status == CLI_ERROR || status == CLI_USAGE);
    break;
  }
  free(argv);
  free(text);
  return 0;
}
