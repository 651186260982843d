/*
 * STUN Binding messages (RFC 5389): decoding untrusted datagrams and encoding
 * the few messages SIP keepalives need.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <string.h>

#include "keepalive_int.h"
#include "sipflow/stun.h"

#define FINGERPRINT_XOR 0x5354554Eu

static uint16_t get16(const uint8_t *p) {
  return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}
static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}
static void put16(uint8_t *p, unsigned v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* CRC-32 (ISO 3309, reflected 0xEDB88320), as FINGERPRINT uses (RFC 5389
 * §15.5). Bitwise: messages are tens of bytes, a table is not worth it. */
uint32_t sipflow__crc32(const uint8_t *data, size_t len) {
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < len; i++) {
    crc ^= data[i];
    for (int k = 0; k < 8; k++)
      crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

int sipflow_stun_is_message(const uint8_t *data, size_t len) {
  if (!data || len < SIPFLOW_STUN_HEADER_LEN)
    return 0;
  if ((data[0] & 0xC0) != 0 || get32(data + 4) != SIPFLOW_STUN_MAGIC_COOKIE)
    return 0;
  size_t body = get16(data + 2);
  return body % 4 == 0 && body + SIPFLOW_STUN_HEADER_LEN == len;
}

/* ---- decoding ------------------------------------------------------------ */

/* An address attribute; XOR-MAPPED-ADDRESS when |xor_key| is given (the
 * cookie and transaction id from the header, RFC 5389 §15.2). */
static int decode_addr(sipflow_addr *a, const uint8_t *v, size_t len,
                       const uint8_t *xor_key) {
  size_t alen;
  memset(a, 0, sizeof(*a));
  if (len < 4)
    return SIPFLOW_ERR_MALFORMED;
  if (v[1] == 0x01) {
    a->family = SIPFLOW_AF_INET;
    alen = 4;
  } else if (v[1] == 0x02) {
    a->family = SIPFLOW_AF_INET6;
    alen = 16;
  } else {
    return SIPFLOW_ERR_MALFORMED;
  }
  if (len != 4 + alen)
    return SIPFLOW_ERR_MALFORMED;
  a->port = get16(v + 2);
  memcpy(a->bytes, v + 4, alen);
  if (xor_key) {
    a->port ^= get16(xor_key);
    for (size_t i = 0; i < alen; i++)
      a->bytes[i] ^= xor_key[i];
  }
  return 0;
}

static int decode_error_code(sipflow_stun_msg *m, const uint8_t *v,
                             size_t len) {
  unsigned cls, num;
  if (len < 4)
    return SIPFLOW_ERR_MALFORMED;
  cls = v[2] & 0x07;
  num = v[3];
  if (cls < 3 || cls > 6 || num > 99)
    return SIPFLOW_ERR_MALFORMED;
  m->error_code = (uint16_t)(cls * 100 + num);
  return 0;
}

static int known_required(uint16_t type) {
  switch (type) {
  case SIPFLOW_STUN_ATTR_MAPPED_ADDRESS:
  case SIPFLOW_STUN_ATTR_USERNAME:
  case SIPFLOW_STUN_ATTR_MESSAGE_INTEGRITY:
  case SIPFLOW_STUN_ATTR_ERROR_CODE:
  case SIPFLOW_STUN_ATTR_UNKNOWN_ATTRIBUTES:
  case SIPFLOW_STUN_ATTR_REALM:
  case SIPFLOW_STUN_ATTR_NONCE:
  case SIPFLOW_STUN_ATTR_XOR_MAPPED_ADDRESS:
    return 1;
  default:
    return 0;
  }
}

static void note_unknown(sipflow_stun_msg *m, uint16_t type) {
  if (m->n_unknown < SIPFLOW_STUN_MAX_UNKNOWN)
    m->unknown[m->n_unknown] = type;
  if (m->n_unknown < UINT16_MAX)
    m->n_unknown++;
}

/* One attribute's value. |after_integrity|: only FINGERPRINT still counts. */
static int decode_attr(sipflow_stun_msg *m, const uint8_t *msg, size_t off,
                       uint16_t type, const uint8_t *v, size_t len,
                       size_t total) {
  uint8_t key[16];
  int rv;
  switch (type) {
  case SIPFLOW_STUN_ATTR_XOR_MAPPED_ADDRESS:
    memcpy(key, msg + 4, 16); /* cookie, then transaction id */
    rv = decode_addr(&m->xor_mapped, v, len, key);
    m->has_xor_mapped = rv == 0;
    return rv;
  case SIPFLOW_STUN_ATTR_MAPPED_ADDRESS:
    rv = decode_addr(&m->mapped, v, len, NULL);
    m->has_mapped = rv == 0;
    return rv;
  case SIPFLOW_STUN_ATTR_ERROR_CODE:
    return decode_error_code(m, v, len);
  case SIPFLOW_STUN_ATTR_MESSAGE_INTEGRITY:
    if (len != 20)
      return SIPFLOW_ERR_MALFORMED;
    m->has_integrity = 1;
    return 0;
  case SIPFLOW_STUN_ATTR_FINGERPRINT:
    /* Last, 4 bytes, CRC-32 of everything before it XOR 0x5354554E. */
    if (len != 4 || off + 8 != total ||
        get32(v) != (sipflow__crc32(msg, off) ^ FINGERPRINT_XOR))
      return SIPFLOW_ERR_MALFORMED;
    m->has_fingerprint = 1;
    return 0;
  default:
    if (type < 0x8000 && !known_required(type))
      note_unknown(m, type);
    return 0;
  }
}

static int decode_attrs(sipflow_stun_msg *m, const uint8_t *data,
                        size_t total) {
  size_t off = SIPFLOW_STUN_HEADER_LEN;
  int after_integrity = 0;
  while (off < total) {
    uint16_t type, len;
    size_t padded;
    int rv;
    if (total - off < 4)
      return SIPFLOW_ERR_MALFORMED;
    type = get16(data + off);
    len = get16(data + off + 2);
    padded = ((size_t)len + 3) & ~(size_t)3;
    if (padded > total - off - 4)
      return SIPFLOW_ERR_MALFORMED;
    /* RFC 5389 §15.4: after MESSAGE-INTEGRITY only FINGERPRINT counts. */
    if (!after_integrity || type == SIPFLOW_STUN_ATTR_FINGERPRINT) {
      rv = decode_attr(m, data, off, type, data + off + 4, len, total);
      if (rv != 0)
        return rv;
    }
    if (type == SIPFLOW_STUN_ATTR_MESSAGE_INTEGRITY)
      after_integrity = 1;
    off += 4 + padded;
  }
  return 0;
}

int sipflow_stun_decode(sipflow_stun_msg *msg, const uint8_t *data,
                        size_t len) {
  uint16_t type;
  int rv;
  if (!msg || (!data && len))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  memset(msg, 0, sizeof(*msg));
  if (len > SIPFLOW_STUN_MAX_LEN)
    return SIPFLOW_ERR_TOO_LARGE;
  if (!sipflow_stun_is_message(data, len))
    return SIPFLOW_ERR_MALFORMED;
  type = get16(data);
  msg->type = type;
  /* M11..M0 interleaved with C1 (bit 8) and C0 (bit 4), RFC 5389 §6. */
  msg->method = (uint16_t)((type & 0x000F) | ((type & 0x00E0) >> 1) |
                           ((type & 0x3E00) >> 2));
  msg->cls = (uint8_t)(((type >> 7) & 2) | ((type >> 4) & 1));
  memcpy(msg->txid, data + 8, SIPFLOW_STUN_TXID_LEN);
  msg->length = len;
  rv = decode_attrs(msg, data, len);
  if (rv != 0)
    return rv;
  return msg->n_unknown ? SIPFLOW_ERR_UNSUPPORTED : 0;
}

/* ---- encoding ------------------------------------------------------------ */

static void put_header(uint8_t *buf, uint16_t type, size_t body,
                       const uint8_t *txid) {
  put16(buf, type);
  put16(buf + 2, (unsigned)body);
  put32(buf + 4, SIPFLOW_STUN_MAGIC_COOKIE);
  memcpy(buf + 8, txid, SIPFLOW_STUN_TXID_LEN);
}

/* Appends FINGERPRINT to a message of |len| bytes whose header already
 * counts it; returns the new length. */
static size_t put_fingerprint(uint8_t *buf, size_t len) {
  put16(buf + len, SIPFLOW_STUN_ATTR_FINGERPRINT);
  put16(buf + len + 2, 4);
  put32(buf + len + 4, sipflow__crc32(buf, len) ^ FINGERPRINT_XOR);
  return len + 8;
}

int sipflow_stun_encode_request(uint8_t *buf, size_t buflen,
                                const uint8_t *txid, size_t *outlen) {
  if (!buf || !txid || !outlen)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (buflen < SIPFLOW_STUN_HEADER_LEN)
    return SIPFLOW_ERR_BUFFER_TOO_SMALL;
  put_header(buf, SIPFLOW_STUN_BINDING_REQUEST, 0, txid);
  *outlen = SIPFLOW_STUN_HEADER_LEN;
  return 0;
}

int sipflow_stun_encode_success(uint8_t *buf, size_t buflen,
                                const uint8_t *txid, const sipflow_addr *mapped,
                                int fingerprint, size_t *outlen) {
  size_t alen, need, body;
  uint8_t *v;
  if (!buf || !txid || !mapped || !outlen)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (mapped->family == SIPFLOW_AF_INET)
    alen = 4;
  else if (mapped->family == SIPFLOW_AF_INET6)
    alen = 16;
  else
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  body = 8 + alen + (fingerprint ? 8 : 0);
  need = SIPFLOW_STUN_HEADER_LEN + body;
  if (buflen < need)
    return SIPFLOW_ERR_BUFFER_TOO_SMALL;
  put_header(buf, SIPFLOW_STUN_BINDING_SUCCESS, body, txid);
  v = buf + SIPFLOW_STUN_HEADER_LEN;
  put16(v, SIPFLOW_STUN_ATTR_XOR_MAPPED_ADDRESS);
  put16(v + 2, (unsigned)(4 + alen));
  v[4] = 0;
  v[5] = alen == 4 ? 0x01 : 0x02;
  put16(v + 6, mapped->port ^ (SIPFLOW_STUN_MAGIC_COOKIE >> 16));
  for (size_t i = 0; i < alen; i++) /* cookie then transaction id */
    v[8 + i] = mapped->bytes[i] ^ buf[4 + i];
  *outlen = SIPFLOW_STUN_HEADER_LEN + 8 + alen;
  if (fingerprint)
    *outlen = put_fingerprint(buf, *outlen);
  return 0;
}

static const char *reason_phrase(unsigned code) {
  switch (code) {
  case 300:
    return "Try Alternate";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 420:
    return "Unknown Attribute";
  case 438:
    return "Stale Nonce";
  case 500:
    return "Server Error";
  default:
    return "Error";
  }
}

int sipflow_stun_encode_error(uint8_t *buf, size_t buflen, const uint8_t *txid,
                              unsigned code, const uint16_t *unknown,
                              size_t n_unknown, int fingerprint,
                              size_t *outlen) {
  const char *phrase = reason_phrase(code);
  size_t plen = strlen(phrase), ec_len, ua_len, body, off;
  if (!buf || !txid || !outlen || code < 300 || code > 699 ||
      (n_unknown && !unknown) || n_unknown > 64)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  ec_len = 4 + ((4 + plen + 3) & ~(size_t)3);
  ua_len = n_unknown ? 4 + ((2 * n_unknown + 3) & ~(size_t)3) : 0;
  body = ec_len + ua_len + (fingerprint ? 8 : 0);
  if (buflen < SIPFLOW_STUN_HEADER_LEN + body)
    return SIPFLOW_ERR_BUFFER_TOO_SMALL;
  memset(buf, 0, SIPFLOW_STUN_HEADER_LEN + body);
  put_header(buf, SIPFLOW_STUN_BINDING_ERROR, body, txid);
  off = SIPFLOW_STUN_HEADER_LEN;
  put16(buf + off, SIPFLOW_STUN_ATTR_ERROR_CODE);
  put16(buf + off + 2, (unsigned)(4 + plen));
  buf[off + 6] = (uint8_t)(code / 100);
  buf[off + 7] = (uint8_t)(code % 100);
  memcpy(buf + off + 8, phrase, plen);
  off += ec_len;
  if (n_unknown) {
    put16(buf + off, SIPFLOW_STUN_ATTR_UNKNOWN_ATTRIBUTES);
    put16(buf + off + 2, (unsigned)(2 * n_unknown));
    for (size_t i = 0; i < n_unknown; i++)
      put16(buf + off + 4 + 2 * i, unknown[i]);
    off += ua_len;
  }
  *outlen = fingerprint ? put_fingerprint(buf, off) : off;
  return 0;
}
