/* bench/writer/wbench.c — load generator for the writer benchmark
 * (bench/writer/run.py drives it; results in docs/benchmarks.md, "Writer").
 *
 *   wbench drift ENDPOINT CLIENTS ROWS SECONDS [INFLIGHT]
 *                                                commits straight to the writer's ipc endpoint
 *                                                (bypasses gateway and SQL: not built yet); INFLIGHT
 *                                                requests outstanding per client (default 1)
 *   wbench echo CLIENTS BYTES SECONDS            raw libzmq DEALER/ROUTER echo (server in a child process)
 *   wbench fsync PATH RECORD SECONDS BATCH       pre-zeroed file, pwrite of BATCH records + one fdatasync
 *
 * Each client is a thread with one request in flight (closed loop) unless
 * INFLIGHT says otherwise, so N clients = N concurrent commits. Prints one line:
 *   RESULT mode=.. clients=.. rows=.. ops_s=.. rows_s=.. p50_us=.. p99_us=.. errors=..
 * Threads share nothing but the start flag and their own result arrays. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <msgpack.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "ipc/commit.h"

#define MAX_SAMPLES 4000000

static _Atomic int s_stop;

static uint64_t s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

typedef struct {
    int id;
    const char *endpoint;
    int rows;
    int inflight; /* requests kept outstanding per client (drift mode) */
    size_t bytes;
    uint64_t *lat; /* ns */
    size_t n;
    uint64_t errors;
} client_t;

static int s_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* One DriftDB client: build a ROWS-row insert, send, wait for the reply, repeat. */
static void *s_drift_client(void *arg)
{
    client_t *c = arg;
    drift_commit_client_t *cli = drift_commit_client_new(c->endpoint);
    if (!cli)
        return NULL;
    msgpack_sbuffer sb, row;
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_init(&row);
    uint64_t n = 0, sent_at[256];
    int inflight = 0;
    while (c->n < MAX_SAMPLES) {
        /* Keep c->inflight requests outstanding (1 = closed loop); stop sending once told to. */
        while (!atomic_load(&s_stop) && inflight < c->inflight) {
            msgpack_packer pk;
            sb.size = 0;
            msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
            drift_commit_pack_request(&pk, ++n, 0, DRIFT_ISO_READ_COMMITTED, (size_t)c->rows, 0);
            for (int i = 0; i < c->rows; i++) {
                char key[64], name[64];
                int kl = snprintf(key, sizeof key, "p%d-c%d-%" PRIu64 "-%d", (int)getpid(), c->id, n, i);
                int nl = snprintf(name, sizeof name, "customer name %d/%" PRIu64, c->id, n);
                msgpack_packer rp;
                row.size = 0;
                msgpack_packer_init(&rp, &row, msgpack_sbuffer_write);
                msgpack_pack_map(&rp, 4);
                msgpack_pack_str_with_body(&rp, "id", 2);
                msgpack_pack_uint64(&rp, n * 1000 + (uint64_t)i);
                msgpack_pack_str_with_body(&rp, "name", 4);
                msgpack_pack_str_with_body(&rp, name, (size_t)nl);
                msgpack_pack_str_with_body(&rp, "balance", 7);
                msgpack_pack_double(&rp, 1234.5 + i);
                msgpack_pack_str_with_body(&rp, "note", 4);
                msgpack_pack_str_with_body(&rp, "0123456789012345678901234567890123456789", 40);
                drift_commit_pack_op(&pk, DRIFT_COP_INSERT, 1, key, (size_t)kl, row.data, row.size);
            }
            sent_at[n % 256] = s_now();
            if (drift_commit_client_send(cli, sb.data, sb.size) < 0) {
                c->errors++;
                goto out;
            }
            inflight++;
        }
        if (!inflight)
            break;
        drift_commit_reply_t r;
        if (drift_commit_client_recv(cli, 10000, &r) < 0) {
            c->errors++;
            break;
        }
        inflight--;
        if (!r.ok) {
            c->errors++;
            continue;
        }
        if (!atomic_load(&s_stop))
            c->lat[c->n++] = s_now() - sent_at[r.id % 256];
    }
out:
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&row);
    drift_commit_client_destroy(&cli);
    return NULL;
}

/* One echo client. */
static void *s_echo_client(void *arg)
{
    client_t *c = arg;
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_connect(s, c->endpoint);
    char *buf = calloc(1, c->bytes + 1);
    while (!atomic_load(&s_stop) && c->n < MAX_SAMPLES) {
        uint64_t t0 = s_now();
        if (zmq_send(s, buf, c->bytes, 0) < 0 || zmq_recv(s, buf, c->bytes + 1, 0) < 0) {
            c->errors++;
            break;
        }
        c->lat[c->n++] = s_now() - t0;
    }
    free(buf);
    zmq_close(s);
    zmq_ctx_term(ctx);
    return NULL;
}

/* The echo server (child process): ROUTER, sends every message straight back. */
static void s_echo_server(const char *ep)
{
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_ROUTER);
    if (zmq_bind(s, ep) < 0)
        _exit(1);
    for (;;) {
        zmq_msg_t id, m;
        zmq_msg_init(&id);
        zmq_msg_init(&m);
        if (zmq_msg_recv(&id, s, 0) < 0 || zmq_msg_recv(&m, s, 0) < 0)
            _exit(0);
        zmq_msg_send(&id, s, ZMQ_SNDMORE);
        zmq_msg_send(&m, s, 0);
    }
}

static void s_report(const char *mode, client_t *cs, int nc, int rows, double secs, uint64_t rec_per_op)
{
    size_t total = 0;
    uint64_t errors = 0;
    for (int i = 0; i < nc; i++) {
        total += cs[i].n;
        errors += cs[i].errors;
    }
    uint64_t *all = malloc((total ? total : 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < nc; i++) {
        memcpy(all + k, cs[i].lat, cs[i].n * sizeof *all);
        k += cs[i].n;
    }
    qsort(all, total, sizeof *all, s_cmp);
    double p50 = total ? all[total / 2] / 1e3 : 0, p99 = total ? all[total * 99 / 100] / 1e3 : 0;
    printf("RESULT mode=%s clients=%d rows=%d ops_s=%.0f rows_s=%.0f p50_us=%.0f p99_us=%.0f errors=%" PRIu64 "\n",
           mode, nc, rows, total / secs, total * (double)rec_per_op / secs, p50, p99, errors);
    free(all);
}

static int s_run_clients(const char *mode, void *(*fn)(void *), const char *ep, int nc, int rows, size_t bytes,
                         double secs, int inflight)
{
    client_t *cs = calloc((size_t)nc, sizeof *cs);
    pthread_t *th = calloc((size_t)nc, sizeof *th);
    for (int i = 0; i < nc; i++) {
        cs[i] = (client_t){.id = i, .endpoint = ep, .rows = rows, .bytes = bytes, .inflight = inflight};
        cs[i].lat = malloc(MAX_SAMPLES / (size_t)nc * sizeof(uint64_t) + 1024 * sizeof(uint64_t));
    }
    /* Per-client sample cap so that the arrays above suffice. */
    uint64_t t0 = s_now();
    for (int i = 0; i < nc; i++)
        pthread_create(&th[i], NULL, fn, &cs[i]);
    usleep((useconds_t)(secs * 1e6));
    atomic_store(&s_stop, 1);
    for (int i = 0; i < nc; i++)
        pthread_join(th[i], NULL);
    double el = (s_now() - t0) / 1e9;
    s_report(mode, cs, nc, rows, el, (uint64_t)rows);
    for (int i = 0; i < nc; i++)
        free(cs[i].lat);
    free(cs);
    free(th);
    return 0;
}

/* Raw device limit: pre-zeroed file, `batch` records per pwrite, one fdatasync each. */
static int s_fsync_probe(const char *path, size_t rec, double secs, int batch)
{
    size_t size = 64u << 20; /* like a segment */
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return 1;
    char *z = calloc(1, 1 << 20);
    for (size_t off = 0; off < size; off += 1 << 20)
        if (pwrite(fd, z, 1 << 20, (off_t)off) < 0)
            return 1;
    fsync(fd);
    free(z);
    size_t n = rec * (size_t)batch;
    char *buf = malloc(n);
    memset(buf, 'r', n);
    client_t c = {.lat = malloc(MAX_SAMPLES * sizeof(uint64_t))};
    uint64_t t0 = s_now(), off = 0;
    while (s_now() - t0 < secs * 1e9 && c.n < MAX_SAMPLES) {
        if (off + n > size)
            off = 0;
        uint64_t t = s_now();
        if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n || fdatasync(fd) < 0)
            return 1;
        c.lat[c.n++] = s_now() - t;
        off += n;
    }
    double el = (s_now() - t0) / 1e9;
    char mode[64];
    snprintf(mode, sizeof mode, "fsync-batch%d", batch);
    s_report(mode, &c, 1, batch, el, (uint64_t)batch);
    close(fd);
    unlink(path);
    free(buf);
    free(c.lat);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if ((argc == 6 || argc == 7) && strcmp(argv[1], "drift") == 0) {
        int inflight = argc == 7 ? atoi(argv[6]) : 1;
        if (inflight < 1 || inflight > 256)
            inflight = 1;
        return s_run_clients(inflight > 1 ? "driftdb-pipelined" : "driftdb", s_drift_client, argv[2], atoi(argv[3]),
                             atoi(argv[4]), 0, atof(argv[5]), inflight);
    }
    if (argc == 5 && strcmp(argv[1], "echo") == 0) {
        char ep[128];
        snprintf(ep, sizeof ep, "ipc:///tmp/wbench-echo-%d.sock", (int)getpid());
        pid_t pid = fork();
        if (pid == 0) {
            s_echo_server(ep);
            _exit(0);
        }
        usleep(200000);
        int rc =
            s_run_clients("zmq-echo", s_echo_client, ep, atoi(argv[2]), 1, (size_t)atol(argv[3]), atof(argv[4]), 1);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        unlink(ep + 6);
        return rc;
    }
    if (argc == 6 && strcmp(argv[1], "fsync") == 0)
        return s_fsync_probe(argv[2], (size_t)atol(argv[3]), atof(argv[4]), atoi(argv[5]));
    fprintf(stderr, "usage: wbench drift ENDPOINT CLIENTS ROWS SECONDS [INFLIGHT] | echo CLIENTS BYTES SECONDS | "
                    "fsync PATH RECORD SECONDS BATCH\n");
    return 2;
}
