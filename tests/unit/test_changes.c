/*
 * Change records: encoding, decoding, and applying them to a registrar, a
 * keepalive scheduler and a key ring, with the ordering rules of changes.h.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "fail_alloc.h"
#include "registrar_int.h"
#include "sipflow/changes.h"

#define SEC SIPFLOW_SECONDS
#define UNIX0 1700000000ull /* wall clock at the first node's T0 */

static sipflow_str S(const char *s) {
  sipflow_str r = {s, s ? strlen(s) : 0};
  return r;
}

/* A registrar whose change callback encodes every change as a record, the
 * way a host feeds a store. */
typedef struct node {
  fail_alloc fa;
  sipflow_ctx *ctx;
  sipflow_registrar *reg;
  sipflow_tstamp now;
  uint64_t unix_s;
  uint64_t last_version;
  uint8_t rec[16][1024];
  size_t rec_len[16];
  sipflow_reg_change why[16];
  size_t n;
} node;

static void record(sipflow_registrar *reg, sipflow_reg_change change,
                   const sipflow_reg_binding *b, void *ud) {
  node *n = ud;
  sipflow_change c;
  (void)reg;
  cr_assert_lt(n->n, 16);
  cr_assert_eq(
      sipflow_change_from_binding(
          &c, change, b,
          sipflow_change_version_next(&n->last_version, n->unix_s * 1000),
          n->unix_s, n->now),
      0);
  cr_assert_eq(sipflow_change_encode(&c, n->rec[n->n], sizeof(n->rec[0]),
                                     &n->rec_len[n->n]),
               0);
  n->why[n->n++] = change;
}

static void node_open(node *n, sipflow_tstamp now, uint64_t unix_s) {
  sipflow_registrar_callbacks cb = {record, NULL};
  sipflow_registrar_settings set;
  memset(n, 0, sizeof(*n));
  fail_alloc_init(&n->fa);
  n->now = now;
  n->unix_s = unix_s;
  sipflow_registrar_settings_default(&set);
  cr_assert_eq(sipflow_ctx_new(&n->ctx, NULL, NULL, &n->fa.mem, n), 0);
  cr_assert_eq(sipflow_registrar_new(&n->reg, n->ctx, &cb, &set, n), 0);
}

static void node_close(node *n) {
  sipflow_registrar_del(n->reg);
  sipflow_ctx_del(n->ctx);
  cr_expect_eq(n->fa.live, 0, "%lld allocations leaked", (long long)n->fa.live);
}

/* REGISTER of an Outbound TCP phone through one Path value. */
static void register_ob(node *n, const char *uri, const char *call_id,
                        uint32_t cseq, uint32_t expires) {
  sipflow_reg_request req;
  sipflow_reg_contact c;
  sipflow_str path = S("<sip:edge.example.net;lr;ob>");
  const sipflow_reg_result *res;
  char exp[16];
  snprintf(exp, sizeof(exp), "%u", expires);
  sipflow_reg_request_default(&req);
  sipflow_reg_contact_default(&c);
  c.uri = S(uri);
  c.instance = S("\"<urn:uuid:00000000-0000-1000-8000-000a95a0e128>\"");
  c.reg_id = S("1");
  c.ob = 1;
  c.expires = S(exp);
  c.q = 500;
  c.params = S(";+sip.ice");
  req.aor = S("sip:alice@example.com");
  req.call_id = S(call_id);
  req.cseq = cseq;
  req.contacts = &c;
  req.n_contacts = 1;
  req.path = &path;
  req.n_path = 1;
  req.via_count = 2;
  req.supported = SIPFLOW_REG_OPT_OUTBOUND | SIPFLOW_REG_OPT_PATH;
  req.user_agent = S("Phone/1.0");
  req.flow_id = 7;
  req.flow.transport = SIPFLOW_TRANSPORT_TCP;
  sipflow_addr_parse(&req.flow.local, "192.0.2.1", 5060);
  sipflow_addr_parse(&req.flow.remote, "198.51.100.7", 40001);
  req.flow.generation = 3;
  req.received = req.flow.remote;
  cr_assert_eq(sipflow_registrar_process(n->reg, &req, n->now, &res), 0);
  cr_assert_eq(res->status, 200, "status %d %s", res->status, res->reason);
}

/* Collects the bindings of a registrar. */
typedef struct seen {
  sipflow_reg_binding b[4];
  char uri[4][128];
  size_t n;
} seen;

static int visit(const sipflow_reg_binding *b, void *ud) {
  seen *s = ud;
  if (s->n < 4) {
    s->b[s->n] = *b;
    snprintf(s->uri[s->n], sizeof(s->uri[0]), "%.*s", (int)b->uri.len,
             b->uri.ptr);
  }
  s->n++;
  return 0;
}

static seen dump(node *n) {
  seen s;
  memset(&s, 0, sizeof(s));
  cr_assert_eq(sipflow_registrar_foreach(n->reg, n->now, visit, &s), 0);
  return s;
}

static int apply_rec(node *to, const uint8_t *buf, size_t len) {
  sipflow_change c;
  cr_assert_eq(sipflow_change_decode(buf, len, &c), 0);
  return sipflow_change_apply_binding(to->reg, &c, to->unix_s, to->now);
}

static bool str_eq(sipflow_str a, const char *b) {
  return a.len == strlen(b) && memcmp(a.ptr, b, a.len) == 0;
}

Test(changes, binding_record_round_trips_through_bytes) {
  node a;
  sipflow_change c;
  const sipflow_change_binding *r = &c.u.binding;
  node_open(&a, 1000 * SEC, UNIX0);
  register_ob(&a, "sip:alice@198.51.100.7:40001;transport=tcp;ob", "cid-1", 1,
              600);
  cr_assert_eq(a.n, 1);
  cr_assert_eq(sipflow_change_decode(a.rec[0], a.rec_len[0], &c), 0);
  cr_expect_eq(c.kind, SIPFLOW_CHANGE_BINDING);
  cr_expect_eq(c.op, SIPFLOW_CHANGE_PUT);
  cr_expect_eq(c.version, UNIX0 * 1000);
  cr_expect(str_eq(r->aor, "sip:alice@example.com"));
  cr_expect(
      str_eq(r->instance, "urn:uuid:00000000-0000-1000-8000-000a95a0e128"));
  cr_expect(str_eq(r->call_id, "cid-1"));
  cr_expect(str_eq(r->path, "<sip:edge.example.net;lr;ob>"));
  cr_expect(str_eq(r->user_agent, "Phone/1.0"));
  cr_expect(str_eq(r->params, ";+sip.ice"));
  cr_expect_eq(r->reg_id, 1);
  cr_expect_eq(r->q, 500);
  cr_expect_eq(r->n_path, 1);
  cr_expect_eq(r->outbound, 1);
  cr_expect_eq(r->ob, 1);
  cr_expect_eq(r->flow_id, 7);
  cr_expect_eq(r->flow.generation, 3);
  cr_expect_eq(r->flow.remote.port, 40001);
  cr_expect_eq(r->received.port, 40001);
  cr_expect_eq(r->expires_unix, UNIX0 + 600);
  node_close(&a);
}

Test(changes, restore_after_downtime_ages_the_expiry) {
  node a, b;
  seen s;
  node_open(&a, 1000 * SEC, UNIX0);
  register_ob(&a, "sip:alice@198.51.100.7:40001;transport=tcp;ob", "cid-1", 1,
              600);
  /* Another process, another monotonic clock, 100 s of wall time later. */
  node_open(&b, 5 * SEC, UNIX0 + 100);
  cr_assert_eq(apply_rec(&b, a.rec[0], a.rec_len[0]), 0);
  cr_expect_eq(b.why[0], SIPFLOW_REG_ADDED);
  s = dump(&b);
  cr_assert_eq(s.n, 1);
  cr_expect_eq(s.b[0].expires, 500);
  cr_expect_eq(s.b[0].cseq, 1);
  cr_expect_eq(s.b[0].n_path, 1);
  cr_expect(str_eq(s.b[0].path, "<sip:edge.example.net;lr;ob>"));
  cr_expect_eq(s.b[0].outbound, 1);
  cr_expect_eq(s.b[0].flow_id, 7);
  cr_expect_eq(sipflow__registrar_check(b.reg), 0);
  /* Once expired, the restored binding goes as any other. */
  b.now += 500 * SEC;
  s = dump(&b);
  cr_expect_eq(s.n, 0);
  node_close(&a);
  node_close(&b);
}

Test(changes, applying_the_same_record_twice_changes_nothing) {
  node a, b;
  seen s1, s2;
  node_open(&a, 1000 * SEC, UNIX0);
  register_ob(&a, "sip:alice@198.51.100.7:40001;transport=tcp;ob", "cid-1", 1,
              600);
  node_open(&b, 5 * SEC, UNIX0 + 10);
  cr_assert_eq(apply_rec(&b, a.rec[0], a.rec_len[0]), 0);
  s1 = dump(&b);
  b.now += 2 * SEC;
  b.unix_s += 2;
  cr_expect_eq(apply_rec(&b, a.rec[0], a.rec_len[0]), SIPFLOW_ERR_STALE);
  s2 = dump(&b);
  cr_expect_eq(b.n, 1, "no second change reported");
  cr_assert_eq(s2.n, 1);
  cr_expect_eq(s2.b[0].id, s1.b[0].id);
  cr_expect_eq(s2.b[0].expires_at, s1.b[0].expires_at);
  node_close(&a);
  node_close(&b);
}

/* Three updates of one binding (same Call-ID, CSeq 1..3, a different
 * Contact URI each time is not possible for an Outbound key, so the URI
 * carries the step). */
static const char *const STEP_URI[3] = {
    "sip:alice@198.51.100.7:40001;transport=tcp;ob;step=1",
    "sip:alice@198.51.100.7:40001;transport=tcp;ob;step=2",
    "sip:alice@198.51.100.7:40001;transport=tcp;ob;step=3"};

static void three_updates(node *a) {
  node_open(a, 1000 * SEC, UNIX0);
  for (uint32_t i = 0; i < 3; i++) {
    register_ob(a, STEP_URI[i], "cid-1", i + 1, 600);
    a->now += SEC;
    a->unix_s++;
  }
  cr_assert_eq(a->n, 3);
}

Test(changes, records_in_any_order_give_the_newest_state) {
  /* RFC 3261 §10.3 step 7: with one Call-ID the highest CSeq is the state,
   * whatever order the records come in. */
  static const int order[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                  {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  node a;
  three_updates(&a);
  for (size_t o = 0; o < 6; o++) {
    node b;
    seen s;
    node_open(&b, 5 * SEC, UNIX0 + 5);
    for (size_t i = 0; i < 3; i++) {
      int k = order[o][i];
      int rv = apply_rec(&b, a.rec[k], a.rec_len[k]);
      cr_assert(rv == 0 || rv == SIPFLOW_ERR_STALE, "rv %d", rv);
    }
    s = dump(&b);
    cr_assert_eq(s.n, 1, "order %zu", o);
    cr_expect_eq(s.b[0].cseq, 3, "order %zu", o);
    cr_expect_str_eq(s.uri[0], STEP_URI[2], "order %zu", o);
    node_close(&b);
  }
  node_close(&a);
}

Test(changes, a_new_call_id_wins_by_version) {
  /* RFC 3261 §10.3: a different Call-ID replaces the binding; which record
   * is newer is then the version's say. */
  node a, b;
  seen s;
  node_open(&a, 1000 * SEC, UNIX0);
  register_ob(&a, STEP_URI[0], "cid-old", 50, 600);
  a.now += 5 * SEC;
  a.unix_s += 5;
  register_ob(&a, STEP_URI[1], "cid-new", 1, 600);
  node_open(&b, 5 * SEC, UNIX0 + 6);
  cr_assert_eq(apply_rec(&b, a.rec[1], a.rec_len[1]), 0);
  cr_expect_eq(apply_rec(&b, a.rec[0], a.rec_len[0]), SIPFLOW_ERR_STALE);
  s = dump(&b);
  cr_assert_eq(s.n, 1);
  cr_expect(str_eq(s.b[0].call_id, "cid-new"));
  node_close(&a);
  node_close(&b);
}

Test(changes, removal_record_deletes_and_a_second_is_stale) {
  node a, b;
  node_open(&a, 1000 * SEC, UNIX0);
  register_ob(&a, STEP_URI[0], "cid-1", 1, 600);
  cr_assert_eq(sipflow_registrar_flow_failed(a.reg, 7, a.now + SEC), 0);
  cr_assert_eq(a.n, 2);
  cr_assert_eq(a.why[1], SIPFLOW_REG_FLOW_FAILED);
  node_open(&b, 5 * SEC, UNIX0 + 2);
  cr_assert_eq(apply_rec(&b, a.rec[0], a.rec_len[0]), 0);
  cr_assert_eq(apply_rec(&b, a.rec[1], a.rec_len[1]), 0);
  cr_expect_eq(sipflow_registrar_binding_count(b.reg), 0);
  cr_expect_eq(sipflow_registrar_aor_count(b.reg), 0);
  cr_expect_eq(apply_rec(&b, a.rec[1], a.rec_len[1]), SIPFLOW_ERR_STALE);
  node_close(&a);
  node_close(&b);
}

Test(changes, an_expired_record_is_not_restored) {
  node a, b;
  node_open(&a, 1000 * SEC, UNIX0);
  register_ob(&a, STEP_URI[0], "cid-1", 1, 600);
  node_open(&b, 5 * SEC, UNIX0 + 600);
  cr_expect_eq(apply_rec(&b, a.rec[0], a.rec_len[0]), SIPFLOW_ERR_STALE);
  cr_expect_eq(sipflow_registrar_binding_count(b.reg), 0);
  node_close(&a);
  node_close(&b);
}

Test(changes, malformed_binding_fields_are_refused) {
  node a, b;
  sipflow_change c;
  node_open(&a, 1000 * SEC, UNIX0);
  register_ob(&a, STEP_URI[0], "cid-1", 1, 600);
  node_open(&b, 5 * SEC, UNIX0);
  cr_assert_eq(sipflow_change_decode(a.rec[0], a.rec_len[0], &c), 0);
  c.u.binding.uri = S("not a uri");
  cr_expect_eq(sipflow_change_apply_binding(b.reg, &c, b.unix_s, b.now),
               SIPFLOW_ERR_MALFORMED);
  cr_assert_eq(sipflow_change_decode(a.rec[0], a.rec_len[0], &c), 0);
  c.u.binding.reg_id = 0; /* outbound without a reg-id */
  cr_expect_eq(sipflow_change_apply_binding(b.reg, &c, b.unix_s, b.now),
               SIPFLOW_ERR_MALFORMED);
  cr_assert_eq(sipflow_change_decode(a.rec[0], a.rec_len[0], &c), 0);
  c.u.binding.q = 1001;
  cr_expect_eq(sipflow_change_apply_binding(b.reg, &c, b.unix_s, b.now),
               SIPFLOW_ERR_MALFORMED);
  cr_assert_eq(sipflow_change_decode(a.rec[0], a.rec_len[0], &c), 0);
  c.u.binding.call_id = S("two words");
  cr_expect_eq(sipflow_change_apply_binding(b.reg, &c, b.unix_s, b.now),
               SIPFLOW_ERR_MALFORMED);
  cr_expect_eq(sipflow_registrar_binding_count(b.reg), 0);
  node_close(&a);
  node_close(&b);
}

Test(changes, out_of_memory_leaves_the_registrar_as_it_was) {
  node a;
  node_open(&a, 1000 * SEC, UNIX0);
  register_ob(&a, STEP_URI[0], "cid-1", 1, 600);
  for (int n = 1; n < 20; n++) {
    node b;
    int rv;
    node_open(&b, 5 * SEC, UNIX0);
    fail_alloc_arm(&b.fa, b.fa.calls + (uint64_t)n, 0);
    rv = apply_rec(&b, a.rec[0], a.rec_len[0]);
    fail_alloc_arm(&b.fa, 0, 0);
    cr_assert(rv == 0 || rv == SIPFLOW_ERR_NOMEM, "n %d rv %d", n, rv);
    cr_expect_eq(sipflow_registrar_binding_count(b.reg), rv == 0 ? 1 : 0);
    cr_expect_eq(sipflow__registrar_check(b.reg), 0);
    if (rv == SIPFLOW_ERR_NOMEM)
      cr_expect_eq(apply_rec(&b, a.rec[0], a.rec_len[0]), 0, "usable after");
    node_close(&b);
  }
  node_close(&a);
}

/* ---- the encoding -------------------------------------------------------- */

Test(changes, every_truncation_and_extension_is_malformed) {
  node a;
  sipflow_change c;
  uint8_t buf[1100];
  node_open(&a, 1000 * SEC, UNIX0);
  register_ob(&a, STEP_URI[0], "cid-1", 1, 600);
  for (size_t len = 0; len < a.rec_len[0]; len++)
    cr_expect_eq(sipflow_change_decode(a.rec[0], len, &c),
                 SIPFLOW_ERR_MALFORMED, "len %zu", len);
  memcpy(buf, a.rec[0], a.rec_len[0]);
  buf[a.rec_len[0]] = 0;
  cr_expect_eq(sipflow_change_decode(buf, a.rec_len[0] + 1, &c),
               SIPFLOW_ERR_MALFORMED);
  node_close(&a);
}

/* Header fields, one byte changed: what the decoder says. */
static const struct {
  size_t off;
  uint8_t value;
  int expect;
} HEADER_ROWS[] = {
    {0, 'X', SIPFLOW_ERR_MALFORMED}, /* not a record */
    {3, 2, SIPFLOW_ERR_UNSUPPORTED}, /* a newer format */
    {3, 0, SIPFLOW_ERR_MALFORMED},   /* no such format */
    {4, 9, SIPFLOW_ERR_MALFORMED},   /* unknown kind */
    {5, 3, SIPFLOW_ERR_MALFORMED},   /* unknown op */
    {5, SIPFLOW_CHANGE_DEL, 0},      /* a removal is fine */
};

Test(changes, header_table) {
  sipflow_change c, d;
  uint8_t buf[128];
  size_t len;
  memset(&c, 0, sizeof(c));
  c.kind = SIPFLOW_CHANGE_KEY;
  c.op = SIPFLOW_CHANGE_PUT;
  c.version = 42;
  c.u.key.key_id = 3;
  cr_assert_eq(sipflow_change_encode(&c, buf, sizeof(buf), &len), 0);
  for (size_t i = 0; i < sizeof(HEADER_ROWS) / sizeof(HEADER_ROWS[0]); i++) {
    uint8_t copy[128];
    memcpy(copy, buf, len);
    copy[HEADER_ROWS[i].off] = HEADER_ROWS[i].value;
    cr_expect_eq(sipflow_change_decode(copy, len, &d), HEADER_ROWS[i].expect,
                 "row %zu", i);
  }
}

Test(changes, encode_reports_the_room_it_needs) {
  sipflow_change c;
  uint8_t buf[16];
  size_t len = 0, need;
  memset(&c, 0, sizeof(c));
  c.kind = SIPFLOW_CHANGE_KEY;
  c.op = SIPFLOW_CHANGE_PUT;
  cr_expect_eq(sipflow_change_encode(&c, buf, sizeof(buf), &len),
               SIPFLOW_ERR_BUFFER_TOO_SMALL);
  cr_expect_eq(sipflow_change_encode(&c, NULL, 0, &need),
               SIPFLOW_ERR_BUFFER_TOO_SMALL);
  cr_expect_eq(len, need);
  cr_expect_eq(need, 14 + 2 + SIPFLOW_TOKEN_KEY_LEN);
  c.kind = 0;
  cr_expect_eq(sipflow_change_encode(&c, buf, sizeof(buf), &len),
               SIPFLOW_ERR_INVALID_ARGUMENT);
}

Test(changes, version_next_never_repeats) {
  uint64_t last = 0;
  cr_expect_eq(sipflow_change_version_next(&last, 1000), 1000);
  cr_expect_eq(sipflow_change_version_next(&last, 1000), 1001);
  cr_expect_eq(sipflow_change_version_next(&last, 900), 1002);
  cr_expect_eq(sipflow_change_version_next(&last, 5000), 5000);
}

/* ---- keys ---------------------------------------------------------------- */

Test(changes, a_restored_key_ring_verifies_old_tokens) {
  sipflow_ctx *ctx;
  sipflow_keyring *kr1, *kr2;
  sipflow_change c, d;
  sipflow_flow_tuple t;
  uint8_t buf[128];
  char tok[SIPFLOW_TOKEN_BUFLEN];
  size_t len, tlen;
  uint8_t cur;
  memset(&t, 0, sizeof(t));
  t.transport = SIPFLOW_TRANSPORT_UDP;
  sipflow_addr_parse(&t.local, "192.0.2.1", 5060);
  sipflow_addr_parse(&t.remote, "198.51.100.7", 5062);
  cr_assert_eq(sipflow_ctx_new(&ctx, NULL, NULL, NULL, NULL), 0);
  cr_assert_eq(sipflow_keyring_new(&kr1, ctx), 0);
  cr_assert_eq(sipflow_keyring_new(&kr2, ctx), 0);
  memset(&c, 0, sizeof(c));
  c.kind = SIPFLOW_CHANGE_KEY;
  c.op = SIPFLOW_CHANGE_PUT;
  c.u.key.key_id = 9;
  c.u.key.current = 1;
  cr_assert_eq(sipflow_token_key_generate(c.u.key.key, SIPFLOW_TOKEN_KEY_LEN),
               0);
  cr_assert_eq(sipflow_change_apply_key(kr1, &c), 0);
  cr_assert_eq(sipflow_token_mint(kr1, &t, tok, sizeof(tok), &tlen), 0);
  cr_assert_eq(sipflow_change_encode(&c, buf, sizeof(buf), &len), 0);
  cr_assert_eq(sipflow_change_decode(buf, len, &d), 0);
  cr_assert_eq(sipflow_change_apply_key(kr2, &d), 0);
  cr_expect_eq(sipflow_change_apply_key(kr2, &d), 0, "idempotent");
  cr_expect_eq(sipflow_keyring_get_current(kr2, &cur), 0);
  cr_expect_eq(cur, 9);
  cr_expect_eq(sipflow_token_verify(kr2, tok, tlen, NULL), 0);
  /* Other bytes under the current id: refused, the ring unchanged. */
  d.u.key.key[0] ^= 1;
  cr_expect_eq(sipflow_change_apply_key(kr2, &d), SIPFLOW_ERR_BAD_STATE);
  cr_expect_eq(sipflow_token_verify(kr2, tok, tlen, NULL), 0);
  d.op = SIPFLOW_CHANGE_DEL;
  d.u.key.key_id = 200;
  cr_expect_eq(sipflow_change_apply_key(kr2, &d), SIPFLOW_ERR_STALE);
  sipflow_keyring_del(kr1);
  sipflow_keyring_del(kr2);
  sipflow_ctx_del(ctx);
}

/* ---- keepalive reasons --------------------------------------------------- */

static int send_nothing(sipflow_keepalive *ka, sipflow_flow_id flow,
                        const sipflow_keepalive_probe *probe, void *ud,
                        void *eud) {
  (void)ka, (void)flow, (void)probe, (void)ud, (void)eud;
  return 0;
}

Test(changes, endpoint_record_restores_the_reason_with_its_time_left) {
  sipflow_ctx *ctx;
  sipflow_keepalive *ka;
  sipflow_keepalive_stats st;
  sipflow_change c, d;
  uint8_t buf[256];
  size_t len;
  sipflow_tstamp now = 10 * SEC;
  cr_assert_eq(sipflow_ctx_new(&ctx, NULL, NULL, NULL, NULL), 0);
  cr_assert_eq(sipflow_ctx_handle_expiry(ctx, now), 0);
  sipflow_keepalive_callbacks cb = {send_nothing, NULL, NULL, NULL};
  cr_assert_eq(sipflow_keepalive_new(&ka, ctx, &cb, NULL, NULL), 0);
  memset(&c, 0, sizeof(c));
  c.kind = SIPFLOW_CHANGE_ENDPOINT;
  c.op = SIPFLOW_CHANGE_PUT;
  sipflow_keepalive_endpoint_default(&c.u.endpoint.ep);
  c.u.endpoint.ep.flow_id = 99;
  c.u.endpoint.ep.tuple.transport = SIPFLOW_TRANSPORT_UDP;
  sipflow_addr_parse(&c.u.endpoint.ep.tuple.local, "192.0.2.1", 5060);
  sipflow_addr_parse(&c.u.endpoint.ep.tuple.remote, "198.51.100.7", 5062);
  c.u.endpoint.reason.kind = SIPFLOW_KEEPALIVE_REGISTRATION;
  c.u.endpoint.reason.id = 1234;
  c.u.endpoint.reason.expires_unix = UNIX0 + 300;
  cr_assert_eq(sipflow_change_encode(&c, buf, sizeof(buf), &len), 0);
  cr_assert_eq(sipflow_change_decode(buf, len, &d), 0);
  cr_expect_eq(d.u.endpoint.ep.flow_id, 99);
  cr_expect_eq(d.u.endpoint.reason.id, 1234);
  cr_assert_eq(sipflow_change_apply_endpoint(ka, &d, UNIX0 + 100, now), 0);
  cr_assert_eq(sipflow_keepalive_get_stats(ka, 99, &st), 0);
  cr_expect_eq(st.reasons, 1);
  cr_expect_eq(st.probing, 1);
  cr_expect_eq(sipflow_change_apply_endpoint(ka, &d, UNIX0 + 100, now), 0);
  cr_expect_eq(sipflow_keepalive_count(ka), 1);
  /* The reason runs out 200 s later, with the endpoint. */
  now += 201 * SEC;
  cr_assert_eq(sipflow_ctx_handle_expiry(ctx, now), 0);
  cr_expect_eq(sipflow_keepalive_count(ka), 0);
  /* Expired records and removals of nothing change nothing. */
  cr_expect_eq(sipflow_change_apply_endpoint(ka, &d, UNIX0 + 300, now),
               SIPFLOW_ERR_STALE);
  d.op = SIPFLOW_CHANGE_DEL;
  cr_expect_eq(sipflow_change_apply_endpoint(ka, &d, UNIX0 + 100, now),
               SIPFLOW_ERR_STALE);
  cr_expect_eq(sipflow_keepalive_count(ka), 0);
  sipflow_keepalive_del(ka);
  sipflow_ctx_del(ctx);
}
