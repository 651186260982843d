/*
 * The registrar's text for hosts with their own parser: Contact values read
 * into sipflow_reg_contact (RFC 3261 §20.10, §25.1; RFC 5626 §4.2, §6), and
 * the answer's header fields written (RFC 3261 §10.3 step 8; RFC 5626 §6;
 * RFC 3327 §5.3). One row per rule, each citing its section; and a
 * round trip through a real registrar.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <criterion/criterion.h>
#include <string.h>

#include <sipflow/sipflow.h>

static int str_is(sipflow_str s, const char *want) {
  if (!want)
    return s.ptr == NULL;
  return s.ptr && s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

typedef struct contact_row {
  const char *rfc;
  const char *value;
  int rv;
  const char *uri, *instance, *reg_id, *expires, *params;
  int32_t q;
  int ob;
  size_t consumed; /* 0: the whole value */
} contact_row;

#define NONE SIPFLOW_REG_Q_NONE
static const contact_row contact_rows[] = {
    {"RFC 3261 §20.10 addr-spec", "sip:bob@192.0.2.4", 0, "sip:bob@192.0.2.4",
     NULL, NULL, NULL, NULL, NONE, 0, 0},
    {"RFC 3261 §20.10 name-addr with display name",
     "\"Bob \\\"B\\\" Smith\" "
     "<sip:bob@192.0.2.4:5070;transport=tcp>;expires=60",
     0, "sip:bob@192.0.2.4:5070;transport=tcp", NULL, NULL, "60", NULL, NONE, 0,
     0},
    {"RFC 3261 §25.1 token display name", "Bob Smith <sip:bob@host>;q=0.7", 0,
     "sip:bob@host", NULL, NULL, NULL, NULL, 700, 0, 0},
    {"RFC 3261 §20.10 addr-spec: every ';' parameter is the header's",
     "sip:bob@host;expires=30;q=1", 0, "sip:bob@host", NULL, NULL, "30", NULL,
     1000, 0, 0},
    {"RFC 5626 §4.2 Outbound Contact",
     "<sip:line1@192.0.2.2;transport=tcp;ob>;reg-id=1;"
     "+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"",
     0, "sip:line1@192.0.2.2;transport=tcp;ob",
     "\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"", "1", NULL, NULL,
     NONE, 1, 0},
    {"RFC 5626 §5.4 ;ob only in the URI counts", "<sip:a@h;obx>;ob", 0,
     "sip:a@h;obx", NULL, NULL, NULL, ";ob", NONE, 0, 0},
    {"RFC 5626 §5.4 ;ob before URI headers", "<sip:a@h;OB?x=y>", 0,
     "sip:a@h;OB?x=y", NULL, NULL, NULL, NULL, NONE, 1, 0},
    {"RFC 3261 §20.10 other parameters kept verbatim, in order",
     "<sip:a@h>;methods=\"INVITE, BYE\";expires=10;+sip.ice;audio", 0,
     "sip:a@h", NULL, NULL, "10", ";methods=\"INVITE, BYE\";+sip.ice;audio",
     NONE, 0, 0},
    {"RFC 3261 §7.3.1 names are case-insensitive, LWS around '=' and ';'",
     "<sip:a@h> ; EXPIRES = 20 ;Reg-ID=2", 0, "sip:a@h", NULL, "2", "20", NULL,
     NONE, 0, 0},
    {"RFC 3261 §20.10 several values: the first, then where the next starts",
     "<sip:a@h>;expires=5, <sip:b@h>", 0, "sip:a@h", NULL, NULL, "5", NULL,
     NONE, 0, 20},
    {"RFC 3261 §20.10 a comma inside <> or quotes is not a separator",
     "\"a, b\" <sip:a@h;x=1,2>", 0, "sip:a@h;x=1,2", NULL, NULL, NULL, NULL,
     NONE, 0, 0},
    {"first of a repeated parameter wins", "<sip:a@h>;expires=1;expires=2", 0,
     "sip:a@h", NULL, NULL, "1", NULL, NONE, 0, 0},
    {"RFC 3261 §25.1 qvalue 0.000", "<sip:a@h>;q=0.000", 0, "sip:a@h", NULL,
     NULL, NULL, NULL, 0, 0, 0},
    {"RFC 3261 §25.1 qvalue above 1", "<sip:a@h>;q=1.5", SIPFLOW_ERR_MALFORMED,
     NULL, NULL, NULL, NULL, NULL, NONE, 0, 0},
    {"RFC 3261 §25.1 qvalue with 4 decimals", "<sip:a@h>;q=0.1234",
     SIPFLOW_ERR_MALFORMED, NULL, NULL, NULL, NULL, NULL, NONE, 0, 0},
    {"RFC 3261 §10.3 step 6 wildcard is not a Contact", "*",
     SIPFLOW_ERR_MALFORMED, NULL, NULL, NULL, NULL, NULL, NONE, 0, 0},
    {"unterminated <", "<sip:a@h;expires=1", SIPFLOW_ERR_MALFORMED, NULL, NULL,
     NULL, NULL, NULL, NONE, 0, 0},
    {"unterminated quoted display name", "\"Bob <sip:a@h>",
     SIPFLOW_ERR_MALFORMED, NULL, NULL, NULL, NULL, NULL, NONE, 0, 0},
    {"a parameter without a name", "<sip:a@h>;=5", SIPFLOW_ERR_MALFORMED, NULL,
     NULL, NULL, NULL, NULL, NONE, 0, 0},
    {"a parameter with an empty value", "<sip:a@h>;expires=",
     SIPFLOW_ERR_MALFORMED, NULL, NULL, NULL, NULL, NULL, NONE, 0, 0},
    {"text after the name-addr", "<sip:a@h> junk", SIPFLOW_ERR_MALFORMED, NULL,
     NULL, NULL, NULL, NULL, NONE, 0, 0},
    {"no URI", "<>", SIPFLOW_ERR_MALFORMED, NULL, NULL, NULL, NULL, NULL, NONE,
     0, 0},
    {"empty value", "", SIPFLOW_ERR_MALFORMED, NULL, NULL, NULL, NULL, NULL,
     NONE, 0, 0},
};

Test(reg_text, contact_values_read_as_the_rfc_says) {
  for (size_t i = 0; i < sizeof(contact_rows) / sizeof(contact_rows[0]); i++) {
    const contact_row *r = &contact_rows[i];
    sipflow_reg_contact c;
    char params[128];
    size_t consumed = 9999, len = strlen(r->value);
    int rv = sipflow_reg_contact_parse(r->value, len, &c, params,
                                       sizeof(params), &consumed);
    cr_assert_eq(rv, r->rv, "%s: %s: rv %d", r->rfc, r->value, rv);
    if (rv != 0)
      continue;
    cr_assert(str_is(c.uri, r->uri), "%s: uri %.*s", r->rfc, (int)c.uri.len,
              c.uri.ptr);
    cr_assert(str_is(c.instance, r->instance), "%s: instance", r->rfc);
    cr_assert(str_is(c.reg_id, r->reg_id), "%s: reg-id", r->rfc);
    cr_assert(str_is(c.expires, r->expires), "%s: expires", r->rfc);
    cr_assert(str_is(c.params, r->params), "%s: params '%.*s'", r->rfc,
              (int)c.params.len, c.params.ptr ? c.params.ptr : "");
    cr_assert_eq(c.q, r->q, "%s: q %d", r->rfc, c.q);
    cr_assert_eq(c.ob, r->ob, "%s: ob", r->rfc);
    cr_assert_eq(consumed, r->consumed ? r->consumed : len, "%s: consumed %zu",
                 r->rfc, consumed);
  }
}

Test(reg_text, contact_parse_arguments_and_a_small_params_buffer) {
  sipflow_reg_contact c;
  char small[4];
  cr_assert_eq(sipflow_reg_contact_parse(NULL, 0, &c, NULL, 0, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_assert_eq(sipflow_reg_contact_parse("sip:a@h", 7, NULL, NULL, 0, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_assert_eq(sipflow_reg_contact_parse("sip:a@h", 7, &c, NULL, 8, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_assert_eq(sipflow_reg_contact_parse("<sip:a@h>;methods=x", 19, &c, small,
                                         sizeof(small), NULL),
               SIPFLOW_ERR_BUFFER_TOO_SMALL);
  cr_assert_eq(
      sipflow_reg_contact_parse("<sip:a@h>;methods=x", 19, &c, NULL, 0, NULL),
      SIPFLOW_ERR_BUFFER_TOO_SMALL);
  /* Reads stay within len: the same bytes cut short are malformed. */
  cr_assert_eq(sipflow_reg_contact_parse("<sip:a@h>", 8, &c, NULL, 0, NULL),
               SIPFLOW_ERR_MALFORMED);
}

Test(reg_text, q_values_in_thousandths) {
  static const struct {
    const char *s;
    int rv;
    int32_t q;
  } rows[] = {{"0", 0, 0},      {"1", 0, 1000},    {"0.5", 0, 500},
              {"0.25", 0, 250}, {"0.125", 0, 125}, {"1.000", 0, 1000},
              {"1.", 0, 1000},  {"0.", 0, 0},      {"1.001", -1, 0},
              {"2", -1, 0},     {".5", -1, 0},     {"0.5x", -1, 0},
              {"", -1, 0},      {"0.1234", -1, 0}, {"00.5", -1, 0}};
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    int32_t q = -7;
    int rv = sipflow_reg_q_parse(rows[i].s, strlen(rows[i].s), &q);
    cr_assert_eq(rv == 0 ? 0 : -1, rows[i].rv, "RFC 3261 §25.1 qvalue '%s'",
                 rows[i].s);
    if (rv == 0)
      cr_assert_eq(q, rows[i].q, "'%s' gives %d", rows[i].s, q);
    else
      cr_assert_eq(q, -7, "'%s' wrote on failure", rows[i].s);
  }
}

/* ---- the answer, through a real registrar ---------------------------------
 */

static sipflow_tstamp now = 1000 * SIPFLOW_SECONDS;

static const sipflow_reg_result *
register_one(sipflow_registrar *reg, const char *contact_value,
             unsigned supported, const sipflow_str *path, size_t n_path,
             sipflow_reg_request *req) {
  static sipflow_reg_contact c;
  static char params[256];
  const sipflow_reg_result *res = NULL;
  cr_assert_eq(sipflow_reg_contact_parse(contact_value, strlen(contact_value),
                                         &c, params, sizeof(params), NULL),
               0);
  sipflow_reg_request_default(req);
  req->aor = (sipflow_str){"sip:bob@example.com", 19};
  req->call_id = (sipflow_str){"call-1@h", 8};
  req->cseq = 1;
  req->contacts = &c;
  req->n_contacts = 1;
  req->supported = supported;
  req->path = path;
  req->n_path = n_path;
  req->via_count = n_path ? 2 : 1;
  req->flow_id = n_path ? 0 : 7;
  cr_assert_eq(sipflow_registrar_process(reg, req, now, &res), 0);
  return res;
}

Test(reg_text, answer_of_an_outbound_registration) {
  sipflow_ctx *ctx;
  sipflow_registrar *reg;
  sipflow_registrar_settings s;
  sipflow_reg_request req;
  char buf[1024];
  size_t len = 0;
  cr_assert_eq(sipflow_ctx_new(&ctx, NULL, NULL, NULL, NULL), 0);
  sipflow_registrar_settings_default(&s);
  s.flow_timer = 120;
  cr_assert_eq(sipflow_registrar_new(&reg, ctx, NULL, &s, NULL), 0);
  const sipflow_reg_result *res = register_one(
      reg,
      "<sip:bob@192.0.2.4;transport=tcp;ob>;expires=600;reg-id=1;q=0.5;"
      "+sip.instance=\"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>\";"
      "+sip.ice",
      SIPFLOW_REG_OPT_OUTBOUND, NULL, 0, &req);
  cr_assert_eq(res->status, 200);
  cr_assert_eq(sipflow_reg_answer_format(res, &req, buf, sizeof(buf), &len), 0);
  /* RFC 3261 §10.3 step 8, RFC 5626 §6: every binding with its expires,
   * instance and reg-id; Require: outbound; Flow-Timer (first hop). */
  cr_assert_str_eq(
      buf, "Contact: <sip:bob@192.0.2.4;transport=tcp;ob>;expires=600;"
           "+sip.instance=\"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>\";"
           "reg-id=1;q=0.500;+sip.ice\r\n"
           "Require: outbound\r\n"
           "Flow-Timer: 120\r\n"
           "Supported: outbound, path\r\n");
  cr_assert_eq(len, strlen(buf));
  /* Too small: an error and a terminated, truncated text. */
  cr_assert_eq(sipflow_reg_answer_format(res, &req, buf, 40, &len),
               SIPFLOW_ERR_BUFFER_TOO_SMALL);
  cr_assert_lt(strlen(buf), 40);
  cr_assert_eq(sipflow_reg_answer_format(NULL, &req, buf, 40, &len),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_assert_eq(sipflow_reg_answer_format(res, &req, buf, 0, &len),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  sipflow_registrar_del(reg);
  sipflow_ctx_del(ctx);
}

Test(reg_text, answer_echoes_path_and_lists_unknown_require_tags) {
  sipflow_ctx *ctx;
  sipflow_registrar *reg;
  sipflow_reg_request req;
  char buf[1024];
  static const sipflow_str path[] = {{"<sip:edge2@e2;lr>", 17},
                                     {"sip:tok@e1;lr;ob", 16}};
  cr_assert_eq(sipflow_ctx_new(&ctx, NULL, NULL, NULL, NULL), 0);
  cr_assert_eq(sipflow_registrar_new(&reg, ctx, NULL, NULL, NULL), 0);
  const sipflow_reg_result *res =
      register_one(reg, "<sip:bob@10.0.0.1>;expires=60", SIPFLOW_REG_OPT_PATH,
                   path, 2, &req);
  cr_assert_eq(res->status, 200);
  cr_assert_eq(res->echo_path, 1);
  cr_assert_eq(sipflow_reg_answer_format(res, &req, buf, sizeof(buf), NULL), 0);
  /* RFC 3327 §5.3: the Path values echoed, in order, addr-specs wrapped. */
  cr_assert(
      strstr(buf, "Path: <sip:edge2@e2;lr>\r\nPath: <sip:tok@e1;lr;ob>\r\n"),
      "%s", buf);

  /* RFC 3261 §8.2.2.3: 420 lists each unknown Require tag in Unsupported. */
  static const sipflow_str unknown[] = {{"foo", 3}, {"bar", 3}};
  static sipflow_reg_contact c;
  const sipflow_reg_result *r420 = NULL;
  cr_assert_eq(
      sipflow_reg_contact_parse("<sip:bob@10.0.0.1>", 18, &c, NULL, 0, NULL),
      0);
  sipflow_reg_request_default(&req);
  req.aor = (sipflow_str){"sip:bob@example.com", 19};
  req.call_id = (sipflow_str){"call-2@h", 8};
  req.cseq = 1;
  req.contacts = &c;
  req.n_contacts = 1;
  req.via_count = 1;
  req.require_unknown = unknown;
  req.n_require_unknown = 2;
  cr_assert_eq(sipflow_registrar_process(reg, &req, now, &r420), 0);
  cr_assert_eq(r420->status, 420);
  cr_assert_eq(sipflow_reg_answer_format(r420, &req, buf, sizeof(buf), NULL),
               0);
  cr_assert(strstr(buf, "Unsupported: foo\r\nUnsupported: bar\r\n"), "%s", buf);
  sipflow_registrar_del(reg);
  sipflow_ctx_del(ctx);
}
