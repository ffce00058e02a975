/* modules/query/table.h — table access for the executor: the per-statement
 * query context, a table's schema as of a point, its rows as of a point (the
 * LMDB index snapshot merged with the session's pending writes), version
 * history, and the row-level writes DML turns into log operations.
 *
 * Model (docs/indexes.md §1): rows are MessagePack arrays in the column order
 * of the schema version they were written in; a row read through this API is
 * returned as values in the column order of the schema the table was opened
 * at (columns added later read as their DEFAULT, or NULL; dropped columns
 * vanish), by column id. Pending writes of the session's transaction
 * (txn.h) overlay the snapshot when the table is read at the transaction's
 * snapshot ("present"); historical reads (AS OF an earlier seq, ALL, BETWEEN)
 * never see them.
 *
 * Single-threaded (one statement at a time per worker). Every row/value
 * returned is valid until the next call on the same scan or table (copy with
 * drift_val_copy to keep). */
#ifndef DRIFT_QUERY_TABLE_H
#define DRIFT_QUERY_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "common/json.h"
#include "modules/query/arena.h"
#include "modules/query/engine.h"
#include "shm/control.h"
#include "shm/index.h"

typedef struct drift_txn drift_txn_t;

/* Row-count estimates (drift_table_estimate_rows) kept across statements that read the same index snapshot
 * seq: the count walks up to 1000 rows of a table, which costs more than a point read itself. Optional
 * (drift_qctx_t.est_cache); the gateway's fast reads use one. */
typedef struct {
    const void *index; /* the drift_index_t the entries were counted in */
    uint64_t seq;      /* ... at this applied seq */
    uint32_t n;
    struct {
        uint32_t table;
        uint64_t rows;
    } e[16];
} drift_est_cache_t;

/* Opened table definitions kept across statements (drift_qctx_t.tdef_cache, optional; the gateway's fast reads use
 * one): decoding a TABLEDEF (drift_index_tdef_parse + its extras) costs more than the point read itself. An entry
 * is keyed by the table id and the exact TABLEDEF bytes the catalog holds at the point read, so a hit builds the
 * same table an uncached open would (any DDL writes new bytes: no invalidation). Single-threaded. */
typedef struct drift_tdef_cache drift_tdef_cache_t;
/* An empty cache, or NULL on out of memory. */
drift_tdef_cache_t *drift_tdef_cache_new(void);
/* Frees; NULLs *self_p; accepts NULL. No table opened from it may be in use. */
void drift_tdef_cache_destroy(drift_tdef_cache_t **self_p);
/* Call between statements (no table opened from the cache in use): empties a full cache. */
void drift_tdef_cache_trim(drift_tdef_cache_t *self);

/* What one statement runs with. The engine fills it (engine.c) before executing. */
typedef struct {
    drift_ctl_header_t *hdr;  /* control block (commit_seq, indexed_seq); may be NULL in unit tests */
    drift_index_t *index;     /* the worker's LMDB environment (reader) */
    drift_index_rd_t *rd;     /* this statement's read snapshot */
    uint64_t snap_seq;        /* the seq "present" means for this statement (the txn snapshot, or the
                                 statement snapshot under READ COMMITTED / autocommit) */
    drift_txn_t *txn;         /* the session's transaction (autocommit statements get an implicit one) */
    drift_arena_t *arena;     /* the statement's arena */
    drift_sqlerr_t *err;
    const char *sql;          /* for error positions */
    size_t sql_len;
    int64_t now_ns;           /* statement start */
    uint32_t worker_id;       /* the query worker's slot (0..63): makes generated rowids unique across workers */
    _Atomic uint64_t *heartbeat; /* the worker's slot heartbeat: a long statement keeps it fresh while it makes
                                    progress (NULL = none) */
    uint64_t deadline_mono_ns;   /* statement timeout on the monotonic clock (0 = none): 57014 after it */
    uint32_t ticks;              /* drift_qctx_check's counter */
    int has_default_as_of;    /* the session's SET AS OF point is in force: tables without a temporal */
    uint64_t default_as_of;   /* clause are read as of default_as_of (a resolved seq) instead of snap_seq */
    uint32_t plan_off;        /* planner methods the session turned off (SET enable_* = off): DRIFT_PLAN_NO_* */
    drift_est_cache_t *est_cache; /* optional: estimates reused across statements of one snapshot seq */
    drift_tdef_cache_t *tdef_cache; /* optional: decoded table definitions reused across statements */
} drift_qctx_t;

#define DRIFT_PLAN_NO_INDEXSCAN 1u /* SET enable_indexscan = off: no key or index paths (full scans) */
#define DRIFT_PLAN_NO_HASHJOIN 2u  /* SET enable_hashjoin = off: nested loops instead of hash joins */

/* Called for every row a scan yields (and by long loops): every 256 calls it refreshes the worker's
 * heartbeat (a statement that makes progress is not "hung") and enforces the statement timeout.
 * Returns 0, or -1 with 57014 in q->err. Implemented in engine.c. */
int drift_qctx_check(drift_qctx_t *q);

/* One column of an opened table. */
typedef struct {
    uint32_t id;
    const char *name;
    drift_coltype_t type;
    int not_null;
    int in_pk;                 /* position in the primary key + 1, 0 if not part of it */
    drift_value_t default_val; /* NULL when there is no DEFAULT */
    int has_default;
    int hidden;                /* the generated _rowid of a table without PRIMARY KEY: not in SELECT * (it is
                                  filled by drift_table_insert when its value is NULL) */
} drift_tcol_t;

/* One secondary index of an opened table. */
typedef struct {
    uint32_t id;
    const char *name;
    int unique;
    uint32_t ncols;
    uint32_t cols[16]; /* positions in drift_table_t.cols (not ids) */
} drift_tidx_t;

/* A table opened as of a point. */
typedef struct {
    drift_qctx_t *q;
    uint32_t id;
    const char *name;
    uint64_t as_of;      /* the seq it is read at */
    int present;         /* as_of == q->snap_seq: pending writes overlay it, and it may be written */
    uint32_t schema_ver;
    int driftql;         /* a DriftQL document table (pk field + indexed fields + doc) */
    uint32_t ncols;
    drift_tcol_t *cols;
    uint32_t npk;
    uint32_t pk[16];     /* positions in cols, key order */
    uint32_t nidx;
    drift_tidx_t *idx;
    const drift_index_tdef_t *def;
    /* DriftQL document tables (driftql = 1): the column positions of the key field, of the whole
     * document, and the document field each column holds ("" for the doc column, NULL for other columns) */
    int doc_key_col, doc_col;
    const char **doc_fields; /* ncols entries */
    /* A view (CREATE VIEW): its SELECT text (NUL-terminated), NULL for a table. A view is a catalog entry
     * with one hidden placeholder column `_view` and no rows (ddl.c); the executor reads it as a derived
     * table whose tables are read as of the view's own point. */
    const char *view_sql;
    /* Index entries drift_table_estimate_rows stepped over counting this table's rows (0 when the estimate was
     * never asked for, or came from the estimate cache); EXPLAIN ANALYZE reports it as `estimate scanned=`. */
    uint64_t est_steps;
} drift_table_t;

/* One row (a version of it for history scans). vals has t->ncols values. */
typedef struct {
    const uint8_t *pk; /* encoded primary key */
    size_t pk_len;
    drift_value_t *vals;
    uint64_t seq;     /* the commit that wrote this version; 0 for a pending (uncommitted) write */
    uint64_t ts_ns;   /* its commit time; 0 when pending */
    uint64_t end_seq; /* history scans: the commit that replaced/deleted it, DRIFT_INDEX_SEQ_LIVE if none */
    int op;           /* drift_cop_t of the version (insert/update/patch; delete only in drift_table_history) */
} drift_trow_t;

/* Resolves a point in time to a seq for AS OF: seq must be <= commit_seq (else 22023 "seq N is beyond
 * the last commit M"), a timestamp must parse (22007) and not be in the future (22023). pos: character
 * position for errors. Returns 0 or -1 with q->err set. */
int drift_table_resolve_seq(drift_qctx_t *q, uint64_t seq, uint32_t pos, uint64_t *ret);
int drift_table_resolve_time(drift_qctx_t *q, const char *rfc3339, size_t n, uint32_t pos, uint64_t *ret);

/* Opens table `name` as of seq as_of (present when as_of == q->snap_seq: the transaction's own DDL is
 * visible too). Returns 0, or -1 with 42P01 "table NAME does not exist (as of @seq:N)". */
int drift_table_open(drift_qctx_t *q, const char *name, uint64_t as_of, uint32_t pos, drift_table_t **ret);
/* Whether table `name` exists as of as_of (present: the transaction's own DDL counts): 1 (its id in *ret_id,
 * may be NULL), 0, or -1 with err (index errors). Sets no error when it does not exist. */
int drift_table_exists(drift_qctx_t *q, const char *name, uint64_t as_of, uint32_t *ret_id);
/* Position of the hidden _rowid column (tables without PRIMARY KEY), or -1. */
int drift_table_rowid_col(const drift_table_t *t);
/* Column position by name (case-sensitive, names are stored folded), or -1. */
int drift_table_colpos(const drift_table_t *t, const char *name);
/* Encodes a primary key from values in pk order (coerced to the column types). Returns 0 or -1 (err). */
int drift_table_encode_pk(drift_table_t *t, const drift_value_t *pkvals, drift_keybuf_t *out);
/* Encodes an index probe (values for the first n columns of index i) as the index stores it. */
int drift_table_encode_ivals(drift_table_t *t, const drift_tidx_t *i, const drift_value_t *vals, uint32_t n,
                             drift_keybuf_t *out);

/* Point read by encoded pk. Returns 1 found, 0 not found, -1 error. */
int drift_table_get(drift_table_t *t, const uint8_t *pk, size_t pk_len, drift_trow_t *ret);

/* Range scan over encoded pks in [lo, hi) (NULL = open), in key order. */
typedef struct drift_tscan drift_tscan_t;
int drift_table_scan(drift_table_t *t, const uint8_t *lo, size_t lo_len, const uint8_t *hi, size_t hi_len,
                     drift_tscan_t **ret);
/* Secondary-index scan over encoded value tuples in [lo, hi) of index i; rows come in index order;
 * rows are re-checked so that only rows whose values are in the range at as_of are returned. */
int drift_table_iscan(drift_table_t *t, const drift_tidx_t *i, const uint8_t *lo, size_t lo_len, const uint8_t *hi,
                      size_t hi_len, drift_tscan_t **ret);
/* Every version of every row whose lifetime [seq, end_seq) intersects [from, to] (to inclusive when
 * to_inclusive, else exclusive), in (pk, seq) order: FOR SYSTEM_TIME ALL (from 0, to commit_seq),
 * BETWEEN, FROM ... TO. Versions are shown in the table's schema as opened. */
int drift_table_vscan(drift_table_t *t, uint64_t from, uint64_t to, int to_inclusive, drift_tscan_t **ret);
/* The same, restricted to the keys with encoded pk in [lo, hi) (NULL = open): a pk point is [pk, pk 0xFF), a pk
 * prefix [prefix, prefix 0xFF); reads only those keys' versions (O(log n + versions in range)). */
int drift_table_vscan_range(drift_table_t *t, const uint8_t *lo, size_t lo_len, const uint8_t *hi, size_t hi_len,
                            uint64_t from, uint64_t to, int to_inclusive, drift_tscan_t **ret);
/* 1 with the next row, 0 at the end, -1 error. */
int drift_tscan_next(drift_tscan_t *s, drift_trow_t *ret);
/* Cursor operations so far (EXPLAIN ANALYZE / cost checks). */
uint64_t drift_tscan_steps(const drift_tscan_t *s);
void drift_tscan_close(drift_tscan_t **self_p);

/* Every version of one key, oldest first, deletes included (SHOW DRIFT): fn per version (vals NULL for
 * a delete). Returns 0, fn's non-zero value, or -1 with err. Like vscan, it shows the history up to the
 * statement's snapshot q->snap_seq (or as_of when later): versions committed after it are left out, an end
 * after it reads as live (DRIFT_INDEX_SEQ_LIVE). */
typedef int (*drift_trow_fn)(const drift_trow_t *row, void *arg);
int drift_table_history(drift_table_t *t, const uint8_t *pk, size_t pk_len, drift_trow_fn fn, void *arg);

/* Estimated row count (for plans; from the index, O(1) or O(log n)). */
uint64_t drift_table_estimate_rows(drift_table_t *t);

/* ---- writes (only on a present table; they go into q->txn) ---- */

/* Inserts a row: vals has t->ncols values (the executor fills omitted columns with defaults first);
 * values are coerced to the column types, NOT NULL checked (23502), the pk checked against the snapshot
 * and the pending writes (23505), UNIQUE indexes checked the same way (the writer re-checks at commit).
 * Returns 0 or -1 with err. */
int drift_table_insert(drift_table_t *t, const drift_value_t *vals);
/* Replaces the row old (as returned by a read of this table) with vals (t->ncols values). A changed pk is
 * a delete plus an insert. */
int drift_table_update(drift_table_t *t, const drift_trow_t *old, const drift_value_t *vals);
/* Deletes the row with this pk (0 when it did not exist, 1 when deleted, -1 error). */
int drift_table_delete(drift_table_t *t, const uint8_t *pk, size_t pk_len);
/* REPLACE INTO / INSERT OR REPLACE: deletes the live rows that hold the new row's primary key or its
 * values in a UNIQUE index, then inserts vals (as drift_table_insert), all in the transaction: the history
 * records ordinary delete and insert versions. *ret_deleted (may be NULL): rows deleted. 0 or -1 (err). */
int drift_table_replace(drift_table_t *t, const drift_value_t *vals, int64_t *ret_deleted);
/* DriftQL: shallow-merges a JSON object (text) into a document row (op patch). 1 patched, 0 no such row. */
int drift_table_patch_doc(drift_table_t *t, const uint8_t *pk, size_t pk_len, const char *json, size_t json_len);
/* DriftQL: inserts a JSON document (text, an object holding the pk field). */
int drift_table_insert_doc(drift_table_t *t, const char *json, size_t json_len);

/* ---- DDL (statements of ast.h; they go into q->txn as ddl ops) ---- */
struct drift_stmt;
/* CREATE TABLE (SQL and DriftQL forms), CREATE INDEX, DROP TABLE, DROP INDEX, ALTER TABLE.
 * Returns 0 or -1 with err (42P07 exists, 42P01 / 42704 missing, 42701 duplicate column, 42P16 bad
 * definition, 0A000 not supported). */
int drift_ddl_execute(drift_qctx_t *q, const struct drift_stmt *st);

/* Every table name live as of seq (SHOW TABLES), sorted; fn per name. */
int drift_table_list(drift_qctx_t *q, uint64_t as_of, int (*fn)(const char *name, uint32_t id, void *arg),
                     void *arg);

#endif
