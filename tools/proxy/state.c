/*
 * sipflow-proxy: --state FILE. Bindings and the token key ring go to an
 * SQLite file through libsipflow's change records, written from inside the
 * registrar's change callback, that is before the 200 OK leaves, and
 * committed at once (libsipflow-sqlite's default durability): a kill -9
 * loses nothing that was acknowledged. After a restart the keys come back
 * first, so tokens minted before still verify (430 or routed, never 403),
 * then the bindings, aged by the downtime. Keepalives resume by themselves:
 * restoring a binding reports it to the change callback like a REGISTER.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sipflow/changes.h>
#include <sipflow/sipflow_sqlite.h>

#include "proxy.h"

static uint64_t unix_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

typedef struct restore_counts {
  unsigned keys, bindings, stale, failed;
} restore_counts;

/* A UDP binding's flow is its tuple: the same one exists again as soon as
 * our socket is bound. A stream's flow died with the old process. */
sipflow_flow_id px_restored_flow(px *p, const sipflow_flow_tuple *t) {
  sipflow_flow_id id = 0;
  if (t->transport != SIPFLOW_TRANSPORT_UDP)
    return 0;
  for (int i = 0; i < p->nlisteners; i++) {
    px_listener *l = &p->listeners[i];
    if (l->transport == SIPFLOW_TRANSPORT_UDP &&
        sipflow_addr_equal(&l->addr, &t->local)) {
      if (px_udp_flow(p, l, &t->remote, &id) != 0)
        return 0;
      return id;
    }
  }
  return 0;
}

static int restore_one(const sipflow_change *c, void *ud) {
  void **args = ud;
  px *p = args[0];
  restore_counts *n = args[1];
  uint64_t now_s = unix_ms() / 1000;
  int rv;
  if (c->kind == SIPFLOW_CHANGE_KEY) {
    rv = sipflow_change_apply_key(p->keyring, c);
    if (rv == 0)
      n->keys++;
  } else if (c->kind == SIPFLOW_CHANGE_BINDING && p->reg) {
    sipflow_change copy = *c;
    copy.u.binding.flow_id = px_restored_flow(p, &c->u.binding.flow);
    rv = sipflow_change_apply_binding(p->reg, &copy, now_s, sipflow_uv_now());
    if (rv == 0)
      n->bindings++;
  } else {
    return 0; /* keepalive endpoints follow from the bindings */
  }
  if (rv == SIPFLOW_ERR_STALE)
    n->stale++;
  else if (rv != 0)
    n->failed++;
  return 0;
}

static int write_change(px *p, const sipflow_change *c) {
  int rv = sipflow_sqlite_write(p->store, c);
  if (rv != 0)
    px_log(p, SIPFLOW_LOG_ERROR, "state: write failed: %s (%s)",
           sipflow_strerror(rv), sipflow_sqlite_errmsg(p->store));
  return rv;
}

int px_state_keys(px *p) {
  uint8_t current = 0;
  if (!p->store)
    return 0;
  sipflow_keyring_get_current(p->keyring, &current);
  for (int i = 0; i < p->n_own_keys; i++) {
    sipflow_change c;
    memset(&c, 0, sizeof(c));
    c.kind = SIPFLOW_CHANGE_KEY;
    c.op = SIPFLOW_CHANGE_PUT;
    c.version = sipflow_change_version_next(&p->change_version, unix_ms());
    c.u.key.key_id = p->own_keys[i].id;
    c.u.key.current = p->own_keys[i].id == current;
    memcpy(c.u.key.key, p->own_keys[i].key, sizeof(c.u.key.key));
    if (write_change(p, &c) != 0)
      return -1;
  }
  return 0;
}

int px_state_open(px *p) {
  restore_counts n = {0, 0, 0, 0};
  void *args[2] = {p, &n};
  size_t skipped = 0;
  int rv;
  if (!p->cfg.state_file[0])
    return 0;
  rv = sipflow_sqlite_open(&p->store, p->cfg.state_file,
                           SIPFLOW_SQLITE_COMMIT_BEFORE_ANSWER);
  if (rv != 0) {
    px_log(p, SIPFLOW_LOG_ERROR, "state: cannot open %s: %s", p->cfg.state_file,
           sipflow_strerror(rv));
    return -1;
  }
  sipflow_sqlite_purge(p->store, unix_ms() / 1000);
  p->restoring = 1;
  rv = sipflow_sqlite_load(p->store, restore_one, args, &skipped);
  p->restoring = 0;
  if (rv != 0) {
    px_log(p, SIPFLOW_LOG_ERROR, "state: cannot load %s: %s", p->cfg.state_file,
           sipflow_strerror(rv));
    return -1;
  }
  px_log(p, SIPFLOW_LOG_INFO,
         "state: %s: %u keys and %u bindings restored (%u out of date, %u "
         "refused, %zu unreadable)",
         p->cfg.state_file, n.keys, n.bindings, n.stale, n.failed, skipped);
  return 0;
}

void px_state_close(px *p) {
  if (!p->store)
    return;
  sipflow_sqlite_commit(p->store);
  sipflow_sqlite_close(p->store);
  p->store = NULL;
}

void px_state_binding(px *p, sipflow_reg_change change,
                      const sipflow_reg_binding *b) {
  sipflow_change c;
  if (!p->store || p->restoring)
    return;
  if (sipflow_change_from_binding(
          &c, change, b,
          sipflow_change_version_next(&p->change_version, unix_ms()),
          unix_ms() / 1000, sipflow_uv_now()) != 0)
    return;
  write_change(p, &c);
}
