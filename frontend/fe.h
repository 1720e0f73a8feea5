/*
 * fe.h: the frontend. Reads a model file (SPEC sections 1 to 5) with libyaml
 * into a small AST that keeps line:col on every node, and lowers it to an IR
 * graph. All errors are reported on an ir_diags as FILE:LINE:COL.
 */
#ifndef SEQC_FE_H
#define SEQC_FE_H

#include <stddef.h>

#include "ir.h"

/* ---- AST (yaml.c) ---- */

typedef enum fe_kind { FE_SCALAR, FE_SEQ, FE_MAP } fe_kind;

typedef struct fe_ast fe_ast;
struct fe_ast {
  fe_kind kind;      /* scalar, sequence or mapping */
  ir_loc loc;        /* where the node starts */
  const char *text;  /* FE_SCALAR: the scalar as written */
  bool quoted;       /* FE_SCALAR: was quoted (so never a number/bool) */
  fe_ast **items;    /* FE_SEQ: elements; FE_MAP: values */
  fe_ast **keys;     /* FE_MAP: keys (scalars), parallel to items */
  int nitems;        /* number of elements or pairs */
};

/*
 * Parses YAML text into an AST. Syntax errors and duplicate mapping keys are
 * reported on d. Returns NULL on error. Free with fe_ast_free.
 */
fe_ast *fe_parse_yaml(const char *src, size_t len, ir_diags *d);
void fe_ast_free(fe_ast *a);
/* value for key in a mapping, NULL if absent */
fe_ast *fe_map_get(const fe_ast *map, const char *key);

/* ---- lowering (lower.c) ---- */

/*
 * Lowers a model AST to an IR graph with every type inferred (shapes stay
 * symbolic in the `dims:` symbols). Reports every error it can find (unknown
 * keys and ops, wrong attribute types, undefined or cyclic references, shape
 * mismatches) on d and returns NULL if there was any.
 */
ir_graph *fe_lower(const fe_ast *model, ir_diags *d);

/* reads path, parses and lowers; *src_out receives the text (caller frees,
 * it must outlive d). NULL on error (message on d, or "cannot read"). */
ir_graph *fe_load_model(const char *path, ir_diags *d, char **src_out);

#endif
