/*
 * libsipflow-redis: the client. Two hiredis asynchronous connections on
 * the host's libuv loop (through hiredis' libuv adapter): one for commands,
 * one subscribed to the channel (a subscribed connection can send nothing
 * else). "Connected" means both are up and the subscription confirmed;
 * only then are writes sent and the state loaded, so that nothing
 * published during the load is missed. Before subscribing, the command
 * connection checks that the server is a master (ROLE) and loads the two
 * scripts (SCRIPT LOAD), so that writes are EVALSHA. With Sentinels, the
 * master's address is asked for first, on a third short-lived connection.
 * Any failure drops every connection and retries after a delay that
 * doubles up to the maximum.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redis_int.h"

#define SCAN_COUNT "500"
/* hiredis' libuv adapter ignores a poll error, so a refused connection can
 * hang for ever: a connection not up (subscribed) by then is dropped and
 * retried. */
#define CONNECT_TIMEOUT_MS 1000
/* Three unanswered heartbeats drop the connection (a Redis that stopped
 * answering without closing). */
#define BEAT_MISSES 3
/* Forget identities whose state ran out, every this many heartbeats. */
#define SWEEP_BEATS 10
#define MAX_SENTINELS 8
#define MAX_NODES 64
#define CLOCK_MOVE_MS 250
#define STR_(x) #x
#define STR(x) STR_(x)

enum { SRC_LOAD, SRC_CHANNEL, SRC_ANSWER };

typedef struct rs_node {
  char id[SIPFLOW_REDIS_NODE_ID_MAX + 1];
  uint64_t deadline; /* Redis ms */
  int alive;
} rs_node;

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
  char nodes_key[RS_PREFIX_MAX + 16];
  uint32_t queue_max, inflight_max, delay_min, delay_max, delay;
  uint32_t beat_ms, node_ttl_ms;
  redisAsyncContext *cmd, *sub, *sent;
  int cmd_up, sub_up;
  char sha[41], beat_sha[41];
  int scan_done;
  uint32_t load_pending;
  rs_list queue, inflight;
  rs_seen_table seen;
  uv_timer_t timer;
  uv_timer_t pace; /* the subscription's reads, batched (on_message) */
  int paced;
  int closing;
  uint32_t beat_out, beats;
  uint64_t beat_sent_ms;
  uint64_t connected_ms; /* wall_ms() when the connection was made */
  int64_t offset_ms, offset_reported;
  int offset_known, offset_ever;
  rs_node nodes[MAX_NODES];
  int nnodes;
  struct {
    char host[64];
    uint16_t port;
  } sentinels[MAX_SENTINELS];
  int nsentinels, sidx;
  char master_name[128];
  sipflow_redis_stats st;
};

static void start_connect(sipflow_redis *r);
static void lost(sipflow_redis *r, const redisAsyncContext *gone);
static void pump(sipflow_redis *r);
static void send_beat(sipflow_redis *r);

static void event(sipflow_redis *r, int ev) {
  if (r->cb.on_event)
    r->cb.on_event(r, ev, r->ud);
}

static uint64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Seconds now on Redis's clock, as far as we know it. */
static uint64_t redis_unix_s(const sipflow_redis *r) {
  return (uint64_t)((int64_t)wall_ms() + r->offset_ms) / 1000;
}

static int is_str(const redisReply *rep, const char *s) {
  return rep->type == REDIS_REPLY_STRING && rep->len == strlen(s) &&
         memcmp(rep->str, s, rep->len) == 0;
}

static uint64_t reply_u64(const redisReply *rep) {
  if (rep->type == REDIS_REPLY_INTEGER)
    return rep->integer > 0 ? (uint64_t)rep->integer : 0;
  if (rep->type == REDIS_REPLY_STRING)
    return strtoull(rep->str, NULL, 10);
  return 0;
}

/* ---- losing the connection and retrying -----------------------------------
 */

/* One timer, three jobs: the retry delay while down, the connect deadline
 * while connecting, the heartbeat while up. */
static void on_timer(uv_timer_t *t) {
  sipflow_redis *r = t->data;
  if (r->st.connected) {
    if (r->beat_out >= BEAT_MISSES) {
      lost(r, NULL);
      return;
    }
    send_beat(r);
    if (++r->beats % SWEEP_BEATS == 0)
      rs_seen_sweep(&r->seen, redis_unix_s(r));
    uv_timer_start(&r->timer, on_timer, r->beat_ms, 0);
  } else if (r->cmd || r->sub || r->sent) {
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

/* Any connection failed or ended: drop the others too, and retry.
 * |gone| is the context hiredis is freeing itself (or NULL). */
static void lost(sipflow_redis *r, const redisAsyncContext *gone) {
  redisAsyncContext *c = r->cmd, *s = r->sub, *q = r->sent;
  int was_up = r->st.connected;
  if (r->closing)
    return;
  r->cmd = r->sub = r->sent = NULL;
  r->cmd_up = r->sub_up = 0;
  r->st.connected = 0;
  uv_timer_stop(&r->pace);
  r->paced = 0;
  r->sha[0] = r->beat_sha[0] = '\0';
  /* Next time, the next Sentinel: this one may be the one that is down. */
  if (r->nsentinels)
    r->sidx = (r->sidx + 1) % r->nsentinels;
  /* Unanswered writes come back to the queue from these frees. */
  if (c && c != gone)
    redisAsyncFree(c);
  if (s && s != gone)
    redisAsyncFree(s);
  if (q && q != gone)
    redisAsyncFree(q);
  schedule_retry(r);
  if (was_up)
    event(r, SIPFLOW_REDIS_EVENT_DISCONNECTED);
}

/* ---- records in -------------------------------------------------------------
 */

static void hand(sipflow_redis *r, const uint8_t *frame, size_t len,
                 uint64_t version, int src, int offer) {
  const char *node;
  const uint8_t *rec;
  size_t nl, rl;
  sipflow_change c;
  char key[RS_KEY_MAX];
  int own;
  if (rs_unframe(frame, len, &node, &nl, &rec, &rl) != 0 ||
      sipflow_change_decode(rec, rl, &c) != 0 ||
      rs_key(r->prefix, &c, key, sizeof(key)) < 0) {
    r->st.undecodable++;
    return;
  }
  own = nl == strlen(r->node) && memcmp(node, r->node, nl) == 0;
  if (offer) {
    rs_seen *s = rs_seen_get(&r->seen, key, 1);
    if (s) {
      if (rs_seen_offer(s, version, frame, len) != RS_DELIVER)
        return;
      s->until = c.op == SIPFLOW_CHANGE_DEL
                     ? redis_unix_s(r) + SIPFLOW_REDIS_TOMBSTONE_SECONDS
                     : rs_expire_at(&c);
    }
  }
  if (src == SRC_CHANNEL && own)
    return; /* our own, back from the channel */
  if (src == SRC_LOAD)
    r->st.loaded++;
  else
    r->st.received++;
  c.version = version;
  if (r->cb.on_change)
    r->cb.on_change(r, &c, node, nl, src == SRC_LOAD || own, r->ud);
}

/* What waited for the node's own writes of |key|, once they are answered. */
static void release_held(sipflow_redis *r, const char *key) {
  rs_seen *s = rs_seen_get(&r->seen, key, 0);
  uint8_t *held;
  size_t len;
  uint64_t v;
  if (s && (held = rs_seen_take_held(s, &len, &v)) != NULL) {
    hand(r, held, len, v, SRC_CHANNEL, 0);
    free(held);
  }
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
  /* A key that expired between SCAN and HMGET is nil: nothing to load. */
  if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
      rep->element[0]->type == REDIS_REPLY_STRING &&
      rep->element[1]->type == REDIS_REPLY_STRING)
    hand(r, (const uint8_t *)rep->element[1]->str, rep->element[1]->len,
         reply_u64(rep->element[0]), SRC_LOAD, 1);
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
    const char *argv[4] = {"HMGET", k->str, "v", "r"};
    size_t lens[4] = {5, k->len, 1, 1};
    if (k->type == REDIS_REPLY_STRING &&
        redisAsyncCommandArgv(ac, on_value, r, 4, argv, lens) == REDIS_OK)
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

/* Other nodes' records need not be read the instant they come: after a
 * record the subscription is not read for SUB_PACE_MS, so that the
 * records arriving meanwhile cost one wake-up and one read, not one
 * each. */
#define SUB_PACE_MS 5

/* The subscription is read again: what came meanwhile, in one read. */
static void pace_end(sipflow_redis *r) {
  r->paced = 0;
  if (r->sub && !r->closing && r->sub->ev.addRead)
    r->sub->ev.addRead(r->sub->ev.data);
}

/* The two paced jobs of a node, its writes (redis_uv.c) and its reads of
 * the subscription, share their wake-ups: whichever timer fires first does
 * both. */
static void on_pace(uv_timer_t *t) {
  sipflow_redis *r = t->data;
  pace_end(r);
  if (!r->closing)
    rs_uv_flush_now(r->cmd);
}

static void on_cmd_flushed(void *arg) {
  sipflow_redis *r = arg;
  if (!r->paced || r->closing)
    return;
  uv_timer_stop(&r->pace);
  pace_end(r);
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
    uint64_t v;
    const char *frame;
    size_t flen;
    if (rs_unversion(rep->element[2]->str, rep->element[2]->len, &v, &frame,
                     &flen) != 0)
      r->st.undecodable++;
    else
      hand(r, (const uint8_t *)frame, flen, v, SRC_CHANNEL, 1);
    if (!r->paced && ac == r->sub && ac->ev.delRead) {
      ac->ev.delRead(ac->ev.data);
      r->paced = 1;
      uv_timer_start(&r->pace, on_pace, SUB_PACE_MS, 0);
    }
  } else if (is_str(rep->element[0], "subscribe") && !r->st.connected) {
    r->st.connected = 1;
    r->connected_ms = wall_ms();
    r->st.connects++;
    r->delay = r->delay_min;
    r->beat_out = 0;
    send_beat(r);
    uv_timer_start(&r->timer, on_timer, r->beat_ms, 0);
    r->scan_done = 0;
    r->load_pending = 0;
    send_scan(r, "0");
    pump(r);
    event(r, SIPFLOW_REDIS_EVENT_CONNECTED);
    load_check_done(r);
  }
}

/* ---- the heartbeat: Redis's clock and the nodes' liveness -----------------
 */

static rs_node *node_find(sipflow_redis *r, const char *id, size_t len) {
  for (int i = 0; i < r->nnodes; i++)
    if (strlen(r->nodes[i].id) == len && memcmp(r->nodes[i].id, id, len) == 0)
      return &r->nodes[i];
  return NULL;
}

static int read_nodes(sipflow_redis *r, const redisReply *all,
                      uint64_t now_ms) {
  int changed = 0;
  /* Within a TTL of our (re)connection a lapsed deadline says nothing:
   * the others may have been cut off with us and not beaten since. */
  int fresh = wall_ms() - r->connected_ms < r->node_ttl_ms;
  for (size_t i = 0; i + 1 < all->elements; i += 2) {
    const redisReply *k = all->element[i], *v = all->element[i + 1];
    rs_node *n;
    int alive;
    if (k->type != REDIS_REPLY_STRING || k->len == 0 ||
        k->len > SIPFLOW_REDIS_NODE_ID_MAX)
      continue;
    if (!(n = node_find(r, k->str, k->len))) {
      if (r->nnodes == MAX_NODES)
        continue;
      n = &r->nodes[r->nnodes++];
      memcpy(n->id, k->str, k->len);
      n->id[k->len] = '\0';
      n->alive = -1;
    }
    n->deadline = reply_u64(v);
    alive = n->deadline > now_ms;
    if (!alive && fresh)
      alive = -1;
    if (alive != n->alive)
      changed = 1;
    n->alive = alive;
  }
  return changed;
}

static void on_beat(redisAsyncContext *ac, void *reply, void *priv) {
  sipflow_redis *r = priv;
  redisReply *rep = reply;
  uint64_t t1 = wall_ms(), redis_ms;
  int64_t off;
  (void)ac;
  if (!rep || r->closing)
    return;
  r->beat_out = 0;
  if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
      rep->element[2]->type != REDIS_REPLY_ARRAY)
    return;
  redis_ms =
      reply_u64(rep->element[0]) * 1000 + reply_u64(rep->element[1]) / 1000;
  off = (int64_t)redis_ms - (int64_t)((r->beat_sent_ms + t1) / 2);
  r->offset_ms = off;
  r->offset_known = 1;
  if (read_nodes(r, rep->element[2], redis_ms))
    event(r, SIPFLOW_REDIS_EVENT_NODES);
  if (!r->offset_ever || off - r->offset_reported > CLOCK_MOVE_MS ||
      r->offset_reported - off > CLOCK_MOVE_MS) {
    r->offset_ever = 1;
    r->offset_reported = off;
    event(r, SIPFLOW_REDIS_EVENT_CLOCK);
  }
}

static void send_beat(sipflow_redis *r) {
  char ttl[16];
  const char *argv[6] = {r->beat_sha[0] ? "EVALSHA" : "EVAL",
                         r->beat_sha[0] ? r->beat_sha : rs_beat_script,
                         "1",
                         r->nodes_key,
                         r->node,
                         ttl};
  size_t lens[6];
  snprintf(ttl, sizeof(ttl), "%" PRIu32, r->node_ttl_ms);
  for (int i = 0; i < 6; i++)
    lens[i] = strlen(argv[i]);
  r->beat_out++;
  r->beat_sent_ms = wall_ms();
  if (r->cmd)
    redisAsyncCommandArgv(r->cmd, on_beat, r, 6, argv, lens);
}

/* ---- connecting
 * --------------------------------------------------------------- */

static void on_handshake(redisAsyncContext *ac, void *reply, void *priv);

static void send_load(sipflow_redis *r, const char *script, char *sha) {
  const char *argv[3] = {"SCRIPT", "LOAD", script};
  size_t lens[3] = {6, 4, strlen(script)};
  if (redisAsyncCommandArgv(r->cmd, on_handshake, sha, 3, argv, lens) !=
      REDIS_OK)
    lost(r, NULL);
}

/* ROLE, then the two SCRIPT LOADs, then SUBSCRIBE. |priv| says which:
 * the client itself for ROLE, else the sha buffer to fill. */
static void on_handshake(redisAsyncContext *ac, void *reply, void *priv) {
  sipflow_redis *r = ac->data;
  redisReply *rep = reply;
  if (!rep || r->closing || ac != r->cmd)
    return;
  if (priv == r) { /* ROLE */
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
        !is_str(rep->element[0], "master")) {
      lost(r, NULL); /* a replica (a demoted master): ask again */
      return;
    }
    send_load(r, rs_script, r->sha);
    send_load(r, rs_beat_script, r->beat_sha);
    return;
  }
  if (rep->type != REDIS_REPLY_STRING || rep->len != 40) {
    lost(r, NULL);
    return;
  }
  memcpy(priv, rep->str, 40);
  ((char *)priv)[40] = '\0';
  if (priv == r->beat_sha) {
    const char *argv[2] = {"SUBSCRIBE", r->channel};
    size_t lens[2] = {9, strlen(r->channel)};
    if (redisAsyncCommandArgv(r->sub, on_message, r, 2, argv, lens) != REDIS_OK)
      lost(r, NULL);
  }
}

static void both_up(sipflow_redis *r) {
  const char *argv[1] = {"ROLE"};
  size_t lens[1] = {4};
  /* Connected: the handshake (ROLE, two SCRIPT LOADs, SUBSCRIBE) gets a
   * deadline of its own. */
  uv_timer_start(&r->timer, on_timer, 2 * CONNECT_TIMEOUT_MS, 0);
  if (redisAsyncCommandArgv(r->cmd, on_handshake, r, 1, argv, lens) != REDIS_OK)
    lost(r, NULL);
}

static void on_connect(const redisAsyncContext *ac, int status) {
  sipflow_redis *r = ac->data;
  if (r->closing)
    return;
  if (ac != r->cmd && ac != r->sub && ac != r->sent)
    return; /* one we let go already */
  if (status != REDIS_OK) {
    /* hiredis frees |ac| after this returns. */
    if (ac == r->cmd)
      r->cmd = NULL;
    if (ac == r->sub)
      r->sub = NULL;
    if (ac == r->sent)
      r->sent = NULL;
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
  if (ac != r->cmd && ac != r->sub && ac != r->sent)
    return; /* one we let go (lost(), or a Sentinel that answered) */
  if (ac == r->sent)
    r->sent = NULL;
  if (ac == r->cmd)
    r->cmd = NULL;
  if (ac == r->sub)
    r->sub = NULL;
  lost(r, ac);
}

static redisAsyncContext *open_one(sipflow_redis *r, const char *host,
                                   uint16_t port) {
  redisAsyncContext *ac = redisAsyncConnect(host, port);
  if (!ac)
    return NULL;
  ac->data = r;
  if (ac->err || rs_uv_attach(ac, r->loop) != REDIS_OK) {
    redisAsyncFree(ac);
    return NULL;
  }
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  return ac;
}

static void open_pair(sipflow_redis *r) {
  /* Non-blocking connect to a numeric address: returns at once. */
  r->cmd = open_one(r, r->host, r->port);
  if (r->cmd)
    rs_uv_also(r->cmd, on_cmd_flushed, r);
  r->sub = r->cmd ? open_one(r, r->host, r->port) : NULL;
  if (!r->cmd || !r->sub)
    lost(r, NULL);
}

/* SENTINEL get-master-addr-by-name: ["ip", "port"] or nil. */
static void on_master_addr(redisAsyncContext *ac, void *reply, void *priv) {
  sipflow_redis *r = priv;
  redisReply *rep = reply;
  unsigned long port;
  if (!rep || r->closing || ac != r->sent)
    return;
  if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
      rep->element[0]->type != REDIS_REPLY_STRING ||
      rep->element[1]->type != REDIS_REPLY_STRING ||
      rep->element[0]->len >= sizeof(r->host) ||
      (port = strtoul(rep->element[1]->str, NULL, 10)) == 0 || port > 65535) {
    lost(r, NULL);
    return;
  }
  memcpy(r->host, rep->element[0]->str, rep->element[0]->len);
  r->host[rep->element[0]->len] = '\0';
  r->port = (uint16_t)port;
  /* Done with the Sentinel: hiredis frees it after this callback. */
  r->sent = NULL;
  redisAsyncFree(ac);
  open_pair(r);
}

static void on_sentinel_connect(const redisAsyncContext *ac, int status) {
  sipflow_redis *r = ac->data;
  if (r->closing || status == REDIS_OK || ac != r->sent)
    return;
  if (ac == r->sent)
    r->sent = NULL;
  lost(r, ac);
}

static void start_connect(sipflow_redis *r) {
  uv_timer_start(&r->timer, on_timer, CONNECT_TIMEOUT_MS, 0);
  if (!r->nsentinels) {
    open_pair(r);
    return;
  }
  r->sent = open_one(r, r->sentinels[r->sidx].host, r->sentinels[r->sidx].port);
  if (r->sent) {
    const char *argv[3] = {"SENTINEL", "get-master-addr-by-name",
                           r->master_name};
    size_t lens[3] = {8, 23, strlen(r->master_name)};
    redisAsyncSetConnectCallback(r->sent, on_sentinel_connect);
    if (redisAsyncCommandArgv(r->sent, on_master_addr, r, 3, argv, lens) ==
        REDIS_OK)
      return;
  }
  lost(r, NULL);
}

/* ---- records out
 * ---------------------------------------------------------------- */

static int send_entry(sipflow_redis *r, rs_entry *e, int eval);

/* One own write of the identity is over (answered, refused, dropped). */
static void answered(sipflow_redis *r, rs_entry *e, int accepted,
                     uint64_t version) {
  rs_seen *s = rs_seen_get(&r->seen, e->key, 0);
  if (!s)
    return;
  rs_seen_answered(s, accepted, version);
  if (accepted && e->until > s->until)
    s->until = e->until;
}

static void on_written(redisAsyncContext *ac, void *reply, void *priv) {
  rs_entry *e = priv;
  sipflow_redis *r = ac->data;
  redisReply *rep = reply;
  char key[RS_KEY_MAX];
  rs_list_remove(&r->inflight, e);
  if (!rep) {
    /* The connection went: send it again on the next one. */
    if (r->closing)
      rs_entry_free(e);
    else
      rs_list_push_head(&r->queue, e);
    return;
  }
  if (rep->type == REDIS_REPLY_ERROR) {
    if (strncmp(rep->str, "NOSCRIPT", 8) == 0 && !e->evaled &&
        send_entry(r, e, 1) == 0)
      return; /* sent whole, which loads it again */
    if (strncmp(rep->str, "READONLY", 8) == 0 ||
        strncmp(rep->str, "LOADING", 7) == 0 ||
        strncmp(rep->str, "MASTERDOWN", 10) == 0) {
      /* A master demoted under us, or not ready: find it again. */
      rs_list_push_head(&r->queue, e);
      lost(r, NULL);
      return;
    }
    r->st.dropped++; /* out of memory, script refused */
    answered(r, e, 0, 0);
  } else if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 2) {
    int won = rep->element[0]->type == REDIS_REPLY_INTEGER &&
              rep->element[0]->integer == 1;
    uint64_t v = reply_u64(rep->element[1]);
    r->st.written++;
    answered(r, e, won, v);
    if (!won) {
      r->st.superseded++;
      /* The winner, in case its publish has not reached us (or went to
       * another connection before ours). */
      if (rep->elements == 3 && rep->element[2]->type == REDIS_REPLY_STRING)
        hand(r, (const uint8_t *)rep->element[2]->str, rep->element[2]->len, v,
             SRC_ANSWER, 1);
    }
  } else {
    r->st.dropped++;
    answered(r, e, 0, 0);
  }
  snprintf(key, sizeof(key), "%s", e->key);
  rs_entry_free(e);
  release_held(r, key);
  pump(r);
}

static int send_entry(sipflow_redis *r, rs_entry *e, int eval) {
  const char *argv[14] = {eval ? "EVAL" : "EVALSHA",
                          eval ? rs_script : r->sha,
                          "1",
                          e->key,
                          e->mode,
                          e->base,
                          (const char *)e->val,
                          e->expire_at,
                          r->channel,
                          e->op,
                          STR(SIPFLOW_REDIS_TOMBSTONE_SECONDS),
                          e->call_id,
                          e->cseq,
                          r->node};
  size_t lens[14];
  if (e->mode[0] == '0' + SIPFLOW_REDIS_WRITE_RESTORE) {
    rs_seen *s = rs_seen_get(&r->seen, e->key, 0);
    snprintf(e->base, sizeof(e->base), "%" PRIu64, s ? s->version : 0);
  }
  for (int i = 0; i < 14; i++)
    lens[i] = strlen(argv[i]);
  lens[6] = e->val_len;
  lens[11] = e->call_id_len;
  e->evaled = (uint8_t)(e->evaled || eval);
  if (!r->cmd ||
      redisAsyncCommandArgv(r->cmd, on_written, e, 14, argv, lens) != REDIS_OK)
    return -1;
  rs_list_push_tail(&r->inflight, e);
  return 0;
}

static void pump(sipflow_redis *r) {
  while (r->st.connected && r->cmd && r->queue.head &&
         r->inflight.n < r->inflight_max) {
    rs_entry *e = rs_list_pop_head(&r->queue);
    if (send_entry(r, e, !r->sha[0]) != 0) {
      rs_list_push_head(&r->queue, e);
      return;
    }
  }
}

int sipflow_redis_write_as(sipflow_redis *r, const sipflow_change *c,
                           int mode) {
  rs_entry *e;
  rs_seen *s;
  int err;
  if (!r || !c)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  e = rs_entry_new_mode(r->prefix, r->node, c, mode, &err);
  if (!e)
    return err;
  s = rs_seen_get(&r->seen, e->key, 0);
  if (mode == SIPFLOW_REDIS_WRITE_RESTORE && s && s->pending) {
    /* A write of ours is on its way: it says more than a restore. */
    rs_entry_free(e);
    return 0;
  }
  /* Past the bound, the oldest waiting write goes. */
  while (r->queue.n >= r->queue_max && r->queue.head) {
    rs_entry *old = rs_list_pop_head(&r->queue);
    char key[RS_KEY_MAX];
    r->st.dropped++;
    answered(r, old, 0, 0);
    snprintf(key, sizeof(key), "%s", old->key);
    rs_entry_free(old);
    release_held(r, key);
  }
  if ((s = rs_seen_get(&r->seen, e->key, 1)) != NULL)
    s->pending++;
  rs_list_push_tail(&r->queue, e);
  pump(r);
  return 0;
}

int sipflow_redis_write(sipflow_redis *r, const sipflow_change *c) {
  return sipflow_redis_write_as(r, c, SIPFLOW_REDIS_WRITE_NEW);
}

/* ---- life
 * ------------------------------------------------------------------------ */

void sipflow_redis_settings_default_versioned(int settings_version,
                                              sipflow_redis_settings *s) {
  if (!s)
    return;
  /* A V1 caller's struct ends before the V2 members. */
  memset(s, 0,
         settings_version >= SIPFLOW_REDIS_SETTINGS_V2
             ? sizeof(*s)
             : offsetof(sipflow_redis_settings, sentinels));
  s->host = "127.0.0.1";
  s->port = 6379;
  s->prefix = "sipflow";
  s->queue_max = 10000;
  s->inflight_max = 1024;
  s->reconnect_min_ms = 100;
  s->reconnect_max_ms = 5000;
  if (settings_version < SIPFLOW_REDIS_SETTINGS_V2)
    return;
  s->master_name = "mymaster";
  s->heartbeat_ms = 1000;
  s->node_ttl_ms = 3000;
}

static int copy_str(char *dst, size_t cap, const char *src, int need) {
  size_t n = src ? strlen(src) : 0;
  if ((need && n == 0) || n >= cap)
    return -1;
  memcpy(dst, src ? src : "", n + 1);
  return 0;
}

/* "HOST:PORT[,HOST:PORT]..." into r->sentinels; 0 or -1. */
static int parse_sentinels(sipflow_redis *r, const char *list) {
  const char *p = list;
  while (*p) {
    char one[96], url[110];
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    if (n == 0 || n >= sizeof(one) || r->nsentinels == MAX_SENTINELS)
      return -1;
    memcpy(one, p, n);
    one[n] = '\0';
    snprintf(url, sizeof(url), "redis://%s", one);
    if (!strchr(one, ':') ||
        sipflow_redis_url_parse(url, r->sentinels[r->nsentinels].host,
                                sizeof(r->sentinels[0].host),
                                &r->sentinels[r->nsentinels].port) != 0)
      return -1;
    r->nsentinels++;
    if (!comma)
      return 0;
    p = comma + 1;
  }
  return -1; /* empty, or a trailing comma */
}

int sipflow_redis_new_versioned(sipflow_redis **pr, uv_loop_t *loop,
                                int callbacks_version,
                                const sipflow_redis_callbacks *callbacks,
                                int settings_version,
                                const sipflow_redis_settings *in,
                                void *user_data) {
  sipflow_redis *r;
  sipflow_redis_settings s;
  if (!pr || !loop || !in || callbacks_version != SIPFLOW_REDIS_CALLBACKS_V1 ||
      (settings_version != SIPFLOW_REDIS_SETTINGS_V1 &&
       settings_version != SIPFLOW_REDIS_SETTINGS_V2))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  *pr = NULL;
  sipflow_redis_settings_default(&s);
  memcpy(&s, in,
         settings_version == SIPFLOW_REDIS_SETTINGS_V2
             ? sizeof(s)
             : offsetof(sipflow_redis_settings, sentinels));
  if (!(r = calloc(1, sizeof(*r))))
    return SIPFLOW_ERR_NOMEM;
  if (copy_str(r->host, sizeof(r->host), s.host, 1) ||
      copy_str(r->node, sizeof(r->node), s.node_id, 1) ||
      copy_str(r->prefix, sizeof(r->prefix), s.prefix, 1) || !s.port ||
      copy_str(r->master_name, sizeof(r->master_name),
               s.master_name ? s.master_name : "mymaster", 1) ||
      (s.sentinels && s.sentinels[0] && parse_sentinels(r, s.sentinels))) {
    free(r);
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  }
  snprintf(r->channel, sizeof(r->channel), "%s:changes", r->prefix);
  snprintf(r->match, sizeof(r->match), "%s:[bek]:*", r->prefix);
  snprintf(r->nodes_key, sizeof(r->nodes_key), "%s:nodes", r->prefix);
  r->loop = loop;
  if (callbacks)
    r->cb = *callbacks;
  r->ud = user_data;
  r->port = s.port;
  r->queue_max = s.queue_max ? s.queue_max : 1;
  r->inflight_max = s.inflight_max ? s.inflight_max : 1;
  r->delay_min = r->delay = s.reconnect_min_ms ? s.reconnect_min_ms : 1;
  r->delay_max =
      s.reconnect_max_ms < r->delay_min ? r->delay_min : s.reconnect_max_ms;
  r->beat_ms = s.heartbeat_ms ? s.heartbeat_ms : 1000;
  r->node_ttl_ms = s.node_ttl_ms ? s.node_ttl_ms : 3 * r->beat_ms;
  uv_timer_init(loop, &r->timer);
  r->timer.data = r;
  uv_timer_init(loop, &r->pace);
  r->pace.data = r;
  start_connect(r);
  *pr = r;
  return 0;
}

static void on_timer_closed(uv_handle_t *h) {
  sipflow_redis *r = h->data;
  rs_seen_clear(&r->seen);
  free(r);
}

/* Then the other timer, whose close frees |r|. */
static void on_pace_closed(uv_handle_t *h) {
  sipflow_redis *r = h->data;
  uv_close((uv_handle_t *)&r->timer, on_timer_closed);
}

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
  if (r->sent)
    redisAsyncFree(r->sent);
  r->cmd = r->sub = r->sent = NULL;
  rs_list_clear(&r->queue);
  rs_list_clear(&r->inflight);
  uv_timer_stop(&r->timer);
  uv_timer_stop(&r->pace);
  uv_close((uv_handle_t *)&r->pace, on_pace_closed);
}

int sipflow_redis_get_stats(const sipflow_redis *r, sipflow_redis_stats *out) {
  if (!r || !out)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  *out = r->st;
  out->queued = r->queue.n;
  out->inflight = r->inflight.n;
  return 0;
}

int sipflow_redis_clock_offset(const sipflow_redis *r, int64_t *offset_ms) {
  if (!r || !offset_ms)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (!r->offset_known)
    return SIPFLOW_ERR_NOT_FOUND;
  *offset_ms = r->offset_ms;
  return 0;
}

int sipflow_redis_node_alive(const sipflow_redis *r, const char *node,
                             size_t len) {
  const rs_node *n;
  if (!r || !node)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (!r->st.connected)
    return SIPFLOW_ERR_NOT_FOUND;
  n = node_find((sipflow_redis *)r, node, len);
  if (!n || n->alive < 0)
    return SIPFLOW_ERR_NOT_FOUND;
  return n->alive;
}

int sipflow_redis_server(const sipflow_redis *r, char *host, size_t hostlen,
                         uint16_t *port) {
  if (!r || !host || !port)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (strlen(r->host) >= hostlen)
    return SIPFLOW_ERR_BUFFER_TOO_SMALL;
  memcpy(host, r->host, strlen(r->host) + 1);
  *port = r->port;
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
