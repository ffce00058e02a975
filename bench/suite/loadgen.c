/* bench/suite/loadgen.c — the benchmark suite's load generator (issues 8 and 7).
 *
 *   loadgen --system drift|pg|redis|sqlite|echo --target T --workload W --clients N
 *           --seconds S [--warmup S] [--rows N] [--versions V] [--seed X] [--inflight K]
 *           [--param name=value ...]
 *   loadgen --serve-echo ENDPOINT [--durable FILE [--durable-mb N] [--gather-us D]
 *           [--flush-thread 0|1]]
 *
 * The contract with bench/suite/run.py is the end of /work/briefs/session4.md
 * (and docs/benchmarks.md "## Suite"): one JSON line on stdout, exit 0 when no
 * operation failed. Closed loop: each client thread owns one connection and
 * keeps one request in flight (or --inflight K pipelined requests on DriftDB
 * and echo), so throughput = clients / latency. Operations that end during
 * the --warmup period are not counted; the measured window is --seconds long.
 *
 * Every system runs the same data and the same number of round trips per
 * operation (one statement = one round trip; SQLite is in-process, so its
 * "round trip" is one sqlite3_step loop). Peers emulate history with a
 * kv_hist(id, grp, val, pad, valid_from, valid_to) table indexed on
 * (id, valid_from) and (grp, valid_from), maintained in the same transaction as
 * kv (close the old version, insert the new one); their "points" are commit
 * numbers of the setup's batches, DriftDB's are commit seqs.
 *
 * Parameters (--param): old_point=X, recent_point=Y (from setup's output; the
 * as-of workloads read at old_point), diff_from=X, diff_to=Y (diff's points,
 * default old_point and recent_point), scale=N (TPC-B branches, default 1;
 * tellers 10*N, accounts = --rows), msg_size=N (echo payload bytes, default
 * 48), history=show|sql (DriftDB's history of one key: SHOW DRIFT kv KEY $1,
 * the default, or SELECT ... FOR SYSTEM_TIME ALL WHERE id = $1, which the
 * planner runs as a scan of every version today), isolation=default|
 * read_committed (TPC-B's BEGIN: the system's default level, or BEGIN
 * ISOLATION LEVEL READ COMMITTED; SQLite always BEGIN IMMEDIATE).
 *
 * Concurrency: main parses the options and builds the statement texts, then
 * starts one thread per client; threads share only read-only globals, the
 * start/stop times (set before the second barrier) and an atomic error-print
 * counter. Each thread owns its connection, histogram and counters; main sums
 * them after joining. The echo server is single-threaded.
 *
 * The durable echo (--serve-echo EP --durable FILE, s_serve_durable) is the
 * ceiling of a durable request/reply server on this machine: the same ROUTER
 * echo, but each request is appended to a pre-zeroed file and answered only
 * after an fdatasync that covers it, with group commit (all queued requests,
 * one pwrite, one fdatasync, then the replies). Two threads by default: the
 * loop owns the socket and the batches; the flush thread does the pwrite +
 * fdatasync of the batch handed to it (mutex + condition variable) and wakes
 * the loop through a pipe; so requests are received, and no-sync ones
 * answered, during an fdatasync (--flush-thread 0: the loop writes and syncs
 * itself, as Redis's appendfsync always loop). --gather-us D: a batch waits
 * (at most D µs) until every client active in the last 100 ms has a request
 * in it — with closed-loop clients every fdatasync then covers all of them
 * instead of two cohorts alternating (PostgreSQL's commit_delay idea; the
 * suite runs --gather-us 1000). The `echo` workload against it is workload 1's ceiling;
 * `echo_tpcb` does TPCB_ROUND_TRIPS round trips per operation, all but the
 * last flagged DECHO_NOSYNC (answered at once): TPC-B's ceiling. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <zmq.h>

#include "client/drift.h"
#include "common/util.h"

/* ---------------------------------------------------------------- options */

typedef enum { SYS_DRIFT, SYS_PG, SYS_REDIS, SYS_SQLITE, SYS_ECHO, NSYS } sys_t;
static const char *const s_sys_names[NSYS] = {"drift", "pg", "redis", "sqlite", "echo"};

typedef enum {
    W_SETUP,
    W_INSERT,
    W_BULK,
    W_POINT_LATEST,
    W_POINT_ASOF,
    W_IDX_LATEST,
    W_IDX_ASOF,
    W_HISTORY,
    W_DIFF,
    W_TPCB,
    W_JOIN_AGG,
    W_JOIN_AGG_ASOF,
    W_SCAN,
    W_SCAN_ASOF,
    W_ECHO,
    W_ECHO_TPCB,
    NWORK
} work_t;
static const char *const s_work_names[NWORK] = {
    "setup", "insert", "bulk",     "point_latest",  "point_asof", "idx_latest", "idx_asof", "history",
    "diff",  "tpcb",   "join_agg", "join_agg_asof", "scan",       "scan_asof",  "echo",     "echo_tpcb"};

#define BULK_ROWS 1000
#define LOAD_BATCH 1000
#define MAXV_SENTINEL INT64_MAX /* valid_to of a current version in kv_hist */
#define MAX_TRIES 1000          /* TPC-B retries of a serialization failure */
/* TPC-B round trips per transaction (s_op_tpcb: BEGIN, 5 statements, COMMIT),
 * also those of the echo_tpcb ceiling; s_op_tpcb checks it on every commit. */
#define TPCB_ROUND_TRIPS 7
/* The durable echo's request flag: a request whose first payload byte is
 * DECHO_NOSYNC is answered at once (a statement that writes nothing durable,
 * e.g. TPC-B's BEGIN .. INSERT); any other request is appended to the file and
 * answered after an fdatasync that covers it. */
#define DECHO_NOSYNC 'n'

static struct {
    sys_t sys;
    work_t work;
    const char *target;
    int clients;
    double seconds;
    double warmup;
    int64_t rows;
    int64_t versions;
    uint64_t seed;
    int inflight;
    int64_t old_point, recent_point, diff_from, diff_to;
    bool have_old;
    int64_t scale;
    int64_t groups;
    size_t msg_size;
    bool history_show;
    bool read_committed; /* TPC-B: BEGIN ISOLATION LEVEL READ COMMITTED (PostgreSQL's default) */
} s_opt = {.sys = NSYS,
           .work = NWORK,
           .clients = 1,
           .seconds = 5,
           .rows = 10000,
           .versions = 10,
           .seed = 1,
           .inflight = 1,
           .old_point = -1,
           .recent_point = -1,
           .diff_from = -1,
           .diff_to = -1,
           .scale = 1,
           .msg_size = 48,
           .history_show = true};

/* ----------------------------------------------------------------- helpers */

/* Monotonic clock, ns. */
static uint64_t s_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Wall clock, µs since the epoch. */
static uint64_t s_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000u;
}

/* A uniform integer in [lo, hi]. */
static int64_t s_rand_range(uint64_t *st, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(drift_rand64(st) % (uint64_t)(hi - lo + 1));
}

static atomic_int s_err_prints;
static char s_first_err[256]; /* written once, by the thread that printed the first error */

/* Prints an operation error to stderr (the first 10 of the process only) and
 * keeps the first one for the JSON line. */
static void s_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void s_err(const char *fmt, ...)
{
    int k = atomic_fetch_add(&s_err_prints, 1);
    if (k >= 10)
        return;
    va_list ap;
    va_start(ap, fmt);
    char msg[sizeof(s_first_err)];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (k == 0)
        memcpy(s_first_err, msg, sizeof(msg));
    fprintf(stderr, "loadgen: %s\n", msg);
}

/* Prints s as a JSON string (quotes, backslashes and control characters escaped). */
static void s_json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

/* Prints a usage/config error and exits 2. */
static void s_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void s_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* The data set, the same on every system: version 1's val of key id. */
static int64_t s_val0(int64_t id)
{
    return (int64_t)((uint64_t)id % 1000003u * 7919u % 1000003u); /* = id * 7919 mod 1000003, without overflow */
}
/* The group of key id (--rows / 10 groups, 10 keys each, scattered). */
static int64_t s_grp(int64_t id)
{
    return id % s_opt.groups;
}

/* ------------------------------------------------------------- histogram */

/* Log-linear buckets over nanoseconds: exact below 256 ns, then 128 buckets
 * per power of two (width <= 1/128 of the value: < 0.8% error). */
#define H_N (256 + 56 * 128)

/* Bucket of value v (ns). */
static size_t s_h_idx(uint64_t v)
{
    if (v < 256)
        return (size_t)v;
    int e = 63 - __builtin_clzll(v);
    uint64_t m = v >> (e - 7); /* 128..255 */
    return 256 + (size_t)(e - 8) * 128 + (size_t)(m - 128);
}

/* Largest value of bucket i (ns). */
static uint64_t s_h_upper(size_t i)
{
    if (i < 256)
        return i;
    size_t k = i - 256;
    int e = (int)(k / 128) + 8;
    uint64_t m = 128 + k % 128;
    return ((m + 1) << (e - 7)) - 1;
}

/* ---------------------------------------------------------------- statements */

typedef enum {
    ST_INSERT,
    ST_BULK,
    ST_POINT,
    ST_POINT_ASOF,
    ST_IDX,
    ST_IDX_ASOF,
    ST_HIST,
    ST_DIFF,
    ST_JOIN,
    ST_JOIN_ASOF,
    ST_SCAN,
    ST_SCAN_ASOF,
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_T_UACC,
    ST_T_SACC,
    ST_T_UTEL,
    ST_T_UBR,
    ST_T_INSH,
    NST
} st_t;

static char *s_sql[NST]; /* the text for this run's system (peers: $n parameters; SQLite: ?n) */

/* A parameter: an integer, or text when s != NULL. */
typedef struct {
    int64_t i;
    const char *s;
    size_t len;
} param_t;

/* An integer parameter. */
static param_t P_I(int64_t v)
{
    param_t p = {.i = v};
    return p;
}

/* asprintf that dies on failure. */
static char *s_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *s_fmt(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        s_die("out of memory");
    return s;
}

/* "INSERT INTO t (cols) VALUES ($1,..,$k),(...)" for n rows of k columns, from $first. */
static char *s_multi_insert(const char *head, int k, int n, int first)
{
    size_t cap = strlen(head) + (size_t)n * (size_t)k * 12 + 16;
    char *s = malloc(cap);
    if (!s)
        s_die("out of memory");
    size_t len = (size_t)snprintf(s, cap, "%s VALUES ", head);
    int p = first;
    for (int r = 0; r < n; r++) {
        len += (size_t)snprintf(s + len, cap - len, "%s(", r ? "," : "");
        for (int c = 0; c < k; c++)
            len += (size_t)snprintf(s + len, cap - len, "%s$%d", c ? "," : "", p++);
        len += (size_t)snprintf(s + len, cap - len, ")");
    }
    return s;
}

/* SQLite numbers parameters ?N; the peers' texts use $N: converts in place. */
static void s_to_sqlite(char *s)
{
    for (; *s; s++)
        if (*s == '$' && s[1] >= '0' && s[1] <= '9')
            *s = '?';
}

/* Fills s_sql[] for the chosen system. */
static void s_build_sql(void)
{
    bool d = s_opt.sys == SYS_DRIFT;
    long long o = (long long)s_opt.old_point, df = (long long)s_opt.diff_from, dt = (long long)s_opt.diff_to;
    s_sql[ST_INSERT] = s_fmt("INSERT INTO ins (id, grp, val, pad) VALUES ($1, $2, $3, $4)");
    s_sql[ST_BULK] = s_multi_insert("INSERT INTO ins (id, grp, val, pad)", 4, BULK_ROWS, 1);
    s_sql[ST_POINT] = s_fmt("SELECT val, pad FROM kv WHERE id = $1");
    s_sql[ST_IDX] = s_fmt("SELECT id, val FROM kv WHERE grp = $1");
    s_sql[ST_JOIN] = s_fmt("SELECT g.region, count(*), sum(k.val) FROM kv k JOIN grp_info g ON k.grp = g.grp "
                           "WHERE k.grp BETWEEN $1 AND $2 GROUP BY g.region");
    s_sql[ST_SCAN] = s_fmt("SELECT count(*), sum(val) FROM kv WHERE val %% 100 = $1");
    s_sql[ST_BEGIN] = s_fmt(s_opt.sys == SYS_SQLITE ? "BEGIN IMMEDIATE"
                            : s_opt.read_committed  ? "BEGIN ISOLATION LEVEL READ COMMITTED"
                                                    : "BEGIN");
    s_sql[ST_COMMIT] = s_fmt("COMMIT");
    s_sql[ST_ROLLBACK] = s_fmt("ROLLBACK");
    s_sql[ST_T_UACC] = s_fmt("UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2");
    s_sql[ST_T_SACC] = s_fmt("SELECT abalance FROM pgbench_accounts WHERE aid = $1");
    s_sql[ST_T_UTEL] = s_fmt("UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2");
    s_sql[ST_T_UBR] = s_fmt("UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2");
    s_sql[ST_T_INSH] = s_fmt("INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, $5)");
    if (d) {
        s_sql[ST_POINT_ASOF] = s_fmt("SELECT val, pad FROM kv AS OF @seq:%lld WHERE id = $1", o);
        s_sql[ST_IDX_ASOF] = s_fmt("SELECT id, val FROM kv AS OF @seq:%lld WHERE grp = $1", o);
        s_sql[ST_HIST] =
            s_opt.history_show
                ? s_fmt("SHOW DRIFT kv KEY $1")
                : s_fmt("SELECT val, _seq, _end_seq FROM kv FOR SYSTEM_TIME ALL WHERE id = $1 ORDER BY _seq");
        s_sql[ST_DIFF] = s_fmt("SELECT b.id, a.val, b.val FROM kv AS OF @seq:%lld b JOIN kv AS OF @seq:%lld a "
                               "ON a.id = b.id WHERE a.val <> b.val",
                               dt, df);
        s_sql[ST_JOIN_ASOF] =
            s_fmt("SELECT g.region, count(*), sum(k.val) FROM kv AS OF @seq:%lld k JOIN grp_info AS OF @seq:%lld g "
                  "ON k.grp = g.grp WHERE k.grp BETWEEN $1 AND $2 GROUP BY g.region",
                  o, o);
        s_sql[ST_SCAN_ASOF] = s_fmt("SELECT count(*), sum(val) FROM kv AS OF @seq:%lld WHERE val %% 100 = $1", o);
    } else {
        /* The as-of point is the last parameter. */
        s_sql[ST_POINT_ASOF] =
            s_fmt("SELECT val, pad FROM kv_hist WHERE id = $1 AND valid_from <= $2 AND valid_to > $2");
        s_sql[ST_IDX_ASOF] = s_fmt("SELECT id, val FROM kv_hist WHERE grp = $1 AND valid_from <= $2 AND valid_to > $2");
        s_sql[ST_HIST] = s_fmt("SELECT val, valid_from, valid_to FROM kv_hist WHERE id = $1 ORDER BY valid_from");
        s_sql[ST_DIFF] = s_fmt("SELECT b.id, a.val, b.val FROM kv_hist b JOIN kv_hist a ON a.id = b.id "
                               "AND a.valid_from <= $1 AND a.valid_to > $1 "
                               "WHERE b.valid_from <= $2 AND b.valid_to > $2 AND a.val <> b.val");
        s_sql[ST_JOIN_ASOF] = s_fmt("SELECT g.region, count(*), sum(k.val) FROM kv_hist k JOIN grp_info g ON k.grp = "
                                    "g.grp WHERE k.grp BETWEEN $1 AND $2 AND k.valid_from <= $3 AND k.valid_to > $3 "
                                    "GROUP BY g.region");
        s_sql[ST_SCAN_ASOF] = s_fmt(
            "SELECT count(*), sum(val) FROM kv_hist WHERE val %% 100 = $1 AND valid_from <= $2 AND valid_to > $2");
    }
    if (s_opt.sys == SYS_SQLITE)
        for (int i = 0; i < NST; i++)
            s_to_sqlite(s_sql[i]);
}

/* ------------------------------------------------------------------ clients */

typedef struct client {
    int idx;
    pthread_t th;
    uint64_t rng;
    drift_conn_t *dc;
    PGconn *pg;
    bool pg_prepared[NST];
    redisContext *rc;
    sqlite3 *db;
    sqlite3_stmt *lst[NST];
    void *zctx, *zsock;
    uint64_t *hist;
    uint64_t ops, errors, retries, max_ns;
    uint64_t round_trips; /* statements sent by s_exec (s_op_tpcb checks TPCB_ROUND_TRIPS with it) */
    uint64_t ins_next;    /* next id of the insert workloads */
    char *pad;            /* BULK_ROWS pad texts, 24 bytes apart */
    bool dead;            /* the connection failed: stop */
    char err[256];        /* last error text */
    char state[8];        /* SQLSTATE of the last error ("" if none) */
} client_t;

static client_t *s_cl;
static pthread_barrier_t s_bar;
static uint64_t s_warm_end, s_end;

#define PAD_W 32

/* Connects the client to the target; 0 or -1 with c->err set. */
static int s_connect(client_t *c)
{
    switch (s_opt.sys) {
    case SYS_DRIFT: {
        drift_options_t o;
        drift_options_init(&o);
        o.endpoint = s_opt.target;
        o.request_timeout_ms = 120000;
        int rc = drift_connect(&o, &c->dc);
        if (rc) {
            snprintf(c->err, sizeof(c->err), "drift connect %s: %s", s_opt.target,
                     c->dc ? drift_conn_errmsg(c->dc) : drift_strerror_client(rc));
            return -1;
        }
        return 0;
    }
    case SYS_PG:
        c->pg = PQconnectdb(s_opt.target);
        if (PQstatus(c->pg) != CONNECTION_OK) {
            snprintf(c->err, sizeof(c->err), "pg connect: %s", PQerrorMessage(c->pg));
            return -1;
        }
        return 0;
    case SYS_REDIS: {
        char host[256];
        snprintf(host, sizeof(host), "%s", s_opt.target);
        char *colon = strrchr(host, ':');
        int port = 6379;
        if (colon) {
            *colon = 0;
            port = atoi(colon + 1);
        }
        c->rc = redisConnect(host, port);
        if (!c->rc || c->rc->err) {
            snprintf(c->err, sizeof(c->err), "redis connect %s: %s", s_opt.target, c->rc ? c->rc->errstr : "oom");
            return -1;
        }
        return 0;
    }
    case SYS_SQLITE: {
        int rc = sqlite3_open_v2(s_opt.target, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 NULL);
        if (rc != SQLITE_OK) {
            snprintf(c->err, sizeof(c->err), "sqlite open %s: %s", s_opt.target, sqlite3_errstr(rc));
            return -1;
        }
        sqlite3_busy_timeout(c->db, 30000);
        char *em = NULL;
        if (sqlite3_exec(c->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, &em) != SQLITE_OK) {
            snprintf(c->err, sizeof(c->err), "sqlite pragmas: %s", em ? em : "?");
            sqlite3_free(em);
            return -1;
        }
        return 0;
    }
    case SYS_ECHO: {
        c->zctx = zmq_ctx_new();
        c->zsock = c->zctx ? zmq_socket(c->zctx, ZMQ_DEALER) : NULL;
        int zero = 0;
        if (!c->zsock || zmq_setsockopt(c->zsock, ZMQ_LINGER, &zero, sizeof(zero)) ||
            zmq_connect(c->zsock, s_opt.target)) {
            snprintf(c->err, sizeof(c->err), "echo connect %s: %s", s_opt.target, zmq_strerror(zmq_errno()));
            return -1;
        }
        int to = 30000;
        zmq_setsockopt(c->zsock, ZMQ_RCVTIMEO, &to, sizeof(to));
        return 0;
    }
    default: return -1;
    }
}

/* Closes whatever the client opened. */
static void s_disconnect(client_t *c)
{
    drift_close(&c->dc);
    if (c->pg)
        PQfinish(c->pg);
    c->pg = NULL;
    if (c->rc)
        redisFree(c->rc);
    c->rc = NULL;
    for (int i = 0; i < NST; i++)
        sqlite3_finalize(c->lst[i]);
    if (c->db)
        sqlite3_close(c->db);
    c->db = NULL;
    if (c->zsock)
        zmq_close(c->zsock);
    if (c->zctx)
        zmq_ctx_term(c->zctx);
    c->zsock = c->zctx = NULL;
}

enum { OP_OK = 0, OP_ERR = -1, OP_RETRY = -2 };

/* Is SQLSTATE a serialization failure or deadlock (retry the transaction)? */
static bool s_retryable(const char *state)
{
    return !strcmp(state, "40001") || !strcmp(state, "40P01");
}

/* Ends a PostgreSQL call: records the error of a failed one (c->state, c->err), frees r, marks a lost
 * connection dead. Returns OP_OK, OP_RETRY or OP_ERR. */
static int s_pg_done(client_t *c, PGresult *r, int ok)
{
    if (!ok) {
        const char *ss = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        snprintf(c->state, sizeof(c->state), "%s", ss ? ss : "");
        snprintf(c->err, sizeof(c->err), "pg: %s", PQerrorMessage(c->pg));
    }
    PQclear(r);
    if (PQstatus(c->pg) != CONNECTION_OK)
        c->dead = true;
    return ok ? OP_OK : s_retryable(c->state) ? OP_RETRY : OP_ERR;
}

/* Runs statement st with params; *ret_rows gets the result's row count. Returns
 * OP_OK, OP_RETRY (serialization failure / busy) or OP_ERR (c->err, c->state set). */
static int s_exec(client_t *c, st_t st, const param_t *p, int n, int64_t *ret_rows)
{
    c->state[0] = 0;
    c->round_trips++;
    if (ret_rows)
        *ret_rows = 0;
    switch (s_opt.sys) {
    case SYS_DRIFT: {
        drift_value_t v[4 * BULK_ROWS];
        for (int i = 0; i < n; i++)
            v[i] = p[i].s ? drift_textn(p[i].s, p[i].len) : drift_int(p[i].i);
        drift_result_t *r = NULL;
        int rc = drift_exec(c->dc, s_sql[st], v, (size_t)n, &r);
        if (rc) {
            snprintf(c->state, sizeof(c->state), "%s", drift_conn_errcode(c->dc));
            snprintf(c->err, sizeof(c->err), "drift: %s %s", drift_conn_errcode(c->dc), drift_conn_errmsg(c->dc));
            if (rc != DRIFT_CLIENT_ESERVER)
                c->dead = true;
            drift_result_free(&r);
            return s_retryable(c->state) ? OP_RETRY : OP_ERR;
        }
        if (ret_rows)
            *ret_rows = (int64_t)drift_result_nrows(r);
        drift_result_free(&r);
        return OP_OK;
    }
    case SYS_PG: {
        if (st == ST_BEGIN || st == ST_COMMIT || st == ST_ROLLBACK) {
            PGresult *r = PQexec(c->pg, s_sql[st]);
            return s_pg_done(c, r, PQresultStatus(r) == PGRES_COMMAND_OK);
        }
        char name[16];
        snprintf(name, sizeof(name), "s%d", (int)st);
        if (!c->pg_prepared[st]) {
            PGresult *r = PQprepare(c->pg, name, s_sql[st], 0, NULL);
            int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
            if (!ok)
                snprintf(c->err, sizeof(c->err), "pg prepare: %s", PQerrorMessage(c->pg));
            PQclear(r);
            if (!ok)
                return OP_ERR;
            c->pg_prepared[st] = true;
        }
        static __thread char nb[4 * BULK_ROWS][24];
        const char *vals[4 * BULK_ROWS];
        int lens[4 * BULK_ROWS];
        for (int i = 0; i < n; i++) {
            if (p[i].s) {
                vals[i] = p[i].s;
                lens[i] = (int)p[i].len;
            } else {
                lens[i] = snprintf(nb[i], sizeof(nb[i]), "%" PRId64, p[i].i);
                vals[i] = nb[i];
            }
        }
        PGresult *r = PQexecPrepared(c->pg, name, n, vals, lens, NULL, 0);
        ExecStatusType es = PQresultStatus(r);
        int ok = es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK;
        if (ok && ret_rows)
            *ret_rows = PQntuples(r);
        return s_pg_done(c, r, ok);
    }
    case SYS_SQLITE: {
        sqlite3_stmt *s = c->lst[st];
        if (!s) {
            int rc = sqlite3_prepare_v2(c->db, s_sql[st], -1, &c->lst[st], NULL);
            if (rc != SQLITE_OK) {
                snprintf(c->err, sizeof(c->err), "sqlite prepare: %s", sqlite3_errmsg(c->db));
                return OP_ERR;
            }
            s = c->lst[st];
        }
        for (int i = 0; i < n; i++) {
            if (p[i].s)
                sqlite3_bind_text(s, i + 1, p[i].s, (int)p[i].len, SQLITE_STATIC);
            else
                sqlite3_bind_int64(s, i + 1, p[i].i);
        }
        int rc;
        int64_t rows = 0;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW)
            rows++;
        int ret = OP_OK;
        if (rc != SQLITE_DONE) {
            snprintf(c->err, sizeof(c->err), "sqlite: %s", sqlite3_errmsg(c->db));
            ret = (rc & 0xff) == SQLITE_BUSY ? OP_RETRY : OP_ERR;
        }
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        if (ret_rows)
            *ret_rows = rows;
        return ret;
    }
    default: snprintf(c->err, sizeof(c->err), "no SQL on %s", s_sys_names[s_opt.sys]); return OP_ERR;
    }
}

/* Fills the pad texts of rows [0, n) for ids from id. */
static void s_fill_pad(client_t *c, int64_t id, int n)
{
    for (int i = 0; i < n; i++)
        snprintf(c->pad + (size_t)i * PAD_W, PAD_W, "pad-%019" PRId64, id + i);
}

/* A fresh id for the insert workloads: unique across clients and runs (the
 * start time in µs times 1000 plus a per-client counter stride). */
static int64_t s_next_ins_id(client_t *c)
{
    int64_t id = (int64_t)c->ins_next;
    c->ins_next += (uint64_t)s_opt.clients;
    return id;
}

/* Statement and parameters of one single-request operation (all workloads
 * but tpcb and the Redis/echo ones). *expect = rows the result must have, -1 any. */
static int s_build_op(client_t *c, st_t *ret_st, param_t *p, int *ret_n, int64_t *expect)
{
    bool d = s_opt.sys == SYS_DRIFT;
    int64_t id = s_rand_range(&c->rng, 1, s_opt.rows);
    *expect = -1;
    switch (s_opt.work) {
    case W_INSERT: {
        int64_t nid = s_next_ins_id(c);
        s_fill_pad(c, nid, 1);
        p[0] = P_I(nid), p[1] = P_I(s_grp(nid)), p[2] = P_I(s_val0(nid));
        p[3] = (param_t){.s = c->pad, .len = strlen(c->pad)};
        *ret_st = ST_INSERT, *ret_n = 4;
        return 0;
    }
    case W_BULK: {
        int64_t base = s_next_ins_id(c); /* this op's ids: base + clients * k */
        for (int r = 0; r < BULK_ROWS; r++) {
            int64_t nid = base + (int64_t)r * s_opt.clients;
            char *pd = c->pad + (size_t)r * PAD_W;
            snprintf(pd, PAD_W, "pad-%019" PRId64, nid);
            p[4 * r] = P_I(nid), p[4 * r + 1] = P_I(s_grp(nid)), p[4 * r + 2] = P_I(s_val0(nid));
            p[4 * r + 3] = (param_t){.s = pd, .len = strlen(pd)};
        }
        c->ins_next += (uint64_t)s_opt.clients * (BULK_ROWS - 1);
        *ret_st = ST_BULK, *ret_n = 4 * BULK_ROWS;
        return 0;
    }
    case W_POINT_LATEST:
    case W_POINT_ASOF:
        p[0] = P_I(id);
        *ret_n = 1;
        *ret_st = s_opt.work == W_POINT_LATEST ? ST_POINT : ST_POINT_ASOF;
        if (s_opt.work == W_POINT_ASOF && !d)
            p[(*ret_n)++] = P_I(s_opt.old_point);
        *expect = 1;
        return 0;
    case W_IDX_LATEST:
    case W_IDX_ASOF:
        p[0] = P_I(s_rand_range(&c->rng, 0, s_opt.groups - 1));
        *ret_n = 1;
        *ret_st = s_opt.work == W_IDX_LATEST ? ST_IDX : ST_IDX_ASOF;
        if (s_opt.work == W_IDX_ASOF && !d)
            p[(*ret_n)++] = P_I(s_opt.old_point);
        return 0;
    case W_HISTORY:
        p[0] = P_I(id);
        *ret_n = 1, *ret_st = ST_HIST;
        *expect = s_opt.versions;
        return 0;
    case W_DIFF:
        *ret_n = 0, *ret_st = ST_DIFF;
        if (!d) {
            p[0] = P_I(s_opt.diff_from), p[1] = P_I(s_opt.diff_to);
            *ret_n = 2;
        }
        return 0;
    case W_JOIN_AGG:
    case W_JOIN_AGG_ASOF: {
        int64_t g = s_rand_range(&c->rng, 0, s_opt.groups > 10 ? s_opt.groups - 10 : 0);
        p[0] = P_I(g), p[1] = P_I(g + 9);
        *ret_n = 2;
        *ret_st = s_opt.work == W_JOIN_AGG ? ST_JOIN : ST_JOIN_ASOF;
        if (s_opt.work == W_JOIN_AGG_ASOF && !d)
            p[(*ret_n)++] = P_I(s_opt.old_point);
        return 0;
    }
    case W_SCAN:
    case W_SCAN_ASOF:
        p[0] = P_I(s_rand_range(&c->rng, 0, 99));
        *ret_n = 1;
        *ret_st = s_opt.work == W_SCAN ? ST_SCAN : ST_SCAN_ASOF;
        if (s_opt.work == W_SCAN_ASOF && !d)
            p[(*ret_n)++] = P_I(s_opt.old_point);
        *expect = 1;
        return 0;
    default: return -1;
    }
}

/* One TPC-B transaction (pgbench's tpcb-like script: BEGIN, 5 statements,
 * COMMIT — 7 round trips on every SQL system), retried whole on a
 * serialization failure (40001/40P01, SQLite busy) as pgbench --max-tries does. */
static int s_op_tpcb(client_t *c)
{
    int64_t aid = s_rand_range(&c->rng, 1, s_opt.rows);
    int64_t bid = s_rand_range(&c->rng, 1, s_opt.scale);
    int64_t tid = s_rand_range(&c->rng, 1, 10 * s_opt.scale);
    int64_t delta = s_rand_range(&c->rng, -5000, 5000);
    for (int tries = 0; tries < MAX_TRIES; tries++) {
        param_t p[5];
        int64_t rows;
        uint64_t rt0 = c->round_trips;
        int rc = s_exec(c, ST_BEGIN, NULL, 0, NULL);
        if (rc == OP_OK) {
            p[0] = P_I(delta), p[1] = P_I(aid);
            rc = s_exec(c, ST_T_UACC, p, 2, NULL);
        }
        if (rc == OP_OK) {
            p[0] = P_I(aid);
            rc = s_exec(c, ST_T_SACC, p, 1, &rows);
            if (rc == OP_OK && rows != 1) {
                snprintf(c->err, sizeof(c->err), "tpcb: account %" PRId64 " read %" PRId64 " rows", aid, rows);
                rc = OP_ERR;
            }
        }
        if (rc == OP_OK) {
            p[0] = P_I(delta), p[1] = P_I(tid);
            rc = s_exec(c, ST_T_UTEL, p, 2, NULL);
        }
        if (rc == OP_OK) {
            p[0] = P_I(delta), p[1] = P_I(bid);
            rc = s_exec(c, ST_T_UBR, p, 2, NULL);
        }
        if (rc == OP_OK) {
            p[0] = P_I(tid), p[1] = P_I(bid), p[2] = P_I(aid), p[3] = P_I(delta), p[4] = P_I((int64_t)s_wall_us());
            rc = s_exec(c, ST_T_INSH, p, 5, NULL);
        }
        if (rc == OP_OK)
            rc = s_exec(c, ST_COMMIT, NULL, 0, NULL);
        if (rc == OP_OK && c->round_trips - rt0 != TPCB_ROUND_TRIPS) {
            snprintf(c->err, sizeof(c->err), "tpcb: %" PRIu64 " round trips, TPCB_ROUND_TRIPS says %d (echo_tpcb too)",
                     c->round_trips - rt0, TPCB_ROUND_TRIPS);
            return OP_ERR;
        }
        if (rc == OP_OK)
            return OP_OK;
        if (c->dead)
            return OP_ERR;
        /* End whatever is left of the transaction (a failed COMMIT may have ended it already). */
        char keep[sizeof(c->err)];
        memcpy(keep, c->err, sizeof(keep));
        if (s_opt.sys == SYS_SQLITE) {
            if (!sqlite3_get_autocommit(c->db))
                s_exec(c, ST_ROLLBACK, NULL, 0, NULL);
        } else {
            s_exec(c, ST_ROLLBACK, NULL, 0, NULL);
        }
        memcpy(c->err, keep, sizeof(keep));
        if (rc != OP_RETRY)
            return OP_ERR;
        c->retries++;
    }
    snprintf(c->err, sizeof(c->err), "tpcb: %d serialization failures in a row", MAX_TRIES);
    return OP_ERR;
}

/* One Redis operation: insert = one HSET; bulk = MULTI, 1000 HSET, EXEC
 * pipelined (one round trip, one AOF write+fsync). */
static int s_op_redis(client_t *c)
{
    int n = s_opt.work == W_BULK ? BULK_ROWS : 1;
    int64_t base = s_next_ins_id(c);
    if (n > 1) {
        c->ins_next += (uint64_t)s_opt.clients * (BULK_ROWS - 1);
        redisAppendCommand(c->rc, "MULTI");
    }
    char key[40], g[24], v[24], pad[PAD_W];
    for (int r = 0; r < n; r++) {
        int64_t id = base + (int64_t)r * s_opt.clients;
        snprintf(key, sizeof(key), "ins:%" PRId64, id);
        snprintf(g, sizeof(g), "%" PRId64, s_grp(id));
        snprintf(v, sizeof(v), "%" PRId64, s_val0(id));
        snprintf(pad, sizeof(pad), "pad-%019" PRId64, id);
        const char *argv[8] = {"HSET", key, "grp", g, "val", v, "pad", pad};
        size_t lens[8];
        for (int i = 0; i < 8; i++)
            lens[i] = strlen(argv[i]);
        redisAppendCommandArgv(c->rc, 8, argv, lens);
    }
    if (n > 1)
        redisAppendCommand(c->rc, "EXEC");
    int total = n > 1 ? n + 2 : 1, ret = OP_OK;
    for (int i = 0; i < total; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c->rc, (void **)&r) != REDIS_OK) {
            snprintf(c->err, sizeof(c->err), "redis: %s", c->rc->errstr);
            c->dead = true;
            return OP_ERR;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            snprintf(c->err, sizeof(c->err), "redis: %s", r->str);
            ret = OP_ERR;
        } else if (n > 1 && i == total - 1 && (r->type != REDIS_REPLY_ARRAY || r->elements != (size_t)n)) {
            snprintf(c->err, sizeof(c->err), "redis: EXEC did not answer %d replies", n);
            ret = OP_ERR;
        }
        freeReplyObject(r);
    }
    return ret;
}

/* One echo round trip of msg_size bytes (or a DriftDB ping). */
static int s_op_echo(client_t *c)
{
    if (s_opt.sys == SYS_DRIFT) {
        int rc = drift_ping(c->dc, NULL);
        if (rc) {
            snprintf(c->err, sizeof(c->err), "drift ping: %s", drift_conn_errmsg(c->dc));
            c->dead = true;
            return OP_ERR;
        }
        return OP_OK;
    }
    char buf[4096];
    size_t n = s_opt.msg_size < sizeof(buf) ? s_opt.msg_size : sizeof(buf);
    /* echo_tpcb: TPCB_ROUND_TRIPS round trips, all but the last flagged "no
     * sync needed" (first byte DECHO_NOSYNC: the durable echo answers them at
     * once; the raw echo answers everything at once anyway). */
    int trips = s_opt.work == W_ECHO_TPCB ? TPCB_ROUND_TRIPS : 1;
    for (int t = 0; t < trips; t++) {
        memset(buf, 'e', n);
        if (t + 1 < trips)
            buf[0] = DECHO_NOSYNC;
        int got;
        if (zmq_send(c->zsock, buf, n, 0) < 0 || (got = zmq_recv(c->zsock, buf, sizeof(buf), 0)) < 0) {
            snprintf(c->err, sizeof(c->err), "echo: %s", zmq_strerror(zmq_errno()));
            c->dead = true;
            return OP_ERR;
        }
        if ((size_t)got != n || buf[0] != (t + 1 < trips ? DECHO_NOSYNC : 'e')) {
            snprintf(c->err, sizeof(c->err), "echo: reply of %d bytes is not the request", got);
            c->dead = true;
            return OP_ERR;
        }
    }
    return OP_OK;
}

/* One operation of the run's workload, waited for. */
static int s_op(client_t *c)
{
    if (s_opt.work == W_ECHO || s_opt.work == W_ECHO_TPCB)
        return s_op_echo(c);
    if (s_opt.sys == SYS_REDIS)
        return s_op_redis(c);
    if (s_opt.work == W_TPCB)
        return s_op_tpcb(c);
    static __thread param_t p[4 * BULK_ROWS];
    st_t st;
    int n;
    int64_t expect, rows;
    if (s_build_op(c, &st, p, &n, &expect))
        return OP_ERR;
    int rc = s_exec(c, st, p, n, &rows);
    if (rc == OP_OK && expect >= 0 && rows != expect) {
        snprintf(c->err, sizeof(c->err), "%s: %" PRId64 " rows, expected %" PRId64, s_work_names[s_opt.work], rows,
                 expect);
        return OP_ERR;
    }
    return rc == OP_OK ? OP_OK : OP_ERR;
}

/* Counts one finished operation that took ns, started at t0 and ended at t1. */
static void s_count(client_t *c, int rc, uint64_t t0, uint64_t t1)
{
    if (rc != OP_OK) {
        c->errors++;
        s_err("client %d: %s", c->idx, c->err);
        return;
    }
    if (t1 < s_warm_end || t1 > s_end)
        return;
    uint64_t ns = t1 - t0;
    c->hist[s_h_idx(ns)]++;
    c->ops++;
    if (ns > c->max_ns)
        c->max_ns = ns;
}

/* Pipelined DriftDB loop: keeps --inflight statements in flight. */
static void s_loop_drift_pipelined(client_t *c)
{
    int k = s_opt.inflight;
    uint64_t *ids = calloc((size_t)k, sizeof(*ids)), *t0 = calloc((size_t)k, sizeof(*t0));
    int64_t *exp = calloc((size_t)k, sizeof(*exp));
    static __thread param_t p[4 * BULK_ROWS];
    static __thread drift_value_t v[4 * BULK_ROWS];
    if (!ids || !t0 || !exp) {
        c->errors++;
        goto out;
    }
    size_t head = 0, count = 0;
    for (;;) {
        uint64_t now = s_now_ns();
        while (now < s_end && count < (size_t)k && !c->dead) {
            st_t st;
            int n;
            size_t slot = (head + count) % (size_t)k;
            int src;
            if (s_opt.work == W_ECHO) { /* pipelined pings */
                exp[slot] = -1;
                t0[slot] = s_now_ns();
                src = drift_send_ping(c->dc, &ids[slot]);
            } else {
                if (s_build_op(c, &st, p, &n, &exp[slot])) {
                    c->errors++;
                    goto out;
                }
                for (int i = 0; i < n; i++)
                    v[i] = p[i].s ? drift_textn(p[i].s, p[i].len) : drift_int(p[i].i);
                t0[slot] = s_now_ns();
                src = drift_send(c->dc, s_sql[st], v, (size_t)n, &ids[slot]);
            }
            if (src) {
                snprintf(c->err, sizeof(c->err), "drift send: %s", drift_conn_errmsg(c->dc));
                c->dead = true;
                c->errors++;
                s_err("client %d: %s", c->idx, c->err);
                break;
            }
            count++;
        }
        if (count == 0)
            break;
        drift_result_t *r = NULL;
        int rc = drift_recv(c->dc, ids[head], &r);
        uint64_t t1 = s_now_ns();
        int res = OP_OK;
        if (rc) {
            snprintf(c->err, sizeof(c->err), "drift: %s %s", drift_conn_errcode(c->dc), drift_conn_errmsg(c->dc));
            res = OP_ERR;
            if (rc != DRIFT_CLIENT_ESERVER)
                c->dead = true;
        } else if (exp[head] >= 0 && (int64_t)drift_result_nrows(r) != exp[head]) {
            snprintf(c->err, sizeof(c->err), "%s: %zu rows, expected %" PRId64, s_work_names[s_opt.work],
                     drift_result_nrows(r), exp[head]);
            res = OP_ERR;
        }
        drift_result_free(&r);
        s_count(c, res, t0[head], t1);
        head = (head + 1) % (size_t)k;
        count--;
        if (c->dead)
            break;
    }
out:
    free(ids);
    free(t0);
    free(exp);
}

/* Pipelined echo loop: --inflight messages in flight, the send time inside. */
static void s_loop_echo_pipelined(client_t *c)
{
    char buf[4096];
    size_t n = s_opt.msg_size < sizeof(buf) ? s_opt.msg_size : sizeof(buf);
    if (n < 1 + sizeof(uint64_t)) /* byte 0 stays 'e' (the durable echo syncs it), then the send time */
        n = 1 + sizeof(uint64_t);
    memset(buf, 'e', sizeof(buf));
    int count = 0;
    for (;;) {
        while (s_now_ns() < s_end && count < s_opt.inflight) {
            uint64_t t = s_now_ns();
            memcpy(buf + 1, &t, sizeof(t));
            if (zmq_send(c->zsock, buf, n, 0) < 0)
                goto fail;
            count++;
        }
        if (count == 0)
            return;
        if (zmq_recv(c->zsock, buf, sizeof(buf), 0) < (int)(1 + sizeof(uint64_t)))
            goto fail;
        uint64_t t0;
        memcpy(&t0, buf + 1, sizeof(t0));
        s_count(c, OP_OK, t0, s_now_ns());
        count--;
    }
fail:
    snprintf(c->err, sizeof(c->err), "echo: %s", zmq_strerror(zmq_errno()));
    c->errors++;
    s_err("client %d: %s", c->idx, c->err);
}

/* A client thread: connect, wait for everyone, run until the end time. */
static void *s_client_main(void *arg)
{
    client_t *c = arg;
    if (s_connect(c)) {
        c->errors++;
        c->dead = true;
        s_err("client %d: %s", c->idx, c->err);
    }
    pthread_barrier_wait(&s_bar); /* connected */
    pthread_barrier_wait(&s_bar); /* main set the times */
    if (c->dead)
        goto out;
    if (s_opt.inflight > 1 && s_opt.sys == SYS_DRIFT) {
        s_loop_drift_pipelined(c);
    } else if (s_opt.inflight > 1 && s_opt.sys == SYS_ECHO) {
        s_loop_echo_pipelined(c);
    } else {
        while (!c->dead) {
            uint64_t t0 = s_now_ns();
            if (t0 >= s_end)
                break;
            int rc = s_op(c);
            s_count(c, rc, t0, s_now_ns());
        }
    }
out:
    s_disconnect(c);
    return NULL;
}

/* ------------------------------------------------------------------ setup */

/* A connection-less helper for setup: runs SQL text with no parameters
 * (DDL, BEGIN/COMMIT) on the setup client; returns 0 or -1 (message printed).
 * *ret_seq gets DriftDB's commit seq when there is one. */
static int s_setup_sql(client_t *c, const char *sql, int64_t *ret_seq)
{
    switch (s_opt.sys) {
    case SYS_DRIFT: {
        drift_result_t *r = NULL;
        int rc = drift_exec(c->dc, sql, NULL, 0, &r);
        if (rc)
            fprintf(stderr, "loadgen: setup: %s: %s %s\n", sql, drift_conn_errcode(c->dc), drift_conn_errmsg(c->dc));
        else if (ret_seq)
            drift_result_seq(r, ret_seq);
        drift_result_free(&r);
        return rc ? -1 : 0;
    }
    case SYS_PG: {
        PGresult *r = PQexec(c->pg, sql);
        ExecStatusType es = PQresultStatus(r);
        int ok = es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK;
        if (!ok)
            fprintf(stderr, "loadgen: setup: %s: %s", sql, PQerrorMessage(c->pg));
        PQclear(r);
        return ok ? 0 : -1;
    }
    case SYS_SQLITE: {
        char *em = NULL;
        int rc = sqlite3_exec(c->db, sql, NULL, NULL, &em);
        if (rc != SQLITE_OK)
            fprintf(stderr, "loadgen: setup: %s: %s\n", sql, em ? em : sqlite3_errstr(rc));
        sqlite3_free(em);
        return rc == SQLITE_OK ? 0 : -1;
    }
    default: return -1;
    }
}

/* Runs a parameterised statement text once (setup only): drift_exec, PQexecParams or a one-off SQLite statement. */
static int s_setup_exec(client_t *c, const char *sql_in, const param_t *p, int n, int64_t *ret_seq)
{
    char *sql = s_fmt("%s", sql_in);
    int ret = -1;
    if (s_opt.sys == SYS_SQLITE)
        s_to_sqlite(sql);
    switch (s_opt.sys) {
    case SYS_DRIFT: {
        drift_value_t *v = calloc((size_t)n + 1, sizeof(*v));
        drift_result_t *r = NULL;
        for (int i = 0; i < n; i++)
            v[i] = p[i].s ? drift_textn(p[i].s, p[i].len) : drift_int(p[i].i);
        int rc = v ? drift_exec(c->dc, sql, v, (size_t)n, &r) : DRIFT_CLIENT_ENOMEM;
        if (rc)
            fprintf(stderr, "loadgen: setup: %.80s: %s %s\n", sql, c->dc ? drift_conn_errcode(c->dc) : "",
                    c->dc ? drift_conn_errmsg(c->dc) : "");
        else if (ret_seq)
            drift_result_seq(r, ret_seq);
        drift_result_free(&r);
        free(v);
        ret = rc ? -1 : 0;
        break;
    }
    case SYS_PG: {
        char(*nb)[24] = calloc((size_t)n + 1, sizeof(*nb));
        const char **vals = calloc((size_t)n + 1, sizeof(*vals));
        int *lens = calloc((size_t)n + 1, sizeof(*lens));
        if (nb && vals && lens) {
            for (int i = 0; i < n; i++) {
                if (p[i].s) {
                    vals[i] = p[i].s, lens[i] = (int)p[i].len;
                } else {
                    lens[i] = snprintf(nb[i], sizeof(nb[i]), "%" PRId64, p[i].i);
                    vals[i] = nb[i];
                }
            }
            PGresult *r = PQexecParams(c->pg, sql, n, NULL, vals, lens, NULL, 0);
            ExecStatusType es = PQresultStatus(r);
            ret = es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK ? 0 : -1;
            if (ret)
                fprintf(stderr, "loadgen: setup: %.80s: %s", sql, PQerrorMessage(c->pg));
            PQclear(r);
        }
        free(nb);
        free(vals);
        free(lens);
        break;
    }
    case SYS_SQLITE: {
        sqlite3_stmt *s = NULL;
        int rc = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL);
        if (rc == SQLITE_OK) {
            for (int i = 0; i < n; i++) {
                if (p[i].s)
                    sqlite3_bind_text(s, i + 1, p[i].s, (int)p[i].len, SQLITE_STATIC);
                else
                    sqlite3_bind_int64(s, i + 1, p[i].i);
            }
            while ((rc = sqlite3_step(s)) == SQLITE_ROW)
                ;
        }
        if (rc != SQLITE_DONE)
            fprintf(stderr, "loadgen: setup: %.80s: %s\n", sql, sqlite3_errmsg(c->db));
        sqlite3_finalize(s);
        ret = rc == SQLITE_DONE ? 0 : -1;
        break;
    }
    default: break;
    }
    free(sql);
    return ret;
}

/* Loads rows [1, n] of a table in LOAD_BATCH-row multi-row INSERTs; row(id, p)
 * fills k parameters. On peers with hist, each batch is one transaction that
 * also writes kv_hist (valid_from = the next point). The point and seq advance per batch. */
typedef void (*row_fn)(int64_t id, param_t *p, char *pad);

/* Setup rows: kv version 1, grp_info, and the TPC-B tables (pgbench's layout, filler 84 blanks). */
static void s_row_kv(int64_t id, param_t *p, char *pad)
{
    snprintf(pad, PAD_W, "pad-%019" PRId64, id);
    p[0] = P_I(id), p[1] = P_I(s_grp(id)), p[2] = P_I(s_val0(id));
    p[3] = (param_t){.s = pad, .len = strlen(pad)};
}
static void s_row_grp(int64_t id, param_t *p, char *pad)
{
    snprintf(pad, PAD_W, "group-%" PRId64, id - 1);
    p[0] = P_I(id - 1), p[1] = (param_t){.s = pad, .len = strlen(pad)}, p[2] = P_I((id - 1) % 10);
}
static const char s_filler[] = "                                                                                    ";
static void s_row_branch(int64_t id, param_t *p, char *pad)
{
    p[0] = P_I(id), p[1] = P_I(0), p[2] = (param_t){.s = s_filler, .len = 84};
}
static void s_row_teller(int64_t id, param_t *p, char *pad)
{
    p[0] = P_I(id), p[1] = P_I((id - 1) / 10 + 1), p[2] = P_I(0), p[3] = (param_t){.s = s_filler, .len = 84};
}
static void s_row_account(int64_t id, param_t *p, char *pad)
{
    p[0] = P_I(id), p[1] = P_I((id - 1) % s_opt.scale + 1), p[2] = P_I(0), p[3] = (param_t){.s = s_filler, .len = 84};
}

/* Loads a table (see row_fn above); 0 or -1. */
static int s_load(client_t *c, const char *head, int k, int64_t n, row_fn fn, bool hist, int64_t *point, int64_t *seq)
{
    param_t *p = calloc((size_t)LOAD_BATCH * (size_t)k, sizeof(*p));
    char *pads = calloc(LOAD_BATCH, PAD_W);
    int ret = -1;
    if (!p || !pads)
        goto out;
    for (int64_t a = 1; a <= n; a += LOAD_BATCH) {
        int m = (int)(n - a + 1 < LOAD_BATCH ? n - a + 1 : LOAD_BATCH);
        for (int r = 0; r < m; r++)
            fn(a + r, p + (size_t)r * (size_t)k, pads + (size_t)r * PAD_W);
        char *sql = s_multi_insert(head, k, m, 1);
        bool peer_hist = hist && s_opt.sys != SYS_DRIFT;
        int rc = peer_hist ? s_setup_sql(c, "BEGIN", NULL) : 0;
        if (!rc)
            rc = s_setup_exec(c, sql, p, m * k, seq);
        free(sql);
        if (!rc && peer_hist) {
            (*point)++;
            param_t q[3] = {P_I(*point), P_I(a), P_I(a + m - 1)};
            rc = s_setup_exec(c,
                              "INSERT INTO kv_hist (id, grp, val, pad, valid_from, valid_to) SELECT id, grp, val, pad, "
                              "$1, 9223372036854775807 FROM kv WHERE id BETWEEN $2 AND $3",
                              q, 3, NULL);
            if (!rc)
                rc = s_setup_sql(c, "COMMIT", NULL);
        }
        if (rc)
            goto out;
    }
    ret = 0;
out:
    free(p);
    free(pads);
    return ret;
}

/* The setup workload: schema, data, history; prints the points. */
static int s_setup(void)
{
    client_t c = {.idx = 0};
    int ret = 1;
    uint64_t t0 = s_now_ns();
    int64_t point = 0, seq = 0, old = 0, recent = 0;
    if (s_opt.sys == SYS_REDIS || s_opt.sys == SYS_ECHO) {
        if (s_connect(&c)) {
            fprintf(stderr, "loadgen: %s\n", c.err);
            goto out;
        }
        if (s_opt.sys == SYS_REDIS) {
            redisReply *r = redisCommand(c.rc, "FLUSHDB");
            bool ok = r && r->type != REDIS_REPLY_ERROR;
            if (r)
                freeReplyObject(r);
            if (!ok) {
                fprintf(stderr, "loadgen: redis FLUSHDB failed\n");
                goto out;
            }
        }
        goto done;
    }
    if (s_connect(&c)) {
        fprintf(stderr, "loadgen: %s\n", c.err);
        goto out;
    }
    bool d = s_opt.sys == SYS_DRIFT;
    if (s_opt.sys == SYS_PG && s_setup_sql(&c, "SET client_min_messages = warning", NULL))
        goto out;
    static const char *const drops[] = {
        "kv_hist",        "kv", "grp_info", "ins", "pgbench_accounts", "pgbench_branches", "pgbench_tellers",
        "pgbench_history"};
    for (size_t i = 0; i < sizeof(drops) / sizeof(drops[0]); i++) {
        if (d && !strcmp(drops[i], "kv_hist"))
            continue;
        char *sql = s_fmt("DROP TABLE IF EXISTS %s", drops[i]);
        int rc = s_setup_sql(&c, sql, NULL);
        free(sql);
        if (rc)
            goto out;
    }
    const char *ddl[] = {
        "CREATE TABLE kv (id INTEGER PRIMARY KEY, grp INTEGER, val INTEGER, pad TEXT)",
        "CREATE INDEX kv_grp ON kv (grp)",
        "CREATE TABLE grp_info (grp INTEGER PRIMARY KEY, name TEXT, region INTEGER)",
        "CREATE TABLE ins (id INTEGER PRIMARY KEY, grp INTEGER, val INTEGER, pad TEXT)",
        "CREATE TABLE pgbench_branches (bid INTEGER PRIMARY KEY, bbalance INTEGER, filler TEXT)",
        "CREATE TABLE pgbench_tellers (tid INTEGER PRIMARY KEY, bid INTEGER, tbalance INTEGER, filler TEXT)",
        "CREATE TABLE pgbench_accounts (aid INTEGER PRIMARY KEY, bid INTEGER, abalance INTEGER, filler TEXT)",
        "CREATE TABLE pgbench_history (tid INTEGER, bid INTEGER, aid INTEGER, delta INTEGER, mtime INTEGER, "
        "filler TEXT)",
        d ? NULL
          : "CREATE TABLE kv_hist (id INTEGER NOT NULL, grp INTEGER, val INTEGER, pad TEXT, valid_from INTEGER NOT "
            "NULL, valid_to INTEGER NOT NULL, PRIMARY KEY (id, valid_from))",
        d ? NULL : "CREATE INDEX kv_hist_grp ON kv_hist (grp, valid_from)",
    };
    for (size_t i = 0; i < sizeof(ddl) / sizeof(ddl[0]); i++) {
        if (!ddl[i])
            continue;
        /* PostgreSQL's INTEGER is 32 bits; the others' is 64: BIGINT there. */
        char *sql = s_fmt("%s", ddl[i]);
        for (char *q = sql; s_opt.sys == SYS_PG && (q = strstr(q, "INTEGER")) != NULL;) {
            char *tail = s_fmt("BIGINT%s", q + 7);
            strcpy(q, tail); /* shorter than what it replaces */
            free(tail);
            q += 6;
        }
        int rc = s_setup_sql(&c, sql, NULL);
        free(sql);
        if (rc)
            goto out;
    }
    if (s_load(&c, "INSERT INTO grp_info (grp, name, region)", 3, s_opt.groups, s_row_grp, false, &point, &seq) ||
        s_load(&c, "INSERT INTO pgbench_branches (bid, bbalance, filler)", 3, s_opt.scale, s_row_branch, false, &point,
               &seq) ||
        s_load(&c, "INSERT INTO pgbench_tellers (tid, bid, tbalance, filler)", 4, 10 * s_opt.scale, s_row_teller, false,
               &point, &seq) ||
        s_load(&c, "INSERT INTO pgbench_accounts (aid, bid, abalance, filler)", 4, s_opt.rows, s_row_account, false,
               &point, &seq) ||
        s_load(&c, "INSERT INTO kv (id, grp, val, pad)", 4, s_opt.rows, s_row_kv, true, &point, &seq))
        goto out;
    old = d ? seq : point;
    /* Versions 2..V: each an UPDATE of val, in LOAD_BATCH-key transactions. */
    for (int64_t v = 2; v <= s_opt.versions; v++) {
        for (int64_t a = 1; a <= s_opt.rows; a += LOAD_BATCH) {
            int64_t b = a + LOAD_BATCH - 1 < s_opt.rows ? a + LOAD_BATCH - 1 : s_opt.rows;
            param_t q[3] = {P_I(a), P_I(b)};
            const char *upd = "UPDATE kv SET val = (val * 7 + id) % 1000003 WHERE id BETWEEN $1 AND $2";
            if (d) {
                if (s_setup_exec(&c, upd, q, 2, &seq))
                    goto out;
                continue;
            }
            point++;
            q[0] = P_I(point), q[1] = P_I(a), q[2] = P_I(b);
            if (s_setup_sql(&c, "BEGIN", NULL) || s_setup_exec(&c, upd, q + 1, 2, NULL) ||
                s_setup_exec(&c,
                             "UPDATE kv_hist SET valid_to = $1 WHERE id BETWEEN $2 AND $3 AND valid_to = "
                             "9223372036854775807",
                             q, 3, NULL) ||
                s_setup_exec(&c,
                             "INSERT INTO kv_hist (id, grp, val, pad, valid_from, valid_to) SELECT id, grp, val, pad, "
                             "$1, 9223372036854775807 FROM kv WHERE id BETWEEN $2 AND $3",
                             q, 3, NULL) ||
                s_setup_sql(&c, "COMMIT", NULL))
                goto out;
        }
    }
    recent = d ? seq : point;
    /* Statistics for every planner (DriftDB: accepted; see docs/query-language.md). */
    if (s_opt.sys == SYS_PG) {
        if (s_setup_sql(&c, "VACUUM ANALYZE", NULL))
            goto out;
    } else if (s_opt.sys == SYS_SQLITE) {
        if (s_setup_sql(&c, "ANALYZE", NULL) || s_setup_sql(&c, "PRAGMA wal_checkpoint(TRUNCATE)", NULL))
            goto out;
    } else if (s_setup_sql(&c, "ANALYZE", NULL)) {
        fprintf(stderr, "loadgen: setup: DriftDB ANALYZE failed (continuing without statistics)\n");
    }
done:
    printf("{\"system\":\"%s\",\"workload\":\"setup\",\"rows\":%" PRId64 ",\"versions\":%" PRId64 ",\"groups\":%" PRId64
           ",\"scale\":%" PRId64 ",\"old_point\":%" PRId64 ",\"recent_point\":%" PRId64
           ",\"seconds\":%.3f,\"errors\":0}\n",
           s_sys_names[s_opt.sys], s_opt.rows, s_opt.versions, s_opt.groups, s_opt.scale, old, recent,
           (double)(s_now_ns() - t0) / 1e9);
    ret = 0;
out:
    s_disconnect(&c);
    return ret;
}

/* ------------------------------------------------------------- echo server */

static volatile sig_atomic_t s_stop;
static int s_wake_fd = -1; /* the durable echo's wake-up pipe (write end, non-blocking) */
/* SIGTERM/SIGINT: stop the echo server (and wake the durable echo's zmq_poll:
 * a signal just before it blocks would otherwise be missed). */
static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
    if (s_wake_fd >= 0) {
        int e = errno;
        if (write(s_wake_fd, "", 1) < 0) { /* full: the loop wakes anyway */
        }
        errno = e;
    }
}

#define DECHO_MAX_BATCH 4096       /* requests per group commit at most */
#define DECHO_MAX_BYTES (4u << 20) /* record bytes per group commit at most */
#define DECHO_MAX_FRAMES 8         /* frames per request: routing id + payload frames */
#define DECHO_MAX_PAYLOAD 65536    /* payload bytes per request at most (larger ones are dropped) */
#define DECHO_MAGIC 0xEC000000u    /* a record's header: DECHO_MAGIC | payload length */

/* One request held by the durable echo: its frames (routing id first). */
typedef struct {
    zmq_msg_t f[DECHO_MAX_FRAMES];
    int n;
} decho_req_t;

/* Receives one whole request (flags 0 or ZMQ_DONTWAIT) into r. 0, -EAGAIN,
 * -EINTR, -EMSGSIZE (too many frames or payload bytes: dropped, with no
 * reply) or -1 (socket failure). */
static int s_decho_recv(void *s, decho_req_t *r, int flags)
{
    r->n = 0;
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, r->n ? 0 : flags) < 0) {
            int e = zmq_errno();
            zmq_msg_close(&m);
            if (r->n == 0 && (e == EAGAIN || e == EINTR))
                return -e;
            if (e == EINTR) /* inside a multipart message: the rest is already queued */
                continue;
            for (int i = 0; i < r->n; i++)
                zmq_msg_close(&r->f[i]);
            return -1;
        }
        int more = zmq_msg_more(&m);
        if (r->n < DECHO_MAX_FRAMES)
            r->f[r->n++] = m;
        else
            zmq_msg_close(&m);
        if (!more)
            break;
        if (r->n == DECHO_MAX_FRAMES) { /* drain and drop the rest */
            zmq_msg_t x;
            zmq_msg_init(&x);
            while (zmq_msg_recv(&x, s, 0) >= 0 && zmq_msg_more(&x))
                ;
            zmq_msg_close(&x);
            for (int i = 0; i < r->n; i++)
                zmq_msg_close(&r->f[i]);
            return -EMSGSIZE;
        }
    }
    size_t plen = 0;
    for (int i = 1; i < r->n; i++)
        plen += zmq_msg_size(&r->f[i]);
    if (plen > DECHO_MAX_PAYLOAD) {
        for (int i = 0; i < r->n; i++)
            zmq_msg_close(&r->f[i]);
        r->n = 0;
        return -EMSGSIZE;
    }
    return 0;
}

/* Sends request r back unchanged (the frames are consumed). 0 or -1. */
static int s_decho_reply(void *s, decho_req_t *r)
{
    int ret = 0;
    for (int i = 0; i < r->n; i++) {
        if (ret == 0 && zmq_msg_send(&r->f[i], s, i + 1 < r->n ? ZMQ_SNDMORE : 0) < 0)
            ret = -1;
        zmq_msg_close(&r->f[i]); /* no-op after a successful send */
    }
    r->n = 0;
    return ret;
}

/* Does request r need an fdatasync before its reply? */
static bool s_decho_sync(decho_req_t *r)
{
    if (r->n < 2 || zmq_msg_size(&r->f[1]) == 0)
        return true;
    return *(const char *)zmq_msg_data(&r->f[1]) != DECHO_NOSYNC;
}

/* Creates path at size bytes of zeros, fsynced with its directory (as the
 * DriftDB writer pre-zeroes a segment: later writes allocate nothing). fd or -1. */
static int s_decho_create(const char *path, size_t size)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno));
        return -1;
    }
    static char zero[1 << 20];
    for (size_t off = 0; off < size;) {
        size_t n = size - off < sizeof(zero) ? size - off : sizeof(zero);
        ssize_t w = pwrite(fd, zero, n, (off_t)off);
        if (w <= 0) {
            fprintf(stderr, "loadgen: pre-zeroing %s: %s\n", path, w < 0 ? strerror(errno) : "short write");
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = 0;
    else
        snprintf(dir, sizeof(dir), ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fsync(fd) || dfd < 0 || fsync(dfd)) {
        fprintf(stderr, "loadgen: fsync %s: %s\n", path, strerror(errno));
        if (dfd >= 0)
            close(dfd);
        close(fd);
        return -1;
    }
    close(dfd);
    return fd;
}

/* The flush thread of the durable echo and what it shares with the loop. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool busy;       /* a batch was handed over and its reply not sent yet (loop sets, loop clears) */
    bool flushing;   /* the flush thread has work (loop sets, flusher clears) */
    bool quit;       /* loop: stop */
    int err;         /* flusher: errno of a failed pwrite/fdatasync (0 = fine) */
    const char *buf; /* the batch's records (valid while busy) */
    size_t len;
    int fd, done_w; /* the file; the pipe the flusher writes one byte to per finished batch */
    size_t size, off;
    uint64_t syncs, bytes, wraps; /* flusher's counters (read by the loop after join) */
} decho_flush_t;

/* Writes a batch: one pwrite at the file offset (back to 0 when the batch
 * would pass the end) and one fdatasync. 0 or an errno. */
static int s_decho_write(decho_flush_t *f, const char *buf, size_t len)
{
    int err = 0;
    if (f->off + len > f->size) {
        f->off = 0;
        f->wraps++;
    }
    for (size_t done = 0; done < len && !err;) {
        ssize_t w = pwrite(f->fd, buf + done, len - done, (off_t)(f->off + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            err = w < 0 ? errno : EIO;
        else
            done += (size_t)w;
    }
    int rc = 0;
    while (!err && (rc = fdatasync(f->fd)) && errno == EINTR)
        ;
    if (!err && rc)
        err = errno;
    f->off += len;
    f->bytes += len;
    f->syncs++;
    return err;
}

/* The flush thread: s_decho_write of each batch handed over, then a byte on the pipe. */
static void *s_decho_flusher(void *arg)
{
    decho_flush_t *f = arg;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!f->flushing && !f->quit)
            pthread_cond_wait(&f->cv, &f->mu);
        if (f->quit)
            break;
        const char *buf = f->buf;
        size_t len = f->len;
        pthread_mutex_unlock(&f->mu);
        int err = s_decho_write(f, buf, len);
        pthread_mutex_lock(&f->mu);
        f->err = err;
        f->flushing = false;
        char one = 1;
        while (write(f->done_w, &one, 1) < 0 && errno == EINTR)
            ;
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

/* A batch of durable requests being filled (or in flight): the requests and their records. */
typedef struct {
    decho_req_t *req;
    int n;
    char *buf;
    size_t len;
} decho_batch_t;

/* A client (routing id) of the durable echo, for the gather mode. */
#define DECHO_ACTIVE_NS 100000000ull /* active: sent a durable request in the last 100 ms */
#define DECHO_MAX_CLIENTS 4096
typedef struct {
    unsigned char id[32];
    size_t len;
    uint64_t last_ns; /* its last durable request */
    bool pending;     /* it has a request in the pending batch */
} decho_client_t;

/* The clients the loop has seen (gather mode): who is active, who is waiting. */
typedef struct {
    decho_client_t *c;
    int n;        /* entries in c */
    int npending; /* entries with pending set */
} decho_clients_t;

/* Records a durable request of r's sender at now: active, pending. */
static void s_decho_seen(decho_clients_t *cs, decho_req_t *r, uint64_t now)
{
    size_t len = zmq_msg_size(&r->f[0]);
    const void *id = zmq_msg_data(&r->f[0]);
    if (len > sizeof(cs->c[0].id))
        return; /* not a ZeroMQ-generated id: not tracked (the gather timeout covers it) */
    int i = 0;
    while (i < cs->n && !(cs->c[i].len == len && !memcmp(cs->c[i].id, id, len)))
        i++;
    if (i == cs->n) {
        /* reuse an inactive entry, or append */
        for (i = 0; i < cs->n && (cs->c[i].pending || cs->c[i].last_ns + DECHO_ACTIVE_NS > now); i++)
            ;
        if (i == cs->n) {
            if (cs->n == DECHO_MAX_CLIENTS)
                return;
            cs->n++;
        }
        memcpy(cs->c[i].id, id, len);
        cs->c[i].len = len;
        cs->c[i].pending = false;
    }
    cs->c[i].last_ns = now;
    if (!cs->c[i].pending) {
        cs->c[i].pending = true;
        cs->npending++;
    }
}

/* Clients active at now (a durable request in the last DECHO_ACTIVE_NS). */
static int s_decho_active(const decho_clients_t *cs, uint64_t now)
{
    int k = 0;
    for (int i = 0; i < cs->n; i++)
        k += cs->c[i].pending || cs->c[i].last_ns + DECHO_ACTIVE_NS > now;
    return k;
}

/* The durable echo (--serve-echo EP --durable FILE): group commit, the least
 * any durable request/reply server must do. The loop thread owns the socket:
 * it drains every queued request, answers the DECHO_NOSYNC ones at once and
 * appends the others to the pending batch as records [u32 little-endian
 * DECHO_MAGIC | payload length][payload frames] (the data ends at the first
 * header without the magic); whenever the flush thread is idle it hands the
 * whole pending batch over (one pwrite into the pre-zeroed file, one
 * fdatasync) and, when the flusher signals the pipe, sends that batch's
 * replies. So requests keep arriving, and no-sync requests keep being
 * answered, during an fdatasync — as a writer with a flush thread (DriftDB's,
 * PostgreSQL's WAL writer) does. threaded = false: the loop writes, syncs
 * and answers the batch itself (Redis's appendfsync always loop). gather_us >
 * 0: the pending batch is handed over only once every active client has a
 * request in it, or gather_us after its first request (or after the flusher
 * became free, whichever is later). On exit it prints its counters on stderr. */
static int s_serve_durable(void *s, const char *ep, const char *path, size_t size, int64_t gather_us, bool threaded)
{
    int ret = 1, pfd[2] = {-1, -1};
    decho_clients_t cs = {.c = calloc(DECHO_MAX_CLIENTS, sizeof(*cs.c))};
    /* gather mode: the pending batch's deadline is gather_ns after its first
     * request or after the flusher became free, whichever is later */
    uint64_t first_ns = 0, free_ns = 0, gather_ns = (uint64_t)gather_us * 1000u, timeouts = 0;
    decho_flush_t f = {.fd = -1, .done_w = -1, .size = size};
    decho_batch_t bt[2] = {{0}};
    decho_batch_t *pend = &bt[0], *fly = &bt[1];
    uint64_t requests = 0, records = 0, nosync = 0, dropped = 0;
    int max_batch = 0;
    bool started = false;
    pthread_t th;
    pthread_mutex_init(&f.mu, NULL);
    pthread_cond_init(&f.cv, NULL);
    for (int i = 0; i < 2; i++) {
        bt[i].req = calloc(DECHO_MAX_BATCH, sizeof(*bt[i].req));
        bt[i].buf = malloc(DECHO_MAX_BYTES);
        if (!bt[i].req || !bt[i].buf || !cs.c) {
            fprintf(stderr, "loadgen: durable echo: out of memory\n");
            goto out;
        }
    }
    f.fd = s_decho_create(path, size);
    if (f.fd < 0)
        goto out;
    if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK)) {
        fprintf(stderr, "loadgen: pipe: %s\n", strerror(errno));
        goto out;
    }
    f.done_w = pfd[1];
    s_wake_fd = pfd[1];
    if (zmq_bind(s, ep)) {
        fprintf(stderr, "loadgen: bind %s: %s\n", ep, zmq_strerror(zmq_errno()));
        goto out;
    }
    /* The flusher blocks SIGTERM/SIGINT (inherited from this mask), so they
     * interrupt the loop's zmq_poll, not the flusher's condition wait. */
    sigset_t stop_sigs, old_sigs;
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGTERM);
    sigaddset(&stop_sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_sigs, &old_sigs);
    int prc = threaded ? pthread_create(&th, NULL, s_decho_flusher, &f) : 0;
    pthread_sigmask(SIG_SETMASK, &old_sigs, NULL);
    if (prc) {
        fprintf(stderr, "loadgen: pthread_create failed\n");
        goto out;
    }
    started = threaded;
    fprintf(stderr, "loadgen: durable echo on %s, file %s (%zu bytes pre-zeroed), %s, gather %" PRId64 " us\n", ep,
            path, size, threaded ? "flush thread" : "one thread", gather_us);
    bool wait_gather = false; /* a pending batch waits for the other active clients */
    while (!s_stop) {
        bool full = pend->n == DECHO_MAX_BATCH || pend->len + 4 + DECHO_MAX_PAYLOAD > DECHO_MAX_BYTES;
        zmq_pollitem_t it[2] = {{s, 0, full ? 0 : ZMQ_POLLIN, 0}, {NULL, pfd[0], ZMQ_POLLIN, 0}};
        long tmo = -1;
        if (wait_gather) { /* zmq_poll waits whole milliseconds: at least 1 */
            uint64_t now = s_now_ns(), end = (first_ns > free_ns ? first_ns : free_ns) + gather_ns;
            tmo = now >= end ? 0 : (long)((end - now + 999999) / 1000000);
        }
        if (zmq_poll(it, 2, tmo) < 0) {
            if (zmq_errno() == EINTR)
                continue;
            goto fail;
        }
        if (it[1].revents & ZMQ_POLLIN) { /* the batch in flight is durable: its replies */
            char sink[64];
            if (read(pfd[0], sink, sizeof(sink)) < 0 && errno != EINTR && errno != EAGAIN)
                goto fail;
            pthread_mutex_lock(&f.mu);
            bool done = f.busy && !f.flushing;
            int err = f.err;
            pthread_mutex_unlock(&f.mu);
            if (err) {
                fprintf(stderr, "loadgen: durable echo: pwrite/fdatasync: %s\n", strerror(err));
                goto out;
            }
            if (done) {
                records += (uint64_t)fly->n;
                for (int i = 0; i < fly->n; i++)
                    if (s_decho_reply(s, &fly->req[i]))
                        goto fail;
                fly->n = 0, fly->len = 0;
                free_ns = s_now_ns();
                pthread_mutex_lock(&f.mu);
                f.busy = false;
                pthread_mutex_unlock(&f.mu);
            }
        }
        while (pend->n < DECHO_MAX_BATCH && pend->len + 4 + DECHO_MAX_PAYLOAD <= DECHO_MAX_BYTES) {
            decho_req_t *r = &pend->req[pend->n];
            int rc = s_decho_recv(s, r, ZMQ_DONTWAIT);
            if (rc == -EAGAIN || rc == -EINTR)
                break;
            if (rc == -EMSGSIZE) {
                dropped++;
                continue;
            }
            if (rc)
                goto fail;
            requests++;
            if (!s_decho_sync(r)) {
                nosync++;
                if (s_decho_reply(s, r))
                    goto fail;
                continue;
            }
            if (gather_ns) {
                uint64_t now = s_now_ns();
                if (pend->n == 0)
                    first_ns = now;
                s_decho_seen(&cs, r, now);
            }
            size_t plen = 0;
            for (int i = 1; i < r->n; i++)
                plen += zmq_msg_size(&r->f[i]);
            uint32_t le = DECHO_MAGIC | (uint32_t)plen; /* the machines here are little-endian */
            memcpy(pend->buf + pend->len, &le, 4);
            pend->len += 4;
            for (int i = 1; i < r->n; i++) {
                size_t k = zmq_msg_size(&r->f[i]);
                memcpy(pend->buf + pend->len, zmq_msg_data(&r->f[i]), k);
                pend->len += k;
            }
            pend->n++;
        }
        /* Gather mode: the pending batch waits until every active client has a
         * request in it, or gather_us after its first request. */
        wait_gather = false;
        bool partial = false;
        if (gather_ns && pend->n && !full) {
            uint64_t now = s_now_ns();
            if (cs.npending < s_decho_active(&cs, now)) {
                partial = true;
                wait_gather = now < (first_ns > free_ns ? first_ns : free_ns) + gather_ns;
            }
        }
        if (!threaded && pend->n && !wait_gather) { /* one thread: write, sync and answer the batch here */
            timeouts += partial;
            for (int i = 0; i < cs.n; i++)
                cs.c[i].pending = false;
            cs.npending = 0;
            if (pend->n > max_batch)
                max_batch = pend->n;
            int err = s_decho_write(&f, pend->buf, pend->len);
            if (err) {
                fprintf(stderr, "loadgen: durable echo: pwrite/fdatasync: %s\n", strerror(err));
                goto out;
            }
            records += (uint64_t)pend->n;
            for (int i = 0; i < pend->n; i++)
                if (s_decho_reply(s, &pend->req[i]))
                    goto fail;
            pend->n = 0, pend->len = 0;
            free_ns = s_now_ns();
            continue;
        }
        pthread_mutex_lock(&f.mu);
        if (threaded && !f.busy && pend->n && !wait_gather) { /* hand the pending batch to the flusher */
            timeouts += partial;
            for (int i = 0; i < cs.n; i++)
                cs.c[i].pending = false;
            cs.npending = 0;
            decho_batch_t *t = fly;
            fly = pend, pend = t;
            if (fly->n > max_batch)
                max_batch = fly->n;
            f.buf = fly->buf, f.len = fly->len;
            f.busy = f.flushing = true;
            pthread_cond_signal(&f.cv);
        }
        pthread_mutex_unlock(&f.mu);
    }
    ret = 0;
    goto out;
fail:
    fprintf(stderr, "loadgen: durable echo: %s\n", zmq_strerror(zmq_errno()));
out:
    if (started) {
        pthread_mutex_lock(&f.mu);
        f.quit = true;
        pthread_cond_signal(&f.cv);
        pthread_mutex_unlock(&f.mu);
        pthread_join(th, NULL);
    }
    fprintf(stderr,
            "loadgen: durable echo: requests=%" PRIu64 " nosync=%" PRIu64 " records=%" PRIu64 " fdatasyncs=%" PRIu64
            " bytes=%" PRIu64 " max_batch=%d wraps=%" PRIu64 " dropped=%" PRIu64 " gather_timeouts=%" PRIu64 "\n",
            requests, nosync, records, f.syncs, f.bytes, max_batch, f.wraps, dropped, timeouts);
    free(cs.c);
    for (int i = 0; i < 2; i++) {
        for (int k = 0; bt[i].req && k < bt[i].n; k++)
            for (int j = 0; j < bt[i].req[k].n; j++)
                zmq_msg_close(&bt[i].req[k].f[j]);
        free(bt[i].req);
        free(bt[i].buf);
    }
    s_wake_fd = -1;
    for (int i = 0; i < 2; i++)
        if (pfd[i] >= 0)
            close(pfd[i]);
    if (f.fd >= 0)
        close(f.fd);
    pthread_cond_destroy(&f.cv);
    pthread_mutex_destroy(&f.mu);
    return ret;
}

/* A ROUTER that sends every message back unchanged until SIGTERM/SIGINT; with
 * durable != NULL, the durable echo (s_serve_durable) on a file of size bytes. */
static int s_serve_echo(const char *ep, const char *durable, size_t size, int64_t gather_us, bool threaded)
{
    struct sigaction sa = {.sa_handler = s_on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_ROUTER);
    int zero = 0, ret = 1;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
    if (durable) {
        ret = s_serve_durable(s, ep, durable, size, gather_us, threaded);
        goto out;
    }
    if (zmq_bind(s, ep)) {
        fprintf(stderr, "loadgen: bind %s: %s\n", ep, zmq_strerror(zmq_errno()));
        goto out;
    }
    fprintf(stderr, "loadgen: echo on %s\n", ep);
    while (!s_stop) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, 0) < 0) {
            zmq_msg_close(&m);
            if (zmq_errno() == EINTR)
                continue;
            break;
        }
        int more = zmq_msg_more(&m);
        zmq_msg_send(&m, s, more ? ZMQ_SNDMORE : 0);
        zmq_msg_close(&m);
    }
    ret = 0;
out:
    zmq_close(s);
    zmq_ctx_term(ctx);
    return ret;
}

/* ------------------------------------------------------------------- main */

/* --help text. */
static void s_usage(void)
{
    fputs("usage: loadgen --system drift|pg|redis|sqlite|echo --target T --workload W --clients N --seconds S\n"
          "               [--warmup S] [--rows N] [--versions V] [--seed X] [--inflight K] [--param k=v ...]\n"
          "       loadgen --serve-echo ENDPOINT\n"
          "               [--durable FILE [--durable-mb N] [--gather-us D] [--flush-thread 0|1]]\n"
          "workloads: setup insert bulk point_latest point_asof idx_latest idx_asof history diff tpcb\n"
          "           join_agg join_agg_asof scan scan_asof echo echo_tpcb\n"
          "--durable: the echo appends each request to FILE (N MB pre-zeroed, default 64) and answers after\n"
          "           an fdatasync that covers it (group commit); a request starting with 'n' needs no sync;\n"
          "           --gather-us: a batch waits up to D us for every active client; --flush-thread 0: one thread\n"
          "params: old_point=X recent_point=Y diff_from=X diff_to=Y scale=N msg_size=N history=show|sql\n"
          "        isolation=default|read_committed (TPC-B's BEGIN; SQLite always BEGIN IMMEDIATE)\n",
          stderr);
}

/* Parses an integer option value or dies. */
static int64_t s_int(const char *name, const char *v, int64_t lo, int64_t hi)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        s_die("%s: bad value '%s' (an integer in [%" PRId64 ", %" PRId64 "])", name, v, lo, hi);
    return x;
}

/* Parses a non-negative number of seconds or dies. */
static double s_dbl(const char *name, const char *v)
{
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !(x >= 0) || x > 1e6)
        s_die("%s: bad value '%s'", name, v);
    return x;
}

/* Applies one --param name=value. */
static void s_param(const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq)
        s_die("--param %s: expected name=value", kv);
    size_t n = (size_t)(eq - kv);
    const char *v = eq + 1;
#define IS(x) (n == strlen(x) && !strncmp(kv, x, n))
    if (IS("old_point"))
        s_opt.old_point = s_int("old_point", v, 0, INT64_MAX), s_opt.have_old = true;
    else if (IS("recent_point"))
        s_opt.recent_point = s_int("recent_point", v, 0, INT64_MAX);
    else if (IS("diff_from"))
        s_opt.diff_from = s_int("diff_from", v, 0, INT64_MAX);
    else if (IS("diff_to"))
        s_opt.diff_to = s_int("diff_to", v, 0, INT64_MAX);
    else if (IS("scale"))
        s_opt.scale = s_int("scale", v, 1, 1000000);
    else if (IS("msg_size"))
        s_opt.msg_size = (size_t)s_int("msg_size", v, 8, 4096);
    else if (IS("isolation")) {
        if (strcmp(v, "default") && strcmp(v, "read_committed"))
            s_die("--param isolation=%s: expected default or read_committed", v);
        s_opt.read_committed = !strcmp(v, "read_committed");
    } else if (IS("history")) {
        if (strcmp(v, "show") && strcmp(v, "sql"))
            s_die("--param history=%s: expected show or sql", v);
        s_opt.history_show = !strcmp(v, "show");
    } else
        s_die("--param %.*s: unknown parameter", (int)n, kv);
#undef IS
}

/* Prints the "not applicable" line and exits 3. */
static void s_not_applicable(const char *why) __attribute__((noreturn));
static void s_not_applicable(const char *why)
{
    printf("{\"system\":\"%s\",\"workload\":\"%s\",\"clients\":%d,\"not_applicable\":\"%s\"}\n", s_sys_names[s_opt.sys],
           s_work_names[s_opt.work], s_opt.clients, why);
    fprintf(stderr, "loadgen: %s/%s: not applicable: %s\n", s_sys_names[s_opt.sys], s_work_names[s_opt.work], why);
    exit(3);
}

/* The 1-minute load average (-1 if unknown). */
static double s_load1(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

/* Percentile q of the merged histogram (bucket upper bound, capped at max), µs. */
static double s_pct(const uint64_t *h, uint64_t total, double q, uint64_t max_ns)
{
    if (!total)
        return 0;
    uint64_t rank = (uint64_t)ceil(q * (double)total), acc = 0;
    if (rank < 1)
        rank = 1;
    for (size_t i = 0; i < H_N; i++) {
        acc += h[i];
        if (acc >= rank) {
            uint64_t u = s_h_upper(i);
            return (double)(u < max_ns ? u : max_ns) / 1000.0;
        }
    }
    return (double)max_ns / 1000.0;
}

/* Parses the options, runs setup or the timed run, prints the JSON line. */
int main(int argc, char **argv)
{
    const char *serve = NULL, *durable = NULL;
    int64_t durable_mb = 64, gather_us = 0;
    bool flush_thread = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            s_usage();
            return 0;
        }
        if (i + 1 >= argc)
            s_die("%s: missing value (see --help)", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--serve-echo"))
            serve = v;
        else if (!strcmp(a, "--durable"))
            durable = v;
        else if (!strcmp(a, "--durable-mb"))
            durable_mb = s_int(a, v, 1, 1 << 20);
        else if (!strcmp(a, "--gather-us"))
            gather_us = s_int(a, v, 0, 1000000);
        else if (!strcmp(a, "--flush-thread"))
            flush_thread = s_int(a, v, 0, 1) == 1;
        else if (!strcmp(a, "--system")) {
            for (int k = 0; k < NSYS; k++)
                if (!strcmp(v, s_sys_names[k]))
                    s_opt.sys = (sys_t)k;
            if (s_opt.sys == NSYS)
                s_die("--system %s: expected drift, pg, redis, sqlite or echo", v);
        } else if (!strcmp(a, "--workload")) {
            for (int k = 0; k < NWORK; k++)
                if (!strcmp(v, s_work_names[k]))
                    s_opt.work = (work_t)k;
            if (s_opt.work == NWORK)
                s_die("--workload %s: unknown (see --help)", v);
        } else if (!strcmp(a, "--target"))
            s_opt.target = v;
        else if (!strcmp(a, "--clients"))
            s_opt.clients = (int)s_int(a, v, 1, 4096);
        else if (!strcmp(a, "--seconds"))
            s_opt.seconds = s_dbl(a, v);
        else if (!strcmp(a, "--warmup"))
            s_opt.warmup = s_dbl(a, v);
        else if (!strcmp(a, "--rows"))
            s_opt.rows = s_int(a, v, 10, INT64_C(1) << 40);
        else if (!strcmp(a, "--versions"))
            s_opt.versions = s_int(a, v, 1, 100000);
        else if (!strcmp(a, "--seed"))
            s_opt.seed = (uint64_t)s_int(a, v, 0, INT64_MAX);
        else if (!strcmp(a, "--inflight"))
            s_opt.inflight = (int)s_int(a, v, 1, 100000);
        else if (!strcmp(a, "--param"))
            s_param(v);
        else
            s_die("unknown option %s (see --help)", a);
    }
    if ((durable && !serve) || (!durable && (gather_us || !flush_thread)))
        s_die("--durable goes with --serve-echo, --gather-us and --flush-thread with --durable");
    if (serve)
        return s_serve_echo(serve, durable, (size_t)durable_mb << 20, gather_us, flush_thread);
    if (s_opt.sys == NSYS || s_opt.work == NWORK || !s_opt.target)
        s_die("--system, --workload and --target are required (see --help)");
    if (!(s_opt.seconds > 0) && s_opt.work != W_SETUP)
        s_die("--seconds must be > 0");
    s_opt.groups = s_opt.rows / 10 > 0 ? s_opt.rows / 10 : 1;

    /* What applies where. */
    if (s_opt.sys == SYS_ECHO && s_opt.work != W_ECHO && s_opt.work != W_ECHO_TPCB && s_opt.work != W_SETUP)
        s_not_applicable("the echo target only answers the echo workloads");
    if (s_opt.work == W_ECHO_TPCB && s_opt.sys != SYS_ECHO)
        s_not_applicable("echo_tpcb is the TPC-B round-trip ceiling of an echo server");
    if (s_opt.work == W_ECHO && s_opt.sys != SYS_ECHO && s_opt.sys != SYS_DRIFT)
        s_not_applicable("echo is the raw libzmq ceiling (and a DriftDB ping); no SQL peer has it");
    if (s_opt.sys == SYS_REDIS && s_opt.work != W_INSERT && s_opt.work != W_BULK && s_opt.work != W_SETUP)
        s_not_applicable("Redis runs only the write-path workloads (insert, bulk)");
    if (s_opt.inflight > 1 &&
        !((s_opt.sys == SYS_DRIFT && s_opt.work != W_TPCB) || (s_opt.sys == SYS_ECHO && s_opt.work == W_ECHO)))
        s_die("--inflight > 1 is for DriftDB (single-statement workloads) and the echo workload only");
    if (s_opt.work == W_SETUP)
        return s_setup();
    bool asof = s_opt.work == W_POINT_ASOF || s_opt.work == W_IDX_ASOF || s_opt.work == W_JOIN_AGG_ASOF ||
                s_opt.work == W_SCAN_ASOF;
    if (asof && !s_opt.have_old)
        s_die("%s needs --param old_point=X (from the setup output)", s_work_names[s_opt.work]);
    if (s_opt.work == W_DIFF) {
        if (s_opt.diff_from < 0)
            s_opt.diff_from = s_opt.old_point;
        if (s_opt.diff_to < 0)
            s_opt.diff_to = s_opt.recent_point;
        if (s_opt.diff_from < 0 || s_opt.diff_to < 0)
            s_die("diff needs --param old_point=X recent_point=Y (or diff_from/diff_to)");
    }
    s_build_sql();

    int n = s_opt.clients;
    s_cl = calloc((size_t)n, sizeof(*s_cl));
    uint64_t *hist = calloc(H_N, sizeof(*hist));
    if (!s_cl || !hist)
        s_die("out of memory");
    uint64_t id_base = s_wall_us() * 1000u; /* insert ids: unique across runs */
    pthread_barrier_init(&s_bar, NULL, (unsigned)n + 1);
    for (int i = 0; i < n; i++) {
        client_t *c = &s_cl[i];
        c->idx = i;
        c->rng = (s_opt.seed + 1) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)(i + 1) * 0xBF58476D1CE4E5B9ull);
        if (!c->rng)
            c->rng = 1;
        c->ins_next = id_base + (uint64_t)i;
        c->hist = calloc(H_N, sizeof(*c->hist));
        c->pad = calloc(BULK_ROWS, PAD_W);
        if (!c->hist || !c->pad)
            s_die("out of memory");
        if (pthread_create(&c->th, NULL, s_client_main, c))
            s_die("pthread_create failed");
    }
    pthread_barrier_wait(&s_bar);
    uint64_t start = s_now_ns();
    s_warm_end = start + (uint64_t)(s_opt.warmup * 1e9);
    s_end = s_warm_end + (uint64_t)(s_opt.seconds * 1e9);
    pthread_barrier_wait(&s_bar);
    uint64_t ops = 0, errors = 0, retries = 0, max_ns = 0;
    for (int i = 0; i < n; i++) {
        client_t *c = &s_cl[i];
        pthread_join(c->th, NULL);
        for (size_t k = 0; k < H_N; k++)
            hist[k] += c->hist[k];
        ops += c->ops, errors += c->errors, retries += c->retries;
        if (c->max_ns > max_ns)
            max_ns = c->max_ns;
        free(c->hist);
        free(c->pad);
    }
    pthread_barrier_destroy(&s_bar);

    printf("{\"system\":\"%s\",\"workload\":\"%s\",\"clients\":%d,\"seconds\":%.3f,\"ops\":%" PRIu64
           ",\"ops_per_s\":%.2f,\"errors\":%" PRIu64 ",\"p50_us\":%.2f,\"p90_us\":%.2f,\"p99_us\":%.2f,"
           "\"p999_us\":%.2f,\"max_us\":%.2f,\"inflight\":%d,\"warmup\":%.3f,\"retries\":%" PRIu64
           ",\"rows_per_op\":%d,\"load1\":%.2f,\"hist\":[",
           s_sys_names[s_opt.sys], s_work_names[s_opt.work], n, s_opt.seconds, ops, (double)ops / s_opt.seconds, errors,
           s_pct(hist, ops, 0.50, max_ns), s_pct(hist, ops, 0.90, max_ns), s_pct(hist, ops, 0.99, max_ns),
           s_pct(hist, ops, 0.999, max_ns), (double)max_ns / 1000.0, s_opt.inflight, s_opt.warmup, retries,
           s_opt.work == W_BULK ? BULK_ROWS : 1, s_load1());
    bool first = true;
    for (size_t k = 0; k < H_N; k++) {
        if (!hist[k])
            continue;
        printf("%s[%.3f,%" PRIu64 "]", first ? "" : ",", (double)s_h_upper(k) / 1000.0, hist[k]);
        first = false;
    }
    printf("]");
    if (errors) {
        printf(",\"error\":");
        s_json_str(s_first_err);
    }
    printf("}\n");
    fflush(stdout);
    free(hist);
    free(s_cl);
    for (int i = 0; i < NST; i++)
        free(s_sql[i]);
    return errors ? 1 : 0;
}
