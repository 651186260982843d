/*
 * The context: allocator, log, randomness and the single host deadline.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "sipflow_int.h"

void sipflow_ctx_settings_default_versioned(int settings_version,
                                            sipflow_ctx_settings *settings) {
  (void)settings_version;
  if (!settings)
    return;
  memset(settings, 0, sizeof(*settings));
  settings->log_level = SIPFLOW_LOG_WARN;
  settings->log_rate_per_second = 10;
}

int sipflow_ctx_new_versioned(sipflow_ctx **pctx, int callbacks_version,
                              const sipflow_ctx_callbacks *callbacks,
                              int settings_version,
                              const sipflow_ctx_settings *settings,
                              const sipflow_mem *mem, void *user_data) {
  sipflow_ctx *ctx;

  if (!pctx)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  *pctx = NULL;
  if (callbacks && (callbacks_version < SIPFLOW_CTX_CALLBACKS_V1 ||
                    callbacks_version > SIPFLOW_CTX_CALLBACKS_VERSION))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (settings && (settings_version < SIPFLOW_CTX_SETTINGS_V1 ||
                   settings_version > SIPFLOW_CTX_SETTINGS_VERSION))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (!mem)
    mem = sipflow_mem_default();
  if (!sipflow__mem_valid(mem))
    return SIPFLOW_ERR_INVALID_ARGUMENT;

  ctx = sipflow__calloc(mem, 1, sizeof(*ctx));
  if (!ctx)
    return SIPFLOW_ERR_NOMEM;
  ctx->mem = *mem;
  /* Version 1 is the only layout so far; later versions copy by size. */
  if (callbacks)
    ctx->callbacks = *callbacks;
  if (settings)
    ctx->settings = *settings;
  else
    sipflow_ctx_settings_default(&ctx->settings);
  ctx->user_data = user_data;
  ctx->sources.next = ctx->sources.prev = &ctx->sources;
  *pctx = ctx;
  return 0;
}

void sipflow_ctx_del(sipflow_ctx *ctx) {
  if (!ctx)
    return;
  /* Objects still attached are the host's bug; unlink them so that their
   * later deletion does not touch freed memory. */
  while (ctx->sources.next != &ctx->sources)
    sipflow__ctx_detach(ctx->sources.next);
  sipflow__free(&ctx->mem, ctx);
}

void *sipflow_ctx_get_user_data(const sipflow_ctx *ctx) {
  return ctx ? ctx->user_data : NULL;
}

void sipflow__ctx_attach(sipflow_ctx *ctx, sipflow__timer_source *src) {
  src->prev = ctx->sources.prev;
  src->next = &ctx->sources;
  ctx->sources.prev->next = src;
  ctx->sources.prev = src;
}

void sipflow__ctx_detach(sipflow__timer_source *src) {
  if (!src->next)
    return;
  src->prev->next = src->next;
  src->next->prev = src->prev;
  src->next = src->prev = NULL;
}

int sipflow__ctx_update_time(sipflow_ctx *ctx, sipflow_tstamp now) {
  if (now < ctx->last_now)
    return SIPFLOW_ERR_TIME_BACKWARDS;
  ctx->last_now = now;
  return 0;
}

/* Lines held back by the network-log limit are owed a summary at the end
 * of their one-second window, whether or not another line comes: it is one
 * of the context's deadlines. */
static sipflow_tstamp summary_due(const sipflow_ctx *ctx) {
  return ctx->log_suppressed ? ctx->log_window_start + SIPFLOW_SECONDS
                             : SIPFLOW_TSTAMP_NONE;
}

static void log_summary(sipflow_ctx *ctx) {
  char msg[96];
  if (!ctx->log_suppressed)
    return;
  snprintf(msg, sizeof(msg), "%llu log lines about network input suppressed",
           (unsigned long long)ctx->log_suppressed);
  ctx->log_suppressed = 0;
  SIPFLOW__CB_ENTER(ctx);
  ctx->callbacks.log(SIPFLOW_LOG_WARN, msg, ctx->user_data);
  SIPFLOW__CB_LEAVE(ctx);
}

sipflow_tstamp sipflow_ctx_get_expiry(const sipflow_ctx *ctx) {
  sipflow_tstamp min = SIPFLOW_TSTAMP_NONE;
  if (!ctx)
    return min;
  min = summary_due(ctx);
  for (const sipflow__timer_source *s = ctx->sources.next; s != &ctx->sources;
       s = s->next) {
    sipflow_tstamp t = s->get_expiry(s->obj);
    if (t < min)
      min = t;
  }
  return min;
}

int sipflow_ctx_handle_expiry(sipflow_ctx *ctx, sipflow_tstamp now) {
  int first_err = 0;
  if (!ctx)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (ctx->callback_depth)
    return SIPFLOW_ERR_BAD_STATE;
  if (sipflow__ctx_update_time(ctx, now) != 0)
    return SIPFLOW_ERR_TIME_BACKWARDS;
  if (summary_due(ctx) <= now)
    log_summary(ctx);
  for (sipflow__timer_source *s = ctx->sources.next; s != &ctx->sources;) {
    sipflow__timer_source *next = s->next;
    if (s->get_expiry(s->obj) <= now) {
      int rv = s->handle_expiry(s->obj, now);
      if (rv != 0 && first_err == 0)
        first_err = rv;
    }
    s = next;
  }
  return first_err;
}

sipflow_tstamp sipflow__ctx_now(const sipflow_ctx *ctx) {
  return ctx->last_now;
}

static void vlog(sipflow_ctx *ctx, sipflow_log_level level, const char *fmt,
                 va_list ap) {
  char line[512];
  vsnprintf(line, sizeof(line), fmt, ap);
  SIPFLOW__CB_ENTER(ctx);
  ctx->callbacks.log(level, line, ctx->user_data);
  SIPFLOW__CB_LEAVE(ctx);
}

void sipflow__log(sipflow_ctx *ctx, sipflow_log_level level, const char *fmt,
                  ...) {
  va_list ap;
  if (!ctx->callbacks.log || level > ctx->settings.log_level)
    return;
  va_start(ap, fmt);
  vlog(ctx, level, fmt, ap);
  va_end(ap);
}

void sipflow__log_net(sipflow_ctx *ctx, sipflow_tstamp now,
                      sipflow_log_level level, const char *fmt, ...) {
  va_list ap;
  uint32_t limit = ctx->settings.log_rate_per_second;

  if (!ctx->callbacks.log || level > ctx->settings.log_level)
    return;
  if (limit) {
    if (now - ctx->log_window_start >= SIPFLOW_SECONDS ||
        now < ctx->log_window_start) {
      log_summary(ctx);
      ctx->log_window_start = now;
      ctx->log_window_count = 0;
    }
    if (ctx->log_window_count >= limit) {
      ctx->log_suppressed++;
      return;
    }
    ctx->log_window_count++;
  }
  va_start(ap, fmt);
  vlog(ctx, level, fmt, ap);
  va_end(ap);
}

void sipflow__rand(sipflow_ctx *ctx, uint8_t *dest, size_t len) {
  if (ctx->callbacks.rand) {
    SIPFLOW__CB_ENTER(ctx);
    ctx->callbacks.rand(dest, len, ctx->user_data);
    SIPFLOW__CB_LEAVE(ctx);
  } else
    memset(dest, 0, len);
}

uint64_t sipflow__rand_range(sipflow_ctx *ctx, uint64_t lo, uint64_t hi) {
  uint64_t span, r, limit;
  if (hi <= lo)
    return lo;
  span = hi - lo + 1; /* 0 means the full 64-bit range */
  if (span == 0) {
    sipflow__rand(ctx, (uint8_t *)&r, sizeof(r));
    return r;
  }
  /* Rejection sampling for a uniform result; a zero-filling (absent)
   * callback gives r = 0, which is accepted at once. */
  limit = UINT64_MAX - (UINT64_MAX % span);
  do {
    sipflow__rand(ctx, (uint8_t *)&r, sizeof(r));
  } while (r >= limit);
  return lo + r % span;
}

uint64_t sipflow__hash(const sipflow_ctx *ctx, const void *data, size_t len) {
  uint64_t out;
  crypto_shorthash_siphash24((unsigned char *)&out, data, len,
                             ctx->settings.hash_key);
  return out;
}
