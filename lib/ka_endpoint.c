/*
 * Keepalive endpoints: checking what the host gives, storing the flow tuple
 * compactly, creating and removing endpoints.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <string.h>

#include "keepalive_int.h"

#define STEP (100 * SIPFLOW_MILLISECONDS)

static size_t addr_len(uint8_t family) {
  return family == SIPFLOW_AF_INET6 ? 16 : family == SIPFLOW_AF_INET ? 4 : 0;
}

static int method_allowed(uint8_t method, int transport) {
  int stream = sipflow_transport_is_stream(transport);
  switch (method) {
  case SIPFLOW_KEEPALIVE_CRLF:
    return stream; /* RFC 5626 §4.4.1 */
  case SIPFLOW_KEEPALIVE_STUN:
  case SIPFLOW_KEEPALIVE_UDP_PING:
    return transport == SIPFLOW_TRANSPORT_UDP; /* RFC 5626 §4.4.2 */
  case SIPFLOW_KEEPALIVE_WS_PING:              /* RFC 6455 §5.5.2 */
    return transport == SIPFLOW_TRANSPORT_WS ||
           transport == SIPFLOW_TRANSPORT_WSS;
  case SIPFLOW_KEEPALIVE_OPTIONS:
  case SIPFLOW_KEEPALIVE_PASSIVE:
    return 1;
  default:
    return 0;
  }
}

int sipflow__ka_check_endpoint(const sipflow_keepalive *ka,
                               const sipflow_keepalive_endpoint *ep,
                               uint8_t *method, uint16_t *interval) {
  const sipflow_flow_tuple *t;
  sipflow_duration iv;
  uint64_t steps;
  if (!ep || ep->flow_id == 0)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  t = &ep->tuple;
  if (!sipflow_transport_name(t->transport) || !addr_len(t->local.family) ||
      !addr_len(t->remote.family))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  *method = ep->method;
  /* A browser answers a WebSocket Ping by itself; CRLF inside a WebSocket
   * message needs the page's script (RFC 7118 says nothing of keepalives). */
  if (*method == SIPFLOW_KEEPALIVE_AUTO &&
      (t->transport == SIPFLOW_TRANSPORT_WS ||
       t->transport == SIPFLOW_TRANSPORT_WSS))
    *method = SIPFLOW_KEEPALIVE_WS_PING;
  else if (*method == SIPFLOW_KEEPALIVE_AUTO)
    *method = sipflow_transport_is_stream(t->transport)
                  ? SIPFLOW_KEEPALIVE_CRLF
                  : SIPFLOW_KEEPALIVE_STUN;
  if (!method_allowed(*method, t->transport))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  iv = ep->interval;
  if (iv == 0)
    iv = sipflow_transport_is_stream(t->transport) ? ka->s.stream_interval
                                                   : ka->s.udp_interval;
  steps = (iv + STEP / 2) / STEP;
  if (steps == 0 || steps > UINT16_MAX)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  *interval = (uint16_t)steps;
  return 0;
}

/* ---- interned local addresses -------------------------------------------- */

static uint64_t addr_hash(const sipflow_keepalive *ka, const sipflow_addr *a) {
  uint8_t key[19] = {0};
  key[0] = a->family;
  memcpy(key + 1, a->bytes, addr_len(a->family));
  key[17] = (uint8_t)(a->port >> 8);
  key[18] = (uint8_t)a->port;
  return sipflow__hash(ka->ctx, key, sizeof(key));
}

static int local_grow(sipflow_keepalive *ka) {
  sipflow__ka_locals *l = &ka->locals;
  uint32_t cap = l->cap ? l->cap * 2 : 8;
  sipflow__ka_local **by_idx;
  uint16_t *free_idx;
  if (cap > UINT16_MAX + 1u)
    cap = UINT16_MAX + 1u;
  by_idx = sipflow__realloc(ka->mem, l->by_idx, cap * sizeof(*by_idx));
  if (!by_idx)
    return SIPFLOW_ERR_NOMEM;
  l->by_idx = by_idx;
  free_idx = sipflow__realloc(ka->mem, l->free_idx, cap * sizeof(*free_idx));
  if (!free_idx)
    return SIPFLOW_ERR_NOMEM;
  l->free_idx = free_idx;
  l->cap = cap;
  return 0;
}

static int local_ref(sipflow_keepalive *ka, const sipflow_addr *a,
                     uint16_t *idx) {
  sipflow__ka_locals *l = &ka->locals;
  uint64_t h = addr_hash(ka, a);
  sipflow__ka_local *n;
  uint32_t i;
  SIPFLOW__MAP_FOREACH(&l->map, h, it) {
    n = sipflow__container_of(it, sipflow__ka_local, link);
    if (sipflow_addr_equal(&n->addr, a)) {
      n->refs++;
      *idx = n->idx;
      return 0;
    }
  }
  if (l->nfree == 0 && l->used == l->cap) {
    if (l->cap > UINT16_MAX)
      return SIPFLOW_ERR_LIMIT;
    if (local_grow(ka) != 0)
      return SIPFLOW_ERR_NOMEM;
  }
  n = sipflow__calloc(ka->mem, 1, sizeof(*n));
  if (!n)
    return SIPFLOW_ERR_NOMEM;
  if (sipflow__map_insert(&l->map, &n->link, h) != 0) {
    sipflow__free(ka->mem, n);
    return SIPFLOW_ERR_NOMEM;
  }
  i = l->nfree ? l->free_idx[--l->nfree] : l->used++;
  n->addr = *a;
  n->refs = 1;
  n->idx = (uint16_t)i;
  l->by_idx[i] = n;
  *idx = n->idx;
  return 0;
}

static void local_unref(sipflow_keepalive *ka, uint16_t idx) {
  sipflow__ka_locals *l = &ka->locals;
  sipflow__ka_local *n = l->by_idx[idx];
  if (--n->refs)
    return;
  sipflow__map_remove(&l->map, &n->link);
  l->by_idx[idx] = NULL;
  l->free_idx[l->nfree++] = idx;
  sipflow__free(ka->mem, n);
}

void sipflow__ka_locals_free(sipflow__ka_locals *l, const sipflow_mem *mem) {
  for (uint32_t i = 0; i < l->used; i++)
    sipflow__free(mem, l->by_idx[i]);
  sipflow__free(mem, l->by_idx);
  sipflow__free(mem, l->free_idx);
  sipflow__map_free(&l->map);
  memset(l, 0, sizeof(*l));
}

/* ---- the compact tuple --------------------------------------------------- */

static const uint8_t *v6_at(const sipflow_keepalive *ka, uint32_t i) {
  return sipflow__ka_slab_at(&ka->v6, i);
}

int sipflow__ka_tuple_matches(const sipflow_keepalive *ka,
                              const sipflow__ka_ep *e,
                              const sipflow_flow_tuple *t) {
  sipflow_flow_tuple mine;
  sipflow__ka_tuple_get(ka, e, &mine);
  return mine.transport == t->transport &&
         sipflow_addr_equal(&mine.local, &t->local) &&
         sipflow_addr_equal(&mine.remote, &t->remote) &&
         (t->transport == SIPFLOW_TRANSPORT_UDP ||
          mine.generation == t->generation);
}

/* On every probe's path: fields are set one by one rather than zeroing the
 * whole struct first. */
void sipflow__ka_tuple_get(const sipflow_keepalive *ka, const sipflow__ka_ep *e,
                           sipflow_flow_tuple *t) {
  t->transport = (uint8_t)SIPFLOW__KA_TRANSPORT(e);
  t->local = ka->locals.by_idx[e->local]->addr;
  t->remote.port = e->remote_port;
  if (e->flags & SIPFLOW__KA_F_V6) {
    t->remote.family = SIPFLOW_AF_INET6;
    memcpy(t->remote.bytes, v6_at(ka, e->remote4), 16);
  } else {
    t->remote.family = SIPFLOW_AF_INET;
    memcpy(t->remote.bytes, &e->remote4, 4);
    memset(t->remote.bytes + 4, 0, 12);
  }
  t->generation = t->transport != SIPFLOW_TRANSPORT_UDP ? e->gen_or_mapped : 0;
}

/* ---- creating and removing ------------------------------------------------
 */

static int store_tuple(sipflow_keepalive *ka, sipflow__ka_ep *e,
                       const sipflow_flow_tuple *t) {
  uint16_t local;
  int rv = local_ref(ka, &t->local, &local);
  if (rv != 0)
    return rv;
  if (t->remote.family == SIPFLOW_AF_INET6) {
    uint32_t v;
    rv = sipflow__ka_slab_alloc(&ka->v6, ka->mem, &v);
    if (rv != 0) {
      local_unref(ka, local);
      return rv == SIPFLOW_ERR_LIMIT ? SIPFLOW_ERR_LIMIT : SIPFLOW_ERR_NOMEM;
    }
    memcpy(sipflow__ka_slab_at(&ka->v6, v), t->remote.bytes, 16);
    e->remote4 = v;
    e->flags |= SIPFLOW__KA_F_V6;
  } else {
    memcpy(&e->remote4, t->remote.bytes, 4);
  }
  e->local = local;
  e->remote_port = t->remote.port;
  e->tk = (uint8_t)(t->transport & 7u);
  if (t->transport != SIPFLOW_TRANSPORT_UDP)
    e->gen_or_mapped = t->generation;
  return 0;
}

int sipflow__ka_ep_create(sipflow_keepalive *ka,
                          const sipflow_keepalive_endpoint *ep, uint8_t method,
                          uint16_t interval, uint32_t *pidx) {
  sipflow__ka_ep *e;
  uint32_t idx;
  int rv;
  if (ka->s.max_endpoints && ka->eps.live >= ka->s.max_endpoints)
    return SIPFLOW_ERR_LIMIT;
  rv = sipflow__ka_index_reserve(ka);
  if (rv != 0)
    return rv;
  rv = sipflow__ka_slab_alloc(&ka->eps, ka->mem, &idx);
  if (rv != 0)
    return rv;
  e = sipflow__ka_ep_at(ka, idx);
  rv = store_tuple(ka, e, &ep->tuple);
  if (rv != 0) {
    sipflow__ka_slab_release(&ka->eps, idx);
    return rv;
  }
  e->flow_id = ep->flow_id;
  e->user_data = ep->user_data;
  e->probe_at = e->sent_at = e->answer_at = SIPFLOW_TSTAMP_NONE;
  e->r0_expiry = SIPFLOW_TSTAMP_NONE;
  e->next = e->prev = e->extras = SIPFLOW__KA_NONE;
  e->interval = interval;
  e->mh = method;
  sipflow__ka_rtt_reset(e);
  sipflow__ka_index_insert(ka, ep->flow_id, idx);
  ka->counters.endpoints++;
  *pidx = idx;
  return 0;
}

void sipflow__ka_ep_remove(sipflow_keepalive *ka, uint32_t idx, int why) {
  sipflow__ka_ep *e = sipflow__ka_ep_at(ka, idx);
  sipflow_flow_id flow = e->flow_id;
  void *eud = e->user_data;
  sipflow__ka_unlink(ka, idx);
  sipflow__ka_reasons_drop_all(ka, e);
  if (e->flags & SIPFLOW__KA_F_PROBING)
    ka->probing--;
  sipflow__ka_index_remove(ka, flow);
  local_unref(ka, e->local);
  if (e->flags & SIPFLOW__KA_F_V6)
    sipflow__ka_slab_release(&ka->v6, e->remote4);
  sipflow__ka_ruri_set(ka, idx, NULL, 0);
  e->flow_id = 0;
  sipflow__ka_slab_release(&ka->eps, idx);
  ka->counters.endpoints--;
  if (why == 0)
    return;
  ka->counters.removed++;
  if (ka->cb.on_removed) {
    SIPFLOW__CB_ENTER(ka->ctx);
    ka->cb.on_removed(ka, flow, why, ka->user_data, eud);
    SIPFLOW__CB_LEAVE(ka->ctx);
  }
}

sipflow__ka_ep *sipflow__ka_lookup(const sipflow_keepalive *ka,
                                   sipflow_flow_id flow, uint32_t *pidx) {
  uint32_t idx = sipflow__ka_index_find(ka, flow);
  if (idx == SIPFLOW__KA_NONE)
    return NULL;
  if (pidx)
    *pidx = idx;
  return sipflow__ka_ep_at(ka, idx);
}

/* ---- per-endpoint OPTIONS Request-URIs -----------------------------------
 * Few endpoints have one (a host that probes Contacts), so they live beside
 * the 128-byte endpoints: a table by slot, grown on the first use of a slot,
 * and one copy per URI. */

int sipflow__ka_ruri_check(sipflow_str s) {
  if (s.len == 0)
    return 0;
  if (!s.ptr || s.len > SIPFLOW_KEEPALIVE_MAX_REQUEST_URI)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  for (size_t i = 0; i < s.len; i++) { /* RFC 3261 §25.1: no LWS in a URI */
    unsigned char c = (unsigned char)s.ptr[i];
    if (c <= 0x20 || c == 0x7f)
      return SIPFLOW_ERR_INVALID_ARGUMENT;
  }
  return 0;
}

int sipflow__ka_ruri_reserve(sipflow_keepalive *ka, uint32_t idx) {
  uint32_t cap = ka->ruri_cap ? ka->ruri_cap : 16;
  sipflow_str *t;
  if (idx < ka->ruri_cap)
    return 0;
  while (cap <= idx)
    cap = cap > UINT32_MAX / 2 ? UINT32_MAX : cap * 2;
  t = sipflow__realloc(ka->mem, ka->ruri, (size_t)cap * sizeof(*t));
  if (!t)
    return SIPFLOW_ERR_NOMEM;
  memset(t + ka->ruri_cap, 0, (size_t)(cap - ka->ruri_cap) * sizeof(*t));
  ka->ruri = t;
  ka->ruri_cap = cap;
  return 0;
}

void sipflow__ka_ruri_set(sipflow_keepalive *ka, uint32_t idx, char *copy,
                          size_t n) {
  sipflow__ka_ep *e = sipflow__ka_ep_at(ka, idx);
  if (e->flags & SIPFLOW__KA_F_RURI) {
    sipflow__free(ka->mem, (void *)ka->ruri[idx].ptr);
    ka->ruri[idx].ptr = NULL;
    ka->ruri[idx].len = 0;
    e->flags &= (uint8_t)~SIPFLOW__KA_F_RURI;
  }
  if (!copy)
    return;
  ka->ruri[idx].ptr = copy;
  ka->ruri[idx].len = n;
  e->flags |= SIPFLOW__KA_F_RURI;
}

sipflow_str sipflow__ka_ruri_get(const sipflow_keepalive *ka, uint32_t idx) {
  const sipflow__ka_ep *e = sipflow__ka_ep_at(ka, idx);
  sipflow_str none = {NULL, 0};
  return (e->flags & SIPFLOW__KA_F_RURI) ? ka->ruri[idx] : none;
}

void sipflow__ka_ruri_free(sipflow_keepalive *ka) {
  for (uint32_t i = 0; i < ka->ruri_cap; i++)
    if (ka->ruri[i].ptr)
      sipflow__free(ka->mem, (void *)ka->ruri[i].ptr);
  if (ka->ruri)
    sipflow__free(ka->mem, ka->ruri);
  ka->ruri = NULL;
  ka->ruri_cap = 0;
}
