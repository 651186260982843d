/*
 * Push-reachable bindings (RFC 8599): the pn-* Contact URI parameters, 555
 * and Feature-Caps, binding identity, push-then-wait target plans, and
 * refresh pushes before expiry with backoff. Every row names its section.
 */
#include <sipflow/changes.h>

#include "reg_harness.h"

#define AOR "sip:alice@example.com"
#define INST "\"<urn:uuid:00000000-0000-1000-8000-00000000000a>\""
#define PUSH_URI(prid, port)                                                   \
  "sip:alice@192.0.2.1:" port ";transport=tcp;pn-provider=apns;"               \
  "pn-param=ABCD1234.com.example.phone.voip;pn-prid=" prid

/* What the push callback saw. */
typedef struct push_ev {
  sipflow_reg_push_reason reason;
  uint64_t id;
  char prid[64];
  char provider[16];
  char param[64];
  sipflow_tstamp at;
} push_ev;

typedef struct push_harness {
  harness h; /* first: the callbacks get it as user_data */
  push_ev ev[32];
  size_t n;
} push_harness;

static void on_push(sipflow_registrar *reg, sipflow_reg_push_reason reason,
                    const sipflow_reg_binding *b, void *ud) {
  push_harness *p = ud;
  push_ev *e;
  if (p->n == sizeof(p->ev) / sizeof(p->ev[0]))
    return;
  e = &p->ev[p->n++];
  e->reason = reason;
  e->id = b->id;
  e->at = sipflow__ctx_now(reg->ctx);
  snprintf(e->prid, sizeof(e->prid), "%.*s", (int)b->pn_prid.len,
           b->pn_prid.ptr);
  snprintf(e->provider, sizeof(e->provider), "%.*s", (int)b->pn_provider.len,
           b->pn_provider.ptr);
  snprintf(e->param, sizeof(e->param), "%.*s", (int)b->pn_param.len,
           b->pn_param.ptr);
}

/* Open with |providers| ("" for none) and |refresh| seconds, with the push
 * callback when |with_cb|. */
static void open_push(push_harness *p, const char *providers, uint32_t refresh,
                      int with_cb) {
  sipflow_registrar_callbacks cb = {on_change, with_cb ? on_push : NULL};
  harness *h = &p->h;
  memset(p, 0, sizeof(*p));
  fail_alloc_init(&h->fa);
  h->now = T0;
  sipflow_registrar_settings_default(&h->set);
  h->set.push_providers = S(providers);
  h->set.push_refresh = refresh;
  cr_assert_eq(sipflow_ctx_new(&h->ctx, NULL, NULL, &h->fa.mem, p), 0);
  cr_assert_eq(sipflow_registrar_new(&h->reg, h->ctx, &cb, &h->set, p), 0);
}

static const sipflow_reg_result *reg_push(push_harness *p, const char *uri,
                                          const char *call_id, uint32_t cseq,
                                          sipflow_flow_id flow) {
  reg_req r;
  req_init(&r, AOR, call_id, cseq);
  req_ob_contact(&r, uri, INST, "1");
  if (flow)
    req_flow(&r, flow);
  return submit(&p->h, &r);
}

static bool str_is(sipflow_str s, const char *want) {
  return s.len == strlen(want) &&
         (s.len == 0 || memcmp(s.ptr, want, s.len) == 0);
}

static bool contains(sipflow_str s, const char *needle) {
  size_t n = strlen(needle);
  for (size_t i = 0; s.ptr && i + n <= s.len; i++)
    if (memcmp(s.ptr + i, needle, n) == 0)
      return true;
  return false;
}

/* ---- parameters, 555, Feature-Caps ----------------------------------------
 */

typedef struct param_row {
  const char *rfc;
  const char *uri;
  const char *providers;
  int status;
  int push; /* binding push-reachable */
  const char *prid;
  const char *pns; /* Feature-Caps +sip.pns, "" none */
} param_row;

static const param_row param_rows[] = {
    {"RFC 8599 §4.1.1, §5.6.1.1: provider, param and prid kept",
     "sip:a@192.0.2.1;pn-provider=apns;pn-param=T.x.voip;pn-prid=00fc13",
     "apns,fcm", 200, 1, "00fc13", "apns"},
    {"RFC 8599 §5.6.1.1, RFC 3261 §19.1.4: provider in any case",
     "sip:a@192.0.2.1;PN-Provider=FCM;pn-prid=tok", "apns,fcm", 200, 1, "tok",
     "fcm"},
    {"RFC 8599 §5.6.1.1, §8.1: unsupported provider gets 555",
     "sip:a@192.0.2.1;pn-provider=webpush;pn-prid=tok", "apns,fcm", 555, 0, "",
     ""},
    {"RFC 8599 §4.1.5, §5.6.1.2: no prid is a query: caps, no push",
     "sip:a@192.0.2.1;pn-provider=apns", "apns", 200, 0, "", "apns"},
    {"RFC 8599 §4.1.5, §5.6.1.2: empty pn-provider: every service",
     "sip:a@192.0.2.1;pn-provider", "apns,fcm:300", 200, 0, "", "apns,fcm:300"},
    {"RFC 8599 §5.6.1: no pn-provider: no caps, no push",
     "sip:a@192.0.2.1;transport=tcp", "apns", 200, 0, "", ""},
    {"RFC 8599 §5.6.1.1: registrar without push support ignores pn-*",
     "sip:a@192.0.2.1;pn-provider=webpush;pn-prid=tok", "", 200, 1, "tok", ""},
    {"RFC 8599 §8.7: pn-* in the user part are not URI parameters",
     "sip:a;pn-provider=x;pn-prid=y@192.0.2.1", "apns", 200, 0, "", ""},
    {"RFC 8599 §5.5, §5.6.2: empty prid is not push-reachable",
     "sip:a@192.0.2.1;pn-provider=apns;pn-prid=", "apns", 200, 0, "", "apns"},
};

Test(push, parameters_555_and_feature_caps) {
  for (size_t i = 0; i < sizeof(param_rows) / sizeof(param_rows[0]); i++) {
    const param_row *row = &param_rows[i];
    push_harness p;
    reg_req r;
    const sipflow_reg_result *res;
    open_push(&p, row->providers, 0, 1);
    req_init(&r, AOR, "c1", 1);
    req_contact(&r, row->uri);
    res = submit(&p.h, &r);
    cr_expect_eq(res->status, row->status, "%s: status %d", row->rfc,
                 res->status);
    if (res->status == 200) {
      cr_assert_eq(res->n_contacts, 1, "%s", row->rfc);
      cr_expect_eq(res->contacts[0].push, row->push, "%s: push", row->rfc);
      cr_expect(str_is(res->contacts[0].pn_prid, row->prid), "%s: prid",
                row->rfc);
      cr_expect(str_is(res->pns, row->pns), "%s: pns '%.*s'", row->rfc,
                (int)res->pns.len, res->pns.ptr);
    } else {
      cr_expect_str_eq(res->reason, "Push Notification Service Not Supported",
                       "%s", row->rfc);
      cr_expect_eq(sipflow_registrar_binding_count(p.h.reg), 0, "%s", row->rfc);
    }
    harness_close(&p.h);
  }
}

Test(push, feature_caps_text_with_pnsreg) {
  /* RFC 8599 §5.4, §5.6.1.1, §8.2, §8.4, RFC 6809: Feature-Caps names the
   * service and, with
   * refresh pushes, the lead; a provider's own lead wins. */
  push_harness p;
  reg_req r;
  char buf[2048];
  open_push(&p, "apns:600,fcm", 120, 1);
  req_init(&r, AOR, "c1", 1);
  req_contact(&r, "sip:a@192.0.2.1;pn-provider=apns;pn-prid=t")->params =
      S(";+sip.pnsreg");
  cr_assert_eq(sipflow_reg_answer_format(submit(&p.h, &r), &r.req, buf,
                                         sizeof(buf), NULL),
               0);
  cr_expect(strstr(buf, "Feature-Caps: *;+sip.pns=\"apns\";+sip.pnsreg="
                        "\"600\"\r\n") != NULL,
            "%s", buf);
  req_init(&r, AOR, "c2", 1);
  req_contact(&r, "sip:b@192.0.2.1;pn-provider=fcm;pn-prid=t")->params =
      S(";+sip.ice;+SIP.PNSREG;methods=\"INVITE\"");
  cr_assert_eq(sipflow_reg_answer_format(submit(&p.h, &r), &r.req, buf,
                                         sizeof(buf), NULL),
               0);
  cr_expect(strstr(buf, "+sip.pns=\"fcm\";+sip.pnsreg=\"120\"") != NULL, "%s",
            buf);
  /* §4.1.5, §5.6.1.2, §5.4: a query naming no service gets one
   * Feature-Caps per service, no lead (nothing is pushed to a query). */
  req_init(&r, AOR, "c3", 1);
  req_contact(&r, "sip:c@192.0.2.1;pn-provider");
  cr_assert_eq(sipflow_reg_answer_format(submit(&p.h, &r), &r.req, buf,
                                         sizeof(buf), NULL),
               0);
  cr_expect(strstr(buf, "Feature-Caps: *;+sip.pns=\"apns\"\r\n"
                        "Feature-Caps: *;+sip.pns=\"fcm\"\r\n") != NULL,
            "%s", buf);
  harness_close(&p.h);
}

/* RFC 8599 §5.6.1.1 (+sip.pnsreg only when the Contact carries the
 * +sip.pnsreg media feature tag, §4.1.4) */
typedef struct pnsreg_row {
  const char *rfc;
  const char *params; /* the Contact's header parameters, NULL none */
  uint32_t pnsreg;    /* in the result */
  const char *text;   /* the Feature-Caps line the 200 carries */
} pnsreg_row;

static const pnsreg_row pnsreg_rows[] = {
    {"RFC 8599 §5.6.1.1, §4.1.4: tag: +sip.pnsreg with the lead",
     ";+sip.pnsreg", 600,
     "Feature-Caps: *;+sip.pns=\"apns\";+sip.pnsreg=\"600\"\r\n"},
    {"RFC 8599 §5.6.1.1, RFC 3840 §9: the tag in any case, among others",
     ";+sip.ice;+Sip.PnsReg;expires-x=1", 600,
     "Feature-Caps: *;+sip.pns=\"apns\";+sip.pnsreg=\"600\"\r\n"},
    {"RFC 8599 §5.6.1.1: no tag: +sip.pns alone", NULL, 0,
     "Feature-Caps: *;+sip.pns=\"apns\"\r\n"},
    {"RFC 8599 §5.6.1.1: other tags only: +sip.pns alone",
     ";+sip.pnsregx;+sip.pns", 0, "Feature-Caps: *;+sip.pns=\"apns\"\r\n"},
};

Test(push, pnsreg_only_for_the_media_feature_tag) {
  for (size_t i = 0; i < sizeof(pnsreg_rows) / sizeof(pnsreg_rows[0]); i++) {
    const pnsreg_row *row = &pnsreg_rows[i];
    push_harness p;
    reg_req r;
    const sipflow_reg_result *res;
    char buf[2048];
    open_push(&p, "apns:600", 0, 1);
    req_init(&r, AOR, "c1", 1);
    req_contact(&r, "sip:a@192.0.2.1;pn-provider=apns;pn-prid=t")->params =
        row->params ? S(row->params) : (sipflow_str){NULL, 0};
    res = submit(&p.h, &r);
    cr_assert_eq(res->status, 200, "%s", row->rfc);
    cr_expect_eq(res->pnsreg, row->pnsreg, "%s: pnsreg %u", row->rfc,
                 (unsigned)res->pnsreg);
    cr_assert_eq(sipflow_reg_answer_format(res, &r.req, buf, sizeof(buf), NULL),
                 0);
    cr_expect(strstr(buf, row->text) != NULL, "%s: %s", row->rfc, buf);
    /* §5.5: the refresh pushes are the registrar's either way. */
    cr_expect(res->contacts[0].push, "%s", row->rfc);
    harness_close(&p.h);
  }
}

static void run_until(push_harness *p, sipflow_tstamp until);

/* RFC 8599 §5.6.1.1: a REGISTER whose Feature-Caps already names a push
 * service (a proxy in front pushes) gets normal SIP procedures. */
typedef struct front_row {
  const char *rfc;
  const char *uri;
  int status; /* without the fact */
} front_row;

static const front_row front_rows[] = {
    {"RFC 8599 §5.6.1.1: supported provider: no caps, no push",
     "sip:a@192.0.2.1;pn-provider=apns;pn-prid=tok", 200},
    {"RFC 8599 §5.6.1.1: unsupported provider: no 555, stored",
     "sip:a@192.0.2.1;pn-provider=webpush;pn-prid=tok", 555},
};

static const sipflow_reg_result *submit_facts(harness *h, const reg_req *r,
                                              unsigned facts) {
  const sipflow_reg_result *res = NULL;
  cr_assert_eq(sipflow_registrar_process_facts(h->reg, SIPFLOW_REG_REQUEST_V1,
                                               &r->req, facts, h->now, &res),
               0);
  cr_assert_not_null(res);
  cr_assert_eq(sipflow__registrar_check(h->reg), 0);
  return res;
}

Test(push, feature_caps_in_the_register_skips_push) {
  for (size_t i = 0; i < sizeof(front_rows) / sizeof(front_rows[0]); i++) {
    const front_row *row = &front_rows[i];
    push_harness p;
    reg_req r;
    const sipflow_reg_result *res;
    char buf[2048];
    open_push(&p, "apns:600", 600, 1);
    /* Without the fact: the registrar's own procedures. */
    req_init(&r, "sip:other@example.com", "c0", 1);
    req_contact(&r, row->uri)->params = S(";+sip.pnsreg");
    res = submit_facts(&p.h, &r, 0);
    cr_expect_eq(res->status, row->status, "%s", row->rfc);
    if (res->status == 200)
      cr_expect_gt(res->pns.len, 0, "%s", row->rfc);
    harness_close(&p.h);
    open_push(&p, "apns:600", 600, 1);
    req_init(&r, AOR, "c1", 1);
    req_contact(&r, row->uri)->params = S(";+sip.pnsreg");
    req_flow(&r, 7);
    res = submit_facts(&p.h, &r, SIPFLOW_REG_FACT_PNS_IN_FRONT);
    cr_expect_eq(res->status, 200, "%s: status %d", row->rfc, res->status);
    cr_expect_eq(res->pns.len, 0, "%s", row->rfc);
    cr_expect_eq(res->pnsreg, 0, "%s", row->rfc);
    cr_assert_eq(res->n_contacts, 1, "%s", row->rfc);
    cr_expect_eq(res->contacts[0].push, 0, "%s: not push-reachable here",
                 row->rfc);
    cr_assert_eq(sipflow_reg_answer_format(res, &r.req, buf, sizeof(buf), NULL),
                 0);
    cr_expect(strstr(buf, "Feature-Caps") == NULL, "%s: %s", row->rfc, buf);
    /* §5.5, §5.6.2 are the proxy in front's: no refresh push, and a failed
     * flow removes the binding (RFC 5626 §7) instead of suspending it. */
    run_until(&p, p.h.now + 3590 * SEC);
    cr_expect_eq(p.n, 0, "%s: %zu pushes", row->rfc, p.n);
    cr_assert_eq(sipflow_registrar_flow_failed(p.h.reg, 7, p.h.now), 0);
    cr_expect_eq(sipflow_registrar_binding_count(p.h.reg), 0, "%s", row->rfc);
    harness_close(&p.h);
  }
}

Test(push, feature_caps_fact_changes_a_refresh) {
  /* RFC 8599 §5.6.1.1: the same Contact refreshed once the proxy in front
   * stops pushing becomes push-reachable here, and back. */
  push_harness p;
  reg_req r;
  open_push(&p, "apns", 0, 1);
  req_init(&r, AOR, "c1", 1);
  req_contact(&r, "sip:a@192.0.2.1;pn-provider=apns;pn-prid=tok");
  cr_expect_eq(
      submit_facts(&p.h, &r, SIPFLOW_REG_FACT_PNS_IN_FRONT)->contacts[0].push,
      0);
  r.req.cseq = 2;
  cr_expect_eq(submit_facts(&p.h, &r, 0)->contacts[0].push, 1);
  r.req.cseq = 3;
  cr_expect_eq(
      submit_facts(&p.h, &r, SIPFLOW_REG_FACT_PNS_IN_FRONT)->contacts[0].push,
      0);
  cr_expect_eq(sipflow_registrar_binding_count(p.h.reg), 1);
  harness_close(&p.h);
}

/* RFC 6809 §6, RFC 8599 §8.2: which Feature-Caps values name a service. */
typedef struct fcap_row {
  const char *rfc;
  const char *value;
  int pns;
} fcap_row;

static const fcap_row fcap_rows[] = {
    {"RFC 8599 §8.2: +sip.pns", "*;+sip.pns=\"apns\"", 1},
    {"RFC 8599 §5.4, §8.4: with +sip.pnsreg after it",
     "*;+sip.pns=\"fcm\";+sip.pnsreg=\"300\"", 1},
    {"RFC 6809 §6: names in any case, spaces around ';'",
     "* ; +SIP.PNS = \"apns\"", 1},
    {"RFC 6809 §6: another indicator first", "*;+sip.foo;+sip.pns=\"apns\"", 1},
    {"RFC 8599 §8.4: +sip.pnsreg alone is not +sip.pns",
     "*;+sip.pnsreg=\"300\"", 0},
    {"RFC 6809 §6: inside a quoted value it is no indicator",
     "*;+sip.foo=\"a;+sip.pns\"", 0},
    {"RFC 6809 §6: two values, comma-separated", "*;+sip.pns, *;+sip.foo", 1},
    {"RFC 6809 §6: no indicator", "*", 0},
    {"RFC 6809 §6: empty", "", 0},
};

Test(push, feature_caps_value_names_pns) {
  for (size_t i = 0; i < sizeof(fcap_rows) / sizeof(fcap_rows[0]); i++)
    cr_expect_eq(sipflow_reg_feature_caps_pns(fcap_rows[i].value,
                                              strlen(fcap_rows[i].value)),
                 fcap_rows[i].pns, "%s: '%s'", fcap_rows[i].rfc,
                 fcap_rows[i].value);
  cr_expect_eq(sipflow_reg_feature_caps_pns(NULL, 3), 0);
}

Test(push, provider_list_is_checked) {
  /* RFC 8599 §8.7: pn-provider values; the host lists tokens, and a bad
   * list is refused. */
  static const char *const bad[] = {"apns,",          ",apns",  "apns fcm",
                                    "apns:",          "apns:x", "a\"b",
                                    "apns:1234567890"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    sipflow_ctx *ctx;
    sipflow_registrar *reg = NULL;
    sipflow_registrar_settings s;
    sipflow_registrar_settings_default(&s);
    s.push_providers = S(bad[i]);
    cr_assert_eq(sipflow_ctx_new(&ctx, NULL, NULL, NULL, NULL), 0);
    cr_expect_eq(sipflow_registrar_new(&reg, ctx, NULL, &s, NULL),
                 SIPFLOW_ERR_INVALID_ARGUMENT, "'%s' accepted", bad[i]);
    sipflow_registrar_del(reg);
    sipflow_ctx_del(ctx);
  }
}

/* ---- binding identity ---------------------------------------------------- */

Test(push, identity_with_instance_and_reg_id) {
  /* RFC 8599 §4.1.3 with RFC 5626 §6: the key is (AoR, instance, reg-id);
   * a new pn-prid (the PNS updated the PRID) updates the same binding. */
  push_harness p;
  open_push(&p, "apns", 0, 1);
  cr_assert_eq(reg_push(&p, PUSH_URI("tok1", "5060"), "c1", 1, 1)->status, 200);
  const sipflow_reg_result *res =
      reg_push(&p, PUSH_URI("tok2", "5060"), "c1", 2, 1);
  cr_assert_eq(res->status, 200);
  cr_expect_eq(res->n_contacts, 1);
  cr_expect(str_is(res->contacts[0].pn_prid, "tok2"));
  cr_expect_eq(p.h.ev[p.h.n_ev - 1].change, SIPFLOW_REG_UPDATED);
  harness_close(&p.h);
}

/* A plain Contact at |host_port| with the given pn-* suffix. */
#define PLAIN(host_port, pn) "sip:alice@" host_port ";transport=tcp" pn
#define PN_T1 ";pn-provider=apns;pn-param=T.x.voip;pn-prid=tok1"

typedef struct identity_row {
  const char *rfc;
  const char *providers; /* the registrar's push_providers */
  const char *first, *second;
  size_t bindings; /* after both REGISTERs */
  int same;        /* the second REGISTER updated the first binding */
} identity_row;

static const identity_row identity_rows[] = {
    {"RFC 3261 §10.3 step 7: the same Contact URI refreshes", "apns",
     PLAIN("192.0.2.1:5060", PN_T1), PLAIN("192.0.2.1:5060", PN_T1), 1, 1},
    {"RFC 8599 §5.3: same pn-* from a new address and port: same binding",
     "apns", PLAIN("192.0.2.1:5060", PN_T1), PLAIN("198.51.100.7:40001", PN_T1),
     1, 1},
    {"RFC 8599 §5.3: same pn-* over another transport: same binding", "apns",
     PLAIN("192.0.2.1:5060", PN_T1),
     "sip:alice@192.0.2.9:5070;transport=udp" PN_T1, 1, 1},
    {"RFC 8599 §5.3: provider compared in any case", "apns",
     PLAIN("192.0.2.1:5060", PN_T1),
     PLAIN("192.0.2.2:5060", ";pn-provider=APNS;pn-param=T.x.voip;"
                             "pn-prid=tok1"),
     1, 1},
    {"RFC 8599 §5.3: another pn-prid is another binding", "apns",
     PLAIN("192.0.2.1:5060", PN_T1),
     PLAIN("192.0.2.1:5060", ";pn-provider=apns;pn-param=T.x.voip;"
                             "pn-prid=tok2"),
     2, 0},
    {"RFC 8599 §5.3: pn-prid compared byte for byte", "apns",
     PLAIN("192.0.2.1:5060", PN_T1),
     PLAIN("192.0.2.2:5060", ";pn-provider=apns;pn-param=T.x.voip;"
                             "pn-prid=TOK1"),
     2, 0},
    {"RFC 8599 §5.3: another pn-param is another binding", "apns",
     PLAIN("192.0.2.1:5060", PN_T1),
     PLAIN("192.0.2.2:5060", ";pn-provider=apns;pn-param=T.y.voip;"
                             "pn-prid=tok1"),
     2, 0},
    {"RFC 8599 §5.3: pn-param in one URI only: no match", "apns",
     PLAIN("192.0.2.1:5060", PN_T1),
     PLAIN("192.0.2.2:5060", ";pn-provider=apns;pn-prid=tok1"), 2, 0},
    {"RFC 8599 §5.6.1.2: a query (no pn-prid) is not matched by pn-*", "apns",
     PLAIN("192.0.2.1:5060", PN_T1),
     PLAIN("192.0.2.2:5060", ";pn-provider=apns;pn-param=T.x.voip"), 2, 0},
    {"RFC 3261 §19.1.4: a registrar without push keeps URI identity", "",
     PLAIN("192.0.2.1:5060", PN_T1), PLAIN("198.51.100.7:40001", PN_T1), 2, 0},
};

Test(push, identity_without_instance) {
  for (size_t i = 0; i < sizeof(identity_rows) / sizeof(identity_rows[0]);
       i++) {
    const identity_row *row = &identity_rows[i];
    push_harness p;
    uint64_t id;
    open_push(&p, row->providers, 0, 1);
    cr_assert_eq(reg_plain(&p.h, AOR, row->first, "c1", 1, 7), 200, "%s",
                 row->rfc);
    id = p.h.ev[p.h.n_ev - 1].id;
    cr_assert_eq(reg_plain(&p.h, AOR, row->second, "c1", 2, 9), 200, "%s",
                 row->rfc);
    cr_expect_eq(sipflow_registrar_binding_count(p.h.reg), row->bindings,
                 "%s: %zu bindings", row->rfc,
                 sipflow_registrar_binding_count(p.h.reg));
    if (row->same) {
      cr_expect_eq(p.h.ev[p.h.n_ev - 1].id, id, "%s: same id", row->rfc);
      cr_expect_eq(p.h.ev[p.h.n_ev - 1].flow_id, 9, "%s: new flow", row->rfc);
    } else {
      cr_expect_eq(p.h.ev[p.h.n_ev - 1].change, SIPFLOW_REG_ADDED, "%s",
                   row->rfc);
    }
    cr_expect_eq(sipflow__registrar_check(p.h.reg), 0, "%s", row->rfc);
    harness_close(&p.h);
  }
}

/* ---- push, then wait ----------------------------------------------------- */

static sipflow_reg_plan *lookup(push_harness *p) {
  sipflow_reg_plan *plan = NULL;
  cr_assert_eq(sipflow_registrar_lookup(p->h.reg, S(AOR), p->h.now, &plan), 0);
  return plan;
}

static const sipflow_reg_branch *first(sipflow_reg_plan *plan) {
  const sipflow_reg_branch *br = NULL;
  size_t n = 0;
  cr_assert_eq(sipflow_reg_plan_next_group(plan, &br, &n), 0);
  cr_assert_eq(n, 1);
  return br;
}

Test(push, flow_failure_suspends_instead_of_removing) {
  /* RFC 8599 §1, §5.6.2: a push-reachable binding outlives its flow. */
  push_harness p;
  open_push(&p, "apns", 0, 1);
  cr_assert_eq(reg_push(&p, PUSH_URI("tok1", "5060"), "c1", 1, 7)->status, 200);
  cr_assert_eq(sipflow_registrar_flow_failed(p.h.reg, 7, p.h.now), 0);
  cr_expect_eq(sipflow_registrar_binding_count(p.h.reg), 1);
  cr_expect_eq(p.h.ev[p.h.n_ev - 1].change, SIPFLOW_REG_UPDATED);
  cr_expect_eq(p.h.ev[p.h.n_ev - 1].flow_id, 0);
  cr_expect_eq(p.h.ev[p.h.n_ev - 1].prev_flow_id, 7);
  cr_expect_eq(sipflow__registrar_check(p.h.reg), 0);
  harness_close(&p.h);
}

Test(push, without_push_callback_flow_failure_removes) {
  /* RFC 5626 §7 as before when the host does not push (RFC 8599 §5.6.2
   * needs a push service). */
  push_harness p;
  open_push(&p, "apns", 0, 0);
  cr_assert_eq(reg_push(&p, PUSH_URI("tok1", "5060"), "c1", 1, 7)->status, 200);
  cr_assert_eq(sipflow_registrar_flow_failed(p.h.reg, 7, p.h.now), 0);
  cr_expect_eq(sipflow_registrar_binding_count(p.h.reg), 0);
  harness_close(&p.h);
}

typedef struct plan_row {
  const char *rfc;
  int fail_first; /* 0: suspended before the request; else the status */
  int wake;       /* the UA registers again in time */
  int final;      /* the request's final status upstream */
} plan_row;

static const plan_row plan_rows[] = {
    {"RFC 8599 §5.2, §5.6.2: suspended binding: push, REGISTER, forward", 0, 1,
     200},
    {"RFC 8599 §5.6.2: no REGISTER before the Bucket Timer: 480", 0, 0, 480},
    {"RFC 8599 §5.6.2, RFC 5626 §7: live flow answers 430: push, forward", 430,
     1, 200},
    {"RFC 8599 §5.6.2, RFC 5626 §7: live flow times out (408): push", 408, 1,
     200},
    {"RFC 8599 §5.6.2: 430 then no REGISTER: 480, binding kept", 430, 0, 480},
};

Test(push, push_then_wait_plans) {
  for (size_t i = 0; i < sizeof(plan_rows) / sizeof(plan_rows[0]); i++) {
    const plan_row *row = &plan_rows[i];
    push_harness p;
    sipflow_reg_plan *plan;
    const sipflow_reg_branch *br, *next = NULL;
    uint64_t id;
    open_push(&p, "apns", 0, 1);
    cr_assert_eq(reg_push(&p, PUSH_URI("tok1", "5060"), "c1", 1, 7)->status,
                 200);
    id = p.h.ev[0].id;
    if (!row->fail_first)
      cr_assert_eq(sipflow_registrar_flow_failed(p.h.reg, 7, p.h.now), 0);
    plan = lookup(&p);
    br = first(plan);
    if (row->fail_first) {
      cr_expect_eq(br->push, 0, "%s: live flow tried first", row->rfc);
      cr_expect_eq(p.n, 0, "%s", row->rfc);
      cr_assert_eq(sipflow_reg_plan_report(plan, br->id, row->fail_first,
                                           p.h.now, &next),
                   0);
      cr_assert_not_null(next, "%s", row->rfc);
      br = next;
    }
    cr_expect_eq(br->push, 1, "%s: push branch", row->rfc);
    cr_expect_eq(p.n, 1, "%s: one push", row->rfc);
    cr_expect_eq(p.ev[0].reason, SIPFLOW_REG_PUSH_CALL, "%s", row->rfc);
    cr_expect_str_eq(p.ev[0].prid, "tok1", "%s", row->rfc);
    cr_expect_str_eq(p.ev[0].provider, "apns", "%s", row->rfc);
    cr_expect_str_eq(p.ev[0].param, "ABCD1234.com.example.phone.voip", "%s",
                     row->rfc);
    cr_expect_eq(sipflow_reg_plan_pending(plan), 1, "%s", row->rfc);
    /* Nothing yet: still suspended. */
    cr_expect_eq(sipflow_reg_plan_woken(plan, br->id, p.h.now, &next),
                 SIPFLOW_ERR_NOT_FOUND, "%s", row->rfc);
    p.h.now += 2 * SEC;
    if (row->wake) {
      /* The woken UA registers over a new flow. */
      cr_assert_eq(reg_push(&p, PUSH_URI("tok1", "5061"), "c1", 2, 9)->status,
                   200);
      cr_assert_eq(sipflow_reg_plan_woken(plan, br->id, p.h.now, &next), 0,
                   "%s", row->rfc);
      cr_assert_not_null(next);
      cr_expect_eq(next->push, 0, "%s", row->rfc);
      cr_expect_eq(next->binding->flow_id, 9, "%s: the new flow", row->rfc);
      cr_expect_eq(next->binding->id, id, "%s: same binding", row->rfc);
      cr_assert_eq(sipflow_reg_plan_report(plan, next->id, 200, p.h.now, &next),
                   0);
    } else {
      cr_assert_eq(sipflow_reg_plan_report(plan, br->id, 480, p.h.now, &next),
                   0);
      cr_expect_null(next, "%s", row->rfc);
      cr_expect_eq(sipflow_registrar_binding_count(p.h.reg), 1,
                   "%s: binding kept for the next call", row->rfc);
    }
    cr_expect_eq(sipflow_reg_plan_pending(plan), 0, "%s", row->rfc);
    cr_expect_eq(sipflow_reg_plan_final_status(plan), row->final, "%s",
                 row->rfc);
    sipflow_reg_plan_del(plan);
    harness_close(&p.h);
  }
}

Test(push, woken_by_a_replacing_register) {
  /* RFC 8599 §4.1.3, §5.6.2: the woken UA's REGISTER may change the Contact's
   * length (another port, another token): the plan follows the binding's
   * id to its new storage. */
  push_harness p;
  sipflow_reg_plan *plan;
  const sipflow_reg_branch *br, *next = NULL;
  open_push(&p, "apns", 0, 1);
  cr_assert_eq(reg_push(&p, PUSH_URI("tok1", "5060"), "c1", 1, 7)->status, 200);
  cr_assert_eq(sipflow_registrar_flow_failed(p.h.reg, 7, p.h.now), 0);
  plan = lookup(&p);
  br = first(plan);
  cr_assert_eq(br->push, 1);
  cr_assert_eq(
      reg_push(&p, PUSH_URI("tok1-longer", "50611"), "c1", 2, 9)->status, 200);
  cr_assert_eq(sipflow_reg_plan_woken(plan, br->id, p.h.now, &next), 0);
  cr_expect_eq(next->binding->flow_id, 9);
  cr_expect(str_is(next->binding->pn_prid, "tok1-longer"));
  cr_assert_eq(sipflow_reg_plan_report(plan, next->id, 200, p.h.now, &next), 0);
  sipflow_reg_plan_del(plan);
  harness_close(&p.h);
}

Test(push, woken_without_instance_from_a_new_address) {
  /* RFC 8599 §5.6.2, §5.3, §4.1.3: a phone registered without an instance
   * is suspended; the call pushes; the phone re-registers with the same
   * pn-* from another address and port over a new flow; the held branch
   * goes out on that flow, to the binding's new URI. */
  push_harness p;
  sipflow_reg_plan *plan;
  const sipflow_reg_branch *br, *next = NULL;
  uint64_t id;
  open_push(&p, "apns", 0, 1);
  cr_assert_eq(reg_plain(&p.h, AOR, PLAIN("192.0.2.1:5060", PN_T1), "c1", 1, 7),
               200);
  id = p.h.ev[p.h.n_ev - 1].id;
  cr_assert_eq(sipflow_registrar_flow_failed(p.h.reg, 7, p.h.now), 0);
  plan = lookup(&p);
  br = first(plan);
  cr_assert_eq(br->push, 1);
  cr_expect_eq(p.n, 1);
  p.h.now += 2 * SEC;
  cr_assert_eq(
      reg_plain(&p.h, AOR, PLAIN("198.51.100.7:40001", PN_T1), "c9", 1, 9),
      200);
  cr_expect_eq(sipflow_registrar_binding_count(p.h.reg), 1);
  cr_assert_eq(sipflow_reg_plan_woken(plan, br->id, p.h.now, &next), 0);
  cr_assert_not_null(next);
  cr_expect_eq(next->binding->id, id);
  cr_expect_eq(next->binding->flow_id, 9);
  cr_expect(contains(next->binding->uri, "198.51.100.7:40001"));
  cr_assert_eq(sipflow_reg_plan_report(plan, next->id, 200, p.h.now, &next), 0);
  cr_expect_eq(sipflow_reg_plan_final_status(plan), 200);
  sipflow_reg_plan_del(plan);
  harness_close(&p.h);
}

static int grab(const sipflow_reg_binding *b, void *ud) {
  sipflow_change *c = ud;
  cr_assert_eq(sipflow_change_from_binding(c, SIPFLOW_REG_UPDATED, b, 0,
                                           1800000000u, T0),
               0);
  return 0;
}

Test(push, woken_by_a_record_from_another_node) {
  /* RFC 8599 §5.6.2 in a cluster: this node reaches the phone through
   * another node's Path (flow 0 here); that Path fails (430), the binding
   * is suspended here and pushed; the phone registers at the other node,
   * whose record arrives: the binding is awake again and the held branch
   * goes out. */
  push_harness p;
  reg_req r;
  sipflow_reg_plan *plan;
  const sipflow_reg_branch *br, *next = NULL;
  sipflow_change c;
  sipflow_str path = S("<sip:tok@192.0.2.50:5060;lr;ob>");
  open_push(&p, "apns", 0, 1);
  req_init(&r, AOR, "c1", 1);
  req_ob_contact(&r, PUSH_URI("tok1", "5060"), INST, "1");
  r.req.path = &path;
  r.req.n_path = 1;
  r.req.via_count = 2;
  r.req.supported |= SIPFLOW_REG_OPT_PATH;
  cr_assert_eq(submit(&p.h, &r)->status, 200);
  plan = lookup(&p);
  br = first(plan);
  cr_assert_eq(br->push, 0);
  cr_assert_eq(sipflow_reg_plan_report(plan, br->id, 430, p.h.now, &next), 0);
  cr_assert_not_null(next);
  cr_assert_eq(next->push, 1);
  cr_expect_eq(p.n, 1);
  br = next;
  cr_expect_eq(sipflow_reg_plan_woken(plan, br->id, p.h.now, &next),
               SIPFLOW_ERR_NOT_FOUND);
  /* The other node's record: the same binding, a later CSeq, flow 0. */
  memset(&c, 0, sizeof(c));
  cr_assert_eq(sipflow_registrar_foreach(p.h.reg, p.h.now, grab, &c), 0);
  c.u.binding.cseq++;
  c.u.binding.flow_id = 0;
  c.version = 1800000000000ull;
  cr_assert_eq(sipflow_change_apply_binding(p.h.reg, &c, 1800000000u, p.h.now),
               0);
  cr_assert_eq(sipflow_reg_plan_woken(plan, br->id, p.h.now, &next), 0);
  cr_assert_not_null(next);
  cr_expect_eq(next->push, 0);
  cr_assert_eq(sipflow_reg_plan_report(plan, next->id, 200, p.h.now, &next), 0);
  cr_expect_eq(sipflow_reg_plan_final_status(plan), 200);
  sipflow_reg_plan_del(plan);
  harness_close(&p.h);
}

Test(push, woken_rejects_a_branch_that_is_not_a_push) {
  /* RFC 8599 §5.6.2: only a waiting push branch can be woken. */
  push_harness p;
  sipflow_reg_plan *plan;
  const sipflow_reg_branch *br, *next = NULL;
  open_push(&p, "apns", 0, 1);
  cr_assert_eq(reg_push(&p, PUSH_URI("tok1", "5060"), "c1", 1, 7)->status, 200);
  plan = lookup(&p);
  br = first(plan);
  cr_expect_eq(sipflow_reg_plan_woken(plan, br->id, p.h.now, &next),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_assert_eq(sipflow_reg_plan_report(plan, br->id, 200, p.h.now, &next), 0);
  sipflow_reg_plan_del(plan);
  harness_close(&p.h);
}

/* ---- refresh pushes ------------------------------------------------------ */

/* Run the context's timer up to |until|, one deadline at a time. */
static void run_until(push_harness *p, sipflow_tstamp until) {
  for (int guard = 0; guard < 1000; guard++) {
    sipflow_tstamp d = sipflow_ctx_get_expiry(p->h.ctx);
    if (d == SIPFLOW_TSTAMP_NONE || d > until)
      break;
    if (d > p->h.now)
      p->h.now = d;
    cr_assert_eq(sipflow_ctx_handle_expiry(p->h.ctx, p->h.now), 0);
  }
  p->h.now = until;
}

typedef struct refresh_row {
  const char *rfc;
  const char *providers;
  uint32_t refresh;
  uint32_t expires;
  int reregister_after;  /* 0: never; else the push number it answers */
  size_t pushes;         /* refresh pushes before expiry (or re-REGISTER) */
  uint32_t first_before; /* seconds before expiry of the first push */
} refresh_row;

static const refresh_row refresh_rows[] = {
    {"RFC 8599 §5.5: refresh push before expiry, then backoff", "apns", 600,
     3600, 0, 4, 600},
    {"RFC 8599 §5.5: the re-REGISTER stops the retries", "apns", 600, 3600, 1,
     1, 600},
    {"RFC 8599 §5.5: per-provider lead wins over the default", "apns:300", 600,
     3600, 0, 4, 300},
    {"RFC 8599 §5.5: lead 0: no refresh pushes", "apns:0", 600, 3600, 0, 0, 0},
};

Test(push, refresh_pushes_before_expiry) {
  for (size_t i = 0; i < sizeof(refresh_rows) / sizeof(refresh_rows[0]); i++) {
    const refresh_row *row = &refresh_rows[i];
    push_harness p;
    reg_req r;
    sipflow_tstamp exp;
    char hdr[16];
    open_push(&p, row->providers, row->refresh, 1);
    snprintf(hdr, sizeof(hdr), "%u", (unsigned)row->expires);
    req_init(&r, AOR, "c1", 1);
    req_ob_contact(&r, PUSH_URI("tok1", "5060"), INST, "1")->expires = S(hdr);
    req_flow(&r, 7);
    cr_assert_eq(submit(&p.h, &r)->status, 200);
    exp = p.h.now + (sipflow_tstamp)row->expires * SEC;
    if (row->reregister_after) {
      run_until(&p, exp - (sipflow_tstamp)row->first_before * SEC + SEC);
      cr_assert_eq(p.n, 1, "%s", row->rfc);
      r.req.cseq = 2;
      cr_assert_eq(submit(&p.h, &r)->status, 200);
      exp = p.h.now + (sipflow_tstamp)row->expires * SEC;
      /* Nothing more until the next lead before the new expiry. */
      run_until(&p, exp - (sipflow_tstamp)row->first_before * SEC - SEC);
    } else {
      run_until(&p, exp - 1);
    }
    cr_expect_eq(p.n, row->pushes, "%s: %zu pushes", row->rfc, p.n);
    for (size_t k = 0; k < p.n; k++)
      cr_expect_eq(p.ev[k].reason, SIPFLOW_REG_PUSH_REFRESH, "%s", row->rfc);
    if (p.n && !row->reregister_after) {
      cr_expect_eq(p.ev[0].at, exp - (sipflow_tstamp)row->first_before * SEC,
                   "%s", row->rfc);
      /* backoff: each gap longer than the one before */
      for (size_t k = 2; k < p.n; k++)
        cr_expect_gt(p.ev[k].at - p.ev[k - 1].at,
                     p.ev[k - 1].at - p.ev[k - 2].at, "%s", row->rfc);
      cr_expect_lt(p.ev[p.n - 1].at, exp, "%s", row->rfc);
    }
    cr_expect_eq(sipflow__registrar_check(p.h.reg), 0, "%s", row->rfc);
    harness_close(&p.h);
  }
}

Test(push, view_names_and_v1_structs) {
  /* RFC 8599 §5.6.2, §5.5: the reason names a webhook carries. */
  cr_expect_str_eq(sipflow_reg_push_reason_name(SIPFLOW_REG_PUSH_CALL), "call");
  cr_expect_str_eq(sipflow_reg_push_reason_name(SIPFLOW_REG_PUSH_REFRESH),
                   "refresh");
  cr_expect_null(sipflow_reg_push_reason_name(0));
  cr_expect_null(sipflow_reg_push_reason_name(3));
  /* A 0.1 host's structs (V1) still work: no push members read. */
  {
    sipflow_ctx *ctx;
    sipflow_registrar *reg = NULL;
    sipflow_registrar_settings s;
    sipflow_registrar_callbacks cb = {NULL, NULL};
    sipflow_registrar_settings_default(&s);
    cr_assert_eq(sipflow_ctx_new(&ctx, NULL, NULL, NULL, NULL), 0);
    cr_expect_eq(sipflow_registrar_new_versioned(
                     &reg, ctx, SIPFLOW_REGISTRAR_CALLBACKS_V1, &cb,
                     SIPFLOW_REGISTRAR_SETTINGS_V1, &s, NULL),
                 0);
    sipflow_registrar_del(reg);
    sipflow_ctx_del(ctx);
  }
}

/* ---- memory -------------------------------------------------------------- */

/* Bytes the registrar holds for |n| Outbound bindings of distinct AoRs,
 * each Contact |uri_fmt| with %u the binding's number. */
static int64_t bytes_for(const char *uri_fmt, unsigned n) {
  push_harness p;
  int64_t before, after;
  open_push(&p, "apns", 600, 1);
  before = p.h.fa.live_bytes;
  for (unsigned i = 0; i < n; i++) {
    reg_req r;
    char aor[64], uri[256];
    snprintf(aor, sizeof(aor), "sip:u%05u@example.com", i);
    snprintf(uri, sizeof(uri), uri_fmt, i);
    req_init(&r, aor, "c1", 1);
    req_ob_contact(&r, uri, INST, "1");
    req_flow(&r, (sipflow_flow_id)(i + 1));
    cr_assert_eq(submit(&p.h, &r)->status, 200);
  }
  after = p.h.fa.live_bytes;
  harness_close(&p.h);
  return after - before;
}

Test(push, memory_is_the_uri_bytes_alone) {
  /* RFC 8599 §4.1.1: the pn-* parameters cost their bytes in the Contact URI
   * and nothing else: no per-binding push state, refresh schedule
   * included. 1000 bindings, with and without a 103-byte push suffix. */
  const char *suffix = ";pn-provider=apns;pn-param=ABCD1234.com.example.voip;"
                       "pn-prid=00fc13adff785122b4ad28809a3420982341241421";
  char fmt[256];
  int64_t plain, push;
  snprintf(fmt, sizeof(fmt), "sip:u%%05u@192.0.2.1:5060;transport=tcp%s",
           suffix);
  plain = bytes_for("sip:u%05u@192.0.2.1:5060;transport=tcp", 1000);
  push = bytes_for(fmt, 1000);
  cr_log_info("plain %.1f B/binding, push %.1f B/binding", plain / 1000.0,
              push / 1000.0);
  cr_expect_eq(push - plain, (int64_t)strlen(suffix) * 1000,
               "push bindings cost %lld bytes more, suffix is %zu x 1000",
               (long long)(push - plain), strlen(suffix));
}
