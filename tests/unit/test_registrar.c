/*
 * Registrar: REGISTER processing (RFC 3261 §10.3, RFC 5626 §6, RFC 3327),
 * expiry on the context's timer, flow reports, limits and out-of-memory.
 */
#include "reg_harness.h"
#include "sipflow/keepalive.h"

#define AOR "sip:alice@example.com"
#define U1 "sip:alice@192.0.2.10:5060;transport=tcp"
#define U2 "sip:alice@192.0.2.20:5062;transport=tcp"
#define U3 "sip:alice@192.0.2.30"
#define U_LONG "sip:alice-rebooted-with-a-longer-contact@203.0.113.99:49152"
#define INST1 "\"<urn:uuid:00000000-0000-1000-8000-000a95a0e128>\""
#define INST1_UP "\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\""
#define INST2 "\"<urn:uuid:00000000-0000-1000-8000-000a95a0e129>\""
#define EDGE_OB "<sip:VskztcQ@edge.example.com;lr;ob>"
#define EDGE "<sip:edge.example.com;lr>"
#define PROXY "<sip:p2.example.com;lr>"

/* ---- the RFC table ------------------------------------------------------- */

typedef struct ct {
  const char *uri, *inst, *reg_id, *expires;
  int q; /* thousandths + 1; 0 = absent */
} ct;

#define CT(u)                                                                  \
  { u, NULL, NULL, NULL, 0 }
#define CTE(u, e)                                                              \
  { u, NULL, NULL, e, 0 }
#define OB(u, i, r)                                                            \
  { u, i, r, NULL, 0 }
#define OBE(u, i, r, e)                                                        \
  { u, i, r, e, 0 }

#define NOSUP 0x100u /* no Supported at all */
#define NB(x) ((x) + 1)
#define EH(x) ((x) + 1)

typedef struct step {
  const char *call_id; /* NULL ends the scenario */
  uint32_t cseq;
  ct c[3];
  const char *aor; /* NULL: AOR */
  int expires_hdr; /* EH(x), 0 = none */
  int wildcard;
  uint32_t via; /* 0 = 1 */
  const char *path[2];
  unsigned supported; /* 0 = outbound, path; NOSUP = none */
  unsigned require;
  int unknown_require;
  int status;
  int n;        /* NB(bindings listed in the 200), 0 = not checked */
  uint32_t exp; /* expires of the binding of c[0] in the 200; 0 = skip */
  int outbound; /* of the binding of c[0]: 1 yes, 2 no, 0 skip */
  const char *has, *lacks; /* Contact URIs the 200 must / must not list */
} step;

typedef struct scenario {
  const char *rfc;
  void (*setup)(sipflow_registrar_settings *s);
  step steps[4];
} scenario;

static void min_7200(sipflow_registrar_settings *s) { s->min_expires = 7200; }
static void raise_min(sipflow_registrar_settings *s) {
  s->reject_below_min = 0;
}
static void ob_off(sipflow_registrar_settings *s) {
  s->outbound = SIPFLOW_REG_OUTBOUND_OFF;
}
static void ob_required(sipflow_registrar_settings *s) {
  s->outbound = SIPFLOW_REG_OUTBOUND_REQUIRED;
}
static void path_top(sipflow_registrar_settings *s) {
  s->path_ob = SIPFLOW_REG_PATH_OB_TOP;
}
static void max2(sipflow_registrar_settings *s) { s->max_contacts = 2; }
static void max2_replace(sipflow_registrar_settings *s) {
  s->max_contacts = 2;
  s->overflow = SIPFLOW_REG_OVERFLOW_REPLACE_OLDEST;
}
static void dup_cseq(sipflow_registrar_settings *s) {
  s->allow_repeated_cseq = 1;
}
static void per_request_2(sipflow_registrar_settings *s) {
  s->max_contacts_per_request = 2;
}

static const scenario scenarios[] = {
    {"RFC 3261 §10.3 step 7: add, then refresh with a higher CSeq",
     NULL,
     {{"c1", 1, {CT(U1)}, .status = 200, .n = NB(1), .exp = 3600},
      {"c1", 2, {CT(U1)}, .status = 200, .n = NB(1)}}},
    {"RFC 3261 §10.3 step 7: same Call-ID with a lower CSeq is stale",
     NULL,
     {{"c1", 5, {CT(U1)}, .status = 200},
      {"c1", 4, {CT(U1)}, .status = 400},
      {"c1", 6, {CT(U1)}, .status = 200, .n = NB(1)}}},
    {"RFC 3261 §10.3 step 7: same Call-ID with the same CSeq is stale",
     NULL,
     {{"c1", 5, {CT(U1)}, .status = 200}, {"c1", 5, {CT(U1)}, .status = 400}}},
    {"RFC 3261 §10.3 step 7: another Call-ID may carry any CSeq",
     NULL,
     {{"c1", 5, {CT(U1)}, .status = 200},
      {"c2", 1, {CT(U1)}, .status = 200, .n = NB(1)}}},
    {"RFC 3261 §10.3 step 7: expires=0 removes that binding only",
     NULL,
     {{"c1", 1, {CT(U1)}, .status = 200},
      {"c2", 1, {CT(U2)}, .status = 200, .n = NB(2)},
      {"c1", 2, {CTE(U1, "0")}, .status = 200, .n = NB(1), .lacks = U1}}},
    {"RFC 3261 §10.3 step 7: removing an unknown Contact changes nothing",
     NULL,
     {{"c1", 1, {CTE(U1, "0")}, .status = 200, .n = NB(0)}}},
    {"RFC 3261 §10.3 step 6: '*' with Expires: 0 removes every binding",
     NULL,
     {{"c1", 1, {CT(U1)}, .status = 200},
      {"c2", 1, {CT(U2)}, .status = 200},
      {"c3", 1, .wildcard = 1, .expires_hdr = EH(0), .status = 200,
       .n = NB(0)}}},
    {"RFC 3261 §10.3 step 6: '*' needs an Expires header",
     NULL,
     {{"c1", 1, .wildcard = 1, .status = 400}}},
    {"RFC 3261 §10.3 step 6: '*' needs Expires: 0 (checklist 11.14)",
     NULL,
     {{"c1", 1, .wildcard = 1, .expires_hdr = EH(300), .status = 400}}},
    {"RFC 3261 §10.3 step 6: '*' must be the only Contact",
     NULL,
     {{"c1", 1, {CT(U1)}, .wildcard = 1, .expires_hdr = EH(0), .status = 400}}},
    {"RFC 3261 §10.3 step 6: '*' aborts on the same Call-ID with a CSeq not "
     "higher",
     NULL,
     {{"c1", 5, {CT(U1)}, .status = 200},
      {"c1", 5, .wildcard = 1, .expires_hdr = EH(0), .status = 400},
      {"c9", 1, .status = 200, .n = NB(1)}}},
    {"RFC 3261 §10.3 step 6: '*' with the same Call-ID and a higher CSeq",
     NULL,
     {{"c1", 5, {CT(U1)}, .status = 200},
      {"c1", 6, .wildcard = 1, .expires_hdr = EH(0), .status = 200,
       .n = NB(0)}}},
    {"RFC 3261 §10.3 step 6: no Contact is a query",
     NULL,
     {{"c1", 1, {CT(U1)}, .status = 200},
      {"c2", 1, .status = 200, .n = NB(1), .has = U1}}},
    {"RFC 3261 §10.3 step 7: expiry from the Expires header",
     NULL,
     {{"c1", 1, {CT(U1)}, .expires_hdr = EH(120), .status = 200, .exp = 120}}},
    {"RFC 3261 §10.3 step 7: the Contact parameter beats the header",
     NULL,
     {{"c1",
       1,
       {CTE(U1, "300")},
       .expires_hdr = EH(120),
       .status = 200,
       .exp = 300}}},
    {"RFC 3261 §10.3 step 7: the local default without either",
     NULL,
     {{"c1", 1, {CT(U1)}, .status = 200, .exp = 3600}}},
    {"RFC 3261 §10.2.1.1: a malformed expires counts as 3600",
     NULL,
     {{"c1", 1, {CTE(U1, "soon")}, .status = 200, .exp = 3600}}},
    {"RFC 3261 §10.2.1.1: beyond 2^32-1 caps, then the maximum applies",
     NULL,
     {{"c1", 1, {CTE(U1, "99999999999")}, .status = 200, .exp = 86400}}},
    {"RFC 3261 §10.3 step 7: 423 for 0 < expires < minimum",
     NULL,
     {{"c1", 1, {CTE(U1, "30")}, .status = 423}}},
    {"RFC 3261 §10.3 step 7: no 423 at an hour or more; raised to the "
     "minimum (checklist 11.13)",
     min_7200,
     {{"c1", 1, {CTE(U1, "3600")}, .status = 200, .exp = 7200}}},
    {"RFC 3261 §10.3 step 7: policy raises instead of 423",
     raise_min,
     {{"c1", 1, {CTE(U1, "30")}, .status = 200, .exp = 60}}},
    {"RFC 3261 §10.3: all or nothing (423 on the second Contact)",
     NULL,
     {{"c1", 1, {CT(U1), CTE(U2, "10")}, .status = 423},
      {"c2", 1, .status = 200, .n = NB(0)}}},
    {"RFC 5626 §6: a new Contact URI replaces the binding of the same "
     "instance and reg-id",
     NULL,
     {{"c1", 1, {OB(U1, INST1, "1")}, .status = 200, .n = NB(1), .outbound = 1},
      {"c1",
       2,
       {OB(U_LONG, INST1, "1")},
       .status = 200,
       .n = NB(1),
       .has = U_LONG,
       .lacks = U1}}},
    {"RFC 5626 §6: two reg-ids of one instance are two bindings",
     NULL,
     {{"c1", 1, {OB(U1, INST1, "1")}, .status = 200},
      {"c2", 1, {OB(U2, INST1, "2")}, .status = 200, .n = NB(2)}}},
    {"RFC 5626 §4.2.1, §9.4: a rebooted UA (new Call-ID, CSeq 1) takes over",
     NULL,
     {{"c1", 50, {OB(U1, INST1, "1")}, .status = 200},
      {"c2",
       1,
       {OB(U2, INST1, "1")},
       .status = 200,
       .n = NB(1),
       .has = U2,
       .lacks = U1}}},
    {"RFC 5626 §4.1: the instance's hex case does not make a new binding",
     NULL,
     {{"c1", 1, {OB(U1, INST1, "1")}, .status = 200},
      {"c1", 2, {OB(U1, INST1_UP, "1")}, .status = 200, .n = NB(1)}}},
    {"RFC 5626 §6: the Contact URI is ignored: same URI, other reg-id",
     NULL,
     {{"c1", 1, {OB(U1, INST1, "1")}, .status = 200},
      {"c2", 1, {OB(U1, INST1, "2")}, .status = 200, .n = NB(2)}}},
    {"RFC 5626 §12: instance scoped to the AoR: same reg-id, other instance",
     NULL,
     {{"c1", 1, {OB(U1, INST1, "1")}, .status = 200},
      {"c2", 1, {OB(U1, INST2, "1")}, .status = 200, .n = NB(2)}}},
    {"RFC 5626 §6: Outbound and plain bindings coexist",
     NULL,
     {{"c1", 1, {OB(U1, INST1, "1")}, .status = 200},
      {"c2", 1, {CT(U1)}, .status = 200, .n = NB(2)}}},
    {"RFC 5626 §6: 439 when not the first hop and no Path",
     NULL,
     {{"c1", 1, {OB(U1, INST1, "1")}, .via = 2, .status = 439}}},
    {"RFC 5626 §6: 439 when the edge's Path lacks ;ob",
     NULL,
     {{"c1",
       1,
       {OB(U1, INST1, "1")},
       .via = 2,
       .path = {EDGE},
       .status = 439}}},
    {"RFC 5626 §6: Outbound through an edge whose Path has ;ob",
     NULL,
     {{"c1",
       1,
       {OB(U1, INST1, "1")},
       .via = 2,
       .path = {EDGE_OB},
       .status = 200,
       .outbound = 1}}},
    {"checklist 11.5: the first hop's ;ob is the bottom Path value",
     NULL,
     {{"c1",
       1,
       {OB(U1, INST1, "1")},
       .via = 3,
       .path = {PROXY, EDGE_OB},
       .status = 200,
       .outbound = 1}}},
    {"checklist 11.5: ;ob on the top value only is not the first hop's",
     NULL,
     {{"c1",
       1,
       {OB(U1, INST1, "1")},
       .via = 3,
       .path = {EDGE_OB, PROXY},
       .status = 439}}},
    {"checklist 11.5: policy checks the top value (Kamailio)",
     path_top,
     {{"c1",
       1,
       {OB(U1, INST1, "1")},
       .via = 3,
       .path = {EDGE_OB, PROXY},
       .status = 200,
       .outbound = 1}}},
    {"RFC 5626 §11.6: never 439 without outbound in Supported",
     NULL,
     {{"c1",
       1,
       {OB(U1, INST1, "1")},
       .via = 2,
       .supported = NOSUP,
       .status = 200,
       .outbound = 2}}},
    {"RFC 5626 §11.6: never 439 without a reg-id",
     NULL,
     {{"c1",
       1,
       {OB(U1, INST1, NULL)},
       .via = 2,
       .status = 200,
       .outbound = 2}}},
    {"RFC 5626 §6: a reg-id without +sip.instance is ignored",
     NULL,
     {{"c1", 1, {OB(U1, NULL, "1")}, .status = 200, .outbound = 2}}},
    {"RFC 5626 §6: 400 for a reg-id with more than one live Contact",
     NULL,
     {{"c1", 1, {OB(U1, INST1, "1"), CT(U2)}, .status = 400}}},
    {"RFC 5626 §6: a reg-id beside a Contact being removed is fine",
     NULL,
     {{"c1",
       1,
       {OB(U1, INST1, "1"), CTE(U2, "0")},
       .status = 200,
       .n = NB(1)}}},
    {"RFC 5626 §10: reg-id 0 is invalid",
     NULL,
     {{"c1", 1, {OB(U1, INST1, "0")}, .status = 400}}},
    {"RFC 5626 §10: a negative reg-id is invalid",
     NULL,
     {{"c1", 1, {OB(U1, INST1, "-1")}, .status = 400}}},
    {"RFC 5626 §10: reg-id 2^31 is invalid",
     NULL,
     {{"c1", 1, {OB(U1, INST1, "2147483648")}, .status = 400}}},
    {"RFC 5626 §10: a huge reg-id is invalid",
     NULL,
     {{"c1", 1, {OB(U1, INST1, "99999999999999999999")}, .status = 400}}},
    {"RFC 5626 §10: a non-numeric reg-id is invalid",
     NULL,
     {{"c1", 1, {OB(U1, INST1, "1x")}, .status = 400}}},
    {"RFC 5626 §10: an empty reg-id is invalid",
     NULL,
     {{"c1", 1, {OB(U1, INST1, "")}, .status = 400}}},
    {"RFC 5626 §10: reg-id 2^31-1 is valid",
     NULL,
     {{"c1", 1, {OB(U1, INST1, "2147483647")}, .status = 200, .outbound = 1}}},
    {"RFC 5626 §4.1: an empty +sip.instance is invalid",
     NULL,
     {{"c1", 1, {OB(U1, "\"\"", "1")}, .status = 400}}},
    {"RFC 5626 §4.1: +sip.instance \"<>\" is invalid",
     NULL,
     {{"c1", 1, {OB(U1, "\"<>\"", "1")}, .status = 400}}},
    {"RFC 5626 §4.1: +sip.instance must be a URN",
     NULL,
     {{"c1", 1, {OB(U1, "\"<sip:a@b>\"", "1")}, .status = 400}}},
    {"RFC 3261 §10.3 step 2: an unknown Require tag gets 420",
     NULL,
     {{"c1", 1, {CT(U1)}, .unknown_require = 1, .status = 420}}},
    {"RFC 5626 §4.2.1: Require: outbound is accepted",
     NULL,
     {{"c1",
       1,
       {OB(U1, INST1, "1")},
       .require = SIPFLOW_REG_OPT_OUTBOUND,
       .status = 200,
       .outbound = 1}}},
    {"RFC 3261 §10.3 step 2: Require: outbound without support gets 420",
     ob_off,
     {{"c1", 1, {CT(U1)}, .require = SIPFLOW_REG_OPT_OUTBOUND, .status = 420}}},
    {"RFC 5626 §6 policy: outbound required, a UA without it gets 421",
     ob_required,
     {{"c1", 1, {CT(U1)}, .supported = NOSUP, .status = 421}}},
    {"RFC 5626 §6 policy: outbound required still answers a query",
     ob_required,
     {{"c1", 1, .supported = NOSUP, .status = 200, .n = NB(0)}}},
    {"RFC 5626 §6 policy: without outbound, reg-id is an unknown parameter",
     ob_off,
     {{"c1", 1, {OB(U1, INST1, "0")}, .status = 200, .outbound = 2}}},
    {"RFC 3261 §19.1.4: a Contact equal by URI rules refreshes",
     NULL,
     {{"c1",
       1,
       {CT("sip:alice@Host.example.com;transport=tcp")},
       .status = 200},
      {"c1",
       2,
       {CT("sip:alice@host.example.com;Transport=TCP")},
       .status = 200,
       .n = NB(1)}}},
    {"RFC 3261 §19.1.4: an explicit port makes a new binding",
     NULL,
     {{"c1", 1, {CT("sip:alice@host.example.com")}, .status = 200},
      {"c1",
       2,
       {CT("sip:alice@host.example.com:5060")},
       .status = 200,
       .n = NB(2)}}},
    {"RFC 3261 §19.1.4: equality is not transitive: two Contacts equal to "
     "one binding, the later wins",
     NULL,
     {{"c1", 1, {CT("sip:carol@chicago.com")}, .status = 200},
      {"c1",
       2,
       {CT("sip:carol@chicago.com;security=on"),
        CT("sip:carol@chicago.com;security=off")},
       .status = 200,
       .n = NB(1),
       .has = "sip:carol@chicago.com;security=off"}}},
    {"RFC 3261 §19.1.4: of several equal bindings the same text is updated",
     NULL,
     {{"c1", 1, {CT("sip:carol@chicago.com;security=on")}, .status = 200},
      {"c2",
       1,
       {CT("sip:carol@chicago.com;security=off")},
       .status = 200,
       .n = NB(2)},
      {"c1", 2, {CT("sip:carol@chicago.com")}, .status = 200, .n = NB(2)},
      {"c2",
       2,
       {CT("sip:carol@chicago.com;security=off")},
       .status = 200,
       .n = NB(2),
       .has = "sip:carol@chicago.com"}}},
    {"RFC 3261 §10.3 step 5: AoRs compare in canonical form",
     NULL,
     {{"c1",
       1,
       {CT(U1)},
       .aor = "sip:Alice@Example.com;user=phone",
       .status = 200},
      {"c1",
       2,
       {CT(U1)},
       .aor = "SIP:%41lice@EXAMPLE.COM",
       .status = 200,
       .n = NB(1)}}},
    {"policy: too many Contacts for the AoR are rejected",
     max2,
     {{"c1", 1, {CT(U1)}, .status = 200},
      {"c2", 1, {CT(U2)}, .status = 200},
      {"c3", 1, {CT(U3)}, .status = 403},
      {"c4", 1, .status = 200, .n = NB(2), .lacks = U3}}},
    {"policy: too many Contacts replace the oldest",
     max2_replace,
     {{"c1", 1, {CT(U1)}, .status = 200},
      {"c2", 1, {CT(U2)}, .status = 200},
      {"c3", 1, {CT(U3)}, .status = 200, .n = NB(2), .has = U3, .lacks = U1}}},
    {"checklist 11.12: policy accepts a repeated CSeq",
     dup_cseq,
     {{"c1", 5, {CT(U1)}, .status = 200},
      {"c1", 5, {CT(U1)}, .status = 200, .n = NB(1)}}},
    {"limits: too many Contacts in one request",
     per_request_2,
     {{"c1", 1, {CT(U1), CT(U2), CT(U3)}, .status = 403}}},
    {"RFC 3261 §20.10: q above 1 is invalid",
     NULL,
     {{"c1", 1, {{U1, NULL, NULL, NULL, 1002}}, .status = 400}}},
    {"RFC 3261 §10.3: the same Contact twice in a request: the later wins",
     NULL,
     {{"c1", 1, {CT(U1)}, .status = 200},
      {"c1", 2, {CT(U1), CTE(U1, "0")}, .status = 200, .n = NB(0)}}},
};

static const sipflow_reg_binding *find_uri(const sipflow_reg_result *res,
                                           const char *uri) {
  for (size_t i = 0; i < res->n_contacts; i++)
    if (res->contacts[i].uri.len == strlen(uri) &&
        memcmp(res->contacts[i].uri.ptr, uri, strlen(uri)) == 0)
      return &res->contacts[i];
  return NULL;
}

static void build_step(reg_req *r, const step *st) {
  req_init(r, st->aor ? st->aor : AOR, st->call_id, st->cseq);
  for (int i = 0; i < 3 && st->c[i].uri; i++) {
    sipflow_reg_contact *c = req_contact(r, st->c[i].uri);
    if (st->c[i].inst)
      c->instance = S(st->c[i].inst);
    if (st->c[i].reg_id)
      c->reg_id = S(st->c[i].reg_id);
    if (st->c[i].expires)
      c->expires = S(st->c[i].expires);
    if (st->c[i].q)
      c->q = st->c[i].q - 1;
  }
  r->req.has_expires = st->expires_hdr != 0;
  r->req.expires = st->expires_hdr ? (uint32_t)(st->expires_hdr - 1) : 0;
  r->req.wildcard = st->wildcard;
  r->req.via_count = st->via ? st->via : 1;
  for (int i = 0; i < 2 && st->path[i]; i++)
    req_path(r, st->path[i]);
  if (st->supported)
    r->req.supported = st->supported == NOSUP ? 0 : st->supported;
  r->req.require = st->require;
  if (st->unknown_require) {
    r->unknown[0] = S("x-unknown");
    r->req.n_require_unknown = 1;
  }
}

static void check_step(const scenario *sc, int k, const step *st,
                       const sipflow_reg_result *res) {
  const sipflow_reg_binding *b = NULL;
  cr_expect_eq(res->status, st->status, "%s, step %d: status %d", sc->rfc, k,
               res->status);
  if (res->status != 200)
    return;
  if (st->n)
    cr_expect_eq(res->n_contacts, (size_t)(st->n - 1), "%s, step %d: %zu",
                 sc->rfc, k, res->n_contacts);
  if (st->c[0].uri)
    b = find_uri(res, st->c[0].uri);
  if (st->exp) {
    cr_expect_not_null(b, "%s, step %d: binding missing", sc->rfc, k);
    if (b)
      cr_expect_eq(b->expires, st->exp, "%s, step %d: expires %u", sc->rfc, k,
                   b->expires);
  }
  if (st->outbound) {
    cr_expect_not_null(b, "%s, step %d: binding missing", sc->rfc, k);
    if (b)
      cr_expect_eq(b->outbound, st->outbound == 1, "%s, step %d: outbound",
                   sc->rfc, k);
  }
  if (st->has)
    cr_expect_not_null(find_uri(res, st->has), "%s, step %d: lacks %s", sc->rfc,
                       k, st->has);
  if (st->lacks)
    cr_expect_null(find_uri(res, st->lacks), "%s, step %d: still lists %s",
                   sc->rfc, k, st->lacks);
}

Test(registrar, rfc_rules_table) {
  for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
    const scenario *sc = &scenarios[i];
    harness h;
    sipflow_registrar_settings_default(&h.set);
    if (sc->setup)
      sc->setup(&h.set);
    cr_assert_eq(harness_open(&h, 0), 0);
    for (int k = 0; k < 4 && sc->steps[k].call_id; k++) {
      reg_req r;
      build_step(&r, &sc->steps[k]);
      check_step(sc, k, &sc->steps[k], submit(&h, &r));
      h.now += SEC;
    }
    harness_close(&h);
  }
}

/* ---- the 200 OK and error results ---------------------------------------- */

Test(registrar, ok_carries_require_outbound_flow_timer_and_path) {
  harness h;
  reg_req r;
  const sipflow_reg_result *res;
  sipflow_registrar_settings_default(&h.set);
  h.set.flow_timer = 120;
  cr_assert_eq(harness_open(&h, 0), 0);

  /* RFC 5626 §6: direct flow, reg-id honoured, UA supports outbound. */
  req_init(&r, AOR, "c1", 1);
  req_ob_contact(&r, U1, INST1, "1");
  req_flow(&r, 7);
  res = submit(&h, &r);
  cr_expect_eq(res->status, 200);
  cr_expect_eq(res->require, SIPFLOW_REG_OPT_OUTBOUND);
  cr_expect_eq(res->flow_timer, 120);
  cr_expect_eq(res->supported, SIPFLOW_REG_OPT_OUTBOUND | SIPFLOW_REG_OPT_PATH);
  cr_expect_eq(res->echo_path, 0);
  cr_expect_eq(res->contacts[0].flow_id, 7);
  cr_expect_eq(res->contacts[0].reg_id, 1);
  cr_expect_eq(res->contacts[0].instance.len,
               strlen(INST1) - 4); /* without "< >" and quotes */

  /* Through an edge: Require yes, Flow-Timer is the edge's (§5.4). */
  req_init(&r, AOR, "c2", 1);
  req_ob_contact(&r, U2, INST1, "2");
  r.req.via_count = 2;
  req_path(&r, EDGE_OB);
  res = submit(&h, &r);
  cr_expect_eq(res->require, SIPFLOW_REG_OPT_OUTBOUND);
  cr_expect_eq(res->flow_timer, 0);
  cr_expect_eq(res->echo_path, 1);
  cr_expect_eq(res->n_contacts, 2);

  /* RFC 5626 §6: no reg-id, no Require: outbound. */
  req_init(&r, AOR, "c3", 1);
  req_contact(&r, U3);
  res = submit(&h, &r);
  cr_expect_eq(res->require, 0);
  cr_expect_eq(res->flow_timer, 0);

  /* RFC 5626 §6: honoured reg-id but outbound not in Supported. */
  req_init(&r, AOR, "c4", 1);
  req_ob_contact(&r, U1, INST2, "1");
  r.req.supported = 0;
  res = submit(&h, &r);
  cr_expect_eq(res->status, 200);
  cr_expect_eq(res->require, 0);
  harness_close(&h);
}

Test(registrar, error_results_carry_their_header_values) {
  harness h;
  reg_req r;
  const sipflow_reg_result *res;
  cr_assert_eq(harness_open(&h, 1), 0);

  req_init(&r, AOR, "c1", 1);
  req_contact(&r, U1)->expires = S("30");
  res = submit(&h, &r);
  cr_expect_eq(res->status, 423);
  cr_expect_eq(res->min_expires, 60); /* RFC 3261 §21.4.17: Min-Expires */

  req_init(&r, AOR, "c1", 2);
  r.unknown[0] = S("foo");
  r.req.n_require_unknown = 1;
  res = submit(&h, &r);
  cr_expect_eq(res->status, 420);
  cr_expect(res->unsupported_unknown);
  cr_expect_eq(res->unsupported, 0);
  harness_close(&h);

  sipflow_registrar_settings_default(&h.set);
  h.set.outbound = SIPFLOW_REG_OUTBOUND_REQUIRED;
  h.set.path_requires_supported = 1;
  cr_assert_eq(harness_open(&h, 0), 0);
  req_init(&r, AOR, "c1", 1);
  req_contact(&r, U1);
  req_path(&r, EDGE);
  r.req.supported = SIPFLOW_REG_OPT_OUTBOUND;
  res = submit(&h, &r);
  cr_expect_eq(res->status, 420); /* RFC 3327 §5.3 policy */
  cr_expect_eq(res->unsupported, SIPFLOW_REG_OPT_PATH);
  r.req.n_path = 0;
  r.req.supported = 0;
  res = submit(&h, &r);
  cr_expect_eq(res->status, 421);
  cr_expect_eq(res->require, SIPFLOW_REG_OPT_OUTBOUND);
  cr_expect_eq(sipflow_registrar_binding_count(h.reg), 0);
  harness_close(&h);
}

Test(registrar, path_is_stored_as_one_route_value) {
  harness h;
  reg_req r;
  const sipflow_reg_result *res;
  cr_assert_eq(harness_open(&h, 1), 0);
  req_init(&r, AOR, "c1", 1);
  req_ob_contact(&r, U1, INST1, "1");
  r.req.via_count = 3;
  req_path(&r, "<sip:p2.example.com;lr>");
  req_path(&r, "sip:tok@edge.example.com;lr;ob"); /* an addr-spec */
  res = submit(&h, &r);
  cr_assert_eq(res->status, 200);
  static const char want[] =
      "<sip:p2.example.com;lr>, <sip:tok@edge.example.com;lr;ob>";
  cr_expect_eq(res->contacts[0].path.len, strlen(want));
  cr_expect_eq(memcmp(res->contacts[0].path.ptr, want, strlen(want)), 0);
  cr_expect_eq(res->contacts[0].n_path, 2);
  harness_close(&h);
}

/* The received address is kept three ways (none, the flow's remote
 * address, its own copy after the strings); each must read back as given,
 * and moving between them must update, not corrupt, the binding. */
static sipflow_addr addr_of(const char *host, uint16_t port) {
  sipflow_addr a;
  memset(&a, 0, sizeof(a));
  if (host)
    cr_assert_eq(sipflow_addr_parse(&a, host, port), 0);
  return a;
}

static const sipflow_reg_binding *register_received(harness *h, reg_req *r,
                                                    uint32_t cseq,
                                                    const char *host,
                                                    uint16_t port) {
  const sipflow_reg_result *res;
  req_init(r, AOR, "call-recv", cseq);
  req_ob_contact(r, U1, INST1, "1");
  req_flow(r, 3);
  r->req.received = addr_of(host, port);
  res = submit(h, r);
  cr_assert_eq(res->status, 200);
  cr_assert_eq(res->n_contacts, 1);
  return &res->contacts[0];
}

Test(registrar, the_received_address_reads_back_however_it_is_kept) {
  static const struct {
    const char *host; /* NULL: none */
    uint16_t port;
  } seq[] = {{"198.51.100.7", 40003}, /* the flow's remote: not copied */
             {"203.0.113.5", 5060},   /* behind another NAT: copied */
             {NULL, 0},               /* none */
             {"2001:db8::5", 5062},   /* copied, IPv6 */
             {"198.51.100.7", 40003},
             {"198.51.100.7", 40004}}; /* same host, other port: copied */
  harness h;
  reg_req r;
  uint64_t id = 0;
  cr_assert_eq(harness_open(&h, 1), 0);
  for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
    sipflow_addr want = addr_of(seq[i].host, seq[i].port);
    const sipflow_reg_binding *b =
        register_received(&h, &r, (uint32_t)i + 1, seq[i].host, seq[i].port);
    sipflow_reg_plan *plan;
    const sipflow_reg_branch *br;
    size_t n;
    cr_expect(sipflow_addr_equal(&b->received, &want), "step %zu", i);
    cr_expect_eq(b->flow.remote.port, 40003);
    if (i == 0)
      id = b->id;
    cr_expect_eq(b->id, id, "step %zu: the same binding throughout", i);
    /* What a lookup hands out says the same. */
    cr_assert_eq(sipflow_registrar_lookup(h.reg, S(AOR), h.now, &plan), 0);
    cr_assert_eq(sipflow_reg_plan_next_group(plan, &br, &n), 0);
    cr_assert_eq(n, 1);
    cr_expect(sipflow_addr_equal(&br[0].binding->received, &want), "step %zu",
              i);
    cr_expect_eq(br[0].binding->uri.len, strlen(U1));
    cr_expect_eq(memcmp(br[0].binding->uri.ptr, U1, strlen(U1)), 0);
    sipflow_reg_plan_del(plan);
    h.now += SEC;
  }
  cr_expect_eq(sipflow_registrar_binding_count(h.reg), 1);
  harness_close(&h);
}

/* ---- changes reported ---------------------------------------------------- */

Test(registrar, every_change_is_reported_with_the_binding) {
  harness h;
  reg_req r;
  uint64_t id;
  cr_assert_eq(harness_open(&h, 1), 0);

  cr_assert_eq(reg_ob(&h, AOR, U1, INST1, "1", "call-AAAA", 1, 7), 200);
  cr_assert_eq(h.n_ev, 1);
  cr_expect_eq(h.ev[0].change, SIPFLOW_REG_ADDED);
  cr_expect_str_eq(h.ev[0].aor, AOR);
  cr_expect_eq(h.ev[0].flow_id, 7);
  cr_expect_eq(h.ev[0].expires, 3600);
  id = h.ev[0].id;

  h.now += SEC;
  cr_assert_eq(reg_ob(&h, AOR, U1, INST1, "1", "call-AAAA", 2, 7), 200);
  cr_expect_eq(h.ev[1].change, SIPFLOW_REG_REFRESHED);
  cr_expect_eq(h.ev[1].id, id);

  /* New Call-ID of the same length: updated in place. */
  cr_assert_eq(reg_ob(&h, AOR, U1, INST1, "1", "call-BBBB", 1, 7), 200);
  cr_expect_eq(h.ev[2].change, SIPFLOW_REG_UPDATED);
  cr_expect_eq(h.ev[2].id, id);

  /* A longer Contact URI over a new flow: replaced, same identity. */
  cr_assert_eq(reg_ob(&h, AOR, U_LONG, INST1, "1", "call-BBBB", 2, 8), 200);
  cr_expect_eq(h.ev[3].change, SIPFLOW_REG_UPDATED);
  cr_expect_eq(h.ev[3].id, id);
  cr_expect_str_eq(h.ev[3].uri, U_LONG);
  cr_expect_eq(h.ev[3].flow_id, 8);

  req_init(&r, AOR, "call-BBBB", 3);
  req_ob_contact(&r, U_LONG, INST1, "1")->expires = S("0");
  cr_expect_eq(submit(&h, &r)->status, 200);
  cr_expect_eq(h.ev[4].change, SIPFLOW_REG_REMOVED);
  cr_expect_eq(h.ev[4].id, id);
  cr_expect_eq(h.n_ev, 5);
  cr_expect_eq(sipflow_registrar_aor_count(h.reg), 0);
  harness_close(&h);
}

/* RFC 5626 §6: the same AoR, instance and reg-id over a new flow replaces
 * the binding; the change names the flow it left, so the host can end what
 * it kept for it there. */
Test(registrar, a_binding_moved_to_a_new_flow_names_the_flow_it_left) {
  harness h;
  reg_req r;
  cr_assert_eq(harness_open(&h, 1), 0);
  cr_assert_eq(reg_ob(&h, AOR, U1, INST1, "1", "c", 1, 7), 200);
  cr_expect_eq(h.ev[0].change, SIPFLOW_REG_ADDED);
  cr_expect_eq(h.ev[0].prev_flow_id, 0);
  cr_assert_eq(reg_ob(&h, AOR, U1, INST1, "1", "c", 2, 7), 200);
  cr_expect_eq(h.ev[1].change, SIPFLOW_REG_REFRESHED);
  cr_expect_eq(h.ev[1].prev_flow_id, 7);
  /* Same content over a new flow: updated in place. */
  cr_assert_eq(reg_ob(&h, AOR, U1, INST1, "1", "c", 3, 8), 200);
  cr_expect_eq(h.ev[2].change, SIPFLOW_REG_UPDATED);
  cr_expect_eq(h.ev[2].flow_id, 8);
  cr_expect_eq(h.ev[2].prev_flow_id, 7);
  /* A longer Contact over another flow: replaced, same identity. */
  cr_assert_eq(reg_ob(&h, AOR, U_LONG, INST1, "1", "c", 4, 9), 200);
  cr_expect_eq(h.ev[3].change, SIPFLOW_REG_UPDATED);
  cr_expect_eq(h.ev[3].flow_id, 9);
  cr_expect_eq(h.ev[3].prev_flow_id, 8);
  req_init(&r, AOR, "c", 5);
  req_ob_contact(&r, U_LONG, INST1, "1")->expires = S("0");
  req_flow(&r, 9);
  cr_expect_eq(submit(&h, &r)->status, 200);
  cr_expect_eq(h.ev[4].change, SIPFLOW_REG_REMOVED);
  cr_expect_eq(h.ev[4].prev_flow_id, 9);
  cr_expect_eq(h.n_ev, 5);
  harness_close(&h);
}

/* A host that keeps each binding's flow alive (one REGISTRATION reason per
 * binding, as sipflow-proxy does) and ends the reason on the flow a binding
 * left keeps one endpoint however often the binding moves. */
typedef struct ka_host {
  sipflow_keepalive *ka;
  sipflow_tstamp now;
} ka_host;

static int ka_host_send(sipflow_keepalive *ka, sipflow_flow_id flow,
                        const sipflow_keepalive_probe *probe, void *ud,
                        void *ep_ud) {
  (void)ka, (void)flow, (void)probe, (void)ud, (void)ep_ud;
  return 0;
}

static void ka_host_change(sipflow_registrar *reg, sipflow_reg_change change,
                           const sipflow_reg_binding *b, void *ud) {
  ka_host *k = ud;
  sipflow_keepalive_endpoint ep;
  (void)reg;
  if (b->prev_flow_id && b->prev_flow_id != b->flow_id)
    cr_expect_eq(sipflow_keepalive_reason_end(k->ka, b->prev_flow_id,
                                              SIPFLOW_KEEPALIVE_REGISTRATION,
                                              b->id, k->now),
                 0);
  if (change != SIPFLOW_REG_ADDED && change != SIPFLOW_REG_REFRESHED &&
      change != SIPFLOW_REG_UPDATED) {
    sipflow_keepalive_reason_end(k->ka, b->flow_id,
                                 SIPFLOW_KEEPALIVE_REGISTRATION, b->id, k->now);
    return;
  }
  sipflow_keepalive_endpoint_default(&ep);
  ep.flow_id = b->flow_id;
  ep.tuple = b->flow;
  ep.method = SIPFLOW_KEEPALIVE_CRLF;
  cr_expect_eq(sipflow_keepalive_reason_set(
                   k->ka, &ep, SIPFLOW_KEEPALIVE_REGISTRATION, b->id,
                   (sipflow_duration)b->expires * SEC, k->now),
               0);
}

Test(registrar, a_binding_moving_over_many_flows_leaves_one_keepalive) {
  sipflow_registrar_callbacks rcb = {ka_host_change, NULL};
  sipflow_keepalive_callbacks kcb;
  sipflow_keepalive_counters c;
  sipflow_registrar_settings rs;
  sipflow_registrar *reg;
  sipflow_ctx *ctx;
  ka_host k = {NULL, T0};
  reg_req r;
  const sipflow_reg_result *res = NULL;
  memset(&kcb, 0, sizeof(kcb));
  kcb.send_probe = ka_host_send;
  sipflow_registrar_settings_default(&rs);
  cr_assert_eq(sipflow_ctx_new(&ctx, NULL, NULL, NULL, &k), 0);
  cr_assert_eq(sipflow_registrar_new(&reg, ctx, &rcb, &rs, &k), 0);
  cr_assert_eq(sipflow_keepalive_new(&k.ka, ctx, &kcb, NULL, &k), 0);
  for (uint32_t i = 1; i <= 1000; i++) {
    req_init(&r, AOR, "c", i);
    req_ob_contact(&r, U1, INST1, "1");
    req_flow(&r, i); /* a new port each time, as after a NAT rebinding */
    k.now += SEC / 10;
    cr_assert_eq(sipflow_registrar_process(reg, &r.req, k.now, &res), 0);
    cr_assert_eq(res->status, 200);
  }
  cr_assert_eq(sipflow_keepalive_get_counters(k.ka, &c), 0);
  cr_expect_eq(c.endpoints, 1, "%llu endpoints",
               (unsigned long long)c.endpoints);
  cr_expect_eq(c.registrations, 1);
  cr_expect_eq(sipflow_registrar_binding_count(reg), 1);
  sipflow_keepalive_del(k.ka);
  sipflow_registrar_del(reg);
  sipflow_ctx_del(ctx);
}

/* ---- expiry on the context's one timer ----------------------------------- */

Test(registrar, bindings_expire_on_the_context_timer) {
  harness h;
  reg_req r;
  cr_assert_eq(harness_open(&h, 1), 0);
  cr_expect_eq(sipflow_ctx_get_expiry(h.ctx), SIPFLOW_TSTAMP_NONE);
  req_init(&r, AOR, "c1", 1);
  req_contact(&r, U1)->expires = S("60");
  submit(&h, &r);
  req_init(&r, "sip:bob@example.com", "c2", 1);
  req_contact(&r, U2)->expires = S("120");
  submit(&h, &r);
  cr_expect_eq(sipflow_ctx_get_expiry(h.ctx), T0 + 60 * SEC);

  cr_expect_eq(sipflow_ctx_handle_expiry(h.ctx, T0 + 60 * SEC), 0);
  cr_assert_eq(h.n_ev, 3);
  cr_expect_eq(h.ev[2].change, SIPFLOW_REG_EXPIRED);
  cr_expect_str_eq(h.ev[2].uri, U1);
  cr_expect_eq(sipflow_ctx_get_expiry(h.ctx), T0 + 120 * SEC);
  cr_expect_gt(sipflow_ctx_get_expiry(h.ctx), T0 + 60 * SEC);
  cr_expect_eq(sipflow_registrar_aor_count(h.reg), 1);
  cr_expect_eq(sipflow__registrar_check(h.reg), 0);

  /* A call after the deadline sees the binding gone even before the
   * timer fired. */
  h.now = T0 + 121 * SEC;
  req_init(&r, "sip:bob@example.com", "c9", 1);
  cr_expect_eq(submit(&h, &r)->n_contacts, 0);
  cr_expect_eq(h.ev[3].change, SIPFLOW_REG_EXPIRED);
  cr_expect_eq(sipflow_ctx_get_expiry(h.ctx), SIPFLOW_TSTAMP_NONE);
  harness_close(&h);
}

Test(registrar, a_refresh_moves_the_expiry_without_an_early_removal) {
  harness h;
  reg_req r;
  cr_assert_eq(harness_open(&h, 1), 0);
  req_init(&r, AOR, "c1", 1);
  req_contact(&r, U1)->expires = S("60");
  submit(&h, &r);
  h.now = T0 + 30 * SEC;
  r.req.cseq = 2;
  submit(&h, &r); /* now expires at T0 + 90 s */
  cr_expect_eq(h.ev[1].change, SIPFLOW_REG_REFRESHED);
  /* The deadline given to the host is a lower bound: firing there
   * removes nothing and moves on to the real expiry. */
  cr_expect_leq(sipflow_ctx_get_expiry(h.ctx), T0 + 90 * SEC);
  cr_expect_eq(sipflow_ctx_handle_expiry(h.ctx, T0 + 60 * SEC), 0);
  cr_expect_eq(h.n_ev, 2);
  cr_expect_eq(sipflow_ctx_get_expiry(h.ctx), T0 + 90 * SEC);
  cr_expect_eq(sipflow_ctx_handle_expiry(h.ctx, T0 + 90 * SEC), 0);
  cr_expect_eq(h.n_ev, 3);
  cr_expect_eq(h.ev[2].change, SIPFLOW_REG_EXPIRED);
  /* A shorter expiry moves the deadline earlier at once. */
  h.now = T0 + 100 * SEC;
  r.req.cseq = 3;
  r.c[0].expires = S("3600");
  submit(&h, &r);
  r.req.cseq = 4;
  r.c[0].expires = S("60");
  submit(&h, &r);
  cr_expect_eq(sipflow_ctx_get_expiry(h.ctx), T0 + 160 * SEC);
  harness_close(&h);
}

Test(registrar, remaining_expires_rounds_up) {
  harness h;
  reg_req r;
  const sipflow_reg_result *res;
  cr_assert_eq(harness_open(&h, 1), 0);
  cr_assert_eq(reg_plain(&h, AOR, U1, "c1", 1, 0), 200);
  req_init(&r, AOR, "q", 1);
  h.now = T0 + SEC / 2;
  res = submit(&h, &r);
  cr_expect_eq(res->contacts[0].expires, 3600);
  h.now = T0 + 10 * SEC;
  res = submit(&h, &r);
  cr_expect_eq(res->contacts[0].expires, 3590);
  cr_expect_eq(res->contacts[0].expires_at, T0 + 3600 * SEC);
  harness_close(&h);
}

/* ---- flows --------------------------------------------------------------- */

Test(registrar, flow_failure_removes_bindings_on_it_whatever_the_aor) {
  harness h;
  cr_assert_eq(harness_open(&h, 1), 0);
  cr_assert_eq(reg_ob(&h, AOR, U1, INST1, "1", "a", 1, 7), 200);
  cr_assert_eq(reg_ob(&h, "sip:bob@example.com", U2, INST2, "1", "b", 1, 7),
               200);
  cr_assert_eq(reg_ob(&h, AOR, U3, INST1, "2", "c", 1, 8), 200);
  h.n_ev = 0;
  cr_expect_eq(sipflow_registrar_flow_binding_count(h.reg, 7), 2);
  cr_expect_eq(sipflow_registrar_flow_binding_count(h.reg, 8), 1);
  cr_expect_eq(sipflow_registrar_flow_binding_count(h.reg, 9), 0);
  cr_expect_eq(sipflow_registrar_flow_binding_count(h.reg, 0), 0);
  cr_expect_eq(sipflow_registrar_flow_binding_count(NULL, 7), 0);

  /* RFC 5626 §7: invalidate every binding using the flow. */
  cr_expect_eq(sipflow_registrar_flow_failed(h.reg, 7, h.now), 0);
  cr_expect_eq(sipflow_registrar_flow_binding_count(h.reg, 7), 0);
  cr_expect_eq(sipflow_registrar_flow_binding_count(h.reg, 8), 1);
  cr_expect_eq(h.n_ev, 2);
  cr_expect_eq(h.ev[0].change, SIPFLOW_REG_FLOW_FAILED);
  cr_expect_eq(h.ev[1].change, SIPFLOW_REG_FLOW_FAILED);
  cr_expect_eq(sipflow_registrar_binding_count(h.reg), 1);
  cr_expect_eq(sipflow_registrar_aor_count(h.reg), 1);
  cr_expect_eq(sipflow__registrar_check(h.reg), 0);
  cr_expect_eq(sipflow_registrar_flow_failed(h.reg, 7, h.now),
               SIPFLOW_ERR_NOT_FOUND);
  cr_expect_eq(sipflow_registrar_flow_failed(h.reg, 0, h.now),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  harness_close(&h);
}

/* Behind an edge the registrar holds no flow: a 430 to a request sent
 * through one binding's Path removes that binding alone (RFC 5626 §7). */
Test(registrar, binding_failed_removes_one_binding_behind_an_edge) {
  harness h;
  uint64_t id1, id2;
  cr_assert_eq(harness_open(&h, 1), 0);
  cr_assert_eq(reg_ob(&h, AOR, U1, INST1, "1", "a", 1, 0), 200);
  cr_assert_eq(reg_ob(&h, AOR, U3, INST1, "2", "c", 1, 0), 200);
  id1 = h.ev[0].id;
  id2 = h.ev[1].id;
  cr_assert_neq(id1, id2);
  h.n_ev = 0;
  /* Any form of the AoR that canonicalises to it (RFC 3261 §10.3). */
  cr_expect_eq(sipflow_registrar_binding_failed(
                   h.reg, S("sip:alice@EXAMPLE.com;transport=tcp"), id1, h.now),
               0);
  cr_assert_eq(h.n_ev, 1);
  cr_expect_eq(h.ev[0].change, SIPFLOW_REG_FLOW_FAILED);
  cr_expect_eq(h.ev[0].id, id1);
  cr_expect_eq(sipflow_registrar_binding_count(h.reg), 1);
  cr_expect_eq(sipflow__registrar_check(h.reg), 0);
  cr_expect_eq(sipflow_registrar_binding_failed(h.reg, S(AOR), id1, h.now),
               SIPFLOW_ERR_NOT_FOUND); /* gone already */
  cr_expect_eq(sipflow_registrar_binding_failed(h.reg, S("sip:bob@example.com"),
                                                id2, h.now),
               SIPFLOW_ERR_NOT_FOUND); /* another AoR's id */
  cr_expect_eq(sipflow_registrar_binding_failed(h.reg, S("tel:1"), id2, h.now),
               SIPFLOW_ERR_MALFORMED);
  cr_expect_eq(sipflow_registrar_binding_failed(h.reg, S(AOR), 0, h.now),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_registrar_binding_failed(NULL, S(AOR), id2, h.now),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_registrar_binding_failed(h.reg, S(AOR), id2, h.now - 1),
               SIPFLOW_ERR_TIME_BACKWARDS);
  cr_expect_eq(sipflow_registrar_binding_failed(h.reg, S(AOR), id2, h.now), 0);
  cr_expect_eq(sipflow_registrar_binding_count(h.reg), 0);
  cr_expect_eq(sipflow_registrar_aor_count(h.reg), 0);
  harness_close(&h);
}

Test(registrar, binding_failed_follows_the_dead_flow_policy) {
  harness h;
  uint64_t id;
  sipflow_registrar_settings_default(&h.set);
  h.set.dead_flow = SIPFLOW_REG_DEAD_FLOW_SHORTEN;
  h.set.dead_flow_expires = 10;
  cr_assert_eq(harness_open(&h, 0), 0);
  cr_assert_eq(reg_ob(&h, AOR, U1, INST1, "1", "a", 1, 0), 200);
  id = h.ev[0].id;
  h.n_ev = 0;
  cr_expect_eq(sipflow_registrar_binding_failed(h.reg, S(AOR), id, h.now), 0);
  cr_assert_eq(h.n_ev, 1);
  cr_expect_eq(h.ev[0].change, SIPFLOW_REG_UPDATED);
  cr_expect_eq(h.ev[0].expires, 10);
  cr_expect_eq(h.ev[0].health, SIPFLOW_HEALTH_DEAD);
  cr_expect_eq(sipflow_registrar_binding_count(h.reg), 1);
  harness_close(&h);
}

/* Bindings leave a crowded flow from anywhere in its list (an edge's
 * connection carries thousands): the list stays whole. */
Test(registrar, bindings_leave_a_crowded_flow_from_any_place) {
  harness h;
  char aor[40];
  cr_assert_eq(harness_open(&h, 1), 0);
  for (int i = 0; i < 40; i++) {
    snprintf(aor, sizeof(aor), "sip:u%d@example.com", i);
    cr_assert_eq(reg_ob(&h, aor, U1, INST1, "1", "a", 1, 7), 200);
  }
  cr_expect_eq(sipflow_registrar_flow_binding_count(h.reg, 7), 40);
  /* Every third moves to flow 8 (a new Call-ID: the binding is replaced),
   * newest, oldest and middle ones alike. */
  for (int i = 0; i < 40; i += 3) {
    snprintf(aor, sizeof(aor), "sip:u%d@example.com", i);
    cr_assert_eq(reg_ob(&h, aor, U1, INST1, "1", "b", 1, 8), 200);
    cr_assert_eq(sipflow__registrar_check(h.reg), 0, "after u%d", i);
  }
  cr_expect_eq(sipflow_registrar_flow_binding_count(h.reg, 7), 26);
  cr_expect_eq(sipflow_registrar_flow_binding_count(h.reg, 8), 14);
  cr_expect_eq(sipflow_registrar_flow_failed(h.reg, 7, h.now), 0);
  cr_expect_eq(sipflow_registrar_binding_count(h.reg), 14);
  cr_expect_eq(sipflow__registrar_check(h.reg), 0);
  harness_close(&h);
}

Test(registrar, dead_flow_policy_shortens_and_a_new_flow_revives) {
  harness h;
  reg_req r;
  const sipflow_reg_result *res;
  sipflow_registrar_settings_default(&h.set);
  h.set.dead_flow = SIPFLOW_REG_DEAD_FLOW_SHORTEN;
  h.set.dead_flow_expires = 10;
  cr_assert_eq(harness_open(&h, 0), 0);
  cr_assert_eq(reg_ob(&h, AOR, U1, INST1, "1", "a", 1, 7), 200);
  h.n_ev = 0;
  cr_expect_eq(sipflow_registrar_flow_failed(h.reg, 7, h.now), 0);
  cr_assert_eq(h.n_ev, 1);
  cr_expect_eq(h.ev[0].change, SIPFLOW_REG_UPDATED);
  cr_expect_eq(h.ev[0].expires, 10);
  cr_expect_eq(h.ev[0].health, SIPFLOW_HEALTH_DEAD);
  cr_expect_eq(sipflow_ctx_get_expiry(h.ctx), h.now + 10 * SEC);

  /* The UA re-registers over a new flow (RFC 5626 §4.5). */
  h.now += 5 * SEC;
  cr_assert_eq(reg_ob(&h, AOR, U1, INST1, "1", "a", 2, 9), 200);
  req_init(&r, AOR, "q", 1);
  res = submit(&h, &r);
  cr_expect_eq(res->contacts[0].health, SIPFLOW_HEALTH_UNKNOWN);
  cr_expect_eq(res->contacts[0].flow_id, 9);
  cr_expect_eq(res->contacts[0].expires, 3600);
  harness_close(&h);
}

Test(registrar, flow_health_is_kept_per_flow) {
  harness h;
  reg_req r;
  const sipflow_reg_result *res;
  cr_assert_eq(harness_open(&h, 1), 0);
  cr_assert_eq(reg_ob(&h, AOR, U1, INST1, "1", "a", 1, 7), 200);
  cr_expect_eq(
      sipflow_registrar_flow_health(h.reg, 7, SIPFLOW_HEALTH_ALIVE, h.now), 0);
  /* A new binding on the same flow takes its health. */
  cr_assert_eq(reg_ob(&h, "sip:bob@example.com", U2, INST2, "1", "b", 1, 7),
               200);
  req_init(&r, "sip:bob@example.com", "q", 1);
  res = submit(&h, &r);
  cr_expect_eq(res->contacts[0].health, SIPFLOW_HEALTH_ALIVE);
  cr_expect_eq(
      sipflow_registrar_flow_health(h.reg, 99, SIPFLOW_HEALTH_ALIVE, h.now),
      SIPFLOW_ERR_NOT_FOUND);
  cr_expect_eq(
      sipflow_registrar_flow_health(h.reg, 7, (sipflow_flow_health)9, h.now),
      SIPFLOW_ERR_INVALID_ARGUMENT);
  /* A binding replaced (longer Contact) over the same flow keeps what is
   * known of the flow, even as the flow's only binding. */
  cr_assert_eq(reg_ob(&h, "sip:carol@example.com", U1, INST1, "1", "c", 1, 50),
               200);
  cr_assert_eq(
      sipflow_registrar_flow_health(h.reg, 50, SIPFLOW_HEALTH_SUSPECT, h.now),
      0);
  cr_assert_eq(
      reg_ob(&h, "sip:carol@example.com", U_LONG, INST1, "1", "c", 2, 50), 200);
  req_init(&r, "sip:carol@example.com", "q", 1);
  res = submit(&h, &r);
  cr_expect_eq(res->contacts[0].uri.len, strlen(U_LONG));
  cr_expect_eq(res->contacts[0].health, SIPFLOW_HEALTH_SUSPECT);
  harness_close(&h);
}

/* ---- all or nothing, limits, bad input ----------------------------------- */

Test(registrar, a_stale_second_contact_aborts_the_whole_request) {
  harness h;
  reg_req r;
  cr_assert_eq(harness_open(&h, 1), 0);
  cr_assert_eq(reg_plain(&h, AOR, U2, "c1", 5, 0), 200);
  h.n_ev = 0;
  /* RFC 3261 §10.3 step 7: the whole request fails, U1 is not added. */
  req_init(&r, AOR, "c1", 5);
  req_contact(&r, U1);
  req_contact(&r, U2);
  cr_expect_eq(submit(&h, &r)->status, 400);
  cr_expect_eq(h.n_ev, 0);
  cr_expect_eq(sipflow_registrar_binding_count(h.reg), 1);
  harness_close(&h);
}

/* One string of the facts over its default limit (case 0..5). */
static void oversize(reg_req *r, int which) {
  static char big[4096];
  sipflow_reg_contact *c;
  memset(big, 'a', sizeof(big));
  memcpy(big, "sip:", 4);
  req_init(r, AOR, "c1", 1);
  c = req_contact(r, U1);
  switch (which) {
  case 0: /* max_aor_len 256 */
    r->req.aor.ptr = big;
    r->req.aor.len = 300;
    break;
  case 1: /* max_uri_len 512 */
    c->uri.ptr = big;
    c->uri.len = 600;
    break;
  case 2: /* max_instance_len 128 */
    c->instance.ptr = big;
    c->instance.len = 200;
    break;
  case 3: /* max_call_id_len 256 */
    r->req.call_id.ptr = big + 4;
    r->req.call_id.len = 300;
    break;
  case 4: /* max_params_len 512 */
    c->params.ptr = big + 4;
    c->params.len = 600;
    break;
  default: /* max_path_len 2048 */
    r->path[0].ptr = big;
    r->path[0].len = 3000;
    r->req.n_path = 1;
    break;
  }
}

Test(registrar, oversized_input_gets_400_and_changes_nothing) {
  harness h;
  reg_req r;
  const sipflow_reg_result *res;
  cr_assert_eq(harness_open(&h, 1), 0);
  for (int i = 0; i < 6; i++) {
    oversize(&r, i);
    res = submit(&h, &r);
    cr_expect_eq(res->status, 400, "case %d gave %d", i, res->status);
  }
  cr_expect_eq(sipflow_registrar_binding_count(h.reg), 0);
  harness_close(&h);

  sipflow_registrar_settings_default(&h.set);
  h.set.max_path_entries = 2;
  h.set.max_user_agent_len = 4;
  cr_assert_eq(harness_open(&h, 0), 0);
  req_init(&r, AOR, "c1", 1);
  req_contact(&r, U1);
  req_path(&r, EDGE);
  req_path(&r, EDGE);
  req_path(&r, EDGE);
  cr_expect_eq(submit(&h, &r)->status, 400);
  cr_expect_eq(sipflow_registrar_binding_count(h.reg), 0);
  r.req.n_path = 1;
  r.req.user_agent = S("Phone/1.2.3"); /* stored truncated */
  res = submit(&h, &r);
  cr_expect_eq(res->status, 200);
  cr_expect_eq(res->contacts[0].user_agent.len, 4);
  harness_close(&h);
}

Test(registrar, malformed_facts_get_400) {
  harness h;
  reg_req r;
  cr_assert_eq(harness_open(&h, 1), 0);
  static const char *bad_contacts[] = {"", "sip:", "<sip:a@b>",
                                       "sip:a@b\r\nVia: x", "a b"};
  for (size_t i = 0; i < sizeof(bad_contacts) / sizeof(bad_contacts[0]); i++) {
    req_init(&r, AOR, "c1", 1);
    req_contact(&r, bad_contacts[i]);
    cr_expect_eq(submit(&h, &r)->status, 400, "%s", bad_contacts[i]);
  }
  req_init(&r, "tel:+15551234", "c1", 1);
  cr_expect_eq(submit(&h, &r)->status, 400);
  req_init(&r, AOR, "c 1", 1);
  cr_expect_eq(submit(&h, &r)->status, 400);
  req_init(&r, AOR, NULL, 1);
  cr_expect_eq(submit(&h, &r)->status, 400);
  req_init(&r, AOR, "c1", 1);
  r.req.via_count = 0;
  cr_expect_eq(submit(&h, &r)->status, 400);
  req_init(&r, AOR, "c1", 1);
  req_contact(&r, U1);
  req_flow(&r, 3);
  r.req.flow.transport = 9; /* unknown transport */
  cr_expect_eq(submit(&h, &r)->status, 400);
  req_init(&r, AOR, "c1", 1);
  req_contact(&r, U1)->params = S(";x=\"a\r\nb\"");
  cr_expect_eq(submit(&h, &r)->status, 400);
  req_init(&r, AOR, "c1", 1);
  req_contact(&r, U1);
  req_path(&r, "<sip:p;lr>\r\nX: y");
  cr_expect_eq(submit(&h, &r)->status, 400);
  cr_expect_eq(sipflow_registrar_binding_count(h.reg), 0);
  harness_close(&h);
}

/*
 * The checks a REGISTER goes through have an order (the Contacts in turn,
 * each URI, q, parameters, instance, reg-id; then the rules across
 * Contacts: one live reg-id, 439, 423). A request with several faults is
 * answered with the first, even where a check is put off until the AoR's
 * bindings are at hand (a Contact URI or instance equal to a stored one is
 * not parsed again).
 */
typedef struct fault_row {
  const char *what;
  const char *uri1, *inst1, *reg_id1, *expires1;
  int q1; /* thousandths + 1; 0 = absent */
  const char *uri2;
  int q2;
  uint32_t via;
  const char *reason;
} fault_row;

static const fault_row fault_rows[] = {
    {"RFC 3261 §10.3 step 4: the URI is checked before q", "sip:", NULL, NULL,
     NULL, 2001, NULL, 0, 1, "Invalid Contact URI"},
    {"RFC 5626 §4.1: the instance is checked before reg-id", U1,
     "\"<sip:a@b>\"", "x", NULL, 0, NULL, 0, 1, "Invalid +sip.instance"},
    {"RFC 3261 §10.3 step 7: a first Contact's bad q comes before a second "
     "Contact's bad URI",
     U1, NULL, NULL, NULL, 2001, "<sip:a@b>", 0, 1, "Invalid q"},
    {"RFC 3261 §10.3 step 7: a first Contact's bad URI comes before a second "
     "Contact's bad q",
     "sip:a b", NULL, NULL, NULL, 0, U2, 2001, 1, "Invalid Contact URI"},
    {"RFC 3261 §10.3 step 7: a bad instance comes before 423", U1, "<>", NULL,
     "10", 0, NULL, 0, 1, "Invalid +sip.instance"},
    {"RFC 5626 §6: a bad URI comes before 439", "sip:", INST1, "1", NULL, 0,
     NULL, 0, 2, "Invalid Contact URI"},
    {"RFC 5626 §6: one live reg-id comes after each Contact's own checks", U1,
     INST1, "1", NULL, 0, "sip:@x", 0, 1, "Invalid Contact URI"},
    {"RFC 5626 §6: then the rule across Contacts", U1, INST1, "1", NULL, 0, U2,
     0, 1, "Multiple Contacts With reg-id"},
};

Test(registrar, a_request_with_several_faults_gets_the_first) {
  harness h;
  cr_assert_eq(harness_open(&h, 1), 0);
  /* Stored bindings whose URI and instance the faulty requests reuse. */
  cr_assert_eq(reg_ob(&h, AOR, U1, INST1, "1", "a", 1, 7), 200);
  cr_assert_eq(reg_plain(&h, AOR, U2, "b", 1, 0), 200);
  for (size_t i = 0; i < sizeof(fault_rows) / sizeof(fault_rows[0]); i++) {
    const fault_row *f = &fault_rows[i];
    reg_req r;
    sipflow_reg_contact *c;
    const sipflow_reg_result *res;
    req_init(&r, AOR, "z", 9);
    c = req_contact(&r, f->uri1);
    c->instance = S(f->inst1);
    c->reg_id = S(f->reg_id1);
    c->expires = S(f->expires1);
    if (f->q1)
      c->q = f->q1 - 1;
    if (f->uri2 && (c = req_contact(&r, f->uri2)) && f->q2)
      c->q = f->q2 - 1;
    r.req.via_count = f->via;
    res = submit(&h, &r);
    cr_expect_eq(res->status, 400, "%s: %d", f->what, res->status);
    cr_expect_str_eq(res->reason, f->reason, "%s", f->what);
  }
  cr_expect_eq(sipflow_registrar_binding_count(h.reg), 2);
  cr_expect_eq(h.n_ev, 2);
  harness_close(&h);
}

Test(registrar, an_aor_keeps_its_bindings_oldest_first_as_it_grows) {
  static const char *const uris[] = {
      "sip:a@192.0.2.1", "sip:a@192.0.2.2", "sip:a@192.0.2.3",
      "sip:a@192.0.2.4", "sip:a@192.0.2.5", "sip:a@192.0.2.6",
      "sip:a@192.0.2.7", "sip:a@192.0.2.8", "sip:a@192.0.2.9"};
  static const size_t order[] = {0, 1, 3, 4, 5, 6, 7, 8, 2};
  harness h;
  reg_req r;
  const sipflow_reg_result *res;
  sipflow_reg_plan *plan;
  const sipflow_reg_branch *br;
  size_t nb;
  cr_assert_eq(harness_open(&h, 1), 0);
  /* One at a time: the record's array is made larger several times. */
  for (size_t i = 0; i < 8; i++) {
    cr_assert_eq(reg_plain(&h, AOR, uris[i], "c", (uint32_t)i + 1, 0), 200);
    h.now += SEC;
  }
  /* The third goes (RFC 3261 §10.3 step 8: expires 0), then comes back as
   * the newest. */
  req_init(&r, AOR, "c", 20);
  req_contact(&r, uris[2])->expires = S("0");
  cr_assert_eq(submit(&h, &r)->status, 200);
  cr_assert_eq(reg_plain(&h, AOR, uris[8], "c", 21, 0), 200);
  req_init(&r, AOR, "c", 22);
  req_contact(&r, uris[2]);
  res = submit(&h, &r);
  cr_assert_eq(res->status, 200);
  cr_assert_eq(res->n_contacts, 9);
  for (size_t i = 0; i < 9; i++)
    cr_expect_eq(res->contacts[i].uri.len, strlen(uris[order[i]]));
  for (size_t i = 0; i < 9; i++)
    cr_expect_eq(memcmp(res->contacts[i].uri.ptr, uris[order[i]],
                        res->contacts[i].uri.len),
                 0, "200 OK position %zu", i);
  /* RFC 3261 §16.6: one parallel group, in the same order. */
  cr_assert_eq(sipflow_registrar_lookup(h.reg, S(AOR), h.now, &plan), 0);
  cr_assert_eq(sipflow_reg_plan_next_group(plan, &br, &nb), 0);
  cr_assert_eq(nb, 9);
  for (size_t i = 0; i < nb; i++)
    cr_expect_eq(
        memcmp(br[i].binding->uri.ptr, uris[order[i]], br[i].binding->uri.len),
        0, "branch %zu", i);
  sipflow_reg_plan_del(plan);
  harness_close(&h);
}

Test(registrar, a_flow_carrying_many_bindings_fails_as_a_whole) {
  char aor[64];
  harness h;
  size_t failed = 0;
  cr_assert_eq(harness_open(&h, 1), 0);
  /* An edge proxy's one connection carries 40 AoRs' bindings. */
  for (int i = 0; i < 40; i++) {
    snprintf(aor, sizeof(aor), "sip:user%d@example.com", i);
    cr_assert_eq(reg_plain(&h, aor, U1, "c", 1, 7), 200);
    if (i % 10 == 0)
      cr_assert_eq(reg_plain(&h, aor, U2, "d", 1, 8), 200);
  }
  /* Bindings leave the flow from its middle, its newest and its oldest. */
  for (int i = 0; i < 40; i += 13) {
    reg_req r;
    snprintf(aor, sizeof(aor), "sip:user%d@example.com", i);
    req_init(&r, aor, "c", 2);
    req_contact(&r, U1)->expires = S("0");
    req_flow(&r, 7);
    cr_assert_eq(submit(&h, &r)->status, 200);
  }
  cr_expect_eq(
      sipflow_registrar_flow_health(h.reg, 7, SIPFLOW_HEALTH_ALIVE, h.now), 0);
  cr_expect_eq(reg_plain(&h, "sip:late@example.com", U1, "c", 1, 7), 200);
  cr_expect_eq(h.ev[h.n_ev - 1].health, SIPFLOW_HEALTH_ALIVE);
  h.n_ev = 0;
  /* RFC 5626 §7: every binding on the flow, whatever its AoR. */
  cr_expect_eq(sipflow_registrar_flow_failed(h.reg, 7, h.now), 0);
  for (size_t i = 0; i < h.n_ev; i++)
    failed += h.ev[i].change == SIPFLOW_REG_FLOW_FAILED && h.ev[i].flow_id == 7;
  cr_expect_eq(failed, 40 - 4 + 1);
  cr_expect_eq(h.n_ev, failed);
  cr_expect_eq(sipflow_registrar_binding_count(h.reg), 4); /* flow 8 */
  cr_expect_eq(sipflow_registrar_aor_count(h.reg), 4);
  cr_expect_eq(sipflow__registrar_check(h.reg), 0);
  cr_expect_eq(sipflow_registrar_flow_failed(h.reg, 7, h.now),
               SIPFLOW_ERR_NOT_FOUND);
  harness_close(&h);
}

Test(registrar, the_binding_limit_gives_503) {
  harness h;
  sipflow_registrar_settings_default(&h.set);
  h.set.max_bindings = 2;
  cr_assert_eq(harness_open(&h, 0), 0);
  cr_expect_eq(reg_plain(&h, "sip:a@example.com", U1, "a", 1, 0), 200);
  cr_expect_eq(reg_plain(&h, "sip:b@example.com", U1, "b", 1, 0), 200);
  cr_expect_eq(reg_plain(&h, "sip:c@example.com", U1, "c", 1, 0), 503);
  cr_expect_eq(reg_plain(&h, "sip:a@example.com", U1, "a", 2, 0), 200);
  harness_close(&h);
}

/* ---- API contract -------------------------------------------------------- */

static harness *reentry;
static int reentry_rv, reentry_lookup_rv, reentry_batch_rv;

static void reenter(sipflow_registrar *reg, sipflow_reg_change change,
                    const sipflow_reg_binding *b, void *ud) {
  reg_req r;
  const sipflow_reg_result *res;
  (void)change;
  (void)b;
  (void)ud;
  sipflow_str aor = S(AOR);
  sipflow_reg_plan *plan;
  int result;
  req_init(&r, AOR, "zz", 1);
  reentry_rv = sipflow_registrar_process(reg, &r.req, reentry->now, &res);
  reentry_lookup_rv = sipflow_registrar_lookup(reg, aor, reentry->now, &plan);
  reentry_batch_rv = sipflow_registrar_lookup_batch(reg, &aor, 1, reentry->now,
                                                    &plan, &result);
  cr_expect_eq(sipflow_registrar_binding_count(reg), 1); /* callback-safe */
}

Test(registrar, mutating_calls_from_a_callback_are_refused) {
  harness h;
  sipflow_registrar_callbacks cb = {reenter, NULL};
  reg_req r;
  const sipflow_reg_result *res;
  fail_alloc_init(&h.fa);
  h.now = T0;
  reentry = &h;
  cr_assert_eq(sipflow_ctx_new(&h.ctx, NULL, NULL, &h.fa.mem, &h), 0);
  cr_assert_eq(sipflow_registrar_new(&h.reg, h.ctx, &cb, NULL, &h), 0);
  req_init(&r, AOR, "c1", 1);
  req_contact(&r, U1);
  cr_expect_eq(sipflow_registrar_process(h.reg, &r.req, h.now, &res), 0);
  cr_expect_eq(reentry_rv, SIPFLOW_ERR_BAD_STATE);
  cr_expect_eq(reentry_lookup_rv, SIPFLOW_ERR_BAD_STATE);
  cr_expect_eq(reentry_batch_rv, SIPFLOW_ERR_BAD_STATE);
  cr_expect_eq(res->status, 200);
  cr_expect_eq(res->n_contacts, 1);
  harness_close(&h);
}

Test(registrar, bad_arguments_and_time_going_backwards) {
  harness h;
  reg_req r;
  const sipflow_reg_result *res = (const sipflow_reg_result *)1;
  cr_assert_eq(harness_open(&h, 1), 0);
  req_init(&r, AOR, "c1", 1);
  req_contact(&r, U1);
  cr_expect_eq(sipflow_registrar_process(NULL, &r.req, h.now, &res),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_null(res);
  cr_expect_eq(sipflow_registrar_process(h.reg, NULL, h.now, &res),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(res->status, 500);
  cr_expect_eq(sipflow_registrar_process(h.reg, &r.req, h.now, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(
      sipflow_registrar_process_versioned(h.reg, 99, &r.req, h.now, &res),
      SIPFLOW_ERR_INVALID_ARGUMENT);
  r.req.contacts = NULL;
  cr_expect_eq(sipflow_registrar_process(h.reg, &r.req, h.now, &res),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  r.req.contacts = r.c;
  cr_expect_eq(sipflow_registrar_process(h.reg, &r.req, h.now, &res), 0);
  cr_expect_eq(sipflow_registrar_process(h.reg, &r.req, h.now - 1, &res),
               SIPFLOW_ERR_TIME_BACKWARDS);
  cr_expect_eq(res->status, 500);
  cr_expect_eq(sipflow_registrar_binding_count(h.reg), 1);
  cr_expect_eq(sipflow_registrar_binding_count(NULL), 0);
  harness_close(&h);
  sipflow_registrar_del(NULL);
}

Test(registrar, settings_out_of_range_are_refused) {
  sipflow_ctx *ctx;
  sipflow_registrar *reg = (sipflow_registrar *)1;
  sipflow_registrar_settings s;
  cr_assert_eq(sipflow_ctx_new(&ctx, NULL, NULL, NULL, NULL), 0);
  for (int i = 0; i < 9; i++) {
    sipflow_registrar_settings_default(&s);
    switch (i) {
    case 0:
      s.min_expires = s.max_expires + 1;
      break;
    case 1:
      s.max_contacts = 0;
      break;
    case 2:
      s.max_contacts = 1025;
      break;
    case 3:
      s.max_uri_len = 70000;
      break;
    case 4:
      s.too_many_contacts_status = 600;
      break;
    case 5:
      s.outbound = (sipflow_reg_outbound_policy)7;
      break;
    case 6:
      s.max_contacts_per_request = 0;
      break;
    case 7:
      s.max_aor_len = 0;
      break;
    default:
      s.max_expires = 0;
      break;
    }
    cr_expect_eq(sipflow_registrar_new(&reg, ctx, NULL, &s, NULL),
                 SIPFLOW_ERR_INVALID_ARGUMENT, "case %d", i);
    cr_expect_null(reg);
  }
  cr_expect_eq(sipflow_registrar_new(&reg, NULL, NULL, NULL, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(
      sipflow_registrar_new_versioned(&reg, ctx, 5, NULL, 1, NULL, NULL),
      0); /* a version with no struct given is ignored */
  sipflow_registrar_del(reg);
  cr_expect_eq(sipflow_registrar_new_versioned(&reg, ctx, 1, NULL, 5, &s, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  sipflow_ctx_del(ctx);
}

/* ---- out of memory ------------------------------------------------------- */

/* Everything a REGISTER can allocate: a new AoR, new bindings, a binding
 * replaced by a longer one, the heap growing. */
static int oom_script(harness *h, int k) {
  reg_req r;
  char aor[64];
  switch (k) {
  case 0:
    return reg_ob(h, AOR, U1, INST1, "1", "a", 1, 7);
  case 1:
    return reg_ob(h, AOR, U_LONG, INST1, "1", "a", 2, 8); /* replace */
  case 2:
    req_init(&r, AOR, "b", 1);
    req_contact(&r, U2);
    req_contact(&r, U3);
    req_path(&r, EDGE);
    return submit(h, &r)->status;
  default:
    snprintf(aor, sizeof(aor), "sip:user%d@example.com", k);
    return reg_plain(h, aor, U1, "c", 1, (sipflow_flow_id)k);
  }
}

/* A cheap fingerprint of the whole store, to see that a failed call
 * changed nothing. */
static uint64_t fingerprint(const sipflow_registrar *reg) {
  uint64_t f = reg->n_bindings * 1000003u + reg->aors.len;
  for (size_t i = 0; reg->aors.slots && i <= reg->aors.mask; i++) {
    const sipflow__reg_aor *a = sipflow__reg_index_at(&reg->aors, i)->obj;
    for (uint32_t k = 0; a && k < a->n; k++) {
      const sipflow__reg_binding *b = a->b[k];
      f = f * 31 + b->id * 7 + b->cseq + b->uri_len + b->flow_id +
          b->expires_at;
    }
  }
  return f;
}

Test(registrar, every_allocation_failure_is_survived) {
  enum { STEPS = 40 };
  int completed = 0, nomem = 0;
  for (uint64_t n = 1; n < 200 && !completed; n++) {
    harness h;
    sipflow_registrar_settings_default(&h.set);
    fail_alloc_init(&h.fa);
    h.now = T0;
    h.n_ev = 0;
    sipflow_registrar_callbacks cb = {on_change, NULL};
    cr_assert_eq(sipflow_ctx_new(&h.ctx, NULL, NULL, &h.fa.mem, &h), 0);
    fail_alloc_arm(&h.fa, n, 0);
    int rv = sipflow_registrar_new(&h.reg, h.ctx, &cb, &h.set, &h);
    if (rv != 0) {
      cr_expect_eq(rv, SIPFLOW_ERR_NOMEM);
      sipflow_ctx_del(h.ctx);
      cr_expect_eq(h.fa.live, 0, "leak after failed new at %llu",
                   (unsigned long long)n);
      continue;
    }
    uint64_t failures = h.fa.failures;
    for (int k = 0; k < STEPS; k++) {
      uint64_t before = fingerprint(h.reg);
      size_t ev = h.n_ev;
      int status = oom_script(&h, k);
      if (h.fa.failures != failures) {
        failures = h.fa.failures;
        if (status == 500) {
          nomem++;
          /* RFC 3261 §10.3 step 7: nothing changed, nothing reported. */
          cr_expect_eq(fingerprint(h.reg), before, "n=%llu step %d",
                       (unsigned long long)n, k);
          cr_expect_eq(h.n_ev, ev);
          status = oom_script(&h, k); /* and it works again */
        }
      }
      cr_expect_eq(status, 200, "n=%llu step %d", (unsigned long long)n, k);
    }
    cr_expect_eq(sipflow_registrar_binding_count(h.reg), STEPS);
    completed = h.fa.failures == 0;
    harness_close(&h);
  }
  cr_expect(completed, "the sweep never reached a run without failures");
  cr_expect_gt(nomem, 40, "only %d REGISTERs met a failed allocation", nomem);
}
