/*
 * libsipflow-redis: share the change stream between nodes through Redis.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_SIPFLOW_REDIS_H
#define SIPFLOW_SIPFLOW_REDIS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "sipflow/changes.h"
#include "sipflow/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @file sipflow_redis.h
 * Change records (changes.h) shared between the nodes of a cluster through
 * one Redis server, asynchronously, on a libuv loop (hiredis and its libuv
 * adapter): no call here waits for Redis, so a slow or absent Redis never
 * holds up SIP processing.
 *
 * - sipflow_redis_write() stores a record under a key of its identity
 *   ("<prefix>:b:<hash>" for bindings, ":e:" keepalive reasons, ":k:" keys)
 *   with the record's expiry as the key's expiry, and publishes it on
 *   "<prefix>:changes". A server-side script orders the writes of an
 *   identity: it gives each winning record a version of Redis's own (its
 *   clock in milliseconds, past the version held: a logical clock on one
 *   clock), so no node's clock decides anything; the newest write wins
 *   unless the held record has the same Call-ID and a higher CSeq
 *   (RFC 3261 §10.3 step 7) or the write is conditional
 *   (sipflow_redis_write_as()). A record that lost is not published. A DEL
 *   leaves a tombstone for SIPFLOW_REDIS_TOMBSTONE_SECONDS so that an
 *   older PUT arriving late loses too.
 * - Every node subscribes to the channel and receives the others' records
 *   (its own are skipped by node id) through the on_change callback, each
 *   with the version Redis gave it. After a record arrives the channel is
 *   not read again for 5 ms, so that the records arriving meanwhile take
 *   one wake-up of the loop and one read, not one each: a record is
 *   delivered up to 5 ms after Redis published it (since 0.2).
 * - Records are delivered in Redis's order for each identity: the client
 *   keeps the newest version it has seen of each, and delivers only newer
 *   ones. While one of its own writes of an identity is unanswered, what
 *   arrives for it waits, and is delivered afterwards only if Redis
 *   ordered it after that write; a write that lost brings the winner back
 *   in its answer, delivered like a published record. So every node ends
 *   with the record Redis holds.
 * - On each connection (the first and every reconnection), once
 *   subscribed, the node loads the current state (SCAN + HMGET) through
 *   on_change with |loaded| set, and then reports
 *   SIPFLOW_REDIS_EVENT_LOADED. Only records newer than seen are
 *   delivered: after a short disconnection with Redis keeping its data,
 *   what the node knew comes not again, its own records included.
 * - While Redis is unreachable, writes wait in a bounded queue
 *   (settings.queue_max records, default 10000; past it the oldest is
 *   dropped and counted) and are sent when the connection is back. The
 *   client reconnects with exponential backoff.
 * - Every heartbeat (settings.heartbeat_ms, default 1000) the node writes
 *   its deadline into "<prefix>:nodes" and reads everyone's, which gives
 *   the liveness of the other nodes (sipflow_redis_node_alive()) and this
 *   node's clock offset from Redis (sipflow_redis_clock_offset()).
 * - With settings.sentinels, the client asks the Sentinels for the master
 *   of settings.master_name before each connection, checks its ROLE, and
 *   so follows a failover; a write refused by a demoted master (READONLY)
 *   is queued again and the connection made anew.
 * - Writes go as EVALSHA of the script loaded at connection time; a
 *   NOSCRIPT answer sends that write as EVAL once, which loads it again.
 *
 * The version of a record handed to sipflow_redis_write() is not used:
 * Redis gives each its own. The connection is made to a numeric address
 * (no name lookup, which would block). Link with
 * `pkg-config --libs sipflow-redis`.
 */

/** Tombstone lifetime of a DEL record in Redis, in seconds. @since 0.1 */
#define SIPFLOW_REDIS_TOMBSTONE_SECONDS 300

/** Longest node id, in bytes. @since 0.1 */
#define SIPFLOW_REDIS_NODE_ID_MAX 64

/** A client. Opaque. @since 0.1 */
typedef struct sipflow_redis sipflow_redis;

/** What on_event reports. @since 0.1 */
typedef enum sipflow_redis_event {
  /** Connected and subscribed; the load has started. */
  SIPFLOW_REDIS_EVENT_CONNECTED = 1,
  /** The connection was lost (or could not be made); a retry is planned. */
  SIPFLOW_REDIS_EVENT_DISCONNECTED = 2,
  /** The load that follows a connection has delivered every record. */
  SIPFLOW_REDIS_EVENT_LOADED = 3,
  /** This node's clock offset from Redis was measured for the first time
   * or moved by more than 250 ms: read sipflow_redis_clock_offset().
   * @since 0.2 */
  SIPFLOW_REDIS_EVENT_CLOCK = 4,
  /** A node's heartbeat appeared or ran out: read
   * sipflow_redis_node_alive(). @since 0.2 */
  SIPFLOW_REDIS_EVENT_NODES = 5
} sipflow_redis_event;

/** First version of sipflow_redis_callbacks. @since 0.1 */
#define SIPFLOW_REDIS_CALLBACKS_V1 1
/** The version this header describes. @since 0.1 */
#define SIPFLOW_REDIS_CALLBACKS_VERSION SIPFLOW_REDIS_CALLBACKS_V1

/**
 * Callbacks, called from the loop. They may call sipflow_redis_write() but
 * not sipflow_redis_del(). New members are added only at the end.
 * @since 0.1
 */
typedef struct sipflow_redis_callbacks {
  /**
   * A record from Redis. |c| and its strings are valid during the call
   * only. |origin| is the writer's node id (|origin_len| bytes, not
   * NUL-terminated). |loaded| is 1 for the load after a connection (own
   * records included), 0 for a record another node just published.
   * Records that cannot be decoded are counted, not delivered. Optional.
   */
  void (*on_change)(sipflow_redis *r, const sipflow_change *c,
                    const char *origin, size_t origin_len, int loaded,
                    void *user_data);
  /** A sipflow_redis_event. Hosts ignore events they do not know.
   * Optional. */
  void (*on_event)(sipflow_redis *r, int event, void *user_data);
} sipflow_redis_callbacks;

/** First version of sipflow_redis_settings. @since 0.1 */
#define SIPFLOW_REDIS_SETTINGS_V1 1
/** Second version: Sentinel and heartbeat members. @since 0.2 */
#define SIPFLOW_REDIS_SETTINGS_V2 2
/** The version this header describes. @since 0.1 */
#define SIPFLOW_REDIS_SETTINGS_VERSION SIPFLOW_REDIS_SETTINGS_V2

/**
 * Settings, filled by sipflow_redis_settings_default(). Strings are copied
 * by sipflow_redis_new(). @since 0.1
 */
typedef struct sipflow_redis_settings {
  /** Numeric IPv4 or IPv6 address of the server. Default "127.0.0.1". */
  const char *host;
  /** Server port. Default 6379. */
  uint16_t port;
  /** This node's id: 1 to SIPFLOW_REDIS_NODE_ID_MAX bytes, required. */
  const char *node_id;
  /** Key and channel prefix. Default "sipflow". */
  const char *prefix;
  /** Most records waiting while Redis is unreachable. Default 10000. */
  uint32_t queue_max;
  /** Most writes sent and not yet answered. Default 1024. */
  uint32_t inflight_max;
  /** First reconnection delay in ms; doubles up to the max. Default 100. */
  uint32_t reconnect_min_ms;
  /** Longest reconnection delay in ms. Default 5000. */
  uint32_t reconnect_max_ms;
  /** Sentinels, "HOST:PORT[,HOST:PORT...]" (numeric addresses, IPv6 in
   * brackets; at most 8), or NULL: connect to |host| and |port|. With
   * them, the master of |master_name| is asked for before each
   * connection. Default NULL. @since 0.2 */
  const char *sentinels;
  /** The master's name known to the Sentinels. Default "mymaster".
   * @since 0.2 */
  const char *master_name;
  /** Heartbeat period in ms (also the PING of the connection). Default
   * 1000. @since 0.2 */
  uint32_t heartbeat_ms;
  /** A node whose heartbeat is older than this many ms is dead. Default
   * 3000. @since 0.2 */
  uint32_t node_ttl_ms;
} sipflow_redis_settings;

/** Fill |s| with defaults. Callback-safe. @since 0.1 */
SIPFLOW_API void
sipflow_redis_settings_default_versioned(int settings_version,
                                         sipflow_redis_settings *s);
/** Fill |S| with defaults for this header's version. @since 0.1 */
#define sipflow_redis_settings_default(S)                                      \
  sipflow_redis_settings_default_versioned(SIPFLOW_REDIS_SETTINGS_VERSION, (S))

/**
 * Parse "redis://HOST:PORT" (or "redis://HOST", port 6379; IPv6 in
 * brackets) into |host| (NUL-terminated, brackets removed) and |port|.
 * @return 0, SIPFLOW_ERR_MALFORMED, SIPFLOW_ERR_BUFFER_TOO_SMALL or
 * SIPFLOW_ERR_INVALID_ARGUMENT (NULL). Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_redis_url_parse(const char *url, char *host,
                                        size_t hostlen, uint16_t *port);

/**
 * Create a client on |loop| and start connecting (it returns at once).
 * @param pr receives the client.
 * @param callbacks copied; NULL means none.
 * @param settings copied, strings included.
 * @param user_data passed to the callbacks.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (NULL pr, loop or settings, no
 * or too long node id, unknown version), SIPFLOW_ERR_NOMEM.
 * Not callback-safe. @since 0.1
 */
SIPFLOW_API SIPFLOW_WARN_UNUSED int sipflow_redis_new_versioned(
    sipflow_redis **pr, uv_loop_t *loop, int callbacks_version,
    const sipflow_redis_callbacks *callbacks, int settings_version,
    const sipflow_redis_settings *settings, void *user_data);
/** Create a client with this header's struct versions. @since 0.1 */
#define sipflow_redis_new(PR, LOOP, CB, SETTINGS, UD)                          \
  sipflow_redis_new_versioned((PR), (LOOP), SIPFLOW_REDIS_CALLBACKS_VERSION,   \
                              (CB), SIPFLOW_REDIS_SETTINGS_VERSION,            \
                              (SETTINGS), (UD))

/**
 * Close the connections and delete the client. Queued and unanswered
 * writes are dropped. The memory is released by the loop once its handles
 * have closed: run the loop afterwards. NULL does nothing. Not
 * callback-safe. @since 0.1
 */
SIPFLOW_API void sipflow_redis_del(sipflow_redis *r);

/**
 * Store and publish |c| (encoded with sipflow_change_encode(); nothing of
 * |c| is kept). Sent now when connected, else queued.
 * @return 0 (sent or queued), SIPFLOW_ERR_INVALID_ARGUMENT (NULL or a
 * record that does not encode), SIPFLOW_ERR_NOMEM (not queued).
 * Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_redis_write(sipflow_redis *r, const sipflow_change *c);

/** How sipflow_redis_write_as() writes. @since 0.2 */
typedef enum sipflow_redis_write_mode {
  /** A new change: wins unless the held record has the same Call-ID and a
   * higher CSeq. */
  SIPFLOW_REDIS_WRITE_NEW = 0,
  /** A change to this node's own record (its flow failed, it expired):
   * wins only if this node wrote the record held, or none is held. */
  SIPFLOW_REDIS_WRITE_IF_MINE = 1,
  /** The record again, as this node last knew it (after a
   * reconnection): written only if Redis holds no record of the identity
   * or an older one than the version this node saw last (it restarted
   * empty, or lost writes in a failover), with that version; not
   * published. A newer record held wins and comes back. */
  SIPFLOW_REDIS_WRITE_RESTORE = 2
} sipflow_redis_write_mode;

/**
 * sipflow_redis_write() with a sipflow_redis_write_mode. A write that
 * loses brings the record held back through on_change (|loaded| 0 for
 * another node's record, 1 for one this node id wrote before).
 * @return as sipflow_redis_write(), and SIPFLOW_ERR_INVALID_ARGUMENT for an
 * unknown mode. Callback-safe. @since 0.2
 */
SIPFLOW_API int sipflow_redis_write_as(sipflow_redis *r,
                                       const sipflow_change *c, int mode);

/**
 * This node's clock offset: Redis's clock minus ours, in ms, measured at
 * the last heartbeat (half the round trip of error).
 * @return 0, SIPFLOW_ERR_NOT_FOUND (not measured yet) or
 * SIPFLOW_ERR_INVALID_ARGUMENT (NULL). Callback-safe. @since 0.2
 */
SIPFLOW_API int sipflow_redis_clock_offset(const sipflow_redis *r,
                                           int64_t *offset_ms);

/**
 * Whether node |node| (|len| bytes) is alive: its heartbeat deadline, as
 * last read, is not past. For one node TTL after this node (re)connects, a
 * deadline found past is not taken as dead: when Redis paused or dropped
 * every client, the others lost their heartbeats as this node did and need
 * a beat to come back.
 * @return 1 alive, 0 dead, SIPFLOW_ERR_NOT_FOUND (no heartbeat known,
 * Redis unreachable, or a deadline past within a TTL of connecting:
 * unknown), SIPFLOW_ERR_INVALID_ARGUMENT (NULL).
 * Callback-safe. @since 0.2
 */
SIPFLOW_API int sipflow_redis_node_alive(const sipflow_redis *r,
                                         const char *node, size_t len);

/**
 * The server in use (the master found through the Sentinels, or the
 * configured one): |host| NUL-terminated.
 * @return 0, SIPFLOW_ERR_BUFFER_TOO_SMALL or SIPFLOW_ERR_INVALID_ARGUMENT.
 * Callback-safe. @since 0.2
 */
SIPFLOW_API int sipflow_redis_server(const sipflow_redis *r, char *host,
                                     size_t hostlen, uint16_t *port);

/** Counters and state of a client. @since 0.1 */
typedef struct sipflow_redis_stats {
  uint8_t connected;    /**< 1: connected and subscribed */
  uint32_t queued;      /**< writes waiting for the connection */
  uint32_t inflight;    /**< writes sent and not answered yet */
  uint64_t written;     /**< writes Redis answered */
  uint64_t superseded;  /**< of those, records Redis held newer ones of */
  uint64_t dropped;     /**< writes dropped: queue full or a Redis error */
  uint64_t received;    /**< records delivered from other nodes' publishes */
  uint64_t loaded;      /**< records delivered by loads */
  uint64_t undecodable; /**< values or messages that did not decode */
  uint64_t connects;    /**< successful connections */
} sipflow_redis_stats;

/**
 * Read the counters.
 * @return 0 or SIPFLOW_ERR_INVALID_ARGUMENT (NULL). Callback-safe.
 * @since 0.1
 */
SIPFLOW_API int sipflow_redis_get_stats(const sipflow_redis *r,
                                        sipflow_redis_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* SIPFLOW_SIPFLOW_REDIS_H */
