/* shm/index.h — the LMDB index store: temporal indexes over the log
 * (docs/indexes.md has the data model, the byte layouts and the decisions).
 *
 * One LMDB environment under <data_dir>/index/ with the sub-databases
 *   catalog   table definitions with their schema-version history, names
 *   current   (table, pk)            -> latest live version (seq, ts, schema version, row)
 *   versions  (table, pk, ~first_seq) -> a chunk of consecutive versions of the key (seq, op, ts,
 *                                       schema version, the row inline or where it is in the log)
 *   idx       (index, values, pk, ~seq_from) -> seq_to (secondary indexes, temporal)
 *   time      ts_ns                  -> seq
 *   meta      "applied"              -> the last applied seq/ts, inside the same transaction
 * Seqs in keys are stored inverted (~seq, big-endian) so that one SET_RANGE
 * seek lands on the newest version (versions: the chunk holding it) at or before a snapshot.
 *
 * Concurrency: exactly one writer process (the indexer, or an offline
 * rebuild) applies frames in batches (one LMDB write transaction per batch,
 * the applied position written in the same transaction); any number of
 * reader processes use lock-free LMDB read transactions (drift_index_rd_t).
 * A drift_index_t and its readers are single-threaded (one per thread). */
#ifndef DRIFT_SHM_INDEX_H
#define DRIFT_SHM_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "shm/frame.h"
#include "shm/keyenc.h"
#include "shm/logreader.h"

#define DRIFT_INDEX_FORMAT 4u /* 4: compact `versions` chunks, rows delta-encoded, a fixed-width directory (docs/indexes.md §3) */
/* Largest encoded primary key (LMDB keys are at most 511 bytes: 4 + pk + 8 must fit). */
#define DRIFT_INDEX_PK_MAX 480u
#define DRIFT_INDEX_MAX_COLS 1024u
/* insert/update rows up to this size are stored inline in `versions`; larger ones by log location */
#define DRIFT_INDEX_INLINE_MAX 128u
/* A `versions` entry holds a chunk of up to this many consecutive versions of one key, ... */
#define DRIFT_INDEX_CHUNK_VERS 32u
/* ... of at most this many bytes (value size) unless it holds a single version that is larger. */
#define DRIFT_INDEX_CHUNK_BYTES 1024u
#define DRIFT_INDEX_SEQ_LIVE UINT64_MAX /* seq_to / end_seq of what is still live */

typedef struct drift_index drift_index_t;
typedef struct drift_index_rd drift_index_rd_t;

typedef struct {
    uint64_t map_size; /* LMDB map size in bytes (0 = 16 GiB); the writer doubles it when full */
    int readonly;      /* 1 = reader (query workers, tools); 0 = the single writer */
    int sync;          /* writer: 0 = MDB_NOMETASYNC (default, see docs), 1 = full sync, 2 = MDB_NOSYNC */
} drift_index_opts_t;

/* ---- table definitions (the catalog's values) ---- */

typedef struct {
    uint32_t id; /* stable column id (survives renames) */
    drift_coltype_t type;
    int not_null, unique;
    char name[128];
} drift_index_col_t;

typedef struct {
    uint32_t id;
    int unique;
    uint32_t ncols;
    uint32_t cols[16]; /* column ids */
    char name[128];
} drift_index_idxdef_t;

/* A parsed table definition (one schema version). */
typedef struct {
    uint32_t table;
    uint32_t version;
    char name[128];
    uint32_t ncols;
    drift_index_col_t *cols; /* in row order */
    uint32_t npk;
    uint32_t pk[16]; /* column ids */
    uint32_t nidx;
    drift_index_idxdef_t *idx;
} drift_index_tdef_t;

/* Parses a table definition (MessagePack map, docs/indexes.md "Catalog"); table is the op's table id.
 * Returns 0 or DRIFT_EPROTO (message in err) / -ENOMEM. */
int drift_index_tdef_parse(const void *mp, size_t len, uint32_t table, drift_index_tdef_t **ret, char *err,
                           size_t errcap);
/* Frees; NULLs *self_p; accepts NULL. */
void drift_index_tdef_destroy(drift_index_tdef_t **self_p);
/* Row position of column id, or -1. */
int drift_index_tdef_colpos(const drift_index_tdef_t *d, uint32_t col_id);

/* ---- the environment ---- */

/* Opens (creating it when not readonly) the environment in index_dir; log_dir is where rows are
 * fetched from; hdr (borrowed, may be NULL) bounds what the log reader sees.
 * Returns 0, -errno, DRIFT_ENOTFOUND (readonly and not created yet) or DRIFT_EVERSION. */
int drift_index_open(const char *index_dir, const char *log_dir, const drift_ctl_header_t *hdr,
                     const drift_index_opts_t *opts, drift_index_t **ret);
/* Aborts any open batch, closes; NULLs *self_p; accepts NULL. */
void drift_index_close(drift_index_t **self_p);
/* A description of the last error (borrowed). */
const char *drift_index_error(const drift_index_t *self);

/* ---- the writer side ---- */

/* The applied position (last seq fully applied and committed) and its ts. */
int drift_index_applied(drift_index_t *self, uint64_t *ret_seq, uint64_t *ret_ts);
/* Starts a batch (one LMDB write transaction). Returns 0 or an error. */
int drift_index_begin(drift_index_t *self);
/* Applies one frame (must be applied seq + 1, or any seq on an empty index) found at pos.
 * Returns 0, DRIFT_ECHAIN (out of sequence), DRIFT_EFULL (map full: abort, grow, redo the batch),
 * DRIFT_ETOOBIG (the LMDB transaction is too big: abort, redo with fewer frames),
 * DRIFT_EPROTO (undecodable body), DRIFT_EVERSION (sealed body) or another error. Bad ops inside a
 * decodable body (patch of a missing row, rows that do not match the schema) are counted, not fatal. */
int drift_index_apply(drift_index_t *self, const drift_frame_t *f, drift_logr_pos_t pos);
/* Records the applied position and commits the batch. */
int drift_index_commit(drift_index_t *self);
/* Drops the batch. */
void drift_index_abort(drift_index_t *self);
/* Doubles the map size (call between batches after DRIFT_EFULL). */
int drift_index_grow(drift_index_t *self);
/* Empties every sub-database (applied position back to 0), in its own transaction. */
int drift_index_clear(drift_index_t *self);
/* Ops skipped since open because they did not make sense (see drift_index_apply). */
uint64_t drift_index_skipped(const drift_index_t *self);
/* Ops of the frames given to drift_index_apply so far (applied or skipped; aborted batches included: callers
 * take differences around what they commit). */
uint64_t drift_index_ops(const drift_index_t *self);
/* Flushes to disk (mdb_env_sync). */
int drift_index_sync(drift_index_t *self);

/* Progress callback of a rebuild: seq reached, last seq to reach. Non-zero stops. */
typedef int (*drift_index_progress_fn)(uint64_t seq, uint64_t last, void *arg);
/* Builds index_dir (which must hold no environment yet) from every frame of log_dir up to upto
 * (0 = the end of the log). Returns 0 or an error (message in err). */
int drift_index_rebuild(const char *index_dir, const char *log_dir, uint64_t upto, uint64_t map_size,
                        drift_index_progress_fn fn, void *arg, char *err, size_t errcap);
/* Same, but resumes an index_dir that holds an index of the same log (applies what it lacks up to upto). */
int drift_index_build(const char *index_dir, const char *log_dir, uint64_t upto, uint64_t map_size,
                      drift_index_progress_fn fn, void *arg, char *err, size_t errcap);
/* Called for each difference found by drift_index_compare (what: sub-database name, a description). */
typedef void (*drift_index_diff_fn)(const char *db, const char *what, void *arg);
/* Compares every sub-database of a and b (all but meta) entry by entry, in one read snapshot of each.
 * Returns the number of differences (>= 0), -EAGAIN when their applied seqs differ, or an error. */
long drift_index_compare(drift_index_t *a, drift_index_t *b, drift_index_diff_fn fn, void *arg);

/* ---- the read API (SQL engine) ---- */

/* One row version. row/row_len are borrowed: valid until the next call on the reader or its end. */
typedef struct {
    uint64_t seq;     /* the commit that wrote it */
    uint64_t ts_ns;   /* its commit time */
    uint64_t end_seq; /* history only: seq of the next version, DRIFT_INDEX_SEQ_LIVE if none */
    int op;           /* drift_cop_t: insert, update, patch, delete (a delete has no row) */
    uint32_t schema_ver;
    const uint8_t *row; /* MessagePack array in the columns of schema_ver; NULL for a delete */
    size_t row_len;
} drift_index_ver_t;

/* Starts a read snapshot (an LMDB read transaction; lock-free). */
int drift_index_rd_begin(drift_index_t *self, drift_index_rd_t **ret);
/* Ends it; NULLs *self_p; accepts NULL. */
void drift_index_rd_end(drift_index_rd_t **self_p);
/* The applied seq this snapshot sees (reads as of a later seq are refused). */
uint64_t drift_index_rd_seq(const drift_index_rd_t *rd);

/* The version of (table, pk) visible as of seq: 0, DRIFT_ENOTFOUND (absent or deleted then), or
 * DRIFT_EAGAIN-like -EAGAIN when as_of > drift_index_rd_seq (not indexed yet). */
int drift_index_get(drift_index_rd_t *rd, uint32_t table, const void *pk, size_t pk_len, uint64_t as_of,
                    drift_index_ver_t *ret);

/* The newest write of (table, pk) this snapshot holds, deletes included: its seq and op (drift_cop_t).
 * 0, DRIFT_ENOTFOUND (never written) or an error. One seek, no row decoded (the writer's key lookups). */
int drift_index_last_write(drift_index_rd_t *rd, uint32_t table, const void *pk, size_t pk_len, uint64_t *ret_seq,
                           int *ret_op);

/* Called per version of a key, oldest first; non-zero stops and is returned. */
typedef int (*drift_index_ver_fn)(const drift_index_ver_t *v, void *arg);
/* Lists every version of (table, pk) (deletes included), oldest first. Returns 0, fn's value or an error. */
int drift_index_history(drift_index_rd_t *rd, uint32_t table, const void *pk, size_t pk_len, drift_index_ver_fn fn,
                        void *arg);

/* A table scan as of a seq, in key order, over encoded pks in [lo, hi) (NULL = unbounded). */
typedef struct drift_index_scan drift_index_scan_t;
int drift_index_scan_open(drift_index_rd_t *rd, uint32_t table, const void *lo, size_t lo_len, const void *hi,
                          size_t hi_len, uint64_t as_of, drift_index_scan_t **ret);
/* Returns 1 with the next live row (pk borrowed like the row), 0 at the end, or an error. */
int drift_index_scan_next(drift_index_scan_t *it, const uint8_t **ret_pk, size_t *ret_pk_len, drift_index_ver_t *ret);
/* Closes; NULLs *self_p; accepts NULL. */
void drift_index_scan_close(drift_index_scan_t **self_p);
/* Cursor operations a scan made so far (seeks + steps), to check its cost. */
uint64_t drift_index_scan_steps(const drift_index_scan_t *it);

/* A secondary-index range as of a seq: encoded value tuples in [lo, hi) (NULL = unbounded; a
 * prefix of the index's columns bounds a prefix). Each hit is a pk whose indexed values at as_of
 * were in the range. */
typedef struct drift_index_iscan drift_index_iscan_t;
int drift_index_iscan_open(drift_index_rd_t *rd, uint32_t index_id, const void *lo, size_t lo_len, const void *hi,
                           size_t hi_len, uint64_t as_of, drift_index_iscan_t **ret);
/* Returns 1 with the next hit: its pk, its encoded values (borrowed), the interval [seq_from, seq_to)
 * during which the pk had them, and *ret_truncated when the values were too long to be stored
 * whole (the caller must re-check the row). 0 at the end or an error. */
int drift_index_iscan_next(drift_index_iscan_t *it, const uint8_t **ret_pk, size_t *ret_pk_len,
                           const uint8_t **ret_vals, size_t *ret_vals_len, uint64_t *ret_seq_from, uint64_t *ret_seq_to,
                           int *ret_truncated);
void drift_index_iscan_close(drift_index_iscan_t **self_p);

/* Whether a live row other than pk holds the encoded values vals in index_id (for UNIQUE).
 * Returns 1 (conflict; *ret_pk/len borrowed point at the holder), 0, or an error. */
int drift_index_unique_holder(drift_index_rd_t *rd, uint32_t index_id, const void *vals, size_t vals_len,
                              const void *pk, size_t pk_len, const uint8_t **ret_pk, size_t *ret_pk_len);

/* The last seq whose commit ts <= ts_ns (0 when none). */
int drift_index_seq_at(drift_index_rd_t *rd, uint64_t ts_ns, uint64_t *ret_seq);

/* The definition of table as of seq (caller frees with tdef_destroy). Returns 0 or DRIFT_ENOTFOUND. */
int drift_index_table_def(drift_index_rd_t *rd, uint32_t table, uint64_t as_of, drift_index_tdef_t **ret);
/* A given schema version of table. */
int drift_index_table_def_ver(drift_index_rd_t *rd, uint32_t table, uint32_t version, drift_index_tdef_t **ret);
/* The table id of a name as of seq. Returns 0 or DRIFT_ENOTFOUND. */
int drift_index_table_by_name(drift_index_rd_t *rd, const char *name, uint64_t as_of, uint32_t *ret_table);

/* ---- catalog and history reads for the SQL engine (modules/query/table.c) ---- */

/* The TABLEDEF bytes (MessagePack map, docs/indexes.md §1, extra keys included) in force at as_of, or of a
 * given schema version; borrowed until the reader ends. Returns 0 or DRIFT_ENOTFOUND (none / dropped). */
int drift_index_table_def_raw(drift_index_rd_t *rd, uint32_t table, uint64_t as_of, const uint8_t **ret,
                              size_t *ret_len);
int drift_index_table_def_ver_raw(drift_index_rd_t *rd, uint32_t table, uint32_t version, const uint8_t **ret,
                                  size_t *ret_len);
/* The highest table id and index id any definition ever used (dropped tables included): new ids go above.
 * Walks every schema version of every table (DDL-time cost). */
int drift_index_catalog_max_ids(drift_index_rd_t *rd, uint32_t *ret_table, uint32_t *ret_index);
/* Calls fn for every table name live as of seq, in name (byte) order; non-zero stops and is returned. */
int drift_index_table_names(drift_index_rd_t *rd, uint64_t as_of, int (*fn)(const char *name, uint32_t table,
                                                                            void *arg),
                            void *arg);
/* The highest table id the catalog holds (O(log n): one seek). */
int drift_index_max_table_id(drift_index_rd_t *rd, uint32_t *ret);
/* Number of live rows of every table together (LMDB entry count of `current`, O(1)). */
int drift_index_current_count(drift_index_rd_t *rd, uint64_t *ret);

/* Every version of every key of a table with pk in [lo, hi) (NULL = open), in (pk, seq) order, deletes
 * included, with end_seq set (the seq of the next version of the key — so the version before a delete
 * ends at the delete —, DRIFT_INDEX_SEQ_LIVE for the last one; a delete's end_seq is its own seq).
 * Reads every version of the range (FOR SYSTEM_TIME ALL / BETWEEN / FROM..TO); the versions of one key
 * are held in memory while they are returned. */
typedef struct drift_index_vscan drift_index_vscan_t;
int drift_index_vscan_open(drift_index_rd_t *rd, uint32_t table, const void *lo, size_t lo_len, const void *hi,
                           size_t hi_len, drift_index_vscan_t **ret);
/* 1 with the next version (pk and row borrowed until the next call), 0 at the end, or an error. */
int drift_index_vscan_next(drift_index_vscan_t *it, const uint8_t **ret_pk, size_t *ret_pk_len, drift_index_ver_t *ret);
void drift_index_vscan_close(drift_index_vscan_t **self_p);
/* Cursor operations so far, counting each version read from a chunk as one (versions stepped over). */
uint64_t drift_index_vscan_steps(const drift_index_vscan_t *it);

/* Waits until hdr->indexed_seq >= seq, up to timeout_ms. Returns 0 or -ETIMEDOUT. */
int drift_index_wait(const drift_ctl_header_t *hdr, uint64_t seq, int timeout_ms);

#endif
