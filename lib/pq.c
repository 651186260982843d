/*
 * Intrusive binary min-heap of deadlines. Each entry knows its index, so
 * moving or removing an entry is O(log n) without a search.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include "sipflow_int.h"

void sipflow__pq_init(sipflow__pq *pq, const sipflow_mem *mem) {
  pq->items = NULL;
  pq->len = pq->cap = 0;
  pq->mem = mem;
}

void sipflow__pq_free(sipflow__pq *pq) {
  for (uint32_t i = 0; i < pq->len; i++)
    pq->items[i]->index = SIPFLOW__PQ_NONE;
  sipflow__free(pq->mem, pq->items);
  pq->items = NULL;
  pq->len = pq->cap = 0;
}

static void place(sipflow__pq *pq, uint32_t i, sipflow__pq_entry *e) {
  pq->items[i] = e;
  e->index = i;
}

static void sift_up(sipflow__pq *pq, uint32_t i) {
  sipflow__pq_entry *e = pq->items[i];
  while (i > 0) {
    uint32_t parent = (i - 1) / 2;
    if (pq->items[parent]->deadline <= e->deadline)
      break;
    place(pq, i, pq->items[parent]);
    i = parent;
  }
  place(pq, i, e);
}

static void sift_down(sipflow__pq *pq, uint32_t i) {
  sipflow__pq_entry *e = pq->items[i];
  for (;;) {
    uint32_t child = 2 * i + 1;
    if (child >= pq->len)
      break;
    if (child + 1 < pq->len &&
        pq->items[child + 1]->deadline < pq->items[child]->deadline)
      child++;
    if (e->deadline <= pq->items[child]->deadline)
      break;
    place(pq, i, pq->items[child]);
    i = child;
  }
  place(pq, i, e);
}

int sipflow__pq_reserve(sipflow__pq *pq, uint32_t n) {
  uint64_t want = (uint64_t)pq->len + n;
  uint32_t cap;
  sipflow__pq_entry **items;
  if (want <= pq->cap)
    return 0;
  if (want >= SIPFLOW__PQ_NONE)
    return SIPFLOW_ERR_LIMIT;
  cap = pq->cap ? pq->cap : 16;
  while (cap < want)
    cap = cap > UINT32_MAX / 2 ? (uint32_t)want : cap * 2;
  items = sipflow__realloc(pq->mem, pq->items, (size_t)cap * sizeof(*items));
  if (!items)
    return SIPFLOW_ERR_NOMEM;
  pq->items = items;
  pq->cap = cap;
  return 0;
}

int sipflow__pq_set(sipflow__pq *pq, sipflow__pq_entry *e,
                    sipflow_tstamp deadline) {
  if (sipflow__pq_queued(e)) {
    sipflow_tstamp old = e->deadline;
    e->deadline = deadline;
    if (deadline < old)
      sift_up(pq, e->index);
    else if (deadline > old)
      sift_down(pq, e->index);
    return 0;
  }
  int rv = sipflow__pq_reserve(pq, 1);
  if (rv != 0)
    return rv;
  e->deadline = deadline;
  place(pq, pq->len++, e);
  sift_up(pq, e->index);
  return 0;
}

void sipflow__pq_remove(sipflow__pq *pq, sipflow__pq_entry *e) {
  uint32_t i = e->index;
  sipflow__pq_entry *last;
  if (i == SIPFLOW__PQ_NONE)
    return;
  e->index = SIPFLOW__PQ_NONE;
  last = pq->items[--pq->len];
  if (i == pq->len)
    return;
  place(pq, i, last);
  if (i > 0 && pq->items[(i - 1) / 2]->deadline > last->deadline)
    sift_up(pq, i);
  else
    sift_down(pq, i);
}
