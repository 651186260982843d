/*
 * The sofia-sip adapter on captured-style messages, including the ugly ones,
 * and its su_root timer.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>
#include <sofia-sip/su.h>

#include "sipflow/sipflow_sofia.h"
#include "sipflow_int.h"

static msg_t *parse_ok(const char *text) {
  msg_t *msg;
  int rv = sipflow_sofia_parse(&msg, (const uint8_t *)text, strlen(text));
  cr_assert_eq(rv, 0, "parse: %s", sipflow_strerror(rv));
  return msg;
}

static const char outbound_register[] =
    "REGISTER sip:example.com SIP/2.0\r\n"
    "Via: SIP/2.0/TCP 192.0.2.2:5060;branch=z9hG4bKnashds7\r\n"
    "Max-Forwards: 70\r\n"
    "From: Bob <sip:bob@example.com>;tag=a73kszlfl\r\n"
    "To: Bob <sip:bob@example.com>\r\n"
    "Call-ID: 1j9FpLxk3uxtm8tn@192.0.2.2\r\n"
    "CSeq: 1 REGISTER\r\n"
    "Supported: path, outbound, gruu\r\n"
    "Contact: <sip:bob@192.0.2.2;transport=tcp;ob>;reg-id=1\r\n"
    "  ;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\"\r\n"
    "Content-Length: 0\r\n\r\n";

Test(sofia, outbound_register_gives_instance_reg_id_and_first_hop) {
  msg_t *msg = parse_ok(outbound_register);
  sip_t *sip = sip_object(msg);
  char inst[128];
  size_t n = 0;
  uint32_t reg_id = 0;
  cr_expect_eq(sip->sip_request->rq_method, sip_method_register);
  cr_expect_eq(sipflow_sofia_via_count(sip), 1);
  cr_assert_eq(sipflow_sofia_instance(sip->sip_contact, inst, sizeof(inst), &n),
               0);
  cr_expect_str_eq(inst, "urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF");
  cr_expect_eq(n, strlen(inst));
  cr_assert_eq(sipflow_sofia_reg_id(sip->sip_contact, &reg_id), 0);
  cr_expect_eq(reg_id, 1);
  cr_expect(sip_has_supported(sip->sip_supported, "outbound"));
  cr_expect(url_has_param(sip->sip_contact->m_url, "ob"));
  msg_destroy(msg);
}

Test(sofia, compact_headers_unquoted_instance_and_several_contacts) {
  msg_t *msg = parse_ok(
      "REGISTER sip:example.com SIP/2.0\r\n"
      "v: SIP/2.0/UDP 10.0.0.5:5062;rport;branch=z9hG4bK1\r\n"
      "v: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bK2\r\n"
      "f: <sip:alice@example.com>;tag=1\r\n"
      "t: <sip:alice@example.com>\r\n"
      "i: abc@10.0.0.5\r\n"
      "CSeq: 7 REGISTER\r\n"
      "m: <sip:alice@10.0.0.5:5062>;+sip.instance=urn:uuid:abc;reg-id=2,\r\n"
      "   <sip:alice@10.0.0.5:5063>;expires=0\r\n"
      "l: 0\r\n\r\n");
  sip_t *sip = sip_object(msg);
  char inst[64];
  uint32_t id;
  cr_expect_eq(sipflow_sofia_via_count(sip), 2);
  cr_assert_not_null(sip->sip_contact);
  cr_assert_not_null(sip->sip_contact->m_next);
  cr_assert_eq(
      sipflow_sofia_instance(sip->sip_contact, inst, sizeof(inst), NULL), 0);
  cr_expect_str_eq(inst, "urn:uuid:abc");
  cr_expect_eq(sipflow_sofia_reg_id(sip->sip_contact, &id), 0);
  cr_expect_eq(id, 2);
  cr_expect_eq(sipflow_sofia_instance(sip->sip_contact->m_next, inst,
                                      sizeof(inst), NULL),
               SIPFLOW_ERR_NOT_FOUND);
  cr_expect_eq(sipflow_sofia_reg_id(sip->sip_contact->m_next, &id),
               SIPFLOW_ERR_NOT_FOUND);
  msg_destroy(msg);
}

Test(sofia, wildcard_contact_parses_as_url_any) {
  msg_t *msg = parse_ok("REGISTER sip:example.com SIP/2.0\r\n"
                        "Via: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK3\r\n"
                        "From: <sip:bob@example.com>;tag=2\r\n"
                        "To: <sip:bob@example.com>\r\n"
                        "Call-ID: w@192.0.2.2\r\n"
                        "CSeq: 9 REGISTER\r\n"
                        "Contact: *\r\n"
                        "Expires: 0\r\n"
                        "Content-Length: 0\r\n\r\n");
  sip_t *sip = sip_object(msg);
  cr_assert_not_null(sip->sip_contact);
  cr_expect_eq(sip->sip_contact->m_url->url_type, url_any);
  cr_expect_null(sip->sip_contact->m_next);
  cr_assert_not_null(sip->sip_expires);
  cr_expect_eq(sip->sip_expires->ex_delta, 0);
  msg_destroy(msg);
}

struct reg_id_case {
  const char *param; /* reg-id value as sent */
  int rv;
  uint32_t value;
};

/* RFC 5626 §10: reg-id = 1*DIGIT, range 1 .. 2^31-1. */
Test(sofia, reg_id_range_is_checked) {
  static const struct reg_id_case cases[] = {
      {"1", 0, 1},
      {"2147483647", 0, 2147483647u},
      {"0", SIPFLOW_ERR_MALFORMED, 0},
      {"2147483648", SIPFLOW_ERR_MALFORMED, 0},
      {"99999999999", SIPFLOW_ERR_MALFORMED, 0},
      {"-1", SIPFLOW_ERR_MALFORMED, 0},
      {"1x", SIPFLOW_ERR_MALFORMED, 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char text[512];
    msg_t *msg;
    uint32_t id = 0;
    snprintf(text, sizeof(text),
             "REGISTER sip:e.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK"
             "\r\nFrom: <sip:a@e.com>;tag=1\r\nTo: <sip:a@e.com>\r\nCall-ID: "
             "x\r\nCSeq: 1 REGISTER\r\nContact: <sip:a@h>;reg-id=%s;"
             "+sip.instance=\"<urn:uuid:1>\"\r\nContent-Length: 0\r\n\r\n",
             cases[i].param);
    msg = parse_ok(text);
    cr_expect_eq(sipflow_sofia_reg_id(sip_object(msg)->sip_contact, &id),
                 cases[i].rv, "reg-id=%s", cases[i].param);
    if (cases[i].rv == 0)
      cr_expect_eq(id, cases[i].value);
    msg_destroy(msg);
  }
}

Test(sofia, broken_instance_values_are_malformed) {
  static const char *values[] = {"\"\"", "\"<urn:uuid:1>", "<urn:uuid:1",
                                 "\"<>\""};
  for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
    char text[512], inst[64];
    msg_t *msg;
    snprintf(text, sizeof(text),
             "REGISTER sip:e.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK"
             "\r\nFrom: <sip:a@e.com>;tag=1\r\nTo: <sip:a@e.com>\r\nCall-ID: "
             "x\r\nCSeq: 1 REGISTER\r\nContact: <sip:a@h>;+sip.instance=%s\r\n"
             "Content-Length: 0\r\n\r\n",
             values[i]);
    if (sipflow_sofia_parse(&msg, (const uint8_t *)text, strlen(text)) != 0)
      continue; /* sofia itself refused it: also fine */
    cr_expect_eq(sipflow_sofia_instance(sip_object(msg)->sip_contact, inst,
                                        sizeof(inst), NULL),
                 SIPFLOW_ERR_MALFORMED, "value %s", values[i]);
    msg_destroy(msg);
  }
}

Test(sofia, flow_timer_is_read_from_unknown_headers) {
  msg_t *msg = parse_ok("SIP/2.0 200 OK\r\n"
                        "Via: SIP/2.0/TCP 192.0.2.2;branch=z9hG4bK4\r\n"
                        "From: <sip:bob@example.com>;tag=2\r\n"
                        "To: <sip:bob@example.com>;tag=3\r\n"
                        "Call-ID: ft@192.0.2.2\r\n"
                        "CSeq: 2 REGISTER\r\n"
                        "Require: outbound\r\n"
                        "flow-timer:  25\r\n"
                        "Content-Length: 0\r\n\r\n");
  uint32_t s = 0;
  cr_expect_eq(sipflow_sofia_flow_timer(sip_object(msg), &s), 0);
  cr_expect_eq(s, 25);
  msg_destroy(msg);
  msg = parse_ok(outbound_register);
  cr_expect_eq(sipflow_sofia_flow_timer(sip_object(msg), &s),
               SIPFLOW_ERR_NOT_FOUND);
  msg_destroy(msg);
}

Test(sofia, feature_caps_pns_is_read_from_unknown_headers) {
  /* RFC 8599 §5.6.1.1, RFC 6809 §6: Feature-Caps or its compact form fc
   * with +sip.pns (a proxy in front pushes); +sip.pnsreg alone is not. */
  static const struct {
    const char *hdr;
    int want;
  } rows[] = {
      {"Feature-Caps: *;+sip.pns=\"apns\"\r\n", 1},
      {"fc: *;+sip.pns=\"fcm\";+sip.pnsreg=\"300\"\r\n", 1},
      {"Feature-Caps: *;+sip.pnsreg=\"300\"\r\n", 0},
      {"X-Feature-Caps: *;+sip.pns=\"apns\"\r\n", 0},
      {"", 0},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    char text[1024];
    msg_t *msg;
    snprintf(text, sizeof(text),
             "REGISTER sip:example.com SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK9\r\n"
             "From: <sip:bob@example.com>;tag=2\r\n"
             "To: <sip:bob@example.com>\r\n"
             "Call-ID: fc@192.0.2.2\r\n"
             "CSeq: 1 REGISTER\r\n"
             "%s"
             "Content-Length: 0\r\n\r\n",
             rows[i].hdr);
    msg = parse_ok(text);
    cr_expect_eq(sipflow_sofia_pns_in_front(sip_object(msg)), rows[i].want,
                 "%s", rows[i].hdr);
    msg_destroy(msg);
  }
  cr_expect_eq(sipflow_sofia_pns_in_front(NULL), 0);
}

Test(sofia, garbage_keepalives_and_incomplete_messages_are_malformed) {
  static const char *inputs[] = {
      "\r\n\r\n",
      "\x00\x01\x00\x00\x21\x12\xa4\x42",
      "GARBAGE\r\n\r\n",
      "INVITE sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n", /* no Via etc. */
      "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n\r\n",
  };
  static const size_t lens[] = {4, 8, 0, 0, 0};
  msg_t *msg = (msg_t *)1;
  for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
    size_t len = lens[i] ? lens[i] : strlen(inputs[i]);
    cr_expect_eq(sipflow_sofia_parse(&msg, (const uint8_t *)inputs[i], len),
                 SIPFLOW_ERR_MALFORMED, "input %zu", i);
    cr_expect_null(msg);
  }
  cr_expect_eq(sipflow_sofia_parse(&msg, (const uint8_t *)"", 0),
               SIPFLOW_ERR_MALFORMED);
  cr_expect_eq(sipflow_sofia_parse(NULL, (const uint8_t *)"x", 1),
               SIPFLOW_ERR_INVALID_ARGUMENT);
}

/* RFC 3261 §7.3.1: Vias may share a line. sofia-sip alone leaves a
 * valueless parameter before the comma out of the Via's fields (v_rport
 * NULL); the adapter's parse must give the same fields as separate lines. */
Test(sofia, folded_vias_keep_their_rport) {
  static const char folded[] =
      "OPTIONS sip:a@example.com SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1;rport, "
      "SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bK2;rport\r\n"
      "From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\n"
      "Call-ID: fold\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
  msg_t *msg;
  sip_t *sip;
  cr_assert_eq(
      sipflow_sofia_parse(&msg, (const uint8_t *)folded, sizeof(folded) - 1),
      0);
  sip = sip_object(msg);
  cr_assert_eq(sipflow_sofia_via_count(sip), 2);
  cr_expect_not_null(sip->sip_via->v_rport);
  cr_expect_str_eq(sip->sip_via->v_branch, "z9hG4bK1");
  cr_expect_not_null(sip->sip_via->v_next->v_rport);
  cr_expect_str_eq(sip->sip_via->v_next->v_host, "192.0.2.9");
  msg_destroy(msg);
}

/* ---- su_root timer ------------------------------------------------------ */

typedef struct fake_source {
  sipflow__timer_source src;
  sipflow_tstamp expiry;
  int handled;
  su_root_t *root;
} fake_source;

static sipflow_tstamp fake_get(const void *obj) {
  return ((const fake_source *)obj)->expiry;
}
static int fake_handle(void *obj, sipflow_tstamp now) {
  fake_source *f = obj;
  if (now < f->expiry)
    return 0;
  f->handled++;
  if (f->handled < 3) {
    f->expiry = now + 2 * SIPFLOW_MILLISECONDS;
  } else {
    f->expiry = SIPFLOW_TSTAMP_NONE;
    su_root_break(f->root);
  }
  return 0;
}

Test(sofia, su_root_timer_follows_the_context_deadline) {
  su_root_t *root;
  sipflow_ctx *ctx;
  sipflow_sofia_timer *t;
  fake_source f;
  cr_assert_eq(su_init(), 0);
  root = su_root_create(NULL);
  cr_assert_not_null(root);
  cr_assert_eq(sipflow_ctx_new(&ctx, NULL, NULL, NULL, NULL), 0);
  memset(&f, 0, sizeof(f));
  f.src.get_expiry = fake_get;
  f.src.handle_expiry = fake_handle;
  f.src.obj = &f;
  f.root = root;
  sipflow_tstamp start = sipflow_sofia_now();
  f.expiry = start + 3 * SIPFLOW_MILLISECONDS;
  sipflow__ctx_attach(ctx, &f.src);
  cr_assert_eq(sipflow_sofia_timer_new(&t, root, ctx), 0);
  sipflow_sofia_timer_update(t);
  /* bounded: at most 200 runs of at most 50 ms; su_root_step does not
   * wait for timers on this sofia build, su_root_sleep does */
  for (int i = 0; i < 200 && f.handled < 3; i++)
    su_root_sleep(root, 50);
  cr_expect_eq(f.handled, 3);
  cr_expect_geq(sipflow_sofia_timer_fired(t), 3);
  cr_expect_eq(sipflow_sofia_timer_last_result(t), 0);
  sipflow_tstamp end = sipflow_sofia_now();
  cr_expect_geq(end, start + 7 * SIPFLOW_MILLISECONDS, "start %llu end %llu",
                (unsigned long long)start, (unsigned long long)end);
  sipflow_sofia_timer_del(t);
  sipflow__ctx_detach(&f.src);
  sipflow_ctx_del(ctx);
  su_root_destroy(root);
  su_deinit();
}

/* ---- REGISTER facts, the registrar, and the answer ----------------------- */

/* A registrar on its own context, and a REGISTER taken through it. */
typedef struct reg_world {
  sipflow_ctx *ctx;
  sipflow_registrar *reg;
  sipflow_tstamp now;
} reg_world;

static void world_new(reg_world *w, const sipflow_registrar_settings *set) {
  memset(w, 0, sizeof(*w));
  cr_assert_eq(sipflow_ctx_new(&w->ctx, NULL, NULL, NULL, NULL), 0);
  cr_assert_eq(sipflow_registrar_new(&w->reg, w->ctx, NULL, set, NULL), 0);
  w->now = 1000 * SIPFLOW_SECONDS;
}

static void world_del(reg_world *w) {
  sipflow_registrar_del(w->reg);
  sipflow_ctx_del(w->ctx);
}

/* Facts out of |text| (the host's part filled as a TCP edge would), the
 * registrar's result, and the answer text in |answer|. Returns the message
 * (the facts point into it). */
static msg_t *run_register(reg_world *w, const char *text,
                           sipflow_sofia_register *facts,
                           const sipflow_reg_result **res, char *answer,
                           size_t cap) {
  msg_t *msg = parse_ok(text);
  size_t len = 0;
  sipflow_flow_tuple arrival = {.transport = SIPFLOW_TRANSPORT_TCP,
                                .generation = 1};
  int rv;
  cr_assert_eq(sipflow_addr_parse(&arrival.local, "192.0.2.1", 5060), 0);
  cr_assert_eq(sipflow_addr_parse(&arrival.remote, "192.0.2.2", 5060), 0);
  rv = sipflow_sofia_register_facts(facts, msg, NULL, 7, &arrival);
  cr_assert_eq(rv, 0, "facts: %s", sipflow_strerror(rv));
  /* As a first-hop TCP edge, whatever the Vias say. */
  facts->req.flow_id = 7;
  facts->req.flow = arrival;
  cr_assert_eq(sipflow_registrar_process(w->reg, &facts->req, w->now, res), 0);
  cr_assert_not_null(*res);
  rv = sipflow_sofia_register_answer(*res, msg, answer, cap, &len);
  cr_assert_eq(rv, 0, "answer: %s", sipflow_strerror(rv));
  cr_expect_eq(len, strlen(answer));
  return msg;
}

static size_t count_lines(const char *text, const char *prefix) {
  size_t n = 0;
  for (const char *p = text; (p = strstr(p, prefix)); p += strlen(prefix))
    if (p == text || p[-1] == '\n')
      n++;
  return n;
}

Test(sofia, outbound_register_from_the_ua_goes_through_registrar_to_200) {
  sipflow_registrar_settings set;
  sipflow_sofia_register f;
  const sipflow_reg_result *res;
  reg_world w;
  char ans[2048];
  sipflow_registrar_settings_default(&set);
  set.flow_timer = 25;
  world_new(&w, &set);
  msg_t *msg = run_register(&w, outbound_register, &f, &res, ans, sizeof(ans));
  /* The facts (RFC 3261 §10.3, RFC 5626 §6). */
  cr_expect_eq(f.req.aor.len, strlen("sip:bob@example.com"));
  cr_expect_eq(memcmp(f.req.aor.ptr, "sip:bob@example.com", f.req.aor.len), 0);
  cr_expect_eq(f.req.cseq, 1);
  cr_expect_eq(f.req.n_contacts, 1);
  cr_expect_eq(f.req.via_count, 1);
  cr_expect_eq(f.req.supported, SIPFLOW_REG_OPT_OUTBOUND |
                                    SIPFLOW_REG_OPT_PATH |
                                    SIPFLOW_REG_OPT_GRUU);
  cr_expect_eq(f.contacts[0].ob, 1);
  cr_expect_eq(f.contacts[0].reg_id.len, 1);
  cr_expect_eq(f.contacts[0].reg_id.ptr[0], '1');
  cr_expect_not_null(
      strstr(f.contacts[0].instance.ptr, "urn:uuid:00000000-0000-1000-8000"));
  cr_expect_eq(f.contacts[0].q, SIPFLOW_REG_Q_NONE);
  /* The answer: RFC 5626 §6 Require and Flow-Timer at the first hop. */
  cr_assert_eq(res->status, 200);
  cr_expect_not_null(
      strstr(ans, "Contact: <sip:bob@192.0.2.2;transport=tcp;ob>;expires=3600;"
                  "+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-"
                  "AABBCCDDEEFF>\";reg-id=1\r\n"),
      "%s", ans);
  cr_expect_eq(count_lines(ans, "Contact:"), 1);
  cr_expect_not_null(strstr(ans, "Require: outbound\r\n"), "%s", ans);
  cr_expect_not_null(strstr(ans, "Flow-Timer: 25\r\n"), "%s", ans);
  cr_expect_null(strstr(ans, "Path:"), "%s", ans);
  cr_expect_not_null(strstr(ans, "Supported: outbound, path\r\n"), "%s", ans);
  msg_destroy(msg);
  world_del(&w);
}

/* RFC 5626 §6 through an edge: the edge's Path value carries ;ob, the
 * registrar is not the first hop, so no Flow-Timer; RFC 3327 §5.3: the Path
 * is echoed in the 200. */
Test(sofia, outbound_register_through_an_edge_echoes_path) {
  sipflow_registrar_settings set;
  sipflow_sofia_register f;
  const sipflow_reg_result *res;
  reg_world w;
  char ans[2048];
  sipflow_registrar_settings_default(&set);
  set.flow_timer = 25;
  world_new(&w, &set);
  msg_t *msg = run_register(
      &w,
      "REGISTER sip:example.com SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKedge1\r\n"
      "Via: SIP/2.0/TCP "
      "192.0.2.2:5060;received=203.0.113.9;branch=z9hG4bKua1\r\n"
      "Max-Forwards: 69\r\n"
      "From: Bob <sip:bob@example.com>;tag=a73kszlfl\r\n"
      "To: Bob <sip:bob@example.com>\r\n"
      "Call-ID: edge-1@192.0.2.2\r\n"
      "CSeq: 2 REGISTER\r\n"
      "Supported: path, outbound\r\n"
      "Path: <sip:VskztcQ@edge.example.com;lr;ob>\r\n"
      "Contact: <sip:bob@192.0.2.2;transport=tcp;ob>;reg-id=1;expires=600;"
      "+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\"\r\n"
      "User-Agent: captured/1.0\r\n"
      "Content-Length: 0\r\n\r\n",
      &f, &res, ans, sizeof(ans));
  cr_expect_eq(f.req.via_count, 2);
  cr_assert_eq(f.req.n_path, 1);
  cr_expect_not_null(strstr(f.path[0].ptr, "sip:VskztcQ@edge.example.com"));
  cr_expect_not_null(f.req.user_agent.ptr);
  cr_assert_eq(res->status, 200);
  cr_expect_not_null(strstr(ans, ";expires=600;"), "%s", ans);
  cr_expect_not_null(strstr(ans, ";reg-id=1"), "%s", ans);
  cr_expect_not_null(strstr(ans, "Require: outbound\r\n"), "%s", ans);
  cr_expect_null(strstr(ans, "Flow-Timer:"), "%s", ans);
  cr_expect_eq(count_lines(ans, "Path: <sip:VskztcQ@edge.example.com;lr;ob>"),
               1, "%s", ans);
  msg_destroy(msg);
  world_del(&w);
}

static const char three_contacts[] =
    "REGISTER sip:example.com SIP/2.0\r\n"
    "v: SIP/2.0/UDP 10.0.0.5:5062;rport;branch=z9hG4bKq1\r\n"
    "f: <sip:carol@example.com>;tag=c1\r\n"
    "t: <sip:carol@example.com>\r\n"
    "i: multi@10.0.0.5\r\n"
    "CSeq: 11 REGISTER\r\n"
    "Expires: 1800\r\n"
    "m: <sip:carol@10.0.0.5:5062>;q=1.0;expires=300,\r\n"
    "   <sip:carol@10.0.0.5:5063>;q=0.5;+sip.ice,\r\n"
    "   \"Desk\" <sip:carol@10.0.0.5:5064;transport=udp>;expires=120;q=0.25\r\n"
    "l: 0\r\n\r\n";

/* RFC 3261 §10.3 step 7: each Contact's expires parameter wins over the
 * Expires header; q and other parameters are kept and given back. */
Test(sofia, several_contacts_keep_their_q_and_expires) {
  sipflow_sofia_register f;
  const sipflow_reg_result *res;
  reg_world w;
  char ans[2048];
  world_new(&w, NULL);
  msg_t *msg = run_register(&w, three_contacts, &f, &res, ans, sizeof(ans));
  cr_assert_eq(f.req.n_contacts, 3);
  cr_expect_eq(f.req.has_expires, 1);
  cr_expect_eq(f.req.expires, 1800);
  cr_expect_eq(f.contacts[0].q, 1000);
  cr_expect_eq(f.contacts[1].q, 500);
  cr_expect_eq(f.contacts[2].q, 250);
  cr_expect_eq(f.contacts[0].expires.len, 3);
  cr_expect_null(f.contacts[1].expires.ptr);
  cr_expect_not_null(f.contacts[1].params.ptr);
  cr_expect_not_null(strstr(f.contacts[1].params.ptr, "+sip.ice"));
  cr_assert_eq(res->status, 200);
  cr_expect_eq(count_lines(ans, "Contact:"), 3, "%s", ans);
  cr_expect_not_null(
      strstr(ans, "Contact: <sip:carol@10.0.0.5:5062>;expires=300;q=1.000\r\n"),
      "%s", ans);
  cr_expect_not_null(
      strstr(ans, "Contact: <sip:carol@10.0.0.5:5063>;expires=1800;q=0.500"
                  ";+sip.ice\r\n"),
      "%s", ans);
  cr_expect_not_null(strstr(ans, "Contact: <sip:carol@10.0.0.5:5064;"
                                 "transport=udp>;expires=120;q=0.250\r\n"),
                     "%s", ans);
  cr_expect_null(strstr(ans, "Require:"), "%s", ans);
  msg_destroy(msg);
  world_del(&w);
}

/* RFC 3261 §10.2.1.1: an Expires past 2^32-1 means 2^32-1; the registrar
 * grants its max-expires (86400 by default). 2^32 must not wrap to 0 and remove
 * the binding. */
Test(sofia, expires_past_32_bits_clamps_to_max_expires) {
  static const char *const values[] = {"4294967296", "4294967297",
                                       "99999999999999999999999"};
  for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
    sipflow_sofia_register f;
    const sipflow_reg_result *res;
    reg_world w;
    char text[1024], ans[2048];
    snprintf(text, sizeof(text),
             "REGISTER sip:example.com SIP/2.0\r\n"
             "v: SIP/2.0/UDP 10.0.0.5:5062;rport;branch=z9hG4bKw%zu\r\n"
             "f: <sip:wrap@example.com>;tag=w\r\n"
             "t: <sip:wrap@example.com>\r\n"
             "i: wrap%zu@10.0.0.5\r\n"
             "CSeq: 1 REGISTER\r\n"
             "Expires: %s\r\n"
             "m: <sip:wrap@10.0.0.5:5062>\r\n"
             "l: 0\r\n\r\n",
             i, i, values[i]);
    world_new(&w, NULL);
    msg_t *msg = run_register(&w, text, &f, &res, ans, sizeof(ans));
    cr_expect_eq(f.req.expires, UINT32_MAX, "Expires: %s", values[i]);
    cr_assert_eq(res->status, 200);
    cr_expect_eq(res->n_contacts, 1, "Expires: %s", values[i]);
    cr_expect_not_null(strstr(ans, ";expires=86400\r\n"), "%s", ans);
    msg_destroy(msg);
    world_del(&w);
  }
}

/* RFC 3261 §10.3 step 6: "*" with Expires: 0 removes every binding; the 200
 * then lists no Contact. */
Test(sofia, wildcard_contact_removes_every_binding) {
  sipflow_sofia_register f;
  const sipflow_reg_result *res;
  reg_world w;
  char ans[2048];
  world_new(&w, NULL);
  msg_t *msg = run_register(&w, three_contacts, &f, &res, ans, sizeof(ans));
  cr_assert_eq(res->n_contacts, 3);
  msg_destroy(msg);
  w.now += SIPFLOW_SECONDS;
  msg = run_register(&w,
                     "REGISTER sip:example.com SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKw2\r\n"
                     "From: <sip:carol@example.com>;tag=c2\r\n"
                     "To: <sip:carol@example.com>\r\n"
                     "Call-ID: multi@10.0.0.5\r\n"
                     "CSeq: 12 REGISTER\r\n"
                     "Contact: *\r\n"
                     "Expires: 0\r\n"
                     "Content-Length: 0\r\n\r\n",
                     &f, &res, ans, sizeof(ans));
  cr_expect_eq(f.req.wildcard, 1);
  cr_expect_eq(f.req.n_contacts, 0);
  cr_expect_eq(res->status, 200);
  cr_expect_eq(res->n_contacts, 0);
  cr_expect_null(strstr(ans, "Contact:"), "%s", ans);
  cr_expect_eq(sipflow_registrar_binding_count(w.reg), 0);
  msg_destroy(msg);
  world_del(&w);
}

/* A REGISTER with |n| Contacts, Path values or Require tags. */
static void many(char *buf, size_t cap, const char *header, const char *item,
                 int n) {
  size_t len = (size_t)snprintf(
      buf, cap,
      "REGISTER sip:e.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKm\r\n"
      "From: <sip:a@e.com>;tag=1\r\nTo: <sip:a@e.com>\r\nCall-ID: m\r\n"
      "CSeq: 1 REGISTER\r\n%s: ",
      header);
  for (int i = 0; i < n; i++)
    len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", item);
  snprintf(buf + len, cap - len, "\r\nContent-Length: 0\r\n\r\n");
}

static int facts_of(const char *text) {
  sipflow_sofia_register f;
  msg_t *msg = parse_ok(text);
  int rv = sipflow_sofia_register_facts(&f, msg, NULL, 0, NULL);
  msg_destroy(msg);
  return rv;
}

Test(sofia, more_contacts_path_values_or_tags_than_the_limits_are_too_large) {
  static char text[8192];
  many(text, sizeof(text), "Contact", "<sip:a@192.0.2.9>",
       SIPFLOW_SOFIA_MAX_CONTACTS);
  cr_expect_eq(facts_of(text), 0);
  many(text, sizeof(text), "Contact", "<sip:a@192.0.2.9>",
       SIPFLOW_SOFIA_MAX_CONTACTS + 1);
  cr_expect_eq(facts_of(text), SIPFLOW_ERR_TOO_LARGE);
  many(text, sizeof(text), "Path", "<sip:p.example.com;lr>",
       SIPFLOW_SOFIA_MAX_PATH + 1);
  cr_expect_eq(facts_of(text), SIPFLOW_ERR_TOO_LARGE);
  many(text, sizeof(text), "Require", "x-tag", SIPFLOW_SOFIA_MAX_REQUIRE + 1);
  cr_expect_eq(facts_of(text), SIPFLOW_ERR_TOO_LARGE);
}

/* RFC 3261 §8.2.2.3 / §20.40: unknown Require tags get 420 listing them in
 * Unsupported. */
Test(sofia, unknown_require_tags_get_420_with_unsupported) {
  sipflow_sofia_register f;
  const sipflow_reg_result *res;
  reg_world w;
  char ans[1024];
  world_new(&w, NULL);
  msg_t *msg = run_register(&w,
                            "REGISTER sip:example.com SIP/2.0\r\n"
                            "Via: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKr1\r\n"
                            "From: <sip:dan@example.com>;tag=d\r\n"
                            "To: <sip:dan@example.com>\r\n"
                            "Call-ID: req@192.0.2.2\r\n"
                            "CSeq: 1 REGISTER\r\n"
                            "Require: outbound, x-frobnicate\r\n"
                            "Require: 100rel\r\n"
                            "Contact: <sip:dan@192.0.2.2>\r\n"
                            "Content-Length: 0\r\n\r\n",
                            &f, &res, ans, sizeof(ans));
  cr_expect_eq(f.req.require, SIPFLOW_REG_OPT_OUTBOUND);
  cr_assert_eq(f.req.n_require_unknown, 2);
  cr_expect_eq(res->status, 420);
  cr_expect_not_null(strstr(ans, "Unsupported: x-frobnicate\r\n"), "%s", ans);
  cr_expect_not_null(strstr(ans, "Unsupported: 100rel\r\n"), "%s", ans);
  cr_expect_null(strstr(ans, "Unsupported: outbound"), "%s", ans);
  cr_expect_null(strstr(ans, "Contact:"), "%s", ans);
  cr_expect_eq(sipflow_registrar_binding_count(w.reg), 0);
  msg_destroy(msg);
  world_del(&w);
}

/* RFC 3261 §10.3 step 7: an expiry below the minimum gets 423 with
 * Min-Expires. */
Test(sofia, too_brief_expires_gets_423_with_min_expires) {
  sipflow_registrar_settings set;
  sipflow_sofia_register f;
  const sipflow_reg_result *res;
  reg_world w;
  char ans[1024];
  sipflow_registrar_settings_default(&set);
  set.min_expires = 120;
  world_new(&w, &set);
  msg_t *msg = run_register(&w,
                            "REGISTER sip:example.com SIP/2.0\r\n"
                            "Via: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKe1\r\n"
                            "From: <sip:eve@example.com>;tag=e\r\n"
                            "To: <sip:eve@example.com>\r\n"
                            "Call-ID: exp@192.0.2.2\r\n"
                            "CSeq: 1 REGISTER\r\n"
                            "Contact: <sip:eve@192.0.2.2>;expires=30\r\n"
                            "Content-Length: 0\r\n\r\n",
                            &f, &res, ans, sizeof(ans));
  cr_expect_eq(res->status, 423);
  cr_expect_not_null(strstr(ans, "Min-Expires: 120\r\n"), "%s", ans);
  cr_expect_null(strstr(ans, "Contact:"), "%s", ans);
  msg_destroy(msg);
  world_del(&w);
}

Test(sofia, register_facts_refuse_what_is_not_a_usable_register) {
  sipflow_sofia_register f;
  msg_t *msg = parse_ok("OPTIONS sip:example.com SIP/2.0\r\n"
                        "Via: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKo\r\n"
                        "From: <sip:a@example.com>;tag=1\r\n"
                        "To: <sip:example.com>\r\n"
                        "Call-ID: o@192.0.2.2\r\n"
                        "CSeq: 1 OPTIONS\r\n"
                        "Content-Length: 0\r\n\r\n");
  cr_expect_eq(sipflow_sofia_register_facts(&f, msg, NULL, 0, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_sofia_register_facts(NULL, msg, NULL, 0, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_sofia_register_facts(&f, NULL, NULL, 0, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  msg_destroy(msg);
  /* q must be a number from 0 to 1 (RFC 3261 §20.10). */
  static const char *const qs[] = {"1.5", "2", "x", "0.5x", ""};
  for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
    char text[512];
    snprintf(text, sizeof(text),
             "REGISTER sip:e.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK"
             "\r\nFrom: <sip:a@e.com>;tag=1\r\nTo: <sip:a@e.com>\r\nCall-ID: "
             "x\r\nCSeq: 1 REGISTER\r\nContact: <sip:a@h>;q=%s\r\n"
             "Content-Length: 0\r\n\r\n",
             qs[i]);
    if (sipflow_sofia_parse(&msg, (const uint8_t *)text, strlen(text)) != 0)
      continue; /* sofia refused it itself */
    cr_expect_eq(sipflow_sofia_register_facts(&f, msg, NULL, 0, NULL),
                 SIPFLOW_ERR_MALFORMED, "q=%s", qs[i]);
    msg_destroy(msg);
  }
}

Test(sofia, answer_that_does_not_fit_is_buffer_too_small) {
  sipflow_sofia_register f;
  const sipflow_reg_result *res;
  reg_world w;
  char ans[2048], small[40];
  size_t len = 99;
  world_new(&w, NULL);
  msg_t *msg = run_register(&w, three_contacts, &f, &res, ans, sizeof(ans));
  cr_expect_eq(
      sipflow_sofia_register_answer(res, msg, small, sizeof(small), &len),
      SIPFLOW_ERR_BUFFER_TOO_SMALL);
  cr_expect_eq(len, 99, "outlen untouched on error");
  cr_expect_eq(sipflow_sofia_register_answer(res, msg, small, 0, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_sofia_register_answer(NULL, msg, ans, sizeof(ans), NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  msg_destroy(msg);
  world_del(&w);
}

/* ---- edge facts and token headers --------------------------------------- */

#include "sipflow/edge.h"

Test(sofia, edge_facts_from_a_dialog_forming_request_with_ob) {
  msg_t *msg = parse_ok("INVITE sip:bob@example.com SIP/2.0\r\n"
                        "Via: SIP/2.0/TCP 192.0.2.2;branch=z9hG4bK7\r\n"
                        "From: <sip:alice@example.com>;tag=1\r\n"
                        "To: <sip:bob@example.com>\r\n"
                        "Call-ID: e1@192.0.2.2\r\n"
                        "CSeq: 1 INVITE\r\n"
                        "Contact: <sip:alice@192.0.2.2;transport=tcp;ob>\r\n"
                        "Route: <sip:edge.example.com;lr>\r\n"
                        "Content-Length: 0\r\n\r\n");
  sipflow_edge_facts f;
  sipflow_edge_decision d;
  cr_assert_eq(sipflow_sofia_edge_facts(&f, msg, 1, NULL, 7, NULL), 0);
  cr_expect_eq(f.method, SIPFLOW_EDGE_METHOD_INVITE);
  cr_expect_eq(f.via_count, 1);
  cr_expect_eq(f.contact_ob, 1);
  cr_expect_eq(f.to_tag, 0);
  cr_expect_eq(f.route_is_us, 1);
  cr_expect_eq(f.route_has_user, 0);
  cr_expect_eq(f.arrival_flow, 7);
  /* RFC 5626 §5.3.2: ;ob in Contact from the first hop: Record-Route token */
  cr_assert_eq(sipflow_edge_decide(&f, &d), 0);
  cr_expect_eq(d.action, SIPFLOW_EDGE_ADD_TOKEN);
  cr_expect_eq(d.header, SIPFLOW_EDGE_HEADER_RECORD_ROUTE);
  cr_expect_eq(d.flow, 7);
  msg_destroy(msg);
}

Test(sofia, edge_facts_of_a_register_with_reg_id) {
  msg_t *msg = parse_ok(outbound_register);
  sipflow_edge_facts f;
  sipflow_edge_decision d;
  cr_assert_eq(sipflow_sofia_edge_facts(&f, msg, 0, NULL, 3, NULL), 0);
  cr_expect_eq(f.method, SIPFLOW_EDGE_METHOD_REGISTER);
  cr_expect_eq(f.contact_reg_id, 1);
  cr_expect_eq(f.no_supported_path, 0);
  cr_expect_eq(f.route_is_us, 0);
  /* RFC 5626 §5.1: first hop, reg-id: Path with token and ;ob */
  cr_assert_eq(sipflow_edge_decide(&f, &d), 0);
  cr_expect_eq(d.action, SIPFLOW_EDGE_ADD_TOKEN_OB);
  cr_expect_eq(sipflow_sofia_edge_facts(NULL, msg, 0, NULL, 0, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  msg_destroy(msg);
}

Test(sofia, token_headers_go_on_top_and_serialise) {
  msg_t *msg = parse_ok(outbound_register);
  sip_t *sip = sip_object(msg);
  sipflow_edge_local local = {{"192.0.2.10", 10}, 5060, SIPFLOW_TRANSPORT_TCP};
  char *s;
  cr_assert_eq(sipflow_sofia_add_token_header(msg, SIPFLOW_EDGE_HEADER_PATH,
                                              &local, "AbC-_9", 6,
                                              SIPFLOW_EDGE_URI_OB),
               0);
  cr_assert_not_null(sip->sip_path);
  s = sip_header_as_string(msg_home(msg), (sip_header_t *)sip->sip_path);
  cr_expect_str_eq(s, "<sip:AbC-_9@192.0.2.10:5060;transport=tcp;lr;ob>");
  cr_assert_eq(sipflow_sofia_add_token_header(msg,
                                              SIPFLOW_EDGE_HEADER_RECORD_ROUTE,
                                              &local, "AbC-_9", 6, 0),
               0);
  s = sip_header_as_string(msg_home(msg),
                           (sip_header_t *)sip->sip_record_route);
  cr_expect_str_eq(s, "<sip:AbC-_9@192.0.2.10:5060;transport=tcp;lr>");
  cr_expect_eq(sipflow_sofia_add_token_header(msg, 99, &local, "x", 1, 0),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_sofia_add_token_header(msg, SIPFLOW_EDGE_HEADER_PATH,
                                              &local, "not/base64", 10, 0),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  msg_destroy(msg);
}

/* The answer is built by appending, not by printf: every size below what
 * it needs (its length and a NUL) is refused, and the size it needs gives
 * exactly the same text as a large buffer. */
Test(sofia, answer_fits_exactly_or_is_refused_at_every_shorter_size) {
  sipflow_registrar_settings set;
  sipflow_sofia_register f;
  const sipflow_reg_result *res;
  reg_world w;
  char ans[2048], again[2048];
  size_t len = 0, got;
  sipflow_registrar_settings_default(&set);
  set.flow_timer = 25;
  world_new(&w, &set);
  msg_t *msg = run_register(&w, outbound_register, &f, &res, ans, sizeof(ans));
  cr_assert_eq(res->status, 200);
  cr_assert_eq(
      sipflow_sofia_register_answer(res, msg, again, sizeof(again), &len), 0);
  cr_expect_str_eq(
      again,
      "Contact: <sip:bob@192.0.2.2;transport=tcp;ob>;expires=3600;"
      "+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\";"
      "reg-id=1\r\n"
      "Require: outbound\r\n"
      "Flow-Timer: 25\r\n"
      "Supported: outbound, path\r\n");
  for (size_t cap = 1; cap <= len; cap++) {
    got = 12345;
    cr_expect_eq(sipflow_sofia_register_answer(res, msg, again, cap, &got),
                 SIPFLOW_ERR_BUFFER_TOO_SMALL, "size %zu", cap);
    cr_expect_eq(got, 12345, "size %zu: outlen untouched", cap);
  }
  memset(again, 'x', sizeof(again));
  cr_assert_eq(sipflow_sofia_register_answer(res, msg, again, len + 1, &got),
               0);
  cr_expect_eq(got, len);
  cr_expect_eq(again[len], '\0');
  cr_expect_eq(memcmp(again, ans, len + 1), 0);
  msg_destroy(msg);
  world_del(&w);
}

/* ---- the arrival-flow rule of RFC 5626 §6, one test per row ------------- */

typedef struct flow_world {
  sipflow_ctx *ctx;
  sipflow_keyring *kr;
  sipflow_flow_table *ft;
  sipflow_flow_tuple ua;   /* the UA's flow to the edge: in the table */
  sipflow_flow_tuple peer; /* the flow the REGISTER arrived on */
  sipflow_flow_id ua_id;
  char token[SIPFLOW_TOKEN_BUFLEN];
} flow_world;

static void flow_world_new(flow_world *w) {
  uint8_t key[SIPFLOW_TOKEN_KEY_LEN] = {1};
  memset(w, 0, sizeof(*w));
  cr_assert_eq(sipflow_ctx_new(&w->ctx, NULL, NULL, NULL, NULL), 0);
  cr_assert_eq(sipflow_keyring_new(&w->kr, w->ctx), 0);
  cr_assert_eq(sipflow_keyring_add(w->kr, 0, key, sizeof(key)), 0);
  cr_assert_eq(sipflow_flow_table_new(&w->ft, w->ctx, w->kr, NULL, NULL, NULL),
               0);
  w->ua.transport = SIPFLOW_TRANSPORT_TCP;
  cr_assert_eq(sipflow_addr_parse(&w->ua.local, "192.0.2.1", 5060), 0);
  cr_assert_eq(sipflow_addr_parse(&w->ua.remote, "192.0.2.2", 40000), 0);
  cr_assert_eq(sipflow_flow_add(w->ft, &w->ua, 1, 1000, &w->ua_id), 0);
  cr_assert_eq(
      sipflow_flow_token(w->ft, w->ua_id, w->token, sizeof(w->token), NULL), 0);
  w->peer.transport = SIPFLOW_TRANSPORT_UDP;
  cr_assert_eq(sipflow_addr_parse(&w->peer.local, "192.0.2.1", 5060), 0);
  cr_assert_eq(sipflow_addr_parse(&w->peer.remote, "192.0.2.9", 5060), 0);
}

static void flow_world_del(flow_world *w) {
  sipflow_flow_table_del(w->ft);
  sipflow_keyring_del(w->kr);
  sipflow_ctx_del(w->ctx);
}

/* A REGISTER with |vias| Vias and a topmost Path whose user part is
 * |path_user| ("" for none, NULL for no Path), arriving on flow 9 (the
 * peer tuple); its facts in |f|. */
static msg_t *register_via(flow_world *w, int vias, const char *path_user,
                           sipflow_sofia_register *f) {
  char text[2048], path[600] = "";
  msg_t *msg;
  int rv;
  if (path_user)
    snprintf(path, sizeof(path), "Path: <sip:%s%s192.0.2.1;lr;ob>\r\n",
             path_user, path_user[0] ? "@" : "");
  snprintf(text, sizeof(text),
           "REGISTER sip:example.com SIP/2.0\r\n"
           "%s"
           "Via: SIP/2.0/TCP 192.0.2.2:40000;branch=z9hG4bKua\r\n"
           "From: <sip:alice@example.com>;tag=1\r\n"
           "To: <sip:alice@example.com>\r\n"
           "Call-ID: flow@192.0.2.2\r\n"
           "CSeq: 1 REGISTER\r\n"
           "%s"
           "Supported: outbound, path\r\n"
           "Contact: <sip:alice@192.0.2.2:40000;transport=tcp;ob>"
           ";reg-id=1;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-"
           "000a95a0e128>\"\r\n"
           "Content-Length: 0\r\n\r\n",
           vias > 1 ? "Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKedge\r\n" : "",
           path);
  msg = parse_ok(text);
  rv = sipflow_sofia_register_facts(f, msg, w->ft, 9, &w->peer);
  cr_assert_eq(rv, 0, "facts: %s", sipflow_strerror(rv));
  cr_expect_eq(f->req.via_count, (uint32_t)vias);
  cr_expect(sipflow_addr_equal(&f->req.received, &w->peer.remote),
            "received is the arrival flow's remote address");
  return msg;
}

Test(sofia,
     rfc5626_s6_straight_from_the_ua_the_binding_is_on_the_arrival_flow) {
  /* RFC 5626 §6 (and §5.1's first-hop test): one Via, no Path. */
  flow_world w;
  sipflow_sofia_register f;
  msg_t *msg;
  flow_world_new(&w);
  msg = register_via(&w, 1, NULL, &f);
  cr_expect_eq(f.req.flow_id, 9);
  cr_expect(sipflow_flow_tuple_same(&f.req.flow, &w.peer));
  msg_destroy(msg);
  flow_world_del(&w);
}

Test(sofia,
     rfc5626_s6_behind_our_own_edge_the_binding_is_on_the_path_token_flow) {
  /* RFC 5626 §6: the edge that shares the host's flow table put its token
   * in the topmost Path; the binding is reached over the flow it names. */
  flow_world w;
  sipflow_sofia_register f;
  msg_t *msg;
  flow_world_new(&w);
  msg = register_via(&w, 2, w.token, &f);
  cr_expect_eq(f.req.flow_id, w.ua_id);
  cr_expect(sipflow_addr_equal(&f.req.flow.remote, &w.ua.remote));
  cr_expect_eq(f.req.flow.transport, SIPFLOW_TRANSPORT_TCP);
  msg_destroy(msg);
  flow_world_del(&w);
}

Test(sofia, rfc5626_s6_behind_an_edge_without_a_verified_token_the_path_leads) {
  /* RFC 5626 §6 and RFC 3327: a Path without a user part, a token that
   * does not verify, or no flow table: no flow of ours, the Path leads. */
  static const char *const users[] = {"", "notatoken", "AAAAAAAAAAAAAAAAAAAA"};
  flow_world w;
  sipflow_sofia_register f;
  msg_t *msg;
  flow_world_new(&w);
  for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
    msg = register_via(&w, 2, users[i], &f);
    cr_expect_eq(f.req.flow_id, 0, "Path user '%s'", users[i]);
    cr_expect_eq(f.req.flow.transport, 0, "Path user '%s'", users[i]);
    msg_destroy(msg);
  }
  /* The real token, but the host passes no flow table: not its edge. */
  {
    char text[1024];
    snprintf(text, sizeof(text),
             "REGISTER sip:example.com SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKedge\r\n"
             "Via: SIP/2.0/TCP 192.0.2.2:40000;branch=z9hG4bKua\r\n"
             "From: <sip:alice@example.com>;tag=1\r\n"
             "To: <sip:alice@example.com>\r\n"
             "Call-ID: flow@192.0.2.2\r\nCSeq: 1 REGISTER\r\n"
             "Path: <sip:%s@192.0.2.1;lr;ob>\r\n"
             "Content-Length: 0\r\n\r\n",
             w.token);
    msg = parse_ok(text);
    cr_assert_eq(sipflow_sofia_register_facts(&f, msg, NULL, 9, &w.peer), 0);
    cr_expect_eq(f.req.flow_id, 0);
    msg_destroy(msg);
  }
  flow_world_del(&w);
}

Test(sofia, rfc5626_s6_behind_an_edge_without_path_no_flow_is_named) {
  /* RFC 5626 §6: more than one Via and no Path: the request did not come
   * straight from the UA and nothing names its flow. */
  flow_world w;
  sipflow_sofia_register f;
  msg_t *msg;
  flow_world_new(&w);
  msg = register_via(&w, 2, NULL, &f);
  cr_expect_eq(f.req.flow_id, 0);
  cr_expect_eq(f.req.flow.transport, 0);
  msg_destroy(msg);
  flow_world_del(&w);
}

Test(sofia, rfc5626_s6_a_token_whose_flow_has_ended_names_no_flow) {
  /* RFC 5626 §5.3 and §6: the UA's flow is gone; the token is stale, the
   * binding gets no flow (no new path to the UA is made). */
  flow_world w;
  sipflow_sofia_register f;
  msg_t *msg;
  flow_world_new(&w);
  sipflow_flow_end(w.ft, w.ua_id, SIPFLOW_FLOW_END_CLOSED, 2000);
  msg = register_via(&w, 2, w.token, &f);
  cr_expect_eq(f.req.flow_id, 0);
  msg_destroy(msg);
  flow_world_del(&w);
}
