/*
 * sipflow-proxy: a small transaction layer (RFC 3261 §17, proxy side).
 *
 * Server transactions absorb request retransmissions and answer them with
 * the last response. Client transactions retransmit over UDP (Timer A/E),
 * give a local 408 when no final answer comes in time (Timer B/F; this is
 * what drives 430/408 failover), ACK non-2xx INVITE answers hop by hop, and
 * can be CANCELled.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>

#include "proxy.h"

#define T1_MS 500
#define T2_MS 4000
/* How long a finished UDP transaction stays to absorb retransmissions. */
#define LINGER_MS 5000

struct px_strans {
  char key[256];
  px *p;
  msg_t *req; /* released once a final response is sent */
  sipflow_flow_id flow;
  int transport;
  int method;
  int status;
  char *last;
  size_t last_len;
  px_fork *fork;
  uv_timer_t linger;
  UT_hash_handle hh;
};

struct px_ctrans {
  char branch[64];
  px *p;
  msg_t *req; /* what we sent: for ACK and CANCEL */
  char *bytes;
  size_t len;
  sipflow_flow_id flow;
  int transport;
  sipflow_addr dst;
  int method;
  int status;
  int cancel_pending;
  unsigned retrans_ms;
  px_ctrans_cb cb;
  void *owner;
  int idx;
  uv_timer_t retrans, timeout;
  int timers_closing;
  UT_hash_handle hh;
};

/* ---- keys ---------------------------------------------------------------- */

static int strans_key(msg_t *req, int method, char *key, size_t len) {
  sip_t *sip = sip_object(req);
  sip_via_t *v = sip->sip_via;
  int n;
  if (!v || !v->v_branch)
    return -1;
  if (method == sip_method_ack)
    method = sip_method_invite;
  n = snprintf(key, len, "%s|%s|%s|%d", v->v_branch, v->v_host,
               v->v_port ? v->v_port : "", method);
  return n > 0 && (size_t)n < len ? 0 : -1;
}

/* ---- server transactions ------------------------------------------------- */

static void strans_free_cb(uv_handle_t *h) {
  px_strans *st = h->data;
  free(st->last);
  if (st->req)
    msg_destroy(st->req);
  free(st);
}

static void strans_end(px *p, px_strans *st) {
  HASH_DEL(p->stranses, st);
  if (st->fork)
    px_fork_on_strans_gone(st->fork);
  st->fork = NULL;
  uv_close((uv_handle_t *)&st->linger, strans_free_cb);
}

static void strans_linger_done(uv_timer_t *t) {
  px_strans *st = t->data;
  strans_end(st->p, st);
}

px_strans *px_strans_find(px *p, msg_t *req) {
  char key[256];
  px_strans *st = NULL;
  int method = sip_object(req)->sip_request->rq_method;
  if (strans_key(req, method, key, sizeof(key)) != 0)
    return NULL;
  HASH_FIND_STR(p->stranses, key, st);
  return st;
}

px_strans *px_strans_new(px *p, msg_t *req, sipflow_flow_id flow) {
  px_strans *st = calloc(1, sizeof(*st));
  sipflow_flow_info info;
  if (!st)
    return NULL;
  st->method = sip_object(req)->sip_request->rq_method;
  if (strans_key(req, st->method, st->key, sizeof(st->key)) != 0) {
    free(st);
    return NULL;
  }
  st->p = p;
  st->req = req;
  st->flow = flow;
  st->transport = sipflow_flow_get(p->flows, flow, &info) == 0
                      ? info.tuple.transport
                      : SIPFLOW_TRANSPORT_UDP;
  uv_timer_init(p->loop, &st->linger);
  st->linger.data = st;
  HASH_ADD_STR(p->stranses, key, st);
  return st;
}

/* After a final response: keep the transaction a while over UDP to answer
 * retransmissions; over streams nothing is retransmitted. */
static void strans_finish(px *p, px_strans *st) {
  if (st->transport == SIPFLOW_TRANSPORT_UDP)
    uv_timer_start(&st->linger, strans_linger_done, LINGER_MS, 0);
  else
    uv_timer_start(&st->linger, strans_linger_done, 0, 0);
  (void)p;
}

static void strans_store(px_strans *st, int status, const char *bytes,
                         size_t len) {
  char *copy = malloc(len);
  if (!copy)
    return;
  memcpy(copy, bytes, len);
  free(st->last);
  st->last = copy;
  st->last_len = len;
  st->status = status;
  /* Once answered, only the answer is needed (for retransmissions): the
   * parsed request is the bulk of a transaction's memory. */
  if (status >= 200 && st->req) {
    msg_destroy(st->req);
    st->req = NULL;
  }
}

void px_strans_respond(px *p, px_strans *st, int status, const char *phrase,
                       const char *extra) {
  size_t len;
  char *bytes;
  if (!st || !st->req || st->status >= 200)
    return;
  px_log(p, SIPFLOW_LOG_DEBUG, "answering %d", status);
  bytes = px_response(p, st->req, status, phrase, extra, &len);
  if (!bytes)
    return;
  px_send_response_bytes(p, st->flow, st->req, bytes, len);
  strans_store(st, status, bytes, len);
  free(bytes);
  if (status >= 200)
    strans_finish(p, st);
}

void px_strans_forward_response(px *p, px_strans *st, msg_t *resp) {
  sip_t *sip = sip_object(resp);
  int status = sip->sip_status->st_status;
  size_t len;
  char *bytes;
  px_log(p, SIPFLOW_LOG_DEBUG, "forwarding %d upstream", status);
  /* Our own Via is the top one; the rest goes upstream. */
  msg_header_remove(resp, (msg_pub_t *)sip, (msg_header_t *)sip->sip_via);
  bytes = px_msg_bytes(resp, &len);
  if (!bytes)
    return;
  px_send_flow(p, st->flow, bytes, len);
  if (st->status < 200 || (status >= 200 && status < 300)) {
    strans_store(st, status, bytes, len);
    if (status >= 200 && !uv_is_active((uv_handle_t *)&st->linger))
      strans_finish(p, st);
  }
  free(bytes);
}

void px_strans_retransmit(px *p, px_strans *st) {
  if (st->last)
    px_send_flow(p, st->flow, st->last, st->last_len);
}

int px_strans_status(const px_strans *st) { return st->status; }
msg_t *px_strans_request(const px_strans *st) { return st->req; }
sipflow_flow_id px_strans_flow(const px_strans *st) { return st->flow; }
void px_strans_set_fork(px_strans *st, px_fork *f) { st->fork = f; }
px_fork *px_strans_fork(const px_strans *st) { return st->fork; }

/* ---- client transactions ------------------------------------------------- */

static void ctrans_free_cb(uv_handle_t *h) {
  px_ctrans *ct = h->data;
  if (++ct->timers_closing < 2)
    return;
  if (ct->req)
    msg_destroy(ct->req);
  free(ct->bytes);
  free(ct);
}

static void ctrans_end(px *p, px_ctrans *ct) {
  HASH_DEL(p->ctranses, ct);
  uv_close((uv_handle_t *)&ct->retrans, ctrans_free_cb);
  uv_close((uv_handle_t *)&ct->timeout, ctrans_free_cb);
}

static void ctrans_linger_done(uv_timer_t *t) {
  px_ctrans *ct = t->data;
  ctrans_end(ct->p, ct);
}

static void ctrans_transmit(px *p, px_ctrans *ct) {
  if (ct->flow) {
    if (px_send_flow(p, ct->flow, ct->bytes, ct->len) == 0)
      return;
    /* The flow is gone: the branch will time out into a 408. */
    ct->flow = 0;
    if (!ct->dst.family)
      return;
  }
  px_send_addr(p, ct->transport, &ct->dst, ct->bytes, ct->len, &ct->flow);
}

static void ctrans_retransmit(uv_timer_t *t) {
  px_ctrans *ct = t->data;
  ctrans_transmit(ct->p, ct);
  ct->retrans_ms *= 2;
  if (ct->method != sip_method_invite && ct->retrans_ms > T2_MS)
    ct->retrans_ms = T2_MS;
  uv_timer_start(&ct->retrans, ctrans_retransmit, ct->retrans_ms, 0);
}

static void ctrans_complete(px *p, px_ctrans *ct, int status) {
  ct->status = status;
  uv_timer_stop(&ct->retrans);
  /* Linger to absorb retransmitted finals (and re-ACK them). */
  uv_timer_start(&ct->timeout, ctrans_linger_done,
                 ct->transport == SIPFLOW_TRANSPORT_UDP ? LINGER_MS : 0, 0);
  (void)p;
}

static void ctrans_timed_out(uv_timer_t *t) {
  px_ctrans *ct = t->data;
  px *p = ct->p;
  px_ctrans_cb cb = ct->cb;
  void *owner = ct->owner;
  int idx = ct->idx;
  p->stats.local_408++;
  ctrans_complete(p, ct, 408);
  ct->cb = NULL;
  if (cb)
    cb(p, ct, NULL, 408, owner, idx);
}

px_ctrans *px_ctrans_send(px *p, msg_t *msg, const char *branch,
                          sipflow_flow_id flow, int transport,
                          const sipflow_addr *dst, px_ctrans_cb cb, void *owner,
                          int idx) {
  px_ctrans *ct = calloc(1, sizeof(*ct));
  if (!ct)
    return NULL;
  snprintf(ct->branch, sizeof(ct->branch), "%s", branch);
  ct->p = p;
  ct->req = msg;
  ct->method = sip_object(msg)->sip_request->rq_method;
  ct->bytes = px_msg_bytes(msg, &ct->len);
  if (!ct->bytes) {
    free(ct);
    return NULL;
  }
  ct->flow = flow;
  ct->transport = transport;
  if (dst)
    ct->dst = *dst;
  ct->cb = cb;
  ct->owner = owner;
  ct->idx = idx;
  uv_timer_init(p->loop, &ct->retrans);
  uv_timer_init(p->loop, &ct->timeout);
  ct->retrans.data = ct->timeout.data = ct;
  HASH_ADD_STR(p->ctranses, branch, ct);
  ctrans_transmit(p, ct);
  if (ct->flow) {
    sipflow_flow_info info;
    if (sipflow_flow_get(p->flows, ct->flow, &info) == 0)
      ct->transport = info.tuple.transport;
  }
  if (ct->transport == SIPFLOW_TRANSPORT_UDP) {
    ct->retrans_ms = T1_MS;
    uv_timer_start(&ct->retrans, ctrans_retransmit, T1_MS, 0);
  }
  uv_timer_start(&ct->timeout, ctrans_timed_out, p->cfg.txn_timeout_ms, 0);
  return ct;
}

/* ACK for a non-2xx final answer to an INVITE branch (RFC 3261 §17.1.1.3). */
static void send_ack(px *p, px_ctrans *ct, msg_t *resp) {
  sip_t *rq = sip_object(ct->req), *rs = sip_object(resp);
  su_home_t *home = msg_home(ct->req);
  char *ruri = url_as_string(home, rq->sip_request->rq_url);
  char *via = sip_header_as_string(home, (sip_header_t *)rq->sip_via);
  char *from = sip_header_as_string(home, (sip_header_t *)rq->sip_from);
  char *to = sip_header_as_string(home, (sip_header_t *)rs->sip_to);
  char buf[4096];
  int n = snprintf(buf, sizeof(buf),
                   "ACK %s SIP/2.0\r\nVia: %s\r\nMax-Forwards: 70\r\n"
                   "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %u ACK\r\n",
                   ruri, via, from, to, rq->sip_call_id->i_id,
                   (unsigned)rq->sip_cseq->cs_seq);
  for (sip_route_t *r = rq->sip_route; r && n > 0 && (size_t)n < sizeof(buf);
       r = r->r_next) {
    sip_route_t one = *r;
    one.r_next = NULL;
    char *rs_s = sip_header_as_string(home, (sip_header_t *)&one);
    n += snprintf(buf + n, sizeof(buf) - (size_t)n, "Route: %s\r\n", rs_s);
  }
  if (n > 0 && (size_t)n < sizeof(buf) - 32) {
    n +=
        snprintf(buf + n, sizeof(buf) - (size_t)n, "Content-Length: 0\r\n\r\n");
    if (ct->flow)
      px_send_flow(p, ct->flow, buf, (size_t)n);
    else if (ct->dst.family)
      px_send_addr(p, ct->transport, &ct->dst, buf, (size_t)n, NULL);
  }
}

static void send_cancel(px *p, px_ctrans *ct) {
  sip_t *rq = sip_object(ct->req);
  su_home_t *home = msg_home(ct->req);
  char *ruri = url_as_string(home, rq->sip_request->rq_url);
  char *via = sip_header_as_string(home, (sip_header_t *)rq->sip_via);
  char *from = sip_header_as_string(home, (sip_header_t *)rq->sip_from);
  char *to = sip_header_as_string(home, (sip_header_t *)rq->sip_to);
  char buf[4096];
  int n = snprintf(buf, sizeof(buf),
                   "CANCEL %s SIP/2.0\r\nVia: %s\r\nMax-Forwards: 70\r\n"
                   "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %u CANCEL\r\n"
                   "Content-Length: 0\r\n\r\n",
                   ruri, via, from, to, rq->sip_call_id->i_id,
                   (unsigned)rq->sip_cseq->cs_seq);
  if (n <= 0 || (size_t)n >= sizeof(buf))
    return;
  /* The CANCEL's own 200 is absorbed: it shares the branch but not the
   * method, and no client transaction waits for it. */
  if (ct->flow)
    px_send_flow(p, ct->flow, buf, (size_t)n);
  else if (ct->dst.family)
    px_send_addr(p, ct->transport, &ct->dst, buf, (size_t)n, NULL);
}

void px_ctrans_cancel(px *p, px_ctrans *ct) {
  if (!ct || ct->status >= 200 || ct->method != sip_method_invite)
    return;
  if (ct->status >= 100)
    send_cancel(p, ct);
  else
    ct->cancel_pending = 1; /* RFC 3261 §9.1: wait for a provisional */
}

void px_ctrans_detach(px_ctrans *ct) {
  if (ct)
    ct->cb = NULL;
}

void px_txn_on_response(px *p, msg_t *resp, sipflow_flow_id flow) {
  sip_t *sip = sip_object(resp);
  px_ctrans *ct = NULL;
  int status = sip->sip_status->st_status;
  (void)flow;
  if (!sip->sip_via->v_branch) {
    msg_destroy(resp);
    return;
  }
  HASH_FIND_STR(p->ctranses, sip->sip_via->v_branch, ct);
  px_log(p, SIPFLOW_LOG_DEBUG, "response %d for branch %s: %s", status,
         sip->sip_via->v_branch, ct ? "matched" : "no transaction");
  if (!ct || sip->sip_cseq->cs_method != ct->method) {
    msg_destroy(resp); /* e.g. the 200 to our CANCEL */
    return;
  }
  if (ct->status >= 200) {
    /* A retransmitted final: re-ACK a non-2xx; pass 2xx upstream. */
    if (ct->method == sip_method_invite && status >= 300)
      send_ack(p, ct, resp);
    else if (ct->method == sip_method_invite && status < 300 && ct->cb)
      ct->cb(p, ct, resp, status, ct->owner, ct->idx);
    else
      msg_destroy(resp);
    return;
  }
  if (status < 200) {
    ct->status = status;
    uv_timer_stop(&ct->retrans); /* Timer A stops on a provisional */
    if (ct->method == sip_method_invite)
      uv_timer_start(&ct->timeout, ctrans_timed_out, 180000, 0); /* Timer C */
    if (ct->cancel_pending) {
      ct->cancel_pending = 0;
      send_cancel(p, ct);
    }
  } else {
    if (ct->method == sip_method_invite && status >= 300)
      send_ack(p, ct, resp);
    ctrans_complete(p, ct, status);
  }
  if (ct->cb)
    ct->cb(p, ct, resp, status, ct->owner, ct->idx);
  else
    msg_destroy(resp);
}

void px_txn_init(px *p) {
  p->stranses = NULL;
  p->ctranses = NULL;
}

void px_txn_shutdown(px *p) {
  px_strans *st, *stmp;
  px_ctrans *ct, *ctmp;
  HASH_ITER(hh, p->stranses, st, stmp) {
    uv_timer_stop(&st->linger);
    strans_end(p, st);
  }
  HASH_ITER(hh, p->ctranses, ct, ctmp) {
    ct->cb = NULL;
    ctrans_end(p, ct);
  }
}
