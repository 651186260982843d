/*
 * sipflow-proxy: UDP flows and how long they live. Over UDP the flow is the
 * pair of addresses (RFC 5626 §3.3), so a flow is made for every peer that
 * sends us a datagram; left alone, peers that send one message and go away
 * would fill the table. A flow is forgotten once it has been silent for
 * --udp-flow-idle seconds and nothing needs it: no binding uses it, the
 * keepalive scheduler does not watch it. A flow whose token we put in a
 * Path or Record-Route is kept eight times as long, since a request may
 * still come back with that token (after that it gets 430, as for a flow
 * that failed). Each UDP flow's table handle is a small record of ours.
 * Only datagrams from the peer count as activity: sending touches nothing,
 * so that the keepalive probes of 50 000 flows do not each write a cold
 * record (and the answers to them skip the flow table altogether).
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

typedef struct px_uflow {
  sipflow_tstamp last; /* made, or the last datagram from the peer */
  bool minted;         /* its token went out in a Path or Record-Route */
} px_uflow;

static px_uflow *record(const sipflow_flow_info *info) {
  return (px_uflow *)(uintptr_t)info->handle;
}

/* The loop's cached time: a millisecond is precise enough for idleness. */
static sipflow_tstamp loop_now(px *p) {
  return (sipflow_tstamp)uv_now(p->loop) * SIPFLOW_MILLISECONDS;
}

px_listener *px_udp_listener(px *p, const sipflow_addr *local) {
  for (int i = 0; i < p->nlisteners; i++)
    if (p->listeners[i].transport == SIPFLOW_TRANSPORT_UDP &&
        sipflow_addr_equal(&p->listeners[i].addr, local))
      return &p->listeners[i];
  return NULL;
}

static void touch_id(px *p, sipflow_flow_id id) {
  sipflow_flow_info info;
  if (sipflow_flow_get(p->flows, id, &info) == 0)
    record(&info)->last = loop_now(p);
}

static void tuple_of(px_listener *l, const sipflow_addr *remote,
                     sipflow_flow_tuple *t) {
  memset(t, 0, sizeof(*t));
  t->transport = SIPFLOW_TRANSPORT_UDP;
  t->local = l->addr;
  t->remote = *remote;
}

int px_udp_flow_find(px *p, px_listener *l, const sipflow_addr *remote,
                     sipflow_flow_id *flow) {
  sipflow_flow_tuple t;
  int rv;
  tuple_of(l, remote, &t);
  if ((rv = sipflow_flow_find(p->flows, &t, flow)) == 0)
    touch_id(p, *flow);
  return rv;
}

int px_udp_flow(px *p, px_listener *l, const sipflow_addr *remote,
                sipflow_flow_id *flow) {
  sipflow_flow_tuple t;
  px_uflow *u;
  int rv;
  if (px_udp_flow_find(p, l, remote, flow) == 0)
    return 0;
  if (!(u = calloc(1, sizeof(*u))))
    return -1;
  u->last = loop_now(p);
  tuple_of(l, remote, &t);
  rv = sipflow_flow_add(p->flows, &t, (uint64_t)(uintptr_t)u, sipflow_uv_now(),
                        flow);
  /* Full: a TCP connection that never sent SIP makes room for a peer. */
  if (rv == SIPFLOW_ERR_LIMIT && px_shed_silent_conn(p) == 0)
    rv = sipflow_flow_add(p->flows, &t, (uint64_t)(uintptr_t)u,
                          sipflow_uv_now(), flow);
  if (rv != 0) {
    free(u);
    if (rv == SIPFLOW_ERR_LIMIT) {
      p->stats.flows_refused++;
      px_log_net(p, SIPFLOW_LOG_WARN,
                 "udp: the flow table is full (--max-flows %u): datagram "
                 "dropped",
                 (unsigned)p->cfg.max_flows);
    }
    return -1;
  }
  return 0;
}

void px_udp_flow_minted(px *p, sipflow_flow_id flow) {
  sipflow_flow_info info;
  if (sipflow_flow_get(p->flows, flow, &info) == 0 &&
      info.tuple.transport == SIPFLOW_TRANSPORT_UDP)
    record(&info)->minted = true;
}

void px_udp_flow_ended(const sipflow_flow_info *f) {
  if (f->tuple.transport == SIPFLOW_TRANSPORT_UDP)
    free(record(f));
}

void px_udp_flows_free(px *p) {
  sipflow_flow_info info;
  sipflow_flow_id after = 0;
  while (sipflow_flow_next(p->flows, after, &info) == 0) {
    after = info.id;
    px_udp_flow_ended(&info);
  }
}

/* Whether anything still needs the flow. */
static bool needed(px *p, const sipflow_flow_info *info, sipflow_tstamp now) {
  const px_uflow *u = record(info);
  sipflow_keepalive_stats ks;
  uint64_t idle = (uint64_t)p->cfg.udp_flow_idle * SIPFLOW_SECONDS;
  if (u->minted)
    idle *= 8;
  if (now - u->last < idle)
    return true;
  if (p->reg && sipflow_registrar_flow_binding_count(p->reg, info->id) > 0)
    return true;
  return p->ka && sipflow_keepalive_get_stats(p->ka, info->id, &ks) == 0;
}

/* One pass over the table. Ending a flow runs the table's callback, which
 * frees our record; the walk goes on from the ended flow's id. */
static void gc_pass(uv_timer_t *h) {
  px *p = h->data;
  sipflow_flow_info info;
  sipflow_flow_id after = 0;
  sipflow_tstamp now = loop_now(p);
  while (sipflow_flow_next(p->flows, after, &info) == 0) {
    after = info.id;
    if (info.tuple.transport != SIPFLOW_TRANSPORT_UDP || needed(p, &info, now))
      continue;
    p->stats.udp_flows_forgotten++;
    p->forgetting = 1;
    sipflow_flow_end(p->flows, info.id, SIPFLOW_FLOW_END_LOCAL_CLOSE, now);
    p->forgetting = 0;
  }
}

int px_udp_gc_start(px *p) {
  uint64_t period;
  if (!p->cfg.udp_flow_idle)
    return 0;
  /* A quarter of the idle time, at most a minute: a flow lives at most
   * 1.25 times --udp-flow-idle beyond its last datagram. */
  period = (uint64_t)p->cfg.udp_flow_idle * 250;
  if (period > 60000)
    period = 60000;
  if (uv_timer_init(p->loop, &p->gc_timer) != 0)
    return -1;
  p->gc_timer.data = p;
  uv_unref((uv_handle_t *)&p->gc_timer);
  return uv_timer_start(&p->gc_timer, gc_pass, period, period);
}
