/*
 * The libuv adapter: the timer follows the context's deadline, and a framed
 * TCP stream answers pings and delivers messages. Runs a real loop over
 * loopback, bounded by a watchdog timer.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "sipflow/sipflow_uv.h"
#include "sipflow_int.h"

typedef struct fake_source {
  sipflow__timer_source src;
  sipflow_tstamp expiry;
  int handled;
  sipflow_tstamp handled_at;
} fake_source;

static sipflow_tstamp fake_get(const void *obj) {
  return ((const fake_source *)obj)->expiry;
}
static int fake_handle(void *obj, sipflow_tstamp now) {
  fake_source *f = obj;
  if (now >= f->expiry) {
    f->handled++;
    f->handled_at = now;
    f->expiry =
        f->handled < 3 ? now + 2 * SIPFLOW_MILLISECONDS : SIPFLOW_TSTAMP_NONE;
  }
  return 0;
}

static void watchdog_fire(uv_timer_t *t) { uv_stop(t->loop); }

static void start_watchdog(uv_loop_t *loop, uv_timer_t *wd) {
  uv_timer_init(loop, wd);
  uv_timer_start(wd, watchdog_fire, 5000, 0);
  uv_unref((uv_handle_t *)wd);
}

static int expired_calls;
static void on_expired(sipflow_uv_timer *t, int rv, void *ud) {
  (void)t;
  (void)ud;
  cr_expect_eq(rv, 0);
  expired_calls++;
}

Test(uv, timer_follows_the_context_deadline_until_none) {
  uv_loop_t loop;
  uv_timer_t wd;
  sipflow_ctx *ctx;
  sipflow_uv_timer *t;
  fake_source f = {{0}, 0, 0, 0};
  cr_assert_eq(uv_loop_init(&loop), 0);
  start_watchdog(&loop, &wd);
  cr_assert_eq(sipflow_ctx_new(&ctx, NULL, NULL, NULL, NULL), 0);
  f.src.get_expiry = fake_get;
  f.src.handle_expiry = fake_handle;
  f.src.obj = &f;
  sipflow_tstamp start = sipflow_uv_now();
  f.expiry = start + 3 * SIPFLOW_MILLISECONDS;
  sipflow__ctx_attach(ctx, &f.src);
  cr_assert_eq(sipflow_uv_timer_new(&t, &loop, ctx, on_expired, NULL), 0);
  sipflow_uv_timer_update(t);
  uv_run(&loop, UV_RUN_DEFAULT); /* returns once the deadline is NONE */
  cr_expect_eq(f.handled, 3);
  cr_expect_geq(f.handled_at, start + 7 * SIPFLOW_MILLISECONDS);
  cr_expect_geq(sipflow_uv_timer_fired(t), 3);
  cr_expect_eq(expired_calls, (int)sipflow_uv_timer_fired(t));
  sipflow_uv_timer_del(t);
  uv_close((uv_handle_t *)&wd, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_expect_eq(uv_loop_close(&loop), 0);
  sipflow__ctx_detach(&f.src);
  sipflow_ctx_del(ctx);
}

/* Twenty deadlines a millisecond apart, each handled once. */
typedef struct many_source {
  sipflow__timer_source src;
  sipflow_tstamp at[20];
  sipflow_tstamp handled_at[20];
  int next;
} many_source;

static sipflow_tstamp many_get(const void *obj) {
  const many_source *m = obj;
  return m->next < 20 ? m->at[m->next] : SIPFLOW_TSTAMP_NONE;
}
static int many_handle(void *obj, sipflow_tstamp now) {
  many_source *m = obj;
  while (m->next < 20 && m->at[m->next] <= now)
    m->handled_at[m->next++] = now;
  return 0;
}

static uint64_t fires_for(sipflow_duration slack, many_source *m) {
  uv_loop_t loop;
  uv_timer_t wd;
  sipflow_ctx *ctx;
  sipflow_uv_timer *t;
  uint64_t fired;
  sipflow_tstamp start;
  memset(m, 0, sizeof(*m));
  cr_assert_eq(uv_loop_init(&loop), 0);
  start_watchdog(&loop, &wd);
  cr_assert_eq(sipflow_ctx_new(&ctx, NULL, NULL, NULL, NULL), 0);
  m->src.get_expiry = many_get;
  m->src.handle_expiry = many_handle;
  m->src.obj = m;
  start = sipflow_uv_now();
  for (int i = 0; i < 20; i++)
    m->at[i] = start + (sipflow_duration)(3 + i) * SIPFLOW_MILLISECONDS;
  sipflow__ctx_attach(ctx, &m->src);
  cr_assert_eq(sipflow_uv_timer_new(&t, &loop, ctx, NULL, NULL), 0);
  sipflow_uv_timer_set_slack(t, slack);
  sipflow_uv_timer_update(t);
  sipflow_uv_timer_update(t); /* a second update at the same time: no-op */
  uv_run(&loop, UV_RUN_DEFAULT);
  fired = sipflow_uv_timer_fired(t);
  sipflow_uv_timer_del(t);
  uv_close((uv_handle_t *)&wd, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_expect_eq(uv_loop_close(&loop), 0);
  sipflow__ctx_detach(&m->src);
  sipflow_ctx_del(ctx);
  return fired;
}

Test(uv, timer_slack_handles_close_deadlines_in_one_callback) {
  many_source m;
  uint64_t fired = fires_for(10 * SIPFLOW_MILLISECONDS, &m);
  /* 3..22 ms after the start: three 10 ms windows at most, whatever the
   * phase of the clock; a loop that runs late can only merge more. */
  cr_expect_leq(fired, 3, "fired %llu times", (unsigned long long)fired);
  for (int i = 0; i < 20; i++) {
    sipflow_duration slack = 10 * SIPFLOW_MILLISECONDS;
    cr_expect_geq(m.handled_at[i], m.at[i], "deadline %d handled early", i);
    /* The earliest deadline of each callback waited for the next multiple
     * of the slack; later ones may ride along once the loop is running. */
    if (i == 0 || m.handled_at[i] != m.handled_at[i - 1])
      cr_expect_geq(m.handled_at[i], (m.at[i] + slack - 1) / slack * slack,
                    "deadline %d", i);
  }
  /* Without slack each millisecond is its own callback (or a few merge
   * when the machine is busy). */
  fired = fires_for(0, &m);
  cr_expect_geq(fired, 5, "fired %llu times", (unsigned long long)fired);
  for (int i = 0; i < 20; i++)
    cr_expect_geq(m.handled_at[i], m.at[i]);
}

Test(uv, rand_and_hash_key_come_from_libsodium) {
  uint8_t a[32] = {0}, b[32] = {0};
  sipflow_ctx_settings s;
  sipflow_uv_rand(a, sizeof(a), NULL);
  sipflow_uv_rand(b, sizeof(b), NULL);
  cr_expect_neq(memcmp(a, b, sizeof(a)), 0);
  sipflow_ctx_settings_default(&s);
  cr_assert_eq(sipflow_uv_settings_randomize(&s), 0);
  int nonzero = 0;
  for (size_t i = 0; i < sizeof(s.hash_key); i++)
    nonzero |= s.hash_key[i];
  cr_expect_neq(nonzero, 0);
  cr_expect_eq(sipflow_uv_settings_randomize(NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
}

/* ---- stream: a server side sipflow_uv_stream and a raw client ---------- */

typedef struct rig {
  uv_loop_t loop;
  uv_tcp_t server;
  uv_tcp_t client;
  uv_connect_t conn;
  uv_timer_t wd;
  sipflow_uv_stream *stream;
  int messages, pings, pongs, closed, close_err;
  char last_msg[512];
  char client_got[64];
  size_t client_len;
  size_t want; /* 0: close after the first pong and message */
  const char *to_send;
  const sipflow_uv_stream_callbacks *cb; /* NULL: stream_cb */
} rig;

static void on_message(sipflow_uv_stream *s, const uint8_t *d, size_t n,
                       void *ud) {
  rig *r = ud;
  (void)s;
  r->messages++;
  snprintf(r->last_msg, sizeof(r->last_msg), "%.*s", (int)n, (const char *)d);
}
static void on_ping(sipflow_uv_stream *s, void *ud) {
  (void)s;
  ((rig *)ud)->pings++;
}
static void on_pong(sipflow_uv_stream *s, void *ud) {
  (void)s;
  ((rig *)ud)->pongs++;
}
static void on_close(sipflow_uv_stream *s, int err, void *ud) {
  rig *r = ud;
  (void)s;
  r->closed++;
  r->close_err = err;
  uv_close((uv_handle_t *)&r->server, NULL);
  uv_close((uv_handle_t *)&r->client, NULL);
}

static const sipflow_uv_stream_callbacks stream_cb = {on_message, on_ping,
                                                      on_pong, on_close};

static void on_accept(uv_stream_t *server, int status) {
  rig *r = server->data;
  uv_tcp_t *tcp = malloc(sizeof(*tcp));
  cr_assert_eq(status, 0);
  uv_tcp_init(server->loop, tcp);
  cr_assert_eq(uv_accept(server, (uv_stream_t *)tcp), 0);
  cr_assert_eq(
      sipflow_uv_stream_new(&r->stream, tcp, r->cb ? r->cb : &stream_cb, 0, r),
      0);
  cr_expect_eq(sipflow_uv_stream_handle(r->stream), tcp);
  cr_expect_eq(sipflow_uv_stream_user_data(r->stream), r);
}

static void client_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
  rig *r = h->data;
  (void)sz;
  b->base = r->client_got + r->client_len;
  b->len = sizeof(r->client_got) - 1 - r->client_len;
}

static void client_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  rig *r = st->data;
  (void)b;
  if (n > 0) {
    r->client_len += (size_t)n;
    /* got the pong (or all that is wanted): close from the server side */
    if (r->want ? r->client_len >= r->want
                : r->client_len >= 2 && r->messages == 1)
      sipflow_uv_stream_close(r->stream);
  }
}

static void client_wrote(uv_write_t *w, int status) {
  cr_expect_eq(status, 0);
  free(w);
}

static void on_connect(uv_connect_t *c, int status) {
  rig *r = c->data;
  uv_write_t *w = malloc(sizeof(*w));
  uv_buf_t b = uv_buf_init((char *)r->to_send, (unsigned)strlen(r->to_send));
  cr_assert_eq(status, 0);
  uv_read_start((uv_stream_t *)&r->client, client_alloc, client_read);
  uv_write(w, (uv_stream_t *)&r->client, &b, 1, client_wrote);
}

/* Runs the rig: a listener on a loopback port, a client connected to it,
 * the loop until both sides are done (or the watchdog fires). */
static void rig_run(rig *r, uv_connection_cb accept_cb,
                    uv_connect_cb connect_cb) {
  struct sockaddr_in addr;
  int len = sizeof(addr);
  cr_assert_eq(uv_loop_init(&r->loop), 0);
  start_watchdog(&r->loop, &r->wd);
  uv_tcp_init(&r->loop, &r->server);
  r->server.data = r;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  cr_assert_eq(uv_tcp_bind(&r->server, (struct sockaddr *)&addr, 0), 0);
  cr_assert_eq(uv_listen((uv_stream_t *)&r->server, 4, accept_cb), 0);
  uv_tcp_getsockname(&r->server, (struct sockaddr *)&addr, &len);
  uv_tcp_init(&r->loop, &r->client);
  r->client.data = r;
  r->conn.data = r;
  uv_tcp_connect(&r->conn, &r->client, (struct sockaddr *)&addr, connect_cb);
  uv_run(&r->loop, UV_RUN_DEFAULT);
}

/* Closes the watchdog and the loop, which must have nothing else open. */
static void rig_end(rig *r) {
  uv_close((uv_handle_t *)&r->wd, NULL);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  cr_expect_eq(uv_loop_close(&r->loop), 0);
}

Test(uv, stream_answers_a_ping_and_delivers_a_message) {
  static rig r;
  memset(&r, 0, sizeof(r));
  r.to_send = "\r\n\r\nOPTIONS sip:a SIP/2.0\r\nContent-Length: 0\r\n\r\n";
  rig_run(&r, on_accept, on_connect);
  cr_expect_eq(r.pings, 1);
  cr_expect_eq(r.messages, 1);
  cr_expect_str_eq(r.last_msg,
                   "OPTIONS sip:a SIP/2.0\r\nContent-Length: 0\r\n\r\n");
  cr_expect_eq(r.client_len, 2);
  cr_expect_str_eq(r.client_got, "\r\n");
  cr_expect_eq(r.closed, 1);
  cr_expect_eq(r.close_err, UV_ECANCELED);
  rig_end(&r);
}

/* Answers a message with "ANS" on the same stream. */
static void on_message_answer(sipflow_uv_stream *s, const uint8_t *d, size_t n,
                              void *ud) {
  on_message(s, d, n, ud);
  cr_expect_eq(sipflow_uv_stream_write(s, "ANS", 3), 0);
}

static const sipflow_uv_stream_callbacks answer_cb = {
    on_message_answer, on_ping, on_pong, on_close};

/* The pongs of one read go out together, but each ping has its CRLF, and
 * those of the pings before a message go out before its answer. */
Test(uv, stream_answers_each_ping_of_a_burst_in_order_with_messages) {
  static rig r;
  memset(&r, 0, sizeof(r));
  r.to_send = "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"
              "OPTIONS sip:a SIP/2.0\r\nContent-Length: 0\r\n\r\n"
              "\r\n\r\n\r\n\r\n";
  r.cb = &answer_cb;
  r.want = 5 * 2 + 3 + 2 * 2;
  rig_run(&r, on_accept, on_connect);
  cr_expect_eq(r.pings, 7);
  cr_expect_eq(r.messages, 1);
  cr_expect_str_eq(r.client_got, "\r\n\r\n\r\n\r\n\r\nANS\r\n\r\n");
  cr_expect_eq(r.closed, 1);
  rig_end(&r);
}

Test(uv, stream_closes_on_a_framing_error) {
  static rig r;
  memset(&r, 0, sizeof(r));
  r.to_send = "INVITE sip:a SIP/2.0\r\nContent-Length: nope\r\n\r\n";
  rig_run(&r, on_accept, on_connect);
  cr_expect_eq(r.messages, 0);
  cr_expect_eq(r.closed, 1);
  cr_expect_eq(r.close_err, SIPFLOW_ERR_MALFORMED);
  rig_end(&r);
}

Test(uv, addresses_convert_both_ways_and_refuse_other_families) {
  sipflow_addr a, back;
  struct sockaddr_storage ss;
  size_t len = 0;
  cr_assert_eq(sipflow_addr_parse(&a, "192.0.2.7", 5061), 0);
  cr_assert_eq(sipflow_uv_addr_to_sockaddr(&a, &ss, &len), 0);
  cr_assert_eq(ss.ss_family, AF_INET);
  cr_assert_eq(len, sizeof(struct sockaddr_in));
  cr_assert_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), 5061);
  cr_assert_eq(sipflow_uv_addr_from_sockaddr((struct sockaddr *)&ss, &back), 0);
  cr_assert(sipflow_addr_equal(&a, &back));

  cr_assert_eq(sipflow_addr_parse(&a, "2001:db8::1", 5060), 0);
  cr_assert_eq(sipflow_uv_addr_to_sockaddr(&a, &ss, &len), 0);
  cr_assert_eq(ss.ss_family, AF_INET6);
  cr_assert_eq(len, sizeof(struct sockaddr_in6));
  cr_assert_eq(sipflow_uv_addr_from_sockaddr((struct sockaddr *)&ss, &back), 0);
  cr_assert(sipflow_addr_equal(&a, &back));
  cr_assert_eq(back.port, 5060);

  /* A family libsipflow has no address for. */
  memset(&a, 0, sizeof(a));
  cr_assert_eq(sipflow_uv_addr_to_sockaddr(&a, &ss, &len),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ss.ss_family, 0);
  ss.ss_family = AF_UNIX;
  cr_assert_eq(sipflow_uv_addr_from_sockaddr((struct sockaddr *)&ss, &back),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_assert_eq(back.family, SIPFLOW_AF_NONE);
  cr_assert_eq(sipflow_uv_addr_to_sockaddr(NULL, &ss, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_assert_eq(sipflow_uv_addr_from_sockaddr(NULL, &back),
               SIPFLOW_ERR_INVALID_ARGUMENT);
}

/* A peer that never reads: what is queued for it stays under the cap, and
 * the write past the cap ends the stream (UV_ENOBUFS). */
static void on_accept_no_reader(uv_stream_t *server, int status) {
  rig *r = server->data;
  uv_tcp_t *tcp = malloc(sizeof(*tcp));
  static char chunk[65536];
  int rv = 0;
  size_t i;
  cr_assert_eq(status, 0);
  uv_tcp_init(server->loop, tcp);
  cr_assert_eq(uv_accept(server, (uv_stream_t *)tcp), 0);
  cr_assert_eq(sipflow_uv_stream_new(&r->stream, tcp, &stream_cb, 0, r), 0);
  sipflow_uv_stream_set_max_queued(r->stream, 256 * 1024);
  memset(chunk, 'x', sizeof(chunk));
  /* At most 64 MiB: the kernel's buffers take a few MiB, then the queue
   * fills. */
  for (i = 0; i < 1024 && rv == 0; i++) {
    rv = sipflow_uv_stream_write(r->stream, chunk, sizeof(chunk));
    if (rv == 0)
      cr_assert_leq(uv_stream_get_write_queue_size((uv_stream_t *)tcp),
                    256 * 1024);
  }
  cr_expect_eq(rv, SIPFLOW_ERR_LIMIT);
  cr_expect_gt(i, 1);
  cr_expect_eq(sipflow_uv_stream_write(r->stream, "\r\n", 2),
               SIPFLOW_ERR_BAD_STATE);
}

static void on_connect_silent(uv_connect_t *c, int status) {
  (void)c;
  cr_assert_eq(status, 0); /* and never reads */
}

Test(uv, stream_ends_when_the_peer_does_not_read_past_the_cap) {
  static rig r;
  memset(&r, 0, sizeof(r));
  rig_run(&r, on_accept_no_reader, on_connect_silent);
  cr_expect_eq(r.closed, 1);
  cr_expect_eq(r.close_err, UV_ENOBUFS);
  rig_end(&r);
}
