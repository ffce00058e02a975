/* tests/unit/test_engine.c — the SQL lexer, parser and evaluator of the query
 * worker (modules/query), and the chunking result sink. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ipc/msg.h"
#include "modules/query/engine.h"
#include "modules/query/lexer.h"
#include "modules/query/parser.h"
#include "modules/query/result.h"

/* Collects emitted replies (decoded) for inspection. */
typedef struct {
    int n;
    int more[8];
    msgpack_sbuffer sb[8];
} s_replies_t;

static int s_emit(void *arg, const void *data, size_t len, int more)
{
    s_replies_t *r = arg;
    if (r->n >= 8)
        return -1;
    msgpack_sbuffer_init(&r->sb[r->n]);
    msgpack_sbuffer_write(&r->sb[r->n], data, len);
    r->more[r->n++] = more;
    return 0;
}

static void s_replies_free(s_replies_t *r)
{
    for (int i = 0; i < r->n; i++)
        msgpack_sbuffer_destroy(&r->sb[i]);
    r->n = 0;
}

/* Runs sql with params (msgpack bytes of an array, or NULL) and returns the decoded single reply in *ret_m. */
static int s_run(const char *sql, const msgpack_object *params, drift_msg_t **ret_m, drift_sqlerr_t *err)
{
    drift_engine_t *e = drift_engine_new(NULL);
    drift_session_t *s = drift_session_new(e, 1);
    drift_proto_req_t req = {.has_id = 1};
    req.id.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
    req.id.via.u64 = 5;
    static s_replies_t reps;
    s_replies_free(&reps);
    drift_result_t *res = drift_result_new(&req, 1000, 1 << 20, s_emit, &reps);
    drift_stmt_input_t in = {.sql = sql, .sql_len = strlen(sql), .params = params};
    memset(err, 0, sizeof *err);
    int rc = drift_engine_execute(e, s, &in, drift_result_sink(res), err);
    if (rc == 0) {
        assert_int_equal(reps.n, 1);
        drift_msg_limits_t lim = drift_msg_limits(1 << 20);
        assert_int_equal(drift_msg_decode(reps.sb[0].data, reps.sb[0].size, &lim, ret_m, NULL, 0), 0);
    }
    drift_result_destroy(&res);
    drift_session_destroy(&s);
    drift_engine_destroy(&e);
    return rc;
}

static const msgpack_object *s_cell(drift_msg_t *m, uint32_t col)
{
    const msgpack_object *rows = drift_msg_map_get(drift_msg_root(m), "rows");
    assert_non_null(rows);
    assert_int_equal(rows->via.array.size, 1);
    return &rows->via.array.ptr[0].via.array.ptr[col];
}

static void s_expect_int(const char *sql, int64_t v)
{
    drift_msg_t *m = NULL;
    drift_sqlerr_t err;
    if (s_run(sql, NULL, &m, &err) != 0)
        fail_msg("%s: %s %s", sql, err.code, err.message);
    const msgpack_object *c = s_cell(m, 0);
    assert_true(c->type == MSGPACK_OBJECT_POSITIVE_INTEGER || c->type == MSGPACK_OBJECT_NEGATIVE_INTEGER);
    assert_int_equal(c->via.i64, v);
    drift_msg_destroy(&m);
}

static void s_expect_err(const char *sql, const char *code, uint32_t pos)
{
    drift_msg_t *m = NULL;
    drift_sqlerr_t err;
    int rc = s_run(sql, NULL, &m, &err);
    drift_msg_destroy(&m);
    if (rc != -1)
        fail_msg("%s: succeeded, expected %s", sql, code);
    if (strcmp(err.code, code) != 0)
        fail_msg("%s: expected %s, got %s %s", sql, code, err.code, err.message);
    if (pos)
        assert_int_equal(err.position, pos);
}

static void test_lexer(void **state)
{
    const char *src = "SELECT \"a\"\"b\", 'it''s', x'0aFF', 1.5e3, 42, $12, <> != <= || -- c\n /* b */ ;";
    drift_lexer_t *lx = drift_lexer_new(src, strlen(src));
    drift_tok_t t;
    char err[128];
    assert_int_equal(drift_lexer_next(lx, &t, err, sizeof err, NULL), 0);
    assert_int_equal(t.kind, DRIFT_TOK_KEYWORD);
    assert_int_equal(t.kw, DRIFT_KW_SELECT);
    assert_int_equal(drift_lexer_next(lx, &t, err, sizeof err, NULL), 0);
    assert_int_equal(t.kind, DRIFT_TOK_QIDENT);
    assert_int_equal(t.text_len, 3);
    assert_memory_equal(t.text, "a\"b", 3);
    drift_lexer_next(lx, &t, err, sizeof err, NULL); /* , */
    assert_int_equal(drift_lexer_next(lx, &t, err, sizeof err, NULL), 0);
    assert_int_equal(t.kind, DRIFT_TOK_STRING);
    assert_memory_equal(t.text, "it's", 4);
    drift_lexer_next(lx, &t, err, sizeof err, NULL);
    assert_int_equal(drift_lexer_next(lx, &t, err, sizeof err, NULL), 0);
    assert_int_equal(t.kind, DRIFT_TOK_BLOB);
    assert_int_equal(t.text_len, 2);
    assert_int_equal((uint8_t)t.text[1], 0xff);
    drift_lexer_next(lx, &t, err, sizeof err, NULL);
    drift_lexer_next(lx, &t, err, sizeof err, NULL);
    assert_int_equal(t.kind, DRIFT_TOK_REAL);
    assert_true(t.rval == 1500.0);
    drift_lexer_next(lx, &t, err, sizeof err, NULL);
    drift_lexer_next(lx, &t, err, sizeof err, NULL);
    assert_int_equal(t.kind, DRIFT_TOK_INTEGER);
    assert_int_equal(t.ival, 42);
    drift_lexer_next(lx, &t, err, sizeof err, NULL);
    drift_lexer_next(lx, &t, err, sizeof err, NULL);
    assert_int_equal(t.kind, DRIFT_TOK_PARAM);
    assert_int_equal(t.ival, 12);
    drift_lexer_next(lx, &t, err, sizeof err, NULL);
    drift_lexer_next(lx, &t, err, sizeof err, NULL);
    assert_int_equal(t.op, DRIFT_TOP_NE);
    drift_lexer_next(lx, &t, err, sizeof err, NULL);
    assert_int_equal(t.op, DRIFT_TOP_NE);
    drift_lexer_next(lx, &t, err, sizeof err, NULL);
    assert_int_equal(t.op, DRIFT_TOP_LE);
    drift_lexer_next(lx, &t, err, sizeof err, NULL);
    assert_int_equal(t.op, DRIFT_TOP_CONCAT);
    drift_lexer_next(lx, &t, err, sizeof err, NULL);
    assert_int_equal(t.op, DRIFT_TOP_SEMI);
    drift_lexer_next(lx, &t, err, sizeof err, NULL);
    assert_int_equal(t.kind, DRIFT_TOK_EOF);
    drift_lexer_destroy(&lx);

    static const char *const bad[] = {"'abc", "\"x", "x'0g'", "x'abc'", "$", "$0", "1e", "12abc", "/* open", "#"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lx = drift_lexer_new(bad[i], strlen(bad[i]));
        int rc = 0;
        for (int k = 0; k < 10 && rc == 0; k++) {
            rc = drift_lexer_next(lx, &t, err, sizeof err, NULL);
            if (rc == 0 && t.kind == DRIFT_TOK_EOF)
                break;
        }
        if (rc != -1)
            fail_msg("lexer accepted %s", bad[i]);
        drift_lexer_destroy(&lx);
    }
}

static void test_select_values(void **state)
{
    s_expect_int("SELECT 1", 1);
    s_expect_int("select 1 + 2 * 3", 7);
    s_expect_int("SELECT (1 + 2) * 3;", 9);
    s_expect_int("SELECT 7 / 2", 3);
    s_expect_int("SELECT -7 / 2", -3);
    s_expect_int("SELECT -7 % 3", -1);
    s_expect_int("SELECT -9223372036854775808", INT64_MIN);
    s_expect_int("SELECT 9223372036854775807", INT64_MAX);
    s_expect_int("SELECT - - 4 -- comment", 4);

    drift_msg_t *m = NULL;
    drift_sqlerr_t err;
    assert_int_equal(s_run("SELECT 1 AS one, 2.5 two, 'a' || 'b' || 3, NULL, TRUE AND NOT FALSE, 1 < 2.5, "
                           "NULL IS NULL, NULL AND FALSE, NULL OR TRUE, x'00ff', 1 = NULL",
                           NULL, &m, &err),
                     0);
    const msgpack_object *cols = drift_msg_map_get(drift_msg_root(m), "columns");
    assert_int_equal(cols->via.array.size, 11);
    assert_memory_equal(cols->via.array.ptr[0].via.str.ptr, "one", 3);
    assert_memory_equal(cols->via.array.ptr[1].via.str.ptr, "two", 3);
    assert_int_equal(cols->via.array.ptr[2].via.str.size, strlen("'a' || 'b' || 3"));
    const msgpack_object *types = drift_msg_map_get(drift_msg_root(m), "types");
    assert_memory_equal(types->via.array.ptr[1].via.str.ptr, "REAL", 4);
    assert_true(s_cell(m, 1)->via.f64 == 2.5);
    assert_int_equal(s_cell(m, 2)->via.str.size, 3);
    assert_memory_equal(s_cell(m, 2)->via.str.ptr, "ab3", 3);
    assert_int_equal(s_cell(m, 3)->type, MSGPACK_OBJECT_NIL);
    assert_true(s_cell(m, 4)->via.boolean);
    assert_true(s_cell(m, 5)->via.boolean);
    assert_true(s_cell(m, 6)->via.boolean);
    assert_int_equal(s_cell(m, 7)->type, MSGPACK_OBJECT_BOOLEAN);
    assert_false(s_cell(m, 7)->via.boolean);
    assert_true(s_cell(m, 8)->via.boolean);
    assert_int_equal(s_cell(m, 9)->type, MSGPACK_OBJECT_BIN);
    assert_int_equal(s_cell(m, 10)->type, MSGPACK_OBJECT_NIL);
    assert_non_null(drift_msg_map_get(drift_msg_root(m), "seq"));
    assert_null(drift_msg_map_get(drift_msg_root(m), "more"));
    drift_msg_destroy(&m);
}

static void test_params(void **state)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_int(&pk, 41);
    msgpack_pack_str(&pk, 2);
    msgpack_pack_str_body(&pk, "hi", 2);
    msgpack_pack_double(&pk, 0.5);
    drift_msg_limits_t lim = drift_msg_limits(1 << 20);
    drift_msg_t *pm = NULL;
    assert_int_equal(drift_msg_decode(sb.data, sb.size, &lim, &pm, NULL, 0), 0);
    drift_msg_t *m = NULL;
    drift_sqlerr_t err;
    assert_int_equal(s_run("SELECT $1 + 1 AS x, $2, $3 * 2, $1 > $3", drift_msg_root(pm), &m, &err), 0);
    assert_int_equal(s_cell(m, 0)->via.i64, 42);
    assert_memory_equal(s_cell(m, 1)->via.str.ptr, "hi", 2);
    assert_true(s_cell(m, 2)->via.f64 == 1.0);
    assert_true(s_cell(m, 3)->via.boolean);
    const msgpack_object *cols = drift_msg_map_get(drift_msg_root(m), "columns");
    assert_memory_equal(cols->via.array.ptr[0].via.str.ptr, "x", 1);
    drift_msg_destroy(&m);
    assert_int_equal(s_run("SELECT $4", drift_msg_root(pm), &m, &err), -1);
    assert_string_equal(err.code, "07001");
    /* text in arithmetic reads as a number, 0 when it is not one (SQLite) */
    assert_int_equal(s_run("SELECT $2 + 1", drift_msg_root(pm), &m, &err), 0);
    assert_int_equal(s_cell(m, 0)->via.i64, 1);
    drift_msg_destroy(&m);
    drift_msg_destroy(&pm);
    msgpack_sbuffer_destroy(&sb);
}

static void test_errors(void **state)
{
    s_expect_err("SELECT", "42601", 7);
    s_expect_err("SELECT 1 +", "42601", 11);
    s_expect_err("SELECT (1", "42601", 10);
    s_expect_err("SELEC 1", "42601", 1);
    s_expect_err("SELECT 1 2", "42601", 10);
    s_expect_err("SELECT 1; SELECT 2", "42601", 11);
    s_expect_err("SELECT 'abc", "42601", 8);
    s_expect_err("", "42601", 0);
    s_expect_err("SELECT foo", "42703", 8);
    s_expect_err("SELECT nosuchfn(1)", "42883", 8);
    s_expect_err("SELECT * FROM t", "42P01", 15); /* this engine has no data directory: no tables */
    s_expect_err("INSERT INTO t VALUES (1)", "42P01", 0);
    s_expect_err("SAVEPOINT a", "25P01", 1);
    s_expect_err("CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END", "0A000", 1);
    s_expect_err("  SELECT é + 1", "42703", 10);
    /* deep nesting is an error, not a stack overflow */
    char deep[4000];
    strcpy(deep, "SELECT ");
    for (int i = 0; i < 1000; i++)
        strcat(deep, "(");
    strcat(deep, "1");
    s_expect_err(deep, "54001", 0);
}

static void test_chunks(void **state)
{
    s_replies_t reps = {0};
    drift_proto_req_t req = {.has_id = 1};
    req.id.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
    req.id.via.u64 = 77;
    drift_result_t *res = drift_result_new(&req, 1000, 1 << 20, s_emit, &reps);
    drift_sink_t *sink = drift_result_sink(res);
    const char *names[] = {"n"}, *types[] = {"INTEGER"};
    assert_int_equal(sink->columns(sink, 1, names, types), 0);
    for (int i = 0; i < 2500; i++) {
        drift_value_t v = {.type = DRIFT_VAL_INT, .u.i = i};
        assert_int_equal(sink->row(sink, &v, 1), 0);
    }
    assert_int_equal(sink->done(sink, -1, 9), 0);
    assert_int_equal(reps.n, 3);
    int64_t next = 0;
    for (int k = 0; k < 3; k++) {
        drift_msg_limits_t lim = drift_msg_limits(1 << 24);
        drift_msg_t *m = NULL;
        assert_int_equal(drift_msg_decode(reps.sb[k].data, reps.sb[k].size, &lim, &m, NULL, 0), 0);
        const msgpack_object *root = drift_msg_root(m);
        assert_int_equal(drift_msg_map_get(root, "id")->via.u64, 77);
        assert_int_equal(reps.more[k], k < 2);
        const msgpack_object *more = drift_msg_map_get(root, "more");
        if (k < 2)
            assert_true(more && more->via.boolean);
        else
            assert_null(more);
        assert_int_equal(drift_msg_map_get(root, "columns") != NULL, k == 0);
        assert_int_equal(drift_msg_map_get(root, "seq") != NULL, k == 2);
        const msgpack_object *rows = drift_msg_map_get(root, "rows");
        assert_int_equal(rows->via.array.size, k < 2 ? 1000 : 500);
        for (uint32_t i = 0; i < rows->via.array.size; i++)
            assert_int_equal(rows->via.array.ptr[i].via.array.ptr[0].via.i64, next++);
        drift_msg_destroy(&m);
    }
    assert_int_equal(next, 2500);
    drift_result_destroy(&res);
    s_replies_free(&reps);

    /* chunk by bytes: 100 rows of 20 KiB strings with a 64 KiB limit */
    res = drift_result_new(&req, 1000, 64 << 10, s_emit, &reps);
    sink = drift_result_sink(res);
    sink->columns(sink, 1, names, types);
    static char big[20 << 10];
    memset(big, 'x', sizeof big);
    int emitted_err = 0;
    for (int i = 0; i < 100 && !emitted_err; i++) {
        drift_value_t v = {.type = DRIFT_VAL_TEXT, .u.s = {big, sizeof big}};
        emitted_err = sink->row(sink, &v, 1) < 0;
    }
    /* 8 replies fit the collector; it refuses the 9th, which must abort the statement */
    assert_true(emitted_err);
    assert_int_equal(reps.n, 8);
    drift_result_destroy(&res);
    s_replies_free(&reps);
}

/* Runs sql in session s; returns 0 or the error (code in err). */
static int s_in(drift_engine_t *e, drift_session_t *s, const char *sql, drift_sqlerr_t *err)
{
    s_replies_t reps = {0};
    drift_proto_req_t req = {.has_id = 1};
    req.id.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
    drift_result_t *res = drift_result_new(&req, 1000, 1 << 20, s_emit, &reps);
    drift_result_set_session(res, s);
    drift_stmt_input_t in = {.sql = sql, .sql_len = strlen(sql)};
    memset(err, 0, sizeof *err);
    int rc = drift_engine_execute(e, s, &in, drift_result_sink(res), err);
    if (rc == 0) {
        /* the reply reports the state after the statement */
        drift_msg_limits_t lim = drift_msg_limits(1 << 20);
        drift_msg_t *m = NULL;
        assert_int_equal(drift_msg_decode(reps.sb[0].data, reps.sb[0].size, &lim, &m, NULL, 0), 0);
        const msgpack_object *txn = drift_msg_map_get(drift_msg_root(m), "txn");
        const char *want = drift_txn_name(drift_session_txn(s));
        assert_int_equal(txn->via.str.size, strlen(want));
        assert_memory_equal(txn->via.str.ptr, want, strlen(want));
        drift_msg_destroy(&m);
    }
    drift_result_destroy(&res);
    s_replies_free(&reps);
    return rc;
}

static void test_transactions(void **state)
{
    drift_engine_t *e = drift_engine_new(NULL);
    drift_session_t *s = drift_session_new(e, 1);
    drift_sqlerr_t err;
    assert_int_equal(s_in(e, s, "ROLLBACK", &err), 0); /* no-op when idle */
    assert_int_equal(s_in(e, s, "COMMIT", &err), 0);
    assert_int_equal(drift_session_txn(s), DRIFT_TXN_IDLE);
    assert_int_equal(s_in(e, s, "BEGIN", &err), 0);
    assert_int_equal(drift_session_txn(s), DRIFT_TXN_OPEN);
    assert_int_equal(s_in(e, s, "SELECT 1", &err), 0);
    assert_int_equal(s_in(e, s, "commit work;", &err), 0);
    assert_int_equal(drift_session_txn(s), DRIFT_TXN_IDLE);
    /* an error fails the transaction; only ROLLBACK/COMMIT end it */
    assert_int_equal(s_in(e, s, "START TRANSACTION ISOLATION LEVEL SERIALIZABLE", &err), 0);
    assert_int_equal(s_in(e, s, "SELECT 1/0", &err), 0); /* NULL, as SQLite */
    assert_int_equal(s_in(e, s, "SELECT nosuchcolumn", &err), -1);
    assert_string_equal(err.code, "42703");
    assert_int_equal(drift_session_txn(s), DRIFT_TXN_FAILED);
    assert_int_equal(s_in(e, s, "SELECT 1", &err), -1);
    assert_string_equal(err.code, "25P02");
    assert_int_equal(s_in(e, s, "COMMIT", &err), -1);
    assert_string_equal(err.code, "40000");
    assert_int_equal(drift_session_txn(s), DRIFT_TXN_IDLE);
    assert_int_equal(s_in(e, s, "BEGIN TRANSACTION ISOLATION LEVEL READ COMMITTED", &err), 0);
    assert_int_equal(s_in(e, s, "BEGIN", &err), -1);
    assert_string_equal(err.code, "25001");
    assert_int_equal(s_in(e, s, "ABORT", &err), 0);
    assert_int_equal(drift_session_txn(s), DRIFT_TXN_IDLE);
    assert_int_equal(s_in(e, s, "BEGIN ISOLATION LEVEL SOMETIMES", &err), -1);
    assert_string_equal(err.code, "42601");
    assert_int_equal(s_in(e, s, "START", &err), -1);
    assert_string_equal(err.code, "42601");
    assert_int_equal(drift_session_txn(s), DRIFT_TXN_IDLE);
    drift_session_destroy(&s);
    drift_engine_destroy(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lexer),  cmocka_unit_test(test_select_values), cmocka_unit_test(test_params),
        cmocka_unit_test(test_errors), cmocka_unit_test(test_chunks),        cmocka_unit_test(test_transactions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
