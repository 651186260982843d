/*
 * AoR records: finding one by its canonical AoR, making one, giving it a
 * larger binding array, and dropping it with its last binding.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <string.h>

#include "registrar_int.h"

sipflow__reg_aor *sipflow__reg_aor_find(const sipflow_registrar *reg,
                                        const char *key, size_t len,
                                        uint64_t hash) {
  size_t pos = sipflow__reg_index_home(&reg->aors, hash);
  sipflow__reg_slot *s;
  while ((s = sipflow__reg_index_next(&reg->aors, hash, &pos))) {
    sipflow__reg_aor *aor = s->obj;
    if (aor->len == len && memcmp(sipflow__reg_aor_key(aor), key, len) == 0)
      return aor;
  }
  return NULL;
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

void sipflow__reg_aor_prefetch(const sipflow__reg_aor *aor) {
#if defined(__GNUC__) || defined(__clang__)
  /* The fixed part (match, view, expiry) and the first strings (URI,
   * instance, Call-ID): the lines the common operations read. */
  for (uint32_t k = 0; k < aor->n; k++) {
    const char *p = (const char *)aor->b[k];
    for (size_t off = 0; off < sizeof(sipflow__reg_binding) + 128; off += 64)
      __builtin_prefetch(p + off);
  }
#else
  (void)aor;
#endif
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
  return 0;
}
