/*
 * The flow table: slots in never-moving pages, a FIFO free list, and a
 * keyed hash index from tuple to slot. A flow id is (generation << 32) |
 * slot, so a token, an id and a slot all lead to the flow by array index.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <string.h>

#include "flow_int.h"
#include "flow_token_int.h"

#define PAGE_BITS 10
#define PAGE_SLOTS (1u << PAGE_BITS)
#define MAX_SLOTS (UINT32_MAX - PAGE_SLOTS)

/* 72 bytes: the index link, the host's handle, and the tuple unpacked. */
typedef struct flow_slot {
  sipflow__map_entry link; /* in the tuple index while live */
  uint64_t handle;
  uint32_t generation; /* of the current (or last) occupant */
  union {
    uint32_t next_free; /* free: next free slot number; 0 ends the list */
    uint32_t self;      /* live: this slot's own number, for O(1) ids */
  } u;
  uint8_t live;
  uint8_t transport;
  uint8_t family;
  uint8_t unused;
  uint16_t local_port, remote_port;
  uint8_t local[16], remote[16];
} flow_slot;

struct sipflow_flow_table {
  sipflow_ctx *ctx;
  const sipflow_keyring *kr;
  sipflow_flow_callbacks callbacks;
  sipflow_flow_settings settings;
  void *user_data;
  flow_slot **pages;
  uint32_t npages, pages_cap;
  uint32_t used;                 /* slots ever handed out: 1..used exist */
  uint32_t free_head, free_tail; /* oldest free first, to spread reuse */
  size_t live;
  sipflow__map index;
};

static const char *const end_names[] = {
    NULL, "closed", "reset", "keepalive-timeout", "icmp-error", "local-close"};

const char *sipflow_flow_end_reason_name(int reason) {
  if (reason < SIPFLOW_FLOW_END_CLOSED || reason > SIPFLOW_FLOW_END_LOCAL_CLOSE)
    return NULL;
  return end_names[reason];
}

void sipflow_flow_settings_default_versioned(int settings_version,
                                             sipflow_flow_settings *settings) {
  (void)settings_version;
  if (settings)
    memset(settings, 0, sizeof(*settings));
}

int sipflow_flow_table_new_versioned(sipflow_flow_table **pft, sipflow_ctx *ctx,
                                     const sipflow_keyring *kr,
                                     int callbacks_version,
                                     const sipflow_flow_callbacks *callbacks,
                                     int settings_version,
                                     const sipflow_flow_settings *settings,
                                     void *user_data) {
  sipflow_flow_table *ft;
  if (!pft)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  *pft = NULL;
  if (!ctx || !kr)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (callbacks && (callbacks_version < SIPFLOW_FLOW_CALLBACKS_V1 ||
                    callbacks_version > SIPFLOW_FLOW_CALLBACKS_VERSION))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (settings && (settings_version < SIPFLOW_FLOW_SETTINGS_V1 ||
                   settings_version > SIPFLOW_FLOW_SETTINGS_VERSION))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  ft = sipflow__calloc(&ctx->mem, 1, sizeof(*ft));
  if (!ft)
    return SIPFLOW_ERR_NOMEM;
  ft->ctx = ctx;
  ft->kr = kr;
  /* Version 1 is the only layout so far; later versions copy by size. */
  if (callbacks)
    ft->callbacks = *callbacks;
  if (settings)
    ft->settings = *settings;
  ft->user_data = user_data;
  sipflow__map_init(&ft->index, &ctx->mem);
  *pft = ft;
  return 0;
}

void sipflow_flow_table_del(sipflow_flow_table *ft) {
  if (!ft)
    return;
  sipflow__map_free(&ft->index);
  for (uint32_t i = 0; i < ft->npages; i++)
    sipflow__free(&ft->ctx->mem, ft->pages[i]);
  sipflow__free(&ft->ctx->mem, ft->pages);
  sipflow__free(&ft->ctx->mem, ft);
}

/* ---- slots and ids ------------------------------------------------------- */

static flow_slot *slot_at(const sipflow_flow_table *ft, uint32_t s) {
  return &ft->pages[(s - 1) >> PAGE_BITS][(s - 1) & (PAGE_SLOTS - 1)];
}

static sipflow_flow_id make_id(uint32_t s, uint32_t generation) {
  return (sipflow_flow_id)generation << 32 | s;
}

/* The live slot |s| holding |generation|, or NULL. */
static flow_slot *live_slot(const sipflow_flow_table *ft, uint32_t s,
                            uint32_t generation) {
  flow_slot *slot;
  if (s == 0 || s > ft->used)
    return NULL;
  slot = slot_at(ft, s);
  return slot->live && slot->generation == generation ? slot : NULL;
}

static flow_slot *slot_by_id(const sipflow_flow_table *ft, sipflow_flow_id id) {
  return live_slot(ft, (uint32_t)id, (uint32_t)(id >> 32));
}

static size_t addr_len(uint8_t family) {
  return family == SIPFLOW_AF_INET6 ? 16 : 4;
}

static void slot_tuple(const flow_slot *slot, sipflow_flow_tuple *t) {
  size_t alen = addr_len(slot->family);
  memset(t, 0, sizeof(*t));
  t->transport = slot->transport;
  t->local.family = t->remote.family = slot->family;
  memcpy(t->local.bytes, slot->local, alen);
  memcpy(t->remote.bytes, slot->remote, alen);
  t->local.port = slot->local_port;
  t->remote.port = slot->remote_port;
  t->generation = slot->generation;
}

static void slot_info(const flow_slot *slot, uint32_t s,
                      sipflow_flow_info *info) {
  info->id = make_id(s, slot->generation);
  info->handle = slot->handle;
  slot_tuple(slot, &info->tuple);
}

/* ---- the tuple index ----------------------------------------------------- */

static uint64_t tuple_hash(const sipflow_flow_table *ft,
                           const sipflow_flow_tuple *t) {
  uint8_t key[2 + 2 * 18] = {0};
  size_t alen = addr_len(t->local.family);
  key[0] = t->transport;
  key[1] = t->local.family;
  memcpy(key + 2, t->local.bytes, alen);
  memcpy(key + 18, &t->local.port, 2);
  memcpy(key + 20, t->remote.bytes, alen);
  memcpy(key + 36, &t->remote.port, 2);
  return sipflow__hash(ft->ctx, key, sizeof(key));
}

static bool slot_has_tuple(const flow_slot *slot, const sipflow_flow_tuple *t) {
  size_t alen = addr_len(t->local.family);
  return slot->transport == t->transport && slot->family == t->local.family &&
         slot->local_port == t->local.port &&
         slot->remote_port == t->remote.port &&
         memcmp(slot->local, t->local.bytes, alen) == 0 &&
         memcmp(slot->remote, t->remote.bytes, alen) == 0;
}

static flow_slot *find_tuple(const sipflow_flow_table *ft,
                             const sipflow_flow_tuple *t, uint64_t hash) {
  SIPFLOW__MAP_FOREACH(&ft->index, hash, e) {
    flow_slot *slot = sipflow__container_of(e, flow_slot, link);
    if (slot_has_tuple(slot, t))
      return slot;
  }
  return NULL;
}

/* ---- adding and ending --------------------------------------------------- */

static int add_page(sipflow_flow_table *ft) {
  flow_slot *page;
  if (ft->npages == ft->pages_cap) {
    uint32_t cap = ft->pages_cap ? ft->pages_cap * 2 : 16;
    flow_slot **pages =
        sipflow__realloc(&ft->ctx->mem, ft->pages, cap * sizeof(*pages));
    if (!pages)
      return SIPFLOW_ERR_NOMEM;
    ft->pages = pages;
    ft->pages_cap = cap;
  }
  page = sipflow__calloc(&ft->ctx->mem, PAGE_SLOTS, sizeof(*page));
  if (!page)
    return SIPFLOW_ERR_NOMEM;
  ft->pages[ft->npages++] = page;
  return 0;
}

/* The slot the next flow will take, without taking it yet. */
static int peek_free_slot(sipflow_flow_table *ft, uint32_t *s) {
  int rv;
  if (ft->free_head) {
    *s = ft->free_head;
    return 0;
  }
  if (ft->used >= MAX_SLOTS)
    return SIPFLOW_ERR_LIMIT;
  if (ft->used == ft->npages * PAGE_SLOTS && (rv = add_page(ft)) != 0)
    return rv;
  *s = ft->used + 1;
  return 0;
}

static void take_slot(sipflow_flow_table *ft, uint32_t s) {
  if (s == ft->free_head) {
    ft->free_head = slot_at(ft, s)->u.next_free;
    if (!ft->free_head)
      ft->free_tail = 0;
  } else {
    ft->used++;
  }
}

static void release_slot(sipflow_flow_table *ft, uint32_t s, flow_slot *slot) {
  sipflow__map_remove(&ft->index, &slot->link);
  slot->live = 0;
  ft->live--;
  /* A slot whose generation is spent is retired, never reused, so that no
   * flow id and no token can ever name two flows. */
  if (slot->generation == UINT32_MAX)
    return;
  slot->u.next_free = 0;
  if (ft->free_tail)
    slot_at(ft, ft->free_tail)->u.next_free = s;
  else
    ft->free_head = s;
  ft->free_tail = s;
}

static void fill_slot(flow_slot *slot, uint32_t s, const sipflow_flow_tuple *t,
                      uint64_t handle) {
  size_t alen = addr_len(t->local.family);
  slot->u.self = s;
  slot->handle = handle;
  slot->generation++;
  slot->live = 1;
  slot->transport = t->transport;
  slot->family = t->local.family;
  slot->local_port = t->local.port;
  slot->remote_port = t->remote.port;
  memset(slot->local, 0, sizeof(slot->local));
  memset(slot->remote, 0, sizeof(slot->remote));
  memcpy(slot->local, t->local.bytes, alen);
  memcpy(slot->remote, t->remote.bytes, alen);
}

int sipflow_flow_add(sipflow_flow_table *ft, const sipflow_flow_tuple *tuple,
                     uint64_t handle, sipflow_tstamp now, sipflow_flow_id *id) {
  flow_slot *slot;
  uint64_t hash;
  uint32_t s;
  int rv;

  if (!ft || !tuple || !id || !sipflow__token_tuple_valid(tuple))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if ((rv = sipflow__ctx_update_time(ft->ctx, now)) != 0)
    return rv;
  hash = tuple_hash(ft, tuple);
  if ((slot = find_tuple(ft, tuple, hash)) != NULL) {
    *id = make_id(slot->u.self, slot->generation);
    return SIPFLOW_ERR_EXISTS;
  }
  if (ft->settings.max_flows && ft->live >= ft->settings.max_flows)
    return SIPFLOW_ERR_LIMIT;
  if ((rv = peek_free_slot(ft, &s)) != 0)
    return rv;
  slot = slot_at(ft, s);
  if ((rv = sipflow__map_insert(&ft->index, &slot->link, hash)) != 0)
    return rv;
  take_slot(ft, s);
  fill_slot(slot, s, tuple, handle);
  ft->live++;
  *id = make_id(s, slot->generation);
  return 0;
}

int sipflow_flow_end(sipflow_flow_table *ft, sipflow_flow_id id, int reason,
                     sipflow_tstamp now) {
  sipflow_flow_info info;
  flow_slot *slot;
  int rv;

  if (!ft || !sipflow_flow_end_reason_name(reason))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if ((rv = sipflow__ctx_update_time(ft->ctx, now)) != 0)
    return rv;
  if (!(slot = slot_by_id(ft, id)))
    return SIPFLOW_ERR_NOT_FOUND;
  slot_info(slot, (uint32_t)id, &info);
  release_slot(ft, (uint32_t)id, slot);
  /* The flow is gone before the host hears of it, so a lookup of its token
   * from inside the callback already answers "stale". */
  if (ft->callbacks.on_flow_failed) {
    SIPFLOW__CB_ENTER(ft->ctx);
    ft->callbacks.on_flow_failed(ft, &info, reason, ft->user_data);
    SIPFLOW__CB_LEAVE(ft->ctx);
  }
  return 0;
}

/* ---- queries ------------------------------------------------------------- */

int sipflow_flow_token(const sipflow_flow_table *ft, sipflow_flow_id id,
                       char *buf, size_t buflen, size_t *token_len) {
  sipflow_flow_tuple t;
  flow_slot *slot;
  if (!ft || !buf)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (!(slot = slot_by_id(ft, id)))
    return SIPFLOW_ERR_NOT_FOUND;
  slot_tuple(slot, &t);
  return sipflow__token_mint(ft->kr, &t, (uint32_t)id, buf, buflen, token_len);
}

/* A token naming no slot: only a UDP flow is its tuple, so only UDP may be
 * matched to a registered flow by addresses (RFC 5626 §3.4). */
static int lookup_tableless(const sipflow_flow_table *ft,
                            const sipflow_token_info *ti,
                            sipflow_flow_info *info) {
  flow_slot *slot = NULL;
  memset(info, 0, sizeof(*info));
  info->tuple = ti->tuple;
  if (ti->tuple.transport == SIPFLOW_TRANSPORT_UDP)
    slot = find_tuple(ft, &ti->tuple, tuple_hash(ft, &ti->tuple));
  if (slot) {
    info->id = make_id(slot->u.self, slot->generation);
    info->handle = slot->handle;
  }
  return 0;
}

int sipflow_flow_lookup(const sipflow_flow_table *ft, const char *token,
                        size_t token_len, sipflow_flow_info *info) {
  sipflow_token_info ti;
  sipflow_flow_info scratch;
  flow_slot *slot;
  int rv;

  if (!ft)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if ((rv = sipflow_token_verify(ft->kr, token, token_len, &ti)) != 0)
    return rv;
  if (!info)
    info = &scratch;
  if (ti.slot == 0)
    return lookup_tableless(ft, &ti, info);
  slot = live_slot(ft, ti.slot, ti.tuple.generation);
  if (!slot || !slot_has_tuple(slot, &ti.tuple))
    return SIPFLOW_ERR_STALE;
  slot_info(slot, ti.slot, info);
  return 0;
}

int sipflow_flow_get(const sipflow_flow_table *ft, sipflow_flow_id id,
                     sipflow_flow_info *info) {
  flow_slot *slot;
  if (!ft || !info)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (!(slot = slot_by_id(ft, id)))
    return SIPFLOW_ERR_NOT_FOUND;
  slot_info(slot, (uint32_t)id, info);
  return 0;
}

int sipflow_flow_find(const sipflow_flow_table *ft,
                      const sipflow_flow_tuple *tuple, sipflow_flow_id *id) {
  flow_slot *slot;
  if (!ft || !tuple || !id || !sipflow__token_tuple_valid(tuple))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (!(slot = find_tuple(ft, tuple, tuple_hash(ft, tuple))))
    return SIPFLOW_ERR_NOT_FOUND;
  *id = make_id(slot->u.self, slot->generation);
  return 0;
}

int sipflow_flow_next(const sipflow_flow_table *ft, sipflow_flow_id after,
                      sipflow_flow_info *info) {
  if (!ft || !info)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  for (uint32_t s = (uint32_t)after + 1; s != 0 && s <= ft->used; s++) {
    const flow_slot *slot = slot_at(ft, s);
    if (slot->live) {
      slot_info(slot, s, info);
      return 0;
    }
  }
  return SIPFLOW_ERR_NOT_FOUND;
}

size_t sipflow_flow_count(const sipflow_flow_table *ft) {
  return ft ? ft->live : 0;
}

int sipflow_flow_tuple_same(const sipflow_flow_tuple *a,
                            const sipflow_flow_tuple *b) {
  if (!a || !b || a->transport != b->transport)
    return 0;
  return sipflow_addr_equal(&a->local, &b->local) &&
         sipflow_addr_equal(&a->remote, &b->remote);
}

int sipflow__flow_table_set_generation(sipflow_flow_table *ft, uint32_t s,
                                       uint32_t generation) {
  if (s == 0 || s > ft->used || slot_at(ft, s)->live)
    return SIPFLOW_ERR_NOT_FOUND;
  slot_at(ft, s)->generation = generation;
  return 0;
}
