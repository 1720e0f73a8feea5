/* ops.c: the op info table, derived from ops.def, and readers of its attrs strings. */
#include <string.h>

#include "ir.h"

const ir_op_info ir_ops[IR_OP_COUNT] = {
#define OP(id, name, min_in, max_in, nout, traits, attrs, flops, sem) \
  [IR_OP_##id] = {name, min_in, max_in, nout, traits, attrs, IR_FLOPS_##flops, sem},
#include "ops.def"
};

/* Checked when this file compiles: LAYER lines name layer ops, and there are
 * as many as layer ops, so a switch that takes their cases from ops.def
 * misses none. */
enum {
#define OP(id, name, min_in, max_in, nout, traits, attrs, flops, sem) TRAITS_##id = (traits),
#include "ops.def"
};
#define LAYER(id) \
  _Static_assert(TRAITS_##id & IR_T_LAYER, "ops.def: LAYER(" #id ") on an op without IR_T_LAYER");
#include "ops.def"
enum {
  N_LAYER_OPS = 0
#define OP(id, name, min_in, max_in, nout, traits, attrs, flops, sem) +((traits) & IR_T_LAYER ? 1 : 0)
#include "ops.def"
  ,
  N_LAYER_LINES = 0
#define LAYER(id) +1
#include "ops.def"
};
_Static_assert(N_LAYER_OPS == N_LAYER_LINES, "ops.def: an IR_T_LAYER op has no LAYER line");

ir_op ir_op_by_name(const char *name) {
  for (int i = 0; i < IR_OP_COUNT; i++)
    if (strcmp(ir_ops[i].name, name) == 0) return (ir_op)i;
  return IR_OP_COUNT;
}

int ir_attr_specs(ir_op op, ir_attr_spec *specs) {
  const char *s = ir_ops[op].attrs;
  int n = 0;
  while (*s) {
    while (*s == ' ') s++;
    if (!*s) break;
    const char *colon = strchr(s, ':');
    /* ops.def is ours: a malformed entry is a bug */
    IR_ASSERT(n < IR_MAX_OP_ATTRS && colon && colon - s < (int)sizeof specs->key);
    ir_attr_spec *a = &specs[n++];
    memcpy(a->key, s, (size_t)(colon - s));
    a->key[colon - s] = '\0';
    switch (colon[1]) {
      case 'i': a->kind = IR_ATTR_INT; break;
      case 'f': a->kind = IR_ATTR_FLOAT; break;
      case 's': a->kind = IR_ATTR_STR; break;
      case 'l': a->kind = IR_ATTR_INTS; break;
      default: IR_ASSERT(!"unknown attribute kind in ops.def");
    }
    s = colon + 2;
    a->optional = *s == '?';
    if (a->optional) s++;
  }
  return n;
}

int ir_attr_values(const ir_node *n, double a[IR_MAX_OP_ATTRS]) {
  ir_attr_spec specs[IR_MAX_OP_ATTRS];
  int ns = ir_attr_specs(n->op, specs);
  for (int k = 0; k < ns; k++) {
    const ir_attr *at = ir_get_attr(n, specs[k].key);
    a[k] = !at ? 0 : at->kind == IR_ATTR_INT ? (double)at->i : at->kind == IR_ATTR_FLOAT ? at->f : 0;
  }
  return ns;
}
