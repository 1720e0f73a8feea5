/*
 * test_decompose_attention.c: decompose turns multihead_attention and the
 * Transformer layers into primitives (passes/decompose_attention.c).
 *
 * The expansion is checked node by node (ops and names, in order: the
 * frontend emitted exactly these before the layers were ops, and codegen
 * must see the same graph), the masks land on the right attention nodes, a
 * layer without biases gets zero norm biases, and a stack keeps its nodes'
 * names. The interpreter computes the layer ops directly
 * (ir/eval_attention.c), so for each variant (causal or not, window,
 * norm_first or not, relu or gelu, no bias, decoder with memory, cross
 * attention with key and value apart) the numbers before and after decompose
 * must agree at 1e-5, and the FLOP count must not move.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_passes.h"

/* dims and input x; MEM and Y add the inputs mem and y */
#define HEAD \
  "seqc: 1\nname: m\ndims: {B: 2, T: 5, S: 3}\ninputs:\n  x: {dtype: f32, shape: [B, T, 8]}\n"
#define MEM "  mem: {dtype: f32, shape: [B, S, 8]}\n"
#define Y "  y: {dtype: f32, shape: [B, S, 8]}\n"

static const int64_t SYMS[] = {2, 5, 3};

/* the live nodes' ops (what = 0) or names (what = 1), space-separated */
static const char *listing(const ir_graph *g, int what, char *buf, size_t size) {
  size_t n = 0;
  buf[0] = '\0';
  for (int i = 0; i < g->nnodes && n < size; i++) {
    const ir_node *nd = &g->nodes[i];
    if (nd->dead) continue;
    n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? " " : "",
                          what ? nd->name : ir_ops[nd->op].name);
  }
  return buf;
}

/* |a - b| <= tol + tol * |b| on every output, for two sets of random data
 * (integer inputs in [0, index_limit): 0/1 masks for 2) */
static void same_numbers(const ir_graph *before, const ir_graph *after, double tol,
                         int64_t index_limit) {
  int n = after->noutputs;
  seqrt_tensor want[8], got[8];
  assert_true(n <= 8 && before->noutputs == n);
  for (uint64_t seed = 1; seed <= 2; seed++) {
    rand_data r = {.syms = SYMS, .seed = seed, .index_limit = index_limit};
    eval_random(before, &r, want);
    rand_data_free(&r);
    eval_random(after, &r, got);
    rand_data_free(&r);
    for (int i = 0; i < n; i++) {
      const float *a = got[i].data, *b = want[i].data;
      assert_int_equal(seqrt_tensor_numel(&want[i]), seqrt_tensor_numel(&got[i]));
      for (int64_t k = 0; k < seqrt_tensor_numel(&want[i]); k++)
        if (!(fabs(a[k] - b[k]) <= tol + tol * fabs(b[k])))
          fail_msg("output %s[%lld]: %.9g decomposed, %.9g computed directly",
                   after->outputs[i].name, (long long)k, a[k], b[k]);
      free(want[i].data);
      free(got[i].data);
    }
  }
}

/* lowers src (one layer op per node), decomposes it, and checks that no layer
 * op is left, that the numbers agree with the direct computation (integer
 * inputs below index_limit) and that the FLOP count is the same before and after */
static ir_graph *decomposed_with(const char *src, int64_t index_limit) {
  ir_graph *g = load_yaml(src);
  ir_graph *before = ir_graph_clone(g);
  double flops = ir_graph_flops(g, SYMS);
  assert_true(run_pass(g, pass_decompose, "decompose"));
  for (int i = 0; i < g->nnodes; i++)
    assert_false(!g->nodes[i].dead && (ir_ops[g->nodes[i].op].traits & IR_T_LAYER));
  same_numbers(before, g, 1e-5, index_limit);
  double after = ir_graph_flops(g, SYMS);
  if (fabs(after - flops) > 1e-9 * flops)
    fail_msg("flops %.17g before decompose, %.17g after", flops, after);
  assert_true(flops > 0);
  ir_graph_free(before);
  return g;
}

static ir_graph *decomposed(const char *src) { return decomposed_with(src, 1); }

/* the ops of each expansion, LINEAR already expanded (transpose matmul [add]) */
#define LIN "transpose matmul add"
#define SPLIT1 "reshape transpose select"
#define MERGE "attention transpose reshape " LIN
#define MHA_SELF LIN " reshape transpose select select select " MERGE
#define PROJ "slice slice " LIN
#define MHA_KV PROJ " " SPLIT1 " " PROJ " reshape transpose select select " MERGE
#define FF LIN " relu " LIN

static void mha_self(void **state) {
  (void)state;
  ir_graph *g = decomposed(HEAD
                           "outputs: [a]\nnodes:\n"
                           "  a: {op: multihead_attention, input: x, num_heads: 2, "
                           "causal: true, window: 1}\n");
  char buf[4096];
  assert_string_equal(listing(g, 0, buf, sizeof buf), MHA_SELF);
  assert_string_equal(listing(g, 1, buf, sizeof buf),
                      "a.qkv_proj.weight_t a.qkv_proj.matmul a.qkv_proj a.heads a.heads_t a.q a.k "
                      "a.v a.attention a.merge a.merged a.weight_t a.matmul a");
  const ir_node *at = &g->nodes[find_op(g, IR_OP_ATTENTION)];
  assert_int_equal(ir_attr_int(at, "causal"), 1);
  assert_int_equal(ir_attr_int(at, "window"), 1);
  assert_true(fabs(ir_attr_float(at, "scale") - 0.5) < 1e-12); /* dh 4 */
  ir_graph_free(g);
}

static void mha_cross(void **state) {
  (void)state;
  /* key is value: one projection of both; key and value apart: one each */
  ir_graph *g = decomposed(HEAD MEM
                           "outputs: [c]\nnodes:\n"
                           "  c: {op: multihead_attention, input: x, key: mem, num_heads: 4}\n");
  char buf[4096];
  assert_string_equal(listing(g, 0, buf, sizeof buf), MHA_KV);
  ir_graph_free(g);
  g = decomposed(HEAD MEM Y
                 "outputs: [s]\nnodes:\n"
                 "  s: {op: multihead_attention, input: x, key: mem, value: y, "
                 "num_heads: 2, bias: false}\n");
  assert_string_equal(listing(g, 0, buf, sizeof buf),
                      "slice transpose matmul " SPLIT1
                      " slice transpose matmul slice transpose "
                      "matmul " SPLIT1 " " SPLIT1 " attention transpose reshape transpose matmul");
  assert_string_equal(listing(g, 1, buf, sizeof buf),
                      "s.q_weight s.q_proj.weight_t s.q_proj s.heads s.heads_t s.v s.k_weight "
                      "s.k_proj.weight_t s.k_proj s.v_weight s.v_proj.weight_t s.v_proj "
                      "s.k_heads s.k_heads_t s.k_v s.v_heads s.v_heads_t s.v_v s.attention "
                      "s.merge s.merged s.weight_t s");
  ir_graph_free(g);
}

static void encoder_layers(void **state) {
  (void)state;
  char buf[8192];
  ir_graph *g = decomposed(HEAD
                           "outputs: [e]\nnodes:\n"
                           "  e: {op: transformer_encoder_layer, input: x, nhead: 2, "
                           "dim_feedforward: 16, causal: true}\n");
  assert_string_equal(listing(g, 0, buf, sizeof buf),
                      MHA_SELF " add layer_norm " FF " add layer_norm");
  const char *names = listing(g, 1, buf, sizeof buf);
  assert_non_null(strstr(names, " e.self_attn.qkv_proj e.self_attn.heads "));
  assert_non_null(strstr(names, " e.self_attn.out_proj e.sa_add e.norm1 e.linear1.weight_t "));
  assert_non_null(strstr(names, " e.linear2 e.ff_add e"));
  assert_int_equal(ir_attr_int(&g->nodes[find_op(g, IR_OP_ATTENTION)], "causal"), 1);
  ir_graph_free(g);

  /* pre-norm, gelu, no bias: the norms get zero constants as biases */
  g = decomposed(HEAD
                 "outputs: [e]\nnodes:\n"
                 "  e: {op: transformer_encoder_layer, input: x, nhead: 4, "
                 "dim_feedforward: 16, norm_first: true, activation: gelu, bias: false, "
                 "window: 2, layer_norm_eps: 1e-3}\n");
  assert_string_equal(listing(g, 0, buf, sizeof buf),
                      "layer_norm transpose matmul reshape transpose select select select "
                      "attention transpose reshape transpose matmul add layer_norm transpose "
                      "matmul gelu transpose matmul add");
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->op != IR_OP_LAYER_NORM) continue;
    const ir_value *b = &g->values[n->inputs[2]];
    assert_int_equal(b->kind, IR_VAL_CONST);
    for (int k = 0; k < 8; k++) assert_true(((const float *)b->data)[k] == 0.0f);
    assert_true(ir_attr_float(n, "eps") == 1e-3);
  }
  assert_int_equal(ir_attr_int(&g->nodes[find_op(g, IR_OP_GELU)], "tanh"), 0);
  assert_int_equal(ir_attr_int(&g->nodes[find_op(g, IR_OP_ATTENTION)], "window"), 2);
  ir_graph_free(g);
}

static void decoder_layers(void **state) {
  (void)state;
  char buf[8192];
  ir_graph *g = decomposed(HEAD MEM
                           "outputs: [d]\nnodes:\n"
                           "  d: {op: transformer_decoder_layer, input: x, memory: mem, "
                           "nhead: 2, dim_feedforward: 16, causal: true, window: 3}\n");
  assert_string_equal(listing(g, 0, buf, sizeof buf),
                      MHA_SELF " add layer_norm " MHA_KV " add layer_norm " FF " add layer_norm");
  const char *names = listing(g, 1, buf, sizeof buf);
  assert_non_null(strstr(names, " d.norm1 d.multihead_attn.q_weight d.multihead_attn.q_bias "));
  assert_non_null(strstr(names, " d.multihead_attn.out_proj d.ca_add d.norm2 d.linear1"));
  assert_non_null(strstr(names, " d.ff_add d"));
  /* the self-attention is masked, the cross-attention never */
  int k = 0;
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->op != IR_OP_ATTENTION) continue;
    assert_int_equal(ir_attr_int(n, "causal"), k == 0);
    assert_int_equal(ir_attr_int(n, "window"), k == 0 ? 3 : -1);
    k++;
  }
  assert_int_equal(k, 2);
  ir_graph_free(g);

  g = decomposed(HEAD MEM
                 "outputs: [d]\nnodes:\n"
                 "  d: {op: transformer_decoder_layer, input: x, memory: mem, nhead: 4, "
                 "dim_feedforward: 8, norm_first: true, activation: gelu, causal: true}\n");
  assert_int_equal(count_op(g, IR_OP_LAYER_NORM), 3);
  assert_int_equal(count_op(g, IR_OP_ATTENTION), 2);
  ir_graph_free(g);
}

/* key padding masks (SPEC 11) reach the attention nodes they belong to as
 * input 3 with key_padding 1: a decoder's tgt mask its self-attention, its
 * memory mask its cross-attention; a stack's mask every layer. Random 0/1
 * masks give the numbers of the direct computation. */
#define PADS "  tp: {dtype: i64, shape: [B, T]}\n  mp: {dtype: i32, shape: [B, S]}\n"
static void padding_masks(void **state) {
  (void)state;
  ir_graph *g = decomposed_with(HEAD MEM PADS
                                "outputs: [d]\nnodes:\n"
                                "  d: {op: transformer_decoder, input: x, memory: mem, "
                                "num_layers: 2, nhead: 2, dim_feedforward: 8, causal: true, "
                                "tgt_key_padding_mask: tp, memory_key_padding_mask: mp}\n",
                                2);
  int tp = g->inputs[2], mp = g->inputs[3], k = 0;
  assert_string_equal(g->values[tp].name, "tp");
  for (int i = 0; i < g->nnodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead || n->op != IR_OP_ATTENTION) continue;
    assert_int_equal(n->ninputs, 4);
    assert_int_equal(ir_attr_int(n, "key_padding"), 1);
    assert_int_equal(n->inputs[3], k % 2 == 0 ? tp : mp); /* self, then cross, per layer */
    k++;
  }
  assert_int_equal(k, 4);
  ir_graph_free(g);
  /* multihead_attention's own, cross (keys of length S); an encoder layer's */
  g = decomposed_with(HEAD MEM PADS
                      "outputs: [c, e]\nnodes:\n"
                      "  c: {op: multihead_attention, input: x, key: mem, num_heads: 4, "
                      "key_padding_mask: mp}\n"
                      "  e: {op: transformer_encoder_layer, input: c, nhead: 2, "
                      "dim_feedforward: 8, window: 1, src_key_padding_mask: tp}\n",
                      2);
  assert_int_equal(count_op(g, IR_OP_ATTENTION), 2);
  ir_graph_free(g);
}

/* stacks: a layer node per layer, named as the nodes always were */
static void stacks(void **state) {
  (void)state;
  char buf[16384];
  ir_graph *g = decomposed(HEAD MEM
                           "outputs: [t, e]\nnodes:\n"
                           "  t: {op: transformer, src: mem, tgt: x, nhead: 2, "
                           "num_encoder_layers: 2, num_decoder_layers: 1, "
                           "dim_feedforward: 8, causal: true}\n"
                           "  e: {op: transformer_encoder, input: x, nhead: 2, "
                           "num_layers: 2, dim_feedforward: 8, norm_first: true}\n");
  const char *names = listing(g, 1, buf, sizeof buf);
  assert_non_null(strstr(names, " t.encoder.layers.0.norm2 t.encoder.layers.1.self_attn."));
  assert_non_null(strstr(names, " t.encoder.layers.1.norm2 t.encoder.norm "));
  assert_non_null(strstr(names, " t.decoder.layers.0.norm3 t "));
  assert_non_null(strstr(names, " e.layers.0.ff_add e.layers.1.norm1 "));
  assert_non_null(strstr(names, " e.layers.1.linear2 e"));
  assert_int_equal(count_op(g, IR_OP_ATTENTION), 2 + 2 + 2);
  ir_graph_free(g);
}

/* the message infer gives node `name` of g after param's type is set to bad,
 * "" when it types the node */
static char *infer_error(ir_graph *g, const char *name, const char *param, ir_type bad) {
  int node = -1;
  for (int i = 0; i < g->nnodes; i++)
    if (!strcmp(g->nodes[i].name, name)) node = i;
  for (int v = 0; v < g->nvalues; v++)
    if (g->values[v].name && !strcmp(g->values[v].name, param)) g->values[v].type = bad;
  assert_true(node >= 0);
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  ir_diags d;
  ir_diags_init(&d, "m.yaml", NULL, 0, out);
  bool ok = ir_infer_node(g, node, &d);
  fclose(out);
  assert_int_equal(ok, d.nerrors == 0);
  return text;
}

/* a layer node with a wrong weight is refused at its position, by name */
static void infer_checks_weights(void **state) {
  (void)state;
  ir_graph *g = load_yaml(HEAD MEM
                          "outputs: [a, d]\nnodes:\n"
                          "  a: {op: multihead_attention, input: x, num_heads: 2}\n"
                          "  d: {op: transformer_decoder_layer, input: x, memory: mem, "
                          "nhead: 2, dim_feedforward: 16, bias: false}\n");
  char *msg = infer_error(g, "a", "a.out_proj.bias", tf32(1, 9));
  assert_string_equal(msg,
                      "m.yaml:9:3: error: 'a': parameter out_proj.bias: expected f32 [8], "
                      "got f32 [9]\n");
  free(msg);
  msg = infer_error(g, "d", "d.linear2.weight", tf32(2, 16, 8));
  assert_string_equal(msg,
                      "m.yaml:10:3: error: 'd': parameter linear2.weight: expected f32 "
                      "[8, 16], got f32 [16, 8]\n");
  free(msg);
  msg = infer_error(g, "d", "mem", tf32(3, 2, 3, 6));
  assert_string_equal(msg,
                      "m.yaml:10:3: error: transformer_decoder_layer 'd': expected memory "
                      "of f32 [B, S, 8], got f32 [2, 3, 6]\n");
  free(msg);
  ir_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(mha_self),       cmocka_unit_test(mha_cross),
      cmocka_unit_test(encoder_layers), cmocka_unit_test(decoder_layers),
      cmocka_unit_test(stacks),         cmocka_unit_test(infer_checks_weights),
      cmocka_unit_test(padding_masks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
