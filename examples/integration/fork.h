/*
 * Forking a request over a registrar's target plan (RFC 5626 §7), for the
 * registrar and single-server examples: one branch per instance at a time,
 * q groups in turn, the instance's next flow after 430 or 408, ACK for
 * every non-2xx answer, CANCEL followed, the best answer upstream.
 *
 * Kept small on purpose: no retransmission timers and no Timer C, so a
 * branch that never answers holds its fork until the table wraps (then it
 * answers 408). tools/proxy/txn.c has a full transaction layer.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef EXAMPLES_FORK_H
#define EXAMPLES_FORK_H

#include <sipflow/sipflow.h>

#include "sip.h"

#define PFORK_MAX 64

typedef struct pfork pfork;

/* Prepare |copy| (already a duplicate of the request) for binding |b|:
 * Request-URI, Route, Record-Route; say where it goes in |dst|. 0, or a SIP
 * status standing for the branch's answer (430 when its flow is gone).
 * |tag| is what pfork_start() was given. */
typedef int (*pfork_target_fn)(void *app, uint64_t tag, msg_t *copy,
                               const sipflow_reg_binding *b, sipflow_addr *dst);

typedef struct pfork_table {
  host_udp *sock;     /* sends every branch and answer */
  const char *prefix; /* our Via branches start with it */
  pfork_target_fn target;
  void *app;
  pfork *slot[PFORK_MAX];
  uint32_t next_id;
} pfork_table;

/* Fork |req| from |upstream| over |plan|; both are taken over. */
void pfork_start(pfork_table *t, sipflow_reg_plan *plan, msg_t *req,
                 const sipflow_addr *upstream, uint64_t tag);

/* A response whose top Via, ours, had |branch| (the Via is already gone).
 * Takes |resp|. 0 if it belonged to a fork, -1 if not (not taken). */
int pfork_response(pfork_table *t, const char *branch, msg_t *resp);

/* A CANCEL: 0 if it named a fork being forked (answered 200 and followed),
 * -1 if not. Does not take |cancel|. */
int pfork_cancel(pfork_table *t, msg_t *cancel, const sipflow_addr *from);

/* Delete every fork (and its plan): before the registrar is deleted. */
void pfork_table_clear(pfork_table *t);

#endif
