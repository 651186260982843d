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

static int send_probe(sipflow_keepalive *ka, sipflow_flow_id flow,
                      const sipflow_keepalive_probe *probe, void *ud,
                      void *ep_ud) {
  px *p = ud;
  (void)ka;
  (void)ep_ud;
  if (probe->method == SIPFLOW_KEEPALIVE_OPTIONS)
    p->stats.options_sent++;
  if (probe->method == SIPFLOW_KEEPALIVE_CRLF)
    return px_send_crlf_ping(p, flow) == 0 ? 0 : SIPFLOW_ERR_CALLBACK_FAILURE;
  if (probe->tuple && probe->tuple->transport == SIPFLOW_TRANSPORT_UDP)
    return px_send_udp_tuple(p, probe->tuple, probe->data, probe->len) == 0
               ? 0
               : SIPFLOW_ERR_CALLBACK_FAILURE;
  return px_send_flow(p, flow, probe->data, probe->len) == 0
             ? 0
             : SIPFLOW_ERR_CALLBACK_FAILURE;
}

static void on_rtt(sipflow_keepalive *ka, sipflow_flow_id flow,
                   sipflow_duration rtt, void *ud, void *ep_ud) {
  px *p = ud;
  (void)ka;
  (void)ep_ud;
  px_log(p, SIPFLOW_LOG_DEBUG, "flow %llu: rtt %.3f ms",
         (unsigned long long)flow, (double)rtt / 1e6);
}

static void on_state(sipflow_keepalive *ka, sipflow_flow_id flow,
                     const sipflow_keepalive_state_change *c, void *ud,
                     void *ep_ud) {
  px *p = ud;
  static const char *const names[] = {"unknown", "alive", "suspect", "dead"};
  (void)ka;
  (void)ep_ud;
  px_log(p,
         c->event == SIPFLOW_KEEPALIVE_DEAD ? SIPFLOW_LOG_WARN
                                            : SIPFLOW_LOG_INFO,
         "flow %llu: %s -> %s (%u missed in a row)", (unsigned long long)flow,
         names[c->old_health & 3], names[c->health & 3],
         (unsigned)c->consecutive_misses);
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
  return sipflow_keepalive_new(&p->ka, p->ctx, &cb, &s, p);
}

void px_ka_stop(px *p) {
  sipflow_keepalive_del(p->ka);
  p->ka = NULL;
}

static int pick_method(px *p, int transport, bool outbound) {
  bool stream = sipflow_transport_is_stream(transport);
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

void px_ka_binding(px *p, const sipflow_reg_binding *b, bool present) {
  sipflow_keepalive_endpoint ep;
  int method;
  if (!p->ka)
    return;
  /* Moved to another flow (same AoR, instance and reg-id, RFC 5626 §6):
   * the old flow is no longer kept alive for it. */
  if (b->prev_flow_id && b->prev_flow_id != b->flow_id)
    sipflow_keepalive_reason_end(p->ka, b->prev_flow_id,
                                 SIPFLOW_KEEPALIVE_REGISTRATION, b->id,
                                 sipflow_uv_now());
  if (!b->flow_id)
    return;
  if (!present) {
    sipflow_keepalive_reason_end(p->ka, b->flow_id,
                                 SIPFLOW_KEEPALIVE_REGISTRATION, b->id,
                                 sipflow_uv_now());
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
  ep.method = p->cfg.ka_mode == PX_KA_AUTO
                  ? SIPFLOW_KEEPALIVE_PASSIVE
                  : (uint8_t)pick_method(p, info.tuple.transport, true);
  ep.interval = (sipflow_duration)(ep.method == SIPFLOW_KEEPALIVE_PASSIVE
                                       ? p->cfg.flow_timer
                                       : p->cfg.ka_interval) *
                SIPFLOW_SECONDS;
  /* One reason per flow: the registration seen through it. */
  sipflow_keepalive_reason_set(p->ka, &ep, SIPFLOW_KEEPALIVE_REGISTRATION, 0,
                               (sipflow_duration)lifetime * SIPFLOW_SECONDS,
                               sipflow_uv_now());
}

void px_ka_flow_gone(px *p, sipflow_flow_id flow) {
  if (p->ka)
    sipflow_keepalive_flow_failed(p->ka, flow, sipflow_uv_now());
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
  if (!p->ka || !sip->sip_cseq ||
      sip->sip_cseq->cs_method != sip_method_options || !branch ||
      sipflow_keepalive_probe_id_parse(branch, strlen(branch), &id) != 0)
    return false;
  if (sipflow_keepalive_on_options_response(
          p->ka, id, sip->sip_status->st_status, sipflow_uv_now()) == 0)
    p->stats.options_answered++;
  msg_destroy(resp);
  return true;
}
