/* modules/query/txn.h — a session's transaction: the pending writes of its
 * statements (one log frame at COMMIT), savepoints, the read set that
 * SERIALIZABLE validates, and the commit round trip to the writer.
 *
 * Isolation (docs/query-language.md, "Transactions"):
 *   READ COMMITTED  — each statement reads at a fresh snapshot; the writer
 *                     rejects (40001) only a write-write conflict on a key
 *                     written by a commit after the statement's snapshot.
 *   REPEATABLE READ — snapshot isolation: every statement reads at the
 *                     snapshot fixed by the first statement; first committer
 *                     wins on write-write conflicts (40001).
 *   SERIALIZABLE    — REPEATABLE READ plus read-set validation at commit
 *                     (keys and whole tables read; any commit after the
 *                     snapshot that wrote one of them aborts the transaction
 *                     with 40001): write skew is rejected.
 * Autocommit statements are a transaction of one statement.
 *
 * Pending writes are kept per (table, pk) in key order, so that table.h can
 * overlay them on snapshot reads (read-your-own-writes) and the frame holds
 * the ops in the order they were made. Single-threaded. */
#ifndef DRIFT_QUERY_TXN_H
#define DRIFT_QUERY_TXN_H

#include <stddef.h>
#include <stdint.h>

#include "ipc/commit.h"
#include "modules/query/engine.h"
#include "shm/index.h"

typedef struct drift_txn drift_txn_t;

/* A transaction reading at snapshot (the engine picks it: written_seq, see docs/indexes.md). */
drift_txn_t *drift_txn_new(drift_iso_t iso, uint64_t snapshot);
void drift_txn_destroy(drift_txn_t **self_p);
drift_iso_t drift_txn_iso(const drift_txn_t *t);
uint64_t drift_txn_snapshot(const drift_txn_t *t);
/* READ COMMITTED: moves the snapshot forward for the next statement. */
void drift_txn_set_snapshot(drift_txn_t *t, uint64_t snapshot);
/* Number of pending ops. */
size_t drift_txn_nops(const drift_txn_t *t);

/* Adds one op. key: encoded pk (NULL for ddl); row: an encoded MessagePack value (array for
 * insert/update, map for patch, {"ddl":..,"def":..} for ddl; NULL for delete). Copies everything.
 * Returns 0 or -ENOMEM. */
int drift_txn_put(drift_txn_t *t, drift_cop_t op, uint32_t table, const void *key, size_t key_len, const void *row,
                  size_t row_len);

/* The pending state of (table, pk) after every op so far: 0 none, 1 live (row: encoded array in the
 * schema version *ret_ver of the table as the txn sees it; the merged row after patches), 2 deleted. */
int drift_txn_lookup(const drift_txn_t *t, uint32_t table, const void *key, size_t key_len, const uint8_t **ret_row,
                     size_t *ret_row_len, uint32_t *ret_ver);

/* Iterates the pending keys of a table in key order within [lo, hi) (NULL = open): fn(key, state, row). */
typedef int (*drift_txn_key_fn)(const uint8_t *key, size_t key_len, int state, const uint8_t *row, size_t row_len,
                                uint32_t ver, void *arg);
int drift_txn_foreach_key(const drift_txn_t *t, uint32_t table, const void *lo, size_t lo_len, const void *hi,
                          size_t hi_len, drift_txn_key_fn fn, void *arg);

/* The transaction's own DDL: the latest pending definition of a table (MessagePack TABLEDEF), and the
 * pending name -> table id mappings. Returns 1 found (def NULL when dropped), 0 none. */
int drift_txn_pending_def(const drift_txn_t *t, uint32_t table, const uint8_t **ret_def, size_t *ret_len);
int drift_txn_pending_name(const drift_txn_t *t, const char *name, uint32_t *ret_table, int *ret_dropped);
/* Ids the transaction has allocated (so that the next CREATE picks a higher one). */
uint32_t drift_txn_max_table_id(const drift_txn_t *t);
uint32_t drift_txn_max_index_id(const drift_txn_t *t);

/* SERIALIZABLE read set. */
int drift_txn_note_read(drift_txn_t *t, uint32_t table, const void *key, size_t key_len);
int drift_txn_note_table_read(drift_txn_t *t, uint32_t table);

/* Savepoints: a name marks the current op count; ROLLBACK TO drops later ops (the savepoint stays),
 * RELEASE forgets it and every later one. Return 0, or DRIFT_ENOTFOUND (3B001) / -ENOMEM. */
int drift_txn_savepoint(drift_txn_t *t, const char *name);
int drift_txn_release(drift_txn_t *t, const char *name);
int drift_txn_rollback_to(drift_txn_t *t, const char *name);

/* Sends the commit to the writer (endpoint ipc://<data_dir>/run/writer.sock via the worker's client)
 * and waits for the reply (timeout_ms). No ops: returns 0 with *ret_seq = the snapshot and no round trip.
 * Returns 0 with seq/ts, or -1 with err set to the writer's SQLSTATE (23505, 40001, 53100, ...), or
 * 08006 when the writer did not answer. */
int drift_txn_commit(drift_txn_t *t, drift_commit_client_t *client, int timeout_ms, uint64_t *ret_seq,
                     uint64_t *ret_ts, drift_sqlerr_t *err);

/* The two halves of drift_txn_commit for a caller that does not block (the query worker's asynchronous
 * commits, engine.h): send the request (t must have ops; its id in *ret_id; the bytes are copied, t may
 * be destroyed right after), then turn the writer's reply to that id into seq/ts or the SQLSTATE error
 * drift_txn_commit would have set. Both return 0, or -1 with err set. */
int drift_txn_commit_send(drift_txn_t *t, drift_commit_client_t *client, uint64_t *ret_id, drift_sqlerr_t *err);
int drift_txn_commit_reply(const drift_commit_reply_t *r, uint64_t *ret_seq, uint64_t *ret_ts, drift_sqlerr_t *err);

/* ---- additions (helper C, for table.c / ddl.c and the tests) ---- */

/* drift_txn_put with the schema version `ver` the row (array) is written in, and for a patch the merged
 * row the overlay shows (view_row, an array in `ver`; NULL = none). drift_txn_put() uses the version of
 * the transaction's own latest definition of the table (0 when it has none: "the version at the
 * snapshot"), and merges a patch into a pending live row only when the transaction holds that row's
 * schema version itself; table.h always passes the merged row. */
int drift_txn_put_row(drift_txn_t *t, drift_cop_t op, uint32_t table, const void *key, size_t key_len,
                      const void *row, size_t row_len, uint32_t ver, const void *view_row, size_t view_len);
/* The first pending key of table after `after` (inclusive: at or after; NULL = from the start) and below hi
 * (NULL = open), with its state/row/version (as drift_txn_lookup). Returns 1 or 0 (none). For merged scans. */
int drift_txn_next_key(const drift_txn_t *t, uint32_t table, const void *after, size_t after_len, int inclusive,
                       const void *hi, size_t hi_len, const uint8_t **ret_key, size_t *ret_key_len, int *ret_state,
                       const uint8_t **ret_row, size_t *ret_row_len, uint32_t *ret_ver);
/* Pending live keys of a table (and deleted ones in *ret_deleted, may be NULL). O(keys of the table). */
size_t drift_txn_table_nkeys(const drift_txn_t *t, uint32_t table, size_t *ret_deleted);
/* The transaction's own definition of a given schema version of table. Returns 1 found, 0 none. */
int drift_txn_pending_def_ver(const drift_txn_t *t, uint32_t table, uint32_t version, const uint8_t **ret_def,
                              size_t *ret_len);
/* Every table the transaction's DDL touched, with its latest pending name (dropped: no longer exists). */
int drift_txn_foreach_pending_table(const drift_txn_t *t, int (*fn)(uint32_t table, const char *name, int dropped,
                                                                     void *arg),
                                    void *arg);
/* Read-set entries kept (SERIALIZABLE only; other levels keep none). */
size_t drift_txn_nreads(const drift_txn_t *t);
/* Pending unique-index entries: table.c records (index, encoded values, pk) for every row it writes;
 * foreach calls fn for each pk recorded with exactly these values (candidates: the caller checks the
 * pk's pending row still holds them — entries are never removed, not even by ROLLBACK TO). */
int drift_txn_uidx_add(drift_txn_t *t, uint32_t index_id, const void *vals, size_t vals_len, const void *pk,
                       size_t pk_len);
int drift_txn_uidx_foreach(const drift_txn_t *t, uint32_t index_id, const void *vals, size_t vals_len,
                           int (*fn)(const uint8_t *pk, size_t pk_len, void *arg), void *arg);
/* Packs the commit request drift_txn_commit sends (id given), appended to sb. Returns 0. Under READ
 * COMMITTED the request carries the snapshot of the first statement that wrote and the repeatable-read
 * write-write rule (see txn.c), so that a key written by another commit after it is 40001. */
int drift_txn_pack_request(const drift_txn_t *t, uint64_t id, msgpack_sbuffer *sb);
/* The client session the commit comes from, sent as the request's "session" (ipc/commit.h; 0 = none). */
void drift_txn_set_source(drift_txn_t *t, uint64_t source);

/* ---- READ COMMITTED re-evaluation (session 5; docs/architecture.md "Commit path") ---- */

/* One SET target of a re-evaluable UPDATE: element pos of the row array either gets the number added (add = 1;
 * is_real picks r, else i) or is set to the value the op's row holds there (add = 0). */
typedef struct {
    uint32_t pos;
    int add;
    int is_real;
    int64_t i;
    double r;
} drift_txn_delta_t;

/* Marks the last op (an update of table/key, the transaction's first write of that key) re-evaluable: its row was
 * computed from the committed version base_seq by applying cols. The commit request then carries the op's
 * "delta" (ipc/commit.h) and the writer recomputes the row on the latest version instead of answering 40001
 * when another commit changed the key. A later read of the key's pending row through this transaction
 * (drift_txn_lookup with a row, drift_txn_next_key, drift_txn_foreach_key) removes the mark again: what the
 * transaction saw must stay what it commits. READ COMMITTED only. Returns 1 marked, 0 not eligible, -ENOMEM. */
int drift_txn_mark_delta(drift_txn_t *t, uint32_t table, const void *key, size_t key_len, uint64_t base_seq,
                         const drift_txn_delta_t *cols, size_t ncols);
/* Whether op number op (0-based, in the order made) carries a delta (tests). */
int drift_txn_has_delta(const drift_txn_t *t, size_t op);

#endif
