/*
 * AoR records: finding one by its canonical AoR, making one, giving it a
 * larger binding array, and dropping it with its last binding.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <stddef.h>
#include <string.h>

#include "registrar_int.h"

/* How much of a binding a lookup reads: the first line and the tuple. */
#define LOOKUP_BYTES                                                           \
  (offsetof(sipflow__reg_binding, tuple) + sizeof(sipflow_flow_tuple))
/* How much a REGISTER reads: the fixed part and the first strings (URI,
 * instance, Call-ID) it matches and compares. */
#define REGISTER_BYTES (sizeof(sipflow__reg_binding) + 128)

/* Start loading the first |bytes| of binding |p|. |p| may be stale or
 * NULL: a prefetch never faults.
 *
 * Always inlined: GCC 12 finds a function of prefetches alone free of
 * effects and drops every call to it. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((always_inline))
#endif
static inline void
prefetch_binding(const void *p, size_t bytes) {
#if defined(__GNUC__) || defined(__clang__)
  if (!p)
    return;
  for (size_t off = 0; off < bytes; off += 64)
    __builtin_prefetch((const char *)p + off);
  __builtin_prefetch((const char *)p + bytes - 1); /* p is not line-aligned */
#else
  (void)p;
  (void)bytes;
#endif
}

/* Start loading the record |s| names and, from the hints, the first |bytes|
 * of its first bindings (what the find is for reads): they then arrive
 * beside the record, not after it, one memory latency instead of two. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((always_inline))
#endif
static inline void
preload(const sipflow__reg_slot *s, size_t bytes) {
#if defined(__GNUC__) || defined(__clang__)
  /* First, as the key compare waits for it: a record is 8 bytes, one
   * pointer per binding it has room for (2 at first) and the AoR, 48 bytes
   * for a 24-byte AoR, on two lines as often as not. */
  __builtin_prefetch(s->obj);
  __builtin_prefetch((const char *)s->obj + 63);
#endif
  prefetch_binding(s->hint[0], bytes);
  prefetch_binding(s->hint[1], bytes);
}

void sipflow__reg_aor_preload(const sipflow_registrar *reg, uint64_t hash) {
  size_t pos = sipflow__reg_index_home(&reg->aors, hash);
  const sipflow__reg_slot *s;
  while ((s = sipflow__reg_index_next(&reg->aors, hash, &pos)))
    preload(s, LOOKUP_BYTES);
}

sipflow__reg_aor *sipflow__reg_aor_find(const sipflow_registrar *reg,
                                        const char *key, size_t len,
                                        uint64_t hash,
                                        sipflow__reg_find_for why) {
  size_t pos = sipflow__reg_index_home(&reg->aors, hash);
  bool deep = why == SIPFLOW__REG_FIND_REGISTER;
  size_t bytes = deep ? REGISTER_BYTES : LOOKUP_BYTES;
  sipflow__reg_slot *s;
  while ((s = sipflow__reg_index_next(&reg->aors, hash, &pos))) {
    sipflow__reg_aor *aor = s->obj;
    if (why != SIPFLOW__REG_FIND_PRELOADED)
      preload(s, bytes);
    if (aor->len != len || memcmp(sipflow__reg_aor_key(aor), key, len) != 0)
      continue;
    for (uint32_t k = 0; k < aor->n; k++) {
      if (k < SIPFLOW__REG_HINTS && s->hint[k] != aor->b[k])
        s->hint[k] = aor->b[k]; /* stale since a removal: mended */
      else if (k < SIPFLOW__REG_HINTS)
        continue; /* preloaded from the hint, as deep as |why| needs */
      prefetch_binding(aor->b[k], bytes);
    }
    for (uint32_t k = aor->n; k < SIPFLOW__REG_HINTS; k++)
      if (s->hint[k])
        s->hint[k] = NULL;
    return aor;
  }
  return NULL;
}

void sipflow__reg_aor_hint(const sipflow_registrar *reg,
                           const sipflow__reg_aor *aor, uint64_t hash) {
  size_t pos = sipflow__reg_index_home(&reg->aors, hash);
  sipflow__reg_slot *s;
  while ((s = sipflow__reg_index_next(&reg->aors, hash, &pos)))
    if (s->obj == aor) {
      for (uint32_t k = 0; k < SIPFLOW__REG_HINTS; k++)
        s->hint[k] = k < aor->n ? aor->b[k] : NULL;
      return;
    }
}

sipflow__reg_aor *sipflow__reg_aor_alloc(sipflow_registrar *reg,
                                         const char *key, size_t len,
                                         uint32_t cap) {
  sipflow__reg_aor *aor;
  if (cap < SIPFLOW__REG_AOR_MIN_CAP)
    cap = SIPFLOW__REG_AOR_MIN_CAP;
  aor = sipflow__malloc(&reg->ctx->mem,
                        sizeof(*aor) + cap * sizeof(aor->b[0]) + len);
  if (!aor)
    return NULL;
  memset(aor, 0, sizeof(*aor));
  /* cap <= 2 * (max_contacts + max_contacts_per_request) <= 4096 and
   * len <= max_aor_len <= 65535: both fit. */
  aor->cap = (uint16_t)cap;
  aor->len = (uint16_t)len;
  memcpy(aor->b + cap, key, len);
  return aor;
}

void sipflow__reg_aor_swap(sipflow_registrar *reg, sipflow__reg_aor *aor,
                           sipflow__reg_aor *grown, uint64_t hash) {
  size_t pos = sipflow__reg_index_home(&reg->aors, hash);
  sipflow__reg_slot *s;
  grown->n = aor->n;
  memcpy(grown->b, aor->b, aor->n * sizeof(aor->b[0]));
  for (uint32_t k = 0; k < aor->n; k++)
    aor->b[k]->aor = grown;
  while ((s = sipflow__reg_index_next(&reg->aors, hash, &pos)))
    if (s->obj == aor) {
      s->obj = grown; /* same key, same slot */
      break;
    }
  sipflow__free(&reg->ctx->mem, aor);
}

void sipflow__reg_aor_gc(sipflow_registrar *reg, sipflow__reg_aor *aor) {
  if (aor->n != 0)
    return;
  /* The hash is not kept in the record (8 bytes per AoR): an AoR goes
   * away far less often than it is looked up. */
  sipflow__reg_index_remove(
      &reg->aors,
      sipflow__reg_hash_aor(reg, sipflow__reg_aor_key(aor), aor->len), aor);
  sipflow__free(&reg->ctx->mem, aor);
}

int sipflow__reg_add(sipflow_registrar *reg, sipflow__reg_aor *aor,
                     const char *key, size_t key_len, uint64_t hash,
                     sipflow__reg_binding *fresh, sipflow_tstamp expires_at) {
  sipflow__reg_aor *room = NULL;
  if (sipflow__pq_reserve(&reg->expiry, 1) != 0 ||
      sipflow__reg_index_reserve(&reg->flows, 1) != 0 ||
      (!aor && sipflow__reg_index_reserve(&reg->aors, 1) != 0))
    return SIPFLOW_ERR_NOMEM;
  if (!aor || aor->n == aor->cap) {
    room = sipflow__reg_aor_alloc(reg, key, key_len, aor ? 2u * aor->cap : 0);
    if (!room)
      return SIPFLOW_ERR_NOMEM;
  }
  if (room && aor) {
    sipflow__reg_aor_swap(reg, aor, room, hash);
    aor = room;
  } else if (room) {
    (void)sipflow__reg_index_insert(&reg->aors, hash, room); /* reserved */
    aor = room;
  }
  fresh->id = ++reg->next_id;
  sipflow__reg_link(reg, aor, fresh, expires_at);
  sipflow__reg_aor_hint(reg, aor, hash);
  return 0;
}
