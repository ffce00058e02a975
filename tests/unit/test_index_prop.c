/* tests/unit/test_index_prop.c — property test: a random stream of
 * transactions (insert, update, patch, delete over two tables, an index
 * created over history halfway, another dropped) is written as real log
 * frames and, at the same time, applied to an in-memory model. The indexer
 * library applies the log in random batch sizes with random crashes (a batch
 * abandoned halfway, the environment closed and reopened). At random seqs,
 * every table's state (point reads and scans), every secondary-index lookup,
 * some keys' histories and the timestamp map equal the model's. At the end a
 * rebuild from the log compares equal to the incrementally built index. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/errors.h"
#include "ipc/commit.h"
#include "shm/index.h"
#include "tests/unit/logfixture.h"

#define NTAB 2
#define NKEYS 48
#define MAXSEQ 700
#define NNAMES 4

/* the last name makes rows larger than DRIFT_INDEX_INLINE_MAX: those versions are read from the log */
#define LONG_NAME                                                                                                      \
    "zz-a-long-name-0123456789012345678901234567890123456789012345678901234567890123456789"                            \
    "0123456789012345678901234567890123456789012345678901234567890123456789"
static const char *const s_names[NNAMES] = {"", "a", "b\0x", LONG_NAME};
static const size_t s_name_len[NNAMES] = {0, 1, 3, sizeof LONG_NAME - 1};

typedef struct {
    uint8_t live;
    uint8_t name; /* index in s_names */
    int8_t score; /* -1 = NULL */
    uint8_t flag;
} mrow_t;

typedef struct {
    fx_log_t fx;
    char idx_dir[400];
    drift_index_t *ix;
    drift_logr_t *lr;
    uint64_t rng;
    uint64_t last_seq;
    mrow_t state[MAXSEQ + 1][NTAB][NKEYS]; /* the model: the state after each seq */
    int idx_score_from;                    /* seq from which index 21 (table 2, score) exists, 0 = never */
    msgpack_sbuffer ops;
    msgpack_packer opk;
    size_t nops;
} prop_t;

static uint64_t s_rand(prop_t *p)
{
    p->rng ^= p->rng << 13;
    p->rng ^= p->rng >> 7;
    p->rng ^= p->rng << 17;
    return p->rng;
}

static void s_pk(int64_t id, uint8_t out[9])
{
    drift_keybuf_t kb = {0};
    drift_keyenc_int(&kb, id);
    memcpy(out, kb.buf, 9);
    drift_keybuf_free(&kb);
}

/* Table definition: columns id INTEGER, name TEXT, score INTEGER, flag BOOLEAN; indexes per table. */
static void s_pack_def(msgpack_packer *pk, uint32_t table, uint32_t version, int with_score_idx, int with_pair_idx)
{
    msgpack_pack_map(pk, 5);
    msgpack_pack_str_with_body(pk, "name", 4);
    msgpack_pack_str_with_body(pk, table == 1 ? "t1" : "t2", 2);
    msgpack_pack_str_with_body(pk, "version", 7);
    msgpack_pack_uint32(pk, version);
    msgpack_pack_str_with_body(pk, "columns", 7);
    msgpack_pack_array(pk, 4);
    const char *cn[] = {"id", "name", "score", "flag"}, *ct[] = {"INTEGER", "TEXT", "INTEGER", "BOOLEAN"};
    for (int i = 0; i < 4; i++) {
        msgpack_pack_map(pk, 3);
        msgpack_pack_str_with_body(pk, "id", 2);
        msgpack_pack_uint32(pk, (uint32_t)i + 1);
        msgpack_pack_str_with_body(pk, "name", 4);
        msgpack_pack_str_with_body(pk, cn[i], strlen(cn[i]));
        msgpack_pack_str_with_body(pk, "type", 4);
        msgpack_pack_str_with_body(pk, ct[i], strlen(ct[i]));
    }
    msgpack_pack_str_with_body(pk, "pk", 2);
    msgpack_pack_array(pk, 1);
    msgpack_pack_uint32(pk, 1);
    msgpack_pack_str_with_body(pk, "indexes", 7);
    msgpack_pack_array(pk, (size_t)(with_score_idx + with_pair_idx));
    if (with_score_idx) { /* index 10*table + 1 on score */
        msgpack_pack_map(pk, 3);
        msgpack_pack_str_with_body(pk, "id", 2);
        msgpack_pack_uint32(pk, 10 * table + 1);
        msgpack_pack_str_with_body(pk, "name", 4);
        msgpack_pack_str_with_body(pk, "s", 1);
        msgpack_pack_str_with_body(pk, "columns", 7);
        msgpack_pack_array(pk, 1);
        msgpack_pack_uint32(pk, 3);
    }
    if (with_pair_idx) { /* index 10*table + 2 on (name, flag) */
        msgpack_pack_map(pk, 3);
        msgpack_pack_str_with_body(pk, "id", 2);
        msgpack_pack_uint32(pk, 10 * table + 2);
        msgpack_pack_str_with_body(pk, "name", 4);
        msgpack_pack_str_with_body(pk, "nf", 2);
        msgpack_pack_str_with_body(pk, "columns", 7);
        msgpack_pack_array(pk, 2);
        msgpack_pack_uint32(pk, 2);
        msgpack_pack_uint32(pk, 4);
    }
}

/* A DDL op for table with the given indexes. */
static void s_ddl(prop_t *p, uint32_t table, uint32_t version, int score_idx, int pair_idx)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "ddl", 3);
    msgpack_pack_str_with_body(&pk, "alter_table", 11);
    msgpack_pack_str_with_body(&pk, "def", 3);
    s_pack_def(&pk, table, version, score_idx, pair_idx);
    drift_commit_pack_op(&p->opk, DRIFT_COP_DDL, table, NULL, 0, sb.data, sb.size);
    p->nops++;
    msgpack_sbuffer_destroy(&sb);
}

/* One data op on (table, key) with row r (from the model's next state). */
static void s_data_op(prop_t *p, drift_cop_t op, uint32_t table, int key, const mrow_t *r, int patch_score_only)
{
    uint8_t pkb[9];
    s_pk(key, pkb);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (op == DRIFT_COP_PATCH) {
        msgpack_pack_map(&pk, patch_score_only ? 1 : 2);
        msgpack_pack_str_with_body(&pk, "score", 5);
        if (r->score < 0)
            msgpack_pack_nil(&pk);
        else
            msgpack_pack_int(&pk, r->score);
        if (!patch_score_only) {
            msgpack_pack_uint32(&pk, 4); /* by column id */
            if (r->flag)
                msgpack_pack_true(&pk);
            else
                msgpack_pack_false(&pk);
        }
    } else if (op != DRIFT_COP_DELETE) {
        msgpack_pack_array(&pk, 4);
        msgpack_pack_int64(&pk, key);
        msgpack_pack_str_with_body(&pk, s_names[r->name], s_name_len[r->name]);
        if (r->score < 0)
            msgpack_pack_nil(&pk);
        else
            msgpack_pack_int(&pk, r->score);
        if (r->flag)
            msgpack_pack_true(&pk);
        else
            msgpack_pack_false(&pk);
    }
    drift_commit_pack_op(&p->opk, op, table, pkb, 9, op == DRIFT_COP_DELETE ? NULL : sb.data, sb.size);
    p->nops++;
    msgpack_sbuffer_destroy(&sb);
}

/* Writes the pending ops as one frame. */
static uint64_t s_commit(prop_t *p)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, p->nops);
    msgpack_sbuffer_write(&sb, p->ops.data, p->ops.size);
    uint64_t seq = p->fx.next_seq;
    fx_append(&p->fx, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_clear(&p->ops);
    p->nops = 0;
    p->last_seq = seq;
    return seq;
}

/* Generates the whole random history (frames + model). */
static void s_generate(prop_t *p, int ntx)
{
    /* seq 1: both tables; table 1 has both indexes from the start, table 2 only the pair index */
    memset(p->state[0], 0, sizeof p->state[0]);
    s_ddl(p, 1, 1, 1, 1);
    s_ddl(p, 2, 1, 0, 1);
    s_commit(p);
    memcpy(p->state[1], p->state[0], sizeof p->state[0]);
    uint32_t t2_version = 1;
    for (int tx = 0; tx < ntx && p->last_seq < MAXSEQ; tx++) {
        uint64_t seq = p->last_seq + 1;
        memcpy(p->state[seq], p->state[seq - 1], sizeof p->state[seq]);
        if (tx == ntx / 2) { /* table 2 gets a score index built over its history */
            s_ddl(p, 2, ++t2_version, 1, 1);
            p->idx_score_from = (int)seq;
        } else if (tx == (3 * ntx) / 4) { /* table 1 loses its pair index */
            s_ddl(p, 1, 2, 1, 0);
        }
        int nops = 1 + (int)(s_rand(p) % 5);
        int used[NTAB][NKEYS] = {{0}};
        for (int i = 0; i < nops; i++) {
            uint32_t t = 1 + (uint32_t)(s_rand(p) % NTAB);
            int k = (int)(s_rand(p) % NKEYS);
            if (used[t - 1][k]++ && s_rand(p) % 2) /* sometimes two ops on one key in one transaction */
                continue;
            mrow_t *r = &p->state[seq][t - 1][k];
            uint64_t x = s_rand(p);
            if (!r->live) {
                r->live = 1;
                r->name = (uint8_t)(x % NNAMES);
                r->score = (int8_t)((x >> 8) % 9) - 1;
                r->flag = (uint8_t)((x >> 16) & 1);
                s_data_op(p, DRIFT_COP_INSERT, t, k, r, 0);
            } else if (x % 5 == 0) {
                r->live = 0;
                s_data_op(p, DRIFT_COP_DELETE, t, k, r, 0);
            } else if (x % 5 <= 2) {
                r->score = (int8_t)((x >> 8) % 9) - 1;
                int only = (int)((x >> 20) & 1);
                if (!only)
                    r->flag = (uint8_t)((x >> 16) & 1);
                s_data_op(p, DRIFT_COP_PATCH, t, k, r, only);
            } else {
                r->name = (uint8_t)((x >> 4) % NNAMES);
                r->score = (int8_t)((x >> 8) % 9) - 1;
                r->flag = (uint8_t)((x >> 16) & 1);
                s_data_op(p, DRIFT_COP_UPDATE, t, k, r, 0);
            }
        }
        if (p->nops == 0) { /* never an empty transaction: rewrite key 0 of table 1 as it is */
            mrow_t *r = &p->state[seq][0][0];
            s_data_op(p, r->live ? DRIFT_COP_UPDATE : DRIFT_COP_INSERT, 1, 0, r, 0);
            r->live = 1;
        }
        assert_int_equal(s_commit(p), seq);
    }
}

/* Applies the log in random batches with random crashes. */
static void s_index_randomly(prop_t *p)
{
    drift_index_opts_t o = {.map_size = 64u << 20};
    for (;;) {
        uint64_t applied;
        drift_index_applied(p->ix, &applied, NULL);
        if (applied >= p->last_seq)
            break;
        assert_int_equal(drift_logr_seek(p->lr, applied + 1), 0);
        assert_int_equal(drift_index_begin(p->ix), 0);
        int n = 1 + (int)(s_rand(p) % 60), crash = s_rand(p) % 4 == 0;
        drift_frame_t f;
        drift_logr_pos_t pos;
        for (int i = 0; i < n && drift_logr_next(p->lr, &f, &pos) == 1; i++)
            assert_int_equal(drift_index_apply(p->ix, &f, pos), 0);
        if (crash) {
            drift_index_close(&p->ix); /* the batch is lost, as after kill -9 */
            assert_int_equal(drift_index_open(p->idx_dir, p->fx.dir, NULL, &o, &p->ix), 0);
            uint64_t after;
            drift_index_applied(p->ix, &after, NULL);
            assert_int_equal(after, applied);
        } else
            assert_int_equal(drift_index_commit(p->ix), 0);
    }
}

/* Checks one row version against the model row. */
static void s_check_row(const drift_index_ver_t *v, int key, const mrow_t *m)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, (const char *)v->row, v->row_len, NULL), MSGPACK_UNPACK_SUCCESS);
    msgpack_object o = u.data;
    assert_int_equal(o.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(o.via.array.size, 4);
    assert_int_equal(o.via.array.ptr[0].via.i64, key);
    assert_int_equal(o.via.array.ptr[1].via.str.size, s_name_len[m->name]);
    assert_memory_equal(o.via.array.ptr[1].via.str.ptr, s_names[m->name], s_name_len[m->name]);
    if (m->score < 0)
        assert_int_equal(o.via.array.ptr[2].type, MSGPACK_OBJECT_NIL);
    else
        assert_int_equal(o.via.array.ptr[2].via.i64, m->score);
    assert_int_equal(o.via.array.ptr[3].via.boolean, m->flag);
    msgpack_unpacked_destroy(&u);
}

/* Keys (bit set) an index range [lo, hi) returns as of seq. */
static uint64_t s_iscan(drift_index_rd_t *rd, uint32_t index_id, const drift_keybuf_t *lo, const drift_keybuf_t *hi,
                        uint64_t as_of)
{
    drift_index_iscan_t *it;
    assert_int_equal(drift_index_iscan_open(rd, index_id, lo->buf, lo->len, hi->buf, hi->len, as_of, &it), 0);
    uint64_t set = 0;
    const uint8_t *pk, *vals;
    size_t pl, vl;
    uint64_t from, to;
    int trunc, rc;
    while ((rc = drift_index_iscan_next(it, &pk, &pl, &vals, &vl, &from, &to, &trunc)) == 1) {
        const uint8_t *q = pk;
        size_t avail = pl;
        drift_keyval_t kv;
        uint8_t scratch[8];
        assert_int_equal(drift_keyenc_decode(&q, &avail, &kv, scratch, sizeof scratch), 0);
        assert_int_equal(avail, 0);
        assert_false(set & (1ull << kv.i)); /* one hit per key */
        set |= 1ull << kv.i;
    }
    assert_int_equal(rc, 0);
    drift_index_iscan_close(&it);
    return set;
}

static uint64_t g_hist_n;
static uint64_t g_hist_seqs[MAXSEQ + 2];
static int s_hist(const drift_index_ver_t *v, void *arg)
{
    (void)arg;
    g_hist_seqs[g_hist_n++] = v->seq;
    return 0;
}

/* Everything as of seq s equals the model. */
static void s_check_at(prop_t *p, drift_index_rd_t *rd, uint64_t s)
{
    for (uint32_t t = 1; t <= NTAB; t++) {
        const mrow_t *m = p->state[s][t - 1];
        /* point reads */
        for (int k = 0; k < NKEYS; k++) {
            uint8_t pkb[9];
            s_pk(k, pkb);
            drift_index_ver_t v;
            int rc = drift_index_get(rd, t, pkb, 9, s, &v);
            if (!m[k].live) {
                assert_int_equal(rc, DRIFT_ENOTFOUND);
                continue;
            }
            assert_int_equal(rc, 0);
            assert_true(v.seq <= s);
            s_check_row(&v, k, &m[k]);
        }
        /* scan */
        drift_index_scan_t *it;
        assert_int_equal(drift_index_scan_open(rd, t, NULL, 0, NULL, 0, s, &it), 0);
        const uint8_t *pk;
        size_t pl;
        drift_index_ver_t v;
        int k = 0, rc;
        while ((rc = drift_index_scan_next(it, &pk, &pl, &v)) == 1) {
            while (k < NKEYS && !m[k].live)
                k++;
            assert_true(k < NKEYS);
            uint8_t want[9];
            s_pk(k, want);
            assert_int_equal(pl, 9);
            assert_memory_equal(pk, want, 9);
            s_check_row(&v, k, &m[k]);
            k++;
        }
        assert_int_equal(rc, 0);
        while (k < NKEYS && !m[k].live)
            k++;
        assert_int_equal(k, NKEYS);
        drift_index_scan_close(&it);
        /* score index (table 1 always; table 2 from idx_score_from on, built over the whole history) */
        if (t == 1 || p->idx_score_from) {
            for (int sc = -1; sc < 8; sc++) {
                drift_keybuf_t lo = {0}, hi = {0};
                if (sc < 0)
                    drift_keyenc_null(&lo);
                else
                    drift_keyenc_int(&lo, sc);
                drift_keybuf_raw(&hi, lo.buf, lo.len);
                drift_keybuf_raw(&hi, "\xff", 1);
                uint64_t want = 0;
                for (int kk = 0; kk < NKEYS; kk++)
                    if (m[kk].live && m[kk].score == sc)
                        want |= 1ull << kk;
                assert_int_equal(s_iscan(rd, 10 * t + 1, &lo, &hi, s), want);
                drift_keybuf_free(&lo);
                drift_keybuf_free(&hi);
            }
        }
        /* pair index: (name) prefix and (name, flag) exact; table 1 lost it at the end */
        if (t == 2) {
            for (int n = 0; n < NNAMES; n++)
                for (int f = -1; f < 2; f++) {
                    drift_keybuf_t lo = {0}, hi = {0};
                    drift_keyenc_text(&lo, s_names[n], s_name_len[n]);
                    if (f >= 0)
                        drift_keyenc_bool(&lo, f);
                    drift_keybuf_raw(&hi, lo.buf, lo.len);
                    drift_keybuf_raw(&hi, "\xff", 1);
                    uint64_t want = 0;
                    for (int kk = 0; kk < NKEYS; kk++)
                        if (m[kk].live && m[kk].name == n && (f < 0 || m[kk].flag == f))
                            want |= 1ull << kk;
                    assert_int_equal(s_iscan(rd, 22, &lo, &hi, s), want);
                    drift_keybuf_free(&lo);
                    drift_keybuf_free(&hi);
                }
        }
    }
    /* timestamps: frame s has ts 1000 + s in the fixture */
    uint64_t seq;
    assert_int_equal(drift_index_seq_at(rd, 1000 + s, &seq), 0);
    assert_int_equal(seq, s);
}

/* The history of every key of table 1 lists exactly the seqs at which the model changed it. */
static void s_check_histories(prop_t *p, drift_index_rd_t *rd)
{
    for (int k = 0; k < NKEYS; k++) {
        uint8_t pkb[9];
        s_pk(k, pkb);
        g_hist_n = 0;
        int rc = drift_index_history(rd, 1, pkb, 9, s_hist, NULL);
        size_t n = 0;
        uint64_t want[MAXSEQ + 2];
        for (uint64_t s = 1; s <= p->last_seq; s++) {
            const mrow_t *a = &p->state[s - 1][0][k], *b = &p->state[s][0][k];
            if (memcmp(a, b, sizeof *a) != 0 && (a->live || b->live))
                want[n++] = s;
        }
        if (n == 0) {
            assert_int_equal(rc, DRIFT_ENOTFOUND);
            continue;
        }
        assert_int_equal(rc, 0);
        /* a transaction can touch a key without changing it (update to the same values): the index
         * lists it, the model does not see it; so every model change must be listed, in order */
        size_t j = 0;
        for (size_t i = 0; i < g_hist_n && j < n; i++)
            if (g_hist_seqs[i] == want[j])
                j++;
        assert_int_equal(j, n);
        for (size_t i = 1; i < g_hist_n; i++)
            assert_true(g_hist_seqs[i - 1] < g_hist_seqs[i]);
    }
}

static void s_diff(const char *db, const char *what, void *arg)
{
    (void)arg;
    print_error("difference in %s: %s\n", db, what);
}

static void s_run(uint64_t seed, int ntx)
{
    prop_t *p = calloc(1, sizeof *p);
    p->rng = seed;
    fx_init(&p->fx, 1 << 16);
    snprintf(p->idx_dir, sizeof p->idx_dir, "%s/index", p->fx.root);
    drift_index_opts_t o = {.map_size = 64u << 20};
    assert_int_equal(drift_index_open(p->idx_dir, p->fx.dir, NULL, &o, &p->ix), 0);
    assert_int_equal(drift_logr_open(p->fx.dir, NULL, &p->lr), 0);
    msgpack_sbuffer_init(&p->ops);
    msgpack_packer_init(&p->opk, &p->ops, msgpack_sbuffer_write);
    s_generate(p, ntx);
    s_index_randomly(p);
    assert_int_equal(drift_index_skipped(p->ix), 0);
    drift_index_rd_t *rd;
    assert_int_equal(drift_index_rd_begin(p->ix, &rd), 0);
    assert_int_equal(drift_index_rd_seq(rd), p->last_seq);
    for (int i = 0; i < 25; i++)
        s_check_at(p, rd, 1 + s_rand(p) % p->last_seq);
    s_check_at(p, rd, p->last_seq);
    s_check_histories(p, rd);
    drift_index_rd_end(&rd);
    /* a rebuild from the log is identical */
    char dir[500], err[256];
    snprintf(dir, sizeof dir, "%s/rebuilt", p->fx.root);
    assert_int_equal(drift_index_rebuild(dir, p->fx.dir, 0, 64u << 20, NULL, NULL, err, sizeof err), 0);
    drift_index_t *b;
    drift_index_opts_t ro = {.readonly = 1};
    assert_int_equal(drift_index_open(dir, p->fx.dir, NULL, &ro, &b), 0);
    assert_int_equal(drift_index_compare(p->ix, b, s_diff, NULL), 0);
    drift_index_close(&b);
    drift_index_close(&p->ix);
    drift_logr_close(&p->lr);
    msgpack_sbuffer_destroy(&p->ops);
    fx_done(&p->fx);
    free(p);
}

static void t_seed1(void **s)
{
    (void)s;
    s_run(0x9E3779B97F4A7C15ull, 400);
}
static void t_seed2(void **s)
{
    (void)s;
    s_run(0xD1B54A32D192ED03ull, 400);
}
static void t_seed3(void **s)
{
    (void)s;
    s_run(12345, 650);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(t_seed1), cmocka_unit_test(t_seed2), cmocka_unit_test(t_seed3)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
