/* modules/writer/catalog.h — the writer's view of the schema, DDL validation
 * and UNIQUE enforcement for live rows (docs/indexes.md §1 for the data model,
 * docs/storage.md "The commit protocol" for the answers).
 *
 * What it keeps:
 *  - every table's definition history (TABLEDEF of each schema version, from
 *    the log's ddl ops), whether it is live or dropped;
 *  - for tables that have UNIQUE indexes only, an in-memory "tail": what the
 *    commits after the LMDB index snapshot it reads (indexed_seq) changed —
 *    the row of each (table, pk) written (for patch merges and to know what
 *    values an update/delete frees) and, per unique index, which pk now holds
 *    a value tuple or that it was freed. A value tuple is held by pk P iff the
 *    tail says so, or the tail says nothing and the LMDB snapshot says so
 *    (drift_index_unique_holder). Tables without unique indexes cost one hash
 *    lookup per op.
 *
 * Start: drift_wcat_open_index() before recovery fixes the base seq B (what the
 * LMDB index has applied); the recovery scan hands every frame to
 * drift_wcat_recover_frame() (DDL frames up to B are decoded: the catalog is
 * built from the log, which is exact whatever the index holds); then
 * drift_wcat_replay() checks the index matches the log (ts of frame B) and
 * replays the frames after B (or the whole log when the index is missing or
 * does not match) through the same code as commits.
 *
 * A transaction: drift_wcat_op() per op (after the key map's checks), then
 * drift_wcat_txn_commit() once its frame is placed or drift_wcat_txn_undo().
 *
 * Concurrency: single-threaded (the writer's event-loop thread). It reads the
 * LMDB environment read-only (lock-free read transactions) and the log with a
 * read-only log reader; the indexer and the flush thread never wait for it. */
#ifndef DRIFT_WRITER_CATALOG_H
#define DRIFT_WRITER_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "ipc/commit.h"
#include "shm/control.h"
#include "shm/frame.h"

/* Returned by drift_wcat_op instead of a SQLSTATE: the op needs frames that are not written yet
 * (CREATE UNIQUE INDEX reads the table's unindexed rows from the log): retry after the flush. */
#define DRIFT_WCAT_DEFER "defer"

typedef struct drift_wcat drift_wcat_t;

typedef struct {
    size_t tables;     /* table ids known (live or dropped) */
    size_t live;       /* live tables */
    size_t unique;     /* live tables with at least one unique index */
    size_t tail_nodes; /* in-memory tail entries (rows + values) */
    size_t tail_bytes;
    uint64_t base_seq; /* seq of the LMDB snapshot in use (0 = none) */
    int index_state;   /* 0 none yet, 1 in use, 2 refused (does not match the log) */
} drift_wcat_stats_t;

/* Creates an empty catalog. index_dir: <data_dir>/index (may not exist yet); log_dir: <data_dir>/log;
 * hdr (borrowed, may be NULL in tests) gives written_seq / indexed_seq. Returns NULL + errno. */
drift_wcat_t *drift_wcat_new(const char *index_dir, const char *log_dir, const drift_ctl_header_t *hdr);
/* Frees everything; NULLs *self_p; accepts NULL. */
void drift_wcat_destroy(drift_wcat_t **self_p);

/* Opens the LMDB index read-only (when it exists) and fixes the base seq; call before recovery.
 * Returns the base seq (0 = no index). */
uint64_t drift_wcat_open_index(drift_wcat_t *self);
/* Recovery: every frame of the log in order. Decodes the frame only when needed (has_ddl: the key
 * walk saw a ddl op). Returns 0 or DRIFT_EPROTO / -ENOMEM. */
int drift_wcat_recover_frame(drift_wcat_t *self, const drift_frame_t *f, int has_ddl);
/* After recovery (the log ends at last_seq): validates the index base and replays the frames after it
 * from the log. Returns 0 or an error (message in err). */
int drift_wcat_replay(drift_wcat_t *self, uint64_t last_seq, char *err, size_t errcap);

/* Applies a whole frame body without checks (tests; the replay uses the same path). */
int drift_wcat_apply_body(drift_wcat_t *self, uint64_t seq, const void *body, size_t len);

/* Checks op ops[i] of the transaction that will be seq (ops[0..i) were accepted already) and applies
 * it. Returns NULL, a SQLSTATE with a message in msg, or DRIFT_WCAT_DEFER. */
const char *drift_wcat_op(drift_wcat_t *self, const drift_commit_op_t *ops, size_t nops, size_t i, uint64_t seq,
                          char *msg, size_t cap);
/* The transaction was accepted: keep its changes. */
void drift_wcat_txn_commit(drift_wcat_t *self);
/* The transaction was refused: drop its changes. */
void drift_wcat_txn_undo(drift_wcat_t *self);

/* Moves to a newer LMDB snapshot when the indexer has advanced and forgets the tail it covers
 * (called between transactions, e.g. from a timer). */
void drift_wcat_tick(drift_wcat_t *self);

/* The key map's misses (writer.c): the newest write of (table, pk) in the LMDB snapshot in use, deletes
 * included (drift_index_last_write), provided that snapshot has applied at least min_seq. Returns 0 (*ret_seq,
 * *ret_op set), DRIFT_ENOTFOUND (never written up to the snapshot), -ESTALE (no snapshot in use, or one older
 * than min_seq: the caller cannot use the index) or another error. */
int drift_wcat_last_write(drift_wcat_t *self, uint64_t min_seq, uint32_t table, const uint8_t *pk, size_t len,
                          uint64_t *ret_seq, int *ret_op);
/* The applied seq of the LMDB snapshot in use (what drift_wcat_last_write answers for), 0 when none. */
uint64_t drift_wcat_snapshot_seq(const drift_wcat_t *self);
/* Whether the LMDB index is in use (opened at start, validated against the log by drift_wcat_replay). */
int drift_wcat_index_usable(const drift_wcat_t *self);

/* Whether table is live; its name and current version (NULL/0 when not). */
int drift_wcat_table(const drift_wcat_t *self, uint32_t table, const char **ret_name, uint32_t *ret_version);
void drift_wcat_stats(const drift_wcat_t *self, drift_wcat_stats_t *ret);
/* The 23505 message of an insert of a live primary key of a defined table, PostgreSQL style
 * ('duplicate key value violates unique constraint "t_pkey": Key (id)=(1) already exists.').
 * Returns 1, or 0 when the table has no definition (msg untouched). */
int drift_wcat_pk_message(const drift_wcat_t *self, uint32_t table, const uint8_t *key, size_t klen, char *msg,
                          size_t cap);

#endif
