/*
 * math.c: exp, tanh, sigmoid, erf, gelu, sin and cos as straight-line LLVM IR
 * on a float or a <N x float>. No libm calls and no branches, so the same code
 * runs in any lane of a vector and in AOT objects. Every function computes all
 * of its cases and picks per lane with select.
 *
 * Rounding and scaling use bit tricks rather than fptosi/llvm.rint, which would
 * be poison on NaN (fptosi) or a libm call on targets without SSE4.1 (rint):
 * adding 1.5 * 2^23 rounds a float to an integer, whose value then sits in the
 * low mantissa bits. Multiply-adds are llvm.fmuladd: one fused instruction where
 * the target has FMA, a multiply and an add elsewhere.
 *
 * cg_math_op at the end is the vector formula of every elementwise op of
 * ops.def: the one place codegen says what such an op computes.
 */
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

/* what every helper needs: where to emit and the shape of the values */
typedef struct fm {
  LLVMModuleRef m;  /* for intrinsic declarations */
  LLVMBuilderRef b; /* emits at its position */
  LLVMTypeRef ft;   /* float or <N x float>: the type of x and of every result */
  LLVMTypeRef it;   /* i32 or <N x i32>, the same shape, for bit manipulation */
  unsigned lanes;   /* N, or 0 when x is a scalar */
} fm;

static fm fm_of(LLVMModuleRef m, LLVMBuilderRef b, LLVMValueRef x) {
  fm f = {m, b, LLVMTypeOf(x), NULL, 0};
  LLVMContextRef cx = LLVMGetModuleContext(m);
  LLVMTypeRef i32 = LLVMInt32TypeInContext(cx);
  if (LLVMGetTypeKind(f.ft) == LLVMVectorTypeKind) {
    f.lanes = LLVMGetVectorSize(f.ft);
    f.it = LLVMVectorType(i32, f.lanes);
  } else {
    f.it = i32;
  }
  IR_ASSERT(LLVMGetTypeKind(f.lanes ? LLVMGetElementType(f.ft) : f.ft) == LLVMFloatTypeKind);
  return f;
}

/* the scalar constant s, or a vector of N copies of it */
static LLVMValueRef splat(fm *f, LLVMValueRef s) {
  if (!f->lanes) return s;
  LLVMValueRef *v = malloc(f->lanes * sizeof *v);
  IR_ASSERT(v);
  for (unsigned i = 0; i < f->lanes; i++) v[i] = s;
  LLVMValueRef c = LLVMConstVector(v, f->lanes);
  free(v);
  return c;
}

static LLVMValueRef fc(fm *f, double v) {
  return splat(f, LLVMConstReal(LLVMFloatTypeInContext(LLVMGetModuleContext(f->m)), v));
}

static LLVMValueRef ic(fm *f, int64_t v) {
  return splat(f, LLVMConstInt(LLVMInt32TypeInContext(LLVMGetModuleContext(f->m)), (uint64_t)v, 1));
}

/* a call of the intrinsic `name` overloaded on x's type (llvm.fabs, llvm.fmuladd, ...) */
static LLVMValueRef intrin(fm *f, const char *name, LLVMValueRef *args, unsigned nargs) {
  return cg_build_intrinsic(f->b, name, &f->ft, 1, args, (int)nargs);
}

static LLVMValueRef add(fm *f, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFAdd(f->b, a, b, "");
}
static LLVMValueRef sub(fm *f, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFSub(f->b, a, b, "");
}
static LLVMValueRef mul(fm *f, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFMul(f->b, a, b, "");
}
static LLVMValueRef fdiv(fm *f, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFDiv(f->b, a, b, "");
}

/* a * b + c, fused where the target can */
static LLVMValueRef fmla(fm *f, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  LLVMValueRef args[3] = {a, b, c};
  return intrin(f, "llvm.fmuladd", args, 3);
}

static LLVMValueRef fabs_(fm *f, LLVMValueRef x) { return intrin(f, "llvm.fabs", &x, 1); }

/* a with the sign of s */
static LLVMValueRef copysign_(fm *f, LLVMValueRef a, LLVMValueRef s) {
  LLVMValueRef args[2] = {a, s};
  return intrin(f, "llvm.copysign", args, 2);
}

/* c[0] * x^(n-1) + ... + c[n-1], by Horner's rule */
static LLVMValueRef horner(fm *f, LLVMValueRef x, const double *c, int n) {
  LLVMValueRef p = fc(f, c[0]);
  for (int i = 1; i < n; i++) p = fmla(f, p, x, fc(f, c[i]));
  return p;
}

static LLVMValueRef select_(fm *f, LLVMValueRef cond, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(f->b, cond, a, b, "");
}

/* 1.5 * 2^23: x + SHIFTER rounds x (|x| < 2^22) to an integer held in the low bits */
#define SHIFTER 12582912.0
#define SHIFTER_BITS 0x4b400000

/* the integer in the low bits of j = q + SHIFTER (garbage, never poison, for NaN) */
static LLVMValueRef shifted_int(fm *f, LLVMValueRef j) {
  return LLVMBuildSub(f->b, LLVMBuildBitCast(f->b, j, f->it, ""), ic(f, SHIFTER_BITS), "");
}

/* 2^e as a float for e in [-126, 127] */
static LLVMValueRef pow2i(fm *f, LLVMValueRef e) {
  LLVMValueRef bits = LLVMBuildShl(f->b, LLVMBuildAdd(f->b, e, ic(f, 127), ""), ic(f, 23), "");
  return LLVMBuildBitCast(f->b, bits, f->ft, "");
}

/*
 * exp: x = n ln2 + r with |r| <= ln2/2 (Cody-Waite: ln2 in two parts, the first
 * with few bits so n * part is exact even without FMA), e^r by the Cephes expf
 * polynomial, then times 2^n in two halves so that results down to the
 * subnormals and up to overflow come out right. x is clamped first to a range
 * whose ends already give 0 and inf; NaN passes the clamp (compares are false).
 */
LLVMValueRef cg_math_exp(LLVMModuleRef m, LLVMBuilderRef b, LLVMValueRef x) {
  fm f = fm_of(m, b, x);
  static const double p[] = {1.9875691500E-4, 1.3981999507E-3, 8.3334519073E-3,
                             4.1665795894E-2, 1.6666665459E-1, 5.0000001201E-1};
  LLVMValueRef hi = fc(&f, 88.8), lo = fc(&f, -104.0);
  LLVMValueRef xc = select_(&f, LLVMBuildFCmp(b, LLVMRealOGT, x, hi, ""), hi, x);
  xc = select_(&f, LLVMBuildFCmp(b, LLVMRealOLT, xc, lo, ""), lo, xc);
  LLVMValueRef j = fmla(&f, xc, fc(&f, 1.44269504088896341), fc(&f, SHIFTER));
  LLVMValueRef n = sub(&f, j, fc(&f, SHIFTER));
  LLVMValueRef r = fmla(&f, n, fc(&f, -0.693359375), xc);
  r = fmla(&f, n, fc(&f, 2.12194440e-4), r);
  LLVMValueRef y = add(&f, fmla(&f, horner(&f, r, p, 6), mul(&f, r, r), r), fc(&f, 1.0));
  /* n in [-150, 128]: 2^n as 2^n1 * 2^n2 with both halves normal */
  LLVMValueRef ni = shifted_int(&f, j);
  LLVMValueRef n1 = LLVMBuildAShr(b, ni, ic(&f, 1), "");
  LLVMValueRef n2 = LLVMBuildSub(b, ni, n1, "");
  return mul(&f, mul(&f, y, pow2i(&f, n1)), pow2i(&f, n2));
}

/*
 * tanh: for |x| < 0.625 the odd Cephes polynomial x + x^3 P(x^2), which keeps
 * tiny x exact; above, 1 - 2 / (e^2|x| + 1) with x's sign, which tends to 1
 * (never inf/inf) as e^2|x| overflows.
 */
LLVMValueRef cg_math_tanh(LLVMModuleRef m, LLVMBuilderRef b, LLVMValueRef x) {
  fm f = fm_of(m, b, x);
  static const double p[] = {-5.70498872745E-3, 2.06390887954E-2, -5.37397155531E-2,
                             1.33314422036E-1, -3.33332819422E-1};
  LLVMValueRef z = mul(&f, x, x);
  /* copysign keeps tanh(-0) = -0, which the sum alone would round to +0 */
  LLVMValueRef small = copysign_(&f, fmla(&f, mul(&f, x, z), horner(&f, z, p, 5), x), x);
  LLVMValueRef ax = fabs_(&f, x);
  LLVMValueRef e = cg_math_exp(m, b, add(&f, ax, ax));
  LLVMValueRef big = sub(&f, fc(&f, 1.0), fdiv(&f, fc(&f, 2.0), add(&f, e, fc(&f, 1.0))));
  big = copysign_(&f, big, x);
  return select_(&f, LLVMBuildFCmp(b, LLVMRealOLT, ax, fc(&f, 0.625), ""), small, big);
}

/*
 * With e = e^-|x| (never overflows): 1 / (1 + e) for x >= 0 and e / (1 + e)
 * for x < 0, so very negative x keep their relative accuracy down to the
 * subnormals, and x = -100 or +100 give a tiny number and 1, never NaN.
 */
LLVMValueRef cg_math_sigmoid(LLVMModuleRef m, LLVMBuilderRef b, LLVMValueRef x) {
  fm f = fm_of(m, b, x);
  LLVMValueRef e = cg_math_exp(m, b, LLVMBuildFNeg(b, fabs_(&f, x), ""));
  LLVMValueRef s = fdiv(&f, fc(&f, 1.0), add(&f, fc(&f, 1.0), e));
  return select_(&f, LLVMBuildFCmp(b, LLVMRealOLT, x, fc(&f, 0.0), ""), mul(&f, e, s), s);
}

/*
 * erf: x P(x^2) / Q(x^2), a rational minimax fitted for relative error on
 * [0, 3.92] (within 6 ulp in float); beyond 3.92 erf rounds to +-1 in float,
 * so x is clamped there, which also sends +-inf to +-1. NaN passes through.
 */
LLVMValueRef cg_math_erf(LLVMModuleRef m, LLVMBuilderRef b, LLVMValueRef x) {
  fm f = fm_of(m, b, x);
  static const double p[] = {2.050060402325471e-06, 0.0002848811855074018, 0.0037656219210475683,
                             0.05274872109293938,   0.19040678441524506,   1.1283791065216064};
  static const double q[] = {3.8091362512204796e-05, 0.0011625339975580573, 0.01496922317892313,
                             0.11410920321941376,    0.5020763874053955,    1.0};
  LLVMValueRef hi = fc(&f, 3.92), lo = fc(&f, -3.92);
  LLVMValueRef xc = select_(&f, LLVMBuildFCmp(b, LLVMRealOGT, x, hi, ""), hi, x);
  xc = select_(&f, LLVMBuildFCmp(b, LLVMRealOLT, xc, lo, ""), lo, xc);
  LLVMValueRef z = mul(&f, xc, xc);
  LLVMValueRef r = fdiv(&f, mul(&f, xc, horner(&f, z, p, 6)), horner(&f, z, q, 6));
  /* rounding may push the quotient a hair past 1 near the clamp */
  LLVMValueRef one = fc(&f, 1.0);
  r = select_(&f, LLVMBuildFCmp(b, LLVMRealOGT, fabs_(&f, r), one, ""), copysign_(&f, one, r), r);
  return r;
}

/*
 * gelu: exact x/2 (1 + erf(x / sqrt 2)) as PyTorch computes it; the tanh form
 * x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), is evaluated as the
 * identical x sigmoid(2u), which keeps its relative accuracy for negative x
 * where 1 + tanh(u) would cancel.
 */
LLVMValueRef cg_math_gelu(LLVMModuleRef m, LLVMBuilderRef b, LLVMValueRef x, bool approx_tanh) {
  fm f = fm_of(m, b, x);
  if (approx_tanh) {
    LLVMValueRef x3 = mul(&f, mul(&f, x, x), x);
    LLVMValueRef u = mul(&f, fc(&f, 0.7978845608028654), fmla(&f, fc(&f, 0.044715), x3, x));
    return mul(&f, x, cg_math_sigmoid(m, b, add(&f, u, u)));
  }
  LLVMValueRef e = cg_math_erf(m, b, mul(&f, x, fc(&f, 0.7071067811865476)));
  return mul(&f, mul(&f, x, fc(&f, 0.5)), add(&f, fc(&f, 1.0), e));
}

/*
 * sin and cos share one body: x = q pi/2 + r with |r| <= pi/4 (Cody-Waite, pi/2
 * in three parts whose first two have few bits, exact for |q| < 2^12 without
 * FMA and about 1e5 with it), both Cephes polynomials on r, and the quadrant
 * q (+1 for cos) picks one and the sign. Accurate for |x| up to about 1e5;
 * beyond, finite x still give a finite result in [-1, 1]; +-inf and NaN give NaN.
 */
static LLVMValueRef sin_cos(LLVMModuleRef m, LLVMBuilderRef b, LLVMValueRef x, int quadrant) {
  fm f = fm_of(m, b, x);
  static const double sp[] = {-1.9515295891E-4, 8.3321608736E-3, -1.6666654611E-1};
  static const double cp[] = {2.443315711809948E-005, -1.388731625493765E-003,
                              4.166664568298827E-002};
  LLVMValueRef j = fmla(&f, x, fc(&f, 0.63661977236758134), fc(&f, SHIFTER));
  LLVMValueRef q = sub(&f, j, fc(&f, SHIFTER));
  LLVMValueRef r = fmla(&f, q, fc(&f, -1.5703125), x);
  r = fmla(&f, q, fc(&f, -4.837512969970703125e-4), r);
  r = fmla(&f, q, fc(&f, -7.54978995489188216e-8), r);
  /* past |x| ~ 2^22 q is no longer the nearest integer and r can be huge (r^2
   * inf, then NaN): use 0 there so finite x stay finite; NaN r (x = +-inf) stays */
  r = select_(&f, LLVMBuildFCmp(b, LLVMRealOGT, fabs_(&f, r), fc(&f, 2.0), ""), fc(&f, 0.0), r);
  LLVMValueRef z = mul(&f, r, r);
  /* sin r has r's sign; copysign only matters for r = -0 */
  LLVMValueRef s = copysign_(&f, fmla(&f, mul(&f, r, z), horner(&f, z, sp, 3), r), r);
  LLVMValueRef c =
      fmla(&f, mul(&f, z, z), horner(&f, z, cp, 3), fmla(&f, z, fc(&f, -0.5), fc(&f, 1.0)));
  LLVMValueRef qi = LLVMBuildAdd(b, shifted_int(&f, j), ic(&f, quadrant), "");
  LLVMValueRef odd = LLVMBuildICmp(b, LLVMIntNE, LLVMBuildAnd(b, qi, ic(&f, 1), ""), ic(&f, 0), "");
  LLVMValueRef v = select_(&f, odd, c, s);
  /* quadrants 2 and 3 negate: move bit 1 of q to the sign bit */
  LLVMValueRef sign = LLVMBuildShl(b, LLVMBuildAnd(b, qi, ic(&f, 2), ""), ic(&f, 30), "");
  LLVMValueRef bits = LLVMBuildXor(b, LLVMBuildBitCast(b, v, f.it, ""), sign, "");
  return LLVMBuildBitCast(b, bits, f.ft, "");
}

LLVMValueRef cg_math_sin(LLVMModuleRef m, LLVMBuilderRef b, LLVMValueRef x) {
  return sin_cos(m, b, x, 0);
}

LLVMValueRef cg_math_cos(LLVMModuleRef m, LLVMBuilderRef b, LLVMValueRef x) {
  return sin_cos(m, b, x, 1);
}

/*
 * log(1 + t) for t in [0, 1]: u = 1 + t in [1, 2], halved above sqrt 2, and
 * log of m in [sqrt(1/2), sqrt 2] by the Cephes logf polynomial in m - 1 (ln 2
 * in two parts, as in exp). Then log(u) * t / (u - 1), which cancels the
 * rounding of 1 + t and keeps tiny t (u = 1: t itself) accurate.
 */
static LLVMValueRef log1p_unit(fm *f, LLVMValueRef t) {
  static const double p[] = {7.0376836292E-2,  -1.1514610310E-1, 1.1676998740E-1,
                             -1.2420140846E-1, 1.4249322787E-1,  -1.6668057665E-1,
                             2.0000714765E-1,  -2.4999993993E-1, 3.3333331174E-1};
  LLVMValueRef one = fc(f, 1.0), u = add(f, one, t);
  LLVMValueRef big = LLVMBuildFCmp(f->b, LLVMRealOGT, u, fc(f, 1.41421356237), "");
  LLVMValueRef e = select_(f, big, one, fc(f, 0.0));
  LLVMValueRef r = sub(f, select_(f, big, mul(f, u, fc(f, 0.5)), u), one);
  LLVMValueRef z = mul(f, r, r);
  LLVMValueRef y = mul(f, mul(f, r, z), horner(f, r, p, 9));
  y = fmla(f, e, fc(f, -2.12194440e-4), y);
  y = fmla(f, z, fc(f, -0.5), y);
  LLVMValueRef lg = fmla(f, e, fc(f, 0.693359375), add(f, r, y));
  LLVMValueRef exact = LLVMBuildFCmp(f->b, LLVMRealOEQ, u, one, "");
  return select_(f, exact, t, mul(f, lg, fdiv(f, t, sub(f, u, one))));
}

/*
 * softplus with beta 1 and threshold 20 (nn.Softplus): x above 20, else
 * log(1 + e^x) as max(x, 0) + log(1 + e^-|x|), whose e^-|x| never overflows
 * and whose log stays accurate where e^x is tiny (very negative x).
 */
static LLVMValueRef softplus(LLVMModuleRef m, LLVMBuilderRef b, LLVMValueRef x) {
  fm f = fm_of(m, b, x);
  LLVMValueRef zero = fc(&f, 0.0);
  LLVMValueRef t = cg_math_exp(m, b, LLVMBuildFNeg(b, fabs_(&f, x), ""));
  LLVMValueRef pos = select_(&f, LLVMBuildFCmp(b, LLVMRealOGT, x, zero, ""), x, zero);
  LLVMValueRef s = add(&f, pos, log1p_unit(&f, t));
  return select_(&f, LLVMBuildFCmp(b, LLVMRealOGT, x, fc(&f, 20.0), ""), x, s);
}

LLVMValueRef cg_math_op(LLVMModuleRef m, LLVMBuilderRef b, const ir_node *n, LLVMValueRef *args) {
  LLVMValueRef x = args[0];
  switch (n->op) {
    case IR_OP_ADD:
      return LLVMBuildFAdd(b, x, args[1], "");
    case IR_OP_SUB:
      return LLVMBuildFSub(b, x, args[1], "");
    case IR_OP_MUL:
      return LLVMBuildFMul(b, x, args[1], "");
    case IR_OP_DIV:
      return LLVMBuildFDiv(b, x, args[1], "");
    case IR_OP_RELU: {
      /* x < 0 ? 0 : x keeps NaN, as torch.relu does */
      LLVMValueRef zero = LLVMConstNull(LLVMTypeOf(x));
      return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, x, zero, ""), zero, x, "");
    }
    case IR_OP_GELU: {
      const ir_attr *a = ir_get_attr(n, "tanh");
      return cg_math_gelu(m, b, x, a && a->i != 0);
    }
    case IR_OP_TANH:
      return cg_math_tanh(m, b, x);
    case IR_OP_SIGMOID:
      return cg_math_sigmoid(m, b, x);
    case IR_OP_SILU:
      return LLVMBuildFMul(b, x, cg_math_sigmoid(m, b, x), "");
    case IR_OP_EXP:
      return cg_math_exp(m, b, x);
    case IR_OP_SOFTPLUS:
      return softplus(m, b, x);
    case IR_OP_COPY:
      return x;
    case IR_OP_MATMUL:
    case IR_OP_SOFTMAX:
    case IR_OP_LAYER_NORM:
    case IR_OP_RMS_NORM:
    case IR_OP_MEAN:
    case IR_OP_ARGMAX:
    case IR_OP_CONCAT:
    case IR_OP_SLICE:
    case IR_OP_SELECT:
    case IR_OP_TRANSPOSE:
    case IR_OP_RESHAPE:
    case IR_OP_EMBEDDING:
    case IR_OP_POSITIONAL_ENCODING:
    case IR_OP_POSITIONS:
    case IR_OP_STATE_READ:
    case IR_OP_STATE_WRITE:
    case IR_OP_CACHE_WRITE:
    case IR_OP_ATTENTION:
    case IR_OP_REL_ATTENTION:
    case IR_OP_SLOT_ATTENTION:
    case IR_OP_CONV1D:
    case IR_OP_FILL:
    case IR_OP_SCAN:
#define LAYER(id) case IR_OP_##id:
#include "ops.def"
    case IR_OP_FUSED:
    case IR_OP_COUNT:
      break;
  }
  IR_ASSERT(!"cg_math_op: not an elementwise op (ops.def has no ELEM for it)");
}
