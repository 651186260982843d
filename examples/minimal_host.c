/*
 * The minimal host of docs/guide.md: the core alone, no event loop, no
 * socket, a simulated clock. It keeps one TCP flow alive with CRLF pings
 * and plays the phone answering each ping 20 ms later. Every host has this
 * shape: make a context and objects on it, give every call `now`, wait for
 * the context's one deadline, call handle_expiry when it comes.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <stdio.h>

#include <sipflow/sipflow.h>

static sipflow_tstamp now; /* the simulated clock, in nanoseconds */

static int send_probe(sipflow_keepalive *ka, sipflow_flow_id flow,
                      const sipflow_keepalive_probe *probe, void *ud,
                      void *ep_ud) {
  (void)ka, (void)ud, (void)ep_ud;
  /* A real host writes probe->data to the flow's connection here. */
  printf("t=%6.1f s  flow %llu: CRLF ping (%zu bytes)\n", (double)now / 1e9,
         (unsigned long long)flow, probe->len);
  return 0;
}

static void on_rtt(sipflow_keepalive *ka, sipflow_flow_id flow,
                   sipflow_duration rtt, void *ud, void *ep_ud) {
  (void)ka, (void)ud, (void)ep_ud;
  printf("t=%6.1f s  flow %llu: pong, rtt %.1f ms\n", (double)now / 1e9,
         (unsigned long long)flow, (double)rtt / 1e6);
}

int main(void) {
  sipflow_keepalive_callbacks cb = {.send_probe = send_probe, .on_rtt = on_rtt};
  sipflow_keepalive_endpoint ep;
  sipflow_ctx *ctx;
  sipflow_keepalive *ka;
  int rv;

  /* No rand callback: every wait is exactly 80% of the interval. */
  if ((rv = sipflow_ctx_new(&ctx, NULL, NULL, NULL, NULL)) != 0 ||
      (rv = sipflow_keepalive_new(&ka, ctx, &cb, NULL, NULL)) != 0) {
    fprintf(stderr, "minimal_host: %s\n", sipflow_strerror(rv));
    return 1;
  }
  sipflow_keepalive_endpoint_default(&ep); /* AUTO: CRLF on a stream */
  ep.flow_id = 1;
  ep.tuple.transport = SIPFLOW_TRANSPORT_TCP;
  sipflow_addr_parse(&ep.tuple.local, "192.0.2.1", 5060);
  sipflow_addr_parse(&ep.tuple.remote, "198.51.100.7", 49152);
  /* Kept alive for a 10-minute registration; 120 s interval on TCP. */
  rv = sipflow_keepalive_reason_set(ka, &ep, SIPFLOW_KEEPALIVE_REGISTRATION, 1,
                                    600 * SIPFLOW_SECONDS, now);
  for (int i = 0; rv == 0 && i < 3; i++) {
    now = sipflow_ctx_get_expiry(ctx);        /* the one timer fires */
    rv = sipflow_ctx_handle_expiry(ctx, now); /* -> send_probe */
    now += 20 * SIPFLOW_MILLISECONDS;         /* the phone answers */
    if (rv == 0)
      rv = sipflow_keepalive_on_pong(ka, 1, now); /* -> on_rtt */
  }
  if (rv != 0)
    fprintf(stderr, "minimal_host: %s\n", sipflow_err_name(rv));
  sipflow_keepalive_del(ka); /* objects first, the context last */
  sipflow_ctx_del(ctx);
  return rv == 0 ? 0 : 1;
}
