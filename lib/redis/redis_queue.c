/*
 * libsipflow-redis: writes as self-contained entries (key, value and the
 * script's arguments, made once), on a doubly linked list: waiting for the
 * connection, or sent and waiting for Redis's answer. An unanswered write
 * goes back to the waiting list when the connection drops, so nothing is
 * lost but what the bound drops.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"

rs_entry *rs_entry_new(const char *prefix, const char *node,
                       const sipflow_change *c, int *err) {
  return rs_entry_new_mode(prefix, node, c, SIPFLOW_REDIS_WRITE_NEW, err);
}

rs_entry *rs_entry_new_mode(const char *prefix, const char *node,
                            const sipflow_change *c, int mode, int *err) {
  rs_entry *e = calloc(1, sizeof(*e));
  const char *nd;
  const uint8_t *rec;
  size_t nl, rl;
  sipflow_change view;
  int rv;
  *err = SIPFLOW_ERR_NOMEM;
  if (!e)
    return NULL;
  if (mode < SIPFLOW_REDIS_WRITE_NEW || mode > SIPFLOW_REDIS_WRITE_RESTORE) {
    free(e);
    *err = SIPFLOW_ERR_INVALID_ARGUMENT;
    return NULL;
  }
  rv = rs_key(prefix, c, e->key, sizeof(e->key));
  if (rv >= 0 && !(e->val = rs_frame(node, c, &e->val_len)) &&
      sipflow_change_encode(c, NULL, 0, NULL) != SIPFLOW_ERR_BUFFER_TOO_SMALL)
    rv = SIPFLOW_ERR_INVALID_ARGUMENT; /* else the allocation failed */
  if (rv < 0 || !e->val) {
    *err = rv < 0 ? SIPFLOW_ERR_INVALID_ARGUMENT : SIPFLOW_ERR_NOMEM;
    free(e);
    return NULL;
  }
  /* The Call-ID as a view into our own copy of the record. */
  if (rs_unframe(e->val, e->val_len, &nd, &nl, &rec, &rl) != 0 ||
      sipflow_change_decode(rec, rl, &view) != 0) {
    rs_entry_free(e);
    *err = SIPFLOW_ERR_INVALID_ARGUMENT;
    return NULL;
  }
  if (view.kind == SIPFLOW_CHANGE_BINDING) {
    e->call_id = view.u.binding.call_id.ptr;
    e->call_id_len = view.u.binding.call_id.len;
    snprintf(e->cseq, sizeof(e->cseq), "%" PRIu32, view.u.binding.cseq);
  } else {
    e->call_id = "";
    snprintf(e->cseq, sizeof(e->cseq), "0");
  }
  snprintf(e->version, sizeof(e->version), "%" PRIu64, c->version);
  snprintf(e->expire_at, sizeof(e->expire_at), "%" PRIu64, rs_expire_at(c));
  e->op[0] = c->op == SIPFLOW_CHANGE_DEL ? '2' : '1';
  e->mode[0] = (char)('0' + mode);
  snprintf(e->base, sizeof(e->base), "0");
  e->until = c->op == SIPFLOW_CHANGE_DEL ? 0 : rs_expire_at(c);
  *err = 0;
  return e;
}

void rs_entry_free(rs_entry *e) {
  if (!e)
    return;
  free(e->val);
  free(e);
}

void rs_list_push_tail(rs_list *l, rs_entry *e) {
  e->next = NULL;
  e->prev = l->tail;
  if (l->tail)
    l->tail->next = e;
  else
    l->head = e;
  l->tail = e;
  l->n++;
}

void rs_list_push_head(rs_list *l, rs_entry *e) {
  e->prev = NULL;
  e->next = l->head;
  if (l->head)
    l->head->prev = e;
  else
    l->tail = e;
  l->head = e;
  l->n++;
}

void rs_list_remove(rs_list *l, rs_entry *e) {
  if (e->prev)
    e->prev->next = e->next;
  else
    l->head = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    l->tail = e->prev;
  e->next = e->prev = NULL;
  l->n--;
}

rs_entry *rs_list_pop_head(rs_list *l) {
  rs_entry *e = l->head;
  if (e)
    rs_list_remove(l, e);
  return e;
}

void rs_list_clear(rs_list *l) {
  rs_entry *e;
  while ((e = rs_list_pop_head(l)) != NULL)
    rs_entry_free(e);
}

uint32_t rs_list_push_bounded(rs_list *l, rs_entry *e, uint32_t max) {
  uint32_t dropped = 0;
  rs_list_push_tail(l, e);
  /* The oldest go first: a newer record of the same identity supersedes
   * them anyway, and the owner rewrites its bindings on reconnection. */
  while (l->n > max && l->head != e) {
    rs_entry_free(rs_list_pop_head(l));
    dropped++;
  }
  return dropped;
}
