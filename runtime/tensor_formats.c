/*
 * tensor_formats.c: the two tensor file formats besides safetensors that
 * `--output` writes, chosen by the file's extension (seqrt_tensors_write in
 * st_write.c, which checks the tensors and owns the file).
 *
 * .npz is numpy's savez: a zip archive (stored, not deflated) holding one
 * NAME.npy per tensor, each an NPY 1.0 header (the dict numpy writes, padded
 * to 64 bytes) and the little-endian data. Without zip64, an entry or the
 * archive past 4 GiB, or more than 65535 tensors, is an error.
 *
 * .json is {"NAME": {"dtype": "f32", "shape": [2, 3], "data": [...]}, ...},
 * the data flat in row-major order; f32 values print with 9 significant
 * digits (they read back to the same float), and NaN and the infinities,
 * which JSON has no numbers for, as the strings "nan", "inf" and "-inf".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

/* ---- .npz ---- */

/* the CRC-32 of zip (reflected, polynomial 0xEDB88320) of n bytes, continuing crc */
static uint32_t crc32_of(uint32_t crc, const void *p, size_t n) {
  const unsigned char *c = p;
  crc = ~crc;
  while (n--) {
    crc ^= *c++;
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

/* little-endian integers into a header under construction */
static unsigned char *le(unsigned char *p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) *p++ = (unsigned char)(v >> (8 * i));
  return p;
}

/* the NPY 1.0 header of t into h: magic, version, length, the dict, padded to 64 */
static void npy_header(rt_sbuf *h, const seqrt_tensor *t) {
  const char *descr = t->dtype == SEQRT_F32 ? "<f4" : t->dtype == SEQRT_I32 ? "<i4" : "<i8";
  char dict[512];
  int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     descr);
  for (int k = 0; k < t->rank; k++)
    len += snprintf(dict + len, sizeof dict - (size_t)len, "%s%lld", k ? ", " : "",
                    (long long)t->shape[k]);
  len += snprintf(dict + len, sizeof dict - (size_t)len, "%s), }", t->rank == 1 ? "," : "");
  size_t total = 10 + (size_t)len + 1; /* magic 6, version 2, length 2, dict, '\n' */
  size_t pad = (64 - total % 64) % 64;
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  le(pre + 8, (uint64_t)len + pad + 1, 2);
  rt_sbuf_put(h, (const char *)pre, 10);
  rt_sbuf_put(h, dict, (size_t)len);
  for (size_t i = 0; i < pad; i++) rt_sbuf_puts(h, " ");
  rt_sbuf_puts(h, "\n");
}

/* one entry's place in the central directory */
typedef struct zip_entry {
  uint32_t crc;    /* of the entry's bytes */
  uint64_t size;   /* its bytes (stored: compressed = uncompressed) */
  uint64_t offset; /* of its local header */
} zip_entry;

/* a local file header (sig 0x04034b50) or central directory entry (0x02014b50) */
static size_t zip_header(unsigned char *p, bool central, const zip_entry *e, size_t name_len) {
  unsigned char *q = le(p, central ? 0x02014b50u : 0x04034b50u, 4);
  if (central) q = le(q, 20, 2); /* made by: version 2.0 */
  q = le(q, 20, 2);              /* needed to extract: 2.0 */
  q = le(q, 0, 2);               /* flags */
  q = le(q, 0, 2);               /* method: stored */
  q = le(q, 0, 2);               /* time 00:00:00 */
  q = le(q, 0x21, 2);            /* date 1980-01-01 */
  q = le(q, e->crc, 4);
  q = le(q, e->size, 4);
  q = le(q, e->size, 4);
  q = le(q, name_len, 2);
  q = le(q, 0, 2); /* extra field */
  if (central) {
    q = le(q, 0, 2);         /* comment */
    q = le(q, 0, 2);         /* disk */
    q = le(q, 0, 2);         /* internal attributes */
    q = le(q, 0, 4);         /* external attributes */
    q = le(q, e->offset, 4); /* the local header */
  }
  return (size_t)(q - p);
}

bool rt_write_npz(rt_sink *s, const char *path, const char *const *names,
                  const seqrt_tensor *tensors, int n, seqrt_error *err) {
  if (n > 65535) {
    rt_errorf(err, "%s: cannot write: %d tensors do not fit an .npz without zip64", path, n);
    return false;
  }
  zip_entry *e = calloc((size_t)n + 1, sizeof *e);
  rt_sbuf h = {0};
  if (!e) {
    rt_errorf(err, "%s: cannot write: out of memory", path);
    return false;
  }
  bool ok = true;
  for (int i = 0; i < n && ok; i++) {
    size_t bytes;
    rt_tensor_bytes(path, names[i], &tensors[i], &bytes, err); /* checked */
    h.len = 0;
    npy_header(&h, &tensors[i]);
    e[i].offset = s->written;
    e[i].size = (uint64_t)h.len + bytes;
    e[i].crc = crc32_of(crc32_of(0, h.p, h.len), tensors[i].data, bytes);
    if (h.failed || e[i].size >= 0xFFFFFFFFu || e[i].offset >= 0xFFFFFFFFu) {
      rt_errorf(err, "%s: cannot write: %s", path,
                h.failed ? "out of memory" : "an .npz past 4 GiB needs zip64, which seqc does not write");
      ok = false;
      break;
    }
    char name[1024];
    size_t name_len = (size_t)snprintf(name, sizeof name, "%s.npy", names[i]);
    if (name_len >= sizeof name) {
      rt_errorf(err, "%s: cannot write: tensor name '%.40s...' is too long for an .npz", path,
                names[i]);
      ok = false;
      break;
    }
    unsigned char head[64];
    rt_sink_put(s, head, zip_header(head, false, &e[i], name_len));
    rt_sink_put(s, name, name_len);
    rt_sink_put(s, h.p, h.len);
    if (bytes) rt_sink_put(s, tensors[i].data, bytes);
  }
  uint64_t dir = s->written;
  for (int i = 0; i < n && ok; i++) {
    char name[1024];
    size_t name_len = (size_t)snprintf(name, sizeof name, "%s.npy", names[i]);
    unsigned char head[64];
    rt_sink_put(s, head, zip_header(head, true, &e[i], name_len));
    rt_sink_put(s, name, name_len);
  }
  if (ok) { /* the end of central directory record */
    unsigned char end[22], *q = le(end, 0x06054b50u, 4);
    q = le(q, 0, 2);
    q = le(q, 0, 2);
    q = le(q, (uint64_t)n, 2);
    q = le(q, (uint64_t)n, 2);
    q = le(q, s->written - dir, 4);
    q = le(q, dir, 4);
    le(q, 0, 2);
    rt_sink_put(s, end, sizeof end);
  }
  free(h.p);
  free(e);
  return ok;
}

/* ---- .json ---- */

/* element i of t as JSON */
static void json_value(rt_sbuf *b, const seqrt_tensor *t, int64_t i) {
  char num[40];
  if (t->dtype == SEQRT_F32) {
    float v = ((const float *)t->data)[i];
    if (isnan(v)) snprintf(num, sizeof num, "\"nan\"");
    else if (isinf(v)) snprintf(num, sizeof num, "\"%sinf\"", v < 0 ? "-" : "");
    else snprintf(num, sizeof num, "%.9g", (double)v);
  } else {
    long long v = t->dtype == SEQRT_I32 ? ((const int32_t *)t->data)[i]
                                        : (long long)((const int64_t *)t->data)[i];
    snprintf(num, sizeof num, "%lld", v);
  }
  rt_sbuf_puts(b, num);
}

bool rt_write_json(rt_sink *s, const char *path, const char *const *names,
                   const seqrt_tensor *tensors, int n, seqrt_error *err) {
  rt_sbuf b = {0};
  rt_sbuf_puts(&b, "{");
  for (int i = 0; i < n && !b.failed; i++) {
    const seqrt_tensor *t = &tensors[i];
    char num[40];
    rt_sbuf_puts(&b, i ? ",\n " : "\n ");
    rt_sbuf_json_string(&b, names[i]);
    rt_sbuf_puts(&b, ": {\"dtype\": \"");
    rt_sbuf_puts(&b, seqrt_dtype_name(t->dtype));
    rt_sbuf_puts(&b, "\", \"shape\": [");
    for (int k = 0; k < t->rank; k++) {
      snprintf(num, sizeof num, "%s%lld", k ? ", " : "", (long long)t->shape[k]);
      rt_sbuf_puts(&b, num);
    }
    rt_sbuf_puts(&b, "], \"data\": [");
    int64_t count = seqrt_tensor_numel(t);
    for (int64_t j = 0; j < count && !b.failed; j++) {
      if (j) rt_sbuf_puts(&b, ", ");
      json_value(&b, t, j);
      if (b.len >= (1u << 16)) { /* flush: the text of a large output never sits whole */
        rt_sink_put(s, b.p, b.len);
        b.len = 0;
      }
    }
    rt_sbuf_puts(&b, "]}");
  }
  rt_sbuf_puts(&b, "\n}\n");
  bool ok = !b.failed;
  if (ok) rt_sink_put(s, b.p, b.len);
  else rt_errorf(err, "%s: cannot write: out of memory", path);
  free(b.p);
  return ok;
}
