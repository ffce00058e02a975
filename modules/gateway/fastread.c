/* modules/gateway/fastread.c — see fastread.h.
 *
 * Memory: one engine (an LMDB read-only environment: one reader slot of the index's 1022, used only while a
 * statement runs; the map is shared page cache, not the gateway's own memory), a verdict cache of at most
 * CACHE_MAX statement texts of at most CACHE_SQL_MAX bytes (emptied when full), and the reply chunks of the
 * statement running now (bounded: a fast read steps over at most 255 rows). Single-threaded. */
#include "modules/gateway/fastread.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "ipc/msg.h"
#include "modules/query/engine.h"
#include "modules/query/result.h"

#define CACHE_BUCKETS 1024u
#define CACHE_MAX 1024u
#define CACHE_SQL_MAX 2048u        /* longer statements are checked every time */
#define NOTE_MAX (64u * 1024u)     /* larger replies are not parsed: the floor takes the last commit instead */
#define RETRY_OPEN_NS 1000000000ull /* after the index could not be opened, forward for this long */
#define MAX_EST_ROWS 100u

enum { V_ELIGIBLE = 1, V_INELIGIBLE = 2 };

typedef struct s_entry {
    struct s_entry *next;
    uint64_t hash;
    uint64_t epoch;
    int verdict;
    size_t len;
    char sql[];
} s_entry_t;

typedef struct {
    void *data;
    size_t len;
} s_chunk_t;

struct drift_fastread {
    drift_role_t *r;
    drift_engine_t *engine;
    uint64_t floor; /* highest seq of a write reply forwarded (read-your-writes) */
    uint64_t epoch; /* bumped when the catalog may have changed: verdicts of older epochs are re-checked */
    s_entry_t *buckets[CACHE_BUCKETS];
    uint32_t nentries;
    uint64_t retry_ns; /* the index was not available: forward until then */
    int unavailable;   /* logged once per outage */
    /* the statement running now */
    drift_fastread_send_fn send;
    void *arg;
    s_chunk_t *chunks;
    size_t nchunks, capchunks;
    int sent;
};

static uint64_t s_hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    return h;
}

static void s_cache_clear(drift_fastread_t *f)
{
    for (uint32_t b = 0; b < CACHE_BUCKETS; b++)
        while (f->buckets[b]) {
            s_entry_t *e = f->buckets[b];
            f->buckets[b] = e->next;
            free(e);
        }
    f->nentries = 0;
}

static s_entry_t *s_cache_get(drift_fastread_t *f, uint64_t h, const char *sql, size_t len)
{
    for (s_entry_t *e = f->buckets[h % CACHE_BUCKETS]; e; e = e->next)
        if (e->hash == h && e->len == len && memcmp(e->sql, sql, len) == 0)
            return e;
    return NULL;
}

/* Records a verdict for the current epoch (best effort: out of memory just means no cache). */
static void s_cache_put(drift_fastread_t *f, s_entry_t *e, uint64_t h, const char *sql, size_t len, int verdict)
{
    if (len > CACHE_SQL_MAX)
        return;
    if (!e) {
        if (f->nentries >= CACHE_MAX)
            s_cache_clear(f);
        if (!(e = malloc(sizeof *e + len)))
            return;
        e->hash = h;
        e->len = len;
        memcpy(e->sql, sql, len);
        e->next = f->buckets[h % CACHE_BUCKETS];
        f->buckets[h % CACHE_BUCKETS] = e;
        f->nentries++;
    }
    e->epoch = f->epoch;
    e->verdict = verdict;
}

static void s_chunks_drop(drift_fastread_t *f)
{
    for (size_t i = 0; i < f->nchunks; i++)
        free(f->chunks[i].data);
    f->nchunks = 0;
}

/* drift_result's emitter: chunks before the last wait until the statement succeeded (a refused statement
 * goes to a worker and must leave no trace); the last reply comes from sink->done, after which nothing can
 * fail, so it and the chunks before it are sent. */
static int s_emit(void *arg, const void *data, size_t len, int more)
{
    drift_fastread_t *f = arg;
    if (more) {
        if (f->nchunks == f->capchunks) {
            size_t cap = f->capchunks ? f->capchunks * 2 : 8;
            s_chunk_t *n = realloc(f->chunks, cap * sizeof *n);
            if (!n)
                return -1;
            f->chunks = n;
            f->capchunks = cap;
        }
        void *copy = malloc(len ? len : 1);
        if (!copy)
            return -1;
        memcpy(copy, data, len);
        f->chunks[f->nchunks++] = (s_chunk_t){copy, len};
        return 0;
    }
    for (size_t i = 0; i < f->nchunks; i++)
        f->send(f->arg, f->chunks[i].data, f->chunks[i].len);
    s_chunks_drop(f);
    f->send(f->arg, data, len);
    f->sent = 1;
    return 0;
}

drift_fastread_t *drift_fastread_new(drift_role_t *r)
{
    drift_fastread_t *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->r = r;
    drift_engine_opts_t eo = {.data_dir = r->data_dir,
                              .worker_id = 63, /* never used: a fast read generates no rowid */
                              .index_map_size = r->cfg.index_map_size,
                              .statement_timeout_ms = (int)(r->cfg.request_timeout_ns / 1000000),
                              .heartbeat = &r->slot->heartbeat_mono_ns};
    if (!(f->engine = drift_engine_new_opts(r->hdr, &eo))) {
        free(f);
        return NULL;
    }
    /* Writes acknowledged by an earlier gateway incarnation are at most the last commit: start above them. */
    uint64_t w = atomic_load(&r->hdr->written_seq), c = atomic_load(&r->hdr->commit_seq);
    f->floor = w > c ? w : c;
    return f;
}

void drift_fastread_destroy(drift_fastread_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    drift_fastread_t *f = *self_p;
    s_cache_clear(f);
    s_chunks_drop(f);
    free(f->chunks);
    drift_engine_destroy(&f->engine);
    free(f);
    *self_p = NULL;
}

int drift_fastread_try(drift_fastread_t *f, const drift_proto_req_t *req, int one_reply, drift_fastread_send_fn send,
                       void *arg)
{
    if (!req->sql || req->sql_len == 0)
        return 0;
    uint64_t now = drift_now_mono_ns();
    if (now < f->retry_ns)
        return 0;
    uint64_t h = s_hash(req->sql, req->sql_len);
    s_entry_t *e = s_cache_get(f, h, req->sql, req->sql_len);
    int known = e && e->epoch == f->epoch;
    if (known && e->verdict == V_INELIGIBLE)
        return 0;
    uint32_t chunk = one_reply ? 0 : req->chunk_rows;
    drift_result_t *res = drift_result_new(req, chunk, chunk ? DRIFT_PROTO_CHUNK_BYTES : 0, s_emit, f);
    if (!res)
        return 0;
    f->send = send;
    f->arg = arg;
    f->sent = 0;
    drift_stmt_input_t in = drift_result_input(req);
    drift_fast_opts_t o = {.check_plan = !known, .min_seq = f->floor, .max_est_rows = MAX_EST_ROWS};
    drift_sqlerr_t err;
    memset(&err, 0, sizeof err);
    drift_fast_rc_t rc = drift_engine_execute_bounded(f->engine, &in, &o, drift_result_sink(res), &err);
    drift_result_destroy(&res);
    s_chunks_drop(f);
    if (f->sent) /* the last reply went out: answered (rc is DRIFT_FAST_ANSWERED) */
        rc = DRIFT_FAST_ANSWERED;
    switch (rc) {
    case DRIFT_FAST_ANSWERED:
        if (!known)
            s_cache_put(f, e, h, req->sql, req->sql_len, V_ELIGIBLE);
        if (f->unavailable) {
            DLOG_INFO("gateway fast reads: the index is available again");
            f->unavailable = 0;
        }
        return 1;
    case DRIFT_FAST_INELIGIBLE: s_cache_put(f, e, h, req->sql, req->sql_len, V_INELIGIBLE); return 0;
    default:
        if (strcmp(err.code, "57P03") == 0 || strcmp(err.code, "58000") == 0 || strcmp(err.code, "58030") == 0) {
            /* The index cannot be read here: forward everything for a while, say so once. */
            f->retry_ns = now + RETRY_OPEN_NS;
            if (!f->unavailable)
                DLOG_WARN("gateway fast reads: %s; reads go to the query workers until it can be read", err.message);
            f->unavailable = 1;
        }
        return 0;
    }
}

/* Reads a MessagePack str at *pp; 0 and the bytes, or -1. */
static int s_str(const uint8_t **pp, const uint8_t *end, const char **ret, size_t *ret_len)
{
    const uint8_t *p = *pp;
    size_t n;
    if (p >= end)
        return -1;
    uint8_t b = *p++;
    if ((b & 0xe0) == 0xa0)
        n = b & 0x1f;
    else if (b == 0xd9 && end - p >= 1)
        n = *p++;
    else if (b == 0xda && end - p >= 2) {
        n = (size_t)p[0] << 8 | p[1];
        p += 2;
    } else
        return -1;
    if ((size_t)(end - p) < n)
        return -1;
    *ret = (const char *)p;
    *ret_len = n;
    *pp = p + n;
    return 0;
}

/* Reads a MessagePack integer at *pp; 0 and its value (negative ones as INT64), or -1. */
static int s_int(const uint8_t **pp, const uint8_t *end, int64_t *ret)
{
    const uint8_t *p = *pp;
    if (p >= end)
        return -1;
    uint8_t b = *p++;
    static const uint8_t sizes[] = {1, 2, 4, 8}; /* 0xcc..0xcf unsigned, 0xd0..0xd3 signed */
    if (b <= 0x7f)
        *ret = b;
    else if (b >= 0xe0)
        *ret = (int8_t)b;
    else if (b >= 0xcc && b <= 0xd3) {
        size_t n = sizes[(b - 0xcc) & 3];
        if ((size_t)(end - p) < n)
            return -1;
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++)
            v = v << 8 | p[i];
        if (b >= 0xd0 && n < 8 && (v >> (n * 8 - 1)) & 1)
            v |= ~0ull << (n * 8); /* sign-extend */
        *ret = (int64_t)v;
        p += n;
    } else
        return -1;
    *pp = p;
    return 0;
}

void drift_fastread_note_reply(drift_fastread_t *f, const void *data, size_t len)
{
    const uint8_t *p = data, *end = p + len;
    uint32_t n;
    int64_t seq = -1, affected = -1;
    if (len > NOTE_MAX || drift_msg_container(&p, end, 1, &n) < 0)
        goto unparsed;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        size_t kl, used;
        if (s_str(&p, end, &k, &kl) < 0)
            goto unparsed;
        if (kl == 3 && memcmp(k, "seq", 3) == 0) {
            if (s_int(&p, end, &seq) < 0)
                goto unparsed;
        } else if (kl == 8 && memcmp(k, "affected", 8) == 0) {
            if (s_int(&p, end, &affected) < 0)
                goto unparsed;
        } else {
            if (drift_msg_skip(p, (size_t)(end - p), &used) < 0)
                goto unparsed;
            p += used;
        }
    }
    if (affected < 0)
        return; /* not a write: a read's seq is a snapshot the index had already applied */
    if (seq > 0 && (uint64_t)seq > f->floor)
        f->floor = (uint64_t)seq;
    if (affected == 0)
        f->epoch++; /* DDL, ANALYZE (or a write that matched nothing): plans may have changed */
    return;
unparsed: {
    /* Not read (too large): whatever it carries is at most the last commit. */
    uint64_t w = atomic_load(&f->r->hdr->written_seq), c = atomic_load(&f->r->hdr->commit_seq);
    uint64_t top = w > c ? w : c;
    if (top > f->floor)
        f->floor = top;
}
}
