/*
 * sipflow-proxy: limits per source address. TCP connections from one
 * address are counted, and REGISTERs from one address pass a token bucket.
 * Both live in fixed tables indexed by a keyed hash of the address (SipHash
 * from libsodium, key made at start-up): no allocation per source, no table
 * that a stranger can grow, and no collisions a stranger can aim at.
 * Addresses that share a slot share its count or bucket, which only ever
 * makes the limit stricter for them.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

#define SRC_SLOTS 8192u /* a power of two */
#define MILLI 1000u

typedef struct src_bucket {
  uint64_t at_ms;  /* loop time of the last refill */
  uint32_t tokens; /* thousandths of a REGISTER */
} src_bucket;

struct px_limits {
  uint8_t key[crypto_shorthash_KEYBYTES];
  uint32_t conns[SRC_SLOTS];
  src_bucket bucket[SRC_SLOTS];
};

int px_limits_init(px *p) {
  p->limits = calloc(1, sizeof(*p->limits));
  if (!p->limits)
    return -1;
  crypto_shorthash_keygen(p->limits->key);
  return 0;
}

void px_limits_free(px *p) {
  free(p->limits);
  p->limits = NULL;
}

/* The address without its port: a NAT's many ports are one source. */
static size_t slot_of(const px *p, const sipflow_addr *a) {
  uint8_t in[17], out[crypto_shorthash_BYTES];
  uint64_t h;
  in[0] = (uint8_t)a->family;
  memcpy(in + 1, a->bytes, 16);
  crypto_shorthash(out, in, sizeof(in), p->limits->key);
  memcpy(&h, out, sizeof(h));
  return (size_t)(h & (SRC_SLOTS - 1));
}

bool px_conn_admit(px *p, const sipflow_addr *remote) {
  uint32_t *n;
  if (!p->limits)
    return true;
  n = &p->limits->conns[slot_of(p, remote)];
  if (p->cfg.max_conns_per_source && *n >= p->cfg.max_conns_per_source)
    return false;
  (*n)++;
  return true;
}

void px_conn_release(px *p, const sipflow_addr *remote) {
  uint32_t *n;
  if (!p->limits)
    return;
  n = &p->limits->conns[slot_of(p, remote)];
  if (*n)
    (*n)--;
}

bool px_register_admit(px *p, const sipflow_addr *remote) {
  src_bucket *b;
  uint64_t now, cap, add;
  if (!p->limits || !p->cfg.register_rate || p->cfg.role == PX_ROLE_REGISTRAR)
    return true;
  b = &p->limits->bucket[slot_of(p, remote)];
  now = uv_now(p->loop);
  cap = (uint64_t)p->cfg.register_burst * MILLI;
  if (!b->at_ms) { /* first use: a full bucket */
    b->tokens = (uint32_t)(cap > UINT32_MAX ? UINT32_MAX : cap);
    b->at_ms = now ? now : 1; /* 0 means unused */
  }
  /* register_rate per second is register_rate thousandths per ms; a day
   * of quiet is as good as any longer one (and the product stays small). */
  add = now > b->at_ms ? now - b->at_ms : 0;
  if (add > 86400000)
    add = 86400000;
  add *= p->cfg.register_rate;
  if (add) {
    uint64_t t = b->tokens + add;
    b->tokens = (uint32_t)(t > cap ? cap : t > UINT32_MAX ? UINT32_MAX : t);
    b->at_ms = now;
  }
  if (b->tokens < MILLI)
    return false;
  b->tokens -= MILLI;
  return true;
}
