/*
 * libsipflow: edge-proxy decisions (RFC 5626 §5), Path / Record-Route values
 * and NAT detection.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_EDGE_H
#define SIPFLOW_EDGE_H

#include <stddef.h>
#include <stdint.h>

#include "sipflow/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @file edge.h
 * Pure functions over plain structs: the host reads a request with its own
 * parser, fills a facts struct, and gets back what to do. Nothing here
 * allocates, keeps a pointer, logs or reads state; every function is
 * callback-safe and may be used from any thread.
 *
 * The order of work for a request at an edge proxy:
 * 1. If the top Route names this proxy and has a user part, look the token
 *    up (sipflow_flow_lookup()) and put the result in the facts.
 * 2. sipflow_edge_decide().
 * 3. For SIPFLOW_EDGE_ADD_TOKEN_OB / SIPFLOW_EDGE_ADD_TOKEN, mint the token
 *    of decision.flow (sipflow_flow_token()) and format the header value with
 *    sipflow_edge_format_uri().
 */

/* ------------------------------------------------------------------------ */
/* The outbound decision                                                     */
/* ------------------------------------------------------------------------ */

/** Request methods the decision distinguishes. @since 0.1 */
typedef enum sipflow_edge_method {
  SIPFLOW_EDGE_METHOD_OTHER = 0,
  SIPFLOW_EDGE_METHOD_REGISTER = 1,
  SIPFLOW_EDGE_METHOD_INVITE = 2,
  SIPFLOW_EDGE_METHOD_SUBSCRIBE = 3,
  SIPFLOW_EDGE_METHOD_REFER = 4
} sipflow_edge_method;

/**
 * The name of a sipflow_edge_method value ("other", "register", "invite",
 * "subscribe", "refer"), or NULL for a value the enum does not have. The string
 * is static. Callback-safe. @since 0.2
 */
SIPFLOW_API const char *sipflow_edge_method_name(int method);

/**
 * The method named by |name| (case-sensitive, as RFC 3261 §7.1 defines
 * methods): one of sipflow_edge_method, SIPFLOW_EDGE_METHOD_OTHER for any
 * other. Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_edge_method_parse(const char *name, size_t len);

/** The host's override of the outbound decision. @since 0.1 */
typedef enum sipflow_edge_force {
  SIPFLOW_EDGE_FORCE_NONE = 0, /**< follow RFC 5626 */
  SIPFLOW_EDGE_FORCE_ON = 1,   /**< add a token whenever one may be added */
  SIPFLOW_EDGE_FORCE_OFF = 2   /**< never add a token */
} sipflow_edge_force;

/** First version of sipflow_edge_facts. @since 0.1 */
#define SIPFLOW_EDGE_FACTS_V1 1
/** The version this header describes. @since 0.1 */
#define SIPFLOW_EDGE_FACTS_VERSION SIPFLOW_EDGE_FACTS_V1

/**
 * What the host read from a request. Fill it with sipflow_edge_facts_default()
 * first: every member is then "absent". Copied in; no pointer is kept. Members
 * are only ever added at the end. @since 0.1
 */
typedef struct sipflow_edge_facts {
  /** A sipflow_edge_method: the request's method. */
  int method;
  /** The To header field has a tag: the request is inside a dialog. */
  uint8_t to_tag;
  /** Number of Via values (a single one means the UA sent it to us). */
  uint32_t via_count;
  /** The first Contact has a reg-id parameter (RFC 5626 §5.1). */
  uint8_t contact_reg_id;
  /** The first Contact URI has the ob parameter (RFC 5626 §5.3.2). */
  uint8_t contact_ob;
  /** A REGISTER without "path" in Supported (RFC 3327 §5.2). */
  uint8_t no_supported_path;
  /** The top Route names this proxy. */
  uint8_t route_is_us;
  /** ... and its URI has the ob parameter. */
  uint8_t route_ob;
  /** ... and its URI has a user part: a token to look up. */
  uint8_t route_has_user;
  /** The result of sipflow_flow_lookup() on that user part (0 or a
   * negative SIPFLOW_ERR_*). */
  int token_result;
  /**
   * The flow the token names (sipflow_flow_info.id), 0 if it names none of
   * the table's flows.
   */
  sipflow_flow_id token_flow;
  /** The flow the request arrived on; 0 if the host has no id for it. */
  sipflow_flow_id arrival_flow;
  /**
   * Only for a valid token naming no flow of the table (token_flow 0, a UDP
   * token from sipflow_token_mint()): the token's tuple is the one the
   * request arrived on (sipflow_flow_tuple_same()). A UDP flow has no
   * identity but its tuple, so this is its flow identity.
   */
  uint8_t token_tuple_is_arrival;
  /** A sipflow_edge_force. */
  int force;
} sipflow_edge_facts;

/** Fill |facts| with "nothing present". Callback-safe. @since 0.1 */
SIPFLOW_API void sipflow_edge_facts_default_versioned(int facts_version,
                                                      sipflow_edge_facts *f);
/** Fill |facts| with this header's version. @since 0.1 */
#define sipflow_edge_facts_default(F)                                          \
  sipflow_edge_facts_default_versioned(SIPFLOW_EDGE_FACTS_VERSION, (F))

/** What the edge does with the request. @since 0.1 */
typedef enum sipflow_edge_action {
  /** Nothing for Outbound: route the request as usual (a Route naming this
   * proxy is removed as loose routing always does). */
  SIPFLOW_EDGE_NONE = 0,
  /** Add a Path value with the token of decision.flow and ;ob. */
  SIPFLOW_EDGE_ADD_TOKEN_OB = 1,
  /** Add decision.header (Path or Record-Route) with the token of
   * decision.flow, without ;ob. */
  SIPFLOW_EDGE_ADD_TOKEN = 2,
  /** Remove the top Route and send the request over decision.flow; if
   * decision.record_route, also add a Record-Route with the same token,
   * without ;ob (RFC 5626 §5.3.1). */
  SIPFLOW_EDGE_ROUTE_FLOW = 3,
  /** Answer decision.status and do not forward. */
  SIPFLOW_EDGE_REJECT = 4
} sipflow_edge_action;

/** Which header an added token goes in. @since 0.1 */
typedef enum sipflow_edge_header {
  SIPFLOW_EDGE_HEADER_NONE = 0,
  SIPFLOW_EDGE_HEADER_PATH = 1,
  SIPFLOW_EDGE_HEADER_RECORD_ROUTE = 2
} sipflow_edge_header;

/**
 * The name of a sipflow_edge_header value ("none", "path", "record-route"), or
 * NULL for a value the enum does not have. The string is static. Callback-safe.
 * @since 0.2
 */
SIPFLOW_API const char *sipflow_edge_header_name(int header);

/** Which way a request carrying our token travels. @since 0.1 */
typedef enum sipflow_edge_direction {
  SIPFLOW_EDGE_DIR_NONE = 0,    /**< no valid token of ours */
  SIPFLOW_EDGE_DIR_FROM_UA = 1, /**< arrived on the token's own flow */
  SIPFLOW_EDGE_DIR_TO_UA = 2    /**< arrived elsewhere: goes to the flow */
} sipflow_edge_direction;

/**
 * The name of a sipflow_edge_direction value ("none", "from-ua", "to-ua"), or
 * NULL for a value the enum does not have. The string is static. Callback-safe.
 * @since 0.2
 */
SIPFLOW_API const char *sipflow_edge_direction_name(int direction);

/**
 * Why the decision was made; sipflow_edge_reason_str() says it in words with
 * the RFC section. @since 0.1
 */
typedef enum sipflow_edge_reason {
  /** No Outbound rule applies. */
  SIPFLOW_EDGE_REASON_NOT_APPLICABLE = 0,
  /** The host forced Outbound off. */
  SIPFLOW_EDGE_REASON_FORCED_OFF = 1,
  /** The host forced Outbound on. */
  SIPFLOW_EDGE_REASON_FORCED_ON = 2,
  /** §5.1: REGISTER with reg-id from the UA: Path with ;ob. */
  SIPFLOW_EDGE_REASON_REGISTER_FIRST_HOP = 3,
  /** §5.1: REGISTER with reg-id past the first hop: no ;ob. */
  SIPFLOW_EDGE_REASON_REGISTER_NOT_FIRST_HOP = 4,
  /** §5.1 does not apply: no reg-id. */
  SIPFLOW_EDGE_REASON_REGISTER_NO_REG_ID = 5,
  /** RFC 3327 §5.2: no Supported: path; answer 421. */
  SIPFLOW_EDGE_REASON_PATH_UNSUPPORTED = 6,
  /** §5.3.2: dialog-forming, Contact has ;ob. */
  SIPFLOW_EDGE_REASON_DIALOG_CONTACT_OB = 7,
  /** §5.3.2: dialog-forming, top Route has ;ob. */
  SIPFLOW_EDGE_REASON_DIALOG_ROUTE_OB = 8,
  /** §5.3.2: ;ob seen past the first hop. */
  SIPFLOW_EDGE_REASON_DIALOG_NOT_FIRST_HOP = 9,
  /** §5.3.1: the token names another flow: route over it. */
  SIPFLOW_EDGE_REASON_TOKEN_TO_UA = 10,
  /** §5.3.2, §9.5: the token names the arrival flow. */
  SIPFLOW_EDGE_REASON_TOKEN_FROM_UA = 11,
  /** §5.3.1: the token failed its MAC: answer 403. */
  SIPFLOW_EDGE_REASON_TOKEN_TAMPERED = 12,
  /** §5.3.1: the token's flow is gone: answer 430. */
  SIPFLOW_EDGE_REASON_TOKEN_STALE = 13,
  /** Our Route carries no token of ours: answer 403. */
  SIPFLOW_EDGE_REASON_TOKEN_MALFORMED = 14
} sipflow_edge_reason;

/** The decision. A plain value. @since 0.1 */
typedef struct sipflow_edge_decision {
  int action;    /**< a sipflow_edge_action */
  int reason;    /**< a sipflow_edge_reason */
  int header;    /**< a sipflow_edge_header: ADD_TOKEN(_OB), else NONE */
  int direction; /**< a sipflow_edge_direction */
  /** ADD_TOKEN(_OB): the arrival flow, to mint the token of (0 if the host
   * gave none: mint with sipflow_token_mint() from the arrival tuple);
   * ROUTE_FLOW: the flow to send over (0 for a UDP token naming no table
   * flow: send to the token's tuple); otherwise 0. */
  sipflow_flow_id flow;
  /** ROUTE_FLOW: also Record-Route with the token, without ;ob. */
  uint8_t record_route;
  /** REJECT: the SIP status to answer (403, 430 or 421). */
  int status;
} sipflow_edge_decision;

/**
 * Decide what the edge does with a request (RFC 5626 §5.1, §5.3).
 *
 * - Top Route names us with a token: tampered → REJECT 403; stale → REJECT
 *   430; malformed → REJECT 403. A valid token gives the direction by flow
 *   identity, never by comparing addresses: arrival_flow == token_flow means
 *   the request comes from the UA over its own flow (for a token naming no
 *   table flow, token_tuple_is_arrival says so) (forward normally; a
 *   dialog-forming request with ;ob in Contact or Route gets a Record-Route
 *   token for the arrival flow), anything else goes to the UA: ROUTE_FLOW,
 *   with record_route for a dialog-forming request whose Route has ;ob. So a
 *   UA whose address changed mid-dialog is still routed right. The force
 *   setting does not apply here: a token of ours is always honoured.
 * - REGISTER whose first Contact has reg-id: with exactly one Via (the UA is
 *   the previous hop) ADD_TOKEN_OB into Path; with more, NONE (only the first
 *   hop may add ;ob), or ADD_TOKEN into Path without ;ob if forced on. A
 *   REGISTER that lacks Supported: path is answered 421 (RFC 3327 §5.2).
 * - INVITE, SUBSCRIBE or REFER outside a dialog whose Contact or top Route
 *   (naming us) has ;ob, with one Via: ADD_TOKEN into Record-Route.
 *   Supported: outbound is not required (RFC 5626 §4.3 makes it a SHOULD;
 *   checklist 11.16).
 * - FORCE_OFF: never add a token. FORCE_ON: add one (with ;ob only when the
 *   first-hop rule allows) to a REGISTER or a dialog-forming request.
 *
 * @param facts copied; see sipflow_edge_facts.
 * @param decision filled.
 * @return 0, or SIPFLOW_ERR_INVALID_ARGUMENT (NULL, unknown version, zero
 * via_count, unknown force). Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_edge_decide_versioned(int facts_version,
                                              const sipflow_edge_facts *facts,
                                              sipflow_edge_decision *decision);
/** Decide, with this header's facts version. @since 0.1 */
#define sipflow_edge_decide(F, D)                                              \
  sipflow_edge_decide_versioned(SIPFLOW_EDGE_FACTS_VERSION, (F), (D))

/**
 * A reason in words, with its RFC section, e.g. "REGISTER from the first hop
 * with reg-id: Path with token and ;ob (RFC 5626 §5.1)". Never NULL.
 * Callback-safe. @since 0.1
 */
SIPFLOW_API const char *sipflow_edge_reason_str(int reason);

/**
 * The name of an action ("none", "add-token-ob", "add-token", "route-flow",
 * "reject"), or NULL if unknown. Callback-safe. @since 0.1
 */
SIPFLOW_API const char *sipflow_edge_action_name(int action);

/* ------------------------------------------------------------------------ */
/* Path and Record-Route values                                              */
/* ------------------------------------------------------------------------ */

/** Add ;ob to the URI (only for a first-hop Path: RFC 5626 §5.1). @since 0.1 */
#define SIPFLOW_EDGE_URI_OB 0x01

/**
 * A sips: URI (RFC 3261 §16.7 item 4, RFC 5630): for a value that faces a
 * TLS or WSS flow in a dialog whose Request-URI is sips:. With
 * SIPFLOW_TRANSPORT_TLS the transport parameter is left out (a sips: URI
 * means TLS over TCP; RFC 5630 §3.1.3 deprecates ";transport=tls"); any
 * other transport is written as for sip:. @since 0.2
 */
#define SIPFLOW_EDGE_URI_SIPS 0x02

/**
 * The address this proxy advertises in its Path and Record-Route URIs.
 * Copied in; no pointer is kept. @since 0.1
 */
typedef struct sipflow_edge_local {
  /** A host name ("ep1.example.com"), an IPv4 address, or an IPv6 address
   * with or without brackets. @since 0.2 a sipflow_str (0.1: NUL-terminated
   * const char *). */
  sipflow_str host;
  /** Port; 0 leaves it out. */
  uint16_t port;
  /** A sipflow_transport for ";transport="; 0 leaves it out. */
  uint8_t transport;
} sipflow_edge_local;

/**
 * Format a Path or Record-Route value:
 * "<sip:TOKEN@host:port;transport=tcp;lr;ob>". An IPv6 host is bracketed;
 * ;lr is always there (RFC 3327 §4); ;ob only with SIPFLOW_EDGE_URI_OB;
 * "<sips:...>" with SIPFLOW_EDGE_URI_SIPS.
 * The token must be base64url (as minted), so it needs no escaping in the
 * user part (RFC 3261 §25.1).
 * @param local the advertised address.
 * @param token the token; |token_len| 0 formats a URI without a user part.
 * @param flags SIPFLOW_EDGE_URI_OB, SIPFLOW_EDGE_URI_SIPS (OR-ed), or 0.
 * @param buf receives the value and a NUL.
 * @param out_len receives the length without the NUL; may be NULL.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (NULL, a host with characters that
 * cannot appear in a SIP host, a token outside base64url, unknown transport
 * or flags), or SIPFLOW_ERR_BUFFER_TOO_SMALL. Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_edge_format_uri(const sipflow_edge_local *local,
                                        const char *token, size_t token_len,
                                        unsigned flags, char *buf,
                                        size_t buflen, size_t *out_len);

/* ------------------------------------------------------------------------ */
/* NAT detection for UAs that do not use Outbound                            */
/* ------------------------------------------------------------------------ */

/** The Contact host is a private address. @since 0.1 */
#define SIPFLOW_NAT_CONTACT_PRIVATE 0x01u
/** The source differs from the top Via sent-by (address; the port too on
 * UDP), or sent-by is a host name. @since 0.1 */
#define SIPFLOW_NAT_VIA_MISMATCH 0x02u
/** The top Via sent-by is a private address. @since 0.1 */
#define SIPFLOW_NAT_VIA_PRIVATE 0x04u
/** The source address differs from the Contact address, or the Contact host
 * is a name (e.g. WebSocket clients' ".invalid"). @since 0.1 */
#define SIPFLOW_NAT_CONTACT_MISMATCH 0x08u
/** The top Via has rport (RFC 3581): answer to the source port. @since 0.1 */
#define SIPFLOW_NAT_RPORT 0x10u
/** UDP: the source port differs from the Contact port. @since 0.1 */
#define SIPFLOW_NAT_CONTACT_PORT_MISMATCH 0x20u
/**
 * The flags that mean a NAT (or something like it) sits between the UA and
 * us: keep the flow alive from our side and send to the source address, not
 * the Contact. RPORT alone is not among them: it is a request for symmetric
 * response routing. @since 0.1
 */
#define SIPFLOW_NAT_BEHIND_MASK                                                \
  (SIPFLOW_NAT_CONTACT_PRIVATE | SIPFLOW_NAT_VIA_MISMATCH |                    \
   SIPFLOW_NAT_VIA_PRIVATE | SIPFLOW_NAT_CONTACT_MISMATCH |                    \
   SIPFLOW_NAT_CONTACT_PORT_MISMATCH)

/** First version of sipflow_nat_facts. @since 0.1 */
#define SIPFLOW_NAT_FACTS_V1 1
/** The version this header describes. @since 0.1 */
#define SIPFLOW_NAT_FACTS_VERSION SIPFLOW_NAT_FACTS_V1

/**
 * What the host saw of a request, for NAT detection. Fill it with
 * sipflow_nat_facts_default() first. Copied in. An address whose family is
 * SIPFLOW_AF_NONE is a host name; a port of 0 means none was written (5060
 * is assumed). Members are only ever added at the end. @since 0.1
 */
typedef struct sipflow_nat_facts {
  uint8_t transport;         /**< a sipflow_transport: the request came on */
  sipflow_addr source;       /**< the packet's source address and port */
  sipflow_addr via;          /**< top Via sent-by */
  uint8_t via_rport;         /**< top Via has rport */
  uint8_t contact;           /**< the request has a Contact with a host */
  sipflow_addr contact_addr; /**< first Contact host and port */
} sipflow_nat_facts;

/** Fill |facts| with "nothing seen". Callback-safe. @since 0.1 */
SIPFLOW_API void sipflow_nat_facts_default_versioned(int facts_version,
                                                     sipflow_nat_facts *f);
/** Fill |facts| with this header's version. @since 0.1 */
#define sipflow_nat_facts_default(F)                                           \
  sipflow_nat_facts_default_versioned(SIPFLOW_NAT_FACTS_VERSION, (F))

/**
 * NAT tests in the style of nat_traversal's client_nat_test and nathelper's
 * nat_uac_test: private or mismatched Contact and Via sent-by against the
 * source address, and rport. IPv4-mapped IPv6 addresses compare equal to
 * their IPv4 form. Ports are compared on UDP only: on a stream the source
 * port is an ephemeral one and differs by design.
 * @param flags receives SIPFLOW_NAT_* bits (0: no sign of NAT).
 * @return 0, or SIPFLOW_ERR_INVALID_ARGUMENT (NULL, unknown version, a
 * source that is not an address). Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_nat_detect_versioned(int facts_version,
                                             const sipflow_nat_facts *facts,
                                             unsigned *flags);
/** Detect, with this header's facts version. @since 0.1 */
#define sipflow_nat_detect(F, FLAGS)                                           \
  sipflow_nat_detect_versioned(SIPFLOW_NAT_FACTS_VERSION, (F), (FLAGS))

/**
 * Whether |addr| is private (not reachable from the Internet as written):
 * RFC 1918 (10/8, 172.16/12, 192.168/16), RFC 6598 shared space (100.64/10),
 * link-local (169.254/16, fe80::/10), unique local (fc00::/7), and IPv4-mapped
 * forms of these. Loopback is not counted.
 * @return 1 or 0 (also for NULL and family NONE). Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_nat_is_private(const sipflow_addr *addr);

#ifdef __cplusplus
}
#endif

#endif /* SIPFLOW_EDGE_H */
