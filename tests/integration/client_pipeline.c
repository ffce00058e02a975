/* tests/integration/client_pipeline.c — drives libdrift's pipelining against a
 * real daemon (run by test_client_c.py):
 *
 *   client_pipeline ENDPOINT window N   keeps `window` requests in flight, N in
 *       all, receives them oldest first and checks every value; prints
 *       "ok N sent, N matched, B busy" (B = 53300 answers, retried).
 *   client_pipeline ENDPOINT burst N    sends N requests without receiving
 *       (libdrift drains replies while the socket is full), then receives them
 *       newest first; prints "burst N: V values, B busy (retry_after_ms > 0), E other".
 *
 * Exit 0 when every reply matched its request, 1 otherwise. Single-threaded. */
#include <drift.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: client_pipeline ENDPOINT window|burst N\n");
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
    } else {
        fprintf(stderr, "unknown mode %s\n", argv[2]);
        ec = 2;
    }
out:
    drift_close(&c);
    free(ids);
    return ec;
}
