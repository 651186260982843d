/*
 * libsipflow-redis: formats and queue without a server, then the client
 * against a redis-server this test starts on a loopback port (its own temp
 * dir, no persistence) and stops by PID. Waiting is bounded by uv timers on
 * the loop, never by sleeping.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "redis_int.h"

#define S(x) ((sipflow_str){(x), sizeof(x) - 1})

static sipflow_change binding(const char *aor, uint32_t reg_id,
                              uint64_t version, uint32_t cseq, int op) {
  sipflow_change c;
  memset(&c, 0, sizeof(c));
  c.kind = SIPFLOW_CHANGE_BINDING;
  c.op = (uint8_t)op;
  c.version = version;
  c.u.binding.aor = (sipflow_str){aor, strlen(aor)};
  c.u.binding.uri = S("sip:ua@192.0.2.1:5060");
  c.u.binding.instance = S("<urn:uuid:00000000-0000-1000-8000-000000000001>");
  c.u.binding.reg_id = reg_id;
  c.u.binding.outbound = reg_id != 0;
  c.u.binding.q = SIPFLOW_REG_Q_NONE;
  c.u.binding.call_id = S("call-1");
  c.u.binding.cseq = cseq;
  c.u.binding.expires_unix = 4000000000u;
  return c;
}

/* ---- formats ------------------------------------------------------------- */

Test(redis, a_binding_key_names_its_identity_not_its_state) {
  char k1[RS_KEY_MAX], k2[RS_KEY_MAX], k3[RS_KEY_MAX];
  sipflow_change a = binding("sip:a@example.com", 1, 10, 1, 1);
  sipflow_change later = binding("sip:a@example.com", 1, 99, 7, 2);
  sipflow_change other = binding("sip:a@example.com", 2, 10, 1, 1);
  cr_assert_gt(rs_key("sf", &a, k1, sizeof(k1)), 0);
  cr_assert_gt(rs_key("sf", &later, k2, sizeof(k2)), 0);
  cr_assert_gt(rs_key("sf", &other, k3, sizeof(k3)), 0);
  cr_assert_str_eq(k1, k2, "version, CSeq and op are state, not identity");
  cr_assert_str_neq(k1, k3, "RFC 5626 §6: reg-id is part of the identity");
  cr_assert_eq(strncmp(k1, "sf:b:", 5), 0);
  cr_assert_eq(strlen(k1), 5 + 32);
}

Test(redis, a_key_record_is_named_by_its_id) {
  sipflow_change c;
  char k[RS_KEY_MAX];
  memset(&c, 0, sizeof(c));
  c.kind = SIPFLOW_CHANGE_KEY;
  c.op = SIPFLOW_CHANGE_PUT;
  c.u.key.key_id = 7;
  cr_assert_eq(rs_key("sipflow", &c, k, sizeof(k)), 11);
  cr_assert_str_eq(k, "sipflow:k:7");
  cr_assert_eq(rs_key("sipflow", &c, k, 5), SIPFLOW_ERR_BUFFER_TOO_SMALL);
  c.kind = 9;
  cr_assert_eq(rs_key("sipflow", &c, k, sizeof(k)),
               SIPFLOW_ERR_INVALID_ARGUMENT);
}

Test(redis, a_frame_carries_the_writer_and_the_record) {
  sipflow_change c = binding("sip:a@example.com", 1, 42, 3, 1), back;
  size_t len, nl, rl;
  const char *node;
  const uint8_t *rec;
  uint8_t *f = rs_frame("node-a", &c, &len);
  cr_assert_not_null(f);
  cr_assert_eq(rs_unframe(f, len, &node, &nl, &rec, &rl), 0);
  cr_assert_eq(nl, 6);
  cr_assert_eq(memcmp(node, "node-a", 6), 0);
  cr_assert_eq(sipflow_change_decode(rec, rl, &back), 0);
  cr_assert_eq(back.version, 42);
  cr_assert_eq(back.u.binding.cseq, 3);
  free(f);
}

Test(redis, malformed_frames_are_refused) {
  static const struct {
    const char *bytes;
    size_t len;
  } rows[] = {
      {"", 0},             /* empty */
      {"SFR1", 4},         /* no node length */
      {"SFR2\x01x", 6},    /* another format */
      {"SFR1\x00", 5},     /* empty node id */
      {"SFR1\x05node", 9}, /* node id cut short */
      {"SFR1\x41x", 6},    /* node id over the limit */
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    const char *node;
    const uint8_t *rec;
    size_t nl, rl;
    cr_assert_eq(rs_unframe((const uint8_t *)rows[i].bytes, rows[i].len, &node,
                            &nl, &rec, &rl),
                 SIPFLOW_ERR_MALFORMED, "row %zu", i);
  }
}

Test(redis, no_frame_without_a_node_id) {
  sipflow_change c = binding("sip:a@example.com", 1, 1, 1, 1);
  size_t len;
  cr_assert_null(rs_frame("", &c, &len));
}

Test(redis, an_entry_holds_the_script_arguments) {
  sipflow_change c = binding("sip:a@example.com", 1, 1234, 17, 2);
  int err;
  rs_entry *e = rs_entry_new("sipflow", "n1", &c, &err);
  cr_assert_not_null(e);
  cr_assert_eq(err, 0);
  cr_assert_str_eq(e->version, "1234");
  cr_assert_str_eq(e->cseq, "17");
  cr_assert_str_eq(e->op, "2");
  cr_assert_str_eq(e->expire_at, "4000000000");
  cr_assert_eq(e->call_id_len, 6);
  cr_assert_eq(memcmp(e->call_id, "call-1", 6), 0);
  rs_entry_free(e);
  c.op = 7;
  cr_assert_null(rs_entry_new("sipflow", "n1", &c, &err));
  cr_assert_eq(err, SIPFLOW_ERR_INVALID_ARGUMENT);
}

Test(redis, the_queue_drops_its_oldest_past_the_bound) {
  rs_list l = {0};
  rs_entry *kept = NULL;
  uint32_t dropped = 0;
  int err;
  for (uint64_t v = 1; v <= 5; v++) {
    sipflow_change c = binding("sip:a@example.com", 1, v, 1, 1);
    rs_entry *e = rs_entry_new("p", "n", &c, &err);
    cr_assert_not_null(e);
    if (v == 3)
      kept = e;
    dropped += rs_list_push_bounded(&l, e, 3);
  }
  cr_assert_eq(dropped, 2);
  cr_assert_eq(l.n, 3);
  cr_assert_eq(l.head, kept, "versions 1 and 2 went, the oldest");
  cr_assert_str_eq(l.tail->version, "5");
  rs_list_clear(&l);
  cr_assert_eq(l.n, 0);
  cr_assert_null(l.head);
}

Test(redis, urls_are_parsed) {
  static const struct {
    const char *url;
    int rv;
    const char *host;
    uint16_t port;
  } rows[] = {
      {"redis://127.0.0.1:6380", 0, "127.0.0.1", 6380},
      {"redis://127.0.0.1", 0, "127.0.0.1", 6379},
      {"redis://[::1]:7000", 0, "::1", 7000},
      {"redis://10.0.0.1:6379/0", 0, "10.0.0.1", 6379},
      {"http://127.0.0.1:6379", SIPFLOW_ERR_MALFORMED, NULL, 0},
      {"redis://:6379", SIPFLOW_ERR_MALFORMED, NULL, 0},
      {"redis://127.0.0.1:", SIPFLOW_ERR_MALFORMED, NULL, 0},
      {"redis://127.0.0.1:70000", SIPFLOW_ERR_MALFORMED, NULL, 0},
      {"redis://[::1", SIPFLOW_ERR_MALFORMED, NULL, 0},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    char host[64] = "";
    uint16_t port = 0;
    cr_assert_eq(
        sipflow_redis_url_parse(rows[i].url, host, sizeof(host), &port),
        rows[i].rv, "%s", rows[i].url);
    if (rows[i].rv == 0) {
      cr_assert_str_eq(host, rows[i].host);
      cr_assert_eq(port, rows[i].port);
    }
  }
}

Test(redis, settings_are_checked) {
  sipflow_redis_settings s;
  sipflow_redis *r = (sipflow_redis *)1;
  uv_loop_t loop;
  uv_loop_init(&loop);
  sipflow_redis_settings_default(&s);
  cr_assert_eq(sipflow_redis_new(&r, &loop, NULL, &s, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT, "a node id is required");
  cr_assert_null(r);
  s.node_id = "0123456789012345678901234567890123456789012345678901234567890"
              "12345";
  cr_assert_eq(sipflow_redis_new(&r, &loop, NULL, &s, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT, "node id over 64 bytes");
  s.node_id = "n";
  s.sentinels = "127.0.0.1";
  cr_assert_eq(sipflow_redis_new(&r, &loop, NULL, &s, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT, "a Sentinel needs its port");
  s.sentinels = "127.0.0.1:26379,";
  cr_assert_eq(sipflow_redis_new(&r, &loop, NULL, &s, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT, "no empty Sentinel");
  uv_loop_close(&loop);
}

/* ---- against a real server ------------------------------------------------
 */

typedef struct seen {
  int n, loaded_events, connected_events, disconnected_events, nodes_events;
  uint64_t last_version;
  char last_origin[65];
  int last_loaded;
} seen;

static void on_change(sipflow_redis *r, const sipflow_change *c,
                      const char *origin, size_t origin_len, int loaded,
                      void *ud) {
  seen *s = ud;
  (void)r;
  s->n++;
  s->last_version = c->version;
  s->last_loaded = loaded;
  snprintf(s->last_origin, sizeof(s->last_origin), "%.*s", (int)origin_len,
           origin);
}

static void on_event(sipflow_redis *r, int ev, void *ud) {
  seen *s = ud;
  (void)r;
  if (ev == SIPFLOW_REDIS_EVENT_LOADED)
    s->loaded_events++;
  else if (ev == SIPFLOW_REDIS_EVENT_CONNECTED)
    s->connected_events++;
  else if (ev == SIPFLOW_REDIS_EVENT_DISCONNECTED)
    s->disconnected_events++;
  else if (ev == SIPFLOW_REDIS_EVENT_NODES)
    s->nodes_events++;
}

static uv_loop_t loop;
static pid_t server = -1;
static uint16_t server_port;
static char dir[64];

static uint16_t free_port(void) {
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, (struct sockaddr *)&a, sizeof(a));
  getsockname(fd, (struct sockaddr *)&a, &len);
  close(fd);
  return ntohs(a.sin_port);
}

static void server_start(void) {
  char port[8];
  snprintf(port, sizeof(port), "%u", server_port);
  server = fork();
  cr_assert_neq(server, -1);
  if (server == 0) {
    freopen("/dev/null", "w", stdout);
    execlp("redis-server", "redis-server", "--port", port, "--bind",
           "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir,
           (char *)NULL);
    _exit(127);
  }
}

static void server_stop(void) {
  if (server > 0) {
    kill(server, SIGKILL);
    waitpid(server, NULL, 0);
    server = -1;
  }
}

static void setup(void) {
  snprintf(dir, sizeof(dir), "/tmp/sipflow-redis.XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  server_port = free_port();
  server_start();
  uv_loop_init(&loop);
}

static void teardown(void) {
  server_stop();
  uv_run(&loop, UV_RUN_DEFAULT); /* closes what the clients left */
  uv_loop_close(&loop);
  rmdir(dir);
}

static sipflow_redis *client(const char *node, seen *s) {
  sipflow_redis_settings st;
  sipflow_redis_callbacks cb = {on_change, on_event};
  sipflow_redis *r;
  sipflow_redis_settings_default(&st);
  st.port = server_port;
  st.node_id = node;
  st.reconnect_min_ms = 20;
  st.reconnect_max_ms = 200;
  st.heartbeat_ms = 100;
  st.node_ttl_ms = 300;
  cr_assert_eq(sipflow_redis_new(&r, &loop, &cb, &st, s), 0);
  return r;
}

static int timed_out;
static void on_bound(uv_timer_t *t) {
  (void)t;
  timed_out = 1;
}

/* Under Valgrind (the test command sets VALGRIND_UNIT) the server and the
 * client run many times slower. */
static uint64_t bound_ms(void) {
  return getenv("VALGRIND_UNIT") ? 30000 : 5000;
}

/* Runs the loop until |cond| holds, at most 5 s of loop time (30 s under
 * Valgrind). */
#define RUN_UNTIL(cond)                                                        \
  do {                                                                         \
    uv_timer_t bound_;                                                         \
    uv_timer_init(&loop, &bound_);                                             \
    timed_out = 0;                                                             \
    uv_timer_start(&bound_, on_bound, bound_ms(), 0);                          \
    while (!(cond) && !timed_out)                                              \
      uv_run(&loop, UV_RUN_ONCE);                                              \
    uv_close((uv_handle_t *)&bound_, NULL);                                    \
    uv_run(&loop, UV_RUN_NOWAIT);                                              \
    cr_assert(cond, "waited %llu ms for: %s", (unsigned long long)bound_ms(),  \
              #cond);                                                          \
  } while (0)

static sipflow_redis_stats stats(sipflow_redis *r) {
  sipflow_redis_stats s;
  cr_assert_eq(sipflow_redis_get_stats(r, &s), 0);
  return s;
}

/* A command to the test's server on a blocking connection of its own (no
 * child process): 0 when Redis answered with no error. */
static int cli(const char *args) {
  redisContext *c = redisConnect("127.0.0.1", server_port);
  redisReply *rep;
  int rv = -1;
  if (!c || c->err) {
    redisFree(c);
    return -1;
  }
  rep = redisCommand(c, args);
  if (rep && rep->type != REDIS_REPLY_ERROR)
    rv = 0;
  freeReplyObject(rep);
  redisFree(c);
  return rv;
}

Test(redis, nodes_see_each_others_changes_and_a_late_node_loads_them,
     .init = setup, .fini = teardown) {
  seen sa = {0}, sb = {0}, sc = {0};
  sipflow_redis *a = client("a", &sa), *b = client("b", &sb), *c;
  sipflow_change put = binding("sip:a@example.com", 1, 1000, 1, 1);
  uint64_t v;
  RUN_UNTIL(stats(a).connected && stats(b).connected && sa.loaded_events &&
            sb.loaded_events);
  cr_assert_eq(sipflow_redis_write(a, &put), 0);
  RUN_UNTIL(sb.n == 1);
  cr_assert_str_eq(sb.last_origin, "a");
  cr_assert_gt(sb.last_version, 1000, "the version is Redis's, not a's");
  cr_assert_eq(sb.last_loaded, 0);
  cr_assert_eq(sa.n, 0, "a node skips its own records on the channel");
  v = sb.last_version;

  c = client("c", &sc);
  RUN_UNTIL(sc.loaded_events == 1);
  cr_assert_eq(sc.n, 1, "the late node loads the one record held");
  cr_assert_eq(sc.last_version, v);
  cr_assert_eq(sc.last_loaded, 1);
  cr_assert_eq(sa.n, 0);
  sipflow_redis_del(a);
  sipflow_redis_del(b);
  sipflow_redis_del(c);
}

Test(redis, versions_come_from_redis_and_grow_whatever_the_writer_says,
     .init = setup, .fini = teardown) {
  seen sa = {0}, sb = {0};
  sipflow_redis *a = client("a", &sa), *b = client("b", &sb);
  /* a's clock would say 9e15, b's 1: neither decides. */
  sipflow_change first =
      binding("sip:a@example.com", 1, 9000000000000000, 1, 1);
  sipflow_change second = binding("sip:a@example.com", 1, 1, 1, 1);
  uint64_t v1;
  RUN_UNTIL(sa.loaded_events && sb.loaded_events);
  second.u.binding.call_id = S("call-2");
  cr_assert_eq(sipflow_redis_write(a, &first), 0);
  RUN_UNTIL(sb.n == 1);
  v1 = sb.last_version;
  cr_assert_lt(v1, 9000000000000000);
  cr_assert_eq(sipflow_redis_write(b, &second), 0);
  RUN_UNTIL(sa.n == 1);
  cr_assert_gt(sa.last_version, v1,
               "the later write wins with a later "
               "version");
  cr_assert_eq(stats(b).superseded, 0);
  sipflow_redis_del(a);
  sipflow_redis_del(b);
}

Test(redis, a_write_if_mine_loses_to_another_node_and_brings_the_winner_back,
     .init = setup, .fini = teardown) {
  seen sa = {0}, sb = {0};
  sipflow_redis *a = client("a", &sa), *b = client("b", &sb);
  sipflow_change put = binding("sip:a@example.com", 1, 1, 1, 1);
  sipflow_change del = binding("sip:a@example.com", 1, 1, 1, 2);
  RUN_UNTIL(sa.loaded_events && sb.loaded_events);
  cr_assert_eq(sipflow_redis_write(a, &put), 0);
  RUN_UNTIL(stats(a).written == 1);
  /* b removes "its" binding, whether a's record reached it or not. */
  cr_assert_eq(sipflow_redis_write_as(b, &del, SIPFLOW_REDIS_WRITE_IF_MINE), 0);
  RUN_UNTIL(stats(b).written == 1 && sb.n >= 1);
  cr_assert_eq(stats(b).superseded, 1, "a wrote the record held");
  cr_assert_str_eq(sb.last_origin, "a");
  cr_assert_eq(sa.n, 0, "nothing was published");
  /* The publish and the answer both carried a's record: delivered once. */
  RUN_UNTIL(stats(b).received >= 1);
  cr_assert_eq(sb.n, 1);
  cr_assert_eq(sipflow_redis_write_as(b, &del, 7),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  sipflow_redis_del(a);
  sipflow_redis_del(b);
}

Test(redis, the_same_call_id_orders_by_cseq_whatever_comes_last, .init = setup,
     .fini = teardown) {
  seen sa = {0};
  sipflow_redis *a = client("a", &sa);
  /* RFC 3261 §10.3 step 7: CSeq 5 is newer than CSeq 4 of the Call-ID,
   * even when CSeq 4 comes again afterwards. */
  sipflow_change first = binding("sip:a@example.com", 1, 2000, 4, 1);
  sipflow_change second = binding("sip:a@example.com", 1, 1500, 5, 1);
  sipflow_change replay = binding("sip:a@example.com", 1, 3000, 4, 1);
  RUN_UNTIL(stats(a).connected);
  cr_assert_eq(sipflow_redis_write(a, &first), 0);
  cr_assert_eq(sipflow_redis_write(a, &second), 0);
  cr_assert_eq(sipflow_redis_write(a, &replay), 0);
  RUN_UNTIL(stats(a).written == 3);
  cr_assert_eq(stats(a).superseded, 1, "only the CSeq 4 replay lost");
  sipflow_redis_del(a);
}

Test(redis, a_restore_is_kept_only_where_redis_lost_the_record, .init = setup,
     .fini = teardown) {
  seen sa = {0}, sb = {0}, sc = {0};
  sipflow_redis *a = client("a", &sa), *b = client("b", &sb), *c;
  sipflow_change put = binding("sip:a@example.com", 1, 1, 1, 1);
  uint64_t v;
  RUN_UNTIL(sa.loaded_events && sb.loaded_events);
  cr_assert_eq(sipflow_redis_write(a, &put), 0);
  RUN_UNTIL(sb.n == 1 && stats(a).written == 1);
  v = sb.last_version;
  cr_assert_eq(sipflow_redis_write_as(a, &put, SIPFLOW_REDIS_WRITE_RESTORE), 0);
  RUN_UNTIL(stats(a).written == 2);
  cr_assert_eq(stats(a).superseded, 0, "the same record: nothing to do");
  /* Redis comes back empty: the restore writes it back, same version. */
  server_stop();
  RUN_UNTIL(!stats(a).connected);
  server_start();
  RUN_UNTIL(stats(a).connected);
  cr_assert_eq(sipflow_redis_write_as(a, &put, SIPFLOW_REDIS_WRITE_RESTORE), 0);
  RUN_UNTIL(stats(a).written == 3);
  c = client("c", &sc);
  RUN_UNTIL(sc.loaded_events == 1);
  cr_assert_eq(sc.n, 1);
  cr_assert_eq(sc.last_version, v, "restored with the version it had");
  cr_assert_eq(sb.n, 1, "a restore is not published");
  sipflow_redis_del(a);
  sipflow_redis_del(b);
  sipflow_redis_del(c);
}

Test(redis, a_restore_replaces_an_older_record_a_failover_left, .init = setup,
     .fini = teardown) {
  seen sa = {0};
  sipflow_redis *a = client("a", &sa);
  sipflow_change put = binding("sip:a@example.com", 1, 1, 1, 1);
  char key[RS_KEY_MAX], cmd[200];
  RUN_UNTIL(sa.loaded_events);
  cr_assert_eq(sipflow_redis_write(a, &put), 0);
  RUN_UNTIL(stats(a).written == 1);
  /* A replica that lagged holds the identity at an older version. */
  cr_assert_gt(rs_key("sipflow", &put, key, sizeof(key)), 0);
  snprintf(cmd, sizeof(cmd), "HSET %s v 5", key);
  cr_assert_eq(cli(cmd), 0);
  cr_assert_eq(sipflow_redis_write_as(a, &put, SIPFLOW_REDIS_WRITE_RESTORE), 0);
  RUN_UNTIL(stats(a).written == 2);
  cr_assert_eq(stats(a).superseded, 0, "the older record was replaced");
  sipflow_redis_del(a);
}

Test(redis, after_a_reconnection_nothing_known_comes_again, .init = setup,
     .fini = teardown) {
  seen sa = {0}, sb = {0};
  sipflow_redis *a = client("a", &sa), *b = client("b", &sb);
  sipflow_change put = binding("sip:a@example.com", 1, 1, 1, 1);
  RUN_UNTIL(sa.loaded_events == 1 && sb.loaded_events == 1);
  cr_assert_eq(sipflow_redis_write(a, &put), 0);
  RUN_UNTIL(sb.n == 1 && stats(a).written == 1);
  /* Redis keeps its data; the clients' connections are killed. */
  cr_assert_eq(cli("CLIENT KILL TYPE normal"), 0);
  cr_assert_eq(cli("CLIENT KILL TYPE pubsub"), 0);
  RUN_UNTIL(sa.loaded_events >= 2 && sb.loaded_events >= 2);
  cr_assert_eq(sa.n, 0, "a's own record is not delivered again");
  cr_assert_eq(sb.n, 1, "nor is the record b had");
  sipflow_redis_del(a);
  sipflow_redis_del(b);
}

/* Whether INFO commandstats names |cmd| ("cmdstat_evalsha:"). */
/* Redis's INFO |section| as text (free it), or NULL. */
static char *info(const char *section) {
  redisContext *c = redisConnect("127.0.0.1", server_port);
  redisReply *rep = c && !c->err ? redisCommand(c, "INFO %s", section) : NULL;
  char *text = rep && rep->type == REDIS_REPLY_STRING ? strdup(rep->str) : NULL;
  freeReplyObject(rep);
  redisFree(c);
  return text;
}

static int ran(const char *cmd) {
  char *text = info("commandstats");
  int yes = text && strstr(text, cmd);
  free(text);
  return yes;
}

Test(redis, writes_are_evalsha_of_the_loaded_script, .init = setup,
     .fini = teardown) {
  seen sa = {0};
  sipflow_redis *a = client("a", &sa);
  sipflow_change put = binding("sip:a@example.com", 1, 1, 1, 1);
  RUN_UNTIL(sa.loaded_events);
  cr_assert_eq(cli("CONFIG RESETSTAT"), 0);
  cr_assert_eq(sipflow_redis_write(a, &put), 0);
  RUN_UNTIL(stats(a).written == 1);
  cr_assert(ran("cmdstat_evalsha:"));
  cr_assert_not(ran("cmdstat_eval:"), "the script is not sent each time");
  sipflow_redis_del(a);
}

/* A number from Redis's INFO stats ("total_reads_processed:" and the
 * like), or -1. */
static long long info_stat(const char *name) {
  char *text = info("stats");
  const char *at = text ? strstr(text, name) : NULL;
  long long v = at ? strtoll(at + strlen(name), NULL, 10) : -1;
  free(text);
  return v;
}

/* Commands queued over a few milliseconds, one a loop iteration half a
 * millisecond apart, reach Redis together (redis_uv.c): Redis reads them
 * in a few reads, not one read each, so their answers too come back
 * together. */
Test(redis, writes_of_a_few_milliseconds_leave_together, .init = setup,
     .fini = teardown) {
  seen sa = {0};
  sipflow_redis *a = client("a", &sa);
  char aors[20][32];
  long long before, after;
  RUN_UNTIL(sa.loaded_events);
  before = info_stat("total_reads_processed:");
  cr_assert_gt(before, 0);
  for (int i = 0; i < 20; i++) {
    sipflow_change put;
    snprintf(aors[i], sizeof(aors[i]), "sip:u%d@example.com", i);
    put = binding(aors[i], 1, 1, 1, 1);
    cr_assert_eq(sipflow_redis_write(a, &put), 0);
    uv_run(&loop, UV_RUN_NOWAIT);
    nanosleep(&(struct timespec){0, 500000}, NULL); /* Redis reads each */
  }
  RUN_UNTIL(stats(a).written == 20);
  after = info_stat("total_reads_processed:");
  /* 20 writes over about 10 ms (slower under Valgrind), the INFO above,
   * a heartbeat or two: one read a write would be 21 or more */
  cr_assert_leq(after - before, 12, "Redis read %lld times for 20 writes",
                after - before);
  sipflow_redis_del(a);
}

Test(redis, a_flushed_script_is_sent_again_whole, .init = setup,
     .fini = teardown) {
  seen sa = {0};
  sipflow_redis *a = client("a", &sa);
  sipflow_change put = binding("sip:a@example.com", 1, 1, 1, 1);
  RUN_UNTIL(stats(a).connected);
  cr_assert_eq(cli("SCRIPT FLUSH"), 0);
  cr_assert_eq(sipflow_redis_write(a, &put), 0);
  RUN_UNTIL(stats(a).written == 1);
  cr_assert_eq(stats(a).dropped, 0, "NOSCRIPT: EVAL, not lost");
  sipflow_redis_del(a);
}

Test(redis, heartbeats_tell_the_nodes_alive_and_the_clock_offset, .init = setup,
     .fini = teardown) {
  seen sa = {0}, sb = {0};
  sipflow_redis *a = client("a", &sa), *b = client("b", &sb);
  int64_t off = 99999;
  RUN_UNTIL(sipflow_redis_node_alive(a, "b", 1) == 1);
  cr_assert_eq(sipflow_redis_clock_offset(a, &off), 0);
  cr_assert_lt(off < 0 ? -off : off, 1000, "one machine, one clock");
  cr_assert_eq(sipflow_redis_node_alive(a, "zz", 2), SIPFLOW_ERR_NOT_FOUND);
  sipflow_redis_del(b);
  RUN_UNTIL(sipflow_redis_node_alive(a, "b", 1) == 0);
  cr_assert_geq(sa.nodes_events, 2, "b appeared, then went");
  sipflow_redis_del(a);
}

Test(redis, a_heartbeat_that_lapsed_before_connecting_is_unknown_for_a_ttl,
     .init = setup, .fini = teardown) {
  seen sa = {0}, sb = {0};
  sipflow_redis_settings st;
  sipflow_redis_callbacks cb = {on_change, on_event};
  sipflow_redis *a, *b = client("b", &sb);
  char hset[96];
  /* b connected: the server answers. A node whose last beat was long ago
   * (a minute: an hour ago, a beat would purge it): after a Redis pause
   * that cut everyone off, it may only need a beat to come back. */
  RUN_UNTIL(stats(b).connected);
  snprintf(hset, sizeof(hset), "HSET sipflow:nodes gone %lld",
           (long long)(time(NULL) - 60) * 1000);
  cr_assert_eq(cli(hset), 0);
  sipflow_redis_settings_default(&st);
  st.port = server_port;
  st.node_id = "a";
  st.heartbeat_ms = 100;
  st.node_ttl_ms = 1500;
  cr_assert_eq(sipflow_redis_new(&a, &loop, &cb, &st, &sa), 0);
  RUN_UNTIL(sipflow_redis_node_alive(a, "a", 1) == 1); /* a beat was read */
  cr_assert_eq(sipflow_redis_node_alive(a, "gone", 4), SIPFLOW_ERR_NOT_FOUND,
               "within a TTL of connecting: unknown, not dead");
  RUN_UNTIL(sipflow_redis_node_alive(a, "gone", 4) == 0);
  sipflow_redis_del(a);
  sipflow_redis_del(b);
}

Test(redis, a_record_arriving_during_an_own_write_waits_for_its_answer) {
  rs_seen_table t = {0};
  rs_seen *s = rs_seen_get(&t, "p:b:1", 1);
  const uint8_t f[3] = {1, 2, 3};
  size_t len;
  uint64_t v;
  uint8_t *h;
  cr_assert_not_null(s);
  cr_assert_eq(rs_seen_offer(s, 10, f, 3), RS_DELIVER);
  cr_assert_eq(rs_seen_offer(s, 10, f, 3), RS_STALE, "known already");
  s->pending = 1;
  cr_assert_eq(rs_seen_offer(s, 20, f, 3), RS_HELD);
  rs_seen_answered(s, 1, 30); /* Redis ordered our write after it */
  cr_assert_null(rs_seen_take_held(s, &len, &v));
  cr_assert_eq(s->version, 30);
  s->pending = 1;
  cr_assert_eq(rs_seen_offer(s, 40, f, 3), RS_HELD);
  rs_seen_answered(s, 0, 40); /* our write lost to it */
  h = rs_seen_take_held(s, &len, &v);
  cr_assert_not_null(h);
  cr_assert_eq(v, 40);
  cr_assert_eq(len, 3);
  free(h);
  s->until = 5;
  cr_assert_eq(rs_seen_sweep(&t, 6), 1);
  cr_assert_null(rs_seen_get(&t, "p:b:1", 0));
  rs_seen_clear(&t);
}

Test(redis, writes_wait_while_redis_is_away_and_are_replayed, .init = setup,
     .fini = teardown) {
  seen sa = {0}, sb = {0};
  sipflow_redis *a = client("a", &sa), *b = client("b", &sb);
  sipflow_change put = binding("sip:x@example.com", 1, 5000, 1, 1);
  RUN_UNTIL(sa.loaded_events && sb.loaded_events);
  server_stop();
  RUN_UNTIL(sa.disconnected_events == 1 && sb.disconnected_events == 1);
  cr_assert_eq(sipflow_redis_write(a, &put), 0, "SIP goes on: queued");
  cr_assert_eq(stats(a).queued, 1);
  server_start();
  RUN_UNTIL(stats(a).written == 1 && sb.n >= 1);
  cr_assert_eq(stats(a).queued, 0);
  cr_assert_eq(stats(a).dropped, 0);
  cr_assert_str_eq(sb.last_origin, "a", "b gets the replayed record");
  cr_assert_geq(stats(a).connects, 2);
  sipflow_redis_del(a);
  sipflow_redis_del(b);
}
