/*
 * test_passes.h: helpers shared by the pass tests (included by each
 * tests/passes/test_*.c, after the cmocka headers): graphs from YAML text or
 * by hand, running a pass with the verifier after it, and comparing what the
 * interpreter computes before and after a pass on random inputs and weights.
 */
#ifndef SEQC_TEST_PASSES_H
#define SEQC_TEST_PASSES_H

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fe.h"
#include "passes.h"

/* ---- building graphs ---- */

/* a dim argument of tf32: n >= 0 is the size, SYM(i) names symbol i */
#define SYM(i) (-(i)-1)

/* an f32 type of rank dims given as ints (SYM(i) for symbol i) */
static inline ir_type tf32(int rank, ...) {
  ir_type t = {.dtype = IR_F32, .rank = rank};
  va_list ap;
  va_start(ap, rank);
  for (int i = 0; i < rank; i++) {
    int d = va_arg(ap, int);
    t.dims[i] = d >= 0 ? ir_dim_const(d) : ir_dim_sym(-d - 1);
  }
  va_end(ap);
  return t;
}

/* a node of op reading n values (the varargs); returns the node index.
 * Attributes are set by the caller before infer(). */
static inline int mk(ir_graph *g, ir_op op, const char *name, int n, ...) {
  int ins[8];
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++) ins[i] = va_arg(ap, int);
  va_end(ap);
  return ir_add_node(g, op, name, ins, n, (ir_loc){1, 1});
}

/* infers node n's type (asserting it is fine) and returns its result value */
static inline int infer(ir_graph *g, int n) {
  ir_diags d;
  ir_diags_init(&d, "test", NULL, 0, stderr);
  assert_true(ir_infer_node(g, n, &d));
  assert_int_equal(d.nerrors, 0);
  return g->nodes[n].outputs[0];
}

/* an elementwise or other attribute-free node, inferred: its result value */
static inline int op1(ir_graph *g, ir_op op, const char *name, int a) {
  return infer(g, mk(g, op, name, 1, a));
}
static inline int op2(ir_graph *g, ir_op op, const char *name, int a, int b) {
  return infer(g, mk(g, op, name, 2, a, b));
}

/* a model from YAML text, lowered; fails the test on any error */
static inline ir_graph *load_yaml(const char *src) {
  ir_diags d;
  ir_diags_init(&d, "test.yaml", src, strlen(src), stderr);
  fe_ast *ast = fe_parse_yaml(src, strlen(src), &d);
  assert_non_null(ast);
  ir_graph *g = fe_lower(ast, &d);
  fe_ast_free(ast);
  assert_int_equal(d.nerrors, 0);
  assert_non_null(g);
  assert_true(ir_verify(g, "frontend", stderr));
  return g;
}

/* ---- running passes ---- */

/* runs pass (named name for the verifier) and checks the graph after it;
 * returns what the pass returned */
static inline bool run_pass(ir_graph *g, pass_fn pass, const char *name) {
  ir_diags d;
  ir_diags_init(&d, "test", NULL, 0, stderr);
  pass_ctx ctx = {.diags = &d};
  bool changed = pass(g, &ctx);
  assert_int_equal(d.nerrors, 0);
  if (!ir_verify(g, name, stderr)) {
    ir_print(g, stderr);
    fail_msg("verifier failed after %s", name);
  }
  return changed;
}

/* live nodes of op in g */
static inline int count_op(const ir_graph *g, ir_op op) {
  int k = 0;
  for (int i = 0; i < g->nnodes; i++) k += !g->nodes[i].dead && g->nodes[i].op == op;
  return k;
}

/* live nodes in g */
static inline int count_live(const ir_graph *g) {
  int k = 0;
  for (int i = 0; i < g->nnodes; i++) k += !g->nodes[i].dead;
  return k;
}

/* index of the first live node of op, -1 if none */
/* no layer op left in g or in any body in it (decompose's promise) */
static inline void assert_no_layers(const ir_graph *g) {
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    assert_false(ir_ops[n->op].traits & IR_T_LAYER);
    if (n->body) assert_no_layers(n->body);
  }
}

static inline int find_op(const ir_graph *g, ir_op op) {
  for (int i = 0; i < g->nnodes; i++)
    if (!g->nodes[i].dead && g->nodes[i].op == op) return i;
  return -1;
}

/* the live node producing output `name`, asserting there is one */
static inline const ir_node *output_node(const ir_graph *g, const char *name) {
  for (int i = 0; i < g->noutputs; i++)
    if (strcmp(g->outputs[i].name, name) == 0) {
      const ir_value *v = &g->values[g->outputs[i].value];
      assert_int_equal(v->kind, IR_VAL_NODE);
      assert_true(v->def >= 0 && v->def < g->nnodes);
      return &g->nodes[v->def];
    }
  fail_msg("no output %s", name);
  return NULL;
}

/* ---- numbers: the interpreter before and after ---- */

/* a deterministic generator (splitmix64), one per stream */
static inline uint64_t next_u64(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* uniform in [lo, hi) */
static inline float next_f32(uint64_t *s, float lo, float hi) {
  return lo + (hi - lo) * (float)((next_u64(s) >> 40) / (double)(1ull << 24));
}

/* seed from a name, so a param gets the same data whichever graph asks */
static inline uint64_t name_seed(const char *name, uint64_t seed) {
  uint64_t h = 1469598103934665037ull ^ seed;
  for (const char *p = name; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
  return h;
}

/* random inputs and params for one graph's evaluation */
typedef struct rand_data {
  const int64_t *syms; /* symbol binding */
  uint64_t seed;       /* mixes into every name */
  int64_t index_limit; /* integer inputs are drawn from [0, index_limit) */
  void *allocs[256];   /* tensor memory handed out, freed by rand_data_free */
  int nallocs;         /* length of allocs */
} rand_data;

/* a tensor of type t filled from stream name */
static inline void fill(rand_data *r, const ir_type *t, const char *name, seqrt_tensor *out) {
  out->dtype = (seqrt_dtype)t->dtype;
  out->rank = t->rank;
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) n *= out->shape[i] = ir_dim_eval(t->dims[i], r->syms);
  out->data = malloc((size_t)(n ? n : 1) * ir_dtype_size(t->dtype));
  assert_non_null(out->data);
  assert_true(r->nallocs < 256);
  r->allocs[r->nallocs++] = out->data;
  uint64_t s = name_seed(name, r->seed);
  for (int64_t i = 0; i < n; i++) {
    switch (t->dtype) {
      case IR_F32:
        ((float *)out->data)[i] = next_f32(&s, -1.0f, 1.0f);
        break;
      case IR_I32:
        ((int32_t *)out->data)[i] = (int32_t)(next_u64(&s) % (uint64_t)r->index_limit);
        break;
      case IR_I64:
        ((int64_t *)out->data)[i] = (int64_t)(next_u64(&s) % (uint64_t)r->index_limit);
        break;
    }
  }
}

/* the graph being evaluated, for get_param to find a param's type */
typedef struct param_src {
  rand_data *r;      /* where data comes from */
  const ir_graph *g; /* whose params */
} param_src;

static inline bool get_param(void *user, const char *name, seqrt_tensor *out) {
  param_src *p = user;
  for (int v = 0; v < p->g->nvalues; v++) {
    const ir_value *val = &p->g->values[v];
    if (val->kind == IR_VAL_PARAM && strcmp(val->name, name) == 0) {
      fill(p->r, &val->type, name, out);
      return true;
    }
  }
  return false;
}

static inline void rand_data_free(rand_data *r) {
  for (int i = 0; i < r->nallocs; i++) free(r->allocs[i]);
  r->nallocs = 0;
}

/* evaluates g on random data; outs[i] gets output i (caller frees .data) */
static inline void eval_random(const ir_graph *g, rand_data *r, seqrt_tensor *outs) {
  seqrt_tensor ins[16];
  assert_true(g->ninputs <= 16);
  for (int i = 0; i < g->ninputs; i++) {
    const ir_value *v = &g->values[g->inputs[i]];
    fill(r, &v->type, v->name, &ins[i]);
  }
  param_src p = {r, g};
  seqrt_error err = {{0}};
  if (!ir_eval(g, r->syms, ins, get_param, &p, outs, &err)) fail_msg("ir_eval: %s", err.msg);
}

/* largest |a - b| over two f32 output lists of n each (shapes must agree) */
static inline double max_diff(const seqrt_tensor *a, const seqrt_tensor *b, int n) {
  double worst = 0;
  for (int i = 0; i < n; i++) {
    assert_int_equal(a[i].dtype, b[i].dtype);
    assert_int_equal(a[i].rank, b[i].rank);
    for (int d = 0; d < a[i].rank; d++) assert_int_equal(a[i].shape[d], b[i].shape[d]);
    int64_t numel = seqrt_tensor_numel(&a[i]);
    for (int64_t k = 0; k < numel; k++) {
      double x, y;
      switch (a[i].dtype) {
        case SEQRT_F32:
          x = ((float *)a[i].data)[k], y = ((float *)b[i].data)[k];
          break;
        case SEQRT_I32:
          x = ((int32_t *)a[i].data)[k], y = ((int32_t *)b[i].data)[k];
          break;
        default:
          x = (double)((int64_t *)a[i].data)[k], y = (double)((int64_t *)b[i].data)[k];
          break;
      }
      double d = fabs(x - y);
      if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
    }
  }
  return worst;
}

/*
 * Runs pass on g and checks that the interpreter gives the same outputs
 * before and after (|diff| <= 1e-6), on random data under syms. Returns what
 * the pass returned.
 */
static inline bool check_pass_numbers(ir_graph *g, pass_fn pass, const char *name,
                                      const int64_t *syms, int64_t index_limit) {
  static const int64_t no_syms[IR_MAX_SYMS];
  if (!syms) syms = no_syms;
  if (index_limit < 1) index_limit = 1;
  ir_graph *before = ir_graph_clone(g);
  bool changed = run_pass(g, pass, name);
  assert_int_equal(before->noutputs, g->noutputs);
  int n = g->noutputs;
  seqrt_tensor *want = calloc((size_t)n, sizeof *want), *got = calloc((size_t)n, sizeof *got);
  assert_true(want && got);
  for (uint64_t seed = 1; seed <= 2; seed++) {
    rand_data r = {.syms = syms, .seed = seed, .index_limit = index_limit};
    eval_random(before, &r, want);
    rand_data_free(&r);
    eval_random(g, &r, got);
    rand_data_free(&r);
    double diff = max_diff(want, got, n);
    if (!(diff <= 1e-6)) fail_msg("%s changed the numbers: max |diff| = %g", name, diff);
    for (int i = 0; i < n; i++) free(want[i].data), free(got[i].data);
  }
  free(want);
  free(got);
  ir_graph_free(before);
  return changed;
}

/* decompose of a graph with layer ops: the interpreter's numbers before (the
 * layers' own evaluation) and after (their primitives') agree, no layer op is
 * left, and the FLOP count does not move; frees g */
static inline void check_decompose(ir_graph *g, const int64_t *syms) {
  double flops = ir_graph_flops(g, syms);
  assert_true(check_pass_numbers(g, pass_decompose, "decompose", syms, 1));
  assert_no_layers(g);
  double after = ir_graph_flops(g, syms);
  if (fabs(after - flops) > 1e-9 * flops)
    fail_msg("flops %.17g before decompose, %.17g after", flops, after);
  ir_graph_free(g);
}

/* the pipeline up to and including fuse, checking numbers after each pass */
static inline void check_pipeline_numbers(ir_graph *g, const int64_t *syms, int64_t index_limit) {
  check_pass_numbers(g, pass_decompose, "decompose", syms, index_limit);
  check_pass_numbers(g, pass_infer_shapes, "infer_shapes", syms, index_limit);
  check_pass_numbers(g, pass_simplify, "simplify", syms, index_limit);
  check_pass_numbers(g, pass_fuse, "fuse", syms, index_limit);
}

#endif
