/*
 * GRUUs (RFC 5627): minting in the 200, validity across Call-ID changes,
 * routing to one instance among several, failover within it, invalid
 * GRUUs. Each table row and test names the section it checks.
 */
#include "reg_harness.h"

#define AOR "sip:alice@example.com"
#define INST_A "<urn:uuid:00000000-0000-1000-8000-00000000000a>"
#define INST_B "<urn:uuid:00000000-0000-1000-8000-00000000000b>"
#define URN_A "urn:uuid:00000000-0000-1000-8000-00000000000a"
#define URN_B "urn:uuid:00000000-0000-1000-8000-00000000000b"

typedef struct gh {
  harness h;
  sipflow_keyring *kr;
  char pub[1024], temp[1024];
} gh;

static void gh_open(gh *g, uint8_t key_byte) {
  uint8_t key[SIPFLOW_TOKEN_KEY_LEN];
  memset(g, 0, sizeof(*g));
  memset(key, key_byte, sizeof(key));
  cr_assert_eq(harness_open(&g->h, 1), 0);
  cr_assert_eq(sipflow_keyring_new(&g->kr, g->h.ctx), 0);
  cr_assert_eq(sipflow_keyring_add(g->kr, 1, key, sizeof(key)), 0);
  cr_assert_eq(sipflow_registrar_set_gruu(g->h.reg, g->kr), 0);
}

static void gh_close(gh *g) {
  sipflow_registrar_del(g->h.reg);
  g->h.reg = NULL;
  sipflow_keyring_del(g->kr);
  sipflow_ctx_del(g->h.ctx);
  cr_expect_eq(g->h.fa.live, 0, "%lld allocations leaked",
               (long long)g->h.fa.live);
}

/* An Outbound REGISTER with Supported: gruu; copies the GRUUs of the
 * Contact with instance |inst| (if the 200 has them). */
static const sipflow_reg_result *reg_gruu(gh *g, const char *uri,
                                          const char *inst, const char *reg_id,
                                          const char *call_id, uint32_t cseq,
                                          sipflow_flow_id flow,
                                          unsigned supported) {
  reg_req r;
  const sipflow_reg_result *res;
  req_init(&r, AOR, call_id, cseq);
  r.req.supported = supported;
  req_ob_contact(&r, uri, inst, reg_id);
  req_flow(&r, flow);
  res = submit(&g->h, &r);
  cr_assert_eq(res->status, 200);
  g->pub[0] = g->temp[0] = '\0';
  for (size_t i = 0; i < res->n_contacts; i++) {
    const sipflow_reg_binding *b = &res->contacts[i];
    if (b->flow_id != flow)
      continue;
    snprintf(g->pub, sizeof(g->pub), "%.*s", (int)b->pub_gruu.len,
             b->pub_gruu.ptr);
    snprintf(g->temp, sizeof(g->temp), "%.*s", (int)b->temp_gruu.len,
             b->temp_gruu.ptr);
  }
  return res;
}

#define GRUU_OPTS (SIPFLOW_REG_OPT_OUTBOUND | SIPFLOW_REG_OPT_GRUU)

/* The URIs of the first group of |uri|'s GRUU plan, joined by spaces, or
 * the lookup's error. */
static int route(gh *g, const char *uri, char *out, size_t cap) {
  sipflow_reg_plan *plan = NULL;
  const sipflow_reg_branch *br;
  size_t n, len = 0;
  int rv = sipflow_registrar_lookup_gruu(g->h.reg, S(uri), g->h.now, &plan);
  out[0] = '\0';
  if (rv != 0) {
    cr_assert_null(plan);
    return rv;
  }
  cr_assert_eq(sipflow_reg_plan_next_group(plan, &br, &n), 0);
  for (size_t i = 0; i < n; i++)
    len +=
        (size_t)snprintf(out + len, cap - len, "%s%.*s", i ? " " : "",
                         (int)br[i].binding->uri.len, br[i].binding->uri.ptr);
  sipflow_reg_plan_del(plan);
  return 0;
}

/* ---- §5.1, §5.2 and §3.1: what the 200 carries
 * ----------------------------------
 */

Test(gruu, pub_and_temp_gruu_in_the_200_rfc5627_5_2) {
  gh g;
  gh_open(&g, 7);
  reg_gruu(&g, "sip:a@198.51.100.7;ob", INST_A, "1", "cid-a", 1, 1, GRUU_OPTS);
  /* §3.1.1, §5.1: the AoR with the instance ID as the gr value. */
  cr_expect_str_eq(g.pub, AOR ";gr=" URN_A);
  /* §3.1.2, §5.4: opaque user part in our domain, with a valueless gr. */
  cr_expect_eq(strncmp(g.temp, "sip:tgruu.", 10), 0, "%s", g.temp);
  size_t n = strlen(g.temp);
  cr_expect(n > 20 && strcmp(g.temp + n - 15, "@example.com;gr") == 0, "%s",
            g.temp);
  /* §3.1.2, §5.4: the AoR can not be read out of it. */
  cr_expect_null(strstr(g.temp, "alice"));
  gh_close(&g);
}

Test(gruu, no_gruus_without_supported_gruu_rfc5627_5_2) {
  gh g;
  gh_open(&g, 7);
  reg_gruu(&g, "sip:a@198.51.100.7;ob", INST_A, "1", "cid-a", 1, 1,
           SIPFLOW_REG_OPT_OUTBOUND);
  cr_expect_str_eq(g.pub, "");
  cr_expect_str_eq(g.temp, "");
  gh_close(&g);
}

Test(gruu, answer_text_carries_the_gruus_and_supported_gruu_rfc5627_5_2) {
  gh g;
  char buf[4096];
  gh_open(&g, 7);
  const sipflow_reg_result *res = reg_gruu(&g, "sip:a@198.51.100.7;ob", INST_A,
                                           "1", "cid-a", 1, 1, GRUU_OPTS);
  cr_assert_eq(sipflow_reg_answer_format(res, NULL, buf, sizeof(buf), NULL), 0);
  cr_expect_not_null(strstr(buf, ";pub-gruu=\"" AOR ";gr=" URN_A "\""), "%s",
                     buf);
  cr_expect_not_null(strstr(buf, ";temp-gruu=\"sip:tgruu."), "%s", buf);
  cr_expect_not_null(strstr(buf, "Supported: outbound, path, gruu\r\n"), "%s",
                     buf);
  gh_close(&g);
}

Test(gruu, require_gruu_with_gruus_off_gets_420_rfc3261_8_2_2_3) {
  harness h;
  reg_req r;
  char buf[512];
  cr_assert_eq(harness_open(&h, 1), 0);
  req_init(&r, AOR, "c", 1);
  r.req.require = SIPFLOW_REG_OPT_GRUU;
  req_ob_contact(&r, "sip:a@198.51.100.7;ob", INST_A, "1");
  const sipflow_reg_result *res = submit(&h, &r);
  cr_expect_eq(res->status, 420);
  cr_assert_eq(sipflow_reg_answer_format(res, &r.req, buf, sizeof(buf), NULL),
               0);
  cr_expect_not_null(strstr(buf, "Unsupported: gruu\r\n"), "%s", buf);
  harness_close(&h);
}

/* ---- validity and routing, one RFC section per row ------------------------
 */

Test(gruu, table_of_validity_and_routing) {
  gh g;
  char got[512], pub_a[1024], temp_a1[1024], temp_a2[1024], temp_b[1024];
  gh_open(&g, 7);
  /* Two devices on one AoR, each its own instance. */
  reg_gruu(&g, "sip:a@198.51.100.7;ob", INST_A, "1", "cid-a", 1, 1, GRUU_OPTS);
  strcpy(pub_a, g.pub);
  strcpy(temp_a1, g.temp);
  reg_gruu(&g, "sip:b@198.51.100.8;ob", INST_B, "1", "cid-b", 1, 2, GRUU_OPTS);
  strcpy(temp_b, g.temp);
  g.h.now += SEC;
  reg_gruu(&g, "sip:a@198.51.100.7;ob", INST_A, "1", "cid-a", 2, 1, GRUU_OPTS);
  strcpy(temp_a2, g.temp);

  struct {
    const char *rfc, *uri;
    int rv;
    const char *targets;
  } rows[] = {
      {"§6.1 pub-gruu reaches its instance alone", pub_a, 0,
       "sip:a@198.51.100.7;ob"},
      {"§6.1 temp-gruu reaches its instance alone", temp_b, 0,
       "sip:b@198.51.100.8;ob"},
      {"§5.1 a refresh mints a new temp-gruu", temp_a2, 0,
       "sip:a@198.51.100.7;ob"},
      {"§5.1 the older one stays valid with the same Call-ID", temp_a1, 0,
       "sip:a@198.51.100.7;ob"},
      {"§6.1 gr with a URN that never registered: 480", AOR ";gr=" URN_A "f",
       SIPFLOW_ERR_NOT_FOUND, ""},
      {"§6.1 pub-gruu of another AoR: 480", "sip:bob@example.com;gr=" URN_A,
       SIPFLOW_ERR_NOT_FOUND, ""},
      {"§6.1 temp-gruu we never minted: 404",
       "sip:tgruu.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA@"
       "example.com;gr",
       SIPFLOW_ERR_TAMPERED, ""},
      {"§3.1.2, §6.1 gr without a value on a non-temporary user: 404",
       AOR ";gr", SIPFLOW_ERR_MALFORMED, ""},
      {"§3.1 no gr at all is not a GRUU", AOR, SIPFLOW_ERR_MALFORMED, ""},
      {"§3.1.1 gr compares as a URN (RFC 2141 case-insensitive NID)",
       AOR ";gr=URN:UUID:00000000-0000-1000-8000-00000000000a", 0,
       "sip:a@198.51.100.7;ob"},
      {"§3.1.1 gr %-escaped",
       AOR ";gr=urn%3Auuid:00000000-0000-1000-8000-"
           "00000000000b",
       0, "sip:b@198.51.100.8;ob"},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    int rv = route(&g, rows[i].uri, got, sizeof(got));
    cr_expect_eq(rv, rows[i].rv, "%s: %s", rows[i].rfc, sipflow_strerror(rv));
    cr_expect_str_eq(got, rows[i].targets, "%s", rows[i].rfc);
  }
  gh_close(&g);
}

Test(gruu, new_call_id_invalidates_old_temp_gruus_rfc5627_5_1) {
  gh g;
  char got[256], old_temp[1024];
  gh_open(&g, 7);
  reg_gruu(&g, "sip:a@198.51.100.7;ob", INST_A, "1", "cid-1", 1, 1, GRUU_OPTS);
  strcpy(old_temp, g.temp);
  cr_assert_eq(route(&g, old_temp, got, sizeof(got)), 0);
  /* The device restarts: a new Call-ID (RFC 3261 §10.2.4 allows it). */
  g.h.now += SEC;
  reg_gruu(&g, "sip:a@198.51.100.7;ob", INST_A, "1", "cid-2", 1, 1, GRUU_OPTS);
  cr_expect_eq(route(&g, old_temp, got, sizeof(got)), SIPFLOW_ERR_STALE);
  cr_expect_eq(sipflow_reg_gruu_status(SIPFLOW_ERR_STALE), 404);
  cr_expect_eq(route(&g, g.temp, got, sizeof(got)), 0);
  cr_expect_str_eq(got, "sip:a@198.51.100.7;ob");
  gh_close(&g);
}

Test(gruu, expired_instance_gets_480_not_404_rfc5627_5_3_6_1) {
  gh g;
  char got[256], temp[1024], pub[1024];
  gh_open(&g, 7);
  reg_gruu(&g, "sip:a@198.51.100.7;ob", INST_A, "1", "cid-1", 1, 1, GRUU_OPTS);
  strcpy(temp, g.temp);
  strcpy(pub, g.pub);
  g.h.now += 3601 * SEC;
  cr_expect_eq(route(&g, temp, got, sizeof(got)), SIPFLOW_ERR_NOT_FOUND);
  cr_expect_eq(route(&g, pub, got, sizeof(got)), SIPFLOW_ERR_NOT_FOUND);
  cr_expect_eq(sipflow_reg_gruu_status(SIPFLOW_ERR_NOT_FOUND), 480);
  gh_close(&g);
}

Test(gruu, tampered_or_foreign_key_temp_gruu_gets_404_rfc5627_6_1) {
  gh g, other;
  char got[256], temp[1024];
  gh_open(&g, 7);
  reg_gruu(&g, "sip:a@198.51.100.7;ob", INST_A, "1", "cid-1", 1, 1, GRUU_OPTS);
  strcpy(temp, g.temp);
  /* One character of the token changed. */
  temp[20] = temp[20] == 'A' ? 'B' : 'A';
  cr_expect_eq(route(&g, temp, got, sizeof(got)), SIPFLOW_ERR_TAMPERED);
  cr_expect_eq(sipflow_reg_gruu_status(SIPFLOW_ERR_TAMPERED), 404);
  /* Minted by a registrar with another key. */
  gh_open(&other, 9);
  reg_gruu(&other, "sip:a@198.51.100.7;ob", INST_A, "1", "cid-1", 1, 1,
           GRUU_OPTS);
  cr_expect_eq(route(&g, other.temp, got, sizeof(got)), SIPFLOW_ERR_TAMPERED);
  gh_close(&other);
  gh_close(&g);
}

/* RFC 5627 §6.1 with RFC 5626 §7: one flow of the instance at a time,
 * the next after 430; the other device is never tried. */
Test(gruu, failover_stays_within_the_instance_rfc5627_6_1_rfc5626_7) {
  gh g;
  sipflow_reg_plan *plan = NULL;
  const sipflow_reg_branch *br, *next;
  size_t n;
  char temp[1024];
  gh_open(&g, 7);
  reg_gruu(&g, "sip:a1@198.51.100.7;ob", INST_A, "1", "cid-a", 1, 1, GRUU_OPTS);
  reg_gruu(&g, "sip:a2@198.51.100.7;ob", INST_A, "2", "cid-a", 2, 2, GRUU_OPTS);
  strcpy(temp, g.temp);
  reg_gruu(&g, "sip:b@198.51.100.8;ob", INST_B, "1", "cid-b", 1, 3, GRUU_OPTS);
  cr_assert_eq(sipflow_registrar_lookup_gruu(g.h.reg, S(temp), g.h.now, &plan),
               0);
  cr_assert_eq(sipflow_reg_plan_next_group(plan, &br, &n), 0);
  cr_assert_eq(n, 1);
  cr_expect_eq(br->binding->flow_id, 1);
  cr_assert_eq(sipflow_reg_plan_report(plan, br->id, 430, g.h.now, &next), 0);
  cr_assert_not_null(next);
  cr_expect_eq(next->binding->flow_id, 2);
  cr_assert_eq(sipflow_reg_plan_report(plan, next->id, 408, g.h.now, &next), 0);
  cr_expect_null(next);
  cr_assert_eq(sipflow_reg_plan_next_group(plan, &br, &n), 0);
  cr_expect_eq(n, 0, "the other device must not be tried");
  cr_expect_eq(sipflow_reg_plan_final_status(plan), 408);
  sipflow_reg_plan_del(plan);
  gh_close(&g);
}

/* The pub-gruu escapes what a URI parameter can not hold (§3.1.1, §5.1) and the
 * escaped form routes back. */
Test(gruu, pub_gruu_escapes_the_instance_rfc5627_5_1) {
  gh g;
  char got[256];
  gh_open(&g, 7);
  reg_gruu(&g, "sip:a@198.51.100.7;ob", "<urn:x-test:a;b=c@d>", "1", "cid-a", 1,
           1, GRUU_OPTS);
  cr_expect_str_eq(g.pub, AOR ";gr=urn:x-test:a%3Bb%3Dc%40d");
  cr_expect_eq(route(&g, g.pub, got, sizeof(got)), 0);
  cr_expect_str_eq(got, "sip:a@198.51.100.7;ob");
  gh_close(&g);
}

/* A temporary GRUU minted on one node routes on another that shares the
 * key ring and the bindings (a cluster, or the same node after a restart
 * that restored its bindings): nothing but the key is needed. */
Test(gruu, temp_gruu_verifies_on_another_registrar_with_the_ring) {
  gh a, b;
  char got[256];
  gh_open(&a, 7);
  gh_open(&b, 7);
  reg_gruu(&a, "sip:a@198.51.100.7;ob", INST_A, "1", "cid-a", 1, 1, GRUU_OPTS);
  reg_gruu(&b, "sip:a@198.51.100.7;ob", INST_A, "1", "cid-a", 1, 1,
           SIPFLOW_REG_OPT_OUTBOUND);
  cr_expect_eq(route(&b, a.temp, got, sizeof(got)), 0);
  cr_expect_str_eq(got, "sip:a@198.51.100.7;ob");
  gh_close(&b);
  gh_close(&a);
}

Test(gruu, lookup_with_gruus_off_is_bad_state) {
  harness h;
  sipflow_reg_plan *plan = NULL;
  cr_assert_eq(harness_open(&h, 1), 0);
  cr_expect_eq(
      sipflow_registrar_lookup_gruu(h.reg, S(AOR ";gr=" URN_A), h.now, &plan),
      SIPFLOW_ERR_BAD_STATE);
  cr_expect_eq(sipflow_reg_uri_is_gruu(S(AOR ";gr=" URN_A)), 1);
  cr_expect_eq(sipflow_reg_uri_is_gruu(S(AOR ";grx=1")), 0);
  cr_expect_eq(sipflow_reg_uri_is_gruu(S(AOR)), 0);
  harness_close(&h);
}

Test(gruu, registrar_gruu_for_a_dump_view) {
  gh g;
  char buf[2048];
  sipflow_str pub, temp;
  gh_open(&g, 7);
  const sipflow_reg_result *res =
      reg_gruu(&g, "sip:a@198.51.100.7;ob", INST_A, "1", "cid-a", 1, 1,
               SIPFLOW_REG_OPT_OUTBOUND);
  cr_assert_eq(sipflow_registrar_gruu(g.h.reg, &res->contacts[0], buf,
                                      sizeof(buf), &pub, &temp),
               0);
  cr_expect_eq(pub.len, strlen(AOR ";gr=" URN_A));
  cr_expect_eq(
      sipflow_registrar_gruu(g.h.reg, &res->contacts[0], buf, 40, &pub, &temp),
      SIPFLOW_ERR_BUFFER_TOO_SMALL);
  gh_close(&g);
}

/* Every allocation failure on the GRUU paths is survivable: turning GRUUs
 * on, a REGISTER that mints them and a GRUU lookup give 0 or
 * SIPFLOW_ERR_NOMEM (a 500 with nothing changed) and leak nothing. */
Test(gruu, every_allocation_failure_is_survivable) {
  uint64_t n;
  for (n = 1; n < 200; n++) {
    gh g;
    reg_req r;
    const sipflow_reg_result *res = NULL;
    sipflow_reg_plan *plan = NULL;
    uint64_t failures;
    int rv;
    uint8_t key[SIPFLOW_TOKEN_KEY_LEN];
    memset(&g, 0, sizeof(g));
    memset(key, 7, sizeof(key));
    cr_assert_eq(harness_open(&g.h, 1), 0);
    cr_assert_eq(sipflow_keyring_new(&g.kr, g.h.ctx), 0);
    cr_assert_eq(sipflow_keyring_add(g.kr, 1, key, sizeof(key)), 0);
    fail_alloc_arm(&g.h.fa, n, 0);
    rv = sipflow_registrar_set_gruu(g.h.reg, g.kr);
    cr_assert(rv == 0 || rv == SIPFLOW_ERR_NOMEM);
    if (rv == 0) {
      req_init(&r, AOR, "cid-a", 1);
      r.req.supported = GRUU_OPTS;
      req_ob_contact(&r, "sip:a@198.51.100.7;ob", INST_A, "1");
      req_flow(&r, 1);
      rv = sipflow_registrar_process(g.h.reg, &r.req, g.h.now, &res);
      cr_assert(rv == 0 || rv == SIPFLOW_ERR_NOMEM);
      cr_assert_eq(sipflow__registrar_check(g.h.reg), 0);
      if (rv == 0 && res->status == 200) {
        cr_assert(res->contacts[0].temp_gruu.len > 0);
        snprintf(g.temp, sizeof(g.temp), "%.*s",
                 (int)res->contacts[0].temp_gruu.len,
                 res->contacts[0].temp_gruu.ptr);
        rv = sipflow_registrar_lookup_gruu(g.h.reg, S(g.temp), g.h.now, &plan);
        cr_assert(rv == 0 || rv == SIPFLOW_ERR_NOMEM, "%s",
                  sipflow_err_name(rv));
        sipflow_reg_plan_del(plan);
      }
    }
    failures = g.h.fa.failures;
    gh_close(&g);
    if (failures == 0)
      break;
  }
  cr_expect_lt(n, 200, "the scenario never completed");
  cr_expect_gt(n, 3, "too few allocations to be a sweep");
}

/* Lookup by GRUU is keyed by the AoR and the instance (RFC 5627 §6.1): one
 * device (one instance) registered under many AoRs, its lines, and an AoR
 * full of instances (max_contacts of them). Each line's public and
 * temporary GRUU reaches that line's binding alone, and the last instance
 * of the full AoR is found as the first is. */
Test(gruu, lookup_keyed_by_aor_and_instance_rfc5627_6_1) {
  enum { LINES = 200 };
  static char temps[LINES][1024];
  gh g;
  char got[256], aor[64], uri[96], cid[32], pub[128];
  gh_open(&g, 7);
  for (int i = 0; i < LINES; i++) {
    reg_req r;
    const sipflow_reg_result *res;
    snprintf(aor, sizeof(aor), "sip:line%d@example.com", i);
    snprintf(uri, sizeof(uri), "sip:line%d@198.51.100.7;ob", i);
    snprintf(cid, sizeof(cid), "cid-line-%d", i);
    req_init(&r, aor, cid, 1);
    r.req.supported = GRUU_OPTS;
    req_ob_contact(&r, uri, INST_A, "1");
    req_flow(&r, (sipflow_flow_id)(100 + i));
    res = submit(&g.h, &r);
    cr_assert_eq(res->status, 200);
    cr_assert_eq(res->n_contacts, 1);
    cr_assert_lt(res->contacts[0].temp_gruu.len, sizeof(temps[i]));
    memcpy(temps[i], res->contacts[0].temp_gruu.ptr,
           res->contacts[0].temp_gruu.len);
  }
  for (int i = 0; i < LINES; i += 7) {
    snprintf(uri, sizeof(uri), "sip:line%d@198.51.100.7;ob", i);
    snprintf(pub, sizeof(pub), "sip:line%d@example.com;gr=" URN_A, i);
    cr_expect_eq(route(&g, pub, got, sizeof(got)), 0, "line %d", i);
    cr_expect_str_eq(got, uri, "pub-gruu of line %d", i);
    cr_expect_eq(route(&g, temps[i], got, sizeof(got)), 0, "line %d", i);
    cr_expect_str_eq(got, uri, "temp-gruu of line %d", i);
  }
  /* One AoR with max_contacts instances: each is reached by its own. */
  sipflow_registrar_settings set;
  sipflow_registrar_settings_default(&set);
  for (uint32_t k = 0; k < set.max_contacts; k++) {
    char inst[64];
    snprintf(inst, sizeof(inst), "<urn:uuid:00000000-0000-1000-8000-%012u>",
             (unsigned)(0x100 + k));
    snprintf(uri, sizeof(uri), "sip:full%u@198.51.100.9;ob", (unsigned)k);
    snprintf(cid, sizeof(cid), "cid-full-%u", (unsigned)k);
    reg_gruu(&g, uri, inst, "1", cid, 1, (sipflow_flow_id)(1000 + k),
             GRUU_OPTS);
    cr_expect_eq(route(&g, g.temp, got, sizeof(got)), 0);
    cr_expect_str_eq(got, uri, "temp-gruu of instance %u", (unsigned)k);
    cr_expect_eq(route(&g, g.pub, got, sizeof(got)), 0);
    cr_expect_str_eq(got, uri, "pub-gruu of instance %u", (unsigned)k);
  }
  gh_close(&g);
}
