/*
 * sipflow-proxy: a small transaction layer (RFC 3261 §17, proxy side).
 *
 * Server transactions absorb request retransmissions and answer them with
 * the last response. Client transactions retransmit over UDP (Timer A/E),
 * give a local 408 when no final answer comes in time (Timer B/F; this is
 * what drives 430/408 failover), ACK non-2xx INVITE answers hop by hop, and
 * can be CANCELled.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <uthash.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>

#include "proxy.h"

#define T1_MS 500
#define T2_MS 4000
/* How long a finished UDP transaction stays to absorb retransmissions. */
#define LINGER_MS 5000

struct px_ctrans {
  char branch[64];
  px *p;
  msg_t *req; /* what we sent: for ACK and CANCEL */
  char *bytes;
  size_t len;
  sipflow_flow_id flow;
  int transport;
  sipflow_addr dst;
  int method;
  int status;
  int cancel_pending;
  unsigned retrans_ms;
  px_ctrans_cb cb;
  void *owner;
  int idx;
  /* After its owner is gone (a 2xx ended the fork): where retransmissions
   * of that 2xx still go (RFC 3261 §16.7 step 10); 0: nowhere. */
  sipflow_flow_id upstream;
  uv_timer_t retrans, timeout;
  int timers_closing;
  UT_hash_handle hh;
};

/* ---- server transactions --------------------------------------------------
 *
 * A server transaction is found by the hash of its key (top Via branch,
 * sent-by host and port, method with ACK as INVITE: RFC 3261 §17.2.3) and
 * a full compare of the key on a hit. The key's strings are stored in the
 * record itself, so one allocation holds the record, its key and, for
 * transactions answered at once, the answer.
 *
 * Finished transactions linger on FIFO lists, all with the same delay, so
 * the oldest is always first and one libuv timer drains them: no timer per
 * transaction. Transactions answered at once over UDP (a local REGISTER)
 * are allocated from an arena of their own (see below), so that the
 * thousands that linger at a high REGISTER rate do not interleave with the
 * bindings in malloc's heap and leave it at its high-water mark.
 */

#define STRANS_SLOTS_MIN 512u
/* Lingering records are freed in batches: a record may stay this much
 * longer than LINGER_MS, never less. */
#define LINGER_SLACK_MS 50
/* The arena's chunks; records larger than a quarter of one are malloc'd. */
#define ARENA_CHUNK ((size_t)64 * 1024)
/* Empty chunks kept for reuse while records linger: at least 16 (1 MiB),
 * and as many as the chunks in use. At a steady rate the oldest chunks
 * empty in bursts (LINGER_SLACK_MS of records at a time, more when a
 * loaded machine holds the loop back), and one spare was not enough: every
 * other chunk was mapped anew and its 16 pages faulted in one by one, and
 * each unmap cost a TLB shootdown, about a tenth of the CPU per REGISTER
 * at 2 000/s. A fixed 16 still unmapped after every stall longer than
 * 16 chunks' worth of records. Keeping at most as many spares as chunks in
 * use bounds them by the load itself (the arena's own size, twice at
 * most); they go back to the system when nothing lingers any more. */
#define ARENA_SPARES 16

enum {
  ST_ARENA = 1,  /* allocated from the arena, answer inline */
  ST_LINGER = 2, /* on a linger list: final answer sent */
};

typedef struct arena_chunk {
  size_t used;   /* bytes handed out, from the start of the chunk */
  unsigned live; /* records not yet freed */
  struct arena_chunk *next_spare;
} arena_chunk;
/* Records start 16-byte aligned after the chunk's header. */
#define CHUNK_START ((sizeof(arena_chunk) + 15) & ~(size_t)15)

struct px_strans {
  px_strans *lnext; /* linger list */
  px *p;
  arena_chunk *chunk; /* ST_ARENA: the chunk it came from */
  uint64_t due;       /* loop time (ms) at which a lingering one goes */
  sipflow_flow_id flow;
  msg_t *req; /* released once a final response is sent */
  px_fork *fork;
  char *last; /* the last answer sent, for retransmissions */
  size_t last_len;
  uint32_t hash;
  uint16_t klen; /* bytes of key[] */
  uint8_t method;
  uint8_t flags;
  uint8_t transport;
  int16_t status;
  char key[]; /* "branch\0host\0port\0"; then an ST_ARENA record's answer */
};

typedef struct strans_list {
  px_strans *head, *tail;
} strans_list;

/* A slot of the open-addressed table: the hash next to the pointer, so
 * that a miss (every new request) reads the slot array and no record. */
typedef struct strans_slot {
  uint32_t hash;
  px_strans *st; /* NULL: empty */
} strans_slot;

struct px_txn {
  strans_slot *slots;
  size_t nslots, count; /* nslots: a power of two, at most half full */
  strans_list linger;   /* UDP: LINGER_MS */
  strans_list reaping;  /* streams: gone at the next turn of the loop */
  uv_timer_t timer;
  arena_chunk *cur, *spare; /* spare: a stack of empty chunks */
  unsigned nspare;
  unsigned nchunks; /* chunks in use (cur included), spares not */
  px *p;
};

static uint64_t hash_seed = 0x243f6a8885a308d3ull;

typedef struct strans_key {
  const char *s[3];
  size_t n[3];
  size_t klen;
  int method;
  uint32_t hash;
} strans_key;

/* A word at a time over the key's parts; the seed is random per process,
 * so that chains are not predictable from outside. A hit is confirmed by a
 * full compare, so the hash only has to spread. */
static uint64_t hash_bytes(uint64_t h, const char *s, size_t n) {
  const uint64_t m = 0x9e3779b97f4a7c15ull;
  uint64_t w;
  for (; n >= 8; s += 8, n -= 8) {
    memcpy(&w, s, 8);
    h = (h ^ w) * m;
    h ^= h >> 29;
  }
  w = n;
  memcpy(&w, s, n); /* the length's low byte is overwritten: fine */
  h = (h ^ w ^ ((uint64_t)n << 56)) * m;
  return h ^ (h >> 32);
}

static int strans_key_of(msg_t *req, int method, strans_key *k) {
  sip_via_t *v = sip_object(req)->sip_via;
  uint64_t h = hash_seed;
  if (!v || !v->v_branch || !v->v_host)
    return -1;
  k->s[0] = v->v_branch;
  k->s[1] = v->v_host;
  k->s[2] = v->v_port ? v->v_port : "";
  k->klen = 0;
  for (int i = 0; i < 3; i++) {
    k->n[i] = strlen(k->s[i]);
    k->klen += k->n[i] + 1;
    h = hash_bytes(h, k->s[i], k->n[i]);
  }
  if (k->klen > UINT16_MAX)
    return -1;
  k->method = method == sip_method_ack ? sip_method_invite : method;
  k->hash = (uint32_t)((h ^ (uint64_t)k->method) * 0x9e3779b97f4a7c15ull >> 32);
  return 0;
}

static int strans_key_equal(const px_strans *st, const strans_key *k) {
  const char *s = st->key;
  if (st->hash != k->hash || st->klen != k->klen || st->method != k->method)
    return 0;
  for (int i = 0; i < 3; i++) {
    if (memcmp(s, k->s[i], k->n[i] + 1) != 0)
      return 0;
    s += k->n[i] + 1;
  }
  return 1;
}

static void strans_key_copy(px_strans *st, const strans_key *k) {
  char *w = st->key;
  for (int i = 0; i < 3; i++) {
    memcpy(w, k->s[i], k->n[i] + 1);
    w += k->n[i] + 1;
  }
  st->klen = (uint16_t)k->klen;
  st->hash = k->hash;
  st->method = (uint8_t)k->method;
}

/* ---- the arena ------------------------------------------------------------
 * Records answered at once all linger LINGER_MS and die in the order they
 * were made, so a bump allocator over chunks of their own is enough: a
 * chunk goes back to the system when its last record is freed. One empty
 * chunk is kept so that a steady rate does not map and unmap all the time.
 */

static arena_chunk *chunk_new(struct px_txn *t) {
  arena_chunk *c = t->spare;
  if (c) {
    t->spare = c->next_spare;
    t->nspare--;
  } else {
    /* Populated at once: one call maps every page of the chunk, where
     * first touches would fault each in. */
    void *m = mmap(NULL, ARENA_CHUNK, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (m == MAP_FAILED)
      return NULL;
    c = m;
  }
  t->nchunks++;
  c->used = CHUNK_START;
  c->live = 0;
  c->next_spare = NULL;
  return c;
}

static void chunk_release(struct px_txn *t, arena_chunk *c) {
  t->nchunks--;
  if (t->nspare < ARENA_SPARES || t->nspare < t->nchunks) {
    c->next_spare = t->spare;
    t->spare = c;
    t->nspare++;
    return;
  }
  munmap(c, ARENA_CHUNK);
}

/* Nothing lingers: the spare chunks go back to the system. */
static void spares_release(struct px_txn *t) {
  while (t->spare) {
    arena_chunk *c = t->spare;
    t->spare = c->next_spare;
    munmap(c, ARENA_CHUNK);
  }
  t->nspare = 0;
}

static void *arena_alloc(struct px_txn *t, size_t size, arena_chunk **from) {
  void *r;
  size = (size + 15) & ~(size_t)15;
  if (size > ARENA_CHUNK / 4)
    return NULL;
  if (!t->cur || t->cur->used + size > ARENA_CHUNK) {
    arena_chunk *c = chunk_new(t);
    if (!c)
      return NULL;
    /* The old chunk goes when its last record does. */
    if (t->cur && t->cur->live == 0)
      chunk_release(t, t->cur);
    t->cur = c;
  }
  r = (char *)t->cur + t->cur->used;
  t->cur->used += size;
  t->cur->live++;
  *from = t->cur;
  return r;
}

static void arena_free(struct px_txn *t, arena_chunk *c) {
  if (--c->live)
    return;
  if (c == t->cur)
    c->used = CHUNK_START; /* empty: start it again */
  else
    chunk_release(t, c);
}

/* ---- the table ----------------------------------------------------------- */

static void slot_put(strans_slot *slots, size_t n, uint32_t hash,
                     px_strans *st) {
  size_t i = hash & (n - 1);
  while (slots[i].st)
    i = (i + 1) & (n - 1);
  slots[i].hash = hash;
  slots[i].st = st;
}

static void table_resize(struct px_txn *t, size_t n) {
  strans_slot *s = calloc(n, sizeof(*s));
  if (!s)
    return; /* keep the old size: fuller, still correct while not full */
  for (size_t i = 0; i < t->nslots; i++)
    if (t->slots[i].st)
      slot_put(s, n, t->slots[i].hash, t->slots[i].st);
  free(t->slots);
  t->slots = s;
  t->nslots = n;
}

static px_strans *table_find(struct px_txn *t, const strans_key *k) {
  size_t mask = t->nslots - 1;
  for (size_t i = k->hash & mask; t->slots[i].st; i = (i + 1) & mask)
    if (t->slots[i].hash == k->hash && strans_key_equal(t->slots[i].st, k))
      return t->slots[i].st;
  return NULL;
}

/* 0, or -1 when the table is full and cannot grow. */
static int table_add(struct px_txn *t, px_strans *st) {
  if ((t->count + 1) * 2 > t->nslots)
    table_resize(t, t->nslots * 2);
  if (t->count + 1 >= t->nslots)
    return -1;
  slot_put(t->slots, t->nslots, st->hash, st);
  t->count++;
  return 0;
}

/* Linear probing's deletion: later entries of the run move back into the
 * hole when their home slot is not between the hole and where they are. */
static void table_del(struct px_txn *t, px_strans *st) {
  size_t mask = t->nslots - 1, i = st->hash & mask, j, home;
  while (t->slots[i].st && t->slots[i].st != st)
    i = (i + 1) & mask;
  if (!t->slots[i].st)
    return;
  for (j = (i + 1) & mask; t->slots[j].st; j = (j + 1) & mask) {
    home = t->slots[j].hash & mask;
    if (((j - home) & mask) >= ((j - i) & mask)) {
      t->slots[i] = t->slots[j];
      i = j;
    }
  }
  t->slots[i].st = NULL;
  t->count--;
}

/* After a burst the table shrinks again, so that its slot array does not
 * stay at the burst's size. */
static void table_maybe_shrink(struct px_txn *t) {
  size_t n = t->nslots;
  if (n <= STRANS_SLOTS_MIN || t->count >= n / 16)
    return;
  while (n > STRANS_SLOTS_MIN && t->count < n / 8)
    n /= 2;
  table_resize(t, n);
}

/* ---- lingering ----------------------------------------------------------- */

static void strans_free(struct px_txn *t, px_strans *st) {
  /* At shutdown a fork still waiting for answers goes with its server
   * transaction: nothing will finish it. */
  if (st->fork && t->p->stopping)
    px_fork_abandon(st->fork);
  else if (st->fork)
    px_fork_on_strans_gone(st->fork);
  if (st->req)
    msg_destroy(st->req);
  if (st->flags & ST_ARENA) {
    arena_free(t, st->chunk);
    return;
  }
  free(st->last);
  free(st);
}

static void linger_timer_cb(uv_timer_t *timer);

/* The timer is due at the earlier of the two lists' heads. */
static void linger_rearm(px *p) {
  struct px_txn *t = p->txn;
  uint64_t now = uv_now(p->loop), due;
  if (t->reaping.head) {
    due = now;
  } else if (t->linger.head) {
    due = t->linger.head->due + LINGER_SLACK_MS;
  } else {
    uv_timer_stop(&t->timer);
    return;
  }
  uv_timer_start(&t->timer, linger_timer_cb, due > now ? due - now : 0, 0);
}

static void list_push(strans_list *l, px_strans *st) {
  st->lnext = NULL;
  if (l->tail)
    l->tail->lnext = st;
  else
    l->head = st;
  l->tail = st;
}

/* Frees the list's records that are due by |now| (all of them when |now|
 * is UINT64_MAX). */
static void list_drain(struct px_txn *t, strans_list *l, uint64_t now) {
  px_strans *st;
  while ((st = l->head) != NULL && st->due <= now) {
    l->head = st->lnext;
    if (!l->head)
      l->tail = NULL;
    table_del(t, st);
    strans_free(t, st);
  }
}

static void linger_timer_cb(uv_timer_t *timer) {
  px *p = timer->data;
  uint64_t now = uv_now(p->loop);
  list_drain(p->txn, &p->txn->reaping, now);
  list_drain(p->txn, &p->txn->linger, now);
  if (!p->txn->linger.head)
    spares_release(p->txn);
  table_maybe_shrink(p->txn);
  linger_rearm(p);
}

/* After a final response: keep the transaction a while over UDP to answer
 * retransmissions; over streams nothing is retransmitted, and it goes at
 * the next turn of the loop (its callers may still hold it until then). */
static void strans_finish(px *p, px_strans *st) {
  struct px_txn *t = p->txn;
  int armed = t->reaping.head || t->linger.head;
  if (st->flags & ST_LINGER)
    return;
  st->flags |= ST_LINGER;
  if (st->transport == SIPFLOW_TRANSPORT_UDP) {
    st->due = uv_now(p->loop) + LINGER_MS;
    list_push(&t->linger, st);
    if (!armed)
      linger_rearm(p);
  } else {
    st->due = uv_now(p->loop);
    list_push(&t->reaping, st);
    if (!t->reaping.head->lnext)
      linger_rearm(p); /* the first one to reap: now */
  }
}

static int flow_transport(px *p, sipflow_flow_id flow) {
  sipflow_flow_info info;
  return sipflow_flow_get(p->flows, flow, &info) == 0 ? info.tuple.transport
                                                      : SIPFLOW_TRANSPORT_UDP;
}

px_strans *px_strans_find(px *p, msg_t *req) {
  strans_key k;
  if (strans_key_of(req, sip_object(req)->sip_request->rq_method, &k) != 0)
    return NULL;
  return table_find(p->txn, &k);
}

px_strans *px_strans_new(px *p, msg_t *req, sipflow_flow_id flow) {
  strans_key k;
  px_strans *st;
  if (strans_key_of(req, sip_object(req)->sip_request->rq_method, &k) != 0)
    return NULL;
  st = calloc(1, sizeof(*st) + k.klen);
  if (!st)
    return NULL;
  strans_key_copy(st, &k);
  st->p = p;
  st->req = req;
  st->flow = flow;
  st->transport = (uint8_t)flow_transport(p, flow);
  if (table_add(p->txn, st) != 0) {
    free(st);
    return NULL;
  }
  return st;
}

static void strans_store(px_strans *st, int status, const char *bytes,
                         size_t len) {
  char *copy;
  if (st->flags & ST_ARENA)
    return; /* answered at once: its answer is final and inline */
  copy = malloc(len);
  if (!copy)
    return;
  memcpy(copy, bytes, len);
  free(st->last);
  st->last = copy;
  st->last_len = len;
  st->status = (int16_t)status;
  /* Once answered, only the answer is needed (for retransmissions): the
   * parsed request is the bulk of a transaction's memory. */
  if (status >= 200 && st->req) {
    msg_destroy(st->req);
    st->req = NULL;
  }
}

void px_strans_respond(px *p, px_strans *st, int status, const char *phrase,
                       const char *extra) {
  size_t len;
  char *bytes;
  if (!st || !st->req || st->status >= 200)
    return;
  px_log(p, SIPFLOW_LOG_DEBUG, "answering %d", status);
  bytes = px_response(p, st->req, status, phrase, extra, &len);
  if (!bytes)
    return;
  px_send_response_bytes(p, st->flow, st->req, bytes, len);
  strans_store(st, status, bytes, len);
  free(bytes);
  if (status >= 200)
    strans_finish(p, st);
}

/* One allocation for the record, its key and the answer, from the arena
 * (or from malloc when the arena cannot give it). */
static px_strans *strans_answered_new(px *p, const strans_key *k,
                                      sipflow_flow_id flow, int status,
                                      const char *bytes, size_t len) {
  size_t size = sizeof(px_strans) + k->klen + len;
  arena_chunk *chunk = NULL;
  px_strans *st = arena_alloc(p->txn, size, &chunk);
  if (!st && !(st = malloc(size)))
    return NULL;
  memset(st, 0, sizeof(*st));
  strans_key_copy(st, k);
  st->flags = chunk ? ST_ARENA : 0;
  st->chunk = chunk;
  st->p = p;
  st->flow = flow;
  st->transport = SIPFLOW_TRANSPORT_UDP;
  st->status = (int16_t)status;
  if (chunk) {
    st->last = st->key + k->klen;
  } else if (!(st->last = malloc(len))) {
    free(st);
    return NULL;
  }
  memcpy(st->last, bytes, len);
  st->last_len = len;
  return st;
}

int px_strans_answer(px *p, msg_t *req, sipflow_flow_id flow, int transport,
                     int status, const char *phrase, const char *extra) {
  char stackbuf[PX_ANSWER_STACK];
  size_t cap = px_response_cap(extra), len;
  char *buf = cap <= sizeof(stackbuf) ? stackbuf : malloc(cap);
  strans_key k;
  int rv;
  if (!buf)
    return -1;
  rv = px_response_into(p, req, status, phrase, extra, buf, cap, &len);
  if (rv != 0) {
    /* The headers echoed from the request (a long Via stack) did not fit
     * the usual room; they come from the request, so its largest size
     * more is always enough: an answer is never left unsent. */
    if (buf != stackbuf)
      free(buf);
    cap += PX_MAX_MESSAGE + 1024;
    if (!(buf = malloc(cap)))
      return -1;
    rv = px_response_into(p, req, status, phrase, extra, buf, cap, &len);
  }
  if (rv == 0) {
    px_send_response_bytes(p, flow, req, buf, len);
    /* Kept only where retransmissions come, over UDP, and only with a key
     * to find it by. */
    if (status >= 200 && transport == SIPFLOW_TRANSPORT_UDP &&
        strans_key_of(req, sip_object(req)->sip_request->rq_method, &k) == 0) {
      px_strans *st = strans_answered_new(p, &k, flow, status, buf, len);
      if (st && table_add(p->txn, st) != 0)
        strans_free(p->txn, st); /* answered, just not remembered */
      else if (st)
        strans_finish(p, st);
    }
  }
  if (buf != stackbuf)
    free(buf);
  return rv;
}

/* Whether |m|'s URI is one of the Contacts of |req|. */
static int contact_in(const sip_contact_t *m, msg_t *req) {
  for (const sip_contact_t *r = sip_object(req)->sip_contact; r; r = r->m_next)
    if (url_cmp(m->m_url, r->m_url) == 0)
      return 1;
  return 0;
}

/* The UDP answer-size rule of register.c at an edge: a registrar's 200 to
 * a REGISTER that came over UDP lists only the request's own Contacts when
 * it is far larger than the request (the registrar cannot tell, when the
 * edge reached it over TCP). 1 if Contacts were removed. */
static int trim_register_answer(px *p, px_strans *st, msg_t *resp, size_t len) {
  sip_t *sip = sip_object(resp);
  sip_contact_t *drop[64];
  size_t n = 0, req_len;
  if (!st->req || st->transport != SIPFLOW_TRANSPORT_UDP ||
      sip->sip_cseq->cs_method != sip_method_register)
    return 0;
  req_len = msg_size(st->req);
  if (len <= px_udp_answer_limit(req_len))
    return 0;
  for (sip_contact_t *m = sip->sip_contact; m && n < 64; m = m->m_next)
    if (!contact_in(m, st->req))
      drop[n++] = m;
  for (size_t i = 0; i < n; i++)
    msg_header_remove(resp, (msg_pub_t *)sip, (msg_header_t *)drop[i]);
  if (n)
    p->stats.udp_answers_trimmed++;
  return n > 0;
}

void px_strans_forward_response(px *p, px_strans *st, msg_t *resp) {
  sip_t *sip = sip_object(resp);
  int status = sip->sip_status->st_status;
  size_t len;
  char *bytes;
  px_log(p, SIPFLOW_LOG_DEBUG, "forwarding %d upstream", status);
  /* Our own Via is the top one; the rest goes upstream. */
  msg_header_remove(resp, (msg_pub_t *)sip, (msg_header_t *)sip->sip_via);
  bytes = px_msg_bytes(resp, &len);
  if (!bytes)
    return;
  if (status >= 200 && status < 300 && trim_register_answer(p, st, resp, len)) {
    free(bytes);
    if (!(bytes = px_msg_bytes(resp, &len)))
      return;
  }
  px_send_flow(p, st->flow, bytes, len);
  if (st->status < 200 || (status >= 200 && status < 300)) {
    strans_store(st, status, bytes, len);
    if (status >= 200)
      strans_finish(p, st);
  }
  free(bytes);
}

void px_strans_retransmit(px *p, px_strans *st) {
  if (st->last)
    px_send_flow(p, st->flow, st->last, st->last_len);
}

int px_strans_status(const px_strans *st) { return st->status; }
msg_t *px_strans_request(const px_strans *st) { return st->req; }
sipflow_flow_id px_strans_flow(const px_strans *st) { return st->flow; }
void px_strans_set_fork(px_strans *st, px_fork *f) { st->fork = f; }
px_fork *px_strans_fork(const px_strans *st) { return st->fork; }

/* ---- client transactions ------------------------------------------------- */

static void ctrans_free_cb(uv_handle_t *h) {
  px_ctrans *ct = h->data;
  if (++ct->timers_closing < 2)
    return;
  if (ct->req)
    msg_destroy(ct->req);
  free(ct->bytes);
  free(ct);
}

static void ctrans_end(px *p, px_ctrans *ct) {
  HASH_DEL(p->ctranses, ct);
  uv_close((uv_handle_t *)&ct->retrans, ctrans_free_cb);
  uv_close((uv_handle_t *)&ct->timeout, ctrans_free_cb);
}

static void ctrans_linger_done(uv_timer_t *t) {
  px_ctrans *ct = t->data;
  ctrans_end(ct->p, ct);
}

static void ctrans_transmit(px *p, px_ctrans *ct) {
  if (ct->flow) {
    if (px_send_flow(p, ct->flow, ct->bytes, ct->len) == 0)
      return;
    /* The flow is gone: the branch will time out into a 408. */
    ct->flow = 0;
    if (!ct->dst.family)
      return;
  }
  px_send_addr(p, ct->transport, &ct->dst, ct->bytes, ct->len, &ct->flow);
}

static void ctrans_retransmit(uv_timer_t *t) {
  px_ctrans *ct = t->data;
  ctrans_transmit(ct->p, ct);
  ct->retrans_ms *= 2;
  if (ct->method != sip_method_invite && ct->retrans_ms > T2_MS)
    ct->retrans_ms = T2_MS;
  uv_timer_start(&ct->retrans, ctrans_retransmit, ct->retrans_ms, 0);
}

static void ctrans_complete(px *p, px_ctrans *ct, int status) {
  ct->status = status;
  uv_timer_stop(&ct->retrans);
  /* Only an INVITE needs its request after the final answer (to ACK a
   * retransmitted non-2xx); for the rest it is most of what lingers, and
   * at thousands of requests a second that was tens of MB for 5 s. */
  if (ct->method != sip_method_invite) {
    if (ct->req)
      msg_destroy(ct->req);
    ct->req = NULL;
    free(ct->bytes);
    ct->bytes = NULL;
  }
  /* Linger to absorb retransmitted finals (and re-ACK them). */
  uv_timer_start(&ct->timeout, ctrans_linger_done,
                 ct->transport == SIPFLOW_TRANSPORT_UDP ? LINGER_MS : 0, 0);
  (void)p;
}

static void ctrans_fail(px *p, px_ctrans *ct);

static void ctrans_timed_out(uv_timer_t *t) {
  px_ctrans *ct = t->data;
  px *p = ct->p;
  ctrans_fail(p, ct);
}

/* RFC 3261 §8.1.3.1, §17.1.4: a transport failure ends the transaction at
 * once, as its timeout would (a local 408: the next flow is tried). */
static void ctrans_fail(px *p, px_ctrans *ct) {
  px_ctrans_cb cb = ct->cb;
  void *owner = ct->owner;
  int idx = ct->idx;
  p->stats.local_408++;
  ctrans_complete(p, ct, 408);
  ct->cb = NULL;
  if (cb)
    cb(p, ct, NULL, 408, owner, idx);
}

px_ctrans *px_ctrans_send(px *p, msg_t *msg, const char *branch,
                          sipflow_flow_id flow, int transport,
                          const sipflow_addr *dst, px_ctrans_cb cb, void *owner,
                          int idx) {
  px_ctrans *ct = calloc(1, sizeof(*ct));
  if (!ct)
    return NULL;
  snprintf(ct->branch, sizeof(ct->branch), "%s", branch);
  ct->p = p;
  ct->req = msg;
  ct->method = sip_object(msg)->sip_request->rq_method;
  ct->bytes = px_msg_bytes(msg, &ct->len);
  if (!ct->bytes) {
    free(ct);
    return NULL;
  }
  ct->flow = flow;
  ct->transport = transport;
  if (dst)
    ct->dst = *dst;
  ct->cb = cb;
  ct->owner = owner;
  ct->idx = idx;
  uv_timer_init(p->loop, &ct->retrans);
  uv_timer_init(p->loop, &ct->timeout);
  ct->retrans.data = ct->timeout.data = ct;
  HASH_ADD_STR(p->ctranses, branch, ct);
  ctrans_transmit(p, ct);
  if (ct->flow) {
    sipflow_flow_info info;
    if (sipflow_flow_get(p->flows, ct->flow, &info) == 0)
      ct->transport = info.tuple.transport;
  }
  if (ct->transport == SIPFLOW_TRANSPORT_UDP) {
    ct->retrans_ms = T1_MS;
    uv_timer_start(&ct->retrans, ctrans_retransmit, T1_MS, 0);
  }
  uv_timer_start(&ct->timeout, ctrans_timed_out, p->cfg.txn_timeout_ms, 0);
  return ct;
}

/* ACK for a non-2xx final answer to an INVITE branch (RFC 3261 §17.1.1.3). */
static void send_ack(px *p, px_ctrans *ct, msg_t *resp) {
  sip_t *rq = sip_object(ct->req), *rs = sip_object(resp);
  su_home_t *home = msg_home(ct->req);
  char *ruri = url_as_string(home, rq->sip_request->rq_url);
  char *via = sip_header_as_string(home, (sip_header_t *)rq->sip_via);
  char *from = sip_header_as_string(home, (sip_header_t *)rq->sip_from);
  char *to = sip_header_as_string(home, (sip_header_t *)rs->sip_to);
  char buf[4096];
  int n = snprintf(buf, sizeof(buf),
                   "ACK %s SIP/2.0\r\nVia: %s\r\nMax-Forwards: 70\r\n"
                   "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %u ACK\r\n",
                   ruri, via, from, to, rq->sip_call_id->i_id,
                   (unsigned)rq->sip_cseq->cs_seq);
  for (sip_route_t *r = rq->sip_route; r && n > 0 && (size_t)n < sizeof(buf);
       r = r->r_next) {
    sip_route_t one = *r;
    one.r_next = NULL;
    char *rs_s = sip_header_as_string(home, (sip_header_t *)&one);
    n += snprintf(buf + n, sizeof(buf) - (size_t)n, "Route: %s\r\n", rs_s);
  }
  if (n > 0 && (size_t)n < sizeof(buf) - 32) {
    n +=
        snprintf(buf + n, sizeof(buf) - (size_t)n, "Content-Length: 0\r\n\r\n");
    if (ct->flow)
      px_send_flow(p, ct->flow, buf, (size_t)n);
    else if (ct->dst.family)
      px_send_addr(p, ct->transport, &ct->dst, buf, (size_t)n, NULL);
  }
}

static void send_cancel(px *p, px_ctrans *ct) {
  sip_t *rq = sip_object(ct->req);
  su_home_t *home = msg_home(ct->req);
  char *ruri = url_as_string(home, rq->sip_request->rq_url);
  char *via = sip_header_as_string(home, (sip_header_t *)rq->sip_via);
  char *from = sip_header_as_string(home, (sip_header_t *)rq->sip_from);
  char *to = sip_header_as_string(home, (sip_header_t *)rq->sip_to);
  char buf[4096];
  int n = snprintf(buf, sizeof(buf),
                   "CANCEL %s SIP/2.0\r\nVia: %s\r\nMax-Forwards: 70\r\n"
                   "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %u CANCEL\r\n"
                   "Content-Length: 0\r\n\r\n",
                   ruri, via, from, to, rq->sip_call_id->i_id,
                   (unsigned)rq->sip_cseq->cs_seq);
  if (n <= 0 || (size_t)n >= sizeof(buf))
    return;
  /* The CANCEL's own 200 is absorbed: it shares the branch but not the
   * method, and no client transaction waits for it. */
  if (ct->flow)
    px_send_flow(p, ct->flow, buf, (size_t)n);
  else if (ct->dst.family)
    px_send_addr(p, ct->transport, &ct->dst, buf, (size_t)n, NULL);
}

void px_ctrans_cancel(px *p, px_ctrans *ct) {
  if (!ct || ct->status >= 200 || ct->method != sip_method_invite)
    return;
  if (ct->status >= 100)
    send_cancel(p, ct);
  else
    ct->cancel_pending = 1; /* RFC 3261 §9.1: wait for a provisional */
}

void px_txn_connect_failed(px *p, const sipflow_addr *dst) {
  char branches[64][64];
  int n = 0;
  px_ctrans *ct, *tmp;
  /* Branches first, then each found again: a failure's callback may start
   * or end other client transactions. */
  HASH_ITER(hh, p->ctranses, ct, tmp) {
    if (n < 64 && !ct->flow && ct->status < 200 &&
        ct->transport != SIPFLOW_TRANSPORT_UDP &&
        sipflow_addr_equal(&ct->dst, dst))
      memcpy(branches[n++], ct->branch, sizeof(branches[0]));
  }
  for (int i = 0; i < n; i++) {
    HASH_FIND_STR(p->ctranses, branches[i], ct);
    if (ct && ct->status < 200 && ct->cb)
      ctrans_fail(p, ct);
  }
}

void px_ctrans_detach(px_ctrans *ct) {
  if (ct)
    ct->cb = NULL;
}

void px_ctrans_detach_upstream(px_ctrans *ct, sipflow_flow_id upstream) {
  if (ct) {
    ct->cb = NULL;
    ct->upstream = upstream;
  }
}

/* A retransmitted 2xx to an INVITE whose fork is gone: passed on as it
 * came, less our Via (RFC 3261 §16.7: the UAS repeats its 2xx until the ACK
 * comes, and the caller may not have the first). */
static void forward_2xx_again(px *p, px_ctrans *ct, msg_t *resp) {
  sip_t *sip = sip_object(resp);
  size_t len;
  char *bytes;
  msg_header_remove(resp, (msg_pub_t *)sip, (msg_header_t *)sip->sip_via);
  if (sip->sip_via && (bytes = px_msg_bytes(resp, &len)) != NULL) {
    px_send_flow(p, ct->upstream, bytes, len);
    free(bytes);
  }
  msg_destroy(resp);
}

void px_txn_on_response(px *p, msg_t *resp, sipflow_flow_id flow) {
  sip_t *sip = sip_object(resp);
  px_ctrans *ct = NULL;
  int status = sip->sip_status->st_status;
  (void)flow;
  if (!sip->sip_via->v_branch) {
    msg_destroy(resp);
    return;
  }
  HASH_FIND_STR(p->ctranses, sip->sip_via->v_branch, ct);
  px_log(p, SIPFLOW_LOG_DEBUG, "response %d for branch %s: %s", status,
         sip->sip_via->v_branch, ct ? "matched" : "no transaction");
  if (!ct || sip->sip_cseq->cs_method != ct->method) {
    msg_destroy(resp); /* e.g. the 200 to our CANCEL */
    return;
  }
  if (ct->status >= 200) {
    /* A retransmitted final: re-ACK a non-2xx; pass 2xx upstream. */
    if (ct->method == sip_method_invite && status >= 300)
      send_ack(p, ct, resp);
    else if (ct->method == sip_method_invite && status < 300 && ct->cb)
      ct->cb(p, ct, resp, status, ct->owner, ct->idx);
    else if (ct->method == sip_method_invite && status < 300 && ct->upstream)
      forward_2xx_again(p, ct, resp);
    else
      msg_destroy(resp);
    return;
  }
  if (status < 200) {
    ct->status = status;
    uv_timer_stop(&ct->retrans); /* Timer A stops on a provisional */
    if (ct->method == sip_method_invite)
      uv_timer_start(&ct->timeout, ctrans_timed_out, 180000, 0); /* Timer C */
    if (ct->cancel_pending) {
      ct->cancel_pending = 0;
      send_cancel(p, ct);
    }
  } else {
    if (ct->method == sip_method_invite && status >= 300)
      send_ack(p, ct, resp);
    ctrans_complete(p, ct, status);
  }
  if (ct->cb)
    ct->cb(p, ct, resp, status, ct->owner, ct->idx);
  else
    msg_destroy(resp);
}

static void txn_closed(uv_handle_t *h) {
  struct px_txn *t = h->data;
  px *p = t->p;
  free(t->slots);
  if (t->cur)
    munmap(t->cur, ARENA_CHUNK);
  spares_release(t);
  free(t);
  p->txn = NULL;
}

void px_txn_init(px *p) {
  struct px_txn *t = calloc(1, sizeof(*t));
  p->ctranses = NULL;
  p->txn = t;
  if (t)
    t->slots = calloc(STRANS_SLOTS_MIN, sizeof(*t->slots));
  if (!t || !t->slots) {
    /* A few kB at start-up: without them nothing could be answered. */
    fprintf(stderr, "sipflow-proxy: out of memory\n");
    exit(1);
  }
  t->p = p;
  sipflow_uv_rand((uint8_t *)&hash_seed, sizeof(hash_seed), NULL);
  t->nslots = STRANS_SLOTS_MIN;
  uv_timer_init(p->loop, &t->timer);
  t->timer.data = p;
}

void px_txn_shutdown(px *p) {
  struct px_txn *t = p->txn;
  px_ctrans *ct, *ctmp;
  /* Unfinished ones are on no list: finish them, then drain everything. */
  for (size_t i = 0; i < t->nslots; i++) {
    px_strans *st = t->slots[i].st;
    if (st && !(st->flags & ST_LINGER)) {
      st->flags |= ST_LINGER;
      list_push(&t->reaping, st);
    }
  }
  list_drain(t, &t->reaping, UINT64_MAX);
  list_drain(t, &t->linger, UINT64_MAX);
  uv_timer_stop(&t->timer);
  t->timer.data = t;
  uv_close((uv_handle_t *)&t->timer, txn_closed);
  HASH_ITER(hh, p->ctranses, ct, ctmp) {
    ct->cb = NULL;
    ctrans_end(p, ct);
  }
}
