/*
 * plan.c: places the arena's buffers from their lifetimes.
 *
 * Greedy by size, as TensorFlow Lite's and ONNX Runtime's planners do: the
 * largest block goes first, each at the lowest offset where it overlaps no
 * block already placed whose lifetime meets its own. Large blocks placed
 * early leave the small ones to fill the gaps, which keeps the peak near the
 * largest set of blocks live at one step.
 */
#include <stdlib.h>
#include <string.h>

#include "rt.h"

/* a block's place in the order of placement */
typedef struct order_key {
  size_t size;   /* its size */
  int32_t first; /* its first step */
  int index;     /* its index */
} order_key;

/* larger first; ties by earlier start, then by index, so the plan is the same every time */
static int by_size(const void *pa, const void *pb) {
  const order_key *a = pa, *b = pb;
  if (a->size != b->size) return a->size > b->size ? -1 : 1;
  if (a->first != b->first) return a->first < b->first ? -1 : 1;
  return (a->index > b->index) - (a->index < b->index);
}

static bool lives_overlap(const rt_block *a, const rt_block *b) {
  return a->first <= b->last && b->first <= a->last;
}

size_t rt_plan(rt_block *blocks, int n) {
  if (n <= 0) return 0;
  order_key *order = malloc(sizeof *order * (size_t)n);
  int *placed = malloc(sizeof(int) * (size_t)n); /* placed blocks, by offset */
  if (!order || !placed) {
    free(order);
    free(placed);
    /* no memory to plan with: every block its own slot */
    size_t off = 0;
    for (int i = 0; i < n; i++) {
      blocks[i].offset = off;
      off += blocks[i].size;
    }
    return off;
  }
  for (int i = 0; i < n; i++) order[i] = (order_key){blocks[i].size, blocks[i].first, i};
  qsort(order, (size_t)n, sizeof *order, by_size);

  size_t total = 0;
  int nplaced = 0;
  for (int k = 0; k < n; k++) {
    rt_block *b = &blocks[order[k].index];
    if (b->size == 0) {
      b->offset = 0;
      continue;
    }
    /* walk the placed blocks in offset order; the candidate offset moves past
     * every one that is live with b and reaches it */
    size_t off = 0;
    for (int j = 0; j < nplaced; j++) {
      const rt_block *p = &blocks[placed[j]];
      if (!lives_overlap(b, p)) continue;
      if (off + b->size <= p->offset) break;
      if (p->offset + p->size > off) off = p->offset + p->size;
    }
    b->offset = off;
    if (off + b->size > total) total = off + b->size;
    int at = nplaced;
    while (at > 0 && blocks[placed[at - 1]].offset > off) at--;
    memmove(&placed[at + 1], &placed[at], sizeof(int) * (size_t)(nplaced - at));
    placed[at] = order[k].index;
    nplaced++;
  }
  free(order);
  free(placed);
  return total;
}
