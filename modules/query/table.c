/* modules/query/table.c — table access for the executor (table.h): schemas
 * as of a seq, rows as of a seq mapped to the opened schema by column id,
 * the transaction's pending writes overlaid on present reads, version scans,
 * history, AS OF resolution and the row-level writes.
 *
 * Schemas. A table is opened from the catalog (drift_index_table_by_name +
 * the raw TABLEDEF in force at as_of) or, when it is read at the present, from
 * the transaction's own DDL first (txn.h). The TABLEDEF's extra keys that
 * drift_index_tdef_parse ignores are read here: a column's "default" (the
 * value, stored like a row value), "hidden" (the generated _rowid) and the
 * table's "driftql" map (ddl.c documents the document-table layout).
 *
 * Rows. A stored row is a MessagePack array in the columns of the schema
 * version it was written in; it is shown in the opened schema by column id
 * (one id -> position map per schema version met, cached on the table): a
 * column added later reads as its DEFAULT (or NULL), a dropped one vanishes.
 *
 * Overlay. When a table is opened at q->snap_seq ("present") the pending
 * writes of q->txn are merged into every read: get looks the key up in the
 * transaction first; scan merges the snapshot's key-ordered stream with the
 * transaction's key-ordered view; iscan merges the snapshot's index-ordered
 * hits (re-checked against the row visible at as_of) with the pending rows
 * whose values fall in the range (sorted by (values, pk)). Historical reads
 * never see pending writes.
 *
 * Memory. drift_table_t and everything it points to live in the statement
 * arena (there is no close). A scan is malloc'd (closed by the caller) and
 * owns the buffers its current row borrows from; drift_table_get's row lives
 * in buffers of the table, valid until the next get on the same table.
 *
 * Retention: nothing is compacted yet, so every seq from 0 to the last commit
 * can be read; when the compactor exists, resolve_seq/resolve_time must refuse
 * points before its horizon with 22023.
 *
 * Single-threaded (one statement at a time per worker). */
#include "modules/query/table.h"

#include <errno.h>
#include <inttypes.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/errors.h"
#include "common/json.h"
#include "ipc/msg.h"
#include "modules/query/ast.h"
#include "modules/query/expr.h"
#include "modules/query/txn.h"

#define ESTIMATE_PROBE 1000u /* estimate_rows counts up to this many rows exactly */

/* The id -> position map of one stored schema version. */
typedef struct {
    uint32_t ver;
    int32_t *pos; /* per opened column: position in a row of version ver, or -1 */
} s_vmap_t;

typedef struct {
    drift_table_t pub; /* first: a drift_table_t * is an s_table_t * */
    int rowid_col;     /* position of the hidden _rowid, or -1 */
    s_vmap_t *vmaps;
    size_t nvmaps, capvmaps;
    drift_value_t *getvals; /* drift_table_get's row */
    uint8_t *getrow;        /* the bytes getvals borrow from (arena; replaced by a larger block when needed) */
    size_t getrow_len, getrow_cap;
    uint8_t *getpk; /* the pk drift_table_get returns (same) */
    size_t getpk_cap;
    uint8_t *built;         /* per index: the snapshot holds its entries (NULL until computed) */
    uint8_t *packbuf;       /* rows packed for writes (arena, grown the same way) */
    size_t pack_len, pack_cap;
    int pack_oom;
    int64_t est;            /* estimate_rows cache (-1 unknown) */
} s_table_t;

/* ------------------------------------------------------------------ errors */

/* 1-based character position of byte offset pos in the statement (0 = none). */
static uint32_t s_charpos(const drift_qctx_t *q, uint32_t pos)
{
    if (!q->sql || pos == 0 || pos > q->sql_len)
        return pos ? pos + 1 : 0;
    uint32_t n = 1;
    for (uint32_t i = 0; i < pos; i++)
        if (((unsigned char)q->sql[i] & 0xc0) != 0x80)
            n++;
    return n;
}

/* Maps an index read error to an SQLSTATE. */
static int s_ixerr(drift_qctx_t *q, int rc, const char *what)
{
    if (rc == -EAGAIN)
        return drift_sqlerr_set(q->err, "57014", 0, "%s: the index has not applied the snapshot yet (index lag): retry",
                                what);
    if (rc == -ENOMEM)
        return drift_sqlerr_set(q->err, "53200", 0, "out of memory");
    return drift_sqlerr_set(q->err, "58030", 0, "%s: index read failed: %s", what, drift_strerror(rc));
}

static int s_oom(drift_qctx_t *q)
{
    return drift_sqlerr_set(q->err, "53200", 0, "out of memory");
}

/* ------------------------------------------------------------------ time points */

/* The last seq a reader may name: the last commit (or the statement snapshot when it is ahead). */
static uint64_t s_last_seq(const drift_qctx_t *q)
{
    uint64_t last = q->snap_seq;
    if (q->hdr) {
        uint64_t c = __atomic_load_n(&q->hdr->commit_seq, __ATOMIC_ACQUIRE);
        if (c > last)
            last = c;
    } else if (q->rd && drift_index_rd_seq(q->rd) > last)
        last = drift_index_rd_seq(q->rd);
    return last;
}

int drift_table_resolve_seq(drift_qctx_t *q, uint64_t seq, uint32_t pos, uint64_t *ret)
{
    uint64_t last = s_last_seq(q);
    if (seq > last)
        return drift_sqlerr_set(q->err, "22023", s_charpos(q, pos), "seq %" PRIu64 " is beyond the last commit %" PRIu64,
                                seq, last);
    /* no retention horizon yet (nothing is compacted): every seq down to 0 is readable */
    *ret = seq;
    return 0;
}

int drift_table_resolve_time(drift_qctx_t *q, const char *rfc3339, size_t n, uint32_t pos, uint64_t *ret)
{
    int64_t ns;
    if (!rfc3339 || drift_ts_parse(rfc3339, n, &ns) < 0)
        return drift_sqlerr_set(q->err, "22007", s_charpos(q, pos),
                                "bad timestamp \"%.*s\" (expected RFC 3339, e.g. 2026-01-31T12:00:00Z)",
                                (int)(n > 64 ? 64 : n), rfc3339 ? rfc3339 : "");
    int64_t now = q->now_ns;
    if (now == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    }
    if (ns > now)
        return drift_sqlerr_set(q->err, "22023", s_charpos(q, pos), "timestamp %.*s is in the future", (int)n, rfc3339);
    if (ns < 0) {
        *ret = 0;
        return 0;
    }
    if (!q->rd)
        return drift_sqlerr_set(q->err, "55000", s_charpos(q, pos), "no index to resolve a timestamp with");
    /* Replies show timestamps to the microsecond: a point given with at most 6 fractional digits means the
     * end of that microsecond, so that AS OF a _ts copied from a result sees that version. */
    int digits = 0;
    const char *dot = memchr(rfc3339, '.', n);
    if (dot)
        for (const char *p = dot + 1; p < rfc3339 + n && *p >= '0' && *p <= '9'; p++)
            digits++;
    if (digits <= 6)
        ns += 999;
    uint64_t seq;
    int rc = drift_index_seq_at(q->rd, (uint64_t)ns, &seq);
    if (rc < 0)
        return s_ixerr(q, rc, "AS OF timestamp");
    /* the index may not have applied everything up to the last commit: never answer a seq beyond the snapshot
     * for a time after it (the commits after the snapshot are after its time too) */
    *ret = seq;
    return 0;
}

/* ------------------------------------------------------------------ opening */

/* Reads the TABLEDEF extras (defaults, hidden, driftql, view) into t. */
static int s_extras(drift_qctx_t *q, s_table_t *t, const uint8_t *raw, size_t raw_len)
{
    drift_table_t *p = &t->pub;
    drift_msg_limits_t lim = drift_msg_limits(raw_len + 1);
    drift_msg_t *msg = NULL;
    char err[160];
    if (drift_msg_decode(raw, raw_len, &lim, &msg, err, sizeof err) < 0)
        return drift_sqlerr_set(q->err, "XX001", 0, "table %s: bad definition: %s", p->name, err);
    const msgpack_object *root = drift_msg_root(msg);
    const msgpack_object *cols = drift_msg_map_get(root, "columns");
    int rc = 0;
    for (uint32_t i = 0; cols && cols->type == MSGPACK_OBJECT_ARRAY && i < cols->via.array.size && i < p->ncols; i++) {
        const msgpack_object *c = &cols->via.array.ptr[i];
        drift_tcol_t *col = &p->cols[i];
        const msgpack_object *d = drift_msg_map_get(c, "default");
        if (d && d->type != MSGPACK_OBJECT_NIL) {
            drift_value_t v;
            if (drift_val_unpack(col->type, d, &v) == 0 && drift_val_copy(q->arena, &v, &col->default_val) == 0)
                col->has_default = 1;
        }
        const msgpack_object *h = drift_msg_map_get(c, "hidden");
        col->hidden = h && h->type == MSGPACK_OBJECT_BOOLEAN && h->via.boolean;
        if (col->hidden && strcmp(col->name, "_rowid") == 0)
            t->rowid_col = (int)i;
    }
    const msgpack_object *vw = drift_msg_map_get(root, "view");
    if (vw && vw->type == MSGPACK_OBJECT_STR &&
        !(p->view_sql = drift_arena_strndup(q->arena, vw->via.str.ptr, vw->via.str.size))) {
        rc = s_oom(q);
        goto out;
    }
    const msgpack_object *dq = drift_msg_map_get(root, "driftql");
    if (dq && dq->type == MSGPACK_OBJECT_MAP) {
        const msgpack_object *kc = drift_msg_map_get(dq, "key_column"), *dc = drift_msg_map_get(dq, "doc_column");
        const msgpack_object *kf = drift_msg_map_get(dq, "key_field"), *fl = drift_msg_map_get(dq, "fields");
        p->doc_fields = drift_arena_alloc(q->arena, p->ncols * sizeof *p->doc_fields);
        if (!p->doc_fields) {
            rc = s_oom(q);
            goto out;
        }
        int key = -1, doc = -1;
        if (kc && kc->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            key = drift_index_tdef_colpos(p->def, (uint32_t)kc->via.u64);
        if (dc && dc->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            doc = drift_index_tdef_colpos(p->def, (uint32_t)dc->via.u64);
        if (key >= 0 && doc >= 0 && kf && kf->type == MSGPACK_OBJECT_STR) {
            p->driftql = 1;
            p->doc_key_col = key;
            p->doc_col = doc;
            p->doc_fields[key] = drift_arena_strndup(q->arena, kf->via.str.ptr, kf->via.str.size);
            p->doc_fields[doc] = "";
            for (uint32_t i = 0; fl && fl->type == MSGPACK_OBJECT_ARRAY && i < fl->via.array.size; i++) {
                const msgpack_object *f = &fl->via.array.ptr[i];
                const msgpack_object *fn = drift_msg_map_get(f, "field"), *fc = drift_msg_map_get(f, "column");
                if (!fn || fn->type != MSGPACK_OBJECT_STR || !fc || fc->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                    continue;
                int at = drift_index_tdef_colpos(p->def, (uint32_t)fc->via.u64);
                if (at >= 0 && at != key && at != doc)
                    p->doc_fields[at] = drift_arena_strndup(q->arena, fn->via.str.ptr, fn->via.str.size);
            }
        }
    }
out:
    drift_msg_destroy(&msg);
    return rc;
}

/* Gives t its per-statement state for q: the point read, fresh buffers and lazily computed maps (what a table opened
 * from a cached definition must not share with the statement that decoded it). 0 or -1 (out of memory). */
static int s_bind(drift_qctx_t *q, s_table_t *t, uint64_t as_of, int present)
{
    t->vmaps = NULL;
    t->nvmaps = t->capvmaps = 0;
    t->getrow = NULL;
    t->getrow_len = t->getrow_cap = 0;
    t->getpk = NULL;
    t->getpk_cap = 0;
    t->built = NULL;
    t->packbuf = NULL;
    t->pack_len = t->pack_cap = 0;
    t->pack_oom = 0;
    t->est = -1;
    t->pub.q = q;
    t->pub.as_of = as_of;
    t->pub.present = present;
    t->pub.est_steps = 0;
    t->getvals = drift_arena_alloc(q->arena, (t->pub.ncols ? t->pub.ncols : 1) * sizeof *t->getvals);
    return t->getvals ? 0 : s_oom(q);
}

/* Builds an opened table from a definition (raw TABLEDEF bytes). */
static int s_build(drift_qctx_t *q, uint32_t id, const uint8_t *raw, size_t raw_len, uint64_t as_of, int present,
                   drift_table_t **ret)
{
    drift_index_tdef_t *d = NULL;
    char err[200];
    int rc = drift_index_tdef_parse(raw, raw_len, id, &d, err, sizeof err);
    if (rc < 0)
        return rc == -ENOMEM ? s_oom(q) : drift_sqlerr_set(q->err, "XX001", 0, "table %u: bad definition: %s", id, err);
    s_table_t *t = drift_arena_alloc(q->arena, sizeof *t);
    drift_index_tdef_t *cd = drift_arena_alloc(q->arena, sizeof *cd);
    if (!t || !cd) {
        drift_index_tdef_destroy(&d);
        return s_oom(q);
    }
    *cd = *d;
    cd->cols = drift_arena_memdup(q->arena, d->cols, d->ncols * sizeof *d->cols);
    cd->idx = drift_arena_memdup(q->arena, d->idx ? (const void *)d->idx : "", d->nidx * sizeof *d->idx);
    drift_index_tdef_destroy(&d);
    drift_table_t *p = &t->pub;
    t->rowid_col = -1;
    p->id = id;
    p->def = cd;
    p->name = cd->name;
    p->schema_ver = cd->version;
    p->ncols = cd->ncols;
    p->cols = drift_arena_alloc(q->arena, cd->ncols * sizeof *p->cols);
    p->idx = drift_arena_alloc(q->arena, (cd->nidx ? cd->nidx : 1) * sizeof *p->idx);
    if (!cd->cols || !cd->idx || !p->cols || !p->idx || s_bind(q, t, as_of, present) < 0)
        return s_oom(q);
    for (uint32_t i = 0; i < cd->ncols; i++) {
        drift_tcol_t *c = &p->cols[i];
        c->id = cd->cols[i].id;
        c->name = cd->cols[i].name;
        c->type = cd->cols[i].type;
        c->not_null = cd->cols[i].not_null;
        c->default_val = drift_val_null();
    }
    p->npk = cd->npk;
    for (uint32_t i = 0; i < cd->npk; i++) {
        int at = drift_index_tdef_colpos(cd, cd->pk[i]);
        p->pk[i] = (uint32_t)at;
        p->cols[at].in_pk = (int)i + 1;
    }
    p->nidx = cd->nidx;
    for (uint32_t i = 0; i < cd->nidx; i++) {
        drift_tidx_t *x = &p->idx[i];
        x->id = cd->idx[i].id;
        x->name = cd->idx[i].name;
        x->unique = cd->idx[i].unique;
        x->ncols = cd->idx[i].ncols;
        for (uint32_t j = 0; j < x->ncols; j++)
            x->cols[j] = (uint32_t)drift_index_tdef_colpos(cd, cd->idx[i].cols[j]);
    }
    if (s_extras(q, t, raw, raw_len) < 0)
        return -1;
    *ret = p;
    return 0;
}

/* Finds table `name` as of as_of: its id and TABLEDEF. Returns 1 found, 0 not, -1 error. */
static int s_find(drift_qctx_t *q, const char *name, uint64_t as_of, int present, uint32_t *ret_id,
                  const uint8_t **ret_raw, size_t *ret_len)
{
    if (present && q->txn) {
        uint32_t id;
        int dropped;
        if (drift_txn_pending_name(q->txn, name, &id, &dropped) && !dropped) {
            if (drift_txn_pending_def(q->txn, id, ret_raw, ret_len) && *ret_raw) {
                *ret_id = id;
                return 1;
            }
        }
    }
    if (!q->rd)
        return 0;
    uint32_t id;
    int rc = drift_index_table_by_name(q->rd, name, as_of, &id);
    if (rc == DRIFT_ENOTFOUND)
        return 0;
    if (rc < 0)
        return s_ixerr(q, rc, "catalog");
    if (present && q->txn) {
        const uint8_t *def;
        size_t len;
        if (drift_txn_pending_def(q->txn, id, &def, &len)) {
            /* the transaction dropped or renamed it (a rename away from `name` was handled above) */
            if (!def)
                return 0;
            drift_index_tdef_t *d = NULL;
            char err[160];
            int same = drift_index_tdef_parse(def, len, id, &d, err, sizeof err) == 0 && strcmp(d->name, name) == 0;
            drift_index_tdef_destroy(&d);
            if (!same)
                return 0;
            *ret_id = id;
            *ret_raw = def;
            *ret_len = len;
            return 1;
        }
    }
    if (as_of != UINT64_MAX && as_of > drift_index_rd_seq(q->rd))
        return s_ixerr(q, -EAGAIN, "catalog");
    rc = drift_index_table_def_raw(q->rd, id, as_of, ret_raw, ret_len);
    if (rc == DRIFT_ENOTFOUND)
        return 0;
    if (rc < 0)
        return s_ixerr(q, rc, "catalog");
    *ret_id = id;
    return 1;
}

/* ------------------------------------------------------------------ definition cache */

#define TDEF_CACHE_MAX 16u

/* One decoded definition: the table s_build made of (id, raw), in the entry's own arena. */
typedef struct {
    uint32_t id;
    uint8_t *raw;
    size_t raw_len;
    drift_arena_t arena;
    s_table_t tpl;
} s_tdef_entry_t;

struct drift_tdef_cache {
    s_tdef_entry_t e[TDEF_CACHE_MAX];
    uint32_t n;
};

drift_tdef_cache_t *drift_tdef_cache_new(void)
{
    return calloc(1, sizeof(drift_tdef_cache_t));
}

/* Frees every entry. */
static void s_tdef_clear(drift_tdef_cache_t *c)
{
    for (uint32_t i = 0; i < c->n; i++) {
        free(c->e[i].raw);
        drift_arena_free(&c->e[i].arena);
    }
    c->n = 0;
}

void drift_tdef_cache_trim(drift_tdef_cache_t *c)
{
    if (c && c->n >= TDEF_CACHE_MAX)
        s_tdef_clear(c);
}

void drift_tdef_cache_destroy(drift_tdef_cache_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_tdef_clear(*self_p);
    free(*self_p);
    *self_p = NULL;
}

/* s_build through q->tdef_cache: the cached table (decoded once per (id, raw bytes)) copied into the statement's
 * arena with its per-statement state (point, buffers, lazily computed maps) fresh. */
static int s_open_def(drift_qctx_t *q, uint32_t id, const uint8_t *raw, size_t raw_len, uint64_t as_of, int present,
                      drift_table_t **ret)
{
    drift_tdef_cache_t *c = q->tdef_cache;
    if (!c)
        return s_build(q, id, raw, raw_len, as_of, present, ret);
    s_tdef_entry_t *e = NULL;
    for (uint32_t i = 0; i < c->n && !e; i++)
        if (c->e[i].id == id && c->e[i].raw_len == raw_len && memcmp(c->e[i].raw, raw, raw_len) == 0)
            e = &c->e[i];
    if (!e) {
        if (c->n >= TDEF_CACHE_MAX) /* full: tables of this statement may point into every entry */
            return s_build(q, id, raw, raw_len, as_of, present, ret);
        e = &c->e[c->n];
        memset(e, 0, sizeof *e);
        if (!(e->raw = malloc(raw_len ? raw_len : 1)))
            return s_oom(q);
        memcpy(e->raw, raw, raw_len);
        drift_qctx_t tq = *q;
        tq.arena = &e->arena;
        drift_table_t *tp = NULL;
        if (s_build(&tq, id, e->raw, raw_len, as_of, present, &tp) < 0) {
            free(e->raw);
            drift_arena_free(&e->arena);
            return -1;
        }
        e->id = id;
        e->raw_len = raw_len;
        e->tpl = *(s_table_t *)tp;
        c->n++;
    }
    s_table_t *t = drift_arena_alloc(q->arena, sizeof *t);
    if (!t)
        return s_oom(q);
    *t = e->tpl;
    if (s_bind(q, t, as_of, present) < 0)
        return -1;
    *ret = &t->pub;
    return 0;
}

int drift_table_open(drift_qctx_t *q, const char *name, uint64_t as_of, uint32_t pos, drift_table_t **ret)
{
    int present = as_of == q->snap_seq;
    uint32_t id = 0;
    const uint8_t *raw = NULL;
    size_t len = 0;
    int rc = s_find(q, name, as_of, present, &id, &raw, &len);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        if (present)
            return drift_sqlerr_set(q->err, "42P01", s_charpos(q, pos), "table \"%s\" does not exist", name);
        return drift_sqlerr_set(q->err, "42P01", s_charpos(q, pos), "table \"%s\" does not exist (as of @seq:%" PRIu64 ")",
                                name, as_of);
    }
    return s_open_def(q, id, raw, len, as_of, present, ret);
}

int drift_table_exists(drift_qctx_t *q, const char *name, uint64_t as_of, uint32_t *ret_id)
{
    const uint8_t *raw;
    size_t len;
    uint32_t id = 0;
    int rc = s_find(q, name, as_of, as_of == q->snap_seq, &id, &raw, &len);
    if (rc == 1 && ret_id)
        *ret_id = id;
    return rc;
}

int drift_table_colpos(const drift_table_t *t, const char *name)
{
    for (uint32_t i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].name, name) == 0)
            return (int)i;
    return -1;
}

int drift_table_rowid_col(const drift_table_t *t)
{
    return ((const s_table_t *)t)->rowid_col;
}

/* ------------------------------------------------------------------ keys */

/* Appends the key encoding of v as a value of column type ct: coerced when it can be (a value that cannot
 * be coerced is encoded as it is: it matches nothing of that type). */
static void s_keyenc(drift_qctx_t *q, drift_keybuf_t *kb, drift_coltype_t ct, const drift_value_t *v)
{
    drift_value_t cv;
    drift_sqlerr_t e;
    if (v->type != DRIFT_VAL_NULL && drift_val_coerce(q->arena, ct, v, &cv, "", &e) == 0)
        drift_val_keyenc(kb, ct, &cv);
    else
        drift_val_keyenc(kb, ct, v);
}

int drift_table_encode_pk(drift_table_t *t, const drift_value_t *pkvals, drift_keybuf_t *out)
{
    drift_keybuf_reset(out);
    for (uint32_t i = 0; i < t->npk; i++)
        s_keyenc(t->q, out, t->cols[t->pk[i]].type, &pkvals[i]);
    if (out->oom)
        return s_oom(t->q);
    return 0;
}

int drift_table_encode_ivals(drift_table_t *t, const drift_tidx_t *i, const drift_value_t *vals, uint32_t n,
                             drift_keybuf_t *out)
{
    drift_keybuf_reset(out);
    for (uint32_t j = 0; j < n && j < i->ncols; j++)
        s_keyenc(t->q, out, t->cols[i->cols[j]].type, &vals[j]);
    if (out->oom)
        return s_oom(t->q);
    return 0;
}

/* Index values of a row (values in the table's columns, already coerced) as the indexer stores them. */
static void s_row_ivals(const drift_table_t *t, const drift_tidx_t *x, const drift_value_t *vals, drift_keybuf_t *kb)
{
    drift_keybuf_reset(kb);
    for (uint32_t j = 0; j < x->ncols; j++)
        drift_val_keyenc(kb, t->cols[x->cols[j]].type, &vals[x->cols[j]]);
}

/* ------------------------------------------------------------------ decoding rows */

/* The raw TABLEDEF of schema version ver of t (the transaction's own first when present). */
static int s_def_ver_raw(s_table_t *t, uint32_t ver, const uint8_t **raw, size_t *len)
{
    drift_qctx_t *q = t->pub.q;
    if (q->txn && drift_txn_pending_def_ver(q->txn, t->pub.id, ver, raw, len))
        return 0;
    if (!q->rd)
        return DRIFT_ENOTFOUND;
    return drift_index_table_def_ver_raw(q->rd, t->pub.id, ver, raw, len);
}

/* The position map of schema version ver (NULL + err on failure). ver 0 = the opened version. */
static const s_vmap_t *s_vmap(s_table_t *t, uint32_t ver)
{
    drift_table_t *p = &t->pub;
    drift_qctx_t *q = p->q;
    if (ver == 0)
        ver = p->schema_ver;
    for (size_t i = 0; i < t->nvmaps; i++)
        if (t->vmaps[i].ver == ver)
            return &t->vmaps[i];
    if (t->nvmaps == t->capvmaps) {
        size_t cap = t->capvmaps ? 2 * t->capvmaps : 4;
        s_vmap_t *n = drift_arena_alloc(q->arena, cap * sizeof *n);
        if (!n) {
            s_oom(q);
            return NULL;
        }
        if (t->nvmaps)
            memcpy(n, t->vmaps, t->nvmaps * sizeof *n);
        t->vmaps = n;
        t->capvmaps = cap;
    }
    s_vmap_t *m = &t->vmaps[t->nvmaps];
    m->ver = ver;
    m->pos = drift_arena_alloc(q->arena, (p->ncols ? p->ncols : 1) * sizeof *m->pos);
    if (!m->pos) {
        s_oom(q);
        return NULL;
    }
    if (ver == p->schema_ver) {
        for (uint32_t i = 0; i < p->ncols; i++)
            m->pos[i] = (int32_t)i;
    } else {
        const uint8_t *raw;
        size_t len;
        drift_index_tdef_t *d = NULL;
        char err[160];
        int rc = s_def_ver_raw(t, ver, &raw, &len);
        if (rc < 0 || drift_index_tdef_parse(raw, len, p->id, &d, err, sizeof err) < 0) {
            drift_sqlerr_set(q->err, "XX001", 0, "table %s: schema version %u of a stored row is unknown", p->name, ver);
            return NULL;
        }
        for (uint32_t i = 0; i < p->ncols; i++)
            m->pos[i] = drift_index_tdef_colpos(d, p->cols[i].id);
        drift_index_tdef_destroy(&d);
    }
    t->nvmaps++;
    return m;
}

/* Decodes a stored row (array in schema version ver) into vals (t->ncols), borrowing from row. */
static int s_decode(s_table_t *t, msgpack_zone *z, uint32_t ver, const uint8_t *row, size_t row_len,
                    drift_value_t *vals)
{
    drift_table_t *p = &t->pub;
    drift_qctx_t *q = p->q;
    const s_vmap_t *m = s_vmap(t, ver);
    if (!m)
        return -1;
    if (!z) {
        /* one zone per thread, reused (the objects only live during this call: values borrow from row) */
        static __thread msgpack_zone *tz;
        if (!tz && !(tz = msgpack_zone_new(2048)))
            return s_oom(q);
        z = tz;
    }
    msgpack_zone_clear(z);
    msgpack_object o;
    size_t off = 0;
    if (!row || msgpack_unpack((const char *)row, row_len, &off, z, &o) != MSGPACK_UNPACK_SUCCESS ||
        o.type != MSGPACK_OBJECT_ARRAY)
        return drift_sqlerr_set(q->err, "XX001", 0, "table %s: a stored row is not an array", p->name);
    for (uint32_t i = 0; i < p->ncols; i++) {
        int32_t at = m->pos[i];
        if (at < 0 || (uint32_t)at >= o.via.array.size) {
            vals[i] = p->cols[i].has_default && at < 0 ? p->cols[i].default_val : drift_val_null();
            continue;
        }
        if (drift_val_unpack(p->cols[i].type, &o.via.array.ptr[at], &vals[i]) < 0)
            return drift_sqlerr_set(q->err, "XX001", 0, "table %s: column %s of a stored row is not a %s", p->name,
                                    p->cols[i].name, drift_coltype_name(p->cols[i].type));
    }
    return 0;
}

/* ------------------------------------------------------------------ point reads */

/* The state of pk (txn overlay then snapshot when present): 1 with the row bytes (borrowed: the transaction's,
 * LMDB's, or the log reader's until its next fetch) and version, 0 not found, -1 error. seq/ts/op of a
 * snapshot version in *v (0 for pending). */
static int s_lookup(s_table_t *t, const uint8_t *pk, size_t pk_len, const uint8_t **ret_row, size_t *ret_len,
                    uint32_t *ret_ver, drift_index_ver_t *v)
{
    drift_table_t *p = &t->pub;
    drift_qctx_t *q = p->q;
    memset(v, 0, sizeof *v);
    if (p->present && q->txn) {
        int st = drift_txn_lookup(q->txn, p->id, pk, pk_len, ret_row, ret_len, ret_ver);
        if (st == 2)
            return 0;
        if (st == 1) {
            v->op = DRIFT_COP_INSERT;
            v->end_seq = DRIFT_INDEX_SEQ_LIVE;
            return 1;
        }
    }
    if (!q->rd)
        return 0;
    int rc = drift_index_get(q->rd, p->id, pk, pk_len, p->as_of, v);
    if (rc == DRIFT_ENOTFOUND)
        return 0;
    if (rc < 0)
        return s_ixerr(q, rc, p->name);
    *ret_row = v->row;
    *ret_len = v->row_len;
    *ret_ver = v->schema_ver;
    return 1;
}

/* Copies n bytes into an arena buffer of the table (replaced by a larger block when needed). */
static uint8_t *s_tbuf(drift_qctx_t *q, uint8_t **buf, size_t *cap, const void *src, size_t n)
{
    if (*cap < n || !*buf) {
        size_t c = n * 2 > 256 ? n * 2 : 256;
        uint8_t *b = drift_arena_alloc(q->arena, c);
        if (!b)
            return NULL;
        *buf = b;
        *cap = c;
    }
    if (n)
        memmove(*buf, src, n); /* src may be the buffer itself (a pk returned by the previous get) */
    return *buf;
}

/* Decodes a row of a point read into the table's get buffer. */
static int s_get_decode(s_table_t *t, uint32_t ver, const uint8_t *row, size_t len, drift_value_t *vals)
{
    return s_decode(t, NULL, ver, row, len, vals);
}

int drift_table_get(drift_table_t *tp, const uint8_t *pk, size_t pk_len, drift_trow_t *ret)
{
    s_table_t *t = (s_table_t *)tp;
    drift_qctx_t *q = tp->q;
    if (tp->present && q->txn && drift_txn_note_read(q->txn, tp->id, pk, pk_len) < 0)
        return s_oom(q);
    const uint8_t *row = NULL;
    size_t len = 0;
    uint32_t ver = 0;
    drift_index_ver_t v;
    int rc = s_lookup(t, pk, pk_len, &row, &len, &ver, &v);
    if (rc <= 0)
        return rc;
    /* copies in the table's buffers: valid until the next get on this table (pk may point into the old row) */
    uint8_t *pkc = s_tbuf(q, &t->getpk, &t->getpk_cap, pk, pk_len);
    if (!pkc || !s_tbuf(q, &t->getrow, &t->getrow_cap, row, len))
        return s_oom(q);
    t->getrow_len = len;
    if (s_get_decode(t, ver, t->getrow, t->getrow_len, t->getvals) < 0)
        return -1;
    memset(ret, 0, sizeof *ret);
    ret->pk = pkc;
    ret->pk_len = pk_len;
    ret->vals = t->getvals;
    ret->seq = v.seq;
    ret->ts_ns = v.ts_ns;
    ret->end_seq = DRIFT_INDEX_SEQ_LIVE;
    ret->op = v.op ? v.op : DRIFT_COP_INSERT;
    return 1;
}

/* ------------------------------------------------------------------ scans */

enum { SCAN_TABLE = 0, SCAN_INDEX = 1, SCAN_VERSIONS = 2 };

/* A pending row that falls in an index scan's range. */
typedef struct {
    uint8_t *sortkey; /* vals ‖ pk */
    size_t sortkey_len, vals_len;
    const uint8_t *row;
    size_t row_len;
    uint32_t ver;
    uint8_t *own; /* row copy owned by the scan (rows of an index the snapshot has not built) */
} s_pend_t;

struct drift_tscan {
    s_table_t *t;
    int kind;
    int overlay; /* merge the txn's pending writes */
    drift_index_scan_t *is;
    drift_index_iscan_t *ii;
    drift_index_vscan_t *iv;
    const drift_tidx_t *idx;
    drift_keybuf_t lo, hi;
    /* snapshot lookahead */
    int snap_have, snap_done;
    drift_keybuf_t snap_pk, snap_row, snap_vals;
    drift_index_ver_t snap_v;
    /* overlay (table scans): the last pending key consumed */
    int ov_started, ov_done, ov_have;
    drift_keybuf_t ov_key;
    const uint8_t *ov_row;
    size_t ov_row_len;
    uint32_t ov_ver;
    int ov_state;
    /* overlay (index scans): pending rows in range, sorted */
    s_pend_t *pend;
    size_t npend, ipend;
    /* versions */
    uint64_t from, to;
    int to_incl;
    /* the current row */
    drift_value_t *vals;
    drift_keybuf_t cur_pk, cur_row, tmp;
    uint32_t cur_ver;
    msgpack_zone zone;
    uint64_t steps;
};

void drift_tscan_close(drift_tscan_t **self_p)
{
    drift_tscan_t *s = *self_p;
    if (!s)
        return;
    drift_index_scan_close(&s->is);
    drift_index_iscan_close(&s->ii);
    drift_index_vscan_close(&s->iv);
    drift_keybuf_free(&s->lo);
    drift_keybuf_free(&s->hi);
    drift_keybuf_free(&s->snap_pk);
    drift_keybuf_free(&s->snap_row);
    drift_keybuf_free(&s->snap_vals);
    drift_keybuf_free(&s->ov_key);
    drift_keybuf_free(&s->cur_pk);
    drift_keybuf_free(&s->cur_row);
    drift_keybuf_free(&s->tmp);
    for (size_t i = 0; i < s->npend; i++)
        free(s->pend[i].sortkey), free(s->pend[i].own);
    free(s->pend);
    free(s->vals);
    msgpack_zone_destroy(&s->zone);
    free(s);
    *self_p = NULL;
}

uint64_t drift_tscan_steps(const drift_tscan_t *s)
{
    uint64_t n = s->steps;
    if (s->is)
        n += drift_index_scan_steps(s->is);
    if (s->iv)
        n += drift_index_vscan_steps(s->iv);
    return n;
}

/* A new scan over t with the row buffers. */
static drift_tscan_t *s_scan_new(s_table_t *t, int kind)
{
    drift_tscan_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->t = t;
    s->kind = kind;
    s->vals = calloc(t->pub.ncols ? t->pub.ncols : 1, sizeof *s->vals);
    msgpack_zone_init(&s->zone, 2048);
    if (!s->vals) {
        drift_tscan_close(&s);
        return NULL;
    }
    return s;
}

/* Sets the scan's range copies. */
static void s_scan_range(drift_tscan_t *s, const uint8_t *lo, size_t lo_len, const uint8_t *hi, size_t hi_len)
{
    if (lo)
        drift_keybuf_raw(&s->lo, lo, lo_len);
    if (hi)
        drift_keybuf_raw(&s->hi, hi, hi_len);
}

/* Emits the current row from (pk, row bytes, version). */
static int s_emit(drift_tscan_t *s, const uint8_t *pk, size_t pk_len, const uint8_t *row, size_t row_len, uint32_t ver,
                  const drift_index_ver_t *v, drift_trow_t *ret)
{
    drift_keybuf_reset(&s->cur_pk);
    drift_keybuf_raw(&s->cur_pk, pk, pk_len);
    drift_keybuf_reset(&s->cur_row);
    drift_keybuf_raw(&s->cur_row, row, row_len);
    if (s->cur_pk.oom || s->cur_row.oom)
        return s_oom(s->t->pub.q);
    s->cur_ver = ver;
    if (s_decode(s->t, &s->zone, ver, s->cur_row.buf, s->cur_row.len, s->vals) < 0)
        return -1;
    memset(ret, 0, sizeof *ret);
    ret->pk = s->cur_pk.buf;
    ret->pk_len = s->cur_pk.len;
    ret->vals = s->vals;
    if (v) {
        ret->seq = v->seq;
        ret->ts_ns = v->ts_ns;
        ret->end_seq = v->end_seq;
        ret->op = v->op;
    } else {
        ret->end_seq = DRIFT_INDEX_SEQ_LIVE;
        ret->op = DRIFT_COP_INSERT;
    }
    return 1;
}

int drift_table_scan(drift_table_t *tp, const uint8_t *lo, size_t lo_len, const uint8_t *hi, size_t hi_len,
                     drift_tscan_t **ret)
{
    s_table_t *t = (s_table_t *)tp;
    drift_qctx_t *q = tp->q;
    drift_tscan_t *s = s_scan_new(t, SCAN_TABLE);
    if (!s)
        return s_oom(q);
    s_scan_range(s, lo, lo_len, hi, hi_len);
    s->overlay = tp->present && q->txn;
    if (s->overlay && drift_txn_note_table_read(q->txn, tp->id) < 0) {
        drift_tscan_close(&s);
        return s_oom(q);
    }
    if (q->rd) {
        int rc = drift_index_scan_open(q->rd, tp->id, lo, lo_len, hi, hi_len, tp->as_of, &s->is);
        if (rc < 0) {
            drift_tscan_close(&s);
            return s_ixerr(q, rc, tp->name);
        }
    } else
        s->snap_done = 1;
    *ret = s;
    return 0;
}

/* Fills the snapshot lookahead of a table scan. */
static int s_snap_fill(drift_tscan_t *s)
{
    if (s->snap_have || s->snap_done)
        return 0;
    const uint8_t *pk;
    size_t pk_len;
    int rc = drift_index_scan_next(s->is, &pk, &pk_len, &s->snap_v);
    if (rc < 0)
        return s_ixerr(s->t->pub.q, rc, s->t->pub.name);
    if (rc == 0) {
        s->snap_done = 1;
        return 0;
    }
    drift_keybuf_reset(&s->snap_pk);
    drift_keybuf_raw(&s->snap_pk, pk, pk_len);
    drift_keybuf_reset(&s->snap_row);
    drift_keybuf_raw(&s->snap_row, s->snap_v.row, s->snap_v.row_len);
    if (s->snap_pk.oom || s->snap_row.oom)
        return s_oom(s->t->pub.q);
    s->snap_have = 1;
    return 0;
}

/* Fills the overlay lookahead of a table scan. */
static void s_ov_fill(drift_tscan_t *s)
{
    if (s->ov_have || s->ov_done)
        return;
    const drift_txn_t *txn = s->t->pub.q->txn;
    const uint8_t *key;
    size_t key_len;
    int got;
    if (!s->ov_started)
        got = drift_txn_next_key(txn, s->t->pub.id, s->lo.len ? s->lo.buf : NULL, s->lo.len, 1,
                                 s->hi.len ? s->hi.buf : NULL, s->hi.len, &key, &key_len, &s->ov_state, &s->ov_row,
                                 &s->ov_row_len, &s->ov_ver);
    else
        got = drift_txn_next_key(txn, s->t->pub.id, s->ov_key.buf, s->ov_key.len, 0, s->hi.len ? s->hi.buf : NULL,
                                 s->hi.len, &key, &key_len, &s->ov_state, &s->ov_row, &s->ov_row_len, &s->ov_ver);
    s->ov_started = 1;
    if (!got) {
        s->ov_done = 1;
        return;
    }
    drift_keybuf_reset(&s->ov_key);
    drift_keybuf_raw(&s->ov_key, key, key_len);
    s->ov_have = 1;
}

static int s_bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t m = an < bn ? an : bn;
    int c = m ? memcmp(a, b, m) : 0;
    return c ? c : (an < bn ? -1 : an > bn);
}

/* Next row of a table scan. */
static int s_next_table(drift_tscan_t *s, drift_trow_t *ret)
{
    for (;;) {
        if (s_snap_fill(s) < 0)
            return -1;
        if (s->overlay)
            s_ov_fill(s);
        if (!s->ov_have) {
            if (!s->snap_have)
                return 0;
            s->snap_have = 0;
            return s_emit(s, s->snap_pk.buf, s->snap_pk.len, s->snap_row.buf, s->snap_row.len, s->snap_v.schema_ver,
                          &s->snap_v, ret);
        }
        int c = s->snap_have ? s_bytes_cmp(s->ov_key.buf, s->ov_key.len, s->snap_pk.buf, s->snap_pk.len) : -1;
        if (c > 0) {
            s->snap_have = 0;
            return s_emit(s, s->snap_pk.buf, s->snap_pk.len, s->snap_row.buf, s->snap_row.len, s->snap_v.schema_ver,
                          &s->snap_v, ret);
        }
        if (c == 0)
            s->snap_have = 0; /* the pending state of the key replaces the snapshot's */
        s->ov_have = 0;
        if (s->ov_state == 1)
            return s_emit(s, s->ov_key.buf, s->ov_key.len, s->ov_row, s->ov_row_len, s->ov_ver, NULL, ret);
    }
}

/* ---- index scans */

static int s_pend_cmp(const void *a, const void *b)
{
    const s_pend_t *x = a, *y = b;
    return s_bytes_cmp(x->sortkey, x->sortkey_len, y->sortkey, y->sortkey_len);
}

typedef struct {
    drift_tscan_t *s;
    int rc;
} s_collect_t;

/* drift_txn_foreach_key callback: keeps the pending live rows whose index values are in [lo, hi). */
static int s_collect_pending(const uint8_t *key, size_t key_len, int state, const uint8_t *row, size_t row_len,
                             uint32_t ver, void *arg)
{
    s_collect_t *c = arg;
    drift_tscan_t *s = c->s;
    s_table_t *t = s->t;
    if (state != 1)
        return 0;
    if (s_decode(t, &s->zone, ver, row, row_len, s->vals) < 0) {
        c->rc = -1;
        return 1;
    }
    s_row_ivals(&t->pub, s->idx, s->vals, &s->tmp);
    if (s->tmp.oom)
        goto oom;
    if ((s->lo.len && s_bytes_cmp(s->tmp.buf, s->tmp.len, s->lo.buf, s->lo.len) < 0) ||
        (s->hi.len && s_bytes_cmp(s->tmp.buf, s->tmp.len, s->hi.buf, s->hi.len) >= 0))
        return 0;
    if (s->npend % 64 == 0) {
        s_pend_t *n = realloc(s->pend, (s->npend + 64) * sizeof *n);
        if (!n)
            goto oom;
        s->pend = n;
    }
    s_pend_t *p = &s->pend[s->npend];
    p->own = NULL;
    p->sortkey = malloc(s->tmp.len + key_len);
    if (!p->sortkey)
        goto oom;
    memcpy(p->sortkey, s->tmp.buf, s->tmp.len);
    memcpy(p->sortkey + s->tmp.len, key, key_len);
    p->sortkey_len = s->tmp.len + key_len;
    p->vals_len = s->tmp.len;
    p->row = row;
    p->row_len = row_len;
    p->ver = ver;
    s->npend++;
    return 0;
oom:
    c->rc = s_oom(t->pub.q);
    return 1;
}

/* Whether the LMDB snapshot holds entries for index i: only while the index is part of the table's latest
 * committed definition. Not for an index (or table) the transaction itself created (built when committed),
 * nor for one dropped since as_of (DROP INDEX / DROP TABLE delete the entries: reads as of before the drop
 * scan the table instead). Computed once per opened table. */
static int s_index_built(drift_table_t *tp, const drift_tidx_t *i)
{
    s_table_t *t = (s_table_t *)tp;
    drift_qctx_t *q = tp->q;
    if (!q->rd)
        return 0;
    size_t at = (size_t)(i - tp->idx);
    if (at >= tp->nidx)
        return 0;
    if (!t->built) {
        t->built = drift_arena_alloc(q->arena, tp->nidx);
        if (!t->built)
            return 0;
        drift_index_tdef_t *cd = NULL;
        if (drift_index_table_def(q->rd, tp->id, UINT64_MAX, &cd) == 0) {
            for (uint32_t j = 0; j < tp->nidx; j++)
                for (uint32_t k = 0; k < cd->nidx; k++)
                    if (cd->idx[k].id == tp->idx[j].id)
                        t->built[j] = 1;
            drift_index_tdef_destroy(&cd);
        }
    }
    return t->built[at];
}

/* An index scan over an index the snapshot has not built: every row of the (merged) table whose values are
 * in range, sorted by (values, pk) into the scan's pending list. */
static int s_iscan_unbuilt(drift_tscan_t *s)
{
    drift_table_t *tp = &s->t->pub;
    drift_tscan_t *ts;
    if (drift_table_scan(tp, NULL, 0, NULL, 0, &ts) < 0)
        return -1;
    drift_trow_t r;
    int rc;
    while ((rc = drift_tscan_next(ts, &r)) == 1) {
        s_row_ivals(tp, s->idx, r.vals, &s->tmp);
        if (s->tmp.oom)
            break;
        if ((s->lo.len && s_bytes_cmp(s->tmp.buf, s->tmp.len, s->lo.buf, s->lo.len) < 0) ||
            (s->hi.len && s_bytes_cmp(s->tmp.buf, s->tmp.len, s->hi.buf, s->hi.len) >= 0))
            continue;
        if (s->npend % 64 == 0) {
            s_pend_t *n = realloc(s->pend, (s->npend + 64) * sizeof *n);
            if (!n)
                break;
            s->pend = n;
        }
        s_pend_t *p = &s->pend[s->npend];
        memset(p, 0, sizeof *p);
        p->sortkey = malloc(s->tmp.len + r.pk_len);
        p->own = malloc(ts->cur_row.len ? ts->cur_row.len : 1);
        if (!p->sortkey || !p->own) {
            free(p->sortkey);
            free(p->own);
            break;
        }
        s->npend++;
        memcpy(p->sortkey, s->tmp.buf, s->tmp.len);
        memcpy(p->sortkey + s->tmp.len, r.pk, r.pk_len);
        p->sortkey_len = s->tmp.len + r.pk_len;
        p->vals_len = s->tmp.len;
        memcpy(p->own, ts->cur_row.buf, ts->cur_row.len);
        p->row = p->own;
        p->row_len = ts->cur_row.len;
        p->ver = ts->cur_ver;
    }
    drift_tscan_close(&ts);
    if (rc > 0)
        return s_oom(tp->q);
    if (rc < 0)
        return -1;
    if (s->npend > 1)
        qsort(s->pend, s->npend, sizeof *s->pend, s_pend_cmp);
    s->snap_done = 1;
    return 0;
}

int drift_table_iscan(drift_table_t *tp, const drift_tidx_t *i, const uint8_t *lo, size_t lo_len, const uint8_t *hi,
                      size_t hi_len, drift_tscan_t **ret)
{
    s_table_t *t = (s_table_t *)tp;
    drift_qctx_t *q = tp->q;
    drift_tscan_t *s = s_scan_new(t, SCAN_INDEX);
    if (!s)
        return s_oom(q);
    s->idx = i;
    s_scan_range(s, lo, lo_len, hi, hi_len);
    s->overlay = tp->present && q->txn;
    if (!s_index_built(tp, i)) {
        if (s_iscan_unbuilt(s) < 0) {
            drift_tscan_close(&s);
            return -1;
        }
        *ret = s;
        return 0;
    }
    if (s->overlay) {
        if (drift_txn_note_table_read(q->txn, tp->id) < 0) {
            drift_tscan_close(&s);
            return s_oom(q);
        }
        s_collect_t c = {s, 0};
        drift_txn_foreach_key(q->txn, tp->id, NULL, 0, NULL, 0, s_collect_pending, &c);
        if (c.rc < 0) {
            drift_tscan_close(&s);
            return -1;
        }
        if (s->npend > 1)
            qsort(s->pend, s->npend, sizeof *s->pend, s_pend_cmp);
    }
    if (q->rd) {
        int rc = drift_index_iscan_open(q->rd, i->id, lo, lo_len, hi, hi_len, tp->as_of, &s->ii);
        if (rc < 0) {
            drift_tscan_close(&s);
            return s_ixerr(q, rc, tp->name);
        }
    } else
        s->snap_done = 1;
    *ret = s;
    return 0;
}

/* Fills the snapshot lookahead of an index scan: the next hit whose row (as of as_of, not replaced by a
 * pending write) still has values in range. */
static int s_isnap_fill(drift_tscan_t *s)
{
    s_table_t *t = s->t;
    drift_table_t *p = &t->pub;
    drift_qctx_t *q = p->q;
    while (!s->snap_have && !s->snap_done) {
        const uint8_t *pk, *vals;
        size_t pk_len, vals_len;
        uint64_t from, to;
        int trunc;
        int rc = drift_index_iscan_next(s->ii, &pk, &pk_len, &vals, &vals_len, &from, &to, &trunc);
        s->steps++;
        if (rc < 0)
            return s_ixerr(q, rc, p->name);
        if (rc == 0) {
            s->snap_done = 1;
            return 0;
        }
        if (s->overlay && drift_txn_lookup(q->txn, p->id, pk, pk_len, NULL, NULL, NULL) != 0)
            continue; /* the pending state of this key decides (it is in the pending list when it matches) */
        drift_keybuf_reset(&s->snap_pk);
        drift_keybuf_raw(&s->snap_pk, pk, pk_len);
        if (s->snap_pk.oom)
            return s_oom(q);
        rc = drift_index_get(q->rd, p->id, s->snap_pk.buf, s->snap_pk.len, p->as_of, &s->snap_v);
        s->steps++;
        if (rc == DRIFT_ENOTFOUND)
            continue;
        if (rc < 0)
            return s_ixerr(q, rc, p->name);
        drift_keybuf_reset(&s->snap_row);
        drift_keybuf_raw(&s->snap_row, s->snap_v.row, s->snap_v.row_len);
        if (s->snap_row.oom)
            return s_oom(q);
        /* re-check: the row's values at as_of must be in range (truncated entries, stale intervals) */
        if (s_decode(t, &s->zone, s->snap_v.schema_ver, s->snap_row.buf, s->snap_row.len, s->vals) < 0)
            return -1;
        s_row_ivals(p, s->idx, s->vals, &s->snap_vals);
        if (s->snap_vals.oom)
            return s_oom(q);
        if ((s->lo.len && s_bytes_cmp(s->snap_vals.buf, s->snap_vals.len, s->lo.buf, s->lo.len) < 0) ||
            (s->hi.len && s_bytes_cmp(s->snap_vals.buf, s->snap_vals.len, s->hi.buf, s->hi.len) >= 0))
            continue;
        drift_keybuf_raw(&s->snap_vals, s->snap_pk.buf, s->snap_pk.len); /* sort key: vals ‖ pk */
        if (s->snap_vals.oom)
            return s_oom(q);
        s->snap_have = 1;
    }
    return 0;
}

static int s_next_index(drift_tscan_t *s, drift_trow_t *ret)
{
    if (s_isnap_fill(s) < 0)
        return -1;
    int have_p = s->ipend < s->npend;
    if (!have_p && !s->snap_have)
        return 0;
    if (have_p && (!s->snap_have || s_bytes_cmp(s->pend[s->ipend].sortkey, s->pend[s->ipend].sortkey_len,
                                                s->snap_vals.buf, s->snap_vals.len) <= 0)) {
        s_pend_t *p = &s->pend[s->ipend++];
        return s_emit(s, p->sortkey + p->vals_len, p->sortkey_len - p->vals_len, p->row, p->row_len, p->ver, NULL, ret);
    }
    s->snap_have = 0;
    return s_emit(s, s->snap_pk.buf, s->snap_pk.len, s->snap_row.buf, s->snap_row.len, s->snap_v.schema_ver,
                  &s->snap_v, ret);
}

/* ---- version scans */

/* The last seq a history read of t may show: the statement's snapshot (the LMDB snapshot may hold later
 * commits under REPEATABLE READ), or the point t was opened at when that is later. */
static uint64_t s_read_bound(const drift_table_t *t)
{
    return t->as_of > t->q->snap_seq ? t->as_of : t->q->snap_seq;
}

int drift_table_vscan(drift_table_t *tp, uint64_t from, uint64_t to, int to_inclusive, drift_tscan_t **ret)
{
    return drift_table_vscan_range(tp, NULL, 0, NULL, 0, from, to, to_inclusive, ret);
}

int drift_table_vscan_range(drift_table_t *tp, const uint8_t *lo, size_t lo_len, const uint8_t *hi, size_t hi_len,
                            uint64_t from, uint64_t to, int to_inclusive, drift_tscan_t **ret)
{
    s_table_t *t = (s_table_t *)tp;
    drift_qctx_t *q = tp->q;
    drift_tscan_t *s = s_scan_new(t, SCAN_VERSIONS);
    if (!s)
        return s_oom(q);
    s->from = from;
    s->to = to;
    s->to_incl = to_inclusive;
    if (tp->present && q->txn && drift_txn_note_table_read(q->txn, tp->id) < 0) {
        drift_tscan_close(&s);
        return s_oom(q);
    }
    if (q->rd) {
        int rc = drift_index_vscan_open(q->rd, tp->id, lo, lo ? lo_len : 0, hi, hi ? hi_len : 0, &s->iv);
        if (rc < 0) {
            drift_tscan_close(&s);
            return s_ixerr(q, rc, tp->name);
        }
    } else
        s->snap_done = 1;
    *ret = s;
    return 0;
}

static int s_next_version(drift_tscan_t *s, drift_trow_t *ret)
{
    if (s->snap_done)
        return 0;
    for (;;) {
        const uint8_t *pk;
        size_t pk_len;
        drift_index_ver_t v;
        int rc = drift_index_vscan_next(s->iv, &pk, &pk_len, &v);
        if (rc < 0)
            return s_ixerr(s->t->pub.q, rc, s->t->pub.name);
        if (rc == 0) {
            s->snap_done = 1;
            return 0;
        }
        uint64_t bound = s_read_bound(&s->t->pub);
        if (v.op == DRIFT_COP_DELETE || v.seq > bound)
            continue; /* committed after the statement's snapshot: not part of this read */
        if (v.end_seq != DRIFT_INDEX_SEQ_LIVE && v.end_seq > bound)
            v.end_seq = DRIFT_INDEX_SEQ_LIVE;
        /* lifetime [seq, end) meets [from, to] (to exclusive unless to_incl) */
        if (s->to_incl ? v.seq > s->to : v.seq >= s->to)
            continue;
        if (v.end_seq != DRIFT_INDEX_SEQ_LIVE && v.end_seq <= s->from)
            continue;
        return s_emit(s, pk, pk_len, v.row, v.row_len, v.schema_ver, &v, ret);
    }
}

int drift_tscan_next(drift_tscan_t *s, drift_trow_t *ret)
{
    if (drift_qctx_check(s->t->pub.q) < 0)
        return -1;
    switch (s->kind) {
    case SCAN_TABLE: return s_next_table(s, ret);
    case SCAN_INDEX: return s_next_index(s, ret);
    default: return s_next_version(s, ret);
    }
}

/* ------------------------------------------------------------------ history */

typedef struct {
    s_table_t *t;
    drift_trow_fn fn;
    void *arg;
    const uint8_t *pk;
    size_t pk_len;
    drift_value_t *vals;
    msgpack_zone zone;
    int failed;
} s_hist_t;

static int s_hist_cb(const drift_index_ver_t *v, void *arg)
{
    s_hist_t *h = arg;
    uint64_t as_of = s_read_bound(&h->t->pub);
    if (v->seq > as_of)
        return 0; /* committed after the statement's snapshot */
    drift_trow_t r = {.pk = h->pk,
                      .pk_len = h->pk_len,
                      .seq = v->seq,
                      .ts_ns = v->ts_ns,
                      .end_seq = v->end_seq != DRIFT_INDEX_SEQ_LIVE && v->end_seq > as_of ? DRIFT_INDEX_SEQ_LIVE
                                                                                           : v->end_seq,
                      .op = v->op};
    if (v->op != DRIFT_COP_DELETE) {
        /* copy: the row may live in the log reader's buffer, which fn's reads could reuse */
        uint8_t *row = malloc(v->row_len ? v->row_len : 1);
        if (!row) {
            h->failed = 1;
            s_oom(h->t->pub.q);
            return -1;
        }
        memcpy(row, v->row, v->row_len);
        int rc = s_decode(h->t, &h->zone, v->schema_ver, row, v->row_len, h->vals);
        if (rc < 0) {
            free(row);
            h->failed = 1;
            return -1;
        }
        /* values borrow from row: keep them for the callback, with text copied into the arena */
        for (uint32_t i = 0; i < h->t->pub.ncols; i++)
            if (drift_val_copy(h->t->pub.q->arena, &h->vals[i], &h->vals[i]) < 0) {
                free(row);
                h->failed = 1;
                s_oom(h->t->pub.q);
                return -1;
            }
        free(row);
        r.vals = h->vals;
    }
    return h->fn(&r, h->arg);
}

int drift_table_history(drift_table_t *tp, const uint8_t *pk, size_t pk_len, drift_trow_fn fn, void *arg)
{
    s_table_t *t = (s_table_t *)tp;
    drift_qctx_t *q = tp->q;
    if (!q->rd)
        return 0;
    s_hist_t h = {.t = t, .fn = fn, .arg = arg, .pk = pk, .pk_len = pk_len};
    h.vals = drift_arena_alloc(q->arena, (tp->ncols ? tp->ncols : 1) * sizeof *h.vals);
    if (!h.vals)
        return s_oom(q);
    if (tp->present && q->txn && drift_txn_note_read(q->txn, tp->id, pk, pk_len) < 0)
        return s_oom(q);
    msgpack_zone_init(&h.zone, 1024);
    int rc = drift_index_history(q->rd, tp->id, pk, pk_len, s_hist_cb, &h);
    msgpack_zone_destroy(&h.zone);
    if (h.failed)
        return -1;
    if (rc == DRIFT_ENOTFOUND)
        return 0;
    if (rc < -1)
        return s_ixerr(q, rc, tp->name);
    return rc;
}

/* ------------------------------------------------------------------ estimates and listing */

uint64_t drift_table_estimate_rows(drift_table_t *tp)
{
    s_table_t *t = (s_table_t *)tp;
    drift_qctx_t *q = tp->q;
    if (t->est >= 0)
        return (uint64_t)t->est;
    uint64_t n = 0;
    drift_est_cache_t *c = q->rd ? q->est_cache : NULL;
    uint32_t ci = 0;
    if (c) { /* counted before at this snapshot seq: the same count (the txn's pending keys are added below) */
        uint64_t seq = drift_index_rd_seq(q->rd);
        if (c->index != (const void *)q->index || c->seq != seq) {
            c->index = q->index;
            c->seq = seq;
            c->n = 0;
        }
        while (ci < c->n && c->e[ci].table != tp->id)
            ci++;
    }
    if (c && ci < c->n) {
        n = c->e[ci].rows;
    } else if (q->rd) {
        /* exact up to ESTIMATE_PROBE rows (one bounded walk of `current`); beyond, the live rows of every table
         * divided by the number of tables (LMDB keeps no per-range counts) */
        drift_index_scan_t *is = NULL;
        if (drift_index_scan_open(q->rd, tp->id, NULL, 0, NULL, 0, UINT64_MAX, &is) == 0) {
            const uint8_t *pk;
            size_t pl;
            drift_index_ver_t v;
            while (n < ESTIMATE_PROBE && drift_index_scan_next(is, &pk, &pl, &v) == 1)
                n++;
            tp->est_steps += n;
            drift_index_scan_close(&is);
        }
        if (n >= ESTIMATE_PROBE) {
            uint64_t total = 0, ntables = 0;
            uint32_t maxt = 0;
            drift_index_current_count(q->rd, &total);
            drift_index_max_table_id(q->rd, &maxt); /* table ids are dense: about the number of tables */
            ntables = maxt ? maxt : 1;
            if (total / ntables > n)
                n = total / ntables;
        }
        if (c && c->n < sizeof c->e / sizeof c->e[0])
            c->e[c->n++] = (typeof(c->e[0])){tp->id, n};
    }
    if (tp->present && q->txn)
        n += drift_txn_table_nkeys(q->txn, tp->id, NULL);
    t->est = (int64_t)n;
    return n;
}

typedef struct {
    drift_qctx_t *q;
    struct s_name {
        const char *name;
        uint32_t id;
    } *v;
    size_t n, cap;
    int oom;
} s_names_t;

static int s_names_add(s_names_t *l, const char *name, uint32_t id)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 32;
        struct s_name *nv = realloc(l->v, cap * sizeof *nv);
        if (!nv) {
            l->oom = 1;
            return 1;
        }
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n].name = drift_arena_strndup(l->q->arena, name, strlen(name));
    l->v[l->n].id = id;
    if (!l->v[l->n].name) {
        l->oom = 1;
        return 1;
    }
    l->n++;
    return 0;
}

static int s_names_cb(const char *name, uint32_t id, void *arg)
{
    return s_names_add(arg, name, id);
}

static int s_pending_cb(uint32_t table, const char *name, int dropped, void *arg)
{
    s_names_t *l = arg;
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].id == table)
            l->v[i].id = 0; /* superseded by the transaction's own DDL */
    if (!dropped)
        return s_names_add(l, name, table);
    return 0;
}

static int s_name_cmp(const void *a, const void *b)
{
    const struct s_name *x = a, *y = b;
    return strcmp(x->name, y->name);
}

int drift_table_list(drift_qctx_t *q, uint64_t as_of, int (*fn)(const char *name, uint32_t id, void *arg), void *arg)
{
    s_names_t l = {.q = q};
    int rc = 0;
    if (q->rd) {
        rc = drift_index_table_names(q->rd, as_of, s_names_cb, &l);
        if (rc < 0 && !l.oom) {
            free(l.v);
            return s_ixerr(q, rc, "catalog");
        }
    }
    if (!l.oom && as_of == q->snap_seq && q->txn)
        drift_txn_foreach_pending_table(q->txn, s_pending_cb, &l);
    if (l.oom) {
        free(l.v);
        return s_oom(q);
    }
    if (l.n > 1)
        qsort(l.v, l.n, sizeof *l.v, s_name_cmp);
    rc = 0;
    for (size_t i = 0; i < l.n && rc == 0; i++)
        if (l.v[i].id)
            rc = fn(l.v[i].name, l.v[i].id, arg);
    free(l.v);
    return rc;
}

/* ------------------------------------------------------------------ writes */

/* A generated _rowid: increasing per worker, unique across workers (worker id in the low 6 bits). */
static int64_t s_rowid_next(uint32_t worker, int64_t now_ns)
{
    static __thread int64_t last;
    int64_t base = now_ns & ~(int64_t)63;
    if (base < last + 64)
        base = last + 64;
    last = base;
    return base + (int64_t)(worker & 63);
}

static int s_require_present(drift_table_t *t)
{
    if (!t->present || !t->q->txn)
        return drift_sqlerr_set(t->q->err, "25006", 0, "table %s is read as of @seq:%" PRIu64 ": it cannot be written",
                                t->name, t->as_of);
    return 0;
}

/* Coerces vals into out (t->ncols) and checks NOT NULL; fills a NULL _rowid. */
static int s_prepare(drift_table_t *t, const drift_value_t *vals, drift_value_t *out)
{
    s_table_t *st = (s_table_t *)t;
    drift_qctx_t *q = t->q;
    for (uint32_t i = 0; i < t->ncols; i++) {
        const drift_tcol_t *c = &t->cols[i];
        if ((int)i == st->rowid_col && vals[i].type == DRIFT_VAL_NULL) {
            int64_t now = q->now_ns;
            if (!now) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
            }
            out[i] = drift_val_int(s_rowid_next(q->worker_id, now));
            continue;
        }
        if (drift_val_coerce(q->arena, c->type, &vals[i], &out[i], c->name, q->err) < 0)
            return -1;
        if (out[i].type == DRIFT_VAL_NULL && (c->not_null || c->in_pk))
            return drift_sqlerr_set(q->err, "23502", 0,
                                    "null value in column \"%s\" of relation \"%s\" violates not-null constraint",
                                    c->name, t->name);
    }
    return 0;
}

/* The encoded pk of coerced values. */
static int s_pk_of(drift_table_t *t, const drift_value_t *cv, drift_keybuf_t *kb)
{
    drift_keybuf_reset(kb);
    for (uint32_t i = 0; i < t->npk; i++)
        drift_val_keyenc(kb, t->cols[t->pk[i]].type, &cv[t->pk[i]]);
    if (kb->oom)
        return s_oom(t->q);
    if (kb->len > DRIFT_INDEX_PK_MAX)
        return drift_sqlerr_set(t->q->err, "54000", 0, "primary key of %s is %zu bytes long (the limit is %u)", t->name,
                                kb->len, DRIFT_INDEX_PK_MAX);
    return 0;
}

/* Whether pk is live in the present view (pending state first, then the snapshot). 1/0/-1. */
static int s_live(drift_table_t *t, const uint8_t *pk, size_t pk_len)
{
    drift_qctx_t *q = t->q;
    int st = drift_txn_lookup(q->txn, t->id, pk, pk_len, NULL, NULL, NULL);
    if (st)
        return st == 1;
    if (!q->rd)
        return 0;
    drift_index_ver_t v;
    int rc = drift_index_get(q->rd, t->id, pk, pk_len, t->as_of, &v);
    if (rc == DRIFT_ENOTFOUND)
        return 0;
    if (rc < 0)
        return s_ixerr(q, rc, t->name);
    return 1;
}

typedef struct {
    s_table_t *t;
    const drift_tidx_t *x;
    const uint8_t *vals, *pk;
    size_t vals_len, pk_len;
    drift_value_t *tmp;
    drift_keybuf_t kb;
    int conflict, rc;
} s_uniq_t;

/* Whether the pending row of pk (live) still holds u->vals in index u->x. 1 yes, 0 no, -1 error. */
static int s_pending_holds(s_uniq_t *u, const uint8_t *pk, size_t pk_len, int *ret_state)
{
    drift_qctx_t *q = u->t->pub.q;
    const uint8_t *row;
    size_t len;
    uint32_t ver;
    int st = drift_txn_lookup(q->txn, u->t->pub.id, pk, pk_len, &row, &len, &ver);
    *ret_state = st;
    if (st != 1)
        return 0;
    int rc = s_decode(u->t, NULL, ver, row, len, u->tmp);
    if (rc == 0) {
        s_row_ivals(&u->t->pub, u->x, u->tmp, &u->kb);
        rc = u->kb.oom ? s_oom(q) : (u->kb.len == u->vals_len && memcmp(u->kb.buf, u->vals, u->vals_len) == 0);
    }
    return rc;
}

static int s_uniq_cb(const uint8_t *pk, size_t pk_len, void *arg)
{
    s_uniq_t *u = arg;
    if (pk_len == u->pk_len && memcmp(pk, u->pk, pk_len) == 0)
        return 0;
    int st;
    int rc = s_pending_holds(u, pk, pk_len, &st);
    if (rc < 0) {
        u->rc = -1;
        return 1;
    }
    if (rc == 1) {
        u->conflict = 1;
        return 1;
    }
    return 0;
}

/* UNIQUE checks of coerced values cv for pk against the snapshot and the pending writes. */
static int s_unique(drift_table_t *tp, const drift_value_t *cv, const uint8_t *pk, size_t pk_len)
{
    s_table_t *t = (s_table_t *)tp;
    drift_qctx_t *q = tp->q;
    for (uint32_t i = 0; i < tp->nidx; i++) {
        const drift_tidx_t *x = &tp->idx[i];
        if (!x->unique)
            continue;
        int has_null = 0;
        for (uint32_t j = 0; j < x->ncols; j++)
            has_null |= cv[x->cols[j]].type == DRIFT_VAL_NULL;
        if (has_null)
            continue; /* NULLs are never equal */
        s_uniq_t u = {.t = t, .x = x, .pk = pk, .pk_len = pk_len};
        drift_keybuf_t vals = {0};
        s_row_ivals(tp, x, cv, &vals);
        u.tmp = drift_arena_alloc(q->arena, tp->ncols * sizeof *u.tmp);
        if (vals.oom || !u.tmp) {
            drift_keybuf_free(&vals);
            return s_oom(q);
        }
        u.vals = vals.buf;
        u.vals_len = vals.len;
        int rc = 0;
        if (q->rd) {
            const uint8_t *hpk;
            size_t hlen;
            rc = drift_index_unique_holder(q->rd, x->id, vals.buf, vals.len, pk, pk_len, &hpk, &hlen);
            if (rc < 0)
                rc = s_ixerr(q, rc, tp->name);
            else if (rc == 1) {
                uint8_t *h = drift_arena_memdup(q->arena, hpk, hlen);
                int st;
                rc = h ? s_pending_holds(&u, h, hlen, &st) : s_oom(q);
                if (rc >= 0 && (st == 0 || rc == 1))
                    u.conflict = 1; /* not touched by the transaction, or still holding the values */
                if (rc > 0)
                    rc = 0;
            }
        }
        if (rc == 0 && !u.conflict) {
            drift_txn_uidx_foreach(q->txn, x->id, vals.buf, vals.len, s_uniq_cb, &u);
            rc = u.rc;
        }
        drift_keybuf_free(&vals);
        drift_keybuf_free(&u.kb);
        if (rc < 0)
            return -1;
        if (u.conflict)
            return drift_sqlerr_set(q->err, "23505", 0, "duplicate key value violates unique constraint \"%s\"",
                                    x->name);
    }
    return 0;
}

/* Records the unique-index entries of a written row. */
static int s_uniq_note(drift_table_t *t, const drift_value_t *cv, const uint8_t *pk, size_t pk_len)
{
    drift_keybuf_t kb = {0};
    int rc = 0;
    for (uint32_t i = 0; i < t->nidx && rc == 0; i++) {
        if (!t->idx[i].unique)
            continue;
        s_row_ivals(t, &t->idx[i], cv, &kb);
        rc = kb.oom ? -ENOMEM : drift_txn_uidx_add(t->q->txn, t->idx[i].id, kb.buf, kb.len, pk, pk_len);
    }
    drift_keybuf_free(&kb);
    return rc < 0 ? s_oom(t->q) : 0;
}

/* msgpack write callback into the table's pack buffer. */
static int s_pack_write(void *data, const char *buf, size_t len)
{
    s_table_t *t = data;
    if (t->pack_len + len > t->pack_cap) {
        size_t cap = t->pack_cap ? t->pack_cap : 256;
        while (cap < t->pack_len + len)
            cap *= 2;
        uint8_t *p = drift_arena_alloc(t->pub.q->arena, cap);
        if (!p) {
            t->pack_oom = 1;
            return -1;
        }
        if (t->pack_len)
            memcpy(p, t->packbuf, t->pack_len);
        t->packbuf = p;
        t->pack_cap = cap;
    }
    memcpy(t->packbuf + t->pack_len, buf, len);
    t->pack_len += len;
    return 0;
}

/* Packs coerced values as a row array of the current schema version into t->packbuf. */
static int s_pack_row(drift_table_t *tp, const drift_value_t *cv)
{
    s_table_t *t = (s_table_t *)tp;
    t->pack_len = 0;
    t->pack_oom = 0;
    msgpack_packer pk;
    msgpack_packer_init(&pk, t, s_pack_write);
    msgpack_pack_array(&pk, tp->ncols);
    for (uint32_t i = 0; i < tp->ncols; i++)
        drift_val_pack(&pk, &cv[i]);
    return t->pack_oom ? s_oom(tp->q) : 0;
}

/* Inserts coerced values (pk checked here). */
static int s_insert_prepared(drift_table_t *t, drift_value_t *cv)
{
    s_table_t *st = (s_table_t *)t;
    drift_qctx_t *q = t->q;
    drift_keybuf_t kb = {0};
    int rc = -1;
    for (int attempt = 0;; attempt++) {
        if (s_pk_of(t, cv, &kb) < 0)
            goto out;
        int live = s_live(t, kb.buf, kb.len);
        if (live < 0)
            goto out;
        if (!live)
            break;
        if (st->rowid_col >= 0 && attempt < 8) { /* a generated rowid met an existing one: take the next */
            cv[st->rowid_col] = drift_val_int(s_rowid_next(q->worker_id, cv[st->rowid_col].u.i + 64));
            continue;
        }
        drift_sqlerr_set(q->err, "23505", 0, "duplicate key value violates unique constraint \"%s_pkey\"", t->name);
        goto out;
    }
    if (s_unique(t, cv, kb.buf, kb.len) < 0)
        goto out;
    if (s_pack_row(t, cv) < 0)
        goto out;
    s_table_t *tt = (s_table_t *)t;
    int prc = drift_txn_put_row(q->txn, DRIFT_COP_INSERT, t->id, kb.buf, kb.len, tt->packbuf, tt->pack_len,
                                t->schema_ver, NULL, 0);
    if (prc < 0 || s_uniq_note(t, cv, kb.buf, kb.len) < 0) {
        s_oom(q);
        goto out;
    }
    rc = 0;
out:
    drift_keybuf_free(&kb);
    return rc;
}

int drift_table_insert(drift_table_t *t, const drift_value_t *vals)
{
    if (s_require_present(t) < 0)
        return -1;
    drift_value_t *cv = drift_arena_alloc(t->q->arena, (t->ncols ? t->ncols : 1) * sizeof *cv);
    if (!cv)
        return s_oom(t->q);
    if (s_prepare(t, vals, cv) < 0)
        return -1;
    return s_insert_prepared(t, cv);
}

/* Replaces the live row pk (old values known to be live) with coerced values cv: op update (or patch with
 * patch_mp, the frame's patch map). A changed pk is a delete plus an insert. */
static int s_replace(drift_table_t *t, const uint8_t *old_pk, size_t old_len, drift_value_t *cv, drift_cop_t op,
                     const void *patch_mp, size_t patch_len)
{
    drift_qctx_t *q = t->q;
    drift_keybuf_t kb = {0};
    int rc = -1;
    if (s_pk_of(t, cv, &kb) < 0)
        goto out;
    if (kb.len != old_len || memcmp(kb.buf, old_pk, old_len) != 0) {
        /* delete + insert; undone when the insert fails (the old row's own unique values must not count
         * against the new one, so the delete goes first) */
        static const char sp[] = "\001pk-move";
        if (drift_txn_savepoint(q->txn, sp) < 0 ||
            drift_txn_put_row(q->txn, DRIFT_COP_DELETE, t->id, old_pk, old_len, NULL, 0, t->schema_ver, NULL, 0) < 0) {
            s_oom(q);
            goto out;
        }
        rc = s_insert_prepared(t, cv);
        if (rc < 0 && drift_txn_rollback_to(q->txn, sp) < 0)
            s_oom(q);
        drift_txn_release(q->txn, sp);
        goto out;
    }
    if (s_unique(t, cv, kb.buf, kb.len) < 0)
        goto out;
    if (s_pack_row(t, cv) < 0)
        goto out;
    s_table_t *tt = (s_table_t *)t;
    int prc = op == DRIFT_COP_PATCH
                  ? drift_txn_put_row(q->txn, op, t->id, kb.buf, kb.len, patch_mp, patch_len, t->schema_ver,
                                      tt->packbuf, tt->pack_len)
                  : drift_txn_put_row(q->txn, op, t->id, kb.buf, kb.len, tt->packbuf, tt->pack_len, t->schema_ver,
                                      NULL, 0);
    if (prc < 0 || s_uniq_note(t, cv, kb.buf, kb.len) < 0) {
        s_oom(q);
        goto out;
    }
    rc = 0;
out:
    drift_keybuf_free(&kb);
    return rc;
}

int drift_table_update(drift_table_t *t, const drift_trow_t *old, const drift_value_t *vals)
{
    if (s_require_present(t) < 0)
        return -1;
    drift_value_t *cv = drift_arena_alloc(t->q->arena, (t->ncols ? t->ncols : 1) * sizeof *cv);
    if (!cv)
        return s_oom(t->q);
    s_table_t *st = (s_table_t *)t;
    drift_value_t *in = (drift_value_t *)vals;
    if (st->rowid_col >= 0 && vals[st->rowid_col].type == DRIFT_VAL_NULL && old->vals) {
        /* keep the row's generated id */
        in = drift_arena_memdup(t->q->arena, vals, t->ncols * sizeof *vals);
        if (!in)
            return s_oom(t->q);
        in[st->rowid_col] = old->vals[st->rowid_col];
    }
    if (s_prepare(t, in, cv) < 0)
        return -1;
    uint8_t *opk = drift_arena_memdup(t->q->arena, old->pk, old->pk_len);
    if (!opk)
        return s_oom(t->q);
    return s_replace(t, opk, old->pk_len, cv, DRIFT_COP_UPDATE, NULL, 0);
}

int drift_table_delete(drift_table_t *t, const uint8_t *pk, size_t pk_len)
{
    if (s_require_present(t) < 0)
        return -1;
    int live = s_live(t, pk, pk_len);
    if (live <= 0)
        return live;
    if (drift_txn_put_row(t->q->txn, DRIFT_COP_DELETE, t->id, pk, pk_len, NULL, 0, t->schema_ver, NULL, 0) < 0)
        return s_oom(t->q);
    return 1;
}

/* Deletes the live row with encoded pk (a copy is taken: pk may point into a scan's buffer). */
static int s_replace_victim(drift_table_t *t, const uint8_t *pk, size_t pk_len, int64_t *deleted)
{
    uint8_t *k = drift_arena_memdup(t->q->arena, pk, pk_len);
    if (!k)
        return s_oom(t->q);
    int d = drift_table_delete(t, k, pk_len);
    if (d > 0)
        (*deleted)++;
    return d < 0 ? -1 : 0;
}

int drift_table_replace(drift_table_t *t, const drift_value_t *vals, int64_t *ret_deleted)
{
    s_table_t *st = (s_table_t *)t;
    drift_qctx_t *q = t->q;
    drift_keybuf_t kb = {0}, lo = {0}, hi = {0};
    int64_t deleted = 0;
    int rc = -1;
    if (s_require_present(t) < 0)
        return -1;
    drift_value_t *cv = drift_arena_alloc(q->arena, (t->ncols ? t->ncols : 1) * sizeof *cv);
    if (!cv)
        return s_oom(q);
    if (s_prepare(t, vals, cv) < 0)
        goto out;
    /* the row holding the same primary key (a generated _rowid never conflicts) */
    if (st->rowid_col < 0) {
        if (s_pk_of(t, cv, &kb) < 0 || s_replace_victim(t, kb.buf, kb.len, &deleted) < 0)
            goto out;
    }
    /* the rows holding the new row's values in a unique index (NULLs are never equal) */
    for (uint32_t i = 0; i < t->nidx; i++) {
        const drift_tidx_t *x = &t->idx[i];
        int has_null = 0;
        for (uint32_t j = 0; j < x->ncols; j++)
            has_null |= cv[x->cols[j]].type == DRIFT_VAL_NULL;
        if (!x->unique || has_null)
            continue;
        static const uint8_t ff = 0xFF;
        drift_keybuf_reset(&lo);
        s_row_ivals(t, x, cv, &lo);
        drift_keybuf_reset(&hi);
        drift_keybuf_raw(&hi, lo.buf, lo.len);
        drift_keybuf_raw(&hi, &ff, 1);
        if (lo.oom || hi.oom) {
            s_oom(q);
            goto out;
        }
        drift_tscan_t *sc = NULL;
        if (drift_table_iscan(t, x, lo.buf, lo.len, hi.buf, hi.len, &sc) < 0)
            goto out;
        /* collect first (a delete while the scan is open would change what it reads) */
        uint8_t **pks = NULL;
        size_t *lens = NULL, n = 0, cap = 0;
        drift_trow_t row;
        int r;
        while ((r = drift_tscan_next(sc, &row)) == 1) {
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 4;
                uint8_t **np = drift_arena_alloc(q->arena, nc * sizeof *np);
                size_t *nl = drift_arena_alloc(q->arena, nc * sizeof *nl);
                if (!np || !nl) {
                    r = s_oom(q);
                    break;
                }
                if (n) {
                    memcpy(np, pks, n * sizeof *np);
                    memcpy(nl, lens, n * sizeof *nl);
                }
                pks = np;
                lens = nl;
                cap = nc;
            }
            if (!(pks[n] = drift_arena_memdup(q->arena, row.pk, row.pk_len))) {
                r = s_oom(q);
                break;
            }
            lens[n++] = row.pk_len;
        }
        drift_tscan_close(&sc);
        if (r < 0)
            goto out;
        for (size_t k = 0; k < n; k++)
            if (s_replace_victim(t, pks[k], lens[k], &deleted) < 0)
                goto out;
    }
    rc = s_insert_prepared(t, cv);
out:
    drift_keybuf_free(&kb);
    drift_keybuf_free(&lo);
    drift_keybuf_free(&hi);
    if (rc == 0 && ret_deleted)
        *ret_deleted = deleted;
    return rc;
}

/* ------------------------------------------------------------------ DriftQL documents */

/* Parses a JSON object text into an unpacked MessagePack map (u must be destroyed, sb too). */
static int s_doc_parse(drift_qctx_t *q, const char *json, size_t len, const char *what, msgpack_sbuffer *sb,
                       msgpack_unpacked *u)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    char err[160];
    size_t at = 0;
    int rc = drift_json_to_msgpack(json, len, &pk, err, sizeof err, &at);
    if (rc == -ENOMEM)
        return s_oom(q);
    if (rc < 0)
        return drift_sqlerr_set(q->err, "22P02", 0, "invalid JSON %s at byte %zu: %s", what, at, err);
    if (msgpack_unpack_next(u, sb->data, sb->size, NULL) != MSGPACK_UNPACK_SUCCESS)
        return drift_sqlerr_set(q->err, "22P02", 0, "invalid JSON %s", what);
    if (u->data.type != MSGPACK_OBJECT_MAP)
        return drift_sqlerr_set(q->err, "22023", 0, "a DriftQL %s must be a JSON object", what);
    return 0;
}

/* The value of field name in map m, or NULL. */
static const msgpack_object *s_field(const msgpack_object *m, const char *name)
{
    size_t n = strlen(name);
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && memcmp(k->via.str.ptr, name, n) == 0)
            return &m->via.map.ptr[i].val;
    }
    return NULL;
}

/* JSON text of o as a JSON value in the arena (NULL value for nil or absent). */
static int s_json_val(drift_qctx_t *q, const msgpack_object *o, drift_value_t *out)
{
    if (!o || o->type == MSGPACK_OBJECT_NIL) {
        *out = drift_val_null();
        return 0;
    }
    drift_strbuf_t b = {0};
    int rc = drift_json_from_msgpack(o, &b);
    if (rc < 0 || b.oom) {
        drift_strbuf_free(&b);
        return s_oom(q);
    }
    char *p = drift_arena_memdup(q->arena, b.p ? b.p : "", b.len);
    size_t n = b.len;
    drift_strbuf_free(&b);
    if (!p)
        return s_oom(q);
    *out = drift_val_json(p, n);
    return 0;
}

/* Fills the document columns of vals (t->ncols) from the document map m (other columns: defaults). */
static int s_doc_vals(drift_table_t *t, const msgpack_object *m, drift_value_t *vals)
{
    for (uint32_t i = 0; i < t->ncols; i++) {
        const char *f = t->doc_fields[i];
        if ((int)i == t->doc_col) {
            if (s_json_val(t->q, m, &vals[i]) < 0)
                return -1;
        } else if (f) {
            if (s_json_val(t->q, s_field(m, f), &vals[i]) < 0)
                return -1;
        } else
            vals[i] = t->cols[i].has_default ? t->cols[i].default_val : drift_val_null();
    }
    return 0;
}

static int s_require_doc(drift_table_t *t)
{
    if (!t->driftql)
        return drift_sqlerr_set(t->q->err, "42809", 0,
                                "%s is not a DriftQL document table (CREATE TABLE %s (pk=field, ...))", t->name,
                                t->name);
    return 0;
}

int drift_table_insert_doc(drift_table_t *t, const char *json, size_t json_len)
{
    if (s_require_doc(t) < 0 || s_require_present(t) < 0)
        return -1;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    int rc = s_doc_parse(t->q, json, json_len, "document", &sb, &u);
    drift_value_t *vals = NULL;
    if (rc == 0) {
        const msgpack_object *k = s_field(&u.data, t->doc_fields[t->doc_key_col]);
        if (!k || k->type == MSGPACK_OBJECT_NIL)
            rc = drift_sqlerr_set(t->q->err, "23502", 0, "document has no \"%s\" field (the key of table %s)",
                                  t->doc_fields[t->doc_key_col], t->name);
        else if (k->type == MSGPACK_OBJECT_MAP || k->type == MSGPACK_OBJECT_ARRAY)
            rc = drift_sqlerr_set(t->q->err, "22023", 0, "the key field \"%s\" must be a JSON scalar",
                                  t->doc_fields[t->doc_key_col]);
    }
    if (rc == 0 && !(vals = drift_arena_alloc(t->q->arena, t->ncols * sizeof *vals)))
        rc = s_oom(t->q);
    if (rc == 0)
        rc = s_doc_vals(t, &u.data, vals);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    if (rc < 0)
        return -1;
    return drift_table_insert(t, vals);
}

int drift_table_patch_doc(drift_table_t *t, const uint8_t *pk, size_t pk_len, const char *json, size_t json_len)
{
    if (s_require_doc(t) < 0 || s_require_present(t) < 0)
        return -1;
    drift_qctx_t *q = t->q;
    drift_trow_t old;
    int rc = drift_table_get(t, pk, pk_len, &old);
    if (rc <= 0)
        return rc;
    drift_value_t *ov = drift_arena_memdup(q->arena, old.vals, t->ncols * sizeof *ov);
    uint8_t *opk = drift_arena_memdup(q->arena, pk, pk_len);
    if (!ov || !opk)
        return s_oom(q);
    const drift_value_t *dv = &ov[t->doc_col];
    msgpack_sbuffer sbo, sbp, sbm;
    msgpack_sbuffer_init(&sbo);
    msgpack_sbuffer_init(&sbp);
    msgpack_sbuffer_init(&sbm);
    msgpack_unpacked uo, up;
    msgpack_unpacked_init(&uo);
    msgpack_unpacked_init(&up);
    drift_value_t *nv = NULL;
    rc = s_doc_parse(q, json, json_len, "patch", &sbp, &up);
    if (rc == 0) {
        if (dv->type == DRIFT_VAL_JSON || dv->type == DRIFT_VAL_TEXT)
            rc = s_doc_parse(q, dv->u.s.p, dv->u.s.n, "stored document", &sbo, &uo);
        else
            rc = drift_sqlerr_set(q->err, "XX001", 0, "the stored document of %s is missing", t->name);
    }
    const char *kf = t->doc_fields[t->doc_key_col];
    if (rc == 0) {
        const msgpack_object *nk = s_field(&up.data, kf);
        if (nk) {
            drift_value_t kv;
            if ((rc = s_json_val(q, nk, &kv)) == 0 && (ov[t->doc_key_col].type != DRIFT_VAL_JSON ||
                                                        kv.type != DRIFT_VAL_JSON || kv.u.s.n != ov[t->doc_key_col].u.s.n ||
                                                        memcmp(kv.u.s.p, ov[t->doc_key_col].u.s.p, kv.u.s.n) != 0))
                rc = drift_sqlerr_set(q->err, "22023", 0, "PATCH cannot change the key field \"%s\"", kf);
        }
    }
    if (rc == 0) {
        /* shallow merge: the old fields in their order (replaced where the patch has them), then new ones */
        const msgpack_object *o = &uo.data, *p = &up.data;
        msgpack_packer mp;
        msgpack_packer_init(&mp, &sbm, msgpack_sbuffer_write);
        uint32_t n = o->via.map.size;
        for (uint32_t i = 0; i < p->via.map.size; i++) {
            const msgpack_object *k = &p->via.map.ptr[i].key;
            int found = 0;
            for (uint32_t j = 0; j < o->via.map.size && !found; j++)
                found = msgpack_object_equal(*k, o->via.map.ptr[j].key);
            n += !found;
        }
        msgpack_pack_map(&mp, n);
        for (uint32_t j = 0; j < o->via.map.size; j++) {
            const msgpack_object *v = &o->via.map.ptr[j].val;
            for (uint32_t i = 0; i < p->via.map.size; i++)
                if (msgpack_object_equal(p->via.map.ptr[i].key, o->via.map.ptr[j].key))
                    v = &p->via.map.ptr[i].val;
            msgpack_pack_object(&mp, o->via.map.ptr[j].key);
            msgpack_pack_object(&mp, *v);
        }
        for (uint32_t i = 0; i < p->via.map.size; i++) {
            int found = 0;
            for (uint32_t j = 0; j < o->via.map.size && !found; j++)
                found = msgpack_object_equal(p->via.map.ptr[i].key, o->via.map.ptr[j].key);
            if (!found) {
                msgpack_pack_object(&mp, p->via.map.ptr[i].key);
                msgpack_pack_object(&mp, p->via.map.ptr[i].val);
            }
        }
        msgpack_unpacked um;
        msgpack_unpacked_init(&um);
        if (msgpack_unpack_next(&um, sbm.data, sbm.size, NULL) != MSGPACK_UNPACK_SUCCESS)
            rc = s_oom(q);
        else if (!(nv = drift_arena_alloc(q->arena, t->ncols * sizeof *nv)))
            rc = s_oom(q);
        else {
            for (uint32_t i = 0; i < t->ncols; i++)
                nv[i] = ov[i];
            for (uint32_t i = 0; rc == 0 && i < t->ncols; i++) {
                if ((int)i == t->doc_col)
                    rc = s_json_val(q, &um.data, &nv[i]);
                else if (t->doc_fields[i] && (int)i != t->doc_key_col)
                    rc = s_json_val(q, s_field(&um.data, t->doc_fields[i]), &nv[i]);
            }
        }
        msgpack_unpacked_destroy(&um);
    }
    msgpack_unpacked_destroy(&uo);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sbo);
    msgpack_sbuffer_destroy(&sbp);
    msgpack_sbuffer_destroy(&sbm);
    if (rc < 0)
        return -1;
    /* the frame's patch: {column id: value} of the columns that changed */
    drift_value_t *cv = drift_arena_alloc(q->arena, t->ncols * sizeof *cv);
    if (!cv)
        return s_oom(q);
    if (s_prepare(t, nv, cv) < 0)
        return -1;
    uint32_t nchanged = 0;
    for (uint32_t i = 0; i < t->ncols; i++)
        if (drift_val_cmp(&cv[i], &ov[i]) != 0 || cv[i].type != ov[i].type)
            nchanged++;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer mpk;
    msgpack_packer_init(&mpk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&mpk, nchanged);
    for (uint32_t i = 0; i < t->ncols; i++)
        if (drift_val_cmp(&cv[i], &ov[i]) != 0 || cv[i].type != ov[i].type) {
            msgpack_pack_uint32(&mpk, t->cols[i].id);
            drift_val_pack(&mpk, &cv[i]);
        }
    rc = s_replace(t, opk, pk_len, cv, DRIFT_COP_PATCH, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return rc < 0 ? -1 : 1;
}
