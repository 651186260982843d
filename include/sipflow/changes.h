/*
 * libsipflow: one stream of versioned change records for the state that
 * must survive a restart or be shared: registrar bindings, keepalive reasons
 * and token keys.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_CHANGES_H
#define SIPFLOW_CHANGES_H

#include <stddef.h>
#include <stdint.h>

#include "sipflow/common.h"
#include "sipflow/keepalive.h"
#include "sipflow/registrar.h"
#include "sipflow/token.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @file changes.h
 * Change records. The host turns each registrar change callback, each
 * confirmed keepalive reason and each key of its ring into a record, encodes
 * it, and hands the bytes to a store (libsipflow-sqlite) or to other nodes;
 * after a restart, or on another node, it decodes the records and applies
 * them to a registrar, a keepalive scheduler or a key ring.
 *
 * Every record carries expiries as wall-clock seconds (computed from an
 * explicit |unix_seconds| argument: the core reads no clock), so a restore
 * after downtime ages everything by the time that passed.
 *
 * Ordering rules, so that applying a record twice, or two records for the
 * same identity in either order, leaves the same state:
 * - bindings: with the same Call-ID the higher CSeq wins (RFC 3261 §10.3
 *   step 7); with equal CSeqs or different Call-IDs the higher version wins;
 *   a record that does not win changes nothing (SIPFLOW_ERR_STALE);
 * - keepalive reasons and keys: the record is the whole state of its
 *   identity; applying it again sets the same values.
 *
 * Records are plain values. Strings are views: after
 * sipflow_change_from_binding() into the binding the callback was given
 * (valid during the callback), after sipflow_change_decode() into the
 * decoded bytes. Nothing keeps a pointer after a call returns.
 */

/** The encoding version written by sipflow_change_encode(). @since 0.1 */
#define SIPFLOW_CHANGE_FORMAT 1

/** What a record describes. @since 0.1 */
typedef enum sipflow_change_kind {
  SIPFLOW_CHANGE_BINDING = 1,  /**< a registrar binding */
  SIPFLOW_CHANGE_ENDPOINT = 2, /**< one reason of a keepalive endpoint */
  SIPFLOW_CHANGE_KEY = 3       /**< a token key of the ring */
} sipflow_change_kind;

/**
 * The name of a sipflow_change_kind value ("binding", "endpoint", "key"), or
 * NULL for a value the enum does not have. The string is static. Callback-safe.
 * @since 0.2
 */
SIPFLOW_API const char *sipflow_change_kind_name(int kind);

/** Whether the identity now has this state or is gone. @since 0.1 */
typedef enum sipflow_change_op {
  SIPFLOW_CHANGE_PUT = 1, /**< added or changed: the record is its state */
  SIPFLOW_CHANGE_DEL = 2  /**< removed (the record is its last state) */
} sipflow_change_op;

/**
 * The name of a sipflow_change_op value ("put", "del"), or NULL for a value the
 * enum does not have. The string is static. Callback-safe. @since 0.2
 */
SIPFLOW_API const char *sipflow_change_op_name(int op);

/**
 * A binding as a record: everything needed to restore it. Identity: the AoR
 * with (instance, reg-id) when |outbound|, else with the Contact URI.
 * @since 0.1
 */
typedef struct sipflow_change_binding {
  sipflow_str aor;        /**< canonical AoR */
  sipflow_str uri;        /**< Contact URI */
  sipflow_str instance;   /**< +sip.instance, len 0 when none */
  uint32_t reg_id;        /**< nonzero for an Outbound binding */
  int32_t q;              /**< thousandths or SIPFLOW_REG_Q_NONE */
  sipflow_str call_id;    /**< of the last update */
  uint32_t cseq;          /**< of the last update */
  sipflow_str path;       /**< joined Path ("<a>, <b>"), len 0 if none */
  uint32_t n_path;        /**< values in |path| */
  sipflow_str params;     /**< other Contact parameters */
  sipflow_str user_agent; /**< User-Agent as stored */
  /** Flow id in the process that wrote the record. Flow ids do not survive
   * a restart: set it to the new process's id for the same flow, or 0,
   * before applying. */
  sipflow_flow_id flow_id;
  sipflow_flow_tuple flow; /**< the flow's tuple */
  sipflow_addr received;   /**< source of the last REGISTER */
  uint8_t outbound;        /**< 1: keyed by instance and reg-id */
  uint8_t ob;              /**< 1: the Contact carried ";ob" */
  uint64_t expires_unix;   /**< expiry, seconds since 1970, rounded up */
} sipflow_change_binding;

/**
 * One confirmed reason of a keepalive endpoint. Identity: the flow tuple
 * with (kind, reason id). @since 0.1
 */
typedef struct sipflow_change_endpoint {
  /** The endpoint (user_data is neither encoded nor applied; flow_id as
   * for bindings: the writer's, to be replaced before applying). */
  sipflow_keepalive_endpoint ep;
  sipflow_keepalive_saved_reason reason; /**< the reason and its expiry */
} sipflow_change_endpoint;

/** A token key. Identity: its id. @since 0.1 */
typedef struct sipflow_change_key {
  uint8_t key_id;                     /**< the ring's id */
  uint8_t current;                    /**< 1: the key new tokens use */
  uint8_t key[SIPFLOW_TOKEN_KEY_LEN]; /**< the secret: guard the store */
} sipflow_change_key;

/** A change record. @since 0.1 */
typedef struct sipflow_change {
  uint8_t kind; /**< a sipflow_change_kind */
  uint8_t op;   /**< a sipflow_change_op */
  /**
   * Order of records for one identity: the wall-clock time of the change in
   * milliseconds since 1970, made strictly increasing by the writer
   * (sipflow_change_version_next()).
   */
  uint64_t version;
  union {
    sipflow_change_binding binding;   /**< kind BINDING */
    sipflow_change_endpoint endpoint; /**< kind ENDPOINT */
    sipflow_change_key key;           /**< kind KEY */
  } u;                                /**< the record's body, by |kind| */
} sipflow_change;

/**
 * The next version for a writer: |unix_ms|, or one more than |*last| when
 * the clock has not moved past it. Updates |*last|.
 * @param last the writer's last version (0 at first); must not be NULL.
 * @param unix_ms the wall-clock time now in milliseconds since 1970.
 * @return the version. Callback-safe. @since 0.1
 */
SIPFLOW_API uint64_t sipflow_change_version_next(uint64_t *last,
                                                 uint64_t unix_ms);

/**
 * Make a binding record from what the registrar's change callback gives:
 * PUT for ADDED, REFRESHED and UPDATED; DEL for REMOVED, EXPIRED and
 * FLOW_FAILED.
 * @param out receives the record; its strings point into |b| (valid as long
 * as |b| is: during the callback).
 * @param unix_seconds wall-clock seconds now; with |now| converts the
 * binding's expiry.
 * @param now the context time |b| was reported at.
 * @return 0, or SIPFLOW_ERR_INVALID_ARGUMENT (NULL, unknown change).
 * Callback-safe. @since 0.1
 */
SIPFLOW_API int
sipflow_change_from_binding(sipflow_change *out, sipflow_reg_change change,
                            const sipflow_reg_binding *b, uint64_t version,
                            uint64_t unix_seconds, sipflow_tstamp now);

/** Largest encoding of any record (strings are at most 65535 bytes each).
 * @since 0.1 */
#define SIPFLOW_CHANGE_MAX_ENCODED (7u * 65537u + 256u)

/**
 * Encode |c| into |buf|: a versioned, length-prefixed binary form (see
 * docs/changes.md). Deterministic: equal records give equal bytes.
 * @param len receives the length written (or needed, on
 * SIPFLOW_ERR_BUFFER_TOO_SMALL); may be NULL.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (NULL, unknown kind or op, a
 * string over 65535 bytes or with a NULL pointer and nonzero length), or
 * SIPFLOW_ERR_BUFFER_TOO_SMALL. Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_change_encode(const sipflow_change *c, uint8_t *buf,
                                      size_t cap, size_t *len);

/**
 * Decode bytes written by sipflow_change_encode(). Every length is checked;
 * hostile input returns an error without logging.
 * @param out receives the record; its strings point into |buf|, which must
 * outlive their use.
 * @return 0, SIPFLOW_ERR_MALFORMED (truncated, trailing bytes, unknown
 * kind, op or field value), SIPFLOW_ERR_UNSUPPORTED (a newer format), or
 * SIPFLOW_ERR_INVALID_ARGUMENT (NULL). Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_change_decode(const uint8_t *buf, size_t len,
                                      sipflow_change *out);

/**
 * Apply a binding record to |reg| under the ordering rules. A PUT creates
 * or replaces the binding (expiring at expires_unix, aged by
 * |unix_seconds|); a DEL removes it. The change callback reports what
 * happened (ADDED, UPDATED, REMOVED), so a host that feeds a store from it
 * may see its own records again. The binding's strings are checked against
 * the registrar's limits; none of |c| is kept.
 * @return 0 (applied); SIPFLOW_ERR_STALE (it lost to the binding held, or a
 * PUT that has expired, or a DEL of nothing: nothing changed);
 * SIPFLOW_ERR_MALFORMED (not a valid binding); SIPFLOW_ERR_LIMIT
 * (max_contacts or max_bindings); SIPFLOW_ERR_INVALID_ARGUMENT (NULL, not a
 * binding record); SIPFLOW_ERR_BAD_STATE (from a callback);
 * SIPFLOW_ERR_TIME_BACKWARDS; SIPFLOW_ERR_NOMEM (nothing changed).
 * Not callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_change_apply_binding(sipflow_registrar *reg,
                                             const sipflow_change *c,
                                             uint64_t unix_seconds,
                                             sipflow_tstamp now);

/**
 * Apply an endpoint record to |ka|: a PUT sets the reason with the
 * lifetime left until its expiry (creating the endpoint), a DEL ends it.
 * Set c->u.endpoint.ep.flow_id (and user_data) to this process's values
 * first.
 * @return 0; SIPFLOW_ERR_STALE (a PUT that has expired; a DEL of an unknown
 * reason); otherwise as sipflow_keepalive_reason_set(). Not callback-safe.
 * @since 0.1
 */
SIPFLOW_API int sipflow_change_apply_endpoint(sipflow_keepalive *ka,
                                              const sipflow_change *c,
                                              uint64_t unix_seconds,
                                              sipflow_tstamp now);

/**
 * Apply a key record to |kr|: a PUT adds the key (replacing different bytes
 * under the same id unless that key is current) and makes it current when
 * the record says so; a DEL removes it.
 * @return 0; SIPFLOW_ERR_STALE (DEL of an absent key); SIPFLOW_ERR_BAD_STATE
 * (replacing or removing the current key); SIPFLOW_ERR_INVALID_ARGUMENT;
 * SIPFLOW_ERR_INTERNAL. Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_change_apply_key(sipflow_keyring *kr,
                                         const sipflow_change *c);

#ifdef __cplusplus
}
#endif

#endif /* SIPFLOW_CHANGES_H */
