/* admin/cmd_demo.c — `driftctl demo`: a guided tour for a new user on a
 * running daemon.
 *
 * It creates an `orders` table with an index on customer, generates 10 000
 * orders (a fixed seed: the same data every run) into a temporary JSON-lines
 * file and loads it through the `driftctl ingest` code path, changes and
 * deletes a few orders so that history exists (remembering the commit seqs
 * and the time before the changes), then prints each statement of the tour
 * and its result: the present, AS OF a seq and a time before the changes,
 * one order's versions (FOR SYSTEM_TIME ALL with _seq/_ts/_op/_end_seq), SHOW
 * DRIFT, EXPLAIN with a primary-key lookup and an index scan, and a DriftQL
 * document table. When `orders` already exists (an earlier run), it says so
 * and uses `orders_2`, `orders_3`, ... (and the matching `profiles_N`).
 *
 * A step that fails is printed with its SQLSTATE and the tour goes on; the
 * exit code is then 1. Single-threaded; one libdrift connection. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin/driftctl.h"
#include "common/util.h"

typedef struct {
    drift_conn_t *conn;
    int failures;
} s_demo_t;

static const char *const s_customers[] = {
    "alice",   "bob",  "carol",  "dave",  "erin",   "frank", "grace", "heidi",  "ivan",   "judy",
    "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yvonne",
};
static const char *const s_statuses[] = {"new", "paid", "shipped", "delivered"};

/* Prints a narration paragraph. */
static void s_say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("\n-- ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    fflush(stdout);
}

/* Prints and runs one statement; prints its result or error. Returns the
 * result (caller frees) when ret_r is given, else frees it. 0 or -1. */
static int s_run(s_demo_t *d, drift_result_t **ret_r, const char *fmt, ...)
{
    char *sql = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&sql, fmt, ap);
    va_end(ap);
    if (n < 0) {
        fprintf(stderr, "driftctl demo: out of memory\n");
        d->failures++;
        return -1;
    }
    printf("drift=> %s;\n", sql);
    fflush(stdout);
    drift_result_t *r = NULL;
    int rc = drift_exec(d->conn, sql, NULL, 0, &r);
    if (rc == 0) {
        drift_ctl_print_result(stdout, r, DRIFT_FMT_TABLE);
    } else {
        fflush(stdout);
        fprintf(stderr, "ERROR %s: %s\n", r ? drift_result_errcode(r) : drift_conn_errcode(d->conn),
                r ? drift_result_errmsg(r) : drift_conn_errmsg(d->conn));
        d->failures++;
    }
    fflush(stdout);
    free(sql);
    if (ret_r && rc == 0)
        *ret_r = r;
    else
        drift_result_free(&r);
    return rc == 0 ? 0 : -1;
}

/* Commit seq of a result (-1 when it has none). */
static int64_t s_seq_of(const drift_result_t *r)
{
    int64_t s;
    return r && drift_result_seq(r, &s) ? s : -1;
}

/* Writes n generated orders as JSON lines into a new temporary file; its path in ret_path (caller frees). */
static int s_generate(int n, char **ret_path)
{
    const char *dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *path = NULL;
    if (asprintf(&path, "%s/driftctl-demo-XXXXXX.jsonl", dir) < 0)
        return -ENOMEM;
    int fd = mkstemps(path, 6);
    if (fd < 0) {
        int e = errno;
        fprintf(stderr, "driftctl demo: cannot create %s: %s\n", path, strerror(e));
        free(path);
        return -e;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(path);
        free(path);
        return -ENOMEM;
    }
    uint64_t st = 0x5eed2026d1f7ULL;
    time_t base = 1767225600; /* 2026-01-01T00:00:00Z */
    for (int i = 1; i <= n; i++) {
        const char *cust = s_customers[drift_rand64(&st) % (sizeof s_customers / sizeof *s_customers)];
        const char *status = s_statuses[drift_rand64(&st) % (sizeof s_statuses / sizeof *s_statuses)];
        if (i == 42)
            status = "paid"; /* the order the tour follows: shipped later */
        /* amounts in quarters (5.00 .. 500.00): exact in binary, so they print as written */
        double amount = (double)(20 + (int)(drift_rand64(&st) % 1981)) * 0.25;
        time_t t = base + (time_t)i * 313 + (time_t)(drift_rand64(&st) % 60);
        struct tm tm;
        gmtime_r(&t, &tm);
        char ts[32];
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
        fprintf(f, "{\"id\":%d,\"customer\":\"%s\",\"amount\":%.2f,\"status\":\"%s\",\"created\":\"%s\"}\n", i, cust,
                amount, status, ts);
    }
    if (fclose(f) != 0) {
        int e = errno;
        unlink(path);
        free(path);
        return -e;
    }
    *ret_path = path;
    return 0;
}

/* True when a table of that name exists now. */
static bool s_table_exists(s_demo_t *d, const char *name)
{
    char *sql = NULL;
    if (asprintf(&sql, "SELECT * FROM %s LIMIT 0", name) < 0)
        return false;
    drift_result_t *r = NULL;
    int rc = drift_exec(d->conn, sql, NULL, 0, &r);
    bool exists = rc == 0;
    drift_result_free(&r);
    free(sql);
    return exists;
}

/* The text of cell (0, 0) of a result, or NULL (caller frees). */
static char *s_cell(const drift_result_t *r)
{
    return r && drift_result_nrows(r) > 0 && drift_result_ncolumns(r) > 0 ? drift_result_text(r, 0, 0) : NULL;
}

/* Usage of `driftctl demo`. */
static void s_usage(FILE *f)
{
    fprintf(f, "Usage: driftctl [-H ENDPOINT] demo [--rows N]\n"
               "  Creates an orders table (orders_2, ... when it exists), loads N generated orders\n"
               "  (default 10000), changes some, and walks through time travel, history, SHOW DRIFT,\n"
               "  EXPLAIN and a DriftQL document table, printing each statement and its result.\n"
               "Exit codes: 0 every step worked, 1 a step failed (the tour goes on), 2 usage, 3 unreachable.\n");
}

int drift_ctl_demo(drift_ctl_t *ctl, int argc, char **argv)
{
    enum { OPT_ROWS = 256 };
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'H'},
        {"rows", required_argument, NULL, OPT_ROWS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int nrows = 10000, opt, v;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "H:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'H': ctl->endpoint = optarg; break;
        case OPT_ROWS:
            if (!drift_ctl_parse_ms(optarg, &v) || v < 100 || v > 10000000) {
                fprintf(stderr, "driftctl demo: --rows: expected 100..10000000, got '%s'\n", optarg);
                return DRIFT_CTL_EUSAGE;
            }
            nrows = v;
            break;
        case 'h': s_usage(stdout); return DRIFT_CTL_OK;
        default: s_usage(stderr); return DRIFT_CTL_EUSAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "driftctl demo: unexpected argument '%s'\n", argv[optind]);
        return DRIFT_CTL_EUSAGE;
    }
    s_demo_t d = {0};
    char *path = NULL, *ts = NULL;
    drift_result_t *r = NULL;
    int ec = drift_ctl_connect(ctl, &d.conn);
    if (ec)
        return ec;

    /* Table names: orders, or orders_N when an earlier run left it. */
    char orders[64] = "orders", profiles[64] = "profiles";
    for (int i = 2; s_table_exists(&d, orders) || s_table_exists(&d, profiles); i++) {
        if (i > 999) {
            fprintf(stderr, "driftctl demo: tables orders .. orders_999 all exist\n");
            ec = DRIFT_CTL_ESTATEMENT;
            goto out;
        }
        snprintf(orders, sizeof orders, "orders_%d", i);
        snprintf(profiles, sizeof profiles, "profiles_%d", i);
    }
    printf("DriftDB demo — connected to %s (%s)\n", ctl->endpoint, drift_conn_server(d.conn));
    if (strcmp(orders, "orders") != 0)
        printf("NOTE: table orders already exists (an earlier demo run?); this run uses %s and %s.\n", orders,
               profiles);
    printf("Every change is a commit with a sequence number (seq); nothing is overwritten,\n"
           "so any earlier state of a table can be queried.\n");

    s_say("1. A table with a primary key and a secondary index.");
    if (s_run(&d, NULL,
              "CREATE TABLE %s (id INTEGER PRIMARY KEY, customer TEXT, amount REAL, status TEXT, created TIMESTAMP)",
              orders) < 0) {
        ec = DRIFT_CTL_ESTATEMENT;
        goto out;
    }
    s_run(&d, NULL, "CREATE INDEX %s_customer ON %s (customer)", orders, orders);

    s_say("2. Load %d generated orders from a JSON-lines file (what `driftctl ingest %s FILE` does).", nrows, orders);
    int grc = s_generate(nrows, &path);
    if (grc < 0) {
        fprintf(stderr, "driftctl demo: cannot write the orders file: %s\n", strerror(-grc));
        ec = DRIFT_CTL_ESTATEMENT;
        goto out;
    }
    printf("$ driftctl ingest %s %s\n", orders, path);
    fflush(stdout);
    drift_ingest_opts_t io = {.batch = 1000, .mode = DRIFT_INGEST_SQL, .progress = isatty(STDERR_FILENO)};
    drift_ingest_stats_t ist;
    ec = drift_ctl_ingest_run(d.conn, orders, path, &io, &ist);
    if (ec) {
        fprintf(stderr, "driftctl demo: loading the orders failed\n");
        goto out;
    }
    drift_ctl_ingest_summary(stdout, &ist);
    int64_t seq_loaded = ist.last_seq;

    /* The commit time of the last load transaction: the time travel point. */
    {
        char *sql = NULL;
        if (asprintf(&sql, "SELECT _ts FROM %s WHERE id = %d", orders, nrows) >= 0 &&
            drift_exec(d.conn, sql, NULL, 0, &r) == 0)
            ts = s_cell(r);
        free(sql);
        drift_result_free(&r);
    }

    s_say("3. Change history: ship order 42, then change its amount, then delete it; delete orders 7-9;\n"
          "-- cancel carol's new orders. Each statement is one commit (autocommit).");
    int64_t seqs[5] = {-1, -1, -1, -1, -1};
    const char *fmts[5] = {
        "UPDATE %s SET status = 'shipped' WHERE id = 42",
        "UPDATE %s SET amount = 99.5 WHERE id = 42",
        "DELETE FROM %s WHERE id IN (7, 8, 9)",
        "UPDATE %s SET status = 'cancelled' WHERE customer = 'carol' AND status = 'new'",
        "DELETE FROM %s WHERE id = 42",
    };
    for (int i = 0; i < 5; i++) {
        if (s_run(&d, &r, fmts[i], orders) == 0)
            seqs[i] = s_seq_of(r);
        drift_result_free(&r);
    }
    printf("(the load ended at seq %" PRId64 ", at %s; the changes are seqs %" PRId64 " to %" PRId64 ")\n", seq_loaded,
           ts ? ts : "?", seqs[0], seqs[4]);

    s_say("4. The present: order 42 is gone, carol's new orders are cancelled.");
    s_run(&d, NULL, "SELECT id, customer, amount, status FROM %s WHERE id = 42", orders);
    s_run(&d, NULL, "SELECT status, count(*) AS n FROM %s GROUP BY status ORDER BY status", orders);

    s_say("5. Time travel by commit seq: the same queries AS OF the end of the load (seq %" PRId64 ").", seq_loaded);
    s_run(&d, NULL, "SELECT id, customer, amount, status FROM %s AS OF @seq:%" PRId64 " WHERE id = 42", orders,
          seq_loaded);
    s_run(&d, NULL, "SELECT status, count(*) AS n FROM %s AS OF @seq:%" PRId64 " GROUP BY status ORDER BY status",
          orders, seq_loaded);
    s_run(&d, NULL, "SELECT id, amount, status FROM %s AS OF @seq:%" PRId64 " WHERE id = 42", orders, seqs[1]);

    s_say("6. Time travel by time (RFC 3339, microseconds): the commit time of the load's last transaction.");
    if (ts)
        s_run(&d, NULL, "SELECT id, customer, amount, status FROM %s FOR SYSTEM_TIME AS OF '%s' WHERE id = 42", orders,
              ts);
    else {
        printf("(skipped: the load's commit time could not be read)\n");
        d.failures++;
    }

    s_say("7. Every version of order 42 (SQL:2011 system time): _seq created it, _end_seq replaced or deleted it.");
    s_run(&d, NULL,
          "SELECT id, status, amount, _seq, _ts, _op, _end_seq FROM %s FOR SYSTEM_TIME ALL WHERE id = 42 ORDER BY "
          "_seq",
          orders);
    s_run(&d, NULL,
          "SELECT id, status, _seq, _end_seq FROM %s FOR SYSTEM_TIME BETWEEN @seq:%" PRId64 " AND @seq:%" PRId64
          " WHERE id = 42 ORDER BY _seq",
          orders, seqs[0], seqs[1]);

    s_say("8. SHOW DRIFT lists the events of one key, the delete included.");
    s_run(&d, NULL, "SHOW DRIFT %s KEY 42", orders);

    s_say("9. EXPLAIN shows the access path the planner chose.");
    s_run(&d, NULL, "EXPLAIN SELECT * FROM %s WHERE id = 43", orders);
    s_run(&d, NULL, "EXPLAIN SELECT * FROM %s WHERE customer = 'alice'", orders);
    s_run(&d, NULL, "EXPLAIN SELECT * FROM %s WHERE amount > 400", orders);
    s_run(&d, NULL,
          "SELECT count(*) AS n, min(amount) AS smallest, max(amount) AS largest FROM %s WHERE customer = "
          "'alice'",
          orders);

    s_say("10. DriftQL: a table of JSON documents keyed by a field, with an indexed field.");
    s_run(&d, NULL, "CREATE TABLE %s (pk=id, INDEX(city))", profiles);
    s_run(&d, NULL, "INSERT INTO %s {\"id\": 1, \"name\": \"Ada\", \"city\": \"London\", \"langs\": [\"en\"]}",
          profiles);
    s_run(&d, NULL, "INSERT INTO %s {\"id\": 2, \"name\": \"Grace\", \"city\": \"New York\"}", profiles);
    int64_t seq_before_patch = -1;
    if (s_run(&d, &r, "PATCH %s KEY 1 SET {\"city\": \"Paris\", \"title\": \"Countess\"}", profiles) == 0)
        seq_before_patch = s_seq_of(r) - 1;
    drift_result_free(&r);
    s_run(&d, NULL, "SELECT doc->>'name' AS name, doc->>'city' AS city, doc FROM %s ORDER BY name", profiles);
    s_run(&d, NULL, "SELECT doc->>'city' AS city FROM %s AS OF @seq:%" PRId64 " WHERE doc->>'name' = 'Ada'", profiles,
          seq_before_patch);
    s_run(&d, NULL, "SOFT DELETE FROM %s KEY 2", profiles);
    s_run(&d, NULL, "SHOW DRIFT %s KEY 1", profiles);

    s_say("Done. Try it yourself: driftctl sql   (the tables %s and %s stay)", orders, profiles);
    if (d.failures) {
        fprintf(stderr, "driftctl demo: %d step%s failed\n", d.failures, d.failures == 1 ? "" : "s");
        ec = DRIFT_CTL_ESTATEMENT;
    }
out:
    if (path) {
        unlink(path);
        free(path);
    }
    free(ts);
    drift_result_free(&r);
    drift_close(&d.conn);
    return ec;
}
