/*
 * check.c: `seqc check`: validate a model and describe it as the user wrote
 * it: the YAML nodes with their ops (a transformer stays one node, not the
 * dozens it lowers to) and result shapes, and every parameter by name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: seqc check MODEL.yaml [--dim N=V]... [--strict]\n"
    "\n"
    "Validates the model without data (syntax, attributes, references, shapes) and\n"
    "prints its dims, inputs, outputs, every node of the file with its op and result\n"
    "shape (and its named extra results, such as enc.h_n), every parameter with its\n"
    "shape, the parameter count and the FLOPs of one run at the YAML default dims\n"
    "(or --dim).\n";

/* one line of an aligned table */
typedef struct row {
  const char *name; /* first column */
  const char *op;   /* second column ("" for none) */
  char type[300];   /* last column: dtype and shape */
} row;

/* a growing list of rows */
typedef struct table {
  row *rows; /* the rows */
  int n;     /* how many */
  int cap;   /* room */
} table;

static row *add_row(table *t, const char *name, const char *op) {
  if (t->n == t->cap) {
    t->cap = t->cap ? 2 * t->cap : 16;
    t->rows = realloc(t->rows, sizeof(row) * (size_t)t->cap);
    IR_ASSERT(t->rows);
  }
  row *r = &t->rows[t->n++];
  r->name = name;
  r->op = op;
  r->type[0] = '\0';
  return r;
}

static void type_text(const ir_graph *g, const ir_type *t, bool dtype, char *out, size_t size) {
  char buf[256];
  snprintf(out, size, "%s%s%s", dtype ? ir_dtype_name(t->dtype) : "", dtype ? " " : "",
           ir_type_str(g, t, buf, sizeof buf));
}

/* prints the rows with each column as wide as its widest entry, whatever the names */
static void print_table(const char *title, table *t) {
  int wname = 0, wop = 0;
  for (int i = 0; i < t->n; i++) {
    int a = (int)strlen(t->rows[i].name), b = (int)strlen(t->rows[i].op);
    if (a > wname) wname = a;
    if (b > wop) wop = b;
  }
  printf("%s\n", title);
  for (int i = 0; i < t->n; i++) {
    const row *r = &t->rows[i];
    if (wop)
      printf("  %-*s  %-*s  %s\n", wname, r->name, wop, r->op, r->type);
    else
      printf("  %-*s  %s\n", wname, r->name, r->type);
  }
  free(t->rows);
  *t = (table){0};
}

/* the value the frontend named after a YAML node (its main result), -1 if none */
static int node_value(const ir_graph *g, const char *name) {
  for (int i = g->nvalues - 1; i >= 0; i--)
    if (g->values[i].kind == IR_VAL_NODE && g->values[i].name && !strcmp(g->values[i].name, name))
      return i;
  return -1;
}

/*
 * The nodes as written: names and ops from the YAML (read again from the
 * source text, which the model keeps), result types from the graph: the
 * value named after the node and the other results of the node defining it.
 */
static void print_nodes(const cli_model *m) {
  const ir_graph *g = m->graph;
  ir_diags quiet;
  ir_diags_init(&quiet, NULL, NULL, 0, stderr); /* the text parsed once already */
  fe_ast *model = fe_parse_yaml(m->src, strlen(m->src), &quiet);
  const fe_ast *nodes = model ? fe_map_get(model, "nodes") : NULL;
  table t = {0};
  for (int i = 0; nodes && nodes->kind == FE_MAP && i < nodes->nitems; i++) {
    const char *name = nodes->keys[i]->text;
    const fe_ast *op = fe_map_get(nodes->items[i], "op");
    int v = node_value(g, name);
    if (v < 0) continue;
    row *r = add_row(&t, name, op && op->kind == FE_SCALAR ? op->text : "?");
    type_text(g, &g->values[v].type, true, r->type, sizeof r->type);
    const ir_node *n = &g->nodes[g->values[v].def];
    for (int k = 0; k < n->noutputs; k++) {
      const ir_value *extra = &g->values[n->outputs[k]];
      if (n->outputs[k] == v || !extra->name) continue;
      r = add_row(&t, extra->name, "");
      type_text(g, &extra->type, true, r->type, sizeof r->type);
    }
  }
  print_table("nodes:", &t);
  fe_ast_free(model);
}

int cmd_check(int argc, char **argv) {
  cli_opts o = {0};
  for (int i = 1; i < argc; i++) {
    cli_arg c = cli_parse_common(argc, argv, &i, &o, help);
    if (c == CLI_ARG_BAD) return CLI_USAGE;
    if (c == CLI_ARG_HELP) return CLI_OK;
    if (c == CLI_ARG_TAKEN) continue;
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
  fe_warn_pieces(g, &m.diags);
  if (m.diags.nerrors) { /* --strict */
    cli_model_free(&m);
    return CLI_ERROR;
  }
  int64_t syms[IR_MAX_SYMS];
  int status = cli_bind_dims(g, &o, NULL, NULL, syms);
  if (status) {
    cli_model_free(&m);
    return status;
  }
  printf("model %s: ok\n", g->name ? g->name : "?");
  if (g->nsyms) {
    printf("dims:");
    for (int s = 0; s < g->nsyms; s++)
      printf("%s %s = %lld", s ? "," : "", g->syms[s].name, (long long)syms[s]);
    printf("\n");
  }
  table t = {0};
  for (int i = 0; i < g->ninputs; i++) {
    const ir_value *v = &g->values[g->inputs[i]];
    row *r = add_row(&t, v->name, "");
    type_text(g, &v->type, true, r->type, sizeof r->type);
  }
  print_table("inputs:", &t);
  for (int i = 0; i < g->noutputs; i++) {
    const ir_value *v = &g->values[g->outputs[i].value];
    row *r = add_row(&t, g->outputs[i].name, "");
    type_text(g, &v->type, true, r->type, sizeof r->type);
  }
  print_table("outputs:", &t);
  print_nodes(&m);

  int64_t params = 0;
  for (int i = 0; i < g->nvalues; i++) {
    const ir_value *v = &g->values[i];
    if (v->kind != IR_VAL_PARAM) continue;
    /* saturated: huge --dim values make huge (not wrapped) counts */
    if (__builtin_add_overflow(params, ir_type_numel_eval(&v->type, syms), &params))
      params = INT64_MAX;
    row *r = add_row(&t, v->name, "");
    type_text(g, &v->type, false, r->type, sizeof r->type);
  }
  char title[128];
  snprintf(title, sizeof title, "parameters: %lld (%.1f KiB f32)", (long long)params,
           (double)params * 4 / 1024);
  print_table(title, &t);
  printf("flops: %.4g (matmuls, attention, conv1d, recurrences; at the dims above)\n",
         cli_count_flops(g, syms));
  cli_model_free(&m);
  return CLI_OK;
}
