/*
 * libsipflow-sqlite on a temporary file: upserts under the ordering rules,
 * deletes, batches, reopening, purge.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sipflow/sipflow_sqlite.h"

static char path[64];

static void tmp_init(void) {
  int fd;
  strcpy(path, "/tmp/sipflow-sqlite-XXXXXX");
  cr_assert_geq(fd = mkstemp(path), 0);
  close(fd);
}

static void tmp_fini(void) {
  char side[80];
  unlink(path);
  snprintf(side, sizeof(side), "%s-wal", path);
  unlink(side);
  snprintf(side, sizeof(side), "%s-shm", path);
  unlink(side);
}

TestSuite(sqlite, .init = tmp_init, .fini = tmp_fini);

static sipflow_str S(const char *s) {
  sipflow_str r = {s, strlen(s)};
  return r;
}

static sipflow_change binding(int op, const char *uri, const char *call_id,
                              uint32_t cseq, uint64_t version) {
  sipflow_change c;
  memset(&c, 0, sizeof(c));
  c.kind = SIPFLOW_CHANGE_BINDING;
  c.op = (uint8_t)op;
  c.version = version;
  c.u.binding.aor = S("sip:alice@example.com");
  c.u.binding.uri = S(uri);
  c.u.binding.call_id = S(call_id);
  c.u.binding.cseq = cseq;
  c.u.binding.q = SIPFLOW_REG_Q_NONE;
  c.u.binding.expires_unix = 1700000600;
  return c;
}

/* What a load returns: the URIs (or key ids) and CSeqs, in order. */
typedef struct loaded {
  size_t n;
  char uri[8][64];
  uint32_t cseq[8];
  uint8_t kind[8];
} loaded;

static int collect(const sipflow_change *c, void *ud) {
  loaded *l = ud;
  if (l->n < 8) {
    l->kind[l->n] = c->kind;
    if (c->kind == SIPFLOW_CHANGE_BINDING) {
      snprintf(l->uri[l->n], 64, "%.*s", (int)c->u.binding.uri.len,
               c->u.binding.uri.ptr);
      l->cseq[l->n] = c->u.binding.cseq;
    }
  }
  l->n++;
  return 0;
}

static loaded load(sipflow_sqlite *st) {
  loaded l;
  size_t skipped = 99;
  memset(&l, 0, sizeof(l));
  cr_assert_eq(sipflow_sqlite_load(st, collect, &l, &skipped), 0);
  cr_expect_eq(skipped, 0);
  return l;
}

Test(sqlite, records_survive_a_reopen_in_wal_mode) {
  sipflow_sqlite *st;
  sipflow_change c = binding(SIPFLOW_CHANGE_PUT, "sip:a@192.0.2.9", "x", 1, 10);
  loaded l;
  cr_assert_eq(sipflow_sqlite_open(&st, path, 0), 0);
  cr_assert_eq(sipflow_sqlite_write(st, &c), 0);
  /* No close: what a kill -9 leaves (the default committed already). */
  {
    sipflow_sqlite *other;
    cr_assert_eq(sipflow_sqlite_open(&other, path, 0), 0);
    l = load(other);
    cr_expect_eq(l.n, 1);
    cr_expect_str_eq(l.uri[0], "sip:a@192.0.2.9");
    sipflow_sqlite_close(other);
  }
  sipflow_sqlite_close(st);
  {
    FILE *f = fopen(path, "rb");
    char head[16] = {0};
    cr_assert_not_null(f);
    cr_expect_eq(fread(head, 1, 16, f), 16);
    fclose(f);
    cr_expect_eq(memcmp(head, "SQLite format 3", 15), 0);
  }
}

Test(sqlite, upsert_keeps_the_newest_by_cseq_then_version) {
  /* RFC 3261 §10.3 step 7 and changes.h: same Call-ID, higher CSeq wins in
   * any order; a new Call-ID wins by version. */
  sipflow_sqlite *st;
  sipflow_change c2 =
      binding(SIPFLOW_CHANGE_PUT, "sip:a@192.0.2.9", "x", 2, 20);
  sipflow_change c1 =
      binding(SIPFLOW_CHANGE_PUT, "sip:a@192.0.2.9", "x", 1, 30);
  sipflow_change old =
      binding(SIPFLOW_CHANGE_PUT, "sip:a@192.0.2.9", "y", 9, 5);
  loaded l;
  cr_assert_eq(sipflow_sqlite_open(&st, path, 0), 0);
  cr_assert_eq(sipflow_sqlite_write(st, &c2), 0);
  cr_assert_eq(sipflow_sqlite_write(st, &c1), 0);
  cr_assert_eq(sipflow_sqlite_write(st, &old), 0);
  cr_assert_eq(sipflow_sqlite_write(st, &c2), 0);
  l = load(st);
  cr_assert_eq(l.n, 1);
  cr_expect_eq(l.cseq[0], 2);
  sipflow_sqlite_close(st);
}

Test(sqlite, delete_removes_unless_the_row_is_newer) {
  sipflow_sqlite *st;
  sipflow_change put =
      binding(SIPFLOW_CHANGE_PUT, "sip:a@192.0.2.9", "x", 3, 20);
  sipflow_change del_old =
      binding(SIPFLOW_CHANGE_DEL, "sip:a@192.0.2.9", "x", 2, 25);
  sipflow_change del =
      binding(SIPFLOW_CHANGE_DEL, "sip:a@192.0.2.9", "x", 3, 21);
  cr_assert_eq(sipflow_sqlite_open(&st, path, 0), 0);
  cr_assert_eq(sipflow_sqlite_write(st, &put), 0);
  cr_assert_eq(sipflow_sqlite_write(st, &del_old), 0);
  cr_expect_eq(load(st).n, 1, "a removal from an older CSeq loses");
  cr_assert_eq(sipflow_sqlite_write(st, &del), 0);
  cr_expect_eq(load(st).n, 0);
  cr_assert_eq(sipflow_sqlite_write(st, &del), 0, "deleting nothing is fine");
  sipflow_sqlite_close(st);
}

Test(sqlite, outbound_bindings_are_keyed_by_instance_and_reg_id) {
  sipflow_sqlite *st;
  sipflow_change a = binding(SIPFLOW_CHANGE_PUT, "sip:a@192.0.2.9", "x", 1, 1);
  sipflow_change b = binding(SIPFLOW_CHANGE_PUT, "sip:a@192.0.2.9", "x", 2, 2);
  sipflow_change other = a;
  a.u.binding.outbound = b.u.binding.outbound = other.u.binding.outbound = 1;
  a.u.binding.instance = b.u.binding.instance = S("urn:uuid:1");
  other.u.binding.instance = S("urn:uuid:1");
  a.u.binding.reg_id = b.u.binding.reg_id = 1;
  other.u.binding.reg_id = 2;
  b.u.binding.uri = S("sip:a@198.51.100.1;ob"); /* new URI, same flow key */
  cr_assert_eq(sipflow_sqlite_open(&st, path, 0), 0);
  cr_assert_eq(sipflow_sqlite_write(st, &a), 0);
  cr_assert_eq(sipflow_sqlite_write(st, &b), 0);
  cr_assert_eq(sipflow_sqlite_write(st, &other), 0);
  cr_expect_eq(load(st).n, 2);
  sipflow_sqlite_close(st);
}

Test(sqlite, keys_endpoints_and_bindings_load_in_that_order) {
  sipflow_sqlite *st;
  sipflow_change b = binding(SIPFLOW_CHANGE_PUT, "sip:a@192.0.2.9", "x", 1, 1);
  sipflow_change k, e;
  loaded l;
  memset(&k, 0, sizeof(k));
  k.kind = SIPFLOW_CHANGE_KEY;
  k.op = SIPFLOW_CHANGE_PUT;
  k.version = 3;
  k.u.key.key_id = 1;
  memset(&e, 0, sizeof(e));
  e.kind = SIPFLOW_CHANGE_ENDPOINT;
  e.op = SIPFLOW_CHANGE_PUT;
  e.version = 2;
  e.u.endpoint.ep.flow_id = 4;
  e.u.endpoint.ep.tuple.transport = SIPFLOW_TRANSPORT_UDP;
  e.u.endpoint.reason.kind = SIPFLOW_KEEPALIVE_REGISTRATION;
  e.u.endpoint.reason.id = 77;
  e.u.endpoint.reason.expires_unix = 1700000100;
  cr_assert_eq(sipflow_sqlite_open(&st, path, 0), 0);
  cr_assert_eq(sipflow_sqlite_write(st, &b), 0);
  cr_assert_eq(sipflow_sqlite_write(st, &e), 0);
  cr_assert_eq(sipflow_sqlite_write(st, &k), 0);
  cr_assert_eq(sipflow_sqlite_write(st, &k), 0);
  l = load(st);
  cr_assert_eq(l.n, 3);
  cr_expect_eq(l.kind[0], SIPFLOW_CHANGE_KEY);
  cr_expect_eq(l.kind[1], SIPFLOW_CHANGE_ENDPOINT);
  cr_expect_eq(l.kind[2], SIPFLOW_CHANGE_BINDING);
  /* The endpoint expired first: the purge takes it alone. */
  cr_expect_eq(sipflow_sqlite_purge(st, 1700000100), 1);
  cr_expect_eq(load(st).n, 2);
  cr_expect_eq(sipflow_sqlite_purge(st, 1800000000), 1);
  cr_expect_eq(load(st).n, 1, "keys stay");
  sipflow_sqlite_close(st);
}

Test(sqlite, answer_before_commit_keeps_writes_until_the_commit) {
  sipflow_sqlite *st, *other;
  sipflow_change c = binding(SIPFLOW_CHANGE_PUT, "sip:a@192.0.2.9", "x", 1, 1);
  cr_assert_eq(
      sipflow_sqlite_open(&st, path, SIPFLOW_SQLITE_ANSWER_BEFORE_COMMIT), 0);
  cr_assert_eq(sipflow_sqlite_open(&other, path, 0), 0);
  cr_assert_eq(sipflow_sqlite_write(st, &c), 0);
  cr_expect_eq(load(other).n, 0, "not committed yet");
  cr_assert_eq(sipflow_sqlite_commit(st), 0);
  cr_expect_eq(load(other).n, 1);
  sipflow_sqlite_close(other);
  sipflow_sqlite_close(st);
}

Test(sqlite, a_batch_commits_once) {
  sipflow_sqlite *st, *other;
  sipflow_change a = binding(SIPFLOW_CHANGE_PUT, "sip:a@192.0.2.9", "x", 1, 1);
  sipflow_change b = binding(SIPFLOW_CHANGE_PUT, "sip:b@192.0.2.9", "y", 1, 2);
  cr_assert_eq(sipflow_sqlite_open(&st, path, 0), 0);
  cr_assert_eq(sipflow_sqlite_open(&other, path, 0), 0);
  cr_assert_eq(sipflow_sqlite_begin(st), 0);
  cr_assert_eq(sipflow_sqlite_write(st, &a), 0);
  cr_assert_eq(sipflow_sqlite_write(st, &b), 0);
  cr_expect_eq(load(other).n, 0);
  cr_assert_eq(sipflow_sqlite_commit(st), 0);
  cr_expect_eq(load(other).n, 2);
  sipflow_sqlite_close(other);
  sipflow_sqlite_close(st);
}

Test(sqlite, bad_arguments_and_files_are_refused) {
  sipflow_sqlite *st = (sipflow_sqlite *)1;
  sipflow_change c;
  cr_expect_eq(sipflow_sqlite_open(&st, path, 7), SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_null(st);
  cr_expect_eq(sipflow_sqlite_open(&st, "/nonexistent/dir/state.db", 0),
               SIPFLOW_ERR_INTERNAL);
  cr_assert_eq(sipflow_sqlite_open(&st, path, 0), 0);
  memset(&c, 0, sizeof(c));
  c.kind = 9;
  c.op = SIPFLOW_CHANGE_PUT;
  cr_expect_eq(sipflow_sqlite_write(st, &c), SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_sqlite_write(st, NULL), SIPFLOW_ERR_INVALID_ARGUMENT);
  sipflow_sqlite_close(st);
  sipflow_sqlite_close(NULL);
}
