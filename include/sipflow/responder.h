/*
 * libsipflow: answering keepalives (RFC 5626 §5.4, §8) and sorting what
 * arrives on a SIP UDP port.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_RESPONDER_H
#define SIPFLOW_RESPONDER_H

#include <stddef.h>
#include <stdint.h>

#include "sipflow/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @file responder.h
 * What every edge proxy and every registrar reachable by UAs must do
 * (RFC 5626 §5.4, §6, §8): answer a double CRLF on a stream with one CRLF, and
 * run a limited STUN server on each SIP UDP port. On streams, the framer
 * (framer.h) finds pings and pongs between messages; on UDP,
 * sipflow_datagram_classify() sorts each datagram, and sipflow_stun_respond()
 * builds the Binding answer. All functions are pure and callback-safe.
 */

/** A CRLF keepalive ping (RFC 5626 §4.4.1). @since 0.1 */
#define SIPFLOW_CRLF_PING "\r\n\r\n"
/** Length of SIPFLOW_CRLF_PING. @since 0.1 */
#define SIPFLOW_CRLF_PING_LEN 4
/** The pong: exactly one CRLF, sent at once on the same connection. @since
 * 0.1 */
#define SIPFLOW_CRLF_PONG "\r\n"
/** Length of SIPFLOW_CRLF_PONG. @since 0.1 */
#define SIPFLOW_CRLF_PONG_LEN 2

/** What a datagram received on a SIP UDP port is. @since 0.1 */
typedef enum sipflow_datagram_kind {
  /** Neither SIP nor STUN nor a keepalive (e.g. SigComp, noise): drop it. */
  SIPFLOW_DATAGRAM_GARBAGE = 0,
  /** Starts with a letter, after any CRLFs: hand it to the SIP parser. */
  SIPFLOW_DATAGRAM_SIP = 1,
  /** A STUN message (RFC 5626 §8.1 demultiplexing): see
   * sipflow_stun_respond() for requests, sipflow_keepalive_on_stun() for
   * responses. */
  SIPFLOW_DATAGRAM_STUN = 2,
  /** Exactly "\r\n\r\n". CRLF keepalives are for streams (RFC 5626
   * §4.4.1); on UDP they come from phones without Outbound: drop quietly. */
  SIPFLOW_DATAGRAM_CRLF_PING = 3,
  /** Exactly "\r\n": drop quietly, or count it as a pong if the host pings
   * this peer with CRLF over UDP by its own choice. */
  SIPFLOW_DATAGRAM_CRLF_PONG = 4,
  /** Empty, or only NUL, space, tab, CR and LF bytes (the 4-byte zero ping
   * of nathelper, whitespace pings of phones without Outbound): refreshes a
   * NAT binding and needs no answer. Drop quietly, without logging. */
  SIPFLOW_DATAGRAM_NAT_PING = 5
} sipflow_datagram_kind;

/**
 * Sort one received datagram (RFC 5626 §8.1; checklist 1.2.5 and 11.15).
 * @param data may be NULL when |len| is 0.
 * @return a sipflow_datagram_kind; never fails. Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_datagram_classify(const uint8_t *data, size_t len);

/**
 * What the payload of one WebSocket message (text or binary) received on a
 * SIP WebSocket connection is (RFC 7118 §5: one SIP message per WebSocket
 * message). @since 0.2
 */
typedef enum sipflow_ws_message_kind {
  /** Neither SIP nor a keepalive: drop it (or close the connection). */
  SIPFLOW_WS_MESSAGE_GARBAGE = 0,
  /** Starts with a letter, after any CRLFs: hand it to the SIP parser. */
  SIPFLOW_WS_MESSAGE_SIP = 1,
  /** Exactly "\r\n\r\n": a CRLF keepalive ping carried in a message
   * (SIP.js, JsSIP). Answer SIPFLOW_CRLF_PONG in a message of the same type
   * at once, as on TCP (RFC 5626 §4.4.1), and report it to
   * sipflow_keepalive_on_peer_keepalive(). */
  SIPFLOW_WS_MESSAGE_CRLF_PING = 2,
  /** Exactly "\r\n": a pong to a CRLF ping we sent in a message; give it to
   * sipflow_keepalive_on_pong() for a CRLF endpoint, else ignore it. */
  SIPFLOW_WS_MESSAGE_CRLF_PONG = 3,
  /** Empty, or only CR, LF, space and tab in another pattern: a keepalive
   * that needs no answer; drop quietly. */
  SIPFLOW_WS_MESSAGE_BLANK = 4
} sipflow_ws_message_kind;

/**
 * Sort one WebSocket message's payload.
 * @param data may be NULL when |len| is 0.
 * @return a sipflow_ws_message_kind; never fails. Callback-safe. @since 0.2
 */
SIPFLOW_API int sipflow_ws_message_classify(const uint8_t *data, size_t len);

/**
 * The name of a sipflow_ws_message_kind value ("garbage", "sip",
 * "crlf-ping", "crlf-pong", "blank"), or NULL for a value the enum does not
 * have. The string is static. Callback-safe. @since 0.2
 */
SIPFLOW_API const char *sipflow_ws_message_name(int kind);

/**
 * Answer a STUN Binding request received on a SIP UDP port (RFC 5389 §7.3,
 * §7.3.1; RFC 5626 §8). Send the answer from the local address and port the
 * request arrived on, to its source (RFC 5389 §7.3.1.2).
 *
 * - A Binding request gets a success response with XOR-MAPPED-ADDRESS set to
 *   |source| (no SOFTWARE attribute: a minimal reply is 32 bytes for IPv4).
 * - A request with unknown comprehension-required attributes gets a 420 with
 *   UNKNOWN-ATTRIBUTES listing them.
 * - FINGERPRINT is added to the answer when the request carried one.
 * - MESSAGE-INTEGRITY and USERNAME are not checked: this is the limited,
 *   unauthenticated server RFC 5626 §8 asks for.
 *
 * @param req the datagram, read only during the call.
 * @param source the request's source address and port.
 * @param buf receives the answer; SIPFLOW_STUN_MAX_LEN bytes always suffice.
 * @param outlen receives the answer's length.
 * @return 0 (an answer is in |buf|: send it); SIPFLOW_ERR_INVALID_ARGUMENT
 * (NULL argument, or |source| neither IPv4 nor IPv6);
 * SIPFLOW_ERR_BUFFER_TOO_SMALL; and, for input to drop silently without an
 * answer: SIPFLOW_ERR_MALFORMED and SIPFLOW_ERR_TOO_LARGE (as
 * sipflow_stun_decode()), SIPFLOW_ERR_UNSUPPORTED (an indication, a response,
 * or a method other than Binding).
 * Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_stun_respond(const uint8_t *req, size_t len,
                                     const sipflow_addr *source, uint8_t *buf,
                                     size_t buflen, size_t *outlen);

#ifdef __cplusplus
}
#endif

#endif /* SIPFLOW_RESPONDER_H */
