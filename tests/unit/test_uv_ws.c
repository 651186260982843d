/*
 * The WebSocket filter on a real loop over loopback: a CRLF keepalive in a
 * text message is answered by a CRLF message, and every frame it sends
 * (header and payload) goes down the stream as one write, so that under
 * TLS it is one record and one system call. A counting filter under the
 * WebSocket filter sees each write.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "sipflow/sipflow_uv_ws.h"

typedef struct ws_rig {
  uv_loop_t loop;
  uv_tcp_t server, client;
  uv_connect_t conn;
  uv_timer_t wd;
  sipflow_uv_stream *stream;
  sipflow_uv_ws *ws;
  int writes; /* writes that reached the counting filter */
  int pings, closed, pinged;
  char got[1024];
  size_t got_len;
} ws_rig;

static ws_rig R;

/* The request and a masked text frame "\r\n\r\n" (all-zero mask), in one
 * write. */
static const char req[] =
    "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n\r\n"
    "\x81\x84\x00\x00\x00\x00\r\n\r\n";

static int count_read(sipflow_uv_stream *s, unsigned level, const uint8_t *d,
                      size_t n, void *fd) {
  (void)fd;
  return sipflow_uv_stream_pass_up(s, level, d, n);
}
static int count_write(sipflow_uv_stream *s, unsigned level, const uint8_t *d,
                       size_t n, void *fd) {
  ((ws_rig *)fd)->writes++;
  return sipflow_uv_stream_pass_down(s, level, d, n);
}
static const sipflow_uv_filter counting = {count_read, count_write, NULL};

static void on_message(sipflow_uv_stream *s, const uint8_t *d, size_t n,
                       void *ud) {
  (void)s;
  (void)d;
  (void)n;
  (void)ud;
  cr_assert_fail("no SIP message was sent");
}
static void on_ping(sipflow_uv_stream *s, void *ud) {
  (void)s;
  ((ws_rig *)ud)->pings++;
}
static void on_close(sipflow_uv_stream *s, int err, void *ud) {
  ws_rig *r = ud;
  (void)s;
  (void)err;
  r->closed++;
  uv_close((uv_handle_t *)&r->server, NULL);
  uv_close((uv_handle_t *)&r->client, NULL);
}
static const sipflow_uv_stream_callbacks stream_cb = {on_message, on_ping, NULL,
                                                      on_close};

static void on_accept(uv_stream_t *server, int status) {
  ws_rig *r = server->data;
  uv_tcp_t *tcp = malloc(sizeof(*tcp));
  cr_assert_eq(status, 0);
  uv_tcp_init(server->loop, tcp);
  cr_assert_eq(uv_accept(server, (uv_stream_t *)tcp), 0);
  cr_assert_eq(sipflow_uv_stream_new(&r->stream, tcp, &stream_cb, 0, r), 0);
  cr_assert_eq(sipflow_uv_stream_push_filter(r->stream, &counting, r), 0);
  cr_assert_eq(sipflow_uv_ws_push(r->stream, NULL, r, &r->ws), 0);
}

static void client_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
  ws_rig *r = h->data;
  (void)sz;
  b->base = r->got + r->got_len;
  b->len = sizeof(r->got) - 1 - r->got_len;
}

/* What follows the 101 response. */
static const char *after_101(ws_rig *r, size_t *n) {
  const char *e;
  r->got[r->got_len] = '\0';
  e = strstr(r->got, "\r\n\r\n");
  if (!e)
    return NULL;
  e += 4;
  *n = r->got_len - (size_t)(e - r->got);
  return e;
}

static void client_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  ws_rig *r = st->data;
  size_t rest;
  const char *f;
  (void)b;
  if (n <= 0)
    return;
  r->got_len += (size_t)n;
  f = after_101(r, &rest);
  if (!f)
    return;
  /* the CRLF message came back: the server sends a Ping with a payload */
  if (rest >= 4 && !r->pinged) {
    r->pinged = 1;
    cr_assert_eq(sipflow_uv_ws_ping(r->ws, (const uint8_t *)"abc", 3), 0);
  }
  if (rest >= 4 + 5)
    sipflow_uv_stream_close(r->stream);
}

static void client_wrote(uv_write_t *w, int status) {
  cr_expect_eq(status, 0);
  free(w);
}

static void on_connect(uv_connect_t *c, int status) {
  ws_rig *r = c->data;
  uv_write_t *w = malloc(sizeof(*w));
  uv_buf_t b = uv_buf_init((char *)req, sizeof(req) - 1);
  cr_assert_eq(status, 0);
  uv_read_start((uv_stream_t *)&r->client, client_alloc, client_read);
  uv_write(w, (uv_stream_t *)&r->client, &b, 1, client_wrote);
}

static void watchdog_fire(uv_timer_t *t) { uv_stop(t->loop); }

Test(uv_ws, each_frame_goes_down_as_one_write) {
  ws_rig *r = &R;
  struct sockaddr_in addr;
  int len = sizeof(addr);
  size_t rest = 0;
  const char *f;
  memset(r, 0, sizeof(*r));
  cr_assert_eq(uv_loop_init(&r->loop), 0);
  uv_timer_init(&r->loop, &r->wd);
  uv_timer_start(&r->wd, watchdog_fire, 5000, 0);
  uv_unref((uv_handle_t *)&r->wd);
  uv_tcp_init(&r->loop, &r->server);
  r->server.data = r;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  cr_assert_eq(uv_tcp_bind(&r->server, (struct sockaddr *)&addr, 0), 0);
  cr_assert_eq(uv_listen((uv_stream_t *)&r->server, 4, on_accept), 0);
  uv_tcp_getsockname(&r->server, (struct sockaddr *)&addr, &len);
  uv_tcp_init(&r->loop, &r->client);
  r->client.data = r;
  r->conn.data = r;
  uv_tcp_connect(&r->conn, &r->client, (struct sockaddr *)&addr, on_connect);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  cr_expect_eq(r->closed, 1);
  cr_expect_eq(r->pings, 1);
  f = after_101(r, &rest);
  cr_assert_not_null(f, "no 101 response: %s", r->got);
  cr_expect(strstr(r->got, "HTTP/1.1 101 ") == r->got);
  cr_expect(
      strstr(r->got, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
  /* the CRLF message, then the Ping with its payload (RFC 6455 §5.2) */
  cr_expect_eq(rest, 4 + 5);
  cr_expect(rest >= 9 && memcmp(f,
                                "\x81\x02\r\n\x89\x03"
                                "abc",
                                9) == 0);
  /* one write for the 101, one per frame */
  cr_expect_eq(r->writes, 3, "%d writes for the 101 and two frames", r->writes);
  uv_close((uv_handle_t *)&r->wd, NULL);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  cr_expect_eq(uv_loop_close(&r->loop), 0);
}
