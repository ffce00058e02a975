/* bench/index/layout_probe.c — what other layouts of `versions` would cost, on a real index (issue 5).
 *
 *   layout_probe INDEX_DIR SCRATCH_DIR [--partitions K] [--rows N] [--as-of SEQ] [--queries Q]
 *
 * INDEX_DIR is an index kept by `bench_index --keep --dir D` (D/index; copy it with `mdb_copy -c` first to
 * measure it compacted). The probe copies the index's `versions` tree twice into SCRATCH_DIR (a new LMDB
 * environment, emptied first): once whole and densely packed (MDB_APPEND, leaves 100 % full), and once split
 * into K trees by a hash of table|pk (each dense, so that each is K times smaller and, from some size on, one
 * level shallower). Then it times, in paired rounds (rotating order, medians), random lookups of N keys of
 * table 1 (bench_index's integer keys 0..N-1):
 *   - `current`: mdb_get of table|pk (what a latest read looks up);
 *   - `versions`: MDB_SET_RANGE of table|pk|~SEQ in the index itself (what an as-of read looks up);
 *   - dense: the same seek in the dense copy;
 *   - partitioned: the same seek in the key's partition (hash computed per lookup).
 * Every lookup reads the first byte of its value; no version is decoded. This measures the floor of an
 * as-of read in each layout against the floor of a latest read, not a DriftDB feature: DriftDB keeps one
 * `versions` tree (docs/indexes.md §3, docs/benchmarks.md "Indexes", Session 8).
 * Single-threaded; the index is opened read-only. */
#include <getopt.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shm/keyenc.h"

#define ROUNDS 9
#define PMAX 64

static volatile uint8_t g_sink; /* what the lookups read goes here, so that the compiler keeps the reads */

static void s_die(const char *what, int rc)
{
    fprintf(stderr, "layout_probe: %s: %s\n", what, mdb_strerror(rc));
    exit(1);
}

static double s_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* FNV-1a of the key without its trailing ~seq: the partition of a key. */
static uint32_t s_part(const uint8_t *k, size_t n, int parts)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ k[i]) * 16777619u;
    return h % (uint32_t)parts;
}

/* table 1 | the key encoding of integer id (shm/keyenc.h, 9 bytes) | ~as_of, big-endian (docs/indexes.md §3). */
static void s_key(int64_t id, uint64_t as_of, uint8_t k[21])
{
    drift_keybuf_t kb = {0};
    drift_keyenc_int(&kb, id);
    if (kb.oom || kb.len != 9) {
        fprintf(stderr, "layout_probe: key encoding\n");
        exit(1);
    }
    uint64_t inv = ~as_of;
    k[0] = k[1] = k[2] = 0;
    k[3] = 1;
    memcpy(k + 4, kb.buf, 9);
    for (int i = 0; i < 8; i++)
        k[13 + i] = (uint8_t)(inv >> (56 - 8 * i));
    drift_keybuf_free(&kb);
}

static void s_stat(MDB_txn *txn, MDB_dbi dbi, const char *name)
{
    MDB_stat s;
    mdb_stat(txn, dbi, &s);
    printf("%-22s depth %u, %zu branch + %zu leaf pages, %zu entries\n", name, s.ms_depth, s.ms_branch_pages,
           s.ms_leaf_pages, s.ms_entries);
}

int main(int argc, char **argv)
{
    int parts = 8;
    int64_t rows = 1000000, queries = 100000;
    uint64_t as_of = 100001;
    static const struct option opts[] = {{"partitions", required_argument, NULL, 'p'},
                                         {"rows", required_argument, NULL, 'n'},
                                         {"as-of", required_argument, NULL, 'a'},
                                         {"queries", required_argument, NULL, 'q'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "p:n:a:q:", opts, NULL)) != -1) {
        if (c == 'p')
            parts = atoi(optarg);
        else if (c == 'n')
            rows = atoll(optarg);
        else if (c == 'a')
            as_of = strtoull(optarg, NULL, 10);
        else if (c == 'q')
            queries = atoll(optarg);
        else
            return 2;
    }
    if (argc - optind != 2 || parts < 1 || parts > PMAX || rows < 1 || queries < 1) {
        fprintf(stderr, "usage: layout_probe INDEX_DIR SCRATCH_DIR [--partitions K<=%d] [--rows N] [--as-of SEQ] "
                        "[--queries Q]\n",
                PMAX);
        return 2;
    }
    const char *src_dir = argv[optind], *dst_dir = argv[optind + 1];
    MDB_env *src, *dst;
    MDB_txn *st, *dt;
    MDB_dbi sver, scur, dense, part[PMAX];
    int rc;
    if ((rc = mdb_env_create(&src)) || (rc = mdb_env_set_maxdbs(src, 16)) ||
        (rc = mdb_env_open(src, src_dir, MDB_RDONLY | MDB_NORDAHEAD, 0644)))
        s_die(src_dir, rc);
    char path[4096];
    snprintf(path, sizeof path, "%s/data.mdb", dst_dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/lock.mdb", dst_dir);
    unlink(path);
    if ((rc = mdb_env_create(&dst)) || (rc = mdb_env_set_maxdbs(dst, PMAX + 2)) ||
        (rc = mdb_env_set_mapsize(dst, (size_t)64 << 30)) ||
        (rc = mdb_env_open(dst, dst_dir, MDB_NOSYNC | MDB_NORDAHEAD, 0644)))
        s_die(dst_dir, rc);
    if ((rc = mdb_txn_begin(src, NULL, MDB_RDONLY, &st)) || (rc = mdb_dbi_open(st, "versions", 0, &sver)) ||
        (rc = mdb_dbi_open(st, "current", 0, &scur)))
        s_die("index", rc);

    /* the copies: keys come in order, so every put appends */
    if ((rc = mdb_txn_begin(dst, NULL, 0, &dt)) || (rc = mdb_dbi_open(dt, "dense", MDB_CREATE, &dense)))
        s_die("scratch", rc);
    for (int i = 0; i < parts; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "p%d", i);
        if ((rc = mdb_dbi_open(dt, nm, MDB_CREATE, &part[i])))
            s_die("scratch", rc);
    }
    MDB_cursor *cur;
    MDB_val k, v;
    if ((rc = mdb_cursor_open(st, sver, &cur)))
        s_die("cursor", rc);
    int checked = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (!checked++) {
            uint8_t want[21];
            s_key(0, 0, want);
            if (k.mv_size != 21 || memcmp(k.mv_data, want, 5) != 0) {
                fprintf(stderr, "layout_probe: %s is not a bench_index index (first key)\n", src_dir);
                return 1;
            }
        }
        int p = (int)s_part(k.mv_data, k.mv_size - 8, parts);
        int r1 = mdb_put(dt, dense, &k, &v, MDB_APPEND), r2 = mdb_put(dt, part[p], &k, &v, MDB_APPEND);
        if (r1 || r2)
            s_die("copy", r1 ? r1 : r2);
    }
    if (rc != MDB_NOTFOUND)
        s_die("versions", rc);
    mdb_cursor_close(cur);
    if ((rc = mdb_txn_commit(dt)))
        s_die("commit", rc);

    if ((rc = mdb_txn_begin(dst, NULL, MDB_RDONLY, &dt)))
        s_die("scratch", rc);
    s_stat(st, scur, "current");
    s_stat(st, sver, "versions");
    s_stat(dt, dense, "versions, dense copy");
    s_stat(dt, part[0], "partition 0 of K");

    MDB_cursor *cv, *cd, *cp[PMAX];
    if ((rc = mdb_cursor_open(st, sver, &cv)) || (rc = mdb_cursor_open(dt, dense, &cd)))
        s_die("cursor", rc);
    for (int i = 0; i < parts; i++)
        if ((rc = mdb_cursor_open(dt, part[i], &cp[i])))
            s_die("cursor", rc);
    uint8_t(*keys)[21] = malloc((size_t)queries * 21);
    uint64_t r = 88172645463325252ull;
    for (int64_t i = 0; i < queries; i++) {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        s_key((int64_t)(r % (uint64_t)rows), as_of, keys[i]);
    }
    static const char *names[4] = {"current get (latest)", "versions seek (as of)", "dense copy seek",
                                   "partitioned seek"};
    double t[4][ROUNDS];
    int64_t found[4] = {0};
    for (int round = -1; round < ROUNDS; round++)
        for (int j = 0; j < 4; j++) {
            int kind = (round + 4 + j) % 4;
            double t0 = s_now();
            for (int64_t i = 0; i < queries; i++) {
                MDB_val kq = {kind ? 21 : 13, keys[i]}, vq;
                if (kind == 0)
                    rc = mdb_get(st, scur, &kq, &vq);
                else {
                    MDB_txn *txn = kind == 1 ? st : dt;
                    MDB_cursor *c1 = kind == 1 ? cv : kind == 2 ? cd : cp[s_part(keys[i], 13, parts)];
                    mdb_cursor_renew(txn, c1); /* from the root, as drift_index_get does */
                    rc = mdb_cursor_get(c1, &kq, &vq, MDB_SET_RANGE);
                    rc = rc || memcmp(kq.mv_data, keys[i], 13) != 0; /* landed on the key's chunk */
                }
                if (rc == 0) {
                    found[kind]++;
                    g_sink ^= *(const uint8_t *)vq.mv_data;
                }
            }
            if (round >= 0)
                t[kind][round] = (s_now() - t0) / (double)queries * 1e6;
        }
    double med[4];
    for (int kind = 0; kind < 4; kind++) {
        if (found[kind] != queries * (ROUNDS + 1)) {
            fprintf(stderr, "layout_probe: %s found %" PRId64 " of %" PRId64 "\n", names[kind], found[kind],
                    queries * (ROUNDS + 1));
            return 1;
        }
        qsort(t[kind], ROUNDS, sizeof t[kind][0], s_cmp_double);
        med[kind] = t[kind][ROUNDS / 2];
    }
    printf("%" PRId64 " random keys of %" PRId64 ", as of %" PRIu64 ", %d paired rounds (medians), K = %d:\n", queries,
           rows, as_of, ROUNDS, parts);
    for (int kind = 0; kind < 4; kind++)
        printf("  %-22s %.3f µs  %.2fx\n", names[kind], med[kind], med[kind] / med[0]);
    mdb_txn_abort(dt);
    mdb_txn_abort(st);
    mdb_env_close(dst);
    mdb_env_close(src);
    free(keys);
    return 0;
}
