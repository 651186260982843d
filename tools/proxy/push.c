/*
 * sipflow-proxy: push notifications (RFC 8599, docs/push.md). The library
 * says when and to whom; here the push goes out as a JSON POST to
 * --push-webhook (libcurl's multi interface driven by the uv loop), with
 * retries, and a request held for a woken phone waits on a uv timer for
 * the phone's REGISTER.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "proxy.h"

/* Tries of one POST: the first and two retries, 1 s then 2 s apart. */
#define PUSH_TRIES 3
/* POSTs in flight or waiting to be retried; more are dropped and counted. */
#define PUSH_MAX_QUEUED 1024
/* Requests held for pushed phones (--push-max-held, more get 480 at once)
 * and bindings remembered as pushed for a call within --push-wait
 * (--push-max-recent) are the configuration's. */

/* A binding pushed for a call lately: more requests for it within
 * --push-wait wait for the same wake-up instead of pushing again. */
typedef struct px_recent {
  uint64_t binding;
  uint64_t at_ms;
  UT_hash_handle hh;
} px_recent;

typedef struct px_post {
  struct px_push *pp;
  CURL *easy;
  char *body;
  int tries;
  uv_timer_t retry;
  struct px_post *next;
} px_post;

/* A request held for a woken phone (a plan branch with push set). */
typedef struct px_waiter {
  struct px_push *pp;
  px_fork *f;
  uint32_t branch_id;
  uv_timer_t timer;
  struct px_waiter *next;
} px_waiter;

typedef struct px_push {
  px *p;
  CURLM *multi;
  uv_timer_t curl_timer;
  uv_timer_t wake; /* runs the woken checks outside the registrar's call */
  px_post *posts;
  size_t n_posts;
  px_waiter *waiters;
  size_t n_waiters;
  px_recent *recent; /* by binding id */
  int closing;       /* handles of this struct still closing */
} px_push;

typedef struct sock_ctx {
  uv_poll_t poll;
  curl_socket_t fd;
  px_push *pp;
} sock_ctx;

static void check_multi(px_push *pp);

static void on_handle_closed(uv_handle_t *h) { free(h->data); }

/* ---- libcurl on the uv loop ---------------------------------------------- */

static void on_poll(uv_poll_t *h, int status, int events) {
  sock_ctx *s = h->data;
  int running, flags = 0;
  if (status < 0)
    flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE)
    flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE)
    flags |= CURL_CSELECT_OUT;
  curl_multi_socket_action(s->pp->multi, s->fd, flags, &running);
  check_multi(s->pp);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
                     void *socketp) {
  px_push *pp = userp;
  sock_ctx *s = socketp;
  int events = 0;
  (void)easy;
  if (what == CURL_POLL_REMOVE) {
    if (s) {
      uv_poll_stop(&s->poll);
      s->poll.data = s;
      uv_close((uv_handle_t *)&s->poll, on_handle_closed);
      curl_multi_assign(pp->multi, fd, NULL);
    }
    return 0;
  }
  if (!s) {
    if (!(s = calloc(1, sizeof(*s))))
      return -1;
    s->fd = fd;
    s->pp = pp;
    if (uv_poll_init_socket(pp->p->loop, &s->poll, fd) != 0) {
      free(s);
      return -1;
    }
    s->poll.data = s;
    curl_multi_assign(pp->multi, fd, s);
  }
  if (what & CURL_POLL_IN)
    events |= UV_READABLE;
  if (what & CURL_POLL_OUT)
    events |= UV_WRITABLE;
  uv_poll_start(&s->poll, events, on_poll);
  return 0;
}

static void on_curl_timer(uv_timer_t *t) {
  px_push *pp = t->data;
  int running;
  curl_multi_socket_action(pp->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_multi(pp);
}

static int on_timer(CURLM *multi, long ms, void *userp) {
  px_push *pp = userp;
  (void)multi;
  if (ms < 0)
    uv_timer_stop(&pp->curl_timer);
  else
    uv_timer_start(&pp->curl_timer, on_curl_timer, (uint64_t)ms, 0);
  return 0;
}

static size_t discard(char *ptr, size_t size, size_t n, void *ud) {
  (void)ptr;
  (void)ud;
  return size * n;
}

/* ---- POSTs --------------------------------------------------------------- */

static void post_free(px_post *po) {
  px_push *pp = po->pp;
  for (px_post **pl = &pp->posts; *pl; pl = &(*pl)->next)
    if (*pl == po) {
      *pl = po->next;
      break;
    }
  pp->n_posts--;
  if (po->easy)
    curl_easy_cleanup(po->easy);
  free(po->body);
  po->retry.data = po;
  uv_close((uv_handle_t *)&po->retry, on_handle_closed);
}

static int post_start(px_post *po) {
  px_push *pp = po->pp;
  if (!po->easy && !(po->easy = curl_easy_init()))
    return -1;
  curl_easy_reset(po->easy);
  curl_easy_setopt(po->easy, CURLOPT_URL, pp->p->cfg.push_webhook);
  curl_easy_setopt(po->easy, CURLOPT_POSTFIELDS, po->body);
  curl_easy_setopt(po->easy, CURLOPT_HTTPHEADER, pp->p->push_headers);
  curl_easy_setopt(po->easy, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(po->easy, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(po->easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(po->easy, CURLOPT_PRIVATE, po);
  po->tries++;
  return curl_multi_add_handle(pp->multi, po->easy) == CURLM_OK ? 0 : -1;
}

static void on_retry(uv_timer_t *t) {
  px_post *po = t->data;
  if (post_start(po) != 0) {
    po->pp->p->stats.push_failed++;
    post_free(po);
  }
}

static void post_done(px_push *pp, px_post *po, CURLcode rc) {
  px *p = pp->p;
  long code = 0;
  curl_easy_getinfo(po->easy, CURLINFO_RESPONSE_CODE, &code);
  curl_multi_remove_handle(pp->multi, po->easy);
  if (rc == CURLE_OK && code >= 200 && code < 300) {
    p->stats.push_ok++;
    px_log(p, SIPFLOW_LOG_INFO, "push gateway answered %ld", code);
    post_free(po);
    return;
  }
  px_log(p, SIPFLOW_LOG_WARN, "push gateway: %s, answer %ld (try %d of %d)",
         rc == CURLE_OK ? "refused" : curl_easy_strerror(rc), code, po->tries,
         PUSH_TRIES);
  /* A 4xx will not change on a retry; anything else may. */
  if (po->tries >= PUSH_TRIES || (code >= 400 && code < 500)) {
    p->stats.push_failed++;
    post_free(po);
    return;
  }
  p->stats.push_retries++;
  uv_timer_start(&po->retry, on_retry, 1000u << (po->tries - 1), 0);
}

static void check_multi(px_push *pp) {
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(pp->multi, &left)))
    if (m->msg == CURLMSG_DONE) {
      px_post *po = NULL;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&po);
      post_done(pp, po, m->data.result);
    }
}

static json_t *str_json(sipflow_str s) {
  return json_stringn(s.ptr ? s.ptr : "", s.ptr ? s.len : 0);
}

/* Whether |binding| had a call push within --push-wait; if not, it is
 * noted as pushed now. The table is pruned of entries older than the wait
 * when it is full; still full, the oldest goes. */
static bool recently_pushed(px_push *pp, uint64_t binding) {
  uint64_t now = uv_now(pp->p->loop);
  uint64_t wait = (uint64_t)pp->p->cfg.push_wait * 1000u;
  px_recent *r, *tmp;
  HASH_FIND(hh, pp->recent, &binding, sizeof(binding), r);
  if (r && now - r->at_ms < wait)
    return true;
  if (!r) {
    if (HASH_COUNT(pp->recent) >= pp->p->cfg.push_max_recent) {
      HASH_ITER(hh, pp->recent, r, tmp) {
        if (now - r->at_ms >= wait) {
          HASH_DEL(pp->recent, r);
          free(r);
        }
      }
      if (HASH_COUNT(pp->recent) >= pp->p->cfg.push_max_recent) {
        r = pp->recent; /* the oldest inserted */
        HASH_DEL(pp->recent, r);
        free(r);
      }
    }
    if (!(r = calloc(1, sizeof(*r))))
      return false;
    r->binding = binding;
    HASH_ADD(hh, pp->recent, binding, sizeof(r->binding), r);
  }
  r->at_ms = now;
  return false;
}

/* The push callback: called inside a registrar call. */
void px_push_request(sipflow_registrar *reg, sipflow_reg_push_reason reason,
                     const sipflow_reg_binding *b, void *ud) {
  px *p = ud;
  px_push *pp = p->push;
  json_t *o;
  px_post *po;
  (void)reg;
  if (!pp)
    return;
  /* In a cluster every node holds the binding and its refresh schedule;
   * the node the phone registered at pushes, the others only when it is
   * down. A call push comes from the node holding the call, once. */
  if (reason == SIPFLOW_REG_PUSH_REFRESH && b->path.len &&
      px_cluster_path_foreign(p, b->path.ptr, b->path.len)) {
    p->stats.push_elsewhere++;
    return;
  }
  if (reason == SIPFLOW_REG_PUSH_CALL && recently_pushed(pp, b->id)) {
    p->stats.push_coalesced++;
    return;
  }
  if (pp->n_posts >= PUSH_MAX_QUEUED) {
    p->stats.push_dropped++;
    return;
  }
  o = json_object();
  json_object_set_new(o, "provider", str_json(b->pn_provider));
  json_object_set_new(o, "prid", str_json(b->pn_prid));
  json_object_set_new(o, "param", str_json(b->pn_param));
  json_object_set_new(o, "reason",
                      json_string(sipflow_reg_push_reason_name(reason)));
  json_object_set_new(o, "aor", str_json(b->aor));
  json_object_set_new(o, "call_id", str_json(b->call_id));
  po = calloc(1, sizeof(*po));
  if (!po || !(po->body = json_dumps(o, JSON_COMPACT))) {
    json_decref(o);
    free(po);
    p->stats.push_failed++;
    return;
  }
  json_decref(o);
  po->pp = pp;
  uv_timer_init(p->loop, &po->retry);
  po->retry.data = po;
  po->next = pp->posts;
  pp->posts = po;
  pp->n_posts++;
  p->stats.push_sent++;
  px_log(p, SIPFLOW_LOG_INFO, "push (%s) to %.*s",
         sipflow_reg_push_reason_name(reason), (int)b->aor.len, b->aor.ptr);
  if (post_start(po) != 0) {
    p->stats.push_failed++;
    post_free(po);
  }
}

/* ---- held requests ------------------------------------------------------- */

static void waiter_free(px_waiter *w) {
  px_push *pp = w->pp;
  pp->n_waiters--;
  for (px_waiter **pl = &pp->waiters; *pl; pl = &(*pl)->next)
    if (*pl == w) {
      *pl = w->next;
      break;
    }
  w->timer.data = w;
  uv_close((uv_handle_t *)&w->timer, on_handle_closed);
}

static void on_wait_timeout(uv_timer_t *t) {
  px_waiter *w = t->data;
  px_fork *f = w->f;
  uint32_t id = w->branch_id;
  px *p = w->pp->p;
  waiter_free(w);
  p->stats.push_timeouts++;
  px_log(p, SIPFLOW_LOG_INFO, "pushed phone did not register in time: 480");
  px_fork_push_result(p, f, id, 0);
}

int px_push_hold(px *p, px_fork *f, uint32_t branch_id) {
  px_push *pp = p->push;
  px_waiter *w;
  if (pp && pp->n_waiters >= p->cfg.push_max_held) {
    p->stats.push_held_over++;
    return -1;
  }
  if (!pp || !(w = calloc(1, sizeof(*w))))
    return -1;
  pp->n_waiters++;
  w->pp = pp;
  w->f = f;
  w->branch_id = branch_id;
  uv_timer_init(p->loop, &w->timer);
  w->timer.data = w;
  uv_timer_start(&w->timer, on_wait_timeout, (uint64_t)p->cfg.push_wait * 1000u,
                 0);
  w->next = pp->waiters;
  pp->waiters = w;
  return 0;
}

void px_push_forget(px *p, px_fork *f) {
  px_push *pp = p->push;
  px_waiter *w, *next;
  if (!pp)
    return;
  for (w = pp->waiters; w; w = next) {
    next = w->next;
    if (w->f == f)
      waiter_free(w);
  }
}

int px_push_held(px *p, px_fork *f) {
  int n = 0;
  if (!p->push)
    return 0;
  for (px_waiter *w = p->push->waiters; w; w = w->next)
    n += w->f == f;
  return n;
}

/* Outside the registrar's call: ask every held request's plan whether its
 * phone is back. */
static void on_wake(uv_timer_t *t) {
  px_push *pp = t->data;
  px_waiter *w = pp->waiters, *next;
  for (; w; w = next) {
    next = w->next;
    const sipflow_reg_branch *br = NULL;
    if (px_fork_plan_woken(pp->p, w->f, w->branch_id, &br) == 0 && br) {
      px_fork *f = w->f;
      waiter_free(w);
      pp->p->stats.push_woken++;
      px_fork_push_sent(pp->p, f, br);
      next = pp->waiters; /* the list may have changed */
    }
  }
}

void px_push_binding(px *p, sipflow_reg_change change,
                     const sipflow_reg_binding *b) {
  if (!p->push || !p->push->waiters || b->suspended ||
      (change != SIPFLOW_REG_ADDED && change != SIPFLOW_REG_REFRESHED &&
       change != SIPFLOW_REG_UPDATED))
    return;
  uv_timer_start(&p->push->wake, on_wake, 0, 0);
}

/* ---- set-up -------------------------------------------------------------- */

int px_push_open(px *p) {
  px_push *pp;
  if (!p->cfg.push_webhook[0])
    return 0;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
      !(pp = calloc(1, sizeof(*pp))))
    return -1;
  pp->p = p;
  if (!(pp->multi = curl_multi_init())) {
    free(pp);
    return -1;
  }
  curl_multi_setopt(pp->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(pp->multi, CURLMOPT_SOCKETDATA, pp);
  curl_multi_setopt(pp->multi, CURLMOPT_TIMERFUNCTION, on_timer);
  curl_multi_setopt(pp->multi, CURLMOPT_TIMERDATA, pp);
  uv_timer_init(p->loop, &pp->curl_timer);
  pp->curl_timer.data = pp;
  uv_timer_init(p->loop, &pp->wake);
  pp->wake.data = pp;
  p->push_headers = curl_slist_append(NULL, "Content-Type: application/json");
  p->push = pp;
  return 0;
}

static void on_push_closed(uv_handle_t *h) {
  px_push *pp = h->data;
  if (--pp->closing == 0)
    free(pp);
}

void px_push_close(px *p) {
  px_push *pp = p->push;
  if (!pp)
    return;
  while (pp->posts) {
    px_post *po = pp->posts;
    curl_multi_remove_handle(pp->multi, po->easy);
    post_free(po);
  }
  while (pp->waiters)
    waiter_free(pp->waiters);
  {
    px_recent *r, *tmp;
    HASH_ITER(hh, pp->recent, r, tmp) {
      HASH_DEL(pp->recent, r);
      free(r);
    }
  }
  curl_multi_cleanup(pp->multi);
  pp->closing = 2;
  pp->curl_timer.data = pp;
  pp->wake.data = pp;
  uv_close((uv_handle_t *)&pp->curl_timer, on_push_closed);
  uv_close((uv_handle_t *)&pp->wake, on_push_closed);
  curl_slist_free_all(p->push_headers);
  p->push_headers = NULL;
  p->push = NULL;
  curl_global_cleanup();
}
