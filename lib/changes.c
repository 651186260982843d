/*
 * Change records: making them from registrar changes, and their binary
 * encoding (docs/changes.md). The encoding only carries records between the
 * core and a store or another node; the store itself is a database.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <string.h>

#include "sipflow/changes.h"
#include "sipflow_int.h"

/* "SFC" then the format: a record from something else fails at once. */
static const uint8_t MAGIC[3] = {'S', 'F', 'C'};
#define HEADER_LEN 14 /* magic, format, kind, op, version */

uint64_t sipflow_change_version_next(uint64_t *last, uint64_t unix_ms) {
  uint64_t v = unix_ms > *last ? unix_ms : *last + 1;
  *last = v;
  return v;
}

/* Seconds from |unix_seconds| to |at|, rounded up, as wall-clock time. */
static uint64_t wall_expiry(sipflow_tstamp at, uint64_t unix_seconds,
                            sipflow_tstamp now) {
  sipflow_tstamp left = at > now ? at - now : 0;
  return unix_seconds + (left + SIPFLOW_SECONDS - 1) / SIPFLOW_SECONDS;
}

int sipflow_change_from_binding(sipflow_change *out, sipflow_reg_change change,
                                const sipflow_reg_binding *b, uint64_t version,
                                uint64_t unix_seconds, sipflow_tstamp now) {
  sipflow_change_binding *r;
  if (!out || !b || change < SIPFLOW_REG_ADDED ||
      change > SIPFLOW_REG_FLOW_FAILED)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  memset(out, 0, sizeof(*out));
  out->kind = SIPFLOW_CHANGE_BINDING;
  out->op =
      change <= SIPFLOW_REG_UPDATED ? SIPFLOW_CHANGE_PUT : SIPFLOW_CHANGE_DEL;
  out->version = version;
  r = &out->u.binding;
  r->aor = b->aor;
  r->uri = b->uri;
  r->instance = b->instance;
  r->reg_id = b->reg_id;
  r->q = b->q;
  r->call_id = b->call_id;
  r->cseq = b->cseq;
  r->path = b->path;
  r->n_path = b->n_path;
  r->params = b->params;
  r->user_agent = b->user_agent;
  r->flow_id = b->flow_id;
  r->flow = b->flow;
  r->received = b->received;
  r->outbound = b->outbound ? 1 : 0;
  r->ob = b->ob ? 1 : 0;
  r->expires_unix = wall_expiry(b->expires_at, unix_seconds, now);
  return 0;
}

/* ---- writing ------------------------------------------------------------- */

/* A writer that counts what does not fit, so one pass gives the length. */
typedef struct wr {
  uint8_t *p;
  size_t cap, len;
} wr;

static void put(wr *w, const void *src, size_t n) {
  if (w->len + n <= w->cap)
    memcpy(w->p + w->len, src, n);
  w->len += n;
}

static void put_u8(wr *w, uint8_t v) { put(w, &v, 1); }

static void put_uint(wr *w, uint64_t v, unsigned bytes) {
  uint8_t b[8];
  for (unsigned i = 0; i < bytes; i++)
    b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
  put(w, b, bytes);
}

static int put_str(wr *w, sipflow_str s) {
  if (s.len > UINT16_MAX || (!s.ptr && s.len))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  put_uint(w, s.len, 2);
  if (s.len)
    put(w, s.ptr, s.len);
  return 0;
}

static size_t addr_len(uint8_t family) {
  return family == SIPFLOW_AF_INET ? 4 : family == SIPFLOW_AF_INET6 ? 16 : 0;
}

static void put_addr(wr *w, const sipflow_addr *a) {
  put_u8(w, a->family);
  put(w, a->bytes, addr_len(a->family));
  put_uint(w, a->port, 2);
}

static void put_tuple(wr *w, const sipflow_flow_tuple *t) {
  put_u8(w, t->transport);
  put_addr(w, &t->local);
  put_addr(w, &t->remote);
  put_uint(w, t->generation, 4);
}

static int put_binding(wr *w, const sipflow_change_binding *r) {
  const sipflow_str strs[] = {r->aor,  r->uri,    r->instance,  r->call_id,
                              r->path, r->params, r->user_agent};
  for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
    if (put_str(w, strs[i]) != 0)
      return SIPFLOW_ERR_INVALID_ARGUMENT;
  put_uint(w, r->reg_id, 4);
  put_uint(w, (uint32_t)r->q, 4);
  put_uint(w, r->cseq, 4);
  put_uint(w, r->n_path, 4);
  put_uint(w, r->flow_id, 8);
  put_tuple(w, &r->flow);
  put_addr(w, &r->received);
  put_u8(w, (uint8_t)((r->outbound ? 1 : 0) | (r->ob ? 2 : 0)));
  put_uint(w, r->expires_unix, 8);
  return 0;
}

static void put_endpoint(wr *w, const sipflow_change_endpoint *r) {
  put_uint(w, r->ep.flow_id, 8);
  put_tuple(w, &r->ep.tuple);
  put_u8(w, r->ep.method);
  put_uint(w, r->ep.interval, 8);
  put_u8(w, r->reason.kind);
  put_uint(w, r->reason.id, 8);
  put_uint(w, r->reason.expires_unix, 8);
}

static void put_key(wr *w, const sipflow_change_key *r) {
  put_u8(w, r->key_id);
  put_u8(w, r->current ? 1 : 0);
  put(w, r->key, sizeof(r->key));
}

int sipflow_change_encode(const sipflow_change *c, uint8_t *buf, size_t cap,
                          size_t *len) {
  wr w = {buf, buf ? cap : 0, 0};
  if (!c || (c->op != SIPFLOW_CHANGE_PUT && c->op != SIPFLOW_CHANGE_DEL))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  put(&w, MAGIC, sizeof(MAGIC));
  put_u8(&w, SIPFLOW_CHANGE_FORMAT);
  put_u8(&w, c->kind);
  put_u8(&w, c->op);
  put_uint(&w, c->version, 8);
  switch (c->kind) {
  case SIPFLOW_CHANGE_BINDING:
    if (put_binding(&w, &c->u.binding) != 0)
      return SIPFLOW_ERR_INVALID_ARGUMENT;
    break;
  case SIPFLOW_CHANGE_ENDPOINT:
    put_endpoint(&w, &c->u.endpoint);
    break;
  case SIPFLOW_CHANGE_KEY:
    put_key(&w, &c->u.key);
    break;
  default:
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  }
  if (len)
    *len = w.len;
  return w.len <= w.cap ? 0 : SIPFLOW_ERR_BUFFER_TOO_SMALL;
}

/* ---- reading ------------------------------------------------------------- */

/* A reader that turns every short read into a sticky failure, so the
 * decoders check once at the end instead of after every field. */
typedef struct rd {
  const uint8_t *p;
  size_t len, off;
  int bad;
} rd;

static const uint8_t *take(rd *r, size_t n) {
  const uint8_t *at;
  if (r->bad || r->len - r->off < n) {
    r->bad = 1;
    return NULL;
  }
  at = r->p + r->off;
  r->off += n;
  return at;
}

static uint64_t get_uint(rd *r, unsigned bytes) {
  const uint8_t *b = take(r, bytes);
  uint64_t v = 0;
  for (unsigned i = 0; b && i < bytes; i++)
    v = v << 8 | b[i];
  return v;
}

static uint8_t get_u8(rd *r) { return (uint8_t)get_uint(r, 1); }

static sipflow_str get_str(rd *r) {
  sipflow_str s;
  s.len = (size_t)get_uint(r, 2);
  s.ptr = (const char *)take(r, s.len);
  if (!s.ptr)
    s.len = 0;
  return s;
}

static void get_addr(rd *r, sipflow_addr *a) {
  const uint8_t *b;
  memset(a, 0, sizeof(*a));
  a->family = get_u8(r);
  if (a->family != SIPFLOW_AF_NONE && a->family != SIPFLOW_AF_INET &&
      a->family != SIPFLOW_AF_INET6)
    r->bad = 1;
  if ((b = take(r, addr_len(a->family))) != NULL)
    memcpy(a->bytes, b, addr_len(a->family));
  a->port = (uint16_t)get_uint(r, 2);
}

static void get_tuple(rd *r, sipflow_flow_tuple *t) {
  t->transport = get_u8(r);
  if (t->transport > SIPFLOW_TRANSPORT_WSS)
    r->bad = 1;
  get_addr(r, &t->local);
  get_addr(r, &t->remote);
  t->generation = (uint32_t)get_uint(r, 4);
}

static void get_binding(rd *r, sipflow_change_binding *b) {
  uint8_t flags;
  b->aor = get_str(r);
  b->uri = get_str(r);
  b->instance = get_str(r);
  b->call_id = get_str(r);
  b->path = get_str(r);
  b->params = get_str(r);
  b->user_agent = get_str(r);
  b->reg_id = (uint32_t)get_uint(r, 4);
  b->q = (int32_t)(uint32_t)get_uint(r, 4);
  b->cseq = (uint32_t)get_uint(r, 4);
  b->n_path = (uint32_t)get_uint(r, 4);
  b->flow_id = get_uint(r, 8);
  get_tuple(r, &b->flow);
  get_addr(r, &b->received);
  flags = get_u8(r);
  if (flags & ~3u)
    r->bad = 1;
  b->outbound = flags & 1;
  b->ob = (flags >> 1) & 1;
  b->expires_unix = get_uint(r, 8);
}

static void get_endpoint(rd *r, sipflow_change_endpoint *e) {
  e->ep.flow_id = get_uint(r, 8);
  get_tuple(r, &e->ep.tuple);
  e->ep.method = get_u8(r);
  e->ep.interval = get_uint(r, 8);
  e->ep.user_data = NULL;
  e->reason.kind = get_u8(r);
  if (e->reason.kind < SIPFLOW_KEEPALIVE_REGISTRATION ||
      e->reason.kind > SIPFLOW_KEEPALIVE_OTHER)
    r->bad = 1;
  e->reason.id = get_uint(r, 8);
  e->reason.expires_unix = get_uint(r, 8);
}

static void get_key(rd *r, sipflow_change_key *k) {
  const uint8_t *b;
  k->key_id = get_u8(r);
  k->current = get_u8(r);
  if (k->current > 1)
    r->bad = 1;
  if ((b = take(r, sizeof(k->key))) != NULL)
    memcpy(k->key, b, sizeof(k->key));
}

int sipflow_change_decode(const uint8_t *buf, size_t len, sipflow_change *out) {
  rd r = {buf, len, 0, 0};
  if (!out || (!buf && len))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  memset(out, 0, sizeof(*out));
  if (len < HEADER_LEN || memcmp(buf, MAGIC, sizeof(MAGIC)) != 0)
    return SIPFLOW_ERR_MALFORMED;
  if (buf[3] != SIPFLOW_CHANGE_FORMAT)
    return buf[3] > SIPFLOW_CHANGE_FORMAT ? SIPFLOW_ERR_UNSUPPORTED
                                          : SIPFLOW_ERR_MALFORMED;
  r.off = 4;
  out->kind = get_u8(&r);
  out->op = get_u8(&r);
  out->version = get_uint(&r, 8);
  if (out->op != SIPFLOW_CHANGE_PUT && out->op != SIPFLOW_CHANGE_DEL)
    return SIPFLOW_ERR_MALFORMED;
  switch (out->kind) {
  case SIPFLOW_CHANGE_BINDING:
    get_binding(&r, &out->u.binding);
    break;
  case SIPFLOW_CHANGE_ENDPOINT:
    get_endpoint(&r, &out->u.endpoint);
    break;
  case SIPFLOW_CHANGE_KEY:
    get_key(&r, &out->u.key);
    break;
  default:
    return SIPFLOW_ERR_MALFORMED;
  }
  if (r.bad || r.off != len) {
    memset(out, 0, sizeof(*out));
    return SIPFLOW_ERR_MALFORMED;
  }
  return 0;
}
