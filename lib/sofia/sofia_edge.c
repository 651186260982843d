/*
 * libsipflow-sofia: the facts of a request for the edge decision, and the
 * Path and Record-Route values with flow tokens.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <string.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>

#include "sipflow/sipflow_sofia.h"

int sipflow_sofia_edge_facts(sipflow_edge_facts *f, msg_t *msg, int route_is_us,
                             const sipflow_flow_table *ft,
                             sipflow_flow_id arrival_flow,
                             const sipflow_flow_tuple *arrival_tuple) {
  sip_t *sip = msg ? sip_object(msg) : NULL;
  const sip_route_t *r;
  const char *name;
  if (!f || !sip || !sip->sip_request)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  sipflow_edge_facts_default(f);
  name = sip->sip_request->rq_method_name;
  f->method = name ? sipflow_edge_method_parse(name, strlen(name))
                   : SIPFLOW_EDGE_METHOD_OTHER;
  f->to_tag = sip->sip_to && sip->sip_to->a_tag ? 1 : 0;
  f->via_count = sipflow_sofia_via_count(sip);
  if (sip->sip_contact && sip->sip_contact->m_url->url_type != url_any) {
    f->contact_reg_id =
        msg_params_find(sip->sip_contact->m_params, "reg-id") ? 1 : 0;
    f->contact_ob = url_has_param(sip->sip_contact->m_url, "ob") ? 1 : 0;
  }
  f->no_supported_path = sip_has_feature(sip->sip_supported, "path") ? 0 : 1;
  f->arrival_flow = arrival_flow;
  r = sip->sip_route;
  if (!r || !route_is_us)
    return 0;
  f->route_is_us = 1;
  f->route_ob = url_has_param(r->r_url, "ob") ? 1 : 0;
  if (r->r_url->url_user && r->r_url->url_user[0]) {
    const char *u = r->r_url->url_user;
    sipflow_flow_info info;
    f->route_has_user = 1;
    if (!ft)
      return 0;
    f->token_result = sipflow_flow_lookup(ft, u, strlen(u), &info);
    if (f->token_result == 0) {
      f->token_flow = info.id;
      if (!info.id && arrival_tuple)
        f->token_tuple_is_arrival =
            sipflow_flow_tuple_same(&info.tuple, arrival_tuple) ? 1 : 0;
    }
  }
  return 0;
}

int sipflow_sofia_add_token_header(msg_t *msg, int header,
                                   const sipflow_edge_local *local,
                                   const char *token, size_t token_len,
                                   unsigned flags) {
  char uri[512];
  sip_t *sip = msg ? sip_object(msg) : NULL;
  msg_header_t *h;
  int rv;
  if (!sip || (header != SIPFLOW_EDGE_HEADER_PATH &&
               header != SIPFLOW_EDGE_HEADER_RECORD_ROUTE))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  rv = sipflow_edge_format_uri(local, token, token_len, flags, uri, sizeof(uri),
                               NULL);
  if (rv != 0)
    return rv == SIPFLOW_ERR_BUFFER_TOO_SMALL ? SIPFLOW_ERR_INVALID_ARGUMENT
                                              : rv;
  /* _make copies the text into the message's home. */
  h = header == SIPFLOW_EDGE_HEADER_PATH
          ? (msg_header_t *)sip_path_make(msg_home(msg), uri)
          : (msg_header_t *)sip_record_route_make(msg_home(msg), uri);
  if (!h || msg_header_insert(msg, (msg_pub_t *)sip, h) < 0)
    return SIPFLOW_ERR_NOMEM;
  return 0;
}
