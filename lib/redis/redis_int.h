/*
 * libsipflow-redis internals shared by its files and its white-box tests:
 * the Redis key and message formats, the write queue.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_REDIS_INT_H
#define SIPFLOW_REDIS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "sipflow/sipflow_redis.h"

struct redisAsyncContext;
struct uv_loop_s;

/* ---- redis_uv.c: hiredis on the host's libuv loop ------------------------
 */

/* Attaches |ac| to |loop| (as hiredis's own libuv adapter does, with
 * fewer system calls: see redis_uv.c). REDIS_OK or REDIS_ERR. */
int rs_uv_attach(struct redisAsyncContext *ac, struct uv_loop_s *loop);

/* Sends now what waits for the write timer of |ac| (attached with
 * rs_uv_attach), if anything does. */
void rs_uv_flush_now(struct redisAsyncContext *ac);

/* |fn|(|arg|) runs each time the write timer of |ac| sends, after the
 * write (a node's other paced work shares that wake-up); NULL: none. */
void rs_uv_also(struct redisAsyncContext *ac, void (*fn)(void *), void *arg);

/* Longest key: prefix, ":b:" and 32 hex digits. */
#define RS_PREFIX_MAX 64
#define RS_KEY_MAX (RS_PREFIX_MAX + 40)

/* ---- redis_wire.c: formats ------------------------------------------------
 */

/* The key of a record's identity: "<prefix>:b:<hex>", ":e:<hex>" or
 * ":k:<id>". Returns its length, or a negative error. */
int rs_key(const char *prefix, const sipflow_change *c, char *buf, size_t cap);

/* A published value: "SFR1", the node id's length (1 byte), the node id,
 * then the encoded record. Returns a malloc'd buffer or NULL. */
uint8_t *rs_frame(const char *node, const sipflow_change *c, size_t *len);

/* Splits a value into origin and record; 0 or SIPFLOW_ERR_MALFORMED. */
int rs_unframe(const uint8_t *buf, size_t len, const char **node,
               size_t *node_len, const uint8_t **rec, size_t *rec_len);

/* The Redis expiry (EXPIREAT seconds) for a record; 0 means none. */
uint64_t rs_expire_at(const sipflow_change *c);

/* The Lua script doing the compare-and-set-and-publish (see redis_wire.c
 * for its arguments and answers). */
extern const char rs_script[];

/* The Lua script of the heartbeat: Redis's clock, this node's deadline,
 * every node's deadline. */
extern const char rs_beat_script[];

/* A published message: "<version> <frame>". Splits it; 0 or
 * SIPFLOW_ERR_MALFORMED. */
int rs_unversion(const char *msg, size_t len, uint64_t *version,
                 const char **frame, size_t *frame_len);

/* ---- redis_seen.c: the newest version seen of each identity ---------------
 *
 * Records reach a node from three places (the channel, loads, the answers
 * to its own writes) in an order that is not Redis's. Each identity keeps
 * the newest version seen; an older or equal record is not delivered, and
 * while the node's own writes of the identity are unanswered, what arrives
 * is held back until they are, then delivered only if newer than they.
 */
typedef struct rs_seen rs_seen;
struct rs_seen {
  rs_seen *hh_next; /* bucket chain */
  char key[RS_KEY_MAX];
  uint64_t version; /* newest version known of the identity */
  uint64_t until;   /* unix seconds after which it may be forgotten */
  uint32_t pending; /* own writes not answered yet */
  uint8_t *held;    /* newest record that arrived while pending */
  size_t held_len;
  uint64_t held_version;
};

typedef struct rs_seen_table {
  rs_seen **buckets;
  size_t nbuckets, n;
} rs_seen_table;

/* Finds the identity's entry; creates it when |create|. NULL: absent or
 * out of memory. */
rs_seen *rs_seen_get(rs_seen_table *t, const char *key, int create);

enum { RS_STALE = 0, RS_DELIVER = 1, RS_HELD = 2 };

/* A record of |version| arrived: RS_DELIVER (newer; the entry now has
 * it), RS_HELD (own writes are pending: kept if the newest so far, a copy
 * of |frame|) or RS_STALE. */
int rs_seen_offer(rs_seen *s, uint64_t version, const uint8_t *frame,
                  size_t len);

/* One own write was answered: |accepted| with |version|, or not. */
void rs_seen_answered(rs_seen *s, int accepted, uint64_t version);

/* The held record, once nothing is pending and if it is newer than the
 * version known (the entry takes its version). The caller frees it. */
uint8_t *rs_seen_take_held(rs_seen *s, size_t *len, uint64_t *version);

/* Forgets the entries with nothing pending whose |until| is before
 * |unix_s|. Returns how many went. */
size_t rs_seen_sweep(rs_seen_table *t, uint64_t unix_s);
void rs_seen_clear(rs_seen_table *t);

/* ---- redis_queue.c: writes waiting or in flight ----------------------------
 */

typedef struct rs_entry {
  struct rs_entry *next, *prev;
  char key[RS_KEY_MAX];
  uint8_t *val; /* the frame */
  size_t val_len;
  char version[24], expire_at[24], cseq[12], base[24];
  char op[2];
  char mode[2];        /* sipflow_redis_write_mode as a digit */
  uint8_t evaled;      /* sent whole once already (NOSCRIPT) */
  uint64_t until;      /* unix seconds the identity's state lasts (rs_seen) */
  const char *call_id; /* into |val| (a view of the encoded record) */
  size_t call_id_len;
} rs_entry;

typedef struct rs_list {
  rs_entry *head, *tail;
  uint32_t n;
} rs_list;

/* A write for |c| from |node|, or NULL (out of memory or no encoding). */
rs_entry *rs_entry_new(const char *prefix, const char *node,
                       const sipflow_change *c, int *err);
/* The same, written in |mode| (sipflow_redis_write_mode). */
rs_entry *rs_entry_new_mode(const char *prefix, const char *node,
                            const sipflow_change *c, int mode, int *err);
void rs_entry_free(rs_entry *e);
void rs_list_push_tail(rs_list *l, rs_entry *e);
void rs_list_push_head(rs_list *l, rs_entry *e);
rs_entry *rs_list_pop_head(rs_list *l);
void rs_list_remove(rs_list *l, rs_entry *e);
void rs_list_clear(rs_list *l);
/* Appends |e|; past |max| entries the oldest are dropped: their count. */
uint32_t rs_list_push_bounded(rs_list *l, rs_entry *e, uint32_t max);

#endif
