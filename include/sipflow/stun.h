/*
 * libsipflow: the STUN messages of SIP keepalives (RFC 5389, RFC 5626 §8).
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_STUN_H
#define SIPFLOW_STUN_H

#include <stddef.h>
#include <stdint.h>

#include "sipflow/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @file stun.h
 * Encoding and decoding of the STUN Binding messages RFC 5626 keepalives use
 * (RFC 5389; RFC 8489 keeps the same wire format): the 20-byte header with the
 * magic cookie, XOR-MAPPED-ADDRESS (IPv4 and IPv6), MAPPED-ADDRESS, ERROR-CODE,
 * UNKNOWN-ATTRIBUTES and FINGERPRINT. No authentication: RFC 5626 §8 needs
 * none. Every function here is pure: no context, no allocation, callback-safe.
 * The answering side (a Binding success for a request) is in responder.h.
 */

/** Length of the STUN header. @since 0.1 */
#define SIPFLOW_STUN_HEADER_LEN 20
/** Length of a transaction id. @since 0.1 */
#define SIPFLOW_STUN_TXID_LEN 12
/** The magic cookie (RFC 5389 §6). @since 0.1 */
#define SIPFLOW_STUN_MAGIC_COOKIE 0x2112A442u
/**
 * Largest message decoded: 548 bytes, what RFC 5389 §7.1 allows over IPv4
 * when the path MTU is unknown. Binding messages are far smaller; anything
 * larger is refused with SIPFLOW_ERR_TOO_LARGE. @since 0.1
 */
#define SIPFLOW_STUN_MAX_LEN 548
/** Most unknown attribute types a decoded message records. @since 0.1 */
#define SIPFLOW_STUN_MAX_UNKNOWN 8

/** STUN message types used here (RFC 5389 §6, §18.1). @since 0.1 */
typedef enum sipflow_stun_type {
  SIPFLOW_STUN_BINDING_REQUEST = 0x0001,
  SIPFLOW_STUN_BINDING_INDICATION = 0x0011,
  SIPFLOW_STUN_BINDING_SUCCESS = 0x0101,
  SIPFLOW_STUN_BINDING_ERROR = 0x0111
} sipflow_stun_type;

/** STUN attribute types understood here (RFC 5389 §18.2). @since 0.1 */
typedef enum sipflow_stun_attr {
  SIPFLOW_STUN_ATTR_MAPPED_ADDRESS = 0x0001,
  SIPFLOW_STUN_ATTR_USERNAME = 0x0006,
  SIPFLOW_STUN_ATTR_MESSAGE_INTEGRITY = 0x0008,
  SIPFLOW_STUN_ATTR_ERROR_CODE = 0x0009,
  SIPFLOW_STUN_ATTR_UNKNOWN_ATTRIBUTES = 0x000A,
  SIPFLOW_STUN_ATTR_REALM = 0x0014,
  SIPFLOW_STUN_ATTR_NONCE = 0x0015,
  SIPFLOW_STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020,
  SIPFLOW_STUN_ATTR_SOFTWARE = 0x8022,
  SIPFLOW_STUN_ATTR_ALTERNATE_SERVER = 0x8023,
  SIPFLOW_STUN_ATTR_FINGERPRINT = 0x8028
} sipflow_stun_attr;

/**
 * A decoded STUN message: a plain value filled by sipflow_stun_decode(). It
 * points into nothing; the input may be freed afterwards. @since 0.1
 */
typedef struct sipflow_stun_msg {
  uint16_t type;   /**< the 14-bit message type, e.g. 0x0101 */
  uint16_t method; /**< the method (0x001 Binding) */
  uint8_t cls;     /**< class: 0 request, 1 indication, 2 success, 3 error */
  uint8_t txid[SIPFLOW_STUN_TXID_LEN]; /**< transaction id */
  uint8_t has_xor_mapped;              /**< XOR-MAPPED-ADDRESS present */
  uint8_t has_mapped;                  /**< MAPPED-ADDRESS present */
  uint8_t has_integrity;   /**< MESSAGE-INTEGRITY present (not checked) */
  uint8_t has_fingerprint; /**< FINGERPRINT present (and checked) */
  sipflow_addr xor_mapped; /**< decoded XOR-MAPPED-ADDRESS */
  sipflow_addr mapped;     /**< MAPPED-ADDRESS (RFC 3489 servers) */
  uint16_t error_code;     /**< ERROR-CODE as 300..699; 0 if absent */
  /** Number of unknown comprehension-required attribute types found. */
  uint16_t n_unknown;
  /** The first SIPFLOW_STUN_MAX_UNKNOWN of them, in message order. */
  uint16_t unknown[SIPFLOW_STUN_MAX_UNKNOWN];
  size_t length; /**< bytes of the whole message (header included) */
} sipflow_stun_msg;

/**
 * Whether |data| looks like a STUN message: top two bits zero, the magic
 * cookie, and a length field that is a multiple of 4 and matches |len| (the
 * demultiplexing test of RFC 5626 §8.1 and RFC 5389 §6). Does not decode.
 * @return 1 or 0. Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_stun_is_message(const uint8_t *data, size_t len);

/**
 * Decode one STUN message from a datagram (RFC 5389 §6, §7.3, §15).
 * Unknown optional attributes (0x8000-0xFFFF) are ignored; attributes after
 * MESSAGE-INTEGRITY other than FINGERPRINT are ignored (§15.4); a FINGERPRINT
 * must be last and correct (§15.5).
 * @param msg receives the message; on SIPFLOW_ERR_UNSUPPORTED it is filled
 * too, with the unknown comprehension-required types in |unknown|.
 * @param data the datagram, read only during the call.
 * @return 0; SIPFLOW_ERR_INVALID_ARGUMENT (NULL msg, or NULL data with a
 * length); SIPFLOW_ERR_MALFORMED (shorter than the header, top bits set, bad
 * magic cookie, length field not a multiple of 4 or not matching |len|, an
 * attribute running past the end, a bad address family or length, a bad
 * ERROR-CODE, a FINGERPRINT that is wrong or not last);
 * SIPFLOW_ERR_TOO_LARGE (over SIPFLOW_STUN_MAX_LEN);
 * SIPFLOW_ERR_UNSUPPORTED (one or more unknown comprehension-required
 * attributes: a request gets a 420, a response fails its transaction).
 * Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_stun_decode(sipflow_stun_msg *msg, const uint8_t *data,
                                    size_t len);

/**
 * Write a Binding request with no attributes: the 20 bytes RFC 5626 §8 sends.
 * @param txid 12 bytes; retransmissions reuse them (RFC 5389 §7.2.1).
 * @param outlen receives 20.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT, SIPFLOW_ERR_BUFFER_TOO_SMALL.
 * Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_stun_encode_request(uint8_t *buf, size_t buflen,
                                            const uint8_t *txid,
                                            size_t *outlen);

/**
 * Write a Binding success response carrying XOR-MAPPED-ADDRESS (RFC 5389
 * §7.3.1.1, §15.2): 32 bytes for IPv4, 44 for IPv6, 8 more with FINGERPRINT.
 * @param mapped the address to report, normally the request's source.
 * @param fingerprint nonzero to append FINGERPRINT (do so when the request
 * had one).
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (NULL argument or a family other
 * than IPv4/IPv6), SIPFLOW_ERR_BUFFER_TOO_SMALL. Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_stun_encode_success(uint8_t *buf, size_t buflen,
                                            const uint8_t *txid,
                                            const sipflow_addr *mapped,
                                            int fingerprint, size_t *outlen);

/**
 * Write a Binding error response with ERROR-CODE (RFC 5389 §15.6) and, when
 * |n_unknown| is nonzero, UNKNOWN-ATTRIBUTES (§15.9), as a 420 needs.
 * @param code 300..699. The reason phrase is the RFC's for 300, 400, 401,
 * 420, 438 and 500, and "Error" otherwise.
 * @param unknown the attribute types to list; may be NULL when n_unknown is 0.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT, SIPFLOW_ERR_BUFFER_TOO_SMALL.
 * Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_stun_encode_error(uint8_t *buf, size_t buflen,
                                          const uint8_t *txid, unsigned code,
                                          const uint16_t *unknown,
                                          size_t n_unknown, int fingerprint,
                                          size_t *outlen);

#ifdef __cplusplus
}
#endif

#endif /* SIPFLOW_STUN_H */
