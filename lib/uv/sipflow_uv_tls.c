/*
 * libsipflow-uv-tls: OpenSSL over memory BIOs as a sipflow_uv_stream filter.
 * Ciphertext read from the socket goes into the read BIO; SSL_read gives
 * plaintext to pass up. Plaintext written goes through SSL_write; what
 * lands in the write BIO (records, and handshake messages at any time) is
 * passed down to the socket.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>

#include "sipflow/sipflow_uv_tls.h"

struct sipflow_uv_tls_ctx {
  SSL_CTX *ssl;
};

typedef struct tls_conn {
  SSL *ssl;
  BIO *rbio, *wbio; /* owned by ssl */
} tls_conn;

static void reason(char *err, size_t errlen, const char *what) {
  unsigned long e = ERR_get_error();
  if (err && errlen)
    snprintf(err, errlen, "%s: %s", what,
             e ? ERR_reason_error_string(e) : "failed");
  ERR_clear_error();
}

int sipflow_uv_tls_ctx_new(sipflow_uv_tls_ctx **pctx, const char *cert_file,
                           const char *key_file, const char *ca_file, char *err,
                           size_t errlen) {
  sipflow_uv_tls_ctx *c;
  if (!pctx || !cert_file || !key_file)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  *pctx = NULL;
  c = calloc(1, sizeof(*c));
  if (!c)
    return SIPFLOW_ERR_NOMEM;
  c->ssl = SSL_CTX_new(TLS_server_method());
  if (!c->ssl) {
    free(c);
    return SIPFLOW_ERR_NOMEM;
  }
  SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION);
  /* Keep the write buffer's records while the BIO is drained by us. */
  SSL_CTX_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
                               SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                               SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_use_certificate_chain_file(c->ssl, cert_file) != 1) {
    reason(err, errlen, cert_file);
    goto fail;
  }
  if (SSL_CTX_use_PrivateKey_file(c->ssl, key_file, SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(c->ssl) != 1) {
    reason(err, errlen, key_file);
    goto fail;
  }
  if (ca_file) {
    if (SSL_CTX_load_verify_locations(c->ssl, ca_file, NULL) != 1) {
      reason(err, errlen, ca_file);
      goto fail;
    }
    SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
  }
  *pctx = c;
  return 0;
fail:
  SSL_CTX_free(c->ssl);
  free(c);
  return SIPFLOW_ERR_MALFORMED;
}

void sipflow_uv_tls_ctx_del(sipflow_uv_tls_ctx *ctx) {
  if (!ctx)
    return;
  SSL_CTX_free(ctx->ssl);
  free(ctx);
}

/* Whatever OpenSSL wrote goes down to the socket. */
static int flush(sipflow_uv_stream *s, unsigned level, tls_conn *t) {
  char buf[16384];
  int n;
  /* Most calls find one record or none: ask the BIO first rather than
   * read it dry. */
  while (BIO_ctrl_pending(t->wbio) > 0 &&
         (n = BIO_read(t->wbio, buf, sizeof(buf))) > 0) {
    int rv = sipflow_uv_stream_pass_down(s, level, buf, (size_t)n);
    if (rv != 0)
      return rv;
  }
  return 0;
}

static int tls_read(sipflow_uv_stream *s, unsigned level, const uint8_t *data,
                    size_t len, void *fd) {
  tls_conn *t = fd;
  uint8_t buf[16384];
  int rv;
  if (len && BIO_write(t->rbio, data, (int)len) != (int)len)
    return SIPFLOW_ERR_NOMEM;
  for (;;) {
    int n = SSL_read(t->ssl, buf, sizeof(buf));
    if (n > 0) {
      if ((rv = sipflow_uv_stream_pass_up(s, level, buf, (size_t)n)) != 0)
        return rv;
      /* Nothing left in the record layer nor in the BIO: another
       * SSL_read() could only say WANT_READ, and with released buffers
       * it would first allocate and free a record's buffer to say so. */
      if (!SSL_has_pending(t->ssl) && BIO_ctrl_pending(t->rbio) == 0)
        return flush(s, level, t);
      continue;
    }
    switch (SSL_get_error(t->ssl, n)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      return flush(s, level, t);
    case SSL_ERROR_ZERO_RETURN: /* close_notify */
      flush(s, level, t);
      ERR_clear_error();
      return UV_EOF;
    default:
      flush(s, level, t); /* the alert, if any */
      ERR_clear_error();
      return SIPFLOW_ERR_MALFORMED;
    }
  }
}

static int tls_write(sipflow_uv_stream *s, unsigned level, const uint8_t *data,
                     size_t len, void *fd) {
  tls_conn *t = fd;
  size_t done = 0;
  /* Before the handshake ends SSL_write would need the peer's bytes: the
   * only writes before then are answers to what it sent, so this is rare;
   * such a write fails and the host treats it as a lost message. */
  while (done < len) {
    int n = SSL_write(t->ssl, data + done, (int)(len - done));
    if (n <= 0) {
      ERR_clear_error();
      return SIPFLOW_ERR_BAD_STATE;
    }
    done += (size_t)n;
  }
  return flush(s, level, t);
}

static void tls_del(void *fd) {
  tls_conn *t = fd;
  SSL_free(t->ssl);
  free(t);
}

static const sipflow_uv_filter tls_filter = {tls_read, tls_write, tls_del};

int sipflow_uv_tls_push(sipflow_uv_stream *s, sipflow_uv_tls_ctx *ctx) {
  tls_conn *t;
  int rv;
  if (!s || !ctx)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  t = calloc(1, sizeof(*t));
  if (!t)
    return SIPFLOW_ERR_NOMEM;
  t->ssl = SSL_new(ctx->ssl);
  t->rbio = BIO_new(BIO_s_mem());
  t->wbio = BIO_new(BIO_s_mem());
  if (!t->ssl || !t->rbio || !t->wbio) {
    BIO_free(t->rbio);
    BIO_free(t->wbio);
    SSL_free(t->ssl);
    free(t);
    return SIPFLOW_ERR_NOMEM;
  }
  SSL_set_bio(t->ssl, t->rbio, t->wbio);
  SSL_set_accept_state(t->ssl);
  if ((rv = sipflow_uv_stream_push_filter(s, &tls_filter, t)) != 0) {
    tls_del(t);
    return rv;
  }
  return 0;
}
