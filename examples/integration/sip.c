/*
 * The SIP the integration examples do themselves, on sofia-sip's parser.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>
#include <sofia-sip/sip_status.h>

#include <sipflow/sipflow_sofia.h>

#include "sip.h"

int keys_new(sipflow_keyring **pkr, sipflow_ctx *ctx) {
  uint8_t key[SIPFLOW_TOKEN_KEY_LEN];
  int rv = sipflow_keyring_new(pkr, ctx);
  if (rv == 0 && (rv = sipflow_token_key_generate(key, sizeof(key))) == 0)
    rv = sipflow_keyring_add(*pkr, 1, key, sizeof(key));
  sodium_memzero(key, sizeof(key));
  return rv;
}

msg_t *sip_parse(const uint8_t *data, size_t len) {
  msg_t *msg;
  return sipflow_sofia_parse(&msg, data, len) == 0 ? msg : NULL;
}

char *sip_bytes(msg_t *msg, size_t *len) {
  sip_t *sip = sip_object(msg);
  size_t n = 0;
  char *s, *out;
  if (msg_serialize(msg, (msg_pub_t *)sip) < 0 ||
      !(s = msg_as_string(msg_home(msg), msg, (msg_pub_t *)sip, 0, &n)))
    return NULL;
  out = malloc(n + 1);
  if (out) {
    memcpy(out, s, n + 1);
    *len = n;
  }
  su_free(msg_home(msg), s);
  return out;
}

int sip_send(host_udp *sock, const sipflow_addr *to, msg_t *msg) {
  size_t len;
  char *bytes = sip_bytes(msg, &len);
  int rv = bytes ? host_udp_send(sock, to, bytes, len) : -1;
  free(bytes);
  return rv;
}

/* A growing text buffer; a failed append poisons it (ok = 0). */
typedef struct text {
  char buf[8192];
  size_t len;
  int ok;
} text;

static void put(text *t, const char *fmt, const char *a, const char *b) {
  int n;
  if (!t->ok)
    return;
  n = snprintf(t->buf + t->len, sizeof(t->buf) - t->len, fmt, a, b);
  if (n < 0 || (size_t)n >= sizeof(t->buf) - t->len)
    t->ok = 0;
  else
    t->len += (size_t)n;
}

/* "Name: value\r\n" for one header object (one value of a list). */
static void put_header(text *t, msg_t *msg, const char *name, const void *h) {
  char *v;
  if (!h)
    return;
  v = sip_header_as_string(msg_home(msg), (const sip_header_t *)h);
  if (!v) {
    t->ok = 0;
    return;
  }
  put(t, "%s: %s\r\n", name, v);
  su_free(msg_home(msg), v);
}

static char *text_out(text *t, size_t *len) {
  char *out;
  put(t, "%sContent-Length: 0\r\n\r\n", "", "");
  if (!t->ok || !(out = malloc(t->len + 1)))
    return NULL;
  memcpy(out, t->buf, t->len + 1);
  *len = t->len;
  return out;
}

static const char *phrase(int status) {
  const char *p = sip_status_phrase(status);
  return p ? p : status == 430 ? "Flow Failed" : "Unknown";
}

char *sip_response(msg_t *req, int status, const char *extra, size_t *len) {
  sip_t *sip = sip_object(req);
  text t = {.ok = 1};
  char line[64];
  snprintf(line, sizeof(line), "SIP/2.0 %d", status);
  put(&t, "%s %s\r\n", line, phrase(status));
  for (sip_via_t *v = sip->sip_via; v; v = v->v_next) {
    sip_via_t one = *v;
    one.v_next = NULL;
    put_header(&t, req, "Via", &one);
  }
  put_header(&t, req, "From", sip->sip_from);
  put_header(&t, req, "To", sip->sip_to);
  if (sip->sip_to && !sip->sip_to->a_tag && status > 100 && t.ok) {
    /* Append a tag to the To line just written; deterministic, so a
     * retransmitted request gets the same one. */
    char tag[32];
    snprintf(tag, sizeof(tag), ";tag=sf%08lx",
             (unsigned long)msg_hash_string(sip->sip_call_id->i_id));
    t.len -= 2;
    put(&t, "%s%s", tag, "\r\n");
  }
  put_header(&t, req, "Call-ID", sip->sip_call_id);
  put_header(&t, req, "CSeq", sip->sip_cseq);
  put(&t, "%s%s", extra ? extra : "", "");
  return text_out(&t, len);
}

void sip_reply(host_udp *sock, const sipflow_addr *to, msg_t *req, int status,
               const char *extra) {
  size_t len;
  char *bytes;
  if (sip_object(req)->sip_request->rq_method == sip_method_ack)
    return;
  bytes = sip_response(req, status, extra, &len);
  if (bytes)
    host_udp_send(sock, to, bytes, len);
  free(bytes);
}

const char *sip_hostport(const sipflow_addr *addr, char *buf, size_t len) {
  if (sipflow_addr_format(addr, buf, len) != 0)
    snprintf(buf, len, "invalid");
  return buf;
}

int sip_parse_hostport(const char *s, sipflow_addr *addr) {
  char name[64];
  const char *colon = strrchr(s, ':');
  unsigned long port;
  char *end;
  if (!colon || (size_t)(colon - s) >= sizeof(name))
    return -1;
  memcpy(name, s, (size_t)(colon - s));
  name[colon - s] = '\0';
  port = strtoul(colon + 1, &end, 10);
  if (*end || port > 65535)
    return -1;
  return sipflow_addr_parse(addr, name, (uint16_t)port) == 0 ? 0 : -1;
}

int sip_forward_prepare(msg_t *msg, const sipflow_addr *us,
                        const char *branch) {
  sip_t *sip = sip_object(msg);
  su_home_t *home = msg_home(msg);
  char hp[64];
  unsigned long count = 70;
  sip_via_t *via;
  if (sip->sip_max_forwards) {
    if (sip->sip_max_forwards->mf_count == 0)
      return 483;
    count = sip->sip_max_forwards->mf_count - 1;
    msg_header_remove(msg, (msg_pub_t *)sip,
                      (msg_header_t *)sip->sip_max_forwards);
  }
  snprintf(hp, sizeof(hp), "%lu", count);
  if (msg_header_insert(msg, (msg_pub_t *)sip,
                        (msg_header_t *)sip_max_forwards_make(home, hp)) < 0)
    return 500;
  via = sip_via_format(home, "SIP/2.0/UDP %s;branch=%s;rport",
                       sip_hostport(us, hp, sizeof(hp)), branch);
  if (!via || msg_header_insert(msg, (msg_pub_t *)sip, (msg_header_t *)via) < 0)
    return 500;
  return 0;
}

static int host_port_addr(const char *name, const char *port,
                          sipflow_addr *addr) {
  char h[64];
  unsigned long p = port ? strtoul(port, NULL, 10) : 5060;
  if (!name || strlen(name) >= sizeof(h) || p > 65535)
    return -1;
  snprintf(h, sizeof(h), "%s", name);
  return sipflow_addr_parse(addr, h, (uint16_t)p) == 0 ? 0 : -1;
}

const char *sip_pop_own_via(msg_t *resp, const sipflow_addr *us,
                            const char *prefix, char *buf, size_t len) {
  sip_t *sip = sip_object(resp);
  sip_via_t *v = sip->sip_via;
  sipflow_addr a;
  if (!v || !v->v_branch || strncmp(v->v_branch, prefix, strlen(prefix)) ||
      host_port_addr(v->v_host, v->v_port, &a) != 0 ||
      !sipflow_addr_equal(&a, us))
    return NULL;
  snprintf(buf, len, "%s", v->v_branch);
  msg_header_remove(resp, (msg_pub_t *)sip, (msg_header_t *)v);
  return buf;
}

int sip_via_addr(msg_t *resp, sipflow_addr *to) {
  sip_via_t *v = sip_object(resp)->sip_via;
  const char *port;
  if (!v)
    return -1;
  port = v->v_rport && v->v_rport[0] ? v->v_rport : v->v_port;
  return host_port_addr(v->v_received ? v->v_received : v->v_host, port, to);
}

int sip_url_addr(const url_t *url, sipflow_addr *addr) {
  return url ? host_port_addr(url->url_host, url->url_port, addr) : -1;
}

int sip_url_is(const url_t *url, const sipflow_addr *us) {
  sipflow_addr a;
  return sip_url_addr(url, &a) == 0 && sipflow_addr_equal(&a, us);
}

void sip_pop_route(msg_t *msg) {
  sip_t *sip = sip_object(msg);
  if (sip->sip_route)
    msg_header_remove(msg, (msg_pub_t *)sip, (msg_header_t *)sip->sip_route);
}

static int insert(msg_t *msg, msg_header_t *h) {
  return h ? msg_header_insert(msg, (msg_pub_t *)sip_object(msg), h) : -1;
}

int sip_add_header(msg_t *msg, const char *line) {
  return msg_header_add_str(msg, (msg_pub_t *)sip_object(msg), line);
}

int sip_set_request_uri(msg_t *msg, const char *uri) {
  sip_t *sip = sip_object(msg);
  sip_request_t *rq = sip_request_create(
      msg_home(msg), sip->sip_request->rq_method,
      sip->sip_request->rq_method_name, (url_string_t *)uri, NULL);
  if (!rq)
    return -1;
  return msg_header_replace(msg, (msg_pub_t *)sip,
                            (msg_header_t *)sip->sip_request,
                            (msg_header_t *)rq);
}

int sip_prepend_routes(msg_t *msg, const char *path) {
  su_home_t *home = msg_home(msg);
  sip_route_t *list = sip_route_make(home, path), *items[16];
  int n = 0;
  if (!list)
    return -1;
  for (sip_route_t *r = list; r && n < 16; r = r->r_next)
    items[n++] = r;
  /* Inserted last first: each insert goes on top. */
  while (n-- > 0) {
    sip_route_t one = *items[n];
    one.r_next = NULL;
    if (insert(msg, (msg_header_t *)sip_route_dup(home, &one)) < 0)
      return -1;
  }
  return 0;
}

int sip_add_token(msg_t *msg, const sipflow_flow_table *ft,
                  sipflow_flow_id flow, const sipflow_addr *us, int header,
                  int ob) {
  char token[SIPFLOW_TOKEN_BUFLEN], name[64];
  size_t tlen;
  sipflow_edge_local local;
  if (sipflow_flow_token(ft, flow, token, sizeof(token), &tlen) != 0)
    return -1;
  sip_hostport(us, name, sizeof(name));
  *strrchr(name, ':') = '\0'; /* the port goes in its own member */
  local.host.ptr = name;
  local.host.len = strlen(name);
  local.port = us->port;
  local.transport = 0; /* UDP: the default, left out */
  return sipflow_sofia_add_token_header(msg, header, &local, token, tlen,
                                        ob ? SIPFLOW_EDGE_URI_OB : 0);
}

/* ACK and CANCEL: the request's Request-URI, its top Via (ours), its
 * Route set, From, Call-ID and CSeq number, RFC 3261 §9.1, §17.1.1.3. */
static char *hop_request(msg_t *req, msg_t *resp, const char *method,
                         size_t *len) {
  sip_t *sip = sip_object(req);
  text t = {.ok = 1};
  char *ruri = url_as_string(msg_home(req), sip->sip_request->rq_url);
  char cseq[32];
  sip_via_t top;
  if (!ruri || !sip->sip_via)
    return NULL;
  put(&t, "%s %s SIP/2.0\r\n", method, ruri);
  top = *sip->sip_via;
  top.v_next = NULL;
  put_header(&t, req, "Via", &top);
  put(&t, "%s%s", "Max-Forwards: 70\r\n", "");
  for (sip_route_t *r = sip->sip_route; r; r = r->r_next) {
    sip_route_t one = *r;
    one.r_next = NULL;
    put_header(&t, req, "Route", &one);
  }
  put_header(&t, req, "From", sip->sip_from);
  put_header(&t, req, "To", resp ? sip_object(resp)->sip_to : sip->sip_to);
  put_header(&t, req, "Call-ID", sip->sip_call_id);
  snprintf(cseq, sizeof(cseq), "%lu", (unsigned long)sip->sip_cseq->cs_seq);
  put(&t, "CSeq: %s %s\r\n", cseq, method);
  return text_out(&t, len);
}

char *sip_ack(msg_t *req, msg_t *resp, size_t *len) {
  return hop_request(req, resp, "ACK", len);
}

char *sip_cancel(msg_t *req, size_t *len) {
  return hop_request(req, NULL, "CANCEL", len);
}

void sip_edge_facts(msg_t *msg, const sipflow_flow_table *ft,
                    const sipflow_addr *us, sipflow_flow_id flow,
                    const sipflow_addr *from, sipflow_edge_facts *f) {
  sip_t *sip = sip_object(msg);
  sipflow_flow_tuple arrival = {.transport = SIPFLOW_TRANSPORT_UDP};
  /* Only the host knows its own addresses: is the top Route ours? */
  int route_is_us = sip->sip_route && sip_url_is(sip->sip_route->r_url, us);
  arrival.local = *us;
  arrival.remote = *from;
  sipflow_sofia_edge_facts(f, msg, route_is_us, ft, flow, &arrival);
}
