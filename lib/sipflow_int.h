/*
 * libsipflow internals shared between the core's files. Never installed.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_INT_H
#define SIPFLOW_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sipflow/common.h"

#define sipflow__container_of(ptr, type, member)                               \
  ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#if defined(__GNUC__) || defined(__clang__)
#define SIPFLOW__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SIPFLOW__PRINTF(f, a)
#endif

/* For straight-line initialisation loops and test oracles: under a fuzzing
 * build each loop iteration would otherwise call into the coverage runtime,
 * which made creating a keepalive scheduler most of a fuzz execution's time. */
#if defined(__clang__) && __clang_major__ >= 13
#define SIPFLOW__NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define SIPFLOW__NO_COVERAGE
#endif

/* ---- allocation through a copied sipflow_mem ---------------------------- */

static inline void *sipflow__malloc(const sipflow_mem *mem, size_t size) {
  return mem->malloc(size, mem->user_data);
}
static inline void *sipflow__calloc(const sipflow_mem *mem, size_t n,
                                    size_t size) {
  return mem->calloc(n, size, mem->user_data);
}
static inline void *sipflow__realloc(const sipflow_mem *mem, void *ptr,
                                     size_t size) {
  return mem->realloc(ptr, size, mem->user_data);
}
static inline void sipflow__free(const sipflow_mem *mem, void *ptr) {
  mem->free(ptr, mem->user_data);
}
/* Copy |len| bytes into a fresh NUL-terminated allocation; NULL on failure. */
char *sipflow__strndup(const sipflow_mem *mem, const char *s, size_t len);

/* Checks that a caller's allocator has all four hooks. */
bool sipflow__mem_valid(const sipflow_mem *mem);

/* ---- the context --------------------------------------------------------- */

/*
 * An object on a context that has deadlines. The context's expiry is the
 * minimum of its sources' expiries; there are only a handful of sources per
 * context (one per module object), so a list is enough.
 */
typedef struct sipflow__timer_source {
  struct sipflow__timer_source *next, *prev;
  sipflow_tstamp (*get_expiry)(const void *obj);
  int (*handle_expiry)(void *obj, sipflow_tstamp now);
  void *obj;
} sipflow__timer_source;

struct sipflow_ctx {
  sipflow_mem mem;
  sipflow_ctx_callbacks callbacks;
  sipflow_ctx_settings settings;
  void *user_data;
  sipflow_tstamp last_now;       /* latest time seen; 0 before the first */
  sipflow__timer_source sources; /* list head (sentinel) */
  /* log rate limiting for network-input lines */
  sipflow_tstamp log_window_start;
  uint32_t log_window_count;
  uint64_t log_suppressed;
  /* callbacks of objects on this context now running (the re-entrancy
   * rule: sipflow_ctx_handle_expiry() is refused inside any of them) */
  uint32_t callback_depth;
};

/* Around every call of a host callback by an object on |ctx|. */
#define SIPFLOW__CB_ENTER(ctx) ((ctx)->callback_depth++)
#define SIPFLOW__CB_LEAVE(ctx) ((ctx)->callback_depth--)

void sipflow__ctx_attach(sipflow_ctx *ctx, sipflow__timer_source *src);
void sipflow__ctx_detach(sipflow__timer_source *src);

/*
 * Record |now| as the latest time; SIPFLOW_ERR_TIME_BACKWARDS if it is
 * earlier than one already seen. Every state-changing call checks this.
 */
int sipflow__ctx_update_time(sipflow_ctx *ctx, sipflow_tstamp now);
/* The latest time the context has seen. */
sipflow_tstamp sipflow__ctx_now(const sipflow_ctx *ctx);

void sipflow__log(sipflow_ctx *ctx, sipflow_log_level level, const char *fmt,
                  ...) SIPFLOW__PRINTF(3, 4);
/*
 * A log line caused by network input: at most log_rate_per_second such lines
 * a second; the rest are counted and summarised in the next window's first
 * line.
 */
void sipflow__log_net(sipflow_ctx *ctx, sipflow_tstamp now,
                      sipflow_log_level level, const char *fmt, ...)
    SIPFLOW__PRINTF(4, 5);

/* Random bytes from the host's callback, or zeros if it gave none. */
void sipflow__rand(sipflow_ctx *ctx, uint8_t *dest, size_t len);
/* Uniform integer in [lo, hi] (inclusive) from the rand callback. */
uint64_t sipflow__rand_range(sipflow_ctx *ctx, uint64_t lo, uint64_t hi);

/* SipHash-2-4 (libsodium) keyed with the context's hash_key. */
uint64_t sipflow__hash(const sipflow_ctx *ctx, const void *data, size_t len);

/* ---- binary min-heap of deadlines (intrusive) ---------------------------- */

typedef struct sipflow__pq_entry {
  sipflow_tstamp deadline;
  uint32_t index; /* position in the heap; SIPFLOW__PQ_NONE when not queued */
} sipflow__pq_entry;

#define SIPFLOW__PQ_NONE UINT32_MAX

typedef struct sipflow__pq {
  sipflow__pq_entry **items;
  uint32_t len, cap;
  const sipflow_mem *mem;
} sipflow__pq;

void sipflow__pq_init(sipflow__pq *pq, const sipflow_mem *mem);
void sipflow__pq_free(sipflow__pq *pq);
static inline void sipflow__pq_entry_init(sipflow__pq_entry *e) {
  e->deadline = SIPFLOW_TSTAMP_NONE;
  e->index = SIPFLOW__PQ_NONE;
}
static inline bool sipflow__pq_queued(const sipflow__pq_entry *e) {
  return e->index != SIPFLOW__PQ_NONE;
}
/* Queue |e| at |deadline|, or move it there if already queued. NOMEM only
 * when |e| was not queued and the heap could not grow. */
int sipflow__pq_set(sipflow__pq *pq, sipflow__pq_entry *e,
                    sipflow_tstamp deadline);
void sipflow__pq_remove(sipflow__pq *pq, sipflow__pq_entry *e);
/* Start loading the entry a push would first compare with (the parent
 * of the next free position): it lives in its owner, anywhere in memory,
 * and a caller that knows a push is coming can overlap that miss with
 * other work. Always inlined: GCC drops calls to a function made of
 * prefetches alone. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((always_inline))
#endif
static inline void
sipflow__pq_prefetch_parent(const sipflow__pq *pq) {
#if defined(__GNUC__) || defined(__clang__)
  if (pq->len)
    __builtin_prefetch(pq->items[(pq->len - 1) / 2]);
#else
  (void)pq;
#endif
}
static inline sipflow__pq_entry *sipflow__pq_top(const sipflow__pq *pq) {
  return pq->len ? pq->items[0] : NULL;
}
static inline sipflow_tstamp sipflow__pq_expiry(const sipflow__pq *pq) {
  return pq->len ? pq->items[0]->deadline : SIPFLOW_TSTAMP_NONE;
}
/* Reserve room for |n| more entries so later sets cannot fail. */
int sipflow__pq_reserve(sipflow__pq *pq, uint32_t n);

/* ---- hash map (intrusive, separate chaining) ----------------------------- */

typedef struct sipflow__map_entry {
  struct sipflow__map_entry *next;
  uint64_t hash;
} sipflow__map_entry;

typedef struct sipflow__map {
  sipflow__map_entry **buckets;
  size_t nbuckets; /* power of two, or 0 before the first insert */
  size_t len;
  const sipflow_mem *mem;
} sipflow__map;

void sipflow__map_init(sipflow__map *map, const sipflow_mem *mem);
void sipflow__map_free(sipflow__map *map); /* frees buckets, not entries */
/*
 * Insert |e| with |hash| (no duplicate check). Grows the table at load 1;
 * NOMEM only when the table is empty and cannot be created: a failed growth
 * is survivable and just leaves longer chains.
 */
int sipflow__map_insert(sipflow__map *map, sipflow__map_entry *e,
                        uint64_t hash);
void sipflow__map_remove(sipflow__map *map, sipflow__map_entry *e);
/* First entry in |hash|'s chain whose hash matches, and the next ones. */
sipflow__map_entry *sipflow__map_first(const sipflow__map *map, uint64_t hash);
sipflow__map_entry *sipflow__map_next(const sipflow__map_entry *e,
                                      uint64_t hash);

#define SIPFLOW__MAP_FOREACH(map, hash, var)                                   \
  for (sipflow__map_entry *var = sipflow__map_first((map), (hash)); var;       \
       var = sipflow__map_next(var, (hash)))

#endif /* SIPFLOW_INT_H */
