/*
 * The registrar store's invariants, checked by the unit tests and by the
 * fuzz target after every step. Walks everything: for tests only. Not
 * instrumented for coverage: the oracle's branches tell a fuzzer nothing
 * about the code under test, and tracing them was most of an execution.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <string.h>

#include "registrar_int.h"

/* Outbound keys are unique per AoR. URI equality is not transitive, so for
 * plain bindings only the same text twice is a broken store. */
SIPFLOW__NO_COVERAGE static bool same_key(const sipflow__reg_binding *a,
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

/* Whether |b| is on its flow's list, found from the flow index. */
SIPFLOW__NO_COVERAGE static bool in_flow_index(const sipflow_registrar *reg,
                                               const sipflow__reg_binding *b) {
  uint64_t h = sipflow__reg_hash_flow(reg, b->flow_id);
  size_t pos = sipflow__reg_index_home(&reg->flows, h);
  sipflow__reg_slot *s;
  while ((s = sipflow__reg_index_next(&reg->flows, h, &pos))) {
    const sipflow__reg_binding *o = s->obj;
    if (o->flow_id != b->flow_id)
      continue;
    for (; o; o = o->flow_next)
      if (o == b)
        return true;
    return false;
  }
  return false;
}

/* Every entry of |idx| found by a probe from its home: no free slot
 * between (linear probing after backward-shift removals). */
SIPFLOW__NO_COVERAGE static bool reachable(const sipflow__reg_index *idx) {
  size_t used = 0;
  for (size_t i = 0; idx->slots && i <= idx->mask; i++) {
    const sipflow__reg_slot *s = sipflow__reg_index_at(idx, i);
    size_t home;
    if (!s->obj)
      continue;
    used++;
    home = sipflow__reg_index_home(idx, s->hash);
    for (size_t k = home; k != i; k = (k + 1) & idx->mask)
      if (!sipflow__reg_index_at(idx, k)->obj)
        return false;
  }
  return used == idx->len && (!idx->slots || used <= idx->mask);
}

SIPFLOW__NO_COVERAGE static int check_binding(const sipflow_registrar *reg,
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
  for (uint32_t k = 0; k < aor->n; k++)
    if (aor->b[k] != b && same_key(b, aor->b[k]))
      return -9;
  if ((b->inst_len == 0) != (b->inst_group == 0))
    return -21;
  for (uint32_t k = 0; k < aor->n; k++) {
    const sipflow__reg_binding *o = aor->b[k];
    if (o != b && b->inst_len && o->inst_len &&
        (b->inst_group == o->inst_group) !=
            sipflow__reg_instance_equal(sipflow__reg_b_inst(b), b->inst_len,
                                        sipflow__reg_b_inst(o), o->inst_len))
      return -21; /* instance groups stand for instance equality */
  }
  if (!sipflow__reg_uri_valid(sipflow__reg_b_uri(b), b->uri_len))
    return -10;
  return 0;
}

SIPFLOW__NO_COVERAGE static int check_aor(const sipflow_registrar *reg,
                                          const sipflow__reg_aor *aor,
                                          uint64_t hash, size_t *bindings,
                                          size_t *with_flow) {
  uint32_t n = 0;
  int rv;
  if (aor->n == 0 || aor->n > aor->cap)
    return -1;
  if (hash != sipflow__reg_hash_aor(reg, sipflow__reg_aor_key(aor), aor->len))
    return -2;
  for (uint32_t k = 0; k < aor->n; k++) {
    const sipflow__reg_binding *b = aor->b[k];
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

/* Each flow's slot holds its newest binding, with the older ones behind
 * it, all linked and on that flow. */
SIPFLOW__NO_COVERAGE static int check_flows(const sipflow_registrar *reg,
                                            size_t with_flow) {
  size_t listed = 0;
  if (!reachable(&reg->flows))
    return -19;
  for (size_t i = 0; reg->flows.slots && i <= reg->flows.mask; i++) {
    const sipflow__reg_slot *s = sipflow__reg_index_at(&reg->flows, i);
    const sipflow__reg_binding *b = s->obj;
    sipflow_flow_id id = b ? b->flow_id : 0;
    if (b && (id == 0 || s->hash != sipflow__reg_hash_flow(reg, id)))
      return -19;
    if (b && b->flow_prev)
      return -18; /* the index names the newest */
    for (; b; b = b->flow_next, listed++)
      if ((b->flags & SIPFLOW__REG_F_UNLINKED) || b->flow_id != id ||
          (b->flow_next && b->flow_next->flow_prev != b) ||
          listed >= reg->n_bindings) /* the last: a list in a loop */
        return -18;
  }
  return listed == with_flow ? 0 : -15;
}

SIPFLOW__NO_COVERAGE int
sipflow__registrar_check(const sipflow_registrar *reg) {
  size_t bindings = 0, with_flow = 0, aors = 0;
  int rv;
  if (!reachable(&reg->aors))
    return -16;
  for (size_t i = 0; reg->aors.slots && i <= reg->aors.mask; i++) {
    const sipflow__reg_slot *s = sipflow__reg_index_at(&reg->aors, i);
    const sipflow__reg_aor *aor = s->obj;
    if (!aor)
      continue;
    aors++;
    rv = check_aor(reg, aor, s->hash, &bindings, &with_flow);
    if (rv != 0)
      return rv;
  }
  if (bindings != reg->n_bindings)
    return -13;
  if (reg->expiry.len != bindings)
    return -14;
  if (reg->aors.len != aors)
    return -16;
  for (uint32_t i = 1; i < reg->expiry.len; i++)
    if (reg->expiry.items[(i - 1) / 2]->deadline >
        reg->expiry.items[i]->deadline)
      return -17;
  if (reg->in_callback)
    return -20;
  return check_flows(reg, with_flow);
}
