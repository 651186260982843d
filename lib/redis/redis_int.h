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

/* The Lua script doing the compare-and-set-and-publish. */
extern const char rs_script[];

/* ---- redis_queue.c: writes waiting or in flight ----------------------------
 */

typedef struct rs_entry {
  struct rs_entry *next, *prev;
  char key[RS_KEY_MAX];
  uint8_t *val; /* the frame */
  size_t val_len;
  char version[24], expire_at[24], cseq[12];
  char op[2];
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
void rs_entry_free(rs_entry *e);
void rs_list_push_tail(rs_list *l, rs_entry *e);
void rs_list_push_head(rs_list *l, rs_entry *e);
rs_entry *rs_list_pop_head(rs_list *l);
void rs_list_remove(rs_list *l, rs_entry *e);
void rs_list_clear(rs_list *l);
/* Appends |e|; past |max| entries the oldest are dropped: their count. */
uint32_t rs_list_push_bounded(rs_list *l, rs_entry *e, uint32_t max);

#endif
