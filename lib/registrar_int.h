/*
 * Registrar internals shared between lib/registrar.c, reg_*.c. Never
 * installed.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_REGISTRAR_INT_H
#define SIPFLOW_REGISTRAR_INT_H

#include "sipflow/registrar.h"
#include "sipflow_int.h"

/* ---- byte classes (reg_uri.c) -------------------------------------------- */

/* One table lookup per byte instead of a chain of comparisons: the URI,
 * AoR, instance and Call-ID checks run on every REGISTER and lookup. */
enum {
  SIPFLOW__REG_CC_BAD = 1u << 0,   /* never unescaped in a URI or URN */
  SIPFLOW__REG_CC_PCT = 1u << 1,   /* '%' */
  SIPFLOW__REG_CC_HEX = 1u << 2,   /* 0-9 a-f A-F */
  SIPFLOW__REG_CC_HOST = 1u << 3,  /* alphanumeric, '-', '.', '_' */
  SIPFLOW__REG_CC_ALNUM = 1u << 4, /* 0-9 a-z A-Z */
  SIPFLOW__REG_CC_NOTOK = 1u << 5, /* not visible ASCII (Call-ID words) */
  SIPFLOW__REG_CC_NOTXT = 1u << 6  /* a control but HTAB (header text) */
};
extern const uint8_t sipflow__reg_cc[256];

static inline unsigned sipflow__reg_class(char c) {
  return sipflow__reg_cc[(unsigned char)c];
}

/* Whether every byte may appear in a URI or URN and every '%' starts an
 * escape of two hex digits. */
static inline bool sipflow__reg_bytes_ok(const char *s, const char *end) {
  const unsigned stop = SIPFLOW__REG_CC_BAD | SIPFLOW__REG_CC_PCT;
  /* Escapes are rare: test eight bytes at once and look closer only from a
   * block that has something to look at. */
  for (; end - s >= 8; s += 8)
    if ((sipflow__reg_class(s[0]) | sipflow__reg_class(s[1]) |
         sipflow__reg_class(s[2]) | sipflow__reg_class(s[3]) |
         sipflow__reg_class(s[4]) | sipflow__reg_class(s[5]) |
         sipflow__reg_class(s[6]) | sipflow__reg_class(s[7])) &
        stop)
      break;
  for (; s < end; s++) {
    unsigned k = sipflow__reg_class(*s);
    if (!(k & stop))
      continue;
    if ((k & SIPFLOW__REG_CC_BAD) || end - s < 3 ||
        !(sipflow__reg_class(s[1]) & sipflow__reg_class(s[2]) &
          SIPFLOW__REG_CC_HEX))
      return false;
  }
  return true;
}

/* Whether no byte of |s| has any of the classes in |mask|. */
static inline bool sipflow__reg_none_of(const char *s, size_t len,
                                        unsigned mask) {
  unsigned k = 0;
  for (size_t i = 0; i < len; i++)
    k |= sipflow__reg_class(s[i]);
  return (k & mask) == 0;
}

/* ---- URIs (reg_uri.c): RFC 3261 §19.1.4 equality, §10.3 AoR form ------- */

/* The parts of a SIP or SIPS URI, pointing into the parsed text. */
typedef struct sipflow__reg_uri {
  int sips;
  const char *user; /* userinfo before '@' (user[:password]); NULL if none */
  size_t user_len;
  const char *host; /* as written, brackets included for IPv6 */
  size_t host_len;
  int has_port;
  uint16_t port;
  const char *params; /* after the first ';', up to '?'; NULL if none */
  size_t params_len;
  const char *headers; /* after '?'; NULL if none */
  size_t headers_len;
} sipflow__reg_uri;

/* Parse a SIP or SIPS URI: 0 or SIPFLOW_ERR_MALFORMED. */
int sipflow__reg_uri_parse(const char *s, size_t len, sipflow__reg_uri *u);
/* Whether |s| is a URI we can store as a Contact: a well-formed SIP or SIPS
 * URI, or scheme ":" and printable bytes for other schemes. */
bool sipflow__reg_uri_valid(const char *s, size_t len);
/* RFC 3261 §19.1.4 equality for SIP and SIPS URIs; other schemes compare
 * byte for byte after a case-insensitive scheme. */
bool sipflow__reg_uri_equal(const char *a, size_t alen, const char *b,
                            size_t blen);
/* The canonical AoR of a SIP or SIPS URI (RFC 3261 §10.3 step 5) into |out|,
 * which has room for |len| bytes (the result is never longer).
 * 0 or SIPFLOW_ERR_MALFORMED. */
int sipflow__reg_aor_canon(const char *s, size_t len, char *out,
                           size_t *out_len);
/* Whether a Path value's URI (inside <> when present) has an "ob"
 * parameter. */
bool sipflow__reg_path_has_ob(const char *s, size_t len);

/* ---- instance ids (reg_instance.c): RFC 5626 §4.1, RFC 2141 -------------- */

/* Strip quotes and angle brackets from a +sip.instance value and check it is
 * a URN: 0 with *out and *out_len set, or SIPFLOW_ERR_MALFORMED. */
int sipflow__reg_instance_strip(const char *s, size_t len, const char **out,
                                size_t *out_len);
/* The two halves of sipflow__reg_instance_strip(): the value without
 * surrounding spaces, quotes and angle brackets (|s| not NULL), and whether
 * such a value is a URN. */
void sipflow__reg_instance_unwrap(const char *s, size_t len, const char **out,
                                  size_t *out_len);
bool sipflow__reg_instance_is_urn(const char *s, size_t len);
/* URN equality of two stripped instance ids. */
bool sipflow__reg_instance_equal(const char *a, size_t alen, const char *b,
                                 size_t blen);

/* ---- the store (registrar.c, reg_binding.c) ------------------------------ */

enum {
  SIPFLOW__REG_F_OUTBOUND = 1u << 0, /* keyed by instance + reg-id */
  SIPFLOW__REG_F_OB = 1u << 1,       /* Contact had ;ob */
  SIPFLOW__REG_F_UNLINKED = 1u << 2, /* removed; kept alive by plans only */
  SIPFLOW__REG_F_VICTIM = 1u << 3,   /* chosen to make room (transient) */
  SIPFLOW__REG_F_TOUCHED = 1u << 4,  /* matched by the REGISTER (transient) */
  /* Where the received address is: neither flag, none; RECV_FLOW, the
   * flow's remote address (the common case: the request came in on the
   * flow it registers); RECV_OWN, after the strings. */
  SIPFLOW__REG_F_RECV_FLOW = 1u << 5,
  SIPFLOW__REG_F_RECV_OWN = 1u << 6,
  /* pn-provider and pn-prid in the Contact URI (RFC 8599 §4.1.1); with
   * health SIPFLOW_HEALTH_DEAD the binding is suspended: its flow failed
   * and only a push reaches it (reg_push.c). */
  SIPFLOW__REG_F_PUSH = 1u << 7
};

struct sipflow__reg_aor;

/*
 * One binding: one allocation with its strings inline, in this order: URI,
 * instance, Call-ID, Path (joined), User-Agent, other parameters, then the
 * received address when it is not the flow's remote address. The fixed
 * part is 152 bytes on LP64.
 *
 * Expiry is lazy: |expires_at| is the truth and the heap entry's deadline
 * only a lower bound, moved when the expiry comes earlier. A refresh (most
 * REGISTERs) then costs no heap operation; when the old deadline comes the
 * binding is queued again at |expires_at|.
 */
typedef struct sipflow__reg_binding {
  /* First cache line: everything a lookup reads to order the plan and most
   * of what a view reads (the tuple follows), so that a lookup needs only
   * the first two lines of each binding and none of its strings. */
  uint32_t refs; /* plans holding it */
  uint32_t reg_id;
  uint32_t cseq;
  int16_t q;
  uint8_t health;
  uint8_t flags;
  uint16_t uri_len, inst_len, call_id_len, path_len, ua_len, params_len;
  uint16_t n_path;
  /* Equal, within the AoR, for bindings whose instances are equal by URN
   * rules; 0 without an instance (sipflow__reg_regroup). A plan groups
   * flows by it without reading the instance strings. */
  uint16_t inst_group;
  uint64_t id;
  sipflow_tstamp updated_at;
  sipflow_tstamp expires_at;
  sipflow_flow_id flow_id;
  /* Second line: the flow the view hands out, and the links. */
  sipflow_flow_tuple tuple;
  struct sipflow__reg_aor *aor;
  /* The next older and newer bindings on the same flow: reg->flows holds
   * the newest of each flow (when flow_id != 0). Doubly linked so that a
   * binding leaves a flow carrying thousands (an edge's connection) in
   * O(1), not a walk from the newest. */
  struct sipflow__reg_binding *flow_next, *flow_prev;
  sipflow__pq_entry pq; /* deadline <= expires_at */
  char s[];
} sipflow__reg_binding;

/*
 * An AoR, in reg->aors under the hash of its key: its bindings, oldest
 * first, in an array rather than a list, so that every binding's address
 * is known as soon as the record is read and their cache misses overlap
 * instead of following one another. The canonical AoR follows the array.
 */
typedef struct sipflow__reg_aor {
  uint16_t n;   /* bindings in b[] */
  uint16_t cap; /* room in b[] */
  uint16_t len; /* of the key */
  sipflow__reg_binding *b[];
} sipflow__reg_aor;

/* Bindings an AoR record has room for when created: the common UA
 * registers one or two flows. */
#define SIPFLOW__REG_AOR_MIN_CAP 2u

static inline const char *sipflow__reg_aor_key(const sipflow__reg_aor *a) {
  return (const char *)(a->b + a->cap);
}
/* A zeroed record with room for |cap| bindings holding |key|; NULL when
 * out of memory. */
sipflow__reg_aor *sipflow__reg_aor_alloc(sipflow_registrar *reg,
                                         const char *key, size_t len,
                                         uint32_t cap);
/* Put |grown| (a larger copy, from sipflow__reg_aor_alloc) in the place of
 * |aor| (whose key hashes to |hash|) and free |aor|. Cannot fail. */
void sipflow__reg_aor_swap(sipflow_registrar *reg, sipflow__reg_aor *aor,
                           sipflow__reg_aor *grown, uint64_t hash);
/* Start loading the records under |hash| and their hinted bindings, for a
 * find a little later (batched lookups). */
void sipflow__reg_aor_preload(const sipflow_registrar *reg, uint64_t hash);
/* Point the hints of |aor|'s slot (its key hashed to |hash|) at its first
 * bindings. Called where bindings are added; removals leave the hints
 * stale until the next find mends them. */
void sipflow__reg_aor_hint(const sipflow_registrar *reg,
                           const sipflow__reg_aor *aor, uint64_t hash);

/*
 * Files other than registrar.c and reg_register.c (reg_restore.c, say)
 * reach an AoR's bindings through these two rather than the record's
 * members.
 */
/* Every binding of |aor| (not NULL), oldest first. Not for loops that
 * remove bindings. */
#define SIPFLOW__REG_FOREACH(aor, var)                                         \
  for (sipflow__reg_binding *const *var##_it = (aor)->b, *var = NULL;          \
       var##_it < (aor)->b + (aor)->n && ((var = *var##_it), 1); var##_it++)
/* Add |fresh| as a new binding of the AoR |key| (hashed to |hash|): |aor|
 * when the AoR exists, NULL to create it. Gives |fresh| an id and links it
 * everywhere, expiring at |expires_at|. Returns 0, or SIPFLOW_ERR_NOMEM
 * with nothing changed. Checks no limit and reports nothing. */
int sipflow__reg_add(sipflow_registrar *reg, sipflow__reg_aor *aor,
                     const char *key, size_t key_len, uint64_t hash,
                     struct sipflow__reg_binding *fresh,
                     sipflow_tstamp expires_at);

/* Lookups a batched lookup overlaps at a time: enough misses in flight to
 * hide most of the memory latency, few enough for the line fill buffers. */
#define SIPFLOW__REG_BATCH_ROUND 8u

/* ---- the indexes (reg_index.c) ------------------------------------------ */

/* One slot of an index: an object and the keyed hash of its key. In an
 * index made with hints (the AoR index), two pointers follow: where the
 * record's first two bindings were when last seen. They are only ever
 * prefetched, never read through, so a stale one costs a wasted load and
 * nothing else; they let a lookup start loading the bindings together with
 * the record instead of after it (docs/registrar.md, "Throughput"). */
typedef struct sipflow__reg_slot {
  uint64_t hash;
  void *obj; /* NULL: free */
  const void *hint[];
} sipflow__reg_slot;

/* Pointers after hash and obj in a hinted index's slots. */
#define SIPFLOW__REG_HINTS 2u

/* Open addressing with linear probing, one object per key; see reg_index.c
 * for why not sipflow__map. */
typedef struct sipflow__reg_index {
  unsigned char *slots; /* mask + 1 of them, |stride| bytes each, or NULL */
  void *block;          /* the allocation |slots| is aligned in */
  size_t mask;
  size_t len;
  size_t stride; /* 16, or 32 with hints: never straddles a cache line */
  const sipflow_mem *mem;
} sipflow__reg_index;

/* |hints|: whether slots carry SIPFLOW__REG_HINTS binding hints. */
void sipflow__reg_index_init(sipflow__reg_index *idx, const sipflow_mem *mem,
                             bool hints);
void sipflow__reg_index_free(sipflow__reg_index *idx);
/* Room for |n| more objects, so that as many inserts cannot fail:
 * 0 or SIPFLOW_ERR_NOMEM (nothing changed). */
int sipflow__reg_index_reserve(sipflow__reg_index *idx, size_t n);
/* Add |obj| (its key not present yet), hints cleared. Cannot fail after a
 * reserve; without one it tries to grow and fails with SIPFLOW_ERR_NOMEM
 * only when that fails with the table all but full. */
int sipflow__reg_index_insert(sipflow__reg_index *idx, uint64_t hash,
                              void *obj);
/* Remove |obj|, found under |hash|; nothing if it is not there. */
void sipflow__reg_index_remove(sipflow__reg_index *idx, uint64_t hash,
                               const void *obj);

/* Slot |pos| (0..mask). */
static inline sipflow__reg_slot *
sipflow__reg_index_at(const sipflow__reg_index *idx, size_t pos) {
  return (sipflow__reg_slot *)(void *)(idx->slots + pos * idx->stride);
}
/* Where a probe for |hash| starts. */
static inline size_t sipflow__reg_index_home(const sipflow__reg_index *idx,
                                             uint64_t hash) {
  return (size_t)hash & idx->mask;
}
/* The next slot from *pos on holding |hash| (the caller compares keys), or
 * NULL at the end of the probe; start with *pos = sipflow__reg_index_home.
 * Not across inserts or removals. */
static inline sipflow__reg_slot *
sipflow__reg_index_next(const sipflow__reg_index *idx, uint64_t hash,
                        size_t *pos) {
  sipflow__reg_slot *s;
  while (idx->slots && (s = sipflow__reg_index_at(idx, *pos))->obj) {
    *pos = (*pos + 1) & idx->mask;
    if (s->hash == hash)
      return s;
  }
  return NULL;
}
/* Start loading the slot a probe for |hash| reads first. */
static inline void sipflow__reg_index_prefetch(const sipflow__reg_index *idx,
                                               uint64_t hash) {
#if defined(__GNUC__) || defined(__clang__)
  if (idx->slots)
    __builtin_prefetch(
        sipflow__reg_index_at(idx, sipflow__reg_index_home(idx, hash)));
#else
  (void)idx;
  (void)hash;
#endif
}

/* What a binding will hold: the request's values for one Contact. */
typedef struct sipflow__reg_content {
  sipflow_str uri, inst, call_id, ua, params;
  const sipflow_str *path;
  size_t n_path;
  size_t path_len; /* joined */
  uint32_t cseq, reg_id;
  int16_t q;
  uint8_t flags; /* SIPFLOW__REG_F_OUTBOUND | SIPFLOW__REG_F_OB */
  bool no_push;  /* RFC 8599 §5.6.1.1: a proxy in front pushes */
  sipflow_flow_id flow_id;
  const sipflow_flow_tuple *tuple;
  const sipflow_addr *received;
} sipflow__reg_content;

/* Per-Contact working state of one REGISTER (reg_register.c). */
typedef struct sipflow__reg_cinfo {
  const sipflow_reg_contact *c;
  const char *inst;
  size_t inst_len;
  uint32_t reg_id;  /* 0 when absent or not honoured */
  uint32_t expires; /* granted seconds; 0 removes */
  uint8_t outbound; /* keyed by instance + reg-id */
  uint8_t skip;     /* a later Contact of the request has the same key */
  uint8_t action;
  uint8_t uri_unchecked;       /* URI syntax not checked yet (reg_register.c) */
  uint8_t inst_unchecked;      /* instance not checked to be a URN yet */
  sipflow__reg_binding *old;   /* existing binding with the same key */
  sipflow__reg_binding *fresh; /* new allocation (add, or replace old) */
} sipflow__reg_cinfo;

struct sipflow_registrar {
  sipflow_ctx *ctx;
  sipflow__timer_source timer;
  sipflow_registrar_callbacks cb;
  void *user_data; /* passed to the callbacks */
  sipflow_registrar_settings set;
  sipflow__reg_index aors;  /* sipflow__reg_aor by hash of the key */
  sipflow__reg_index flows; /* newest binding of each flow by hash of the id */
  sipflow__pq expiry;
  size_t n_bindings;
  uint64_t next_id;
  size_t live_plans;
  /* The largest plan deleted since the last lookup, kept for the next
   * one: a lookup then usually allocates nothing. */
  sipflow_reg_plan *spare_plan;
  size_t spare_size;
  /* Canonical AoRs of one round of a batched lookup
   * (SIPFLOW__REG_BATCH_ROUND x max_aor_len), made at the first one. */
  char *batch_keys;
  int in_callback;
  /* scratch, sized at creation so REGISTER needs no allocation but the
   * bindings themselves */
  char *aor_buf;              /* max_aor_len */
  sipflow__reg_cinfo *cinfo;  /* max_contacts_per_request */
  sipflow_reg_binding *views; /* max_contacts */
  sipflow_reg_result result;
  /* GRUUs (reg_gruu.c): the ring temporary GRUUs are minted with, NULL
   * when off; the 200's GRUU text (max_contacts x gruu_room) and a token
   * scratch, made when turned on. */
  const sipflow_keyring *gruu_kr;
  char *gruu_text;
  size_t gruu_room;
  unsigned char *gruu_scratch;
  size_t gruu_scratch_len;
  /* The copy of settings.push_providers (reg_push.c); NULL when empty. */
  char *push_list;
};

/* Hash of an AoR key or a flow id, keyed with the context's hash key. */
uint64_t sipflow__reg_hash_flow(const sipflow_registrar *reg,
                                sipflow_flow_id id);
static inline uint64_t sipflow__reg_hash_aor(const sipflow_registrar *reg,
                                             const char *key, size_t len) {
  return sipflow__hash(reg->ctx, key, len);
}
/* What a find is for: how much of the bindings to start loading. */
typedef enum sipflow__reg_find_for {
  SIPFLOW__REG_FIND_REGISTER, /* the fixed part and the first strings */
  SIPFLOW__REG_FIND_LOOKUP,   /* what a plan reads */
  SIPFLOW__REG_FIND_PRELOADED /* a lookup after sipflow__reg_aor_preload() */
} sipflow__reg_find_for;

/* The record of an AoR, or NULL. Starts loading the parts of its bindings
 * that |why| needs, all at once (the slot's hints let that begin before
 * the record arrives), and mends stale hints. */
sipflow__reg_aor *sipflow__reg_aor_find(const sipflow_registrar *reg,
                                        const char *key, size_t len,
                                        uint64_t hash,
                                        sipflow__reg_find_for why);

/* Binding storage (reg_binding.c). */
/* Length of a Path vector joined as one Route value ("<a>, <b>"). */
size_t sipflow__reg_path_joined_len(const sipflow_str *path, size_t n);
size_t sipflow__reg_content_size(const sipflow__reg_content *ct);
sipflow__reg_binding *sipflow__reg_binding_new(sipflow_registrar *reg,
                                               const sipflow__reg_content *ct);
/* Whether |ct| has the same strings and values as |b| (then a REGISTER only
 * refreshes it). */
bool sipflow__reg_content_same(const sipflow__reg_binding *b,
                               const sipflow__reg_content *ct);
/* Whether |ct|'s strings have exactly |b|'s lengths (then it is updated in
 * place, without an allocation). */
bool sipflow__reg_content_fits(const sipflow__reg_binding *b,
                               const sipflow__reg_content *ct);
/* Write |ct| into |b| (same string lengths, or a fresh binding). Leaves
 * links, id, refs and expiry alone. */
void sipflow__reg_content_write(sipflow__reg_binding *b,
                                const sipflow__reg_content *ct);
static inline const char *sipflow__reg_b_uri(const sipflow__reg_binding *b) {
  return b->s;
}
static inline const char *sipflow__reg_b_inst(const sipflow__reg_binding *b) {
  return b->s + b->uri_len;
}
static inline const char *
sipflow__reg_b_call_id(const sipflow__reg_binding *b) {
  return b->s + b->uri_len + b->inst_len;
}
void sipflow__reg_view(const sipflow_registrar *reg,
                       const sipflow__reg_binding *b, const char *aor,
                       size_t aor_len, sipflow_reg_binding *v);

/* Set |b|'s expiry; the heap moves only when it comes earlier. Cannot fail
 * for a queued binding. */
void sipflow__reg_set_expiry(sipflow_registrar *reg, sipflow__reg_binding *b,
                             sipflow_tstamp at);

/* Linking and unlinking (registrar.c). None of these can fail: the caller
 * reserved room in the heap and in reg->flows and made the AoR record large
 * enough beforehand (sipflow__reg_add() does all three). */
void sipflow__reg_link(sipflow_registrar *reg, sipflow__reg_aor *aor,
                       sipflow__reg_binding *b, sipflow_tstamp expires_at);
void sipflow__reg_unlink(sipflow_registrar *reg, sipflow__reg_binding *b);
/* Give |b| (in |aor|'s array) the instance group of the other bindings of
 * |aor| with an equal instance, or the smallest one no other binding has;
 * 0 without an instance. After |b| is linked or its instance written. */
void sipflow__reg_regroup(const sipflow__reg_aor *aor, sipflow__reg_binding *b);
/* |fresh| takes |old|'s place in every structure and its id, expiring at
 * |expires_at|; |old| is left unlinked. */
void sipflow__reg_replace(sipflow_registrar *reg, sipflow__reg_binding *old,
                          sipflow__reg_binding *fresh,
                          sipflow_tstamp expires_at);
/* The flow index (reg_flow.c). Adding |b| (flow_id != 0 or nothing
 * happens) gives it the health last reported for its flow; the caller
 * reserved a slot in reg->flows. */
void sipflow__reg_flow_add(sipflow_registrar *reg, sipflow__reg_binding *b);
void sipflow__reg_flow_del(sipflow_registrar *reg, sipflow__reg_binding *b);
/* Move |b| to flow |flow_id| in the flow index, taking the flow's health. */
void sipflow__reg_set_flow(sipflow_registrar *reg, sipflow__reg_binding *b,
                           sipflow_flow_id flow_id);
/* Free an unlinked binding unless a plan still holds it. */
void sipflow__reg_release(sipflow_registrar *reg, sipflow__reg_binding *b);
/* Free |aor| if it has no binding left. */
void sipflow__reg_aor_gc(sipflow_registrar *reg, sipflow__reg_aor *aor);
/* Call the change callback for |b| of |aor|. */
void sipflow__reg_report(sipflow_registrar *reg, sipflow_reg_change change,
                         const sipflow__reg_binding *b);
/* The same for a binding that was reached over |prev_flow| before the
 * change (sipflow_reg_binding.prev_flow_id). */
void sipflow__reg_report_moved(sipflow_registrar *reg,
                               sipflow_reg_change change,
                               const sipflow__reg_binding *b,
                               sipflow_flow_id prev_flow);
/* Unlink, report and release: the way a binding leaves. */
void sipflow__reg_remove(sipflow_registrar *reg, sipflow__reg_binding *b,
                         sipflow_reg_change why);
/* Expire every binding due at or before |now|. */
void sipflow__reg_expire_due(sipflow_registrar *reg, sipflow_tstamp now);
/* The common entry check of calls that take |now|. */
int sipflow__reg_enter(sipflow_registrar *reg, sipflow_tstamp now);

/* GRUUs (reg_gruu.c). Free the GRUU scratch (registrar teardown). */
void sipflow__reg_gruu_free(sipflow_registrar *reg);
/* Fill |v|'s pub_gruu and temp_gruu into slot |k| of the 200's GRUU text;
 * they stay empty when that fails. */
void sipflow__reg_gruu_view(sipflow_registrar *reg, size_t k,
                            sipflow_reg_binding *v);
/* A plan of |aor|'s bindings in instance group |group| (0: all of them). */
int sipflow__reg_plan_build(sipflow_registrar *reg, const sipflow__reg_aor *aor,
                            uint16_t group, sipflow_reg_plan **pplan);
/* ---- push (reg_push.c): RFC 8599 ---------------------------------------- */

/* The value of URI parameter |name| (lower case) of the SIP or SIPS URI
 * |uri|: true with *val set (len 0 for a parameter without a value), or
 * false when absent or |uri| is not a SIP URI. */
bool sipflow__reg_uri_param(const char *uri, size_t len, const char *name,
                            sipflow_str *val);
/* Whether a Contact URI makes a push-reachable binding: pn-provider and
 * pn-prid both present and not empty. */
bool sipflow__reg_uri_is_push(const char *uri, size_t len);
/* Whether two Contact URIs carry the same pn-provider, pn-prid and
 * pn-param (RFC 8599 §5.3): a binding's identity without an instance. */
bool sipflow__reg_push_same(const char *a, size_t alen, const char *b,
                            size_t blen);
/* Whether settings.push_providers is a valid list (empty is). */
bool sipflow__reg_push_list_valid(sipflow_str list);
/* Copy settings.push_providers into reg->push_list: 0 or NOMEM. */
int sipflow__reg_push_init(sipflow_registrar *reg);
/* Look |provider| up in the host's list: true with *name (the configured
 * spelling, in reg->push_list) and *refresh (seconds) set. */
/* Whether the Contact header parameters |params| (";+sip.ice;...") hold
 * the parameter |name| (lower case), with or without a value. */
bool sipflow__reg_params_has(sipflow_str params, const char *name);
bool sipflow__reg_push_find(const sipflow_registrar *reg, sipflow_str provider,
                            sipflow_str *name, uint32_t *refresh);
/* Fill a view's pn-* members from |b|. */
void sipflow__reg_push_view(const sipflow__reg_binding *b,
                            sipflow_reg_binding *v);
/* Whether |b| is suspended: push-reachable and its flow failed. */
static inline bool sipflow__reg_suspended(const sipflow__reg_binding *b) {
  return (b->flags & SIPFLOW__REG_F_PUSH) && b->health == SIPFLOW_HEALTH_DEAD;
}
/* A flow failure on |b|: suspend it (kept, flow dropped, reported UPDATED)
 * and return true when it is push-reachable and the host pushes; false
 * when the caller removes or shortens it as usual. */
bool sipflow__reg_push_suspend(sipflow_registrar *reg, sipflow__reg_binding *b);
/* Call the push callback for |b|. */
void sipflow__reg_push_call(sipflow_registrar *reg,
                            const sipflow__reg_binding *b,
                            sipflow_reg_push_reason reason);
/* The first heap deadline of |b| expiring at |exp|: its first refresh
 * push still to come, or |exp|. */
sipflow_tstamp sipflow__reg_push_first(const sipflow_registrar *reg,
                                       const sipflow__reg_binding *b,
                                       sipflow_tstamp exp);
/* The expiry heap popped |b| (not yet expired) at |deadline|: ask for a
 * refresh push if one is due (RFC 8599 §5.5) and return the binding's next
 * deadline: the next refresh push or its expiry. */
sipflow_tstamp sipflow__reg_push_due(sipflow_registrar *reg,
                                     sipflow__reg_binding *b,
                                     sipflow_tstamp deadline,
                                     sipflow_tstamp now);

/* The store's invariants (reg_check.c): 0, or a negative number naming the
 * first one broken. For tests and the fuzz target. */
int sipflow__registrar_check(const sipflow_registrar *reg);

#endif /* SIPFLOW_REGISTRAR_INT_H */
