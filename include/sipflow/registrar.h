/*
 * libsipflow: registrar bindings and target selection (RFC 3261 §10.3,
 * RFC 5626 §6-7, RFC 3327).
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_REGISTRAR_H
#define SIPFLOW_REGISTRAR_H

#include <stddef.h>
#include <stdint.h>

#include "sipflow/common.h"
#include "sipflow/token.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @file registrar.h
 * The location service of a registrar and of the authoritative proxy in
 * front of it.
 *
 * The host parses a REGISTER into a sipflow_reg_request (the "facts") and
 * calls sipflow_registrar_process(). The registrar applies RFC 3261 §10.3
 * with the RFC 5626 §6 binding key (AoR, +sip.instance, reg-id) and RFC 3327
 * Path vectors, all or nothing, and gives back either an error status with
 * its reason or everything the 200 OK needs.
 *
 * For a request to an AoR, sipflow_registrar_lookup() gives a target plan
 * (RFC 5626 §7): groups of branches by q, one flow per instance at a time,
 * the next flow of an instance only after 430 or 408, healthy flows first.
 *
 * Bindings expire on the context's single timer (sipflow_ctx_get_expiry()).
 * Every change is reported through the change callback with the whole
 * binding, so a host can store or replicate it.
 *
 * Strings are given as pointer and length (sipflow_str, common.h) and need not
 * be NUL-terminated; strings the library gives back are not NUL-terminated
 * either. The library keeps no pointer into the caller's memory after a call
 * returns: whatever it stores is copied.
 *
 * Memory: one allocation per binding holding its strings inline (152 bytes
 * on LP64 beside the strings, 20 more when the received address is not the
 * flow's remote address), one per AoR (8 bytes, 8 per binding it has room
 * for, and the AoR), 8 bytes per binding in the expiry heap, and 21 to 43
 * bytes per flow and 43 to 85 per AoR in two hash tables kept at most 3/4
 * full; docs/registrar.md has the measured figure.
 *
 * Timer: the registrar's deadline is a lower bound of the next expiry (a
 * refreshed binding keeps its old deadline until it comes, then is queued
 * again), so the host's timer may fire with nothing to remove.
 *
 * Re-entrancy (docs/guide.md): from inside a callback of this object the
 * host may call any function of other objects, and on this object only the
 * functions marked Callback-safe; any other call on it returns
 * SIPFLOW_ERR_BAD_STATE, and sipflow_ctx_handle_expiry() does too.
 */

/** The registrar: bindings of every AoR on one context. Opaque.
 * @since 0.1 */
typedef struct sipflow_registrar sipflow_registrar;

/** A target plan for one request to an AoR. Opaque. @since 0.1 */
typedef struct sipflow_reg_plan sipflow_reg_plan;

/** A q-value that was not given. @since 0.1 */
#define SIPFLOW_REG_Q_NONE (-1)

/** Option tags the registrar understands, as bits. @since 0.1 */
typedef enum sipflow_reg_option {
  SIPFLOW_REG_OPT_OUTBOUND = 1u << 0, /**< "outbound" (RFC 5626) */
  SIPFLOW_REG_OPT_PATH = 1u << 1,     /**< "path" (RFC 3327) */
  /** "gruu" (RFC 5627): the UA wants GRUUs in the 200. @since 0.2 */
  SIPFLOW_REG_OPT_GRUU = 1u << 2
} sipflow_reg_option;

/* ------------------------------------------------------------------------ */
/* Policies and settings                                                     */
/* ------------------------------------------------------------------------ */

/** Whether the registrar offers RFC 5626 Outbound. @since 0.1 */
typedef enum sipflow_reg_outbound_policy {
  /** Not supported: reg-id is an unknown parameter, Require: outbound
   * gets 420. */
  SIPFLOW_REG_OUTBOUND_OFF = 0,
  /** Supported (the default): used when the request qualifies. */
  SIPFLOW_REG_OUTBOUND_SUPPORTED = 1,
  /** Required: a REGISTER with Contacts from a UA that does not list
   * outbound in Supported or Require gets 421. */
  SIPFLOW_REG_OUTBOUND_REQUIRED = 2
} sipflow_reg_outbound_policy;

/** What happens when an AoR would exceed max_contacts. @since 0.1 */
typedef enum sipflow_reg_overflow_policy {
  /** Reject the REGISTER with too_many_contacts_status (the default). */
  SIPFLOW_REG_OVERFLOW_REJECT = 0,
  /** Remove the least recently updated bindings the request does not touch
   * (reported as SIPFLOW_REG_REMOVED). */
  SIPFLOW_REG_OVERFLOW_REPLACE_OLDEST = 1
} sipflow_reg_overflow_policy;

/** What a flow failure does to the bindings on that flow. @since 0.1 */
typedef enum sipflow_reg_dead_flow_policy {
  /** Remove them now (RFC 5626 §7; the default). */
  SIPFLOW_REG_DEAD_FLOW_REMOVE = 0,
  /** Keep them, marked dead (never tried), and cut their expiry to
   * dead_flow_expires seconds, as Kamailio's keepalive_timeout does; a
   * re-REGISTER over a new flow revives them. */
  SIPFLOW_REG_DEAD_FLOW_SHORTEN = 1
} sipflow_reg_dead_flow_policy;

/** Which Path value must carry ";ob" when the registrar is not the first hop
 * (RFC 5626 §6 says "the first URI"; see docs/registrar.md). @since 0.1 */
typedef enum sipflow_reg_path_ob {
  /** The bottom value, the one the first-hop edge added (the default). */
  SIPFLOW_REG_PATH_OB_BOTTOM = 0,
  /** The top value (Kamailio's choice). */
  SIPFLOW_REG_PATH_OB_TOP = 1,
  /** Any value (only the first hop may add ";ob" anyway). */
  SIPFLOW_REG_PATH_OB_ANY = 2
} sipflow_reg_path_ob;

/** Order of the flows of one instance in a target plan, after health.
 * @since 0.1 */
typedef enum sipflow_reg_flow_order {
  /** Lowest reg-id first (the default). */
  SIPFLOW_REG_ORDER_LOWEST_REG_ID = 0,
  /** Most recently registered or refreshed first (RFC 5626 §15). */
  SIPFLOW_REG_ORDER_MOST_RECENT = 1
} sipflow_reg_flow_order;

/** First version of sipflow_registrar_settings. @since 0.1 */
#define SIPFLOW_REGISTRAR_SETTINGS_V1 1
/** Second version: push_providers and push_refresh. @since 0.2 */
#define SIPFLOW_REGISTRAR_SETTINGS_V2 2
/** The version this header describes. @since 0.1 */
#define SIPFLOW_REGISTRAR_SETTINGS_VERSION SIPFLOW_REGISTRAR_SETTINGS_V2

/**
 * Registrar settings, filled by sipflow_registrar_settings_default(). New
 * members are only added at the end. @since 0.1
 */
typedef struct sipflow_registrar_settings {
  /** Outbound policy. Default SIPFLOW_REG_OUTBOUND_SUPPORTED. */
  sipflow_reg_outbound_policy outbound;
  /** Shortest registration granted, seconds. Default 60. */
  uint32_t min_expires;
  /** Longest registration granted, seconds. Default 86400. */
  uint32_t max_expires;
  /** Used when neither the Contact nor the request gives one. Default
   * 3600; clamped to [min_expires, max_expires]. */
  uint32_t default_expires;
  /** 1 (default): answer 423 with Min-Expires when RFC 3261 §10.3 allows
   * (0 < requested < 3600 and below min_expires). 0: raise to min_expires.
   * Requests the RFC forbids rejecting are always raised. */
  int reject_below_min;
  /** Most bindings per AoR, 1..1024. Default 16. */
  uint32_t max_contacts;
  /** What to do beyond max_contacts. Default SIPFLOW_REG_OVERFLOW_REJECT. */
  sipflow_reg_overflow_policy overflow;
  /** Status for too many Contacts (in the AoR or in one request), 400..599.
   * Default 403 (see docs/registrar.md). */
  int too_many_contacts_status;
  /** 1: accept the same Call-ID with the same CSeq as the stored binding
   * (buggy UAs; OpenSIPS allow_dup_cseq). Default 0. */
  int allow_repeated_cseq;
  /** What a flow failure does. Default SIPFLOW_REG_DEAD_FLOW_REMOVE. */
  sipflow_reg_dead_flow_policy dead_flow;
  /** Seconds left to a binding on a failed flow under
   * SIPFLOW_REG_DEAD_FLOW_SHORTEN. Default 10. */
  uint32_t dead_flow_expires;
  /** Flow-Timer to send in a 200 with Require: outbound when the registrar
   * is the first hop (RFC 5626 §6). 0 (default): none. */
  uint32_t flow_timer;
  /** Which Path value must carry ";ob". Default SIPFLOW_REG_PATH_OB_BOTTOM. */
  sipflow_reg_path_ob path_ob;
  /** 1: a request with Path but without "path" in Supported gets 420
   * (RFC 3327 §5.3 recommends it). 0 (default): accepted. */
  int path_requires_supported;
  /** Order of one instance's flows. Default lowest reg-id first. */
  sipflow_reg_flow_order flow_order;
  /** Longest AoR (To URI) in bytes. Default 256. */
  uint32_t max_aor_len;
  /** Longest Contact URI in bytes. Default 512. */
  uint32_t max_uri_len;
  /** Longest +sip.instance value in bytes. Default 128. */
  uint32_t max_instance_len;
  /** Longest Call-ID in bytes. Default 256. */
  uint32_t max_call_id_len;
  /** Most Path values in one request. Default 8. */
  uint32_t max_path_entries;
  /** Most bytes of one binding's Path, joined. Default 2048. */
  uint32_t max_path_len;
  /** Longest other-Contact-parameters text in bytes. Default 512. */
  uint32_t max_params_len;
  /** Longer User-Agent values are stored truncated. Default 128. */
  uint32_t max_user_agent_len;
  /** Most Contacts in one request, 1..1024. Default 16. */
  uint32_t max_contacts_per_request;
  /** Most bindings in the registrar; beyond it new bindings get 503.
   * 0 (default): no limit. */
  uint64_t max_bindings;
  /** The push notification services (RFC 8599 pn-provider values) the host
   * can send pushes through, comma-separated, each optionally followed by
   * ":SECONDS", how long before a binding expires its refresh push is due
   * (RFC 8599 §5.5; the +sip.pnsreg value), overriding |push_refresh| for
   * that provider: "apns,fcm:300,webpush:0". Names are tokens (letters,
   * digits, '-', '.', '_'), matched case-insensitively. Copied at creation.
   * Empty (default): push is not offered and the pn-* URI parameters are
   * stored but never acted on (a registrar without RFC 8599 support).
   * When not empty, a REGISTER whose Contact names another provider gets
   * 555 (RFC 8599 §5.6.1.1, §8.1). @since 0.2 */
  sipflow_str push_providers;
  /** Seconds before a push-reachable binding expires that the registrar
   * asks for a refresh push (RFC 8599 §5.5; the +sip.pnsreg value);
   * a provider's own ":SECONDS" wins. 0: no refresh pushes and no
   * +sip.pnsreg. Default 0. @since 0.2 */
  uint32_t push_refresh;
} sipflow_registrar_settings;

/**
 * Fill |settings| with the defaults documented on each member.
 * @param settings_version SIPFLOW_REGISTRAR_SETTINGS_VERSION (use the macro).
 * Callback-safe. @since 0.1
 */
SIPFLOW_API void sipflow_registrar_settings_default_versioned(
    int settings_version, sipflow_registrar_settings *settings);
/** Fill |settings| with defaults for this header's version. @since 0.1 */
#define sipflow_registrar_settings_default(S)                                  \
  sipflow_registrar_settings_default_versioned(                                \
      SIPFLOW_REGISTRAR_SETTINGS_VERSION, (S))

/* ------------------------------------------------------------------------ */
/* Bindings and the change callback                                          */
/* ------------------------------------------------------------------------ */

/**
 * A view of one binding, filled by the library. Its strings point into the
 * library's memory; how long they stay valid is said where a view is given.
 * @since 0.1
 */
typedef struct sipflow_reg_binding {
  uint64_t id;     /**< unique in the registrar, kept across updates */
  sipflow_str aor; /**< canonical AoR (RFC 3261 §10.3 step 5) */
  sipflow_str uri; /**< Contact URI: the request's target */
  /** +sip.instance without quotes and angle brackets; len 0 when none */
  sipflow_str instance;
  uint32_t reg_id;     /**< 1..2^31-1 for an Outbound binding, else 0 */
  int32_t q;           /**< thousandths (0..1000) or SIPFLOW_REG_Q_NONE */
  sipflow_str call_id; /**< of the last update (RFC 3261 §10.3 step 7) */
  uint32_t cseq;       /**< of the last update */
  /** The Path vector as one Route value ("<a>, <b>"), len 0 when none */
  sipflow_str path;
  uint32_t n_path;            /**< number of values in |path| */
  sipflow_str params;         /**< other Contact parameters, as given */
  sipflow_str user_agent;     /**< as given, possibly truncated */
  sipflow_flow_id flow_id;    /**< flow the binding is reached over; 0 none */
  sipflow_flow_tuple flow;    /**< its tuple; transport 0 when not given */
  sipflow_addr received;      /**< source address of the last REGISTER */
  sipflow_flow_health health; /**< as last reported for |flow_id| */
  int outbound; /**< 1: keyed by (AoR, instance, reg-id) (RFC 5626 §6) */
  int ob;       /**< 1: the Contact carried ";ob" */
  sipflow_tstamp expires_at; /**< when it expires */
  sipflow_tstamp updated_at; /**< last REGISTER that added or refreshed it */
  /** Seconds until |expires_at| from the latest time the context has seen,
   * rounded up: the value for the 200 OK's expires parameter. */
  uint32_t expires;
  /** In the change callback: the flow the binding was reached over before
   * this change. It differs from |flow_id| only for SIPFLOW_REG_UPDATED when
   * the binding moved to another flow (a re-REGISTER over a new connection
   * or NAT mapping, RFC 5626 §6): a host that keeps the old flow alive for
   * the binding ends that now. 0 for SIPFLOW_REG_ADDED; elsewhere equal to
   * |flow_id|. @since 0.2 */
  sipflow_flow_id prev_flow_id;
  /** The binding's public GRUU (RFC 5627 §5.1: the AoR with the instance
   * in a "gr" parameter), filled only in a 200's contacts when GRUUs are
   * on (sipflow_registrar_set_gruu()), the REGISTER listed "gruu" in
   * Supported and the binding has an instance; len 0 elsewhere (see
   * sipflow_registrar_gruu() for the others). Valid as the view. @since 0.2
   */
  sipflow_str pub_gruu;
  /** Its temporary GRUU (RFC 5627 §5.1, §5.2), minted for this answer; filled
   * as |pub_gruu| is. @since 0.2 */
  sipflow_str temp_gruu;
  /** The Contact URI's pn-provider parameter (RFC 8599 §4.1.1), pointing into
   * |uri|; len 0 when absent. @since 0.2 */
  sipflow_str pn_provider;
  /** The Contact URI's pn-param parameter; len 0 when absent. @since 0.2 */
  sipflow_str pn_param;
  /** The Contact URI's pn-prid parameter (the push resource id); len 0
   * when absent. @since 0.2 */
  sipflow_str pn_prid;
  /** 1: the binding can be woken by push (pn-provider and pn-prid given,
   * RFC 8599 §5.5, §5.6.2). @since 0.2 */
  int push;
  /** 1: a push-reachable binding whose flow failed: kept, reached only by
   * a push until the UA registers again (RFC 8599 §5.6.2). @since 0.2 */
  int suspended;
} sipflow_reg_binding;

/** Why the change callback was called. @since 0.1 */
typedef enum sipflow_reg_change {
  SIPFLOW_REG_ADDED = 1,     /**< a REGISTER created the binding */
  SIPFLOW_REG_REFRESHED = 2, /**< same content, new CSeq and expiry */
  /** content changed: Contact URI, Call-ID, Path, flow, q, parameters, or
   * its expiry was cut by a flow failure */
  SIPFLOW_REG_UPDATED = 3,
  SIPFLOW_REG_REMOVED = 4,    /**< removed by a REGISTER (expires 0, "*", or
                                   replaced as the oldest) */
  SIPFLOW_REG_EXPIRED = 5,    /**< its time ran out */
  SIPFLOW_REG_FLOW_FAILED = 6 /**< removed because its flow failed (flow
                                   failure report or a 430 on its branch) */
} sipflow_reg_change;

/**
 * The name of a sipflow_reg_change value ("added", "refreshed", "updated",
 * "removed", "expired", "flow-failed"), or NULL for a value the enum does not
 * have. The string is static. Callback-safe. @since 0.2
 */
SIPFLOW_API const char *sipflow_reg_change_name(int change);

/**
 * Change callback: one call per binding changed, after the change is made.
 * @param reg the registrar.
 * @param change what happened.
 * @param binding the whole binding (after the change; for removals, as it
 * was). It and its strings are valid only during the call.
 * @param user_data the registrar's user_data (sipflow_registrar_new()).
 * The callback may call only functions marked callback-safe; it must not
 * delete the registrar or its context.
 * @since 0.1; 0.2 passes the registrar's own user_data, not the context's.
 */
typedef void (*sipflow_reg_change_cb)(sipflow_registrar *reg,
                                      sipflow_reg_change change,
                                      const sipflow_reg_binding *binding,
                                      void *user_data);

/** Why the registrar asks the host for a push (RFC 8599). @since 0.2 */
typedef enum sipflow_reg_push_reason {
  /** A request waits for the UA (RFC 8599 §5.6.2): the plan gave a branch
   * with push set. */
  SIPFLOW_REG_PUSH_CALL = 1,
  /** The binding nears its expiry: the UA should send a binding-refresh
   * REGISTER (RFC 8599 §5.5). */
  SIPFLOW_REG_PUSH_REFRESH = 2
} sipflow_reg_push_reason;

/**
 * The name of a sipflow_reg_push_reason ("call", "refresh"), or NULL for a
 * value the enum does not have. Static. Callback-safe. @since 0.2
 */
SIPFLOW_API const char *sipflow_reg_push_reason_name(int reason);

/**
 * Push callback: send a push notification to the UA of |binding| through
 * the service |binding->pn_provider| with its pn_prid and pn_param
 * (RFC 8599 §5.6.2). The push is the host's I/O: the registrar only says
 * when and to whom.
 * @param binding valid only during the call.
 * The callback may call only callback-safe functions. @since 0.2
 */
typedef void (*sipflow_reg_push_cb)(sipflow_registrar *reg,
                                    sipflow_reg_push_reason reason,
                                    const sipflow_reg_binding *binding,
                                    void *user_data);

/** First version of sipflow_registrar_callbacks. @since 0.1 */
#define SIPFLOW_REGISTRAR_CALLBACKS_V1 1
/** Second version: push. @since 0.2 */
#define SIPFLOW_REGISTRAR_CALLBACKS_V2 2
/** The version this header describes. @since 0.1 */
#define SIPFLOW_REGISTRAR_CALLBACKS_VERSION SIPFLOW_REGISTRAR_CALLBACKS_V2

/** Registrar callbacks. New members are only added at the end. @since 0.1 */
typedef struct sipflow_registrar_callbacks {
  /** optional: every change to a binding. @since 0.1 (named change in 0.1)
   */
  sipflow_reg_change_cb on_change;
  /** optional: a push to send (RFC 8599); without it no binding is pushed
   * and a suspended binding is never tried. @since 0.2 */
  sipflow_reg_push_cb on_push;
} sipflow_registrar_callbacks;

/* ------------------------------------------------------------------------ */
/* The registrar object                                                      */
/* ------------------------------------------------------------------------ */

/**
 * Create a registrar on |ctx| and attach it to the context's timer.
 * @param preg receives the registrar (NULL on error).
 * @param ctx the context; it must outlive the registrar.
 * @param callbacks copied; NULL means none.
 * @param settings copied; NULL means defaults.
 * @param user_data passed to every callback of this registrar (@since 0.2;
 * 0.1 passed the context's).
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (NULL preg or ctx, unknown
 * version, settings out of range: min > max, max_contacts or
 * max_contacts_per_request 0 or over 1024, a length limit 0 or over 65535,
 * too_many_contacts_status outside 400..599, an unknown policy value),
 * SIPFLOW_ERR_NOMEM.
 * Not callback-safe. @since 0.1
 */
SIPFLOW_API SIPFLOW_WARN_UNUSED int sipflow_registrar_new_versioned(
    sipflow_registrar **preg, sipflow_ctx *ctx, int callbacks_version,
    const sipflow_registrar_callbacks *callbacks, int settings_version,
    const sipflow_registrar_settings *settings, void *user_data);
/** Create a registrar with this header's struct versions. @since 0.1 */
#define sipflow_registrar_new(PREG, CTX, CB, SETTINGS, UD)                     \
  sipflow_registrar_new_versioned(                                             \
      (PREG), (CTX), SIPFLOW_REGISTRAR_CALLBACKS_VERSION, (CB),                \
      SIPFLOW_REGISTRAR_SETTINGS_VERSION, (SETTINGS), (UD))

/**
 * Delete a registrar and every binding, without calling the change
 * callback. Every plan from sipflow_registrar_lookup() must have been
 * deleted first. NULL does nothing. Not callback-safe. @since 0.1
 */
SIPFLOW_API void sipflow_registrar_del(sipflow_registrar *reg);

/** Number of bindings held. Callback-safe. @since 0.1 */
SIPFLOW_API size_t
sipflow_registrar_binding_count(const sipflow_registrar *reg);

/** Number of AoRs with at least one binding. Callback-safe. @since 0.1 */
SIPFLOW_API size_t sipflow_registrar_aor_count(const sipflow_registrar *reg);

/**
 * Visitor for sipflow_registrar_foreach().
 * @param binding valid only during the call.
 * @param user_data as given to sipflow_registrar_foreach().
 * @return 0 to go on; any other value stops the walk and is returned.
 * @since 0.1
 */
typedef int (*sipflow_reg_visit_cb)(const sipflow_reg_binding *binding,
                                    void *user_data);

/**
 * Call |visit| for every binding, AoR by AoR in no particular order, after
 * expiring the bindings due at |now| (for a dump, or a snapshot to store).
 * The visitor may call only callback-safe functions.
 * @return 0, the visitor's nonzero value that stopped the walk,
 * SIPFLOW_ERR_INVALID_ARGUMENT (NULL reg or visit),
 * SIPFLOW_ERR_TIME_BACKWARDS, SIPFLOW_ERR_BAD_STATE (called from inside
 * this registrar's own callbacks; from another object's callback, such as
 * the flow table's on_flow_failed, it is allowed).
 * Not callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_registrar_foreach(sipflow_registrar *reg,
                                          sipflow_tstamp now,
                                          sipflow_reg_visit_cb visit,
                                          void *user_data);

/* ------------------------------------------------------------------------ */
/* REGISTER processing                                                       */
/* ------------------------------------------------------------------------ */

/**
 * One Contact of a REGISTER, as the host's parser found it. Fill with
 * sipflow_reg_contact_default() first. @since 0.1
 */
typedef struct sipflow_reg_contact {
  /** The Contact URI (addr-spec, without angle brackets or header
   * parameters). Required. */
  sipflow_str uri;
  /** The +sip.instance value as received, quoted or not ("<urn:...>"),
   * ptr NULL when absent. */
  sipflow_str instance;
  /** The reg-id value as received (text), ptr NULL when absent. The
   * library checks it: 1..2^31-1 digits, else 400. */
  sipflow_str reg_id;
  /** The expires parameter as received (text), ptr NULL when absent.
   * Values over 2^32-1 count as 2^32-1; malformed values as 3600
   * (RFC 3261 §10.2.1.1). */
  sipflow_str expires;
  /** q in thousandths (q=0.5 is 500), 0..1000, or SIPFLOW_REG_Q_NONE. */
  int32_t q;
  /** 1 when the Contact URI carries ";ob". */
  int ob;
  /** Other Contact header parameters, verbatim, stored and given back
   * (";+sip.ice;methods=..."); leave out expires, q, +sip.instance and
   * reg-id. ptr NULL when none. */
  sipflow_str params;
} sipflow_reg_contact;

/** Clear |contact| and set q to SIPFLOW_REG_Q_NONE. Callback-safe.
 * @since 0.1 */
SIPFLOW_API void sipflow_reg_contact_default(sipflow_reg_contact *contact);

/** First version of sipflow_reg_request (and sipflow_reg_contact).
 * @since 0.1 */
#define SIPFLOW_REG_REQUEST_V1 1
/** The version this header describes. @since 0.1 */
#define SIPFLOW_REG_REQUEST_VERSION SIPFLOW_REG_REQUEST_V1

/**
 * The facts of a REGISTER that the host's parser found. Authentication and
 * authorisation (RFC 3261 §10.3 steps 3-4) are the host's, before this.
 * Fill with sipflow_reg_request_default() first. Nothing in it is kept
 * after the call. @since 0.1
 */
typedef struct sipflow_reg_request {
  /** The To URI (the AoR). The library canonicalises it: parameters and
   * headers dropped, escapes decoded, scheme and host in lower case. */
  sipflow_str aor;
  sipflow_str call_id; /**< Call-ID. Required. */
  uint32_t cseq;       /**< CSeq number */
  /** 1 when the request has an Expires header; |expires| is then its value
   * (a host that cannot parse it passes 3600, RFC 3261 §10.2). */
  int has_expires;
  uint32_t expires; /**< Expires header value, seconds */
  /** 1 for "Contact: *". Valid only with no other Contact and an Expires
   * header of 0 (RFC 3261 §10.3 step 6). */
  int wildcard;
  const sipflow_reg_contact *contacts; /**< the Contacts, in order */
  size_t n_contacts;                   /**< 0 = a query */
  /** The Path values, topmost first, each a name-addr ("<sip:...;lr>") or
   * an addr-spec (wrapped in angle brackets when stored). */
  const sipflow_str *path;
  size_t n_path;      /**< number of Path values */
  unsigned supported; /**< SIPFLOW_REG_OPT_* listed in Supported */
  unsigned require;   /**< SIPFLOW_REG_OPT_* listed in Require */
  /** Require tags neither the host nor the library handles: 420. */
  const sipflow_str *require_unknown;
  size_t n_require_unknown; /**< number of tags in |require_unknown| */
  uint32_t via_count;       /**< Via values; 1 = straight from the UA */
  /** The flow new bindings are reached over: the arrival flow when
   * via_count is 1, or the flow a co-located edge found from the token in
   * Path. 0 when none (the Path alone leads to the UA). */
  sipflow_flow_id flow_id;
  /** That flow's tuple; transport 0 when not given. */
  sipflow_flow_tuple flow;
  sipflow_str user_agent; /**< User-Agent, ptr NULL when absent */
  sipflow_addr received;  /**< source address of the request */
} sipflow_reg_request;

/** Clear |req|. Callback-safe. @since 0.1 */
SIPFLOW_API void sipflow_reg_request_default(sipflow_reg_request *req);

/**
 * The answer to a REGISTER. Owned by the registrar; valid, with every
 * binding view it points to, until the next call on the registrar or on its
 * context other than the callback-safe ones.
 * @since 0.1
 */
typedef struct sipflow_reg_result {
  int status;         /**< 200, 400, 403, 420, 421, 423, 439, 500, 503, ... */
  const char *reason; /**< reason phrase, a static NUL-terminated string */
  /** 423: the Min-Expires value. */
  uint32_t min_expires;
  /** 420: SIPFLOW_REG_OPT_* to list in Unsupported. */
  unsigned unsupported;
  /** 420: 1 when every tag of the request's require_unknown goes into
   * Unsupported too. */
  int unsupported_unknown;
  /** 421 and 200: SIPFLOW_REG_OPT_* to list in Require (outbound only when
   * the request's reg-id was honoured and the UA supports it, RFC 5626 §6).
   */
  unsigned require;
  /** SIPFLOW_REG_OPT_* to list in Supported. */
  unsigned supported;
  /** 200: Flow-Timer value to send, 0 = none. */
  uint32_t flow_timer;
  /** 200: 1 when the request's Path values go into the response
   * (RFC 3327 §5.3). */
  int echo_path;
  /** 200: every current binding of the AoR, each with the expires value to
   * put on its Contact (RFC 3261 §10.3 step 8). */
  const sipflow_reg_binding *contacts;
  size_t n_contacts; /**< number of |contacts| */
  /** 200: the push service the request named, when the registrar supports
   * it: the value for Feature-Caps "+sip.pns" (RFC 8599 §5.4, §8.2); len 0 when
   * none. For a query with an empty pn-provider (RFC 8599 §4.1.5,
   * §5.6.1.2) the whole settings.push_providers list ("apns,fcm:300"),
   * one Feature-Caps header per name. Points into the registrar's copy of
   * the settings. @since 0.2 */
  sipflow_str pns;
  /** 200 with |pns|: the "+sip.pnsreg" value, seconds before expiry the
   * registrar asks for a refresh push; 0: none offered. @since 0.2 */
  uint32_t pnsreg;
} sipflow_reg_result;

/**
 * Apply a REGISTER, all or nothing (RFC 3261 §10.3).
 *
 * Every status is a result, not an error: the function returns 0 and
 * |*result| says what to answer. On any non-200 status nothing changed.
 * @param reg the registrar.
 * @param request_version SIPFLOW_REG_REQUEST_VERSION (use the macro).
 * @param req the facts; nothing in it is kept.
 * @param now the current time.
 * @param result receives the answer (see sipflow_reg_result for lifetime).
 * @return 0; SIPFLOW_ERR_NOMEM (nothing changed, the registrar stays
 * usable, |*result| is a 500); SIPFLOW_ERR_TIME_BACKWARDS (nothing done,
 * |*result| is a 500); SIPFLOW_ERR_INVALID_ARGUMENT (NULL argument or an
 * unknown version; |*result| is NULL if |result| was given but reg was not);
 * SIPFLOW_ERR_BAD_STATE (called from inside a callback).
 * Not callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_registrar_process_versioned(
    sipflow_registrar *reg, int request_version, const sipflow_reg_request *req,
    sipflow_tstamp now, const sipflow_reg_result **result);
/** Apply a REGISTER with this header's request version. @since 0.1 */
#define sipflow_registrar_process(REG, REQ, NOW, RESULT)                       \
  sipflow_registrar_process_versioned((REG), SIPFLOW_REG_REQUEST_VERSION,      \
                                      (REQ), (NOW), (RESULT))

/** sipflow_registrar_process_facts() fact: the REGISTER carries a
 * Feature-Caps header field with a "+sip.pns" indicator
 * (sipflow_reg_feature_caps_pns()), so a proxy between the UA and this
 * registrar pushes to the UA itself (RFC 8599 §5.6.1.1). The registrar
 * then skips its own push procedures for the request: no 555, no
 * Feature-Caps in the 2xx, and the request's bindings are ordinary ones
 * (never suspended or pushed to). @since 0.2 */
#define SIPFLOW_REG_FACT_PNS_IN_FRONT 1u

/**
 * sipflow_registrar_process_versioned() with facts of the REGISTER that
 * sipflow_reg_request has no field for, so that its layout (embedded in
 * the adapters' structs) stays as in 0.1.
 * @param facts SIPFLOW_REG_FACT_* bits, or 0 (then the same as
 * sipflow_registrar_process_versioned()); unknown bits are ignored.
 * Other parameters, return and errors as sipflow_registrar_process_versioned().
 * @since 0.2
 */
SIPFLOW_API int sipflow_registrar_process_facts(
    sipflow_registrar *reg, int request_version, const sipflow_reg_request *req,
    unsigned facts, sipflow_tstamp now, const sipflow_reg_result **result);

/**
 * Whether one Feature-Caps header field value (RFC 6809 §6: "*" then
 * ";+name[=\"value\"]" indicators) holds the "+sip.pns" indicator of
 * RFC 8599 §8.2 ("+sip.pnsreg" and the like are other indicators).
 * @param value the header field value, without the name; need not be
 * NUL-terminated.
 * @param len its length.
 * @return 1 when it does, 0 when not (or value is NULL). Callback-safe.
 * @since 0.2
 */
SIPFLOW_API int sipflow_reg_feature_caps_pns(const char *value, size_t len);

/* ------------------------------------------------------------------------ */
/* Text for hosts with their own SIP parser                                  */
/* ------------------------------------------------------------------------ */

/**
 * Read a q-value (RFC 3261 §25.1: "0" to "1" with up to three decimals)
 * into thousandths, as sipflow_reg_contact.q wants it: "0.5" is 500, "1" is
 * 1000.
 * @param s the value, without the "q="; need not be NUL-terminated.
 * @param len its length.
 * @param q receives the value; untouched on error.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (NULL s or q),
 * SIPFLOW_ERR_MALFORMED (not a qvalue). Callback-safe. @since 0.2
 */
SIPFLOW_API int sipflow_reg_q_parse(const char *s, size_t len, int32_t *q);

/**
 * Fill a sipflow_reg_contact from one Contact header field value, for a
 * host whose parser gives header values as text (RFC 3261 §20.10, §25.1):
 * a name-addr with an optional display name (`"Bob" <sip:bob@host;ob>`) or
 * an addr-spec (`sip:bob@host`, whose every ';' parameter belongs to the
 * header field), then its parameters. expires, +sip.instance (as received,
 * quotes included), reg-id and q (converted to thousandths) go into their
 * members, ob is read from the URI's own parameters, and every other
 * parameter is copied, with its leading ';', into |params_buf| for
 * |contact->params|. Names are matched case-insensitively; the first of a
 * repeated parameter wins. The registrar checks the values themselves
 * (reg-id's range, expires, the instance URN).
 *
 * A header field with several values ("<a>, <b>") is read one value a call:
 * |*consumed| says where the next begins. The wildcard "*" is not a
 * Contact: a host recognises it itself (sipflow_reg_request.wildcard).
 * @param value the header field value; need not be NUL-terminated.
 * @param len its length.
 * @param contact filled (sipflow_reg_contact_default() first); its strings
 * point into |value| and |params_buf|, which must outlive its use.
 * @param params_buf receives the other parameters; may be NULL with
 * |params_cap| 0 when none are expected.
 * @param params_cap its size in bytes.
 * @param consumed receives how many bytes of |value| this Contact took,
 * with the ',' after it; may be NULL.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (NULL value or contact, NULL
 * params_buf with a nonzero capacity), SIPFLOW_ERR_MALFORMED (no URI,
 * an unterminated quoted string or '<', a parameter without a name or with
 * an empty value, a q that is not a qvalue, text where a ';' or ',' should
 * be, the wildcard), SIPFLOW_ERR_BUFFER_TOO_SMALL (the other parameters do
 * not fit). Callback-safe. @since 0.2
 */
SIPFLOW_API int sipflow_reg_contact_parse(const char *value, size_t len,
                                          sipflow_reg_contact *contact,
                                          char *params_buf, size_t params_cap,
                                          size_t *consumed);

/**
 * Write the header fields that go with a registrar's answer, one per line
 * ending in CRLF, for a host that builds the response with its own code
 * (RFC 3261 §10.3 step 8, RFC 5626 §6, RFC 3327 §5.3): for 200, one Contact
 * per current binding with its expires, +sip.instance, reg-id, q and other
 * parameters, the request's Path values echoed when the result says so,
 * `Require: outbound`, `Flow-Timer`, `Feature-Caps` with +sip.pns and
 * +sip.pnsreg (RFC 8599 §5.6.1.1, §8.4) when the result names a push service;
 * for 423, `Min-Expires`; for 420, `Unsupported` with the options and, when the
 * result says so, each unknown Require tag of the request; for 421, `Require`;
 * then `Supported`. The host adds the status line, Via, From, To (with its
 * tag), Call-ID, CSeq and Content-Length.
 * @param result from sipflow_registrar_process(), still valid.
 * @param req the request given to it (for the Path values to echo and the
 * unknown Require tags); may be NULL when neither applies.
 * @param buf receives the text and a terminating NUL.
 * @param buflen its size; 4096 holds the answer for 16 ordinary Contacts.
 * @param outlen receives the length without the NUL; may be NULL.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (NULL result or buf, buflen 0),
 * SIPFLOW_ERR_BUFFER_TOO_SMALL (|buf| holds a truncated, NUL-terminated
 * text that must not be sent). Callback-safe. @since 0.2
 */
SIPFLOW_API int sipflow_reg_answer_format(const sipflow_reg_result *result,
                                          const sipflow_reg_request *req,
                                          char *buf, size_t buflen,
                                          size_t *outlen);

/**
 * Report that a flow failed (RFC 5626 §7): every binding on it, whatever
 * its AoR, is removed (SIPFLOW_REG_FLOW_FAILED) or, under
 * SIPFLOW_REG_DEAD_FLOW_SHORTEN, marked dead with its expiry cut
 * (SIPFLOW_REG_UPDATED). Takes time proportional to the bindings on the
 * flow.
 * @return 0, SIPFLOW_ERR_NOT_FOUND (no binding uses the flow),
 * SIPFLOW_ERR_INVALID_ARGUMENT (NULL reg, flow_id 0),
 * SIPFLOW_ERR_TIME_BACKWARDS, SIPFLOW_ERR_BAD_STATE (inside a callback).
 * Not callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_registrar_flow_failed(sipflow_registrar *reg,
                                              sipflow_flow_id flow_id,
                                              sipflow_tstamp now);

/**
 * One binding's flow failed although this registrar does not hold the flow:
 * a request sent through the binding's Path got 430 from the edge, or
 * keepalives sent through it went unanswered (RFC 5626 §7, §5.3). The
 * binding goes as in sipflow_registrar_flow_failed() (removed, or shortened
 * under SIPFLOW_REG_DEAD_FLOW_SHORTEN); the change callback sees
 * SIPFLOW_REG_FLOW_FAILED (or UPDATED) before the call returns.
 * @param aor the binding's AoR, canonicalised as in REGISTER; read only
 * during the call.
 * @param binding_id sipflow_reg_binding.id, as the change callback gave it.
 * @return 0, SIPFLOW_ERR_NOT_FOUND (no such binding of that AoR, e.g. gone
 * already), SIPFLOW_ERR_MALFORMED (|aor| is not a SIP URI or is longer than
 * max_aor_len), SIPFLOW_ERR_INVALID_ARGUMENT (NULL, id 0),
 * SIPFLOW_ERR_TIME_BACKWARDS, SIPFLOW_ERR_BAD_STATE (inside a callback).
 * Takes time proportional to the AoR's bindings. Not callback-safe.
 * @since 0.2
 */
SIPFLOW_API int sipflow_registrar_binding_failed(sipflow_registrar *reg,
                                                 sipflow_str aor,
                                                 uint64_t binding_id,
                                                 sipflow_tstamp now);

/**
 * How many bindings use |flow_id|, whatever their AoR: what a host asks
 * before it forgets a flow, since a binding whose flow is gone is skipped
 * by every plan. Takes time proportional to the bindings on the flow.
 * @return the count; 0 for a NULL |reg|, flow_id 0, or an unused flow.
 * Callback-safe. @since 0.1
 */
SIPFLOW_API size_t sipflow_registrar_flow_binding_count(
    const sipflow_registrar *reg, sipflow_flow_id flow_id);

/**
 * Report a flow's health (from the keepalive scheduler) so that target
 * plans try healthy flows first and skip dead ones. Not reported through
 * the change callback.
 * @return 0, SIPFLOW_ERR_NOT_FOUND (no binding uses the flow),
 * SIPFLOW_ERR_INVALID_ARGUMENT (NULL reg, flow_id 0, unknown health),
 * SIPFLOW_ERR_TIME_BACKWARDS, SIPFLOW_ERR_BAD_STATE (inside a callback).
 * Not callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_registrar_flow_health(sipflow_registrar *reg,
                                              sipflow_flow_id flow_id,
                                              sipflow_flow_health health,
                                              sipflow_tstamp now);

/* ------------------------------------------------------------------------ */
/* GRUUs (RFC 5627)                                                          */
/* ------------------------------------------------------------------------ */

/**
 * Turn GRUUs on (or off, with NULL). With a key ring, a REGISTER that lists
 * "gruu" in Supported (SIPFLOW_REG_OPT_GRUU) gets, on each Contact of the
 * 200 that has a +sip.instance, its public GRUU ("sip:AoR;gr=urn:...",
 * RFC 5627 §3.1.1, §5.1) and a temporary GRUU ("sip:tgruu.TOKEN@domain;gr",
 * §3.1.2, §5.4), and "gruu" is listed in Supported of every answer.
 *
 * A temporary GRUU holds, encrypted and authenticated with the ring's
 * current key, the AoR, the instance, a hash of the REGISTER's Call-ID and
 * its CSeq: every REGISTER gets a new one, nobody can make one or read the
 * AoR out of it without the key, and any node sharing the ring verifies it
 * without state. It stays valid while a binding of the instance has that
 * Call-ID, so a REGISTER with a new Call-ID invalidates every earlier one
 * (§5.1); docs/gruu.md has the format and the decisions.
 * @param reg the registrar.
 * @param kr the key ring (the flow tokens' ring will do: the GRUU keys are
 * derived from it for this use alone); it must outlive the registrar or
 * the next call of this function. NULL turns GRUUs off.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (NULL reg), SIPFLOW_ERR_NOMEM
 * (scratch of about 1.6 KiB per max_contacts with the default limits).
 * Not callback-safe. @since 0.2
 */
SIPFLOW_API int sipflow_registrar_set_gruu(sipflow_registrar *reg,
                                           const sipflow_keyring *kr);

/**
 * Write a binding's public and temporary GRUUs (RFC 5627 §5.1, §5.4), for
 * a binding view from anywhere (a dump, the change callback). The
 * temporary GRUU is a new one each call, valid as every other minted for
 * the binding's Call-ID.
 * @param reg the registrar, with GRUUs on.
 * @param binding a view (its aor, instance, call_id and cseq are read).
 * @param buf receives both URIs, not NUL-terminated; 2048 bytes hold them
 * with the default limits.
 * @param cap its size.
 * @param pub receives the public GRUU (pointing into |buf|).
 * @param temp receives the temporary GRUU (pointing into |buf|).
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (a NULL argument),
 * SIPFLOW_ERR_BAD_STATE (GRUUs are off), SIPFLOW_ERR_NOT_FOUND (the binding
 * has no instance), SIPFLOW_ERR_MALFORMED (its AoR is not a SIP URI),
 * SIPFLOW_ERR_BUFFER_TOO_SMALL, SIPFLOW_ERR_INTERNAL (libsodium failed).
 * Callback-safe. @since 0.2
 */
SIPFLOW_API int sipflow_registrar_gruu(const sipflow_registrar *reg,
                                       const sipflow_reg_binding *binding,
                                       char *buf, size_t cap, sipflow_str *pub,
                                       sipflow_str *temp);

/**
 * Whether |uri| is a SIP or SIPS URI with a "gr" parameter: a GRUU to
 * look up with sipflow_registrar_lookup_gruu() rather than
 * sipflow_registrar_lookup() (RFC 5627 §3.1: "gr" is what marks one).
 * Callback-safe. @since 0.2
 */
SIPFLOW_API int sipflow_reg_uri_is_gruu(sipflow_str uri);

/**
 * Look up a GRUU and build the target plan of its instance alone (RFC 5627
 * §6.1 restricts the targets to the contacts of the instance the GRUU
 * names): the instance's flows, one at a time, the next only after 430 or
 * 408 (RFC 5626 §7), as in sipflow_registrar_lookup(). Finding the
 * instance costs a hash lookup of the AoR and a walk over its bindings (at
 * most max_contacts); a temporary GRUU costs a decryption too.
 * @param reg the registrar, with GRUUs on.
 * @param uri the Request-URI: a public GRUU ("sip:AoR;gr=INSTANCE", the
 * instance %-escaped where a URI needs it) or a temporary one we minted.
 * @param now the current time (bindings due to expire are expired first).
 * @param pplan receives the plan; delete it with sipflow_reg_plan_del().
 * @return 0; SIPFLOW_ERR_NOT_FOUND (a valid GRUU whose instance has no
 * binding now: 480); SIPFLOW_ERR_TAMPERED (a temporary GRUU we did not
 * mint, or minted with a key no longer in the ring: 404);
 * SIPFLOW_ERR_STALE (a temporary GRUU the instance invalidated by
 * registering with another Call-ID, RFC 5627 §5.1, §6.1: 404);
 * SIPFLOW_ERR_MALFORMED (not a SIP URI, no "gr" parameter, a public GRUU
 * whose "gr" has no value, or longer than the limits: 404);
 * SIPFLOW_ERR_BAD_STATE (GRUUs are off, or inside a callback);
 * SIPFLOW_ERR_NOMEM; SIPFLOW_ERR_INVALID_ARGUMENT;
 * SIPFLOW_ERR_TIME_BACKWARDS. sipflow_reg_gruu_status() maps them.
 * Not callback-safe. @since 0.2
 */
SIPFLOW_API SIPFLOW_WARN_UNUSED int
sipflow_registrar_lookup_gruu(sipflow_registrar *reg, sipflow_str uri,
                              sipflow_tstamp now, sipflow_reg_plan **pplan);

/**
 * The SIP status to answer for a sipflow_registrar_lookup_gruu() result
 * that is not 0 (RFC 5627 §6.1): 480 for SIPFLOW_ERR_NOT_FOUND (the
 * instance exists but has no contact now), 404 for SIPFLOW_ERR_TAMPERED,
 * SIPFLOW_ERR_STALE and SIPFLOW_ERR_MALFORMED (not a valid GRUU), 500 for
 * any other error, 0 for 0. Callback-safe. @since 0.2
 */
SIPFLOW_API int sipflow_reg_gruu_status(int lookup_result);

/* ------------------------------------------------------------------------ */
/* Target plans (RFC 5626 §7)                                                */
/* ------------------------------------------------------------------------ */

/**
 * One branch to send. Owned by the plan: see where it is given for how
 * long it stays valid.
 * @since 0.1
 */
typedef struct sipflow_reg_branch {
  uint32_t id;    /**< pass to sipflow_reg_plan_report() */
  uint32_t group; /**< q group, 0 first */
  /** The binding: R-URI = uri; Route = path (put before any other Route);
   * send over flow_id when the host owns it. Valid until the plan is
   * deleted. */
  const sipflow_reg_binding *binding;
  /** 1: do not send: the push callback has just asked for a push to the
   * binding's UA; hold the request until sipflow_reg_plan_woken() gives the
   * branch to send, or report 480 when the host's wait runs out
   * (RFC 8599 §5.6.2). @since 0.2 */
  int push;
} sipflow_reg_branch;

/**
 * Look up an AoR and build its target plan: branches grouped by q (highest
 * first; a Contact without q counts as 1.0), equal q in parallel, one flow
 * per instance at a time (an instance sits in the group of its highest q),
 * each Contact without an instance its own branch. Within an instance the
 * flows go healthy, unknown, suspect (dead flows are skipped), then by the
 * flow_order policy.
 *
 * The plan is a snapshot: a binding removed or replaced afterwards is
 * skipped, and bindings added afterwards are not in it.
 * @param reg the registrar.
 * @param uri the Request-URI or AoR; canonicalised as in REGISTER.
 * @param now the current time (bindings due to expire are expired first).
 * @param pplan receives the plan; delete it with sipflow_reg_plan_del()
 * before the registrar.
 * @return 0, SIPFLOW_ERR_NOT_FOUND (no binding for the AoR; *pplan NULL),
 * SIPFLOW_ERR_MALFORMED (not a SIP or SIPS URI, or longer than
 * max_aor_len), SIPFLOW_ERR_NOMEM, SIPFLOW_ERR_INVALID_ARGUMENT,
 * SIPFLOW_ERR_TIME_BACKWARDS, SIPFLOW_ERR_BAD_STATE (inside a callback).
 * Not callback-safe. @since 0.1
 */
SIPFLOW_API SIPFLOW_WARN_UNUSED int
sipflow_registrar_lookup(sipflow_registrar *reg, sipflow_str uri,
                         sipflow_tstamp now, sipflow_reg_plan **pplan);

/**
 * Look up several AoRs in one call: for each i, what
 * sipflow_registrar_lookup(reg, uris[i], now, &plans[i]) gives, in order.
 * A single lookup waits for main memory twice, one load after another (the
 * AoR table's slot, then the AoR's record and bindings); here the loads of
 * up to eight lookups are in flight together, so a host holding several
 * requests at once (a batch of datagrams read together, say) gets their
 * plans for a fraction of the memory waits. docs/registrar.md has figures.
 * @param reg the registrar.
 * @param uris |n| Request-URIs or AoRs, canonicalised as in REGISTER.
 * @param n how many; 0 does nothing but expire what is due.
 * @param now the current time (bindings due to expire are expired first).
 * @param plans receives |n| plans; plans[i] is NULL unless results[i] is 0.
 * Delete each with sipflow_reg_plan_del().
 * @param results receives |n| codes, each what sipflow_registrar_lookup()
 * would return for uris[i]: 0, SIPFLOW_ERR_NOT_FOUND, SIPFLOW_ERR_MALFORMED,
 * SIPFLOW_ERR_NOMEM.
 * @return 0 (then see results), SIPFLOW_ERR_INVALID_ARGUMENT (NULL reg, or
 * NULL arrays with n > 0), SIPFLOW_ERR_TIME_BACKWARDS,
 * SIPFLOW_ERR_BAD_STATE (inside a callback), SIPFLOW_ERR_NOMEM (the first
 * batched call makes a scratch of 8 x max_aor_len bytes, kept until the
 * registrar goes); on an error every plans[i] is NULL.
 * Not callback-safe. @since 0.1
 */
SIPFLOW_API SIPFLOW_WARN_UNUSED int
sipflow_registrar_lookup_batch(sipflow_registrar *reg, const sipflow_str *uris,
                               size_t n, sipflow_tstamp now,
                               sipflow_reg_plan **plans, int *results);

/**
 * Start the next q group: one branch per instance (its best usable flow)
 * and one per Contact without an instance. Call it first, and again once
 * every branch of the group has its final response and none was 2xx or
 * 6xx. Groups whose every flow is known dead are passed over.
 * @param branches receives an array owned by the plan, valid until the next
 * call of this function; NULL when *n is 0.
 * @param n receives the number of branches; 0 when the plan is exhausted or
 * finished (then answer with sipflow_reg_plan_final_status()).
 * @return 0, SIPFLOW_ERR_BAD_STATE (branches of the current group still
 * wait for a final response), SIPFLOW_ERR_INVALID_ARGUMENT.
 * Not callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_reg_plan_next_group(sipflow_reg_plan *plan,
                                            const sipflow_reg_branch **branches,
                                            size_t *n);

/**
 * Report a branch's final response (a locally generated timeout is 408).
 *   - 430 or 408 on a push-reachable binding's flow, when the push callback
 *     is set: the binding is suspended (kept, SIPFLOW_REG_UPDATED), the
 *     push callback is called, and |*next| is the same branch again with
 *     push set (RFC 8599 §5.6.2).
 *   - 430: the binding is removed (SIPFLOW_REG_FLOW_FAILED) and the next
 *     usable flow of the same instance, if any, is given in |*next|.
 *   - 408: the next usable flow of the same instance, if any, is given; the
 *     binding stays (RFC 5626 §7).
 *   - 2xx or 6xx: the plan is finished (no more branches or groups).
 *   - any other: the instance has answered; none of its flows is tried.
 * @param next receives the branch to send now, or NULL; owned by the plan,
 * valid until the next call of this function.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (unknown branch id, status not
 * 200..699), SIPFLOW_ERR_BAD_STATE (the branch already has a final response,
 * or inside a callback), SIPFLOW_ERR_TIME_BACKWARDS.
 * Not callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_reg_plan_report(sipflow_reg_plan *plan,
                                        uint32_t branch_id, int status,
                                        sipflow_tstamp now,
                                        const sipflow_reg_branch **next);

/**
 * A push branch's UA registered again (the change callback reported its
 * binding, same id, with a live flow): get the branch to send the held
 * request on now (RFC 8599 §5.6.2). A REGISTER with the same instance and
 * reg-id, or without an instance but with the same pn-provider, pn-prid and
 * pn-param (RFC 8599 §5.3; any Contact URI), keeps the binding's id. A UA
 * that registered a new binding (another id, e.g. a new pn-prid without an
 * instance) is not in this plan: look the AoR up again.
 * @param branch_id a branch given with push set and not yet reported.
 * @param next receives the branch to send (push 0, same id), owned by the
 * plan, valid until the next call of this function.
 * @return 0, SIPFLOW_ERR_NOT_FOUND (the binding is still suspended or is
 * gone: keep waiting, or report 480), SIPFLOW_ERR_INVALID_ARGUMENT
 * (unknown branch id, or not a push branch), SIPFLOW_ERR_BAD_STATE (the
 * branch already has a final response, or inside a callback),
 * SIPFLOW_ERR_TIME_BACKWARDS. Not callback-safe. @since 0.2
 */
SIPFLOW_API int sipflow_reg_plan_woken(sipflow_reg_plan *plan,
                                       uint32_t branch_id, sipflow_tstamp now,
                                       const sipflow_reg_branch **next);

/** Branches started whose final response has not been reported.
 * Callback-safe. @since 0.1 */
SIPFLOW_API size_t sipflow_reg_plan_pending(const sipflow_reg_plan *plan);

/**
 * The status to send upstream once the plan has nothing left: the best
 * final response reported (sipflow_reg_response_pick()) as mapped by
 * sipflow_reg_response_upstream(), or 480 when no branch was ever sent or
 * every flow failed. Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_reg_plan_final_status(const sipflow_reg_plan *plan);

/**
 * Delete a plan; bindings it alone still held are freed. NULL does
 * nothing. Not callback-safe. @since 0.1
 */
SIPFLOW_API void sipflow_reg_plan_del(sipflow_reg_plan *plan);

/* ------------------------------------------------------------------------ */
/* Choosing the response to forward                                          */
/* ------------------------------------------------------------------------ */

/**
 * Of two final responses, the one a forking proxy prefers (RFC 3261 §16.7
 * step 6): 2xx, then 6xx, then the lowest class; within 4xx, 401, 407, 415,
 * 420 and 484 first and 430 after every other 4xx (RFC 5626 §11.5). On a
 * tie the first wins. 0 stands for "none yet".
 * @return |best| or |candidate|. Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_reg_response_pick(int best, int candidate);

/**
 * The status to forward upstream for a chosen response: 430 becomes 480
 * (endpoints must never see 430, RFC 5626 §11.5) and 503 becomes 500
 * (RFC 3261 §16.7 step 6); others are unchanged. Callback-safe.
 * @since 0.1
 */
SIPFLOW_API int sipflow_reg_response_upstream(int status);

#ifdef __cplusplus
}
#endif

#endif /* SIPFLOW_REGISTRAR_H */
