/* diag.c: user diagnostics with source line and caret; the internal assert. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

void ir_diags_init(ir_diags *d, const char *file, const char *src, size_t len, FILE *out) {
  memset(d, 0, sizeof *d);
  d->file = file;
  d->src = src;
  d->src_len = len;
  d->out = out ? out : stderr;
}

/* prints source line `line` of d->src and a caret under column col */
static void show_line(ir_diags *d, int line, int col) {
  if (!d->src || line < 1) return;
  const char *p = d->src, *end = d->src + d->src_len;
  for (int l = 1; l < line && p < end; p++)
    if (*p == '\n') l++;
  if (p >= end && line > 1) return;
  const char *e = p;
  while (e < end && *e != '\n') e++;
  fprintf(d->out, "%.*s\n", (int)(e - p), p);
  for (int i = 1; i < col && p + i - 1 < e; i++) fputc(p[i - 1] == '\t' ? '\t' : ' ', d->out);
  fputs("^\n", d->out);
}

void ir_verror(ir_diags *d, ir_loc loc, bool warning, const char *fmt, va_list ap) {
  bool is_error = !warning || d->warnings_are_errors;
  if (is_error) d->nerrors++;
  else d->nwarnings++;
  int line = loc.line > 0 ? loc.line : 1;
  int col = loc.col > 0 ? loc.col : 1;
  fprintf(d->out, "%s:%d:%d: %s: ", d->file ? d->file : "<input>", line, col,
          is_error ? "error" : "warning");
  vfprintf(d->out, fmt, ap);
  fputc('\n', d->out);
  show_line(d, line, col);
}

void ir_error(ir_diags *d, ir_loc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ir_verror(d, loc, false, fmt, ap);
  va_end(ap);
}

bool ir_node_error(ir_diags *d, const ir_node *n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ir_verror(d, n->loc, false, fmt, ap);
  va_end(ap);
  return false;
}

void ir_warning(ir_diags *d, ir_loc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ir_verror(d, loc, true, fmt, ap);
  va_end(ap);
}

_Noreturn void ir_assert_fail(const char *file, int line, const char *what) {
  fprintf(stderr, "seqc: error: internal error at %s:%d: assertion failed: %s\n", file, line, what);
  abort();
}
