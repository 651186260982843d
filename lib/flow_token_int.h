/*
 * Flow tokens inside the core: the record layout, the key ring's layout and
 * the minting entry point the flow table uses. Never installed.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_TOKEN_INT_H
#define SIPFLOW_TOKEN_INT_H

#include "sipflow/token.h"
#include "sipflow_int.h"

/*
 * Record, version 1 (docs/tokens.md has the reasons):
 *   [0]     version << 4 | ipv6 << 3 | transport (1..6)
 *   [1]     key id
 *   [2..]   local address (4 or 16), local port (2), remote address, remote
 *           port (2), slot (4), generation (4), all big-endian
 *   [n-12]  tag: the first 12 bytes of SipHash-2-4-128 over [0, n-12)
 * 34 bytes (IPv4) or 58 (IPv6), 46 or 78 base64url characters.
 */
#define SIPFLOW__TOKEN_TAG_LEN 12
#define SIPFLOW__TOKEN_REC_V4 34
#define SIPFLOW__TOKEN_REC_V6 58
#define SIPFLOW__TOKEN_MAC_KEY_LEN 16 /* crypto_shorthash_siphashx24 */

struct sipflow_keyring {
  sipflow_ctx *ctx;
  uint16_t count;
  uint8_t has_current;
  uint8_t current;
  uint8_t present[256];
  /* MAC keys derived from the host's keys, indexed by key id: verification
   * is one array index, and 4 KiB for the whole ring. */
  uint8_t mac_key[256][SIPFLOW__TOKEN_MAC_KEY_LEN];
};

static inline const uint8_t *sipflow__keyring_key(const sipflow_keyring *kr,
                                                  uint8_t key_id) {
  return kr->present[key_id] ? kr->mac_key[key_id] : NULL;
}

/* Checks what every token needs of a tuple: a known transport and one
 * family on both sides. */
bool sipflow__token_tuple_valid(const sipflow_flow_tuple *tuple);

/* sipflow_token_mint() naming flow-table slot |slot| (0 = none). */
int sipflow__token_mint(const sipflow_keyring *kr,
                        const sipflow_flow_tuple *tuple, uint32_t slot,
                        char *buf, size_t buflen, size_t *token_len);

#endif /* SIPFLOW_TOKEN_INT_H */
