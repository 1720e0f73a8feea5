/*
 * st_write.c: writing tensor files: the checks every format needs, the file
 * handling they share, and the safetensors format; tensor_formats.c has
 * .npz and .json, seqrt_tensors_write picks by the file's extension.
 *
 * Safetensors: tensors go in the order given, their data back to back; the
 * header is padded with spaces to a multiple of 8 so the data section starts
 * aligned. A regular file is written beside its final name and renamed over
 * it: the file being replaced may be mapped by a reader in this very process
 * (an output written over an input), and truncating a mapped file would
 * crash it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt.h"

void rt_sbuf_put(rt_sbuf *b, const char *s, size_t n) {
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

void rt_sbuf_puts(rt_sbuf *b, const char *s) { rt_sbuf_put(b, s, strlen(s)); }

void rt_sbuf_json_string(rt_sbuf *b, const char *s) {
  rt_sbuf_puts(b, "\"");
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    char esc[8];
    if (*c == '"' || *c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)*c;
      rt_sbuf_put(b, esc, 2);
    } else if (*c < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", *c);
      rt_sbuf_puts(b, esc);
    } else {
      rt_sbuf_put(b, (const char *)c, 1);
    }
  }
  rt_sbuf_puts(b, "\"");
}

static const char *st_dtype(seqrt_dtype t) {
  return t == SEQRT_F32 ? "F32" : t == SEQRT_I32 ? "I32" : "I64";
}

bool rt_tensor_bytes(const char *path, const char *name, const seqrt_tensor *t, size_t *out,
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

/* every name usable and given once, every tensor writable */
static bool check_tensors(const char *path, const char *const *names, const seqrt_tensor *tensors,
                          int n, seqrt_error *err) {
  if (n < 0 || (n > 0 && (!names || !tensors))) {
    rt_errorf(err, "%s: cannot write: no tensors given", path);
    return false;
  }
  for (int i = 0; i < n; i++) {
    const char *name = names[i];
    size_t bytes;
    if (!name || !*name || !strcmp(name, "__metadata__")) {
      rt_errorf(err, "%s: cannot write: tensor %d has no usable name", path, i);
      return false;
    }
    for (int j = 0; j < i; j++) {
      if (strcmp(names[j], name)) continue;
      rt_errorf(err, "%s: cannot write: tensor name '%s' given twice", path, name);
      return false;
    }
    if (!rt_tensor_bytes(path, name, &tensors[i], &bytes, err)) return false;
  }
  return true;
}

/* the header: names, dtypes, shapes and contiguous offsets, padded to 8 bytes */
static bool make_header(rt_sbuf *h, const char *path, const char *const *names,
                        const seqrt_tensor *tensors, int n, seqrt_error *err) {
  rt_sbuf_puts(h, "{");
  size_t off = 0;
  for (int i = 0; i < n; i++) {
    const char *name = names[i];
    size_t bytes;
    rt_tensor_bytes(path, name, &tensors[i], &bytes, err); /* checked */
    if (off > SIZE_MAX - bytes) {
      rt_errorf(err, "%s: cannot write: tensors too large", path);
      return false;
    }
    char num[64];
    if (i) rt_sbuf_puts(h, ",");
    rt_sbuf_json_string(h, name);
    rt_sbuf_puts(h, ":{\"dtype\":\"");
    rt_sbuf_puts(h, st_dtype(tensors[i].dtype));
    rt_sbuf_puts(h, "\",\"shape\":[");
    for (int k = 0; k < tensors[i].rank; k++) {
      snprintf(num, sizeof num, "%s%lld", k ? "," : "", (long long)tensors[i].shape[k]);
      rt_sbuf_puts(h, num);
    }
    snprintf(num, sizeof num, "],\"data_offsets\":[%zu,%zu]}", off, off + bytes);
    rt_sbuf_puts(h, num);
    off += bytes;
  }
  rt_sbuf_puts(h, "}");
  while (!h->failed && h->len % 8) rt_sbuf_puts(h, " ");
  if (h->failed) {
    rt_errorf(err, "%s: cannot write: out of memory", path);
    return false;
  }
  return true;
}

void rt_sink_put(rt_sink *s, const void *p, size_t n) {
  const char *c = p;
  while (s->ok && n > 0) {
    ssize_t w = write(s->fd, c, n > (1u << 30) ? (1u << 30) : n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      s->ok = false;
      s->errnum = w == 0 ? EIO : errno;
      return;
    }
    c += w;
    n -= (size_t)w;
    s->written += (uint64_t)w;
  }
}

/* the safetensors file */
static bool write_st(rt_sink *s, const char *path, const char *const *names,
                     const seqrt_tensor *tensors, int n, seqrt_error *err) {
  rt_sbuf h = {0};
  if (!make_header(&h, path, names, tensors, n, err)) {
    free(h.p);
    return false;
  }
  unsigned char len[8];
  for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
  rt_sink_put(s, len, 8);
  rt_sink_put(s, h.p, h.len);
  for (int i = 0; i < n; i++) {
    size_t bytes = (size_t)seqrt_tensor_numel(&tensors[i]) * seqrt_dtype_size(tensors[i].dtype);
    if (bytes) rt_sink_put(s, tensors[i].data, bytes);
  }
  free(h.p);
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

/* the n tensors in format fmt to path, through a temporary file renamed over it */
static int write_file(const char *path, rt_writer fmt, const char *const *names,
                      const seqrt_tensor *tensors, int n, seqrt_error *err) {
  if (!check_tensors(path, names, tensors, n, err)) return 1;
  /* write in place what is not a regular file (a pipe, /dev/stdout) or a link */
  struct stat st;
  bool replace = lstat(path, &st) != 0 || S_ISREG(st.st_mode);
  size_t tmp_size = strlen(path) + 64;
  char *tmp = malloc(tmp_size);
  rt_sink s = {.fd = -1, .ok = true};
  if (tmp && replace) s.fd = open_temp(path, tmp, tmp_size);
  /* a folder we may not create files in can still hold a file we may overwrite */
  if (tmp && s.fd < 0) {
    replace = false;
    s.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  }
  if (!tmp) errno = ENOMEM;
  s.ok = s.fd >= 0;
  s.errnum = errno;
  bool encoded = !s.ok || fmt(&s, path, names, tensors, n, err); /* false: err says why */
  if (s.fd >= 0 && close(s.fd) != 0 && s.ok) {
    s.ok = false;
    s.errnum = errno;
  }
  if (encoded && s.ok && replace && rename(tmp, path) != 0) {
    s.ok = false;
    s.errnum = errno;
  }
  if (!encoded || !s.ok) {
    if (s.fd >= 0 && replace) unlink(tmp);
    if (encoded) rt_errorf(err, "%s: cannot write: %s", path, strerror(s.errnum));
  }
  free(tmp);
  return encoded && s.ok ? 0 : 1;
}

int seqrt_st_write(const char *path, const char *const *names, const seqrt_tensor *tensors, int n,
                   seqrt_error *err) {
  return write_file(path, write_st, names, tensors, n, err);
}

/* whether path ends in ext */
static bool ends_with(const char *path, const char *ext) {
  size_t n = strlen(path), e = strlen(ext);
  return n > e && !strcmp(path + n - e, ext);
}

int seqrt_tensors_write(const char *path, const char *const *names, const seqrt_tensor *tensors,
                        int n, seqrt_error *err) {
  rt_writer fmt = ends_with(path, ".npz")    ? rt_write_npz
                  : ends_with(path, ".json") ? rt_write_json
                                             : write_st;
  return write_file(path, fmt, names, tensors, n, err);
}
