/*
 * libsipflow-redis: the newest version seen of each identity, so that a
 * node delivers records in Redis's order whatever order they reach it in
 * (channel, loads, answers to its own writes), and never lets a record
 * that arrived while its own write of the identity was unanswered undo
 * that write when Redis ordered the write after it.
 *
 * A chained hash table keyed by the identity's Redis key, grown by
 * doubling; about 150 bytes an identity.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return h;
}

static int grow(rs_seen_table *t) {
  size_t n = t->nbuckets ? t->nbuckets * 2 : 64;
  rs_seen **b = calloc(n, sizeof(*b));
  if (!b)
    return -1;
  for (size_t i = 0; i < t->nbuckets; i++) {
    rs_seen *e = t->buckets[i], *next;
    for (; e; e = next) {
      size_t j = fnv1a(e->key) & (n - 1);
      next = e->hh_next;
      e->hh_next = b[j];
      b[j] = e;
    }
  }
  free(t->buckets);
  t->buckets = b;
  t->nbuckets = n;
  return 0;
}

rs_seen *rs_seen_get(rs_seen_table *t, const char *key, int create) {
  size_t len = strlen(key), i;
  rs_seen *e;
  if (len >= RS_KEY_MAX)
    return NULL;
  if (t->nbuckets) {
    for (e = t->buckets[fnv1a(key) & (t->nbuckets - 1)]; e; e = e->hh_next)
      if (strcmp(e->key, key) == 0)
        return e;
  }
  if (!create)
    return NULL;
  if (t->n >= t->nbuckets && grow(t) != 0 && !t->nbuckets)
    return NULL;
  if (!(e = calloc(1, sizeof(*e))))
    return NULL;
  memcpy(e->key, key, len + 1);
  i = fnv1a(key) & (t->nbuckets - 1);
  e->hh_next = t->buckets[i];
  t->buckets[i] = e;
  t->n++;
  return e;
}

int rs_seen_offer(rs_seen *s, uint64_t version, const uint8_t *frame,
                  size_t len) {
  if (s->pending) {
    uint8_t *copy;
    if (version <= s->version || (s->held && version <= s->held_version))
      return RS_STALE;
    if (!(copy = malloc(len ? len : 1)))
      return RS_STALE;
    memcpy(copy, frame, len);
    free(s->held);
    s->held = copy;
    s->held_len = len;
    s->held_version = version;
    return RS_HELD;
  }
  if (version <= s->version)
    return RS_STALE;
  s->version = version;
  return RS_DELIVER;
}

void rs_seen_answered(rs_seen *s, int accepted, uint64_t version) {
  if (s->pending)
    s->pending--;
  if (accepted && version > s->version)
    s->version = version;
}

uint8_t *rs_seen_take_held(rs_seen *s, size_t *len, uint64_t *version) {
  uint8_t *h = s->held;
  if (s->pending || !h)
    return NULL;
  s->held = NULL;
  if (s->held_version <= s->version) {
    free(h);
    return NULL;
  }
  s->version = s->held_version;
  *len = s->held_len;
  *version = s->held_version;
  return h;
}

size_t rs_seen_sweep(rs_seen_table *t, uint64_t unix_s) {
  size_t gone = 0;
  for (size_t i = 0; i < t->nbuckets; i++) {
    rs_seen **pp = &t->buckets[i];
    while (*pp) {
      rs_seen *e = *pp;
      if (!e->pending && !e->held && e->until < unix_s) {
        *pp = e->hh_next;
        free(e);
        gone++;
      } else {
        pp = &e->hh_next;
      }
    }
  }
  t->n -= gone;
  return gone;
}

void rs_seen_clear(rs_seen_table *t) {
  for (size_t i = 0; i < t->nbuckets; i++) {
    rs_seen *e = t->buckets[i], *next;
    for (; e; e = next) {
      next = e->hh_next;
      free(e->held);
      free(e);
    }
  }
  free(t->buckets);
  memset(t, 0, sizeof(*t));
}
