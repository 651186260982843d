/*
 * sipflow-ping: the one socket. UDP is connected to the target, so the
 * kernel picks the local address written into Via and From, only the
 * target's datagrams come back, and an ICMP port unreachable shows up as
 * an error on the socket. TCP is one connection read through the uv
 * adapter's framed stream, which answers and reports CRLF keepalives.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <sipflow/keepalive.h>

#include "ping.h"

typedef struct udp_send_req {
  uv_udp_send_t req;
  char data[];
} udp_send_req;

static uint8_t rx_buf[65536];

static void set_tuple(ping *p, const struct sockaddr_storage *local) {
  memset(&p->tuple, 0, sizeof(p->tuple));
  p->tuple.transport = (uint8_t)p->args.transport;
  sipflow_uv_addr_from_sockaddr((const struct sockaddr *)local,
                                &p->tuple.local);
  p->tuple.remote = p->args.dst;
  /* One connection for the whole run: generation 1 (UDP has none). */
  p->tuple.generation = p->args.transport == SIPFLOW_TRANSPORT_TCP;
}

/* ---- UDP ------------------------------------------------------------------
 */

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  buf->base = (char *)rx_buf;
  buf->len = sizeof(rx_buf);
}

static void udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                     const struct sockaddr *addr, unsigned flags) {
  ping *p = h->data;
  (void)buf;
  if (nread < 0) { /* e.g. ECONNREFUSED after an ICMP port unreachable */
    p->net_error = (int)nread;
    return;
  }
  if (!addr || (flags & UV_UDP_PARTIAL))
    return;
  ping_on_datagram(p, rx_buf, (size_t)nread);
}

static int udp_start(ping *p) {
  struct sockaddr_storage ss;
  int len = sizeof(ss), rv;
  sipflow_uv_addr_to_sockaddr(&p->args.dst, &ss, NULL);
  if ((rv = uv_udp_init(p->loop, &p->udp)) != 0)
    return rv;
  p->udp.data = p;
  p->udp_open = 1;
  if ((rv = uv_udp_connect(&p->udp, (struct sockaddr *)&ss)) != 0 ||
      (rv = uv_udp_getsockname(&p->udp, (struct sockaddr *)&ss, &len)) != 0 ||
      (rv = uv_udp_recv_start(&p->udp, udp_alloc, udp_recv)) != 0)
    return rv;
  set_tuple(p, &ss);
  ping_on_ready(p);
  return 0;
}

static void udp_sent(uv_udp_send_t *req, int status) {
  (void)status;
  free(req);
}

static int udp_send(ping *p, const uint8_t *data, size_t len) {
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  udp_send_req *r;
  int rv = uv_udp_try_send(&p->udp, &b, 1, NULL);
  if (rv >= 0)
    return 0;
  if (rv != UV_EAGAIN)
    return rv;
  if (!(r = malloc(sizeof(*r) + len)))
    return UV_ENOMEM;
  memcpy(r->data, data, len);
  b = uv_buf_init(r->data, (unsigned)len);
  rv = uv_udp_send(&r->req, &p->udp, &b, 1, NULL, udp_sent);
  if (rv != 0)
    free(r);
  return rv;
}

/* ---- TCP ------------------------------------------------------------------
 */

static void on_message(sipflow_uv_stream *s, const uint8_t *data, size_t len,
                       void *ud) {
  (void)s;
  ping_on_sip(ud, data, len);
}

static void on_pong(sipflow_uv_stream *s, void *ud) {
  (void)s;
  ping_on_pong(ud);
}

/* The stream reports libuv errors, or libsipflow's for bad framing. */
static const char *close_reason(int err) {
  if (err == UV_EOF)
    return "closed by the peer";
  if (err <= SIPFLOW_ERR_INVALID_ARGUMENT && err >= SIPFLOW_ERR_INTERNAL)
    return sipflow_strerror(err);
  return uv_strerror(err);
}

static void on_close(sipflow_uv_stream *s, int err, void *ud) {
  ping *p = ud;
  (void)s;
  p->stream = NULL;
  p->tcp = NULL; /* freed by the stream */
  if (!p->stopping)
    ping_on_closed(p, close_reason(err));
}

static void free_handle(uv_handle_t *h) { free(h); }

static void on_connect(uv_connect_t *req, int status) {
  static const sipflow_uv_stream_callbacks cb = {on_message, NULL, on_pong,
                                                 on_close};
  ping *p = req->data;
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  if (status == UV_ECANCELED)
    return; /* closed by ping_net_stop() */
  if (status == 0)
    status = uv_tcp_getsockname(p->tcp, (struct sockaddr *)&ss, &len);
  if (status == 0 && sipflow_uv_stream_new(&p->stream, p->tcp, &cb, 0, p) != 0)
    status = UV_ENOMEM;
  if (status != 0) {
    uv_close((uv_handle_t *)p->tcp, free_handle);
    p->tcp = NULL;
    ping_on_closed(p, uv_strerror(status));
    return;
  }
  set_tuple(p, &ss);
  ping_on_ready(p);
}

static int tcp_start(ping *p) {
  struct sockaddr_storage ss;
  int rv;
  if (!(p->tcp = malloc(sizeof(*p->tcp))))
    return UV_ENOMEM;
  if ((rv = uv_tcp_init(p->loop, p->tcp)) != 0) {
    free(p->tcp);
    p->tcp = NULL;
    return rv;
  }
  sipflow_uv_addr_to_sockaddr(&p->args.dst, &ss, NULL);
  p->connect_req.data = p;
  rv = uv_tcp_connect(&p->connect_req, p->tcp, (struct sockaddr *)&ss,
                      on_connect);
  if (rv != 0) {
    uv_close((uv_handle_t *)p->tcp, free_handle);
    p->tcp = NULL;
  }
  return rv;
}

/* ---- what ping.c calls ----------------------------------------------------
 */

int ping_net_start(ping *p) {
  return p->args.transport == SIPFLOW_TRANSPORT_TCP ? tcp_start(p)
                                                    : udp_start(p);
}

int ping_net_send(ping *p, int method, const uint8_t *data, size_t len) {
  int rv;
  if (p->args.transport == SIPFLOW_TRANSPORT_UDP)
    return udp_send(p, data, len);
  if (!p->stream)
    return UV_ENOTCONN;
  /* The stream expects the pong of its own ping (framer.h). */
  rv = method == SIPFLOW_KEEPALIVE_CRLF
           ? sipflow_uv_stream_ping(p->stream)
           : sipflow_uv_stream_write(p->stream, data, len);
  return rv == 0 ? 0 : UV_EPIPE;
}

void ping_net_stop(ping *p) {
  if (p->udp_open) {
    uv_udp_recv_stop(&p->udp);
    uv_close((uv_handle_t *)&p->udp, NULL);
    p->udp_open = 0;
  }
  if (p->stream) {
    sipflow_uv_stream_close(p->stream);
  } else if (p->tcp) { /* still connecting */
    uv_close((uv_handle_t *)p->tcp, free_handle);
    p->tcp = NULL;
  }
}
