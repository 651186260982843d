/*
 * The flow index and the flow reports: a flow failure invalidates every
 * binding on that flow whatever its AoR (RFC 5626 §7), in time
 * proportional to the bindings on that flow.
 *
 * reg->flows holds each flow's newest binding; the older ones follow
 * through flow_next (and back through flow_prev). One slot per flow keeps
 * probes short even when one flow (an edge proxy's connection) carries
 * thousands of bindings.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include "registrar_int.h"

uint64_t sipflow__reg_hash_flow(const sipflow_registrar *reg,
                                sipflow_flow_id id) {
  return sipflow__hash(reg->ctx, &id, sizeof(id));
}

/* The slot of flow |id| (hashed to |h|), or NULL if no binding is on it. */
static sipflow__reg_slot *flow_slot(const sipflow_registrar *reg,
                                    sipflow_flow_id id, uint64_t h) {
  size_t pos = sipflow__reg_index_home(&reg->flows, h);
  sipflow__reg_slot *s;
  while ((s = sipflow__reg_index_next(&reg->flows, h, &pos)))
    if (((const sipflow__reg_binding *)s->obj)->flow_id == id)
      return s;
  return NULL;
}

void sipflow__reg_flow_add(sipflow_registrar *reg, sipflow__reg_binding *b) {
  uint64_t h;
  sipflow__reg_slot *s;
  b->flow_next = b->flow_prev = NULL;
  b->health = SIPFLOW_HEALTH_UNKNOWN;
  if (!b->flow_id)
    return;
  h = sipflow__reg_hash_flow(reg, b->flow_id);
  if ((s = flow_slot(reg, b->flow_id, h))) {
    sipflow__reg_binding *newest = s->obj;
    b->health = newest->health; /* what was last reported for the flow */
    b->flow_next = newest;
    newest->flow_prev = b;
    s->obj = b;
    return;
  }
  /* The caller reserved the slot. */
  (void)sipflow__reg_index_insert(&reg->flows, h, b);
}

void sipflow__reg_flow_del(sipflow_registrar *reg, sipflow__reg_binding *b) {
  uint64_t h;
  sipflow__reg_slot *s;
  if (!b->flow_id)
    return;
  if (b->flow_next)
    b->flow_next->flow_prev = b->flow_prev;
  if (b->flow_prev) {
    b->flow_prev->flow_next = b->flow_next;
  } else { /* the newest: the index names it */
    h = sipflow__reg_hash_flow(reg, b->flow_id);
    if ((s = flow_slot(reg, b->flow_id, h)) && s->obj == b) {
      if (b->flow_next)
        s->obj = b->flow_next;
      else
        sipflow__reg_index_remove(&reg->flows, h, b);
    }
  }
  b->flow_next = b->flow_prev = NULL;
}

void sipflow__reg_set_flow(sipflow_registrar *reg, sipflow__reg_binding *b,
                           sipflow_flow_id flow_id) {
  if (b->flow_id == flow_id)
    return;
  sipflow__reg_flow_del(reg, b);
  b->flow_id = flow_id;
  sipflow__reg_flow_add(reg, b);
}

/* The newest binding on |flow_id|, or NULL. */
static sipflow__reg_binding *on_flow(const sipflow_registrar *reg,
                                     sipflow_flow_id flow_id) {
  sipflow__reg_slot *s =
      flow_slot(reg, flow_id, sipflow__reg_hash_flow(reg, flow_id));
  return s ? s->obj : NULL;
}

/* SIPFLOW_REG_DEAD_FLOW_SHORTEN: never tried again, gone in N seconds
 * unless a re-REGISTER over another flow revives it. */
static void shorten(sipflow_registrar *reg, sipflow__reg_binding *b,
                    sipflow_tstamp now) {
  sipflow_tstamp at =
      now + (sipflow_tstamp)reg->set.dead_flow_expires * SIPFLOW_SECONDS;
  if (at <= now) {
    sipflow__reg_remove(reg, b, SIPFLOW_REG_FLOW_FAILED);
    return;
  }
  b->health = SIPFLOW_HEALTH_DEAD;
  if (at < b->expires_at)
    sipflow__reg_set_expiry(reg, b, at);
  sipflow__reg_report(reg, SIPFLOW_REG_UPDATED, b);
}

size_t sipflow_registrar_flow_binding_count(const sipflow_registrar *reg,
                                            sipflow_flow_id flow_id) {
  size_t n = 0;
  if (!reg || !flow_id)
    return 0;
  for (const sipflow__reg_binding *b = on_flow(reg, flow_id); b;
       b = b->flow_next)
    n++;
  return n;
}

int sipflow_registrar_flow_failed(sipflow_registrar *reg,
                                  sipflow_flow_id flow_id, sipflow_tstamp now) {
  sipflow__reg_binding *b;
  int rv;
  if (!reg || flow_id == 0)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if ((rv = sipflow__reg_enter(reg, now)) != 0)
    return rv;
  if (!(b = on_flow(reg, flow_id)))
    return SIPFLOW_ERR_NOT_FOUND;
  while (b) {
    /* Step first: removing |b| takes it off the flow's list. */
    sipflow__reg_binding *next = b->flow_next;
    if (sipflow__reg_push_suspend(reg, b))
      ; /* RFC 8599 §5.6.2: kept, reached by push */
    else if (reg->set.dead_flow == SIPFLOW_REG_DEAD_FLOW_REMOVE)
      sipflow__reg_remove(reg, b, SIPFLOW_REG_FLOW_FAILED);
    else
      shorten(reg, b, now);
    b = next;
  }
  return 0;
}

int sipflow_registrar_binding_failed(sipflow_registrar *reg, sipflow_str aor,
                                     uint64_t binding_id, sipflow_tstamp now) {
  sipflow__reg_aor *a;
  size_t len;
  int rv;
  if (!reg || binding_id == 0)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if ((rv = sipflow__reg_enter(reg, now)) != 0)
    return rv;
  if (!aor.ptr || aor.len == 0 || aor.len > reg->set.max_aor_len ||
      sipflow__reg_aor_canon(aor.ptr, aor.len, reg->aor_buf, &len) != 0)
    return SIPFLOW_ERR_MALFORMED;
  a = sipflow__reg_aor_find(reg, reg->aor_buf, len,
                            sipflow__reg_hash_aor(reg, reg->aor_buf, len),
                            SIPFLOW__REG_FIND_REGISTER);
  if (!a)
    return SIPFLOW_ERR_NOT_FOUND;
  SIPFLOW__REG_FOREACH(a, b) {
    if (b->id != binding_id)
      continue;
    /* The loop ends here: removing |b| may free the record. */
    if (sipflow__reg_suspended(b) || sipflow__reg_push_suspend(reg, b))
      ; /* RFC 8599 §5.6.2: kept, reached by push */
    else if (reg->set.dead_flow == SIPFLOW_REG_DEAD_FLOW_REMOVE)
      sipflow__reg_remove(reg, b, SIPFLOW_REG_FLOW_FAILED);
    else
      shorten(reg, b, now);
    return 0;
  }
  return SIPFLOW_ERR_NOT_FOUND;
}

int sipflow_registrar_flow_health(sipflow_registrar *reg,
                                  sipflow_flow_id flow_id,
                                  sipflow_flow_health health,
                                  sipflow_tstamp now) {
  sipflow__reg_binding *b;
  int rv;
  if (!reg || flow_id == 0 || (unsigned)health > SIPFLOW_HEALTH_DEAD)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if ((rv = sipflow__reg_enter(reg, now)) != 0)
    return rv;
  if (!(b = on_flow(reg, flow_id)))
    return SIPFLOW_ERR_NOT_FOUND;
  for (; b; b = b->flow_next)
    b->health = (uint8_t)health;
  return 0;
}
