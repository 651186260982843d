/*
 * Keepalives on TLS and WebSocket flows: the WebSocket Ping probe
 * (RFC 6455 §5.5.2-§5.5.3), CRLF keepalives carried in WebSocket messages
 * (RFC 5626 §4.4.1 over RFC 7118), and the CRLF pong limit on TLS
 * (RFC 5626 §4.4.1). Time moves only by hand.
 */
#include "ka_harness.h"

#include "sipflow/responder.h"

#define S SIPFLOW_SECONDS
#define MS SIPFLOW_MILLISECONDS

static void fixture_plain(void) { ka_setup(NULL, 0); }

static int add(sipflow_flow_id id, int transport, int method,
               sipflow_duration interval) {
  sipflow_keepalive_endpoint ep = ka_ep(id, transport, method, interval);
  return sipflow_keepalive_reason_set(ka, &ep, SIPFLOW_KEEPALIVE_REGISTRATION,
                                      id, 10 * 24 * 3600 * S, now);
}

static sipflow_keepalive_stats stats(sipflow_flow_id id) {
  sipflow_keepalive_stats st;
  cr_assert_eq(sipflow_keepalive_get_stats(ka, id, &st), 0);
  return st;
}

/* RFC 6455 §5.5.2: Ping is a WebSocket control frame, so only WS and WSS
 * flows may use it; AUTO picks it there (a browser answers by itself). */
Test(ka_ws, ws_ping_is_for_websocket_flows_only, .init = fixture_plain,
     .fini = ka_teardown) {
  struct {
    int transport, rv;
  } rows[] = {
      {SIPFLOW_TRANSPORT_WS, 0},
      {SIPFLOW_TRANSPORT_WSS, 0},
      {SIPFLOW_TRANSPORT_UDP, SIPFLOW_ERR_INVALID_ARGUMENT},
      {SIPFLOW_TRANSPORT_TCP, SIPFLOW_ERR_INVALID_ARGUMENT},
      {SIPFLOW_TRANSPORT_TLS, SIPFLOW_ERR_INVALID_ARGUMENT},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
    cr_expect_eq(add(100 + i, rows[i].transport, SIPFLOW_KEEPALIVE_WS_PING, 0),
                 rows[i].rv, "row %zu", i);
  cr_assert_eq(add(1, SIPFLOW_TRANSPORT_WSS, SIPFLOW_KEEPALIVE_AUTO, 0), 0);
  cr_assert_eq(add(2, SIPFLOW_TRANSPORT_WS, SIPFLOW_KEEPALIVE_AUTO, 0), 0);
  cr_expect_eq(stats(1).method, SIPFLOW_KEEPALIVE_WS_PING);
  cr_expect_eq(stats(2).method, SIPFLOW_KEEPALIVE_WS_PING);
  cr_expect_eq(stats(1).interval, 120 * S); /* a stream: RFC 5626 §4.4.1 */
  /* CRLF inside WebSocket messages stays available by choice. */
  cr_expect_eq(add(3, SIPFLOW_TRANSPORT_WS, SIPFLOW_KEEPALIVE_CRLF, 0), 0);
}

/* RFC 6455 §5.5.3: the Pong carries the Ping's payload; it gives the RTT. */
Test(ka_ws, ws_pong_with_the_ping_payload_gives_an_rtt, .init = fixture_plain,
     .fini = ka_teardown) {
  sipflow_tstamp t0 = now;
  sipflow_keepalive_counters c;
  uint8_t payload[8];
  cr_assert_eq(add(1, SIPFLOW_TRANSPORT_WSS, 0, 30 * S), 0);
  ka_step();
  cr_assert_eq(R.nsends, 1);
  cr_expect_eq(ka_last_send()->method, SIPFLOW_KEEPALIVE_WS_PING);
  cr_assert_eq(ka_last_send()->len, 8);
  memcpy(payload, ka_last_send()->data, 8);
  for (int i = 0; i < 8; i++)
    cr_expect_eq(payload[i],
                 (uint8_t)(ka_last_send()->probe_id >> (56 - 8 * i)));
  cr_expect_eq(sipflow_ctx_get_expiry(ctx), t0 + 10 * S);
  now = t0 + 35 * MS;
  /* A Pong with another payload (an unsolicited heartbeat) is not the
   * answer. */
  uint8_t other[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  cr_expect_eq(sipflow_keepalive_on_ws_pong(ka, 1, other, 8, now),
               SIPFLOW_ERR_STALE);
  cr_expect_eq(sipflow_keepalive_on_ws_pong(ka, 1, NULL, 0, now),
               SIPFLOW_ERR_STALE);
  cr_expect_eq(sipflow_keepalive_on_ws_pong(ka, 1, payload, 7, now),
               SIPFLOW_ERR_STALE);
  cr_expect_eq(R.nrtt, 0);
  cr_assert_eq(sipflow_keepalive_on_ws_pong(ka, 1, payload, 8, now), 0);
  cr_expect_eq(R.nrtt, 1);
  cr_expect_eq(R.rtt, 35 * MS);
  cr_expect_eq(stats(1).health, SIPFLOW_HEALTH_ALIVE);
  cr_expect_eq(stats(1).last_rtt, 35 * MS);
  /* The same Pong again is late: counted, ignored. */
  cr_expect_eq(sipflow_keepalive_on_ws_pong(ka, 1, payload, 8, now),
               SIPFLOW_ERR_STALE);
  cr_expect_eq(sipflow_keepalive_on_ws_pong(ka, 9, payload, 8, now),
               SIPFLOW_ERR_NOT_FOUND);
  cr_expect_eq(sipflow_keepalive_on_ws_pong(ka, 1, NULL, 3, now),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  sipflow_keepalive_get_counters(ka, &c);
  cr_expect_eq(c.probes_sent[SIPFLOW_KEEPALIVE_WS_PING], 1);
  cr_expect_eq(c.probes_answered, 1);
  cr_expect_eq(c.unexpected_pongs, 4);
  /* The next Ping carries a new payload: the old Pong cannot answer it. */
  ka_run_until(t0 + 24 * S);
  cr_assert_eq(R.nsends, 2);
  cr_expect_neq(memcmp(ka_last_send()->data, payload, 8), 0);
  cr_expect_eq(sipflow_keepalive_on_ws_pong(ka, 1, payload, 8, now),
               SIPFLOW_ERR_STALE);
}

/* A CRLF pong is not a WebSocket Pong, and the other way round. */
Test(ka_ws, crlf_pong_does_not_answer_a_ws_ping, .init = fixture_plain,
     .fini = ka_teardown) {
  cr_assert_eq(add(1, SIPFLOW_TRANSPORT_WS, 0, 30 * S), 0);
  cr_assert_eq(add(2, SIPFLOW_TRANSPORT_WS, SIPFLOW_KEEPALIVE_CRLF, 30 * S), 0);
  ka_step();
  cr_assert_eq(R.nsends, 2);
  cr_expect_eq(sipflow_keepalive_on_pong(ka, 1, now), SIPFLOW_ERR_STALE);
  cr_expect_not(sipflow_keepalive_awaiting_pong(ka, 1));
  cr_expect(sipflow_keepalive_awaiting_pong(ka, 2));
  uint8_t any[8] = {0};
  cr_expect_eq(sipflow_keepalive_on_ws_pong(ka, 2, any, 8, now),
               SIPFLOW_ERR_STALE);
}

/* RFC 5626 §4.4.1's 10 s limit applies to WebSocket Pings too: misses make
 * the flow suspect, then dead. */
Test(ka_ws, ws_ping_without_pong_in_ten_seconds_is_missed,
     .init = fixture_plain, .fini = ka_teardown) {
  sipflow_tstamp t0 = now;
  cr_assert_eq(add(1, SIPFLOW_TRANSPORT_WSS, 0, 30 * S), 0);
  ka_run_until(t0 + 10 * S - 1);
  cr_expect_eq(R.nstate, 0);
  ka_run_until(t0 + 10 * S);
  cr_assert_eq(R.nstate, 1);
  cr_expect_eq(R.events[0], SIPFLOW_KEEPALIVE_SUSPECT);
  ka_run_until(t0 + 58 * S);
  cr_expect_eq(R.events[R.nstate - 1], SIPFLOW_KEEPALIVE_DEAD);
}

/* RFC 5626 §4.4.1: TLS flows are kept with CRLF pings, and a pong must come
 * within 10 s. */
Test(ka_ws, tls_flows_use_crlf_with_the_ten_second_pong_limit,
     .init = fixture_plain, .fini = ka_teardown) {
  sipflow_tstamp t0 = now;
  cr_assert_eq(add(1, SIPFLOW_TRANSPORT_TLS, 0, 0), 0);
  cr_expect_eq(stats(1).method, SIPFLOW_KEEPALIVE_CRLF);
  cr_expect_eq(stats(1).interval, 120 * S);
  ka_step();
  cr_assert_eq(R.nsends, 1);
  cr_expect_eq(memcmp(ka_last_send()->data, "\r\n\r\n", 4), 0);
  cr_expect_eq(sipflow_ctx_get_expiry(ctx), t0 + 10 * S);
  ka_run_until(t0 + 10 * S);
  cr_expect_eq(R.events[0], SIPFLOW_KEEPALIVE_SUSPECT);
}

/* RFC 7118 §5 carries one SIP message per WebSocket message; a CRLF
 * keepalive inside one is answered as on TCP (RFC 5626 §4.4.1). */
Test(ka_ws, websocket_messages_are_sorted) {
  struct {
    const char *data;
    size_t len;
    int kind;
  } rows[] = {
      {"\r\n\r\n", 4, SIPFLOW_WS_MESSAGE_CRLF_PING}, /* RFC 5626 §4.4.1 */
      {"\r\n", 2, SIPFLOW_WS_MESSAGE_CRLF_PONG},     /* §4.4.1 */
      {"", 0, SIPFLOW_WS_MESSAGE_BLANK},
      {"\r\n\r\n\r\n", 6, SIPFLOW_WS_MESSAGE_BLANK},
      {" \t", 2, SIPFLOW_WS_MESSAGE_BLANK},
      {"REGISTER sip:a SIP/2.0\r\n", 24, SIPFLOW_WS_MESSAGE_SIP}, /* RFC 7118 */
      {"\r\nOPTIONS sip:a SIP/2.0\r\n", 25, SIPFLOW_WS_MESSAGE_SIP},
      {"\0\0\0\0", 4, SIPFLOW_WS_MESSAGE_GARBAGE}, /* no UDP ping here */
      {"\x00\x01\x00\x00\x21\x12\xa4\x42", 8, SIPFLOW_WS_MESSAGE_GARBAGE},
      {"{\"a\":1}", 7, SIPFLOW_WS_MESSAGE_GARBAGE},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
    cr_expect_eq(
        sipflow_ws_message_classify((const uint8_t *)rows[i].data, rows[i].len),
        rows[i].kind, "row %zu", i);
  cr_expect_eq(sipflow_ws_message_classify(NULL, 0), SIPFLOW_WS_MESSAGE_BLANK);
  cr_expect_str_eq(sipflow_ws_message_name(SIPFLOW_WS_MESSAGE_CRLF_PING),
                   "crlf-ping");
  cr_expect_null(sipflow_ws_message_name(5));
  cr_expect_str_eq(sipflow_keepalive_method_name(SIPFLOW_KEEPALIVE_WS_PING),
                   "ws-ping");
}

/* The peer's CRLF in a WebSocket message feeds a PASSIVE watch as on TCP. */
Test(ka_ws, crlf_keepalive_in_a_ws_message_restarts_a_passive_watch,
     .init = fixture_plain, .fini = ka_teardown) {
  sipflow_tstamp t0 = now;
  cr_assert_eq(add(1, SIPFLOW_TRANSPORT_WS, SIPFLOW_KEEPALIVE_PASSIVE, 30 * S),
               0);
  ka_run_until(t0 + 30 * S);
  cr_assert_eq(sipflow_ws_message_classify((const uint8_t *)"\r\n\r\n", 4),
               SIPFLOW_WS_MESSAGE_CRLF_PING);
  cr_assert_eq(sipflow_keepalive_on_peer_keepalive(ka, 1, now), 0);
  ka_run_until(t0 + 69 * S);
  cr_expect_eq(R.nstate, 1); /* alive only */
  cr_expect_eq(stats(1).health, SIPFLOW_HEALTH_ALIVE);
}
