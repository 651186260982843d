/*
 * libsipflow-sofia: a context's single deadline on an su_root.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <stdlib.h>

#include <sofia-sip/su_time.h>

#include "sipflow/sipflow_sofia.h"

struct sipflow_sofia_timer {
  su_timer_t *timer;
  sipflow_ctx *ctx;
  uint64_t fired;
  int last_rv;
};

sipflow_tstamp sipflow_sofia_now(void) {
  return (sipflow_tstamp)su_monotime(NULL);
}

static void fire(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg) {
  sipflow_sofia_timer *st = arg;
  (void)magic;
  (void)t;
  st->last_rv = sipflow_ctx_handle_expiry(st->ctx, sipflow_sofia_now());
  st->fired++;
  sipflow_sofia_timer_update(st);
}

int sipflow_sofia_timer_new(sipflow_sofia_timer **ptimer, su_root_t *root,
                            sipflow_ctx *ctx) {
  sipflow_sofia_timer *st;
  if (!ptimer || !root || !ctx)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  *ptimer = NULL;
  st = calloc(1, sizeof(*st));
  if (!st)
    return SIPFLOW_ERR_NOMEM;
  st->timer = su_timer_create(su_root_task(root), 0);
  if (!st->timer) {
    free(st);
    return SIPFLOW_ERR_NOMEM;
  }
  st->ctx = ctx;
  *ptimer = st;
  return 0;
}

void sipflow_sofia_timer_update(sipflow_sofia_timer *st) {
  sipflow_tstamp expiry;
  uint64_t ms;
  if (!st)
    return;
  expiry = sipflow_ctx_get_expiry(st->ctx);
  if (expiry == SIPFLOW_TSTAMP_NONE) {
    su_timer_reset(st->timer);
    return;
  }
  ms = sipflow_ms_until(expiry, sipflow_sofia_now());
  /* su_duration_t is a signed 32-bit count of milliseconds. */
  if (ms > 0x7fffffff)
    ms = 0x7fffffff;
  su_timer_set_interval(st->timer, fire, st, (su_duration_t)ms);
}

void sipflow_sofia_timer_del(sipflow_sofia_timer *st) {
  if (!st)
    return;
  su_timer_destroy(st->timer);
  free(st);
}

uint64_t sipflow_sofia_timer_fired(const sipflow_sofia_timer *st) {
  return st ? st->fired : 0;
}

int sipflow_sofia_timer_last_result(const sipflow_sofia_timer *st) {
  return st ? st->last_rv : SIPFLOW_ERR_INVALID_ARGUMENT;
}
