/*
 * Fuzz target: a Request-URI looked up as a GRUU (RFC 5627), the public
 * form (AoR;gr=instance, %-escaped) and the temporary one (a token decoded,
 * decrypted and authenticated).
 *
 * Beyond "no crash", it checks that every answer is one of the documented
 * ones and that a plan only ever holds the bindings of one instance.
 */
#include <stdlib.h>
#include <string.h>

#include "registrar_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fuzzer's world, built once: key 7 (the seed corpus's temporary GRUUs
 * were minted with it), alice with two devices, a with two flows. */
static sipflow_ctx *ctx;
static sipflow_keyring *kr;
static sipflow_registrar *reg;
static const sipflow_tstamp now = 1000 * SIPFLOW_SECONDS;

static sipflow_str str(const char *s) {
  sipflow_str r = {s, strlen(s)};
  return r;
}

static void add(const char *uri, const char *inst, const char *reg_id,
                const char *call_id, sipflow_flow_id flow) {
  sipflow_reg_request req;
  sipflow_reg_contact c;
  const sipflow_reg_result *res;
  sipflow_reg_request_default(&req);
  sipflow_reg_contact_default(&c);
  c.uri = str(uri);
  c.instance = str(inst);
  c.reg_id = str(reg_id);
  req.aor = str("sip:alice@example.com");
  req.call_id = str(call_id);
  req.cseq = 1;
  req.via_count = 1;
  req.supported = SIPFLOW_REG_OPT_OUTBOUND | SIPFLOW_REG_OPT_GRUU;
  req.contacts = &c;
  req.n_contacts = 1;
  req.flow_id = flow;
  req.flow.transport = SIPFLOW_TRANSPORT_TCP;
  if (sipflow_addr_parse(&req.flow.local, "192.0.2.1", 5060) != 0 ||
      sipflow_addr_parse(&req.flow.remote, "198.51.100.7",
                         (uint16_t)(40000 + flow)) != 0 ||
      sipflow_registrar_process(reg, &req, now, &res) != 0 ||
      res->status != 200)
    abort();
}

static void setup(void) {
  uint8_t key[SIPFLOW_TOKEN_KEY_LEN];
  memset(key, 7, sizeof(key));
  if (sipflow_ctx_new(&ctx, NULL, NULL, NULL, NULL) != 0 ||
      sipflow_keyring_new(&kr, ctx) != 0 ||
      sipflow_keyring_add(kr, 1, key, sizeof(key)) != 0 ||
      sipflow_registrar_new(&reg, ctx, NULL, NULL, NULL) != 0 ||
      sipflow_registrar_set_gruu(reg, kr) != 0)
    abort();
  add("sip:a1@198.51.100.7;ob",
      "<urn:uuid:00000000-0000-1000-8000-00000000000a>", "1", "cid-a", 1);
  add("sip:a2@198.51.100.7;ob",
      "<urn:uuid:00000000-0000-1000-8000-00000000000a>", "2", "cid-a", 2);
  add("sip:b@198.51.100.8;ob",
      "<urn:uuid:00000000-0000-1000-8000-00000000000b>", "1", "cid-b", 3);
}

static int known_result(int rv) {
  return rv == 0 || rv == SIPFLOW_ERR_NOT_FOUND || rv == SIPFLOW_ERR_TAMPERED ||
         rv == SIPFLOW_ERR_STALE || rv == SIPFLOW_ERR_MALFORMED;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sipflow_reg_plan *plan = NULL;
  const sipflow_reg_branch *br;
  size_t n;
  sipflow_str uri = {(const char *)data, size};
  int rv;
  if (!ctx)
    setup();
  (void)sipflow_reg_uri_is_gruu(uri);
  rv = sipflow_registrar_lookup_gruu(reg, uri, now, &plan);
  if (!known_result(rv) || (rv == 0) != (plan != NULL))
    abort();
  if (sipflow_reg_gruu_status(rv) == 500)
    abort();
  if (!plan)
    return 0;
  /* One instance: one branch at a time, and only a's or only b's. */
  if (sipflow_reg_plan_next_group(plan, &br, &n) != 0 || n != 1)
    abort();
  sipflow_reg_plan_del(plan);
  return 0;
}
