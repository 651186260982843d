/*
 * REGISTER processing (RFC 3261 §10.3 with RFC 5626 §6 and RFC 3327 §5.3).
 *
 * Four phases, the first three without side effects: check the request,
 * classify and match each Contact, allocate everything the change needs;
 * then commit, which cannot fail. A rejected or failed request therefore
 * leaves the store exactly as it was.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <string.h>

#include "registrar_int.h"

enum { ACT_NONE, ACT_ADD, ACT_REFRESH, ACT_UPDATE, ACT_REPLACE, ACT_REMOVE };

/* RFC 3261 §10.3 step 7 lets 423 apply only below one hour. */
#define ONE_HOUR 3600u
/* RFC 3261 §10.2.1.1: a malformed expires value counts as one hour. */
#define MALFORMED_EXPIRES 3600u
/* RFC 5626 §10: reg-id is 1..2^31-1. */
#define REG_ID_MAX 0x7fffffffu

/* What one REGISTER works with besides the per-Contact state. */
typedef struct job {
  const sipflow_reg_request *req;
  sipflow_tstamp now;
  sipflow_str ua;  /* truncated to max_user_agent_len */
  size_t path_len; /* Path joined */
  uint64_t hash;   /* of the canonical AoR in reg->aor_buf */
  size_t key_len;
  sipflow__reg_aor *aor;     /* existing AoR, or NULL */
  sipflow__reg_aor *new_aor; /* allocated for this request: a new AoR, or
                                a larger copy of |aor| */
  uint32_t victims;          /* bindings to remove to make room */
  bool ua_outbound;          /* outbound in Supported or Require */
  bool first_hop;            /* RFC 5626 §6: direct, or Path carries ;ob */
  bool honoured;             /* some Contact's reg-id is used */
  sipflow_str pns;           /* RFC 8599: the push service named, supported */
  uint32_t pnsreg;           /* its refresh lead, seconds */
  bool pnsreg_tag;           /* the Contact has +sip.pnsreg (§4.1.4) */
  bool pns_in_front;         /* SIPFLOW_REG_FACT_PNS_IN_FRONT */
} job;

static int answer(sipflow_registrar *reg, int status, const char *reason) {
  sipflow_reg_result *r = &reg->result;
  memset(r, 0, sizeof(*r));
  r->status = status;
  r->reason = reason;
  r->supported = SIPFLOW_REG_OPT_PATH;
  if (reg->set.outbound != SIPFLOW_REG_OUTBOUND_OFF)
    r->supported |= SIPFLOW_REG_OPT_OUTBOUND;
  if (reg->gruu_kr)
    r->supported |= SIPFLOW_REG_OPT_GRUU;
  return status;
}

static int bad_request(sipflow_registrar *reg, const char *reason) {
  return answer(reg, 400, reason);
}

static sipflow_str opt_str(sipflow_str s) {
  if (!s.ptr)
    s.len = 0;
  return s;
}

/* Header text the host will echo: no controls but HTAB (no CR/LF). */
static bool text_ok(sipflow_str s) {
  return sipflow__reg_none_of(s.ptr, s.len, SIPFLOW__REG_CC_NOTXT);
}

/* Call-ID = word ["@" word]: visible ASCII only. */
static bool token_ok(sipflow_str s) {
  return sipflow__reg_none_of(s.ptr, s.len, SIPFLOW__REG_CC_NOTOK);
}

/* ---- phase 1: the request as a whole -------------------------------------
 */

static int check_path(sipflow_registrar *reg, job *j) {
  const sipflow_reg_request *req = j->req;
  if (req->n_path > reg->set.max_path_entries)
    return bad_request(reg, "Too Many Path Values");
  for (size_t i = 0; i < req->n_path; i++) {
    sipflow_str e = req->path[i];
    if (!e.ptr || e.len == 0 || !text_ok(e))
      return bad_request(reg, "Invalid Path");
    if (e.len > reg->set.max_path_len)
      return bad_request(reg, "Path Too Long");
  }
  j->path_len = sipflow__reg_path_joined_len(req->path, req->n_path);
  if (j->path_len > reg->set.max_path_len)
    return bad_request(reg, "Path Too Long");
  return 0;
}

/* RFC 3261 §10.3 step 2 and RFC 5626 §6 / RFC 3327 §5.3 policies. */
static int check_extensions(sipflow_registrar *reg, job *j) {
  const sipflow_reg_request *req = j->req;
  unsigned offered = req->supported | req->require, unsupported = 0;
  if ((req->require & SIPFLOW_REG_OPT_OUTBOUND) &&
      reg->set.outbound == SIPFLOW_REG_OUTBOUND_OFF)
    unsupported |= SIPFLOW_REG_OPT_OUTBOUND;
  if ((req->require & SIPFLOW_REG_OPT_GRUU) && !reg->gruu_kr)
    unsupported |= SIPFLOW_REG_OPT_GRUU;
  if (reg->set.path_requires_supported && req->n_path &&
      !(offered & SIPFLOW_REG_OPT_PATH))
    unsupported |= SIPFLOW_REG_OPT_PATH;
  if (unsupported || req->n_require_unknown) {
    answer(reg, 420, "Bad Extension");
    reg->result.unsupported = unsupported;
    reg->result.unsupported_unknown = req->n_require_unknown > 0;
    return 420;
  }
  /* A UA that requires outbound supports it. */
  j->ua_outbound = (offered & SIPFLOW_REG_OPT_OUTBOUND) != 0;
  if (reg->set.outbound == SIPFLOW_REG_OUTBOUND_REQUIRED && req->n_contacts &&
      !j->ua_outbound) {
    answer(reg, 421, "Extension Required");
    reg->result.require = SIPFLOW_REG_OPT_OUTBOUND;
    return 421;
  }
  return 0;
}

static int check_request(sipflow_registrar *reg, job *j) {
  const sipflow_reg_request *req = j->req;
  const sipflow_registrar_settings *set = &reg->set;
  int st;
  if (!req->aor.ptr || req->aor.len == 0)
    return bad_request(reg, "Missing AoR");
  if (req->aor.len > set->max_aor_len)
    return bad_request(reg, "AoR Too Long");
  if (!req->call_id.ptr || req->call_id.len == 0)
    return bad_request(reg, "Missing Call-ID");
  if (req->call_id.len > set->max_call_id_len)
    return bad_request(reg, "Call-ID Too Long");
  if (!token_ok(req->call_id))
    return bad_request(reg, "Invalid Call-ID");
  if (req->via_count == 0)
    return bad_request(reg, "Missing Via");
  if (req->flow.transport && !sipflow_transport_name(req->flow.transport))
    return bad_request(reg, "Unsupported Transport");
  j->ua = opt_str(req->user_agent);
  if (!text_ok(j->ua))
    return bad_request(reg, "Invalid User-Agent");
  if (j->ua.len > set->max_user_agent_len)
    j->ua.len = set->max_user_agent_len;
  if ((st = check_path(reg, j)) || (st = check_extensions(reg, j)))
    return st;
  if (req->n_contacts > set->max_contacts_per_request)
    return answer(reg, set->too_many_contacts_status, "Too Many Contacts");
  return 0;
}

/* The canonical AoR and its hash; the AoR table's slot starts loading
 * while the Contacts are checked. */
static int hash_aor(sipflow_registrar *reg, job *j) {
  if (sipflow__reg_aor_canon(j->req->aor.ptr, j->req->aor.len, reg->aor_buf,
                             &j->key_len) != 0)
    return bad_request(reg, "Invalid AoR");
  j->hash = sipflow__reg_hash_aor(reg, reg->aor_buf, j->key_len);
  sipflow__reg_index_prefetch(&reg->aors, j->hash);
  return 0;
}

static void find_aor(sipflow_registrar *reg, job *j) {
  j->aor = sipflow__reg_aor_find(reg, reg->aor_buf, j->key_len, j->hash,
                                 SIPFLOW__REG_FIND_REGISTER);
}

/* RFC 5626 §6: outbound applies when the registrar is the first hop, or
 * the Path value the policy names carries ;ob (checklist 11.5). */
static bool first_hop(const sipflow_registrar *reg,
                      const sipflow_reg_request *req) {
  if (req->via_count == 1)
    return true;
  if (req->n_path == 0)
    return false;
  switch (reg->set.path_ob) {
  case SIPFLOW_REG_PATH_OB_TOP:
    return sipflow__reg_path_has_ob(req->path[0].ptr, req->path[0].len);
  case SIPFLOW_REG_PATH_OB_ANY:
    for (size_t i = 0; i < req->n_path; i++)
      if (sipflow__reg_path_has_ob(req->path[i].ptr, req->path[i].len))
        return true;
    return false;
  default: {
    const sipflow_str *last = &req->path[req->n_path - 1];
    return sipflow__reg_path_has_ob(last->ptr, last->len);
  }
  }
}

/* ---- phase 2: each Contact ----------------------------------------------- */

static uint32_t parse_expires(sipflow_str s) {
  uint64_t v = 0;
  if (s.len == 0)
    return MALFORMED_EXPIRES;
  for (size_t i = 0; i < s.len; i++) {
    if (s.ptr[i] < '0' || s.ptr[i] > '9')
      return MALFORMED_EXPIRES;
    v = v * 10 + (uint64_t)(s.ptr[i] - '0');
    if (v > UINT32_MAX)
      v = UINT32_MAX; /* RFC 3261 §10.2.1.1: larger means 2^32-1 */
  }
  return (uint32_t)v;
}

static int parse_reg_id(sipflow_str s, uint32_t *out) {
  uint64_t v = 0;
  if (s.len == 0 || s.len > 10)
    return SIPFLOW_ERR_MALFORMED;
  for (size_t i = 0; i < s.len; i++) {
    if (s.ptr[i] < '0' || s.ptr[i] > '9')
      return SIPFLOW_ERR_MALFORMED;
    v = v * 10 + (uint64_t)(s.ptr[i] - '0');
  }
  if (v == 0 || v > REG_ID_MAX)
    return SIPFLOW_ERR_MALFORMED;
  *out = (uint32_t)v;
  return 0;
}

static uint32_t default_expires(const sipflow_registrar_settings *set) {
  uint32_t d = set->default_expires;
  return d < set->min_expires   ? set->min_expires
         : d > set->max_expires ? set->max_expires
                                : d;
}

/* RFC 3261 §10.3 step 7: the Contact's parameter, the header, the default. */
static uint32_t requested_expires(const sipflow_registrar *reg,
                                  const sipflow_reg_request *req,
                                  const sipflow_reg_contact *c) {
  if (c->expires.ptr)
    return parse_expires(c->expires);
  if (req->has_expires)
    return req->expires;
  return default_expires(&reg->set);
}

/* RFC 8599 §5.6.1.1, §8.1: a registrar that offers push answers 555 to a
 * pn-provider it does not support, and names a supported one in the 200's
 * Feature-Caps. Without a list of providers the parameters are only
 * stored (a registrar without RFC 8599 support ignores them). */
static int check_push(sipflow_registrar *reg, job *j,
                      const sipflow_reg_contact *c) {
  sipflow_str prov, name;
  uint32_t refresh = 0;
  /* §5.6.1.1: a Feature-Caps with +sip.pns in the REGISTER says a proxy
   * in front pushes; this registrar then follows normal procedures. */
  if (!reg->push_list || j->pns_in_front ||
      !sipflow__reg_uri_param(c->uri.ptr, c->uri.len, "pn-provider", &prov))
    return 0;
  /* §4.1.5, §5.6.1.2: an empty pn-provider asks for every service. */
  if (prov.len == 0) {
    j->pns = reg->set.push_providers;
    j->pnsreg = 0;
    return 0;
  }
  if (!sipflow__reg_push_find(reg, prov, &name, &refresh))
    return answer(reg, 555, "Push Notification Service Not Supported");
  j->pns = name;
  j->pnsreg = refresh;
  /* §5.6.1.1: +sip.pnsreg goes back to a Contact that carries the
   * +sip.pnsreg media feature tag (§4.1.4). */
  j->pnsreg_tag = sipflow__reg_params_has(opt_str(c->params), "+sip.pnsreg");
  return 0;
}

static int classify_one(sipflow_registrar *reg, job *j, size_t i) {
  const sipflow_registrar_settings *set = &reg->set;
  const sipflow_reg_contact *c = &j->req->contacts[i];
  sipflow__reg_cinfo *ci = &reg->cinfo[i];
  memset(ci, 0, sizeof(*ci));
  ci->c = c;
  if (!c->uri.ptr || c->uri.len == 0)
    return bad_request(reg, "Invalid Contact URI");
  if (c->uri.len > set->max_uri_len)
    return bad_request(reg, "Contact URI Too Long");
  /* The syntax check is put off until the AoR's bindings are at hand: a
   * URI byte for byte like a stored one needs no parsing (a refresh). */
  ci->uri_unchecked = 1;
  if (check_push(reg, j, c))
    return reg->result.status;
  if (c->q != SIPFLOW_REG_Q_NONE && (c->q < 0 || c->q > 1000))
    return bad_request(reg, "Invalid q");
  if (c->params.ptr && c->params.len > set->max_params_len)
    return bad_request(reg, "Contact Parameters Too Long");
  if (!text_ok(opt_str(c->params)))
    return bad_request(reg, "Invalid Contact Parameters");
  if (c->instance.ptr) {
    if (c->instance.len > set->max_instance_len)
      return bad_request(reg, "Instance Too Long");
    /* Checked with the URI: a UA sends the same instance every time. */
    sipflow__reg_instance_unwrap(c->instance.ptr, c->instance.len, &ci->inst,
                                 &ci->inst_len);
    ci->inst_unchecked = 1;
  }
  /* Without outbound support reg-id is just an unknown parameter. */
  if (set->outbound != SIPFLOW_REG_OUTBOUND_OFF && c->reg_id.ptr &&
      parse_reg_id(c->reg_id, &ci->reg_id) != 0)
    return bad_request(reg, "Invalid reg-id");
  ci->expires = requested_expires(reg, j->req, c);
  return 0;
}

/* RFC 5626 §6: whether this Contact's reg-id is used, ignored, or the
 * request gets 439. Only called for Contacts with a reg-id. */
static int apply_outbound(sipflow_registrar *reg, job *j,
                          sipflow__reg_cinfo *ci) {
  if (!ci->inst) { /* a reg-id without an instance is ignored */
    ci->reg_id = 0;
    return 0;
  }
  if (!j->first_hop) {
    /* 439 only with both a reg-id and outbound support (§11.6). */
    if (j->ua_outbound)
      return answer(reg, 439, "First Hop Lacks Outbound Support");
    ci->reg_id = 0;
    return 0;
  }
  ci->outbound = 1;
  j->honoured = true;
  return 0;
}

/* RFC 3261 §10.3 step 7: 423 only for 0 < requested < 3600 below the
 * minimum; otherwise raise to the minimum and cap at the maximum. */
static int grant_expires(sipflow_registrar *reg, sipflow__reg_cinfo *ci) {
  const sipflow_registrar_settings *set = &reg->set;
  uint32_t e = ci->expires;
  if (e == 0)
    return 0;
  if (e < set->min_expires) {
    if (set->reject_below_min && e < ONE_HOUR) {
      answer(reg, 423, "Interval Too Brief");
      reg->result.min_expires = set->min_expires;
      return 423;
    }
    e = set->min_expires;
  }
  ci->expires = e > set->max_expires ? set->max_expires : e;
  return 0;
}

/* Whether one of |known|'s bindings (NULL: none) stores bytes equal to
 * |s| as its instance (|inst|) or its URI: such bytes passed the same check
 * when the binding was made. */
static bool stored(const sipflow__reg_aor *known, bool inst, const char *s,
                   size_t len) {
  for (uint32_t k = 0; known && len && k < known->n; k++) {
    const sipflow__reg_binding *b = known->b[k];
    if (inst ? b->inst_len == len && memcmp(sipflow__reg_b_inst(b), s, len) == 0
             : b->uri_len == len && memcmp(sipflow__reg_b_uri(b), s, len) == 0)
      return true;
  }
  return false;
}

/*
 * The syntax checks classify_one() put off (Contact URI, instance) for the
 * first |upto| Contacts, in the order they would have run. Values equal to
 * one of |known|'s are not parsed again. 0, or the 400 the first failing
 * check would have given in its place.
 */
static int check_deferred(sipflow_registrar *reg, const sipflow__reg_aor *known,
                          size_t upto) {
  for (size_t i = 0; i < upto; i++) {
    sipflow__reg_cinfo *ci = &reg->cinfo[i];
    sipflow_str u = ci->c->uri;
    if (ci->uri_unchecked && !stored(known, false, u.ptr, u.len) &&
        !sipflow__reg_uri_valid(u.ptr, u.len))
      return bad_request(reg, "Invalid Contact URI");
    ci->uri_unchecked = 0;
    if (ci->inst_unchecked && !stored(known, true, ci->inst, ci->inst_len) &&
        !sipflow__reg_instance_is_urn(ci->inst, ci->inst_len))
      return bad_request(reg, "Invalid +sip.instance");
    ci->inst_unchecked = 0;
  }
  return 0;
}

/* A request that fails after a check was put off fails as it would have
 * with the check in its place: with the first check that fails. */
static int failed(sipflow_registrar *reg, size_t upto, int st) {
  int first = check_deferred(reg, NULL, upto);
  return first ? first : st;
}

static int classify(sipflow_registrar *reg, job *j) {
  size_t n = j->req->n_contacts, live = 0;
  bool any_reg_id = false;
  int st;
  for (size_t i = 0; i < n; i++) {
    if ((st = classify_one(reg, j, i)))
      return failed(reg, i + 1, st);
    if (reg->cinfo[i].expires > 0) {
      live++;
      any_reg_id |= reg->cinfo[i].reg_id != 0;
    }
  }
  /* RFC 5626 §6: a reg-id only with a single live Contact. */
  if (live > 1 && any_reg_id)
    return failed(reg, n, bad_request(reg, "Multiple Contacts With reg-id"));
  j->first_hop = first_hop(reg, j->req);
  for (size_t i = 0; i < n; i++)
    if (reg->cinfo[i].reg_id && (st = apply_outbound(reg, j, &reg->cinfo[i])))
      return failed(reg, n, st);
  for (size_t i = 0; i < n; i++)
    if ((st = grant_expires(reg, &reg->cinfo[i])))
      return failed(reg, n, st);
  return 0;
}

/* ---- phase 2b: matching against the AoR's bindings ----------------------- */

/* RFC 5626 §6: (instance, reg-id) when outbound applies, the Contact URI
 * ignored; otherwise RFC 3261 §19.1.4 URI equality. Outbound and plain
 * bindings coexist and never match each other. */
static bool same_key(const sipflow__reg_cinfo *a, const sipflow__reg_cinfo *b) {
  if (a->outbound != b->outbound)
    return false;
  if (a->outbound)
    return a->reg_id == b->reg_id &&
           sipflow__reg_instance_equal(a->inst, a->inst_len, b->inst,
                                       b->inst_len);
  return sipflow__reg_uri_equal(a->c->uri.ptr, a->c->uri.len, b->c->uri.ptr,
                                b->c->uri.len);
}

static bool binding_matches(const sipflow__reg_binding *b,
                            const sipflow__reg_cinfo *ci) {
  bool outbound = (b->flags & SIPFLOW__REG_F_OUTBOUND) != 0;
  if (outbound != (ci->outbound != 0))
    return false;
  if (outbound)
    return b->reg_id == ci->reg_id &&
           sipflow__reg_instance_equal(sipflow__reg_b_inst(b), b->inst_len,
                                       ci->inst, ci->inst_len);
  return sipflow__reg_uri_equal(sipflow__reg_b_uri(b), b->uri_len,
                                ci->c->uri.ptr, ci->c->uri.len);
}

/* RFC 3261 §19.1.4 equality is not transitive (";security=on" and
 * ";security=off" both equal the bare URI), so a Contact may equal several
 * plain bindings: the one with the very same text wins, else the oldest.
 * Two plain bindings then never end up with the same text. */
static sipflow__reg_binding *find_binding(const sipflow_registrar *reg,
                                          const sipflow__reg_aor *aor,
                                          const sipflow__reg_cinfo *ci,
                                          bool no_push) {
  sipflow__reg_binding *first = NULL;
  for (uint32_t k = 0; aor && k < aor->n; k++) {
    sipflow__reg_binding *b = aor->b[k];
    if (!binding_matches(b, ci))
      continue;
    if (ci->outbound ||
        (b->uri_len == ci->c->uri.len &&
         memcmp(sipflow__reg_b_uri(b), ci->c->uri.ptr, b->uri_len) == 0))
      return b;
    if (!first)
      first = b;
  }
  /* RFC 8599 §5.3, §4.1.3: a woken UA without an instance re-registers
   * with the same pn-* parameters from wherever it woke up (another
   * address, port or transport). A registrar that offers push takes the
   * pn-* triple as the binding's identity then, so the REGISTER refreshes
   * the binding a held request waits for instead of adding another. */
  if (!first && !ci->outbound && reg->push_list && !no_push &&
      sipflow__reg_uri_is_push(ci->c->uri.ptr, ci->c->uri.len))
    for (uint32_t k = 0; aor && k < aor->n; k++) {
      sipflow__reg_binding *b = aor->b[k];
      if (!(b->flags & SIPFLOW__REG_F_OUTBOUND) &&
          (b->flags & SIPFLOW__REG_F_PUSH) &&
          sipflow__reg_push_same(sipflow__reg_b_uri(b), b->uri_len,
                                 ci->c->uri.ptr, ci->c->uri.len))
        return b;
    }
  return first;
}

/* RFC 3261 §10.3 steps 6-7: with the same Call-ID the CSeq must grow. */
static bool stale(const sipflow_registrar *reg, const sipflow_reg_request *req,
                  const sipflow__reg_binding *b) {
  if (b->call_id_len != req->call_id.len ||
      memcmp(sipflow__reg_b_call_id(b), req->call_id.ptr, b->call_id_len) != 0)
    return false;
  return req->cseq < b->cseq ||
         (req->cseq == b->cseq && !reg->set.allow_repeated_cseq);
}

static void content(const job *j, const sipflow__reg_cinfo *ci,
                    sipflow__reg_content *ct) {
  const sipflow_reg_request *req = j->req;
  memset(ct, 0, sizeof(*ct));
  ct->uri = ci->c->uri;
  ct->inst.ptr = ci->inst;
  ct->inst.len = ci->inst ? ci->inst_len : 0;
  ct->call_id = req->call_id;
  ct->ua = j->ua;
  ct->params = opt_str(ci->c->params);
  ct->path = req->path;
  ct->n_path = req->n_path;
  ct->path_len = j->path_len;
  ct->cseq = req->cseq;
  ct->reg_id = ci->outbound ? ci->reg_id : 0;
  ct->q = (int16_t)ci->c->q;
  ct->flags = (uint8_t)((ci->outbound ? SIPFLOW__REG_F_OUTBOUND : 0) |
                        (ci->c->ob ? SIPFLOW__REG_F_OB : 0));
  ct->no_push = j->pns_in_front;
  ct->flow_id = req->flow_id;
  ct->tuple = &req->flow;
  ct->received = &req->received;
}

static void decide(const job *j, sipflow__reg_cinfo *ci) {
  sipflow__reg_content ct;
  if (ci->skip) {
    ci->action = ACT_NONE;
  } else if (!ci->old) {
    ci->action = ci->expires ? ACT_ADD : ACT_NONE;
  } else if (!ci->expires) {
    ci->action = ACT_REMOVE;
  } else {
    content(j, ci, &ct);
    ci->action = sipflow__reg_content_same(ci->old, &ct)   ? ACT_REFRESH
                 : sipflow__reg_content_fits(ci->old, &ct) ? ACT_UPDATE
                                                           : ACT_REPLACE;
  }
}

static int match(sipflow_registrar *reg, job *j) {
  size_t n = j->req->n_contacts;
  int st;
  if ((st = check_deferred(reg, j->aor, n)))
    return st;
  for (size_t i = 0; i < n; i++) {
    sipflow__reg_cinfo *ci = &reg->cinfo[i];
    ci->old = find_binding(reg, j->aor, ci, j->pns_in_front);
    /* The same key twice in one request, or two Contacts for one binding:
     * the later Contact wins. */
    for (size_t k = 0; k < i; k++) {
      sipflow__reg_cinfo *ck = &reg->cinfo[k];
      if (!ck->skip && ((ci->old && ck->old == ci->old) || same_key(ci, ck)))
        ck->skip = 1;
    }
    if (ci->old && stale(reg, j->req, ci->old))
      return bad_request(reg, "Stale CSeq");
  }
  for (size_t i = 0; i < n; i++)
    decide(j, &reg->cinfo[i]);
  return 0;
}

/* max_contacts per AoR and max_bindings overall. */
static int room(sipflow_registrar *reg, job *j) {
  const sipflow_registrar_settings *set = &reg->set;
  uint64_t have = j->aor ? j->aor->n : 0, touched = 0, adds = 0, removes = 0;
  uint64_t final, victims = 0;
  for (size_t i = 0; i < j->req->n_contacts; i++) {
    const sipflow__reg_cinfo *ci = &reg->cinfo[i];
    if (ci->skip)
      continue;
    touched += ci->old != NULL;
    adds += ci->action == ACT_ADD;
    removes += ci->action == ACT_REMOVE;
  }
  final = have + adds - removes;
  if (final > set->max_contacts) {
    victims = final - set->max_contacts;
    if (set->overflow == SIPFLOW_REG_OVERFLOW_REJECT ||
        have - touched < victims)
      return answer(reg, set->too_many_contacts_status, "Too Many Contacts");
  }
  if (set->max_bindings && adds > removes + victims &&
      reg->n_bindings + adds - removes - victims > set->max_bindings)
    return answer(reg, 503, "Service Unavailable");
  j->victims = (uint32_t)victims;
  return 0;
}

/* ---- phase 3: allocate everything the commit needs ----------------------- */

/* The commit of a new binding, or of one moving to another flow, writes
 * the flow index's slot for its flow; a new binding is also queued and
 * compared with its heap parent. Both are in random places of large
 * arrays: they start loading now and arrive while the binding is
 * allocated and written, instead of one after the other at the end. */
static void preload_commit(sipflow_registrar *reg, const job *j) {
  bool adds = false, moves = false;
  for (size_t i = 0; i < j->req->n_contacts; i++) {
    uint8_t a = reg->cinfo[i].action;
    adds |= a == ACT_ADD;
    moves |= a == ACT_ADD || a == ACT_REPLACE || a == ACT_UPDATE;
  }
  if (moves && j->req->flow_id)
    sipflow__reg_index_prefetch(&reg->flows,
                                sipflow__reg_hash_flow(reg, j->req->flow_id));
  if (adds)
    sipflow__pq_prefetch_parent(&reg->expiry);
}

static void unprepare(sipflow_registrar *reg, job *j) {
  for (size_t i = 0; i < j->req->n_contacts; i++) {
    sipflow__free(&reg->ctx->mem, reg->cinfo[i].fresh);
    reg->cinfo[i].fresh = NULL;
  }
  sipflow__free(&reg->ctx->mem, j->new_aor);
  j->new_aor = NULL;
}

/* Room for the bindings the request adds, counted before any it removes:
 * the commit applies Contacts in order. A new AoR, or a copy of the
 * existing one with a larger array, twice as large to keep copies rare. */
static int make_room(sipflow_registrar *reg, job *j, uint32_t adds) {
  const sipflow__reg_aor *aor = j->aor;
  uint32_t want;
  if (aor && aor->n + adds <= aor->cap)
    return 0;
  want = aor ? aor->n + adds : adds;
  if (aor && want < 2u * aor->cap)
    want = 2u * aor->cap;
  j->new_aor = sipflow__reg_aor_alloc(reg, reg->aor_buf, j->key_len, want);
  return j->new_aor ? 0 : SIPFLOW_ERR_NOMEM;
}

static int prepare(sipflow_registrar *reg, job *j) {
  uint32_t adds = 0, flows = 0;
  sipflow__reg_content ct;
  for (size_t i = 0; i < j->req->n_contacts; i++) {
    sipflow__reg_cinfo *ci = &reg->cinfo[i];
    /* Each may put its binding on a flow no other binding is on. */
    flows += ci->action == ACT_ADD || ci->action == ACT_REPLACE ||
             ci->action == ACT_UPDATE;
    if (ci->action != ACT_ADD && ci->action != ACT_REPLACE)
      continue;
    content(j, ci, &ct);
    if (!(ci->fresh = sipflow__reg_binding_new(reg, &ct)))
      goto fail;
    adds += ci->action == ACT_ADD;
  }
  if (adds && make_room(reg, j, adds) != 0)
    goto fail;
  if (adds && sipflow__pq_reserve(&reg->expiry, adds) != 0)
    goto fail;
  if (sipflow__reg_index_reserve(&reg->flows, flows) != 0 ||
      (!j->aor && adds && sipflow__reg_index_reserve(&reg->aors, 1) != 0))
    goto fail;
  return 0;
fail:
  unprepare(reg, j);
  return SIPFLOW_ERR_NOMEM;
}

/* ---- phase 4: commit (no failure possible) ------------------------------- */

/* Under SIPFLOW_REG_OVERFLOW_REPLACE_OLDEST: the least recently updated
 * bindings the request does not touch. */
static void pick_victims(sipflow_registrar *reg, job *j) {
  for (size_t i = 0; i < j->req->n_contacts; i++)
    if (reg->cinfo[i].old)
      reg->cinfo[i].old->flags |= SIPFLOW__REG_F_TOUCHED;
  for (uint32_t v = 0; v < j->victims; v++) {
    sipflow__reg_binding *oldest = NULL;
    for (uint32_t k = 0; k < j->aor->n; k++) {
      sipflow__reg_binding *b = j->aor->b[k];
      if (!(b->flags & (SIPFLOW__REG_F_TOUCHED | SIPFLOW__REG_F_VICTIM)) &&
          (!oldest || b->updated_at < oldest->updated_at ||
           (b->updated_at == oldest->updated_at && b->id < oldest->id)))
        oldest = b;
    }
    oldest->flags |= SIPFLOW__REG_F_VICTIM;
  }
  for (size_t i = 0; i < j->req->n_contacts; i++)
    if (reg->cinfo[i].old)
      reg->cinfo[i].old->flags &= (uint8_t)~SIPFLOW__REG_F_TOUCHED;
}

static void remove_victims(sipflow_registrar *reg, sipflow__reg_aor *aor) {
  uint32_t k = 0;
  while (k < aor->n) {
    sipflow__reg_binding *b = aor->b[k];
    if (!(b->flags & SIPFLOW__REG_F_VICTIM)) {
      k++;
      continue;
    }
    /* Unlinking shifts the next binding into index k. */
    b->flags &= (uint8_t)~SIPFLOW__REG_F_VICTIM;
    sipflow__reg_unlink(reg, b);
    sipflow__reg_report(reg, SIPFLOW_REG_REMOVED, b);
    sipflow__reg_release(reg, b);
  }
}

static void apply(sipflow_registrar *reg, const job *j, sipflow__reg_aor *aor,
                  sipflow__reg_cinfo *ci) {
  sipflow_tstamp at = j->now + (sipflow_tstamp)ci->expires * SIPFLOW_SECONDS;
  sipflow__reg_binding *b = ci->fresh ? ci->fresh : ci->old;
  sipflow_flow_id prev = ci->old ? ci->old->flow_id : 0;
  sipflow__reg_content ct;
  switch (ci->action) {
  case ACT_ADD:
    b->id = ++reg->next_id;
    b->updated_at = j->now;
    sipflow__reg_link(reg, aor, b, at);
    sipflow__reg_report(reg, SIPFLOW_REG_ADDED, b);
    break;
  case ACT_REFRESH:
  case ACT_UPDATE:
    if (ci->action == ACT_UPDATE) {
      content(j, ci, &ct);
      sipflow__reg_set_flow(reg, b, ct.flow_id);
      sipflow__reg_content_write(b, &ct);
      sipflow__reg_regroup(aor, b); /* the instance may have changed */
    }
    b->cseq = j->req->cseq;
    b->updated_at = j->now;
    /* A REGISTER from a suspended UA: it is awake (RFC 8599 §4.1.3). */
    if (sipflow__reg_suspended(b))
      b->health = SIPFLOW_HEALTH_UNKNOWN;
    sipflow__reg_set_expiry(reg, b, at);
    sipflow__reg_report_moved(reg,
                              ci->action == ACT_UPDATE ? SIPFLOW_REG_UPDATED
                                                       : SIPFLOW_REG_REFRESHED,
                              b, prev);
    break;
  case ACT_REPLACE:
    b->updated_at = j->now;
    sipflow__reg_replace(reg, ci->old, b, at);
    if (sipflow__reg_suspended(b)) /* awake again, as above */
      b->health = SIPFLOW_HEALTH_UNKNOWN;
    sipflow__reg_report_moved(reg, SIPFLOW_REG_UPDATED, b, prev);
    sipflow__reg_release(reg, ci->old);
    break;
  case ACT_REMOVE:
    sipflow__reg_unlink(reg, b);
    sipflow__reg_report(reg, SIPFLOW_REG_REMOVED, b);
    sipflow__reg_release(reg, b);
    break;
  default:
    break;
  }
  ci->fresh = NULL;
  ci->old = NULL;
}

static void commit(sipflow_registrar *reg, job *j) {
  sipflow__reg_aor *aor = j->aor;
  const sipflow__reg_binding *first, *second;
  if (j->new_aor && aor) {
    sipflow__reg_aor_swap(reg, aor, j->new_aor, j->hash);
    aor = j->aor = j->new_aor;
    j->new_aor = NULL;
  } else if (j->new_aor) {
    aor = j->aor = j->new_aor;
    j->new_aor = NULL;
    (void)sipflow__reg_index_insert(&reg->aors, j->hash, aor); /* reserved */
  }
  if (!aor)
    return; /* nothing to add and no binding to touch */
  /* The find mended the slot's hints, so they are the first two bindings
   * now; most REGISTERs (refreshes) leave those alone. */
  first = aor->n > 0 ? aor->b[0] : NULL;
  second = aor->n > 1 ? aor->b[1] : NULL;
  if (j->victims)
    pick_victims(reg, j);
  for (size_t i = 0; i < j->req->n_contacts; i++)
    apply(reg, j, aor, &reg->cinfo[i]);
  if (j->victims)
    remove_victims(reg, aor);
  if (aor->n == 0) {
    sipflow__reg_aor_gc(reg, aor);
    j->aor = NULL;
    return;
  }
  if (aor->b[0] != first || (aor->n > 1 ? aor->b[1] : NULL) != second)
    sipflow__reg_aor_hint(reg, aor, j->hash);
}

static void answer_200(sipflow_registrar *reg, const job *j) {
  sipflow_reg_result *r = &reg->result;
  size_t n = 0;
  answer(reg, 200, "OK");
  /* RFC 5626 §6: Require: outbound only when a reg-id was honoured. */
  if (j->honoured && j->ua_outbound)
    r->require = SIPFLOW_REG_OPT_OUTBOUND;
  if (r->require && j->req->via_count == 1)
    r->flow_timer = reg->set.flow_timer;
  r->echo_path = j->req->n_path > 0;
  for (uint32_t k = 0; j->aor && k < j->aor->n && n < reg->set.max_contacts;
       k++)
    sipflow__reg_view(reg, j->aor->b[k], sipflow__reg_aor_key(j->aor),
                      j->aor->len, &reg->views[n++]);
  /* RFC 5627 §5.2: GRUUs only for a UA that said it supports them. */
  if (reg->gruu_kr &&
      ((j->req->supported | j->req->require) & SIPFLOW_REG_OPT_GRUU))
    for (size_t k = 0; k < n; k++)
      sipflow__reg_gruu_view(reg, k, &reg->views[k]);
  r->contacts = n ? reg->views : NULL;
  r->n_contacts = n;
  r->pns = j->pns;
  r->pnsreg = j->pns.len && j->pnsreg_tag ? j->pnsreg : 0;
}

/* RFC 3261 §10.3 step 6: "*" removes every binding, unless one of them
 * has the request's Call-ID with a CSeq not lower. */
static int wildcard(sipflow_registrar *reg, job *j) {
  const sipflow_reg_request *req = j->req;
  sipflow__reg_aor *aor = j->aor;
  if (req->n_contacts || !req->has_expires || req->expires != 0)
    return bad_request(reg, "Invalid Wildcard");
  for (uint32_t k = 0; aor && k < aor->n; k++)
    if (stale(reg, req, aor->b[k]))
      return bad_request(reg, "Stale CSeq");
  while (aor && aor->n) {
    sipflow__reg_binding *b = aor->b[0];
    sipflow__reg_unlink(reg, b);
    sipflow__reg_report(reg, SIPFLOW_REG_REMOVED, b);
    sipflow__reg_release(reg, b);
  }
  if (aor)
    sipflow__reg_aor_gc(reg, aor);
  j->aor = NULL;
  answer_200(reg, j);
  return 0;
}

static int run(sipflow_registrar *reg, const sipflow_reg_request *req,
               unsigned facts, sipflow_tstamp now) {
  job j;
  memset(&j, 0, sizeof(j));
  j.req = req;
  j.now = now;
  j.pns_in_front = (facts & SIPFLOW_REG_FACT_PNS_IN_FRONT) != 0;
  if (check_request(reg, &j) || hash_aor(reg, &j))
    return 0;
  if (req->wildcard) {
    find_aor(reg, &j);
    wildcard(reg, &j);
    return 0;
  }
  /* Classifying needs no binding: it runs while the bucket loads. */
  if (classify(reg, &j))
    return 0;
  find_aor(reg, &j);
  if (match(reg, &j) || room(reg, &j))
    return 0;
  preload_commit(reg, &j);
  if (prepare(reg, &j) != 0) {
    answer(reg, 500, "Server Internal Error");
    return SIPFLOW_ERR_NOMEM;
  }
  commit(reg, &j);
  answer_200(reg, &j);
  return 0;
}

static bool arrays_ok(const sipflow_reg_request *req) {
  return (!req->n_contacts || req->contacts) && (!req->n_path || req->path) &&
         (!req->n_require_unknown || req->require_unknown);
}

int sipflow_registrar_process_versioned(sipflow_registrar *reg,
                                        int request_version,
                                        const sipflow_reg_request *req,
                                        sipflow_tstamp now,
                                        const sipflow_reg_result **result) {
  return sipflow_registrar_process_facts(reg, request_version, req, 0, now,
                                         result);
}

int sipflow_registrar_process_facts(sipflow_registrar *reg, int request_version,
                                    const sipflow_reg_request *req,
                                    unsigned facts, sipflow_tstamp now,
                                    const sipflow_reg_result **result) {
  int rv;
  if (result)
    *result = NULL;
  if (!reg || !result)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  *result = &reg->result;
  if (!req || request_version != SIPFLOW_REG_REQUEST_V1 || !arrays_ok(req)) {
    answer(reg, 500, "Server Internal Error");
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  }
  if ((rv = sipflow__reg_enter(reg, now)) != 0) {
    answer(reg, 500, "Server Internal Error");
    return rv;
  }
  rv = run(reg, req, facts, now);
  if (reg->result.status >= 400)
    sipflow__log_net(reg->ctx, now, SIPFLOW_LOG_DEBUG,
                     "registrar: REGISTER answered %d %s", reg->result.status,
                     reg->result.reason);
  return rv;
}
