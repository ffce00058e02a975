/* bench/protocol/bench_protocol.c — client protocol round trips through the
 * gateway vs a raw libzmq ROUTER echo (the limit), side by side in one run.
 *
 *   bench_protocol --endpoint tcp://127.0.0.1:7433 [--n 20000] [--rounds 3] [--window 256]
 *
 * For each round it measures, alternating the echo server and the gateway:
 * `ping` and `SELECT 1` with 1 client (sequential REQ-like DEALER round trips),
 * 8 client threads (each sequential), and one pipelined DEALER client keeping
 * --window requests in flight. The echo server is a ROUTER in a child process
 * (forked before any ZeroMQ context exists) that sends every message back
 * unchanged, so the client code and the bytes are identical for both targets.
 * Prints one line per case with p50/p99 latency and throughput, the medians
 * over the rounds, and the gateway/echo ratios. Threads: one per client. */
#include <errno.h>
#include <inttypes.h>
#include <msgpack.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define MAXC 8

static uint64_t s_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int s_cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Packs a request with id. */
static size_t s_req(char *buf, size_t cap, uint64_t id, int query)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, query ? 4 : 3);
    msgpack_pack_str(&pk, 1);
    msgpack_pack_str_body(&pk, "v", 1);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_str(&pk, 2);
    msgpack_pack_str_body(&pk, "id", 2);
    msgpack_pack_uint64(&pk, id);
    msgpack_pack_str(&pk, 2);
    msgpack_pack_str_body(&pk, "op", 2);
    msgpack_pack_str(&pk, query ? 5 : 4);
    msgpack_pack_str_body(&pk, query ? "query" : "ping", query ? 5 : 4);
    if (query) {
        msgpack_pack_str(&pk, 3);
        msgpack_pack_str_body(&pk, "sql", 3);
        msgpack_pack_str(&pk, 8);
        msgpack_pack_str_body(&pk, "SELECT 1", 8);
    }
    size_t n = sb.size < cap ? sb.size : cap;
    memcpy(buf, sb.data, n);
    msgpack_sbuffer_destroy(&sb);
    return n;
}

/* Checks a reply is ok (for the gateway) — the echo returns the request, which has no "ok": accepted. */
static int s_reply_ok(const char *buf, size_t n)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    int ok = 0;
    if (msgpack_unpack_next(&u, buf, n, NULL) == MSGPACK_UNPACK_SUCCESS && u.data.type == MSGPACK_OBJECT_MAP) {
        ok = 1;
        for (uint32_t i = 0; i < u.data.via.map.size; i++) {
            msgpack_object *k = &u.data.via.map.ptr[i].key, *v = &u.data.via.map.ptr[i].val;
            if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == 2 && memcmp(k->via.str.ptr, "ok", 2) == 0)
                ok = v->type == MSGPACK_OBJECT_BOOLEAN && v->via.boolean;
        }
    }
    msgpack_unpacked_destroy(&u);
    return ok;
}

typedef struct {
    void *ctx;
    const char *endpoint;
    int query;
    int n;
    uint64_t *lat;
    int errors;
} s_job_t;

static void *s_seq_client(void *arg)
{
    s_job_t *j = arg;
    void *s = zmq_socket(j->ctx, ZMQ_DEALER);
    int zero = 0, tmo = 10000;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    zmq_connect(s, j->endpoint);
    char req[128], rep[4096];
    for (int i = -50; i < j->n; i++) { /* 50 warm-up round trips */
        size_t n = s_req(req, sizeof req, (uint64_t)(i + 100), j->query);
        uint64_t t0 = s_now_ns();
        zmq_send(s, req, n, 0);
        int r = zmq_recv(s, rep, sizeof rep, 0);
        uint64_t t1 = s_now_ns();
        if (r < 0 || !s_reply_ok(rep, (size_t)r))
            j->errors++;
        if (i >= 0)
            j->lat[i] = t1 - t0;
    }
    zmq_close(s);
    return NULL;
}

typedef struct {
    double p50_us, p99_us, kops;
    int errors;
} s_res_t;

static s_res_t s_run_seq(void *ctx, const char *ep, int nclients, int n, int query)
{
    s_job_t jobs[MAXC];
    pthread_t th[MAXC];
    uint64_t *all = calloc((size_t)nclients * (size_t)n, sizeof *all);
    uint64_t t0 = s_now_ns();
    for (int c = 0; c < nclients; c++) {
        jobs[c] = (s_job_t){.ctx = ctx, .endpoint = ep, .query = query, .n = n, .lat = all + (size_t)c * n};
        pthread_create(&th[c], NULL, s_seq_client, &jobs[c]);
    }
    s_res_t res = {0};
    for (int c = 0; c < nclients; c++) {
        pthread_join(th[c], NULL);
        res.errors += jobs[c].errors;
    }
    uint64_t el = s_now_ns() - t0;
    size_t tot = (size_t)nclients * (size_t)n;
    qsort(all, tot, sizeof *all, s_cmp_u64);
    res.p50_us = (double)all[tot / 2] / 1000.0;
    res.p99_us = (double)all[tot * 99 / 100] / 1000.0;
    res.kops = (double)(tot + 50.0 * nclients) / ((double)el / 1e9) / 1000.0;
    free(all);
    return res;
}

static s_res_t s_run_pipelined(void *ctx, const char *ep, int n, int window, int query)
{
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0, tmo = 10000;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt(s, ZMQ_SNDHWM, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RCVHWM, &zero, sizeof zero);
    zmq_connect(s, ep);
    char req[128], rep[4096];
    s_res_t res = {0};
    /* warm up and make sure the connection exists */
    size_t rn = s_req(req, sizeof req, 1, query);
    zmq_send(s, req, rn, 0);
    zmq_recv(s, rep, sizeof rep, 0);
    int sent = 0, got = 0;
    uint64_t t0 = s_now_ns();
    while (got < n) {
        while (sent < n && sent - got < window) {
            rn = s_req(req, sizeof req, (uint64_t)sent + 10, query);
            zmq_send(s, req, rn, 0);
            sent++;
        }
        int r = zmq_recv(s, rep, sizeof rep, 0);
        if (r < 0) {
            res.errors += n - got;
            break;
        }
        if (!s_reply_ok(rep, (size_t)r))
            res.errors++;
        got++;
    }
    uint64_t el = s_now_ns() - t0;
    res.kops = (double)got / ((double)el / 1e9) / 1000.0;
    zmq_close(s);
    return res;
}

/* The echo server: a ROUTER that returns every message unchanged. Runs until killed. */
static void s_echo_server(const char *ep)
{
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_ROUTER);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_SNDHWM, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RCVHWM, &zero, sizeof zero);
    if (zmq_bind(s, ep) < 0) {
        fprintf(stderr, "echo: bind %s: %s\n", ep, zmq_strerror(errno));
        _exit(1);
    }
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, 0) < 0)
            _exit(0);
        int more = zmq_msg_more(&m);
        zmq_msg_send(&m, s, more ? ZMQ_SNDMORE : 0);
    }
}

#define NCASES 6
static const char *const s_case_names[NCASES] = {"ping 1 client",     "ping 8 clients",     "ping pipelined",
                                                 "SELECT 1 1 client", "SELECT 1 8 clients", "SELECT 1 pipelined"};

static s_res_t s_case(void *ctx, const char *ep, int k, int n, int window)
{
    int query = k >= 3;
    switch (k % 3) {
    case 0: return s_run_seq(ctx, ep, 1, n, query);
    case 1: return s_run_seq(ctx, ep, MAXC, n / 4, query);
    default: return s_run_pipelined(ctx, ep, n * 5, window, query);
    }
}

int main(int argc, char **argv)
{
    const char *ep = NULL;
    int n = 20000, rounds = 3, window = 256, only = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--endpoint") && i + 1 < argc)
            ep = argv[++i];
        else if (!strcmp(argv[i], "--n") && i + 1 < argc)
            n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--case") && i + 1 < argc)
            only = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--window") && i + 1 < argc)
            window = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s --endpoint EP [--n N] [--rounds R] [--window W] [--case 0..5]\n", argv[0]);
            return 2;
        }
    }
    if (!ep || n < 100 || rounds < 1 || rounds > 15 || window < 1) {
        fprintf(stderr, "usage: %s --endpoint EP [--n N>=100] [--rounds 1..15] [--window W]\n", argv[0]);
        return 2;
    }
    char echo_ep[64];
    snprintf(echo_ep, sizeof echo_ep, "tcp://127.0.0.1:%d", 20000 + (int)(getpid() % 20000));
    pid_t echo = fork();
    if (echo == 0)
        s_echo_server(echo_ep);
    usleep(200000);
    void *ctx = zmq_ctx_new();
    double r[2][NCASES][3][15]; /* target, case, metric, round */
    int errors = 0;
    printf("# protocol benchmark: n=%d rounds=%d window=%d; gateway %s, echo %s\n", n, rounds, window, ep, echo_ep);
    printf("%-8s %-20s %5s %10s %10s %12s\n", "target", "case", "round", "p50_us", "p99_us", "kops/s");
    for (int round = 0; round < rounds; round++) {
        for (int k = 0; k < NCASES; k++) {
            if (only >= 0 && k != only)
                continue;
            for (int t = 0; t < 2; t++) { /* alternate echo and gateway inside each case */
                s_res_t x = s_case(ctx, t == 0 ? echo_ep : ep, k, n, window);
                errors += x.errors;
                r[t][k][0][round] = x.p50_us;
                r[t][k][1][round] = x.p99_us;
                r[t][k][2][round] = x.kops;
                printf("%-8s %-20s %5d %10.1f %10.1f %12.1f\n", t == 0 ? "echo" : "gateway", s_case_names[k], round,
                       x.p50_us, x.p99_us, x.kops);
                fflush(stdout);
            }
        }
    }
    printf("\n## medians over %d rounds\n", rounds);
    printf("| case | echo p50 µs | gateway p50 µs | p50 ratio | echo p99 µs | gateway p99 µs | echo kops/s | gateway "
           "kops/s | throughput ratio |\n|---|---|---|---|---|---|---|---|---|\n");
    for (int k = 0; k < NCASES; k++) {
        if (only >= 0 && k != only)
            continue;
        double med[2][3];
        for (int t = 0; t < 2; t++)
            for (int m = 0; m < 3; m++) {
                double v[15];
                memcpy(v, r[t][k][m], sizeof(double) * (size_t)rounds);
                qsort(v, (size_t)rounds, sizeof v[0], s_cmp_d);
                med[t][m] = v[rounds / 2];
            }
        int pip = k % 3 == 2;
        if (pip)
            printf("| %s | – | – | – | – | – | %.1f | %.1f | %.2f |\n", s_case_names[k], med[0][2], med[1][2],
                   med[1][2] / med[0][2]);
        else
            printf("| %s | %.1f | %.1f | %.2f× | %.1f | %.1f | %.1f | %.1f | %.2f |\n", s_case_names[k], med[0][0],
                   med[1][0], med[1][0] / med[0][0], med[0][1], med[1][1], med[0][2], med[1][2], med[1][2] / med[0][2]);
    }
    printf("\nerrors: %d\n", errors);
    zmq_ctx_term(ctx);
    kill(echo, SIGKILL);
    waitpid(echo, NULL, 0);
    return errors ? 1 : 0;
}
