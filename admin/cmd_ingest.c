/* admin/cmd_ingest.c — `driftctl ingest TABLE FILE.jsonl`: loads JSON lines
 * into a table in batched transactions.
 *
 * Each line is one JSON object (blank lines are skipped). Rows are grouped in
 * batches of --batch lines (default 1000); each batch is one transaction, so
 * it commits whole or not at all, and batches commit in file order:
 * - SQL table: the batch becomes `INSERT INTO t ("k1", "k2", ...) VALUES
 *   ($1, $2, ...), (...)` with the first object's keys as the column list and
 *   every JSON value sent as a parameter (numbers, text, booleans, null as
 *   themselves, objects and arrays as JSON values). A run of objects with
 *   another key set starts another statement; a batch of several statements
 *   is wrapped in BEGIN/COMMIT. One round trip per statement.
 * - DriftQL document table: BEGIN, one `INSERT INTO t $1` per document
 *   (pipelined: up to s_window requests in flight on the pinned session),
 *   COMMIT.
 * The table kind is detected from its columns (a document table has only JSON
 * columns, the last named `doc`); --sql / --doc force it.
 *
 * A bad line stops the run before its batch is sent; a batch the server
 * refuses is rolled back. Either way the batches before it stay committed and
 * are reported (rows, last line, last seq) so the run can be resumed with
 * --skip. Single-threaded; one libdrift connection. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>

#include "admin/driftctl.h"
#include "common/json.h"

/* s_parse_line's answer for a blank line (exit codes are >= 0). */
#define S_BLANK (-1)

/* Requests in flight inside a document batch. */
static const size_t s_window = 128;

/* One parsed line. */
typedef struct {
    msgpack_sbuffer buf; /* the object as MessagePack */
    msgpack_unpacked up; /* its unpacked form (strings point into buf) */
    const msgpack_object_map *map;
    long line;
} s_row_t;

/* The run. */
typedef struct {
    drift_conn_t *conn;
    const drift_ingest_opts_t *o;
    drift_ingest_stats_t *st;
    const char *table; /* as given */
    char *table_sql;   /* as written in statements (quoted when needed) */
    const char *path;  /* file name for messages */
    FILE *in;
    off_t size; /* file size for the progress bar, 0 when unknown */
    off_t done_bytes;
    s_row_t *rows;
    size_t nrows;
    double t0, last_draw;
    bool drew;
} s_ing_t;

/* Seconds on the monotonic clock. */
static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Appends an identifier to f: as it is when it is a plain lower-case SQL
 * name, else double-quoted (so JSON keys match columns exactly). */
static void s_put_ident(FILE *f, const char *s, size_t n, bool fold_ok)
{
    bool plain = n > 0 && !(s[0] >= '0' && s[0] <= '9');
    for (size_t i = 0; i < n && plain; i++) {
        char ch = s[i];
        bool lower = (ch >= 'a' && ch <= 'z') || ch == '_' || (ch >= '0' && ch <= '9');
        bool upper = ch >= 'A' && ch <= 'Z';
        plain = lower || (fold_ok && upper);
    }
    if (plain && !fold_ok) {
        /* a column: quote anyway (it may be a keyword such as "order" or "key") */
        plain = false;
    }
    if (plain) {
        fwrite(s, 1, n, f);
        return;
    }
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            fputc('"', f);
        fputc(s[i], f);
    }
    fputc('"', f);
}

/* Frees the rows of the current batch. */
static void s_rows_clear(s_ing_t *g)
{
    for (size_t i = 0; i < g->nrows; i++) {
        msgpack_unpacked_destroy(&g->rows[i].up);
        msgpack_sbuffer_destroy(&g->rows[i].buf);
    }
    g->nrows = 0;
}

/* Draws the progress bar on stderr (at most every 100 ms unless force). */
static void s_progress(s_ing_t *g, bool force)
{
    if (!g->o->progress)
        return;
    double now = s_now();
    if (!force && now - g->last_draw < 0.1)
        return;
    g->last_draw = now;
    double dt = now - g->t0;
    double rate = dt > 0 ? (double)g->st->rows / dt : 0;
    if (g->size > 0) {
        int pct = (int)(100.0 * (double)g->done_bytes / (double)g->size);
        if (pct > 100)
            pct = 100;
        int fill = pct * 30 / 100;
        fprintf(stderr, "\r\033[K[%.*s%.*s] %3d%%  %" PRIu64 " rows  %.0f rows/s", fill,
                "##############################", 30 - fill, "..............................", pct, g->st->rows, rate);
    } else {
        fprintf(stderr, "\r\033[K%" PRIu64 " rows  %.0f rows/s", g->st->rows, rate);
    }
    fflush(stderr);
    g->drew = true;
}

/* Clears the progress bar line. */
static void s_progress_end(s_ing_t *g)
{
    if (g->drew) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        g->drew = false;
    }
}

/* Prints a server error of the batch of lines [first, last]. */
static void s_batch_error(s_ing_t *g, const drift_result_t *r, long first, long last, long at_line)
{
    const char *code = r ? drift_result_errcode(r) : drift_conn_errcode(g->conn);
    const char *msg = r ? drift_result_errmsg(r) : drift_conn_errmsg(g->conn);
    s_progress_end(g);
    if (at_line > 0)
        fprintf(stderr, "driftctl ingest: %s:%ld: ERROR %s: %s\n", g->path, at_line, *code ? code : "?????", msg);
    else
        fprintf(stderr, "driftctl ingest: %s:%ld-%ld: ERROR %s: %s\n", g->path, first, last, *code ? code : "?????",
                msg);
    snprintf(g->st->errcode, sizeof g->st->errcode, "%s", *code ? code : "?????");
}

/* Runs one statement synchronously; 0 or the driftctl exit code (the error printed). */
static int s_exec(s_ing_t *g, const char *sql, const drift_value_t *p, size_t np, long first, long last,
                  int64_t *ret_seq)
{
    drift_result_t *r = NULL;
    int rc = drift_exec(g->conn, sql, p, np, &r);
    if (rc == 0) {
        int64_t seq;
        if (ret_seq && drift_result_seq(r, &seq))
            *ret_seq = seq;
    } else {
        s_batch_error(g, r, first, last, 0);
    }
    drift_result_free(&r);
    return rc == 0 ? DRIFT_CTL_OK : drift_ctl_exit_code(rc);
}

/* Rolls back after a failed statement inside BEGIN (best effort: the
 * session ends with the connection anyway). */
static void s_rollback(s_ing_t *g)
{
    drift_result_t *r = NULL;
    drift_exec(g->conn, "ROLLBACK", NULL, 0, &r);
    drift_result_free(&r);
}

/* True when row b has exactly the keys of row a (any order). */
static bool s_same_keys(const msgpack_object_map *a, const msgpack_object_map *b)
{
    if (a->size != b->size)
        return false;
    for (uint32_t i = 0; i < b->size; i++) {
        const msgpack_object *k = &b->ptr[i].key;
        bool found = false;
        for (uint32_t j = 0; j < a->size && !found; j++) {
            const msgpack_object *ka = &a->ptr[j].key;
            found =
                ka->via.str.size == k->via.str.size && memcmp(ka->via.str.ptr, k->via.str.ptr, k->via.str.size) == 0;
        }
        if (!found)
            return false;
    }
    return true;
}

/* The value of key k in map m, or NULL. */
static const msgpack_object *s_lookup(const msgpack_object_map *m, const msgpack_object *k)
{
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *km = &m->ptr[i].key;
        if (km->via.str.size == k->via.str.size && memcmp(km->via.str.ptr, k->via.str.ptr, k->via.str.size) == 0)
            return &m->ptr[i].val;
    }
    return NULL;
}

/* Sends rows [a, b) of the batch (same key set) as one multi-row INSERT. */
static int s_sql_statement(s_ing_t *g, size_t a, size_t b, int64_t *ret_seq)
{
    const msgpack_object_map *cols = g->rows[a].map;
    size_t ncols = cols->size, n = b - a, np = n * ncols;
    char *sql = NULL;
    size_t sql_len = 0;
    drift_value_t *p = NULL;
    size_t *nested_off = NULL;
    msgpack_sbuffer nested;
    msgpack_sbuffer_init(&nested);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &nested, msgpack_sbuffer_write);
    int ec = DRIFT_CTL_ESTATEMENT;
    FILE *f = open_memstream(&sql, &sql_len);
    p = calloc(np ? np : 1, sizeof *p);
    nested_off = calloc(np ? np : 1, sizeof *nested_off);
    if (!f || !p || !nested_off) {
        fprintf(stderr, "driftctl ingest: out of memory\n");
        goto out;
    }
    fprintf(f, "INSERT INTO %s (", g->table_sql);
    for (size_t c = 0; c < ncols; c++) {
        if (c)
            fputs(", ", f);
        s_put_ident(f, cols->ptr[c].key.via.str.ptr, cols->ptr[c].key.via.str.size, false);
    }
    fputs(") VALUES ", f);
    size_t k = 1;
    for (size_t i = 0; i < n; i++) {
        fputs(i ? ", (" : "(", f);
        for (size_t c = 0; c < ncols; c++)
            fprintf(f, "%s$%zu", c ? ", " : "", k++);
        fputc(')', f);
    }
    if (fclose(f) != 0) {
        f = NULL;
        fprintf(stderr, "driftctl ingest: out of memory\n");
        goto out;
    }
    f = NULL;
    /* Parameters in column order; nested objects/arrays re-packed into one
     * buffer (pointers are taken once it stops growing). */
    for (size_t i = 0; i < n; i++) {
        const msgpack_object_map *m = g->rows[a + i].map;
        for (size_t c = 0; c < ncols; c++) {
            const msgpack_object *v = s_lookup(m, &cols->ptr[c].key);
            drift_value_t *d = &p[i * ncols + c];
            nested_off[i * ncols + c] = SIZE_MAX;
            if (!v) {
                *d = drift_null();
                continue;
            }
            switch (v->type) {
            case MSGPACK_OBJECT_NIL: *d = drift_null(); break;
            case MSGPACK_OBJECT_BOOLEAN: *d = drift_bool(v->via.boolean); break;
            case MSGPACK_OBJECT_POSITIVE_INTEGER:
                *d = v->via.u64 > (uint64_t)INT64_MAX ? drift_double((double)v->via.u64)
                                                      : drift_int((int64_t)v->via.u64);
                break;
            case MSGPACK_OBJECT_NEGATIVE_INTEGER: *d = drift_int(v->via.i64); break;
            case MSGPACK_OBJECT_FLOAT32:
            case MSGPACK_OBJECT_FLOAT64: *d = drift_double(v->via.f64); break;
            case MSGPACK_OBJECT_STR: *d = drift_textn(v->via.str.ptr, v->via.str.size); break;
            default:
                nested_off[i * ncols + c] = nested.size;
                msgpack_pack_object(&pk, *v);
                d->type = DRIFT_TYPE_JSON;
                d->u.s.len = nested.size - nested_off[i * ncols + c];
                break;
            }
        }
    }
    for (size_t j = 0; j < np; j++)
        if (nested_off[j] != SIZE_MAX)
            p[j] = drift_json_msgpack(nested.data + nested_off[j], p[j].u.s.len);
    ec = s_exec(g, sql, p, np, g->rows[a].line, g->rows[b - 1].line, ret_seq);
out:
    if (f)
        fclose(f);
    free(sql);
    free(p);
    free(nested_off);
    msgpack_sbuffer_destroy(&nested);
    return ec;
}

/* Commits the batch into an SQL table. */
static int s_sql_batch(s_ing_t *g, int64_t *ret_seq)
{
    size_t nstmts = 0;
    for (size_t i = 0; i < g->nrows; i++)
        if (i == 0 || !s_same_keys(g->rows[i - 1].map, g->rows[i].map))
            nstmts++;
    long first = g->rows[0].line, last = g->rows[g->nrows - 1].line;
    if (nstmts == 1)
        return s_sql_statement(g, 0, g->nrows, ret_seq);
    int ec = s_exec(g, "BEGIN", NULL, 0, first, last, NULL);
    if (ec)
        return ec;
    for (size_t a = 0; a < g->nrows;) {
        size_t b = a + 1;
        while (b < g->nrows && s_same_keys(g->rows[a].map, g->rows[b].map))
            b++;
        ec = s_sql_statement(g, a, b, NULL);
        if (ec) {
            s_rollback(g);
            return ec;
        }
        a = b;
    }
    ec = s_exec(g, "COMMIT", NULL, 0, first, last, ret_seq);
    if (ec)
        s_rollback(g);
    return ec;
}

/* Receives the reply of a pipelined document insert; 0 or an exit code. */
static int s_doc_recv(s_ing_t *g, uint64_t id, long line, int *first_ec)
{
    drift_result_t *r = NULL;
    int rc = drift_recv(g->conn, id, &r);
    if (rc != 0 && *first_ec == 0) {
        s_batch_error(g, r, line, line, line);
        *first_ec = drift_ctl_exit_code(rc);
    }
    drift_result_free(&r);
    return rc;
}

/* Commits the batch into a document table: BEGIN, pipelined inserts, COMMIT. */
static int s_doc_batch(s_ing_t *g, int64_t *ret_seq)
{
    long first = g->rows[0].line, last = g->rows[g->nrows - 1].line;
    char *sql = NULL;
    uint64_t *ids = calloc(g->nrows, sizeof *ids);
    if (!ids || asprintf(&sql, "INSERT INTO %s $1", g->table_sql) < 0) {
        free(ids);
        fprintf(stderr, "driftctl ingest: out of memory\n");
        return DRIFT_CTL_ESTATEMENT;
    }
    int ec = s_exec(g, "BEGIN", NULL, 0, first, last, NULL), first_ec = 0;
    if (ec)
        goto out;
    size_t sent = 0, got = 0;
    while (got < g->nrows) {
        while (sent < g->nrows && sent - got < s_window && first_ec == 0) {
            drift_value_t v = drift_json_msgpack(g->rows[sent].buf.data, g->rows[sent].buf.size);
            int rc = drift_send(g->conn, sql, &v, 1, &ids[sent]);
            if (rc != 0) {
                s_batch_error(g, NULL, first, last, g->rows[sent].line);
                first_ec = drift_ctl_exit_code(rc);
                break;
            }
            sent++;
        }
        if (got == sent)
            break;
        int rc = s_doc_recv(g, ids[got], g->rows[got].line, &first_ec);
        got++;
        if (rc != 0 && rc != DRIFT_CLIENT_ESERVER)
            break; /* the connection is gone: nothing more will answer */
    }
    if (first_ec) {
        /* drain what is still in flight before rolling back */
        for (; got < sent; got++)
            s_doc_recv(g, ids[got], g->rows[got].line, &first_ec);
        s_rollback(g);
        ec = first_ec;
        goto out;
    }
    ec = s_exec(g, "COMMIT", NULL, 0, first, last, ret_seq);
    if (ec)
        s_rollback(g);
out:
    free(ids);
    free(sql);
    return ec;
}

/* Sends the collected batch; on success it is counted in the stats. */
static int s_flush(s_ing_t *g)
{
    if (g->nrows == 0)
        return DRIFT_CTL_OK;
    int64_t seq = -1;
    int ec = g->o->mode == DRIFT_INGEST_DOC ? s_doc_batch(g, &seq) : s_sql_batch(g, &seq);
    if (ec == 0) {
        g->st->rows += g->nrows;
        g->st->txns++;
        g->st->last_line = g->rows[g->nrows - 1].line;
        if (seq >= 0)
            g->st->last_seq = seq;
    } else if (ec == DRIFT_CTL_EUNREACHABLE) {
        fprintf(stderr,
                "driftctl ingest: the connection was lost during the batch of lines %ld-%ld: it may or may not "
                "be committed\n",
                g->rows[0].line, g->rows[g->nrows - 1].line);
    } else {
        fprintf(stderr, "driftctl ingest: nothing of the batch of lines %ld-%ld was committed\n", g->rows[0].line,
                g->rows[g->nrows - 1].line);
    }
    s_rows_clear(g);
    s_progress(g, false);
    return ec;
}

/* Parses one line into the batch; 0, S_BLANK for a blank line, or an exit code (the error printed). */
static int s_parse_line(s_ing_t *g, const char *s, size_t n, long line)
{
    size_t k = 0;
    while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\r'))
        k++;
    if (k == n)
        return S_BLANK;
    s_row_t *r = &g->rows[g->nrows];
    memset(r, 0, sizeof *r);
    msgpack_sbuffer_init(&r->buf);
    msgpack_unpacked_init(&r->up);
    r->line = line;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &r->buf, msgpack_sbuffer_write);
    char err[160] = "";
    size_t errpos = 0;
    const char *what = NULL;
    int rc = drift_json_to_msgpack(s, n, &pk, err, sizeof err, &errpos);
    if (rc == -ENOMEM) {
        what = "out of memory";
    } else if (rc != 0) {
        what = err[0] ? err : "malformed JSON";
    } else if (msgpack_unpack_next(&r->up, r->buf.data, r->buf.size, NULL) != MSGPACK_UNPACK_SUCCESS) {
        what = "internal error: cannot read the parsed line back";
    } else if (r->up.data.type != MSGPACK_OBJECT_MAP) {
        what = "not a JSON object (each line must be one {...} object)";
        errpos = k;
    } else if (r->up.data.via.map.size == 0 && g->o->mode != DRIFT_INGEST_DOC) {
        what = "empty object (no columns to insert)";
        errpos = k;
    } else {
        const msgpack_object_map *m = &r->up.data.via.map;
        for (uint32_t i = 0; i < m->size && !what; i++) {
            if (m->ptr[i].key.type != MSGPACK_OBJECT_STR)
                what = "object key is not a string";
            for (uint32_t j = 0; j < i && !what; j++)
                if (m->ptr[j].key.via.str.size == m->ptr[i].key.via.str.size &&
                    memcmp(m->ptr[j].key.via.str.ptr, m->ptr[i].key.via.str.ptr, m->ptr[i].key.via.str.size) == 0)
                    what = "duplicate key in object";
            if (what)
                errpos = k;
        }
        r->map = m;
    }
    if (what) {
        msgpack_unpacked_destroy(&r->up);
        msgpack_sbuffer_destroy(&r->buf);
        s_progress_end(g);
        fprintf(stderr, "driftctl ingest: %s:%ld:%zu: bad JSON line: %s\n", g->path, line, errpos + 1, what);
        return DRIFT_CTL_ESTATEMENT;
    }
    g->nrows++;
    return 0;
}

/* Decides whether the table is a document table: its columns (as of now) are
 * all JSON and the last is `doc`. Sets g->o's mode through *ret_mode. */
static int s_detect(s_ing_t *g, int *ret_mode)
{
    char *sql = NULL;
    drift_result_t *r = NULL;
    if (asprintf(&sql, "SELECT * FROM %s LIMIT 0", g->table_sql) < 0)
        return DRIFT_CTL_ESTATEMENT;
    int rc = drift_exec(g->conn, sql, NULL, 0, &r);
    free(sql);
    if (rc != 0) {
        const char *code = r ? drift_result_errcode(r) : drift_conn_errcode(g->conn);
        fprintf(stderr, "driftctl ingest: table %s: ERROR %s: %s\n", g->table, code,
                r ? drift_result_errmsg(r) : drift_conn_errmsg(g->conn));
        snprintf(g->st->errcode, sizeof g->st->errcode, "%s", *code ? code : "?????");
        drift_result_free(&r);
        return drift_ctl_exit_code(rc);
    }
    size_t nc = drift_result_ncolumns(r);
    bool doc = nc >= 2 && strcmp(drift_result_column_name(r, nc - 1), "doc") == 0;
    for (size_t c = 0; c < nc && doc; c++) {
        const char *t = drift_result_column_type(r, c);
        doc = t && strcmp(t, "JSON") == 0;
    }
    *ret_mode = doc ? DRIFT_INGEST_DOC : DRIFT_INGEST_SQL;
    drift_result_free(&r);
    return DRIFT_CTL_OK;
}

int drift_ctl_ingest_run(drift_conn_t *conn, const char *table, const char *path, const drift_ingest_opts_t *opts,
                         drift_ingest_stats_t *st)
{
    s_ing_t g = {.conn = conn, .table = table, .path = path, .st = st};
    drift_ingest_opts_t o = *opts;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int ec = DRIFT_CTL_OK;
    memset(st, 0, sizeof *st);
    st->last_seq = -1;
    if (o.batch == 0)
        o.batch = 1000;
    g.o = &o;
    g.in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!g.in) {
        fprintf(stderr, "driftctl ingest: cannot open %s: %s\n", path, strerror(errno));
        return DRIFT_CTL_EUSAGE;
    }
    struct stat sb;
    if (fstat(fileno(g.in), &sb) == 0 && S_ISREG(sb.st_mode))
        g.size = sb.st_size;
    /* the table name: folded like SQL when it is a plain identifier, else quoted */
    {
        size_t tl = 0;
        FILE *f = open_memstream(&g.table_sql, &tl);
        if (!f) {
            ec = DRIFT_CTL_ESTATEMENT;
            goto out;
        }
        s_put_ident(f, table, strlen(table), true);
        fclose(f);
    }
    g.rows = calloc(o.batch, sizeof *g.rows);
    if (!g.rows || !g.table_sql) {
        fprintf(stderr, "driftctl ingest: out of memory\n");
        ec = DRIFT_CTL_ESTATEMENT;
        goto out;
    }
    if (o.mode == DRIFT_INGEST_AUTO) {
        ec = s_detect(&g, &o.mode);
        if (ec)
            goto out;
    }
    g.t0 = s_now();
    while ((n = getline(&line, &cap, g.in)) >= 0) {
        lineno++;
        g.done_bytes += n;
        if (lineno <= o.skip)
            continue;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        int prc = s_parse_line(&g, line, (size_t)n, lineno);
        if (prc == S_BLANK)
            continue;
        if (prc != 0) {
            ec = prc;
            if (g.nrows)
                fprintf(stderr, "driftctl ingest: nothing of the batch of lines %ld-%ld was committed\n",
                        g.rows[0].line, lineno);
            st->bad_line = lineno;
            goto out;
        }
        if (g.nrows == o.batch) {
            ec = s_flush(&g);
            if (ec)
                goto out;
        }
    }
    if (ferror(g.in)) {
        s_progress_end(&g);
        fprintf(stderr, "driftctl ingest: %s: read error: %s\n", path, strerror(errno));
        ec = DRIFT_CTL_EUSAGE;
        goto out;
    }
    ec = s_flush(&g);
out:
    st->seconds = g.t0 > 0 ? s_now() - g.t0 : 0;
    s_progress(&g, true);
    s_progress_end(&g);
    s_rows_clear(&g);
    free(g.rows);
    free(g.table_sql);
    free(line);
    if (g.in && g.in != stdin)
        fclose(g.in);
    return ec;
}

/* Prints the summary line of a run to f. */
void drift_ctl_ingest_summary(FILE *f, const drift_ingest_stats_t *st)
{
    double rate = st->seconds > 0 ? (double)st->rows / st->seconds : 0;
    fprintf(f, "ingested %" PRIu64 " rows in %" PRIu64 " transaction%s, %.0f rows/s, last seq ", st->rows, st->txns,
            st->txns == 1 ? "" : "s", rate);
    if (st->last_seq >= 0)
        fprintf(f, "%" PRId64 "\n", st->last_seq);
    else
        fputs("none\n", f);
}

/* Usage of `driftctl ingest`. */
static void s_usage(FILE *f)
{
    fprintf(f, "Usage: driftctl [-H ENDPOINT] ingest TABLE FILE.jsonl [--batch N] [--sql | --doc] [--skip N]\n"
               "                [--progress | --no-progress] [-q]\n"
               "  FILE           one JSON object per line ('-' = stdin); blank lines are skipped\n"
               "  --batch N      rows per transaction (default 1000)\n"
               "  --sql, --doc   the table is an SQL table / a DriftQL document table (default: detected)\n"
               "  --skip N       skip the first N lines (resume after a failed run)\n"
               "  --progress     force the progress bar (default: when stderr is a terminal)\n"
               "  -q             no summary line\n"
               "Exit codes: 0 all rows committed, 1 a bad line or a batch refused by the server (batches\n"
               "before it stay committed), 2 usage or unreadable file, 3 daemon unreachable.\n");
}

int drift_ctl_ingest(drift_ctl_t *ctl, int argc, char **argv)
{
    enum { OPT_BATCH = 256, OPT_SQL, OPT_DOC, OPT_SKIP, OPT_PROGRESS, OPT_NO_PROGRESS };
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'H'},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"sql", no_argument, NULL, OPT_SQL},
        {"doc", no_argument, NULL, OPT_DOC},
        {"skip", required_argument, NULL, OPT_SKIP},
        {"progress", no_argument, NULL, OPT_PROGRESS},
        {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    drift_ingest_opts_t o = {.batch = 1000, .mode = DRIFT_INGEST_AUTO, .progress = isatty(STDERR_FILENO)};
    bool quiet = false;
    int opt, v;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "H:qh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'H': ctl->endpoint = optarg; break;
        case OPT_BATCH:
            if (!drift_ctl_parse_ms(optarg, &v) || v < 1 || v > 100000) {
                fprintf(stderr, "driftctl ingest: --batch: expected 1..100000, got '%s'\n", optarg);
                return DRIFT_CTL_EUSAGE;
            }
            o.batch = (size_t)v;
            break;
        case OPT_SKIP:
            if (!drift_ctl_parse_ms(optarg, &v)) {
                fprintf(stderr, "driftctl ingest: --skip: not a number of lines: '%s'\n", optarg);
                return DRIFT_CTL_EUSAGE;
            }
            o.skip = v;
            break;
        case OPT_SQL: o.mode = DRIFT_INGEST_SQL; break;
        case OPT_DOC: o.mode = DRIFT_INGEST_DOC; break;
        case OPT_PROGRESS: o.progress = true; break;
        case OPT_NO_PROGRESS: o.progress = false; break;
        case 'q': quiet = true; break;
        case 'h': s_usage(stdout); return DRIFT_CTL_OK;
        default: s_usage(stderr); return DRIFT_CTL_EUSAGE;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "driftctl ingest: expected TABLE and FILE\n");
        s_usage(stderr);
        return DRIFT_CTL_EUSAGE;
    }
    const char *table = argv[optind], *path = argv[optind + 1];
    if (!*table) {
        fprintf(stderr, "driftctl ingest: empty table name\n");
        return DRIFT_CTL_EUSAGE;
    }
    if (strcmp(path, "-") != 0 && access(path, R_OK) != 0) {
        fprintf(stderr, "driftctl ingest: cannot read %s: %s\n", path, strerror(errno));
        return DRIFT_CTL_EUSAGE;
    }
    drift_conn_t *c = NULL;
    int ec = drift_ctl_connect(ctl, &c);
    if (ec)
        return ec;
    drift_ingest_stats_t st;
    ec = drift_ctl_ingest_run(c, table, path, &o, &st);
    if (ec == DRIFT_CTL_OK) {
        if (!quiet)
            drift_ctl_ingest_summary(stdout, &st);
    } else if (ec != DRIFT_CTL_EUSAGE || st.txns) {
        fprintf(stderr, "driftctl ingest: committed %" PRIu64 " rows in %" PRIu64 " transaction%s before the error",
                st.rows, st.txns, st.txns == 1 ? "" : "s");
        if (st.txns)
            fprintf(stderr, " (lines up to %ld, last seq %" PRId64 "); resume with --skip %ld", st.last_line,
                    st.last_seq, st.last_line);
        fputc('\n', stderr);
    }
    drift_close(&c);
    return ec;
}
