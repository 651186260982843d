/*
 * The registrar object: settings, creation and teardown, linking bindings
 * into the store (AoR record, expiry heap, flow index) and out of it, and
 * expiry on the context's timer. AoR records are in reg_aor.c, the flow
 * index and flow reports in reg_flow.c, the tables under both in
 * reg_index.c.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <string.h>

#include "registrar_int.h"

void sipflow_registrar_settings_default_versioned(
    int settings_version, sipflow_registrar_settings *s) {
  (void)settings_version;
  if (!s)
    return;
  memset(s, 0, sizeof(*s));
  s->outbound = SIPFLOW_REG_OUTBOUND_SUPPORTED;
  s->min_expires = 60;
  s->max_expires = 86400;
  s->default_expires = 3600;
  s->reject_below_min = 1;
  s->max_contacts = 16;
  s->overflow = SIPFLOW_REG_OVERFLOW_REJECT;
  s->too_many_contacts_status = 403;
  s->dead_flow = SIPFLOW_REG_DEAD_FLOW_REMOVE;
  s->dead_flow_expires = 10;
  s->path_ob = SIPFLOW_REG_PATH_OB_BOTTOM;
  s->flow_order = SIPFLOW_REG_ORDER_LOWEST_REG_ID;
  s->max_aor_len = 256;
  s->max_uri_len = 512;
  s->max_instance_len = 128;
  s->max_call_id_len = 256;
  s->max_path_entries = 8;
  s->max_path_len = 2048;
  s->max_params_len = 512;
  s->max_user_agent_len = 128;
  s->max_contacts_per_request = 16;
}

void sipflow_reg_contact_default(sipflow_reg_contact *contact) {
  if (!contact)
    return;
  memset(contact, 0, sizeof(*contact));
  contact->q = SIPFLOW_REG_Q_NONE;
}

void sipflow_reg_request_default(sipflow_reg_request *req) {
  if (req)
    memset(req, 0, sizeof(*req));
}

/* The figure documented in registrar.h and docs/registrar.md. */
_Static_assert(sizeof(void *) != 8 || offsetof(sipflow__reg_binding, s) == 152,
               "binding layout changed: update the documented size");

/* String lengths are stored in 16 bits. */
static bool len_ok(uint32_t v) { return v >= 1 && v <= UINT16_MAX; }

static bool settings_valid(const sipflow_registrar_settings *s) {
  if ((unsigned)s->outbound > SIPFLOW_REG_OUTBOUND_REQUIRED ||
      (unsigned)s->overflow > SIPFLOW_REG_OVERFLOW_REPLACE_OLDEST ||
      (unsigned)s->dead_flow > SIPFLOW_REG_DEAD_FLOW_SHORTEN ||
      (unsigned)s->path_ob > SIPFLOW_REG_PATH_OB_ANY ||
      (unsigned)s->flow_order > SIPFLOW_REG_ORDER_MOST_RECENT)
    return false;
  if (s->max_expires == 0 || s->min_expires > s->max_expires)
    return false;
  if (s->max_contacts == 0 || s->max_contacts > 1024 ||
      s->max_contacts_per_request == 0 || s->max_contacts_per_request > 1024)
    return false;
  if (!len_ok(s->max_aor_len) || !len_ok(s->max_uri_len) ||
      !len_ok(s->max_instance_len) || !len_ok(s->max_call_id_len) ||
      !len_ok(s->max_path_len) || !len_ok(s->max_params_len) ||
      s->max_user_agent_len > UINT16_MAX || s->max_path_entries > 1024)
    return false;
  return s->too_many_contacts_status >= 400 &&
         s->too_many_contacts_status <= 599;
}

static sipflow_tstamp reg_get_expiry(const void *obj) {
  return sipflow__pq_expiry(&((const sipflow_registrar *)obj)->expiry);
}

static int reg_handle_expiry(void *obj, sipflow_tstamp now) {
  sipflow_registrar *reg = obj;
  if (reg->in_callback)
    return SIPFLOW_ERR_BAD_STATE;
  sipflow__reg_expire_due(reg, now);
  return 0;
}

static void free_all(sipflow_registrar *reg) {
  const sipflow_mem *mem = &reg->ctx->mem;
  /* The heap first: freeing it marks its entries, inside the bindings. */
  sipflow__pq_free(&reg->expiry);
  for (size_t i = 0; reg->aors.slots && i <= reg->aors.mask; i++) {
    sipflow__reg_aor *aor = sipflow__reg_index_at(&reg->aors, i)->obj;
    for (uint32_t k = 0; aor && k < aor->n; k++)
      sipflow__free(mem, aor->b[k]);
    sipflow__free(mem, aor);
  }
  sipflow__reg_index_free(&reg->aors);
  sipflow__reg_index_free(&reg->flows);
  sipflow__free(mem, reg->spare_plan);
  sipflow__free(mem, reg->aor_buf);
  sipflow__free(mem, reg->batch_keys);
  sipflow__free(mem, reg->cinfo);
  sipflow__free(mem, reg->views);
  sipflow__reg_gruu_free(reg);
}

int sipflow_registrar_new_versioned(
    sipflow_registrar **preg, sipflow_ctx *ctx, int callbacks_version,
    const sipflow_registrar_callbacks *callbacks, int settings_version,
    const sipflow_registrar_settings *settings, void *user_data) {
  sipflow_registrar *reg;
  const sipflow_mem *mem;

  if (!preg)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  *preg = NULL;
  if (!ctx ||
      (callbacks && callbacks_version != SIPFLOW_REGISTRAR_CALLBACKS_V1) ||
      (settings && settings_version != SIPFLOW_REGISTRAR_SETTINGS_V1))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (settings && !settings_valid(settings))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  mem = &ctx->mem;
  reg = sipflow__calloc(mem, 1, sizeof(*reg));
  if (!reg)
    return SIPFLOW_ERR_NOMEM;
  reg->ctx = ctx;
  reg->user_data = user_data;
  if (callbacks)
    reg->cb = *callbacks;
  if (settings)
    reg->set = *settings;
  else
    sipflow_registrar_settings_default(&reg->set);
  sipflow__reg_index_init(&reg->aors, mem, true);
  sipflow__reg_index_init(&reg->flows, mem, false);
  sipflow__pq_init(&reg->expiry, mem);
  reg->aor_buf = sipflow__malloc(mem, reg->set.max_aor_len);
  reg->cinfo = sipflow__calloc(mem, reg->set.max_contacts_per_request,
                               sizeof(*reg->cinfo));
  reg->views = sipflow__calloc(mem, reg->set.max_contacts, sizeof(*reg->views));
  if (!reg->aor_buf || !reg->cinfo || !reg->views) {
    free_all(reg);
    sipflow__free(mem, reg);
    return SIPFLOW_ERR_NOMEM;
  }
  reg->timer.get_expiry = reg_get_expiry;
  reg->timer.handle_expiry = reg_handle_expiry;
  reg->timer.obj = reg;
  sipflow__ctx_attach(ctx, &reg->timer);
  *preg = reg;
  return 0;
}

void sipflow_registrar_del(sipflow_registrar *reg) {
  if (!reg)
    return;
  sipflow__ctx_detach(&reg->timer);
  free_all(reg);
  sipflow__free(&reg->ctx->mem, reg);
}

size_t sipflow_registrar_binding_count(const sipflow_registrar *reg) {
  return reg ? reg->n_bindings : 0;
}

size_t sipflow_registrar_aor_count(const sipflow_registrar *reg) {
  return reg ? reg->aors.len : 0;
}

int sipflow_registrar_foreach(sipflow_registrar *reg, sipflow_tstamp now,
                              sipflow_reg_visit_cb visit, void *user_data) {
  int rv;
  if (!reg || !visit)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if ((rv = sipflow__reg_enter(reg, now)) != 0)
    return rv;
  reg->in_callback = 1;
  SIPFLOW__CB_ENTER(reg->ctx);
  for (size_t i = 0; reg->aors.slots && i <= reg->aors.mask && rv == 0; i++) {
    const sipflow__reg_aor *aor = sipflow__reg_index_at(&reg->aors, i)->obj;
    for (uint32_t k = 0; aor && k < aor->n && rv == 0; k++) {
      sipflow_reg_binding v;
      sipflow__reg_view(reg, aor->b[k], sipflow__reg_aor_key(aor), aor->len,
                        &v);
      rv = visit(&v, user_data);
    }
  }
  SIPFLOW__CB_LEAVE(reg->ctx);
  reg->in_callback = 0;
  return rv;
}

/* ---- linking ------------------------------------------------------------ */

void sipflow__reg_regroup(const sipflow__reg_aor *aor,
                          sipflow__reg_binding *b) {
  /* The other bindings use at most aor->n - 1 groups, so one of 1..aor->n
   * is free: a bitmap finds the smallest, for AoRs of up to 4095 bindings
   * (max_contacts is at most 1024); larger ones search. */
  enum { BITS = 4096 };
  uint64_t used[BITS / 64];
  uint32_t words = aor->n / 64 + 1 < BITS / 64 ? aor->n / 64 + 1 : BITS / 64;
  uint32_t g;
  if (b->inst_len == 0) {
    b->inst_group = 0;
    return;
  }
  for (uint32_t k = 0; k < aor->n; k++) {
    const sipflow__reg_binding *o = aor->b[k];
    if (o != b && o->inst_len &&
        sipflow__reg_instance_equal(sipflow__reg_b_inst(b), b->inst_len,
                                    sipflow__reg_b_inst(o), o->inst_len)) {
      b->inst_group = o->inst_group;
      return;
    }
  }
  memset(used, 0, words * sizeof(used[0]));
  for (uint32_t k = 0; k < aor->n; k++) {
    uint32_t v = aor->b[k]->inst_group;
    if (aor->b[k] != b && v < words * 64)
      used[v / 64] |= (uint64_t)1 << (v % 64);
  }
  for (g = 1; g < words * 64 && (used[g / 64] >> (g % 64) & 1); g++)
    ;
  for (uint32_t k = 0; g >= words * 64 && k < aor->n; k++)
    if (aor->b[k] != b && aor->b[k]->inst_group == g) {
      g++;
      k = (uint32_t)-1; /* start over with the next candidate */
    }
  b->inst_group = (uint16_t)g; /* g <= aor->n <= UINT16_MAX */
}

void sipflow__reg_link(sipflow_registrar *reg, sipflow__reg_aor *aor,
                       sipflow__reg_binding *b, sipflow_tstamp expires_at) {
  /* Appended: the 200 OK and target plans list bindings oldest first. The
   * caller made room. */
  b->aor = aor;
  aor->b[aor->n++] = b;
  sipflow__reg_regroup(aor, b);
  /* Reserved by the caller: cannot fail. */
  b->expires_at = expires_at;
  (void)sipflow__pq_set(&reg->expiry, &b->pq, expires_at);
  sipflow__reg_flow_add(reg, b);
  reg->n_bindings++;
}

void sipflow__reg_set_expiry(sipflow_registrar *reg, sipflow__reg_binding *b,
                             sipflow_tstamp at) {
  b->expires_at = at;
  if (at < b->pq.deadline)
    (void)sipflow__pq_set(&reg->expiry, &b->pq, at);
}

/* |b|'s index in its AoR's array: a scan of pointers only (max_contacts),
 * no other binding is read. */
static uint32_t index_of(const sipflow__reg_binding *b) {
  uint32_t k = 0;
  while (b->aor->b[k] != b)
    k++;
  return k;
}

void sipflow__reg_unlink(sipflow_registrar *reg, sipflow__reg_binding *b) {
  sipflow__reg_aor *aor = b->aor;
  uint32_t k = index_of(b);
  /* Shifted, not swapped with the last: the order is the age order. */
  memmove(aor->b + k, aor->b + k + 1, (aor->n - k - 1) * sizeof(aor->b[0]));
  aor->n--;
  sipflow__pq_remove(&reg->expiry, &b->pq);
  sipflow__reg_flow_del(reg, b);
  b->flags |= SIPFLOW__REG_F_UNLINKED;
  reg->n_bindings--;
}

void sipflow__reg_replace(sipflow_registrar *reg, sipflow__reg_binding *old,
                          sipflow__reg_binding *fresh,
                          sipflow_tstamp expires_at) {
  fresh->id = old->id;
  fresh->aor = old->aor;
  old->aor->b[index_of(old)] = fresh;
  sipflow__reg_regroup(fresh->aor, fresh);
  /* Removing first frees the heap slot the fresh binding then takes. */
  sipflow__pq_remove(&reg->expiry, &old->pq);
  fresh->expires_at = expires_at;
  (void)sipflow__pq_set(&reg->expiry, &fresh->pq, expires_at);
  sipflow__reg_flow_del(reg, old);
  sipflow__reg_flow_add(reg, fresh);
  if (fresh->flow_id == old->flow_id)
    fresh->health = old->health; /* same flow: what is known still holds */
  old->flags |= SIPFLOW__REG_F_UNLINKED;
}

void sipflow__reg_release(sipflow_registrar *reg, sipflow__reg_binding *b) {
  if (b->refs == 0)
    sipflow__free(&reg->ctx->mem, b);
}

void sipflow__reg_report(sipflow_registrar *reg, sipflow_reg_change change,
                         const sipflow__reg_binding *b) {
  sipflow__reg_report_moved(reg, change, b,
                            change == SIPFLOW_REG_ADDED ? 0 : b->flow_id);
}

void sipflow__reg_report_moved(sipflow_registrar *reg,
                               sipflow_reg_change change,
                               const sipflow__reg_binding *b,
                               sipflow_flow_id prev_flow) {
  sipflow_reg_binding v;
  if (!reg->cb.on_change)
    return;
  sipflow__reg_view(reg, b, sipflow__reg_aor_key(b->aor), b->aor->len, &v);
  v.prev_flow_id = prev_flow;
  reg->in_callback = 1;
  SIPFLOW__CB_ENTER(reg->ctx);
  reg->cb.on_change(reg, change, &v, reg->user_data);
  SIPFLOW__CB_LEAVE(reg->ctx);
  reg->in_callback = 0;
}

void sipflow__reg_remove(sipflow_registrar *reg, sipflow__reg_binding *b,
                         sipflow_reg_change why) {
  sipflow__reg_aor *aor = b->aor;
  sipflow__reg_unlink(reg, b);
  sipflow__reg_report(reg, why, b);
  sipflow__reg_release(reg, b);
  sipflow__reg_aor_gc(reg, aor);
}

void sipflow__reg_expire_due(sipflow_registrar *reg, sipflow_tstamp now) {
  sipflow__pq_entry *e;
  while ((e = sipflow__pq_top(&reg->expiry)) && e->deadline <= now) {
    sipflow__reg_binding *b =
        sipflow__container_of(e, sipflow__reg_binding, pq);
    if (b->expires_at > now) /* refreshed since it was queued */
      (void)sipflow__pq_set(&reg->expiry, e, b->expires_at);
    else
      sipflow__reg_remove(reg, b, SIPFLOW_REG_EXPIRED);
  }
}

int sipflow__reg_enter(sipflow_registrar *reg, sipflow_tstamp now) {
  if (reg->in_callback)
    return SIPFLOW_ERR_BAD_STATE;
  if (sipflow__ctx_update_time(reg->ctx, now) != 0)
    return SIPFLOW_ERR_TIME_BACKWARDS;
  sipflow__reg_expire_due(reg, now);
  return 0;
}
