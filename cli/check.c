/* check.c: `seqc check`: validate a model and describe it. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: seqc check MODEL.yaml [--dim N=V]... [--strict]\n"
    "\n"
    "Validates the model without data (syntax, attributes, references, shapes) and\n"
    "prints its dims, inputs, outputs, every node's result shape, the parameter\n"
    "count and the FLOPs of one run at the YAML default dims (or --dim).\n";

/* elements of a value's type under syms */
static int64_t numel(const ir_value *v, const int64_t *syms) {
  return ir_type_numel_eval(&v->type, syms);
}

int cmd_check(int argc, char **argv) {
  cli_opts o = {0};
  for (int i = 1; i < argc; i++) {
    int c = cli_parse_common(argc, argv, &i, &o);
    if (c < 0) return CLI_USAGE;
    if (c > 0) continue;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fputs(help, stdout);
      return CLI_OK;
    }
    if (argv[i][0] == '-') return cli_usage_error("check", "unknown option '%s'", argv[i]);
    if (o.model) return cli_usage_error("check", "unexpected argument '%s'", argv[i]);
    o.model = argv[i];
  }
  if (!o.model) return cli_usage_error("check", "no model file given");

  cli_model m;
  if (!cli_model_load(&m, o.model, o.strict)) {
    cli_model_free(&m);
    return CLI_ERROR;
  }
  const ir_graph *g = m.graph;
  int64_t syms[IR_MAX_SYMS];
  int status = cli_bind_dims(g, &o, NULL, NULL, syms);
  if (status) {
    cli_model_free(&m);
    return status;
  }
  char buf[256];
  printf("model %s: ok\n", g->name ? g->name : "?");
  if (g->nsyms) {
    printf("dims:");
    for (int s = 0; s < g->nsyms; s++)
      printf("%s %s = %lld", s ? "," : "", g->syms[s].name, (long long)syms[s]);
    printf("\n");
  }
  printf("inputs:\n");
  for (int i = 0; i < g->ninputs; i++) {
    const ir_value *v = &g->values[g->inputs[i]];
    printf("  %s: %s %s\n", v->name, ir_dtype_name(v->type.dtype),
           ir_type_str(g, &v->type, buf, sizeof buf));
  }
  printf("outputs:\n");
  for (int i = 0; i < g->noutputs; i++) {
    const ir_value *v = &g->values[g->outputs[i].value];
    printf("  %s: %s %s\n", g->outputs[i].name, ir_dtype_name(v->type.dtype),
           ir_type_str(g, &v->type, buf, sizeof buf));
  }
  printf("nodes:\n");
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    const ir_value *v = &g->values[n->outputs[0]];
    printf("  %-20s %-20s %s %s\n", n->name ? n->name : "", ir_ops[n->op].name,
           ir_dtype_name(v->type.dtype), ir_type_str(g, &v->type, buf, sizeof buf));
  }
  int64_t params = 0;
  for (int i = 0; i < g->nvalues; i++)
    if (g->values[i].kind == IR_VAL_PARAM) params += numel(&g->values[i], syms);
  printf("parameters: %lld (%.1f KiB f32)\n", (long long)params, (double)params * 4 / 1024);
  printf("flops: %.4g (matmuls, attention, conv1d, recurrences; at the dims above)\n",
         cli_count_flops(g, syms));
  cli_model_free(&m);
  return CLI_OK;
}
