/*
 * A registrar and home proxy behind an RFC 5626 edge, over UDP
 * (docs/integration/registrar.md).
 *
 * REGISTERs arrive through the edge with a Path whose first hop carries
 * the flow token and ;ob. libsipflow's registrar keys Outbound bindings by
 * (AoR, +sip.instance, reg-id) and answers everything the 200 needs. A
 * request to an AoR is forked over the registrar's target plan: one flow
 * per instance at a time, each branch routed through its binding's Path, so
 * the edge sends it over the UA's flow; a 430 from the edge (flow gone)
 * removes that binding and the instance's next flow is tried at once.
 * No flow table and no keepalives here: flows are the edge's business.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/sip_protos.h>

#include "fork.h"
#include "selftest.h"
#include "sip.h"

typedef struct registrar {
  host *h;
  host_udp *sock;
  const char *domain; /* NULL: every domain */
  sipflow_ctx *ctx;
  sipflow_registrar *reg;
  pfork_table forks;
  st_runner *st;
} registrar;

/* Every change to a binding, for a log, a store or a replica. */
static void on_change(sipflow_registrar *reg, sipflow_reg_change change,
                      const sipflow_reg_binding *b, void *ud) {
  static const char *const what[] = {"?",          "added",   "refreshed",
                                     "updated",    "removed", "expired",
                                     "flow failed"};
  (void)reg, (void)ud;
  fprintf(stderr, "registrar: %s: %.*s -> %.*s reg-id %u\n",
          what[change <= 6 ? change : 0], (int)b->aor.len, b->aor.ptr,
          (int)b->uri.len, b->uri.ptr, (unsigned)b->reg_id);
}

static void on_register(registrar *r, msg_t *msg, const sipflow_addr *from) {
  sipflow_sofia_register facts;
  const sipflow_reg_result *res = NULL;
  char extra[4096];
  sipflow_flow_tuple arrival = {.transport = SIPFLOW_TRANSPORT_UDP};
  int rv;
  arrival.local = *host_udp_local(r->sock);
  arrival.remote = *from;
  /* No flow table: behind an edge (more than one Via) the Path leads to
   * the UA (RFC 5626 §6). Authentication would come before this. */
  rv = sipflow_sofia_register_facts(&facts, msg, NULL, 0, &arrival);
  if (rv != 0) { /* 403: more Contacts or Path values than we read */
    sip_reply(r->sock, from, msg, rv == SIPFLOW_ERR_TOO_LARGE ? 403 : 400,
              NULL);
    return;
  }
  sipflow_registrar_process(r->reg, &facts.req, host_now(), &res);
  if (!res) {
    sip_reply(r->sock, from, msg, 500, NULL);
    return;
  }
  /* Contacts with expires, Require: outbound, Path echoed, Min-Expires... */
  if (sipflow_sofia_register_answer(res, msg, extra, sizeof(extra), NULL)) {
    sip_reply(r->sock, from, msg, 500, NULL);
    return;
  }
  sip_reply(r->sock, from, msg, res->status, extra);
}

/* A branch for binding |b|: Request-URI the Contact, Route its Path, sent
 * to the first Path URI: the edge, which knows the flow. */
static int target(void *app, uint64_t tag, msg_t *copy,
                  const sipflow_reg_binding *b, sipflow_addr *dst) {
  char uri[600], path[2100];
  sip_t *sip;
  (void)app, (void)tag;
  snprintf(uri, sizeof(uri), "%.*s", (int)b->uri.len, b->uri.ptr);
  snprintf(path, sizeof(path), "%.*s", (int)b->path.len, b->path.ptr);
  if (sip_set_request_uri(copy, uri) != 0 ||
      (b->path.len && sip_prepend_routes(copy, path) != 0))
    return 500;
  sip = sip_object(copy);
  if (sip->sip_route)
    return sip_url_addr(sip->sip_route->r_url, dst) == 0 ? 0 : 480;
  return sip_url_addr(sip->sip_request->rq_url, dst) == 0 ? 0 : 480;
}

static void on_request(registrar *r, msg_t *msg, const sipflow_addr *from) {
  sip_t *sip = sip_object(msg);
  url_t *ruri = sip->sip_request->rq_url;
  sipflow_reg_plan *plan = NULL;
  char *aor;
  int rv;
  switch (sip->sip_request->rq_method) {
  case sip_method_register:
    on_register(r, msg, from);
    return;
  case sip_method_cancel:
    if (pfork_cancel(&r->forks, msg, from) != 0)
      sip_reply(r->sock, from, msg, 481, NULL);
    return;
  case sip_method_ack: /* for a non-2xx we sent: ends here */
    return;
  default:
    break;
  }
  if (r->domain && (!ruri->url_host || strcasecmp(ruri->url_host, r->domain))) {
    sip_reply(r->sock, from, msg, 404, NULL);
    return;
  }
  aor = url_as_string(msg_home(msg), ruri);
  rv = sipflow_registrar_lookup(r->reg, (sipflow_str){aor, strlen(aor)},
                                host_now(), &plan);
  if (rv == SIPFLOW_ERR_NOT_FOUND) { /* no binding: not registered now */
    sip_reply(r->sock, from, msg, 480, NULL);
    return;
  }
  if (rv != 0) {
    sip_reply(r->sock, from, msg, rv == SIPFLOW_ERR_MALFORMED ? 400 : 500,
              NULL);
    return;
  }
  /* The fork takes the plan and its own copy of the request. */
  pfork_start(&r->forks, plan, msg_dup(msg), from, 0);
}

static void on_datagram(host_udp *sock, const sipflow_addr *from,
                        const uint8_t *data, size_t len, void *arg) {
  registrar *r = arg;
  char buf[96];
  const char *branch;
  sipflow_addr to;
  msg_t *msg;
  if (sipflow_datagram_classify(data, len) != SIPFLOW_DATAGRAM_SIP ||
      !(msg = sip_parse(data, len)))
    return;
  if (sip_object(msg)->sip_request) {
    on_request(r, msg, from);
  } else if ((branch = sip_pop_own_via(msg, host_udp_local(sock),
                                       r->forks.prefix, buf, sizeof(buf)))) {
    if (pfork_response(&r->forks, branch, msg) == 0)
      return;                        /* the fork took it */
    if (sip_via_addr(msg, &to) == 0) /* a late 2xx: passed on */
      sip_send(sock, &to, msg);
  }
  msg_destroy(msg);
}

static int setup(registrar *r, const sipflow_addr *listen) {
  sipflow_registrar_callbacks cb = {on_change, NULL};
  sipflow_registrar_settings s;
  sipflow_registrar_settings_default(&s);
  s.outbound = SIPFLOW_REG_OUTBOUND_SUPPORTED;
  if (host_ctx_new(r->h, &r->ctx, SIPFLOW_LOG_WARN, r) != 0 ||
      sipflow_registrar_new(&r->reg, r->ctx, &cb, &s, r) != 0 ||
      host_timer_start(r->h, r->ctx) != 0 ||
      host_udp_bind(r->h, listen, on_datagram, r, &r->sock) != 0)
    return -1;
  r->forks.sock = r->sock;
  r->forks.prefix = "z9hG4bKsfr";
  r->forks.target = target;
  r->forks.app = r;
  return 0;
}

/* The selftest: a fake edge (P0) registers two flows of one instance;
 * a call from P1 goes to the first, which the edge answers 430 (its flow is
 * gone), and fails over to the second; the next call skips the removed
 * binding; an AoR without bindings gets 480. */
#define REG_(N, PORT, TOKEN, CSEQ)                                             \
  ST_SEND(0, ST_APP,                                                           \
          "REGISTER sip:example.com SIP/2.0\n"                                 \
          "Via: SIP/2.0/UDP $P0;branch=z9hG4bKe" N "\n"                        \
          "Via: SIP/2.0/UDP 192.0.2.7:" PORT ";branch=z9hG4bKu" N "\n"         \
          "Max-Forwards: 69\nPath: <sip:" TOKEN "@$P0;lr;ob>\n"                \
          "From: <sip:alice@example.com>;tag=a" N "\n"                         \
          "To: <sip:alice@example.com>\nCall-ID: reg@test\n"                   \
          "CSeq: " CSEQ " REGISTER\nSupported: outbound, path\n"               \
          "Contact: <sip:alice@192.0.2.7:" PORT ";ob>;reg-id=" N               \
          ";+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-0000000000a1>\"" \
          "\nExpires: 600\n")
#define CALL_(TO, ID)                                                          \
  ST_SEND(1, ST_APP,                                                           \
          "INVITE sip:" TO "@example.com SIP/2.0\n"                            \
          "Via: SIP/2.0/UDP $P1;branch=z9hG4bK" ID "\nMax-Forwards: 70\n"      \
          "From: <sip:bob@example.com>;tag=" ID "\n"                           \
          "To: <sip:" TO "@example.com>\nCall-ID: " ID "@test\n"               \
          "CSeq: 1 INVITE\nContact: <sip:bob@$P1>\n")

static const st_step script[] = {
    REG_("1", "5060", "flowA", "1"),
    ST_EXPECT(0, "SIP/2.0 200",
              .has = {"Require: outbound", "reg-id=1", "Path: <sip:flowA@"}),
    REG_("2", "5062", "flowB", "2"),
    ST_EXPECT(0, "SIP/2.0 200", .has = {"reg-id=1", "reg-id=2"}),
    CALL_("alice", "c1"),
    ST_EXPECT(1, "SIP/2.0 100"),
    /* lowest reg-id first, through its Path (RFC 5626 §7) */
    ST_EXPECT(0, "INVITE sip:alice@192.0.2.7:5060",
              .has = {"Route: <sip:flowA@"}),
    ST_REPLY(0, "430 Flow Failed"),
    ST_EXPECT(0, "ACK sip:alice@192.0.2.7:5060"),
    /* the same instance's next flow, at once */
    ST_EXPECT(0, "INVITE sip:alice@192.0.2.7:5062",
              .has = {"Route: <sip:flowB@"}),
    ST_REPLY(0, "200 OK"),
    ST_EXPECT(1, "SIP/2.0 200"),
    /* the binding whose flow failed is gone */
    CALL_("alice", "c2"),
    ST_EXPECT(0, "INVITE sip:alice@192.0.2.7:5062"),
    ST_REPLY(0, "486 Busy Here"),
    ST_EXPECT(0, "ACK sip:alice@192.0.2.7:5062"),
    ST_EXPECT(1, "SIP/2.0 486"),
    CALL_("carol", "c3"),
    ST_EXPECT(1, "SIP/2.0 480"),
    ST_END,
};

static void usage(void) {
  fprintf(stderr, "usage: registrar --listen HOST:PORT [--domain D] "
                  "[--run-ms MS]\n       registrar --selftest\n");
}

int main(int argc, char **argv) {
  registrar r = {0};
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
    else if (!strcmp(opt, "--domain"))
      r.domain = v;
    else if (!strcmp(opt, "--run-ms"))
      run_ms = strtoull(v, NULL, 10);
    else
      have_listen = 0; /* unknown option: usage */
  }
  if (!testing && !have_listen) {
    usage();
    return 2;
  }
  if (host_new(&r.h) != 0)
    return 1;
  if (testing) {
    sipflow_addr_parse(&listen, "127.0.0.1", 0);
    r.domain = "example.com";
    run_ms = 10000;
    if (st_new(&r.st, r.h, 2) != 0)
      return 1;
  }
  if (setup(&r, &listen) != 0) {
    fprintf(stderr, "registrar: cannot start\n");
    rv = 1;
  } else {
    char a[64];
    fprintf(stderr, "registrar on %s (%s)\n",
            sip_hostport(host_udp_local(r.sock), a, sizeof(a)),
            host_loop_name());
    if (r.st)
      st_start(r.st, host_udp_local(r.sock), script, NULL, NULL);
    host_run(r.h, run_ms);
  }
  if (r.st)
    rv = st_finish(r.st);
  pfork_table_clear(&r.forks); /* plans go before their registrar */
  sipflow_registrar_del(r.reg);
  host_del(r.h);
  sipflow_ctx_del(r.ctx);
  return rv;
}
