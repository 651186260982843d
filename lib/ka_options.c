/*
 * SIP OPTIONS keepalive probes: the request text (RFC 3261 §11) and reading
 * the probe id back from a response's From tag or Via branch.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <stdio.h>
#include <string.h>

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
static int clean(const char *s) {
  return !s || (!strchr(s, '\r') && !strchr(s, '\n'));
}

int sipflow_keepalive_options_build(
    const sipflow_keepalive_options_request *req, char *buf, size_t buflen,
    size_t *outlen) {
  char local[48], remote[48], ruri[80];
  const char *user, *uri;
  int n;
  if (!req || !buf || !outlen || !sipflow_transport_name(req->transport) ||
      !clean(req->request_uri) || !clean(req->route) || !clean(req->from_user))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (sipflow_addr_format(&req->local, local, sizeof(local)) != 0 ||
      sipflow_addr_format(&req->remote, remote, sizeof(remote)) != 0)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  user = req->from_user ? req->from_user : "keepalive";
  uri = req->request_uri;
  if (!uri) {
    if (req->transport == SIPFLOW_TRANSPORT_UDP)
      snprintf(ruri, sizeof(ruri), "sip:%s", remote);
    else
      snprintf(ruri, sizeof(ruri), "sip:%s;transport=%s", remote,
               sipflow_transport_name(req->transport));
    uri = ruri;
  }
  n = snprintf(buf, buflen,
               "OPTIONS %s SIP/2.0\r\n"
               "Via: SIP/2.0/%s %s;branch=" COOKIE MARK "%016llx%s\r\n"
               "%s%s%s"
               "Max-Forwards: %u\r\n"
               "From: <sip:%s@%s>;tag=" MARK "%016llx\r\n"
               "To: <sip:%s>\r\n"
               "Call-ID: " MARK "%016llx@%s\r\n"
               "CSeq: 1 OPTIONS\r\n"
               "Content-Length: 0\r\n\r\n",
               uri, via_names[req->transport], local,
               (unsigned long long)req->probe_id,
               req->transport == SIPFLOW_TRANSPORT_UDP ? ";rport" : "",
               req->route ? "Route: " : "", req->route ? req->route : "",
               req->route ? "\r\n" : "", (unsigned)req->max_forwards, user,
               local, (unsigned long long)req->probe_id, remote,
               (unsigned long long)req->probe_id, local);
  if (n < 0 || (size_t)n >= buflen)
    return SIPFLOW_ERR_BUFFER_TOO_SMALL;
  *outlen = (size_t)n;
  return 0;
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
