/*
 * sipflow-ping: reading the answer to an OPTIONS probe. A header of its
 * own, without libuv, so the fuzz target can build reply.c alone.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_PING_REPLY_H
#define SIPFLOW_PING_REPLY_H

#include <stddef.h>
#include <stdint.h>

/* Read a SIP response's status code and the top Via branch (or else the
 * From tag) that carries the probe id. 0, or -1 when it is not a response
 * sipflow-ping can use. |id| points into |data|. */
int ping_reply_parse(const uint8_t *data, size_t len, unsigned *status,
                     const char **id, size_t *idlen);

#endif
