/*
 * --selftest for the integration examples: scripted SIP peers on loopback
 * sockets of the same event loop, a few lines of script per scenario, so
 * that `meson test --suite examples` runs each program on each loop for
 * real and fails when a message goes astray.
 *
 * A script is a list of steps run in order. SEND puts a message on the
 * wire from a peer; EXPECT waits for the next datagram at a peer whose text
 * starts with a prefix and contains (or lacks) some strings (others
 * arriving there meanwhile are skipped); REPLY answers the last request a
 * peer received. Templates use "\n" for line ends (sent as CRLF) and these
 * names:
 *   $APP      the program's own address, HOST:PORT
 *   $P0..$P3  the peers' addresses
 *   $C0..$C3  what EXPECT captured: every value of a header, joined ", "
 *   $T0..$T3  the user part (a flow token) of the first URI in $Cn
 *   $X0..$X3  the same token with one character of its MAC changed
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef EXAMPLES_SELFTEST_H
#define EXAMPLES_SELFTEST_H

#include "host.h"

#define ST_APP (-1)

typedef enum st_kind {
  ST_K_END = 0,
  ST_K_SEND,        /* peer -> to: text */
  ST_K_EXPECT,      /* at peer: starts with text, has[], lacks; capture */
  ST_K_REPLY,       /* peer answers its last request: text "200 OK", extra */
  ST_K_STUN_SEND,   /* peer -> to: a STUN Binding request */
  ST_K_STUN_EXPECT, /* at peer: a Binding success naming the peer */
  ST_K_WAIT_EVENT   /* until the program has called st_event() |to| times */
} st_kind;

typedef struct st_step {
  st_kind kind;
  int peer;
  int to; /* ST_APP or a peer index; for ST_WAIT_EVENT a count */
  const char *text;
  const char *has[4];
  const char *lacks;
  const char *capture; /* header name; value saved in $C<capture_to> */
  int capture_to;
  const char *extra; /* ST_REPLY: header lines */
} st_step;

/* Script lines. The trailing arguments are the text, then any of
 * .has = {...}, .lacks, .capture, .capture_to, .extra. */
#define ST_SEND(P, TO, ...)                                                    \
  { .kind = ST_K_SEND, .peer = (P), .to = (TO), .text = __VA_ARGS__ }
#define ST_EXPECT(P, ...)                                                      \
  { .kind = ST_K_EXPECT, .peer = (P), .text = __VA_ARGS__ }
#define ST_REPLY(P, ...)                                                       \
  { .kind = ST_K_REPLY, .peer = (P), .text = __VA_ARGS__ }
#define ST_STUN_SEND(P, TO)                                                    \
  { .kind = ST_K_STUN_SEND, .peer = (P), .to = (TO) }
#define ST_STUN_EXPECT(P)                                                      \
  { .kind = ST_K_STUN_EXPECT, .peer = (P) }
#define ST_WAIT_EVENTS(N)                                                      \
  { .kind = ST_K_WAIT_EVENT, .to = (N) }
#define ST_END                                                                 \
  { .kind = ST_K_END }

typedef struct st_runner st_runner;

/* Bind |npeers| peer sockets on 127.0.0.1 (before the program binds its
 * own, so it can be told a peer's address). */
int st_new(st_runner **pst, host *h, int npeers);
const sipflow_addr *st_peer(const st_runner *st, int i);
/* Start the script against the program at |app|. |done| (optional) is the
 * program's own final condition, asked once the steps are over and again
 * at each st_poke(). */
void st_start(st_runner *st, const sipflow_addr *app, const st_step *steps,
              int (*done)(void *arg), void *arg);
/* The program saw something a step or |done| waits for. */
void st_event(st_runner *st);
void st_poke(st_runner *st);
/* After host_run(): print the verdict; 0 if every step passed. */
int st_finish(st_runner *st);

#endif
