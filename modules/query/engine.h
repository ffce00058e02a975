/* modules/query/engine.h — the SQL engine interface the query worker calls.
 *
 * The worker owns one drift_engine_t per process and one drift_session_t per
 * client session (created on the first request of a session, destroyed when
 * the gateway ends the session). For each request it calls
 * drift_engine_execute() with the statement text, its parameters and a result
 * sink; the engine reports columns, rows and completion through the sink, or
 * fails with an SQLSTATE error. The sink may stream (chunked replies): rows
 * are handed over one at a time and values are only valid during the call.
 *
 * The engine (engine.c) parses (parser.h -> ast.h), takes the statement's
 * snapshot, runs DDL (table.h) or the executor (exec.h) and commits through
 * the writer (txn.h); docs/query-language.md is the language.
 * Single-threaded: an engine and its sessions belong to one worker thread. */
#ifndef DRIFT_QUERY_ENGINE_H
#define DRIFT_QUERY_ENGINE_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/control.h"

typedef enum {
    DRIFT_VAL_NULL = 0,
    DRIFT_VAL_INT,
    DRIFT_VAL_REAL,
    DRIFT_VAL_TEXT,
    DRIFT_VAL_BOOL,
    DRIFT_VAL_BLOB,
    DRIFT_VAL_JSON,      /* JSON text in u.s (a map/array parameter is converted to JSON text) */
    DRIFT_VAL_TIMESTAMP, /* u.i = nanoseconds since the Unix epoch, UTC */
} drift_val_type_t;

/* A value; text/blob/json bytes (u.s) borrow memory that lives until the statement ends. */
typedef struct {
    drift_val_type_t type;
    union {
        int64_t i;
        double r;
        int b;
        struct {
            const char *p;
            size_t n;
        } s; /* TEXT, BLOB and JSON */
    } u;
} drift_value_t;

/* Type name used in replies ("INTEGER", ... "NULL"). */
const char *drift_val_type_name(drift_val_type_t t);

/* An SQLSTATE error. position: 1-based character offset in the statement, 0 = none. */
typedef struct {
    char code[6];
    char message[256];
    uint32_t position;
} drift_sqlerr_t;

/* Sets an error (printf-style); returns -1 so callers can `return drift_sqlerr_set(...)`. */
int drift_sqlerr_set(drift_sqlerr_t *e, const char *code, uint32_t position, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Where results go. Each callback returns 0, or -1 to abort the statement (the
 * sink then fills err, e.g. when the client is gone). */
typedef struct drift_sink drift_sink_t;
struct drift_sink {
    /* Once, before any row: column names and declared types (type names as in drift_val_type_name). */
    int (*columns)(drift_sink_t *self, uint32_t n, const char *const *names, const char *const *types);
    /* One row of n values (borrowed for the duration of the call). */
    int (*row)(drift_sink_t *self, const drift_value_t *vals, uint32_t n);
    /* Once, at success: rows affected (-1 for a read) and the commit/snapshot seq. */
    int (*done)(drift_sink_t *self, int64_t affected, uint64_t seq);
    drift_sqlerr_t *err;
};

/* What one statement gets. */
typedef struct {
    const char *sql;
    size_t sql_len;
    const msgpack_object *params; /* ARRAY or NULL */
    int has_as_of;
    int64_t as_of_seq;      /* when as_of_time is NULL */
    const char *as_of_time; /* RFC 3339 */
    size_t as_of_time_len;
} drift_stmt_input_t;

typedef struct drift_engine drift_engine_t;
typedef struct drift_session drift_session_t;

typedef enum {
    DRIFT_TXN_IDLE = 0,
    DRIFT_TXN_OPEN = 1,
    DRIFT_TXN_FAILED = 2,
} drift_txn_state_t;

/* Where the engine finds its data and how long it waits. */
typedef struct {
    const char *data_dir;    /* <data_dir>/index (read) and <data_dir>/run/writer.sock (commits); NULL: no tables */
    uint32_t worker_id;      /* the worker's slot (unique among live workers) */
    uint64_t index_map_size; /* LMDB map size (0 = default) */
    int wait_ms;             /* how long a statement waits for the index to reach its snapshot (0 = 5000) */
    int commit_timeout_ms;   /* how long a commit waits for the writer (0 = 30000) */
    int statement_timeout_ms;     /* a statement running longer is cancelled with 57014 (0 = never) */
    _Atomic uint64_t *heartbeat;  /* the worker's slot heartbeat, refreshed while a long statement progresses */
} drift_engine_opts_t;

/* An engine reading database positions from the control block header (borrowed; may be NULL in unit tests). */
drift_engine_t *drift_engine_new_opts(drift_ctl_header_t *hdr, const drift_engine_opts_t *opts);
/* The same without a data directory: only statements without tables run (unit tests). */
drift_engine_t *drift_engine_new(drift_ctl_header_t *hdr);
void drift_engine_destroy(drift_engine_t **self_p);

/* A session (transaction state, settings). */
drift_session_t *drift_session_new(drift_engine_t *engine, uint64_t id);
/* The client connection the session's commits come from (the writer's group commit; 0 = unknown). */
void drift_session_set_source(drift_session_t *s, uint64_t source);
/* Ends the session, rolling back an open transaction; NULLs *self_p; accepts NULL. */
void drift_session_destroy(drift_session_t **self_p);
drift_txn_state_t drift_session_txn(const drift_session_t *s);
/* Whether the session holds state worth keeping between requests (a transaction, a SET AS OF). */
int drift_session_keep(const drift_session_t *s);
/* "idle", "open", "failed". */
const char *drift_txn_name(drift_txn_state_t t);

/* Runs one statement. Returns 0 after sink->done, or -1 with *err set (the sink may have
 * received columns and rows before the error). */
int drift_engine_execute(drift_engine_t *self, drift_session_t *s, const drift_stmt_input_t *in, drift_sink_t *sink,
                         drift_sqlerr_t *err);

/* ---- asynchronous commits (the query worker) ----
 * A statement that must commit through the writer (an autocommit write, COMMIT of a transaction with writes)
 * need not block the worker while the writer groups and fsyncs it: drift_engine_execute_async() sends the
 * commit and returns 1 with a pending statement instead of waiting. The caller keeps the sink and what the
 * input borrows (sql, params) alive, watches drift_engine_writer_socket() (e.g. with ipc/zwatch.h), hands each
 * readable reply to drift_engine_writer_recv(), and finishes the statement with drift_engine_resume() when its
 * reply came (or when drift_engine_expired() says it waited commit_timeout_ms: 08006 as in the blocking path).
 * The session must run nothing else until then (its next request waits). The reply is sent only after the
 * writer's acknowledgement, which comes after its fsync (durability=sync): the guarantees are the blocking
 * path's, including the autocommit re-run on 40001 (a re-run can park again). */
typedef struct drift_engine_pending drift_engine_pending_t;

/* As drift_engine_execute; returns 0 (done), -1 (error in err) or 1 (parked: *ret_pend; user is kept for the
 * caller, see drift_engine_pending_user). */
int drift_engine_execute_async(drift_engine_t *self, drift_session_t *s, const drift_stmt_input_t *in, drift_sink_t *sink,
                               drift_sqlerr_t *err, void *user, drift_engine_pending_t **ret_pend);
/* The writer's ZeroMQ socket (connects on first call); NULL with err set. Watch it for replies. (Only for a
 * ZeroMQ writer endpoint; the engine now uses the stream link: drift_engine_writer_watch.) */
void *drift_engine_writer_socket(drift_engine_t *self, drift_sqlerr_t *err);
/* The writer link (an AF_UNIX stream to <data_dir>/run/writer.chan, ipc/commit.h) watched in base: fn(arg) runs
 * when replies may be ready or the connection dropped; it hands them to drift_engine_writer_recv until that
 * returns 0, then runs drift_engine_expired (a dropped connection fails every commit in flight at once: 08006,
 * outcome unknown). Connects (and reconnects) by itself. Returns 0 or -1 with err set. */
struct event_base;
int drift_engine_writer_watch(drift_engine_t *self, struct event_base *base, void (*fn)(void *arg), void *arg,
                              drift_sqlerr_t *err);
/* Reads one writer reply without blocking. Returns 1 with the parked statement it completes in *ret_pend
 * (NULL: a late or unknown reply, dropped), 0 when nothing is queued. */
int drift_engine_writer_recv(drift_engine_t *self, drift_engine_pending_t **ret_pend);
/* A parked statement whose commit has waited past its deadline (now_mono_ns), or NULL; it is marked timed out. */
drift_engine_pending_t *drift_engine_expired(drift_engine_t *self, uint64_t now_mono_ns);
/* Read-your-writes without blocking: a statement must see every commit acknowledged before it started, so it
 * waits until the indexer has applied them (indexed_seq in the control block). drift_engine_execute blocks for
 * that (up to wait_ms); drift_engine_execute_async parks the statement instead (returns 1 as for a commit) and
 * the caller polls drift_engine_index_ready() while drift_engine_index_waiting() > 0 (the indexer sends no
 * notification), then finishes it with drift_engine_resume() — which runs it, and may park it again for its
 * commit. A statement that reads nothing the writer does not check again (an autocommit INSERT ... VALUES
 * without subqueries, see engine.c s_reads_nothing) does not wait at all. */
/* How many parked statements wait for the index. */
int drift_engine_index_waiting(const drift_engine_t *self);
/* A statement parked for the index that can run now (indexed_seq reached its seq), or whose wait passed
 * wait_ms (drift_engine_resume then fails it with 57014), or NULL. */
drift_engine_pending_t *drift_engine_index_ready(drift_engine_t *self, uint64_t now_mono_ns);
/* The caller's pointer given at execute_async. */
void *drift_engine_pending_user(const drift_engine_pending_t *p);
/* Finishes a parked statement after drift_engine_writer_recv/drift_engine_expired returned it: sink->done, or
 * an error (the same SQLSTATEs as the blocking path), or — an autocommit statement that got 40001 — a re-run,
 * which may park again (returns 1 with a new *ret_pend). p is consumed. Returns as drift_engine_execute_async. */
int drift_engine_resume(drift_engine_t *self, drift_engine_pending_t *p, drift_sqlerr_t *err,
                        drift_engine_pending_t **ret_pend);
/* Forgets a parked statement without finishing it (worker exit); NULLs *p; accepts NULL. */
void drift_engine_pending_destroy(drift_engine_pending_t **p);

/* ---- gateway fast path ----
 * The gateway answers short read-only statements itself with its own engine (no hop to a worker). This entry
 * point decides whether a statement is such a bounded read and, if it is, runs it without ever blocking: no
 * wait for the index (the caller says which seq the index must have applied), no commit, no session state.
 * Bounded means: a SELECT of one table (latest, AS OF, or FOR SYSTEM_TIME) with no join, subquery, aggregate,
 * GROUP BY or compound, only cheap scalar functions, whose plan is a primary-key lookup (IN lists included), a
 * history-by-pk lookup or a secondary-index equality lookup with a small row estimate. The run also stops
 * (and reports DRIFT_FAST_NOT_NOW) after 255 rows stepped over, so a stale verdict cannot make it long. */
typedef enum {
    DRIFT_FAST_ANSWERED = 0,   /* sink->done was called: the reply is complete */
    DRIFT_FAST_INELIGIBLE = 1, /* not a bounded read (by its text, its plan, or its row budget): forward it */
    DRIFT_FAST_NOT_NOW = 2,    /* could not be answered here now (index behind min_seq or not open, an error): forward */
} drift_fast_rc_t;

typedef struct {
    int check_plan;        /* 1: plan the statement (EXPLAIN, nothing executed) and refuse an unbounded plan first */
    uint64_t min_seq;      /* the index snapshot must have applied at least this seq (read-your-writes) */
    uint32_t max_est_rows; /* an access path estimated to return more rows is not bounded (0 = 100) */
} drift_fast_opts_t;

/* Runs `in` as a bounded read in a fresh default session (autocommit, no SET), or refuses. When it returns
 * anything but DRIFT_FAST_ANSWERED the sink may have received columns and rows: the caller discards them
 * and sends the request to a worker, which answers it as usual (errors included: err is then only a note
 * for logs). Never sleeps, never waits for the index, never writes. */
drift_fast_rc_t drift_engine_execute_bounded(drift_engine_t *self, const drift_stmt_input_t *in,
                                             const drift_fast_opts_t *opts, drift_sink_t *sink, drift_sqlerr_t *err);

#endif
