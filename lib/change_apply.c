/*
 * Applying keepalive and key records (bindings: reg_restore.c).
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <sodium.h>
#include <string.h>

#include "flow_token_int.h"
#include "sipflow/changes.h"

/* Lifetimes are capped at 8 years by the scheduler; a record cannot ask for
 * more than that either. */
#define MAX_LIFETIME_S (8ull * 366 * 24 * 3600)

int sipflow_change_apply_endpoint(sipflow_keepalive *ka,
                                  const sipflow_change *c,
                                  uint64_t unix_seconds, sipflow_tstamp now) {
  const sipflow_change_endpoint *e;
  uint64_t left;
  int rv;
  if (!ka || !c || c->kind != SIPFLOW_CHANGE_ENDPOINT)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  e = &c->u.endpoint;
  if (c->op == SIPFLOW_CHANGE_DEL) {
    rv = sipflow_keepalive_reason_end(ka, e->ep.flow_id, e->reason.kind,
                                      e->reason.id, now);
    return rv == SIPFLOW_ERR_NOT_FOUND ? SIPFLOW_ERR_STALE : rv;
  }
  /* A PUT that has run out means the reason is over: end it if held. */
  if (e->reason.expires_unix <= unix_seconds) {
    rv = sipflow_keepalive_reason_end(ka, e->ep.flow_id, e->reason.kind,
                                      e->reason.id, now);
    return rv == 0 ? 0 : rv == SIPFLOW_ERR_NOT_FOUND ? SIPFLOW_ERR_STALE : rv;
  }
  left = e->reason.expires_unix - unix_seconds;
  if (left > MAX_LIFETIME_S)
    left = MAX_LIFETIME_S;
  return sipflow_keepalive_reason_set(ka, &e->ep, e->reason.kind, e->reason.id,
                                      (sipflow_duration)left * SIPFLOW_SECONDS,
                                      now);
}

/* Whether the ring's key |id| was made from |key|: derive it the ring's way
 * on a scratch ring (no allocation; the derivation stays in keyring.c). */
static int same_key(const sipflow_keyring *kr, uint8_t id, const uint8_t *key) {
  sipflow_keyring tmp;
  int rv, same;
  memset(&tmp, 0, sizeof(tmp));
  tmp.ctx = kr->ctx;
  if ((rv = sipflow_keyring_add(&tmp, id, key, SIPFLOW_TOKEN_KEY_LEN)) != 0)
    return rv;
  same = sodium_memcmp(tmp.mac_key[id], kr->mac_key[id],
                       SIPFLOW__TOKEN_MAC_KEY_LEN) == 0;
  sodium_memzero(&tmp, sizeof(tmp));
  return same;
}

static int put_key(sipflow_keyring *kr, const sipflow_change_key *k) {
  uint8_t cur;
  int rv;
  if (sipflow_keyring_has(kr, k->key_id)) {
    if ((rv = same_key(kr, k->key_id, k->key)) < 0)
      return rv;
    if (!rv) {
      /* Different bytes under the id: the record is the key now. */
      if ((rv = sipflow_keyring_remove(kr, k->key_id)) != 0)
        return rv;
      if ((rv = sipflow_keyring_add(kr, k->key_id, k->key, sizeof(k->key))))
        return rv;
    }
  } else if ((rv = sipflow_keyring_add(kr, k->key_id, k->key,
                                       sizeof(k->key))) != 0) {
    return rv;
  }
  if (k->current &&
      (sipflow_keyring_get_current(kr, &cur) != 0 || cur != k->key_id))
    return sipflow_keyring_set_current(kr, k->key_id);
  return 0;
}

int sipflow_change_apply_key(sipflow_keyring *kr, const sipflow_change *c) {
  int rv;
  if (!kr || !c || c->kind != SIPFLOW_CHANGE_KEY)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (c->op == SIPFLOW_CHANGE_PUT)
    return put_key(kr, &c->u.key);
  rv = sipflow_keyring_remove(kr, c->u.key.key_id);
  return rv == SIPFLOW_ERR_NOT_FOUND ? SIPFLOW_ERR_STALE : rv;
}
