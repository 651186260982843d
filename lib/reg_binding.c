/*
 * One binding's storage: a single allocation with its strings inline, the
 * comparisons that decide between refresh, in-place update and replacement,
 * and the view handed to the host.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <string.h>

#include "registrar_int.h"

/* A Path value without angle brackets is an addr-spec: stored wrapped, so
 * the joined vector is a valid Route value (RFC 3261 §20.34). */
static bool path_wrapped(const sipflow_str *e) {
  return e->len > 0 && memchr(e->ptr, '<', e->len) != NULL;
}

size_t sipflow__reg_path_joined_len(const sipflow_str *path, size_t n) {
  size_t len = n > 1 ? 2 * (n - 1) : 0;
  for (size_t i = 0; i < n; i++)
    len += path[i].len + (path_wrapped(&path[i]) ? 0 : 2);
  return len;
}

static const sipflow_flow_tuple no_tuple;
static const sipflow_addr no_addr;

static const sipflow_flow_tuple *ct_tuple(const sipflow__reg_content *ct) {
  return ct->tuple && ct->tuple->transport ? ct->tuple : &no_tuple;
}

static const sipflow_addr *ct_received(const sipflow__reg_content *ct) {
  return ct->received ? ct->received : &no_addr;
}

/* Where |ct|'s received address will be kept: 0 (none),
 * SIPFLOW__REG_F_RECV_FLOW or SIPFLOW__REG_F_RECV_OWN. */
static uint8_t recv_kind(const sipflow__reg_content *ct) {
  const sipflow_addr *r = ct_received(ct);
  const sipflow_flow_tuple *t = ct_tuple(ct);
  if (r->family == 0 && r->port == 0)
    return 0;
  if (t->transport && sipflow_addr_equal(r, &t->remote))
    return SIPFLOW__REG_F_RECV_FLOW;
  return SIPFLOW__REG_F_RECV_OWN;
}

static size_t strings_len(const sipflow__reg_binding *b) {
  return (size_t)b->uri_len + b->inst_len + b->call_id_len + b->path_len +
         b->ua_len + b->params_len;
}

/* The received address stored for |b|. */
static sipflow_addr b_received(const sipflow__reg_binding *b) {
  sipflow_addr a;
  if (b->flags & SIPFLOW__REG_F_RECV_FLOW)
    return b->tuple.remote;
  if (b->flags & SIPFLOW__REG_F_RECV_OWN) {
    memcpy(&a, b->s + strings_len(b), sizeof(a)); /* unaligned */
    return a;
  }
  return no_addr;
}

size_t sipflow__reg_content_size(const sipflow__reg_content *ct) {
  return ct->uri.len + ct->inst.len + ct->call_id.len + ct->path_len +
         ct->ua.len + ct->params.len +
         (recv_kind(ct) == SIPFLOW__REG_F_RECV_OWN ? sizeof(sipflow_addr) : 0);
}

static char *path_render(char *o, const sipflow__reg_content *ct) {
  for (size_t i = 0; i < ct->n_path; i++) {
    const sipflow_str *e = &ct->path[i];
    bool wrap = !path_wrapped(e);
    if (i > 0) {
      memcpy(o, ", ", 2);
      o += 2;
    }
    if (wrap)
      *o++ = '<';
    memcpy(o, e->ptr, e->len);
    o += e->len;
    if (wrap)
      *o++ = '>';
  }
  return o;
}

/* Whether the stored joined Path equals what |ct| would render. */
static bool path_same(const char *s, size_t len,
                      const sipflow__reg_content *ct) {
  const char *end = s + len;
  if (len != ct->path_len)
    return false;
  for (size_t i = 0; i < ct->n_path; i++) {
    const sipflow_str *e = &ct->path[i];
    bool wrap = !path_wrapped(e);
    if (i > 0) {
      if (end - s < 2 || memcmp(s, ", ", 2) != 0)
        return false;
      s += 2;
    }
    if (wrap && (s == end || *s++ != '<'))
      return false;
    if ((size_t)(end - s) < e->len || memcmp(s, e->ptr, e->len) != 0)
      return false;
    s += e->len;
    if (wrap && (s == end || *s++ != '>'))
      return false;
  }
  return s == end;
}

static bool str_same(const char *stored, size_t len, sipflow_str s) {
  return len == s.len && (len == 0 || memcmp(stored, s.ptr, len) == 0);
}

static bool tuple_same(const sipflow_flow_tuple *a,
                       const sipflow_flow_tuple *b) {
  if (a->transport != b->transport)
    return false;
  if (a->transport == 0)
    return true;
  return a->generation == b->generation &&
         sipflow_addr_equal(&a->local, &b->local) &&
         sipflow_addr_equal(&a->remote, &b->remote);
}

bool sipflow__reg_content_fits(const sipflow__reg_binding *b,
                               const sipflow__reg_content *ct) {
  bool own = (b->flags & SIPFLOW__REG_F_RECV_OWN) != 0;
  return b->uri_len == ct->uri.len && b->inst_len == ct->inst.len &&
         b->call_id_len == ct->call_id.len && b->path_len == ct->path_len &&
         b->ua_len == ct->ua.len && b->params_len == ct->params.len &&
         own == (recv_kind(ct) == SIPFLOW__REG_F_RECV_OWN);
}

bool sipflow__reg_content_same(const sipflow__reg_binding *b,
                               const sipflow__reg_content *ct) {
  const char *p = b->s;
  const uint8_t kinds = SIPFLOW__REG_F_OUTBOUND | SIPFLOW__REG_F_OB;
  if (!sipflow__reg_content_fits(b, ct) || b->reg_id != ct->reg_id ||
      b->q != ct->q || (b->flags & kinds) != ct->flags ||
      b->flow_id != ct->flow_id || !tuple_same(&b->tuple, ct_tuple(ct)))
    return false;
  /* A proxy in front that starts or stops pushing changes the binding. */
  if (((b->flags & SIPFLOW__REG_F_PUSH) != 0) !=
      (!ct->no_push && sipflow__reg_uri_is_push(ct->uri.ptr, ct->uri.len)))
    return false;
  {
    sipflow_addr r = b_received(b);
    if (!sipflow_addr_equal(&r, ct_received(ct)))
      return false;
  }
  if (!str_same(p, b->uri_len, ct->uri))
    return false;
  p += b->uri_len;
  if (!str_same(p, b->inst_len, ct->inst))
    return false;
  p += b->inst_len;
  if (!str_same(p, b->call_id_len, ct->call_id))
    return false;
  p += b->call_id_len;
  if (!path_same(p, b->path_len, ct))
    return false;
  p += b->path_len;
  if (!str_same(p, b->ua_len, ct->ua))
    return false;
  p += b->ua_len;
  return str_same(p, b->params_len, ct->params);
}

static char *put(char *o, sipflow_str s) {
  if (s.len)
    memcpy(o, s.ptr, s.len);
  return o + s.len;
}

void sipflow__reg_content_write(sipflow__reg_binding *b,
                                const sipflow__reg_content *ct) {
  const uint8_t kinds = SIPFLOW__REG_F_OUTBOUND | SIPFLOW__REG_F_OB |
                        SIPFLOW__REG_F_RECV_FLOW | SIPFLOW__REG_F_RECV_OWN |
                        SIPFLOW__REG_F_PUSH;
  uint8_t recv = recv_kind(ct);
  uint8_t push =
      !ct->no_push && sipflow__reg_uri_is_push(ct->uri.ptr, ct->uri.len)
          ? SIPFLOW__REG_F_PUSH
          : 0;
  char *o = b->s;
  /* Lengths are below 65536: the settings' limits are checked at creation
   * and every string against them before a binding is written. */
  b->uri_len = (uint16_t)ct->uri.len;
  b->inst_len = (uint16_t)ct->inst.len;
  b->call_id_len = (uint16_t)ct->call_id.len;
  b->path_len = (uint16_t)ct->path_len;
  b->ua_len = (uint16_t)ct->ua.len;
  b->params_len = (uint16_t)ct->params.len;
  b->n_path = (uint16_t)ct->n_path;
  o = put(o, ct->uri);
  o = put(o, ct->inst);
  o = put(o, ct->call_id);
  o = path_render(o, ct);
  o = put(o, ct->ua);
  o = put(o, ct->params);
  if (recv == SIPFLOW__REG_F_RECV_OWN)
    memcpy(o, ct_received(ct), sizeof(sipflow_addr));
  b->cseq = ct->cseq;
  b->reg_id = ct->reg_id;
  b->q = ct->q;
  b->flags = (uint8_t)((b->flags & ~kinds) | ct->flags | recv | push);
  b->tuple = *ct_tuple(ct);
}

sipflow__reg_binding *sipflow__reg_binding_new(sipflow_registrar *reg,
                                               const sipflow__reg_content *ct) {
  /* The strings start right after the fixed part, not after its padding. */
  size_t fixed = offsetof(sipflow__reg_binding, s);
  size_t size = fixed + sipflow__reg_content_size(ct);
  sipflow__reg_binding *b = sipflow__malloc(&reg->ctx->mem, size);
  if (!b)
    return NULL;
  memset(b, 0, fixed);
  sipflow__pq_entry_init(&b->pq);
  b->flow_id = ct->flow_id;
  sipflow__reg_content_write(b, ct);
  return b;
}

static sipflow_str view_str(const char *p, size_t len) {
  sipflow_str s;
  s.ptr = p;
  s.len = len;
  return s;
}

void sipflow__reg_view(const sipflow_registrar *reg,
                       const sipflow__reg_binding *b, const char *aor,
                       size_t aor_len, sipflow_reg_binding *v) {
  const char *p = b->s;
  sipflow_tstamp now = sipflow__ctx_now(reg->ctx);
  sipflow_tstamp at = b->expires_at;
  /* Every member is set below: no memset on this per-request path. */
  v->id = b->id;
  v->aor = view_str(aor, aor_len);
  v->uri = view_str(p, b->uri_len);
  p += b->uri_len;
  v->instance = view_str(p, b->inst_len);
  p += b->inst_len;
  v->call_id = view_str(p, b->call_id_len);
  p += b->call_id_len;
  v->path = view_str(p, b->path_len);
  p += b->path_len;
  v->user_agent = view_str(p, b->ua_len);
  p += b->ua_len;
  v->params = view_str(p, b->params_len);
  v->reg_id = b->reg_id;
  v->q = b->q;
  v->cseq = b->cseq;
  v->n_path = b->n_path;
  v->flow_id = b->flow_id;
  v->prev_flow_id = b->flow_id;
  v->flow = b->tuple;
  v->received = b_received(b);
  v->health = (sipflow_flow_health)b->health;
  v->outbound = (b->flags & SIPFLOW__REG_F_OUTBOUND) != 0;
  v->ob = (b->flags & SIPFLOW__REG_F_OB) != 0;
  v->expires_at = at;
  v->updated_at = b->updated_at;
  v->pub_gruu = view_str(NULL, 0);
  v->temp_gruu = view_str(NULL, 0);
  v->expires = 0;
  if (at != SIPFLOW_TSTAMP_NONE && at > now) {
    uint64_t secs = (at - now + SIPFLOW_SECONDS - 1) / SIPFLOW_SECONDS;
    v->expires = secs > UINT32_MAX ? UINT32_MAX : (uint32_t)secs;
  }
  sipflow__reg_push_view(b, v);
}
