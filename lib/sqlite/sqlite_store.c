/*
 * libsipflow-sqlite: the change stream in an SQLite file (WAL mode). Each
 * record is kept whole as its encoding (changes.h) in the row of its
 * identity; the columns beside it are what the ordering rules and the
 * purge need to read.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipflow/sipflow_sqlite.h"

#define STORE_FORMAT 1

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value INTEGER);"
    "INSERT OR IGNORE INTO meta VALUES('format', 1);"
    "CREATE TABLE IF NOT EXISTS bindings(aor BLOB NOT NULL, ident BLOB NOT "
    "NULL, call_id BLOB NOT NULL, cseq INTEGER NOT NULL, version INTEGER NOT "
    "NULL, expires INTEGER NOT NULL, rec BLOB NOT NULL, PRIMARY KEY(aor, "
    "ident)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS endpoints(tuple BLOB NOT NULL, kind INTEGER "
    "NOT NULL, reason INTEGER NOT NULL, version INTEGER NOT NULL, expires "
    "INTEGER NOT NULL, rec BLOB NOT NULL, PRIMARY KEY(tuple, kind, reason)) "
    "WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS keys(key_id INTEGER PRIMARY KEY, version "
    "INTEGER NOT NULL, rec BLOB NOT NULL);";

/* RFC 3261 §10.3 step 7 first (same Call-ID: the CSeq decides), then the
 * version: the rules of changes.h, in SQL so one statement does the work. */
#define NEWER_BINDING                                                          \
  "CASE WHEN excluded.call_id = bindings.call_id AND excluded.cseq <> "        \
  "bindings.cseq THEN excluded.cseq > bindings.cseq ELSE excluded.version > "  \
  "bindings.version END"

enum {
  Q_BIND_PUT,
  Q_BIND_DEL,
  Q_EP_PUT,
  Q_EP_DEL,
  Q_KEY_PUT,
  Q_KEY_DEL,
  Q_BEGIN,
  Q_COMMIT,
  Q_ROLLBACK,
  Q_COUNT
};

static const char *const SQL[Q_COUNT] = {
    "INSERT INTO bindings VALUES(?1,?2,?3,?4,?5,?6,?7) ON CONFLICT(aor, ident) "
    "DO UPDATE SET call_id=excluded.call_id, cseq=excluded.cseq, "
    "version=excluded.version, expires=excluded.expires, rec=excluded.rec "
    "WHERE " NEWER_BINDING,
    "DELETE FROM bindings WHERE aor=?1 AND ident=?2 AND CASE WHEN call_id=?3 "
    "AND cseq<>?4 THEN ?4 > cseq ELSE ?5 >= version END",
    "INSERT INTO endpoints VALUES(?1,?2,?3,?5,?6,?7) ON CONFLICT(tuple, kind, "
    "reason) DO UPDATE SET version=excluded.version, "
    "expires=excluded.expires, rec=excluded.rec WHERE excluded.version > "
    "endpoints.version",
    "DELETE FROM endpoints WHERE tuple=?1 AND kind=?2 AND reason=?3 AND ?5 >= "
    "version",
    "INSERT INTO keys VALUES(?1,?5,?7) ON CONFLICT(key_id) DO UPDATE SET "
    "version=excluded.version, rec=excluded.rec WHERE excluded.version > "
    "keys.version",
    "DELETE FROM keys WHERE key_id=?1 AND ?5 >= version",
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
};

struct sipflow_sqlite {
  sqlite3 *db;
  sqlite3_stmt *q[Q_COUNT];
  int durability;
  int in_txn;  /* a transaction is open */
  int batched; /* the host opened it (sipflow_sqlite_begin) */
};

/* ---- opening ------------------------------------------------------------- */

static int exec(sipflow_sqlite *st, const char *sql) {
  return sqlite3_exec(st->db, sql, NULL, NULL, NULL) == SQLITE_OK
             ? 0
             : SIPFLOW_ERR_INTERNAL;
}

static int check_format(sipflow_sqlite *st) {
  sqlite3_stmt *s;
  int rv = SIPFLOW_ERR_INTERNAL;
  if (sqlite3_prepare_v2(st->db, "SELECT value FROM meta WHERE name='format'",
                         -1, &s, NULL) != SQLITE_OK)
    return rv;
  if (sqlite3_step(s) == SQLITE_ROW)
    rv = sqlite3_column_int(s, 0) > STORE_FORMAT ? SIPFLOW_ERR_UNSUPPORTED : 0;
  sqlite3_finalize(s);
  return rv;
}

static int setup(sipflow_sqlite *st) {
  /* WAL: readers never block the writer and a commit is one append. FULL
   * syncs the WAL at each commit, so a committed write survives power loss
   * too; NORMAL leaves that to checkpoints (still safe from kill -9). */
  const char *sync = st->durability == SIPFLOW_SQLITE_COMMIT_BEFORE_ANSWER
                         ? "PRAGMA synchronous=FULL"
                         : "PRAGMA synchronous=NORMAL";
  int rv;
  sqlite3_busy_timeout(st->db, 2000);
  if (exec(st, "PRAGMA journal_mode=WAL") || exec(st, sync) || exec(st, SCHEMA))
    return SIPFLOW_ERR_INTERNAL;
  if ((rv = check_format(st)) != 0)
    return rv;
  for (int i = 0; i < Q_COUNT; i++)
    if (sqlite3_prepare_v3(st->db, SQL[i], -1, SQLITE_PREPARE_PERSISTENT,
                           &st->q[i], NULL) != SQLITE_OK)
      return SIPFLOW_ERR_INTERNAL;
  return 0;
}

int sipflow_sqlite_open(sipflow_sqlite **pst, const char *path,
                        int durability) {
  sipflow_sqlite *st;
  int rv;
  if (!pst)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  *pst = NULL;
  if (!path || (durability != SIPFLOW_SQLITE_COMMIT_BEFORE_ANSWER &&
                durability != SIPFLOW_SQLITE_ANSWER_BEFORE_COMMIT))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (!(st = calloc(1, sizeof(*st))))
    return SIPFLOW_ERR_NOMEM;
  st->durability = durability;
  if (sqlite3_open_v2(path, &st->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                          SQLITE_OPEN_NOMUTEX,
                      NULL) != SQLITE_OK) {
    sipflow_sqlite_close(st);
    return SIPFLOW_ERR_INTERNAL;
  }
  if ((rv = setup(st)) != 0) {
    sipflow_sqlite_close(st);
    return rv;
  }
  *pst = st;
  return 0;
}

void sipflow_sqlite_close(sipflow_sqlite *st) {
  if (!st)
    return;
  if (st->in_txn)
    (void)sipflow_sqlite_commit(st);
  for (int i = 0; i < Q_COUNT; i++)
    sqlite3_finalize(st->q[i]);
  sqlite3_close(st->db);
  free(st);
}

const char *sipflow_sqlite_errmsg(const sipflow_sqlite *st) {
  return st && st->db ? sqlite3_errmsg(st->db) : "no store";
}

/* ---- transactions -------------------------------------------------------- */

static int run(sipflow_sqlite *st, int q) {
  int rc = sqlite3_step(st->q[q]);
  sqlite3_reset(st->q[q]);
  sqlite3_clear_bindings(st->q[q]);
  return rc == SQLITE_DONE ? 0 : SIPFLOW_ERR_INTERNAL;
}

static int open_txn(sipflow_sqlite *st) {
  if (st->in_txn)
    return 0;
  if (run(st, Q_BEGIN) != 0)
    return SIPFLOW_ERR_INTERNAL;
  st->in_txn = 1;
  return 0;
}

int sipflow_sqlite_begin(sipflow_sqlite *st) {
  int rv;
  if (!st)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if ((rv = open_txn(st)) == 0)
    st->batched = 1;
  return rv;
}

int sipflow_sqlite_commit(sipflow_sqlite *st) {
  if (!st)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  st->batched = 0;
  if (!st->in_txn)
    return 0;
  st->in_txn = 0;
  if (run(st, Q_COMMIT) != 0) {
    (void)run(st, Q_ROLLBACK);
    return SIPFLOW_ERR_INTERNAL;
  }
  return 0;
}

/* ---- writing ------------------------------------------------------------- */

/* A binding's identity within its AoR: instance and reg-id for Outbound,
 * else the Contact URI's text (changes.h). */
static size_t binding_ident(const sipflow_change_binding *b, char *out,
                            size_t cap) {
  int n = b->outbound ? snprintf(out, cap, "o%.*s;%u", (int)b->instance.len,
                                 b->instance.ptr ? b->instance.ptr : "",
                                 (unsigned)b->reg_id)
                      : snprintf(out, cap, "c%.*s", (int)b->uri.len,
                                 b->uri.ptr ? b->uri.ptr : "");
  return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

/* An endpoint's flow as fixed-width bytes: the tuple's identity. */
static size_t tuple_ident(const sipflow_flow_tuple *t, uint8_t *out) {
  size_t n = 0;
  const sipflow_addr *a[2] = {&t->local, &t->remote};
  out[n++] = t->transport;
  for (int i = 0; i < 2; i++) {
    out[n++] = a[i]->family;
    memcpy(out + n, a[i]->bytes, 16);
    n += 16;
    out[n++] = (uint8_t)(a[i]->port >> 8);
    out[n++] = (uint8_t)a[i]->port;
  }
  for (int i = 3; i >= 0; i--)
    out[n++] = (uint8_t)(t->generation >> (8 * i));
  return n;
}

static int bind_binding(sqlite3_stmt *s, const sipflow_change_binding *b,
                        char *ident, size_t cap) {
  size_t n = binding_ident(b, ident, cap);
  if (b->aor.len > 65535 || b->call_id.len > 65535)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  sqlite3_bind_blob(s, 1, b->aor.ptr ? b->aor.ptr : "", (int)b->aor.len,
                    SQLITE_STATIC);
  sqlite3_bind_blob(s, 2, ident, (int)n, SQLITE_STATIC);
  sqlite3_bind_blob(s, 3, b->call_id.ptr ? b->call_id.ptr : "",
                    (int)b->call_id.len, SQLITE_STATIC);
  sqlite3_bind_int64(s, 4, b->cseq);
  sqlite3_bind_int64(s, 6, (sqlite3_int64)b->expires_unix);
  return 0;
}

/* Bind the statement for |c| and run it. */
static int write_one(sipflow_sqlite *st, const sipflow_change *c,
                     const uint8_t *rec, size_t len) {
  char ident[65536 + 16]; /* a string of at most 65535 bytes and a reg-id */
  uint8_t tuple[48];
  int del = c->op == SIPFLOW_CHANGE_DEL, q;
  sqlite3_stmt *s;
  switch (c->kind) {
  case SIPFLOW_CHANGE_BINDING:
    s = st->q[q = del ? Q_BIND_DEL : Q_BIND_PUT];
    if (bind_binding(s, &c->u.binding, ident, sizeof(ident)) != 0)
      return SIPFLOW_ERR_INVALID_ARGUMENT;
    break;
  case SIPFLOW_CHANGE_ENDPOINT:
    s = st->q[q = del ? Q_EP_DEL : Q_EP_PUT];
    sqlite3_bind_blob(s, 1, tuple,
                      (int)tuple_ident(&c->u.endpoint.ep.tuple, tuple),
                      SQLITE_STATIC);
    sqlite3_bind_int(s, 2, c->u.endpoint.reason.kind);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)c->u.endpoint.reason.id);
    sqlite3_bind_int64(s, 6, (sqlite3_int64)c->u.endpoint.reason.expires_unix);
    break;
  default: /* SIPFLOW_CHANGE_KEY: checked by the encoder */
    s = st->q[q = del ? Q_KEY_DEL : Q_KEY_PUT];
    sqlite3_bind_int(s, 1, c->u.key.key_id);
    break;
  }
  sqlite3_bind_int64(s, 5, (sqlite3_int64)c->version);
  if (!del)
    sqlite3_bind_blob(s, 7, rec, (int)len, SQLITE_STATIC);
  return run(st, q);
}

int sipflow_sqlite_write(sipflow_sqlite *st, const sipflow_change *c) {
  uint8_t small[2048], *rec = small;
  size_t len = 0;
  int rv;
  if (!st || !c)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  rv = sipflow_change_encode(c, small, sizeof(small), &len);
  if (rv == SIPFLOW_ERR_BUFFER_TOO_SMALL) {
    if (!(rec = malloc(len)))
      return SIPFLOW_ERR_NOMEM;
    rv = sipflow_change_encode(c, rec, len, &len);
  }
  if (rv == 0 && (rv = open_txn(st)) == 0) {
    rv = write_one(st, c, rec, len);
    /* Outside a batch, the default commits before the caller answers. */
    if (!st->batched && st->durability == SIPFLOW_SQLITE_COMMIT_BEFORE_ANSWER) {
      int crv = sipflow_sqlite_commit(st);
      rv = rv ? rv : crv;
    }
  }
  if (rec != small)
    free(rec);
  return rv;
}

/* ---- reading ------------------------------------------------------------- */

static int load_table(sipflow_sqlite *st, const char *sql,
                      sipflow_sqlite_load_cb cb, void *ud, size_t *skipped) {
  sqlite3_stmt *s;
  sipflow_change c;
  int rc, rv = 0;
  if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
    return SIPFLOW_ERR_INTERNAL;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    const void *blob = sqlite3_column_blob(s, 0);
    int n = sqlite3_column_bytes(s, 0);
    if (sipflow_change_decode(blob, (size_t)n, &c) != 0) {
      (*skipped)++;
      continue;
    }
    if (cb(&c, ud) != 0) {
      rv = SIPFLOW_ERR_CALLBACK_FAILURE;
      break;
    }
  }
  if (rv == 0 && rc != SQLITE_DONE)
    rv = SIPFLOW_ERR_INTERNAL;
  sqlite3_finalize(s);
  return rv;
}

int sipflow_sqlite_load(sipflow_sqlite *st, sipflow_sqlite_load_cb cb,
                        void *user_data, size_t *skipped) {
  static const char *const tables[] = {
      "SELECT rec FROM keys ORDER BY version",
      "SELECT rec FROM endpoints ORDER BY version",
      "SELECT rec FROM bindings ORDER BY version"};
  size_t dummy = 0;
  int rv = 0;
  if (!st || !cb)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (!skipped)
    skipped = &dummy;
  *skipped = 0;
  for (size_t i = 0; i < 3 && rv == 0; i++)
    rv = load_table(st, tables[i], cb, user_data, skipped);
  return rv;
}

int64_t sipflow_sqlite_purge(sipflow_sqlite *st, uint64_t unix_seconds) {
  char sql[160];
  int64_t n = 0;
  static const char *const tables[] = {"bindings", "endpoints"};
  if (!st)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (sipflow_sqlite_commit(st) != 0)
    return SIPFLOW_ERR_INTERNAL;
  for (size_t i = 0; i < 2; i++) {
    snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE expires <= %llu",
             tables[i], (unsigned long long)unix_seconds);
    if (exec(st, sql) != 0)
      return SIPFLOW_ERR_INTERNAL;
    n += sqlite3_changes(st->db);
  }
  return n;
}
