/*
 * SIP OPTIONS keepalive probes: the request text (RFC 3261 §11) and reading
 * the probe id back from a response's From tag or Via branch.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <string.h>
#include <strings.h>

#include "keepalive_int.h"

/* Our mark inside tags and branches, so responses to other requests are
 * told apart before any lookup. */
#define MARK "sfka"
#define COOKIE "z9hG4bK"

static const char *const via_names[] = {NULL,   "UDP", "TCP", "TLS",
                                        "SCTP", "WS",  "WSS"};

void sipflow_keepalive_options_request_default(
    sipflow_keepalive_options_request *req) {
  if (!req)
    return;
  memset(req, 0, sizeof(*req));
  req->max_forwards = 70;
}

/* A host-given string must not be able to add header lines. */
static int clean(sipflow_str s) {
  return !s.len ||
         (s.ptr && !memchr(s.ptr, '\r', s.len) && !memchr(s.ptr, '\n', s.len));
}

/* ---- writing the request ----------------------------------------------------
 *
 * Every probe of a large scheduler goes through here (50 000 contacts at a
 * 10 s interval are 5 000 a second), so the text is put together with
 * memcpy and hand-rolled number formatting rather than snprintf, and the
 * local address, the same for nearly every probe, is formatted once per
 * scheduler (sipflow__ka_options_probe). The output is byte for byte what
 * the format string this replaced wrote; the unit tests hold it to that.
 */

typedef struct writer {
  char *p, *end; /* |end| leaves room for the NUL */
  int over;
} writer;

static void put(writer *w, const char *s, size_t n) {
  if (w->over || (size_t)(w->end - w->p) < n) {
    w->over = 1;
    return;
  }
  memcpy(w->p, s, n);
  w->p += n;
}

#define PUT_LIT(w, lit) put((w), (lit), sizeof(lit) - 1)

static void put_str(writer *w, const char *s) { put(w, s, strlen(s)); }

static void put_hex16(writer *w, uint64_t v) {
  static const char digits[] = "0123456789abcdef";
  char out[16];
  for (int i = 15; i >= 0; i--, v >>= 4)
    out[i] = digits[v & 15];
  put(w, out, sizeof(out));
}

/* Decimal without leading zeros, as printf's %u. Returns the length. */
static size_t fmt_uint(char *out, unsigned v) {
  char tmp[10];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; i++)
    out[i] = tmp[n - 1 - i];
  return n;
}

static void put_uint(writer *w, unsigned v) {
  char out[10];
  put(w, out, fmt_uint(out, v));
}

/* "a.b.c.d:port" or "[v6]:port". Returns the length, or 0. */
static size_t fmt_addr(const sipflow_addr *a, char *out, size_t cap) {
  return sipflow_addr_format(a, out, cap) == 0 ? strlen(out) : 0;
}

typedef struct text {
  const char *p;
  size_t n;
} text;

static void put_text(writer *w, text t) { put(w, t.p, t.n); }

/* The request of sipflow_keepalive_options_build() with the addresses given
 * already formatted. Checked arguments. */
static int write_request(const sipflow_keepalive_options_request *req,
                         text local, text remote, char *buf, size_t buflen,
                         size_t *outlen) {
  writer w = {buf, buf + (buflen ? buflen - 1 : 0), buflen == 0};
  int udp = req->transport == SIPFLOW_TRANSPORT_UDP;
  PUT_LIT(&w, "OPTIONS ");
  if (req->request_uri.len) {
    put(&w, req->request_uri.ptr, req->request_uri.len);
  } else {
    PUT_LIT(&w, "sip:");
    put_text(&w, remote);
    if (!udp) {
      PUT_LIT(&w, ";transport=");
      put_str(&w, sipflow_transport_name(req->transport));
    }
  }
  PUT_LIT(&w, " SIP/2.0\r\nVia: SIP/2.0/");
  put_str(&w, via_names[req->transport]);
  PUT_LIT(&w, " ");
  put_text(&w, local);
  PUT_LIT(&w, ";branch=" COOKIE MARK);
  put_hex16(&w, req->probe_id);
  if (udp)
    PUT_LIT(&w, ";rport");
  PUT_LIT(&w, "\r\n");
  if (req->route.len) {
    PUT_LIT(&w, "Route: ");
    put(&w, req->route.ptr, req->route.len);
    PUT_LIT(&w, "\r\n");
  }
  PUT_LIT(&w, "Max-Forwards: ");
  put_uint(&w, req->max_forwards);
  PUT_LIT(&w, "\r\nFrom: <sip:");
  if (req->from_user.len)
    put(&w, req->from_user.ptr, req->from_user.len);
  else
    PUT_LIT(&w, "keepalive");
  PUT_LIT(&w, "@");
  put_text(&w, local);
  PUT_LIT(&w, ">;tag=" MARK);
  put_hex16(&w, req->probe_id);
  PUT_LIT(&w, "\r\nTo: <sip:");
  put_text(&w, remote);
  PUT_LIT(&w, ">\r\nCall-ID: " MARK);
  put_hex16(&w, req->probe_id);
  PUT_LIT(&w, "@");
  put_text(&w, local);
  PUT_LIT(&w, "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
  if (w.over)
    return SIPFLOW_ERR_BUFFER_TOO_SMALL;
  *w.p = '\0';
  *outlen = (size_t)(w.p - buf);
  return 0;
}

static int check_request(const sipflow_keepalive_options_request *req) {
  if (!sipflow_transport_name(req->transport) || !clean(req->request_uri) ||
      !clean(req->route) || !clean(req->from_user))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  return 0;
}

int sipflow_keepalive_options_build(
    const sipflow_keepalive_options_request *req, char *buf, size_t buflen,
    size_t *outlen) {
  char local[48], remote[48];
  text l, r;
  if (!req || !buf || !outlen || check_request(req) != 0)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  l.p = local;
  r.p = remote;
  if (!(l.n = fmt_addr(&req->local, local, sizeof(local))) ||
      !(r.n = fmt_addr(&req->remote, remote, sizeof(remote))))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  return write_request(req, l, r, buf, buflen, outlen);
}

/* The scheduler's own probes: the local address text is kept from one probe
 * to the next (a host has one or a few local addresses), the remote one is
 * formatted each time, which keeps no text per endpoint. */
int sipflow__ka_options_probe(sipflow_keepalive *ka,
                              const sipflow_flow_tuple *t, sipflow_str ruri,
                              uint64_t probe_id, size_t *len) {
  sipflow_keepalive_options_request req;
  char remote[48];
  text r = {remote, 0}, l;
  if (!ka->opt_local_len || !sipflow_addr_equal(&ka->opt_local, &t->local)) {
    size_t n =
        fmt_addr(&t->local, ka->opt_local_text, sizeof(ka->opt_local_text));
    if (!n)
      return SIPFLOW_ERR_INVALID_ARGUMENT;
    ka->opt_local = t->local;
    ka->opt_local_len = (uint8_t)n;
  }
  if (!(r.n = fmt_addr(&t->remote, remote, sizeof(remote))) ||
      !sipflow_transport_name(t->transport))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  sipflow_keepalive_options_request_default(&req);
  req.probe_id = probe_id;
  req.transport = t->transport;
  req.request_uri = ruri;
  l.p = ka->opt_local_text;
  l.n = ka->opt_local_len;
  return write_request(&req, l, r, (char *)ka->probe_buf, sizeof(ka->probe_buf),
                       len);
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int sipflow_keepalive_probe_id_parse(const char *s, size_t len,
                                     uint64_t *probe_id) {
  uint64_t v = 0;
  if (!s || !probe_id)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (len >= 7 && memcmp(s, COOKIE, 7) == 0) {
    s += 7;
    len -= 7;
  }
  if (len != 4 + 16 || memcmp(s, MARK, 4) != 0)
    return SIPFLOW_ERR_MALFORMED;
  for (size_t i = 4; i < len; i++) {
    int h = hexval(s[i]);
    if (h < 0)
      return SIPFLOW_ERR_MALFORMED;
    v = v << 4 | (uint64_t)h;
  }
  *probe_id = v;
  return 0;
}

/* ---- recognising an answer before a SIP parser
 * --------------------------------
 *
 * Hosts that answer thousands of probes a second can take the answers off
 * their parser's path. Only the plain form is recognised; anything else
 * (folded lines, several Vias, a Via with several values, odd spacing)
 * gives NOT_FOUND and the host parses the message as usual, so being strict
 * here costs speed, never correctness. Every read is bounded by |len|.
 */

typedef struct span {
  const char *p;
  size_t n;
} span;

static int is_ws(char c) { return c == ' ' || c == '\t'; }

static span trim(span s) {
  while (s.n && is_ws(s.p[0])) {
    s.p++;
    s.n--;
  }
  while (s.n && is_ws(s.p[s.n - 1]))
    s.n--;
  return s;
}

/* The next CRLF-terminated line of |*rest| (without the CRLF); 0 when there
 * is none, or a bare CR or LF shows a form this reader leaves alone. */
static int next_line(span *rest, span *line) {
  const char *lf = memchr(rest->p, '\n', rest->n);
  size_t n;
  if (!lf || lf == rest->p || lf[-1] != '\r')
    return 0;
  n = (size_t)(lf - rest->p) - 1;
  if (memchr(rest->p, '\r', n))
    return 0;
  line->p = rest->p;
  line->n = n;
  rest->p = lf + 1;
  rest->n -= n + 2;
  return 1;
}

static int name_is(span name, const char *full, char compact) {
  size_t n = strlen(full);
  return (name.n == n && strncasecmp(name.p, full, n) == 0) ||
         (compact && name.n == 1 && (name.p[0] | 0x20) == compact);
}

/* "SIP/2.0 NNN reason": the status, or 0. */
static unsigned read_status(span line) {
  const char *s = line.p;
  unsigned v = 0;
  if (line.n < 12 || memcmp(s, "SIP/2.0 ", 8) != 0 || s[11] != ' ')
    return 0;
  for (int i = 8; i < 11; i++) {
    if (s[i] < '0' || s[i] > '9')
      return 0;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  return v >= 100 && v <= 699 ? v : 0;
}

/* The probe id in a single-valued Via's branch parameter (RFC 3261 §20.42:
 * via-branch = "branch" EQUAL token); only "branch=" without spaces around
 * the '=', as every stack writes it back. */
static int via_probe_id(span v, uint64_t *id) {
  static const char name[] = "branch=";
  const size_t nl = sizeof(name) - 1;
  if (memchr(v.p, ',', v.n))
    return SIPFLOW_ERR_NOT_FOUND;
  for (size_t i = 0; i < v.n; i++) {
    size_t j = i + 1, k;
    if (v.p[i] != ';')
      continue;
    while (j < v.n && is_ws(v.p[j]))
      j++;
    if (v.n - j < nl || strncasecmp(v.p + j, name, nl) != 0)
      continue;
    j += nl;
    for (k = j; k < v.n && v.p[k] != ';' && !is_ws(v.p[k]);)
      k++;
    /* Our branches carry the RFC 3261 cookie; a bare id is someone else's. */
    if (k - j < 7 || memcmp(v.p + j, COOKIE, 7) != 0)
      return SIPFLOW_ERR_NOT_FOUND;
    return sipflow_keepalive_probe_id_parse(v.p + j, k - j, id) == 0
               ? 0
               : SIPFLOW_ERR_NOT_FOUND;
  }
  return SIPFLOW_ERR_NOT_FOUND;
}

/* CSeq = 1*DIGIT LWS Method (RFC 3261 §20.16); methods are case-sensitive. */
static int cseq_is_options(span v) {
  size_t i = 0;
  v = trim(v);
  while (i < v.n && v.p[i] >= '0' && v.p[i] <= '9')
    i++;
  if (i == 0 || i > 10 || i == v.n || !is_ws(v.p[i]))
    return 0;
  while (i < v.n && is_ws(v.p[i]))
    i++;
  return v.n - i == 7 && memcmp(v.p + i, "OPTIONS", 7) == 0;
}

int sipflow_keepalive_options_response_parse(const uint8_t *data, size_t len,
                                             uint64_t *probe_id,
                                             unsigned *status) {
  span rest = {(const char *)data, len}, line;
  unsigned st;
  int vias = 0, cseqs = 0, ours = 0;
  uint64_t id = 0;
  if (!data || !probe_id || !status)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (!next_line(&rest, &line) || !(st = read_status(line)))
    return SIPFLOW_ERR_NOT_FOUND;
  for (;;) {
    const char *colon;
    span name, value;
    if (!next_line(&rest, &line))
      return SIPFLOW_ERR_NOT_FOUND; /* no end of the header */
    if (line.n == 0)
      break;
    colon = memchr(line.p, ':', line.n);
    if (!colon || is_ws(line.p[0]))
      return SIPFLOW_ERR_NOT_FOUND; /* folded or not a header line */
    name.p = line.p;
    name.n = (size_t)(colon - line.p);
    name = trim(name);
    value.p = colon + 1;
    value.n = line.n - (size_t)(colon - line.p) - 1;
    if (name_is(name, "Via", 'v')) {
      ours = ++vias == 1 && via_probe_id(value, &id) == 0;
    } else if (name_is(name, "CSeq", 0)) {
      if (++cseqs > 1 || !cseq_is_options(value))
        return SIPFLOW_ERR_NOT_FOUND;
    }
  }
  /* One Via: a response with more is not for us (RFC 3261 §18.1.2). */
  if (vias != 1 || !ours || cseqs != 1)
    return SIPFLOW_ERR_NOT_FOUND;
  *probe_id = id;
  *status = st;
  return 0;
}
