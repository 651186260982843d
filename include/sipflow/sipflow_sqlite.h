/*
 * libsipflow-sqlite: keeps the change stream (changes.h) in an SQLite
 * database file, so that bindings, keepalive reasons and token keys survive
 * a restart.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_SIPFLOW_SQLITE_H
#define SIPFLOW_SIPFLOW_SQLITE_H

#include <stddef.h>
#include <stdint.h>

#include "sipflow/changes.h"
#include "sipflow/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @file sipflow_sqlite.h
 * One database file in WAL mode with a table per record kind (bindings,
 * endpoints, keys), each keyed by the record's identity. A PUT is an upsert
 * that only replaces an older state (the ordering rules of changes.h); a
 * DEL deletes the row unless it holds something newer. This is a separate
 * library (libsipflow-sqlite, pkg-config sipflow-sqlite); it does file I/O
 * and so is not part of the core. Not thread-safe: use one store from one
 * thread. The file holds token keys: create it where only the server can
 * read it (the library creates it with the process umask).
 */

/** An open store. Opaque. @since 0.1 */
typedef struct sipflow_sqlite sipflow_sqlite;

/** When a write reaches the disk relative to the SIP answer. @since 0.1 */
typedef enum sipflow_sqlite_durability {
  /**
   * The default: every sipflow_sqlite_write() outside a batch commits (and
   * syncs the WAL) before it returns, so a host that writes before it sends
   * the 200 OK loses nothing acknowledged on kill -9 or power loss. Batch
   * the writes of one loop iteration with sipflow_sqlite_begin() and
   * sipflow_sqlite_commit(), and send the answers after the commit.
   */
  SIPFLOW_SQLITE_COMMIT_BEFORE_ANSWER = 0,
  /**
   * Writes go into an open transaction that sipflow_sqlite_commit()
   * commits (call it once per loop iteration or from a timer); the 200 OK
   * may leave before. A kill -9 loses what was not committed yet.
   */
  SIPFLOW_SQLITE_ANSWER_BEFORE_COMMIT = 1
} sipflow_sqlite_durability;

/**
 * Open (creating if needed) the store in |path|.
 * @param pst receives the store, NULL on failure.
 * @param path the database file; copied.
 * @param durability a sipflow_sqlite_durability.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT, SIPFLOW_ERR_UNSUPPORTED (a file
 * written by a newer format), SIPFLOW_ERR_NOMEM, or SIPFLOW_ERR_INTERNAL
 * (SQLite could not open or set up the file; sipflow_sqlite_errmsg() has no
 * store to report on, so the message goes nowhere: check the path).
 * @since 0.1
 */
SIPFLOW_API int sipflow_sqlite_open(sipflow_sqlite **pst, const char *path,
                                    int durability);

/** Commit what is pending and close. NULL does nothing. @since 0.1 */
SIPFLOW_API void sipflow_sqlite_close(sipflow_sqlite *st);

/**
 * Start a batch: writes until sipflow_sqlite_commit() form one
 * transaction. Does nothing when one is open already.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT, SIPFLOW_ERR_INTERNAL. @since 0.1
 */
SIPFLOW_API int sipflow_sqlite_begin(sipflow_sqlite *st);

/**
 * Commit the open batch or pending writes (nothing to do: 0).
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT, SIPFLOW_ERR_INTERNAL (the
 * transaction was rolled back: its writes are lost). @since 0.1
 */
SIPFLOW_API int sipflow_sqlite_commit(sipflow_sqlite *st);

/**
 * Write one record: upsert for a PUT, delete for a DEL, under the ordering
 * rules. Nothing of |c| is kept.
 * @return 0 (written or already newer), SIPFLOW_ERR_INVALID_ARGUMENT (NULL,
 * unknown kind or op, a string too long to encode), SIPFLOW_ERR_NOMEM,
 * SIPFLOW_ERR_INTERNAL (SQLite failed; see sipflow_sqlite_errmsg()).
 * @since 0.1
 */
SIPFLOW_API int sipflow_sqlite_write(sipflow_sqlite *st,
                                     const sipflow_change *c);

/**
 * Called by sipflow_sqlite_load() with each record; its strings are valid
 * during the call. Return 0 to go on, anything else to stop (the load
 * returns SIPFLOW_ERR_CALLBACK_FAILURE). @since 0.1
 */
typedef int (*sipflow_sqlite_load_cb)(const sipflow_change *c, void *user_data);

/**
 * Read every record back: keys first, then endpoints, then bindings (each
 * in ascending version). Rows that do not decode are skipped and counted.
 * Do not write to the store from |cb|.
 * @param skipped receives the number of rows skipped; may be NULL.
 * @return 0, SIPFLOW_ERR_INVALID_ARGUMENT, SIPFLOW_ERR_CALLBACK_FAILURE,
 * SIPFLOW_ERR_INTERNAL. @since 0.1
 */
SIPFLOW_API int sipflow_sqlite_load(sipflow_sqlite *st,
                                    sipflow_sqlite_load_cb cb, void *user_data,
                                    size_t *skipped);

/**
 * Delete bindings and endpoint reasons that expired at or before
 * |unix_seconds|.
 * @return the number of rows deleted (>= 0), SIPFLOW_ERR_INVALID_ARGUMENT,
 * SIPFLOW_ERR_INTERNAL. @since 0.1
 */
SIPFLOW_API int64_t sipflow_sqlite_purge(sipflow_sqlite *st,
                                         uint64_t unix_seconds);

/**
 * SQLite's message for the last failure, a NUL-terminated string owned by
 * the store, valid until its next call. @since 0.1
 */
SIPFLOW_API const char *sipflow_sqlite_errmsg(const sipflow_sqlite *st);

#ifdef __cplusplus
}
#endif

#endif /* SIPFLOW_SIPFLOW_SQLITE_H */
