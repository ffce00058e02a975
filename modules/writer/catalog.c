/* modules/writer/catalog.c — see catalog.h. Single-threaded (the writer's
 * event-loop thread); the LMDB index is read through read-only snapshots and
 * the log through a read-only reader.
 *
 * Data structures:
 *  - tables: a hash id -> wtab (definition history, current definition, the
 *    generation of each unique index: the seq of the DDL that made it unique —
 *    the LMDB snapshot knows the index only once it has applied that seq);
 *  - tail: a hash of nodes keyed (kind, id, gen, bytes): ROW nodes (table,
 *    pk) -> row bytes / deleted, VAL nodes (index, gen, values) -> holder pk /
 *    freed. Each key's newest node is in the hash; every node is also on a
 *    FIFO in seq order, so nodes the LMDB snapshot covers are dropped from the
 *    front when it advances. A transaction's nodes are the FIFO's end: undo
 *    pops them (putting back the nodes they replaced), commit frees the
 *    replaced nodes;
 *  - DDL changes of the transaction: an undo list of table states. */
#include "modules/writer/catalog.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/errors.h"
#include "common/log.h"
#include "ipc/msg.h"
#include "shm/index.h"
#include "shm/keyenc.h"
#include "shm/logreader.h"

enum { K_ROW = 0, K_VAL = 1 };

typedef struct tnode {
    struct tnode *hnext, *fprev, *fnext, *replaced;
    uint64_t hash, seq, gen;
    uint32_t id, ver;
    uint32_t klen, dlen;
    uint8_t kind, live, in_hash, txn;
    uint8_t data[]; /* key, then data (row bytes / holder pk) */
} tnode_t;

typedef struct {
    tnode_t **b;
    size_t nb, count, bytes;
    tnode_t *head, *tail; /* FIFO, seq order */
    tnode_t *txn_first;   /* first node of the open transaction */
    int temp;             /* scratch map: a replaced node is freed at once */
} tmap_t;

typedef struct {
    uint32_t version; /* 0 = dropped */
    uint64_t seq;
    drift_index_tdef_t *def;
} hist_t;

typedef struct wtab {
    struct wtab *next;
    uint32_t id;
    hist_t *hist;
    size_t nhist, caphist;
    drift_index_tdef_t *cur; /* NULL: unknown or dropped */
    int dropped;
    uint64_t *ugen; /* per cur->idx: generation of a unique index, 0 otherwise */
    uint32_t nuniq;
} wtab_t;

typedef struct {
    wtab_t *t;
    drift_index_tdef_t *old_cur;
    int old_dropped;
    uint64_t *old_ugen;
    uint32_t old_nuniq;
    size_t old_nhist;
} dundo_t;

struct drift_wcat {
    char index_dir[PATH_MAX], log_dir[PATH_MAX];
    const drift_ctl_header_t *hdr;
    wtab_t **tb;
    size_t ntb, ntables;
    dundo_t *du;
    size_t ndu, capdu;
    tmap_t tail;
    drift_index_t *ix;
    drift_index_rd_t *rd;
    uint64_t base, base_ts;
    int index_state; /* 0 none, 1 in use, 2 refused */
    int base_checked;
    drift_logr_t *lr;
    drift_keybuf_t kb_old, kb_new, kb_tmp, rowcopy;
    msgpack_sbuffer sb;
};

/* ------------------------------------------------------------ tail map */

static uint64_t s_hash(uint8_t kind, uint32_t id, uint64_t gen, const uint8_t *key, uint32_t klen)
{
    uint64_t h = 0xcbf29ce484222325ull;
    h = (h ^ kind) * 0x100000001b3ull;
    h = (h ^ id) * 0x100000001b3ull;
    h = (h ^ gen) * 0x100000001b3ull;
    for (uint32_t i = 0; i < klen; i++)
        h = (h ^ key[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static int s_tmap_init(tmap_t *m, int temp)
{
    memset(m, 0, sizeof *m);
    m->temp = temp;
    m->nb = 64;
    m->b = calloc(m->nb, sizeof *m->b);
    return m->b ? 0 : -ENOMEM;
}

static void s_tmap_free(tmap_t *m)
{
    tnode_t *n = m->head;
    while (n) {
        tnode_t *x = n->fnext;
        free(n);
        n = x;
    }
    free(m->b);
    memset(m, 0, sizeof *m);
}

/* The newest node of a key, or NULL. */
static tnode_t *s_tfind(const tmap_t *m, uint8_t kind, uint32_t id, uint64_t gen, const void *key, size_t klen)
{
    uint64_t h = s_hash(kind, id, gen, key, (uint32_t)klen);
    for (tnode_t *n = m->b[h & (m->nb - 1)]; n; n = n->hnext)
        if (n->hash == h && n->kind == kind && n->id == id && n->gen == gen && n->klen == klen &&
            memcmp(n->data, key, klen) == 0)
            return n;
    return NULL;
}

/* Takes n out of its hash chain. */
static void s_tunhash(tmap_t *m, tnode_t *n)
{
    tnode_t **pp = &m->b[n->hash & (m->nb - 1)];
    while (*pp && *pp != n)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = n->hnext;
    n->hnext = NULL;
    n->in_hash = 0;
}

static void s_thash(tmap_t *m, tnode_t *n)
{
    size_t i = n->hash & (m->nb - 1);
    n->hnext = m->b[i];
    m->b[i] = n;
    n->in_hash = 1;
}

/* Takes n off the FIFO and frees it (it must be out of the hash). */
static void s_tdrop(tmap_t *m, tnode_t *n)
{
    if (n->fprev)
        n->fprev->fnext = n->fnext;
    else
        m->head = n->fnext;
    if (n->fnext)
        n->fnext->fprev = n->fprev;
    else
        m->tail = n->fprev;
    if (m->txn_first == n)
        m->txn_first = n->fnext;
    m->count--;
    m->bytes -= sizeof *n + n->klen + n->dlen;
    free(n);
}

/* Doubles the buckets (kept as they are on ENOMEM). */
static void s_tgrow(tmap_t *m)
{
    size_t nb = m->nb * 2;
    tnode_t **b = calloc(nb, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < m->nb; i++)
        for (tnode_t *n = m->b[i], *x; n; n = x) {
            x = n->hnext;
            n->hnext = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
        }
    free(m->b);
    m->b = b;
    m->nb = nb;
}

/* Records a new state of a key at seq (the previous node is kept for undo). NULL on ENOMEM. */
static tnode_t *s_tput(tmap_t *m, uint8_t kind, uint32_t id, uint64_t gen, const void *key, size_t klen, uint64_t seq,
                       int live, uint32_t ver, const void *data, size_t dlen)
{
    tnode_t *n = calloc(1, sizeof *n + klen + dlen);
    if (!n)
        return NULL;
    n->hash = s_hash(kind, id, gen, key, (uint32_t)klen);
    n->kind = kind;
    n->id = id;
    n->gen = gen;
    n->seq = seq;
    n->live = (uint8_t)live;
    n->ver = ver;
    n->klen = (uint32_t)klen;
    n->dlen = (uint32_t)dlen;
    memcpy(n->data, key, klen);
    if (dlen)
        memcpy(n->data + klen, data, dlen);
    tnode_t *old = s_tfind(m, kind, id, gen, key, klen);
    if (old) {
        s_tunhash(m, old);
        if (m->temp)
            s_tdrop(m, old);
        else
            n->replaced = old;
    }
    s_thash(m, n);
    n->fprev = m->tail;
    if (m->tail)
        m->tail->fnext = n;
    else
        m->head = n;
    m->tail = n;
    if (!m->temp) {
        n->txn = 1;
        if (!m->txn_first)
            m->txn_first = n;
    }
    m->count++;
    m->bytes += sizeof *n + klen + dlen;
    if (m->count > m->nb)
        s_tgrow(m);
    return n;
}

/* Drops the open transaction's nodes, newest first, restoring what they replaced. */
static void s_tundo(tmap_t *m)
{
    while (m->txn_first) {
        tnode_t *n = m->tail;
        s_tunhash(m, n);
        if (n->replaced)
            s_thash(m, n->replaced);
        s_tdrop(m, n);
    }
}

/* Keeps the open transaction's nodes; frees the ones they replaced. */
static void s_tcommit(tmap_t *m)
{
    for (tnode_t *n = m->txn_first; n; n = n->fnext) {
        n->txn = 0;
        if (n->replaced) {
            tnode_t *r = n->replaced;
            n->replaced = NULL;
            if (m->txn_first == r)
                m->txn_first = r->fnext;
            s_tdrop(m, r);
        }
    }
    m->txn_first = NULL;
}

/* Forgets every node at or before seq (what the LMDB snapshot at seq holds). */
static void s_tprune(tmap_t *m, uint64_t seq)
{
    while (m->head && m->head->seq <= seq && !m->head->txn) {
        tnode_t *n = m->head;
        if (n->in_hash)
            s_tunhash(m, n);
        s_tdrop(m, n);
    }
}

/* ------------------------------------------------------------ tables */

static wtab_t *s_tab(drift_wcat_t *c, uint32_t id, int create)
{
    for (wtab_t *t = c->tb[id & (c->ntb - 1)]; t; t = t->next)
        if (t->id == id)
            return t;
    if (!create)
        return NULL;
    if (c->ntables >= c->ntb) {
        size_t nb = c->ntb * 2;
        wtab_t **b = calloc(nb, sizeof *b);
        if (b) {
            for (size_t i = 0; i < c->ntb; i++)
                for (wtab_t *t = c->tb[i], *x; t; t = x) {
                    x = t->next;
                    t->next = b[t->id & (nb - 1)];
                    b[t->id & (nb - 1)] = t;
                }
            free(c->tb);
            c->tb = b;
            c->ntb = nb;
        }
    }
    wtab_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->id = id;
    t->next = c->tb[id & (c->ntb - 1)];
    c->tb[id & (c->ntb - 1)] = t;
    c->ntables++;
    return t;
}

static void s_tab_free(wtab_t *t)
{
    for (size_t i = 0; i < t->nhist; i++)
        drift_index_tdef_destroy(&t->hist[i].def);
    free(t->hist);
    free(t->ugen);
    free(t);
}

static void s_tables_clear(drift_wcat_t *c)
{
    for (size_t i = 0; i < c->ntb; i++) {
        for (wtab_t *t = c->tb[i], *x; t; t = x) {
            x = t->next;
            s_tab_free(t);
        }
        c->tb[i] = NULL;
    }
    c->ntables = 0;
}

/* The definition of a schema version of t (NULL when unknown). */
static const drift_index_tdef_t *s_def_ver(const wtab_t *t, uint32_t ver)
{
    for (size_t i = t->nhist; i-- > 0;)
        if (t->hist[i].version == ver && t->hist[i].def)
            return t->hist[i].def;
    return NULL;
}

/* The table's last name (also once dropped). */
static const char *s_tab_name(const wtab_t *t)
{
    for (size_t i = t->nhist; i-- > 0;)
        if (t->hist[i].def)
            return t->hist[i].def->name;
    return "?";
}

/* The live table other than self named name, or NULL. */
static wtab_t *s_live_named(drift_wcat_t *c, const char *name, uint32_t self)
{
    for (size_t i = 0; i < c->ntb; i++)
        for (wtab_t *t = c->tb[i]; t; t = t->next)
            if (t->cur && t->id != self && strcmp(t->cur->name, name) == 0)
                return t;
    return NULL;
}

/* The live table other than self with an index of this id (by_name: or this name), or NULL. */
static wtab_t *s_index_owner(drift_wcat_t *c, uint32_t id, const char *name, uint32_t self)
{
    for (size_t i = 0; i < c->ntb; i++)
        for (wtab_t *t = c->tb[i]; t; t = t->next)
            if (t->cur && t->id != self)
                for (uint32_t j = 0; j < t->cur->nidx; j++)
                    if ((name && strcmp(t->cur->idx[j].name, name) == 0) || (!name && t->cur->idx[j].id == id))
                        return t;
    return NULL;
}

/* ------------------------------------------------------------ values */

/* Appends the printable form of a value (PostgreSQL DETAIL style). */
static void s_fmt_val(char *buf, size_t cap, const msgpack_object *o)
{
    size_t at = strlen(buf);
    if (at >= cap)
        return;
    char *p = buf + at;
    size_t n = cap - at;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: snprintf(p, n, "null"); break;
    case MSGPACK_OBJECT_BOOLEAN: snprintf(p, n, "%s", o->via.boolean ? "true" : "false"); break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: snprintf(p, n, "%" PRIu64, o->via.u64); break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: snprintf(p, n, "%" PRId64, o->via.i64); break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: snprintf(p, n, "%.17g", o->via.f64); break;
    case MSGPACK_OBJECT_STR: snprintf(p, n, "%.*s", (int)(o->via.str.size > 200 ? 200 : o->via.str.size), o->via.str.ptr); break;
    case MSGPACK_OBJECT_BIN: {
        size_t k = snprintf(p, n, "\\x");
        for (uint32_t i = 0; i < o->via.bin.size && i < 64 && k + 3 < n; i++)
            k += snprintf(p + k, n - k, "%02x", (uint8_t)o->via.bin.ptr[i]);
        break;
    }
    default: snprintf(p, n, "?"); break;
    }
}

/* "Key (a, b)=(1, x)" for index x of definition d over the row elements. */
static void s_fmt_key(char *buf, size_t cap, const drift_index_tdef_t *d, const drift_index_idxdef_t *x,
                      const msgpack_object *el, uint32_t n)
{
    static const msgpack_object nil = {.type = MSGPACK_OBJECT_NIL};
    snprintf(buf, cap, "Key (");
    for (uint32_t i = 0; i < x->ncols; i++) {
        int pos = drift_index_tdef_colpos(d, x->cols[i]);
        size_t at = strlen(buf);
        snprintf(buf + at, cap - at, "%s%s", i ? ", " : "", pos >= 0 ? d->cols[pos].name : "?");
    }
    size_t at = strlen(buf);
    snprintf(buf + at, cap - at, ")=(");
    for (uint32_t i = 0; i < x->ncols; i++) {
        int pos = drift_index_tdef_colpos(d, x->cols[i]);
        if (i) {
            at = strlen(buf);
            snprintf(buf + at, cap - at, ", ");
        }
        s_fmt_val(buf, cap, pos >= 0 && (uint32_t)pos < n ? &el[pos] : &nil);
    }
    at = strlen(buf);
    snprintf(buf + at, cap - at, ")");
}

/* Encodes the values of index x over a row (elements el[0..n) in definition d) like the indexer
 * does (a value that does not fit its column type counts as NULL). Returns 1 when one is NULL. */
static int s_vals(drift_keybuf_t *kb, const drift_index_tdef_t *d, const drift_index_idxdef_t *x,
                  const msgpack_object *el, uint32_t n)
{
    int has_null = 0;
    drift_keybuf_reset(kb);
    for (uint32_t i = 0; i < x->ncols; i++) {
        int pos = d ? drift_index_tdef_colpos(d, x->cols[i]) : -1;
        if (pos < 0 || (uint32_t)pos >= n || el[pos].type == MSGPACK_OBJECT_NIL ||
            drift_keyenc_msgpack(kb, d->cols[pos].type, &el[pos]) < 0) {
            drift_keyenc_null(kb);
            has_null = 1;
        }
    }
    return has_null;
}

/* Decodes row bytes (a MessagePack array). Returns 0 or DRIFT_EPROTO. */
static int s_decode_row(const uint8_t *row, size_t len, drift_msg_t **ret, const msgpack_object **el, uint32_t *n)
{
    char err[128];
    drift_msg_limits_t lim = drift_msg_limits(len + 1);
    lim.max_elems = UINT32_MAX;
    *ret = NULL;
    if (drift_msg_decode(row, len, &lim, ret, err, sizeof err) < 0)
        return DRIFT_EPROTO;
    const msgpack_object *o = drift_msg_root(*ret);
    if (o->type != MSGPACK_OBJECT_ARRAY) {
        drift_msg_destroy(ret);
        return DRIFT_EPROTO;
    }
    *el = o->via.array.ptr;
    *n = o->via.array.size;
    return 0;
}

/* Packs an object into c->sb (reset first). */
static void s_pack(drift_wcat_t *c, const msgpack_object *o)
{
    msgpack_packer pk;
    c->sb.size = 0;
    msgpack_packer_init(&pk, &c->sb, msgpack_sbuffer_write);
    msgpack_pack_object(&pk, *o);
}

/* Merges patch (a map column name or id -> value) into the old row (elements in old_def) converted to
 * d, like the indexer. Result: *ret (malloc'd array of d->ncols borrowed objects). Returns 0, -1 when
 * the patch names a column d does not have (*ret_bad points at that key), or -ENOMEM. */
static int s_merge(const drift_index_tdef_t *d, const drift_index_tdef_t *old_def, const msgpack_object *old,
                   uint32_t nold, const msgpack_object *patch, msgpack_object **ret, const msgpack_object **ret_bad)
{
    msgpack_object *m = calloc(d->ncols ? d->ncols : 1, sizeof *m);
    if (!m)
        return -ENOMEM;
    for (uint32_t i = 0; i < d->ncols; i++) {
        int from = old_def ? drift_index_tdef_colpos(old_def, d->cols[i].id) : -1;
        if (from >= 0 && (uint32_t)from < nold)
            m[i] = old[from];
        else
            m[i].type = MSGPACK_OBJECT_NIL;
    }
    for (uint32_t j = 0; j < patch->via.map.size; j++) {
        const msgpack_object *k = &patch->via.map.ptr[j].key;
        int pos = -1;
        if (k->type == MSGPACK_OBJECT_POSITIVE_INTEGER && k->via.u64 < UINT32_MAX)
            pos = drift_index_tdef_colpos(d, (uint32_t)k->via.u64);
        else if (k->type == MSGPACK_OBJECT_STR)
            for (uint32_t i = 0; i < d->ncols; i++)
                if (strlen(d->cols[i].name) == k->via.str.size &&
                    memcmp(d->cols[i].name, k->via.str.ptr, k->via.str.size) == 0)
                    pos = (int)i;
        if (pos < 0) {
            free(m);
            *ret_bad = k;
            return -1;
        }
        m[pos] = patch->via.map.ptr[j].val;
    }
    *ret = m;
    return 0;
}

/* ------------------------------------------------------------ LMDB snapshot */

/* Moves to a newer LMDB snapshot when there is one and forgets the tail it covers. Only between
 * transactions. */
static void s_advance(drift_wcat_t *c, int may_open)
{
    if (c->tail.txn_first || c->ndu || c->index_state == 2)
        return;
    uint64_t indexed = c->hdr ? atomic_load_explicit(&c->hdr->indexed_seq, memory_order_acquire) : UINT64_MAX;
    if (indexed <= c->base || (!c->ix && !may_open))
        return;
    if (!c->ix) {
        drift_index_opts_t o = {.readonly = 1};
        if (drift_index_open(c->index_dir, c->log_dir, c->hdr, &o, &c->ix) < 0) {
            c->ix = NULL;
            return;
        }
        c->index_state = 1;
    }
    drift_index_rd_t *rd = NULL;
    if (drift_index_rd_begin(c->ix, &rd) < 0)
        return;
    uint64_t s = drift_index_rd_seq(rd);
    if (s <= c->base) {
        drift_index_rd_end(&rd);
        return;
    }
    drift_index_rd_end(&c->rd);
    c->rd = rd;
    c->base = s;
    s_tprune(&c->tail, s);
}

void drift_wcat_tick(drift_wcat_t *self)
{
    /* also with nothing to forget: an old read snapshot would pin LMDB pages the indexer could reuse */
    s_advance(self, 1);
}

/* ------------------------------------------------------------ errors */

static const char *s_err(char *msg, size_t cap, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static const char *s_err(char *msg, size_t cap, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
    return code;
}

/* ------------------------------------------------------------ the table scan */

/* Applies one op of table t to the scratch map m (pk -> latest state) while walking the unindexed
 * tail; *ver tracks the schema version in force. */
static int s_scan_op(drift_wcat_t *c, tmap_t *m, wtab_t *t, const drift_commit_op_t *op, uint32_t *ver)
{
    if (op->table != t->id)
        return 0;
    if (op->op == DRIFT_COP_DDL) {
        const msgpack_object *kind = op->row && op->row->type == MSGPACK_OBJECT_MAP ? drift_msg_map_get(op->row, "ddl") : NULL;
        const msgpack_object *def = op->row && op->row->type == MSGPACK_OBJECT_MAP ? drift_msg_map_get(op->row, "def") : NULL;
        if (kind && kind->type == MSGPACK_OBJECT_STR && kind->via.str.size == 10 &&
            memcmp(kind->via.str.ptr, "drop_table", 10) == 0)
            *ver = 0;
        else if (def && def->type == MSGPACK_OBJECT_MAP) {
            const msgpack_object *v = drift_msg_map_get(def, "version");
            if (v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= UINT32_MAX)
                *ver = (uint32_t)v->via.u64;
        }
        return 0;
    }
    if (op->key_len == 0)
        return 0;
    if (op->op == DRIFT_COP_DELETE)
        return s_tput(m, K_ROW, t->id, 0, op->key, op->key_len, 0, 0, 0, NULL, 0) ? 0 : -ENOMEM;
    if (!op->row)
        return 0;
    if (op->op == DRIFT_COP_INSERT || op->op == DRIFT_COP_UPDATE) {
        if (op->row->type != MSGPACK_OBJECT_ARRAY)
            return 0; /* the indexer skips it */
        s_pack(c, op->row);
        return s_tput(m, K_ROW, t->id, 0, op->key, op->key_len, 0, 1, *ver, c->sb.data, c->sb.size) ? 0 : -ENOMEM;
    }
    if (op->op != DRIFT_COP_PATCH || op->row->type != MSGPACK_OBJECT_MAP)
        return 0;
    /* the live row: earlier in the tail, else the LMDB snapshot */
    const uint8_t *old = NULL;
    size_t old_len = 0;
    uint32_t old_ver = 0;
    tnode_t *n = s_tfind(m, K_ROW, t->id, 0, op->key, op->key_len);
    if (n) {
        if (!n->live)
            return 0;
        old = n->data + n->klen;
        old_len = n->dlen;
        old_ver = n->ver;
    } else if (c->rd) {
        drift_index_ver_t v;
        if (drift_index_get(c->rd, t->id, op->key, op->key_len, UINT64_MAX, &v) != 0 || !v.row)
            return 0;
        drift_keybuf_reset(&c->rowcopy);
        drift_keybuf_raw(&c->rowcopy, v.row, v.row_len);
        if (c->rowcopy.oom)
            return -ENOMEM;
        old = c->rowcopy.buf;
        old_len = c->rowcopy.len;
        old_ver = v.schema_ver;
    } else
        return 0;
    const drift_index_tdef_t *d = s_def_ver(t, *ver);
    if (!d)
        return 0;
    drift_msg_t *om = NULL;
    const msgpack_object *el;
    uint32_t nel;
    if (s_decode_row(old, old_len, &om, &el, &nel) < 0)
        return 0;
    msgpack_object *mr = NULL;
    const msgpack_object *bad;
    int rc = s_merge(d, s_def_ver(t, old_ver), el, nel, op->row, &mr, &bad);
    if (rc == 0) {
        msgpack_object arr = {.type = MSGPACK_OBJECT_ARRAY, .via.array = {d->ncols, mr}};
        s_pack(c, &arr);
        rc = s_tput(m, K_ROW, t->id, 0, op->key, op->key_len, 0, 1, d->version, c->sb.data, c->sb.size) ? 0 : -ENOMEM;
    } else if (rc == -1)
        rc = 0;
    free(mr);
    drift_msg_destroy(&om);
    return rc;
}

/* Parses a frame body's op array into ops (borrowing from msg). Returns 0 or DRIFT_EPROTO / -ENOMEM. */
static int s_body_ops(const void *body, size_t len, drift_msg_t **ret_msg, drift_commit_op_t **ret_ops,
                      size_t *ret_n)
{
    char err[128];
    drift_msg_limits_t lim = drift_msg_limits(len + 1);
    lim.max_elems = UINT32_MAX;
    *ret_ops = NULL;
    *ret_n = 0;
    if (drift_msg_decode(body, len, &lim, ret_msg, err, sizeof err) < 0)
        return DRIFT_EPROTO;
    const msgpack_object *root = drift_msg_root(*ret_msg);
    if (root->type != MSGPACK_OBJECT_ARRAY)
        return DRIFT_EPROTO;
    drift_commit_op_t *ops = calloc(root->via.array.size ? root->via.array.size : 1, sizeof *ops);
    if (!ops)
        return -ENOMEM;
    size_t n = 0;
    for (uint32_t i = 0; i < root->via.array.size; i++) {
        const msgpack_object *o = &root->via.array.ptr[i];
        if (o->type != MSGPACK_OBJECT_MAP)
            continue;
        const msgpack_object *kind = drift_msg_map_get(o, "op"), *table = drift_msg_map_get(o, "table"),
                             *key = drift_msg_map_get(o, "key"), *row = drift_msg_map_get(o, "row");
        drift_commit_op_t *op = &ops[n];
        memset(op, 0, sizeof *op);
        if (!kind || kind->type != MSGPACK_OBJECT_STR || !table || table->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
            table->via.u64 >= UINT32_MAX)
            continue;
        for (int k = DRIFT_COP_INSERT; k <= DRIFT_COP_DDL; k++) {
            const char *name = drift_commit_op_name((drift_cop_t)k);
            if (strlen(name) == kind->via.str.size && memcmp(name, kind->via.str.ptr, kind->via.str.size) == 0)
                op->op = (drift_cop_t)k;
        }
        if (!op->op)
            continue;
        op->table = (uint32_t)table->via.u64;
        if (key && (key->type == MSGPACK_OBJECT_BIN || key->type == MSGPACK_OBJECT_STR)) {
            op->key = (const uint8_t *)key->via.bin.ptr;
            op->key_len = key->via.bin.size;
        }
        op->row = row;
        n++;
    }
    *ret_ops = ops;
    *ret_n = n;
    return 0;
}

/* Every live row of t at seq (the LMDB snapshot's rows, then the unindexed tail up to seq - 1, then
 * ops[0..i) of this frame), as rows in the scratch map live (pk -> row, ver). Returns 0 or an error. */
static int s_scan_table(drift_wcat_t *c, wtab_t *t, const drift_commit_op_t *ops, size_t i, uint64_t seq, tmap_t *m,
                        int fresh)
{
    int rc = 0;
    uint32_t ver = 0;
    for (size_t h = 0; h < t->nhist; h++)
        if (t->hist[h].seq <= c->base)
            ver = t->hist[h].version;
    if (!fresh && seq - 1 > c->base) {
        if (!c->lr && (rc = drift_logr_open(c->log_dir, c->hdr, &c->lr)) < 0) {
            c->lr = NULL;
            return rc;
        }
        if ((rc = drift_logr_seek(c->lr, c->base + 1)) < 0)
            return rc;
        uint64_t want = c->base + 1;
        while (want < seq) {
            drift_frame_t f;
            rc = drift_logr_next(c->lr, &f, NULL);
            if (rc <= 0)
                return rc == 0 ? DRIFT_ENOTFOUND : rc;
            if (f.seq != want)
                return DRIFT_ECHAIN;
            want++;
            if (f.flags)
                return DRIFT_EVERSION;
            drift_msg_t *msg = NULL;
            drift_commit_op_t *fops = NULL;
            size_t nf = 0;
            rc = s_body_ops(f.body, f.body_len, &msg, &fops, &nf);
            for (size_t k = 0; rc == 0 && k < nf; k++)
                rc = s_scan_op(c, m, t, &fops[k], &ver);
            free(fops);
            drift_msg_destroy(&msg);
            if (rc < 0)
                return rc;
        }
    }
    for (size_t k = 0; k < i && rc == 0; k++)
        rc = s_scan_op(c, m, t, &ops[k], &ver);
    return rc;
}

/* The rows of t the LMDB snapshot holds that the scratch map does not override: fn per row. */
typedef int (*s_row_fn)(drift_wcat_t *c, const uint8_t *pk, size_t pk_len, const uint8_t *row, size_t row_len,
                        uint32_t ver, void *arg);

static int s_each_live(drift_wcat_t *c, wtab_t *t, tmap_t *m, s_row_fn fn, void *arg)
{
    int rc = 0;
    for (tnode_t *n = m->head; n && rc == 0; n = n->fnext)
        if (n->live)
            rc = fn(c, n->data, n->klen, n->data + n->klen, n->dlen, n->ver, arg);
    if (rc || !c->rd)
        return rc;
    drift_index_scan_t *it = NULL;
    if ((rc = drift_index_scan_open(c->rd, t->id, NULL, 0, NULL, 0, UINT64_MAX, &it)) < 0)
        return rc;
    const uint8_t *pk;
    size_t pl;
    drift_index_ver_t v;
    while ((rc = drift_index_scan_next(it, &pk, &pl, &v)) == 1) {
        if (!v.row || s_tfind(m, K_ROW, t->id, 0, pk, pl))
            continue;
        if ((rc = fn(c, pk, pl, v.row, v.row_len, v.schema_ver, arg)) != 0)
            break;
    }
    drift_index_scan_close(&it);
    return rc < 0 ? rc : 0;
}

typedef struct {
    wtab_t *t;
    const drift_index_tdef_t *d; /* the new definition */
    const uint8_t *isnew;        /* per d->idx: a unique index to build */
    tmap_t *vals;                /* (index, vals) -> pk */
    int check;
    char *msg;
    size_t cap;
    const char *code;
} s_build_t;

/* One live row for the new unique indexes: records its values, notes a duplicate. */
static int s_build_row(drift_wcat_t *c, const uint8_t *pk, size_t pk_len, const uint8_t *row, size_t row_len,
                       uint32_t ver, void *arg)
{
    s_build_t *b = arg;
    const drift_index_tdef_t *rd = s_def_ver(b->t, ver);
    drift_msg_t *m = NULL;
    const msgpack_object *el;
    uint32_t n;
    if (!rd || s_decode_row(row, row_len, &m, &el, &n) < 0)
        return 0;
    int rc = 0;
    for (uint32_t j = 0; j < b->d->nidx && rc == 0; j++) {
        if (!b->isnew[j])
            continue;
        const drift_index_idxdef_t *x = &b->d->idx[j];
        if (s_vals(&c->kb_new, rd, x, el, n))
            continue;
        tnode_t *h = s_tfind(b->vals, K_VAL, x->id, 0, c->kb_new.buf, c->kb_new.len);
        if (h && b->check) {
            char key[300];
            s_fmt_key(key, sizeof key, rd, x, el, n);
            b->code = s_err(b->msg, b->cap, DRIFT_SQLSTATE_UNIQUE, "could not create unique index \"%s\": %s is duplicated.",
                            x->name, key);
            rc = 1;
            break;
        }
        if (!s_tput(b->vals, K_VAL, x->id, 0, c->kb_new.buf, c->kb_new.len, 0, 1, 0, pk, pk_len))
            rc = -ENOMEM;
    }
    drift_msg_destroy(&m);
    return rc;
}

/* CREATE UNIQUE INDEX (or a def that makes indexes unique) on t at seq: checks the live rows hold no
 * duplicate and seeds the tail with every value (the LMDB snapshot does not know the index before it
 * applies seq) and the table's unindexed rows. */
static const char *s_build_unique(drift_wcat_t *c, wtab_t *t, const drift_index_tdef_t *d, const uint8_t *isnew,
                                  const drift_commit_op_t *ops, size_t i, uint64_t seq, int fresh, int check,
                                  char *msg, size_t cap)
{
    tmap_t rows, vals;
    const char *code = NULL;
    if (s_tmap_init(&rows, 1) < 0 || s_tmap_init(&vals, 1) < 0) {
        s_tmap_free(&rows);
        return s_err(msg, cap, "53200", "out of memory");
    }
    int rc = s_scan_table(c, t, ops, i, seq, &rows, fresh);
    s_build_t b = {t, d, isnew, &vals, check, msg, cap, NULL};
    if (rc == 0)
        rc = s_each_live(c, t, &rows, s_build_row, &b);
    if (b.code) {
        code = b.code;
        goto out;
    }
    if (rc < 0) {
        code = s_err(msg, cap, "XX000", "cannot read the rows of table \"%s\" to build its unique index: %s", d->name,
                     drift_strerror(rc));
        goto out;
    }
    /* seed: each value with the index's generation (seq), and the unindexed rows */
    for (tnode_t *n = vals.head; n; n = n->fnext)
        if (!s_tput(&c->tail, K_VAL, n->id, seq, n->data, n->klen, seq, 1, 0, n->data + n->klen, n->dlen))
            goto oom;
    /* every row the tail scan saw replaces what the tail holds for it: a table whose unique indexes
     * were dropped and come back may still have rows from then in the tail (every tail node has a
     * seq after the snapshot, so the scan saw each of those keys) */
    for (tnode_t *n = rows.head; n; n = n->fnext)
        if (!s_tput(&c->tail, K_ROW, t->id, 0, n->data, n->klen, seq, n->live, n->ver, n->data + n->klen, n->dlen))
            goto oom;
    goto out;
oom:
    code = s_err(msg, cap, "53200", "out of memory");
out:
    s_tmap_free(&rows);
    s_tmap_free(&vals);
    return code;
}

/* ------------------------------------------------------------ DDL */

static int s_streq(const msgpack_object *o, const char *s)
{
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
           memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

/* Records t's state before a DDL of the transaction changes it. */
static int s_du_push(drift_wcat_t *c, wtab_t *t)
{
    if (c->ndu == c->capdu) {
        size_t cap = c->capdu ? 2 * c->capdu : 8;
        dundo_t *u = realloc(c->du, cap * sizeof *u);
        if (!u)
            return -ENOMEM;
        c->du = u;
        c->capdu = cap;
    }
    c->du[c->ndu++] = (dundo_t){t, t->cur, t->dropped, t->ugen, t->nuniq, t->nhist};
    return 0;
}

/* Appends a history entry (takes def). */
static int s_hist_push(wtab_t *t, uint32_t version, uint64_t seq, drift_index_tdef_t *def)
{
    if (t->nhist == t->caphist) {
        size_t cap = t->caphist ? 2 * t->caphist : 4;
        hist_t *h = realloc(t->hist, cap * sizeof *h);
        if (!h)
            return -ENOMEM;
        t->hist = h;
        t->caphist = cap;
    }
    t->hist[t->nhist++] = (hist_t){version, seq, def};
    return 0;
}

static int s_same_cols(const drift_index_idxdef_t *a, const drift_index_idxdef_t *b)
{
    return a->ncols == b->ncols && memcmp(a->cols, b->cols, a->ncols * sizeof a->cols[0]) == 0;
}

/* A ddl op: {"ddl": kind, "def": TABLEDEF}. */
static const char *s_ddl(drift_wcat_t *c, const drift_commit_op_t *ops, size_t i, uint64_t seq, int check, char *msg,
                         size_t cap)
{
    const drift_commit_op_t *op = &ops[i];
    wtab_t *t = s_tab(c, op->table, 0);
    const msgpack_object *row = op->row;
    if (!row || row->type != MSGPACK_OBJECT_MAP)
        return check ? s_err(msg, cap, DRIFT_SQLSTATE_PROTO, "ddl op on table %u: row must be {\"ddl\": kind, \"def\": definition}",
                             op->table)
                     : NULL;
    const msgpack_object *kind = drift_msg_map_get(row, "ddl"), *defo = drift_msg_map_get(row, "def");
    if (s_streq(kind, "stats")) { /* ANALYZE (shm/stats.h): statistics of a live table, on op table 0 */
        const msgpack_object *to = drift_msg_map_get(row, "table");
        wtab_t *st = to && to->type == MSGPACK_OBJECT_POSITIVE_INTEGER && to->via.u64 > 0 && to->via.u64 <= UINT32_MAX
                         ? s_tab(c, (uint32_t)to->via.u64, 0)
                         : NULL;
        if (check && (!st || !st->cur))
            return s_err(msg, cap, "42P01", "ANALYZE: table %" PRIu64 " does not exist",
                         to && to->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? to->via.u64 : 0);
        return NULL;
    }
    if (s_streq(kind, "drop_table")) {
        if (!t || !t->cur)
            return check ? s_err(msg, cap, "42P01", "table %u does not exist%s", op->table,
                                 t && t->dropped ? " (dropped)" : "")
                         : NULL;
        if (s_du_push(c, t) < 0 || s_hist_push(t, 0, seq, NULL) < 0)
            return s_err(msg, cap, "53200", "out of memory");
        t->cur = NULL;
        t->dropped = 1;
        t->ugen = NULL;
        t->nuniq = 0;
        return NULL;
    }
    if (!defo)
        return check ? s_err(msg, cap, DRIFT_SQLSTATE_PROTO, "ddl op on table %u has no \"def\"", op->table) : NULL;
    s_pack(c, defo);
    drift_index_tdef_t *d = NULL;
    char perr[200];
    int rc = drift_index_tdef_parse(c->sb.data, c->sb.size, op->table, &d, perr, sizeof perr);
    if (rc == -ENOMEM)
        return s_err(msg, cap, "53200", "out of memory");
    if (rc < 0)
        return check ? s_err(msg, cap, DRIFT_SQLSTATE_PROTO, "ddl op on table %u: invalid definition: %s", op->table, perr)
                     : NULL;
    const char *code = NULL;
    const drift_index_tdef_t *prev = t ? t->cur : NULL;
    int creating = s_streq(kind, "create_table");
    if (check) {
        wtab_t *o;
        if (creating) {
            if ((o = s_live_named(c, d->name, op->table)))
                code = s_err(msg, cap, "42P07", "relation \"%s\" already exists", d->name);
            else if (t && t->nhist)
                code = s_err(msg, cap, DRIFT_SQLSTATE_SERIALIZATION,
                             "concurrent DDL, retry: table id %u is already used (by \"%s\")", op->table, s_tab_name(t));
            else if (d->version != 1)
                code = s_err(msg, cap, DRIFT_SQLSTATE_PROTO, "create_table of \"%s\": a new table's version must be 1",
                             d->name);
        } else if (!prev) {
            code = s_err(msg, cap, "42P01", "relation \"%s\" does not exist (table %u%s)", d->name, op->table,
                         t && t->dropped ? " was dropped" : " is not defined");
        } else if (d->version != prev->version + 1) {
            code = s_err(msg, cap, DRIFT_SQLSTATE_SERIALIZATION,
                         "concurrent ALTER of table \"%s\", retry: definition version %u does not follow version %u",
                         prev->name, d->version, prev->version);
        } else if (strcmp(prev->name, d->name) != 0 && (o = s_live_named(c, d->name, op->table))) {
            code = s_err(msg, cap, "42P07", "relation \"%s\" already exists", d->name);
        }
        for (uint32_t j = 0; !code && j < d->nidx; j++) {
            const drift_index_idxdef_t *x = &d->idx[j];
            for (uint32_t k = 0; !code && k < j; k++)
                if (d->idx[k].id == x->id || strcmp(d->idx[k].name, x->name) == 0)
                    code = s_err(msg, cap, "42P07", "relation \"%s\" already exists (index id %u / name used twice in "
                                 "the definition of \"%s\")", x->name, x->id, d->name);
            const drift_index_idxdef_t *px = NULL;
            for (uint32_t k = 0; prev && k < prev->nidx; k++)
                if (prev->idx[k].id == x->id)
                    px = &prev->idx[k];
            if (code)
                break;
            if (px && !s_same_cols(px, x))
                code = s_err(msg, cap, DRIFT_SQLSTATE_PROTO, "index %u (\"%s\") of \"%s\" changes its columns: give the "
                             "new index a new id", x->id, x->name, d->name);
            else if (!px && (o = s_index_owner(c, x->id, NULL, op->table)))
                code = s_err(msg, cap, "42P07", "index id %u (\"%s\") is already used by table \"%s\"", x->id, x->name,
                             o->cur->name);
            else if ((o = s_index_owner(c, 0, x->name, op->table)))
                code = s_err(msg, cap, "42P07", "relation \"%s\" already exists (an index of table \"%s\")", x->name,
                             o->cur->name);
        }
        if (code) {
            drift_index_tdef_destroy(&d);
            return code;
        }
    }
    /* generations of the unique indexes; the new ones are built over the live rows */
    uint64_t *ugen = d->nidx ? calloc(d->nidx, sizeof *ugen) : NULL;
    uint8_t *isnew = d->nidx ? calloc(d->nidx, 1) : NULL;
    uint32_t nuniq = 0, nnew = 0;
    if (d->nidx && (!ugen || !isnew)) {
        code = s_err(msg, cap, "53200", "out of memory");
        goto fail;
    }
    for (uint32_t j = 0; j < d->nidx; j++) {
        if (!d->idx[j].unique)
            continue;
        nuniq++;
        for (uint32_t k = 0; prev && k < prev->nidx; k++)
            if (prev->idx[k].id == d->idx[j].id && prev->idx[k].unique && s_same_cols(&prev->idx[k], &d->idx[j]))
                ugen[j] = t->ugen ? t->ugen[k] : 0;
        if (!ugen[j]) {
            ugen[j] = seq;
            isnew[j] = 1;
            nnew++;
        }
    }
    if (nnew && !c->tail.txn_first && !c->ndu)
        s_advance(c, 0); /* the newest snapshot: the shortest log tail to read */
    /* a table created in this transaction has no rows but those of this frame: no log to read */
    int fresh = !t || t->nhist == 0 || t->hist[0].seq == seq;
    if (nnew && seq > c->base) {
        /* the rows written since the LMDB snapshot are read from the log: they must be written */
        if (check && !fresh && c->hdr &&
            atomic_load_explicit(&c->hdr->written_seq, memory_order_acquire) + 1 < seq) {
            code = DRIFT_WCAT_DEFER;
            goto fail;
        }
        if (!t && !(t = s_tab(c, op->table, 1))) {
            code = s_err(msg, cap, "53200", "out of memory");
            goto fail;
        }
        if ((code = s_build_unique(c, t, d, isnew, ops, i, seq, fresh, check, msg, cap)))
            goto fail;
    }
    if ((!t && !(t = s_tab(c, op->table, 1))) || s_du_push(c, t) < 0) {
        code = s_err(msg, cap, "53200", "out of memory");
        goto fail;
    }
    if (s_hist_push(t, d->version, seq, d) < 0) {
        c->ndu--;
        code = s_err(msg, cap, "53200", "out of memory");
        goto fail;
    }
    t->cur = d;
    t->dropped = 0;
    t->ugen = ugen;
    t->nuniq = nuniq;
    free(isnew);
    return NULL;
fail:
    free(ugen);
    free(isnew);
    drift_index_tdef_destroy(&d);
    return code;
}

/* ------------------------------------------------------------ row ops */

/* A row op on t, which has unique indexes: computes the new row, checks and records its values. */
static const char *s_unique_row(drift_wcat_t *c, wtab_t *t, const drift_commit_op_t *op, uint64_t seq, int check,
                                char *msg, size_t cap)
{
    const drift_index_tdef_t *d = t->cur;
    const char *code = NULL;
    if (op->key_len == 0)
        return check ? s_err(msg, cap, DRIFT_SQLSTATE_PROTO, "%s into \"%s\" without a key", drift_commit_op_name(op->op),
                             d->name)
                     : NULL;
    /* the live row before this op (inserts: none, the key map checked it) */
    const uint8_t *old = NULL;
    size_t old_len = 0;
    uint32_t old_ver = 0;
    if (op->op != DRIFT_COP_INSERT) {
        tnode_t *n = s_tfind(&c->tail, K_ROW, t->id, 0, op->key, op->key_len);
        if (n) {
            if (n->live) {
                old = n->data + n->klen;
                old_len = n->dlen;
                old_ver = n->ver;
            }
        } else if (c->rd) {
            drift_index_ver_t v;
            int rc = drift_index_get(c->rd, t->id, op->key, op->key_len, UINT64_MAX, &v);
            if (rc == 0 && v.row) {
                drift_keybuf_reset(&c->rowcopy);
                drift_keybuf_raw(&c->rowcopy, v.row, v.row_len);
                if (c->rowcopy.oom)
                    return s_err(msg, cap, "53200", "out of memory");
                old = c->rowcopy.buf;
                old_len = c->rowcopy.len;
                old_ver = v.schema_ver;
            } else if (rc < 0 && rc != DRIFT_ENOTFOUND)
                return s_err(msg, cap, "XX000", "cannot read the index: %s", drift_strerror(rc));
        }
    }
    drift_msg_t *om = NULL;
    const msgpack_object *oel = NULL;
    uint32_t onel = 0;
    const drift_index_tdef_t *od = old ? s_def_ver(t, old_ver) : NULL;
    if (old && s_decode_row(old, old_len, &om, &oel, &onel) < 0)
        old = NULL;
    /* the new row */
    msgpack_object *merged = NULL;
    const msgpack_object *nel = NULL;
    uint32_t nn = 0;
    if (op->op == DRIFT_COP_INSERT || op->op == DRIFT_COP_UPDATE) {
        if (!op->row || op->row->type != MSGPACK_OBJECT_ARRAY) {
            code = check ? s_err(msg, cap, DRIFT_SQLSTATE_PROTO, "%s into \"%s\": the row must be an array of column values",
                                 drift_commit_op_name(op->op), d->name)
                         : NULL;
            goto out;
        }
        nel = op->row->via.array.ptr;
        nn = op->row->via.array.size;
    } else if (op->op == DRIFT_COP_PATCH) {
        if (!op->row || op->row->type != MSGPACK_OBJECT_MAP) {
            code = check ? s_err(msg, cap, DRIFT_SQLSTATE_PROTO, "patch of \"%s\": the row must be a map column -> value",
                                 d->name)
                         : NULL;
            goto out;
        }
        if (!old) {
            code = check ? s_err(msg, cap, "XX000", "patch of \"%s\": the live row was not found", d->name) : NULL;
            goto out;
        }
        const msgpack_object *bad = NULL;
        int rc = s_merge(d, od, oel, onel, op->row, &merged, &bad);
        if (rc == -ENOMEM) {
            code = s_err(msg, cap, "53200", "out of memory");
            goto out;
        }
        if (rc < 0) {
            char name[140] = "";
            s_fmt_val(name, sizeof name, bad);
            code = check ? s_err(msg, cap, "42703", "column \"%s\" of relation \"%s\" does not exist", name, d->name) : NULL;
            goto out;
        }
        nel = merged;
        nn = d->ncols;
    }
    /* each unique index: the values it frees and the ones it takes */
    for (uint32_t j = 0; j < d->nidx; j++) {
        if (!t->ugen[j])
            continue;
        const drift_index_idxdef_t *x = &d->idx[j];
        uint64_t gen = t->ugen[j];
        int old_null = old ? s_vals(&c->kb_old, od, x, oel, onel) : 1;
        int new_null = nel ? s_vals(&c->kb_new, d, x, nel, nn) : 1;
        if (old && nel && c->kb_old.len == c->kb_new.len && memcmp(c->kb_old.buf, c->kb_new.buf, c->kb_old.len) == 0)
            continue;
        if (!new_null && check) {
            const uint8_t *hpk = NULL;
            size_t hpl = 0;
            int taken = 0;
            tnode_t *n = s_tfind(&c->tail, K_VAL, x->id, gen, c->kb_new.buf, c->kb_new.len);
            if (n) {
                taken = n->live && !(n->dlen == op->key_len && memcmp(n->data + n->klen, op->key, op->key_len) == 0);
            } else if (c->rd && c->base >= gen) {
                int rc = drift_index_unique_holder(c->rd, x->id, c->kb_new.buf, c->kb_new.len, op->key, op->key_len,
                                                   &hpk, &hpl);
                if (rc < 0) {
                    code = s_err(msg, cap, "XX000", "cannot read the index: %s", drift_strerror(rc));
                    goto out;
                }
                taken = rc == 1;
            }
            if (taken) {
                char key[300];
                s_fmt_key(key, sizeof key, d, x, nel, nn);
                code = s_err(msg, cap, DRIFT_SQLSTATE_UNIQUE,
                             "duplicate key value violates unique constraint \"%s\": %s already exists.", x->name, key);
                goto out;
            }
        }
        if (old && !old_null &&
            !s_tput(&c->tail, K_VAL, x->id, gen, c->kb_old.buf, c->kb_old.len, seq, 0, 0, NULL, 0))
            goto oom;
        if (!new_null && !s_tput(&c->tail, K_VAL, x->id, gen, c->kb_new.buf, c->kb_new.len, seq, 1, 0, op->key,
                                 op->key_len))
            goto oom;
    }
    if (nel) {
        msgpack_object arr = {.type = MSGPACK_OBJECT_ARRAY, .via.array = {nn, (msgpack_object *)nel}};
        s_pack(c, &arr);
        if (!s_tput(&c->tail, K_ROW, t->id, 0, op->key, op->key_len, seq, 1, d->version, c->sb.data, c->sb.size))
            goto oom;
    } else if (!s_tput(&c->tail, K_ROW, t->id, 0, op->key, op->key_len, seq, 0, 0, NULL, 0))
        goto oom;
    goto out;
oom:
    code = s_err(msg, cap, "53200", "out of memory");
out:
    free(merged);
    drift_msg_destroy(&om);
    return code;
}

/* Checks (check = 1) and applies ops[i] at seq. */
static const char *s_op(drift_wcat_t *c, const drift_commit_op_t *ops, size_t i, uint64_t seq, int check, char *msg,
                        size_t cap)
{
    const drift_commit_op_t *op = &ops[i];
    if (op->op == DRIFT_COP_DDL)
        return s_ddl(c, ops, i, seq, check, msg, cap);
    wtab_t *t = s_tab(c, op->table, 0);
    if (!t)
        return NULL; /* never defined: a schemaless table of the raw protocol */
    if (!t->cur) {
        if (t->dropped && check)
            return s_err(msg, cap, "42P01", "relation \"%s\" does not exist (table %u was dropped)", s_tab_name(t),
                         op->table);
        return NULL;
    }
    if (!t->nuniq)
        return NULL;
    if (!c->tail.txn_first && !c->ndu)
        s_advance(c, 0);
    return s_unique_row(c, t, op, seq, check, msg, cap);
}

/* ------------------------------------------------------------ public */

static int s_apply_body(drift_wcat_t *self, uint64_t seq, const void *body, size_t len, int ddl_only);

drift_wcat_t *drift_wcat_new(const char *index_dir, const char *log_dir, const drift_ctl_header_t *hdr)
{
    drift_wcat_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    snprintf(c->index_dir, sizeof c->index_dir, "%s", index_dir);
    snprintf(c->log_dir, sizeof c->log_dir, "%s", log_dir);
    c->hdr = hdr;
    c->ntb = 64;
    c->tb = calloc(c->ntb, sizeof *c->tb);
    msgpack_sbuffer_init(&c->sb);
    if (!c->tb || s_tmap_init(&c->tail, 0) < 0) {
        drift_wcat_destroy(&c);
        errno = ENOMEM;
        return NULL;
    }
    return c;
}

void drift_wcat_destroy(drift_wcat_t **self_p)
{
    drift_wcat_t *c = *self_p;
    if (!c)
        return;
    drift_wcat_txn_undo(c);
    if (c->tb)
        s_tables_clear(c);
    free(c->tb);
    free(c->du);
    s_tmap_free(&c->tail);
    drift_index_rd_end(&c->rd);
    drift_index_close(&c->ix);
    drift_logr_close(&c->lr);
    drift_keybuf_free(&c->kb_old);
    drift_keybuf_free(&c->kb_new);
    drift_keybuf_free(&c->kb_tmp);
    drift_keybuf_free(&c->rowcopy);
    msgpack_sbuffer_destroy(&c->sb);
    free(c);
    *self_p = NULL;
}

uint64_t drift_wcat_open_index(drift_wcat_t *self)
{
    drift_index_opts_t o = {.readonly = 1};
    if (drift_index_open(self->index_dir, self->log_dir, self->hdr, &o, &self->ix) < 0) {
        self->ix = NULL;
        return 0;
    }
    uint64_t seq = 0, ts = 0;
    /* the applied seq and its ts, and a snapshot at that seq (an indexer still running while only the
     * writer restarts may move between the two reads: try again) */
    for (int tries = 0; tries < 50; tries++) {
        drift_index_rd_end(&self->rd);
        if (drift_index_applied(self->ix, &seq, &ts) < 0 || drift_index_rd_begin(self->ix, &self->rd) < 0)
            break;
        if (seq == drift_index_rd_seq(self->rd))
            goto ok;
        struct timespec pause = {0, 2000000};
        nanosleep(&pause, NULL);
    }
    DLOG_WARN("the index in %s cannot be read consistently: unique checks use the log alone", self->index_dir);
    drift_index_rd_end(&self->rd);
    drift_index_close(&self->ix);
    return 0;
ok:
    self->index_state = 1;
    self->base = seq;
    self->base_ts = ts;
    return seq;
}

int drift_wcat_recover_frame(drift_wcat_t *self, const drift_frame_t *f, int has_ddl)
{
    if (self->index_state == 1 && f->seq == self->base)
        self->base_checked = f->ts_ns == self->base_ts;
    if (f->seq > self->base || !has_ddl)
        return 0; /* frames after the base are replayed in full by drift_wcat_replay */
    return s_apply_body(self, f->seq, f->body, f->body_len, 1);
}

int drift_wcat_apply_body(drift_wcat_t *self, uint64_t seq, const void *body, size_t len)
{
    return s_apply_body(self, seq, body, len, 0);
}

/* Applies a frame body without checks; ddl_only: its DDL ops alone (frames the LMDB index holds). */
static int s_apply_body(drift_wcat_t *self, uint64_t seq, const void *body, size_t len, int ddl_only)
{
    drift_msg_t *msg = NULL;
    drift_commit_op_t *ops = NULL;
    size_t n = 0;
    char err[256];
    int rc = s_body_ops(body, len, &msg, &ops, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (ddl_only && ops[i].op != DRIFT_COP_DDL)
            continue;
        const char *code = s_op(self, ops, i, seq, 0, err, sizeof err);
        if (code && strcmp(code, "53200") == 0)
            rc = -ENOMEM;
        else if (code)
            DLOG_DEBUG("seq %" PRIu64 " op %zu: %s", seq, i, err);
    }
    if (rc == 0)
        drift_wcat_txn_commit(self);
    else
        drift_wcat_txn_undo(self);
    free(ops);
    drift_msg_destroy(&msg);
    return rc == DRIFT_EPROTO ? 0 : rc; /* an undecodable body is skipped, as by the indexer */
}

/* Key-walk callback: 1 (stop) at the first op the catalog must see in full. */
static int s_needs_replay(const drift_commit_op_t *op, void *arg)
{
    drift_wcat_t *c = arg;
    if (op->op == DRIFT_COP_DDL)
        return 1;
    wtab_t *t = s_tab(c, op->table, 0);
    return t && t->nuniq ? 1 : 0;
}

int drift_wcat_replay(drift_wcat_t *self, uint64_t last_seq, char *err, size_t errcap)
{
    if (self->index_state == 1 && (self->base > last_seq || (self->base && !self->base_checked))) {
        DLOG_WARN("the index (applied seq %" PRIu64 ") does not match the log (last seq %" PRIu64 "): unique checks "
                  "use the log alone until the next start",
                  self->base, last_seq);
        drift_index_rd_end(&self->rd);
        drift_index_close(&self->ix);
        self->index_state = 2;
        self->base = 0;
        s_tables_clear(self);
    }
    if (last_seq <= self->base)
        return 0;
    drift_logr_t *lr = NULL;
    int rc = drift_logr_open(self->log_dir, NULL, &lr);
    if (rc == 0)
        rc = drift_logr_seek(lr, self->base + 1);
    uint64_t want = self->base + 1;
    while (rc == 0 && want <= last_seq) {
        drift_frame_t f;
        rc = drift_logr_next(lr, &f, NULL);
        if (rc == 0) {
            snprintf(err, errcap, "the log ends at seq %" PRIu64 ", before %" PRIu64, want - 1, last_seq);
            rc = DRIFT_ENOTFOUND;
            break;
        }
        if (rc < 0) {
            snprintf(err, errcap, "%s", drift_logr_error(lr));
            break;
        }
        if (f.seq != want) {
            snprintf(err, errcap, "frame %" PRIu64 " where %" PRIu64 " was expected", f.seq, want);
            rc = DRIFT_ECHAIN;
            break;
        }
        want++;
        if (f.flags & (DRIFT_FRAME_F_LZ4 | DRIFT_FRAME_F_SEALED))
            continue;
        /* decode only frames with DDL or rows of tables with unique indexes (the key walk is cheap) */
        char kerr[128];
        if (drift_commit_body_keys(f.body, f.body_len, s_needs_replay, self, kerr, sizeof kerr) != 1) {
            rc = 0;
            continue;
        }
        rc = drift_wcat_apply_body(self, f.seq, f.body, f.body_len);
        if (rc < 0)
            snprintf(err, errcap, "frame %" PRIu64 ": %s", f.seq, drift_strerror(rc));
    }
    drift_logr_close(&lr);
    return rc < 0 ? rc : 0;
}

const char *drift_wcat_op(drift_wcat_t *self, const drift_commit_op_t *ops, size_t nops, size_t i, uint64_t seq,
                          char *msg, size_t cap)
{
    (void)nops;
    return s_op(self, ops, i, seq, 1, msg, cap);
}

void drift_wcat_txn_commit(drift_wcat_t *self)
{
    s_tcommit(&self->tail);
    for (size_t i = 0; i < self->ndu; i++) {
        dundo_t *u = &self->du[i];
        if (u->old_ugen != u->t->ugen)
            free(u->old_ugen);
    }
    self->ndu = 0;
}

void drift_wcat_txn_undo(drift_wcat_t *self)
{
    s_tundo(&self->tail);
    while (self->ndu) {
        dundo_t *u = &self->du[--self->ndu];
        wtab_t *t = u->t;
        while (t->nhist > u->old_nhist)
            drift_index_tdef_destroy(&t->hist[--t->nhist].def);
        if (t->ugen != u->old_ugen)
            free(t->ugen);
        t->cur = u->old_cur;
        t->dropped = u->old_dropped;
        t->ugen = u->old_ugen;
        t->nuniq = u->old_nuniq;
    }
}

int drift_wcat_table(const drift_wcat_t *self, uint32_t table, const char **ret_name, uint32_t *ret_version)
{
    for (wtab_t *t = self->tb[table & (self->ntb - 1)]; t; t = t->next)
        if (t->id == table && t->cur) {
            if (ret_name)
                *ret_name = t->cur->name;
            if (ret_version)
                *ret_version = t->cur->version;
            return 1;
        }
    if (ret_name)
        *ret_name = NULL;
    if (ret_version)
        *ret_version = 0;
    return 0;
}

int drift_wcat_pk_message(const drift_wcat_t *self, uint32_t table, const uint8_t *key, size_t klen, char *msg,
                          size_t cap)
{
    const wtab_t *t = NULL;
    for (const wtab_t *x = self->tb[table & (self->ntb - 1)]; x; x = x->next)
        if (x->id == table)
            t = x;
    if (!t || !t->cur)
        return 0;
    const drift_index_tdef_t *d = t->cur;
    char cols[300] = "", vals[300] = "";
    const uint8_t *p = key;
    size_t avail = klen;
    uint8_t scratch[256];
    for (uint32_t i = 0; i < d->npk; i++) {
        int pos = drift_index_tdef_colpos(d, d->pk[i]);
        size_t at = strlen(cols);
        snprintf(cols + at, sizeof cols - at, "%s%s", i ? ", " : "", pos >= 0 ? d->cols[pos].name : "?");
        drift_keyval_t v;
        at = strlen(vals);
        char *o = vals + at;
        size_t n = sizeof vals - at;
        if (i)
            at += (size_t)snprintf(o, n, ", "), o = vals + at, n = sizeof vals - at;
        if (avail == 0 || drift_keyenc_decode(&p, &avail, &v, scratch, sizeof scratch) < 0) {
            snprintf(o, n, "?");
            avail = 0;
            continue;
        }
        switch (v.type) {
        case DRIFT_COL_NULL: snprintf(o, n, "null"); break;
        case DRIFT_COL_BOOLEAN: snprintf(o, n, "%s", v.i ? "true" : "false"); break;
        case DRIFT_COL_INTEGER:
        case DRIFT_COL_TIMESTAMP: snprintf(o, n, "%" PRId64, v.i); break;
        case DRIFT_COL_REAL: snprintf(o, n, "%.17g", v.r); break;
        default: snprintf(o, n, "%.*s", (int)(v.n > 100 ? 100 : v.n), (const char *)v.p); break;
        }
    }
    snprintf(msg, cap, "duplicate key value violates unique constraint \"%s_pkey\": Key (%s)=(%s) already exists.",
             d->name, cols, vals);
    return 1;
}

int drift_wcat_last_write(drift_wcat_t *self, uint64_t min_seq, uint32_t table, const uint8_t *pk, size_t len,
                          uint64_t *ret_seq, int *ret_op)
{
    /* the snapshot only ever moves forward (s_advance), so once >= min_seq it stays so; checked anyway: an
     * answer from a snapshot older than min_seq would miss writes the caller does not hold */
    if (self->index_state != 1 || !self->rd || drift_index_rd_seq(self->rd) < min_seq)
        return -ESTALE;
    return drift_index_last_write(self->rd, table, pk, len, ret_seq, ret_op);
}

uint64_t drift_wcat_snapshot_seq(const drift_wcat_t *self)
{
    return self->index_state == 1 && self->rd ? drift_index_rd_seq(self->rd) : 0;
}

int drift_wcat_index_usable(const drift_wcat_t *self)
{
    return self->index_state == 1 && self->rd != NULL;
}

void drift_wcat_stats(const drift_wcat_t *self, drift_wcat_stats_t *ret)
{
    memset(ret, 0, sizeof *ret);
    for (size_t i = 0; i < self->ntb; i++)
        for (wtab_t *t = self->tb[i]; t; t = t->next) {
            ret->tables += t->nhist > 0;
            ret->live += t->cur != NULL;
            ret->unique += t->cur && t->nuniq;
        }
    ret->tail_nodes = self->tail.count;
    ret->tail_bytes = self->tail.bytes;
    ret->base_seq = self->base;
    ret->index_state = self->index_state;
}
