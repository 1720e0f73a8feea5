/*
 * fuzz_safetensors.c: bytes as a safetensors file: open it, then read every
 * tensor (F16/BF16 widened). A bad file is an error, never a bad read; a
 * tensor read must have the bytes its dtype and shape say.
 */
#include "fuzz.h"

#include "seqrt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[64];
  int fd = fuzz_memfile(data, size, path, sizeof path);
  FUZZ_CHECK(fd >= 0);
  seqrt_error err;
  seqrt_st_file *f = seqrt_st_open(path, &err);
  if (f) {
    int n = seqrt_st_count(f);
    for (int i = 0; i < n; i++) {
      const char *name = seqrt_st_name(f, i);
      FUZZ_CHECK(name && seqrt_st_find(f, name) >= 0);
      seqrt_tensor t;
      if (seqrt_st_get(f, i, &t, &err) != 0) continue;
      FUZZ_CHECK(t.rank >= 0 && t.rank <= SEQRT_MAX_RANK);
      size_t numel = 1;
      for (int k = 0; k < t.rank; k++) numel *= (size_t)t.shape[k];
      /* touch every byte: an out-of-bounds view faults or ASan reports it */
      size_t bytes = numel * seqrt_dtype_size(t.dtype);
      volatile unsigned char sum = 0;
      for (size_t b = 0; b < bytes; b++) sum += ((const unsigned char *)t.data)[b];
      (void)sum;
    }
    seqrt_st_close(f);
  }
  close(fd);
  return 0;
}
