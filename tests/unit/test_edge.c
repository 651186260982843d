/*
 * Edge decisions, Path / Record-Route formatting and NAT detection: table
 * tests, each row citing the rule it checks.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "sipflow/edge.h"
#include "sipflow/token.h"

enum {
  REG = SIPFLOW_EDGE_METHOD_REGISTER,
  INV = SIPFLOW_EDGE_METHOD_INVITE,
  SUB = SIPFLOW_EDGE_METHOD_SUBSCRIBE,
  REF = SIPFLOW_EDGE_METHOD_REFER,
  OTH = SIPFLOW_EDGE_METHOD_OTHER
};

enum {
  NONE = SIPFLOW_EDGE_NONE,
  ADD_OB = SIPFLOW_EDGE_ADD_TOKEN_OB,
  ADD = SIPFLOW_EDGE_ADD_TOKEN,
  ROUTE = SIPFLOW_EDGE_ROUTE_FLOW,
  REJECT = SIPFLOW_EDGE_REJECT
};

enum {
  H_NONE = SIPFLOW_EDGE_HEADER_NONE,
  PATH = SIPFLOW_EDGE_HEADER_PATH,
  RR = SIPFLOW_EDGE_HEADER_RECORD_ROUTE
};

enum {
  D_NONE = SIPFLOW_EDGE_DIR_NONE,
  FROM_UA = SIPFLOW_EDGE_DIR_FROM_UA,
  TO_UA = SIPFLOW_EDGE_DIR_TO_UA
};

#define ARRIVAL 0x100000001ull
#define OTHER_FLOW 0x200000002ull

/* A request as the host saw it, and what the edge must do with it. */
typedef struct row {
  const char *cite;
  int method;
  uint8_t to_tag;
  uint32_t vias;
  uint8_t reg_id, contact_ob, no_path;
  uint8_t route_us, route_ob, route_user;
  int token_result;
  sipflow_flow_id token_flow;
  uint8_t tuple_is_arrival;
  int force;
  /* expected */
  int action, reason, header, direction;
  sipflow_flow_id flow;
  uint8_t record_route;
  int status;
} row;

#define R(x) SIPFLOW_EDGE_REASON_##x
#define ON SIPFLOW_EDGE_FORCE_ON
#define OFF SIPFLOW_EDGE_FORCE_OFF
#define STALE SIPFLOW_ERR_STALE
#define TAMPERED SIPFLOW_ERR_TAMPERED
#define MALFORMED SIPFLOW_ERR_MALFORMED

/* clang-format off */
static const row rows[] = {
  /* cite                                     meth tag via rid cob nop rus rob rusr tokres    tokflow     tia force  action  reason                     hdr   dir      flow        rr st */
  {"5626 §5.1: REGISTER reg-id, 1 Via",        REG, 0, 1,  1,  0,  0,  0,  0,  0,   0,        0,          0, 0,     ADD_OB, R(REGISTER_FIRST_HOP),     PATH, D_NONE,  ARRIVAL,    0, 0},
  {"5626 §5.1: REGISTER reg-id, 2 Vias",       REG, 0, 2,  1,  0,  0,  0,  0,  0,   0,        0,          0, 0,     NONE,   R(REGISTER_NOT_FIRST_HOP), H_NONE, D_NONE, 0,         0, 0},
  {"5626 §5.1: REGISTER without reg-id",       REG, 0, 1,  0,  0,  0,  0,  0,  0,   0,        0,          0, 0,     NONE,   R(REGISTER_NO_REG_ID),     H_NONE, D_NONE, 0,         0, 0},
  {"5626 §5.1 + host: forced, 2 Vias, no ;ob", REG, 0, 3,  1,  0,  0,  0,  0,  0,   0,        0,          0, ON,    ADD,    R(FORCED_ON),              PATH, D_NONE,  ARRIVAL,    0, 0},
  {"5626 §5.1 + host: forced, no reg-id",      REG, 0, 1,  0,  0,  0,  0,  0,  0,   0,        0,          0, ON,    ADD_OB, R(FORCED_ON),              PATH, D_NONE,  ARRIVAL,    0, 0},
  {"host: forced off beats reg-id",            REG, 0, 1,  1,  0,  0,  0,  0,  0,   0,        0,          0, OFF,   NONE,   R(FORCED_OFF),             H_NONE, D_NONE, 0,         0, 0},
  {"3327 §5.2: no Supported: path -> 421",     REG, 0, 1,  1,  0,  1,  0,  0,  0,   0,        0,          0, 0,     REJECT, R(PATH_UNSUPPORTED),       H_NONE, D_NONE, 0,         0, 421},
  {"3327 §5.2: no Path added, no 421",         REG, 0, 2,  1,  0,  1,  0,  0,  0,   0,        0,          0, 0,     NONE,   R(REGISTER_NOT_FIRST_HOP), H_NONE, D_NONE, 0,         0, 0},
  {"5626 §5.1: REGISTER via outbound proxy Route;ob", REG, 0, 1, 1, 0, 0, 1, 1, 0,  0,        0,          0, 0,     ADD_OB, R(REGISTER_FIRST_HOP),     PATH, D_NONE,  ARRIVAL,    0, 0},
  {"5626 §5.3.2: INVITE Contact ;ob",          INV, 0, 1,  0,  1,  0,  0,  0,  0,   0,        0,          0, 0,     ADD,    R(DIALOG_CONTACT_OB),      RR,   D_NONE,  ARRIVAL,    0, 0},
  {"5626 §5.3.2: SUBSCRIBE Contact ;ob",       SUB, 0, 1,  0,  1,  0,  0,  0,  0,   0,        0,          0, 0,     ADD,    R(DIALOG_CONTACT_OB),      RR,   D_NONE,  ARRIVAL,    0, 0},
  {"5626 §5.3.2: REFER Contact ;ob",           REF, 0, 1,  0,  1,  0,  0,  0,  0,   0,        0,          0, 0,     ADD,    R(DIALOG_CONTACT_OB),      RR,   D_NONE,  ARRIVAL,    0, 0},
  {"5626 §5.3.2: INVITE top Route ;ob",        INV, 0, 1,  0,  0,  0,  1,  1,  0,   0,        0,          0, 0,     ADD,    R(DIALOG_ROUTE_OB),        RR,   D_NONE,  ARRIVAL,    0, 0},
  {"5626 §5.3.2: ;ob on a Route not ours",     INV, 0, 1,  0,  0,  0,  0,  1,  0,   0,        0,          0, 0,     NONE,   R(NOT_APPLICABLE),         H_NONE, D_NONE, 0,         0, 0},
  {"checklist 11.16: no Supported needed",     INV, 0, 1,  0,  1,  0,  0,  0,  0,   0,        0,          0, 0,     ADD,    R(DIALOG_CONTACT_OB),      RR,   D_NONE,  ARRIVAL,    0, 0},
  {"5626 §5.3.2: INVITE ;ob, 2 Vias",          INV, 0, 2,  0,  1,  0,  0,  0,  0,   0,        0,          0, 0,     NONE,   R(DIALOG_NOT_FIRST_HOP),   H_NONE, D_NONE, 0,         0, 0},
  {"5626 §5.3.2: INVITE without ;ob",          INV, 0, 1,  0,  0,  0,  0,  0,  0,   0,        0,          0, 0,     NONE,   R(NOT_APPLICABLE),         H_NONE, D_NONE, 0,         0, 0},
  {"5626 §5.3.2 + host: forced INVITE",        INV, 0, 1,  0,  0,  0,  0,  0,  0,   0,        0,          0, ON,    ADD,    R(FORCED_ON),              RR,   D_NONE,  ARRIVAL,    0, 0},
  {"5626 §5.3.2 + host: forced off",           INV, 0, 1,  0,  1,  0,  0,  0,  0,   0,        0,          0, OFF,   NONE,   R(FORCED_OFF),             H_NONE, D_NONE, 0,         0, 0},
  {"5626 §5.3.2: in-dialog INVITE ;ob",        INV, 1, 1,  0,  1,  0,  0,  0,  0,   0,        0,          0, 0,     NONE,   R(NOT_APPLICABLE),         H_NONE, D_NONE, 0,         0, 0},
  {"5626 §5.3.2: MESSAGE ;ob not dialog-forming", OTH, 0, 1, 0, 1, 0,  0,  0,  0,   0,        0,          0, 0,     NONE,   R(NOT_APPLICABLE),         H_NONE, D_NONE, 0,         0, 0},
  {"5626 §5.3.1: token to UA, INVITE Route;ob", INV, 0, 3, 0,  0,  0,  1,  1,  1,   0,        OTHER_FLOW, 0, 0,     ROUTE,  R(TOKEN_TO_UA),            H_NONE, TO_UA, OTHER_FLOW, 1, 0},
  {"5626 §5.3.1: token to UA, Route no ;ob",   INV, 0, 3,  0,  0,  0,  1,  0,  1,   0,        OTHER_FLOW, 0, 0,     ROUTE,  R(TOKEN_TO_UA),            H_NONE, TO_UA, OTHER_FLOW, 0, 0},
  {"5626 §5.3.1: token to UA, in-dialog BYE",  OTH, 1, 2,  0,  0,  0,  1,  0,  1,   0,        OTHER_FLOW, 0, 0,     ROUTE,  R(TOKEN_TO_UA),            H_NONE, TO_UA, OTHER_FLOW, 0, 0},
  {"5626 §5.3.1: forced off still routes",     OTH, 1, 2,  0,  0,  0,  1,  0,  1,   0,        OTHER_FLOW, 0, OFF,   ROUTE,  R(TOKEN_TO_UA),            H_NONE, TO_UA, OTHER_FLOW, 0, 0},
  {"5626 §9.5: token from UA, in-dialog",      OTH, 1, 1,  0,  0,  0,  1,  0,  1,   0,        ARRIVAL,    0, 0,     NONE,   R(TOKEN_FROM_UA),          H_NONE, FROM_UA, 0,        0, 0},
  {"5626 §5.3.2: token from UA, INVITE Contact;ob", INV, 0, 1, 0, 1, 0, 1,  0,  1,   0,        ARRIVAL,    0, 0,     ADD,    R(TOKEN_FROM_UA),          RR,   FROM_UA, ARRIVAL,    0, 0},
  {"5626 §5.3: UDP token naming no flow, from UA", OTH, 1, 1, 0, 0, 0, 1,  0,  1,   0,        0,          1, 0,     NONE,   R(TOKEN_FROM_UA),          H_NONE, FROM_UA, 0,        0, 0},
  {"5626 §5.3.1: UDP token naming no flow, to UA", OTH, 1, 2, 0, 0, 0, 1,  0,  1,   0,        0,          0, 0,     ROUTE,  R(TOKEN_TO_UA),            H_NONE, TO_UA, 0,          0, 0},
  {"5626 §5.3.1: tampered -> 403",             INV, 0, 2,  0,  0,  0,  1,  1,  1,   TAMPERED, 0,          0, 0,     REJECT, R(TOKEN_TAMPERED),         H_NONE, D_NONE, 0,         0, 403},
  {"5626 §5.3.1, checklist 11.8: stale -> 430", INV, 0, 2, 0,  0,  0,  1,  1,  1,   STALE,    0,          0, 0,     REJECT, R(TOKEN_STALE),            H_NONE, D_NONE, 0,         0, 430},
  {"5626 §5.3.1: malformed -> 403",            OTH, 1, 2,  0,  0,  0,  1,  0,  1,   MALFORMED, 0,         0, 0,     REJECT, R(TOKEN_MALFORMED),        H_NONE, D_NONE, 0,         0, 403},
  {"5626 §5.3: our Route, no user part",       OTH, 1, 2,  0,  0,  0,  1,  0,  0,   0,        0,          0, 0,     NONE,   R(NOT_APPLICABLE),         H_NONE, D_NONE, 0,         0, 0},
};
/* clang-format on */

static sipflow_edge_facts facts_of(const row *r) {
  sipflow_edge_facts f;
  sipflow_edge_facts_default(&f);
  f.method = r->method;
  f.to_tag = r->to_tag;
  f.via_count = r->vias;
  f.contact_reg_id = r->reg_id;
  f.contact_ob = r->contact_ob;
  f.no_supported_path = r->no_path;
  f.route_is_us = r->route_us;
  f.route_ob = r->route_ob;
  f.route_has_user = r->route_user;
  f.token_result = r->token_result;
  f.token_flow = r->token_flow;
  f.arrival_flow = ARRIVAL;
  f.token_tuple_is_arrival = r->tuple_is_arrival;
  f.force = r->force;
  return f;
}

Test(edge, the_outbound_decision_follows_rfc_5626_table) {
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    const row *r = &rows[i];
    sipflow_edge_facts f = facts_of(r);
    sipflow_edge_decision d;
    cr_assert_eq(sipflow_edge_decide(&f, &d), 0, "%s", r->cite);
    cr_expect_eq(d.action, r->action, "%s: action %s", r->cite,
                 sipflow_edge_action_name(d.action));
    cr_expect_eq(d.reason, r->reason, "%s: reason \"%s\"", r->cite,
                 sipflow_edge_reason_str(d.reason));
    cr_expect_eq(d.header, r->header, "%s: header", r->cite);
    cr_expect_eq(d.direction, r->direction, "%s: direction", r->cite);
    cr_expect_eq(d.flow, r->flow, "%s: flow", r->cite);
    cr_expect_eq(d.record_route, r->record_route, "%s: record_route", r->cite);
    cr_expect_eq(d.status, r->status, "%s: status", r->cite);
  }
}

Test(edge, direction_follows_flow_identity_not_addresses) {
  /* Kamailio PR #4280: a UA whose address changed mid-dialog. The host
   * reports the flows, whatever the addresses: the new connection from the
   * UA is the arrival flow and the token names the old one (gone: 430), or
   * the token names the arrival flow (from the UA). */
  sipflow_edge_facts f;
  sipflow_edge_decision d;
  sipflow_edge_facts_default(&f);
  f.method = SIPFLOW_EDGE_METHOD_OTHER;
  f.to_tag = 1;
  f.via_count = 1;
  f.route_is_us = f.route_has_user = 1;
  f.token_flow = f.arrival_flow = 0x700000042ull;
  cr_assert_eq(sipflow_edge_decide(&f, &d), 0);
  cr_expect_eq(d.direction, SIPFLOW_EDGE_DIR_FROM_UA);
  f.arrival_flow = 0x800000042ull; /* same slot, a later generation */
  cr_assert_eq(sipflow_edge_decide(&f, &d), 0);
  cr_expect_eq(d.direction, SIPFLOW_EDGE_DIR_TO_UA);
}

Test(edge, decide_rejects_impossible_facts) {
  sipflow_edge_facts f;
  sipflow_edge_decision d;
  sipflow_edge_facts_default(&f);
  cr_expect_eq(sipflow_edge_decide(&f, &d), SIPFLOW_ERR_INVALID_ARGUMENT,
               "no Via at all");
  f.via_count = 1;
  f.force = 3;
  cr_expect_eq(sipflow_edge_decide(&f, &d), SIPFLOW_ERR_INVALID_ARGUMENT);
  f.force = -1;
  cr_expect_eq(sipflow_edge_decide(&f, &d), SIPFLOW_ERR_INVALID_ARGUMENT);
  f.force = 0;
  cr_expect_eq(sipflow_edge_decide(NULL, &d), SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_edge_decide(&f, NULL), SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_edge_decide_versioned(2, &f, &d),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_edge_decide(&f, &d), 0);
}

Test(edge, every_reason_and_action_has_words) {
  for (int r = 0; r <= SIPFLOW_EDGE_REASON_TOKEN_MALFORMED; r++) {
    const char *s = sipflow_edge_reason_str(r);
    cr_expect(s && strlen(s) > 10 && strcmp(s, "unknown reason") != 0,
              "reason %d", r);
  }
  cr_expect_str_eq(sipflow_edge_reason_str(99), "unknown reason");
  cr_expect_str_eq(sipflow_edge_reason_str(-1), "unknown reason");
  cr_expect_str_eq(sipflow_edge_action_name(SIPFLOW_EDGE_ROUTE_FLOW),
                   "route-flow");
  cr_expect_null(sipflow_edge_action_name(5));
}

Test(edge, method_names_are_case_sensitive) {
  /* RFC 3261 §7.1: the method is case-sensitive. */
  struct {
    const char *name;
    int method;
  } m[] = {{"REGISTER", REG}, {"INVITE", INV}, {"SUBSCRIBE", SUB},
           {"REFER", REF},    {"invite", OTH}, {"INVITEX", OTH},
           {"BYE", OTH},      {"", OTH}};
  for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
    cr_expect_eq(sipflow_edge_method_parse(m[i].name, strlen(m[i].name)),
                 m[i].method, "%s", m[i].name);
  cr_expect_eq(sipflow_edge_method_parse("INVITE", 3), OTH);
  cr_expect_eq(sipflow_edge_method_parse(NULL, 0), OTH);
}

/* ---- Path / Record-Route values ------------------------------------------ */

#define TOK "AbC-_09xyzAbC-_09xyzAbC-_09xyzAbC-_09xyzAbC-_0"

Test(edge, path_and_record_route_values_are_formatted_per_rfc) {
  struct {
    const char *cite;
    const char *host;
    uint16_t port;
    uint8_t transport;
    const char *token;
    unsigned flags;
    const char *want;
  } rows_fmt[] = {
      {"5626 §5.1, 3327 §4: first-hop Path", "192.0.2.1", 5060,
       SIPFLOW_TRANSPORT_TCP, TOK, SIPFLOW_EDGE_URI_OB,
       "<sip:" TOK "@192.0.2.1:5060;transport=tcp;lr;ob>"},
      {"5626 §5.3.2: Record-Route has no ;ob", "192.0.2.1", 5060,
       SIPFLOW_TRANSPORT_TCP, TOK, 0,
       "<sip:" TOK "@192.0.2.1:5060;transport=tcp;lr>"},
      {"3261 §19.1.1: IPv6 reference in brackets", "2001:db8::1", 5061,
       SIPFLOW_TRANSPORT_TLS, TOK, SIPFLOW_EDGE_URI_OB,
       "<sip:" TOK "@[2001:db8::1]:5061;transport=tls;lr;ob>"},
      {"3261 §19.1.1: brackets given are kept once", "[2001:db8::1]", 0, 0, TOK,
       0, "<sip:" TOK "@[2001:db8::1];lr>"},
      {"5626 §9.2: host name, no port or transport", "ep1.example.com", 0, 0,
       TOK, SIPFLOW_EDGE_URI_OB, "<sip:" TOK "@ep1.example.com;lr;ob>"},
      {"7118 §5: WebSocket transport", "edge.example.net", 443,
       SIPFLOW_TRANSPORT_WSS, TOK, 0,
       "<sip:" TOK "@edge.example.net:443;transport=wss;lr>"},
      {"3261 §16.6: no token, plain Record-Route", "192.0.2.1", 5060,
       SIPFLOW_TRANSPORT_UDP, "", 0, "<sip:192.0.2.1:5060;transport=udp;lr>"},
      {"3261 §25.1: port 65535", "h", 65535, 0, TOK, 0,
       "<sip:" TOK "@h:65535;lr>"},
      {"3261 §16.7, 5630 §3.1.3: sips: facing TLS, no transport=tls",
       "192.0.2.1", 5061, SIPFLOW_TRANSPORT_TLS, TOK, SIPFLOW_EDGE_URI_SIPS,
       "<sips:" TOK "@192.0.2.1:5061;lr>"},
      {"3261 §16.7, 7118 §5: sips: facing WSS keeps transport=wss",
       "edge.example.net", 443, SIPFLOW_TRANSPORT_WSS, TOK,
       SIPFLOW_EDGE_URI_SIPS,
       "<sips:" TOK "@edge.example.net:443;transport=wss;lr>"},
      {"5630, 5626 §5.1: sips: first-hop Path with ;ob", "192.0.2.1", 5061,
       SIPFLOW_TRANSPORT_TLS, TOK, SIPFLOW_EDGE_URI_SIPS | SIPFLOW_EDGE_URI_OB,
       "<sips:" TOK "@192.0.2.1:5061;lr;ob>"},
  };
  for (size_t i = 0; i < sizeof(rows_fmt) / sizeof(rows_fmt[0]); i++) {
    sipflow_edge_local l = {{rows_fmt[i].host, strlen(rows_fmt[i].host)},
                            rows_fmt[i].port,
                            rows_fmt[i].transport};
    char buf[256];
    size_t len = 0;
    cr_assert_eq(sipflow_edge_format_uri(
                     &l, rows_fmt[i].token, strlen(rows_fmt[i].token),
                     rows_fmt[i].flags, buf, sizeof(buf), &len),
                 0, "%s", rows_fmt[i].cite);
    cr_expect_str_eq(buf, rows_fmt[i].want, "%s", rows_fmt[i].cite);
    cr_expect_eq(len, strlen(rows_fmt[i].want), "%s", rows_fmt[i].cite);
  }
}

Test(edge, format_refuses_what_would_break_the_header) {
  struct {
    const char *what;
    const char *host;
    uint8_t transport;
    const char *token;
    unsigned flags;
  } bad[] = {
      {"empty host", "", 0, TOK, 0},
      {"space in host", "a b", 0, TOK, 0},
      {"angle bracket in host", "a>b", 0, TOK, 0},
      {"semicolon in host", "a;lr", 0, TOK, 0},
      {"bad IPv6 characters", "2001:db8::g", 0, TOK, 0},
      {"brackets around a name", "[example.com]", 0, TOK, 0},
      {"half a bracket", "[2001:db8::1", 0, TOK, 0},
      {"standard base64 '+' in token", "h", 0, "ab+c", 0},
      {"'@' in token", "h", 0, "a@b", 0},
      {"escape in token", "h", 0, "a%41", 0},
      {"unknown transport", "h", 9, TOK, 0},
      {"unknown flag", "h", 0, TOK, 0x80},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    sipflow_edge_local l = {
        {bad[i].host, strlen(bad[i].host)}, 5060, bad[i].transport};
    char buf[256];
    cr_expect_eq(sipflow_edge_format_uri(&l, bad[i].token, strlen(bad[i].token),
                                         bad[i].flags, buf, sizeof(buf), NULL),
                 SIPFLOW_ERR_INVALID_ARGUMENT, "%s", bad[i].what);
  }
}

Test(edge, format_reports_a_small_buffer_exactly) {
  sipflow_edge_local l = {{"192.0.2.1", 9}, 5060, SIPFLOW_TRANSPORT_TCP};
  const char *want = "<sip:" TOK "@192.0.2.1:5060;transport=tcp;lr;ob>";
  char buf[256];
  size_t need = strlen(want);
  memset(buf, 'x', sizeof(buf));
  cr_expect_eq(sipflow_edge_format_uri(&l, TOK, strlen(TOK),
                                       SIPFLOW_EDGE_URI_OB, buf, need, NULL),
               SIPFLOW_ERR_BUFFER_TOO_SMALL);
  cr_expect_eq(buf[need], 'x', "nothing written past the buffer");
  cr_expect_eq(sipflow_edge_format_uri(&l, TOK, strlen(TOK),
                                       SIPFLOW_EDGE_URI_OB, buf, need + 1,
                                       NULL),
               0);
  cr_expect_str_eq(buf, want);
  cr_expect_eq(sipflow_edge_format_uri(NULL, TOK, 1, 0, buf, 9, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_edge_format_uri(&l, NULL, 1, 0, buf, 9, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
}

Test(edge, a_minted_token_formats_without_escaping) {
  /* RFC 3261 §25.1: the base64url alphabet is all "unreserved". */
  sipflow_ctx *ctx;
  sipflow_keyring *kr;
  uint8_t key[SIPFLOW_TOKEN_KEY_LEN] = {0};
  sipflow_flow_tuple t;
  sipflow_edge_local l = {{"::1", 3}, 5060, SIPFLOW_TRANSPORT_TCP};
  char tok[SIPFLOW_TOKEN_BUFLEN], buf[160];
  size_t len;
  memset(&t, 0, sizeof(t));
  t.transport = SIPFLOW_TRANSPORT_TCP;
  cr_assert_eq(sipflow_addr_parse(&t.local, "::1", 5060), 0);
  cr_assert_eq(sipflow_addr_parse(&t.remote, "::ffff:1.2.3.4", 5060), 0);
  cr_assert_eq(sipflow_ctx_new(&ctx, NULL, NULL, NULL, NULL), 0);
  cr_assert_eq(sipflow_keyring_new(&kr, ctx), 0);
  cr_assert_eq(sipflow_keyring_add(kr, 0, key, sizeof(key)), 0);
  for (uint32_t g = 0; g < 200; g++) {
    t.generation = g * 2654435761u;
    cr_assert_eq(sipflow_token_mint(kr, &t, tok, sizeof(tok), &len), 0);
    cr_assert_eq(sipflow_edge_format_uri(&l, tok, len, SIPFLOW_EDGE_URI_OB, buf,
                                         sizeof(buf), NULL),
                 0, "%s", tok);
  }
  sipflow_keyring_del(kr);
  sipflow_ctx_del(ctx);
}

/* ---- NAT detection
 * ------------------------------------------------------------ */

typedef struct nat_row {
  const char *cite;
  int transport;
  const char *src;
  uint16_t sport;
  const char *via; /* NULL: a host name */
  uint16_t vport;
  uint8_t rport;
  int contact; /* 0 none, 1 address, 2 host name */
  const char *ct;
  uint16_t cport;
  unsigned want;
} nat_row;

#define CP SIPFLOW_NAT_CONTACT_PRIVATE
#define VM SIPFLOW_NAT_VIA_MISMATCH
#define VP SIPFLOW_NAT_VIA_PRIVATE
#define CM SIPFLOW_NAT_CONTACT_MISMATCH
#define RP SIPFLOW_NAT_RPORT
#define CPM SIPFLOW_NAT_CONTACT_PORT_MISMATCH
#define UDP SIPFLOW_TRANSPORT_UDP
#define TCP SIPFLOW_TRANSPORT_TCP
#define WSS SIPFLOW_TRANSPORT_WSS

/* clang-format off */
static const nat_row nat_rows[] = {
  {"public UA, everything matches",              UDP, "203.0.113.5", 5060, "203.0.113.5", 5060, 0, 1, "203.0.113.5", 5060, 0},
  {"3261 §18.2.1: Via port absent means 5060",   UDP, "203.0.113.5", 5060, "203.0.113.5", 0,    0, 1, "203.0.113.5", 0,    0},
  {"1918 behind NAT: private Via and Contact",   UDP, "203.0.113.5", 40000, "192.168.1.20", 5060, 0, 1, "192.168.1.20", 5060, CP | VM | VP | CM | CPM},
  {"3581 §4: rport present",                     UDP, "203.0.113.5", 5060, "203.0.113.5", 5060, 1, 1, "203.0.113.5", 5060, RP},
  {"3581 §4: port-only NAT (public Via address)", UDP, "203.0.113.5", 61000, "203.0.113.5", 5060, 1, 1, "203.0.113.5", 5060, VM | RP | CPM},
  {"6598 §7: carrier-grade NAT 100.64/10",       UDP, "203.0.113.5", 5060, "100.64.0.1", 5060, 0, 1, "100.127.255.254", 5060, CP | VM | VP | CM},
  {"6598: 100.128.0.1 is public",                UDP, "100.128.0.1", 5060, "100.128.0.1", 5060, 0, 1, "100.128.0.1", 5060, 0},
  {"1918: 172.16/12 edges (172.31 in, 172.32 out)", UDP, "172.32.0.1", 5060, "172.32.0.1", 5060, 0, 1, "172.31.255.255", 5060, CP | CM},
  {"3927: link-local 169.254/16",                UDP, "203.0.113.5", 5060, "169.254.1.1", 5060, 0, 0, NULL, 0, VM | VP},
  {"4193: IPv6 ULA Contact",                     UDP, "2001:db8::5", 5060, "2001:db8::5", 5060, 0, 1, "fd00::5", 5060, CP | CM},
  {"4291: IPv6 link-local Via",                  UDP, "2001:db8::5", 5060, "fe80::1", 5060, 0, 0, NULL, 0, VM | VP},
  {"4291 §2.5.5.2: v4-mapped source equals IPv4 Via", UDP, "::ffff:203.0.113.5", 5060, "203.0.113.5", 5060, 0, 1, "203.0.113.5", 5060, 0},
  {"4291 §2.5.5.2: v4-mapped private Contact",   UDP, "203.0.113.5", 5060, "203.0.113.5", 5060, 0, 1, "::ffff:10.0.0.1", 5060, CP | CM},
  {"TCP: ephemeral source port is not NAT",      TCP, "203.0.113.5", 51234, "203.0.113.5", 5060, 0, 1, "203.0.113.5", 5060, 0},
  {"TCP: private Contact behind NAT",            TCP, "203.0.113.5", 51234, "10.1.2.3", 5060, 0, 1, "10.1.2.3", 5060, CP | VM | VP | CM},
  {"7118 App. B: WebSocket .invalid names",      WSS, "203.0.113.5", 51234, NULL, 0, 0, 2, NULL, 0, VM | CM},
  {"no Contact (e.g. MESSAGE)",                  UDP, "203.0.113.5", 5060, "203.0.113.5", 5060, 0, 0, NULL, 0, 0},
  {"loopback is not private",                    UDP, "127.0.0.1", 5060, "127.0.0.1", 5060, 0, 1, "127.0.0.1", 5060, 0},
};
/* clang-format on */

static sipflow_addr addr_or_name(const char *host, uint16_t port) {
  sipflow_addr a;
  memset(&a, 0, sizeof(a));
  if (host)
    cr_assert_eq(sipflow_addr_parse(&a, host, port), 0, "%s", host);
  return a;
}

Test(edge, nat_detection_flags_follow_the_table) {
  for (size_t i = 0; i < sizeof(nat_rows) / sizeof(nat_rows[0]); i++) {
    const nat_row *r = &nat_rows[i];
    sipflow_nat_facts f;
    unsigned flags = 0xdead;
    sipflow_nat_facts_default(&f);
    f.transport = (uint8_t)r->transport;
    f.source = addr_or_name(r->src, r->sport);
    f.via = addr_or_name(r->via, r->vport);
    f.via_rport = r->rport;
    f.contact = r->contact != 0;
    f.contact_addr = addr_or_name(r->ct, r->cport);
    cr_assert_eq(sipflow_nat_detect(&f, &flags), 0, "%s", r->cite);
    cr_expect_eq(flags, r->want, "%s: got 0x%x want 0x%x", r->cite, flags,
                 r->want);
    cr_expect_eq((flags & SIPFLOW_NAT_BEHIND_MASK) != 0,
                 (r->want & ~SIPFLOW_NAT_RPORT) != 0, "%s: behind", r->cite);
  }
}

Test(edge, nat_detect_needs_a_source_address) {
  sipflow_nat_facts f;
  unsigned flags;
  sipflow_nat_facts_default(&f);
  cr_expect_eq(sipflow_nat_detect(&f, &flags), SIPFLOW_ERR_INVALID_ARGUMENT);
  f.source = addr_or_name("192.0.2.1", 5060);
  cr_expect_eq(sipflow_nat_detect(&f, NULL), SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_nat_detect(NULL, &flags), SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_nat_detect_versioned(0, &f, &flags),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_nat_detect(&f, &flags), 0);
}

Test(edge, private_ranges_and_their_edges) {
  struct {
    const char *cite, *addr;
    int want;
  } p[] = {
      {"1918", "10.0.0.0", 1},
      {"1918", "10.255.255.255", 1},
      {"1918", "11.0.0.0", 0},
      {"1918", "9.255.255.255", 0},
      {"1918", "172.16.0.0", 1},
      {"1918", "172.15.255.255", 0},
      {"1918", "192.168.0.1", 1},
      {"1918", "192.169.0.1", 0},
      {"6598", "100.64.0.0", 1},
      {"6598", "100.63.255.255", 0},
      {"3927", "169.254.0.1", 1},
      {"3927", "169.253.0.1", 0},
      {"4193", "fc00::1", 1},
      {"4193", "fdff:ffff::1", 1},
      {"4193", "fe00::1", 0},
      {"4291", "fe80::1", 1},
      {"4291", "febf::1", 1},
      {"4291", "fec0::1", 0},
      {"4291", "::ffff:192.168.0.1", 1},
      {"4291", "::ffff:8.8.8.8", 0},
      {"1122", "127.0.0.1", 0},
      {"4291", "::1", 0},
      {"public", "2001:db8::1", 0},
      {"public", "8.8.8.8", 0},
  };
  for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
    sipflow_addr a = addr_or_name(p[i].addr, 0);
    cr_expect_eq(sipflow_nat_is_private(&a), p[i].want, "RFC %s: %s", p[i].cite,
                 p[i].addr);
  }
  cr_expect_eq(sipflow_nat_is_private(NULL), 0);
}
