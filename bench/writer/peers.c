/* bench/writer/peers.c — the peers of the writer benchmark, same closed-loop
 * client model as wbench.c (one transaction in flight per client thread):
 *
 *   peers sqlite PATH CLIENTS ROWS SECONDS     SQLite, WAL, synchronous=FULL, one connection per thread
 *   peers pg CONNINFO CLIENTS ROWS SECONDS     PostgreSQL via libpq, synchronous_commit=on
 *
 * Built by bench/writer/run.py with `cc ... $(pkg-config --cflags --libs sqlite3 libpq)`
 * (kept out of configure: these are benchmark-only dependencies).
 * Prints the same RESULT line as wbench. */
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_SAMPLES 4000000

static _Atomic int s_stop;

static uint64_t s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

typedef struct {
    int id, rows;
    const char *target;
    uint64_t *lat;
    size_t n;
    uint64_t errors;
} client_t;

static int s_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void *s_sqlite(void *arg)
{
    client_t *c = arg;
    sqlite3 *db;
    if (sqlite3_open(c->target, &db) != SQLITE_OK)
        return NULL;
    sqlite3_busy_timeout(db, 30000);
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, NULL);
    sqlite3_stmt *ins;
    sqlite3_prepare_v2(db, "INSERT INTO t(k, id, name, balance, note) VALUES (?, ?, ?, ?, ?)", -1, &ins, NULL);
    uint64_t n = 0;
    while (!atomic_load(&s_stop) && c->n < MAX_SAMPLES / 64) {
        n++;
        uint64_t t0 = s_now();
        int ok = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
        for (int i = 0; ok && i < c->rows; i++) {
            char key[64], name[64];
            snprintf(key, sizeof key, "p%d-c%d-%" PRIu64 "-%d", (int)getpid(), c->id, n, i);
            snprintf(name, sizeof name, "customer name %d/%" PRIu64, c->id, n);
            sqlite3_bind_text(ins, 1, key, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(ins, 2, (sqlite3_int64)(n * 1000 + (uint64_t)i));
            sqlite3_bind_text(ins, 3, name, -1, SQLITE_TRANSIENT);
            sqlite3_bind_double(ins, 4, 1234.5 + i);
            sqlite3_bind_text(ins, 5, "0123456789012345678901234567890123456789", -1, SQLITE_STATIC);
            ok = sqlite3_step(ins) == SQLITE_DONE;
            sqlite3_reset(ins);
        }
        ok = ok && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
        if (!ok) {
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            c->errors++;
            continue;
        }
        c->lat[c->n++] = s_now() - t0;
    }
    sqlite3_finalize(ins);
    sqlite3_close(db);
    return NULL;
}

static void *s_pg(void *arg)
{
    client_t *c = arg;
    PGconn *pg = PQconnectdb(c->target);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "pg: %s", PQerrorMessage(pg));
        c->errors++;
        PQfinish(pg);
        return NULL;
    }
    /* One statement per transaction: rows passed as arrays and unnested (the fast way to insert
     * many rows in one round trip without COPY). */
    PGresult *r = PQprepare(pg, "ins",
                            "INSERT INTO t(k, id, name, balance, note) SELECT k, i, n, b, "
                            "'0123456789012345678901234567890123456789' FROM unnest($1::text[], $2::bigint[], "
                            "$3::text[], $4::float8[]) AS u(k, i, n, b)",
                            4, NULL);
    PQclear(r);
    size_t cap = (size_t)c->rows * 48 + 16;
    char *ks = malloc(cap), *is = malloc(cap), *ns = malloc(cap), *bs = malloc(cap);
    uint64_t n = 0;
    while (!atomic_load(&s_stop) && c->n < MAX_SAMPLES / 64) {
        n++;
        size_t a = 0, b = 0, d = 0, e = 0;
        ks[a++] = is[b++] = ns[d++] = bs[e++] = '{';
        for (int i = 0; i < c->rows; i++) {
            const char *sep = i ? "," : "";
            a += (size_t)snprintf(ks + a, cap - a, "%sp%d-c%d-%" PRIu64 "-%d", sep, (int)getpid(), c->id, n, i);
            b += (size_t)snprintf(is + b, cap - b, "%s%" PRIu64, sep, n * 1000 + (uint64_t)i);
            d += (size_t)snprintf(ns + d, cap - d, "%s\"customer name %d/%" PRIu64 "\"", sep, c->id, n);
            e += (size_t)snprintf(bs + e, cap - e, "%s%.1f", sep, 1234.5 + i);
        }
        snprintf(ks + a, cap - a, "}");
        snprintf(is + b, cap - b, "}");
        snprintf(ns + d, cap - d, "}");
        snprintf(bs + e, cap - e, "}");
        const char *params[4] = {ks, is, ns, bs};
        uint64_t t0 = s_now();
        r = PQexecPrepared(pg, "ins", 4, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            if (c->errors++ == 0)
                fprintf(stderr, "pg: %s", PQresultErrorMessage(r));
            PQclear(r);
            continue;
        }
        PQclear(r);
        c->lat[c->n++] = s_now() - t0;
    }
    free(ks);
    free(is);
    free(ns);
    free(bs);
    PQfinish(pg);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: peers sqlite|pg TARGET CLIENTS ROWS SECONDS\n");
        return 2;
    }
    int is_pg = strcmp(argv[1], "pg") == 0;
    int nc = atoi(argv[3]), rows = atoi(argv[4]);
    double secs = atof(argv[5]);
    client_t *cs = calloc((size_t)nc, sizeof *cs);
    pthread_t *th = calloc((size_t)nc, sizeof *th);
    for (int i = 0; i < nc; i++) {
        cs[i] = (client_t){.id = i, .rows = rows, .target = argv[2]};
        cs[i].lat = malloc(MAX_SAMPLES / 64 * sizeof(uint64_t));
    }
    uint64_t t0 = s_now();
    for (int i = 0; i < nc; i++)
        pthread_create(&th[i], NULL, is_pg ? s_pg : s_sqlite, &cs[i]);
    usleep((useconds_t)(secs * 1e6));
    atomic_store(&s_stop, 1);
    for (int i = 0; i < nc; i++)
        pthread_join(th[i], NULL);
    double el = (s_now() - t0) / 1e9;
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
    printf("RESULT mode=%s clients=%d rows=%d ops_s=%.0f rows_s=%.0f p50_us=%.0f p99_us=%.0f errors=%" PRIu64 "\n",
           is_pg ? "postgresql" : "sqlite", nc, rows, total / el, total * (double)rows / el,
           total ? all[total / 2] / 1e3 : 0, total ? all[total * 99 / 100] / 1e3 : 0, errors);
    return 0;
}
