/*
 * Keepalive scheduler figures for a million endpoints: bytes per endpoint,
 * probes dispatched per second when due, and the largest one-second window
 * of probes against the mean, just after start-up and at steady state.
 * Prints figures; never passes or fails on time. Time inside the scheduler
 * is simulated; the wall clock only measures CPU work.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_miss.h"
#include "fail_alloc.h"
#include "sipflow/keepalive.h"
#include "sipflow_int.h"

#define N 1000000u
#define S SIPFLOW_SECONDS
#define MS SIPFLOW_MILLISECONDS

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next64(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 0x2545F4914F6CDD1Dull;
}

static void fast_rand(uint8_t *dest, size_t len, void *ud) {
  (void)ud;
  while (len >= 8) {
    uint64_t r = next64();
    memcpy(dest, &r, 8);
    dest += 8;
    len -= 8;
  }
  if (len) {
    uint64_t r = next64();
    memcpy(dest, &r, len);
  }
}

static double wall(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID,
                &ts); /* CPU, not wall: a shared machine */
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the host
 * ---------------------------------------------------------------- */

static uint64_t sends;
static sipflow_tstamp now;
static uint64_t *window; /* probes per simulated second, when counting */
static sipflow_tstamp window_t0;
static size_t nwindows;

static int on_send(sipflow_keepalive *ka, sipflow_flow_id flow,
                   const sipflow_keepalive_probe *p, void *ud, void *eud) {
  (void)ka;
  (void)flow;
  (void)p;
  (void)ud;
  (void)eud;
  sends++;
  if (window && now >= window_t0) {
    size_t w = (size_t)((now - window_t0) / S);
    if (w < nwindows)
      window[w]++;
  }
  return 0;
}

static sipflow_keepalive_endpoint endpoint(uint32_t i, int method,
                                           int transport, int v6) {
  sipflow_keepalive_endpoint ep;
  sipflow_keepalive_endpoint_default(&ep);
  ep.flow_id = i + 1;
  ep.tuple.transport = (uint8_t)transport;
  ep.tuple.local.family = SIPFLOW_AF_INET;
  ep.tuple.local.bytes[0] = 192;
  ep.tuple.local.bytes[3] = 1;
  ep.tuple.local.port = 5060;
  ep.tuple.remote.family = v6 ? SIPFLOW_AF_INET6 : SIPFLOW_AF_INET;
  ep.tuple.remote.bytes[0] = 10;
  memcpy(ep.tuple.remote.bytes + (v6 ? 12 : 1), &i, 3);
  ep.tuple.remote.port = (uint16_t)(1024 + i % 60000);
  ep.method = (uint8_t)method;
  return ep;
}

typedef struct world {
  fail_alloc fa;
  sipflow_ctx *ctx;
  sipflow_keepalive *ka;
} world;

static void world_new(world *w, int random, uint32_t cap) {
  sipflow_ctx_callbacks ccb = {0};
  sipflow_keepalive_callbacks cb = {on_send, NULL, NULL, NULL};
  sipflow_keepalive_settings s;
  fail_alloc_init(&w->fa);
  ccb.rand = random ? fast_rand : NULL;
  sipflow_keepalive_settings_default(&s);
  s.max_probes_per_second = cap;
  now = 1000 * S;
  if (sipflow_ctx_new(&w->ctx, &ccb, NULL, &w->fa.mem, NULL) != 0 ||
      sipflow_ctx_handle_expiry(w->ctx, now) != 0 ||
      sipflow_keepalive_new(&w->ka, w->ctx, &cb, &s, NULL) != 0) {
    fprintf(stderr, "setup failed\n");
    exit(1);
  }
}

static void world_del(world *w) {
  sipflow_keepalive_del(w->ka);
  sipflow_ctx_del(w->ctx);
}

static void add_all(world *w, uint32_t n, int method, int transport, int v6,
                    sipflow_duration interval) {
  for (uint32_t i = 0; i < n; i++) {
    sipflow_keepalive_endpoint ep = endpoint(i, method, transport, v6);
    ep.interval = interval;
    if (sipflow_keepalive_reason_set(w->ka, &ep, SIPFLOW_KEEPALIVE_REGISTRATION,
                                     i, 3600 * S, now) != 0) {
      fprintf(stderr, "add failed at %u\n", i);
      exit(1);
    }
  }
}

/* ---- memory
 * --------------------------------------------------------------------- */

static void bench_memory(void) {
  world w;
  int64_t base, full, v6, extra;
  world_new(&w, 1, 0);
  base = w.fa.live_bytes;
  add_all(&w, N, SIPFLOW_KEEPALIVE_AUTO, SIPFLOW_TRANSPORT_UDP, 0, 0);
  full = w.fa.live_bytes;
  printf("memory: %u IPv4 UDP endpoints, one registration each: %.1f bytes "
         "per endpoint (%.1f with the scheduler's fixed %lld bytes)\n",
         N, (double)(full - base) / N, (double)full / N, (long long)base);
  for (uint32_t i = 0; i < 100000; i++) { /* a dialog on 100k of them */
    sipflow_keepalive_endpoint ep =
        endpoint(i, SIPFLOW_KEEPALIVE_AUTO, SIPFLOW_TRANSPORT_UDP, 0);
    sipflow_keepalive_reason_set(w.ka, &ep, SIPFLOW_KEEPALIVE_DIALOG, i,
                                 600 * S, now);
  }
  extra = w.fa.live_bytes - full;
  printf("memory: each reason beyond the first: %.1f bytes\n",
         (double)extra / 100000);
  world_del(&w);

  world_new(&w, 1, 0);
  base = w.fa.live_bytes;
  add_all(&w, N, SIPFLOW_KEEPALIVE_AUTO, SIPFLOW_TRANSPORT_UDP, 1, 0);
  v6 = w.fa.live_bytes - base;
  printf("memory: %u IPv6 UDP endpoints: %.1f bytes per endpoint\n", N,
         (double)v6 / N);
  world_del(&w);
}

/* ---- dispatch rate
 * ----------------------------------------------------------------- */

static const char *method_name(int m) {
  static const char *names[] = {"auto",    "CRLF",   "STUN",
                                "OPTIONS", "4-byte", "passive"};
  return names[m];
}

/* All endpoints' first probes spread over the interval, then the host
 * wakes once after the interval: every probe is due in one call. */
static double burst_rate(int method, int transport) {
  world w;
  double t0, dt;
  world_new(&w, 1, 0);
  add_all(&w, N, method, transport, 0, 30 * S);
  sends = 0;
  now += 30 * S;
  t0 = wall();
  sipflow_ctx_handle_expiry(w.ctx, now);
  dt = wall() - t0;
  if (sends != N)
    printf("  (only %llu of %u were due)\n", (unsigned long long)sends, N);
  world_del(&w);
  return (double)sends / dt;
}

/* The host's timer firing every millisecond for 5 intervals: everything,
 * cascades included, per CPU second. */
static double steady_rate(int method, int transport, uint64_t *count) {
  world w;
  double t0, dt;
  world_new(&w, 1, 0);
  add_all(&w, N, method, transport, 0, 30 * S);
  sends = 0;
  t0 = wall();
  for (sipflow_tstamp end = now + 150 * S; now < end;) {
    now += MS;
    sipflow_ctx_handle_expiry(w.ctx, now);
  }
  dt = wall() - t0;
  *count = sends;
  world_del(&w);
  return (double)sends / dt;
}

static void bench_dispatch(void) {
  const int methods[][2] = {
      {SIPFLOW_KEEPALIVE_UDP_PING, SIPFLOW_TRANSPORT_UDP},
      {SIPFLOW_KEEPALIVE_CRLF, SIPFLOW_TRANSPORT_TCP},
      {SIPFLOW_KEEPALIVE_STUN, SIPFLOW_TRANSPORT_UDP},
  };
  for (size_t i = 0; i < 3; i++) {
    double r = burst_rate(methods[i][0], methods[i][1]);
    printf("dispatch: %u %s probes due at once: %.2f million per second "
           "(%.0f ns = %.2f misses each)\n",
           N, method_name(methods[i][0]), r / 1e6, 1e9 / r,
           bench_misses(1e9 / r));
  }
  uint64_t n;
  double r = steady_rate(SIPFLOW_KEEPALIVE_UDP_PING, SIPFLOW_TRANSPORT_UDP, &n);
  printf("dispatch: steady state, timer every 1 ms for 150 s simulated, "
         "30 s interval: %llu 4-byte probes at %.2f million per CPU second "
         "(%.0f ns = %.2f misses each)\n",
         (unsigned long long)n, r / 1e6, 1e9 / r, bench_misses(1e9 / r));
}

/* The foundation's binary heap at the same size: pop the earliest, push it
 * back one jittered interval later. */
static void bench_heap(void) {
  typedef struct item {
    sipflow__pq_entry e;
  } item;
  item *items = calloc(N, sizeof(*items));
  sipflow__pq pq;
  double t0, dt;
  sipflow__pq_init(&pq, sipflow_mem_default());
  for (uint32_t i = 0; i < N; i++) {
    sipflow__pq_entry_init(&items[i].e);
    sipflow__pq_set(&pq, &items[i].e, next64() % (30 * S));
  }
  t0 = wall();
  for (uint32_t i = 0; i < N; i++) {
    sipflow__pq_entry *top = sipflow__pq_top(&pq);
    sipflow__pq_set(&pq, top, top->deadline + 24 * S + next64() % (6 * S));
  }
  dt = wall() - t0;
  printf("comparison: foundation binary heap with %u entries: %.2f million "
         "re-queues per second (%.2f misses each)\n",
         N, N / dt / 1e6, bench_misses(dt / N * 1e9));
  sipflow__pq_free(&pq);
  free(items);
}

/* ---- spreading
 * ----------------------------------------------------------------------- */

static void report_windows(const char *what, const uint64_t *win, size_t from,
                           size_t to) {
  uint64_t total = 0, max = 0, min = UINT64_MAX;
  size_t at = from;
  for (size_t i = from; i < to; i++) {
    total += win[i];
    if (win[i] > max) {
      max = win[i];
      at = i;
    }
    if (win[i] < min)
      min = win[i];
  }
  double mean = (double)total / (double)(to - from);
  printf("windows: %s, seconds %zu-%zu: mean %.0f probes/s, largest %llu "
         "(second %zu) = %.3f x mean, smallest %.3f x mean\n",
         what, from, to, mean, (unsigned long long)max, at, (double)max / mean,
         (double)min / mean);
}

static void bench_windows(void) {
  enum { SECS = 300 };
  world w;
  static uint64_t win[SECS];
  world_new(&w, 1, 0);
  add_all(&w, N, SIPFLOW_KEEPALIVE_UDP_PING, SIPFLOW_TRANSPORT_UDP, 0, 29 * S);
  window = win;
  window_t0 = now;
  nwindows = SECS;
  for (sipflow_tstamp end = now + SECS * S; now < end;) {
    now += MS;
    sipflow_ctx_handle_expiry(w.ctx, now);
  }
  window = NULL;
  printf("windows: %u endpoints, 29 s interval, waits 23.2-29 s, mass start "
         "at second 0, host timer every 1 ms\n",
         N);
  report_windows("start-up", win, 0, 60);
  report_windows("steady state", win, 240, 300);
  world_del(&w);

  /* What a first probe drawn uniformly over the interval would give (not
   * the library: computed here to show why it draws from the steady
   * state's law instead). */
  memset(win, 0, sizeof(win));
  for (uint32_t i = 0; i < N; i++) {
    sipflow_duration iv = 29 * S;
    sipflow_tstamp t = next64() % iv;
    while (t < 60 * S) {
      win[t / S]++;
      t += iv / 5 * 4 + next64() % (iv / 5);
    }
  }
  report_windows("for comparison, first probe uniform over the interval", win,
                 0, 60);
}

/* With no argument, everything; or any of: memory dispatch heap windows. */
int main(int argc, char **argv) {
  const char *parts[] = {"memory", "dispatch", "heap", "windows"};
  void (*run[])(void) = {bench_memory, bench_dispatch, bench_heap,
                         bench_windows};
  printf("bench_keepalive: %u endpoints\n", N);
  bench_miss_measure();
  for (int p = 0; p < 4; p++) {
    int want = argc < 2;
    for (int a = 1; a < argc; a++)
      want |= strcmp(argv[a], parts[p]) == 0;
    if (want)
      run[p]();
  }
  return 0;
}
