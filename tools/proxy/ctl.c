/*
 * sipflow-proxy: the control socket. `sipflow-proxy ctl --control PATH
 * dump|flows|stats` connects, sends the command and prints the JSON answer.
 * JSON is made with jansson.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uthash.h>

#include <sipflow/keepalive.h>

#include "proxy.h"

/* A client that sends no command within this time is closed: a silent
 * local client must not hold a connection for ever. */
#define CTL_CLIENT_TIMEOUT_MS 5000

typedef struct ctl_client {
  uv_pipe_t pipe;
  uv_timer_t timer;
  int handles; /* open handles: freed when both are closed */
  px *p;
  char cmd[32];
  size_t len;
  char *out;
  size_t dump_pos; /* bindings written so far */
  int dump_done;
} ctl_client;

static json_t *flow_json(px *p, sipflow_flow_id id) {
  sipflow_flow_info info;
  char local[64], remote[64], token[SIPFLOW_TOKEN_BUFLEN];
  json_t *o;
  if (!id || sipflow_flow_get(p->flows, id, &info) != 0)
    return json_null();
  sipflow_addr_format(&info.tuple.local, local, sizeof(local));
  sipflow_addr_format(&info.tuple.remote, remote, sizeof(remote));
  if (sipflow_flow_token(p->flows, id, token, sizeof(token), NULL) != 0)
    token[0] = '\0';
  o = json_object();
  json_object_set_new(o, "id", json_integer((json_int_t)id));
  json_object_set_new(
      o, "transport",
      json_string(sipflow_transport_name(info.tuple.transport)));
  json_object_set_new(o, "local", json_string(local));
  json_object_set_new(o, "remote", json_string(remote));
  json_object_set_new(o, "token", json_string(token));
  return o;
}

static const char *const method_names[] = {
    "auto", "crlf", "stun", "options", "udp4", "passive", "ws-ping"};
static const char *const health_names[] = {"unknown", "alive", "suspect",
                                           "dead"};

/* Microseconds ago, or null. */
static json_t *ago_us(sipflow_tstamp t, sipflow_tstamp now) {
  if (!t || t > now)
    return json_null();
  return json_integer((json_int_t)((now - t) / SIPFLOW_MICROSECONDS));
}

static json_t *keepalive_json(px *p, sipflow_flow_id id) {
  sipflow_keepalive_stats s;
  sipflow_tstamp now = sipflow_uv_now();
  json_t *o;
  sipflow_keepalive_stats r;
  int rtt;
  if (!p->ka || !id || sipflow_keepalive_get_stats(p->ka, id, &s) != 0)
    return json_null();
  /* Passive watches get their RTT from their sampler (keepalive.c). */
  rtt = s.probes_answered && s.method != SIPFLOW_KEEPALIVE_PASSIVE;
  o = json_object();
  json_object_set_new(o, "method", json_string(method_names[s.method % 7]));
  json_object_set_new(o, "state", json_string(health_names[s.health & 3]));
  json_object_set_new(o, "last_sent_us_ago", ago_us(s.last_sent, now));
  json_object_set_new(o, "last_answer_us_ago", ago_us(s.last_answer, now));
  if (s.method == SIPFLOW_KEEPALIVE_PASSIVE &&
      px_ka_rtt_sample(p, id, &r) == 0) {
    s.last_rtt = r.last_rtt;
    s.srtt = r.srtt;
    rtt = 1;
  }
  json_object_set_new(o, "rtt_us",
                      rtt ? json_integer((json_int_t)(s.last_rtt / 1000))
                          : json_null());
  json_object_set_new(o, "srtt_us",
                      rtt ? json_integer((json_int_t)(s.srtt / 1000))
                          : json_null());
  json_object_set_new(o, "misses", json_integer(s.consecutive_misses));
  json_object_set_new(o, "probes_sent", json_integer(s.probes_sent));
  json_object_set_new(o, "probes_answered", json_integer(s.probes_answered));
  json_object_set_new(o, "probes_missed", json_integer(s.probes_missed));
  return o;
}

static json_t *str_json(sipflow_str s) {
  return s.len ? json_stringn(s.ptr, s.len) : json_null();
}

/* The flow and keepalive objects of one dump, made once per flow and
 * shared by every binding on it: the keepalive statistics of a flow cost
 * in proportion to its reasons (one per binding), so making them per
 * binding was quadratic in the bindings of a flow. */
typedef struct flow_cache {
  sipflow_flow_id id;
  json_t *flow, *keepalive;
  UT_hash_handle hh;
} flow_cache;

typedef struct dump_ctx {
  px *p;
  json_t *arr;
  flow_cache *flows;
} dump_ctx;

static flow_cache *flow_cached(dump_ctx *d, sipflow_flow_id id) {
  flow_cache *c;
  HASH_FIND(hh, d->flows, &id, sizeof(id), c);
  if (c)
    return c;
  if (!(c = calloc(1, sizeof(*c))))
    return NULL;
  c->id = id;
  c->flow = flow_json(d->p, id);
  c->keepalive = keepalive_json(d->p, id);
  HASH_ADD(hh, d->flows, id, sizeof(c->id), c);
  return c;
}

static void flow_cache_free(dump_ctx *d) {
  flow_cache *c, *tmp;
  HASH_ITER(hh, d->flows, c, tmp) {
    HASH_DEL(d->flows, c);
    json_decref(c->flow);
    json_decref(c->keepalive);
    free(c);
  }
}

static int dump_one(const sipflow_reg_binding *b, void *ud) {
  dump_ctx *d = ud;
  px *p = d->p;
  json_t *arr = d->arr, *o = json_object();
  flow_cache *fc = b->flow_id ? flow_cached(d, b->flow_id) : NULL;
  json_object_set_new(o, "aor", str_json(b->aor));
  json_object_set_new(o, "contact", str_json(b->uri));
  json_object_set_new(o, "instance", str_json(b->instance));
  json_object_set_new(o, "reg_id",
                      b->reg_id ? json_integer(b->reg_id) : json_null());
  json_object_set_new(o, "q",
                      b->q >= 0 ? json_real(b->q / 1000.0) : json_null());
  json_object_set_new(o, "expires", json_integer(b->expires));
  json_object_set_new(o, "path", str_json(b->path));
  json_object_set_new(o, "outbound", json_boolean(b->outbound));
  json_object_set_new(o, "call_id", str_json(b->call_id));
  json_object_set_new(o, "cseq", json_integer(b->cseq));
  json_object_set_new(o, "user_agent", str_json(b->user_agent));
  json_object_set_new(o, "push", json_boolean(b->push));
  json_object_set_new(o, "suspended", json_boolean(b->suspended));
  if (b->instance.len) { /* RFC 5627: this binding's GRUUs */
    char gbuf[4096];
    sipflow_str pub, temp;
    if (sipflow_registrar_gruu(p->reg, b, gbuf, sizeof(gbuf), &pub, &temp) ==
        0) {
      json_object_set_new(o, "pub_gruu", str_json(pub));
      json_object_set_new(o, "temp_gruu", str_json(temp));
    }
  }
  if (fc) { /* on our flow: the flow's endpoint, made once per flow */
    json_object_set(o, "flow", fc->flow);
    json_object_set(o, "keepalive", fc->keepalive);
  } else { /* behind an edge: the endpoint probed through the Path */
    json_object_set_new(o, "flow", flow_json(p, b->flow_id));
    json_object_set_new(o, "keepalive",
                        keepalive_json(p, px_ka_binding_endpoint(p, b)));
  }
  json_array_append_new(arr, o);
  return 0;
}

static const char *role_name(const px *p) {
  return p->cfg.role == PX_ROLE_EDGE        ? "edge"
         : p->cfg.role == PX_ROLE_REGISTRAR ? "registrar"
                                            : "single";
}

/* ---- dump, a page at a time -----------------------------------------------
 * A dump of 100 000 bindings is tens of MB of JSON: made at once, it held
 * the loop (and every SIP message) for seconds. It is written a page of
 * DUMP_PAGE bindings at a time instead, each page once the previous one is
 * written, with the loop free in between. A page starts where the last one
 * ended in the registrar's order; bindings added or removed meanwhile may
 * be missed or seen twice, as in any walk of a live table. */
#define DUMP_PAGE 1000

typedef struct page_ctx {
  dump_ctx d;
  size_t skip, seen;
} page_ctx;

static int page_one(const sipflow_reg_binding *b, void *ud) {
  page_ctx *pc = ud;
  if (pc->seen++ < pc->skip)
    return 0;
  if (json_array_size(pc->d.arr) == DUMP_PAGE)
    return 1; /* one more: this page is full */
  return dump_one(b, &pc->d);
}

static json_t *cmd_flows(px *p) {
  json_t *root = json_object(), *arr = json_array();
  sipflow_flow_info info;
  sipflow_flow_id after = 0;
  while (sipflow_flow_next(p->flows, after, &info) == 0) {
    json_t *o = flow_json(p, info.id);
    json_object_set_new(o, "keepalive", keepalive_json(p, info.id));
    json_array_append_new(arr, o);
    after = info.id;
  }
  json_object_set_new(root, "flows", arr);
  return root;
}

#define STAT(o, s, name)                                                       \
  json_object_set_new(o, #name, json_integer((json_int_t)(s)->name))

static json_t *cmd_stats(px *p) {
  json_t *o = json_object();
  px_stats *s = &p->stats;
  STAT(o, s, rx_messages);
  STAT(o, s, rx_requests);
  STAT(o, s, rx_responses);
  STAT(o, s, rx_crlf_pings);
  STAT(o, s, rx_stun);
  STAT(o, s, rx_dropped);
  STAT(o, s, rx_malformed);
  STAT(o, s, tx_messages);
  STAT(o, s, tx_errors);
  STAT(o, s, registers);
  STAT(o, s, register_ok);
  STAT(o, s, register_rejected);
  STAT(o, s, forwarded_requests);
  STAT(o, s, failovers);
  STAT(o, s, local_408);
  STAT(o, s, token_403);
  STAT(o, s, token_430);
  STAT(o, s, sips_insecure);
  STAT(o, s, options_sent);
  STAT(o, s, options_answered);
  STAT(o, s, flows_failed);
  STAT(o, s, ws_idle_closed);
  STAT(o, s, ws_pongs);
  STAT(o, s, udp_flows_forgotten);
  STAT(o, s, tx_batched);
  STAT(o, s, tx_batches);
  STAT(o, s, flows_refused);
  STAT(o, s, flows_shed);
  STAT(o, s, tcp_hello_timeouts);
  STAT(o, s, tcp_queue_overflows);
  STAT(o, s, register_rate_limited);
  STAT(o, s, udp_answers_trimmed);
  STAT(o, s, auth_challenges);
  STAT(o, s, auth_ok);
  STAT(o, s, auth_failed);
  STAT(o, s, auth_stale);
  STAT(o, s, auth_replayed);
  STAT(o, s, push_sent);
  STAT(o, s, push_ok);
  STAT(o, s, push_failed);
  STAT(o, s, push_retries);
  STAT(o, s, push_dropped);
  STAT(o, s, push_woken);
  STAT(o, s, push_timeouts);
  STAT(o, s, push_elsewhere);
  STAT(o, s, push_coalesced);
  STAT(o, s, push_held_over);
  json_object_set_new(o, "flows",
                      json_integer((json_int_t)sipflow_flow_count(p->flows)));
  json_object_set_new(
      o, "bindings",
      json_integer(p->reg ? (json_int_t)sipflow_registrar_binding_count(p->reg)
                          : 0));
  json_object_set_new(
      o, "aors",
      json_integer(p->reg ? (json_int_t)sipflow_registrar_aor_count(p->reg)
                          : 0));
  json_object_set_new(
      o, "keepalive_endpoints",
      json_integer(p->ka ? (json_int_t)sipflow_keepalive_count(p->ka) : 0));
  return o;
}

static void client_closed(uv_handle_t *h) {
  ctl_client *c = h->data;
  if (--c->handles > 0)
    return;
  free(c->out);
  free(c);
}

static void client_end(ctl_client *c) {
  if (!uv_is_closing((uv_handle_t *)&c->timer))
    uv_close((uv_handle_t *)&c->timer, client_closed);
  if (!uv_is_closing((uv_handle_t *)&c->pipe))
    uv_close((uv_handle_t *)&c->pipe, client_closed);
}

static void client_timed_out(uv_timer_t *t) {
  ctl_client *c = t->data;
  uv_read_stop((uv_stream_t *)&c->pipe);
  client_end(c);
}

static void client_written(uv_write_t *w, int status) {
  ctl_client *c = w->data;
  (void)status;
  free(w);
  client_end(c);
}

static void dump_next_page(uv_timer_t *t);

static void page_written(uv_write_t *w, int status) {
  ctl_client *c = w->data;
  free(w);
  free(c->out);
  c->out = NULL;
  if (status != 0 || c->dump_done) {
    client_end(c);
    return;
  }
  uv_timer_start(&c->timer, dump_next_page, 0, 0);
}

/* Appends |n| bytes to c->out (malloc'd, NUL-terminated). */
static int out_append(ctl_client *c, size_t *len, const char *s, size_t n) {
  char *grown = realloc(c->out, *len + n + 1);
  if (!grown)
    return -1;
  memcpy(grown + *len, s, n);
  *len += n;
  grown[*len] = '\0';
  c->out = grown;
  return 0;
}

static void dump_next_page(uv_timer_t *t) {
  ctl_client *c = t->data;
  px *p = c->p;
  page_ctx pc;
  json_t *arr = json_array();
  char *items = NULL, head[96];
  size_t len = 0, n;
  uv_write_t *w = malloc(sizeof(*w));
  uv_buf_t b;
  int rv = 0, err = !arr || !w;
  memset(&pc, 0, sizeof(pc));
  pc.d.p = p;
  pc.d.arr = arr;
  pc.skip = c->dump_pos;
  if (!err && p->reg)
    rv = sipflow_registrar_foreach(p->reg, sipflow_uv_now(), page_one, &pc);
  flow_cache_free(&pc.d);
  c->dump_done = rv == 0; /* the walk ended: no binding left */
  n = arr ? json_array_size(arr) : 0;
  if (n)
    items = json_dumps(arr, JSON_INDENT(2));
  if (c->dump_pos == 0) {
    snprintf(head, sizeof(head), "{\n  \"role\": \"%s\",\n  \"bindings\": [",
             role_name(p));
    err |= out_append(c, &len, head, strlen(head));
  } else if (n) {
    err |= out_append(c, &len, ",", 1);
  }
  /* The page's array without its brackets: "[" ... "]". */
  if (items && strlen(items) >= 2)
    err |= out_append(c, &len, items + 1, strlen(items) - 2);
  else if (n)
    err = 1;
  if (c->dump_done)
    err |= out_append(c, &len, "]\n}", 3);
  free(items);
  json_decref(arr);
  c->dump_pos += n;
  if (err || !c->out) {
    free(w);
    client_end(c);
    return;
  }
  w->data = c;
  b = uv_buf_init(c->out, (unsigned)len);
  if (uv_write(w, (uv_stream_t *)&c->pipe, &b, 1, page_written) != 0) {
    free(w);
    client_end(c);
  }
}

static void client_answer(ctl_client *c) {
  json_t *j;
  uv_write_t *w;
  uv_buf_t b;
  c->cmd[c->len] = '\0';
  c->cmd[strcspn(c->cmd, "\r\n ")] = '\0';
  if (strcmp(c->cmd, "dump") == 0) {
    uv_read_stop((uv_stream_t *)&c->pipe);
    uv_timer_start(&c->timer, dump_next_page, 0, 0);
    return;
  }
  if (strcmp(c->cmd, "flows") == 0)
    j = cmd_flows(c->p);
  else if (strcmp(c->cmd, "stats") == 0)
    j = cmd_stats(c->p);
  else {
    j = json_object();
    json_object_set_new(j, "error", json_string("unknown command"));
  }
  c->out = json_dumps(j, JSON_INDENT(2));
  json_decref(j);
  w = malloc(sizeof(*w));
  if (!c->out || !w) {
    free(w);
    client_end(c);
    return;
  }
  w->data = c;
  b = uv_buf_init(c->out, (unsigned)strlen(c->out));
  uv_read_stop((uv_stream_t *)&c->pipe);
  /* The answer has the same time to be read as the command to come. */
  uv_timer_start(&c->timer, client_timed_out, CTL_CLIENT_TIMEOUT_MS, 0);
  if (uv_write(w, (uv_stream_t *)&c->pipe, &b, 1, client_written) != 0) {
    free(w);
    client_end(c);
  }
}

static void client_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
  ctl_client *c = h->data;
  (void)sz;
  b->base = c->cmd + c->len;
  b->len = sizeof(c->cmd) - 1 - c->len;
}

static void client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  ctl_client *c = s->data;
  (void)b;
  if (n < 0) {
    if (c->len)
      client_answer(c);
    else
      client_end(c);
    return;
  }
  c->len += (size_t)n;
  if (memchr(c->cmd, '\n', c->len) || c->len >= sizeof(c->cmd) - 1)
    client_answer(c);
}

static void on_ctl_connection(uv_stream_t *server, int status) {
  px *p = server->data;
  ctl_client *c;
  if (status != 0 || !(c = calloc(1, sizeof(*c))))
    return;
  c->p = p;
  uv_pipe_init(p->loop, &c->pipe, 0);
  uv_timer_init(p->loop, &c->timer);
  c->pipe.data = c->timer.data = c;
  c->handles = 2;
  if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
    client_end(c);
    return;
  }
  uv_timer_start(&c->timer, client_timed_out, CTL_CLIENT_TIMEOUT_MS, 0);
  uv_read_start((uv_stream_t *)&c->pipe, client_alloc, client_read);
}

int px_ctl_start(px *p) {
  int rv;
  unlink(p->cfg.control_path);
  uv_pipe_init(p->loop, &p->control, 0);
  p->control.data = p;
  {
    /* Owner only, whatever the umask: the dump shows every binding and
     * flow token. The socket is made with these bits, so there is no
     * moment when others could connect. */
    mode_t old = umask(077);
    rv = uv_pipe_bind(&p->control, p->cfg.control_path);
    umask(old);
  }
  if (rv == 0 && chmod(p->cfg.control_path, 0600) != 0)
    rv = UV_EPERM;
  if (rv == 0)
    rv = uv_listen((uv_stream_t *)&p->control, 16, on_ctl_connection);
  if (rv != 0) {
    px_log(p, SIPFLOW_LOG_ERROR, "control socket %s: %s", p->cfg.control_path,
           uv_strerror(rv));
    uv_close((uv_handle_t *)&p->control, NULL);
    return -1;
  }
  p->control_open = true;
  px_log(p, SIPFLOW_LOG_INFO, "control socket %s", p->cfg.control_path);
  return 0;
}

void px_ctl_stop(px *p) {
  if (!p->control_open)
    return;
  p->control_open = false;
  uv_close((uv_handle_t *)&p->control, NULL);
  unlink(p->cfg.control_path);
}

int px_ctl_client(const char *path, const char *command) {
  struct sockaddr_un sa;
  char buf[65536];
  ssize_t n;
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0 || strlen(path) >= sizeof(sa.sun_path)) {
    fprintf(stderr, "sipflow-proxy ctl: bad control path\n");
    return 1;
  }
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  strcpy(sa.sun_path, path);
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    perror("sipflow-proxy ctl: connect");
    close(fd);
    return 1;
  }
  dprintf(fd, "%s\n", command);
  while ((n = read(fd, buf, sizeof(buf))) > 0)
    fwrite(buf, 1, (size_t)n, stdout);
  fputc('\n', stdout);
  close(fd);
  return 0;
}
