/*
 * libsipflow-redis: the client. Two hiredis asynchronous connections on
 * the host's libuv loop (through hiredis' libuv adapter): one for commands,
 * one subscribed to the channel (a subscribed connection can send nothing
 * else). "Connected" means both are up and the subscription confirmed;
 * only then are writes sent and the state loaded, so that nothing
 * published during the load is missed. Any failure drops both and retries
 * after a delay that doubles up to the maximum.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"

#define SCAN_COUNT "500"
/* hiredis' libuv adapter ignores a poll error, so a refused connection can
 * hang for ever: a connection not up by then is dropped and retried. */
#define CONNECT_TIMEOUT_MS 1000
/* A PING every second on the command connection; three unanswered drop
 * it (a Redis that stopped answering without closing). */
#define PING_MS 1000
#define PING_MISSES 3
#define STR_(x) #x
#define STR(x) STR_(x)

struct sipflow_redis {
  uv_loop_t *loop;
  sipflow_redis_callbacks cb;
  void *ud;
  char host[64];
  uint16_t port;
  char node[SIPFLOW_REDIS_NODE_ID_MAX + 1];
  char prefix[RS_PREFIX_MAX + 1];
  char channel[RS_PREFIX_MAX + 16];
  char match[RS_PREFIX_MAX + 16];
  uint32_t queue_max, inflight_max, delay_min, delay_max, delay;
  redisAsyncContext *cmd, *sub;
  int cmd_up, sub_up;
  int scan_done;
  uint32_t load_pending;
  rs_list queue, inflight;
  uv_timer_t timer;
  int closing;
  uint32_t ping_out;
  sipflow_redis_stats st;
};

static void start_connect(sipflow_redis *r);
static void lost(sipflow_redis *r, const redisAsyncContext *gone);
static void pump(sipflow_redis *r);

static void event(sipflow_redis *r, int ev) {
  if (r->cb.on_event)
    r->cb.on_event(r, ev, r->ud);
}

/* ---- losing the connection and retrying -----------------------------------
 */

static void on_pong(redisAsyncContext *ac, void *reply, void *priv) {
  sipflow_redis *r = priv;
  (void)ac;
  if (reply && !r->closing)
    r->ping_out = 0;
}

/* One timer, three jobs: the retry delay while down, the connect deadline
 * while connecting, the PING while up. */
static void on_timer(uv_timer_t *t) {
  sipflow_redis *r = t->data;
  if (r->st.connected) {
    const char *argv[1] = {"PING"};
    size_t lens[1] = {4};
    if (r->ping_out >= PING_MISSES) {
      lost(r, NULL);
      return;
    }
    r->ping_out++;
    redisAsyncCommandArgv(r->cmd, on_pong, r, 1, argv, lens);
    uv_timer_start(&r->timer, on_timer, PING_MS, 0);
  } else if (r->cmd || r->sub) {
    lost(r, NULL);
  } else {
    start_connect(r);
  }
}

static void schedule_retry(sipflow_redis *r) {
  if (r->closing)
    return;
  uv_timer_start(&r->timer, on_timer, r->delay, 0);
  r->delay = r->delay >= r->delay_max / 2 ? r->delay_max : r->delay * 2;
}

/* Either connection failed or ended: drop the other too, and retry.
 * |gone| is the context hiredis is freeing itself (or NULL). */
static void lost(sipflow_redis *r, const redisAsyncContext *gone) {
  redisAsyncContext *c = r->cmd, *s = r->sub;
  int was_up = r->st.connected;
  if (r->closing)
    return;
  r->cmd = r->sub = NULL;
  r->cmd_up = r->sub_up = 0;
  r->st.connected = 0;
  /* Unanswered writes come back to the queue from these frees. */
  if (c && c != gone)
    redisAsyncFree(c);
  if (s && s != gone)
    redisAsyncFree(s);
  schedule_retry(r);
  if (was_up)
    event(r, SIPFLOW_REDIS_EVENT_DISCONNECTED);
}

/* ---- records in -------------------------------------------------------------
 */

static void deliver(sipflow_redis *r, const char *buf, size_t len, int loaded) {
  const char *node;
  const uint8_t *rec;
  size_t nl, rl;
  sipflow_change c;
  if (rs_unframe((const uint8_t *)buf, len, &node, &nl, &rec, &rl) != 0 ||
      sipflow_change_decode(rec, rl, &c) != 0) {
    r->st.undecodable++;
    return;
  }
  if (!loaded && nl == strlen(r->node) && memcmp(node, r->node, nl) == 0)
    return; /* our own, back from the channel */
  if (loaded)
    r->st.loaded++;
  else
    r->st.received++;
  if (r->cb.on_change)
    r->cb.on_change(r, &c, node, nl, loaded, r->ud);
}

static void load_check_done(sipflow_redis *r) {
  if (r->st.connected && r->scan_done && r->load_pending == 0) {
    r->scan_done = 0;
    event(r, SIPFLOW_REDIS_EVENT_LOADED);
  }
}

static void on_value(redisAsyncContext *ac, void *reply, void *priv) {
  sipflow_redis *r = priv;
  redisReply *rep = reply;
  (void)ac;
  if (!rep || r->closing)
    return;
  r->load_pending--;
  /* A key that expired between SCAN and HGET is nil: nothing to load. */
  if (rep->type == REDIS_REPLY_STRING)
    deliver(r, rep->str, rep->len, 1);
  load_check_done(r);
}

static void send_scan(sipflow_redis *r, const char *cursor);

static void on_scan(redisAsyncContext *ac, void *reply, void *priv) {
  sipflow_redis *r = priv;
  redisReply *rep = reply;
  if (!rep || r->closing)
    return;
  if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
      rep->element[0]->type != REDIS_REPLY_STRING ||
      rep->element[1]->type != REDIS_REPLY_ARRAY) {
    r->scan_done = 1; /* not a SCAN answer: give up this load */
    load_check_done(r);
    return;
  }
  for (size_t i = 0; i < rep->element[1]->elements; i++) {
    redisReply *k = rep->element[1]->element[i];
    const char *argv[3] = {"HGET", k->str, "r"};
    size_t lens[3] = {4, k->len, 1};
    if (k->type == REDIS_REPLY_STRING &&
        redisAsyncCommandArgv(ac, on_value, r, 3, argv, lens) == REDIS_OK)
      r->load_pending++;
  }
  if (strcmp(rep->element[0]->str, "0") == 0)
    r->scan_done = 1;
  else
    send_scan(r, rep->element[0]->str);
  load_check_done(r);
}

static void send_scan(sipflow_redis *r, const char *cursor) {
  const char *argv[6] = {"SCAN",   cursor,  "MATCH",
                         r->match, "COUNT", SCAN_COUNT};
  size_t lens[6];
  for (int i = 0; i < 6; i++)
    lens[i] = strlen(argv[i]);
  if (r->cmd &&
      redisAsyncCommandArgv(r->cmd, on_scan, r, 6, argv, lens) != REDIS_OK)
    r->scan_done = 1;
}

static int is_str(const redisReply *rep, const char *s) {
  return rep->type == REDIS_REPLY_STRING && rep->len == strlen(s) &&
         memcmp(rep->str, s, rep->len) == 0;
}

static void on_message(redisAsyncContext *ac, void *reply, void *priv) {
  sipflow_redis *r = priv;
  redisReply *rep = reply;
  (void)ac;
  if (!rep || r->closing || rep->type != REDIS_REPLY_ARRAY ||
      rep->elements != 3)
    return;
  if (is_str(rep->element[0], "message") &&
      rep->element[2]->type == REDIS_REPLY_STRING) {
    deliver(r, rep->element[2]->str, rep->element[2]->len, 0);
  } else if (is_str(rep->element[0], "subscribe") && !r->st.connected) {
    r->st.connected = 1;
    r->st.connects++;
    r->delay = r->delay_min;
    r->ping_out = 0;
    uv_timer_start(&r->timer, on_timer, PING_MS, 0);
    r->scan_done = 0;
    r->load_pending = 0;
    send_scan(r, "0");
    pump(r);
    event(r, SIPFLOW_REDIS_EVENT_CONNECTED);
    load_check_done(r);
  }
}

/* ---- connecting
 * --------------------------------------------------------------- */

static void both_up(sipflow_redis *r) {
  const char *argv[2] = {"SUBSCRIBE", r->channel};
  size_t lens[2] = {9, strlen(r->channel)};
  if (redisAsyncCommandArgv(r->sub, on_message, r, 2, argv, lens) != REDIS_OK)
    lost(r, NULL);
}

static void on_connect(const redisAsyncContext *ac, int status) {
  sipflow_redis *r = ac->data;
  if (r->closing)
    return;
  if (status != REDIS_OK) {
    /* hiredis frees |ac| after this returns. */
    if (ac == r->cmd)
      r->cmd = NULL;
    if (ac == r->sub)
      r->sub = NULL;
    lost(r, ac);
    return;
  }
  if (ac == r->cmd)
    r->cmd_up = 1;
  if (ac == r->sub)
    r->sub_up = 1;
  if (r->cmd_up && r->sub_up)
    both_up(r);
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
  sipflow_redis *r = ac->data;
  (void)status;
  if (r->closing)
    return;
  if (ac == r->cmd)
    r->cmd = NULL;
  if (ac == r->sub)
    r->sub = NULL;
  lost(r, ac);
}

static redisAsyncContext *open_one(sipflow_redis *r) {
  redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);
  if (!ac)
    return NULL;
  ac->data = r;
  if (ac->err || redisLibuvAttach(ac, r->loop) != REDIS_OK) {
    redisAsyncFree(ac);
    return NULL;
  }
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  return ac;
}

static void start_connect(sipflow_redis *r) {
  /* Non-blocking connect to a numeric address: returns at once. */
  r->cmd = open_one(r);
  r->sub = r->cmd ? open_one(r) : NULL;
  if (!r->cmd || !r->sub)
    lost(r, NULL);
  else
    uv_timer_start(&r->timer, on_timer, CONNECT_TIMEOUT_MS, 0);
}

/* ---- records out
 * ---------------------------------------------------------------- */

static void on_written(redisAsyncContext *ac, void *reply, void *priv) {
  rs_entry *e = priv;
  sipflow_redis *r = ac->data;
  redisReply *rep = reply;
  rs_list_remove(&r->inflight, e);
  if (!rep) {
    /* The connection went: send it again on the next one. */
    if (r->closing)
      rs_entry_free(e);
    else
      rs_list_push_head(&r->queue, e);
    return;
  }
  if (rep->type == REDIS_REPLY_INTEGER) {
    r->st.written++;
    if (rep->integer == 0)
      r->st.superseded++;
  } else {
    r->st.dropped++; /* a Redis error (out of memory, script refused) */
  }
  rs_entry_free(e);
  pump(r);
}

static int send_entry(sipflow_redis *r, rs_entry *e) {
  const char *argv[12] = {"EVAL",       rs_script,
                          "1",          e->key,
                          e->version,   (const char *)e->val,
                          e->expire_at, r->channel,
                          e->op,        STR(SIPFLOW_REDIS_TOMBSTONE_SECONDS),
                          e->call_id,   e->cseq};
  size_t lens[12];
  for (int i = 0; i < 12; i++)
    lens[i] = strlen(argv[i]);
  lens[5] = e->val_len;
  lens[10] = e->call_id_len;
  if (redisAsyncCommandArgv(r->cmd, on_written, e, 12, argv, lens) != REDIS_OK)
    return -1;
  rs_list_push_tail(&r->inflight, e);
  return 0;
}

static void pump(sipflow_redis *r) {
  while (r->st.connected && r->cmd && r->queue.head &&
         r->inflight.n < r->inflight_max) {
    rs_entry *e = rs_list_pop_head(&r->queue);
    if (send_entry(r, e) != 0) {
      rs_list_push_head(&r->queue, e);
      return;
    }
  }
}

int sipflow_redis_write(sipflow_redis *r, const sipflow_change *c) {
  rs_entry *e;
  int err;
  if (!r || !c)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  e = rs_entry_new(r->prefix, r->node, c, &err);
  if (!e)
    return err;
  r->st.dropped += rs_list_push_bounded(&r->queue, e, r->queue_max);
  pump(r);
  return 0;
}

/* ---- life
 * ------------------------------------------------------------------------ */

void sipflow_redis_settings_default_versioned(int settings_version,
                                              sipflow_redis_settings *s) {
  (void)settings_version;
  if (!s)
    return;
  memset(s, 0, sizeof(*s));
  s->host = "127.0.0.1";
  s->port = 6379;
  s->prefix = "sipflow";
  s->queue_max = 10000;
  s->inflight_max = 1024;
  s->reconnect_min_ms = 100;
  s->reconnect_max_ms = 5000;
}

static int copy_str(char *dst, size_t cap, const char *src, int need) {
  size_t n = src ? strlen(src) : 0;
  if ((need && n == 0) || n >= cap)
    return -1;
  memcpy(dst, src ? src : "", n + 1);
  return 0;
}

int sipflow_redis_new_versioned(sipflow_redis **pr, uv_loop_t *loop,
                                int callbacks_version,
                                const sipflow_redis_callbacks *callbacks,
                                int settings_version,
                                const sipflow_redis_settings *s,
                                void *user_data) {
  sipflow_redis *r;
  if (!pr || !loop || !s || callbacks_version != SIPFLOW_REDIS_CALLBACKS_V1 ||
      settings_version != SIPFLOW_REDIS_SETTINGS_V1)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  *pr = NULL;
  if (!(r = calloc(1, sizeof(*r))))
    return SIPFLOW_ERR_NOMEM;
  if (copy_str(r->host, sizeof(r->host), s->host, 1) ||
      copy_str(r->node, sizeof(r->node), s->node_id, 1) ||
      copy_str(r->prefix, sizeof(r->prefix), s->prefix, 1) || !s->port) {
    free(r);
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  }
  snprintf(r->channel, sizeof(r->channel), "%s:changes", r->prefix);
  snprintf(r->match, sizeof(r->match), "%s:[bek]:*", r->prefix);
  r->loop = loop;
  if (callbacks)
    r->cb = *callbacks;
  r->ud = user_data;
  r->port = s->port;
  r->queue_max = s->queue_max ? s->queue_max : 1;
  r->inflight_max = s->inflight_max ? s->inflight_max : 1;
  r->delay_min = r->delay = s->reconnect_min_ms ? s->reconnect_min_ms : 1;
  r->delay_max =
      s->reconnect_max_ms < r->delay_min ? r->delay_min : s->reconnect_max_ms;
  uv_timer_init(loop, &r->timer);
  r->timer.data = r;
  start_connect(r);
  *pr = r;
  return 0;
}

static void on_timer_closed(uv_handle_t *h) { free(h->data); }

void sipflow_redis_del(sipflow_redis *r) {
  if (!r)
    return;
  r->closing = 1;
  /* hiredis answers every pending command with NULL here: entries in
   * flight free themselves. */
  if (r->cmd)
    redisAsyncFree(r->cmd);
  if (r->sub)
    redisAsyncFree(r->sub);
  r->cmd = r->sub = NULL;
  rs_list_clear(&r->queue);
  rs_list_clear(&r->inflight);
  uv_timer_stop(&r->timer);
  uv_close((uv_handle_t *)&r->timer, on_timer_closed);
}

int sipflow_redis_get_stats(const sipflow_redis *r, sipflow_redis_stats *out) {
  if (!r || !out)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  *out = r->st;
  out->queued = r->queue.n;
  out->inflight = r->inflight.n;
  return 0;
}

int sipflow_redis_url_parse(const char *url, char *host, size_t hostlen,
                            uint16_t *port) {
  const char *h, *end, *colon;
  unsigned long p = 6379;
  size_t n;
  if (!url || !host || !port)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (strncmp(url, "redis://", 8) != 0)
    return SIPFLOW_ERR_MALFORMED;
  h = url + 8;
  if (*h == '[') { /* IPv6 literal */
    end = strchr(++h, ']');
    if (!end)
      return SIPFLOW_ERR_MALFORMED;
    colon = end[1] == ':' ? end + 1 : NULL;
    if (end[1] && !colon)
      return SIPFLOW_ERR_MALFORMED;
  } else {
    colon = strchr(h, ':');
    end = colon ? colon : h + strlen(h);
  }
  if (colon) {
    char *stop;
    p = strtoul(colon + 1, &stop, 10);
    if (!colon[1] || (*stop && *stop != '/') || p == 0 || p > 65535)
      return SIPFLOW_ERR_MALFORMED;
  }
  n = (size_t)(end - h);
  if (n == 0 || memchr(h, '/', n))
    return SIPFLOW_ERR_MALFORMED;
  if (n >= hostlen)
    return SIPFLOW_ERR_BUFFER_TOO_SMALL;
  memcpy(host, h, n);
  host[n] = '\0';
  *port = (uint16_t)p;
  return 0;
}
