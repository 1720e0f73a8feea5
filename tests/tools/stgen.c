/*
 * stgen: writes a safetensors file of random tensors, for tests.
 *
 *   stgen OUT.safetensors [--seed N] [--dtype f32|f16|bf16] [--round f16|bf16]
 *         NAME=SHAPE...
 *
 * SHAPE is like 16x8 (or - for a scalar). Values are uniform in [-1, 1), the
 * same for the same seed, names and shapes whatever the dtype. --dtype f16 or
 * bf16 stores them narrowed (round to nearest even); --round keeps F32 but
 * rounds the values to that precision first, so `--dtype f16` and
 * `--dtype f32 --round f16` hold the same numbers: the F16 file and its
 * widening. The writer and the conversions are this file's own, not the
 * runtime's, which is what the tests check. Exit 0, or 2 on bad usage.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: stgen OUT.safetensors [--seed N] [--dtype f32|f16|bf16] [--round f16|bf16] "
    "NAME=SHAPE...\n"
    "  SHAPE like 16x8 (- for a scalar); values uniform in [-1, 1)\n";

#define MAX_TENSORS 64
#define MAX_RANK 8

/* storage or rounding precision */
typedef enum prec { P_F32, P_F16, P_BF16 } prec;

/* one tensor to write */
typedef struct spec {
  const char *name;       /* its name (points into argv) */
  int rank;               /* number of dims */
  int64_t shape[MAX_RANK]; /* its dims */
} spec;

static bool parse_prec(const char *s, prec *p) {
  if (!strcmp(s, "f32")) *p = P_F32;
  else if (!strcmp(s, "f16")) *p = P_F16;
  else if (!strcmp(s, "bf16")) *p = P_BF16;
  else return false;
  return true;
}

/* NAME=SHAPE into sp; false if malformed. Writes a '\0' over the '=' */
static bool parse_spec(char *arg, spec *sp) {
  char *eq = strchr(arg, '=');
  if (!eq || eq == arg) return false;
  *eq = '\0';
  sp->name = arg;
  sp->rank = 0;
  char *s = eq + 1;
  if (!strcmp(s, "-")) return true;
  while (*s) {
    char *end;
    long long d = strtoll(s, &end, 10);
    if (end == s || d < 0 || sp->rank == MAX_RANK) return false;
    sp->shape[sp->rank++] = d;
    if (*end == 'x') end++;
    else if (*end) return false;
    s = end;
  }
  return sp->rank > 0;
}

static uint64_t next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* f to IEEE half, round to nearest even */
static uint16_t to_f16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000, e8 = (x >> 23) & 0xff, mant = x & 0x7fffff;
  if (e8 == 0xff) return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
  int32_t e = (int32_t)e8 - 127 + 15;
  if (e >= 31) return (uint16_t)(sign | 0x7c00);
  uint32_t h, rem, mid;
  if (e <= 0) { /* subnormal half: mant24 * 2^(e8 - 126) units of 2^-24 */
    if (e < -10) return (uint16_t)sign;
    uint32_t m24 = mant | 0x800000;
    int shift = 14 - e;
    h = m24 >> shift;
    rem = m24 & ((1u << shift) - 1);
    mid = 1u << (shift - 1);
  } else {
    h = ((uint32_t)e << 10) | (mant >> 13);
    rem = mant & 0x1fff;
    mid = 0x1000;
  }
  if (rem > mid || (rem == mid && (h & 1))) h++; /* a carry into the exponent is right */
  return (uint16_t)(sign | h);
}

static float from_f16(uint16_t h) {
  int e = (h >> 10) & 0x1f, m = h & 0x3ff;
  float v = e == 0 ? ldexpf((float)m, -24)
            : e == 31 ? (m ? NAN : INFINITY)
                      : ldexpf((float)(m | 0x400), e - 25);
  return (h & 0x8000) ? -v : v;
}

/* f to bfloat16, round to nearest even (no NaN here) */
static uint16_t to_bf16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

static float from_bf16(uint16_t h) {
  uint32_t x = (uint32_t)h << 16;
  float f;
  memcpy(&f, &x, 4);
  return f;
}

static int64_t numel(const spec *sp) {
  int64_t n = 1;
  for (int i = 0; i < sp->rank; i++) n *= sp->shape[i];
  return n;
}

static void put_u64(FILE *f, uint64_t v) {
  for (int i = 0; i < 8; i++) fputc((int)((v >> (8 * i)) & 0xff), f);
}

int main(int argc, char **argv) {
  const char *out = NULL;
  uint64_t seed = 1;
  prec dtype = P_F32, round = P_F32;
  spec specs[MAX_TENSORS];
  int n = 0;
  for (int i = 1; i < argc; i++) {
    char *a = argv[i];
    if (!strcmp(a, "--help")) {
      fputs(usage, stdout);
      return 0;
    }
    if (!strcmp(a, "--seed") || !strcmp(a, "--dtype") || !strcmp(a, "--round")) {
      char *v = i + 1 < argc ? argv[++i] : NULL, *end = NULL;
      bool good = v && (a[2] == 's' ? (seed = strtoull(v, &end, 10), end != v && !*end)
                                    : parse_prec(v, a[2] == 'd' ? &dtype : &round));
      if (!good) {
        fprintf(stderr, "stgen: bad value for %s\n%s", a, usage);
        return 2;
      }
    } else if (a[0] == '-' && a[1]) {
      fprintf(stderr, "stgen: unknown option '%s'\n%s", a, usage);
      return 2;
    } else if (!out) {
      out = a;
    } else if (n == MAX_TENSORS || !parse_spec(a, &specs[n++])) {
      fprintf(stderr, "stgen: bad tensor '%s' (want NAME=SHAPE)\n%s", a, usage);
      return 2;
    }
  }
  if (!out || n == 0) {
    fputs(usage, stderr);
    return 2;
  }
  if (dtype != P_F32) round = dtype;
  size_t esize = dtype == P_F32 ? 4 : 2;

  /* the header: names, dtypes, shapes, offsets; padded to 8 bytes */
  size_t cap = 4096 + (size_t)n * 256, len = 0;
  char *h = malloc(cap);
  uint64_t off = 0;
  len += (size_t)snprintf(h + len, cap - len, "{");
  for (int t = 0; t < n; t++) {
    uint64_t bytes = (uint64_t)numel(&specs[t]) * esize;
    len += (size_t)snprintf(h + len, cap - len, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[",
                            t ? "," : "", specs[t].name,
                            dtype == P_F32 ? "F32" : dtype == P_F16 ? "F16" : "BF16");
    for (int k = 0; k < specs[t].rank; k++)
      len += (size_t)snprintf(h + len, cap - len, "%s%lld", k ? "," : "",
                              (long long)specs[t].shape[k]);
    len += (size_t)snprintf(h + len, cap - len, "],\"data_offsets\":[%llu,%llu]}",
                            (unsigned long long)off, (unsigned long long)(off + bytes));
    off += bytes;
  }
  len += (size_t)snprintf(h + len, cap - len, "}");
  while (len % 8) h[len++] = ' ';

  FILE *f = fopen(out, "wb");
  if (!f) {
    fprintf(stderr, "stgen: cannot write '%s'\n", out);
    free(h);
    return 1;
  }
  put_u64(f, len);
  fwrite(h, 1, len, f);
  free(h);
  uint64_t rng = seed;
  for (int t = 0; t < n; t++) {
    for (int64_t i = 0; i < numel(&specs[t]); i++) {
      float v = (float)((double)(next(&rng) >> 11) / 4503599627370496.0 - 1.0);
      uint16_t half = round == P_F16 ? to_f16(v) : to_bf16(v);
      if (dtype != P_F32) {
        fputc(half & 0xff, f);
        fputc(half >> 8, f);
        continue;
      }
      if (round != P_F32) v = round == P_F16 ? from_f16(half) : from_bf16(half);
      uint32_t x;
      memcpy(&x, &v, 4);
      for (int b = 0; b < 4; b++) fputc((int)((x >> (8 * b)) & 0xff), f);
    }
  }
  bool ok = !ferror(f);
  ok &= fclose(f) == 0;
  if (!ok) fprintf(stderr, "stgen: cannot write '%s'\n", out);
  return ok ? 0 : 1;
}
