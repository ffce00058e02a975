/* tests/unit/test_commit.c — the commit protocol codec (ipc/commit.h): a request
 * built with the client helpers parses back; its frame body decodes the same way
 * through the full decoder and the allocation-free key walk; malformed requests
 * are refused with a message; every truncation and random bytes never crash. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/errors.h"
#include "ipc/commit.h"
#include "ipc/msg.h"

typedef struct {
    int n;
    drift_cop_t ops[16];
    uint32_t tables[16];
    char keys[16][16];
    int has_row[16];
} seen_t;

static int s_seen(const drift_commit_op_t *op, void *arg)
{
    seen_t *s = arg;
    if (s->n >= 16)
        return -1;
    s->ops[s->n] = op->op;
    s->tables[s->n] = op->table;
    memcpy(s->keys[s->n], op->key ? (const char *)op->key : "", op->key_len < 15 ? op->key_len : 15);
    s->keys[s->n][op->key_len < 15 ? op->key_len : 15] = 0;
    s->has_row[s->n] = op->row != NULL;
    s->n++;
    return 0;
}

/* Builds a 4-op serializable request. */
static void s_build(msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    drift_commit_pack_request(&pk, 77, 5, DRIFT_ISO_SERIALIZABLE, 4, 2);
    static const uint8_t row[] = {0x82, 0xa1, 'a', 0x01, 0xa1, 'b', 0x92, 0xc3, 0xc0}; /* {a:1,b:[true,nil]} */
    drift_commit_pack_op(&pk, DRIFT_COP_INSERT, 1, "k1", 2, row, sizeof row);
    drift_commit_pack_op(&pk, DRIFT_COP_PATCH, 2, "k2", 2, row, sizeof row);
    drift_commit_pack_op(&pk, DRIFT_COP_DELETE, 3, "k3", 2, NULL, 0);
    drift_commit_pack_op(&pk, DRIFT_COP_DDL, 4, NULL, 0, row, sizeof row);
    drift_commit_pack_reads_header(&pk, 2);
    drift_commit_pack_read(&pk, 1, "r1", 2);
    drift_commit_pack_read(&pk, 9, NULL, 0);
}

static void t_round_trip(void **state)
{
    (void)state;
    msgpack_sbuffer sb, body;
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_init(&body);
    s_build(&sb);
    drift_msg_limits_t lim = drift_msg_limits(1 << 20);
    drift_msg_t *msg;
    char err[256];
    assert_int_equal(drift_msg_decode(sb.data, sb.size, &lim, &msg, err, sizeof err), 0);
    drift_commit_req_t req;
    assert_int_equal(drift_commit_parse(drift_msg_root(msg), &req, err, sizeof err), 0);
    assert_int_equal(req.kind, DRIFT_CREQ_COMMIT);
    assert_int_equal(req.snapshot, 5);
    assert_int_equal(req.iso, DRIFT_ISO_SERIALIZABLE);
    assert_int_equal(req.nops, 4);
    assert_int_equal(req.nreads, 2);
    assert_true(req.has_id);
    assert_int_equal(req.id.via.u64, 77);
    assert_int_equal(req.reads[1].whole_table, 1);
    assert_int_equal(req.reads[1].table, 9);
    assert_memory_equal(req.reads[0].key, "r1", 2);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &body, msgpack_sbuffer_write);
    drift_commit_pack_body(&pk, &req);
    seen_t a = {0}, b = {0};
    assert_int_equal(drift_commit_body_foreach(body.data, body.size, s_seen, &a, err, sizeof err), 0);
    assert_int_equal(drift_commit_body_keys(body.data, body.size, s_seen, &b, err, sizeof err), 0);
    assert_int_equal(a.n, 4);
    assert_int_equal(b.n, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(a.ops[i], b.ops[i]);
        assert_int_equal(a.tables[i], b.tables[i]);
        assert_string_equal(a.keys[i], b.keys[i]);
        assert_int_equal(b.has_row[i], 0); /* the key walk never decodes rows */
    }
    assert_int_equal(a.ops[0], DRIFT_COP_INSERT);
    assert_int_equal(a.ops[3], DRIFT_COP_DDL);
    assert_string_equal(a.keys[2], "k3");
    assert_int_equal(a.has_row[2], 0);
    assert_int_equal(a.has_row[0], 1);
    /* Every truncation of the body is an error, never a crash or a partial success. */
    for (size_t cut = 0; cut < body.size; cut++) {
        seen_t c = {0};
        assert_true(drift_commit_body_keys(body.data, cut, s_seen, &c, err, sizeof err) < 0);
        assert_true(drift_commit_body_foreach(body.data, cut, NULL, NULL, err, sizeof err) < 0);
    }
    drift_commit_req_clear(&req);
    drift_msg_destroy(&msg);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&body);
}

/* Parses a request given as a packed literal; returns the parse result. */
static int s_parse_bytes(const void *buf, size_t len, char *err, size_t cap)
{
    drift_msg_limits_t lim = drift_msg_limits(1 << 20);
    drift_msg_t *msg;
    int rc = drift_msg_decode(buf, len, &lim, &msg, err, cap);
    if (rc < 0)
        return rc;
    drift_commit_req_t req;
    rc = drift_commit_parse(drift_msg_root(msg), &req, err, cap);
    drift_commit_req_clear(&req);
    drift_msg_destroy(&msg);
    return rc;
}

static void t_malformed(void **state)
{
    (void)state;
    char err[256];
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    /* Each case: build, expect DRIFT_EPROTO with a message. */
    for (int c = 0; c < 7; c++) {
        sb.size = 0;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        switch (c) {
        case 0: /* not a map */ msgpack_pack_array(&pk, 0); break;
        case 1: /* ops empty */ drift_commit_pack_request(&pk, 1, 0, DRIFT_ISO_READ_COMMITTED, 0, 0); break;
        case 2: /* insert without row */
            drift_commit_pack_request(&pk, 1, 0, DRIFT_ISO_READ_COMMITTED, 1, 0);
            drift_commit_pack_op(&pk, DRIFT_COP_INSERT, 1, "k", 1, NULL, 0);
            break;
        case 3: /* delete with a row */
            drift_commit_pack_request(&pk, 1, 0, DRIFT_ISO_READ_COMMITTED, 1, 0);
            drift_commit_pack_op(&pk, DRIFT_COP_DELETE, 1, "k", 1, "\xc0", 1);
            break;
        case 4: /* update without key */
            drift_commit_pack_request(&pk, 1, 0, DRIFT_ISO_READ_COMMITTED, 1, 0);
            drift_commit_pack_op(&pk, DRIFT_COP_UPDATE, 1, NULL, 0, "\xc0", 1);
            break;
        case 5: /* reads on a read committed transaction */
            drift_commit_pack_request(&pk, 1, 0, DRIFT_ISO_READ_COMMITTED, 1, 1);
            drift_commit_pack_op(&pk, DRIFT_COP_INSERT, 1, "k", 1, "\xc0", 1);
            drift_commit_pack_reads_header(&pk, 1);
            drift_commit_pack_read(&pk, 1, NULL, 0);
            break;
        case 6: /* id is a string */
            msgpack_pack_map(&pk, 1);
            msgpack_pack_str_with_body(&pk, "id", 2);
            msgpack_pack_str_with_body(&pk, "x", 1);
            break;
        }
        err[0] = 0;
        assert_int_equal(s_parse_bytes(sb.data, sb.size, err, sizeof err), DRIFT_EPROTO);
        assert_true(err[0] != 0);
    }
    msgpack_sbuffer_destroy(&sb);
}

/* Packs a one-update request whose op carries the given delta bytes. */
static void s_delta_req(msgpack_sbuffer *sb, const void *delta, size_t len, drift_cop_t op)
{
    msgpack_packer pk;
    sb->size = 0;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    drift_commit_pack_request(&pk, 3, 1, DRIFT_ISO_REPEATABLE_READ, 1, 0);
    drift_commit_pack_op_delta(&pk, op, 7, "k", 1, op == DRIFT_COP_DELETE ? NULL : "\x92\x01\x02",
                               op == DRIFT_COP_DELETE ? 0 : 3, delta, len);
}

/* The optional "delta" of an update op (READ COMMITTED re-evaluation): parsed, shape-checked, never in the body. */
static void t_delta(void **state)
{
    (void)state;
    char err[256];
    msgpack_sbuffer sb, d, body;
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_init(&d);
    msgpack_sbuffer_init(&body);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &d, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 7); /* [base 42, 1 add -5, 0 set "x"] */
    msgpack_pack_uint64(&pk, 42);
    msgpack_pack_uint32(&pk, 1);
    msgpack_pack_str_with_body(&pk, "add", 3);
    msgpack_pack_int64(&pk, -5);
    msgpack_pack_uint32(&pk, 0);
    msgpack_pack_str_with_body(&pk, "set", 3);
    msgpack_pack_str_with_body(&pk, "x", 1);
    s_delta_req(&sb, d.data, d.size, DRIFT_COP_UPDATE);
    drift_msg_limits_t lim = drift_msg_limits(1 << 20);
    drift_msg_t *msg = NULL;
    assert_int_equal(drift_msg_decode(sb.data, sb.size, &lim, &msg, err, sizeof err), 0);
    drift_commit_req_t req;
    assert_int_equal(drift_commit_parse(drift_msg_root(msg), &req, err, sizeof err), 0);
    assert_int_equal(req.nops, 1);
    assert_non_null(req.ops[0].delta);
    assert_int_equal(req.ops[0].delta->via.array.size, 7);
    assert_int_equal(req.ops[0].delta->via.array.ptr[0].via.u64, 42);
    assert_int_equal(req.ops[0].delta->via.array.ptr[3].via.i64, -5);
    /* the frame body is exactly what a request without the delta gives */
    msgpack_packer bp;
    msgpack_packer_init(&bp, &body, msgpack_sbuffer_write);
    drift_commit_pack_body(&bp, &req);
    drift_commit_req_clear(&req);
    drift_msg_destroy(&msg);
    s_delta_req(&sb, NULL, 0, DRIFT_COP_UPDATE);
    assert_int_equal(drift_msg_decode(sb.data, sb.size, &lim, &msg, err, sizeof err), 0);
    assert_int_equal(drift_commit_parse(drift_msg_root(msg), &req, err, sizeof err), 0);
    assert_null(req.ops[0].delta);
    msgpack_sbuffer plain;
    msgpack_sbuffer_init(&plain);
    msgpack_packer_init(&bp, &plain, msgpack_sbuffer_write);
    drift_commit_pack_body(&bp, &req);
    assert_int_equal(plain.size, body.size);
    assert_memory_equal(plain.data, body.data, body.size);
    msgpack_sbuffer_destroy(&plain);
    drift_commit_req_clear(&req);
    drift_msg_destroy(&msg);
    /* refused: a delta on a delete, and malformed deltas */
    s_delta_req(&sb, d.data, d.size, DRIFT_COP_DELETE);
    assert_int_equal(s_parse_bytes(sb.data, sb.size, err, sizeof err), DRIFT_EPROTO);
    static const char *const bad[] = {
        "\x90",                       /* [] */
        "\x91\x01",                   /* [1]: no column */
        "\x94\x01\x00\xa3" "add\xa1x", /* add of a string */
        "\x94\x01\x00\xa3" "mul\x01",  /* unknown kind */
        "\x94\xa1x\x00\xa3" "set\x01", /* base not an integer */
        "\x93\x01\x00\xa3" "set",       /* a column without its value */
    };
    static const size_t badlen[] = {1, 2, 9, 8, 9, 7};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        s_delta_req(&sb, bad[i], badlen[i], DRIFT_COP_UPDATE);
        err[0] = 0;
        assert_int_equal(s_parse_bytes(sb.data, sb.size, err, sizeof err), DRIFT_EPROTO);
        assert_true(err[0] != 0);
    }
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&d);
    msgpack_sbuffer_destroy(&body);
}

/* Random bytes and random mutations of a valid body: errors, never a crash (ASan watches). */
static void t_random(void **state)
{
    (void)state;
    msgpack_sbuffer sb, body;
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_init(&body);
    s_build(&sb);
    drift_msg_limits_t lim = drift_msg_limits(1 << 20);
    drift_msg_t *msg;
    char err[256];
    assert_int_equal(drift_msg_decode(sb.data, sb.size, &lim, &msg, err, sizeof err), 0);
    drift_commit_req_t req;
    assert_int_equal(drift_commit_parse(drift_msg_root(msg), &req, err, sizeof err), 0);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &body, msgpack_sbuffer_write);
    drift_commit_pack_body(&pk, &req);
    drift_commit_req_clear(&req);
    drift_msg_destroy(&msg);
    uint8_t *buf = malloc(body.size);
    srand(7);
    for (int i = 0; i < 20000; i++) {
        memcpy(buf, body.data, body.size);
        int flips = 1 + rand() % 4;
        for (int f = 0; f < flips; f++)
            buf[rand() % body.size] = (uint8_t)rand();
        seen_t s = {0};
        drift_commit_body_keys(buf, body.size, s_seen, &s, err, sizeof err);
        drift_commit_body_foreach(buf, body.size, NULL, NULL, err, sizeof err);
        s_parse_bytes(buf, body.size, err, sizeof err);
    }
    /* Deep nesting in a row is bounded. */
    size_t n = 5000;
    uint8_t *deep = malloc(n + 16);
    size_t k = 0;
    deep[k++] = 0x91;
    deep[k++] = 0x84;
    deep[k++] = 0xa2, deep[k++] = 'o', deep[k++] = 'p', deep[k++] = 0xa6;
    memcpy(deep + k, "insert", 6), k += 6;
    deep[k++] = 0xa5;
    memcpy(deep + k, "table", 5), k += 5;
    deep[k++] = 1;
    deep[k++] = 0xa3;
    memcpy(deep + k, "row", 3), k += 3;
    while (k < n)
        deep[k++] = 0x91;
    deep[k++] = 0xc0;
    assert_true(drift_commit_body_keys(deep, k, NULL, NULL, err, sizeof err) < 0);
    free(deep);
    free(buf);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_round_trip),
        cmocka_unit_test(t_malformed),
        cmocka_unit_test(t_delta),
        cmocka_unit_test(t_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
