/*
 * Addresses and transports: parsing and formatting without system headers
 * in the public API.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "sipflow_int.h"

int sipflow_addr_parse(sipflow_addr *addr, const char *host, uint16_t port) {
  char buf[INET6_ADDRSTRLEN + 2];
  size_t len;

  if (!addr || !host)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  len = strlen(host);
  if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
    host++;
    len -= 2;
  }
  if (len == 0 || len >= sizeof(buf))
    return SIPFLOW_ERR_MALFORMED;
  memcpy(buf, host, len);
  buf[len] = '\0';
  memset(addr, 0, sizeof(*addr));
  if (inet_pton(AF_INET, buf, addr->bytes) == 1)
    addr->family = SIPFLOW_AF_INET;
  else if (inet_pton(AF_INET6, buf, addr->bytes) == 1)
    addr->family = SIPFLOW_AF_INET6;
  else
    return SIPFLOW_ERR_MALFORMED;
  addr->port = port;
  return 0;
}

/* Decimal, as printf's %u; returns the length. */
static size_t put_dec(char *out, unsigned v) {
  char tmp[10];
  size_t n = 0, i;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (i = 0; i < n; i++)
    out[i] = tmp[n - 1 - i];
  return n;
}

/* IPv4, on every probe and every request of a host: without inet_ntop and
 * snprintf. The same text as they would write. */
static int format_v4(const sipflow_addr *addr, char *buf, size_t buflen) {
  char tmp[sizeof("255.255.255.255:65535")];
  size_t n = 0;
  for (int i = 0; i < 4; i++) {
    n += put_dec(tmp + n, addr->bytes[i]);
    tmp[n++] = i < 3 ? '.' : ':';
  }
  n += put_dec(tmp + n, addr->port);
  if (n >= buflen)
    return SIPFLOW_ERR_BUFFER_TOO_SMALL;
  memcpy(buf, tmp, n);
  buf[n] = '\0';
  return 0;
}

int sipflow_addr_format(const sipflow_addr *addr, char *buf, size_t buflen) {
  char ip[INET6_ADDRSTRLEN];
  int n;

  if (!addr || !buf)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (addr->family == SIPFLOW_AF_INET) {
    return format_v4(addr, buf, buflen);
  } else if (addr->family == SIPFLOW_AF_INET6) {
    inet_ntop(AF_INET6, addr->bytes, ip, sizeof(ip));
    n = snprintf(buf, buflen, "[%s]:%u", ip, (unsigned)addr->port);
  } else {
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  }
  if (n < 0 || (size_t)n >= buflen)
    return SIPFLOW_ERR_BUFFER_TOO_SMALL;
  return 0;
}

static size_t addr_len(uint8_t family) {
  return family == SIPFLOW_AF_INET6 ? 16 : family == SIPFLOW_AF_INET ? 4 : 0;
}

int sipflow_addr_equal(const sipflow_addr *a, const sipflow_addr *b) {
  if (!a || !b || a->family != b->family || a->port != b->port)
    return 0;
  return memcmp(a->bytes, b->bytes, addr_len(a->family)) == 0;
}

static const char *const transport_names[] = {NULL,   "udp", "tcp", "tls",
                                              "sctp", "ws",  "wss"};

const char *sipflow_transport_name(int transport) {
  if (transport < SIPFLOW_TRANSPORT_UDP || transport > SIPFLOW_TRANSPORT_WSS)
    return NULL;
  return transport_names[transport];
}

int sipflow_transport_parse(const char *name, size_t len) {
  if (!name)
    return SIPFLOW_ERR_UNSUPPORTED;
  for (int t = SIPFLOW_TRANSPORT_UDP; t <= SIPFLOW_TRANSPORT_WSS; t++) {
    const char *n = transport_names[t];
    size_t i;
    if (strlen(n) != len)
      continue;
    for (i = 0; i < len; i++) {
      char c = name[i];
      if (c >= 'A' && c <= 'Z')
        c = (char)(c - 'A' + 'a');
      if (c != n[i])
        break;
    }
    if (i == len)
      return t;
  }
  return SIPFLOW_ERR_UNSUPPORTED;
}

int sipflow_transport_is_stream(int transport) {
  return transport >= SIPFLOW_TRANSPORT_TCP &&
         transport <= SIPFLOW_TRANSPORT_WSS;
}
