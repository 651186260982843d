/*
 * libsipflow-uv: drive libsipflow from a libuv loop.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_SIPFLOW_UV_H
#define SIPFLOW_SIPFLOW_UV_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "sipflow/sipflow.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @file sipflow_uv.h
 * The libuv adapter: one uv_timer_t that follows a context's single deadline,
 * the clock and randomness a host on libuv needs, and a TCP stream reader
 * that frames SIP messages and answers CRLF keepalives at once.
 * Link with `pkg-config --libs sipflow-uv`.
 */

/* ------------------------------------------------------------------------ */
/* Clock and randomness                                                      */
/* ------------------------------------------------------------------------ */

/**
 * The current time for libsipflow calls: uv_hrtime(), monotonic nanoseconds.
 * Callback-safe. @since 0.1
 */
SIPFLOW_API sipflow_tstamp sipflow_uv_now(void);

/**
 * A sipflow_rand_cb backed by libsodium's randombytes_buf(); pass it as the
 * context's `rand` callback. |user_data| is unused. @since 0.1
 */
SIPFLOW_API void sipflow_uv_rand(uint8_t *dest, size_t len, void *user_data);

/**
 * Fill |settings->hash_key| with random bytes (libsodium), so that hash
 * tables resist collision floods from the network.
 * @return 0, or SIPFLOW_ERR_INTERNAL if libsodium cannot initialise.
 * @since 0.1
 */
SIPFLOW_API int sipflow_uv_settings_randomize(sipflow_ctx_settings *settings);

/* ------------------------------------------------------------------------ */
/* Addresses                                                                 */
/* ------------------------------------------------------------------------ */

/**
 * Convert a libsipflow address into a socket address for uv_udp_send(),
 * uv_tcp_connect() or uv_udp_bind().
 * @param a the address; IPv4 or IPv6.
 * @param ss receives the socket address (zeroed first, port in network
 * order).
 * @param sslen receives its length (sizeof the sockaddr_in or _in6); may be
 * NULL.
 * @return 0, or SIPFLOW_ERR_INVALID_ARGUMENT (a NULL pointer, or a family
 * other than SIPFLOW_AF_INET and SIPFLOW_AF_INET6; |*ss| is then zeroed).
 * Callback-safe. @since 0.2
 */
SIPFLOW_API int sipflow_uv_addr_to_sockaddr(const sipflow_addr *a,
                                            struct sockaddr_storage *ss,
                                            size_t *sslen);

/**
 * Convert a socket address from libuv (uv_udp_recv_cb's |addr|,
 * uv_tcp_getpeername()) into a libsipflow address.
 * @param sa an AF_INET or AF_INET6 socket address.
 * @param a receives the address (zeroed first).
 * @return 0, or SIPFLOW_ERR_INVALID_ARGUMENT (a NULL pointer or another
 * family; |*a| is then zeroed, family SIPFLOW_AF_NONE). Callback-safe.
 * @since 0.2
 */
SIPFLOW_API int sipflow_uv_addr_from_sockaddr(const struct sockaddr *sa,
                                              sipflow_addr *a);

/* ------------------------------------------------------------------------ */
/* The single timer                                                          */
/* ------------------------------------------------------------------------ */

/** A uv_timer_t that follows one context's deadline. Opaque. @since 0.1 */
typedef struct sipflow_uv_timer sipflow_uv_timer;

/**
 * Called after the timer fired and sipflow_ctx_handle_expiry() ran, with its
 * result, before the timer is re-armed. Optional. @since 0.1
 */
typedef void (*sipflow_uv_expired_cb)(sipflow_uv_timer *timer, int rv,
                                      void *user_data);

/**
 * Create a timer on |loop| for |ctx|. It stays disarmed until the first
 * sipflow_uv_timer_update(). Both |loop| and |ctx| must outlive it.
 * @param on_expired optional, see sipflow_uv_expired_cb.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT, SIPFLOW_ERR_NOMEM,
 * SIPFLOW_ERR_INTERNAL (uv_timer_init failed). @since 0.1
 */
SIPFLOW_API SIPFLOW_WARN_UNUSED int
sipflow_uv_timer_new(sipflow_uv_timer **ptimer, uv_loop_t *loop,
                     sipflow_ctx *ctx, sipflow_uv_expired_cb on_expired,
                     void *user_data);

/**
 * Re-arm the timer to the context's current deadline (or stop it if there is
 * none). Call after every libsipflow call that takes `now`. @since 0.1
 */
SIPFLOW_API void sipflow_uv_timer_update(sipflow_uv_timer *timer);

/**
 * Stop and close the timer; its memory is released from the loop's close
 * callback, so the loop must run once more. NULL does nothing. @since 0.1
 */
SIPFLOW_API void sipflow_uv_timer_del(sipflow_uv_timer *timer);

/**
 * Let the timer fire up to |slack| after the context's deadline, so that
 * deadlines close together are handled in one callback and one wake-up of
 * the loop: the deadline is moved up to the next multiple of |slack| on the
 * uv_hrtime() clock. With 5 000 keepalive probes a second, a slack of 10 ms
 * turns one wake-up per probe (or per millisecond) into at most 100 a
 * second. The price is lateness, for everything the context schedules:
 * probes, probe timeouts and retransmissions, registrar binding expiries
 * and whatever else goes through sipflow_ctx_get_expiry() may be handled
 * up to |slack| after their time (with the time of handling as `now`, so
 * RTTs and the next probe's jitter stay right). Keep it well below the
 * shortest timeout in use: RFC 5626 §4.4 already spreads probes over 20 %
 * of the interval, so a few milliseconds change nothing on the wire.
 * 0 (the default) fires at each deadline. Takes effect at the next
 * sipflow_uv_timer_update(). NULL does nothing. Callback-safe. @since 0.1
 */
SIPFLOW_API void sipflow_uv_timer_set_slack(sipflow_uv_timer *timer,
                                            sipflow_duration slack);

/** How many times the timer has fired. Callback-safe. @since 0.1 */
SIPFLOW_API uint64_t sipflow_uv_timer_fired(const sipflow_uv_timer *timer);

/* ------------------------------------------------------------------------ */
/* Reading SIP from a TCP stream                                             */
/* ------------------------------------------------------------------------ */

/** A framed reader on a connected uv_tcp_t. Opaque. @since 0.1 */
typedef struct sipflow_uv_stream sipflow_uv_stream;

/** Stream events, delivered from inside libuv's read callback. @since 0.1 */
typedef struct sipflow_uv_stream_callbacks {
  /** A complete SIP message; |data| valid during the call. Required. */
  void (*on_message)(sipflow_uv_stream *s, const uint8_t *data, size_t len,
                     void *user_data);
  /**
   * A CRLF ping arrived. It is answered with one CRLF; the answers to the
   * pings of one read go out in one write, at the end of the read or
   * before the next message is delivered, whichever comes first (so
   * before anything written for that message). Optional.
   */
  void (*on_ping)(sipflow_uv_stream *s, void *user_data);
  /** A CRLF pong arrived. Optional. */
  void (*on_pong)(sipflow_uv_stream *s, void *user_data);
  /**
   * The stream ended: |err| is a libuv error (UV_EOF for an orderly close)
   * or a negative SIPFLOW_ERR_* for a framing error. The handle is being
   * closed; the object is freed after this returns. Required.
   */
  void (*on_close)(sipflow_uv_stream *s, int err, void *user_data);
} sipflow_uv_stream_callbacks;

/**
 * Take over a connected |tcp| handle (allocated by the host with malloc and
 * initialised with uv_tcp_init): start reading, frame, answer pings.
 * The stream frees |tcp| with free() when it closes.
 * @param max_message largest SIP message accepted; 0 = 65535.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT, SIPFLOW_ERR_NOMEM,
 * SIPFLOW_ERR_INTERNAL (uv_read_start failed). @since 0.1
 */
SIPFLOW_API SIPFLOW_WARN_UNUSED int
sipflow_uv_stream_new(sipflow_uv_stream **pstream, uv_tcp_t *tcp,
                      const sipflow_uv_stream_callbacks *callbacks,
                      size_t max_message, void *user_data);

/**
 * Queue |len| bytes for writing, copied. Writes are serialised per stream,
 * so a pong never lands inside a partly written message (RFC 5626 §4.4.1).
 * A write that would take what is queued past the stream's cap
 * (sipflow_uv_stream_set_max_queued()) is refused and ends the stream:
 * on_close follows with UV_ENOBUFS.
 * @return 0, SIPFLOW_ERR_NOMEM, SIPFLOW_ERR_BAD_STATE (closing),
 * SIPFLOW_ERR_LIMIT (past the cap: the stream is closing; since 0.2).
 * @since 0.1
 */
SIPFLOW_API int sipflow_uv_stream_write(sipflow_uv_stream *s, const void *data,
                                        size_t len);

/** Default cap on the bytes queued for writing per stream: 1 MiB.
 * @since 0.2 */
#define SIPFLOW_UV_STREAM_MAX_QUEUED_DEFAULT ((size_t)1 << 20)

/**
 * Cap the memory held by writes queued on the stream and not yet done
 * (their bytes plus each write request, about 200 bytes): a peer that
 * sends but never reads (a flood of CRLF pings whose pongs pile up,
 * requests whose answers are never read) otherwise grows the queue, and
 * the process, without end. Past the cap sipflow_uv_stream_write() fails
 * with SIPFLOW_ERR_LIMIT and the stream ends (on_close with UV_ENOBUFS).
 * The cap applies to later writes; the kernel's own send buffer comes on
 * top of it.
 * @param bytes the cap; 0: no cap. New streams start with
 * SIPFLOW_UV_STREAM_MAX_QUEUED_DEFAULT. NULL does nothing. Callback-safe.
 * @since 0.2
 */
SIPFLOW_API void sipflow_uv_stream_set_max_queued(sipflow_uv_stream *s,
                                                  size_t bytes);

/**
 * Send a CRLF ping ("\r\n\r\n") and expect a pong.
 * @return as sipflow_uv_stream_write(). @since 0.1
 */
SIPFLOW_API int sipflow_uv_stream_ping(sipflow_uv_stream *s);

/**
 * Close the stream; on_close follows with UV_ECANCELED. NULL does nothing.
 * @since 0.1
 */
SIPFLOW_API void sipflow_uv_stream_close(sipflow_uv_stream *s);

/* ------------------------------------------------------------------------ */
/* Filters: TLS, WebSocket and other layers between the socket and SIP      */
/* ------------------------------------------------------------------------ */

/**
 * A layer on a stream (TLS, WebSocket framing), given to
 * sipflow_uv_stream_push_filter(). Filters stack: level 0 is next to the
 * socket; bytes read go up through every level to the framer, bytes the
 * host writes (messages, pongs, pings) go down through every level to the
 * socket. libsipflow-uv-tls and libsipflow-uv-ws provide filters; a host
 * needing neither links neither. @since 0.2
 */
typedef struct sipflow_uv_filter {
  /** Bytes from the level below (the socket for level 0): decode them and
   * pass the result on with sipflow_uv_stream_pass_up() (a byte stream) or
   * sipflow_uv_stream_pass_message() (whole messages). Return 0, or a
   * negative code to end the stream (on_close gets it). Required. */
  int (*read)(sipflow_uv_stream *s, unsigned level, const uint8_t *data,
              size_t len, void *filter_data);
  /** Bytes from above (the host for the top level): encode them and pass
   * them on with sipflow_uv_stream_pass_down(). Return as that. Required. */
  int (*write)(sipflow_uv_stream *s, unsigned level, const uint8_t *data,
               size_t len, void *filter_data);
  /** Free |filter_data|, after on_close. Optional. */
  void (*del)(void *filter_data);
} sipflow_uv_filter;

/**
 * Add a filter on top of the stream's filters (at most 4); from then on
 * sipflow_uv_stream_write() goes through it. Call it right after
 * sipflow_uv_stream_new(), before the loop runs again. |filter| is copied;
 * |filter_data| is the filter's, freed by its del after the stream closed.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT, SIPFLOW_ERR_LIMIT. @since 0.2
 */
SIPFLOW_API int sipflow_uv_stream_push_filter(sipflow_uv_stream *s,
                                              const sipflow_uv_filter *filter,
                                              void *filter_data);

/** How many filters the stream has; the last pushed is at this minus one.
 * Callback-safe. @since 0.2 */
SIPFLOW_API unsigned sipflow_uv_stream_filters(const sipflow_uv_stream *s);

/**
 * For a filter at |level|: pass encoded bytes down (to the socket for level
 * 0), within the write cap of sipflow_uv_stream_write().
 * @return as sipflow_uv_stream_write(); SIPFLOW_ERR_INVALID_ARGUMENT for a
 * level the stream does not have. @since 0.2
 */
SIPFLOW_API int sipflow_uv_stream_pass_down(sipflow_uv_stream *s,
                                            unsigned level, const void *data,
                                            size_t len);

/**
 * For a filter at |level|: pass decoded bytes up, to the next filter or, from
 * the top one, to the SIP framer (which answers CRLF pings as on TCP).
 * @return 0, a negative code (the stream is closing),
 * SIPFLOW_ERR_INVALID_ARGUMENT, SIPFLOW_ERR_BAD_STATE. @since 0.2
 */
SIPFLOW_API int sipflow_uv_stream_pass_up(sipflow_uv_stream *s, unsigned level,
                                          const uint8_t *data, size_t len);

/**
 * For a message-framed filter (WebSocket, RFC 7118 §5): one whole message,
 * sorted by sipflow_ws_message_classify(). SIP goes to on_message; a CRLF
 * ping is answered with one CRLF written through the filters (RFC 5626
 * §4.4.1) and reported to on_ping; a CRLF pong to on_pong; a blank message
 * is dropped.
 * @return 0, SIPFLOW_ERR_MALFORMED (not SIP: the filter may end the
 * stream), SIPFLOW_ERR_INVALID_ARGUMENT, SIPFLOW_ERR_BAD_STATE. @since 0.2
 */
SIPFLOW_API int sipflow_uv_stream_pass_message(sipflow_uv_stream *s,
                                               const uint8_t *data, size_t len);

/**
 * End the stream with |err| (a libuv error or a negative SIPFLOW_ERR_*; 0
 * means UV_ECANCELED), as a filter does when its peer closes. NULL does
 * nothing. @since 0.2
 */
SIPFLOW_API void sipflow_uv_stream_fail(sipflow_uv_stream *s, int err);

/** The uv_tcp_t the stream reads. Callback-safe. @since 0.1 */
SIPFLOW_API uv_tcp_t *sipflow_uv_stream_handle(sipflow_uv_stream *s);

/** The user_data given at creation. Callback-safe. @since 0.1 */
SIPFLOW_API void *sipflow_uv_stream_user_data(const sipflow_uv_stream *s);

/** Replace the user_data. Callback-safe. @since 0.1 */
SIPFLOW_API void sipflow_uv_stream_set_user_data(sipflow_uv_stream *s,
                                                 void *user_data);

#ifdef __cplusplus
}
#endif

#endif /* SIPFLOW_SIPFLOW_UV_H */
