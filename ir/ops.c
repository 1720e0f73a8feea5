/* ops.c: the op info table, derived from ops.def. */
#include <string.h>

#include "ir.h"

const ir_op_info ir_ops[IR_OP_COUNT] = {
#define OP(id, name, min_in, max_in, nout, traits, attrs, sem) \
  [IR_OP_##id] = {name, min_in, max_in, nout, traits, attrs, sem},
#include "ops.def"
#undef OP
};

ir_op ir_op_by_name(const char *name) {
  for (int i = 0; i < IR_OP_COUNT; i++)
    if (strcmp(ir_ops[i].name, name) == 0) return (ir_op)i;
  return IR_OP_COUNT;
}
