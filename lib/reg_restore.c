/*
 * Applying binding change records to a registrar: a restore after a
 * restart, or another node's changes. Uses the registrar's store primitives
 * (registrar_int.h) so that a restored binding keeps its exact expiry, Path
 * and flow, which a synthetic REGISTER could not (min_expires would clamp
 * the time left).
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <string.h>

#include "registrar_int.h"
#include "sipflow/changes.h"

#define MS_PER_S 1000u
#define NS_PER_MS (SIPFLOW_SECONDS / MS_PER_S)

static bool str_ok(sipflow_str s, uint32_t max, unsigned bad) {
  return s.len <= max && (s.len == 0 || s.ptr) &&
         sipflow__reg_none_of(s.ptr, s.len, bad);
}

static bool instance_ok(const sipflow_change_binding *r, uint32_t max) {
  const char *o;
  size_t olen;
  if (r->instance.len == 0)
    return !r->outbound;
  return r->instance.len <= max && r->instance.ptr &&
         sipflow__reg_instance_strip(r->instance.ptr, r->instance.len, &o,
                                     &olen) == 0 &&
         o == r->instance.ptr && olen == r->instance.len;
}

static bool path_ok(const sipflow_change_binding *r,
                    const sipflow_registrar_settings *set) {
  if (r->path.len == 0)
    return r->n_path == 0;
  /* Stored joined and wrapped: at least one '<'. */
  return r->n_path >= 1 && r->n_path <= set->max_path_entries &&
         str_ok(r->path, set->max_path_len, SIPFLOW__REG_CC_NOTXT) &&
         memchr(r->path.ptr, '<', r->path.len) != NULL;
}

/* Whether the record is a binding this registrar could have made. */
static bool record_ok(const sipflow_registrar *reg,
                      const sipflow_change_binding *r) {
  const sipflow_registrar_settings *set = &reg->set;
  if (r->uri.len == 0 || !str_ok(r->uri, set->max_uri_len, 0) ||
      !sipflow__reg_uri_valid(r->uri.ptr, r->uri.len))
    return false;
  if (r->call_id.len == 0 ||
      !str_ok(r->call_id, set->max_call_id_len, SIPFLOW__REG_CC_NOTOK))
    return false;
  if (r->outbound ? (r->reg_id == 0 || r->reg_id > INT32_MAX) : r->reg_id != 0)
    return false;
  if (r->q != SIPFLOW_REG_Q_NONE && (r->q < 0 || r->q > 1000))
    return false;
  if (r->flow.transport > SIPFLOW_TRANSPORT_WSS)
    return false;
  return instance_ok(r, set->max_instance_len) && path_ok(r, set) &&
         str_ok(r->params, set->max_params_len, SIPFLOW__REG_CC_NOTXT) &&
         str_ok(r->user_agent, set->max_user_agent_len, SIPFLOW__REG_CC_NOTXT);
}

/* The binding with the record's identity, the very same URI text first
 * (as a REGISTER finds it, reg_register.c). */
static sipflow__reg_binding *find(const sipflow__reg_aor *aor,
                                  const sipflow_change_binding *r) {
  sipflow__reg_binding *first = NULL;
  if (!aor)
    return NULL;
  SIPFLOW__REG_FOREACH(aor, b) {
    bool ob = (b->flags & SIPFLOW__REG_F_OUTBOUND) != 0;
    if (ob != (r->outbound != 0))
      continue;
    if (ob) {
      if (b->reg_id == r->reg_id &&
          sipflow__reg_instance_equal(sipflow__reg_b_inst(b), b->inst_len,
                                      r->instance.ptr, r->instance.len))
        return b;
      continue;
    }
    if (b->uri_len == r->uri.len &&
        memcmp(sipflow__reg_b_uri(b), r->uri.ptr, r->uri.len) == 0)
      return b;
    if (!first && sipflow__reg_uri_equal(sipflow__reg_b_uri(b), b->uri_len,
                                         r->uri.ptr, r->uri.len))
      first = b;
  }
  return first;
}

/* Wall-clock milliseconds of |b|'s last update, seen from |unix_seconds|.
 * Only whole seconds are known of the wall clock, so this is the earliest
 * it can have been: a record newer by less than a second still wins. */
static uint64_t updated_ms(const sipflow__reg_binding *b, uint64_t unix_seconds,
                           sipflow_tstamp now) {
  uint64_t ago = (now - b->updated_at) / NS_PER_MS;
  uint64_t wall = unix_seconds * MS_PER_S;
  return wall > ago + MS_PER_S ? wall - ago - MS_PER_S : 0;
}

static void content_of(const sipflow_change_binding *r,
                       sipflow__reg_content *ct, sipflow_str *path1) {
  memset(ct, 0, sizeof(*ct));
  ct->uri = r->uri;
  ct->inst = r->instance;
  ct->call_id = r->call_id;
  ct->ua = r->user_agent;
  ct->params = r->params;
  /* The joined Path is stored as it is: one wrapped value renders as
   * itself; n_path is set on the binding afterwards. */
  *path1 = r->path;
  ct->path = r->path.len ? path1 : NULL;
  ct->n_path = r->path.len ? 1 : 0;
  ct->path_len = r->path.len;
  ct->cseq = r->cseq;
  ct->reg_id = r->reg_id;
  ct->q = (int16_t)r->q;
  ct->flags = (uint8_t)((r->outbound ? SIPFLOW__REG_F_OUTBOUND : 0) |
                        (r->ob ? SIPFLOW__REG_F_OB : 0));
  ct->flow_id = r->flow_id;
  ct->tuple = &r->flow;
  ct->received = &r->received;
}

/* The ordering rules of changes.h: whether |c| wins over |b|. */
static bool wins(const sipflow_change *c, const sipflow__reg_binding *b,
                 uint64_t unix_seconds, sipflow_tstamp now) {
  const sipflow_change_binding *r = &c->u.binding;
  bool same_call =
      b->call_id_len == r->call_id.len &&
      memcmp(sipflow__reg_b_call_id(b), r->call_id.ptr, r->call_id.len) == 0;
  if (same_call && r->cseq != b->cseq)
    return r->cseq > b->cseq;
  if (same_call && c->op == SIPFLOW_CHANGE_PUT) {
    /* The same record again is no change at all. */
    sipflow__reg_content ct;
    sipflow_str p1;
    uint64_t exp_unix =
        unix_seconds +
        (b->expires_at > now
             ? (b->expires_at - now + SIPFLOW_SECONDS - 1) / SIPFLOW_SECONDS
             : 0);
    content_of(r, &ct, &p1);
    if (r->expires_unix == exp_unix && b->n_path == r->n_path &&
        b->flow_id == r->flow_id && sipflow__reg_content_same(b, &ct))
      return false;
  }
  return c->version > updated_ms(b, unix_seconds, now);
}

/* The local time |ms_ago| milliseconds before (or |s_ahead| seconds after)
 * |now|, saturating instead of wrapping. */
static sipflow_tstamp local_past(uint64_t ms_ago, sipflow_tstamp now) {
  return ms_ago >= now / NS_PER_MS ? 0 : now - ms_ago * NS_PER_MS;
}

static sipflow_tstamp local_future(uint64_t s_ahead, sipflow_tstamp now) {
  return s_ahead >= (UINT64_MAX - now) / SIPFLOW_SECONDS
             ? UINT64_MAX
             : now + s_ahead * SIPFLOW_SECONDS;
}

/* Add a new binding (the AoR too when it has none yet). */
static int add(sipflow_registrar *reg, sipflow__reg_aor *aor, size_t key_len,
               uint64_t hash, sipflow__reg_binding *fresh,
               sipflow_tstamp expires_at) {
  int rv;
  if ((aor && aor->n >= reg->set.max_contacts) ||
      (reg->set.max_bindings && reg->n_bindings >= reg->set.max_bindings))
    return SIPFLOW_ERR_LIMIT;
  rv = sipflow__reg_add(reg, aor, reg->aor_buf, key_len, hash, fresh,
                        expires_at);
  if (rv != 0)
    return rv;
  sipflow__reg_report(reg, SIPFLOW_REG_ADDED, fresh);
  return 0;
}

static int put(sipflow_registrar *reg, const sipflow_change *c,
               sipflow__reg_aor *aor, sipflow__reg_binding *old, size_t key_len,
               uint64_t hash, uint64_t unix_seconds, sipflow_tstamp now) {
  const sipflow_change_binding *r = &c->u.binding;
  sipflow__reg_content ct;
  sipflow_str p1;
  sipflow__reg_binding *fresh;
  sipflow_tstamp at = local_future(r->expires_unix - unix_seconds, now);
  uint64_t wall_ms = unix_seconds * MS_PER_S;
  int rv;
  content_of(r, &ct, &p1);
  if (!(fresh = sipflow__reg_binding_new(reg, &ct)))
    return SIPFLOW_ERR_NOMEM;
  fresh->n_path = (uint16_t)r->n_path;
  /* When the writer made the change, as far as this clock can tell. */
  fresh->updated_at =
      local_past(c->version < wall_ms ? wall_ms - c->version : 0, now);
  if (!old) {
    if ((rv = add(reg, aor, key_len, hash, fresh, at)) != 0)
      sipflow__free(&reg->ctx->mem, fresh);
    return rv;
  }
  /* Replacing cannot fail: a new flow needs its index slot first. */
  if (fresh->flow_id && sipflow__reg_index_reserve(&reg->flows, 1) != 0) {
    sipflow__free(&reg->ctx->mem, fresh);
    return SIPFLOW_ERR_NOMEM;
  }
  sipflow__reg_replace(reg, old, fresh, at);
  /* A newer record is a REGISTER taken elsewhere (another node, through
   * its own flow): a binding suspended here after its Path failed is
   * awake again (RFC 8599 §5.6.2), as after a REGISTER taken here. Both
   * flow ids are 0 then, so the replace kept the old health. */
  if (sipflow__reg_suspended(fresh))
    fresh->health = SIPFLOW_HEALTH_UNKNOWN;
  sipflow__reg_report_moved(reg, SIPFLOW_REG_UPDATED, fresh, old->flow_id);
  sipflow__reg_release(reg, old);
  return 0;
}

int sipflow_change_apply_binding(sipflow_registrar *reg,
                                 const sipflow_change *c, uint64_t unix_seconds,
                                 sipflow_tstamp now) {
  const sipflow_change_binding *r;
  sipflow__reg_aor *aor;
  sipflow__reg_binding *b;
  size_t key_len;
  uint64_t hash;
  int rv;
  if (!reg || !c || c->kind != SIPFLOW_CHANGE_BINDING ||
      (c->op != SIPFLOW_CHANGE_PUT && c->op != SIPFLOW_CHANGE_DEL))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if ((rv = sipflow__reg_enter(reg, now)) != 0)
    return rv;
  r = &c->u.binding;
  if (r->aor.len == 0 || r->aor.len > reg->set.max_aor_len || !r->aor.ptr ||
      !record_ok(reg, r) ||
      sipflow__reg_aor_canon(r->aor.ptr, r->aor.len, reg->aor_buf, &key_len) !=
          0)
    return SIPFLOW_ERR_MALFORMED;
  hash = sipflow__hash(reg->ctx, reg->aor_buf, key_len);
  aor = sipflow__reg_aor_find(reg, reg->aor_buf, key_len, hash,
                              SIPFLOW__REG_FIND_REGISTER);
  b = find(aor, r);
  if (b && !wins(c, b, unix_seconds, now))
    return SIPFLOW_ERR_STALE;
  if (c->op == SIPFLOW_CHANGE_DEL || r->expires_unix <= unix_seconds) {
    /* A PUT that has run out is the binding's end as well. */
    if (!b)
      return SIPFLOW_ERR_STALE;
    sipflow__reg_remove(reg, b, SIPFLOW_REG_REMOVED);
    return 0;
  }
  return put(reg, c, aor, b, key_len, hash, unix_seconds, now);
}
