/*
 * sipflow-proxy: routing requests other than REGISTER.
 *
 * Our own Route values are consumed with libsipflow's edge decision (token
 * valid, tampered or stale; direction by flow identity). What is left is
 * routed by the next Route, or by the Request-URI: an AoR of ours gets a
 * target plan from the registrar and is forked over it, one flow per
 * instance at a time, with failover on 430 and 408 (RFC 5626 §7).
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>

#include <sipflow/edge.h>

#include "proxy.h"

#define PX_MAX_BRANCHES 32
#define PX_MAX_OWN_ROUTES 4

typedef struct px_branch {
  px_ctrans *ct;
  uint32_t plan_id; /* 0 for a fixed target */
  int status;       /* last status seen */
  int done;
} px_branch;

struct px_fork {
  px *p;
  px_strans *st;
  msg_t *req; /* our copy of the request, before per-branch edits */
  sipflow_flow_id in_flow;
  sipflow_reg_plan *plan;
  px_branch br[PX_MAX_BRANCHES];
  int nbr;
  int pending;
  int best;
  msg_t *best_resp;
  int cancelled;
  int finished;
  int record_route;
};

/* The target of one branch. */
typedef struct px_target {
  const char *ruri;     /* new Request-URI, or NULL */
  const char *path;     /* Route values to put first, or NULL */
  sipflow_flow_id flow; /* send over this flow, or 0 */
  int transport;        /* else to this address */
  sipflow_addr dst;
  int outbound; /* never open a new connection to it */
} px_target;

static void fork_free(px_fork *f) {
  px_push_forget(f->p, f);
  for (int i = 0; i < f->nbr; i++)
    if (!f->br[i].done)
      px_ctrans_detach(f->br[i].ct);
  if (f->st)
    px_strans_set_fork(f->st, NULL);
  sipflow_reg_plan_del(f->plan);
  if (f->best_resp)
    msg_destroy(f->best_resp);
  msg_destroy(f->req);
  free(f);
}

void px_fork_on_strans_gone(px_fork *f) {
  f->st = NULL;
  if (f->finished)
    fork_free(f);
}

void px_fork_abandon(px_fork *f) {
  f->st = NULL;
  fork_free(f);
}

static int is_dialog_forming(int method) {
  return method == sip_method_invite || method == sip_method_subscribe ||
         method == sip_method_refer;
}

/* Answers a request, or for a stateless one (an ACK, no transaction) just
 * drops it: an ACK is never answered. */
static void respond(px *p, px_strans *st, msg_t *msg, int status) {
  if (st)
    px_strans_respond(p, st, status, NULL, NULL);
  else
    msg_destroy(msg);
}

/* ---- headers --------------------------------------------------------------
 */

/* Whether a transport is secured by TLS: what a sips: Request-URI needs on
 * every hop (RFC 3261 §26.2.2, RFC 5630). */
static bool transport_is_secure(int t) {
  return t == SIPFLOW_TRANSPORT_TLS || t == SIPFLOW_TRANSPORT_WSS;
}

static bool ruri_is_sips(msg_t *msg) {
  const sip_t *sip = sip_object(msg);
  return sip && sip->sip_request &&
         sip->sip_request->rq_url->url_type == url_sips;
}

/* In a worker (--workers): whether the flow is a connection with another
 * worker, one that reached our private port or one we opened to theirs.
 * A value facing it names our private port, not the public one all
 * workers share: when the route comes back, the worker it reaches sees
 * that the value is its own only if it minted it (a value naming the
 * public address would be taken as ours by every worker, and its token,
 * minted by another, would get 430). */
static bool worker_flow(px *p, const sipflow_flow_info *info) {
  if (!p->cfg.path_port)
    return false;
  if (info->tuple.local.port == p->cfg.path_port)
    return true;
  for (int i = p->cfg.first_worker_peer; i < p->cfg.npeers; i++)
    if (sipflow_addr_equal(&info->tuple.remote, &p->cfg.peers[i].addr))
      return true;
  return false;
}

static int add_token_header(px *p, msg_t *msg, int path, sipflow_flow_id flow,
                            unsigned flags) {
  char token[SIPFLOW_TOKEN_BUFLEN], host[300];
  size_t tlen;
  uint16_t port;
  sipflow_flow_info info;
  sipflow_edge_local local;
  if (sipflow_flow_get(p->flows, flow, &info) != 0 ||
      sipflow_flow_token(p->flows, flow, token, sizeof(token), &tlen) != 0)
    return -1;
  px_udp_flow_minted(p, flow);
  int t = info.tuple.transport;
  /* A Path is for the registrar, which reaches us over UDP or TCP, never
   * over the UA's TLS or WebSocket listener (RFC 3327 §5.3): it names the
   * interface the registrar uses. A Record-Route names the flow's own. */
  if (path && t != SIPFLOW_TRANSPORT_UDP && t != SIPFLOW_TRANSPORT_TCP)
    t = p->cfg.have_registrar ? p->cfg.registrar.transport
                              : SIPFLOW_TRANSPORT_UDP;
  px_advertise(p, t, info.tuple.local.family, host, sizeof(host), &port);
  if (worker_flow(p, &info))
    px_worker_hop(p, host, sizeof(host), &port);
  local.host.ptr = host;
  local.host.len = strlen(host);
  local.port = port;
  local.transport = (uint8_t)t;
  /* sips: only where the value faces a TLS or WSS flow itself. */
  if (t != (int)info.tuple.transport || !transport_is_secure(t))
    flags &= ~(unsigned)SIPFLOW_EDGE_URI_SIPS;
  return sipflow_sofia_add_token_header(
      msg, path ? SIPFLOW_EDGE_HEADER_PATH : SIPFLOW_EDGE_HEADER_RECORD_ROUTE,
      &local, token, tlen, flags);
}

int px_add_token_header(px *p, msg_t *msg, int path, sipflow_flow_id flow,
                        int ob) {
  return add_token_header(p, msg, path, flow, ob ? SIPFLOW_EDGE_URI_OB : 0);
}

static void pop_route(msg_t *msg) {
  sip_t *sip = sip_object(msg);
  if (sip->sip_route)
    msg_header_remove(msg, (msg_pub_t *)sip, (msg_header_t *)sip->sip_route);
}

static int set_ruri(msg_t *msg, const char *uri) {
  sip_t *sip = sip_object(msg);
  sip_request_t *rq = sip_request_create(
      msg_home(msg), sip->sip_request->rq_method,
      sip->sip_request->rq_method_name, (url_string_t *)uri, NULL);
  if (!rq)
    return -1;
  return msg_header_replace(msg, (msg_pub_t *)sip,
                            (msg_header_t *)sip->sip_request,
                            (msg_header_t *)rq);
}

/* Puts a stored Path vector ("<a>, <b>") before any Route (RFC 3327 §5.4). */
static int prepend_path(msg_t *msg, const char *path) {
  sip_t *sip = sip_object(msg);
  su_home_t *home = msg_home(msg);
  sip_route_t *list = sip_route_make(home, path), *r;
  sip_route_t *items[16];
  int n = 0;
  if (!list)
    return -1;
  for (r = list; r && n < 16; r = r->r_next)
    items[n++] = r;
  while (n-- > 0) {
    sip_route_t one = *items[n];
    sip_route_t *copy;
    one.r_next = NULL;
    copy = sip_route_dup(home, &one);
    if (!copy ||
        msg_header_insert(msg, (msg_pub_t *)sip, (msg_header_t *)copy) < 0)
      return -1;
  }
  return 0;
}

/* ---- forking --------------------------------------------------------------
 */

static void fork_finish(px *p, px_fork *f);
static void branch_response(px *p, px_ctrans *ct, msg_t *resp, int status,
                            void *owner, int idx);

static void record_routes(px *p, px_fork *f, msg_t *m, sipflow_flow_id out) {
  /* Two values, each with the token of the flow it faces, so that
   * in-dialog requests from either side follow the flows (RFC 5626 §5.3).
   * Each names its own flow's transport; in a sips: dialog the one facing
   * a TLS or WSS flow is a sips: URI (RFC 3261 §16.7 item 4). The value
   * facing the callee goes on top, as in RFC 7118 §8.2. */
  unsigned flags = ruri_is_sips(f->req) ? SIPFLOW_EDGE_URI_SIPS : 0;
  if (f->in_flow)
    add_token_header(p, m, 0, f->in_flow, flags);
  if (out)
    add_token_header(p, m, 0, out, flags);
}

static int send_branch(px *p, px_fork *f, const px_target *t,
                       uint32_t plan_id) {
  char branch[64];
  msg_t *m;
  sipflow_flow_info info;
  int family, transport, status;
  sipflow_flow_id out = 0;

  if (f->nbr >= PX_MAX_BRANCHES)
    return 500;
  if (t->flow && sipflow_flow_get(p->flows, t->flow, &info) == 0) {
    out = t->flow;
    family = info.tuple.remote.family;
    transport = info.tuple.transport;
  } else if (t->flow || (t->outbound && t->transport != SIPFLOW_TRANSPORT_UDP &&
                         !t->path)) {
    /* The flow is gone: never open a new connection towards an Outbound
     * contact (RFC 5626 §5.3.1). */
    return 430;
  } else if (t->transport != SIPFLOW_TRANSPORT_UDP &&
             t->transport != SIPFLOW_TRANSPORT_TCP) {
    /* No outgoing TLS or WebSocket connections (docs/proxy.md): a TLS, WS
     * or WSS target without a flow is not reachable, so 480 now rather
     * than a 408 after the transaction timer. */
    px_log_net(p, SIPFLOW_LOG_INFO,
               "no %s connection to open towards the target: 480",
               sipflow_transport_name(t->transport));
    return 480;
  } else {
    family = t->dst.family;
    transport = t->transport;
  }
  /* A sips: Request-URI goes to a UA's flow only over TLS or WSS (RFC 3261
   * §26.2.2, RFC 5630 §3.1): 480, and the plan tries the instance's next
   * flow. Hops to our registrar and peers are not flows of UAs
   * (docs/proxy.md, "sips:"). */
  if (out && ruri_is_sips(f->req) && !transport_is_secure(transport)) {
    p->stats.sips_insecure++;
    px_log_net(p, SIPFLOW_LOG_INFO,
               "sips: request not sent over an insecure %s flow: 480",
               sipflow_transport_name(transport));
    return 480;
  }
  m = msg_dup(f->req);
  if (!m)
    return 500;
  if ((t->ruri && set_ruri(m, t->ruri) != 0) ||
      (t->path && prepend_path(m, t->path) != 0)) {
    msg_destroy(m);
    return 500;
  }
  if (f->record_route &&
      is_dialog_forming(sip_object(m)->sip_request->rq_method))
    record_routes(p, f, m, out);
  px_new_branch(p, branch, sizeof(branch));
  status = px_prepare_forward(p, m, transport, family, branch);
  if (status) {
    msg_destroy(m);
    return status;
  }
  px_branch *b = &f->br[f->nbr];
  memset(b, 0, sizeof(*b));
  b->plan_id = plan_id;
  b->ct = px_ctrans_send(p, m, branch, out, transport, out ? NULL : &t->dst,
                         branch_response, f, f->nbr);
  if (!b->ct) {
    msg_destroy(m);
    return 500;
  }
  f->nbr++;
  f->pending++;
  p->stats.forwarded_requests++;
  return 0;
}

/* The target for a registrar binding. */
static int binding_target(px *p, const sipflow_reg_binding *b, px_target *t,
                          char *ruri, size_t rlen, char *path, size_t plen) {
  memset(t, 0, sizeof(*t));
  snprintf(ruri, rlen, "%.*s", (int)b->uri.len, b->uri.ptr);
  t->ruri = ruri;
  t->outbound = b->outbound;
  if (b->path.len) {
    /* Behind an edge: send to the first Path URI. */
    url_t url;
    px_endpoint_cfg ep;
    char first[2100], *lt, *gt;
    snprintf(path, plen, "%.*s", (int)b->path.len, b->path.ptr);
    t->path = path;
    snprintf(first, sizeof(first), "%s", path);
    lt = strchr(first, '<');
    gt = lt ? strchr(lt, '>') : NULL;
    if (!lt || !gt)
      return -1;
    *gt = '\0';
    if (url_d(&url, lt + 1) < 0 || px_url_endpoint(&url, &ep) != 0)
      return -1;
    /* A Path leads to an edge of ours, a --peer; any other host in a
     * stranger's REGISTER would make this a relay (docs/proxy.md). */
    if (!px_next_hop_allowed(p, &ep)) {
      px_log_net(p, SIPFLOW_LOG_INFO, "not forwarding to a foreign Path: 480");
      return -1;
    }
    t->transport = ep.transport;
    t->dst = ep.addr;
    return 0;
  }
  if (b->flow_id) {
    t->flow = b->flow_id;
    return 0;
  }
  url_t url;
  px_endpoint_cfg ep;
  char tmp[600];
  snprintf(tmp, sizeof(tmp), "%s", ruri);
  if (url_d(&url, tmp) < 0 || px_url_endpoint(&url, &ep) != 0)
    return -1;
  t->transport = ep.transport;
  t->dst = ep.addr;
  (void)p;
  return 0;
}

static int start_plan_branch(px *p, px_fork *f, const sipflow_reg_branch *br) {
  char ruri[600], path[2100];
  px_target t;
  /* RFC 8599 §5.6.2: the library asked for a push; hold the request. */
  if (br->push) {
    if (px_push_hold(p, f, br->id) != 0)
      return 480;
    f->pending++;
    return 0;
  }
  /* Its edge node is down (cluster heartbeat): the next flow, at once. */
  if (px_cluster_path_dead(p, br->binding->path.ptr, br->binding->path.len))
    return 408;
  if (binding_target(p, br->binding, &t, ruri, sizeof(ruri), path,
                     sizeof(path)) != 0)
    return 480;
  return send_branch(p, f, &t, br->id);
}

/* Starts a plan branch; a branch that fails at once is reported and the
 * plan's next flow of the same instance is tried in its place. */
static void plan_start_branch(px *p, px_fork *f, const sipflow_reg_branch *br) {
  for (int guard = 0; br && guard < 64; guard++) {
    const sipflow_reg_branch *next = NULL;
    int status = start_plan_branch(p, f, br);
    if (status == 0)
      return;
    f->best = sipflow_reg_response_pick(f->best, status);
    if (sipflow_reg_plan_report(f->plan, br->id, status, sipflow_uv_now(),
                                &next) != 0)
      return;
    if (next)
      p->stats.failovers++;
    br = next;
  }
}

/* Once a group has no branch pending: the next q group, or nothing. */
static void plan_next_groups(px *p, px_fork *f) {
  for (int guard = 0; guard < 64; guard++) {
    const sipflow_reg_branch *group;
    size_t n;
    if (f->pending > 0 || f->cancelled)
      return;
    if (sipflow_reg_plan_next_group(f->plan, &group, &n) != 0 || n == 0)
      return;
    for (size_t i = 0; i < n; i++)
      plan_start_branch(p, f, &group[i]);
  }
}

static void fork_check_done(px *p, px_fork *f) {
  if (!f->finished && f->pending == 0)
    fork_finish(p, f);
}

/* Whether the request came from a proxy that holds a target plan for it:
 * in the edge role our registrar, in any role a --peer (a cluster node
 * that routed through our Path to a flow we hold). Recognised by the flow
 * it came over, or by its address as the top Via's sent-by when it opened
 * a new connection. Toward it a 430 passes untouched, so that its plan
 * fails over and drops the binding (RFC 5626 §7); only the last hop toward
 * the caller maps 430 (§11.5). */
static int from_planner(px *p, const px_fork *f) {
  sipflow_flow_info info;
  const sip_via_t *v = sip_object(f->req)->sip_via;
  px_endpoint_cfg ep;
  char host[128];
  bool edge = p->cfg.role == PX_ROLE_EDGE && p->cfg.have_registrar;
  if (!edge && p->cfg.npeers == 0)
    return 0;
  memset(&ep, 0, sizeof(ep));
  if (f->in_flow && sipflow_flow_get(p->flows, f->in_flow, &info) == 0) {
    ep.addr = info.tuple.remote;
    if (px_next_hop_allowed(p, &ep))
      return 1;
  }
  if (!v || !v->v_host)
    return 0;
  snprintf(host, sizeof(host), "%s", v->v_host);
  return sipflow_addr_parse(&ep.addr, host,
                            v->v_port ? (uint16_t)atoi(v->v_port) : 5060) ==
             0 &&
         px_next_hop_allowed(p, &ep);
}

static void fork_finish(px *p, px_fork *f) {
  int status;
  f->finished = 1;
  px_log(p, SIPFLOW_LOG_DEBUG, "fork done: best %d%s", f->best,
         f->cancelled ? ", cancelled" : "");
  if (f->st && px_strans_status(f->st) < 200) {
    if (f->cancelled)
      status = 487;
    else if (f->plan)
      status = sipflow_reg_plan_final_status(f->plan);
    else if (f->best == 430 && from_planner(p, f))
      status = 430;
    else
      status = sipflow_reg_response_upstream(f->best ? f->best : 408);
    if (f->best_resp && !f->cancelled &&
        sip_object(f->best_resp)->sip_status->st_status == status) {
      /* Forwarding copies the answer out; the fork still owns it. */
      px_strans_forward_response(p, f->st, f->best_resp);
      msg_destroy(f->best_resp);
      f->best_resp = NULL;
    } else {
      px_strans_respond(p, f->st, status, NULL, NULL);
    }
  }
  if (!f->st || px_strans_status(f->st) >= 200) {
    if (f->st)
      px_strans_set_fork(f->st, NULL);
    f->st = NULL;
    fork_free(f);
  }
}

static void cancel_pending(px *p, px_fork *f) {
  int held = px_push_held(p, f);
  if (held) { /* requests held for a phone being woken end here too */
    px_push_forget(p, f);
    f->pending -= held;
  }
  for (int i = 0; i < f->nbr; i++)
    if (!f->br[i].done)
      px_ctrans_cancel(p, f->br[i].ct);
}

static void branch_response(px *p, px_ctrans *ct, msg_t *resp, int status,
                            void *owner, int idx) {
  px_fork *f = owner;
  px_branch *b = &f->br[idx];
  (void)ct;
  if (status < 200) {
    b->status = status;
    if (status > 100 && f->st && px_strans_status(f->st) < 200)
      px_strans_forward_response(p, f->st, resp);
    if (resp)
      msg_destroy(resp);
    return;
  }
  if (b->done) { /* a retransmitted 2xx: pass it on */
    if (resp && status < 300 && f->st)
      px_strans_forward_response(p, f->st, resp);
    if (resp)
      msg_destroy(resp);
    return;
  }
  b->done = 1;
  b->status = status;
  f->pending--;
  if (status >= 200 && status < 300) {
    if (p->cfg.role == PX_ROLE_EDGE &&
        sip_object(f->req)->sip_request->rq_method == sip_method_register)
      px_ka_edge_registered(p, f->in_flow, resp);
    if (f->st)
      px_strans_forward_response(p, f->st, resp);
    msg_destroy(resp);
    if (f->plan)
      sipflow_reg_plan_report(f->plan, b->plan_id, status, sipflow_uv_now(),
                              &(const sipflow_reg_branch *){NULL});
    cancel_pending(p, f);
    f->finished = 1;
    if (!f->st || px_strans_status(f->st) >= 200) {
      /* A retransmission of this 2xx must not reach the freed fork; it
       * still goes upstream (RFC 3261 §16.7). */
      px_ctrans_detach_upstream(ct, f->in_flow);
      fork_free(f);
    }
    return;
  }
  if (resp) {
    int pick = sipflow_reg_response_pick(f->best, status);
    if (pick == status && pick != f->best) {
      if (f->best_resp)
        msg_destroy(f->best_resp);
      f->best_resp = resp;
    } else {
      msg_destroy(resp);
    }
    f->best = pick;
  } else {
    f->best = sipflow_reg_response_pick(f->best, status);
  }
  if (f->plan) {
    const sipflow_reg_branch *next = NULL;
    if (sipflow_reg_plan_report(f->plan, b->plan_id, status, sipflow_uv_now(),
                                &next) == 0 &&
        next && !f->cancelled) {
      p->stats.failovers++;
      px_log(p, SIPFLOW_LOG_INFO,
             "branch answered %d: failover to the next flow of the instance",
             status);
      plan_start_branch(p, f, next);
    }
    if (!f->cancelled)
      plan_next_groups(p, f);
  }
  if (status >= 600)
    cancel_pending(p, f);
  fork_check_done(p, f);
}

int px_fork_plan_woken(px *p, px_fork *f, uint32_t branch_id,
                       const sipflow_reg_branch **next) {
  (void)p;
  return sipflow_reg_plan_woken(f->plan, branch_id, sipflow_uv_now(), next);
}

void px_fork_push_sent(px *p, px_fork *f, const sipflow_reg_branch *br) {
  f->pending--; /* the held branch becomes a sent one */
  if (!f->cancelled)
    plan_start_branch(p, f, br);
  fork_check_done(p, f);
}

void px_fork_push_result(px *p, px_fork *f, uint32_t branch_id, int woken) {
  const sipflow_reg_branch *next = NULL;
  (void)woken;
  f->pending--;
  f->best = sipflow_reg_response_pick(f->best, 480);
  if (sipflow_reg_plan_report(f->plan, branch_id, 480, sipflow_uv_now(),
                              &next) == 0 &&
      next && !f->cancelled)
    plan_start_branch(p, f, next);
  if (!f->cancelled)
    plan_next_groups(p, f);
  fork_check_done(p, f);
}

static px_fork *fork_new(px *p, px_strans *st, msg_t *req,
                         sipflow_flow_id in_flow) {
  px_fork *f = calloc(1, sizeof(*f));
  if (!f)
    return NULL;
  f->p = p;
  f->st = st;
  f->req = msg_dup(req);
  if (!f->req) {
    free(f);
    return NULL;
  }
  f->in_flow = in_flow;
  px_strans_set_fork(st, f);
  return f;
}

/* ACK for a 2xx and other requests nobody answers: forwarded without a
 * transaction. Takes ownership of |msg|. */
static void send_stateless(px *p, msg_t *msg, const px_target *t) {
  char branch[64];
  sipflow_flow_info info;
  int family = t->dst.family, transport = t->transport;
  size_t len;
  char *bytes;
  if (t->flow) {
    if (sipflow_flow_get(p->flows, t->flow, &info) != 0) {
      msg_destroy(msg);
      return;
    }
    family = info.tuple.remote.family;
    transport = info.tuple.transport;
    if (ruri_is_sips(msg) && !transport_is_secure(transport)) {
      p->stats.sips_insecure++;
      msg_destroy(msg);
      return;
    }
  }
  px_new_branch(p, branch, sizeof(branch));
  if (px_prepare_forward(p, msg, transport, family, branch) == 0 &&
      (bytes = px_msg_bytes(msg, &len)) != NULL) {
    if (t->flow)
      px_send_flow(p, t->flow, bytes, len);
    else
      px_send_addr(p, transport, &t->dst, bytes, len, NULL);
    free(bytes);
  }
  msg_destroy(msg);
}

/* Forks over the registrar's target plan for the Request-URI. */
static void route_to_aor(px *p, px_strans *st, msg_t *msg,
                         sipflow_flow_id flow) {
  if (!st) { /* an ACK to an AoR: it has no dialog route to follow */
    msg_destroy(msg);
    return;
  }
  sip_t *sip = sip_object(msg);
  char uri[1024];
  sipflow_str s = {uri, 0};
  sipflow_reg_plan *plan = NULL;
  int rv;
  /* The same canonical AoR as REGISTER's (docs/registrar.md). */
  if (px_aor_key(p, sip->sip_request->rq_url, uri, sizeof(uri)) != 0) {
    px_strans_respond(p, st, 404, NULL, NULL);
    return;
  }
  s.len = strlen(uri);
  if (p->cfg.gruu && url_has_param(sip->sip_request->rq_url, "gr")) {
    /* A GRUU (RFC 5627 §6.1): the AoR key and the URI's parameters,
     * among them gr; the one instance it names, or 404/480. */
    int n = snprintf(uri + s.len, sizeof(uri) - s.len, ";%s",
                     sip->sip_request->rq_url->url_params);
    if (n < 0 || (size_t)n >= sizeof(uri) - s.len) {
      px_strans_respond(p, st, 404, NULL, NULL);
      return;
    }
    s.len += (size_t)n;
    rv = sipflow_registrar_lookup_gruu(p->reg, s, sipflow_uv_now(), &plan);
    if (rv != 0) {
      px_log_net(p, SIPFLOW_LOG_INFO, "GRUU %s: %s", uri, sipflow_strerror(rv));
      px_strans_respond(p, st, sipflow_reg_gruu_status(rv), NULL, NULL);
      return;
    }
  } else {
    rv = sipflow_registrar_lookup(p->reg, s, sipflow_uv_now(), &plan);
  }
  if (rv == SIPFLOW_ERR_NOT_FOUND) {
    /* No user database: an AoR of ours without bindings is "not
     * registered now", not "no such user" (docs/proxy.md). */
    px_strans_respond(p, st, 480, NULL, NULL);
    return;
  }
  if (rv != 0) {
    px_strans_respond(p, st, rv == SIPFLOW_ERR_MALFORMED ? 400 : 500, NULL,
                      NULL);
    return;
  }
  px_fork *f = fork_new(p, st, msg, flow);
  if (!f) {
    sipflow_reg_plan_del(plan);
    px_strans_respond(p, st, 500, NULL, NULL);
    return;
  }
  f->plan = plan;
  f->record_route = p->cfg.role != PX_ROLE_REGISTRAR;
  plan_next_groups(p, f);
  fork_check_done(p, f);
}

/* Forwards to one fixed target. */
static void route_fixed(px *p, px_strans *st, msg_t *msg, sipflow_flow_id in,
                        const px_target *t, int record_route) {
  px_fork *f;
  int status;
  if (!st) {
    send_stateless(p, msg, t);
    return;
  }
  f = fork_new(p, st, msg, in);
  if (!f) {
    px_strans_respond(p, st, 500, NULL, NULL);
    return;
  }
  f->record_route = record_route;
  status = send_branch(p, f, t, 0);
  if (status != 0) {
    f->best = status;
    fork_finish(p, f);
  }
}

/* ---- the edge decision over our own Route values ------------------------- */

static void edge_facts(px *p, msg_t *msg, sipflow_flow_id flow,
                       const sipflow_flow_tuple *tuple, sipflow_edge_facts *f) {
  sip_t *sip = sip_object(msg);
  int us = sip->sip_route && px_uri_is_us(p, sip->sip_route->r_url);
  sipflow_sofia_edge_facts(f, msg, us, p->flows, flow, tuple);
}

/* ---- entry points -----------------------------------------------------------
 */

/* A request this server will not forward (docs/proxy.md, "No open
 * relay"): a stranger's Route or Request-URI to any other host. */
static void refuse_relay(px *p, px_strans *st, msg_t *msg, const char *what) {
  px_log_net(p, SIPFLOW_LOG_INFO, "not forwarding to a foreign %s: 403", what);
  if (st)
    px_strans_respond(p, st, 403, "Relaying Forbidden", NULL);
  else
    msg_destroy(msg);
}

static void route_onward(px *p, px_strans *st, msg_t *msg, sipflow_flow_id flow,
                         int record_route) {
  sip_t *sip = sip_object(msg);
  px_target t;
  px_endpoint_cfg ep;
  memset(&t, 0, sizeof(t));
  if (sip->sip_route) {
    /* Loose routing to the next hop named by Route: only to our registrar
     * or a configured peer. */
    if (px_url_endpoint(sip->sip_route->r_url, &ep) != 0) {
      respond(p, st, msg, 404);
      return;
    }
    if (!px_next_hop_allowed(p, &ep)) {
      refuse_relay(p, st, msg, "Route");
      return;
    }
    t.transport = ep.transport;
    t.dst = ep.addr;
    route_fixed(p, st, msg, flow, &t, record_route);
    return;
  }
  url_t *ruri = sip->sip_request->rq_url;
  if (p->cfg.role == PX_ROLE_EDGE) {
    /* Whatever names the edge or the user, the registrar (the home proxy)
     * decides: the edge has no location service (RFC 5626 §3.2, §5.1). */
    t.transport = p->cfg.registrar.transport;
    t.dst = p->cfg.registrar.addr;
    route_fixed(p, st, msg, flow, &t, record_route);
    return;
  }
  bool own = px_host_is_own(p, ruri);
  if (p->reg && ruri->url_user &&
      (own || (p->cfg.ndomains == 0 && px_url_endpoint(ruri, &ep) != 0))) {
    /* A user of ours: every host form that names us, or without --domain
     * any domain name (an IP literal not ours is a foreign host). */
    route_to_aor(p, st, msg, flow);
    return;
  }
  if (!own && px_url_endpoint(ruri, &ep) == 0 && px_next_hop_allowed(p, &ep)) {
    t.transport = ep.transport;
    t.dst = ep.addr;
    route_fixed(p, st, msg, flow, &t, record_route);
    return;
  }
  if (own || (p->cfg.ndomains > 0 && px_url_endpoint(ruri, &ep) != 0)) {
    respond(p, st, msg, 404);
    return;
  }
  refuse_relay(p, st, msg, "Request-URI");
}

/* Whether a Route URI names a TLS, WS or WSS transport. */
static bool is_ws_or_tls(const url_t *url) {
  char tp[16];
  int t;
  if (!url->url_params ||
      url_param(url->url_params, "transport", tp, sizeof(tp)) <= 0)
    return false;
  t = sipflow_transport_parse(tp, strlen(tp));
  return t == SIPFLOW_TRANSPORT_TLS || t == SIPFLOW_TRANSPORT_WS ||
         t == SIPFLOW_TRANSPORT_WSS;
}

/* Consumes our Route values; 1 if the request was dealt with. */
static int consume_own_routes(px *p, px_strans *st, msg_t *msg,
                              sipflow_flow_id flow,
                              const sipflow_flow_tuple *tuple, int *rr) {
  for (int i = 0; i < PX_MAX_OWN_ROUTES; i++) {
    sipflow_edge_facts facts;
    sipflow_edge_decision d;
    edge_facts(p, msg, flow, tuple, &facts);
    if (sipflow_edge_decide(&facts, &d) != 0) {
      respond(p, st, msg, 500);
      return 1;
    }
    px_log(p, SIPFLOW_LOG_DEBUG, "edge: %s (%s)",
           sipflow_edge_action_name(d.action),
           sipflow_edge_reason_str(d.reason));
    switch (d.action) {
    case SIPFLOW_EDGE_REJECT:
      if (d.status == 430)
        p->stats.token_430++;
      else
        p->stats.token_403++;
      px_log_net(p, SIPFLOW_LOG_INFO, "rejecting with %d: %s", d.status,
                 sipflow_edge_reason_str(d.reason));
      respond(p, st, msg, d.status);
      return 1;
    case SIPFLOW_EDGE_ROUTE_FLOW: {
      px_target t;
      sip_t *sip = sip_object(msg);
      if (st && sip->sip_request->rq_method == sip_method_options &&
          sip->sip_max_forwards && sip->sip_max_forwards->mf_count == 0) {
        /* A registrar's probe through the Path: the flow is here, so we
         * answer for it (RFC 3261 §16.3 item 2, §11); a gone flow got 430
         * above (docs/proxy.md). */
        px_strans_respond(p, st, 200, NULL, NULL);
        return 1;
      }
      /* Our next Route value too (the two values an edge records when a
       * dialog passes it twice, edge + registrar): loose routing goes on
       * with that one (RFC 3261 §16.4), so a request for a WS or TLS
       * phone is not sent to a registrar that cannot reach its listener. */
      if (sip->sip_route->r_next &&
          px_uri_is_us(p, sip->sip_route->r_next->r_url) &&
          url_has_param(sip->sip_route->r_next->r_url, "transport") &&
          is_ws_or_tls(sip->sip_route->r_next->r_url)) {
        pop_route(msg);
        continue;
      }
      memset(&t, 0, sizeof(t));
      pop_route(msg);
      /* Every flow of this proxy, UDP too, is in the flow table, so a
       * valid token always names one. */
      t.flow = d.flow;
      if (st)
        route_fixed(p, st, msg, flow, &t, d.record_route);
      else
        send_stateless(p, msg, &t);
      return 1;
    }
    case SIPFLOW_EDGE_ADD_TOKEN:
    case SIPFLOW_EDGE_ADD_TOKEN_OB:
      if (d.header == SIPFLOW_EDGE_HEADER_RECORD_ROUTE)
        *rr = 1;
      if (facts.route_is_us)
        pop_route(msg);
      else
        return 0;
      break;
    default:
      if (!facts.route_is_us)
        return 0;
      pop_route(msg);
      break;
    }
  }
  return 0;
}

void px_handle_request(px *p, msg_t *msg, sipflow_flow_id flow,
                       const sipflow_flow_tuple *tuple) {
  sip_t *sip = sip_object(msg);
  int method = sip->sip_request->rq_method;
  px_strans *st;
  int rr = 0;

  if (method == sip_method_ack) {
    st = px_strans_find(p, msg);
    if (st) { /* ACK for a non-2xx answer: ends at this hop */
      msg_destroy(msg);
      return;
    }
  } else if ((st = px_strans_find(p, msg)) != NULL) {
    px_strans_retransmit(p, st); /* a retransmission */
    msg_destroy(msg);
    return;
  }
  /* OPTIONS for this server itself; one for a user goes to the user. */
  if (method == sip_method_options && !sip->sip_route &&
      ((!sip->sip_request->rq_url->url_user &&
        (px_uri_is_us(p, sip->sip_request->rq_url) ||
         px_host_is_own(p, sip->sip_request->rq_url))) ||
       (sip->sip_max_forwards && sip->sip_max_forwards->mf_count == 0))) {
    px_reply(p, flow, msg, 200, NULL,
             "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER\r\n");
    msg_destroy(msg);
    return;
  }
  if (method == sip_method_ack) {
    st = NULL; /* ACK for a 2xx: stateless, along the route */
  } else {
    st = px_strans_new(p, msg, flow);
    if (!st) {
      msg_destroy(msg);
      return;
    }
    if (method == sip_method_invite)
      px_strans_respond(p, st, 100, NULL, NULL);
    if (px_auth_request(p, st, msg)) /* --auth all: challenged or refused */
      return;
  }
  if (consume_own_routes(p, st, msg, flow, tuple, &rr))
    return;
  route_onward(p, st, msg, flow, rr || p->cfg.role == PX_ROLE_SINGLE);
}

void px_handle_cancel(px *p, msg_t *msg, sipflow_flow_id flow) {
  sip_t *sip = sip_object(msg);
  char key_branch[8];
  px_strans *inv;
  (void)key_branch;
  /* The INVITE transaction the CANCEL names: same branch, method INVITE. */
  sip->sip_request->rq_method = sip_method_invite;
  inv = px_strans_find(p, msg);
  sip->sip_request->rq_method = sip_method_cancel;
  if (!inv) {
    px_reply(p, flow, msg, 481, NULL, NULL);
    msg_destroy(msg);
    return;
  }
  px_reply(p, flow, msg, 200, NULL, NULL);
  msg_destroy(msg);
  px_fork *f = px_strans_fork(inv);
  if (f && !f->finished) {
    f->cancelled = 1;
    cancel_pending(p, f);
    fork_check_done(p, f);
  } else if (px_strans_status(inv) < 200) {
    px_strans_respond(p, inv, 487, NULL, NULL);
  }
}

void px_forward_fixed(px *p, px_strans *st, msg_t *msg, sipflow_flow_id in,
                      int transport, const sipflow_addr *dst) {
  px_target t;
  memset(&t, 0, sizeof(t));
  t.transport = transport;
  t.dst = *dst;
  route_fixed(p, st, msg, in, &t, 0);
}
