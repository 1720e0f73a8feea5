/*
 * progress.c: one status line on stderr while seqc works, only when stderr is
 * a terminal (a pipe or a file gets nothing): rewritten in place ("\r", the
 * line erased after it), at most ten times a second, and erased when the
 * work ends so the command's own output follows a clean line.
 *
 * A compile reports through a ticker thread, since it spends its time inside
 * LLVM: the line appears once the compile has taken a second, with the
 * elapsed time. Loops (bench's runs, generate's tokens) call
 * cli_progress_step with their count.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* stderr is a terminal; SEQC_PROGRESS=0 turns the line off, =1 on (tests under a pty) */
static bool wanted(void) {
  const char *env = getenv("SEQC_PROGRESS");
  if (env && *env) return env[0] != '0';
  return isatty(STDERR_FILENO);
}

static void show(cli_progress *p, const char *text) {
  fprintf(stderr, "\r\033[Kseqc: %s", text);
  fflush(stderr);
  p->shown = true;
}

void cli_progress_begin(cli_progress *p, const char *what) {
  memset(p, 0, sizeof *p);
  p->on = wanted();
  p->start = p->last = cli_now_ms();
  snprintf(p->what, sizeof p->what, "%s", what);
}

void cli_progress_step(cli_progress *p, const char *fmt, ...) {
  if (!p->on) return;
  double now = cli_now_ms();
  if (p->shown && now - p->last < 100) return;
  p->last = now;
  char line[256];
  int k = snprintf(line, sizeof line, "%s: ", p->what);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line + k, sizeof line - (size_t)k, fmt, ap);
  va_end(ap);
  show(p, line);
}

void cli_progress_end(cli_progress *p) {
  if (p->on && p->shown) {
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
  }
  p->shown = false;
}

/* ---- a compile: the ticker thread ---- */

static void *tick(void *arg) {
  cli_ticker *t = arg;
  pthread_mutex_lock(&t->lock);
  while (!t->done) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 100 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&t->wake, &t->lock, &ts);
    double ms = cli_now_ms() - t->p.start;
    if (!t->done && ms >= 1000) {
      char line[256];
      snprintf(line, sizeof line, "%s: %.1f s", t->p.what, ms / 1000);
      show(&t->p, line);
    }
  }
  pthread_mutex_unlock(&t->lock);
  return NULL;
}

void cli_ticker_start(cli_ticker *t, const char *what) {
  cli_progress_begin(&t->p, what);
  t->done = false;
  t->running = false;
  if (!t->p.on) return;
  pthread_mutex_init(&t->lock, NULL);
  pthread_cond_init(&t->wake, NULL);
  t->running = pthread_create(&t->thread, NULL, tick, t) == 0;
}

void cli_ticker_stop(cli_ticker *t) {
  if (!t->running) return;
  pthread_mutex_lock(&t->lock);
  t->done = true;
  pthread_cond_signal(&t->wake);
  pthread_mutex_unlock(&t->lock);
  pthread_join(t->thread, NULL);
  pthread_mutex_destroy(&t->lock);
  pthread_cond_destroy(&t->wake);
  cli_progress_end(&t->p);
  t->running = false;
}
