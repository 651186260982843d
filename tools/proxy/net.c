/*
 * sipflow-proxy: sockets. UDP and TCP listeners, accepted and opened TCP
 * connections, each registered as a flow in libsipflow's flow table, and
 * sending over a flow or to an address.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy.h"
#ifdef PX_HAVE_TLS
#include <sipflow/sipflow_uv_tls.h>
#endif
#ifdef PX_HAVE_WS
#include <sipflow/sipflow_uv_ws.h>
#endif

typedef struct px_pending_write {
  struct px_pending_write *next;
  size_t len;
  char data[];
} px_pending_write;

typedef struct udp_send_req {
  uv_udp_send_t req;
  char data[];
} udp_send_req;

/* Where UDP datagrams are read to: room for RX_BATCH datagrams of 64 KiB,
 * read with one recvmmsg(). Only the pages datagrams land in are touched. */
#define RX_BATCH 20
#define RX_DGRAM 65536
static uint8_t rx_buf[RX_BATCH * RX_DGRAM];
static struct mmsghdr rx_msgs[RX_BATCH];
static struct iovec rx_iov[RX_BATCH];
static struct sockaddr_storage rx_from[RX_BATCH];

/* ---- address conversion ------------------------------------------------- */

/* libsipflow-uv's conversions; a family it does not know leaves a zeroed
 * address, which the socket calls then refuse. */
static void to_sockaddr(const sipflow_addr *a, struct sockaddr_storage *ss) {
  (void)sipflow_uv_addr_to_sockaddr(a, ss, NULL);
}

static void from_sockaddr(const struct sockaddr *sa, sipflow_addr *a) {
  (void)sipflow_uv_addr_from_sockaddr(sa, a);
}

px_listener *px_listener_for(px *p, int transport, int family) {
  for (int i = 0; i < p->nlisteners; i++)
    if (p->listeners[i].transport == transport &&
        p->listeners[i].addr.family == family)
      return &p->listeners[i];
  return NULL;
}

void px_advertise(px *p, int transport, int family, char *host, size_t hostlen,
                  uint16_t *port) {
  px_listener *l = px_listener_for(p, transport, family);
  if (!l)
    l = px_listener_for(p, SIPFLOW_TRANSPORT_UDP, family);
  if (!l)
    l = &p->listeners[0];
  if (p->cfg.advertise_host[0]) {
    snprintf(host, hostlen, "%s", p->cfg.advertise_host);
    *port = p->cfg.advertise_port ? p->cfg.advertise_port : l->addr.port;
    return;
  }
  char buf[64];
  sipflow_addr_format(&l->addr, buf, sizeof(buf));
  *strrchr(buf, ':') = '\0';
  snprintf(host, hostlen, "%s", buf);
  *port = l->addr.port;
}

/* ---- UDP ---------------------------------------------------------------- */

/* px_udp_flow and the lifetime of UDP flows: udpflow.c. */

static void udp_readable(uv_poll_t *h, int status, int events);

static void rx_resume(uv_timer_t *t) {
  px_listener *l = t->data;
  if (!l->px->stopping && l->rx_poll_ready)
    uv_poll_start(&l->rx_poll, UV_READABLE, udp_readable);
}

/*
 * Receive batching. Every wake-up reads the socket with recvmmsg(), up to
 * RX_BATCH datagrams a call, and handles what it read before waiting
 * again: what is already queued is taken in one go, and nothing waits for
 * more, so a quiet socket costs no latency. A call that returns fewer than
 * RX_BATCH datagrams found the socket empty, and the loop goes back to
 * epoll without asking again: the poll is level-triggered, so anything
 * that came meanwhile wakes it at once. (libuv's own UDP reader asks until
 * it gets EAGAIN: at 2 000 REGISTERs/s, most wake-ups read one datagram,
 * and that was a second recvmmsg() per request for nothing.) At most
 * 2 x RX_BATCH datagrams are read per wake-up, so the TCP connections and
 * timers get their turn under a flood.
 *
 * The reads go through a poll on a dup() of the socket: libuv keeps one
 * watcher per descriptor, and the uv_udp_t keeps its own for the writes it
 * has to queue.
 *
 * --rx-coalesce-ms N (N > 0) adds a pause on top: when the socket is read
 * empty twice within the same millisecond, reading stops for N ms and
 * then takes everything that came meanwhile (the 4 MiB receive buffer
 * holds it). Fewer wake-ups under load, up to N ms of added latency. The
 * default, 0, never pauses.
 */
static void udp_drained(px_listener *l) {
  px *p = l->px;
  uint64_t now = uv_now(p->loop);
  bool busy = now == l->last_drain;
  l->last_drain = now;
  if (!busy || !p->cfg.rx_coalesce_ms || p->stopping)
    return;
  if (!l->rx_pause_ready) {
    if (uv_timer_init(p->loop, &l->rx_pause) != 0)
      return;
    l->rx_pause.data = l;
    l->rx_pause_ready = 1;
  }
  if (uv_poll_stop(&l->rx_poll) == 0)
    uv_timer_start(&l->rx_pause, rx_resume, p->cfg.rx_coalesce_ms, 0);
}

static void udp_readable(uv_poll_t *h, int status, int events) {
  px_listener *l = h->data;
  (void)events;
  if (status < 0)
    return;
  for (int round = 0; round < 2 && !l->px->stopping; round++) {
    int n;
    for (int i = 0; i < RX_BATCH; i++) {
      rx_iov[i].iov_base = rx_buf + (size_t)i * RX_DGRAM;
      rx_iov[i].iov_len = RX_DGRAM;
      memset(&rx_msgs[i].msg_hdr, 0, sizeof(rx_msgs[i].msg_hdr));
      rx_msgs[i].msg_hdr.msg_iov = &rx_iov[i];
      rx_msgs[i].msg_hdr.msg_iovlen = 1;
      rx_msgs[i].msg_hdr.msg_name = &rx_from[i];
      rx_msgs[i].msg_hdr.msg_namelen = sizeof(rx_from[i]);
    }
    do
      n = recvmmsg(l->rx_fd, rx_msgs, RX_BATCH, MSG_DONTWAIT, NULL);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
      udp_drained(l);
      return;
    }
    for (int i = 0; i < n && !l->px->stopping; i++) {
      sipflow_addr remote;
      if (rx_msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
        l->px->stats.rx_dropped++;
        px_log_net(l->px, SIPFLOW_LOG_WARN, "udp: truncated datagram dropped");
        continue;
      }
      from_sockaddr((const struct sockaddr *)&rx_from[i], &remote);
      px_on_datagram(l->px, l, &remote, rx_buf + (size_t)i * RX_DGRAM,
                     rx_msgs[i].msg_len);
    }
    if (n < RX_BATCH) {
      udp_drained(l);
      return;
    }
  }
}

static void udp_sent(uv_udp_send_t *req, int status) {
  (void)status;
  free(req);
}

/* Through libuv's queue, for when the socket's buffer is full: libuv
 * sends it once the socket is writable again. */
static int udp_send_queued(px *p, px_listener *l,
                           const struct sockaddr_storage *ss, const void *data,
                           size_t len) {
  udp_send_req *r = malloc(sizeof(*r) + len);
  uv_buf_t b;
  if (!r)
    return -1;
  memcpy(r->data, data, len);
  b = uv_buf_init(r->data, (unsigned)len);
  if (uv_udp_send(&r->req, &l->h.udp, &b, 1, (const struct sockaddr *)ss,
                  udp_sent) != 0) {
    free(r);
    p->stats.tx_errors++;
    return -1;
  }
  return 0;
}

/*
 * Send batching for keepalive probes. The probes of one timer callback
 * (up to ~50 at 50 000 contacts: the timer's 10 ms slack) are copied here
 * while px->tx_defer is set and go out with one sendmmsg() when the
 * callback returns (px_udp_flush()), instead of one sendmsg() each: the
 * kernel's work per datagram stays, the syscall entry and exit per
 * datagram goes. A probe waits at most for the rest of its callback, a
 * few microseconds a probe. Answers to requests are never held here.
 */
#define TX_BATCH 64
#define TX_SLOT 1500 /* larger datagrams are sent at once, not batched */
static struct {
  px_listener *l;
  unsigned n;
  struct mmsghdr msgs[TX_BATCH];
  struct iovec iov[TX_BATCH];
  struct sockaddr_storage to[TX_BATCH];
  uint8_t buf[TX_BATCH][TX_SLOT];
} tx;

void px_udp_flush(px *p) {
  px_listener *l = tx.l;
  unsigned i = 0, n = tx.n;
  int fd = -1;
  tx.n = 0;
  tx.l = NULL;
  if (!l || n == 0)
    return;
  if (uv_fileno((const uv_handle_t *)&l->h.udp, &fd) != 0) {
    p->stats.tx_errors += n;
    return;
  }
  while (i < n) {
    int r = sendmmsg(fd, tx.msgs + i, n - i, MSG_DONTWAIT);
    if (r > 0) {
      i += (unsigned)r;
      p->stats.tx_batches++;
      p->stats.tx_batched += (unsigned)r;
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      for (; i < n; i++) /* the buffer is full: libuv waits for room */
        (void)udp_send_queued(p, l, &tx.to[i], tx.buf[i], tx.iov[i].iov_len);
    } else {
      p->stats.tx_errors++; /* this one datagram failed; the rest go on */
      i++;
    }
  }
}

/* 0 if the datagram was batched, -1 if it must be sent now. */
static int udp_defer(px *p, px_listener *l, const struct sockaddr_storage *ss,
                     const void *data, size_t len) {
  unsigned i;
  if (len > TX_SLOT || l->h.udp.send_queue_count > 0)
    return -1; /* too large, or libuv's queue must keep its order */
  if (tx.l != l || tx.n == TX_BATCH)
    px_udp_flush(p);
  i = tx.n++;
  tx.l = l;
  memcpy(tx.buf[i], data, len);
  tx.to[i] = *ss;
  tx.iov[i].iov_base = tx.buf[i];
  tx.iov[i].iov_len = len;
  memset(&tx.msgs[i], 0, sizeof(tx.msgs[i]));
  tx.msgs[i].msg_hdr.msg_name = &tx.to[i];
  tx.msgs[i].msg_hdr.msg_namelen = ss->ss_family == AF_INET6
                                       ? sizeof(struct sockaddr_in6)
                                       : sizeof(struct sockaddr_in);
  tx.msgs[i].msg_hdr.msg_iov = &tx.iov[i];
  tx.msgs[i].msg_hdr.msg_iovlen = 1;
  return 0;
}

static int udp_send(px *p, px_listener *l, const sipflow_addr *dst,
                    const void *data, size_t len) {
  struct sockaddr_storage ss;
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  int rv;
  if (!l)
    return -1;
  to_sockaddr(dst, &ss);
  if (p->tx_defer && udp_defer(p, l, &ss, data, len) == 0)
    return 0;
  rv = uv_udp_try_send(&l->h.udp, &b, 1, (struct sockaddr *)&ss);
  if (rv == (int)len)
    return 0;
  if (rv != UV_EAGAIN) {
    p->stats.tx_errors++;
    return -1;
  }
  return udp_send_queued(p, l, &ss, data, len);
}

/* ---- TCP connections ---------------------------------------------------- */

static void conn_unlink(px *p, px_conn *c) {
  if (c->prev)
    c->prev->next = c->next;
  else
    p->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
}

/* ---- connections that have sent no SIP yet ------------------------------
 * A phone sends its REGISTER as soon as it connects. A connection that
 * sends nothing (or only CRLF pings) holds a flow and a file descriptor for
 * nothing: it is closed after --tcp-hello-timeout, and when the flow table
 * is full the oldest one is shed to make room for a phone. Oldest first,
 * since they join the list in the order they were accepted. */

static px_conn_link *link_at(px_conn *c, size_t off) {
  return (px_conn_link *)((char *)c + off);
}

/* Append |c| to |l| through its link at offset |off|. */
static void list_push(px_conn_list *l, px_conn *c, size_t off) {
  px_conn_link *k = link_at(c, off);
  k->next = NULL;
  k->prev = l->tail;
  if (l->tail)
    link_at(l->tail, off)->next = c;
  else
    l->head = c;
  l->tail = c;
  k->on = true;
}

/* Take |c| off |l| if it is on it. */
static void list_unlink(px_conn_list *l, px_conn *c, size_t off) {
  px_conn_link *k = link_at(c, off);
  if (!k->on)
    return;
  if (k->prev)
    link_at(k->prev, off)->next = k->next;
  else
    l->head = k->next;
  if (k->next)
    link_at(k->next, off)->prev = k->prev;
  else
    l->tail = k->prev;
  k->next = k->prev = NULL;
  k->on = false;
}

#define SILENT offsetof(px_conn, silent)
#define IDLE offsetof(px_conn, idle)

static void silent_push(px *p, px_conn *c) { list_push(&p->silent, c, SILENT); }

static void silent_unlink(px *p, px_conn *c) {
  list_unlink(&p->silent, c, SILENT);
}

/* ---- WebSocket connections without a binding ----------------------------
 * A browser tab that connects and never registers (or a script that opens
 * WebSockets and sends a message now and then to pass the hello timeout)
 * holds a connection for nothing: a WS or WSS connection on no binding is
 * closed after --ws-idle-timeout without a message. The list is kept in
 * order of last activity: a message moves the connection to its tail. */

static void idle_unlink(px *p, px_conn *c) { list_unlink(&p->idle, c, IDLE); }

static void idle_touch(px *p, px_conn *c) {
  list_unlink(&p->idle, c, IDLE);
  c->active_ms = uv_now(p->loop);
  list_push(&p->idle, c, IDLE);
}

void px_conn_bound(px *p, sipflow_flow_id flow) {
  sipflow_flow_info info;
  if (!p->idle.head || sipflow_flow_get(p->flows, flow, &info) != 0 ||
      info.tuple.transport == SIPFLOW_TRANSPORT_UDP || !info.handle)
    return;
  idle_unlink(p, (px_conn *)(uintptr_t)info.handle);
}

/* Ends the connection's flow now (so that its slot in the table is free at
 * once) and closes the connection. */
static void conn_shed(px *p, px_conn *c) {
  silent_unlink(p, c);
  idle_unlink(p, c);
  if (c->flow) {
    sipflow_flow_end(p->flows, c->flow, SIPFLOW_FLOW_END_LOCAL_CLOSE,
                     sipflow_uv_now());
    c->flow = 0;
  }
  if (c->stream && !c->closing) {
    c->closing = 1;
    sipflow_uv_stream_close(c->stream);
  }
}

int px_shed_silent_conn(px *p) {
  px_conn *c = p->silent.head;
  if (!c)
    return -1;
  p->stats.flows_shed++;
  px_log_net(p, SIPFLOW_LOG_INFO,
             "the flow table is full: closing a TCP connection that sent "
             "no SIP");
  conn_shed(p, c);
  return 0;
}

static void hello_timer_cb(uv_timer_t *t) {
  px *p = t->data;
  uint64_t now = uv_now(p->loop),
           limit = (uint64_t)p->cfg.tcp_hello_timeout * 1000;
  while (p->silent.head && now - p->silent.head->opened_ms >= limit) {
    p->stats.tcp_hello_timeouts++;
    px_log_net(p, SIPFLOW_LOG_INFO,
               "tcp: no SIP message within %u s (--tcp-hello-timeout): "
               "connection closed",
               (unsigned)p->cfg.tcp_hello_timeout);
    conn_shed(p, p->silent.head);
  }
  limit = (uint64_t)p->cfg.ws_idle_timeout * 1000;
  while (limit && p->idle.head && now - p->idle.head->active_ms >= limit) {
    p->stats.ws_idle_closed++;
    px_log_net(p, SIPFLOW_LOG_INFO,
               "ws: no binding and no message within %u s "
               "(--ws-idle-timeout): connection closed",
               (unsigned)p->cfg.ws_idle_timeout);
    conn_shed(p, p->idle.head);
  }
}

static void conn_message(sipflow_uv_stream *s, const uint8_t *data, size_t len,
                         void *ud) {
  px_conn *c = ud;
  (void)s;
  if (c->silent.on)
    silent_unlink(c->px, c);
  if (c->idle.on)
    idle_touch(c->px, c);
  px_on_sip(c->px, c->flow, &c->tuple, data, len);
}

static void conn_ping(sipflow_uv_stream *s, void *ud) {
  px_conn *c = ud;
  (void)s;
  c->px->stats.rx_crlf_pings++;
  px_on_keepalive_seen(c->px, c->flow, 0);
}

static void conn_pong(sipflow_uv_stream *s, void *ud) {
  px_conn *c = ud;
  (void)s;
  px_on_keepalive_seen(c->px, c->flow, 1);
}

static void free_queue(px_conn *c) {
  while (c->queued) {
    px_pending_write *w = c->queued;
    c->queued = w->next;
    free(w);
  }
}

static void conn_gone(px *p, px_conn *c, int err) {
  int reason = err == UV_EOF         ? SIPFLOW_FLOW_END_CLOSED
               : err == UV_ECANCELED ? SIPFLOW_FLOW_END_LOCAL_CLOSE
                                     : SIPFLOW_FLOW_END_RESET;
  conn_unlink(p, c);
  silent_unlink(p, c);
  idle_unlink(p, c);
  if (c->counted)
    px_conn_release(p, &c->tuple.remote);
  if (err == UV_ENOBUFS) {
    p->stats.tcp_queue_overflows++;
    px_log_net(p, SIPFLOW_LOG_INFO,
               "tcp: the peer reads too little: more than %u bytes queued "
               "(--max-send-queue), connection closed",
               (unsigned)p->cfg.max_send_queue);
  }
  if (c->flow) {
    /* libsipflow's codes are -201..-599; libuv's are errno values and
     * UV_EOF (-4095). */
    px_log_net(p, SIPFLOW_LOG_INFO, "flow %llu closed (%s)",
               (unsigned long long)c->flow,
               err <= -201 && err >= -599 ? sipflow_err_name(err)
                                          : uv_err_name(err));
    /* Fires on_flow_failed: bindings on it go (RFC 5626 §7). */
    sipflow_flow_end(p->flows, c->flow, reason, sipflow_uv_now());
  }
  free_queue(c);
  free(c);
}

static void conn_close(sipflow_uv_stream *s, int err, void *ud) {
  px_conn *c = ud;
  (void)s;
  conn_gone(c->px, c, err); /* frees c */
}

static const sipflow_uv_stream_callbacks conn_cb = {conn_message, conn_ping,
                                                    conn_pong, conn_close};

#ifdef PX_HAVE_WS
static void ws_pong(sipflow_uv_ws *ws, const uint8_t *data, size_t len,
                    void *ud) {
  px_conn *c = ud;
  (void)ws;
  px_ka_ws_pong(c->px, c->flow, data, len);
}

static const sipflow_uv_ws_callbacks ws_cb = {NULL, ws_pong};
#endif

/* TLS under SIP or WebSocket, WebSocket under SIP (RFC 7118). */
static int conn_filters(px *p, px_conn *c) {
  int t = c->tuple.transport;
  int rv = 0;
  (void)p;
  if (t == SIPFLOW_TRANSPORT_TLS || t == SIPFLOW_TRANSPORT_WSS) {
#ifdef PX_HAVE_TLS
    rv = sipflow_uv_tls_push(c->stream, p->tls);
#else
    rv = -1;
#endif
  }
  if (rv == 0 && (t == SIPFLOW_TRANSPORT_WS || t == SIPFLOW_TRANSPORT_WSS)) {
#ifdef PX_HAVE_WS
    rv = sipflow_uv_ws_push(c->stream, &ws_cb, c, &c->ws);
#else
    rv = -1;
#endif
  }
  return rv;
}

int px_send_ws_ping(px *p, sipflow_flow_id flow, const uint8_t *data,
                    size_t len) {
  sipflow_flow_info info;
  px_conn *c;
  if (sipflow_flow_get(p->flows, flow, &info) != 0 ||
      info.tuple.transport == SIPFLOW_TRANSPORT_UDP)
    return -1;
  c = (px_conn *)(uintptr_t)info.handle;
  if (!c->ws || c->closing)
    return -1;
  p->stats.tx_messages++;
#ifdef PX_HAVE_WS
  return sipflow_uv_ws_ping(c->ws, data, len);
#else
  (void)data;
  (void)len;
  return -1;
#endif
}

/* Registers the connection as a flow and starts reading it. */
static int conn_start(px *p, px_conn *c) {
  struct sockaddr_storage ss;
  int n = sizeof(ss), rv;
  memset(&c->tuple, 0, sizeof(c->tuple));
  c->tuple.transport =
      c->listener ? (uint8_t)c->listener->transport : SIPFLOW_TRANSPORT_TCP;
  if (uv_tcp_getsockname(c->tcp, (struct sockaddr *)&ss, &n) != 0)
    return -1;
  from_sockaddr((struct sockaddr *)&ss, &c->tuple.local);
  n = sizeof(ss);
  if (uv_tcp_getpeername(c->tcp, (struct sockaddr *)&ss, &n) != 0)
    return -1;
  from_sockaddr((struct sockaddr *)&ss, &c->tuple.remote);
  if ((rv = sipflow_flow_add(p->flows, &c->tuple, (uint64_t)(uintptr_t)c,
                             sipflow_uv_now(), &c->flow)) != 0)
    return rv;
  sipflow_flow_info info;
  if (sipflow_flow_get(p->flows, c->flow, &info) == 0)
    c->tuple = info.tuple; /* with the generation the table gave it */
  if (sipflow_uv_stream_new(&c->stream, c->tcp, &conn_cb, PX_MAX_MESSAGE, c) !=
      0) {
    sipflow_flow_end(p->flows, c->flow, SIPFLOW_FLOW_END_LOCAL_CLOSE,
                     sipflow_uv_now());
    c->flow = 0;
    return -1;
  }
  sipflow_uv_stream_set_max_queued(c->stream, p->cfg.max_send_queue);
  if (conn_filters(p, c) != 0) {
    /* The stream is ours and started: close it; on_close ends the flow. */
    c->closing = 1;
    sipflow_uv_stream_close(c->stream);
    return 0;
  }
  return 0;
}

/* The remote address of an accepted connection. */
static int peer_of(uv_tcp_t *tcp, sipflow_addr *a) {
  struct sockaddr_storage ss;
  int n = sizeof(ss);
  if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &n) != 0)
    return -1;
  from_sockaddr((struct sockaddr *)&ss, a);
  return 0;
}

/* Whether a new connection may take a flow: within its source's cap, and
 * with room in the table (made by shedding a silent connection). */
static int admit(px *p, px_conn *c) {
  sipflow_addr remote;
  if (peer_of(c->tcp, &remote) != 0)
    return -1;
  if (!px_conn_admit(p, &remote)) {
    p->stats.flows_refused++;
    px_log_net(p, SIPFLOW_LOG_WARN,
               "tcp: more than %u connections from one address "
               "(--max-conns-per-source): refused",
               (unsigned)p->cfg.max_conns_per_source);
    return -1;
  }
  c->counted = true;
  c->tuple.remote = remote;
  if (p->cfg.max_flows && sipflow_flow_count(p->flows) >= p->cfg.max_flows)
    px_shed_silent_conn(p);
  return 0;
}

static void tcp_closed_free(uv_handle_t *h) { free(h); }

static void on_accept(uv_stream_t *server, int status) {
  px_listener *l = server->data;
  px *p = l->px;
  px_conn *c;
  int rv = 0;
  if (status != 0)
    return;
  c = calloc(1, sizeof(*c));
  if (!c)
    return;
  c->tcp = malloc(sizeof(*c->tcp));
  if (!c->tcp) {
    free(c);
    return;
  }
  uv_tcp_init(p->loop, c->tcp);
  c->px = p;
  c->listener = l;
  if (uv_accept(server, (uv_stream_t *)c->tcp) != 0 || admit(p, c) != 0 ||
      (rv = conn_start(p, c)) != 0) {
    if (rv == SIPFLOW_ERR_LIMIT) {
      p->stats.flows_refused++;
      px_log_net(p, SIPFLOW_LOG_WARN,
                 "tcp: the flow table is full (--max-flows %u): connection "
                 "refused",
                 (unsigned)p->cfg.max_flows);
    }
    if (c->counted)
      px_conn_release(p, &c->tuple.remote);
    uv_close((uv_handle_t *)c->tcp, tcp_closed_free);
    free(c);
    return;
  }
  uv_tcp_nodelay(c->tcp, 1);
  c->next = p->conns;
  if (p->conns)
    p->conns->prev = c;
  p->conns = c;
  c->opened_ms = uv_now(p->loop);
  if (p->cfg.tcp_hello_timeout)
    silent_push(p, c);
  if (p->cfg.ws_idle_timeout && (c->tuple.transport == SIPFLOW_TRANSPORT_WS ||
                                 c->tuple.transport == SIPFLOW_TRANSPORT_WSS))
    idle_touch(p, c);
  px_log(p, SIPFLOW_LOG_DEBUG, "tcp: accepted flow %llu",
         (unsigned long long)c->flow);
}

static void on_connect(uv_connect_t *req, int status) {
  px_conn *c = req->data;
  px *p = c->px;
  if (status != 0 || conn_start(p, c) != 0) {
    px_log_net(p, SIPFLOW_LOG_WARN, "tcp: connect failed: %s",
               status ? uv_err_name(status) : "flow");
    conn_unlink(p, c);
    free_queue(c);
    uv_close((uv_handle_t *)c->tcp, tcp_closed_free);
    px_txn_connect_failed(p, &c->tuple.remote);
    free(c);
    return;
  }
  while (c->queued) {
    px_pending_write *w = c->queued;
    c->queued = w->next;
    sipflow_uv_stream_write(c->stream, w->data, w->len);
    free(w);
  }
}

static px_conn *conn_open(px *p, const sipflow_addr *dst) {
  struct sockaddr_storage ss;
  px_conn *c = calloc(1, sizeof(*c));
  if (!c)
    return NULL;
  c->tcp = malloc(sizeof(*c->tcp));
  if (!c->tcp) {
    free(c);
    return NULL;
  }
  c->px = p;
  c->tuple.transport = SIPFLOW_TRANSPORT_TCP;
  c->tuple.remote = *dst;
  uv_tcp_init(p->loop, c->tcp);
  uv_tcp_nodelay(c->tcp, 1);
  to_sockaddr(dst, &ss);
  c->connect_req.data = c;
  if (uv_tcp_connect(&c->connect_req, c->tcp, (struct sockaddr *)&ss,
                     on_connect) != 0) {
    uv_close((uv_handle_t *)c->tcp, tcp_closed_free);
    free(c);
    return NULL;
  }
  c->next = p->conns;
  if (p->conns)
    p->conns->prev = c;
  p->conns = c;
  return c;
}

static int conn_write(px_conn *c, const void *data, size_t len) {
  if (c->stream)
    return sipflow_uv_stream_write(c->stream, data, len);
  px_pending_write *w = malloc(sizeof(*w) + len), **tail = &c->queued;
  if (!w)
    return -1;
  w->next = NULL;
  w->len = len;
  memcpy(w->data, data, len);
  while (*tail)
    tail = &(*tail)->next;
  *tail = w;
  return 0;
}

/* ---- sending ------------------------------------------------------------ */

int px_send_flow(px *p, sipflow_flow_id flow, const void *data, size_t len) {
  sipflow_flow_info info;
  if (sipflow_flow_get(p->flows, flow, &info) != 0) {
    p->stats.tx_errors++;
    return -1;
  }
  p->stats.tx_messages++;
  if (info.tuple.transport == SIPFLOW_TRANSPORT_UDP)
    return udp_send(p, px_udp_listener(p, &info.tuple.local),
                    &info.tuple.remote, data, len);
  return conn_write((px_conn *)(uintptr_t)info.handle, data, len);
}

int px_send_udp_tuple(px *p, const sipflow_flow_tuple *t, const void *data,
                      size_t len) {
  p->stats.tx_messages++;
  return udp_send(p, px_udp_listener(p, &t->local), &t->remote, data, len);
}

int px_send_addr(px *p, int transport, const sipflow_addr *dst,
                 const void *data, size_t len, sipflow_flow_id *flow) {
  if (flow)
    *flow = 0;
  if (transport == SIPFLOW_TRANSPORT_UDP) {
    px_listener *l = px_listener_for(p, SIPFLOW_TRANSPORT_UDP, dst->family);
    if (!l)
      return -1;
    if (flow)
      px_udp_flow(p, l, dst, flow);
    p->stats.tx_messages++;
    return udp_send(p, l, dst, data, len);
  }
  if (transport != SIPFLOW_TRANSPORT_TCP)
    return -1;
  for (px_conn *c = p->conns; c; c = c->next) {
    if (!c->closing && sipflow_addr_equal(&c->tuple.remote, dst)) {
      if (flow)
        *flow = c->flow;
      p->stats.tx_messages++;
      return conn_write(c, data, len);
    }
  }
  px_conn *c = conn_open(p, dst);
  if (!c)
    return -1;
  p->stats.tx_messages++;
  return conn_write(c, data, len);
}

void px_conn_close_flow(px *p, sipflow_flow_id flow) {
  sipflow_flow_info info;
  if (sipflow_flow_get(p->flows, flow, &info) != 0)
    return;
  if (info.tuple.transport == SIPFLOW_TRANSPORT_UDP) {
    sipflow_flow_end(p->flows, flow, SIPFLOW_FLOW_END_KEEPALIVE_TIMEOUT,
                     sipflow_uv_now());
    return;
  }
  px_conn *c = (px_conn *)(uintptr_t)info.handle;
  if (c->stream && !c->closing) {
    c->closing = 1;
    sipflow_uv_stream_close(c->stream);
  }
}

/* ---- listeners ---------------------------------------------------------- */

/* A burst of datagrams (keepalive answers, a registration storm) has to
 * wait in the socket while the loop is busy, not be dropped: Linux gives
 * 208 KiB by default. 4 MiB is asked for; the kernel caps the request at
 * net.core.rmem_max (and doubles what it grants, for its own overhead),
 * so the size granted is logged. */
static void udp_rcvbuf(px *p, px_listener *l, const char *name) {
  int want = 4 << 20, got = 0;
  if (uv_recv_buffer_size((uv_handle_t *)&l->h.udp, &want) != 0 ||
      uv_recv_buffer_size((uv_handle_t *)&l->h.udp, &got) != 0) {
    px_log(p, SIPFLOW_LOG_WARN, "udp:%s: cannot set the receive buffer", name);
    return;
  }
  px_log(p, SIPFLOW_LOG_INFO, "udp:%s: receive buffer %d bytes", name, got);
}

/* --reuse-port: SO_REUSEPORT before bind, so that several processes that
 * all ask for it share the port (the kernel spreads datagrams and
 * connections over them). Without it a port in use is an error. */
static int set_reuse_port(uv_handle_t *h) {
  uv_os_fd_t fd;
  int one = 1, rv = uv_fileno(h, &fd);
  if (rv != 0)
    return rv;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
    return -errno;
  return 0;
}

/* The descriptor goes once libuv no longer watches it. */
static void rx_poll_closed(uv_handle_t *h) {
  px_listener *l = h->data;
  close(l->rx_fd);
  l->rx_fd = -1;
}

static void rx_poll_close(px_listener *l) {
  if (l->rx_poll_ready) {
    l->rx_poll_ready = 0;
    uv_close((uv_handle_t *)&l->rx_poll, rx_poll_closed);
  } else if (l->rx_fd >= 0) {
    close(l->rx_fd);
    l->rx_fd = -1;
  }
}

static int listen_udp(px *p, px_listener *l, struct sockaddr_storage *ss,
                      const char *name) {
  int n = sizeof(*ss), rv;
  uv_os_fd_t fd;
  /* No UV_UDP_REUSEADDR: on Linux it lets a second process bind the same
   * port and take every datagram. */
  if ((rv = p->cfg.reuse_port ? set_reuse_port((uv_handle_t *)&l->h.udp) : 0))
    return rv;
  if ((rv = uv_udp_bind(&l->h.udp, (struct sockaddr *)ss, 0)) != 0)
    return rv;
  udp_rcvbuf(p, l, name);
  if ((rv = uv_fileno((uv_handle_t *)&l->h.udp, &fd)) != 0)
    return rv;
  if ((l->rx_fd = dup(fd)) < 0)
    return -errno;
  if ((rv = uv_poll_init_socket(p->loop, &l->rx_poll, l->rx_fd)) != 0) {
    close(l->rx_fd);
    l->rx_fd = -1;
    return rv;
  }
  l->rx_poll.data = l;
  l->rx_poll_ready = 1;
  if ((rv = uv_poll_start(&l->rx_poll, UV_READABLE, udp_readable)) != 0)
    return rv;
  return uv_udp_getsockname(&l->h.udp, (struct sockaddr *)ss, &n);
}

static int listen_tcp(px *p, px_listener *l, struct sockaddr_storage *ss) {
  int n = sizeof(*ss), rv;
  if ((rv = p->cfg.reuse_port ? set_reuse_port((uv_handle_t *)&l->h.tcp) : 0))
    return rv;
  if ((rv = uv_tcp_bind(&l->h.tcp, (struct sockaddr *)ss, 0)) != 0)
    return rv;
  if ((rv = uv_listen((uv_stream_t *)&l->h.tcp, 511, on_accept)) != 0)
    return rv;
  return uv_tcp_getsockname(&l->h.tcp, (struct sockaddr *)ss, &n);
}

static int listen_one(px *p, const px_endpoint_cfg *ep) {
  px_listener *l = &p->listeners[p->nlisteners];
  struct sockaddr_storage ss;
  unsigned af = ep->addr.family == SIPFLOW_AF_INET6 ? AF_INET6 : AF_INET;
  int rv;
  char name[64];
  l->px = p;
  l->transport = ep->transport;
  l->rx_fd = -1;
  to_sockaddr(&ep->addr, &ss);
  sipflow_addr_format(&ep->addr, name, sizeof(name));
  /* The socket is made at init (_ex), so options can be set before bind. */
  if (ep->transport == SIPFLOW_TRANSPORT_UDP)
    rv = uv_udp_init_ex(p->loop, &l->h.udp, af);
  else
    rv = uv_tcp_init_ex(p->loop, &l->h.tcp, af);
  if (rv != 0) {
    px_log(p, SIPFLOW_LOG_ERROR, "cannot listen on %s:%s: %s",
           sipflow_transport_name(ep->transport), name, uv_strerror(rv));
    return -1;
  }
  l->h.udp.data = l; /* data is the first member of every handle */
  rv = ep->transport == SIPFLOW_TRANSPORT_UDP ? listen_udp(p, l, &ss, name)
                                              : listen_tcp(p, l, &ss);
  if (rv != 0) {
    px_log(p, SIPFLOW_LOG_ERROR, "cannot listen on %s:%s: %s%s",
           sipflow_transport_name(ep->transport), name, uv_strerror(rv),
           rv == UV_EADDRINUSE ? " (another process has the port; "
                                 "--reuse-port shares it on purpose)"
                               : "");
    uv_close((uv_handle_t *)&l->h, NULL);
    rx_poll_close(l);
    return -1;
  }
  if (ep->transport == SIPFLOW_TRANSPORT_UDP && p->cfg.steer) {
    uv_os_fd_t fd;
    int st = uv_fileno((uv_handle_t *)&l->h.udp, &fd) == 0
                 ? px_steer_join(&p->cfg, (int)(ep - p->cfg.listen), fd)
                 : -EBADF;
    if (st < 0)
      px_log(p, SIPFLOW_LOG_WARN,
             "udp:%s: cannot keep each source with this worker: %s", name,
             strerror(-st));
    else if (st > 0)
      px_log(p, SIPFLOW_LOG_INFO,
             "udp:%s: each source stays with one worker (slot %u)", name,
             (unsigned)p->cfg.worker_index);
  }
  from_sockaddr((struct sockaddr *)&ss, &l->addr);
  sipflow_addr_format(&l->addr, name, sizeof(name));
  px_log(p, SIPFLOW_LOG_INFO, "listening on %s:%s",
         sipflow_transport_name(ep->transport), name);
  p->nlisteners++;
  return 0;
}

/* The TLS context, before any tls: or wss: listener opens. */
static int tls_open(px *p) {
  bool need = false;
  for (int i = 0; i < p->cfg.nlisten; i++) {
    int t = p->cfg.listen[i].transport;
#ifndef PX_HAVE_WS
    if (t == SIPFLOW_TRANSPORT_WS || t == SIPFLOW_TRANSPORT_WSS) {
      px_log(p, SIPFLOW_LOG_ERROR, "built without WebSocket support");
      return -1;
    }
#endif
    need |= t == SIPFLOW_TRANSPORT_TLS || t == SIPFLOW_TRANSPORT_WSS;
  }
  if (!need)
    return 0;
#ifdef PX_HAVE_TLS
  char err[256] = "";
  if (sipflow_uv_tls_ctx_new(&p->tls, p->cfg.tls_cert, p->cfg.tls_key,
                             p->cfg.tls_ca[0] ? p->cfg.tls_ca : NULL, err,
                             sizeof(err)) != 0) {
    px_log(p, SIPFLOW_LOG_ERROR, "tls: %s", err);
    return -1;
  }
  return 0;
#else
  px_log(p, SIPFLOW_LOG_ERROR, "built without TLS support");
  return -1;
#endif
}

int px_net_start(px *p) {
  if (tls_open(p) != 0)
    return -1;
  for (int i = 0; i < p->cfg.nlisten; i++)
    if (listen_one(p, &p->cfg.listen[i]) != 0)
      return -1;
  if (px_limits_init(p) != 0)
    return -1;
  if (p->cfg.tcp_hello_timeout || p->cfg.ws_idle_timeout) {
    /* Checked every second: a silent connection lives at most one second
     * longer than the timeout. */
    if (uv_timer_init(p->loop, &p->hello_timer) != 0)
      return -1;
    p->hello_timer.data = p;
    p->hello_timer_ready = true;
    uv_unref((uv_handle_t *)&p->hello_timer);
    uv_timer_start(&p->hello_timer, hello_timer_cb, 1000, 1000);
  }
  return 0;
}

void px_net_stop(px *p) {
  px_udp_flush(p); /* probes batched before the listeners close */
#ifdef PX_HAVE_TLS
  /* Each session holds a reference to the context: freeing ours is safe. */
  sipflow_uv_tls_ctx_del(p->tls);
  p->tls = NULL;
#endif
  if (p->hello_timer_ready) {
    uv_close((uv_handle_t *)&p->hello_timer, NULL);
    p->hello_timer_ready = false;
  }
  for (int i = 0; i < p->nlisteners; i++) {
    if (!uv_is_closing((uv_handle_t *)&p->listeners[i].h))
      uv_close((uv_handle_t *)&p->listeners[i].h, NULL);
    rx_poll_close(&p->listeners[i]);
    if (p->listeners[i].rx_pause_ready)
      uv_close((uv_handle_t *)&p->listeners[i].rx_pause, NULL);
    p->listeners[i].rx_pause_ready = 0;
  }
  for (px_conn *c = p->conns, *next; c; c = next) {
    next = c->next;
    if (c->stream && !c->closing) {
      c->closing = 1;
      sipflow_uv_stream_close(c->stream);
    }
  }
}

int px_send_crlf_ping(px *p, sipflow_flow_id flow) {
  sipflow_flow_info info;
  px_conn *c;
  if (sipflow_flow_get(p->flows, flow, &info) != 0 ||
      info.tuple.transport == SIPFLOW_TRANSPORT_UDP)
    return -1;
  c = (px_conn *)(uintptr_t)info.handle;
  if (!c->stream)
    return -1;
  p->stats.tx_messages++;
  return sipflow_uv_stream_ping(c->stream);
}
