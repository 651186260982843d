/*
 * libsipflow-redis: the formats it writes to Redis. A record's key is a
 * hash of its identity (a short key of fixed length whatever the AoR or
 * URI), its value the encoded record behind the writer's node id, and a
 * server-side script applies the ordering rules of changes.h, so that the
 * newest record of an identity is the one kept and published.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"

#define FRAME_MAGIC "SFR1"
#define FRAME_MAGIC_LEN 4

/* ---- identity -------------------------------------------------------------
 */

static void hash_bytes(crypto_generichash_state *h, const void *p, size_t n) {
  crypto_generichash_update(h, p, n);
}

/* Length first, so that ("ab","c") and ("a","bc") differ. */
static void hash_str(crypto_generichash_state *h, sipflow_str s) {
  uint8_t l[4] = {(uint8_t)(s.len >> 24), (uint8_t)(s.len >> 16),
                  (uint8_t)(s.len >> 8), (uint8_t)s.len};
  hash_bytes(h, l, sizeof(l));
  if (s.len)
    hash_bytes(h, s.ptr, s.len);
}

static void hash_u64(crypto_generichash_state *h, uint64_t v) {
  uint8_t b[8];
  for (int i = 0; i < 8; i++)
    b[i] = (uint8_t)(v >> (56 - 8 * i));
  hash_bytes(h, b, sizeof(b));
}

static void hash_addr(crypto_generichash_state *h, const sipflow_addr *a) {
  hash_u64(h, a->family);
  hash_bytes(h, a->bytes, sizeof(a->bytes));
  hash_u64(h, a->port);
}

/* The identities of changes.h: a binding is its AoR with (instance,
 * reg-id) or with its Contact URI; a reason is its flow tuple with (kind,
 * id). */
static void identity_hash(const sipflow_change *c, uint8_t out[16]) {
  crypto_generichash_state h;
  crypto_generichash_init(&h, NULL, 0, 16);
  if (c->kind == SIPFLOW_CHANGE_BINDING) {
    const sipflow_change_binding *b = &c->u.binding;
    hash_str(&h, b->aor);
    hash_u64(&h, b->outbound);
    if (b->outbound) {
      hash_str(&h, b->instance);
      hash_u64(&h, b->reg_id);
    } else {
      hash_str(&h, b->uri);
    }
  } else {
    const sipflow_change_endpoint *e = &c->u.endpoint;
    hash_u64(&h, e->ep.tuple.transport);
    hash_addr(&h, &e->ep.tuple.local);
    hash_addr(&h, &e->ep.tuple.remote);
    hash_u64(&h, e->reason.kind);
    hash_u64(&h, e->reason.id);
  }
  crypto_generichash_final(&h, out, 16);
}

int rs_key(const char *prefix, const sipflow_change *c, char *buf, size_t cap) {
  uint8_t id[16];
  char hex[33];
  int n;
  if (!prefix || !c || !buf)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  switch (c->kind) {
  case SIPFLOW_CHANGE_KEY:
    n = snprintf(buf, cap, "%s:k:%u", prefix, (unsigned)c->u.key.key_id);
    break;
  case SIPFLOW_CHANGE_BINDING:
  case SIPFLOW_CHANGE_ENDPOINT:
    identity_hash(c, id);
    sodium_bin2hex(hex, sizeof(hex), id, sizeof(id));
    n = snprintf(buf, cap, "%s:%c:%s", prefix,
                 c->kind == SIPFLOW_CHANGE_BINDING ? 'b' : 'e', hex);
    break;
  default:
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  }
  if (n < 0 || (size_t)n >= cap)
    return SIPFLOW_ERR_BUFFER_TOO_SMALL;
  return n;
}

/* ---- values -----------------------------------------------------------------
 */

uint8_t *rs_frame(const char *node, const sipflow_change *c, size_t *len) {
  size_t nl = strlen(node), need = 0, head = FRAME_MAGIC_LEN + 1 + nl;
  uint8_t *buf;
  if (nl == 0 || nl > SIPFLOW_REDIS_NODE_ID_MAX)
    return NULL;
  /* The size first: records are mostly far below the largest encoding. */
  if (sipflow_change_encode(c, NULL, 0, &need) != SIPFLOW_ERR_BUFFER_TOO_SMALL)
    return NULL;
  buf = malloc(head + need);
  if (!buf)
    return NULL;
  memcpy(buf, FRAME_MAGIC, FRAME_MAGIC_LEN);
  buf[FRAME_MAGIC_LEN] = (uint8_t)nl;
  memcpy(buf + FRAME_MAGIC_LEN + 1, node, nl);
  if (sipflow_change_encode(c, buf + head, need, &need) != 0) {
    free(buf);
    return NULL;
  }
  *len = head + need;
  return buf;
}

int rs_unframe(const uint8_t *buf, size_t len, const char **node,
               size_t *node_len, const uint8_t **rec, size_t *rec_len) {
  size_t nl;
  if (!buf || len < FRAME_MAGIC_LEN + 1 ||
      memcmp(buf, FRAME_MAGIC, FRAME_MAGIC_LEN) != 0)
    return SIPFLOW_ERR_MALFORMED;
  nl = buf[FRAME_MAGIC_LEN];
  if (nl == 0 || nl > SIPFLOW_REDIS_NODE_ID_MAX ||
      len < FRAME_MAGIC_LEN + 1 + nl)
    return SIPFLOW_ERR_MALFORMED;
  *node = (const char *)buf + FRAME_MAGIC_LEN + 1;
  *node_len = nl;
  *rec = buf + FRAME_MAGIC_LEN + 1 + nl;
  *rec_len = len - FRAME_MAGIC_LEN - 1 - nl;
  return 0;
}

uint64_t rs_expire_at(const sipflow_change *c) {
  switch (c->kind) {
  case SIPFLOW_CHANGE_BINDING:
    return c->u.binding.expires_unix;
  case SIPFLOW_CHANGE_ENDPOINT:
    return c->u.endpoint.reason.expires_unix;
  default:
    return 0; /* keys live until removed */
  }
}

int rs_unversion(const char *msg, size_t len, uint64_t *version,
                 const char **frame, size_t *frame_len) {
  uint64_t v = 0;
  size_t i = 0;
  for (; i < len && i < 20 && msg[i] >= '0' && msg[i] <= '9'; i++)
    v = v * 10 + (uint64_t)(msg[i] - '0');
  if (i == 0 || i >= len || msg[i] != ' ')
    return SIPFLOW_ERR_MALFORMED;
  *version = v;
  *frame = msg + i + 1;
  *frame_len = len - i - 1;
  return 0;
}

/*
 * KEYS[1] the identity's key. ARGV: 1 mode (0 new, 1 if mine, 2 restore),
 * 2 base version (restore), 3 value, 4 EXPIREAT seconds (0: none),
 * 5 channel, 6 op (1 PUT, 2 DEL), 7 tombstone seconds, 8 Call-ID, 9 CSeq,
 * 10 writer's node id.
 *
 * The version is Redis's: its clock in milliseconds, past the held one
 * (a logical clock on Redis's time), so no node's clock orders anything.
 * A write wins unless: the held record has the same Call-ID and a higher
 * CSeq (RFC 3261 §10.3 step 7); "if mine" and another node wrote the held
 * record; "restore" and a record as new as the base is held (one with the
 * base version is the same one: nothing to do, answered as a win; an older
 * one is what a failover to a replica that lagged left: replaced). A
 * restore keeps its base version and is not published (every node has
 * it).
 * Returns {1, version} or {0, held version, held value}.
 */
const char rs_script[] =
    "local h = redis.call('HMGET', KEYS[1], 'v', 'c', 's', 'n', 'r')\n"
    "local held = tonumber(h[1])\n"
    "local m = ARGV[1]\n"
    "if held then\n"
    "  if m == '2' then\n"
    "    if held == tonumber(ARGV[2]) then return {1, h[1]} end\n"
    "    if held > tonumber(ARGV[2]) then return {0, h[1], h[5]} end\n"
    "  end\n"
    "  if m == '1' and h[4] ~= ARGV[10] then return {0, h[1], h[5]} end\n"
    "  if h[2] == ARGV[8] and tonumber(h[3]) > tonumber(ARGV[9]) then\n"
    "    return {0, h[1], h[5]}\n"
    "  end\n"
    "end\n"
    "local v = tonumber(ARGV[2])\n"
    "if m ~= '2' or v == 0 then\n"
    "  local t = redis.call('TIME')\n"
    "  v = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "  if held and v <= held then v = held + 1 end\n"
    "end\n"
    "local vs = string.format('%.0f', v)\n"
    "redis.call('HSET', KEYS[1], 'v', vs, 'c', ARGV[8], 's', ARGV[9],"
    " 'n', ARGV[10], 'r', ARGV[3])\n"
    "if ARGV[6] == '2' then redis.call('EXPIRE', KEYS[1], ARGV[7])\n"
    "elseif ARGV[4] ~= '0' then redis.call('EXPIREAT', KEYS[1], ARGV[4])\n"
    "else redis.call('PERSIST', KEYS[1]) end\n"
    "if m ~= '2' then redis.call('PUBLISH', ARGV[5], vs .. ' ' .. ARGV[3]) "
    "end\n"
    "return {1, vs}\n";

/*
 * KEYS[1] the node hash. ARGV: 1 node id, 2 lifetime in ms. Sets this
 * node's deadline (Redis's clock plus the lifetime), forgets nodes dead
 * for an hour, and returns {seconds, microseconds, {node, deadline, ...}}.
 */
const char rs_beat_script[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('HSET', KEYS[1], ARGV[1],"
    " string.format('%.0f', now + tonumber(ARGV[2])))\n"
    "local all = redis.call('HGETALL', KEYS[1])\n"
    "for i = 1, #all, 2 do\n"
    "  if tonumber(all[i + 1]) < now - 3600000 then\n"
    "    redis.call('HDEL', KEYS[1], all[i])\n"
    "  end\n"
    "end\n"
    "return {t[1], t[2], all}\n";
