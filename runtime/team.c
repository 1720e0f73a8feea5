/*
 * team.c: the barrier between the dependent steps of an SPMD entry, and the
 * failure report generated code makes instead of reading out of bounds.
 *
 * The barrier spins rather than sleeps: steps between barriers are short (one
 * kernel, one scan step), and waking a sleeping thread costs more than most of
 * them. It yields to the scheduler after a long spin so that more threads than
 * cores (or a busy machine) still make progress.
 *
 * Counters only grow, and a thread waits for the others to reach its own
 * count, so a thread that runs ahead into the next barrier never confuses
 * one that is still leaving the last. They wrap after 2^32 barriers; the
 * comparison is of the difference, which stays right across the wrap.
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

seqrt_team *rt_team_new(int max_threads) {
  if (max_threads < 1) max_threads = 1;
  size_t size = sizeof(seqrt_team) + (size_t)max_threads * sizeof(rt_arrival);
  size = (size + 63) & ~(size_t)63;
  seqrt_team *t = aligned_alloc(64, size);
  if (!t) return NULL;
  memset(t, 0, size);
  t->max_threads = max_threads;
  rt_team_reset(t, 1);
  return t;
}

void rt_team_free(seqrt_team *t) { free(t); }

void rt_team_reset(seqrt_team *t, int nth) {
  t->nth = nth < t->max_threads ? nth : t->max_threads;
  for (int i = 0; i < t->max_threads; i++) atomic_store(&t->arrived[i].n, 0);
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

void seqrt_arrive(seqrt_team *t, int32_t ith) {
  if (t->nth <= 1) return;
  /* only this thread writes its counter: a load and a store, no lock */
  atomic_uint *mine = &t->arrived[ith].n;
  unsigned n = atomic_load_explicit(mine, memory_order_relaxed);
  atomic_store_explicit(mine, n + 1, memory_order_release);
  /* fetch the others' counters now: by the wait, those already there cost
   * no trip to another core */
  for (int j = 0; j < t->nth; j++)
    if (j != ith) __builtin_prefetch(&t->arrived[j].n, 0, 3);
}

void seqrt_wait(seqrt_team *t, int32_t ith) {
  if (t->nth <= 1) return;
  unsigned n = atomic_load_explicit(&t->arrived[ith].n, memory_order_relaxed);
  unsigned spins = 0;
  for (int j = 0; j < t->nth; j++)
    while ((int)(atomic_load_explicit(&t->arrived[j].n, memory_order_acquire) - n) < 0) {
      cpu_pause();
      if (++spins == SPINS_BEFORE_YIELD) {
        spins = 0;
        sched_yield();
      }
    }
}

void seqrt_barrier(seqrt_team *t, int32_t ith) {
  seqrt_arrive(t, ith);
  seqrt_wait(t, ith);
}

int32_t seqrt_failed(seqrt_team *t) { return atomic_load(&t->failed); }

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
