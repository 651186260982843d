/*
 * host.h on libuv, with libsipflow-uv: its clock (uv_hrtime), its rand
 * callback (libsodium), and one uv_timer_t following the context's
 * deadline. Sockets are plain uv_udp_t handles.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <sipflow/sipflow_uv.h>

#include "host.h"

struct host_udp {
  uv_udp_t handle;
  host *h;
  sipflow_addr local;
  host_recv_fn fn;
  void *arg;
  host_udp *next;
};

struct host {
  uv_loop_t loop;
  sipflow_uv_timer *timer;
  uv_timer_t limit;
  uv_signal_t sigint, sigterm;
  host_udp *socks;
};

const char *host_loop_name(void) { return "libuv"; }

sipflow_tstamp host_now(void) { return sipflow_uv_now(); }

static void on_signal(uv_signal_t *s, int signum) {
  (void)signum;
  uv_stop(s->loop);
}

int host_new(host **ph) {
  host *h = calloc(1, sizeof(*h));
  if (!h || uv_loop_init(&h->loop) != 0) {
    free(h);
    return SIPFLOW_ERR_NOMEM;
  }
  uv_timer_init(&h->loop, &h->limit);
  uv_signal_init(&h->loop, &h->sigint);
  uv_signal_init(&h->loop, &h->sigterm);
  *ph = h;
  return 0;
}

/* The context produces only lines at or above its log_level. */
static void log_line(sipflow_log_level level, const char *msg, void *ud) {
  (void)ud, (void)level;
  fprintf(stderr, "libsipflow: %s\n", msg);
}

int host_ctx_new(host *h, sipflow_ctx **pctx, sipflow_log_level level,
                 void *user_data) {
  sipflow_ctx_callbacks cb = {log_line, sipflow_uv_rand};
  sipflow_ctx_settings s;
  int rv;
  (void)h;
  sipflow_ctx_settings_default(&s);
  s.log_level = level;
  /* A key the network cannot guess keeps the hash tables flood-proof. */
  if ((rv = sipflow_uv_settings_randomize(&s)) != 0)
    return rv;
  return sipflow_ctx_new(pctx, &cb, &s, NULL, user_data);
}

int host_timer_start(host *h, sipflow_ctx *ctx) {
  return sipflow_uv_timer_new(&h->timer, &h->loop, ctx, NULL, NULL);
}

void host_timer_update(host *h) { sipflow_uv_timer_update(h->timer); }

static void on_alloc(uv_handle_t *handle, size_t size, uv_buf_t *buf) {
  static char rx[65536];
  (void)handle;
  (void)size;
  buf->base = rx;
  buf->len = sizeof(rx);
}

static void on_recv(uv_udp_t *handle, ssize_t n, const uv_buf_t *buf,
                    const struct sockaddr *sa, unsigned flags) {
  host_udp *u = handle->data;
  sipflow_addr from;
  if (n < 0 || !sa || (flags & UV_UDP_PARTIAL))
    return;
  sipflow_uv_addr_from_sockaddr(sa, &from);
  u->fn(u, &from, (const uint8_t *)buf->base, (size_t)n, u->arg);
  /* Whatever the handler called may have moved the deadline. */
  host_timer_update(u->h);
}

int host_udp_bind(host *h, const sipflow_addr *addr, host_recv_fn fn, void *arg,
                  host_udp **psock) {
  struct sockaddr_storage ss;
  int n = sizeof(ss);
  host_udp *u = calloc(1, sizeof(*u));
  if (!u)
    return SIPFLOW_ERR_NOMEM;
  uv_udp_init(&h->loop, &u->handle);
  u->handle.data = u;
  u->h = h;
  u->fn = fn;
  u->arg = arg;
  u->next = h->socks;
  h->socks = u; /* closed by host_del() even if binding fails */
  sipflow_uv_addr_to_sockaddr(addr, &ss, NULL);
  if (uv_udp_bind(&u->handle, (struct sockaddr *)&ss, 0) != 0 ||
      uv_udp_getsockname(&u->handle, (struct sockaddr *)&ss, &n) != 0 ||
      uv_udp_recv_start(&u->handle, on_alloc, on_recv) != 0)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  sipflow_uv_addr_from_sockaddr((struct sockaddr *)&ss, &u->local);
  *psock = u;
  return 0;
}

const sipflow_addr *host_udp_local(const host_udp *u) { return &u->local; }

int host_udp_send(host_udp *u, const sipflow_addr *to, const void *data,
                  size_t len) {
  struct sockaddr_storage ss;
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  sipflow_uv_addr_to_sockaddr(to, &ss, NULL);
  /* Loopback and idle sockets take the datagram at once; a busy socket's
   * EAGAIN is a lost datagram, which UDP allows (SIP retransmits). */
  return uv_udp_try_send(&u->handle, &b, 1, (struct sockaddr *)&ss) == (int)len
             ? 0
             : -1;
}

static void on_limit(uv_timer_t *t) { uv_stop(t->loop); }

void host_run(host *h, uint64_t max_ms) {
  uv_signal_start(&h->sigint, on_signal, SIGINT);
  uv_signal_start(&h->sigterm, on_signal, SIGTERM);
  if (max_ms)
    uv_timer_start(&h->limit, on_limit, max_ms, 0);
  host_timer_update(h);
  uv_run(&h->loop, UV_RUN_DEFAULT);
  uv_timer_stop(&h->limit);
  uv_signal_stop(&h->sigint);
  uv_signal_stop(&h->sigterm);
}

void host_stop(host *h) { uv_stop(&h->loop); }

static void free_sock(uv_handle_t *handle) { free(handle->data); }

void host_del(host *h) {
  if (!h)
    return;
  for (host_udp *u = h->socks, *next; u; u = next) {
    next = u->next;
    uv_close((uv_handle_t *)&u->handle, free_sock);
  }
  sipflow_uv_timer_del(h->timer); /* freed from its close callback */
  uv_close((uv_handle_t *)&h->limit, NULL);
  uv_close((uv_handle_t *)&h->sigint, NULL);
  uv_close((uv_handle_t *)&h->sigterm, NULL);
  uv_run(&h->loop, UV_RUN_DEFAULT); /* the close callbacks */
  uv_loop_close(&h->loop);
  free(h);
}
