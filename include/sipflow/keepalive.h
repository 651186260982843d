/*
 * libsipflow: the keepalive scheduler (RFC 5626 §4.4, §5.4, §8; RFC 6223).
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_KEEPALIVE_H
#define SIPFLOW_KEEPALIVE_H

#include <stddef.h>
#include <stdint.h>

#include "sipflow/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @file keepalive.h
 * Keeps flows and NAT bindings alive, measures their round-trip times and
 * finds the dead ones.
 *
 * An *endpoint* is one flow, named by a nonzero sipflow_flow_id the host
 * gives (the flow table's id or its own). It lives as long as it has
 * *reasons*: registrations, subscriptions, dialogs or others, each with an
 * id and a lifetime. However many reasons an endpoint has, it gets one
 * keepalive; it goes away by itself when its last reason ends or expires.
 *
 * Probes: a double CRLF on streams, a STUN Binding request on UDP (with
 * RFC 5389 retransmission), a WebSocket Ping on WS and WSS (RFC 6455 §5.5.2:
 * browsers answer it without any script), a SIP OPTIONS the host sends
 * statelessly, or the 4-byte UDP ping of nathelper (fire and forget). Or
 * *passive watch*: the UA sends the keepalives (RFC 5626 server side) and the
 * host reports each one; none within the interval plus a grace period marks the
 * flow dead.
 *
 * Timing: each wait is drawn uniformly in 80-100% of the endpoint's interval
 * (RFC 5626 §4.4) from the context's rand callback; a new endpoint's first
 * probe is spread over its interval so that a restart with a million
 * endpoints sends no burst. All deadlines run on the context's one timer:
 * after any call that takes `now`, re-arm it to sipflow_ctx_get_expiry().
 *
 * Memory: about 120 bytes per IPv4 endpoint with one reason at a million
 * endpoints; an IPv6 remote address costs 16 bytes more, and every reason
 * beyond the first about 80 bytes more; a scheduler's fixed part is about
 * 280 KiB. No allocation happens per probe. docs/keepalive.md explains the
 * choices.
 *
 * Threading and callbacks as in common.h.
 * Re-entrancy (docs/guide.md): from inside a callback of this object the
 * host may call any function of other objects, and on this object only the
 * functions marked Callback-safe; any other call on it returns
 * SIPFLOW_ERR_BAD_STATE, and sipflow_ctx_handle_expiry() does too. Every
 * function of this header but sipflow_keepalive_new() and _del() is
 * callback-safe, including removing the endpoint being reported.
 */

/** A keepalive scheduler. Opaque. @since 0.1 */
typedef struct sipflow_keepalive sipflow_keepalive;

/** How an endpoint is kept alive. @since 0.1 */
typedef enum sipflow_keepalive_method {
  /** CRLF on TCP and TLS, STUN on UDP (what RFC 5626 clients use), a
   * WebSocket Ping on WS and WSS (since 0.2). */
  SIPFLOW_KEEPALIVE_AUTO = 0,
  /** Double-CRLF ping, single-CRLF pong; streams only (RFC 5626 §4.4.1). */
  SIPFLOW_KEEPALIVE_CRLF = 1,
  /** STUN Binding request; UDP only (RFC 5626 §4.4.2, §8). */
  SIPFLOW_KEEPALIVE_STUN = 2,
  /** A stateless SIP OPTIONS request; any transport. */
  SIPFLOW_KEEPALIVE_OPTIONS = 3,
  /** Four zero bytes, no answer expected; UDP only. */
  SIPFLOW_KEEPALIVE_UDP_PING = 4,
  /** Nothing sent: watch for the keepalives the UA sends. */
  SIPFLOW_KEEPALIVE_PASSIVE = 5,
  /**
   * A WebSocket Ping frame whose payload is the probe's 8 bytes, answered by
   * a Pong with the same payload (RFC 6455 §5.5.2, §5.5.3), reported with
   * sipflow_keepalive_on_ws_pong(); missed after pong_timeout. WS and WSS
   * only. @since 0.2
   */
  SIPFLOW_KEEPALIVE_WS_PING = 6
} sipflow_keepalive_method;

/**
 * The name of a sipflow_keepalive_method value ("auto", "crlf", "stun",
 * "options", "udp-ping", "passive", "ws-ping"), or NULL for a value the enum
 * does not have. The string is static. Callback-safe. @since 0.2
 */
SIPFLOW_API const char *sipflow_keepalive_method_name(int method);

/** Why an endpoint is kept alive. @since 0.1 */
typedef enum sipflow_keepalive_reason_kind {
  SIPFLOW_KEEPALIVE_REGISTRATION = 1,
  SIPFLOW_KEEPALIVE_SUBSCRIPTION = 2,
  SIPFLOW_KEEPALIVE_DIALOG = 3,
  SIPFLOW_KEEPALIVE_OTHER = 4
} sipflow_keepalive_reason_kind;

/**
 * The name of a sipflow_keepalive_reason_kind value ("registration",
 * "subscription", "dialog", "other"), or NULL for a value the enum does not
 * have. The string is static. Callback-safe. @since 0.2
 */
SIPFLOW_API const char *sipflow_keepalive_reason_name(int kind);

/** What on_state reports. @since 0.1 */
typedef enum sipflow_keepalive_event {
  SIPFLOW_KEEPALIVE_ALIVE = 1,   /**< answered after unknown, suspect, dead */
  SIPFLOW_KEEPALIVE_SUSPECT = 2, /**< missed, fewer than dead_after times */
  SIPFLOW_KEEPALIVE_DEAD = 3,    /**< missed dead_after times, or failed */
  /** A STUN answer reported a different XOR-MAPPED-ADDRESS than the previous
   * one: the NAT rebound the flow (RFC 5626 §4.4.2). Health stays alive. */
  SIPFLOW_KEEPALIVE_REBOUND = 4
} sipflow_keepalive_event;

/**
 * The name of a sipflow_keepalive_event value ("alive", "suspect", "dead",
 * "rebound"), or NULL for a value the enum does not have. The string is static.
 * Callback-safe. @since 0.2
 */
SIPFLOW_API const char *sipflow_keepalive_event_name(int event);

/** Why an endpoint went away (on_removed). @since 0.1 */
typedef enum sipflow_keepalive_removal {
  SIPFLOW_KEEPALIVE_REMOVED_ENDED = 1,   /**< the host ended its last reason */
  SIPFLOW_KEEPALIVE_REMOVED_EXPIRED = 2, /**< its last reason expired */
  SIPFLOW_KEEPALIVE_REMOVED_REJECTED =
      3,                              /**< last reason's answer was negative */
  SIPFLOW_KEEPALIVE_REMOVED_DEAD = 4, /**< dead, with remove_dead set */
  SIPFLOW_KEEPALIVE_REMOVED_HOST = 5  /**< sipflow_keepalive_remove() */
} sipflow_keepalive_removal;

/**
 * The name of a sipflow_keepalive_removal value ("ended", "expired",
 * "rejected", "dead", "host"), or NULL for a value the enum does not have. The
 * string is static. Callback-safe. @since 0.2
 */
SIPFLOW_API const char *sipflow_keepalive_removal_name(int removal);

/**
 * An endpoint as the host describes it: a plain value, copied in.
 * @since 0.1
 */
typedef struct sipflow_keepalive_endpoint {
  sipflow_flow_id flow_id;  /**< nonzero */
  sipflow_flow_tuple tuple; /**< the flow; its transport picks the method */
  uint8_t method;           /**< a sipflow_keepalive_method */
  /**
   * The longest wait between probes (each wait is 80-100% of it), or for
   * PASSIVE the Flow-Timer the UA was told. 0 takes the settings' default
   * for the transport. Kept in steps of 100 ms, from 100 ms to 6553.5 s.
   */
  sipflow_duration interval;
  /** The host's pointer, passed back to every callback about the endpoint. */
  void *user_data;
  /**
   * OPTIONS: the Request-URI of this endpoint's probes (a binding's Contact
   * URI, say) instead of the scheduler's default "sip:remote"; length 0 for
   * the default. At most SIPFLOW_KEEPALIVE_MAX_REQUEST_URI bytes, none of
   * them a control character or space. The library copies it (its length,
   * and 16 bytes per endpoint slot up to the highest slot that had one,
   * docs/keepalive.md); each sipflow_keepalive_reason_set() or _open()
   * for the flow replaces it (length 0 returns to the default).
   * sipflow_keepalive_export_next() points it at the library's copy, valid
   * until the endpoint changes. @since 0.2
   */
  sipflow_str request_uri;
} sipflow_keepalive_endpoint;

/** Longest per-endpoint OPTIONS Request-URI (sipflow_keepalive_endpoint).
 * @since 0.2 */
#define SIPFLOW_KEEPALIVE_MAX_REQUEST_URI 256

/**
 * Fill |ep| with zeros and the AUTO method. Callback-safe. @since 0.1
 */
SIPFLOW_API void
sipflow_keepalive_endpoint_default(sipflow_keepalive_endpoint *ep);

/** A probe to send, given to send_probe. @since 0.1 */
typedef struct sipflow_keepalive_probe {
  uint8_t method;   /**< a sipflow_keepalive_method */
  uint32_t attempt; /**< 0 for a first transmission; STUN retransmits 1.. */
  /**
   * The bytes to send on the flow, valid during the call: the CRLF ping, the
   * 20-byte STUN request, the 4-byte ping, for WS_PING the 8-byte payload of
   * the Ping frame (the probe id, big-endian), or for OPTIONS a request built
   * with sipflow_keepalive_options_build() from the tuple and defaults (the
   * host may build its own instead, with the same probe_id).
   */
  const uint8_t *data;
  size_t len; /**< length of |data| */
  /** OPTIONS: carried in tag and branch; WS_PING: the Ping's payload. */
  uint64_t probe_id;
  const sipflow_flow_tuple *tuple; /**< the endpoint's flow, for the call */
} sipflow_keepalive_probe;

/** A change of an endpoint's health, given to on_state. @since 0.1 */
typedef struct sipflow_keepalive_state_change {
  uint8_t event;               /**< a sipflow_keepalive_event */
  uint8_t old_health;          /**< a sipflow_flow_health: before */
  uint8_t health;              /**< a sipflow_flow_health: now */
  uint32_t consecutive_misses; /**< probes missed in a row */
  /** REBOUND: the new XOR-MAPPED-ADDRESS, valid during the call. Else NULL. */
  const sipflow_addr *mapped;
} sipflow_keepalive_state_change;

/**
 * Send a probe on the endpoint's flow. Required.
 * @return 0 if sent or queued; nonzero if it could not be sent (the
 * connection is gone, the socket failed): the probe counts as missed at once.
 * @since 0.1
 */
typedef int (*sipflow_keepalive_send_cb)(sipflow_keepalive *ka,
                                         sipflow_flow_id flow,
                                         const sipflow_keepalive_probe *probe,
                                         void *user_data,
                                         void *endpoint_user_data);
/**
 * A probe was answered and gave a round-trip sample (not for retransmitted
 * STUN transactions: Karn's rule). Optional. @since 0.1
 */
typedef void (*sipflow_keepalive_rtt_cb)(sipflow_keepalive *ka,
                                         sipflow_flow_id flow,
                                         sipflow_duration rtt, void *user_data,
                                         void *endpoint_user_data);
/** The endpoint's health changed, or it was rebound. Optional. @since 0.1 */
typedef void (*sipflow_keepalive_state_cb)(
    sipflow_keepalive *ka, sipflow_flow_id flow,
    const sipflow_keepalive_state_change *change, void *user_data,
    void *endpoint_user_data);
/**
 * The endpoint is gone (|why| is a sipflow_keepalive_removal); the host may
 * free what |endpoint_user_data| points to. Not called by
 * sipflow_keepalive_del(). Optional. @since 0.1
 */
typedef void (*sipflow_keepalive_removed_cb)(sipflow_keepalive *ka,
                                             sipflow_flow_id flow, int why,
                                             void *user_data,
                                             void *endpoint_user_data);

/** First version of sipflow_keepalive_callbacks. @since 0.1 */
#define SIPFLOW_KEEPALIVE_CALLBACKS_V1 1
/** The version this header describes. @since 0.1 */
#define SIPFLOW_KEEPALIVE_CALLBACKS_VERSION SIPFLOW_KEEPALIVE_CALLBACKS_V1

/**
 * Keepalive callbacks, copied at creation. All run synchronously inside the
 * call that caused them (handle_expiry, an answer, a reason change).
 * @since 0.1
 */
typedef struct sipflow_keepalive_callbacks {
  sipflow_keepalive_send_cb send_probe;    /**< required */
  sipflow_keepalive_rtt_cb on_rtt;         /**< optional */
  sipflow_keepalive_state_cb on_state;     /**< optional */
  sipflow_keepalive_removed_cb on_removed; /**< optional */
} sipflow_keepalive_callbacks;

/** Most OPTIONS codes settings can list as "not alive". @since 0.1 */
#define SIPFLOW_KEEPALIVE_MAX_CODES 8

/** First version of sipflow_keepalive_settings. @since 0.1 */
#define SIPFLOW_KEEPALIVE_SETTINGS_V1 1
/** The version this header describes. @since 0.1 */
#define SIPFLOW_KEEPALIVE_SETTINGS_VERSION SIPFLOW_KEEPALIVE_SETTINGS_V1

/**
 * Scheduler settings, filled by sipflow_keepalive_settings_default() and
 * copied at creation. @since 0.1
 */
typedef struct sipflow_keepalive_settings {
  /** Default interval on UDP. Default 29 s: waits of 23.2-29 s, RFC 5626
   * §4.4.2's 24-29 s under the NATs' 30 s. */
  sipflow_duration udp_interval;
  /** Default interval on streams. Default 120 s (RFC 5626 §4.4.1). */
  sipflow_duration stream_interval;
  /** CRLF ping (TCP, TLS) or WebSocket Ping without a pong for this long is
   * missed. Default 10 s (RFC 5626 §4.4.1). */
  sipflow_duration pong_timeout;
  /** OPTIONS without any response for this long is missed. Default 10 s. */
  sipflow_duration options_timeout;
  /** STUN initial retransmission timeout. Default 500 ms (RFC 5389 §7.2.1). */
  sipflow_duration stun_rto;
  /** STUN requests sent in all, 1..8. Default 7 (Rc). */
  uint32_t stun_rc;
  /** Wait after the last request, in RTOs. Default 16 (Rm): 39.5 s in all. */
  uint32_t stun_rm;
  /** PASSIVE: how long past the interval a keepalive may be late before the
   * flow is dead (RFC 5626 §4.4: wait longer than Flow-Timer). Default 10 s. */
  sipflow_duration passive_grace;
  /** Misses in a row that make an endpoint dead; fewer make it suspect.
   * Default 3. At least 1. */
  uint32_t dead_after;
  /** How long a reason opened by sipflow_keepalive_reason_open() waits for
   * its final response when the call gives 0. Default 32 s (64*T1). */
  sipflow_duration tentative_timeout;
  /** Most new probes started per second on this scheduler; 0 = no cap.
   * Probes over the cap wait in order (bursts up to 10 ms worth);
   * retransmissions and timeouts are never held back. Default 0. */
  uint32_t max_probes_per_second;
  /** Most endpoints; 0 = no limit but memory. Default 0. */
  uint32_t max_endpoints;
  /** Nonzero: an endpoint that becomes dead is removed (on_removed, DEAD).
   * Default 0: the host decides, usually by ending the endpoint's reasons. */
  uint8_t remove_dead;
  /**
   * OPTIONS response codes that do not count as alive (a 408 or 480 made by
   * a proxy on the way, say): 100..699 for one code, 1..6 for a whole class;
   * 0 ends the list. Such a response counts as a miss. Default: none, any
   * response is alive (RFC 3261 §11.2).
   */
  uint16_t options_not_alive[SIPFLOW_KEEPALIVE_MAX_CODES];
} sipflow_keepalive_settings;

/**
 * Fill |settings| with the defaults above. Callback-safe. @since 0.1
 */
SIPFLOW_API void sipflow_keepalive_settings_default_versioned(
    int settings_version, sipflow_keepalive_settings *settings);
/** Fill |settings| with defaults for this header's version. @since 0.1 */
#define sipflow_keepalive_settings_default(S)                                  \
  sipflow_keepalive_settings_default_versioned(                                \
      SIPFLOW_KEEPALIVE_SETTINGS_VERSION, (S))

/**
 * Create a keepalive scheduler on |ctx| and attach it to the context's timer.
 * Draws 16 bytes from the context's rand callback to key its STUN
 * transaction ids and OPTIONS probe ids.
 * @param pka receives it.
 * @param callbacks copied; send_probe is required.
 * @param settings copied; NULL means defaults.
 * @param user_data passed to every callback.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (NULL pka, ctx or callbacks, no
 * send_probe, unknown version, settings out of range), SIPFLOW_ERR_NOMEM.
 * Not callback-safe. @since 0.1
 */
SIPFLOW_API SIPFLOW_WARN_UNUSED int sipflow_keepalive_new_versioned(
    sipflow_keepalive **pka, sipflow_ctx *ctx, int callbacks_version,
    const sipflow_keepalive_callbacks *callbacks, int settings_version,
    const sipflow_keepalive_settings *settings, void *user_data);
/** Create a scheduler with this header's struct versions. @since 0.1 */
#define sipflow_keepalive_new(PKA, CTX, CB, SETTINGS, UD)                      \
  sipflow_keepalive_new_versioned(                                             \
      (PKA), (CTX), SIPFLOW_KEEPALIVE_CALLBACKS_VERSION, (CB),                 \
      SIPFLOW_KEEPALIVE_SETTINGS_VERSION, (SETTINGS), (UD))

/**
 * Delete a scheduler and every endpoint, without callbacks, and detach it
 * from its context. NULL does nothing. Not callback-safe. @since 0.1
 */
SIPFLOW_API void sipflow_keepalive_del(sipflow_keepalive *ka);

/* ------------------------------------------------------------------------ */
/* Endpoints and reasons                                                     */
/* ------------------------------------------------------------------------ */

/**
 * Keep |ep| alive for a confirmed reason: create the endpoint if needed, and
 * add the reason or set its lifetime (it may shrink: an un-REGISTER's
 * Expires 0 ends it). Probing starts when an endpoint first has a confirmed
 * reason, with a first probe spread over the interval.
 *
 * For an existing endpoint, |ep|'s tuple must match; its method, interval and
 * user_data replace the old ones (a changed method abandons the probe in
 * flight and restarts the schedule and the probe counts; health stays).
 * @param kind a sipflow_keepalive_reason_kind.
 * @param reason_id the host's id for the reason, unique within |kind| on this
 * endpoint (a binding id, a dialog id...).
 * @param lifetime from |now|; 0 ends the reason. Capped at 8 years.
 * @return 0; SIPFLOW_ERR_INVALID_ARGUMENT (NULL, flow id 0, bad kind, method
 * not allowed on the transport, interval out of range, tuple not matching the
 * endpoint's, a request_uri too long or with a control character or space);
 * SIPFLOW_ERR_NOT_FOUND (lifetime 0 for an unknown reason);
 * SIPFLOW_ERR_LIMIT (max_endpoints, or 65535 local addresses);
 * SIPFLOW_ERR_TIME_BACKWARDS; SIPFLOW_ERR_NOMEM (nothing changed).
 * @since 0.1
 */
SIPFLOW_API int sipflow_keepalive_reason_set(
    sipflow_keepalive *ka, const sipflow_keepalive_endpoint *ep, int kind,
    uint64_t reason_id, sipflow_duration lifetime, sipflow_tstamp now);

/**
 * Open a reason tentatively when a request passes (a REGISTER, SUBSCRIBE or
 * INVITE forwarded by a proxy: the nat_traversal use), to be confirmed by its
 * final response with sipflow_keepalive_reason_confirm(). An endpoint with
 * only tentative reasons is not probed. An already confirmed reason is left
 * as it is (a refresh that fails does not end it).
 * @param wait how long to wait for the final response; 0 takes
 * tentative_timeout. Give more for an INVITE (Timer C is 3 minutes).
 * @return as sipflow_keepalive_reason_set(). @since 0.1
 */
SIPFLOW_API int sipflow_keepalive_reason_open(
    sipflow_keepalive *ka, const sipflow_keepalive_endpoint *ep, int kind,
    uint64_t reason_id, sipflow_duration wait, sipflow_tstamp now);

/**
 * Apply the final response to a reason's request:
 * - 1xx: nothing changes (not final);
 * - 2xx: the reason is confirmed with |granted| (the expires actually
 *   granted), or ended if |granted| is 0;
 * - 300-699: a tentative reason is dropped; a confirmed one stays as it was.
 * An endpoint left without reasons is removed (on_removed: REJECTED for a
 * negative answer, ENDED for a 2xx with granted 0).
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (status outside 100..699, bad
 * kind), SIPFLOW_ERR_NOT_FOUND (no such endpoint or reason),
 * SIPFLOW_ERR_TIME_BACKWARDS. @since 0.1
 */
SIPFLOW_API int
sipflow_keepalive_reason_confirm(sipflow_keepalive *ka, sipflow_flow_id flow,
                                 int kind, uint64_t reason_id, unsigned status,
                                 sipflow_duration granted, sipflow_tstamp now);

/**
 * End a reason (an un-REGISTER, a dialog's BYE, a subscription terminated).
 * The endpoint goes away with its last reason (on_removed: ENDED).
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT, SIPFLOW_ERR_NOT_FOUND,
 * SIPFLOW_ERR_TIME_BACKWARDS. @since 0.1
 */
SIPFLOW_API int sipflow_keepalive_reason_end(sipflow_keepalive *ka,
                                             sipflow_flow_id flow, int kind,
                                             uint64_t reason_id,
                                             sipflow_tstamp now);

/**
 * Remove an endpoint with all its reasons (its flow closed). on_removed is
 * called with HOST.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT, SIPFLOW_ERR_NOT_FOUND,
 * SIPFLOW_ERR_TIME_BACKWARDS. @since 0.1
 */
SIPFLOW_API int sipflow_keepalive_remove(sipflow_keepalive *ka,
                                         sipflow_flow_id flow,
                                         sipflow_tstamp now);

/** Number of endpoints. Callback-safe. @since 0.1 */
SIPFLOW_API size_t sipflow_keepalive_count(const sipflow_keepalive *ka);

/* ------------------------------------------------------------------------ */
/* What the host saw                                                         */
/* ------------------------------------------------------------------------ */

/**
 * A CRLF pong arrived on |flow| (the framer's SIPFLOW_FRAME_PONG). It answers
 * the ping in flight, if any; with none, it is counted and ignored.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT, SIPFLOW_ERR_NOT_FOUND (no such
 * endpoint), SIPFLOW_ERR_STALE (no ping in flight),
 * SIPFLOW_ERR_TIME_BACKWARDS. @since 0.1
 */
SIPFLOW_API int sipflow_keepalive_on_pong(sipflow_keepalive *ka,
                                          sipflow_flow_id flow,
                                          sipflow_tstamp now);

/**
 * Whether |flow| has a CRLF ping in flight (give it to
 * sipflow_framer_expect_pong()). @return 1 or 0. Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_keepalive_awaiting_pong(const sipflow_keepalive *ka,
                                                sipflow_flow_id flow);

/**
 * A WebSocket Pong arrived on |flow| (RFC 6455 §5.5.3). A Pong whose
 * payload is the 8 bytes of the WS_PING probe in flight answers it, with an
 * RTT sample; any other Pong (an unsolicited heartbeat, RFC 6455 §5.5.3, or
 * a late answer) is counted in unexpected_pongs and changes nothing.
 * @param data the Pong's payload, read only during the call; NULL if |len|
 * is 0.
 * @return 0 (the probe in flight was answered); SIPFLOW_ERR_INVALID_ARGUMENT;
 * SIPFLOW_ERR_NOT_FOUND (no such endpoint); SIPFLOW_ERR_STALE (not a WS_PING
 * endpoint, no probe in flight, or not its payload);
 * SIPFLOW_ERR_TIME_BACKWARDS. @since 0.2
 */
SIPFLOW_API int sipflow_keepalive_on_ws_pong(sipflow_keepalive *ka,
                                             sipflow_flow_id flow,
                                             const uint8_t *data, size_t len,
                                             sipflow_tstamp now);

/**
 * A STUN response arrived. It is decoded and matched to the transaction in
 * flight by its transaction id: a success is an answer (with an RTT sample
 * unless the request was retransmitted, Karn's rule) and its
 * XOR-MAPPED-ADDRESS (or MAPPED-ADDRESS) is compared with the previous one
 * (a change is reported as REBOUND); an error response, or a success without
 * an address or with unknown comprehension-required attributes, fails the
 * probe (a miss).
 * @param flow the flow it arrived on, or 0 to find it by transaction id.
 * @param data the datagram, read only during the call.
 * @return 0 (an answer or a failure was applied);
 * SIPFLOW_ERR_INVALID_ARGUMENT; SIPFLOW_ERR_MALFORMED, SIPFLOW_ERR_TOO_LARGE
 * (as sipflow_stun_decode(); nothing applied); SIPFLOW_ERR_UNSUPPORTED (not a
 * Binding response, nothing applied; or unknown comprehension-required
 * attributes, the probe failed); SIPFLOW_ERR_NOT_FOUND (no transaction with
 * that id on this scheduler, or on |flow|); SIPFLOW_ERR_STALE (the id of a
 * transaction already over: a late or duplicate answer);
 * SIPFLOW_ERR_TIME_BACKWARDS. Bad input is counted, never logged at more
 * than the rate limit. @since 0.1
 */
SIPFLOW_API int sipflow_keepalive_on_stun(sipflow_keepalive *ka,
                                          sipflow_flow_id flow,
                                          const uint8_t *data, size_t len,
                                          sipflow_tstamp now);

/**
 * A response to an OPTIONS probe arrived; |probe_id| is what
 * sipflow_keepalive_probe_id_parse() read from its From tag or Via branch.
 * Any status counts as alive, except the options_not_alive codes (a miss).
 * @param status 100..699; a 1xx is provisional and ignored.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (status out of range),
 * SIPFLOW_ERR_NOT_FOUND (no such probe), SIPFLOW_ERR_STALE (a probe already
 * over), SIPFLOW_ERR_TIME_BACKWARDS. @since 0.1
 */
SIPFLOW_API int sipflow_keepalive_on_options_response(sipflow_keepalive *ka,
                                                      uint64_t probe_id,
                                                      unsigned status,
                                                      sipflow_tstamp now);

/**
 * sipflow_keepalive_on_options_response() for an answer the host reads some
 * time after it arrived: a host that drains a socket in batches passes the
 * kernel's receive time as |received|, so the round-trip time and the last
 * answer's time are the arrival's, not the read's. The probe's timeout is
 * still judged at |now|: read the answers before running the timer.
 * @param received when the answer arrived, on the clock of |now|; 0, or a
 * time before the probe was sent or after |now|, counts as |now|.
 * @return as sipflow_keepalive_on_options_response(). @since 0.2
 */
SIPFLOW_API int sipflow_keepalive_on_options_response_at(
    sipflow_keepalive *ka, uint64_t probe_id, unsigned status,
    sipflow_tstamp now, sipflow_tstamp received);

/**
 * The UA sent a keepalive on |flow| (a double CRLF, or a STUN request the
 * host answered). For a PASSIVE endpoint it restarts the watch and makes it
 * alive; for others it is counted only.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT, SIPFLOW_ERR_NOT_FOUND,
 * SIPFLOW_ERR_TIME_BACKWARDS. @since 0.1
 */
SIPFLOW_API int sipflow_keepalive_on_peer_keepalive(sipflow_keepalive *ka,
                                                    sipflow_flow_id flow,
                                                    sipflow_tstamp now);

/**
 * The host knows the flow failed (TCP closed or reset, ICMP unreachable):
 * the endpoint becomes dead at once (RFC 5626 §7). Its reasons stay; remove
 * it or end them. @return 0, SIPFLOW_ERR_INVALID_ARGUMENT,
 * SIPFLOW_ERR_NOT_FOUND, SIPFLOW_ERR_TIME_BACKWARDS. @since 0.1
 */
SIPFLOW_API int sipflow_keepalive_flow_failed(sipflow_keepalive *ka,
                                              sipflow_flow_id flow,
                                              sipflow_tstamp now);

/* ------------------------------------------------------------------------ */
/* Statistics                                                                */
/* ------------------------------------------------------------------------ */

/** First version of sipflow_keepalive_stats. @since 0.1 */
#define SIPFLOW_KEEPALIVE_STATS_V1 1
/** The version this header describes. @since 0.1 */
#define SIPFLOW_KEEPALIVE_STATS_VERSION SIPFLOW_KEEPALIVE_STATS_V1

/**
 * One endpoint's figures (usrloc's Last-Keepalive and KA-Roundtrip, and
 * more). Round-trip times are kept in microseconds, up to 16.7 s. RTTs are
 * 0 and times SIPFLOW_TSTAMP_NONE until there is something to report.
 * @since 0.1
 */
typedef struct sipflow_keepalive_stats {
  uint8_t method;              /**< a sipflow_keepalive_method (not AUTO) */
  uint8_t health;              /**< a sipflow_flow_health */
  uint8_t probe_in_flight;     /**< 1 while a probe awaits its answer */
  uint8_t probing;             /**< 0 while only tentative reasons exist */
  uint32_t consecutive_misses; /**< probes missed in a row now */
  uint32_t reasons;            /**< reasons, tentative ones included */
  uint32_t probes_sent;        /**< probes (a STUN transaction is one) */
  uint32_t probes_answered;    /**< PASSIVE: keepalives seen */
  uint32_t probes_missed;      /**< PASSIVE: watch periods without one */
  sipflow_duration interval;   /**< the wait probes are drawn under */
  sipflow_duration last_rtt;   /**< latest sample */
  sipflow_duration srtt;       /**< RFC 6298 smoothed RTT (alpha 1/8) */
  sipflow_duration rttvar;     /**< RFC 6298 RTT variation (beta 1/4) */
  sipflow_duration min_rtt;    /**< smallest sample since creation */
  sipflow_duration max_rtt;    /**< largest sample since creation */
  sipflow_tstamp last_sent;    /**< first transmission of the latest probe */
  sipflow_tstamp last_answer;  /**< latest answer (PASSIVE: keepalive) */
  sipflow_tstamp next_event;   /**< next probe, retransmission or timeout */
  void *user_data;             /**< the endpoint's host pointer */
} sipflow_keepalive_stats;

/**
 * Read one endpoint's figures.
 * @param stats_version SIPFLOW_KEEPALIVE_STATS_VERSION (use the macro).
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT, SIPFLOW_ERR_NOT_FOUND.
 * Callback-safe. @since 0.1
 */
SIPFLOW_API int
sipflow_keepalive_get_stats_versioned(const sipflow_keepalive *ka,
                                      sipflow_flow_id flow, int stats_version,
                                      sipflow_keepalive_stats *stats);
/** Read one endpoint's figures. @since 0.1 */
#define sipflow_keepalive_get_stats(KA, FLOW, S)                               \
  sipflow_keepalive_get_stats_versioned((KA), (FLOW),                          \
                                        SIPFLOW_KEEPALIVE_STATS_VERSION, (S))

/** First version of sipflow_keepalive_counters. @since 0.1 */
#define SIPFLOW_KEEPALIVE_COUNTERS_V1 1
/** The version this header describes. @since 0.1 */
#define SIPFLOW_KEEPALIVE_COUNTERS_VERSION SIPFLOW_KEEPALIVE_COUNTERS_V1

/** Figures for the whole scheduler. @since 0.1 */
typedef struct sipflow_keepalive_counters {
  uint64_t endpoints;     /**< now */
  uint64_t probing;       /**< now: endpoints with a confirmed reason */
  uint64_t registrations; /**< reasons now, by kind (OpenSIPS' stats) */
  uint64_t subscriptions; /**< subscription reasons now */
  uint64_t dialogs;       /**< dialog reasons now */
  uint64_t others;        /**< reasons of kind OTHER now */
  uint64_t tentative;     /**< reasons awaiting their final response */
  /** Probes started since creation, indexed by sipflow_keepalive_method
   * (7 entries since 0.2, for WS_PING). */
  uint64_t probes_sent[7];
  uint64_t probes_answered;      /**< probes answered since creation */
  uint64_t probes_missed;        /**< probes missed since creation */
  uint64_t stun_retransmissions; /**< STUN requests sent again */
  uint64_t send_failures;        /**< send_probe returned nonzero */
  uint64_t rejected_answers;     /**< STUN/OPTIONS answers refused */
  uint64_t unexpected_pongs;     /**< pongs with no ping in flight */
  uint64_t peer_keepalives;      /**< keepalives from peers (PASSIVE) seen */
  uint64_t suspects;             /**< SUSPECT events */
  uint64_t deaths;               /**< DEAD events */
  uint64_t rebinds;              /**< REBOUND events */
  uint64_t revivals;             /**< ALIVE events after suspect or dead */
  uint64_t expired;              /**< reasons that ran out */
  uint64_t removed;              /**< endpoints removed, any cause */
  uint64_t deferred; /**< probes held back by max_probes_per_second */
} sipflow_keepalive_counters;

/**
 * Read the scheduler's counters.
 * @return 0 or SIPFLOW_ERR_INVALID_ARGUMENT. Callback-safe. @since 0.1
 */
SIPFLOW_API int
sipflow_keepalive_get_counters_versioned(const sipflow_keepalive *ka,
                                         int counters_version,
                                         sipflow_keepalive_counters *counters);
/** Read the scheduler's counters. @since 0.1 */
#define sipflow_keepalive_get_counters(KA, C)                                  \
  sipflow_keepalive_get_counters_versioned(                                    \
      (KA), SIPFLOW_KEEPALIVE_COUNTERS_VERSION, (C))

/* ------------------------------------------------------------------------ */
/* Saving and restoring                                                      */
/* ------------------------------------------------------------------------ */

/**
 * A reason as saved: its expiry in wall-clock seconds, so that it means the
 * same after a restart. @since 0.1
 */
typedef struct sipflow_keepalive_saved_reason {
  uint8_t kind;          /**< a sipflow_keepalive_reason_kind */
  uint64_t id;           /**< the host's reason id */
  uint64_t expires_unix; /**< seconds since 1970, rounded up */
} sipflow_keepalive_saved_reason;

/**
 * Export endpoints one at a time, with their confirmed reasons (tentative
 * ones belong to transactions that do not survive a restart). Start with
 * *cursor = 0 and call until SIPFLOW_ERR_NOT_FOUND. Endpoints added or
 * removed meanwhile may or may not be seen; the others are seen once each.
 * What is written is plain values; storage is the host's.
 * @param cursor in/out position.
 * @param ep receives the endpoint (for UDP flows the tuple's generation is 0).
 * @param reasons receives up to |cap| reasons.
 * @param nreasons receives the number of reasons the endpoint has (when more
 * than |cap|, nothing is written, the cursor stays, and the call returns
 * SIPFLOW_ERR_BUFFER_TOO_SMALL: call again with room for *nreasons).
 * @param unix_seconds the wall-clock time now, to convert expiries.
 * @return 0, SIPFLOW_ERR_NOT_FOUND (no more), SIPFLOW_ERR_BUFFER_TOO_SMALL,
 * SIPFLOW_ERR_INVALID_ARGUMENT. Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_keepalive_export_next(
    const sipflow_keepalive *ka, uint64_t *cursor,
    sipflow_keepalive_endpoint *ep, sipflow_keepalive_saved_reason *reasons,
    size_t cap, size_t *nreasons, uint64_t unix_seconds, sipflow_tstamp now);

/**
 * Recreate an exported endpoint with its reasons, as confirmed reasons
 * (replace ep->flow_id and ep->user_data with the new process's own).
 * Reasons whose expiry is at or before |unix_seconds| are skipped. The first
 * probe is spread over the interval as for a new endpoint.
 * @return 0; SIPFLOW_ERR_STALE (every reason had expired: nothing made);
 * SIPFLOW_ERR_EXISTS (the flow id is already an endpoint);
 * SIPFLOW_ERR_INVALID_ARGUMENT, SIPFLOW_ERR_LIMIT, SIPFLOW_ERR_TIME_BACKWARDS,
 * SIPFLOW_ERR_NOMEM (nothing made). @since 0.1
 */
SIPFLOW_API int sipflow_keepalive_import(
    sipflow_keepalive *ka, const sipflow_keepalive_endpoint *ep,
    const sipflow_keepalive_saved_reason *reasons, size_t nreasons,
    uint64_t unix_seconds, sipflow_tstamp now);

/* ------------------------------------------------------------------------ */
/* SIP OPTIONS probes                                                        */
/* ------------------------------------------------------------------------ */

/**
 * What an OPTIONS probe is built from. Plain values and strings read only
 * during the call; a string with length 0 is absent. @since 0.1 (the
 * strings are sipflow_str since 0.2)
 */
typedef struct sipflow_keepalive_options_request {
  uint64_t probe_id;   /**< from the sipflow_keepalive_probe */
  uint8_t transport;   /**< a sipflow_transport: the flow's */
  sipflow_addr local;  /**< our address: Via sent-by, From and Call-ID host */
  sipflow_addr remote; /**< the peer: Request-URI and To */
  /** Request-URI instead of sip:remote (a Contact URI); empty for default. */
  sipflow_str request_uri;
  /** Value of a Route header to add (the binding's Path); empty for none. */
  sipflow_str route;
  /** User part of the From URI; empty for "keepalive". */
  sipflow_str from_user;
  /** Max-Forwards. 70 by default; 0 asks the next hop to answer itself
   * (RFC 3261 §11). */
  uint8_t max_forwards;
} sipflow_keepalive_options_request;

/**
 * Fill |req| with zeros and Max-Forwards 70. Callback-safe. @since 0.1
 */
SIPFLOW_API void sipflow_keepalive_options_request_default(
    sipflow_keepalive_options_request *req);

/** Room that always suffices for an OPTIONS built without custom strings.
 * @since 0.1 */
#define SIPFLOW_KEEPALIVE_OPTIONS_MAX 512

/**
 * Write a stateless OPTIONS request (RFC 3261 §11) carrying the probe id in
 * the From tag, the Via branch and the Call-ID: the Via transport follows
 * |transport|, UDP requests ask for rport (RFC 3581), CSeq is 1 and the body
 * empty. A NUL follows the text; *outlen does not count it.
 * @param outlen receives the length written.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (NULL, unknown transport, bad
 * address, a custom string with CR or LF), SIPFLOW_ERR_BUFFER_TOO_SMALL.
 * Callback-safe. @since 0.1
 */
SIPFLOW_API int
sipflow_keepalive_options_build(const sipflow_keepalive_options_request *req,
                                char *buf, size_t buflen, size_t *outlen);

/**
 * Read a probe id back from the From tag or the Via branch of a response
 * (with or without the "z9hG4bK" prefix).
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT, SIPFLOW_ERR_MALFORMED (not one of
 * ours: the response belongs to something else). Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_keepalive_probe_id_parse(const char *s, size_t len,
                                                 uint64_t *probe_id);

/**
 * Recognise a response to one of our OPTIONS probes in raw message bytes (a
 * UDP datagram, or one message framed off a stream) without a SIP parser,
 * so that a host can hand it straight to
 * sipflow_keepalive_on_options_response() and keep its parser for other
 * traffic. It reads the status line, the Via and the CSeq only, and only in
 * their plain form: a CRLF-terminated header with its blank line, exactly
 * one Via header field holding one value whose branch is ours (as
 * sipflow_keepalive_probe_id_parse() reads it, with the "z9hG4bK" cookie),
 * and one CSeq whose method is OPTIONS. Anything else, including folded
 * lines, several Vias (RFC 3261 §18.1.2) or spaces around the branch's
 * '=', gives SIPFLOW_ERR_NOT_FOUND: parse the message fully then. Headers
 * other than Via and CSeq, and the body, are not checked. Every read stays
 * within |len|; |data| need not be NUL-terminated.
 * @param probe_id receives the id for sipflow_keepalive_on_options_response().
 * @param status receives the status code, 100..699.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (a NULL pointer),
 * SIPFLOW_ERR_NOT_FOUND (not recognised; nothing written). Callback-safe.
 * @since 0.1
 */
SIPFLOW_API int sipflow_keepalive_options_response_parse(const uint8_t *data,
                                                         size_t len,
                                                         uint64_t *probe_id,
                                                         unsigned *status);

/* ------------------------------------------------------------------------ */
/* RFC 6223: the Via "keep" parameter                                        */
/* ------------------------------------------------------------------------ */

/**
 * Read the value of a Via `keep` parameter (ABNF `"keep" [EQUAL 1*DIGIT]`,
 * RFC 6223 §8.2): |value| is what follows the '=' (NULL or empty for a bare
 * `keep`).
 * @param has_value receives 1 if a number was given, else 0.
 * @param seconds receives the number, or 0.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT, SIPFLOW_ERR_MALFORMED (not
 * digits), SIPFLOW_ERR_TOO_LARGE (over 2^32-1). Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_keep_parse(const char *value, size_t len,
                                   int *has_value, uint32_t *seconds);

/**
 * Decide what to answer in the `keep` parameter of the top Via of a response
 * (RFC 6223 §4.4, §5): a next hop willing to receive keepalives gives a value
 * to a bare `keep`; a value equal to the Flow-Timer the same response carries
 * (they MUST match); otherwise the recommended interval, 0 leaving it to the
 * sender.
 * @param request_has_keep the request's top Via carried `keep`.
 * @param willing nonzero if this hop accepts keepalives on the flow.
 * @param interval_seconds recommended interval; 0 = the sender's choice.
 * @param flow_timer_seconds Flow-Timer in the same response, or 0 if none.
 * @param value receives the value to write as `keep=<value>`.
 * @return 1 (add `keep=*value`), 0 (add nothing), or
 * SIPFLOW_ERR_INVALID_ARGUMENT (NULL value). Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_keep_response_value(int request_has_keep, int willing,
                                            uint32_t interval_seconds,
                                            uint32_t flow_timer_seconds,
                                            uint32_t *value);

/**
 * The interval to give an endpoint for a negotiated `keep=<seconds>` or
 * Flow-Timer (RFC 6223 §5 treats them alike: send at least that often, each
 * wait 80-100% of it, which the scheduler does). 0 (the value left to the
 * sender) gives RFC 5626's defaults: 120 s on streams, 29 s on UDP.
 * @param transport sipflow_transport of the flow.
 * @return the interval; for a sipflow_keepalive_endpoint. Callback-safe.
 * @since 0.1
 */
SIPFLOW_API sipflow_duration sipflow_keep_interval(uint32_t seconds,
                                                   int transport);

#ifdef __cplusplus
}
#endif

#endif /* SIPFLOW_KEEPALIVE_H */
