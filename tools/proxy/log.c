/*
 * sipflow-proxy: logging to stderr, with a rate limit on lines caused by
 * network input so that a flood cannot flood the log.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "proxy.h"

#define NET_LINES_PER_SECOND 20

static const char *const level_names[] = {"error", "warn", "info", "debug"};

/* One write() per line (stderr is unbuffered): the workers of --workers
 * share stderr, and a line written in pieces would interleave with
 * theirs. A line longer than the buffer goes out in pieces. */
static void vline(int level, const char *fmt, va_list ap) {
  struct timespec ts;
  struct tm tm;
  char when[32], line[4096];
  int n, m;
  va_list aq;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(when, sizeof(when), "%H:%M:%S", &tm);
  n = snprintf(line, sizeof(line), "%s.%03ld %-5s ", when, ts.tv_nsec / 1000000,
               level_names[level < 0   ? 0
                           : level > 3 ? 3
                                       : level]);
  va_copy(aq, ap);
  m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, aq);
  va_end(aq);
  if (m >= 0 && (size_t)(n + m) < sizeof(line) - 1) {
    line[n + m] = '\n';
    fwrite(line, 1, (size_t)(n + m + 1), stderr);
    return;
  }
  fwrite(line, 1, (size_t)n, stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
}

void px_log(px *p, int level, const char *fmt, ...) {
  va_list ap;
  if (level > p->cfg.log_level)
    return;
  va_start(ap, fmt);
  vline(level, fmt, ap);
  va_end(ap);
}

static void summary(px *p) {
  if (p->log_dropped)
    px_log(p, SIPFLOW_LOG_WARN,
           "%llu log lines about network input "
           "suppressed",
           (unsigned long long)p->log_dropped);
  p->log_dropped = 0;
}

static void on_summary_due(uv_timer_t *h) { summary(h->data); }

/* The first line dropped in a second arms a timer for the end of it, so
 * that the summary comes even if the flood stops there. */
static void drop(px *p) {
  if (p->log_dropped++ || p->stopping)
    return;
  if (!p->log_timer_ready) {
    if (uv_timer_init(p->loop, &p->log_timer) != 0)
      return;
    p->log_timer.data = p;
    uv_unref((uv_handle_t *)&p->log_timer);
    p->log_timer_ready = 1;
  }
  uv_timer_start(&p->log_timer, on_summary_due, 1000 - uv_now(p->loop) % 1000,
                 0);
}

void px_log_stop(px *p) {
  if (p->log_timer_ready)
    uv_close((uv_handle_t *)&p->log_timer, NULL);
  p->log_timer_ready = 0;
}

void px_log_net(px *p, int level, const char *fmt, ...) {
  va_list ap;
  uint64_t second = uv_now(p->loop) / 1000;
  if (level > p->cfg.log_level)
    return;
  if (second != p->log_window) {
    summary(p);
    p->log_window = second;
    p->log_tokens = 0;
  }
  if (p->log_tokens >= NET_LINES_PER_SECOND) {
    drop(p);
    return;
  }
  p->log_tokens++;
  va_start(ap, fmt);
  vline(level, fmt, ap);
  va_end(ap);
}

void px_sipflow_log(sipflow_log_level level, const char *msg, void *ud) {
  px_log(ud, (int)level, "libsipflow: %s", msg);
}
