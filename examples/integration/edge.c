/*
 * An RFC 5626 edge proxy over UDP, in front of a registrar
 * (docs/integration/edge-proxy.md).
 *
 * Every UA address is a flow in libsipflow's flow table. A REGISTER from a
 * UA with reg-id gets a Path with the flow's token and ;ob; a request
 * coming back with that token in its Route goes out over the flow, or gets
 * 403 (forged) or 430 (flow gone). The edge watches Outbound flows
 * passively against the Flow-Timer it adds to the 200 (RFC 5626 §4.4, §5.4)
 * and ends a flow whose UA falls silent, which makes its tokens stale.
 * Stateless otherwise: responses follow the Vias.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>

#include "selftest.h"
#include "sip.h"

#define BRANCH "z9hG4bKsfe" /* our Via branches: BRANCH.<flow>.<hash> */

typedef struct edge {
  host *h;
  host_udp *sock;
  sipflow_addr registrar;
  uint32_t flow_timer; /* seconds, told to Outbound UAs */
  uint32_t grace_ms;   /* how late a UA's keepalive may be */
  sipflow_ctx *ctx;
  sipflow_keyring *keys;
  sipflow_flow_table *flows;
  sipflow_keepalive *ka;
  st_runner *st;
} edge;

/* ---- flows and keepalives ------------------------------------------------ */

/* The UDP flow (our socket, the peer's address), made on first sight. */
static sipflow_flow_id udp_flow(edge *e, const sipflow_addr *remote) {
  sipflow_flow_tuple t = {.transport = SIPFLOW_TRANSPORT_UDP};
  sipflow_flow_id id = 0;
  t.local = *host_udp_local(e->sock);
  t.remote = *remote;
  if (sipflow_flow_find(e->flows, &t, &id) != 0)
    sipflow_flow_add(e->flows, &t, 0, host_now(), &id);
  return id;
}

/* A flow ended: its tokens are stale from now on, and its watch goes. */
static void on_flow_failed(sipflow_flow_table *ft, const sipflow_flow_info *f,
                           int reason, void *ud) {
  edge *e = ud;
  (void)ft;
  fprintf(stderr, "edge: flow %" PRIu64 " ended (%s)\n", f->id,
          sipflow_flow_end_reason_name(reason));
  sipflow_keepalive_remove(e->ka, f->id, host_now());
  st_event(e->st);
}

/* Passive endpoints send nothing; the callback is required all the same. */
static int send_probe(sipflow_keepalive *ka, sipflow_flow_id flow,
                      const sipflow_keepalive_probe *probe, void *ud,
                      void *ep_ud) {
  (void)ka, (void)flow, (void)probe, (void)ud, (void)ep_ud;
  return 0;
}

/* The UA fell silent past Flow-Timer and the grace: the flow has failed. */
static void on_state(sipflow_keepalive *ka, sipflow_flow_id flow,
                     const sipflow_keepalive_state_change *c, void *ud,
                     void *ep_ud) {
  edge *e = ud;
  (void)ka, (void)ep_ud;
  if (c->event == SIPFLOW_KEEPALIVE_DEAD)
    sipflow_flow_end(e->flows, flow, SIPFLOW_FLOW_END_KEEPALIVE_TIMEOUT,
                     host_now());
}

/* ---- requests ------------------------------------------------------------ */

/* Where the request goes when no token sends it over a flow. */
static int next_hop(edge *e, msg_t *msg, const sipflow_addr *from,
                    sipflow_addr *to) {
  sip_t *sip = sip_object(msg);
  if (sip->sip_route) /* loose routing (RFC 3261 §16.12) */
    return sip_url_addr(sip->sip_route->r_url, to);
  if (sipflow_addr_equal(from, &e->registrar)) /* from the home proxy */
    return sip_url_addr(sip->sip_request->rq_url, to);
  *to = e->registrar; /* from a UA: to its home proxy */
  return 0;
}

/* Adds the token of |flow| as a Path (|path|) or Record-Route value. */
static int add_token(edge *e, msg_t *msg, sipflow_flow_id flow, int path,
                     int ob) {
  return sip_add_token(
      msg, e->flows, flow, host_udp_local(e->sock),
      path ? SIPFLOW_EDGE_HEADER_PATH : SIPFLOW_EDGE_HEADER_RECORD_ROUTE, ob);
}

/* Watch an Outbound flow once the registrar accepts it (reason_confirm in
 * on_response): the UA sends the keepalives, the edge notices silence. */
static void watch_flow(edge *e, sipflow_flow_id flow,
                       const sipflow_addr *from) {
  sipflow_keepalive_endpoint ep;
  sipflow_keepalive_endpoint_default(&ep);
  ep.flow_id = flow;
  ep.tuple.transport = SIPFLOW_TRANSPORT_UDP;
  ep.tuple.local = *host_udp_local(e->sock);
  ep.tuple.remote = *from;
  ep.method = SIPFLOW_KEEPALIVE_PASSIVE;
  ep.interval = e->flow_timer * SIPFLOW_SECONDS;
  sipflow_keepalive_reason_open(e->ka, &ep, SIPFLOW_KEEPALIVE_REGISTRATION,
                                flow, 0, host_now());
}

/* Decides, edits and picks the next hop: 0, or a SIP status to answer. */
static int route(edge *e, msg_t *msg, sipflow_flow_id flow,
                 const sipflow_addr *from, sipflow_addr *to) {
  sipflow_edge_facts f;
  sipflow_edge_decision d;
  sipflow_flow_info out;
  sip_edge_facts(msg, e->flows, host_udp_local(e->sock), flow, from, &f);
  if (sipflow_edge_decide(&f, &d) != 0)
    return 500;
  if (d.action == SIPFLOW_EDGE_REJECT) { /* 403 forged, 430 gone, 421 */
    fprintf(stderr, "edge: %d: %s\n", d.status,
            sipflow_edge_reason_str(d.reason));
    return d.status;
  }
  if (f.route_is_us)
    sip_pop_route(msg); /* our own Route value is consumed */
  switch (d.action) {
  case SIPFLOW_EDGE_ADD_TOKEN_OB:
  case SIPFLOW_EDGE_ADD_TOKEN:
    if (add_token(e, msg, d.flow, d.header == SIPFLOW_EDGE_HEADER_PATH,
                  d.action == SIPFLOW_EDGE_ADD_TOKEN_OB) != 0)
      return 500;
    if (d.action == SIPFLOW_EDGE_ADD_TOKEN_OB)
      watch_flow(e, flow, from);
    break;
  case SIPFLOW_EDGE_ROUTE_FLOW: /* to the UA, over the flow of the token */
    if (sipflow_flow_get(e->flows, d.flow, &out) != 0)
      return 430;
    if (d.record_route && add_token(e, msg, d.flow, 0, 0) != 0)
      return 500;
    *to = out.tuple.remote;
    return 0;
  default:
    break;
  }
  return next_hop(e, msg, from, to) == 0 ? 0 : 404;
}

static void on_request(edge *e, msg_t *msg, sipflow_flow_id flow,
                       const sipflow_addr *from) {
  sip_t *sip = sip_object(msg);
  const char *ua_branch =
      sip->sip_via && sip->sip_via->v_branch ? sip->sip_via->v_branch : "";
  sipflow_addr to;
  char branch[96];
  int status = route(e, msg, flow, from, &to);
  if (status == 0) {
    /* The arrival flow rides in our branch so that the answer finds it;
     * hashing the UA's branch keeps ours the same for a retransmission. */
    snprintf(branch, sizeof(branch), BRANCH ".%" PRIu64 ".%lx", flow,
             (unsigned long)msg_hash_string(ua_branch));
    status = sip_forward_prepare(msg, host_udp_local(e->sock), branch);
  }
  if (status == 0)
    sip_send(e->sock, &to, msg);
  else
    sip_reply(e->sock, from, msg, status,
              status == 421 ? "Require: path\r\n" : NULL);
}

/* ---- responses ----------------------------------------------------------- */

/* The largest expires among the Contacts of a 200 to REGISTER. */
static uint32_t granted(sip_t *sip) {
  unsigned long best = 0;
  for (sip_contact_t *m = sip->sip_contact; m; m = m->m_next) {
    unsigned long v = m->m_expires ? strtoul(m->m_expires, NULL, 10) : 0;
    best = v > best ? v : best;
  }
  if (!best && sip->sip_expires)
    best = sip->sip_expires->ex_delta;
  return (uint32_t)best;
}

static void on_response(edge *e, msg_t *msg) {
  sip_t *sip = sip_object(msg);
  char buf[96], ft[32];
  const char *branch;
  sipflow_flow_id flow = 0;
  sipflow_flow_info in;
  sipflow_addr to;
  int status = sip->sip_status->st_status;

  branch =
      sip_pop_own_via(msg, host_udp_local(e->sock), BRANCH, buf, sizeof(buf));
  if (!branch)
    return; /* not through us: drop */
  sscanf(branch + strlen(BRANCH), ".%" SCNu64, &flow);
  if (flow && sip->sip_cseq &&
      sip->sip_cseq->cs_method == sip_method_register && status >= 200) {
    /* Outbound in use (Require: outbound): the UA keeps the flow alive and
     * must hear how often (RFC 5626 §5.4); the edge watches for it. */
    int ob = status < 300 && sip_has_feature(sip->sip_require, "outbound");
    uint32_t secs = ob ? granted(sip) : 0;
    sipflow_keepalive_reason_confirm(
        e->ka, flow, SIPFLOW_KEEPALIVE_REGISTRATION, flow, (unsigned)status,
        secs * SIPFLOW_SECONDS, host_now());
    if (ob && sipflow_sofia_flow_timer(sip, &(uint32_t){0}) != 0) {
      snprintf(ft, sizeof(ft), "Flow-Timer: %u\r\n", (unsigned)e->flow_timer);
      sip_add_header(msg, ft);
    }
  }
  /* Back over the flow the request came on: where the UA really is, even
   * behind a NAT that rewrote its address. Else by the Via. */
  if (flow && sipflow_flow_get(e->flows, flow, &in) == 0)
    to = in.tuple.remote;
  else if (sip_via_addr(msg, &to) != 0)
    return;
  sip_send(e->sock, &to, msg);
}

/* ---- what arrives -------------------------------------------------------- */

static void on_datagram(host_udp *sock, const sipflow_addr *from,
                        const uint8_t *data, size_t len, void *arg) {
  edge *e = arg;
  uint8_t answer[SIPFLOW_STUN_MAX_LEN];
  size_t alen;
  sipflow_flow_tuple t = {.transport = SIPFLOW_TRANSPORT_UDP};
  sipflow_flow_id flow;
  msg_t *msg;

  switch (sipflow_datagram_classify(data, len)) {
  case SIPFLOW_DATAGRAM_STUN: /* RFC 5626 §8: a STUN server on the SIP port */
    if (sipflow_stun_respond(data, len, from, answer, sizeof(answer), &alen))
      return; /* not a Binding request: dropped */
    host_udp_send(sock, from, answer, alen);
    /* The UA's keepalive: it restarts the watch of its flow. */
    t.local = *host_udp_local(sock);
    t.remote = *from;
    if (sipflow_flow_find(e->flows, &t, &flow) == 0)
      sipflow_keepalive_on_peer_keepalive(e->ka, flow, host_now());
    return;
  case SIPFLOW_DATAGRAM_SIP:
    break;
  default: /* CRLF and NAT pings on UDP: nothing to answer */
    return;
  }
  if (!(msg = sip_parse(data, len)))
    return; /* malformed: dropped */
  flow = udp_flow(e, from);
  if (sip_object(msg)->sip_request)
    on_request(e, msg, flow, from);
  else
    on_response(e, msg);
  msg_destroy(msg);
}

/* ---- set-up -------------------------------------------------------------- */

static int setup(edge *e, const sipflow_addr *listen) {
  sipflow_flow_callbacks fcb = {on_flow_failed};
  sipflow_keepalive_callbacks kcb = {.send_probe = send_probe,
                                     .on_state = on_state};
  sipflow_keepalive_settings ks;
  sipflow_keepalive_settings_default(&ks);
  ks.passive_grace = e->grace_ms * SIPFLOW_MILLISECONDS;
  if (host_ctx_new(e->h, &e->ctx, SIPFLOW_LOG_WARN, e) != 0 ||
      keys_new(&e->keys, e->ctx) != 0 ||
      sipflow_flow_table_new(&e->flows, e->ctx, e->keys, &fcb, NULL, e) != 0 ||
      sipflow_keepalive_new(&e->ka, e->ctx, &kcb, &ks, e) != 0 ||
      host_timer_start(e->h, e->ctx) != 0 ||
      host_udp_bind(e->h, listen, on_datagram, e, &e->sock) != 0)
    return -1;
  return 0;
}

/* The selftest: a UA (P0) registers through the edge with a fake
 * registrar (P1), is called back over its flow, a forged token is refused,
 * STUN is answered, and once the UA falls silent its token gets 430. */
static const st_step script[] = {
    ST_SEND(
        0, ST_APP,
        "REGISTER sip:example.com SIP/2.0\n"
        "Via: SIP/2.0/UDP $P0;branch=z9hG4bKr1;rport\nMax-Forwards: 70\n"
        "From: <sip:alice@example.com>;tag=a\nTo: <sip:alice@example.com>\n"
        "Call-ID: reg1@test\nCSeq: 1 REGISTER\n"
        "Supported: outbound, path\nContact: <sip:alice@$P0;ob>;reg-id=1;"
        "+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-0000000000a1>\"\n"
        "Expires: 600\n"),
    /* Path with the flow's token and ;ob (RFC 5626 §5.1) */
    ST_EXPECT(1, "REGISTER ", .has = {"Path: <sip:", ";lr;ob>"},
              .capture = "Path"),
    ST_REPLY(1, "200 OK",
             .extra = "Require: outbound\n"
                      "Contact: <sip:alice@$P0;ob>;reg-id=1;expires=600\n"),
    ST_EXPECT(0, "SIP/2.0 200", .has = {"Flow-Timer: 1", "Require: outbound"}),
    /* the registrar routes a call to the binding through its Path */
    ST_SEND(1, ST_APP,
            "INVITE sip:alice@$P0;ob SIP/2.0\n"
            "Via: SIP/2.0/UDP $P1;branch=z9hG4bKi1\nMax-Forwards: 70\n"
            "Route: $C0\nFrom: <sip:bob@example.com>;tag=b\n"
            "To: <sip:alice@example.com>\nCall-ID: call1@test\n"
            "CSeq: 1 INVITE\nContact: <sip:bob@$P1>\n"),
    ST_EXPECT(0, "INVITE sip:alice@", .has = {"Record-Route: <sip:$T0@"},
              .lacks = "\r\nRoute:"),
    ST_REPLY(0, "200 OK", .extra = "Contact: <sip:alice@$P0;ob>\n"),
    ST_EXPECT(1, "SIP/2.0 200"),
    /* a forged token: 403 (RFC 5626 §5.3.1) */
    ST_SEND(1, ST_APP,
            "INVITE sip:alice@$P0;ob SIP/2.0\n"
            "Via: SIP/2.0/UDP $P1;branch=z9hG4bKi2\nMax-Forwards: 70\n"
            "Route: <sip:$X0@$APP;lr;ob>\nFrom: <sip:bob@example.com>;tag=b2\n"
            "To: <sip:alice@example.com>\nCall-ID: call2@test\n"
            "CSeq: 1 INVITE\n"),
    ST_EXPECT(1, "SIP/2.0 403"),
    /* STUN on the SIP port (RFC 5626 §8) */
    ST_STUN_SEND(0, ST_APP),
    ST_STUN_EXPECT(0),
    /* the UA falls silent: the edge ends its flow... */
    ST_WAIT_EVENTS(1),
    /* ... and its token now gets 430 Flow Failed (RFC 5626 §5.3.1) */
    ST_SEND(1, ST_APP,
            "INVITE sip:alice@$P0;ob SIP/2.0\n"
            "Via: SIP/2.0/UDP $P1;branch=z9hG4bKi3\nMax-Forwards: 70\n"
            "Route: $C0\nFrom: <sip:bob@example.com>;tag=b3\n"
            "To: <sip:alice@example.com>\nCall-ID: call3@test\n"
            "CSeq: 1 INVITE\n"),
    ST_EXPECT(1, "SIP/2.0 430"),
    ST_END,
};

static void usage(void) {
  fprintf(stderr,
          "usage: edge --listen HOST:PORT --registrar HOST:PORT "
          "[--flow-timer S] [--grace-ms MS]\n            [--run-ms MS]\n"
          "       edge --selftest\n");
}

int main(int argc, char **argv) {
  edge e = {.flow_timer = 25, .grace_ms = 10000};
  sipflow_addr listen;
  uint64_t run_ms = 0;
  int testing = 0, have_listen = 0, have_reg = 0, rv = 0;
  for (int i = 1; i < argc; i++) {
    const char *opt = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(opt, "--selftest")) {
      testing = 1;
      continue;
    }
    if (!v) {
      usage();
      return 2;
    }
    i++;
    if (!strcmp(opt, "--listen"))
      have_listen = sip_parse_hostport(v, &listen) == 0;
    else if (!strcmp(opt, "--registrar"))
      have_reg = sip_parse_hostport(v, &e.registrar) == 0;
    else if (!strcmp(opt, "--grace-ms"))
      e.grace_ms = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(opt, "--flow-timer"))
      e.flow_timer = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(opt, "--run-ms"))
      run_ms = strtoull(v, NULL, 10);
    else
      have_listen = 0; /* unknown option: usage */
  }
  if (host_new(&e.h) != 0)
    return 1;
  if (testing) {
    sipflow_addr_parse(&listen, "127.0.0.1", 0);
    if (st_new(&e.st, e.h, 2) != 0)
      return 1;
    e.registrar = *st_peer(e.st, 1);
    e.flow_timer = 1;
    e.grace_ms = 500;
    run_ms = 10000;
  } else if (!have_listen || !have_reg || e.flow_timer == 0) {
    usage();
    return 2;
  }
  if (setup(&e, &listen) != 0) {
    fprintf(stderr, "edge: cannot start\n");
    rv = 1;
  } else {
    char a[64], r[64];
    fprintf(stderr, "edge on %s (%s), registrar %s\n",
            sip_hostport(host_udp_local(e.sock), a, sizeof(a)),
            host_loop_name(), sip_hostport(&e.registrar, r, sizeof(r)));
    if (e.st)
      st_start(e.st, host_udp_local(e.sock), script, NULL, NULL);
    host_run(e.h, run_ms);
  }
  if (e.st)
    rv = st_finish(e.st);
  /* Objects before the host (it closes their timer), the context last. */
  sipflow_keepalive_del(e.ka);
  sipflow_flow_table_del(e.flows);
  sipflow_keyring_del(e.keys);
  host_del(e.h);
  sipflow_ctx_del(e.ctx);
  return rv;
}
