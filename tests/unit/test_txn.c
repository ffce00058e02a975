/* tests/unit/test_txn.c — the session transaction (modules/query/txn.h):
 * the ordered overlay view (random insert order, per-table ranges, 10k
 * inserts), lookups through insert/update/delete/re-insert, patch merges,
 * the transaction's own DDL (definitions, names, renames, drops, ids),
 * savepoints with PostgreSQL's nesting rules, the SERIALIZABLE read set, the
 * commit request (decoded back with drift_commit_parse) and the commit round
 * trip against a real ZeroMQ ROUTER peer answering like the writer (late
 * replies of other requests are skipped, errors mapped, timeouts 08006). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <msgpack.h>
#include <zmq.h>

#include "common/errors.h"
#include "ipc/commit.h"
#include "modules/query/engine.h"
#include "modules/query/txn.h"
#include "shm/keyenc.h"

typedef struct {
    uint8_t b[16];
    size_t n;
} key_t_;

static key_t_ s_key(int64_t id)
{
    drift_keybuf_t kb = {0};
    drift_keyenc_int(&kb, id);
    key_t_ k;
    memcpy(k.b, kb.buf, kb.len);
    k.n = kb.len;
    drift_keybuf_free(&kb);
    return k;
}

/* A row [id, v] packed. */
static size_t s_row(int64_t id, int64_t v, uint8_t *out)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int64(&pk, id);
    msgpack_pack_int64(&pk, v);
    memcpy(out, sb.data, sb.size);
    size_t n = sb.size;
    msgpack_sbuffer_destroy(&sb);
    return n;
}

/* The second element of a packed row. */
static int64_t s_row_v(const uint8_t *row, size_t len)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, (const char *)row, len, NULL), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(u.data.type, MSGPACK_OBJECT_ARRAY);
    int64_t v = u.data.via.array.ptr[1].via.i64;
    msgpack_unpacked_destroy(&u);
    return v;
}

static void s_insert(drift_txn_t *t, uint32_t table, int64_t id, int64_t v)
{
    key_t_ k = s_key(id);
    uint8_t row[64];
    size_t n = s_row(id, v, row);
    assert_int_equal(drift_txn_put(t, DRIFT_COP_INSERT, table, k.b, k.n, row, n), 0);
}

typedef struct {
    int64_t ids[20000];
    int states[20000];
    size_t n;
} s_keys_t;

static int s_collect(const uint8_t *key, size_t key_len, int state, const uint8_t *row, size_t row_len, uint32_t ver,
                     void *arg)
{
    (void)row;
    (void)row_len;
    (void)ver;
    s_keys_t *c = arg;
    const uint8_t *p = key;
    size_t avail = key_len;
    drift_keyval_t kv;
    uint8_t scratch[16];
    assert_int_equal(drift_keyenc_decode(&p, &avail, &kv, scratch, sizeof scratch), 0);
    c->ids[c->n] = kv.i;
    c->states[c->n] = state;
    c->n++;
    return 0;
}

static void t_view_order(void **state)
{
    (void)state;
    drift_txn_t *t = drift_txn_new(DRIFT_ISO_REPEATABLE_READ, 10);
    assert_non_null(t);
    int64_t order[] = {5, -3, 9, 0, 7, 2, 100, -50};
    for (size_t i = 0; i < sizeof order / sizeof *order; i++) {
        s_insert(t, 2, order[i], order[i] * 10);
        s_insert(t, 1, order[i] + 1000, 1);
    }
    key_t_ d = s_key(7);
    assert_int_equal(drift_txn_put(t, DRIFT_COP_DELETE, 2, d.b, d.n, NULL, 0), 0);
    assert_int_equal(drift_txn_nops(t), 17);

    s_keys_t *c = calloc(1, sizeof *c);
    assert_int_equal(drift_txn_foreach_key(t, 2, NULL, 0, NULL, 0, s_collect, c), 0);
    int64_t want[] = {-50, -3, 0, 2, 5, 7, 9, 100};
    assert_int_equal(c->n, 8);
    for (size_t i = 0; i < 8; i++) {
        assert_int_equal(c->ids[i], want[i]);
        assert_int_equal(c->states[i], want[i] == 7 ? 2 : 1);
    }
    /* [0, 9): 0 2 5 7 */
    key_t_ lo = s_key(0), hi = s_key(9);
    memset(c, 0, sizeof *c);
    assert_int_equal(drift_txn_foreach_key(t, 2, lo.b, lo.n, hi.b, hi.n, s_collect, c), 0);
    assert_int_equal(c->n, 4);
    assert_int_equal(c->ids[0], 0);
    assert_int_equal(c->ids[3], 7);
    /* table 1 is separate and table 3 empty */
    memset(c, 0, sizeof *c);
    assert_int_equal(drift_txn_foreach_key(t, 1, NULL, 0, NULL, 0, s_collect, c), 0);
    assert_int_equal(c->n, 8);
    assert_int_equal(c->ids[0], 950);
    memset(c, 0, sizeof *c);
    assert_int_equal(drift_txn_foreach_key(t, 3, NULL, 0, NULL, 0, s_collect, c), 0);
    assert_int_equal(c->n, 0);
    /* next_key walks the same order, exclusive and inclusive */
    const uint8_t *k, *row;
    size_t kl, rl;
    int st;
    uint32_t ver;
    assert_int_equal(drift_txn_next_key(t, 2, lo.b, lo.n, 1, NULL, 0, &k, &kl, &st, &row, &rl, &ver), 1);
    assert_memory_equal(k, lo.b, lo.n);
    assert_int_equal(drift_txn_next_key(t, 2, lo.b, lo.n, 0, NULL, 0, &k, &kl, &st, &row, &rl, &ver), 1);
    key_t_ two = s_key(2);
    assert_memory_equal(k, two.b, two.n);
    assert_int_equal(s_row_v(row, rl), 20);
    key_t_ last = s_key(100);
    assert_int_equal(drift_txn_next_key(t, 2, last.b, last.n, 0, NULL, 0, &k, &kl, &st, &row, &rl, &ver), 0);
    size_t del;
    assert_int_equal(drift_txn_table_nkeys(t, 2, &del), 7);
    assert_int_equal(del, 1);
    free(c);
    drift_txn_destroy(&t);
    assert_null(t);
}

static void t_lookup_states(void **state)
{
    (void)state;
    drift_txn_t *t = drift_txn_new(DRIFT_ISO_READ_COMMITTED, 1);
    key_t_ k = s_key(1);
    const uint8_t *row;
    size_t rl;
    uint32_t ver = 99;
    assert_int_equal(drift_txn_lookup(t, 4, k.b, k.n, &row, &rl, &ver), 0);
    s_insert(t, 4, 1, 10);
    assert_int_equal(drift_txn_lookup(t, 4, k.b, k.n, &row, &rl, &ver), 1);
    assert_int_equal(s_row_v(row, rl), 10);
    assert_int_equal(ver, 0); /* no DDL of table 4 in the transaction: the snapshot's version */
    uint8_t r2[64];
    size_t n2 = s_row(1, 11, r2);
    assert_int_equal(drift_txn_put(t, DRIFT_COP_UPDATE, 4, k.b, k.n, r2, n2), 0);
    assert_int_equal(drift_txn_lookup(t, 4, k.b, k.n, &row, &rl, &ver), 1);
    assert_int_equal(s_row_v(row, rl), 11);
    assert_int_equal(drift_txn_put(t, DRIFT_COP_DELETE, 4, k.b, k.n, NULL, 0), 0);
    assert_int_equal(drift_txn_lookup(t, 4, k.b, k.n, &row, &rl, &ver), 2);
    s_insert(t, 4, 1, 12);
    assert_int_equal(drift_txn_lookup(t, 4, k.b, k.n, &row, &rl, &ver), 1);
    assert_int_equal(s_row_v(row, rl), 12);
    /* another table, same key */
    assert_int_equal(drift_txn_lookup(t, 5, k.b, k.n, &row, &rl, &ver), 0);
    /* put_row records the version */
    uint8_t r3[64];
    size_t n3 = s_row(2, 5, r3);
    key_t_ k2 = s_key(2);
    assert_int_equal(drift_txn_put_row(t, DRIFT_COP_INSERT, 4, k2.b, k2.n, r3, n3, 7, NULL, 0), 0);
    assert_int_equal(drift_txn_lookup(t, 4, k2.b, k2.n, &row, &rl, &ver), 1);
    assert_int_equal(ver, 7);
    drift_txn_destroy(&t);
}

/* A TABLEDEF {name, version, columns [id INTEGER, v INTEGER], pk [1]} (+ an index of id idx when idx). */
static size_t s_def(const char *name, uint32_t version, uint32_t idx, uint8_t *out, int drop)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer p;
    msgpack_packer_init(&p, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&p, drop ? 1 : 2);
    msgpack_pack_str_with_body(&p, "ddl", 3);
    const char *kind = drop ? "drop_table" : "create_table";
    msgpack_pack_str_with_body(&p, kind, strlen(kind));
    if (!drop) {
        msgpack_pack_str_with_body(&p, "def", 3);
        msgpack_pack_map(&p, 5);
        msgpack_pack_str_with_body(&p, "name", 4);
        msgpack_pack_str_with_body(&p, name, strlen(name));
        msgpack_pack_str_with_body(&p, "version", 7);
        msgpack_pack_uint32(&p, version);
        msgpack_pack_str_with_body(&p, "columns", 7);
        msgpack_pack_array(&p, 2);
        const char *cn[] = {"id", "v"};
        for (int i = 0; i < 2; i++) {
            msgpack_pack_map(&p, 3);
            msgpack_pack_str_with_body(&p, "id", 2);
            msgpack_pack_uint32(&p, (uint32_t)i + 1);
            msgpack_pack_str_with_body(&p, "name", 4);
            msgpack_pack_str_with_body(&p, cn[i], strlen(cn[i]));
            msgpack_pack_str_with_body(&p, "type", 4);
            msgpack_pack_str_with_body(&p, "INTEGER", 7);
        }
        msgpack_pack_str_with_body(&p, "pk", 2);
        msgpack_pack_array(&p, 1);
        msgpack_pack_uint32(&p, 1);
        msgpack_pack_str_with_body(&p, "indexes", 7);
        msgpack_pack_array(&p, idx ? 1 : 0);
        if (idx) {
            msgpack_pack_map(&p, 3);
            msgpack_pack_str_with_body(&p, "id", 2);
            msgpack_pack_uint32(&p, idx);
            msgpack_pack_str_with_body(&p, "name", 4);
            msgpack_pack_str_with_body(&p, "ix", 2);
            msgpack_pack_str_with_body(&p, "columns", 7);
            msgpack_pack_array(&p, 1);
            msgpack_pack_uint32(&p, 2);
        }
    }
    memcpy(out, sb.data, sb.size);
    size_t n = sb.size;
    msgpack_sbuffer_destroy(&sb);
    return n;
}

static void t_patch_merge(void **state)
{
    (void)state;
    drift_txn_t *t = drift_txn_new(DRIFT_ISO_REPEATABLE_READ, 3);
    uint8_t def[512];
    size_t dn = s_def("p", 1, 0, def, 0);
    assert_int_equal(drift_txn_put(t, DRIFT_COP_DDL, 9, NULL, 0, def, dn), 0);
    s_insert(t, 9, 1, 10);
    key_t_ k = s_key(1);
    /* {"v": 42} by name */
    uint8_t patch[32];
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str_with_body(&pk, "v", 1);
    msgpack_pack_int64(&pk, 42);
    memcpy(patch, sb.data, sb.size);
    size_t pn = sb.size;
    msgpack_sbuffer_clear(&sb);
    assert_int_equal(drift_txn_put(t, DRIFT_COP_PATCH, 9, k.b, k.n, patch, pn), 0);
    const uint8_t *row;
    size_t rl;
    uint32_t ver;
    assert_int_equal(drift_txn_lookup(t, 9, k.b, k.n, &row, &rl, &ver), 1);
    assert_int_equal(s_row_v(row, rl), 42);
    assert_int_equal(ver, 1);
    /* {2: 43} by column id */
    msgpack_pack_map(&pk, 1);
    msgpack_pack_uint32(&pk, 2);
    msgpack_pack_int64(&pk, 43);
    assert_int_equal(drift_txn_put(t, DRIFT_COP_PATCH, 9, k.b, k.n, sb.data, sb.size), 0);
    assert_int_equal(drift_txn_lookup(t, 9, k.b, k.n, &row, &rl, &ver), 1);
    assert_int_equal(s_row_v(row, rl), 43);
    /* the frame keeps the patch map itself */
    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    drift_txn_pack_request(t, 1, &out);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, out.data, out.size, NULL), MSGPACK_UNPACK_SUCCESS);
    drift_commit_req_t req;
    char err[128];
    assert_int_equal(drift_commit_parse(&u.data, &req, err, sizeof err), 0);
    assert_int_equal(req.nops, 4);
    assert_int_equal(req.ops[3].op, DRIFT_COP_PATCH);
    assert_int_equal(req.ops[3].row->type, MSGPACK_OBJECT_MAP);
    drift_commit_req_clear(&req);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&out);
    /* a patch carrying its merged row (what table.c does) replaces the view's row */
    uint8_t merged[64];
    size_t mn = s_row(1, 77, merged);
    assert_int_equal(drift_txn_put_row(t, DRIFT_COP_PATCH, 9, k.b, k.n, sb.data, sb.size, 1, merged, mn), 0);
    assert_int_equal(drift_txn_lookup(t, 9, k.b, k.n, &row, &rl, &ver), 1);
    assert_int_equal(s_row_v(row, rl), 77);
    /* a patch of a key the transaction never wrote, without a merged row, leaves the view alone */
    key_t_ k5 = s_key(5);
    assert_int_equal(drift_txn_put(t, DRIFT_COP_PATCH, 9, k5.b, k5.n, sb.data, sb.size), 0);
    assert_int_equal(drift_txn_lookup(t, 9, k5.b, k5.n, &row, &rl, &ver), 0);
    msgpack_sbuffer_destroy(&sb);
    drift_txn_destroy(&t);
}

static void t_pending_ddl(void **state)
{
    (void)state;
    drift_txn_t *t = drift_txn_new(DRIFT_ISO_REPEATABLE_READ, 3);
    uint8_t def[512];
    const uint8_t *d;
    size_t dl;
    uint32_t id;
    int dropped;
    assert_int_equal(drift_txn_pending_name(t, "a", &id, &dropped), 0);
    assert_int_equal(drift_txn_max_table_id(t), 0);
    size_t n = s_def("a", 1, 0, def, 0);
    assert_int_equal(drift_txn_put(t, DRIFT_COP_DDL, 12, NULL, 0, def, n), 0);
    n = s_def("a", 2, 30, def, 0);
    assert_int_equal(drift_txn_put(t, DRIFT_COP_DDL, 12, NULL, 0, def, n), 0);
    assert_int_equal(drift_txn_pending_name(t, "a", &id, &dropped), 1);
    assert_int_equal(id, 12);
    assert_int_equal(dropped, 0);
    assert_int_equal(drift_txn_pending_def(t, 12, &d, &dl), 1);
    drift_index_tdef_t *td;
    char err[128];
    assert_int_equal(drift_index_tdef_parse(d, dl, 12, &td, err, sizeof err), 0);
    assert_int_equal(td->version, 2);
    drift_index_tdef_destroy(&td);
    assert_int_equal(drift_txn_pending_def_ver(t, 12, 1, &d, &dl), 1);
    assert_int_equal(drift_txn_pending_def_ver(t, 12, 3, &d, &dl), 0);
    assert_int_equal(drift_txn_max_table_id(t), 12);
    assert_int_equal(drift_txn_max_index_id(t), 30);
    /* rename a -> b: "a" is free (dropped = 1), "b" is table 12 */
    n = s_def("b", 3, 30, def, 0);
    assert_int_equal(drift_txn_put(t, DRIFT_COP_DDL, 12, NULL, 0, def, n), 0);
    assert_int_equal(drift_txn_pending_name(t, "a", &id, &dropped), 1);
    assert_int_equal(dropped, 1);
    assert_int_equal(drift_txn_pending_name(t, "b", &id, &dropped), 1);
    assert_int_equal(dropped, 0);
    /* another table named a */
    n = s_def("a", 1, 0, def, 0);
    assert_int_equal(drift_txn_put(t, DRIFT_COP_DDL, 13, NULL, 0, def, n), 0);
    assert_int_equal(drift_txn_pending_name(t, "a", &id, &dropped), 1);
    assert_int_equal(id, 13);
    assert_int_equal(dropped, 0);
    /* drop b */
    n = s_def(NULL, 0, 0, def, 1);
    assert_int_equal(drift_txn_put(t, DRIFT_COP_DDL, 12, NULL, 0, def, n), 0);
    assert_int_equal(drift_txn_pending_def(t, 12, &d, &dl), 1);
    assert_null(d);
    assert_int_equal(drift_txn_pending_name(t, "b", &id, &dropped), 1);
    assert_int_equal(dropped, 1);
    assert_int_equal(drift_txn_max_table_id(t), 13);
    drift_txn_destroy(&t);
}

static void t_savepoints(void **state)
{
    (void)state;
    drift_txn_t *t = drift_txn_new(DRIFT_ISO_REPEATABLE_READ, 3);
    key_t_ k1 = s_key(1), k2 = s_key(2), k3 = s_key(3);
    s_insert(t, 1, 1, 1);
    assert_int_equal(drift_txn_savepoint(t, "a"), 0);
    s_insert(t, 1, 2, 2);
    assert_int_equal(drift_txn_put(t, DRIFT_COP_DELETE, 1, k1.b, k1.n, NULL, 0), 0);
    assert_int_equal(drift_txn_savepoint(t, "b"), 0);
    s_insert(t, 1, 3, 3);
    uint8_t def[512];
    size_t n = s_def("x", 1, 0, def, 0);
    assert_int_equal(drift_txn_put(t, DRIFT_COP_DDL, 40, NULL, 0, def, n), 0);
    assert_int_equal(drift_txn_nops(t), 5);
    assert_int_equal(drift_txn_max_table_id(t), 40);
    /* ROLLBACK TO b: the insert of 3 and the DDL go; b stays */
    assert_int_equal(drift_txn_rollback_to(t, "b"), 0);
    assert_int_equal(drift_txn_nops(t), 3);
    assert_int_equal(drift_txn_lookup(t, 1, k3.b, k3.n, NULL, NULL, NULL), 0);
    assert_int_equal(drift_txn_lookup(t, 1, k1.b, k1.n, NULL, NULL, NULL), 2);
    assert_int_equal(drift_txn_max_table_id(t), 0);
    uint32_t id;
    int dropped;
    assert_int_equal(drift_txn_pending_name(t, "x", &id, &dropped), 0);
    s_insert(t, 1, 3, 4);
    assert_int_equal(drift_txn_rollback_to(t, "b"), 0); /* again: the savepoint was kept */
    assert_int_equal(drift_txn_nops(t), 3);
    /* ROLLBACK TO a: back to one insert */
    assert_int_equal(drift_txn_rollback_to(t, "a"), 0);
    assert_int_equal(drift_txn_nops(t), 1);
    assert_int_equal(drift_txn_lookup(t, 1, k1.b, k1.n, NULL, NULL, NULL), 1);
    assert_int_equal(drift_txn_lookup(t, 1, k2.b, k2.n, NULL, NULL, NULL), 0);
    /* b was after a: gone */
    assert_int_equal(drift_txn_rollback_to(t, "b"), DRIFT_ENOTFOUND);
    /* same name twice: the newest wins; RELEASE drops it and later ones */
    assert_int_equal(drift_txn_savepoint(t, "s"), 0);
    s_insert(t, 1, 5, 5);
    assert_int_equal(drift_txn_savepoint(t, "s"), 0);
    s_insert(t, 1, 6, 6);
    assert_int_equal(drift_txn_savepoint(t, "later"), 0);
    assert_int_equal(drift_txn_rollback_to(t, "s"), 0);
    assert_int_equal(drift_txn_nops(t), 2);
    assert_int_equal(drift_txn_release(t, "s"), 0); /* the inner s */
    assert_int_equal(drift_txn_release(t, "later"), DRIFT_ENOTFOUND);
    assert_int_equal(drift_txn_rollback_to(t, "s"), 0); /* the outer s */
    assert_int_equal(drift_txn_nops(t), 1);
    assert_int_equal(drift_txn_release(t, "a"), 0);
    assert_int_equal(drift_txn_release(t, "s"), DRIFT_ENOTFOUND);
    assert_int_equal(drift_txn_release(t, "nope"), DRIFT_ENOTFOUND);
    assert_int_equal(drift_txn_nops(t), 1);
    drift_txn_destroy(&t);
}

/* Decodes a packed request. */
static void s_decode_req(msgpack_sbuffer *sb, msgpack_unpacked *u, drift_commit_req_t *req)
{
    msgpack_unpacked_init(u);
    assert_int_equal(msgpack_unpack_next(u, sb->data, sb->size, NULL), MSGPACK_UNPACK_SUCCESS);
    char err[128];
    assert_int_equal(drift_commit_parse(&u->data, req, err, sizeof err), 0);
}

static void t_read_set_and_request(void **state)
{
    (void)state;
    /* REPEATABLE READ keeps no read set */
    drift_txn_t *rr = drift_txn_new(DRIFT_ISO_REPEATABLE_READ, 8);
    key_t_ k1 = s_key(1), k2 = s_key(2);
    assert_int_equal(drift_txn_note_read(rr, 1, k1.b, k1.n), 0);
    assert_int_equal(drift_txn_note_table_read(rr, 2), 0);
    assert_int_equal(drift_txn_nreads(rr), 0);
    drift_txn_destroy(&rr);

    drift_txn_t *t = drift_txn_new(DRIFT_ISO_SERIALIZABLE, 8);
    assert_int_equal(drift_txn_note_read(t, 1, k1.b, k1.n), 0);
    assert_int_equal(drift_txn_note_read(t, 1, k1.b, k1.n), 0); /* deduplicated */
    assert_int_equal(drift_txn_note_read(t, 1, k2.b, k2.n), 0);
    assert_int_equal(drift_txn_note_table_read(t, 3), 0);
    assert_int_equal(drift_txn_note_table_read(t, 3), 0);
    assert_int_equal(drift_txn_note_read(t, 3, k1.b, k1.n), 0); /* covered by the whole table */
    assert_int_equal(drift_txn_nreads(t), 3);
    s_insert(t, 1, 7, 70);
    assert_int_equal(drift_txn_put(t, DRIFT_COP_DELETE, 1, k2.b, k2.n, NULL, 0), 0);
    uint8_t def[512];
    size_t n = s_def("y", 1, 0, def, 0);
    assert_int_equal(drift_txn_put(t, DRIFT_COP_DDL, 50, NULL, 0, def, n), 0);

    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    assert_int_equal(drift_txn_pack_request(t, 1234, &sb), 0);
    msgpack_unpacked u;
    drift_commit_req_t req;
    s_decode_req(&sb, &u, &req);
    assert_int_equal(req.kind, DRIFT_CREQ_COMMIT);
    assert_int_equal(req.id.via.u64, 1234);
    assert_int_equal(req.snapshot, 8);
    assert_int_equal(req.iso, DRIFT_ISO_SERIALIZABLE);
    assert_int_equal(req.nops, 3);
    key_t_ k7 = s_key(7);
    assert_int_equal(req.ops[0].op, DRIFT_COP_INSERT);
    assert_int_equal(req.ops[0].table, 1);
    assert_int_equal(req.ops[0].key_len, k7.n);
    assert_memory_equal(req.ops[0].key, k7.b, k7.n);
    assert_int_equal(req.ops[0].row->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(req.ops[0].row->via.array.ptr[1].via.i64, 70);
    assert_int_equal(req.ops[1].op, DRIFT_COP_DELETE);
    assert_null(req.ops[1].row);
    assert_int_equal(req.ops[2].op, DRIFT_COP_DDL);
    assert_int_equal(req.ops[2].table, 50);
    assert_int_equal(req.ops[2].row->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(req.nreads, 3);
    int whole = 0, keys = 0;
    for (size_t i = 0; i < req.nreads; i++) {
        if (req.reads[i].whole_table) {
            whole++;
            assert_int_equal(req.reads[i].table, 3);
        } else {
            keys++;
            assert_int_equal(req.reads[i].table, 1);
        }
    }
    assert_int_equal(whole, 1);
    assert_int_equal(keys, 2);
    /* the frame body the writer would log */
    msgpack_sbuffer body;
    msgpack_sbuffer_init(&body);
    msgpack_packer bp;
    msgpack_packer_init(&bp, &body, msgpack_sbuffer_write);
    drift_commit_pack_body(&bp, &req);
    assert_true(body.size > 0);
    msgpack_sbuffer_destroy(&body);
    drift_commit_req_clear(&req);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);

    /* READ COMMITTED: the snapshot of the first writing statement, checked with the write-write rule */
    drift_txn_t *rc = drift_txn_new(DRIFT_ISO_READ_COMMITTED, 10);
    drift_txn_set_snapshot(rc, 12); /* a statement that only read */
    drift_txn_set_snapshot(rc, 15);
    s_insert(rc, 1, 1, 1);
    drift_txn_set_snapshot(rc, 20);
    s_insert(rc, 1, 2, 2);
    drift_txn_set_snapshot(rc, 21); /* COMMIT's own statement snapshot */
    msgpack_sbuffer_init(&sb);
    assert_int_equal(drift_txn_pack_request(rc, 5, &sb), 0);
    s_decode_req(&sb, &u, &req);
    assert_int_equal(req.snapshot, 15);
    assert_int_equal(req.iso, DRIFT_ISO_REPEATABLE_READ);
    assert_int_equal(req.nreads, 0);
    drift_commit_req_clear(&req);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    assert_int_equal(drift_txn_savepoint(rc, "z"), 0);
    assert_int_equal(drift_txn_rollback_to(rc, "z"), 0);
    drift_txn_destroy(&rc);

    /* no ops: no round trip, the snapshot is the answer */
    drift_txn_t *e = drift_txn_new(DRIFT_ISO_REPEATABLE_READ, 77);
    uint64_t seq = 0, ts = 1;
    drift_sqlerr_t err;
    memset(&err, 0, sizeof err);
    assert_int_equal(drift_txn_commit(e, NULL, 100, &seq, &ts, &err), 0);
    assert_int_equal(seq, 77);
    assert_int_equal(ts, 0);
    drift_txn_destroy(&e);
    drift_txn_destroy(&t);
}

/* READ COMMITTED re-evaluation marks (drift_txn_mark_delta): only the first write of a key under READ COMMITTED,
 * carried as the op's "delta" in the request, and dropped when the transaction reads the row back. */
static void t_delta_marks(void **state)
{
    (void)state;
    key_t_ k1 = s_key(1), k2 = s_key(2), k3 = s_key(3);
    uint8_t row[64];
    drift_txn_delta_t d[2] = {{.pos = 1, .add = 1, .i = -5}, {.pos = 0, .add = 0}};
    /* REPEATABLE READ: never */
    drift_txn_t *rr = drift_txn_new(DRIFT_ISO_REPEATABLE_READ, 5);
    size_t n = s_row(1, 10, row);
    assert_int_equal(drift_txn_put(rr, DRIFT_COP_UPDATE, 1, k1.b, k1.n, row, n), 0);
    assert_int_equal(drift_txn_mark_delta(rr, 1, k1.b, k1.n, 4, d, 2), 0);
    drift_txn_destroy(&rr);

    drift_txn_t *t = drift_txn_new(DRIFT_ISO_READ_COMMITTED, 5);
    assert_int_equal(drift_txn_put(t, DRIFT_COP_UPDATE, 1, k1.b, k1.n, row, n), 0);
    assert_int_equal(drift_txn_mark_delta(t, 1, k2.b, k2.n, 4, d, 2), 0); /* not the last op's key */
    assert_int_equal(drift_txn_mark_delta(t, 1, k1.b, k1.n, 4, d, 2), 1);
    assert_true(drift_txn_has_delta(t, 0));
    n = s_row(2, 20, row);
    assert_int_equal(drift_txn_put(t, DRIFT_COP_UPDATE, 1, k2.b, k2.n, row, n), 0);
    assert_int_equal(drift_txn_mark_delta(t, 1, k2.b, k2.n, 3, d, 1), 1);
    /* a key written twice: the second write is not marked, and the first loses its mark */
    n = s_row(3, 30, row);
    assert_int_equal(drift_txn_put(t, DRIFT_COP_INSERT, 1, k3.b, k3.n, row, n), 0);
    assert_int_equal(drift_txn_put(t, DRIFT_COP_UPDATE, 1, k3.b, k3.n, row, n), 0);
    assert_int_equal(drift_txn_mark_delta(t, 1, k3.b, k3.n, 3, d, 1), 0);
    /* existence checks keep the mark; reading the row drops it */
    assert_int_equal(drift_txn_lookup(t, 1, k1.b, k1.n, NULL, NULL, NULL), 1);
    assert_true(drift_txn_has_delta(t, 0));
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    assert_int_equal(drift_txn_pack_request(t, 9, &sb), 0);
    msgpack_unpacked u;
    drift_commit_req_t req;
    s_decode_req(&sb, &u, &req);
    assert_int_equal(req.nops, 4);
    assert_non_null(req.ops[0].delta);
    const msgpack_object *a = req.ops[0].delta->via.array.ptr;
    assert_int_equal(req.ops[0].delta->via.array.size, 7);
    assert_int_equal(a[0].via.u64, 4);
    assert_int_equal(a[1].via.u64, 1);
    assert_int_equal(a[3].via.i64, -5);
    assert_int_equal(a[4].via.u64, 0);
    assert_int_equal(a[6].via.i64, 1); /* "set": the value the row holds at pos 0 */
    assert_non_null(req.ops[1].delta);
    assert_null(req.ops[2].delta);
    assert_null(req.ops[3].delta);
    drift_commit_req_clear(&req);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    const uint8_t *r;
    size_t rl;
    assert_int_equal(drift_txn_lookup(t, 1, k1.b, k1.n, &r, &rl, NULL), 1);
    assert_false(drift_txn_has_delta(t, 0));
    assert_true(drift_txn_has_delta(t, 1));
    static s_keys_t c;
    memset(&c, 0, sizeof c);
    drift_txn_foreach_key(t, 1, NULL, 0, NULL, 0, s_collect, &c);
    assert_false(drift_txn_has_delta(t, 1));
    drift_txn_destroy(&t);
}

static void t_many_inserts(void **state)
{
    (void)state;
    drift_txn_t *t = drift_txn_new(DRIFT_ISO_REPEATABLE_READ, 1);
    enum { N = 10000 };
    static key_t_ keys[N];
    static uint8_t rows[N][32];
    static size_t rlen[N];
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < N; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        keys[i] = s_key((int64_t)(x % 1000000000));
        rlen[i] = s_row((int64_t)(x % 1000000000), i, rows[i]);
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < N; i++)
        assert_int_equal(drift_txn_put(t, DRIFT_COP_INSERT, 1, keys[i].b, keys[i].n, rows[i], rlen[i]), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    print_message("10000 random-order inserts: %.1f ms\n", ms);
    assert_true(ms < 500); /* O(n log n): a few ms normally, tens with sanitizers */
    s_keys_t *c = calloc(1, sizeof *c);
    assert_int_equal(drift_txn_foreach_key(t, 1, NULL, 0, NULL, 0, s_collect, c), 0);
    assert_true(c->n > 9990); /* random keys may repeat (then the later insert replaces the view entry) */
    for (size_t i = 1; i < c->n; i++)
        assert_true(c->ids[i - 1] < c->ids[i]);
    assert_int_equal(drift_txn_nops(t), 10000);
    free(c);
    drift_txn_destroy(&t);
}

/* ---- a real ROUTER peer answering commits like the writer */

typedef struct {
    void *ctx, *sock;
    char endpoint[128];
    int mode; /* per request: 0 ok after a stale reply, 1 error 23505, 2 error 02000, 3 silence */
    int nreq;
    uint64_t last_id;
    size_t last_nops;
} s_peer_t;

static void *s_peer_run(void *arg)
{
    s_peer_t *p = arg;
    for (int n = 0; n < 4; n++) {
        zmq_msg_t idm, m;
        zmq_msg_init(&idm);
        zmq_msg_init(&m);
        if (zmq_msg_recv(&idm, p->sock, 0) < 0 || zmq_msg_recv(&m, p->sock, 0) < 0)
            break;
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        drift_commit_req_t req;
        char err[128];
        if (msgpack_unpack_next(&u, zmq_msg_data(&m), zmq_msg_size(&m), NULL) == MSGPACK_UNPACK_SUCCESS &&
            drift_commit_parse(&u.data, &req, err, sizeof err) == 0) {
            p->nreq++;
            p->last_id = req.id.via.u64;
            p->last_nops = req.nops;
            msgpack_sbuffer sb;
            msgpack_sbuffer_init(&sb);
            if (n == 0) {
                msgpack_object real = req.id;
                req.id.via.u64 = real.via.u64 + 1000; /* a reply to some other request first */
                drift_commit_pack_ok(&sb, &req, 1, 1);
                zmq_send(p->sock, zmq_msg_data(&idm), zmq_msg_size(&idm), ZMQ_SNDMORE);
                zmq_send(p->sock, sb.data, sb.size, 0);
                msgpack_sbuffer_clear(&sb);
                req.id = real;
                drift_commit_pack_ok(&sb, &req, 42, 4242);
            } else if (n == 1)
                drift_commit_pack_error(&sb, &req, DRIFT_SQLSTATE_UNIQUE, "duplicate key: table 1");
            else if (n == 2)
                drift_commit_pack_error(&sb, &req, DRIFT_SQLSTATE_NO_DATA, "update of a row that does not exist");
            if (sb.size) {
                zmq_send(p->sock, zmq_msg_data(&idm), zmq_msg_size(&idm), ZMQ_SNDMORE);
                zmq_send(p->sock, sb.data, sb.size, 0);
            }
            msgpack_sbuffer_destroy(&sb);
            drift_commit_req_clear(&req);
        }
        msgpack_unpacked_destroy(&u);
        zmq_msg_close(&idm);
        zmq_msg_close(&m);
    }
    return NULL;
}

static void t_commit_round_trip(void **state)
{
    (void)state;
    s_peer_t p = {0};
    snprintf(p.endpoint, sizeof p.endpoint, "ipc:///tmp/drift-test-txn-%d.sock", (int)getpid());
    p.ctx = zmq_ctx_new();
    p.sock = zmq_socket(p.ctx, ZMQ_ROUTER);
    int zero = 0;
    zmq_setsockopt(p.sock, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_bind(p.sock, p.endpoint), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, s_peer_run, &p), 0);
    drift_commit_client_t *cl = drift_commit_client_new(p.endpoint);
    assert_non_null(cl);

    drift_txn_t *t = drift_txn_new(DRIFT_ISO_REPEATABLE_READ, 5);
    s_insert(t, 1, 1, 1);
    uint64_t seq = 0, ts = 0;
    drift_sqlerr_t err;
    memset(&err, 0, sizeof err);
    assert_int_equal(drift_txn_commit(t, cl, 5000, &seq, &ts, &err), 0);
    assert_int_equal(seq, 42);
    assert_int_equal(ts, 4242);
    uint64_t first = p.last_id;
    assert_int_equal(p.last_nops, 1);

    assert_int_equal(drift_txn_commit(t, cl, 5000, &seq, &ts, &err), -1);
    assert_string_equal(err.code, "23505");
    assert_non_null(strstr(err.message, "duplicate key"));
    assert_true(p.last_id != first); /* every request has its own id */

    assert_int_equal(drift_txn_commit(t, cl, 5000, &seq, &ts, &err), -1);
    assert_string_equal(err.code, "40001");

    assert_int_equal(drift_txn_commit(t, cl, 200, &seq, &ts, &err), -1);
    assert_string_equal(err.code, "08006");
    assert_int_equal(p.nreq, 4);

    pthread_join(th, NULL);
    drift_txn_destroy(&t);
    drift_commit_client_destroy(&cl);
    zmq_close(p.sock);
    zmq_ctx_term(p.ctx);
    char path[160];
    snprintf(path, sizeof path, "/tmp/drift-test-txn-%d.sock", (int)getpid());
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_view_order),
        cmocka_unit_test(t_lookup_states),
        cmocka_unit_test(t_patch_merge),
        cmocka_unit_test(t_pending_ddl),
        cmocka_unit_test(t_savepoints),
        cmocka_unit_test(t_read_set_and_request),
        cmocka_unit_test(t_delta_marks),
        cmocka_unit_test(t_many_inserts),
        cmocka_unit_test(t_commit_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
