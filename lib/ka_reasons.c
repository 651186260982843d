/*
 * Why endpoints are kept alive: registrations, subscriptions, dialogs and
 * others, each with an id and a lifetime, tentative until confirmed. The
 * first reason lives inside the endpoint; further ones in nodes found by a
 * map, expired by a heap and listed per endpoint.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <string.h>

#include "keepalive_int.h"

/* Lifetimes are capped well inside the wheel's top level. */
#define MAX_LIFETIME (8ull * 365 * 24 * 3600 * SIPFLOW_SECONDS)

/* A reason found on an endpoint: inline (node NONE) or a node. */
typedef struct ref {
  uint32_t node;
  int found;
} ref;

void sipflow__ka_count_reason(sipflow_keepalive *ka, int kind, int tentative,
                              int delta) {
  uint64_t *c[] = {NULL, &ka->counters.registrations,
                   &ka->counters.subscriptions, &ka->counters.dialogs,
                   &ka->counters.others};
  *c[kind] += (uint64_t)(int64_t)delta;
  if (tentative)
    ka->counters.tentative += (uint64_t)(int64_t)delta;
}

static sipflow_tstamp expiry_at(sipflow_tstamp now, sipflow_duration life) {
  if (life > MAX_LIFETIME)
    life = MAX_LIFETIME;
  return now > SIPFLOW_TSTAMP_NONE - 1 - life ? SIPFLOW_TSTAMP_NONE - 1
                                              : now + life;
}

static uint64_t key_hash(const sipflow_keepalive *ka, sipflow_flow_id flow,
                         int kind, uint64_t id) {
  uint8_t key[17];
  memcpy(key, &flow, 8);
  memcpy(key + 8, &id, 8);
  key[16] = (uint8_t)kind;
  return sipflow__hash(ka->ctx, key, sizeof(key));
}

/* A node's own index, from its neighbour's link or the endpoint's head:
 * nodes need not store it. */
static uint32_t node_index(const sipflow_keepalive *ka,
                           const sipflow__ka_reason *n) {
  if (n->prev != SIPFLOW__KA_NONE)
    return sipflow__ka_reason_at(ka, n->prev)->next;
  return sipflow__ka_ep_at(ka, n->ep)->extras;
}

static ref find(const sipflow_keepalive *ka, uint32_t idx, int kind,
                uint64_t id) {
  const sipflow__ka_ep *e = sipflow__ka_ep_at(ka, idx);
  ref r = {SIPFLOW__KA_NONE, 0};
  if (SIPFLOW__KA_R0_KIND(e) == (unsigned)kind && e->r0_id == id) {
    r.found = 1;
    return r;
  }
  if (e->extras == SIPFLOW__KA_NONE)
    return r;
  SIPFLOW__MAP_FOREACH(&ka->reason_map, key_hash(ka, e->flow_id, kind, id),
                       it) {
    sipflow__ka_reason *n = sipflow__container_of(it, sipflow__ka_reason, link);
    if (n->ep == idx && n->kind == kind && n->id == id) {
      r.node = node_index(ka, n);
      r.found = 1;
      return r;
    }
  }
  return r;
}

static int is_tentative(const sipflow_keepalive *ka, const sipflow__ka_ep *e,
                        ref r) {
  if (r.node == SIPFLOW__KA_NONE)
    return (e->flags & SIPFLOW__KA_F_R0_TENTATIVE) != 0;
  return sipflow__ka_reason_at(ka, r.node)->tentative;
}

static int has_reasons(const sipflow__ka_ep *e) {
  return SIPFLOW__KA_R0_KIND(e) != 0 || e->extras != SIPFLOW__KA_NONE;
}

uint32_t sipflow__ka_reason_count(const sipflow_keepalive *ka,
                                  const sipflow__ka_ep *e) {
  uint32_t n = SIPFLOW__KA_R0_KIND(e) != 0;
  for (uint32_t i = e->extras; i != SIPFLOW__KA_NONE;
       i = sipflow__ka_reason_at(ka, i)->next)
    n++;
  return n;
}

/* ---- adding, changing, dropping --------------------------------------------
 */

static int add_extra(sipflow_keepalive *ka, uint32_t idx, int kind, uint64_t id,
                     sipflow_tstamp expiry, int tentative) {
  sipflow__ka_ep *e = sipflow__ka_ep_at(ka, idx);
  sipflow__ka_reason *n;
  uint32_t ni;
  int rv = sipflow__pq_reserve(&ka->reason_pq, 1);
  if (rv != 0)
    return rv == SIPFLOW_ERR_LIMIT ? rv : SIPFLOW_ERR_NOMEM;
  rv = sipflow__ka_slab_alloc(&ka->reasons, ka->mem, &ni);
  if (rv != 0)
    return rv;
  n = sipflow__ka_reason_at(ka, ni);
  if (sipflow__map_insert(&ka->reason_map, &n->link,
                          key_hash(ka, e->flow_id, kind, id)) != 0) {
    sipflow__ka_slab_release(&ka->reasons, ni);
    return SIPFLOW_ERR_NOMEM;
  }
  sipflow__pq_entry_init(&n->timer);
  sipflow__pq_set(&ka->reason_pq, &n->timer, expiry); /* reserved */
  n->id = id;
  n->ep = idx;
  n->kind = (uint8_t)kind;
  n->tentative = (uint8_t)tentative;
  n->prev = SIPFLOW__KA_NONE;
  n->next = e->extras;
  if (e->extras != SIPFLOW__KA_NONE)
    sipflow__ka_reason_at(ka, e->extras)->prev = ni;
  e->extras = ni;
  return 0;
}

static int add_reason(sipflow_keepalive *ka, uint32_t idx, int kind,
                      uint64_t id, sipflow_tstamp expiry, int tentative) {
  sipflow__ka_ep *e = sipflow__ka_ep_at(ka, idx);
  if (SIPFLOW__KA_R0_KIND(e) == 0) {
    e->tk = (uint8_t)((e->tk & 7u) | (unsigned)kind << 3);
    e->r0_id = id;
    e->r0_expiry = expiry;
    if (tentative)
      e->flags |= SIPFLOW__KA_F_R0_TENTATIVE;
    else
      e->flags &= (uint8_t)~SIPFLOW__KA_F_R0_TENTATIVE;
    sipflow__ka_schedule(ka, idx);
  } else {
    int rv = add_extra(ka, idx, kind, id, expiry, tentative);
    if (rv != 0)
      return rv;
  }
  sipflow__ka_count_reason(ka, kind, tentative, 1);
  return 0;
}

static void set_reason(sipflow_keepalive *ka, uint32_t idx, ref r,
                       sipflow_tstamp expiry, int tentative) {
  sipflow__ka_ep *e = sipflow__ka_ep_at(ka, idx);
  int was = is_tentative(ka, e, r);
  if (r.node == SIPFLOW__KA_NONE) {
    e->r0_expiry = expiry;
    if (tentative)
      e->flags |= SIPFLOW__KA_F_R0_TENTATIVE;
    else
      e->flags &= (uint8_t)~SIPFLOW__KA_F_R0_TENTATIVE;
    sipflow__ka_schedule(ka, idx);
  } else {
    sipflow__ka_reason *n = sipflow__ka_reason_at(ka, r.node);
    n->tentative = (uint8_t)tentative;
    sipflow__pq_set(&ka->reason_pq, &n->timer, expiry); /* queued: no NOMEM */
  }
  if (was && !tentative)
    ka->counters.tentative--;
  else if (!was && tentative)
    ka->counters.tentative++;
}

static void drop_extra(sipflow_keepalive *ka, sipflow__ka_ep *e, uint32_t ni) {
  sipflow__ka_reason *n = sipflow__ka_reason_at(ka, ni);
  sipflow__ka_count_reason(ka, n->kind, n->tentative, -1);
  if (n->prev != SIPFLOW__KA_NONE)
    sipflow__ka_reason_at(ka, n->prev)->next = n->next;
  else
    e->extras = n->next;
  if (n->next != SIPFLOW__KA_NONE)
    sipflow__ka_reason_at(ka, n->next)->prev = n->prev;
  sipflow__map_remove(&ka->reason_map, &n->link);
  sipflow__pq_remove(&ka->reason_pq, &n->timer);
  n->kind = 0;
  sipflow__ka_slab_release(&ka->reasons, ni);
}

static void drop_inline(sipflow_keepalive *ka, uint32_t idx) {
  sipflow__ka_ep *e = sipflow__ka_ep_at(ka, idx);
  sipflow__ka_count_reason(ka, (int)SIPFLOW__KA_R0_KIND(e),
                           (e->flags & SIPFLOW__KA_F_R0_TENTATIVE) != 0, -1);
  e->tk &= 7u;
  e->flags &= (uint8_t)~SIPFLOW__KA_F_R0_TENTATIVE;
  e->r0_expiry = SIPFLOW_TSTAMP_NONE;
  e->r0_id = 0;
  sipflow__ka_schedule(ka, idx);
}

/* Drop one reason; the endpoint goes with its last one. */
static void drop(sipflow_keepalive *ka, uint32_t idx, ref r, int why) {
  sipflow__ka_ep *e = sipflow__ka_ep_at(ka, idx);
  if (r.node == SIPFLOW__KA_NONE)
    drop_inline(ka, idx);
  else
    drop_extra(ka, e, r.node);
  if (!has_reasons(e))
    sipflow__ka_ep_remove(ka, idx, why);
}

void sipflow__ka_reasons_drop_all(sipflow_keepalive *ka, sipflow__ka_ep *e) {
  while (e->extras != SIPFLOW__KA_NONE)
    drop_extra(ka, e, e->extras);
  if (SIPFLOW__KA_R0_KIND(e) != 0) {
    sipflow__ka_count_reason(ka, (int)SIPFLOW__KA_R0_KIND(e),
                             (e->flags & SIPFLOW__KA_F_R0_TENTATIVE) != 0, -1);
    e->tk &= 7u;
    e->r0_expiry = SIPFLOW_TSTAMP_NONE;
  }
}

void sipflow__ka_reasons_expire(sipflow_keepalive *ka, sipflow_tstamp now) {
  sipflow__pq_entry *top;
  while ((top = sipflow__pq_top(&ka->reason_pq)) && top->deadline <= now) {
    sipflow__ka_reason *n =
        sipflow__container_of(top, sipflow__ka_reason, timer);
    ref r = {node_index(ka, n), 1};
    ka->counters.expired++;
    drop(ka, n->ep, r, SIPFLOW_KEEPALIVE_REMOVED_EXPIRED);
  }
}

void sipflow__ka_inline_expired(sipflow_keepalive *ka, uint32_t idx) {
  ref r = {SIPFLOW__KA_NONE, 1};
  ka->counters.expired++;
  drop(ka, idx, r, SIPFLOW_KEEPALIVE_REMOVED_EXPIRED);
}

/* ---- the public operations ----------------------------------------------- */

static void start_probing(sipflow_keepalive *ka, uint32_t idx,
                          sipflow_tstamp now) {
  sipflow__ka_ep *e = sipflow__ka_ep_at(ka, idx);
  if (e->flags & SIPFLOW__KA_F_PROBING)
    return;
  e->flags |= SIPFLOW__KA_F_PROBING;
  ka->probing++;
  sipflow__ka_start(ka, e, now);
  sipflow__ka_schedule(ka, idx);
}

/* Apply a new description to an existing endpoint. */
static void update(sipflow_keepalive *ka, uint32_t idx,
                   const sipflow_keepalive_endpoint *ep, uint8_t method,
                   uint16_t interval, sipflow_tstamp now) {
  sipflow__ka_ep *e = sipflow__ka_ep_at(ka, idx);
  e->user_data = ep->user_data;
  e->interval = interval;
  if (SIPFLOW__KA_METHOD(e) == method)
    return;
  /* A new method abandons the probe in flight and restarts the schedule
   * and the probe counts, which mean something else for each method. */
  e->mh = (uint8_t)((e->mh & ~7u) | method);
  e->flags &= (uint8_t) ~(SIPFLOW__KA_F_IN_FLIGHT | SIPFLOW__KA_F_MAPPED);
  e->attempt = 0;
  e->n_sent = e->n_answered = 0;
  e->misses = 0;
  if (SIPFLOW__KA_TRANSPORT(e) == SIPFLOW_TRANSPORT_UDP)
    e->gen_or_mapped = 0;
  if (e->loc == SIPFLOW__KA_LOC_FIFO)
    sipflow__ka_unlink(ka, idx);
  if (e->flags & SIPFLOW__KA_F_PROBING) {
    sipflow__ka_start(ka, e, now);
    sipflow__ka_schedule(ka, idx);
  }
}

static int valid_kind(int kind) {
  return kind >= SIPFLOW_KEEPALIVE_REGISTRATION &&
         kind <= SIPFLOW_KEEPALIVE_OTHER;
}

/* The endpoint's own Request-URI as described, copied; *copy NULL for
 * none. */
static int ruri_copy(sipflow_keepalive *ka,
                     const sipflow_keepalive_endpoint *ep, char **copy) {
  int rv = sipflow__ka_ruri_check(ep->request_uri);
  *copy = NULL;
  if (rv != 0 || ep->request_uri.len == 0)
    return rv;
  *copy = sipflow__strndup(ka->mem, ep->request_uri.ptr, ep->request_uri.len);
  return *copy ? 0 : SIPFLOW_ERR_NOMEM;
}

static int reason_put(sipflow_keepalive *ka,
                      const sipflow_keepalive_endpoint *ep, int kind,
                      uint64_t id, sipflow_duration lifetime, int tentative,
                      sipflow_tstamp now, char **ruri) {
  uint8_t method;
  uint16_t interval;
  uint32_t idx;
  sipflow__ka_ep *e;
  ref r = {SIPFLOW__KA_NONE, 0};
  int rv, created = 0;
  rv = sipflow__ka_check_endpoint(ka, ep, &method, &interval);
  if (rv != 0)
    return rv;
  e = sipflow__ka_lookup(ka, ep->flow_id, &idx);
  if (e) {
    if (!sipflow__ka_tuple_matches(ka, e, &ep->tuple))
      return SIPFLOW_ERR_INVALID_ARGUMENT;
    r = find(ka, idx, kind, id);
    /* Room for the Request-URI first: nothing changes on failure. */
    if (*ruri && sipflow__ka_ruri_reserve(ka, idx) != 0)
      return SIPFLOW_ERR_NOMEM;
  }
  if (!tentative && lifetime == 0) { /* setting 0 ends the reason */
    if (!r.found)
      return SIPFLOW_ERR_NOT_FOUND;
    update(ka, idx, ep, method, interval, now);
    sipflow__ka_ruri_set(ka, idx, *ruri, ep->request_uri.len);
    *ruri = NULL;
    drop(ka, idx, r, SIPFLOW_KEEPALIVE_REMOVED_ENDED);
    return 0;
  }
  if (tentative && lifetime == 0)
    lifetime = ka->s.tentative_timeout;
  if (!e) {
    rv = sipflow__ka_ep_create(ka, ep, method, interval, &idx);
    if (rv != 0)
      return rv;
    created = 1;
    if (*ruri && sipflow__ka_ruri_reserve(ka, idx) != 0) {
      sipflow__ka_ep_remove(ka, idx, 0);
      return SIPFLOW_ERR_NOMEM;
    }
  }
  if (!r.found) {
    rv = add_reason(ka, idx, kind, id, expiry_at(now, lifetime), tentative);
    if (rv != 0) {
      if (created) /* no reason: the endpoint must not stay */
        sipflow__ka_ep_remove(ka, idx, 0);
      return rv;
    }
  } else if (!tentative || is_tentative(ka, sipflow__ka_ep_at(ka, idx), r)) {
    /* A confirmed reason is left alone by a tentative open. */
    set_reason(ka, idx, r, expiry_at(now, lifetime), tentative);
  }
  if (!created)
    update(ka, idx, ep, method, interval, now);
  sipflow__ka_ruri_set(ka, idx, *ruri, ep->request_uri.len);
  *ruri = NULL;
  if (!tentative)
    start_probing(ka, idx, now);
  return 0;
}

int sipflow__ka_reason_put(sipflow_keepalive *ka,
                           const sipflow_keepalive_endpoint *ep, int kind,
                           uint64_t id, sipflow_duration lifetime,
                           int tentative, sipflow_tstamp now) {
  char *ruri;
  int rv;
  if (!valid_kind(kind) || !ep)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  rv = ruri_copy(ka, ep, &ruri);
  if (rv != 0)
    return rv;
  rv = reason_put(ka, ep, kind, id, lifetime, tentative, now, &ruri);
  if (ruri)
    sipflow__free(ka->mem, ruri);
  return rv;
}

int sipflow_keepalive_reason_confirm(sipflow_keepalive *ka,
                                     sipflow_flow_id flow, int kind,
                                     uint64_t reason_id, unsigned status,
                                     sipflow_duration granted,
                                     sipflow_tstamp now) {
  uint32_t idx;
  ref r;
  if (!ka || !valid_kind(kind) || status < 100 || status > 699)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (sipflow__ctx_update_time(ka->ctx, now) != 0)
    return SIPFLOW_ERR_TIME_BACKWARDS;
  if (!sipflow__ka_lookup(ka, flow, &idx))
    return SIPFLOW_ERR_NOT_FOUND;
  r = find(ka, idx, kind, reason_id);
  if (!r.found)
    return SIPFLOW_ERR_NOT_FOUND;
  if (status < 200)
    return 0;
  if (status < 300) {
    if (granted == 0) {
      drop(ka, idx, r, SIPFLOW_KEEPALIVE_REMOVED_ENDED);
      return 0;
    }
    set_reason(ka, idx, r, expiry_at(now, granted), 0);
    start_probing(ka, idx, now);
    return 0;
  }
  if (is_tentative(ka, sipflow__ka_ep_at(ka, idx), r))
    drop(ka, idx, r, SIPFLOW_KEEPALIVE_REMOVED_REJECTED);
  return 0;
}

int sipflow_keepalive_reason_end(sipflow_keepalive *ka, sipflow_flow_id flow,
                                 int kind, uint64_t reason_id,
                                 sipflow_tstamp now) {
  uint32_t idx;
  ref r;
  if (!ka || !valid_kind(kind))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (sipflow__ctx_update_time(ka->ctx, now) != 0)
    return SIPFLOW_ERR_TIME_BACKWARDS;
  if (!sipflow__ka_lookup(ka, flow, &idx))
    return SIPFLOW_ERR_NOT_FOUND;
  r = find(ka, idx, kind, reason_id);
  if (!r.found)
    return SIPFLOW_ERR_NOT_FOUND;
  drop(ka, idx, r, SIPFLOW_KEEPALIVE_REMOVED_ENDED);
  return 0;
}

static uint64_t to_unix(sipflow_tstamp expiry, uint64_t unix_seconds,
                        sipflow_tstamp now) {
  if (expiry <= now)
    return unix_seconds;
  return unix_seconds + (expiry - now + SIPFLOW_SECONDS - 1) / SIPFLOW_SECONDS;
}

static size_t put_saved(sipflow_keepalive_saved_reason *out, size_t n,
                        size_t cap, int kind, uint64_t id, uint64_t expires) {
  if (n < cap) {
    out[n].kind = (uint8_t)kind;
    out[n].id = id;
    out[n].expires_unix = expires;
  }
  return n + 1;
}

size_t sipflow__ka_reasons_list(const sipflow_keepalive *ka, uint32_t idx,
                                sipflow_keepalive_saved_reason *out, size_t cap,
                                uint64_t unix_seconds, sipflow_tstamp now) {
  const sipflow__ka_ep *e = sipflow__ka_ep_at(ka, idx);
  size_t n = 0;
  if (SIPFLOW__KA_R0_KIND(e) && !(e->flags & SIPFLOW__KA_F_R0_TENTATIVE))
    n = put_saved(out, n, cap, (int)SIPFLOW__KA_R0_KIND(e), e->r0_id,
                  to_unix(e->r0_expiry, unix_seconds, now));
  for (uint32_t i = e->extras; i != SIPFLOW__KA_NONE;) {
    const sipflow__ka_reason *r = sipflow__ka_reason_at(ka, i);
    if (!r->tentative)
      n = put_saved(out, n, cap, r->kind, r->id,
                    to_unix(r->timer.deadline, unix_seconds, now));
    i = r->next;
  }
  return n;
}
