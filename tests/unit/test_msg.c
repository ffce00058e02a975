/* tests/unit/test_msg.c — the bounded validator/decoder (ipc/msg) and the
 * request parser / reply builder (ipc/proto). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/errors.h"
#include "ipc/msg.h"
#include "ipc/proto.h"

/* Packs a request map {v:1, id:<id>, op:<op>[, sql:<sql>]} into sb. */
static void s_pack_req(msgpack_sbuffer *sb, int64_t id, const char *op, const char *sql)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, sql ? 4 : 3);
    drift_proto_pack_str(&pk, "v");
    msgpack_pack_int(&pk, 1);
    drift_proto_pack_str(&pk, "id");
    msgpack_pack_int64(&pk, id);
    drift_proto_pack_str(&pk, "op");
    drift_proto_pack_str(&pk, op);
    if (sql) {
        drift_proto_pack_str(&pk, "sql");
        drift_proto_pack_str(&pk, sql);
    }
}

static int s_validate(const void *b, size_t n)
{
    drift_msg_limits_t lim = drift_msg_limits(1 << 20);
    char err[256];
    return drift_msg_validate(b, n, &lim, NULL, err, sizeof err);
}

static void test_valid_request(void **state)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    s_pack_req(&sb, 42, "query", "SELECT 1");
    drift_msg_limits_t lim = drift_msg_limits(1 << 20);
    drift_msg_t *m = NULL;
    char err[256] = "";
    assert_int_equal(drift_msg_decode(sb.data, sb.size, &lim, &m, err, sizeof err), 0);
    drift_proto_req_t req;
    assert_int_equal(drift_proto_parse(drift_msg_root(m), &req, err, sizeof err), 0);
    assert_int_equal(req.op, DRIFT_OP_QUERY);
    assert_true(req.has_id);
    assert_int_equal(req.id.via.i64, 42);
    assert_int_equal(req.sql_len, 8);
    assert_memory_equal(req.sql, "SELECT 1", 8);
    assert_int_equal(req.chunk_rows, DRIFT_PROTO_CHUNK_ROWS_DEFAULT);
    drift_msg_destroy(&m);
    assert_null(m);
    msgpack_sbuffer_destroy(&sb);
}

static void test_hostile_fixed(void **state)
{
    static const uint8_t dd[] = {0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0x00, 0x00, 0x00, 0x00};
    assert_int_equal(s_validate(dd, sizeof dd), DRIFT_ETRUNCATED);
    assert_int_equal(s_validate("", 0), DRIFT_EPROTO);
    static const uint8_t c1[] = {0xc1};
    assert_int_equal(s_validate(c1, 1), DRIFT_EPROTO);
    /* str32 declaring 4 GiB */
    static const uint8_t bigstr[] = {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'};
    assert_int_equal(s_validate(bigstr, sizeof bigstr), DRIFT_ETRUNCATED);
    /* map32 declaring 2^32-1 pairs */
    static const uint8_t bigmap[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0};
    assert_int_equal(s_validate(bigmap, sizeof bigmap), DRIFT_ETRUNCATED);
    /* bin16 cut short */
    static const uint8_t bin[] = {0xc5, 0x00};
    assert_int_equal(s_validate(bin, sizeof bin), DRIFT_ETRUNCATED);
    /* trailing bytes */
    static const uint8_t trail[] = {0xc0, 0xc0};
    assert_int_equal(s_validate(trail, sizeof trail), DRIFT_EPROTO);
    /* ext types refused */
    static const uint8_t ext[] = {0xd4, 0x01, 0x00};
    assert_int_equal(s_validate(ext, sizeof ext), DRIFT_EPROTO);
    /* fixarray with a missing element */
    static const uint8_t arr[] = {0x92, 0x01};
    assert_int_equal(s_validate(arr, sizeof arr), DRIFT_ETRUNCATED);
}

static void test_depth(void **state)
{
    uint8_t buf[1001];
    memset(buf, 0x91, 1000); /* 1000 nested one-element arrays */
    buf[1000] = 0xc0;
    assert_int_equal(s_validate(buf, sizeof buf), DRIFT_ETOOBIG);
    /* exactly DRIFT_MSG_MAX_DEPTH levels validates and decodes */
    size_t d = DRIFT_MSG_MAX_DEPTH;
    uint8_t *ok = buf + (1000 - d);
    drift_msg_limits_t lim = drift_msg_limits(1 << 20);
    drift_msg_stats_t st;
    assert_int_equal(drift_msg_validate(ok, d + 1, &lim, &st, NULL, 0), 0);
    assert_int_equal(st.depth, d);
    assert_int_equal(st.elems, d + 1);
    drift_msg_t *m = NULL;
    assert_int_equal(drift_msg_decode(ok, d + 1, &lim, &m, NULL, 0), 0);
    const msgpack_object *o = drift_msg_root(m);
    for (size_t i = 0; i < d; i++) {
        assert_int_equal(o->type, MSGPACK_OBJECT_ARRAY);
        o = &o->via.array.ptr[0];
    }
    assert_int_equal(o->type, MSGPACK_OBJECT_NIL);
    drift_msg_destroy(&m);
    /* one more level is refused */
    assert_int_equal(drift_msg_validate(ok - 1, d + 2, &lim, NULL, NULL, 0), DRIFT_ETOOBIG);
    /* an empty container needs a level too (msgpack-c checks its stack before the count):
     * d arrays around an empty map is refused by both, d-1 arrays around it accepted by both
     * (found by the fuzzer: tests/fuzz/corpus/crash-empty-container-at-depth-33) */
    uint8_t em[DRIFT_MSG_MAX_DEPTH + 1];
    memset(em, 0x91, sizeof em);
    em[d] = 0x80;
    assert_int_equal(drift_msg_validate(em, d + 1, &lim, NULL, NULL, 0), DRIFT_ETOOBIG);
    assert_int_equal(drift_msg_decode(em, d + 1, &lim, &m, NULL, 0), DRIFT_ETOOBIG);
    assert_int_equal(drift_msg_validate(em + 1, d, &lim, NULL, NULL, 0), 0);
    assert_int_equal(drift_msg_decode(em + 1, d, &lim, &m, NULL, 0), 0);
    drift_msg_destroy(&m);
    /* a configured smaller depth */
    lim.max_depth = 3;
    assert_int_equal(drift_msg_validate(buf + 997, 4, &lim, NULL, NULL, 0), 0);
    assert_int_equal(drift_msg_validate(buf + 996, 5, &lim, NULL, NULL, 0), DRIFT_ETOOBIG);
}

/* drift_msg_skip: the size of the first value, with more bytes after it; truncation is an error. */
static void test_skip(void **state)
{
    const uint8_t two[] = {0x92, 0x01, 0xa2, 'h', 'i', 0xc3, 0xff}; /* [1, "hi"] then true, then junk */
    size_t used = 0;
    assert_int_equal(drift_msg_skip(two, sizeof two, &used), 0);
    assert_int_equal(used, 5);
    assert_int_equal(drift_msg_skip(two + 5, 2, &used), 0);
    assert_int_equal(used, 1);
    assert_int_equal(drift_msg_skip(two, 4, &used), DRIFT_ETRUNCATED);
    assert_int_equal(drift_msg_skip(two, 0, &used), DRIFT_ETRUNCATED);
}

static void test_limits(void **state)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 100);
    for (int i = 0; i < 100; i++)
        msgpack_pack_int(&pk, i);
    drift_msg_limits_t lim = drift_msg_limits(1 << 20);
    lim.max_elems = 50;
    assert_int_equal(drift_msg_validate(sb.data, sb.size, &lim, NULL, NULL, 0), DRIFT_ETOOBIG);
    lim.max_elems = 101;
    assert_int_equal(drift_msg_validate(sb.data, sb.size, &lim, NULL, NULL, 0), 0);
    lim.max_size = sb.size - 1;
    assert_int_equal(drift_msg_validate(sb.data, sb.size, &lim, NULL, NULL, 0), DRIFT_ETOOBIG);
    msgpack_sbuffer_destroy(&sb);
}

static void test_peek_id(void **state)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    s_pack_req(&sb, 77, "query", "SELECT 1");
    int64_t id = 0;
    int us = 0;
    /* cut the message in the middle of the sql string: still finds the id */
    assert_int_equal(drift_msg_peek_id(sb.data, sb.size - 3, &id, &us), 1);
    assert_int_equal(id, 77);
    assert_int_equal(s_validate(sb.data, sb.size - 3), DRIFT_ETRUNCATED);
    msgpack_sbuffer_clear(&sb);
    /* negative id, after a broken? no: after other keys */
    s_pack_req(&sb, -5, "ping", NULL);
    assert_int_equal(drift_msg_peek_id(sb.data, sb.size, &id, &us), 1);
    assert_int_equal(id, -5);
    assert_int_equal(us, 0);
    /* no id */
    static const uint8_t noid[] = {0x81, 0xa2, 'o', 'p', 0xa4, 'p', 'i', 'n', 'g'};
    assert_int_equal(drift_msg_peek_id(noid, sizeof noid, &id, &us), 0);
    /* id that is a string */
    static const uint8_t sid[] = {0x81, 0xa2, 'i', 'd', 0xa1, 'x'};
    assert_int_equal(drift_msg_peek_id(sid, sizeof sid, &id, &us), 0);
    /* not a map */
    assert_int_equal(drift_msg_peek_id("\x93", 1, &id, &us), 0);
    msgpack_sbuffer_destroy(&sb);
}

/* Decodes b and parses it as a request; returns the parse result. */
static int s_parse(const void *b, size_t n, drift_proto_req_t *req, char *err, size_t errcap)
{
    drift_msg_limits_t lim = drift_msg_limits(1 << 20);
    drift_msg_t *m = NULL;
    int rc = drift_msg_decode(b, n, &lim, &m, err, errcap);
    if (rc < 0)
        return rc;
    rc = drift_proto_parse(drift_msg_root(m), req, err, errcap);
    drift_msg_destroy(&m);
    return rc;
}

static void test_parse_errors(void **state)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    drift_proto_req_t req;
    char err[256];

    s_pack_req(&sb, 1, "frobnicate", NULL);
    assert_int_equal(s_parse(sb.data, sb.size, &req, err, sizeof err), DRIFT_EPROTO);
    assert_true(req.has_id);
    assert_non_null(strstr(err, "unknown op"));
    msgpack_sbuffer_clear(&sb);

    s_pack_req(&sb, 2, "query", NULL); /* no sql */
    assert_int_equal(s_parse(sb.data, sb.size, &req, err, sizeof err), DRIFT_EPROTO);
    assert_non_null(strstr(err, "sql"));
    msgpack_sbuffer_clear(&sb);

    /* wrong types: id as string; sql as int; params as map */
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    drift_proto_pack_str(&pk, "id");
    drift_proto_pack_str(&pk, "7");
    drift_proto_pack_str(&pk, "op");
    drift_proto_pack_str(&pk, "ping");
    assert_int_equal(s_parse(sb.data, sb.size, &req, err, sizeof err), DRIFT_EPROTO);
    assert_false(req.has_id);
    msgpack_sbuffer_clear(&sb);

    msgpack_pack_map(&pk, 3);
    drift_proto_pack_str(&pk, "id");
    msgpack_pack_int(&pk, 3);
    drift_proto_pack_str(&pk, "op");
    drift_proto_pack_str(&pk, "query");
    drift_proto_pack_str(&pk, "sql");
    msgpack_pack_int(&pk, 5);
    assert_int_equal(s_parse(sb.data, sb.size, &req, err, sizeof err), DRIFT_EPROTO);
    assert_true(req.has_id);
    msgpack_sbuffer_clear(&sb);

    msgpack_pack_map(&pk, 4);
    drift_proto_pack_str(&pk, "id");
    msgpack_pack_int(&pk, 4);
    drift_proto_pack_str(&pk, "op");
    drift_proto_pack_str(&pk, "query");
    drift_proto_pack_str(&pk, "sql");
    drift_proto_pack_str(&pk, "SELECT $1");
    drift_proto_pack_str(&pk, "params");
    msgpack_pack_map(&pk, 0);
    assert_int_equal(s_parse(sb.data, sb.size, &req, err, sizeof err), DRIFT_EPROTO);
    msgpack_sbuffer_clear(&sb);

    /* version 2 */
    msgpack_pack_map(&pk, 3);
    drift_proto_pack_str(&pk, "v");
    msgpack_pack_int(&pk, 2);
    drift_proto_pack_str(&pk, "id");
    msgpack_pack_int(&pk, 5);
    drift_proto_pack_str(&pk, "op");
    drift_proto_pack_str(&pk, "ping");
    assert_int_equal(s_parse(sb.data, sb.size, &req, err, sizeof err), DRIFT_EPROTO);
    assert_non_null(strstr(err, "version"));
    msgpack_sbuffer_clear(&sb);

    /* not a map */
    msgpack_pack_array(&pk, 0);
    assert_int_equal(s_parse(sb.data, sb.size, &req, err, sizeof err), DRIFT_EPROTO);
    msgpack_sbuffer_clear(&sb);

    /* valid optional fields */
    msgpack_pack_map(&pk, 6);
    drift_proto_pack_str(&pk, "id");
    msgpack_pack_uint64(&pk, UINT64_MAX);
    drift_proto_pack_str(&pk, "op");
    drift_proto_pack_str(&pk, "query");
    drift_proto_pack_str(&pk, "sql");
    drift_proto_pack_str(&pk, "SELECT $1");
    drift_proto_pack_str(&pk, "params");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_int(&pk, 9);
    drift_proto_pack_str(&pk, "traceparent");
    drift_proto_pack_str(&pk, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    drift_proto_pack_str(&pk, "chunk_rows");
    msgpack_pack_int(&pk, 10);
    assert_int_equal(s_parse(sb.data, sb.size, &req, err, sizeof err), 0);
    assert_int_equal(req.id.via.u64, UINT64_MAX);
    assert_int_equal(req.chunk_rows, 10);
    assert_int_equal(req.traceparent_len, 55);
    msgpack_sbuffer_destroy(&sb);
}

static void test_error_reply(void **state)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    drift_proto_req_t req = {.has_id = 1};
    req.id.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
    req.id.via.u64 = 9;
    drift_proto_error(&sb, &req, DRIFT_SQLSTATE_BUSY, "busy", 0, 12, "idle");
    drift_msg_limits_t lim = drift_msg_limits(1 << 20);
    drift_msg_t *m = NULL;
    assert_int_equal(drift_msg_decode(sb.data, sb.size, &lim, &m, NULL, 0), 0);
    const msgpack_object *root = drift_msg_root(m);
    assert_int_equal(drift_msg_map_get(root, "id")->via.u64, 9);
    assert_false(drift_msg_map_get(root, "ok")->via.boolean);
    const msgpack_object *e = drift_msg_map_get(root, "error");
    assert_non_null(e);
    const msgpack_object *code = drift_msg_map_get(e, "code");
    assert_memory_equal(code->via.str.ptr, "53300", 5);
    assert_int_equal(drift_msg_map_get(e, "retry_after_ms")->via.u64, 12);
    assert_null(drift_msg_map_get(e, "position"));
    drift_msg_destroy(&m);
    msgpack_sbuffer_destroy(&sb);
}

static void test_wire(void **state)
{
    drift_wire_hdr_t h = {.type = DRIFT_WIRE_REP,
                          .flags = DRIFT_WIRE_F_MORE,
                          .aux = 0x01020304,
                          .token = 0x1122334455667788ull,
                          .session = 99};
    uint8_t b[DRIFT_WIRE_HDR_SIZE];
    drift_wire_encode(&h, b);
    drift_wire_hdr_t g;
    assert_int_equal(drift_wire_decode(b, sizeof b, &g), 0);
    assert_int_equal(g.type, h.type);
    assert_int_equal(g.flags, h.flags);
    assert_int_equal(g.aux, h.aux);
    assert_int_equal(g.token, h.token);
    assert_int_equal(g.session, h.session);
    assert_int_equal(drift_wire_decode(b, sizeof b - 1, &g), DRIFT_EPROTO);
    b[0] = 99;
    assert_int_equal(drift_wire_decode(b, sizeof b, &g), DRIFT_EPROTO);
}

/* Random bytes and random mutations of a valid request never crash and never
 * validate something msgpack-c then fails to decode. */
static void test_random(void **state)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    s_pack_req(&sb, 1234, "query", "SELECT $1 + 1 AS x");
    uint8_t buf[256];
    srand(7);
    drift_msg_limits_t lim = drift_msg_limits(1 << 20);
    int valid = 0;
    for (int i = 0; i < 200000; i++) {
        size_t n;
        if (i & 1) {
            n = (size_t)(rand() % (int)sizeof buf);
            for (size_t j = 0; j < n; j++)
                buf[j] = (uint8_t)rand();
        } else {
            n = sb.size;
            memcpy(buf, sb.data, n);
            for (int k = 0; k < 1 + rand() % 3; k++)
                buf[rand() % (int)n] = (uint8_t)rand();
            if (rand() % 4 == 0)
                n = (size_t)(rand() % (int)n);
        }
        drift_msg_t *m = NULL;
        if (drift_msg_validate(buf, n, &lim, NULL, NULL, 0) == 0) {
            valid++;
            assert_int_equal(drift_msg_decode(buf, n, &lim, &m, NULL, 0), 0);
            drift_proto_req_t req;
            (void)drift_proto_parse(drift_msg_root(m), &req, NULL, 0);
            drift_msg_destroy(&m);
        }
        int64_t id;
        (void)drift_msg_peek_id(buf, n, &id, NULL);
    }
    assert_true(valid > 0);
    msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_request), cmocka_unit_test(test_hostile_fixed), cmocka_unit_test(test_depth),
        cmocka_unit_test(test_skip), cmocka_unit_test(test_limits),        cmocka_unit_test(test_peek_id),       cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_error_reply),   cmocka_unit_test(test_wire),          cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
