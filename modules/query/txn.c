/* modules/query/txn.c — a session's transaction (txn.h): the ops in the
 * order they were made (they become the frame), an ordered view of the
 * pending state of every (table, pk) the transaction wrote, the
 * transaction's own DDL, the SERIALIZABLE read set, savepoints and the commit
 * round trip to the writer.
 *
 * Layout. Every byte the transaction keeps (keys, rows, merged rows, names)
 * is copied into one arena owned by the transaction and freed with it. The
 * view is a skip list ordered by (table, pk bytes): O(log n) insert and seek,
 * in-order iteration for overlay scans (10k inserts in one transaction stay
 * well under a millisecond each). A second skip list of the same kind holds
 * the transaction's unique-index entries (index id, values ‖ pk): table.c
 * records every row it writes there and checks candidates against the view,
 * so that a UNIQUE check against the pending writes is O(log n) too.
 *
 * ROLLBACK TO truncates the op array and rebuilds the view and the DDL state
 * from the remaining ops (O(ops)); the arena is not rewound (what rolled back
 * stays allocated until the transaction ends). Unique-index entries are never
 * removed: they are candidates, verified against the view by the caller.
 *
 * The read set is only kept under SERIALIZABLE (the writer only validates it
 * there). Single-threaded, like the session that owns it. */
#include "modules/query/txn.h"

#include <errno.h>
#include <inttypes.h>
#include <msgpack.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/errors.h"
#include "ipc/msg.h"
#include "modules/query/arena.h"

#define SL_MAX 24

/* One node of a skip list keyed by (id, key bytes). */
typedef struct s_node s_node_t;
struct s_node {
    uint32_t id;
    uint32_t key_len;
    const uint8_t *key;
    int state;          /* view: 1 live, 2 deleted */
    const uint8_t *row; /* view: the row as the overlay shows it (merged after patches) */
    size_t row_len;
    uint32_t ver;
    uint32_t nw;  /* view: ops of the transaction on this key */
    uint32_t dop; /* view: 1 + index of the op that carries a re-evaluation delta (0 = none) */
    int level;
    s_node_t *next[];
};

typedef struct {
    s_node_t *head;
    int level;
    uint64_t rng;
    size_t n;
} s_slist_t;

typedef struct {
    drift_cop_t op;
    uint32_t table;
    const uint8_t *key; /* NULL for ddl */
    uint32_t key_len;
    const uint8_t *row; /* what goes into the frame */
    size_t row_len;
    const uint8_t *vrow; /* what the view shows (merged row for a patch; == row otherwise) */
    size_t vrow_len;
    uint32_t ver;
    const uint8_t *delta; /* READ COMMITTED re-evaluation spec (commit.h "delta"), NULL = none */
    size_t delta_len;
} s_op_t;

/* One pending DDL op, decoded. */
typedef struct {
    uint32_t table;
    int dropped;
    uint32_t version;
    const uint8_t *def; /* TABLEDEF bytes, NULL when dropped */
    size_t def_len;
    const char *name; /* the table's name in this def ("" when unknown for a drop) */
    uint32_t max_index;
} s_def_t;

typedef struct {
    uint32_t table;
    int whole;
    const uint8_t *key;
    uint32_t key_len;
} s_read_t;

typedef struct {
    char *name;
    size_t nops;
} s_savepoint_t;

struct drift_txn {
    drift_iso_t iso;
    uint64_t snapshot;
    uint64_t write_snap; /* READ COMMITTED: the snapshot of the first statement that wrote (0 = no write yet) */
    uint64_t source;     /* the commit request's "session" (0 = none), see drift_txn_set_source */
    drift_arena_t arena;
    s_op_t *ops;
    size_t nops, capops;
    s_slist_t view;
    s_slist_t uidx;
    s_def_t *defs;
    size_t ndefs, capdefs;
    uint32_t max_table, max_index;
    s_slist_t reads; /* id = table, key (key_len 0 + state 1 = whole table) */
    size_t nreads;
    s_savepoint_t *sps;
    size_t nsps, capsps;
};

/* ------------------------------------------------------------ skip list */

/* memcmp order of (aid, a) vs (bid, b), shorter first on ties. */
static int s_keycmp(uint32_t aid, const uint8_t *a, size_t an, uint32_t bid, const uint8_t *b, size_t bn)
{
    if (aid != bid)
        return aid < bid ? -1 : 1;
    size_t m = an < bn ? an : bn;
    int c = m ? memcmp(a, b, m) : 0;
    return c ? c : (an < bn ? -1 : an > bn);
}

static int s_sl_init(drift_arena_t *a, s_slist_t *l, uint64_t seed)
{
    l->head = drift_arena_alloc(a, sizeof(s_node_t) + SL_MAX * sizeof(s_node_t *));
    if (!l->head)
        return -ENOMEM;
    l->head->level = SL_MAX;
    l->level = 1;
    l->rng = seed | 1;
    l->n = 0;
    return 0;
}

/* The last node < (id, key) at each level in update[] (head when none). */
static void s_sl_path(s_slist_t *l, uint32_t id, const uint8_t *key, size_t len, s_node_t **update)
{
    s_node_t *x = l->head;
    for (int i = l->level - 1; i >= 0; i--) {
        while (x->next[i] && s_keycmp(x->next[i]->id, x->next[i]->key, x->next[i]->key_len, id, key, len) < 0)
            x = x->next[i];
        update[i] = x;
    }
}

/* The first node >= (id, key), or NULL. */
static s_node_t *s_sl_seek(const s_slist_t *l, uint32_t id, const uint8_t *key, size_t len)
{
    s_node_t *x = l->head;
    for (int i = l->level - 1; i >= 0; i--)
        while (x->next[i] && s_keycmp(x->next[i]->id, x->next[i]->key, x->next[i]->key_len, id, key, len) < 0)
            x = x->next[i];
    return x->next[0];
}

/* The node for (id, key), created (key copied, state 0) when absent; NULL on ENOMEM. */
static s_node_t *s_sl_get(drift_arena_t *a, s_slist_t *l, uint32_t id, const uint8_t *key, size_t len)
{
    s_node_t *update[SL_MAX];
    s_sl_path(l, id, key, len, update);
    s_node_t *x = update[0]->next[0];
    if (x && s_keycmp(x->id, x->key, x->key_len, id, key, len) == 0)
        return x;
    /* xorshift64 for the level: p = 1/4 */
    int lvl = 1;
    l->rng ^= l->rng << 13;
    l->rng ^= l->rng >> 7;
    l->rng ^= l->rng << 17;
    uint64_t r = l->rng;
    while (lvl < SL_MAX && (r & 3) == 0) {
        lvl++;
        r >>= 2;
    }
    x = drift_arena_alloc(a, sizeof(s_node_t) + (size_t)lvl * sizeof(s_node_t *));
    if (!x)
        return NULL;
    x->id = id;
    x->key_len = (uint32_t)len;
    x->key = drift_arena_memdup(a, key, len);
    if (!x->key)
        return NULL;
    x->level = lvl;
    if (lvl > l->level) {
        for (int i = l->level; i < lvl; i++)
            update[i] = l->head;
        l->level = lvl;
    }
    for (int i = 0; i < lvl; i++) {
        x->next[i] = update[i]->next[i];
        update[i]->next[i] = x;
    }
    l->n++;
    return x;
}

/* ------------------------------------------------------------ MessagePack helpers */

/* The end of the value at p, or NULL. */
static const uint8_t *s_mp_next(const uint8_t *p, const uint8_t *end)
{
    size_t used;
    if (p >= end || drift_msg_skip(p, (size_t)(end - p), &used) < 0)
        return NULL;
    return p + used;
}

/* Decodes the single value at p..q into a msgpack object (zone z). Returns 0 or -1. */
static int s_mp_obj(const uint8_t *p, const uint8_t *q, msgpack_zone *z, msgpack_object *o)
{
    size_t off = 0;
    return msgpack_unpack((const char *)p, (size_t)(q - p), &off, z, o) == MSGPACK_UNPACK_SUCCESS ? 0 : -1;
}

/* Whether the str at p..q equals s. */
static int s_mp_streq(const uint8_t *p, const uint8_t *q, const char *s)
{
    size_t n = strlen(s);
    if (p >= q)
        return 0;
    if ((*p & 0xe0) == 0xa0)
        return (size_t)(*p & 0x1f) == n && (size_t)(q - p) == n + 1 && memcmp(p + 1, s, n) == 0;
    if (*p == 0xd9)
        return (size_t)(q - p) == n + 2 && p[1] == n && memcmp(p + 2, s, n) == 0;
    return 0;
}

/* ------------------------------------------------------------ ops and derived state */

/* Records a DDL op's decoded form. */
static int s_def_note(drift_txn_t *t, const s_op_t *op)
{
    if (op->table > t->max_table)
        t->max_table = op->table;
    s_def_t d = {.table = op->table, .name = ""};
    const uint8_t *p = op->row, *end = op->row + op->row_len;
    uint32_t n;
    if (!op->row || drift_msg_container(&p, end, 1, &n) < 0)
        return 0; /* not a DDL map: nothing to learn (the writer/indexer will judge it) */
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *q = s_mp_next(p, end), *r;
        if (!q || !(r = s_mp_next(q, end)))
            return 0;
        if (s_mp_streq(p, q, "ddl"))
            d.dropped = s_mp_streq(q, r, "drop_table");
        else if (s_mp_streq(p, q, "def")) {
            d.def = q;
            d.def_len = (size_t)(r - q);
        }
        p = r;
    }
    if (d.dropped) {
        d.def = NULL;
        d.def_len = 0;
        for (size_t i = t->ndefs; i-- > 0;)
            if (t->defs[i].table == op->table) {
                d.name = t->defs[i].name;
                d.version = t->defs[i].version;
                break;
            }
    } else if (d.def) {
        drift_index_tdef_t *td = NULL;
        char err[160];
        if (drift_index_tdef_parse(d.def, d.def_len, op->table, &td, err, sizeof err) < 0)
            return 0;
        d.version = td->version;
        d.name = drift_arena_strndup(&t->arena, td->name, strlen(td->name));
        for (uint32_t i = 0; i < td->nidx; i++)
            if (td->idx[i].id > d.max_index)
                d.max_index = td->idx[i].id;
        drift_index_tdef_destroy(&td);
        if (!d.name)
            return -ENOMEM;
        if (d.max_index > t->max_index)
            t->max_index = d.max_index;
    } else
        return 0;
    if (t->ndefs == t->capdefs) {
        size_t cap = t->capdefs ? 2 * t->capdefs : 8;
        s_def_t *nd = realloc(t->defs, cap * sizeof *nd);
        if (!nd)
            return -ENOMEM;
        t->defs = nd;
        t->capdefs = cap;
    }
    t->defs[t->ndefs++] = d;
    return 0;
}

/* Applies op number idx to the view / DDL state. */
static int s_apply(drift_txn_t *t, const s_op_t *op, size_t idx)
{
    if (op->op == DRIFT_COP_DDL)
        return s_def_note(t, op);
    s_node_t *x = s_sl_get(&t->arena, &t->view, op->table, op->key, op->key_len);
    if (!x)
        return -ENOMEM;
    x->nw++;
    x->dop = op->delta ? (uint32_t)idx + 1 : 0;
    if (op->op == DRIFT_COP_DELETE) {
        x->state = 2;
        x->row = NULL;
        x->row_len = 0;
        x->ver = 0;
    } else if (op->op == DRIFT_COP_PATCH) {
        /* the merged row (from the caller, or merged at put time); an unmerged patch leaves the view as is */
        if (op->vrow != op->row) {
            x->state = 1;
            x->row = op->vrow;
            x->row_len = op->vrow_len;
            x->ver = op->ver;
        }
    } else {
        x->state = 1;
        x->row = op->vrow;
        x->row_len = op->vrow_len;
        x->ver = op->ver;
    }
    return 0;
}

/* Rebuilds the view and the DDL state from the ops. */
static int s_rebuild(drift_txn_t *t)
{
    t->ndefs = 0;
    t->max_table = t->max_index = 0;
    int rc = s_sl_init(&t->arena, &t->view, t->view.rng);
    for (size_t i = 0; rc == 0 && i < t->nops; i++)
        rc = s_apply(t, &t->ops[i], i);
    return rc;
}

/* Latest pending definition entry of table, or NULL. */
static const s_def_t *s_def_latest(const drift_txn_t *t, uint32_t table)
{
    for (size_t i = t->ndefs; i-- > 0;)
        if (t->defs[i].table == table)
            return &t->defs[i];
    return NULL;
}

/* Merges a patch map into row (array in the columns of def), result in the arena. Keys: column names or
 * ids. Returns 0, -1 (cannot merge) or -ENOMEM. */
static int s_merge(drift_txn_t *t, const uint8_t *def, size_t def_len, uint32_t table, const uint8_t *row,
                   size_t row_len, const uint8_t *patch, size_t patch_len, const uint8_t **ret, size_t *ret_len)
{
    drift_index_tdef_t *td = NULL;
    char err[160];
    int rc = -1;
    const uint8_t **el = NULL;
    size_t *ellen = NULL;
    if (drift_index_tdef_parse(def, def_len, table, &td, err, sizeof err) < 0)
        return -1;
    el = calloc(td->ncols, sizeof *el);
    ellen = calloc(td->ncols, sizeof *ellen);
    if (!el || !ellen) {
        rc = -ENOMEM;
        goto out;
    }
    static const uint8_t nil = 0xc0;
    const uint8_t *p = row, *end = row + row_len;
    uint32_t n;
    if (drift_msg_container(&p, end, 0, &n) < 0)
        goto out;
    for (uint32_t i = 0; i < td->ncols; i++) {
        el[i] = &nil;
        ellen[i] = 1;
    }
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *q = s_mp_next(p, end);
        if (!q)
            goto out;
        if (i < td->ncols) {
            el[i] = p;
            ellen[i] = (size_t)(q - p);
        }
        p = q;
    }
    p = patch;
    end = patch + patch_len;
    if (drift_msg_container(&p, end, 1, &n) < 0)
        goto out;
    for (uint32_t j = 0; j < n; j++) {
        const uint8_t *q = s_mp_next(p, end), *r;
        if (!q || !(r = s_mp_next(q, end)))
            goto out;
        int pos = -1;
        msgpack_zone z;
        msgpack_zone_init(&z, 256);
        msgpack_object k;
        if (s_mp_obj(p, q, &z, &k) == 0) {
            if (k.type == MSGPACK_OBJECT_POSITIVE_INTEGER && k.via.u64 <= UINT32_MAX)
                pos = drift_index_tdef_colpos(td, (uint32_t)k.via.u64);
            else if (k.type == MSGPACK_OBJECT_STR)
                for (uint32_t i = 0; i < td->ncols; i++)
                    if (strlen(td->cols[i].name) == k.via.str.size &&
                        memcmp(td->cols[i].name, k.via.str.ptr, k.via.str.size) == 0)
                        pos = (int)i;
        }
        msgpack_zone_destroy(&z);
        if (pos < 0)
            goto out;
        el[pos] = q;
        ellen[pos] = (size_t)(r - q);
        p = r;
    }
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, td->ncols);
    for (uint32_t i = 0; i < td->ncols; i++)
        msgpack_sbuffer_write(&sb, (const char *)el[i], ellen[i]);
    *ret = drift_arena_memdup(&t->arena, sb.data, sb.size);
    *ret_len = sb.size;
    msgpack_sbuffer_destroy(&sb);
    rc = *ret ? 0 : -ENOMEM;
out:
    free(el);
    free(ellen);
    drift_index_tdef_destroy(&td);
    return rc;
}

/* ------------------------------------------------------------ API */

drift_txn_t *drift_txn_new(drift_iso_t iso, uint64_t snapshot)
{
    drift_txn_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->iso = iso;
    t->snapshot = snapshot;
    uint64_t seed = (uint64_t)(uintptr_t)t ^ 0x9e3779b97f4a7c15ull;
    if (s_sl_init(&t->arena, &t->view, seed) < 0 || s_sl_init(&t->arena, &t->uidx, seed * 3) < 0 ||
        s_sl_init(&t->arena, &t->reads, seed * 5) < 0) {
        drift_txn_destroy(&t);
        return NULL;
    }
    return t;
}

void drift_txn_destroy(drift_txn_t **self_p)
{
    drift_txn_t *t = *self_p;
    if (!t)
        return;
    drift_arena_free(&t->arena);
    free(t->ops);
    free(t->defs);
    for (size_t i = 0; i < t->nsps; i++)
        free(t->sps[i].name);
    free(t->sps);
    free(t);
    *self_p = NULL;
}

drift_iso_t drift_txn_iso(const drift_txn_t *t)
{
    return t->iso;
}

uint64_t drift_txn_snapshot(const drift_txn_t *t)
{
    return t->snapshot;
}

void drift_txn_set_snapshot(drift_txn_t *t, uint64_t snapshot)
{
    t->snapshot = snapshot;
}

size_t drift_txn_nops(const drift_txn_t *t)
{
    return t->nops;
}

int drift_txn_put_row(drift_txn_t *t, drift_cop_t op, uint32_t table, const void *key, size_t key_len,
                      const void *row, size_t row_len, uint32_t ver, const void *view_row, size_t view_len)
{
    if (t->nops == t->capops) {
        size_t cap = t->capops ? 2 * t->capops : 64;
        s_op_t *no = realloc(t->ops, cap * sizeof *no);
        if (!no)
            return -ENOMEM;
        t->ops = no;
        t->capops = cap;
    }
    s_op_t o = {.op = op, .table = table, .key_len = (uint32_t)key_len, .row_len = row_len, .ver = ver};
    if (op != DRIFT_COP_DDL) {
        if (!(o.key = drift_arena_memdup(&t->arena, key ? key : "", key ? key_len : 0)))
            return -ENOMEM;
        if (!key)
            o.key_len = 0;
    }
    if (row && op != DRIFT_COP_DELETE && !(o.row = drift_arena_memdup(&t->arena, row, row_len)))
        return -ENOMEM;
    if (!o.row)
        o.row_len = 0;
    o.vrow = o.row;
    o.vrow_len = o.row_len;
    if (view_row && op != DRIFT_COP_DELETE && op != DRIFT_COP_DDL) {
        if (!(o.vrow = drift_arena_memdup(&t->arena, view_row, view_len)))
            return -ENOMEM;
        o.vrow_len = view_len;
    } else if (op == DRIFT_COP_PATCH && o.row) {
        /* merge into a pending live row when the transaction knows its schema version */
        s_node_t *x = s_sl_seek(&t->view, table, o.key, o.key_len);
        if (x && x->state == 1 && s_keycmp(x->id, x->key, x->key_len, table, o.key, o.key_len) == 0) {
            const s_def_t *d = NULL;
            for (size_t i = t->ndefs; i-- > 0;)
                if (t->defs[i].table == table && t->defs[i].def && t->defs[i].version == x->ver) {
                    d = &t->defs[i];
                    break;
                }
            const uint8_t *m;
            size_t mlen;
            int rc;
            if (d && (rc = s_merge(t, d->def, d->def_len, table, x->row, x->row_len, o.row, o.row_len, &m, &mlen)) == 0) {
                o.vrow = m;
                o.vrow_len = mlen;
                o.ver = x->ver;
            } else if (d && rc == -ENOMEM)
                return -ENOMEM;
        }
    }
    int rc = s_apply(t, &o, t->nops);
    if (rc < 0)
        return rc;
    if (t->nops == 0)
        t->write_snap = t->snapshot;
    t->ops[t->nops++] = o;
    return 0;
}

int drift_txn_put(drift_txn_t *t, drift_cop_t op, uint32_t table, const void *key, size_t key_len, const void *row,
                  size_t row_len)
{
    const s_def_t *d = s_def_latest(t, table);
    return drift_txn_put_row(t, op, table, key, key_len, row, row_len, d && !d->dropped ? d->version : 0, NULL, 0);
}

/* The transaction read the pending row of x: its value depended on the snapshot the row was computed at, so the op
 * that wrote it loses its re-evaluation delta (the writer then applies the plain write-write rule to it). */
static void s_observed(const drift_txn_t *t, s_node_t *x)
{
    if (x->dop) {
        t->ops[x->dop - 1].delta = NULL;
        t->ops[x->dop - 1].delta_len = 0;
        x->dop = 0;
    }
}

int drift_txn_lookup(const drift_txn_t *t, uint32_t table, const void *key, size_t key_len, const uint8_t **ret_row,
                     size_t *ret_row_len, uint32_t *ret_ver)
{
    s_node_t *x = s_sl_seek(&t->view, table, key, key_len);
    if (!x || s_keycmp(x->id, x->key, x->key_len, table, key, key_len) != 0 || x->state == 0)
        return 0;
    if (ret_row)
        s_observed(t, x); /* only existence asked: no value was read */
    if (ret_row)
        *ret_row = x->row;
    if (ret_row_len)
        *ret_row_len = x->row_len;
    if (ret_ver)
        *ret_ver = x->ver;
    return x->state;
}

int drift_txn_foreach_key(const drift_txn_t *t, uint32_t table, const void *lo, size_t lo_len, const void *hi,
                          size_t hi_len, drift_txn_key_fn fn, void *arg)
{
    s_node_t *x = s_sl_seek(&t->view, table, lo ? lo : "", lo ? lo_len : 0);
    for (; x && x->id == table; x = x->next[0]) {
        if (hi && s_keycmp(x->id, x->key, x->key_len, table, hi, hi_len) >= 0)
            break;
        if (x->state == 0)
            continue;
        s_observed(t, x);
        int rc = fn(x->key, x->key_len, x->state, x->row, x->row_len, x->ver, arg);
        if (rc)
            return rc;
    }
    return 0;
}

int drift_txn_next_key(const drift_txn_t *t, uint32_t table, const void *after, size_t after_len, int inclusive,
                       const void *hi, size_t hi_len, const uint8_t **ret_key, size_t *ret_key_len, int *ret_state,
                       const uint8_t **ret_row, size_t *ret_row_len, uint32_t *ret_ver)
{
    s_node_t *x = s_sl_seek(&t->view, table, after ? after : "", after ? after_len : 0);
    if (x && after && !inclusive && s_keycmp(x->id, x->key, x->key_len, table, after, after_len) == 0)
        x = x->next[0];
    while (x && x->id == table && x->state == 0)
        x = x->next[0];
    if (!x || x->id != table || (hi && s_keycmp(x->id, x->key, x->key_len, table, hi, hi_len) >= 0))
        return 0;
    s_observed(t, x);
    *ret_key = x->key;
    *ret_key_len = x->key_len;
    *ret_state = x->state;
    *ret_row = x->row;
    *ret_row_len = x->row_len;
    *ret_ver = x->ver;
    return 1;
}

size_t drift_txn_table_nkeys(const drift_txn_t *t, uint32_t table, size_t *ret_deleted)
{
    size_t live = 0, del = 0;
    for (s_node_t *x = s_sl_seek(&t->view, table, (const uint8_t *)"", 0); x && x->id == table; x = x->next[0]) {
        if (x->state == 1)
            live++;
        else if (x->state == 2)
            del++;
    }
    if (ret_deleted)
        *ret_deleted = del;
    return live;
}

int drift_txn_pending_def(const drift_txn_t *t, uint32_t table, const uint8_t **ret_def, size_t *ret_len)
{
    const s_def_t *d = s_def_latest(t, table);
    if (!d)
        return 0;
    *ret_def = d->def;
    *ret_len = d->def_len;
    return 1;
}

int drift_txn_pending_def_ver(const drift_txn_t *t, uint32_t table, uint32_t version, const uint8_t **ret_def,
                              size_t *ret_len)
{
    for (size_t i = t->ndefs; i-- > 0;)
        if (t->defs[i].table == table && t->defs[i].def && t->defs[i].version == version) {
            *ret_def = t->defs[i].def;
            *ret_len = t->defs[i].def_len;
            return 1;
        }
    return 0;
}

int drift_txn_pending_name(const drift_txn_t *t, const char *name, uint32_t *ret_table, int *ret_dropped)
{
    for (size_t i = t->ndefs; i-- > 0;) {
        const s_def_t *d = &t->defs[i];
        if (d->dropped || strcmp(d->name, name) != 0)
            continue;
        *ret_table = d->table;
        *ret_dropped = s_def_latest(t, d->table) != d;
        return 1;
    }
    return 0;
}

int drift_txn_foreach_pending_table(const drift_txn_t *t, int (*fn)(uint32_t table, const char *name, int dropped,
                                                                     void *arg),
                                    void *arg)
{
    for (size_t i = 0; i < t->ndefs; i++) {
        const s_def_t *d = &t->defs[i];
        if (s_def_latest(t, d->table) != d)
            continue;
        int rc = fn(d->table, d->name, d->dropped, arg);
        if (rc)
            return rc;
    }
    return 0;
}

uint32_t drift_txn_max_table_id(const drift_txn_t *t)
{
    return t->max_table;
}

uint32_t drift_txn_max_index_id(const drift_txn_t *t)
{
    return t->max_index;
}

int drift_txn_note_read(drift_txn_t *t, uint32_t table, const void *key, size_t key_len)
{
    if (t->iso != DRIFT_ISO_SERIALIZABLE)
        return 0;
    /* a whole-table entry (empty key, state 2) covers every key of the table */
    s_node_t *w = s_sl_seek(&t->reads, table, (const uint8_t *)"", 0);
    if (w && w->id == table && w->key_len == 0 && w->state == 2)
        return 0;
    s_node_t *x = s_sl_get(&t->arena, &t->reads, table, key ? key : "", key ? key_len : 0);
    if (!x)
        return -ENOMEM;
    if (!x->state) {
        x->state = 1;
        t->nreads++;
    }
    return 0;
}

int drift_txn_note_table_read(drift_txn_t *t, uint32_t table)
{
    if (t->iso != DRIFT_ISO_SERIALIZABLE)
        return 0;
    s_node_t *x = s_sl_get(&t->arena, &t->reads, table, (const uint8_t *)"", 0);
    if (!x)
        return -ENOMEM;
    if (x->state == 2)
        return 0;
    if (!x->state)
        t->nreads++;
    x->state = 2;
    return 0;
}

size_t drift_txn_nreads(const drift_txn_t *t)
{
    return t->nreads;
}

int drift_txn_uidx_add(drift_txn_t *t, uint32_t index_id, const void *vals, size_t vals_len, const void *pk,
                       size_t pk_len)
{
    uint8_t stack[512];
    uint8_t *buf = vals_len + pk_len <= sizeof stack ? stack : malloc(vals_len + pk_len);
    if (!buf)
        return -ENOMEM;
    memcpy(buf, vals, vals_len);
    memcpy(buf + vals_len, pk, pk_len);
    s_node_t *x = s_sl_get(&t->arena, &t->uidx, index_id, buf, vals_len + pk_len);
    if (x && !x->state) {
        x->state = 1;
        x->ver = (uint32_t)vals_len;
    }
    if (buf != stack)
        free(buf);
    return x ? 0 : -ENOMEM;
}

int drift_txn_uidx_foreach(const drift_txn_t *t, uint32_t index_id, const void *vals, size_t vals_len,
                           int (*fn)(const uint8_t *pk, size_t pk_len, void *arg), void *arg)
{
    for (s_node_t *x = s_sl_seek(&t->uidx, index_id, vals, vals_len); x && x->id == index_id; x = x->next[0]) {
        if (x->key_len < vals_len || memcmp(x->key, vals, vals_len) != 0)
            break;
        if (x->ver != vals_len)
            continue; /* a longer value tuple that starts with the same bytes cannot happen; be safe */
        int rc = fn(x->key + vals_len, x->key_len - vals_len, arg);
        if (rc)
            return rc;
    }
    return 0;
}

/* The newest savepoint called name, or -1. */
static long s_sp_find(const drift_txn_t *t, const char *name)
{
    for (size_t i = t->nsps; i-- > 0;)
        if (strcmp(t->sps[i].name, name) == 0)
            return (long)i;
    return -1;
}

int drift_txn_savepoint(drift_txn_t *t, const char *name)
{
    if (t->nsps == t->capsps) {
        size_t cap = t->capsps ? 2 * t->capsps : 8;
        s_savepoint_t *n = realloc(t->sps, cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        t->sps = n;
        t->capsps = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return -ENOMEM;
    t->sps[t->nsps++] = (s_savepoint_t){copy, t->nops};
    return 0;
}

int drift_txn_release(drift_txn_t *t, const char *name)
{
    long i = s_sp_find(t, name);
    if (i < 0)
        return DRIFT_ENOTFOUND;
    while (t->nsps > (size_t)i)
        free(t->sps[--t->nsps].name);
    return 0;
}

int drift_txn_rollback_to(drift_txn_t *t, const char *name)
{
    long i = s_sp_find(t, name);
    if (i < 0)
        return DRIFT_ENOTFOUND;
    while (t->nsps > (size_t)i + 1)
        free(t->sps[--t->nsps].name);
    if (t->sps[i].nops == t->nops)
        return 0;
    t->nops = t->sps[i].nops;
    if (t->nops == 0)
        t->write_snap = 0;
    return s_rebuild(t);
}

int drift_txn_mark_delta(drift_txn_t *t, uint32_t table, const void *key, size_t key_len, uint64_t base_seq,
                         const drift_txn_delta_t *cols, size_t ncols)
{
    if (t->iso != DRIFT_ISO_READ_COMMITTED || !t->nops || !ncols || !base_seq)
        return 0;
    s_op_t *o = &t->ops[t->nops - 1];
    if (o->op != DRIFT_COP_UPDATE || o->table != table || !o->row ||
        s_keycmp(o->table, o->key, o->key_len, table, key, key_len) != 0)
        return 0;
    s_node_t *x = s_sl_seek(&t->view, table, key, key_len);
    if (!x || s_keycmp(x->id, x->key, x->key_len, table, key, key_len) != 0 || x->nw != 1)
        return 0; /* the transaction wrote the key before: the update read its own pending row */
    /* the elements of the row array */
    const uint8_t *p = o->row, *end = o->row + o->row_len;
    uint32_t n;
    if (drift_msg_container(&p, end, 0, &n) < 0)
        return 0;
    for (size_t i = 0; i < ncols; i++)
        if (cols[i].pos >= n)
            return 0;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, (uint32_t)(1 + 3 * ncols));
    msgpack_pack_uint64(&pk, base_seq);
    for (size_t i = 0; i < ncols; i++) {
        msgpack_pack_uint32(&pk, cols[i].pos);
        if (cols[i].add) {
            msgpack_pack_str(&pk, 3);
            msgpack_pack_str_body(&pk, "add", 3);
            if (cols[i].is_real)
                msgpack_pack_double(&pk, cols[i].r);
            else
                msgpack_pack_int64(&pk, cols[i].i);
            continue;
        }
        msgpack_pack_str(&pk, 3);
        msgpack_pack_str_body(&pk, "set", 3);
        const uint8_t *e = p, *q = NULL;
        for (uint32_t j = 0; j <= cols[i].pos; j++) {
            if (!(q = s_mp_next(e, end)))
                break;
            if (j < cols[i].pos)
                e = q;
        }
        if (!q) {
            msgpack_sbuffer_destroy(&sb);
            return 0;
        }
        msgpack_sbuffer_write(&sb, (const char *)e, (size_t)(q - e));
    }
    const uint8_t *d = sb.data ? drift_arena_memdup(&t->arena, sb.data, sb.size) : NULL;
    size_t dlen = sb.size;
    msgpack_sbuffer_destroy(&sb);
    if (!d)
        return -ENOMEM;
    o->delta = d;
    o->delta_len = dlen;
    x->dop = (uint32_t)t->nops;
    return 1;
}

int drift_txn_has_delta(const drift_txn_t *t, size_t op)
{
    return op < t->nops && t->ops[op].delta != NULL;
}

/* A request id unique within the process (and across processes sharing the writer: pid in the high bits). */
static uint64_t s_request_id(void)
{
    static _Atomic uint64_t next;
    uint64_t n = atomic_fetch_add(&next, 1);
    return (uint64_t)getpid() << 40 | (n & ((1ull << 40) - 1));
}

void drift_txn_set_source(drift_txn_t *t, uint64_t source)
{
    t->source = source;
}

int drift_txn_pack_request(const drift_txn_t *t, uint64_t id, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    size_t nreads = t->iso == DRIFT_ISO_SERIALIZABLE ? t->nreads : 0;
    uint64_t snap = t->snapshot;
    drift_iso_t iso = t->iso;
    if (iso == DRIFT_ISO_READ_COMMITTED && t->write_snap) {
        /* READ COMMITTED: a key this transaction wrote must not have been written by another commit after the
         * snapshot of the statement that wrote it. The protocol carries one snapshot, so the writer checks every
         * key against the first writing statement's snapshot with the repeatable-read (write-write) rule: exact
         * for one writing statement; with several, a key written by a later statement that another commit
         * changed in between is a (retryable) 40001 PostgreSQL would not raise. */
        snap = t->write_snap;
        iso = DRIFT_ISO_REPEATABLE_READ;
    }
    drift_commit_pack_request_session(&pk, id, snap, iso, t->nops, nreads, t->source);
    for (size_t i = 0; i < t->nops; i++) {
        const s_op_t *o = &t->ops[i];
        drift_commit_pack_op_delta(&pk, o->op, o->table,
                                   o->op == DRIFT_COP_DDL ? NULL : (o->key ? o->key : (const uint8_t *)""), o->key_len,
                                   o->op == DRIFT_COP_DELETE ? NULL : o->row, o->row_len, o->delta, o->delta_len);
    }
    if (nreads) {
        drift_commit_pack_reads_header(&pk, nreads);
        for (s_node_t *x = t->reads.head->next[0]; x; x = x->next[0]) {
            if (x->state == 2)
                drift_commit_pack_read(&pk, x->id, NULL, 0);
            else if (x->state == 1)
                drift_commit_pack_read(&pk, x->id, x->key, x->key_len);
        }
    }
    return 0;
}

int drift_txn_commit_send(drift_txn_t *t, drift_commit_client_t *client, uint64_t *ret_id, drift_sqlerr_t *err)
{
    if (!client)
        return drift_sqlerr_set(err, "08006", 0, "no connection to the writer");
    uint64_t id = s_request_id();
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    drift_txn_pack_request(t, id, &sb);
    int rc = drift_commit_client_send(client, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    if (rc < 0)
        return drift_sqlerr_set(err, "08006", 0, "could not send the commit to the writer: %s", strerror(-rc));
    *ret_id = id;
    return 0;
}

int drift_txn_commit_reply(const drift_commit_reply_t *r, uint64_t *ret_seq, uint64_t *ret_ts, drift_sqlerr_t *err)
{
    if (r->ok) {
        *ret_seq = r->seq;
        *ret_ts = r->ts_ns;
        return 0;
    }
    if (strcmp(r->code, DRIFT_SQLSTATE_NO_DATA) == 0)
        /* a row this transaction updated/deleted/patched was deleted by a concurrent commit */
        return drift_sqlerr_set(err, DRIFT_SQLSTATE_SERIALIZATION, 0,
                                "could not serialize access due to concurrent delete (%s)", r->message);
    return drift_sqlerr_set(err, r->code[0] ? r->code : "XX000", 0, "%s",
                            r->message[0] ? r->message : "the writer refused the commit");
}

int drift_txn_commit(drift_txn_t *t, drift_commit_client_t *client, int timeout_ms, uint64_t *ret_seq,
                     uint64_t *ret_ts, drift_sqlerr_t *err)
{
    if (t->nops == 0) {
        *ret_seq = t->snapshot;
        *ret_ts = 0;
        return 0;
    }
    uint64_t id = 0;
    int rc = drift_txn_commit_send(t, client, &id, err);
    if (rc < 0)
        return rc;
    struct timespec ts0;
    clock_gettime(CLOCK_MONOTONIC, &ts0);
    int64_t deadline = (int64_t)ts0.tv_sec * 1000 + ts0.tv_nsec / 1000000 + timeout_ms;
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t left = deadline - ((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
        if (timeout_ms < 0)
            left = -1;
        else if (left < 0)
            left = 0;
        drift_commit_reply_t r;
        rc = drift_commit_client_recv(client, (int)left, &r);
        if (rc == -EAGAIN)
            return drift_sqlerr_set(err, "08006", 0,
                                    "the writer did not answer the commit within %d ms (its outcome is unknown)",
                                    timeout_ms);
        if (rc == -EINTR)
            continue;
        if (rc == DRIFT_EPROTO)
            continue; /* an undecodable reply: not ours to judge, keep waiting for ours */
        if (rc < 0)
            return drift_sqlerr_set(err, "08006", 0, "lost the writer while committing: %s", strerror(-rc));
        if (r.id != id)
            continue; /* a late reply to an earlier request that timed out */
        return drift_txn_commit_reply(&r, ret_seq, ret_ts, err);
    }
}
