/*
 * test_fuzz.c: random mutations of valid models go through parse and lower
 * without crashing (run it under ASan/UBSan for the full check), and the
 * outcome is always consistent: a graph exactly when no error was reported,
 * and a graph the verifier accepts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include "fe_test.h"

static const char *const seeds[] = {
    "seqc: 1\n"
    "name: mix\n"
    "dims: {B: 2, T: 5}\n"
    "inputs:\n"
    "  x: {dtype: f32, shape: [B, T, 8]}\n"
    "  tok: {dtype: i32, shape: [B, T]}\n"
    "outputs: [y, e, sm, se, d, z]\n"
    "nodes:\n"
    "  fc1: {op: linear, input: x, out_features: 16, in_features: 8}\n"
    "  act: {op: gelu, input: fc1, approximate: tanh}\n"
    "  n: {op: layer_norm, input: act, eps: 1e-5, normalized_shape: [16]}\n"
    "  r: {op: rms_norm, input: n}\n"
    "  y: {op: linear, input: r, out_features: 4, bias: false}\n"
    "  e: {op: embedding, input: tok, num_embeddings: 10, embedding_dim: 8, padding_idx: 0}\n"
    "  s: {op: add, inputs: [e, 1.5]}\n"
    "  t: {op: transpose, input: s, dims: [0, -1, 1]}\n"
    "  mm: {op: matmul, inputs: [s, t]}\n"
    "  sm: {op: softmax, input: mm, dim: -1}\n"
    "  c: {op: concat, inputs: [x, e], dim: 2}\n"
    "  sl: {op: slice, input: c, dim: 1, start: -2}\n"
    "  se: {op: select, input: sl, dim: 1, index: -1}\n"
    "  me: {op: mean, input: x, dim: 1, keepdim: true}\n"
    "  rs: {op: reshape, input: x, shape: [B, -1]}\n"
    "  d: {op: dropout, input: rs, p: 0.1}\n"
    "  pe: {op: positional_encoding, input: x, kind: sinusoidal}\n"
    "  z: {op: mul, inputs: [pe, me]}\n",

    "# block style\n"
    "seqc: 1\n"
    "name: block\n"
    "dims:\n"
    "  B: 1\n"
    "  T: 16\n"
    "inputs:\n"
    "  tokens:\n"
    "    dtype: i64\n"
    "    shape: [B, T]\n"
    "outputs:\n"
    "  - logits\n"
    "  - 'probs'\n"
    "nodes:\n"
    "  embed:\n"
    "    op: embedding\n"
    "    input: tokens\n"
    "    num_embeddings: 100\n"
    "    embedding_dim: 32\n"
    "  h:\n"
    "    op: linear\n"
    "    input: embed\n"
    "    out_features: 64\n"
    "  a: {op: silu, input: h}\n"
    "  logits: {op: linear, input: a, out_features: 10}\n"
    "  probs: {op: softmax, input: logits}\n"
    "  u: {op: div, inputs: [probs, \"logits\"]}\n",
};

/* splitmix64: a small deterministic generator, state kept by the caller */
static uint64_t next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* one mutation of src[0..*len) into dst (room for 2 * *len + 64) */
static void mutate(const char *src, size_t len, char *dst, size_t *out_len, uint64_t *rng) {
  static const char special[] = ":[]{},-&*!|>'\"#\n\t ?%@`\\0123456789.e";
  static const char *const words[] = {"null",   "true",  "-1",
                                      "1e999",  "B",     "T",
                                      "op",     "input", "99999999999999999999",
                                      "x.h_n",  "~",     "[",
                                      "{a: 1}", "fc1",   "-9223372036854775808",
                                      "&a",     "*a",    "\xc3\x28",
                                      "\"\\0\""};
  memcpy(dst, src, len);
  size_t n = len;
  int edits = 1 + (int)(next(rng) % 3);
  for (int k = 0; k < edits && n > 0; k++) {
    size_t at = next(rng) % n;
    switch (next(rng) % 7) {
      case 6: /* another digit: sizes and dims change, the model often stays valid */
        while (at < n && !(dst[at] >= '0' && dst[at] <= '9')) at++;
        if (at < n) dst[at] = (char)('1' + next(rng) % 9);
        break;
      case 0:
        dst[at] = (char)(next(rng) & 0xff);
        break; /* any byte */
      case 1:
        dst[at] = special[next(rng) % (sizeof special - 1)];
        break;  /* YAML syntax */
      case 2: { /* delete a span */
        size_t span = 1 + next(rng) % 12;
        if (span > n - at) span = n - at;
        memmove(dst + at, dst + at + span, n - at - span);
        n -= span;
        break;
      }
      case 3: { /* duplicate a line */
        size_t b = at, e = at;
        while (b > 0 && dst[b - 1] != '\n') b--;
        while (e < n && dst[e] != '\n') e++;
        size_t span = e - b + (e < n);
        if (n + span > 2 * len + 32) break;
        memmove(dst + b + span, dst + b, n - b);
        n += span;
        break;
      }
      default: { /* a meaningful word */
        const char *w = words[next(rng) % (sizeof words / sizeof words[0])];
        size_t wl = strlen(w);
        if (n + wl > 2 * len + 32) break;
        memmove(dst + at + wl, dst + at, n - at);
        memcpy(dst + at, w, wl);
        n += wl;
        break;
      }
    }
  }
  *out_len = n;
}

static void mutations_never_crash(void **state) {
  (void)state;
  uint64_t rng = 42;
  int graphs = 0, failures = 0;
  for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
    size_t len = strlen(seeds[s]);
    char *buf = malloc(2 * len + 64);
    for (int i = 0; i < 300; i++) {
      size_t n;
      mutate(seeds[s], len, buf, &n, &rng);
      /* an exact-size copy, not NUL-terminated, so reading past the end is caught */
      char *text = malloc(n ? n : 1);
      memcpy(text, buf, n);
      lowered r = lower_n(text, n);
      assert_int_equal(r.g != NULL, r.nerrors == 0);
      if (r.g) {
        graphs++;
        assert_true(ir_verify(r.g, "frontend", stderr));
      } else {
        failures++;
        assert_true(!strncmp(r.diags, "t.yaml:", 7));
      }
      lowered_free(&r);
      free(text);
    }
    free(buf);
  }
  /* the mutations must exercise both outcomes, or the test proves little */
  assert_true(graphs > 10);
  assert_true(failures > 100);
}

/* the unmutated seeds are valid models */
static void seeds_are_valid(void **state) {
  (void)state;
  for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
    lowered r = lower(seeds[s]);
    if (!r.g) fprintf(stderr, "%s", r.diags);
    assert_non_null(r.g);
    assert_true(ir_verify(r.g, "frontend", stderr));
    lowered_free(&r);
  }
}

/* every prefix of a valid model: truncated files are the most common corruption */
static void prefixes(void **state) {
  (void)state;
  const char *src = seeds[0];
  size_t len = strlen(src);
  for (size_t n = 0; n <= len; n += 3) {
    char *text = malloc(n ? n : 1);
    memcpy(text, src, n);
    lowered r = lower_n(text, n);
    assert_int_equal(r.g != NULL, r.nerrors == 0);
    lowered_free(&r);
    free(text);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(seeds_are_valid),
      cmocka_unit_test(mutations_never_crash),
      cmocka_unit_test(prefixes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
