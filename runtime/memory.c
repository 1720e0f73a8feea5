/*
 * memory.c: the memory limit of a run (`--max-memory SIZE`): reading a size
 * as people write it, the machine's available memory, and sizes in words.
 * A run that needs more than its limit is refused before anything large is
 * allocated (driver.c), so that the error is ours and not the kernel's OOM
 * killer's.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

int seqrt_parse_size(const char *text, size_t *out) {
  const char *p = text;
  if (!p || !isdigit((unsigned char)*p)) return 1;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(p, &end, 10);
  if (errno) return 1;
  /* K, M, G, T: powers of 1024 */
  static const char units[] = "KMGT";
  const char *unit = *end ? strchr(units, toupper((unsigned char)*end)) : NULL;
  size_t scale = unit ? (size_t)1 << (10 * (unit - units + 1)) : 1;
  if (unit) end++;
  if (scale > 1 && (*end == 'B' || *end == 'b')) end++; /* 512MB as well as 512M */
  if (*end || v == 0 || v > SIZE_MAX) return 1;
  size_t bytes;
  if (!rt_mul_size((size_t)v, scale, &bytes)) return 1;
  *out = bytes;
  return 0;
}

size_t seqrt_available_memory(void) {
  FILE *f = fopen("/proc/meminfo", "r");
  if (!f) return 0;
  char line[256];
  unsigned long long kb = 0;
  bool found = false;
  while (!found && fgets(line, sizeof line, f))
    found = sscanf(line, "MemAvailable: %llu kB", &kb) == 1;
  fclose(f);
  size_t bytes;
  if (!found || kb > SIZE_MAX / 1024 || !rt_mul_size((size_t)kb, 1024, &bytes)) return 0;
  return bytes;
}

const char *seqrt_format_size(size_t bytes, char *buf, size_t size) {
  static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = (double)bytes;
  int u = 0;
  while (v >= 1024 && u < 6) {
    v /= 1024;
    u++;
  }
  if (u == 0)
    snprintf(buf, size, "%zu bytes", bytes);
  else
    snprintf(buf, size, "%.1f %s", v, units[u]);
  return buf;
}
