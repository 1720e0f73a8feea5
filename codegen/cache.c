/*
 * cache.c: the compile cache on disk. A directory of entries, each one file
 * KEY.entry: a header (magic, format version, the key again, the payload's
 * length and SHA-256) and then the payload, an object file's bytes. The key
 * is a SHA-256 of everything the object depends on (cg_cache_key): the
 * unoptimized module's bitcode, the target, the optimization level, the LLVM
 * version and a hash of seqc's own compiler sources (cg_build_id, written by
 * the build), so an edit to codegen never meets a stale entry.
 *
 * An entry is never trusted: one whose header or payload does not check out
 * is treated as absent, and the next store overwrites it. A store writes a
 * temporary file in the directory and rename()s it into place, so readers
 * see a whole entry or none, and two processes filling the same entry lose
 * nothing. After a store, the oldest entries by mtime (a hit touches its
 * entry) go until the directory fits its bound. Nothing here is fatal: a
 * failure is a note for the caller, who compiles without the cache.
 *
 * The mechanism is per key, not per model: the whole-model JIT object, an
 * AOT object and (later) one kernel's object are entries of the same kind,
 * told apart by what went into their keys.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <llvm-c/BitWriter.h>
#include <llvm/Config/llvm-config.h>

#include "cg_internal.h"

/* ---- SHA-256 (FIPS 180-4) ---- */

static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

/* a hash in progress */
typedef struct sha256 {
  uint32_t h[8];      /* chaining state */
  uint8_t block[64];  /* bytes not yet compressed */
  size_t used;        /* how many of block hold data */
  uint64_t total;     /* bytes hashed so far */
} sha256;

static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha_compress(sha256 *s, const uint8_t *p) {
  uint32_t w[64];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
           p[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4], f = s->h[5],
           g = s->h[6], h = s->h[7];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + sha_k[i] +
                  w[i];
    uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  s->h[0] += a;
  s->h[1] += b;
  s->h[2] += c;
  s->h[3] += d;
  s->h[4] += e;
  s->h[5] += f;
  s->h[6] += g;
  s->h[7] += h;
}

static void sha_init(sha256 *s) {
  static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(s->h, h0, sizeof h0);
  s->used = 0;
  s->total = 0;
}

static void sha_update(sha256 *s, const void *data, size_t len) {
  const uint8_t *p = data;
  s->total += len;
  if (s->used) {
    size_t take = 64 - s->used < len ? 64 - s->used : len;
    memcpy(s->block + s->used, p, take);
    s->used += take;
    p += take;
    len -= take;
    if (s->used < 64) return;
    sha_compress(s, s->block);
    s->used = 0;
  }
  for (; len >= 64; p += 64, len -= 64) sha_compress(s, p);
  memcpy(s->block, p, len);
  s->used = len;
}

static void sha_final(sha256 *s, uint8_t out[CG_HASH_BYTES]) {
  uint64_t bits = s->total * 8;
  uint8_t pad[72] = {0x80};
  size_t npad = (s->used < 56 ? 56 : 120) - s->used;
  for (int i = 0; i < 8; i++) pad[npad + i] = (uint8_t)(bits >> (56 - 8 * i));
  sha_update(s, pad, npad + 8);
  for (int i = 0; i < 8; i++)
    for (int j = 0; j < 4; j++) out[4 * i + j] = (uint8_t)(s->h[i] >> (24 - 8 * j));
}

void cg_sha256(const void *data, size_t len, uint8_t out[CG_HASH_BYTES]) {
  sha256 s;
  sha_init(&s);
  sha_update(&s, data, len);
  sha_final(&s, out);
}

double cg_now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* ---- the key ---- */

/* a field of the key: its length first, so that no two lists of fields
 * hash the same bytes */
static void key_field(sha256 *s, const void *data, size_t len) {
  uint64_t n = len;
  uint8_t le[8];
  for (int i = 0; i < 8; i++) le[i] = (uint8_t)(n >> (8 * i));
  sha_update(s, le, 8);
  sha_update(s, data, len);
}

static void key_str(sha256 *s, const char *str) { key_field(s, str ? str : "", str ? strlen(str) : 0); }

/* what every key starts with: the kind, seqc's and LLVM's versions, the target */
static void key_start(sha256 *s, LLVMTargetMachineRef tm, int level, const char *kind) {
  sha_init(s);
  key_str(s, "seqc compile cache key 1");
  key_str(s, kind);
  key_str(s, cg_build_id);
  key_str(s, LLVM_VERSION_STRING);
  char *triple = LLVMGetTargetMachineTriple(tm);
  char *cpu = LLVMGetTargetMachineCPU(tm);
  char *features = LLVMGetTargetMachineFeatureString(tm);
  key_str(s, triple);
  key_str(s, cpu);
  key_str(s, features);
  LLVMDisposeMessage(triple);
  LLVMDisposeMessage(cpu);
  LLVMDisposeMessage(features);
  char lv[16];
  snprintf(lv, sizeof lv, "O%d", level);
  key_str(s, lv);
}

void cg_cache_key(LLVMModuleRef mod, LLVMTargetMachineRef tm, int level, const char *kind,
                  uint8_t key[CG_HASH_BYTES]) {
  sha256 s;
  key_start(&s, tm, level, kind);
  LLVMMemoryBufferRef bc = LLVMWriteBitcodeToMemoryBuffer(mod);
  key_field(&s, LLVMGetBufferStart(bc), LLVMGetBufferSize(bc));
  LLVMDisposeMemoryBuffer(bc);
  sha_final(&s, key);
}

void cg_cache_source_key(const uint8_t source[CG_HASH_BYTES], LLVMTargetMachineRef tm, int level,
                         const char *kind, uint8_t key[CG_HASH_BYTES]) {
  sha256 s;
  key_start(&s, tm, level, kind);
  key_str(&s, "whole model, by its source");
  key_field(&s, source, CG_HASH_BYTES);
  sha_final(&s, key);
}

/* ---- entries ---- */

#define MAGIC "SEQCACHE"
#define FORMAT_VERSION 1u
/* magic, version, header length, key, payload length, payload hash */
#define HEADER_BYTES (8 + 4 + 4 + CG_HASH_BYTES + 8 + CG_HASH_BYTES)
#define DEFAULT_MAX_BYTES ((int64_t)512 << 20)
/* a temporary file this old was left by a process that died mid-store */
#define STALE_TMP_SECONDS 3600

static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
  return v;
}
static uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static void note(char *msg, size_t size, const char *fmt, const char *a, const char *b) {
  if (msg && size && !msg[0]) snprintf(msg, size, fmt, a, b);
}

void cg_cache_entry_path(const char *dir, const uint8_t key[CG_HASH_BYTES], char *path,
                         size_t size) {
  char hex[2 * CG_HASH_BYTES + 1];
  for (int i = 0; i < CG_HASH_BYTES; i++) snprintf(hex + 2 * i, 3, "%02x", key[i]);
  snprintf(path, size, "%s/%s.entry", dir, hex);
}

/* reads all of fd (size bytes expected) into a malloc'd block */
static uint8_t *read_all(int fd, size_t size) {
  uint8_t *buf = malloc(size ? size : 1);
  if (!buf) return NULL;
  size_t got = 0;
  while (got < size) {
    ssize_t r = read(fd, buf + got, size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  if (got == size) return buf;
  free(buf);
  return NULL;
}

bool cg_cache_load(const char *dir, const uint8_t key[CG_HASH_BYTES], void **payload,
                   size_t *len) {
  char path[4096];
  cg_cache_entry_path(dir, key, path, sizeof path);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  uint8_t *buf = NULL;
  bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= HEADER_BYTES &&
            (buf = read_all(fd, (size_t)st.st_size)) != NULL;
  if (ok) {
    const uint8_t *p = buf;
    uint64_t n = get_u64(p + 16 + CG_HASH_BYTES);
    uint8_t hash[CG_HASH_BYTES];
    ok = memcmp(p, MAGIC, 8) == 0 && get_u32(p + 8) == FORMAT_VERSION &&
         get_u32(p + 12) == HEADER_BYTES && memcmp(p + 16, key, CG_HASH_BYTES) == 0 &&
         n == (uint64_t)st.st_size - HEADER_BYTES;
    if (ok) {
      cg_sha256(p + HEADER_BYTES, (size_t)n, hash);
      ok = memcmp(hash, p + 24 + CG_HASH_BYTES, CG_HASH_BYTES) == 0;
    }
    if (ok) {
      /* the payload to the front of the block, which the caller frees */
      memmove(buf, buf + HEADER_BYTES, (size_t)n);
      *payload = buf;
      *len = (size_t)n;
      futimens(fd, NULL); /* used now: the last to be evicted */
    }
  }
  if (!ok) free(buf);
  close(fd);
  return ok;
}

/* mkdir -p dir (mode 0700: the entries are code this user will run) */
static bool make_dirs(const char *dir) {
  char p[4096];
  if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) return false;
  for (char *s = p + 1; *s; s++) {
    if (*s != '/') continue;
    *s = 0;
    if (mkdir(p, 0700) && errno != EEXIST) return false;
    *s = '/';
  }
  return mkdir(p, 0700) == 0 || errno == EEXIST;
}

static bool write_all(int fd, const void *data, size_t len) {
  const uint8_t *p = data;
  while (len) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    len -= (size_t)w;
  }
  return true;
}

/* one file of the directory, as eviction sees it */
typedef struct dir_file {
  char name[96];      /* file name in the directory */
  int64_t bytes;      /* its size */
  struct timespec at; /* its mtime */
} dir_file;

static int older_first(const void *a, const void *b) {
  const struct timespec *x = &((const dir_file *)a)->at, *y = &((const dir_file *)b)->at;
  if (x->tv_sec != y->tv_sec) return x->tv_sec < y->tv_sec ? -1 : 1;
  return (x->tv_nsec > y->tv_nsec) - (x->tv_nsec < y->tv_nsec);
}

static bool ends_with(const char *s, const char *tail) {
  size_t n = strlen(s), t = strlen(tail);
  return n >= t && strcmp(s + n - t, tail) == 0;
}

/* deletes the oldest entries until the entries of dir hold at most max bytes,
 * and temporary files that a dead process left */
static void evict(const char *dir, int64_t max) {
  DIR *d = opendir(dir);
  if (!d) return;
  dir_file *files = NULL;
  size_t n = 0, cap = 0;
  int64_t total = 0;
  time_t now = time(NULL);
  char path[4096];
  for (struct dirent *e; (e = readdir(d));) {
    bool entry = ends_with(e->d_name, ".entry"), tmp = strncmp(e->d_name, ".tmp-", 5) == 0;
    if ((!entry && !tmp) || strlen(e->d_name) >= sizeof files->name) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat st;
    if (stat(path, &st) || !S_ISREG(st.st_mode)) continue;
    if (tmp) {
      if (now - st.st_mtime > STALE_TMP_SECONDS) unlink(path);
      continue;
    }
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      dir_file *grown = realloc(files, cap * sizeof *files);
      if (!grown) break;
      files = grown;
    }
    snprintf(files[n].name, sizeof files[n].name, "%s", e->d_name);
    files[n].bytes = st.st_size;
    files[n].at = st.st_mtim;
    total += st.st_size;
    n++;
  }
  closedir(d);
  if (total > max) {
    qsort(files, n, sizeof *files, older_first);
    for (size_t i = 0; i < n && total > max; i++) {
      snprintf(path, sizeof path, "%s/%s", dir, files[i].name);
      /* another process may have evicted it first: its bytes are gone either way */
      unlink(path);
      total -= files[i].bytes;
    }
  }
  free(files);
}

bool cg_cache_store(const char *dir, int64_t max_bytes, const uint8_t key[CG_HASH_BYTES],
                    const void *payload, size_t len, char *msg, size_t size) {
  if (!make_dirs(dir)) {
    note(msg, size, "cannot create %s: %s", dir, strerror(errno));
    return false;
  }
  char tmp[4096], path[4096];
  snprintf(tmp, sizeof tmp, "%s/.tmp-XXXXXX", dir);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    note(msg, size, "cannot write in %s: %s", dir, strerror(errno));
    return false;
  }
  uint8_t h[HEADER_BYTES];
  memcpy(h, MAGIC, 8);
  put_u32(h + 8, FORMAT_VERSION);
  put_u32(h + 12, HEADER_BYTES);
  memcpy(h + 16, key, CG_HASH_BYTES);
  put_u64(h + 16 + CG_HASH_BYTES, len);
  cg_sha256(payload, len, h + 24 + CG_HASH_BYTES);
  bool ok = write_all(fd, h, sizeof h) && write_all(fd, payload, len);
  int saved = errno;
  if (close(fd) && ok) {
    ok = false;
    saved = errno;
  }
  cg_cache_entry_path(dir, key, path, sizeof path);
  if (ok && rename(tmp, path)) {
    ok = false;
    saved = errno;
  }
  if (!ok) {
    unlink(tmp);
    note(msg, size, "cannot write %s: %s", path, strerror(saved));
    return false;
  }
  evict(dir, max_bytes > 0 ? max_bytes : DEFAULT_MAX_BYTES);
  return true;
}
