/*
 * The registrar's two indexes (AoR records by canonical AoR, bindings by
 * flow): open addressing with linear probing over (hash, pointer) slots.
 *
 * Why not sipflow__map: its chains run through the objects, so with a
 * million AoRs a probe reads every record on the way and growing the table
 * reads every object once more. Callgrind on the registrar benchmark
 * (tests/bench/bench_registrar.c) counted 3.4 last-level cache misses per
 * new binding in the flow index alone, most in rehashes and in chain walks
 * through unrelated bindings; doubling both maps' initial size up front
 * took new REGISTERs from 0.77 to 1.01 million a second. Here a probe reads
 * table lines until the slot with the very hash, and growing copies slots
 * without touching the objects. Keys are hashed with the context's keyed
 * SipHash (sipflow__hash), as for sipflow__map, so probe lengths cannot be
 * steered from the network.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <string.h>

#include "registrar_int.h"

/* Grown when 3/4 full: linear probes stay short below that. */
static bool fits(size_t cap, size_t len) { return len <= cap / 4 * 3; }

void sipflow__reg_index_init(sipflow__reg_index *idx, const sipflow_mem *mem,
                             bool hints) {
  idx->slots = NULL;
  idx->block = NULL;
  idx->mask = 0;
  idx->len = 0;
  idx->stride = sizeof(sipflow__reg_slot) +
                (hints ? SIPFLOW__REG_HINTS * sizeof(void *) : 0);
  idx->mem = mem;
}

void sipflow__reg_index_free(sipflow__reg_index *idx) {
  sipflow__free(idx->mem, idx->block);
  sipflow__reg_index_init(idx, idx->mem,
                          idx->stride > sizeof(sipflow__reg_slot));
}

/* A free slot for |hash| in |slots|, mask + 1 of |stride| bytes. */
static sipflow__reg_slot *place(unsigned char *slots, size_t stride,
                                size_t mask, uint64_t hash) {
  size_t i = (size_t)hash & mask;
  while (((sipflow__reg_slot *)(void *)(slots + i * stride))->obj)
    i = (i + 1) & mask;
  return (sipflow__reg_slot *)(void *)(slots + i * stride);
}

int sipflow__reg_index_reserve(sipflow__reg_index *idx, size_t n) {
  size_t cap = idx->slots ? idx->mask + 1 : 0, want = 16;
  size_t stride = idx->stride;
  unsigned char *slots;
  void *block;
  if (n == 0)
    return 0;
  if (n > SIZE_MAX / 4 - idx->len)
    return SIPFLOW_ERR_NOMEM;
  if (cap && fits(cap, idx->len + n))
    return 0;
  while (!fits(want, idx->len + n))
    want *= 2;
  if (want > SIZE_MAX / stride - 1)
    return SIPFLOW_ERR_NOMEM;
  /* One slot more, to align the table on its stride: a slot then never
   * spans two cache lines. */
  block = sipflow__calloc(idx->mem, want + 1, stride);
  if (!block)
    return SIPFLOW_ERR_NOMEM;
  slots =
      (unsigned char *)block + ((stride - (uintptr_t)block % stride) % stride);
  for (size_t i = 0; i < cap; i++) {
    const sipflow__reg_slot *old = sipflow__reg_index_at(idx, i);
    if (old->obj)
      memcpy(place(slots, stride, want - 1, old->hash), old, stride);
  }
  sipflow__free(idx->mem, idx->block);
  idx->block = block;
  idx->slots = slots;
  idx->mask = want - 1;
  return 0;
}

int sipflow__reg_index_insert(sipflow__reg_index *idx, uint64_t hash,
                              void *obj) {
  sipflow__reg_slot *s;
  /* Callers reserve first; this growth covers one that could not. */
  if (!idx->slots || !fits(idx->mask + 1, idx->len + 1))
    (void)sipflow__reg_index_reserve(idx, 1);
  /* One slot always stays free, so that every probe ends. */
  if (!idx->slots || idx->len + 1 > idx->mask)
    return SIPFLOW_ERR_NOMEM;
  s = place(idx->slots, idx->stride, idx->mask, hash);
  memset(s, 0, idx->stride);
  s->hash = hash;
  s->obj = obj;
  idx->len++;
  return 0;
}

/* Whether |home| lies cyclically in (hole, j]: the entry at j must then stay,
 * or a probe from |home| would stop at the hole short of it. */
static bool stays(size_t hole, size_t home, size_t j) {
  return hole <= j ? hole < home && home <= j : hole < home || home <= j;
}

void sipflow__reg_index_remove(sipflow__reg_index *idx, uint64_t hash,
                               const void *obj) {
  size_t mask = idx->mask, hole, j;
  sipflow__reg_slot *s, *t;
  if (!idx->slots)
    return;
  hole = (size_t)hash & mask;
  while ((s = sipflow__reg_index_at(idx, hole))->obj && s->obj != obj)
    hole = (hole + 1) & mask;
  if (!s->obj)
    return;
  /* Backward shift (Knuth, TAOCP 6.4 algorithm R): no tombstones, so probes
   * stay as short as the load makes them. */
  for (j = (hole + 1) & mask; (t = sipflow__reg_index_at(idx, j))->obj;
       j = (j + 1) & mask) {
    if (stays(hole, (size_t)t->hash & mask, j))
      continue;
    memcpy(sipflow__reg_index_at(idx, hole), t, idx->stride);
    hole = j;
  }
  memset(sipflow__reg_index_at(idx, hole), 0, idx->stride);
  idx->len--;
}
