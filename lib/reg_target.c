/*
 * Target plans for requests to an AoR (RFC 5626 §7, RFC 3261 §16.6-16.7):
 * q groups forked in parallel one after another, one flow per instance at a
 * time, the next flow of an instance only after 430 or 408, and the choice
 * of the response to forward.
 *
 * A plan holds a reference on each binding it lists, so a binding removed
 * while the plan lives stays readable (and is skipped) until the plan is
 * deleted.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <string.h>

#include "registrar_int.h"

/* E_PUSH: handed out as a push branch, waiting for the UA (RFC 8599). */
enum { E_IDLE, E_SENT, E_FINAL, E_PUSH };

typedef struct plan_entry {
  sipflow__reg_binding *b;
  int32_t q; /* its instance's q */
  uint32_t slot;
  uint8_t health; /* rank when the plan was made */
  uint8_t state;
} plan_entry;

/* One instance (or one Contact without an instance): its flows are the
 * entries first .. first+n-1, tried in order. */
typedef struct plan_slot {
  int32_t q; /* highest q of its flows; no q counts as 1000 */
  uint32_t first, n, cursor;
  uint32_t group;
} plan_slot;

struct sipflow_reg_plan {
  sipflow_registrar *reg;
  sipflow_reg_binding *views; /* per entry, filled when handed out */
  plan_entry *entries;
  sipflow_reg_branch *out; /* the current group's branches */
  plan_slot *slots;
  sipflow_reg_branch next;
  uint32_t n_entries, n_slots;
  uint32_t next_slot; /* first slot of the next group */
  uint32_t groups;    /* groups started */
  size_t pending;     /* branches sent without a final response */
  int finished;       /* a 2xx or 6xx came */
  int best;           /* best final response so far */
  size_t aor_len;
  char *aor;   /* copy: the AoR record may go while the plan lives */
  size_t size; /* of the block, for reuse as reg->spare_plan */
};

/* ---- choosing the response to forward ------------------------------------ */

static int rank(int s) {
  if (s >= 200 && s < 300)
    return 0;
  if (s >= 600 && s < 700)
    return 1;
  if (s >= 300 && s < 400)
    return 10;
  if (s >= 400 && s < 500) {
    if (s == 401 || s == 407 || s == 415 || s == 420 || s == 484)
      return 20; /* the informative ones, RFC 3261 §16.7 step 6 */
    return s == 430 ? 22 : 21;
  }
  if (s >= 500 && s < 600)
    return 30;
  return 100;
}

int sipflow_reg_response_pick(int best, int candidate) {
  if (best == 0)
    return candidate;
  if (candidate == 0)
    return best;
  return rank(candidate) < rank(best) ? candidate : best;
}

int sipflow_reg_response_upstream(int status) {
  if (status == 430)
    return 480;
  if (status == 503)
    return 500;
  return status;
}

/* ---- building a plan ----------------------------------------------------- */

static int32_t q_of(const sipflow__reg_binding *b) {
  return b->q == SIPFLOW_REG_Q_NONE ? 1000 : b->q;
}

/* Known healthy first, then unknown (no evidence against it), then
 * suspect; dead flows are skipped when handed out. */
static uint8_t health_rank(uint8_t h) {
  switch (h) {
  case SIPFLOW_HEALTH_ALIVE:
    return 0;
  case SIPFLOW_HEALTH_UNKNOWN:
    return 1;
  case SIPFLOW_HEALTH_SUSPECT:
    return 2;
  default:
    return 3;
  }
}

/* Flows of one instance share a slot; each Contact without an instance
 * has its own. Instances were compared by URN rules (RFC 5626 §4.1) when
 * the bindings were stored: equal ones share an instance group. */
static void assign_slots(sipflow_reg_plan *p) {
  uint32_t n_slots = 0;
  for (uint32_t i = 0; i < p->n_entries; i++) {
    const sipflow__reg_binding *b = p->entries[i].b;
    uint32_t slot = n_slots;
    for (uint32_t k = 0; k < i && b->inst_group; k++)
      if (p->entries[k].b->inst_group == b->inst_group) {
        slot = p->entries[k].slot;
        break;
      }
    if (slot == n_slots) {
      p->slots[n_slots].q = q_of(b);
      n_slots++;
    } else if (q_of(b) > p->slots[slot].q) {
      p->slots[slot].q = q_of(b);
    }
    p->entries[i].slot = slot;
  }
}

/* Lowest reg-id first; a flow without one after those with one. */
static bool lower_reg_id(const sipflow__reg_binding *a,
                         const sipflow__reg_binding *b) {
  uint64_t ra = a->reg_id ? a->reg_id : UINT64_MAX;
  uint64_t rb = b->reg_id ? b->reg_id : UINT64_MAX;
  return ra < rb;
}

/* Whether |x| goes before |y| within one instance, after health. */
static bool policy_before(const sipflow_registrar *reg,
                          const sipflow__reg_binding *x,
                          const sipflow__reg_binding *y) {
  bool recent = reg->set.flow_order == SIPFLOW_REG_ORDER_MOST_RECENT;
  if (recent && x->updated_at != y->updated_at)
    return x->updated_at > y->updated_at;
  if (x->reg_id != y->reg_id)
    return lower_reg_id(x, y);
  if (x->updated_at != y->updated_at)
    return x->updated_at > y->updated_at;
  return x->id < y->id;
}

/* Highest q first, then by slot, then health, then the flow order. */
static bool before(const sipflow_reg_plan *p, const plan_entry *a,
                   const plan_entry *b) {
  if (a->q != b->q)
    return a->q > b->q;
  if (a->slot != b->slot)
    return a->slot < b->slot;
  if (a->health != b->health)
    return a->health < b->health;
  return policy_before(p->reg, a->b, b->b);
}

/* Insertion sort: plans are small (at most max_contacts entries). */
static void sort_entries(sipflow_reg_plan *p) {
  for (uint32_t i = 1; i < p->n_entries; i++) {
    plan_entry e = p->entries[i];
    uint32_t k = i;
    while (k > 0 && before(p, &e, &p->entries[k - 1])) {
      p->entries[k] = p->entries[k - 1];
      k--;
    }
    p->entries[k] = e;
  }
}

/* After sorting, renumber slots in order and record each one's range. */
static void build_slots(sipflow_reg_plan *p) {
  plan_slot *s = NULL;
  uint32_t n = 0, prev = UINT32_MAX;
  for (uint32_t i = 0; i < p->n_entries; i++) {
    if (p->entries[i].slot != prev) {
      prev = p->entries[i].slot;
      s = &p->slots[n++];
      memset(s, 0, sizeof(*s));
      s->q = p->entries[i].q;
      s->first = i;
    }
    p->entries[i].slot = n - 1;
    s->n++;
  }
  p->n_slots = n;
}

static sipflow_reg_plan *plan_alloc(sipflow_registrar *reg, uint32_t n,
                                    size_t aor_len) {
  /* One block: plan, views, entries, branches (all 8-byte multiples), then
   * slots and the AoR. */
  size_t size = sizeof(sipflow_reg_plan) + n * sizeof(sipflow_reg_binding) +
                n * sizeof(plan_entry) + n * sizeof(sipflow_reg_branch) +
                n * sizeof(plan_slot) + aor_len;
  sipflow_reg_plan *p;
  char *c;
  if (reg->spare_plan && reg->spare_size >= size) {
    p = reg->spare_plan;
    size = reg->spare_size;
    reg->spare_plan = NULL;
  } else if (!(p = sipflow__malloc(&reg->ctx->mem, size))) {
    return NULL;
  }
  memset(p, 0, sizeof(*p));
  p->size = size;
  c = (char *)(p + 1);
  p->views = (sipflow_reg_binding *)(void *)c;
  c += n * sizeof(sipflow_reg_binding);
  p->entries = (plan_entry *)(void *)c;
  c += n * sizeof(plan_entry);
  p->out = (sipflow_reg_branch *)(void *)c;
  c += n * sizeof(sipflow_reg_branch);
  p->slots = (plan_slot *)(void *)c;
  c += n * sizeof(plan_slot);
  p->aor = c;
  p->reg = reg;
  p->n_entries = n;
  return p;
}

int sipflow__reg_plan_build(sipflow_registrar *reg, const sipflow__reg_aor *aor,
                            uint16_t group, sipflow_reg_plan **pplan) {
  uint32_t i, n = 0;
  for (i = 0; i < aor->n; i++)
    n += !group || aor->b[i]->inst_group == group;
  sipflow_reg_plan *p = plan_alloc(reg, n, aor->len);
  if (!p)
    return SIPFLOW_ERR_NOMEM;
  memcpy(p->aor, sipflow__reg_aor_key(aor), aor->len);
  p->aor_len = aor->len;
  n = 0;
  for (i = 0; i < aor->n; i++) {
    sipflow__reg_binding *b = aor->b[i];
    if (group && b->inst_group != group)
      continue;
    memset(&p->entries[n], 0, sizeof(p->entries[n]));
    p->entries[n].b = b;
    p->entries[n].health = health_rank(b->health);
    b->refs++;
    n++;
  }
  assign_slots(p);
  for (i = 0; i < p->n_entries; i++)
    p->entries[i].q = p->slots[p->entries[i].slot].q;
  sort_entries(p);
  build_slots(p);
  reg->live_plans++;
  *pplan = p;
  return 0;
}

static int build(sipflow_registrar *reg, const sipflow__reg_aor *aor,
                 sipflow_reg_plan **pplan) {
  return sipflow__reg_plan_build(reg, aor, 0, pplan);
}

/* The canonical AoR of |uri| into |out| (max_aor_len bytes). */
static int canon(const sipflow_registrar *reg, sipflow_str uri, char *out,
                 size_t *len) {
  if (!uri.ptr || uri.len == 0 || uri.len > reg->set.max_aor_len ||
      sipflow__reg_aor_canon(uri.ptr, uri.len, out, len) != 0)
    return SIPFLOW_ERR_MALFORMED;
  return 0;
}

int sipflow_registrar_lookup(sipflow_registrar *reg, sipflow_str uri,
                             sipflow_tstamp now, sipflow_reg_plan **pplan) {
  size_t len;
  uint64_t h;
  const sipflow__reg_aor *aor;
  int rv;
  if (pplan)
    *pplan = NULL;
  if (!reg || !pplan)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if ((rv = sipflow__reg_enter(reg, now)) != 0 ||
      (rv = canon(reg, uri, reg->aor_buf, &len)) != 0)
    return rv;
  h = sipflow__reg_hash_aor(reg, reg->aor_buf, len);
  aor = sipflow__reg_aor_find(reg, reg->aor_buf, len, h,
                              SIPFLOW__REG_FIND_LOOKUP);
  if (!aor)
    return SIPFLOW_ERR_NOT_FOUND;
  return build(reg, aor, pplan);
}

/* One round of a batched lookup: every canonical AoR and hash first, with
 * its table slot loading; then every record and its hinted bindings
 * loading; then the finds and plans, by which time most of it is there. */
static void lookup_round(sipflow_registrar *reg, const sipflow_str *uris,
                         size_t n, sipflow_reg_plan **plans, int *results) {
  uint64_t h[SIPFLOW__REG_BATCH_ROUND];
  size_t len[SIPFLOW__REG_BATCH_ROUND];
  size_t room = reg->set.max_aor_len;
  size_t i;
  for (i = 0; i < n; i++) {
    results[i] = canon(reg, uris[i], reg->batch_keys + i * room, &len[i]);
    if (results[i] != 0)
      continue;
    h[i] = sipflow__reg_hash_aor(reg, reg->batch_keys + i * room, len[i]);
    sipflow__reg_index_prefetch(&reg->aors, h[i]);
  }
  for (i = 0; i < n; i++)
    if (results[i] == 0)
      sipflow__reg_aor_preload(reg, h[i]);
  for (i = 0; i < n; i++) {
    const sipflow__reg_aor *aor;
    if (results[i] != 0)
      continue;
    aor = sipflow__reg_aor_find(reg, reg->batch_keys + i * room, len[i], h[i],
                                SIPFLOW__REG_FIND_PRELOADED);
    results[i] = aor ? build(reg, aor, &plans[i]) : SIPFLOW_ERR_NOT_FOUND;
  }
}

int sipflow_registrar_lookup_batch(sipflow_registrar *reg,
                                   const sipflow_str *uris, size_t n,
                                   sipflow_tstamp now, sipflow_reg_plan **plans,
                                   int *results) {
  const size_t round = SIPFLOW__REG_BATCH_ROUND;
  int rv;
  if (!reg || (n && (!uris || !plans || !results)))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  for (size_t i = 0; i < n; i++) {
    plans[i] = NULL;
    results[i] = SIPFLOW_ERR_NOT_FOUND;
  }
  if ((rv = sipflow__reg_enter(reg, now)) != 0)
    return rv;
  if (n && !reg->batch_keys &&
      !(reg->batch_keys =
            sipflow__malloc(&reg->ctx->mem, round * reg->set.max_aor_len)))
    return SIPFLOW_ERR_NOMEM;
  for (size_t base = 0; base < n; base += round)
    lookup_round(reg, uris + base, n - base < round ? n - base : round,
                 plans + base, results + base);
  return 0;
}

/* ---- walking a plan ------------------------------------------------------ */

/* A suspended binding is usable: its branch is a push (RFC 8599 §5.6.2). */
static bool usable(const sipflow__reg_binding *b) {
  return !(b->flags & SIPFLOW__REG_F_UNLINKED) &&
         (b->health != SIPFLOW_HEALTH_DEAD || sipflow__reg_suspended(b));
}

/* Hand entry |idx| out as a branch; a suspended binding's branch is a
 * push: the host is asked to push and holds the request. */
static void hand_out(sipflow_reg_plan *p, uint32_t idx, uint32_t group,
                     sipflow_reg_branch *br) {
  plan_entry *e = &p->entries[idx];
  bool push = sipflow__reg_suspended(e->b);
  e->state = push ? E_PUSH : E_SENT;
  sipflow__reg_view(p->reg, e->b, p->aor, p->aor_len, &p->views[idx]);
  br->id = idx;
  br->group = group;
  br->binding = &p->views[idx];
  br->push = push;
  if (push)
    sipflow__reg_push_call(p->reg, e->b, SIPFLOW_REG_PUSH_CALL);
}

/* The slot's next usable flow, marked sent, as a branch; NULL when the
 * instance has none left. Known-dead flows are passed over unsent. */
static bool take(sipflow_reg_plan *p, plan_slot *s, sipflow_reg_branch *br) {
  while (s->cursor < s->n) {
    uint32_t idx = s->first + s->cursor++;
    plan_entry *e = &p->entries[idx];
    if (!usable(e->b))
      continue;
    p->pending++;
    hand_out(p, idx, s->group, br);
    return true;
  }
  s->cursor = s->n;
  return false;
}

int sipflow_reg_plan_next_group(sipflow_reg_plan *plan,
                                const sipflow_reg_branch **branches,
                                size_t *n) {
  size_t count = 0;
  if (branches)
    *branches = NULL;
  if (n)
    *n = 0;
  if (!plan || !branches || !n)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (plan->pending || plan->reg->in_callback)
    return SIPFLOW_ERR_BAD_STATE;
  while (!plan->finished && count == 0 && plan->next_slot < plan->n_slots) {
    uint32_t s = plan->next_slot;
    int32_t q = plan->slots[s].q;
    for (; s < plan->n_slots && plan->slots[s].q == q; s++) {
      plan->slots[s].group = plan->groups;
      if (take(plan, &plan->slots[s], &plan->out[count]))
        count++;
    }
    plan->next_slot = s;
    if (count)
      plan->groups++;
  }
  *branches = count ? plan->out : NULL;
  *n = count;
  return 0;
}

int sipflow_reg_plan_report(sipflow_reg_plan *plan, uint32_t branch_id,
                            int status, sipflow_tstamp now,
                            const sipflow_reg_branch **next) {
  plan_entry *e;
  int rv;
  if (next)
    *next = NULL;
  if (!plan || status < 200 || status > 699 || branch_id >= plan->n_entries)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  e = &plan->entries[branch_id];
  if (e->state != E_SENT && e->state != E_PUSH)
    return SIPFLOW_ERR_BAD_STATE;
  if ((rv = sipflow__reg_enter(plan->reg, now)) != 0)
    return rv;
  plan->best = sipflow_reg_response_pick(plan->best, status);
  if (status / 100 == 2 || status / 100 == 6)
    plan->finished = 1; /* answered, or declined everywhere (§16.7) */
  /* RFC 8599 §5.6.2: the flow of a push-reachable binding failed: keep
   * the binding and wake its UA instead of dropping it. */
  if ((status == 430 || status == 408) && e->state == E_SENT &&
      !plan->finished && !(e->b->flags & SIPFLOW__REG_F_UNLINKED) &&
      sipflow__reg_push_suspend(plan->reg, e->b)) {
    hand_out(plan, branch_id, plan->slots[e->slot].group, &plan->next);
    *next = &plan->next;
    return 0;
  }
  e->state = E_FINAL;
  plan->pending--;
  /* RFC 5626 §7: 430 means the flow is gone: drop the binding. */
  if (status == 430 && !(e->b->flags & SIPFLOW__REG_F_UNLINKED))
    sipflow__reg_remove(plan->reg, e->b, SIPFLOW_REG_FLOW_FAILED);
  if ((status == 430 || status == 408) && !plan->finished &&
      take(plan, &plan->slots[e->slot], &plan->next))
    *next = &plan->next;
  else
    plan->slots[e->slot].cursor = plan->slots[e->slot].n; /* answered */
  return 0;
}

int sipflow_reg_plan_woken(sipflow_reg_plan *plan, uint32_t branch_id,
                           sipflow_tstamp now,
                           const sipflow_reg_branch **next) {
  sipflow_registrar *reg;
  plan_entry *e;
  sipflow__reg_aor *aor;
  sipflow__reg_binding *cur = NULL;
  int rv;
  if (next)
    *next = NULL;
  if (!plan || !next || branch_id >= plan->n_entries)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  reg = plan->reg;
  e = &plan->entries[branch_id];
  if (e->state == E_IDLE || e->state == E_SENT)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (e->state != E_PUSH)
    return SIPFLOW_ERR_BAD_STATE;
  if ((rv = sipflow__reg_enter(reg, now)) != 0)
    return rv;
  /* The REGISTER may have replaced the binding's storage (same id). */
  aor = sipflow__reg_aor_find(
      reg, plan->aor, plan->aor_len,
      sipflow__reg_hash_aor(reg, plan->aor, plan->aor_len),
      SIPFLOW__REG_FIND_REGISTER);
  if (aor)
    SIPFLOW__REG_FOREACH(aor, b) {
      if (b->id == e->b->id)
        cur = b;
    }
  if (!cur || sipflow__reg_suspended(cur) || cur->health == SIPFLOW_HEALTH_DEAD)
    return SIPFLOW_ERR_NOT_FOUND;
  if (cur != e->b) {
    sipflow__reg_binding *old = e->b;
    cur->refs++;
    e->b = cur;
    if (--old->refs == 0 && (old->flags & SIPFLOW__REG_F_UNLINKED))
      sipflow__free(&reg->ctx->mem, old);
  }
  hand_out(plan, branch_id, plan->slots[e->slot].group, &plan->next);
  *next = &plan->next;
  return 0;
}

size_t sipflow_reg_plan_pending(const sipflow_reg_plan *plan) {
  return plan ? plan->pending : 0;
}

int sipflow_reg_plan_final_status(const sipflow_reg_plan *plan) {
  if (!plan || plan->best == 0)
    return 480;
  return sipflow_reg_response_upstream(plan->best);
}

void sipflow_reg_plan_del(sipflow_reg_plan *plan) {
  sipflow_registrar *reg;
  if (!plan)
    return;
  reg = plan->reg;
  for (uint32_t i = 0; i < plan->n_entries; i++) {
    sipflow__reg_binding *b = plan->entries[i].b;
    if (--b->refs == 0 && (b->flags & SIPFLOW__REG_F_UNLINKED))
      sipflow__free(&reg->ctx->mem, b);
  }
  reg->live_plans--;
  if (reg->spare_plan && reg->spare_size >= plan->size) {
    sipflow__free(&reg->ctx->mem, plan);
    return;
  }
  sipflow__free(&reg->ctx->mem, reg->spare_plan);
  reg->spare_plan = plan;
  reg->spare_size = plan->size;
}
