/*
 * embed.c: the kernels that turn positions into vectors. embedding gathers
 * rows of a weight table by index, checking every index first (an index out
 * of range is reported to the runtime and gives a zero row, never a read
 * outside the table). positional_encoding adds the sinusoidal table,
 * computed in double (llvm.sin / llvm.cos, then angle addition). positions
 * writes a run's position indices. Along the position dim, positions start
 * at the session position p (SPEC 9).
 */
#include "cg_internal.h"

static void embedding(cg_ctx *c, const ir_node *n) {
  LLVMBuilderRef b = c->b;
  const ir_value *wv = &c->g->values[n->inputs[0]];
  const ir_value *iv = &c->g->values[n->inputs[1]];
  if (wv->type.rank != 2 || wv->type.dtype != IR_F32 ||
      (iv->type.dtype != IR_I32 && iv->type.dtype != IR_I64)) {
    cg_fail(c, "codegen: embedding '%s' needs weight [N, D] f32 and i32/i64 indices", n->name);
    return;
  }
  LLVMValueRef w = cg_value_ptr(c, n->inputs[0]);
  LLVMValueRef idx = cg_value_ptr(c, n->inputs[1]);
  LLVMValueRef out = cg_value_ptr(c, n->outputs[0]);
  LLVMValueRef N = cg_dim(c, wv->type.dims[0]);
  LLVMValueRef D = cg_dim(c, wv->type.dims[1]);
  LLVMValueRef P = cg_dims(c, &iv->type, 0, iv->type.rank);
  LLVMValueRef row_bytes = LLVMBuildNUWMul(b, D, cg_i64(c, 4), "");
  LLVMTypeRef it = cg_elem_type(c, iv->type.dtype);
  LLVMValueRef lo, hi;
  cg_split(c, P, 1, &lo, &hi);
  cg_loop l;
  cg_loop_begin(c, &l, lo, hi, cg_i64(c, 1));
  LLVMValueRef k = LLVMBuildLoad2(b, it, cg_gep(c, it, idx, l.i), "index");
  if (it != c->i64) k = LLVMBuildSExt(b, k, c->i64, "");
  LLVMValueRef dst = cg_gep(c, c->f32, out, LLVMBuildNUWMul(b, l.i, D, ""));
  cg_if f;
  /* unsigned compare: a negative index is out of range too */
  cg_if_begin(c, &f, LLVMBuildICmp(b, LLVMIntULT, k, N, ""));
  LLVMValueRef src = cg_gep(c, c->f32, w, LLVMBuildNUWMul(b, k, D, ""));
  LLVMBuildMemCpy(b, dst, 4, src, 4, row_bytes);
  cg_if_else(c, &f);
  cg_fail_index(c, iv->buffer, l.i, k, N);
  LLVMBuildMemSet(b, dst, LLVMConstInt(c->i8, 0, 0), row_bytes, 4);
  cg_if_end(c, &f);
  cg_loop_end(c, &l);
}

/* an intrinsic on f64 scalars or vectors, per lane */
static LLVMValueRef call_f64(cg_ctx *c, const char *intrinsic, LLVMValueRef *args, int n) {
  LLVMTypeRef t = LLVMTypeOf(args[0]);
  return cg_intrinsic(c, intrinsic, &t, 1, args, n);
}

/*
 * out[..., t, d] = x[..., t, d] + PE(t, d). Column pairs (2i, 2i+1) share
 * the angle t * w_i, w_i = 10000^(-2i/D); a block of vw pairs is a vector of
 * doubles. Each thread evaluates sin and cos once at its first position and
 * then steps t by rotating (s, c) by w: angle addition costs a few vector
 * multiplies instead of 2 libm calls an element, and in double the drift
 * after a million steps is still ~1e-10. Each PE row is added across the
 * leading dims, in double like the interpreter.
 */
static void positional(cg_ctx *c, const ir_node *n) {
  LLVMBuilderRef b = c->b;
  const ir_type *xt = &c->g->values[n->inputs[0]].type;
  int R = xt->rank;
  if (R < 2 || xt->dtype != IR_F32) {
    cg_fail(c, "codegen: positional_encoding '%s' needs f32 [..., T, D]", n->name);
    return;
  }
  int vw = c->vw;
  LLVMTypeRef vf64 = LLVMVectorType(c->f64, (unsigned)vw);
  LLVMValueRef x = cg_value_ptr(c, n->inputs[0]);
  LLVMValueRef out = cg_value_ptr(c, n->outputs[0]);
  LLVMValueRef lead = cg_dims(c, xt, 0, R - 2);
  LLVMValueRef T = cg_dim(c, xt->dims[R - 2]);
  LLVMValueRef D = cg_dim(c, xt->dims[R - 1]);
  LLVMValueRef TD = LLVMBuildNUWMul(b, T, D, "");
  LLVMValueRef one = cg_i64(c, 1);
  LLVMValueRef pairs = LLVMBuildUDiv(b, LLVMBuildAdd(b, D, one, ""), cg_i64(c, 2), "");
  LLVMValueRef lanes[64], inter[128], lo[64], hi[64];
  for (int i = 0; i < vw; i++) {
    lanes[i] = LLVMConstReal(c->f64, i);
    lo[i] = cg_i32(c, i);
    hi[i] = cg_i32(c, vw + i);
    inter[2 * i] = cg_i32(c, i);
    inter[2 * i + 1] = cg_i32(c, vw + i);
  }
  LLVMValueRef iota = LLVMConstVector(lanes, (unsigned)vw);
  LLVMValueRef interleave = LLVMConstVector(inter, (unsigned)(2 * vw));
  LLVMValueRef s_slot = cg_alloca(c, vf64, "pe.sin"), c_slot = cg_alloca(c, vf64, "pe.cos");

  /* [B, T, D] along the position dim starts at the session position */
  bool at_p = R == 3 && ir_at_position(c->g, xt);
  LLVMValueRef p0 = at_p ? cg_session(c, SEQRT_SYM_POSITION) : cg_i64(c, 0);
  LLVMValueRef t0, t1;
  cg_split(c, T, 1, &t0, &t1);
  cg_if any;
  cg_if_begin(c, &any, LLVMBuildICmp(b, LLVMIntSLT, t0, t1, ""));
  cg_loop lp; /* blocks of vw column pairs */
  cg_loop_begin(c, &lp, cg_i64(c, 0), pairs, cg_i64(c, vw));
  /* w = 10000^(-2i / D) for the pairs i of this block */
  LLVMValueRef i = LLVMBuildFAdd(b, cg_splat(c, LLVMBuildSIToFP(b, lp.i, c->f64, "")), iota, "");
  LLVMValueRef e = LLVMBuildFDiv(b, LLVMBuildFMul(b, i, cg_splat(c, LLVMConstReal(c->f64, -2)), ""),
                                 cg_splat(c, LLVMBuildSIToFP(b, D, c->f64, "")), "");
  LLVMValueRef pw[2] = {cg_splat(c, LLVMConstReal(c->f64, 10000.0)), e};
  LLVMValueRef w = call_f64(c, "llvm.pow", pw, 2);
  LLVMValueRef sw = call_f64(c, "llvm.sin", &w, 1), cw = call_f64(c, "llvm.cos", &w, 1);
  LLVMValueRef pos0 = LLVMBuildSIToFP(b, LLVMBuildAdd(b, p0, t0, ""), c->f64, "");
  LLVMValueRef a0 = LLVMBuildFMul(b, cg_splat(c, pos0), w, "");
  LLVMBuildStore(b, call_f64(c, "llvm.sin", &a0, 1), s_slot);
  LLVMBuildStore(b, call_f64(c, "llvm.cos", &a0, 1), c_slot);
  /* the block's columns 2 * lp.i + [0, 2 vw), masked at D */
  LLVMValueRef col = LLVMBuildMul(b, lp.i, cg_i64(c, 2), "");
  LLVMValueRef left = LLVMBuildSub(b, D, col, "");
  LLVMValueRef m0 = cg_mask_upto(c, left);
  LLVMValueRef m1 = cg_mask_upto(c, LLVMBuildSub(b, left, cg_i64(c, vw), ""));

  cg_loop lt;
  cg_loop_begin(c, &lt, t0, t1, one);
  LLVMValueRef sv = LLVMBuildLoad2(b, vf64, s_slot, ""), cv = LLVMBuildLoad2(b, vf64, c_slot, "");
  LLVMValueRef pe = LLVMBuildShuffleVector(b, sv, cv, interleave, "pe");
  LLVMValueRef pe0 = LLVMBuildShuffleVector(b, pe, pe, LLVMConstVector(lo, (unsigned)vw), "");
  LLVMValueRef pe1 = LLVMBuildShuffleVector(b, pe, pe, LLVMConstVector(hi, (unsigned)vw), "");
  LLVMValueRef row = LLVMBuildAdd(b, LLVMBuildNUWMul(b, lt.i, D, ""), col, "");
  cg_loop lb;
  cg_loop_begin(c, &lb, cg_i64(c, 0), lead, one);
  LLVMValueRef at = LLVMBuildAdd(b, LLVMBuildNUWMul(b, lb.i, TD, ""), row, "");
  LLVMValueRef at1 = LLVMBuildAdd(b, at, cg_i64(c, vw), "");
  LLVMValueRef x0 = LLVMBuildFPExt(b, cg_load_vec(c, c->vf32, x, at, m0), vf64, "");
  LLVMValueRef x1 = LLVMBuildFPExt(b, cg_load_vec(c, c->vf32, x, at1, m1), vf64, "");
  cg_store_vec(c, LLVMBuildFPTrunc(b, LLVMBuildFAdd(b, x0, pe0, ""), c->vf32, ""), out, at, m0);
  cg_store_vec(c, LLVMBuildFPTrunc(b, LLVMBuildFAdd(b, x1, pe1, ""), c->vf32, ""), out, at1, m1);
  cg_loop_end(c, &lb);
  /* (s, c) at t + 1: sin(a + w) = s cw + c sw, cos(a + w) = c cw - s sw */
  LLVMValueRef sn =
      LLVMBuildFAdd(b, LLVMBuildFMul(b, sv, cw, ""), LLVMBuildFMul(b, cv, sw, ""), "");
  LLVMValueRef cn =
      LLVMBuildFSub(b, LLVMBuildFMul(b, cv, cw, ""), LLVMBuildFMul(b, sv, sw, ""), "");
  LLVMBuildStore(b, sn, s_slot);
  LLVMBuildStore(b, cn, c_slot);
  cg_loop_end(c, &lt);
  cg_loop_end(c, &lp);
  cg_if_end(c, &any);
}

/* out [B, T] i64 = p0 + t, p0 the session position when x's axis 1 is the
 * position dim; each thread its rows */
static void positions(cg_ctx *c, const ir_node *n) {
  LLVMBuilderRef b = c->b;
  const ir_type *xt = &c->g->values[n->inputs[0]].type;
  LLVMValueRef p0 = ir_at_position(c->g, xt) ? cg_session(c, SEQRT_SYM_POSITION) : cg_i64(c, 0);
  LLVMValueRef out = cg_value_ptr(c, n->outputs[0]);
  LLVMValueRef T = cg_dim(c, xt->dims[1]);
  LLVMValueRef lo, hi;
  cg_split(c, cg_dim(c, xt->dims[0]), 1, &lo, &hi);
  cg_loop r;
  cg_loop_begin(c, &r, lo, hi, cg_i64(c, 1));
  LLVMValueRef row = LLVMBuildNUWMul(b, r.i, T, "");
  cg_loop t;
  cg_loop_begin(c, &t, cg_i64(c, 0), T, cg_i64(c, 1));
  LLVMBuildStore(b, LLVMBuildAdd(b, p0, t.i, ""),
                 cg_gep(c, c->i64, out, LLVMBuildAdd(b, row, t.i, "")));
  cg_loop_end(c, &t);
  cg_loop_end(c, &r);
}

void cg_emit_embed(cg_ctx *c, const ir_node *n) {
  if (n->op == IR_OP_EMBEDDING)
    embedding(c, n);
  else if (n->op == IR_OP_POSITIONS)
    positions(c, n);
  else
    positional(c, n);
}
