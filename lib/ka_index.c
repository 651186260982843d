/*
 * The flow id -> endpoint index: open addressing over 32-bit endpoint
 * indices (keepalive_int.h says why not the foundation's map).
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include "keepalive_int.h"

void sipflow__ka_index_free(sipflow__ka_index *ix, const sipflow_mem *mem) {
  sipflow__free(mem, ix->slots);
  ix->slots = NULL;
  ix->cap = ix->len = 0;
}

/* Keyed so that a host whose flow ids an attacker can steer still gets
 * short probe sequences. */
static uint32_t home(const sipflow_keepalive *ka, sipflow_flow_id flow,
                     uint32_t cap) {
  return (uint32_t)sipflow__hash(ka->ctx, &flow, sizeof(flow)) & (cap - 1);
}

static sipflow_flow_id flow_at(const sipflow_keepalive *ka, uint32_t slot) {
  return sipflow__ka_ep_at(ka, slot - 1)->flow_id;
}

static void place(const sipflow_keepalive *ka, uint32_t *slots, uint32_t cap,
                  sipflow_flow_id flow, uint32_t idx) {
  uint32_t i = home(ka, flow, cap);
  while (slots[i])
    i = (i + 1) & (cap - 1);
  slots[i] = idx + 1;
}

int sipflow__ka_index_reserve(sipflow_keepalive *ka) {
  sipflow__ka_index *ix = &ka->index;
  uint32_t cap, *slots;
  if (ix->cap && (uint64_t)(ix->len + 1) * 4 <= (uint64_t)ix->cap * 3)
    return 0;
  if (ix->cap >= (1u << 31))
    return SIPFLOW_ERR_LIMIT;
  cap = ix->cap ? ix->cap * 2 : 64;
  slots = sipflow__calloc(ka->mem, cap, sizeof(*slots));
  if (!slots)
    return SIPFLOW_ERR_NOMEM;
  for (uint32_t i = 0; i < ix->cap; i++)
    if (ix->slots[i])
      place(ka, slots, cap, flow_at(ka, ix->slots[i]), ix->slots[i] - 1);
  sipflow__free(ka->mem, ix->slots);
  ix->slots = slots;
  ix->cap = cap;
  return 0;
}

uint32_t sipflow__ka_index_find(const sipflow_keepalive *ka,
                                sipflow_flow_id flow) {
  const sipflow__ka_index *ix = &ka->index;
  if (!ix->cap || flow == 0)
    return SIPFLOW__KA_NONE;
  for (uint32_t i = home(ka, flow, ix->cap);; i = (i + 1) & (ix->cap - 1)) {
    uint32_t s = ix->slots[i];
    if (!s)
      return SIPFLOW__KA_NONE;
    if (flow_at(ka, s) == flow)
      return s - 1;
  }
}

void sipflow__ka_index_insert(sipflow_keepalive *ka, sipflow_flow_id flow,
                              uint32_t idx) {
  place(ka, ka->index.slots, ka->index.cap, flow, idx);
  ka->index.len++;
}

/* Backward-shift deletion: later members of the probe run move up so that
 * lookups never need tombstones. */
void sipflow__ka_index_remove(sipflow_keepalive *ka, sipflow_flow_id flow) {
  sipflow__ka_index *ix = &ka->index;
  uint32_t mask = ix->cap - 1, i, j;
  if (!ix->cap)
    return;
  for (i = home(ka, flow, ix->cap);; i = (i + 1) & mask) {
    if (!ix->slots[i])
      return;
    if (flow_at(ka, ix->slots[i]) == flow)
      break;
  }
  for (j = (i + 1) & mask; ix->slots[j]; j = (j + 1) & mask) {
    uint32_t h = home(ka, flow_at(ka, ix->slots[j]), ix->cap);
    /* Move j into the hole at i unless its home lies in (i, j]. */
    if (((j - h) & mask) >= ((j - i) & mask)) {
      ix->slots[i] = ix->slots[j];
      i = j;
    }
  }
  ix->slots[i] = 0;
  ix->len--;
}
