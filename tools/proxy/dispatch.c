/*
 * sipflow-proxy: what arrives. Datagrams are classified first (STUN,
 * CRLF keepalives, SIP, garbage), so that the SIP parser never sees the
 * rest; SIP messages are parsed with libsipflow-sofia and dispatched.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>
#include <sofia-sip/su_strlst.h>

#include <sipflow/responder.h>
#include <sipflow/stun.h>

#include "proxy.h"

static void parse_and_dispatch(px *p, sipflow_flow_id flow,
                               const sipflow_flow_tuple *tuple,
                               const uint8_t *data, size_t len);

/* An answer to one of our keepalive OPTIONS, recognised from its status
 * line, Via branch and CSeq before sofia-sip sees it: with 50 000 contacts
 * these are most of what arrives, and a full parse was a fifth of the CPU
 * per keepalive. The probe id is keyed (a MAC), so the answer needs no
 * flow lookup either. Anything else takes the normal path. */
static bool keepalive_answer(px *p, const uint8_t *data, size_t len) {
  uint64_t id;
  unsigned status;
  if (!p->ka ||
      sipflow_keepalive_options_response_parse(data, len, &id, &status) != 0)
    return false;
  p->stats.rx_messages++;
  p->stats.rx_responses++;
  if (sipflow_keepalive_on_options_response(p->ka, id, status,
                                            sipflow_uv_now()) == 0)
    p->stats.options_answered++;
  return true;
}

void px_on_datagram(px *p, px_listener *l, const sipflow_addr *remote,
                    const uint8_t *data, size_t len) {
  sipflow_flow_id flow;
  sipflow_flow_tuple tuple;
  int kind = sipflow_datagram_classify(data, len);

  switch (kind) {
  case SIPFLOW_DATAGRAM_STUN: {
    uint8_t out[SIPFLOW_STUN_MAX_LEN];
    size_t outlen;
    p->stats.rx_stun++;
    if (sipflow_stun_respond(data, len, remote, out, sizeof(out), &outlen) ==
        0) {
      /* A Binding request: answered from the port it came to, at once
       * (RFC 5626 §8, RFC 5389 §7.3.1.2). It is the UA's keepalive on a
       * UDP Outbound flow (RFC 5626 §4.4.2), as a double CRLF is on a
       * stream: the flow is alive. */
      if (px_udp_flow(p, l, remote, &flow) == 0) {
        px_send_flow(p, flow, out, outlen);
        px_on_keepalive_seen(p, flow, 0);
      }
      return;
    }
    /* A response to one of our own STUN keepalives. */
    if (px_udp_flow_find(p, l, remote, &flow) == 0)
      px_on_stun_response(p, flow, data, len);
    return;
  }
  case SIPFLOW_DATAGRAM_CRLF_PING:
  case SIPFLOW_DATAGRAM_CRLF_PONG:
  case SIPFLOW_DATAGRAM_NAT_PING:
    /* NAT pings from phones without Outbound: proof the UA is there,
     * nothing to answer (checklist 11.15). */
    p->stats.rx_crlf_pings++;
    if (px_udp_flow_find(p, l, remote, &flow) == 0)
      px_on_keepalive_seen(p, flow, 0);
    return;
  case SIPFLOW_DATAGRAM_SIP:
    if (keepalive_answer(p, data, len))
      return;
    break;
  default:
    p->stats.rx_dropped++;
    px_log_net(p, SIPFLOW_LOG_DEBUG, "udp: %zu bytes of garbage dropped", len);
    return;
  }
  if (px_udp_flow(p, l, remote, &flow) != 0) {
    p->stats.rx_dropped++;
    px_log_net(p, SIPFLOW_LOG_WARN, "udp: no flow for a datagram: dropped");
    return;
  }
  memset(&tuple, 0, sizeof(tuple));
  tuple.transport = SIPFLOW_TRANSPORT_UDP;
  tuple.local = l->addr;
  tuple.remote = *remote;
  parse_and_dispatch(p, flow, &tuple, data, len);
}

/* "NAME=VALUE" in the message's home: sofia keeps the parameter strings
 * it is given, so they must not live on the stack. */
static char *param(su_home_t *home, const char *name, const char *value) {
  size_t n = strlen(name), v = strlen(value);
  char *out = su_alloc(home, n + 1 + v + 1);
  if (out) {
    memcpy(out, name, n);
    out[n] = '=';
    memcpy(out + n + 1, value, v + 1);
  }
  return out;
}

/* The address without brackets or port. */
static void host_text(const sipflow_addr *a, char *out, size_t cap) {
  char *colon;
  if (sipflow_addr_format(a, out, cap) != 0) {
    out[0] = '\0';
    return;
  }
  *(colon = strrchr(out, ':')) = '\0';
  if (out[0] == '[') {
    colon[-1] = '\0';
    memmove(out, out + 1, (size_t)(colon - out) - 1);
  }
}

/* RFC 3581 §4 / RFC 3261 §18.2.1: note where the request really came from
 * in its top Via, for the responses and for the next hops. A WebSocket
 * client's sent-by is a made-up ".invalid" name and few ask for rport
 * (JsSIP does not): its Via gets received and rport whatever it asked,
 * as in RFC 7118 §8's examples, so that every hop sees where it is. */
static void fix_via(msg_t *msg, const sipflow_flow_tuple *tuple) {
  sip_t *sip = sip_object(msg);
  sip_via_t *v = sip->sip_via;
  su_home_t *home = msg_home(msg);
  char ip[64], port[8];
  int ws = tuple->transport == SIPFLOW_TRANSPORT_WS ||
           tuple->transport == SIPFLOW_TRANSPORT_WSS;
  if (!v)
    return;
  host_text(&tuple->remote, ip, sizeof(ip));
  if (!v->v_host || strcmp(v->v_host, ip) != 0 || v->v_rport || ws)
    msg_header_replace_param(home, v->v_common, param(home, "received", ip));
  if (v->v_rport || ws) {
    /* Decimal without printf: this runs for every request. */
    unsigned n = tuple->remote.port;
    size_t i = sizeof(port) - 1;
    port[i] = '\0';
    do {
      port[--i] = (char)('0' + n % 10);
      n /= 10;
    } while (n);
    msg_header_replace_param(home, v->v_common, param(home, "rport", port + i));
  }
  msg_fragment_clear(v->v_common);
}

/* A message framed off a stream: the same keepalive shortcut first. */
void px_on_sip(px *p, sipflow_flow_id flow, const sipflow_flow_tuple *tuple,
               const uint8_t *data, size_t len) {
  if (!keepalive_answer(p, data, len))
    parse_and_dispatch(p, flow, tuple, data, len);
}

/* Checks of the start line and framing that every request gets before it
 * is handled (RFC 3261 §8.2, §18.3): 0, or the status to answer with. */
static int request_flaw(const sip_t *sip, int transport, const char **phrase) {
  const sip_request_t *rq = sip->sip_request;
  if (!rq->rq_version || strcasecmp(rq->rq_version, "SIP/2.0") != 0) {
    *phrase = NULL;
    return 505; /* §8.2.2: not a version we speak */
  }
  if (sip->sip_cseq->cs_method != rq->rq_method ||
      (rq->rq_method == sip_method_unknown &&
       (!sip->sip_cseq->cs_method_name || !rq->rq_method_name ||
        strcmp(sip->sip_cseq->cs_method_name, rq->rq_method_name) != 0))) {
    *phrase = "CSeq Method Does Not Match";
    return 400; /* §8.1.1.5: the CSeq method is the request's method */
  }
  /* §18.3: over UDP the body ends with the datagram; a Content-Length
   * past it is an error, not a body to wait for. */
  if (transport == SIPFLOW_TRANSPORT_UDP && sip->sip_content_length &&
      sip->sip_content_length->l_length >
          (sip->sip_payload ? sip->sip_payload->pl_len : 0)) {
    *phrase = "Content-Length Past The Datagram";
    return 400;
  }
  return 0;
}

/* RFC 3261 §18.3: a UDP request whose Content-Length runs past the end of
 * the datagram SHOULD get 400. sofia-sip refuses the whole message then,
 * so it is parsed again here, as sofia-sip left it, only to answer: with
 * all the headers an answer needs, and never for an ACK. 1 if answered. */
static int short_body_request(px *p, sipflow_flow_id flow, const uint8_t *data,
                              size_t len) {
  msg_t *msg;
  sip_t *sip;
  int answered = 0;
  if (len == 0 || !((data[0] >= 'A' && data[0] <= 'Z') ||
                    (data[0] >= 'a' && data[0] <= 'z')))
    return 0;
  msg = msg_make(sip_default_mclass(), 0, data, (isize_t)len);
  if (!msg)
    return 0;
  sip = sip_object(msg);
  if (sip && sip->sip_request && sip->sip_via && sip->sip_via->v_branch &&
      sip->sip_from && sip->sip_to && sip->sip_call_id && sip->sip_cseq &&
      sip->sip_content_length &&
      sip->sip_content_length->l_length >
          (sip->sip_payload ? sip->sip_payload->pl_len : 0) &&
      sip->sip_request->rq_method != sip_method_ack) {
    p->stats.rx_malformed++;
    px_log_net(p, SIPFLOW_LOG_INFO,
               "answering 400: Content-Length past the datagram");
    px_reply(p, flow, msg, 400, "Content-Length Past The Datagram", NULL);
    answered = 1;
  }
  msg_destroy(msg);
  return answered;
}

static void parse_and_dispatch(px *p, sipflow_flow_id flow,
                               const sipflow_flow_tuple *tuple,
                               const uint8_t *data, size_t len) {
  const char *phrase = NULL;
  int flaw;
  msg_t *msg;
  sip_t *sip;
  int rv = sipflow_sofia_parse(&msg, data, len);
  p->stats.rx_messages++;
  if (rv != 0 && tuple->transport == SIPFLOW_TRANSPORT_UDP &&
      short_body_request(p, flow, data, len))
    return;
  if (rv != 0) {
    p->stats.rx_malformed++;
    px_log_net(p, SIPFLOW_LOG_INFO,
               "dropped a malformed message (%zu bytes): %s", len,
               sipflow_strerror(rv));
    return;
  }
  sip = sip_object(msg);
  /* Any message from a flow, request or response, proves the far end is
   * there. */
  px_on_keepalive_seen(p, flow, 0);
  if (sip->sip_status) {
    p->stats.rx_responses++;
    if (px_ka_options_response(p, msg))
      return;
    px_txn_on_response(p, msg, flow);
    return;
  }
  p->stats.rx_requests++;
  fix_via(msg, tuple);
  if ((flaw = request_flaw(sip, tuple->transport, &phrase)) != 0) {
    p->stats.rx_malformed++;
    px_log_net(p, SIPFLOW_LOG_INFO, "answering %d: %s", flaw,
               phrase ? phrase : px_phrase(flaw));
    if (sip->sip_request->rq_method != sip_method_ack)
      px_reply(p, flow, msg, flaw, phrase, NULL);
    msg_destroy(msg);
    return;
  }
  switch (sip->sip_request->rq_method) {
  case sip_method_register:
    px_handle_register(p, msg, flow, tuple);
    return;
  case sip_method_cancel:
    px_handle_cancel(p, msg, flow);
    return;
  case sip_method_unknown:
    if (!sip->sip_request->rq_method_name) {
      msg_destroy(msg);
      return;
    }
    /* fall through */
  default:
    px_handle_request(p, msg, flow, tuple);
    return;
  }
}
