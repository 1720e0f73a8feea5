/*
 * test_safetensors.c: reading and writing safetensors files: round trips of
 * every dtype, F16/BF16 widening, realignment, and every kind of corrupt
 * header reported as an error (never a crash or an out-of-bounds read).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "seqrt.h"

static char dir[64];

static int make_dir(void **state) {
  strcpy(dir, "/tmp/seqrt_st_XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

/* a path in the test folder */
static const char *tmp_path(const char *name) {
  static char buf[8][256];
  static int next;
  char *p = buf[next++ % 8];
  snprintf(p, 256, "%s/%s", dir, name);
  return p;
}

static void write_bytes(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(p, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

/* writes a file: u64 length of header, header, then n data bytes */
static void write_st(const char *path, const char *header, const void *data, size_t n) {
  size_t h = strlen(header);
  unsigned char *buf = malloc(8 + h + n + 1);
  for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)h >> (8 * i));
  memcpy(buf + 8, header, h);
  if (n) memcpy(buf + 8 + h, data, n);
  write_bytes(path, buf, 8 + h + n);
  free(buf);
}

/* opening path must fail with a message containing every given fragment */
static void expect_open_error(const char *path, ...) {
  seqrt_error err = {{0}};
  seqrt_st_file *f = seqrt_st_open(path, &err);
  if (f) {
    seqrt_st_close(f);
    fail_msg("opened %s, wanted an error", path);
  }
  va_list ap;
  va_start(ap, path);
  for (const char *frag; (frag = va_arg(ap, const char *));)
    if (!strstr(err.msg, frag)) fail_msg("message '%s' lacks '%s'", err.msg, frag);
  va_end(ap);
}

static void test_round_trip(void **state) {
  float a[6] = {1.5f, -2.25f, 3e-8f, 0.0f, -0.0f, 1e30f};
  int32_t b[4] = {0, -1, 2147483647, -2147483647 - 1};
  int64_t c[4] = {INT64_MAX, INT64_MIN, 42, -7};
  float scalar = 3.25f;
  const char *names[] = {"z.last", "a", "weird \"name\"\\\n", "scalar", "empty"};
  seqrt_tensor t[5] = {
      {SEQRT_F32, 2, {2, 3}, a},    {SEQRT_I32, 1, {4}, b},       {SEQRT_I64, 2, {2, 2}, c},
      {SEQRT_F32, 0, {0}, &scalar}, {SEQRT_F32, 2, {0, 3}, NULL},
  };
  seqrt_error err;
  const char *path = tmp_path("rt.safetensors");
  assert_int_equal(seqrt_st_write(path, names, t, 5, &err), 0);

  /* header: length a multiple of 8, names in the given order */
  FILE *raw = fopen(path, "rb");
  assert_non_null(raw);
  unsigned char len[8];
  assert_int_equal(fread(len, 1, 8, raw), 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = n << 8 | len[i];
  assert_int_equal(n % 8, 0);
  char *header = calloc(1, n + 1);
  assert_int_equal(fread(header, 1, n, raw), n);
  fclose(raw);
  char *pz = strstr(header, "\"z.last\""), *pa = strstr(header, "\"a\"");
  assert_non_null(pz);
  assert_non_null(pa);
  assert_true(pz < pa);
  assert_non_null(strstr(header, "\"dtype\":\"I64\""));
  free(header);

  seqrt_st_file *f = seqrt_st_open(path, &err);
  assert_non_null(f);
  assert_int_equal(seqrt_st_count(f), 5);
  for (int i = 0; i < 5; i++) {
    assert_string_equal(seqrt_st_name(f, i), names[i]);
    assert_int_equal(seqrt_st_find(f, names[i]), i);
    seqrt_tensor g;
    assert_int_equal(seqrt_st_get(f, i, &g, &err), 0);
    assert_int_equal(g.dtype, t[i].dtype);
    assert_int_equal(g.rank, t[i].rank);
    for (int k = 0; k < g.rank; k++) assert_int_equal(g.shape[k], t[i].shape[k]);
    size_t bytes = (size_t)seqrt_tensor_numel(&g) * seqrt_dtype_size(g.dtype);
    if (bytes) assert_memory_equal(g.data, t[i].data, bytes);
    assert_int_equal((uintptr_t)g.data % seqrt_dtype_size(g.dtype), 0);
  }
  assert_int_equal(seqrt_st_find(f, "nope"), -1);
  assert_null(seqrt_st_name(f, 5));
  seqrt_tensor g;
  assert_int_not_equal(seqrt_st_get(f, 5, &g, &err), 0);

  /* writing over a file that is open (and mapped) keeps the open one readable */
  float other[2] = {7, 8};
  seqrt_tensor o = {SEQRT_F32, 1, {2}, other};
  const char *oname = "other";
  assert_int_equal(seqrt_st_write(path, &oname, &o, 1, &err), 0);
  assert_int_equal(seqrt_st_get(f, 0, &g, &err), 0);
  assert_memory_equal(g.data, a, sizeof a);
  seqrt_st_close(f);
  f = seqrt_st_open(path, &err);
  assert_non_null(f);
  assert_int_equal(seqrt_st_count(f), 1);
  assert_int_equal(seqrt_st_get(f, 0, &g, &err), 0);
  assert_true(((float *)g.data)[1] == 8.0f);
  seqrt_st_close(f);

  /* no tensors at all */
  assert_int_equal(seqrt_st_write(path, NULL, NULL, 0, &err), 0);
  f = seqrt_st_open(path, &err);
  assert_non_null(f);
  assert_int_equal(seqrt_st_count(f), 0);
  seqrt_st_close(f);
}

static void test_write_errors(void **state) {
  float a[2] = {1, 2};
  seqrt_tensor t[2] = {{SEQRT_F32, 1, {2}, a}, {SEQRT_F32, 1, {2}, a}};
  const char *dup[] = {"x", "x"};
  seqrt_error err;
  assert_int_not_equal(seqrt_st_write(tmp_path("dup.safetensors"), dup, t, 2, &err), 0);
  assert_non_null(strstr(err.msg, "'x'"));

  const char *one[] = {"x"};
  assert_int_not_equal(seqrt_st_write(tmp_path("no/such/dir.safetensors"), one, t, 1, &err), 0);
  assert_non_null(strstr(err.msg, "cannot write"));
  assert_non_null(strstr(err.msg, "No such file or directory"));

  seqrt_tensor bad = {(seqrt_dtype)7, 1, {2}, a};
  assert_int_not_equal(seqrt_st_write(tmp_path("bad.safetensors"), one, &bad, 1, &err), 0);
  seqrt_tensor neg = {SEQRT_F32, 1, {-2}, a};
  assert_int_not_equal(seqrt_st_write(tmp_path("bad.safetensors"), one, &neg, 1, &err), 0);
  seqrt_tensor nodata = {SEQRT_F32, 1, {2}, NULL};
  assert_int_not_equal(seqrt_st_write(tmp_path("bad.safetensors"), one, &nodata, 1, &err), 0);
  assert_int_equal(access(tmp_path("bad.safetensors"), F_OK), -1); /* nothing left behind */
}

static void test_open_errors(void **state) {
  expect_open_error(tmp_path("missing.safetensors"), "missing.safetensors: cannot open: ",
                    ": No such file or directory", NULL);
  expect_open_error(dir, ": cannot open: ", "Is a directory", NULL);
}

static void test_corrupt(void **state) {
  const char *p = tmp_path("bad.safetensors");
  char data[64] = {0};
  static const char corrupt[] = ": corrupt safetensors file: ";

  write_bytes(p, "", 0);
  expect_open_error(p, p, corrupt, "short", NULL);
  write_bytes(p, "abc", 3);
  expect_open_error(p, p, corrupt, "short", NULL);
  /* header length far past the end of the file */
  write_bytes(p, "\xff\xff\xff\xff\x00\x00\x00\x00{}", 10);
  expect_open_error(p, corrupt, "header length", NULL);
  write_bytes(p, "\x00\x00\x00\x00\x00\x00\x00\x80{}", 10);
  expect_open_error(p, corrupt, "header length", NULL);
  write_bytes(p, "\x03\x00\x00\x00\x00\x00\x00\x00{}", 10);
  expect_open_error(p, corrupt, "header length", NULL);

  struct {
    const char *header; /* JSON */
    size_t data;        /* bytes of data section */
    const char *frag;   /* what the message must say besides the prefix */
  } cases[] = {
      {"", 0, "JSON"},
      {"{\"a\": {", 0, "JSON"},
      {"{\"a\": 1,}", 0, "JSON"},
      {"[]", 0, "not a JSON object"},
      {"{} xyz", 0, "stray"},
      {"{\"a\": 1}", 0, "'a'"},
      {"{\"a\": []}", 0, "'a'"},
      {"{\"a\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "'a' has no dtype"},
      {"{\"a\": {\"dtype\": 4, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "'a' has no dtype"},
      {"{\"a\": {\"dtype\": \"F33\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "F33"},
      {"{\"a\": {\"dtype\": \"f32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "'a'"},
      {"{\"a\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4, "'a' has no shape"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": 3, \"data_offsets\": [0, 4]}}", 4, "'a'"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", 4, "'a'"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]}}", 4, "'a'"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [\"1\"], \"data_offsets\": [0, 4]}}", 4, "'a'"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1e300], \"data_offsets\": [0, 4]}}", 4, "'a'"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 4]}}", 4,
       "rank 9"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4, "'a' has data_offsets"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 4, "'a'"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 8]}}", 8, "'a'"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, \"4\"]}}", 4, "'a'"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 4, "'a'"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": {\"b\": 0}}}", 4, "'a'"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [4, 0]}}", 4,
       "'a' has data_offsets [4, 0] that end before"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 4,
       "'a' has data_offsets [0, 8] past the end"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 18446744073709551615]}}",
       4, "'a'"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 4]}}", 4,
       "'a' has 4 bytes of data, but F32 [2] needs 8 bytes"},
      {"{\"a\": {\"dtype\": \"I64\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "'a'"},
      {"{\"a\": {\"dtype\": \"BF16\", \"shape\": [3], \"data_offsets\": [0, 4]}}", 8, "'a'"},
      /* 2^40 cubed overflows 64 bits: must not wrap around to a small size */
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1099511627776, 1099511627776, 1099511627776, "
       "4], \"data_offsets\": [0, 0]}}",
       0, "'a'"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296], "
       "\"data_offsets\": [0, 0]}}",
       0, "'a'"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
       " \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
       4, "'a' appears twice"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    write_st(p, cases[i].header, data, cases[i].data);
    seqrt_error err = {{0}};
    seqrt_st_file *f = seqrt_st_open(p, &err);
    if (f) {
      seqrt_st_close(f);
      fail_msg("case %zu (%s) opened", i, cases[i].header);
    }
    if (!strstr(err.msg, cases[i].frag) || strncmp(err.msg, p, strlen(p)))
      fail_msg("case %zu (%s): message '%s' lacks '%s'", i, cases[i].header, err.msg,
               cases[i].frag);
  }

  /* the shape holds 0 elements: no overflow error, just an empty tensor */
  write_st(p,
           "{\"a\": {\"dtype\": \"F32\", \"shape\": [1099511627776, 1099511627776, 0], "
           "\"data_offsets\": [0, 0]}}",
           data, 0);
  seqrt_error err;
  seqrt_st_file *f = seqrt_st_open(p, &err);
  assert_non_null(f);
  seqrt_st_close(f);
}

static void test_unsupported_dtype(void **state) {
  const char *p = tmp_path("f64.safetensors");
  double d = 1;
  write_st(p, "{\"w.x\": {\"dtype\": \"F64\", \"shape\": [1], \"data_offsets\": [0, 8]}}", &d, 8);
  expect_open_error(p, p, "'w.x'", "F64", NULL);
  write_st(p, "{\"w.y\": {\"dtype\": \"BOOL\", \"shape\": [1], \"data_offsets\": [0, 1]}}", &d, 1);
  expect_open_error(p, p, "'w.y'", "BOOL", NULL);
}

static void test_widening(void **state) {
  /* F16 bit patterns and their exact values */
  static const uint16_t h[] = {0x3c00, 0xc000, 0x3555, 0x0001, 0x8400, 0x7bff,
                               0x7c00, 0xfc00, 0x8000, 0x03ff, 0x0000};
  static const float hv[] = {1.0f,     -2.0f,     0.333251953125f, 0x1p-24f,   -0x1p-14f, 65504.0f,
                             INFINITY, -INFINITY, -0.0f,           0x3ffp-24f, 0.0f};
  static const uint16_t b[] = {0x3f80, 0xc040, 0x4049, 0x7f80, 0x0001, 0x8000};
  static const float bv[] = {1.0f, -3.0f, 3.140625f, INFINITY, 0x1p-133f, -0.0f};
  enum { NH = sizeof h / sizeof *h, NB = sizeof b / sizeof *b };
  unsigned char data[2 * (NH + NB + 2)];
  for (int i = 0; i < NH; i++) {
    data[2 * i] = h[i] & 0xff;
    data[2 * i + 1] = h[i] >> 8;
  }
  for (int i = 0; i < NB; i++) {
    data[2 * (NH + i)] = b[i] & 0xff;
    data[2 * (NH + i) + 1] = b[i] >> 8;
  }
  /* a NaN of each kind */
  data[2 * (NH + NB)] = 0x00, data[2 * (NH + NB) + 1] = 0x7e;
  data[2 * (NH + NB) + 2] = 0xc0, data[2 * (NH + NB) + 3] = 0x7f;
  char header[512];
  snprintf(header, sizeof header,
           "{\"__metadata__\": {\"format\": \"pt\"},"
           " \"h\": {\"dtype\": \"F16\", \"shape\": [%d], \"data_offsets\": [0, %d]},"
           " \"b\": {\"dtype\": \"BF16\", \"shape\": [%d], \"data_offsets\": [%d, %d]},"
           " \"n\": {\"dtype\": \"F16\", \"shape\": [1], \"data_offsets\": [%d, %d]},"
           " \"m\": {\"dtype\": \"BF16\", \"shape\": [1], \"data_offsets\": [%d, %d]}}   ",
           NH, 2 * NH, NB, 2 * NH, 2 * (NH + NB), 2 * (NH + NB), 2 * (NH + NB) + 2,
           2 * (NH + NB) + 2, 2 * (NH + NB) + 4);
  const char *p = tmp_path("half.safetensors");
  write_st(p, header, data, sizeof data);
  seqrt_error err;
  seqrt_st_file *f = seqrt_st_open(p, &err);
  if (!f) fail_msg("%s", err.msg);
  assert_int_equal(seqrt_st_count(f), 4); /* __metadata__ is not a tensor */
  seqrt_tensor t;
  assert_int_equal(seqrt_st_get(f, seqrt_st_find(f, "h"), &t, &err), 0);
  assert_int_equal(t.dtype, SEQRT_F32);
  assert_int_equal(t.shape[0], NH);
  for (int i = 0; i < NH; i++) {
    float v = ((float *)t.data)[i];
    if (memcmp(&v, &hv[i], 4)) fail_msg("F16 %04x: got %a, want %a", h[i], v, hv[i]);
  }
  assert_int_equal(seqrt_st_get(f, seqrt_st_find(f, "b"), &t, &err), 0);
  for (int i = 0; i < NB; i++) {
    float v = ((float *)t.data)[i];
    if (memcmp(&v, &bv[i], 4)) fail_msg("BF16 %04x: got %a, want %a", b[i], v, bv[i]);
  }
  assert_int_equal(seqrt_st_get(f, seqrt_st_find(f, "n"), &t, &err), 0);
  assert_true(isnan(((float *)t.data)[0]));
  assert_int_equal(seqrt_st_get(f, seqrt_st_find(f, "m"), &t, &err), 0);
  assert_true(isnan(((float *)t.data)[0]));
  /* a second get gives the same memory */
  void *first = t.data;
  assert_int_equal(seqrt_st_get(f, seqrt_st_find(f, "m"), &t, &err), 0);
  assert_ptr_equal(first, t.data);
  seqrt_st_close(f);
}

static void test_misaligned(void **state) {
  unsigned char data[32] = {0};
  float fv[2] = {1.25f, -4.5f};
  int64_t iv[2] = {-3, 1LL << 40};
  memcpy(data + 1, fv, 8);
  memcpy(data + 12, iv, 16);
  const char *p = tmp_path("odd.safetensors");
  write_st(p,
           "{\"f\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [1, 9]},"
           " \"i\": {\"dtype\": \"I64\", \"shape\": [2], \"data_offsets\": [12, 28]}}",
           data, sizeof data);
  seqrt_error err;
  seqrt_st_file *f = seqrt_st_open(p, &err);
  if (!f) fail_msg("%s", err.msg);
  seqrt_tensor t;
  assert_int_equal(seqrt_st_get(f, 0, &t, &err), 0);
  assert_int_equal((uintptr_t)t.data % 4, 0);
  assert_memory_equal(t.data, fv, 8);
  assert_int_equal(seqrt_st_get(f, 1, &t, &err), 0);
  assert_int_equal((uintptr_t)t.data % 8, 0);
  assert_memory_equal(t.data, iv, 16);
  seqrt_st_close(f);
}

/* reads every byte of every tensor, so that ASan sees any read out of bounds */
static double touch_all(seqrt_st_file *f) {
  double sum = 0;
  seqrt_error err;
  for (int i = 0; i < seqrt_st_count(f); i++) {
    seqrt_tensor t;
    if (seqrt_st_get(f, i, &t, &err)) continue;
    size_t bytes = (size_t)seqrt_tensor_numel(&t) * seqrt_dtype_size(t.dtype);
    for (size_t k = 0; k < bytes; k++) sum += ((unsigned char *)t.data)[k];
  }
  return sum;
}

/* truncated and mangled copies of a good file: errors or good files, never a crash */
static void test_mangled(void **state) {
  float a[6] = {1, 2, 3, 4, 5, 6};
  int64_t b[2] = {7, 8};
  const char *names[] = {"alpha", "beta"};
  seqrt_tensor t[2] = {{SEQRT_F32, 2, {2, 3}, a}, {SEQRT_I64, 1, {2}, b}};
  const char *good = tmp_path("good.safetensors"), *p = tmp_path("mangled.safetensors");
  seqrt_error err;
  assert_int_equal(seqrt_st_write(good, names, t, 2, &err), 0);
  FILE *gf = fopen(good, "rb");
  unsigned char bytes[1024];
  size_t n = fread(bytes, 1, sizeof bytes, gf);
  fclose(gf);
  assert_true(n > 16 && n < sizeof bytes);

  int opened = 0;
  for (size_t len = 0; len < n; len++) {
    write_bytes(p, bytes, len);
    seqrt_st_file *f = seqrt_st_open(p, &err);
    if (f) opened++, touch_all(f);
    seqrt_st_close(f);
  }
  assert_int_equal(opened, 0); /* every truncation loses data the header points at */

  uint64_t rng = 12345;
  unsigned char copy[1024];
  const char subst[] = "{}[],:\"0123456789-.eE \x00\xff";
  for (int iter = 0; iter < 3000; iter++) {
    memcpy(copy, bytes, n);
    for (int k = 0; k < 1 + iter % 3; k++) {
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      size_t at = (rng >> 33) % n;
      copy[at] = (unsigned char)subst[(rng >> 20) % (sizeof subst - 1)];
    }
    write_bytes(p, copy, n);
    seqrt_st_file *f = seqrt_st_open(p, &err);
    if (f) touch_all(f);
    seqrt_st_close(f);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),        cmocka_unit_test(test_write_errors),
      cmocka_unit_test(test_open_errors),       cmocka_unit_test(test_corrupt),
      cmocka_unit_test(test_unsupported_dtype), cmocka_unit_test(test_widening),
      cmocka_unit_test(test_misaligned),        cmocka_unit_test(test_mangled),
  };
  return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
