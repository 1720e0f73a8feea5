/*
 * decompose_xl.c: transformer_xl into one segment SCAN (chunk C) whose
 * states are the layers' memories, around rel_attention:
 *
 *   top:   R   = the sinusoid rows of distances 0 .. M+C-1 (clamped), a constant
 *          rk_l = heads of LINEAR(R, r_net_l)          [H, M+C, dh], params only: prepared
 *          mem_l = SELECT(mems, 0, l)                  [B, M, D]
 *   body (one segment h [B, C, D]; the state `rows` [1], s C before segment s),
 *   per layer l:
 *          cat = CONCAT(mem_l, h)                      [B, M+C, D]
 *          q, k, v = heads of LINEAR(cat, qkv_net)     [B, H, M+C, dh]; q's last C rows
 *          a = REL_ATTENTION(q, k, v, rk_l, r_w_bias, r_r_bias, rows)
 *          o = LAYER_NORM(h + LINEAR(merged a, o_net))
 *          h = LAYER_NORM(o + CoreNet.3(RELU(CoreNet.0(o))))
 *          next mem_l = cat's last M rows
 *        next rows = rows + C
 *   after: y = the emitted h; mems = the final memories stacked [L, B, M, D]
 *
 * rel_attention derives the memory's valid rows from the segment's first
 * position, p + rows (p the session position when the node streams: its
 * `streams`), so the first segments (and a carried run) see only what was
 * written. Counting rows in a state, not scanning positions [B, T], keeps
 * what the scan reads beyond x from growing with T. The count is f32: exact
 * to 2^24 rows in a run, and past that still above any M, which is all
 * rel_attention asks (min(M, p + rows)). With mem_len 0 there is no memory
 * state: keys are the segment's, and the memories' value (zero rows) is the
 * input's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "passes.h"

typedef pass_expansion out;

static int put(out *o, ir_op op, const char *suffix, const int *in, int n) {
  return pass_put(o, op, suffix, in, n);
}

static int op2(out *o, ir_op op, const char *suffix, int a, int b) {
  int in[2] = {a, b};
  return pass_typed(o, put(o, op, suffix, in, 2));
}

static int norm(out *o, const char *suffix, int x, int w, int b, double eps) {
  int in[3] = {x, w, b};
  int n = put(o, IR_OP_LAYER_NORM, suffix, in, 3);
  ir_set_attr_float(o->g, n, "eps", eps);
  return pass_typed(o, n);
}

/* the sinusoid rows R_d, d = 0 .. K-1 (clamped), sines then cosines: [K, D] */
static int sinusoids(ir_graph *g, int64_t K, int64_t D, int64_t clamp, ir_loc loc) {
  float *data = ir_alloc(g, sizeof(float) * (size_t)(K * D));
  for (int64_t d = 0; d < K; d++) {
    double dist = (double)(clamp > 0 && d > clamp ? clamp : d);
    for (int64_t t = 0; t < D / 2; t++) {
      double f = pow(10000.0, -2.0 * (double)t / (double)D);
      data[d * D + t] = (float)sin(dist * f);
      data[d * D + D / 2 + t] = (float)cos(dist * f);
    }
  }
  ir_type t = {.dtype = IR_F32, .rank = 2, .dims = {ir_dim_const(K), ir_dim_const(D)}};
  return ir_add_const(g, t, data, loc);
}

/* a body input standing for outer value v (a capture or a scan input) */
static int body_input(ir_graph *b, const ir_graph *g, int v, ir_type t, ir_loc loc) {
  return ir_add_input(b, g->values[v].name ? g->values[v].name : "in", t, loc);
}

int pass_expand_xl(ir_graph *g, int i, ir_diags *d) {
  const ir_node *n = &g->nodes[i];
  ir_xl_cfg c = ir_xl_cfg_of(n);
  int x = n->inputs[0], mems = n->inputs[1], y_old = n->outputs[0], m_old = n->outputs[1];
  int64_t L = c.layers, M = c.mem_len, C = c.segment, H = c.n_head, dh = c.d_head, E = H * dh;
  int64_t K = M + C;
  const ir_type xt = g->values[x].type;
  int64_t D = xt.dims[2].coef;
  ir_dim Bd = xt.dims[0];
  const char *name = n->name;
  ir_loc loc = n->loc;
  int nparams = (int)(L * IR_XL_NPARAMS);
  int *params = malloc(sizeof(int) * (size_t)nparams);
  IR_ASSERT(params);
  for (int k = 0; k < nparams; k++) params[k] = n->inputs[2 + k];
  out o = {.g = g, .pos = i, .name = name, .loc = loc, .d = d};

  /* top: the distance table per layer, the memories, the row count's start and step */
  ir_type one = {.dtype = IR_F32, .rank = 1, .dims = {ir_dim_const(1)}};
  float zero_rows = 0, seg_rows = (float)C;
  int rows0 = ir_add_const(g, one, &zero_rows, loc),
      rows_step = ir_add_const(g, one, &seg_rows, loc);
  int R = sinusoids(g, K, D, c.clamp_len, loc);
  int rk[64], mem[64];
  IR_ASSERT(L <= 64);
  for (int64_t l = 0; l < L; l++) {
    char s[64];
    snprintf(s, sizeof s, "layers.%lld.r_head_k", (long long)l);
    int r = pass_linear(&o, s, R, params[l * IR_XL_NPARAMS + IR_XL_R_NET], -1);
    ir_dim hd[3] = {ir_dim_const(K), ir_dim_const(H), ir_dim_const(dh)};
    snprintf(s, sizeof s, "layers.%lld.r_heads", (long long)l);
    r = pass_reshape(&o, s, r, 3, hd);
    static const int64_t perm[3] = {1, 0, 2};
    snprintf(s, sizeof s, "layers.%lld.rk", (long long)l);
    rk[l] = pass_transpose(&o, s, r, 3, perm);
    if (M > 0) {
      snprintf(s, sizeof s, "layers.%lld.mem", (long long)l);
      mem[l] = pass_select(&o, s, mems, 0, l);
    }
  }

  /* the body */
  ir_graph *b = ir_graph_new(NULL);
  b->parent = g;
  ir_type seg = xt, step = xt;
  seg.dims[1] = ir_dim_const(C);
  step.rank = 2, step.dims[1] = xt.dims[2];
  int bx = ir_add_input(b, "x", C > 1 ? seg : step, loc);
  int bmem[64];
  int64_t nmem = M > 0 ? L : 0; /* the memory states, then the row count */
  ir_type mt = {.dtype = IR_F32, .rank = 3, .dims = {Bd, ir_dim_const(M), ir_dim_const(D)}};
  for (int64_t l = 0; l < nmem; l++) bmem[l] = body_input(b, g, mem[l], mt, loc);
  int brows = ir_add_input(b, "rows", one, loc);
  /* captures: the row count's step, each layer's params but r_net, and its rk */
  int ncap = 1, cap_outer[64 * IR_XL_NPARAMS + 1], cap_body[64 * IR_XL_NPARAMS + 1];
  cap_outer[0] = rows_step;
  cap_body[0] = ir_add_input(b, "segment_rows", one, loc);
  for (int64_t l = 0; l < L; l++) {
    for (int k = 0; k < IR_XL_NPARAMS; k++) {
      if (k == IR_XL_R_NET) continue;
      int v = params[l * IR_XL_NPARAMS + k];
      cap_outer[ncap] = v;
      cap_body[ncap++] = body_input(b, g, v, g->values[v].type, loc);
    }
    cap_outer[ncap] = rk[l];
    cap_body[ncap++] = body_input(b, g, rk[l], g->values[rk[l]].type, loc);
  }
  out bo = {.g = b, .pos = 0, .name = name, .loc = loc, .d = d};
  int h = bx;
  if (C == 1) h = pass_reshape(&bo, "segment", bx, 3, seg.dims);
  int next[64];
  for (int64_t l = 0, at = 1; l < L; l++) {
    /* this layer's captures, in the order above */
    int w[IR_XL_NPARAMS + 1];
    for (int k = 0, j = 0; k < IR_XL_NPARAMS; k++)
      w[k] = k == IR_XL_R_NET ? -1 : cap_body[at + j++];
    int rkb = cap_body[at + IR_XL_NPARAMS - 1];
    at += IR_XL_NPARAMS;
    char s[96];
#define S(what) (snprintf(s, sizeof s, "layers.%lld.%s", (long long)l, what), s)
    int cat = h;
    if (M > 0) {
      cat = put(&bo, IR_OP_CONCAT, S("cat"), (int[]){bmem[l], h}, 2);
      ir_set_attr_int(b, cat, "dim", 1);
      cat = pass_typed(&bo, cat);
    }
    int qkv = pass_linear(&bo, S("qkv"), cat, w[IR_XL_QKV], -1);
    ir_dim hd[5] = {Bd, ir_dim_const(K), ir_dim_const(3), ir_dim_const(H), ir_dim_const(dh)};
    int r = pass_reshape(&bo, S("heads"), qkv, 5, hd);
    static const int64_t perm5[5] = {2, 0, 3, 1, 4};
    r = pass_transpose(&bo, S("heads_t"), r, 5, perm5);
    int q = pass_slice(&bo, S("q"), pass_select(&bo, S("q_all"), r, 0, 0), 2, M, K);
    int k = pass_select(&bo, S("k"), r, 0, 1), v = pass_select(&bo, S("v"), r, 0, 2);
    int ain[7] = {q, k, v, rkb, w[IR_XL_R_W_BIAS], w[IR_XL_R_R_BIAS], brows};
    int an = put(&bo, IR_OP_REL_ATTENTION, S("attention"), ain, 7);
    ir_set_attr_float(b, an, "scale", 1.0 / sqrt((double)dh));
    ir_set_attr_int(b, an, "mem", M);
    ir_set_attr_int(b, an, "same_length", c.same_length);
    ir_set_attr_int(b, an, "streams", ir_at_position(g, &xt));
    int a = pass_typed(&bo, an);
    static const int64_t back[4] = {0, 2, 1, 3};
    a = pass_transpose(&bo, S("merge"), a, 4, back);
    ir_dim md[3] = {Bd, ir_dim_const(C), ir_dim_const(E)};
    a = pass_reshape(&bo, S("merged"), a, 3, md);
    a = pass_linear(&bo, S("o_net"), a, w[IR_XL_O_NET], -1);
    int o1 = norm(&bo, S("dec_attn.layer_norm"), op2(&bo, IR_OP_ADD, S("attn_add"), h, a),
                  w[IR_XL_ATTN_NORM_W], w[IR_XL_ATTN_NORM_B], c.eps);
    int f = pass_linear(&bo, S("CoreNet.0"), o1, w[IR_XL_FF0_W], w[IR_XL_FF0_B]);
    int rl = put(&bo, IR_OP_RELU, S("relu"), &f, 1);
    f = pass_linear(&bo, S("CoreNet.3"), pass_typed(&bo, rl), w[IR_XL_FF3_W], w[IR_XL_FF3_B]);
    h = norm(&bo, S("pos_ff.layer_norm"), op2(&bo, IR_OP_ADD, S("ff_add"), o1, f),
             w[IR_XL_FF_NORM_W], w[IR_XL_FF_NORM_B], c.eps);
    if (M > 0) next[l] = pass_slice(&bo, S("next_mem"), cat, 1, C, K);
#undef S
  }
  ir_add_output(b, "y", C > 1 ? h : pass_reshape(&bo, "step", h, 2, step.dims));
  for (int64_t l = 0; l < nmem; l++) ir_add_output(b, "mem", next[l]);
  ir_add_output(b, "rows", op2(&bo, IR_OP_ADD, "next_rows", brows, cap_body[0]));

  /* the scan: over x, the memories and the row count, then the captures */
  int nin = 2 + (int)nmem + ncap;
  int *ins = malloc(sizeof(int) * (size_t)nin);
  IR_ASSERT(ins);
  ins[0] = x;
  for (int64_t l = 0; l < nmem; l++) ins[1 + l] = mem[l];
  ins[1 + nmem] = rows0;
  for (int k = 0; k < ncap; k++) ins[2 + nmem + k] = cap_outer[k];
  int sn = pass_put_n(&o, IR_OP_SCAN, "segments", ins, nin, 2 + (int)nmem);
  free(ins);
  g->nodes[sn].body = b;
  ir_set_attr_int(g, sn, "nover", 1);
  ir_set_attr_int(g, sn, "nstate", nmem + 1);
  ir_set_attr_int(g, sn, "reverse", 0);
  ir_set_attr_int(g, sn, "chunk", C);
  IR_ASSERT(ir_infer_node(g, sn, d));
  int y = g->nodes[sn].outputs[0];

  /* the final memories stacked [L, B, M, D] (no memory: the input's empty rows) */
  int stack[64], mems_out = mems;
  for (int64_t l = 0; l < nmem; l++) {
    ir_dim sd[4] = {ir_dim_const(1), Bd, ir_dim_const(M), ir_dim_const(D)};
    char s[64];
    snprintf(s, sizeof s, "layers.%lld.mem_out", (long long)l);
    stack[l] = pass_reshape(&o, s, g->nodes[sn].outputs[1 + l], 4, sd);
  }
  if (nmem > 0) {
    int mo = put(&o, IR_OP_CONCAT, "mems", stack, (int)L);
    ir_set_attr_int(g, mo, "dim", 0);
    mems_out = pass_typed(&o, mo);
    g->values[mems_out].name = g->values[m_old].name;
  }

  g->values[y].name = g->values[y_old].name;
  g->nodes[o.pos].dead = true; /* the layer, moved down */
  ir_replace_uses(g, y_old, y);
  ir_replace_uses(g, m_old, mems_out);
  free(params);
  return i; /* the linears go on to decompose's loop */
}
