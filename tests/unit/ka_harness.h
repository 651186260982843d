/*
 * A recording host for the keepalive tests: it owns `now`, records every
 * callback, and can answer probes from inside send_probe. Header-only so that
 * each test file stays one translation unit.
 */
#ifndef SIPFLOW_TEST_KA_HARNESS_H
#define SIPFLOW_TEST_KA_HARNESS_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "sipflow/keepalive.h"
#include "sipflow/stun.h"

#define KA_MAX_SENDS 4096

typedef struct ka_send {
  sipflow_flow_id flow;
  sipflow_tstamp at;
  uint8_t method;
  uint32_t attempt;
  uint64_t probe_id;
  uint8_t
      data[SIPFLOW_KEEPALIVE_OPTIONS_MAX + SIPFLOW_KEEPALIVE_MAX_REQUEST_URI];
  size_t len;
} ka_send;

typedef struct ka_rec {
  ka_send sends[KA_MAX_SENDS];
  size_t nsends;
  uint64_t total_sends;
  int send_rv;     /* what send_probe returns */
  int answer_pong; /* answer CRLF pings at once, from inside send_probe */
  size_t nrtt;
  sipflow_duration rtt;
  size_t nstate;
  sipflow_keepalive_state_change change;
  int events[256];
  sipflow_addr mapped;
  size_t nremoved;
  sipflow_flow_id removed_flow;
  int removed_why;
  sipflow_tstamp removed_at;
  sipflow_flow_id remove_in_state; /* remove this flow from on_state */
  int expiry_in_state; /* call sipflow_ctx_handle_expiry() from on_state */
  int expiry_rv;       /* what it returned */
} ka_rec;

static ka_rec R;
static sipflow_ctx *ctx;
static sipflow_keepalive *ka;
static sipflow_tstamp now;
static uint64_t rand_state = 88172645463325252ull;

static inline void ka_rand(uint8_t *dest, size_t len, void *ud) {
  (void)ud;
  for (size_t i = 0; i < len; i++) {
    rand_state ^= rand_state << 13;
    rand_state ^= rand_state >> 7;
    rand_state ^= rand_state << 17;
    dest[i] = (uint8_t)(rand_state >> 24);
  }
}

static int on_send(sipflow_keepalive *k, sipflow_flow_id flow,
                   const sipflow_keepalive_probe *p, void *ud, void *eud) {
  ka_send *s = &R.sends[R.nsends % KA_MAX_SENDS];
  (void)ud;
  (void)eud;
  s->flow = flow;
  s->at = now;
  s->method = p->method;
  s->attempt = p->attempt;
  s->probe_id = p->probe_id;
  s->len = p->len < sizeof(s->data) ? p->len : sizeof(s->data);
  if (p->len)
    memcpy(s->data, p->data, s->len);
  R.nsends++;
  R.total_sends++;
  if (R.answer_pong && p->method == SIPFLOW_KEEPALIVE_CRLF)
    cr_assert_eq(sipflow_keepalive_on_pong(k, flow, now), 0);
  return R.send_rv;
}

static void on_rtt(sipflow_keepalive *k, sipflow_flow_id flow,
                   sipflow_duration rtt, void *ud, void *eud) {
  (void)k;
  (void)flow;
  (void)ud;
  (void)eud;
  R.nrtt++;
  R.rtt = rtt;
}

static void on_state(sipflow_keepalive *k, sipflow_flow_id flow,
                     const sipflow_keepalive_state_change *ch, void *ud,
                     void *eud) {
  (void)ud;
  (void)eud;
  R.change = *ch;
  if (ch->mapped)
    R.mapped = *ch->mapped;
  if (R.nstate < 256)
    R.events[R.nstate] = ch->event;
  R.nstate++;
  if (R.expiry_in_state)
    R.expiry_rv = sipflow_ctx_handle_expiry(ctx, now);
  if (R.remove_in_state == flow)
    cr_assert_eq(sipflow_keepalive_remove(k, flow, now), 0);
}

static void on_removed(sipflow_keepalive *k, sipflow_flow_id flow, int why,
                       void *ud, void *eud) {
  (void)k;
  (void)ud;
  (void)eud;
  R.nremoved++;
  R.removed_flow = flow;
  R.removed_why = why;
  R.removed_at = now;
}

static inline void ka_setup(const sipflow_keepalive_settings *s, int random) {
  sipflow_ctx_callbacks ccb = {0};
  sipflow_keepalive_callbacks cb = {on_send, on_rtt, on_state, on_removed};
  memset(&R, 0, sizeof(R));
  if (random)
    ccb.rand = ka_rand;
  cr_assert_eq(sipflow_ctx_new(&ctx, &ccb, NULL, NULL, NULL), 0);
  now = 1000 * SIPFLOW_SECONDS;
  cr_assert_eq(sipflow_ctx_handle_expiry(ctx, now), 0);
  cr_assert_eq(sipflow_keepalive_new(&ka, ctx, &cb, s, NULL), 0);
}

static inline void ka_teardown(void) {
  sipflow_keepalive_del(ka);
  sipflow_ctx_del(ctx);
  ka = NULL;
  ctx = NULL;
}

static inline sipflow_keepalive_endpoint ka_ep(sipflow_flow_id id,
                                               int transport, int method,
                                               sipflow_duration interval) {
  sipflow_keepalive_endpoint ep;
  char host[32];
  sipflow_keepalive_endpoint_default(&ep);
  ep.flow_id = id;
  ep.tuple.transport = (uint8_t)transport;
  sipflow_addr_parse(&ep.tuple.local, "192.0.2.1", 5060);
  snprintf(host, sizeof(host), "198.51.%u.%u", (unsigned)(id >> 8 & 255),
           (unsigned)(id & 255));
  sipflow_addr_parse(&ep.tuple.remote, host, (uint16_t)(10000 + id % 50000));
  ep.tuple.generation = transport == SIPFLOW_TRANSPORT_UDP ? 0 : 7;
  ep.method = (uint8_t)method;
  ep.interval = interval;
  ep.user_data = (void *)(uintptr_t)id;
  return ep;
}

static inline void ka_step(void) {
  sipflow_tstamp t = sipflow_ctx_get_expiry(ctx);
  cr_assert_neq(t, SIPFLOW_TSTAMP_NONE, "nothing scheduled");
  if (t > now)
    now = t;
  cr_assert_eq(sipflow_ctx_handle_expiry(ctx, now), 0);
  cr_assert_gt(sipflow_ctx_get_expiry(ctx), now);
}

static inline void ka_run_until(sipflow_tstamp t) {
  while (sipflow_ctx_get_expiry(ctx) <= t)
    ka_step();
  now = t;
  cr_assert_eq(sipflow_ctx_handle_expiry(ctx, now), 0);
}

static inline const ka_send *ka_last_send(void) {
  cr_assert_gt(R.nsends, 0);
  return &R.sends[(R.nsends - 1) % KA_MAX_SENDS];
}

#endif
