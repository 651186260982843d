/*
 * sipflow-ping: keep a SIP path alive and print its round-trip times.
 *
 * The probes are the keepalive scheduler's (keepalive.h): it decides when
 * to send, builds the STUN request, matches the answers, measures the RTT
 * and declares the misses; this program only carries bytes through one
 * libuv socket and prints what the scheduler reports. One endpoint, one
 * reason, one timer (the uv adapter's).
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <math.h>
#include <signal.h>
#include <string.h>

#include <sipflow/keepalive.h>
#include <sipflow/responder.h>

#include "ping.h"

#define FLOW 1 /* the one endpoint's flow id */
#define REASON 1
#define LIFETIME (8ull * 365 * 24 * 3600 * SIPFLOW_SECONDS) /* the most */
/* The scheduler spreads a new endpoint's first probe over its interval, so
 * that a million endpoints starting together send no burst. One endpoint
 * should not wait that long: it starts at the smallest interval, so its
 * first probe goes within 100 ms, and gets the real one once it is sent. */
#define FIRST_INTERVAL (100 * SIPFLOW_MILLISECONDS)

static double ms(sipflow_duration d) { return (double)d / 1e6; }

/* ---- what is printed ------------------------------------------------------
 */

static void check_done(ping *p) {
  if (p->args.count && p->sent >= p->args.count && !p->cur_open)
    ping_finish(p);
}

static void report_reply(ping *p, sipflow_duration rtt) {
  double r = ms(rtt);
  printf("reply from %s: probe=%llu method=%s rtt=%.3f ms", p->peer,
         (unsigned long long)p->cur, ping_method_name(p->args.method), r);
  if (p->args.method == SIPFLOW_KEEPALIVE_OPTIONS)
    printf(" status=%u", p->cur_status);
  printf("\n");
  if (!p->answered || r < p->rtt_min)
    p->rtt_min = r;
  if (!p->answered || r > p->rtt_max)
    p->rtt_max = r;
  p->rtt_sum += r;
  p->rtt_sum2 += r * r;
  p->answered++;
  p->cur_open = 0;
  check_done(p);
}

static void report_miss(ping *p, const char *why) {
  printf("no reply from %s: probe=%llu method=%s ", p->peer,
         (unsigned long long)p->cur, ping_method_name(p->args.method));
  if (p->cur_send_error)
    printf("error=%s", uv_strerror(p->cur_send_error));
  else if (why)
    printf("error=%s", why);
  else
    printf("timeout=%.0f ms", ms(p->args.timeout));
  if (p->net_error && !p->cur_send_error)
    printf(" (%s)", uv_strerror(p->net_error));
  printf("\n");
  p->cur_open = 0;
  check_done(p);
}

/* The scheduler counts misses (timeouts, failed sends, failure answers) but
 * calls back only on health changes: compare its count with the last one
 * seen. At most one probe is in flight, so a new miss is the current probe.
 * |why| names a failure answer; NULL means none came in time. */
static void settle(ping *p, const char *why) {
  sipflow_keepalive_stats st;
  if (!p->ka || sipflow_keepalive_get_stats(p->ka, FLOW, &st) != 0)
    return;
  if (st.probes_missed == p->misses_seen)
    return;
  p->misses_seen = st.probes_missed;
  if (p->cur_open)
    report_miss(p, why);
}

static void summary(const ping *p, sipflow_tstamp now) {
  /* Nothing sent (no connection) is nothing through: 100% too. */
  double loss = p->sent
                    ? 100.0 * (double)(p->sent - p->answered) / (double)p->sent
                    : 100.0;
  printf("--- %s sipflow-ping statistics ---\n", p->args.uri);
  printf("%llu probes sent, %llu answered, %.4g%% loss, time %.0f ms\n",
         (unsigned long long)p->sent, (unsigned long long)p->answered, loss,
         p->started ? ms(now - p->started) : 0.0);
  if (p->answered) {
    double n = (double)p->answered, avg = p->rtt_sum / n;
    double var = p->rtt_sum2 / n - avg * avg;
    printf("rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms\n", p->rtt_min, avg,
           p->rtt_max, var > 0 ? sqrt(var) : 0.0);
  }
}

/* ---- the scheduler's callbacks ------------------------------------------- */

/* OPTIONS with the URI as typed for Request-URI (the scheduler's own probe
 * is addressed to sip:host:port), the same probe id. */
static size_t build_options(ping *p, const sipflow_keepalive_probe *probe,
                            char *buf, size_t cap) {
  sipflow_keepalive_options_request req;
  size_t len;
  sipflow_keepalive_options_request_default(&req);
  req.probe_id = probe->probe_id;
  req.transport = p->tuple.transport;
  req.local = p->tuple.local;
  req.remote = p->tuple.remote;
  req.request_uri.ptr = p->args.uri;
  req.request_uri.len = strlen(p->args.uri);
  return sipflow_keepalive_options_build(&req, buf, cap, &len) == 0 ? len : 0;
}

static int send_probe(sipflow_keepalive *ka, sipflow_flow_id flow,
                      const sipflow_keepalive_probe *probe, void *ud,
                      void *ep_ud) {
  char opt[SIPFLOW_KEEPALIVE_OPTIONS_MAX + PING_MAX_URI];
  ping *p = ud;
  const uint8_t *data = probe->data;
  size_t len = probe->len, olen;
  int rv;
  (void)ka;
  (void)flow;
  (void)ep_ud;
  settle(p, NULL); /* a timeout can start the next probe at once */
  if (p->stopping)
    return 0; /* -c reached: nothing more goes out */
  p->cur = ++p->sent;
  p->cur_open = 1;
  p->cur_send_error = 0;
  p->net_error = 0;
  if (probe->method == SIPFLOW_KEEPALIVE_OPTIONS &&
      (olen = build_options(p, probe, opt, sizeof(opt))) != 0) {
    data = (const uint8_t *)opt;
    len = olen;
  }
  rv = ping_net_send(p, probe->method, data, len);
  if (rv != 0)
    p->cur_send_error = rv; /* the scheduler counts it missed at once */
  return rv != 0;
}

static void on_rtt(sipflow_keepalive *ka, sipflow_flow_id flow,
                   sipflow_duration rtt, void *ud, void *ep_ud) {
  ping *p = ud;
  (void)ka;
  (void)flow;
  (void)ep_ud;
  if (p->cur_open)
    report_reply(p, rtt);
}

/* After each deadline: report timeouts, and give the endpoint its real
 * interval once the first probe is out. */
static void after_expiry(sipflow_uv_timer *t, int rv, void *ud) {
  ping *p = ud;
  sipflow_keepalive_endpoint ep;
  (void)t;
  (void)rv;
  if (p->stopping)
    return;
  settle(p, NULL);
  if (p->interval_set || !p->sent || p->stopping)
    return;
  sipflow_keepalive_endpoint_default(&ep);
  ep.flow_id = FLOW;
  ep.tuple = p->tuple;
  ep.method = (uint8_t)p->args.method;
  ep.interval = p->args.interval;
  if (sipflow_keepalive_reason_set(p->ka, &ep, SIPFLOW_KEEPALIVE_OTHER, REASON,
                                   LIFETIME, sipflow_uv_now()) == 0)
    p->interval_set = 1;
}

/* ---- what the network reports ---------------------------------------------
 */

void ping_on_ready(ping *p) {
  sipflow_keepalive_endpoint ep;
  char local[64];
  int rv;
  sipflow_addr_format(&p->tuple.local, local, sizeof(local));
  printf("PING %s (%s %s from %s): method=%s interval=%.3f s timeout=%.3f s\n",
         p->args.uri, sipflow_transport_name(p->args.transport), p->peer, local,
         ping_method_name(p->args.method), ms(p->args.interval) / 1000,
         ms(p->args.timeout) / 1000);
  p->started = sipflow_uv_now();
  sipflow_keepalive_endpoint_default(&ep);
  ep.flow_id = FLOW;
  ep.tuple = p->tuple;
  ep.method = (uint8_t)p->args.method;
  ep.interval = FIRST_INTERVAL;
  p->interval_set = p->args.interval == FIRST_INTERVAL;
  rv = sipflow_keepalive_reason_set(p->ka, &ep, SIPFLOW_KEEPALIVE_OTHER, REASON,
                                    LIFETIME, p->started);
  if (rv != 0) {
    fprintf(stderr, "sipflow-ping: %s\n", sipflow_strerror(rv));
    ping_finish(p);
    return;
  }
  sipflow_uv_timer_update(p->timer);
}

void ping_on_sip(ping *p, const uint8_t *data, size_t len) {
  uint64_t probe_id;
  unsigned status;
  /* The core's reader: the answer carries back the one Via we sent. */
  if (p->stopping || sipflow_keepalive_options_response_parse(
                         data, len, &probe_id, &status) != 0)
    return; /* not an answer to one of our probes */
  p->cur_status = status;
  sipflow_keepalive_on_options_response(p->ka, probe_id, status,
                                        sipflow_uv_now());
  settle(p, "answer not counted as alive");
  sipflow_uv_timer_update(p->timer);
}

void ping_on_datagram(ping *p, const uint8_t *data, size_t len) {
  if (p->stopping)
    return;
  switch (sipflow_datagram_classify(data, len)) {
  case SIPFLOW_DATAGRAM_STUN:
    sipflow_keepalive_on_stun(p->ka, FLOW, data, len, sipflow_uv_now());
    settle(p, "STUN error response");
    sipflow_uv_timer_update(p->timer);
    return;
  case SIPFLOW_DATAGRAM_SIP:
    ping_on_sip(p, data, len);
    return;
  default:
    return; /* keepalives and noise */
  }
}

void ping_on_pong(ping *p) {
  if (p->stopping)
    return;
  sipflow_keepalive_on_pong(p->ka, FLOW, sipflow_uv_now());
  sipflow_uv_timer_update(p->timer);
}

void ping_on_closed(ping *p, const char *why) {
  if (p->stopping)
    return;
  fprintf(stderr, "sipflow-ping: connection to %s: %s\n", p->peer, why);
  if (p->cur_open)
    report_miss(p, "connection closed");
  ping_finish(p);
}

void ping_finish(ping *p) {
  if (p->stopping)
    return;
  p->stopping = 1;
  uv_stop(p->loop);
}

/* ---- setting up and tearing down ------------------------------------------
 */

static void on_sigint(uv_signal_t *h, int signum) {
  (void)signum;
  ping_finish(h->data);
}

static void on_log(sipflow_log_level level, const char *msg, void *ud) {
  (void)ud;
  (void)level;
  fprintf(stderr, "sipflow-ping: %s\n", msg);
}

static int make_ctx(ping *p) {
  sipflow_ctx_callbacks cb = {on_log, sipflow_uv_rand};
  sipflow_ctx_settings s;
  sipflow_ctx_settings_default(&s);
  if (sipflow_uv_settings_randomize(&s) != 0)
    return SIPFLOW_ERR_INTERNAL;
  return sipflow_ctx_new(&p->ctx, &cb, &s, NULL, p);
}

/* One transmission per probe, each waiting -W for its answer, as ping(8)
 * does: no STUN retransmission (RFC 5389's would also hide the RTT of
 * answered retransmissions, Karn's rule). */
static int make_keepalive(ping *p) {
  sipflow_keepalive_callbacks cb;
  sipflow_keepalive_settings s;
  sipflow_duration w = p->args.timeout, cap = 60 * SIPFLOW_SECONDS;
  memset(&cb, 0, sizeof(cb));
  cb.send_probe = send_probe;
  cb.on_rtt = on_rtt;
  sipflow_keepalive_settings_default(&s);
  s.pong_timeout = s.options_timeout = w;
  s.stun_rc = 1;
  s.stun_rm = (uint32_t)((w + cap - 1) / cap); /* an RTO is at most 60 s */
  s.stun_rto = w / s.stun_rm;
  return sipflow_keepalive_new(&p->ka, p->ctx, &cb, &s, p);
}

static int setup(ping *p) {
  int rv;
  p->loop = uv_default_loop();
  uv_signal_init(p->loop, &p->sigint);
  p->sigint.data = p;
  sipflow_addr_format(&p->args.dst, p->peer, sizeof(p->peer));
  if ((rv = make_ctx(p)) != 0 || (rv = make_keepalive(p)) != 0 ||
      (rv = sipflow_uv_timer_new(&p->timer, p->loop, p->ctx, after_expiry,
                                 p)) != 0) {
    fprintf(stderr, "sipflow-ping: %s\n", sipflow_strerror(rv));
    return -1;
  }
  uv_signal_start(&p->sigint, on_sigint, SIGINT);
  if ((rv = ping_net_start(p)) != 0) {
    fprintf(stderr, "sipflow-ping: %s: %s\n", p->peer, uv_strerror(rv));
    return -1;
  }
  return 0;
}

static void teardown(ping *p) {
  p->stopping = 1;
  sipflow_keepalive_del(p->ka);
  p->ka = NULL;
  ping_net_stop(p);
  sipflow_uv_timer_del(p->timer);
  uv_close((uv_handle_t *)&p->sigint, NULL);
  uv_run(p->loop, UV_RUN_DEFAULT); /* the close callbacks */
  uv_loop_close(p->loop);
  sipflow_ctx_del(p->ctx);
}

int main(int argc, char **argv) {
  static ping p;
  int rv = ping_args_parse(&p.args, argc, argv, stderr);
  if (rv == 2) {
    printf("sipflow-ping %s\n", sipflow_version(0)->version_str);
    return 0;
  }
  if (rv != 0) {
    ping_usage(rv > 0 ? stdout : stderr);
    return rv > 0 ? 0 : 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  /* A peer that closes while we write must cost an EPIPE, not the process. */
  signal(SIGPIPE, SIG_IGN);
  if (setup(&p) == 0)
    uv_run(p.loop, UV_RUN_DEFAULT);
  summary(&p, sipflow_uv_now());
  teardown(&p);
  return p.answered ? 0 : 1;
}
