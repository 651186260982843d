/*
 * libsipflow-uv-ws: the WebSocket transport for SIP (RFC 7118) on
 * sipflow_uv_stream: the HTTP Upgrade (RFC 6455 §4.2) and the framing.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_UV_WS_H
#define SIPFLOW_UV_WS_H

#include <stddef.h>
#include <stdint.h>

#include "sipflow/sipflow_uv.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @file sipflow_uv_ws.h
 * A server-side WebSocket filter for sipflow_uv_stream. The opening
 * handshake is parsed by http-parser and must offer the subprotocol `sip`
 * (RFC 7118 §4.1), else it is answered 400 and the stream ends; frames are
 * handled by wslay. Every text or binary message goes to
 * sipflow_uv_stream_pass_message() (SIP, or a CRLF keepalive answered as on
 * TCP); every message the host writes goes out as one text message; Pings
 * are answered with Pongs; a Close frame is answered and the stream ends
 * with UV_EOF. Put it on top of a TLS filter for WSS. Links wslay,
 * http-parser and nettle (for the handshake's SHA-1).
 */

/** One WebSocket session on a stream. Opaque; freed with the stream.
 * @since 0.2 */
typedef struct sipflow_uv_ws sipflow_uv_ws;

/** WebSocket events. @since 0.2 */
typedef struct sipflow_uv_ws_callbacks {
  /** The handshake was accepted (101 sent). Optional. */
  void (*on_open)(sipflow_uv_ws *ws, void *user_data);
  /** A Pong arrived; |data| (its payload) valid during the call. Give it
   * to sipflow_keepalive_on_ws_pong(). Optional. */
  void (*on_pong)(sipflow_uv_ws *ws, const uint8_t *data, size_t len,
                  void *user_data);
} sipflow_uv_ws_callbacks;

/**
 * Put a server WebSocket session on |s| as its next filter.
 * @param callbacks copied; may be NULL.
 * @param pws receives the session, valid until the stream's on_close
 * returns (may be NULL).
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT, SIPFLOW_ERR_NOMEM,
 * SIPFLOW_ERR_LIMIT (too many filters). @since 0.2
 */
SIPFLOW_API SIPFLOW_WARN_UNUSED int
sipflow_uv_ws_push(sipflow_uv_stream *s,
                   const sipflow_uv_ws_callbacks *callbacks, void *user_data,
                   sipflow_uv_ws **pws);

/**
 * Send a Ping with |data| as payload (at most 125 bytes, RFC 6455 §5.5).
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT, SIPFLOW_ERR_BAD_STATE (the
 * handshake is not done, or the session is closing), SIPFLOW_ERR_NOMEM.
 * @since 0.2
 */
SIPFLOW_API int sipflow_uv_ws_ping(sipflow_uv_ws *ws, const uint8_t *data,
                                   size_t len);

/** Whether the handshake is done. Callback-safe. @since 0.2 */
SIPFLOW_API int sipflow_uv_ws_is_open(const sipflow_uv_ws *ws);

/** The stream the session is on. Callback-safe. @since 0.2 */
SIPFLOW_API sipflow_uv_stream *sipflow_uv_ws_stream(const sipflow_uv_ws *ws);

#ifdef __cplusplus
}
#endif

#endif /* SIPFLOW_UV_WS_H */
