/*
 * The keepalive scheduler object: creation, the context's timer, and the
 * answers the host reports.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <stddef.h>
#include <string.h>

#include "keepalive_int.h"

_Static_assert(sizeof(void *) != 8 || sizeof(sipflow__ka_ep) == 112,
               "an endpoint must stay at 112 bytes (the memory budget)");

void sipflow_keepalive_settings_default_versioned(
    int settings_version, sipflow_keepalive_settings *s) {
  (void)settings_version;
  if (!s)
    return;
  memset(s, 0, sizeof(*s));
  s->udp_interval = 29 * SIPFLOW_SECONDS;
  s->stream_interval = 120 * SIPFLOW_SECONDS;
  s->pong_timeout = 10 * SIPFLOW_SECONDS;
  s->options_timeout = 10 * SIPFLOW_SECONDS;
  s->stun_rto = 500 * SIPFLOW_MILLISECONDS;
  s->stun_rc = 7;
  s->stun_rm = 16;
  s->passive_grace = 10 * SIPFLOW_SECONDS;
  s->dead_after = 3;
  s->tentative_timeout = 32 * SIPFLOW_SECONDS;
}

void sipflow_keepalive_endpoint_default(sipflow_keepalive_endpoint *ep) {
  if (ep)
    memset(ep, 0, sizeof(*ep));
}

static int interval_ok(sipflow_duration d) {
  return d >= 50 * SIPFLOW_MILLISECONDS && d < 6553550 * SIPFLOW_MILLISECONDS;
}

static int codes_ok(const uint16_t *codes) {
  for (int i = 0; i < SIPFLOW_KEEPALIVE_MAX_CODES; i++)
    if (codes[i] && !(codes[i] <= 6 || (codes[i] >= 100 && codes[i] <= 699)))
      return 0;
  return 1;
}

static int settings_ok(const sipflow_keepalive_settings *s) {
  const sipflow_duration day = 24 * 3600 * SIPFLOW_SECONDS;
  return interval_ok(s->udp_interval) && interval_ok(s->stream_interval) &&
         s->pong_timeout && s->pong_timeout <= day && s->options_timeout &&
         s->options_timeout <= day && s->stun_rto &&
         s->stun_rto <= 60 * SIPFLOW_SECONDS && s->stun_rc >= 1 &&
         s->stun_rc <= 8 && s->stun_rm >= 1 && s->stun_rm <= 64 &&
         s->passive_grace <= day && s->dead_after >= 1 &&
         s->dead_after <= 255 && s->tentative_timeout &&
         s->tentative_timeout <= day && codes_ok(s->options_not_alive);
}

/* ---- the context's timer
 * ----------------------------------------------------- */

static sipflow_tstamp ka_get_expiry(const void *obj) {
  /* The wheel caches its answer; the object is never const underneath. */
  sipflow_keepalive *ka = (sipflow_keepalive *)(uintptr_t)obj;
  sipflow_tstamp t = sipflow__ka_wheel_expiry(ka);
  sipflow_tstamp r = sipflow__pq_expiry(&ka->reason_pq);
  sipflow_tstamp f = sipflow__ka_fifo_ready(ka, ka->ctx->last_now);
  if (r < t)
    t = r;
  return f < t ? f : t;
}

static int ka_handle_expiry(void *obj, sipflow_tstamp now) {
  sipflow_keepalive *ka = obj;
  /* Callbacks may add work that is due at once; a few rounds settle it and
   * leave the expiry later than now. */
  for (int round = 0; round < 4; round++) {
    sipflow__ka_drain_fifo(ka, now);
    sipflow__ka_wheel_run(ka, now);
    sipflow__ka_reasons_expire(ka, now);
    if (ka_get_expiry(ka) > now)
      break;
  }
  return 0;
}

/* ---- creation
 * ----------------------------------------------------------------- */

static void init_rate(sipflow_keepalive *ka) {
  uint32_t cap = ka->s.max_probes_per_second;
  if (!cap)
    return;
  ka->rate_token_ns = (SIPFLOW_SECONDS + cap - 1) / cap;
  ka->rate_burst_ns = 10 * SIPFLOW_MILLISECONDS;
  if (ka->rate_burst_ns < ka->rate_token_ns)
    ka->rate_burst_ns = ka->rate_token_ns;
  ka->rate_allow_ns = ka->rate_burst_ns;
  ka->rate_last = ka->ctx->last_now;
}

int sipflow_keepalive_new_versioned(
    sipflow_keepalive **pka, sipflow_ctx *ctx, int callbacks_version,
    const sipflow_keepalive_callbacks *callbacks, int settings_version,
    const sipflow_keepalive_settings *settings, void *user_data) {
  sipflow_keepalive *ka;
  if (!pka)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  *pka = NULL;
  if (!ctx || !callbacks || !callbacks->send_probe ||
      callbacks_version != SIPFLOW_KEEPALIVE_CALLBACKS_V1 ||
      (settings && settings_version != SIPFLOW_KEEPALIVE_SETTINGS_V1) ||
      (settings && !settings_ok(settings)))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  ka = sipflow__calloc(&ctx->mem, 1, sizeof(*ka));
  if (!ka)
    return SIPFLOW_ERR_NOMEM;
  ka->ctx = ctx;
  ka->mem = &ctx->mem;
  ka->cb = *callbacks;
  if (settings)
    ka->s = *settings;
  else
    sipflow_keepalive_settings_default(&ka->s);
  ka->user_data = user_data;
  sipflow__rand(ctx, ka->id_key, sizeof(ka->id_key));
  ka->rpos = SIPFLOW__KA_RBUF;
  sipflow__ka_slab_init(&ka->eps, sizeof(sipflow__ka_ep),
                        offsetof(sipflow__ka_ep, next),
                        SIPFLOW__KA_MAX_ENDPOINTS);
  sipflow__ka_slab_init(&ka->reasons, sizeof(sipflow__ka_reason),
                        offsetof(sipflow__ka_reason, next), UINT32_MAX - 1);
  sipflow__ka_slab_init(&ka->v6, 16, 0, SIPFLOW__KA_MAX_ENDPOINTS);
  sipflow__map_init(&ka->reason_map, ka->mem);
  sipflow__pq_init(&ka->reason_pq, ka->mem);
  sipflow__map_init(&ka->locals.map, ka->mem);
  sipflow__ka_wheel_init(&ka->wheel, ctx->last_now);
  init_rate(ka);
  ka->src.get_expiry = ka_get_expiry;
  ka->src.handle_expiry = ka_handle_expiry;
  ka->src.obj = ka;
  sipflow__ctx_attach(ctx, &ka->src);
  *pka = ka;
  return 0;
}

void sipflow_keepalive_del(sipflow_keepalive *ka) {
  if (!ka)
    return;
  sipflow__ctx_detach(&ka->src);
  /* The heap marks its entries as it goes: before the nodes are freed. */
  sipflow__pq_free(&ka->reason_pq);
  sipflow__map_free(&ka->reason_map);
  sipflow__ka_ruri_free(ka);
  sipflow__ka_slab_free_all(&ka->eps, ka->mem);
  sipflow__ka_slab_free_all(&ka->reasons, ka->mem);
  sipflow__ka_slab_free_all(&ka->v6, ka->mem);
  sipflow__ka_index_free(&ka->index, ka->mem);
  sipflow__ka_locals_free(&ka->locals, ka->mem);
  sipflow__free(ka->mem, ka);
}

/* ---- endpoints and reasons
 * ------------------------------------------------------ */

int sipflow_keepalive_reason_set(sipflow_keepalive *ka,
                                 const sipflow_keepalive_endpoint *ep, int kind,
                                 uint64_t reason_id, sipflow_duration lifetime,
                                 sipflow_tstamp now) {
  if (!ka)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (sipflow__ctx_update_time(ka->ctx, now) != 0)
    return SIPFLOW_ERR_TIME_BACKWARDS;
  return sipflow__ka_reason_put(ka, ep, kind, reason_id, lifetime, 0, now);
}

int sipflow_keepalive_reason_open(sipflow_keepalive *ka,
                                  const sipflow_keepalive_endpoint *ep,
                                  int kind, uint64_t reason_id,
                                  sipflow_duration wait, sipflow_tstamp now) {
  if (!ka)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (sipflow__ctx_update_time(ka->ctx, now) != 0)
    return SIPFLOW_ERR_TIME_BACKWARDS;
  return sipflow__ka_reason_put(ka, ep, kind, reason_id, wait, 1, now);
}

/* The endpoint |flow| for a call that takes |now|; 0 or an error code. */
static int find_at(sipflow_keepalive *ka, sipflow_flow_id flow,
                   sipflow_tstamp now, uint32_t *idx) {
  if (!ka || flow == 0)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (sipflow__ctx_update_time(ka->ctx, now) != 0)
    return SIPFLOW_ERR_TIME_BACKWARDS;
  return sipflow__ka_lookup(ka, flow, idx) ? 0 : SIPFLOW_ERR_NOT_FOUND;
}

int sipflow_keepalive_remove(sipflow_keepalive *ka, sipflow_flow_id flow,
                             sipflow_tstamp now) {
  uint32_t idx;
  int rv = find_at(ka, flow, now, &idx);
  if (rv != 0)
    return rv;
  sipflow__ka_ep_remove(ka, idx, SIPFLOW_KEEPALIVE_REMOVED_HOST);
  return 0;
}

size_t sipflow_keepalive_count(const sipflow_keepalive *ka) {
  return ka ? ka->eps.live : 0;
}

/* ---- answers
 * -------------------------------------------------------------------- */

int sipflow_keepalive_on_pong(sipflow_keepalive *ka, sipflow_flow_id flow,
                              sipflow_tstamp now) {
  uint32_t idx;
  sipflow__ka_ep *e;
  int rv = find_at(ka, flow, now, &idx);
  if (rv != 0)
    return rv;
  e = sipflow__ka_ep_at(ka, idx);
  if (SIPFLOW__KA_METHOD(e) != SIPFLOW_KEEPALIVE_CRLF ||
      !(e->flags & SIPFLOW__KA_F_IN_FLIGHT)) {
    ka->counters.unexpected_pongs++;
    return SIPFLOW_ERR_STALE;
  }
  sipflow__ka_answered(ka, idx, now, 1, NULL);
  return 0;
}

int sipflow_keepalive_on_ws_pong(sipflow_keepalive *ka, sipflow_flow_id flow,
                                 const uint8_t *data, size_t len,
                                 sipflow_tstamp now) {
  uint32_t idx;
  uint64_t id = 0;
  sipflow__ka_ep *e;
  int rv;
  if (!data && len)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  rv = find_at(ka, flow, now, &idx);
  if (rv != 0)
    return rv;
  e = sipflow__ka_ep_at(ka, idx);
  for (size_t i = 0; i < len && i < 8; i++)
    id = id << 8 | data[i];
  if (SIPFLOW__KA_METHOD(e) != SIPFLOW_KEEPALIVE_WS_PING ||
      !(e->flags & SIPFLOW__KA_F_IN_FLIGHT) || len != 8 ||
      id != sipflow__ka_ws_ping_id(ka, e, e->n_sent)) {
    ka->counters.unexpected_pongs++;
    return SIPFLOW_ERR_STALE;
  }
  sipflow__ka_answered(ka, idx, now, 1, NULL);
  return 0;
}

int sipflow_keepalive_awaiting_pong(const sipflow_keepalive *ka,
                                    sipflow_flow_id flow) {
  const sipflow__ka_ep *e = ka ? sipflow__ka_lookup(ka, flow, NULL) : NULL;
  return e && SIPFLOW__KA_METHOD(e) == SIPFLOW_KEEPALIVE_CRLF &&
         (e->flags & SIPFLOW__KA_F_IN_FLIGHT);
}

/* Which probe of endpoint |idx| a keyed MAC names: 0 the one in flight,
 * STALE an earlier one, NOT_FOUND none. */
static int match_probe(const sipflow_keepalive *ka, uint32_t idx,
                       sipflow_flow_id flow, uint8_t method, uint64_t mac,
                       uint64_t mask, int kind) {
  const sipflow__ka_ep *e;
  if (idx >= ka->eps.used)
    return SIPFLOW_ERR_NOT_FOUND;
  e = sipflow__ka_ep_at(ka, idx);
  if (e->flow_id == 0 || (flow && e->flow_id != flow) ||
      SIPFLOW__KA_METHOD(e) != method)
    return SIPFLOW_ERR_NOT_FOUND;
  if ((sipflow__ka_probe_mac(ka, e->flow_id, e->n_sent, kind) & mask) == mac)
    return (e->flags & SIPFLOW__KA_F_IN_FLIGHT) ? 0 : SIPFLOW_ERR_STALE;
  if ((sipflow__ka_probe_mac(ka, e->flow_id, e->n_sent - 1, kind) & mask) ==
      mac)
    return SIPFLOW_ERR_STALE;
  return SIPFLOW_ERR_NOT_FOUND;
}

static int refuse(sipflow_keepalive *ka, sipflow_tstamp now, const char *what,
                  int rv) {
  ka->counters.rejected_answers++;
  sipflow__log_net(ka->ctx, now, SIPFLOW_LOG_DEBUG,
                   "keepalive: %s answer refused: %s", what,
                   sipflow_err_name(rv));
  return rv;
}

int sipflow_keepalive_on_stun(sipflow_keepalive *ka, sipflow_flow_id flow,
                              const uint8_t *data, size_t len,
                              sipflow_tstamp now) {
  sipflow_stun_msg m;
  const sipflow_addr *mapped;
  uint32_t idx;
  uint64_t mac;
  int rv, drv;
  if (!ka || (!data && len))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (sipflow__ctx_update_time(ka->ctx, now) != 0)
    return SIPFLOW_ERR_TIME_BACKWARDS;
  drv = sipflow_stun_decode(&m, data, len);
  if (drv != 0 && drv != SIPFLOW_ERR_UNSUPPORTED)
    return refuse(ka, now, "STUN", drv);
  if (m.method != 1 || m.cls < 2)
    return refuse(ka, now, "STUN", SIPFLOW_ERR_UNSUPPORTED);
  idx = (uint32_t)m.txid[0] << 24 | (uint32_t)m.txid[1] << 16 |
        (uint32_t)m.txid[2] << 8 | m.txid[3];
  memcpy(&mac, m.txid + 4, 8);
  rv = match_probe(ka, idx, flow, SIPFLOW_KEEPALIVE_STUN, mac, UINT64_MAX, 'S');
  if (rv != 0)
    return refuse(ka, now, "STUN", rv);
  /* RFC 5389 §7.3.3, §7.3.4: unknown comprehension-required attributes or
   * an error response fail the transaction, as does a success without an
   * address. */
  mapped = m.has_xor_mapped ? &m.xor_mapped : m.has_mapped ? &m.mapped : NULL;
  if (drv != 0 || m.cls == 3 || !mapped) {
    sipflow__ka_failed(ka, idx, now);
    if (drv != 0)
      return drv;
    return m.cls == 3 ? 0 : SIPFLOW_ERR_MALFORMED;
  }
  /* Karn: no sample from a retransmitted transaction. */
  sipflow__ka_answered(ka, idx, now, sipflow__ka_ep_at(ka, idx)->attempt == 0,
                       mapped);
  return 0;
}

static int code_listed(const uint16_t *codes, unsigned status) {
  for (int i = 0; i < SIPFLOW_KEEPALIVE_MAX_CODES && codes[i]; i++)
    if (codes[i] == status || codes[i] == status / 100)
      return 1;
  return 0;
}

int sipflow_keepalive_on_options_response(sipflow_keepalive *ka,
                                          uint64_t probe_id, unsigned status,
                                          sipflow_tstamp now) {
  return sipflow_keepalive_on_options_response_at(ka, probe_id, status, now,
                                                  now);
}

int sipflow_keepalive_on_options_response_at(sipflow_keepalive *ka,
                                             uint64_t probe_id, unsigned status,
                                             sipflow_tstamp now,
                                             sipflow_tstamp received) {
  int rv;
  uint32_t idx = (uint32_t)(probe_id >> 32);
  if (!ka || status < 100 || status > 699)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (sipflow__ctx_update_time(ka->ctx, now) != 0)
    return SIPFLOW_ERR_TIME_BACKWARDS;
  rv = match_probe(ka, idx, 0, SIPFLOW_KEEPALIVE_OPTIONS,
                   probe_id & 0xFFFFFFFFu, 0xFFFFFFFFu, 'O');
  if (rv != 0)
    return refuse(ka, now, "OPTIONS", rv);
  if (status < 200)
    return 0; /* provisional: wait for the final one */
  if (code_listed(ka->s.options_not_alive, status))
    sipflow__ka_failed(ka, idx, now);
  else
    sipflow__ka_answered_at(ka, idx, now, received, NULL);
  return 0;
}

int sipflow_keepalive_on_peer_keepalive(sipflow_keepalive *ka,
                                        sipflow_flow_id flow,
                                        sipflow_tstamp now) {
  uint32_t idx;
  int rv = find_at(ka, flow, now, &idx);
  if (rv != 0)
    return rv;
  ka->counters.peer_keepalives++;
  if (SIPFLOW__KA_METHOD(sipflow__ka_ep_at(ka, idx)) ==
          SIPFLOW_KEEPALIVE_PASSIVE &&
      (sipflow__ka_ep_at(ka, idx)->flags & SIPFLOW__KA_F_PROBING))
    sipflow__ka_answered(ka, idx, now, 0, NULL);
  return 0;
}

int sipflow_keepalive_flow_failed(sipflow_keepalive *ka, sipflow_flow_id flow,
                                  sipflow_tstamp now) {
  uint32_t idx;
  sipflow__ka_ep *e;
  int rv = find_at(ka, flow, now, &idx);
  if (rv != 0)
    return rv;
  e = sipflow__ka_ep_at(ka, idx);
  if (e->misses < ka->s.dead_after)
    e->misses = (uint8_t)ka->s.dead_after;
  sipflow__ka_set_health(ka, idx, SIPFLOW_KEEPALIVE_DEAD, NULL);
  return 0;
}

/* ---- figures
 * ----------------------------------------------------------------------- */

static sipflow_duration rtt_ns(const sipflow__ka_ep *e, int which) {
  return (sipflow_duration)sipflow__ka_rtt_get(e, which) * SIPFLOW_MICROSECONDS;
}

static uint32_t missed(const sipflow__ka_ep *e) {
  switch (SIPFLOW__KA_METHOD(e)) {
  case SIPFLOW_KEEPALIVE_PASSIVE:
    return e->n_sent;
  case SIPFLOW_KEEPALIVE_UDP_PING:
    return 0;
  default:
    /* Every probe is answered, missed, or in flight. */
    return e->n_sent - e->n_answered -
           ((e->flags & SIPFLOW__KA_F_IN_FLIGHT) ? 1 : 0);
  }
}

int sipflow_keepalive_get_stats_versioned(const sipflow_keepalive *ka,
                                          sipflow_flow_id flow,
                                          int stats_version,
                                          sipflow_keepalive_stats *st) {
  const sipflow__ka_ep *e;
  if (!ka || !st || stats_version != SIPFLOW_KEEPALIVE_STATS_V1)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  e = sipflow__ka_lookup(ka, flow, NULL);
  if (!e)
    return SIPFLOW_ERR_NOT_FOUND;
  memset(st, 0, sizeof(*st));
  st->method = (uint8_t)SIPFLOW__KA_METHOD(e);
  st->health = (uint8_t)SIPFLOW__KA_HEALTH(e);
  st->probe_in_flight = (e->flags & SIPFLOW__KA_F_IN_FLIGHT) != 0;
  st->probing = (e->flags & SIPFLOW__KA_F_PROBING) != 0;
  st->consecutive_misses = e->misses;
  st->reasons = sipflow__ka_reason_count(ka, e);
  st->probes_sent = st->method == SIPFLOW_KEEPALIVE_PASSIVE ? 0 : e->n_sent;
  st->probes_answered = e->n_answered;
  st->probes_missed = missed(e);
  st->interval = sipflow__ka_interval_ns(e);
  if (e->flags & SIPFLOW__KA_F_RTT) {
    st->last_rtt = rtt_ns(e, SIPFLOW__KA_RTT_LAST);
    st->srtt = rtt_ns(e, SIPFLOW__KA_RTT_SRTT);
    st->rttvar = rtt_ns(e, SIPFLOW__KA_RTT_VAR);
    st->min_rtt = rtt_ns(e, SIPFLOW__KA_RTT_MIN);
    st->max_rtt = rtt_ns(e, SIPFLOW__KA_RTT_MAX);
  }
  st->last_sent = e->sent_at;
  st->last_answer = e->answer_at;
  st->next_event = e->probe_at;
  st->user_data = e->user_data;
  return 0;
}

int sipflow_keepalive_get_counters_versioned(const sipflow_keepalive *ka,
                                             int counters_version,
                                             sipflow_keepalive_counters *c) {
  if (!ka || !c || counters_version != SIPFLOW_KEEPALIVE_COUNTERS_V1)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  *c = ka->counters;
  c->probing = ka->probing;
  return 0;
}
