/* load.c: a model file from disk to a typed IR graph (read, parse, lower). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fe.h"

/* the whole file, NUL-terminated, or NULL with errno set */
static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  IR_ASSERT(buf);
  for (;;) {
    n += fread(buf + n, 1, cap - 1 - n, f);
    if (n < cap - 1) break;
    cap *= 2;
    buf = realloc(buf, cap);
    IR_ASSERT(buf);
  }
  int err = ferror(f) ? (errno ? errno : EIO) : 0;
  fclose(f);
  if (err) {
    free(buf);
    errno = err;
    return NULL;
  }
  buf[n] = 0;
  *len = n;
  return buf;
}

ir_graph *fe_load_model(const char *path, ir_diags *d, char **src_out) {
  *src_out = NULL;
  if (!d->file) d->file = path;
  size_t len = 0;
  char *src = read_all(path, &len);
  if (!src) {
    d->src = NULL; /* no source line to show */
    ir_error(d, (ir_loc){1, 1}, "cannot read %s: %s", path, strerror(errno));
    return NULL;
  }
  *src_out = src;
  d->src = src;
  d->src_len = len;
  fe_ast *ast = fe_parse_yaml(src, len, d);
  if (!ast) return NULL;
  ir_graph *g = fe_lower(ast, d);
  fe_ast_free(ast);
  return g;
}
