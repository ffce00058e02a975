/* tests/unit/test_writer_catalog.c — the writer's catalog (modules/writer/catalog.c) over a real
 * log (tests/unit/logfixture.h) and a real LMDB index built from it (in a child process, as the
 * indexer does): DDL validation codes, UNIQUE checks answered from the in-memory tail alone, from
 * the LMDB snapshot alone and from both, undo of a refused transaction, CREATE UNIQUE INDEX over
 * rows partly indexed and partly in the log tail, and a second catalog rebuilt from the log +
 * index (the writer's start) that answers the same; an index that does not match the log is
 * refused. Each transaction that passes the checks is appended to the log, like the writer does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sys/wait.h>

#include "common/errors.h"
#include "common/util.h"
#include "ipc/commit.h"
#include "modules/writer/catalog.h"
#include "shm/index.h"
#include "shm/logreader.h"
#include "tests/unit/logfixture.h"

typedef struct {
    fx_log_t fx;
    char idx_dir[400];
    drift_wcat_t *cat;
    msgpack_sbuffer ops;
    msgpack_packer pk;
    size_t nops;
    char msg[512];
} ctx_t;

static int s_setup(void **state)
{
    ctx_t *c = calloc(1, sizeof *c);
    fx_init(&c->fx, 1 << 16);
    snprintf(c->idx_dir, sizeof c->idx_dir, "%s/index", c->fx.root);
    c->cat = drift_wcat_new(c->idx_dir, c->fx.dir, NULL);
    assert_non_null(c->cat);
    assert_int_equal(drift_wcat_open_index(c->cat), 0); /* no index yet */
    assert_int_equal(drift_wcat_replay(c->cat, 0, c->msg, sizeof c->msg), 0);
    msgpack_sbuffer_init(&c->ops);
    msgpack_packer_init(&c->pk, &c->ops, msgpack_sbuffer_write);
    *state = c;
    return 0;
}

static int s_teardown(void **state)
{
    ctx_t *c = *state;
    drift_wcat_destroy(&c->cat);
    msgpack_sbuffer_destroy(&c->ops);
    fx_done(&c->fx);
    free(c);
    return 0;
}

static void s_str(msgpack_packer *p, const char *s)
{
    msgpack_pack_str_with_body(p, s, strlen(s));
}

/* A table definition: id INTEGER (pk), email TEXT, a INTEGER; indexes "id:name:col:unique,...". */
static void s_def(msgpack_packer *p, const char *name, uint32_t version, const char *indexes)
{
    msgpack_pack_map(p, 5);
    s_str(p, "name");
    s_str(p, name);
    s_str(p, "version");
    msgpack_pack_uint32(p, version);
    s_str(p, "columns");
    msgpack_pack_array(p, 3);
    const char *cn[3] = {"id", "email", "a"}, *ct[3] = {"INTEGER", "TEXT", "INTEGER"};
    for (int i = 0; i < 3; i++) {
        msgpack_pack_map(p, 3);
        s_str(p, "id");
        msgpack_pack_uint32(p, (uint32_t)i + 1);
        s_str(p, "name");
        s_str(p, cn[i]);
        s_str(p, "type");
        s_str(p, ct[i]);
    }
    s_str(p, "pk");
    msgpack_pack_array(p, 1);
    msgpack_pack_uint32(p, 1);
    s_str(p, "indexes");
    uint32_t n = 0;
    for (const char *q = indexes; *q; q++)
        n += *q == ',';
    n += *indexes != 0;
    msgpack_pack_array(p, n);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", indexes);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        unsigned id, col, uniq;
        char iname[64];
        assert_int_equal(sscanf(tok, "%u:%63[^:]:%u:%u", &id, iname, &col, &uniq), 4);
        msgpack_pack_map(p, 4);
        s_str(p, "id");
        msgpack_pack_uint32(p, id);
        s_str(p, "name");
        s_str(p, iname);
        s_str(p, "columns");
        msgpack_pack_array(p, 1);
        msgpack_pack_uint32(p, col);
        s_str(p, "unique");
        if (uniq)
            msgpack_pack_true(p);
        else
            msgpack_pack_false(p);
    }
}

/* Op header: {op, table, key?, row?} with nkeys entries. */
static void s_hdr(ctx_t *c, const char *op, uint32_t table, int64_t id, int has_row)
{
    int has_key = strcmp(op, "ddl") != 0;
    msgpack_pack_map(&c->pk, 2 + (uint32_t)has_key + (uint32_t)has_row);
    s_str(&c->pk, "op");
    s_str(&c->pk, op);
    s_str(&c->pk, "table");
    msgpack_pack_uint32(&c->pk, table);
    if (has_key) {
        drift_keybuf_t kb = {0};
        drift_keyenc_int(&kb, id);
        s_str(&c->pk, "key");
        msgpack_pack_bin_with_body(&c->pk, kb.buf, kb.len);
        drift_keybuf_free(&kb);
    }
    if (has_row)
        s_str(&c->pk, "row");
    c->nops++;
}

static void op_ddl(ctx_t *c, uint32_t table, const char *kind, const char *name, uint32_t version, const char *idx)
{
    int drop = strcmp(kind, "drop_table") == 0;
    s_hdr(c, "ddl", table, 0, 1);
    msgpack_pack_map(&c->pk, drop ? 1 : 2);
    s_str(&c->pk, "ddl");
    s_str(&c->pk, kind);
    if (!drop) {
        s_str(&c->pk, "def");
        s_def(&c->pk, name, version, idx);
    }
}

/* insert/update of [id, email (NULL when NULL), a (NULL when < 0)]. */
static void op_row(ctx_t *c, const char *op, uint32_t table, int64_t id, const char *email, int64_t a)
{
    s_hdr(c, op, table, id, 1);
    msgpack_pack_array(&c->pk, 3);
    msgpack_pack_int64(&c->pk, id);
    if (email)
        s_str(&c->pk, email);
    else
        msgpack_pack_nil(&c->pk);
    if (a < 0)
        msgpack_pack_nil(&c->pk);
    else
        msgpack_pack_int64(&c->pk, a);
}

static void op_patch_email(ctx_t *c, uint32_t table, int64_t id, const char *email)
{
    s_hdr(c, "patch", table, id, 1);
    msgpack_pack_map(&c->pk, 1);
    s_str(&c->pk, "email");
    s_str(&c->pk, email);
}

static void op_del(ctx_t *c, uint32_t table, int64_t id)
{
    s_hdr(c, "delete", table, id, 0);
}

/* Runs the pending ops as one transaction: the catalog's checks, then (accepted) the frame is
 * appended to the log. Returns NULL or the SQLSTATE (message in c->msg). */
static const char *s_commit(ctx_t *c)
{
    msgpack_sbuffer body;
    msgpack_packer bp;
    msgpack_sbuffer_init(&body);
    msgpack_packer_init(&bp, &body, msgpack_sbuffer_write);
    msgpack_pack_array(&bp, (uint32_t)c->nops);
    msgpack_sbuffer_write(&body, c->ops.data, c->ops.size);
    c->ops.size = 0;
    c->nops = 0;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, body.data, body.size, NULL), MSGPACK_UNPACK_SUCCESS);
    const msgpack_object *root = &u.data;
    drift_commit_op_t ops[32];
    size_t n = root->via.array.size;
    assert_true(n <= 32);
    for (size_t i = 0; i < n; i++) {
        const msgpack_object *o = &root->via.array.ptr[i];
        memset(&ops[i], 0, sizeof ops[i]);
        for (uint32_t j = 0; j < o->via.map.size; j++) {
            const msgpack_object *k = &o->via.map.ptr[j].key, *v = &o->via.map.ptr[j].val;
            if (k->via.str.size == 2 && memcmp(k->via.str.ptr, "op", 2) == 0) {
                for (int x = DRIFT_COP_INSERT; x <= DRIFT_COP_DDL; x++)
                    if (strlen(drift_commit_op_name((drift_cop_t)x)) == v->via.str.size &&
                        memcmp(drift_commit_op_name((drift_cop_t)x), v->via.str.ptr, v->via.str.size) == 0)
                        ops[i].op = (drift_cop_t)x;
            } else if (k->via.str.size == 5 && memcmp(k->via.str.ptr, "table", 5) == 0)
                ops[i].table = (uint32_t)v->via.u64;
            else if (k->via.str.size == 3 && memcmp(k->via.str.ptr, "key", 3) == 0) {
                ops[i].key = (const uint8_t *)v->via.bin.ptr;
                ops[i].key_len = v->via.bin.size;
            } else if (k->via.str.size == 3 && memcmp(k->via.str.ptr, "row", 3) == 0)
                ops[i].row = v;
        }
    }
    const char *code = NULL;
    c->msg[0] = 0;
    for (size_t i = 0; i < n && !code; i++)
        code = drift_wcat_op(c->cat, ops, n, i, c->fx.next_seq, c->msg, sizeof c->msg);
    if (code)
        drift_wcat_txn_undo(c->cat);
    else {
        drift_wcat_txn_commit(c->cat);
        fx_append(&c->fx, body.data, body.size);
    }
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&body);
    return code;
}

/* Commits and checks the answer (NULL: accepted). */
static void s_expect(ctx_t *c, const char *want, int line)
{
    const char *got = s_commit(c);
    if ((!got) != (!want) || (got && strcmp(got, want) != 0))
        fail_msg("line %d: expected %s, got %s (%s)", line, want ? want : "accepted", got ? got : "accepted", c->msg);
}
#define OK(c) s_expect(c, NULL, __LINE__)
#define ERR(c, code) s_expect(c, code, __LINE__)

/* Indexes the whole log in another process (like the indexer role), then lets the catalog move to
 * the new snapshot. */
static void s_index(ctx_t *c)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char err[256];
        int rc = drift_index_build(c->idx_dir, c->fx.dir, 0, 64u << 20, NULL, NULL, err, sizeof err);
        _exit(rc == 0 ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    drift_wcat_tick(c->cat);
}

static void test_ddl_validation(void **state)
{
    ctx_t *c = *state;
    op_ddl(c, 1, "create_table", "users", 1, "10:users_email_key:2:1");
    OK(c);
    op_ddl(c, 2, "create_table", "users", 1, "");
    ERR(c, "42P07");
    assert_non_null(strstr(c->msg, "relation \"users\" already exists"));
    op_ddl(c, 1, "create_table", "other", 1, "");
    ERR(c, "40001");
    op_ddl(c, 1, "add_column", "users", 3, "10:users_email_key:2:1");
    ERR(c, "40001");
    op_ddl(c, 3, "alter_table", "nope", 2, "");
    ERR(c, "42P01");
    op_ddl(c, 3, "drop_table", NULL, 0, NULL);
    ERR(c, "42P01");
    op_ddl(c, 4, "create_table", "t4", 1, "10:x:2:0");
    ERR(c, "42P07"); /* index id used by users */
    op_ddl(c, 4, "create_table", "t4", 1, "11:users_email_key:2:0");
    ERR(c, "42P07"); /* index name used by users */
    op_ddl(c, 4, "create_table", "t4", 1, "11:i:2:0,12:i:3:0");
    ERR(c, "42P07");
    op_ddl(c, 1, "create_index", "users", 2, "10:users_email_key:3:1");
    ERR(c, DRIFT_SQLSTATE_PROTO); /* index 10 may not change its columns */
    /* a refused transaction leaves nothing: its create is undone */
    op_ddl(c, 5, "create_table", "t5", 1, "");
    op_ddl(c, 6, "create_table", "t5", 1, "");
    ERR(c, "42P07");
    assert_int_equal(drift_wcat_table(c->cat, 5, NULL, NULL), 0);
    op_ddl(c, 5, "create_table", "t5", 1, "");
    OK(c);
    const char *name;
    uint32_t ver;
    assert_int_equal(drift_wcat_table(c->cat, 5, &name, &ver), 1);
    assert_string_equal(name, "t5");
    assert_int_equal(ver, 1);
    /* alter in order, rename onto a taken name, drop */
    op_ddl(c, 5, "rename_table", "users", 2, "");
    ERR(c, "42P07");
    op_ddl(c, 5, "rename_table", "t5b", 2, "");
    OK(c);
    op_row(c, "insert", 5, 1, "x", 1);
    OK(c);
    op_ddl(c, 5, "drop_table", NULL, 0, NULL);
    OK(c);
    op_row(c, "insert", 5, 2, "x", 1);
    ERR(c, "42P01");
    op_ddl(c, 7, "create_table", "t5b", 1, ""); /* the name is free again */
    OK(c);
    /* never-defined tables: the raw protocol's schemaless tables */
    op_row(c, "insert", 99, 1, "x", 1);
    OK(c);
    drift_wcat_stats_t st;
    drift_wcat_stats(c->cat, &st);
    assert_int_equal(st.live, 2);
    assert_int_equal(st.tables, 3);
}

/* The same scenario of unique checks, used without and with the LMDB snapshot. */
static void s_unique_scenario(ctx_t *c, int index_between)
{
    op_ddl(c, 1, "create_table", "users", 1, "10:users_email_key:2:1,11:users_a:3:0");
    op_row(c, "insert", 1, 1, "a", 1);
    op_row(c, "insert", 1, 2, "b", 1);
    OK(c);
    if (index_between)
        s_index(c);
    op_row(c, "insert", 1, 3, "a", 2);
    ERR(c, DRIFT_SQLSTATE_UNIQUE);
    assert_non_null(strstr(c->msg, "duplicate key value violates unique constraint \"users_email_key\""));
    assert_non_null(strstr(c->msg, "Key (email)=(a) already exists"));
    op_row(c, "update", 1, 2, "a", 1);
    ERR(c, DRIFT_SQLSTATE_UNIQUE);
    op_patch_email(c, 1, 2, "a");
    ERR(c, DRIFT_SQLSTATE_UNIQUE);
    op_row(c, "update", 1, 1, "a", 5); /* keeps its own value */
    OK(c);
    /* freed in one frame, taken in the same frame */
    op_row(c, "update", 1, 1, "c", 5);
    op_row(c, "insert", 1, 3, "a", 1);
    OK(c);
    /* a refused transaction undoes its earlier ops: "d" stays free */
    op_row(c, "insert", 1, 4, "d", 1);
    op_row(c, "insert", 1, 5, "d", 1);
    ERR(c, DRIFT_SQLSTATE_UNIQUE);
    op_row(c, "insert", 1, 5, "d", 1);
    OK(c);
    if (index_between)
        s_index(c);
    /* delete frees; the patch merges the live row (from the tail or the index) */
    op_del(c, 1, 5);
    OK(c);
    op_patch_email(c, 1, 3, "d");
    OK(c);
    op_row(c, "insert", 1, 6, "a", 1); /* freed by the patch of 3 */
    OK(c);
    op_row(c, "insert", 1, 7, "d", 1);
    ERR(c, DRIFT_SQLSTATE_UNIQUE);
    /* NULLs never conflict */
    op_row(c, "insert", 1, 8, NULL, 1);
    op_row(c, "insert", 1, 9, NULL, 1);
    OK(c);
    if (index_between)
        s_index(c);
    op_row(c, "insert", 1, 10, "b", 1);
    ERR(c, DRIFT_SQLSTATE_UNIQUE);
    op_row(c, "insert", 1, 10, "c", 1);
    ERR(c, DRIFT_SQLSTATE_UNIQUE);
    op_row(c, "insert", 1, 10, "e", 1);
    OK(c);
}

static void test_unique_tail_only(void **state)
{
    ctx_t *c = *state;
    s_unique_scenario(c, 0);
    drift_wcat_stats_t st;
    drift_wcat_stats(c->cat, &st);
    assert_int_equal(st.base_seq, 0);
    assert_true(st.tail_nodes > 0);
}

static void test_unique_with_index(void **state)
{
    ctx_t *c = *state;
    s_unique_scenario(c, 1);
    /* the last s_index covered everything up to seq of insert 8/9: the tail holds what came after */
    s_index(c);
    drift_wcat_stats_t st;
    drift_wcat_stats(c->cat, &st);
    assert_int_equal(st.base_seq, c->fx.next_seq - 1);
    assert_int_equal(st.index_state, 1);
    assert_int_equal(st.tail_nodes, 0); /* all forgotten: the index holds it */
    op_row(c, "insert", 1, 11, "e", 1);
    ERR(c, DRIFT_SQLSTATE_UNIQUE);
    op_row(c, "insert", 1, 11, "f", 1);
    OK(c);
}

static void test_create_unique_index(void **state)
{
    ctx_t *c = *state;
    op_ddl(c, 1, "create_table", "t", 1, "");
    op_row(c, "insert", 1, 1, "a", 1);
    op_row(c, "insert", 1, 2, "b", 1);
    OK(c);
    s_index(c);                        /* rows 1, 2 in LMDB */
    op_row(c, "insert", 1, 3, "a", 1); /* in the tail: a duplicate of an indexed row */
    OK(c);
    op_ddl(c, 1, "create_index", "t", 2, "20:t_email_key:2:1");
    ERR(c, DRIFT_SQLSTATE_UNIQUE);
    assert_non_null(strstr(c->msg, "could not create unique index \"t_email_key\""));
    assert_non_null(strstr(c->msg, "Key (email)=(a) is duplicated"));
    /* duplicates only in this frame */
    op_row(c, "update", 1, 3, "c", 1);
    op_row(c, "insert", 1, 4, "c", 1);
    op_ddl(c, 1, "create_index", "t", 2, "20:t_email_key:2:1");
    ERR(c, DRIFT_SQLSTATE_UNIQUE);
    /* fixed in the same frame, then the index: accepted */
    op_row(c, "update", 1, 3, "c", 1);
    op_ddl(c, 1, "create_index", "t", 2, "20:t_email_key:2:1");
    OK(c);
    op_row(c, "insert", 1, 4, "a", 1); /* indexed row 1 */
    ERR(c, DRIFT_SQLSTATE_UNIQUE);
    op_row(c, "insert", 1, 4, "c", 1); /* tail row 3 */
    ERR(c, DRIFT_SQLSTATE_UNIQUE);
    op_del(c, 1, 2);
    op_row(c, "insert", 1, 4, "b", 1);
    OK(c);
    s_index(c); /* now LMDB has the index */
    drift_wcat_stats_t st;
    drift_wcat_stats(c->cat, &st);
    assert_int_equal(st.tail_nodes, 0);
    op_row(c, "insert", 1, 5, "b", 1);
    ERR(c, DRIFT_SQLSTATE_UNIQUE);
    op_row(c, "insert", 1, 5, "c", 1);
    ERR(c, DRIFT_SQLSTATE_UNIQUE);
    op_row(c, "insert", 1, 5, "d", 1);
    OK(c);
    /* a second catalog, built like the writer does at start (log + index), answers the same */
    op_row(c, "update", 1, 5, "e", 1); /* unindexed at the "restart" */
    OK(c);
    drift_wcat_destroy(&c->cat); /* one environment handle per process */
    drift_wcat_t *c2 = drift_wcat_new(c->idx_dir, c->fx.dir, NULL);
    assert_non_null(c2);
    uint64_t base = drift_wcat_open_index(c2);
    assert_int_equal(base, c->fx.next_seq - 3); /* insert 5 and its update are not indexed */
    drift_logr_t *lr;
    assert_int_equal(drift_logr_open(c->fx.dir, NULL, &lr), 0);
    drift_frame_t f;
    uint64_t last = 0;
    while (drift_logr_next(lr, &f, NULL) == 1) {
        assert_int_equal(drift_wcat_recover_frame(c2, &f, 1), 0);
        last = f.seq;
    }
    drift_logr_close(&lr);
    assert_int_equal(drift_wcat_replay(c2, last, c->msg, sizeof c->msg), 0);
    c->cat = c2;
    op_row(c, "insert", 1, 6, "e", 1);
    ERR(c, DRIFT_SQLSTATE_UNIQUE);
    op_row(c, "insert", 1, 6, "a", 1);
    ERR(c, DRIFT_SQLSTATE_UNIQUE);
    op_row(c, "insert", 1, 6, "d", 1); /* freed by the unindexed update */
    OK(c);
    op_ddl(c, 2, "create_table", "t", 1, "");
    ERR(c, "42P07");
}

/* A unique index dropped, the table written untracked, the index back: the rows the tail held from
 * before are replaced by what the log says now. */
static void test_unique_index_dropped_and_back(void **state)
{
    ctx_t *c = *state;
    op_ddl(c, 1, "create_table", "t", 1, "20:t_email_key:2:1");
    op_row(c, "insert", 1, 1, "a", 1);
    OK(c);
    op_ddl(c, 1, "drop_index", "t", 2, "");
    OK(c);
    op_row(c, "update", 1, 1, "b", 1); /* not tracked: no unique index now */
    op_row(c, "insert", 1, 2, "b", 1); /* a duplicate is fine without the index */
    OK(c);
    op_ddl(c, 1, "create_index", "t", 3, "21:t_email_key2:2:1");
    ERR(c, DRIFT_SQLSTATE_UNIQUE);
    op_del(c, 1, 2);
    OK(c);
    op_ddl(c, 1, "create_index", "t", 3, "21:t_email_key2:2:1");
    OK(c);
    op_del(c, 1, 1); /* frees "b" (its row now), not "a" (its row when the tail last saw it) */
    OK(c);
    op_row(c, "insert", 1, 3, "b", 1);
    OK(c);
    op_row(c, "insert", 1, 4, "b", 1);
    ERR(c, DRIFT_SQLSTATE_UNIQUE);
}

static void test_index_not_matching_the_log_is_refused(void **state)
{
    ctx_t *c = *state;
    op_ddl(c, 1, "create_table", "t", 1, "20:t_email_key:2:1");
    op_row(c, "insert", 1, 1, "a", 1);
    OK(c);
    op_row(c, "insert", 1, 2, "b", 1);
    OK(c);
    s_index(c);
    /* the catalog is asked to start over a log that ends before what the index applied */
    drift_wcat_destroy(&c->cat);
    drift_wcat_t *c2 = drift_wcat_new(c->idx_dir, c->fx.dir, NULL);
    assert_int_equal(drift_wcat_open_index(c2), 2);
    drift_logr_t *lr;
    assert_int_equal(drift_logr_open(c->fx.dir, NULL, &lr), 0);
    drift_frame_t f;
    assert_int_equal(drift_logr_next(lr, &f, NULL), 1);
    assert_int_equal(drift_wcat_recover_frame(c2, &f, 1), 0);
    drift_logr_close(&lr);
    assert_int_equal(drift_wcat_replay(c2, 1, c->msg, sizeof c->msg), 0);
    drift_wcat_stats_t st;
    drift_wcat_stats(c2, &st);
    assert_int_equal(st.index_state, 2);
    assert_int_equal(st.base_seq, 0);
    assert_int_equal(st.live, 1);
    drift_wcat_destroy(&c2);
}

/* --bench: ns per op of the catalog's check for inserts into a never-defined table, a defined table
 * without unique indexes and a table with one (tail only: the worst case, no LMDB snapshot). */
static double s_bench_one(ctx_t *c, uint32_t table, int n, drift_cop_t kind, int round)
{
    drift_commit_op_t *ops = calloc((size_t)n, sizeof *ops);
    msgpack_object *rows = calloc((size_t)n, sizeof *rows);
    uint8_t *keys = malloc((size_t)n * 9);
    msgpack_sbuffer sb;
    msgpack_packer p;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&p, &sb, msgpack_sbuffer_write);
    for (int i = 0; i < n; i++) {
        char email[32];
        snprintf(email, sizeof email, "user%d-%d@example.com", round, i);
        msgpack_pack_array(&p, 3);
        msgpack_pack_int64(&p, i);
        s_str(&p, email);
        msgpack_pack_int64(&p, i % 7);
    }
    msgpack_zone z;
    msgpack_zone_init(&z, 1 << 20);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        drift_keybuf_t kb = {0};
        drift_keyenc_int(&kb, i);
        memcpy(keys + 9 * i, kb.buf, 9);
        drift_keybuf_free(&kb);
        assert_true(msgpack_unpack(sb.data, sb.size, &off, &z, &rows[i]) > 0); /* SUCCESS or EXTRA_BYTES */
        ops[i] = (drift_commit_op_t){.op = kind, .table = table, .key = keys + 9 * i, .key_len = 9, .row = &rows[i]};
    }
    uint64_t t0 = drift_now_mono_ns();
    for (int i = 0; i < n; i++) {
        if (drift_wcat_op(c->cat, &ops[i], 1, 0, c->fx.next_seq + (uint64_t)i, c->msg, sizeof c->msg))
            fail_msg("bench op refused: %s", c->msg);
        drift_wcat_txn_commit(c->cat);
    }
    double ns = (double)(drift_now_mono_ns() - t0) / n;
    msgpack_zone_destroy(&z);
    msgpack_sbuffer_destroy(&sb);
    free(keys);
    free(rows);
    free(ops);
    return ns;
}

static void test_bench(void **state)
{
    ctx_t *c = *state;
    op_ddl(c, 2, "create_table", "plain", 1, "11:plain_a:3:0");
    op_ddl(c, 3, "create_table", "uniq", 1, "12:uniq_email_key:2:1");
    OK(c);
    int n = getenv("BENCH_N") ? atoi(getenv("BENCH_N")) : 200000;
    double a = s_bench_one(c, 1, n, DRIFT_COP_INSERT, 0), b = s_bench_one(c, 2, n, DRIFT_COP_INSERT, 0);
    double u = s_bench_one(c, 3, n, DRIFT_COP_INSERT, 0);
    /* updates of the same rows to new values, twice: the second reuses the memory the first freed */
    s_bench_one(c, 3, n, DRIFT_COP_UPDATE, 1);
    double v = s_bench_one(c, 3, n, DRIFT_COP_UPDATE, 2);
    printf("catalog check per op (%d ops): insert into a never-defined table %.1f ns, into a defined table without "
           "unique index %.1f ns; with one unique index (tail only, no LMDB): insert %.1f ns (new memory), "
           "update %.1f ns\n",
           n, a, b, u, v);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--bench") == 0) {
        const struct CMUnitTest bench[] = {cmocka_unit_test_setup_teardown(test_bench, s_setup, s_teardown)};
        return cmocka_run_group_tests(bench, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ddl_validation, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_unique_tail_only, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_unique_with_index, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_create_unique_index, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_unique_index_dropped_and_back, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_index_not_matching_the_log_is_refused, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
