/*
 * Shared helpers for the registrar tests: a registrar on a counting
 * allocator, a change log, and REGISTER facts built from C strings.
 */
#ifndef SIPFLOW_TEST_REG_HARNESS_H
#define SIPFLOW_TEST_REG_HARNESS_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "fail_alloc.h"
#include "registrar_int.h"

#define SEC SIPFLOW_SECONDS
#define T0 (1000 * SEC)

static inline sipflow_str S(const char *s) {
  sipflow_str r;
  r.ptr = s;
  r.len = s ? strlen(s) : 0;
  return r;
}

/* One change callback call, with a copy of what a store would keep. */
typedef struct change_ev {
  sipflow_reg_change change;
  uint64_t id;
  char uri[128];
  char aor[128];
  sipflow_flow_id flow_id;
  sipflow_flow_id prev_flow_id;
  uint32_t expires;
  int health;
} change_ev;

typedef struct harness {
  fail_alloc fa;
  sipflow_ctx *ctx;
  sipflow_registrar *reg;
  sipflow_registrar_settings set;
  change_ev ev[64];
  size_t n_ev;
  sipflow_tstamp now;
} harness;

static inline void on_change(sipflow_registrar *reg, sipflow_reg_change change,
                             const sipflow_reg_binding *b, void *ud) {
  harness *h = ud;
  change_ev *e;
  (void)reg;
  if (h->n_ev == sizeof(h->ev) / sizeof(h->ev[0]))
    return;
  e = &h->ev[h->n_ev++];
  memset(e, 0, sizeof(*e));
  e->change = change;
  e->id = b->id;
  snprintf(e->uri, sizeof(e->uri), "%.*s", (int)b->uri.len, b->uri.ptr);
  snprintf(e->aor, sizeof(e->aor), "%.*s", (int)b->aor.len, b->aor.ptr);
  e->flow_id = b->flow_id;
  e->prev_flow_id = b->prev_flow_id;
  e->expires = b->expires;
  e->health = b->health;
}

/* Create the context and registrar with h->set (filled by the caller or
 * defaulted here when |defaults|). */
static inline int harness_open(harness *h, int defaults) {
  sipflow_registrar_callbacks cb = {on_change, NULL};
  int rv;
  fail_alloc_init(&h->fa);
  h->n_ev = 0;
  h->now = T0;
  if (defaults)
    sipflow_registrar_settings_default(&h->set);
  rv = sipflow_ctx_new(&h->ctx, NULL, NULL, &h->fa.mem, h);
  if (rv)
    return rv;
  rv = sipflow_registrar_new(&h->reg, h->ctx, &cb, &h->set, h);
  if (rv) {
    sipflow_ctx_del(h->ctx);
    h->ctx = NULL;
  }
  return rv;
}

static inline void harness_close(harness *h) {
  sipflow_registrar_del(h->reg);
  sipflow_ctx_del(h->ctx);
  cr_expect_eq(h->fa.live, 0, "%lld allocations leaked", (long long)h->fa.live);
}

/* A REGISTER under construction. */
typedef struct reg_req {
  sipflow_reg_request req;
  sipflow_reg_contact c[8];
  sipflow_str path[8];
  sipflow_str unknown[2];
} reg_req;

static inline void req_init(reg_req *r, const char *aor, const char *call_id,
                            uint32_t cseq) {
  memset(r, 0, sizeof(*r));
  sipflow_reg_request_default(&r->req);
  r->req.aor = S(aor);
  r->req.call_id = S(call_id);
  r->req.cseq = cseq;
  r->req.via_count = 1;
  r->req.supported = SIPFLOW_REG_OPT_OUTBOUND | SIPFLOW_REG_OPT_PATH;
  r->req.contacts = r->c;
  r->req.path = r->path;
  r->req.require_unknown = r->unknown;
}

static inline sipflow_reg_contact *req_contact(reg_req *r, const char *uri) {
  sipflow_reg_contact *c = &r->c[r->req.n_contacts++];
  sipflow_reg_contact_default(c);
  c->uri = S(uri);
  return c;
}

/* A Contact with +sip.instance and reg-id (RFC 5626 §4.2). */
static inline sipflow_reg_contact *req_ob_contact(reg_req *r, const char *uri,
                                                  const char *inst,
                                                  const char *reg_id) {
  sipflow_reg_contact *c = req_contact(r, uri);
  c->instance = S(inst);
  c->reg_id = S(reg_id);
  return c;
}

static inline void req_path(reg_req *r, const char *value) {
  r->path[r->req.n_path++] = S(value);
}

static inline void req_flow(reg_req *r, sipflow_flow_id id) {
  r->req.flow_id = id;
  r->req.flow.transport = SIPFLOW_TRANSPORT_TCP;
  sipflow_addr_parse(&r->req.flow.local, "192.0.2.1", 5060);
  sipflow_addr_parse(&r->req.flow.remote, "198.51.100.7",
                     (uint16_t)(40000 + id));
}

/* Apply |r| at h->now; returns the status and checks the invariants. */
static inline const sipflow_reg_result *submit(harness *h, const reg_req *r) {
  const sipflow_reg_result *res = NULL;
  int rv = sipflow_registrar_process(h->reg, &r->req, h->now, &res);
  cr_assert_not_null(res);
  if (rv != 0)
    cr_assert_eq(res->status, 500);
  cr_assert_eq(sipflow__registrar_check(h->reg), 0, "invariant %d broken",
               sipflow__registrar_check(h->reg));
  return res;
}

/* A plain REGISTER of one Contact URI. */
static inline int reg_plain(harness *h, const char *aor, const char *uri,
                            const char *call_id, uint32_t cseq,
                            sipflow_flow_id flow) {
  reg_req r;
  req_init(&r, aor, call_id, cseq);
  req_contact(&r, uri);
  if (flow)
    req_flow(&r, flow);
  return submit(h, &r)->status;
}

/* An Outbound REGISTER of one Contact with instance and reg-id. */
static inline int reg_ob(harness *h, const char *aor, const char *uri,
                         const char *inst, const char *reg_id,
                         const char *call_id, uint32_t cseq,
                         sipflow_flow_id flow) {
  reg_req r;
  req_init(&r, aor, call_id, cseq);
  req_ob_contact(&r, uri, inst, reg_id);
  if (flow)
    req_flow(&r, flow);
  return submit(h, &r)->status;
}

#endif
