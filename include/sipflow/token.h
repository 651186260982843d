/*
 * libsipflow: flow tokens (RFC 5626 §5.2) and the key ring that signs them.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_TOKEN_H
#define SIPFLOW_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "sipflow/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @file token.h
 * Flow tokens: the user part an edge proxy puts into its Path and
 * Record-Route URIs so that a request routed back to it names the flow to
 * send it over (RFC 5626 §5.1–§5.3).
 *
 * A token is the base64url encoding, without padding, of a small record:
 * format version, key id, transport, local and remote address and port, the
 * flow-table slot and connection generation, and a 96-bit MAC (SipHash-128
 * from libsodium, truncated). It uses only A-Z a-z 0-9 '-' '_', all legal
 * unescaped in a SIP URI user part. An IPv4 token is 46 characters, an IPv6
 * token 78. docs/tokens.md gives the layout and the reasons for it.
 *
 * Verification tells four cases apart so the host can answer correctly:
 * - 0: valid; the flow is returned.
 * - SIPFLOW_ERR_TAMPERED: the MAC does not match under a key that is in the
 *   ring. The host answers 403 (RFC 5626 §5.3.1).
 * - SIPFLOW_ERR_STALE: a well-formed token under a key id no longer in the
 *   ring (or, through the flow table, for a connection that has gone). The
 *   host answers 430 Flow Failed, not 403, so that the authoritative proxy
 *   tries the instance's next flow (RFC 5626 §7, checklist 11.8/11.9).
 * - SIPFLOW_ERR_MALFORMED: not a token of a version this library reads.
 */

/** Bytes of key material per key (the host's secret). @since 0.1 */
#define SIPFLOW_TOKEN_KEY_LEN 32
/** Length of a token for an IPv4 flow, in characters. @since 0.1 */
#define SIPFLOW_TOKEN_IPV4_LEN 46
/** Length of a token for an IPv6 flow, in characters. @since 0.1 */
#define SIPFLOW_TOKEN_IPV6_LEN 78
/** The longest token, in characters. @since 0.1 */
#define SIPFLOW_TOKEN_MAX_LEN SIPFLOW_TOKEN_IPV6_LEN
/** A buffer this size holds any token and its terminating NUL. @since 0.1 */
#define SIPFLOW_TOKEN_BUFLEN (SIPFLOW_TOKEN_MAX_LEN + 1)
/**
 * The longest input sipflow_token_verify() looks at: a token with every
 * character %-escaped. Longer input is rejected before any work.
 * @since 0.1
 */
#define SIPFLOW_TOKEN_MAX_INPUT (3 * SIPFLOW_TOKEN_MAX_LEN)
/** The token format version this library mints. @since 0.1 */
#define SIPFLOW_TOKEN_VERSION 1

/* ------------------------------------------------------------------------ */
/* Key ring                                                                  */
/* ------------------------------------------------------------------------ */

/**
 * A set of token keys, each under a one-byte id (0–255), one of them
 * current. Tokens are minted under the current key and verified under
 * whichever key their id names, so rotating keys (add the new one, make it
 * current, remove the old one later) does not break tokens minted under a
 * key still in the ring. Every node that must verify a token (an edge
 * cluster) holds the same keys under the same ids. Opaque. @since 0.1
 */
typedef struct sipflow_keyring sipflow_keyring;

/**
 * Create an empty key ring, allocated through |ctx|'s allocator.
 * @param pkr receives the ring; set to NULL on failure.
 * @param ctx the context; must outlive the ring.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (NULL argument), or
 * SIPFLOW_ERR_NOMEM. Not callback-safe. @since 0.1
 */
SIPFLOW_API SIPFLOW_WARN_UNUSED int sipflow_keyring_new(sipflow_keyring **pkr,
                                                        sipflow_ctx *ctx);

/**
 * Delete a key ring, wiping its key material. Every flow table using it
 * must have been deleted first. NULL does nothing. Not callback-safe.
 * @since 0.1
 */
SIPFLOW_API void sipflow_keyring_del(sipflow_keyring *kr);

/**
 * Add a key under |key_id|. The first key added to an empty ring becomes
 * current. Only a key derived from |key| is kept (the bytes are copied, no
 * pointer is kept); the caller should wipe its copy when done.
 * @param key SIPFLOW_TOKEN_KEY_LEN bytes of secret, uniformly random (see
 * sipflow_token_key_generate()).
 * @param key_len must be SIPFLOW_TOKEN_KEY_LEN.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (NULL, wrong length),
 * SIPFLOW_ERR_EXISTS (the id is taken; the ring is unchanged), or
 * SIPFLOW_ERR_INTERNAL (libsodium's key derivation failed; not expected).
 * Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_keyring_add(sipflow_keyring *kr, uint8_t key_id,
                                    const uint8_t *key, size_t key_len);

/**
 * Remove the key |key_id| and wipe it. Tokens minted under it then verify as
 * SIPFLOW_ERR_STALE.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (NULL), SIPFLOW_ERR_NOT_FOUND,
 * or SIPFLOW_ERR_BAD_STATE (it is the current key: make another current
 * first). Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_keyring_remove(sipflow_keyring *kr, uint8_t key_id);

/**
 * Mint new tokens under |key_id| from now on.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (NULL), or SIPFLOW_ERR_NOT_FOUND.
 * Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_keyring_set_current(sipflow_keyring *kr,
                                            uint8_t key_id);

/**
 * The id of the current key.
 * @return 0 with |*key_id| set, SIPFLOW_ERR_INVALID_ARGUMENT (NULL), or
 * SIPFLOW_ERR_NOT_FOUND (the ring is empty). Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_keyring_get_current(const sipflow_keyring *kr,
                                            uint8_t *key_id);

/**
 * Whether the ring holds a key under |key_id|.
 * @return 1 or 0 (also for NULL). Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_keyring_has(const sipflow_keyring *kr, uint8_t key_id);

/**
 * Fill |key| with SIPFLOW_TOKEN_KEY_LEN fresh random bytes from libsodium
 * (randombytes_buf). This is the one function of the core that reads a
 * random source; nothing else in the library calls it. Hosts that share keys
 * across a cluster or keep them over a restart store the bytes themselves.
 * @param key_len must be SIPFLOW_TOKEN_KEY_LEN.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT, or SIPFLOW_ERR_INTERNAL
 * (libsodium could not be initialised). Callback-safe; thread-safe.
 * @since 0.1
 */
SIPFLOW_API int sipflow_token_key_generate(uint8_t *key, size_t key_len);

/* ------------------------------------------------------------------------ */
/* Tokens                                                                    */
/* ------------------------------------------------------------------------ */

/**
 * What a valid token says. A plain value filled by sipflow_token_verify().
 * @since 0.1
 */
typedef struct sipflow_token_info {
  uint8_t version; /**< format version (SIPFLOW_TOKEN_VERSION) */
  uint8_t key_id;  /**< the key that signed it (also set for STALE) */
  /**
   * Flow-table slot the token names (1-based), or 0 for a token minted by
   * sipflow_token_mint() that names no table entry.
   */
  uint32_t slot;
  /** The flow: transport, both addresses, connection generation. */
  sipflow_flow_tuple tuple;
} sipflow_token_info;

/**
 * Mint a token for |tuple| under the ring's current key, naming no flow-table
 * entry: the token alone routes the flow. This suits UDP, where the tuple is
 * the flow (RFC 5626 §5.2), and hosts that keep their own connection table;
 * the host sets tuple->generation so that a new connection on the same
 * addresses gets a different token (RFC 5626 §3.4). The flow table mints
 * its own tokens (sipflow_flow_token()).
 * @param tuple copied; local and remote must be the same family.
 * @param buf receives the token and a NUL; SIPFLOW_TOKEN_BUFLEN suffices.
 * @param token_len receives the length without the NUL; may be NULL.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (NULL, unknown transport, family
 * NONE or mixed), SIPFLOW_ERR_BUFFER_TOO_SMALL, or SIPFLOW_ERR_BAD_STATE (no
 * current key). Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_token_mint(const sipflow_keyring *kr,
                                   const sipflow_flow_tuple *tuple, char *buf,
                                   size_t buflen, size_t *token_len);

/**
 * Verify a token: the user part of a Route URI that names this proxy, as it
 * arrived, %-escaped or not. Input longer than SIPFLOW_TOKEN_MAX_INPUT is
 * rejected before any other work. Verification does not allocate and does
 * not log, so hostile input costs no more than a valid token.
 * @param token the bytes; need not be NUL-terminated; not kept.
 * @param info filled on success; on SIPFLOW_ERR_STALE from a missing key its
 * version and key_id are set. May be NULL.
 * @return 0, SIPFLOW_ERR_TAMPERED (403), SIPFLOW_ERR_STALE (430: its key has
 * left the ring), SIPFLOW_ERR_MALFORMED (wrong length or alphabet, bad
 * escape, unknown version), or SIPFLOW_ERR_INVALID_ARGUMENT (NULL |kr|, or
 * NULL |token| with a nonzero length). Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_token_verify(const sipflow_keyring *kr,
                                     const char *token, size_t token_len,
                                     sipflow_token_info *info);

/**
 * The SIP response a host sends for a verification result, RFC 5626 §5.3.1:
 * 0 for success (route the request), 430 for SIPFLOW_ERR_STALE, 403 for
 * SIPFLOW_ERR_TAMPERED and SIPFLOW_ERR_MALFORMED (the Route named this proxy
 * but carries no token it made), 500 for anything else. Callback-safe.
 * @since 0.1
 */
SIPFLOW_API int sipflow_token_sip_status(int verify_result);

#ifdef __cplusplus
}
#endif

#endif /* SIPFLOW_TOKEN_H */
