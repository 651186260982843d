/*
 * sipflow.so: libsipflow inside Kamailio 5.6. One keepalive scheduler and one
 * key ring live in shared memory behind one lock (README.md says why); SIP
 * workers feed it, one timer process sends its probes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "../../core/cfg/cfg_struct.h"
#include "../../core/cfg_core.h"
#include "../../core/data_lump.h"
#include "../../core/dprint.h"
#include "../../core/dset.h"
#include "../../core/events.h"
#include "../../core/forward.h"
#include "../../core/globals.h"
#include "../../core/ip_addr.h"
#include "../../core/locking.h"
#include "../../core/mem/mem.h"
#include "../../core/mem/shm_mem.h"
#include "../../core/mod_fix.h"
#include "../../core/parser/msg_parser.h"
#include "../../core/parser/parse_from.h"
#include "../../core/parser/parse_rr.h"
#include "../../core/parser/parse_to.h"
#include "../../core/parser/parse_uri.h"
#include "../../core/pt.h"
#include "../../core/rand/fastrand.h"
#include "../../core/rpc.h"
#include "../../core/rpc_lookup.h"
#include "../../core/socket_info.h"
#include "../../core/sr_module.h"
#include "../../core/tcp_conn.h"
#include "../../core/timer_proc.h"
#include "../../core/ut.h"
#include "../../core/xavp.h"
#include "../../modules/sl/sl.h"
#include "../../modules/tm/tm_load.h"
#include "../../modules/usrloc/usrloc.h"

#include <sipflow/sipflow.h>

#include "answers.h"

MODULE_VERSION

/* ---- parameters ---------------------------------------------------------- */

static char *sf_key_file = NULL;  /* 64 hex digits; none: a key per start */
static int sf_interval_ms = 0;    /* 0: the library's 29 s UDP / 120 s TCP */
static int sf_timeout_ms = 10000; /* an OPTIONS probe unanswered is missed */
static int sf_dead_after = 3;     /* misses in a row that make it dead */
static int sf_dead_expires = 0;   /* 0: remove contacts; N: expire in N s */
static int sf_rtt_loglevel = 255; /* 255: no RTT log lines */
static char *sf_usrloc_domain = "location";
static int sf_max_endpoints = 0;  /* 0: only memory limits them */
static int sf_tick_ms = 50;       /* the timer process's shortest tick */
static int sf_tick_max_ms = 1000; /* its longest tick (adaptive between) */
static int sf_tick_batch = 0;     /* probes a tick aims at; 0: from rcvbuf */
static int sf_dialog_lifetime = 7200; /* s: a dialog whose BYE never passes */
static int sf_dgram_hook = 1;    /* take probe answers off the UDP receiver */
static int sf_probe_batch = 64;  /* UDP probes per sendmmsg(); 0: one sendto */
static int sf_answer_socket = 1; /* UDP probes' 200s to a socket of their own */

/* ---- shared state -------------------------------------------------------- */

#define SF_AOR_MAX 256

/* What the module keeps per endpoint (the library's endpoint user_data):
 * the AoR is stored by its length, in one block with the rest. */
typedef struct sf_ep {
  struct socket_info *sock; /* same address in every process (pre-fork) */
  int tcpconn_id;
  unsigned short proto;
  unsigned short aor_len, aor_cap;
  union sockaddr_union to;
  char aor[];
} sf_ep;

typedef struct sf_shared {
  gen_lock_t lock;
  sipflow_ctx *ctx;
  sipflow_keepalive *ka;
  sipflow_keyring *kr;
  uint64_t deaths_handled;
  uint64_t contacts_removed;
  uint64_t batch_calls;     /* sendmmsg() calls that sent probes (timer) */
  uint64_t batch_probes;    /* probes they sent */
  int tick_now_ms;          /* the timer process's current tick */
  int tick_batch;           /* probes a tick aims at (tick_batch or auto) */
  int answer_sockets;       /* UDP sockets with an answer socket beside them */
  uint64_t answers_read;    /* datagrams the timer read off answer sockets */
  uint64_t answers_other;   /* of those, not an answer to one of our probes */
  uint64_t answers_dropped; /* dropped there for want of room (kernel) */
} sf_shared;

static sf_shared *sf = NULL;
static usrloc_api_t sf_ul;
static int sf_have_ul = 0;
static udomain_t *sf_domain = NULL;
static sl_api_t sf_slb;
static struct tm_binds sf_tmb;
static int sf_have_tm = 0;

/* The request sipflow_keepalive() marked in this process, for the sl
 * callback that sees its reply. */
static struct {
  unsigned int msg_id;
  int pid;
  int kind;
} sf_marked;

static sipflow_tstamp sf_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (sipflow_tstamp)ts.tv_sec * SIPFLOW_SECONDS +
         (sipflow_tstamp)ts.tv_nsec;
}

/* ---- allocator hooks: the library's objects live in shared memory -------- */

static void *sf_malloc(size_t n, void *ud) {
  (void)ud;
  return shm_malloc(n ? n : 1);
}
static void sf_free(void *p, void *ud) {
  (void)ud;
  if (p)
    shm_free(p);
}
static void *sf_calloc(size_t n, size_t sz, void *ud) {
  void *p;
  (void)ud;
  if (sz && n > SIZE_MAX / sz)
    return NULL;
  p = shm_malloc((n && sz) ? n * sz : 1);
  if (p)
    memset(p, 0, n * sz);
  return p;
}
static void *sf_realloc(void *p, size_t n, void *ud) {
  (void)ud;
  return shm_realloc(p, n ? n : 1);
}

static void sf_log(sipflow_log_level level, const char *msg, void *ud) {
  (void)ud;
  if (level <= SIPFLOW_LOG_WARN)
    LM_WARN("%s\n", msg);
  else
    LM_DBG("%s\n", msg);
}

static void sf_rand(uint8_t *dest, size_t len, void *ud) {
  (void)ud;
  for (size_t i = 0; i < len; i++)
    dest[i] = (uint8_t)(fastrand() >> 8);
}

/* ---- flows --------------------------------------------------------------- */

static int sf_transport(int proto) {
  switch (proto) {
  case PROTO_UDP:
    return SIPFLOW_TRANSPORT_UDP;
  case PROTO_TCP:
    return SIPFLOW_TRANSPORT_TCP;
  case PROTO_TLS:
    return SIPFLOW_TRANSPORT_TLS;
  default:
    return 0;
  }
}

static int sf_kproto(int transport) {
  switch (transport) {
  case SIPFLOW_TRANSPORT_UDP:
    return PROTO_UDP;
  case SIPFLOW_TRANSPORT_TCP:
    return PROTO_TCP;
  case SIPFLOW_TRANSPORT_TLS:
    return PROTO_TLS;
  default:
    return PROTO_NONE;
  }
}

static void sf_addr_from_ip(sipflow_addr *a, struct ip_addr *ip,
                            unsigned short port) {
  memset(a, 0, sizeof(*a));
  if (ip->af == AF_INET6) {
    a->family = SIPFLOW_AF_INET6;
    memcpy(a->bytes, ip->u.addr, 16);
  } else {
    a->family = SIPFLOW_AF_INET;
    memcpy(a->bytes, ip->u.addr, 4);
  }
  a->port = port;
}

static void sf_ip_from_addr(struct ip_addr *ip, const sipflow_addr *a) {
  memset(ip, 0, sizeof(*ip));
  if (a->family == SIPFLOW_AF_INET6) {
    ip->af = AF_INET6;
    ip->len = 16;
    memcpy(ip->u.addr, a->bytes, 16);
  } else {
    ip->af = AF_INET;
    ip->len = 4;
    memcpy(ip->u.addr, a->bytes, 4);
  }
}

/* The flow a request came in on; -1 for a transport we do not keep. */
static int sf_msg_tuple(struct sip_msg *msg, sipflow_flow_tuple *t) {
  memset(t, 0, sizeof(*t));
  t->transport = (uint8_t)sf_transport(msg->rcv.proto);
  if (!t->transport || !msg->rcv.bind_address)
    return -1;
  sf_addr_from_ip(&t->local, &msg->rcv.bind_address->address,
                  msg->rcv.bind_address->port_no);
  sf_addr_from_ip(&t->remote, &msg->rcv.src_ip, msg->rcv.src_port);
  if (t->transport != SIPFLOW_TRANSPORT_UDP)
    t->generation = (uint32_t)msg->rcv.proto_reserved1; /* connection id */
  return 0;
}

/* FNV-1a over the tuple: the library's flow id for an endpoint. */
static sipflow_flow_id sf_flow_id(const sipflow_flow_tuple *t) {
  uint64_t h = 1469598103934665603ULL;
  const uint8_t *parts[] = {&t->transport, t->local.bytes, t->remote.bytes};
  size_t lens[] = {1, 16, 16};
  uint16_t ports[] = {t->local.port, t->remote.port};
  for (size_t i = 0; i < 3; i++)
    for (size_t j = 0; j < lens[i]; j++)
      h = (h ^ parts[i][j]) * 1099511628211ULL;
  for (size_t i = 0; i < 2; i++)
    h = (h ^ ports[i]) * 1099511628211ULL;
  h = (h ^ t->generation) * 1099511628211ULL;
  return h ? h : 1;
}

/* ---- keepalive callbacks (run with the lock held) ------------------------ */

/*
 * UDP probes from the timer process leave in batches: sf_send_probe() copies
 * each one here while sipflow_ctx_handle_expiry() runs, and sf_batch_flush()
 * sends them with one sendmmsg() per run of probes on the same socket, after
 * the lock is released (or under it, when the batch fills). A probe the
 * kernel then refuses is not reported back to the library: it goes
 * unanswered and is missed after keepalive_timeout_ms, as a datagram lost on
 * the way would be. Process memory: only the timer process fills it.
 */
#define SF_BATCH 64
#define SF_PROBE_MAX 1024
static struct {
  int on; /* inside sf_timer(), in the timer process */
  unsigned n;
  int fd[SF_BATCH];
  union sockaddr_union to[SF_BATCH];
  struct iovec iov[SF_BATCH];
  struct mmsghdr mh[SF_BATCH];
  char buf[SF_BATCH][SF_PROBE_MAX];
} sf_batch;

/* Probes handed out by the current run of the timer (timer process). */
static unsigned sf_tick_sent;

static void sf_batch_flush(void) {
  unsigned i = 0, j, k;
  int n;
  while (i < sf_batch.n) {
    for (j = i + 1; j < sf_batch.n && sf_batch.fd[j] == sf_batch.fd[i]; j++)
      ;
    for (k = i; k < j; k++) {
      sf_batch.iov[k].iov_base = sf_batch.buf[k];
      memset(&sf_batch.mh[k], 0, sizeof(sf_batch.mh[k]));
      sf_batch.mh[k].msg_hdr.msg_name = &sf_batch.to[k].s;
      sf_batch.mh[k].msg_hdr.msg_namelen = sockaddru_len(sf_batch.to[k]);
      sf_batch.mh[k].msg_hdr.msg_iov = &sf_batch.iov[k];
      sf_batch.mh[k].msg_hdr.msg_iovlen = 1;
    }
    while (i < j) {
      n = sendmmsg(sf_batch.fd[i], &sf_batch.mh[i], j - i, 0);
      if (n > 0) {
        i += (unsigned)n;
        __atomic_add_fetch(&sf->batch_calls, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&sf->batch_probes, (uint64_t)n, __ATOMIC_RELAXED);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        /* the first probe left is refused: skip it, send the rest */
        LM_ERR("sipflow: sendmmsg of a keepalive probe: %s\n", strerror(errno));
        i++;
      }
    }
  }
  sf_batch.n = 0;
}

/* 0 queued, -1 not batched (send it at once) */
static int sf_batch_add(sf_ep *e, const sipflow_keepalive_probe *probe) {
  unsigned n;
  if (!sf_batch.on || sf_probe_batch < 2 || e->proto != PROTO_UDP ||
      probe->len > SF_PROBE_MAX || sr_event_enabled(SREV_NET_DATA_OUT))
    return -1;
  /* the core sends IPv4 over its raw socket when udp4_raw is on (the
   * socket itself is opened whenever kamailio may, as root) */
  if (raw_udp4_send_sock >= 0 && cfg_get(core, core_cfg, udp4_raw) &&
      e->sock->address.af == AF_INET)
    return -1;
  if (sf_batch.n >= (unsigned)sf_probe_batch)
    sf_batch_flush();
  n = sf_batch.n++;
  sf_batch.fd[n] = e->sock->socket;
  sf_batch.to[n] = e->to;
  memcpy(sf_batch.buf[n], probe->data, probe->len);
  sf_batch.iov[n].iov_len = probe->len;
  return 0;
}

static int sf_send_probe(sipflow_keepalive *ka, sipflow_flow_id flow,
                         const sipflow_keepalive_probe *probe, void *ud,
                         void *eud) {
  sf_ep *e = eud;
  struct dest_info dst;
  (void)ka;
  (void)flow;
  (void)ud;
  if (!e || !e->sock)
    return -1;
  if (sf_batch.on)
    sf_tick_sent++;
  if (sf_batch_add(e, probe) == 0)
    return 0;
  init_dest_info(&dst);
  dst.proto = e->proto;
  dst.to = e->to;
  dst.send_sock = e->sock;
  dst.id = e->tcpconn_id;
  /* TCP/TLS: the phone's own connection or nothing (never a new connect) */
  if (e->proto != PROTO_UDP)
    dst.send_flags.f |= SND_F_FORCE_CON_REUSE;
  if (msg_send_buffer(&dst, (char *)probe->data, (int)probe->len, 0) < 0)
    return -1;
  return 0;
}

static void sf_on_rtt(sipflow_keepalive *ka, sipflow_flow_id flow,
                      sipflow_duration rtt, void *ud, void *eud) {
  sf_ep *e = eud;
  (void)ka;
  (void)ud;
  if (sf_rtt_loglevel == 255 || !e)
    return;
  LOG(sf_rtt_loglevel,
      "sipflow: keepalive rtt %llu us aor [%.*s] flow %016llx proto %d "
      "remote %s\n",
      (unsigned long long)(rtt / SIPFLOW_MICROSECONDS), e->aor_len, e->aor,
      (unsigned long long)flow, e->proto, su2a(&e->to, sizeof(e->to)));
}

/* Does a usrloc contact sit on this endpoint's flow? */
static int sf_contact_on_flow(ucontact_t *c, sf_ep *e) {
  struct sip_uri u;
  str *s = c->received.len > 0 ? &c->received : &c->c;
  struct ip_addr ip;
  char buf[IP_ADDR_MAX_STR_SIZE];
  int n;
  if (e->proto != PROTO_UDP && c->tcpconn_id > 0)
    return c->tcpconn_id == e->tcpconn_id;
  if (parse_uri(s->s, s->len, &u) < 0)
    return 0;
  su2ip_addr(&ip, &e->to);
  n = ip_addr2sbuf(&ip, buf, sizeof(buf));
  if (u.host.len == n + 2 && u.host.s[0] == '[')
    return memcmp(u.host.s + 1, buf, n) == 0 &&
           (u.port_no ? u.port_no : SIP_PORT) == su_getport(&e->to);
  return u.host.len == n && memcmp(u.host.s, buf, n) == 0 &&
         (u.port_no ? u.port_no : SIP_PORT) == su_getport(&e->to);
}

/* A dead endpoint: its usrloc contacts go, or expire soon (dead_expires). */
static void sf_dead_contacts(sf_ep *e) {
  urecord_t *r = NULL;
  ucontact_t *c, *next;
  str aor;
  if (!sf_have_ul || !sf_domain || e->aor_len == 0)
    return;
  aor.s = e->aor;
  aor.len = e->aor_len;
  sf_ul.lock_udomain(sf_domain, &aor);
  if (sf_ul.get_urecord(sf_domain, &aor, &r) == 0 && r) {
    for (c = r->contacts; c; c = next) {
      next = c->next;
      if (!sf_contact_on_flow(c, e))
        continue;
      if (sf_dead_expires > 0) {
        time_t soon = time(NULL) + sf_dead_expires;
        if (c->expires == 0 || c->expires > soon)
          c->expires = soon;
      } else {
        sf_ul.delete_ucontact(r, c);
      }
      lock_get(&sf->lock);
      sf->contacts_removed++;
      lock_release(&sf->lock);
    }
    sf_ul.release_urecord(r);
  }
  sf_ul.unlock_udomain(sf_domain, &aor);
}

/*
 * Dead endpoints wait here (this process's memory) until our lock is
 * released: usrloc is edited without it, because sipflow_lookup() takes
 * usrloc's lock first and ours second, and the order must be one.
 */
static sf_ep **sf_dead_q = NULL;
static int sf_dead_n = 0, sf_dead_cap = 0;

static void sf_dead_push(sf_ep *e) {
  sf_ep *copy;
  if (sf_dead_n == sf_dead_cap) {
    int cap = sf_dead_cap ? sf_dead_cap * 2 : 64;
    sf_ep **q = pkg_realloc(sf_dead_q, (size_t)cap * sizeof(*q));
    if (!q)
      goto nomem;
    sf_dead_q = q;
    sf_dead_cap = cap;
  }
  copy = pkg_malloc(sizeof(*copy) + e->aor_len);
  if (!copy)
    goto nomem;
  memcpy(copy, e, sizeof(*copy) + e->aor_len);
  copy->aor_cap = e->aor_len;
  sf_dead_q[sf_dead_n++] = copy;
  return;
nomem:
  LM_ERR("sipflow: no memory: contacts of [%.*s] stay\n", e->aor_len, e->aor);
}

/* Called without our lock. */
static void sf_dead_drain(void) {
  for (int i = 0; i < sf_dead_n; i++) {
    sf_dead_contacts(sf_dead_q[i]);
    pkg_free(sf_dead_q[i]);
  }
  sf_dead_n = 0;
}

static void sf_on_state(sipflow_keepalive *ka, sipflow_flow_id flow,
                        const sipflow_keepalive_state_change *ch, void *ud,
                        void *eud) {
  sf_ep *e = eud;
  (void)ka;
  (void)ud;
  if (!e)
    return;
  LM_INFO("sipflow: flow %016llx aor [%.*s] %s after %u misses\n",
          (unsigned long long)flow, e->aor_len, e->aor,
          sipflow_keepalive_event_name(ch->event), ch->consecutive_misses);
  if (ch->event != SIPFLOW_KEEPALIVE_DEAD)
    return;
  sf->deaths_handled++;
  sf_dead_push(e);
}

static void sf_on_removed(sipflow_keepalive *ka, sipflow_flow_id flow, int why,
                          void *ud, void *eud) {
  (void)ka;
  (void)ud;
  LM_DBG("sipflow: endpoint %016llx removed (%s)\n", (unsigned long long)flow,
         sipflow_keepalive_removal_name(why));
  if (eud)
    shm_free(eud);
}

/* ---- key file ------------------------------------------------------------ */

static int sf_hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* The key: 64 hex digits in key_file (whitespace around is ignored). */
static int sf_load_key(uint8_t key[32]) {
  char buf[256];
  size_t n, k = 0;
  FILE *f;
  if (!sf_key_file || !*sf_key_file)
    return sipflow_token_key_generate(key, 32) == 0 ? 0 : -1;
  f = fopen(sf_key_file, "r");
  if (!f) {
    LM_ERR("cannot open key_file %s\n", sf_key_file);
    return -1;
  }
  n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  for (size_t i = 0; i < n && k < 64; i++) {
    int v;
    if (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t')
      continue;
    if ((v = sf_hexval((unsigned char)buf[i])) < 0)
      break;
    if (k % 2 == 0)
      key[k / 2] = (uint8_t)(v << 4);
    else
      key[k / 2] |= (uint8_t)v;
    k++;
  }
  if (k != 64) {
    LM_ERR("key_file %s must hold 64 hex digits (a 32-byte key)\n",
           sf_key_file);
    return -1;
  }
  return 0;
}

/* ---- module life --------------------------------------------------------- */

static sipflow_mem sf_mem = {NULL, sf_malloc, sf_free, sf_calloc, sf_realloc};

static void sf_sl_reply(sl_cbp_t *p);
static int sf_dgram_in(sr_event_param_t *evp);
static sl_cbelem_t sf_slcb = {SLCB_REPLY_READY, sf_sl_reply, NULL, NULL};

static int mod_init(void) {
  sipflow_ctx_callbacks ccb = {sf_log, sf_rand};
  sipflow_ctx_settings cs;
  sipflow_keepalive_callbacks kcb = {sf_send_probe, sf_on_rtt, sf_on_state,
                                     sf_on_removed};
  sipflow_keepalive_settings ks;
  uint8_t key[32];
  int rc;
  bind_usrloc_t bind_ul;
  void *bind_ul_fn;

  if (sl_load_api(&sf_slb) != 0) {
    LM_ERR("the sl module is needed\n");
    return -1;
  }
  if (sf_slb.register_cb(&sf_slcb) != 0)
    return -1;
  /* a function pointer, through void * as dlsym's users do */
  /* tm, when loaded, shows the replies it relays or sends (an edge's
   * REGISTER, a SUBSCRIBE) */
  if (find_export("load_tm", NO_SCRIPT, 0) && load_tm_api(&sf_tmb) == 0)
    sf_have_tm = 1;
  bind_ul_fn = (void *)find_export("ul_bind_usrloc", 1, 0);
  memcpy(&bind_ul, &bind_ul_fn, sizeof(bind_ul));
  if (bind_ul && bind_ul(&sf_ul) == 0) {
    sf_have_ul = 1;
    if (sf_ul.get_udomain(sf_usrloc_domain, &sf_domain) < 0)
      sf_domain = NULL; /* looked up again in child_init */
  }
  if (sf_dgram_hook &&
      sr_event_register_cb(SREV_NET_DGRAM_IN, sf_dgram_in) != 0)
    LM_INFO("sipflow: another module holds the UDP datagram hook; probe "
            "answers over UDP go through the response hook\n");
  if (sf_probe_batch < 0 || sf_probe_batch > SF_BATCH) {
    LM_ERR("probe_batch: 0..%d\n", SF_BATCH);
    return -1;
  }
  if (sf_tick_ms < 1 || sf_tick_ms > 60000 || sf_tick_max_ms < 0 ||
      sf_tick_max_ms > 60000 || sf_tick_batch < 0) {
    LM_ERR("timer_tick_ms: 1..60000; timer_tick_max_ms: 0..60000; "
           "tick_batch: 0 or more\n");
    return -1;
  }
  register_basic_timers(1); /* the keepalive timer process */
  sf = shm_malloc(sizeof(*sf));
  if (!sf)
    return -1;
  memset(sf, 0, sizeof(*sf));
  lock_init(&sf->lock);
  sipflow_ctx_settings_default(&cs);
  sf_rand(cs.hash_key, sizeof(cs.hash_key), NULL);
  if ((rc = sipflow_ctx_new(&sf->ctx, &ccb, &cs, &sf_mem, NULL)) != 0)
    goto fail;
  sipflow_keepalive_settings_default(&ks);
  if (sf_interval_ms > 0) {
    ks.udp_interval = (sipflow_duration)sf_interval_ms * SIPFLOW_MILLISECONDS;
    ks.stream_interval = ks.udp_interval;
  }
  if (sf_timeout_ms > 0)
    ks.options_timeout = (sipflow_duration)sf_timeout_ms * SIPFLOW_MILLISECONDS;
  if (sf_dead_after > 0)
    ks.dead_after = (uint32_t)sf_dead_after;
  ks.max_endpoints = (uint32_t)(sf_max_endpoints > 0 ? sf_max_endpoints : 0);
  /* a dead endpoint stays (dead) until its reasons end: a token naming it
   * gets 430, and an answer revives it */
  ks.remove_dead = 0;
  if ((rc = sipflow_keepalive_new(&sf->ka, sf->ctx, &kcb, &ks, NULL)) != 0)
    goto fail;
  if ((rc = sipflow_keyring_new(&sf->kr, sf->ctx)) != 0)
    goto fail;
  if (sf_load_key(key) != 0)
    return -1;
  rc = sipflow_keyring_add(sf->kr, 1, key, sizeof(key));
  if (rc == 0)
    rc = sipflow_keyring_set_current(sf->kr, 1);
  memset(key, 0, sizeof(key));
  if (rc != 0)
    goto fail;
  return 0;
fail:
  LM_ERR("libsipflow: %s\n", sipflow_strerror(rc));
  return -1;
}

/* ---- the answer sockets (answers.c; README.md, "Answers read in batches") */

#define SF_ANSWER_MAX 16           /* UDP listening sockets served */
#define SF_ANSWER_RCVBUF (4 << 20) /* their receive buffer, if allowed */
static int sf_ans_fd[SF_ANSWER_MAX];
static int sf_ans_n = 0;
static int sf_ans_room = 0; /* datagrams the smallest of them holds */

/* What our probes' 200 OK on |si| starts with: the status line, then the
 * Via as the probe had it, up to the branch's cookie and mark. Taken from
 * a probe the library builds, so it is byte for byte what phones echo. */
static int sf_answer_prefix(struct socket_info *si, char *out, size_t cap) {
  static const char status[] = "SIP/2.0 200 OK\r\n";
  sipflow_keepalive_options_request req;
  char probe[SIPFLOW_KEEPALIVE_OPTIONS_MAX];
  size_t len, n;
  const char *via, *mark;
  sipflow_keepalive_options_request_default(&req);
  req.transport = SIPFLOW_TRANSPORT_UDP;
  sf_addr_from_ip(&req.local, &si->address, si->port_no);
  req.remote = req.local;
  if (sipflow_keepalive_options_build(&req, probe, sizeof(probe), &len) != 0 ||
      !(via = strstr(probe, "\r\nVia: ")) ||
      !(mark = strstr(via, ";branch=z9hG4bKsfka")))
    return -1;
  via += 2;
  mark += strlen(";branch=z9hG4bKsfka");
  n = sizeof(status) - 1 + (size_t)(mark - via);
  if (n >= cap)
    return -1;
  memcpy(out, status, sizeof(status) - 1);
  memcpy(out + sizeof(status) - 1, via, (size_t)(mark - via));
  out[n] = '\0';
  return (int)n;
}

/* In the main process before any child: an answer socket beside each UDP
 * listening socket, where the kernel allows; a warning where not. */
static void sf_answers_open(void) {
  char prefix[256], log[2048];
  if (!sf_answer_socket)
    return;
  if (sr_event_enabled(SREV_NET_DATA_IN)) {
    LM_INFO("sipflow: a module reads incoming data (SREV_NET_DATA_IN): "
            "probe answers stay with the UDP receivers\n");
    return;
  }
  for (struct socket_info *si = udp_listen; si; si = si->next) {
    int n, fd;
    if (si->socket < 0 || (si->flags & SI_IS_MCAST) ||
        sf_ans_n >= SF_ANSWER_MAX)
      continue;
    if ((n = sf_answer_prefix(si, prefix, sizeof(prefix))) < 0)
      continue;
    fd = sfa_open(si->socket, prefix, (size_t)n, SF_ANSWER_RCVBUF, log,
                  sizeof(log));
    if (fd < 0) {
      LM_WARN("sipflow: no answer socket on %.*s (%s); its probe answers "
              "wake the UDP receivers%s%s\n",
              si->sock_str.len, si->sock_str.s, strerror(-fd),
              log[0] ? ": " : "", log);
      continue;
    }
    {
      int v = 0;
      socklen_t len = sizeof(v);
      if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &len) == 0 &&
          (sf_ans_room == 0 || v / 2048 < sf_ans_room))
        sf_ans_room = v / 2048 > 1 ? v / 2048 : 1;
    }
    LM_INFO("sipflow: probe answers on %.*s read in batches (room for %d)\n",
            si->sock_str.len, si->sock_str.s, sf_ans_room);
    sf_ans_fd[sf_ans_n++] = fd;
  }
  sf->answer_sockets = sf_ans_n;
}

/* Every process but the timer lets go of the answer sockets. */
static void sf_answers_close(void) {
  for (int i = 0; i < sf_ans_n; i++)
    close(sf_ans_fd[i]);
  sf_ans_n = 0;
}

/* One recvmmsg()'s worth: parsed first, then applied under one lock. */
typedef struct sf_answer_batch {
  int64_t shift; /* CLOCK_MONOTONIC minus CLOCK_REALTIME, ns */
  uint32_t drops;
} sf_answer_batch;

static void sf_answers_take(const sfa_dgram *d, unsigned n, void *ud) {
  sf_answer_batch *b = ud;
  uint64_t id[64];
  unsigned status[64];
  sipflow_tstamp rx[64];
  unsigned k = 0, other = 0;
  for (unsigned i = 0; i < n && k < 64; i++) {
    if (d[i].truncated || sipflow_keepalive_options_response_parse(
                              (const uint8_t *)d[i].data, (size_t)d[i].len,
                              &id[k], &status[k]) != 0) {
      other++;
      continue;
    }
    rx[k] = d[i].rx_ns > 0 && d[i].rx_ns + b->shift > 0
                ? (sipflow_tstamp)(d[i].rx_ns + b->shift)
                : 0;
    k++;
  }
  if (k) {
    lock_get(&sf->lock);
    for (unsigned i = 0; i < k; i++) {
      /* the clock is read under the lock, for each answer (time never
       * goes backwards, whatever a callback did), and no receive time
       * comes after it */
      int rc = sipflow_keepalive_on_options_response_at(
          sf->ka, id[i], status[i], sf_now(), rx[i]);
      if (rc != 0)
        LM_DBG("sipflow: probe answer not taken: %s\n", sipflow_strerror(rc));
    }
    lock_release(&sf->lock);
  }
  __atomic_add_fetch(&sf->answers_read, n, __ATOMIC_RELAXED);
  if (other)
    __atomic_add_fetch(&sf->answers_other, other, __ATOMIC_RELAXED);
}

/* The timer process, before each run: every answer that has arrived.
 * Returns the datagrams read. */
static int sf_answers_drain(void) {
  static uint32_t dropped[SF_ANSWER_MAX];
  int total = 0;
  for (int i = 0; i < sf_ans_n; i++) {
    int n;
    struct timespec m, r;
    sf_answer_batch b;
    clock_gettime(CLOCK_MONOTONIC, &m);
    clock_gettime(CLOCK_REALTIME, &r);
    b.shift = ((int64_t)m.tv_sec - (int64_t)r.tv_sec) * 1000000000 +
              ((int64_t)m.tv_nsec - (int64_t)r.tv_nsec);
    b.drops = dropped[i];
    if ((n = sfa_drain(sf_ans_fd[i], 64, sf_answers_take, &b, &b.drops)) < 0)
      continue;
    total += n;
    if (b.drops != dropped[i])
      __atomic_add_fetch(&sf->answers_dropped,
                         (uint64_t)(uint32_t)(b.drops - dropped[i]),
                         __ATOMIC_RELAXED);
    dropped[i] = b.drops;
  }
  return total;
}

/* One run of the timer: due probes out, dead flows handled. Returns the
 * library's next deadline. */
static sipflow_tstamp sf_timer_run(void) {
  sipflow_tstamp now, next;
  lock_get(&sf->lock);
  now = sf_now(); /* read under the lock: time never goes backwards */
  if (sipflow_ctx_get_expiry(sf->ctx) <= now) {
    sf_batch.on = 1;
    (void)sipflow_ctx_handle_expiry(sf->ctx, now);
    sf_batch.on = 0;
  }
  next = sipflow_ctx_get_expiry(sf->ctx);
  lock_release(&sf->lock);
  sf_batch_flush();
  sf_dead_drain();
  return next;
}

/* Probes a tick aims at when tick_batch is 0: as many answers as the
 * smallest UDP receive buffer holds at 2 KiB each (a small datagram's
 * share of the buffer on Linux, with its overhead), 16..4096. */
static int sf_auto_tick_batch(void) {
  int least = 0, v;
  socklen_t len;
  for (struct socket_info *si = udp_listen; si; si = si->next) {
    len = sizeof(v);
    if (si->socket >= 0 &&
        getsockopt(si->socket, SOL_SOCKET, SO_RCVBUF, &v, &len) == 0 && v > 0 &&
        (least == 0 || v < least))
      least = v;
  }
  if (least == 0)
    return 256;
  v = least / 2048;
  return v < 16 ? 16 : v > 4096 ? 4096 : v;
}

/*
 * The next tick (ms). Each wake-up of this process sends a batch, and the
 * answers to a batch arrive together, so a UDP worker reads several per
 * wake-up: the longer the tick, the fewer wake-ups on both sides. It is as
 * long as it takes the probes to reach tick_batch at the recent rate (so
 * the answers to one tick fit in the receive buffer), and no shorter than
 * the wait for the library's next deadline; between timer_tick_ms and
 * timer_tick_max_ms. And whatever else: short enough that what reaches the
 * answer sockets at the recent rate (|in_rate| a second, answers or a
 * stranger's flood of look-alikes) fills at most half of their room, so
 * that a flood makes the timer read more often instead of crowding the
 * answers out.
 */
static int sf_next_tick(double rate, sipflow_tstamp next, sipflow_tstamp now,
                        int batch, double in_rate) {
  double want = (double)sf_tick_max_ms;
  if (rate > 0 && (double)batch * 1000.0 / rate < want)
    want = (double)batch * 1000.0 / rate;
  if (next > now && (double)((next - now) / SIPFLOW_MILLISECONDS) > want)
    want = (double)((next - now) / SIPFLOW_MILLISECONDS);
  if (in_rate > 0 && sf_ans_room > 0 &&
      (double)sf_ans_room * 500.0 / in_rate < want)
    want = (double)sf_ans_room * 500.0 / in_rate;
  if (want > sf_tick_max_ms)
    want = sf_tick_max_ms;
  if (want < sf_tick_ms)
    want = sf_tick_ms;
  return (int)want;
}

/* The timer process: fork_basic_utimer()'s loop with a tick of its own. */
static void sf_timer_loop(void) {
  int tick = sf_tick_max_ms > sf_tick_ms ? sf_tick_max_ms : sf_tick_ms;
  int batch = sf_tick_batch > 0 ? sf_tick_batch : sf_auto_tick_batch();
  double rate = 0, in_rate = 0;
  sipflow_tstamp last = sf_now(), next, now;
  int read;
  __atomic_store_n(&sf->tick_batch, batch, __ATOMIC_RELAXED);
  for (;;) {
    __atomic_store_n(&sf->tick_now_ms, tick, __ATOMIC_RELAXED);
    sleep_us((unsigned)tick * 1000u);
    cfg_update();
    sf_tick_sent = 0;
    read = sf_answers_drain(); /* before the run, which judges timeouts */
    next = sf_timer_run();
    now = sf_now();
    if (now > last) {
      double r =
          (double)sf_tick_sent * (double)SIPFLOW_SECONDS / (double)(now - last);
      double in = (double)read * (double)SIPFLOW_SECONDS / (double)(now - last);
      /* up at once (a rise must not send one oversized batch after
       * another), down smoothly */
      rate = r > rate ? r : rate + (r - rate) / 4;
      in_rate = in > in_rate ? in : in_rate + (in - in_rate) / 4;
    }
    last = now;
    tick = sf_next_tick(rate, next, now, batch, in_rate);
  }
}

static int sf_forking_timer = 0; /* inside fork_process() for our timer */

static int child_init(int rank) {
  int pid;
  if (sf_have_ul && !sf_domain)
    (void)sf_ul.get_udomain(sf_usrloc_domain, &sf_domain);
  if (rank == PROC_INIT) { /* sockets bound, no child forked yet */
    sf_answers_open();
    return 0;
  }
  if (rank != PROC_MAIN) {
    /* fork_process() runs child_init() in its child, ours too */
    if (!sf_forking_timer)
      sf_answers_close();
    return 0;
  }
  sf_forking_timer = 1;
  pid = fork_process(PROC_TIMER, "sipflow keepalive timer", 1);
  sf_forking_timer = 0;
  if (pid < 0) {
    LM_ERR("cannot start the keepalive timer process\n");
    return -1;
  }
  if (pid == 0) {
    if (cfg_child_init())
      return -1;
    sf_timer_loop(); /* never returns */
  }
  return 0;
}

static void mod_destroy(void) {
  if (!sf)
    return;
  /* the library's memory is shared memory, freed with it at exit */
}

/* ---- keepalive: the reasons ---------------------------------------------- */

/* The AoR of a request as usrloc keys it: the To URI's user, with its host
 * when usrloc's use_domain is set. */
static str sf_aor(struct sip_msg *msg) {
  str none = {0, 0}, aor;
  struct sip_uri *u;
  if (parse_to_header(msg) < 0 || !msg->to)
    return none;
  if (!(u = parse_to_uri(msg)))
    return none;
  if (u->user.len <= 0)
    return none;
  aor = u->user;
  if (sf_have_ul && sf_ul.use_domain && u->host.len > 0)
    aor.len = (int)(u->host.s + u->host.len - u->user.s);
  return aor.len > 0 ? aor : none;
}

static uint64_t sf_reason_id(str *s) {
  uint64_t h = 1469598103934665603ULL;
  for (int i = 0; i < s->len; i++)
    h = (h ^ (unsigned char)s->s[i]) * 1099511628211ULL;
  return h;
}

/*
 * Make sure an endpoint exists for the request's flow, with our data. The
 * record is the endpoint's own when it fits the AoR; otherwise a new one, and
 * *fresh says so: the caller frees it if the library does not take it, or
 * frees the endpoint's old record (*old) once the library holds the new one.
 */
static int sf_ep_for_msg(struct sip_msg *msg, str aor,
                         sipflow_keepalive_endpoint *ep, int *fresh,
                         sf_ep **old) {
  sipflow_keepalive_stats st;
  sf_ep *e = NULL;
  int keep = aor.len < 0; /* -len: the AoR only for an endpoint without one */
  *fresh = 0;
  *old = NULL;
  if (keep)
    aor.len = -aor.len;
  if (aor.len > SF_AOR_MAX)
    aor.len = 0; /* not kept: its contacts are not removed on death */
  sipflow_keepalive_endpoint_default(ep);
  if (sf_msg_tuple(msg, &ep->tuple) < 0)
    return -1;
  ep->flow_id = sf_flow_id(&ep->tuple);
  ep->method = SIPFLOW_KEEPALIVE_OPTIONS;
  if (sipflow_keepalive_get_stats(sf->ka, ep->flow_id, &st) == 0 &&
      st.user_data) {
    e = st.user_data;
    if (keep && e->aor_len > 0)
      aor.len = 0;
    if (e->aor_cap < aor.len) {
      *old = e;
      e = NULL;
    }
  }
  if (!e) {
    e = shm_malloc(sizeof(*e) + (size_t)aor.len);
    if (!e)
      return -1;
    memset(e, 0, sizeof(*e));
    e->aor_cap = (unsigned short)aor.len;
    *fresh = 1;
  }
  e->sock = msg->rcv.bind_address;
  e->proto = msg->rcv.proto;
  e->tcpconn_id = msg->rcv.proto_reserved1;
  init_su(&e->to, &msg->rcv.src_ip, msg->rcv.src_port);
  if (aor.len > 0) {
    memcpy(e->aor, aor.s, aor.len);
    e->aor_len = (unsigned short)aor.len;
  }
  ep->user_data = e;
  return 0;
}

/* What a raw 2xx grants: for REGISTER the longest ";expires=N" among its
 * Contacts, for SUBSCRIBE its Expires header. */
static long sf_reply_expires(const char *buf, int len, int kind) {
  long best = 0;
  const char *p = buf, *end = buf + len;
  p = memchr(p, '\n', end - p); /* past the status line */
  p = p ? p + 1 : end;
  while (p < end) {
    const char *eol = memchr(p, '\n', end - p);
    const char *le = eol ? eol : end;
    if (le == p || (le - p == 1 && p[0] == '\r'))
      break; /* end of headers */
    if (kind == SIPFLOW_KEEPALIVE_REGISTRATION &&
        ((le - p >= 8 && strncasecmp(p, "Contact:", 8) == 0) ||
         (le - p >= 2 && strncasecmp(p, "m:", 2) == 0))) {
      for (const char *q = p; q + 9 <= le; q++) {
        if (strncasecmp(q, ";expires=", 9) == 0) {
          long v = strtol(q + 9, NULL, 10);
          if (v > best)
            best = v;
        }
      }
    } else if (kind == SIPFLOW_KEEPALIVE_SUBSCRIPTION && le - p >= 8 &&
               strncasecmp(p, "Expires:", 8) == 0) {
      best = strtol(p + 8, NULL, 10);
    }
    p = le + 1;
  }
  return best < 0 ? 0 : best;
}

/* A dialog's reason id: its Call-ID, the same from either side's BYE. */
static uint64_t sf_dialog_id(struct sip_msg *msg) {
  if ((!msg->callid && parse_headers(msg, HDR_CALLID_F, 0) < 0) || !msg->callid)
    return 0;
  return sf_reason_id(&msg->callid->body);
}

/* The final answer to an initial INVITE: a 2xx confirms the dialog's reason
 * for dialog_lifetime (a BYE ends it sooner), any other drops it. */
static void sf_dialog_final(struct sip_msg *req, int code) {
  sipflow_flow_tuple t;
  uint64_t id = sf_dialog_id(req);
  if (code < 200 || !id || sf_msg_tuple(req, &t) < 0)
    return;
  lock_get(&sf->lock);
  (void)sipflow_keepalive_reason_confirm(
      sf->ka, sf_flow_id(&t), SIPFLOW_KEEPALIVE_DIALOG, id, (unsigned)code,
      (sipflow_duration)sf_dialog_lifetime * SIPFLOW_SECONDS, sf_now());
  lock_release(&sf->lock);
}

static int sf_route_token(struct sip_msg *msg, sipflow_token_info *info,
                          rr_t **rt_out);

/* A BYE ends its dialog's reason on the flow it came on and on the flow its
 * Route token names (the caller's, when the callee hangs up). */
static int sf_dialog_bye(struct sip_msg *msg) {
  sipflow_flow_tuple t;
  sipflow_token_info info;
  uint64_t id = sf_dialog_id(msg);
  int have_own = sf_msg_tuple(msg, &t) == 0;
  int have_tok = sf_route_token(msg, &info, NULL) == 0;
  if (!id)
    return -1;
  lock_get(&sf->lock);
  if (have_own)
    (void)sipflow_keepalive_reason_end(sf->ka, sf_flow_id(&t),
                                       SIPFLOW_KEEPALIVE_DIALOG, id, sf_now());
  if (have_tok)
    (void)sipflow_keepalive_reason_end(sf->ka, sf_flow_id(&info.tuple),
                                       SIPFLOW_KEEPALIVE_DIALOG, id, sf_now());
  lock_release(&sf->lock);
  return 1;
}

/* An initial INVITE opens its dialog's reason tentatively (not probed yet)
 * for as long as an INVITE may wait for its final answer (Timer C). */
static int sf_dialog_open(struct sip_msg *msg) {
  sipflow_keepalive_endpoint ep;
  int fresh, rc = -1;
  sf_ep *old;
  uint64_t id = sf_dialog_id(msg);
  str aor = {0, 0};
  struct sip_uri *u;
  if (!id)
    return -1;
  /* the caller's AoR (From), for a flow that has none yet */
  if (parse_from_header(msg) == 0 && (u = parse_from_uri(msg)) &&
      u->user.len > 0) {
    aor = u->user;
    if (sf_have_ul && sf_ul.use_domain && u->host.len > 0)
      aor.len = (int)(u->host.s + u->host.len - u->user.s);
    aor.len = -aor.len;
  }
  lock_get(&sf->lock);
  if (sf_ep_for_msg(msg, aor, &ep, &fresh, &old) == 0) {
    rc = sipflow_keepalive_reason_open(sf->ka, &ep, SIPFLOW_KEEPALIVE_DIALOG,
                                       id, 180 * SIPFLOW_SECONDS, sf_now());
    if (rc != 0) {
      LM_WARN("sipflow: dialog keepalive not kept: %s\n", sipflow_strerror(rc));
      if (fresh)
        shm_free(ep.user_data);
    } else if (old) {
      shm_free(old);
    }
  }
  lock_release(&sf->lock);
  return rc == 0 ? 1 : -1;
}

/* A final reply to a request sipflow_keepalive() marked. */
static void sf_on_final(struct sip_msg *req, int code, const char *buf, int len,
                        int kind) {
  sipflow_keepalive_endpoint ep;
  str aor;
  long expires;
  if (kind == SIPFLOW_KEEPALIVE_DIALOG) {
    sf_dialog_final(req, code);
    return;
  }
  if (code < 200 || code >= 300 || !buf || len <= 0)
    return;
  expires = sf_reply_expires(buf, len, kind);
  aor = sf_aor(req);
  lock_get(&sf->lock);
  if (expires > 0) {
    int fresh;
    sf_ep *old;
    if (sf_ep_for_msg(req, aor, &ep, &fresh, &old) == 0) {
      int rc = sipflow_keepalive_reason_set(
          sf->ka, &ep, kind, sf_reason_id(&aor),
          (sipflow_duration)expires * SIPFLOW_SECONDS, sf_now());
      if (rc != 0) {
        LM_WARN("sipflow: keepalive not kept: %s\n", sipflow_strerror(rc));
        if (fresh)
          shm_free(ep.user_data);
      } else if (old) {
        shm_free(old); /* the endpoint holds the larger record now */
      }
    }
  } else {
    sipflow_flow_tuple t;
    if (sf_msg_tuple(req, &t) == 0)
      (void)sipflow_keepalive_reason_end(sf->ka, sf_flow_id(&t), kind,
                                         sf_reason_id(&aor), sf_now());
  }
  lock_release(&sf->lock);
}

/* A stateless reply (registrar's save() without a transaction). */
static void sf_sl_reply(sl_cbp_t *p) {
  struct sip_msg *req = p->req;
  if (!req || sf_marked.pid != my_pid() || sf_marked.msg_id != req->id)
    return;
  sf_marked.msg_id = 0;
  if (p->reply)
    sf_on_final(req, p->code, p->reply->s, p->reply->len, sf_marked.kind);
}

/* A reply tm sends or relays (an edge's REGISTER, a SUBSCRIBE). */
static void sf_tm_reply(struct cell *t, int type, struct tmcb_params *ps) {
  int kind = (int)(long)*ps->param;
  (void)t;
  (void)type;
  if (!ps->req || ps->code < 200)
    return;
  if (ps->send_buf.s && ps->send_buf.len > 0)
    sf_on_final(ps->req, ps->code, ps->send_buf.s, ps->send_buf.len, kind);
  else if (ps->t_rbuf && ps->t_rbuf->buffer)
    sf_on_final(ps->req, ps->code, ps->t_rbuf->buffer, ps->t_rbuf->buffer_len,
                kind);
}

static int w_sipflow_keepalive(struct sip_msg *msg, char *a, char *b) {
  int kind;
  (void)a;
  (void)b;
  if (msg->first_line.type != SIP_REQUEST)
    return -1;
  if (!sf_transport(msg->rcv.proto))
    return -1;
  switch (msg->REQ_METHOD) {
  case METHOD_REGISTER:
    kind = SIPFLOW_KEEPALIVE_REGISTRATION;
    break;
  case METHOD_SUBSCRIBE:
    kind = SIPFLOW_KEEPALIVE_SUBSCRIPTION;
    break;
  case METHOD_INVITE:
    kind = SIPFLOW_KEEPALIVE_DIALOG;
    break;
  case METHOD_BYE:
    return sf_dialog_bye(msg);
  default:
    LM_WARN("sipflow_keepalive(): REGISTER, SUBSCRIBE, INVITE and BYE only\n");
    return -1;
  }
  /* parsed now, so that tm's copy of the request has them */
  if (parse_to_header(msg) < 0 || !parse_to_uri(msg))
    return -1;
  if (kind == SIPFLOW_KEEPALIVE_DIALOG) {
    if (get_to(msg)->tag_value.len > 0)
      return -1; /* a re-INVITE: the dialog's reason is already there */
    if (sf_dialog_open(msg) < 0)
      return -1;
  }
  sf_marked.kind = kind;
  sf_marked.msg_id = msg->id;
  sf_marked.pid = my_pid();
  if (sf_have_tm && sf_tmb.register_tmcb(msg, 0, TMCB_RESPONSE_OUT, sf_tm_reply,
                                         (void *)(long)kind, 0) <= 0)
    LM_WARN("sipflow_keepalive(): no tm callback; stateless replies only\n");
  return 1;
}

/* A probe's answer, recognised in raw bytes: 0 taken, -1 not one of ours. */
static int sf_take_answer(const char *buf, int len) {
  uint64_t probe_id;
  unsigned status;
  int rc;
  if (len < 12 || memcmp(buf, "SIP/2.0 ", 8) != 0 ||
      sipflow_keepalive_options_response_parse(
          (const uint8_t *)buf, (size_t)len, &probe_id, &status) != 0)
    return -1;
  lock_get(&sf->lock);
  rc =
      sipflow_keepalive_on_options_response(sf->ka, probe_id, status, sf_now());
  lock_release(&sf->lock);
  if (rc != 0)
    LM_DBG("sipflow: probe answer not taken: %s\n", sipflow_strerror(rc));
  return 0;
}

/*
 * Every UDP datagram, in the UDP receiver, before Kamailio parses it: our
 * probes' answers stop here (-1: handled), which spares each one the core's
 * copy into a sip_msg, its header parsing and the reply routing. Anything
 * else goes on (1).
 */
static int sf_dgram_in(sr_event_param_t *evp) {
  void **d = (void **)evp->data;
  return sf_take_answer((const char *)d[0], *(int *)d[1]) == 0 ? -1 : 1;
}

/* Replies to our probes that the datagram hook did not take (TCP, TLS, or
 * UDP when another module holds the hook): consumed here, never routed. */
static int sf_response(struct sip_msg *msg) {
  return sf_take_answer(msg->buf, (int)msg->len) == 0 ? 0 : 1;
}

/* ---- flow tokens --------------------------------------------------------- */

/* "<sip:TOKEN@host:port;transport=x;lr;ob>" for our receiving socket. */
static int sf_token_uri(struct sip_msg *msg, char *out, size_t cap,
                        int with_ob) {
  sipflow_flow_tuple t;
  char tok[256];
  size_t tlen = 0;
  struct socket_info *si = msg->rcv.bind_address;
  str host, port;
  const char *proto = "";
  int n;
  if (sf_msg_tuple(msg, &t) < 0 || !si)
    return -1;
  if (sipflow_token_mint(sf->kr, &t, tok, sizeof(tok), &tlen) != 0)
    return -1;
  host = si->useinfo.name.len > 0 ? si->useinfo.name : si->address_str;
  port = si->useinfo.port_no > 0 ? si->useinfo.port_no_str : si->port_no_str;
  if (msg->rcv.proto == PROTO_TCP)
    proto = ";transport=tcp";
  else if (msg->rcv.proto == PROTO_TLS)
    proto = ";transport=tls";
  n = snprintf(out, cap, "<sip:%.*s@%s%.*s%s:%.*s%s;lr%s>", (int)tlen, tok,
               si->address.af == AF_INET6 ? "[" : "", host.len, host.s,
               si->address.af == AF_INET6 ? "]" : "", port.len, port.s, proto,
               with_ob ? ";ob" : "");
  return (n > 0 && (size_t)n < cap) ? n : -1;
}

static int sf_add_header(struct sip_msg *msg, const char *name, int with_ob,
                         int before_first) {
  char uri[512];
  int n = sf_token_uri(msg, uri, sizeof(uri), with_ob);
  struct lump *anchor;
  char *hdr;
  int len;
  if (n < 0)
    return -1;
  if (parse_headers(msg, HDR_EOH_F, 0) < 0)
    return -1;
  len = (int)strlen(name) + 2 + n + CRLF_LEN;
  hdr = pkg_malloc(len + 1);
  if (!hdr)
    return -1;
  snprintf(hdr, len + 1, "%s: %.*s" CRLF, name, n, uri);
  anchor = anchor_lump(msg,
                       before_first ? msg->headers->name.s - msg->buf
                                    : msg->unparsed - msg->buf,
                       0, 0);
  if (!anchor || !insert_new_lump_before(anchor, hdr, len, 0)) {
    pkg_free(hdr);
    return -1;
  }
  return 1;
}

static int w_sipflow_add_path(struct sip_msg *msg, char *a, char *b) {
  (void)a;
  (void)b;
  return sf_add_header(msg, "Path", 1, 1);
}

static int w_sipflow_record_route(struct sip_msg *msg, char *a, char *b) {
  (void)a;
  (void)b;
  return sf_add_header(msg, "Record-Route", 1, 1);
}

/* The token in the top Route: 0 with |info|, -1 none, -2 forged, -3 not
 * valid any more. */
static int sf_route_token(struct sip_msg *msg, sipflow_token_info *info,
                          rr_t **rt_out) {
  rr_t *rt;
  struct sip_uri u;
  int rc;
  if (parse_headers(msg, HDR_ROUTE_F, 0) < 0 || !msg->route)
    return -1;
  if (parse_rr(msg->route) < 0)
    return -1;
  rt = (rr_t *)msg->route->parsed;
  if (!rt || parse_uri(rt->nameaddr.uri.s, rt->nameaddr.uri.len, &u) < 0 ||
      u.user.len == 0)
    return -1;
  rc = sipflow_token_verify(sf->kr, u.user.s, u.user.len, info);
  if (rc == SIPFLOW_ERR_MALFORMED)
    return -1;
  if (sipflow_token_sip_status(rc) == 403)
    return -2;
  if (rc != 0)
    return -3;
  if (rt_out)
    *rt_out = rt;
  return 0;
}

/*
 * Route a request by the token in its top Route: 1 routed ($du and the send
 * socket set to the flow), -1 no token, -2 forged (answer 403), -3 the flow
 * is gone (answer 430).
 */
static int w_sipflow_route(struct sip_msg *msg, char *a, char *b) {
  rr_t *rt = NULL;
  sipflow_token_info info;
  struct socket_info *si;
  struct ip_addr lip, rip;
  char du[256];
  str dus;
  int rc, n, kp;
  (void)a;
  (void)b;
  if ((rc = sf_route_token(msg, &info, &rt)) != 0)
    return rc;
  kp = sf_kproto(info.tuple.transport);
  sf_ip_from_addr(&lip, &info.tuple.local);
  sf_ip_from_addr(&rip, &info.tuple.remote);
  /* from the flow itself: outward, by the Request-URI (loose_route) */
  if (kp == msg->rcv.proto && ip_addr_cmp(&rip, &msg->rcv.src_ip) &&
      info.tuple.remote.port == msg->rcv.src_port)
    return -1;
  si = find_si(&lip, info.tuple.local.port, kp);
  if (!si)
    return -3;
  if (kp != PROTO_UDP) {
    struct tcp_connection *c = tcpconn_get((int)info.tuple.generation, &rip,
                                           info.tuple.remote.port, &si->su, 0);
    if (!c)
      return -3;
    tcpconn_put(c);
  } else {
    sipflow_keepalive_stats st;
    lock_get(&sf->lock);
    rc = sipflow_keepalive_get_stats(sf->ka, sf_flow_id(&info.tuple), &st);
    lock_release(&sf->lock);
    if (rc == 0 && st.health == SIPFLOW_HEALTH_DEAD)
      return -3;
  }
  n = snprintf(du, sizeof(du), "sip:%s%s%s:%u%s", rip.af == AF_INET6 ? "[" : "",
               ip_addr2a(&rip), rip.af == AF_INET6 ? "]" : "",
               info.tuple.remote.port,
               kp == PROTO_TCP   ? ";transport=tcp"
               : kp == PROTO_TLS ? ";transport=tls"
                                 : "");
  dus.s = du;
  dus.len = n;
  if (set_dst_uri(msg, &dus) < 0)
    return -1;
  set_force_socket(msg, si);
  /* the Route named us: it goes, as loose routing would take it */
  if (!rt->next &&
      !del_lump(msg, msg->route->name.s - msg->buf, msg->route->len, 0))
    return -1;
  return 1;
}

/* ---- target selection with failover -------------------------------------- */

/*
 * sipflow_lookup() keeps every flow of the AoR in the transaction's xavp
 * "sipflow", one entry per flow, best first within each instance; each
 * entry's "tried" is 1 once a branch went to it.
 */
static str sf_xname = str_init("sipflow");
static str sf_f_uri = str_init("uri"), sf_f_dst = str_init("dst"),
           sf_f_path = str_init("path"), sf_f_ruid = str_init("ruid"),
           sf_f_inst = str_init("inst"), sf_f_sock = str_init("sock"),
           sf_f_tried = str_init("tried"), sf_f_aor = str_init("aor");

/* Health of a usrloc contact's flow, as our keepalive sees it. */
static int sf_contact_health(ucontact_t *c) {
  sipflow_flow_tuple t;
  sipflow_keepalive_stats st;
  struct sip_uri u;
  str *s = c->received.len > 0 ? &c->received : &c->c;
  int rc;
  memset(&t, 0, sizeof(t));
  if (!c->sock || !(t.transport = (uint8_t)sf_transport(c->sock->proto)))
    return SIPFLOW_HEALTH_UNKNOWN;
  if (parse_uri(s->s, s->len, &u) < 0)
    return SIPFLOW_HEALTH_UNKNOWN;
  {
    char host[64];
    str h = u.host;
    if (h.len > 1 && h.s[0] == '[') {
      h.s++;
      h.len -= 2;
    }
    if (h.len <= 0 || h.len >= (int)sizeof(host))
      return SIPFLOW_HEALTH_UNKNOWN;
    memcpy(host, h.s, h.len);
    host[h.len] = '\0';
    if (sipflow_addr_parse(&t.remote, host, u.port_no ? u.port_no : SIP_PORT) !=
        0)
      return SIPFLOW_HEALTH_UNKNOWN;
  }
  sf_addr_from_ip(&t.local, &c->sock->address, c->sock->port_no);
  if (t.transport != SIPFLOW_TRANSPORT_UDP)
    t.generation = (uint32_t)c->tcpconn_id;
  lock_get(&sf->lock);
  rc = sipflow_keepalive_get_stats(sf->ka, sf_flow_id(&t), &st);
  lock_release(&sf->lock);
  return rc == 0 ? st.health : SIPFLOW_HEALTH_UNKNOWN;
}

typedef struct sf_pick {
  ucontact_t *c;
  int rank; /* 0 alive or unknown, 1 suspect, 2 dead */
} sf_pick;

/* Same instance first (no instance: each contact alone), then healthier,
 * then the most recently registered. */
static int sf_pick_cmp(const void *pa, const void *pb) {
  const sf_pick *a = pa, *b = pb;
  if (a->rank != b->rank)
    return a->rank - b->rank;
  if (a->c->last_modified != b->c->last_modified)
    return a->c->last_modified > b->c->last_modified ? -1 : 1;
  return 0;
}

static int sf_same_instance(ucontact_t *a, ucontact_t *b) {
  return a->instance.len > 0 && a->instance.len == b->instance.len &&
         memcmp(a->instance.s, b->instance.s, a->instance.len) == 0;
}

static int sf_xavp_add_flow(ucontact_t *c, str *aor, int tried) {
  sr_xavp_t *row = NULL;
  sr_xval_t v;
  str none = {"", 0};
  memset(&v, 0, sizeof(v));
#define SF_ADD_STR(NAME, S)                                                    \
  do {                                                                         \
    v.type = SR_XTYPE_STR;                                                     \
    v.v.s = (S).len > 0 ? (S) : none;                                          \
    if (!xavp_add_value(&(NAME), &v, &row))                                    \
      goto fail;                                                               \
  } while (0)
  SF_ADD_STR(sf_f_uri, c->c);
  SF_ADD_STR(sf_f_dst, c->received);
  SF_ADD_STR(sf_f_path, c->path);
  SF_ADD_STR(sf_f_ruid, c->ruid);
  SF_ADD_STR(sf_f_inst, c->instance);
  SF_ADD_STR(sf_f_aor, *aor);
#undef SF_ADD_STR
  v.type = SR_XTYPE_LLONG;
  v.v.ll = (long long)(uintptr_t)c->sock;
  if (!xavp_add_value(&sf_f_sock, &v, &row))
    goto fail;
  v.type = SR_XTYPE_INT;
  v.v.i = tried;
  if (!xavp_add_value(&sf_f_tried, &v, &row))
    goto fail;
  memset(&v, 0, sizeof(v));
  v.type = SR_XTYPE_XAVP;
  v.v.xavp = row;
  if (!xavp_add_value(&sf_xname, &v, NULL))
    goto fail;
  return 0;
fail:
  if (row)
    xavp_destroy_list(&row);
  return -1;
}

static str sf_xstr(sr_xavp_t *row, str *name) {
  sr_xavp_t *f = xavp_get(name, row);
  str none = {0, 0};
  return (f && f->val.type == SR_XTYPE_STR) ? f->val.v.s : none;
}

static int sf_branch_from_row(struct sip_msg *msg, sr_xavp_t *row) {
  str uri = sf_xstr(row, &sf_f_uri), dst = sf_xstr(row, &sf_f_dst),
      path = sf_xstr(row, &sf_f_path), ruid = sf_xstr(row, &sf_f_ruid),
      inst = sf_xstr(row, &sf_f_inst);
  sr_xavp_t *so = xavp_get(&sf_f_sock, row);
  struct socket_info *sock =
      so ? (struct socket_info *)(uintptr_t)so->val.v.ll : NULL;
  /* With a Path the next hop is its first URI, not the contact or the
   * address it registered from (RFC 3327 section 5.3; registrar's lookup()
   * does the same): behind an edge, the edge routes by its token. */
  if (path.len > 0) {
    str first;
    if (get_path_dst_uri(&path, &first) < 0)
      return -1;
    dst = first;
  }
  return append_branch(msg, &uri, dst.len ? &dst : NULL,
                       path.len ? &path : NULL, Q_UNSPECIFIED, 0, sock,
                       inst.len ? &inst : NULL, 0, ruid.len ? &ruid : NULL,
                       NULL) == 1
             ? 1
             : -1;
}

/*
 * Branches for the Request-URI's AoR: one flow per instance (RFC 5626 §7),
 * the healthiest and newest first; dead flows last. 1 with branches, -1 when
 * the AoR has no contact.
 */
static int w_sipflow_lookup(struct sip_msg *msg, char *a, char *b) {
  urecord_t *r = NULL;
  ucontact_t *c;
  sf_pick picks[64];
  int n = 0, branches = 0;
  str aor;
  time_t now = time(NULL);
  (void)a;
  (void)b;
  if (!sf_have_ul || !sf_domain || parse_sip_msg_uri(msg) < 0 ||
      msg->parsed_uri.user.len <= 0)
    return -1;
  aor = msg->parsed_uri.user;
  if (sf_ul.use_domain && msg->parsed_uri.host.len > 0)
    aor.len = (int)(msg->parsed_uri.host.s + msg->parsed_uri.host.len -
                    msg->parsed_uri.user.s);
  xavp_rm_by_name(&sf_xname, 1, NULL);
  sf_ul.lock_udomain(sf_domain, &aor);
  if (sf_ul.get_urecord(sf_domain, &aor, &r) != 0 || !r) {
    sf_ul.unlock_udomain(sf_domain, &aor);
    return -1;
  }
  for (c = r->contacts; c && n < 64; c = c->next) {
    int h;
    if (!VALID_CONTACT(c, now))
      continue;
    h = sf_contact_health(c);
    picks[n].c = c;
    picks[n].rank = h == SIPFLOW_HEALTH_DEAD      ? 2
                    : h == SIPFLOW_HEALTH_SUSPECT ? 1
                                                  : 0;
    n++;
  }
  qsort(picks, n, sizeof(picks[0]), sf_pick_cmp);
  /* added at the head: last first, so that the list reads best first */
  for (int i = n - 1; i >= 0; i--) {
    int first = 1;
    for (int j = 0; j < i; j++)
      if (sf_same_instance(picks[i].c, picks[j].c))
        first = 0;
    if (sf_xavp_add_flow(picks[i].c, &aor, first) < 0)
      break;
  }
  sf_ul.release_urecord(r);
  sf_ul.unlock_udomain(sf_domain, &aor);
  for (sr_xavp_t *row = xavp_get(&sf_xname, NULL); row;
       row = xavp_get_next(row)) {
    sr_xavp_t *t = xavp_get(&sf_f_tried, row->val.v.xavp);
    if (t && t->val.v.i == 1 && sf_branch_from_row(msg, row->val.v.xavp) == 1)
      branches++;
  }
  if (branches == 0)
    return -1;
  /* the branches carry every target: the Request-URI itself is not one */
  ruri_mark_consumed();
  return 1;
}

/* Remove the usrloc contact a branch went to (its flow failed: 430). */
static void sf_remove_binding(str *aor, str *ruid) {
  urecord_t *r = NULL;
  ucontact_t *c;
  sf_ul.lock_udomain(sf_domain, aor);
  if (sf_ul.get_urecord(sf_domain, aor, &r) == 0 && r) {
    for (c = r->contacts; c; c = c->next) {
      if (c->ruid.len == ruid->len &&
          memcmp(c->ruid.s, ruid->s, ruid->len) == 0) {
        sf_ul.delete_ucontact(r, c);
        break;
      }
    }
    sf_ul.release_urecord(r);
  }
  sf_ul.unlock_udomain(sf_domain, aor);
}

/*
 * From event_route[tm:branch-failure]: the branch to |ruid| failed with
 * |code|. On 430 its binding is removed (RFC 5626 §7); on 430 or 408 the next
 * flow of the same instance gets a branch (the script then calls t_relay()).
 * 1 a new branch, -1 none.
 */
static int w_sipflow_next_contact(struct sip_msg *msg, char *pcode,
                                  char *pruid) {
  int code = 0;
  str ruid = {0, 0};
  sr_xavp_t *row, *failed = NULL;
  str inst;
  if (fixup_get_ivalue(msg, (gparam_t *)pcode, &code) < 0 ||
      fixup_get_svalue(msg, (gparam_t *)pruid, &ruid) < 0 || ruid.len <= 0)
    return -1;
  if (code != 430 && code != 408)
    return -1;
  for (row = xavp_get(&sf_xname, NULL); row; row = xavp_get_next(row)) {
    str r = sf_xstr(row->val.v.xavp, &sf_f_ruid);
    if (r.len == ruid.len && memcmp(r.s, ruid.s, r.len) == 0) {
      failed = row;
      break;
    }
  }
  if (!failed)
    return -1;
  if (code == 430 && sf_have_ul && sf_domain) {
    str aor = sf_xstr(failed->val.v.xavp, &sf_f_aor);
    sf_remove_binding(&aor, &ruid);
  }
  inst = sf_xstr(failed->val.v.xavp, &sf_f_inst);
  if (inst.len <= 0)
    return -1;
  for (row = xavp_get(&sf_xname, NULL); row; row = xavp_get_next(row)) {
    sr_xavp_t *t = xavp_get(&sf_f_tried, row->val.v.xavp);
    str i = sf_xstr(row->val.v.xavp, &sf_f_inst);
    if (!t || t->val.v.i != 0 || i.len != inst.len ||
        memcmp(i.s, inst.s, i.len) != 0)
      continue;
    t->val.v.i = 1;
    return sf_branch_from_row(msg, row->val.v.xavp);
  }
  return -1;
}

/* ---- RPC ----------------------------------------------------------------- */

static const char *sf_dump_doc[] = {
    "Keepalive endpoints with round-trip times (us).", 0};

/* The totals of sipflow.dump and sipflow.stats, into |th|; our lock held. */
static void sf_rpc_totals(rpc_t *rpc, void *th) {
  sipflow_keepalive_counters kc;
  (void)sipflow_keepalive_get_counters(sf->ka, &kc);
  rpc->struct_add(
      th, "ddddddddddddd", "endpoints", (int)kc.endpoints, "answered",
      (int)kc.probes_answered, "missed", (int)kc.probes_missed, "deaths",
      (int)kc.deaths, "contacts_removed", (int)sf->contacts_removed,
      "sendmmsg_calls",
      (int)__atomic_load_n(&sf->batch_calls, __ATOMIC_RELAXED),
      "probes_batched",
      (int)__atomic_load_n(&sf->batch_probes, __ATOMIC_RELAXED),
      "timer_tick_ms", __atomic_load_n(&sf->tick_now_ms, __ATOMIC_RELAXED),
      "tick_batch", __atomic_load_n(&sf->tick_batch, __ATOMIC_RELAXED),
      "answer_sockets", sf->answer_sockets, "answers_read",
      (int)__atomic_load_n(&sf->answers_read, __ATOMIC_RELAXED),
      "answers_other",
      (int)__atomic_load_n(&sf->answers_other, __ATOMIC_RELAXED),
      "answers_dropped",
      (int)__atomic_load_n(&sf->answers_dropped, __ATOMIC_RELAXED));
}

static void sf_rpc_dump(rpc_t *rpc, void *ctx) {
  uint64_t cursor = 0;
  sipflow_keepalive_endpoint ep;
  sipflow_keepalive_saved_reason reasons[16];
  size_t nr;
  void *th, *lh, *eh;
  sipflow_tstamp now;
  time_t wall = time(NULL);

  if (rpc->add(ctx, "{", &th) < 0)
    return;
  lock_get(&sf->lock);
  now = sf_now();
  sf_rpc_totals(rpc, th);
  if (rpc->struct_add(th, "[", "flows", &lh) < 0)
    goto done;
  for (;;) {
    sipflow_keepalive_stats st;
    sf_ep *e;
    char remote[80];
    int rc = sipflow_keepalive_export_next(sf->ka, &cursor, &ep, reasons, 16,
                                           &nr, (uint64_t)wall, now);
    if (rc == SIPFLOW_ERR_BUFFER_TOO_SMALL) {
      cursor++;
      continue;
    }
    if (rc != 0)
      break;
    if (sipflow_keepalive_get_stats(sf->ka, ep.flow_id, &st) != 0)
      continue;
    e = ep.user_data;
    sipflow_addr_format(&ep.tuple.remote, remote, sizeof(remote));
    if (rpc->array_add(lh, "{", &eh) < 0)
      break;
    rpc->struct_add(
        eh, "sSsdsddddddddd", "flow", remote, "aor",
        &(str){e ? e->aor : "", e ? e->aor_len : 0}, "proto",
        sipflow_transport_name(ep.tuple.transport), "reasons", (int)st.reasons,
        "state", sipflow_health_name(st.health), "KA-Roundtrip",
        (int)(st.last_rtt / SIPFLOW_MICROSECONDS), "srtt",
        (int)(st.srtt / SIPFLOW_MICROSECONDS), "rttvar",
        (int)(st.rttvar / SIPFLOW_MICROSECONDS), "min",
        (int)(st.min_rtt / SIPFLOW_MICROSECONDS), "max",
        (int)(st.max_rtt / SIPFLOW_MICROSECONDS), "misses",
        (int)st.consecutive_misses, "sent", (int)st.probes_sent, "answered",
        (int)st.probes_answered, "Last-Keepalive",
        (int)(st.last_answer && st.last_answer <= now
                  ? wall - (time_t)((now - st.last_answer) / SIPFLOW_SECONDS)
                  : 0));
  }
done:
  lock_release(&sf->lock);
}

static const char *sf_stats_doc[] = {
    "Keepalive totals only (sipflow.dump without the flows).", 0};

static void sf_rpc_stats(rpc_t *rpc, void *ctx) {
  void *th;
  if (rpc->add(ctx, "{", &th) < 0)
    return;
  lock_get(&sf->lock);
  sf_rpc_totals(rpc, th);
  lock_release(&sf->lock);
}

static rpc_export_t sf_rpc[] = {
    {"sipflow.dump", sf_rpc_dump, sf_dump_doc, 0},
    {"sipflow.stats", sf_rpc_stats, sf_stats_doc, 0},
    {0, 0, 0, 0}};

/* ---- exports ------------------------------------------------------------- */

static cmd_export_t cmds[] = {
    {"sipflow_keepalive", (cmd_function)w_sipflow_keepalive, 0, 0, 0,
     REQUEST_ROUTE},
    {"sipflow_add_path", (cmd_function)w_sipflow_add_path, 0, 0, 0,
     REQUEST_ROUTE},
    {"sipflow_record_route", (cmd_function)w_sipflow_record_route, 0, 0, 0,
     REQUEST_ROUTE},
    {"sipflow_route", (cmd_function)w_sipflow_route, 0, 0, 0, REQUEST_ROUTE},
    {"sipflow_lookup", (cmd_function)w_sipflow_lookup, 0, 0, 0,
     REQUEST_ROUTE | FAILURE_ROUTE},
    {"sipflow_next_contact", (cmd_function)w_sipflow_next_contact, 2,
     fixup_igp_spve, fixup_free_igp_spve, ANY_ROUTE},
    {0, 0, 0, 0, 0, 0}};

static param_export_t params[] = {
    {"key_file", PARAM_STRING, &sf_key_file},
    {"keepalive_interval_ms", INT_PARAM, &sf_interval_ms},
    {"keepalive_timeout_ms", INT_PARAM, &sf_timeout_ms},
    {"dead_after", INT_PARAM, &sf_dead_after},
    {"dead_expires", INT_PARAM, &sf_dead_expires},
    {"rtt_loglevel", INT_PARAM, &sf_rtt_loglevel},
    {"usrloc_domain", PARAM_STRING, &sf_usrloc_domain},
    {"max_endpoints", INT_PARAM, &sf_max_endpoints},
    {"timer_tick_ms", INT_PARAM, &sf_tick_ms},
    {"timer_tick_max_ms", INT_PARAM, &sf_tick_max_ms},
    {"tick_batch", INT_PARAM, &sf_tick_batch},
    {"dialog_lifetime", INT_PARAM, &sf_dialog_lifetime},
    {"udp_answer_hook", INT_PARAM, &sf_dgram_hook},
    {"probe_batch", INT_PARAM, &sf_probe_batch},
    {"udp_answer_socket", INT_PARAM, &sf_answer_socket},
    {0, 0, 0}};

struct module_exports exports = {
    "sipflow", DEFAULT_DLFLAGS, cmds,     params,     sf_rpc,
    0,         sf_response,     mod_init, child_init, mod_destroy};
