/*
 * sipflow-ping: keep a SIP path alive and print its round-trip times, like
 * ping(8), with libsipflow's keepalive scheduler on libuv. Shared
 * declarations of its files.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_PING_H
#define SIPFLOW_PING_H

#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include <sipflow/sipflow.h>
#include <sipflow/sipflow_uv.h>

/* The Request-URI is sent as typed: keep it short and plain. */
#define PING_MAX_URI 256

/* What the command line asked for. */
typedef struct ping_args {
  uint64_t count;            /* -c; 0 = until SIGINT */
  sipflow_duration interval; /* -i */
  sipflow_duration timeout;  /* -W */
  int method;                /* -m: a sipflow_keepalive_method */
  int transport;             /* SIPFLOW_TRANSPORT_UDP or _TCP */
  sipflow_addr dst;          /* host and port of the URI */
  char uri[PING_MAX_URI];    /* the URI as typed */
} ping_args;

/* The running tool. */
typedef struct ping {
  ping_args args;
  uv_loop_t *loop;
  sipflow_ctx *ctx;
  sipflow_keepalive *ka;
  sipflow_uv_timer *timer;
  uv_signal_t sigint;
  sipflow_flow_tuple tuple; /* set once the socket is ready */
  char peer[64];            /* the destination, formatted */

  /* network (net.c) */
  uv_udp_t udp;
  int udp_open;
  uv_tcp_t *tcp; /* owned by |stream| once connected */
  uv_connect_t connect_req;
  sipflow_uv_stream *stream;
  int net_error; /* last libuv error seen on the socket, 0 none */

  /* probes (ping.c) */
  uint64_t sent, answered;
  uint64_t cur;         /* number of the probe in flight, 0 none */
  int cur_open;         /* it has neither an answer nor a miss yet */
  int cur_send_error;   /* libuv error of its send, 0 none */
  unsigned cur_status;  /* OPTIONS: the status being reported */
  uint64_t misses_seen; /* the scheduler's probes_missed, as last read */
  int interval_set;     /* the real interval replaced the first one */
  double rtt_min, rtt_max, rtt_sum, rtt_sum2; /* milliseconds */
  sipflow_tstamp started;
  int stopping;
} ping;

/* ---- args.c ---- */
/* Parse the command line: 0; 1 for -h/--help; 2 for -V/--version; -1
 * for a usage error, after printing why to |err|. */
int ping_args_parse(ping_args *a, int argc, char **argv, FILE *err);
void ping_usage(FILE *out);
const char *ping_method_name(int method);

/* ---- net.c ---- */
/* Open the socket (UDP) or start connecting (TCP); ping_on_ready() follows
 * once |p->tuple| is known. 0 or a libuv error. */
int ping_net_start(ping *p);
/* Send one probe's bytes; 0 or a libuv error. */
int ping_net_send(ping *p, int method, const uint8_t *data, size_t len);
void ping_net_stop(ping *p);

/* ---- ping.c: what the network reports ---- */
void ping_on_ready(ping *p);
void ping_on_datagram(ping *p, const uint8_t *data, size_t len);
void ping_on_sip(ping *p, const uint8_t *data, size_t len);
void ping_on_pong(ping *p);
void ping_on_closed(ping *p, const char *why);
void ping_finish(ping *p);

#endif
