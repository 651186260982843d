/*
 * What the integration examples need from an event loop: a clock, UDP
 * sockets, the context's single timer, and a bounded run. host_uv.c
 * implements it on libuv, host_sofia.c on sofia-sip's su_root; the scenario
 * files (edge.c, registrar.c, single.c, pinger.c) use nothing else, so each
 * builds once per loop. This file is the whole of the difference between a
 * libsipflow host on libuv and one on sofia-sip (docs/integration/).
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef EXAMPLES_HOST_H
#define EXAMPLES_HOST_H

#include <stddef.h>
#include <stdint.h>

#include <sipflow/sipflow.h>

typedef struct host host;
typedef struct host_udp host_udp;

/* A datagram arrived on |sock|. The host re-arms the context's timer after
 * this returns, so a handler never has to. */
typedef void (*host_recv_fn)(host_udp *sock, const sipflow_addr *from,
                             const uint8_t *data, size_t len, void *arg);

/* "libuv" or "sofia-sip". */
const char *host_loop_name(void);

int host_new(host **ph);
/* Closes the timer and the sockets. Delete the libsipflow objects first,
 * the context after. */
void host_del(host *h);

/* The time for every libsipflow call: this loop's monotonic clock, ns. */
sipflow_tstamp host_now(void);

/* A context with this loop's randomness (jitter, STUN ids), a random hash
 * key, and a log callback that prints lines at |level| and above to
 * stderr. |user_data| is the context's: the registrar's change callback
 * gets it. */
int host_ctx_new(host *h, sipflow_ctx **pctx, sipflow_log_level level,
                 void *user_data);

/* From now on the loop's one timer follows |ctx|'s deadline. */
int host_timer_start(host *h, sipflow_ctx *ctx);
/* Re-arm after a libsipflow call that took `now` outside a receive
 * handler (receive handlers are followed by a re-arm anyway). */
void host_timer_update(host *h);

/* Bind a UDP socket (port 0: any free port); |fn| gets its datagrams. */
int host_udp_bind(host *h, const sipflow_addr *addr, host_recv_fn fn, void *arg,
                  host_udp **psock);
/* The address the socket is bound to, with the real port. */
const sipflow_addr *host_udp_local(const host_udp *sock);
int host_udp_send(host_udp *sock, const sipflow_addr *to, const void *data,
                  size_t len);

/* Run until host_stop(), SIGINT or SIGTERM, or |max_ms| (0: no limit). */
void host_run(host *h, uint64_t max_ms);
void host_stop(host *h);

#endif
