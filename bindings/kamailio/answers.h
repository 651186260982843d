/*
 * The answer socket of sipflow.so (answers.c): the answers to the timer
 * process's UDP probes, steered by the kernel to a socket of their own on
 * Kamailio's UDP port and read there in batches. Plain C, no Kamailio
 * header: the module's glue is in sipflow_mod.c.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_KAM_ANSWERS_H
#define SIPFLOW_KAM_ANSWERS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Put a socket beside Kamailio's UDP socket |kfd| (bound, not yet read by
 * any process) on its address and port, and a program on their SO_REUSEPORT
 * group that gives it every datagram starting with |prefix| and |kfd| every
 * other one. |rcvbuf|: the receive buffer asked for (bytes). Sets
 * SO_REUSEPORT on |kfd|. Returns the new socket (non-blocking, with receive
 * timestamps), or -errno; on error |kfd| receives everything as before and
 * |log| (if not NULL) holds the kernel's verifier log, if any.
 */
int sfa_open(int kfd, const char *prefix, size_t plen, int rcvbuf, char *log,
             size_t logcap);

/* One datagram read off an answer socket: |rx_ns| is the kernel's receive
 * time on CLOCK_REALTIME (0 if it gave none); |truncated| if it was longer
 * than the buffer. */
typedef struct sfa_dgram {
  const char *data;
  int len;
  int truncated;
  int64_t rx_ns;
} sfa_dgram;

/*
 * Read what |fd| holds, in batches of up to |max| (at most 64) datagrams:
 * |fn| is called once per batch. Stops when the socket is empty. *drops
 * receives the kernel's count of datagrams dropped on |fd| for want of room
 * (SO_RXQ_OVFL, since the socket was made). Returns datagrams read, or
 * -errno.
 */
int sfa_drain(int fd, unsigned max,
              void (*fn)(const sfa_dgram *d, unsigned n, void *ud), void *ud,
              uint32_t *drops);

#endif
