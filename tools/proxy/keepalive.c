/*
 * sipflow-proxy: keeping flows alive with libsipflow's scheduler.
 *
 * --keepalive auto watches Outbound flows passively against the Flow-Timer
 * the UA was given (the UA sends the keepalives, RFC 5626 §4.4) and pings
 * every other contact with OPTIONS; the other modes force one method (CRLF
 * only on streams, STUN and 4-byte pings only on UDP, else OPTIONS). Each
 * binding is one reason on its flow's endpoint; a flow found dead has its
 * bindings removed or shortened (--dead-contact) and is closed.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>

#include <sipflow/keepalive.h>

#include "proxy.h"

/* ---- keepalives through a Path (registrar role) ---------------------------
 * A binding registered through an edge has no flow here: its flow is the
 * edge's. The registrar probes it with OPTIONS sent through the Path. For
 * an Outbound binding Max-Forwards is 0: the edge, which watches the flow,
 * answers for it itself, 430 when the flow is gone (RFC 5626 §5.3) and 200
 * while it holds it (RFC 3261 §16.3 item 2, §11). Other contacts are asked
 * themselves, through the edge. A 430 removes the binding at once; a 408
 * or no answer counts as a miss as for any contact (docs/proxy.md, "How
 * the registrar learns of dead flows"). Each such binding is an endpoint
 * of its own, under an id that no flow of the table has.
 */
#define PATH_EP_BIT ((sipflow_flow_id)1 << 63)
/* The RTT sampler of a passively watched flow: see rtt_sampler(). */
#define RTT_EP_BIT ((sipflow_flow_id)1 << 62)
#define PATH_BUCKETS 4096u

typedef struct path_ep {
  struct path_ep *next;
  uint64_t binding_id;
  uint64_t last_probe;
  int transport;
  int outbound; /* the edge watches the flow and answers for it */
  sipflow_addr dst;
  char *aor, *uri, *path;
} path_ep;

static path_ep *path_eps[PATH_BUCKETS];

static path_ep **path_slot(uint64_t id) {
  path_ep **pp = &path_eps[(id * 0x9e3779b97f4a7c15ull) >> 52];
  while (*pp && (*pp)->binding_id != id)
    pp = &(*pp)->next;
  return pp;
}

static void path_ep_free(path_ep *e) {
  free(e->aor);
  free(e->uri);
  free(e->path);
  free(e);
}

static char *dup_str(sipflow_str s) {
  char *d = malloc(s.len + 1);
  if (d) {
    memcpy(d, s.ptr, s.len);
    d[s.len] = '\0';
  }
  return d;
}

/* The first Path URI's transport and address. */
static int path_first_hop(sipflow_str path, px_endpoint_cfg *ep) {
  char first[2100], *lt, *gt;
  url_t url;
  snprintf(first, sizeof(first), "%.*s", (int)path.len, path.ptr);
  lt = strchr(first, '<');
  gt = lt ? strchr(lt, '>') : NULL;
  if (!lt || !gt)
    return -1;
  *gt = '\0';
  if (url_d(&url, lt + 1) < 0)
    return -1;
  return px_url_endpoint(&url, ep);
}

static void path_binding(px *p, const sipflow_reg_binding *b, bool present) {
  path_ep **pp = path_slot(b->id), *e = *pp;
  sipflow_keepalive_endpoint ep;
  px_endpoint_cfg hop;
  px_listener *l;
  if (!present) {
    if (!e)
      return;
    *pp = e->next;
    path_ep_free(e);
    sipflow_keepalive_reason_end(p->ka, PATH_EP_BIT | b->id,
                                 SIPFLOW_KEEPALIVE_REGISTRATION, b->id,
                                 sipflow_uv_now());
    return;
  }
  /* Only through an edge of ours (a --peer): a Path to any other host
   * would have us send probes wherever a REGISTER pointed. */
  if (path_first_hop(b->path, &hop) != 0 || !px_next_hop_allowed(p, &hop) ||
      !(l = px_listener_for(p, hop.transport, hop.addr.family)))
    return;
  if (!e) {
    if (!(e = calloc(1, sizeof(*e))))
      return;
    e->binding_id = b->id;
    e->next = *pp;
    *pp = e;
  }
  free(e->aor);
  free(e->uri);
  free(e->path);
  e->aor = dup_str(b->aor);
  e->uri = dup_str(b->uri);
  e->path = dup_str(b->path);
  e->transport = hop.transport;
  e->outbound = b->outbound != 0;
  e->dst = hop.addr;
  sipflow_keepalive_endpoint_default(&ep);
  ep.flow_id = PATH_EP_BIT | b->id;
  ep.tuple.transport = (uint8_t)hop.transport;
  ep.tuple.local = l->addr;
  ep.tuple.remote = hop.addr;
  ep.method = SIPFLOW_KEEPALIVE_OPTIONS;
  ep.interval = (sipflow_duration)p->cfg.ka_interval * SIPFLOW_SECONDS;
  sipflow_keepalive_reason_set(
      p->ka, &ep, SIPFLOW_KEEPALIVE_REGISTRATION, b->id,
      (sipflow_duration)b->expires * SIPFLOW_SECONDS, sipflow_uv_now());
}

/* The OPTIONS through the Path. Its Via branch ends in ".b" and the
 * binding id, unlike a probe's own, so that the answer takes the full parse
 * to px_ka_options_response() (the probe id is in the From tag too), where
 * a 430 names the binding to drop at once. */
static int send_path_probe(px *p, sipflow_flow_id flow,
                           const sipflow_keepalive_probe *probe) {
  path_ep *e = *path_slot(flow & ~PATH_EP_BIT);
  sipflow_keepalive_options_request req;
  char buf[4096];
  size_t len;
  char *br, *end, mark[24];
  size_t mlen;
  if (!e || !e->uri || !e->path || !probe->tuple)
    return SIPFLOW_ERR_CALLBACK_FAILURE;
  mlen = (size_t)snprintf(mark, sizeof(mark), ".b%llx",
                          (unsigned long long)e->binding_id);
  sipflow_keepalive_options_request_default(&req);
  req.probe_id = probe->probe_id;
  req.transport = (uint8_t)e->transport;
  req.local = probe->tuple->local;
  req.remote = e->dst;
  req.request_uri.ptr = e->uri;
  req.request_uri.len = strlen(e->uri);
  req.route.ptr = e->path;
  req.route.len = strlen(e->path);
  /* An Outbound flow is the edge's to watch: it answers for it. Any
   * other contact is asked itself, through the edge. */
  req.max_forwards = e->outbound ? 0 : 70;
  if (sipflow_keepalive_options_build(&req, buf, sizeof(buf) - sizeof(mark),
                                      &len) != 0 ||
      !(br = strstr(buf, "branch=")) || !(end = strpbrk(br, ";\r")))
    return SIPFLOW_ERR_CALLBACK_FAILURE;
  memmove(end + mlen, end, (size_t)(buf + len + 1 - end));
  memcpy(end, mark, mlen);
  len += mlen;
  e->last_probe = probe->probe_id;
  return px_send_addr(p, e->transport, &e->dst, buf, len, NULL) == 0
             ? 0
             : SIPFLOW_ERR_CALLBACK_FAILURE;
}

sipflow_flow_id px_ka_binding_endpoint(px *p, const sipflow_reg_binding *b) {
  if (b->flow_id)
    return b->flow_id;
  return *path_slot(b->id) && p->ka ? PATH_EP_BIT | b->id : 0;
}

/* A path endpoint is dead (its probes went unanswered) or its probe got
 * 430: the binding goes. */
static void path_failed(px *p, uint64_t binding_id) {
  path_ep *e = *path_slot(binding_id);
  char aor[1024];
  if (!e || !e->aor || !p->reg)
    return;
  snprintf(aor, sizeof(aor), "%s", e->aor);
  px_log(p, SIPFLOW_LOG_INFO,
         "binding %llu of %s: its flow behind the edge failed",
         (unsigned long long)binding_id, aor);
  sipflow_registrar_binding_failed(p->reg, (sipflow_str){aor, strlen(aor)},
                                   binding_id, sipflow_uv_now());
}

static int send_probe(sipflow_keepalive *ka, sipflow_flow_id flow,
                      const sipflow_keepalive_probe *probe, void *ud,
                      void *ep_ud) {
  px *p = ud;
  int rv;
  (void)ka;
  (void)ep_ud;
  if (probe->method == SIPFLOW_KEEPALIVE_OPTIONS)
    p->stats.options_sent++;
  if (flow & PATH_EP_BIT)
    return send_path_probe(p, flow, probe);
  flow &= ~RTT_EP_BIT; /* a sampler's OPTIONS goes over the flow itself */
  if (probe->method == SIPFLOW_KEEPALIVE_CRLF)
    return px_send_crlf_ping(p, flow) == 0 ? 0 : SIPFLOW_ERR_CALLBACK_FAILURE;
  if (probe->method == SIPFLOW_KEEPALIVE_WS_PING)
    return px_send_ws_ping(p, flow, probe->data, probe->len) == 0
               ? 0
               : SIPFLOW_ERR_CALLBACK_FAILURE;
  /* UDP probes are batched: one sendmmsg() when the timer callback
   * returns (px_udp_flush(), net.c). */
  p->tx_defer = 1;
  if (probe->tuple && probe->tuple->transport == SIPFLOW_TRANSPORT_UDP)
    rv = px_send_udp_tuple(p, probe->tuple, probe->data, probe->len);
  else
    rv = px_send_flow(p, flow, probe->data, probe->len);
  p->tx_defer = 0;
  return rv == 0 ? 0 : SIPFLOW_ERR_CALLBACK_FAILURE;
}

static void on_rtt(sipflow_keepalive *ka, sipflow_flow_id flow,
                   sipflow_duration rtt, void *ud, void *ep_ud) {
  px *p = ud;
  (void)ka;
  (void)ep_ud;
  px_log(p, SIPFLOW_LOG_DEBUG, "flow %llu: rtt %.3f ms",
         (unsigned long long)flow, (double)rtt / 1e6);
}

/* While px_ka_flow_gone() tells the scheduler: why the flow ended, so that
 * the state change names it rather than a count of misses. */
static int gone_reason;

static const char *gone_text(int reason) {
  switch (reason) {
  case SIPFLOW_FLOW_END_CLOSED:
    return "connection closed";
  case SIPFLOW_FLOW_END_RESET:
    return "connection reset";
  case SIPFLOW_FLOW_END_ICMP_ERROR:
    return "ICMP error";
  case SIPFLOW_FLOW_END_KEEPALIVE_TIMEOUT:
    return "keepalive timeout";
  default:
    return "flow closed here";
  }
}

static void on_state(sipflow_keepalive *ka, sipflow_flow_id flow,
                     const sipflow_keepalive_state_change *c, void *ud,
                     void *ep_ud) {
  px *p = ud;
  static const char *const names[] = {"unknown", "alive", "suspect", "dead"};
  int level =
      c->event == SIPFLOW_KEEPALIVE_DEAD ? SIPFLOW_LOG_WARN : SIPFLOW_LOG_INFO;
  (void)ka;
  (void)ep_ud;
  if (gone_reason)
    px_log(p, level, "flow %llu: %s -> %s (%s)", (unsigned long long)flow,
           names[c->old_health & 3], names[c->health & 3],
           gone_text(gone_reason));
  else
    px_log(p, level, "flow %llu: %s -> %s (%u missed in a row)",
           (unsigned long long)flow, names[c->old_health & 3],
           names[c->health & 3], (unsigned)c->consecutive_misses);
  if (flow & PATH_EP_BIT) {
    if (c->event == SIPFLOW_KEEPALIVE_DEAD)
      path_failed(p, flow & ~PATH_EP_BIT);
    return;
  }
  if (flow & RTT_EP_BIT)
    return; /* a sampler only measures: the passive watch decides */
  if (p->reg)
    sipflow_registrar_flow_health(p->reg, flow, (sipflow_flow_health)c->health,
                                  sipflow_uv_now());
  if (c->event == SIPFLOW_KEEPALIVE_DEAD)
    px_flow_dead(p, flow);
}

int px_ka_start(px *p) {
  sipflow_keepalive_callbacks cb;
  sipflow_keepalive_settings s;
  memset(&cb, 0, sizeof(cb));
  cb.send_probe = send_probe;
  cb.on_rtt = on_rtt;
  cb.on_state = on_state;
  sipflow_keepalive_settings_default(&s);
  s.udp_interval = s.stream_interval =
      (sipflow_duration)p->cfg.ka_interval * SIPFLOW_SECONDS;
  s.pong_timeout = s.options_timeout =
      (sipflow_duration)p->cfg.ka_timeout * SIPFLOW_SECONDS;
  s.dead_after = p->cfg.ka_misses;
  /* A 430 or a proxy's 408 says nothing answered: a miss, not a sign of
   * life (a probe through an edge, RFC 5626 §5.3). */
  s.options_not_alive[0] = 430;
  s.options_not_alive[1] = 408;
  return sipflow_keepalive_new(&p->ka, p->ctx, &cb, &s, p);
}

void px_ka_stop(px *p) {
  sipflow_keepalive_del(p->ka);
  p->ka = NULL;
  for (unsigned i = 0; i < PATH_BUCKETS; i++)
    while (path_eps[i]) {
      path_ep *e = path_eps[i];
      path_eps[i] = e->next;
      path_ep_free(e);
    }
}

static int pick_method(px *p, int transport, bool outbound) {
  bool stream = sipflow_transport_is_stream(transport);
  /* A browser answers a WebSocket Ping by itself (RFC 6455 §5.5.2) and
   * sends no CRLF keepalives of its own: Pings keep the flow, and give
   * its RTT, whatever the mode. */
  if ((transport == SIPFLOW_TRANSPORT_WS ||
       transport == SIPFLOW_TRANSPORT_WSS) &&
      p->cfg.ka_mode != PX_KA_OFF)
    return SIPFLOW_KEEPALIVE_WS_PING;
  switch (p->cfg.ka_mode) {
  case PX_KA_AUTO:
    return outbound ? SIPFLOW_KEEPALIVE_PASSIVE : SIPFLOW_KEEPALIVE_OPTIONS;
  case PX_KA_OPTIONS:
    return SIPFLOW_KEEPALIVE_OPTIONS;
  case PX_KA_CRLF:
    return stream ? SIPFLOW_KEEPALIVE_CRLF : SIPFLOW_KEEPALIVE_OPTIONS;
  case PX_KA_STUN:
    return stream ? SIPFLOW_KEEPALIVE_CRLF : SIPFLOW_KEEPALIVE_STUN;
  case PX_KA_UDP4:
    return stream ? SIPFLOW_KEEPALIVE_CRLF : SIPFLOW_KEEPALIVE_UDP_PING;
  default:
    return -1;
  }
}

/*
 * A passively watched (Outbound) flow gets no round-trip time from the
 * UA's keepalives. Beside the watch, a sampler endpoint sends the UA an
 * OPTIONS every 2 x --ka-interval (each wait 80-100% of it, the first
 * within one such interval): one request and one answer a minute at the
 * default 30 s, an RTT in `ctl dump` within two keepalive intervals. Its
 * misses are ignored: liveness stays with the passive watch (RFC 5626
 * §4.4: the UA keeps the flow alive). It lives under the same reason as
 * the watch and ends with it.
 */
static void rtt_sampler(px *p, const sipflow_keepalive_endpoint *watch,
                        uint64_t reason_id, sipflow_duration lifetime,
                        bool present) {
  sipflow_keepalive_endpoint ep = *watch;
  if (!present) {
    sipflow_keepalive_reason_end(p->ka, RTT_EP_BIT | watch->flow_id,
                                 SIPFLOW_KEEPALIVE_REGISTRATION, reason_id,
                                 sipflow_uv_now());
    return;
  }
  ep.flow_id = RTT_EP_BIT | watch->flow_id;
  ep.method = SIPFLOW_KEEPALIVE_OPTIONS;
  ep.interval = 2 * (sipflow_duration)p->cfg.ka_interval * SIPFLOW_SECONDS;
  if (ep.interval > 6553 * SIPFLOW_SECONDS)
    ep.interval = 6553 * SIPFLOW_SECONDS;
  sipflow_keepalive_reason_set(p->ka, &ep, SIPFLOW_KEEPALIVE_REGISTRATION,
                               reason_id, lifetime, sipflow_uv_now());
}

int px_ka_rtt_sample(px *p, sipflow_flow_id flow, sipflow_keepalive_stats *s) {
  if (!p->ka || !flow || (flow & (PATH_EP_BIT | RTT_EP_BIT)) ||
      sipflow_keepalive_get_stats(p->ka, RTT_EP_BIT | flow, s) != 0 ||
      !s->probes_answered)
    return -1;
  return 0;
}

void px_ka_ws_pong(px *p, sipflow_flow_id flow, const uint8_t *data,
                   size_t len) {
  p->stats.ws_pongs++;
  if (p->ka)
    sipflow_keepalive_on_ws_pong(p->ka, flow, data, len, sipflow_uv_now());
}

void px_ka_binding(px *p, const sipflow_reg_binding *b, bool present) {
  sipflow_keepalive_endpoint ep;
  int method;
  if (present && b->flow_id)
    px_conn_bound(p, b->flow_id);
  if (!p->ka)
    return;
  /* Moved to another flow (same AoR, instance and reg-id, RFC 5626 §6):
   * the old flow is no longer kept alive for it. */
  if (b->prev_flow_id && b->prev_flow_id != b->flow_id) {
    sipflow_keepalive_reason_end(p->ka, b->prev_flow_id,
                                 SIPFLOW_KEEPALIVE_REGISTRATION, b->id,
                                 sipflow_uv_now());
    sipflow_keepalive_endpoint_default(&ep);
    ep.flow_id = b->prev_flow_id;
    rtt_sampler(p, &ep, b->id, 0, false); /* and its RTT sampler there */
  }
  if (!b->flow_id) {
    if (b->path.len && p->cfg.role == PX_ROLE_REGISTRAR &&
        p->cfg.ka_mode != PX_KA_OFF)
      path_binding(p, b, present);
    return;
  }
  if (!present) {
    sipflow_keepalive_reason_end(p->ka, b->flow_id,
                                 SIPFLOW_KEEPALIVE_REGISTRATION, b->id,
                                 sipflow_uv_now());
    sipflow_keepalive_endpoint_default(&ep);
    ep.flow_id = b->flow_id;
    rtt_sampler(p, &ep, b->id, 0, false);
    return;
  }
  method = pick_method(p, b->flow.transport, b->outbound != 0);
  if (method < 0)
    return;
  sipflow_keepalive_endpoint_default(&ep);
  ep.flow_id = b->flow_id;
  ep.tuple = b->flow;
  ep.method = (uint8_t)method;
  /* Passive watch: the UA keeps to the Flow-Timer it was given. */
  ep.interval = (sipflow_duration)(method == SIPFLOW_KEEPALIVE_PASSIVE
                                       ? p->cfg.flow_timer
                                       : p->cfg.ka_interval) *
                SIPFLOW_SECONDS;
  sipflow_keepalive_reason_set(
      p->ka, &ep, SIPFLOW_KEEPALIVE_REGISTRATION, b->id,
      (sipflow_duration)b->expires * SIPFLOW_SECONDS, sipflow_uv_now());
  if (method == SIPFLOW_KEEPALIVE_PASSIVE)
    rtt_sampler(p, &ep, b->id, (sipflow_duration)b->expires * SIPFLOW_SECONDS,
                true);
}

/* Edge role: a 2xx to an Outbound REGISTER is on its way back to the UA.
 * The edge is the last hop, so it may set Flow-Timer (RFC 5626 §5.4), and
 * it holds the flow, so it watches the UA's keepalives on it. */
void px_ka_edge_registered(px *p, sipflow_flow_id flow, msg_t *resp) {
  sip_t *sip = sip_object(resp);
  sipflow_flow_info info;
  sipflow_keepalive_endpoint ep;
  uint32_t lifetime = 0;
  char ft[48];
  if (!sip_has_feature(sip->sip_require, "outbound"))
    return;
  for (sip_unknown_t *u = sip->sip_unknown; u; u = u->un_next)
    if (u->un_name && strcasecmp(u->un_name, "Flow-Timer") == 0)
      msg_header_remove(resp, (msg_pub_t *)sip, (msg_header_t *)u);
  snprintf(ft, sizeof(ft), "Flow-Timer: %u", (unsigned)p->cfg.flow_timer);
  msg_header_add_make(resp, (msg_pub_t *)sip, sip_unknown_class, ft + 0);
  for (sip_contact_t *m = sip->sip_contact; m; m = m->m_next) {
    uint32_t e = m->m_expires ? (uint32_t)strtoul(m->m_expires, NULL, 10) : 0;
    if (e > lifetime)
      lifetime = e;
  }
  if (!p->ka || !lifetime || sipflow_flow_get(p->flows, flow, &info) != 0)
    return;
  sipflow_keepalive_endpoint_default(&ep);
  ep.flow_id = flow;
  ep.tuple = info.tuple;
  ep.method = (uint8_t)pick_method(p, info.tuple.transport, true);
  ep.interval = (sipflow_duration)(ep.method == SIPFLOW_KEEPALIVE_PASSIVE
                                       ? p->cfg.flow_timer
                                       : p->cfg.ka_interval) *
                SIPFLOW_SECONDS;
  /* One reason per flow: the registration seen through it. */
  sipflow_keepalive_reason_set(p->ka, &ep, SIPFLOW_KEEPALIVE_REGISTRATION, 0,
                               (sipflow_duration)lifetime * SIPFLOW_SECONDS,
                               sipflow_uv_now());
  if (ep.method == SIPFLOW_KEEPALIVE_PASSIVE)
    rtt_sampler(p, &ep, 0, (sipflow_duration)lifetime * SIPFLOW_SECONDS, true);
}

void px_ka_flow_gone(px *p, sipflow_flow_id flow, int reason) {
  if (!p->ka)
    return;
  gone_reason = reason ? reason : SIPFLOW_FLOW_END_LOCAL_CLOSE;
  sipflow_keepalive_flow_failed(p->ka, flow, sipflow_uv_now());
  gone_reason = 0;
  sipflow_keepalive_remove(p->ka, RTT_EP_BIT | flow, sipflow_uv_now());
}

void px_on_keepalive_seen(px *p, sipflow_flow_id flow, int pong) {
  if (!p->ka || !flow)
    return;
  if (pong)
    sipflow_keepalive_on_pong(p->ka, flow, sipflow_uv_now());
  else
    sipflow_keepalive_on_peer_keepalive(p->ka, flow, sipflow_uv_now());
}

void px_on_stun_response(px *p, sipflow_flow_id flow, const uint8_t *data,
                         size_t len) {
  if (p->ka)
    sipflow_keepalive_on_stun(p->ka, flow, data, len, sipflow_uv_now());
}

bool px_ka_options_response(px *p, msg_t *resp) {
  sip_t *sip = sip_object(resp);
  uint64_t id;
  const char *branch = sip->sip_via ? sip->sip_via->v_branch : NULL;
  const char *tag = sip->sip_from ? sip->sip_from->a_tag : NULL;
  const char *mark;
  int status = sip->sip_status->st_status;
  uint64_t path = 0;
  if (!p->ka || !sip->sip_cseq ||
      sip->sip_cseq->cs_method != sip_method_options || !branch)
    return false;
  if (sipflow_keepalive_probe_id_parse(branch, strlen(branch), &id) != 0) {
    /* A probe through a Path: its id is in the From tag. */
    if (!tag || !(mark = strstr(branch, ".b")) ||
        sipflow_keepalive_probe_id_parse(tag, strlen(tag), &id) != 0)
      return false;
    path = strtoull(mark + 2, NULL, 16);
  }
  if (sipflow_keepalive_on_options_response(p->ka, id, (unsigned)status,
                                            sipflow_uv_now()) == 0) {
    p->stats.options_answered++;
    path_ep *e = path ? *path_slot(path) : NULL;
    /* The edge no longer has the flow: the binding goes now (RFC 5626 §7).
     * Only the answer to the binding's own open probe gets here. */
    if (e && status == 430 && e->last_probe == id)
      path_failed(p, path);
  }
  msg_destroy(resp);
  return true;
}
