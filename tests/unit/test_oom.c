/*
 * Out-of-memory sweeps for the modules whose own tests fail only the first
 * allocation (framer, the object stack a host builds) or sweep only part of
 * their work (keepalive probing, change records applied to a registrar and a
 * scheduler). For N = 1, 2, ... allocation N fails; every call returns 0 or
 * SIPFLOW_ERR_NOMEM, a failed call leaves its object as it was, the object
 * stays usable, and nothing is left allocated after deleting everything.
 * The flow table, keepalive reasons, registrar and key ring have their own
 * sweeps in their test files.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "fail_alloc.h"
#include "registrar_int.h"
#include "sipflow/changes.h"
#include "sipflow/flow.h"
#include "sipflow/framer.h"
#include "sipflow/keepalive.h"
#include "sipflow/token.h"

#define SEC SIPFLOW_SECONDS
#define MAX_SWEEP 5000 /* more than any scenario here allocates */

/* Asserts a call's result is success or a clean allocation failure. */
#define OK_OR_NOMEM(rv)                                                        \
  cr_assert((rv) == 0 || (rv) == SIPFLOW_ERR_NOMEM, "%s", sipflow_err_name(rv))

/* Ends a sweep: it reached an N past the scenario's last allocation (the
 * scenario completed without a failure) and made enough allocations to be a
 * sweep at all. */
static void sweep_done(uint64_t n, uint64_t min_allocations) {
  cr_log_info("swept %llu allocations", (unsigned long long)(n - 1));
  cr_expect_lt(n, MAX_SWEEP, "the scenario never completed");
  cr_expect_gt(n, min_allocations, "too few allocations to be a sweep");
}

/* ---- framer ------------------------------------------------------------- */

static const char msg_fmt[] = "OPTIONS sip:%u@example.com SIP/2.0\r\n"
                              "Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK%u\r\n"
                              "Content-Length: %u\r\n\r\n";

/* Builds message |i| with a body of |body| bytes into |buf|. */
static size_t make_msg(char *buf, size_t cap, unsigned i, unsigned body) {
  int n = snprintf(buf, cap, msg_fmt, i, i, body);
  cr_assert(n > 0 && (size_t)n + body < cap);
  memset(buf + n, 'b', body);
  return (size_t)n + body;
}

/* Feeds |len| bytes, retrying once without failures after a NOMEM, which
 * must have left the buffered bytes as they were. Returns the NOMEMs seen. */
static int feed_checked(fail_alloc *fa, sipflow_framer *f, const char *p,
                        size_t len) {
  size_t before = sipflow_framer_pending(f);
  int rv = sipflow_framer_feed(f, (const uint8_t *)p, len);
  OK_OR_NOMEM(rv);
  if (rv == 0)
    return 0;
  cr_assert_eq(sipflow_framer_pending(f), before, "NOMEM changed the buffer");
  fail_alloc_arm(fa, 0, 0);
  cr_assert_eq(sipflow_framer_feed(f, (const uint8_t *)p, len), 0);
  return 1;
}

/* Twenty messages of growing size fed in uneven pieces, with pings between:
 * the buffer grows, empties and grows again. Every message comes out whole,
 * whichever allocation failed. */
static int framer_scenario(fail_alloc *fa) {
  static char buf[40000];
  sipflow_framer *f;
  unsigned got = 0, nomem = 0;
  int rv = sipflow_framer_new(&f, &fa->mem, 0);
  OK_OR_NOMEM(rv);
  if (rv != 0)
    return 0;
  for (unsigned i = 0; i < 20; i++) {
    size_t len = make_msg(buf, sizeof(buf), i, i * 1500);
    size_t step = 97 + i * 301, off;
    sipflow_frame fr;
    for (off = 0; off < len; off += step)
      nomem +=
          feed_checked(fa, f, buf + off, len - off < step ? len - off : step);
    nomem += feed_checked(fa, f, "\r\n\r\n", 4);
    while ((rv = sipflow_framer_next(f, &fr)) == 0 &&
           fr.type != SIPFLOW_FRAME_NONE) {
      if (fr.type == SIPFLOW_FRAME_MESSAGE) {
        cr_assert_eq(fr.len, len, "message %u", i);
        cr_assert_eq(memcmp(fr.data, buf, len), 0);
        got++;
      }
    }
    OK_OR_NOMEM(rv);
    cr_assert_eq(rv, 0, "next() does not allocate");
  }
  cr_assert_eq(got, 20);
  sipflow_framer_del(f);
  return nomem == 0 ? 1 : 2;
}

Test(oom, framer_every_allocation_failure_is_survivable) {
  uint64_t n;
  for (n = 1; n < MAX_SWEEP; n++) {
    fail_alloc fa;
    int done;
    fail_alloc_init(&fa);
    fail_alloc_arm(&fa, n, 0);
    done = framer_scenario(&fa);
    cr_assert_eq(fa.live, 0, "leak after failing allocation %llu",
                 (unsigned long long)n);
    if (done == 1 && fa.failures == 0)
      break;
  }
  sweep_done(n, 5);
}

/* ---- the stack a host builds -------------------------------------------- */

typedef struct stack {
  sipflow_ctx *ctx;
  sipflow_keyring *kr;
  sipflow_flow_table *ft;
  sipflow_keepalive *ka;
  sipflow_registrar *reg;
  sipflow_framer *fr;
} stack;

static int quiet_send(sipflow_keepalive *k, sipflow_flow_id flow,
                      const sipflow_keepalive_probe *p, void *ud, void *eud) {
  (void)k, (void)flow, (void)p, (void)ud, (void)eud;
  return 0;
}

static void stack_del(stack *s) {
  sipflow_framer_del(s->fr);
  sipflow_registrar_del(s->reg);
  sipflow_keepalive_del(s->ka);
  sipflow_flow_table_del(s->ft);
  sipflow_keyring_del(s->kr);
  sipflow_ctx_del(s->ctx);
  memset(s, 0, sizeof(*s));
}

/* Creates everything in the order sipflow-proxy does; on a failure returns
 * it (NOMEM) with what was made deleted and every pointer NULL. */
static int stack_new(stack *s, fail_alloc *fa) {
  static const sipflow_keepalive_callbacks kcb = {quiet_send, NULL, NULL, NULL};
  uint8_t key[SIPFLOW_TOKEN_KEY_LEN] = {1, 2, 3};
  int rv;
  memset(s, 0, sizeof(*s));
  if ((rv = sipflow_ctx_new(&s->ctx, NULL, NULL, &fa->mem, NULL)) != 0 ||
      (rv = sipflow_keyring_new(&s->kr, s->ctx)) != 0 ||
      (rv = sipflow_keyring_add(s->kr, 1, key, sizeof(key))) != 0 ||
      (rv = sipflow_flow_table_new(&s->ft, s->ctx, s->kr, NULL, NULL, NULL)) !=
          0 ||
      (rv = sipflow_keepalive_new(&s->ka, s->ctx, &kcb, NULL, NULL)) != 0 ||
      (rv = sipflow_registrar_new(&s->reg, s->ctx, NULL, NULL, NULL)) != 0 ||
      (rv = sipflow_framer_new(&s->fr, &fa->mem, 0)) != 0) {
    cr_assert_eq(rv, SIPFLOW_ERR_NOMEM, "%s", sipflow_err_name(rv));
    stack_del(s);
  }
  return rv;
}

Test(oom, creating_every_object_fails_cleanly_at_each_allocation) {
  uint64_t n;
  for (n = 1; n < MAX_SWEEP; n++) {
    fail_alloc fa;
    stack s;
    int rv;
    fail_alloc_init(&fa);
    fail_alloc_arm(&fa, n, 1); /* this one and every later one fail */
    rv = stack_new(&s, &fa);
    if (rv == 0) {
      stack_del(&s);
      cr_assert_eq(fa.live, 0);
      break;
    }
    cr_assert_eq(fa.live, 0, "leak after failing allocation %llu",
                 (unsigned long long)n);
  }
  sweep_done(n, 5);
}

/* ---- keepalive probing -------------------------------------------------- */

typedef struct probes {
  uint64_t options[512];
  size_t n;
} probes;

static int note_send(sipflow_keepalive *k, sipflow_flow_id flow,
                     const sipflow_keepalive_probe *p, void *ud, void *eud) {
  probes *pr = ud;
  (void)k, (void)flow, (void)eud;
  if (p->method == SIPFLOW_KEEPALIVE_OPTIONS && pr->n < 512)
    pr->options[pr->n++] = p->probe_id;
  return 0;
}

static sipflow_keepalive_endpoint endpoint(uint32_t i) {
  static const uint8_t methods[] = {SIPFLOW_KEEPALIVE_CRLF,
                                    SIPFLOW_KEEPALIVE_STUN,
                                    SIPFLOW_KEEPALIVE_OPTIONS};
  sipflow_keepalive_endpoint ep;
  sipflow_keepalive_endpoint_default(&ep);
  ep.flow_id = i;
  ep.method = methods[i % 3];
  ep.tuple.transport = ep.method == SIPFLOW_KEEPALIVE_CRLF
                           ? SIPFLOW_TRANSPORT_TCP
                           : SIPFLOW_TRANSPORT_UDP;
  sipflow_addr_parse(&ep.tuple.local, "192.0.2.1", (uint16_t)(5060 + i % 4));
  sipflow_addr_parse(&ep.tuple.remote, i % 5 ? "198.51.100.7" : "2001:db8::7",
                     (uint16_t)(20000 + i));
  ep.interval = (sipflow_duration)(10 + i % 7) * SEC;
  return ep;
}

static void not_found_or_ok(int rv) {
  cr_assert(rv == 0 || rv == SIPFLOW_ERR_NOT_FOUND || rv == SIPFLOW_ERR_STALE ||
                rv == SIPFLOW_ERR_BAD_STATE,
            "%s", sipflow_err_name(rv));
}

/* 120 endpoints of three methods probed for ten minutes: OPTIONS answered,
 * some flows failing, some reasons ended, some endpoints removed. Returns 1
 * when it ran to the end. */
static int keepalive_scenario(fail_alloc *fa) {
  sipflow_keepalive_callbacks cb = {note_send, NULL, NULL, NULL};
  probes pr = {{0}, 0};
  sipflow_ctx *c;
  sipflow_keepalive *k;
  sipflow_tstamp t = 1000 * SEC;
  int rv, complete = 0;
  if (sipflow_ctx_new(&c, NULL, NULL, &fa->mem, NULL) != 0)
    return 0;
  cr_assert_eq(sipflow_ctx_handle_expiry(c, t), 0);
  if (sipflow_keepalive_new(&k, c, &cb, NULL, &pr) != 0)
    goto out_ctx;
  for (uint32_t i = 1; i <= 120; i++) {
    sipflow_keepalive_endpoint ep = endpoint(i);
    size_t before = sipflow_keepalive_count(k);
    rv = sipflow_keepalive_reason_set(k, &ep, SIPFLOW_KEEPALIVE_REGISTRATION, i,
                                      3600 * SEC, t);
    OK_OR_NOMEM(rv);
    if (rv != 0) {
      cr_assert_eq(sipflow_keepalive_count(k), before);
      goto out;
    }
  }
  for (int step = 0; step < 60; step++) {
    t += 10 * SEC;
    pr.n = 0;
    rv = sipflow_ctx_handle_expiry(c, t);
    OK_OR_NOMEM(rv);
    for (size_t j = 0; j < pr.n; j++)
      OK_OR_NOMEM(
          sipflow_keepalive_on_options_response(k, pr.options[j], 200, t));
    if (step % 10 == 3) {
      sipflow_flow_id f = (sipflow_flow_id)(1 + step * 2);
      /* the endpoint may be gone already: NOT_FOUND is a fine answer */
      not_found_or_ok(sipflow_keepalive_on_pong(k, f, t));
      not_found_or_ok(sipflow_keepalive_flow_failed(k, f, t));
      not_found_or_ok(sipflow_keepalive_remove(k, f + 1, t));
      not_found_or_ok(sipflow_keepalive_reason_end(
          k, f + 2, SIPFLOW_KEEPALIVE_REGISTRATION, f + 2, t));
    }
  }
  complete = 1;
out:
  sipflow_keepalive_del(k);
out_ctx:
  sipflow_ctx_del(c);
  return complete;
}

Test(oom, keepalive_probing_every_allocation_failure_is_survivable) {
  uint64_t n;
  for (n = 1; n < MAX_SWEEP; n++) {
    fail_alloc fa;
    int complete;
    fail_alloc_init(&fa);
    fail_alloc_arm(&fa, n, 0);
    complete = keepalive_scenario(&fa);
    cr_assert_eq(fa.live, 0, "leak after failing allocation %llu",
                 (unsigned long long)n);
    if (complete && fa.failures == 0)
      break;
  }
  sweep_done(n, 3);
}

/* ---- change records ----------------------------------------------------- */

#define UNIX0 1700000000ull

static sipflow_str str(const char *s) {
  sipflow_str r = {s, strlen(s)};
  return r;
}

/* Record |i|: an Outbound binding of AoR i/4 (four phones per AoR). */
static sipflow_change binding_record(uint32_t i, char *aor, char *uri,
                                     char *inst) {
  sipflow_change c;
  memset(&c, 0, sizeof(c));
  c.kind = SIPFLOW_CHANGE_BINDING;
  c.op = SIPFLOW_CHANGE_PUT;
  c.version = UNIX0 * 1000 + i;
  snprintf(aor, 64, "sip:user%u@example.com", i / 4);
  snprintf(uri, 64, "sip:ua%u@198.51.100.7:%u;transport=tcp", i, 20000 + i);
  snprintf(inst, 80, "urn:uuid:00000000-0000-1000-8000-%012u", i);
  c.u.binding.aor = str(aor);
  c.u.binding.uri = str(uri);
  c.u.binding.instance = str(inst);
  c.u.binding.reg_id = 1;
  c.u.binding.q = SIPFLOW_REG_Q_NONE;
  c.u.binding.call_id = str("cid");
  c.u.binding.cseq = 1;
  c.u.binding.path = str("<sip:edge.example.net;lr;ob>");
  c.u.binding.n_path = 1;
  c.u.binding.params = str(";+sip.ice");
  c.u.binding.user_agent = str("Phone/1.0");
  c.u.binding.flow.transport = SIPFLOW_TRANSPORT_TCP;
  sipflow_addr_parse(&c.u.binding.flow.local, "192.0.2.1", 5060);
  sipflow_addr_parse(&c.u.binding.flow.remote, "198.51.100.7",
                     (uint16_t)(20000 + i));
  c.u.binding.received = c.u.binding.flow.remote;
  c.u.binding.outbound = 1;
  c.u.binding.ob = 1;
  c.u.binding.expires_unix = UNIX0 + 600;
  return c;
}

/* Applies |c|; a NOMEM must leave the registrar as it was and the same
 * record must then apply. Returns 1 on a NOMEM. */
static int apply_binding_checked(fail_alloc *fa, sipflow_registrar *reg,
                                 const sipflow_change *c, sipflow_tstamp t) {
  size_t before = sipflow_registrar_binding_count(reg);
  int rv = sipflow_change_apply_binding(reg, c, UNIX0, t);
  OK_OR_NOMEM(rv);
  cr_assert_eq(sipflow__registrar_check(reg), 0);
  if (rv == 0)
    return 0;
  cr_assert_eq(sipflow_registrar_binding_count(reg), before);
  fail_alloc_arm(fa, 0, 0);
  cr_assert_eq(sipflow_change_apply_binding(reg, c, UNIX0, t), 0,
               "usable after NOMEM");
  return 1;
}

/* 40 binding records over 10 AoRs, then a DEL of each fourth, and 40
 * endpoint records: every record ends up applied. */
static int changes_scenario(fail_alloc *fa) {
  sipflow_keepalive_callbacks kcb = {quiet_send, NULL, NULL, NULL};
  sipflow_ctx *c;
  sipflow_registrar *reg = NULL;
  sipflow_keepalive *k = NULL;
  sipflow_tstamp t = 1000 * SEC;
  int nomem = 0, rv, result = 0;
  if (sipflow_ctx_new(&c, NULL, NULL, &fa->mem, NULL) != 0)
    return 0;
  if (sipflow_registrar_new(&reg, c, NULL, NULL, NULL) != 0 ||
      sipflow_keepalive_new(&k, c, &kcb, NULL, NULL) != 0)
    goto out;
  for (uint32_t i = 0; i < 40; i++) {
    char aor[64], uri[64], inst[80];
    sipflow_change ch = binding_record(i, aor, uri, inst);
    nomem += apply_binding_checked(fa, reg, &ch, t);
  }
  cr_assert_eq(sipflow_registrar_binding_count(reg), 40);
  for (uint32_t i = 0; i < 40; i += 4) {
    char aor[64], uri[64], inst[80];
    sipflow_change ch = binding_record(i, aor, uri, inst);
    ch.op = SIPFLOW_CHANGE_DEL;
    ch.version += 1000;
    nomem += apply_binding_checked(fa, reg, &ch, t);
  }
  cr_assert_eq(sipflow_registrar_binding_count(reg), 30);
  for (uint32_t i = 1; i <= 40; i++) {
    sipflow_change ch;
    size_t before = sipflow_keepalive_count(k);
    memset(&ch, 0, sizeof(ch));
    ch.kind = SIPFLOW_CHANGE_ENDPOINT;
    ch.op = SIPFLOW_CHANGE_PUT;
    ch.version = UNIX0 * 1000 + i;
    ch.u.endpoint.ep = endpoint(i);
    ch.u.endpoint.reason.kind = SIPFLOW_KEEPALIVE_REGISTRATION;
    ch.u.endpoint.reason.id = i;
    ch.u.endpoint.reason.expires_unix = UNIX0 + 600;
    rv = sipflow_change_apply_endpoint(k, &ch, UNIX0, t);
    OK_OR_NOMEM(rv);
    if (rv != 0) {
      cr_assert_eq(sipflow_keepalive_count(k), before);
      fail_alloc_arm(fa, 0, 0);
      cr_assert_eq(sipflow_change_apply_endpoint(k, &ch, UNIX0, t), 0);
      nomem++;
    }
  }
  cr_assert_eq(sipflow_keepalive_count(k), 40);
  result = nomem == 0 ? 1 : 2;
out:
  sipflow_keepalive_del(k);
  sipflow_registrar_del(reg);
  sipflow_ctx_del(c);
  return result;
}

Test(oom, change_records_every_allocation_failure_is_survivable) {
  uint64_t n;
  for (n = 1; n < MAX_SWEEP; n++) {
    fail_alloc fa;
    int done;
    fail_alloc_init(&fa);
    fail_alloc_arm(&fa, n, 0);
    done = changes_scenario(&fa);
    cr_assert_eq(fa.live, 0, "leak after failing allocation %llu",
                 (unsigned long long)n);
    if (done == 1 && fa.failures == 0)
      break;
  }
  sweep_done(n, 20);
}
