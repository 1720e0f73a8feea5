/*
 * vocab.c: the token texts of `seqc generate --vocab FILE`. Line k of FILE
 * (from 0) is the text of token k, with a newline written `\n` and a
 * backslash `\\` (any other backslash is an error, so that a file meant for
 * another escaping is not read wrongly). A last line without a newline still
 * counts; a file ending in a newline has no empty token after it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

bool cli_vocab_parse(cli_vocab *v, const char *text, size_t len, char *msg, size_t size) {
  memset(v, 0, sizeof *v);
  int64_t lines = 0;
  for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
  if (len && text[len - 1] != '\n') lines++;
  v->text = calloc((size_t)lines + 1, sizeof *v->text);
  v->len = calloc((size_t)lines + 1, sizeof *v->len);
  v->mem = malloc(len + (size_t)lines + 1); /* unescaping only shortens; a NUL each */
  IR_ASSERT(v->text && v->len && v->mem);
  char *out = v->mem;
  size_t i = 0;
  while (i < len) {
    v->text[v->n] = out;
    char *start = out;
    for (; i < len && text[i] != '\n'; i++) {
      if (text[i] != '\\') {
        *out++ = text[i];
        continue;
      }
      char next = i + 1 < len ? text[i + 1] : '\n';
      if (next != 'n' && next != '\\') {
        snprintf(msg, size,
                 "line %lld: '\\%c' is no escape (a token's text writes a newline "
                 "\\n and a backslash \\\\)",
                 (long long)v->n + 1, next == '\n' ? ' ' : next);
        cli_vocab_free(v);
        return false;
      }
      *out++ = next == 'n' ? '\n' : '\\';
      i++;
    }
    v->len[v->n++] = (size_t)(out - start);
    *out++ = '\0';
    i++; /* the newline */
  }
  return true;
}

bool cli_vocab_load(cli_vocab *v, const char *path, char *msg, size_t size) {
  memset(v, 0, sizeof *v);
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(msg, size, "%s: cannot open: %s", path, strerror(errno));
    return false;
  }
  size_t cap = 4096, len = 0;
  char *text = malloc(cap);
  IR_ASSERT(text);
  size_t got;
  while ((got = fread(text + len, 1, cap - len, f)) > 0) {
    len += got;
    if (len == cap) {
      text = realloc(text, cap *= 2);
      IR_ASSERT(text);
    }
  }
  bool bad_read = ferror(f);
  fclose(f);
  if (bad_read) {
    free(text);
    snprintf(msg, size, "%s: cannot read: %s", path, strerror(errno));
    return false;
  }
  char why[256];
  bool ok = cli_vocab_parse(v, text, len, why, sizeof why);
  if (!ok) snprintf(msg, size, "%s: %s", path, why);
  free(text);
  return ok;
}

void cli_vocab_free(cli_vocab *v) {
  free(v->text);
  free(v->len);
  free(v->mem);
  memset(v, 0, sizeof *v);
}

int64_t cli_vocab_encode(const cli_vocab *v, const char *text, int64_t *ids, size_t *bad) {
  size_t len = strlen(text), at = 0;
  int64_t n = 0;
  while (at < len) {
    int64_t best = -1;
    for (int64_t k = 0; k < v->n; k++) /* strictly longer: equal lengths keep the lower id */
      if (v->len[k] > 0 && v->len[k] <= len - at && (best < 0 || v->len[k] > v->len[best]) &&
          !memcmp(text + at, v->text[k], v->len[k]))
        best = k;
    if (best < 0) {
      *bad = at;
      return -1;
    }
    ids[n++] = best;
    at += v->len[best];
  }
  return n;
}
