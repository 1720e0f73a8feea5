/*
 * test_vocab.c: the token texts of `seqc generate --vocab` (cli/vocab.c):
 * one token a line with `\n` and `\\` escaped, text split from the left by
 * the longest token, a round trip from text to ids and back, and an unknown
 * character or a bad escape reported with its place.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

/* vocab.c is part of the seqc program, not of a library: compiled in here */
#include "../../cli/vocab.c"

/* ids 0..: "a", "b", "ab", newline, backslash, "w1", "é", "w17", "", "abc\\n" */
static const char file[] = "a\nb\nab\n\\n\n\\\\\nw1\n\xc3\xa9\nw17\n\nabc\\\\n";

static void parse(cli_vocab *v, const char *text) {
  char msg[256];
  assert_true(cli_vocab_parse(v, text, strlen(text), msg, sizeof msg));
}

static void escapes_and_lines(void **state) {
  (void)state;
  cli_vocab v;
  parse(&v, file);
  assert_int_equal(v.n, 10); /* the last line has no newline and still counts */
  assert_string_equal(v.text[3], "\n");
  assert_string_equal(v.text[4], "\\");
  assert_string_equal(v.text[6], "\xc3\xa9");
  assert_int_equal(v.len[8], 0);            /* an empty line is a token (with no text) */
  assert_string_equal(v.text[9], "abc\\n"); /* `\\` then `n`: a backslash and an n */
  assert_int_equal(v.len[9], 5);
  cli_vocab_free(&v);
  /* a final newline ends the last line, it makes no empty token */
  parse(&v, "x\ny\n");
  assert_int_equal(v.n, 2);
  cli_vocab_free(&v);
}

static void bad_escape_names_its_line(void **state) {
  (void)state;
  cli_vocab v;
  char msg[256];
  const char *bad = "a\nb\\tc\n";
  assert_false(cli_vocab_parse(&v, bad, strlen(bad), msg, sizeof msg));
  assert_non_null(strstr(msg, "line 2"));
  assert_non_null(strstr(msg, "\\t"));
  assert_false(cli_vocab_load(&v, "/nonexistent/vocab.txt", msg, sizeof msg));
  assert_non_null(strstr(msg, "/nonexistent/vocab.txt: cannot open"));
}

static void longest_match_from_the_left(void **state) {
  (void)state;
  cli_vocab v;
  parse(&v, file);
  int64_t ids[64];
  size_t bad = 0;
  /* "ab" before "a"+"b"; "w17" before "w1"; "abc\n" (id 9) needs its backslash */
  const char *text =
      "abab\nw17w1\xc3\xa9"
      "aba\\";
  int64_t want[] = {2, 2, 3, 7, 5, 6, 2, 0, 4};
  int64_t n = cli_vocab_encode(&v, text, ids, &bad);
  assert_int_equal(n, 9);
  for (int i = 0; i < n; i++) assert_int_equal(ids[i], want[i]);
  assert_int_equal(cli_vocab_encode(&v, "abc\\n", ids, &bad), 1);
  assert_int_equal(ids[0], 9);
  /* a tie in length goes to the lower id */
  cli_vocab dup;
  parse(&dup, "xy\nq\nxy\n");
  assert_int_equal(cli_vocab_encode(&dup, "xyxy", ids, &bad), 2);
  assert_int_equal(ids[0], 0);
  assert_int_equal(ids[1], 0);
  cli_vocab_free(&dup);
  cli_vocab_free(&v);
}

static void round_trip(void **state) {
  (void)state;
  cli_vocab v;
  parse(&v, file);
  const char *text =
      "w1w17\n\\\xc3\xa9"
      "babc\\nabw1";
  int64_t ids[64];
  size_t bad = 0;
  int64_t n = cli_vocab_encode(&v, text, ids, &bad);
  assert_true(n > 0);
  char back[128] = "";
  for (int i = 0; i < n; i++) strncat(back, v.text[ids[i]], v.len[ids[i]]);
  assert_string_equal(back, text);
  cli_vocab_free(&v);
}

static void unknown_character_has_its_offset(void **state) {
  (void)state;
  cli_vocab v;
  parse(&v, file);
  int64_t ids[64];
  size_t bad = 0;
  assert_int_equal(cli_vocab_encode(&v, "abwz", ids, &bad), -1);
  assert_int_equal(bad, 2); /* "w" alone is no token: "w1" and "w17" need more */
  assert_int_equal(cli_vocab_encode(&v, "\xc3\xa9\xc3\xa9q", ids, &bad), -1);
  assert_int_equal(bad, 4);
  cli_vocab_free(&v);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(escapes_and_lines),
      cmocka_unit_test(bad_escape_names_its_line),
      cmocka_unit_test(longest_match_from_the_left),
      cmocka_unit_test(round_trip),
      cmocka_unit_test(unknown_character_has_its_offset),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
