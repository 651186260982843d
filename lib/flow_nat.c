/*
 * NAT detection for UAs that do not use Outbound: private or mismatched
 * Contact and Via sent-by against the packet's source, and rport.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <string.h>

#include "sipflow/edge.h"
#include "sipflow_int.h"

#define SIP_DEFAULT_PORT 5060

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0,    0,
                                             0, 0, 0, 0, 0xff, 0xff};

/* ::ffff:a.b.c.d is a.b.c.d: a dual-stack socket reports IPv4 peers so. */
static sipflow_addr normalize(const sipflow_addr *a) {
  sipflow_addr n = *a;
  if (a->family == SIPFLOW_AF_INET6 &&
      memcmp(a->bytes, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0) {
    memset(&n, 0, sizeof(n));
    n.family = SIPFLOW_AF_INET;
    memcpy(n.bytes, a->bytes + 12, 4);
    n.port = a->port;
  }
  return n;
}

static bool private_v4(const uint8_t *b) {
  return b[0] == 10 ||                           /* RFC 1918 */
         (b[0] == 172 && (b[1] & 0xf0) == 16) || /* RFC 1918 */
         (b[0] == 192 && b[1] == 168) ||         /* RFC 1918 */
         (b[0] == 100 && (b[1] & 0xc0) == 64) || /* RFC 6598 */
         (b[0] == 169 && b[1] == 254);           /* RFC 3927 */
}

static bool private_v6(const uint8_t *b) {
  return (b[0] & 0xfe) == 0xfc ||                 /* RFC 4193 ULA */
         (b[0] == 0xfe && (b[1] & 0xc0) == 0x80); /* RFC 4291 link-local */
}

int sipflow_nat_is_private(const sipflow_addr *addr) {
  sipflow_addr a;
  if (!addr)
    return 0;
  a = normalize(addr);
  if (a.family == SIPFLOW_AF_INET)
    return private_v4(a.bytes);
  if (a.family == SIPFLOW_AF_INET6)
    return private_v6(a.bytes);
  return 0;
}

static bool same_ip(const sipflow_addr *a, const sipflow_addr *b) {
  size_t len = a->family == SIPFLOW_AF_INET6 ? 16 : 4;
  return a->family == b->family && memcmp(a->bytes, b->bytes, len) == 0;
}

static uint16_t port_or_default(uint16_t port) {
  return port ? port : SIP_DEFAULT_PORT;
}

/* Flags for one header's host:port against the source. */
static unsigned check_host(const sipflow_addr *src, const sipflow_addr *hdr,
                           bool udp, unsigned private_flag,
                           unsigned mismatch_flag, unsigned port_flag) {
  sipflow_addr h;
  unsigned flags = 0;
  if (hdr->family != SIPFLOW_AF_INET && hdr->family != SIPFLOW_AF_INET6)
    return mismatch_flag; /* a name: never the address we saw */
  h = normalize(hdr);
  if (sipflow_nat_is_private(&h))
    flags |= private_flag;
  if (!same_ip(src, &h))
    flags |= mismatch_flag;
  if (udp && port_or_default(h.port) != src->port)
    flags |= port_flag;
  return flags;
}

void sipflow_nat_facts_default_versioned(int facts_version,
                                         sipflow_nat_facts *f) {
  (void)facts_version;
  if (f)
    memset(f, 0, sizeof(*f));
}

int sipflow_nat_detect_versioned(int facts_version, const sipflow_nat_facts *f,
                                 unsigned *flags) {
  sipflow_addr src;
  bool udp;

  if (!f || !flags || facts_version < SIPFLOW_NAT_FACTS_V1 ||
      facts_version > SIPFLOW_NAT_FACTS_VERSION)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (f->source.family != SIPFLOW_AF_INET &&
      f->source.family != SIPFLOW_AF_INET6)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  src = normalize(&f->source);
  udp = f->transport == SIPFLOW_TRANSPORT_UDP;
  /* Via: address, and the port on UDP, since rport exists for exactly
   * that mismatch (RFC 3581 §4). */
  *flags = check_host(&src, &f->via, udp, SIPFLOW_NAT_VIA_PRIVATE,
                      SIPFLOW_NAT_VIA_MISMATCH, SIPFLOW_NAT_VIA_MISMATCH);
  if (f->via_rport)
    *flags |= SIPFLOW_NAT_RPORT;
  if (f->contact)
    *flags |= check_host(
        &src, &f->contact_addr, udp, SIPFLOW_NAT_CONTACT_PRIVATE,
        SIPFLOW_NAT_CONTACT_MISMATCH, SIPFLOW_NAT_CONTACT_PORT_MISMATCH);
  return 0;
}
