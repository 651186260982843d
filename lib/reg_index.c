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
#include "registrar_int.h"

/* Grown when 3/4 full: linear probes stay short below that. */
static bool fits(size_t cap, size_t len) { return len <= cap / 4 * 3; }

void sipflow__reg_index_init(sipflow__reg_index *idx, const sipflow_mem *mem) {
  idx->slots = NULL;
  idx->mask = 0;
  idx->len = 0;
  idx->mem = mem;
}

void sipflow__reg_index_free(sipflow__reg_index *idx) {
  sipflow__free(idx->mem, idx->slots);
  sipflow__reg_index_init(idx, idx->mem);
}

static void place(sipflow__reg_slot *slots, size_t mask, uint64_t hash,
                  void *obj) {
  size_t i = (size_t)hash & mask;
  while (slots[i].obj)
    i = (i + 1) & mask;
  slots[i].hash = hash;
  slots[i].obj = obj;
}

int sipflow__reg_index_reserve(sipflow__reg_index *idx, size_t n) {
  size_t cap = idx->slots ? idx->mask + 1 : 0, want = 16;
  sipflow__reg_slot *slots;
  if (n == 0)
    return 0;
  if (n > SIZE_MAX / 4 - idx->len)
    return SIPFLOW_ERR_NOMEM;
  if (cap && fits(cap, idx->len + n))
    return 0;
  while (!fits(want, idx->len + n))
    want *= 2;
  if (want > SIZE_MAX / sizeof(*slots))
    return SIPFLOW_ERR_NOMEM;
  slots = sipflow__calloc(idx->mem, want, sizeof(*slots));
  if (!slots)
    return SIPFLOW_ERR_NOMEM;
  for (size_t i = 0; i < cap; i++)
    if (idx->slots[i].obj)
      place(slots, want - 1, idx->slots[i].hash, idx->slots[i].obj);
  sipflow__free(idx->mem, idx->slots);
  idx->slots = slots;
  idx->mask = want - 1;
  return 0;
}

int sipflow__reg_index_insert(sipflow__reg_index *idx, uint64_t hash,
                              void *obj) {
  /* Callers reserve first; this growth covers one that could not. */
  if (!idx->slots || !fits(idx->mask + 1, idx->len + 1))
    (void)sipflow__reg_index_reserve(idx, 1);
  /* One slot always stays free, so that every probe ends. */
  if (!idx->slots || idx->len + 1 > idx->mask)
    return SIPFLOW_ERR_NOMEM;
  place(idx->slots, idx->mask, hash, obj);
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
  if (!idx->slots)
    return;
  hole = (size_t)hash & mask;
  while (idx->slots[hole].obj && idx->slots[hole].obj != obj)
    hole = (hole + 1) & mask;
  if (!idx->slots[hole].obj)
    return;
  /* Backward shift (Knuth, TAOCP 6.4 algorithm R): no tombstones, so probes
   * stay as short as the load makes them. */
  for (j = (hole + 1) & mask; idx->slots[j].obj; j = (j + 1) & mask) {
    if (stays(hole, (size_t)idx->slots[j].hash & mask, j))
      continue;
    idx->slots[hole] = idx->slots[j];
    hole = j;
  }
  idx->slots[hole].obj = NULL;
  idx->slots[hole].hash = 0;
  idx->len--;
}
