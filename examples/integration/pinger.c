/*
 * A keepalive-only host (docs/integration/keepalive-host.md): it pings a
 * list of contacts with SIP OPTIONS (or STUN, or nathelper's 4-byte UDP
 * ping), prints every round-trip time and every change of health, and at
 * the end each contact's figures: what usrloc's ka_mode and nathelper's
 * natping do for Kamailio, here for any host with a contact list.
 *
 * libsipflow's keepalive scheduler does the work: it spreads the probes
 * (each wait 80-100% of the interval), builds the OPTIONS and STUN
 * requests, matches the answers by an unguessable probe id, measures the
 * RTT (last, smoothed, variation, min, max) and counts the misses. This
 * program carries bytes between it and one UDP socket.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/sip_protos.h>

#include "selftest.h"
#include "sip.h"

#define MAX_CONTACTS 64
#define LIFETIME (365ull * 24 * 3600 * SIPFLOW_SECONDS) /* until we stop */

typedef struct pinger {
  host *h;
  host_udp *sock;
  sipflow_addr contact[MAX_CONTACTS]; /* flow id i + 1 */
  uint64_t rtts[MAX_CONTACTS];        /* samples reported */
  int n, method;
  sipflow_keepalive_settings ks;
  sipflow_duration interval;
  sipflow_ctx *ctx;
  sipflow_keepalive *ka;
  st_runner *st;
} pinger;

static const char *name_of(pinger *p, sipflow_flow_id flow, char *buf,
                           size_t len) {
  return sip_hostport(&p->contact[flow - 1], buf, len);
}

/* ---- the scheduler's callbacks ------------------------------------------- */

static int send_probe(sipflow_keepalive *ka, sipflow_flow_id flow,
                      const sipflow_keepalive_probe *probe, void *ud,
                      void *ep_ud) {
  pinger *p = ud;
  (void)ka, (void)ep_ud;
  /* probe->data is ready to send: the OPTIONS request, the STUN Binding
   * request or the four zero bytes. Nonzero counts as a miss at once. */
  return host_udp_send(p->sock, &p->contact[flow - 1], probe->data, probe->len);
}

static void on_rtt(sipflow_keepalive *ka, sipflow_flow_id flow,
                   sipflow_duration rtt, void *ud, void *ep_ud) {
  pinger *p = ud;
  sipflow_keepalive_stats st;
  char who[64];
  (void)ep_ud;
  sipflow_keepalive_get_stats(ka, flow, &st);
  printf("reply from %s: rtt=%.3f ms srtt=%.3f ms\n",
         name_of(p, flow, who, sizeof(who)), (double)rtt / 1e6,
         (double)st.srtt / 1e6);
  p->rtts[flow - 1]++;
  st_poke(p->st);
}

static void on_state(sipflow_keepalive *ka, sipflow_flow_id flow,
                     const sipflow_keepalive_state_change *c, void *ud,
                     void *ep_ud) {
  static const char *const health[] = {"unknown", "alive", "suspect", "dead"};
  pinger *p = ud;
  char who[64];
  (void)ka, (void)ep_ud;
  printf("%s: %s -> %s (%u missed in a row)\n",
         name_of(p, flow, who, sizeof(who)), health[c->old_health & 3],
         health[c->health & 3], (unsigned)c->consecutive_misses);
  st_poke(p->st);
}

/* ---- answers ------------------------------------------------------------- */

static void on_datagram(host_udp *sock, const sipflow_addr *from,
                        const uint8_t *data, size_t len, void *arg) {
  pinger *p = arg;
  msg_t *msg;
  sip_t *sip;
  uint64_t probe;
  (void)sock, (void)from;
  switch (sipflow_datagram_classify(data, len)) {
  case SIPFLOW_DATAGRAM_STUN: /* matched by transaction id */
    sipflow_keepalive_on_stun(p->ka, 0, data, len, host_now());
    return;
  case SIPFLOW_DATAGRAM_SIP:
    break;
  default:
    return;
  }
  if (!(msg = sip_parse(data, len)))
    return;
  sip = sip_object(msg);
  /* The probe id rides in the Via branch (and the From tag): no state per
   * probe here, and a forged answer does not match. */
  if (sip->sip_status && sip->sip_via && sip->sip_via->v_branch &&
      sipflow_keepalive_probe_id_parse(
          sip->sip_via->v_branch, strlen(sip->sip_via->v_branch), &probe) == 0)
    sipflow_keepalive_on_options_response(
        p->ka, probe, (unsigned)sip->sip_status->st_status, host_now());
  msg_destroy(msg);
}

/* ---- set-up and the figures at the end ----------------------------------- */

static int setup(pinger *p, const sipflow_addr *bind_to) {
  sipflow_keepalive_callbacks cb = {send_probe, on_rtt, on_state, NULL};
  if (host_ctx_new(p->h, &p->ctx, SIPFLOW_LOG_WARN, p) != 0 ||
      sipflow_keepalive_new(&p->ka, p->ctx, &cb, &p->ks, p) != 0 ||
      host_timer_start(p->h, p->ctx) != 0 ||
      host_udp_bind(p->h, bind_to, on_datagram, p, &p->sock) != 0)
    return -1;
  for (int i = 0; i < p->n; i++) {
    sipflow_keepalive_endpoint ep;
    sipflow_keepalive_endpoint_default(&ep);
    ep.flow_id = (sipflow_flow_id)i + 1;
    ep.tuple.transport = SIPFLOW_TRANSPORT_UDP;
    ep.tuple.local = *host_udp_local(p->sock);
    ep.tuple.remote = p->contact[i];
    ep.method = (uint8_t)p->method;
    ep.interval = p->interval;
    /* One reason, as long as we run. A registrar would give one per
     * binding, with the binding's lifetime. */
    if (sipflow_keepalive_reason_set(p->ka, &ep, SIPFLOW_KEEPALIVE_OTHER, 1,
                                     LIFETIME, host_now()) != 0)
      return -1;
  }
  return 0;
}

static void figures(pinger *p) {
  printf("%-22s %6s %6s %6s %9s %9s %9s %9s\n", "contact", "sent", "answer",
         "missed", "last ms", "srtt ms", "min ms", "max ms");
  for (int i = 0; i < p->n; i++) {
    sipflow_keepalive_stats st;
    char who[64];
    if (sipflow_keepalive_get_stats(p->ka, (sipflow_flow_id)i + 1, &st) != 0)
      continue;
    printf("%-22s %6u %6u %6u %9.3f %9.3f %9.3f %9.3f\n",
           sip_hostport(&p->contact[i], who, sizeof(who)),
           (unsigned)st.probes_sent, (unsigned)st.probes_answered,
           (unsigned)st.probes_missed, (double)st.last_rtt / 1e6,
           (double)st.srtt / 1e6, (double)st.min_rtt / 1e6,
           (double)st.max_rtt / 1e6);
  }
}

/* The selftest: P0 answers two OPTIONS, P1 never answers. */
static const st_step script[] = {
    ST_EXPECT(0, "OPTIONS sip:", .has = {"Via: SIP/2.0/UDP", ";rport"}),
    ST_REPLY(0, "200 OK"),
    ST_EXPECT(0, "OPTIONS sip:"),
    ST_REPLY(0, "200 OK"),
    ST_END, /* done() below: two RTTs from P0, P1 dead */
};

static int two_rtts_one_dead(void *arg) {
  pinger *p = arg;
  sipflow_keepalive_stats st;
  return p->rtts[0] >= 2 && sipflow_keepalive_get_stats(p->ka, 2, &st) == 0 &&
         st.health == SIPFLOW_HEALTH_DEAD;
}

static void usage(void) {
  fprintf(stderr,
          "usage: pinger [--bind HOST:PORT] [--method options|stun|udp4]\n"
          "              [--interval S] [--timeout MS] [--misses N] "
          "[--run-ms MS] HOST:PORT...\n"
          "       pinger --selftest\n");
}

int main(int argc, char **argv) {
  pinger p = {.method = SIPFLOW_KEEPALIVE_OPTIONS};
  sipflow_addr bind_to;
  uint64_t run_ms = 0;
  int testing = 0, bad = 0, rv = 0;
  sipflow_keepalive_settings_default(&p.ks);
  p.interval = 30 * SIPFLOW_SECONDS;
  sipflow_addr_parse(&bind_to, "0.0.0.0", 0);
  for (int i = 1; i < argc && !bad; i++) {
    const char *opt = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(opt, "--selftest")) {
      testing = 1;
      continue;
    }
    if (opt[0] != '-') { /* a contact */
      bad = p.n == MAX_CONTACTS || sip_parse_hostport(opt, &p.contact[p.n++]);
      continue;
    }
    if (!v) {
      bad = 1;
      break;
    }
    i++;
    if (!strcmp(opt, "--bind"))
      bad = sip_parse_hostport(v, &bind_to) != 0;
    else if (!strcmp(opt, "--method"))
      p.method = !strcmp(v, "stun")   ? SIPFLOW_KEEPALIVE_STUN
                 : !strcmp(v, "udp4") ? SIPFLOW_KEEPALIVE_UDP_PING
                                      : SIPFLOW_KEEPALIVE_OPTIONS;
    else if (!strcmp(opt, "--interval"))
      p.interval = (sipflow_duration)(atof(v) * 1e9);
    else if (!strcmp(opt, "--timeout"))
      p.ks.options_timeout = strtoull(v, NULL, 10) * SIPFLOW_MILLISECONDS;
    else if (!strcmp(opt, "--misses"))
      p.ks.dead_after = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(opt, "--run-ms"))
      run_ms = strtoull(v, NULL, 10);
    else
      bad = 1;
  }
  if (bad || (!testing && p.n == 0)) {
    usage();
    return 2;
  }
  if (host_new(&p.h) != 0)
    return 1;
  if (testing) {
    sipflow_addr_parse(&bind_to, "127.0.0.1", 0);
    p.interval = 500 * SIPFLOW_MILLISECONDS;
    p.ks.options_timeout = 200 * SIPFLOW_MILLISECONDS;
    p.ks.dead_after = 2;
    run_ms = 10000;
    if (st_new(&p.st, p.h, 2) != 0)
      return 1;
    p.contact[0] = *st_peer(p.st, 0);
    p.contact[1] = *st_peer(p.st, 1);
    p.n = 2;
  }
  if (setup(&p, &bind_to) != 0) {
    fprintf(stderr, "pinger: cannot start\n");
    rv = 1;
  } else {
    if (p.st)
      st_start(p.st, host_udp_local(p.sock), script, two_rtts_one_dead, &p);
    host_run(p.h, run_ms);
    figures(&p);
  }
  if (p.st)
    rv = st_finish(p.st);
  sipflow_keepalive_del(p.ka);
  host_del(p.h);
  sipflow_ctx_del(p.ctx);
  return rv;
}
