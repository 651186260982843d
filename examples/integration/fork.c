/*
 * Forking over a registrar's target plan (see fork.h).
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_protos.h>

#include "fork.h"

#define PFORK_BRANCHES 16

typedef struct pbranch {
  uint32_t plan_id;
  msg_t *req; /* as sent, for its ACK or CANCEL */
  sipflow_addr dst;
  int done;
} pbranch;

struct pfork {
  uint32_t id;
  uint64_t tag;
  sipflow_reg_plan *plan;
  msg_t *req; /* as received */
  sipflow_addr upstream;
  pbranch br[PFORK_BRANCHES];
  int nbr, pending;
  int best;         /* best final status so far (sipflow_reg_response_pick) */
  msg_t *best_resp; /* ... and the response that carried it */
  int cancelled, answered;
};

static int is_invite(msg_t *req) {
  return sip_object(req)->sip_request->rq_method == sip_method_invite;
}

static void fork_free(pfork_table *t, pfork *f) {
  t->slot[f->id % PFORK_MAX] = NULL;
  for (int i = 0; i < f->nbr; i++)
    msg_destroy(f->br[i].req);
  if (f->best_resp)
    msg_destroy(f->best_resp);
  sipflow_reg_plan_del(f->plan);
  msg_destroy(f->req);
  free(f);
}

/* Answers upstream once: the response itself, or one made here. */
static void answer(pfork_table *t, pfork *f, int status, msg_t *resp) {
  if (f->answered)
    return;
  f->answered = 1;
  if (resp)
    sip_send(t->sock, &f->upstream, resp);
  else
    sip_reply(t->sock, &f->upstream, f->req, status, NULL);
}

/* Sends one branch; 0, or the SIP status that stands for its answer. */
static int send_branch(pfork_table *t, pfork *f, const sipflow_reg_branch *b) {
  char branch[96];
  pbranch *pb = &f->br[f->nbr];
  msg_t *copy;
  int status;
  if (f->nbr == PFORK_BRANCHES || !(copy = msg_dup(f->req)))
    return 500;
  status = t->target(t->app, f->tag, copy, b->binding, &pb->dst);
  snprintf(branch, sizeof(branch), "%s.%" PRIu32 ".%d", t->prefix, f->id,
           f->nbr);
  if (!status)
    status = sip_forward_prepare(copy, host_udp_local(t->sock), branch);
  if (status || sip_send(t->sock, &pb->dst, copy) != 0) {
    msg_destroy(copy);
    return status ? status : 503;
  }
  pb->req = copy;
  pb->plan_id = b->id;
  pb->done = 0;
  f->nbr++;
  f->pending++;
  return 0;
}

/* Sends |b|; a branch that fails at once is reported, and the instance's
 * next flow, if the plan gives one, goes in its place. */
static void start_branch(pfork_table *t, pfork *f,
                         const sipflow_reg_branch *b) {
  while (b) {
    const sipflow_reg_branch *next = NULL;
    int status = send_branch(t, f, b);
    if (status == 0)
      return;
    f->best = sipflow_reg_response_pick(f->best, status);
    if (sipflow_reg_plan_report(f->plan, b->id, status, host_now(), &next))
      return;
    b = next;
  }
}

/* The next q group, once nothing of the current one is pending. */
static void next_groups(pfork_table *t, pfork *f) {
  while (f->pending == 0 && !f->cancelled && !f->answered) {
    const sipflow_reg_branch *group;
    size_t n;
    if (sipflow_reg_plan_next_group(f->plan, &group, &n) != 0 || n == 0)
      return;
    for (size_t i = 0; i < n; i++)
      start_branch(t, f, &group[i]);
  }
}

static void check_done(pfork_table *t, pfork *f) {
  int status;
  if (f->pending > 0)
    return;
  /* 430 never goes upstream (RFC 5626 §11.5): the plan maps it to 480. */
  status = f->cancelled ? 487 : sipflow_reg_plan_final_status(f->plan);
  if (f->best_resp && !f->cancelled &&
      sip_object(f->best_resp)->sip_status->st_status == status)
    answer(t, f, status, f->best_resp);
  else
    answer(t, f, status, NULL);
  fork_free(t, f);
}

static void cancel_pending(pfork_table *t, pfork *f) {
  for (int i = 0; i < f->nbr; i++) {
    size_t len;
    char *bytes;
    if (f->br[i].done || !is_invite(f->br[i].req))
      continue; /* only an INVITE is cancelled (RFC 3261 §9.1) */
    bytes = sip_cancel(f->br[i].req, &len);
    if (bytes)
      host_udp_send(t->sock, &f->br[i].dst, bytes, len);
    free(bytes);
  }
}

void pfork_start(pfork_table *t, sipflow_reg_plan *plan, msg_t *req,
                 const sipflow_addr *upstream, uint64_t tag) {
  pfork *f = calloc(1, sizeof(*f)), *old;
  if (!f) {
    sip_reply(t->sock, upstream, req, 500, NULL);
    sipflow_reg_plan_del(plan);
    msg_destroy(req);
    return;
  }
  f->id = ++t->next_id;
  f->tag = tag;
  f->plan = plan;
  f->req = req;
  f->upstream = *upstream;
  old = t->slot[f->id % PFORK_MAX];
  if (old) { /* a fork that never finished: give up on it */
    answer(t, old, 408, NULL);
    fork_free(t, old);
  }
  t->slot[f->id % PFORK_MAX] = f;
  if (sip_object(req)->sip_request->rq_method == sip_method_invite)
    sip_reply(t->sock, upstream, req, 100, NULL);
  next_groups(t, f);
  check_done(t, f);
}

int pfork_response(pfork_table *t, const char *branch, msg_t *resp) {
  uint32_t id;
  int idx, status = sip_object(resp)->sip_status->st_status;
  pfork *f;
  pbranch *b;
  size_t plen = strlen(t->prefix);
  if (sscanf(branch + plen, ".%" SCNu32 ".%d", &id, &idx) != 2 ||
      !(f = t->slot[id % PFORK_MAX]) || f->id != id || idx < 0 || idx >= f->nbr)
    return -1;
  b = &f->br[idx];
  if (status >= 300 && is_invite(b->req)) { /* non-2xx: ACKed here */
    size_t len;
    char *ack = sip_ack(b->req, resp, &len);
    if (ack)
      host_udp_send(t->sock, &b->dst, ack, len);
    free(ack);
  }
  if (status < 200 || b->done) {
    /* Provisional answers, and retransmitted 2xx, go up as they are. */
    if ((status > 100 && status < 300) && (!f->answered || status >= 200))
      sip_send(t->sock, &f->upstream, resp);
    msg_destroy(resp);
    return 0;
  }
  b->done = 1;
  f->pending--;
  if (status < 300) {
    answer(t, f, status, resp);
    msg_destroy(resp);
    sipflow_reg_plan_report(f->plan, b->plan_id, status, host_now(),
                            &(const sipflow_reg_branch *){NULL});
    cancel_pending(t, f); /* RFC 3261 §16.7 step 10 */
  } else {
    const sipflow_reg_branch *next = NULL;
    int pick = sipflow_reg_response_pick(f->best, status);
    if (pick == status && pick != f->best) {
      if (f->best_resp)
        msg_destroy(f->best_resp);
      f->best_resp = resp;
    } else {
      msg_destroy(resp);
    }
    f->best = pick;
    /* 430: the binding goes and the instance's next flow is given; 408:
     * the next flow is given and the binding stays (RFC 5626 §7). */
    if (sipflow_reg_plan_report(f->plan, b->plan_id, status, host_now(),
                                &next) == 0 &&
        next && !f->cancelled && !f->answered)
      start_branch(t, f, next);
    if (status >= 600)
      cancel_pending(t, f);
    next_groups(t, f);
  }
  check_done(t, f);
  return 0;
}

int pfork_cancel(pfork_table *t, msg_t *cancel, const sipflow_addr *from) {
  sip_t *c = sip_object(cancel);
  for (int i = 0; i < PFORK_MAX; i++) {
    pfork *f = t->slot[i];
    sip_t *r = f ? sip_object(f->req) : NULL;
    if (!r || !c->sip_via || !r->sip_via || !c->sip_via->v_branch ||
        !r->sip_via->v_branch || !c->sip_call_id || !c->sip_cseq ||
        strcmp(c->sip_via->v_branch, r->sip_via->v_branch) != 0 ||
        strcmp(c->sip_call_id->i_id, r->sip_call_id->i_id) != 0 ||
        c->sip_cseq->cs_seq != r->sip_cseq->cs_seq)
      continue;
    sip_reply(t->sock, from, cancel, 200, NULL);
    f->cancelled = 1;
    cancel_pending(t, f);
    check_done(t, f); /* 487 once every branch has answered */
    return 0;
  }
  return -1;
}

void pfork_table_clear(pfork_table *t) {
  for (int i = 0; i < PFORK_MAX; i++)
    if (t->slot[i])
      fork_free(t, t->slot[i]);
}
