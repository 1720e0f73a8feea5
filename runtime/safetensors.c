/*
 * safetensors.c: reading safetensors files.
 *
 * The layout: a u64 little-endian header length N, N bytes of JSON mapping
 * each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (plus an
 * optional "__metadata__"), then the data section the offsets point into.
 * The file is mapped read-only and every header field is checked on open, so
 * that no later access reads outside the mapping whatever the file holds.
 * F16 and BF16 are widened, and misaligned data copied, on first get.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "rt.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader maps it as is"
#endif

/* the element types a file may hold (seqrt_dtype is what the user sees) */
typedef enum st_type { ST_F32, ST_F16, ST_BF16, ST_I32, ST_I64 } st_type;

static const struct {
  const char *name;  /* dtype string in the header */
  size_t size;       /* bytes per element */
  seqrt_dtype dtype; /* what seqrt_st_get gives */
} st_types[] = {
    [ST_F32] = {"F32", 4, SEQRT_F32},   [ST_F16] = {"F16", 2, SEQRT_F32},
    [ST_BF16] = {"BF16", 2, SEQRT_F32}, [ST_I32] = {"I32", 4, SEQRT_I32},
    [ST_I64] = {"I64", 8, SEQRT_I64},
};

/* dtypes of the safetensors format that seqc does not read */
static const char *const other_types[] = {"F64", "F8_E4M3", "F8_E5M2", "I8",  "I16",
                                          "U8",  "U16",     "U32",     "U64", "BOOL"};

typedef struct st_entry {
  char *name;                    /* tensor name */
  st_type type;                  /* element type in the file */
  int rank;                      /* number of dims */
  int64_t shape[SEQRT_MAX_RANK]; /* dims */
  size_t offset;                 /* start of its data in the mapping */
  size_t bytes;                  /* length of its data */
  void *_Atomic copy;            /* widened or aligned data owned by the file, made on first
                                    get; atomic: sessions on several threads may load weights
                                    from one file at once (seqrt.h) */
} st_entry;

struct seqrt_st_file {
  char *path;         /* as given, for messages */
  unsigned char *map; /* the whole file, read-only */
  size_t size;        /* its length */
  st_entry *entries;  /* tensors in header order */
  int n;              /* number of tensors */
  st_entry **by_name; /* entries sorted by name, for find and duplicate checks */
};

/* "PATH: corrupt safetensors file: WHAT" */
static void corrupt(seqrt_error *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void corrupt(seqrt_error *err, const char *path, const char *fmt, ...) {
  char what[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  rt_errorf(err, "%s: corrupt safetensors file: %s", path, what);
}

/* a JSON number that is an integer in [0, 2^53] (exact in a double) */
static bool get_count(const cJSON *j, uint64_t *out) {
  if (!cJSON_IsNumber(j)) return false;
  double d = j->valuedouble;
  if (!(d >= 0 && d <= 9007199254740992.0) || d != (double)(uint64_t)d) return false;
  *out = (uint64_t)d;
  return true;
}

/* fills e from the header entry j; false with err set when it is bad */
static bool read_entry(seqrt_st_file *f, const cJSON *j, size_t data_size, st_entry *e,
                       seqrt_error *err) {
  const char *name = j->string, *path = f->path;
  if (!cJSON_IsObject(j)) {
    corrupt(err, path, "entry of tensor '%s' is not an object", name);
    return false;
  }
  const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(j, "dtype");
  const cJSON *shape = cJSON_GetObjectItemCaseSensitive(j, "shape");
  const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(j, "data_offsets");
  if (!cJSON_IsString(dtype)) {
    corrupt(err, path, "tensor '%s' has no dtype string", name);
    return false;
  }
  int type = -1;
  for (int t = 0; t < (int)(sizeof st_types / sizeof *st_types); t++)
    if (!strcmp(dtype->valuestring, st_types[t].name)) type = t;
  if (type < 0) {
    for (size_t t = 0; t < sizeof other_types / sizeof *other_types; t++) {
      if (strcmp(dtype->valuestring, other_types[t])) continue;
      rt_errorf(err,
                "%s: tensor '%s' has dtype %s, which seqc does not read "
                "(F32, F16, BF16, I32, I64)",
                path, name, dtype->valuestring);
      return false;
    }
    corrupt(err, path, "tensor '%s' has unknown dtype '%.40s'", name, dtype->valuestring);
    return false;
  }
  e->type = (st_type)type;

  if (!cJSON_IsArray(shape)) {
    corrupt(err, path, "tensor '%s' has no shape list", name);
    return false;
  }
  int rank = cJSON_GetArraySize(shape);
  if (rank > SEQRT_MAX_RANK) {
    corrupt(err, path, "tensor '%s' has rank %d, more than %d", name, rank, SEQRT_MAX_RANK);
    return false;
  }
  e->rank = rank;
  size_t numel = 1;
  bool too_large = false, empty = false;
  int k = 0;
  for (const cJSON *d = shape->child; d; d = d->next, k++) {
    uint64_t v;
    if (!get_count(d, &v)) {
      corrupt(err, path, "tensor '%s' has a shape that is not a list of non-negative integers",
              name);
      return false;
    }
    e->shape[k] = (int64_t)v;
    if (v == 0) empty = true;
    if (v > SIZE_MAX || !rt_mul_size(numel, (size_t)v, &numel)) too_large = true;
  }
  /* a zero dim empties the tensor, however large the others */
  if (empty) numel = 0, too_large = false;
  char shape_str[160];
  seqrt_shape_str(e->shape, e->rank, shape_str, sizeof shape_str);

  uint64_t begin, end;
  if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
      !get_count(offsets->child, &begin) || !get_count(offsets->child->next, &end)) {
    corrupt(err, path, "tensor '%s' has data_offsets that are not two non-negative integers", name);
    return false;
  }
  if (begin > end) {
    corrupt(err, path, "tensor '%s' has data_offsets [%llu, %llu] that end before they begin", name,
            (unsigned long long)begin, (unsigned long long)end);
    return false;
  }
  if (end > data_size) {
    corrupt(err, path,
            "tensor '%s' has data_offsets [%llu, %llu] past the end of the data section "
            "(%zu bytes)",
            name, (unsigned long long)begin, (unsigned long long)end, data_size);
    return false;
  }
  size_t want = 0;
  bool fits = !too_large && rt_mul_size(numel, st_types[type].size, &want);
  if (!fits || want != end - begin) {
    char need[64] = "more bytes than memory holds";
    if (fits) snprintf(need, sizeof need, "%zu bytes", want);
    corrupt(err, path, "tensor '%s' has %llu bytes of data, but %s %s needs %s", name,
            (unsigned long long)(end - begin), st_types[type].name, shape_str, need);
    return false;
  }
  e->offset = f->size - data_size + (size_t)begin;
  e->bytes = (size_t)(end - begin);
  e->name = strdup(name);
  if (!e->name) {
    rt_errorf(err, "%s: out of memory", path);
    return false;
  }
  return true;
}

static int cmp_name(const void *a, const void *b) {
  return strcmp((*(st_entry *const *)a)->name, (*(st_entry *const *)b)->name);
}

/* reads the header of the mapped file into f->entries */
static bool read_header(seqrt_st_file *f, seqrt_error *err) {
  const char *path = f->path;
  if (f->size < 8) {
    corrupt(err, path, "file is %zu bytes, too short for the 8-byte header length", f->size);
    return false;
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = n << 8 | f->map[i];
  if (n > f->size - 8) {
    corrupt(err, path, "header length %llu is more than the %zu bytes that follow it",
            (unsigned long long)n, f->size - 8);
    return false;
  }
  const char *text = (const char *)f->map + 8, *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(text, (size_t)n, &end, false);
  if (!root) {
    corrupt(err, path, "header is not valid JSON (at byte %lld of %llu)",
            end ? (long long)(end - text) : -1LL, (unsigned long long)n);
    return false;
  }
  bool ok = false;
  if (!cJSON_IsObject(root)) {
    corrupt(err, path, "header is not a JSON object");
    goto done;
  }
  /* writers pad the header with spaces (some with NULs); anything else is garbage */
  for (const char *p = end; p && p < text + n; p++) {
    if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != '\0') {
      corrupt(err, path, "stray bytes after the JSON header (at byte %lld)", (long long)(p - text));
      goto done;
    }
  }
  int count = 0;
  for (const cJSON *j = root->child; j; j = j->next)
    if (strcmp(j->string, "__metadata__")) count++;
  f->entries = calloc((size_t)count + 1, sizeof *f->entries);
  f->by_name = calloc((size_t)count + 1, sizeof *f->by_name);
  if (!f->entries || !f->by_name) {
    rt_errorf(err, "%s: out of memory reading the header", path);
    goto done;
  }
  size_t data_size = f->size - 8 - (size_t)n;
  for (const cJSON *j = root->child; j; j = j->next) {
    if (!strcmp(j->string, "__metadata__")) continue;
    if (!read_entry(f, j, data_size, &f->entries[f->n], err)) goto done;
    f->by_name[f->n] = &f->entries[f->n];
    f->n++;
  }
  qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_name);
  for (int i = 1; i < f->n; i++) {
    if (strcmp(f->by_name[i - 1]->name, f->by_name[i]->name)) continue;
    corrupt(err, path, "tensor '%s' appears twice", f->by_name[i]->name);
    goto done;
  }
  ok = true;
done:
  cJSON_Delete(root);
  return ok;
}

seqrt_st_file *seqrt_st_open(const char *path, seqrt_error *err) {
  seqrt_st_file *f = calloc(1, sizeof *f);
  if (!f || !(f->path = strdup(path))) {
    free(f);
    rt_errorf(err, "%s: cannot open: out of memory", path);
    return NULL;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    rt_errorf(err, "%s: cannot open: %s", path, strerror(errno));
    goto fail;
  }
  if (S_ISDIR(st.st_mode)) {
    rt_errorf(err, "%s: cannot open: %s", path, strerror(EISDIR));
    goto fail;
  }
  if (!S_ISREG(st.st_mode)) {
    rt_errorf(err, "%s: cannot open: not a regular file", path);
    goto fail;
  }
  f->size = (size_t)st.st_size;
  if (f->size > 0) {
    void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      rt_errorf(err, "%s: cannot open: %s", path, strerror(errno));
      f->size = 0;
      goto fail;
    }
    f->map = m;
  }
  close(fd);
  fd = -1;
  if (read_header(f, err)) return f;
fail:
  if (fd >= 0) close(fd);
  seqrt_st_close(f);
  return NULL;
}

void seqrt_st_close(seqrt_st_file *f) {
  if (!f) return;
  for (int i = 0; i < f->n; i++) {
    free(f->entries[i].name);
    free(f->entries[i].copy);
  }
  free(f->entries);
  free(f->by_name);
  if (f->map) munmap(f->map, f->size);
  free(f->path);
  free(f);
}

int seqrt_st_count(const seqrt_st_file *f) { return f->n; }

const char *seqrt_st_name(const seqrt_st_file *f, int i) {
  return i >= 0 && i < f->n ? f->entries[i].name : NULL;
}

static int cmp_key(const void *key, const void *e) {
  return strcmp(key, (*(st_entry *const *)e)->name);
}

int seqrt_st_find(const seqrt_st_file *f, const char *name) {
  st_entry **e = bsearch(name, f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_key);
  return e ? (int)(*e - f->entries) : -1;
}

/* IEEE half to float, subnormals, infinities and NaNs included */
static float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  if (exp == 0) {
    float v = (float)man * 0x1p-24f; /* zero or subnormal: man * 2^-24 */
    return sign ? -v : v;
  }
  uint32_t bits = exp == 31 ? sign | 0x7f800000u | man << 13 : sign | (exp + 112) << 23 | man << 13;
  float v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

static float bf16_to_float(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

/* the widened or aligned copy of entry e */
static void *make_copy(const seqrt_st_file *f, const st_entry *e) {
  const unsigned char *src = f->map + e->offset;
  size_t numel = e->bytes / st_types[e->type].size;
  if (e->type != ST_F16 && e->type != ST_BF16) {
    void *p = rt_alloc64(e->bytes);
    if (p) memcpy(p, src, e->bytes);
    return p;
  }
  size_t bytes;
  if (!rt_mul_size(numel, sizeof(float), &bytes)) return NULL;
  float *p = rt_alloc64(bytes);
  if (!p) return NULL;
  for (size_t i = 0; i < numel; i++) {
    uint16_t h = (uint16_t)(src[2 * i] | src[2 * i + 1] << 8);
    p[i] = e->type == ST_F16 ? half_to_float(h) : bf16_to_float(h);
  }
  return p;
}

int seqrt_st_get(seqrt_st_file *f, int i, seqrt_tensor *out, seqrt_error *err) {
  if (i < 0 || i >= f->n) {
    rt_errorf(err, "%s: no tensor number %d (the file has %d)", f->path, i, f->n);
    return 1;
  }
  st_entry *e = &f->entries[i];
  memset(out, 0, sizeof *out);
  out->dtype = st_types[e->type].dtype;
  out->rank = e->rank;
  memcpy(out->shape, e->shape, sizeof e->shape);
  void *data = f->map + e->offset;
  size_t align = seqrt_dtype_size(out->dtype);
  bool widen = e->type == ST_F16 || e->type == ST_BF16;
  if (e->bytes > 0 && (widen || (uintptr_t)data % align != 0)) {
    data = atomic_load_explicit(&e->copy, memory_order_acquire);
    if (!data) {
      void *mine = make_copy(f, e), *none = NULL;
      if (!mine) {
        rt_errorf(err, "%s: out of memory reading tensor '%s'", f->path, e->name);
        return 1;
      }
      /* two threads may both have made one: the first stored wins, the other is dropped */
      if (atomic_compare_exchange_strong_explicit(&e->copy, &none, mine, memory_order_acq_rel,
                                                  memory_order_acquire)) {
        data = mine;
      } else {
        free(mine);
        data = none;
      }
    }
  }
  out->data = data;
  return 0;
}
