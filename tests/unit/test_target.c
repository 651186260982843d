/*
 * Target plans (RFC 5626 §7, RFC 3261 §16.6-16.7): groups by q, one flow
 * per instance at a time, failover after 430 and 408, health first, and the
 * response forwarded upstream.
 */
#include "reg_harness.h"

#define AOR "sip:alice@example.com"
#define INST_A "\"<urn:uuid:00000000-0000-1000-8000-00000000000a>\""
#define INST_A_UP "\"<urn:uuid:00000000-0000-1000-8000-00000000000A>\""
#define INST_B "\"<urn:uuid:00000000-0000-1000-8000-00000000000b>\""

static sipflow_reg_plan *lookup(harness *h, const char *uri) {
  sipflow_reg_plan *plan = NULL;
  cr_assert_eq(sipflow_registrar_lookup(h->reg, S(uri), h->now, &plan), 0);
  cr_assert_not_null(plan);
  return plan;
}

/* An Outbound flow of an instance, at q (thousandths) or without q (-1). */
static void flow(harness *h, const char *inst, const char *reg_id,
                 sipflow_flow_id id, int q) {
  reg_req r;
  char uri[64], call_id[32];
  snprintf(uri, sizeof(uri), "sip:alice@192.0.2.%u;transport=tcp",
           (unsigned)id);
  snprintf(call_id, sizeof(call_id), "call-%u", (unsigned)id);
  req_init(&r, AOR, call_id, 1);
  req_ob_contact(&r, uri, inst, reg_id)->q = q;
  req_flow(&r, id);
  cr_assert_eq(submit(h, &r)->status, 200);
}

static void plain(harness *h, const char *uri, int q) {
  reg_req r;
  req_init(&r, AOR, uri, 1); /* the URI doubles as a Call-ID */
  req_contact(&r, uri)->q = q;
  cr_assert_eq(submit(h, &r)->status, 200);
}

static const sipflow_reg_branch *group(sipflow_reg_plan *plan, size_t want) {
  const sipflow_reg_branch *br = NULL;
  size_t n = 99;
  cr_assert_eq(sipflow_reg_plan_next_group(plan, &br, &n), 0);
  cr_assert_eq(n, want, "group of %zu branches, wanted %zu", n, want);
  return br;
}

static const sipflow_reg_branch *report(harness *h, sipflow_reg_plan *plan,
                                        const sipflow_reg_branch *br,
                                        int status) {
  const sipflow_reg_branch *next = (const sipflow_reg_branch *)1;
  cr_assert_eq(sipflow_reg_plan_report(plan, br->id, status, h->now, &next), 0);
  return next;
}

static bool uri_is(const sipflow_reg_branch *br, const char *uri) {
  return br->binding->uri.len == strlen(uri) &&
         memcmp(br->binding->uri.ptr, uri, strlen(uri)) == 0;
}

Test(target, groups_by_q_with_one_branch_per_instance) {
  harness h;
  sipflow_reg_plan *plan;
  const sipflow_reg_branch *br;
  cr_assert_eq(harness_open(&h, 1), 0);
  flow(&h, INST_A, "1", 11, SIPFLOW_REG_Q_NONE);
  flow(&h, INST_A, "2", 12, SIPFLOW_REG_Q_NONE);
  flow(&h, INST_B, "1", 21, SIPFLOW_REG_Q_NONE);
  plain(&h, "sip:p1@192.0.2.101", 500);
  plain(&h, "sip:p2@192.0.2.102", 500);
  plain(&h, "sip:p3@192.0.2.103", 100);
  plan = lookup(&h, AOR);

  /* RFC 5626 §7: instances A and B in parallel, one flow each; no q is
   * the highest; RFC 3261 §16.6: equal q in parallel, lower q later. */
  br = group(plan, 2);
  cr_expect_eq(br[0].group, 0);
  cr_expect_eq(br[0].binding->reg_id, 1);
  cr_expect_eq(br[0].binding->flow_id, 11);
  cr_expect_eq(br[1].binding->flow_id, 21);
  const sipflow_reg_branch *again;
  size_t n;
  cr_expect_eq(sipflow_reg_plan_next_group(plan, &again, &n),
               SIPFLOW_ERR_BAD_STATE);
  cr_expect_eq(sipflow_reg_plan_pending(plan), 2);
  cr_expect_null(report(&h, plan, &br[0], 486)); /* instance A answered */
  cr_expect_null(report(&h, plan, &br[1], 486));

  br = group(plan, 2);
  cr_expect_eq(br[0].group, 1);
  cr_expect_eq(br[0].binding->q, 500);
  cr_expect_eq(br[1].binding->q, 500);
  cr_expect_eq(br[0].binding->instance.len, 0);
  report(&h, plan, &br[0], 480);
  report(&h, plan, &br[1], 480);

  br = group(plan, 1);
  cr_expect(uri_is(&br[0], "sip:p3@192.0.2.103"));
  cr_expect_eq(br[0].group, 2);
  report(&h, plan, &br[0], 500);
  group(plan, 0);
  /* RFC 3261 §16.7 step 6: the lowest class, the first of equals. */
  cr_expect_eq(sipflow_reg_plan_final_status(plan), 486);
  sipflow_reg_plan_del(plan);
  harness_close(&h);
}

Test(target, a_430_drops_the_binding_and_tries_the_next_flow) {
  harness h;
  sipflow_reg_plan *plan;
  const sipflow_reg_branch *br, *next;
  cr_assert_eq(harness_open(&h, 1), 0);
  flow(&h, INST_A, "1", 11, SIPFLOW_REG_Q_NONE);
  flow(&h, INST_A_UP, "2", 12, SIPFLOW_REG_Q_NONE); /* same instance */
  h.n_ev = 0;
  plan = lookup(&h, AOR);
  br = group(plan, 1);
  cr_expect_eq(br[0].binding->reg_id, 1);
  /* RFC 5626 §7, §9.3: drop the binding, then another reg-id. */
  next = report(&h, plan, &br[0], 430);
  cr_assert_not_null(next);
  cr_expect_eq(next->binding->reg_id, 2);
  cr_expect_eq(next->group, 0);
  cr_assert_eq(h.n_ev, 1);
  cr_expect_eq(h.ev[0].change, SIPFLOW_REG_FLOW_FAILED);
  cr_expect_eq(h.ev[0].flow_id, 11);
  cr_expect_eq(sipflow_registrar_binding_count(h.reg), 1);
  cr_expect_null(report(&h, plan, next, 200));
  group(plan, 0);
  cr_expect_eq(sipflow_reg_plan_final_status(plan), 200);
  sipflow_reg_plan_del(plan);
  harness_close(&h);
}

Test(target, a_408_tries_the_next_flow_and_keeps_the_binding) {
  harness h;
  sipflow_reg_plan *plan;
  const sipflow_reg_branch *br, *next;
  cr_assert_eq(harness_open(&h, 1), 0);
  flow(&h, INST_A, "1", 11, SIPFLOW_REG_Q_NONE);
  flow(&h, INST_A, "2", 12, SIPFLOW_REG_Q_NONE);
  h.n_ev = 0;
  plan = lookup(&h, AOR);
  br = group(plan, 1);
  next = report(&h, plan, &br[0], 408); /* RFC 5626 §7: 408 too */
  cr_assert_not_null(next);
  cr_expect_eq(next->binding->reg_id, 2);
  cr_expect_null(report(&h, plan, next, 408));
  group(plan, 0);
  cr_expect_eq(sipflow_reg_plan_final_status(plan), 408);
  cr_expect_eq(h.n_ev, 0);
  cr_expect_eq(sipflow_registrar_binding_count(h.reg), 2);
  sipflow_reg_plan_del(plan);
  harness_close(&h);
}

Test(target, any_other_final_response_ends_the_instance) {
  static const int finals[] = {486, 480, 404, 500, 503, 302};
  for (size_t i = 0; i < sizeof(finals) / sizeof(finals[0]); i++) {
    harness h;
    sipflow_reg_plan *plan;
    cr_assert_eq(harness_open(&h, 1), 0);
    flow(&h, INST_A, "1", 11, SIPFLOW_REG_Q_NONE);
    flow(&h, INST_A, "2", 12, SIPFLOW_REG_Q_NONE);
    plan = lookup(&h, AOR);
    /* RFC 5626 §7: the instance answered: no other flow of it. */
    cr_expect_null(report(&h, plan, group(plan, 1), finals[i]), "%d",
                   finals[i]);
    group(plan, 0);
    cr_expect_eq(sipflow_reg_plan_final_status(plan),
                 sipflow_reg_response_upstream(finals[i]));
    sipflow_reg_plan_del(plan);
    harness_close(&h);
  }
}

Test(target, every_flow_failing_gives_480_never_430) {
  harness h;
  sipflow_reg_plan *plan;
  cr_assert_eq(harness_open(&h, 1), 0);
  flow(&h, INST_A, "1", 11, SIPFLOW_REG_Q_NONE);
  flow(&h, INST_A, "2", 12, SIPFLOW_REG_Q_NONE);
  plan = lookup(&h, AOR);
  const sipflow_reg_branch *next = report(&h, plan, group(plan, 1), 430);
  cr_assert_not_null(next);
  cr_expect_null(report(&h, plan, next, 430));
  group(plan, 0);
  /* RFC 5626 §11.5: endpoints never see 430. */
  cr_expect_eq(sipflow_reg_plan_final_status(plan), 480);
  cr_expect_eq(sipflow_registrar_aor_count(h.reg), 0);
  sipflow_reg_plan_del(plan);
  sipflow_reg_plan *none = (sipflow_reg_plan *)1;
  cr_expect_eq(sipflow_registrar_lookup(h.reg, S(AOR), h.now, &none),
               SIPFLOW_ERR_NOT_FOUND);
  cr_expect_null(none);
  harness_close(&h);
}

Test(target, healthy_flows_go_first_then_unknown_then_suspect) {
  harness h;
  sipflow_reg_plan *plan;
  const sipflow_reg_branch *br;
  cr_assert_eq(harness_open(&h, 1), 0);
  flow(&h, INST_A, "1", 11, SIPFLOW_REG_Q_NONE);
  flow(&h, INST_A, "2", 12, SIPFLOW_REG_Q_NONE);
  flow(&h, INST_A, "3", 13, SIPFLOW_REG_Q_NONE);
  cr_assert_eq(
      sipflow_registrar_flow_health(h.reg, 11, SIPFLOW_HEALTH_SUSPECT, h.now),
      0);
  cr_assert_eq(
      sipflow_registrar_flow_health(h.reg, 12, SIPFLOW_HEALTH_ALIVE, h.now), 0);
  plan = lookup(&h, AOR);
  br = group(plan, 1);
  cr_expect_eq(br->binding->reg_id, 2);
  cr_expect_eq(br->binding->health, SIPFLOW_HEALTH_ALIVE);
  br = report(&h, plan, br, 408);
  cr_expect_eq(br->binding->reg_id, 3);
  br = report(&h, plan, br, 408);
  cr_expect_eq(br->binding->reg_id, 1);
  cr_expect_null(report(&h, plan, br, 408));
  sipflow_reg_plan_del(plan);
  harness_close(&h);
}

Test(target, flows_known_dead_are_skipped_without_sending) {
  harness h;
  sipflow_reg_plan *plan;
  const sipflow_reg_branch *br;
  cr_assert_eq(harness_open(&h, 1), 0);
  flow(&h, INST_A, "1", 11, SIPFLOW_REG_Q_NONE);
  flow(&h, INST_A, "2", 12, SIPFLOW_REG_Q_NONE);
  flow(&h, INST_A, "3", 13, SIPFLOW_REG_Q_NONE);
  flow(&h, INST_B, "1", 21, SIPFLOW_REG_Q_NONE);
  cr_assert_eq(
      sipflow_registrar_flow_health(h.reg, 11, SIPFLOW_HEALTH_DEAD, h.now), 0);
  cr_assert_eq(
      sipflow_registrar_flow_health(h.reg, 21, SIPFLOW_HEALTH_DEAD, h.now), 0);
  plan = lookup(&h, AOR);
  br = group(plan, 1); /* B has no live flow: no branch for it */
  cr_expect_eq(br->binding->reg_id, 2);
  /* Death learnt after the plan was made counts too. */
  cr_assert_eq(
      sipflow_registrar_flow_health(h.reg, 13, SIPFLOW_HEALTH_DEAD, h.now), 0);
  cr_expect_null(report(&h, plan, br, 408));
  group(plan, 0);
  cr_expect_eq(sipflow_reg_plan_final_status(plan), 408);
  sipflow_reg_plan_del(plan);

  cr_assert_eq(
      sipflow_registrar_flow_health(h.reg, 12, SIPFLOW_HEALTH_DEAD, h.now), 0);
  plan = lookup(&h, AOR);
  group(plan, 0); /* every flow dead: nothing is sent */
  cr_expect_eq(sipflow_reg_plan_final_status(plan), 480);
  sipflow_reg_plan_del(plan);
  harness_close(&h);
}

Test(target, flow_order_policies) {
  harness h;
  sipflow_reg_plan *plan;
  const sipflow_reg_branch *br;
  cr_assert_eq(harness_open(&h, 1), 0);
  flow(&h, INST_A, "3", 13, SIPFLOW_REG_Q_NONE);
  h.now += SEC;
  flow(&h, INST_A, "1", 11, SIPFLOW_REG_Q_NONE);
  h.now += SEC;
  flow(&h, INST_A, "2", 12, SIPFLOW_REG_Q_NONE);
  plan = lookup(&h, AOR);
  br = group(plan, 1); /* default: lowest reg-id (the Outbound thread) */
  cr_expect_eq(br->binding->reg_id, 1);
  br = report(&h, plan, br, 408);
  cr_expect_eq(br->binding->reg_id, 2);
  br = report(&h, plan, br, 408);
  cr_expect_eq(br->binding->reg_id, 3);
  sipflow_reg_plan_del(plan);
  harness_close(&h);

  sipflow_registrar_settings_default(&h.set);
  h.set.flow_order = SIPFLOW_REG_ORDER_MOST_RECENT; /* RFC 5626 §15 */
  cr_assert_eq(harness_open(&h, 0), 0);
  flow(&h, INST_A, "3", 13, SIPFLOW_REG_Q_NONE);
  h.now += SEC;
  flow(&h, INST_A, "1", 11, SIPFLOW_REG_Q_NONE);
  h.now += SEC;
  flow(&h, INST_A, "2", 12, SIPFLOW_REG_Q_NONE);
  plan = lookup(&h, AOR);
  br = group(plan, 1);
  cr_expect_eq(br->binding->reg_id, 2);
  br = report(&h, plan, br, 408);
  cr_expect_eq(br->binding->reg_id, 1);
  br = report(&h, plan, br, 408);
  cr_expect_eq(br->binding->reg_id, 3);
  sipflow_reg_plan_del(plan);
  harness_close(&h);
}

Test(target, an_instance_sits_in_the_group_of_its_highest_q) {
  harness h;
  sipflow_reg_plan *plan;
  const sipflow_reg_branch *br;
  cr_assert_eq(harness_open(&h, 1), 0);
  flow(&h, INST_A, "1", 11, 200);
  flow(&h, INST_A, "2", 12, 900);
  plain(&h, "sip:p@192.0.2.100", 500);
  plan = lookup(&h, AOR);
  br = group(plan, 1);
  cr_expect_eq(br->binding->instance.len, strlen(INST_A) - 4);
  br = report(&h, plan, br, 408); /* its other flow, same group */
  cr_expect_eq(br->group, 0);
  cr_expect_null(report(&h, plan, br, 408));
  br = group(plan, 1);
  cr_expect(uri_is(br, "sip:p@192.0.2.100"));
  cr_expect_eq(br->group, 1);
  report(&h, plan, br, 486);
  group(plan, 0);
  sipflow_reg_plan_del(plan);
  harness_close(&h);
}

Test(target, a_2xx_or_6xx_finishes_the_plan) {
  harness h;
  sipflow_reg_plan *plan;
  const sipflow_reg_branch *br, *none;
  size_t n;
  cr_assert_eq(harness_open(&h, 1), 0);
  flow(&h, INST_A, "1", 11, SIPFLOW_REG_Q_NONE);
  flow(&h, INST_B, "1", 21, SIPFLOW_REG_Q_NONE);
  plain(&h, "sip:later@192.0.2.100", 100);
  plan = lookup(&h, AOR);
  br = group(plan, 2);
  /* RFC 3261 §16.7 step 5: after a 6xx no new branch. */
  cr_expect_null(report(&h, plan, &br[0], 603));
  cr_expect_eq(sipflow_reg_plan_next_group(plan, &none, &n),
               SIPFLOW_ERR_BAD_STATE);
  cr_expect_null(report(&h, plan, &br[1], 430)); /* not even after a 430 */
  group(plan, 0);
  cr_expect_eq(sipflow_reg_plan_final_status(plan), 603);
  sipflow_reg_plan_del(plan);
  harness_close(&h);
}

Test(target, a_plan_outlives_the_bindings_it_lists) {
  harness h;
  sipflow_reg_plan *plan;
  const sipflow_reg_branch *br;
  cr_assert_eq(harness_open(&h, 1), 0);
  flow(&h, INST_A, "1", 11, SIPFLOW_REG_Q_NONE);
  flow(&h, INST_A, "2", 12, SIPFLOW_REG_Q_NONE);
  plan = lookup(&h, AOR);
  /* The flow of reg-id 1 fails before anything is sent. */
  cr_assert_eq(sipflow_registrar_flow_failed(h.reg, 11, h.now), 0);
  br = group(plan, 1);
  cr_expect_eq(br->binding->reg_id, 2);
  /* Everything expires while the branch is out. */
  h.now += 4000 * SEC;
  cr_assert_eq(sipflow_ctx_handle_expiry(h.ctx, h.now), 0);
  cr_expect_eq(sipflow_registrar_binding_count(h.reg), 0);
  cr_expect(uri_is(br, "sip:alice@192.0.2.12;transport=tcp"));
  cr_expect_null(report(&h, plan, br, 430)); /* already gone: no event */
  cr_expect_eq(sipflow_reg_plan_final_status(plan), 480);
  sipflow_reg_plan_del(plan);
  harness_close(&h); /* no leak: the plan freed what it held */
}

Test(target, lookup_canonicalises_the_request_uri) {
  harness h;
  sipflow_reg_plan *plan = (sipflow_reg_plan *)1;
  cr_assert_eq(harness_open(&h, 1), 0);
  plain(&h, "sip:p@192.0.2.100", SIPFLOW_REG_Q_NONE);
  plan = lookup(&h, "sip:alice@EXAMPLE.com;transport=tcp?x=y");
  sipflow_reg_plan_del(plan);
  cr_expect_eq(
      sipflow_registrar_lookup(h.reg, S("sip:Alice@example.com"), h.now, &plan),
      SIPFLOW_ERR_NOT_FOUND); /* the user part is case-sensitive */
  cr_expect_eq(
      sipflow_registrar_lookup(h.reg, S("tel:+15551234"), h.now, &plan),
      SIPFLOW_ERR_MALFORMED);
  cr_expect_eq(sipflow_registrar_lookup(h.reg, S(""), h.now, &plan),
               SIPFLOW_ERR_MALFORMED);
  cr_expect_eq(sipflow_registrar_lookup(NULL, S(AOR), h.now, &plan),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_registrar_lookup(h.reg, S(AOR), h.now - 1, &plan),
               SIPFLOW_ERR_TIME_BACKWARDS);
  cr_expect_null(plan);
  harness_close(&h);
}

Test(target, reports_are_checked) {
  harness h;
  sipflow_reg_plan *plan;
  const sipflow_reg_branch *br, *next;
  cr_assert_eq(harness_open(&h, 1), 0);
  flow(&h, INST_A, "1", 11, SIPFLOW_REG_Q_NONE);
  plan = lookup(&h, AOR);
  br = group(plan, 1);
  cr_expect_eq(sipflow_reg_plan_report(plan, br->id, 180, h.now, &next),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_reg_plan_report(plan, 77, 486, h.now, &next),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_reg_plan_report(plan, br->id, 486, h.now - 1, &next),
               SIPFLOW_ERR_TIME_BACKWARDS);
  cr_expect_eq(sipflow_reg_plan_report(plan, br->id, 486, h.now, &next), 0);
  cr_expect_eq(sipflow_reg_plan_report(plan, br->id, 486, h.now, &next),
               SIPFLOW_ERR_BAD_STATE);
  cr_expect_eq(sipflow_reg_plan_next_group(NULL, &br, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_reg_plan_pending(NULL), 0);
  cr_expect_eq(sipflow_reg_plan_final_status(NULL), 480);
  sipflow_reg_plan_del(plan);
  sipflow_reg_plan_del(NULL);
  harness_close(&h);
}

typedef struct pick_row {
  const char *rfc;
  int best, candidate, want;
} pick_row;

Test(target, response_ranking_for_forwarding) {
  static const pick_row rows[] = {
      {"first response", 0, 486, 486},
      {"RFC 5626 §11.5: 430 below every other 4xx", 430, 486, 486},
      {"RFC 5626 §11.5: 430 below every other 4xx", 486, 430, 486},
      {"RFC 5626 §11.5: 430 below 480", 430, 480, 480},
      {"RFC 3261 §16.7 step 6: lowest class (4xx over 5xx)", 500, 430, 430},
      {"RFC 3261 §16.7 step 6: lowest class (3xx over 4xx)", 480, 302, 302},
      {"RFC 3261 §16.7 step 6: 401 preferred in 4xx", 486, 401, 401},
      {"RFC 3261 §16.7 step 6: 407 preferred in 4xx", 404, 407, 407},
      {"RFC 3261 §16.7 step 6: 484 preferred in 4xx", 486, 484, 484},
      {"RFC 3261 §16.7 step 6: 6xx over any 4xx", 401, 603, 603},
      {"RFC 3261 §16.7 step 6: 6xx over 3xx", 302, 600, 600},
      {"RFC 3261 §16.2: 2xx over everything", 603, 200, 200},
      {"ties keep the first", 486, 480, 486},
      {"ties keep the first", 500, 503, 500},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
    cr_expect_eq(sipflow_reg_response_pick(rows[i].best, rows[i].candidate),
                 rows[i].want, "%s: %d vs %d", rows[i].rfc, rows[i].best,
                 rows[i].candidate);
  /* RFC 5626 §11.5 and RFC 3261 §16.7 step 6. */
  cr_expect_eq(sipflow_reg_response_upstream(430), 480);
  cr_expect_eq(sipflow_reg_response_upstream(503), 500);
  cr_expect_eq(sipflow_reg_response_upstream(486), 486);
  cr_expect_eq(sipflow_reg_response_upstream(200), 200);
}

Test(target, lookup_survives_allocation_failure) {
  harness h;
  sipflow_reg_plan *plan = (sipflow_reg_plan *)1;
  cr_assert_eq(harness_open(&h, 1), 0);
  flow(&h, INST_A, "1", 11, SIPFLOW_REG_Q_NONE);
  int64_t live = h.fa.live;
  fail_alloc_arm(&h.fa, 1, 0);
  cr_expect_eq(sipflow_registrar_lookup(h.reg, S(AOR), h.now, &plan),
               SIPFLOW_ERR_NOMEM);
  cr_expect_null(plan);
  cr_expect_eq(h.fa.live, live);
  cr_expect_eq(sipflow__registrar_check(h.reg), 0);
  plan = lookup(&h, AOR);
  group(plan, 1);
  sipflow_reg_plan_del(plan);
  harness_close(&h);
}
