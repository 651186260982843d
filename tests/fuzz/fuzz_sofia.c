/*
 * Fuzz target for the sofia-sip adapter: raw bytes from the network are
 * parsed with sipflow_sofia_parse(); every message has its RFC 5626 facts
 * read (Via count, Flow-Timer, each Contact's +sip.instance and reg-id); a
 * REGISTER goes through sipflow_sofia_register_facts(), a registrar (twice:
 * the request, then the same request as a refresh a second later) and
 * sipflow_sofia_register_answer(). Nothing may crash or leak, every call
 * returns one of its documented codes, and the answer text is whole header
 * lines: no CR or LF inside a line, so nothing from the network can inject
 * a header into the response.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/sip_protos.h>

#include "sipflow/sipflow_sofia.h"

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "fuzz_sofia: %s failed at line %d\n", #cond, __LINE__);  \
      abort();                                                                 \
    }                                                                          \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_lines(const char *text, size_t len) {
  CHECK(strlen(text) == len);
  for (size_t i = 0; i < len; i++) {
    if (text[i] == '\r') {
      CHECK(i + 1 < len && text[i + 1] == '\n'); /* CR only before LF */
      CHECK(i > 0 && text[i - 1] != '\n');       /* no empty line */
      i++;
    } else {
      CHECK(text[i] != '\n'); /* LF only after CR */
    }
  }
  CHECK(len == 0 || (len >= 2 && text[len - 2] == '\r'));
}

static void read_contacts(const sip_t *sip) {
  for (const sip_contact_t *m = sip->sip_contact; m; m = m->m_next) {
    char inst[256], tiny[4];
    size_t n = 0;
    uint32_t id = 0;
    int rv = sipflow_sofia_instance(m, inst, sizeof(inst), &n);
    CHECK(rv == 0 || rv == SIPFLOW_ERR_NOT_FOUND ||
          rv == SIPFLOW_ERR_MALFORMED || rv == SIPFLOW_ERR_BUFFER_TOO_SMALL);
    if (rv == 0)
      CHECK(n > 0 && strlen(inst) == n);
    rv = sipflow_sofia_instance(m, tiny, sizeof(tiny), NULL);
    CHECK(rv != 0 || strlen(tiny) < sizeof(tiny));
    rv = sipflow_sofia_reg_id(m, &id);
    CHECK(rv == SIPFLOW_ERR_NOT_FOUND || rv == SIPFLOW_ERR_MALFORMED ||
          (rv == 0 && id >= 1 && id <= 2147483647u));
  }
}

/* One REGISTER through the registrar and back to the answer text. */
static void answer(sipflow_registrar *reg, sipflow_sofia_register *f,
                   msg_t *msg, sipflow_tstamp now) {
  const sipflow_reg_result *res = NULL;
  static char text[16384];
  char small[64];
  size_t len = 0;
  int rv = sipflow_registrar_process(reg, &f->req, now, &res);
  CHECK(rv == 0 || rv == SIPFLOW_ERR_NOMEM);
  CHECK(res && res->status >= 200 && res->status <= 699);
  rv = sipflow_sofia_register_answer(res, msg, text, sizeof(text), &len);
  CHECK(rv == 0 || rv == SIPFLOW_ERR_BUFFER_TOO_SMALL);
  if (rv == 0)
    check_lines(text, len);
  rv = sipflow_sofia_register_answer(res, msg, small, sizeof(small), &len);
  CHECK(rv == 0 || rv == SIPFLOW_ERR_BUFFER_TOO_SMALL);
  if (rv == 0)
    check_lines(small, len);
}

/* The registrar's policies come from the last byte of the input (usually a
 * LF: outbound supported... the fuzzer changes it), so the 421, 439 and 420
 * answers are reached too. */
static void do_register(msg_t *msg, uint8_t policy) {
  static sipflow_sofia_register f; /* 1.5 KiB: off the fuzzer's stack */
  sipflow_registrar_settings set;
  sipflow_registrar *reg;
  sipflow_ctx *ctx;
  sipflow_tstamp now = 1000 * SIPFLOW_SECONDS;
  sipflow_flow_tuple arrival = {.transport = SIPFLOW_TRANSPORT_TCP,
                                .generation = 1};
  int rv;
  sipflow_addr_parse(&arrival.local, "192.0.2.1", 5060);
  sipflow_addr_parse(&arrival.remote, "192.0.2.2", 40000);
  rv = sipflow_sofia_register_facts(&f, msg, NULL, 1, &arrival);
  CHECK(rv == 0 || rv == SIPFLOW_ERR_MALFORMED || rv == SIPFLOW_ERR_TOO_LARGE ||
        rv == SIPFLOW_ERR_NOMEM);
  if (rv != 0)
    return;
  CHECK(f.req.n_contacts <= SIPFLOW_SOFIA_MAX_CONTACTS);
  CHECK(f.req.n_path <= SIPFLOW_SOFIA_MAX_PATH);
  CHECK(f.req.n_require_unknown <= SIPFLOW_SOFIA_MAX_REQUIRE);
  /* RFC 5626 §6: the arrival flow straight from the UA; without a flow
   * table no Path token names a flow. */
  CHECK(f.req.flow_id == (f.req.via_count == 1 ? 1u : 0u));
  CHECK(sipflow_addr_equal(&f.req.received, &arrival.remote));
  /* The host's part, as a first-hop edge on TCP would fill it, whatever
   * the Vias say: more of the registrar is reached. */
  f.req.flow_id = 1;
  f.req.flow = arrival;
  sipflow_registrar_settings_default(&set);
  set.flow_timer = 25;
  set.max_contacts_per_request = SIPFLOW_SOFIA_MAX_CONTACTS;
  set.outbound = (sipflow_reg_outbound_policy)(policy % 3);
  set.path_requires_supported = (policy >> 2) & 1;
  set.path_ob = (sipflow_reg_path_ob)((policy >> 3) % 3);
  if (sipflow_ctx_new(&ctx, NULL, NULL, NULL, NULL) != 0)
    return;
  if (sipflow_registrar_new(&reg, ctx, NULL, &set, NULL) == 0) {
    answer(reg, &f, msg, now);
    f.req.cseq++; /* the refresh */
    answer(reg, &f, msg, now + SIPFLOW_SECONDS);
    sipflow_registrar_del(reg);
  }
  sipflow_ctx_del(ctx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  msg_t *msg = (msg_t *)1;
  sip_t *sip;
  uint32_t secs;
  int rv = sipflow_sofia_parse(&msg, data, size);
  CHECK(rv == 0 || rv == SIPFLOW_ERR_MALFORMED || rv == SIPFLOW_ERR_NOMEM);
  if (rv != 0) {
    CHECK(msg == NULL);
    return 0;
  }
  sip = sip_object(msg);
  CHECK(sip && (sip->sip_request || sip->sip_status));
  CHECK(sipflow_sofia_via_count(sip) >= 1);
  rv = sipflow_sofia_flow_timer(sip, &secs);
  CHECK(rv == 0 || rv == SIPFLOW_ERR_NOT_FOUND || rv == SIPFLOW_ERR_MALFORMED);
  read_contacts(sip);
  if (sip->sip_request && sip->sip_request->rq_method == sip_method_register)
    do_register(msg, data[size - 1]);
  else
    CHECK(sipflow_sofia_register_facts(NULL, msg, NULL, 0, NULL) ==
          SIPFLOW_ERR_INVALID_ARGUMENT);
  msg_destroy(msg);
  return 0;
}
