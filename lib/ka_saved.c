/*
 * Saving and restoring endpoints with their reasons, as plain values with
 * wall-clock expiries (the nat_traversal state file's job; storage is the
 * host's).
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include "keepalive_int.h"

int sipflow_keepalive_export_next(const sipflow_keepalive *ka, uint64_t *cursor,
                                  sipflow_keepalive_endpoint *ep,
                                  sipflow_keepalive_saved_reason *reasons,
                                  size_t cap, size_t *nreasons,
                                  uint64_t unix_seconds, sipflow_tstamp now) {
  if (!ka || !cursor || !ep || !nreasons || (cap && !reasons))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  for (uint64_t i = *cursor; i < ka->eps.used; i++) {
    const sipflow__ka_ep *e = sipflow__ka_ep_at(ka, (uint32_t)i);
    size_t n;
    if (e->flow_id == 0)
      continue;
    n = sipflow__ka_reasons_list(ka, (uint32_t)i, reasons, cap, unix_seconds,
                                 now);
    if (n == 0) /* only tentative reasons: nothing worth restoring */
      continue;
    *nreasons = n;
    if (n > cap) {
      *cursor = i;
      return SIPFLOW_ERR_BUFFER_TOO_SMALL;
    }
    ep->flow_id = e->flow_id;
    sipflow__ka_tuple_get(ka, e, &ep->tuple);
    ep->method = (uint8_t)SIPFLOW__KA_METHOD(e);
    ep->interval = sipflow__ka_interval_ns(e);
    ep->user_data = e->user_data;
    ep->request_uri = sipflow__ka_ruri_get(ka, (uint32_t)i);
    *cursor = i + 1;
    return 0;
  }
  *cursor = ka->eps.used;
  *nreasons = 0;
  return SIPFLOW_ERR_NOT_FOUND;
}

int sipflow_keepalive_import(sipflow_keepalive *ka,
                             const sipflow_keepalive_endpoint *ep,
                             const sipflow_keepalive_saved_reason *reasons,
                             size_t nreasons, uint64_t unix_seconds,
                             sipflow_tstamp now) {
  uint8_t method;
  uint16_t interval;
  uint32_t idx;
  size_t live = 0;
  int rv;
  if (!ka || (nreasons && !reasons))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (sipflow__ctx_update_time(ka->ctx, now) != 0)
    return SIPFLOW_ERR_TIME_BACKWARDS;
  rv = sipflow__ka_check_endpoint(ka, ep, &method, &interval);
  if (rv != 0)
    return rv;
  if (sipflow__ka_lookup(ka, ep->flow_id, NULL))
    return SIPFLOW_ERR_EXISTS;
  for (size_t i = 0; i < nreasons; i++) {
    if (reasons[i].kind < SIPFLOW_KEEPALIVE_REGISTRATION ||
        reasons[i].kind > SIPFLOW_KEEPALIVE_OTHER)
      return SIPFLOW_ERR_INVALID_ARGUMENT;
    live += reasons[i].expires_unix > unix_seconds;
  }
  if (live == 0)
    return SIPFLOW_ERR_STALE;
  for (size_t i = 0; i < nreasons; i++) {
    uint64_t left = reasons[i].expires_unix - unix_seconds;
    if (reasons[i].expires_unix <= unix_seconds)
      continue;
    if (left > UINT64_MAX / SIPFLOW_SECONDS)
      left = UINT64_MAX / SIPFLOW_SECONDS;
    rv = sipflow__ka_reason_put(ka, ep, reasons[i].kind, reasons[i].id,
                                left * SIPFLOW_SECONDS, 0, now);
    if (rv != 0) { /* all or nothing */
      if (sipflow__ka_lookup(ka, ep->flow_id, &idx))
        sipflow__ka_ep_remove(ka, idx, 0);
      return rv;
    }
  }
  return 0;
}
