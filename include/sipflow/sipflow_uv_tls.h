/*
 * libsipflow-uv-tls: TLS on sipflow_uv_stream, by OpenSSL through memory
 * BIOs (SIP over TLS, RFC 3261 §26.2; WebSocket over TLS, RFC 7118).
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_UV_TLS_H
#define SIPFLOW_UV_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "sipflow/sipflow_uv.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @file sipflow_uv_tls.h
 * A server-side TLS filter for sipflow_uv_stream. OpenSSL never touches the
 * socket: the stream's bytes go in and out through memory BIOs, so the
 * stream's write cap and close handling stay the same as on TCP. Links
 * libssl; a host without TLS does not link this library.
 */

/** Certificates and settings shared by connections. Opaque. @since 0.2 */
typedef struct sipflow_uv_tls_ctx sipflow_uv_tls_ctx;

/**
 * Make a server context: TLS 1.2 and later, the certificate chain of
 * |cert_file| (PEM) and the private key of |key_file| (PEM). With
 * |ca_file| (PEM, may be NULL) clients are asked for a certificate that
 * chains to it (RFC 5922 §7.3 mutual TLS); without it none is asked for.
 * @param err receives OpenSSL's reason on failure (may be NULL).
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (NULL files), SIPFLOW_ERR_NOMEM,
 * SIPFLOW_ERR_MALFORMED (a file unreadable, not PEM, or a key not matching
 * the certificate). Not thread-safe against other calls on the context.
 * @since 0.2
 */
SIPFLOW_API SIPFLOW_WARN_UNUSED int
sipflow_uv_tls_ctx_new(sipflow_uv_tls_ctx **pctx, const char *cert_file,
                       const char *key_file, const char *ca_file, char *err,
                       size_t errlen);

/** Delete a context once no stream uses it; NULL does nothing. @since 0.2 */
SIPFLOW_API void sipflow_uv_tls_ctx_del(sipflow_uv_tls_ctx *ctx);

/**
 * Put a server TLS session on |s| as its next filter (the first, for SIP
 * over TLS or WSS). Handshake, decryption and encryption happen as bytes
 * pass; a failed handshake or a TLS alert ends the stream with
 * SIPFLOW_ERR_MALFORMED, a close_notify with UV_EOF. |ctx| must outlive
 * the stream.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT, SIPFLOW_ERR_NOMEM,
 * SIPFLOW_ERR_LIMIT (too many filters). @since 0.2
 */
SIPFLOW_API SIPFLOW_WARN_UNUSED int
sipflow_uv_tls_push(sipflow_uv_stream *s, sipflow_uv_tls_ctx *ctx);

#ifdef __cplusplus
}
#endif

#endif /* SIPFLOW_UV_TLS_H */
