/*
 * test_cache.c: the compile cache (codegen/cache.c). A model compiled twice
 * with a cache directory is a hit the second time and computes the very same
 * bits; an entry altered in any part (magic, version, key, length, payload
 * hash, payload) or cut short is a miss, compiled again and rewritten; the
 * directory stays within its bound, oldest entries out first (a hit counts as
 * a use); without a directory nothing is written; a directory that cannot be
 * written is a note, not a failure. And SHA-256 against FIPS 180-4's vectors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cg_test.h"

/* a projection (its weight transposed by `prepare`), a tanh and a softmax */
static const char *const MODEL =
    "seqc: 1\nname: cached\ndims: {B: 2, T: 7}\n"
    "inputs:\n  x: {dtype: f32, shape: [B, T, 16]}\n"
    "outputs: [y]\nnodes:\n"
    "  p: {op: linear, input: x, out_features: 24}\n"
    "  h: {op: tanh, input: p}\n"
    "  y: {op: softmax, input: h}\n";

#define HEADER 88 /* cache.c's header: magic 8, version 4, length 4, key 32, n 8, hash 32 */
#define NOUT (2 * 7 * 24)

/* a fresh empty directory under /tmp (path has room for 64 bytes) */
static void make_tmp(char *path) {
  strcpy(path, "/tmp/seqc-cache-test-XXXXXX");
  assert_non_null(mkdtemp(path));
}

/* removes dir and the files in it */
static void remove_tmp(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  char p[512];
  for (struct dirent *e; (e = readdir(d));) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

/* number of files in dir (any name); the last *.entry's path in entry */
static int count_files(const char *dir, char *entry) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    n++;
    size_t len = strlen(e->d_name);
    if (entry && len > 6 && !strcmp(e->d_name + len - 6, ".entry"))
      snprintf(entry, 512, "%s/%s", dir, e->d_name);
  }
  closedir(d);
  return n;
}

/* compiles MODEL (cache in dir, NULL = none) and runs it on fixed data: the
 * output's bits in out, what the compile did in st */
static void compile_and_run(const char *dir, const char *cpu, cg_stats *st, float *out) {
  ir_graph *g = cgt_load(MODEL);
  int64_t syms[2] = {2, 7};
  cg_jit *j = cgt_compile(
      g, &(cg_options){.bind_syms = syms, .cpu = cpu, .opt_level = 1, .cache_dir = dir});
  seqrt_error err = {{0}};
  *st = *cg_jit_stats(j);
  seqrt_session *s = seqrt_session_new(cg_jit_desc(j), syms, 1, &err);
  assert_non_null(s);
  assert_int_equal(seqrt_session_random_params(s, 7, &err), 0);
  float x[2 * 7 * 16];
  for (int i = 0; i < 2 * 7 * 16; i++) x[i] = (float)((i * 37) % 29) / 14.0f - 1.0f;
  seqrt_tensor in = {.dtype = SEQRT_F32, .rank = 3, .shape = {2, 7, 16}, .data = x};
  seqrt_tensor y;
  assert_int_equal(seqrt_session_run(s, &in, &y, &err), 0);
  assert_int_equal(seqrt_tensor_numel(&y), NOUT);
  memcpy(out, y.data, sizeof(float) * NOUT);
  seqrt_session_free(s);
  cg_jit_free(j);
  ir_graph_free(g);
}

static void read_file(const char *path, uint8_t **data, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  *data = malloc(*len + 1);
  assert_int_equal(fread(*data, 1, *len, f), *len);
  fclose(f);
}

static void write_file(const char *path, const uint8_t *data, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  fclose(f);
}

static void hex(const uint8_t *h, char *out) {
  for (int i = 0; i < CG_HASH_BYTES; i++) snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static void test_sha256(void **state) {
  (void)state;
  uint8_t h[CG_HASH_BYTES];
  char s[2 * CG_HASH_BYTES + 1];
  cg_sha256("", 0, h);
  hex(h, s);
  assert_string_equal(s, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  cg_sha256("abc", 3, h);
  hex(h, s);
  assert_string_equal(s, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const char *m56 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  cg_sha256(m56, strlen(m56), h);
  hex(h, s);
  assert_string_equal(s, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  /* one whole block: the padding takes a block of its own (Python's hashlib) */
  const char *m64 = "abcdbcdecdefdefgefghfghighijhijkijkljklmjklmnklmnolmnopmnopqnopq";
  cg_sha256(m64, strlen(m64), h);
  hex(h, s);
  assert_string_equal(s, "9ad289b5b8ca3b67b3e1238ea026560d218cac02ee49b871795a3311874d107e");
  char a[1000];
  memset(a, 'a', sizeof a);
  cg_sha256(a, sizeof a, h);
  hex(h, s);
  assert_string_equal(s, "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}

/* second compile: a hit, no optimization, the same bits as without a cache */
static void test_hit(void **state) {
  (void)state;
  char dir[64];
  make_tmp(dir);
  static float none[NOUT], cold[NOUT], warm[NOUT], other[NOUT];
  cg_stats st;
  compile_and_run(NULL, NULL, &st, none);
  assert_false(st.cache_used);
  compile_and_run(dir, NULL, &st, cold);
  assert_true(st.cache_used);
  assert_false(st.cache_hit);
  assert_string_equal(st.cache_note, "");
  char entry[512];
  assert_int_equal(count_files(dir, entry), 1);
  compile_and_run(dir, NULL, &st, warm);
  assert_true(st.cache_hit);
  assert_true(st.optimize_ms == 0 && st.machine_ms == 0);
  assert_int_equal(count_files(dir, NULL), 1);
  assert_memory_equal(cold, none, sizeof cold);
  assert_memory_equal(warm, none, sizeof warm);
  /* another CPU is another key: a new entry, the old one still there */
  compile_and_run(dir, "x86-64", &st, other);
  assert_false(st.cache_hit);
  assert_int_equal(count_files(dir, NULL), 2);
  remove_tmp(dir);
}

/* every byte of the header's fields and of the payload is checked: one
 * altered byte makes a miss, and the entry is written again, whole */
static void test_altered_entry(void **state) {
  (void)state;
  char dir[64], entry[512];
  make_tmp(dir);
  static float want[NOUT], got[NOUT];
  cg_stats st;
  compile_and_run(dir, NULL, &st, want);
  assert_int_equal(count_files(dir, entry), 1);
  uint8_t *good;
  size_t len;
  read_file(entry, &good, &len);
  assert_true(len > HEADER + 64);
  /* magic, version, header length, key, payload length, payload hash, payload
   * (first, middle, last byte) */
  size_t at[] = {0, 8, 12, 16, 16 + 31, 48, 55, 56, 87, HEADER, HEADER + (len - HEADER) / 2,
                 len - 1};
  for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
    uint8_t *bad = malloc(len);
    memcpy(bad, good, len);
    bad[at[i]] ^= 0x20;
    write_file(entry, bad, len);
    compile_and_run(dir, NULL, &st, got);
    if (st.cache_hit) fprintf(stderr, "an entry altered at byte %zu was trusted\n", at[i]);
    assert_false(st.cache_hit);
    assert_memory_equal(got, want, sizeof got);
    uint8_t *now;
    size_t nlen;
    read_file(entry, &now, &nlen);
    assert_int_equal(nlen, len);
    assert_memory_equal(now, good, len); /* rebuilt as it was */
    free(now);
    free(bad);
  }
  compile_and_run(dir, NULL, &st, got);
  assert_true(st.cache_hit);
  free(good);
  remove_tmp(dir);
}

/* an entry cut short (inside the payload, inside the header, empty) or grown
 * is a miss, and rebuilt */
static void test_truncated_entry(void **state) {
  (void)state;
  char dir[64], entry[512];
  make_tmp(dir);
  static float want[NOUT], got[NOUT];
  cg_stats st;
  compile_and_run(dir, NULL, &st, want);
  assert_int_equal(count_files(dir, entry), 1);
  uint8_t *good;
  size_t len;
  read_file(entry, &good, &len);
  size_t cut[] = {len - 1, len / 2, HEADER, 40, 0};
  for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) {
    write_file(entry, good, cut[i]);
    compile_and_run(dir, NULL, &st, got);
    assert_false(st.cache_hit);
    assert_memory_equal(got, want, sizeof got);
    compile_and_run(dir, NULL, &st, got);
    assert_true(st.cache_hit);
  }
  uint8_t *longer = calloc(len + 1, 1);
  memcpy(longer, good, len);
  write_file(entry, longer, len + 1);
  compile_and_run(dir, NULL, &st, got);
  assert_false(st.cache_hit);
  free(longer);
  free(good);
  remove_tmp(dir);
}

/* a sound entry under another key's name is foreign: not loaded */
static void test_foreign_entry(void **state) {
  (void)state;
  char dir[64], a_path[512], b_path[512];
  make_tmp(dir);
  uint8_t a[CG_HASH_BYTES] = {1}, b[CG_HASH_BYTES] = {2};
  char note[128] = "";
  assert_true(cg_cache_store(dir, 0, a, "payload", 7, note, sizeof note));
  void *p;
  size_t n;
  assert_true(cg_cache_load(dir, a, &p, &n));
  assert_int_equal(n, 7);
  assert_memory_equal(p, "payload", 7);
  free(p);
  cg_cache_entry_path(dir, a, a_path, sizeof a_path);
  cg_cache_entry_path(dir, b, b_path, sizeof b_path);
  assert_int_equal(rename(a_path, b_path), 0);
  assert_false(cg_cache_load(dir, b, &p, &n));
  assert_false(cg_cache_load(dir, a, &p, &n));
  remove_tmp(dir);
}

static void set_mtime(const char *dir, const uint8_t *key, time_t t, long ns) {
  char path[512];
  cg_cache_entry_path(dir, key, path, sizeof path);
  struct timespec ts[2] = {{t, ns}, {t, ns}};
  assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static bool has_entry(const char *dir, const uint8_t *key) {
  char path[512];
  cg_cache_entry_path(dir, key, path, sizeof path);
  return access(path, F_OK) == 0;
}

/* over the bound, the least recently used entries go first; a hit is a use */
static void test_size_bound(void **state) {
  (void)state;
  char dir[64];
  make_tmp(dir);
  static uint8_t payload[1000];
  uint8_t k[4][CG_HASH_BYTES] = {{10}, {11}, {12}, {13}};
  int64_t bound = 3 * (HEADER + 1000) + 100; /* room for three entries */
  char note[128] = "";
  for (int i = 0; i < 3; i++) {
    assert_true(cg_cache_store(dir, bound, k[i], payload, sizeof payload, note, sizeof note));
    set_mtime(dir, k[i], 1000000, 1000 * i); /* k0 oldest, by nanoseconds */
  }
  void *p;
  size_t n;
  assert_true(cg_cache_load(dir, k[0], &p, &n)); /* k0 is now the newest, k1 the oldest */
  free(p);
  assert_true(cg_cache_store(dir, bound, k[3], payload, sizeof payload, note, sizeof note));
  assert_true(has_entry(dir, k[0]));
  assert_false(has_entry(dir, k[1]));
  assert_true(has_entry(dir, k[2]));
  assert_true(has_entry(dir, k[3]));
  assert_int_equal(count_files(dir, NULL), 3);
  /* a bound of one entry keeps only the newest (the others made old: file
   * times can be as coarse as a clock tick) */
  set_mtime(dir, k[0], 1000000, 0);
  set_mtime(dir, k[2], 1000000, 0);
  set_mtime(dir, k[3], 1000000, 0);
  assert_true(cg_cache_store(dir, HEADER + 1000, k[1], payload, sizeof payload, note,
                             sizeof note));
  assert_int_equal(count_files(dir, NULL), 1);
  assert_true(has_entry(dir, k[1]));
  remove_tmp(dir);
}

/* no directory: nothing written anywhere we can see, nothing looked up; a
 * directory that cannot be made is a note and a normal compile */
static void test_no_dir_and_bad_dir(void **state) {
  (void)state;
  char dir[64], cwd[512];
  make_tmp(dir);
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir(dir), 0); /* a relative path would land here */
  static float want[NOUT], got[NOUT];
  cg_stats st;
  compile_and_run(NULL, NULL, &st, want);
  assert_false(st.cache_used);
  assert_false(st.cache_hit);
  assert_int_equal(count_files(dir, NULL), 0);
  assert_int_equal(chdir(cwd), 0);

  /* a regular file where the directory should be */
  char file[128];
  snprintf(file, sizeof file, "%s/file", dir);
  write_file(file, (const uint8_t *)"x", 1);
  char sub[160];
  snprintf(sub, sizeof sub, "%s/sub", file);
  compile_and_run(sub, NULL, &st, got);
  assert_true(st.cache_used);
  assert_false(st.cache_hit);
  assert_true(strstr(st.cache_note, "cannot create") != NULL);
  assert_memory_equal(got, want, sizeof got);
  remove_tmp(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sha256),         cmocka_unit_test(test_hit),
      cmocka_unit_test(test_altered_entry),  cmocka_unit_test(test_truncated_entry),
      cmocka_unit_test(test_foreign_entry),  cmocka_unit_test(test_size_bound),
      cmocka_unit_test(test_no_dir_and_bad_dir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
