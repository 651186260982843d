/*
 * OPTIONS keepalive requests, probe ids, and the RFC 6223 keep helpers.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "sipflow/keepalive.h"

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
  r.request_uri = "sip:alice@10.0.0.5:5062;ob";
  r.route = "<sip:edge.example.com;lr>";
  r.from_user = "ping";
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
  r.route = "<sip:x>\r\nEvil: 1";
  cr_expect_eq(sipflow_keepalive_options_build(&r, buf, sizeof(buf), &len),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  r.route = NULL;
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
