/*
 * sipflow-proxy: REGISTER. As a registrar (single and registrar roles) the
 * facts go to libsipflow's registrar and its result becomes the answer; as
 * an edge the request gets its Path with a flow token (RFC 5626 §5.1) and
 * goes to the registrar.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>

#include <sipflow/edge.h>

#include "proxy.h"

static void register_at_edge(px *p, px_strans *st, msg_t *msg,
                             sipflow_flow_id flow) {
  sip_t *sip = sip_object(msg);
  sipflow_edge_facts f;
  sipflow_edge_decision d;
  (void)sip;
  sipflow_sofia_edge_facts(&f, msg, 0, NULL, flow, NULL);
  if (sipflow_edge_decide(&f, &d) != 0) {
    px_strans_respond(p, st, 500, NULL, NULL);
    return;
  }
  px_log(p, SIPFLOW_LOG_DEBUG, "edge REGISTER: %s",
         sipflow_edge_reason_str(d.reason));
  if (d.action == SIPFLOW_EDGE_REJECT) {
    px_strans_respond(p, st, d.status, NULL,
                      d.status == 421 ? "Require: path\r\n" : NULL);
    return;
  }
  if (d.action == SIPFLOW_EDGE_ADD_TOKEN_OB ||
      d.action == SIPFLOW_EDGE_ADD_TOKEN || !f.no_supported_path) {
    /* Path with the token of the arrival flow; ;ob only from the first
     * hop of an Outbound registration. Other UAs that support Path get one
     * too, so calls to them also come through this edge (RFC 5626 §5.1
     * leaves it to local policy). */
    if (px_add_token_header(p, msg, 1, flow,
                            d.action == SIPFLOW_EDGE_ADD_TOKEN_OB) != 0) {
      px_strans_respond(p, st, 500, NULL, NULL);
      return;
    }
  }
  px_forward_fixed(p, st, msg, flow, p->cfg.registrar.transport,
                   &p->cfg.registrar.addr);
}

/* A local REGISTER is handled at once: it needs no transaction while it
 * runs, only a record of its answer for retransmissions
 * (px_strans_answer()). */
static void answer(px *p, msg_t *msg, sipflow_flow_id flow,
                   const sipflow_flow_tuple *tuple, int status,
                   const char *phrase, const char *extra) {
  px_log(p, SIPFLOW_LOG_DEBUG, "answering %d", status);
  px_strans_answer(p, msg, flow, tuple->transport, status, phrase, extra);
}

/* Which of the adapter's limits a REGISTER went past, and the answer that
 * fits it: too many Contacts 403 (docs/limits.md), too many unknown
 * Require tags 420 with each of them in Unsupported (RFC 3261 §8.2.2.3),
 * too long a Path vector 400. */
static void answer_too_large(px *p, msg_t *msg, sipflow_flow_id flow,
                             const sipflow_flow_tuple *tuple) {
  sip_t *sip = sip_object(msg);
  char extra[2048];
  size_t n = 0, off = 0;
  for (const sip_path_t *r = sip->sip_path; r; r = r->r_next)
    n++;
  if (n > SIPFLOW_SOFIA_MAX_PATH) {
    answer(p, msg, flow, tuple, 400, "Too Many Path Values", NULL);
    return;
  }
  n = 0;
  for (const sip_contact_t *m = sip->sip_contact; m; m = m->m_next)
    n++;
  if (n <= SIPFLOW_SOFIA_MAX_CONTACTS) {
    extra[0] = '\0';
    for (const sip_require_t *r = sip->sip_require; r; r = r->k_next)
      for (const char *const *t = r->k_items; t && *t; t++) {
        int w;
        if (!strcasecmp(*t, "outbound") || !strcasecmp(*t, "path"))
          continue;
        w = snprintf(extra + off, sizeof(extra) - off, "Unsupported: %s\r\n",
                     *t);
        if (w < 0 || (size_t)w >= sizeof(extra) - off)
          break; /* the first ones: enough to name the trouble */
        off += (size_t)w;
      }
    extra[off] = '\0';
    answer(p, msg, flow, tuple, 420, NULL, extra);
    return;
  }
  answer(p, msg, flow, tuple, 403, "Too Many Contacts", NULL);
}

/* RFC 3261 §18.1.1 and amplification: over UDP the source address is not
 * proven, so a 200 larger than max(UDP_ANSWER_RATIO x the request,
 * UDP_ANSWER_FLOOR) bytes lists only the Contacts the request itself
 * registered, not every binding of the AoR (docs/limits.md). */
#define UDP_ANSWER_RATIO 3
#define UDP_ANSWER_FLOOR 1200

size_t px_udp_answer_limit(size_t request_len) {
  size_t limit = UDP_ANSWER_RATIO * request_len;
  return limit < UDP_ANSWER_FLOOR ? UDP_ANSWER_FLOOR : limit;
}

static bool same_uri(sipflow_str a, sipflow_str b) {
  return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

/* Rewrites |extra| (after |off| bytes kept) with the request's own
 * Contacts only. 0, or -1 when it does not fit. */
static int trim_udp_answer(const sipflow_reg_result *res,
                           const sipflow_sofia_register *facts, msg_t *msg,
                           char *extra, size_t cap, size_t off) {
  sipflow_reg_binding own[SIPFLOW_SOFIA_MAX_CONTACTS];
  sipflow_reg_result r = *res;
  size_t n = 0;
  for (size_t i = 0; i < res->n_contacts && n < SIPFLOW_SOFIA_MAX_CONTACTS; i++)
    for (size_t k = 0; k < facts->req.n_contacts; k++)
      if (same_uri(res->contacts[i].uri, facts->req.contacts[k].uri)) {
        own[n++] = res->contacts[i];
        break;
      }
  r.contacts = own;
  r.n_contacts = n;
  extra[off] = '\0';
  return sipflow_sofia_register_answer(&r, msg, extra + off, cap - off, NULL) ==
                 0
             ? 0
             : -1;
}

static void register_locally(px *p, msg_t *msg, sipflow_flow_id flow,
                             const sipflow_flow_tuple *tuple) {
  sip_t *sip = sip_object(msg);
  sipflow_sofia_register facts;
  const sipflow_reg_result *res = NULL;
  char stack_extra[16384], *extra = stack_extra;
  size_t off = 0, cap = sizeof(stack_extra);
  int rv;

  char aor[1024];

  /* RFC 3261 §10.3 steps 1 and 3: the Request-URI and the To domain are
   * ours (any domain when no --domain is given). */
  if ((p->cfg.ndomains > 0 &&
       (!px_host_is_own(p, sip->sip_request->rq_url) ||
        (sip->sip_to && !px_host_is_own(p, sip->sip_to->a_url)))) ||
      (sip->sip_to && px_aor_key(p, sip->sip_to->a_url, aor, sizeof(aor)))) {
    answer(p, msg, flow, tuple, 404, "Domain Not Served Here", NULL);
    return;
  }
  if (p->auth) { /* RFC 3261 §10.3 step 3: authenticate first */
    px_auth_answer no;
    if (px_auth_register(p, msg, &no) != 0) {
      if (no.status != 401) /* a challenge is counted in auth_challenges */
        p->stats.register_rejected++;
      answer(p, msg, flow, tuple, no.status, no.phrase,
             no.extra[0] ? no.extra : NULL);
      return;
    }
  }
  /* The flow rule of RFC 5626 §6 (the arrival flow straight from the UA,
   * our own Path token's flow behind an edge) is the adapter's. */
  rv = sipflow_sofia_register_facts(&facts, msg, p->flows, flow, tuple);
  if (rv != 0) {
    p->stats.register_rejected++;
    px_log_net(p, SIPFLOW_LOG_INFO, "REGISTER refused: %s",
               sipflow_strerror(rv));
    if (rv == SIPFLOW_ERR_TOO_LARGE)
      answer_too_large(p, msg, flow, tuple);
    else
      answer(p, msg, flow, tuple, 400, NULL, NULL);
    return;
  }
  /* The canonical AoR: own names (our IPs, ports, aliases) stand for the
   * home domain, as they do for lookups (docs/registrar.md). */
  facts.req.aor.ptr = aor;
  facts.req.aor.len = strlen(aor);
  /* RFC 8599 §5.6.1.1: a proxy in front that pushes itself says so in
   * Feature-Caps; the registrar then leaves push to it. */
  rv = sipflow_registrar_process_facts(
      p->reg, SIPFLOW_REG_REQUEST_VERSION, &facts.req,
      sipflow_sofia_pns_in_front(sip) ? SIPFLOW_REG_FACT_PNS_IN_FRONT : 0,
      sipflow_uv_now(), &res);
  if (!res) {
    answer(p, msg, flow, tuple, 500, NULL, NULL);
    return;
  }
  if (res->status == 200) {
    const char *date = px_date_header(&off);
    p->stats.register_ok++;
    memcpy(extra, date, off);
  } else {
    p->stats.register_rejected++;
    px_log_net(p, SIPFLOW_LOG_INFO, "REGISTER for %s: %d %s", facts.req.aor.ptr,
               res->status, res->reason);
  }
  extra[off] = '\0';
  /* With a large --max-contacts the Contacts may not fit the usual room:
   * the binding is stored already, so the answer must be made. */
  while ((rv = sipflow_sofia_register_answer(res, msg, extra + off, cap - off,
                                             NULL)) ==
             SIPFLOW_ERR_BUFFER_TOO_SMALL &&
         cap < ((size_t)64 << 20)) {
    char *bigger = malloc(cap * 4);
    if (!bigger)
      break;
    memcpy(bigger, extra, off);
    if (extra != stack_extra)
      free(extra);
    extra = bigger;
    cap *= 4;
  }
  if (rv == 0 && res->status == 200 &&
      tuple->transport == SIPFLOW_TRANSPORT_UDP) {
    size_t req_len = msg_size(msg);
    if (strlen(extra) + req_len > px_udp_answer_limit(req_len)) {
      p->stats.udp_answers_trimmed++;
      rv = trim_udp_answer(res, &facts, msg, extra, cap, off);
    }
  }
  if (rv != 0)
    answer(p, msg, flow, tuple, 500, "Answer Too Large", NULL);
  else
    answer(p, msg, flow, tuple, res->status, res->reason, extra);
  if (extra != stack_extra)
    free(extra);
}

void px_handle_register(px *p, msg_t *msg, sipflow_flow_id flow,
                        const sipflow_flow_tuple *tuple) {
  px_strans *st = px_strans_find(p, msg);
  if (st) { /* a retransmission: the same answer again */
    px_strans_retransmit(p, st);
    msg_destroy(msg);
    return;
  }
  p->stats.registers++;
  if (!px_register_admit(p, &tuple->remote)) {
    /* RFC 3261 §21.5.4: come back later; a phone retries after it. */
    p->stats.register_rate_limited++;
    px_log_net(p, SIPFLOW_LOG_INFO,
               "REGISTER rate from one address past --register-rate %u: "
               "503",
               (unsigned)p->cfg.register_rate);
    /* Kept as a transaction's answer: a retransmission gets the same. */
    px_strans_answer(p, msg, flow, tuple->transport, 503, NULL,
                     "Retry-After: 5\r\n");
    msg_destroy(msg);
    return;
  }
  if (p->cfg.role != PX_ROLE_EDGE) {
    register_locally(p, msg, flow, tuple);
    msg_destroy(msg);
    return;
  }
  st = px_strans_new(p, msg, flow);
  if (!st) {
    px_reply(p, flow, msg, 500, NULL, NULL);
    msg_destroy(msg);
    return;
  }
  register_at_edge(p, st, msg, flow);
}
