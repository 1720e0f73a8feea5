/*
 * elementwise.c: kernels that compute each output element from the elements
 * of their operands at the same (broadcast) index: unary and binary ops,
 * copy, and fused bodies without a matmul.
 *
 * The output's dims are grouped by cg_space so that the innermost group is
 * a contiguous run for every operand that is not broadcast along it. With
 * one group (no broadcasting) the whole tensor is one vector loop split
 * between threads; otherwise threads split the rows (all groups but the
 * innermost) and each row is a vector loop.
 */
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

bool cg_is_scalar_const(const ir_value *v) {
  if (v->kind != IR_VAL_CONST) return false;
  for (int i = 0; i < v->type.rank; i++)
    if (!ir_dim_is_const(v->type.dims[i]) || v->type.dims[i].coef != 1) return false;
  return true;
}

LLVMValueRef cg_scalar_const(cg_ctx *c, const ir_value *v) {
  LLVMValueRef s;
  switch (v->type.dtype) {
    case IR_F32:
      s = cg_f32(c, *(const float *)v->data);
      break;
    case IR_I32:
      s = cg_i32(c, *(const int32_t *)v->data);
      break;
    case IR_I64:
      s = cg_i64(c, *(const int64_t *)v->data);
      break;
    default:
      IR_ASSERT(!"dtype");
  }
  return cg_splat(c, s);
}

LLVMValueRef cg_eval_op(cg_ctx *c, const ir_node *n, LLVMValueRef *args) {
  if (n->op == IR_OP_COPY) return args[0];
  for (int i = 0; i < n->ninputs; i++)
    if (LLVMGetElementType(LLVMTypeOf(args[i])) != c->f32) {
      cg_fail(c, "codegen: %s '%s' needs f32 operands", ir_ops[n->op].name, n->name);
      return args[0];
    }
  IR_ASSERT(ir_ops[n->op].traits & IR_T_ELEMWISE);
  return cg_math_op(c->mod, c->b, n, args);
}

LLVMValueRef cg_eval_body(cg_ctx *c, const ir_graph *body, LLVMValueRef *vals) {
  for (int i = 0; i < body->nnodes; i++) {
    const ir_node *n = &body->nodes[i];
    if (n->dead || vals[n->outputs[0]]) continue;
    LLVMValueRef args[8];
    if (n->ninputs > 8) {
      cg_fail(c, "codegen: fused op with %d inputs", n->ninputs);
      return NULL;
    }
    for (int k = 0; k < n->ninputs; k++) {
      int v = n->inputs[k];
      if (!vals[v] && cg_is_scalar_const(&body->values[v]))
        vals[v] = cg_scalar_const(c, &body->values[v]);
      if (!vals[v]) {
        cg_fail(c, "codegen: fused body of '%s' reads an unknown value", n->name);
        return NULL;
      }
      args[k] = vals[v];
    }
    vals[n->outputs[0]] = cg_eval_op(c, n, args);
  }
  IR_ASSERT(body->noutputs >= 1);
  int out = body->outputs[0].value;
  if (!vals[out] && cg_is_scalar_const(&body->values[out]))
    vals[out] = cg_scalar_const(c, &body->values[out]);
  if (!vals[out]) cg_fail(c, "codegen: fused body output is not computed");
  return vals[out];
}

/* one operand: a node input, or a non-scalar constant of a fused body */
typedef struct leaf {
  int value;           /* body value id it defines (fused), or the input position */
  const ir_type *type; /* its type */
  LLVMValueRef ptr;    /* its memory */
  LLVMTypeRef vty;     /* vector of its element type */
  bool scalar;         /* one element: loaded once and splat */
  int op;              /* its operand index in the space (when not scalar) */
  LLVMValueRef vec;    /* scalar: the splat; in a row loop: the splat of a broadcast row */
  LLVMValueRef off;    /* row loop: element offset of the row's start */
} leaf;

typedef struct kernel {
  const ir_node *node;  /* the node */
  const ir_graph *body; /* fused body, or NULL for a single op */
  leaf *leaves;         /* operands */
  int nleaves;
  cg_space space;       /* broadcasting index space of the output */
  LLVMValueRef out;     /* output memory */
  LLVMTypeRef out_vty;  /* vector of the output's element type */
  LLVMValueRef out_off; /* row loop: offset of the row in the output */
  bool rowwise;         /* more than one group: leaves are offset per row */
} kernel;

/* loads every operand at j, evaluates and stores */
static void body_at(cg_ctx *c, void *user, LLVMValueRef j, LLVMValueRef mask) {
  kernel *k = user;
  LLVMValueRef args[8];
  LLVMValueRef *vals = NULL;
  if (k->body) vals = calloc((size_t)k->body->nvalues, sizeof *vals);
  for (int i = 0; i < k->nleaves; i++) {
    leaf *l = &k->leaves[i];
    LLVMValueRef v = l->vec;
    if (!v) {
      LLVMValueRef at = k->rowwise ? LLVMBuildAdd(c->b, l->off, j, "") : j;
      v = cg_load_vec(c, l->vty, l->ptr, at, mask);
    }
    if (k->body)
      vals[l->value] = v;
    else
      args[l->value] = v;
  }
  LLVMValueRef r = k->body ? cg_eval_body(c, k->body, vals) : cg_eval_op(c, k->node, args);
  free(vals);
  if (c->failed) return;
  LLVMValueRef at = k->rowwise ? LLVMBuildAdd(c->b, k->out_off, j, "") : j;
  cg_store_vec(c, r, k->out, at, mask);
}

/* collects the operands of n: its inputs, and a fused body's non-scalar constants */
static void collect_leaves(cg_ctx *c, kernel *k) {
  const ir_node *n = k->node;
  const ir_graph *g = c->g;
  int cap = n->ninputs + (k->body ? k->body->nvalues : 0);
  k->leaves = calloc((size_t)cap, sizeof *k->leaves);
  IR_ASSERT(k->leaves);
  for (int i = 0; i < n->ninputs; i++) {
    const ir_value *v = &g->values[n->inputs[i]];
    leaf *l = &k->leaves[k->nleaves++];
    l->value = k->body ? k->body->inputs[i] : i;
    l->type = &v->type;
    l->vty = cg_vec_type(c, v->type.dtype);
    if (cg_is_scalar_const(v)) {
      l->scalar = true;
      l->vec = cg_scalar_const(c, v);
      continue;
    }
    l->ptr = cg_value_ptr(c, n->inputs[i]);
  }
  if (!k->body) return;
  for (int i = 0; i < k->body->nvalues; i++) {
    const ir_value *v = &k->body->values[i];
    if (v->kind != IR_VAL_CONST || cg_is_scalar_const(v)) continue;
    /* a constant tensor inside a body: give it a global like top-level ones */
    leaf *l = &k->leaves[k->nleaves++];
    l->value = i;
    l->type = &v->type;
    l->vty = cg_vec_type(c, v->type.dtype);
    int64_t nel = ir_type_numel_eval(&v->type, NULL);
    size_t bytes = (size_t)nel * ir_dtype_size(v->type.dtype);
    LLVMValueRef init = LLVMConstStringInContext2(c->llvm, v->data, bytes, 1);
    LLVMValueRef gv = LLVMAddGlobal(c->mod, LLVMTypeOf(init), "fused.const");
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    LLVMSetAlignment(gv, 64);
    l->ptr = gv;
  }
}

/* the unit split (cg_ctx) of [0, len), len a multiple of the unit: this
 * thread's columns of every unit */
static void unit_loop(cg_ctx *c, LLVMValueRef len, kernel *k) {
  LLVMBuilderRef b = c->b;
  LLVMValueRef U = cg_i64(c, c->unit_len);
  cg_loop l;
  cg_loop_begin(c, &l, cg_i64(c, 0), LLVMBuildUDiv(b, len, U, ""), cg_i64(c, 1));
  LLVMValueRef base = LLVMBuildMul(b, l.i, U, "");
  cg_vec_loop(c, LLVMBuildAdd(b, base, c->unit_lo, ""), LLVMBuildAdd(b, base, c->unit_hi, ""),
              body_at, k);
  cg_loop_end(c, &l);
}

void cg_emit_elementwise(cg_ctx *c, const ir_node *n) {
  LLVMBuilderRef b = c->b;
  const ir_value *ov = &c->g->values[n->outputs[0]];
  const ir_type *ot = &ov->type;
  kernel k = {.node = n, .body = n->op == IR_OP_FUSED ? n->body : NULL};
  if (!k.body && n->ninputs > 8) {
    cg_fail(c, "codegen: '%s' has too many inputs", n->name);
    return;
  }
  collect_leaves(c, &k);
  k.out = cg_value_ptr(c, n->outputs[0]);
  k.out_vty = cg_vec_type(c, ot->dtype);

  const ir_type **types = calloc((size_t)k.nleaves + 1, sizeof *types);
  int nops = 0;
  for (int i = 0; i < k.nleaves; i++) {
    if (k.leaves[i].scalar) continue;
    k.leaves[i].op = nops;
    types[nops++] = k.leaves[i].type;
  }
  cg_space_init(c, &k.space, ot, ot->rank, types, nops);
  free(types);
  int G = k.space.ngroups;

  if (G <= 1) {
    /* contiguous: one flat vector loop, threads cut at whole vectors */
    LLVMValueRef total = G == 1 ? k.space.size[0] : cg_i64(c, 1);
    for (int i = 0; i < k.nleaves && G == 1; i++) {
      leaf *lf = &k.leaves[i];
      if (lf->scalar || !k.space.bcast[lf->op * IR_MAX_RANK]) continue;
      /* one element (a [1] param, say): splat it once */
      LLVMTypeRef et = LLVMGetElementType(lf->vty);
      lf->vec = cg_splat(c, LLVMBuildLoad2(b, et, lf->ptr, ""));
    }
    if (cg_unit_kernel(c, n)) {
      unit_loop(c, total, &k);
    } else {
      LLVMValueRef lo, hi;
      cg_split(c, total, c->vw, &lo, &hi);
      cg_vec_loop(c, lo, hi, body_at, &k);
    }
  } else {
    /* rows of the innermost group; leaves broadcast along it are splat per row */
    LLVMValueRef rows = cg_i64(c, 1);
    for (int g = 0; g < G - 1; g++) rows = LLVMBuildNUWMul(b, rows, k.space.size[g], "");
    LLVMValueRef len = k.space.size[G - 1];
    bool unit = cg_unit_kernel(c, n);
    LLVMValueRef lo = cg_i64(c, 0), hi = rows;
    if (!unit) cg_split(c, rows, 1, &lo, &hi);
    cg_loop l;
    cg_loop_begin(c, &l, lo, hi, cg_i64(c, 1));
    LLVMValueRef *off = calloc((size_t)nops + 1, sizeof *off);
    cg_space_offsets(c, &k.space, G - 1, l.i, off);
    k.rowwise = true;
    k.out_off = LLVMBuildNUWMul(b, l.i, len, "");
    for (int i = 0; i < k.nleaves; i++) {
      leaf *lf = &k.leaves[i];
      if (lf->scalar) continue;
      lf->off = off[lf->op];
      lf->vec = NULL;
      if (k.space.bcast[lf->op * IR_MAX_RANK + G - 1]) {
        LLVMTypeRef et = LLVMGetElementType(lf->vty);
        LLVMValueRef s = LLVMBuildLoad2(b, et, cg_gep(c, et, lf->ptr, lf->off), "");
        lf->vec = cg_splat(c, s);
      }
    }
    free(off);
    if (unit)
      unit_loop(c, len, &k); /* every row, this thread's columns of it */
    else
      cg_vec_loop(c, cg_i64(c, 0), len, body_at, &k);
    cg_loop_end(c, &l);
  }
  cg_space_free(&k.space);
  free(k.leaves);
}

/* FILL: every element of the result = value (split between threads) */
void cg_emit_fill(cg_ctx *c, const ir_node *n) {
  LLVMBuilderRef b = c->b;
  const ir_type *t = &c->g->values[n->outputs[0]].type;
  double v = ir_attr_float(n, "value");
  LLVMTypeRef et = cg_elem_type(c, t->dtype);
  LLVMValueRef x = t->dtype == IR_F32 ? LLVMConstReal(et, v)
                                      : LLVMConstInt(et, (unsigned long long)(long long)v, 1);
  LLVMValueRef total = cg_dims(c, t, 0, t->rank), lo, hi;
  cg_split(c, total, 16, &lo, &hi);
  LLVMValueRef p = cg_value_ptr(c, n->outputs[0]);
  cg_loop l;
  cg_loop_begin(c, &l, lo, hi, cg_i64(c, 1));
  LLVMSetAlignment(LLVMBuildStore(b, x, cg_gep(c, et, p, l.i)), (unsigned)ir_dtype_size(t->dtype));
  cg_loop_end(c, &l);
}
