/*
 * libsipflow-uv: the libuv adapter.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "sipflow/sipflow_uv.h"

/* ---- clock and randomness ------------------------------------------------ */

sipflow_tstamp sipflow_uv_now(void) { return uv_hrtime(); }

void sipflow_uv_rand(uint8_t *dest, size_t len, void *user_data) {
  (void)user_data;
  randombytes_buf(dest, len);
}

int sipflow_uv_settings_randomize(sipflow_ctx_settings *settings) {
  if (!settings)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (sodium_init() < 0)
    return SIPFLOW_ERR_INTERNAL;
  randombytes_buf(settings->hash_key, sizeof(settings->hash_key));
  return 0;
}

/* ---- addresses ------------------------------------------------------------
 */

int sipflow_uv_addr_to_sockaddr(const sipflow_addr *a,
                                struct sockaddr_storage *ss, size_t *sslen) {
  if (!ss)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  memset(ss, 0, sizeof(*ss));
  if (!a)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (a->family == SIPFLOW_AF_INET6) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    s6->sin6_family = AF_INET6;
    memcpy(&s6->sin6_addr, a->bytes, 16);
    s6->sin6_port = htons(a->port);
    if (sslen)
      *sslen = sizeof(*s6);
    return 0;
  }
  if (a->family == SIPFLOW_AF_INET) {
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    memcpy(&s4->sin_addr, a->bytes, 4);
    s4->sin_port = htons(a->port);
    if (sslen)
      *sslen = sizeof(*s4);
    return 0;
  }
  return SIPFLOW_ERR_INVALID_ARGUMENT;
}

int sipflow_uv_addr_from_sockaddr(const struct sockaddr *sa, sipflow_addr *a) {
  if (!a)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  memset(a, 0, sizeof(*a));
  if (!sa)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
    a->family = SIPFLOW_AF_INET6;
    memcpy(a->bytes, &s6->sin6_addr, 16);
    a->port = ntohs(s6->sin6_port);
    return 0;
  }
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
    a->family = SIPFLOW_AF_INET;
    memcpy(a->bytes, &s4->sin_addr, 4);
    a->port = ntohs(s4->sin_port);
    return 0;
  }
  return SIPFLOW_ERR_INVALID_ARGUMENT;
}

/* ---- the single timer ---------------------------------------------------- */

struct sipflow_uv_timer {
  uv_timer_t handle;
  sipflow_ctx *ctx;
  sipflow_uv_expired_cb on_expired;
  void *user_data;
  uint64_t fired;
  sipflow_duration slack; /* 0: fire at each deadline */
  sipflow_tstamp armed;   /* the time the running timer was set for */
};

static void timer_fire(uv_timer_t *handle) {
  sipflow_uv_timer *t = handle->data;
  int rv = sipflow_ctx_handle_expiry(t->ctx, uv_hrtime());
  t->fired++;
  if (t->on_expired)
    t->on_expired(t, rv, t->user_data);
  sipflow_uv_timer_update(t);
}

int sipflow_uv_timer_new(sipflow_uv_timer **ptimer, uv_loop_t *loop,
                         sipflow_ctx *ctx, sipflow_uv_expired_cb on_expired,
                         void *user_data) {
  sipflow_uv_timer *t;
  if (!ptimer || !loop || !ctx)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  *ptimer = NULL;
  t = calloc(1, sizeof(*t));
  if (!t)
    return SIPFLOW_ERR_NOMEM;
  if (uv_timer_init(loop, &t->handle) != 0) {
    free(t);
    return SIPFLOW_ERR_INTERNAL;
  }
  t->handle.data = t;
  t->ctx = ctx;
  t->on_expired = on_expired;
  t->user_data = user_data;
  *ptimer = t;
  return 0;
}

/* With slack, the deadline moves up to the next multiple of the slack:
 * every deadline inside one slack-long window is handled by one callback,
 * at most |slack| late. */
static sipflow_tstamp fire_time(const sipflow_uv_timer *t,
                                sipflow_tstamp expiry) {
  sipflow_duration rest;
  if (!t->slack)
    return expiry;
  rest = expiry % t->slack;
  if (!rest || expiry > SIPFLOW_TSTAMP_NONE - 1 - (t->slack - rest))
    return expiry;
  return expiry + (t->slack - rest);
}

void sipflow_uv_timer_update(sipflow_uv_timer *t) {
  sipflow_tstamp expiry, when;
  if (!t || uv_is_closing((uv_handle_t *)&t->handle))
    return;
  expiry = sipflow_ctx_get_expiry(t->ctx);
  if (expiry == SIPFLOW_TSTAMP_NONE) {
    uv_timer_stop(&t->handle);
    return;
  }
  when = fire_time(t, expiry);
  /* Hosts call this after every event; a timer already set for the same
   * time is left alone rather than taken out of libuv's heap and put back. */
  if (when == t->armed && uv_is_active((uv_handle_t *)&t->handle))
    return;
  t->armed = when;
  /* libuv counts the delay from the loop's cached time (whole milliseconds,
   * taken when the iteration began, never ahead of uv_hrtime()), so it is
   * measured from there and rounded up: the timer never fires before the
   * deadline, handling it always makes progress, and no wake-up is wasted
   * on a deadline not yet reached. */
  uv_timer_start(
      &t->handle, timer_fire,
      sipflow_ms_until(when, uv_now(t->handle.loop) * SIPFLOW_MILLISECONDS), 0);
}

void sipflow_uv_timer_set_slack(sipflow_uv_timer *t, sipflow_duration slack) {
  if (!t)
    return;
  t->slack = slack;
  t->armed = SIPFLOW_TSTAMP_NONE; /* the next update re-arms */
}

static void timer_closed(uv_handle_t *handle) { free(handle->data); }

void sipflow_uv_timer_del(sipflow_uv_timer *t) {
  if (!t)
    return;
  uv_timer_stop(&t->handle);
  uv_close((uv_handle_t *)&t->handle, timer_closed);
}

uint64_t sipflow_uv_timer_fired(const sipflow_uv_timer *t) {
  return t ? t->fired : 0;
}

/* ---- framed TCP streams -------------------------------------------------- */

#define MAX_FILTERS 4

struct sipflow_uv_stream {
  uv_tcp_t *tcp;
  sipflow_framer *framer;
  sipflow_uv_filter filters[MAX_FILTERS]; /* [0] next to the socket */
  void *filter_data[MAX_FILTERS];
  unsigned nfilters;
  sipflow_uv_stream_callbacks cb;
  void *user_data;
  size_t max_queued; /* 0: no cap */
  size_t queued;     /* bytes held by writes waiting for the kernel */
  size_t pongs;      /* pings of this read not yet answered */
  int close_err;
  int closing;
};

typedef struct write_req {
  uv_write_t req;
  sipflow_uv_stream *s;
  size_t size; /* its size with its bytes when in s->queued, else 0 */
  char data[];
} write_req;

static void stream_closed(uv_handle_t *handle) {
  sipflow_uv_stream *s = handle->data;
  s->cb.on_close(s, s->close_err, s->user_data);
  for (unsigned i = s->nfilters; i-- > 0;)
    if (s->filters[i].del)
      s->filters[i].del(s->filter_data[i]);
  sipflow_framer_del(s->framer);
  free(s->tcp);
  free(s);
}

static void stream_shut(sipflow_uv_stream *s, int err) {
  if (s->closing)
    return;
  s->closing = 1;
  s->close_err = err;
  uv_read_stop((uv_stream_t *)s->tcp);
  uv_close((uv_handle_t *)s->tcp, stream_closed);
}

static void write_done(uv_write_t *req, int status) {
  write_req *w = (write_req *)req;
  (void)status; /* a failed write shows up as a read error or EOF */
  /* libuv calls back every write, cancelled ones too, before the handle's
   * close callback frees the stream. */
  w->s->queued -= w->size;
  free(w);
}

/* Bytes to the socket, below every filter. */
static int raw_write(sipflow_uv_stream *s, const void *data, size_t len) {
  write_req *w;
  uv_buf_t buf;
  size_t before;
  if (s->closing)
    return SIPFLOW_ERR_BAD_STATE;
  /* A peer that sends but never reads (pings whose pongs pile up) must not
   * grow the queue without end: past the cap the stream ends. What counts
   * is the memory held by writes the kernel has not taken, each request
   * with its bytes (a queue of 2-byte pongs is mostly request); writes the
   * kernel took at once are freed at the loop's next turn. */
  if (s->max_queued && (sizeof(*w) + len > s->max_queued ||
                        s->queued > s->max_queued - sizeof(*w) - len)) {
    stream_shut(s, UV_ENOBUFS);
    return SIPFLOW_ERR_LIMIT;
  }
  /* Straight to the kernel when nothing waits before it (libuv refuses
   * the write otherwise, so the order holds): no request, no allocation,
   * no callback. Through uv_write() each completed write also costs an
   * epoll_ctl() at the loop's next turn (libuv re-arms the watcher when
   * the write queue drains), which was the larger part of a keepalive's
   * cost on a TCP flow. What the kernel does not take is queued. */
  buf = uv_buf_init((char *)data, (unsigned int)len);
  int sent = uv_try_write((uv_stream_t *)s->tcp, &buf, 1);
  if (sent >= 0 && (size_t)sent == len)
    return 0;
  if (sent > 0) {
    data = (const char *)data + sent;
    len -= (size_t)sent;
  }
  w = malloc(sizeof(*w) + len);
  if (!w)
    return SIPFLOW_ERR_NOMEM;
  memcpy(w->data, data, len);
  w->s = s;
  w->size = 0;
  before = uv_stream_get_write_queue_size((uv_stream_t *)s->tcp);
  buf = uv_buf_init(w->data, (unsigned int)len);
  /* uv_write queues in order per stream: messages and pongs never mix. */
  if (uv_write(&w->req, (uv_stream_t *)s->tcp, &buf, 1, write_done) != 0) {
    free(w);
    return SIPFLOW_ERR_BAD_STATE;
  }
  if (uv_stream_get_write_queue_size((uv_stream_t *)s->tcp) > before) {
    w->size = sizeof(*w) + len; /* not all taken: it waits */
    s->queued += w->size;
  }
  return 0;
}

int sipflow_uv_stream_write(sipflow_uv_stream *s, const void *data,
                            size_t len) {
  if (!s || (!data && len))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (s->closing)
    return SIPFLOW_ERR_BAD_STATE;
  if (s->nfilters)
    return s->filters[s->nfilters - 1].write(s, s->nfilters - 1, data, len,
                                             s->filter_data[s->nfilters - 1]);
  return raw_write(s, data, len);
}

int sipflow_uv_stream_pass_down(sipflow_uv_stream *s, unsigned level,
                                const void *data, size_t len) {
  if (!s || (!data && len) || level >= s->nfilters)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (s->closing)
    return SIPFLOW_ERR_BAD_STATE;
  if (level == 0)
    return raw_write(s, data, len);
  return s->filters[level - 1].write(s, level - 1, data, len,
                                     s->filter_data[level - 1]);
}

int sipflow_uv_stream_ping(sipflow_uv_stream *s) {
  int rv = sipflow_uv_stream_write(s, "\r\n\r\n", 4);
  if (rv == 0)
    sipflow_framer_expect_pong(s->framer, 1);
  return rv;
}

/* Reads land in one buffer per thread: the framer copies what it is fed,
 * and libuv calls alloc, read and the read callback in turn, so the buffer
 * is free again before the next read. A 64 KiB malloc() and free() per
 * read (one per keepalive pong) cost more than the pong: glibc serves that
 * size from the heap's top, and freeing it consolidates the fast bins and
 * may give the top back to the kernel, to take it again at the next read. */
static _Thread_local char stream_rx[65536];

static void stream_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  (void)handle;
  (void)suggested;
  buf->base = stream_rx;
  buf->len = sizeof(stream_rx);
}

/* The pongs of one read go out in one write: a peer that sends a burst of
 * pings (64 KiB of them in one read is 16 384) costs one syscall, not one
 * per ping, and each ping still gets its own CRLF (RFC 5626 §5.4), in
 * order before the answer to any message that followed it. */
#define PONG_BATCH 8192
static _Thread_local char pong_crlf[2 * PONG_BATCH];

static void flush_pongs(sipflow_uv_stream *s) {
  if (s->pongs && pong_crlf[0] != '\r')
    for (size_t i = 0; i < PONG_BATCH; i++)
      memcpy(pong_crlf + 2 * i, "\r\n", 2);
  while (s->pongs && !s->closing) {
    size_t n = s->pongs < PONG_BATCH ? s->pongs : PONG_BATCH;
    s->pongs -= n;
    if (sipflow_uv_stream_write(s, pong_crlf, 2 * n) != 0)
      break;
  }
  s->pongs = 0;
}

static void deliver(sipflow_uv_stream *s) {
  while (!s->closing) {
    sipflow_frame fr;
    int rv = sipflow_framer_next(s->framer, &fr);
    if (rv != 0) {
      stream_shut(s, rv);
      return;
    }
    switch (fr.type) {
    case SIPFLOW_FRAME_NONE:
      flush_pongs(s);
      return;
    case SIPFLOW_FRAME_PING:
      /* RFC 5626 §5.4: answer a ping with one CRLF at once (at the end
       * of this read, with the others). */
      s->pongs++;
      if (s->cb.on_ping)
        s->cb.on_ping(s, s->user_data);
      break;
    case SIPFLOW_FRAME_PONG:
      if (s->cb.on_pong)
        s->cb.on_pong(s, s->user_data);
      break;
    case SIPFLOW_FRAME_MESSAGE:
      flush_pongs(s);
      if (!s->closing)
        s->cb.on_message(s, fr.data, fr.len, s->user_data);
      break;
    }
  }
  s->pongs = 0;
}

/* Bytes for the framer: from the socket, or from the top filter. */
static int frame_input(sipflow_uv_stream *s, const uint8_t *data, size_t len) {
  int rv = sipflow_framer_feed(s->framer, data, len);
  if (rv != 0) {
    stream_shut(s, rv);
    return rv;
  }
  deliver(s);
  return 0;
}

int sipflow_uv_stream_pass_up(sipflow_uv_stream *s, unsigned level,
                              const uint8_t *data, size_t len) {
  int rv;
  if (!s || (!data && len) || level >= s->nfilters)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (s->closing)
    return SIPFLOW_ERR_BAD_STATE;
  if (level + 1 == s->nfilters)
    return frame_input(s, data, len);
  rv = s->filters[level + 1].read(s, level + 1, data, len,
                                  s->filter_data[level + 1]);
  if (rv != 0)
    stream_shut(s, rv);
  return rv;
}

int sipflow_uv_stream_pass_message(sipflow_uv_stream *s, const uint8_t *data,
                                   size_t len) {
  if (!s || (!data && len))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (s->closing)
    return SIPFLOW_ERR_BAD_STATE;
  switch (sipflow_ws_message_classify(data, len)) {
  case SIPFLOW_WS_MESSAGE_CRLF_PING:
    /* RFC 5626 §4.4.1, as on TCP: one CRLF back, in the same framing. */
    sipflow_uv_stream_write(s, SIPFLOW_CRLF_PONG, SIPFLOW_CRLF_PONG_LEN);
    if (s->cb.on_ping)
      s->cb.on_ping(s, s->user_data);
    return 0;
  case SIPFLOW_WS_MESSAGE_CRLF_PONG:
    if (s->cb.on_pong)
      s->cb.on_pong(s, s->user_data);
    return 0;
  case SIPFLOW_WS_MESSAGE_SIP:
    s->cb.on_message(s, data, len, s->user_data);
    return 0;
  case SIPFLOW_WS_MESSAGE_BLANK:
    return 0;
  default:
    return SIPFLOW_ERR_MALFORMED;
  }
}

unsigned sipflow_uv_stream_filters(const sipflow_uv_stream *s) {
  return s ? s->nfilters : 0;
}

void sipflow_uv_stream_fail(sipflow_uv_stream *s, int err) {
  if (s)
    stream_shut(s, err ? err : UV_ECANCELED);
}

int sipflow_uv_stream_push_filter(sipflow_uv_stream *s,
                                  const sipflow_uv_filter *filter,
                                  void *filter_data) {
  if (!s || !filter || !filter->read || !filter->write)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (s->nfilters == MAX_FILTERS)
    return SIPFLOW_ERR_LIMIT;
  s->filters[s->nfilters] = *filter;
  s->filter_data[s->nfilters] = filter_data;
  s->nfilters++;
  return 0;
}

static void stream_read(uv_stream_t *stream, ssize_t nread,
                        const uv_buf_t *buf) {
  sipflow_uv_stream *s = stream->data;
  if (nread < 0) {
    stream_shut(s, (int)nread);
  } else if (nread > 0 && !s->closing) {
    if (s->nfilters) {
      int rv = s->filters[0].read(s, 0, (const uint8_t *)buf->base,
                                  (size_t)nread, s->filter_data[0]);
      if (rv != 0)
        stream_shut(s, rv);
    } else {
      frame_input(s, (const uint8_t *)buf->base, (size_t)nread);
    }
  }
}

int sipflow_uv_stream_new(sipflow_uv_stream **pstream, uv_tcp_t *tcp,
                          const sipflow_uv_stream_callbacks *callbacks,
                          size_t max_message, void *user_data) {
  sipflow_uv_stream *s;
  if (!pstream || !tcp || !callbacks || !callbacks->on_message ||
      !callbacks->on_close)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  *pstream = NULL;
  s = calloc(1, sizeof(*s));
  if (!s)
    return SIPFLOW_ERR_NOMEM;
  if (sipflow_framer_new(&s->framer, NULL, max_message) != 0) {
    free(s);
    return SIPFLOW_ERR_NOMEM;
  }
  s->tcp = tcp;
  s->max_queued = SIPFLOW_UV_STREAM_MAX_QUEUED_DEFAULT;
  s->cb = *callbacks;
  s->user_data = user_data;
  tcp->data = s;
  if (uv_read_start((uv_stream_t *)tcp, stream_alloc, stream_read) != 0) {
    sipflow_framer_del(s->framer);
    free(s);
    return SIPFLOW_ERR_INTERNAL;
  }
  *pstream = s;
  return 0;
}

void sipflow_uv_stream_close(sipflow_uv_stream *s) {
  if (s)
    stream_shut(s, UV_ECANCELED);
}

void sipflow_uv_stream_set_max_queued(sipflow_uv_stream *s, size_t bytes) {
  if (s)
    s->max_queued = bytes;
}

uv_tcp_t *sipflow_uv_stream_handle(sipflow_uv_stream *s) {
  return s ? s->tcp : NULL;
}

void *sipflow_uv_stream_user_data(const sipflow_uv_stream *s) {
  return s ? s->user_data : NULL;
}

void sipflow_uv_stream_set_user_data(sipflow_uv_stream *s, void *user_data) {
  if (s)
    s->user_data = user_data;
}
