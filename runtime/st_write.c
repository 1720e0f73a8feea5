/*
 * st_write.c: writing safetensors files.
 *
 * Tensors go in the order given, their data back to back; the header is
 * padded with spaces to a multiple of 8 so the data section starts aligned.
 * A regular file is written beside its final name and renamed over it: the
 * file being replaced may be mapped by a reader in this very process (an
 * output written over an input), and truncating a mapped file would crash it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt.h"

/* a growing string */
typedef struct sbuf {
  char *p;     /* text, NUL-terminated */
  size_t len;  /* bytes used, without the NUL */
  size_t cap;  /* bytes allocated */
  bool failed; /* an allocation failed: the text is incomplete */
} sbuf;

static void put(sbuf *b, const char *s, size_t n) {
  if (b->failed) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->failed = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

static void puts_(sbuf *b, const char *s) { put(b, s, strlen(s)); }

/* s as a JSON string literal */
static void put_json_string(sbuf *b, const char *s) {
  puts_(b, "\"");
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    char esc[8];
    if (*c == '"' || *c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)*c;
      put(b, esc, 2);
    } else if (*c < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", *c);
      puts_(b, esc);
    } else {
      put(b, (const char *)c, 1);
    }
  }
  puts_(b, "\"");
}

static const char *st_dtype(seqrt_dtype t) {
  return t == SEQRT_F32 ? "F32" : t == SEQRT_I32 ? "I32" : "I64";
}

/* bytes of tensor t, checking what the writer relies on */
static bool tensor_bytes(const char *path, const char *name, const seqrt_tensor *t, size_t *out,
                         seqrt_error *err) {
  if (t->dtype != SEQRT_F32 && t->dtype != SEQRT_I32 && t->dtype != SEQRT_I64) {
    rt_errorf(err, "%s: cannot write: tensor '%s' has an invalid dtype (%d)", path, name,
              (int)t->dtype);
    return false;
  }
  if (t->rank < 0 || t->rank > SEQRT_MAX_RANK) {
    rt_errorf(err, "%s: cannot write: tensor '%s' has rank %d", path, name, t->rank);
    return false;
  }
  size_t bytes = seqrt_dtype_size(t->dtype);
  for (int k = 0; k < t->rank; k++) {
    if (t->shape[k] < 0 || (uint64_t)t->shape[k] > SIZE_MAX ||
        !rt_mul_size(bytes, (size_t)t->shape[k], &bytes)) {
      char s[160];
      rt_errorf(err, "%s: cannot write: tensor '%s' has an invalid shape %s", path, name,
                seqrt_shape_str(t->shape, t->rank, s, sizeof s));
      return false;
    }
  }
  if (bytes > 0 && !t->data) {
    rt_errorf(err, "%s: cannot write: tensor '%s' has no data", path, name);
    return false;
  }
  *out = bytes;
  return true;
}

/* the header: names, dtypes, shapes and contiguous offsets, padded to 8 bytes */
static bool make_header(sbuf *h, const char *path, const char *const *names,
                        const seqrt_tensor *tensors, int n, seqrt_error *err) {
  puts_(h, "{");
  size_t off = 0;
  for (int i = 0; i < n; i++) {
    const char *name = names[i];
    if (!name || !strcmp(name, "__metadata__")) {
      rt_errorf(err, "%s: cannot write: tensor %d has no usable name", path, i);
      return false;
    }
    for (int j = 0; j < i; j++) {
      if (strcmp(names[j], name)) continue;
      rt_errorf(err, "%s: cannot write: tensor name '%s' given twice", path, name);
      return false;
    }
    size_t bytes;
    if (!tensor_bytes(path, name, &tensors[i], &bytes, err)) return false;
    if (off > SIZE_MAX - bytes) {
      rt_errorf(err, "%s: cannot write: tensors too large", path);
      return false;
    }
    char num[64];
    if (i) puts_(h, ",");
    put_json_string(h, name);
    puts_(h, ":{\"dtype\":\"");
    puts_(h, st_dtype(tensors[i].dtype));
    puts_(h, "\",\"shape\":[");
    for (int k = 0; k < tensors[i].rank; k++) {
      snprintf(num, sizeof num, "%s%lld", k ? "," : "", (long long)tensors[i].shape[k]);
      puts_(h, num);
    }
    snprintf(num, sizeof num, "],\"data_offsets\":[%zu,%zu]}", off, off + bytes);
    puts_(h, num);
    off += bytes;
  }
  puts_(h, "}");
  while (!h->failed && h->len % 8) puts_(h, " ");
  if (h->failed) {
    rt_errorf(err, "%s: cannot write: out of memory", path);
    return false;
  }
  return true;
}

/* writes all n bytes, retrying short writes */
static bool write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n > (1u << 30) ? (1u << 30) : n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      if (w == 0) errno = EIO;
      return false;
    }
    c += w;
    n -= (size_t)w;
  }
  return true;
}

static bool write_file(int fd, const sbuf *h, const seqrt_tensor *tensors, int n) {
  unsigned char len[8];
  for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)h->len >> (8 * i));
  if (!write_all(fd, len, 8) || !write_all(fd, h->p, h->len)) return false;
  for (int i = 0; i < n; i++) {
    size_t bytes = (size_t)seqrt_tensor_numel(&tensors[i]) * seqrt_dtype_size(tensors[i].dtype);
    if (bytes && !write_all(fd, tensors[i].data, bytes)) return false;
  }
  return true;
}

/* opens a fresh file beside path (name into tmp); -1 with errno on failure */
static int open_temp(const char *path, char *tmp, size_t size) {
  for (int attempt = 0; attempt < 100; attempt++) {
    snprintf(tmp, size, "%s.tmp%ld.%d", path, (long)getpid(), attempt);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  return -1;
}

int seqrt_st_write(const char *path, const char *const *names, const seqrt_tensor *tensors, int n,
                   seqrt_error *err) {
  if (n < 0 || (n > 0 && (!names || !tensors))) {
    rt_errorf(err, "%s: cannot write: no tensors given", path);
    return 1;
  }
  sbuf h = {0};
  if (!make_header(&h, path, names, tensors, n, err)) {
    free(h.p);
    return 1;
  }
  /* write in place what is not a regular file (a pipe, /dev/stdout) or a link */
  struct stat st;
  bool replace = lstat(path, &st) != 0 || S_ISREG(st.st_mode);
  size_t tmp_size = strlen(path) + 64;
  char *tmp = malloc(tmp_size);
  int fd = -1;
  if (tmp && replace) fd = open_temp(path, tmp, tmp_size);
  /* a folder we may not create files in can still hold a file we may overwrite */
  if (tmp && fd < 0) {
    replace = false;
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  }
  if (!tmp) errno = ENOMEM;
  bool ok = fd >= 0 && write_file(fd, &h, tensors, n);
  int saved = errno;
  if (fd >= 0 && close(fd) != 0 && ok) {
    ok = false;
    saved = errno;
  }
  if (ok && replace && rename(tmp, path) != 0) {
    ok = false;
    saved = errno;
  }
  if (!ok) {
    if (fd >= 0 && replace) unlink(tmp);
    rt_errorf(err, "%s: cannot write: %s", path, strerror(saved));
  }
  free(tmp);
  free(h.p);
  return ok ? 0 : 1;
}
