/* ir.c: `seqc ir`: print the IR as text. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: seqc ir MODEL.yaml [--print-after PASS|all] [--dim N=V]...\n"
    "\n"
    "Prints the model's IR. Without --print-after: as the frontend lowered it\n"
    "and after the whole pipeline. With it: after the named pass, or after every\n"
    "pass with `all`. Dims stay symbolic unless --dim binds them.\n"
    "passes, in order:";

int cmd_ir(int argc, char **argv) {
  cli_opts o = {0};
  const char *after = NULL;
  for (int i = 1; i < argc; i++) {
    cli_arg c = cli_parse_common(argc, argv, &i, &o, help);
    if (c == CLI_ARG_BAD) return CLI_USAGE;
    if (c == CLI_ARG_HELP) { /* the help ends with the list of passes */
      for (const pass_info *p = pass_pipeline; p->name; p++) printf(" %s", p->name);
      printf("\n");
      return CLI_OK;
    }
    if (c == CLI_ARG_TAKEN) continue;
    const char *s = argv[i];
    if (!strcmp(s, "--print-after")) {
      if (i + 1 >= argc) return cli_usage_error("ir", "--print-after needs a pass name");
      after = argv[++i];
      if (!pass_name_known(after)) {
        fe_suggest sg;
        fe_suggest_init(&sg, after);
        for (const pass_info *p = pass_pipeline; p->name; p++) fe_suggest_words(&sg, p->name);
        char names[512] = "";
        size_t n = 0;
        for (const pass_info *p = pass_pipeline; p->name && n < sizeof names; p++)
          n += (size_t)snprintf(names + n, sizeof names - n, " %s", p->name);
        return cli_usage_error("ir", "unknown pass '%s'%s (passes:%s, or all)", after,
                               fe_suggest_hint(&sg), names);
      }
      continue;
    }
    if (s[0] == '-') return cli_usage_error("ir", "unknown option '%s'", s);
    if (o.model) return cli_usage_error("ir", "unexpected argument '%s'", s);
    o.model = s;
  }
  if (!o.model) return cli_usage_error("ir", "no model file given");

  cli_model m;
  if (!cli_model_load(&m, o.model, o.strict)) {
    cli_model_free(&m);
    return CLI_ERROR;
  }
  int64_t syms[IR_MAX_SYMS];
  int status = cli_bind_dims(m.graph, &o, NULL, NULL, syms);
  if (status == CLI_OK) {
    ir_target target; /* the schedule this machine's JIT would use */
    cg_target(&(cg_options){.bind_syms = o.ndims ? syms : NULL}, &target);
    pass_ctx ctx = {.diags = &m.diags,
                    .syms = o.ndims ? syms : NULL,
                    .print_after = after,
                    .target = &target};
    if (!after) {
      printf("; as lowered\n");
      ir_print(m.graph, stdout);
    }
    if (!pass_run_pipeline(m.graph, &ctx)) status = CLI_ERROR;
    else if (!after) {
      printf("; after the pipeline\n");
      ir_print(m.graph, stdout);
    }
  }
  cli_model_free(&m);
  return status;
}
