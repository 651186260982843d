/*
 * libsipflow-uv-ws: a WebSocket server filter for sipflow_uv_stream.
 * The handshake is read whole (it ends with an empty line, within 8 KiB)
 * and parsed by http-parser; then wslay reads frames out of what each read
 * brings and writes frames through the filters below.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <http_parser.h>
#include <nettle/base64.h>
#include <nettle/sha1.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wslay/wslay.h>

#include "sipflow/sipflow_uv_ws.h"

#define HANDSHAKE_MAX 8192
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" /* RFC 6455 §1.3 */

enum { H_NONE, H_UPGRADE, H_CONNECTION, H_KEY, H_VERSION, H_PROTOCOL };

struct sipflow_uv_ws {
  sipflow_uv_stream *s;
  unsigned level;
  sipflow_uv_ws_callbacks cb;
  void *user_data;
  wslay_event_context_ptr ev;
  int open;
  /* handshake */
  char hs[HANDSHAKE_MAX];
  size_t hs_len;
  int header; /* which header the value that follows belongs to */
  int upgrade_ok, connection_ok, version_ok, sip_offered;
  char key[64];
  /* what the current read brought, for wslay's recv callback */
  const uint8_t *in;
  size_t in_len;
  /* while flush() runs: where wslay's frames gather, to go down as one */
  uint8_t *out;
  size_t out_len;
  int err; /* first error passing down or up */
};

/* Bytes gathered for one write down: one TLS record's worth of plaintext
 * (RFC 8446 §5.1), so that a frame's header and its payload, and the
 * frames wslay sends in one go, travel as one record and one system
 * call. */
#define OUT_MAX 16384

/* ---- handshake (RFC 6455 §4.2.1, RFC 7118 §4.1) -------------------------- */

static int has_token(const char *v, size_t n, const char *token) {
  size_t tl = strlen(token), i = 0;
  while (i < n) {
    size_t j;
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
      i++;
    j = i;
    while (j < n && v[j] != ',')
      j++;
    size_t e = j;
    while (e > i && (v[e - 1] == ' ' || v[e - 1] == '\t'))
      e--;
    if (e - i == tl && strncasecmp(v + i, token, tl) == 0)
      return 1;
    i = j;
  }
  return 0;
}

static int on_field(http_parser *hp, const char *at, size_t n) {
  sipflow_uv_ws *ws = hp->data;
  static const struct {
    const char *name;
    int id;
  } names[] = {{"upgrade", H_UPGRADE},
               {"connection", H_CONNECTION},
               {"sec-websocket-key", H_KEY},
               {"sec-websocket-version", H_VERSION},
               {"sec-websocket-protocol", H_PROTOCOL}};
  ws->header = H_NONE;
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (strlen(names[i].name) == n && strncasecmp(at, names[i].name, n) == 0)
      ws->header = names[i].id;
  return 0;
}

static int on_value(http_parser *hp, const char *at, size_t n) {
  sipflow_uv_ws *ws = hp->data;
  switch (ws->header) {
  case H_UPGRADE:
    ws->upgrade_ok |= has_token(at, n, "websocket");
    break;
  case H_CONNECTION:
    ws->connection_ok |= has_token(at, n, "upgrade");
    break;
  case H_KEY:
    if (n < sizeof(ws->key) && !ws->key[0]) {
      memcpy(ws->key, at, n);
      ws->key[n] = '\0';
    }
    break;
  case H_VERSION:
    ws->version_ok |= n == 2 && memcmp(at, "13", 2) == 0;
    break;
  case H_PROTOCOL:
    ws->sip_offered |= has_token(at, n, "sip");
    break;
  }
  return 0;
}

static int down(sipflow_uv_ws *ws, const void *data, size_t len) {
  return sipflow_uv_stream_pass_down(ws->s, ws->level, data, len);
}

static int refuse(sipflow_uv_ws *ws, const char *status) {
  char buf[160];
  int n = snprintf(buf, sizeof(buf),
                   "HTTP/1.1 %s\r\nSec-WebSocket-Version: 13\r\n"
                   "Content-Length: 0\r\nConnection: close\r\n\r\n",
                   status);
  down(ws, buf, (size_t)n);
  return SIPFLOW_ERR_MALFORMED;
}

static int accept_key(const char *key, char *out) {
  struct sha1_ctx sha;
  uint8_t digest[SHA1_DIGEST_SIZE];
  sha1_init(&sha);
  sha1_update(&sha, strlen(key), (const uint8_t *)key);
  sha1_update(&sha, strlen(WS_GUID), (const uint8_t *)WS_GUID);
  sha1_digest(&sha, sizeof(digest), digest);
  base64_encode_raw(out, sizeof(digest), digest);
  out[BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE)] = '\0';
  return 0;
}

static int frames_in(sipflow_uv_ws *ws, const uint8_t *data, size_t len);

/* Bytes while the handshake is not complete. */
static int handshake_in(sipflow_uv_ws *ws, const uint8_t *data, size_t len) {
  http_parser hp;
  http_parser_settings st;
  const char *end;
  size_t hlen, parsed;
  char acc[64], resp[256];
  size_t room = sizeof(ws->hs) - 1 - ws->hs_len;
  size_t take = len < room ? len : room;
  memcpy(ws->hs + ws->hs_len, data, take);
  ws->hs_len += take;
  ws->hs[ws->hs_len] = '\0';
  end = strstr(ws->hs, "\r\n\r\n");
  if (!end)
    return ws->hs_len == sizeof(ws->hs) - 1
               ? refuse(ws, "431 Request Header Fields Too Large")
               : 0;
  hlen = (size_t)(end - ws->hs) + 4;
  http_parser_init(&hp, HTTP_REQUEST);
  http_parser_settings_init(&st);
  st.on_header_field = on_field;
  st.on_header_value = on_value;
  hp.data = ws;
  parsed = http_parser_execute(&hp, &st, ws->hs, hlen);
  if (HTTP_PARSER_ERRNO(&hp) != HPE_OK || !hp.upgrade || parsed > hlen ||
      hp.method != HTTP_GET || !ws->upgrade_ok || !ws->connection_ok ||
      !ws->key[0])
    return refuse(ws, "400 Bad Request");
  if (!ws->version_ok)
    return refuse(ws, "426 Upgrade Required");
  if (!ws->sip_offered) /* RFC 7118 §4.1: the client MUST offer "sip" */
    return refuse(ws, "400 Bad Request");
  accept_key(ws->key, acc);
  int n = snprintf(resp, sizeof(resp),
                   "HTTP/1.1 101 Switching Protocols\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Accept: %s\r\n"
                   "Sec-WebSocket-Protocol: sip\r\n\r\n",
                   acc);
  int rv = down(ws, resp, (size_t)n);
  if (rv != 0)
    return rv;
  ws->open = 1;
  if (ws->cb.on_open)
    ws->cb.on_open(ws, ws->user_data);
  /* Frames the client sent right after its request, in the same read. */
  size_t extra = ws->hs_len - hlen;
  size_t from_data = extra <= take ? extra : take;
  if (from_data)
    return frames_in(ws, data + take - from_data, from_data + (len - take));
  return 0;
}

/* ---- frames ---------------------------------------------------------------
 */

static ssize_t ev_recv(wslay_event_context_ptr ev, uint8_t *buf, size_t len,
                       int flags, void *ud) {
  sipflow_uv_ws *ws = ud;
  (void)flags;
  if (ws->in_len == 0) {
    wslay_event_set_error(ev, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  if (len > ws->in_len)
    len = ws->in_len;
  memcpy(buf, ws->in, len);
  ws->in += len;
  ws->in_len -= len;
  return (ssize_t)len;
}

/* Passes down what flush() gathered; 0 or the first error. */
static int out_drain(sipflow_uv_ws *ws) {
  int rv = 0;
  if (ws->out_len) {
    rv = down(ws, ws->out, ws->out_len);
    ws->out_len = 0;
    if (rv != 0 && !ws->err)
      ws->err = rv;
  }
  return rv;
}

static ssize_t ev_send(wslay_event_context_ptr ev, const uint8_t *data,
                       size_t len, int flags, void *ud) {
  sipflow_uv_ws *ws = ud;
  int rv = 0;
  (void)flags;
  /* wslay hands a frame's header and its payload over in separate calls:
   * each would be a TLS record and a write() of its own. They gather in
   * ws->out (set by flush()) and go down together. */
  if (ws->out && len <= OUT_MAX) {
    if (ws->out_len + len > OUT_MAX)
      rv = out_drain(ws);
    if (rv == 0) {
      memcpy(ws->out + ws->out_len, data, len);
      ws->out_len += len;
      return (ssize_t)len;
    }
  } else {
    if (ws->out)
      rv = out_drain(ws);
    if (rv == 0)
      rv = down(ws, data, len);
  }
  if (rv != 0) {
    if (!ws->err)
      ws->err = rv;
    wslay_event_set_error(ev, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
  return (ssize_t)len;
}

static void ev_msg(wslay_event_context_ptr ev,
                   const struct wslay_event_on_msg_recv_arg *arg, void *ud) {
  sipflow_uv_ws *ws = ud;
  (void)ev;
  if (arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME) {
    int rv = sipflow_uv_stream_pass_message(ws->s, arg->msg, arg->msg_length);
    if (rv != 0 && !ws->err)
      ws->err = rv;
  } else if (arg->opcode == WSLAY_PONG && ws->cb.on_pong) {
    ws->cb.on_pong(ws, arg->msg, arg->msg_length, ws->user_data);
  }
}

static int flush(sipflow_uv_ws *ws) {
  uint8_t buf[OUT_MAX];
  int outer = ws->out == NULL; /* a flush inside a flush gathers into its */
  if (outer) {
    ws->out = buf;
    ws->out_len = 0;
  }
  if (wslay_event_send(ws->ev) != 0 && !ws->err)
    ws->err = SIPFLOW_ERR_BAD_STATE;
  if (outer) {
    if (!ws->err)
      out_drain(ws);
    ws->out = NULL;
    ws->out_len = 0;
  }
  return ws->err;
}

static int frames_in(sipflow_uv_ws *ws, const uint8_t *data, size_t len) {
  ws->in = data;
  ws->in_len = len;
  if (wslay_event_recv(ws->ev) != 0 && !ws->err)
    ws->err = SIPFLOW_ERR_MALFORMED;
  ws->in_len = 0;
  if (ws->err)
    return ws->err;
  if (flush(ws) != 0) /* pongs, the answer to a Close */
    return ws->err;
  /* The closing handshake is over (RFC 6455 §7.1.1): end the stream. */
  if (!wslay_event_want_read(ws->ev))
    return wslay_event_want_write(ws->ev) ? 0 : UV_EOF;
  return 0;
}

static int ws_read(sipflow_uv_stream *s, unsigned level, const uint8_t *data,
                   size_t len, void *fd) {
  sipflow_uv_ws *ws = fd;
  (void)s;
  (void)level;
  return ws->open ? frames_in(ws, data, len) : handshake_in(ws, data, len);
}

static int ws_write(sipflow_uv_stream *s, unsigned level, const uint8_t *data,
                    size_t len, void *fd) {
  sipflow_uv_ws *ws = fd;
  struct wslay_event_msg m = {WSLAY_TEXT_FRAME, data, len};
  (void)s;
  (void)level;
  if (!ws->open || wslay_event_get_close_sent(ws->ev))
    return SIPFLOW_ERR_BAD_STATE;
  if (wslay_event_queue_msg(ws->ev, &m) != 0)
    return SIPFLOW_ERR_NOMEM;
  return flush(ws);
}

static void ws_del(void *fd) {
  sipflow_uv_ws *ws = fd;
  wslay_event_context_free(ws->ev);
  free(ws);
}

static const sipflow_uv_filter ws_filter = {ws_read, ws_write, ws_del};

int sipflow_uv_ws_push(sipflow_uv_stream *s,
                       const sipflow_uv_ws_callbacks *callbacks,
                       void *user_data, sipflow_uv_ws **pws) {
  struct wslay_event_callbacks evcb = {ev_recv, ev_send, NULL,  NULL,
                                       NULL,    NULL,    ev_msg};
  sipflow_uv_ws *ws;
  int rv;
  if (pws)
    *pws = NULL;
  if (!s)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  ws = calloc(1, sizeof(*ws));
  if (!ws)
    return SIPFLOW_ERR_NOMEM;
  if (wslay_event_context_server_init(&ws->ev, &evcb, ws) != 0) {
    free(ws);
    return SIPFLOW_ERR_NOMEM;
  }
  /* One SIP message per WebSocket message (RFC 7118 §5): the same bound as
   * a SIP message on TCP. */
  wslay_event_config_set_max_recv_msg_length(ws->ev, 65535);
  ws->s = s;
  if (callbacks)
    ws->cb = *callbacks;
  ws->user_data = user_data;
  if ((rv = sipflow_uv_stream_push_filter(s, &ws_filter, ws)) != 0) {
    ws_del(ws);
    return rv;
  }
  ws->level = sipflow_uv_stream_filters(s) - 1;
  if (pws)
    *pws = ws;
  return 0;
}

int sipflow_uv_ws_ping(sipflow_uv_ws *ws, const uint8_t *data, size_t len) {
  struct wslay_event_msg m = {WSLAY_PING, data, len};
  if (!ws || (!data && len) || len > 125)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (!ws->open || wslay_event_get_close_sent(ws->ev))
    return SIPFLOW_ERR_BAD_STATE;
  if (wslay_event_queue_msg(ws->ev, &m) != 0)
    return SIPFLOW_ERR_NOMEM;
  return flush(ws);
}

int sipflow_uv_ws_is_open(const sipflow_uv_ws *ws) { return ws && ws->open; }

sipflow_uv_stream *sipflow_uv_ws_stream(const sipflow_uv_ws *ws) {
  return ws ? ws->s : NULL;
}
