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

/* ---- instance groups ---------------------------------------------------- */

Test(target, a_binding_whose_instance_changes_moves_to_its_own_branch) {
  harness h;
  sipflow_reg_plan *plan;
  reg_req r;
  cr_assert_eq(harness_open(&h, 1), 0);
  /* Two Contacts without reg-id (keyed by URI) of one instance, written
   * in two cases (RFC 5626 §4.1: urn:uuid compares case-insensitively). */
  req_init(&r, AOR, "c1", 1);
  req_contact(&r, "sip:alice@192.0.2.1")->instance = S(INST_A);
  req_contact(&r, "sip:alice@192.0.2.2")->instance = S(INST_A_UP);
  cr_assert_eq(submit(&h, &r)->status, 200);
  plan = lookup(&h, AOR);
  report(&h, plan, group(plan, 1), 486); /* one instance: one branch */
  sipflow_reg_plan_del(plan);
  /* The first Contact now names another instance (same length: rewritten
   * in place): two instances, two parallel branches. */
  req_init(&r, AOR, "c1", 2);
  req_contact(&r, "sip:alice@192.0.2.1")->instance = S(INST_B);
  cr_assert_eq(submit(&h, &r)->status, 200);
  plan = lookup(&h, AOR);
  group(plan, 2);
  sipflow_reg_plan_del(plan);
  /* And back: one branch again. */
  req_init(&r, AOR, "c1", 3);
  req_contact(&r, "sip:alice@192.0.2.1")->instance = S(INST_A);
  cr_assert_eq(submit(&h, &r)->status, 200);
  plan = lookup(&h, AOR);
  group(plan, 1);
  sipflow_reg_plan_del(plan);
  harness_close(&h);
}

/* White box: the AoR slot's hints are only prefetched, so stale ones must
 * not change a plan, and a lookup mends them. */
static const sipflow__reg_slot *aor_slot(const harness *h, const char *aor) {
  const sipflow_registrar *reg = h->reg;
  uint64_t hash = sipflow__reg_hash_aor(reg, aor, strlen(aor));
  size_t pos = sipflow__reg_index_home(&reg->aors, hash);
  const sipflow__reg_slot *s = sipflow__reg_index_next(&reg->aors, hash, &pos);
  cr_assert_not_null(s);
  return s;
}

Test(target, stale_hints_change_no_plan_and_a_lookup_mends_them) {
  harness h;
  sipflow_reg_plan *plan;
  const sipflow__reg_slot *s;
  const sipflow__reg_aor *aor;
  const sipflow_reg_branch *br;
  cr_assert_eq(harness_open(&h, 1), 0);
  flow(&h, INST_A, "1", 11, SIPFLOW_REG_Q_NONE);
  flow(&h, INST_B, "1", 12, SIPFLOW_REG_Q_NONE);
  flow(&h, INST_B, "2", 13, SIPFLOW_REG_Q_NONE);
  s = aor_slot(&h, AOR);
  aor = s->obj;
  cr_assert_eq(aor->n, 3);
  cr_expect_eq(s->hint[0], aor->b[0]); /* set by the REGISTERs */
  cr_expect_eq(s->hint[1], aor->b[1]);
  /* The flow of the oldest binding fails: the hints now name a freed
   * binding and the one that moved up. */
  cr_assert_eq(sipflow_registrar_flow_failed(h.reg, 11, h.now), 0);
  cr_assert_eq(aor->n, 2);
  cr_expect_neq(s->hint[0], aor->b[0]);
  plan = lookup(&h, AOR);
  br = group(plan, 1); /* instance B only, its reg-id 1 first */
  cr_expect_eq(br->binding->flow_id, 12);
  cr_expect_eq(s->hint[0], aor->b[0]);
  cr_expect_eq(s->hint[1], aor->b[1]);
  cr_expect_eq(sipflow__registrar_check(h.reg), 0);
  sipflow_reg_plan_del(plan);
  harness_close(&h);
}

/* ---- batched lookups ---------------------------------------------------- */

/* The flows of every group of |plan|, in order, answering 486 to each
 * branch to reach the next group; -1 ends each group. */
static size_t plan_flows(harness *h, sipflow_reg_plan *plan, long *out,
                         size_t room) {
  const sipflow_reg_branch *br;
  size_t n, len = 0;
  while (sipflow_reg_plan_next_group(plan, &br, &n) == 0 && n > 0) {
    for (size_t i = 0; i < n && len < room; i++)
      out[len++] = (long)br[i].binding->flow_id;
    for (size_t i = 0; i < n; i++)
      report(h, plan, &br[i], 486);
    if (len < room)
      out[len++] = -1;
  }
  return len;
}

Test(target, a_batched_lookup_gives_what_each_lookup_gives) {
  static const char *const uris[] = {
      AOR,
      "sip:bob@example.com",
      "sip:nobody@example.com",
      "tel:+15551234",
      "sip:alice@EXAMPLE.com;transport=tcp",
      "",
      "sip:carol@example.com",
      AOR,
      "sip:bob@example.com",
      "sip:dave@example.com",
      "sip:carol@example.com",
      "sip:alice@example.com?x=y",
      "sip:bob@example.com",
      "sip:eve@example.com",
      "sip:bob@example.com",
      AOR,
      "sip:nobody@example.com",
      "sip:carol@example.com",
      "sip:alice@example.com", /* 19: more than two rounds */
  };
  enum { N = sizeof(uris) / sizeof(uris[0]) };
  harness h;
  sipflow_str in[N];
  sipflow_reg_plan *plans[N];
  int results[N];
  reg_req r;
  cr_assert_eq(harness_open(&h, 1), 0);
  flow(&h, INST_A, "1", 11, 500);
  flow(&h, INST_A, "2", 12, 500);
  flow(&h, INST_B, "1", 13, 900);
  plain(&h, "sip:alice@192.0.2.50", SIPFLOW_REG_Q_NONE);
  req_init(&r, "sip:bob@example.com", "b1", 1);
  req_contact(&r, "sip:bob@192.0.2.60");
  req_flow(&r, 21);
  cr_assert_eq(submit(&h, &r)->status, 200);
  req_init(&r, "sip:carol@example.com", "c1", 1);
  req_ob_contact(&r, "sip:carol@192.0.2.70", INST_B, "1");
  req_flow(&r, 31);
  cr_assert_eq(submit(&h, &r)->status, 200);
  for (size_t i = 0; i < N; i++)
    in[i] = S(uris[i]);
  cr_assert_eq(
      sipflow_registrar_lookup_batch(h.reg, in, N, h.now, plans, results), 0);
  for (size_t i = 0; i < N; i++) {
    sipflow_reg_plan *one = NULL;
    int rv = sipflow_registrar_lookup(h.reg, in[i], h.now, &one);
    long want[32], got[32];
    size_t nw, ng;
    cr_expect_eq(results[i], rv, "%s: %d, alone %d", uris[i], results[i], rv);
    cr_expect_eq(plans[i] == NULL, rv != 0, "%s", uris[i]);
    if (rv != 0 || !plans[i]) {
      sipflow_reg_plan_del(plans[i]);
      continue;
    }
    nw = plan_flows(&h, one, want, 32);
    ng = plan_flows(&h, plans[i], got, 32);
    cr_expect_eq(ng, nw, "%s", uris[i]);
    cr_expect_eq(memcmp(got, want, nw * sizeof(want[0])), 0, "%s", uris[i]);
    sipflow_reg_plan_del(one);
    sipflow_reg_plan_del(plans[i]);
  }
  cr_expect_eq(results[0], 0);
  cr_expect_eq(results[2], SIPFLOW_ERR_NOT_FOUND);
  cr_expect_eq(results[3], SIPFLOW_ERR_MALFORMED);
  cr_expect_eq(results[5], SIPFLOW_ERR_MALFORMED);
  harness_close(&h);
}

Test(target, batched_lookup_arguments_and_allocation_failure) {
  harness h;
  sipflow_str in[3] = {S(AOR), S("sip:bob@example.com"), S(AOR)};
  sipflow_reg_plan *plans[3];
  int results[3];
  int64_t live;
  cr_assert_eq(harness_open(&h, 1), 0);
  flow(&h, INST_A, "1", 11, SIPFLOW_REG_Q_NONE);
  cr_expect_eq(
      sipflow_registrar_lookup_batch(NULL, in, 3, h.now, plans, results),
      SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(
      sipflow_registrar_lookup_batch(h.reg, NULL, 3, h.now, plans, results),
      SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(
      sipflow_registrar_lookup_batch(h.reg, in, 3, h.now, NULL, results),
      SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_registrar_lookup_batch(h.reg, in, 3, h.now, plans, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(
      sipflow_registrar_lookup_batch(h.reg, NULL, 0, h.now, NULL, NULL), 0);
  cr_expect_eq(
      sipflow_registrar_lookup_batch(h.reg, in, 3, h.now - 1, plans, results),
      SIPFLOW_ERR_TIME_BACKWARDS);
  for (size_t i = 0; i < 3; i++)
    cr_expect_null(plans[i]);
  /* The first batched call makes its scratch: that failing fails the
   * call and changes nothing. */
  live = h.fa.live;
  fail_alloc_arm(&h.fa, 1, 0);
  cr_expect_eq(
      sipflow_registrar_lookup_batch(h.reg, in, 3, h.now, plans, results),
      SIPFLOW_ERR_NOMEM);
  cr_expect_eq(h.fa.live, live);
  for (size_t i = 0; i < 3; i++)
    cr_expect_null(plans[i]);
  /* Then one plan's allocation fails: only that lookup. The call's
   * allocations are the scratch (1) and the third lookup's plan (2): the
   * first takes the spare plan a single lookup leaves behind. */
  sipflow_reg_plan_del(lookup(&h, AOR));
  fail_alloc_arm(&h.fa, 2, 0);
  cr_expect_eq(
      sipflow_registrar_lookup_batch(h.reg, in, 3, h.now, plans, results), 0);
  cr_expect_eq(results[0], 0);
  cr_expect_eq(results[1], SIPFLOW_ERR_NOT_FOUND);
  cr_expect_eq(results[2], SIPFLOW_ERR_NOMEM);
  cr_expect_null(plans[2]);
  cr_expect_eq(sipflow__registrar_check(h.reg), 0);
  sipflow_reg_plan_del(plans[0]);
  harness_close(&h);
}
