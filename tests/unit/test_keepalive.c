/*
 * The keepalive scheduler: probes, timing, round-trip times, misses, STUN
 * transactions, passive watch, the rate cap and the timing wheel. Time moves
 * only by hand.
 */
#include "ka_harness.h"

#define S SIPFLOW_SECONDS
#define MS SIPFLOW_MILLISECONDS

static void fixture_plain(void) { ka_setup(NULL, 0); }
static void fixture_random(void) { ka_setup(NULL, 1); }

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

/* A Binding success answering the last STUN request sent. */
static size_t stun_answer(uint8_t *buf, const char *host, uint16_t port) {
  const ka_send *s = ka_last_send();
  sipflow_addr a;
  size_t len;
  cr_assert_eq(s->method, SIPFLOW_KEEPALIVE_STUN);
  sipflow_addr_parse(&a, host, port);
  cr_assert_eq(sipflow_stun_encode_success(buf, 64, s->data + 8, &a, 0, &len),
               0);
  return len;
}

/* ---- creation -------------------------------------------------------------
 */

Test(keepalive, new_rejects_bad_arguments_and_settings) {
  sipflow_ctx *c;
  sipflow_keepalive *k = (sipflow_keepalive *)1;
  sipflow_keepalive_callbacks cb = {0};
  sipflow_keepalive_settings s;
  cr_assert_eq(sipflow_ctx_new(&c, NULL, NULL, NULL, NULL), 0);
  cr_expect_eq(sipflow_keepalive_new(&k, c, &cb, NULL, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT); /* send_probe is required */
  cr_expect_null(k);
  cb.send_probe = (sipflow_keepalive_send_cb)1;
  cr_expect_eq(sipflow_keepalive_new(NULL, c, &cb, NULL, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_keepalive_new(&k, NULL, &cb, NULL, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_keepalive_new_versioned(&k, c, 2, &cb, 1, NULL, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  sipflow_keepalive_settings_default(&s);
  s.stun_rc = 0;
  cr_expect_eq(sipflow_keepalive_new(&k, c, &cb, &s, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  sipflow_keepalive_settings_default(&s);
  s.dead_after = 0;
  cr_expect_eq(sipflow_keepalive_new(&k, c, &cb, &s, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  sipflow_keepalive_settings_default(&s);
  s.udp_interval = 0;
  cr_expect_eq(sipflow_keepalive_new(&k, c, &cb, &s, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  sipflow_keepalive_settings_default(&s);
  s.options_not_alive[0] = 77;
  cr_expect_eq(sipflow_keepalive_new(&k, c, &cb, &s, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  sipflow_keepalive_settings_default(&s);
  cr_expect_eq(sipflow_keepalive_new(&k, c, &cb, &s, NULL), 0);
  sipflow_keepalive_del(k);
  sipflow_keepalive_del(NULL);
  sipflow_ctx_del(c);
}

Test(keepalive, settings_default_to_the_rfc_values) {
  sipflow_keepalive_settings s;
  memset(&s, 0xee, sizeof(s));
  sipflow_keepalive_settings_default(&s);
  cr_expect_eq(s.udp_interval, 29 * S);     /* RFC 5626 §4.4.2 */
  cr_expect_eq(s.stream_interval, 120 * S); /* §4.4.1 */
  cr_expect_eq(s.pong_timeout, 10 * S);     /* §4.4.1 */
  cr_expect_eq(s.stun_rto, 500 * MS);       /* RFC 5389 §7.2.1 */
  cr_expect_eq(s.stun_rc, 7);
  cr_expect_eq(s.stun_rm, 16);
  cr_expect_eq(s.dead_after, 3);
  cr_expect_eq(s.max_probes_per_second, 0);
  cr_expect_eq(s.options_not_alive[0], 0);
}

/* RFC 5626 §4.4.1-§4.4.2: which method each transport allows. */
Test(keepalive, endpoint_methods_follow_the_transport, .init = fixture_plain,
     .fini = ka_teardown) {
  struct {
    int transport, method, rv;
  } rows[] = {
      {SIPFLOW_TRANSPORT_TCP, SIPFLOW_KEEPALIVE_CRLF, 0}, /* §4.4.1 */
      {SIPFLOW_TRANSPORT_UDP, SIPFLOW_KEEPALIVE_CRLF,
       SIPFLOW_ERR_INVALID_ARGUMENT},                     /* §4.4.1 */
      {SIPFLOW_TRANSPORT_UDP, SIPFLOW_KEEPALIVE_STUN, 0}, /* §4.4.2 */
      {SIPFLOW_TRANSPORT_TLS, SIPFLOW_KEEPALIVE_STUN,
       SIPFLOW_ERR_INVALID_ARGUMENT},                       /* §4.4.2 */
      {SIPFLOW_TRANSPORT_WS, SIPFLOW_KEEPALIVE_OPTIONS, 0}, /* any */
      {SIPFLOW_TRANSPORT_TCP, SIPFLOW_KEEPALIVE_UDP_PING,
       SIPFLOW_ERR_INVALID_ARGUMENT},                           /* UDP only */
      {SIPFLOW_TRANSPORT_SCTP, SIPFLOW_KEEPALIVE_PASSIVE, 0},   /* any */
      {SIPFLOW_TRANSPORT_UDP, 9, SIPFLOW_ERR_INVALID_ARGUMENT}, /* unknown */
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
    cr_expect_eq(add(100 + i, rows[i].transport, rows[i].method, 0), rows[i].rv,
                 "row %zu", i);
  /* AUTO: CRLF on streams, STUN on UDP. */
  cr_assert_eq(add(1, SIPFLOW_TRANSPORT_TLS, SIPFLOW_KEEPALIVE_AUTO, 0), 0);
  cr_assert_eq(add(2, SIPFLOW_TRANSPORT_UDP, SIPFLOW_KEEPALIVE_AUTO, 0), 0);
  cr_expect_eq(stats(1).method, SIPFLOW_KEEPALIVE_CRLF);
  cr_expect_eq(stats(2).method, SIPFLOW_KEEPALIVE_STUN);
  cr_expect_eq(stats(1).interval, 120 * S);
  cr_expect_eq(stats(2).interval, 29 * S);
  /* Intervals are kept in 100 ms steps from 100 ms to 6553.5 s. */
  cr_expect_eq(add(3, SIPFLOW_TRANSPORT_UDP, 0, 10 * MS),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(add(4, SIPFLOW_TRANSPORT_UDP, 0, 7000 * S),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(add(0, SIPFLOW_TRANSPORT_UDP, 0, 0),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(add(5, SIPFLOW_TRANSPORT_UDP, 0, 1234 * MS), 0);
  cr_expect_eq(stats(5).interval, 1200 * MS);
}

/* ---- CRLF, misses and RTT
 * ----------------------------------------------------- */

Test(keepalive, crlf_ping_waits_ten_seconds_for_its_pong, .init = fixture_plain,
     .fini = ka_teardown) {
  sipflow_tstamp t0 = now;
  cr_assert_eq(add(1, SIPFLOW_TRANSPORT_TCP, 0, 30 * S), 0);
  /* Without a rand callback the first probe goes at once. */
  cr_expect_eq(sipflow_ctx_get_expiry(ctx), t0);
  ka_step();
  cr_assert_eq(R.nsends, 1);
  cr_expect_eq(ka_last_send()->len, 4);
  cr_expect_eq(memcmp(ka_last_send()->data, "\r\n\r\n", 4), 0);
  cr_expect(sipflow_keepalive_awaiting_pong(ka, 1));
  cr_expect_eq(sipflow_ctx_get_expiry(ctx), t0 + 10 * S); /* §4.4.1 */
  now = t0 + 80 * MS;
  cr_assert_eq(sipflow_keepalive_on_pong(ka, 1, now), 0);
  cr_expect_not(sipflow_keepalive_awaiting_pong(ka, 1));
  cr_expect_eq(R.nrtt, 1);
  cr_expect_eq(R.rtt, 80 * MS);
  cr_expect_eq(stats(1).health, SIPFLOW_HEALTH_ALIVE);
  /* The next wait runs from the send: 0.8 x 30 s with zero randomness. */
  cr_expect_eq(sipflow_ctx_get_expiry(ctx), t0 + 24 * S);
  /* A second pong with no ping in flight is counted and ignored. */
  cr_expect_eq(sipflow_keepalive_on_pong(ka, 1, now), SIPFLOW_ERR_STALE);
  sipflow_keepalive_counters c;
  sipflow_keepalive_get_counters(ka, &c);
  cr_expect_eq(c.unexpected_pongs, 1);
  cr_expect_eq(c.probes_sent[SIPFLOW_KEEPALIVE_CRLF], 1);
  cr_expect_eq(c.probes_answered, 1);
  cr_expect_eq(sipflow_keepalive_on_pong(ka, 99, now), SIPFLOW_ERR_NOT_FOUND);
}

Test(keepalive, misses_make_suspect_then_dead_and_an_answer_revives,
     .init = fixture_plain, .fini = ka_teardown) {
  sipflow_tstamp t0 = now;
  sipflow_keepalive_counters c;
  cr_assert_eq(add(1, SIPFLOW_TRANSPORT_TCP, 0, 30 * S), 0);
  ka_run_until(t0 + 10 * S); /* ping at 0, no pong by 10 s */
  cr_assert_eq(R.nstate, 1);
  cr_expect_eq(R.events[0], SIPFLOW_KEEPALIVE_SUSPECT);
  cr_expect_eq(R.change.old_health, SIPFLOW_HEALTH_UNKNOWN);
  cr_expect_eq(R.change.consecutive_misses, 1);
  ka_run_until(t0 + 34 * S); /* ping at 24 s, missed at 34 s: still suspect */
  cr_expect_eq(R.nstate, 1);
  cr_expect_eq(stats(1).consecutive_misses, 2);
  ka_run_until(t0 + 58 * S); /* third miss: dead (dead_after 3) */
  cr_assert_eq(R.nstate, 2);
  cr_expect_eq(R.events[1], SIPFLOW_KEEPALIVE_DEAD);
  cr_expect_eq(R.change.health, SIPFLOW_HEALTH_DEAD);
  cr_expect_eq(R.change.consecutive_misses, 3);
  cr_expect_eq(stats(1).probes_missed, 3);
  cr_expect_eq(stats(1).probes_sent, 3);
  /* A dead endpoint is still probed; an answer brings it back. */
  ka_run_until(t0 + 72 * S);
  cr_expect_eq(R.nsends, 4);
  cr_assert_eq(sipflow_keepalive_on_pong(ka, 1, now), 0);
  cr_expect_eq(R.events[2], SIPFLOW_KEEPALIVE_ALIVE);
  cr_expect_eq(R.change.old_health, SIPFLOW_HEALTH_DEAD);
  cr_expect_eq(stats(1).consecutive_misses, 0);
  sipflow_keepalive_get_counters(ka, &c);
  cr_expect_eq(c.suspects, 1);
  cr_expect_eq(c.deaths, 1);
  cr_expect_eq(c.revivals, 1);
  cr_expect_eq(c.probes_missed, 3);
}

Test(keepalive, rtt_follows_rfc6298, .init = fixture_plain,
     .fini = ka_teardown) {
  sipflow_tstamp t0 = now;
  sipflow_keepalive_stats st;
  cr_assert_eq(add(1, SIPFLOW_TRANSPORT_TCP, 0, 30 * S), 0);
  ka_step();
  now = t0 + 80 * MS;
  sipflow_keepalive_on_pong(ka, 1, now);
  st = stats(1);
  /* First sample: SRTT = R, RTTVAR = R/2 (RFC 6298 §2.2). */
  cr_expect_eq(st.last_rtt, 80 * MS);
  cr_expect_eq(st.srtt, 80 * MS);
  cr_expect_eq(st.rttvar, 40 * MS);
  ka_run_until(t0 + 24 * S);
  now = t0 + 24 * S + 160 * MS;
  sipflow_keepalive_on_pong(ka, 1, now);
  st = stats(1);
  /* RTTVAR = 3/4 * 40 + 1/4 * |80 - 160| = 50; SRTT = 7/8 * 80 + 1/8 * 160
   * = 90 (§2.3, RTTVAR first, from the old SRTT). */
  cr_expect_eq(st.last_rtt, 160 * MS);
  cr_expect_eq(st.rttvar, 50 * MS);
  cr_expect_eq(st.srtt, 90 * MS);
  cr_expect_eq(st.min_rtt, 80 * MS);
  cr_expect_eq(st.max_rtt, 160 * MS);
  cr_expect_eq(st.last_sent, t0 + 24 * S);
  cr_expect_eq(st.last_answer, now);
  cr_expect_eq(st.probes_answered, 2);
  cr_expect_eq(st.probes_missed, 0);
  cr_expect_eq(R.nrtt, 2);
}

Test(keepalive, send_failure_is_a_miss_at_once, .init = fixture_plain,
     .fini = ka_teardown) {
  sipflow_keepalive_counters c;
  R.send_rv = -1;
  cr_assert_eq(add(1, SIPFLOW_TRANSPORT_TCP, 0, 30 * S), 0);
  ka_step();
  cr_expect_eq(R.nstate, 1);
  cr_expect_eq(R.events[0], SIPFLOW_KEEPALIVE_SUSPECT);
  cr_expect_not(stats(1).probe_in_flight);
  sipflow_keepalive_get_counters(ka, &c);
  cr_expect_eq(c.send_failures, 1);
}

Test(keepalive, flow_failed_makes_dead_at_once, .init = fixture_plain,
     .fini = ka_teardown) {
  cr_assert_eq(add(1, SIPFLOW_TRANSPORT_TCP, 0, 30 * S), 0);
  cr_assert_eq(sipflow_keepalive_flow_failed(ka, 1, now), 0);
  cr_expect_eq(R.events[0], SIPFLOW_KEEPALIVE_DEAD);
  cr_expect_eq(stats(1).consecutive_misses, 3);
  cr_expect_eq(sipflow_keepalive_flow_failed(ka, 2, now),
               SIPFLOW_ERR_NOT_FOUND);
  cr_expect_eq(sipflow_keepalive_flow_failed(ka, 1, now - 1),
               SIPFLOW_ERR_TIME_BACKWARDS);
}

Test(keepalive, removing_the_endpoint_inside_its_state_callback_is_safe,
     .init = fixture_plain, .fini = ka_teardown) {
  cr_assert_eq(add(1, SIPFLOW_TRANSPORT_TCP, 0, 30 * S), 0);
  cr_assert_eq(add(2, SIPFLOW_TRANSPORT_TCP, 0, 30 * S), 0);
  R.remove_in_state = 1;
  ka_run_until(now + 10 * S);
  cr_expect_eq(R.nremoved, 1);
  cr_expect_eq(R.removed_flow, 1);
  cr_expect_eq(R.removed_why, SIPFLOW_KEEPALIVE_REMOVED_HOST);
  cr_expect_eq(sipflow_keepalive_count(ka), 1);
  ka_run_until(now + 100 * S);
  cr_expect_eq(sipflow_keepalive_count(ka), 1);
}

Test(keepalive, inside_its_callback_only_callback_safe_calls_are_taken,
     .init = fixture_plain, .fini = ka_teardown) {
  /* docs/guide.md, re-entrancy: every keepalive function is callback-safe
   * (removing the endpoint works, above); the context's handle_expiry is not
   * and gives BAD_STATE from inside on_state. */
  cr_assert_eq(add(1, SIPFLOW_TRANSPORT_TCP, 0, 30 * S), 0);
  R.expiry_in_state = 1;
  R.remove_in_state = 1;
  ka_run_until(now + 10 * S);
  cr_expect_eq(R.nstate, 1);
  cr_expect_eq(R.expiry_rv, SIPFLOW_ERR_BAD_STATE);
  cr_expect_eq(sipflow_keepalive_count(ka), 0);
}

/* ---- STUN
 * ------------------------------------------------------------------------- */

Test(keepalive, stun_retransmits_at_doubling_rto_then_fails,
     .init = fixture_plain, .fini = ka_teardown) {
  sipflow_tstamp t0 = now;
  /* RFC 5389 §7.2.1: Rc = 7 requests at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s,
   * failure Rm = 16 RTOs after the last, 39.5 s (checklist 8.11, 11.3). */
  const sipflow_duration at[] = {0,         500 * MS,   1500 * MS, 3500 * MS,
                                 7500 * MS, 15500 * MS, 31500 * MS};
  uint8_t txid[12];
  cr_assert_eq(add(1, SIPFLOW_TRANSPORT_UDP, 0, 29 * S), 0);
  for (int i = 0; i < 7; i++) {
    ka_step();
    cr_assert_eq(R.nsends, (size_t)i + 1);
    cr_expect_eq(ka_last_send()->at, t0 + at[i], "request %d", i);
    cr_expect_eq(ka_last_send()->attempt, (uint32_t)i);
    cr_expect_eq(ka_last_send()->len, 20);
    if (i == 0)
      memcpy(txid, ka_last_send()->data + 8, 12);
    else /* retransmissions reuse the transaction id (§6) */
      cr_expect_eq(memcmp(txid, ka_last_send()->data + 8, 12), 0);
  }
  cr_expect_eq(R.nstate, 0);
  cr_expect_eq(sipflow_ctx_get_expiry(ctx), t0 + 39500 * MS);
  ka_step();
  cr_expect_eq(R.events[0], SIPFLOW_KEEPALIVE_SUSPECT);
  /* 39.5 s is past the 23.2 s wait: the next transaction starts at once,
   * with a new id (checklist 11.4). */
  cr_assert_eq(R.nsends, 8);
  cr_expect_eq(ka_last_send()->at, t0 + 39500 * MS);
  cr_expect_eq(ka_last_send()->attempt, 0);
  cr_expect_neq(memcmp(txid, ka_last_send()->data + 8, 12), 0);
  sipflow_keepalive_counters c;
  sipflow_keepalive_get_counters(ka, &c);
  cr_expect_eq(c.stun_retransmissions, 6);
  cr_expect_eq(c.probes_sent[SIPFLOW_KEEPALIVE_STUN], 2);
}

Test(keepalive, karn_no_rtt_from_a_retransmitted_transaction,
     .init = fixture_plain, .fini = ka_teardown) {
  uint8_t b[64];
  size_t n;
  sipflow_tstamp t0 = now;
  cr_assert_eq(add(1, SIPFLOW_TRANSPORT_UDP, 0, 29 * S), 0);
  ka_step();
  ka_step(); /* the first retransmission, at 0.5 s */
  cr_assert_eq(ka_last_send()->attempt, 1);
  n = stun_answer(b, "192.0.2.200", 4000);
  now = t0 + 600 * MS;
  cr_assert_eq(sipflow_keepalive_on_stun(ka, 1, b, n, now), 0);
  cr_expect_eq(R.nrtt, 0); /* RFC 5389 §7.2.1, checklist 8.13 */
  cr_expect_eq(stats(1).srtt, 0);
  cr_expect_eq(stats(1).health, SIPFLOW_HEALTH_ALIVE);
  cr_expect_eq(stats(1).probes_answered, 1);
  /* Next transaction, answered before any retransmission: a sample. */
  ka_run_until(t0 + 23200 * MS);
  cr_assert_eq(ka_last_send()->attempt, 0);
  n = stun_answer(b, "192.0.2.200", 4000);
  now += 30 * MS;
  cr_assert_eq(sipflow_keepalive_on_stun(ka, 0, b, n, now), 0);
  cr_expect_eq(R.nrtt, 1);
  cr_expect_eq(R.rtt, 30 * MS);
}

Test(keepalive, changed_mapped_address_is_reported_as_rebound,
     .init = fixture_plain, .fini = ka_teardown) {
  uint8_t b[64];
  size_t n;
  sipflow_addr want;
  cr_assert_eq(add(1, SIPFLOW_TRANSPORT_UDP, 0, 10 * S), 0);
  for (int i = 0; i < 3; i++) {
    ka_run_until(sipflow_ctx_get_expiry(ctx));
    n = stun_answer(b, "192.0.2.200", i < 2 ? 4000 : 4001);
    cr_assert_eq(sipflow_keepalive_on_stun(ka, 1, b, n, now), 0);
  }
  /* ALIVE after the first answer, nothing for the same mapping, then
   * REBOUND when the port changed (RFC 5626 §4.4.2, checklist 1.2.10). */
  cr_assert_eq(R.nstate, 2);
  cr_expect_eq(R.events[0], SIPFLOW_KEEPALIVE_ALIVE);
  cr_expect_eq(R.events[1], SIPFLOW_KEEPALIVE_REBOUND);
  sipflow_addr_parse(&want, "192.0.2.200", 4001);
  cr_expect(sipflow_addr_equal(&R.mapped, &want));
  cr_expect_eq(R.change.health, SIPFLOW_HEALTH_ALIVE);
  sipflow_keepalive_counters c;
  sipflow_keepalive_get_counters(ka, &c);
  cr_expect_eq(c.rebinds, 1);
}

Test(keepalive, stun_answers_that_do_not_fit_are_refused_with_codes,
     .init = fixture_plain, .fini = ka_teardown) {
  uint8_t b[128], bad[64], big[700] = {0};
  size_t n;
  sipflow_keepalive_counters c;
  cr_assert_eq(add(1, SIPFLOW_TRANSPORT_UDP, 0, 10 * S), 0);
  cr_assert_eq(add(2, SIPFLOW_TRANSPORT_UDP, 0, 10 * S), 0);
  ka_step();                          /* both send now */
  n = stun_answer(b, "192.0.2.9", 9); /* answers flow 2's request */
  memcpy(bad, b, n);
  bad[19] ^= 1; /* wrong transaction id */
  cr_expect_eq(sipflow_keepalive_on_stun(ka, 0, bad, n, now),
               SIPFLOW_ERR_NOT_FOUND);
  cr_expect_eq(sipflow_keepalive_on_stun(ka, 1, b, n, now),
               SIPFLOW_ERR_NOT_FOUND); /* right id, wrong flow */
  cr_expect_eq(sipflow_keepalive_on_stun(ka, 0, b, 19, now),
               SIPFLOW_ERR_MALFORMED); /* truncated */
  bad[4] = 0;                          /* bad cookie */
  cr_expect_eq(sipflow_keepalive_on_stun(ka, 0, bad, n, now),
               SIPFLOW_ERR_MALFORMED);
  memcpy(big, b, n);
  cr_expect_eq(sipflow_keepalive_on_stun(ka, 0, big, 600, now),
               SIPFLOW_ERR_TOO_LARGE);
  cr_expect_eq(sipflow_keepalive_on_stun(ka, 2, b, n, now), 0);
  /* The same answer again: that transaction is over. */
  cr_expect_eq(sipflow_keepalive_on_stun(ka, 2, b, n, now), SIPFLOW_ERR_STALE);
  sipflow_keepalive_get_counters(ka, &c);
  cr_expect_eq(c.rejected_answers, 6);
  cr_expect_eq(c.probes_answered, 1);
}

Test(keepalive, stun_error_or_addressless_answer_fails_the_probe,
     .init = fixture_plain, .fini = ka_teardown) {
  uint8_t b[128];
  size_t n;
  const ka_send *s;
  uint16_t unk = 0x7001;
  cr_assert_eq(add(1, SIPFLOW_TRANSPORT_UDP, 0, 10 * S), 0);
  ka_step();
  s = ka_last_send();
  /* An error response fails the transaction (RFC 5389 §7.3.4). */
  cr_assert_eq(
      sipflow_stun_encode_error(b, sizeof(b), s->data + 8, 500, NULL, 0, 0, &n),
      0);
  cr_expect_eq(sipflow_keepalive_on_stun(ka, 1, b, n, now), 0);
  cr_expect_eq(R.events[0], SIPFLOW_KEEPALIVE_SUSPECT);
  cr_expect_eq(stats(1).probes_missed, 1);
  /* A success without an address fails it too (§7.3.3). */
  ka_run_until(sipflow_ctx_get_expiry(ctx));
  s = ka_last_send();
  memcpy(b, s->data, 20);
  b[0] = 0x01;
  b[1] = 0x01;
  cr_expect_eq(sipflow_keepalive_on_stun(ka, 1, b, 20, now),
               SIPFLOW_ERR_MALFORMED);
  cr_expect_eq(stats(1).probes_missed, 2);
  /* Unknown comprehension-required attributes fail it (§7.3.3). */
  ka_run_until(sipflow_ctx_get_expiry(ctx));
  s = ka_last_send();
  cr_assert_eq(
      sipflow_stun_encode_error(b, sizeof(b), s->data + 8, 420, &unk, 1, 0, &n),
      0);
  b[21] = 0x05; /* rename ERROR-CODE to an unknown required type */
  cr_expect_eq(sipflow_keepalive_on_stun(ka, 1, b, n, now),
               SIPFLOW_ERR_UNSUPPORTED);
  cr_expect_eq(stats(1).probes_missed, 3);
  cr_expect_eq(R.events[1], SIPFLOW_KEEPALIVE_DEAD);
  /* A request is not an answer. */
  cr_expect_eq(sipflow_keepalive_on_stun(ka, 1, ka_last_send()->data, 20, now),
               SIPFLOW_ERR_UNSUPPORTED);
}

/* ---- OPTIONS, UDP ping, passive
 * ------------------------------------------------ */

static uint64_t id_in_tag(const ka_send *s) {
  const char *text = (const char *)s->data, *tag;
  uint64_t id;
  cr_assert_lt(s->len, sizeof(s->data));
  tag = strstr(text, ";tag=");
  cr_assert_not_null(tag);
  cr_assert_eq(sipflow_keepalive_probe_id_parse(tag + 5, 20, &id), 0);
  return id;
}

Test(keepalive, options_probe_id_comes_back_with_any_code,
     .init = fixture_plain, .fini = ka_teardown) {
  sipflow_tstamp t0 = now;
  uint64_t id;
  cr_assert_eq(add(1, SIPFLOW_TRANSPORT_UDP, SIPFLOW_KEEPALIVE_OPTIONS, 30 * S),
               0);
  ka_step();
  cr_assert_eq(ka_last_send()->method, SIPFLOW_KEEPALIVE_OPTIONS);
  id = ka_last_send()->probe_id;
  cr_expect_neq(id, 0);
  cr_expect_eq(memcmp(ka_last_send()->data, "OPTIONS sip:", 12), 0);
  cr_expect_eq(id_in_tag(ka_last_send()), id);
  cr_expect_eq(sipflow_ctx_get_expiry(ctx), t0 + 10 * S);
  now = t0 + 50 * MS;
  /* A provisional response is not final; a wrong id is nobody's. */
  cr_expect_eq(sipflow_keepalive_on_options_response(ka, id, 100, now), 0);
  cr_expect(stats(1).probe_in_flight);
  cr_expect_eq(sipflow_keepalive_on_options_response(ka, id ^ 1, 200, now),
               SIPFLOW_ERR_NOT_FOUND);
  cr_expect_eq(sipflow_keepalive_on_options_response(ka, id, 99, now),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  /* Any final code proves the path (RFC 3261 §11.2, checklist 1.4.2). */
  cr_expect_eq(sipflow_keepalive_on_options_response(ka, id, 404, now), 0);
  cr_expect_eq(stats(1).health, SIPFLOW_HEALTH_ALIVE);
  cr_expect_eq(R.rtt, 50 * MS);
  cr_expect_eq(sipflow_keepalive_on_options_response(ka, id, 200, now),
               SIPFLOW_ERR_STALE);
  /* Each probe has its own id. */
  ka_run_until(t0 + 24 * S);
  cr_expect_neq(ka_last_send()->probe_id, id);
  cr_expect_eq(sipflow_keepalive_on_options_response(ka, id, 200, now),
               SIPFLOW_ERR_STALE);
}

Test(keepalive, options_answer_read_late_times_its_arrival,
     .init = fixture_plain, .fini = ka_teardown) {
  sipflow_tstamp t0 = now;
  sipflow_keepalive_stats st;
  uint64_t id;
  cr_assert_eq(add(1, SIPFLOW_TRANSPORT_UDP, SIPFLOW_KEEPALIVE_OPTIONS, 30 * S),
               0);
  ka_step();
  id = ka_last_send()->probe_id;
  /* Arrived 3 ms after the send, read 400 ms after it: the RTT is 3 ms. */
  now = t0 + 400 * MS;
  cr_expect_eq(
      sipflow_keepalive_on_options_response_at(ka, id, 200, now, t0 + 3 * MS),
      0);
  cr_expect_eq(R.rtt, 3 * MS);
  cr_assert_eq(sipflow_keepalive_get_stats(ka, 1, &st), 0);
  cr_expect_eq(st.last_rtt, 3 * MS);
  cr_expect_eq(st.last_answer, t0 + 3 * MS);
  cr_expect_eq(st.health, SIPFLOW_HEALTH_ALIVE);
  /* A receive time the scheduler cannot believe (before the send, after
   * now, 0) counts as now. */
  ka_step();
  id = ka_last_send()->probe_id;
  t0 = now;
  now = t0 + 20 * MS;
  cr_expect_eq(sipflow_keepalive_on_options_response_at(ka, id, 200, now, 1),
               0);
  cr_expect_eq(R.rtt, 20 * MS);
  ka_step();
  id = ka_last_send()->probe_id;
  t0 = now;
  now = t0 + 7 * MS;
  cr_expect_eq(
      sipflow_keepalive_on_options_response_at(ka, id, 200, now, now + 5 * MS),
      0);
  cr_expect_eq(R.rtt, 7 * MS);
  cr_expect_eq(sipflow_keepalive_on_options_response_at(ka, id, 200, now, 0),
               SIPFLOW_ERR_STALE);
}

/* The request of a probe as text, for strstr. */
static const char *sent_text(void) {
  static char text[sizeof(((ka_send *)0)->data) + 1];
  const ka_send *k = ka_last_send();
  memcpy(text, k->data, k->len);
  text[k->len] = '\0';
  return text;
}

Test(keepalive, an_endpoint_s_own_request_uri_replaces_the_default_one,
     .init = fixture_plain, .fini = ka_teardown) {
  /* A Contact URI as the Request-URI (RFC 3261 §11: an OPTIONS may be sent
   * to any URI); the library keeps its own copy. */
  char uri[SIPFLOW_KEEPALIVE_MAX_REQUEST_URI + 1];
  sipflow_keepalive_endpoint ep =
      ka_ep(1, SIPFLOW_TRANSPORT_UDP, SIPFLOW_KEEPALIVE_OPTIONS, 30 * S);
  sipflow_keepalive_endpoint out;
  sipflow_keepalive_saved_reason saved[2];
  uint64_t cursor = 0;
  size_t n;
  const char *want;
  snprintf(uri, sizeof(uri), "sip:alice@198.51.100.7:5070;ob");
  ep.request_uri.ptr = uri;
  ep.request_uri.len = strlen(uri);
  cr_assert_eq(sipflow_keepalive_reason_set(
                   ka, &ep, SIPFLOW_KEEPALIVE_REGISTRATION, 1, 3600 * S, now),
               0);
  memset(uri, 'x', sizeof(uri)); /* copied: the host's buffer is free */
  ka_step();
  cr_assert_eq(ka_last_send()->method, SIPFLOW_KEEPALIVE_OPTIONS);
  want = "OPTIONS sip:alice@198.51.100.7:5070;ob SIP/2.0\r\n";
  cr_expect(strncmp(sent_text(), want, strlen(want)) == 0, "%s", sent_text());
  /* The probe id still comes back in the tag. */
  cr_expect_eq(id_in_tag(ka_last_send()), ka_last_send()->probe_id);
  /* Export gives the copy back. */
  cr_assert_eq(sipflow_keepalive_export_next(ka, &cursor, &out, saved, 2, &n,
                                             1700000000, now),
               0);
  cr_expect_eq(out.request_uri.len, 30);
  cr_expect(out.request_uri.ptr &&
            memcmp(out.request_uri.ptr, "sip:alice@198.51.100.7:5070;ob", 30) ==
                0);
  /* A description without one returns to sip:remote. */
  ep.request_uri.ptr = NULL;
  ep.request_uri.len = 0;
  cr_assert_eq(sipflow_keepalive_reason_set(
                   ka, &ep, SIPFLOW_KEEPALIVE_REGISTRATION, 1, 3600 * S, now),
               0);
  ka_run_until(now + 31 * S);
  cr_expect(strncmp(sent_text(), "OPTIONS sip:", 12) == 0 &&
                !strstr(sent_text(), "alice"),
            "%s", sent_text());
  /* The longest one fits the probe; longer, or with a space or CR, is
   * refused and changes nothing. */
  memset(uri, 'a', sizeof(uri));
  memcpy(uri, "sip:", 4);
  ep.request_uri.ptr = uri;
  ep.request_uri.len = SIPFLOW_KEEPALIVE_MAX_REQUEST_URI;
  cr_expect_eq(sipflow_keepalive_reason_set(
                   ka, &ep, SIPFLOW_KEEPALIVE_REGISTRATION, 1, 3600 * S, now),
               0);
  ka_run_until(now + 31 * S);
  cr_expect_gt(ka_last_send()->len, SIPFLOW_KEEPALIVE_MAX_REQUEST_URI);
  cr_expect_eq(
      memcmp(ka_last_send()->data + 8, uri, SIPFLOW_KEEPALIVE_MAX_REQUEST_URI),
      0);
  ep.request_uri.len = SIPFLOW_KEEPALIVE_MAX_REQUEST_URI + 1;
  cr_expect_eq(sipflow_keepalive_reason_set(
                   ka, &ep, SIPFLOW_KEEPALIVE_REGISTRATION, 2, 3600 * S, now),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  ep.request_uri.ptr = "sip:a b";
  ep.request_uri.len = 7;
  cr_expect_eq(sipflow_keepalive_reason_set(
                   ka, &ep, SIPFLOW_KEEPALIVE_REGISTRATION, 2, 3600 * S, now),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  ep.request_uri.ptr = "sip:a\r\nX: y";
  ep.request_uri.len = 12;
  cr_expect_eq(sipflow_keepalive_reason_set(
                   ka, &ep, SIPFLOW_KEEPALIVE_REGISTRATION, 2, 3600 * S, now),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(stats(1).reasons, 1);
}

Test(keepalive, options_codes_configured_as_not_alive_are_misses) {
  sipflow_keepalive_settings s;
  sipflow_keepalive_settings_default(&s);
  s.options_not_alive[0] = 408;
  s.options_not_alive[1] = 5; /* every 5xx */
  ka_setup(&s, 0);
  cr_assert_eq(add(1, SIPFLOW_TRANSPORT_TCP, SIPFLOW_KEEPALIVE_OPTIONS, 30 * S),
               0);
  ka_step();
  cr_expect_eq(sipflow_keepalive_on_options_response(
                   ka, ka_last_send()->probe_id, 408, now),
               0);
  cr_expect_eq(stats(1).health, SIPFLOW_HEALTH_SUSPECT);
  ka_run_until(sipflow_ctx_get_expiry(ctx));
  cr_expect_eq(sipflow_keepalive_on_options_response(
                   ka, ka_last_send()->probe_id, 503, now),
               0);
  cr_expect_eq(stats(1).consecutive_misses, 2);
  ka_run_until(sipflow_ctx_get_expiry(ctx));
  cr_expect_eq(sipflow_keepalive_on_options_response(
                   ka, ka_last_send()->probe_id, 486, now),
               0);
  cr_expect_eq(stats(1).health, SIPFLOW_HEALTH_ALIVE);
  ka_teardown();
}

Test(keepalive, udp_ping_is_fire_and_forget, .init = fixture_plain,
     .fini = ka_teardown) {
  sipflow_tstamp t0 = now;
  sipflow_keepalive_stats st;
  cr_assert_eq(
      add(1, SIPFLOW_TRANSPORT_UDP, SIPFLOW_KEEPALIVE_UDP_PING, 20 * S), 0);
  ka_run_until(t0 + 60 * S);
  /* At 0, 16, 32 and 48 s: no answer awaited, never a miss. */
  cr_expect_eq(R.nsends, 4);
  cr_expect_eq(ka_last_send()->len, 4);
  cr_expect_eq(memcmp(ka_last_send()->data, "\0\0\0\0", 4), 0);
  cr_expect_eq(ka_last_send()->at, t0 + 48 * S);
  st = stats(1);
  cr_expect_not(st.probe_in_flight);
  cr_expect_eq(st.health, SIPFLOW_HEALTH_UNKNOWN);
  cr_expect_eq(st.probes_sent, 4);
  cr_expect_eq(st.probes_missed, 0);
  cr_expect_eq(R.nstate, 0);
}

Test(keepalive, passive_watch_allows_flow_timer_plus_grace,
     .init = fixture_plain, .fini = ka_teardown) {
  sipflow_tstamp t0 = now;
  sipflow_keepalive_stats st;
  /* The UA was told Flow-Timer 30; grace is 10 s (RFC 5626 §4.4: wait
   * longer than Flow-Timer). */
  cr_assert_eq(add(1, SIPFLOW_TRANSPORT_TCP, SIPFLOW_KEEPALIVE_PASSIVE, 30 * S),
               0);
  cr_expect_eq(sipflow_ctx_get_expiry(ctx), t0 + 40 * S);
  now = t0 + 20 * S;
  cr_assert_eq(sipflow_keepalive_on_peer_keepalive(ka, 1, now), 0);
  cr_expect_eq(R.events[0], SIPFLOW_KEEPALIVE_ALIVE);
  cr_expect_eq(sipflow_ctx_get_expiry(ctx), t0 + 60 * S);
  ka_run_until(t0 + 60 * S - 1);
  cr_expect_eq(R.nstate, 1);
  ka_run_until(t0 + 60 * S);
  cr_assert_eq(R.nstate, 2);
  cr_expect_eq(R.events[1], SIPFLOW_KEEPALIVE_DEAD); /* no retries */
  now = t0 + 65 * S;
  cr_assert_eq(sipflow_keepalive_on_peer_keepalive(ka, 1, now), 0);
  cr_expect_eq(R.events[2], SIPFLOW_KEEPALIVE_ALIVE);
  st = stats(1);
  cr_expect_eq(st.probes_sent, 0);
  cr_expect_eq(st.probes_answered, 2);
  cr_expect_eq(st.probes_missed, 1);
  cr_expect_eq(st.last_answer, t0 + 65 * S);
  cr_expect_eq(R.nsends, 0);
  /* For a probed endpoint a peer keepalive is only counted. */
  cr_assert_eq(add(2, SIPFLOW_TRANSPORT_TCP, 0, 30 * S), 0);
  cr_expect_eq(sipflow_keepalive_on_peer_keepalive(ka, 2, now), 0);
  cr_expect_eq(stats(2).health, SIPFLOW_HEALTH_UNKNOWN);
}

/* ---- timing: jitter, spreading, the rate cap
 * ---------------------------------- */

Test(keepalive, each_wait_is_80_to_100_percent_of_the_interval,
     .init = fixture_random, .fini = ka_teardown) {
  sipflow_tstamp prev = 0;
  sipflow_duration min = UINT64_MAX, max = 0, sum = 0;
  const int n = 3000;
  R.answer_pong = 1;
  cr_assert_eq(add(1, SIPFLOW_TRANSPORT_TCP, 0, 10 * S), 0);
  for (int i = 0; i <= n; i++) {
    size_t before = R.nsends;
    ka_step();
    cr_assert_eq(R.nsends, before + 1, "step %d at %llu", i,
                 (unsigned long long)(now - 1000 * S));
    if (i > 0) {
      sipflow_duration d = now - prev;
      cr_assert_geq(d, 8 * S, "wait %d", i);
      cr_assert_leq(d, 10 * S, "wait %d", i);
      min = d < min ? d : min;
      max = d > max ? d : max;
      sum += d;
    }
    prev = now;
  }
  /* RFC 5626 §4.4: uniform over the whole range. */
  cr_expect_lt(min, 8 * S + 20 * MS);
  cr_expect_gt(max, 10 * S - 20 * MS);
  cr_expect_lt(sum / n, 9 * S + 50 * MS);
  cr_expect_gt(sum / n, 9 * S - 50 * MS);
}

Test(keepalive, first_probes_spread_over_the_interval, .init = fixture_random,
     .fini = ka_teardown) {
  enum { N = 9000 };
  static sipflow_tstamp first[N + 1];
  sipflow_tstamp t0 = now;
  size_t bins[10] = {0};
  R.answer_pong = 1;
  for (sipflow_flow_id i = 1; i <= N; i++)
    cr_assert_eq(add(i, SIPFLOW_TRANSPORT_TCP, 0, 10 * S), 0);
  while (sipflow_ctx_get_expiry(ctx) < t0 + 10 * S) {
    size_t before = R.nsends;
    ka_step();
    for (size_t k = before; k < R.nsends; k++) {
      const ka_send *s = &R.sends[k % KA_MAX_SENDS];
      if (!first[s->flow])
        first[s->flow] = s->at;
    }
  }
  for (sipflow_flow_id i = 1; i <= N; i++) {
    cr_assert_neq(first[i], 0, "flow %llu never probed", (unsigned long long)i);
    uint64_t b = (first[i] - t0) / S;
    bins[b < 10 ? b : 9]++;
  }
  /* The steady state's forward-recurrence law: flat over [0, 8 s) with
   * density 1/9 s per second, then a falling ramp over [8, 10) s holding the
   * last 1/9 (3/4 of it before 9 s). Bounds are about 4 standard deviations. */
  for (int b = 0; b < 8; b++) {
    cr_expect_gt(bins[b], 880, "bin %d: %zu", b, bins[b]);
    cr_expect_lt(bins[b], 1120, "bin %d: %zu", b, bins[b]);
  }
  cr_expect_gt(bins[8], 640, "%zu", bins[8]);
  cr_expect_lt(bins[8], 860, "%zu", bins[8]);
  cr_expect_gt(bins[9], 190, "%zu", bins[9]);
  cr_expect_lt(bins[9], 310, "%zu", bins[9]);
}

Test(keepalive, a_mass_start_sends_no_burst, .init = fixture_random,
     .fini = ka_teardown) {
  enum { N = 20000, SECS = 40 };
  uint64_t windows[SECS] = {0}, total = 0, max = 0;
  sipflow_tstamp t0 = now;
  R.answer_pong = 1;
  for (sipflow_flow_id i = 1; i <= N; i++)
    cr_assert_eq(add(i, SIPFLOW_TRANSPORT_TCP, 0, 10 * S), 0);
  while (sipflow_ctx_get_expiry(ctx) < t0 + SECS * S) {
    uint64_t before = R.total_sends;
    ka_step();
    windows[(now - t0) / S] += R.total_sends - before;
  }
  for (int w = 0; w < SECS; w++) {
    total += windows[w];
    max = windows[w] > max ? windows[w] : max;
  }
  /* Mean 20000 / 9 s; no one-second window above 1.25 x the mean, from the
   * first second on (the target). */
  cr_expect_lt(max * SECS, total * 5 / 4, "max %llu mean %llu",
               (unsigned long long)max, (unsigned long long)(total / SECS));
  cr_expect_gt(windows[0] * SECS, total * 3 / 4, "first second %llu",
               (unsigned long long)windows[0]);
}

Test(keepalive, rate_cap_spaces_new_probes) {
  sipflow_keepalive_settings s;
  sipflow_keepalive_counters c;
  sipflow_tstamp t0;
  sipflow_keepalive_settings_default(&s);
  s.max_probes_per_second = 100;
  ka_setup(&s, 0);
  t0 = now;
  R.answer_pong = 1;
  for (sipflow_flow_id i = 1; i <= 1000; i++)
    cr_assert_eq(add(i, SIPFLOW_TRANSPORT_TCP, 0, 0), 0);
  /* All 1000 are due at once (no rand); 100 a second go out. */
  ka_run_until(t0 + 1 * S);
  cr_expect_geq(R.total_sends, 99);
  cr_expect_leq(R.total_sends, 102);
  ka_run_until(t0 + 9 * S);
  cr_expect_lt(R.total_sends, 1000);
  ka_run_until(t0 + 10100 * MS);
  cr_expect_eq(R.total_sends, 1000);
  sipflow_keepalive_get_counters(ka, &c);
  cr_expect_geq(c.deferred, 899);
  cr_expect_eq(c.probes_answered, 1000);
  ka_teardown();
}

/* ---- the wheel
 * ------------------------------------------------------------------ */

Test(keepalive, deadlines_near_and_far_fire_exactly_on_time,
     .init = fixture_random, .fini = ka_teardown) {
  enum { N = 3000 };
  static sipflow_tstamp due[N + 1];
  sipflow_tstamp t0 = now;
  /* Tentative reasons are not probed: each endpoint's only deadline is its
   * wait, from a millisecond to 300 days, across every wheel level. */
  for (sipflow_flow_id i = 1; i <= N; i++) {
    sipflow_keepalive_endpoint ep = ka_ep(i, SIPFLOW_TRANSPORT_UDP, 0, 0);
    uint64_t r;
    uint8_t b[8];
    ka_rand(b, 8, NULL);
    memcpy(&r, b, 8);
    sipflow_duration wait = MS + (r % (1ull << (20 + r % 35))) + i;
    due[i] = t0 + wait;
    cr_assert_eq(sipflow_keepalive_reason_open(
                     ka, &ep, SIPFLOW_KEEPALIVE_SUBSCRIPTION, i, wait, now),
                 0);
  }
  for (size_t gone = 0; gone < N;) {
    sipflow_tstamp next = UINT64_MAX;
    for (sipflow_flow_id i = 1; i <= N; i++)
      if (due[i] && due[i] < next)
        next = due[i];
    /* The expiry is never later than the earliest deadline. */
    cr_assert_leq(sipflow_ctx_get_expiry(ctx), next);
    ka_step();
    if (R.nremoved > gone) {
      cr_assert_eq(R.nremoved, gone + 1);
      cr_assert_eq(due[R.removed_flow], now, "flow %llu",
                   (unsigned long long)R.removed_flow);
      cr_assert_eq(R.removed_why, SIPFLOW_KEEPALIVE_REMOVED_EXPIRED);
      due[R.removed_flow] = 0;
      gone++;
    }
  }
  cr_expect_eq(sipflow_keepalive_count(ka), 0);
  cr_expect_eq(sipflow_ctx_get_expiry(ctx), SIPFLOW_TSTAMP_NONE);
}

Test(keepalive, deadlines_added_while_time_moves_fire_exactly_on_time,
     .init = fixture_random, .fini = ka_teardown) {
  enum { N = 3000 };
  static sipflow_tstamp due[N + 1];
  sipflow_flow_id added = 0;
  /* As deadlines_near_and_far, but endpoints keep arriving as the cursor
   * moves, so that deadlines placed in a higher ring early meet later ones
   * placed in the first ring after the cursor has moved. */
  for (size_t gone = 0; gone < N;) {
    sipflow_tstamp next = UINT64_MAX;
    for (int k = 0; k < 1 + (int)(added % 3) && added < N; k++) {
      sipflow_keepalive_endpoint ep =
          ka_ep(++added, SIPFLOW_TRANSPORT_UDP, 0, 0);
      uint64_t r;
      uint8_t b[8];
      ka_rand(b, 8, NULL);
      memcpy(&r, b, 8);
      /* Mostly 1 ms to 70 s, two turns of the first ring; one in eight
       * up to about 18 h. */
      sipflow_duration wait =
          MS + (r % 8 ? r % (70 * S) : r % (1ull << (20 + r % 27)));
      due[added] = now + wait;
      cr_assert_eq(sipflow_keepalive_reason_open(ka, &ep,
                                                 SIPFLOW_KEEPALIVE_SUBSCRIPTION,
                                                 added, wait, now),
                   0);
    }
    for (sipflow_flow_id i = 1; i <= added; i++)
      if (due[i] && due[i] < next)
        next = due[i];
    cr_assert_leq(sipflow_ctx_get_expiry(ctx), next);
    ka_step();
    while (R.nremoved > gone) {
      cr_assert_eq(R.nremoved, gone + 1);
      cr_assert_eq(due[R.removed_flow], now, "flow %llu late by %llu ns",
                   (unsigned long long)R.removed_flow,
                   (unsigned long long)(now - due[R.removed_flow]));
      due[R.removed_flow] = 0;
      gone++;
    }
  }
  cr_expect_eq(sipflow_keepalive_count(ka), 0);
}

Test(keepalive, a_slot_reused_after_the_ring_turned_keeps_exact_deadlines,
     .init = fixture_plain, .fini = ka_teardown) {
  /* Found by fuzz_keepalive: a level-0 slot emptied by an answer kept its
   * old earliest deadline; the cursor jumped past it with the wheel empty,
   * and an entry placed in it one turn of the ring (16384 ticks) later
   * inherited that deadline from the past. */
  const sipflow_tstamp tick = 1ull << 21;
  sipflow_tstamp t0 = now, t2;
  cr_assert_eq(add(1, SIPFLOW_TRANSPORT_TCP, 0, 30 * S), 0);
  ka_step(); /* ping; its timeout, t0 + 10 s, sits in slot X */
  now = t0 + S;
  cr_assert_eq(sipflow_keepalive_on_pong(ka, 1, now), 0); /* X empties */
  cr_assert_eq(sipflow_keepalive_remove(ka, 1, now), 0);  /* wheel empty */
  t2 = ((t0 + 10 * S) / tick + 16384) * tick + MS; /* slot X, next turn */
  now = t2 - 20 * S;
  cr_assert_eq(sipflow_ctx_handle_expiry(ctx, now), 0);
  /* A passive watch of 10 s + 10 s grace ends at t2, in slot X. */
  cr_assert_eq(add(2, SIPFLOW_TRANSPORT_TCP, SIPFLOW_KEEPALIVE_PASSIVE, 10 * S),
               0);
  cr_expect_eq(sipflow_ctx_get_expiry(ctx), t2);
  ka_step();
  cr_expect_eq(now, t2);
  cr_expect_eq(R.events[R.nstate - 1], SIPFLOW_KEEPALIVE_DEAD);
}

Test(keepalive, a_far_deadline_is_not_hidden_by_a_later_near_one,
     .init = fixture_plain, .fini = ka_teardown) {
  /* A deadline more than one turn of the first ring (34.4 s) ahead sits in
   * a higher ring until the cursor reaches its block. Once the cursor has
   * moved, a later deadline can land in the first ring: the expiry must
   * still be the earlier, farther-placed one. Here the first ring's turn
   * boundaries fall at 996.4 s and 1030.8 s, so at 1011 s the watch due at
   * 1040 s has not been brought down yet. */
  sipflow_tstamp t0 = now; /* 1000 s */
  cr_assert_eq(add(1, SIPFLOW_TRANSPORT_TCP, SIPFLOW_KEEPALIVE_PASSIVE, 30 * S),
               0); /* due t0 + 40 s: a higher ring */
  cr_assert_eq(add(2, SIPFLOW_TRANSPORT_TCP, SIPFLOW_KEEPALIVE_PASSIVE, S),
               0); /* due t0 + 11 s */
  ka_step();       /* the cursor moves to t0 + 11 s */
  cr_assert_eq(now, t0 + 11 * S);
  cr_assert_eq(sipflow_keepalive_remove(ka, 2, now), 0);
  cr_assert_eq(add(3, SIPFLOW_TRANSPORT_TCP, SIPFLOW_KEEPALIVE_PASSIVE, 23 * S),
               0); /* due t0 + 44 s: the first ring */
  cr_expect_leq(sipflow_ctx_get_expiry(ctx), t0 + 40 * S);
  ka_run_until(t0 + 40 * S);
  cr_expect_eq(stats(1).health, SIPFLOW_HEALTH_DEAD,
               "the watch due at t0 + 40 s fired late");
  cr_expect_eq(stats(3).health, SIPFLOW_HEALTH_UNKNOWN);
}

Test(keepalive, a_long_silence_is_caught_up_in_one_call, .init = fixture_plain,
     .fini = ka_teardown) {
  sipflow_tstamp t0 = now;
  R.answer_pong = 1;
  cr_assert_eq(add(1, SIPFLOW_TRANSPORT_TCP, 0, 30 * S), 0);
  ka_step();
  /* The host slept for a year: one call catches up and the registration
   * (10 days) is long gone. */
  now = t0 + 365ull * 24 * 3600 * S;
  cr_assert_eq(sipflow_ctx_handle_expiry(ctx, now), 0);
  cr_expect_eq(R.nremoved, 1);
  cr_expect_eq(R.removed_why, SIPFLOW_KEEPALIVE_REMOVED_EXPIRED);
  cr_expect_eq(sipflow_ctx_get_expiry(ctx), SIPFLOW_TSTAMP_NONE);
}
