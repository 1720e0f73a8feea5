/*
 * team.c: the barrier between the dependent steps of an SPMD entry, and the
 * failure report generated code makes instead of reading out of bounds.
 *
 * The barrier spins rather than sleeps: steps between barriers are short (one
 * kernel, one scan step), and waking a sleeping thread costs more than most of
 * them. It yields to the scheduler after a long spin so that more threads than
 * cores (or a busy machine) still make progress.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

/* spins before each sched_yield: long enough to cover a short step */
enum { SPINS_BEFORE_YIELD = 1 << 14 };

static inline void cpu_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

seqrt_team *rt_team_new(void) {
  size_t size = (sizeof(seqrt_team) + 63) & ~(size_t)63;
  seqrt_team *t = aligned_alloc(64, size);
  if (!t) return NULL;
  memset(t, 0, size);
  rt_team_reset(t, 1);
  return t;
}

void rt_team_free(seqrt_team *t) { free(t); }

void rt_team_reset(seqrt_team *t, int nth) {
  atomic_store(&t->count, 0);
  atomic_store(&t->gen, 0);
  t->nth = nth;
  atomic_store(&t->failed, 0);
  atomic_store(&t->reported, 0);
  t->code = 0;
  memset(t->args, 0, sizeof t->args);
}

bool rt_team_failure(seqrt_team *t, int32_t *code, int64_t args[4]) {
  if (!atomic_load(&t->reported)) return false;
  *code = t->code;
  memcpy(args, t->args, sizeof t->args);
  return true;
}

void seqrt_barrier(seqrt_team *t) {
  if (t->nth <= 1) return;
  /* read the generation before arriving: once the last thread arrives it may
   * bump it at any moment */
  unsigned gen = atomic_load_explicit(&t->gen, memory_order_acquire);
  if (atomic_fetch_add_explicit(&t->count, 1, memory_order_acq_rel) == t->nth - 1) {
    atomic_store_explicit(&t->count, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&t->gen, 1, memory_order_release);
    return;
  }
  for (unsigned spins = 0; atomic_load_explicit(&t->gen, memory_order_acquire) == gen;) {
    cpu_pause();
    if (++spins == SPINS_BEFORE_YIELD) {
      spins = 0;
      sched_yield();
    }
  }
}

void seqrt_fail(seqrt_team *t, int32_t code, int64_t a, int64_t b, int64_t c, int64_t d) {
  int expected = 0;
  if (!atomic_compare_exchange_strong(&t->failed, &expected, 1)) return;
  t->code = code;
  t->args[0] = a;
  t->args[1] = b;
  t->args[2] = c;
  t->args[3] = d;
  atomic_store_explicit(&t->reported, 1, memory_order_release);
}
