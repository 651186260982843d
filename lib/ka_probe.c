/*
 * Probing: when to send, what to send, and what answers and misses do to an
 * endpoint's health.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <sodium.h>
#include <string.h>

#include "keepalive_int.h"
#include "sipflow/responder.h"

#define STEP (100 * SIPFLOW_MILLISECONDS)

static const uint8_t udp_ping[4] = {0, 0, 0, 0};

/* ---- randomness ------------------------------------------------------------
 */

/* Random bytes are drawn from the host's callback 256 at a time: one call per
 * 32 draws keeps the callback off the dispatch path's profile. */
uint64_t sipflow__ka_rand(sipflow_keepalive *ka) {
  uint64_t r;
  if (ka->rpos + sizeof(r) > SIPFLOW__KA_RBUF) {
    sipflow__rand(ka->ctx, ka->rbuf, SIPFLOW__KA_RBUF);
    ka->rpos = 0;
  }
  memcpy(&r, ka->rbuf + ka->rpos, sizeof(r));
  ka->rpos += sizeof(r);
  return r;
}

/* No rejection loop: a host's rand callback that returns a constant (tests)
 * must not hang us. The top bits of a 64-bit draw are scaled to the span
 * (Lemire's multiply-shift, no division on the dispatch path); for spans
 * under 2^44 ns (4.9 h) the bias is below 2^-20. */
uint64_t sipflow__ka_rand_range(sipflow_keepalive *ka, uint64_t lo,
                                uint64_t hi) {
  uint64_t span, r;
  if (hi <= lo)
    return lo;
  span = hi - lo + 1;
  r = sipflow__ka_rand(ka);
  if (span == 0)
    return r;
#if defined(__SIZEOF_INT128__)
  __extension__ typedef unsigned __int128 u128;
  return lo + (uint64_t)(((u128)r * span) >> 64);
#else
  return lo + r % span;
#endif
}

sipflow_duration sipflow__ka_interval_ns(const sipflow__ka_ep *e) {
  return (sipflow_duration)e->interval * STEP;
}

/* A wait uniform in [0.8, 1.0] x interval (RFC 5626 §4.4). */
static sipflow_duration jittered(sipflow_keepalive *ka,
                                 const sipflow__ka_ep *e) {
  sipflow_duration iv = sipflow__ka_interval_ns(e);
  return sipflow__ka_rand_range(ka, iv / 5 * 4, iv);
}

/*
 * The first probe's delay. Drawn uniformly over [0, interval], a mass start
 * would not be steady: at 0.8-1.0 x interval the second probes of the early
 * endpoints overlap the first probes of the late ones, nearly twice the
 * steady rate. Drawn instead from the renewal process's equilibrium
 * distribution (density P(wait > x) / mean wait), the probe rate is flat from
 * the first second: uniform on [0, 0.8 I] with probability 8/9, otherwise
 * 0.8 I plus 0.2 I times the smaller of two uniforms (a falling ramp).
 */
static sipflow_duration first_delay(sipflow_keepalive *ka,
                                    const sipflow__ka_ep *e) {
  sipflow_duration iv = sipflow__ka_interval_ns(e), a = iv / 5 * 4;
  if (sipflow__ka_rand_range(ka, 0, 8) < 8)
    return sipflow__ka_rand_range(ka, 0, a);
  sipflow_duration u = sipflow__ka_rand_range(ka, 0, iv - a);
  sipflow_duration v = sipflow__ka_rand_range(ka, 0, iv - a);
  return a + (u < v ? u : v);
}

static sipflow_tstamp later(sipflow_tstamp t, sipflow_duration d) {
  return t > SIPFLOW_TSTAMP_NONE - 1 - d ? SIPFLOW_TSTAMP_NONE - 1 : t + d;
}

static sipflow_tstamp watch_deadline(const sipflow_keepalive *ka,
                                     const sipflow__ka_ep *e,
                                     sipflow_tstamp now) {
  return later(now, sipflow__ka_interval_ns(e) + ka->s.passive_grace);
}

void sipflow__ka_start(sipflow_keepalive *ka, sipflow__ka_ep *e,
                       sipflow_tstamp now) {
  e->flags &= (uint8_t)~SIPFLOW__KA_F_IN_FLIGHT;
  e->attempt = 0;
  if (SIPFLOW__KA_METHOD(e) == SIPFLOW_KEEPALIVE_PASSIVE)
    e->probe_at = watch_deadline(ka, e, now);
  else
    e->probe_at = later(now, first_delay(ka, e));
}

/* ---- probe ids --------------------------------------------------------------
 */

uint64_t sipflow__ka_probe_mac(const sipflow_keepalive *ka,
                               sipflow_flow_id flow, uint32_t seq, int kind) {
  uint8_t in[13], out[8];
  uint64_t mac;
  memcpy(in, &flow, 8);
  memcpy(in + 8, &seq, 4);
  in[12] = (uint8_t)kind;
  crypto_shorthash_siphash24(out, in, sizeof(in), ka->id_key);
  memcpy(&mac, out, 8);
  return mac;
}

/* STUN transaction id: the endpoint's index then a keyed MAC of its flow and
 * probe number, so answers are matched without per-probe state and cannot be
 * guessed without the key (RFC 5389 §6 wants them unpredictable). */
static void make_txid(const sipflow_keepalive *ka, uint32_t idx,
                      const sipflow__ka_ep *e, uint8_t *txid) {
  uint64_t mac = sipflow__ka_probe_mac(ka, e->flow_id, e->n_sent, 'S');
  txid[0] = (uint8_t)(idx >> 24);
  txid[1] = (uint8_t)(idx >> 16);
  txid[2] = (uint8_t)(idx >> 8);
  txid[3] = (uint8_t)idx;
  memcpy(txid + 4, &mac, 8);
}

static uint64_t options_id(const sipflow_keepalive *ka, uint32_t idx,
                           const sipflow__ka_ep *e) {
  uint64_t mac = sipflow__ka_probe_mac(ka, e->flow_id, e->n_sent, 'O');
  return (uint64_t)idx << 32 | (mac & 0xFFFFFFFFu);
}

/* A WebSocket Ping's payload: a keyed MAC of the flow and probe number, so
 * a Pong is matched without per-probe state and cannot be forged. */
uint64_t sipflow__ka_ws_ping_id(const sipflow_keepalive *ka,
                                const sipflow__ka_ep *e, uint32_t seq) {
  return sipflow__ka_probe_mac(ka, e->flow_id, seq, 'W');
}

/* ---- health
 * ------------------------------------------------------------------ */

static int call_state(sipflow_keepalive *ka, uint32_t idx, int event,
                      unsigned old, const sipflow_addr *mapped) {
  sipflow__ka_ep *e = sipflow__ka_ep_at(ka, idx);
  sipflow_keepalive_state_change ch;
  if (!ka->cb.on_state)
    return 1;
  ch.event = (uint8_t)event;
  ch.old_health = (uint8_t)old;
  ch.health = (uint8_t)SIPFLOW__KA_HEALTH(e);
  ch.consecutive_misses = e->misses;
  ch.mapped = mapped;
  sipflow_flow_id flow = e->flow_id;
  SIPFLOW__CB_ENTER(ka->ctx);
  ka->cb.on_state(ka, flow, &ch, ka->user_data, e->user_data);
  SIPFLOW__CB_LEAVE(ka->ctx);
  return sipflow__ka_still(ka, idx, flow) != NULL;
}

void sipflow__ka_set_health(sipflow_keepalive *ka, uint32_t idx, int event,
                            const sipflow_addr *mapped) {
  sipflow__ka_ep *e = sipflow__ka_ep_at(ka, idx);
  unsigned old = SIPFLOW__KA_HEALTH(e), health = old;
  switch (event) {
  case SIPFLOW_KEEPALIVE_ALIVE:
    health = SIPFLOW_HEALTH_ALIVE;
    if (old == SIPFLOW_HEALTH_SUSPECT || old == SIPFLOW_HEALTH_DEAD)
      ka->counters.revivals++;
    break;
  case SIPFLOW_KEEPALIVE_SUSPECT:
    health = SIPFLOW_HEALTH_SUSPECT;
    ka->counters.suspects += old != health;
    break;
  case SIPFLOW_KEEPALIVE_DEAD:
    health = SIPFLOW_HEALTH_DEAD;
    ka->counters.deaths += old != health;
    break;
  default:
    ka->counters.rebinds++;
    break;
  }
  if (event != SIPFLOW_KEEPALIVE_REBOUND && health == old)
    return;
  e->mh = (uint8_t)((e->mh & 7u) | health << 3);
  if (!call_state(ka, idx, event, old, mapped))
    return;
  if (health == SIPFLOW_HEALTH_DEAD && ka->s.remove_dead)
    sipflow__ka_ep_remove(ka, idx, SIPFLOW_KEEPALIVE_REMOVED_DEAD);
}

void sipflow__ka_missed(sipflow_keepalive *ka, uint32_t idx,
                        sipflow_tstamp now) {
  sipflow__ka_ep *e = sipflow__ka_ep_at(ka, idx);
  int passive = SIPFLOW__KA_METHOD(e) == SIPFLOW_KEEPALIVE_PASSIVE;
  (void)now;
  if (e->misses < UINT8_MAX)
    e->misses++;
  ka->counters.probes_missed++;
  /* A passive watch has no retries: silence past Flow-Timer plus grace is
   * the failure itself (RFC 5626 §4.4, §5.4). */
  sipflow__ka_set_health(ka, idx,
                         passive || e->misses >= ka->s.dead_after
                             ? SIPFLOW_KEEPALIVE_DEAD
                             : SIPFLOW_KEEPALIVE_SUSPECT,
                         NULL);
}

static uint32_t mapped_hash(const sipflow_keepalive *ka,
                            const sipflow_addr *a) {
  uint8_t in[19] = {0}, out[8];
  in[0] = a->family;
  memcpy(in + 1, a->bytes, a->family == SIPFLOW_AF_INET6 ? 16 : 4);
  in[17] = (uint8_t)(a->port >> 8);
  in[18] = (uint8_t)a->port;
  crypto_shorthash_siphash24(out, in, sizeof(in), ka->id_key);
  return (uint32_t)out[0] | (uint32_t)out[1] << 8 | (uint32_t)out[2] << 16 |
         (uint32_t)out[3] << 24;
}

/* An answer read at |now| that arrived at |received| (now when unknown). */
static void answered(sipflow_keepalive *ka, uint32_t idx, sipflow_tstamp now,
                     sipflow_tstamp received, int rtt_sample,
                     const sipflow_addr *mapped) {
  sipflow__ka_ep *e = sipflow__ka_ep_at(ka, idx);
  sipflow_flow_id flow = e->flow_id;
  sipflow_duration rtt;
  int rebound = 0;
  if (received < e->sent_at || received > now)
    received = now;
  rtt = received - e->sent_at;
  e->flags &= (uint8_t)~SIPFLOW__KA_F_IN_FLIGHT;
  e->n_answered++;
  e->answer_at = received;
  e->misses = 0;
  ka->counters.probes_answered++;
  if (SIPFLOW__KA_METHOD(e) == SIPFLOW_KEEPALIVE_PASSIVE) {
    e->probe_at = watch_deadline(ka, e, now);
  } else {
    /* The next wait runs from the last send, not the answer, so the probe
     * process stays the steady renewal process the first delay assumed. */
    sipflow_tstamp next = later(e->sent_at, jittered(ka, e));
    e->probe_at = next > now ? next : now;
  }
  if (rtt_sample)
    sipflow__ka_rtt_sample(e, rtt);
  if (mapped) {
    uint32_t h = mapped_hash(ka, mapped);
    rebound = (e->flags & SIPFLOW__KA_F_MAPPED) && e->gen_or_mapped != h;
    e->gen_or_mapped = h;
    e->flags |= SIPFLOW__KA_F_MAPPED;
  }
  sipflow__ka_schedule(ka, idx);
  if (rtt_sample && ka->cb.on_rtt) {
    SIPFLOW__CB_ENTER(ka->ctx);
    ka->cb.on_rtt(ka, flow, rtt, ka->user_data, e->user_data);
    SIPFLOW__CB_LEAVE(ka->ctx);
    if (!sipflow__ka_still(ka, idx, flow))
      return;
  }
  sipflow__ka_set_health(ka, idx, SIPFLOW_KEEPALIVE_ALIVE, NULL);
  if (rebound && sipflow__ka_still(ka, idx, flow))
    sipflow__ka_set_health(ka, idx, SIPFLOW_KEEPALIVE_REBOUND, mapped);
}

void sipflow__ka_answered(sipflow_keepalive *ka, uint32_t idx,
                          sipflow_tstamp now, int rtt_sample,
                          const sipflow_addr *mapped) {
  answered(ka, idx, now, now, rtt_sample, mapped);
}

void sipflow__ka_answered_at(sipflow_keepalive *ka, uint32_t idx,
                             sipflow_tstamp now, sipflow_tstamp received,
                             const sipflow_addr *mapped) {
  answered(ka, idx, now, received, 1, mapped);
}

/* ---- sending
 * ------------------------------------------------------------------- */

static int take_token(sipflow_keepalive *ka, sipflow_tstamp now) {
  if (!ka->rate_token_ns)
    return 1;
  if (now > ka->rate_last) {
    uint64_t gain = now - ka->rate_last;
    ka->rate_allow_ns = gain >= ka->rate_burst_ns - ka->rate_allow_ns
                            ? ka->rate_burst_ns
                            : ka->rate_allow_ns + gain;
    ka->rate_last = now;
  }
  if (ka->rate_allow_ns < ka->rate_token_ns)
    return 0;
  ka->rate_allow_ns -= ka->rate_token_ns;
  return 1;
}

sipflow_tstamp sipflow__ka_fifo_ready(const sipflow_keepalive *ka,
                                      sipflow_tstamp now) {
  (void)now;
  if (sipflow__ka_fifo_first(ka) == SIPFLOW__KA_NONE)
    return SIPFLOW_TSTAMP_NONE;
  return ka->rate_last + (ka->rate_token_ns - ka->rate_allow_ns);
}

/* When the in-flight transmission |attempt| needs its next event: a STUN
 * retransmission at RTO doubling, or the end of the wait (RFC 5389 §7.2.1:
 * Rc requests, then Rm x RTO). */
static sipflow_tstamp in_flight_deadline(const sipflow_keepalive *ka,
                                         const sipflow__ka_ep *e) {
  switch (SIPFLOW__KA_METHOD(e)) {
  case SIPFLOW_KEEPALIVE_CRLF:
  case SIPFLOW_KEEPALIVE_WS_PING:
    return later(e->sent_at, ka->s.pong_timeout);
  case SIPFLOW_KEEPALIVE_OPTIONS:
    return later(e->sent_at, ka->s.options_timeout);
  default: {
    sipflow_duration rto = ka->s.stun_rto;
    unsigned k = e->attempt;
    if (k + 1 < ka->s.stun_rc)
      return later(e->sent_at, rto * ((2ull << k) - 1));
    return later(e->sent_at, rto * ((1ull << k) - 1) + rto * ka->s.stun_rm);
  }
  }
}

static void fill_probe(sipflow_keepalive *ka, uint32_t idx, sipflow__ka_ep *e,
                       sipflow_keepalive_probe *p, sipflow_flow_tuple *t) {
  sipflow__ka_tuple_get(ka, e, t);
  p->method = (uint8_t)SIPFLOW__KA_METHOD(e);
  p->attempt = e->attempt;
  p->probe_id = 0;
  p->tuple = t;
  switch (p->method) {
  case SIPFLOW_KEEPALIVE_CRLF:
    p->data = (const uint8_t *)SIPFLOW_CRLF_PING;
    p->len = SIPFLOW_CRLF_PING_LEN;
    break;
  case SIPFLOW_KEEPALIVE_STUN: {
    uint8_t txid[SIPFLOW_STUN_TXID_LEN];
    make_txid(ka, idx, e, txid);
    sipflow_stun_encode_request(ka->probe_buf, sizeof(ka->probe_buf), txid,
                                &p->len);
    p->data = ka->probe_buf;
    break;
  }
  case SIPFLOW_KEEPALIVE_WS_PING:
    p->probe_id = sipflow__ka_ws_ping_id(ka, e, e->n_sent);
    for (int i = 0; i < 8; i++)
      ka->probe_buf[i] = (uint8_t)(p->probe_id >> (56 - 8 * i));
    p->data = ka->probe_buf;
    p->len = 8;
    break;
  case SIPFLOW_KEEPALIVE_OPTIONS:
    p->probe_id = options_id(ka, idx, e);
    if (sipflow__ka_options_probe(ka, t, sipflow__ka_ruri_get(ka, idx),
                                  p->probe_id, &p->len) == 0)
      p->data = ka->probe_buf;
    else
      p->len = 0;
    break;
  default:
    p->data = udp_ping;
    p->len = sizeof(udp_ping);
    break;
  }
}

/* Hand one transmission to the host. Returns 0 when the endpoint went away
 * during the callback. */
static int transmit(sipflow_keepalive *ka, uint32_t idx, sipflow_tstamp now) {
  sipflow__ka_ep *e = sipflow__ka_ep_at(ka, idx);
  sipflow_flow_id flow = e->flow_id;
  uint32_t seq = e->n_sent;
  sipflow_keepalive_probe p;
  sipflow_flow_tuple t;
  int rv;
  fill_probe(ka, idx, e, &p, &t);
  sipflow__ka_schedule(ka, idx);
  SIPFLOW__CB_ENTER(ka->ctx);
  rv = ka->cb.send_probe(ka, flow, &p, ka->user_data, e->user_data);
  SIPFLOW__CB_LEAVE(ka->ctx);
  e = sipflow__ka_still(ka, idx, flow);
  if (!e)
    return 0;
  if (rv == 0)
    return 1;
  ka->counters.send_failures++;
  /* Unsent is missed at once, unless the callback already settled it. */
  if (!(e->flags & SIPFLOW__KA_F_IN_FLIGHT) || e->n_sent != seq)
    return 1;
  e->flags &= (uint8_t)~SIPFLOW__KA_F_IN_FLIGHT;
  e->probe_at = later(now, jittered(ka, e));
  sipflow__ka_schedule(ka, idx);
  sipflow__ka_missed(ka, idx, now);
  return sipflow__ka_still(ka, idx, flow) != NULL;
}

/* Start a new probe, or queue it behind the rate cap. */
static void send_new(sipflow_keepalive *ka, uint32_t idx, sipflow_tstamp now,
                     int capped) {
  sipflow__ka_ep *e = sipflow__ka_ep_at(ka, idx);
  uint8_t method = (uint8_t)SIPFLOW__KA_METHOD(e);
  if (capped && !take_token(ka, now)) {
    ka->counters.deferred++;
    sipflow__ka_fifo_push(ka, idx);
    return;
  }
  e->n_sent++;
  e->sent_at = now;
  e->attempt = 0;
  ka->counters.probes_sent[method]++;
  if (method == SIPFLOW_KEEPALIVE_UDP_PING) {
    e->probe_at = later(now, jittered(ka, e)); /* fire and forget */
  } else {
    e->flags |= SIPFLOW__KA_F_IN_FLIGHT;
    e->probe_at = in_flight_deadline(ka, e);
  }
  transmit(ka, idx, now);
}

static void retransmit(sipflow_keepalive *ka, uint32_t idx,
                       sipflow_tstamp now) {
  sipflow__ka_ep *e = sipflow__ka_ep_at(ka, idx);
  e->attempt++;
  e->probe_at = in_flight_deadline(ka, e);
  ka->counters.stun_retransmissions++;
  transmit(ka, idx, now);
}

/* The probe in flight got no answer in time, or an answer that fails it. */
void sipflow__ka_failed(sipflow_keepalive *ka, uint32_t idx,
                        sipflow_tstamp now) {
  sipflow__ka_ep *e = sipflow__ka_ep_at(ka, idx);
  sipflow_flow_id flow = e->flow_id;
  sipflow_tstamp next = later(e->sent_at, jittered(ka, e));
  e->flags &= (uint8_t)~SIPFLOW__KA_F_IN_FLIGHT;
  e->probe_at = next > now ? next : now;
  sipflow__ka_schedule(ka, idx);
  sipflow__ka_missed(ka, idx, now);
  e = sipflow__ka_still(ka, idx, flow);
  /* A transaction longer than the interval (STUN's 39.5 s against 29 s):
   * probe again at once rather than leave a gap. */
  if (e && e->probe_at <= now && e->loc != SIPFLOW__KA_LOC_FIFO)
    send_new(ka, idx, now, 1);
}

static void probe_due(sipflow_keepalive *ka, uint32_t idx, sipflow_tstamp now) {
  sipflow__ka_ep *e = sipflow__ka_ep_at(ka, idx);
  unsigned method = SIPFLOW__KA_METHOD(e);
  if (method == SIPFLOW_KEEPALIVE_PASSIVE) {
    e->n_sent++; /* for PASSIVE: watch periods that went by in silence */
    e->probe_at = watch_deadline(ka, e, now);
    sipflow__ka_schedule(ka, idx);
    sipflow__ka_missed(ka, idx, now);
  } else if (!(e->flags & SIPFLOW__KA_F_IN_FLIGHT)) {
    send_new(ka, idx, now, 1);
  } else if (method == SIPFLOW_KEEPALIVE_STUN &&
             e->attempt + 1u < ka->s.stun_rc) {
    retransmit(ka, idx, now);
  } else {
    sipflow__ka_failed(ka, idx, now);
  }
}

void sipflow__ka_fire(sipflow_keepalive *ka, uint32_t idx, sipflow_tstamp now) {
  sipflow__ka_ep *e = sipflow__ka_ep_at(ka, idx);
  sipflow_flow_id flow = e->flow_id;
  if (e->r0_expiry <= now) {
    sipflow__ka_inline_expired(ka, idx);
    e = sipflow__ka_still(ka, idx, flow);
    if (!e)
      return;
  }
  if (e->probe_at <= now)
    probe_due(ka, idx, now);
  /* Every path that changes a deadline queues the endpoint again; one that
   * found nothing to do (an early wake) leaves it unqueued. */
  e = sipflow__ka_still(ka, idx, flow);
  if (e && e->loc == SIPFLOW__KA_LOC_NONE)
    sipflow__ka_schedule(ka, idx);
}

void sipflow__ka_drain_fifo(sipflow_keepalive *ka, sipflow_tstamp now) {
  uint32_t idx;
  while ((idx = sipflow__ka_fifo_first(ka)) != SIPFLOW__KA_NONE) {
    if (!take_token(ka, now))
      return;
    sipflow__ka_unlink(ka, idx);
    send_new(ka, idx, now, 0);
  }
}
