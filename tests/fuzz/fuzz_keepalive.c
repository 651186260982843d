/*
 * Fuzz target: random sequences of keepalive operations and timestamps
 * taken from the input, with the answers a network could give (right,
 * stale, forged, malformed), allocation failures, and calls made from inside
 * callbacks. After every step the scheduler's invariants are checked.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sipflow/keepalive.h"
#include "sipflow/stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
  do {                                                                         \
    if (!(c))                                                                  \
      abort();                                                                 \
  } while (0)

#define FLOWS 24
#define S SIPFLOW_SECONDS

typedef struct input {
  const uint8_t *p;
  size_t left;
} input;

static uint8_t byte(input *in) {
  if (!in->left)
    return 0;
  in->left--;
  return *in->p++;
}

static uint32_t u16(input *in) {
  uint32_t hi = byte(in);
  return hi << 8 | byte(in);
}

/* ---- a counting allocator that can fail ---------------------------------- */

typedef struct alloc_state {
  long live;
  int fail_in; /* fail the Nth allocation from now; 0 = never */
} alloc_state;

static int failing(alloc_state *a) { return a->fail_in && --a->fail_in == 0; }

/*
 * The scheduler's own block is large (its timing wheel, about 280 KiB), and
 * a sanitizer's allocator maps and unmaps a block that size on every
 * allocation: page faults were most of an execution. One such block is
 * kept between allocations instead, poisoned while unused so that a use
 * after free is still reported.
 */
#if defined(__has_include)
#if __has_include(<sanitizer/asan_interface.h>)
#include <sanitizer/asan_interface.h>
#endif
#endif
#ifndef ASAN_POISON_MEMORY_REGION
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#endif
#define BIG ((size_t)64 * 1024)
static struct {
  void *spare, *out[2]; /* the kept block; big blocks handed out */
  size_t spare_n, out_n[2];
} big;

static void *big_get(size_t n) {
  void *p = NULL;
  int k = big.out[0] ? 1 : 0;
  if (big.out[k])
    return malloc(n); /* more than two at once: not cached */
  if (big.spare && big.spare_n == n) {
    p = big.spare;
    big.spare = NULL;
    ASAN_UNPOISON_MEMORY_REGION(p, n);
  } else if (!(p = malloc(n))) {
    return NULL;
  }
  big.out[k] = p;
  big.out_n[k] = n;
  return p;
}

/* Whether |p| was a big block, now kept or freed. */
static int big_put(void *p) {
  for (int k = 0; k < 2; k++) {
    if (!p || big.out[k] != p)
      continue;
    big.out[k] = NULL;
    if (big.spare)
      free(big.spare);
    big.spare = p;
    big.spare_n = big.out_n[k];
    ASAN_POISON_MEMORY_REGION(p, big.spare_n);
    return 1;
  }
  return 0;
}

static void *a_malloc(size_t n, void *ud) {
  alloc_state *a = ud;
  void *p = failing(a) ? NULL : n >= BIG ? big_get(n) : malloc(n ? n : 1);
  a->live += p != NULL;
  return p;
}
static void a_free(void *p, void *ud) {
  alloc_state *a = ud;
  a->live -= p != NULL;
  if (!big_put(p))
    free(p);
}
static void *a_calloc(size_t n, size_t m, void *ud) {
  alloc_state *a = ud;
  void *p;
  if (failing(a))
    return NULL;
  if (m && n >= BIG / m && n <= SIZE_MAX / m) {
    if ((p = big_get(n * m)))
      memset(p, 0, n * m);
  } else {
    p = calloc(n ? n : 1, m ? m : 1);
  }
  a->live += p != NULL;
  return p;
}
static void *a_realloc(void *p, size_t n, void *ud) {
  alloc_state *a = ud;
  if (!p)
    return a_malloc(n, ud);
  if (failing(a))
    return NULL;
  for (int k = 0; k < 2; k++)
    if (big.out[k] == p)
      big.out[k] = NULL; /* realloc'd: no longer ours to keep */
  return realloc(p, n ? n : 1);
}

/* ---- the host
 * ---------------------------------------------------------------- */

typedef struct host {
  sipflow_ctx *ctx;
  sipflow_keepalive *ka;
  sipflow_tstamp now;
  uint8_t last_stun[FLOWS + 1][20];
  uint64_t last_id[FLOWS + 1];
  int send_fail;
  int remove_in_callback;
  int reenter;
  int copies; /* export/import rounds so far in this input */
  uint64_t seed;
} host;

static host H;

static void h_rand(uint8_t *dest, size_t len, void *ud) {
  (void)ud;
  for (size_t i = 0; i < len; i++) {
    H.seed = H.seed * 6364136223846793005ull + 1442695040888963407ull;
    dest[i] = (uint8_t)(H.seed >> 56);
  }
}

static int h_send(sipflow_keepalive *ka, sipflow_flow_id flow,
                  const sipflow_keepalive_probe *p, void *ud, void *eud) {
  (void)ud;
  CHECK(flow >= 1 && flow <= FLOWS);
  CHECK((uintptr_t)eud == flow);
  CHECK(p->tuple && p->tuple->transport >= 1 && p->tuple->transport <= 6);
  if (p->method == SIPFLOW_KEEPALIVE_STUN) {
    CHECK(p->len == 20);
    memcpy(H.last_stun[flow], p->data, 20);
  }
  if (p->method == SIPFLOW_KEEPALIVE_OPTIONS) {
    CHECK(p->probe_id != 0);
    H.last_id[flow] = p->probe_id;
  }
  /* Reentrancy: answer a CRLF ping from inside the send. */
  if (H.reenter && p->method == SIPFLOW_KEEPALIVE_CRLF)
    sipflow_keepalive_on_pong(ka, flow, H.now);
  return H.send_fail ? -1 : 0;
}

static void h_state(sipflow_keepalive *ka, sipflow_flow_id flow,
                    const sipflow_keepalive_state_change *ch, void *ud,
                    void *eud) {
  (void)ud;
  (void)eud;
  CHECK(ch->event >= SIPFLOW_KEEPALIVE_ALIVE &&
        ch->event <= SIPFLOW_KEEPALIVE_REBOUND);
  CHECK(ch->health <= SIPFLOW_HEALTH_DEAD);
  CHECK((ch->event == SIPFLOW_KEEPALIVE_REBOUND) == (ch->mapped != NULL));
  if (H.remove_in_callback && ch->event == SIPFLOW_KEEPALIVE_DEAD)
    sipflow_keepalive_remove(ka, flow, H.now);
}

static void h_removed(sipflow_keepalive *ka, sipflow_flow_id flow, int why,
                      void *ud, void *eud) {
  (void)ka;
  (void)ud;
  CHECK(why >= SIPFLOW_KEEPALIVE_REMOVED_ENDED &&
        why <= SIPFLOW_KEEPALIVE_REMOVED_HOST);
  CHECK((uintptr_t)eud == flow);
}

/* ---- operations
 * ----------------------------------------------------------------- */

static sipflow_keepalive_endpoint endpoint(sipflow_flow_id flow,
                                           uint8_t shape) {
  static const uint8_t transports[] = {1, 1, 1, 2, 3, 5};
  sipflow_keepalive_endpoint ep;
  sipflow_keepalive_endpoint_default(&ep);
  ep.flow_id = flow;
  /* The tuple follows from the flow so that a flow id keeps one tuple. */
  ep.tuple.transport = transports[flow % 6];
  ep.tuple.local.family = SIPFLOW_AF_INET;
  ep.tuple.local.bytes[0] = 10;
  ep.tuple.local.port = (uint16_t)(5060 + flow % 3);
  ep.tuple.remote.family = flow % 4 ? SIPFLOW_AF_INET : SIPFLOW_AF_INET6;
  ep.tuple.remote.bytes[0] = 192;
  ep.tuple.remote.bytes[3] = (uint8_t)flow;
  ep.tuple.remote.port = (uint16_t)(40000 + flow);
  ep.tuple.generation = ep.tuple.transport == 1 ? 0 : 1;
  ep.method = (uint8_t)(shape % 6);
  ep.interval = (sipflow_duration)(shape >> 3) * S / 4;
  ep.user_data = (void *)(uintptr_t)flow;
  return ep;
}

static sipflow_duration span(uint8_t b) {
  /* From a millisecond to days, weighted to the short end. */
  return ((sipflow_duration)(b & 31) + 1) << (20 + (b >> 5) * 3);
}

static void advance(sipflow_duration d) {
  H.now += d;
  CHECK(sipflow_ctx_handle_expiry(H.ctx, H.now) == 0);
  CHECK(sipflow_ctx_get_expiry(H.ctx) > H.now);
}

static void answer_stun(sipflow_flow_id flow, input *in) {
  uint8_t b[64];
  size_t len;
  sipflow_addr a;
  uint8_t how = byte(in);
  memset(&a, 0, sizeof(a));
  a.family = SIPFLOW_AF_INET;
  a.bytes[0] = 198;
  a.bytes[3] = (uint8_t)(how & 3); /* a few mappings: rebinding happens */
  a.port = 4000;
  if (how & 4)
    sipflow_stun_encode_error(b, sizeof(b), H.last_stun[flow] + 8, 500, NULL, 0,
                              0, &len);
  else
    sipflow_stun_encode_success(b, sizeof(b), H.last_stun[flow] + 8, &a,
                                how & 8, &len);
  if (how & 16)
    b[8 + (how >> 5)] ^= 1; /* forged id */
  sipflow_keepalive_on_stun(H.ka, how & 64 ? 0 : flow, b, len, H.now);
}

static void export_import(void) {
  sipflow_keepalive_callbacks cb = {h_send, NULL, NULL, NULL};
  sipflow_keepalive *k2;
  sipflow_keepalive_endpoint ep;
  sipflow_keepalive_saved_reason small[2], *rs = small;
  size_t cap = 2, n;
  uint64_t cur = 0;
  int rv;
  /* A second scheduler costs its wheel (280 KiB) to set up: twice per input
   * covers the copy path without making every execution about it. */
  if (H.copies++ >= 2 ||
      sipflow_keepalive_new(&k2, H.ctx, &cb, NULL, NULL) != 0)
    return;
  while ((rv = sipflow_keepalive_export_next(H.ka, &cur, &ep, rs, cap, &n, 1000,
                                             H.now)) != SIPFLOW_ERR_NOT_FOUND) {
    if (rv == SIPFLOW_ERR_BUFFER_TOO_SMALL) {
      /* As a host does: more room, same cursor. */
      CHECK(n > cap);
      if (rs != small)
        free(rs);
      rs = malloc(n * sizeof(*rs));
      CHECK(rs != NULL);
      cap = n;
      continue;
    }
    CHECK(rv == 0 && n >= 1 && n <= cap);
    rv = sipflow_keepalive_import(k2, &ep, rs, n, 1000, H.now);
    CHECK(rv == 0 || rv == SIPFLOW_ERR_NOMEM || rv == SIPFLOW_ERR_STALE);
  }
  if (rs != small)
    free(rs);
  sipflow_keepalive_del(k2);
}

static void one_op(input *in) {
  uint8_t op = byte(in);
  sipflow_flow_id flow = byte(in) % FLOWS + 1;
  int kind = byte(in) % 4 + 1;
  uint64_t id = byte(in) % 4;
  sipflow_keepalive_endpoint ep;
  static const unsigned codes[] = {100, 180, 200, 202, 401, 404,
                                   408, 486, 503, 600, 0,   700};
  switch (op % 16) {
  case 0:
    ep = endpoint(flow, byte(in));
    sipflow_keepalive_reason_set(H.ka, &ep, kind, id, span(byte(in)), H.now);
    break;
  case 1:
    ep = endpoint(flow, byte(in));
    sipflow_keepalive_reason_open(H.ka, &ep, kind, id, span(byte(in)), H.now);
    break;
  case 2:
    sipflow_keepalive_reason_confirm(H.ka, flow, kind, id, codes[byte(in) % 12],
                                     span(byte(in)), H.now);
    break;
  case 3:
    sipflow_keepalive_reason_end(H.ka, flow, kind, id, H.now);
    break;
  case 4:
    sipflow_keepalive_remove(H.ka, flow, H.now);
    break;
  case 5:
  case 6:
    advance(span(byte(in)));
    break;
  case 7: {
    sipflow_tstamp t = sipflow_ctx_get_expiry(H.ctx);
    if (t != SIPFLOW_TSTAMP_NONE && t > H.now)
      advance(t - H.now);
    break;
  }
  case 8:
    sipflow_keepalive_on_pong(H.ka, flow, H.now);
    break;
  case 9:
    answer_stun(flow, in);
    break;
  case 10:
    sipflow_keepalive_on_options_response(
        H.ka, H.last_id[flow] ^ (byte(in) & 1), codes[byte(in) % 12], H.now);
    break;
  case 11:
    sipflow_keepalive_on_peer_keepalive(H.ka, flow, H.now);
    break;
  case 12:
    sipflow_keepalive_flow_failed(H.ka, flow, H.now);
    break;
  case 13:
    export_import();
    break;
  case 14: {
    uint8_t raw[64];
    size_t n = byte(in) % sizeof(raw);
    for (size_t i = 0; i < n; i++)
      raw[i] = byte(in);
    sipflow_keepalive_on_stun(H.ka, flow, raw, n, H.now);
    break;
  }
  default: {
    uint8_t b = byte(in);
    H.send_fail = b & 1;
    H.remove_in_callback = (b >> 1) & 1;
    H.reenter = (b >> 2) & 1;
    break;
  }
  }
}

/* What must hold whatever happened. */
static void check_invariants(void) {
  sipflow_keepalive_counters c;
  uint64_t reasons = 0, seen = 0;
  CHECK(sipflow_keepalive_get_counters(H.ka, &c) == 0);
  CHECK(c.endpoints == sipflow_keepalive_count(H.ka));
  CHECK(c.probing <= c.endpoints);
  for (sipflow_flow_id f = 1; f <= FLOWS; f++) {
    sipflow_keepalive_stats st;
    if (sipflow_keepalive_get_stats(H.ka, f, &st) != 0)
      continue;
    seen++;
    reasons += st.reasons;
    CHECK(st.reasons >= 1);
    CHECK(st.health <= SIPFLOW_HEALTH_DEAD);
    CHECK(st.user_data == (void *)(uintptr_t)f);
    CHECK(st.min_rtt <= st.max_rtt);
    if (st.method != SIPFLOW_KEEPALIVE_PASSIVE &&
        st.method != SIPFLOW_KEEPALIVE_UDP_PING)
      CHECK((uint64_t)st.probes_answered + st.probe_in_flight <=
            st.probes_sent);
    else
      CHECK(!st.probe_in_flight);
    CHECK(!st.probe_in_flight || st.probing);
  }
  CHECK(seen == c.endpoints);
  CHECK(reasons == c.registrations + c.subscriptions + c.dialogs + c.others);
  CHECK(c.tentative <= reasons);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static alloc_state alloc;
  sipflow_mem mem = {&alloc, a_malloc, a_free, a_calloc, a_realloc};
  sipflow_ctx_callbacks ccb = {NULL, h_rand};
  sipflow_keepalive_callbacks cb = {h_send, NULL, h_state, h_removed};
  sipflow_keepalive_settings s;
  input in = {data, size};
  int steps = 0;
  memset(&H, 0, sizeof(H));
  memset(&alloc, 0, sizeof(alloc));
  H.seed = size;
  sipflow_keepalive_settings_default(&s);
  s.max_probes_per_second = byte(&in) & 1 ? 50 : 0;
  s.remove_dead = byte(&in) & 1;
  s.dead_after = byte(&in) % 4 + 1;
  if (sipflow_ctx_new(&H.ctx, &ccb, NULL, &mem, NULL) != 0)
    abort();
  H.now = 1000 * S;
  sipflow_ctx_handle_expiry(H.ctx, H.now);
  if (sipflow_keepalive_new(&H.ka, H.ctx, &cb, &s, NULL) != 0)
    abort();
  while (in.left && steps++ < 400) {
    /* Now and then the next allocations fail. */
    alloc.fail_in = (int)(u16(&in) % 64 == 0 ? byte(&in) % 4 + 1 : 0);
    one_op(&in);
    alloc.fail_in = 0;
    check_invariants();
  }
  sipflow_keepalive_del(H.ka);
  sipflow_ctx_del(H.ctx);
  CHECK(alloc.live == 0);
  return 0;
}
