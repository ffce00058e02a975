/* shm/index.c — see index.h; byte layouts in docs/indexes.md.
 *
 * The writer half (begin/apply/commit) runs in exactly one process; it keeps
 * a small cache of parsed table definitions that is dropped whenever a batch
 * is aborted. The reader half only opens LMDB read transactions. */
#include "shm/index.h"
#include "shm/stats.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <lz4.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/util.h"
#include "ipc/commit.h"
#include "ipc/msg.h"

/* versions / current value layout */
#define ST_NONE 0
#define ST_LOG 1
#define ST_INLINE 2
#define CUR_HDR 24  /* seq(8) ts(8) op(1) pad(3) schema_ver(4) */
/* versions chunk (format 4): n(1) ‖ widths(1) ‖ ts0(8) ‖ varint schema0 ‖ directory ‖ n record bodies,
 * seqs ascending (oldest first). Record 0's seq is the chunk's first, in its key table|pk|~first_seq.
 * widths: bits 0-2 ws - 1, bit 3 wo - 1. Directory, for records 1..n-1: their seq deltas from the first seq
 * (ws bytes each, big-endian, ascending), then the offsets of their bodies from the first body (wo bytes
 * each); record i's body ends where record i + 1's starts (the last: at the end of the value). A reader
 * finds the record visible at a seq with a bisection over the fixed-width deltas and jumps to its body.
 * The widths are the smallest that hold the values (a function of the versions only).
 * Body: flags(1): op (bits 0-2) | storage << 3 (bits 3-4) | REC_F_SCHEMA (bit 5)
 *   schema_ver: varint, only with REC_F_SCHEMA (it differs from schema0; record 0's is schema0)
 *   ts: i > 0: zigzag varint(ts_i - ts0) (record 0's is ts0)
 *   storage 2 (inline row): varint a, varint b, then the rest of the body, m bytes: the row is
 *     base[0, a) ‖ those m bytes ‖ base[len - b, len), base = the chunk's first inline row (stored whole:
 *     a = b = 0), so a reader rebuilds any version with one copy, and none when a = b = 0;
 *   storage 1 (row in the log): varint segment, offset, row_off, row_len;  storage 0 (delete): nothing.
 * Varints are LEB128 (7 bits a byte, low first). Appending a version rewrites the chunk with one more
 * directory entry and record; the bodies already there do not change; the encoding depends only on the
 * chunk's versions, so batches and a rebuild give the same bytes. */
#define REC_OP_MASK 7
#define REC_ST_SHIFT 3
#define REC_F_SCHEMA 0x20
#define IDXV_LEN 11 /* seq_to(8) flags(1) vals_len(2) */
#define IDXF_TRUNC 1
#define LMDB_KEY_MAX 511
/* A scan steps over at most this many entries (cheap, same page mostly) before it re-seeks from the root. */
#define SCAN_STEPS 16
#define CAT_TABLE 'T'
#define CAT_VER 'V'
#define CAT_NAME 'N'

/* A cached definition: (table, version) -> parsed def; latest marks the newest known. */
typedef struct {
    uint32_t table, version;
    int latest;
    int dropped; /* latest only: the table was dropped */
    drift_index_tdef_t *def;
} s_cached_t;

struct drift_index {
    MDB_env *env;
    MDB_dbi db_catalog, db_current, db_versions, db_idx, db_time, db_meta;
    int readonly;
    uint64_t map_size;
    drift_logr_t *logr;
    MDB_txn *wtxn;
    /* write cursors of the open batch (opened on first use; LMDB frees them when the batch ends): a
     * positioned cursor checks its current leaf before searching from the root, so the ops of a commit
     * that touch neighbouring keys skip most descents */
    MDB_cursor *wc_current, *wc_versions, *wc_idx;
    uint64_t applied_seq, applied_ts;     /* in the open batch */
    uint64_t committed_seq, committed_ts; /* at the start of the open batch */
    uint64_t skipped;
    uint64_t ops; /* ops of the frames given to drift_index_apply (drift_index_ops) */
    s_cached_t *cache;
    size_t ncache, capcache;
    uint8_t *zbuf; /* decompressed body */
    size_t zcap;
    uint64_t zseg, zoff; /* which frame zbuf holds (0 = none) */
    drift_keybuf_t k1, k2, rowbuf, oldrow, vals_old, vals_new, build, chunk;
    drift_keybuf_t base; /* a chunk's rows rebuilt (writer side: appends, index builds) */
    drift_keybuf_t iq;   /* queued secondary-index writes of the open batch (s_iq_add) */
    uint32_t iq_n;
    size_t iq_cap;
    struct s_iq_ent *iq_ent;
    uint64_t *mi_keys; /* catalog_max_ids: (table << 32 | version) -> highest index id of that definition */
    uint32_t *mi_vals; /* (open addressing; a definition never changes once written) */
    size_t mi_n, mi_cap;
    char err[512];
};

struct drift_index_rd {
    drift_index_t *ix;
    MDB_txn *txn;
    uint64_t seq;
    MDB_cursor *c_versions, *c_idx;
    drift_keybuf_t k;
    drift_keybuf_t row; /* the row of the last drift_index_get, rebuilt from its chunk */
    uint8_t pkey[4 + DRIFT_INDEX_PK_MAX + 8]; /* a point read's key: table|pk, then ~seq for versions */
};

struct drift_index_scan {
    drift_index_rd_t *rd;
    MDB_cursor *c;
    int use_current, started, done;
    uint32_t table;
    uint64_t as_of, steps;
    drift_keybuf_t lo, hi, seek;
    drift_keybuf_t row; /* the row returned last (as of an older seq: rebuilt from its chunk) */
};

struct drift_index_iscan {
    drift_index_rd_t *rd;
    MDB_cursor *c;
    int started;
    uint32_t index_id;
    uint64_t as_of;
    drift_keybuf_t lo, hi;
};

/* ------------------------------------------------------------------ bytes */

/* Big-endian stores and loads (one byte swap and one unaligned access each). */
static inline void s_be32(uint8_t *p, uint32_t v)
{
    v = htobe32(v);
    memcpy(p, &v, 4);
}
static inline void s_be64(uint8_t *p, uint64_t v)
{
    v = htobe64(v);
    memcpy(p, &v, 8);
}
static inline uint32_t s_get_be32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return be32toh(v);
}
static inline uint64_t s_get_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return be64toh(v);
}
static void s_kb_u32(drift_keybuf_t *kb, uint32_t v)
{
    uint8_t b[4];
    s_be32(b, v);
    drift_keybuf_raw(kb, b, 4);
}
static void s_kb_u64(drift_keybuf_t *kb, uint64_t v)
{
    uint8_t b[8];
    s_be64(b, v);
    drift_keybuf_raw(kb, b, 8);
}

/* Maps an LMDB return code to ours, remembering a message. */
static int s_mdb(drift_index_t *ix, int rc, const char *what)
{
    if (rc == 0)
        return 0;
    if (rc == MDB_NOTFOUND)
        return DRIFT_ENOTFOUND;
    if (ix)
        snprintf(ix->err, sizeof ix->err, "%s: %s", what, mdb_strerror(rc));
    if (rc == MDB_MAP_FULL)
        return DRIFT_EFULL;
    if (rc == MDB_TXN_FULL)
        return DRIFT_ETOOBIG; /* too many dirty pages in one transaction: smaller batches */
    if (rc > 0)
        return -rc;
    if (rc == MDB_VERSION_MISMATCH || rc == MDB_INVALID)
        return DRIFT_EVERSION;
    return DRIFT_ECORRUPT;
}

/* The batch's write cursor on db in *slot, opened on first use. */
static int s_wcur(drift_index_t *ix, MDB_dbi db, MDB_cursor **slot)
{
    if (*slot)
        return 0;
    int rc = s_mdb(ix, mdb_cursor_open(ix->wtxn, db, slot), "cursor");
    if (rc < 0)
        *slot = NULL;
    return rc;
}

/* Forgets the batch's write cursors (the transaction that owned them ended). */
static void s_wend(drift_index_t *ix)
{
    ix->wtxn = NULL;
    ix->wc_current = ix->wc_versions = ix->wc_idx = NULL;
}

/* -------------------------------------------------- raw MessagePack walk */

/* Pointer after the object at p (bounded by end), or NULL when it runs past end / is malformed.
 * The walk is ipc/msg's bounded validator (the same one every message passed at the gateway
 * and the writer), so the index reads rows by exactly the rules they were accepted under. */
static const uint8_t *s_mp_skip(const uint8_t *p, const uint8_t *end)
{
    size_t used;
    if (p >= end || drift_msg_skip(p, (size_t)(end - p), &used) < 0)
        return NULL;
    return p + used;
}

/* Pointer after the object at p, like s_mp_skip: the scalars whose size is in their header byte(s) are
 * stepped over directly (bounded by end: the same structural check the walk makes), anything else
 * (containers, ext, long str/bin) goes through s_mp_skip. */
static inline const uint8_t *s_mp_next(const uint8_t *p, const uint8_t *end)
{
    if (p >= end)
        return NULL;
    uint8_t b = p[0];
    size_t n;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        n = 1;
    else if ((b & 0xe0) == 0xa0)
        n = 1 + (size_t)(b & 0x1f);
    else if ((b == 0xc4 || b == 0xd9) && end - p >= 2)
        n = 2 + (size_t)p[1];
    else if (b == 0xcc || b == 0xd0)
        n = 2;
    else if (b == 0xcd || b == 0xd1)
        n = 3;
    else if (b == 0xce || b == 0xd2 || b == 0xca)
        n = 5;
    else if (b == 0xcf || b == 0xd3 || b == 0xcb)
        n = 9;
    else
        return s_mp_skip(p, end);
    return (size_t)(end - p) >= n ? p + n : NULL;
}

/* Pointer after the object at p (bounded by end), like s_mp_skip, for bytes the walk (s_mp_skip) has already
 * accepted: containers are stepped into by counting their items instead of being walked again (the walk's
 * depth and size limits held already), everything else goes through s_mp_next. */
static const uint8_t *s_mp_wskip(const uint8_t *p, const uint8_t *end)
{
    uint64_t left = 1;
    while (left && p) {
        left--;
        if (p >= end)
            return NULL;
        uint8_t b = *p;
        if ((b & 0xf0) == 0x90 || (b & 0xf0) == 0x80) { /* fixarray, fixmap */
            left += (uint64_t)(b & 0x0f) << ((b & 0xf0) == 0x80);
            p += 1;
        } else if (b >= 0xdc && b <= 0xdf) { /* array16/32, map16/32 */
            size_t w = b & 1 ? 4 : 2;
            if ((size_t)(end - p) < 1 + w)
                return NULL;
            uint64_t n = w == 4 ? s_get_be32(p + 1) : (uint64_t)(p[1] << 8 | p[2]);
            left += b >= 0xde ? 2 * n : n;
            p += 1 + w;
        } else
            p = s_mp_next(p, end);
    }
    return p;
}

/* Decodes the scalar at p..end into *o (str/bin point into the buffer). Returns 0 or -1 (containers,
 * ext, malformed). */
static int s_mp_scalar(const uint8_t *p, const uint8_t *end, msgpack_object *o)
{
    const uint8_t *next = s_mp_next(p, end);
    if (!next)
        return -1;
    uint8_t b = p[0];
    memset(o, 0, sizeof *o);
    if (b <= 0x7f) {
        o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o->via.u64 = b;
    } else if (b >= 0xe0) {
        o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
        o->via.i64 = (int8_t)b;
    } else if ((b & 0xe0) == 0xa0 || b == 0xd9 || b == 0xda || b == 0xdb || b == 0xc4 || b == 0xc5 || b == 0xc6) {
        size_t hl = (b & 0xe0) == 0xa0 ? 1 : (b == 0xd9 || b == 0xc4) ? 2 : (b == 0xda || b == 0xc5) ? 3 : 5;
        int bin = b == 0xc4 || b == 0xc5 || b == 0xc6;
        o->type = bin ? MSGPACK_OBJECT_BIN : MSGPACK_OBJECT_STR;
        o->via.str.ptr = (const char *)p + hl;
        o->via.str.size = (uint32_t)(next - p - (ptrdiff_t)hl);
    } else
        switch (b) {
        case 0xc0: o->type = MSGPACK_OBJECT_NIL; break;
        case 0xc2:
        case 0xc3:
            o->type = MSGPACK_OBJECT_BOOLEAN;
            o->via.boolean = b == 0xc3;
            break;
        case 0xcc:
            o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
            o->via.u64 = p[1];
            break;
        case 0xcd:
            o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
            o->via.u64 = (uint64_t)p[1] << 8 | p[2];
            break;
        case 0xce:
            o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
            o->via.u64 = s_get_be32(p + 1);
            break;
        case 0xcf:
            o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
            o->via.u64 = s_get_be64(p + 1);
            break;
        case 0xd0: o->via.i64 = (int8_t)p[1]; goto neg;
        case 0xd1: o->via.i64 = (int16_t)((uint16_t)p[1] << 8 | p[2]); goto neg;
        case 0xd2: o->via.i64 = (int32_t)s_get_be32(p + 1); goto neg;
        case 0xd3: o->via.i64 = (int64_t)s_get_be64(p + 1); goto neg;
        case 0xca: {
            uint32_t u = s_get_be32(p + 1);
            float f;
            memcpy(&f, &u, 4);
            o->type = MSGPACK_OBJECT_FLOAT64;
            o->via.f64 = f;
            break;
        }
        case 0xcb: {
            uint64_t u = s_get_be64(p + 1);
            o->type = MSGPACK_OBJECT_FLOAT64;
            memcpy(&o->via.f64, &u, 8);
            break;
        }
        default:
            return -1;
        neg:
            o->type = o->via.i64 < 0 ? MSGPACK_OBJECT_NEGATIVE_INTEGER : MSGPACK_OBJECT_POSITIVE_INTEGER;
            break;
        }
    return 0;
}

/* Whether the msgpack str at p equals s. */
static int s_mp_streq(const uint8_t *p, const uint8_t *end, const char *s)
{
    msgpack_object o;
    return s_mp_scalar(p, end, &o) == 0 && o.type == MSGPACK_OBJECT_STR && o.via.str.size == strlen(s) &&
           memcmp(o.via.str.ptr, s, o.via.str.size) == 0;
}

/* Whether the msgpack str p..q (one object) equals s (length sl): a fixstr is compared in place. */
static inline int s_mp_keyeq(const uint8_t *p, const uint8_t *q, const char *s, size_t sl)
{
    if (sl < 32 && (p[0] & 0xe0) == 0xa0)
        return (size_t)(q - p) == 1 + sl && p[0] == (uint8_t)(0xa0 | sl) && memcmp(p + 1, s, sl) == 0;
    return s_mp_streq(p, q, s);
}

/* Appends an array header of n entries. */
static void s_mp_put_array(drift_keybuf_t *kb, uint32_t n)
{
    uint8_t b[5];
    if (n < 16) {
        b[0] = (uint8_t)(0x90 | n);
        drift_keybuf_raw(kb, b, 1);
    } else if (n < 65536) {
        b[0] = 0xdc;
        b[1] = (uint8_t)(n >> 8);
        b[2] = (uint8_t)n;
        drift_keybuf_raw(kb, b, 3);
    } else {
        b[0] = 0xdd;
        s_be32(b + 1, n);
        drift_keybuf_raw(kb, b, 5);
    }
}

/* Finds the elements of a row array: sets el[i]/ellen[i] for i < min(n, cap); returns n or -1. */
static long s_row_elems(const uint8_t *row, size_t len, const uint8_t **el, size_t *ellen, size_t cap)
{
    const uint8_t *p = row, *end = row + len;
    uint32_t n;
    if (drift_msg_container(&p, end, 0, &n) < 0)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *q = s_mp_next(p, end);
        if (!q)
            return -1;
        if (i < cap) {
            el[i] = p;
            ellen[i] = (size_t)(q - p);
        }
        p = q;
    }
    return p == end ? (long)n : -1;
}

/* ------------------------------------------------------------ table defs */

static int s_obj_str(const msgpack_object *o, char *buf, size_t cap)
{
    if (!o || o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0 || o->via.str.size >= cap)
        return -1;
    memcpy(buf, o->via.str.ptr, o->via.str.size);
    buf[o->via.str.size] = 0;
    return 0;
}

static int s_obj_u32(const msgpack_object *o, uint32_t *ret)
{
    if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > UINT32_MAX)
        return -1;
    *ret = (uint32_t)o->via.u64;
    return 0;
}

static int s_obj_bool(const msgpack_object *o)
{
    return o && o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean;
}

/* Reads a list of column ids (max 16). */
static int s_obj_ids(const msgpack_object *o, uint32_t *ids, uint32_t *ret_n)
{
    if (!o || o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size == 0 || o->via.array.size > 16)
        return -1;
    for (uint32_t i = 0; i < o->via.array.size; i++)
        if (s_obj_u32(&o->via.array.ptr[i], &ids[i]) < 0)
            return -1;
    *ret_n = o->via.array.size;
    return 0;
}

void drift_index_tdef_destroy(drift_index_tdef_t **self_p)
{
    drift_index_tdef_t *d = *self_p;
    if (!d)
        return;
    free(d->cols);
    free(d->idx);
    free(d);
    *self_p = NULL;
}

int drift_index_tdef_colpos(const drift_index_tdef_t *d, uint32_t col_id)
{
    for (uint32_t i = 0; i < d->ncols; i++)
        if (d->cols[i].id == col_id)
            return (int)i;
    return -1;
}

int drift_index_tdef_parse(const void *mp, size_t len, uint32_t table, drift_index_tdef_t **ret, char *err,
                           size_t errcap)
{
    drift_msg_limits_t lim = drift_msg_limits(len + 1);
    drift_msg_t *msg = NULL;
    drift_index_tdef_t *d = NULL;
    int rc = drift_msg_decode(mp, len, &lim, &msg, err, errcap);
    if (rc < 0)
        goto out;
    rc = DRIFT_EPROTO;
    const msgpack_object *root = drift_msg_root(msg);
    if (root->type != MSGPACK_OBJECT_MAP) {
        snprintf(err, errcap, "table definition is not a map");
        goto out;
    }
    d = calloc(1, sizeof *d);
    if (!d) {
        rc = -ENOMEM;
        goto out;
    }
    d->table = table;
    const msgpack_object *cols = drift_msg_map_get(root, "columns");
    if (s_obj_str(drift_msg_map_get(root, "name"), d->name, sizeof d->name) < 0 ||
        s_obj_u32(drift_msg_map_get(root, "version"), &d->version) < 0 || d->version == 0) {
        snprintf(err, errcap, "table definition needs \"name\" and \"version\" >= 1");
        goto out;
    }
    if (!cols || cols->type != MSGPACK_OBJECT_ARRAY || cols->via.array.size == 0 ||
        cols->via.array.size > DRIFT_INDEX_MAX_COLS) {
        snprintf(err, errcap, "table definition needs 1..%u \"columns\"", DRIFT_INDEX_MAX_COLS);
        goto out;
    }
    d->ncols = cols->via.array.size;
    if (!(d->cols = calloc(d->ncols, sizeof *d->cols))) {
        rc = -ENOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < d->ncols; i++) {
        const msgpack_object *c = &cols->via.array.ptr[i];
        char tname[32];
        drift_index_col_t *col = &d->cols[i];
        if (c->type != MSGPACK_OBJECT_MAP || s_obj_u32(drift_msg_map_get(c, "id"), &col->id) < 0 ||
            s_obj_str(drift_msg_map_get(c, "name"), col->name, sizeof col->name) < 0 ||
            s_obj_str(drift_msg_map_get(c, "type"), tname, sizeof tname) < 0) {
            snprintf(err, errcap, "column %u needs \"id\", \"name\" and \"type\"", i);
            goto out;
        }
        int t = drift_coltype_parse(tname, strlen(tname));
        if (t < 0) {
            snprintf(err, errcap, "column %s: unknown type %s", col->name, tname);
            goto out;
        }
        col->type = (drift_coltype_t)t;
        col->not_null = s_obj_bool(drift_msg_map_get(c, "not_null"));
        col->unique = s_obj_bool(drift_msg_map_get(c, "unique"));
        for (uint32_t j = 0; j < i; j++)
            if (d->cols[j].id == col->id) {
                snprintf(err, errcap, "column id %u appears twice", col->id);
                goto out;
            }
    }
    if (s_obj_ids(drift_msg_map_get(root, "pk"), d->pk, &d->npk) < 0) {
        snprintf(err, errcap, "table definition needs \"pk\": 1..16 column ids");
        goto out;
    }
    for (uint32_t i = 0; i < d->npk; i++)
        if (drift_index_tdef_colpos(d, d->pk[i]) < 0) {
            snprintf(err, errcap, "pk column id %u is not a column", d->pk[i]);
            goto out;
        }
    const msgpack_object *idx = drift_msg_map_get(root, "indexes");
    if (idx && idx->type != MSGPACK_OBJECT_NIL) {
        if (idx->type != MSGPACK_OBJECT_ARRAY || idx->via.array.size > 256) {
            snprintf(err, errcap, "\"indexes\" must be an array of at most 256");
            goto out;
        }
        d->nidx = idx->via.array.size;
        if (d->nidx && !(d->idx = calloc(d->nidx, sizeof *d->idx))) {
            rc = -ENOMEM;
            goto out;
        }
        for (uint32_t i = 0; i < d->nidx; i++) {
            const msgpack_object *x = &idx->via.array.ptr[i];
            drift_index_idxdef_t *id = &d->idx[i];
            if (x->type != MSGPACK_OBJECT_MAP || s_obj_u32(drift_msg_map_get(x, "id"), &id->id) < 0 || id->id == 0 ||
                s_obj_str(drift_msg_map_get(x, "name"), id->name, sizeof id->name) < 0 ||
                s_obj_ids(drift_msg_map_get(x, "columns"), id->cols, &id->ncols) < 0) {
                snprintf(err, errcap, "index %u needs \"id\" >= 1, \"name\" and \"columns\"", i);
                goto out;
            }
            id->unique = s_obj_bool(drift_msg_map_get(x, "unique"));
            for (uint32_t j = 0; j < id->ncols; j++)
                if (drift_index_tdef_colpos(d, id->cols[j]) < 0) {
                    snprintf(err, errcap, "index %s: column id %u is not a column", id->name, id->cols[j]);
                    goto out;
                }
        }
    }
    rc = 0;
out:
    drift_msg_destroy(&msg);
    if (rc < 0)
        drift_index_tdef_destroy(&d);
    *ret = d;
    return rc;
}

/* ------------------------------------------------------------ environment */

const char *drift_index_error(const drift_index_t *self)
{
    return self->err;
}

uint64_t drift_index_skipped(const drift_index_t *self)
{
    return self->skipped;
}

uint64_t drift_index_ops(const drift_index_t *self)
{
    return self->ops;
}

/* Drops every cached definition. */
static void s_cache_clear(drift_index_t *ix)
{
    for (size_t i = 0; i < ix->ncache; i++)
        drift_index_tdef_destroy(&ix->cache[i].def);
    ix->ncache = 0;
}

/* Reads the meta record in txn. */
static int s_meta_read(drift_index_t *ix, MDB_txn *txn, uint64_t *ret_seq, uint64_t *ret_ts, uint32_t *ret_format)
{
    MDB_val k = {7, "applied"}, v;
    int rc = mdb_get(txn, ix->db_meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        *ret_seq = *ret_ts = 0;
        *ret_format = DRIFT_INDEX_FORMAT;
        return 0;
    }
    if (rc)
        return s_mdb(ix, rc, "meta");
    if (v.mv_size != 20) {
        snprintf(ix->err, sizeof ix->err, "meta record has %zu bytes, expected 20", v.mv_size);
        return DRIFT_ECORRUPT;
    }
    *ret_seq = s_get_be64(v.mv_data);
    *ret_ts = s_get_be64((const uint8_t *)v.mv_data + 8);
    *ret_format = s_get_be32((const uint8_t *)v.mv_data + 16);
    return 0;
}

int drift_index_open(const char *index_dir, const char *log_dir, const drift_ctl_header_t *hdr,
                     const drift_index_opts_t *opts, drift_index_t **ret)
{
    drift_index_opts_t def = {0};
    if (!opts)
        opts = &def;
    drift_index_t *ix = calloc(1, sizeof *ix);
    MDB_txn *txn = NULL;
    int rc;
    if (!ix)
        return -ENOMEM;
    ix->readonly = opts->readonly;
    ix->map_size = opts->map_size ? opts->map_size : (16ull << 30);
    if (!ix->readonly && (rc = drift_mkdir_p(index_dir)) < 0)
        goto out;
    if (ix->readonly) {
        char path[4200];
        struct stat st;
        snprintf(path, sizeof path, "%s/data.mdb", index_dir);
        if (stat(path, &st) < 0) {
            rc = errno == ENOENT ? DRIFT_ENOTFOUND : -errno;
            goto out;
        }
    }
    if ((rc = s_mdb(ix, mdb_env_create(&ix->env), "mdb_env_create")) < 0)
        goto out;
    mdb_env_set_maxdbs(ix->env, 8);
    mdb_env_set_maxreaders(ix->env, 1022);
    if ((rc = s_mdb(ix, mdb_env_set_mapsize(ix->env, ix->map_size), "mdb_env_set_mapsize")) < 0)
        goto out;
    unsigned flags = MDB_NOTLS | MDB_NORDAHEAD;
    if (ix->readonly)
        flags |= MDB_RDONLY;
    else
        flags |= opts->sync == 1 ? 0u : opts->sync == 2 ? MDB_NOSYNC : MDB_NOMETASYNC;
    if ((rc = s_mdb(ix, mdb_env_open(ix->env, index_dir, flags, 0644), index_dir)) < 0)
        goto out;
    if ((rc = s_mdb(ix, mdb_txn_begin(ix->env, NULL, ix->readonly ? MDB_RDONLY : 0, &txn), "mdb_txn_begin")) < 0)
        goto out;
    unsigned dflags = ix->readonly ? 0u : MDB_CREATE;
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {{"catalog", &ix->db_catalog}, {"current", &ix->db_current}, {"versions", &ix->db_versions},
               {"idx", &ix->db_idx},         {"time", &ix->db_time},       {"meta", &ix->db_meta}};
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
        rc = mdb_dbi_open(txn, dbs[i].name, dflags, dbs[i].dbi);
        if (rc == MDB_NOTFOUND) {
            rc = DRIFT_ENOTFOUND;
            snprintf(ix->err, sizeof ix->err, "%s: no sub-database %s yet", index_dir, dbs[i].name);
            goto out;
        }
        if ((rc = s_mdb(ix, rc, dbs[i].name)) < 0)
            goto out;
    }
    uint32_t format;
    if ((rc = s_meta_read(ix, txn, &ix->applied_seq, &ix->applied_ts, &format)) < 0)
        goto out;
    if (format != DRIFT_INDEX_FORMAT) {
        snprintf(ix->err, sizeof ix->err, "%s: index format %u, this build uses %u (rebuild it)", index_dir, format,
                 DRIFT_INDEX_FORMAT);
        rc = DRIFT_EVERSION;
        goto out;
    }
    rc = s_mdb(ix, mdb_txn_commit(txn), "mdb_txn_commit");
    txn = NULL;
    if (rc < 0)
        goto out;
    if (log_dir && (rc = drift_logr_open(log_dir, hdr, &ix->logr)) < 0)
        goto out;
out:
    if (txn)
        mdb_txn_abort(txn);
    if (rc < 0) {
        DLOG_DEBUG("index open %s: %s %s", index_dir, drift_strerror(rc), ix->err);
        drift_index_close(&ix);
    }
    *ret = ix;
    return rc;
}

void drift_index_close(drift_index_t **self_p)
{
    drift_index_t *ix = *self_p;
    if (!ix)
        return;
    drift_index_abort(ix);
    if (ix->env)
        mdb_env_close(ix->env);
    drift_logr_close(&ix->logr);
    s_cache_clear(ix);
    free(ix->cache);
    free(ix->mi_keys);
    free(ix->mi_vals);
    free(ix->zbuf);
    drift_keybuf_free(&ix->k1);
    drift_keybuf_free(&ix->k2);
    drift_keybuf_free(&ix->rowbuf);
    drift_keybuf_free(&ix->vals_old);
    drift_keybuf_free(&ix->vals_new);
    drift_keybuf_free(&ix->oldrow);
    drift_keybuf_free(&ix->build);
    drift_keybuf_free(&ix->chunk);
    drift_keybuf_free(&ix->base);
    drift_keybuf_free(&ix->iq);
    free(ix->iq_ent);
    free(ix);
    *self_p = NULL;
}

/* A read transaction; adopts a map the writer grew meanwhile (MDB_MAP_RESIZED). */
static int s_rdtxn(drift_index_t *ix, MDB_txn **ret)
{
    *ret = NULL;
    int rc = mdb_txn_begin(ix->env, NULL, MDB_RDONLY, ret);
    if (rc == MDB_MAP_RESIZED) {
        mdb_env_set_mapsize(ix->env, 0);
        rc = mdb_txn_begin(ix->env, NULL, MDB_RDONLY, ret);
    }
    if (rc)
        *ret = NULL;
    return s_mdb(ix, rc, "mdb_txn_begin");
}

int drift_index_applied(drift_index_t *self, uint64_t *ret_seq, uint64_t *ret_ts)
{
    if (self->wtxn || !self->readonly) {
        *ret_seq = self->applied_seq;
        if (ret_ts)
            *ret_ts = self->applied_ts;
        return 0;
    }
    MDB_txn *txn;
    uint32_t format;
    uint64_t ts;
    int rc = s_rdtxn(self, &txn);
    if (rc < 0)
        return rc;
    rc = s_meta_read(self, txn, ret_seq, &ts, &format);
    if (ret_ts)
        *ret_ts = ts;
    mdb_txn_abort(txn);
    return rc;
}

int drift_index_sync(drift_index_t *self)
{
    return s_mdb(self, mdb_env_sync(self->env, 1), "mdb_env_sync");
}

int drift_index_grow(drift_index_t *self)
{
    if (self->wtxn)
        return -EBUSY;
    self->map_size *= 2;
    return s_mdb(self, mdb_env_set_mapsize(self->env, self->map_size), "mdb_env_set_mapsize");
}

/* -------------------------------------------------------- fetching rows */

/* The (decompressed) body of frame f at (seg, off); *ret borrowed until the next fetch. */
static int s_frame_body(drift_index_t *ix, const drift_frame_t *f, uint64_t seg, uint64_t off, const uint8_t **ret,
                        size_t *ret_len)
{
    if (f->flags & DRIFT_FRAME_F_SEALED) {
        snprintf(ix->err, sizeof ix->err, "frame %" PRIu64 " is sealed (the index needs plaintext bodies)", f->seq);
        return DRIFT_EVERSION;
    }
    if (!(f->flags & DRIFT_FRAME_F_LZ4)) {
        *ret = f->body;
        *ret_len = f->body_len;
        return 0;
    }
    if (!(ix->zseg == seg && ix->zoff == off && seg)) {
        if (f->raw_len > ix->zcap) {
            uint8_t *b = realloc(ix->zbuf, f->raw_len);
            if (!b)
                return -ENOMEM;
            ix->zbuf = b;
            ix->zcap = f->raw_len;
        }
        ix->zseg = 0;
        int n = LZ4_decompress_safe((const char *)f->body, (char *)ix->zbuf, (int)f->body_len, (int)f->raw_len);
        if (n < 0 || (uint32_t)n != f->raw_len) {
            snprintf(ix->err, sizeof ix->err, "frame %" PRIu64 ": LZ4 body does not decompress", f->seq);
            return DRIFT_ECORRUPT;
        }
        ix->zseg = seg;
        ix->zoff = off;
    }
    *ret = ix->zbuf;
    *ret_len = f->raw_len;
    return 0;
}

/* ---------------------------------------------------------- version chunks */

/* Appends v as an unsigned LEB128 varint. */
static void s_kb_var(drift_keybuf_t *kb, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    drift_keybuf_raw(kb, b, n);
}

/* Reads a varint at *p (< end) into *ret and advances *p; -1 when truncated or longer than 10 bytes. */
static int s_var_slow(const uint8_t **p, const uint8_t *end, uint64_t *ret)
{
    uint64_t v = 0;
    for (unsigned sh = 0; sh < 70 && *p < end; sh += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << sh;
        if (!(b & 0x80)) {
            *ret = v;
            return 0;
        }
    }
    return -1;
}

/* s_var_slow with varints of up to 3 bytes (the usual seq and ts deltas, lengths) decoded inline. */
static inline int s_var(const uint8_t **pp, const uint8_t *end, uint64_t *ret)
{
    const uint8_t *p = *pp;
    if (end - p >= 3) {
        if (p[0] < 0x80) {
            *ret = p[0];
            *pp = p + 1;
            return 0;
        }
        if (p[1] < 0x80) {
            *ret = (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
            *pp = p + 2;
            return 0;
        }
        if (p[2] < 0x80) {
            *ret = (uint64_t)(p[0] & 0x7f) | (uint64_t)(p[1] & 0x7f) << 7 | (uint64_t)p[2] << 14;
            *pp = p + 3;
            return 0;
        }
    }
    return s_var_slow(pp, end, ret);
}

/* Makes room for n bytes in kb->buf (kb->len unchanged). */
static int s_kb_reserve(drift_keybuf_t *kb, size_t n)
{
    if (kb->cap >= n)
        return 0;
    size_t cap = kb->cap ? kb->cap : 64;
    while (cap < n)
        cap *= 2;
    uint8_t *b = realloc(kb->buf, cap);
    if (!b) {
        kb->oom = 1;
        return -ENOMEM;
    }
    kb->buf = b;
    kb->cap = cap;
    return 0;
}

/* A chunk decoder: walks the records of one versions value oldest first (format 4, layout at the top of
 * the file). s_cit_skip() steps to the next record by the directory alone; s_cit_decode() reads the body
 * of the record stepped over last; its row is rebuilt only on demand (s_cit_row). */
typedef struct {
    const uint8_t *end, *recs;  /* the end of the value, the first record's body */
    const uint8_t *dseq, *doff; /* the directory: seq deltas (ws bytes) and body offsets (wo bytes) */
    unsigned ws, wo;
    size_t bl;           /* bytes of the bodies */
    uint32_t n, i;       /* records in the chunk, records stepped over */
    uint64_t first, ts0; /* the chunk's first seq (from its key) and first ts */
    uint32_t schema0;    /* the chunk's first schema version */
    uint64_t seq;        /* of the record stepped over last */
    const uint8_t *body; /* its body */
    size_t body_len;
    /* s_cit_decode(): */
    uint64_t ts;
    uint32_t schema_ver;
    int op, storage;
    uint64_t seg, off, roff, rlen; /* storage 1 */
    const uint8_t *mid;             /* storage 2: row = base[0, ra) ‖ mid[0, rm) ‖ base[base_len - rb, base_len) */
    size_t ra, rb, rm;
    const uint8_t *base; /* the chunk's base row (its first inline row), found on demand */
    size_t base_len;
    drift_keybuf_t *row; /* where s_cit_ver rebuilds a row (NULL: rows are not wanted) */
} s_cit_t;

/* A w-byte big-endian unsigned at p (w 1..8). */
static inline uint64_t s_get_bew(const uint8_t *p, unsigned w)
{
    switch (w) {
    case 1:
        return p[0];
    case 2:
        return (uint64_t)p[0] << 8 | p[1];
    case 3:
        return (uint64_t)p[0] << 16 | (uint64_t)p[1] << 8 | p[2];
    default: {
        uint64_t v = 0;
        for (unsigned j = 0; j < w; j++)
            v = v << 8 | p[j];
        return v;
    }
    }
}

/* A directory entry of ws bytes at p: with fast (8 bytes readable at p) one unaligned load and a shift. */
static inline uint64_t s_dload(const uint8_t *p, unsigned ws, unsigned sh, int fast)
{
    if (fast) {
        uint64_t x;
        memcpy(&x, p, 8);
        return be64toh(x) >> sh;
    }
    return s_get_bew(p, ws);
}

/* Seq delta (from the first) of record i (1..n-1), from the directory. */
static inline uint64_t s_cit_dseq(const s_cit_t *c, uint32_t i)
{
    return s_get_bew(c->dseq + (size_t)(i - 1) * c->ws, c->ws);
}

/* Offset of record i's body (0..n; n: the end of the bodies). */
static inline size_t s_cit_doff(const s_cit_t *c, uint32_t i)
{
    if (i == 0)
        return 0;
    if (i >= c->n)
        return c->bl;
    return (size_t)s_get_bew(c->doff + (size_t)(i - 1) * c->wo, c->wo);
}

/* Starts decoding the chunk value v whose key is table|pk|~first (the last 8 bytes of k). */
static int s_cit_init(s_cit_t *c, const MDB_val *k, const MDB_val *v, drift_keybuf_t *row)
{
    c->i = 0; /* (no memset: the fields below, and the decoder's when it decodes) */
    c->seq = 0;
    c->body = NULL;
    c->body_len = 0;
    c->base = NULL;
    c->base_len = 0;
    c->row = row;
    if (k->mv_size < 8 || v->mv_size < 11)
        return DRIFT_ECORRUPT;
    c->first = ~s_get_be64((const uint8_t *)k->mv_data + k->mv_size - 8);
    const uint8_t *p = v->mv_data;
    c->end = p + v->mv_size;
    c->n = p[0];
    if (c->n == 0 || c->n > DRIFT_INDEX_CHUNK_VERS || (p[1] & ~0xf))
        return DRIFT_ECORRUPT;
    c->ws = (p[1] & 7) + 1u;
    c->wo = (p[1] >> 3) + 1u;
    c->ts0 = s_get_be64(p + 2);
    p += 10;
    uint64_t sv;
    if (s_var(&p, c->end, &sv) < 0 || sv > UINT32_MAX)
        return DRIFT_ECORRUPT;
    c->schema0 = (uint32_t)sv;
    size_t dir = (size_t)(c->n - 1) * (c->ws + c->wo);
    if (dir >= (size_t)(c->end - p))
        return DRIFT_ECORRUPT;
    c->dseq = p;
    c->doff = p + (size_t)(c->n - 1) * c->ws;
    c->recs = p + dir;
    c->bl = (size_t)(c->end - c->recs);
    return 0;
}

/* Seq of record i (< n) into *ret: 0 or DRIFT_ECORRUPT (seqs not ascending). */
static int s_cit_seqat(const s_cit_t *c, uint32_t i, uint64_t *ret)
{
    if (i == 0) {
        *ret = c->first;
        return 0;
    }
    uint64_t d = s_cit_dseq(c, i);
    if (d == 0 || c->first + d < c->first || (i > 1 && d <= s_cit_dseq(c, i - 1)))
        return DRIFT_ECORRUPT;
    *ret = c->first + d;
    return 0;
}

/* Seq of the next record into *ret: 1, 0 when every record was stepped over, DRIFT_ECORRUPT. */
static int s_cit_peek(const s_cit_t *c, uint64_t *ret)
{
    if (c->i >= c->n)
        return 0;
    return s_cit_seqat(c, c->i, ret) < 0 ? DRIFT_ECORRUPT : 1;
}

/* Makes record i (< n) the one stepped over last: its seq and body (bounds checked). 0 or DRIFT_ECORRUPT. */
static int s_cit_at(s_cit_t *c, uint32_t i, uint64_t seq)
{
    size_t a = s_cit_doff(c, i), b = s_cit_doff(c, i + 1);
    if (a >= b || b > c->bl)
        return DRIFT_ECORRUPT;
    c->seq = seq;
    c->body = c->recs + a;
    c->body_len = b - a;
    c->i = i + 1;
    return 0;
}

/* Steps over the next record if its seq is <= bound: 1, 0 (none left, or newer than bound), DRIFT_ECORRUPT. */
static int s_cit_skip(s_cit_t *c, uint64_t bound)
{
    uint64_t seq;
    int rc = s_cit_peek(c, &seq);
    if (rc <= 0)
        return rc;
    if (seq > bound)
        return 0;
    return s_cit_at(c, c->i, seq) < 0 ? DRIFT_ECORRUPT : 1;
}

/* Reads the body of the record stepped over last (record c->i - 1). */
static int s_cit_decode(s_cit_t *c)
{
    const uint8_t *p = c->body, *e = c->body + c->body_len;
    uint64_t a, b;
    uint8_t fl = *p++;
    c->op = fl & REC_OP_MASK;
    c->storage = (fl >> REC_ST_SHIFT) & 3;
    c->schema_ver = c->schema0;
    if (fl & REC_F_SCHEMA) {
        if (s_var(&p, e, &a) < 0 || a > UINT32_MAX)
            return DRIFT_ECORRUPT;
        c->schema_ver = (uint32_t)a;
    }
    c->ts = c->ts0;
    if (c->i > 1) {
        if (s_var(&p, e, &a) < 0)
            return DRIFT_ECORRUPT;
        c->ts += (uint64_t)((int64_t)(a >> 1) ^ -(int64_t)(a & 1)); /* zigzag */
    }
    switch (c->storage) {
    case ST_INLINE:
        if (s_var(&p, e, &a) < 0 || s_var(&p, e, &b) < 0 || a > SIZE_MAX / 4 || b > SIZE_MAX / 4)
            return DRIFT_ECORRUPT;
        c->ra = (size_t)a;
        c->rb = (size_t)b;
        c->mid = p;
        c->rm = (size_t)(e - p);
        break;
    case ST_LOG:
        if (s_var(&p, e, &c->seg) < 0 || s_var(&p, e, &c->off) < 0 || s_var(&p, e, &c->roff) < 0 ||
            s_var(&p, e, &c->rlen) < 0 || p != e)
            return DRIFT_ECORRUPT;
        break;
    case ST_NONE:
        if (p != e)
            return DRIFT_ECORRUPT;
        break;
    default:
        return DRIFT_ECORRUPT;
    }
    return 0;
}

/* Steps over and decodes the next record: 1, 0 at the end of the chunk, DRIFT_ECORRUPT. */
static int s_cit_next(s_cit_t *c)
{
    int rc = s_cit_skip(c, UINT64_MAX);
    return rc == 1 && s_cit_decode(c) < 0 ? DRIFT_ECORRUPT : rc;
}

/* Finds the newest record with seq <= as_of by the directory (the decoder just started: s_cit_init) and
 * decodes it: 1, 0 when the first record is already newer, or an error. */
static int s_cit_seek(s_cit_t *c, uint64_t as_of)
{
    if (as_of < c->first)
        return 0;
    uint64_t bound = as_of - c->first, dlo = 0;
    uint32_t lo = 0, hi = c->n; /* record lo is <= as_of, records from hi on are newer */
    const uint8_t *d = c->dseq - c->ws; /* entry i at d + i * ws */
    unsigned ws = c->ws, sh = 64 - 8 * ws;
    if (c->n == 1 || (dlo = s_get_bew(c->dseq, ws)) > bound) {
        hi = 1; /* the chunk's first version (as of a seq before its second): no search */
        dlo = 0;
    } else
        lo = 1;
    /* entries read as 8 bytes (one unaligned load and a shift) when the value goes on 8 bytes past each */
    int fast = hi > 1 && (size_t)(c->end - c->dseq) >= (size_t)(c->n - 2) * ws + 8;
    while (hi - lo > 1) { /* bisection (the entries sit in one or two cache lines) */
        uint32_t mid = (lo + hi) / 2;
        uint64_t x = s_dload(d + (size_t)mid * ws, ws, sh, fast);
        if (x <= bound) {
            lo = mid;
            dlo = x;
        } else
            hi = mid;
    }
    if (lo > 0 && (dlo == 0 || c->first + dlo < c->first))
        return DRIFT_ECORRUPT;
    size_t a = s_cit_doff(c, lo), b = s_cit_doff(c, lo + 1);
    if (a >= b || b > c->bl)
        return DRIFT_ECORRUPT;
    c->seq = c->first + dlo;
    c->body = c->recs + a;
    c->body_len = b - a;
    c->i = lo + 1;
    return s_cit_decode(c) < 0 ? DRIFT_ECORRUPT : 1;
}

/* Steps to the last record and decodes it; 0 or an error. */
static int s_cit_all(s_cit_t *c)
{
    uint64_t seq;
    c->i = c->n - 1;
    if (s_cit_seqat(c, c->i, &seq) < 0 || s_cit_at(c, c->i, seq) < 0)
        return DRIFT_ECORRUPT;
    return s_cit_decode(c);
}

/* Finds the chunk's base row: the first inline record among those stepped over (it is stored whole).
 * 0, DRIFT_ENOTFOUND (no inline record among them) or DRIFT_ECORRUPT. */
static int s_cit_base(s_cit_t *c)
{
    if (c->base)
        return 0;
    size_t l0 = s_cit_doff(c, 1);
    const uint8_t *q = c->recs;
    if (c->i > 0 && l0 >= 3 && l0 <= c->bl && ((q[0] >> REC_ST_SHIFT) & 3) == ST_INLINE && !(q[0] & REC_F_SCHEMA)) {
        /* record 0 (the usual base): flags, a, b, the row; a = b = 0 */
        if (q[1] || q[2])
            return DRIFT_ECORRUPT;
        c->base = q + 3;
        c->base_len = l0 - 3;
        return 0;
    }
    s_cit_t w = *c;
    w.i = 0;
    for (uint32_t j = 0; j < c->i; j++) {
        if (s_cit_skip(&w, UINT64_MAX) != 1)
            return DRIFT_ECORRUPT;
        if (((w.body[0] >> REC_ST_SHIFT) & 3) == ST_INLINE) {
            if (s_cit_decode(&w) < 0 || w.ra || w.rb)
                return DRIFT_ECORRUPT;
            c->base = w.mid;
            c->base_len = w.rm;
            return 0;
        }
    }
    return DRIFT_ENOTFOUND;
}

/* The row of the inline record the decoder is on: inside the value when the delta is the whole row, else
 * rebuilt into kb (one copy of base prefix, delta, base suffix). */
static int s_cit_row(s_cit_t *c, drift_keybuf_t *kb, const uint8_t **ret, size_t *ret_len)
{
    if (c->ra == 0 && c->rb == 0) {
        *ret = c->mid;
        *ret_len = c->rm;
        return 0;
    }
    int rc = s_cit_base(c);
    if (rc < 0)
        return rc == DRIFT_ENOTFOUND ? DRIFT_ECORRUPT : rc;
    if (c->ra > c->base_len || c->rb > c->base_len - c->ra)
        return DRIFT_ECORRUPT;
    size_t n = c->ra + c->rm + c->rb;
    if (s_kb_reserve(kb, n) < 0)
        return -ENOMEM;
    memcpy(kb->buf, c->base, c->ra);
    memcpy(kb->buf + c->ra, c->mid, c->rm);
    memcpy(kb->buf + c->ra + c->rm, c->base + c->base_len - c->rb, c->rb);
    kb->len = n;
    *ret = kb->buf;
    *ret_len = n;
    return 0;
}

/* Fills v from the record the decoder is on (its row: rebuilt into c->row, or fetched from the log). */
static int s_cit_ver(drift_index_t *ix, s_cit_t *c, drift_index_ver_t *v)
{
    *v = (drift_index_ver_t){.seq = c->seq, .ts_ns = c->ts, .end_seq = DRIFT_INDEX_SEQ_LIVE, .op = c->op,
                             .schema_ver = c->schema_ver};
    if (c->storage == ST_INLINE) {
        if (!c->row)
            return DRIFT_ECORRUPT;
        return s_cit_row(c, c->row, &v->row, &v->row_len);
    }
    if (c->storage == ST_LOG) {
        if (!ix->logr)
            return DRIFT_ECORRUPT;
        drift_logr_pos_t pos = {c->seg, c->off};
        drift_frame_t f;
        int rc = drift_logr_fetch(ix->logr, pos, &f);
        if (rc < 0) {
            snprintf(ix->err, sizeof ix->err, "version %" PRIu64 ": %s", c->seq, drift_logr_error(ix->logr));
            return rc;
        }
        if (f.seq != c->seq)
            return DRIFT_ECORRUPT;
        const uint8_t *body;
        size_t blen;
        if ((rc = s_frame_body(ix, &f, pos.segment_id, pos.offset, &body, &blen)) < 0)
            return rc;
        if (c->roff + c->rlen > blen || c->roff + c->rlen < c->roff)
            return DRIFT_ECORRUPT;
        v->row = body + c->roff;
        v->row_len = (size_t)c->rlen;
    }
    return 0;
}

/* What the encoder of a record needs to know about the chunk it goes into. */
typedef struct {
    int first;           /* the record starts a chunk (its ts and schema version go in the chunk's header) */
    uint64_t seq;        /* of the previous record */
    uint64_t ts0;        /* the chunk's first ts and schema version */
    uint32_t schema0;
    const uint8_t *base; /* the chunk's base row: its first inline record's (NULL, 0: none yet) */
    size_t base_len;
} s_prev_t;

/* Encodes the body of one version record into body (format 4: its seq and place go in the chunk's
 * directory) after the records described by pv. */
static void s_rec_encode(drift_keybuf_t *body, const s_prev_t *pv, uint64_t ts, int op, int storage,
                         uint32_t schema_ver, drift_logr_pos_t pos, size_t row_off, const uint8_t *row,
                         size_t row_len)
{
    drift_keybuf_reset(body);
    int with_schema = !pv->first && schema_ver != pv->schema0;
    uint8_t fl = (uint8_t)((op & REC_OP_MASK) | storage << REC_ST_SHIFT | (with_schema ? REC_F_SCHEMA : 0));
    drift_keybuf_raw(body, &fl, 1);
    if (with_schema)
        s_kb_var(body, schema_ver);
    if (!pv->first) {
        int64_t d = (int64_t)(ts - pv->ts0);
        s_kb_var(body, (uint64_t)(d * 2) ^ (uint64_t)(d >> 63)); /* zigzag */
    }
    if (storage == ST_INLINE) {
        /* the common prefix and suffix with the base row, and the bytes in between */
        size_t bl = pv->base ? pv->base_len : 0, lim = bl < row_len ? bl : row_len, a = 0, b = 0;
        while (a < lim && pv->base[a] == row[a])
            a++;
        while (b < lim - a && pv->base[bl - 1 - b] == row[row_len - 1 - b])
            b++;
        s_kb_var(body, a);
        s_kb_var(body, b);
        drift_keybuf_raw(body, row + a, row_len - a - b);
    } else if (storage == ST_LOG) {
        s_kb_var(body, pos.segment_id);
        s_kb_var(body, pos.offset);
        s_kb_var(body, row_off);
        s_kb_var(body, row_len);
    }
}

/* Appends v as a w-byte big-endian unsigned. */
static void s_kb_bew(drift_keybuf_t *kb, uint64_t v, unsigned w)
{
    uint8_t b[8];
    for (unsigned j = 0; j < w; j++)
        b[j] = (uint8_t)(v >> (8 * (w - 1 - j)));
    drift_keybuf_raw(kb, b, w);
}

/* Writes a whole chunk value into kb (format 4): the first keep records of the chunk c decodes (keep 0: c
 * unused) and, when body, one more record at seq; the header's ts0/schema0 are c's, or ts/schema_ver for a
 * new chunk. The directory's widths are the smallest that hold its values, so the bytes depend only on the
 * versions. */
static void s_chunk_write(drift_keybuf_t *kb, const s_cit_t *c, uint32_t keep, uint64_t seq, uint64_t ts,
                          uint32_t schema_ver, const drift_keybuf_t *body)
{
    uint32_t n = keep + (body ? 1 : 0);
    uint64_t first = keep ? c->first : seq, ts0 = keep ? c->ts0 : ts;
    size_t old = keep ? s_cit_doff(c, keep) : 0; /* the kept records' bodies */
    uint64_t last = n > 1 ? (body ? seq : c->first + s_cit_dseq(c, n - 1)) - first : 0;
    size_t last_off = n > 1 ? (body ? old : s_cit_doff(c, n - 1)) : 0;
    unsigned ws = 1, wo = last_off > 0xff ? 2 : 1;
    while (ws < 8 && last >> (8 * ws))
        ws++;
    drift_keybuf_reset(kb);
    uint8_t h[2] = {(uint8_t)n, (uint8_t)((ws - 1) | (wo - 1) << 3)};
    drift_keybuf_raw(kb, h, 2);
    s_kb_u64(kb, ts0);
    s_kb_var(kb, keep ? c->schema0 : schema_ver);
    for (uint32_t i = 1; i < n; i++)
        s_kb_bew(kb, i < keep ? s_cit_dseq(c, i) : seq - first, ws);
    for (uint32_t i = 1; i < n; i++)
        s_kb_bew(kb, i < keep ? s_cit_doff(c, i) : old, wo);
    if (keep)
        drift_keybuf_raw(kb, c->recs, old);
    if (body)
        drift_keybuf_raw(kb, body->buf, body->len);
}

/* ------------------------------------------------------ definitions cache */

/* Appends a cache entry (takes def). */
static int s_cache_put(drift_index_t *ix, uint32_t table, uint32_t version, drift_index_tdef_t *def)
{
    if (ix->ncache == ix->capcache) {
        size_t cap = ix->capcache ? ix->capcache * 2 : 16;
        s_cached_t *c = realloc(ix->cache, cap * sizeof *c);
        if (!c) {
            drift_index_tdef_destroy(&def);
            return -ENOMEM;
        }
        ix->cache = c;
        ix->capcache = cap;
    }
    ix->cache[ix->ncache++] = (s_cached_t){.table = table, .version = version, .def = def};
    return 0;
}

/* Definition (table, version) from the cache or the catalog (txn); *ret NULL when unknown. */
static int s_def_ver(drift_index_t *ix, MDB_txn *txn, uint32_t table, uint32_t version, const drift_index_tdef_t **ret)
{
    *ret = NULL;
    if (version == 0)
        return 0;
    for (size_t i = 0; i < ix->ncache; i++)
        if (ix->cache[i].table == table && ix->cache[i].version == version && ix->cache[i].def) {
            *ret = ix->cache[i].def;
            return 0;
        }
    uint8_t kb[9];
    kb[0] = CAT_VER;
    s_be32(kb + 1, table);
    s_be32(kb + 5, version);
    MDB_val k = {9, kb}, v;
    int rc = mdb_get(txn, ix->db_catalog, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return s_mdb(ix, rc, "catalog");
    drift_index_tdef_t *d;
    char err[200];
    if ((rc = drift_index_tdef_parse(v.mv_data, v.mv_size, table, &d, err, sizeof err)) < 0) {
        snprintf(ix->err, sizeof ix->err, "catalog table %u version %u: %s", table, version, err);
        return DRIFT_ECORRUPT;
    }
    if ((rc = s_cache_put(ix, table, version, d)) < 0)
        return rc;
    *ret = d;
    return 0;
}

/* The newest definition of table in txn (NULL when none or dropped). */
static int s_def_latest(drift_index_t *ix, MDB_txn *txn, uint32_t table, const drift_index_tdef_t **ret)
{
    *ret = NULL;
    for (size_t i = 0; i < ix->ncache; i++)
        if (ix->cache[i].latest && ix->cache[i].table == table) {
            if (ix->cache[i].dropped)
                return 0;
            return s_def_ver(ix, txn, table, ix->cache[i].version, ret);
        }
    uint8_t kb[13];
    kb[0] = CAT_TABLE;
    s_be32(kb + 1, table);
    memset(kb + 5, 0, 8);
    MDB_cursor *c;
    int rc = s_mdb(ix, mdb_cursor_open(txn, ix->db_catalog, &c), "cursor");
    if (rc < 0)
        return rc;
    MDB_val k = {13, kb}, v;
    uint32_t version = 0;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    if (rc == 0 && k.mv_size == 13 && memcmp(k.mv_data, kb, 5) == 0 && v.mv_size >= 4)
        version = s_get_be32(v.mv_data);
    mdb_cursor_close(c);
    if (rc && rc != MDB_NOTFOUND)
        return s_mdb(ix, rc, "catalog");
    if ((rc = s_cache_put(ix, table, version, NULL)) < 0)
        return rc;
    ix->cache[ix->ncache - 1].latest = 1;
    ix->cache[ix->ncache - 1].dropped = version == 0;
    return s_def_ver(ix, txn, table, version, ret);
}

/* Marks version (0 = dropped) as table's newest. */
static int s_def_set_latest(drift_index_t *ix, uint32_t table, uint32_t version)
{
    for (size_t i = 0; i < ix->ncache; i++)
        if (ix->cache[i].latest && ix->cache[i].table == table) {
            ix->cache[i].version = version;
            ix->cache[i].dropped = version == 0;
            return 0;
        }
    int rc = s_cache_put(ix, table, version, NULL);
    if (rc == 0) {
        ix->cache[ix->ncache - 1].latest = 1;
        ix->cache[ix->ncache - 1].dropped = version == 0;
    }
    return rc;
}

/* ------------------------------------------------------ secondary indexes */

/* Encodes the values of index x for row (in definition d) into kb. Returns 0 or -1 when the row
 * is not an array (no entry then). */
static int s_idx_vals(const drift_index_tdef_t *d, const uint8_t *row, size_t row_len, const drift_index_idxdef_t *x,
                      drift_keybuf_t *kb)
{
    static __thread const uint8_t *el[DRIFT_INDEX_MAX_COLS];
    static __thread size_t ellen[DRIFT_INDEX_MAX_COLS];
    drift_keybuf_reset(kb);
    long n = s_row_elems(row, row_len, el, ellen, DRIFT_INDEX_MAX_COLS);
    if (n < 0)
        return -1;
    for (uint32_t i = 0; i < x->ncols; i++) {
        int pos = drift_index_tdef_colpos(d, x->cols[i]);
        msgpack_object o;
        if (pos < 0 || pos >= n || pos >= (int)DRIFT_INDEX_MAX_COLS ||
            s_mp_scalar(el[pos], el[pos] + ellen[pos], &o) < 0 || drift_keyenc_msgpack(kb, d->cols[pos].type, &o) < 0)
            drift_keyenc_null(kb);
    }
    return kb->oom ? -1 : 0;
}

/* Appends the idx key prefix index|vals|pk to kb (vals cut so that the key fits LMDB); returns the stored vals
 * length. */
static size_t s_idx_prefix(drift_keybuf_t *kb, uint32_t index_id, const drift_keybuf_t *vals, const uint8_t *pk,
                           size_t pk_len)
{
    size_t vl = vals->len;
    if (4 + vl + pk_len + 8 > LMDB_KEY_MAX)
        vl = LMDB_KEY_MAX - 12 - pk_len;
    s_kb_u32(kb, index_id);
    drift_keybuf_raw(kb, vals->buf, vl);
    drift_keybuf_raw(kb, pk, pk_len);
    return vl;
}

/* Secondary-index writes are queued during a batch and applied sorted by entry, just before anything
 * reads idx in the write transaction (the batch's commit, a DDL op) or when the queue is big. A batch's
 * rows land at random places of a large tree (an index on an unclustered column): applied in the order
 * of their commits, every one is a descent from the root to a leaf not in the CPU caches, whose first
 * write copies it; sorted, the puts on one leaf follow each other and the cursor stays on it (LMDB
 * searches a positioned cursor's leaf first). The order of the ops on one entry (index, vals, pk) is
 * kept (the sort is stable), and ops on different entries do not read each other, so the
 * result is the one of applying them in commit order. The queue is applied before anything else reads or
 * deletes idx entries in the batch (an index dropped, the commit). Record: the fixed header s_iq_hdr_t,
 * then the entry's key prefix index|vals|pk, then 8 bytes where the flush writes the key's seq part (the
 * put's key is the record itself). */
#define IQ_FLUSH_BYTES (8u << 20)
enum { IQ_OPEN = 1, IQ_CLOSE = 2 };
typedef struct {
    uint64_t seq, seq_to; /* open: seq_from and seq_to; close: the seq that ends the entry */
    uint16_t plen, vl;    /* key prefix length; stored vals length */
    uint8_t kind, trunc;
} s_iq_hdr_t;
typedef struct s_iq_ent {
    uint64_t h[3]; /* the prefix's first 24 bytes, big-endian (zero padded): most comparisons end here */
    uint32_t off;  /* of the record in the queue */
    uint32_t plen;
} s_iq_ent_t;

/* a < b in the order of their prefixes (q: the queue's records). */
static inline int s_iq_less(const s_iq_ent_t *a, const s_iq_ent_t *b, const uint8_t *q)
{
    for (int i = 0; i < 3; i++)
        if (a->h[i] != b->h[i])
            return a->h[i] < b->h[i];
    size_t n = a->plen < b->plen ? a->plen : b->plen;
    int c = n > 24 ? memcmp(q + a->off + sizeof(s_iq_hdr_t) + 24, q + b->off + sizeof(s_iq_hdr_t) + 24, n - 24) : 0;
    return c ? c < 0 : a->plen < b->plen;
}

/* Sorts ent[0..n) by prefix, stably (the ops on one entry keep their order), with tmp[0..n) as scratch:
 * a bottom-up merge sort with the comparison inlined (qsort's call per comparison cost as much as the
 * comparisons). */
static void s_iq_sort(s_iq_ent_t *ent, s_iq_ent_t *tmp, size_t n, const uint8_t *q)
{
    s_iq_ent_t *src = ent, *dst = tmp;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n, i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                dst[k++] = s_iq_less(&src[j], &src[i], q) ? src[j++] : src[i++];
            while (i < mid)
                dst[k++] = src[i++];
            while (j < hi)
                dst[k++] = src[j++];
        }
        s_iq_ent_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != ent)
        memcpy(ent, src, n * sizeof *ent);
}

/* Puts the entry prefix|~seq_from -> seq_to (vl vals bytes stored, trunc: they were cut); kb = the prefix
 * (plen bytes) followed by 8 bytes of room. */
static int s_idx_put_open(drift_index_t *ix, uint8_t *kb, size_t plen, size_t vl, int trunc, uint64_t seq_from,
                          uint64_t seq_to)
{
    uint8_t vb[IDXV_LEN];
    s_be64(kb + plen, ~seq_from);
    s_be64(vb, seq_to);
    vb[8] = trunc ? IDXF_TRUNC : 0;
    vb[9] = (uint8_t)(vl >> 8);
    vb[10] = (uint8_t)vl;
    MDB_val k = {plen + 8, kb}, v = {IDXV_LEN, vb};
    int rc = s_wcur(ix, ix->db_idx, &ix->wc_idx);
    if (rc < 0)
        return rc;
    return s_mdb(ix, mdb_cursor_put(ix->wc_idx, &k, &v, 0), "idx put");
}

/* Ends the live entry with the prefix kb (plen bytes, then 8 bytes of room) at seq (removes it when it
 * started at seq). */
static int s_idx_put_close(drift_index_t *ix, uint8_t *kb, size_t plen, uint64_t seq)
{
    s_be64(kb + plen, 0);
    int rc = s_wcur(ix, ix->db_idx, &ix->wc_idx);
    if (rc < 0)
        return rc;
    MDB_cursor *c = ix->wc_idx;
    MDB_val k = {plen + 8, kb}, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    if (rc == 0 && k.mv_size == plen + 8 && memcmp(k.mv_data, kb, plen) == 0 && v.mv_size == IDXV_LEN &&
        s_get_be64(v.mv_data) == DRIFT_INDEX_SEQ_LIVE) {
        uint64_t from = ~s_get_be64((const uint8_t *)k.mv_data + plen);
        if (from == seq)
            rc = mdb_cursor_del(c, 0);
        else {
            uint8_t nb[IDXV_LEN];
            memcpy(nb, v.mv_data, IDXV_LEN);
            s_be64(nb, seq);
            MDB_val nv = {IDXV_LEN, nb};
            rc = mdb_cursor_put(c, &k, &nv, MDB_CURRENT);
        }
    } else if (rc == 0 || rc == MDB_NOTFOUND)
        rc = 0; /* nothing live: tolerated (a row that did not match its schema) */
    return s_mdb(ix, rc, "idx close");
}

/* Applies the queued secondary-index writes, sorted by entry (see above), and empties the queue. */
static int s_iq_flush(drift_index_t *ix)
{
    if (ix->iq_n == 0)
        return 0;
    if (ix->iq.oom)
        return -ENOMEM;
    if (ix->iq_cap < ix->iq_n) {
        s_iq_ent_t *e = realloc(ix->iq_ent, 2 * ix->iq_n * sizeof *e);
        if (!e)
            return -ENOMEM;
        ix->iq_ent = e;
        ix->iq_cap = ix->iq_n;
    }
    s_iq_ent_t *ent = ix->iq_ent;
    uint8_t *q = ix->iq.buf;
    size_t off = 0;
    for (uint32_t i = 0; i < ix->iq_n; i++) {
        s_iq_hdr_t h;
        memcpy(&h, q + off, sizeof h);
        uint8_t head[24] = {0};
        memcpy(head, q + off + sizeof h, h.plen < 24 ? h.plen : 24);
        ent[i] = (s_iq_ent_t){.h = {s_get_be64(head), s_get_be64(head + 8), s_get_be64(head + 16)},
                              .off = (uint32_t)off,
                              .plen = h.plen};
        off += sizeof h + h.plen + 8;
    }
    s_iq_sort(ent, ent + ix->iq_n, ix->iq_n, q);
    int rc = 0;
    for (uint32_t i = 0; i < ix->iq_n && rc == 0; i++) {
        /* the records are read in sorted order, all over the queue: fetched a few puts ahead, their
         * misses overlap the LMDB work instead of stalling it (they were two thirds of this loop) */
        if (i + 8 < ix->iq_n)
            __builtin_prefetch(q + ent[i + 8].off);
        s_iq_hdr_t h;
        memcpy(&h, q + ent[i].off, sizeof h);
        uint8_t *key = q + ent[i].off + sizeof h;
        rc = h.kind == IQ_OPEN ? s_idx_put_open(ix, key, h.plen, h.vl, h.trunc, h.seq, h.seq_to)
                               : s_idx_put_close(ix, key, h.plen, h.seq);
    }
    drift_keybuf_reset(&ix->iq);
    ix->iq_n = 0;
    return rc;
}

/* Queues a write of the entry (index, vals, pk). */
static int s_iq_add(drift_index_t *ix, int kind, uint32_t index_id, const drift_keybuf_t *vals, const uint8_t *pk,
                    size_t pk_len, uint64_t seq, uint64_t seq_to)
{
    size_t at = ix->iq.len;
    s_iq_hdr_t h = {.seq = seq, .seq_to = seq_to, .kind = (uint8_t)kind};
    drift_keybuf_raw(&ix->iq, &h, sizeof h); /* completed below, once the prefix's length is known */
    size_t vl = s_idx_prefix(&ix->iq, index_id, vals, pk, pk_len);
    s_kb_u64(&ix->iq, 0); /* room for the key's seq part */
    if (ix->iq.oom)
        return -ENOMEM;
    h.plen = (uint16_t)(ix->iq.len - at - sizeof h - 8);
    h.vl = (uint16_t)vl;
    h.trunc = vl < vals->len;
    memcpy(ix->iq.buf + at, &h, sizeof h);
    ix->iq_n++;
    return ix->iq.len >= IQ_FLUSH_BYTES ? s_iq_flush(ix) : 0;
}

/* Opens an entry (index, vals, pk, seq_from) live until seq_to (queued). */
static int s_idx_open(drift_index_t *ix, uint32_t index_id, const drift_keybuf_t *vals, const uint8_t *pk,
                      size_t pk_len, uint64_t seq_from, uint64_t seq_to)
{
    return s_iq_add(ix, IQ_OPEN, index_id, vals, pk, pk_len, seq_from, seq_to);
}

/* Ends the live entry (index, vals, pk) at seq (queued). */
static int s_idx_close(drift_index_t *ix, uint32_t index_id, const drift_keybuf_t *vals, const uint8_t *pk,
                       size_t pk_len, uint64_t seq)
{
    return s_iq_add(ix, IQ_CLOSE, index_id, vals, pk, pk_len, seq, 0);
}

/* Maintains every index of d for a change of (table, pk) at seq from old (in old_def) to new_row (in d). */
static int s_idx_change(drift_index_t *ix, const drift_index_tdef_t *d, const drift_index_tdef_t *old_def,
                        const uint8_t *old_row, size_t old_len, const uint8_t *new_row, size_t new_len,
                        const uint8_t *pk, size_t pk_len, uint64_t seq)
{
    int rc = 0;
    for (uint32_t i = 0; d && i < d->nidx && rc == 0; i++) {
        const drift_index_idxdef_t *x = &d->idx[i];
        int has_old = old_row && old_def && s_idx_vals(old_def, old_row, old_len, x, &ix->vals_old) == 0;
        int has_new = new_row && s_idx_vals(d, new_row, new_len, x, &ix->vals_new) == 0;
        if (has_old && has_new && ix->vals_old.len == ix->vals_new.len &&
            memcmp(ix->vals_old.buf, ix->vals_new.buf, ix->vals_old.len) == 0)
            continue;
        if (has_old)
            rc = s_idx_close(ix, x->id, &ix->vals_old, pk, pk_len, seq);
        if (rc == 0 && has_new)
            rc = s_idx_open(ix, x->id, &ix->vals_new, pk, pk_len, seq, DRIFT_INDEX_SEQ_LIVE);
    }
    return rc;
}

/* Deletes every record of db whose key starts with the big-endian 32-bit id (an index's
 * entries in idx, a table's rows in current). */
static int s_drop_prefix(drift_index_t *ix, MDB_dbi db, uint32_t id, const char *what)
{
    MDB_cursor *c;
    int rc = s_mdb(ix, mdb_cursor_open(ix->wtxn, db, &c), "cursor");
    if (rc < 0)
        return rc;
    uint8_t kb[4];
    s_be32(kb, id);
    MDB_val k = {4, kb}, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size >= 4 && memcmp(k.mv_data, kb, 4) == 0) {
        if ((rc = mdb_cursor_del(c, 0)) != 0)
            break;
        k = (MDB_val){4, kb}; /* re-seek: GET_CURRENT after deleting the last key is EINVAL */
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : s_mdb(ix, rc, what);
}

/* Deletes every entry of an index. */
static int s_idx_drop(drift_index_t *ix, uint32_t index_id)
{
    int rc = s_iq_flush(ix); /* (the queued writes of the dropped index go first) */
    if (rc < 0)
        return rc;
    return s_drop_prefix(ix, ix->db_idx, index_id, "idx drop");
}

typedef struct {
    uint64_t seq;
    int has;
    size_t off, len; /* vals in ix->build */
} s_bver_t;

/* Emits the intervals of one pk from its versions (newest first in vs). */
static int s_idx_build_pk(drift_index_t *ix, uint32_t index_id, const uint8_t *pk, size_t pk_len, s_bver_t *vs,
                          size_t n)
{
    int rc = 0;
    long open = -1;
    drift_keybuf_t tmp = {0};
    for (size_t j = n; j-- > 0 && rc == 0;) {
        const s_bver_t *v = &vs[j];
        if (open >= 0) {
            const s_bver_t *o = &vs[open];
            if (v->has && v->len == o->len && memcmp(ix->build.buf + v->off, ix->build.buf + o->off, o->len) == 0)
                continue;
            drift_keybuf_reset(&tmp);
            drift_keybuf_raw(&tmp, ix->build.buf + o->off, o->len);
            rc = s_idx_open(ix, index_id, &tmp, pk, pk_len, o->seq, v->seq);
            open = -1;
        }
        if (v->has)
            open = (long)j;
    }
    if (rc == 0 && open >= 0) {
        drift_keybuf_reset(&tmp);
        drift_keybuf_raw(&tmp, ix->build.buf + vs[open].off, vs[open].len);
        rc = s_idx_open(ix, index_id, &tmp, pk, pk_len, vs[open].seq, DRIFT_INDEX_SEQ_LIVE);
    }
    drift_keybuf_free(&tmp);
    return rc;
}

/* Builds index x of table over the whole history of the table. */
static int s_idx_build(drift_index_t *ix, uint32_t table, const drift_index_idxdef_t *x)
{
    MDB_cursor *c;
    int rc = s_mdb(ix, mdb_cursor_open(ix->wtxn, ix->db_versions, &c), "cursor");
    if (rc < 0)
        return rc;
    uint8_t tb[4];
    s_be32(tb, table);
    MDB_val k = {4, tb}, v;
    s_bver_t *vs = NULL;
    size_t n = 0, cap = 0;
    uint8_t pk[LMDB_KEY_MAX];
    size_t pk_len = 0;
    drift_keybuf_t vals = {0};
    drift_keybuf_reset(&ix->build);
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    for (;;) {
        int more = rc == 0 && k.mv_size > 12 && memcmp(k.mv_data, tb, 4) == 0;
        size_t kpl = more ? k.mv_size - 12 : 0;
        if (n && (!more || kpl != pk_len || memcmp(pk, (const uint8_t *)k.mv_data + 4, pk_len) != 0)) {
            if ((rc = s_idx_build_pk(ix, x->id, pk, pk_len, vs, n)) < 0)
                break;
            n = 0;
            drift_keybuf_reset(&ix->build);
        }
        if (!more)
            break;
        if (n == 0) {
            pk_len = kpl;
            memcpy(pk, (const uint8_t *)k.mv_data + 4, pk_len);
        }
        s_cit_t ch;
        if ((rc = s_cit_init(&ch, &k, &v, &ix->base)) < 0)
            break;
        size_t n0 = n;
        while ((rc = s_cit_next(&ch)) == 1) { /* oldest first; the chunk's run is reversed below */
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                s_bver_t *nv = realloc(vs, cap * sizeof *vs);
                if (!nv) {
                    rc = -ENOMEM;
                    break;
                }
                vs = nv;
            }
            drift_index_ver_t ver;
            if ((rc = s_cit_ver(ix, &ch, &ver)) < 0)
                break;
            s_bver_t *b = &vs[n++];
            b->seq = ch.seq;
            b->has = 0;
            if (ver.row) {
                const drift_index_tdef_t *d;
                if ((rc = s_def_ver(ix, ix->wtxn, table, ver.schema_ver, &d)) < 0)
                    break;
                if (d && s_idx_vals(d, ver.row, ver.row_len, x, &vals) == 0) {
                    b->has = 1;
                    b->off = ix->build.len;
                    b->len = vals.len;
                    drift_keybuf_raw(&ix->build, vals.buf, vals.len);
                }
            }
        }
        for (size_t i = n0, j = n; i + 1 < j; i++, j--) { /* newest first, as the chunks come */
            s_bver_t t = vs[i];
            vs[i] = vs[j - 1];
            vs[j - 1] = t;
        }
        if (rc < 0)
            break;
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    free(vs);
    drift_keybuf_free(&vals);
    if (rc == MDB_NOTFOUND)
        rc = 0;
    return rc > 0 || (rc < 0 && rc > -30800 && rc < -30700) ? s_mdb(ix, rc, "idx build") : rc;
}

/* ------------------------------------------------------------- applying */

int drift_index_begin(drift_index_t *self)
{
    if (self->readonly)
        return -EROFS;
    if (self->wtxn)
        return -EBUSY;
    int rc = s_mdb(self, mdb_txn_begin(self->env, NULL, 0, &self->wtxn), "mdb_txn_begin");
    if (rc < 0) {
        s_wend(self);
        return rc;
    }
    self->committed_seq = self->applied_seq;
    self->committed_ts = self->applied_ts;
    drift_keybuf_reset(&self->iq);
    self->iq_n = 0;
    return 0;
}

void drift_index_abort(drift_index_t *self)
{
    if (!self->wtxn)
        return;
    mdb_txn_abort(self->wtxn);
    s_wend(self);
    drift_keybuf_reset(&self->iq);
    self->iq_n = 0;
    self->applied_seq = self->committed_seq;
    self->applied_ts = self->committed_ts;
    s_cache_clear(self);
}

int drift_index_commit(drift_index_t *self)
{
    if (!self->wtxn)
        return -EINVAL;
    uint8_t vb[20];
    s_be64(vb, self->applied_seq);
    s_be64(vb + 8, self->applied_ts);
    s_be32(vb + 16, DRIFT_INDEX_FORMAT);
    MDB_val k = {7, "applied"}, v = {20, vb};
    int rc = s_iq_flush(self);
    if (rc == 0)
        rc = s_mdb(self, mdb_put(self->wtxn, self->db_meta, &k, &v, 0), "meta put");
    if (rc < 0) {
        drift_index_abort(self);
        return rc;
    }
    rc = s_mdb(self, mdb_txn_commit(self->wtxn), "mdb_txn_commit");
    s_wend(self);
    if (rc < 0) {
        self->applied_seq = self->committed_seq;
        self->applied_ts = self->committed_ts;
        s_cache_clear(self);
    }
    return rc;
}

int drift_index_clear(drift_index_t *self)
{
    int rc = drift_index_begin(self);
    if (rc < 0)
        return rc;
    MDB_dbi dbs[] = {self->db_catalog, self->db_current, self->db_versions, self->db_idx, self->db_time, self->db_meta};
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0] && rc == 0; i++)
        rc = s_mdb(self, mdb_drop(self->wtxn, dbs[i], 0), "mdb_drop");
    if (rc < 0) {
        drift_index_abort(self);
        return rc;
    }
    rc = s_mdb(self, mdb_txn_commit(self->wtxn), "mdb_txn_commit");
    s_wend(self);
    self->applied_seq = self->applied_ts = 0;
    s_cache_clear(self);
    return rc;
}

/* Adds a version (a record encoded after the chunk's previous ones) to the key's chunks in versions: appended
 * to the newest chunk (key table|pk|~first_seq) while it has room, else in a new chunk keyed table|pk|~seq.
 * A second op on the same key in one frame (same seq) replaces the version that frame wrote. */
static int s_put_version(drift_index_t *ix, uint32_t table, const uint8_t *pk, size_t pk_len, uint64_t seq, uint64_t ts,
                         int op, int storage, uint32_t schema_ver, drift_logr_pos_t pos, size_t row_off,
                         const uint8_t *row, size_t row_len)
{
    drift_keybuf_reset(&ix->k1);
    s_kb_u32(&ix->k1, table);
    drift_keybuf_raw(&ix->k1, pk, pk_len);
    size_t plen = ix->k1.len;
    s_kb_u64(&ix->k1, 0); /* ~UINT64_MAX: the newest chunk of the key comes first */
    if (ix->k1.oom)
        return -ENOMEM;
    int rc = s_wcur(ix, ix->db_versions, &ix->wc_versions);
    if (rc < 0)
        return rc;
    MDB_val k = {ix->k1.len, ix->k1.buf}, v;
    rc = mdb_cursor_get(ix->wc_versions, &k, &v, MDB_SET_RANGE);
    if (rc && rc != MDB_NOTFOUND)
        return s_mdb(ix, rc, "versions seek");
    s_cit_t c;
    memset(&c, 0, sizeof c);
    int has = rc == 0 && k.mv_size == plen + 8 && memcmp(k.mv_data, ix->k1.buf, plen) == 0;
    uint32_t keep = 0;
    if (has) {
        /* step over the newest chunk's records up to the version this frame replaces (if any) */
        if ((rc = s_cit_init(&c, &k, &v, NULL)) < 0)
            return rc;
        for (;;) {
            uint64_t s;
            if ((rc = s_cit_peek(&c, &s)) < 0)
                return rc;
            if (rc == 0 || (s == seq && c.i == c.n - 1))
                break;
            if (s >= seq) {
                snprintf(ix->err, sizeof ix->err, "version %" PRIu64 " older than the newest indexed", seq);
                return DRIFT_ECORRUPT;
            }
            if ((rc = s_cit_skip(&c, UINT64_MAX)) < 0)
                return rc;
        }
        keep = c.i;
        /* the base row of the new record's delta (none among the kept records: the new one, if inline, is it) */
        if (keep > 0 && (rc = s_cit_base(&c)) < 0 && rc != DRIFT_ENOTFOUND)
            return rc;
    }
    s_prev_t pv = {.first = keep == 0};
    if (keep) {
        pv.seq = c.seq;
        pv.ts0 = c.ts0;
        pv.schema0 = c.schema0;
        pv.base = c.base;
        pv.base_len = c.base_len;
    }
    s_rec_encode(&ix->k2, &pv, ts, op, storage, schema_ver, pos, row_off, row, row_len);
    /* appended to the newest chunk (the whole value rewritten with its directory grown by one) if it fits */
    int append = keep > 0 && keep < DRIFT_INDEX_CHUNK_VERS && s_cit_doff(&c, keep) + ix->k2.len < DRIFT_INDEX_CHUNK_BYTES;
    if (append) {
        s_chunk_write(&ix->chunk, &c, keep, seq, ts, schema_ver, &ix->k2);
        append = ix->chunk.len <= DRIFT_INDEX_CHUNK_BYTES;
    }
    if (!append && keep > 0) {
        /* it starts a chunk: encoded without a predecessor */
        s_prev_t p0 = {.first = 1};
        s_rec_encode(&ix->k2, &p0, ts, op, storage, schema_ver, pos, row_off, row, row_len);
    }
    if (ix->k2.oom || ix->chunk.oom)
        return -ENOMEM;
    if (has && !append && keep > 0 && keep < c.n) {
        /* the newest chunk loses the version this frame replaces, which goes to a new chunk */
        s_chunk_write(&ix->chunk, &c, keep, 0, 0, 0, NULL);
        drift_keybuf_reset(&ix->k1);
        drift_keybuf_raw(&ix->k1, k.mv_data, k.mv_size); /* (k points into the page being rewritten) */
        if (ix->k1.oom || ix->chunk.oom)
            return -ENOMEM;
        MDB_val kk = {ix->k1.len, ix->k1.buf}, vv = {ix->chunk.len, ix->chunk.buf};
        if ((rc = s_mdb(ix, mdb_cursor_put(ix->wc_versions, &kk, &vv, 0), "versions put")) < 0)
            return rc;
    }
    uint64_t first = append ? c.first : seq;
    if (!append)
        s_chunk_write(&ix->chunk, NULL, 0, seq, ts, schema_ver, &ix->k2);
    drift_keybuf_reset(&ix->k1);
    s_kb_u32(&ix->k1, table);
    drift_keybuf_raw(&ix->k1, pk, pk_len);
    s_kb_u64(&ix->k1, ~first);
    if (ix->k1.oom || ix->chunk.oom)
        return -ENOMEM;
    k = (MDB_val){ix->k1.len, ix->k1.buf};
    v = (MDB_val){ix->chunk.len, ix->chunk.buf};
    /* appending: the cursor is still on that chunk (replaced in place, no second search) */
    return s_mdb(ix, mdb_cursor_put(ix->wc_versions, &k, &v, append ? MDB_CURRENT : 0), "versions put");
}

/* Merges a patch map (column name or id -> value) into the old row converted to definition d
 * (old row in old_def; without definitions, keys are array positions). Result in ix->rowbuf. */
static int s_patch(drift_index_t *ix, const drift_index_tdef_t *d, const drift_index_tdef_t *old_def,
                   const uint8_t *old_row, size_t old_len, const uint8_t *patch, size_t patch_len)
{
    static __thread const uint8_t *el[DRIFT_INDEX_MAX_COLS], *nel[DRIFT_INDEX_MAX_COLS];
    static __thread size_t ellen[DRIFT_INDEX_MAX_COLS], nellen[DRIFT_INDEX_MAX_COLS];
    static const uint8_t nil = 0xc0;
    long n = s_row_elems(old_row, old_len, el, ellen, DRIFT_INDEX_MAX_COLS);
    if (n < 0 || n > (long)DRIFT_INDEX_MAX_COLS)
        return -1;
    uint32_t ncols = d ? d->ncols : (uint32_t)n;
    for (uint32_t i = 0; i < ncols; i++) {
        int from = (int)i;
        if (d)
            from = old_def ? drift_index_tdef_colpos(old_def, d->cols[i].id) : -1;
        nel[i] = from >= 0 && from < n ? el[from] : &nil;
        nellen[i] = from >= 0 && from < n ? ellen[from] : 1;
    }
    const uint8_t *p = patch, *end = patch + patch_len;
    uint32_t np;
    if (drift_msg_container(&p, end, 1, &np) < 0)
        return -1;
    for (uint32_t j = 0; j < np; j++) {
        msgpack_object key;
        const uint8_t *q = s_mp_skip(p, end), *r;
        if (!q || !(r = s_mp_skip(q, end)) || s_mp_scalar(p, q, &key) < 0)
            return -1;
        int pos = -1;
        if (key.type == MSGPACK_OBJECT_POSITIVE_INTEGER && key.via.u64 < UINT32_MAX)
            pos = d ? drift_index_tdef_colpos(d, (uint32_t)key.via.u64) : (int)key.via.u64;
        else if (key.type == MSGPACK_OBJECT_STR && d)
            for (uint32_t i = 0; i < d->ncols; i++)
                if (strlen(d->cols[i].name) == key.via.str.size &&
                    memcmp(d->cols[i].name, key.via.str.ptr, key.via.str.size) == 0)
                    pos = (int)i;
        if (pos < 0 || pos >= (int)ncols)
            return -1;
        nel[pos] = q;
        nellen[pos] = (size_t)(r - q);
        p = r;
    }
    if (p != end)
        return -1;
    drift_keybuf_reset(&ix->rowbuf);
    s_mp_put_array(&ix->rowbuf, ncols);
    for (uint32_t i = 0; i < ncols; i++)
        drift_keybuf_raw(&ix->rowbuf, nel[i], nellen[i]);
    return ix->rowbuf.oom ? -ENOMEM : 0;
}

/* Deletes every current row of a table. */
static int s_current_drop(drift_index_t *ix, uint32_t table)
{
    return s_drop_prefix(ix, ix->db_current, table, "current drop");
}

/* Catalog name entry N|enc(name)|~seq -> table (0: the name is free from seq on). */
static int s_put_name(drift_index_t *ix, const char *name, uint64_t seq, uint32_t table)
{
    drift_keybuf_reset(&ix->k1);
    uint8_t t = CAT_NAME;
    drift_keybuf_raw(&ix->k1, &t, 1);
    drift_keyenc_text(&ix->k1, name, strlen(name));
    s_kb_u64(&ix->k1, ~seq);
    uint8_t vb[4];
    s_be32(vb, table);
    if (ix->k1.oom)
        return -ENOMEM;
    MDB_val k = {ix->k1.len, ix->k1.buf}, v = {4, vb};
    return s_mdb(ix, mdb_put(ix->wtxn, ix->db_catalog, &k, &v, 0), "catalog name");
}

/* A DDL op: {"ddl": kind, "def": table definition} (no def for "drop_table"). */
static int s_apply_ddl(drift_index_t *ix, uint32_t table, uint64_t seq, const uint8_t *row, size_t row_len)
{
    const uint8_t *p = row, *end = row + row_len, *defp = NULL;
    size_t def_len = 0;
    int drop = 0, rc;
    uint32_t n;
    if (!row || drift_msg_container(&p, end, 1, &n) < 0)
        goto bad;
    for (uint32_t j = 0; j < n; j++) {
        const uint8_t *q = s_mp_skip(p, end), *r;
        if (!q || !(r = s_mp_skip(q, end)))
            goto bad;
        if (s_mp_streq(p, q, "ddl")) {
            drop = s_mp_streq(q, r, "drop_table");
            if (s_mp_streq(q, r, "stats")) { /* ANALYZE: planner statistics (shm/stats.c) */
                int mrc = drift_stats_store(ix->wtxn, ix->db_catalog, seq, row, row_len);
                return mrc < 0 ? (ix->skipped++, 0) : s_mdb(ix, mrc, "stats put");
            }
        } else if (s_mp_streq(p, q, "def")) {
            defp = q;
            def_len = (size_t)(r - q);
        }
        p = r;
    }
    const drift_index_tdef_t *prev;
    if ((rc = s_def_latest(ix, ix->wtxn, table, &prev)) < 0)
        return rc;
    uint8_t kb[13];
    kb[0] = CAT_TABLE;
    s_be32(kb + 1, table);
    s_be64(kb + 5, ~seq);
    MDB_val k = {13, kb}, v;
    if (drop) {
        if (!prev)
            goto bad;
        uint8_t zero[4] = {0};
        v = (MDB_val){4, zero};
        if ((rc = s_mdb(ix, mdb_put(ix->wtxn, ix->db_catalog, &k, &v, 0), "catalog put")) < 0 ||
            (rc = s_put_name(ix, prev->name, seq, 0)) < 0 || (rc = s_current_drop(ix, table)) < 0)
            return rc;
        for (uint32_t i = 0; i < prev->nidx; i++)
            if ((rc = s_idx_drop(ix, prev->idx[i].id)) < 0)
                return rc;
        return s_def_set_latest(ix, table, 0);
    }
    if (!defp)
        goto bad;
    drift_index_tdef_t *d;
    char err[200];
    if (drift_index_tdef_parse(defp, def_len, table, &d, err, sizeof err) < 0) {
        DLOG_DEBUG("seq %" PRIu64 ": table %u: bad definition: %s", seq, table, err);
        goto bad;
    }
    if ((rc = s_cache_put(ix, table, d->version, d)) < 0)
        return rc;
    drift_keybuf_reset(&ix->k2);
    s_kb_u32(&ix->k2, d->version);
    drift_keybuf_raw(&ix->k2, defp, def_len);
    if (ix->k2.oom)
        return -ENOMEM;
    v = (MDB_val){ix->k2.len, ix->k2.buf};
    if ((rc = s_mdb(ix, mdb_put(ix->wtxn, ix->db_catalog, &k, &v, 0), "catalog put")) < 0)
        return rc;
    kb[0] = CAT_VER;
    s_be32(kb + 5, d->version);
    k.mv_size = 9;
    v = (MDB_val){def_len, (void *)defp};
    if ((rc = s_mdb(ix, mdb_put(ix->wtxn, ix->db_catalog, &k, &v, 0), "catalog put")) < 0)
        return rc;
    if (!prev || strcmp(prev->name, d->name) != 0) {
        if (prev && (rc = s_put_name(ix, prev->name, seq, 0)) < 0)
            return rc;
        if ((rc = s_put_name(ix, d->name, seq, table)) < 0)
            return rc;
    }
    for (uint32_t i = 0; prev && i < prev->nidx; i++) {
        int kept = 0;
        for (uint32_t j = 0; j < d->nidx; j++)
            kept |= d->idx[j].id == prev->idx[i].id;
        if (!kept && (rc = s_idx_drop(ix, prev->idx[i].id)) < 0)
            return rc;
    }
    if ((rc = s_def_set_latest(ix, table, d->version)) < 0)
        return rc;
    for (uint32_t j = 0; j < d->nidx; j++) {
        int had = 0;
        for (uint32_t i = 0; prev && i < prev->nidx; i++)
            had |= d->idx[j].id == prev->idx[i].id;
        if (!had && (rc = s_idx_build(ix, table, &d->idx[j])) < 0)
            return rc;
    }
    return 0;
bad:
    ix->skipped++;
    return 0;
}

int drift_index_stats_get(drift_index_rd_t *rd, uint32_t table, uint64_t as_of, const uint8_t **ret, size_t *ret_len,
                          uint64_t *ret_seq)
{
    return drift_stats_lookup(rd->txn, rd->ix->db_catalog, table, as_of, ret, ret_len, ret_seq);
}

/* One data op of frame seq. row_off is the row's offset in the (decompressed) body. */
static int s_apply_op(drift_index_t *ix, const drift_frame_t *f, drift_logr_pos_t pos, int op, uint32_t table,
                      const uint8_t *pk, size_t pk_len, const uint8_t *row, size_t row_len, size_t row_off)
{
    if (op == DRIFT_COP_DDL)
        return s_apply_ddl(ix, table, f->seq, row, row_len);
    if (pk_len == 0 || pk_len > DRIFT_INDEX_PK_MAX)
        goto bad;
    const drift_index_tdef_t *d, *old_def = NULL;
    int rc = s_def_latest(ix, ix->wtxn, table, &d);
    if (rc < 0)
        return rc;
    drift_keybuf_reset(&ix->k1);
    s_kb_u32(&ix->k1, table);
    drift_keybuf_raw(&ix->k1, pk, pk_len);
    if (ix->k1.oom)
        return -ENOMEM;
    MDB_val k = {ix->k1.len, ix->k1.buf}, v;
    if ((rc = s_wcur(ix, ix->db_current, &ix->wc_current)) < 0)
        return rc;
    /* the cursor stays on the old row (only other sub-databases change until it is replaced) */
    rc = mdb_cursor_get(ix->wc_current, &k, &v, MDB_SET_KEY);
    int has_old = rc == 0;
    if (rc && rc != MDB_NOTFOUND)
        return s_mdb(ix, rc, "current get");
    if (has_old) {
        if (v.mv_size < CUR_HDR)
            return DRIFT_ECORRUPT;
        drift_keybuf_reset(&ix->oldrow);
        drift_keybuf_raw(&ix->oldrow, (const uint8_t *)v.mv_data + CUR_HDR, v.mv_size - CUR_HDR);
        if (ix->oldrow.oom)
            return -ENOMEM;
        if ((rc = s_def_ver(ix, ix->wtxn, table, s_get_be32((const uint8_t *)v.mv_data + 20), &old_def)) < 0)
            return rc;
    }
    uint32_t ver = d ? d->version : 0;
    const uint8_t *new_row = NULL;
    size_t new_len = 0;
    int storage = ST_NONE;
    switch (op) {
    case DRIFT_COP_INSERT:
    case DRIFT_COP_UPDATE:
        /* (row is one object of the walked body: an array header is all there is left to check) */
        if (!row || ((row[0] & 0xf0) != 0x90 && row[0] != 0xdc && row[0] != 0xdd))
            goto bad;
        new_row = row;
        new_len = row_len;
        /* small rows inline: an as-of read is then one B+tree seek like a latest read, and needs no log */
        storage = row_len <= DRIFT_INDEX_INLINE_MAX ? ST_INLINE : ST_LOG;
        break;
    case DRIFT_COP_PATCH:
        if (!has_old || !row || s_patch(ix, d, old_def, ix->oldrow.buf, ix->oldrow.len, row, row_len) < 0)
            goto bad;
        new_row = ix->rowbuf.buf;
        new_len = ix->rowbuf.len;
        storage = ST_INLINE;
        break;
    case DRIFT_COP_DELETE:
        if (!has_old)
            goto bad;
        break;
    default: goto bad;
    }
    if ((rc = s_put_version(ix, table, pk, pk_len, f->seq, f->ts_ns, op, storage, ver, pos, row_off, new_row,
                            new_len)) < 0)
        return rc;
    drift_keybuf_reset(&ix->k1);
    s_kb_u32(&ix->k1, table);
    drift_keybuf_raw(&ix->k1, pk, pk_len);
    k = (MDB_val){ix->k1.len, ix->k1.buf};
    if (new_row) {
        drift_keybuf_reset(&ix->k2);
        uint8_t h[CUR_HDR] = {0};
        s_be64(h, f->seq);
        s_be64(h + 8, f->ts_ns);
        h[16] = (uint8_t)op;
        s_be32(h + 20, ver);
        drift_keybuf_raw(&ix->k2, h, CUR_HDR);
        drift_keybuf_raw(&ix->k2, new_row, new_len);
        if (ix->k2.oom || ix->k1.oom)
            return -ENOMEM;
        v = (MDB_val){ix->k2.len, ix->k2.buf};
        rc = s_mdb(ix, mdb_cursor_put(ix->wc_current, &k, &v, has_old ? MDB_CURRENT : 0), "current put");
    } else
        rc = s_mdb(ix, mdb_cursor_del(ix->wc_current, 0), "current del");
    if (rc < 0)
        return rc;
    return s_idx_change(ix, d, old_def, has_old ? ix->oldrow.buf : NULL, ix->oldrow.len, new_row, new_len, pk, pk_len,
                        f->seq);
bad:
    ix->skipped++;
    return 0;
}

int drift_index_apply(drift_index_t *self, const drift_frame_t *f, drift_logr_pos_t pos)
{
    if (!self->wtxn)
        return -EINVAL;
    if (self->applied_seq && f->seq != self->applied_seq + 1) {
        snprintf(self->err, sizeof self->err, "frame %" PRIu64 " applied after %" PRIu64, f->seq, self->applied_seq);
        return DRIFT_ECHAIN;
    }
    const uint8_t *body;
    size_t blen;
    int rc = s_frame_body(self, f, pos.segment_id, pos.offset, &body, &blen);
    if (rc < 0)
        return rc;
    uint8_t tk[8], tv[8];
    s_be64(tk, f->ts_ns);
    s_be64(tv, f->seq);
    MDB_val k = {8, tk}, v = {8, tv};
    /* commit timestamps normally only grow: append (no search, pages filled before they split); an
     * equal or earlier ts (clock step) takes the ordinary put, where the later seq wins as before */
    rc = mdb_put(self->wtxn, self->db_time, &k, &v, MDB_APPEND);
    if (rc == MDB_KEYEXIST)
        rc = mdb_put(self->wtxn, self->db_time, &k, &v, 0);
    if ((rc = s_mdb(self, rc, "time put")) < 0)
        return rc;
    const uint8_t *p = body, *end = body + blen;
    uint32_t nops;
    /* A body that does not walk is skipped whole (before anything of it is applied), so that the
     * indexer never stalls on it and a rebuild skips it the same way. */
    if (s_mp_skip(body, end) != end || drift_msg_container(&p, end, 0, &nops) < 0) {
        snprintf(self->err, sizeof self->err, "frame %" PRIu64 ": body is not a valid op array (skipped)", f->seq);
        self->skipped++;
        nops = 0;
        p = end;
    }
    self->ops += nops;
    for (uint32_t i = 0; i < nops; i++) {
        uint32_t nk;
        const uint8_t *elem = p;
        if (drift_msg_container(&p, end, 1, &nk) < 0) {
            self->skipped++;
            p = s_mp_skip(elem, end);
            continue;
        }
        int op = 0;
        uint32_t table = UINT32_MAX;
        const uint8_t *key = NULL, *row = NULL;
        size_t key_len = 0, row_len = 0;
        for (uint32_t j = 0; j < nk; j++) {
            /* the whole body walked: its containers are counted, not walked again */
            const uint8_t *q = s_mp_wskip(p, end), *r = q ? s_mp_wskip(q, end) : NULL;
            if (!r)
                return DRIFT_EPROTO; /* cannot happen: the whole body walked */
            msgpack_object o;
            if (s_mp_keyeq(p, q, "op", 2)) {
                if (s_mp_scalar(q, r, &o) == 0 && o.type == MSGPACK_OBJECT_STR && o.via.str.size > 0)
                    for (int c = DRIFT_COP_INSERT; c <= DRIFT_COP_DDL; c++) {
                        const char *nm = drift_commit_op_name((drift_cop_t)c);
                        if (nm[0] == o.via.str.ptr[0] && o.via.str.size == strlen(nm) &&
                            memcmp(o.via.str.ptr, nm, o.via.str.size) == 0)
                            op = c;
                    }
            } else if (s_mp_keyeq(p, q, "table", 5)) {
                if (s_mp_scalar(q, r, &o) == 0 && o.type == MSGPACK_OBJECT_POSITIVE_INTEGER && o.via.u64 < UINT32_MAX)
                    table = (uint32_t)o.via.u64;
            } else if (s_mp_keyeq(p, q, "key", 3)) {
                if (s_mp_scalar(q, r, &o) == 0 && (o.type == MSGPACK_OBJECT_BIN || o.type == MSGPACK_OBJECT_STR)) {
                    key = (const uint8_t *)o.via.bin.ptr;
                    key_len = o.via.bin.size;
                }
            } else if (s_mp_keyeq(p, q, "row", 3)) {
                row = q;
                row_len = (size_t)(r - q);
            }
            p = r;
        }
        if (!op || table == UINT32_MAX) {
            self->skipped++;
            continue;
        }
        if ((rc = s_apply_op(self, f, pos, op, table, key, key_len, row, row_len, row ? (size_t)(row - body) : 0)) < 0)
            return rc;
    }
    self->applied_seq = f->seq;
    self->applied_ts = f->ts_ns;
    return 0;
}

/* ------------------------------------------------------------- reading */

int drift_index_rd_begin(drift_index_t *self, drift_index_rd_t **ret)
{
    drift_index_rd_t *rd = calloc(1, sizeof *rd);
    if (!rd)
        return -ENOMEM;
    rd->ix = self;
    uint64_t ts;
    uint32_t format;
    int rc;
    if ((rc = s_rdtxn(self, &rd->txn)) < 0 || (rc = s_meta_read(self, rd->txn, &rd->seq, &ts, &format)) < 0 ||
        (rc = s_mdb(self, mdb_cursor_open(rd->txn, self->db_versions, &rd->c_versions), "cursor")) < 0 ||
        (rc = s_mdb(self, mdb_cursor_open(rd->txn, self->db_idx, &rd->c_idx), "cursor")) < 0) {
        drift_index_rd_end(&rd);
        return rc;
    }
    *ret = rd;
    return 0;
}

void drift_index_rd_end(drift_index_rd_t **self_p)
{
    drift_index_rd_t *rd = *self_p;
    if (!rd)
        return;
    if (rd->c_versions)
        mdb_cursor_close(rd->c_versions);
    if (rd->c_idx)
        mdb_cursor_close(rd->c_idx);
    if (rd->txn)
        mdb_txn_abort(rd->txn);
    drift_keybuf_free(&rd->k);
    drift_keybuf_free(&rd->row);
    free(rd);
    *self_p = NULL;
}

uint64_t drift_index_rd_seq(const drift_index_rd_t *rd)
{
    return rd->seq;
}

/* Decodes a current value into v. */
static int s_cur_decode(const MDB_val *val, drift_index_ver_t *v)
{
    const uint8_t *p = val->mv_data;
    if (val->mv_size < CUR_HDR)
        return DRIFT_ECORRUPT;
    memset(v, 0, sizeof *v);
    v->seq = s_get_be64(p);
    v->ts_ns = s_get_be64(p + 8);
    v->op = p[16];
    v->schema_ver = s_get_be32(p + 20);
    v->end_seq = DRIFT_INDEX_SEQ_LIVE;
    v->row = p + CUR_HDR;
    v->row_len = val->mv_size - CUR_HDR;
    return 0;
}

/* Writes table|pk into rd->pkey; returns its length (pk_len already checked against DRIFT_INDEX_PK_MAX). */
static size_t s_point_key(drift_index_rd_t *rd, uint32_t table, const void *pk, size_t pk_len)
{
    s_be32(rd->pkey, table);
    memcpy(rd->pkey + 4, pk, pk_len);
    return 4 + pk_len;
}

/* With rd->pkey = table|pk (plen bytes): finds the key's versions chunk at or after table|pk|inv_seq
 * (inv_seq = ~seq: the chunk whose first seq is the newest <= seq). Returns 0 (k, v set), DRIFT_ENOTFOUND
 * or an error. */
static int s_chunk_seek(drift_index_rd_t *rd, size_t plen, uint64_t inv_seq, MDB_val *k, MDB_val *v)
{
    s_be64(rd->pkey + plen, inv_seq);
    *k = (MDB_val){plen + 8, rd->pkey};
    /* A positioned cursor first compares the key with the first and last keys of its current leaf
     * (cold cache lines for a random key) before it searches from the root: start from the root. */
    mdb_cursor_renew(rd->txn, rd->c_versions);
    int rc = mdb_cursor_get(rd->c_versions, k, v, MDB_SET_RANGE);
    if (rc)
        return s_mdb(rd->ix, rc, "versions");
    if (k->mv_size != plen + 8 || memcmp(k->mv_data, rd->pkey, plen) != 0)
        return DRIFT_ENOTFOUND;
    return 0;
}

int drift_index_get(drift_index_rd_t *rd, uint32_t table, const void *pk, size_t pk_len, uint64_t as_of,
                    drift_index_ver_t *ret)
{
    if (pk_len == 0 || pk_len > DRIFT_INDEX_PK_MAX)
        return DRIFT_ENOTFOUND;
    size_t plen = s_point_key(rd, table, pk, pk_len);
    if (as_of >= rd->seq) {
        if (as_of != UINT64_MAX && as_of > rd->seq)
            return -EAGAIN;
        MDB_val k = {plen, rd->pkey}, v;
        int rc = mdb_get(rd->txn, rd->ix->db_current, &k, &v);
        if (rc)
            return s_mdb(rd->ix, rc, "current get");
        return s_cur_decode(&v, ret);
    }
    MDB_val k, v;
    int rc = s_chunk_seek(rd, plen, ~as_of, &k, &v);
    if (rc < 0)
        return rc;
    /* The decode below reads the header, then a directory entry, then a body, then the base row: each
     * address depends on the bytes before it. Ask for the value's lines at once so that their misses
     * overlap instead of following each other (the first DRIFT_INDEX_CHUNK_BYTES: a version bigger than a
     * chunk has one of its own, and only its row is read after its header). */
    for (size_t off = 0; off < v.mv_size && off < DRIFT_INDEX_CHUNK_BYTES; off += 64)
        __builtin_prefetch((const uint8_t *)v.mv_data + off);
    /* the chunk whose first version is the newest at or before as_of: decode its records up to as_of */
    s_cit_t c;
    if ((rc = s_cit_init(&c, &k, &v, &rd->row)) < 0 || (rc = s_cit_seek(&c, as_of)) < 0)
        return rc;
    if (rc == 0)
        return DRIFT_ECORRUPT; /* its first seq is <= as_of by the seek */
    rc = s_cit_ver(rd->ix, &c, ret);
    if (rc == 0 && ret->op == DRIFT_COP_DELETE)
        rc = DRIFT_ENOTFOUND;
    return rc;
}

int drift_index_last_write(drift_index_rd_t *rd, uint32_t table, const void *pk, size_t pk_len, uint64_t *ret_seq,
                           int *ret_op)
{
    if (pk_len == 0 || pk_len > DRIFT_INDEX_PK_MAX)
        return DRIFT_ENOTFOUND;
    size_t plen = s_point_key(rd, table, pk, pk_len);
    MDB_val k, v;
    int rc = s_chunk_seek(rd, plen, 0, &k, &v); /* ~UINT64_MAX: the newest chunk is the first key at or after it */
    if (rc < 0)
        return rc;
    s_cit_t c; /* the newest record of the newest chunk (rows skipped, not rebuilt) */
    if ((rc = s_cit_init(&c, &k, &v, NULL)) < 0 || (rc = s_cit_all(&c)) < 0)
        return rc;
    if (c.op == 0)
        return DRIFT_ECORRUPT;
    *ret_seq = c.seq;
    *ret_op = c.op;
    return 0;
}

int drift_index_history(drift_index_rd_t *rd, uint32_t table, const void *pk, size_t pk_len, drift_index_ver_fn fn,
                        void *arg)
{
    if (pk_len == 0 || pk_len > DRIFT_INDEX_PK_MAX)
        return DRIFT_ENOTFOUND;
    drift_keybuf_reset(&rd->k);
    s_kb_u32(&rd->k, table);
    drift_keybuf_raw(&rd->k, pk, pk_len);
    size_t plen = rd->k.len;
    s_kb_u64(&rd->k, UINT64_MAX);
    if (rd->k.oom)
        return -ENOMEM;
    /* Chunks are stored newest first: the oldest is just before table|pk|FF..FF; walk backwards. */
    MDB_val k = {rd->k.len, rd->k.buf}, v;
    int rc = mdb_cursor_get(rd->c_versions, &k, &v, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(rd->c_versions, &k, &v, MDB_LAST);
    else if (rc == 0)
        rc = mdb_cursor_get(rd->c_versions, &k, &v, MDB_PREV);
    int found = 0, drc = 0;
    drift_keybuf_t row = {0}; /* this call's own: fn may read through rd */
    while (rc == 0 && k.mv_size == plen + 8 && memcmp(k.mv_data, rd->k.buf, plen) == 0) {
        found = 1;
        s_cit_t c;
        if ((drc = s_cit_init(&c, &k, &v, &row)) < 0)
            goto out;
        /* the next chunk's first seq ends this chunk's last version */
        rc = mdb_cursor_get(rd->c_versions, &k, &v, MDB_PREV);
        if (rc && rc != MDB_NOTFOUND)
            break;
        uint64_t end = rc == 0 && k.mv_size == plen + 8 && memcmp(k.mv_data, rd->k.buf, plen) == 0
                           ? ~s_get_be64((const uint8_t *)k.mv_data + plen)
                           : DRIFT_INDEX_SEQ_LIVE;
        while ((drc = s_cit_next(&c)) == 1) {
            drift_index_ver_t ver;
            uint64_t next;
            if ((drc = s_cit_ver(rd->ix, &c, &ver)) < 0 || (drc = s_cit_peek(&c, &next)) < 0)
                goto out;
            ver.end_seq = ver.op == DRIFT_COP_DELETE ? ver.seq : drc == 1 ? next : end;
            if ((drc = fn(&ver, arg)) != 0)
                goto out;
        }
        if (drc < 0)
            goto out;
        if (rc == MDB_NOTFOUND)
            break;
    }
    if (rc && rc != MDB_NOTFOUND)
        drc = s_mdb(rd->ix, rc, "versions");
    else
        drc = found ? 0 : DRIFT_ENOTFOUND;
out:
    drift_keybuf_free(&row);
    return drc;
}

/* Sets up a key range [id|lo, id|hi) (hi absent: to the end of id's keys) and a cursor on db,
 * for the table and index scans. Returns 0, -ENOMEM or an LMDB error as -errno-style code. */
static int s_range_open(drift_index_rd_t *rd, MDB_dbi db, uint32_t id, const void *lo, size_t lo_len, const void *hi,
                        size_t hi_len, drift_keybuf_t *klo, drift_keybuf_t *khi, MDB_cursor **ret_c)
{
    s_kb_u32(klo, id);
    if (lo)
        drift_keybuf_raw(klo, lo, lo_len);
    s_kb_u32(khi, id);
    if (hi)
        drift_keybuf_raw(khi, hi, hi_len);
    else
        s_kb_u64(khi, UINT64_MAX); /* past every key under id (tags are < 0xFF) */
    int rc = s_mdb(rd->ix, mdb_cursor_open(rd->txn, db, ret_c), "cursor");
    if (rc < 0)
        return rc;
    return klo->oom || khi->oom ? -ENOMEM : 0;
}

/* Releases what s_range_open set up. */
static void s_range_close(MDB_cursor *c, drift_keybuf_t *klo, drift_keybuf_t *khi)
{
    if (c)
        mdb_cursor_close(c);
    drift_keybuf_free(klo);
    drift_keybuf_free(khi);
}

int drift_index_scan_open(drift_index_rd_t *rd, uint32_t table, const void *lo, size_t lo_len, const void *hi,
                          size_t hi_len, uint64_t as_of, drift_index_scan_t **ret)
{
    if (as_of != UINT64_MAX && as_of > rd->seq)
        return -EAGAIN;
    drift_index_scan_t *it = calloc(1, sizeof *it);
    if (!it)
        return -ENOMEM;
    it->rd = rd;
    it->table = table;
    it->as_of = as_of;
    it->use_current = as_of >= rd->seq;
    int rc = s_range_open(rd, it->use_current ? rd->ix->db_current : rd->ix->db_versions, table, lo, lo_len, hi,
                          hi_len, &it->lo, &it->hi, &it->c);
    if (rc < 0) {
        drift_index_scan_close(&it);
        return rc;
    }
    *ret = it;
    return 0;
}

void drift_index_scan_close(drift_index_scan_t **self_p)
{
    drift_index_scan_t *it = *self_p;
    if (!it)
        return;
    s_range_close(it->c, &it->lo, &it->hi);
    drift_keybuf_free(&it->seek);
    drift_keybuf_free(&it->row);
    free(it);
    *self_p = NULL;
}

uint64_t drift_index_scan_steps(const drift_index_scan_t *it)
{
    return it->steps;
}

/* memcmp order of a (an) vs b (bn), shorter first on ties. */
static int s_cmp(const void *a, size_t an, const void *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an < bn ? -1 : an > bn);
}

/* Positions the scan cursor at the first key >= key (len bytes). */
static int s_scan_seek(drift_index_scan_t *it, const void *key, size_t len, MDB_val *k, MDB_val *v)
{
    it->steps++;
    k->mv_size = len;
    k->mv_data = (void *)key;
    return mdb_cursor_get(it->c, k, v, MDB_SET_RANGE);
}

int drift_index_scan_next(drift_index_scan_t *it, const uint8_t **ret_pk, size_t *ret_pk_len, drift_index_ver_t *ret)
{
    MDB_val k, v;
    int rc;
    if (it->done)
        return 0;
    if (it->use_current) {
        if (!it->started) {
            it->started = 1;
            rc = s_scan_seek(it, it->lo.buf, it->lo.len, &k, &v);
        } else {
            it->steps++;
            rc = mdb_cursor_get(it->c, &k, &v, MDB_NEXT);
        }
        if (rc == 0 && k.mv_size > 4 && s_cmp(k.mv_data, k.mv_size, it->hi.buf, it->hi.len) < 0) {
            *ret_pk = (const uint8_t *)k.mv_data + 4;
            *ret_pk_len = k.mv_size - 4;
            return s_cur_decode(&v, ret) < 0 ? DRIFT_ECORRUPT : 1;
        }
        it->done = 1;
        return rc == 0 || rc == MDB_NOTFOUND ? 0 : s_mdb(it->rd->ix, rc, "scan");
    }
    /* versions: table|pk|~first_seq, newest chunk first within a pk */
    if (!it->started) {
        it->started = 1;
        rc = s_scan_seek(it, it->lo.buf, it->lo.len, &k, &v);
    } else
        rc = mdb_cursor_get(it->c, &k, &v, MDB_GET_CURRENT);
    int stepped = 0;
    for (;;) {
        if (rc || k.mv_size <= 12 || s_cmp(k.mv_data, k.mv_size - 8, it->hi.buf, it->hi.len) >= 0) {
            it->done = 1;
            return rc == 0 || rc == MDB_NOTFOUND ? 0 : s_mdb(it->rd->ix, rc, "scan");
        }
        const uint8_t *kp = k.mv_data;
        size_t plen = k.mv_size - 8;
        uint64_t seq = ~s_get_be64(kp + plen); /* the chunk's first */
        if (seq > it->as_of) {
            /* newer than the snapshot: step a few times, then seek to table|pk|~as_of */
            if (stepped < SCAN_STEPS) {
                stepped++;
                it->steps++;
                rc = mdb_cursor_get(it->c, &k, &v, MDB_NEXT);
                continue;
            }
            drift_keybuf_reset(&it->seek);
            drift_keybuf_raw(&it->seek, kp, plen);
            s_kb_u64(&it->seek, ~it->as_of);
            if (it->seek.oom)
                return -ENOMEM;
            rc = s_scan_seek(it, it->seek.buf, it->seek.len, &k, &v);
            stepped = 0;
            continue;
        }
        /* the visible version of this pk; remember where the next pk starts */
        drift_keybuf_reset(&it->seek);
        drift_keybuf_raw(&it->seek, kp, plen);
        s_kb_u64(&it->seek, UINT64_MAX);
        if (it->seek.oom)
            return -ENOMEM;
        drift_index_ver_t ver;
        s_cit_t c;
        if ((rc = s_cit_init(&c, &k, &v, &it->row)) < 0 || (rc = s_cit_seek(&c, it->as_of)) < 0)
            return rc;
        if (rc == 0)
            return DRIFT_ECORRUPT;
        int deleted = c.op == DRIFT_COP_DELETE;
        if (!deleted && (rc = s_cit_ver(it->rd->ix, &c, &ver)) < 0)
            return rc;
        /* move past this pk: a few steps, then a seek */
        int moved = 0;
        for (int i = 0; i < SCAN_STEPS && !moved; i++) {
            it->steps++;
            int r2 = mdb_cursor_get(it->c, &k, &v, MDB_NEXT);
            if (r2) {
                rc = r2;
                moved = 1;
            } else if (k.mv_size != plen + 8 || memcmp(k.mv_data, it->seek.buf, plen) != 0) {
                rc = 0;
                moved = 1;
            }
        }
        if (!moved)
            rc = s_scan_seek(it, it->seek.buf, it->seek.len, &k, &v);
        if (deleted) {
            stepped = 0;
            continue;
        }
        *ret = ver;
        *ret_pk = it->seek.buf + 4;
        *ret_pk_len = plen - 4;
        if (rc == MDB_NOTFOUND)
            it->done = 1;
        else if (rc)
            return s_mdb(it->rd->ix, rc, "scan");
        return 1;
    }
}

int drift_index_iscan_open(drift_index_rd_t *rd, uint32_t index_id, const void *lo, size_t lo_len, const void *hi,
                           size_t hi_len, uint64_t as_of, drift_index_iscan_t **ret)
{
    if (as_of != UINT64_MAX && as_of > rd->seq)
        return -EAGAIN;
    drift_index_iscan_t *it = calloc(1, sizeof *it);
    if (!it)
        return -ENOMEM;
    it->rd = rd;
    it->index_id = index_id;
    it->as_of = as_of;
    int rc = s_range_open(rd, rd->ix->db_idx, index_id, lo, lo_len, hi, hi_len, &it->lo, &it->hi, &it->c);
    if (rc < 0) {
        drift_index_iscan_close(&it);
        return rc;
    }
    *ret = it;
    return 0;
}

void drift_index_iscan_close(drift_index_iscan_t **self_p)
{
    drift_index_iscan_t *it = *self_p;
    if (!it)
        return;
    s_range_close(it->c, &it->lo, &it->hi);
    free(it);
    *self_p = NULL;
}

int drift_index_iscan_next(drift_index_iscan_t *it, const uint8_t **ret_pk, size_t *ret_pk_len,
                           const uint8_t **ret_vals, size_t *ret_vals_len, uint64_t *ret_seq_from, uint64_t *ret_seq_to,
                           int *ret_truncated)
{
    MDB_val k, v;
    int rc;
    for (;;) {
        if (!it->started) {
            it->started = 1;
            k = (MDB_val){it->lo.len, it->lo.buf};
            rc = mdb_cursor_get(it->c, &k, &v, MDB_SET_RANGE);
        } else
            rc = mdb_cursor_get(it->c, &k, &v, MDB_NEXT);
        if (rc == MDB_NOTFOUND)
            return 0;
        if (rc)
            return s_mdb(it->rd->ix, rc, "iscan");
        if (k.mv_size < 12 || s_cmp(k.mv_data, k.mv_size, it->hi.buf, it->hi.len) >= 0)
            return 0;
        if (v.mv_size != IDXV_LEN)
            return DRIFT_ECORRUPT;
        const uint8_t *kp = k.mv_data, *vp = v.mv_data;
        uint64_t from = ~s_get_be64(kp + k.mv_size - 8), to = s_get_be64(vp);
        size_t vl = (size_t)vp[9] << 8 | vp[10];
        if (4 + vl + 8 > k.mv_size)
            return DRIFT_ECORRUPT;
        if (from > it->as_of || (to <= it->as_of && to != DRIFT_INDEX_SEQ_LIVE))
            continue;
        *ret_vals = kp + 4;
        *ret_vals_len = vl;
        *ret_pk = kp + 4 + vl;
        *ret_pk_len = k.mv_size - 12 - vl;
        *ret_seq_from = from;
        *ret_seq_to = to;
        *ret_truncated = vp[8] & IDXF_TRUNC;
        return 1;
    }
}

int drift_index_unique_holder(drift_index_rd_t *rd, uint32_t index_id, const void *vals, size_t vals_len,
                              const void *pk, size_t pk_len, const uint8_t **ret_pk, size_t *ret_pk_len)
{
    drift_keybuf_t hi = {0};
    drift_keybuf_raw(&hi, vals, vals_len);
    uint8_t ff = 0xFF;
    drift_keybuf_raw(&hi, &ff, 1);
    drift_index_iscan_t *it;
    int rc = hi.oom ? -ENOMEM : drift_index_iscan_open(rd, index_id, vals, vals_len, hi.buf, hi.len, UINT64_MAX, &it);
    drift_keybuf_free(&hi);
    if (rc < 0)
        return rc;
    const uint8_t *p, *vp;
    size_t pl, vl;
    uint64_t from, to;
    int trunc;
    while ((rc = drift_index_iscan_next(it, &p, &pl, &vp, &vl, &from, &to, &trunc)) == 1) {
        if (to != DRIFT_INDEX_SEQ_LIVE || trunc || vl != vals_len || (pl == pk_len && memcmp(p, pk, pl) == 0))
            continue;
        *ret_pk = p;
        *ret_pk_len = pl;
        break;
    }
    drift_index_iscan_close(&it);
    return rc;
}

int drift_index_seq_at(drift_index_rd_t *rd, uint64_t ts_ns, uint64_t *ret_seq)
{
    MDB_cursor *c;
    int rc = s_mdb(rd->ix, mdb_cursor_open(rd->txn, rd->ix->db_time, &c), "cursor");
    if (rc < 0)
        return rc;
    uint8_t kb[8];
    MDB_val k = {8, kb}, v;
    if (ts_ns == UINT64_MAX)
        rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    else {
        s_be64(kb, ts_ns + 1);
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        rc = rc == 0 ? mdb_cursor_get(c, &k, &v, MDB_PREV) : mdb_cursor_get(c, &k, &v, MDB_LAST);
    }
    *ret_seq = 0;
    if (rc == 0 && k.mv_size == 8 && v.mv_size == 8 && s_get_be64(k.mv_data) <= ts_ns)
        *ret_seq = s_get_be64(v.mv_data);
    mdb_cursor_close(c);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : s_mdb(rd->ix, rc, "time");
}

int drift_index_table_def(drift_index_rd_t *rd, uint32_t table, uint64_t as_of, drift_index_tdef_t **ret)
{
    uint8_t kb[13];
    kb[0] = CAT_TABLE;
    s_be32(kb + 1, table);
    s_be64(kb + 5, ~as_of);
    MDB_cursor *c;
    int rc = s_mdb(rd->ix, mdb_cursor_open(rd->txn, rd->ix->db_catalog, &c), "cursor");
    if (rc < 0)
        return rc;
    MDB_val k = {13, kb}, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    if (rc == 0 && (k.mv_size != 13 || memcmp(k.mv_data, kb, 5) != 0 || v.mv_size <= 4))
        rc = MDB_NOTFOUND; /* no definition then, or dropped */
    if (rc == 0) {
        char err[200];
        rc = drift_index_tdef_parse((const uint8_t *)v.mv_data + 4, v.mv_size - 4, table, ret, err, sizeof err);
        if (rc < 0)
            rc = DRIFT_ECORRUPT;
    } else
        rc = s_mdb(rd->ix, rc, "catalog");
    mdb_cursor_close(c);
    return rc;
}

int drift_index_table_def_ver(drift_index_rd_t *rd, uint32_t table, uint32_t version, drift_index_tdef_t **ret)
{
    uint8_t kb[9];
    kb[0] = CAT_VER;
    s_be32(kb + 1, table);
    s_be32(kb + 5, version);
    MDB_val k = {9, kb}, v;
    int rc = mdb_get(rd->txn, rd->ix->db_catalog, &k, &v);
    if (rc)
        return s_mdb(rd->ix, rc, "catalog");
    char err[200];
    return drift_index_tdef_parse(v.mv_data, v.mv_size, table, ret, err, sizeof err) < 0 ? DRIFT_ECORRUPT : 0;
}

int drift_index_table_by_name(drift_index_rd_t *rd, const char *name, uint64_t as_of, uint32_t *ret_table)
{
    drift_keybuf_reset(&rd->k);
    uint8_t t = CAT_NAME;
    drift_keybuf_raw(&rd->k, &t, 1);
    drift_keyenc_text(&rd->k, name, strlen(name));
    size_t plen = rd->k.len;
    s_kb_u64(&rd->k, ~as_of);
    if (rd->k.oom)
        return -ENOMEM;
    MDB_cursor *c;
    int rc = s_mdb(rd->ix, mdb_cursor_open(rd->txn, rd->ix->db_catalog, &c), "cursor");
    if (rc < 0)
        return rc;
    MDB_val k = {rd->k.len, rd->k.buf}, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    if (rc == 0 && (k.mv_size != plen + 8 || memcmp(k.mv_data, rd->k.buf, plen) != 0 || v.mv_size != 4 ||
                    (*ret_table = s_get_be32(v.mv_data)) == 0))
        rc = MDB_NOTFOUND;
    mdb_cursor_close(c);
    return s_mdb(rd->ix, rc, "catalog");
}

/* ------------------------------------------- catalog and history reads (SQL engine) */

/* The catalog 'T' entry of table in force at as_of: its value (version(4) ‖ TABLEDEF). */
static int s_def_entry(drift_index_rd_t *rd, uint32_t table, uint64_t as_of, MDB_val *ret)
{
    uint8_t kb[13];
    kb[0] = CAT_TABLE;
    s_be32(kb + 1, table);
    s_be64(kb + 5, ~as_of);
    MDB_cursor *c;
    int rc = s_mdb(rd->ix, mdb_cursor_open(rd->txn, rd->ix->db_catalog, &c), "cursor");
    if (rc < 0)
        return rc;
    MDB_val k = {13, kb};
    rc = mdb_cursor_get(c, &k, ret, MDB_SET_RANGE);
    if (rc == 0 && (k.mv_size != 13 || memcmp(k.mv_data, kb, 5) != 0 || ret->mv_size <= 4))
        rc = MDB_NOTFOUND; /* no definition then, or dropped */
    mdb_cursor_close(c);
    return s_mdb(rd->ix, rc, "catalog");
}

int drift_index_table_def_raw(drift_index_rd_t *rd, uint32_t table, uint64_t as_of, const uint8_t **ret,
                              size_t *ret_len)
{
    MDB_val v;
    int rc = s_def_entry(rd, table, as_of, &v);
    if (rc < 0)
        return rc;
    *ret = (const uint8_t *)v.mv_data + 4;
    *ret_len = v.mv_size - 4;
    return 0;
}

int drift_index_table_def_ver_raw(drift_index_rd_t *rd, uint32_t table, uint32_t version, const uint8_t **ret,
                                  size_t *ret_len)
{
    uint8_t kb[9];
    kb[0] = CAT_VER;
    s_be32(kb + 1, table);
    s_be32(kb + 5, version);
    MDB_val k = {9, kb}, v;
    int rc = mdb_get(rd->txn, rd->ix->db_catalog, &k, &v);
    if (rc)
        return s_mdb(rd->ix, rc, "catalog");
    *ret = v.mv_data;
    *ret_len = v.mv_size;
    return 0;
}

/* The slot of key in the max-ids cache (its own or the empty one where it would go). */
static size_t s_mi_slot(const drift_index_t *ix, uint64_t key)
{
    uint64_t h = key * 0x9e3779b97f4a7c15ull;
    size_t i = (size_t)(h >> 20) & (ix->mi_cap - 1);
    while (ix->mi_keys[i] && ix->mi_keys[i] != key)
        i = (i + 1) & (ix->mi_cap - 1);
    return i;
}

/* Remembers the highest index id of a definition (best effort: a failed allocation only costs a re-parse). */
static void s_mi_put(drift_index_t *ix, uint64_t key, uint32_t val)
{
    if ((ix->mi_n + 1) * 2 > ix->mi_cap) {
        size_t cap = ix->mi_cap ? ix->mi_cap * 2 : 256;
        uint64_t *ok = ix->mi_keys;
        uint32_t *ov = ix->mi_vals;
        size_t ocap = ix->mi_cap;
        ix->mi_keys = calloc(cap, sizeof *ix->mi_keys);
        ix->mi_vals = calloc(cap, sizeof *ix->mi_vals);
        if (!ix->mi_keys || !ix->mi_vals) {
            free(ix->mi_keys);
            free(ix->mi_vals);
            ix->mi_keys = ok;
            ix->mi_vals = ov;
            return;
        }
        ix->mi_cap = cap;
        ix->mi_n = 0;
        for (size_t i = 0; i < ocap; i++)
            if (ok[i]) {
                size_t j = s_mi_slot(ix, ok[i]);
                ix->mi_keys[j] = ok[i];
                ix->mi_vals[j] = ov[i];
                ix->mi_n++;
            }
        free(ok);
        free(ov);
    }
    size_t j = s_mi_slot(ix, key);
    if (!ix->mi_keys[j])
        ix->mi_n++;
    ix->mi_keys[j] = key;
    ix->mi_vals[j] = val;
}

int drift_index_catalog_max_ids(drift_index_rd_t *rd, uint32_t *ret_table, uint32_t *ret_index)
{
    *ret_table = *ret_index = 0;
    MDB_cursor *c;
    int rc = s_mdb(rd->ix, mdb_cursor_open(rd->txn, rd->ix->db_catalog, &c), "cursor");
    if (rc < 0)
        return rc;
    uint8_t kb[1] = {CAT_VER};
    MDB_val k = {1, kb}, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        const uint8_t *kp = k.mv_data;
        if (k.mv_size != 9 || kp[0] != CAT_VER)
            break;
        uint32_t table = s_get_be32(kp + 1);
        if (table > *ret_table)
            *ret_table = table;
        uint64_t key = (uint64_t)table << 32 | s_get_be32(kp + 5);
        uint32_t mx = 0;
        size_t slot = rd->ix->mi_cap ? s_mi_slot(rd->ix, key) : 0;
        if (rd->ix->mi_cap && rd->ix->mi_keys[slot] == key)
            mx = rd->ix->mi_vals[slot];
        else {
            drift_index_tdef_t *d;
            char err[160];
            if (drift_index_tdef_parse(v.mv_data, v.mv_size, table, &d, err, sizeof err) < 0)
                continue;
            for (uint32_t i = 0; i < d->nidx; i++)
                if (d->idx[i].id > mx)
                    mx = d->idx[i].id;
            drift_index_tdef_destroy(&d);
            s_mi_put(rd->ix, key, mx);
        }
        if (mx > *ret_index)
            *ret_index = mx;
    }
    mdb_cursor_close(c);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : s_mdb(rd->ix, rc, "catalog");
}

int drift_index_table_names(drift_index_rd_t *rd, uint64_t as_of, int (*fn)(const char *name, uint32_t table,
                                                                            void *arg),
                            void *arg)
{
    MDB_cursor *c;
    int rc = s_mdb(rd->ix, mdb_cursor_open(rd->txn, rd->ix->db_catalog, &c), "cursor");
    if (rc < 0)
        return rc;
    uint8_t kb[1] = {CAT_NAME};
    MDB_val k = {1, kb}, v;
    drift_keybuf_t done = {0}; /* the name group already decided */
    int have_done = 0, frc = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        const uint8_t *kp = k.mv_data;
        if (k.mv_size < 10 || kp[0] != CAT_NAME)
            break;
        size_t glen = k.mv_size - 9; /* enc(name) */
        if (have_done && done.len == glen && memcmp(done.buf, kp + 1, glen) == 0)
            continue;
        uint64_t seq = ~s_get_be64(kp + 1 + glen);
        if (seq > as_of)
            continue;
        drift_keybuf_reset(&done);
        drift_keybuf_raw(&done, kp + 1, glen);
        have_done = 1;
        if (v.mv_size != 4 || s_get_be32(v.mv_data) == 0)
            continue;
        uint8_t scratch[256];
        const uint8_t *q = kp + 1;
        size_t avail = glen;
        drift_keyval_t kv;
        if (drift_keyenc_decode(&q, &avail, &kv, scratch, sizeof scratch - 1) < 0 || kv.type != DRIFT_COL_TEXT)
            continue;
        char name[256];
        memcpy(name, kv.p, kv.n);
        name[kv.n] = 0;
        if ((frc = fn(name, s_get_be32(v.mv_data), arg)) != 0)
            break;
    }
    mdb_cursor_close(c);
    drift_keybuf_free(&done);
    if (frc)
        return frc;
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : s_mdb(rd->ix, rc, "catalog");
}

int drift_index_max_table_id(drift_index_rd_t *rd, uint32_t *ret)
{
    *ret = 0;
    MDB_cursor *c;
    int rc = s_mdb(rd->ix, mdb_cursor_open(rd->txn, rd->ix->db_catalog, &c), "cursor");
    if (rc < 0)
        return rc;
    uint8_t kb[1] = {CAT_TABLE + 1};
    MDB_val k = {1, kb}, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    rc = rc == 0 ? mdb_cursor_get(c, &k, &v, MDB_PREV) : mdb_cursor_get(c, &k, &v, MDB_LAST);
    if (rc == 0 && k.mv_size == 13 && ((const uint8_t *)k.mv_data)[0] == CAT_TABLE)
        *ret = s_get_be32((const uint8_t *)k.mv_data + 1);
    mdb_cursor_close(c);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : s_mdb(rd->ix, rc, "catalog");
}

int drift_index_current_count(drift_index_rd_t *rd, uint64_t *ret)
{
    MDB_stat st;
    int rc = mdb_stat(rd->txn, rd->ix->db_current, &st);
    if (rc)
        return s_mdb(rd->ix, rc, "stat");
    *ret = st.ms_entries;
    return 0;
}

/* One version of the pk a versions scan is on: the decoder's state on its record (pointing into the chunk,
 * which stays mapped for the read transaction). */
typedef struct {
    s_cit_t rec;
} s_vver_t;

struct drift_index_vscan {
    drift_index_rd_t *rd;
    MDB_cursor *c;
    drift_keybuf_t lo, hi, pk;
    int started, pending, done; /* pending: the cursor is on an entry not consumed yet */
    s_vver_t *vals;             /* the current pk's versions, newest first */
    drift_keybuf_t tmp;         /* the row returned last, when rebuilt */
    size_t n, cap, emit; /* emit: versions of the current pk not returned yet (returned oldest first) */
    uint64_t steps;
};

int drift_index_vscan_open(drift_index_rd_t *rd, uint32_t table, const void *lo, size_t lo_len, const void *hi,
                           size_t hi_len, drift_index_vscan_t **ret)
{
    drift_index_vscan_t *it = calloc(1, sizeof *it);
    if (!it)
        return -ENOMEM;
    it->rd = rd;
    int rc = s_range_open(rd, rd->ix->db_versions, table, lo, lo_len, hi, hi_len, &it->lo, &it->hi, &it->c);
    if (rc < 0) {
        drift_index_vscan_close(&it);
        return rc;
    }
    *ret = it;
    return 0;
}

void drift_index_vscan_close(drift_index_vscan_t **self_p)
{
    drift_index_vscan_t *it = *self_p;
    if (!it)
        return;
    s_range_close(it->c, &it->lo, &it->hi);
    drift_keybuf_free(&it->pk);
    drift_keybuf_free(&it->tmp);
    free(it->vals);
    free(it);
    *self_p = NULL;
}

uint64_t drift_index_vscan_steps(const drift_index_vscan_t *it)
{
    return it->steps;
}

/* Room for one more version in it->vals. */
static int s_vscan_grow(drift_index_vscan_t *it)
{
    if (it->n < it->cap)
        return 0;
    size_t cap = it->cap ? 2 * it->cap : 16;
    s_vver_t *nv = realloc(it->vals, cap * sizeof *nv);
    if (!nv)
        return -ENOMEM;
    it->vals = nv;
    it->cap = cap;
    return 0;
}

/* Reads every version of the next pk into it->vals (newest first; chunk by chunk). Returns 1, 0 at the end,
 * or an error. */
static int s_vscan_load(drift_index_vscan_t *it)
{
    MDB_val k, v;
    int rc;
    it->n = 0;
    if (it->done)
        return 0;
    if (!it->started) {
        it->started = 1;
        it->steps++;
        k = (MDB_val){it->lo.len, it->lo.buf};
        rc = mdb_cursor_get(it->c, &k, &v, MDB_SET_RANGE);
    } else if (it->pending) {
        rc = mdb_cursor_get(it->c, &k, &v, MDB_GET_CURRENT);
    } else {
        it->done = 1;
        return 0;
    }
    it->pending = 0;
    size_t plen = 0;
    for (; rc == 0; it->steps++, rc = mdb_cursor_get(it->c, &k, &v, MDB_NEXT)) {
        if (k.mv_size <= 12 || s_cmp(k.mv_data, k.mv_size - 8, it->hi.buf, it->hi.len) >= 0)
            break;
        if (it->n == 0) {
            plen = k.mv_size - 8;
            drift_keybuf_reset(&it->pk);
            drift_keybuf_raw(&it->pk, k.mv_data, plen);
            if (it->pk.oom)
                return -ENOMEM;
        } else if (k.mv_size - 8 != plen || memcmp(k.mv_data, it->pk.buf, plen) != 0) {
            it->pending = 1; /* the first version of the next pk */
            return 1;
        }
        s_cit_t c;
        if ((rc = s_cit_init(&c, &k, &v, &it->tmp)) < 0)
            return rc;
        it->steps += c.n - 1; /* steps count the versions read (one cursor step per chunk) */
        size_t n0 = it->n;
        while ((rc = s_cit_next(&c)) == 1) { /* oldest first; the chunk's run is reversed below */
            if ((rc = s_vscan_grow(it)) < 0)
                return rc;
            it->vals[it->n++].rec = c;
        }
        if (rc < 0)
            return rc;
        for (size_t i = n0, j = it->n; i + 1 < j; i++, j--) { /* newest first, as the chunks come */
            s_vver_t t = it->vals[i];
            it->vals[i] = it->vals[j - 1];
            it->vals[j - 1] = t;
        }
    }
    if (rc && rc != MDB_NOTFOUND)
        return s_mdb(it->rd->ix, rc, "vscan");
    it->done = 1;
    return it->n > 0;
}

int drift_index_vscan_next(drift_index_vscan_t *it, const uint8_t **ret_pk, size_t *ret_pk_len, drift_index_ver_t *ret)
{
    if (it->emit == 0) {
        int rc = s_vscan_load(it);
        if (rc <= 0)
            return rc;
        it->emit = it->n;
    }
    size_t i = --it->emit;
    s_vver_t *w = &it->vals[i];
    int rc = s_cit_ver(it->rd->ix, &w->rec, ret);
    if (rc < 0)
        return rc;
    uint64_t seq = w->rec.seq;
    ret->end_seq = ret->op == DRIFT_COP_DELETE ? seq : i > 0 ? it->vals[i - 1].rec.seq : DRIFT_INDEX_SEQ_LIVE;
    *ret_pk = it->pk.buf + 4;
    *ret_pk_len = it->pk.len - 4;
    return 1;
}

int drift_index_wait(const drift_ctl_header_t *hdr, uint64_t seq, int timeout_ms)
{
    uint64_t deadline = drift_now_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
    long nap = 20000; /* 20 µs, doubling to 1 ms */
    while (atomic_load_explicit(&hdr->indexed_seq, memory_order_acquire) < seq) {
        if (drift_now_mono_ns() >= deadline)
            return -ETIMEDOUT;
        struct timespec ts = {0, nap};
        nanosleep(&ts, NULL);
        if (nap < 1000000)
            nap *= 2;
    }
    return 0;
}

/* ------------------------------------------------- rebuild and compare */

/* Opens index_dir as the writer and applies the log from its applied seq + 1 to upto (0 = the end);
 * when must_be_empty, refuses an index that already holds something. */
static int s_build(const char *index_dir, const char *log_dir, uint64_t upto, uint64_t map_size, int must_be_empty,
                   drift_index_progress_fn fn, void *arg, char *err, size_t errcap);

int drift_index_rebuild(const char *index_dir, const char *log_dir, uint64_t upto, uint64_t map_size,
                        drift_index_progress_fn fn, void *arg, char *err, size_t errcap)
{
    return s_build(index_dir, log_dir, upto, map_size, 1, fn, arg, err, errcap);
}

int drift_index_build(const char *index_dir, const char *log_dir, uint64_t upto, uint64_t map_size,
                      drift_index_progress_fn fn, void *arg, char *err, size_t errcap)
{
    return s_build(index_dir, log_dir, upto, map_size, 0, fn, arg, err, errcap);
}

static int s_build(const char *index_dir, const char *log_dir, uint64_t upto, uint64_t map_size, int must_be_empty,
                   drift_index_progress_fn fn, void *arg, char *err, size_t errcap)
{
    drift_index_opts_t o = {.map_size = map_size, .sync = 2};
    drift_index_t *ix = NULL;
    drift_logr_t *lr = NULL;
    uint64_t last = upto, applied;
    drift_frame_t f;
    drift_logr_pos_t pos;
    int rc = drift_index_open(index_dir, log_dir, NULL, &o, &ix);
    if (rc < 0) {
        snprintf(err, errcap, "%s: %s", index_dir, drift_strerror(rc));
        goto out;
    }
    drift_index_applied(ix, &applied, NULL);
    if (applied && must_be_empty) {
        snprintf(err, errcap, "%s already holds an index (applied seq %" PRIu64 ")", index_dir, applied);
        rc = -EEXIST;
        goto out;
    }
    if (upto && applied >= upto) {
        rc = applied == upto ? 0 : -ERANGE;
        snprintf(err, errcap, "%s is at seq %" PRIu64 ", past %" PRIu64, index_dir, applied, upto);
        goto out;
    }
    if ((rc = drift_logr_open(log_dir, NULL, &lr)) < 0 || (rc = drift_logr_seek(lr, applied + 1)) < 0) {
        snprintf(err, errcap, "%s: %s", log_dir, drift_strerror(rc));
        goto out;
    }
    if (!last) { /* a first pass finds the end (cheap: CRCs only) for the progress display */
        while ((rc = drift_logr_next(lr, &f, NULL)) == 1)
            last = f.seq;
        if (rc < 0 || (rc = drift_logr_seek(lr, applied + 1)) < 0) {
            snprintf(err, errcap, "%s", drift_logr_error(lr));
            goto out;
        }
    }
    uint64_t n = applied, batch_max = 20000;
    for (;;) {
        if ((rc = drift_index_begin(ix)) < 0)
            break;
        int more = 0;
        uint64_t in_batch = 0;
        while (n < last && (rc = drift_logr_next(lr, &f, &pos)) == 1) {
            if (f.seq > last)
                break;
            if ((rc = drift_index_apply(ix, &f, pos)) < 0)
                break;
            n = f.seq;
            if (++in_batch >= batch_max) {
                more = 1;
                break;
            }
        }
        /* (the commit applies the queued secondary-index writes: it can find the map full too) */
        if (rc >= 0 && (rc = drift_index_commit(ix)) < 0 && rc != DRIFT_EFULL && rc != DRIFT_ETOOBIG) {
            snprintf(err, errcap, "commit: %s", drift_index_error(ix));
            goto out;
        }
        if (rc < 0) {
            drift_index_abort(ix);
            uint64_t a;
            drift_index_applied(ix, &a, NULL);
            int retry = 0;
            if (rc == DRIFT_EFULL)
                retry = drift_index_grow(ix) == 0;
            else if (rc == DRIFT_ETOOBIG && in_batch > 0)
                retry = (batch_max = in_batch / 2 ? in_batch / 2 : 1) > 0;
            if (retry) {
                n = a;
                if ((rc = drift_logr_seek(lr, n + 1)) == 0)
                    continue;
            }
            snprintf(err, errcap, "seq %" PRIu64 ": %s: %s", n + 1, drift_strerror(rc),
                     rc == DRIFT_ECORRUPT || rc == DRIFT_ECHAIN ? drift_logr_error(lr) : drift_index_error(ix));
            goto out;
        }
        if (fn && fn(n, last, arg) != 0) {
            rc = -ECANCELED;
            snprintf(err, errcap, "cancelled");
            goto out;
        }
        if (!more)
            break;
    }
    if (rc >= 0 && upto && n < upto) {
        snprintf(err, errcap, "the log ends at seq %" PRIu64 ", before %" PRIu64, n, upto);
        rc = DRIFT_ENOTFOUND;
        goto out;
    }
    if (rc >= 0)
        rc = drift_index_sync(ix);
out:
    drift_logr_close(&lr);
    drift_index_close(&ix);
    return rc < 0 ? rc : 0;
}

long drift_index_compare(drift_index_t *a, drift_index_t *b, drift_index_diff_fn fn, void *arg)
{
    MDB_txn *ta = NULL, *tb = NULL;
    long diffs = 0;
    int rc = s_rdtxn(a, &ta);
    if (rc == 0)
        rc = s_rdtxn(b, &tb);
    uint64_t sa = 0, sb = 0, ts;
    uint32_t fa, fb;
    if (rc == 0 && (rc = s_meta_read(a, ta, &sa, &ts, &fa)) == 0 && (rc = s_meta_read(b, tb, &sb, &ts, &fb)) == 0 &&
        sa != sb) {
        snprintf(a->err, sizeof a->err, "applied seqs differ: %" PRIu64 " and %" PRIu64, sa, sb);
        rc = -EAGAIN;
    }
    struct {
        const char *name;
        MDB_dbi da, db;
    } dbs[] = {{"catalog", a->db_catalog, b->db_catalog},
               {"current", a->db_current, b->db_current},
               {"versions", a->db_versions, b->db_versions},
               {"idx", a->db_idx, b->db_idx},
               {"time", a->db_time, b->db_time}};
    for (size_t i = 0; rc == 0 && i < sizeof dbs / sizeof dbs[0]; i++) {
        MDB_cursor *ca = NULL, *cb = NULL;
        if ((rc = s_mdb(a, mdb_cursor_open(ta, dbs[i].da, &ca), "cursor")) < 0 ||
            (rc = s_mdb(b, mdb_cursor_open(tb, dbs[i].db, &cb), "cursor")) < 0) {
            if (ca)
                mdb_cursor_close(ca);
            break;
        }
        MDB_val ka, va, kb, vb;
        int ra = mdb_cursor_get(ca, &ka, &va, MDB_FIRST), rb = mdb_cursor_get(cb, &kb, &vb, MDB_FIRST);
        while (ra == 0 || rb == 0) {
            int c = ra ? 1 : rb ? -1 : s_cmp(ka.mv_data, ka.mv_size, kb.mv_data, kb.mv_size);
            char what[200];
            const MDB_val *key = c <= 0 ? &ka : &kb;
            char hex[65];
            size_t hn = key->mv_size < 32 ? key->mv_size : 32;
            for (size_t j = 0; j < hn; j++)
                snprintf(hex + 2 * j, 3, "%02x", ((const uint8_t *)key->mv_data)[j]);
            hex[2 * hn] = 0;
            if (c == 0) {
                if (s_cmp(va.mv_data, va.mv_size, vb.mv_data, vb.mv_size) != 0) {
                    snprintf(what, sizeof what, "key %s%s: values differ", hex, key->mv_size > 32 ? "…" : "");
                    diffs++;
                    if (fn)
                        fn(dbs[i].name, what, arg);
                }
                ra = mdb_cursor_get(ca, &ka, &va, MDB_NEXT);
                rb = mdb_cursor_get(cb, &kb, &vb, MDB_NEXT);
            } else {
                snprintf(what, sizeof what, "key %s%s: only in the %s", hex, key->mv_size > 32 ? "…" : "",
                         c < 0 ? "first" : "second");
                diffs++;
                if (fn)
                    fn(dbs[i].name, what, arg);
                if (c < 0)
                    ra = mdb_cursor_get(ca, &ka, &va, MDB_NEXT);
                else
                    rb = mdb_cursor_get(cb, &kb, &vb, MDB_NEXT);
            }
        }
        mdb_cursor_close(ca);
        mdb_cursor_close(cb);
        if ((ra && ra != MDB_NOTFOUND) || (rb && rb != MDB_NOTFOUND))
            rc = DRIFT_ECORRUPT;
    }
    if (ta)
        mdb_txn_abort(ta);
    if (tb)
        mdb_txn_abort(tb);
    return rc < 0 ? rc : diffs;
}
