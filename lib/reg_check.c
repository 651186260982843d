/*
 * The registrar store's invariants, checked by the unit tests and by the
 * fuzz target after every step. Walks everything: for tests only.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <string.h>

#include "registrar_int.h"

/* Outbound keys are unique per AoR. URI equality is not transitive, so for
 * plain bindings only the same text twice is a broken store. */
static bool same_key(const sipflow__reg_binding *a,
                     const sipflow__reg_binding *b) {
  bool ob = (a->flags & SIPFLOW__REG_F_OUTBOUND) != 0;
  if (ob != ((b->flags & SIPFLOW__REG_F_OUTBOUND) != 0))
    return false;
  if (ob)
    return a->reg_id == b->reg_id &&
           sipflow__reg_instance_equal(sipflow__reg_b_inst(a), a->inst_len,
                                       sipflow__reg_b_inst(b), b->inst_len);
  return a->uri_len == b->uri_len &&
         memcmp(sipflow__reg_b_uri(a), sipflow__reg_b_uri(b), a->uri_len) == 0;
}

static bool in_flow_index(const sipflow_registrar *reg,
                          const sipflow__reg_binding *b) {
  uint64_t h = sipflow__reg_hash_flow(reg, b->flow_id);
  SIPFLOW__MAP_FOREACH(&reg->flows, h, e) {
    if (e == &b->flow_me)
      return true;
  }
  return false;
}

static int check_binding(const sipflow_registrar *reg,
                         const sipflow__reg_aor *aor,
                         const sipflow__reg_binding *b) {
  const uint8_t transient =
      SIPFLOW__REG_F_UNLINKED | SIPFLOW__REG_F_VICTIM | SIPFLOW__REG_F_TOUCHED;
  bool ob = (b->flags & SIPFLOW__REG_F_OUTBOUND) != 0;
  if (b->aor != aor)
    return -3;
  if (b->flags & transient)
    return -4;
  if (!sipflow__pq_queued(&b->pq) || reg->expiry.items[b->pq.index] != &b->pq)
    return -5;
  if (b->pq.deadline <= sipflow__ctx_now(reg->ctx) ||
      b->pq.deadline > b->expires_at)
    return -6; /* overdue entries are handled before anything else, and
                  the heap's deadline is a lower bound of the expiry */
  if (ob ? (b->reg_id == 0 || b->reg_id > 0x7fffffffu || b->inst_len == 0)
         : b->reg_id != 0)
    return -7;
  if (b->flow_id && !in_flow_index(reg, b))
    return -8;
  for (const sipflow__reg_binding *o = b->next; o; o = o->next)
    if (same_key(b, o))
      return -9;
  if (!sipflow__reg_uri_valid(sipflow__reg_b_uri(b), b->uri_len))
    return -10;
  return 0;
}

static int check_aor(const sipflow_registrar *reg, const sipflow__reg_aor *aor,
                     size_t *bindings, size_t *with_flow) {
  uint32_t n = 0;
  int rv;
  if (aor->n == 0 || !aor->bindings)
    return -1;
  if (aor->me.hash != sipflow__hash(reg->ctx, aor->key, aor->len))
    return -2;
  for (const sipflow__reg_binding *b = aor->bindings; b; b = b->next) {
    if ((rv = check_binding(reg, aor, b)) != 0)
      return rv;
    n++;
    *with_flow += b->flow_id != 0;
  }
  if (n != aor->n)
    return -11;
  if (n > reg->set.max_contacts)
    return -12;
  *bindings += n;
  return 0;
}

static int check_flows(const sipflow_registrar *reg) {
  for (size_t i = 0; i < reg->flows.nbuckets; i++)
    for (const sipflow__map_entry *e = reg->flows.buckets[i]; e; e = e->next) {
      const sipflow__reg_binding *b =
          sipflow__container_of(e, sipflow__reg_binding, flow_me);
      if (b->flags & SIPFLOW__REG_F_UNLINKED)
        return -18;
      if (b->flow_id == 0 || e->hash != sipflow__reg_hash_flow(reg, b->flow_id))
        return -19;
    }
  return 0;
}

int sipflow__registrar_check(const sipflow_registrar *reg) {
  size_t bindings = 0, with_flow = 0, aors = 0;
  int rv;
  for (size_t i = 0; i < reg->aors.nbuckets; i++)
    for (const sipflow__map_entry *e = reg->aors.buckets[i]; e; e = e->next) {
      aors++;
      rv = check_aor(reg, sipflow__container_of(e, sipflow__reg_aor, me),
                     &bindings, &with_flow);
      if (rv != 0)
        return rv;
    }
  if (bindings != reg->n_bindings)
    return -13;
  if (reg->expiry.len != bindings)
    return -14;
  if (reg->flows.len != with_flow)
    return -15;
  if (reg->aors.len != aors)
    return -16;
  for (uint32_t i = 1; i < reg->expiry.len; i++)
    if (reg->expiry.items[(i - 1) / 2]->deadline >
        reg->expiry.items[i]->deadline)
      return -17;
  if (reg->in_callback)
    return -20;
  return check_flows(reg);
}
