/*
 * hiredis on a libuv loop, with the commands of a few milliseconds sent
 * together.
 *
 * hiredis's own libuv adapter (hiredis/adapters/libuv.h) calls
 * uv_poll_start() for every change it is told of, and hiredis tells it of
 * one at least twice per command: "add write" when the command is queued,
 * "delete write" once it is sent, "add read" after every send even when
 * reading already. In the libuv of Debian 12 each uv_poll_start() removes
 * the descriptor from epoll and adds it back at the next poll: about five
 * epoll_ctl() calls per Redis command, the largest count of any system call
 * in sipflow-proxy's Redis runs (97 000 of 192 000 for 20 000 REGISTERs
 * over two workers, strace -c).
 *
 * This adapter keeps the poll as it is unless the set of events changes,
 * and once the connection is up does not poll for writing at all: the
 * first command queued starts a timer of RS_WRITE_PACE_MS, and when it
 * fires everything queued by then leaves with one write()
 * (redisAsyncHandleWrite). At 1 000 writes a second that is about 5
 * commands a write, and their replies come back together, so one wake-up
 * reads them all: with one command a write, each reply was a wake-up of
 * its own. A write waits at most RS_WRITE_PACE_MS, as the subscription's
 * reads do (SUB_PACE_MS in redis_client.c); SIP answers never wait for
 * Redis. Only when the socket takes less than all of it does the adapter
 * poll for writing, until the rest is gone. While the connection is
 * being made, writing is polled as hiredis expects (that is how it learns
 * the connect finished).
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <uv.h>

#include "redis_int.h"

/* The longest a command waits to be sent with the next ones (ms). */
#define RS_WRITE_PACE_MS 5

typedef struct rs_uv {
  redisAsyncContext *ac; /* NULL once hiredis is done with it */
  uv_poll_t poll;
  uv_timer_t flush;
  int events;           /* what the poll watches now */
  int flushing;         /* inside redisAsyncHandleWrite() from the timer */
  int pending;          /* the timer runs */
  int open;             /* handles not closed yet */
  void (*also)(void *); /* called when the timer sends (rs_uv_also) */
  void *also_arg;
} rs_uv;

static void set_events(rs_uv *u, int events);
static void add_write(void *d);

static void on_poll(uv_poll_t *h, int status, int events) {
  rs_uv *u = h->data;
  if (status != 0)
    return;
  if (u->ac && (events & UV_READABLE))
    redisAsyncHandleRead(u->ac);
  if (u->ac && (events & UV_WRITABLE))
    redisAsyncHandleWrite(u->ac);
}

static void set_events(rs_uv *u, int events) {
  if (events == u->events)
    return;
  u->events = events;
  if (events)
    uv_poll_start(&u->poll, events, on_poll);
  else
    uv_poll_stop(&u->poll);
}

static void flush(rs_uv *u) {
  u->pending = 0;
  if (!u->ac)
    return;
  u->flushing = 1;
  redisAsyncHandleWrite(u->ac); /* may free the context (an error) */
  u->flushing = 0;
}

static void on_flush(uv_timer_t *h) {
  rs_uv *u = h->data;
  void (*also)(void *) = u->also;
  void *arg = u->also_arg;
  flush(u);
  if (also && u->ac) /* not when the write ended the connection */
    also(arg);
}

void rs_uv_flush_now(struct redisAsyncContext *ac) {
  rs_uv *u = ac ? ac->ev.data : NULL;
  if (!u || !u->pending || ac->ev.addWrite != add_write)
    return;
  uv_timer_stop(&u->flush);
  flush(u);
}

void rs_uv_also(struct redisAsyncContext *ac, void (*fn)(void *), void *arg) {
  rs_uv *u = ac ? ac->ev.data : NULL;
  if (!u || ac->ev.addWrite != add_write)
    return;
  u->also = fn;
  u->also_arg = arg;
}

static void add_read(void *d) {
  rs_uv *u = d;
  set_events(u, u->events | UV_READABLE);
}

static void del_read(void *d) {
  rs_uv *u = d;
  set_events(u, u->events & ~UV_READABLE);
}

static void add_write(void *d) {
  rs_uv *u = d;
  /* Connecting, or the socket took only part: wait until it is writable. */
  if (!u->ac || !(u->ac->c.flags & REDIS_CONNECTED) || u->flushing ||
      (u->events & UV_WRITABLE)) {
    set_events(u, u->events | UV_WRITABLE);
    return;
  }
  if (!u->pending) {
    u->pending = 1;
    uv_timer_start(&u->flush, on_flush, RS_WRITE_PACE_MS, 0);
  }
}

static void del_write(void *d) {
  rs_uv *u = d;
  if (u->pending) {
    u->pending = 0;
    uv_timer_stop(&u->flush);
  }
  set_events(u, u->events & ~UV_WRITABLE);
}

static void on_closed(uv_handle_t *h) {
  rs_uv *u = h->data;
  if (--u->open == 0)
    free(u);
}

static void cleanup(void *d) {
  rs_uv *u = d;
  u->ac = NULL;
  uv_close((uv_handle_t *)&u->poll, on_closed);
  uv_close((uv_handle_t *)&u->flush, on_closed);
}

int rs_uv_attach(redisAsyncContext *ac, uv_loop_t *loop) {
  rs_uv *u;
  if (ac->ev.data)
    return REDIS_ERR;
  u = calloc(1, sizeof(*u));
  if (!u)
    return REDIS_ERR;
  if (uv_poll_init(loop, &u->poll, ac->c.fd) != 0) {
    free(u);
    return REDIS_ERR;
  }
  uv_timer_init(loop, &u->flush);
  u->open = 2;
  u->ac = ac;
  u->poll.data = u;
  u->flush.data = u;
  ac->ev.addRead = add_read;
  ac->ev.delRead = del_read;
  ac->ev.addWrite = add_write;
  ac->ev.delWrite = del_write;
  ac->ev.cleanup = cleanup;
  ac->ev.data = u;
  return REDIS_OK;
}
