/*
 * Fuzz target: token verification and flow-table lookup on arbitrary bytes,
 * as they would arrive in the user part of a Route URI.
 *
 * Beyond "no crash", it checks that every answer is one of the documented
 * ones, that the table never accepts what the key ring rejects, and that an
 * accepted token is canonical: minting the flow it names gives back the same
 * characters (once unescaped), so no two spellings name one flow.
 */
#include <stdlib.h>
#include <string.h>

#include "flow_token_int.h"
#include "sipflow/flow.h"
#include "sipflow/token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fuzzer's world, built once: two keys (ids 1 and 2, 1 current) and a
 * table holding a few flows, so table tokens in the corpus name live slots.
 * The seed corpus was minted with the same keys and tuples. */
static sipflow_ctx *ctx;
static sipflow_keyring *kr;
static sipflow_flow_table *ft;

static void add_flow(int transport, const char *local, const char *remote,
                     uint16_t port) {
  sipflow_flow_tuple t;
  sipflow_flow_id id;
  memset(&t, 0, sizeof(t));
  t.transport = (uint8_t)transport;
  if (sipflow_addr_parse(&t.local, local, 5060) != 0 ||
      sipflow_addr_parse(&t.remote, remote, port) != 0 ||
      sipflow_flow_add(ft, &t, port, 1, &id) != 0)
    abort();
}

static void setup(void) {
  uint8_t key[SIPFLOW_TOKEN_KEY_LEN];
  if (sipflow_ctx_new(&ctx, NULL, NULL, NULL, NULL) != 0 ||
      sipflow_keyring_new(&kr, ctx) != 0)
    abort();
  for (uint8_t id = 1; id <= 2; id++) {
    memset(key, id, sizeof(key));
    if (sipflow_keyring_add(kr, id, key, sizeof(key)) != 0)
      abort();
  }
  if (sipflow_flow_table_new(&ft, ctx, kr, NULL, NULL, NULL) != 0)
    abort();
  add_flow(SIPFLOW_TRANSPORT_TCP, "192.0.2.1", "198.51.100.7", 40001);
  add_flow(SIPFLOW_TRANSPORT_TLS, "2001:db8::1", "2001:db8::7", 40002);
  add_flow(SIPFLOW_TRANSPORT_UDP, "192.0.2.1", "203.0.113.9", 40003);
}

static int known_result(int rv) {
  return rv == 0 || rv == SIPFLOW_ERR_TAMPERED || rv == SIPFLOW_ERR_STALE ||
         rv == SIPFLOW_ERR_MALFORMED;
}

/* The input with %-escapes decoded, as verification reads it. */
static size_t unescaped(const uint8_t *data, size_t size, char *out,
                        size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < size && o < cap; i++) {
    if (data[i] == '%' && i + 2 < size) {
      char hex[3] = {(char)data[i + 1], (char)data[i + 2], 0};
      out[o++] = (char)strtol(hex, NULL, 16);
      i += 2;
    } else {
      out[o++] = (char)data[i];
    }
  }
  return o;
}

static void check_canonical(const uint8_t *data, size_t size,
                            const sipflow_token_info *info) {
  char again[SIPFLOW_TOKEN_BUFLEN], plain[SIPFLOW_TOKEN_MAX_INPUT];
  size_t len, plen;
  uint8_t current;
  if (sipflow_keyring_get_current(kr, &current) != 0)
    abort();
  if (sipflow_keyring_set_current(kr, info->key_id) != 0 ||
      sipflow__token_mint(kr, &info->tuple, info->slot, again, sizeof(again),
                          &len) != 0 ||
      sipflow_keyring_set_current(kr, current) != 0)
    abort();
  plen = unescaped(data, size, plain, sizeof(plain));
  if (plen != len || memcmp(plain, again, len) != 0)
    abort(); /* two spellings of one token */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sipflow_token_info info;
  sipflow_flow_info flow;
  const char *tok = (const char *)data;
  int rv, lrv;

  if (!ctx)
    setup();
  rv = sipflow_token_verify(kr, tok, size, &info);
  lrv = sipflow_flow_lookup(ft, tok, size, &flow);
  if (!known_result(rv) || !known_result(lrv))
    abort();
  /* The table adds "flow gone" to what the ring says, nothing else. */
  if (rv != 0 && lrv != rv)
    abort();
  if (rv == 0 && lrv != 0 && lrv != SIPFLOW_ERR_STALE)
    abort();
  if (sipflow_token_sip_status(rv) == 500)
    abort();
  if (rv == 0)
    check_canonical(data, size, &info);
  return 0;
}
