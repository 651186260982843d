/*
 * sipflow-proxy: SIP message helpers on sofia-sip: responses, forwarding
 * edits (Via, Max-Forwards), serialisation.
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
#include <sofia-sip/sip_status.h>

#include "proxy.h"

char *px_msg_bytes(msg_t *msg, size_t *len) {
  sip_t *sip = sip_object(msg);
  char *s, *out;
  size_t n = 0;
  if (msg_serialize(msg, (msg_pub_t *)sip) < 0)
    return NULL;
  s = msg_as_string(msg_home(msg), msg, (msg_pub_t *)sip, 0, &n);
  if (!s)
    return NULL;
  out = malloc(n + 1);
  if (out) {
    memcpy(out, s, n);
    out[n] = '\0';
    *len = n;
  }
  su_free(msg_home(msg), s);
  return out;
}

const char *px_phrase(int status) {
  const char *p = sip_status_phrase(status);
  return p ? p
           : (status == 430   ? "Flow Failed"
              : status == 439 ? "First Hop Lacks Outbound Support"
                              : "Unknown");
}

/* Appends "Name: value\r\n" for a header, or nothing. */
static int put_header(su_home_t *home, char *buf, size_t cap, size_t *off,
                      const char *name, const void *h) {
  char *v;
  int n;
  if (!h)
    return 0;
  v = sip_header_as_string(home, (const sip_header_t *)h);
  if (!v)
    return -1;
  n = snprintf(buf + *off, cap - *off, "%s: %s\r\n", name, v);
  su_free(home, v);
  if (n < 0 || (size_t)n >= cap - *off)
    return -1;
  *off += (size_t)n;
  return 0;
}

char *px_response(px *p, msg_t *req, int status, const char *phrase,
                  const char *extra, size_t *len) {
  sip_t *sip = sip_object(req);
  su_home_t *home = msg_home(req);
  size_t cap = 8192 + (extra ? strlen(extra) : 0), off = 0;
  char *buf = malloc(cap);
  int n;
  (void)p;
  if (!buf)
    return NULL;
  n = snprintf(buf, cap, "SIP/2.0 %d %s\r\n", status,
               phrase ? phrase : px_phrase(status));
  off = (size_t)n;
  for (sip_via_t *v = sip->sip_via; v; v = v->v_next) {
    sip_via_t one = *v;
    one.v_next = NULL;
    if (put_header(home, buf, cap, &off, "Via", &one) != 0)
      goto fail;
  }
  if (put_header(home, buf, cap, &off, "From", sip->sip_from) != 0)
    goto fail;
  if (sip->sip_to && !sip->sip_to->a_tag && status > 100) {
    /* A deterministic To-tag: retransmitted requests get the same one. */
    char *to = sip_header_as_string(home, (sip_header_t *)sip->sip_to);
    n = snprintf(buf + off, cap - off, "To: %s;tag=px%08lx\r\n", to ? to : "",
                 (unsigned long)msg_hash_string(sip->sip_call_id->i_id));
    su_free(home, to);
    if (n < 0 || (size_t)n >= cap - off)
      goto fail;
    off += (size_t)n;
  } else if (put_header(home, buf, cap, &off, "To", sip->sip_to) != 0) {
    goto fail;
  }
  if (put_header(home, buf, cap, &off, "Call-ID", sip->sip_call_id) != 0 ||
      put_header(home, buf, cap, &off, "CSeq", sip->sip_cseq) != 0)
    goto fail;
  n = snprintf(buf + off, cap - off,
               "%sServer: sipflow-proxy/%s\r\nContent-Length: 0\r\n\r\n",
               extra ? extra : "", SIPFLOW_VERSION);
  if (n < 0 || (size_t)n >= cap - off)
    goto fail;
  off += (size_t)n;
  *len = off;
  return buf;
fail:
  free(buf);
  return NULL;
}

int px_send_response_bytes(px *p, sipflow_flow_id flow, msg_t *req,
                           const char *bytes, size_t len) {
  (void)req;
  /* Streams: the same connection. UDP: the flow is (our socket, the
   * request's source address), i.e. received:rport (RFC 3581 §4). */
  return px_send_flow(p, flow, bytes, len);
}

int px_reply(px *p, sipflow_flow_id flow, msg_t *req, int status,
             const char *phrase, const char *extra) {
  size_t len;
  char *bytes;
  int rv;
  if (sip_object(req)->sip_request->rq_method == sip_method_ack)
    return 0; /* never answer an ACK */
  bytes = px_response(p, req, status, phrase, extra, &len);
  if (!bytes)
    return -1;
  rv = px_send_response_bytes(p, flow, req, bytes, len);
  free(bytes);
  return rv;
}

void px_new_branch(px *p, char *buf, size_t len) {
  uint8_t r[8];
  sipflow_uv_rand(NULL, r, sizeof(r));
  snprintf(buf, len, PX_BRANCH_MAGIC "sf%02x%02x%02x%02x%02x%02x%llx", r[0],
           r[1], r[2], r[3], r[4], r[5],
           (unsigned long long)++p->branch_counter);
}

int px_prepare_forward(px *p, msg_t *msg, int transport, int family,
                       const char *branch) {
  sip_t *sip = sip_object(msg);
  su_home_t *home = msg_home(msg);
  char host[300];
  uint16_t port;
  sip_via_t *via;
  sip_max_forwards_t *mf;
  unsigned long count = 70;
  char mfs[24];

  if (sip->sip_max_forwards) {
    if (sip->sip_max_forwards->mf_count == 0)
      return 483;
    count = sip->sip_max_forwards->mf_count - 1;
  }
  snprintf(mfs, sizeof(mfs), "%lu", count);
  mf = sip_max_forwards_make(home, mfs);
  if (!mf)
    return 500;
  if (sip->sip_max_forwards)
    msg_header_replace(msg, (msg_pub_t *)sip,
                       (msg_header_t *)sip->sip_max_forwards,
                       (msg_header_t *)mf);
  else
    msg_header_insert(msg, (msg_pub_t *)sip, (msg_header_t *)mf);

  px_advertise(p, transport, family, host, sizeof(host), &port);
  via = sip_via_format(home, "SIP/2.0/%s %s:%u;branch=%s;rport",
                       transport == SIPFLOW_TRANSPORT_TCP ? "TCP" : "UDP", host,
                       (unsigned)port, branch);
  if (!via || msg_header_insert(msg, (msg_pub_t *)sip, (msg_header_t *)via) < 0)
    return 500;
  return 0;
}

bool px_domain_ok(px *p, const char *host) {
  if (p->cfg.ndomains == 0)
    return true;
  if (!host)
    return false;
  for (int i = 0; i < p->cfg.ndomains; i++)
    if (strcasecmp(host, p->cfg.domains[i]) == 0)
      return true;
  return false;
}

/* Whether |url| names this proxy: one of our listeners or the advertised
 * address. */
bool px_uri_is_us(px *p, const url_t *url) {
  sipflow_addr a;
  char host[128];
  unsigned port;
  if (!url || !url->url_host)
    return false;
  port = url->url_port ? (unsigned)atoi(url->url_port) : 5060;
  if (p->cfg.advertise_host[0] &&
      strcasecmp(url->url_host, p->cfg.advertise_host) == 0) {
    uint16_t ap = p->cfg.advertise_port;
    if (!ap || ap == port)
      return true;
  }
  snprintf(host, sizeof(host), "%s", url->url_host);
  if (sipflow_addr_parse(&a, host, (uint16_t)port) != 0)
    return false;
  for (int i = 0; i < p->nlisteners; i++) {
    const sipflow_addr *l = &p->listeners[i].addr;
    if (l->port != port || l->family != a.family)
      continue;
    if (sipflow_addr_equal(l, &a))
      return true;
  }
  return false;
}

/* The transport and address a SIP URI names, for hosts given as IP
 * literals (this proxy resolves no names). */
int px_url_endpoint(const url_t *url, px_endpoint_cfg *ep) {
  char host[128], tp[16];
  unsigned port;
  if (!url || !url->url_host)
    return -1;
  port = url->url_port ? (unsigned)atoi(url->url_port) : 5060;
  snprintf(host, sizeof(host), "%s", url->url_host);
  if (sipflow_addr_parse(&ep->addr, host, (uint16_t)port) != 0)
    return -1;
  ep->transport = SIPFLOW_TRANSPORT_UDP;
  if (url->url_params &&
      url_param(url->url_params, "transport", tp, sizeof(tp)) > 0) {
    int t = sipflow_transport_parse(tp, strlen(tp));
    if (t != SIPFLOW_TRANSPORT_UDP && t != SIPFLOW_TRANSPORT_TCP)
      return -1;
    ep->transport = t;
  }
  return 0;
}
