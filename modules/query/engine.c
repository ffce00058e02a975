/* modules/query/engine.c — see engine.h. The glue between a query worker and
 * the SQL engine: sessions and their transaction state machine, the snapshot
 * each statement reads at, autocommit, the commit round trip to the writer,
 * and the dispatch of a parsed statement to DDL (table.h) or the executor
 * (exec.h).
 *
 * Snapshots (docs/indexes.md, "Reading your own writes"): a statement's
 * snapshot S is taken from the control block (written_seq) at its start; the
 * engine waits until the indexer has applied S, then opens an LMDB read
 * transaction, whose applied seq (>= S) becomes "present" for an autocommit
 * statement. Through drift_engine_execute_async the wait does not block: the
 * statement parks until indexed_seq reaches S (drift_engine_index_ready). An
 * autocommit INSERT ... VALUES without subqueries does not wait at all: its
 * snapshot is the seq the index holds, and the writer checks again what it
 * read there (s_reads_nothing). Inside BEGIN ... COMMIT, REPEATABLE READ and SERIALIZABLE fix the
 * snapshot at the first statement that needs one; READ COMMITTED takes a new
 * one per statement. An autocommit statement whose commit fails with 40001
 * (a concurrent commit touched the same keys after its snapshot) is re-run at
 * a fresh snapshot, up to DRIFT_ENGINE_RETRIES times: nothing of it was
 * visible to anyone, so the retry is invisible too.
 *
 * Single-threaded: an engine and its sessions belong to one worker. */
#include "modules/query/engine.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/util.h"
#include "ipc/commit.h"
#include "ipc/proto.h"
#include "modules/query/arena.h"
#include "modules/query/exec.h"
#include "modules/query/parser.h"
#include "modules/query/table.h"
#include "modules/query/txn.h"

#define DRIFT_ENGINE_RETRIES 8

struct drift_engine {
    drift_ctl_header_t *hdr;
    drift_engine_opts_t opts;
    char *data_dir;
    drift_index_t *index;          /* opened on first use (the indexer creates it) */
    drift_commit_client_t *writer; /* connected on first write */
    drift_engine_pending_t *pending; /* parked statements waiting for the writer (asynchronous commits) */
    drift_engine_pending_t *iwait;   /* parked statements waiting for the index to reach their snapshot */
    int niwait;
    int writer_watched;              /* the caller watches e->writer's socket: never replace it */
};

struct drift_engine_pending {
    drift_engine_pending_t *prev, *next; /* in engine->pending (commit) or engine->iwait (index) while waiting */
    int linked;
    int on_index;         /* waiting for the index to reach want (not for the writer) */
    uint64_t want;        /* on_index: the seq the statement must see (every commit acknowledged before it) */
    uint64_t not_before;  /* on_index: monotonic ns before which it does not run (an autocommit re-run's back-off) */
    int nowait;           /* the parked commit's attempt read at the index's seq without waiting (s_reads_nothing) */
    uint64_t id;          /* the commit request's id */
    uint64_t deadline_ns; /* monotonic; UINT64_MAX = none */
    int timed_out, replied;
    int lost;      /* the connection to the writer dropped while its commit was in flight */
    uint64_t wgen; /* the writer link's drift_commit_client_gen() when the commit was sent */
    drift_commit_reply_t reply;
    void *user;
    drift_session_t *s;
    drift_stmt_input_t in;
    drift_sink_t *sink;
    drift_ast_t *ast; /* autocommit: kept for a re-run after 40001 */
    int attempt;
    int is_commit; /* COMMIT of an explicit transaction (never re-run) */
    int64_t affected;
    int report_as_of; /* a read as of a point reports that point */
    uint64_t as_of;
};

/* What a statement that sent its commit without waiting (or that waits for the index) leaves for its pending
 * record. */
typedef struct {
    uint64_t id;
    int64_t affected;
    int report_as_of;
    uint64_t as_of;
    int nowait;    /* the commit's attempt did not wait for the index */
    int index;     /* not sent: parked until the index reaches want (0: the seq acknowledged when it runs) */
    uint64_t want;
    uint64_t not_before; /* index: and until this monotonic time (back-off before a re-run after 40001) */
} s_park_t;

/* How one run of a statement meets read-your-writes. */
typedef struct {
    int nowait;    /* no wait: the snapshot is what the index holds (s_reads_nothing) */
    uint64_t want; /* otherwise: the seq to wait for (0: every commit acknowledged so far) */
} s_wait_t;

struct drift_session {
    drift_engine_t *engine;
    uint64_t id;
    drift_txn_state_t state;
    drift_isolation_t isolation;
    drift_txn_t *txn;  /* the open explicit transaction (NULL when idle) */
    int has_snapshot;  /* REPEATABLE READ / SERIALIZABLE: fixed by the first statement */
    int has_as_of;     /* SET AS OF: the session default for tables without a temporal clause */
    uint64_t as_of;
    uint32_t plan_off; /* SET enable_* = off: planner methods turned off (DRIFT_PLAN_NO_*) */
    uint64_t source;   /* drift_session_set_source: passed with each commit */
};

const char *drift_val_type_name(drift_val_type_t t)
{
    static const char *const n[] = {"NULL", "INTEGER", "REAL", "TEXT", "BOOLEAN", "BLOB", "JSON", "TIMESTAMP"};
    return (unsigned)t < sizeof n / sizeof n[0] ? n[t] : "NULL";
}

int drift_sqlerr_set(drift_sqlerr_t *e, const char *code, uint32_t position, const char *fmt, ...)
{
    if (!e)
        return -1;
    snprintf(e->code, sizeof e->code, "%s", code);
    e->position = position;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

drift_engine_t *drift_engine_new_opts(drift_ctl_header_t *hdr, const drift_engine_opts_t *opts)
{
    drift_engine_t *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->hdr = hdr;
    if (opts) {
        e->opts = *opts;
        if (opts->data_dir && !(e->data_dir = strdup(opts->data_dir))) {
            free(e);
            return NULL;
        }
    }
    e->opts.data_dir = e->data_dir;
    if (!e->opts.wait_ms)
        e->opts.wait_ms = 5000;
    if (!e->opts.commit_timeout_ms)
        e->opts.commit_timeout_ms = 30000;
    return e;
}

drift_engine_t *drift_engine_new(drift_ctl_header_t *hdr)
{
    return drift_engine_new_opts(hdr, NULL);
}

void drift_engine_destroy(drift_engine_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    drift_engine_t *e = *self_p;
    while (e->pending) { /* records the caller did not finish (it should have) */
        drift_engine_pending_t *p = e->pending;
        e->pending = p->next;
        p->linked = 0;
        drift_engine_pending_destroy(&p);
    }
    while (e->iwait) {
        drift_engine_pending_t *p = e->iwait;
        e->iwait = p->next;
        p->linked = 0;
        drift_engine_pending_destroy(&p);
    }
    drift_commit_client_destroy(&e->writer);
    drift_index_close(&e->index);
    free(e->data_dir);
    free(e);
    *self_p = NULL;
}

drift_session_t *drift_session_new(drift_engine_t *engine, uint64_t id)
{
    drift_session_t *s = calloc(1, sizeof *s);
    if (s) {
        s->engine = engine;
        s->id = id;
    }
    return s;
}

void drift_session_set_source(drift_session_t *s, uint64_t source)
{
    if (s)
        s->source = source;
}

/* Ends the explicit transaction (its pending writes are dropped). */
static void s_txn_end(drift_session_t *s)
{
    drift_txn_destroy(&s->txn);
    s->state = DRIFT_TXN_IDLE;
    s->has_snapshot = 0;
}

void drift_session_destroy(drift_session_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_txn_end(*self_p); /* an open transaction is rolled back: nothing was sent */
    free(*self_p);
    *self_p = NULL;
}

drift_txn_state_t drift_session_txn(const drift_session_t *s)
{
    return s ? s->state : DRIFT_TXN_IDLE;
}

int drift_session_keep(const drift_session_t *s)
{
    return s && (s->state != DRIFT_TXN_IDLE || s->has_as_of || s->plan_off);
}

const char *drift_txn_name(drift_txn_state_t t)
{
    switch (t) {
    case DRIFT_TXN_OPEN: return "open";
    case DRIFT_TXN_FAILED: return "failed";
    default: return "idle";
    }
}

static drift_iso_t s_iso(drift_isolation_t i)
{
    switch (i) {
    case DRIFT_ISOLATION_READ_COMMITTED: return DRIFT_ISO_READ_COMMITTED;
    case DRIFT_ISOLATION_SERIALIZABLE: return DRIFT_ISO_SERIALIZABLE;
    default: return DRIFT_ISO_REPEATABLE_READ;
    }
}

static const char *s_iso_name(drift_isolation_t i)
{
    switch (i) {
    case DRIFT_ISOLATION_READ_COMMITTED: return "read committed";
    case DRIFT_ISOLATION_SERIALIZABLE: return "serializable";
    default: return "repeatable read";
    }
}

/* Opens the index environment if it is not open yet. */
static int s_index(drift_engine_t *e, drift_sqlerr_t *err)
{
    if (e->index)
        return 0;
    if (!e->data_dir)
        return drift_sqlerr_set(err, "58000", 0, "this engine has no data directory (no tables can be read)");
    char idx[PATH_MAX], logd[PATH_MAX];
    snprintf(idx, sizeof idx, "%s/index", e->data_dir);
    snprintf(logd, sizeof logd, "%s/log", e->data_dir);
    drift_index_opts_t o = {.map_size = e->opts.index_map_size, .readonly = 1};
    int rc;
    /* Right after a start the indexer may not have created the environment yet: wait for it a little. */
    for (int waited = 0;; waited += 10) {
        rc = drift_index_open(idx, logd, e->hdr, &o, &e->index);
        if (rc != DRIFT_ENOTFOUND || waited >= e->opts.wait_ms)
            break;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
        if (e->opts.heartbeat)
            atomic_store(e->opts.heartbeat, drift_now_mono_ns());
    }
    if (rc < 0)
        return drift_sqlerr_set(err, "57P03", 0, "the index is not available yet (%s): retry", drift_strerror(rc));
    return 0;
}

/* The seq a new statement must see: every commit acknowledged before it started. */
static uint64_t s_visible_seq(const drift_engine_t *e)
{
    if (!e->hdr)
        return 0;
    uint64_t w = atomic_load(&e->hdr->written_seq), c = atomic_load(&e->hdr->commit_seq);
    return w > c ? w : c;
}

/* Connects to the writer on first use. */
static int s_writer(drift_engine_t *e, drift_sqlerr_t *err)
{
    if (e->writer)
        return 0;
    if (!e->data_dir)
        return drift_sqlerr_set(err, "58000", 0, "this engine has no data directory (nothing can be written)");
    char ep[PATH_MAX + 32];
    snprintf(ep, sizeof ep, "unix:%s/run/writer.chan", e->data_dir); /* the stream link (ipc/chan.h) */
    e->writer = drift_commit_client_new(ep);
    if (!e->writer)
        return drift_sqlerr_set(err, "08006", 0, "cannot connect to the writer: %s", strerror(errno));
    return 0;
}

int drift_qctx_check(drift_qctx_t *q)
{
    if (!q || (++q->ticks & 255) != 0)
        return 0;
    uint64_t now = drift_now_mono_ns();
    if (q->heartbeat)
        atomic_store(q->heartbeat, now);
    if (q->deadline_mono_ns && now > q->deadline_mono_ns)
        return drift_sqlerr_set(q->err, "57014", 0, "canceling statement due to statement timeout");
    return 0;
}

/* Everything one statement execution holds. */
typedef struct {
    drift_engine_t *e;
    drift_session_t *s;
    drift_qctx_t q;
    drift_arena_t arena;
    drift_index_rd_t *rd;
    drift_txn_t *implicit; /* autocommit */
} s_run_t;

static void s_run_clear(s_run_t *x)
{
    drift_index_rd_end(&x->rd);
    drift_txn_destroy(&x->implicit);
    drift_arena_free(&x->arena);
}

/* Takes the snapshot and fills the query context. wt->nowait: no wait for the index, the snapshot is the seq the
 * index holds (only for statements whose every read the writer re-checks, see s_reads_nothing); otherwise the
 * statement waits (blocking; the asynchronous path parks first, so the wait is over at once) until the index
 * reaches wt->want (0: every commit acknowledged before now). */
static int s_run_begin(s_run_t *x, const drift_stmt_input_t *in, const s_wait_t *wt, drift_sqlerr_t *err)
{
    drift_engine_t *e = x->e;
    drift_session_t *s = x->s;
    memset(&x->q, 0, sizeof x->q);
    x->q.hdr = e->hdr;
    x->q.arena = &x->arena;
    x->q.err = err;
    x->q.sql = in->sql;
    x->q.sql_len = in->sql_len;
    x->q.now_ns = (int64_t)drift_now_real_ns();
    x->q.worker_id = e->opts.worker_id;
    x->q.heartbeat = e->opts.heartbeat;
    if (e->opts.statement_timeout_ms > 0)
        x->q.deadline_mono_ns = drift_now_mono_ns() + (uint64_t)e->opts.statement_timeout_ms * 1000000u;
    uint64_t want = wt->want ? wt->want : s_visible_seq(e);
    if (e->data_dir) {
        if (s_index(e, err) < 0)
            return -1;
        /* Wait in slices, refreshing the heartbeat: a worker waiting for a lagging indexer is not hung. */
        int waited = 0, rc = wt->nowait ? 0 : -ETIMEDOUT;
        while (!wt->nowait && e->hdr && waited < e->opts.wait_ms) {
            int slice = e->opts.wait_ms - waited < 100 ? e->opts.wait_ms - waited : 100;
            if ((rc = drift_index_wait(e->hdr, want, slice)) == 0)
                break;
            waited += slice;
            if (e->opts.heartbeat)
                atomic_store(e->opts.heartbeat, drift_now_mono_ns());
        }
        if (e->hdr && rc < 0)
            return drift_sqlerr_set(err, "57014", 0,
                                    "the index did not reach seq %" PRIu64 " within %d ms (index lag): retry", want,
                                    e->opts.wait_ms);
        rc = drift_index_rd_begin(e->index, &x->rd);
        if (rc < 0)
            return drift_sqlerr_set(err, "58030", 0, "cannot open an index snapshot: %s", drift_strerror(rc));
        x->q.index = e->index;
        x->q.rd = x->rd;
        uint64_t applied = drift_index_rd_seq(x->rd);
        if (applied > want || wt->nowait)
            want = applied; /* nowait: the snapshot sent to the writer is the one read, so it re-checks the rest */
    }
    if (s && s->state == DRIFT_TXN_OPEN) {
        if (s->isolation == DRIFT_ISOLATION_READ_COMMITTED || !s->has_snapshot) {
            drift_txn_set_snapshot(s->txn, want);
            s->has_snapshot = 1;
        }
        x->q.txn = s->txn;
        x->q.snap_seq = drift_txn_snapshot(s->txn);
    } else {
        x->implicit = drift_txn_new(DRIFT_ISO_REPEATABLE_READ, want);
        if (!x->implicit)
            return drift_sqlerr_set(err, "53200", 0, "out of memory");
        drift_txn_set_source(x->implicit, s ? s->source : 0);
        x->q.txn = x->implicit;
        x->q.snap_seq = want;
    }
    if (s)
        x->q.plan_off = s->plan_off;
    if (s && s->has_as_of) {
        x->q.has_default_as_of = 1;
        x->q.default_as_of = s->as_of;
    }
    if (in->has_as_of) { /* the request's as_of field: a statement-wide default */
        uint64_t seq = 0;
        int rc = in->as_of_time
                     ? drift_table_resolve_time(&x->q, in->as_of_time, in->as_of_time_len, 0, &seq)
                     : (in->as_of_seq < 0 ? drift_sqlerr_set(err, DRIFT_SQLSTATE_INVALID_PARAM, 0,
                                                             "as_of seq %" PRId64 " is negative", in->as_of_seq)
                                          : drift_table_resolve_seq(&x->q, (uint64_t)in->as_of_seq, 0, &seq));
        if (rc < 0)
            return -1;
        x->q.has_default_as_of = 1;
        x->q.default_as_of = seq;
    }
    return 0;
}

/* Resolves SET AS OF's point in the context of x. */
static int s_resolve_point(s_run_t *x, const drift_tpoint_t *p, uint64_t *ret, drift_sqlerr_t *err)
{
    uint32_t pos = p->pos; /* a byte offset: table.c turns it into a character position */
    switch (p->kind) {
    case DRIFT_TP_SEQ: return drift_table_resolve_seq(&x->q, p->seq, pos, ret);
    case DRIFT_TP_TIME: return drift_table_resolve_time(&x->q, p->time, strlen(p->time), pos, ret);
    case DRIFT_TP_EXPR: {
        drift_evalenv_t env = {.arena = &x->arena, .sql = x->q.sql, .sql_len = x->q.sql_len, .err = err,
                               .now_ns = x->q.now_ns};
        drift_value_t v;
        if (drift_expr_eval(&env, p->expr, NULL, &v) < 0)
            return -1;
        if (v.type == DRIFT_VAL_INT && v.u.i >= 0)
            return drift_table_resolve_seq(&x->q, (uint64_t)v.u.i, pos, ret);
        if (v.type == DRIFT_VAL_TEXT)
            return drift_table_resolve_time(&x->q, v.u.s.p, v.u.s.n, pos, ret);
        return drift_sqlerr_set(err, DRIFT_SQLSTATE_INVALID_PARAM, drift_lexer_charpos(x->q.sql, x->q.sql_len, pos),
                                "AS OF needs a seq (a non-negative integer) or a timestamp (text), not %s",
                                drift_val_type_name(v.type));
    }
    default:
        return drift_sqlerr_set(err, DRIFT_SQLSTATE_INVALID_PARAM, drift_lexer_charpos(x->q.sql, x->q.sql_len, pos),
                                "AS OF needs a point in time");
    }
}

static int s_is_ddl(drift_stmt_kind_t k)
{
    switch (k) {
    case DRIFT_STMT_CREATE_TABLE:
    case DRIFT_STMT_CREATE_INDEX:
    case DRIFT_STMT_DROP_TABLE:
    case DRIFT_STMT_DROP_INDEX:
    case DRIFT_STMT_ALTER_TABLE: return 1;
    default: return 0;
    }
}

/* Commits txn through the writer. */
static int s_commit(drift_engine_t *e, drift_txn_t *txn, uint64_t *ret_seq, drift_sqlerr_t *err)
{
    uint64_t ts = 0;
    *ret_seq = drift_txn_snapshot(txn);
    if (drift_txn_nops(txn) == 0)
        return 0;
    if (s_writer(e, err) < 0)
        return -1;
    int rc = drift_txn_commit(txn, e->writer, e->opts.commit_timeout_ms, ret_seq, &ts, err);
    if (rc < 0 && strcmp(err->code, "08006") == 0 && !e->writer_watched)
        drift_commit_client_destroy(&e->writer); /* a fresh socket next time: drop late replies */
    return rc;
}

/* Sends txn's commit without waiting (it has ops); its request id in *ret_id. */
static int s_commit_send(drift_engine_t *e, drift_txn_t *txn, uint64_t *ret_id, drift_sqlerr_t *err)
{
    if (s_writer(e, err) < 0)
        return -1;
    return drift_txn_commit_send(txn, e->writer, ret_id, err);
}

/* Runs one statement that reads or writes data. retry: set to 1 when an autocommit commit hit 40001; sent: set
 * to 1 when the error (if any) came from the writer (or the commit round trip), 0 when the statement failed
 * before anything was sent. park != NULL: an autocommit commit is sent without waiting and 1 is returned (park
 * filled). */
static int s_run_stmt(drift_engine_t *e, drift_session_t *s, const drift_stmt_input_t *in, drift_stmt_t *st,
                      drift_sink_t *sink, drift_sqlerr_t *err, int *retry, int *sent, s_park_t *park,
                      const s_wait_t *wt)
{
    s_run_t x = {.e = e, .s = s};
    int rc = -1;
    int64_t affected = -1;
    *retry = 0;
    *sent = 0;
    if (s_run_begin(&x, in, wt, err) < 0)
        goto out;
    if (st->kind == DRIFT_STMT_SET_AS_OF) {
        if (st->point.kind == DRIFT_TP_NOW) {
            s->has_as_of = 0;
        } else {
            uint64_t seq;
            if (s_resolve_point(&x, &st->point, &seq, err) < 0)
                goto out;
            s->has_as_of = 1;
            s->as_of = seq;
        }
        rc = sink->done(sink, -1, s->has_as_of ? s->as_of : x.q.snap_seq);
        goto out;
    }
    if (st->kind == DRIFT_STMT_SET_PARAM) { /* SET enable_indexscan / enable_hashjoin = on|off, RESET */
        static const struct {
            const char *name;
            uint32_t bit;
        } params[] = {{"enable_indexscan", DRIFT_PLAN_NO_INDEXSCAN}, {"enable_hashjoin", DRIFT_PLAN_NO_HASHJOIN}};
        uint32_t bit = 0;
        for (size_t i = 0; st->name && i < sizeof params / sizeof params[0]; i++)
            if (strcmp(st->name, params[i].name) == 0)
                bit = params[i].bit;
        if (st->name && !bit) {
            drift_sqlerr_set(err, "42704", 0, "unrecognized configuration parameter \"%s\"", st->name);
            goto out;
        }
        if (!st->name)
            s->plan_off = 0; /* RESET ALL */
        else if (st->set_value == 0)
            s->plan_off |= bit;
        else
            s->plan_off &= ~bit;
        rc = sink->done(sink, -1, s->has_as_of ? s->as_of : x.q.snap_seq);
        goto out;
    }
    if (s_is_ddl(st->kind)) {
        if (drift_ddl_execute(&x.q, st) < 0)
            goto out;
        affected = 0;
    } else if (drift_exec_statement(&x.q, st, in->params, sink, &affected) < 0) {
        goto out;
    }
    uint64_t seq = x.q.snap_seq;
    if (park && x.implicit && drift_txn_nops(x.implicit) > 0) {
        *sent = 1;
        if (s_commit_send(e, x.implicit, &park->id, err) < 0)
            goto out;
        park->affected = affected;
        park->report_as_of = x.q.has_default_as_of && affected < 0;
        park->as_of = x.q.default_as_of;
        park->nowait = wt->nowait;
        rc = 1;
        goto out;
    }
    *sent = 1;
    if (x.implicit && s_commit(e, x.implicit, &seq, err) < 0) {
        *retry = strcmp(err->code, DRIFT_SQLSTATE_SERIALIZATION) == 0;
        goto out;
    }
    if (x.q.has_default_as_of && affected < 0)
        seq = x.q.default_as_of; /* a read as of a point (SET AS OF, the request's as_of) reports that point */
    rc = sink->done(sink, affected, seq);
out:
    s_run_clear(&x);
    return rc;
}

/* BEGIN / COMMIT / ROLLBACK / SAVEPOINT / RELEASE. The state changes before sink->done so the reply carries it. */
static int s_exec_txn(drift_engine_t *e, drift_session_t *s, const drift_stmt_t *st, drift_sink_t *sink,
                      drift_sqlerr_t *err, s_park_t *park)
{
    uint64_t now = s_visible_seq(e);
    switch (st->kind) {
    case DRIFT_STMT_BEGIN:
        if (s->state != DRIFT_TXN_IDLE) {
            if (s->state == DRIFT_TXN_OPEN)
                s->state = DRIFT_TXN_FAILED;
            return drift_sqlerr_set(err, "25001", 1, "there is already a transaction in progress");
        }
        s->isolation = st->isolation == DRIFT_ISOLATION_DEFAULT ? DRIFT_ISOLATION_REPEATABLE_READ : st->isolation;
        s->txn = drift_txn_new(s_iso(s->isolation), now);
        if (!s->txn)
            return drift_sqlerr_set(err, "53200", 0, "out of memory");
        drift_txn_set_source(s->txn, s->source);
        s->state = DRIFT_TXN_OPEN;
        s->has_snapshot = 0;
        DLOG_DEBUG("session %" PRIu64 ": BEGIN %s", s->id, s_iso_name(s->isolation));
        return sink->done(sink, -1, now);
    case DRIFT_STMT_COMMIT: {
        if (s->state == DRIFT_TXN_FAILED) {
            s_txn_end(s);
            return drift_sqlerr_set(err, "40000", 1,
                                    "the transaction was rolled back because a statement in it failed");
        }
        if (s->state == DRIFT_TXN_IDLE) /* like PostgreSQL: a warning there, a no-op here */
            return sink->done(sink, -1, now);
        if (park && drift_txn_nops(s->txn) > 0) { /* sent now, finished by drift_engine_resume */
            int rc = s_commit_send(e, s->txn, &park->id, err);
            s_txn_end(s);
            if (rc < 0)
                return -1;
            park->affected = 0;
            return 1;
        }
        uint64_t seq = 0;
        int rc = s_commit(e, s->txn, &seq, err);
        s_txn_end(s); /* committed or not, the transaction is over */
        if (rc < 0)
            return -1;
        return sink->done(sink, 0, seq);
    }
    case DRIFT_STMT_ROLLBACK:
        if (st->name) { /* ROLLBACK TO SAVEPOINT: the transaction goes on (and leaves the failed state) */
            if (s->state == DRIFT_TXN_IDLE)
                return drift_sqlerr_set(err, "25P01", 1, "ROLLBACK TO SAVEPOINT can only be used in transaction blocks");
            if (drift_txn_rollback_to(s->txn, st->name) < 0) {
                s->state = DRIFT_TXN_FAILED;
                return drift_sqlerr_set(err, "3B001", 1, "savepoint \"%s\" does not exist", st->name);
            }
            s->state = DRIFT_TXN_OPEN;
            return sink->done(sink, -1, drift_txn_snapshot(s->txn));
        }
        s_txn_end(s); /* also when idle, like PostgreSQL: a no-op */
        return sink->done(sink, -1, now);
    case DRIFT_STMT_SAVEPOINT:
    case DRIFT_STMT_RELEASE: {
        const char *what = st->kind == DRIFT_STMT_SAVEPOINT ? "SAVEPOINT" : "RELEASE SAVEPOINT";
        if (s->state == DRIFT_TXN_IDLE)
            return drift_sqlerr_set(err, "25P01", 1, "%s can only be used in transaction blocks", what);
        int rc = st->kind == DRIFT_STMT_SAVEPOINT ? drift_txn_savepoint(s->txn, st->name)
                                                  : drift_txn_release(s->txn, st->name);
        if (rc == DRIFT_ENOTFOUND) {
            s->state = DRIFT_TXN_FAILED;
            return drift_sqlerr_set(err, "3B001", 1, "savepoint \"%s\" does not exist", st->name);
        }
        if (rc < 0)
            return drift_sqlerr_set(err, "53200", 0, "out of memory");
        return sink->done(sink, -1, drift_txn_snapshot(s->txn));
    }
    default: return drift_sqlerr_set(err, DRIFT_SQLSTATE_INTERNAL, 0, "not a transaction statement");
    }
}

static int s_is_txn_stmt(drift_stmt_kind_t k)
{
    return k == DRIFT_STMT_BEGIN || k == DRIFT_STMT_COMMIT || k == DRIFT_STMT_ROLLBACK || k == DRIFT_STMT_SAVEPOINT ||
           k == DRIFT_STMT_RELEASE;
}

/* The pause before the re-run after attempt: 0.1 ms .. 6.4 ms. */
static uint64_t s_backoff_ns(int attempt)
{
    return 100000ull << (attempt < 6 ? attempt : 6);
}

/* Before an autocommit re-run after 40001: a fresh tree (the executor writes binder fields into it) and a short
 * back-off (none when backoff is 0: a re-run that waits for the index instead). */
static int s_rerun_prepare(drift_session_t *s, const drift_stmt_input_t *in, drift_ast_t **ast, int attempt,
                           drift_sqlerr_t *err, int backoff)
{
    DLOG_DEBUG("session %" PRIu64 ": autocommit statement retried after %s (%s)", s->id, err->code, err->message);
    drift_ast_destroy(ast);
    if (drift_parse(in->sql, in->sql_len, ast, err) < 0)
        return -1;
    if (backoff) {
        struct timespec ts = {0, (long)s_backoff_ns(attempt)};
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* Whether an expression can be computed without reading any table (no subquery, no column). */
static int s_node_pure(const drift_node_t *n)
{
    if (!n)
        return 1;
    switch (n->kind) {
    case DRIFT_AST_COLUMN:
    case DRIFT_AST_STAR:
    case DRIFT_AST_IN_SELECT:
    case DRIFT_AST_EXISTS:
    case DRIFT_AST_SUBQUERY: return 0;
    default: break;
    }
    if (n->sub || !s_node_pure(n->l) || !s_node_pure(n->r))
        return 0;
    for (uint32_t i = 0; i < n->nargs; i++)
        if (!s_node_pure(n->args[i]))
            return 0;
    return 1;
}

/* Whether st may run at the snapshot the index holds, without waiting for every acknowledged commit
 * (read-your-writes): an autocommit INSERT ... VALUES / DEFAULT VALUES / {json} of expressions without
 * subqueries, outside a transaction, without AS OF. What such a statement reads at its snapshot — the
 * table's definition, whether its primary key and UNIQUE values are live — the writer checks again against
 * the newest state: a row or UNIQUE value that is live now is 23505 there, a table altered or dropped after
 * the snapshot is 40001 ("altered after snapshot"), a key changed after it is 40001 (repeatable read). So the
 * snapshot sent to the writer is the one actually read (s_run_begin), and a run that fails on something it
 * read (any error before the commit, 40001 or 23505 from the writer) is run again, waiting for the index as
 * every other statement does (s_run_loop, drift_engine_resume): its outcome is then the waiting path's. Not
 * in this class: INSERT ... SELECT, REPLACE (it deletes the live rows it finds), DDL, anything in BEGIN. */
static int s_reads_nothing(const drift_session_t *s, const drift_stmt_input_t *in, const drift_stmt_t *st)
{
    if (!s || s->state != DRIFT_TXN_IDLE || s->has_as_of || in->has_as_of || !st)
        return 0;
    if (st->kind != DRIFT_STMT_INSERT || st->replace)
        return 0;
    if (st->json)
        return s_node_pure(st->json);
    const drift_select_t *v = st->select;
    if (!v) /* DEFAULT VALUES */
        return 1;
    if (!v->values || v->nvalues == 0 || v->items || v->from || v->where || v->ngroup_by || v->having ||
        v->setop != DRIFT_SETOP_NONE || v->next || v->norder_by || v->limit || v->offset)
        return 0;
    for (uint32_t i = 0; i < v->nvalues; i++)
        for (uint32_t j = 0; j < v->nitems; j++)
            if (!s_node_pure(v->values[i][j])) /* NULL: DEFAULT, the column's constant default */
                return 0;
    return 1;
}

/* A nowait run's error that a run waiting for the index could answer differently. sent: it came from the
 * writer (08006 there means the outcome is unknown: never re-run). */
static int s_nowait_refused(const drift_sqlerr_t *err, int sent)
{
    if (!sent)
        return 1;
    return strcmp(err->code, DRIFT_SQLSTATE_SERIALIZATION) == 0 || strcmp(err->code, "23505") == 0;
}

/* Whether the index has not applied want yet (want 0: every commit acknowledged so far). */
static int s_index_behind(const drift_engine_t *e, uint64_t *want)
{
    if (!*want)
        *want = s_visible_seq(e);
    return e->data_dir && e->hdr && atomic_load_explicit(&e->hdr->indexed_seq, memory_order_acquire) < *want;
}

/* Runs a statement (not a transaction statement) from attempt on, re-running an autocommit statement on 40001;
 * *ast may be replaced. fast: the first run may skip the index wait (s_reads_nothing). want: the seq the
 * first run waits for (0: every commit acknowledged now). With park (asynchronous), a run that must wait for
 * the index parks instead (park->index, park->want). Returns 0, -1, or 1 (parked; *ret_attempt = the attempt
 * that parked). */
static int s_run_loop(drift_engine_t *e, drift_session_t *s, const drift_stmt_input_t *in, drift_ast_t **ast,
                      drift_sink_t *sink, drift_sqlerr_t *err, int attempt, s_park_t *park, int *ret_attempt,
                      int fast, uint64_t want)
{
    int rc;
    for (;; attempt++) {
        int retry = 0, sent = 0;
        drift_stmt_t *st = drift_ast_stmt(*ast);
        s_wait_t wt = {.nowait = fast && s_reads_nothing(s, in, st), .want = want};
        want = 0; /* a re-run sees every commit acknowledged before it */
        if (!wt.nowait && park && s_index_behind(e, &wt.want)) {
            park->index = 1;
            park->want = wt.want;
            rc = 1;
            break;
        }
        rc = s_run_stmt(e, s, in, st, sink, err, &retry, &sent, park, &wt);
        if (rc >= 0)
            break;
        if (wt.nowait && s_nowait_refused(err, sent)) { /* again, waiting for the index: no back-off */
            DLOG_DEBUG("session %" PRIu64 ": statement run again after %s without waiting for the index", s->id,
                       err->code);
            fast = 0;
            attempt--;
            if (s_rerun_prepare(s, in, ast, attempt, err, 0) < 0)
                break;
            continue;
        }
        if (!retry || attempt >= DRIFT_ENGINE_RETRIES)
            break;
        if (s_rerun_prepare(s, in, ast, attempt, err, !park) < 0)
            break;
        if (park) { /* the back-off parks the statement instead of sleeping in the worker */
            park->index = 1;
            park->want = 0;
            park->not_before = drift_now_mono_ns() + s_backoff_ns(attempt);
            attempt++;
            rc = 1;
            break;
        }
    }
    *ret_attempt = attempt;
    return rc;
}

/* Links p as parked by pk: waiting for the writer's reply to commit pk->id (within commit_timeout_ms), or for
 * the index to reach pk->want (within wait_ms). */
static void s_pending_link(drift_engine_t *e, drift_engine_pending_t *p, const s_park_t *pk)
{
    p->on_index = pk->index;
    p->want = pk->want;
    p->not_before = pk->index ? pk->not_before : 0;
    p->nowait = pk->nowait;
    p->id = pk->index ? 0 : pk->id;
    p->affected = pk->affected;
    p->report_as_of = pk->report_as_of;
    p->as_of = pk->as_of;
    p->timed_out = p->replied = p->lost = 0;
    p->wgen = e->writer ? drift_commit_client_gen(e->writer) : 0; /* linked right after the send */
    int ms = pk->index ? e->opts.wait_ms : e->opts.commit_timeout_ms;
    p->deadline_ns = ms < 0 ? UINT64_MAX : drift_now_mono_ns() + (uint64_t)ms * 1000000u;
    drift_engine_pending_t **head = p->on_index ? &e->iwait : &e->pending;
    p->prev = NULL;
    p->next = *head;
    if (*head)
        (*head)->prev = p;
    *head = p;
    p->linked = 1;
    if (p->on_index)
        e->niwait++;
}

static void s_pending_unlink(drift_engine_t *e, drift_engine_pending_t *p)
{
    if (!p->linked)
        return;
    if (p->prev)
        p->prev->next = p->next;
    else if (p->on_index)
        e->iwait = p->next;
    else
        e->pending = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
    p->linked = 0;
    if (p->on_index)
        e->niwait--;
}

/* execute and execute_async; pend_p == NULL: blocking commits. */
static int s_execute(drift_engine_t *self, drift_session_t *s, const drift_stmt_input_t *in, drift_sink_t *sink,
                     drift_sqlerr_t *err, void *user, drift_engine_pending_t **pend_p)
{
    drift_ast_t *ast = NULL;
    drift_session_t *tmp = NULL;
    drift_engine_pending_t *p = NULL;
    s_park_t park = {0}, *pk = NULL;
    int rc = -1, attempt = 0;
    sink->err = err;
    if (!s && !(s = tmp = drift_session_new(self, 0)))
        return drift_sqlerr_set(err, "53200", 0, "out of memory");
    if (pend_p && !tmp) { /* allocated before anything is sent: a commit in flight always has its record */
        if (!(p = calloc(1, sizeof *p))) {
            drift_sqlerr_set(err, "53200", 0, "out of memory");
            goto out;
        }
        pk = &park;
    }
    if (drift_parse(in->sql, in->sql_len, &ast, err) < 0)
        goto out;
    drift_stmt_t *st = drift_ast_stmt(ast);
    if (s->state == DRIFT_TXN_FAILED && st->kind != DRIFT_STMT_COMMIT &&
        !(st->kind == DRIFT_STMT_ROLLBACK)) {
        drift_sqlerr_set(err, DRIFT_SQLSTATE_FAILED_TXN, 0,
                         "current transaction is aborted, commands ignored until end of transaction block");
        goto out;
    }
    if (s_is_txn_stmt(st->kind)) {
        rc = s_exec_txn(self, s, st, sink, err, pk);
        if (rc == 1)
            p->is_commit = 1;
        goto out;
    }
    rc = s_run_loop(self, s, in, &ast, sink, err, 0, pk, &attempt, 1, 0);
    if (rc == 1) {
        p->ast = ast; /* kept for a re-run */
        ast = NULL;
    }
out:
    /* A failed statement inside a transaction fails the transaction (until ROLLBACK). */
    if (rc < 0 && s->state == DRIFT_TXN_OPEN && !(ast && s_is_txn_stmt(drift_ast_stmt(ast)->kind)))
        s->state = DRIFT_TXN_FAILED;
    drift_ast_destroy(&ast);
    drift_session_destroy(&tmp);
    if (rc == 1) {
        p->user = user;
        p->s = s;
        p->in = *in;
        p->sink = sink;
        p->attempt = attempt;
        s_pending_link(self, p, &park);
        *pend_p = p;
    } else {
        free(p);
    }
    return rc;
}

int drift_engine_execute(drift_engine_t *self, drift_session_t *s, const drift_stmt_input_t *in, drift_sink_t *sink,
                         drift_sqlerr_t *err)
{
    return s_execute(self, s, in, sink, err, NULL, NULL);
}

int drift_engine_execute_async(drift_engine_t *self, drift_session_t *s, const drift_stmt_input_t *in, drift_sink_t *sink,
                               drift_sqlerr_t *err, void *user, drift_engine_pending_t **ret_pend)
{
    *ret_pend = NULL;
    return s_execute(self, s, in, sink, err, user, ret_pend);
}

void *drift_engine_writer_socket(drift_engine_t *self, drift_sqlerr_t *err)
{
    if (s_writer(self, err) < 0)
        return NULL;
    self->writer_watched = 1;
    return drift_commit_client_socket(self->writer);
}

int drift_engine_writer_watch(drift_engine_t *self, struct event_base *base, void (*fn)(void *arg), void *arg,
                              drift_sqlerr_t *err)
{
    if (s_writer(self, err) < 0)
        return -1;
    int rc = drift_commit_client_watch(self->writer, base, fn, arg);
    if (rc < 0)
        return drift_sqlerr_set(err, "58000", 0, "cannot watch the writer connection: %s", strerror(-rc));
    self->writer_watched = 1;
    return 0;
}

int drift_engine_writer_recv(drift_engine_t *self, drift_engine_pending_t **ret_pend)
{
    *ret_pend = NULL;
    if (!self->writer)
        return 0;
    drift_commit_reply_t r;
    int rc = drift_commit_client_try_recv(self->writer, &r);
    if (rc == DRIFT_EPROTO)
        return 1; /* undecodable: not ours to judge (the blocking path ignores it too) */
    if (rc == -ECONNRESET) {
        /* The connection dropped (the writer restarted): no commit in flight will be answered. They fail now,
         * through drift_engine_expired (08006, outcome unknown); later commits go over the next connection. */
        uint64_t gen = drift_commit_client_gen(self->writer);
        for (drift_engine_pending_t *p = self->pending; p; p = p->next)
            if (p->wgen < gen) { /* sent on the connection that dropped (not queued for the next one) */
                p->lost = 1;
                p->deadline_ns = 0;
            }
        return 1;
    }
    if (rc < 0)
        return 0;
    for (drift_engine_pending_t *p = self->pending; p; p = p->next)
        if (p->id == r.id) {
            s_pending_unlink(self, p);
            p->reply = r;
            p->replied = 1;
            *ret_pend = p;
            break;
        }
    return 1; /* an unknown id: a late reply to a commit that timed out */
}

drift_engine_pending_t *drift_engine_expired(drift_engine_t *self, uint64_t now_mono_ns)
{
    for (drift_engine_pending_t *p = self->pending; p; p = p->next)
        if (now_mono_ns > p->deadline_ns) {
            s_pending_unlink(self, p);
            p->timed_out = 1;
            return p;
        }
    return NULL;
}

int drift_engine_index_waiting(const drift_engine_t *self)
{
    return self ? self->niwait : 0;
}

drift_engine_pending_t *drift_engine_index_ready(drift_engine_t *self, uint64_t now_mono_ns)
{
    if (!self->iwait)
        return NULL;
    uint64_t indexed = self->hdr ? atomic_load_explicit(&self->hdr->indexed_seq, memory_order_acquire) : UINT64_MAX;
    for (drift_engine_pending_t *p = self->iwait; p; p = p->next)
        if ((indexed >= p->want && now_mono_ns >= p->not_before) || now_mono_ns > p->deadline_ns) {
            p->timed_out = indexed < p->want;
            s_pending_unlink(self, p);
            return p;
        }
    return NULL;
}

void *drift_engine_pending_user(const drift_engine_pending_t *p)
{
    return p ? p->user : NULL;
}

int drift_engine_resume(drift_engine_t *self, drift_engine_pending_t *p, drift_sqlerr_t *err,
                        drift_engine_pending_t **ret_pend)
{
    drift_sink_t *sink = p->sink;
    uint64_t seq = 0, ts = 0, want = 0;
    int rc = -1, run = 0, attempt0 = p->attempt;
    *ret_pend = NULL;
    sink->err = err;
    s_pending_unlink(self, p);
    if (p->on_index) { /* the index reached the statement's seq (or did not in time): run it now */
        if (p->timed_out)
            rc = drift_sqlerr_set(err, "57014", 0,
                                  "the index did not reach seq %" PRIu64 " within %d ms (index lag): retry", p->want,
                                  self->opts.wait_ms);
        else
            run = 1, want = p->want;
    } else {
        if (p->lost)
            rc = drift_sqlerr_set(err, "08006", 0,
                                  "the connection to the writer was lost while the commit was in flight (the writer "
                                  "restarted); its outcome is unknown");
        else if (p->timed_out || !p->replied)
            rc = drift_sqlerr_set(err, "08006", 0,
                                  "the writer did not answer the commit within %d ms (its outcome is unknown)",
                                  self->opts.commit_timeout_ms);
        else
            rc = drift_txn_commit_reply(&p->reply, &seq, &ts, err);
        if (rc == 0) {
            rc = sink->done(sink, p->affected, p->report_as_of ? p->as_of : seq);
        } else if (!p->is_commit && p->ast && p->nowait && s_nowait_refused(err, 1)) {
            /* it read at the index's seq without waiting: again, waiting (s_reads_nothing) */
            run = s_rerun_prepare(p->s, &p->in, &p->ast, p->attempt, err, 0) == 0;
        } else if (!p->is_commit && p->ast && strcmp(err->code, DRIFT_SQLSTATE_SERIALIZATION) == 0 &&
                   p->attempt < DRIFT_ENGINE_RETRIES && s_rerun_prepare(p->s, &p->in, &p->ast, p->attempt, err, 0) == 0) {
            /* re-run after a back-off, parked rather than slept (drift_engine_index_ready) */
            s_park_t park = {.index = 1, .not_before = drift_now_mono_ns() + s_backoff_ns(p->attempt)};
            p->attempt++;
            s_pending_link(self, p, &park);
            *ret_pend = p;
            return 1;
        }
    }
    if (run) {
        s_park_t park = {0};
        int attempt = 0;
        rc = s_run_loop(self, p->s, &p->in, &p->ast, sink, err, attempt0, &park, &attempt, 0, want);
        if (rc == 1) { /* parked again (for the writer or the index): the same record */
            p->attempt = attempt;
            s_pending_link(self, p, &park);
            *ret_pend = p;
            return 1;
        }
    }
    /* A failed statement inside a transaction fails the transaction (as in s_execute). */
    if (rc < 0 && p->s->state == DRIFT_TXN_OPEN)
        p->s->state = DRIFT_TXN_FAILED;
    drift_engine_pending_destroy(&p);
    return rc;
}

void drift_engine_pending_destroy(drift_engine_pending_t **p_p)
{
    if (!p_p || !*p_p)
        return;
    drift_engine_pending_t *p = *p_p;
    /* A linked record belongs to an engine's list: find it through the session. */
    if (p->linked)
        s_pending_unlink(p->s->engine, p);
    drift_ast_destroy(&p->ast);
    free(p);
    *p_p = NULL;
}

/* ---- gateway fast path ----
 * drift_engine_execute_bounded (engine.h): the gateway runs short read-only statements itself. Owned by the
 * gateway fast-path work; everything above this banner is the query worker's engine. Only the struct
 * drift_engine fields (hdr, opts, data_dir, index) and the public headers are used here. */

/* Functions a bounded read may call: each costs time and memory proportional to its inputs (no zeroblob,
 * printf widths, replace blow-ups, no randomness or clock). Aggregates are not among them. */
static int s_fast_func_ok(const char *name)
{
    static const char *const ok[] = {"abs",   "coalesce", "ifnull", "nullif", "lower",  "upper",
                                     "length", "typeof",  "trim",   "ltrim",  "rtrim",  "substr",
                                     "substring", "round", "instr", "json_extract", NULL};
    for (int i = 0; name && ok[i]; i++)
        if (strcmp(name, ok[i]) == 0)
            return 1;
    return 0;
}

/* An expression a bounded read may evaluate: no subquery, only s_fast_func_ok functions. */
static int s_fast_expr_ok(const drift_node_t *n, int depth)
{
    if (!n)
        return 1;
    if (depth > 64)
        return 0;
    switch (n->kind) {
    case DRIFT_AST_IN_SELECT:
    case DRIFT_AST_EXISTS:
    case DRIFT_AST_SUBQUERY: return 0;
    case DRIFT_AST_FUNC:
        if (n->star || n->distinct || !s_fast_func_ok(n->name))
            return 0;
        break;
    default: break;
    }
    if (!s_fast_expr_ok(n->l, depth + 1) || !s_fast_expr_ok(n->r, depth + 1))
        return 0;
    for (uint32_t i = 0; i < n->nargs; i++)
        if (!s_fast_expr_ok(n->args[i], depth + 1))
            return 0;
    return 1;
}

static int s_fast_point_ok(const drift_tpoint_t *p)
{
    return p->kind != DRIFT_TP_EXPR ||
           (p->expr && (p->expr->kind == DRIFT_AST_LITERAL || p->expr->kind == DRIFT_AST_PARAM));
}

/* The statement's shape: one SELECT of one table, nothing that multiplies work. */
static int s_fast_shape_ok(const drift_stmt_t *st)
{
    const drift_select_t *s = st->select;
    if (st->kind != DRIFT_STMT_SELECT || !s || s->setop != DRIFT_SETOP_NONE || s->next || s->ngroup_by || s->having ||
        s->nvalues || !s->items || !s->from || s->from->kind != DRIFT_FROM_TABLE)
        return 0;
    if (!s_fast_point_ok(&s->from->temporal.a) || !s_fast_point_ok(&s->from->temporal.b))
        return 0;
    for (uint32_t i = 0; i < s->nitems; i++)
        if (!s_fast_expr_ok(s->items[i].expr, 0))
            return 0;
    for (uint32_t i = 0; i < s->norder_by; i++)
        if (!s_fast_expr_ok(s->order_by[i].expr, 0))
            return 0;
    return s_fast_expr_ok(s->where, 0) && s_fast_expr_ok(s->limit, 0) && s_fast_expr_ok(s->offset, 0);
}

/* EXPLAIN lines, collected by a sink (the plan of the statement, nothing executed). */
typedef struct {
    drift_sink_t sink;
    drift_arena_t *arena;
    const char *lines[32];
    uint32_t n;
    int overflow;
} s_fast_plan_t;

static int s_fast_plan_columns(drift_sink_t *sink, uint32_t n, const char *const *names, const char *const *types)
{
    (void)sink, (void)n, (void)names, (void)types;
    return 0;
}

static int s_fast_plan_row(drift_sink_t *sink, const drift_value_t *vals, uint32_t n)
{
    s_fast_plan_t *p = (s_fast_plan_t *)sink;
    if (n != 1 || vals[0].type != DRIFT_VAL_TEXT || p->n >= sizeof p->lines / sizeof p->lines[0]) {
        p->overflow = 1;
        return 0;
    }
    const char *l = drift_arena_strndup(p->arena, vals[0].u.s.p, vals[0].u.s.n);
    if (!l)
        return drift_sqlerr_set(sink->err, "53200", 0, "out of memory");
    p->lines[p->n++] = l;
    return 0;
}

static int s_fast_plan_done(drift_sink_t *sink, int64_t affected, uint64_t seq)
{
    (void)sink, (void)affected, (void)seq;
    return 0;
}

static int s_fast_prefix(const char *l, const char *p)
{
    return strncmp(l, p, strlen(p)) == 0;
}

/* Whether the plan lines describe a bounded read: exactly one relation, the table the statement names (a view
 * shows its base table instead, and its text was not shape-checked), reached by a pk point / IN lookup, a pk
 * history lookup, or an index equality lookup, estimated at most max_rows rows; only filters, sorts, DISTINCT
 * and LIMIT around it. */
static int s_fast_plan_ok(const s_fast_plan_t *p, const char *table, uint32_t max_rows)
{
    int access = 0;
    if (p->overflow || p->n == 0)
        return 0;
    for (uint32_t i = 0; i < p->n; i++) {
        const char *l = p->lines[i];
        while (*l == ' ')
            l++;
        if (s_fast_prefix(l, "FILTER ") || s_fast_prefix(l, "SORT (") || s_fast_prefix(l, "ORDER BY KEY") ||
            s_fast_prefix(l, "LIMIT ") || s_fast_prefix(l, "OFFSET ") || strcmp(l, "DISTINCT") == 0 ||
            s_fast_prefix(l, "CONDITION "))
            continue;
        int pk = s_fast_prefix(l, "PK LOOKUP ") || s_fast_prefix(l, "PK VERSION LOOKUP ");
        int ix = s_fast_prefix(l, "INDEX SCAN ");
        if ((!pk && !ix) || access++)
            return 0;
        const char *kw = strstr(l, pk ? "LOOKUP " : "SCAN "); /* then the table's name */
        const char *name = kw ? strchr(kw, ' ') : NULL;
        size_t tl = table ? strlen(table) : 0;
        if (!name || !tl || strncmp(name + 1, table, tl) != 0 || name[1 + tl] != ' ')
            return 0;
        const char *est = strstr(l, "(rows=");
        if (!est || strtoull(est + 6, NULL, 10) > max_rows)
            return 0;
        if (ix) { /* equality (or IN) on the index columns only: no range bound in the key text */
            const char *k = strchr(l, '(');
            const char *e = k ? strstr(k, ") AS OF") : NULL;
            if (!e)
                return 0;
            for (const char *c = k; c < e; c++)
                if (*c == '<' || *c == '>')
                    return 0;
        }
    }
    return access == 1;
}

/* Row-count estimates of the tables fast reads plan with, reused while the index snapshot seq stays the same
 * (counting walks up to 1000 rows: more than the point read itself). One per process: the gateway has one
 * engine; the entries are keyed by the index they were counted in. */
static drift_est_cache_t s_fast_est;

/* Decoded table definitions of fast reads (table.h): without it every read decodes its TABLEDEF twice (the
 * definition and its extras), about 40 % of a point read's instructions. One per process, like s_fast_est; keyed
 * by the definition's bytes, so it serves every point in time and needs no invalidation. */
static drift_tdef_cache_t *s_fast_tdefs;

/* Opens the index without waiting for it (the gateway must never block): 0, or 1 when it is not there yet. */
static int s_fast_index(drift_engine_t *e, drift_sqlerr_t *err)
{
    if (e->index)
        return 0;
    if (!e->data_dir || !e->hdr) {
        drift_sqlerr_set(err, "58000", 0, "this engine has no data directory");
        return 1;
    }
    char idx[PATH_MAX], logd[PATH_MAX];
    snprintf(idx, sizeof idx, "%s/index", e->data_dir);
    snprintf(logd, sizeof logd, "%s/log", e->data_dir);
    drift_index_opts_t o = {.map_size = e->opts.index_map_size, .readonly = 1};
    int rc = drift_index_open(idx, logd, e->hdr, &o, &e->index);
    if (rc < 0) {
        drift_sqlerr_set(err, "57P03", 0, "the index is not available (%s)", drift_strerror(rc));
        return 1;
    }
    return 0;
}

drift_fast_rc_t drift_engine_execute_bounded(drift_engine_t *self, const drift_stmt_input_t *in,
                                             const drift_fast_opts_t *opts, drift_sink_t *sink, drift_sqlerr_t *err)
{
    drift_ast_t *ast = NULL;
    drift_arena_t arena;
    drift_index_rd_t *rd = NULL;
    drift_txn_t *txn = NULL;
    drift_qctx_t q;
    drift_fast_rc_t rc = DRIFT_FAST_NOT_NOW;
    int64_t affected = -1;
    memset(&arena, 0, sizeof arena);
    sink->err = err;
    if (drift_parse(in->sql, in->sql_len, &ast, err) < 0)
        goto out; /* the worker answers the error */
    if (!s_fast_shape_ok(drift_ast_stmt(ast))) {
        rc = DRIFT_FAST_INELIGIBLE;
        goto out;
    }
    if (s_fast_index(self, err) != 0)
        goto out;
    int irc = drift_index_rd_begin(self->index, &rd);
    if (irc < 0) {
        drift_sqlerr_set(err, "58030", 0, "cannot open an index snapshot: %s", drift_strerror(irc));
        goto out;
    }
    uint64_t snap = drift_index_rd_seq(rd);
    if (snap < opts->min_seq) { /* the session's last write is not indexed yet: a worker waits for it */
        drift_sqlerr_set(err, "57014", 0, "index at %" PRIu64 ", the session needs %" PRIu64, snap, opts->min_seq);
        goto out;
    }
    /* What a worker's autocommit read gets (s_run_begin), at the index's applied seq, without waiting. */
    memset(&q, 0, sizeof q);
    q.hdr = self->hdr;
    q.arena = &arena;
    q.err = err;
    q.sql = in->sql;
    q.sql_len = in->sql_len;
    q.now_ns = (int64_t)drift_now_real_ns();
    q.worker_id = self->opts.worker_id;
    q.heartbeat = self->opts.heartbeat;
    q.index = self->index;
    q.rd = rd;
    q.snap_seq = snap;
    q.est_cache = &s_fast_est;
    if (!s_fast_tdefs)
        s_fast_tdefs = drift_tdef_cache_new(); /* NULL (out of memory): every open decodes, as without it */
    drift_tdef_cache_trim(s_fast_tdefs);      /* between statements: no table opened from it is in use */
    q.tdef_cache = s_fast_tdefs;
    if (!(txn = drift_txn_new(DRIFT_ISO_REPEATABLE_READ, snap))) {
        drift_sqlerr_set(err, "53200", 0, "out of memory");
        goto out;
    }
    q.txn = txn;
    if (in->has_as_of) {
        uint64_t seq = 0;
        int arc;
        if (in->as_of_time)
            arc = drift_table_resolve_time(&q, in->as_of_time, in->as_of_time_len, 0, &seq);
        else if (in->as_of_seq < 0)
            arc = drift_sqlerr_set(err, DRIFT_SQLSTATE_INVALID_PARAM, 0, "as_of seq %" PRId64 " is negative",
                                   in->as_of_seq);
        else
            arc = drift_table_resolve_seq(&q, (uint64_t)in->as_of_seq, 0, &seq);
        if (arc < 0)
            goto out;
        q.has_default_as_of = 1;
        q.default_as_of = seq;
    }
    /* The row budget: drift_qctx_check looks at the deadline every 256 rows stepped over, and this one has
     * always passed, so the 256th stops the statement (57014, turned into DRIFT_FAST_INELIGIBLE below). */
    q.deadline_mono_ns = 1;
    if (opts->check_plan) {
        s_fast_plan_t plan = {.sink = {.columns = s_fast_plan_columns, .row = s_fast_plan_row,
                                       .done = s_fast_plan_done, .err = err},
                              .arena = &arena};
        drift_stmt_t ex;
        memset(&ex, 0, sizeof ex);
        ex.kind = DRIFT_STMT_EXPLAIN;
        ex.pos = drift_ast_stmt(ast)->pos;
        ex.inner = drift_ast_stmt(ast);
        if (drift_exec_statement(&q, &ex, in->params, &plan.sink, &affected) < 0)
            goto out;
        if (!s_fast_plan_ok(&plan, drift_ast_stmt(ast)->select->from->name,
                            opts->max_est_rows ? opts->max_est_rows : 100)) {
            rc = DRIFT_FAST_INELIGIBLE;
            goto out;
        }
        /* The binder wrote into the tree: the run gets a fresh one. */
        drift_ast_destroy(&ast);
        if (drift_parse(in->sql, in->sql_len, &ast, err) < 0)
            goto out;
        q.ticks = 0;
    }
    affected = -1;
    if (drift_exec_statement(&q, drift_ast_stmt(ast), in->params, sink, &affected) < 0) {
        if (q.ticks >= 256 && strcmp(err->code, "57014") == 0)
            rc = DRIFT_FAST_INELIGIBLE; /* more rows than a bounded read steps over */
        goto out;
    }
    if (affected >= 0 || drift_txn_nops(txn) > 0) { /* a read never writes; if it did, a worker must do it */
        drift_sqlerr_set(err, DRIFT_SQLSTATE_INTERNAL, 0, "a bounded read produced writes");
        rc = DRIFT_FAST_INELIGIBLE;
        goto out;
    }
    if (sink->done(sink, -1, q.has_default_as_of ? q.default_as_of : snap) < 0)
        goto out;
    rc = DRIFT_FAST_ANSWERED;
out:
    drift_txn_destroy(&txn);
    drift_index_rd_end(&rd);
    drift_arena_free(&arena);
    drift_ast_destroy(&ast);
    return rc;
}
