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
 *   them everywhere unless another node took the binding over meanwhile
 *   (written "if mine");
 * - an unregister (Expires 0, Contact: *) is published by whichever node
 *   it reaches, holding the flow or not;
 * - Redis orders the records of each binding with versions of its own
 *   (sipflow_redis.h); every record the client delivers is newer than
 *   what this node applied, so it is applied as it is, whatever the
 *   node's clock says: Redis and every node keep the same winner;
 * - wall-clock times in records (expiries) are on Redis's clock: this
 *   node's clock corrected by the offset measured at each heartbeat, and
 *   an offset over a second is logged;
 * - after a restart, our own records come back from the load: UDP ones get
 *   their flow again and are written again with its new Path (if Redis
 *   still holds our record), stream ones (their connection died with us)
 *   are deleted everywhere (if still ours); after a reconnection nothing
 *   comes back that we knew, so nothing of ours is touched;
 * - on every (re)connection we write every binding we hold again as a
 *   restore: kept only where Redis lost it (a restart empty, a failover),
 *   else the record Redis holds comes back and wins;
 * - a binding whose Path leads to a node whose heartbeat ran out is not
 *   tried: the request goes to the AoR's other flows at once, or is
 *   answered without waiting for the transaction timeout (route.c asks
 *   px_cluster_path_dead()).
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

/* The edge address ("HOST:PORT" of a first Path value) of each node whose
 * records we received, so that a Path names its node. */
#define PX_CLUSTER_NODES 64
typedef struct edge_of {
  char addr[80];
  char node[65];
} edge_of;

struct px_cluster {
  held *held;
  edge_of edges[PX_CLUSTER_NODES];
  int nedges;
  int64_t offset_ms; /* Redis's clock minus ours */
  int republish;     /* applying our own record with a new flow */
};

/* Wall-clock milliseconds on Redis's clock (ours until it is measured). */
static uint64_t unix_ms(px *p) {
  struct timespec ts;
  uint64_t ms;
  clock_gettime(CLOCK_REALTIME, &ts);
  ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
  return p->cluster ? (uint64_t)((int64_t)ms + p->cluster->offset_ms) : ms;
}

/* ---- what we publish ------------------------------------------------------
 */

/* Where the other nodes reach us: the advertised address, or, in a
 * worker (--workers), its private loopback port over TCP, so that the
 * answers to what another worker forwards come back on that connection
 * and not to the shared public port, which the kernel may give to any
 * worker (docs/proxy.md, "Using more than one core"). */
static void path_hop(px *p, int *transport, int family, char *host,
                     size_t hostlen, uint16_t *port) {
  if (p->cfg.path_port) {
    px_worker_hop(p, host, hostlen, port);
    *transport = SIPFLOW_TRANSPORT_TCP;
    return;
  }
  px_advertise(p, *transport, family, host, hostlen, port);
}

/* "<sip:TOKEN@us;transport=..;lr;ob>" for the flow, then the binding's own
 * Path, if any. */
static int own_path(px *p, const sipflow_reg_binding *b, char *buf, size_t cap,
                    size_t *len) {
  char token[SIPFLOW_TOKEN_BUFLEN], host[300];
  size_t tlen, n;
  sipflow_edge_local local;
  uint16_t port;
  int transport = b->flow.transport;
  if (sipflow_flow_token(p->flows, b->flow_id, token, sizeof(token), &tlen) !=
      0)
    return -1;
  path_hop(p, &transport, b->flow.local.family, host, sizeof(host), &port);
  local.host.ptr = host;
  local.host.len = strlen(host);
  local.port = port;
  local.transport = (uint8_t)transport;
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

/* Redis gives every record its version: the one given here is not used. */
static void publish(px *p, sipflow_reg_change change,
                    const sipflow_reg_binding *b, int mode) {
  sipflow_change c;
  char path[2400];
  size_t plen;
  if (sipflow_change_from_binding(&c, change, b, 0, unix_ms(p) / 1000,
                                  sipflow_uv_now()) != 0)
    return;
  /* A removal names the binding by identity: no Path needed (and a failed
   * flow has no token any more). */
  if (c.op == SIPFLOW_CHANGE_DEL) {
    if (sipflow_redis_write_as(p->redis, &c, mode) != 0)
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
  if (sipflow_redis_write_as(p->redis, &c, mode) != 0)
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
  /* Records applied from Redis are not written back, but for our own
   * restored with a new flow: its new Path, if the record is still ours. */
  if (p->restoring) {
    if (p->cluster->republish && present && b->flow_id)
      publish(p, change, b, SIPFLOW_REDIS_WRITE_IF_MINE);
    return;
  }
  switch (change) {
  case SIPFLOW_REG_REMOVED:
    /* A REGISTER removed it: the phone's word, whoever holds the flow. */
    publish(p, change, b, SIPFLOW_REDIS_WRITE_NEW);
    break;
  case SIPFLOW_REG_EXPIRED:
  case SIPFLOW_REG_FLOW_FAILED:
    /* Our flow failed (or a 430 came back through another node's Path:
     * that node speaks for it): only if the record is still ours. */
    if (b->flow_id)
      publish(p, change, b, SIPFLOW_REDIS_WRITE_IF_MINE);
    break;
  default:
    /* Only the node holding the flow speaks for a binding. */
    if (b->flow_id)
      publish(p, change, b, SIPFLOW_REDIS_WRITE_NEW);
    break;
  }
}

/* ---- what we receive --------------------------------------------------------
 */

/* Our own first Path value, written before a restart: "...@HOST:PORT;". */
static int strip_own_path(px *p, sipflow_change_binding *b) {
  char host[300], mark[320];
  uint16_t port;
  const char *gt;
  size_t skip;
  int transport = b->flow.transport;
  path_hop(p, &transport, b->flow.local.family, host, sizeof(host), &port);
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

/* The record won in Redis after everything this node applied: it is
 * applied whatever the node's clock says (the registrar compares versions
 * with its clock; the highest version wins there). The CSeq rule of one
 * Call-ID still holds, as it does in Redis. */
static int apply(px *p, sipflow_change *c, const char *what) {
  int rv;
  c->version = UINT64_MAX;
  p->restoring = 1;
  rv = sipflow_change_apply_binding(p->reg, c, unix_ms(p) / 1000,
                                    sipflow_uv_now());
  p->restoring = 0;
  if (rv != 0 && rv != SIPFLOW_ERR_STALE)
    px_log(p, SIPFLOW_LOG_WARN, "cluster: %s record refused: %s", what,
           sipflow_strerror(rv));
  return rv;
}

/* The first Path value's "HOST:PORT" (after '@'), or -1. */
static int path_edge(const char *path, size_t len, char *out, size_t cap) {
  const char *at, *end;
  size_t n;
  const char *gt = len ? memchr(path, '>', len) : NULL;
  if (!gt || !(at = memchr(path, '@', (size_t)(gt - path))))
    return -1;
  at++;
  for (end = at; end < gt && *end != ';' && *end != '>'; end++)
    ;
  n = (size_t)(end - at);
  if (n == 0 || n >= cap)
    return -1;
  memcpy(out, at, n);
  out[n] = '\0';
  return 0;
}

static void learn_edge(px *p, const sipflow_change_binding *b,
                       const char *origin, size_t origin_len) {
  struct px_cluster *cl = p->cluster;
  char addr[80];
  int i;
  if (origin_len >= sizeof(cl->edges[0].node) ||
      path_edge(b->path.ptr, b->path.len, addr, sizeof(addr)) != 0)
    return;
  for (i = 0; i < cl->nedges; i++)
    if (strcmp(cl->edges[i].addr, addr) == 0)
      break;
  if (i == cl->nedges) {
    if (cl->nedges == PX_CLUSTER_NODES)
      return;
    cl->nedges++;
    snprintf(cl->edges[i].addr, sizeof(cl->edges[i].addr), "%s", addr);
  }
  memcpy(cl->edges[i].node, origin, origin_len);
  cl->edges[i].node[origin_len] = '\0';
}

/* Whether the node that owns the edge a Path names is alive (1), gone (0),
 * or not known (-1: no cluster, no edge address, an edge never seen). */
static int path_edge_alive(px *p, const char *path, size_t len) {
  char addr[80];
  if (!p->redis || !p->cluster || path_edge(path, len, addr, sizeof(addr)) != 0)
    return -1;
  for (int i = 0; i < p->cluster->nedges; i++)
    if (strcmp(p->cluster->edges[i].addr, addr) == 0)
      return sipflow_redis_node_alive(p->redis, p->cluster->edges[i].node,
                                      strlen(p->cluster->edges[i].node));
  return -1;
}

bool px_cluster_path_foreign(px *p, const char *path, size_t len) {
  return path_edge_alive(p, path, len) > 0;
}

bool px_cluster_path_dead(px *p, const char *path, size_t len) {
  return path_edge_alive(p, path, len) == 0;
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
    if (c.op == SIPFLOW_CHANGE_PUT)
      learn_edge(p, &c.u.binding, origin, origin_len);
    apply(p, &c, "a node's");
    return;
  }
  /* Ours and newer than anything this process knew: from before a
   * restart (the client delivers nothing we knew). A DEL changes
   * nothing here. */
  if (!loaded || c.op != SIPFLOW_CHANGE_PUT ||
      strip_own_path(p, &c.u.binding) != 0)
    return;
  c.u.binding.flow_id = px_restored_flow(p, &c.u.binding.flow);
  if (c.u.binding.flow_id) {
    /* The flow is new: so is its token. Tell the others its Path. */
    p->cluster->republish = 1;
    apply(p, &c, "our own");
    p->cluster->republish = 0;
    return;
  }
  /* Its connection died with the old process: gone everywhere (unless
   * another node took it over meanwhile). */
  c = *rec;
  c.op = SIPFLOW_CHANGE_DEL;
  sipflow_redis_write_as(p->redis, &c, SIPFLOW_REDIS_WRITE_IF_MINE);
}

/* Every binding we hold, again, as a restore: kept only where Redis lost
 * it. */
static int reseed_one(const sipflow_reg_binding *b, void *ud) {
  px *p = ud;
  if (b->flow_id)
    publish(p, SIPFLOW_REG_REFRESHED, b, SIPFLOW_REDIS_WRITE_RESTORE);
  return 0;
}

static void on_clock(px *p, sipflow_redis *r) {
  int64_t off;
  if (sipflow_redis_clock_offset(r, &off) != 0)
    return;
  p->cluster->offset_ms = off;
  px_log(p, off > 1000 || off < -1000 ? SIPFLOW_LOG_WARN : SIPFLOW_LOG_INFO,
         "cluster: clock offset from redis %lld ms%s", (long long)off,
         off > 1000 || off < -1000
             ? " (skewed: expiries follow redis's clock; fix NTP)"
             : "");
}

static void on_nodes(px *p, sipflow_redis *r) {
  struct px_cluster *cl = p->cluster;
  for (int i = 0; i < cl->nedges; i++) {
    int alive = sipflow_redis_node_alive(r, cl->edges[i].node,
                                         strlen(cl->edges[i].node));
    if (alive >= 0)
      px_log(p, SIPFLOW_LOG_INFO, "cluster: node %s (%s) %s", cl->edges[i].node,
             cl->edges[i].addr, alive ? "up" : "down");
  }
}

static void on_event(sipflow_redis *r, int ev, void *ud) {
  px *p = ud;
  sipflow_redis_stats st;
  char host[64] = "";
  uint16_t port = 0;
  sipflow_redis_get_stats(r, &st);
  switch (ev) {
  case SIPFLOW_REDIS_EVENT_CONNECTED:
    sipflow_redis_server(r, host, sizeof(host), &port);
    px_log(p, SIPFLOW_LOG_INFO,
           "cluster: redis connected to %s:%u (%llu queued changes "
           "replayed)",
           host, port, (unsigned long long)st.inflight);
    if (p->reg)
      sipflow_registrar_foreach(p->reg, sipflow_uv_now(), reseed_one, p);
    break;
  case SIPFLOW_REDIS_EVENT_LOADED:
    px_log(p, SIPFLOW_LOG_INFO, "cluster: state loaded (%llu records)",
           (unsigned long long)st.loaded);
    break;
  case SIPFLOW_REDIS_EVENT_DISCONNECTED:
    px_log(p, SIPFLOW_LOG_WARN,
           "cluster: redis lost; serving from memory, queueing changes");
    break;
  case SIPFLOW_REDIS_EVENT_CLOCK:
    on_clock(p, r);
    break;
  case SIPFLOW_REDIS_EVENT_NODES:
    on_nodes(p, r);
    break;
  default:
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
  if (p->cfg.redis_sentinels[0]) {
    s.sentinels = p->cfg.redis_sentinels;
    if (p->cfg.redis_master[0])
      s.master_name = p->cfg.redis_master;
  }
  rv = sipflow_redis_new(&p->redis, p->loop, &cb, &s, p);
  if (rv != 0) {
    px_log(p, SIPFLOW_LOG_ERROR, "cluster: %s", sipflow_strerror(rv));
    return -1;
  }
  if (s.sentinels)
    px_log(p, SIPFLOW_LOG_INFO, "cluster: node %s, redis master %s from %s",
           p->cfg.node_id, s.master_name, s.sentinels);
  else
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
