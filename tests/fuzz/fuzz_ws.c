/*
 * Fuzz target: what a WebSocket client sends to libsipflow-uv-ws, from the
 * first byte of its HTTP Upgrade request (parsed by http-parser) to the
 * frames after it (wslay). The filter runs on a stand-in stream that
 * keeps what it passes down and up, so the target needs no socket. The
 * input's first byte sets how the rest is split into reads (0: one read);
 * when the handshake succeeds, a message and a Ping are written too.
 * Checks: the answer to the Upgrade is a 101 with Sec-WebSocket-Protocol:
 * sip or an HTTP 4xx, never both and never more than one; no message
 * passed up is longer than a SIP message may be (64 KiB).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sipflow/responder.h"
#include "sipflow/sipflow_uv_ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- a stand-in for libsipflow-uv's stream -------------------------------
 */

struct sipflow_uv_stream {
  sipflow_uv_filter filter;
  void *filter_data;
  unsigned filters;
  char first[64]; /* the start of what went down first: the HTTP answer */
  size_t first_len;
  size_t down_calls, down_bytes;
  unsigned sum; /* reads every byte passed, for the sanitizers */
};

int sipflow_uv_stream_push_filter(sipflow_uv_stream *s,
                                  const sipflow_uv_filter *filter,
                                  void *filter_data) {
  if (s->filters)
    return SIPFLOW_ERR_LIMIT;
  s->filter = *filter;
  s->filter_data = filter_data;
  s->filters = 1;
  return 0;
}

unsigned sipflow_uv_stream_filters(const sipflow_uv_stream *s) {
  return s->filters;
}

int sipflow_uv_stream_pass_down(sipflow_uv_stream *s, unsigned level,
                                const void *data, size_t len) {
  const uint8_t *b = data;
  if (level != 0)
    abort();
  if (s->down_calls++ == 0) {
    s->first_len = len < sizeof(s->first) - 1 ? len : sizeof(s->first) - 1;
    memcpy(s->first, data, s->first_len);
    s->first[s->first_len] = '\0';
  }
  for (size_t i = 0; i < len; i++)
    s->sum += b[i];
  s->down_bytes += len;
  return 0;
}

int sipflow_uv_stream_pass_message(sipflow_uv_stream *s, const uint8_t *data,
                                   size_t len) {
  if (len > 65535)
    abort();
  for (size_t i = 0; i < len; i++)
    s->sum += data[i];
  /* What the real stream does next: sort the message (RFC 7118 §5). */
  return sipflow_ws_message_classify(data, len) == SIPFLOW_WS_MESSAGE_GARBAGE
             ? SIPFLOW_ERR_MALFORMED
             : 0;
}

/* ---- the target ----------------------------------------------------------
 */

static void on_pong(sipflow_uv_ws *ws, const uint8_t *data, size_t len,
                    void *user_data) {
  sipflow_uv_stream *s = user_data;
  (void)ws;
  if (len > 125) /* a control frame's payload (RFC 6455 §5.5) */
    abort();
  for (size_t i = 0; i < len; i++)
    s->sum += data[i];
}

static volatile unsigned sink; /* keeps the reads of every byte */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sipflow_uv_stream s;
  sipflow_uv_ws *ws = NULL;
  sipflow_uv_ws_callbacks cb;
  size_t chunk, pos = 1;
  int rv = 0;
  if (size < 1)
    return 0;
  memset(&s, 0, sizeof(s));
  memset(&cb, 0, sizeof(cb));
  cb.on_pong = on_pong;
  if (sipflow_uv_ws_push(&s, &cb, &s, &ws) != 0)
    return 0;
  chunk = data[0] ? data[0] : size;
  while (pos < size && rv == 0) {
    size_t n = size - pos < chunk ? size - pos : chunk;
    int was_open = sipflow_uv_ws_is_open(ws);
    rv = s.filter.read(&s, 0, data + pos, n, s.filter_data);
    pos += n;
    /* The handshake is answered once, with one status. */
    if (!was_open && s.down_calls) {
      int up = strncmp(s.first, "HTTP/1.1 101 ", 13) == 0;
      int no = strncmp(s.first, "HTTP/1.1 4", 10) == 0;
      if (up == no || up != sipflow_uv_ws_is_open(ws) || (no && rv == 0))
        abort();
    }
  }
  if (rv == 0 && sipflow_uv_ws_is_open(ws)) {
    static const char msg[] = "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n";
    (void)s.filter.write(&s, 0, (const uint8_t *)msg, sizeof(msg) - 1,
                         s.filter_data);
    (void)sipflow_uv_ws_ping(ws, (const uint8_t *)"probe", 5);
  }
  if (s.filter.del)
    s.filter.del(s.filter_data);
  sink = s.sum;
  return 0;
}
