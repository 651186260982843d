/*
 * The answering side of keepalives: sorting UDP datagrams and answering STUN
 * Binding requests (RFC 5626 §5.4, §8; RFC 5389 §7.3.1).
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <string.h>

#include "sipflow/responder.h"
#include "sipflow/stun.h"
#include "sipflow_int.h"

static int is_letter(uint8_t c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int is_blank(uint8_t c) {
  return c == 0 || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int sipflow_datagram_classify(const uint8_t *data, size_t len) {
  size_t i;
  if (len == 0 || !data)
    return SIPFLOW_DATAGRAM_NAT_PING;
  if (len == 4 && memcmp(data, SIPFLOW_CRLF_PING, 4) == 0)
    return SIPFLOW_DATAGRAM_CRLF_PING;
  if (len == 2 && memcmp(data, SIPFLOW_CRLF_PONG, 2) == 0)
    return SIPFLOW_DATAGRAM_CRLF_PONG;
  /* STUN's first byte has its top two bits clear (RFC 5626 §8.1): check it
   * before the blank test, since a STUN header can start with 0x00 0x01. */
  if (sipflow_stun_is_message(data, len))
    return SIPFLOW_DATAGRAM_STUN;
  for (i = 0; i < len && is_blank(data[i]); i++)
    ;
  if (i == len)
    return SIPFLOW_DATAGRAM_NAT_PING;
  /* RFC 3261 §7.5: CRLFs before a start line are skipped. */
  for (i = 0; i < len && (data[i] == '\r' || data[i] == '\n'); i++)
    ;
  return is_letter(data[i]) ? SIPFLOW_DATAGRAM_SIP : SIPFLOW_DATAGRAM_GARBAGE;
}

/* Unlike a datagram, a WebSocket message is framed by its sender: no STUN
 * demultiplexing (RFC 7118 carries only SIP), and a NUL is not a ping. */
int sipflow_ws_message_classify(const uint8_t *data, size_t len) {
  size_t i;
  if (len == 0 || !data)
    return SIPFLOW_WS_MESSAGE_BLANK;
  if (len == 4 && memcmp(data, SIPFLOW_CRLF_PING, 4) == 0)
    return SIPFLOW_WS_MESSAGE_CRLF_PING;
  if (len == 2 && memcmp(data, SIPFLOW_CRLF_PONG, 2) == 0)
    return SIPFLOW_WS_MESSAGE_CRLF_PONG;
  for (i = 0; i < len && data[i] != 0 && is_blank(data[i]); i++)
    ;
  if (i == len)
    return SIPFLOW_WS_MESSAGE_BLANK;
  for (i = 0; i < len && (data[i] == '\r' || data[i] == '\n'); i++)
    ;
  return is_letter(data[i]) ? SIPFLOW_WS_MESSAGE_SIP
                            : SIPFLOW_WS_MESSAGE_GARBAGE;
}

const char *sipflow_ws_message_name(int kind) {
  static const char *const names[] = {"garbage", "sip", "crlf-ping",
                                      "crlf-pong", "blank"};
  return kind >= 0 && kind < 5 ? names[kind] : NULL;
}

int sipflow_stun_respond(const uint8_t *req, size_t len,
                         const sipflow_addr *source, uint8_t *buf,
                         size_t buflen, size_t *outlen) {
  sipflow_stun_msg m;
  int rv;
  if (!source || !buf || !outlen || (!req && len))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (source->family != SIPFLOW_AF_INET && source->family != SIPFLOW_AF_INET6)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  rv = sipflow_stun_decode(&m, req, len);
  if (rv != 0 && rv != SIPFLOW_ERR_UNSUPPORTED)
    return rv;
  /* Only Binding requests are answered; indications and responses never
   * are (RFC 5389 §7.3), and other methods are not this server's. */
  if (m.type != SIPFLOW_STUN_BINDING_REQUEST)
    return SIPFLOW_ERR_UNSUPPORTED;
  if (rv == SIPFLOW_ERR_UNSUPPORTED) {
    size_t n = m.n_unknown < SIPFLOW_STUN_MAX_UNKNOWN
                   ? m.n_unknown
                   : SIPFLOW_STUN_MAX_UNKNOWN;
    return sipflow_stun_encode_error(buf, buflen, m.txid, 420, m.unknown, n,
                                     m.has_fingerprint, outlen);
  }
  return sipflow_stun_encode_success(buf, buflen, m.txid, source,
                                     m.has_fingerprint, outlen);
}
