/* bench/index/bench_index.c — the index layer against SQLite's usual
 * history-table emulation, same data, same queries, in one run.
 *
 *   bench_index [--rows N] [--versions V] [--ops-per-commit B] [--queries Q] [--dir DIR]
 *
 * Data: N rows [id INTEGER, name TEXT, score INTEGER] with V versions each
 * (round r updates every row once, in key order, B rows per transaction),
 * a secondary index on score. DriftDB: the frames are written as a real log
 * (segments, frames, hash chain) and indexed with the indexer's code path
 * (shm/index.h: batches of 50 000 frames per LMDB transaction, MDB_NOMETASYNC)
 * — the indexing throughput is versions/s. SQLite (WAL, synchronous=NORMAL):
 * hist(id, name, score, valid_from, valid_to) with indexes (id, valid_from)
 * and (score, valid_from); each new version closes the previous one
 * (UPDATE valid_to) and inserts itself, B versions per transaction.
 * Queries (each timed over Q random keys/values, same keys for both):
 * latest point read, as-of point read at an old seq (after round 1) and a
 * recent one (after round V-1), history of one key, secondary lookup now and
 * as of the old seq, full-table scan as of the old seq.
 * Single-threaded; prints a markdown table.
 *
 *   bench_index --lag DATA_DIR [--clients C] [--ops-per-commit B] [--seconds S]
 *
 * Index lag at the writer's maximum rate, against a running daemon (bench/index/run.py
 * starts one): C threads, each with one commit of B rows in flight, send straight to the
 * writer (ipc/commit.h) for S seconds while the main thread samples the control block
 * every millisecond (commit_seq - indexed_seq, and how old the oldest unindexed commit is). */
#include "shm/control.h"
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <lmdb.h>
#include <msgpack.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/util.h"
#include "ipc/commit.h"
#include "shm/index.h"
#include "shm/segment.h"

#define SEG_SIZE (512ull << 20)

static uint64_t s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t g_rng = 0x2545F4914F6CDD1Dull;
static uint64_t s_rand(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

static void s_die(const char *what, int rc)
{
    fprintf(stderr, "bench_index: %s: %s\n", what, drift_strerror(rc));
    exit(1);
}

/* ---- a minimal log writer (the writer role's layout: pre-zeroed segments, chained frames) ---- */
typedef struct {
    char dir[600];
    int fd;
    uint64_t seg_id, off, next_seq, ts;
    uint8_t hash[DRIFT_HASH_LEN];
    uint8_t *buf;
    size_t cap;
} logw_t;

static void s_log_segment(logw_t *w)
{
    char spare[700];
    snprintf(spare, sizeof spare, "%s/%s", w->dir, DRIFT_SEG_SPARE);
    int rc = drift_seg_prealloc(spare, SEG_SIZE);
    if (rc < 0)
        s_die("prealloc", rc);
    drift_seg_header_t h = {.segment_id = w->next_seq,
                            .first_seq = w->next_seq,
                            .epoch = 1,
                            .created_ns = drift_now_real_ns(),
                            .file_size = SEG_SIZE};
    memcpy(h.prev_hash, w->hash, DRIFT_HASH_LEN);
    if (w->fd >= 0)
        close(w->fd);
    if ((rc = drift_seg_install(w->dir, spare, &h, &w->fd)) < 0)
        s_die("install", rc);
    w->seg_id = w->next_seq;
    w->off = DRIFT_SEG_HDR_SIZE;
}

static uint64_t s_log_append(logw_t *w, const void *body, size_t len)
{
    size_t size = drift_frame_size(len);
    if (w->fd < 0 || w->off + size > SEG_SIZE)
        s_log_segment(w);
    if (size > w->cap) {
        w->cap = size * 2;
        w->buf = realloc(w->buf, w->cap);
    }
    drift_frame_t f = {.seq = w->next_seq, .ts_ns = ++w->ts, .epoch = 1, .sync_seq = w->next_seq - 1};
    memcpy(f.prev_hash, w->hash, DRIFT_HASH_LEN);
    size_t n;
    int rc = drift_frame_encode(w->buf, size, &f, body, len, &n);
    if (rc < 0 || pwrite(w->fd, w->buf, n, (off_t)w->off) != (ssize_t)n)
        s_die("append", rc < 0 ? rc : -errno);
    drift_frame_hash(w->buf, (uint32_t)(DRIFT_FRAME_HDR_LEN + len), w->hash);
    w->off += n;
    return w->next_seq++;
}

static void s_pk(int64_t id, uint8_t out[9])
{
    out[0] = DRIFT_KEYENC_INT;
    uint64_t u = (uint64_t)id ^ (1ull << 63);
    for (int i = 0; i < 8; i++)
        out[1 + i] = (uint8_t)(u >> (56 - 8 * i));
}

static int64_t s_score(int64_t id, int version)
{
    return (int64_t)(((uint64_t)id * 2654435761u + (uint64_t)version * 40503u) % 1000);
}

/* Version number n (from 0) of the load, in log order: the V rounds over every id (version v of each), then the
 * hot rounds over the hot ids (j * stride). Sets *id and *ver; returns 1 when it ends its round (the commit holding
 * it ends there at the latest). */
static int s_nth(uint64_t n, int64_t rows, int64_t versions, int64_t hot, int64_t stride, int64_t *id, int64_t *ver)
{
    uint64_t base = (uint64_t)rows * (uint64_t)versions;
    if (n < base) {
        *ver = (int64_t)(n / (uint64_t)rows);
        *id = (int64_t)(n % (uint64_t)rows);
        return *id == rows - 1;
    }
    n -= base;
    *ver = versions + (int64_t)(n / (uint64_t)hot);
    int64_t j = (int64_t)(n % (uint64_t)hot);
    *id = j * stride;
    return j == hot - 1;
}

static int s_rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* The table: id INTEGER, name TEXT, score INTEGER, pk (id), index 1 on score. */
static void s_pack_ddl(msgpack_packer *dp_)
{
    msgpack_packer dp = *dp_;
    msgpack_pack_map(&dp, 2);
    msgpack_pack_str_with_body(&dp, "ddl", 3);
    msgpack_pack_str_with_body(&dp, "create_table", 12);
    msgpack_pack_str_with_body(&dp, "def", 3);
    msgpack_pack_map(&dp, 5);
    msgpack_pack_str_with_body(&dp, "name", 4);
    msgpack_pack_str_with_body(&dp, "t", 1);
    msgpack_pack_str_with_body(&dp, "version", 7);
    msgpack_pack_uint32(&dp, 1);
    msgpack_pack_str_with_body(&dp, "columns", 7);
    msgpack_pack_array(&dp, 3);
    const char *cn[] = {"id", "name", "score"}, *ct[] = {"INTEGER", "TEXT", "INTEGER"};
    for (int i = 0; i < 3; i++) {
        msgpack_pack_map(&dp, 3);
        msgpack_pack_str_with_body(&dp, "id", 2);
        msgpack_pack_uint32(&dp, (uint32_t)i + 1);
        msgpack_pack_str_with_body(&dp, "name", 4);
        msgpack_pack_str_with_body(&dp, cn[i], strlen(cn[i]));
        msgpack_pack_str_with_body(&dp, "type", 4);
        msgpack_pack_str_with_body(&dp, ct[i], strlen(ct[i]));
    }
    msgpack_pack_str_with_body(&dp, "pk", 2);
    msgpack_pack_array(&dp, 1);
    msgpack_pack_uint32(&dp, 1);
    msgpack_pack_str_with_body(&dp, "indexes", 7);
    msgpack_pack_array(&dp, 1);
    msgpack_pack_map(&dp, 3);
    msgpack_pack_str_with_body(&dp, "id", 2);
    msgpack_pack_uint32(&dp, 1);
    msgpack_pack_str_with_body(&dp, "name", 4);
    msgpack_pack_str_with_body(&dp, "by_score", 8);
    msgpack_pack_str_with_body(&dp, "columns", 7);
    msgpack_pack_array(&dp, 1);
    msgpack_pack_uint32(&dp, 3);
}

typedef struct {
    const char *name;
    double drift_us, sqlite_us;
    const char *unit;
} result_t;

static result_t g_res[32];
static int g_nres;

static void s_result(const char *name, double drift_ns, double sqlite_ns, const char *unit)
{
    g_res[g_nres++] = (result_t){name, drift_ns / 1000.0, sqlite_ns / 1000.0, unit};
}

/* Decodes the score (column 2) of a row to keep the compiler honest. */
static int64_t s_row_score(const uint8_t *row, size_t len)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    int64_t s = -1;
    if (msgpack_unpack_next(&u, (const char *)row, len, NULL) == MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size == 3)
        s = u.data.via.array.ptr[2].via.i64;
    msgpack_unpacked_destroy(&u);
    return s;
}

/* ---- lag mode ---- */
static _Atomic int g_stop;
static _Atomic uint64_t g_commits, g_errors;

typedef struct {
    char ep[700];
    int id, rows;
    drift_ctl_header_t *hdr;
} lclient_t;

static void *s_lclient(void *arg)
{
    lclient_t *c = arg;
    drift_commit_client_t *cli = drift_commit_client_new(c->ep);
    if (!cli)
        return NULL;
    msgpack_sbuffer sb, row;
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_init(&row);
    uint64_t n = 0;
    while (!atomic_load(&g_stop)) {
        msgpack_packer pk, rp;
        msgpack_sbuffer_clear(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        /* snapshot = the last commit: the writer refuses rows for a table changed after the snapshot */
        drift_commit_pack_request(&pk, ++n, atomic_load(&c->hdr->commit_seq), DRIFT_ISO_READ_COMMITTED, (size_t)c->rows,
                                  0);
        for (int i = 0; i < c->rows; i++) {
            int64_t id = ((int64_t)c->id << 40) + (int64_t)(n * 1000 + (uint64_t)i);
            uint8_t key[9];
            s_pk(id, key);
            char name[48];
            int nl = snprintf(name, sizeof name, "customer %d/%" PRIu64, c->id, n);
            msgpack_sbuffer_clear(&row);
            msgpack_packer_init(&rp, &row, msgpack_sbuffer_write);
            msgpack_pack_array(&rp, 3);
            msgpack_pack_int64(&rp, id);
            msgpack_pack_str_with_body(&rp, name, (size_t)nl);
            msgpack_pack_int64(&rp, s_score(id, 0));
            drift_commit_pack_op(&pk, DRIFT_COP_INSERT, 1, key, 9, row.data, row.size);
        }
        drift_commit_reply_t r;
        if (drift_commit_client_send(cli, sb.data, sb.size) < 0 || drift_commit_client_recv(cli, 10000, &r) < 0) {
            atomic_fetch_add(&g_errors, 1);
            break;
        }
        atomic_fetch_add(r.ok ? &g_commits : &g_errors, 1);
    }
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&row);
    drift_commit_client_destroy(&cli);
    return NULL;
}

/* Reads keys[0..n) of table 1 as of as_of through the index; returns the sum of the scores found. */
static int64_t s_point_reads(drift_index_rd_t *rd, const int64_t *keys, int64_t n, uint64_t as_of)
{
    int64_t sum = 0;
    for (int64_t i = 0; i < n; i++) {
        uint8_t pk[9];
        s_pk(keys[i], pk);
        drift_index_ver_t v;
        if (drift_index_get(rd, 1, pk, 9, as_of, &v) == 0)
            sum += s_row_score(v.row, v.row_len);
    }
    return sum;
}

/* The floor of a point read in this layout, on the raw LMDB trees of the index at idxd (closed by DriftDB first:
 * a process must not open one environment twice): PAIRED_ROUNDS rounds in rotating order of an mdb_get of
 * table|pk in `current` (a latest read's lookup) and an MDB_SET_RANGE of table|pk|~as_of in `versions` at each
 * as_ofs[1..2] (an as-of read's lookup, landing on the chunk, before any decoding), each touching the first byte
 * of the value. Fills med[0..2] with the median µs per lookup; 0 or -1. */
static int s_raw_seeks(const char *idxd, const int64_t *keys, int64_t n, const uint64_t *as_ofs, double *med);
static volatile uint8_t g_sink; /* what s_raw_seeks reads goes here, so that the compiler keeps the reads */

/* Rounds of the paired point-read measurement (odd: the median is one of them). */
#define PAIRED_ROUNDS 9

/* qsort order of doubles. */
static int s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Runs the lag measurement against the daemon on data_dir. */
static int s_lag(const char *data_dir, int clients, int rows, double seconds)
{
    char path[700], ep[700];
    snprintf(path, sizeof path, "%s/run/control", data_dir);
    drift_ctl_t *ctl;
    int rc = drift_ctl_attach(path, &ctl);
    if (rc < 0)
        s_die(path, rc);
    drift_ctl_header_t *hdr = drift_ctl_header(ctl);
    snprintf(ep, sizeof ep, "ipc://%s/run/writer.sock", data_dir);
    { /* the table (the same definition as the query benchmark, with the score index) */
        drift_commit_client_t *cli = drift_commit_client_new(ep);
        msgpack_sbuffer sb, d;
        msgpack_packer pk, dp;
        msgpack_sbuffer_init(&sb);
        msgpack_sbuffer_init(&d);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_packer_init(&dp, &d, msgpack_sbuffer_write);
        s_pack_ddl(&dp);
        drift_commit_pack_request(&pk, 1, 0, DRIFT_ISO_READ_COMMITTED, 1, 0);
        drift_commit_pack_op(&pk, DRIFT_COP_DDL, 1, NULL, 0, d.data, d.size);
        drift_commit_reply_t r;
        if (!cli || drift_commit_client_send(cli, sb.data, sb.size) < 0 ||
            drift_commit_client_recv(cli, 10000, &r) < 0 || !r.ok)
            s_die("create table", -EIO);
        drift_commit_client_destroy(&cli);
        msgpack_sbuffer_destroy(&sb);
        msgpack_sbuffer_destroy(&d);
    }
    pthread_t th[256];
    lclient_t lc[256];
    if (clients > 256)
        clients = 256;
    for (int i = 0; i < 10000 && atomic_load(&hdr->indexed_seq) < atomic_load(&hdr->commit_seq); i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL); /* the table is indexed before the load starts */
    }
    uint64_t seq0 = atomic_load(&hdr->commit_seq), idx0 = atomic_load(&hdr->indexed_seq);
    for (int i = 0; i < clients; i++) {
        lc[i] = (lclient_t){.id = i + 1, .rows = rows, .hdr = hdr};
        snprintf(lc[i].ep, sizeof lc[i].ep, "%s", ep);
        pthread_create(&th[i], NULL, s_lclient, &lc[i]);
    }
    size_t cap = (size_t)(seconds * 1000) + 16, n = 0;
    uint64_t *lag_seqs = calloc(cap, sizeof *lag_seqs), *lag_us = calloc(cap, sizeof *lag_us);
    uint64_t *st = calloc(cap, sizeof *st), *sc = calloc(cap, sizeof *sc);
    uint64_t t0 = s_now(), end = t0 + (uint64_t)(seconds * 1e9);
    /* lag in time: how long ago (sampled every ms) commit_seq first passed what is indexed now */
    while (s_now() < end && n < cap) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        uint64_t c = atomic_load(&hdr->commit_seq), i = atomic_load(&hdr->indexed_seq), now = s_now();
        st[n] = now;
        sc[n] = c;
        lag_seqs[n] = c > i ? c - i : 0;
        lag_us[n] = 0;
        if (lag_seqs[n]) {
            size_t lo = 0, hi = n; /* first sample whose commit_seq > i */
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (sc[mid] > i)
                    hi = mid;
                else
                    lo = mid + 1;
            }
            lag_us[n] = (now - st[lo]) / 1000 + 1000; /* + the sampling interval: an upper bound */
        }
        n++;
    }
    free(st);
    free(sc);
    uint64_t seq1 = atomic_load(&hdr->commit_seq), idx1 = atomic_load(&hdr->indexed_seq);
    double el = (double)(s_now() - t0) / 1e9;
    atomic_store(&g_stop, 1);
    for (int i = 0; i < clients; i++)
        pthread_join(th[i], NULL);
    uint64_t tc = s_now(), last = atomic_load(&hdr->commit_seq);
    while (atomic_load(&hdr->indexed_seq) < last && s_now() - tc < 60000000000ull) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    double catch_ms = (double)(s_now() - tc) / 1e6;
    qsort(lag_seqs, n, sizeof *lag_seqs, s_cmp_u64);
    qsort(lag_us, n, sizeof *lag_us, s_cmp_u64);
    double wr = (double)(seq1 - seq0) / el, ir = (double)(idx1 - idx0) / el;
    printf("RESULT clients=%d rows=%d writer_commits_s=%.0f writer_rows_s=%.0f indexer_commits_s=%.0f "
           "indexer_rows_s=%.0f lag_seqs_p50=%" PRIu64 " lag_seqs_p99=%" PRIu64 " lag_seqs_max=%" PRIu64
           " lag_ms_p50=%.2f lag_ms_p99=%.2f lag_ms_max=%.2f catch_up_ms=%.1f errors=%" PRIu64 "\n",
           clients, rows, wr, wr * rows, ir, ir * rows, lag_seqs[n / 2], lag_seqs[n * 99 / 100], lag_seqs[n - 1],
           (double)lag_us[n / 2] / 1000.0, (double)lag_us[n * 99 / 100] / 1000.0, (double)lag_us[n - 1] / 1000.0,
           catch_ms, atomic_load(&g_errors));
    free(lag_seqs);
    free(lag_us);
    drift_ctl_detach(&ctl);
    return 0;
}

/* History callback: counts versions. */
static int s_count(const drift_index_ver_t *v, void *arg)
{
    (void)v;
    (*(uint64_t *)arg)++;
    return 0;
}

int main(int argc, char **argv)
{
    int64_t rows = 100000, versions = 10, per_commit = 10, queries = 100000;
    char dir[512] = "", lag_dir[512] = "";
    int clients = 8;
    uint64_t map_gb = 64;
    int no_sqlite = 0, keep = 0; /* --keep: leave the log, index and SQLite file in --dir */ /* --no-sqlite: DriftDB only (profiling); no cross-checks */
    int64_t sqlite_batch = 0; /* versions per SQLite transaction when loading (default: ops-per-commit) */
    double seconds = 5;
    /* --hot-keys H: after the V rounds, H keys spread over the table (every rows/H-th) get --hot-versions more
     * versions each, so that keys with V and with V + hot_versions versions share one tree (reads of both compared) */
    int64_t hot = 0, hot_versions = 1000;
    static const struct option opts[] = {{"hot-keys", required_argument, NULL, 'H'},
                                         {"hot-versions", required_argument, NULL, 'V'},{"rows", required_argument, NULL, 'n'},
                                         {"versions", required_argument, NULL, 'v'},
                                         {"ops-per-commit", required_argument, NULL, 'b'},
                                         {"queries", required_argument, NULL, 'q'},
                                         {"dir", required_argument, NULL, 'd'},
                                         {"lag", required_argument, NULL, 'l'},
                                         {"clients", required_argument, NULL, 'c'},
                                         {"seconds", required_argument, NULL, 's'},
                                         {"sqlite-batch", required_argument, NULL, 'S'},
                                         {"no-sqlite", no_argument, NULL, 'N'},
                                         {"keep", no_argument, NULL, 'K'},
                                         {"map-gb", required_argument, NULL, 'M'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "n:v:b:q:d:l:c:s:S:NM:KH:V:", opts, NULL)) != -1) {
        switch (c) {
        case 'H': hot = atoll(optarg); break;
        case 'V': hot_versions = atoll(optarg); break;
        case 'n': rows = atoll(optarg); break;
        case 'v': versions = atoll(optarg); break;
        case 'b': per_commit = atoll(optarg); break;
        case 'q': queries = atoll(optarg); break;
        case 'd': snprintf(dir, sizeof dir, "%s", optarg); break;
        case 'l': snprintf(lag_dir, sizeof lag_dir, "%s", optarg); break;
        case 'c': clients = atoi(optarg); break;
        case 's': seconds = atof(optarg); break;
        case 'S': sqlite_batch = atoll(optarg); break;
        case 'N': no_sqlite = 1; break;
        case 'K': keep = 1; break;
        case 'M': map_gb = strtoull(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: bench_index [--rows N] [--versions V] [--ops-per-commit B] [--queries Q] "
                            "[--dir DIR] [--sqlite-batch N] [--no-sqlite] [--map-gb G] [--keep] "
                            "[--hot-keys H [--hot-versions V2]]\n");
            return 2;
        }
    }
    if (lag_dir[0])
        return s_lag(lag_dir, clients < 1 ? 1 : clients, (int)per_commit, seconds);
    if (rows < 1 || versions < 2 || per_commit < 1 || queries < 1 || hot < 0 || (hot && (hot > rows / 2 ||
                                                                                          hot_versions < 2))) {
        fprintf(stderr, "bench_index: need rows >= 1, versions >= 2, ops-per-commit >= 1, queries >= 1, "
                        "hot-keys <= rows / 2, hot-versions >= 2\n");
        return 2;
    }
    const int64_t stride = hot ? rows / hot : 1; /* hot key j is id j * stride */
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/var/tmp/drift-bench-index-XXXXXX");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            return 1;
        }
    }
    char logd[600], idxd[600], sqld[600];
    snprintf(logd, sizeof logd, "%s/log", dir);
    snprintf(idxd, sizeof idxd, "%s/index", dir);
    snprintf(sqld, sizeof sqld, "%s/sqlite.db", dir);
    drift_mkdir_p(logd);

    /* ---- the log ---- */
    logw_t w = {.fd = -1, .next_seq = 1, .ts = 1000};
    snprintf(w.dir, sizeof w.dir, "%s", logd);
    msgpack_sbuffer body, ops, row;
    msgpack_packer bp, op, rp;
    msgpack_sbuffer_init(&body);
    msgpack_sbuffer_init(&ops);
    msgpack_sbuffer_init(&row);
    msgpack_packer_init(&bp, &body, msgpack_sbuffer_write);
    msgpack_packer_init(&op, &ops, msgpack_sbuffer_write);
    msgpack_packer_init(&rp, &row, msgpack_sbuffer_write);
    { /* seq 1: the table with its score index */
        msgpack_sbuffer d;
        msgpack_packer dp;
        msgpack_sbuffer_init(&d);
        msgpack_packer_init(&dp, &d, msgpack_sbuffer_write);
        s_pack_ddl(&dp);
        msgpack_pack_array(&bp, 1);
        drift_commit_pack_op(&bp, DRIFT_COP_DDL, 1, NULL, 0, d.data, d.size);
        s_log_append(&w, body.data, body.size);
        msgpack_sbuffer_clear(&body);
        msgpack_sbuffer_destroy(&d);
    }
    uint64_t *round_end = calloc((size_t)versions, sizeof *round_end);
    uint64_t t0 = s_now();
    size_t nops = 0;
    const uint64_t nversions = (uint64_t)rows * (uint64_t)versions + (uint64_t)hot * (uint64_t)hot_versions;
    uint64_t hot_mid = 0; /* the seq after half of the hot versions */
    for (uint64_t n = 0; n < nversions; n++) {
        int64_t id, ver;
        int round_done = s_nth(n, rows, versions, hot, stride, &id, &ver);
        uint8_t pk[9];
        s_pk(id, pk);
        char name[32];
        int nl = snprintf(name, sizeof name, "name-%" PRId64 "-v%" PRId64, id, ver);
        msgpack_sbuffer_clear(&row);
        msgpack_pack_array(&rp, 3);
        msgpack_pack_int64(&rp, id);
        msgpack_pack_str_with_body(&rp, name, (size_t)nl);
        msgpack_pack_int64(&rp, s_score(id, (int)ver));
        drift_commit_pack_op(&op, ver ? DRIFT_COP_UPDATE : DRIFT_COP_INSERT, 1, pk, 9, row.data, row.size);
        if (++nops == (size_t)per_commit || round_done) {
            msgpack_sbuffer_clear(&body);
            msgpack_pack_array(&bp, nops);
            msgpack_sbuffer_write(&body, ops.data, ops.size);
            s_log_append(&w, body.data, body.size);
            msgpack_sbuffer_clear(&ops);
            nops = 0;
        }
        if (round_done && ver < versions)
            round_end[ver] = w.next_seq - 1;
        if (round_done && ver == versions + hot_versions / 2 - 1)
            hot_mid = w.next_seq - 1;
    }
    fdatasync(w.fd);
    close(w.fd);
    free(w.buf);
    msgpack_sbuffer_destroy(&body);
    msgpack_sbuffer_destroy(&ops);
    msgpack_sbuffer_destroy(&row);
    double log_s = (double)(s_now() - t0) / 1e9;
    uint64_t last = w.next_seq - 1;
    fprintf(stderr, "log: %" PRIu64 " commits, %" PRIu64 " versions written in %.2f s\n", last, nversions, log_s);

    /* ---- DriftDB: indexing with the indexer's code path ---- */
    drift_index_opts_t io = {.map_size = map_gb << 30};
    drift_index_t *ix;
    int rc = drift_index_open(idxd, logd, NULL, &io, &ix);
    if (rc < 0)
        s_die("index open", rc);
    drift_logr_t *lr;
    if ((rc = drift_logr_open(logd, NULL, &lr)) < 0 || (rc = drift_logr_seek(lr, 1)) < 0)
        s_die("log open", rc);
    t0 = s_now();
    for (;;) {
        if ((rc = drift_index_begin(ix)) < 0)
            s_die("begin", rc);
        drift_frame_t f;
        drift_logr_pos_t pos;
        int n = 0;
        while (n < 50000 && (rc = drift_logr_next(lr, &f, &pos)) == 1) {
            if ((rc = drift_index_apply(ix, &f, pos)) < 0)
                s_die(drift_index_error(ix), rc);
            n++;
        }
        if ((rc = drift_index_commit(ix)) < 0)
            s_die("commit", rc);
        if (n < 50000)
            break;
    }
    double ix_s = (double)(s_now() - t0) / 1e9;
    drift_logr_close(&lr);
    struct stat st;
    char mdb[700];
    snprintf(mdb, sizeof mdb, "%s/data.mdb", idxd);
    stat(mdb, &st);
    double ix_mb = (double)st.st_blocks * 512 / 1048576.0;
    fprintf(stderr, "indexed in %.2f s: %.0f versions/s, %.0f commits/s, %.0f MiB\n", ix_s, (double)nversions / ix_s,
            (double)last / ix_s, ix_mb);

    /* ---- SQLite: the history-table emulation ---- */
    sqlite3 *db;
    if (sqlite3_open(sqld, &db) != SQLITE_OK)
        s_die("sqlite open", -EIO);
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-1000000;"
                 "CREATE TABLE hist(id INTEGER NOT NULL, name TEXT, score INTEGER, valid_from INTEGER NOT NULL,"
                 " valid_to INTEGER NOT NULL);"
                 "CREATE INDEX hist_id ON hist(id, valid_from);"
                 "CREATE INDEX hist_score ON hist(score, valid_from);",
                 NULL, NULL, NULL);
    sqlite3_stmt *s_close, *s_ins;
    sqlite3_prepare_v2(db, "UPDATE hist SET valid_to=?2 WHERE id=?1 AND valid_to=9223372036854775807", -1, &s_close,
                       NULL);
    sqlite3_prepare_v2(db, "INSERT INTO hist VALUES(?1, ?2, ?3, ?4, 9223372036854775807)", -1, &s_ins, NULL);
    t0 = s_now();
    uint64_t seq = 1;
    nops = 0;
    int64_t in_txn = 0;
    if (sqlite_batch < per_commit)
        sqlite_batch = per_commit;
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (uint64_t n = 0; n < (no_sqlite ? 0 : nversions); n++) {
        int64_t id, ver;
        int round_done = s_nth(n, rows, versions, hot, stride, &id, &ver);
        if (nops == 0)
            seq++;
        char name[32];
        int nl = snprintf(name, sizeof name, "name-%" PRId64 "-v%" PRId64, id, ver);
        if (ver) {
            sqlite3_bind_int64(s_close, 1, id);
            sqlite3_bind_int64(s_close, 2, (sqlite3_int64)seq);
            sqlite3_step(s_close);
            sqlite3_reset(s_close);
        }
        sqlite3_bind_int64(s_ins, 1, id);
        sqlite3_bind_text(s_ins, 2, name, nl, SQLITE_STATIC);
        sqlite3_bind_int64(s_ins, 3, s_score(id, (int)ver));
        sqlite3_bind_int64(s_ins, 4, (sqlite3_int64)seq);
        sqlite3_step(s_ins);
        sqlite3_reset(s_ins);
        if (++nops == (size_t)per_commit || round_done)
            nops = 0; /* the next version gets the next seq, as in the log */
        if (++in_txn >= sqlite_batch && nops == 0) {
            sqlite3_exec(db, "COMMIT; BEGIN", NULL, NULL, NULL);
            in_txn = 0;
        }
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    double sq_s = (double)(s_now() - t0) / 1e9;
    if (!no_sqlite && seq != last) {
        fprintf(stderr, "bench_index: seq mismatch %" PRIu64 " vs %" PRIu64 "\n", seq, last);
        return 1;
    }
    fprintf(stderr, "sqlite loaded in %.2f s: %.0f versions/s\n", sq_s, (double)nversions / sq_s);

    /* ---- queries ---- */
    uint64_t old_seq = round_end[0], recent_seq = round_end[versions - 2];
    int64_t *keys = malloc((size_t)queries * sizeof *keys);
    for (int64_t i = 0; i < queries; i++) { /* keys with `versions` versions: not the hot ones */
        keys[i] = (int64_t)(s_rand() % (uint64_t)rows);
        if (hot && keys[i] % stride == 0 && keys[i] / stride < hot)
            keys[i] += 1; /* stride >= 2 */
    }
    drift_index_rd_t *rd;
    if ((rc = drift_index_rd_begin(ix, &rd)) < 0)
        s_die("rd", rc);
    sqlite3_stmt *q_latest, *q_asof, *q_hist, *q_idx, *q_scan;
    sqlite3_prepare_v2(db, "SELECT name, score FROM hist WHERE id=?1 AND valid_to=9223372036854775807", -1, &q_latest,
                       NULL);
    sqlite3_prepare_v2(db, "SELECT name, score FROM hist WHERE id=?1 AND valid_from<=?2 AND valid_to>?2", -1, &q_asof,
                       NULL);
    sqlite3_prepare_v2(db, "SELECT valid_from, valid_to, name FROM hist WHERE id=?1 ORDER BY valid_from", -1, &q_hist,
                       NULL);
    sqlite3_prepare_v2(db, "SELECT id FROM hist WHERE score=?1 AND valid_from<=?2 AND valid_to>?2", -1, &q_idx, NULL);
    sqlite3_prepare_v2(db, "SELECT id, name, score FROM hist WHERE valid_from<=?1 AND valid_to>?1 ORDER BY id", -1,
                       &q_scan, NULL);
    int64_t check = 0, scheck = 0;
    const uint64_t as_ofs[3] = {UINT64_MAX, recent_seq, old_seq};
    const char *names[3] = {"point read, latest", "point read as of a recent seq", "point read as of an old seq"};
    for (int k = 0; k < 3; k++) {
        double dn = 0, sn = 0;
        for (int rep = -1; rep < 2; rep++) { /* a warm-up round, then alternate: DriftDB, SQLite, DriftDB, SQLite */
            if (rep == 0)
                dn = sn = 0;
            t0 = s_now();
            check += s_point_reads(rd, keys, queries, as_ofs[k]);
            dn += (double)(s_now() - t0);
            t0 = s_now();
            sqlite3_stmt *q = k == 0 ? q_latest : q_asof;
            for (int64_t i = 0; i < queries; i++) {
                sqlite3_bind_int64(q, 1, keys[i]);
                if (k)
                    sqlite3_bind_int64(q, 2, (sqlite3_int64)as_ofs[k]);
                if (sqlite3_step(q) == SQLITE_ROW)
                    scheck += sqlite3_column_int64(q, 1);
                sqlite3_reset(q);
            }
            sn += (double)(s_now() - t0);
        }
        s_result(names[k], dn / (2.0 * (double)queries), sn / (2.0 * (double)queries), "µs/query");
    }
    /* The same three point reads again, paired: PAIRED_ROUNDS rounds, each timing every kind once over the same
     * keys in a rotating order, so that machine noise (other processes, frequency) hits all kinds alike; the
     * medians over the rounds give the as-of / latest ratios printed at the end. */
    double paired[3][PAIRED_ROUNDS];
    int64_t pcheck = 0;
    for (int r = 0; r < PAIRED_ROUNDS; r++) {
        for (int j = 0; j < 3; j++) {
            int k = (r + j) % 3;
            uint64_t p0 = s_now();
            pcheck += s_point_reads(rd, keys, queries, as_ofs[k]);
            paired[k][r] = (double)(s_now() - p0) / (double)queries / 1000.0;
        }
    }
    double pmed[3];
    for (int k = 0; k < 3; k++) {
        qsort(paired[k], PAIRED_ROUNDS, sizeof paired[k][0], s_cmp_double);
        pmed[k] = paired[k][PAIRED_ROUNDS / 2];
    }
    if (pcheck != check * PAIRED_ROUNDS / 3) { /* each round reads what one warm-up + 2 timed passes read / 3 */
        fprintf(stderr, "bench_index: paired reads found other rows (%" PRId64 " vs %" PRId64 ")\n", pcheck,
                check * PAIRED_ROUNDS / 3);
        return 1;
    }
    if (!no_sqlite && check != scheck) {
        fprintf(stderr, "bench_index: DriftDB and SQLite disagree (%" PRId64 " vs %" PRId64 ")\n", check, scheck);
        return 1;
    }
    /* Keys with `versions` versions against keys with versions + hot_versions, in the same tree: latest, as of
     * hot_mid (half of the hot versions before it, half after) and as of the old seq, PAIRED_ROUNDS rotating rounds
     * over the 6 kinds (DriftDB), then each kind twice on SQLite; sums cross-checked. The keys with few versions
     * are the hot keys' neighbours (id + 1), as many and as spread: the same share of the trees stays in the CPU
     * caches for both (random keys of the whole table would make the few-version reads look slower). */
    double hmed[6] = {0};
    if (hot) {
        int64_t *hkeys = malloc((size_t)queries * sizeof *hkeys), *ckeys = malloc((size_t)queries * sizeof *ckeys);
        for (int64_t i = 0; i < queries; i++) {
            hkeys[i] = (int64_t)(s_rand() % (uint64_t)hot) * stride;
            ckeys[i] = (int64_t)(s_rand() % (uint64_t)hot) * stride + 1;
        }
        const uint64_t hs[3] = {UINT64_MAX, hot_mid, old_seq};
        double hp[6][PAIRED_ROUNDS];
        int64_t hsum[6] = {0};
        for (int r = 0; r < PAIRED_ROUNDS; r++)
            for (int j = 0; j < 6; j++) {
                int k = (r + j) % 6;
                uint64_t p0 = s_now();
                int64_t sum = s_point_reads(rd, k % 2 ? hkeys : ckeys, queries, hs[k / 2]);
                hp[k][r] = (double)(s_now() - p0) / (double)queries / 1000.0;
                if (r == 0)
                    hsum[k] = sum;
                else if (sum != hsum[k])
                    s_die("hot reads found other rows", -EIO);
            }
        for (int k = 0; k < 6; k++) {
            qsort(hp[k], PAIRED_ROUNDS, sizeof hp[k][0], s_cmp_double);
            hmed[k] = hp[k][PAIRED_ROUNDS / 2];
        }
        static char hn[6][112];
        static const char *const what[3] = {"latest", "as of a seq amid the hot versions", "as of the old seq"};
        for (int k = 0; k < 6; k++) {
            double sn = 0;
            int64_t ssum = 0;
            sqlite3_stmt *q = k / 2 == 0 ? q_latest : q_asof;
            const int64_t *ks = k % 2 ? hkeys : ckeys;
            for (int rep = 0; rep < (no_sqlite ? 0 : 2); rep++) {
                ssum = 0;
                t0 = s_now();
                for (int64_t i = 0; i < queries; i++) {
                    sqlite3_bind_int64(q, 1, ks[i]);
                    if (k / 2)
                        sqlite3_bind_int64(q, 2, (sqlite3_int64)hs[k / 2]);
                    if (sqlite3_step(q) == SQLITE_ROW)
                        ssum += sqlite3_column_int64(q, 1);
                    sqlite3_reset(q);
                }
                sn += (double)(s_now() - t0);
            }
            if (!no_sqlite && ssum != hsum[k]) {
                fprintf(stderr, "bench_index: hot reads: DriftDB and SQLite disagree (kind %d)\n", k);
                return 1;
            }
            snprintf(hn[k], sizeof hn[k], "point read %s, key with %" PRId64 " versions", what[k / 2],
                     k % 2 ? versions + hot_versions : versions);
            s_result(hn[k], hmed[k] * 1000.0, sn / 2.0 / (double)queries, "µs/query");
        }
        free(hkeys);
        free(ckeys);
    }
    /* history of one key */
    {
        int64_t hq = queries / 10 + 1;
        uint64_t hn = 0, shn = 0;
        t0 = s_now();
        for (int64_t i = 0; i < hq; i++) {
            uint8_t pk[9];
            s_pk(keys[i], pk);
            uint64_t acc = 0;
            drift_index_history(rd, 1, pk, 9, s_count, &acc);
            hn += acc;
        }
        double dn = (double)(s_now() - t0);
        t0 = s_now();
        for (int64_t i = 0; i < hq; i++) {
            sqlite3_bind_int64(q_hist, 1, keys[i]);
            while (sqlite3_step(q_hist) == SQLITE_ROW)
                shn++;
            sqlite3_reset(q_hist);
        }
        double sn = (double)(s_now() - t0);
        if ((!no_sqlite && hn != shn) || hn != (uint64_t)hq * (uint64_t)versions) {
            fprintf(stderr, "bench_index: history counts differ (%" PRIu64 " vs %" PRIu64 ")\n", hn, shn);
            return 1;
        }
        s_result("history of one key (all versions)", dn / (double)hq, sn / (double)hq, "µs/query");
    }
    /* secondary lookups: score = x, now and as of the old seq (k = 0 is a warm-up of the as-of one) */
    for (int k = 0; k < 3; k++) {
        uint64_t as_of = k != 1 ? old_seq : UINT64_MAX;
        int64_t lq = queries / 100 + 1;
        uint64_t hits = 0, shits = 0;
        t0 = s_now();
        for (int64_t i = 0; i < lq; i++) {
            drift_keybuf_t lo = {0}, hi = {0};
            drift_keyenc_int(&lo, keys[i] % 1000);
            drift_keybuf_raw(&hi, lo.buf, lo.len);
            drift_keybuf_raw(&hi, "\xff", 1);
            drift_index_iscan_t *it;
            if (drift_index_iscan_open(rd, 1, lo.buf, lo.len, hi.buf, hi.len, as_of, &it) == 0) {
                const uint8_t *pk, *vals;
                size_t pl, vl;
                uint64_t from, to;
                int trunc;
                while (drift_index_iscan_next(it, &pk, &pl, &vals, &vl, &from, &to, &trunc) == 1)
                    hits++;
                drift_index_iscan_close(&it);
            }
            drift_keybuf_free(&lo);
            drift_keybuf_free(&hi);
        }
        double dn = (double)(s_now() - t0);
        t0 = s_now();
        for (int64_t i = 0; i < lq; i++) {
            sqlite3_bind_int64(q_idx, 1, keys[i] % 1000);
            sqlite3_bind_int64(q_idx, 2, k != 1 ? (sqlite3_int64)old_seq : INT64_MAX - 1);
            while (sqlite3_step(q_idx) == SQLITE_ROW)
                shits++;
            sqlite3_reset(q_idx);
        }
        double sn = (double)(s_now() - t0);
        if (!no_sqlite && hits != shits) {
            fprintf(stderr, "bench_index: index hits differ (%" PRIu64 " vs %" PRIu64 ")\n", hits, shits);
            return 1;
        }
        if (k == 0)
            continue;
        static char nm[2][96];
        snprintf(nm[k - 1], 96, "secondary lookup score = x %s (%.0f rows/lookup)",
                 k == 2 ? "as of the old seq" : "now", (double)hits / (double)lq);
        s_result(nm[k - 1], dn / (double)lq, sn / (double)lq, "µs/query");
    }
    /* full scans: as of the old seq, and now */
    for (int k = 0; k < 2; k++) {
        uint64_t as_of = k ? UINT64_MAX : old_seq;
        uint64_t n = 0, sn_rows = 0;
        t0 = s_now();
        drift_index_scan_t *it;
        if ((rc = drift_index_scan_open(rd, 1, NULL, 0, NULL, 0, as_of, &it)) < 0)
            s_die("scan", rc);
        const uint8_t *pk;
        size_t pl;
        drift_index_ver_t v;
        while (drift_index_scan_next(it, &pk, &pl, &v) == 1)
            n++;
        uint64_t steps = drift_index_scan_steps(it);
        drift_index_scan_close(&it);
        double dn = (double)(s_now() - t0);
        t0 = s_now();
        sqlite3_bind_int64(q_scan, 1, k ? INT64_MAX - 1 : (sqlite3_int64)old_seq);
        while (sqlite3_step(q_scan) == SQLITE_ROW)
            sn_rows++;
        sqlite3_reset(q_scan);
        double sn = (double)(s_now() - t0);
        if (n != (uint64_t)rows || (!no_sqlite && sn_rows != n)) {
            fprintf(stderr, "bench_index: scan rows differ (%" PRIu64 " vs %" PRIu64 ")\n", n, sn_rows);
            return 1;
        }
        fprintf(stderr, "scan %s: %.1f cursor ops per row\n", k ? "now" : "as of old", (double)steps / (double)n);
        s_result(k ? "full-table scan now (per row)" : "full-table scan as of the old seq (per row)", dn / (double)n,
                 sn / (double)n, "µs/row");
    }
    drift_index_rd_end(&rd);
    drift_index_close(&ix);
    double raw[3];
    if (s_raw_seeks(idxd, keys, queries, as_ofs, raw) < 0) {
        fprintf(stderr, "bench_index: raw LMDB lookups failed\n");
        return 1;
    }

    printf("\n%" PRId64 " rows x %" PRId64 " versions = %" PRIu64 " versions, %" PRId64 " rows per commit (%" PRIu64
           " commits), %" PRId64 " random keys\n\n",
           rows, versions, nversions, per_commit, last, queries);
    printf("| what | DriftDB | SQLite history table | SQLite / DriftDB |\n|---|---|---|---|\n");
    /* --no-sqlite: SQLite holds no data, so its timings (statements on empty tables) mean nothing */
    if (no_sqlite)
        printf("| loading %" PRIu64 " versions | %.0f versions/s (indexer, from the log) | not run | - |\n", nversions,
               (double)nversions / ix_s);
    else
        printf("| loading %" PRIu64 " versions | %.0f versions/s (indexer, from the log) | %.0f versions/s (%" PRId64
               " per transaction) | %.2f |\n",
               nversions, (double)nversions / ix_s, (double)nversions / sq_s, sqlite_batch, ix_s / sq_s);
    for (int i = 0; i < g_nres; i++) {
        if (no_sqlite)
            printf("| %s | %.2f %s | not run | - |\n", g_res[i].name, g_res[i].drift_us, g_res[i].unit);
        else
            printf("| %s | %.2f %s | %.2f %s | %.2f |\n", g_res[i].name, g_res[i].drift_us, g_res[i].unit,
                   g_res[i].sqlite_us, g_res[i].unit, g_res[i].sqlite_us / g_res[i].drift_us);
    }
    printf("\nas-of point read (old seq) / latest point read: %.2f; (recent seq) / latest: %.2f\n",
           g_res[2].drift_us / g_res[0].drift_us, g_res[1].drift_us / g_res[0].drift_us);
    printf("paired (%d rounds, rotating order, medians): latest %.3f µs, as of recent %.3f µs, as of old %.3f µs; "
           "old / latest %.2f, recent / latest %.2f\n",
           PAIRED_ROUNDS, pmed[0], pmed[1], pmed[2], pmed[2] / pmed[0], pmed[1] / pmed[0]);
    printf("raw LMDB lookups alone (paired, medians; no decoding): current get %.3f µs, versions seek as of recent "
           "%.3f µs, as of old %.3f µs; old / latest %.2f, recent / latest %.2f\n",
           raw[0], raw[1], raw[2], raw[2] / raw[0], raw[1] / raw[0]);
    if (hot)
        printf("keys with %" PRId64 " / %" PRId64 " versions (paired, %d rounds, medians): latest %.3f / %.3f µs, as of a "
               "seq amid the hot versions %.3f / %.3f µs, as of the old seq %.3f / %.3f µs; many / few versions: "
               "%.2f, %.2f, %.2f\n",
               versions, versions + hot_versions, PAIRED_ROUNDS, hmed[0], hmed[1], hmed[2], hmed[3], hmed[4], hmed[5],
               hmed[1] / hmed[0], hmed[3] / hmed[2], hmed[5] / hmed[4]);
    printf("index size %.0f MiB; SQLite file ", ix_mb);
    stat(sqld, &st);
    if (no_sqlite)
        printf("not loaded\n");
    else
        printf("%.0f MiB\n", (double)st.st_size / 1048576.0);
    sqlite3_finalize(s_close);
    sqlite3_finalize(s_ins);
    sqlite3_finalize(q_latest);
    sqlite3_finalize(q_asof);
    sqlite3_finalize(q_hist);
    sqlite3_finalize(q_idx);
    sqlite3_finalize(q_scan);
    sqlite3_close(db);
    free(keys);
    free(round_end);
    if (!keep)
        nftw(dir, s_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static int s_raw_seeks(const char *idxd, const int64_t *keys, int64_t n, const uint64_t *as_ofs, double *med)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_dbi dcur, dver;
    int ret = -1;
    if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 16) ||
        mdb_env_open(env, idxd, MDB_RDONLY | MDB_NORDAHEAD | MDB_NOTLS, 0644) ||
        mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) || mdb_dbi_open(txn, "current", 0, &dcur) ||
        mdb_dbi_open(txn, "versions", 0, &dver) || mdb_cursor_open(txn, dver, &cur))
        goto out;
    /* the keys are built before the clock runs: table 1 | pk | ~as_of (recent, old); current uses the first 13 */
    uint8_t(*kk)[2][21] = malloc((size_t)n * sizeof *kk);
    if (!kk)
        goto out;
    for (int64_t i = 0; i < n; i++)
        for (int w = 0; w < 2; w++) {
            uint8_t *key = kk[i][w];
            uint64_t inv = ~as_ofs[1 + w];
            key[0] = key[1] = key[2] = 0;
            key[3] = 1;
            s_pk(keys[i], key + 4);
            for (int b = 0; b < 8; b++)
                key[13 + b] = (uint8_t)(inv >> (56 - 8 * b));
        }
    double t[3][PAIRED_ROUNDS];
    uint64_t sum[3] = {0};
    for (int r = 0; r < PAIRED_ROUNDS; r++)
        for (int j = 0; j < 3; j++) {
            int k = (r + j) % 3;
            uint64_t t0 = s_now();
            for (int64_t i = 0; i < n; i++) {
                MDB_val kv = {k ? 21 : 13, kk[i][k ? k - 1 : 0]}, vv;
                int rc;
                if (k == 0)
                    rc = mdb_get(txn, dcur, &kv, &vv);
                else {
                    mdb_cursor_renew(txn, cur); /* from the root, as drift_index_get does */
                    rc = mdb_cursor_get(cur, &kv, &vv, MDB_SET_RANGE);
                }
                if (rc == 0) { /* found (every key exists at both seqs); the value's first line read */
                    sum[k]++;
                    g_sink ^= *(const uint8_t *)vv.mv_data;
                }
            }
            t[k][r] = (double)(s_now() - t0) / (double)n / 1000.0;
        }
    for (int k = 0; k < 3; k++) {
        qsort(t[k], PAIRED_ROUNDS, sizeof t[k][0], s_cmp_double);
        med[k] = t[k][PAIRED_ROUNDS / 2];
    }
    ret = 0;
    for (int k = 0; k < 3; k++)
        if (sum[k] != (uint64_t)n * PAIRED_ROUNDS)
            ret = -1; /* a lookup that found nothing would time something else */
    free(kk);
out:
    if (cur)
        mdb_cursor_close(cur);
    if (txn)
        mdb_txn_abort(txn);
    if (env)
        mdb_env_close(env);
    return ret;
}
