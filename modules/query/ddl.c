/* modules/query/ddl.c — DDL statements (table.h: drift_ddl_execute): each
 * computes the complete new definition of the table (TABLEDEF, docs/indexes.md
 * §1) from the definition the statement sees (the snapshot plus the
 * transaction's own DDL) and puts one op {"ddl": KIND, "def": TABLEDEF}
 * ({"ddl": "drop_table"} without def) into q->txn. Nothing is written before
 * COMMIT; the writer (catalog) re-checks names and concurrent DDL.
 *
 * Ids. A new table takes max(every table id the catalog ever held, the
 * transaction's) + 1; a new index max(every index id of every definition ever,
 * the transaction's) + 1 (ids are never reused, so history stays unambiguous);
 * column ids are 1..n at CREATE and ADD COLUMN takes max(every column id any
 * version of the table had) + 1.
 *
 * TABLEDEF keys beyond docs/indexes.md (drift_index_tdef_parse ignores them;
 * table.c reads them):
 *   column "default": the DEFAULT value, stored like a row value of the
 *            column's type (DEFAULT expressions are evaluated once, at CREATE /
 *            ADD COLUMN: DEFAULT now() is the creation time, not the insert time);
 *   column "hidden": true — the generated `_rowid` INTEGER primary key of a table
 *            declared without PRIMARY KEY (last column; not in SELECT *);
 *   "driftql": the layout of a DriftQL document table (below);
 *   "view": the SELECT text of a view (below).
 *
 * Views. `CREATE VIEW v AS SELECT ...` is a catalog entry like a table (its own
 * table id, a create_table op) whose TABLEDEF is
 *   {"name": "v", "version": 1, "columns": [{"id": 1, "name": "_view",
 *    "type": "INTEGER", "hidden": true}], "pk": [1], "indexes": [],
 *    "view": "SELECT ..."}
 * (the placeholder column keeps the definition valid for every catalog reader:
 * the indexer, the writer's catalog, driftctl verify; a view never has rows).
 * Views and tables share one namespace (42P07). DROP VIEW is a drop_table op on
 * the view's id, so the view stays readable as of before the drop. Tables and
 * views are told apart by "view": DROP TABLE / ALTER / CREATE INDEX on a view
 * and DROP VIEW on a table are 42809. The executor checks that the SELECT binds
 * before it calls drift_ddl_execute (exec.c).
 *
 * DriftQL document tables. `CREATE TABLE t (pk=id, INDEX(a, b), INDEX(c))` is
 * the SQL table
 *   t(id JSON NOT NULL PRIMARY KEY,   -- column 1: the key field's JSON value
 *     a JSON, b JSON, c JSON,         -- one column per distinct INDEX field (ids 2..),
 *                                     -- the field's JSON value, NULL when absent
 *     doc JSON NOT NULL)              -- the whole document (canonical JSON text)
 * with one secondary index per INDEX(...) clause over its field columns, named
 * t_a_b_idx, t_c_idx; the TABLEDEF carries
 *   "driftql": {"key_field": "id", "key_column": 1, "doc_column": 5,
 *               "fields": [{"field": "a", "column": 2}, {"field": "b", "column": 3},
 *                          {"field": "c", "column": 4}]}
 * (columns by id, so RENAME COLUMN keeps the layout). A field named `doc` is
 * refused (42701). Keys are JSON values: KEY 5 and {"id": 5} both store the
 * JSON text 5. drift_table_insert_doc extracts the columns from a document;
 * drift_table_patch_doc merges shallowly and writes a patch op of the changed
 * columns (by column id). Plain SQL reads see the columns; SQL UPDATE of doc
 * does not re-extract the field columns.
 *
 * Single-threaded (the statement's worker). */
#include <errno.h>
#include <inttypes.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "modules/query/ast.h"
#include "modules/query/expr.h"
#include "modules/query/table.h"
#include "modules/query/txn.h"

#define MAX_KEY_COLS 16u

typedef struct {
    uint32_t id;
    const char *name;
    drift_coltype_t type;
    int not_null, unique, hidden, has_default;
    drift_value_t def;
} s_col_t;

typedef struct {
    uint32_t id;
    const char *name;
    int unique;
    uint32_t ncols;
    uint32_t cols[MAX_KEY_COLS]; /* column ids */
} s_idx_t;

typedef struct {
    const char *field;
    uint32_t col;
} s_field_t;

/* A definition being built (arrays in the arena, with room for one more entry). */
typedef struct {
    uint32_t table;
    const char *name;
    uint32_t version;
    s_col_t *cols;
    uint32_t ncols;
    uint32_t pk[MAX_KEY_COLS];
    uint32_t npk;
    s_idx_t *idx;
    uint32_t nidx;
    int driftql;
    const char *key_field;
    uint32_t key_col, doc_col;
    s_field_t *fields;
    uint32_t nfields;
    const char *view; /* a view's SELECT text, or NULL */
} s_def_t;

/* ------------------------------------------------------------------ helpers */

static uint32_t s_pos(const drift_qctx_t *q, uint32_t pos)
{
    if (!q->sql)
        return 0;
    uint32_t n = 1;
    for (uint32_t i = 0; i < pos && i < q->sql_len; i++)
        if (((unsigned char)q->sql[i] & 0xc0) != 0x80)
            n++;
    return n;
}

static int s_oom(drift_qctx_t *q)
{
    return drift_sqlerr_set(q->err, "53200", 0, "out of memory");
}

static void s_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* Packs d as a TABLEDEF map. */
static void s_pack_def(msgpack_packer *pk, const s_def_t *d)
{
    msgpack_pack_map(pk, 5 + (d->driftql != 0) + (d->view != NULL));
    s_str(pk, "name");
    s_str(pk, d->name);
    s_str(pk, "version");
    msgpack_pack_uint32(pk, d->version);
    s_str(pk, "columns");
    msgpack_pack_array(pk, d->ncols);
    for (uint32_t i = 0; i < d->ncols; i++) {
        const s_col_t *c = &d->cols[i];
        msgpack_pack_map(pk, 3 + (c->not_null != 0) + (c->unique != 0) + (c->hidden != 0) + (c->has_default != 0));
        s_str(pk, "id");
        msgpack_pack_uint32(pk, c->id);
        s_str(pk, "name");
        s_str(pk, c->name);
        s_str(pk, "type");
        s_str(pk, drift_coltype_name(c->type));
        if (c->not_null) {
            s_str(pk, "not_null");
            msgpack_pack_true(pk);
        }
        if (c->unique) {
            s_str(pk, "unique");
            msgpack_pack_true(pk);
        }
        if (c->hidden) {
            s_str(pk, "hidden");
            msgpack_pack_true(pk);
        }
        if (c->has_default) {
            s_str(pk, "default");
            drift_val_pack(pk, &c->def);
        }
    }
    s_str(pk, "pk");
    msgpack_pack_array(pk, d->npk);
    for (uint32_t i = 0; i < d->npk; i++)
        msgpack_pack_uint32(pk, d->pk[i]);
    s_str(pk, "indexes");
    msgpack_pack_array(pk, d->nidx);
    for (uint32_t i = 0; i < d->nidx; i++) {
        const s_idx_t *x = &d->idx[i];
        msgpack_pack_map(pk, 3 + (x->unique != 0));
        s_str(pk, "id");
        msgpack_pack_uint32(pk, x->id);
        s_str(pk, "name");
        s_str(pk, x->name);
        s_str(pk, "columns");
        msgpack_pack_array(pk, x->ncols);
        for (uint32_t j = 0; j < x->ncols; j++)
            msgpack_pack_uint32(pk, x->cols[j]);
        if (x->unique) {
            s_str(pk, "unique");
            msgpack_pack_true(pk);
        }
    }
    if (d->view) {
        s_str(pk, "view");
        s_str(pk, d->view);
    }
    if (d->driftql) {
        s_str(pk, "driftql");
        msgpack_pack_map(pk, 4);
        s_str(pk, "key_field");
        s_str(pk, d->key_field);
        s_str(pk, "key_column");
        msgpack_pack_uint32(pk, d->key_col);
        s_str(pk, "doc_column");
        msgpack_pack_uint32(pk, d->doc_col);
        s_str(pk, "fields");
        msgpack_pack_array(pk, d->nfields);
        for (uint32_t i = 0; i < d->nfields; i++) {
            msgpack_pack_map(pk, 2);
            s_str(pk, "field");
            s_str(pk, d->fields[i].field);
            s_str(pk, "column");
            msgpack_pack_uint32(pk, d->fields[i].col);
        }
    }
}

/* Puts the DDL op {"ddl": kind[, "def": d]} of table into the transaction. */
static int s_put(drift_qctx_t *q, uint32_t table, const char *kind, const s_def_t *d)
{
    if (!q->txn)
        return drift_sqlerr_set(q->err, "25000", 0, "no transaction to put the DDL in");
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, d ? 2 : 1);
    s_str(&pk, "ddl");
    s_str(&pk, kind);
    if (d) {
        s_str(&pk, "def");
        size_t at = sb.size;
        s_pack_def(&pk, d);
        /* what the indexer and the writer will parse: refuse here what they would refuse */
        drift_index_tdef_t *td = NULL;
        char perr[200];
        int prc = drift_index_tdef_parse(sb.data + at, sb.size - at, table, &td, perr, sizeof perr);
        drift_index_tdef_destroy(&td);
        if (prc < 0) {
            msgpack_sbuffer_destroy(&sb);
            return prc == -ENOMEM ? s_oom(q) : drift_sqlerr_set(q->err, "42P16", 0, "invalid table definition: %s", perr);
        }
    }
    int rc = drift_txn_put(q->txn, DRIFT_COP_DDL, table, NULL, 0, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return rc < 0 ? s_oom(q) : 0;
}

/* Column position by name in d, or -1. */
static int s_colpos(const s_def_t *d, const char *name)
{
    for (uint32_t i = 0; i < d->ncols; i++)
        if (strcmp(d->cols[i].name, name) == 0)
            return (int)i;
    return -1;
}

static const s_col_t *s_col_by_id(const s_def_t *d, uint32_t id)
{
    for (uint32_t i = 0; i < d->ncols; i++)
        if (d->cols[i].id == id)
            return &d->cols[i];
    return NULL;
}

/* The definition of an opened (present) table as an editable s_def_t with room for `extra` more
 * columns and indexes. */
static int s_def_from(drift_qctx_t *q, const drift_table_t *t, uint32_t extra, s_def_t *d)
{
    memset(d, 0, sizeof *d);
    d->table = t->id;
    d->name = t->name;
    d->version = t->schema_ver;
    d->cols = drift_arena_alloc(q->arena, (t->ncols + extra) * sizeof *d->cols);
    d->idx = drift_arena_alloc(q->arena, (t->nidx + extra) * sizeof *d->idx);
    d->fields = drift_arena_alloc(q->arena, (t->ncols + extra) * sizeof *d->fields);
    if (!d->cols || !d->idx || !d->fields)
        return s_oom(q);
    d->ncols = t->ncols;
    for (uint32_t i = 0; i < t->ncols; i++) {
        const drift_tcol_t *c = &t->cols[i];
        d->cols[i] = (s_col_t){.id = c->id,
                               .name = c->name,
                               .type = c->type,
                               .not_null = c->not_null,
                               .unique = t->def->cols[i].unique,
                               .hidden = c->hidden,
                               .has_default = c->has_default,
                               .def = c->default_val};
    }
    d->npk = t->npk;
    for (uint32_t i = 0; i < t->npk; i++)
        d->pk[i] = t->cols[t->pk[i]].id;
    d->nidx = t->nidx;
    for (uint32_t i = 0; i < t->nidx; i++) {
        const drift_tidx_t *x = &t->idx[i];
        d->idx[i] = (s_idx_t){.id = x->id, .name = x->name, .unique = x->unique, .ncols = x->ncols};
        for (uint32_t j = 0; j < x->ncols; j++)
            d->idx[i].cols[j] = t->cols[x->cols[j]].id;
    }
    if (t->driftql) {
        d->driftql = 1;
        d->key_field = t->doc_fields[t->doc_key_col];
        d->key_col = t->cols[t->doc_key_col].id;
        d->doc_col = t->cols[t->doc_col].id;
        for (uint32_t i = 0; i < t->ncols; i++)
            if (t->doc_fields[i] && (int)i != t->doc_key_col && (int)i != t->doc_col)
                d->fields[d->nfields++] = (s_field_t){t->doc_fields[i], t->cols[i].id};
    }
    return 0;
}

/* The next free table and index ids (the catalog's and the transaction's). */
static int s_next_ids(drift_qctx_t *q, uint32_t *ret_table, uint32_t *ret_index)
{
    uint32_t mt = 0, mi = 0;
    if (q->rd) {
        int rc = drift_index_catalog_max_ids(q->rd, &mt, &mi);
        if (rc < 0)
            return drift_sqlerr_set(q->err, "58030", 0, "catalog read failed: %s", drift_strerror(rc));
    }
    if (q->txn) {
        if (drift_txn_max_table_id(q->txn) > mt)
            mt = drift_txn_max_table_id(q->txn);
        if (drift_txn_max_index_id(q->txn) > mi)
            mi = drift_txn_max_index_id(q->txn);
    }
    *ret_table = mt + 1;
    *ret_index = mi + 1;
    return 0;
}

typedef struct {
    drift_qctx_t *q;
    const char *index;  /* the index name looked for */
    drift_table_t *hit; /* the table that has it */
    int rc;
} s_find_idx_t;

static int s_find_idx_cb(const char *name, uint32_t id, void *arg)
{
    (void)id;
    s_find_idx_t *f = arg;
    drift_table_t *t;
    if (drift_table_open(f->q, name, f->q->snap_seq, 0, &t) < 0) {
        f->rc = -1;
        return 1;
    }
    for (uint32_t i = 0; i < t->nidx; i++)
        if (strcmp(t->idx[i].name, f->index) == 0) {
            f->hit = t;
            return 1;
        }
    return 0;
}

/* The present table holding index `name` (1, *ret), 0 none, -1 error. Walks every live table. */
static int s_find_index(drift_qctx_t *q, const char *name, drift_table_t **ret)
{
    s_find_idx_t f = {.q = q, .index = name};
    int rc = drift_table_list(q, q->snap_seq, s_find_idx_cb, &f);
    if (rc < 0 || f.rc < 0)
        return -1;
    *ret = f.hit;
    return f.hit != NULL;
}

/* Evaluates a DEFAULT expression (constant) and coerces it to the column type. */
static int s_default(drift_qctx_t *q, const drift_coldef_t *cd, drift_value_t *out)
{
    drift_evalenv_t env = {.arena = q->arena, .sql = q->sql, .sql_len = q->sql_len, .err = q->err, .now_ns = q->now_ns};
    drift_rowctx_t ctx = {0};
    drift_value_t v;
    if (drift_expr_eval(&env, cd->default_expr, &ctx, &v) < 0)
        return -1;
    drift_value_t cv;
    if (drift_val_coerce(q->arena, cd->type, &v, &cv, cd->name, q->err) < 0)
        return -1;
    return drift_val_copy(q->arena, &cv, out) < 0 ? s_oom(q) : 0;
}

/* An index name not used by d (base, then base1, base2, ...). */
static const char *s_idx_name(drift_qctx_t *q, const s_def_t *d, const char *base)
{
    for (int n = 0; n < 1000; n++) {
        const char *cand = n ? drift_arena_printf(q->arena, "%s%d", base, n) : base;
        if (!cand)
            return NULL;
        int used = 0;
        for (uint32_t i = 0; i < d->nidx && !used; i++)
            used = strcmp(d->idx[i].name, cand) == 0;
        if (!used)
            return cand;
    }
    return NULL;
}

/* Adds a secondary index over column names cols to d (ids from *next_index). */
static int s_add_index(drift_qctx_t *q, s_def_t *d, const char *name, int unique, const char *const *cols,
                       uint32_t ncols, uint32_t pos, uint32_t *next_index)
{
    if (ncols == 0 || ncols > MAX_KEY_COLS)
        return drift_sqlerr_set(q->err, "42P16", s_pos(q, pos), "an index has 1 to %u columns", MAX_KEY_COLS);
    s_idx_t *x = &d->idx[d->nidx];
    memset(x, 0, sizeof *x);
    for (uint32_t j = 0; j < ncols; j++) {
        int at = s_colpos(d, cols[j]);
        if (at < 0 || d->cols[at].hidden)
            return drift_sqlerr_set(q->err, "42703", s_pos(q, pos), "column \"%s\" does not exist", cols[j]);
        for (uint32_t k = 0; k < j; k++)
            if (x->cols[k] == d->cols[at].id)
                return drift_sqlerr_set(q->err, "42701", s_pos(q, pos), "column \"%s\" appears twice in index",
                                        cols[j]);
        x->cols[j] = d->cols[at].id;
    }
    x->ncols = ncols;
    x->unique = unique;
    x->id = (*next_index)++;
    x->name = name;
    d->nidx++;
    return 0;
}

/* "t_a_b_suffix" for columns cols. */
static const char *s_auto_name(drift_qctx_t *q, const s_def_t *d, const char *const *cols, uint32_t ncols,
                               const char *suffix)
{
    size_t len = strlen(d->name) + strlen(suffix) + 2;
    for (uint32_t i = 0; i < ncols; i++)
        len += strlen(cols[i]) + 1;
    char *buf = drift_arena_alloc(q->arena, len + 1);
    if (!buf)
        return NULL;
    strcpy(buf, d->name);
    for (uint32_t i = 0; i < ncols; i++) {
        strcat(buf, "_");
        strcat(buf, cols[i]);
    }
    strcat(buf, "_");
    strcat(buf, suffix);
    size_t max = sizeof(((drift_index_idxdef_t *)0)->name) - 8; /* room for s_idx_name's number */
    if (strlen(buf) > max) {
        /* too long for the catalog: keep a prefix (cut at a UTF-8 boundary) and the suffix */
        size_t keep = max - strlen(suffix) - 1;
        while (keep > 0 && ((unsigned char)buf[keep] & 0xc0) == 0x80)
            keep--;
        buf[keep] = '_';
        strcpy(buf + keep + 1, suffix);
    }
    return s_idx_name(q, d, buf);
}

/* ------------------------------------------------------------------ CREATE TABLE */

/* The SQL form's columns, keys and unique constraints into d. */
static int s_create_sql(drift_qctx_t *q, const drift_stmt_t *st, s_def_t *d, uint32_t *next_index)
{
    if (st->ncoldefs == 0)
        return drift_sqlerr_set(q->err, "42P16", s_pos(q, st->pos), "a table needs at least one column");
    if (st->ncoldefs >= DRIFT_INDEX_MAX_COLS)
        return drift_sqlerr_set(q->err, "54011", s_pos(q, st->pos), "tables can have at most %u columns",
                                DRIFT_INDEX_MAX_COLS - 1);
    const char *pkcols[MAX_KEY_COLS];
    uint32_t npk = 0;
    for (uint32_t i = 0; i < st->ncoldefs; i++) {
        const drift_coldef_t *cd = &st->coldefs[i];
        if (cd->type == DRIFT_COL_NULL)
            return drift_sqlerr_set(q->err, "42704", s_pos(q, cd->pos), "column \"%s\" needs a type", cd->name);
        if (strcmp(cd->name, "_rowid") == 0 || cd->name[0] == 0)
            return drift_sqlerr_set(q->err, "42P16", s_pos(q, cd->pos), "column name \"%s\" is reserved", cd->name);
        if (s_colpos(d, cd->name) >= 0)
            return drift_sqlerr_set(q->err, "42701", s_pos(q, cd->pos), "column \"%s\" specified more than once",
                                    cd->name);
        s_col_t *c = &d->cols[d->ncols];
        *c = (s_col_t){.id = d->ncols + 1, .name = cd->name, .type = cd->type, .not_null = cd->not_null};
        if (cd->default_expr) {
            if (s_default(q, cd, &c->def) < 0)
                return -1;
            c->has_default = c->def.type != DRIFT_VAL_NULL;
        }
        d->ncols++;
        if (cd->primary_key) {
            if (npk)
                return drift_sqlerr_set(q->err, "42P16", s_pos(q, cd->pos),
                                        "multiple primary keys for table \"%s\" are not allowed", d->name);
            pkcols[npk++] = cd->name;
        }
    }
    if (st->primary_key) {
        if (npk)
            return drift_sqlerr_set(q->err, "42P16", s_pos(q, st->pos),
                                    "multiple primary keys for table \"%s\" are not allowed", d->name);
        if (st->primary_key->ncols == 0 || st->primary_key->ncols > MAX_KEY_COLS)
            return drift_sqlerr_set(q->err, "42P16", s_pos(q, st->pos), "a primary key has 1 to %u columns",
                                    MAX_KEY_COLS);
        for (uint32_t i = 0; i < st->primary_key->ncols; i++)
            pkcols[npk++] = st->primary_key->cols[i];
    }
    for (uint32_t i = 0; i < npk; i++) {
        int at = s_colpos(d, pkcols[i]);
        if (at < 0)
            return drift_sqlerr_set(q->err, "42703", s_pos(q, st->pos), "column \"%s\" named in key does not exist",
                                    pkcols[i]);
        for (uint32_t k = 0; k < d->npk; k++)
            if (d->pk[k] == d->cols[at].id)
                return drift_sqlerr_set(q->err, "42701", s_pos(q, st->pos), "column \"%s\" appears twice in primary key",
                                        pkcols[i]);
        d->cols[at].not_null = 1;
        d->pk[d->npk++] = d->cols[at].id;
    }
    if (d->npk == 0) { /* the hidden generated key */
        d->cols[d->ncols] = (s_col_t){.id = d->ncols + 1, .name = "_rowid", .type = DRIFT_COL_INTEGER, .not_null = 1,
                                      .hidden = 1};
        d->pk[d->npk++] = d->cols[d->ncols].id;
        d->ncols++;
    }
    /* UNIQUE columns, then UNIQUE (...) constraints; a unique set equal to the primary key adds nothing */
    for (uint32_t i = 0; i < st->ncoldefs; i++) {
        const drift_coldef_t *cd = &st->coldefs[i];
        if (!cd->unique || (d->npk == 1 && d->pk[0] == (uint32_t)i + 1 && !d->cols[i].hidden))
            continue;
        const char *cols[1] = {cd->name};
        const char *name = s_auto_name(q, d, cols, 1, "key");
        if (!name)
            return s_oom(q);
        if (s_add_index(q, d, name, 1, cols, 1, cd->pos, next_index) < 0)
            return -1;
        d->cols[i].unique = 1;
    }
    for (uint32_t u = 0; u < st->nuniques; u++) {
        const drift_keydef_t *k = &st->uniques[u];
        const char *name = k->name ? k->name : s_auto_name(q, d, k->cols, k->ncols, "key");
        if (!name)
            return s_oom(q);
        for (uint32_t i = 0; i < d->nidx; i++)
            if (strcmp(d->idx[i].name, name) == 0)
                return drift_sqlerr_set(q->err, "42P07", s_pos(q, st->pos), "relation \"%s\" already exists", name);
        if (s_add_index(q, d, name, 1, k->cols, k->ncols, st->pos, next_index) < 0)
            return -1;
    }
    return 0;
}

/* The DriftQL form into d (see the file comment). */
static int s_create_doc(drift_qctx_t *q, const drift_stmt_t *st, s_def_t *d, uint32_t *next_index)
{
    if (!st->doc_pk || !st->doc_pk[0])
        return drift_sqlerr_set(q->err, "42P16", s_pos(q, st->pos), "a DriftQL table needs pk=<field>");
    if (strcmp(st->doc_pk, "doc") == 0)
        return drift_sqlerr_set(q->err, "42701", s_pos(q, st->pos),
                                "DriftQL field \"doc\" collides with the document column");
    d->driftql = 1;
    d->key_field = st->doc_pk;
    d->cols[d->ncols++] = (s_col_t){.id = 1, .name = st->doc_pk, .type = DRIFT_COL_JSON, .not_null = 1};
    d->pk[d->npk++] = 1;
    d->key_col = 1;
    for (uint32_t i = 0; i < st->ndoc_idx; i++)
        for (uint32_t j = 0; j < st->doc_idx[i].ncols; j++) {
            const char *f = st->doc_idx[i].cols[j];
            if (strcmp(f, "doc") == 0)
                return drift_sqlerr_set(q->err, "42701", s_pos(q, st->pos),
                                        "DriftQL field \"doc\" collides with the document column");
            if (s_colpos(d, f) >= 0)
                continue;
            if (d->ncols + 1 >= DRIFT_INDEX_MAX_COLS)
                return drift_sqlerr_set(q->err, "54011", s_pos(q, st->pos), "too many indexed fields");
            d->cols[d->ncols] = (s_col_t){.id = d->ncols + 1, .name = f, .type = DRIFT_COL_JSON};
            d->fields[d->nfields++] = (s_field_t){f, d->ncols + 1};
            d->ncols++;
        }
    d->cols[d->ncols] = (s_col_t){.id = d->ncols + 1, .name = "doc", .type = DRIFT_COL_JSON, .not_null = 1};
    d->doc_col = d->ncols + 1;
    d->ncols++;
    for (uint32_t i = 0; i < st->ndoc_idx; i++) {
        const drift_keydef_t *k = &st->doc_idx[i];
        const char *name = k->name ? k->name : s_auto_name(q, d, k->cols, k->ncols, "idx");
        if (!name)
            return s_oom(q);
        if (s_add_index(q, d, name, 0, k->cols, k->ncols, st->pos, next_index) < 0)
            return -1;
    }
    return 0;
}

static int s_create_table(drift_qctx_t *q, const drift_stmt_t *st)
{
    int rc = drift_table_exists(q, st->table, q->snap_seq, NULL);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        if (st->if_not_exists)
            return 0;
        return drift_sqlerr_set(q->err, "42P07", s_pos(q, st->pos), "relation \"%s\" already exists", st->table);
    }
    uint32_t table, next_index;
    if (s_next_ids(q, &table, &next_index) < 0)
        return -1;
    uint32_t room = st->ncoldefs + 2;
    for (uint32_t i = 0; i < st->ndoc_idx; i++)
        room += st->doc_idx[i].ncols;
    s_def_t d = {.table = table, .name = st->table, .version = 1};
    d.cols = drift_arena_alloc(q->arena, room * sizeof *d.cols);
    d.idx = drift_arena_alloc(q->arena, (st->ncoldefs + st->nuniques + st->ndoc_idx + 1) * sizeof *d.idx);
    d.fields = drift_arena_alloc(q->arena, room * sizeof *d.fields);
    if (!d.cols || !d.idx || !d.fields)
        return s_oom(q);
    if (strlen(st->table) >= sizeof(((drift_index_tdef_t *)0)->name))
        return drift_sqlerr_set(q->err, "42622", s_pos(q, st->pos), "table name \"%.40s...\" is too long", st->table);
    rc = st->driftql ? s_create_doc(q, st, &d, &next_index) : s_create_sql(q, st, &d, &next_index);
    if (rc < 0)
        return -1;
    for (uint32_t i = 0; i < d.ncols; i++)
        if (strlen(d.cols[i].name) >= sizeof(((drift_index_col_t *)0)->name))
            return drift_sqlerr_set(q->err, "42622", s_pos(q, st->pos), "column name \"%.40s...\" is too long",
                                    d.cols[i].name);
    return s_put(q, table, "create_table", &d);
}

/* ------------------------------------------------------------------ indexes */

static int s_create_index(drift_qctx_t *q, const drift_stmt_t *st)
{
    drift_table_t *t, *holder;
    if (drift_table_open(q, st->table, q->snap_seq, st->pos, &t) < 0)
        return -1;
    if (t->view_sql)
        return drift_sqlerr_set(q->err, "42809", s_pos(q, st->pos), "\"%s\" is a view", t->name);
    const char *name = st->name;
    if (name) {
        int rc = s_find_index(q, name, &holder);
        if (rc < 0)
            return -1;
        if (rc == 1 || drift_table_exists(q, name, q->snap_seq, NULL) == 1) {
            if (st->if_not_exists)
                return 0;
            return drift_sqlerr_set(q->err, "42P07", s_pos(q, st->pos), "relation \"%s\" already exists", name);
        }
    }
    s_def_t d;
    if (s_def_from(q, t, 1, &d) < 0)
        return -1;
    if (!name && !(name = s_auto_name(q, &d, st->idx_cols, st->nidx_cols, "idx")))
        return s_oom(q);
    if (strlen(name) >= sizeof(((drift_index_idxdef_t *)0)->name))
        return drift_sqlerr_set(q->err, "42622", s_pos(q, st->pos), "index name is too long");
    uint32_t table, next_index;
    if (s_next_ids(q, &table, &next_index) < 0)
        return -1;
    if (s_add_index(q, &d, name, st->unique, st->idx_cols, st->nidx_cols, st->pos, &next_index) < 0)
        return -1;
    if (st->unique) {
        /* refuse when live rows (snapshot + pending) already hold duplicate values */
        drift_tscan_t *s;
        if (drift_table_scan(t, NULL, 0, NULL, 0, &s) < 0)
            return -1;
        const s_idx_t *x = &d.idx[d.nidx - 1];
        drift_keybuf_t kb = {0};
        size_t nseen = 0, cap = 0;
        struct s_seen {
            uint8_t *k;
            size_t n;
        } *seen = NULL;
        drift_trow_t r;
        int rc, dup = 0;
        while (!dup && (rc = drift_tscan_next(s, &r)) == 1) {
            drift_keybuf_reset(&kb);
            int has_null = 0;
            for (uint32_t j = 0; j < x->ncols; j++) {
                int at = drift_index_tdef_colpos(t->def, x->cols[j]);
                has_null |= r.vals[at].type == DRIFT_VAL_NULL;
                drift_val_keyenc(&kb, t->cols[at].type, &r.vals[at]);
            }
            if (has_null)
                continue;
            for (size_t i = 0; i < nseen && !dup; i++)
                dup = seen[i].n == kb.len && memcmp(seen[i].k, kb.buf, kb.len) == 0;
            if (dup)
                break;
            if (nseen == cap) {
                cap = cap ? 2 * cap : 64;
                struct s_seen *ns = realloc(seen, cap * sizeof *ns);
                if (!ns) {
                    rc = -1;
                    break;
                }
                seen = ns;
            }
            seen[nseen].k = drift_arena_memdup(q->arena, kb.buf, kb.len);
            seen[nseen].n = kb.len;
            nseen++;
        }
        drift_tscan_close(&s);
        drift_keybuf_free(&kb);
        free(seen);
        if (rc < 0)
            return -1;
        if (dup)
            return drift_sqlerr_set(q->err, "23505", s_pos(q, st->pos),
                                    "could not create unique index \"%s\": table %s has duplicate values", name, t->name);
    }
    d.version++;
    return s_put(q, t->id, "create_index", &d);
}

static int s_drop_index(drift_qctx_t *q, const drift_stmt_t *st)
{
    drift_table_t *t;
    int rc = s_find_index(q, st->name, &t);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        if (st->if_exists)
            return 0;
        return drift_sqlerr_set(q->err, "42704", s_pos(q, st->pos), "index \"%s\" does not exist", st->name);
    }
    s_def_t d;
    if (s_def_from(q, t, 0, &d) < 0)
        return -1;
    uint32_t k = 0;
    for (uint32_t i = 0; i < d.nidx; i++)
        if (strcmp(d.idx[i].name, st->name) != 0)
            d.idx[k++] = d.idx[i];
        else if (d.idx[i].ncols == 1 && d.idx[i].unique) {
            s_col_t *c = (s_col_t *)s_col_by_id(&d, d.idx[i].cols[0]);
            if (c)
                c->unique = 0;
        }
    d.nidx = k;
    d.version++;
    return s_put(q, t->id, "drop_index", &d);
}

/* ------------------------------------------------------------------ DROP / ALTER TABLE */

static int s_drop_table(drift_qctx_t *q, const drift_stmt_t *st)
{
    const char *name = st->name ? st->name : st->table;
    int view = st->kind == DRIFT_STMT_DROP_VIEW;
    uint32_t id;
    int rc = drift_table_exists(q, name, q->snap_seq, &id);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        if (st->if_exists)
            return 0;
        return drift_sqlerr_set(q->err, "42P01", s_pos(q, st->pos), "%s \"%s\" does not exist", view ? "view" : "table",
                                name);
    }
    drift_table_t *t;
    if (drift_table_open(q, name, q->snap_seq, st->pos, &t) < 0)
        return -1;
    if (view != (t->view_sql != NULL))
        return drift_sqlerr_set(q->err, "42809", s_pos(q, st->pos), "\"%s\" is not a %s", name,
                                view ? "view" : "table");
    return s_put(q, id, "drop_table", NULL);
}

/* CREATE VIEW: a catalog entry with the SELECT text (the executor checked that it binds). */
static int s_create_view(drift_qctx_t *q, const drift_stmt_t *st)
{
    int rc = drift_table_exists(q, st->name, q->snap_seq, NULL);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        if (st->if_not_exists)
            return 0;
        return drift_sqlerr_set(q->err, "42P07", s_pos(q, st->pos), "relation \"%s\" already exists", st->name);
    }
    if (strlen(st->name) >= sizeof(((drift_index_tdef_t *)0)->name))
        return drift_sqlerr_set(q->err, "42622", s_pos(q, st->pos), "view name \"%.40s...\" is too long", st->name);
    if (!st->view_text)
        return drift_sqlerr_set(q->err, "42601", s_pos(q, st->pos), "CREATE VIEW needs AS SELECT ...");
    uint32_t table, next_index;
    if (s_next_ids(q, &table, &next_index) < 0)
        return -1;
    s_col_t col = {.id = 1, .name = "_view", .type = DRIFT_COL_INTEGER, .hidden = 1};
    s_def_t d = {.table = table, .name = st->name, .version = 1, .cols = &col, .ncols = 1, .npk = 1, .view = st->view_text};
    d.pk[0] = 1;
    return s_put(q, table, "create_table", &d);
}

/* The highest column id any schema version of t (catalog and transaction) used. */
static int s_max_col_id(drift_qctx_t *q, const drift_table_t *t, uint32_t *ret)
{
    uint32_t m = 0;
    for (uint32_t i = 0; i < t->ncols; i++)
        if (t->cols[i].id > m)
            m = t->cols[i].id;
    for (uint32_t v = 1; v < t->schema_ver; v++) {
        const uint8_t *raw = NULL;
        size_t len = 0;
        int found = q->txn && drift_txn_pending_def_ver(q->txn, t->id, v, &raw, &len);
        if (!found && q->rd)
            found = drift_index_table_def_ver_raw(q->rd, t->id, v, &raw, &len) == 0;
        if (!found)
            continue;
        drift_index_tdef_t *d = NULL;
        char err[160];
        if (drift_index_tdef_parse(raw, len, t->id, &d, err, sizeof err) < 0)
            continue;
        for (uint32_t i = 0; i < d->ncols; i++)
            if (d->cols[i].id > m)
                m = d->cols[i].id;
        drift_index_tdef_destroy(&d);
    }
    *ret = m;
    return 0;
}

/* Whether t has any live row (present view). 1/0/-1. */
static int s_has_rows(drift_table_t *t, uint64_t *ret_n, uint64_t limit)
{
    drift_tscan_t *s;
    if (drift_table_scan(t, NULL, 0, NULL, 0, &s) < 0)
        return -1;
    drift_trow_t r;
    int rc = 0;
    uint64_t n = 0;
    while (n < limit && (rc = drift_tscan_next(s, &r)) == 1)
        n++;
    drift_tscan_close(&s);
    if (rc < 0 && n < limit)
        return -1;
    if (ret_n)
        *ret_n = n;
    return n > 0;
}

static int s_alter(drift_qctx_t *q, const drift_stmt_t *st)
{
    drift_table_t *t;
    if (drift_table_open(q, st->table, q->snap_seq, st->pos, &t) < 0)
        return -1;
    if (t->view_sql)
        return drift_sqlerr_set(q->err, "42809", s_pos(q, st->pos), "\"%s\" is a view", t->name);
    const drift_alter_t *a = &st->alter;
    s_def_t d;
    if (s_def_from(q, t, 1, &d) < 0)
        return -1;
    const char *kind = "alter_table";
    switch (a->kind) {
    case DRIFT_ALTER_ADD_COLUMN: {
        const drift_coldef_t *cd = &a->coldef;
        kind = "add_column";
        if (s_colpos(&d, cd->name) >= 0) {
            if (st->if_not_exists)
                return 0;
            return drift_sqlerr_set(q->err, "42701", s_pos(q, cd->pos), "column \"%s\" of relation \"%s\" already exists",
                                    cd->name, t->name);
        }
        if (cd->type == DRIFT_COL_NULL)
            return drift_sqlerr_set(q->err, "42704", s_pos(q, cd->pos), "column \"%s\" needs a type", cd->name);
        if (cd->primary_key)
            return drift_sqlerr_set(q->err, "0A000", s_pos(q, cd->pos),
                                    "ADD COLUMN ... PRIMARY KEY is not supported (the primary key is fixed at CREATE)");
        if (strlen(cd->name) >= sizeof(((drift_index_col_t *)0)->name) || strcmp(cd->name, "_rowid") == 0)
            return drift_sqlerr_set(q->err, "42622", s_pos(q, cd->pos), "bad column name \"%.40s\"", cd->name);
        if (d.ncols + 1 >= DRIFT_INDEX_MAX_COLS)
            return drift_sqlerr_set(q->err, "54011", s_pos(q, cd->pos), "tables can have at most %u columns",
                                    DRIFT_INDEX_MAX_COLS - 1);
        uint32_t maxid;
        if (s_max_col_id(q, t, &maxid) < 0)
            return -1;
        s_col_t *c = &d.cols[d.ncols];
        *c = (s_col_t){.id = maxid + 1, .name = cd->name, .type = cd->type, .not_null = cd->not_null};
        if (cd->default_expr) {
            if (s_default(q, cd, &c->def) < 0)
                return -1;
            c->has_default = c->def.type != DRIFT_VAL_NULL;
        }
        uint64_t nrows = 0;
        if ((cd->not_null && !c->has_default) || (cd->unique && c->has_default)) {
            int rc = s_has_rows(t, &nrows, 2);
            if (rc < 0)
                return -1;
        }
        if (cd->not_null && !c->has_default && nrows > 0)
            return drift_sqlerr_set(q->err, "23502", s_pos(q, cd->pos), "column \"%s\" of relation \"%s\" contains null values",
                                    cd->name, t->name);
        d.ncols++;
        if (cd->unique) {
            if (c->has_default && nrows > 1)
                return drift_sqlerr_set(q->err, "23505", s_pos(q, cd->pos),
                                        "could not create unique index: the DEFAULT repeats in %s's rows", t->name);
            uint32_t tid, next_index;
            if (s_next_ids(q, &tid, &next_index) < 0)
                return -1;
            const char *cols[1] = {cd->name};
            const char *name = s_auto_name(q, &d, cols, 1, "key");
            if (!name)
                return s_oom(q);
            if (s_add_index(q, &d, name, 1, cols, 1, cd->pos, &next_index) < 0)
                return -1;
            c->unique = 1;
        }
        break;
    }
    case DRIFT_ALTER_DROP_COLUMN: {
        kind = "drop_column";
        int at = s_colpos(&d, a->name);
        if (at < 0 || d.cols[at].hidden) {
            if (st->if_exists)
                return 0;
            return drift_sqlerr_set(q->err, "42703", s_pos(q, st->pos), "column \"%s\" of relation \"%s\" does not exist",
                                    a->name, t->name);
        }
        uint32_t id = d.cols[at].id;
        for (uint32_t i = 0; i < d.npk; i++)
            if (d.pk[i] == id)
                return drift_sqlerr_set(q->err, "0A000", s_pos(q, st->pos),
                                        "cannot drop column \"%s\": it is part of the primary key", a->name);
        if (d.driftql && id == d.doc_col)
            return drift_sqlerr_set(q->err, "0A000", s_pos(q, st->pos),
                                    "cannot drop the document column of a DriftQL table");
        int visible = 0;
        for (uint32_t i = 0; i < d.ncols; i++)
            visible += !d.cols[i].hidden && (int)i != at;
        if (!visible)
            return drift_sqlerr_set(q->err, "0A000", s_pos(q, st->pos), "cannot drop the last column of \"%s\"",
                                    t->name);
        memmove(&d.cols[at], &d.cols[at + 1], (d.ncols - (uint32_t)at - 1) * sizeof *d.cols);
        d.ncols--;
        /* indexes over the column go with it (as in PostgreSQL) */
        uint32_t k = 0;
        for (uint32_t i = 0; i < d.nidx; i++) {
            int uses = 0;
            for (uint32_t j = 0; j < d.idx[i].ncols; j++)
                uses |= d.idx[i].cols[j] == id;
            if (!uses)
                d.idx[k++] = d.idx[i];
        }
        d.nidx = k;
        k = 0;
        for (uint32_t i = 0; i < d.nfields; i++)
            if (d.fields[i].col != id)
                d.fields[k++] = d.fields[i];
        d.nfields = k;
        break;
    }
    case DRIFT_ALTER_RENAME_COLUMN: {
        kind = "rename_column";
        int at = s_colpos(&d, a->name);
        if (at < 0 || d.cols[at].hidden)
            return drift_sqlerr_set(q->err, "42703", s_pos(q, st->pos), "column \"%s\" of relation \"%s\" does not exist",
                                    a->name, t->name);
        if (s_colpos(&d, a->new_name) >= 0)
            return drift_sqlerr_set(q->err, "42701", s_pos(q, st->pos), "column \"%s\" of relation \"%s\" already exists",
                                    a->new_name, t->name);
        if (strlen(a->new_name) >= sizeof(((drift_index_col_t *)0)->name) || strcmp(a->new_name, "_rowid") == 0 ||
            !a->new_name[0])
            return drift_sqlerr_set(q->err, "42622", s_pos(q, st->pos), "bad column name \"%.40s\"", a->new_name);
        d.cols[at].name = a->new_name;
        break;
    }
    case DRIFT_ALTER_RENAME_TABLE: {
        kind = "rename_table";
        int rc = drift_table_exists(q, a->new_name, q->snap_seq, NULL);
        if (rc < 0)
            return -1;
        if (rc == 1)
            return drift_sqlerr_set(q->err, "42P07", s_pos(q, st->pos), "relation \"%s\" already exists", a->new_name);
        if (strlen(a->new_name) >= sizeof(((drift_index_tdef_t *)0)->name) || !a->new_name[0])
            return drift_sqlerr_set(q->err, "42622", s_pos(q, st->pos), "bad table name \"%.40s\"", a->new_name);
        d.name = a->new_name;
        break;
    }
    default: return drift_sqlerr_set(q->err, "0A000", s_pos(q, st->pos), "this ALTER TABLE form is not supported");
    }
    d.version++;
    return s_put(q, t->id, kind, &d);
}

/* ------------------------------------------------------------------ entry */

int drift_ddl_execute(drift_qctx_t *q, const struct drift_stmt *st)
{
    switch (st->kind) {
    case DRIFT_STMT_CREATE_TABLE: return s_create_table(q, st);
    case DRIFT_STMT_CREATE_INDEX: return s_create_index(q, st);
    case DRIFT_STMT_DROP_TABLE: return s_drop_table(q, st);
    case DRIFT_STMT_DROP_INDEX: return s_drop_index(q, st);
    case DRIFT_STMT_ALTER_TABLE: return s_alter(q, st);
    case DRIFT_STMT_CREATE_VIEW: return s_create_view(q, st);
    case DRIFT_STMT_DROP_VIEW: return s_drop_table(q, st);
    default: return drift_sqlerr_set(q->err, "0A000", s_pos(q, st->pos), "not a DDL statement");
    }
}
