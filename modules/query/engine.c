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
 * statement. Inside BEGIN ... COMMIT, REPEATABLE READ and SERIALIZABLE fix the
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
};

struct drift_session {
    drift_engine_t *engine;
    uint64_t id;
    drift_txn_state_t state;
    drift_isolation_t isolation;
    drift_txn_t *txn;  /* the open explicit transaction (NULL when idle) */
    int has_snapshot;  /* REPEATABLE READ / SERIALIZABLE: fixed by the first statement */
    int has_as_of;     /* SET AS OF: the session default for tables without a temporal clause */
    uint64_t as_of;
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
    return s && (s->state != DRIFT_TXN_IDLE || s->has_as_of);
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
    snprintf(ep, sizeof ep, "ipc://%s/run/writer.sock", e->data_dir);
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

/* Takes the snapshot and fills the query context. */
static int s_run_begin(s_run_t *x, const drift_stmt_input_t *in, drift_sqlerr_t *err)
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
    uint64_t want = s_visible_seq(e);
    if (e->data_dir) {
        if (s_index(e, err) < 0)
            return -1;
        /* Wait in slices, refreshing the heartbeat: a worker waiting for a lagging indexer is not hung. */
        int waited = 0, rc = -ETIMEDOUT;
        while (e->hdr && waited < e->opts.wait_ms) {
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
        if (applied > want)
            want = applied;
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
        x->q.txn = x->implicit;
        x->q.snap_seq = want;
    }
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
    if (rc < 0 && strcmp(err->code, "08006") == 0)
        drift_commit_client_destroy(&e->writer); /* a fresh socket next time: drop late replies */
    return rc;
}

/* Runs one statement that reads or writes data. retry: set to 1 when an autocommit commit hit 40001. */
static int s_run_stmt(drift_engine_t *e, drift_session_t *s, const drift_stmt_input_t *in, drift_stmt_t *st,
                      drift_sink_t *sink, drift_sqlerr_t *err, int *retry)
{
    s_run_t x = {.e = e, .s = s};
    int rc = -1;
    int64_t affected = -1;
    *retry = 0;
    if (s_run_begin(&x, in, err) < 0)
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
    if (s_is_ddl(st->kind)) {
        if (drift_ddl_execute(&x.q, st) < 0)
            goto out;
        affected = 0;
    } else if (drift_exec_statement(&x.q, st, in->params, sink, &affected) < 0) {
        goto out;
    }
    uint64_t seq = x.q.snap_seq;
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
                      drift_sqlerr_t *err)
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

int drift_engine_execute(drift_engine_t *self, drift_session_t *s, const drift_stmt_input_t *in, drift_sink_t *sink,
                         drift_sqlerr_t *err)
{
    drift_ast_t *ast = NULL;
    drift_session_t *tmp = NULL;
    int rc = -1;
    sink->err = err;
    if (!s && !(s = tmp = drift_session_new(self, 0)))
        return drift_sqlerr_set(err, "53200", 0, "out of memory");
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
        rc = s_exec_txn(self, s, st, sink, err);
        goto out;
    }
    for (int attempt = 0;; attempt++) {
        int retry = 0;
        rc = s_run_stmt(self, s, in, st, sink, err, &retry);
        if (rc == 0 || !retry || attempt >= DRIFT_ENGINE_RETRIES)
            break;
        DLOG_DEBUG("session %" PRIu64 ": autocommit statement retried after %s (%s)", s->id, err->code, err->message);
        /* Re-parse: the executor writes binder fields into the tree. */
        drift_ast_destroy(&ast);
        if (drift_parse(in->sql, in->sql_len, &ast, err) < 0)
            goto out;
        st = drift_ast_stmt(ast);
        struct timespec ts = {0, (long)(100000L << (attempt < 6 ? attempt : 6))}; /* 0.1 ms .. 6.4 ms */
        nanosleep(&ts, NULL);
    }
out:
    /* A failed statement inside a transaction fails the transaction (until ROLLBACK). */
    if (rc < 0 && s->state == DRIFT_TXN_OPEN && !(ast && s_is_txn_stmt(drift_ast_stmt(ast)->kind)))
        s->state = DRIFT_TXN_FAILED;
    drift_ast_destroy(&ast);
    drift_session_destroy(&tmp);
    return rc;
}
