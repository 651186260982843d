/*
 * host.h on sofia-sip's su_root, with libsipflow-sofia: its clock
 * (su_monotime) and one su_timer_t following the context's deadline.
 * Randomness comes from sofia's su_randmem(). Sockets are su_socket()s
 * registered with the root, the way FreeSWITCH's sofia profiles run.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/su.h>
#include <sofia-sip/su_uniqueid.h>
#include <sofia-sip/su_wait.h>

#include <sipflow/sipflow_sofia.h>

#include "host.h"

struct host_udp {
  host *h;
  su_socket_t s;
  su_wait_t wait;
  int reg; /* su_root_register() index, 0 when not registered */
  sipflow_addr local;
  host_recv_fn fn;
  void *arg;
  host_udp *next;
};

struct host {
  su_root_t *root;
  sipflow_sofia_timer *timer;
  host_udp *socks;
};

static volatile sig_atomic_t signalled;

const char *host_loop_name(void) { return "sofia-sip"; }

sipflow_tstamp host_now(void) { return sipflow_sofia_now(); }

/* Its own conversions: this host links libsipflow-sofia, not libsipflow-uv
 * (whose sipflow_uv_addr_to/from_sockaddr the uv host uses), so that it
 * shows a sofia-only build; and su_sockaddr_t is sofia's union. */
static socklen_t to_sockaddr(const sipflow_addr *a, su_sockaddr_t *su) {
  memset(su, 0, sizeof(*su));
  if (a->family == SIPFLOW_AF_INET6) {
    su->su_sin6.sin6_family = AF_INET6;
    memcpy(&su->su_sin6.sin6_addr, a->bytes, 16);
    su->su_sin6.sin6_port = htons(a->port);
    return sizeof(su->su_sin6);
  }
  su->su_sin.sin_family = AF_INET;
  memcpy(&su->su_sin.sin_addr, a->bytes, 4);
  su->su_sin.sin_port = htons(a->port);
  return sizeof(su->su_sin);
}

static void from_sockaddr(const su_sockaddr_t *su, sipflow_addr *a) {
  memset(a, 0, sizeof(*a));
  if (su->su_family == AF_INET6) {
    a->family = SIPFLOW_AF_INET6;
    memcpy(a->bytes, &su->su_sin6.sin6_addr, 16);
    a->port = ntohs(su->su_sin6.sin6_port);
  } else {
    a->family = SIPFLOW_AF_INET;
    memcpy(a->bytes, &su->su_sin.sin_addr, 4);
    a->port = ntohs(su->su_sin.sin_port);
  }
}

int host_new(host **ph) {
  host *h = calloc(1, sizeof(*h));
  if (!h || su_init() != 0) {
    free(h);
    return SIPFLOW_ERR_INTERNAL;
  }
  h->root = su_root_create(NULL);
  if (!h->root) {
    su_deinit();
    free(h);
    return SIPFLOW_ERR_NOMEM;
  }
  *ph = h;
  return 0;
}

/* The context produces only lines at or above its log_level. */
static void log_line(sipflow_log_level level, const char *msg, void *ud) {
  (void)ud, (void)level;
  fprintf(stderr, "libsipflow: %s\n", msg);
}

/* Jitter and STUN transaction ids from sofia's own generator. */
static void rand_bytes(uint8_t *dest, size_t len, void *ud) {
  (void)ud;
  su_randmem(dest, len);
}

int host_ctx_new(host *h, sipflow_ctx **pctx, sipflow_log_level level,
                 void *user_data) {
  sipflow_ctx_callbacks cb = {log_line, rand_bytes};
  sipflow_ctx_settings s;
  (void)h;
  sipflow_ctx_settings_default(&s);
  s.log_level = level;
  su_randmem(s.hash_key, sizeof(s.hash_key));
  return sipflow_ctx_new(pctx, &cb, &s, NULL, user_data);
}

int host_timer_start(host *h, sipflow_ctx *ctx) {
  return sipflow_sofia_timer_new(&h->timer, h->root, ctx);
}

void host_timer_update(host *h) { sipflow_sofia_timer_update(h->timer); }

static int on_readable(su_root_magic_t *magic, su_wait_t *w,
                       su_wakeup_arg_t *arg) {
  host_udp *u = arg;
  static uint8_t rx[65536];
  (void)magic;
  (void)w;
  for (;;) {
    su_sockaddr_t su;
    socklen_t sulen = sizeof(su);
    sipflow_addr from;
    ssize_t n = recvfrom(u->s, rx, sizeof(rx), 0, &su.su_sa, &sulen);
    if (n < 0)
      break; /* EAGAIN: drained */
    from_sockaddr(&su, &from);
    u->fn(u, &from, rx, (size_t)n, u->arg);
  }
  /* Whatever the handler called may have moved the deadline. */
  host_timer_update(u->h);
  return 0;
}

int host_udp_bind(host *h, const sipflow_addr *addr, host_recv_fn fn, void *arg,
                  host_udp **psock) {
  su_sockaddr_t su;
  socklen_t len = to_sockaddr(addr, &su);
  host_udp *u = calloc(1, sizeof(*u));
  if (!u)
    return SIPFLOW_ERR_NOMEM;
  u->h = h;
  u->fn = fn;
  u->arg = arg;
  u->s = su_socket(su.su_family, SOCK_DGRAM, 0);
  u->next = h->socks;
  h->socks = u; /* closed by host_del() even if binding fails */
  if (u->s == INVALID_SOCKET || bind(u->s, &su.su_sa, len) != 0 ||
      getsockname(u->s, &su.su_sa, &len) != 0 || su_setblocking(u->s, 0) != 0 ||
      su_wait_create(&u->wait, u->s, SU_WAIT_IN) != 0)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  u->reg = su_root_register(h->root, &u->wait, on_readable, u, 0);
  if (u->reg < 0)
    return SIPFLOW_ERR_INTERNAL;
  from_sockaddr(&su, &u->local);
  *psock = u;
  return 0;
}

const sipflow_addr *host_udp_local(const host_udp *u) { return &u->local; }

int host_udp_send(host_udp *u, const sipflow_addr *to, const void *data,
                  size_t len) {
  su_sockaddr_t su;
  socklen_t sulen = to_sockaddr(to, &su);
  return sendto(u->s, data, len, 0, &su.su_sa, sulen) == (ssize_t)len ? 0 : -1;
}

static void on_signal(int signum) {
  (void)signum;
  signalled = 1;
}

static void on_limit(su_root_magic_t *m, su_timer_t *t, su_timer_arg_t *arg) {
  host *h = arg;
  (void)m, (void)t;
  su_root_break(h->root);
}

/* A signal handler may only set a flag; a periodic timer looks at it. */
static void on_watch(su_root_magic_t *m, su_timer_t *t, su_timer_arg_t *arg) {
  host *h = arg;
  (void)m, (void)t;
  if (signalled)
    su_root_break(h->root);
}

void host_run(host *h, uint64_t max_ms) {
  su_timer_t *limit = su_timer_create(su_root_task(h->root), 0);
  su_timer_t *watch = su_timer_create(su_root_task(h->root), 200);
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  if (!limit || !watch)
    goto out;
  if (max_ms)
    su_timer_set_interval(
        limit, on_limit, h,
        (su_duration_t)(max_ms < 0x7fffffff ? max_ms : 0x7fffffff));
  su_timer_run(watch, on_watch, h);
  host_timer_update(h);
  /* su_root_run() runs timers as they come due; su_root_step() is no way
   * to wait for them (docs/adapters.md, "Pitfalls"). */
  su_root_run(h->root);
out:
  su_timer_destroy(limit);
  su_timer_destroy(watch);
}

void host_stop(host *h) { su_root_break(h->root); }

void host_del(host *h) {
  if (!h)
    return;
  for (host_udp *u = h->socks, *next; u; u = next) {
    next = u->next;
    if (u->reg > 0)
      su_root_deregister(h->root, u->reg); /* also destroys the wait */
    if (u->s != INVALID_SOCKET)
      su_close(u->s);
    free(u);
  }
  sipflow_sofia_timer_del(h->timer);
  su_root_destroy(h->root);
  su_deinit();
  free(h);
}
