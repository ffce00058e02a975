/* tests/unit/test_table.c — table access (modules/query/table.h) and DDL
 * (ddl.c) over a real log + LMDB index in a temp dir: every frame is built
 * by the code under test (DDL through drift_ddl_execute, rows through
 * drift_table_insert/update/delete, documents through insert_doc/patch_doc,
 * all collected in a drift_txn_t), encoded as the writer would (the commit
 * request parsed back, its body logged), appended to real segments
 * (tests/unit/logfixture.h) and applied by the index. Then read back: reads
 * as of a seq across ALTER TABLE ADD/DROP/RENAME COLUMN, DROP TABLE and reads
 * before it, the transaction's pending writes and DDL overlaid on present
 * reads (get, scan, index scan), version scans over intervals, history,
 * NOT NULL / primary key / UNIQUE errors, hidden rowids, DriftQL document
 * tables, AS OF resolution errors and the SERIALIZABLE read set. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/errors.h"
#include "ipc/commit.h"
#include "modules/query/ast.h"
#include "modules/query/expr.h"
#include "modules/query/table.h"
#include "modules/query/txn.h"
#include "shm/index.h"
#include "tests/unit/logfixture.h"

typedef struct {
    fx_log_t fx;
    char idx_dir[400];
    drift_index_t *ix;
    drift_logr_t *lr;
    drift_arena_t arena;
    drift_sqlerr_t err;
    drift_qctx_t q;
    drift_index_rd_t *rd;
    drift_txn_t *txn;
} ctx_t;

static int s_setup_seg(void **state, uint64_t seg_size)
{
    ctx_t *c = calloc(1, sizeof *c);
    fx_init(&c->fx, seg_size);
    snprintf(c->idx_dir, sizeof c->idx_dir, "%s/index", c->fx.root);
    drift_index_opts_t o = {.map_size = 64u << 20};
    assert_int_equal(drift_index_open(c->idx_dir, c->fx.dir, NULL, &o, &c->ix), 0);
    assert_int_equal(drift_logr_open(c->fx.dir, NULL, &c->lr), 0);
    *state = c;
    return 0;
}

/* Small segments: histories span several. */
static int s_setup(void **state)
{
    return s_setup_seg(state, 1 << 16);
}

/* Segments that hold a 10k-row transaction. */
static int s_setup_big(void **state)
{
    return s_setup_seg(state, 16u << 20);
}

/* Ends the statement context. */
static void s_end(ctx_t *c)
{
    drift_index_rd_end(&c->rd);
    drift_txn_destroy(&c->txn);
    drift_arena_free(&c->arena);
}

static int s_teardown(void **state)
{
    ctx_t *c = *state;
    s_end(c);
    drift_index_close(&c->ix);
    drift_logr_close(&c->lr);
    fx_done(&c->fx);
    free(c);
    return 0;
}

/* A new statement/transaction at the index's applied seq. */
static void s_begin_iso(ctx_t *c, drift_iso_t iso)
{
    s_end(c);
    assert_int_equal(drift_index_rd_begin(c->ix, &c->rd), 0);
    uint64_t snap = drift_index_rd_seq(c->rd);
    c->txn = drift_txn_new(iso, snap);
    memset(&c->err, 0, sizeof c->err);
    memset(&c->q, 0, sizeof c->q);
    c->q.index = c->ix;
    c->q.rd = c->rd;
    c->q.snap_seq = snap;
    c->q.txn = c->txn;
    c->q.arena = &c->arena;
    c->q.err = &c->err;
    c->q.now_ns = 2000000000000000000ll; /* 2033: after every fixture timestamp */
    c->q.worker_id = 3;
}

static void s_begin(ctx_t *c)
{
    s_begin_iso(c, DRIFT_ISO_REPEATABLE_READ);
}

/* Logs the transaction's ops as one frame (the writer's normalized body), indexes it; returns its seq. */
static uint64_t s_commit(ctx_t *c)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    assert_int_equal(drift_txn_pack_request(c->txn, 1, &sb), 0);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
    drift_commit_req_t req;
    char err[160];
    assert_int_equal(drift_commit_parse(&u.data, &req, err, sizeof err), 0);
    msgpack_sbuffer body;
    msgpack_sbuffer_init(&body);
    msgpack_packer bp;
    msgpack_packer_init(&bp, &body, msgpack_sbuffer_write);
    drift_commit_pack_body(&bp, &req);
    uint64_t seq = c->fx.next_seq;
    fx_append(&c->fx, body.data, body.size);
    msgpack_sbuffer_destroy(&body);
    drift_commit_req_clear(&req);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    s_end(c);
    /* index it */
    uint64_t applied;
    drift_index_applied(c->ix, &applied, NULL);
    assert_int_equal(drift_logr_seek(c->lr, applied + 1), 0);
    assert_int_equal(drift_index_begin(c->ix), 0);
    drift_frame_t f;
    drift_logr_pos_t pos;
    int rc;
    while ((rc = drift_logr_next(c->lr, &f, &pos)) == 1)
        assert_int_equal(drift_index_apply(c->ix, &f, pos), 0);
    assert_int_equal(rc, 0);
    assert_int_equal(drift_index_commit(c->ix), 0);
    assert_int_equal(drift_index_skipped(c->ix), 0); /* every op made sense to the indexer */
    return seq;
}

/* ---- AST builders */

static drift_node_t *s_lit(ctx_t *c, drift_value_t v)
{
    drift_node_t *n = drift_arena_alloc(&c->arena, sizeof *n);
    n->kind = DRIFT_AST_LITERAL;
    n->value = v;
    return n;
}

static drift_coldef_t s_cd(const char *name, drift_coltype_t t, int not_null, int pk, int unique, drift_node_t *def)
{
    drift_coldef_t d;
    memset(&d, 0, sizeof d);
    d.name = name;
    d.type = t;
    d.not_null = not_null;
    d.primary_key = pk;
    d.unique = unique;
    d.default_expr = def;
    return d;
}

static void s_ddl_ok(ctx_t *c, const drift_stmt_t *st)
{
    int rc = drift_ddl_execute(&c->q, st);
    if (rc != 0)
        print_error("DDL failed: %s %s\n", c->err.code, c->err.message);
    assert_int_equal(rc, 0);
}

static void s_ddl_err(ctx_t *c, const drift_stmt_t *st, const char *code)
{
    memset(&c->err, 0, sizeof c->err);
    assert_int_equal(drift_ddl_execute(&c->q, st), -1);
    assert_string_equal(c->err.code, code);
}

/* CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, score REAL DEFAULT 1.5) */
static void s_create_items(ctx_t *c)
{
    drift_coldef_t cols[3] = {s_cd("id", DRIFT_COL_INTEGER, 0, 1, 0, NULL), s_cd("name", DRIFT_COL_TEXT, 1, 0, 1, NULL),
                              s_cd("score", DRIFT_COL_REAL, 0, 0, 0, s_lit(c, drift_val_real(1.5)))};
    drift_stmt_t st;
    memset(&st, 0, sizeof st);
    st.kind = DRIFT_STMT_CREATE_TABLE;
    st.table = "items";
    st.coldefs = cols;
    st.ncoldefs = 3;
    s_ddl_ok(c, &st);
}

static drift_table_t *s_open(ctx_t *c, const char *name, uint64_t as_of)
{
    drift_table_t *t = NULL;
    int rc = drift_table_open(&c->q, name, as_of, 0, &t);
    if (rc != 0)
        print_error("open %s failed: %s %s\n", name, c->err.code, c->err.message);
    assert_int_equal(rc, 0);
    return t;
}

/* Inserts (id, name, score) (score NaN = NULL) into items; returns the call's result. */
static int s_ins(ctx_t *c, drift_table_t *t, int64_t id, const char *name, double score)
{
    drift_value_t v[3] = {drift_val_int(id), name ? drift_val_text(name, strlen(name)) : drift_val_null(),
                          score != score ? drift_val_null() : drift_val_real(score)};
    memset(&c->err, 0, sizeof c->err);
    return drift_table_insert(t, v);
}

static drift_keybuf_t s_pk(ctx_t *c, drift_table_t *t, int64_t id)
{
    drift_keybuf_t kb = {0};
    drift_value_t v = drift_val_int(id);
    assert_int_equal(drift_table_encode_pk(t, &v, &kb), 0);
    (void)c;
    return kb;
}

/* Scans t fully: ids (column idcol) into out; returns the count. */
static size_t s_scan_ids(drift_table_t *t, int idcol, int64_t *out, size_t cap)
{
    drift_tscan_t *s;
    assert_int_equal(drift_table_scan(t, NULL, 0, NULL, 0, &s), 0);
    drift_trow_t r;
    size_t n = 0;
    int rc;
    while ((rc = drift_tscan_next(s, &r)) == 1) {
        assert_true(n < cap);
        assert_int_equal(r.vals[idcol].type, DRIFT_VAL_INT);
        out[n++] = r.vals[idcol].u.i;
    }
    assert_int_equal(rc, 0);
    drift_tscan_close(&s);
    return n;
}

/* ---------------------------------------------------------------- tests */

static void t_create_read_write(void **state)
{
    ctx_t *c = *state;
    s_begin(c);
    s_create_items(c);
    /* visible to the transaction before it commits */
    drift_table_t *t = s_open(c, "items", c->q.snap_seq);
    assert_int_equal(t->ncols, 3);
    assert_int_equal(t->npk, 1);
    assert_int_equal(t->pk[0], 0);
    assert_int_equal(t->cols[0].in_pk, 1);
    assert_true(t->cols[0].not_null);
    assert_true(t->cols[1].not_null);
    assert_int_equal(t->cols[2].type, DRIFT_COL_REAL);
    assert_true(t->cols[2].has_default);
    assert_true(t->cols[2].default_val.u.r == 1.5);
    assert_int_equal(t->nidx, 1);
    assert_string_equal(t->idx[0].name, "items_name_key");
    assert_true(t->idx[0].unique);
    assert_int_equal(t->idx[0].cols[0], 1);
    assert_int_equal(drift_table_colpos(t, "score"), 2);
    assert_int_equal(drift_table_colpos(t, "nope"), -1);
    assert_int_equal(drift_table_rowid_col(t), -1);
    assert_int_equal(s_ins(c, t, 1, "ann", 10), 0);
    assert_int_equal(s_ins(c, t, 2, "bob", 20), 0);
    uint64_t s1 = s_commit(c);

    s_begin(c);
    t = s_open(c, "items", c->q.snap_seq);
    assert_int_equal(s_ins(c, t, 3, "cat", 30), 0);
    assert_int_equal(s_ins(c, t, 4, "dan", 0.0 / 0.0), 0);
    uint64_t s2 = s_commit(c);
    assert_true(s2 > s1);

    /* present reads */
    s_begin(c);
    t = s_open(c, "items", c->q.snap_seq);
    int64_t ids[16];
    assert_int_equal(s_scan_ids(t, 0, ids, 16), 4);
    assert_int_equal(ids[3], 4);
    drift_keybuf_t k = s_pk(c, t, 2);
    drift_trow_t r;
    assert_int_equal(drift_table_get(t, k.buf, k.len, &r), 1);
    assert_int_equal(r.vals[1].type, DRIFT_VAL_TEXT);
    assert_memory_equal(r.vals[1].u.s.p, "bob", 3);
    assert_int_equal(r.seq, s1);
    assert_int_equal(r.ts_ns, 1000 + s1); /* the fixture's timestamps */
    drift_keybuf_free(&k);
    k = s_pk(c, t, 4);
    assert_int_equal(drift_table_get(t, k.buf, k.len, &r), 1);
    assert_int_equal(r.vals[2].type, DRIFT_VAL_NULL);
    drift_keybuf_free(&k);
    k = s_pk(c, t, 9);
    assert_int_equal(drift_table_get(t, k.buf, k.len, &r), 0);
    drift_keybuf_free(&k);
    /* as of s1: two rows; before the create: no table */
    drift_table_t *old = s_open(c, "items", s1);
    assert_int_equal(s_scan_ids(old, 0, ids, 16), 2);
    drift_table_t *none;
    assert_int_equal(drift_table_open(&c->q, "items", s1 - 1, 0, &none), -1);
    assert_string_equal(c->err.code, "42P01");
    assert_non_null(strstr(c->err.message, "as of @seq:"));
    assert_int_equal(drift_table_open(&c->q, "nope", c->q.snap_seq, 0, &none), -1);
    assert_string_equal(c->err.code, "42P01");
    assert_string_equal(c->err.message, "table \"nope\" does not exist");
    /* historical tables cannot be written */
    assert_int_equal(s_ins(c, old, 7, "x", 1), -1);
    assert_string_equal(c->err.code, "25006");
    /* estimate: exact for small tables */
    assert_int_equal(drift_table_estimate_rows(t), 4);
    s_end(c);
}

static void t_overlay(void **state)
{
    ctx_t *c = *state;
    s_begin(c);
    s_create_items(c);
    drift_table_t *t = s_open(c, "items", c->q.snap_seq);
    for (int i = 1; i <= 6; i++) {
        char nm[8];
        snprintf(nm, sizeof nm, "n%d", i);
        assert_int_equal(s_ins(c, t, i * 10, nm, i), 0);
    }
    uint64_t s1 = s_commit(c);
    s_begin(c);
    t = s_open(c, "items", c->q.snap_seq);
    assert_int_equal(s_ins(c, t, 70, "z70", 7), 0);
    s_commit(c);

    s_begin(c);
    t = s_open(c, "items", c->q.snap_seq);
    /* pending: insert 25 and 5, update 30, delete 40 and 60 */
    assert_int_equal(s_ins(c, t, 25, "p25", 2.5), 0);
    assert_int_equal(s_ins(c, t, 5, "p5", 0.5), 0);
    drift_keybuf_t k30 = s_pk(c, t, 30), k40 = s_pk(c, t, 40), k60 = s_pk(c, t, 60), k99 = s_pk(c, t, 99);
    drift_trow_t r;
    assert_int_equal(drift_table_get(t, k30.buf, k30.len, &r), 1);
    drift_value_t nv[3] = {drift_val_int(30), drift_val_text("thirty", 6), drift_val_real(33)};
    assert_int_equal(drift_table_update(t, &r, nv), 0);
    assert_int_equal(drift_table_delete(t, k40.buf, k40.len), 1);
    assert_int_equal(drift_table_delete(t, k60.buf, k60.len), 1);
    assert_int_equal(drift_table_delete(t, k60.buf, k60.len), 0); /* already gone (pending) */
    assert_int_equal(drift_table_delete(t, k99.buf, k99.len), 0);
    int64_t ids[32];
    size_t n = s_scan_ids(t, 0, ids, 32);
    int64_t want[] = {5, 10, 20, 25, 30, 50, 70};
    assert_int_equal(n, 7);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ids[i], want[i]);
    assert_int_equal(drift_table_get(t, k30.buf, k30.len, &r), 1);
    assert_memory_equal(r.vals[1].u.s.p, "thirty", 6);
    assert_int_equal(r.seq, 0); /* pending */
    assert_int_equal(drift_table_get(t, k40.buf, k40.len, &r), 0);
    /* a range scan [20, 40) */
    drift_keybuf_t lo = s_pk(c, t, 20), hi = s_pk(c, t, 40);
    drift_tscan_t *s;
    assert_int_equal(drift_table_scan(t, lo.buf, lo.len, hi.buf, hi.len, &s), 0);
    int64_t got[8];
    size_t m = 0;
    while (drift_tscan_next(s, &r) == 1)
        got[m++] = r.vals[0].u.i;
    drift_tscan_close(&s);
    assert_int_equal(m, 3);
    assert_int_equal(got[0], 20);
    assert_int_equal(got[1], 25);
    assert_int_equal(got[2], 30);
    /* the same table as of s1 does not see the pending writes */
    drift_table_t *hist = s_open(c, "items", s1);
    assert_int_equal(s_scan_ids(hist, 0, ids, 32), 6);
    assert_int_equal(ids[0], 10);
    /* secondary index scan over name (unique) with the overlay: names in ["n2", "p9") */
    drift_keybuf_t ilo = {0}, ihi = {0};
    drift_value_t a = drift_val_text("n2", 2), b = drift_val_text("p9", 2);
    assert_int_equal(drift_table_encode_ivals(t, &t->idx[0], &a, 1, &ilo), 0);
    assert_int_equal(drift_table_encode_ivals(t, &t->idx[0], &b, 1, &ihi), 0);
    assert_int_equal(drift_table_iscan(t, &t->idx[0], ilo.buf, ilo.len, ihi.buf, ihi.len, &s), 0);
    const char *wantn[] = {"n2", "n5", "p25", "p5"}; /* n3 renamed "thirty", n4 and n6 deleted */
    m = 0;
    int rc;
    while ((rc = drift_tscan_next(s, &r)) == 1) {
        assert_true(m < 4);
        assert_int_equal(r.vals[1].u.s.n, strlen(wantn[m]));
        assert_memory_equal(r.vals[1].u.s.p, wantn[m], strlen(wantn[m]));
        m++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(m, 4);
    drift_tscan_close(&s);
    /* committed: the same reads without a transaction overlay agree */
    uint64_t s2 = s_commit(c);
    s_begin(c);
    t = s_open(c, "items", c->q.snap_seq);
    assert_int_equal(c->q.snap_seq, s2);
    n = s_scan_ids(t, 0, ids, 32);
    assert_int_equal(n, 7);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ids[i], want[i]);
    drift_keybuf_free(&k30);
    drift_keybuf_free(&k40);
    drift_keybuf_free(&k60);
    drift_keybuf_free(&k99);
    drift_keybuf_free(&lo);
    drift_keybuf_free(&hi);
    drift_keybuf_free(&ilo);
    drift_keybuf_free(&ihi);
    s_end(c);
}

static void t_constraints(void **state)
{
    ctx_t *c = *state;
    s_begin(c);
    s_create_items(c);
    drift_table_t *t = s_open(c, "items", c->q.snap_seq);
    assert_int_equal(s_ins(c, t, 1, "ann", 1), 0);
    assert_int_equal(s_ins(c, t, 2, "bob", 2), 0);
    s_commit(c);

    s_begin(c);
    t = s_open(c, "items", c->q.snap_seq);
    /* NOT NULL */
    assert_int_equal(s_ins(c, t, 3, NULL, 1), -1);
    assert_string_equal(c->err.code, "23502");
    assert_string_equal(c->err.message, "null value in column \"name\" of relation \"items\" violates not-null constraint");
    drift_value_t nopk[3] = {drift_val_null(), drift_val_text("z", 1), drift_val_null()};
    assert_int_equal(drift_table_insert(t, nopk), -1);
    assert_string_equal(c->err.code, "23502");
    /* type errors come from the coercion */
    drift_value_t bad[3] = {drift_val_text("abc", 3), drift_val_text("z", 1), drift_val_null()};
    assert_int_equal(drift_table_insert(t, bad), -1);
    assert_string_equal(c->err.code, "22P02");
    /* pk against the snapshot and against pending inserts */
    assert_int_equal(s_ins(c, t, 1, "other", 1), -1);
    assert_string_equal(c->err.code, "23505");
    assert_string_equal(c->err.message, "duplicate key value violates unique constraint \"items_pkey\"");
    assert_int_equal(s_ins(c, t, 5, "eve", 1), 0);
    assert_int_equal(s_ins(c, t, 5, "eve2", 1), -1);
    assert_string_equal(c->err.code, "23505");
    /* UNIQUE against the snapshot and the pending rows */
    assert_int_equal(s_ins(c, t, 6, "ann", 1), -1);
    assert_string_equal(c->err.code, "23505");
    assert_string_equal(c->err.message, "duplicate key value violates unique constraint \"items_name_key\"");
    assert_int_equal(s_ins(c, t, 7, "eve", 1), -1);
    assert_string_equal(c->err.code, "23505");
    /* once the holder is deleted (pending) or renamed (pending), the value is free */
    drift_keybuf_t k1 = s_pk(c, t, 1), k2 = s_pk(c, t, 2), k5 = s_pk(c, t, 5);
    assert_int_equal(drift_table_delete(t, k1.buf, k1.len), 1);
    assert_int_equal(s_ins(c, t, 8, "ann", 1), 0);
    drift_trow_t r;
    assert_int_equal(drift_table_get(t, k5.buf, k5.len, &r), 1);
    drift_value_t ren[3] = {drift_val_int(5), drift_val_text("eve-renamed", 11), drift_val_null()};
    assert_int_equal(drift_table_update(t, &r, ren), 0);
    assert_int_equal(s_ins(c, t, 9, "eve", 1), 0);
    /* an update into a held value fails, one that keeps its own value passes */
    assert_int_equal(drift_table_get(t, k2.buf, k2.len, &r), 1);
    drift_value_t clash[3] = {drift_val_int(2), drift_val_text("eve", 3), drift_val_null()};
    assert_int_equal(drift_table_update(t, &r, clash), -1);
    assert_string_equal(c->err.code, "23505");
    drift_value_t same[3] = {drift_val_int(2), drift_val_text("bob", 3), drift_val_real(22)};
    assert_int_equal(drift_table_update(t, &r, same), 0);
    /* a pk change is a delete plus an insert */
    assert_int_equal(drift_table_get(t, k2.buf, k2.len, &r), 1);
    drift_value_t moved[3] = {drift_val_int(20), drift_val_text("bob", 3), drift_val_real(22)};
    assert_int_equal(drift_table_update(t, &r, moved), 0);
    assert_int_equal(drift_table_get(t, k2.buf, k2.len, &r), 0);
    /* moving onto an existing key fails */
    drift_keybuf_t k8 = s_pk(c, t, 8);
    assert_int_equal(drift_table_get(t, k8.buf, k8.len, &r), 1);
    drift_value_t onto[3] = {drift_val_int(9), drift_val_text("ann", 3), drift_val_null()};
    assert_int_equal(drift_table_update(t, &r, onto), -1);
    assert_string_equal(c->err.code, "23505");
    uint64_t s = s_commit(c);

    s_begin(c);
    t = s_open(c, "items", s);
    int64_t ids[16];
    size_t n = s_scan_ids(t, 0, ids, 16);
    int64_t want[] = {5, 8, 9, 20};
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ids[i], want[i]);
    drift_keybuf_free(&k1);
    drift_keybuf_free(&k2);
    drift_keybuf_free(&k5);
    drift_keybuf_free(&k8);
    s_end(c);
}

static void t_alter_as_of(void **state)
{
    ctx_t *c = *state;
    drift_coldef_t cols[2] = {s_cd("id", DRIFT_COL_INTEGER, 0, 1, 0, NULL), s_cd("a", DRIFT_COL_TEXT, 0, 0, 0, NULL)};
    drift_stmt_t st;
    memset(&st, 0, sizeof st);
    st.kind = DRIFT_STMT_CREATE_TABLE;
    st.table = "t";
    st.coldefs = cols;
    st.ncoldefs = 2;
    s_begin(c);
    s_ddl_ok(c, &st);
    drift_table_t *t = s_open(c, "t", c->q.snap_seq);
    drift_value_t r1[2] = {drift_val_int(1), drift_val_text("x", 1)};
    assert_int_equal(drift_table_insert(t, r1), 0);
    uint64_t s1 = s_commit(c);

    /* ADD COLUMN b INTEGER DEFAULT 7 */
    s_begin(c);
    drift_stmt_t al;
    memset(&al, 0, sizeof al);
    al.kind = DRIFT_STMT_ALTER_TABLE;
    al.table = "t";
    al.alter.kind = DRIFT_ALTER_ADD_COLUMN;
    al.alter.coldef = s_cd("b", DRIFT_COL_INTEGER, 0, 0, 0, s_lit(c, drift_val_int(7)));
    s_ddl_ok(c, &al);
    s_ddl_err(c, &al, "42701"); /* twice */
    /* the transaction already sees the new column on the old row */
    t = s_open(c, "t", c->q.snap_seq);
    assert_int_equal(t->ncols, 3);
    assert_int_equal(t->cols[2].id, 3);
    drift_keybuf_t k1 = s_pk(c, t, 1);
    drift_trow_t r;
    assert_int_equal(drift_table_get(t, k1.buf, k1.len, &r), 1);
    assert_int_equal(r.vals[2].u.i, 7);
    drift_value_t r2[3] = {drift_val_int(2), drift_val_text("y", 1), drift_val_int(8)};
    assert_int_equal(drift_table_insert(t, r2), 0);
    uint64_t s2 = s_commit(c);

    /* DROP COLUMN a, then RENAME COLUMN b TO c, in one transaction each */
    s_begin(c);
    al.alter.kind = DRIFT_ALTER_DROP_COLUMN;
    al.alter.name = "a";
    s_ddl_ok(c, &al);
    s_ddl_err(c, &al, "42703");
    uint64_t s3 = s_commit(c);
    s_begin(c);
    al.alter.kind = DRIFT_ALTER_RENAME_COLUMN;
    al.alter.name = "b";
    al.alter.new_name = "c";
    s_ddl_ok(c, &al);
    uint64_t s4 = s_commit(c);
    /* ADD COLUMN a again: a new id (4), old rows read NULL */
    s_begin(c);
    al.alter.kind = DRIFT_ALTER_ADD_COLUMN;
    al.alter.coldef = s_cd("a", DRIFT_COL_TEXT, 0, 0, 0, NULL);
    s_ddl_ok(c, &al);
    uint64_t s5 = s_commit(c);

    s_begin(c);
    /* as of s1: (id, a) */
    t = s_open(c, "t", s1);
    assert_int_equal(t->ncols, 2);
    assert_int_equal(drift_table_get(t, k1.buf, k1.len, &r), 1);
    assert_memory_equal(r.vals[1].u.s.p, "x", 1);
    /* as of s2: (id, a, b) */
    t = s_open(c, "t", s2);
    assert_int_equal(t->ncols, 3);
    assert_string_equal(t->cols[2].name, "b");
    drift_tscan_t *sc;
    assert_int_equal(drift_table_scan(t, NULL, 0, NULL, 0, &sc), 0);
    assert_int_equal(drift_tscan_next(sc, &r), 1);
    assert_int_equal(r.vals[2].u.i, 7); /* written before b existed: its DEFAULT */
    assert_int_equal(drift_tscan_next(sc, &r), 1);
    assert_int_equal(r.vals[2].u.i, 8);
    assert_memory_equal(r.vals[1].u.s.p, "y", 1);
    assert_int_equal(drift_tscan_next(sc, &r), 0);
    drift_tscan_close(&sc);
    /* as of s3: (id, b) */
    t = s_open(c, "t", s3);
    assert_int_equal(t->ncols, 2);
    assert_string_equal(t->cols[1].name, "b");
    assert_int_equal(drift_table_get(t, k1.buf, k1.len, &r), 1);
    assert_int_equal(r.vals[1].u.i, 7);
    /* as of s4: (id, c) */
    t = s_open(c, "t", s4);
    assert_string_equal(t->cols[1].name, "c");
    assert_int_equal(t->cols[1].id, 3);
    /* present (s5): (id, c, a) with a new id: the dropped a's values do not come back */
    t = s_open(c, "t", c->q.snap_seq);
    assert_int_equal(c->q.snap_seq, s5);
    assert_int_equal(t->ncols, 3);
    assert_string_equal(t->cols[2].name, "a");
    assert_int_equal(t->cols[2].id, 4);
    assert_int_equal(drift_table_get(t, k1.buf, k1.len, &r), 1);
    assert_int_equal(r.vals[1].u.i, 7);
    assert_int_equal(r.vals[2].type, DRIFT_VAL_NULL);
    /* errors */
    al.alter.kind = DRIFT_ALTER_DROP_COLUMN;
    al.alter.name = "id";
    s_ddl_err(c, &al, "0A000");
    al.alter.kind = DRIFT_ALTER_RENAME_COLUMN;
    al.alter.name = "zz";
    al.alter.new_name = "q";
    s_ddl_err(c, &al, "42703");
    al.alter.name = "c";
    al.alter.new_name = "a";
    s_ddl_err(c, &al, "42701");
    al.alter.kind = DRIFT_ALTER_ADD_COLUMN;
    al.alter.coldef = s_cd("nn", DRIFT_COL_TEXT, 1, 0, 0, NULL);
    s_ddl_err(c, &al, "23502"); /* NOT NULL without DEFAULT on a table with rows */
    al.table = "missing";
    s_ddl_err(c, &al, "42P01");
    drift_keybuf_free(&k1);
    s_end(c);
}

typedef struct {
    uint64_t seq[16];
    int op[16];
    int deleted[16];
    int n;
} s_hist_t;

static int s_hist_cb(const drift_trow_t *r, void *arg)
{
    s_hist_t *h = arg;
    h->seq[h->n] = r->seq;
    h->op[h->n] = r->op;
    h->deleted[h->n] = r->vals == NULL;
    h->n++;
    return 0;
}

static void t_drop_rename_table(void **state)
{
    ctx_t *c = *state;
    s_begin(c);
    s_create_items(c);
    drift_table_t *t = s_open(c, "items", c->q.snap_seq);
    assert_int_equal(s_ins(c, t, 1, "ann", 1), 0);
    uint64_t s1 = s_commit(c);
    drift_stmt_t st;
    memset(&st, 0, sizeof st);
    s_begin(c);
    /* CREATE again: 42P07, IF NOT EXISTS: nothing */
    drift_coldef_t cols[1] = {s_cd("id", DRIFT_COL_INTEGER, 0, 1, 0, NULL)};
    st.kind = DRIFT_STMT_CREATE_TABLE;
    st.table = "items";
    st.coldefs = cols;
    st.ncoldefs = 1;
    s_ddl_err(c, &st, "42P07");
    st.if_not_exists = 1;
    s_ddl_ok(c, &st);
    assert_int_equal(drift_txn_nops(c->txn), 0);
    /* DROP TABLE in the transaction hides it at once */
    memset(&st, 0, sizeof st);
    st.kind = DRIFT_STMT_DROP_TABLE;
    st.name = "items";
    s_ddl_ok(c, &st);
    drift_table_t *none;
    assert_int_equal(drift_table_open(&c->q, "items", c->q.snap_seq, 0, &none), -1);
    assert_string_equal(c->err.code, "42P01");
    s_ddl_err(c, &st, "42P01");
    st.if_exists = 1;
    s_ddl_ok(c, &st);
    uint64_t s2 = s_commit(c);

    s_begin(c);
    assert_int_equal(drift_table_open(&c->q, "items", c->q.snap_seq, 0, &none), -1);
    /* as of before the drop: still readable */
    t = s_open(c, "items", s1);
    int64_t ids[4];
    assert_int_equal(s_scan_ids(t, 0, ids, 4), 1);
    uint32_t old_id = t->id;
    drift_keybuf_t k1 = s_pk(c, t, 1);
    drift_trow_t r;
    assert_int_equal(drift_table_get(t, k1.buf, k1.len, &r), 1);
    {
        /* its unique index on name was deleted with the table: the index scan reads the table instead */
        drift_keybuf_t ilo = {0};
        drift_value_t ann = drift_val_text("ann", 3);
        assert_int_equal(drift_table_encode_ivals(t, &t->idx[0], &ann, 1, &ilo), 0);
        drift_tscan_t *is;
        assert_int_equal(drift_table_iscan(t, &t->idx[0], ilo.buf, ilo.len, NULL, 0, &is), 0);
        assert_int_equal(drift_tscan_next(is, &r), 1);
        assert_int_equal(r.vals[0].u.i, 1);
        assert_int_equal(drift_tscan_next(is, &r), 0);
        drift_tscan_close(&is);
        drift_keybuf_free(&ilo);
    }
    s_hist_t h;
    memset(&h, 0, sizeof h);
    assert_int_equal(drift_table_history(t, k1.buf, k1.len, s_hist_cb, &h), 0);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.seq[0], s1);
    /* a new table with the same name gets a new id and no rows */
    s_create_items(c);
    t = s_open(c, "items", c->q.snap_seq);
    assert_true(t->id > old_id);
    assert_int_equal(s_scan_ids(t, 0, ids, 4), 0);
    /* RENAME TO in the same transaction */
    drift_stmt_t al;
    memset(&al, 0, sizeof al);
    al.kind = DRIFT_STMT_ALTER_TABLE;
    al.table = "items";
    al.alter.kind = DRIFT_ALTER_RENAME_TABLE;
    al.alter.new_name = "things";
    s_ddl_ok(c, &al);
    assert_int_equal(drift_table_open(&c->q, "items", c->q.snap_seq, 0, &none), -1);
    t = s_open(c, "things", c->q.snap_seq);
    assert_int_equal(s_ins(c, t, 3, "c", 3), 0);
    uint64_t s3 = s_commit(c);
    assert_true(s3 > s2);

    s_begin(c);
    t = s_open(c, "things", c->q.snap_seq);
    assert_int_equal(s_scan_ids(t, 0, ids, 4), 1);
    assert_int_equal(ids[0], 3);
    assert_int_equal(drift_table_open(&c->q, "items", c->q.snap_seq, 0, &none), -1);
    t = s_open(c, "items", s1); /* the first items, as of s1 */
    assert_int_equal(t->id, old_id);
    drift_keybuf_free(&k1);
    s_end(c);
}

static void t_indexes_ddl(void **state)
{
    ctx_t *c = *state;
    s_begin(c);
    s_create_items(c);
    drift_table_t *t = s_open(c, "items", c->q.snap_seq);
    assert_int_equal(s_ins(c, t, 1, "a", 5), 0);
    assert_int_equal(s_ins(c, t, 2, "b", 5), 0);
    assert_int_equal(s_ins(c, t, 3, "c", 1), 0);
    s_commit(c);
    s_begin(c);
    const char *sc[] = {"score"};
    drift_stmt_t st;
    memset(&st, 0, sizeof st);
    st.kind = DRIFT_STMT_CREATE_INDEX;
    st.name = "by_score";
    st.table = "items";
    st.idx_cols = sc;
    st.nidx_cols = 1;
    st.unique = 1;
    s_ddl_err(c, &st, "23505"); /* 5 twice */
    st.unique = 0;
    s_ddl_ok(c, &st);
    s_ddl_err(c, &st, "42P07");
    st.name = "items_name_key";
    s_ddl_err(c, &st, "42P07");
    st.name = "by_score2";
    const char *bad[] = {"nope"};
    st.idx_cols = bad;
    s_ddl_err(c, &st, "42703");
    /* the index exists only in this transaction: an index scan still finds the committed rows */
    drift_table_t *pt = s_open(c, "items", c->q.snap_seq);
    assert_int_equal(pt->nidx, 2);
    assert_int_equal(s_ins(c, pt, 4, "d", 5), 0);
    {
        drift_keybuf_t plo = {0};
        drift_value_t v5 = drift_val_real(5);
        assert_int_equal(drift_table_encode_ivals(pt, &pt->idx[1], &v5, 1, &plo), 0);
        drift_tscan_t *ps;
        assert_int_equal(drift_table_iscan(pt, &pt->idx[1], plo.buf, plo.len, NULL, 0, &ps), 0);
        drift_trow_t pr;
        int64_t pids[4];
        int pn = 0;
        while (drift_tscan_next(ps, &pr) == 1) {
            assert_true(pn < 4);
            pids[pn++] = pr.vals[0].u.i;
        }
        drift_tscan_close(&ps);
        assert_int_equal(pn, 3); /* score >= 5 in (score, pk) order: 1, 2, 4 */
        assert_int_equal(pids[0], 1);
        assert_int_equal(pids[1], 2);
        assert_int_equal(pids[2], 4);
        drift_keybuf_free(&plo);
    }
    uint64_t s1 = s_commit(c);

    s_begin(c);
    t = s_open(c, "items", c->q.snap_seq);
    assert_int_equal(t->nidx, 2);
    const drift_tidx_t *x = &t->idx[1];
    assert_string_equal(x->name, "by_score");
    assert_true(x->id > t->idx[0].id);
    /* the index was built over the existing rows: score = 5 */
    drift_keybuf_t lo = {0}, hi = {0};
    drift_value_t five = drift_val_int(5); /* coerced to REAL by the probe encoding */
    assert_int_equal(drift_table_encode_ivals(t, x, &five, 1, &lo), 0);
    drift_keybuf_raw(&hi, lo.buf, lo.len);
    uint8_t ff = 0xFF;
    drift_keybuf_raw(&hi, &ff, 1);
    drift_tscan_t *s;
    assert_int_equal(drift_table_iscan(t, x, lo.buf, lo.len, hi.buf, hi.len, &s), 0);
    drift_trow_t r;
    int n = 0;
    while (drift_tscan_next(s, &r) == 1) {
        assert_true(r.vals[2].u.r == 5.0);
        n++;
    }
    assert_int_equal(n, 3);
    drift_tscan_close(&s);
    /* DROP INDEX: gone now, still there as of s1 */
    memset(&st, 0, sizeof st);
    st.kind = DRIFT_STMT_DROP_INDEX;
    st.name = "by_score";
    s_ddl_ok(c, &st);
    s_ddl_err(c, &st, "42704");
    st.if_exists = 1;
    s_ddl_ok(c, &st);
    s_commit(c);
    s_begin(c);
    t = s_open(c, "items", c->q.snap_seq);
    assert_int_equal(t->nidx, 1);
    t = s_open(c, "items", s1);
    assert_int_equal(t->nidx, 2);
    /* the dropped index's entries are gone: a scan of it as of s1 still answers (from the table) */
    assert_int_equal(drift_table_iscan(t, &t->idx[1], lo.buf, lo.len, hi.buf, hi.len, &s), 0);
    n = 0;
    while (drift_tscan_next(s, &r) == 1) {
        assert_true(r.vals[2].u.r == 5.0);
        n++;
    }
    assert_int_equal(n, 3);
    drift_tscan_close(&s);
    drift_keybuf_free(&lo);
    drift_keybuf_free(&hi);
    s_end(c);
}

static void t_versions(void **state)
{
    ctx_t *c = *state;
    s_begin(c);
    s_create_items(c);
    s_commit(c);
    s_begin(c);
    drift_table_t *t = s_open(c, "items", c->q.snap_seq);
    assert_int_equal(s_ins(c, t, 1, "v1", 1), 0);
    assert_int_equal(s_ins(c, t, 2, "w1", 1), 0);
    uint64_t s1 = s_commit(c);
    s_begin(c);
    t = s_open(c, "items", c->q.snap_seq);
    drift_keybuf_t k1 = s_pk(c, t, 1), k2 = s_pk(c, t, 2);
    drift_trow_t r;
    assert_int_equal(drift_table_get(t, k1.buf, k1.len, &r), 1);
    drift_value_t v2[3] = {drift_val_int(1), drift_val_text("v2", 2), drift_val_real(2)};
    assert_int_equal(drift_table_update(t, &r, v2), 0);
    uint64_t s2 = s_commit(c);
    s_begin(c);
    t = s_open(c, "items", c->q.snap_seq);
    assert_int_equal(drift_table_delete(t, k1.buf, k1.len), 1);
    uint64_t s3 = s_commit(c);
    s_begin(c);
    t = s_open(c, "items", c->q.snap_seq);
    assert_int_equal(s_ins(c, t, 1, "v4", 4), 0);
    uint64_t s4 = s_commit(c);

    s_begin(c);
    t = s_open(c, "items", c->q.snap_seq);
    struct {
        uint64_t from, to;
        int incl;
        int n;
        const char *names[4];
        uint64_t ends[4];
    } cases[] = {
        {0, s4, 1, 4, {"v1", "v2", "v4", "w1"}, {s2, s3, DRIFT_INDEX_SEQ_LIVE, DRIFT_INDEX_SEQ_LIVE}},
        {s3, s3, 1, 1, {"w1"}, {DRIFT_INDEX_SEQ_LIVE}},        /* v2 ended at s3 (exclusive) */
        {s2, s3, 0, 2, {"v2", "w1"}, {s3, DRIFT_INDEX_SEQ_LIVE}}, /* FROM s2 TO s3 */
        {s2, s4, 0, 2, {"v2", "w1"}, {s3, DRIFT_INDEX_SEQ_LIVE}}, /* v4 starts at s4: excluded */
        {s2, s4, 1, 3, {"v2", "v4", "w1"}, {s3, DRIFT_INDEX_SEQ_LIVE, DRIFT_INDEX_SEQ_LIVE}},
        {0, s1 - 1, 1, 0, {NULL}, {0}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        drift_tscan_t *s;
        assert_int_equal(drift_table_vscan(t, cases[i].from, cases[i].to, cases[i].incl, &s), 0);
        int n = 0, rc;
        while ((rc = drift_tscan_next(s, &r)) == 1) {
            assert_true(n < cases[i].n);
            assert_int_equal(r.vals[1].u.s.n, 2);
            assert_memory_equal(r.vals[1].u.s.p, cases[i].names[n], 2);
            assert_int_equal(r.end_seq, cases[i].ends[n]);
            n++;
        }
        assert_int_equal(rc, 0);
        assert_int_equal(n, cases[i].n);
        drift_tscan_close(&s);
    }
    /* history of key 1: insert, update, delete, insert */
    s_hist_t h;
    memset(&h, 0, sizeof h);
    assert_int_equal(drift_table_history(t, k1.buf, k1.len, s_hist_cb, &h), 0);
    assert_int_equal(h.n, 4);
    uint64_t ws[] = {s1, s2, s3, s4};
    int wo[] = {DRIFT_COP_INSERT, DRIFT_COP_UPDATE, DRIFT_COP_DELETE, DRIFT_COP_INSERT};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(h.seq[i], ws[i]);
        assert_int_equal(h.op[i], wo[i]);
        assert_int_equal(h.deleted[i], i == 2);
    }
    /* opened as of s2: a history read still shows what the snapshot (s4) holds */
    drift_table_t *h2 = s_open(c, "items", s2);
    drift_tscan_t *s;
    memset(&h, 0, sizeof h);
    assert_int_equal(drift_table_history(h2, k1.buf, k1.len, s_hist_cb, &h), 0);
    assert_int_equal(h.n, 4);
    /* a statement whose snapshot is s2 while the LMDB snapshot holds s3 and s4 (REPEATABLE READ): the history
     * and the versions stop at s2 */
    c->q.snap_seq = s2;
    h2 = s_open(c, "items", s2);
    assert_true(h2->present);
    memset(&h, 0, sizeof h);
    assert_int_equal(drift_table_history(h2, k1.buf, k1.len, s_hist_cb, &h), 0);
    assert_int_equal(h.n, 2);
    assert_int_equal(h.seq[1], s2);
    assert_int_equal(drift_table_vscan(h2, 0, s4, 1, &s), 0);
    assert_int_equal(drift_tscan_next(s, &r), 1);
    assert_int_equal(r.end_seq, s2);
    assert_int_equal(drift_tscan_next(s, &r), 1);
    assert_memory_equal(r.vals[1].u.s.p, "v2", 2);
    assert_int_equal(r.end_seq, DRIFT_INDEX_SEQ_LIVE); /* deleted at s3, after the point */
    assert_int_equal(drift_tscan_next(s, &r), 1);
    assert_memory_equal(r.vals[1].u.s.p, "w1", 2);
    assert_int_equal(drift_tscan_next(s, &r), 0);
    drift_tscan_close(&s);
    c->q.snap_seq = s4;
    /* as-of point reads on the same key */
    drift_table_t *at = s_open(c, "items", s3);
    assert_int_equal(drift_table_get(at, k1.buf, k1.len, &r), 0);
    at = s_open(c, "items", s2);
    assert_int_equal(drift_table_get(at, k1.buf, k1.len, &r), 1);
    assert_memory_equal(r.vals[1].u.s.p, "v2", 2);
    assert_int_equal(drift_table_get(at, k2.buf, k2.len, &r), 1);
    drift_keybuf_free(&k1);
    drift_keybuf_free(&k2);
    s_end(c);
}

static void t_hidden_rowid(void **state)
{
    ctx_t *c = *state;
    drift_coldef_t cols[2] = {s_cd("a", DRIFT_COL_INTEGER, 0, 0, 0, NULL), s_cd("b", DRIFT_COL_TEXT, 0, 0, 1, NULL)};
    drift_stmt_t st;
    memset(&st, 0, sizeof st);
    st.kind = DRIFT_STMT_CREATE_TABLE;
    st.table = "nopk";
    st.coldefs = cols;
    st.ncoldefs = 2;
    s_begin(c);
    s_ddl_ok(c, &st);
    drift_table_t *t = s_open(c, "nopk", c->q.snap_seq);
    assert_int_equal(t->ncols, 3);
    assert_int_equal(drift_table_rowid_col(t), 2);
    assert_true(t->cols[2].hidden);
    assert_false(t->cols[0].hidden);
    assert_string_equal(t->cols[2].name, "_rowid");
    assert_int_equal(t->npk, 1);
    assert_int_equal(t->pk[0], 2);
    assert_string_equal(t->idx[0].name, "nopk_b_key");
    for (int i = 0; i < 5; i++) {
        drift_value_t v[3] = {drift_val_int(i), drift_val_null(), drift_val_null()}; /* same a, NULL b: fine */
        v[0] = drift_val_int(7);
        assert_int_equal(drift_table_insert(t, v), 0);
    }
    s_commit(c);
    s_begin(c);
    t = s_open(c, "nopk", c->q.snap_seq);
    int64_t ids[8];
    assert_int_equal(s_scan_ids(t, 2, ids, 8), 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ids[i] & 63, 3); /* worker 3 */
        if (i)
            assert_true(ids[i] > ids[i - 1]);
    }
    /* an update keeps the row's id */
    drift_tscan_t *s;
    drift_trow_t r;
    assert_int_equal(drift_table_scan(t, NULL, 0, NULL, 0, &s), 0);
    assert_int_equal(drift_tscan_next(s, &r), 1);
    drift_value_t nv[3] = {drift_val_int(8), drift_val_text("x", 1), drift_val_null()};
    drift_trow_t old = r;
    old.vals = drift_arena_memdup(&c->arena, r.vals, 3 * sizeof *r.vals);
    old.pk = drift_arena_memdup(&c->arena, r.pk, r.pk_len);
    drift_tscan_close(&s);
    assert_int_equal(drift_table_update(t, &old, nv), 0);
    s_commit(c);
    s_begin(c);
    t = s_open(c, "nopk", c->q.snap_seq);
    int64_t ids2[8];
    assert_int_equal(s_scan_ids(t, 2, ids2, 8), 5);
    assert_memory_equal(ids, ids2, sizeof ids2[0] * 5);
    assert_int_equal(s_scan_ids(t, 0, ids2, 8), 5);
    assert_int_equal(ids2[0], 8);
    s_end(c);
}

static void t_driftql(void **state)
{
    ctx_t *c = *state;
    const char *f1[] = {"city"}, *f2[] = {"age", "city"};
    drift_keydef_t idx[2] = {{NULL, f1, 1}, {NULL, f2, 2}};
    drift_stmt_t st;
    memset(&st, 0, sizeof st);
    st.kind = DRIFT_STMT_CREATE_TABLE;
    st.table = "people";
    st.driftql = 1;
    st.doc_pk = "id";
    st.doc_idx = idx;
    st.ndoc_idx = 2;
    s_begin(c);
    s_ddl_ok(c, &st);
    drift_table_t *t = s_open(c, "people", c->q.snap_seq);
    assert_true(t->driftql);
    assert_int_equal(t->ncols, 4); /* id, city, age, doc */
    assert_string_equal(t->cols[0].name, "id");
    assert_string_equal(t->cols[1].name, "city");
    assert_string_equal(t->cols[2].name, "age");
    assert_string_equal(t->cols[3].name, "doc");
    assert_int_equal(t->doc_key_col, 0);
    assert_int_equal(t->doc_col, 3);
    assert_string_equal(t->doc_fields[1], "city");
    assert_int_equal(t->nidx, 2);
    assert_string_equal(t->idx[0].name, "people_city_idx");
    assert_string_equal(t->idx[1].name, "people_age_city_idx");
    const char *d1 = "{\"id\": 1, \"city\": \"Oslo\", \"age\": 30, \"tags\": [1, 2]}";
    const char *d2 = "{\"id\": \"k2\", \"city\": \"Rome\"}";
    assert_int_equal(drift_table_insert_doc(t, d1, strlen(d1)), 0);
    assert_int_equal(drift_table_insert_doc(t, d2, strlen(d2)), 0);
    assert_int_equal(drift_table_insert_doc(t, d1, strlen(d1)), -1);
    assert_string_equal(c->err.code, "23505");
    assert_int_equal(drift_table_insert_doc(t, "{\"city\": 1}", 11), -1);
    assert_string_equal(c->err.code, "23502");
    assert_int_equal(drift_table_insert_doc(t, "[1]", 3), -1);
    assert_string_equal(c->err.code, "22023");
    assert_int_equal(drift_table_insert_doc(t, "{bad", 4), -1);
    assert_string_equal(c->err.code, "22P02");
    uint64_t s1 = s_commit(c);

    s_begin(c);
    t = s_open(c, "people", c->q.snap_seq);
    drift_keybuf_t k1 = {0};
    drift_value_t one = drift_val_int(1);
    assert_int_equal(drift_table_encode_pk(t, &one, &k1), 0);
    drift_trow_t r;
    assert_int_equal(drift_table_get(t, k1.buf, k1.len, &r), 1);
    assert_int_equal(r.vals[0].type, DRIFT_VAL_JSON);
    assert_int_equal(r.vals[0].u.s.n, 1);
    assert_memory_equal(r.vals[1].u.s.p, "\"Oslo\"", 6);
    assert_memory_equal(r.vals[2].u.s.p, "30", 2);
    assert_int_equal(r.vals[3].u.s.n, strlen("{\"id\":1,\"city\":\"Oslo\",\"age\":30,\"tags\":[1,2]}"));
    assert_memory_equal(r.vals[3].u.s.p, "{\"id\":1,\"city\":\"Oslo\",\"age\":30,\"tags\":[1,2]}", r.vals[3].u.s.n);
    /* PATCH: shallow merge, indexed field re-extracted; the key cannot change */
    const char *p1 = "{\"age\": 31, \"tags\": null, \"new\": true}";
    assert_int_equal(drift_table_patch_doc(t, k1.buf, k1.len, p1, strlen(p1)), 1);
    assert_int_equal(drift_table_get(t, k1.buf, k1.len, &r), 1);
    const char *merged = "{\"id\":1,\"city\":\"Oslo\",\"age\":31,\"tags\":null,\"new\":true}";
    assert_int_equal(r.vals[3].u.s.n, strlen(merged));
    assert_memory_equal(r.vals[3].u.s.p, merged, strlen(merged));
    assert_memory_equal(r.vals[2].u.s.p, "31", 2);
    assert_int_equal(drift_table_patch_doc(t, k1.buf, k1.len, "{\"id\": 2}", 9), -1);
    assert_string_equal(c->err.code, "22023");
    drift_keybuf_t k9 = {0};
    drift_value_t nine = drift_val_int(9);
    assert_int_equal(drift_table_encode_pk(t, &nine, &k9), 0);
    assert_int_equal(drift_table_patch_doc(t, k9.buf, k9.len, "{\"a\": 1}", 8), 0);
    /* a text key given as its JSON value (what KEY 'k2' becomes) */
    drift_keybuf_t kk2 = {0};
    drift_value_t jk2 = drift_val_json("\"k2\"", 4);
    assert_int_equal(drift_table_encode_pk(t, &jk2, &kk2), 0);
    assert_int_equal(drift_table_get(t, kk2.buf, kk2.len, &r), 1);
    drift_keybuf_free(&kk2);
    uint64_t s2 = s_commit(c);

    s_begin(c);
    t = s_open(c, "people", c->q.snap_seq);
    assert_int_equal(drift_table_get(t, k1.buf, k1.len, &r), 1);
    assert_int_equal(r.vals[3].u.s.n, strlen(merged));
    assert_memory_equal(r.vals[3].u.s.p, merged, strlen(merged)); /* the indexer merged the patch the same way */
    assert_int_equal(r.op, DRIFT_COP_PATCH);
    assert_int_equal(r.seq, s2);
    s_hist_t h;
    memset(&h, 0, sizeof h);
    assert_int_equal(drift_table_history(t, k1.buf, k1.len, s_hist_cb, &h), 0);
    assert_int_equal(h.n, 2);
    assert_int_equal(h.op[0], DRIFT_COP_INSERT);
    assert_int_equal(h.seq[0], s1);
    assert_int_equal(h.op[1], DRIFT_COP_PATCH);
    /* the secondary index follows the patched field: city = "Oslo" finds 1 */
    drift_keybuf_t lo = {0}, hi = {0};
    drift_value_t oslo = drift_val_json("\"Oslo\"", 6);
    assert_int_equal(drift_table_encode_ivals(t, &t->idx[0], &oslo, 1, &lo), 0);
    drift_keybuf_raw(&hi, lo.buf, lo.len);
    uint8_t ff = 0xFF;
    drift_keybuf_raw(&hi, &ff, 1);
    drift_tscan_t *s;
    assert_int_equal(drift_table_iscan(t, &t->idx[0], lo.buf, lo.len, hi.buf, hi.len, &s), 0);
    assert_int_equal(drift_tscan_next(s, &r), 1);
    assert_memory_equal(r.vals[0].u.s.p, "1", 1);
    assert_int_equal(drift_tscan_next(s, &r), 0);
    drift_tscan_close(&s);
    /* long names: generated index names are cut to fit the catalog */
    {
        char longt[121], longf[100];
        memset(longt, 'x', sizeof longt - 1);
        longt[sizeof longt - 1] = 0;
        memset(longf, 'f', sizeof longf - 1);
        longf[sizeof longf - 1] = 0;
        const char *lf[] = {longf};
        drift_keydef_t lidx[1] = {{NULL, lf, 1}};
        drift_stmt_t ls;
        memset(&ls, 0, sizeof ls);
        ls.kind = DRIFT_STMT_CREATE_TABLE;
        ls.table = longt;
        ls.driftql = 1;
        ls.doc_pk = "id";
        ls.doc_idx = lidx;
        ls.ndoc_idx = 1;
        s_ddl_ok(c, &ls);
        drift_table_t *lt = s_open(c, longt, c->q.snap_seq);
        assert_int_equal(lt->nidx, 1);
        assert_true(strlen(lt->idx[0].name) < 128);
        assert_non_null(strstr(lt->idx[0].name, "_idx"));
    }
    /* not a document table */
    s_create_items(c);
    drift_table_t *items = s_open(c, "items", c->q.snap_seq);
    assert_int_equal(drift_table_insert_doc(items, "{}", 2), -1);
    assert_string_equal(c->err.code, "42809");
    drift_keybuf_free(&k1);
    drift_keybuf_free(&k9);
    drift_keybuf_free(&lo);
    drift_keybuf_free(&hi);
    s_end(c);
}

static int s_list_cb(const char *name, uint32_t id, void *arg)
{
    char *out = arg;
    (void)id;
    strcat(out, name);
    strcat(out, ",");
    return 0;
}

static void t_resolve_list_reads(void **state)
{
    ctx_t *c = *state;
    s_begin(c);
    s_create_items(c);
    uint64_t s1 = s_commit(c);
    s_begin(c);
    drift_coldef_t cols[1] = {s_cd("id", DRIFT_COL_INTEGER, 0, 1, 0, NULL)};
    drift_stmt_t st;
    memset(&st, 0, sizeof st);
    st.kind = DRIFT_STMT_CREATE_TABLE;
    st.table = "alpha";
    st.coldefs = cols;
    st.ncoldefs = 1;
    s_ddl_ok(c, &st);
    uint64_t s2 = s_commit(c);

    s_begin(c);
    uint64_t seq;
    assert_int_equal(drift_table_resolve_seq(&c->q, s1, 0, &seq), 0);
    assert_int_equal(seq, s1);
    assert_int_equal(drift_table_resolve_seq(&c->q, 99, 0, &seq), -1);
    assert_string_equal(c->err.code, "22023");
    char want[80];
    snprintf(want, sizeof want, "seq 99 is beyond the last commit %" PRIu64, s2);
    assert_string_equal(c->err.message, want);
    assert_int_equal(drift_table_resolve_time(&c->q, "yesterday", 9, 0, &seq), -1);
    assert_string_equal(c->err.code, "22007");
    assert_non_null(strstr(c->err.message, "bad timestamp"));
    assert_int_equal(drift_table_resolve_time(&c->q, "2099-01-01T00:00:00Z", 20, 0, &seq), -1);
    assert_string_equal(c->err.code, "22023");
    assert_non_null(strstr(c->err.message, "is in the future"));
    /* the fixture stamps frame s at 1000 + s ns after the epoch */
    char ts[64];
    drift_ts_format((int64_t)(1000 + s1), ts, sizeof ts);
    assert_int_equal(drift_table_resolve_time(&c->q, ts, strlen(ts), 0, &seq), 0);
    assert_int_equal(seq, s1);
    assert_int_equal(drift_table_resolve_time(&c->q, "1970-01-01T00:00:00Z", 20, 0, &seq), 0);
    assert_int_equal(seq, 0);
    assert_int_equal(drift_table_resolve_time(&c->q, "1969-12-31T23:59:59Z", 20, 0, &seq), 0);
    assert_int_equal(seq, 0);
    /* the fixture's frames are at 1001.. ns: to the microsecond, a point is the end of that microsecond; with
     * nanoseconds it is exact */
    assert_int_equal(drift_table_resolve_time(&c->q, "1970-01-01T00:00:00.000001Z", 27, 0, &seq), 0);
    assert_int_equal(seq, s2);
    assert_int_equal(drift_table_resolve_time(&c->q, "1970-01-01T00:00:00.000001000Z", 30, 0, &seq), 0);
    assert_int_equal(seq, 0);
    /* SHOW TABLES: sorted, as of a seq, with the transaction's DDL */
    char names[128] = "";
    assert_int_equal(drift_table_list(&c->q, c->q.snap_seq, s_list_cb, names), 0);
    assert_string_equal(names, "alpha,items,");
    names[0] = 0;
    assert_int_equal(drift_table_list(&c->q, s1, s_list_cb, names), 0);
    assert_string_equal(names, "items,");
    memset(&st, 0, sizeof st);
    st.kind = DRIFT_STMT_DROP_TABLE;
    st.name = "alpha";
    s_ddl_ok(c, &st);
    st.kind = DRIFT_STMT_CREATE_TABLE;
    st.table = "beta";
    st.coldefs = cols;
    st.ncoldefs = 1;
    s_ddl_ok(c, &st);
    names[0] = 0;
    assert_int_equal(drift_table_list(&c->q, c->q.snap_seq, s_list_cb, names), 0);
    assert_string_equal(names, "beta,items,");
    s_end(c);

    /* SERIALIZABLE: point reads note keys, scans note the table */
    s_begin_iso(c, DRIFT_ISO_SERIALIZABLE);
    drift_table_t *t = s_open(c, "items", c->q.snap_seq);
    drift_keybuf_t k = s_pk(c, t, 1);
    drift_trow_t r;
    assert_int_equal(drift_table_get(t, k.buf, k.len, &r), 0);
    assert_int_equal(drift_txn_nreads(c->txn), 1);
    int64_t ids[2];
    assert_int_equal(s_scan_ids(t, 0, ids, 2), 0);
    assert_int_equal(drift_txn_nreads(c->txn), 2);
    drift_table_t *old = s_open(c, "items", s1); /* historical reads are not noted */
    assert_int_equal(s_scan_ids(old, 0, ids, 2), 0);
    assert_int_equal(drift_txn_nreads(c->txn), 2);
    drift_keybuf_free(&k);
    s_end(c);
}

static void t_pending_schema_versions(void **state)
{
    ctx_t *c = *state;
    /* one transaction: CREATE, INSERT, ALTER ADD COLUMN, INSERT, DROP COLUMN, read; then the same after commit */
    drift_coldef_t cols[2] = {s_cd("id", DRIFT_COL_INTEGER, 0, 1, 0, NULL), s_cd("a", DRIFT_COL_TEXT, 0, 0, 0, NULL)};
    drift_stmt_t st;
    memset(&st, 0, sizeof st);
    st.kind = DRIFT_STMT_CREATE_TABLE;
    st.table = "v";
    st.coldefs = cols;
    st.ncoldefs = 2;
    s_begin(c);
    s_ddl_ok(c, &st);
    drift_table_t *t = s_open(c, "v", c->q.snap_seq);
    drift_value_t r1[2] = {drift_val_int(1), drift_val_text("one", 3)};
    assert_int_equal(drift_table_insert(t, r1), 0);
    drift_stmt_t al;
    memset(&al, 0, sizeof al);
    al.kind = DRIFT_STMT_ALTER_TABLE;
    al.table = "v";
    al.alter.kind = DRIFT_ALTER_ADD_COLUMN;
    al.alter.coldef = s_cd("b", DRIFT_COL_BOOLEAN, 0, 0, 0, s_lit(c, drift_val_bool(1)));
    s_ddl_ok(c, &al);
    t = s_open(c, "v", c->q.snap_seq);
    drift_value_t r2[3] = {drift_val_int(2), drift_val_text("two", 3), drift_val_bool(0)};
    assert_int_equal(drift_table_insert(t, r2), 0);
    al.alter.kind = DRIFT_ALTER_DROP_COLUMN;
    al.alter.name = "a";
    s_ddl_ok(c, &al);
    for (int round = 0; round < 2; round++) {
        t = s_open(c, "v", c->q.snap_seq);
        assert_int_equal(t->ncols, 2);
        assert_int_equal(t->schema_ver, 3);
        drift_tscan_t *s;
        drift_trow_t r;
        assert_int_equal(drift_table_scan(t, NULL, 0, NULL, 0, &s), 0);
        assert_int_equal(drift_tscan_next(s, &r), 1);
        assert_int_equal(r.vals[0].u.i, 1);
        assert_int_equal(r.vals[1].type, DRIFT_VAL_BOOL);
        assert_int_equal(r.vals[1].u.b, 1); /* written in version 1: b's DEFAULT */
        assert_int_equal(drift_tscan_next(s, &r), 1);
        assert_int_equal(r.vals[1].u.b, 0);
        assert_int_equal(drift_tscan_next(s, &r), 0);
        drift_tscan_close(&s);
        if (round == 0) {
            s_commit(c);
            s_begin(c);
        }
    }
    s_end(c);
}


static void t_big_rows(void **state)
{
    /* rows over DRIFT_INDEX_INLINE_MAX are read back from the log segments by location */
    ctx_t *c = *state;
    char big[3][600];
    for (int i = 0; i < 3; i++) {
        memset(big[i], 'a' + i, sizeof big[i] - 1);
        big[i][sizeof big[i] - 1] = 0;
    }
    s_begin(c);
    s_create_items(c);
    drift_table_t *t = s_open(c, "items", c->q.snap_seq);
    assert_int_equal(s_ins(c, t, 1, big[0], 1), 0);
    uint64_t s1 = s_commit(c);
    uint64_t seqs[3] = {s1, 0, 0};
    for (int i = 1; i < 3; i++) {
        s_begin(c);
        t = s_open(c, "items", c->q.snap_seq);
        drift_keybuf_t k = s_pk(c, t, 1);
        drift_trow_t r;
        assert_int_equal(drift_table_get(t, k.buf, k.len, &r), 1);
        drift_value_t v[3] = {drift_val_int(1), drift_val_text(big[i], strlen(big[i])), drift_val_real(i)};
        assert_int_equal(drift_table_update(t, &r, v), 0);
        drift_keybuf_free(&k);
        seqs[i] = s_commit(c);
    }
    s_begin(c);
    t = s_open(c, "items", c->q.snap_seq);
    drift_keybuf_t k = s_pk(c, t, 1);
    for (int i = 0; i < 3; i++) {
        drift_table_t *at = s_open(c, "items", seqs[i]);
        drift_trow_t r;
        assert_int_equal(drift_table_get(at, k.buf, k.len, &r), 1);
        assert_int_equal(r.vals[1].u.s.n, strlen(big[i]));
        assert_memory_equal(r.vals[1].u.s.p, big[i], strlen(big[i]));
    }
    drift_tscan_t *s;
    assert_int_equal(drift_table_vscan(t, 0, seqs[2], 1, &s), 0);
    drift_trow_t r;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(drift_tscan_next(s, &r), 1);
        assert_memory_equal(r.vals[1].u.s.p, big[i], strlen(big[i]));
        assert_int_equal(r.seq, seqs[i]);
        assert_int_equal(r.end_seq, i < 2 ? seqs[i + 1] : DRIFT_INDEX_SEQ_LIVE);
    }
    assert_int_equal(drift_tscan_next(s, &r), 0);
    drift_tscan_close(&s);
    /* two historical scans interleaved (a self-join as of two seqs) keep their own rows */
    drift_table_t *a0 = s_open(c, "items", seqs[0]), *a1 = s_open(c, "items", seqs[1]);
    drift_tscan_t *x, *y;
    assert_int_equal(drift_table_scan(a0, NULL, 0, NULL, 0, &x), 0);
    assert_int_equal(drift_table_scan(a1, NULL, 0, NULL, 0, &y), 0);
    drift_trow_t rx, ry;
    assert_int_equal(drift_tscan_next(x, &rx), 1);
    assert_int_equal(drift_tscan_next(y, &ry), 1);
    assert_memory_equal(rx.vals[1].u.s.p, big[0], strlen(big[0]));
    assert_memory_equal(ry.vals[1].u.s.p, big[1], strlen(big[1]));
    drift_tscan_close(&x);
    drift_tscan_close(&y);
    s_hist_t h;
    memset(&h, 0, sizeof h);
    assert_int_equal(drift_table_history(t, k.buf, k.len, s_hist_cb, &h), 0);
    assert_int_equal(h.n, 3);
    drift_keybuf_free(&k);
    s_end(c);
}

static void t_ids(void **state)
{
    /* table and index ids only grow, whatever was dropped (ids are never reused: history stays unambiguous) */
    ctx_t *c = *state;
    uint32_t last_t = 0, last_i = 0;
    for (int i = 0; i < 150; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", i % 7);
        drift_coldef_t cols[2] = {s_cd("id", DRIFT_COL_INTEGER, 0, 1, 0, NULL), s_cd("u", DRIFT_COL_TEXT, 0, 0, 1, NULL)};
        drift_stmt_t st;
        memset(&st, 0, sizeof st);
        s_begin(c);
        if (i >= 7) {
            st.kind = DRIFT_STMT_DROP_TABLE;
            st.name = name;
            s_ddl_ok(c, &st);
        }
        st.kind = DRIFT_STMT_CREATE_TABLE;
        st.table = name;
        st.coldefs = cols;
        st.ncoldefs = 2;
        s_ddl_ok(c, &st);
        drift_table_t *t = s_open(c, name, c->q.snap_seq);
        assert_true(t->id > last_t);
        assert_int_equal(t->nidx, 1);
        assert_true(t->idx[0].id > last_i);
        last_t = t->id;
        last_i = t->idx[0].id;
        if (i % 3 == 0) { /* and an index more, dropped again at once */
            const char *ic[] = {"u"};
            drift_stmt_t ci;
            memset(&ci, 0, sizeof ci);
            ci.kind = DRIFT_STMT_CREATE_INDEX;
            ci.name = "extra";
            ci.table = name;
            ci.idx_cols = ic;
            ci.nidx_cols = 1;
            s_ddl_ok(c, &ci);
            t = s_open(c, name, c->q.snap_seq);
            assert_true(t->idx[1].id > last_i);
            last_i = t->idx[1].id;
            s_commit(c);
            s_begin(c);
            ci.kind = DRIFT_STMT_DROP_INDEX;
            s_ddl_ok(c, &ci);
        }
        s_commit(c);
    }
    s_begin(c);
    uint32_t mt, mi;
    assert_int_equal(drift_index_catalog_max_ids(c->rd, &mt, &mi), 0);
    assert_int_equal(mt, last_t);
    assert_int_equal(mi, last_i);
    assert_int_equal(drift_index_catalog_max_ids(c->rd, &mt, &mi), 0); /* from the cache now */
    assert_int_equal(mi, last_i);
    uint32_t m2;
    assert_int_equal(drift_index_max_table_id(c->rd, &m2), 0);
    assert_int_equal(m2, last_t);
    s_end(c);
}

static void t_many_rows(void **state)
{
    ctx_t *c = *state;
    s_begin(c);
    s_create_items(c);
    drift_table_t *t = s_open(c, "items", c->q.snap_seq);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < 10000; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "u%d", (i * 7919) % 10000);
        assert_int_equal(s_ins(c, t, (i * 7919) % 10000, nm, i), 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    print_message("10000 inserts (pk + UNIQUE checks) in one transaction: %.1f ms\n", ms);
    assert_true(ms < 3000);
    assert_int_equal(s_ins(c, t, 10001, "u5", 1), -1); /* the pending unique entries are found */
    assert_string_equal(c->err.code, "23505");
    assert_int_equal(drift_table_estimate_rows(t), 10000); /* pending rows count */
    s_commit(c);
    s_begin(c);
    t = s_open(c, "items", c->q.snap_seq);
    uint64_t est = drift_table_estimate_rows(t);
    assert_true(est >= 1000); /* exact up to 1000, then current rows / tables */
    assert_int_equal(est, 10000);
    int64_t *ids = malloc(10001 * sizeof *ids);
    assert_int_equal(s_scan_ids(t, 0, ids, 10001), 10000);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(ids[i], i);
    free(ids);
    s_end(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(t_create_read_write, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_overlay, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_constraints, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_alter_as_of, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_drop_rename_table, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_indexes_ddl, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_versions, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_hidden_rowid, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_driftql, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_resolve_list_reads, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_pending_schema_versions, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_many_rows, s_setup_big, s_teardown),
        cmocka_unit_test_setup_teardown(t_big_rows, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_ids, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
