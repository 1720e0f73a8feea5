/*
 * interrupt.c: Ctrl-C during the loops of `generate` and `bench`. The
 * handler only sets a flag; the loop checks it between steps (a token, a
 * timed run), stops, and prints what it has done. The handler removes itself
 * as it runs, so a second Ctrl-C kills the process as usual (a step that
 * hangs can still be stopped). A SIGINT that the process inherited as
 * ignored (a background job of a script, nohup) stays ignored. The libraries
 * never see a signal.
 */
#include <signal.h>
#include <string.h>

#include "cli.h"

/* set by the handler, read by the loops: a signal handler can reach no
 * other state, so this is the one file-level variable of the CLI */
static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig) {
  (void)sig;
  interrupted = 1;
}

bool cli_interrupt_catch(void) {
  interrupted = 0;
  struct sigaction sa, before;
  if (sigaction(SIGINT, NULL, &before) == 0 && before.sa_handler == SIG_IGN) return false;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND | SA_RESTART; /* once; writes to stdout carry on */
  return sigaction(SIGINT, &sa, NULL) == 0;
}

void cli_interrupt_release(bool caught) {
  if (caught) signal(SIGINT, SIG_DFL);
}

bool cli_interrupted(void) { return interrupted != 0; }
