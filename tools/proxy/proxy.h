/*
 * sipflow-proxy: an RFC 5626 edge proxy, registrar, or both, on libuv and
 * sofia-sip, built on libsipflow. Shared declarations of its files.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_PROXY_H
#define SIPFLOW_PROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>

#include <sipflow/sipflow.h>
#include <sipflow/sipflow_sofia.h>
#include <sipflow/sipflow_uv.h>

#define PX_MAX_LISTENERS 16
#define PX_MAX_DOMAINS 16
#define PX_MAX_PEERS 16
#define PX_MAX_WORKERS 16 /* --workers: at most (peers) */
#define PX_MAX_ALIASES 16
#define PX_MAX_MESSAGE 65535
#define PX_BRANCH_MAGIC "z9hG4bK"

typedef enum px_role {
  PX_ROLE_SINGLE,
  PX_ROLE_EDGE,
  PX_ROLE_REGISTRAR
} px_role;

typedef enum px_ka_mode {
  PX_KA_OFF,
  PX_KA_AUTO,
  PX_KA_OPTIONS,
  PX_KA_CRLF,
  PX_KA_STUN,
  PX_KA_UDP4
} px_ka_mode;

typedef enum px_auth_mode {
  PX_AUTH_DEFAULT, /* REGISTER when --auth-file is given, else off */
  PX_AUTH_OFF,
  PX_AUTH_REGISTER,
  PX_AUTH_ALL
} px_auth_mode;

typedef struct px_endpoint_cfg {
  int transport; /* sipflow_transport */
  sipflow_addr addr;
} px_endpoint_cfg;

/* --alias HOST[:PORT]: another name of this server (port 0: any). */
typedef struct px_alias_cfg {
  char host[256];
  uint16_t port;
} px_alias_cfg;

typedef struct px_config {
  px_endpoint_cfg listen[PX_MAX_LISTENERS];
  int nlisten;
  px_role role;
  px_endpoint_cfg registrar; /* edge role */
  bool have_registrar;
  char advertise_host[256];
  uint16_t advertise_port; /* 0: the listener's port */
  char *domains[PX_MAX_DOMAINS];
  int ndomains;
  int outbound; /* SIPFLOW_REG_OUTBOUND_* */
  uint32_t flow_timer;
  uint32_t min_expires, max_expires, default_expires, max_contacts;
  px_ka_mode ka_mode;
  uint32_t ka_interval, ka_timeout, ka_misses;
  int dead_contact_expire; /* -1: remove; else seconds */
  char token_key_file[1024];
  char control_path[1024];
  char state_file[1024];   /* --state: bindings and keys survive restarts */
  char redis_url[256];     /* --redis: bindings shared between nodes */
  char node_id[65];        /* --node-id */
  int log_level;           /* sipflow_log_level */
  uint32_t txn_timeout_ms; /* Timer B/F: a branch's local 408 */
  uint32_t udp_flow_idle;  /* seconds; 0: UDP flows are never forgotten */
  uint32_t max_flows;      /* the flow table's limit; 0: none */
  uint32_t rx_coalesce_ms; /* pause a busy UDP socket this long; 0: never */
  bool reuse_port;         /* --reuse-port: SO_REUSEPORT on every listener */
  bool gruu;               /* --gruu on|off: GRUUs (RFC 5627), default on */
  px_endpoint_cfg peers[PX_MAX_PEERS]; /* --peer: next hops we forward to */
  int npeers;
  px_alias_cfg aliases[PX_MAX_ALIASES]; /* --alias: our other names */
  int naliases;

  /* Limits a stranger can hit (docs/limits.md); 0: none. */
  uint32_t max_send_queue;       /* bytes queued per TCP connection */
  uint32_t max_bindings;         /* bindings in all */
  uint32_t register_rate;        /* REGISTERs per second from one address */
  uint32_t register_burst;       /* the token bucket's depth */
  uint32_t tcp_hello_timeout;    /* seconds to a first SIP message */
  uint32_t max_conns_per_source; /* TCP connections from one address */

  /* --redis-sentinel HOST:PORT[,...], --redis-master NAME */
  char redis_sentinels[256];
  char redis_master[128];

  int auth_mode;           /* px_auth_mode (--auth) */
  char auth_file[1024];    /* --auth-file: user:realm:HA1-MD5[:HA1-SHA-256] */
  char auth_db[1024];      /* --auth-db: SQLite file, table sipflow_auth */
  char auth_realm[256];    /* --auth-realm; "": the first --domain */
  uint32_t auth_nonce_ttl; /* --auth-nonce-ttl, seconds */
  uint32_t auth_nonces;    /* --auth-nonces: nonce-count table slots */
  char auth_algs[3];       /* --auth-algorithms: 'S' SHA-256, 'M' MD5, in
                              the order offered; "" = "SM" */

  /* --listen tls:|ws:|wss: (net.c, docs/proxy.md "TLS and WebSocket") */
  char tls_cert[1024];      /* --tls-cert: PEM chain */
  char tls_key[1024];       /* --tls-key: PEM private key */
  char tls_ca[1024];        /* --tls-ca: ask clients for a certificate */
  uint32_t ws_idle_timeout; /* seconds a WS connection without a binding
                               may stay idle; 0: never closed */
  char push_webhook[512];   /* --push-webhook URL; "": no pushes */
  char push_providers[256]; /* --push-providers LIST (RFC 8599 pn-provider) */
  uint32_t push_refresh;    /* --push-refresh S: +sip.pnsreg; 0: none */
  uint32_t push_wait;       /* --push-wait S: hold for a woken phone */
  uint32_t push_max_held;   /* --push-max-held N: requests held at once */
  uint32_t push_max_recent; /* --push-max-recent N: coalescing table */

  /* --workers N (workers.c, docs/proxy.md "Using more than one core") */
  uint32_t workers;     /* worker processes; 1: one process, no supervisor */
  uint16_t worker_port; /* --worker-port BASE; 0: the kernel picks */
  /* Set in a worker only: its private loopback port, named by the first
   * Path value of the records it publishes (cluster.c). */
  uint16_t path_port;
  int first_worker_peer; /* peers[first_worker_peer..] are the workers */
  uint32_t worker_index; /* in a worker: its number, from 0 */
  /* Made by the supervisor (steer.c): per public UDP listener, the socket
   * array and the program that keep a source on one worker; -1: none. */
  bool steer;
  int steer_map[PX_MAX_LISTENERS];
  int steer_prog[PX_MAX_LISTENERS];
} px_config;

struct px;

/* A listening socket. */
typedef struct px_listener {
  struct px *px;
  int transport;
  sipflow_addr addr; /* bound address, with the real port */
  union {
    uv_udp_t udp;
    uv_tcp_t tcp;
  } h;
  /* UDP reads: a poll on a second descriptor of the socket (net.c). */
  uv_poll_t rx_poll;
  int rx_fd; /* -1: none */
  int rx_poll_ready;
  /* UDP receive coalescing (--rx-coalesce-ms): see net.c. */
  uv_timer_t rx_pause;
  uint64_t last_drain; /* loop time (ms) the socket was last read empty */
  int rx_pause_ready;
} px_listener;

/* A TCP connection, accepted or opened by us. */
/* A list of connections, oldest first, linked through a px_conn_link in
 * each member (net.c: the silent and the idle lists). */
typedef struct px_conn_link {
  struct px_conn *prev, *next;
  bool on; /* on the list */
} px_conn_link;
typedef struct px_conn_list {
  struct px_conn *head, *tail;
} px_conn_list;

typedef struct px_conn {
  struct px *px;
  sipflow_uv_stream *stream; /* NULL while connecting */
  uv_tcp_t *tcp;
  px_listener *listener; /* NULL for connections we opened */
  sipflow_flow_id flow;
  sipflow_flow_tuple tuple;
  uv_connect_t connect_req;
  struct px_pending_write *queued; /* writes waiting for connect */
  struct px_conn *next, *prev;
  int closing;

  /* Accepted connections that have sent no SIP message yet, oldest first:
   * closed after --tcp-hello-timeout, shed first when the table is full. */
  px_conn_link silent;
  uint64_t opened_ms; /* loop time */
  bool counted;       /* in the per-source count */

  /* WS and WSS: the session, and the list of connections without a
   * binding, least recently active first (--ws-idle-timeout). */
  struct sipflow_uv_ws *ws;
  px_conn_link idle;
  uint64_t active_ms; /* loop time of the last message */
} px_conn;

/* Counters shown by `ctl stats`. */
typedef struct px_stats {
  uint64_t rx_messages, rx_requests, rx_responses;
  uint64_t rx_crlf_pings, rx_stun, rx_dropped, rx_malformed;
  uint64_t tx_messages, tx_errors;
  uint64_t registers, register_ok, register_rejected;
  uint64_t forwarded_requests, failovers, local_408, token_403, token_430;
  uint64_t sips_insecure; /* sips: requests not sent over a UDP/TCP/WS flow */
  uint64_t options_sent, options_answered;
  uint64_t flows_failed;
  uint64_t udp_flows_forgotten, flows_refused;
  /* UDP datagrams sent in batches (net.c, keepalive probes), and the
   * sendmmsg() calls that sent them. */
  uint64_t tx_batched, tx_batches;
  uint64_t flows_shed, tcp_hello_timeouts, tcp_queue_overflows;
  uint64_t register_rate_limited, udp_answers_trimmed;

  uint64_t auth_challenges, auth_ok, auth_failed, auth_stale, auth_replayed;
  uint64_t ws_idle_closed, ws_pongs;

  uint64_t push_sent, push_ok, push_failed, push_retries, push_dropped;
  uint64_t push_woken, push_timeouts, push_elsewhere, push_coalesced;
  uint64_t push_held_over;
} px_stats;

typedef struct px {
  px_config cfg;
  uv_loop_t *loop;
  sipflow_ctx *ctx;
  sipflow_keyring *keyring;
  sipflow_flow_table *flows;
  sipflow_registrar *reg;
  struct sipflow_keepalive *ka;
  struct sipflow_sqlite *store; /* NULL without --state */
  uint64_t change_version;
  int restoring; /* applying stored records: do not write them back */
  struct sipflow_redis *redis; /* NULL without --redis */
  struct px_cluster *cluster;  /* cluster.c's own state */
  struct px_push *push;        /* push.c's own state; NULL without a webhook */
  struct curl_slist *push_headers;
  /* Keys this process added to the ring (from --token-key or made here),
   * written to the state file; restored keys are there already. */
  struct {
    uint8_t id;
    uint8_t key[32];
  } own_keys[8];
  int n_own_keys;
  sipflow_uv_timer *timer;
  px_listener listeners[PX_MAX_LISTENERS];
  int nlisteners;
  px_conn *conns;
  struct px_txn *txn;         /* txn.c: server transactions, linger */
  struct px_ctrans *ctranses; /* client transactions by branch */
  uv_pipe_t control;
  bool control_open;
  uv_signal_t sigint, sigterm;
  uv_timer_t gc_timer;
  px_stats stats;
  uint64_t branch_counter;
  uint64_t log_tokens;
  uint64_t log_window;
  uint64_t log_dropped;
  uv_timer_t log_timer; /* the summary of dropped lines, when none follows */
  int log_timer_ready;
  int stopping;
  /* Set while a keepalive probe is sent: UDP datagrams are batched until
   * px_udp_flush() (net.c). */
  int tx_defer;
  int forgetting; /* udpflow.c is ending a silent flow */

  /* limits.c, and net.c's connections that sent no SIP yet. */
  struct px_limits *limits;
  px_conn_list silent;
  uv_timer_t hello_timer;
  bool hello_timer_ready;

  struct px_auth *auth; /* auth.c; NULL: no authentication */
  bool auth_all;        /* --auth all */

  struct sipflow_uv_tls_ctx *tls; /* NULL without a tls: or wss: listener */
  px_conn_list idle;              /* WS connections without a binding */
} px;

/* ---- config.c ---- */
int px_config_parse(px_config *cfg, int argc, char **argv);
/* --workers N: fork N workers and supervise them (workers.c). Returns 1
 * in a worker, whose |cfg| now is its own (node id, private port, peers,
 * control socket), or 0 in the supervisor once every worker is gone,
 * with the exit status in |*status|. */
int px_workers_run(px_config *cfg, int *status);
/* steer.c: in the supervisor, for each UDP listener of |cfg|, the socket
 * array and program that keep a source with one worker; the number made
 * (0 with no UDP listener), or a negative errno (none made). */
int px_steer_prepare(px_config *cfg);
/* In a worker: its socket |fd| of listener |listener| takes its slot and
 * the group gets the program. 1 done, 0 nothing to do, or -errno. */
int px_steer_join(const px_config *cfg, int listener, int fd);
/* The address a worker's private port listens on (workers.c). */
#define PX_WORKER_HOST "127.0.0.1"
/* In a worker: its private address, the one that Path and Record-Route
 * values facing another worker name ("127.0.0.1", cfg.path_port). */
void px_worker_hop(const px *p, char *host, size_t hostlen, uint16_t *port);
void px_usage(FILE *out);
int px_parse_endpoint(const char *s, px_endpoint_cfg *ep);

/* ---- log.c ---- */
void px_log(px *p, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Rate-limited: for anything caused by network input. */
void px_log_net(px *p, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void px_sipflow_log(sipflow_log_level level, const char *msg, void *ud);
/* At shutdown: close the summary timer. */
void px_log_stop(px *p);

/* ---- net.c ---- */
int px_net_start(px *p);
void px_net_stop(px *p);
/* Send bytes over an existing flow. */
int px_send_flow(px *p, sipflow_flow_id flow, const void *data, size_t len);
/* Send over a UDP flow known by its tuple, without a flow-table lookup
 * (the keepalive scheduler hands every probe its tuple). */
/* Sends the UDP datagrams batched while tx_defer was set (net.c). */
void px_udp_flush(px *p);
int px_send_udp_tuple(px *p, const sipflow_flow_tuple *t, const void *data,
                      size_t len);
/* Send to an address: UDP from a listener of that family, TCP over an
 * existing connection to it or a new one. *flow receives the flow used. */
int px_send_addr(px *p, int transport, const sipflow_addr *dst,
                 const void *data, size_t len, sipflow_flow_id *flow);
px_listener *px_listener_for(px *p, int transport, int family);
/* The address written into Path / Record-Route / Via for a transport. */
void px_advertise(px *p, int transport, int family, char *host, size_t hostlen,
                  uint16_t *port);
void px_conn_close_flow(px *p, sipflow_flow_id flow);
int px_send_crlf_ping(px *p, sipflow_flow_id flow);
/* A WebSocket Ping with |data| as payload on a WS or WSS flow. */
int px_send_ws_ping(px *p, sipflow_flow_id flow, const uint8_t *data,
                    size_t len);
/* A binding now uses |flow|: a WS connection on it is no longer idle. */
void px_conn_bound(px *p, sipflow_flow_id flow);
/* End the oldest TCP connection that has sent no SIP yet, to make
 * room in a full flow table. 0, or -1 when there is none. */
int px_shed_silent_conn(px *p);

/* ---- udpflow.c ---- */
/* The UDP flow for (listener, remote), created on first use. */
int px_udp_flow(px *p, px_listener *l, const sipflow_addr *remote,
                sipflow_flow_id *flow);
int px_udp_flow_find(px *p, px_listener *l, const sipflow_addr *remote,
                     sipflow_flow_id *flow);
/* The UDP listener bound to |local|, or NULL. */
px_listener *px_udp_listener(px *p, const sipflow_addr *local);
/* A UDP flow's token went into a Path or Record-Route: keep it longer. */
void px_udp_flow_minted(px *p, sipflow_flow_id flow);
/* Free the host record of an ended flow (from the table's callback). */
void px_udp_flow_ended(const sipflow_flow_info *f);
/* Forget silent UDP flows nothing uses (--udp-flow-idle). */
int px_udp_gc_start(px *p);
/* Before the table is deleted: every UDP flow's record. */
void px_udp_flows_free(px *p);

/* ---- dispatch.c ---- */
/* A datagram arrived on UDP listener |l| from |remote|. */
void px_on_datagram(px *p, px_listener *l, const sipflow_addr *remote,
                    const uint8_t *data, size_t len);
/* A complete SIP message arrived on |flow| from |src| (transport of flow). */
void px_on_sip(px *p, sipflow_flow_id flow, const sipflow_flow_tuple *tuple,
               const uint8_t *data, size_t len);

/* ---- msg.c ---- */
/* "UDP", "TCP", "TLS", "WS", "WSS": the Via transport (RFC 7118 §5.2). */
const char *px_via_transport(int transport);
/* Serialise a sofia message; returns malloc'd bytes. */
char *px_msg_bytes(msg_t *msg, size_t *len);
/* Build a response to |req| (status, phrase, optional extra header lines
 * ending in CRLF). Returns malloc'd bytes. */
char *px_response(px *p, msg_t *req, int status, const char *phrase,
                  const char *extra_headers, size_t *len);
/* The same into |buf|: 0, or -1 when it does not fit. px_response_cap()
 * is always enough for a response with those extra header lines. */
int px_response_into(px *p, msg_t *req, int status, const char *phrase,
                     const char *extra_headers, char *buf, size_t cap,
                     size_t *len);
size_t px_response_cap(const char *extra_headers);
/* "Date: ...\r\n" for now (RFC 3261 §20.17); formatted once a second. */
const char *px_date_header(size_t *len);
/* Send a response to a request that arrived on |flow|: over the flow for
 * streams, to Via received/rport for UDP (RFC 3581). */
int px_reply(px *p, sipflow_flow_id flow, msg_t *req, int status,
             const char *phrase, const char *extra_headers);
int px_send_response_bytes(px *p, sipflow_flow_id flow, msg_t *req,
                           const char *bytes, size_t len);
const char *px_phrase(int status);
void px_new_branch(px *p, char *buf, size_t len);
/* Add our Via, decrement Max-Forwards. 0 or a SIP status to answer. */
int px_prepare_forward(px *p, msg_t *msg, int transport, int family,
                       const char *branch);
/* The host part of the Request-URI and whether it names us. */
bool px_uri_is_us(px *p, const url_t *url);
bool px_domain_ok(px *p, const char *host);
/* Whether the host[:port] of |url| is one of this server's own names: a
 * served --domain (any port), an --alias, the advertised host, or a
 * listener's IP with no port or a listener's port (docs/registrar.md,
 * "The canonical AoR"). */
bool px_host_is_own(px *p, const url_t *url);
/* The AoR |url| names, as the location service keys it: own names become
 * the home domain; the registrar canonicalises the rest (RFC 3261 §10.3).
 * 0, or -1 when it does not fit or |url| has no host. */
int px_aor_key(px *p, const url_t *url, char *buf, size_t len);
/* Whether a request may be forwarded to |ep| (a Route or Request-URI
 * target that is none of our flows): the registrar (edge role) or a
 * --peer (docs/proxy.md, "No open relay"). */
bool px_next_hop_allowed(px *p, const px_endpoint_cfg *ep);
int px_url_endpoint(const url_t *url, px_endpoint_cfg *ep);

/* ---- txn.c ---- */
typedef struct px_strans px_strans;
typedef struct px_ctrans px_ctrans;
typedef struct px_fork px_fork;
px_strans *px_strans_find(px *p, msg_t *req);
px_strans *px_strans_new(px *p, msg_t *req, sipflow_flow_id flow);
void px_strans_respond(px *p, px_strans *st, int status, const char *phrase,
                       const char *extra);
void px_strans_forward_response(px *p, px_strans *st, msg_t *resp);
/* Answer a request handled at once (a local REGISTER) that came over
 * |flow| of |transport|, and keep only what a retransmission needs: one
 * record holding its key and the answer (over UDP only). The caller keeps
 * |req|. 0, or -1 when no answer could be made. */
int px_strans_answer(px *p, msg_t *req, sipflow_flow_id flow, int transport,
                     int status, const char *phrase, const char *extra);
/* px_strans_answer() formats on the stack up to this size. */
#define PX_ANSWER_STACK 16384
void px_strans_retransmit(px *p, px_strans *st);
int px_strans_status(const px_strans *st);
msg_t *px_strans_request(const px_strans *st);
sipflow_flow_id px_strans_flow(const px_strans *st);
void px_strans_set_fork(px_strans *st, px_fork *f);
px_fork *px_strans_fork(const px_strans *st);
void px_txn_on_response(px *p, msg_t *resp, sipflow_flow_id flow);
/* Send |msg| (already prepared with our Via |branch|) as a client
 * transaction to a flow or address. |owner| gets the responses. */
typedef void (*px_ctrans_cb)(px *p, px_ctrans *ct, msg_t *resp, int status,
                             void *owner, int idx);
px_ctrans *px_ctrans_send(px *p, msg_t *msg, const char *branch,
                          sipflow_flow_id flow, int transport,
                          const sipflow_addr *dst, px_ctrans_cb cb, void *owner,
                          int idx);
void px_ctrans_cancel(px *p, px_ctrans *ct);
void px_ctrans_detach(px_ctrans *ct);
/* A TCP connection we opened to |dst| failed: its waiting client
 * transactions end at once with a local 408. */
void px_txn_connect_failed(px *p, const sipflow_addr *dst);
/* The same once a 2xx ended the fork: retransmissions of that 2xx still go
 * upstream over |upstream| (the flow the request came in on). */
void px_ctrans_detach_upstream(px_ctrans *ct, sipflow_flow_id upstream);
void px_txn_init(px *p);
void px_txn_shutdown(px *p);

/* ---- register.c ---- */
/* Over UDP an answer to a REGISTER may be at most this large
 * with every binding listed (RFC 3261 §18.1.1: the source is not proven);
 * past it, only the request's own Contacts are listed. */
size_t px_udp_answer_limit(size_t request_len);
void px_handle_register(px *p, msg_t *msg, sipflow_flow_id flow,
                        const sipflow_flow_tuple *tuple);

/* ---- route.c ---- */
void px_handle_request(px *p, msg_t *msg, sipflow_flow_id flow,
                       const sipflow_flow_tuple *tuple);
void px_handle_cancel(px *p, msg_t *msg, sipflow_flow_id flow);
void px_forward_fixed(px *p, px_strans *st, msg_t *msg, sipflow_flow_id in,
                      int transport, const sipflow_addr *dst);
int px_add_token_header(px *p, msg_t *msg, int path, sipflow_flow_id flow,
                        int ob);
void px_fork_on_strans_gone(px_fork *f);
/* At shutdown: free a fork whatever its state (its branches detached). */
void px_fork_abandon(px_fork *f);

/* ---- keepalive.c ---- */
/* A CRLF pong or a passive keepalive was seen on |flow|. */
void px_on_keepalive_seen(px *p, sipflow_flow_id flow, int pong);
void px_on_stun_response(px *p, sipflow_flow_id flow, const uint8_t *data,
                         size_t len);
int px_ka_start(px *p);
void px_ka_stop(px *p);
void px_ka_binding(px *p, const sipflow_reg_binding *b, bool present);
/* The flow ended (a sipflow_flow_end_reason): its keepalive ends too. */
void px_ka_flow_gone(px *p, sipflow_flow_id flow, int reason);
void px_ka_edge_registered(px *p, sipflow_flow_id flow, msg_t *resp);
bool px_ka_options_response(px *p, msg_t *resp);
/* The keepalive endpoint of a binding: its flow, or for a binding behind
 * an edge the registrar's probe through its Path; 0 for none. */
sipflow_flow_id px_ka_binding_endpoint(px *p, const sipflow_reg_binding *b);
/* The RTT sampler of a passively watched flow, once it has an answer:
 * 0 and its figures in |s|, else -1. */
int px_ka_rtt_sample(px *p, sipflow_flow_id flow, sipflow_keepalive_stats *s);
/* A WebSocket Pong arrived on |flow|. */
void px_ka_ws_pong(px *p, sipflow_flow_id flow, const uint8_t *data,
                   size_t len);

/* ---- push.c (RFC 8599, docs/push.md) ---- */
int px_push_open(px *p);
void px_push_close(px *p);
void px_push_request(sipflow_registrar *reg, sipflow_reg_push_reason reason,
                     const sipflow_reg_binding *b, void *ud);
void px_push_binding(px *p, sipflow_reg_change change,
                     const sipflow_reg_binding *b);
int px_push_hold(px *p, px_fork *f, uint32_t branch_id);
void px_push_forget(px *p, px_fork *f);
int px_push_held(px *p, px_fork *f);
/* route.c's side of a held request */
int px_fork_plan_woken(px *p, px_fork *f, uint32_t branch_id,
                       const sipflow_reg_branch **next);
void px_fork_push_sent(px *p, px_fork *f, const sipflow_reg_branch *br);
void px_fork_push_result(px *p, px_fork *f, uint32_t branch_id, int woken);

/* ---- state.c ---- */
int px_state_open(px *p);
/* The flow of a stored binding in this process: a UDP binding's flow is
 * its tuple, there again once our socket is bound; 0 for streams. */
sipflow_flow_id px_restored_flow(px *p, const sipflow_flow_tuple *t);
int px_state_keys(px *p);
void px_state_close(px *p);
void px_state_binding(px *p, sipflow_reg_change change,
                      const sipflow_reg_binding *b);

/* ---- auth.c ---- */
/* What to answer a request whose credentials did not pass. */
typedef struct px_auth_answer {
  int status; /* 401/407 with a challenge in |extra|, 403, 400 */
  const char *phrase;
  char extra[1024];
} px_auth_answer;
int px_auth_open(px *p);
void px_auth_close(px *p);
/* A local REGISTER: 0 when it may go on (authenticated, or auth off);
 * else -1 with the answer to send in |out|. */
int px_auth_register(px *p, msg_t *msg, px_auth_answer *out);
/* Another request (--auth all): 1 when it was answered (challenged or
 * refused) through |st|, 0 when it may go on. */
int px_auth_request(px *p, px_strans *st, msg_t *msg);

/* ---- cluster.c ---- */
int px_cluster_open(px *p);
void px_cluster_close(px *p);
/* From the registrar's change callback, before keepalives are told. */
void px_cluster_binding(px *p, sipflow_reg_change change,
                        const sipflow_reg_binding *b);
/* Whether a Path's first value names a node whose heartbeat ran out. */
bool px_cluster_path_dead(px *p, const char *path, size_t len);
/* Whether the first Path value of a binding names another cluster node
 * that is alive: that node took the phone's REGISTER and sends its
 * refresh pushes (RFC 8599 §5.5), so this one does not. */
bool px_cluster_path_foreign(px *p, const char *path, size_t len);

/* ---- ctl.c ---- */
int px_ctl_start(px *p);
void px_ctl_stop(px *p);
int px_ctl_client(const char *path, const char *command);

/* ---- limits.c ---- */
int px_limits_init(px *p);
void px_limits_free(px *p);
/* A new TCP connection from |remote|: false past --max-conns-per-source;
 * else counted until px_conn_release(). */
bool px_conn_admit(px *p, const sipflow_addr *remote);
void px_conn_release(px *p, const sipflow_addr *remote);
/* A REGISTER from |remote|: false past --register-rate / --register-burst. */
bool px_register_admit(px *p, const sipflow_addr *remote);

/* ---- main.c ---- */
/* Keys: from --token-key, else from the state, else a new one. */
int px_keys_ready(px *p);
void px_flow_dead(px *p, sipflow_flow_id flow);

#endif
