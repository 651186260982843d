/*
 * libsipflow-sofia: sofia-sip parsing and su_root timer glue for libsipflow.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_SIPFLOW_SOFIA_H
#define SIPFLOW_SIPFLOW_SOFIA_H

#include <stddef.h>
#include <stdint.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/su_wait.h>

#include "sipflow/edge.h"
#include "sipflow/flow.h"
#include "sipflow/registrar.h"
#include "sipflow/sipflow.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @file sipflow_sofia.h
 * The sofia-sip adapter: parse SIP bytes with sofia's msg/sip parser, read
 * the RFC 5626 facts out of a sip_t, and drive a context's deadline from an
 * su_root (the way FreeSWITCH and other sofia hosts run).
 *
 * It must be compiled against the sofia-sip headers of the library it links:
 * forks of sofia-sip differ in the layout of sip_t.
 * Link with `pkg-config --libs sipflow-sofia`.
 */

/* ------------------------------------------------------------------------ */
/* Parsing                                                                   */
/* ------------------------------------------------------------------------ */

/**
 * Parse one complete SIP message. sofia reports syntax errors by flagging
 * the message rather than failing; this call turns those into an error code,
 * and also refuses what sofia would mis-take for SIP (empty input, CRLF
 * keepalives, STUN): classify those first. Every Via's fields are
 * recomputed from its parameters, which sofia leaves short when Vias are
 * folded onto one line (docs/adapters.md).
 * @param pmsg receives the message; free it with msg_destroy().
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT, SIPFLOW_ERR_MALFORMED (not SIP, a
 * parse error, or a request or response missing Via, From, To, Call-ID or
 * CSeq), SIPFLOW_ERR_NOMEM. On error *pmsg is NULL.
 * @since 0.1
 */
SIPFLOW_API SIPFLOW_WARN_UNUSED int
sipflow_sofia_parse(msg_t **pmsg, const uint8_t *data, size_t len);

/**
 * Number of Via header field values (1 means the request came straight from
 * the UA: the first-hop test of RFC 5626 §5.1). Callback-safe. @since 0.1
 */
SIPFLOW_API unsigned sipflow_sofia_via_count(const sip_t *sip);

/**
 * The +sip.instance of a Contact, unquoted and without angle brackets
 * ("urn:uuid:..."), copied into |buf| and NUL-terminated.
 * @return 0, SIPFLOW_ERR_NOT_FOUND (no +sip.instance), SIPFLOW_ERR_MALFORMED
 * (empty, or unbalanced quotes or brackets), SIPFLOW_ERR_BUFFER_TOO_SMALL.
 * Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_sofia_instance(const sip_contact_t *m, char *buf,
                                       size_t buflen, size_t *outlen);

/**
 * The reg-id of a Contact, range-checked (RFC 5626 §10: 1 .. 2^31-1).
 * @return 0 with *reg_id set, SIPFLOW_ERR_NOT_FOUND (absent),
 * SIPFLOW_ERR_MALFORMED (empty, not a number, 0, negative, too large).
 * Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_sofia_reg_id(const sip_contact_t *m, uint32_t *reg_id);

/**
 * The Flow-Timer header (RFC 5626 §10), which sofia does not know and files
 * among the unknown headers.
 * @return 0 with *seconds set, SIPFLOW_ERR_NOT_FOUND, SIPFLOW_ERR_MALFORMED.
 * Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_sofia_flow_timer(const sip_t *sip, uint32_t *seconds);

/**
 * Whether the message has a Feature-Caps header field (or its compact form
 * "fc", RFC 6809 §6), which sofia files among the unknown headers, with the
 * "+sip.pns" indicator (sipflow_reg_feature_caps_pns()): in a REGISTER, a
 * proxy in front pushes to the UA (RFC 8599 §5.6.1.1), and the host passes
 * SIPFLOW_REG_FACT_PNS_IN_FRONT to sipflow_registrar_process_facts().
 * @return 1 when it has, 0 when not (or |sip| is NULL). Callback-safe.
 * @since 0.2
 */
SIPFLOW_API int sipflow_sofia_pns_in_front(const sip_t *sip);

/* ------------------------------------------------------------------------ */
/* REGISTER facts and the answer                                             */
/* ------------------------------------------------------------------------ */

/** Most Contacts, Path values and unknown Require tags read from one
 * REGISTER; a request with more is refused with SIPFLOW_ERR_TOO_LARGE
 * (answer 403 or 400). @since 0.1 */
#define SIPFLOW_SOFIA_MAX_CONTACTS 32
/** See SIPFLOW_SOFIA_MAX_CONTACTS. @since 0.1 */
#define SIPFLOW_SOFIA_MAX_PATH 16
/** See SIPFLOW_SOFIA_MAX_CONTACTS. @since 0.1 */
#define SIPFLOW_SOFIA_MAX_REQUIRE 16

/**
 * Storage for the facts of one REGISTER: sipflow_reg_request points into
 * it, and its strings live in the message's memory home, so it is valid as
 * long as both the struct and the message are. @since 0.1
 */
typedef struct sipflow_sofia_register {
  sipflow_reg_request req; /**< pass &req to sipflow_registrar_process() */
  /** Storage of req.contacts. */
  sipflow_reg_contact contacts[SIPFLOW_SOFIA_MAX_CONTACTS];
  /** Storage of req.path. */
  sipflow_str path[SIPFLOW_SOFIA_MAX_PATH];
  /** Storage of req.require_unknown. */
  sipflow_str require_unknown[SIPFLOW_SOFIA_MAX_REQUIRE];
} sipflow_sofia_register;

/**
 * Read the facts of a REGISTER out of a parsed message (RFC 3261 §10.3,
 * RFC 5626 §6, RFC 3327): AoR from To, Call-ID, CSeq, Expires, the
 * Contacts with URI, +sip.instance (as received: the registrar compares by
 * URN rules), reg-id, expires, q, ob and their other parameters, the Path
 * vector, Supported and Require for outbound and path, unknown Require
 * tags, the Via count and User-Agent; and the flow new bindings are reached
 * over, by the arrival-flow rule of RFC 5626 §6:
 * - one Via (the request came straight from the UA, §5.1): the arrival
 *   flow, |arrival_flow| and |arrival_tuple|;
 * - more than one Via, and the topmost Path URI's user part is a token that
 *   |ft| verifies as naming one of its flows (a co-located edge put it
 *   there): that flow, its id and tuple;
 * - otherwise none (flow_id 0, transport 0): the Path alone leads to the UA.
 * out->req.received is the arrival tuple's remote address. The AoR may be
 * replaced by the host (a canonical form) afterwards.
 * @param out filled.
 * @param msg the REGISTER; strings are allocated in its home.
 * @param ft the flow table whose Path tokens to verify; NULL when the host
 * is no edge (a token in Path then leads nowhere but through the Path).
 * @param arrival_flow the flow the REGISTER arrived on, 0 if none.
 * @param arrival_tuple its tuple; NULL leaves flow and received unset.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (NULL, or not a REGISTER),
 * SIPFLOW_ERR_MALFORMED (no To, Call-ID or CSeq; a q value that is not a
 * number from 0 to 1), SIPFLOW_ERR_TOO_LARGE (more Contacts, Path values or
 * Require tags than the limits), SIPFLOW_ERR_NOMEM. A Path token that does
 * not verify is no error: the request gets no flow. Callback-safe.
 * @since 0.1; the flow table and arrival flow arguments @since 0.2
 */
SIPFLOW_API SIPFLOW_WARN_UNUSED int sipflow_sofia_register_facts(
    sipflow_sofia_register *out, msg_t *msg, const sipflow_flow_table *ft,
    sipflow_flow_id arrival_flow, const sipflow_flow_tuple *arrival_tuple);

/**
 * Write the header fields that go with a registrar's answer, one per line
 * ending in CRLF, for the host to put into the response it builds: for 200,
 * one Contact per binding with its expires (and +sip.instance and reg-id),
 * Require: outbound when the result says so, Flow-Timer, the request's Path
 * echoed when the result says so, Supported; for 423, Min-Expires; for 420
 * and 421, Unsupported or Require.
 * @param result from sipflow_registrar_process().
 * @param msg the REGISTER (for the Path to echo and unknown Require tags).
 * @param buf receives the text and a NUL.
 * @param outlen receives its length without the NUL; may be NULL.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT, SIPFLOW_ERR_BUFFER_TOO_SMALL.
 * Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_sofia_register_answer(const sipflow_reg_result *result,
                                              msg_t *msg, char *buf,
                                              size_t buflen, size_t *outlen);

/* ------------------------------------------------------------------------ */
/* Edge decisions and the token headers                                      */
/* ------------------------------------------------------------------------ */

/**
 * Fill the facts sipflow_edge_decide() takes from a parsed request: method,
 * To tag, Via count, reg-id and ;ob on the first Contact, Supported: path,
 * and, when the top Route names this proxy, its ;ob and the verification of
 * its user part as a token against |ft|.
 * @param facts filled (after sipflow_edge_facts_default()).
 * @param msg a request.
 * @param route_is_us 1 when the host found that the top Route's URI names
 * one of its own addresses (the library does not know them).
 * @param ft the flow table whose tokens to verify; NULL skips verification.
 * @param arrival_flow the flow the request arrived on, 0 if none.
 * @param arrival_tuple its tuple (for tokens naming no table flow); may be
 * NULL.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (NULL, or not a request).
 * Callback-safe. @since 0.1
 */
SIPFLOW_API int
sipflow_sofia_edge_facts(sipflow_edge_facts *facts, msg_t *msg, int route_is_us,
                         const sipflow_flow_table *ft,
                         sipflow_flow_id arrival_flow,
                         const sipflow_flow_tuple *arrival_tuple);

/**
 * Put a Path or Record-Route value with a flow token on top of its headers
 * in |msg| ("<sip:TOKEN@host:port;transport=...;lr[;ob]>", formatted by
 * sipflow_edge_format_uri()).
 * @param header SIPFLOW_EDGE_HEADER_PATH or SIPFLOW_EDGE_HEADER_RECORD_ROUTE.
 * @param flags as sipflow_edge_format_uri(): SIPFLOW_EDGE_URI_OB,
 * SIPFLOW_EDGE_URI_SIPS, or 0.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (as sipflow_edge_format_uri(), or
 * an unknown header), SIPFLOW_ERR_NOMEM. @since 0.1
 */
SIPFLOW_API int sipflow_sofia_add_token_header(msg_t *msg, int header,
                                               const sipflow_edge_local *local,
                                               const char *token,
                                               size_t token_len,
                                               unsigned flags);

/* ------------------------------------------------------------------------ */
/* The single timer on an su_root                                            */
/* ------------------------------------------------------------------------ */

/** An su_timer that follows one context's deadline. Opaque. @since 0.1 */
typedef struct sipflow_sofia_timer sipflow_sofia_timer;

/**
 * The current time for libsipflow calls from sofia's monotonic clock
 * (su_monotime), in nanoseconds. Callback-safe. @since 0.1
 */
SIPFLOW_API sipflow_tstamp sipflow_sofia_now(void);

/**
 * Create a timer on |root| for |ctx|; disarmed until the first update.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT, SIPFLOW_ERR_NOMEM. @since 0.1
 */
SIPFLOW_API SIPFLOW_WARN_UNUSED int
sipflow_sofia_timer_new(sipflow_sofia_timer **ptimer, su_root_t *root,
                        sipflow_ctx *ctx);

/**
 * Re-arm to the context's deadline, or stop when there is none. Call after
 * every libsipflow call that takes `now`. @since 0.1
 */
SIPFLOW_API void sipflow_sofia_timer_update(sipflow_sofia_timer *timer);

/** Destroy the timer. NULL does nothing. @since 0.1 */
SIPFLOW_API void sipflow_sofia_timer_del(sipflow_sofia_timer *timer);

/** How many times the timer has fired. Callback-safe. @since 0.1 */
SIPFLOW_API uint64_t
sipflow_sofia_timer_fired(const sipflow_sofia_timer *timer);

/** The result of the last sipflow_ctx_handle_expiry() the timer made.
 * Callback-safe. @since 0.1 */
SIPFLOW_API int
sipflow_sofia_timer_last_result(const sipflow_sofia_timer *timer);

#ifdef __cplusplus
}
#endif

#endif /* SIPFLOW_SIPFLOW_SOFIA_H */
