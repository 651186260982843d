/*
 * sipflow-proxy: REGISTER. As a registrar (single and registrar roles) the
 * facts go to libsipflow's registrar and its result becomes the answer; as
 * an edge the request gets its Path with a flow token (RFC 5626 §5.1) and
 * goes to the registrar.
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

static void register_locally(px *p, msg_t *msg, sipflow_flow_id flow,
                             const sipflow_flow_tuple *tuple) {
  sip_t *sip = sip_object(msg);
  sipflow_sofia_register facts;
  const sipflow_reg_result *res = NULL;
  char extra[16384];
  size_t off = 0;
  int rv;

  if (!px_domain_ok(p, sip->sip_request->rq_url->url_host) &&
      !px_uri_is_us(p, sip->sip_request->rq_url)) {
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
  rv = sipflow_sofia_register_facts(&facts, msg);
  if (rv != 0) {
    p->stats.register_rejected++;
    px_log_net(p, SIPFLOW_LOG_INFO, "REGISTER refused: %s",
               sipflow_strerror(rv));
    answer(p, msg, flow, tuple, rv == SIPFLOW_ERR_TOO_LARGE ? 403 : 400,
           rv == SIPFLOW_ERR_TOO_LARGE ? "Too Many Contacts" : NULL, NULL);
    return;
  }
  /* Straight from the UA: the binding is reached over the arrival flow
   * (RFC 5626 §6). Behind an edge the Path leads to it. */
  if (facts.req.via_count == 1) {
    facts.req.flow_id = flow;
    facts.req.flow = *tuple;
  }
  facts.req.received = tuple->remote;
  rv = sipflow_registrar_process(p->reg, &facts.req, sipflow_uv_now(), &res);
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
  if (sipflow_sofia_register_answer(res, msg, extra + off, sizeof(extra) - off,
                                    NULL) != 0) {
    answer(p, msg, flow, tuple, 500, "Answer Too Large", NULL);
    return;
  }
  answer(p, msg, flow, tuple, res->status, res->reason, extra);
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
