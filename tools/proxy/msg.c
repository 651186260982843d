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
#include <time.h>

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

/* ---- responses ------------------------------------------------------------
 * A response is written straight into one buffer: header lines are encoded
 * by sofia in place (no string copies), the rest is copied, and nothing is
 * formatted with printf: this runs for every REGISTER.
 */

typedef struct px_out {
  char *b;
  size_t cap, len;
  int over;
} px_out;

static void out_mem(px_out *o, const char *s, size_t n) {
  if (o->over || n > o->cap - o->len) {
    o->over = 1;
    return;
  }
  memcpy(o->b + o->len, s, n);
  o->len += n;
}

static void out_str(px_out *o, const char *s) { out_mem(o, s, strlen(s)); }

/* Decimal, without printf. */
static void out_uint(px_out *o, unsigned long v) {
  char d[24];
  size_t i = sizeof(d);
  do {
    d[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  out_mem(o, d + i, sizeof(d) - i);
}

/* One header line, name and CRLF included, as sofia encodes it. Only |h|
 * itself: msg_header_e() does not follow the list. */
static void out_header(px_out *o, const void *h) {
  issize_t n;
  if (!h || o->over)
    return;
  n = msg_header_e(o->b + o->len, (isize_t)(o->cap - o->len),
                   (const msg_header_t *)h, 0);
  if (n < 0 || (size_t)n >= o->cap - o->len) {
    o->over = 1;
    return;
  }
  o->len += (size_t)n;
}

/* The To header with our deterministic tag: a retransmitted request gets
 * the same one. */
static void out_to_tagged(px_out *o, const sip_t *sip) {
  static const char hex[] = "0123456789abcdef";
  unsigned long h = (unsigned long)msg_hash_string(sip->sip_call_id->i_id);
  char digits[2 * sizeof(h)];
  size_t i = sizeof(digits);
  out_header(o, sip->sip_to);
  if (o->over || o->len < 2)
    return;
  o->len -= 2; /* before its CRLF */
  /* The hash in hex, at least 8 digits (as "%08lx"). */
  do {
    digits[--i] = hex[h & 0xf];
    h >>= 4;
  } while (h || sizeof(digits) - i < 8);
  out_str(o, ";tag=px");
  out_mem(o, digits + i, sizeof(digits) - i);
  out_str(o, "\r\n");
}

/* Call-ID and CSeq are copied from their parsed values: cheaper than
 * sofia's generic encoder, and the same text. */
static void out_call_id_cseq(px_out *o, const sip_t *sip) {
  if (sip->sip_call_id) {
    out_str(o, "Call-ID: ");
    out_str(o, sip->sip_call_id->i_id);
    out_str(o, "\r\n");
  }
  if (sip->sip_cseq) {
    out_str(o, "CSeq: ");
    out_uint(o, (unsigned long)sip->sip_cseq->cs_seq);
    out_str(o, " ");
    out_str(o, sip->sip_cseq->cs_method_name);
    out_str(o, "\r\n");
  }
}

size_t px_response_cap(const char *extra) {
  return 8192 + (extra ? strlen(extra) : 0);
}

int px_response_into(px *p, msg_t *req, int status, const char *phrase,
                     const char *extra, char *buf, size_t cap, size_t *len) {
  static const char tail[] =
      "Server: sipflow-proxy/" SIPFLOW_VERSION "\r\nContent-Length: 0\r\n\r\n";
  sip_t *sip = sip_object(req);
  px_out o = {buf, cap, 0, 0};
  (void)p;
  if (status < 100 || status > 699)
    return -1;
  out_str(&o, "SIP/2.0 ");
  out_uint(&o, (unsigned long)status);
  out_str(&o, " ");
  out_str(&o, phrase ? phrase : px_phrase(status));
  out_str(&o, "\r\n");
  for (sip_via_t *v = sip->sip_via; v; v = v->v_next)
    out_header(&o, v);
  out_header(&o, sip->sip_from);
  if (sip->sip_to && !sip->sip_to->a_tag && status > 100)
    out_to_tagged(&o, sip);
  else
    out_header(&o, sip->sip_to);
  out_call_id_cseq(&o, sip);
  if (extra)
    out_str(&o, extra);
  out_mem(&o, tail, sizeof(tail) - 1);
  if (o.over)
    return -1;
  *len = o.len;
  return 0;
}

char *px_response(px *p, msg_t *req, int status, const char *phrase,
                  const char *extra, size_t *len) {
  size_t cap = px_response_cap(extra);
  char *buf = malloc(cap);
  if (buf && px_response_into(p, req, status, phrase, extra, buf, cap, len)) {
    /* A long Via stack: the echoed headers come from the request, so its
     * largest size more is always enough. */
    free(buf);
    cap += PX_MAX_MESSAGE + 1024;
    buf = malloc(cap);
    if (buf && px_response_into(p, req, status, phrase, extra, buf, cap, len)) {
      free(buf);
      buf = NULL;
    }
  }
  return buf;
}

const char *px_date_header(size_t *len) {
  /* The proxy has one thread; the second changes far less often than
   * REGISTERs arrive. */
  static char cached[64];
  static size_t cached_len;
  static time_t cached_at = (time_t)-1;
  time_t now = time(NULL);
  if (now != cached_at) {
    struct tm tm;
    gmtime_r(&now, &tm);
    cached_len = strftime(cached, sizeof(cached),
                          "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    cached_at = now;
  }
  if (len)
    *len = cached_len;
  return cached;
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
  sipflow_uv_rand(r, sizeof(r), NULL);
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
  via =
      sip_via_format(home, "SIP/2.0/%s %s:%u;branch=%s;rport",
                     px_via_transport(transport), host, (unsigned)port, branch);
  if (!via || msg_header_insert(msg, (msg_pub_t *)sip, (msg_header_t *)via) < 0)
    return 500;
  return 0;
}

const char *px_via_transport(int transport) {
  switch (transport) {
  case SIPFLOW_TRANSPORT_TCP:
    return "TCP";
  case SIPFLOW_TRANSPORT_TLS:
    return "TLS";
  case SIPFLOW_TRANSPORT_WS:
    return "WS"; /* RFC 7118 §5.2 */
  case SIPFLOW_TRANSPORT_WSS:
    return "WSS";
  default:
    return "UDP";
  }
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

/* The port a URI gives, or 0 when it gives none. */
static unsigned url_port_or_0(const url_t *url) {
  return url->url_port ? (unsigned)atoi(url->url_port) : 0;
}

/* A listener's IP with no port or with the port of a listener on it: a
 * request that names the IP alone reached us, so it is for us. */
static bool host_is_listener_ip(px *p, const char *host, unsigned port) {
  sipflow_addr a;
  char buf[128];
  snprintf(buf, sizeof(buf), "%s", host);
  if (sipflow_addr_parse(&a, buf, 0) != 0)
    return false;
  static const uint8_t any[16];
  for (int i = 0; i < p->nlisteners; i++) {
    sipflow_addr l = p->listeners[i].addr;
    if (port && l.port != port)
      continue;
    l.port = 0;
    /* A wildcard listener (0.0.0.0, ::) has every address of its family:
     * the proxy does not enumerate interfaces (--alias names them). */
    if (sipflow_addr_equal(&l, &a) ||
        (l.family == a.family &&
         memcmp(l.bytes, any, l.family == SIPFLOW_AF_INET ? 4 : 16) == 0))
      return true;
  }
  return false;
}

bool px_host_is_own(px *p, const url_t *url) {
  unsigned port;
  if (!url || !url->url_host)
    return false;
  port = url_port_or_0(url);
  for (int i = 0; i < p->cfg.ndomains; i++)
    if (strcasecmp(url->url_host, p->cfg.domains[i]) == 0)
      return true;
  for (int i = 0; i < p->cfg.naliases; i++) {
    const px_alias_cfg *a = &p->cfg.aliases[i];
    if (strcasecmp(url->url_host, a->host) == 0 &&
        (!port || !a->port || a->port == port))
      return true;
  }
  if (p->cfg.advertise_host[0] &&
      strcasecmp(url->url_host, p->cfg.advertise_host) == 0 &&
      (!port || !p->cfg.advertise_port || p->cfg.advertise_port == port))
    return true;
  return host_is_listener_ip(p, url->url_host, port);
}

/* The home domain an own name stands for: the first --domain, else the
 * advertised host, else the first listener's IP. */
static void home_domain(px *p, char *buf, size_t len) {
  char a[64];
  if (p->cfg.ndomains > 0) {
    snprintf(buf, len, "%s", p->cfg.domains[0]);
    return;
  }
  if (p->cfg.advertise_host[0]) {
    snprintf(buf, len, "%s", p->cfg.advertise_host);
    return;
  }
  if (p->nlisteners == 0 ||
      sipflow_addr_format(&p->listeners[0].addr, a, sizeof(a)) != 0) {
    snprintf(buf, len, "localhost");
    return;
  }
  *strrchr(a, ':') = '\0';
  snprintf(buf, len, "%s", a);
}

/* Appends |n| bytes of |s| at |*w| if they fit before |end|; false if not. */
static bool put(char **w, const char *end, const char *s, size_t n) {
  if (n > (size_t)(end - *w))
    return false;
  memcpy(*w, s, n);
  *w += n;
  return true;
}

/* Copied with memcpy, not printf: this runs for every REGISTER. */
int px_aor_key(px *p, const url_t *url, char *buf, size_t len) {
  char home[300];
  const char *user, *scheme;
  char *w = buf, *end;
  bool ok;
  if (!url || !url->url_host || len == 0)
    return -1;
  end = buf + len - 1; /* room for the NUL */
  scheme = url->url_type == url_sips ? "sips:" : "sip:";
  user = url->url_user;
  ok = put(&w, end, scheme, strlen(scheme)) &&
       (!user || (put(&w, end, user, strlen(user)) && put(&w, end, "@", 1)));
  if (ok && px_host_is_own(p, url)) {
    home_domain(p, home, sizeof(home));
    ok = put(&w, end, home, strlen(home));
  } else if (ok) {
    /* The host as given, with its port if it has one. Parameters and
     * headers are left out here; the registrar drops them and decodes
     * escapes itself (RFC 3261 §10.3 step 5). */
    ok = put(&w, end, url->url_host, strlen(url->url_host)) &&
         (!url->url_port ||
          (put(&w, end, ":", 1) &&
           put(&w, end, url->url_port, strlen(url->url_port))));
  }
  *w = '\0';
  return ok ? 0 : -1;
}

bool px_next_hop_allowed(px *p, const px_endpoint_cfg *ep) {
  if (p->cfg.role == PX_ROLE_EDGE && p->cfg.have_registrar &&
      sipflow_addr_equal(&ep->addr, &p->cfg.registrar.addr))
    return true;
  for (int i = 0; i < p->cfg.npeers; i++)
    if (sipflow_addr_equal(&ep->addr, &p->cfg.peers[i].addr))
      return true;
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
