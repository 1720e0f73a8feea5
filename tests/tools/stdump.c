/*
 * stdump: prints what a safetensors file holds, for people and shell tests.
 *
 *   stdump FILE [-n COUNT]
 *
 * One line per tensor: name, dtype (after widening: F16/BF16 show as f32),
 * shape, and the first COUNT values (default 8; 0 = all). Exit 1 if the file
 * cannot be read, 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seqrt.h"

static const char usage[] = "usage: stdump FILE.safetensors [-n COUNT]\n";

int main(int argc, char **argv) {
  const char *path = NULL;
  long count = 8;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-n") && i + 1 < argc) {
      char *end;
      count = strtol(argv[++i], &end, 10);
      if (*end || end == argv[i] || count < 0) {
        fprintf(stderr, "stdump: -n wants a non-negative count\n%s", usage);
        return 2;
      }
    } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fputs(usage, stdout);
      return 0;
    } else if (argv[i][0] == '-' || path) {
      fprintf(stderr, "stdump: unexpected argument '%s'\n%s", argv[i], usage);
      return 2;
    } else {
      path = argv[i];
    }
  }
  if (!path) {
    fputs(usage, stderr);
    return 2;
  }
  seqrt_error err;
  seqrt_st_file *f = seqrt_st_open(path, &err);
  if (!f) {
    fprintf(stderr, "stdump: %s\n", err.msg);
    return 1;
  }
  int status = 0;
  for (int i = 0; i < seqrt_st_count(f); i++) {
    seqrt_tensor t;
    if (seqrt_st_get(f, i, &t, &err)) {
      fprintf(stderr, "stdump: %s\n", err.msg);
      status = 1;
      continue;
    }
    char shape[160];
    printf("%s: %s %s", seqrt_st_name(f, i), seqrt_dtype_name(t.dtype),
           seqrt_shape_str(t.shape, t.rank, shape, sizeof shape));
    int64_t n = seqrt_tensor_numel(&t), shown = count == 0 || count > n ? n : count;
    if (n > 0) printf(" =");
    for (int64_t k = 0; k < shown; k++) {
      if (t.dtype == SEQRT_F32)
        printf(" %.7g", ((const float *)t.data)[k]);
      else if (t.dtype == SEQRT_I32)
        printf(" %d", ((const int32_t *)t.data)[k]);
      else
        printf(" %lld", (long long)((const int64_t *)t.data)[k]);
    }
    printf(shown < n ? " ...\n" : "\n");
  }
  seqrt_st_close(f);
  return status;
}
