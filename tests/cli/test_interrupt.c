/*
 * test_interrupt.c: the Ctrl-C flag of `generate` and `bench` (cli/interrupt.c)
 * without a race: a first SIGINT sets the flag and does not end the process;
 * the handler is gone after it, so a second SIGINT would kill as usual;
 * catching again clears the flag; release restores the default at once; a
 * SIGINT ignored before (a script's background job) stays ignored.
 * (tests/cli/interrupt.sh checks what the commands do with the flag.)
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <cmocka.h>

#include "../../cli/interrupt.c"

/* the action SIGINT has now */
static void (*sigint_action(void))(int) {
  struct sigaction sa;
  sigaction(SIGINT, NULL, &sa);
  return sa.sa_handler;
}

static void first_sets_the_flag_second_kills(void **state) {
  (void)state;
  bool caught = cli_interrupt_catch();
  assert_true(caught);
  assert_false(cli_interrupted());
  assert_ptr_not_equal(sigint_action(), SIG_DFL);
  raise(SIGINT); /* the handler runs before raise returns */
  assert_true(cli_interrupted());
  assert_ptr_equal(sigint_action(), SIG_DFL); /* the second one kills */
  cli_interrupt_release(caught);
}

static void catch_again_starts_clear(void **state) {
  (void)state;
  cli_interrupt_catch();
  raise(SIGINT);
  assert_true(cli_interrupted());
  bool caught = cli_interrupt_catch();
  assert_false(cli_interrupted());
  cli_interrupt_release(caught);
  assert_ptr_equal(sigint_action(), SIG_DFL);
}

static void ignored_stays_ignored(void **state) {
  (void)state;
  signal(SIGINT, SIG_IGN);
  bool caught = cli_interrupt_catch();
  assert_false(caught);
  assert_ptr_equal(sigint_action(), SIG_IGN);
  raise(SIGINT);
  assert_false(cli_interrupted());
  cli_interrupt_release(caught);
  assert_ptr_equal(sigint_action(), SIG_IGN);
  signal(SIGINT, SIG_DFL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(first_sets_the_flag_second_kills),
      cmocka_unit_test(catch_again_starts_clear),
      cmocka_unit_test(ignored_stays_ignored),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
