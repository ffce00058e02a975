/* tests/integration/client_probe.c — drives libdrift's pipelining against a
 * real daemon (run by test_client_c.py):
 *
 *   client_probe ENDPOINT window N   keeps `window` requests in flight, N in
 *       all, receives them oldest first and checks every value; prints
 *       "ok N sent, N matched, B busy" (B = 53300 answers, retried).
 *   client_probe ENDPOINT burst N    sends N requests without receiving
 *       (libdrift drains replies while the socket is full), then receives them
 *       newest first; prints "burst N: V values, B busy (retry_after_ms > 0), E other".
 *
 *   client_probe ENDPOINT types 0       round-trips every value type through
 *       `SELECT $1 AS v` and checks the typed accessors, then the error paths
 *       (SQLSTATE, position, BEGIN/COMMIT helpers, as_of, unknown id); prints
 *       one "ok ..." line per check.
 *
 *   client_probe ENDPOINT late 0        a client-side timeout, then the late reply
 *       is ignored (needs the worker's hang fault hook).
 *
 * Exit 0 when every reply matched its request, 1 otherwise. Single-threaded. */
#include <drift.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Checks that r holds x = v + 1. */
static int s_check(drift_result_t *r, int64_t v)
{
    int64_t x = -1;
    if (drift_result_get_int64(r, 0, 0, &x) != 0 || x != v + 1 || strcmp(drift_result_column_name(r, 0), "x") != 0) {
        fprintf(stderr, "request %" PRId64 ": got x = %" PRId64 "\n", v, x);
        return -1;
    }
    return 0;
}

/* Sends SELECT $1 + 1 AS x with $1 = v. */
static int s_send(drift_conn_t *c, int64_t v, uint64_t *ret_id)
{
    drift_value_t p = drift_int(v);
    int rc = drift_send(c, "SELECT $1 + 1 AS x", &p, 1, ret_id);
    if (rc < 0)
        fprintf(stderr, "send %" PRId64 ": %s\n", v, drift_conn_errmsg(c));
    return rc;
}

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "line %d: check failed: %s: ", __LINE__, #cond);                                           \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fputc('\n', stderr);                                                                                       \
            goto fail;                                                                                                 \
        }                                                                                                              \
    } while (0)

/* Runs SELECT $1 AS v with one parameter; returns the result (NULL on failure). */
static drift_result_t *s_echo(drift_conn_t *c, drift_value_t v)
{
    drift_result_t *r = NULL;
    if (drift_exec(c, "SELECT $1 AS v", &v, 1, &r) < 0) {
        fprintf(stderr, "echo: %s %s\n", drift_conn_errcode(c), drift_conn_errmsg(c));
        drift_result_free(&r);
    }
    return r;
}

/* The "types" mode: typed accessors and error paths against the server. */
static int s_types(drift_conn_t *c)
{
    drift_result_t *r = NULL;
    int64_t i = 0;
    double d = 0;
    bool b = false;
    const char *s = NULL;
    const void *p = NULL;
    size_t n = 0;

    r = s_echo(c, drift_int(-9000000000LL));
    CHECK(r && drift_result_type(r, 0, 0) == DRIFT_TYPE_INT, "int type");
    CHECK(drift_result_get_int64(r, 0, 0, &i) == 0 && i == -9000000000LL, "int value %lld", (long long)i);
    CHECK(drift_result_get_text(r, 0, 0, &s, &n) == DRIFT_CLIENT_EINVAL, "int read as text");
    CHECK(drift_result_ncolumns(r) == 1 && strcmp(drift_result_column_name(r, 0), "v") == 0, "column name");
    CHECK(drift_result_column_type(r, 0) && strcmp(drift_result_column_type(r, 0), "INTEGER") == 0, "type %s",
          drift_result_column_type(r, 0) ? drift_result_column_type(r, 0) : "(none)");
    CHECK(drift_result_seq(r, NULL), "a read reports its snapshot seq");
    CHECK(strcmp(drift_result_txn(r), "idle") == 0, "txn '%s'", drift_result_txn(r));
    drift_result_free(&r);
    printf("ok int\n");

    r = s_echo(c, drift_double(0.1));
    CHECK(r && drift_result_get_double(r, 0, 0, &d) == 0 && d == 0.1, "double");
    char *txt = drift_result_text(r, 0, 0);
    CHECK(txt && strcmp(txt, "0.1") == 0, "double as text '%s'", txt ? txt : "(null)");
    free(txt);
    drift_result_free(&r);
    printf("ok double\n");

    r = s_echo(c, drift_bool(true));
    CHECK(r && drift_result_get_bool(r, 0, 0, &b) == 0 && b, "bool");
    drift_result_free(&r);
    printf("ok bool\n");

    r = s_echo(c, drift_text("h\xc3\xa9\"llo"));
    CHECK(r && drift_result_get_text(r, 0, 0, &s, &n) == 0 && n == 7 && memcmp(s, "h\xc3\xa9\"llo", 7) == 0, "text");
    txt = drift_result_json(r, 0, 0);
    CHECK(txt && strcmp(txt, "\"h\xc3\xa9\\\"llo\"") == 0, "text as json %s", txt ? txt : "(null)");
    free(txt);
    drift_result_free(&r);
    printf("ok text\n");

    r = s_echo(c, drift_blob("\x00\x01\xff", 3));
    CHECK(r && drift_result_type(r, 0, 0) == DRIFT_TYPE_BLOB, "blob type %d", r ? (int)drift_result_type(r, 0, 0) : -1);
    CHECK(drift_result_get_blob(r, 0, 0, &p, &n) == 0 && n == 3 && memcmp(p, "\x00\x01\xff", 3) == 0, "blob");
    drift_result_free(&r);
    printf("ok blob\n");

    /* JSON parameter as pre-encoded MessagePack: {"a": [1, 2]} */
    r = s_echo(c, drift_json_msgpack("\x81\xa1"
                                     "a"
                                     "\x92\x01\x02",
                                     6));
    CHECK(r && drift_result_type(r, 0, 0) == DRIFT_TYPE_JSON, "json type");
    txt = drift_result_json(r, 0, 0);
    CHECK(txt && strcmp(txt, "{\"a\":[1,2]}") == 0, "json %s", txt ? txt : "(null)");
    free(txt);
    drift_result_free(&r);
    drift_value_t bad = drift_json_msgpack("\x92\x01", 2); /* truncated array */
    CHECK(drift_exec(c, "SELECT $1 AS v", &bad, 1, &r) == DRIFT_CLIENT_EINVAL && r == NULL, "bad json param");
    bad = drift_json_msgpack("\x05", 1); /* not a map or array */
    CHECK(drift_exec(c, "SELECT $1 AS v", &bad, 1, &r) == DRIFT_CLIENT_EINVAL, "scalar json param");
    CHECK(drift_inflight(c) == 0, "rejected parameters left requests in flight");
    printf("ok json\n");

    r = s_echo(c, drift_null());
    CHECK(r && drift_result_is_null(r, 0, 0), "null");
    CHECK(drift_result_get_int64(r, 0, 0, &i) == DRIFT_CLIENT_EINVAL, "null read as int");
    drift_result_free(&r);
    printf("ok null\n");

    /* Errors: SQLSTATE, message, position, both in the result and the connection. */
    int rc = drift_exec(c, "SELECT 1 +", NULL, 0, &r);
    CHECK(rc == DRIFT_CLIENT_ESERVER && r && !drift_result_ok(r), "syntax error rc %d", rc);
    CHECK(strcmp(drift_result_errcode(r), "42601") == 0 && strcmp(drift_conn_errcode(c), "42601") == 0, "code %s",
          drift_result_errcode(r));
    CHECK(drift_result_errpos(r) > 0 && *drift_result_errmsg(r), "position %lld", (long long)drift_result_errpos(r));
    drift_result_free(&r);
    rc = drift_exec(c, "SELECT nosuchcolumn", NULL, 0, &r);
    CHECK(rc == DRIFT_CLIENT_ESERVER && strcmp(drift_result_errcode(r), "42703") == 0, "undefined column");
    drift_result_free(&r);
    printf("ok errors\n");

    /* Transactions: the helpers send the SQL; the server answers 0A000 until
     * the SQL issue lands, then they work. */
    rc = drift_begin(c);
    if (rc == DRIFT_CLIENT_ESERVER) {
        CHECK(strcmp(drift_conn_errcode(c), "0A000") == 0, "BEGIN: %s", drift_conn_errcode(c));
        printf("ok begin not supported yet\n");
    } else {
        CHECK(rc == 0, "BEGIN rc %d", rc);
        CHECK(drift_commit(c) == 0, "COMMIT %s", drift_conn_errmsg(c));
        CHECK(drift_begin(c) == 0 && drift_rollback(c) == 0, "BEGIN/ROLLBACK %s", drift_conn_errmsg(c));
        printf("ok transactions\n");
    }

    /* as_of is sent as the protocol field: an uncommitted seq is 22023. */
    CHECK(drift_conn_set_as_of(c, "@seq:999999999") == 0, "set as_of");
    rc = drift_exec(c, "SELECT 1", NULL, 0, &r);
    CHECK(rc == DRIFT_CLIENT_ESERVER && strcmp(drift_result_errcode(r), "22023") == 0, "as_of rc %d %s", rc,
          drift_conn_errcode(c));
    drift_result_free(&r);
    CHECK(drift_conn_set_as_of(c, "@seq:zz") == DRIFT_CLIENT_EINVAL, "malformed as_of");
    CHECK(drift_conn_set_as_of(c, NULL) == 0, "clear as_of");
    r = s_echo(c, drift_int(5));
    CHECK(r != NULL, "query after clearing as_of");
    drift_result_free(&r);
    printf("ok as_of\n");

    CHECK(drift_recv(c, 424242, &r) == DRIFT_CLIENT_EUNKNOWNID && r == NULL, "unknown id");
    int64_t seq = -1;
    CHECK(drift_ping(c, &seq) == 0 && seq >= 0, "ping");
    CHECK(strncmp(drift_conn_server(c), "driftdb ", 8) == 0, "server '%s'", drift_conn_server(c));
    printf("ok misc\n");
    return 0;
fail:
    drift_result_free(&r);
    return 1;
}

/* The "late" mode: a request that times out on the client is abandoned; its
 * late reply (the gateway's 57014 after request_timeout = 1s) is dropped and
 * does not answer the next request. Needs DRIFT_FAULT=query_hang:DRIFT_HANG_MARKER. */
static int s_late(drift_conn_t *c)
{
    drift_result_t *r = NULL;
    drift_conn_set_timeout(c, 300);
    int rc = drift_exec(c, "SELECT 'DRIFT_HANG_MARKER'", NULL, 0, &r);
    CHECK(rc == DRIFT_CLIENT_ETIMEOUT && r == NULL, "hung request rc %d", rc);
    CHECK(strcmp(drift_conn_errcode(c), "08006") == 0, "timeout code %s", drift_conn_errcode(c));
    CHECK(drift_inflight(c) == 0, "abandoned request still in flight");
    printf("ok timeout\n");
    struct timespec ts = {1, 500000000};
    nanosleep(&ts, NULL); /* the 57014 reply to the abandoned request arrives meanwhile */
    drift_conn_set_timeout(c, 10000);
    drift_value_t p = drift_int(1);
    rc = drift_exec(c, "SELECT $1 + 1 AS x", &p, 1, &r);
    CHECK(rc == 0 && s_check(r, 1) == 0, "request after the late reply: rc %d %s", rc, drift_conn_errmsg(c));
    drift_result_free(&r);
    printf("ok late reply dropped\n");
    return 0;
fail:
    drift_result_free(&r);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: client_probe ENDPOINT window|burst|types|late N\n");
        return 2;
    }
    long n = atol(argv[3]);
    drift_options_t o;
    drift_options_init(&o);
    o.endpoint = argv[1];
    o.request_timeout_ms = 20000;
    drift_conn_t *c = NULL;
    uint64_t *ids = calloc((size_t)n + 1, sizeof *ids);
    int ec = 1;
    if (!ids || drift_connect(&o, &c) < 0) {
        fprintf(stderr, "connect: %s\n", c ? drift_conn_errmsg(c) : "out of memory");
        goto out;
    }
    if (strcmp(argv[2], "window") == 0) {
        const long window = 256;
        long sent = 0, matched = 0, busy = 0;
        while (matched < n) {
            while (sent < n && sent - matched < window)
                if (s_send(c, sent, &ids[sent]) < 0)
                    goto out;
                else
                    sent++;
            drift_result_t *r = NULL;
            int rc = drift_recv(c, ids[matched], &r);
            if (rc == DRIFT_CLIENT_ESERVER && strcmp(drift_result_errcode(r), "53300") == 0) {
                busy++; /* admission control: resend the same value */
                drift_result_free(&r);
                if (s_send(c, matched, &ids[matched]) < 0)
                    goto out;
                /* ids must stay in send order for this loop: receive it right away */
                rc = drift_recv(c, ids[matched], &r);
            }
            if (rc < 0) {
                fprintf(stderr, "recv %ld: %s %s\n", matched, drift_conn_errcode(c), drift_conn_errmsg(c));
                drift_result_free(&r);
                goto out;
            }
            int bad = s_check(r, matched);
            drift_result_free(&r);
            if (bad)
                goto out;
            matched++;
        }
        if (drift_inflight(c) != 0) {
            fprintf(stderr, "%zu requests still in flight\n", drift_inflight(c));
            goto out;
        }
        printf("ok %ld sent, %ld matched, %ld busy\n", n, matched, busy);
        ec = 0;
    } else if (strcmp(argv[2], "burst") == 0) {
        for (long i = 0; i < n; i++)
            if (s_send(c, i, &ids[i]) < 0)
                goto out;
        long values = 0, busy = 0, other = 0;
        for (long i = n - 1; i >= 0; i--) {
            drift_result_t *r = NULL;
            int rc = drift_recv(c, ids[i], &r);
            if (rc == 0) {
                if (s_check(r, i) < 0) {
                    drift_result_free(&r);
                    goto out;
                }
                values++;
            } else if (rc == DRIFT_CLIENT_ESERVER && strcmp(drift_result_errcode(r), "53300") == 0 &&
                       drift_result_retry_after_ms(r) > 0) {
                busy++;
            } else {
                fprintf(stderr, "request %ld: rc %d %s %s\n", i, rc, drift_conn_errcode(c), drift_conn_errmsg(c));
                other++;
            }
            drift_result_free(&r);
        }
        printf("burst %ld: %ld values, %ld busy, %ld other\n", n, values, busy, other);
        ec = other == 0 && values + busy == n && drift_inflight(c) == 0 ? 0 : 1;
    } else if (strcmp(argv[2], "late") == 0) {
        ec = s_late(c);
    } else if (strcmp(argv[2], "types") == 0) {
        ec = s_types(c);
    } else {
        fprintf(stderr, "unknown mode %s\n", argv[2]);
        ec = 2;
    }
out:
    drift_close(&c);
    free(ids);
    return ec;
}
