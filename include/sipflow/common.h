/*
 * libsipflow: common definitions shared by every module.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_COMMON_H
#define SIPFLOW_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @file common.h
 * Export macro, error codes, allocator hooks, time types, addresses, the
 * context that owns the host's single timer, and the version query.
 *
 * Threading: libsipflow has no global mutable state and creates no threads.
 * A sipflow_ctx and every object created from it must be used by one thread
 * at a time; distinct contexts are independent and may be used concurrently.
 * Callbacks run synchronously on the calling thread from inside the call that
 * triggered them.
 *
 * Re-entrancy, one rule for every object (docs/guide.md): from inside a
 * callback of object X the host may call any function of the other objects,
 * and on X only the functions marked Callback-safe; a call on X that is not
 * callback-safe returns SIPFLOW_ERR_BAD_STATE and does nothing. The context
 * counts as X for every object on it: sipflow_ctx_handle_expiry() from
 * inside any callback returns SIPFLOW_ERR_BAD_STATE. Never delete X or the
 * context from inside X's callbacks.
 */

/**
 * Marks a function the library exports. The shared library is built with
 * hidden visibility, so only functions carrying this macro are visible;
 * define SIPFLOW_STATICLIB when linking the static library on Windows.
 * @since 0.1
 */
#if defined(SIPFLOW_STATICLIB)
#define SIPFLOW_API
#elif defined(_WIN32)
#ifdef BUILDING_SIPFLOW
#define SIPFLOW_API __declspec(dllexport)
#else
#define SIPFLOW_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) || defined(__clang__)
#define SIPFLOW_API __attribute__((visibility("default")))
#else
#define SIPFLOW_API
#endif

/**
 * Marks a function whose result must be used (a constructor whose failure
 * leaves the out-pointer NULL): GCC and Clang warn when it is ignored.
 * @since 0.1
 */
#if defined(__GNUC__) || defined(__clang__)
#define SIPFLOW_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define SIPFLOW_WARN_UNUSED
#endif

/* ------------------------------------------------------------------------ */
/* Strings                                                                    */
/* ------------------------------------------------------------------------ */

/**
 * A string: pointer and length, not NUL-terminated. Every string field that
 * crosses the API has this type; functions take the same pair as two
 * arguments (const char *, size_t). A string the library gives the host is
 * valid for as long as the call or object that gave it says; a string the
 * host gives is copied unless the function says otherwise.
 * @since 0.2 (0.1 called it sipflow_str, in registrar.h)
 */
typedef struct sipflow_str {
  const char *ptr; /**< first byte; NULL when absent */
  size_t len;      /**< length in bytes; 0 when absent */
} sipflow_str;

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/**
 * The one list of error codes: X(NAME, value, message).
 *
 * Codes at or below SIPFLOW_ERR_FATAL (out of memory, a callback's failure,
 * an internal error) are not caused by the call's input; codes above it are.
 * Either way a failing call leaves its object as it was before the call.
 * New codes are added at the end of their group, never renumbered.
 * @since 0.1
 */
#define SIPFLOW_ERRNO_MAP(X)                                                   \
  X(INVALID_ARGUMENT, -201, "invalid argument")                                \
  X(BUFFER_TOO_SMALL, -202, "output buffer too small")                         \
  X(MALFORMED, -203, "malformed input")                                        \
  X(TOO_LARGE, -204, "input larger than the configured limit")                 \
  X(UNSUPPORTED, -205, "unsupported value or version")                         \
  X(NOT_FOUND, -206, "no such object")                                         \
  X(EXISTS, -207, "object already exists")                                     \
  X(LIMIT, -208, "configured limit reached")                                   \
  X(TAMPERED, -209, "authentication check failed")                             \
  X(STALE, -210, "object is no longer valid")                                  \
  X(BAD_STATE, -211, "call not allowed in the object's current state")         \
  X(TIME_BACKWARDS, -212, "timestamp earlier than one already seen")           \
  X(NOMEM, -501, "out of memory")                                              \
  X(CALLBACK_FAILURE, -502, "a callback reported failure")                     \
  X(INTERNAL, -503, "internal error")

/** Error codes. 0 is success; every error is negative. @since 0.1 */
enum sipflow_error {
  SIPFLOW_OK = 0,
#define SIPFLOW_ERR_ENUM_(name, val, msg) SIPFLOW_ERR_##name = (val),
  SIPFLOW_ERRNO_MAP(SIPFLOW_ERR_ENUM_)
#undef SIPFLOW_ERR_ENUM_
};

/**
 * Codes less than or equal to this are "fatal": resource or programming
 * trouble (out of memory, a callback's failure, an internal error), not bad
 * input, so retrying with other input does not help. Unlike nghttp2's fatal
 * codes they do not poison the object: a call that fails with one leaves its
 * object as it was before the call, still usable (the out-of-memory sweeps
 * check this). @since 0.1
 */
#define SIPFLOW_ERR_FATAL (-500)

/**
 * A human-readable message for an error code.
 * @param err any int; unknown codes give "unknown error".
 * @return a static string, never NULL. Callback-safe. @since 0.1
 */
SIPFLOW_API const char *sipflow_strerror(int err);

/**
 * The symbolic name of an error code, e.g. "SIPFLOW_ERR_NOMEM".
 * @param err any int; 0 gives "SIPFLOW_OK", unknown codes
 * "SIPFLOW_ERR_UNKNOWN".
 * @return a static string, never NULL. Callback-safe. @since 0.1
 */
SIPFLOW_API const char *sipflow_err_name(int err);

/**
 * Whether an error code is fatal (<= SIPFLOW_ERR_FATAL): resource or
 * programming trouble rather than bad input; the object stays usable.
 * @return 1 if fatal, 0 otherwise (including 0 and positive values).
 * Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_err_is_fatal(int err);

/* ------------------------------------------------------------------------ */
/* Allocator                                                                 */
/* ------------------------------------------------------------------------ */

/** Allocate |size| bytes; may return NULL. @since 0.1 */
typedef void *(*sipflow_malloc_fn)(size_t size, void *user_data);
/** Free |ptr| (NULL allowed). @since 0.1 */
typedef void (*sipflow_free_fn)(void *ptr, void *user_data);
/** Allocate |nmemb| * |size| zeroed bytes; may return NULL. @since 0.1 */
typedef void *(*sipflow_calloc_fn)(size_t nmemb, size_t size, void *user_data);
/** Resize |ptr| to |size| bytes; may return NULL, leaving |ptr| valid. @since
 * 0.1 */
typedef void *(*sipflow_realloc_fn)(void *ptr, size_t size, void *user_data);

/**
 * Allocator hooks. Every object is allocated through the hooks given at its
 * creation; the library copies this struct and keeps no pointer to it.
 * @since 0.1
 */
typedef struct sipflow_mem {
  void *user_data;            /**< passed to every hook */
  sipflow_malloc_fn malloc;   /**< required */
  sipflow_free_fn free;       /**< required */
  sipflow_calloc_fn calloc;   /**< required */
  sipflow_realloc_fn realloc; /**< required */
} sipflow_mem;

/**
 * The default allocator (libc malloc, free, calloc, realloc).
 * @return a pointer to a static struct; never NULL. Callback-safe. @since 0.1
 */
SIPFLOW_API const sipflow_mem *sipflow_mem_default(void);

/* ------------------------------------------------------------------------ */
/* Time                                                                      */
/* ------------------------------------------------------------------------ */

/**
 * A point in time, in nanoseconds on a monotonic clock with an arbitrary
 * epoch (uv_hrtime(), su_monotime(), CLOCK_MONOTONIC). Never goes backwards
 * between calls on one context. SIPFLOW_TSTAMP_NONE means "no deadline".
 * @since 0.1
 */
typedef uint64_t sipflow_tstamp;
/** A length of time in nanoseconds. @since 0.1 */
typedef uint64_t sipflow_duration;

/** "No deadline": the host disarms its timer. @since 0.1 */
#define SIPFLOW_TSTAMP_NONE UINT64_MAX
/** One nanosecond. @since 0.1 */
#define SIPFLOW_NANOSECONDS ((sipflow_duration)1ULL)
/** One microsecond in nanoseconds. @since 0.1 */
#define SIPFLOW_MICROSECONDS ((sipflow_duration)1000ULL)
/** One millisecond in nanoseconds. @since 0.1 */
#define SIPFLOW_MILLISECONDS ((sipflow_duration)1000000ULL)
/** One second in nanoseconds. @since 0.1 */
#define SIPFLOW_SECONDS ((sipflow_duration)1000000000ULL)

/**
 * Time from |now| until |deadline| in whole milliseconds, rounded up so that a
 * timer armed with it never fires before the deadline.
 * @return 0 if the deadline has passed, UINT64_MAX for SIPFLOW_TSTAMP_NONE.
 * Callback-safe. @since 0.1
 */
SIPFLOW_API uint64_t sipflow_ms_until(sipflow_tstamp deadline,
                                      sipflow_tstamp now);

/**
 * Time from |now| until |deadline| in nanoseconds, for arming a one-shot
 * timer that treats 0 as "disarm" (timerfd_settime(), kqueue's EVFILT_TIMER
 * with NOTE_NSECONDS): a deadline that has passed gives 1, so the timer fires
 * at once instead of never, which would stall every probe and expiry.
 * @return at least 1; UINT64_MAX for SIPFLOW_TSTAMP_NONE (disarm).
 * Callback-safe. @since 0.2
 */
SIPFLOW_API uint64_t sipflow_ns_until_armed(sipflow_tstamp deadline,
                                            sipflow_tstamp now);

/* ------------------------------------------------------------------------ */
/* Logging and randomness                                                    */
/* ------------------------------------------------------------------------ */

/** Log levels, most severe first. @since 0.1 */
typedef enum sipflow_log_level {
  SIPFLOW_LOG_ERROR = 0,
  SIPFLOW_LOG_WARN = 1,
  SIPFLOW_LOG_INFO = 2,
  SIPFLOW_LOG_DEBUG = 3
} sipflow_log_level;

/**
 * The name of a sipflow_log_level value ("error", "warn", "info", "debug"), or
 * NULL for a value the enum does not have. The string is static. Callback-safe.
 * @since 0.2
 */
SIPFLOW_API const char *sipflow_log_level_name(int level);

/**
 * Log callback. |msg| is a NUL-terminated line without a newline, valid only
 * during the call. Messages about network input are rate-limited by the
 * library so that hostile traffic cannot flood the log. |user_data| is the
 * context's.
 * @since 0.1; 0.2 moved |user_data| last, as in every callback.
 */
typedef void (*sipflow_log_cb)(sipflow_log_level level, const char *msg,
                               void *user_data);

/**
 * Randomness callback: fill |dest| with |len| random bytes. Used for
 * keepalive jitter and STUN transaction ids; it must not fail. The uv adapter
 * provides one backed by libsodium. |user_data| is the context's.
 * @since 0.1; 0.2 moved |user_data| last, as in every callback.
 */
typedef void (*sipflow_rand_cb)(uint8_t *dest, size_t len, void *user_data);

/* ------------------------------------------------------------------------ */
/* Addresses and flows                                                       */
/* ------------------------------------------------------------------------ */

/** Address family of a sipflow_addr. @since 0.1 */
typedef enum sipflow_family {
  SIPFLOW_AF_NONE = 0,
  SIPFLOW_AF_INET = 4, /**< 4 bytes of |bytes| used */
  SIPFLOW_AF_INET6 = 6 /**< 16 bytes of |bytes| used */
} sipflow_family;

/**
 * The name of a sipflow_family value ("ipv4", "ipv6"; NULL for
 * SIPFLOW_AF_NONE), or NULL for a value the enum does not have. The string is
 * static. Callback-safe. @since 0.2
 */
SIPFLOW_API const char *sipflow_family_name(int family);

/**
 * A transport address: family, bytes in network order, port in host order.
 * A plain value: no struct sockaddr in the API.
 *
 * Enum-valued fields, here and in every public struct, are small unsigned
 * integers (uint8_t) documented "a sipflow_xxx": the layout stays packed
 * (a million-entry table pays for every byte); C assigns them to and from
 * the enum, and C and C++ compare and switch on them, without a cast.
 * @since 0.1
 */
typedef struct sipflow_addr {
  uint8_t family;    /**< a sipflow_family */
  uint8_t bytes[16]; /**< IPv4 in bytes[0..3], IPv6 in bytes[0..15] */
  uint16_t port;     /**< host byte order */
} sipflow_addr;

/**
 * Parse "1.2.3.4", "::1" or "[::1]" plus a port into |addr|.
 * @return 0, or SIPFLOW_ERR_MALFORMED. Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_addr_parse(sipflow_addr *addr, const char *host,
                                   uint16_t port);

/**
 * Format |addr| as "1.2.3.4:5060" or "[::1]:5060" into |buf| (NUL-terminated).
 * @param buflen at least 48 always suffices.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT, or SIPFLOW_ERR_BUFFER_TOO_SMALL.
 * Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_addr_format(const sipflow_addr *addr, char *buf,
                                    size_t buflen);

/**
 * Whether two addresses are the same family, bytes and port.
 * @return 1 or 0. Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_addr_equal(const sipflow_addr *a,
                                   const sipflow_addr *b);

/** SIP transports. Values are stable and appear inside tokens. @since 0.1 */
typedef enum sipflow_transport {
  SIPFLOW_TRANSPORT_UDP = 1,
  SIPFLOW_TRANSPORT_TCP = 2,
  SIPFLOW_TRANSPORT_TLS = 3,
  SIPFLOW_TRANSPORT_SCTP = 4,
  SIPFLOW_TRANSPORT_WS = 5,
  SIPFLOW_TRANSPORT_WSS = 6
} sipflow_transport;

/**
 * The lower-case name of a transport ("udp", "tcp", ...), or NULL if unknown.
 * Callback-safe. @since 0.1
 */
SIPFLOW_API const char *sipflow_transport_name(int transport);

/**
 * Parse a transport name, case-insensitively.
 * @return the sipflow_transport value, or SIPFLOW_ERR_UNSUPPORTED.
 * Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_transport_parse(const char *name, size_t len);

/**
 * Whether a transport is connection-oriented (TCP, TLS, SCTP, WS, WSS).
 * @return 1 or 0. Callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_transport_is_stream(int transport);

/**
 * A flow (RFC 5626 §3.4): transport, both addresses, and a connection
 * generation the host or the flow table increments for every new connection
 * on the same addresses, so that an old flow's token never names a new one.
 * A plain value, copied in. @since 0.1
 */
typedef struct sipflow_flow_tuple {
  uint8_t transport;   /**< a sipflow_transport */
  sipflow_addr local;  /**< our address the flow uses */
  sipflow_addr remote; /**< the peer's address */
  uint32_t generation; /**< connection generation; 0 for UDP */
} sipflow_flow_tuple;

/**
 * A flow's identity inside one context: unique for the context's lifetime,
 * never reused, 0 meaning "no flow". Modules use it to tell one another
 * (through the host) which flow an event concerns. @since 0.1
 */
typedef uint64_t sipflow_flow_id;

/**
 * What is known of a flow's health. The keepalive scheduler produces it, the
 * registrar's target selection consumes it (healthy flows are tried first),
 * and the host carries it from one to the other. @since 0.1
 */
typedef enum sipflow_flow_health {
  SIPFLOW_HEALTH_UNKNOWN = 0, /**< no probe answered or missed yet */
  SIPFLOW_HEALTH_ALIVE = 1,   /**< the last probe was answered */
  SIPFLOW_HEALTH_SUSPECT = 2, /**< probes missed, fewer than the limit */
  SIPFLOW_HEALTH_DEAD = 3     /**< the flow has failed */
} sipflow_flow_health;

/**
 * The name of a sipflow_flow_health value ("unknown", "alive", "suspect",
 * "dead"), or NULL for a value the enum does not have. The string is static.
 * Callback-safe. @since 0.2
 */
SIPFLOW_API const char *sipflow_health_name(int health);

/* ------------------------------------------------------------------------ */
/* Context                                                                   */
/* ------------------------------------------------------------------------ */

/**
 * The context: allocator, log and randomness for a set of objects, and the
 * one deadline the host waits for. Objects (flow table, registrar, keepalive
 * scheduler) are created on a context; the context's expiry is the earliest
 * of theirs. Opaque. @since 0.1
 */
typedef struct sipflow_ctx sipflow_ctx;

/** First version of sipflow_ctx_callbacks. @since 0.1 */
#define SIPFLOW_CTX_CALLBACKS_V1 1
/** The version this header describes. @since 0.1 */
#define SIPFLOW_CTX_CALLBACKS_VERSION SIPFLOW_CTX_CALLBACKS_V1

/**
 * Context callbacks. New members are added only at the end; the library
 * zero-fills the members an older caller's version lacks. @since 0.1
 */
typedef struct sipflow_ctx_callbacks {
  /** optional: NULL discards log lines. @since 0.1 */
  sipflow_log_cb log;
  /** optional: NULL makes jitter deterministic (tests). @since 0.1 */
  sipflow_rand_cb rand;
} sipflow_ctx_callbacks;

/** First version of sipflow_ctx_settings. @since 0.1 */
#define SIPFLOW_CTX_SETTINGS_V1 1
/** The version this header describes. @since 0.1 */
#define SIPFLOW_CTX_SETTINGS_VERSION SIPFLOW_CTX_SETTINGS_V1

/** Context settings, filled by sipflow_ctx_settings_default(). @since 0.1 */
typedef struct sipflow_ctx_settings {
  /** Lines above this level are not produced. Default SIPFLOW_LOG_WARN. */
  sipflow_log_level log_level;
  /**
   * Most log lines about bad network input per second; the rest are counted
   * and summarised in one line. Default 10. 0 = no limit.
   */
  uint32_t log_rate_per_second;
  /**
   * 16 bytes keying the hash tables against collision floods. All zero
   * (the default) is valid but predictable: hosts facing the network should
   * fill it from a random source (the uv adapter does).
   */
  uint8_t hash_key[16];
} sipflow_ctx_settings;

/**
 * Fill |settings| with defaults. Callback-safe. @since 0.1
 */
SIPFLOW_API void
sipflow_ctx_settings_default_versioned(int settings_version,
                                       sipflow_ctx_settings *settings);
/** Fill |settings| with defaults for this header's version. @since 0.1 */
#define sipflow_ctx_settings_default(S)                                        \
  sipflow_ctx_settings_default_versioned(SIPFLOW_CTX_SETTINGS_VERSION, (S))

/**
 * Create a context.
 * @param pctx receives the new context.
 * @param callbacks copied; NULL means none.
 * @param settings copied; NULL means defaults.
 * @param mem copied; NULL means sipflow_mem_default().
 * @param user_data passed to every callback of this context.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT (NULL pctx, unknown version,
 * incomplete allocator), SIPFLOW_ERR_NOMEM.
 * Not callback-safe. @since 0.1
 */
SIPFLOW_API SIPFLOW_WARN_UNUSED int
sipflow_ctx_new_versioned(sipflow_ctx **pctx, int callbacks_version,
                          const sipflow_ctx_callbacks *callbacks,
                          int settings_version,
                          const sipflow_ctx_settings *settings,
                          const sipflow_mem *mem, void *user_data);
/** Create a context with this header's struct versions. @since 0.1 */
#define sipflow_ctx_new(PCTX, CB, SETTINGS, MEM, UD)                           \
  sipflow_ctx_new_versioned((PCTX), SIPFLOW_CTX_CALLBACKS_VERSION, (CB),       \
                            SIPFLOW_CTX_SETTINGS_VERSION, (SETTINGS), (MEM),   \
                            (UD))

/**
 * Delete a context. Every object created on it must have been deleted first.
 * NULL does nothing. Not callback-safe. @since 0.1
 */
SIPFLOW_API void sipflow_ctx_del(sipflow_ctx *ctx);

/**
 * The earliest deadline of every object on the context, and of the context
 * itself: when lines about network input were held back by
 * log_rate_per_second, their one-line summary is due at the end of that
 * second even if no further line comes.
 * After any call that takes |now|, the host re-arms its one timer to this.
 * @return the deadline, or SIPFLOW_TSTAMP_NONE to disarm. Callback-safe.
 * @since 0.1
 */
SIPFLOW_API sipflow_tstamp sipflow_ctx_get_expiry(const sipflow_ctx *ctx);

/**
 * Process everything due at or before |now| on every object of the context.
 * Afterwards sipflow_ctx_get_expiry() is later than |now|.
 * @return 0, SIPFLOW_ERR_TIME_BACKWARDS (|now| earlier than a time already
 * passed to this context; nothing is done), SIPFLOW_ERR_BAD_STATE (called
 * from inside a callback of the context or of an object on it; nothing is
 * done), or the first error an object's processing returned (the others
 * still ran).
 * Not callback-safe. @since 0.1
 */
SIPFLOW_API int sipflow_ctx_handle_expiry(sipflow_ctx *ctx, sipflow_tstamp now);

/**
 * The user_data the context was created with. Callback-safe. @since 0.1
 */
SIPFLOW_API void *sipflow_ctx_get_user_data(const sipflow_ctx *ctx);

/* ------------------------------------------------------------------------ */
/* Version                                                                   */
/* ------------------------------------------------------------------------ */

/** Run-time version information. @since 0.1 */
typedef struct sipflow_info {
  int age;              /**< 1 for this layout; grows when members are added */
  uint32_t version_num; /**< 0xMMmmpp */
  const char *version_str; /**< "MAJOR.MINOR.PATCH" */
} sipflow_info;

/**
 * The version of the library actually loaded.
 * @param least_version 0, or the lowest acceptable version as 0xMMmmpp.
 * @return a static struct, or NULL if the library is older than
 * |least_version|. Callback-safe. @since 0.1
 */
SIPFLOW_API const sipflow_info *sipflow_version(uint32_t least_version);

#ifdef __cplusplus
}
#endif

#endif /* SIPFLOW_COMMON_H */
