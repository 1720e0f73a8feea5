/*
 * test_scan.c: SCAN compiled against the interpreter. The graphs are built by
 * hand (a custom tanh cell, LSTM- and GRU-shaped bodies, a chunked segment
 * recurrence) or in YAML (a cell with per-gate weights), forward and reverse, batch 1 (steps read
 * and written in place) and batch 3 (copied per step), dims bound and symbolic, at 1 and 2 threads.
 * Every unroll factor 1..8 runs on a T that is not a multiple of it, and T=1.
 * Last, the generated code must not grow with T: the LLVM instruction count
 * of an LSTM module at T=10 equals the count at T=100000.
 * Lengths (SPEC 11): layers and custom scans with i32 and i64 lengths, batch 1
 * and more, sorted (the steps' kernels run on the active rows) and not,
 * against the interpreter; lengths 0 and T+1 fail
 * with the same message compiled and interpreted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cg_test.h"

static const ir_loc L0 = {0, 0};

static ir_type ty(int rank, const ir_dim *dims) {
  ir_type t = {.dtype = IR_F32, .rank = rank};
  for (int i = 0; i < rank; i++) t.dims[i] = dims[i];
  return t;
}
#define TY(...) ty((int)(sizeof((ir_dim[]){__VA_ARGS__}) / sizeof(ir_dim)), (ir_dim[]){__VA_ARGS__})
#define K(n) ir_dim_const(n)

static int node1(ir_graph *g, ir_op op, int a, int b) {
  int in[2] = {a, b};
  int n = ir_add_node(g, op, NULL, in, ir_ops[op].min_inputs >= 2 || b >= 0 ? 2 : 1, L0);
  if (op == IR_OP_MATMUL) ir_set_attr_int(g, n, "trans_b", 1);
  return g->nodes[n].outputs[0];
}
static int un(ir_graph *g, ir_op op, int a) { return node1(g, op, a, -1); }
static int mm(ir_graph *g, int a, int w) { return node1(g, IR_OP_MATMUL, a, w); }
static int slice1(ir_graph *g, int a, int64_t s, int64_t e) {
  int n = ir_add_node(g, IR_OP_SLICE, NULL, &a, 1, L0);
  ir_set_attr_int(g, n, "dim", 1);
  ir_set_attr_int(g, n, "start", s);
  ir_set_attr_int(g, n, "end", e);
  return g->nodes[n].outputs[0];
}

typedef enum cell { TANH_CELL, LSTM_CELL, GRU_CELL, CHUNK_CELL } cell;

typedef struct spec {
  cell kind;          /* body shape */
  int64_t B, T, F, H; /* sizes */
  bool reverse;       /* run t = T-1 .. 0 */
  int64_t chunk;      /* CHUNK_CELL: steps of this many rows */
} spec;

/*
 * A top graph x [B, T, F], states, weights as params, one SCAN:
 *   TANH: h' = tanh(x W^T + h U^T + b); emits h' * 2 and h' (so one emit is
 *         its own kernel's result, one is also the state)
 *   LSTM: gates x Wih^T + h Whh^T + b, sliced i f g o; c', h' as PyTorch
 *   GRU:  r, z from x Wr^T + h Ur^T; n = tanh(x Wn^T + r * (h Un^T)); h' = n + z (h - n)
 *   CHUNK: segments [B, chunk, F]; s' = tanh(x W^T + s * 0.5), s [B, chunk, H]
 */
static ir_graph *build(const spec *s) {
  ir_graph *g = ir_graph_new("scan");
  int sB = ir_graph_add_sym(g, "B", s->B, L0), sT = ir_graph_add_sym(g, "T", s->T, L0);
  ir_dim B = ir_dim_sym(sB), T = ir_dim_sym(sT);
  int64_t F = s->F, H = s->H, C = s->chunk > 0 ? s->chunk : 1;
  int G = s->kind == LSTM_CELL ? 4 : s->kind == GRU_CELL ? 3 : 1;
  int x = ir_add_input(g, "x", TY(B, T, K(F)), L0);
  int nstate = s->kind == LSTM_CELL ? 2 : 1;
  int st[2];
  ir_type stt = s->kind == CHUNK_CELL ? TY(B, K(C), K(H)) : TY(B, K(H));
  st[0] = ir_add_input(g, "h0", stt, L0);
  if (nstate == 2) st[1] = ir_add_input(g, "c0", stt, L0);
  int W = ir_add_param(g, "W", TY(K(G * H), K(F)), L0);
  int U = ir_add_param(g, "U", TY(K(G * H), K(H)), L0);
  int bias = ir_add_param(g, "b", TY(K(G * H)), L0);
  int ins[8] = {x, st[0]}, nin = 2;
  if (nstate == 2) ins[nin++] = st[1];
  ins[nin++] = W;
  ins[nin++] = U;
  ins[nin++] = bias;
  int nemit = s->kind == TANH_CELL ? 2 : 1;
  int scan = ir_insert_node_n(g, g->nnodes, IR_OP_SCAN, "rnn", ins, nin, nemit + nstate, L0);
  ir_set_attr_int(g, scan, "nover", 1);
  ir_set_attr_int(g, scan, "nstate", nstate);
  ir_set_attr_int(g, scan, "reverse", s->reverse);
  ir_set_attr_int(g, scan, "chunk", C);

  ir_graph *b = ir_graph_new("body");
  b->parent = g;
  b->nsyms = g->nsyms;
  for (int i = 0; i < g->nsyms; i++) b->syms[i] = g->syms[i];
  int xt = ir_add_input(b, "xt", s->kind == CHUNK_CELL ? TY(B, K(C), K(F)) : TY(B, K(F)), L0);
  int h = ir_add_input(b, "h", stt, L0);
  int c = nstate == 2 ? ir_add_input(b, "c", stt, L0) : -1;
  int bW = ir_add_input(b, "W", TY(K(G * H), K(F)), L0);
  int bU = ir_add_input(b, "U", TY(K(G * H), K(H)), L0);
  int bb = ir_add_input(b, "b", TY(K(G * H)), L0);
  switch (s->kind) {
    case TANH_CELL: {
      int z = node1(b, IR_OP_ADD, node1(b, IR_OP_ADD, mm(b, xt, bW), mm(b, h, bU)), bb);
      int hn = un(b, IR_OP_TANH, z);
      float two = 2;
      int k2 = ir_add_const(b, TY(K(1)), &two, L0);
      ir_add_output(b, "y2", node1(b, IR_OP_MUL, hn, k2));
      ir_add_output(b, "y", hn);
      ir_add_output(b, "h", hn);
      break;
    }
    case LSTM_CELL: {
      int z = node1(b, IR_OP_ADD, node1(b, IR_OP_ADD, mm(b, xt, bW), mm(b, h, bU)), bb);
      int i = un(b, IR_OP_SIGMOID, slice1(b, z, 0, H));
      int f = un(b, IR_OP_SIGMOID, slice1(b, z, H, 2 * H));
      int gg = un(b, IR_OP_TANH, slice1(b, z, 2 * H, 3 * H));
      int o = un(b, IR_OP_SIGMOID, slice1(b, z, 3 * H, 4 * H));
      int cn = node1(b, IR_OP_ADD, node1(b, IR_OP_MUL, f, c), node1(b, IR_OP_MUL, i, gg));
      int hn = node1(b, IR_OP_MUL, o, un(b, IR_OP_TANH, cn));
      ir_add_output(b, "y", hn);
      ir_add_output(b, "h", hn);
      ir_add_output(b, "c", cn);
      break;
    }
    case GRU_CELL: {
      int xp = node1(b, IR_OP_ADD, mm(b, xt, bW), bb), hp = mm(b, h, bU);
      int r = un(b, IR_OP_SIGMOID, node1(b, IR_OP_ADD, slice1(b, xp, 0, H), slice1(b, hp, 0, H)));
      int z = un(b, IR_OP_SIGMOID,
                 node1(b, IR_OP_ADD, slice1(b, xp, H, 2 * H), slice1(b, hp, H, 2 * H)));
      int nn = un(b, IR_OP_TANH,
                  node1(b, IR_OP_ADD, slice1(b, xp, 2 * H, 3 * H),
                        node1(b, IR_OP_MUL, r, slice1(b, hp, 2 * H, 3 * H))));
      int hn = node1(b, IR_OP_ADD, nn, node1(b, IR_OP_MUL, z, node1(b, IR_OP_SUB, h, nn)));
      ir_add_output(b, "y", hn);
      ir_add_output(b, "h", hn);
      break;
    }
    case CHUNK_CELL: {
      float half = 0.5f;
      int kh = ir_add_const(b, TY(K(1)), &half, L0);
      int z =
          node1(b, IR_OP_ADD, node1(b, IR_OP_ADD, mm(b, xt, bW), bb), node1(b, IR_OP_MUL, h, kh));
      int sn = un(b, IR_OP_TANH, z);
      ir_add_output(b, "y", node1(b, IR_OP_ADD, sn, h));
      ir_add_output(b, "s", sn);
      (void)bU;
      break;
    }
  }
  g->nodes[scan].body = b;
  for (int k = 0; k < g->nodes[scan].noutputs; k++) {
    char name[16];
    snprintf(name, sizeof name, "out%d", k);
    ir_add_output(g, ir_strdup(g, name), g->nodes[scan].outputs[k]);
  }
  ir_diags d;
  ir_diags_init(&d, "test", NULL, 0, stderr);
  pass_ctx ctx = {.diags = &d};
  assert_true(pass_infer_shapes(g, &ctx) || d.nerrors == 0);
  assert_int_equal(d.nerrors, 0);
  return g;
}

static void check(const spec *s, unsigned variants) {
  cgt_check_graph(build(s), &(cgt_opts){.variants = variants, .tol = 1e-4});
}

/* the scan with a given unroll factor (the unroll pass keeps a factor already set) */
static void check_unrolled(const spec *s, int64_t factor, unsigned variants) {
  ir_graph *g = build(s);
  for (int i = 0; i < g->nnodes; i++)
    if (g->nodes[i].op == IR_OP_SCAN) ir_set_attr_int(g, i, "unroll", factor);
  cgt_check_graph(g, &(cgt_opts){.variants = variants, .tol = 1e-4});
}

/* every factor 1..8 on lengths that are not multiples of it, forward and reverse */
static void unrolled(void **state) {
  (void)state;
  for (int64_t f = 1; f <= 8; f++) {
    check_unrolled(&(spec){TANH_CELL, 1, 2 * f + 1, 5, 8, f % 2, 1}, f, CGT_FUSED);
    if (f % 2 == 0) /* LSTM on half the factors, symbolic dims on half of those */
      check_unrolled(&(spec){LSTM_CELL, 2, f + 3, 4, 8, f % 4 == 0, 1}, f,
                     f % 4 ? CGT_SYMBOLIC : CGT_FUSED);
  }
  check_unrolled(&(spec){GRU_CELL, 1, 1, 4, 8, 0, 1}, 4, CGT_FUSED); /* T=1 < factor */
  check_unrolled(&(spec){CHUNK_CELL, 1, 10, 3, 4, 1, 2}, 3, CGT_FUSED);
}

static void tanh_cell(void **state) {
  (void)state;
  for (int rev = 0; rev < 2; rev++) {
    check(&(spec){TANH_CELL, 1, 7, 5, 16, rev, 1}, rev ? CGT_FUSED : CGT_SYMBOLIC);
    check(&(spec){TANH_CELL, 3, 6, 9, 20, rev, 1}, rev ? CGT_UNFUSED : CGT_FUSED);
  }
}

static void lstm_cell(void **state) {
  (void)state;
  check(&(spec){LSTM_CELL, 1, 9, 12, 32, 0, 1}, CGT_FUSED | CGT_SYMBOLIC);
  check(&(spec){LSTM_CELL, 2, 5, 7, 17, 1, 1}, CGT_FUSED | CGT_UNFUSED);
}

static void gru_cell(void **state) {
  (void)state;
  check(&(spec){GRU_CELL, 1, 8, 6, 24, 0, 1}, CGT_FUSED);
  check(&(spec){GRU_CELL, 4, 5, 3, 10, 1, 1}, CGT_SYMBOLIC);
}

/*
 * Steps split by hidden unit (cg_ctx.unit_len): at 2 threads each thread
 * computes its own units' gate columns. Units of 3 vectors (2 and 1 a
 * thread), of 1 vector (one thread has none), batch 3, reversed, and
 * 8-float vectors.
 */
static void unit_split(void **state) {
  (void)state;
  check(&(spec){LSTM_CELL, 1, 6, 12, 48, 0, 1}, CGT_FUSED);
  check(&(spec){LSTM_CELL, 1, 5, 7, 16, 1, 1}, CGT_FUSED | CGT_UNFUSED);
  check(&(spec){GRU_CELL, 3, 7, 5, 64, 0, 1}, CGT_FUSED);
  check(&(spec){GRU_CELL, 1, 4, 9, 32, 1, 1}, CGT_UNFUSED);
  check(&(spec){TANH_CELL, 2, 5, 6, 32, 1, 1}, CGT_FUSED);
  check(&(spec){LSTM_CELL, 1, 5, 4, 24, 0, 1}, CGT_AVX2);
}

static void chunked(void **state) {
  (void)state;
  check(&(spec){CHUNK_CELL, 1, 8, 4, 8, 0, 2}, CGT_FUSED);
  check(&(spec){CHUNK_CELL, 2, 12, 5, 6, 1, 3}, CGT_UNFUSED | CGT_SYMBOLIC);
}

static void one_step(void **state) {
  (void)state;
  check(&(spec){TANH_CELL, 1, 1, 3, 4, 0, 1}, CGT_FUSED | CGT_SYMBOLIC);
  check(&(spec){LSTM_CELL, 2, 1, 3, 4, 1, 1}, CGT_FUSED | CGT_SYMBOLIC);
}

/* a custom cell in YAML: per-gate weights (merge_gemm), an input projection
 * (hoist), a second emit, through the whole pipeline */
static void custom_cell_yaml(void **state) {
  (void)state;
  static const char *const cells[] = {"false", "true"};
  for (int r = 0; r < 2; r++) {
    char y[2048];
    snprintf(y, sizeof y,
             "seqc: 1\nname: m\ndims: {B: %d, T: 6}\n"
             "inputs:\n  x: {dtype: f32, shape: [B, T, 6]}\n"
             "outputs: [cell, cell.e, cell.h]\nnodes:\n"
             "  cell:\n    op: scan\n    over: {x: x}\n    reverse: %s\n"
             "    state: {h: {zeros: [B, 5]}}\n    body:\n"
             "      a:  {op: linear, input: h, out_features: 5, bias: false}\n"
             "      b:  {op: linear, input: h, out_features: 5}\n"
             "      c:  {op: linear, input: h, out_features: 3, bias: false}\n"
             "      u:  {op: linear, input: x, out_features: 5}\n"
             "      sa: {op: sigmoid, input: a}\n"
             "      m1: {op: mul, inputs: [sa, b]}\n"
             "      s:  {op: add, inputs: [m1, u]}\n"
             "      hn: {op: tanh, input: s}\n"
             "      e:  {op: relu, input: c}\n"
             "    next: {h: hn}\n    emit: [hn, e]\n",
             r ? 3 : 1, cells[r]);
    cgt_check(y, &(cgt_opts){.variants = r ? CGT_FUSED : CGT_FUSED | CGT_SYMBOLIC, .tol = 1e-4});
  }
}

/* a model with lengths n (dtype lt) on layer `node` (a YAML flow mapping) of x [B, T, 5] */
static void lengths_model(char *y, size_t size, int B, int T, const char *lt, const char *node,
                          const char *outs) {
  snprintf(y, size,
           "seqc: 1\nname: m\ndims: {B: %d, T: %d}\n"
           "inputs:\n  x: {dtype: f32, shape: [B, T, 5]}\n  n: {dtype: %s, shape: [B]}\n"
           "outputs: [%s]\nnodes:\n  l: %s\n",
           B, T, lt, outs, node);
}

static const char *const scan_cell_with_lengths =
    "{op: scan, over: {x: x}, reverse: %s, lengths: n, "
    "state: {h: {zeros: [B, 6]}, k: {zeros: [B, 6]}}, "
    "body: {a: {op: linear, input: x, out_features: 6}, "
    "b: {op: linear, input: h, out_features: 6, bias: false}, s: {op: add, inputs: [a, b]}, "
    "hn: {op: tanh, input: s}, kn: {op: add, inputs: [k, hn]}}, "
    "next: {h: hn, k: kn}, emit: [hn, s]}";

/* layers and scans with lengths in [1, T], compiled against the interpreter */
static void lengths_runs(void **state) {
  (void)state;
  static const char *const layers[] = {
      "{op: lstm, input: x, hidden_size: 7, num_layers: 2, bidirectional: true, lengths: n}",
      "{op: gru, input: x, hidden_size: 6, lengths: n}",
      "{op: rnn, input: x, hidden_size: 8, nonlinearity: relu, bidirectional: true, lengths: n}",
  };
  static const char *const layer_outs[] = {"l, l.h_n, l.c_n", "l, l.h_n", "l, l.h_n"};
  static const int batches[] = {1, 5};
  char y[2048], node[1024];
  for (int bi = 0; bi < 2; bi++)
    for (int dt = 0; dt < 2; dt++) {
      const char *lt = dt ? "i32" : "i64";
      int B = batches[bi], T = 7;
      for (int k = 0; k < 3; k++)
        for (int sorted = 0; sorted < 2; sorted++) { /* sorted: kernels on the active rows */
          lengths_model(y, sizeof y, B, T, lt, layers[k], layer_outs[k]);
          cgt_check(y, &(cgt_opts){.variants = CGT_FUSED | CGT_SYMBOLIC,
                                   .index_max = T,
                                   .index_min = 1,
                                   .sorted = sorted,
                                   .seed = (uint64_t)(3 + k + 7 * bi + 17 * dt),
                                   .tol = 1e-4});
        }
      for (int rev = 0; rev < 2; rev++) {
        snprintf(node, sizeof node, scan_cell_with_lengths, rev ? "true" : "false");
        lengths_model(y, sizeof y, B, T, lt, node, "l, l.s, l.h, l.k");
        cgt_check(y, &(cgt_opts){.variants = CGT_FUSED | CGT_UNFUSED,
                                 .index_max = T,
                                 .index_min = 1,
                                 .sorted = dt,
                                 .seed = (uint64_t)(11 + rev + 5 * bi),
                                 .tol = 1e-4});
      }
    }
}

/* a length of 0 or T+1 is a data error naming the row and the length */
static void lengths_out_of_range(void **state) {
  (void)state;
  char y[2048];
  static const int64_t bad[] = {0, 8};
  static const char *const msgs[] = {"length 0 of row 2 in 'n' is outside [1, 7]",
                                     "length 8 of row 2 in 'n' is outside [1, 7]"};
  for (int k = 0; k < 2; k++) {
    lengths_model(y, sizeof y, 3, 7, "i64",
                  "{op: lstm, input: x, hidden_size: 5, bidirectional: true, lengths: n}",
                  "l, l.h_n");
    cgt_check(y, &(cgt_opts){.variants = CGT_FUSED,
                             .index_max = 7,
                             .index_min = 1,
                             .bad_index = bad[k],
                             .bad_pos = 2,
                             .error = msgs[k]});
  }
}

/* LLVM instructions in every function of a module */
static long count_insts(LLVMModuleRef m) {
  long n = 0;
  for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f))
    for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(f); bb; bb = LLVMGetNextBasicBlock(bb))
      for (LLVMValueRef i = LLVMGetFirstInstruction(bb); i; i = LLVMGetNextInstruction(i)) n++;
  return n;
}

/* calls of function `name` in a module */
static long count_calls(LLVMModuleRef m, const char *name) {
  long n = 0;
  for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f))
    for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(f); bb; bb = LLVMGetNextBasicBlock(bb))
      for (LLVMValueRef i = LLVMGetFirstInstruction(bb); i; i = LLVMGetNextInstruction(i)) {
        if (LLVMGetInstructionOpcode(i) != LLVMCall) continue;
        LLVMValueRef callee = LLVMGetCalledValue(i);
        size_t len;
        const char *s = LLVMGetValueName2(callee, &len);
        n += strcmp(s, name) == 0;
      }
  return n;
}

/* the schedule's target for these tests: 16-float vectors */
static const ir_target wide = {.vec_width = 16, .gemm_reads_b_in_place = cg_gemm_reads_b_in_place};

/* g planned (scans unrolled by `unroll`, 0: the pass's choice) and built
 * with dims syms (NULL: symbolic): the calls to `name` in its module, or its
 * instructions when name is NULL; frees g */
static long module_count(ir_graph *g, const int64_t *syms, const char *name, int unroll) {
  ir_diags d;
  ir_diags_init(&d, "test", NULL, 0, stderr);
  pass_ctx ctx = {.diags = &d, .syms = syms, .unroll = unroll, .target = &wide};
  assert_true(pass_run_pipeline(g, &ctx));
  LLVMContextRef llvm = LLVMContextCreate();
  seqrt_error err = {{0}};
  LLVMModuleRef m = cg_module_build(g, &(cg_options){.bind_syms = syms}, 16, llvm, &err);
  assert_non_null(m);
  long n = name ? count_calls(m, name) : count_insts(m);
  LLVMDisposeModule(m);
  LLVMContextDispose(llvm);
  ir_graph_free(g);
  return n;
}

/* the planned LSTM [B=1, T, F=64, H], dims bound, as a module; counts its
 * instructions, or its barriers when `barriers` */
static long lstm_module_count(int64_t T, int64_t H, bool barriers) {
  int64_t syms[2] = {1, T};
  return module_count(build(&(spec){LSTM_CELL, 1, T, 64, H, 0, 1}), syms,
                      barriers ? "seqrt_barrier" : NULL, 0);
}

/* the loop is real: T only changes constants, never the amount of code */
static void code_size_independent_of_T(void **state) {
  (void)state;
  long a = lstm_module_count(10, 64, false), b = lstm_module_count(100000, 64, false);
  assert_true(a > 100);
  assert_int_equal(a, b);
}

/* `unroll` copies of the step and no more: the steps of an iteration past
 * the end are skipped by a test, not run by a remainder loop of their own,
 * so each further step adds the same code (T = 7 leaves a remainder for
 * every factor here) */
static long lstm_unrolled_barriers(int unroll) {
  int64_t syms[2] = {1, 7};
  return module_count(build(&(spec){LSTM_CELL, 1, 7, 64, 64, 0, 1}), syms, "seqrt_barrier",
                      unroll);
}

static void unrolled_steps_without_remainder_copy(void **state) {
  (void)state;
  long one = lstm_unrolled_barriers(1), two = lstm_unrolled_barriers(2);
  long three = lstm_unrolled_barriers(3);
  assert_true(two > one);
  assert_int_equal(three - two, two - one);
}

/* split by unit (H a multiple of the vector), the step's gate kernel reads
 * only what this thread's matmul columns wrote: fewer barriers than when
 * H = 24 rules the split out */
static void unit_split_saves_barriers(void **state) {
  (void)state;
  long split = lstm_module_count(10, 64, true), whole = lstm_module_count(10, 24, true);
  assert_true(split > 0);
  assert_true(split < whole);
}

/* an lstm or gru layer [B, T, 8] -> H as YAML, into buf */
static void rnn_yaml(char *buf, size_t len, const char *op, int64_t B, int64_t T, int64_t H) {
  snprintf(buf, len,
           "seqc: 1\nname: m\ndims: {B: %lld, T: %lld}\n"
           "inputs:\n  x: {dtype: f32, shape: [B, T, 8]}\n"
           "outputs: [r, r.h_n]\nnodes:\n  r: {op: %s, input: x, hidden_size: %lld}\n",
           (long long)B, (long long)T, op, (long long)H);
}

/*
 * The recurrent weight of a batch-few step stored in column panels
 * (panels.c): hidden sizes below, at and above a panel (128 floats at
 * AVX-512, 32 at AVX2), so that a unit ends in a partial panel and, at 2
 * threads, a thread's units start inside one; batch 1 (one-row tiles) and 3.
 */
static void panel_weights(void **state) {
  (void)state;
  static const struct {
    const char *op;
    int64_t B, T, H;
    unsigned variants;
  } cases[] = {
      {"lstm", 1, 5, 48, CGT_FUSED},  {"lstm", 1, 4, 160, CGT_FUSED | CGT_AVX2},
      {"gru", 1, 6, 272, CGT_FUSED},  {"gru", 3, 5, 80, CGT_FUSED | CGT_AVX2},
      {"lstm", 3, 3, 144, CGT_FUSED}, {"rnn", 1, 7, 32, CGT_FUSED | CGT_UNFUSED},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char y[512];
    rnn_yaml(y, sizeof y, cases[i].op, cases[i].B, cases[i].T, cases[i].H);
    cgt_check(y, &(cgt_opts){.variants = cases[i].variants, .tol = 1e-4, .threads = 3});
  }
}

/* calls in m of functions whose names start with prefix */
static long count_calls_prefix(LLVMModuleRef m, const char *prefix) {
  long n = 0;
  size_t plen = strlen(prefix);
  for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f))
    for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(f); bb; bb = LLVMGetNextBasicBlock(bb))
      for (LLVMValueRef i = LLVMGetFirstInstruction(bb); i; i = LLVMGetNextInstruction(i)) {
        if (LLVMGetInstructionOpcode(i) != LLVMCall) continue;
        size_t len;
        const char *s = LLVMGetValueName2(LLVMGetCalledValue(i), &len);
        n += len >= plen && !strncmp(s, prefix, plen);
      }
  return n;
}

/*
 * A recurrent step's GEMM on a few rows keeps its sizes and its epilogue in
 * registers (matmul.c), though the step's kernels are kernel functions of
 * their own. With dims left symbolic (no panels) in a 2-layer bidirectional
 * RNN, only the two layers' input projections (hoisted out of the scans,
 * each direction's the same function) call a shared GEMM; the step's does
 * not.
 */
static void step_gemms_stay_inline(void **state) {
  (void)state;
  const char *y = "seqc: 1\nname: m\ndims: {B: 8, T: 5}\n"
                  "inputs:\n  x: {dtype: f32, shape: [B, T, 16]}\n"
                  "outputs: [r]\nnodes:\n"
                  "  r: {op: rnn, input: x, hidden_size: 64, num_layers: 2, bidirectional: true}\n";
  ir_graph *g = cgt_load(y);
  ir_diags d;
  ir_diags_init(&d, "test", NULL, 0, stderr);
  pass_ctx ctx = {.diags = &d, .unroll = 1, .target = &wide};
  assert_true(pass_run_pipeline(g, &ctx));
  LLVMContextRef llvm = LLVMContextCreate();
  seqrt_error err = {{0}};
  LLVMModuleRef m = cg_module_build(g, &(cg_options){0}, 16, llvm, &err);
  assert_non_null(m);
  assert_int_equal(count_calls_prefix(m, "kernel.gemm."), 2);
  LLVMDisposeModule(m);
  LLVMContextDispose(llvm);
  ir_graph_free(g);
  cgt_check(y, &(cgt_opts){.variants = CGT_FUSED, .tol = 1e-4, .threads = 2});
}

/* calls to `name` in the module of YAML y, with dims syms (NULL: symbolic),
 * one step per loop iteration: a call in a step's kernel function is
 * counted once however many unrolled copies of the step call it */
static long yaml_calls(const char *y, const int64_t *syms, const char *name) {
  return module_count(cgt_load(y), syms, name, 1);
}

/* barriers in one step of YAML y's scans: a loop of 3 steps has one step
 * more than a loop of 2 (the loop for the rest is the same) */
static long step_barriers(const char *y, const int64_t *syms) {
  return module_count(cgt_load(y), syms, "seqrt_barrier", 3) -
         module_count(cgt_load(y), syms, "seqrt_barrier", 2);
}

/*
 * Batch 3: a step copies its rows of x's projection in and of h out. The
 * copies take the unit split, as the kernels do, and h is double-buffered
 * although it is also emitted, so a step has one barrier, its opening one,
 * which a bidirectional layer's two directions share. With H = 24 (no unit
 * split) whole rows are copied and a step needs more. Results at 1 to 3
 * threads equal the interpreter's.
 */
static void batch_step_barriers(void **state) {
  (void)state;
  char y[512];
  int64_t b3[2] = {3, 7};
  static const char *ops[] = {"lstm", "gru", "rnn"};
  for (int i = 0; i < 3; i++) {
    rnn_yaml(y, sizeof y, ops[i], 3, 7, 64);
    assert_int_equal(step_barriers(y, b3), 1);
    cgt_check(y, &(cgt_opts){.variants = CGT_FUSED, .tol = 1e-4, .threads = 3});
  }
  snprintf(y, sizeof y,
           "seqc: 1\nname: m\ndims: {B: 3, T: 7}\n"
           "inputs:\n  x: {dtype: f32, shape: [B, T, 8]}\n"
           "outputs: [r]\nnodes:\n"
           "  r: {op: gru, input: x, hidden_size: 48, num_layers: 2, bidirectional: true}\n");
  /* a pair of steps, one barrier: the 2 layers' loops are the same code (the
   * input projection is hoisted out), so one kernel function (kernel_fn.c) */
  assert_int_equal(step_barriers(y, b3), 1);
  cgt_check(y, &(cgt_opts){.variants = CGT_FUSED, .tol = 1e-4, .threads = 3});
  rnn_yaml(y, sizeof y, "lstm", 3, 7, 24);
  assert_true(step_barriers(y, b3) > 1);
}

/* a custom cell, H = 32: s = h W^T + x U^T, h' = OP(IN) for IN s or u = x U^T; emits s */
static void act_cell_yaml(char *buf, size_t len, const char *op, const char *in) {
  snprintf(buf, len,
           "seqc: 1\nname: m\ndims: {B: 1, T: 7}\n"
           "inputs:\n  x: {dtype: f32, shape: [B, T, 6]}\n"
           "outputs: [cell, cell.h]\nnodes:\n"
           "  cell:\n    op: scan\n    over: {x: x}\n"
           "    state: {h: {zeros: [B, 32]}}\n    body:\n"
           "      a:  {op: linear, input: h, out_features: 32, bias: false}\n"
           "      u:  {op: linear, input: x, out_features: 32}\n"
           "      s:  {op: add, inputs: [a, u]}\n"
           "      hn: {op: %s, input: %s}\n"
           "    next: {h: hn}\n    emit: [s]\n",
           op, in);
}

/*
 * The split barrier (scan.c, step_split): a step whose recurrent matmul can
 * sum its own units first arrives at the top and waits inside the matmul;
 * every split step has one of each. Not split: dims left symbolic (no
 * panels); batch 3, whose step gathers its rows of x first (a full write);
 * and a cell whose next state a kernel writes whole (softmax is no unit
 * kernel), so that a thread's own units of the state may be another's.
 * Results at 1 to 3 threads equal the interpreter's either way.
 */
static void split_steps(void **state) {
  (void)state;
  char y[1024];
  int64_t b1[2] = {1, 6}, b3[2] = {3, 6};
  rnn_yaml(y, sizeof y, "lstm", 1, 6, 64);
  long arrive = yaml_calls(y, b1, "seqrt_arrive");
  assert_true(arrive > 0);
  assert_int_equal(yaml_calls(y, b1, "seqrt_wait"), arrive);
  assert_int_equal(yaml_calls(y, NULL, "seqrt_arrive"), 0);
  rnn_yaml(y, sizeof y, "gru", 1, 6, 64);
  assert_true(yaml_calls(y, b1, "seqrt_arrive") > 0);
  rnn_yaml(y, sizeof y, "gru", 3, 6, 64);
  assert_int_equal(yaml_calls(y, b3, "seqrt_arrive"), 0);

  int64_t c1[2] = {1, 7};
  act_cell_yaml(y, sizeof y, "tanh", "s");
  assert_true(yaml_calls(y, c1, "seqrt_arrive") > 0);
  cgt_check(y, &(cgt_opts){.variants = CGT_FUSED, .tol = 1e-4, .threads = 3});
  /* the next state is a softmax of x's projection alone: no barrier inside
   * the step, but a full write of the state */
  act_cell_yaml(y, sizeof y, "softmax", "u");
  assert_int_equal(yaml_calls(y, c1, "seqrt_arrive"), 0);
  cgt_check(y, &(cgt_opts){.variants = CGT_FUSED, .tol = 1e-4, .threads = 3});
  /* and one that needs a barrier inside the step (softmax reads every column of s) */
  act_cell_yaml(y, sizeof y, "softmax", "s");
  assert_int_equal(yaml_calls(y, c1, "seqrt_arrive"), 0);
  cgt_check(y, &(cgt_opts){.variants = CGT_FUSED, .tol = 1e-4, .threads = 3});
}

/* the panel unit of the buffer of the value named `name` in a scheduled g */
static int64_t panel_unit_of(const ir_graph *g, const char *name) {
  for (int v = 0; v < g->nvalues; v++) {
    const ir_value *val = &g->values[v];
    if (val->name && strcmp(val->name, name) == 0 && val->buffer >= 0)
      return g->buffers[val->buffer].panel;
  }
  fail_msg("no value '%s'", name);
  return -1;
}

/* the plan: Whh^T goes into panels of the hidden size, for batch 1 and for
 * batch 3; Wih^T (the hoisted projection's B, outside the scan) and a batch
 * left symbolic (rows unknown at compile time) stay row-major */
static void panel_plan(void **state) {
  (void)state;
  for (int k = 0; k < 3; k++) {
    char y[512];
    rnn_yaml(y, sizeof y, "lstm", k == 1 ? 3 : 1, 6, 64);
    ir_graph *g = cgt_load(y);
    int64_t syms[2] = {k == 1 ? 3 : 1, 6};
    ir_diags d;
    ir_diags_init(&d, "test", NULL, 0, stderr);
    pass_ctx ctx = {.diags = &d, .syms = k == 2 ? NULL : syms, .target = &wide};
    assert_true(pass_run_pipeline(g, &ctx));
    assert_int_equal(panel_unit_of(g, "r.weight_hh_l0_t"), k == 2 ? 0 : 64);
    assert_int_equal(panel_unit_of(g, "r.weight_ih_l0_t"), 0);
    ir_graph_free(g);
  }
}

/* YAML y scheduled with dims syms: the unit split that the kernel whose
 * result is value `name` takes */
static int64_t feeds_unit(const char *y, const int64_t *syms, const char *name) {
  ir_graph *g = cgt_load(y);
  ir_diags d;
  ir_diags_init(&d, "test", NULL, 0, stderr);
  pass_ctx ctx = {.diags = &d, .syms = syms, .target = &wide};
  assert_true(pass_run_pipeline(g, &ctx));
  int64_t unit = -1;
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *n = &g->nodes[i];
    const char *vn = n->noutputs == 1 ? g->values[n->outputs[0]].name : NULL;
    if (!n->dead && vn && strcmp(vn, name) == 0) unit = n->sched.unit;
  }
  ir_graph_free(g);
  if (unit < 0) fail_msg("no kernel makes '%s'", name);
  return unit;
}

/* a projection written out: q = tanh(x W^T + b) [B, T, 128], and a scan
 * over its columns [start, start + 64) with a 64-wide state; outputs `outs` */
static void proj_cell_yaml(char *buf, size_t len, int64_t B, int64_t start, const char *outs) {
  snprintf(buf, len,
           "seqc: 1\nname: m\ndims: {B: %lld, T: 5}\n"
           "inputs:\n  x: {dtype: f32, shape: [B, T, 6]}\n"
           "outputs: [%s]\nnodes:\n"
           "  p:  {op: linear, input: x, out_features: 128}\n"
           "  q:  {op: tanh, input: p}\n"
           "  ps: {op: slice, input: q, dim: 2, start: %lld, end: %lld}\n"
           "  cell:\n    op: scan\n    over: {x: ps}\n"
           "    state: {h: {zeros: [B, 64]}}\n    body:\n"
           "      a:  {op: linear, input: h, out_features: 64, bias: false}\n"
           "      s:  {op: add, inputs: [a, x]}\n"
           "      hn: {op: tanh, input: s}\n"
           "    next: {h: hn}\n    emit: [hn]\n",
           (long long)B, outs, (long long)start, (long long)start + 64);
}

/*
 * The kernel that feeds a batch-1 scan's over inputs (the hoisted input
 * projection) takes the scan's unit split, so that each thread writes the
 * columns its steps read: through slices at multiples of the unit, not when
 * the batch is 3 or the dims are symbolic, not for a unit below 4 vectors,
 * not when a slice starts inside a unit, nor when the result is also an
 * output. Results at 1 to 3 threads equal the interpreter's.
 */
static void projection_split(void **state) {
  (void)state;
  char y[1024];
  int64_t b1[2] = {1, 6}, b3[2] = {3, 6};
  rnn_yaml(y, sizeof y, "lstm", 1, 6, 64);
  assert_int_equal(feeds_unit(y, b1, "x_gates"), 64);
  assert_int_equal(feeds_unit(y, NULL, "x_gates"), 0);
  rnn_yaml(y, sizeof y, "gru", 1, 6, 64);
  assert_int_equal(feeds_unit(y, b1, "x_gates"), 64);
  cgt_check(y, &(cgt_opts){.variants = CGT_FUSED, .tol = 1e-4, .threads = 3});
  rnn_yaml(y, sizeof y, "gru", 3, 6, 64);
  assert_int_equal(feeds_unit(y, b3, "x_gates"), 0);
  rnn_yaml(y, sizeof y, "lstm", 1, 6, 48);
  assert_int_equal(feeds_unit(y, b1, "x_gates"), 0);

  int64_t p1[2] = {1, 5}, p3[2] = {3, 5};
  proj_cell_yaml(y, sizeof y, 1, 64, "cell");
  assert_int_equal(feeds_unit(y, p1, "q"), 64);
  cgt_check(y, &(cgt_opts){.variants = CGT_FUSED | CGT_UNFUSED, .tol = 1e-4, .threads = 3});
  proj_cell_yaml(y, sizeof y, 1, 32, "cell");
  assert_int_equal(feeds_unit(y, p1, "q"), 0);
  proj_cell_yaml(y, sizeof y, 3, 64, "cell");
  assert_int_equal(feeds_unit(y, p3, "q"), 0);
  proj_cell_yaml(y, sizeof y, 1, 64, "cell, q");
  assert_int_equal(feeds_unit(y, p1, "q"), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(tanh_cell),
      cmocka_unit_test(lstm_cell),
      cmocka_unit_test(gru_cell),
      cmocka_unit_test(chunked),
      cmocka_unit_test(one_step),
      cmocka_unit_test(custom_cell_yaml),
      cmocka_unit_test(unrolled),
      cmocka_unit_test(code_size_independent_of_T),
      cmocka_unit_test(unrolled_steps_without_remainder_copy),
      cmocka_unit_test(unit_split),
      cmocka_unit_test(unit_split_saves_barriers),
      cmocka_unit_test(panel_weights),
      cmocka_unit_test(batch_step_barriers),
      cmocka_unit_test(panel_plan),
      cmocka_unit_test(split_steps),
      cmocka_unit_test(step_gemms_stay_inline),
      cmocka_unit_test(projection_split),
      cmocka_unit_test(lengths_runs),
      cmocka_unit_test(lengths_out_of_range),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
