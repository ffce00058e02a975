/* tests/unit/test_index.c — the LMDB index store on hand-built histories
 * written as real log frames (tests/unit/logfixture.h): as-of lookups
 * (insert, update, delete, re-insert, patch, many versions), table scans as
 * of a seq and their cost, secondary-index maintenance (value change,
 * delete, re-insert, index created after the fact), uniqueness of live
 * rows, timestamps, the catalog, batches that are aborted (crash) then
 * resumed, rebuild + compare, and bad input. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <lmdb.h>

#include "common/errors.h"
#include "common/util.h"
#include "ipc/commit.h"
#include "shm/index.h"
#include "tests/unit/logfixture.h"

#define T 7u /* the table id used throughout */

typedef struct {
    fx_log_t fx;
    char idx_dir[400];
    drift_index_t *ix;
    drift_logr_t *lr;
    msgpack_sbuffer body;
    msgpack_packer pk;
    size_t nops;
    msgpack_sbuffer ops;
    msgpack_packer opk;
} ctx_t;

static int s_setup(void **state)
{
    ctx_t *c = calloc(1, sizeof *c);
    fx_init(&c->fx, 1 << 16); /* small segments: histories span several */
    snprintf(c->idx_dir, sizeof c->idx_dir, "%s/index", c->fx.root);
    drift_index_opts_t o = {.map_size = 64u << 20};
    assert_int_equal(drift_index_open(c->idx_dir, c->fx.dir, NULL, &o, &c->ix), 0);
    assert_int_equal(drift_logr_open(c->fx.dir, NULL, &c->lr), 0);
    msgpack_sbuffer_init(&c->ops);
    msgpack_packer_init(&c->opk, &c->ops, msgpack_sbuffer_write);
    *state = c;
    return 0;
}

static int s_teardown(void **state)
{
    ctx_t *c = *state;
    drift_index_close(&c->ix);
    drift_logr_close(&c->lr);
    msgpack_sbuffer_destroy(&c->ops);
    fx_done(&c->fx);
    free(c);
    return 0;
}

/* Encoded INTEGER pk. */
typedef struct {
    uint8_t b[16];
    size_t n;
} pkey_t;
static pkey_t s_key(int64_t id)
{
    drift_keybuf_t kb = {0};
    drift_keyenc_int(&kb, id);
    pkey_t k;
    memcpy(k.b, kb.buf, kb.len);
    k.n = kb.len;
    drift_keybuf_free(&kb);
    return k;
}

/* Adds an op to the pending transaction; row_mp already packed (may be NULL). */
static void s_op(ctx_t *c, drift_cop_t op, uint32_t table, int64_t id, const void *row, size_t row_len)
{
    pkey_t k = s_key(id);
    drift_commit_pack_op(&c->opk, op, table, op == DRIFT_COP_DDL ? NULL : k.b, k.n, row, row_len);
    c->nops++;
}

/* A raw row [id, name, score] (score < 0: NULL) packed into out; returns its length. */
static size_t s_pack_row(uint8_t *out, size_t cap, int64_t id, const char *name, int64_t score)
{
    msgpack_sbuffer sb;
    msgpack_packer p;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&p, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&p, 3);
    msgpack_pack_int64(&p, id);
    msgpack_pack_str_with_body(&p, name, strlen(name));
    if (score < 0)
        msgpack_pack_nil(&p);
    else
        msgpack_pack_int64(&p, score);
    assert_true(sb.size <= cap);
    memcpy(out, sb.data, sb.size);
    size_t n = sb.size;
    msgpack_sbuffer_destroy(&sb);
    return n;
}

/* A row [id, name, score] (score < 0 means NULL). */
static void s_op_row(ctx_t *c, drift_cop_t op, int64_t id, const char *name, int64_t score)
{
    uint8_t row[2048];
    s_op(c, op, T, id, row, s_pack_row(row, sizeof row, id, name, score));
}

/* A patch {"score": score}. */
static void s_op_patch(ctx_t *c, int64_t id, int64_t score)
{
    msgpack_sbuffer sb;
    msgpack_packer p;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&p, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&p, 1);
    msgpack_pack_str_with_body(&p, "score", 5);
    msgpack_pack_int64(&p, score);
    s_op(c, DRIFT_COP_PATCH, T, id, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

/* A DDL op: kind + the definition of table T (version ver, name, with or without the score index
 * and the unique name index). */
static void s_op_ddl(ctx_t *c, const char *kind, uint32_t ver, const char *name, int score_idx, int name_idx)
{
    msgpack_sbuffer sb;
    msgpack_packer p;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&p, &sb, msgpack_sbuffer_write);
    int drop = strcmp(kind, "drop_table") == 0;
    msgpack_pack_map(&p, drop ? 1 : 2);
    msgpack_pack_str_with_body(&p, "ddl", 3);
    msgpack_pack_str_with_body(&p, kind, strlen(kind));
    if (!drop) {
        msgpack_pack_str_with_body(&p, "def", 3);
        msgpack_pack_map(&p, 5);
        msgpack_pack_str_with_body(&p, "name", 4);
        msgpack_pack_str_with_body(&p, name, strlen(name));
        msgpack_pack_str_with_body(&p, "version", 7);
        msgpack_pack_uint32(&p, ver);
        msgpack_pack_str_with_body(&p, "columns", 7);
        msgpack_pack_array(&p, 3);
        const char *cn[] = {"id", "name", "score"}, *ct[] = {"INTEGER", "TEXT", "INTEGER"};
        for (int i = 0; i < 3; i++) {
            msgpack_pack_map(&p, 3);
            msgpack_pack_str_with_body(&p, "id", 2);
            msgpack_pack_uint32(&p, (uint32_t)i + 1);
            msgpack_pack_str_with_body(&p, "name", 4);
            msgpack_pack_str_with_body(&p, cn[i], strlen(cn[i]));
            msgpack_pack_str_with_body(&p, "type", 4);
            msgpack_pack_str_with_body(&p, ct[i], strlen(ct[i]));
        }
        msgpack_pack_str_with_body(&p, "pk", 2);
        msgpack_pack_array(&p, 1);
        msgpack_pack_uint32(&p, 1);
        msgpack_pack_str_with_body(&p, "indexes", 7);
        msgpack_pack_array(&p, (size_t)(score_idx + name_idx));
        if (score_idx) {
            msgpack_pack_map(&p, 3);
            msgpack_pack_str_with_body(&p, "id", 2);
            msgpack_pack_uint32(&p, 100);
            msgpack_pack_str_with_body(&p, "name", 4);
            msgpack_pack_str_with_body(&p, "by_score", 8);
            msgpack_pack_str_with_body(&p, "columns", 7);
            msgpack_pack_array(&p, 1);
            msgpack_pack_uint32(&p, 3);
        }
        if (name_idx) {
            msgpack_pack_map(&p, 4);
            msgpack_pack_str_with_body(&p, "id", 2);
            msgpack_pack_uint32(&p, 101);
            msgpack_pack_str_with_body(&p, "name", 4);
            msgpack_pack_str_with_body(&p, "by_name", 7);
            msgpack_pack_str_with_body(&p, "columns", 7);
            msgpack_pack_array(&p, 1);
            msgpack_pack_uint32(&p, 2);
            msgpack_pack_str_with_body(&p, "unique", 6);
            msgpack_pack_true(&p);
        }
    }
    s_op(c, DRIFT_COP_DDL, T, 0, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

/* Appends the pending ops as one frame (one transaction); returns its seq. */
static uint64_t s_commit(ctx_t *c)
{
    msgpack_sbuffer sb;
    msgpack_packer p;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&p, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&p, c->nops);
    msgpack_sbuffer_write(&sb, c->ops.data, c->ops.size);
    uint64_t seq = c->fx.next_seq;
    fx_append(&c->fx, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_clear(&c->ops);
    c->nops = 0;
    return seq;
}

/* Applies every new frame in one batch. */
static void s_index(ctx_t *c)
{
    drift_frame_t f;
    drift_logr_pos_t pos;
    uint64_t applied;
    drift_index_applied(c->ix, &applied, NULL);
    assert_int_equal(drift_logr_seek(c->lr, applied + 1), 0);
    assert_int_equal(drift_index_begin(c->ix), 0);
    int rc;
    while ((rc = drift_logr_next(c->lr, &f, &pos)) == 1)
        assert_int_equal(drift_index_apply(c->ix, &f, pos), 0);
    assert_int_equal(rc, 0);
    assert_int_equal(drift_index_commit(c->ix), 0);
}

/* The score (column 2) of a row version, -1 for NULL. */
static int64_t s_score(const drift_index_ver_t *v)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, (const char *)v->row, v->row_len, NULL), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(u.data.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(u.data.via.array.size, 3);
    msgpack_object o = u.data.via.array.ptr[2];
    int64_t s = o.type == MSGPACK_OBJECT_NIL ? -1 : (int64_t)o.via.u64;
    msgpack_unpacked_destroy(&u);
    return s;
}

/* get(id) as of seq: the score, or -2 when not found. */
static int64_t s_get(drift_index_rd_t *rd, int64_t id, uint64_t as_of)
{
    pkey_t k = s_key(id);
    drift_index_ver_t v;
    int rc = drift_index_get(rd, T, k.b, k.n, as_of, &v);
    if (rc == DRIFT_ENOTFOUND)
        return -2;
    assert_int_equal(rc, 0);
    return s_score(&v);
}

static int s_collect(const drift_index_ver_t *v, void *arg)
{
    drift_index_ver_t *out = arg;
    int i = 0;
    while (out[i].seq)
        i++;
    out[i] = *v;
    out[i].row = NULL;
    return 0;
}

static void t_asof_history(void **state)
{
    ctx_t *c = *state;
    s_op_ddl(c, "create_table", 1, "people", 0, 0);
    uint64_t s1 = s_commit(c);
    s_op_row(c, DRIFT_COP_INSERT, 1, "ann", 10);
    uint64_t s2 = s_commit(c);
    s_op_row(c, DRIFT_COP_UPDATE, 1, "ann", 11);
    s_op_row(c, DRIFT_COP_INSERT, 2, "bob", 20);
    uint64_t s3 = s_commit(c);
    s_op(c, DRIFT_COP_DELETE, T, 1, NULL, 0);
    uint64_t s4 = s_commit(c);
    s_op_row(c, DRIFT_COP_INSERT, 1, "ann", 12);
    uint64_t s5 = s_commit(c);
    s_op_patch(c, 1, 13);
    uint64_t s6 = s_commit(c);
    char big[400];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = 0;
    s_op_row(c, DRIFT_COP_UPDATE, 2, big, 21); /* larger than DRIFT_INDEX_INLINE_MAX: kept in the log */
    uint64_t s7 = s_commit(c);
    s_op_row(c, DRIFT_COP_UPDATE, 2, "bob", 22);
    s_commit(c);
    s_index(c);

    drift_index_rd_t *rd;
    assert_int_equal(drift_index_rd_begin(c->ix, &rd), 0);
    assert_int_equal(drift_index_rd_seq(rd), s7 + 1);
    assert_int_equal(s_get(rd, 2, s7), 21);
    pkey_t k2 = s_key(2);
    drift_index_ver_t vbig;
    assert_int_equal(drift_index_get(rd, T, k2.b, k2.n, s7, &vbig), 0);
    assert_true(vbig.row_len > 400);
    assert_non_null(memmem(vbig.row, vbig.row_len, big, sizeof big - 1));
    assert_int_equal(s_get(rd, 2, s7 + 1), 22);
    assert_int_equal(s_get(rd, 1, s1), -2);
    assert_int_equal(s_get(rd, 1, s2), 10);
    assert_int_equal(s_get(rd, 1, s3), 11);
    assert_int_equal(s_get(rd, 1, s4), -2);
    assert_int_equal(s_get(rd, 1, s5), 12);
    assert_int_equal(s_get(rd, 1, s6), 13);
    assert_int_equal(s_get(rd, 1, UINT64_MAX), 13);
    assert_int_equal(s_get(rd, 2, s2), -2);
    assert_int_equal(s_get(rd, 2, s6), 20);
    assert_int_equal(s_get(rd, 3, s6), -2);
    pkey_t k1 = s_key(1);
    drift_index_ver_t v;
    assert_int_equal(drift_index_get(rd, T, k1.b, k1.n, s7 + 2, &v), -EAGAIN);

    /* history: oldest first, deletes included, end seqs */
    drift_index_ver_t h[16];
    memset(h, 0, sizeof h);
    assert_int_equal(drift_index_history(rd, T, k1.b, k1.n, s_collect, h), 0);
    uint64_t want_seq[] = {s2, s3, s4, s5, s6};
    int want_op[] = {DRIFT_COP_INSERT, DRIFT_COP_UPDATE, DRIFT_COP_DELETE, DRIFT_COP_INSERT, DRIFT_COP_PATCH};
    uint64_t want_end[] = {s3, s4, s4, s6, DRIFT_INDEX_SEQ_LIVE};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(h[i].seq, want_seq[i]);
        assert_int_equal(h[i].op, want_op[i]);
        assert_int_equal(h[i].end_seq, want_end[i]);
        assert_int_equal(h[i].schema_ver, 1);
    }
    assert_int_equal(h[5].seq, 0);
    pkey_t k9 = s_key(9);
    assert_int_equal(drift_index_history(rd, T, k9.b, k9.n, s_collect, h), DRIFT_ENOTFOUND);

    /* timestamps: the fixture gives frame seq s the ts 1000 + s */
    uint64_t seq;
    assert_int_equal(drift_index_seq_at(rd, 1000 + s3, &seq), 0);
    assert_int_equal(seq, s3);
    assert_int_equal(drift_index_seq_at(rd, 999, &seq), 0);
    assert_int_equal(seq, 0);
    assert_int_equal(drift_index_seq_at(rd, UINT64_MAX, &seq), 0);
    assert_int_equal(seq, s7 + 1);
    assert_int_equal(drift_index_seq_at(rd, 1000000, &seq), 0);
    assert_int_equal(seq, s7 + 1);

    /* catalog */
    uint32_t table;
    assert_int_equal(drift_index_table_by_name(rd, "people", s6, &table), 0);
    assert_int_equal(table, T);
    assert_int_equal(drift_index_table_by_name(rd, "nobody", s6, &table), DRIFT_ENOTFOUND);
    drift_index_tdef_t *d;
    assert_int_equal(drift_index_table_def(rd, T, s6, &d), 0);
    assert_string_equal(d->name, "people");
    assert_int_equal(d->ncols, 3);
    assert_int_equal(d->cols[2].type, DRIFT_COL_INTEGER);
    drift_index_tdef_destroy(&d);
    assert_int_equal(drift_index_table_def(rd, 99, s6, &d), DRIFT_ENOTFOUND);
    drift_index_rd_end(&rd);
    assert_int_equal(drift_index_skipped(c->ix), 0);
}

/* Many versions of many keys: scans as of random seqs equal a model; the cost stays bounded per row. */
static void t_many_versions_scan(void **state)
{
    ctx_t *c = *state;
    enum { KEYS = 40, ROUNDS = 60 };
    static int64_t model[ROUNDS + 2][KEYS]; /* score per key after each commit, -2 = absent */
    s_op_ddl(c, "create_table", 1, "people", 0, 0);
    uint64_t base = s_commit(c);
    for (int k = 0; k < KEYS; k++)
        model[0][k] = -2;
    uint64_t rng = 12345;
    for (int r = 1; r <= ROUNDS; r++) {
        memcpy(model[r], model[r - 1], sizeof model[r]);
        for (int n = 0; n < 5; n++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            int k = (int)((rng >> 33) % KEYS);
            int64_t score = (int64_t)((rng >> 20) % 1000);
            if (model[r][k] == -2) {
                s_op_row(c, DRIFT_COP_INSERT, k, "x", score);
                model[r][k] = score;
            } else if ((rng >> 50) % 4 == 0) {
                s_op(c, DRIFT_COP_DELETE, T, k, NULL, 0);
                model[r][k] = -2;
            } else if ((rng >> 50) % 4 == 1) {
                s_op_patch(c, k, score);
                model[r][k] = score;
            } else {
                s_op_row(c, DRIFT_COP_UPDATE, k, "x", score);
                model[r][k] = score;
            }
        }
        assert_int_equal(s_commit(c), base + (uint64_t)r);
    }
    /* a hot key with many later versions, to check the cost of skipping them */
    for (int r = 0; r < 300; r++) {
        s_op_row(c, DRIFT_COP_UPDATE, 1000, "hot", r);
        s_commit(c);
    }
    s_index(c);
    drift_index_rd_t *rd;
    assert_int_equal(drift_index_rd_begin(c->ix, &rd), 0);
    for (int r = 0; r <= ROUNDS; r++) {
        uint64_t as_of = base + (uint64_t)r;
        for (int k = 0; k < KEYS; k++)
            assert_int_equal(s_get(rd, k, as_of), model[r][k]);
        drift_index_scan_t *it;
        assert_int_equal(drift_index_scan_open(rd, T, NULL, 0, NULL, 0, as_of, &it), 0);
        const uint8_t *pk;
        size_t pk_len;
        drift_index_ver_t v;
        int next_k = 0, rows = 0, rc;
        while ((rc = drift_index_scan_next(it, &pk, &pk_len, &v)) == 1) {
            while (next_k < KEYS && model[r][next_k] == -2)
                next_k++;
            assert_true(next_k < KEYS);
            pkey_t want = s_key(next_k);
            assert_int_equal(pk_len, want.n);
            assert_memory_equal(pk, want.b, want.n);
            assert_int_equal(s_score(&v), model[r][next_k]);
            assert_true(v.seq <= as_of);
            next_k++;
            rows++;
        }
        assert_int_equal(rc, 0);
        while (next_k < KEYS && model[r][next_k] == -2)
            next_k++;
        assert_int_equal(next_k, KEYS);
        /* cost: a bounded number of cursor operations per key seen (at most 16 steps over newer versions, one
         * seek, 16 steps to the next key), whatever the later versions (300 of key 1000) */
        assert_true(drift_index_scan_steps(it) <= (uint64_t)(KEYS + 2) * 35);
        drift_index_scan_close(&it);
    }
    /* a bounded range [5, 10) as of the last round, and the present through `current` */
    pkey_t lo = s_key(5), hi = s_key(10);
    for (int pass = 0; pass < 2; pass++) {
        drift_index_scan_t *it;
        uint64_t as_of = pass ? UINT64_MAX : base + ROUNDS;
        assert_int_equal(drift_index_scan_open(rd, T, lo.b, lo.n, hi.b, hi.n, as_of, &it), 0);
        const uint8_t *pk;
        size_t pk_len;
        drift_index_ver_t v;
        int n = 0, want = 0;
        while (drift_index_scan_next(it, &pk, &pk_len, &v) == 1)
            n++;
        for (int k = 5; k < 10; k++)
            want += model[ROUNDS][k] != -2;
        assert_int_equal(n, want);
        drift_index_scan_close(&it);
    }
    assert_int_equal(s_get(rd, 1000, base + ROUNDS + 1), 0);
    assert_int_equal(s_get(rd, 1000, base + ROUNDS + 150), 149);
    drift_index_rd_end(&rd);
}

/* Pks found by an equality lookup on the score index as of seq, as a bit set over ids < 64. */
static uint64_t s_lookup(drift_index_rd_t *rd, uint32_t index_id, int64_t score, uint64_t as_of)
{
    drift_keybuf_t lo = {0}, hi = {0};
    drift_keyenc_int(&lo, score);
    drift_keybuf_raw(&hi, lo.buf, lo.len);
    uint8_t ff = 0xFF;
    drift_keybuf_raw(&hi, &ff, 1);
    drift_index_iscan_t *it;
    assert_int_equal(drift_index_iscan_open(rd, index_id, lo.buf, lo.len, hi.buf, hi.len, as_of, &it), 0);
    uint64_t set = 0;
    const uint8_t *pk, *vals;
    size_t pl, vl;
    uint64_t from, to;
    int trunc, rc;
    while ((rc = drift_index_iscan_next(it, &pk, &pl, &vals, &vl, &from, &to, &trunc)) == 1) {
        const uint8_t *p = pk;
        size_t avail = pl;
        drift_keyval_t kv;
        uint8_t scratch[8];
        assert_int_equal(drift_keyenc_decode(&p, &avail, &kv, scratch, sizeof scratch), 0);
        assert_true(from <= as_of && (to > as_of || to == DRIFT_INDEX_SEQ_LIVE));
        assert_int_equal(trunc, 0);
        set |= 1ull << kv.i;
    }
    assert_int_equal(rc, 0);
    drift_index_iscan_close(&it);
    drift_keybuf_free(&lo);
    drift_keybuf_free(&hi);
    return set;
}

static void t_secondary(void **state)
{
    ctx_t *c = *state;
    s_op_ddl(c, "create_table", 1, "people", 1, 0);
    s_commit(c);
    s_op_row(c, DRIFT_COP_INSERT, 1, "a", 10);
    s_op_row(c, DRIFT_COP_INSERT, 2, "b", 20);
    uint64_t s2 = s_commit(c);
    s_op_row(c, DRIFT_COP_UPDATE, 1, "a2", 20); /* value change */
    uint64_t s3 = s_commit(c);
    s_op(c, DRIFT_COP_DELETE, T, 2, NULL, 0); /* delete */
    uint64_t s4 = s_commit(c);
    s_op_row(c, DRIFT_COP_INSERT, 2, "b", 10);  /* re-insert */
    s_op_row(c, DRIFT_COP_UPDATE, 1, "a3", 20); /* no change of the indexed value */
    uint64_t s5 = s_commit(c);
    s_op_patch(c, 1, 30);
    s_op_row(c, DRIFT_COP_INSERT, 3, "c", -1); /* NULL score */
    uint64_t s6 = s_commit(c);
    s_op_row(c, DRIFT_COP_UPDATE, 3, "c", 30);
    s_op_row(c, DRIFT_COP_UPDATE, 3, "c", 31); /* two changes in one transaction: the last wins */
    uint64_t s7 = s_commit(c);
    s_index(c);
    /* the same index created later over the whole history (id 100 dropped, then back under a new def) */
    s_op_ddl(c, "drop_index", 2, "people", 0, 0);
    s_commit(c);
    s_op_ddl(c, "create_index", 3, "people", 1, 0);
    uint64_t s9 = s_commit(c);
    for (int pass = 0; pass < 2; pass++) {
        drift_index_rd_t *rd;
        assert_int_equal(drift_index_rd_begin(c->ix, &rd), 0);
        assert_int_equal(s_lookup(rd, 100, 10, s2), 1u << 1);
        assert_int_equal(s_lookup(rd, 100, 20, s2), 1u << 2);
        assert_int_equal(s_lookup(rd, 100, 10, s3), 0);
        assert_int_equal(s_lookup(rd, 100, 20, s3), (1u << 1) | (1u << 2));
        assert_int_equal(s_lookup(rd, 100, 20, s4), 1u << 1);
        assert_int_equal(s_lookup(rd, 100, 10, s5), 1u << 2);
        assert_int_equal(s_lookup(rd, 100, 20, s5), 1u << 1);
        assert_int_equal(s_lookup(rd, 100, 20, s6), 0);
        assert_int_equal(s_lookup(rd, 100, 30, s6), 1u << 1);
        assert_int_equal(s_lookup(rd, 100, 30, s7), 1u << 1);
        assert_int_equal(s_lookup(rd, 100, 31, s7), 1u << 3);
        assert_int_equal(s_lookup(rd, 100, 31, UINT64_MAX), 1u << 3);
        /* NULL is indexed too (NULL sorts first) */
        drift_keybuf_t nul = {0};
        drift_keyenc_null(&nul);
        drift_index_iscan_t *it;
        assert_int_equal(drift_index_iscan_open(rd, 100, nul.buf, nul.len, NULL, 0, s6, &it), 0);
        const uint8_t *pk, *vals;
        size_t pl, vl;
        uint64_t from, to;
        int trunc;
        assert_int_equal(drift_index_iscan_next(it, &pk, &pl, &vals, &vl, &from, &to, &trunc), 1);
        assert_int_equal(vl, 1);
        assert_int_equal(vals[0], DRIFT_KEYENC_NULL);
        assert_int_equal(from, s6);
        assert_int_equal(to, s7);
        drift_index_iscan_close(&it);
        drift_keybuf_free(&nul);
        drift_index_rd_end(&rd);
        if (pass == 0)
            s_index(c); /* now with the index rebuilt from history at s9 */
    }
    (void)s9;
}

static void t_unique(void **state)
{
    ctx_t *c = *state;
    s_op_ddl(c, "create_table", 1, "people", 0, 1);
    s_commit(c);
    s_op_row(c, DRIFT_COP_INSERT, 1, "ann", 1);
    s_op_row(c, DRIFT_COP_INSERT, 2, "bob", 2);
    s_commit(c);
    s_op(c, DRIFT_COP_DELETE, T, 2, NULL, 0);
    s_commit(c);
    s_index(c);
    drift_index_rd_t *rd;
    assert_int_equal(drift_index_rd_begin(c->ix, &rd), 0);
    drift_keybuf_t v = {0};
    drift_keyenc_text(&v, "ann", 3);
    pkey_t k1 = s_key(1), k3 = s_key(3), k2 = s_key(2);
    const uint8_t *holder;
    size_t hl;
    assert_int_equal(drift_index_unique_holder(rd, 101, v.buf, v.len, k3.b, k3.n, &holder, &hl), 1);
    assert_int_equal(hl, k1.n);
    assert_memory_equal(holder, k1.b, hl);
    /* the holder itself is no conflict; a deleted row's value is free */
    assert_int_equal(drift_index_unique_holder(rd, 101, v.buf, v.len, k1.b, k1.n, &holder, &hl), 0);
    drift_keybuf_reset(&v);
    drift_keyenc_text(&v, "bob", 3);
    assert_int_equal(drift_index_unique_holder(rd, 101, v.buf, v.len, k3.b, k3.n, &holder, &hl), 0);
    drift_keybuf_reset(&v);
    drift_keyenc_text(&v, "an", 2); /* a prefix is not the value */
    assert_int_equal(drift_index_unique_holder(rd, 101, v.buf, v.len, k3.b, k3.n, &holder, &hl), 0);
    (void)k2;
    drift_keybuf_free(&v);
    drift_index_rd_end(&rd);
}

static void s_diff(const char *db, const char *what, void *arg)
{
    (void)db;
    (void)what;
    (*(int *)arg)++;
}

/* A batch aborted midway (what a crash leaves: LMDB keeps the last committed batch) then resumed,
 * equals a rebuild; a damaged index does not. */
static void t_crash_resume_rebuild(void **state)
{
    ctx_t *c = *state;
    s_op_ddl(c, "create_table", 1, "people", 1, 1);
    s_commit(c);
    for (int i = 0; i < 200; i++) {
        s_op_row(c, i % 3 ? DRIFT_COP_UPDATE : DRIFT_COP_INSERT, i % 17, i % 2 ? "odd" : "even", i % 5);
        if (i % 7 == 0)
            s_op(c, DRIFT_COP_DELETE, T, (i + 3) % 17, NULL, 0);
        s_commit(c);
        if (i == 100)
            s_index(c);
    }
    /* a batch that dies halfway */
    drift_frame_t f;
    drift_logr_pos_t pos;
    uint64_t applied;
    drift_index_applied(c->ix, &applied, NULL);
    assert_int_equal(applied, 102);
    assert_int_equal(drift_logr_seek(c->lr, applied + 1), 0);
    assert_int_equal(drift_index_begin(c->ix), 0);
    for (int i = 0; i < 50; i++) {
        assert_int_equal(drift_logr_next(c->lr, &f, &pos), 1);
        assert_int_equal(drift_index_apply(c->ix, &f, pos), 0);
    }
    drift_index_close(&c->ix); /* no commit */
    drift_index_opts_t o = {.map_size = 64u << 20};
    assert_int_equal(drift_index_open(c->idx_dir, c->fx.dir, NULL, &o, &c->ix), 0);
    drift_index_applied(c->ix, &applied, NULL);
    assert_int_equal(applied, 102);
    /* out of sequence is refused */
    assert_int_equal(drift_logr_seek(c->lr, 110), 0);
    assert_int_equal(drift_logr_next(c->lr, &f, &pos), 1);
    assert_int_equal(drift_index_begin(c->ix), 0);
    assert_int_equal(drift_index_apply(c->ix, &f, pos), DRIFT_ECHAIN);
    drift_index_abort(c->ix);
    s_index(c);
    drift_index_applied(c->ix, &applied, NULL);
    assert_int_equal(applied, 201);

    char dir[500], err[256];
    snprintf(dir, sizeof dir, "%s/rebuilt", c->fx.root);
    assert_int_equal(drift_index_rebuild(dir, c->fx.dir, 0, 64u << 20, NULL, NULL, err, sizeof err), 0);
    drift_index_t *b;
    drift_index_opts_t ro = {.readonly = 1};
    assert_int_equal(drift_index_open(dir, c->fx.dir, NULL, &ro, &b), 0);
    drift_index_applied(b, &applied, NULL);
    assert_int_equal(applied, 201);
    int n = 0;
    assert_int_equal(drift_index_compare(c->ix, b, s_diff, &n), 0);
    assert_int_equal(n, 0);
    /* a rebuild into an existing index is refused */
    assert_int_equal(drift_index_rebuild(dir, c->fx.dir, 0, 64u << 20, NULL, NULL, err, sizeof err), -EEXIST);
    drift_index_close(&b);

    /* one more commit applied to only one side: refused as not comparable, then equal once caught up */
    s_op_row(c, DRIFT_COP_UPDATE, 1, "changed", 99);
    s_commit(c);
    s_index(c);
    assert_int_equal(drift_index_open(dir, c->fx.dir, NULL, &ro, &b), 0);
    assert_int_equal(drift_index_compare(c->ix, b, s_diff, &n), -EAGAIN);
    drift_index_close(&b);
    assert_int_equal(drift_index_build(dir, c->fx.dir, 202, 64u << 20, NULL, NULL, err, sizeof err), 0);
    /* a damaged entry (an extra key written behind the index's back) is reported */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 8);
    assert_int_equal(mdb_env_open(env, dir, 0, 0644), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "current", 0, &dbi), 0);
    MDB_val k = {5, "junk!"}, v = {3, "xyz"};
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    assert_int_equal(drift_index_open(dir, c->fx.dir, NULL, &ro, &b), 0);
    n = 0;
    assert_int_equal(drift_index_compare(c->ix, b, s_diff, &n), 1);
    assert_int_equal(n, 1);
    drift_index_close(&b);
}

/* The `versions` sub-database opened with LMDB directly (the index is closed meanwhile, so that one process
 * never has the environment open twice), a cursor on key id's newest chunk (k, v; rc = the seek's result). */
typedef struct {
    MDB_env *env;
    MDB_txn *txn;
    MDB_cursor *cur;
    uint8_t key[64];
    size_t plen; /* table|pk bytes of key */
    MDB_val k, v;
    int rc;
} raw_t;

static void s_raw_open(ctx_t *c, int64_t id, unsigned flags, raw_t *r)
{
    drift_index_close(&c->ix);
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&r->env), 0);
    mdb_env_set_maxdbs(r->env, 8);
    assert_int_equal(mdb_env_open(r->env, c->idx_dir, flags, 0644), 0);
    assert_int_equal(mdb_txn_begin(r->env, NULL, flags, &r->txn), 0);
    assert_int_equal(mdb_dbi_open(r->txn, "versions", 0, &dbi), 0);
    assert_int_equal(mdb_cursor_open(r->txn, dbi, &r->cur), 0);
    pkey_t pk = s_key(id);
    memset(r->key, 0, sizeof r->key);
    r->key[3] = T;
    memcpy(r->key + 4, pk.b, pk.n);
    r->plen = 4 + pk.n;
    r->k = (MDB_val){r->plen + 8, r->key};
    r->rc = mdb_cursor_get(r->cur, &r->k, &r->v, MDB_SET_RANGE);
}

/* 1 while the cursor is on one of the key's chunks. */
static int s_raw_on_key(const raw_t *r)
{
    return r->rc == 0 && r->k.mv_size == r->plen + 8 && memcmp(r->k.mv_data, r->key, r->plen) == 0;
}

/* Ends the raw access (committing it when commit) and opens the index again. */
static void s_raw_close(ctx_t *c, raw_t *r, int commit)
{
    mdb_cursor_close(r->cur);
    if (commit)
        assert_int_equal(mdb_txn_commit(r->txn), 0);
    else
        mdb_txn_abort(r->txn);
    mdb_env_close(r->env);
    drift_index_opts_t o = {.map_size = 64u << 20};
    assert_int_equal(drift_index_open(c->idx_dir, c->fx.dir, NULL, &o, &c->ix), 0);
}

/* The first seqs of the `versions` chunks of key id, ascending (read with LMDB directly). Returns how many. */
static int s_chunk_firsts(ctx_t *c, int64_t id, uint64_t *firsts, int cap)
{
    raw_t r;
    s_raw_open(c, id, MDB_RDONLY, &r);
    int n = 0;
    uint64_t rev[256];
    for (; s_raw_on_key(&r); r.rc = mdb_cursor_get(r.cur, &r.k, &r.v, MDB_NEXT)) {
        const uint8_t *q = (const uint8_t *)r.k.mv_data + r.plen;
        uint64_t s = 0;
        for (int i = 0; i < 8; i++)
            s = s << 8 | q[i];
        assert_true(n < 256);
        rev[n++] = ~s;
        assert_true(r.v.mv_size <= DRIFT_INDEX_CHUNK_BYTES || ((const uint8_t *)r.v.mv_data)[0] == 1); /* or 1 version */
    }
    assert_true(n <= cap);
    for (int i = 0; i < n; i++)
        firsts[i] = rev[n - 1 - i];
    s_raw_close(c, &r, 0);
    return n;
}

/* get(id) as of seq: the seq of the visible version, 0 when none. */
static uint64_t s_get_seq(drift_index_rd_t *rd, int64_t id, uint64_t as_of)
{
    pkey_t k = s_key(id);
    drift_index_ver_t v;
    int rc = drift_index_get(rd, T, k.b, k.n, as_of, &v);
    if (rc == DRIFT_ENOTFOUND)
        return 0;
    assert_int_equal(rc, 0);
    return v.seq;
}

/* Whether a scan as of seq returns key id. */
static int s_scan_has(drift_index_rd_t *rd, int64_t id, uint64_t as_of)
{
    drift_index_scan_t *it;
    assert_int_equal(drift_index_scan_open(rd, T, NULL, 0, NULL, 0, as_of, &it), 0);
    const uint8_t *pk;
    size_t pk_len;
    drift_index_ver_t v;
    pkey_t want = s_key(id);
    int found = 0, rc;
    while ((rc = drift_index_scan_next(it, &pk, &pk_len, &v)) == 1)
        if (pk_len == want.n && memcmp(pk, want.b, want.n) == 0) {
            found = 1;
            assert_true(v.seq <= as_of);
        }
    assert_int_equal(rc, 0);
    drift_index_scan_close(&it);
    return found;
}

/* Chunk boundaries of `versions` (format 2): exactly DRIFT_INDEX_CHUNK_VERS versions in one chunk and the
 * next one starting a new chunk, the byte limit, a version too big for a chunk, a delete and re-insert across
 * a boundary, as-of reads exactly at a chunk's first seq and one before it, history across several chunks,
 * and the same chunks whether the log is indexed in several batches or rebuilt in one. */
static void t_chunks(void **state)
{
    ctx_t *c = *state;
    const char *tiny = "\x91\x01"; /* [1]: the two other columns NULL; 18-byte records, 32 fit in 1 KiB */
    enum { C = DRIFT_INDEX_CHUNK_VERS };
    uint64_t f[64], s1[C + 2], s3[C + 2], s4[C + 2];
    s_op_ddl(c, "create_table", 1, "people", 1, 0);
    s_commit(c);
    /* key 1: exactly C versions fill one chunk; the (C+1)th starts the next */
    for (int i = 0; i < C; i++) {
        s_op(c, i ? DRIFT_COP_UPDATE : DRIFT_COP_INSERT, T, 1, tiny, 2);
        s1[i] = s_commit(c);
    }
    s_index(c);
    assert_int_equal(s_chunk_firsts(c, 1, f, 64), 1);
    assert_int_equal(f[0], s1[0]);
    s_op(c, DRIFT_COP_UPDATE, T, 1, tiny, 2);
    s1[C] = s_commit(c);
    s_index(c); /* a second batch appends to what the first wrote */
    assert_int_equal(s_chunk_firsts(c, 1, f, 64), 2);
    assert_int_equal(f[1], s1[C]);

    /* key 3: C versions, then a delete (first of chunk 2), then a re-insert */
    for (int i = 0; i < C; i++) {
        s_op(c, i ? DRIFT_COP_UPDATE : DRIFT_COP_INSERT, T, 3, tiny, 2);
        s3[i] = s_commit(c);
        s_op(c, DRIFT_COP_UPDATE, T, 1, tiny, 2); /* other keys' versions in between: seqs have gaps */
        s_commit(c);
    }
    s_op(c, DRIFT_COP_DELETE, T, 3, NULL, 0);
    s3[C] = s_commit(c);
    s_op(c, DRIFT_COP_INSERT, T, 3, tiny, 2);
    s3[C + 1] = s_commit(c);
    /* key 4: the delete is the last version of chunk 1, the re-insert the first of chunk 2 */
    for (int i = 0; i < C - 1; i++) {
        s_op(c, i ? DRIFT_COP_UPDATE : DRIFT_COP_INSERT, T, 4, tiny, 2);
        s4[i] = s_commit(c);
    }
    s_op(c, DRIFT_COP_DELETE, T, 4, NULL, 0);
    s4[C - 1] = s_commit(c);
    s_op_row(c, DRIFT_COP_UPDATE, 2, "filler", 1); /* (a missing row: skipped; the seq still passes) */
    s_commit(c);
    s_op(c, DRIFT_COP_INSERT, T, 4, tiny, 2);
    s4[C] = s_commit(c);

    /* key 5: 100 versions with a filler commit between two: several chunks by the byte limit, and the
     * seq just before a chunk's first belongs to no version of key 5 */
    uint64_t s5[100];
    for (int i = 0; i < 100; i++) {
        s_op_row(c, i ? DRIFT_COP_UPDATE : DRIFT_COP_INSERT, 5, "name of five", i);
        s5[i] = s_commit(c);
        s_op_row(c, i ? DRIFT_COP_UPDATE : DRIFT_COP_INSERT, 6, "six", i);
        s_commit(c);
    }
    /* key 7: a small version, a patch whose merged row is bigger than a chunk, then a small one */
    s_op_row(c, DRIFT_COP_INSERT, 7, "seven", 1);
    uint64_t s7a = s_commit(c);
    char big[1500];
    memset(big, 'b', sizeof big - 1);
    big[sizeof big - 1] = 0;
    {
        msgpack_sbuffer sb;
        msgpack_packer p;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&p, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&p, 1);
        msgpack_pack_str_with_body(&p, "name", 4);
        msgpack_pack_str_with_body(&p, big, sizeof big - 1);
        s_op(c, DRIFT_COP_PATCH, T, 7, sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
    }
    uint64_t s7b = s_commit(c);
    s_op_row(c, DRIFT_COP_UPDATE, 7, "seven", 3);
    uint64_t s7c = s_commit(c);
    s_op_row(c, DRIFT_COP_UPDATE, 7, "seven", 4);
    uint64_t s7d = s_commit(c);
    s_index(c);

    /* the layout */
    int n3 = s_chunk_firsts(c, 3, f, 64);
    assert_int_equal(n3, 2);
    assert_int_equal(f[0], s3[0]);
    assert_int_equal(f[1], s3[C]);
    assert_int_equal(s_chunk_firsts(c, 4, f, 64), 2);
    assert_int_equal(f[1], s4[C]);
    uint64_t f5[64];
    int n5 = s_chunk_firsts(c, 5, f5, 64);
    assert_true(n5 >= 3);
    assert_int_equal(f5[0], s5[0]);
    assert_int_equal(s_chunk_firsts(c, 7, f, 64), 3);
    assert_int_equal(f[0], s7a);
    assert_int_equal(f[1], s7b); /* the big version alone */
    assert_int_equal(f[2], s7c);

    drift_index_rd_t *rd;
    assert_int_equal(drift_index_rd_begin(c->ix, &rd), 0);
    /* key 1: at the first seq of chunk 2 and one before */
    assert_int_equal(s_get_seq(rd, 1, s1[C]), s1[C]);
    assert_int_equal(s_get_seq(rd, 1, s1[C] - 1), s1[C - 1]);
    assert_int_equal(s_get_seq(rd, 1, s1[0]), s1[0]);
    assert_int_equal(s_get_seq(rd, 1, s1[0] - 1), 0);
    /* key 3: the delete starts chunk 2 */
    assert_int_equal(s_get_seq(rd, 3, s3[C] - 1), s3[C - 1]);
    assert_int_equal(s_get_seq(rd, 3, s3[C]), 0);
    assert_int_equal(s_get_seq(rd, 3, s3[C + 1] - 1), 0);
    assert_int_equal(s_get_seq(rd, 3, s3[C + 1]), s3[C + 1]);
    assert_int_equal(s_get_seq(rd, 3, UINT64_MAX), s3[C + 1]);
    assert_true(s_scan_has(rd, 3, s3[C] - 1));
    assert_false(s_scan_has(rd, 3, s3[C]));
    assert_true(s_scan_has(rd, 3, s3[C + 1]));
    /* key 4: the delete ends chunk 1 */
    assert_int_equal(s_get_seq(rd, 4, s4[C - 1] - 1), s4[C - 2]);
    assert_int_equal(s_get_seq(rd, 4, s4[C - 1]), 0);
    assert_int_equal(s_get_seq(rd, 4, s4[C] - 1), 0);
    assert_int_equal(s_get_seq(rd, 4, s4[C]), s4[C]);
    assert_false(s_scan_has(rd, 4, s4[C] - 1));
    assert_true(s_scan_has(rd, 4, s4[C]));
    /* key 5: every seq of its life, chunk boundaries included */
    for (uint64_t s = s5[0] - 1; s <= s5[99] + 1; s++) {
        int64_t want = -2;
        for (int i = 0; i < 100 && s5[i] <= s; i++)
            want = i;
        assert_int_equal(s_get(rd, 5, s), want);
    }
    for (int j = 1; j < n5; j++) {
        assert_int_equal(s_get_seq(rd, 5, f5[j]), f5[j]);
        assert_int_equal(s_get_seq(rd, 5, f5[j] - 1), f5[j] - 2); /* the previous chunk's last */
        assert_true(s_scan_has(rd, 5, f5[j] - 1));
    }
    /* key 5: history across the chunks, oldest first, each version ending at the next */
    drift_index_ver_t h[128];
    memset(h, 0, sizeof h);
    pkey_t k5 = s_key(5);
    assert_int_equal(drift_index_history(rd, T, k5.b, k5.n, s_collect, h), 0);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(h[i].seq, s5[i]);
        assert_int_equal(h[i].end_seq, i < 99 ? s5[i + 1] : DRIFT_INDEX_SEQ_LIVE);
    }
    assert_int_equal(h[100].seq, 0);
    /* key 3: history over the delete at the boundary */
    memset(h, 0, sizeof h);
    pkey_t k3 = s_key(3);
    assert_int_equal(drift_index_history(rd, T, k3.b, k3.n, s_collect, h), 0);
    assert_int_equal(h[C - 1].seq, s3[C - 1]);
    assert_int_equal(h[C - 1].end_seq, s3[C]);
    assert_int_equal(h[C].op, DRIFT_COP_DELETE);
    assert_int_equal(h[C].end_seq, s3[C]);
    assert_int_equal(h[C + 1].seq, s3[C + 1]);
    assert_int_equal(h[C + 2].seq, 0);
    /* the versions scan (SQL history relations) over keys 5..6: every version, in (pk, seq) order */
    pkey_t lo = s_key(5), hi = s_key(7);
    drift_index_vscan_t *vs;
    assert_int_equal(drift_index_vscan_open(rd, T, lo.b, lo.n, hi.b, hi.n, &vs), 0);
    const uint8_t *pk;
    size_t pk_len;
    drift_index_ver_t v;
    int nv = 0;
    while (drift_index_vscan_next(vs, &pk, &pk_len, &v) == 1) {
        if (nv < 100) {
            assert_int_equal(v.seq, s5[nv]);
            assert_int_equal(v.end_seq, nv < 99 ? s5[nv + 1] : DRIFT_INDEX_SEQ_LIVE);
            assert_int_equal(s_score(&v), nv);
        } else
            assert_int_equal(s_score(&v), nv - 100);
        nv++;
    }
    assert_int_equal(nv, 200);
    drift_index_vscan_close(&vs);
    /* key 7: the big version alone in its chunk, its neighbours around it */
    assert_int_equal(s_get(rd, 7, s7b - 1), 1);
    pkey_t k7 = s_key(7);
    assert_int_equal(drift_index_get(rd, T, k7.b, k7.n, s7b, &v), 0);
    assert_int_equal(v.seq, s7b);
    assert_non_null(memmem(v.row, v.row_len, big, sizeof big - 1));
    assert_int_equal(s_get(rd, 7, s7c - 1), 1);
    assert_int_equal(s_get(rd, 7, s7c), 3);
    assert_int_equal(s_get(rd, 7, s7d), 4);
    /* the secondary index (on score) built from the chunks equals the one maintained version by version */
    uint8_t vk[16];
    drift_keybuf_t kb = {.buf = NULL};
    drift_keyenc_int(&kb, 50);
    memcpy(vk, kb.buf, kb.len);
    size_t vkn = kb.len;
    drift_keybuf_free(&kb);
    drift_index_iscan_t *is;
    assert_int_equal(drift_index_iscan_open(rd, 100, vk, vkn, NULL, 0, s5[50], &is), 0);
    const uint8_t *vals;
    size_t vals_len;
    uint64_t from, to;
    int trunc, hits = 0;
    while (drift_index_iscan_next(is, &pk, &pk_len, &vals, &vals_len, &from, &to, &trunc) == 1)
        hits++;
    drift_index_iscan_close(&is);
    assert_true(hits >= 1);
    /* the newest write of a key, deletes included (the writer's key lookups) */
    uint64_t lw;
    int lop;
    assert_int_equal(drift_index_last_write(rd, T, k3.b, k3.n, &lw, &lop), 0);
    assert_int_equal(lw, s3[C + 1]);
    assert_int_equal(lop, DRIFT_COP_INSERT);
    pkey_t k4 = s_key(4);
    assert_int_equal(drift_index_last_write(rd, T, k4.b, k4.n, &lw, &lop), 0);
    assert_int_equal(lw, s4[C]);
    assert_int_equal(drift_index_last_write(rd, T, k7.b, k7.n, &lw, &lop), 0);
    assert_int_equal(lw, s7d);
    assert_int_equal(lop, DRIFT_COP_UPDATE);
    assert_int_equal(drift_index_last_write(rd, T, k5.b, k5.n, &lw, &lop), 0);
    assert_int_equal(lw, s5[99]);
    pkey_t k99 = s_key(99);
    assert_int_equal(drift_index_last_write(rd, T, k99.b, k99.n, &lw, &lop), DRIFT_ENOTFOUND);
    assert_int_equal(drift_index_last_write(rd, T + 1, k3.b, k3.n, &lw, &lop), DRIFT_ENOTFOUND);
    drift_index_rd_end(&rd);
    /* indexed in several batches = rebuilt in one (same chunk boundaries, byte for byte) */
    char dir[500], err[256];
    snprintf(dir, sizeof dir, "%s/rebuilt", c->fx.root);
    assert_int_equal(drift_index_rebuild(dir, c->fx.dir, 0, 64u << 20, NULL, NULL, err, sizeof err), 0);
    drift_index_t *b;
    drift_index_opts_t ro = {.readonly = 1};
    assert_int_equal(drift_index_open(dir, c->fx.dir, NULL, &ro, &b), 0);
    int nd = 0;
    assert_int_equal(drift_index_compare(c->ix, b, s_diff, &nd), 0);
    drift_index_close(&b);
}

/* One expected version of a key (t_delta_rows' model). */
typedef struct {
    uint64_t seq;
    int op;
    uint32_t schema_ver;
    uint8_t row[2048];
    size_t row_len;
} mver_t;


/* history callback: copies every version with its row bytes into an mver_t array (seq 0 ends it). */
static int s_collect_rows(const drift_index_ver_t *v, void *arg)
{
    mver_t *out = arg;
    int i = 0;
    while (out[i].seq)
        i++;
    out[i].seq = v->seq;
    out[i].op = v->op;
    out[i].schema_ver = v->schema_ver;
    assert_true(v->row_len <= sizeof out[i].row);
    out[i].row_len = v->row ? v->row_len : 0;
    if (v->row)
        memcpy(out[i].row, v->row, v->row_len);
    assert_true(v->op == DRIFT_COP_DELETE ? v->row == NULL : v->row != NULL);
    return 0;
}

/* Format 3 row deltas (each version's row stored against the chunk's previous inline row): rows that share
 * nothing, an equal row, a row grown and shrunk, a delete then the same row again, schema version changes,
 * patch-merged rows (one larger than a chunk), rows kept in the log between inline ones, two ops of one key in
 * one frame; every version read back byte for byte by get (at every seq), history and the versions scan, the
 * secondary index built over these chunks, and batches = rebuild. */
static void t_delta_rows(void **state)
{
    ctx_t *c = *state;
    static mver_t m[64], h[64];
    int nm = 0;
    char big[400], huge[1500];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = 0;
    memset(huge, 'h', sizeof huge - 1);
    huge[sizeof huge - 1] = 0;
    s_op_ddl(c, "create_table", 1, "people", 0, 0);
    uint64_t s0 = s_commit(c);
#define ROW(op_, name_, score_, ver_)                                                                              \
    do {                                                                                                           \
        mver_t *w = &m[nm++];                                                                                      \
        w->op = (op_);                                                                                             \
        w->schema_ver = (ver_);                                                                                    \
        w->row_len = s_pack_row(w->row, sizeof w->row, 1, (name_), (score_));                                      \
        s_op(c, (op_), T, 1, w->row, w->row_len);                                                                  \
        w->seq = s_commit(c);                                                                                      \
    } while (0)
    ROW(DRIFT_COP_INSERT, "alpha", 1, 1);
    ROW(DRIFT_COP_UPDATE, "alpha", 1, 1); /* equal to the previous */
    {                                     /* shares nothing with the previous: [127] */
        mver_t *w = &m[nm++];
        *w = (mver_t){.op = DRIFT_COP_UPDATE, .schema_ver = 1, .row = {0x91, 0x7f}, .row_len = 2};
        s_op(c, DRIFT_COP_UPDATE, T, 1, w->row, w->row_len);
        w->seq = s_commit(c);
    }
    ROW(DRIFT_COP_UPDATE, "alpha-grown-a-lot-longer-than-before", 5, 1);
    ROW(DRIFT_COP_UPDATE, "al", 5, 1); /* shrunk */
    s_index(c);                        /* a batch boundary inside the chunk */
    m[nm++] = (mver_t){.op = DRIFT_COP_DELETE, .schema_ver = 1};
    s_op(c, DRIFT_COP_DELETE, T, 1, NULL, 0);
    m[nm - 1].seq = s_commit(c);
    ROW(DRIFT_COP_INSERT, "al", 5, 1); /* the row before the delete again */
    s_op_ddl(c, "create_index", 2, "people", 1, 0); /* schema version 2 (the score index, built over the chunks) */
    s_commit(c);
    ROW(DRIFT_COP_UPDATE, "al", 6, 2);
    ROW(DRIFT_COP_UPDATE, "al", 7, 2);
    { /* a patch: its merged row is stored inline */
        mver_t *w = &m[nm++];
        *w = m[nm - 2];
        w->op = DRIFT_COP_PATCH;
        w->row_len = s_pack_row(w->row, sizeof w->row, 1, "al", 8);
        s_op_patch(c, 1, 8);
        w->seq = s_commit(c);
    }
    ROW(DRIFT_COP_UPDATE, big, 9, 2);       /* > DRIFT_INDEX_INLINE_MAX: kept in the log */
    ROW(DRIFT_COP_UPDATE, "al", 10, 2);     /* inline again: its base is the last inline row ("al", 8) */
    ROW(DRIFT_COP_UPDATE, big, 11, 2);      /* log */
    ROW(DRIFT_COP_UPDATE, "beta", 12, 2);
    s_op_ddl(c, "create_index", 3, "people", 1, 1); /* schema version 3 (the unique name index, built too) */
    s_commit(c);
    ROW(DRIFT_COP_UPDATE, "beta", 12, 3); /* same bytes, another schema version */
    { /* two ops on the key in one frame: the second replaces the first */
        mver_t *w = &m[nm++];
        uint8_t first[64];
        size_t fl = s_pack_row(first, sizeof first, 1, "replaced", 13);
        s_op(c, DRIFT_COP_UPDATE, T, 1, first, fl);
        *w = (mver_t){.op = DRIFT_COP_UPDATE, .schema_ver = 3};
        w->row_len = s_pack_row(w->row, sizeof w->row, 1, "gamma", 14);
        s_op(c, DRIFT_COP_UPDATE, T, 1, w->row, w->row_len);
        w->seq = s_commit(c);
    }
    { /* a patch merged into a row larger than a chunk (inline, alone in its chunk), then a small one */
        ROW(DRIFT_COP_UPDATE, "gamma", 15, 3);
        msgpack_sbuffer sb;
        msgpack_packer p;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&p, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&p, 1);
        msgpack_pack_str_with_body(&p, "name", 4);
        msgpack_pack_str_with_body(&p, huge, sizeof huge - 1);
        s_op(c, DRIFT_COP_PATCH, T, 1, sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
        mver_t *hw = &m[nm++];
        *hw = (mver_t){.op = DRIFT_COP_PATCH, .schema_ver = 3};
        hw->row_len = s_pack_row(hw->row, sizeof hw->row, 1, huge, 15);
        hw->seq = s_commit(c);
        ROW(DRIFT_COP_UPDATE, "gamma", 16, 3);
    }
    for (int i = 0; i < 40; i++) /* past DRIFT_INDEX_CHUNK_VERS: more chunks */
        ROW(DRIFT_COP_UPDATE, i % 3 ? "delta" : "epsilon", 100 + i, 3);
#undef ROW
    s_index(c);
    assert_true(s_chunk_firsts(c, 1, (uint64_t[64]){0}, 64) >= 3);

    drift_index_rd_t *rd;
    assert_int_equal(drift_index_rd_begin(c->ix, &rd), 0);
    pkey_t k1 = s_key(1);
    /* get at every seq: the newest version at or before it, byte for byte */
    for (uint64_t s = s0; s <= m[nm - 1].seq; s++) {
        int want = -1;
        for (int i = 0; i < nm && m[i].seq <= s; i++)
            want = i;
        drift_index_ver_t v;
        int rc = drift_index_get(rd, T, k1.b, k1.n, s, &v);
        if (want < 0 || m[want].op == DRIFT_COP_DELETE) {
            assert_int_equal(rc, DRIFT_ENOTFOUND);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_int_equal(v.seq, m[want].seq);
        assert_int_equal(v.op, m[want].op);
        assert_int_equal(v.schema_ver, m[want].schema_ver);
        assert_int_equal(v.ts_ns, 1000 + m[want].seq); /* the fixture's ts */
        assert_int_equal(v.row_len, m[want].row_len);
        assert_memory_equal(v.row, m[want].row, v.row_len);
    }
    /* history: every version, oldest first, exact bytes */
    memset(h, 0, sizeof h);
    assert_int_equal(drift_index_history(rd, T, k1.b, k1.n, s_collect_rows, h), 0);
    for (int i = 0; i < nm; i++) {
        assert_int_equal(h[i].seq, m[i].seq);
        assert_int_equal(h[i].op, m[i].op);
        assert_int_equal(h[i].schema_ver, m[i].schema_ver);
        assert_int_equal(h[i].row_len, m[i].row_len);
        assert_memory_equal(h[i].row, m[i].row, m[i].row_len);
    }
    assert_int_equal(h[nm].seq, 0);
    /* the versions scan: the same, with end seqs */
    drift_index_vscan_t *vs;
    assert_int_equal(drift_index_vscan_open(rd, T, NULL, 0, NULL, 0, &vs), 0);
    const uint8_t *pk;
    size_t pk_len;
    drift_index_ver_t v;
    int nv = 0;
    while (drift_index_vscan_next(vs, &pk, &pk_len, &v) == 1) {
        assert_true(nv < nm);
        assert_int_equal(v.seq, m[nv].seq);
        assert_int_equal(v.op, m[nv].op);
        assert_int_equal(v.schema_ver, m[nv].schema_ver);
        assert_int_equal(v.end_seq, m[nv].op == DRIFT_COP_DELETE ? m[nv].seq
                                    : nv + 1 < nm              ? m[nv + 1].seq
                                                               : DRIFT_INDEX_SEQ_LIVE);
        assert_int_equal(v.op == DRIFT_COP_DELETE ? 0 : v.row_len, m[nv].row_len);
        if (v.op != DRIFT_COP_DELETE)
            assert_memory_equal(v.row, m[nv].row, m[nv].row_len);
        nv++;
    }
    assert_int_equal(nv, nm);
    drift_index_vscan_close(&vs);
    /* a table scan as of each version's seq returns that row */
    for (int i = 0; i < nm; i++) {
        drift_index_scan_t *sc;
        assert_int_equal(drift_index_scan_open(rd, T, NULL, 0, NULL, 0, m[i].seq, &sc), 0);
        int rc = drift_index_scan_next(sc, &pk, &pk_len, &v);
        if (m[i].op == DRIFT_COP_DELETE)
            assert_int_equal(rc, 0);
        else {
            assert_int_equal(rc, 1);
            assert_int_equal(v.row_len, m[i].row_len);
            assert_memory_equal(v.row, m[i].row, m[i].row_len);
        }
        drift_index_scan_close(&sc);
    }
    /* the score index, built over the chunks when it was created (schema version 2): score 7 was live at
     * m[8].seq and only then */
    uint8_t vk[16];
    drift_keybuf_t kb = {.buf = NULL};
    drift_keyenc_int(&kb, 7);
    memcpy(vk, kb.buf, kb.len);
    size_t vkn = kb.len;
    drift_keybuf_free(&kb);
    assert_int_equal(m[8].seq, m[9].seq - 1);
    drift_index_iscan_t *is;
    const uint8_t *vals;
    size_t vals_len;
    uint64_t from, to;
    int trunc;
    assert_int_equal(drift_index_iscan_open(rd, 100, vk, vkn, NULL, 0, m[8].seq, &is), 0);
    assert_int_equal(drift_index_iscan_next(is, &pk, &pk_len, &vals, &vals_len, &from, &to, &trunc), 1);
    assert_int_equal(from, m[8].seq);
    assert_int_equal(to, m[9].seq);
    drift_index_iscan_close(&is);
    /* the newest write */
    uint64_t lw;
    int lop;
    assert_int_equal(drift_index_last_write(rd, T, k1.b, k1.n, &lw, &lop), 0);
    assert_int_equal(lw, m[nm - 1].seq);
    assert_int_equal(lop, DRIFT_COP_UPDATE);
    drift_index_rd_end(&rd);
    /* indexed in batches = rebuilt in one, byte for byte */
    char dir[500], err[256];
    snprintf(dir, sizeof dir, "%s/rebuilt", c->fx.root);
    assert_int_equal(drift_index_rebuild(dir, c->fx.dir, 0, 64u << 20, NULL, NULL, err, sizeof err), 0);
    drift_index_t *b;
    drift_index_opts_t ro = {.readonly = 1};
    assert_int_equal(drift_index_open(dir, c->fx.dir, NULL, &ro, &b), 0);
    int nd = 0;
    assert_int_equal(drift_index_compare(c->ix, b, s_diff, &nd), 0);
    drift_index_close(&b);
}

/* The bytes of key id's `versions` chunks together (LMDB read directly, as s_chunk_firsts). */
static size_t s_chunk_bytes(ctx_t *c, int64_t id, uint8_t *head)
{
    raw_t r;
    s_raw_open(c, id, MDB_RDONLY, &r);
    size_t bytes = 0;
    for (; s_raw_on_key(&r); r.rc = mdb_cursor_get(r.cur, &r.k, &r.v, MDB_NEXT)) {
        if (head && bytes == 0 && r.v.mv_size >= 2)
            memcpy(head, r.v.mv_data, 2); /* the newest chunk's n and directory widths */
        bytes += r.v.mv_size;
    }
    s_raw_close(c, &r, 0);
    return bytes;
}

/* The size of a chunk (format 3): 10 versions of a small row whose updates change a few bytes take about
 * one row plus ~10 bytes a version (format 2: a 16-byte header, the whole row and 10 directory bytes each,
 * 460 bytes here), so `versions` stays close to `current` in size. */
static void t_chunk_size(void **state)
{
    ctx_t *c = *state;
    assert_int_equal(DRIFT_INDEX_FORMAT, 4);
    s_op_ddl(c, "create_table", 1, "people", 0, 0);
    s_commit(c);
    for (int v = 0; v < 10; v++) {
        char name[32];
        snprintf(name, sizeof name, "name-123456-v%d", v);
        for (int64_t id = 1; id <= 3; id++) /* other keys in between: seq deltas of 3 */
            s_op_row(c, v ? DRIFT_COP_UPDATE : DRIFT_COP_INSERT, id, name, (id * 37 + v * 101) % 1000);
        s_commit(c);
    }
    s_index(c);
    uint8_t row[64];
    size_t row_len = s_pack_row(row, sizeof row, 2, "name-123456-v0", 74);
    size_t bytes = s_chunk_bytes(c, 2, NULL);
    /* first record: flags, schema, ts(8), 3 varints + the row; then per version: seq, flags, ts, 3 varints and
     * the changed bytes (the digit and the score: <= 4) */
    print_message("10 versions of an %zu-byte row: %zu bytes\n", row_len, bytes);
    assert_true(bytes <= 1 + 11 + 3 + row_len + 9 * (1 + 1 + 1 + 3 + 4));
}

/* The chunk's directory (format 4): versions whose seq deltas from the chunk's first need two bytes and whose
 * bodies start past byte 255 (two-byte offsets) are found by an as-of read at their own seq and in the gaps
 * after them, with the exact row, in one chunk appended over several batches; history lists them all. */
static void t_chunk_dir(void **state)
{
    ctx_t *c = *state;
    enum { NV = 8 };
    static const int gap[NV] = {0, 1, 300, 2, 0, 40, 1, 5}; /* empty commits after version i */
    mver_t *m = calloc(NV, sizeof *m);
    assert_non_null(m);
    s_op_ddl(c, "create_table", 1, "people", 0, 0);
    s_commit(c);
    for (int i = 0; i < NV; i++) {
        char name[101];
        memset(name, 'a' + i, 100); /* every version changes ~100 bytes: deltas of ~100 bytes */
        name[100] = 0;
        s_op_row(c, i ? DRIFT_COP_UPDATE : DRIFT_COP_INSERT, 1, name, i);
        m[i].seq = s_commit(c);
        m[i].row_len = s_pack_row(m[i].row, sizeof m[i].row, 1, name, i);
        for (int g = 0; g < gap[i]; g++)
            s_commit(c);
        if (i == 2 || i == 5)
            s_index(c); /* appends across batches */
    }
    s_index(c);
    uint64_t f[4];
    assert_int_equal(s_chunk_firsts(c, 1, f, 4), 1);
    uint8_t head[2];
    size_t bytes = s_chunk_bytes(c, 1, head);
    assert_true(bytes > 256 && bytes <= DRIFT_INDEX_CHUNK_BYTES);
    assert_int_equal(head[0], NV);
    assert_int_equal(head[1], (2 - 1) | (2 - 1) << 3); /* seq deltas up to 352: 2 bytes; offsets: 2 bytes */
    drift_index_rd_t *rd;
    assert_int_equal(drift_index_rd_begin(c->ix, &rd), 0);
    pkey_t pk = s_key(1);
    drift_index_ver_t ver;
    assert_int_equal(drift_index_get(rd, T, pk.b, pk.n, m[0].seq - 1, &ver), DRIFT_ENOTFOUND);
    for (int i = 0; i < NV; i++) {
        for (int g = 0; g <= gap[i]; g++) { /* at its seq and in the gap before the next version */
            if (i == NV - 1 && g == gap[i])
                break; /* (the newest version at the latest seq reads current) */
            assert_int_equal(drift_index_get(rd, T, pk.b, pk.n, m[i].seq + (uint64_t)g, &ver), 0);
            assert_int_equal(ver.seq, m[i].seq);
            assert_int_equal(ver.row_len, m[i].row_len);
            assert_memory_equal(ver.row, m[i].row, m[i].row_len);
        }
    }
    mver_t *h = calloc(NV + 1, sizeof *h);
    assert_non_null(h);
    assert_int_equal(drift_index_history(rd, T, pk.b, pk.n, s_collect_rows, h), 0);
    for (int i = 0; i < NV; i++) {
        assert_int_equal(h[i].seq, m[i].seq);
        assert_int_equal(h[i].row_len, m[i].row_len);
        assert_memory_equal(h[i].row, m[i].row, m[i].row_len);
    }
    assert_int_equal(h[NV].seq, 0);
    uint64_t lw;
    int lop;
    assert_int_equal(drift_index_last_write(rd, T, pk.b, pk.n, &lw, &lop), 0);
    assert_int_equal(lw, m[NV - 1].seq);
    assert_int_equal(lop, DRIFT_COP_UPDATE);
    drift_index_rd_end(&rd);
    free(h);
    free(m);
}

/* Replaces the value of key id's newest `versions` chunk with bytes (LMDB written directly, index closed). */
static void s_chunk_poke(ctx_t *c, int64_t id, const uint8_t *bytes, size_t len)
{
    raw_t r;
    s_raw_open(c, id, 0, &r);
    assert_true(s_raw_on_key(&r));
    MDB_val v = {len, (void *)bytes};
    assert_int_equal(mdb_cursor_put(r.cur, &r.k, &v, MDB_CURRENT), 0);
    s_raw_close(c, &r, 1);
}

static int s_count_cb(const drift_index_ver_t *v, void *arg)
{
    (void)v;
    ++*(int *)arg;
    return 0;
}

/* A damaged chunk (cut short, or bytes changed) makes the reads of that key fail with an error (or read some
 * version), never crash or read out of the value (ASan): get at every seq, history, the versions and table
 * scans, last_write. */
static void t_corrupt_chunk(void **state)
{
    ctx_t *c = *state;
    s_op_ddl(c, "create_table", 1, "people", 0, 0);
    s_commit(c);
    uint64_t s[12];
    for (int i = 0; i < 12; i++) {
        if (i == 6)
            s_op(c, DRIFT_COP_DELETE, T, 1, NULL, 0);
        else
            s_op_row(c, i ? DRIFT_COP_UPDATE : DRIFT_COP_INSERT, 1, i == 8 ? "a much longer name than the rest" : "ann",
                     i);
        s[i] = s_commit(c);
    }
    s_index(c);
    /* the intact chunk */
    drift_index_close(&c->ix);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 8);
    assert_int_equal(mdb_env_open(env, c->idx_dir, MDB_RDONLY, 0644), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "versions", 0, &dbi), 0);
    pkey_t pk = s_key(1);
    uint8_t key[64] = {0, 0, 0, T};
    memcpy(key + 4, pk.b, pk.n);
    uint64_t nf = ~s[0];
    for (int i = 0; i < 8; i++)
        key[4 + pk.n + i] = (uint8_t)(nf >> (56 - 8 * i));
    MDB_val k = {4 + pk.n + 8, key}, v;
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    uint8_t orig[1024];
    size_t olen = v.mv_size;
    assert_true(olen < sizeof orig && olen > 20);
    memcpy(orig, v.mv_data, olen);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    drift_index_opts_t o = {.map_size = 64u << 20};
    assert_int_equal(drift_index_open(c->idx_dir, c->fx.dir, NULL, &o, &c->ix), 0);
    uint8_t bad[1024];
    int corrupt_seen = 0;
    for (size_t variant = 0; variant < olen + 24; variant++) {
        size_t blen = olen;
        memcpy(bad, orig, olen);
        if (variant < olen)
            blen = variant; /* cut short */
        else if (variant < olen + 12)
            bad[(variant - olen) * 7 % olen] ^= 0xff; /* a byte changed */
        else
            bad[(variant - olen) * 5 % olen] = 0x80; /* a varint that does not end there */
        s_chunk_poke(c, 1, bad, blen);
        drift_index_rd_t *rd;
        assert_int_equal(drift_index_rd_begin(c->ix, &rd), 0);
        drift_index_ver_t ver;
        for (int i = 0; i < 12; i++) {
            int rc = drift_index_get(rd, T, pk.b, pk.n, s[i], &ver);
            assert_true(rc == 0 || rc < 0);
            corrupt_seen += rc == DRIFT_ECORRUPT;
            if (rc == 0 && ver.row_len)
                assert_non_null(ver.row);
        }
        int n = 0;
        int rc = drift_index_history(rd, T, pk.b, pk.n, s_count_cb, &n);
        assert_true(rc <= 0);
        uint64_t lw;
        int lop;
        assert_true(drift_index_last_write(rd, T, pk.b, pk.n, &lw, &lop) <= 0);
        drift_index_vscan_t *vs;
        assert_int_equal(drift_index_vscan_open(rd, T, NULL, 0, NULL, 0, &vs), 0);
        const uint8_t *p;
        size_t pl;
        while ((rc = drift_index_vscan_next(vs, &p, &pl, &ver)) == 1)
            ;
        assert_true(rc <= 0);
        drift_index_vscan_close(&vs);
        drift_index_scan_t *sc;
        assert_int_equal(drift_index_scan_open(rd, T, NULL, 0, NULL, 0, s[3], &sc), 0);
        while ((rc = drift_index_scan_next(sc, &p, &pl, &ver)) == 1)
            ;
        assert_true(rc <= 0);
        drift_index_scan_close(&sc);
        if (variant == 5) /* cut inside the header */
            assert_int_equal(drift_index_get(rd, T, pk.b, pk.n, s[4], &ver), DRIFT_ECORRUPT);
        drift_index_rd_end(&rd);
    }
    assert_true(corrupt_seen > 0);
}

/* An index written in an earlier format is refused with DRIFT_EVERSION (the indexer then rebuilds it). */
static void t_old_format(void **state)
{
    ctx_t *c = *state;
    s_op_ddl(c, "create_table", 1, "people", 0, 0);
    s_commit(c);
    s_op_row(c, DRIFT_COP_INSERT, 1, "ann", 10);
    s_commit(c);
    s_index(c);
    drift_index_close(&c->ix);
    /* format 1 (one entry per version) and format 2 (chunks with every row whole) */
    for (uint8_t old = 1; old < DRIFT_INDEX_FORMAT; old++) {
        MDB_env *env;
        MDB_txn *txn;
        MDB_dbi dbi;
        assert_int_equal(mdb_env_create(&env), 0);
        mdb_env_set_maxdbs(env, 8);
        assert_int_equal(mdb_env_open(env, c->idx_dir, 0, 0644), 0);
        assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
        assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
        MDB_val k = {7, "applied"}, v;
        assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
        assert_int_equal(v.mv_size, 20);
        uint8_t meta[20];
        memcpy(meta, v.mv_data, 20);
        assert_int_equal(meta[19], old == 1 ? (int)DRIFT_INDEX_FORMAT : old - 1);
        meta[19] = old;
        v = (MDB_val){20, meta};
        assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
        assert_int_equal(mdb_txn_commit(txn), 0);
        mdb_env_close(env);
        drift_index_opts_t o = {.map_size = 64u << 20};
        assert_int_equal(drift_index_open(c->idx_dir, c->fx.dir, NULL, &o, &c->ix), DRIFT_EVERSION);
        assert_null(c->ix);
        drift_index_opts_t ro = {.readonly = 1};
        assert_int_equal(drift_index_open(c->idx_dir, c->fx.dir, NULL, &ro, &c->ix), DRIFT_EVERSION);
        assert_null(c->ix);
    }
}

/* Garbage bodies, nonsense ops and bad definitions are counted and skipped, never fatal. */
static void t_bad_input(void **state)
{
    ctx_t *c = *state;
    const uint8_t junk[] = {0x93, 0x01, 0xc1, 0xff};
    fx_append(&c->fx, junk, sizeof junk); /* not msgpack */
    const uint8_t short_arr[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    fx_append(&c->fx, short_arr, sizeof short_arr); /* declares 4G elements */
    s_op_patch(c, 5, 1);                            /* patch of a missing row */
    s_op(c, DRIFT_COP_DELETE, T, 6, NULL, 0);       /* delete of a missing row */
    s_op(c, DRIFT_COP_INSERT, T, 7, "\x01", 1);     /* a row that is not an array */
    s_commit(c);
    const uint8_t bad_ddl[] = {0x81, 0xa3, 'd', 'd', 'l', 0xa3, 'x', 'y', 'z'};
    s_op(c, DRIFT_COP_DDL, T, 0, bad_ddl, sizeof bad_ddl);
    s_op_row(c, DRIFT_COP_INSERT, 8, "ok", 1); /* a table without a definition still gets versions */
    s_commit(c);
    s_index(c);
    assert_int_equal(drift_index_skipped(c->ix), 6);
    drift_index_rd_t *rd;
    assert_int_equal(drift_index_rd_begin(c->ix, &rd), 0);
    assert_int_equal(drift_index_rd_seq(rd), 4);
    assert_int_equal(s_get(rd, 8, 4), 1);
    assert_int_equal(s_get(rd, 5, 4), -2);
    assert_int_equal(s_get(rd, 7, 4), -2);
    drift_index_rd_end(&rd);
    /* a reader on a directory without an index */
    drift_index_t *none;
    drift_index_opts_t ro = {.readonly = 1};
    assert_int_equal(drift_index_open("/nonexistent/index", c->fx.dir, NULL, &ro, &none), DRIFT_ENOTFOUND);
    char err[128];
    drift_index_tdef_t *d;
    assert_int_equal(drift_index_tdef_parse("\x80", 1, 1, &d, err, sizeof err), DRIFT_EPROTO);
    assert_null(d);
}

/* Renaming and dropping a table: names and definitions as of each seq. */
static void t_catalog_history(void **state)
{
    ctx_t *c = *state;
    s_op_ddl(c, "create_table", 1, "old", 1, 0);
    uint64_t s1 = s_commit(c);
    s_op_row(c, DRIFT_COP_INSERT, 1, "x", 5);
    s_commit(c);
    s_op_ddl(c, "rename_table", 2, "new", 1, 0);
    uint64_t s3 = s_commit(c);
    s_op_ddl(c, "drop_table", 0, NULL, 0, 0);
    uint64_t s4 = s_commit(c);
    s_index(c);
    drift_index_rd_t *rd;
    assert_int_equal(drift_index_rd_begin(c->ix, &rd), 0);
    uint32_t t;
    assert_int_equal(drift_index_table_by_name(rd, "old", s1, &t), 0);
    assert_int_equal(drift_index_table_by_name(rd, "old", s3, &t), DRIFT_ENOTFOUND);
    assert_int_equal(drift_index_table_by_name(rd, "new", s3, &t), 0);
    assert_int_equal(drift_index_table_by_name(rd, "new", s4, &t), DRIFT_ENOTFOUND);
    drift_index_tdef_t *d;
    assert_int_equal(drift_index_table_def(rd, T, s3, &d), 0);
    assert_int_equal(d->version, 2);
    drift_index_tdef_destroy(&d);
    assert_int_equal(drift_index_table_def(rd, T, s4, &d), DRIFT_ENOTFOUND);
    assert_int_equal(drift_index_table_def_ver(rd, T, 1, &d), 0);
    assert_string_equal(d->name, "old");
    drift_index_tdef_destroy(&d);
    /* the dropped table's rows are gone from the present, still there as of before the drop */
    assert_int_equal(s_get(rd, 1, UINT64_MAX), -2);
    assert_int_equal(s_get(rd, 1, s3), 5);
    assert_int_equal(s_lookup(rd, 100, 5, s3), 0); /* the index went with the table */
    drift_index_rd_end(&rd);
}

/* Secondary-index writes are queued during a batch and applied sorted by entry at its commit, and in the
 * middle of it when the queue reaches 8 MiB (shm/index.c, s_iq_add). One batch of 2 400 frames updating 40
 * keys each (every update changes the indexed score: a close and an open, ~192 500 queued writes of 54
 * bytes, 10.4 MB: one flush in the middle of the batch, one at its commit), with a key written twice in some
 * frames (the second op replaces the first:
 * its entry is opened and removed again at the same seq): every equality lookup as of sampled seqs equals
 * the schedule's. */
static void t_idx_queue_big_batch(void **state)
{
    ctx_t *c = *state;
    enum { KEYS = 40, FRAMES = 2400, SCORES = 7 };
    s_op_ddl(c, "create_table", 1, "people", 1, 0);
    uint64_t s0 = s_commit(c);
    for (int k = 0; k < KEYS; k++)
        s_op_row(c, DRIFT_COP_INSERT, k, "n", k % SCORES);
    uint64_t first = s_commit(c);
    for (int f = 1; f <= FRAMES; f++) {
        if (f % 10 == 0)
            s_op_row(c, DRIFT_COP_UPDATE, 0, "n", 100); /* replaced by the same frame's next op on key 0 */
        for (int k = 0; k < KEYS; k++)
            s_op_row(c, DRIFT_COP_UPDATE, k, "n", (k + f) % SCORES);
        s_commit(c);
    }
    s_index(c); /* one batch */
    drift_index_rd_t *rd;
    assert_int_equal(drift_index_rd_begin(c->ix, &rd), 0);
    assert_int_equal(drift_index_rd_seq(rd), first + FRAMES);
    assert_int_equal(s_lookup(rd, 100, 0, s0), 0);
    for (int f = 0; f <= FRAMES; f += (f % 10 == 9 ? 1 : 97)) {
        uint64_t seq = first + (uint64_t)f;
        for (int sc = 0; sc < SCORES; sc++) {
            uint64_t want = 0;
            for (int k = 0; k < KEYS; k++)
                if ((k + f) % SCORES == sc)
                    want |= 1ull << k;
            assert_int_equal(s_lookup(rd, 100, sc, seq), want);
        }
        assert_int_equal(s_lookup(rd, 100, 100, seq), 0); /* never visible: replaced within its frame */
    }
    drift_index_rd_end(&rd);
}

/* A map far too small for the data: the rebuild grows it (MDB_MAP_FULL -> grow -> redo the batch). */
static void t_map_grows(void **state)
{
    ctx_t *c = *state;
    s_op_ddl(c, "create_table", 1, "people", 1, 1);
    s_commit(c);
    char name[64];
    for (int i = 0; i < 400; i++) {
        snprintf(name, sizeof name, "name-%d-padding-padding-padding", i);
        s_op_row(c, i < 200 ? DRIFT_COP_INSERT : DRIFT_COP_UPDATE, i % 200, name, i);
        s_commit(c);
    }
    s_index(c);
    char dir[500], err[256];
    snprintf(dir, sizeof dir, "%s/small", c->fx.root);
    assert_int_equal(drift_index_rebuild(dir, c->fx.dir, 0, 64u << 10, NULL, NULL, err, sizeof err), 0);
    char path[600];
    struct stat st;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > (64 << 10)); /* more than the initial map: it grew */
    drift_index_t *b;
    drift_index_opts_t ro = {.readonly = 1};
    assert_int_equal(drift_index_open(dir, c->fx.dir, NULL, &ro, &b), 0);
    int n = 0;
    assert_int_equal(drift_index_compare(c->ix, b, s_diff, &n), 0);
    drift_index_close(&b);
}

static void *s_bump(void *arg)
{
    drift_ctl_header_t *h = arg;
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
    atomic_store(&h->indexed_seq, 9);
    return NULL;
}

/* drift_index_wait: immediate when indexed, bounded when not, wakes up when the indexer catches up. */
static void t_wait(void **state)
{
    ctx_t *c = *state;
    char path[500];
    snprintf(path, sizeof path, "%s/control", c->fx.root);
    drift_ctl_t *ctl = drift_ctl_create(path, 4);
    assert_non_null(ctl);
    drift_ctl_header_t *h = drift_ctl_header(ctl);
    atomic_store(&h->indexed_seq, 5);
    assert_int_equal(drift_index_wait(h, 5, 0), 0);
    uint64_t t0 = drift_now_mono_ns();
    assert_int_equal(drift_index_wait(h, 6, 30), -ETIMEDOUT);
    assert_true(drift_now_mono_ns() - t0 >= 30000000ull);
    pthread_t th;
    pthread_create(&th, NULL, s_bump, h);
    assert_int_equal(drift_index_wait(h, 9, 5000), 0);
    assert_true(drift_now_mono_ns() - t0 < 4000000000ull);
    pthread_join(th, NULL);
    drift_ctl_detach(&ctl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(t_asof_history, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_many_versions_scan, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_secondary, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_unique, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_crash_resume_rebuild, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_bad_input, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_catalog_history, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_wait, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_map_grows, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_chunks, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_old_format, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_delta_rows, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_chunk_size, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_corrupt_chunk, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_chunk_dir, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_idx_queue_big_batch, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
