/*
 * libsipflow: the flow table, mapping tokens to the host's connections.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_FLOW_H
#define SIPFLOW_FLOW_H

#include <stddef.h>
#include <stdint.h>

#include "sipflow/common.h"
#include "sipflow/token.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @file flow.h
 * The flow table: the host registers each connection (its own handle and the
 * tuple) and gets a flow id and a token naming it; a token that comes back in
 * a Route is looked up in O(1) to the host's handle, or "flow gone" (430) or
 * "tampered" (403). When the host reports a connection's end, the table calls
 * on_flow_failed so that every binding on that flow can go, whatever its AoR
 * (RFC 5626 §7). A flow's life is that of its connection, independent of any
 * registration, subscription or call carried on it.
 *
 * A token names a slot of the table and the slot's generation: lookup is an
 * array index, and a slot reused by a later connection (even on the same
 * addresses) has a new generation, so the old token is stale (RFC 5626 §3.4).
 * Slot generations never wrap: a slot whose generation is exhausted is
 * retired, so a flow id is never reused within the table.
 *
 * Memory: 72 bytes per flow slot plus 8 to 16 bytes of tuple index (one
 * bucket pointer per flow, rounded up to a power of two), so 80 to 88 bytes
 * per flow. Measured by tests/bench/bench_token.c: 80.4 bytes per flow, 80.4
 * MB for one million flows. Slots live in pages of 1024
 * that are never moved, so growing the table never copies flows; pages are
 * kept until the table is deleted, and free slots are reused oldest first.
 *
 * UDP: the tuple is the flow, so a token from sipflow_token_mint() routes a
 * UDP flow with no table state at all. Registering UDP flows here is
 * optional; it gives them flow ids (for direction and keepalive) and lets an
 * ICMP error make their tokens stale.
 *
 * Callbacks run synchronously inside sipflow_flow_end(). The table is
 * consistent when on_flow_failed runs: the flow is already gone.
 *
 * Re-entrancy (docs/guide.md): from inside a callback of this object the
 * host may call any function of other objects, and on this object only the
 * functions marked Callback-safe; any other call on it returns
 * SIPFLOW_ERR_BAD_STATE, and sipflow_ctx_handle_expiry() does too. Every
 * function of this header but sipflow_flow_table_new() and _del() is
 * callback-safe.
 */

/** The flow table. Opaque. @since 0.1 */
typedef struct sipflow_flow_table sipflow_flow_table;

/** Why a connection ended, as the host reports it. @since 0.1 */
typedef enum sipflow_flow_end_reason {
  SIPFLOW_FLOW_END_CLOSED = 1,            /**< the peer closed it (FIN) */
  SIPFLOW_FLOW_END_RESET = 2,             /**< reset or I/O error */
  SIPFLOW_FLOW_END_KEEPALIVE_TIMEOUT = 3, /**< keepalives went unanswered */
  SIPFLOW_FLOW_END_ICMP_ERROR = 4,        /**< ICMP unreachable (UDP) */
  SIPFLOW_FLOW_END_LOCAL_CLOSE = 5 /**< the host closed it (RFC 5626 §7) */
} sipflow_flow_end_reason;

/**
 * The name of an end reason ("closed", "reset", "keepalive-timeout",
 * "icmp-error", "local-close"), or NULL if unknown. Callback-safe.
 * @since 0.1
 */
SIPFLOW_API const char *sipflow_flow_end_reason_name(int reason);

/** A flow as the table knows it. A plain value. @since 0.1 */
typedef struct sipflow_flow_info {
  /** The flow's id; 0 when a token names no flow of the table. */
  sipflow_flow_id id;
  /** The host's handle given to sipflow_flow_add(); 0 when id is 0. */
  uint64_t handle;
  /** Transport, addresses, and the generation the table gave the flow. */
  sipflow_flow_tuple tuple;
} sipflow_flow_info;

/**
 * A flow has ended. Every binding on it should go, whatever its AoR
 * (RFC 5626 §7).
 * @param ft the table; the flow is no longer in it.
 * @param flow the flow that ended; valid only during the call.
 * @param reason a sipflow_flow_end_reason.
 * @param user_data the table's user_data.
 * @since 0.1
 */
typedef void (*sipflow_flow_failed_cb)(sipflow_flow_table *ft,
                                       const sipflow_flow_info *flow,
                                       int reason, void *user_data);

/** First version of sipflow_flow_callbacks. @since 0.1 */
#define SIPFLOW_FLOW_CALLBACKS_V1 1
/** The version this header describes. @since 0.1 */
#define SIPFLOW_FLOW_CALLBACKS_VERSION SIPFLOW_FLOW_CALLBACKS_V1

/**
 * Flow-table callbacks. Members are only ever added at the end.
 * @since 0.1
 */
typedef struct sipflow_flow_callbacks {
  /** optional: a flow ended (see sipflow_flow_end()). @since 0.1 */
  sipflow_flow_failed_cb on_flow_failed;
} sipflow_flow_callbacks;

/** First version of sipflow_flow_settings. @since 0.1 */
#define SIPFLOW_FLOW_SETTINGS_V1 1
/** The version this header describes. @since 0.1 */
#define SIPFLOW_FLOW_SETTINGS_VERSION SIPFLOW_FLOW_SETTINGS_V1

/**
 * Flow-table settings, filled by sipflow_flow_settings_default().
 * @since 0.1
 */
typedef struct sipflow_flow_settings {
  /**
   * Most flows at once; sipflow_flow_add() beyond it gives
   * SIPFLOW_ERR_LIMIT. 0 (the default) means no limit but memory.
   */
  uint32_t max_flows;
} sipflow_flow_settings;

/** Fill |settings| with defaults. Callback-safe. @since 0.1 */
SIPFLOW_API void
sipflow_flow_settings_default_versioned(int settings_version,
                                        sipflow_flow_settings *settings);
/** Fill |settings| with defaults for this header's version. @since 0.1 */
#define sipflow_flow_settings_default(S)                                       \
  sipflow_flow_settings_default_versioned(SIPFLOW_FLOW_SETTINGS_VERSION, (S))

/**
 * Create a flow table on |ctx|, minting and verifying tokens with |kr|.
 * Flow ids are unique within the table; a context is meant to hold one.
 * @param pft receives the table; NULL on failure.
 * @param ctx the context; must outlive the table.
 * @param kr the key ring; not copied: it must outlive the table, and keys
 * added or removed later take effect at once.
 * @param callbacks copied; NULL means none.
 * @param settings copied; NULL means defaults.
 * @param user_data passed to every callback.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (NULL pft, ctx or kr, unknown
 * version), or SIPFLOW_ERR_NOMEM. Not callback-safe. @since 0.1
 */
SIPFLOW_API SIPFLOW_WARN_UNUSED int sipflow_flow_table_new_versioned(
    sipflow_flow_table **pft, sipflow_ctx *ctx, const sipflow_keyring *kr,
    int callbacks_version, const sipflow_flow_callbacks *callbacks,
    int settings_version, const sipflow_flow_settings *settings,
    void *user_data);
/** Create a flow table with this header's struct versions. @since 0.1 */
#define sipflow_flow_table_new(PFT, CTX, KR, CB, SETTINGS, UD)                 \
  sipflow_flow_table_new_versioned(                                            \
      (PFT), (CTX), (KR), SIPFLOW_FLOW_CALLBACKS_VERSION, (CB),                \
      SIPFLOW_FLOW_SETTINGS_VERSION, (SETTINGS), (UD))

/**
 * Delete a flow table and every flow in it, without calling on_flow_failed.
 * NULL does nothing. Not callback-safe. @since 0.1
 */
SIPFLOW_API void sipflow_flow_table_del(sipflow_flow_table *ft);

/**
 * Register a connection. The table gives it a slot and a new generation.
 * @param tuple copied; its generation is ignored (the table sets it).
 * @param handle the host's own reference (a connection id, a descriptor, or
 * a pointer cast through uintptr_t); returned by lookups, never used.
 * @param now the current time.
 * @param id receives the new flow's id; with SIPFLOW_ERR_EXISTS, the id of
 * the live flow that already has this tuple.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (NULL, unknown transport, family
 * NONE or mixed), SIPFLOW_ERR_EXISTS (a live flow has the same transport and
 * addresses: end it first), SIPFLOW_ERR_LIMIT (max_flows),
 * SIPFLOW_ERR_TIME_BACKWARDS, or SIPFLOW_ERR_NOMEM; on error the table is
 * unchanged. Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_flow_add(sipflow_flow_table *ft,
                                 const sipflow_flow_tuple *tuple,
                                 uint64_t handle, sipflow_tstamp now,
                                 sipflow_flow_id *id);

/**
 * The connection |id| has ended: remove the flow (its tokens become stale)
 * and call on_flow_failed with |reason|, whatever the reason, since a flow the
 * host closed itself is as gone as one the network broke (RFC 5626 §7).
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (NULL, unknown reason),
 * SIPFLOW_ERR_NOT_FOUND (no live flow has this id), or
 * SIPFLOW_ERR_TIME_BACKWARDS. Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_flow_end(sipflow_flow_table *ft, sipflow_flow_id id,
                                 int reason, sipflow_tstamp now);

/**
 * Write the token for flow |id| (mints under the current key).
 * @param buf receives the token and a NUL; SIPFLOW_TOKEN_BUFLEN suffices.
 * @param token_len receives its length; may be NULL.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT, SIPFLOW_ERR_NOT_FOUND,
 * SIPFLOW_ERR_BUFFER_TOO_SMALL, or SIPFLOW_ERR_BAD_STATE (the ring has no
 * key). Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_flow_token(const sipflow_flow_table *ft,
                                   sipflow_flow_id id, char *buf, size_t buflen,
                                   size_t *token_len);

/**
 * Look up the flow a token names (the user part of a Route URI naming this
 * proxy, %-escaped or not), in O(1).
 * - A token naming a table slot: valid if the slot holds a live flow of the
 *   same generation and tuple; otherwise the flow is gone.
 * - A token from sipflow_token_mint() (no slot): valid; for UDP, |info->id|
 *   is the live flow with the same tuple if one is registered, else 0 (route
 *   to |info->tuple|); for other transports |info->id| is 0 and the host finds
 *   its connection itself.
 * @param info filled on success; may be NULL.
 * @return 0, SIPFLOW_ERR_TAMPERED (answer 403), SIPFLOW_ERR_STALE (answer
 * 430: the flow is gone or its key has left the ring),
 * SIPFLOW_ERR_MALFORMED, or SIPFLOW_ERR_INVALID_ARGUMENT.
 * Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_flow_lookup(const sipflow_flow_table *ft,
                                    const char *token, size_t token_len,
                                    sipflow_flow_info *info);

/**
 * The live flow |id|.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT, or SIPFLOW_ERR_NOT_FOUND.
 * Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_flow_get(const sipflow_flow_table *ft,
                                 sipflow_flow_id id, sipflow_flow_info *info);

/**
 * The live flow with |tuple|'s transport and addresses (its generation is
 * ignored), e.g. to name the UDP flow a datagram arrived on.
 * @param tuple copied.
 * @return 0 with |*id| set, SIPFLOW_ERR_INVALID_ARGUMENT, or
 * SIPFLOW_ERR_NOT_FOUND. Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_flow_find(const sipflow_flow_table *ft,
                                  const sipflow_flow_tuple *tuple,
                                  sipflow_flow_id *id);

/**
 * Walk the live flows in slot order: pass 0 for the first, then the id just
 * returned. Flows added during a walk may or may not be seen.
 * @return 0 with |*info| set, SIPFLOW_ERR_INVALID_ARGUMENT, or
 * SIPFLOW_ERR_NOT_FOUND when there are no more. Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_flow_next(const sipflow_flow_table *ft,
                                  sipflow_flow_id after,
                                  sipflow_flow_info *info);

/** How many flows are live. 0 for NULL. Callback-safe. @since 0.1 */
SIPFLOW_API size_t sipflow_flow_count(const sipflow_flow_table *ft);

/**
 * Whether two tuples name the same flow: transport and both addresses
 * (generation ignored). @return 1 or 0. Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_flow_tuple_same(const sipflow_flow_tuple *a,
                                        const sipflow_flow_tuple *b);

#ifdef __cplusplus
}
#endif

#endif /* SIPFLOW_FLOW_H */
