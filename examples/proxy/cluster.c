/*
 * sipflow-proxy: --redis URL --node-id NAME. Registrar nodes share their
 * bindings through libsipflow-redis, and each node stays the edge for the
 * flows it holds:
 * - a binding registered here is published with a first Path value naming
 *   this node and carrying the flow's token (RFC 5626 §5.1), so the other
 *   nodes reach the phone through us and we forward over the flow; only we
 *   keep the flow alive, so no phone is pinged twice;
 * - a binding from another node is applied with no flow of ours: no
 *   keepalive here; if it replaces one we held (the phone moved), our
 *   keepalive for the old flow ends;
 * - a flow that fails removes its bindings here, and the DEL records remove
 *   them everywhere;
 * - after a restart, our own records come back from the load: UDP ones get
 *   their flow again, stream ones (their connection died with us) are
 *   deleted everywhere;
 * - on every (re)connection we write every binding we hold again (with its
 *   original version, so newer records elsewhere still win): a Redis that
 *   restarted empty is filled again, and what changed while it was away
 *   reaches the others.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uthash.h>

#include <sipflow/changes.h>
#include <sipflow/edge.h>
#include <sipflow/sipflow_redis.h>

#include "proxy.h"

/* Bindings whose flow we keep alive: binding id -> flow, so that a record
 * from elsewhere that takes a binding over can end our keepalive. */
typedef struct held {
  uint64_t binding;
  sipflow_flow_id flow;
  UT_hash_handle hh;
} held;

struct px_cluster {
  held *held;
};

static uint64_t unix_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- what we publish ------------------------------------------------------
 */

/* "<sip:TOKEN@us;transport=..;lr;ob>" for the flow, then the binding's own
 * Path, if any. */
static int own_path(px *p, const sipflow_reg_binding *b, char *buf, size_t cap,
                    size_t *len) {
  char token[SIPFLOW_TOKEN_BUFLEN], host[300];
  size_t tlen, n;
  sipflow_edge_local local;
  uint16_t port;
  if (sipflow_flow_token(p->flows, b->flow_id, token, sizeof(token), &tlen) !=
      0)
    return -1;
  px_advertise(p, b->flow.transport, b->flow.local.family, host, sizeof(host),
               &port);
  local.host = host;
  local.port = port;
  local.transport = b->flow.transport;
  if (sipflow_edge_format_uri(&local, token, tlen, SIPFLOW_EDGE_URI_OB, buf,
                              cap, &n) != 0)
    return -1;
  if (b->path.len) {
    if (n + 2 + b->path.len >= cap)
      return -1;
    memcpy(buf + n, ", ", 2);
    memcpy(buf + n + 2, b->path.ptr, b->path.len);
    n += 2 + b->path.len;
  }
  *len = n;
  return 0;
}

static void publish(px *p, sipflow_reg_change change,
                    const sipflow_reg_binding *b, uint64_t version) {
  sipflow_change c;
  char path[2400];
  size_t plen;
  if (sipflow_change_from_binding(&c, change, b, version, unix_ms() / 1000,
                                  sipflow_uv_now()) != 0)
    return;
  /* A removal names the binding by identity: no Path needed (and a failed
   * flow has no token any more). */
  if (c.op == SIPFLOW_CHANGE_DEL) {
    if (sipflow_redis_write(p->redis, &c) != 0)
      px_log(p, SIPFLOW_LOG_ERROR, "cluster: cannot queue a record");
    return;
  }
  if (own_path(p, b, path, sizeof(path), &plen) != 0) {
    px_log(p, SIPFLOW_LOG_WARN, "cluster: no Path for flow %llu",
           (unsigned long long)b->flow_id);
    return;
  }
  c.u.binding.path.ptr = path;
  c.u.binding.path.len = plen;
  c.u.binding.n_path++;
  if (sipflow_redis_write(p->redis, &c) != 0)
    px_log(p, SIPFLOW_LOG_ERROR, "cluster: cannot queue a record");
}

static void hold(px *p, const sipflow_reg_binding *b, int present) {
  held *h;
  HASH_FIND(hh, p->cluster->held, &b->id, sizeof(b->id), h);
  if (h && h->flow != b->flow_id && present && p->ka)
    /* Another node took the binding over: the old flow is not ours to
     * keep alive any more (a removal ends it through px_ka_binding). */
    sipflow_keepalive_reason_end(p->ka, h->flow, SIPFLOW_KEEPALIVE_REGISTRATION,
                                 b->id, sipflow_uv_now());
  if (present && b->flow_id) {
    if (!h && (h = calloc(1, sizeof(*h))) != NULL) {
      h->binding = b->id;
      HASH_ADD(hh, p->cluster->held, binding, sizeof(h->binding), h);
    }
    if (h)
      h->flow = b->flow_id;
  } else if (h) {
    HASH_DEL(p->cluster->held, h);
    free(h);
  }
}

void px_cluster_binding(px *p, sipflow_reg_change change,
                        const sipflow_reg_binding *b) {
  int present = change == SIPFLOW_REG_ADDED ||
                change == SIPFLOW_REG_REFRESHED ||
                change == SIPFLOW_REG_UPDATED;
  if (!p->redis)
    return;
  hold(p, b, present);
  /* Only the node holding the flow speaks for a binding; records applied
   * from Redis are not written back. */
  if (p->restoring || !b->flow_id)
    return;
  publish(p, change, b,
          sipflow_change_version_next(&p->change_version, unix_ms()));
}

/* ---- what we receive --------------------------------------------------------
 */

/* Our own first Path value, written before a restart: "...@HOST:PORT;". */
static int strip_own_path(px *p, sipflow_change_binding *b) {
  char host[300], mark[320];
  uint16_t port;
  const char *gt;
  size_t skip;
  px_advertise(p, b->flow.transport, b->flow.local.family, host, sizeof(host),
               &port);
  snprintf(mark, sizeof(mark), "@%s:%u;", host, port);
  /* The path is a view, not NUL-terminated: bounded searches only. */
  gt = b->path.len ? memchr(b->path.ptr, '>', b->path.len) : NULL;
  if (!gt ||
      !memmem(b->path.ptr, (size_t)(gt - b->path.ptr), mark, strlen(mark)))
    return -1;
  skip = (size_t)(gt - b->path.ptr) + 1;
  while (skip < b->path.len &&
         (b->path.ptr[skip] == ',' || b->path.ptr[skip] == ' '))
    skip++;
  b->path.ptr += skip;
  b->path.len -= skip;
  b->n_path--;
  return 0;
}

static void apply(px *p, sipflow_change *c, const char *what) {
  int rv;
  p->restoring = 1;
  rv = sipflow_change_apply_binding(p->reg, c, unix_ms() / 1000,
                                    sipflow_uv_now());
  p->restoring = 0;
  if (rv != 0 && rv != SIPFLOW_ERR_STALE)
    px_log(p, SIPFLOW_LOG_WARN, "cluster: %s record refused: %s", what,
           sipflow_strerror(rv));
}

static void on_change(sipflow_redis *r, const sipflow_change *rec,
                      const char *origin, size_t origin_len, int loaded,
                      void *ud) {
  px *p = ud;
  sipflow_change c = *rec;
  int own = origin_len == strlen(p->cfg.node_id) &&
            memcmp(origin, p->cfg.node_id, origin_len) == 0;
  (void)r;
  if (c.kind != SIPFLOW_CHANGE_BINDING || !p->reg)
    return;
  if (!own) {
    c.u.binding.flow_id = 0; /* reached through the Path, not a flow here */
    apply(p, &c, "a node's");
    return;
  }
  /* Ours, from before a restart (a PUT; a DEL changes nothing here). */
  if (!loaded || c.op != SIPFLOW_CHANGE_PUT ||
      strip_own_path(p, &c.u.binding) != 0)
    return;
  c.u.binding.flow_id = px_restored_flow(p, &c.u.binding.flow);
  if (c.u.binding.flow_id) {
    apply(p, &c, "our own");
    return;
  }
  /* Its connection died with the old process: gone everywhere. */
  c = *rec;
  c.op = SIPFLOW_CHANGE_DEL;
  c.version = sipflow_change_version_next(&p->change_version, unix_ms());
  sipflow_redis_write(p->redis, &c);
}

/* Every binding we hold, again, with the version of its last update. */
static int reseed_one(const sipflow_reg_binding *b, void *ud) {
  px *p = ud;
  uint64_t now_ms = unix_ms();
  uint64_t age_ms = (sipflow_uv_now() - b->updated_at) / 1000000;
  if (b->flow_id)
    publish(p, SIPFLOW_REG_REFRESHED, b,
            age_ms < now_ms ? now_ms - age_ms : now_ms);
  return 0;
}

static void on_event(sipflow_redis *r, int ev, void *ud) {
  px *p = ud;
  sipflow_redis_stats st;
  sipflow_redis_get_stats(r, &st);
  switch (ev) {
  case SIPFLOW_REDIS_EVENT_CONNECTED:
    px_log(p, SIPFLOW_LOG_INFO,
           "cluster: redis connected (%llu queued changes replayed)",
           (unsigned long long)st.inflight);
    if (p->reg)
      sipflow_registrar_foreach(p->reg, sipflow_uv_now(), reseed_one, p);
    break;
  case SIPFLOW_REDIS_EVENT_LOADED:
    px_log(p, SIPFLOW_LOG_INFO, "cluster: state loaded (%llu records)",
           (unsigned long long)st.loaded);
    break;
  default:
    px_log(p, SIPFLOW_LOG_WARN,
           "cluster: redis lost; serving from memory, queueing changes");
    break;
  }
}

/* ---- life ------------------------------------------------------------------
 */

int px_cluster_open(px *p) {
  sipflow_redis_settings s;
  sipflow_redis_callbacks cb = {on_change, on_event};
  char host[128];
  uint16_t port;
  int rv;
  if (!p->cfg.redis_url[0])
    return 0;
  if (sipflow_redis_url_parse(p->cfg.redis_url, host, sizeof(host), &port) !=
      0) {
    px_log(p, SIPFLOW_LOG_ERROR, "cluster: bad --redis %s", p->cfg.redis_url);
    return -1;
  }
  if (!(p->cluster = calloc(1, sizeof(*p->cluster))))
    return -1;
  sipflow_redis_settings_default(&s);
  s.host = host;
  s.port = port;
  s.node_id = p->cfg.node_id;
  s.reconnect_max_ms = 1000;
  rv = sipflow_redis_new(&p->redis, p->loop, &cb, &s, p);
  if (rv != 0) {
    px_log(p, SIPFLOW_LOG_ERROR, "cluster: %s", sipflow_strerror(rv));
    return -1;
  }
  px_log(p, SIPFLOW_LOG_INFO, "cluster: node %s, redis %s:%u", p->cfg.node_id,
         host, port);
  return 0;
}

void px_cluster_close(px *p) {
  held *h, *tmp;
  sipflow_redis_del(p->redis);
  p->redis = NULL;
  if (!p->cluster)
    return;
  HASH_ITER(hh, p->cluster->held, h, tmp) {
    HASH_DEL(p->cluster->held, h);
    free(h);
  }
  free(p->cluster);
  p->cluster = NULL;
}
