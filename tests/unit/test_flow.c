/*
 * The flow table: registering connections, looking tokens up, generations,
 * the failure callback, UDP without table state, and allocation failures.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "fail_alloc.h"
#include "flow_int.h"
#include "sipflow/flow.h"
#include "sipflow/token.h"

#define MAX_EVENTS 16

typedef struct recorder {
  int calls;
  sipflow_flow_info flows[MAX_EVENTS];
  int reasons[MAX_EVENTS];
  /* what the callback saw when it looked its own token up */
  int lookup_in_callback;
  char token[SIPFLOW_TOKEN_BUFLEN];
  /* a flow to end from inside the callback, 0 for none */
  sipflow_flow_id end_inside;
  int expiry_in_callback; /* 1: try sipflow_ctx_handle_expiry() inside */
  int expiry_rv;
} recorder;

static fail_alloc fa;
static sipflow_ctx *ctx;
static sipflow_keyring *kr;
static sipflow_flow_table *ft;
static recorder rec;
static sipflow_tstamp now = 1000 * SIPFLOW_SECONDS;

static void on_failed(sipflow_flow_table *t, const sipflow_flow_info *flow,
                      int reason, void *ud) {
  recorder *r = ud;
  if (r->calls < MAX_EVENTS) {
    r->flows[r->calls] = *flow;
    r->reasons[r->calls] = reason;
  }
  r->calls++;
  if (r->token[0])
    r->lookup_in_callback =
        sipflow_flow_lookup(t, r->token, strlen(r->token), NULL);
  if (r->expiry_in_callback)
    r->expiry_rv = sipflow_ctx_handle_expiry(ctx, now + 2);
  if (r->end_inside) {
    sipflow_flow_id id = r->end_inside;
    r->end_inside = 0;
    cr_expect_eq(sipflow_flow_end(t, id, SIPFLOW_FLOW_END_RESET, now), 0);
  }
}

static void setup(void) {
  uint8_t key[SIPFLOW_TOKEN_KEY_LEN] = {1, 2, 3};
  sipflow_flow_callbacks cb = {on_failed};
  fail_alloc_init(&fa);
  memset(&rec, 0, sizeof(rec));
  cr_assert_eq(sipflow_ctx_new(&ctx, NULL, NULL, &fa.mem, NULL), 0);
  cr_assert_eq(sipflow_keyring_new(&kr, ctx), 0);
  cr_assert_eq(sipflow_keyring_add(kr, 7, key, sizeof(key)), 0);
  cr_assert_eq(sipflow_flow_table_new(&ft, ctx, kr, &cb, NULL, &rec), 0);
}

static void teardown(void) {
  sipflow_flow_table_del(ft);
  sipflow_keyring_del(kr);
  sipflow_ctx_del(ctx);
  cr_expect_eq(fa.live, 0, "every allocation freed");
}

TestSuite(flow, .init = setup, .fini = teardown);

static sipflow_flow_tuple tuple_n(int transport, uint32_t n) {
  sipflow_flow_tuple t;
  memset(&t, 0, sizeof(t));
  t.transport = (uint8_t)transport;
  cr_assert_eq(sipflow_addr_parse(&t.local, "192.0.2.1", 5060), 0);
  cr_assert_eq(sipflow_addr_parse(&t.remote, "198.51.100.0", 0), 0);
  memcpy(t.remote.bytes, &n, 4); /* a distinct remote address per n */
  t.remote.port = (uint16_t)(1024 + n % 60000);
  return t;
}

static sipflow_flow_tuple tcp(uint32_t n) {
  return tuple_n(SIPFLOW_TRANSPORT_TCP, n);
}

static sipflow_flow_id add(const sipflow_flow_tuple *t, uint64_t handle) {
  sipflow_flow_id id = 0;
  cr_assert_eq(sipflow_flow_add(ft, t, handle, now, &id), 0);
  cr_assert_neq(id, 0);
  return id;
}

static void token_of(sipflow_flow_id id, char *buf) {
  size_t len;
  cr_assert_eq(sipflow_flow_token(ft, id, buf, SIPFLOW_TOKEN_BUFLEN, &len), 0);
  cr_assert_eq(strlen(buf), len);
}

static int lookup(const char *tok, sipflow_flow_info *info) {
  return sipflow_flow_lookup(ft, tok, strlen(tok), info);
}

/* ---- registering and looking up ------------------------------------------ */

Test(flow, a_registered_connection_is_found_from_its_token) {
  sipflow_flow_tuple t = tcp(1);
  sipflow_flow_info info;
  char tok[SIPFLOW_TOKEN_BUFLEN];
  sipflow_flow_id id = add(&t, 0xfeedface12345678ull);
  token_of(id, tok);
  cr_expect_eq(strlen(tok), SIPFLOW_TOKEN_IPV4_LEN);
  cr_assert_eq(lookup(tok, &info), 0);
  cr_expect_eq(info.id, id);
  cr_expect_eq(info.handle, 0xfeedface12345678ull);
  cr_expect(sipflow_flow_tuple_same(&info.tuple, &t));
  cr_expect_neq(info.tuple.generation, 0, "the table sets the generation");
  cr_expect_eq(sipflow_flow_count(ft), 1);
}

Test(flow, get_and_find_return_the_same_flow) {
  sipflow_flow_tuple t = tuple_n(SIPFLOW_TRANSPORT_WSS, 3), probe;
  sipflow_flow_info info;
  sipflow_flow_id id = add(&t, 33), found = 0;
  cr_assert_eq(sipflow_flow_get(ft, id, &info), 0);
  cr_expect_eq(info.handle, 33);
  probe = t;
  probe.generation = 12345; /* ignored by find */
  cr_assert_eq(sipflow_flow_find(ft, &probe, &found), 0);
  cr_expect_eq(found, id);
  probe.remote.port++;
  cr_expect_eq(sipflow_flow_find(ft, &probe, &found), SIPFLOW_ERR_NOT_FOUND);
  probe = t;
  probe.transport = SIPFLOW_TRANSPORT_WS;
  cr_expect_eq(sipflow_flow_find(ft, &probe, &found), SIPFLOW_ERR_NOT_FOUND);
}

Test(flow, ipv6_flows_work_the_same_way) {
  sipflow_flow_tuple t;
  sipflow_flow_info info;
  char tok[SIPFLOW_TOKEN_BUFLEN];
  sipflow_flow_id id;
  memset(&t, 0, sizeof(t));
  t.transport = SIPFLOW_TRANSPORT_TLS;
  cr_assert_eq(sipflow_addr_parse(&t.local, "2001:db8::1", 5061), 0);
  cr_assert_eq(sipflow_addr_parse(&t.remote, "2001:db8::99", 40000), 0);
  id = add(&t, 6);
  token_of(id, tok);
  cr_expect_eq(strlen(tok), SIPFLOW_TOKEN_IPV6_LEN);
  cr_assert_eq(lookup(tok, &info), 0);
  cr_expect_eq(info.id, id);
  cr_expect(sipflow_flow_tuple_same(&info.tuple, &t));
}

Test(flow, a_second_live_flow_with_the_same_tuple_is_refused) {
  sipflow_flow_tuple t = tcp(1);
  sipflow_flow_id id = add(&t, 1), other = 0;
  cr_expect_eq(sipflow_flow_add(ft, &t, 2, now, &other), SIPFLOW_ERR_EXISTS);
  cr_expect_eq(other, id, "the live flow's id is returned");
  cr_expect_eq(sipflow_flow_count(ft), 1);
}

Test(flow, add_checks_its_arguments_and_time) {
  sipflow_flow_tuple t = tcp(1), bad = tcp(2);
  sipflow_flow_id id = 0;
  bad.remote.family = SIPFLOW_AF_INET6;
  cr_expect_eq(sipflow_flow_add(ft, &bad, 1, now, &id),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  bad = tcp(2);
  bad.transport = 0;
  cr_expect_eq(sipflow_flow_add(ft, &bad, 1, now, &id),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_flow_add(NULL, &t, 1, now, &id),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_flow_add(ft, NULL, 1, now, &id),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_flow_add(ft, &t, 1, now, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  add(&t, 1);
  cr_expect_eq(sipflow_flow_add(ft, &bad, 1, now - 1, &id),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  t = tcp(3);
  cr_expect_eq(sipflow_flow_add(ft, &t, 1, now - 1, &id),
               SIPFLOW_ERR_TIME_BACKWARDS);
  cr_expect_eq(sipflow_flow_count(ft), 1, "nothing added");
}

Test(flow, max_flows_is_enforced) {
  sipflow_flow_table *small;
  sipflow_flow_settings s;
  sipflow_flow_tuple a = tcp(1), b = tcp(2);
  sipflow_flow_id id;
  sipflow_flow_settings_default(&s);
  cr_expect_eq(s.max_flows, 0, "no limit by default");
  s.max_flows = 1;
  cr_assert_eq(sipflow_flow_table_new(&small, ctx, kr, NULL, &s, NULL), 0);
  cr_expect_eq(sipflow_flow_add(small, &a, 1, now, &id), 0);
  cr_expect_eq(sipflow_flow_add(small, &b, 2, now, &id), SIPFLOW_ERR_LIMIT);
  cr_expect_eq(sipflow_flow_end(small, id, SIPFLOW_FLOW_END_CLOSED, now), 0);
  cr_expect_eq(sipflow_flow_add(small, &b, 2, now, &id), 0);
  sipflow_flow_table_del(small);
}

Test(flow, table_new_checks_its_arguments) {
  sipflow_flow_table *t = (sipflow_flow_table *)1;
  sipflow_flow_callbacks cb = {NULL};
  sipflow_flow_settings s;
  sipflow_flow_settings_default(&s);
  cr_expect_eq(sipflow_flow_table_new(NULL, ctx, kr, NULL, NULL, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_flow_table_new(&t, NULL, kr, NULL, NULL, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_null(t);
  cr_expect_eq(sipflow_flow_table_new(&t, ctx, NULL, NULL, NULL, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(
      sipflow_flow_table_new_versioned(&t, ctx, kr, 2, &cb, 1, &s, NULL),
      SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(
      sipflow_flow_table_new_versioned(&t, ctx, kr, 1, &cb, 0, &s, NULL),
      SIPFLOW_ERR_INVALID_ARGUMENT);
  sipflow_flow_table_del(NULL);
}

/* ---- ending flows -------------------------------------------------------- */

Test(flow, ending_a_flow_reports_it_and_its_token_goes_stale) {
  /* RFC 5626 §7: bindings on a failed flow go, whatever the AoR; §5.3.1: a
   * request for a flow that no longer exists gets 430. */
  sipflow_flow_tuple t = tcp(1);
  sipflow_flow_info info;
  char tok[SIPFLOW_TOKEN_BUFLEN];
  sipflow_flow_id id = add(&t, 42);
  token_of(id, tok);
  strcpy(rec.token, tok);
  cr_assert_eq(sipflow_flow_end(ft, id, SIPFLOW_FLOW_END_RESET, now + 1), 0);
  cr_assert_eq(rec.calls, 1);
  cr_expect_eq(rec.flows[0].id, id);
  cr_expect_eq(rec.flows[0].handle, 42);
  cr_expect(sipflow_flow_tuple_same(&rec.flows[0].tuple, &t));
  cr_expect_eq(rec.reasons[0], SIPFLOW_FLOW_END_RESET);
  cr_expect_eq(rec.lookup_in_callback, SIPFLOW_ERR_STALE,
               "already gone when the callback runs");
  cr_expect_eq(lookup(tok, &info), SIPFLOW_ERR_STALE);
  cr_expect_eq(sipflow_token_sip_status(SIPFLOW_ERR_STALE), 430);
  cr_expect_eq(sipflow_flow_get(ft, id, &info), SIPFLOW_ERR_NOT_FOUND);
  cr_expect_eq(sipflow_flow_token(ft, id, tok, sizeof(tok), NULL),
               SIPFLOW_ERR_NOT_FOUND);
  cr_expect_eq(sipflow_flow_end(ft, id, SIPFLOW_FLOW_END_RESET, now + 1),
               SIPFLOW_ERR_NOT_FOUND);
  cr_expect_eq(rec.calls, 1, "reported once");
  cr_expect_eq(sipflow_flow_count(ft), 0);
}

Test(flow, inside_its_callback_only_callback_safe_calls_are_taken) {
  /* docs/guide.md, re-entrancy: inside on_flow_failed the table's
   * callback-safe calls work (ending another flow); the context's
   * handle_expiry, which is not, gives BAD_STATE and does nothing. */
  sipflow_flow_tuple a = tcp(1), b = tcp(2);
  sipflow_flow_id ia = add(&a, 1), ib = add(&b, 2);
  rec.expiry_in_callback = 1;
  rec.end_inside = ib;
  cr_assert_eq(sipflow_flow_end(ft, ia, SIPFLOW_FLOW_END_RESET, now), 0);
  cr_expect_eq(rec.calls, 2);
  cr_expect_eq(rec.expiry_rv, SIPFLOW_ERR_BAD_STATE);
  cr_expect_eq(rec.flows[1].id, ib, "the other flow ended from inside");
  rec.expiry_in_callback = 0;
  cr_expect_eq(sipflow_ctx_handle_expiry(ctx, now + 2), 0, "outside: taken");
}

Test(flow, every_end_reason_fires_the_callback) {
  for (int r = SIPFLOW_FLOW_END_CLOSED; r <= SIPFLOW_FLOW_END_LOCAL_CLOSE;
       r++) {
    sipflow_flow_tuple t = tcp((uint32_t)r);
    sipflow_flow_id id = add(&t, (uint64_t)r);
    cr_assert_eq(sipflow_flow_end(ft, id, r, now), 0);
    cr_expect_eq(rec.reasons[rec.calls - 1], r);
    cr_expect_not_null(sipflow_flow_end_reason_name(r));
  }
  cr_expect_eq(rec.calls, 5);
  cr_expect_str_eq(sipflow_flow_end_reason_name(SIPFLOW_FLOW_END_ICMP_ERROR),
                   "icmp-error");
  cr_expect_null(sipflow_flow_end_reason_name(0));
  cr_expect_null(sipflow_flow_end_reason_name(6));
}

Test(flow, end_checks_reason_and_time_before_changing_anything) {
  sipflow_flow_tuple t = tcp(1);
  sipflow_flow_id id = add(&t, 1);
  cr_expect_eq(sipflow_flow_end(ft, id, 0, now), SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_flow_end(ft, id, 99, now), SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_flow_end(NULL, id, 1, now),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_flow_end(ft, id, 1, now - 1),
               SIPFLOW_ERR_TIME_BACKWARDS);
  cr_expect_eq(sipflow_flow_end(ft, 0, 1, now), SIPFLOW_ERR_NOT_FOUND);
  cr_expect_eq(sipflow_flow_end(ft, id + 1, 1, now), SIPFLOW_ERR_NOT_FOUND);
  cr_expect_eq(rec.calls, 0);
  cr_expect_eq(sipflow_flow_count(ft), 1);
}

Test(flow, the_callback_may_end_and_add_other_flows) {
  sipflow_flow_tuple a = tcp(1), b = tcp(2), c = tcp(3);
  sipflow_flow_id ia = add(&a, 1), ib = add(&b, 2), ic;
  rec.end_inside = ib;
  cr_assert_eq(sipflow_flow_end(ft, ia, SIPFLOW_FLOW_END_CLOSED, now), 0);
  cr_expect_eq(rec.calls, 2);
  cr_expect_eq(rec.flows[0].id, ia);
  cr_expect_eq(rec.flows[1].id, ib);
  cr_expect_eq(sipflow_flow_count(ft), 0);
  ic = add(&c, 3);
  cr_expect_eq(sipflow_flow_count(ft), 1);
  cr_expect_neq(ic, ia);
  cr_expect_neq(ic, ib);
}

/* ---- generations --------------------------------------------------------- */

Test(flow, a_new_connection_on_the_same_addresses_does_not_match_old_tokens) {
  /* RFC 5626 §3.4 and checklist 11.7. */
  sipflow_flow_tuple t = tcp(9);
  sipflow_flow_info info;
  char old_tok[SIPFLOW_TOKEN_BUFLEN], new_tok[SIPFLOW_TOKEN_BUFLEN];
  sipflow_flow_id old_id = add(&t, 1), new_id;
  token_of(old_id, old_tok);
  cr_assert_eq(sipflow_flow_end(ft, old_id, SIPFLOW_FLOW_END_CLOSED, now), 0);
  new_id = add(&t, 2); /* the only free slot: the same one, reused */
  cr_expect_eq((uint32_t)new_id, (uint32_t)old_id, "same slot");
  cr_expect_neq(new_id, old_id, "new generation, new id");
  token_of(new_id, new_tok);
  cr_expect_str_neq(old_tok, new_tok);
  cr_expect_eq(lookup(old_tok, &info), SIPFLOW_ERR_STALE);
  cr_assert_eq(lookup(new_tok, &info), 0);
  cr_expect_eq(info.handle, 2);
}

Test(flow, free_slots_are_reused_oldest_first) {
  sipflow_flow_id ids[4];
  for (uint32_t i = 0; i < 4; i++) {
    sipflow_flow_tuple t = tcp(i);
    ids[i] = add(&t, i);
  }
  cr_assert_eq(sipflow_flow_end(ft, ids[2], 1, now), 0);
  cr_assert_eq(sipflow_flow_end(ft, ids[0], 1, now), 0);
  {
    sipflow_flow_tuple t = tcp(100), u = tcp(101);
    cr_expect_eq((uint32_t)add(&t, 0), (uint32_t)ids[2]);
    cr_expect_eq((uint32_t)add(&u, 0), (uint32_t)ids[0]);
  }
}

Test(flow, a_slot_whose_generation_is_spent_is_retired) {
  sipflow_flow_tuple t = tcp(1), u = tcp(2);
  sipflow_flow_id id = add(&t, 1), next;
  cr_assert_eq(sipflow_flow_end(ft, id, 1, now), 0);
  cr_assert_eq(
      sipflow__flow_table_set_generation(ft, (uint32_t)id, UINT32_MAX - 1), 0);
  id = add(&t, 1);
  cr_expect_eq(id >> 32, UINT32_MAX, "last generation");
  cr_assert_eq(sipflow_flow_end(ft, id, 1, now), 0);
  next = add(&u, 2);
  cr_expect_neq((uint32_t)next, (uint32_t)id, "retired slot not reused");
  cr_expect_eq(sipflow__flow_table_set_generation(ft, (uint32_t)next, 5),
               SIPFLOW_ERR_NOT_FOUND, "live slots cannot be changed");
}

/* ---- tokens that are not the table's ------------------------------------- */

Test(flow, a_tampered_table_token_is_tampered) {
  sipflow_flow_tuple t = tcp(1);
  char tok[SIPFLOW_TOKEN_BUFLEN];
  token_of(add(&t, 1), tok);
  tok[20] = tok[20] == 'A' ? 'B' : 'A';
  cr_expect_eq(lookup(tok, NULL), SIPFLOW_ERR_TAMPERED);
  cr_expect_eq(lookup("not-a-token", NULL), SIPFLOW_ERR_MALFORMED);
  cr_expect_eq(sipflow_flow_lookup(NULL, tok, strlen(tok), NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
}

Test(flow, a_table_token_under_a_removed_key_is_stale) {
  uint8_t key[SIPFLOW_TOKEN_KEY_LEN] = {9};
  sipflow_flow_tuple t = tcp(1);
  char tok[SIPFLOW_TOKEN_BUFLEN], tok2[SIPFLOW_TOKEN_BUFLEN];
  sipflow_flow_id id = add(&t, 1);
  token_of(id, tok);
  cr_assert_eq(sipflow_keyring_add(kr, 8, key, sizeof(key)), 0);
  cr_assert_eq(sipflow_keyring_set_current(kr, 8), 0);
  token_of(id, tok2);
  cr_expect_eq(lookup(tok, NULL), 0, "old key still in the ring");
  cr_assert_eq(sipflow_keyring_remove(kr, 7), 0);
  cr_expect_eq(lookup(tok, NULL), SIPFLOW_ERR_STALE);
  cr_expect_eq(lookup(tok2, NULL), 0, "re-minted under the new key");
}

Test(flow, a_udp_token_routes_with_no_table_state) {
  sipflow_flow_tuple t = tuple_n(SIPFLOW_TRANSPORT_UDP, 5);
  sipflow_flow_info info;
  char tok[SIPFLOW_TOKEN_BUFLEN];
  sipflow_flow_id id;
  cr_assert_eq(sipflow_token_mint(kr, &t, tok, sizeof(tok), NULL), 0);
  cr_assert_eq(lookup(tok, &info), 0);
  cr_expect_eq(info.id, 0, "names no flow of the table");
  cr_expect(sipflow_flow_tuple_same(&info.tuple, &t), "routable from tuple");
  /* registered later, the same UDP tuple is recognised as that flow */
  id = add(&t, 55);
  cr_assert_eq(lookup(tok, &info), 0);
  cr_expect_eq(info.id, id);
  cr_expect_eq(info.handle, 55);
}

Test(flow, a_tableless_stream_token_is_never_matched_by_addresses) {
  /* RFC 5626 §3.4: only the host knows which TCP connection it meant. */
  sipflow_flow_tuple t = tcp(5);
  sipflow_flow_info info;
  char tok[SIPFLOW_TOKEN_BUFLEN];
  add(&t, 55);
  cr_assert_eq(sipflow_token_mint(kr, &t, tok, sizeof(tok), NULL), 0);
  cr_assert_eq(lookup(tok, &info), 0);
  cr_expect_eq(info.id, 0);
  cr_expect_eq(info.handle, 0);
}

/* ---- many flows, walking ------------------------------------------------- */

Test(flow, thousands_of_flows_across_pages_stay_distinct) {
  enum { N = 5000 };
  static sipflow_flow_id ids[N];
  sipflow_flow_info info;
  sipflow_flow_id after = 0;
  size_t walked = 0;
  for (uint32_t i = 0; i < N; i++) {
    sipflow_flow_tuple t = tuple_n(1 + (int)(i % 6), i);
    ids[i] = add(&t, i);
  }
  for (uint32_t i = 0; i < N; i += 2)
    cr_assert_eq(sipflow_flow_end(ft, ids[i], 1, now), 0);
  for (uint32_t i = 0; i < N; i++) {
    char tok[SIPFLOW_TOKEN_BUFLEN];
    if (i % 2 == 0)
      continue;
    token_of(ids[i], tok);
    cr_assert_eq(lookup(tok, &info), 0, "flow %u", i);
    cr_assert_eq(info.handle, i);
  }
  while (sipflow_flow_next(ft, after, &info) == 0) {
    cr_assert_eq(info.handle % 2, 1);
    after = info.id;
    walked++;
  }
  cr_expect_eq(walked, N / 2);
  cr_expect_eq(sipflow_flow_count(ft), N / 2);
  cr_expect_eq(rec.calls, N / 2);
}

Test(flow, walking_an_empty_table_finds_nothing) {
  sipflow_flow_info info;
  cr_expect_eq(sipflow_flow_next(ft, 0, &info), SIPFLOW_ERR_NOT_FOUND);
  cr_expect_eq(sipflow_flow_next(ft, UINT64_MAX, &info), SIPFLOW_ERR_NOT_FOUND);
  cr_expect_eq(sipflow_flow_next(NULL, 0, &info), SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_flow_count(NULL), 0);
}

Test(flow, tuple_same_ignores_the_generation) {
  sipflow_flow_tuple a = tcp(1), b = tcp(1);
  b.generation = 99;
  cr_expect(sipflow_flow_tuple_same(&a, &b));
  b.local.port++;
  cr_expect_not(sipflow_flow_tuple_same(&a, &b));
  cr_expect_not(sipflow_flow_tuple_same(&a, NULL));
}

/* ---- allocation failures
 * ----------------------------------------------------- */

/*
 * For N = 1, 2, ...: fail allocation N (and every later one) while a table is
 * created and filled across two page boundaries. Each call either succeeds
 * or returns NOMEM with the table as it was; afterwards the table works and
 * nothing leaks.
 */
Test(flow, every_allocation_failure_is_survivable) {
  enum { N = 2100 };
  const int64_t base = fa.live; /* the context, key ring and suite table */
  int new_failed = 0, add_failed = 0;
  uint64_t fail_at;
  for (fail_at = 1;; fail_at++) {
    sipflow_flow_table *t = NULL;
    size_t added = 0;
    int rv;
    fail_alloc_arm(&fa, fail_at, 1);
    rv = sipflow_flow_table_new(&t, ctx, kr, NULL, NULL, NULL);
    if (rv == 0) {
      for (uint32_t i = 0; i < N; i++) {
        sipflow_flow_tuple tu = tcp(i);
        sipflow_flow_id id;
        rv = sipflow_flow_add(t, &tu, i, now, &id);
        cr_assert(rv == 0 || rv == SIPFLOW_ERR_NOMEM, "%s",
                  sipflow_err_name(rv));
        added += rv == 0;
        add_failed += rv != 0;
        cr_assert_eq(sipflow_flow_count(t), added);
      }
    } else {
      cr_assert_eq(rv, SIPFLOW_ERR_NOMEM);
      cr_assert_null(t);
      new_failed++;
    }
    fail_alloc_arm(&fa, 0, 0);
    if (t) {
      /* still usable: every flow added is found, and more can be added */
      sipflow_flow_info info;
      sipflow_flow_tuple extra = tcp(N + 1);
      sipflow_flow_id id;
      size_t walked = 0;
      for (sipflow_flow_id after = 0; sipflow_flow_next(t, after, &info) == 0;
           after = info.id)
        walked++;
      cr_assert_eq(walked, added);
      cr_assert_eq(sipflow_flow_add(t, &extra, 0, now, &id), 0);
    }
    sipflow_flow_table_del(t);
    cr_assert_eq(fa.live, base, "nothing leaked (fail_at %llu)",
                 (unsigned long long)fail_at);
    if (fa.failures == 0)
      break; /* the whole scenario ran without reaching fail_at */
    cr_assert_lt(fail_at, 100, "the sweep ends");
    fa.failures = 0;
  }
  cr_expect_eq(new_failed, 1, "table_new makes one allocation");
  cr_expect_gt(add_failed, 0, "adds met failed allocations");
  cr_expect_gt(fail_at, 5, "pages, directory and index all allocate");
}
