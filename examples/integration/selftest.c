/*
 * --selftest: scripted SIP peers on loopback (see selftest.h).
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "selftest.h"
#include "sip.h"

#define ST_PEERS 4
#define ST_QUEUE 16
#define ST_TEXT 4096

typedef struct st_peer_state {
  host_udp *sock;
  char *queue[ST_QUEUE]; /* datagrams not yet looked at, oldest first */
  size_t qlen[ST_QUEUE];
  int nq;
  char *last_req; /* the last request EXPECT matched, for REPLY */
  sipflow_addr last_from;
} st_peer_state;

struct st_runner {
  host *h;
  st_peer_state peer[ST_PEERS];
  int npeers;
  sipflow_addr app;
  const st_step *steps;
  int at, events, started, passed;
  char capture[4][512];
  char skipped[256]; /* first line of the last datagram skipped */
  int (*done)(void *arg);
  void *arg;
};

static void run(st_runner *st);

static void on_recv(host_udp *sock, const sipflow_addr *from,
                    const uint8_t *data, size_t len, void *arg) {
  st_runner *st = arg;
  (void)from;
  for (int i = 0; i < st->npeers; i++) {
    st_peer_state *p = &st->peer[i];
    if (p->sock != sock)
      continue;
    if (p->nq == ST_QUEUE) { /* full: the oldest goes */
      free(p->queue[0]);
      memmove(p->queue, p->queue + 1, sizeof(p->queue[0]) * (ST_QUEUE - 1));
      memmove(p->qlen, p->qlen + 1, sizeof(p->qlen[0]) * (ST_QUEUE - 1));
      p->nq--;
    }
    p->queue[p->nq] = malloc(len + 1);
    if (!p->queue[p->nq])
      return;
    memcpy(p->queue[p->nq], data, len);
    p->queue[p->nq][len] = '\0';
    p->qlen[p->nq++] = len;
    p->last_from = *from;
  }
  run(st);
}

int st_new(st_runner **pst, host *h, int npeers) {
  st_runner *st = calloc(1, sizeof(*st));
  sipflow_addr lo;
  if (!st || npeers > ST_PEERS)
    return -1;
  st->h = h;
  st->npeers = npeers;
  sipflow_addr_parse(&lo, "127.0.0.1", 0);
  for (int i = 0; i < npeers; i++)
    if (host_udp_bind(h, &lo, on_recv, st, &st->peer[i].sock) != 0)
      return -1;
  *pst = st;
  return 0;
}

const sipflow_addr *st_peer(const st_runner *st, int i) {
  return host_udp_local(st->peer[i].sock);
}

/* ---- templates ----------------------------------------------------------- */

/* The user part of the first "sip:" URI in |s|: a flow token. */
static void token_of(const char *s, char *out, size_t len, int forge) {
  const char *u = strstr(s, "sip:"), *at;
  size_t n;
  out[0] = '\0';
  if (!u || !(at = strchr(u + 4, '@')) || (n = (size_t)(at - u - 4)) >= len)
    return;
  memcpy(out, u + 4, n);
  out[n] = '\0';
  /* One character of the MAC changed (the last one also carries padding
   * bits, which would make it malformed rather than forged). */
  if (forge && n > 1)
    out[n - 2] = out[n - 2] == 'A' ? 'B' : 'A';
}

static int expand(const st_runner *st, const char *tpl, char *out, size_t cap) {
  size_t o = 0;
  for (const char *s = tpl; *s; s++) {
    char val[512];
    const char *v = NULL;
    if (*s == '\n') {
      v = "\r\n";
    } else if (*s == '$' && !strncmp(s + 1, "APP", 3)) {
      v = sip_hostport(&st->app, val, sizeof(val));
      s += 3;
    } else if (*s == '$' && strchr("PCTX", s[1]) && s[2] >= '0' &&
               s[2] <= '3') {
      int i = s[2] - '0';
      if (s[1] == 'P')
        v = sip_hostport(st_peer(st, i), val, sizeof(val));
      else if (s[1] == 'C')
        v = st->capture[i];
      else
        token_of(st->capture[i], val, sizeof(val), s[1] == 'X'), v = val;
      s += 2;
    }
    if (v) {
      size_t n = strlen(v);
      if (o + n >= cap)
        return -1;
      memcpy(out + o, v, n);
      o += n;
    } else if (o + 1 < cap) {
      out[o++] = *s;
    } else {
      return -1;
    }
  }
  out[o] = '\0';
  return (int)o;
}

/* Every value of header |name| in |msg|, joined with ", ". */
static void capture(const char *msg, const char *name, char *out, size_t cap) {
  size_t nlen = strlen(name), o = 0;
  out[0] = '\0';
  for (const char *l = msg; l && *l; l = strstr(l, "\r\n"), l = l ? l + 2 : l) {
    const char *end = strstr(l, "\r\n");
    size_t n;
    if (!end || end == l)
      break; /* the end of the headers */
    if (strncasecmp(l, name, nlen) != 0 || l[nlen] != ':')
      continue;
    l += nlen + 1;
    while (*l == ' ')
      l++;
    n = (size_t)(end - l);
    if (o + n + 3 >= cap)
      return;
    if (o)
      memcpy(out + o, ", ", 2), o += 2;
    memcpy(out + o, l, n);
    o += n;
    out[o] = '\0';
  }
}

/* ---- steps --------------------------------------------------------------- */

static const sipflow_addr *dest(const st_runner *st, int to) {
  return to == ST_APP ? &st->app : st_peer(st, to);
}

static int do_send(st_runner *st, const st_step *s) {
  char buf[ST_TEXT];
  int n = expand(st, s->text, buf, sizeof(buf) - 32);
  if (n < 0)
    return -1;
  /* Every scripted message is bodiless. */
  n += snprintf(buf + n, sizeof(buf) - (size_t)n, "Content-Length: 0\r\n\r\n");
  return host_udp_send(st->peer[s->peer].sock, dest(st, s->to), buf, (size_t)n);
}

static int matches(const st_runner *st, const st_step *s, const char *msg) {
  char want[512];
  if (expand(st, s->text, want, sizeof(want)) < 0 ||
      strncmp(msg, want, strlen(want)) != 0)
    return 0;
  for (int i = 0; i < 4 && s->has[i]; i++)
    if (expand(st, s->has[i], want, sizeof(want)) < 0 || !strstr(msg, want))
      return 0;
  return !s->lacks || !strstr(msg, s->lacks);
}

static int do_reply(st_runner *st, const st_step *s) {
  st_peer_state *p = &st->peer[s->peer];
  char extra[2048], rr[1024], status[8];
  msg_t *req;
  size_t len;
  char *bytes;
  int rv = -1, n;
  if (!p->last_req ||
      !(req = sip_parse((uint8_t *)p->last_req, strlen(p->last_req))))
    return -1;
  snprintf(status, sizeof(status), "%.3s", s->text);
  n = expand(st, s->extra ? s->extra : "", extra, sizeof(extra) - 16);
  /* A UAS copies Record-Route into its 1xx and 2xx (RFC 3261 §12.1.1). */
  capture(p->last_req, "Record-Route", rr, sizeof(rr));
  if (n >= 0 && rr[0] && atoi(status) < 300)
    snprintf(extra + n, sizeof(extra) - (size_t)n, "Record-Route: %s\r\n", rr);
  if (n >= 0 &&
      (bytes = sip_response(req, atoi(status), extra, &len)) != NULL) {
    rv = host_udp_send(p->sock, &p->last_from, bytes, len);
    free(bytes);
  }
  msg_destroy(req);
  return rv;
}

static int do_stun_send(st_runner *st, const st_step *s) {
  static const uint8_t txid[SIPFLOW_STUN_TXID_LEN] = "sipflowtest1";
  uint8_t req[SIPFLOW_STUN_HEADER_LEN];
  size_t len;
  if (sipflow_stun_encode_request(req, sizeof(req), txid, &len) != 0)
    return -1;
  return host_udp_send(st->peer[s->peer].sock, dest(st, s->to), req, len);
}

static int stun_matches(const st_runner *st, const st_step *s, const char *d,
                        size_t len) {
  sipflow_stun_msg m;
  return sipflow_stun_decode(&m, (const uint8_t *)d, len) == 0 &&
         m.type == SIPFLOW_STUN_BINDING_SUCCESS && m.has_xor_mapped &&
         sipflow_addr_equal(&m.xor_mapped, st_peer(st, s->peer));
}

/* Takes the next queued datagram at the step's peer: 1 matched, 0 none
 * left, and skips the ones that do not match. */
static int expect(st_runner *st, const st_step *s) {
  st_peer_state *p = &st->peer[s->peer];
  while (p->nq > 0) {
    char *d = p->queue[0];
    size_t len = p->qlen[0];
    int ok = s->kind == ST_K_STUN_EXPECT ? stun_matches(st, s, d, len)
                                         : matches(st, s, d);
    memmove(p->queue, p->queue + 1, sizeof(p->queue[0]) * (ST_QUEUE - 1));
    memmove(p->qlen, p->qlen + 1, sizeof(p->qlen[0]) * (ST_QUEUE - 1));
    p->nq--;
    if (!ok) {
      snprintf(st->skipped, sizeof(st->skipped), "%.*s",
               (int)strcspn(d, "\r\n"), d);
      free(d);
      continue;
    }
    if (s->capture)
      capture(d, s->capture, st->capture[s->capture_to],
              sizeof(st->capture[0]));
    if (strncmp(d, "SIP/2.0 ", 8) != 0 && s->kind == ST_K_EXPECT) {
      free(p->last_req);
      p->last_req = d;
    } else {
      free(d);
    }
    return 1;
  }
  return 0;
}

static void run(st_runner *st) {
  if (!st->started || st->passed)
    return;
  for (;;) {
    const st_step *s = &st->steps[st->at];
    int rv = 0;
    switch (s->kind) {
    case ST_K_END:
      if (!st->done || st->done(st->arg)) {
        st->passed = 1;
        host_stop(st->h);
      }
      return;
    case ST_K_SEND:
      rv = do_send(st, s);
      break;
    case ST_K_REPLY:
      rv = do_reply(st, s);
      break;
    case ST_K_STUN_SEND:
      rv = do_stun_send(st, s);
      break;
    case ST_K_EXPECT:
    case ST_K_STUN_EXPECT:
      if (!expect(st, s))
        return; /* wait for the next datagram */
      break;
    case ST_K_WAIT_EVENT:
      if (st->events < s->to)
        return;
      break;
    }
    if (rv != 0) {
      fprintf(stderr, "selftest: step %d could not be sent\n", st->at + 1);
      host_stop(st->h);
      return;
    }
    st->at++;
  }
}

void st_start(st_runner *st, const sipflow_addr *app, const st_step *steps,
              int (*done)(void *arg), void *arg) {
  st->app = *app;
  st->steps = steps;
  st->done = done;
  st->arg = arg;
  st->started = 1;
  run(st);
}

void st_event(st_runner *st) {
  if (st) {
    st->events++;
    run(st);
  }
}

void st_poke(st_runner *st) {
  if (st)
    run(st);
}

int st_finish(st_runner *st) {
  int rv = st->passed ? 0 : 1;
  if (st->passed) {
    printf("selftest (%s): ok, %d steps\n", host_loop_name(), st->at);
  } else {
    const st_step *s = &st->steps[st->at];
    fprintf(stderr, "selftest (%s): FAILED at step %d (%s%s%s)\n",
            host_loop_name(), st->at + 1,
            s->kind == ST_K_END ? "final condition" : "expecting ",
            s->kind == ST_K_END ? ""
            : s->text           ? s->text
                                : "STUN",
            s->kind == ST_K_END ? "" : " at a peer");
    if (st->skipped[0])
      fprintf(stderr, "selftest: last message skipped: %s\n", st->skipped);
  }
  for (int i = 0; i < st->npeers; i++) {
    for (int j = 0; j < st->peer[i].nq; j++)
      free(st->peer[i].queue[j]);
    free(st->peer[i].last_req);
  }
  free(st);
  return rv;
}
