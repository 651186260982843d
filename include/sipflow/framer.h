/*
 * libsipflow: framing SIP messages and CRLF keepalives on a stream.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_FRAMER_H
#define SIPFLOW_FRAMER_H

#include <stddef.h>
#include <stdint.h>

#include "sipflow/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @file framer.h
 * A framer splits the bytes of one stream connection (TCP, TLS after
 * decryption, SCTP) into SIP messages by Content-Length (RFC 3261 §18.3) and
 * recognises RFC 5626 §4.4.1 keepalives between messages: a double CRLF is a
 * ping, a single CRLF a pong. It does no I/O: the host feeds what it read and
 * takes out events.
 *
 * A lone CRLF at the end of the bytes received so far could be a pong or the
 * first half of a ping. While the host has a ping outstanding on this
 * connection (sipflow_framer_expect_pong()), it is reported as a pong at once;
 * otherwise the framer waits for the next bytes. A single CRLF followed by a
 * start line is a stray CRLF (RFC 3261 §7.5) and is reported as a pong, which
 * a host without a ping outstanding ignores.
 *
 * Memory: the framer holds only the bytes of the message in progress, and
 * frees its buffer whenever it is empty, so an idle connection costs
 * sizeof the opaque object (about 48 bytes).
 */

/** An opaque stream framer. @since 0.1 */
typedef struct sipflow_framer sipflow_framer;

/** What sipflow_framer_next() found. @since 0.1 */
typedef enum sipflow_frame_type {
  SIPFLOW_FRAME_NONE = 0,    /**< nothing complete yet: feed more bytes */
  SIPFLOW_FRAME_MESSAGE = 1, /**< one complete SIP message */
  SIPFLOW_FRAME_PING = 2,    /**< a double CRLF: answer with one CRLF */
  SIPFLOW_FRAME_PONG = 3     /**< a single CRLF */
} sipflow_frame_type;

/**
 * The name of a sipflow_frame_type value ("none", "message", "ping", "pong"),
 * or NULL for a value the enum does not have. The string is static.
 * Callback-safe. @since 0.2
 */
SIPFLOW_API const char *sipflow_frame_type_name(int type);

/** One event out of a framer. @since 0.1 */
typedef struct sipflow_frame {
  sipflow_frame_type type; /**< what was found */
  /** For SIPFLOW_FRAME_MESSAGE: the message's bytes (headers and body),
   * valid until the next call on the framer. NULL otherwise. */
  const uint8_t *data;
  size_t len;         /**< length of |data| */
  size_t body_offset; /**< where the body starts within |data| */
} sipflow_frame;

/**
 * Create a framer.
 * @param pframer receives it.
 * @param mem allocator, copied; NULL for sipflow_mem_default().
 * @param max_message largest message accepted, headers and body; 0 means the
 * default of 65535 bytes.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT, SIPFLOW_ERR_NOMEM.
 * Callback-safe. @since 0.1
 */
SIPFLOW_API SIPFLOW_WARN_UNUSED int sipflow_framer_new(sipflow_framer **pframer,
                                                       const sipflow_mem *mem,
                                                       size_t max_message);

/** Delete a framer; NULL does nothing. @since 0.1 */
SIPFLOW_API void sipflow_framer_del(sipflow_framer *framer);

/**
 * Append bytes read from the connection. The bytes are copied.
 * Feed, then call sipflow_framer_next() until it gives SIPFLOW_FRAME_NONE.
 * @return 0, SIPFLOW_ERR_TOO_LARGE (the message in progress would exceed
 * max_message: close the connection), SIPFLOW_ERR_NOMEM (nothing appended),
 * SIPFLOW_ERR_BAD_STATE (a previous error: close the connection).
 * @since 0.1
 */
SIPFLOW_API SIPFLOW_WARN_UNUSED int
sipflow_framer_feed(sipflow_framer *framer, const uint8_t *data, size_t len);

/**
 * Take the next complete event out of the framer.
 * @param frame receives the event; type SIPFLOW_FRAME_NONE when more bytes
 * are needed.
 * @return 0, SIPFLOW_ERR_MALFORMED (no usable Content-Length: missing,
 * which RFC 3261 §18.3 forbids on a stream since the body's end would be
 * unknown, not a number, or two that differ; or a header section that is
 * not SIP), SIPFLOW_ERR_TOO_LARGE (Content-Length or header
 * section over max_message). After an error the stream cannot be
 * resynchronised: every later call returns SIPFLOW_ERR_BAD_STATE and the host
 * closes the connection.
 * @since 0.1
 */
SIPFLOW_API SIPFLOW_WARN_UNUSED int sipflow_framer_next(sipflow_framer *framer,
                                                        sipflow_frame *frame);

/**
 * Tell the framer whether the host has a CRLF ping outstanding on this
 * connection, so a lone trailing CRLF is taken as the pong at once.
 * @param expecting 1 after sending a ping, 0 once its pong arrived.
 * @since 0.1
 */
SIPFLOW_API void sipflow_framer_expect_pong(sipflow_framer *framer,
                                            int expecting);

/**
 * Bytes held for the message in progress. Callback-safe. @since 0.1
 */
SIPFLOW_API size_t sipflow_framer_pending(const sipflow_framer *framer);

#ifdef __cplusplus
}
#endif

#endif /* SIPFLOW_FRAMER_H */
