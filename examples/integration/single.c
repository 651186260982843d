/*
 * A single server: edge proxy and registrar in one process, over UDP
 * (docs/integration/single-server.md). The three pillars together:
 *
 *   flow table   every UA address is a flow with an id and a token;
 *   registrar    a REGISTER straight from the UA binds to its arrival flow
 *                (no Path needed), Outbound bindings get Flow-Timer;
 *   keepalive    Outbound flows are watched passively, other contacts
 *                pinged with OPTIONS; RTTs and health go to the registrar
 *                so that target plans try healthy flows first, and a dead
 *                flow ends, which removes every binding on it.
 *
 * A call to an AoR forks over the target plan straight onto the flows,
 * Record-Routing with the tokens of both flows, so in-dialog requests from
 * either side follow the flows by token.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/sip_protos.h>

#include "fork.h"
#include "selftest.h"
#include "sip.h"

#define BRANCH "z9hG4bKsf"          /* every Via branch of ours */
#define FORK_BRANCH BRANCH "s"      /* ... of a forked branch */
#define STATELESS_BRANCH BRANCH "t" /* ... of a request passed on */
#define RR SIPFLOW_EDGE_HEADER_RECORD_ROUTE

typedef struct single {
  host *h;
  host_udp *sock;
  uint32_t flow_timer, ka_interval; /* seconds */
  sipflow_ctx *ctx;
  sipflow_keyring *keys;
  sipflow_flow_table *flows;
  sipflow_registrar *reg;
  sipflow_keepalive *ka;
  pfork_table forks;
  uint64_t rtts; /* round-trip samples reported */
  st_runner *st;
} single;

static sipflow_flow_id udp_flow(single *s, const sipflow_addr *remote) {
  sipflow_flow_tuple t = {.transport = SIPFLOW_TRANSPORT_UDP};
  sipflow_flow_id id = 0;
  t.local = *host_udp_local(s->sock);
  t.remote = *remote;
  if (sipflow_flow_find(s->flows, &t, &id) != 0)
    sipflow_flow_add(s->flows, &t, 0, host_now(), &id);
  return id;
}

/* ---- the pillars talk through the host ----------------------------------- */

/* A flow ended: every binding on it goes, whatever its AoR (RFC 5626 §7),
 * and so does its keepalive endpoint. */
static void on_flow_failed(sipflow_flow_table *ft, const sipflow_flow_info *f,
                           int reason, void *ud) {
  single *s = ud;
  (void)ft;
  fprintf(stderr, "single: flow %" PRIu64 " ended (%s)\n", f->id,
          sipflow_flow_end_reason_name(reason));
  sipflow_registrar_flow_failed(s->reg, f->id, host_now());
  sipflow_keepalive_remove(s->ka, f->id, host_now());
}

/* Each binding is one reason to keep its flow alive, for as long as it
 * lasts; the scheduler sends one keepalive per flow whatever the count. */
static void on_change(sipflow_registrar *reg, sipflow_reg_change change,
                      const sipflow_reg_binding *b, void *ud) {
  single *s = ud;
  sipflow_keepalive_endpoint ep;
  (void)reg;
  if (!b->flow_id)
    return;
  if (change == SIPFLOW_REG_REMOVED || change == SIPFLOW_REG_EXPIRED ||
      change == SIPFLOW_REG_FLOW_FAILED) {
    sipflow_keepalive_reason_end(
        s->ka, b->flow_id, SIPFLOW_KEEPALIVE_REGISTRATION, b->id, host_now());
    return;
  }
  sipflow_keepalive_endpoint_default(&ep);
  ep.flow_id = b->flow_id;
  ep.tuple = b->flow;
  /* An Outbound UA keeps its own flow alive within Flow-Timer; a phone
   * without Outbound is asked whether it is there. */
  ep.method =
      b->outbound ? SIPFLOW_KEEPALIVE_PASSIVE : SIPFLOW_KEEPALIVE_OPTIONS;
  ep.interval =
      (b->outbound ? s->flow_timer : s->ka_interval) * SIPFLOW_SECONDS;
  sipflow_keepalive_reason_set(s->ka, &ep, SIPFLOW_KEEPALIVE_REGISTRATION,
                               b->id, b->expires * SIPFLOW_SECONDS, host_now());
}

static int send_probe(sipflow_keepalive *ka, sipflow_flow_id flow,
                      const sipflow_keepalive_probe *probe, void *ud,
                      void *ep_ud) {
  single *s = ud;
  sipflow_flow_info f;
  (void)ka, (void)ep_ud;
  if (sipflow_flow_get(s->flows, flow, &f) != 0)
    return -1; /* counted as a miss at once */
  return host_udp_send(s->sock, &f.tuple.remote, probe->data, probe->len);
}

static void on_rtt(sipflow_keepalive *ka, sipflow_flow_id flow,
                   sipflow_duration rtt, void *ud, void *ep_ud) {
  single *s = ud;
  (void)ka, (void)ep_ud;
  fprintf(stderr, "single: flow %" PRIu64 " rtt %.3f ms\n", flow,
          (double)rtt / 1e6);
  s->rtts++;
  st_poke(s->st);
}

/* Health steers target plans; a dead flow has failed (RFC 5626 §4.4). */
static void on_state(sipflow_keepalive *ka, sipflow_flow_id flow,
                     const sipflow_keepalive_state_change *c, void *ud,
                     void *ep_ud) {
  single *s = ud;
  (void)ka, (void)ep_ud;
  sipflow_registrar_flow_health(s->reg, flow, (sipflow_flow_health)c->health,
                                host_now());
  if (c->event == SIPFLOW_KEEPALIVE_DEAD)
    sipflow_flow_end(s->flows, flow, SIPFLOW_FLOW_END_KEEPALIVE_TIMEOUT,
                     host_now());
}

/* ---- REGISTER ------------------------------------------------------------ */

static void on_register(single *s, msg_t *msg, sipflow_flow_id flow,
                        const sipflow_addr *from) {
  sipflow_sofia_register facts;
  const sipflow_reg_result *res = NULL;
  char extra[4096];
  sipflow_flow_tuple arrival = {.transport = SIPFLOW_TRANSPORT_UDP};
  int rv;
  arrival.local = *host_udp_local(s->sock);
  arrival.remote = *from;
  /* Straight from the UA the binding is reached over the arrival flow
   * (RFC 5626 §6): the adapter applies the rule. */
  rv = sipflow_sofia_register_facts(&facts, msg, s->flows, flow, &arrival);
  if (rv != 0) {
    sip_reply(s->sock, from, msg, rv == SIPFLOW_ERR_TOO_LARGE ? 403 : 400,
              NULL);
    return;
  }
  sipflow_registrar_process(s->reg, &facts.req, host_now(), &res);
  if (!res ||
      sipflow_sofia_register_answer(res, msg, extra, sizeof(extra), NULL)) {
    sip_reply(s->sock, from, msg, 500, NULL);
    return;
  }
  sip_reply(s->sock, from, msg, res->status, extra);
}

/* ---- other requests ------------------------------------------------------ */

static int dialog_forming(msg_t *msg) {
  sip_method_t m = sip_object(msg)->sip_request->rq_method;
  return m == sip_method_invite || m == sip_method_subscribe ||
         m == sip_method_refer;
}

/* A fork branch for binding |b|, straight onto the binding's flow. */
static int target(void *app, uint64_t in_flow, msg_t *copy,
                  const sipflow_reg_binding *b, sipflow_addr *dst) {
  single *s = app;
  const sipflow_addr *us = host_udp_local(s->sock);
  sipflow_flow_info out;
  char uri[600];
  snprintf(uri, sizeof(uri), "%.*s", (int)b->uri.len, b->uri.ptr);
  if (sip_set_request_uri(copy, uri) != 0)
    return 500;
  /* The flow is gone: never a new path to the UA; 430 fails over to the
   * instance's next flow and removes this binding (RFC 5626 §5.3.1, §7). */
  if (!b->flow_id || sipflow_flow_get(s->flows, b->flow_id, &out) != 0)
    return 430;
  /* Two Record-Routes, each naming the flow it faces: in-dialog requests
   * from either side then go out over the other side's flow. */
  if (dialog_forming(copy) &&
      (sip_add_token(copy, s->flows, (sipflow_flow_id)in_flow, us, RR, 0) ||
       sip_add_token(copy, s->flows, b->flow_id, us, RR, 0)))
    return 500;
  *dst = out.tuple.remote;
  return 0;
}

/* Passes a request on without state: over a flow, or by its Route. */
static void pass_on(single *s, msg_t *msg, const sipflow_addr *from,
                    const sipflow_addr *to) {
  sip_t *sip = sip_object(msg);
  char branch[96];
  int status;
  snprintf(branch, sizeof(branch), STATELESS_BRANCH ".%lx",
           (unsigned long)msg_hash_string(sip->sip_via && sip->sip_via->v_branch
                                              ? sip->sip_via->v_branch
                                              : ""));
  status = sip_forward_prepare(msg, host_udp_local(s->sock), branch);
  if (status)
    sip_reply(s->sock, from, msg, status, NULL);
  else
    sip_send(s->sock, to, msg);
}

/* Consumes our own Route values (tokens): 1 if the request was dealt with
 * (rejected or sent over a flow), 0 to route it on. */
static int consume_routes(single *s, msg_t *msg, sipflow_flow_id flow,
                          const sipflow_addr *from) {
  const sipflow_addr *us = host_udp_local(s->sock);
  for (int i = 0; i < 4; i++) {
    sipflow_edge_facts f;
    sipflow_edge_decision d;
    sipflow_flow_info out;
    sip_edge_facts(msg, s->flows, us, flow, from, &f);
    if (sipflow_edge_decide(&f, &d) != 0 || d.action == SIPFLOW_EDGE_REJECT) {
      sip_reply(s->sock, from, msg,
                d.action == SIPFLOW_EDGE_REJECT ? d.status : 500, NULL);
      return 1;
    }
    if (!f.route_is_us)
      return 0;
    sip_pop_route(msg);
    if (d.action != SIPFLOW_EDGE_ROUTE_FLOW)
      continue; /* our Route naming the arrival flow: the next one */
    if (sipflow_flow_get(s->flows, d.flow, &out) != 0)
      sip_reply(s->sock, from, msg, 430, NULL);
    else if (d.record_route && sip_add_token(msg, s->flows, d.flow, us, RR, 0))
      sip_reply(s->sock, from, msg, 500, NULL);
    else
      pass_on(s, msg, from, &out.tuple.remote);
    return 1;
  }
  return 0;
}

static void on_request(single *s, msg_t *msg, sipflow_flow_id flow,
                       const sipflow_addr *from) {
  sip_t *sip = sip_object(msg);
  sipflow_reg_plan *plan = NULL;
  sipflow_addr to;
  char *aor;
  int rv;
  if (sip->sip_request->rq_method == sip_method_register) {
    on_register(s, msg, flow, from);
    return;
  }
  if (sip->sip_request->rq_method == sip_method_cancel) {
    if (pfork_cancel(&s->forks, msg, from) != 0)
      sip_reply(s->sock, from, msg, 481, NULL);
    return;
  }
  if (consume_routes(s, msg, flow, from))
    return;
  if (sip->sip_route) { /* loose routing to the next hop */
    if (sip_url_addr(sip->sip_route->r_url, &to) == 0)
      pass_on(s, msg, from, &to);
    return;
  }
  if (sip->sip_request->rq_method == sip_method_ack)
    return; /* for a non-2xx we sent: ends here */
  aor = url_as_string(msg_home(msg), sip->sip_request->rq_url);
  rv = sipflow_registrar_lookup(s->reg, (sipflow_str){aor, strlen(aor)},
                                host_now(), &plan);
  if (rv != 0) { /* no binding: 480, not registered now */
    sip_reply(s->sock, from, msg, rv == SIPFLOW_ERR_NOT_FOUND ? 480 : 400,
              NULL);
    return;
  }
  pfork_start(&s->forks, plan, msg_dup(msg), from, flow);
}

/* ---- responses and what arrives ------------------------------------------ */

/* Takes |msg|. */
static void on_response(single *s, msg_t *msg) {
  sip_t *sip = sip_object(msg);
  const char *b = sip->sip_via ? sip->sip_via->v_branch : NULL;
  char buf[96];
  uint64_t probe;
  sipflow_addr to;
  if (b && sipflow_keepalive_probe_id_parse(b, strlen(b), &probe) == 0) {
    /* An answer to a keepalive OPTIONS: the probe id is in the branch. */
    sipflow_keepalive_on_options_response(
        s->ka, probe, (unsigned)sip->sip_status->st_status, host_now());
  } else if ((b = sip_pop_own_via(msg, host_udp_local(s->sock), BRANCH, buf,
                                  sizeof(buf))) != NULL) {
    if (!strncmp(b, FORK_BRANCH, strlen(FORK_BRANCH)) &&
        pfork_response(&s->forks, b, msg) == 0)
      return;                        /* the fork took it */
    if (sip_via_addr(msg, &to) == 0) /* passed on without state */
      sip_send(s->sock, &to, msg);
  }
  msg_destroy(msg);
}

static void on_datagram(host_udp *sock, const sipflow_addr *from,
                        const uint8_t *data, size_t len, void *arg) {
  single *s = arg;
  uint8_t answer[SIPFLOW_STUN_MAX_LEN];
  size_t alen;
  sipflow_flow_id flow;
  msg_t *msg;
  switch (sipflow_datagram_classify(data, len)) {
  case SIPFLOW_DATAGRAM_STUN: /* answered on the SIP port (RFC 5626 §8) */
    if (sipflow_stun_respond(data, len, from, answer, sizeof(answer), &alen))
      return;
    host_udp_send(sock, from, answer, alen);
    break; /* and a sign of life of the flow, below */
  case SIPFLOW_DATAGRAM_SIP:
    if (!(msg = sip_parse(data, len)))
      return; /* malformed: dropped */
    flow = udp_flow(s, from);
    if (sip_object(msg)->sip_request) {
      sipflow_keepalive_on_peer_keepalive(s->ka, flow, host_now());
      on_request(s, msg, flow, from);
      msg_destroy(msg);
    } else {
      on_response(s, msg);
    }
    return;
  case SIPFLOW_DATAGRAM_GARBAGE:
    return;
  default: /* CRLF and NAT pings: nothing to answer */
    break;
  }
  flow = udp_flow(s, from);
  sipflow_keepalive_on_peer_keepalive(s->ka, flow, host_now());
}

/* ---- set-up -------------------------------------------------------------- */

static int setup(single *s, const sipflow_addr *listen) {
  sipflow_flow_callbacks fcb = {on_flow_failed};
  sipflow_registrar_callbacks rcb = {on_change, NULL};
  sipflow_keepalive_callbacks kcb = {send_probe, on_rtt, on_state, NULL};
  sipflow_registrar_settings rs;
  sipflow_registrar_settings_default(&rs);
  rs.flow_timer = s->flow_timer; /* we are the first hop */
  if (host_ctx_new(s->h, &s->ctx, SIPFLOW_LOG_WARN, s) != 0 ||
      keys_new(&s->keys, s->ctx) != 0 ||
      sipflow_flow_table_new(&s->flows, s->ctx, s->keys, &fcb, NULL, s) != 0 ||
      sipflow_registrar_new(&s->reg, s->ctx, &rcb, &rs, s) != 0 ||
      sipflow_keepalive_new(&s->ka, s->ctx, &kcb, NULL, s) != 0 ||
      host_timer_start(s->h, s->ctx) != 0 ||
      host_udp_bind(s->h, listen, on_datagram, s, &s->sock) != 0)
    return -1;
  s->forks.sock = s->sock;
  s->forks.prefix = FORK_BRANCH;
  s->forks.target = target;
  s->forks.app = s;
  return 0;
}

/* The selftest: alice (P0, Outbound) and bob (P2, plain) register; carol
 * (P1) calls alice, who answers and hangs up through the Record-Route
 * tokens; a forged token gets 403; bob is pinged with OPTIONS and his RTT
 * measured. */
static const st_step script[] = {
    ST_SEND(
        0, ST_APP,
        "REGISTER sip:example.com SIP/2.0\n"
        "Via: SIP/2.0/UDP $P0;branch=z9hG4bKa1;rport\nMax-Forwards: 70\n"
        "From: <sip:alice@example.com>;tag=a\nTo: <sip:alice@example.com>\n"
        "Call-ID: a@test\nCSeq: 1 REGISTER\nSupported: outbound, path\n"
        "Contact: <sip:alice@$P0;ob>;reg-id=1;"
        "+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-0000000000a1>\"\n"
        "Expires: 600\n"),
    ST_EXPECT(0, "SIP/2.0 200",
              .has = {"Require: outbound", "Flow-Timer: 25", "reg-id=1"}),
    ST_SEND(2, ST_APP,
            "REGISTER sip:example.com SIP/2.0\n"
            "Via: SIP/2.0/UDP $P2;branch=z9hG4bKb1;rport\nMax-Forwards: 70\n"
            "From: <sip:bob@example.com>;tag=b\nTo: <sip:bob@example.com>\n"
            "Call-ID: b@test\nCSeq: 1 REGISTER\nContact: <sip:bob@$P2>\n"
            "Expires: 600\n"),
    ST_EXPECT(2, "SIP/2.0 200", .lacks = "Require: outbound"),
    ST_SEND(1, ST_APP,
            "INVITE sip:alice@example.com SIP/2.0\n"
            "Via: SIP/2.0/UDP $P1;branch=z9hG4bKc1;rport\nMax-Forwards: 70\n"
            "From: <sip:carol@example.com>;tag=c\n"
            "To: <sip:alice@example.com>\nCall-ID: call@test\n"
            "CSeq: 1 INVITE\nContact: <sip:carol@$P1>\n"),
    ST_EXPECT(1, "SIP/2.0 100"),
    /* over alice's flow, Record-Routed with both flows' tokens */
    ST_EXPECT(0, "INVITE sip:alice@", .has = {"Record-Route: <sip:"},
              .capture = "Record-Route"),
    ST_REPLY(0, "200 OK", .extra = "Contact: <sip:alice@$P0;ob>\n"),
    ST_EXPECT(1, "SIP/2.0 200", .has = {"Record-Route: <sip:"}),
    /* alice hangs up: her route set is the Record-Route as received */
    ST_SEND(0, ST_APP,
            "BYE sip:carol@$P1 SIP/2.0\n"
            "Via: SIP/2.0/UDP $P0;branch=z9hG4bKa2;rport\nMax-Forwards: 70\n"
            "Route: $C0\nFrom: <sip:alice@example.com>;tag=x\n"
            "To: <sip:carol@example.com>;tag=c\nCall-ID: call@test\n"
            "CSeq: 1 BYE\n"),
    ST_EXPECT(1, "BYE sip:carol@", .lacks = "\r\nRoute:"),
    ST_REPLY(1, "200 OK"), ST_EXPECT(0, "SIP/2.0 200"),
    /* a forged token: 403 (RFC 5626 §5.3.1) */
    ST_SEND(1, ST_APP,
            "OPTIONS sip:alice@example.com SIP/2.0\n"
            "Via: SIP/2.0/UDP $P1;branch=z9hG4bKc2;rport\nMax-Forwards: 70\n"
            "Route: <sip:$X0@$APP;lr>\nFrom: <sip:carol@example.com>;tag=c2\n"
            "To: <sip:alice@example.com>\nCall-ID: o@test\nCSeq: 1 OPTIONS\n"),
    ST_EXPECT(1, "SIP/2.0 403"),
    /* bob, without Outbound, is asked with OPTIONS whether he is there */
    ST_EXPECT(2, "OPTIONS sip:"), ST_REPLY(2, "200 OK"),
    ST_END, /* ... and the answer gave an RTT (done() below) */
};

static int rtt_measured(void *arg) { return ((single *)arg)->rtts >= 1; }

static void usage(void) {
  fprintf(stderr, "usage: single --listen HOST:PORT [--flow-timer S] "
                  "[--ka-interval S] [--run-ms MS]\n"
                  "       single --selftest\n");
}

int main(int argc, char **argv) {
  single s = {.flow_timer = 25, .ka_interval = 30};
  sipflow_addr listen;
  uint64_t run_ms = 0;
  int testing = 0, have_listen = 0, rv = 0;
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
    else if (!strcmp(opt, "--flow-timer"))
      s.flow_timer = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(opt, "--ka-interval"))
      s.ka_interval = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(opt, "--run-ms"))
      run_ms = strtoull(v, NULL, 10);
    else
      have_listen = 0; /* unknown option: usage */
  }
  if ((!testing && !have_listen) || !s.flow_timer || !s.ka_interval) {
    usage();
    return 2;
  }
  if (host_new(&s.h) != 0)
    return 1;
  if (testing) {
    sipflow_addr_parse(&listen, "127.0.0.1", 0);
    s.ka_interval = 1;
    run_ms = 10000;
    if (st_new(&s.st, s.h, 3) != 0)
      return 1;
  }
  if (setup(&s, &listen) != 0) {
    fprintf(stderr, "single: cannot start\n");
    rv = 1;
  } else {
    char a[64];
    fprintf(stderr, "single server on %s (%s)\n",
            sip_hostport(host_udp_local(s.sock), a, sizeof(a)),
            host_loop_name());
    if (s.st)
      st_start(s.st, host_udp_local(s.sock), script, rtt_measured, &s);
    host_run(s.h, run_ms);
  }
  if (s.st)
    rv = st_finish(s.st);
  pfork_table_clear(&s.forks); /* plans go before their registrar */
  sipflow_keepalive_del(s.ka);
  sipflow_registrar_del(s.reg);
  sipflow_flow_table_del(s.flows);
  sipflow_keyring_del(s.keys);
  host_del(s.h);
  sipflow_ctx_del(s.ctx);
  return rv;
}
