/*
 * Fuzz target for the registrar: the input is a program of REGISTER facts,
 * lookups with plan walks, flow failures and health reports, and clock
 * steps. After every step the store's invariants must hold; a REGISTER
 * that fails for lack of memory must leave the store unchanged; at the end
 * nothing may leak. The allocator fails where the input says.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registrar_int.h"

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "fuzz_registrar: %s failed at line %d\n", #cond,         \
              __LINE__);                                                       \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* ---- input reading ------------------------------------------------------- */

typedef struct in {
  const uint8_t *p, *end;
} in;

static uint8_t byte(in *i) { return i->p < i->end ? *i->p++ : 0; }

static uint32_t u32(in *i) {
  uint32_t v = byte(i);
  v = v << 8 | byte(i);
  return v;
}

static sipflow_str raw(in *i) {
  sipflow_str s;
  size_t len = byte(i) % 64;
  if (len > (size_t)(i->end - i->p))
    len = (size_t)(i->end - i->p);
  s.ptr = (const char *)i->p;
  s.len = len;
  i->p += len;
  return s;
}

static sipflow_str pick(in *i, const char *const *set, size_t n) {
  uint8_t k = byte(i);
  sipflow_str s = {NULL, 0};
  if (k % (n + 2) == n)
    return raw(i); /* sometimes arbitrary bytes */
  if (k % (n + 2) == n + 1)
    return s; /* sometimes absent */
  s.ptr = set[k % (n + 2)];
  s.len = strlen(s.ptr);
  return s;
}

#define PICK(i, set) pick((i), (set), sizeof(set) / sizeof((set)[0]))

static const char *const aors[] = {
    "sip:alice@example.com",  "SIP:alice@EXAMPLE.com;user=phone",
    "sip:bob@example.com",    "sip:%61lice@example.com",
    "sips:carol@example.com", "tel:+1555"};
static const char *const call_ids[] = {"a", "b", "c", "call-AAAA", "call-BBBB"};
static const char *const uris[] = {
    "sip:alice@192.0.2.1:5060;transport=tcp",
    "sip:alice@192.0.2.1:5060;Transport=TCP", "sip:alice@192.0.2.2",
    "sip:alice@192.0.2.2:5060",
    "sip:alice-with-a-much-longer-contact-uri@203.0.113.200:49152;ob",
    "sip:a%6cice@192.0.2.2", "sip:alice@[2001:db8::1];maddr=10.0.0.1",
    "mailto:alice@example.com", "sip:", "<sip:x@y>",
    /* RFC 3261 §19.1.4 equality is not transitive among these three */
    "sip:carol@h", "sip:carol@h;security=on", "sip:carol@h;security=off"};
static const char *const instances[] = {
    "\"<urn:uuid:00000000-0000-1000-8000-00000000000a>\"",
    "<urn:uuid:00000000-0000-1000-8000-00000000000A>",
    "\"<urn:uuid:00000000-0000-1000-8000-00000000000b>\"",
    "urn:foo:a%2Cb",
    "URN:FOO:a%2cb",
    "\"\"",
    "<>",
    "\"<sip:a@b>\""};
static const char *const reg_ids[] = {
    "1", "2", "3", "0", "-1", "x", "2147483647", "2147483648", ""};
static const char *const expires[] = {"0",   "30",   "60",         "3600",
                                      "abc", "7200", "99999999999"};
static const char *const paths[] = {
    "<sip:tok@edge.example.com;lr;ob>", "<sip:edge.example.com;lr>",
    "sip:p2.example.com;lr", "<sip:p2.example.com;lr", "<sip:a;lr>\r\nX: y"};
static const int statuses[] = {200, 408, 430, 486, 603, 500, 302, 480};

/* ---- a failing allocator ------------------------------------------------- */

typedef struct fuzz_mem {
  int64_t live;
  uint64_t calls, fail_every;
} fuzz_mem;

static int fails(fuzz_mem *m) {
  m->calls++;
  return m->fail_every && m->calls % m->fail_every == 0;
}
static void *f_malloc(size_t n, void *ud) {
  void *p;
  if (fails(ud))
    return NULL;
  if ((p = malloc(n ? n : 1)))
    ((fuzz_mem *)ud)->live++;
  return p;
}
static void f_free(void *p, void *ud) {
  if (p)
    ((fuzz_mem *)ud)->live--;
  free(p);
}
static void *f_calloc(size_t n, size_t s, void *ud) {
  void *p;
  if (fails(ud))
    return NULL;
  if ((p = calloc(n ? n : 1, s ? s : 1)))
    ((fuzz_mem *)ud)->live++;
  return p;
}
static void *f_realloc(void *p, size_t n, void *ud) {
  void *q;
  if (!p)
    return f_malloc(n, ud);
  if (fails(ud))
    return NULL;
  q = realloc(p, n ? n : 1);
  return q;
}

/* ---- the program --------------------------------------------------------- */

typedef struct world {
  sipflow_ctx *ctx;
  sipflow_registrar *reg;
  sipflow_reg_plan *plans[2];
  sipflow_tstamp now;
  size_t changes;
} world;

static void on_change(sipflow_registrar *reg, sipflow_reg_change change,
                      const sipflow_reg_binding *b, void *ud) {
  world *w = ud;
  CHECK(change >= SIPFLOW_REG_ADDED && change <= SIPFLOW_REG_FLOW_FAILED);
  CHECK(b->aor.len > 0 && b->uri.len > 0);
  CHECK(sipflow_registrar_binding_count(reg) < 1000000);
  w->changes++;
}

SIPFLOW__NO_COVERAGE static uint64_t fingerprint(const sipflow_registrar *reg) {
  uint64_t f = reg->n_bindings * 1000003u + reg->aors.len;
  for (size_t i = 0; reg->aors.slots && i <= reg->aors.mask; i++) {
    const sipflow__reg_aor *a = sipflow__reg_index_at(&reg->aors, i)->obj;
    for (uint32_t k = 0; a && k < a->n; k++) {
      const sipflow__reg_binding *b = a->b[k];
      f = f * 31 + b->id * 7 + b->cseq + b->uri_len + b->call_id_len +
          b->flow_id + b->expires_at + b->q + b->reg_id;
    }
  }
  return f;
}

static void settings(in *i, sipflow_registrar_settings *s) {
  uint8_t a = byte(i), b = byte(i);
  sipflow_registrar_settings_default(s);
  s->outbound = (sipflow_reg_outbound_policy)(a % 3);
  s->overflow = (sipflow_reg_overflow_policy)(a >> 2 & 1);
  s->dead_flow = (sipflow_reg_dead_flow_policy)(a >> 3 & 1);
  s->path_ob = (sipflow_reg_path_ob)((a >> 4) % 3);
  s->flow_order = (sipflow_reg_flow_order)(a >> 6 & 1);
  s->allow_repeated_cseq = a >> 7;
  s->reject_below_min = b & 1;
  s->path_requires_supported = b >> 1 & 1;
  s->max_contacts = 1 + (b >> 2) % 4;
  s->max_contacts_per_request = 1 + (b >> 4) % 4;
  s->dead_flow_expires = (b >> 6) * 5;
  s->min_expires = 60;
  s->flow_timer = 29;
  s->max_bindings = byte(i) % 16;
}

static void contact(in *i, sipflow_reg_contact *c) {
  uint8_t k = byte(i);
  sipflow_reg_contact_default(c);
  c->uri = PICK(i, uris);
  if (k & 1)
    c->instance = PICK(i, instances);
  if (k & 2)
    c->reg_id = PICK(i, reg_ids);
  if (k & 4)
    c->expires = PICK(i, expires);
  if (k & 8)
    c->q = (int32_t)(u32(i) % 1200) - 100;
  c->ob = k >> 4 & 1;
  if (k & 32)
    c->params = raw(i);
}

static void do_register(world *w, in *i) {
  sipflow_reg_request req;
  sipflow_reg_contact cs[4];
  sipflow_str path[3], unknown[1] = {{"x-foo", 5}};
  const sipflow_reg_result *res = NULL;
  uint8_t k = byte(i), n = byte(i) % 5;
  uint64_t before = fingerprint(w->reg);
  int rv;
  sipflow_reg_request_default(&req);
  req.aor = PICK(i, aors);
  req.call_id = PICK(i, call_ids);
  req.cseq = byte(i) % 8;
  req.has_expires = k & 1;
  req.expires = (k & 2) ? 0 : u32(i) % 5000;
  req.wildcard = (k >> 2 & 3) == 3;
  req.via_count = byte(i) % 4;
  req.supported = byte(i) % 4;
  req.require = (k >> 4) % 4;
  req.n_require_unknown = k >> 6 & 1;
  req.require_unknown = unknown;
  for (uint8_t c = 0; c < n && c < 4; c++)
    contact(i, &cs[c]);
  req.contacts = cs;
  req.n_contacts = n > 4 ? 4 : n;
  req.n_path = byte(i) % 4;
  for (size_t p = 0; p < req.n_path; p++) {
    path[p] = PICK(i, paths);
    if (!path[p].ptr)
      path[p] = (sipflow_str){"<sip:e;lr;ob>", 13};
  }
  req.path = path;
  req.flow_id = byte(i) % 6;
  req.flow.transport = byte(i) % 8;
  req.user_agent = raw(i);
  rv = sipflow_registrar_process(w->reg, &req, w->now, &res);
  CHECK(res != NULL);
  if (rv == SIPFLOW_ERR_NOMEM || res->status != 200)
    CHECK(fingerprint(w->reg) == before); /* all or nothing */
  if (rv == 0 && res->status == 200) {
    CHECK(res->n_contacts <= w->reg->set.max_contacts);
    for (size_t c = 0; c < res->n_contacts; c++)
      CHECK(res->contacts[c].expires > 0 && res->contacts[c].aor.len > 0);
  }
  CHECK(res->status >= 200 && res->status < 600);
}

static void walk_plan(world *w, sipflow_reg_plan *plan, in *i) {
  for (int rounds = 0; rounds < 8; rounds++) {
    const sipflow_reg_branch *br;
    size_t n;
    if (sipflow_reg_plan_next_group(plan, &br, &n) != 0 || n == 0)
      return;
    for (size_t b = 0; b < n; b++) {
      const sipflow_reg_branch *cur = &br[b];
      sipflow_reg_branch copy;
      for (int hops = 0; cur && hops < 8; hops++) {
        const sipflow_reg_branch *next = NULL;
        int st = statuses[byte(i) % 8];
        copy = *cur;
        CHECK(copy.binding->uri.len > 0);
        CHECK(sipflow_reg_plan_report(plan, copy.id, st, w->now, &next) == 0);
        CHECK(sipflow__registrar_check(w->reg) == 0);
        cur = next;
      }
    }
  }
}

/* A batched lookup of |first| and up to 11 more AoRs (more than one
 * round): each plan is made exactly when its code is 0; the first is kept
 * in |slot|. */
static void lookup_batch(world *w, in *i, sipflow_str first,
                         sipflow_reg_plan **slot) {
  sipflow_str want[12];
  sipflow_reg_plan *plans[12];
  int results[12];
  size_t n = 1 + byte(i) % 12;
  want[0] = first;
  for (size_t j = 1; j < n; j++)
    want[j] = PICK(i, aors);
  if (sipflow_registrar_lookup_batch(w->reg, want, n, w->now, plans, results) !=
      0) {
    for (size_t j = 0; j < n; j++)
      CHECK(plans[j] == NULL);
    return;
  }
  for (size_t j = 0; j < n; j++) {
    CHECK((results[j] == 0) == (plans[j] != NULL));
    CHECK(results[j] == 0 || results[j] == SIPFLOW_ERR_NOT_FOUND ||
          results[j] == SIPFLOW_ERR_MALFORMED ||
          results[j] == SIPFLOW_ERR_NOMEM);
    if (j > 0)
      sipflow_reg_plan_del(plans[j]);
  }
  *slot = plans[0];
}

static void do_lookup(world *w, in *i) {
  uint8_t k = byte(i);
  sipflow_reg_plan **slot = &w->plans[k & 1];
  sipflow_str aor = PICK(i, aors);
  if (*slot && (k & 2)) {
    walk_plan(w, *slot, i); /* an old plan over a changed store */
    CHECK(sipflow_reg_plan_final_status(*slot) != 430);
    sipflow_reg_plan_del(*slot);
    *slot = NULL;
    return;
  }
  sipflow_reg_plan_del(*slot);
  *slot = NULL;
  if (k & 8) {
    lookup_batch(w, i, aor, slot);
    if (!*slot)
      return;
  } else if (sipflow_registrar_lookup(w->reg, aor, w->now, slot) != 0) {
    return;
  }
  if (k & 4)
    walk_plan(w, *slot, i);
}

static int count_one(const sipflow_reg_binding *b, void *ud) {
  (void)b;
  (*(size_t *)ud)++;
  return 0;
}

static void step(world *w, in *i) {
  uint8_t op = byte(i);
  size_t seen = 0;
  switch (op % 8) {
  case 0:
  case 1:
  case 2:
    do_register(w, i);
    break;
  case 3:
    do_lookup(w, i);
    break;
  case 4:
    (void)sipflow_registrar_flow_failed(w->reg, byte(i) % 6, w->now);
    break;
  case 5:
    (void)sipflow_registrar_flow_health(
        w->reg, byte(i) % 6, (sipflow_flow_health)(byte(i) % 5), w->now);
    break;
  case 6:
    w->now += (sipflow_tstamp)u32(i) * SIPFLOW_SECONDS / 4;
    CHECK(sipflow_ctx_handle_expiry(w->ctx, w->now) == 0);
    CHECK(sipflow_ctx_get_expiry(w->ctx) > w->now);
    break;
  default:
    CHECK(sipflow_registrar_foreach(w->reg, w->now, count_one, &seen) == 0);
    CHECK(seen == sipflow_registrar_binding_count(w->reg));
    break;
  }
  CHECK(sipflow__registrar_check(w->reg) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  in i = {data, data + size};
  fuzz_mem fm = {0, 0, 0};
  sipflow_mem mem = {&fm, f_malloc, f_free, f_calloc, f_realloc};
  sipflow_registrar_callbacks cb = {on_change, NULL};
  sipflow_registrar_settings s;
  world w;
  uint8_t fail = byte(&i);
  memset(&w, 0, sizeof(w));
  w.now = 1000 * SIPFLOW_SECONDS;
  settings(&i, &s);
  if (sipflow_ctx_new(&w.ctx, NULL, NULL, &mem, &w) != 0)
    return 0;
  if (sipflow_registrar_new(&w.reg, w.ctx, &cb, &s, &w) != 0) {
    sipflow_ctx_del(w.ctx);
    CHECK(fm.live == 0);
    return 0;
  }
  /* From here on, fail one allocation in |fail| when it is under 32. */
  fm.fail_every = fail < 32 ? (uint64_t)fail + 2 : 0;
  for (int steps = 0; i.p < i.end && steps < 256; steps++)
    step(&w, &i);
  sipflow_reg_plan_del(w.plans[0]);
  sipflow_reg_plan_del(w.plans[1]);
  sipflow_registrar_del(w.reg);
  sipflow_ctx_del(w.ctx);
  CHECK(fm.live == 0);
  return 0;
}
