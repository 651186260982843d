/*
 * The sofia-sip adapter on captured-style messages, including the ugly ones,
 * and its su_root timer.
 */
#include <criterion/criterion.h>
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
