/*
 * fuzz.h: what the libFuzzer harnesses share (header-only, static inline).
 * Each harness is one fuzz_NAME.c defining LLVMFuzzerTestOneInput; run them
 * all with fuzz/run.sh.
 */
#ifndef SEQC_FUZZ_H
#define SEQC_FUZZ_H

#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* a harness's own invariant failed: abort, so libFuzzer saves the input */
#define FUZZ_CHECK(c)                                                          \
  do {                                                                         \
    if (!(c)) {                                                                \
      fprintf(stderr, "fuzz: %s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/*
 * Puts n bytes in an in-memory file (memfd) and writes its path,
 * /proc/self/fd/N, to path: the runtime reads files by path only. Returns
 * the descriptor, to close after the file was read; -1 on failure.
 */
static inline int fuzz_memfile(const uint8_t *data, size_t n, char *path, size_t size) {
  int fd = memfd_create("fuzz.safetensors", MFD_CLOEXEC);
  if (fd < 0) return -1;
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(fd, data + done, n - done);
    if (w <= 0) {
      close(fd);
      return -1;
    }
    done += (size_t)w;
  }
  snprintf(path, size, "/proc/self/fd/%d", fd);
  return fd;
}

/* where diagnostics go while fuzzing: nowhere (opened once, kept) */
static inline FILE *fuzz_null_stream(void) {
  static FILE *null_out;
  if (!null_out) null_out = fopen("/dev/null", "w");
  FUZZ_CHECK(null_out);
  return null_out;
}

#endif
