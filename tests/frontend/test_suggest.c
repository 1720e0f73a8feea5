/*
 * test_suggest.c: the "did you mean" helper: edit distances, which names are
 * close enough to offer, which of several wins, and the hint's text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include "fe_test.h"

static int dist(const char *a, const char *b) {
  return fe_edit_distance(a, strlen(a), b, strlen(b));
}

/* the hint for word among the space-separated names */
static const char *hint(const char *word, const char *names) {
  static fe_suggest s;
  fe_suggest_init(&s, word);
  fe_suggest_words(&s, names);
  return fe_suggest_hint(&s);
}

static void edit_distance(void **state) {
  (void)state;
  assert_int_equal(dist("", ""), 0);
  assert_int_equal(dist("lstm", "lstm"), 0);
  assert_int_equal(dist("lstmm", "lstm"), 1);   /* delete */
  assert_int_equal(dist("lsm", "lstm"), 1);     /* insert */
  assert_int_equal(dist("abc", "xbz"), 2);      /* substitute twice */
  assert_int_equal(dist("heads", "nhead"), 2);  /* insert and delete */
  assert_int_equal(dist("kitten", "sitting"), 3);
  assert_int_equal(dist("", "abc"), 3);
  assert_int_equal(dist("LSTM", "lstm"), 4); /* case counts here; the hint ignores it */
}

static void offers_the_close_name(void **state) {
  (void)state;
  assert_string_equal(hint("lstmm", "rnn lstm gru"), "; did you mean 'lstm'?");
  assert_string_equal(hint("LSTM", "rnn lstm gru"), "; did you mean 'lstm'?");
  assert_string_equal(hint("Hidden_Size", "input hidden_size"), "; did you mean 'hidden_size'?");
  assert_string_equal(hint("out_feature", "input out_features in_features bias"),
                      "; did you mean 'out_features'?");
  assert_string_equal(hint("c0", "input hidden_size h0"), "; did you mean 'h0'?");
}

static void offers_nothing_far(void **state) {
  (void)state;
  assert_string_equal(hint("frob", "rnn lstm gru"), "");
  assert_string_equal(hint("hidden", "input hidden_size"), ""); /* 5 edits */
  /* two edits make any short name look close: 'p' is no typo of 'dim' */
  assert_string_equal(hint("p", "input dim"), "");
  assert_string_equal(hint("ab", "xy"), "");
  assert_string_equal(hint("x", "input"), "");
  assert_string_equal(hint("lstm", ""), "");
}

static void the_closest_wins(void **state) {
  (void)state;
  /* case only beats one edit; one edit beats two; the first of equals stays */
  assert_string_equal(hint("Gru", "grus gru"), "; did you mean 'gru'?");
  assert_string_equal(hint("dimm", "dims dim"), "; did you mean 'dims'?");
  assert_string_equal(hint("inputx", "inputs input"), "; did you mean 'inputs'?");
  assert_string_equal(hint("abcd", "abxy abcx"), "; did you mean 'abcx'?");
}

static void names_one_at_a_time(void **state) {
  (void)state;
  fe_suggest s;
  fe_suggest_init(&s, "nodes2");
  assert_string_equal(fe_suggest_hint(&s), "");
  fe_suggest_try(&s, "nodesXYZ", 5); /* only the first len characters count */
  assert_string_equal(fe_suggest_hint(&s), "; did you mean 'nodes'?");
  /* a name too long for the suggestion's buffer is never offered */
  char long_name[200];
  memset(long_name, 'a', sizeof long_name - 1);
  long_name[sizeof long_name - 1] = '\0';
  fe_suggest_init(&s, long_name + 1);
  fe_suggest_try(&s, long_name, strlen(long_name));
  assert_string_equal(fe_suggest_hint(&s), "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(edit_distance),
      cmocka_unit_test(offers_the_close_name),
      cmocka_unit_test(offers_nothing_far),
      cmocka_unit_test(the_closest_wins),
      cmocka_unit_test(names_one_at_a_time),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
