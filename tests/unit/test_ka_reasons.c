/*
 * Keepalive reasons: lifetimes, tentative opening and confirmation, one
 * keepalive per endpoint, export and import, and allocation failures.
 */
#include "fail_alloc.h"
#include "ka_harness.h"

#define S SIPFLOW_SECONDS
#define MS SIPFLOW_MILLISECONDS

static void fixture_plain(void) { ka_setup(NULL, 0); }

enum {
  REG = SIPFLOW_KEEPALIVE_REGISTRATION,
  SUB = SIPFLOW_KEEPALIVE_SUBSCRIPTION,
  DLG = SIPFLOW_KEEPALIVE_DIALOG,
  OTH = SIPFLOW_KEEPALIVE_OTHER
};

/* A passive endpoint with a long interval: no probe gets in the way. */
static sipflow_keepalive_endpoint quiet(sipflow_flow_id id) {
  return ka_ep(id, SIPFLOW_TRANSPORT_UDP, SIPFLOW_KEEPALIVE_PASSIVE, 6000 * S);
}

static sipflow_keepalive_counters counters(void) {
  sipflow_keepalive_counters c;
  cr_assert_eq(sipflow_keepalive_get_counters(ka, &c), 0);
  return c;
}

static sipflow_keepalive_stats stats(sipflow_flow_id id) {
  sipflow_keepalive_stats st;
  cr_assert_eq(sipflow_keepalive_get_stats(ka, id, &st), 0);
  return st;
}

Test(ka_reasons, endpoint_goes_with_its_last_reason_expiring,
     .init = fixture_plain, .fini = ka_teardown) {
  sipflow_keepalive_endpoint ep = quiet(1);
  sipflow_tstamp t0 = now;
  cr_assert_eq(sipflow_keepalive_reason_set(ka, &ep, REG, 7, 60 * S, now), 0);
  cr_assert_eq(sipflow_keepalive_reason_set(ka, &ep, SUB, 8, 80 * S, now), 0);
  cr_assert_eq(sipflow_keepalive_reason_set(ka, &ep, DLG, 9, 100 * S, now), 0);
  cr_expect_eq(stats(1).reasons, 3);
  cr_expect_eq(counters().registrations, 1);
  cr_expect_eq(counters().dialogs, 1);
  ka_run_until(t0 + 60 * S - 1);
  cr_expect_eq(stats(1).reasons, 3);
  ka_run_until(t0 + 60 * S);
  cr_expect_eq(stats(1).reasons, 2);
  cr_expect_eq(counters().registrations, 0);
  ka_run_until(t0 + 80 * S);
  cr_expect_eq(stats(1).reasons, 1);
  cr_expect_eq(R.nremoved, 0);
  ka_run_until(t0 + 100 * S);
  cr_expect_eq(R.nremoved, 1);
  cr_expect_eq(R.removed_at, t0 + 100 * S);
  cr_expect_eq(R.removed_why, SIPFLOW_KEEPALIVE_REMOVED_EXPIRED);
  cr_expect_eq(sipflow_keepalive_count(ka), 0);
  cr_expect_eq(counters().expired, 3);
  cr_expect_eq(counters().dialogs, 0);
}

Test(ka_reasons, one_keepalive_whatever_the_reasons, .init = fixture_plain,
     .fini = ka_teardown) {
  sipflow_keepalive_endpoint a = ka_ep(1, SIPFLOW_TRANSPORT_TCP, 0, 10 * S);
  sipflow_keepalive_endpoint b = ka_ep(2, SIPFLOW_TRANSPORT_TCP, 0, 10 * S);
  R.answer_pong = 1;
  /* nat_traversal's model: registration, subscription and dialogs on one
   * flow still get one keepalive per interval. */
  cr_assert_eq(sipflow_keepalive_reason_set(ka, &a, REG, 1, 3600 * S, now), 0);
  cr_assert_eq(sipflow_keepalive_reason_set(ka, &a, SUB, 1, 3600 * S, now), 0);
  for (uint64_t d = 1; d <= 50; d++)
    cr_assert_eq(sipflow_keepalive_reason_set(ka, &a, DLG, d, 3600 * S, now),
                 0);
  cr_assert_eq(sipflow_keepalive_reason_set(ka, &b, REG, 1, 3600 * S, now), 0);
  ka_run_until(now + 100 * S);
  sipflow_keepalive_stats sa = stats(1), sb = stats(2);
  cr_expect_eq(sa.reasons, 52);
  cr_expect_eq(sa.probes_sent, sb.probes_sent);
  cr_expect_eq(sa.probes_sent, 13); /* 0, 8, ..., 96 s */
  cr_expect_eq(sipflow_keepalive_count(ka), 2);
}

Test(ka_reasons, ending_reasons_shrinks_and_last_one_removes,
     .init = fixture_plain, .fini = ka_teardown) {
  sipflow_keepalive_endpoint ep = quiet(5);
  cr_assert_eq(sipflow_keepalive_reason_set(ka, &ep, REG, 1, 600 * S, now), 0);
  cr_assert_eq(sipflow_keepalive_reason_set(ka, &ep, DLG, 2, 600 * S, now), 0);
  /* Shrinking is allowed (OpenSIPS PR #366's gap): an un-REGISTER ends. */
  cr_expect_eq(sipflow_keepalive_reason_set(ka, &ep, REG, 1, 0, now), 0);
  cr_expect_eq(stats(5).reasons, 1);
  cr_expect_eq(sipflow_keepalive_reason_set(ka, &ep, REG, 1, 0, now),
               SIPFLOW_ERR_NOT_FOUND);
  cr_expect_eq(sipflow_keepalive_reason_end(ka, 5, DLG, 3, now),
               SIPFLOW_ERR_NOT_FOUND);
  cr_expect_eq(sipflow_keepalive_reason_end(ka, 5, 9, 2, now),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_keepalive_reason_end(ka, 5, DLG, 2, now), 0);
  cr_expect_eq(R.nremoved, 1);
  cr_expect_eq(R.removed_why, SIPFLOW_KEEPALIVE_REMOVED_ENDED);
  cr_expect_eq(sipflow_keepalive_reason_end(ka, 5, DLG, 2, now),
               SIPFLOW_ERR_NOT_FOUND);
  /* A reason's lifetime may shrink and grow. */
  cr_assert_eq(sipflow_keepalive_reason_set(ka, &ep, OTH, 1, 600 * S, now), 0);
  cr_assert_eq(sipflow_keepalive_reason_set(ka, &ep, OTH, 1, 5 * S, now), 0);
  ka_run_until(now + 5 * S);
  cr_expect_eq(R.nremoved, 2);
  cr_expect_eq(R.removed_why, SIPFLOW_KEEPALIVE_REMOVED_EXPIRED);
}

Test(ka_reasons, tentative_reasons_are_confirmed_by_the_final_response,
     .init = fixture_plain, .fini = ka_teardown) {
  sipflow_keepalive_endpoint ep = ka_ep(1, SIPFLOW_TRANSPORT_UDP, 0, 29 * S);
  sipflow_tstamp t0 = now;
  /* A REGISTER passes: tentative, not probed, waiting 32 s for its answer. */
  cr_assert_eq(sipflow_keepalive_reason_open(ka, &ep, REG, 1, 0, now), 0);
  cr_expect_eq(stats(1).probing, 0);
  cr_expect_eq(counters().tentative, 1);
  cr_expect_eq(sipflow_ctx_get_expiry(ctx), t0 + 32 * S);
  cr_expect_eq(sipflow_keepalive_reason_confirm(ka, 1, REG, 1, 100, 0, now), 0);
  cr_expect_eq(stats(1).probing, 0);
  /* 401 challenge: the tentative reason is dropped, and the endpoint. */
  cr_expect_eq(sipflow_keepalive_reason_confirm(ka, 1, REG, 1, 401, 0, now), 0);
  cr_expect_eq(R.nremoved, 1);
  cr_expect_eq(R.removed_why, SIPFLOW_KEEPALIVE_REMOVED_REJECTED);
  cr_expect_eq(R.nsends, 0);
  /* Again, with credentials: 200 grants 300 s, probing starts. */
  cr_assert_eq(sipflow_keepalive_reason_open(ka, &ep, REG, 1, 0, now), 0);
  cr_expect_eq(
      sipflow_keepalive_reason_confirm(ka, 1, REG, 1, 200, 300 * S, now), 0);
  cr_expect_eq(stats(1).probing, 1);
  cr_expect_eq(counters().tentative, 0);
  cr_expect_eq(counters().probing, 1);
  ka_step();
  cr_expect_eq(R.nsends, 1);
  /* A refresh passes and is challenged: the binding it refreshes stays. */
  cr_assert_eq(sipflow_keepalive_reason_open(ka, &ep, REG, 1, 0, now), 0);
  cr_expect_eq(sipflow_keepalive_reason_confirm(ka, 1, REG, 1, 407, 0, now), 0);
  cr_expect_eq(sipflow_keepalive_count(ka), 1);
  /* The 200 to an un-REGISTER grants 0: gone. */
  cr_expect_eq(sipflow_keepalive_reason_confirm(ka, 1, REG, 1, 200, 0, now), 0);
  cr_expect_eq(R.nremoved, 2);
  cr_expect_eq(R.removed_why, SIPFLOW_KEEPALIVE_REMOVED_ENDED);
  cr_expect_eq(sipflow_keepalive_reason_confirm(ka, 1, REG, 1, 200, S, now),
               SIPFLOW_ERR_NOT_FOUND);
  cr_expect_eq(sipflow_keepalive_reason_confirm(ka, 1, REG, 1, 700, S, now),
               SIPFLOW_ERR_INVALID_ARGUMENT);
}

Test(ka_reasons, unanswered_tentative_reason_times_out, .init = fixture_plain,
     .fini = ka_teardown) {
  sipflow_keepalive_endpoint ep = quiet(1);
  sipflow_tstamp t0 = now;
  /* An INVITE waits longer for its final answer (Timer C). */
  cr_assert_eq(sipflow_keepalive_reason_open(ka, &ep, DLG, 4, 180 * S, now), 0);
  cr_assert_eq(sipflow_keepalive_reason_open(ka, &ep, SUB, 5, 0, now), 0);
  ka_run_until(t0 + 32 * S);
  cr_expect_eq(stats(1).reasons, 1);
  ka_run_until(t0 + 180 * S);
  cr_expect_eq(R.nremoved, 1);
  cr_expect_eq(R.removed_why, SIPFLOW_KEEPALIVE_REMOVED_EXPIRED);
  cr_expect_eq(counters().tentative, 0);
}

Test(ka_reasons, a_new_description_updates_the_endpoint, .init = fixture_plain,
     .fini = ka_teardown) {
  sipflow_keepalive_endpoint ep = ka_ep(1, SIPFLOW_TRANSPORT_TCP, 0, 30 * S);
  cr_assert_eq(sipflow_keepalive_reason_set(ka, &ep, REG, 1, 600 * S, now), 0);
  ka_step(); /* a CRLF ping in flight */
  cr_expect(sipflow_keepalive_awaiting_pong(ka, 1));
  /* Same flow, now OPTIONS with a shorter interval: the ping is abandoned
   * and the schedule restarts. */
  ep.method = SIPFLOW_KEEPALIVE_OPTIONS;
  ep.interval = 20 * S;
  ep.user_data = (void *)0x55;
  cr_assert_eq(sipflow_keepalive_reason_set(ka, &ep, DLG, 1, 600 * S, now), 0);
  cr_expect_not(sipflow_keepalive_awaiting_pong(ka, 1));
  cr_expect_eq(stats(1).method, SIPFLOW_KEEPALIVE_OPTIONS);
  cr_expect_eq(stats(1).interval, 20 * S);
  cr_expect_eq(stats(1).user_data, (void *)0x55);
  ka_step();
  cr_expect_eq(ka_last_send()->method, SIPFLOW_KEEPALIVE_OPTIONS);
  /* A different tuple under the same flow id is a host error. */
  ep.tuple.remote.port++;
  cr_expect_eq(sipflow_keepalive_reason_set(ka, &ep, DLG, 2, 600 * S, now),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_keepalive_reason_set(ka, &ep, DLG, 2, 600 * S, now - 1),
               SIPFLOW_ERR_TIME_BACKWARDS);
  cr_expect_eq(sipflow_keepalive_remove(ka, 1, now), 0);
  cr_expect_eq(R.removed_why, SIPFLOW_KEEPALIVE_REMOVED_HOST);
  cr_expect_eq(sipflow_keepalive_remove(ka, 1, now), SIPFLOW_ERR_NOT_FOUND);
}

Test(ka_reasons, max_endpoints_and_remove_dead) {
  sipflow_keepalive_settings s;
  sipflow_keepalive_settings_default(&s);
  s.max_endpoints = 2;
  s.remove_dead = 1;
  s.dead_after = 1;
  ka_setup(&s, 0);
  sipflow_keepalive_endpoint a = ka_ep(1, SIPFLOW_TRANSPORT_TCP, 0, 30 * S);
  sipflow_keepalive_endpoint b = ka_ep(2, SIPFLOW_TRANSPORT_TCP, 0, 30 * S);
  sipflow_keepalive_endpoint c = ka_ep(3, SIPFLOW_TRANSPORT_TCP, 0, 30 * S);
  cr_assert_eq(sipflow_keepalive_reason_set(ka, &a, REG, 1, 600 * S, now), 0);
  cr_assert_eq(sipflow_keepalive_reason_set(ka, &b, REG, 1, 600 * S, now), 0);
  cr_expect_eq(sipflow_keepalive_reason_set(ka, &c, REG, 1, 600 * S, now),
               SIPFLOW_ERR_LIMIT);
  ka_run_until(now + 10 * S); /* both pings missed: dead, removed */
  cr_expect_eq(R.nremoved, 2);
  cr_expect_eq(R.removed_why, SIPFLOW_KEEPALIVE_REMOVED_DEAD);
  cr_expect_eq(sipflow_keepalive_count(ka), 0);
  cr_expect_eq(sipflow_keepalive_reason_set(ka, &c, REG, 1, 600 * S, now), 0);
  ka_teardown();
}

/* ---- export and import ------------------------------------------------------
 */

Test(ka_reasons, export_import_round_trip_with_wall_clock_expiries,
     .init = fixture_plain, .fini = ka_teardown) {
  const uint64_t unix0 = 1700000000;
  sipflow_keepalive_endpoint a = ka_ep(1, SIPFLOW_TRANSPORT_UDP, 0, 25 * S);
  sipflow_keepalive_endpoint b = ka_ep(2, SIPFLOW_TRANSPORT_TLS, 0, 0);
  sipflow_keepalive_endpoint c = quiet(3);
  sipflow_keepalive_endpoint got[4];
  sipflow_keepalive_saved_reason rs[4][8];
  size_t nr[4], n = 0, k;
  uint64_t cur = 0;
  int rv;
  sipflow_addr_parse(&b.tuple.remote, "2001:db8::42", 5061);
  sipflow_addr_parse(&b.tuple.local, "2001:db8::1", 5061);
  cr_assert_eq(sipflow_keepalive_reason_set(ka, &a, REG, 10, 3600 * S, now), 0);
  cr_assert_eq(sipflow_keepalive_reason_set(ka, &a, DLG, 11, 600 * S, now), 0);
  cr_assert_eq(sipflow_keepalive_reason_open(ka, &a, SUB, 12, 0, now), 0);
  cr_assert_eq(sipflow_keepalive_reason_set(ka, &b, REG, 20, 100 * S, now), 0);
  cr_assert_eq(sipflow_keepalive_reason_open(ka, &c, REG, 30, 0, now), 0);
  /* Room for one reason only: told how many, nothing consumed. */
  cr_expect_eq(sipflow_keepalive_export_next(ka, &cur, &got[0], rs[0], 1,
                                             &nr[0], unix0, now),
               SIPFLOW_ERR_BUFFER_TOO_SMALL);
  cr_expect_eq(nr[0], 2);
  cr_expect_eq(cur, 0);
  while ((rv = sipflow_keepalive_export_next(ka, &cur, &got[n], rs[n], 8,
                                             &nr[n], unix0, now)) == 0)
    n++;
  cr_expect_eq(rv, SIPFLOW_ERR_NOT_FOUND);
  /* Endpoint 3 has only a tentative reason; 1's subscription is tentative
   * too: neither survives a restart. */
  cr_assert_eq(n, 2);
  cr_expect_eq(got[0].flow_id, 1);
  cr_expect_eq(nr[0], 2);
  cr_expect_eq(rs[0][0].kind, REG);
  cr_expect_eq(rs[0][0].id, 10);
  cr_expect_eq(rs[0][0].expires_unix, unix0 + 3600);
  cr_expect_eq(rs[0][1].kind, DLG);
  cr_expect_eq(rs[0][1].expires_unix, unix0 + 600);
  cr_expect_eq(got[0].method, SIPFLOW_KEEPALIVE_STUN);
  cr_expect_eq(got[0].interval, 25 * S);
  cr_expect_eq(got[0].tuple.transport, SIPFLOW_TRANSPORT_UDP);
  cr_expect(sipflow_addr_equal(&got[0].tuple.local, &a.tuple.local));
  cr_expect(sipflow_addr_equal(&got[0].tuple.remote, &a.tuple.remote));
  cr_expect_eq(got[0].tuple.generation, 0);
  cr_expect_eq(got[0].user_data, a.user_data);
  cr_expect_eq(got[1].flow_id, 2);
  cr_expect(sipflow_addr_equal(&got[1].tuple.remote, &b.tuple.remote));
  cr_expect(sipflow_addr_equal(&got[1].tuple.local, &b.tuple.local));
  cr_expect_eq(got[1].tuple.generation, 7);
  cr_expect_eq(got[1].method, SIPFLOW_KEEPALIVE_CRLF);
  cr_expect_eq(got[1].interval, 120 * S);

  /* A new process, 50 s of wall clock later, on another monotonic clock. */
  ka_teardown();
  ka_setup(NULL, 0);
  now += 777 * S;
  for (k = 0; k < n; k++) {
    got[k].flow_id += 100; /* the new process's flow ids */
    cr_assert_eq(
        sipflow_keepalive_import(ka, &got[k], rs[k], nr[k], unix0 + 50, now),
        0);
  }
  cr_expect_eq(sipflow_keepalive_count(ka), 2);
  cr_expect_eq(stats(101).reasons, 2);
  cr_expect_eq(stats(101).probing, 1);
  cr_expect_eq(counters().registrations, 2);
  cr_expect_eq(counters().dialogs, 1);
  cr_expect_eq(sipflow_keepalive_import(ka, &got[0], rs[0], nr[0], unix0, now),
               SIPFLOW_ERR_EXISTS);
  /* B's registration has 50 s left. */
  ka_run_until(now + 50 * S - 1);
  cr_expect_eq(sipflow_keepalive_count(ka), 2);
  ka_run_until(now + 1);
  cr_expect_eq(sipflow_keepalive_count(ka), 1);
  /* Everything expired: nothing made. */
  got[1].flow_id = 500;
  cr_expect_eq(
      sipflow_keepalive_import(ka, &got[1], rs[1], nr[1], unix0 + 100, now),
      SIPFLOW_ERR_STALE);
  rs[1][0].kind = 0;
  cr_expect_eq(sipflow_keepalive_import(ka, &got[1], rs[1], nr[1], unix0, now),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_keepalive_count(ka), 1);
}

/* ---- allocation failures
 * ----------------------------------------------------- */

static int noop_send(sipflow_keepalive *k, sipflow_flow_id f,
                     const sipflow_keepalive_probe *p, void *ud, void *eud) {
  (void)k;
  (void)f;
  (void)p;
  (void)ud;
  (void)eud;
  return 0;
}

/* Everything that allocates, with the Nth allocation failing. Each call
 * either works or returns NOMEM and leaves the count as it was. Returns 1
 * when the whole scenario ran. */
static int scenario(fail_alloc *fa) {
  sipflow_keepalive_callbacks cb = {noop_send, NULL, NULL, NULL};
  sipflow_ctx *c;
  sipflow_keepalive *k, *k2 = NULL;
  sipflow_tstamp t = 1000 * S;
  int rv, complete = 0;
  if (sipflow_ctx_new(&c, NULL, NULL, &fa->mem, NULL) != 0)
    return 0;
  sipflow_ctx_handle_expiry(c, t);
  if (sipflow_keepalive_new(&k, c, &cb, NULL, NULL) != 0) {
    sipflow_ctx_del(c);
    return 0;
  }
  for (sipflow_flow_id i = 1; i <= 300; i++) {
    sipflow_keepalive_endpoint ep =
        ka_ep(i, i % 3 ? SIPFLOW_TRANSPORT_UDP : SIPFLOW_TRANSPORT_TCP, 0, 0);
    size_t before = sipflow_keepalive_count(k);
    if (i % 4 == 0)
      sipflow_addr_parse(&ep.tuple.remote, "2001:db8::9", (uint16_t)i);
    ep.tuple.local.port = (uint16_t)(5060 + i % 20); /* 20 local addresses */
    rv = sipflow_keepalive_reason_set(k, &ep, REG, i, 600 * S, t);
    cr_assert(rv == 0 || rv == SIPFLOW_ERR_NOMEM, "rv %d", rv);
    if (rv != 0) {
      cr_assert_eq(sipflow_keepalive_count(k), before);
      goto out;
    }
    rv = sipflow_keepalive_reason_set(k, &ep, DLG, i, 300 * S, t);
    cr_assert(rv == 0 || rv == SIPFLOW_ERR_NOMEM, "rv %d", rv);
    if (rv != 0) {
      sipflow_keepalive_stats st;
      cr_assert_eq(sipflow_keepalive_get_stats(k, i, &st), 0);
      cr_assert_eq(st.reasons, 1);
      goto out;
    }
  }
  for (int step = 0; step < 50; step++) {
    t += 7 * S;
    cr_assert_eq(sipflow_ctx_handle_expiry(c, t), 0);
  }
  rv = sipflow_keepalive_new(&k2, c, &cb, NULL, NULL);
  cr_assert(rv == 0 || rv == SIPFLOW_ERR_NOMEM, "rv %d", rv);
  if (rv != 0)
    goto out;
  {
    uint64_t cur = 0;
    sipflow_keepalive_endpoint ep;
    sipflow_keepalive_saved_reason rs[4];
    size_t nr;
    while (sipflow_keepalive_export_next(k, &cur, &ep, rs, 4, &nr, 1000, t) ==
           0) {
      size_t before = sipflow_keepalive_count(k2);
      rv = sipflow_keepalive_import(k2, &ep, rs, nr, 1000, t);
      cr_assert(rv == 0 || rv == SIPFLOW_ERR_NOMEM, "rv %d", rv);
      if (rv != 0) {
        cr_assert_eq(sipflow_keepalive_count(k2), before);
        goto out;
      }
    }
    cr_assert_eq(sipflow_keepalive_count(k2), sipflow_keepalive_count(k));
  }
  complete = 1;
out:
  sipflow_keepalive_del(k2);
  sipflow_keepalive_del(k);
  sipflow_ctx_del(c);
  return complete;
}

Test(ka_reasons, every_allocation_failure_is_survivable) {
  uint64_t n;
  for (n = 1; n < 2000; n++) {
    fail_alloc fa;
    int complete;
    fail_alloc_init(&fa);
    fail_alloc_arm(&fa, n, 0);
    complete = scenario(&fa);
    cr_assert_eq(fa.live, 0, "leak after failing allocation %llu",
                 (unsigned long long)n);
    if (complete && fa.failures == 0)
      break;
  }
  cr_expect_lt(n, 2000, "the scenario never completed");
  cr_expect_gt(n, 20, "too few allocations to be a real sweep");
}
