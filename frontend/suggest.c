/*
 * suggest.c: "did you mean" for names a user mistyped (an op, an attribute,
 * a top-level or input key). A candidate is offered when it differs from
 * the word only in case, or by at most two single-character edits (insert,
 * delete, substitute) and the word is long enough that two edits do not make
 * any name look close ('x' would otherwise suggest 'p').
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "fe.h"

/* longer names are never compared: no name of the language comes close */
enum { LONGEST = 64 };

int fe_edit_distance(const char *a, size_t alen, const char *b, size_t blen) {
  if (alen > LONGEST || blen > LONGEST) return alen > blen ? (int)alen : (int)blen;
  int row[LONGEST + 1];
  for (size_t j = 0; j <= blen; j++) row[j] = (int)j;
  for (size_t i = 1; i <= alen; i++) {
    int diag = row[0]; /* row[i-1][j-1] */
    row[0] = (int)i;
    for (size_t j = 1; j <= blen; j++) {
      int up = row[j]; /* row[i-1][j] */
      int best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      diag = up;
      row[j] = best;
    }
  }
  return row[blen];
}

static bool same_ignoring_case(const char *a, const char *b, size_t blen) {
  if (strlen(a) != blen) return false;
  for (size_t i = 0; i < blen; i++)
    if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i])) return false;
  return true;
}

void fe_suggest_init(fe_suggest *s, const char *word) {
  memset(s, 0, sizeof *s);
  s->word = word;
  s->score = -1;
}

void fe_suggest_try(fe_suggest *s, const char *name, size_t len) {
  size_t wlen = strlen(s->word);
  if (len == 0 || len >= sizeof s->best || (len == wlen && !strncmp(name, s->word, len))) return;
  int score;
  if (same_ignoring_case(s->word, name, len)) {
    score = 0;
  } else {
    score = fe_edit_distance(s->word, wlen, name, len);
    size_t shorter = wlen < len ? wlen : len;
    if (score > 2 || (size_t)score >= shorter) return;
  }
  if (s->score >= 0 && s->score <= score) return; /* the first of equals stays */
  s->score = score;
  memcpy(s->best, name, len);
  s->best[len] = '\0';
}

void fe_suggest_words(fe_suggest *s, const char *words) {
  for (const char *p = words; *p;) {
    size_t n = strcspn(p, " ");
    /* ops.def's attrs words carry their kind: "key:kind" offers "key" */
    size_t name = strcspn(p, " :");
    fe_suggest_try(s, p, name < n ? name : n);
    p += n;
    while (*p == ' ') p++;
  }
}

const char *fe_suggest_hint(fe_suggest *s) {
  if (s->score < 0) return "";
  snprintf(s->hint, sizeof s->hint, "; did you mean '%s'?", s->best);
  return s->hint;
}
