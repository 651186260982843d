/*
 * The token key ring: keys under one-byte ids, one of them current.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <sodium.h>
#include <string.h>

#include "flow_token_int.h"

/* The host's key is never used directly: the MAC key is derived from it for
 * one purpose and one format version, so that a later format (or another
 * use of the same secret) gets an unrelated key. */
#define KDF_CONTEXT "sfltoken"
#define KDF_SUBKEY_V1 1

int sipflow_keyring_new(sipflow_keyring **pkr, sipflow_ctx *ctx) {
  sipflow_keyring *kr;
  if (!pkr)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  *pkr = NULL;
  if (!ctx)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  kr = sipflow__calloc(&ctx->mem, 1, sizeof(*kr));
  if (!kr)
    return SIPFLOW_ERR_NOMEM;
  kr->ctx = ctx;
  *pkr = kr;
  return 0;
}

void sipflow_keyring_del(sipflow_keyring *kr) {
  if (!kr)
    return;
  sodium_memzero(kr->mac_key, sizeof(kr->mac_key));
  sipflow__free(&kr->ctx->mem, kr);
}

int sipflow_keyring_add(sipflow_keyring *kr, uint8_t key_id, const uint8_t *key,
                        size_t key_len) {
  if (!kr || !key || key_len != SIPFLOW_TOKEN_KEY_LEN)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (kr->present[key_id])
    return SIPFLOW_ERR_EXISTS;
  if (crypto_kdf_derive_from_key(kr->mac_key[key_id],
                                 SIPFLOW__TOKEN_MAC_KEY_LEN, KDF_SUBKEY_V1,
                                 KDF_CONTEXT, key) != 0)
    return SIPFLOW_ERR_INTERNAL;
  kr->present[key_id] = 1;
  kr->count++;
  if (!kr->has_current) {
    kr->has_current = 1;
    kr->current = key_id;
  }
  return 0;
}

int sipflow_keyring_remove(sipflow_keyring *kr, uint8_t key_id) {
  if (!kr)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (!kr->present[key_id])
    return SIPFLOW_ERR_NOT_FOUND;
  if (kr->has_current && kr->current == key_id)
    return SIPFLOW_ERR_BAD_STATE;
  sodium_memzero(kr->mac_key[key_id], SIPFLOW__TOKEN_MAC_KEY_LEN);
  kr->present[key_id] = 0;
  kr->count--;
  return 0;
}

int sipflow_keyring_set_current(sipflow_keyring *kr, uint8_t key_id) {
  if (!kr)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (!kr->present[key_id])
    return SIPFLOW_ERR_NOT_FOUND;
  kr->has_current = 1;
  kr->current = key_id;
  return 0;
}

int sipflow_keyring_get_current(const sipflow_keyring *kr, uint8_t *key_id) {
  if (!kr || !key_id)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (!kr->has_current)
    return SIPFLOW_ERR_NOT_FOUND;
  *key_id = kr->current;
  return 0;
}

int sipflow_keyring_has(const sipflow_keyring *kr, uint8_t key_id) {
  return kr && kr->present[key_id];
}

/* sodium_init() seeds libsodium's generator (it may open /dev/urandom), so it
 * is called here, in the one function allowed a random source, and nowhere
 * else: everything else the core uses from libsodium works without it. */
int sipflow_token_key_generate(uint8_t *key, size_t key_len) {
  if (!key || key_len != SIPFLOW_TOKEN_KEY_LEN)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (sodium_init() < 0)
    return SIPFLOW_ERR_INTERNAL;
  randombytes_buf(key, key_len);
  return 0;
}
