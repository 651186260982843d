/*
 * OPTIONS keepalive requests, probe ids, and the RFC 6223 keep helpers.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipflow/keepalive.h"

/* A string literal as a sipflow_str. */
#define LIT(s) ((sipflow_str){(s), sizeof(s) - 1})

static sipflow_keepalive_options_request
req_for(int transport, const char *local, const char *remote) {
  sipflow_keepalive_options_request r;
  sipflow_keepalive_options_request_default(&r);
  r.probe_id = 0x0000002a1234abcdull;
  r.transport = (uint8_t)transport;
  sipflow_addr_parse(&r.local, local, 5060);
  sipflow_addr_parse(&r.remote, remote, 40000);
  return r;
}

Test(ka_options, udp_request_is_complete_and_carries_the_id) {
  sipflow_keepalive_options_request r =
      req_for(SIPFLOW_TRANSPORT_UDP, "192.0.2.1", "198.51.100.7");
  char buf[SIPFLOW_KEEPALIVE_OPTIONS_MAX];
  size_t len;
  const char *want =
      "OPTIONS sip:198.51.100.7:40000 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKsfka0000002a1234abcd;"
      "rport\r\n"
      "Max-Forwards: 70\r\n"
      "From: <sip:keepalive@192.0.2.1:5060>;tag=sfka0000002a1234abcd\r\n"
      "To: <sip:198.51.100.7:40000>\r\n"
      "Call-ID: sfka0000002a1234abcd@192.0.2.1:5060\r\n"
      "CSeq: 1 OPTIONS\r\n"
      "Content-Length: 0\r\n\r\n";
  cr_assert_eq(sipflow_keepalive_options_build(&r, buf, sizeof(buf), &len), 0);
  cr_expect_eq(len, strlen(want));
  cr_expect_eq(memcmp(buf, want, len), 0, "%.*s", (int)len, buf);
}

Test(ka_options, stream_request_names_its_transport_and_takes_overrides) {
  sipflow_keepalive_options_request r =
      req_for(SIPFLOW_TRANSPORT_TLS, "2001:db8::1", "2001:db8::99");
  char buf[SIPFLOW_KEEPALIVE_OPTIONS_MAX];
  size_t len;
  cr_assert_eq(sipflow_keepalive_options_build(&r, buf, sizeof(buf), &len), 0);
  buf[len] = 0;
  cr_expect_not_null(strstr(
      buf, "OPTIONS sip:[2001:db8::99]:40000;transport=tls SIP/2.0\r\n"));
  cr_expect_not_null(
      strstr(buf, "Via: SIP/2.0/TLS [2001:db8::1]:5060;branch="));
  cr_expect_null(strstr(buf, "rport"));
  /* A registrar pinging through an edge: the Contact URI and the Path as
   * Route (Kamailio #2447), Max-Forwards 0 for the next hop (RFC 3261 §11). */
  r.request_uri = LIT("sip:alice@10.0.0.5:5062;ob");
  r.route = LIT("<sip:edge.example.com;lr>");
  r.from_user = LIT("ping");
  r.max_forwards = 0;
  cr_assert_eq(sipflow_keepalive_options_build(&r, buf, sizeof(buf), &len), 0);
  buf[len] = 0;
  cr_expect_not_null(strstr(buf, "OPTIONS sip:alice@10.0.0.5:5062;ob SIP/2.0"));
  cr_expect_not_null(strstr(buf, "\r\nRoute: <sip:edge.example.com;lr>\r\n"));
  cr_expect_not_null(strstr(buf, "\r\nMax-Forwards: 0\r\n"));
  cr_expect_not_null(strstr(buf, "From: <sip:ping@[2001:db8::1]:5060>"));
}

Test(ka_options, bad_requests_and_small_buffers_are_refused) {
  sipflow_keepalive_options_request r =
      req_for(SIPFLOW_TRANSPORT_TCP, "192.0.2.1", "198.51.100.7");
  char buf[SIPFLOW_KEEPALIVE_OPTIONS_MAX];
  size_t len;
  cr_expect_eq(sipflow_keepalive_options_build(&r, buf, 100, &len),
               SIPFLOW_ERR_BUFFER_TOO_SMALL);
  r.route = LIT("<sip:x>\r\nEvil: 1");
  cr_expect_eq(sipflow_keepalive_options_build(&r, buf, sizeof(buf), &len),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  r.route = (sipflow_str){NULL, 0};
  r.transport = 0;
  cr_expect_eq(sipflow_keepalive_options_build(&r, buf, sizeof(buf), &len),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  r.transport = SIPFLOW_TRANSPORT_TCP;
  r.local.family = 0;
  cr_expect_eq(sipflow_keepalive_options_build(&r, buf, sizeof(buf), &len),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_keepalive_options_build(NULL, buf, sizeof(buf), &len),
               SIPFLOW_ERR_INVALID_ARGUMENT);
}

Test(ka_options, the_longest_default_request_fits_the_documented_room) {
  sipflow_keepalive_options_request r =
      req_for(SIPFLOW_TRANSPORT_SCTP, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe",
              "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffd");
  char buf[SIPFLOW_KEEPALIVE_OPTIONS_MAX];
  size_t len;
  r.local.port = r.remote.port = 65535;
  r.probe_id = UINT64_MAX;
  cr_expect_eq(sipflow_keepalive_options_build(&r, buf, sizeof(buf), &len), 0);
}

Test(ka_options, probe_ids_are_read_back_from_tags_and_branches) {
  uint64_t id;
  cr_assert_eq(
      sipflow_keepalive_probe_id_parse("sfka0000002a1234abcd", 20, &id), 0);
  cr_expect_eq(id, 0x2a1234abcdull);
  cr_assert_eq(
      sipflow_keepalive_probe_id_parse("z9hG4bKsfkaFFFFFFFFFFFFFFFF", 27, &id),
      0);
  cr_expect_eq(id, UINT64_MAX);
  /* Tags of other requests, truncated or with stray characters. */
  const char *bad[] = {"sfka0000002a1234abc",  "sfka0000002a1234abcde",
                       "xfka0000002a1234abcd", "sfka0000002a1234abcg",
                       "z9hG4bK776asdhds",     ""};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    cr_expect_eq(sipflow_keepalive_probe_id_parse(bad[i], strlen(bad[i]), &id),
                 SIPFLOW_ERR_MALFORMED, "%s", bad[i]);
  cr_expect_eq(sipflow_keepalive_probe_id_parse(NULL, 0, &id),
               SIPFLOW_ERR_INVALID_ARGUMENT);
}

/* The text the builder wrote when it was one snprintf: the reference the
 * memcpy-based writer must match byte for byte. */
static int reference(const sipflow_keepalive_options_request *r, char *out,
                     size_t cap) {
  static const char *const via[] = {NULL,   "UDP", "TCP", "TLS",
                                    "SCTP", "WS",  "WSS"};
  char local[64], remote[64], ruri[128];
  unsigned long long id = (unsigned long long)r->probe_id;
  sipflow_addr_format(&r->local, local, sizeof(local));
  sipflow_addr_format(&r->remote, remote, sizeof(remote));
  if (r->transport == SIPFLOW_TRANSPORT_UDP)
    snprintf(ruri, sizeof(ruri), "sip:%s", remote);
  else
    snprintf(ruri, sizeof(ruri), "sip:%s;transport=%s", remote,
             sipflow_transport_name(r->transport));
  return snprintf(
      out, cap,
      "OPTIONS %.*s SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=z9hG4bKsfka%016llx%s"
      "\r\n%s%.*s%sMax-Forwards: %u\r\nFrom: <sip:%.*s@%s>;tag=sfka%016llx\r\n"
      "To: <sip:%s>\r\nCall-ID: sfka%016llx@%s\r\nCSeq: 1 OPTIONS\r\n"
      "Content-Length: 0\r\n\r\n",
      r->request_uri.len ? (int)r->request_uri.len : (int)strlen(ruri),
      r->request_uri.len ? r->request_uri.ptr : ruri, via[r->transport], local,
      id, r->transport == SIPFLOW_TRANSPORT_UDP ? ";rport" : "",
      r->route.len ? "Route: " : "", (int)r->route.len,
      r->route.len ? r->route.ptr : "", r->route.len ? "\r\n" : "",
      (unsigned)r->max_forwards, r->from_user.len ? (int)r->from_user.len : 9,
      r->from_user.len ? r->from_user.ptr : "keepalive", local, id, remote, id,
      local);
}

Test(ka_options, the_text_is_what_the_format_string_wrote) {
  static const struct {
    int transport;
    const char *local, *remote;
    uint16_t lport, rport;
    uint64_t id;
  } rows[] = {
      {SIPFLOW_TRANSPORT_UDP, "0.0.0.0", "255.255.255.255", 0, 65535, 0},
      {SIPFLOW_TRANSPORT_UDP, "10.0.0.1", "127.100.3.249", 5060, 9, 1},
      {SIPFLOW_TRANSPORT_TCP, "192.168.100.200", "1.2.3.4", 5061, 10, 0xff},
      {SIPFLOW_TRANSPORT_WSS, "::1", "2001:db8::99", 443, 40000, UINT64_MAX},
      {SIPFLOW_TRANSPORT_WS, "::ffff:10.1.2.3", "fe80::1", 80, 100, 7},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    sipflow_keepalive_options_request r =
        req_for(rows[i].transport, rows[i].local, rows[i].remote);
    char got[SIPFLOW_KEEPALIVE_OPTIONS_MAX],
        want[SIPFLOW_KEEPALIVE_OPTIONS_MAX];
    size_t len;
    int n;
    r.local.port = rows[i].lport;
    r.remote.port = rows[i].rport;
    r.probe_id = rows[i].id;
    r.max_forwards = (uint8_t)(i * 60);
    if (i == 2) {
      r.route = LIT("<sip:edge.example.com;lr>");
      r.from_user = LIT("ping");
      r.request_uri = LIT("sip:alice@10.0.0.5:5062;ob");
    }
    n = reference(&r, want, sizeof(want));
    cr_assert_eq(sipflow_keepalive_options_build(&r, got, sizeof(got), &len), 0,
                 "row %zu", i);
    cr_expect_eq(len, (size_t)n, "row %zu", i);
    cr_expect_str_eq(got, want, "row %zu", i); /* NUL-terminated too */
    /* Exactly the room it needs, the NUL included; one byte less fails. */
    cr_expect_eq(sipflow_keepalive_options_build(&r, got, len + 1, &len), 0);
    cr_expect_eq(sipflow_keepalive_options_build(&r, got, len, &len),
                 SIPFLOW_ERR_BUFFER_TOO_SMALL, "row %zu", i);
  }
}

/* ---- recognising answers before a SIP parser ---------------------------- */

#define OURS "z9hG4bKsfka0000002a1234abcd"
#define HEAD200 "SIP/2.0 200 OK\r\n"
#define VIA "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=" OURS ";rport=5060\r\n"
#define REST                                                                   \
  "From: <sip:keepalive@192.0.2.1:5060>;tag=sfka0000002a1234abcd\r\n"          \
  "To: <sip:198.51.100.7:40000>;tag=x\r\n"                                     \
  "Call-ID: sfka0000002a1234abcd@192.0.2.1:5060\r\n"                           \
  "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"

typedef struct answer_row {
  const char *why;
  const char *msg;
  int rv;
  unsigned status;
} answer_row;

Test(ka_options, answers_are_recognised_only_in_their_plain_form) {
  static const answer_row rows[] = {
      {"the usual 200", HEAD200 VIA REST, 0, 200},
      {"RFC 3261 §7.3.3: compact Via, any header case, received added",
       "SIP/2.0 486 Busy Here\r\nv: SIP/2.0/UDP 192.0.2.1:5060;received=1.2."
       "3.4;BRANCH=" OURS "\r\ncseq:  7 OPTIONS \r\n\r\n",
       0, 486},
      {"§11.2: a body (SDP) after the header is not read",
       HEAD200 VIA "CSeq: 1 OPTIONS\r\nContent-Type: application/sdp\r\n"
                   "Content-Length: 5\r\n\r\nv=0\r\n",
       0, 200},
      {"§7.3.1: spaces before the colon",
       HEAD200 "Via : SIP/2.0/UDP h;branch=" OURS
               "\r\nCSeq\t: 1 OPTIONS\r\n\r\n",
       0, 200},
      {"provisional: given to the scheduler, which waits",
       "SIP/2.0 100 Trying\r\n" VIA REST, 0, 100},
      {"§18.1.2: a second Via means not ours",
       HEAD200 VIA "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx\r\n" REST,
       SIPFLOW_ERR_NOT_FOUND, 0},
      {"two Via values on one line",
       HEAD200 "Via: SIP/2.0/UDP h;branch=" OURS ", SIP/2.0/UDP g\r\n" REST,
       SIPFLOW_ERR_NOT_FOUND, 0},
      {"someone else's branch",
       HEAD200 "Via: SIP/2.0/UDP h;branch=z9hG4bK776asdhds\r\n" REST,
       SIPFLOW_ERR_NOT_FOUND, 0},
      {"our id without the cookie is not a branch we wrote",
       HEAD200 "Via: SIP/2.0/UDP h;branch=sfka0000002a1234abcd\r\n" REST,
       SIPFLOW_ERR_NOT_FOUND, 0},
      {"the id in another parameter",
       HEAD200 "Via: SIP/2.0/UDP h;xbranch=" OURS "\r\n" REST,
       SIPFLOW_ERR_NOT_FOUND, 0},
      {"spaces around '=': left to the full parser",
       HEAD200 "Via: SIP/2.0/UDP h;branch = " OURS "\r\n" REST,
       SIPFLOW_ERR_NOT_FOUND, 0},
      {"§20.16: the answer to a REGISTER",
       HEAD200 VIA "CSeq: 1 REGISTER\r\n\r\n", SIPFLOW_ERR_NOT_FOUND, 0},
      {"methods are case-sensitive", HEAD200 VIA "CSeq: 1 options\r\n\r\n",
       SIPFLOW_ERR_NOT_FOUND, 0},
      {"CSeq without a number", HEAD200 VIA "CSeq: OPTIONS\r\n\r\n",
       SIPFLOW_ERR_NOT_FOUND, 0},
      {"two CSeqs", HEAD200 VIA "CSeq: 1 OPTIONS\r\nCSeq: 1 OPTIONS\r\n\r\n",
       SIPFLOW_ERR_NOT_FOUND, 0},
      {"no CSeq", HEAD200 VIA "\r\n", SIPFLOW_ERR_NOT_FOUND, 0},
      {"no Via", HEAD200 "CSeq: 1 OPTIONS\r\n\r\n", SIPFLOW_ERR_NOT_FOUND, 0},
      {"§7.3.1: a folded line is left to the full parser",
       HEAD200 VIA "Subject: a\r\n b\r\n" REST, SIPFLOW_ERR_NOT_FOUND, 0},
      {"bare LF line ends",
       "SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=" OURS
       "\nCSeq: 1 OPTIONS\n\n",
       SIPFLOW_ERR_NOT_FOUND, 0},
      {"a bare CR inside a line", HEAD200 "X: a\rb\r\n" VIA REST,
       SIPFLOW_ERR_NOT_FOUND, 0},
      {"cut before the blank line", HEAD200 VIA "CSeq: 1 OPTIONS\r\n",
       SIPFLOW_ERR_NOT_FOUND, 0},
      {"a line without a colon", HEAD200 VIA "garbage\r\n" REST,
       SIPFLOW_ERR_NOT_FOUND, 0},
      {"a request", "OPTIONS sip:x SIP/2.0\r\n" VIA REST, SIPFLOW_ERR_NOT_FOUND,
       0},
      {"status out of range", "SIP/2.0 700 Huh\r\n" VIA REST,
       SIPFLOW_ERR_NOT_FOUND, 0},
      {"a two-digit status", "SIP/2.0 20 OK\r\n" VIA REST,
       SIPFLOW_ERR_NOT_FOUND, 0},
      {"another SIP version", "SIP/3.0 200 OK\r\n" VIA REST,
       SIPFLOW_ERR_NOT_FOUND, 0},
      {"empty", "", SIPFLOW_ERR_NOT_FOUND, 0},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    const char *m = rows[i].msg;
    uint64_t id = 0;
    unsigned st = 0;
    int rv = sipflow_keepalive_options_response_parse((const uint8_t *)m,
                                                      strlen(m), &id, &st);
    cr_expect_eq(rv, rows[i].rv, "%s", rows[i].why);
    if (rows[i].rv == 0) {
      cr_expect_eq(id, 0x0000002a1234abcdull, "%s", rows[i].why);
      cr_expect_eq(st, rows[i].status, "%s", rows[i].why);
    }
  }
}

Test(ka_options, every_prefix_of_an_answer_is_read_within_its_length) {
  static const char full[] = HEAD200 VIA REST;
  uint64_t id;
  unsigned st;
  /* Each prefix in a buffer of exactly its size: ASan sees any overread. */
  for (size_t n = 0; n < sizeof(full) - 1; n++) {
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, full, n);
    cr_expect_eq(sipflow_keepalive_options_response_parse(copy, n, &id, &st),
                 SIPFLOW_ERR_NOT_FOUND, "prefix %zu", n);
    free(copy);
  }
  cr_expect_eq(sipflow_keepalive_options_response_parse(
                   (const uint8_t *)full, sizeof(full) - 1, &id, &st),
               0);
  cr_expect_eq(sipflow_keepalive_options_response_parse(NULL, 0, &id, &st),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_keepalive_options_response_parse(
                   (const uint8_t *)full, sizeof(full) - 1, NULL, &st),
               SIPFLOW_ERR_INVALID_ARGUMENT);
}

Test(ka_options, a_built_request_answered_by_echoing_its_via_is_recognised) {
  sipflow_keepalive_options_request r =
      req_for(SIPFLOW_TRANSPORT_UDP, "192.0.2.1", "198.51.100.7");
  char req[SIPFLOW_KEEPALIVE_OPTIONS_MAX], resp[1024];
  const char *via, *end;
  size_t len;
  uint64_t id;
  unsigned st;
  int n;
  cr_assert_eq(sipflow_keepalive_options_build(&r, req, sizeof(req), &len), 0);
  via = strstr(req, "Via: ");
  end = strstr(via, "\r\n");
  n = snprintf(resp, sizeof(resp),
               "SIP/2.0 200 OK\r\n%.*s;received=1.2.3.4"
               "\r\nCSeq: 1 OPTIONS\r\n\r\n",
               (int)(end - via), via);
  cr_assert_eq(sipflow_keepalive_options_response_parse((const uint8_t *)resp,
                                                        (size_t)n, &id, &st),
               0);
  cr_expect_eq(id, r.probe_id);
  cr_expect_eq(st, 200);
}

/* ---- RFC 6223
 * ----------------------------------------------------------------- */

Test(ka_keep, keep_values_parse_per_the_abnf) {
  int has;
  uint32_t v;
  /* §8.2: keep = "keep" [EQUAL 1*DIGIT] */
  cr_expect_eq(sipflow_keep_parse(NULL, 0, &has, &v), 0);
  cr_expect_eq(has, 0);
  cr_expect_eq(sipflow_keep_parse("30", 2, &has, &v), 0);
  cr_expect_eq(has, 1);
  cr_expect_eq(v, 30);
  cr_expect_eq(sipflow_keep_parse("0", 1, &has, &v), 0);
  cr_expect_eq(has, 1);
  cr_expect_eq(v, 0);
  cr_expect_eq(sipflow_keep_parse("4294967295", 10, &has, &v), 0);
  cr_expect_eq(v, UINT32_MAX);
  cr_expect_eq(sipflow_keep_parse("4294967296", 10, &has, &v),
               SIPFLOW_ERR_TOO_LARGE);
  cr_expect_eq(sipflow_keep_parse("-1", 2, &has, &v), SIPFLOW_ERR_MALFORMED);
  cr_expect_eq(sipflow_keep_parse("3 0", 3, &has, &v), SIPFLOW_ERR_MALFORMED);
}

typedef struct keep_row {
  const char *rule;
  int has_keep, willing;
  uint32_t interval, flow_timer;
  int rv;
  uint32_t value;
} keep_row;

Test(ka_keep, the_response_value_follows_rfc6223) {
  keep_row rows[] = {
      {"§4.4: no keep in the request, nothing to answer", 0, 1, 30, 0, 0, 0},
      {"§4.4: not willing to receive keepalives", 1, 0, 30, 0, 0, 0},
      {"§4.4, §5: recommended interval", 1, 1, 30, 0, 1, 30},
      {"§5: 0 leaves the interval to the sender", 1, 1, 0, 0, 1, 0},
      {"§5: equal to a Flow-Timer in the same message", 1, 1, 30, 120, 1, 120},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    uint32_t v = 999;
    int rv =
        sipflow_keep_response_value(rows[i].has_keep, rows[i].willing,
                                    rows[i].interval, rows[i].flow_timer, &v);
    cr_expect_eq(rv, rows[i].rv, "%s", rows[i].rule);
    if (rv == 1)
      cr_expect_eq(v, rows[i].value, "%s", rows[i].rule);
  }
  cr_expect_eq(sipflow_keep_response_value(1, 1, 1, 1, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
}

Test(ka_keep, a_negotiated_value_becomes_the_interval_like_flow_timer) {
  /* RFC 6223 §5: a nonzero value is used like Flow-Timer. */
  cr_expect_eq(sipflow_keep_interval(45, SIPFLOW_TRANSPORT_UDP),
               45 * SIPFLOW_SECONDS);
  /* 0: RFC 5626's defaults, 120 s streams (§4.4.1), 29 s UDP (§4.4.2). */
  cr_expect_eq(sipflow_keep_interval(0, SIPFLOW_TRANSPORT_TCP),
               120 * SIPFLOW_SECONDS);
  cr_expect_eq(sipflow_keep_interval(0, SIPFLOW_TRANSPORT_UDP),
               29 * SIPFLOW_SECONDS);
  cr_expect_eq(sipflow_keep_interval(100000, SIPFLOW_TRANSPORT_UDP),
               6553 * SIPFLOW_SECONDS);
}
