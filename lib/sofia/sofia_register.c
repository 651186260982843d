/*
 * libsipflow-sofia: the facts of a REGISTER for the registrar, and the
 * header fields of its answer.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>

#include "sipflow/sipflow_sofia.h"

static sipflow_str str_of(const char *s) {
  sipflow_str r = {s, s ? strlen(s) : 0};
  return r;
}

/* "name=value" -> the value part, or "" for a bare name. */
static const char *param_val(const char *param) {
  const char *eq = strchr(param, '=');
  return eq ? eq + 1 : "";
}

static int param_is(const char *param, const char *name) {
  size_t n = strlen(name);
  return strncasecmp(param, name, n) == 0 &&
         (param[n] == '\0' || param[n] == '=');
}

/* Joins the Contact parameters the registrar does not interpret. */
static const char *other_params(su_home_t *home, const sip_contact_t *m) {
  size_t len = 0;
  char *out, *w;
  if (!m->m_params)
    return NULL;
  for (const char *const *p = m->m_params; *p; p++)
    len += strlen(*p) + 1;
  out = w = su_alloc(home, len + 1);
  if (!out)
    return NULL;
  for (const char *const *p = m->m_params; *p; p++) {
    if (param_is(*p, "expires") || param_is(*p, "q") ||
        param_is(*p, "+sip.instance") || param_is(*p, "reg-id"))
      continue;
    w += sprintf(w, ";%s", *p);
  }
  *w = '\0';
  return w == out ? NULL : out;
}

static int read_contact(su_home_t *home, const sip_contact_t *m,
                        sipflow_reg_contact *c) {
  const char *uri = url_as_string(home, m->m_url);
  sipflow_reg_contact_default(c);
  if (!uri)
    return SIPFLOW_ERR_NOMEM;
  c->uri = str_of(uri);
  c->ob = url_has_param(m->m_url, "ob") ? 1 : 0;
  for (const char *const *p = m->m_params; p && *p; p++) {
    if (param_is(*p, "+sip.instance"))
      c->instance = str_of(param_val(*p));
    else if (param_is(*p, "reg-id"))
      c->reg_id = str_of(param_val(*p));
    else if (param_is(*p, "expires"))
      c->expires = str_of(param_val(*p));
    else if (param_is(*p, "q") &&
             sipflow_reg_q_parse(param_val(*p), strlen(param_val(*p)), &c->q) !=
                 0)
      return SIPFLOW_ERR_MALFORMED;
  }
  c->params = str_of(other_params(home, m));
  return 0;
}

static unsigned options_of(const msg_list_t *list) {
  unsigned o = 0;
  if (sip_has_feature(list, "outbound"))
    o |= SIPFLOW_REG_OPT_OUTBOUND;
  if (sip_has_feature(list, "path"))
    o |= SIPFLOW_REG_OPT_PATH;
  if (sip_has_feature(list, "gruu"))
    o |= SIPFLOW_REG_OPT_GRUU;
  return o;
}

static int read_require(sipflow_sofia_register *out, const sip_t *sip) {
  const sip_require_t *r = sip->sip_require;
  out->req.require = options_of(r);
  for (; r; r = r->k_next) {
    for (const char *const *t = r->k_items; t && *t; t++) {
      if (strcasecmp(*t, "outbound") == 0 || strcasecmp(*t, "path") == 0 ||
          strcasecmp(*t, "gruu") == 0)
        continue;
      if (out->req.n_require_unknown >= SIPFLOW_SOFIA_MAX_REQUIRE)
        return SIPFLOW_ERR_TOO_LARGE;
      out->require_unknown[out->req.n_require_unknown++] = str_of(*t);
    }
  }
  out->req.require_unknown = out->require_unknown;
  return 0;
}

/* RFC 5626 §6: the flow a binding is reached over. Straight from the UA
 * (one Via, §5.1) it is the arrival flow; behind an edge it is the flow the
 * topmost Path URI's token names, when that token is this host's own. */
static void arrival_flow_rule(sipflow_sofia_register *out, const sip_t *sip,
                              const sipflow_flow_table *ft,
                              sipflow_flow_id arrival_flow,
                              const sipflow_flow_tuple *arrival_tuple) {
  const url_t *top = sip->sip_path ? sip->sip_path->r_url : NULL;
  sipflow_flow_info info;
  if (arrival_tuple)
    out->req.received = arrival_tuple->remote;
  if (out->req.via_count == 1) {
    out->req.flow_id = arrival_flow;
    if (arrival_tuple)
      out->req.flow = *arrival_tuple;
    return;
  }
  if (!ft || !top || !top->url_user || !top->url_user[0])
    return;
  if (sipflow_flow_lookup(ft, top->url_user, strlen(top->url_user), &info) !=
          0 ||
      !info.id) /* a minted token naming no flow of ours: the Path leads */
    return;
  out->req.flow_id = info.id;
  out->req.flow = info.tuple;
}

int sipflow_sofia_register_facts(sipflow_sofia_register *out, msg_t *msg,
                                 const sipflow_flow_table *ft,
                                 sipflow_flow_id arrival_flow,
                                 const sipflow_flow_tuple *arrival_tuple) {
  sip_t *sip = msg ? sip_object(msg) : NULL;
  su_home_t *home;
  size_t n = 0;
  int rv;

  if (!out || !sip || !sip->sip_request ||
      sip->sip_request->rq_method != sip_method_register)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (!sip->sip_to || !sip->sip_call_id || !sip->sip_cseq)
    return SIPFLOW_ERR_MALFORMED;
  home = msg_home(msg);
  memset(out, 0, sizeof(*out));
  sipflow_reg_request_default(&out->req);
  out->req.aor = str_of(url_as_string(home, sip->sip_to->a_url));
  if (!out->req.aor.ptr)
    return SIPFLOW_ERR_NOMEM;
  out->req.call_id = str_of(sip->sip_call_id->i_id);
  out->req.cseq = sip->sip_cseq->cs_seq;
  if (sip->sip_expires) {
    out->req.has_expires = 1;
    /* sofia-sip reads the delta into an unsigned long: a value past 2^32-1
     * means 2^32-1 (RFC 3261 §10.2.1.1), which the registrar then clamps
     * to its max-expires; a plain cast would wrap 2^32 to 0 (a removal). */
    out->req.expires = sip->sip_expires->ex_delta > UINT32_MAX
                           ? UINT32_MAX
                           : (uint32_t)sip->sip_expires->ex_delta;
  }
  for (const sip_contact_t *m = sip->sip_contact; m; m = m->m_next) {
    if (m->m_url->url_type == url_any) {
      out->req.wildcard = 1;
      continue;
    }
    if (n >= SIPFLOW_SOFIA_MAX_CONTACTS)
      return SIPFLOW_ERR_TOO_LARGE;
    rv = read_contact(home, m, &out->contacts[n]);
    if (rv != 0)
      return rv;
    n++;
  }
  out->req.contacts = out->contacts;
  out->req.n_contacts = n;
  n = 0;
  for (const sip_path_t *pth = sip->sip_path; pth; pth = pth->r_next) {
    sip_path_t one = *pth;
    char *v;
    if (n >= SIPFLOW_SOFIA_MAX_PATH)
      return SIPFLOW_ERR_TOO_LARGE;
    one.r_next = NULL;
    v = sip_header_as_string(home, (const sip_header_t *)&one);
    if (!v)
      return SIPFLOW_ERR_NOMEM;
    out->path[n++] = str_of(v);
  }
  out->req.path = out->path;
  out->req.n_path = n;
  out->req.supported = options_of(sip->sip_supported);
  rv = read_require(out, sip);
  if (rv != 0)
    return rv;
  out->req.via_count = sipflow_sofia_via_count(sip);
  if (sip->sip_user_agent)
    out->req.user_agent = str_of(sip->sip_user_agent->g_string);
  arrival_flow_rule(out, sip, ft, arrival_flow, arrival_tuple);
  return 0;
}

/* ---- the answer ----------------------------------------------------------
 * The core writes it (sipflow_reg_answer_format()); the adapter only hands
 * it the request's Path values and unknown Require tags from the message.
 */

int sipflow_sofia_register_answer(const sipflow_reg_result *res, msg_t *msg,
                                  char *buf, size_t buflen, size_t *outlen) {
  sip_t *sip = msg ? sip_object(msg) : NULL;
  sipflow_str path[SIPFLOW_SOFIA_MAX_PATH];
  sipflow_str unknown[SIPFLOW_SOFIA_MAX_REQUIRE];
  sipflow_reg_request req;
  if (!res || !sip || !buf || buflen == 0)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  sipflow_reg_request_default(&req);
  if (res->status == 200 && res->echo_path) {
    for (const sip_path_t *p = sip->sip_path;
         p && req.n_path < SIPFLOW_SOFIA_MAX_PATH; p = p->r_next) {
      sip_path_t one = *p;
      char *v;
      one.r_next = NULL;
      v = sip_header_as_string(msg_home(msg), (const sip_header_t *)&one);
      if (v)
        path[req.n_path++] = str_of(v);
    }
    req.path = path;
  }
  if (res->status == 420 && res->unsupported_unknown) {
    for (const sip_require_t *r = sip->sip_require; r; r = r->k_next)
      for (const char *const *t = r->k_items; t && *t; t++)
        if (strcasecmp(*t, "outbound") && strcasecmp(*t, "path") &&
            req.n_require_unknown < SIPFLOW_SOFIA_MAX_REQUIRE)
          unknown[req.n_require_unknown++] = str_of(*t);
    req.require_unknown = unknown;
  }
  return sipflow_reg_answer_format(res, &req, buf, buflen, outlen);
}
