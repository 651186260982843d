/*
 * Keepalive scheduler internals shared between lib/keepalive.c and the
 * lib/ka_*.c files. Never installed.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_KEEPALIVE_INT_H
#define SIPFLOW_KEEPALIVE_INT_H

#include "sipflow/keepalive.h"
#include "sipflow/stun.h"
#include "sipflow_int.h"

/* "No index": free lists, empty links, absent extra reasons. */
#define SIPFLOW__KA_NONE UINT32_MAX

/* ---- chunked slab -------------------------------------------------------- */

/*
 * Fixed-size elements addressed by a 32-bit index, in chunks of 256 that
 * never move: pointers into the slab stay valid while it grows, growth never
 * copies a million endpoints, and the slack is at most one chunk (a doubling
 * array would waste up to half of its memory at the wrong size).
 */
#define SIPFLOW__KA_CHUNK_BITS 8
#define SIPFLOW__KA_CHUNK (1u << SIPFLOW__KA_CHUNK_BITS)

typedef struct sipflow__ka_slab {
  uint8_t **chunks;
  uint32_t nchunks, chunks_cap;
  uint32_t elem_size;
  uint32_t link_off;  /* where a free element keeps the next free index */
  uint32_t used;      /* elements ever handed out (high-water mark) */
  uint32_t free_head; /* SIPFLOW__KA_NONE when empty */
  uint32_t live;
  uint32_t max; /* most elements; indices stay below it */
} sipflow__ka_slab;

void sipflow__ka_slab_init(sipflow__ka_slab *s, uint32_t elem_size,
                           uint32_t link_off, uint32_t max);
void sipflow__ka_slab_free_all(sipflow__ka_slab *s, const sipflow_mem *mem);
/* A zeroed element. NOMEM when a chunk cannot be had, LIMIT at |max|. */
int sipflow__ka_slab_alloc(sipflow__ka_slab *s, const sipflow_mem *mem,
                           uint32_t *idx);
void sipflow__ka_slab_release(sipflow__ka_slab *s, uint32_t idx);
static inline void *sipflow__ka_slab_at(const sipflow__ka_slab *s,
                                        uint32_t idx) {
  return s->chunks[idx >> SIPFLOW__KA_CHUNK_BITS] +
         (size_t)(idx & (SIPFLOW__KA_CHUNK - 1)) * s->elem_size;
}
/* Bytes held, for the benchmark's bytes-per-endpoint figure. */
size_t sipflow__ka_slab_bytes(const sipflow__ka_slab *s);

/* ---- endpoints ------------------------------------------------------------
 */

/* ep->bits: method (0-2), health (3-4). */
#define SIPFLOW__KA_METHOD(e) ((e)->mh & 7u)
#define SIPFLOW__KA_HEALTH(e) (((e)->mh >> 3) & 3u)
/* ep->tk: transport (0-2), inline reason kind (3-5, 0 = none). */
#define SIPFLOW__KA_TRANSPORT(e) ((e)->tk & 7u)
#define SIPFLOW__KA_R0_KIND(e) (((e)->tk >> 3) & 7u)

/* ep->flags */
enum {
  SIPFLOW__KA_F_V6 = 1u << 0,           /* remote4 is a v6 pool index */
  SIPFLOW__KA_F_R0_TENTATIVE = 1u << 1, /* inline reason awaits its answer */
  SIPFLOW__KA_F_PROBING = 1u << 2,      /* a reason was confirmed */
  SIPFLOW__KA_F_IN_FLIGHT = 1u << 3,    /* a probe awaits its answer */
  SIPFLOW__KA_F_MAPPED = 1u << 4,       /* gen_or_mapped holds a mapping */
  SIPFLOW__KA_F_RTT = 1u << 5,          /* at least one RTT sample */
  SIPFLOW__KA_F_RURI = 1u << 6          /* has an OPTIONS Request-URI */
};

/* Where an endpoint's links are. */
enum {
  SIPFLOW__KA_LOC_NONE = 0,
  SIPFLOW__KA_LOC_WHEEL = 1, /* 1..4: wheel level 0..3 */
  SIPFLOW__KA_LOC_DUE = 5,
  SIPFLOW__KA_LOC_FIFO = 6
};

/* RTT figures, microseconds in 24 bits (16.7 s). */
enum {
  SIPFLOW__KA_RTT_LAST,
  SIPFLOW__KA_RTT_SRTT,
  SIPFLOW__KA_RTT_VAR,
  SIPFLOW__KA_RTT_MIN,
  SIPFLOW__KA_RTT_MAX,
  SIPFLOW__KA_RTT_N
};
#define SIPFLOW__KA_RTT_CAP 0xFFFFFFu

/*
 * One endpoint: 112 bytes on LP64. Every field earns its place against the
 * 128-byte budget (docs/keepalive.md): times that need nanoseconds are
 * 64-bit, the rest is packed. The tuple is stored compactly: the local
 * address interned (few distinct), the remote IPv4 address inline and an
 * IPv6 one in a side pool, and the generation only on streams (UDP flows
 * have none, RFC 5626 §3.4 / common.h), sharing its word with the keyed hash
 * of the last STUN mapped address, which only UDP endpoints have.
 */
typedef struct sipflow__ka_ep {
  sipflow_flow_id flow_id; /* 0: free slot */
  void *user_data;
  /* next probe, retransmission, timeout or passive deadline; NONE while not
   * probing */
  sipflow_tstamp probe_at;
  sipflow_tstamp sent_at;   /* first transmission of the latest probe */
  sipflow_tstamp answer_at; /* latest answer */
  uint64_t r0_id;           /* the inline (first) reason */
  sipflow_tstamp r0_expiry; /* NONE when there is no inline reason */
  uint32_t next, prev;      /* wheel/due/fifo links; next = free link */
  uint32_t n_sent;          /* PASSIVE: watch periods missed */
  uint32_t n_answered;
  uint32_t remote4;       /* IPv4 bytes, or the v6 pool index */
  uint32_t gen_or_mapped; /* streams: generation; UDP: mapped-address hash */
  uint32_t extras;        /* first extra reason, or NONE */
  uint16_t remote_port;
  uint16_t local;    /* interned local address */
  uint16_t interval; /* in 100 ms steps */
  uint8_t rtt[SIPFLOW__KA_RTT_N][3];
  uint8_t misses; /* consecutive, saturating */
  uint8_t mh;     /* method, health */
  uint8_t attempt;
  uint8_t tk; /* transport, inline reason kind */
  uint8_t flags;
  uint8_t loc;
} sipflow__ka_ep;

/* ---- extra reasons --------------------------------------------------------
 */

/* Reasons beyond the first: looked up by (flow, kind, id) in a map, expired
 * by a heap, and listed per endpoint so that removal finds them all. */
typedef struct sipflow__ka_reason {
  sipflow__map_entry link;
  sipflow__pq_entry timer;
  uint64_t id;
  uint32_t ep;
  uint32_t next, prev; /* the endpoint's list; next = free link */
  uint8_t kind;        /* 0: free */
  uint8_t tentative;
} sipflow__ka_reason;

/* ---- flow id index ------------------------------------------------------- */

/*
 * Open addressing with linear probing over 32-bit endpoint indices (stored
 * +1, 0 = empty), at most 3/4 full, deletion by backward shift. Not the
 * foundation's sipflow__map: its intrusive entry (16 bytes) plus bucket
 * (8 bytes) would take 24 of the 128 bytes an endpoint may cost; this costs
 * about 8 (the benchmark prints the total).
 */
typedef struct sipflow__ka_index {
  uint32_t *slots;
  uint32_t cap; /* power of two, or 0 */
  uint32_t len;
} sipflow__ka_index;

/* ---- local addresses ---------------------------------------------------- */

typedef struct sipflow__ka_local {
  sipflow__map_entry link;
  sipflow_addr addr;
  uint32_t refs;
  uint16_t idx;
} sipflow__ka_local;

typedef struct sipflow__ka_locals {
  sipflow__map map;
  sipflow__ka_local **by_idx;
  uint32_t cap;
  uint16_t *free_idx; /* stack of released indices */
  uint32_t nfree, used;
} sipflow__ka_locals;

/* ---- the timing wheel ------------------------------------------------------
 *
 * A hierarchical timing wheel (Varghese and Lauck) over ticks of 2^21 ns
 * (2.1 ms). Level 0 is a ring of 16384 one-tick slots (34 s ahead), so the
 * usual UDP intervals (up to 29 s) are placed once and never moved; level 1
 * holds 1024 slots of 34 s (9.8 hours), level 2 1024 slots of 9.8 hours (417
 * days), level 3 256 slots of 417 days. Each list is doubly linked through
 * 32-bit indices with sentinel nodes, so insertion and removal are O(1) and
 * never allocate. Each level-0 slot keeps the earliest deadline placed in it
 * (exact, or after removals a lower bound made exact when the slot is next
 * walked), and a bitmap finds the next busy one, so the expiry costs no scan
 * of entries. About 280 KiB per scheduler. Why not the foundation's binary
 * heap: at a million entries each re-queue walks ~20 levels through pointers
 * to cold entries; the benchmark measures both.
 */
#define SIPFLOW__KA_TICK_SHIFT 21
#define SIPFLOW__KA_LEVELS 4
#define SIPFLOW__KA_L0_BITS 14
#define SIPFLOW__KA_L0_SLOTS (1u << SIPFLOW__KA_L0_BITS)
/* Sentinels: every wheel slot (16384 + 1024 + 1024 + 256), then the due
 * list and the rate-cap FIFO. */
#define SIPFLOW__KA_WHEEL_SENT (SIPFLOW__KA_L0_SLOTS + 1024 + 1024 + 256)
#define SIPFLOW__KA_SENT_DUE SIPFLOW__KA_WHEEL_SENT
#define SIPFLOW__KA_SENT_FIFO (SIPFLOW__KA_SENT_DUE + 1)
#define SIPFLOW__KA_NSENT (SIPFLOW__KA_SENT_FIFO + 1)
/* Indices at or above this name sentinels, below it endpoints. */
#define SIPFLOW__KA_SENT_BASE 0xFFFF0000u
#define SIPFLOW__KA_MAX_ENDPOINTS (SIPFLOW__KA_SENT_BASE - 1u)

typedef struct sipflow__ka_link {
  uint32_t next, prev;
} sipflow__ka_link;

typedef struct sipflow__ka_wheel {
  uint64_t cur; /* current tick: everything before it has been processed */
  uint32_t count[SIPFLOW__KA_LEVELS];
  sipflow_tstamp expiry; /* cached earliest deadline (or a lower bound) */
  int dirty;
  /* level-0 slots that may be busy (set on insert, cleared when found
   * empty) */
  uint64_t busy[SIPFLOW__KA_L0_SLOTS / 64];
  /* earliest deadline placed in each level-0 slot, valid where busy */
  sipflow_tstamp l0_min[SIPFLOW__KA_L0_SLOTS];
  sipflow__ka_link sent[SIPFLOW__KA_NSENT];
} sipflow__ka_wheel;

/* ---- the scheduler ------------------------------------------------------- */

#define SIPFLOW__KA_RBUF 256

struct sipflow_keepalive {
  sipflow_ctx *ctx;
  const sipflow_mem *mem;
  sipflow_keepalive_callbacks cb;
  sipflow_keepalive_settings s;
  void *user_data;
  sipflow__timer_source src;
  uint8_t id_key[16]; /* keys STUN transaction ids and OPTIONS probe ids */

  sipflow__ka_slab eps;
  sipflow__ka_index index;
  sipflow__ka_slab reasons;
  sipflow__map reason_map;
  sipflow__pq reason_pq;
  sipflow__ka_locals locals;
  sipflow__ka_slab v6;

  /* rate cap: an allowance in nanoseconds-worth of probes */
  uint64_t rate_token_ns, rate_burst_ns, rate_allow_ns;
  sipflow_tstamp rate_last;

  uint8_t rbuf[SIPFLOW__KA_RBUF]; /* random bytes drawn in bulk */
  uint32_t rpos;

  uint32_t probing;
  sipflow_keepalive_counters counters;
  uint8_t probe_buf[SIPFLOW_KEEPALIVE_OPTIONS_MAX +
                    SIPFLOW_KEEPALIVE_MAX_REQUEST_URI];
  /* ka_endpoint.c: the endpoints' own OPTIONS Request-URIs, by slot (set
   * where SIPFLOW__KA_F_RURI is); grown on the first use of a slot */
  sipflow_str *ruri;
  uint32_t ruri_cap;
  /* ka_options.c: the local address of the last OPTIONS probe, formatted */
  sipflow_addr opt_local;
  char opt_local_text[48];
  uint8_t opt_local_len; /* 0: nothing kept yet */

  sipflow__ka_wheel wheel; /* last: 280 KiB of sentinels */
};

static inline sipflow__ka_ep *sipflow__ka_ep_at(const sipflow_keepalive *ka,
                                                uint32_t idx) {
  return (sipflow__ka_ep *)sipflow__ka_slab_at(&ka->eps, idx);
}
static inline sipflow__ka_reason *
sipflow__ka_reason_at(const sipflow_keepalive *ka, uint32_t idx) {
  return (sipflow__ka_reason *)sipflow__ka_slab_at(&ka->reasons, idx);
}

/* An endpoint's deadline in the wheel: its probe event or inline reason. */
static inline sipflow_tstamp sipflow__ka_deadline(const sipflow__ka_ep *e) {
  return e->probe_at < e->r0_expiry ? e->probe_at : e->r0_expiry;
}

/* ka_index.c */
void sipflow__ka_index_free(sipflow__ka_index *ix, const sipflow_mem *mem);
/* Room for one more entry; NOMEM leaves the index as it was. */
int sipflow__ka_index_reserve(sipflow_keepalive *ka);
uint32_t sipflow__ka_index_find(const sipflow_keepalive *ka,
                                sipflow_flow_id flow);
void sipflow__ka_index_insert(sipflow_keepalive *ka, sipflow_flow_id flow,
                              uint32_t idx);
void sipflow__ka_index_remove(sipflow_keepalive *ka, sipflow_flow_id flow);

/* ka_wheel.c */
void sipflow__ka_wheel_init(sipflow__ka_wheel *w, sipflow_tstamp now);
/* Queue endpoint |idx| by its deadline (unlinking it first if needed);
 * NONE leaves it unqueued. */
void sipflow__ka_schedule(sipflow_keepalive *ka, uint32_t idx);
void sipflow__ka_unlink(sipflow_keepalive *ka, uint32_t idx);
void sipflow__ka_fifo_push(sipflow_keepalive *ka, uint32_t idx);
uint32_t sipflow__ka_fifo_first(const sipflow_keepalive *ka);
/* Process every endpoint due at or before |now| with sipflow__ka_fire(). */
void sipflow__ka_wheel_run(sipflow_keepalive *ka, sipflow_tstamp now);
sipflow_tstamp sipflow__ka_wheel_expiry(sipflow_keepalive *ka);

/* ka_endpoint.c */
int sipflow__ka_check_endpoint(const sipflow_keepalive *ka,
                               const sipflow_keepalive_endpoint *ep,
                               uint8_t *method, uint16_t *interval);
int sipflow__ka_ep_create(sipflow_keepalive *ka,
                          const sipflow_keepalive_endpoint *ep, uint8_t method,
                          uint16_t interval, uint32_t *idx);
int sipflow__ka_tuple_matches(const sipflow_keepalive *ka,
                              const sipflow__ka_ep *e,
                              const sipflow_flow_tuple *t);
void sipflow__ka_tuple_get(const sipflow_keepalive *ka, const sipflow__ka_ep *e,
                           sipflow_flow_tuple *t);
/* Remove endpoint |idx| and its reasons, then tell the host (|why| 0: a
 * rollback the host never saw: no callback, not counted). */
void sipflow__ka_ep_remove(sipflow_keepalive *ka, uint32_t idx, int why);
/* An endpoint's own OPTIONS Request-URI. ruri_check: 0 or
 * SIPFLOW_ERR_INVALID_ARGUMENT. ruri_reserve: room for slot |idx| (0 or
 * SIPFLOW_ERR_NOMEM; nothing else changes). ruri_set: installs |copy| (|n|
 * bytes, owned from now on; NULL for none, which needs no room), freeing the
 * old one. ruri_get: length 0 when none. ruri_free: every copy and the
 * table. */
int sipflow__ka_ruri_check(sipflow_str s);
int sipflow__ka_ruri_reserve(sipflow_keepalive *ka, uint32_t idx);
void sipflow__ka_ruri_set(sipflow_keepalive *ka, uint32_t idx, char *copy,
                          size_t n);
sipflow_str sipflow__ka_ruri_get(const sipflow_keepalive *ka, uint32_t idx);
void sipflow__ka_ruri_free(sipflow_keepalive *ka);
void sipflow__ka_locals_free(sipflow__ka_locals *l, const sipflow_mem *mem);
sipflow__ka_ep *sipflow__ka_lookup(const sipflow_keepalive *ka,
                                   sipflow_flow_id flow, uint32_t *idx);
/* The endpoint still at |idx| after a callback, or NULL if it went away
 * (flow ids are never reused, so a slot taken by another is told apart). */
static inline sipflow__ka_ep *sipflow__ka_still(const sipflow_keepalive *ka,
                                                uint32_t idx,
                                                sipflow_flow_id flow) {
  sipflow__ka_ep *e;
  if (idx >= ka->eps.used)
    return NULL;
  e = sipflow__ka_ep_at(ka, idx);
  return e->flow_id == flow ? e : NULL;
}

/* ka_reasons.c */
int sipflow__ka_reason_put(sipflow_keepalive *ka,
                           const sipflow_keepalive_endpoint *ep, int kind,
                           uint64_t id, sipflow_duration lifetime,
                           int tentative, sipflow_tstamp now);
uint32_t sipflow__ka_reason_count(const sipflow_keepalive *ka,
                                  const sipflow__ka_ep *e);
void sipflow__ka_reasons_drop_all(sipflow_keepalive *ka, sipflow__ka_ep *e);
/* Drop extra reasons due at or before |now| (the heap's deadlines). */
void sipflow__ka_reasons_expire(sipflow_keepalive *ka, sipflow_tstamp now);
void sipflow__ka_count_reason(sipflow_keepalive *ka, int kind, int tentative,
                              int delta);
/* The inline reason of endpoint |idx| ran out: drop it (and the endpoint
 * with its last reason). */
void sipflow__ka_inline_expired(sipflow_keepalive *ka, uint32_t idx);
/* For export: the confirmed reasons of endpoint |idx|, the first |cap| into
 * |out| with wall-clock expiries; returns how many there are. */
size_t sipflow__ka_reasons_list(const sipflow_keepalive *ka, uint32_t idx,
                                sipflow_keepalive_saved_reason *out, size_t cap,
                                uint64_t unix_seconds, sipflow_tstamp now);

/* ka_probe.c */
/* Handle endpoint |idx| whose deadline has come. */
void sipflow__ka_fire(sipflow_keepalive *ka, uint32_t idx, sipflow_tstamp now);
/* Start probing: the first probe spread over the interval. */
void sipflow__ka_start(sipflow_keepalive *ka, sipflow__ka_ep *e,
                       sipflow_tstamp now);
/* Send probes held back by the rate cap as the allowance permits. */
void sipflow__ka_drain_fifo(sipflow_keepalive *ka, sipflow_tstamp now);
sipflow_tstamp sipflow__ka_fifo_ready(const sipflow_keepalive *ka,
                                      sipflow_tstamp now);
void sipflow__ka_answered(sipflow_keepalive *ka, uint32_t idx,
                          sipflow_tstamp now, int rtt_sample,
                          const sipflow_addr *mapped);
/* The same, with an RTT sample to |received|: when the answer arrived. */
void sipflow__ka_answered_at(sipflow_keepalive *ka, uint32_t idx,
                             sipflow_tstamp now, sipflow_tstamp received,
                             const sipflow_addr *mapped);
void sipflow__ka_missed(sipflow_keepalive *ka, uint32_t idx,
                        sipflow_tstamp now);
/* The probe in flight timed out or was answered with a failure: a miss, and
 * the next probe a jittered wait after the last send (at once if past). */
void sipflow__ka_failed(sipflow_keepalive *ka, uint32_t idx,
                        sipflow_tstamp now);
void sipflow__ka_set_health(sipflow_keepalive *ka, uint32_t idx, int event,
                            const sipflow_addr *mapped);
/* Keyed MACs behind transaction ids and probe ids. */
uint64_t sipflow__ka_probe_mac(const sipflow_keepalive *ka,
                               sipflow_flow_id flow, uint32_t seq, int kind);
uint64_t sipflow__ka_rand(sipflow_keepalive *ka);
/* Uniform-ish in [lo, hi] (modulo bias below 2^-20 for spans under 2^44). */
uint64_t sipflow__ka_rand_range(sipflow_keepalive *ka, uint64_t lo,
                                uint64_t hi);
sipflow_duration sipflow__ka_interval_ns(const sipflow__ka_ep *e);

/* ka_options.c */
/* The payload of endpoint |e|'s WebSocket Ping number |seq|. */
uint64_t sipflow__ka_ws_ping_id(const sipflow_keepalive *ka,
                                const sipflow__ka_ep *e, uint32_t seq);
/* The OPTIONS probe for tuple |t| into ka->probe_buf, as
 * sipflow_keepalive_options_build() with the defaults (and |ruri| as the
 * Request-URI when its length is not 0) would write it. */
int sipflow__ka_options_probe(sipflow_keepalive *ka,
                              const sipflow_flow_tuple *t, sipflow_str ruri,
                              uint64_t probe_id, size_t *len);

/* ka_rtt.c */
void sipflow__ka_rtt_sample(sipflow__ka_ep *e, sipflow_duration rtt);
uint32_t sipflow__ka_rtt_get(const sipflow__ka_ep *e, int which);
void sipflow__ka_rtt_reset(sipflow__ka_ep *e);

/* stun.c: CRC-32 for FINGERPRINT, shared with the responder. */
uint32_t sipflow__crc32(const uint8_t *data, size_t len);

#endif /* SIPFLOW_KEEPALIVE_INT_H */
