/* tests/unit/test_commit.c — the commit protocol codec (ipc/commit.h): a request
 * built with the client helpers parses back; its frame body decodes the same way
 * through the full decoder and the allocation-free key walk; malformed requests
 * are refused with a message; every truncation and random bytes never crash; the key walk
 * (drift_commit_body_keys, with its fast path) reports exactly what a reference copy of the walk it
 * replaced reports, on generated, cut and corrupted bodies. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
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

/* The optional "session" (group commit): packed only when non-zero, parsed, refused when not an unsigned integer,
 * absent from the frame body. */
static void t_session(void **state)
{
    (void)state;
    char err[256];
    drift_msg_limits_t lim = drift_msg_limits(1 << 20);
    for (int with = 0; with < 2; with++) {
        msgpack_sbuffer sb, body;
        msgpack_sbuffer_init(&sb);
        msgpack_sbuffer_init(&body);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        drift_commit_pack_request_session(&pk, 9, 4, DRIFT_ISO_READ_COMMITTED, 1, 0, with ? 0xfeedull << 20 : 0);
        drift_commit_pack_op(&pk, DRIFT_COP_INSERT, 3, "k", 1, "\x91\x01", 2);
        drift_msg_t *msg = NULL;
        assert_int_equal(drift_msg_decode(sb.data, sb.size, &lim, &msg, err, sizeof err), 0);
        drift_commit_req_t req;
        assert_int_equal(drift_commit_parse(drift_msg_root(msg), &req, err, sizeof err), 0);
        assert_int_equal(req.has_session, with);
        assert_int_equal(req.session, with ? 0xfeedull << 20 : 0);
        assert_int_equal(req.snapshot, 4);
        assert_int_equal(req.nops, 1);
        msgpack_packer bp;
        msgpack_packer_init(&bp, &body, msgpack_sbuffer_write);
        drift_commit_pack_body(&bp, &req);
        assert_null(memmem(body.data, body.size, "session", 7));
        drift_commit_req_clear(&req);
        drift_msg_destroy(&msg);
        msgpack_sbuffer_destroy(&body);
        msgpack_sbuffer_destroy(&sb);
    }
    /* a session that is not an unsigned integer is refused */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    msgpack_pack_str_with_body(&pk, "session", 7);
    msgpack_pack_str_with_body(&pk, "x", 1);
    msgpack_pack_str_with_body(&pk, "snapshot", 8);
    msgpack_pack_uint64(&pk, 1);
    msgpack_pack_str_with_body(&pk, "op", 2);
    msgpack_pack_str_with_body(&pk, "commit", 6);
    msgpack_pack_str_with_body(&pk, "ops", 3);
    msgpack_pack_array(&pk, 1);
    drift_commit_pack_op(&pk, DRIFT_COP_DELETE, 3, "k", 1, NULL, 0);
    err[0] = 0;
    assert_int_equal(s_parse_bytes(sb.data, sb.size, err, sizeof err), DRIFT_EPROTO);
    assert_non_null(strstr(err, "session"));
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

/* ==== drift_commit_body_keys against a reference copy of the walk it replaced ==== */

static const char *const r_op_names[] = {NULL, "insert", "update", "patch", "delete", "ddl"};

/* printf into err; returns DRIFT_EPROTO (the reference's copy of ipc/commit.c's s_fail). */
__attribute__((format(printf, 3, 4))) static int r_fail(char *err, size_t cap, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return DRIFT_EPROTO;
}
/* ---- the reference: drift_commit_body_keys as it was before the fast walk (af64937^), renamed r_* ---- */

typedef struct {
    const uint8_t *p, *end;
} r_cur_t;

/* Reads an n-byte big-endian unsigned integer; -1 when it runs past the end. */
static int r_be(r_cur_t *c, int n, uint64_t *v)
{
    if (c->end - c->p < n)
        return -1;
    uint64_t x = 0;
    for (int i = 0; i < n; i++)
        x = x << 8 | c->p[i];
    c->p += n;
    *v = x;
    return 0;
}

/* Skips n bytes. */
static int r_skip_bytes(r_cur_t *c, uint64_t n)
{
    if ((uint64_t)(c->end - c->p) < n)
        return -1;
    c->p += n;
    return 0;
}

/* Skips one MessagePack value (any type), at most depth levels deep. */
static int r_skip(r_cur_t *c, int depth)
{
    if (c->p >= c->end || depth <= 0)
        return -1;
    uint8_t t = *c->p++;
    uint64_t n = 0;
    if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3)
        return 0;
    if ((t & 0xe0) == 0xa0)
        return r_skip_bytes(c, t & 0x1f);
    if ((t & 0xf0) == 0x90 || (t & 0xf0) == 0x80) {
        n = (uint64_t)(t & 0x0f) * ((t & 0xf0) == 0x80 ? 2 : 1);
        goto items;
    }
    switch (t) {
    case 0xc4:
    case 0xd9: return r_be(c, 1, &n) ? -1 : r_skip_bytes(c, n);
    case 0xc5:
    case 0xda: return r_be(c, 2, &n) ? -1 : r_skip_bytes(c, n);
    case 0xc6:
    case 0xdb: return r_be(c, 4, &n) ? -1 : r_skip_bytes(c, n);
    case 0xc7: return r_be(c, 1, &n) ? -1 : r_skip_bytes(c, n + 1);
    case 0xc8: return r_be(c, 2, &n) ? -1 : r_skip_bytes(c, n + 1);
    case 0xc9: return r_be(c, 4, &n) ? -1 : r_skip_bytes(c, n + 1);
    case 0xca: return r_skip_bytes(c, 4);
    case 0xcb: return r_skip_bytes(c, 8);
    case 0xcc:
    case 0xd0: return r_skip_bytes(c, 1);
    case 0xcd:
    case 0xd1: return r_skip_bytes(c, 2);
    case 0xce:
    case 0xd2: return r_skip_bytes(c, 4);
    case 0xcf:
    case 0xd3: return r_skip_bytes(c, 8);
    case 0xd4: return r_skip_bytes(c, 2);
    case 0xd5: return r_skip_bytes(c, 3);
    case 0xd6: return r_skip_bytes(c, 5);
    case 0xd7: return r_skip_bytes(c, 9);
    case 0xd8: return r_skip_bytes(c, 17);
    case 0xdc:
        if (r_be(c, 2, &n))
            return -1;
        goto items;
    case 0xdd:
        if (r_be(c, 4, &n))
            return -1;
        goto items;
    case 0xde:
        if (r_be(c, 2, &n))
            return -1;
        n *= 2;
        goto items;
    case 0xdf:
        if (r_be(c, 4, &n))
            return -1;
        n *= 2;
        goto items;
    default: return -1; /* 0xc1 */
    }
items:
    /* Each item takes at least one byte: a count larger than what remains is malformed. */
    if (n > (uint64_t)(c->end - c->p))
        return -1;
    for (uint64_t i = 0; i < n; i++)
        if (r_skip(c, depth - 1) < 0)
            return -1;
    return 0;
}

/* Reads a container header of the given family (0x90 array / 0x80 map). */
static int r_container(r_cur_t *c, int map, uint64_t *n)
{
    if (c->p >= c->end)
        return -1;
    uint8_t t = *c->p++;
    if ((t & 0xf0) == (map ? 0x80 : 0x90)) {
        *n = t & 0x0f;
        return 0;
    }
    if (t == (map ? 0xde : 0xdc))
        return r_be(c, 2, n);
    if (t == (map ? 0xdf : 0xdd))
        return r_be(c, 4, n);
    return -1;
}

/* Reads a str (want_bin = 0) or bin (1) and returns its bytes. */
static int r_bytes(r_cur_t *c, int want_bin, const uint8_t **ptr, uint64_t *n)
{
    if (c->p >= c->end)
        return -1;
    uint8_t t = *c->p++;
    int w = 0;
    if (!want_bin && (t & 0xe0) == 0xa0)
        *n = t & 0x1f;
    else if (t == (want_bin ? 0xc4 : 0xd9))
        w = 1;
    else if (t == (want_bin ? 0xc5 : 0xda))
        w = 2;
    else if (t == (want_bin ? 0xc6 : 0xdb))
        w = 4;
    else
        return -1;
    if (w && r_be(c, w, n))
        return -1;
    if ((uint64_t)(c->end - c->p) < *n)
        return -1;
    *ptr = c->p;
    c->p += *n;
    return 0;
}

/* Reads an unsigned integer. */
static int r_uint(r_cur_t *c, uint64_t *v)
{
    if (c->p >= c->end)
        return -1;
    uint8_t t = *c->p++;
    if (t <= 0x7f) {
        *v = t;
        return 0;
    }
    if (t >= 0xcc && t <= 0xcf)
        return r_be(c, 1 << (t - 0xcc), v);
    return -1;
}

static int r_body_keys(const void *body, size_t len, drift_commit_op_fn fn, void *arg, char *err, size_t cap)
{
    r_cur_t c = {body, (const uint8_t *)body + len};
    uint64_t nops;
    if (r_container(&c, 0, &nops) < 0 || nops > len)
        return r_fail(err, cap, "frame body is not an array");
    for (uint64_t i = 0; i < nops; i++) {
        drift_commit_op_t op = {0};
        uint64_t nkeys;
        int have_table = 0;
        if (r_container(&c, 1, &nkeys) < 0)
            return r_fail(err, cap, "ops[%llu] is not a map", (unsigned long long)i);
        for (uint64_t k = 0; k < nkeys; k++) {
            const uint8_t *name;
            uint64_t nl;
            if (r_bytes(&c, 0, &name, &nl) < 0)
                return r_fail(err, cap, "ops[%llu]: a key is not a str", (unsigned long long)i);
            if (nl == 2 && memcmp(name, "op", 2) == 0) {
                const uint8_t *v;
                uint64_t vl;
                if (r_bytes(&c, 0, &v, &vl) < 0)
                    return r_fail(err, cap, "ops[%llu].op is not a str", (unsigned long long)i);
                for (int j = DRIFT_COP_INSERT; j <= DRIFT_COP_DDL; j++)
                    if (strlen(r_op_names[j]) == vl && memcmp(r_op_names[j], v, vl) == 0)
                        op.op = (drift_cop_t)j;
            } else if (nl == 5 && memcmp(name, "table", 5) == 0) {
                uint64_t t;
                if (r_uint(&c, &t) < 0 || t > UINT32_MAX)
                    return r_fail(err, cap, "ops[%llu].table is not a uint32", (unsigned long long)i);
                op.table = (uint32_t)t;
                have_table = 1;
            } else if (nl == 3 && memcmp(name, "key", 3) == 0) {
                uint64_t kl;
                if (r_bytes(&c, 1, &op.key, &kl) < 0 || kl > UINT32_MAX)
                    return r_fail(err, cap, "ops[%llu].key is not bin", (unsigned long long)i);
                op.key_len = (uint32_t)kl;
            } else if (nl == 3 && memcmp(name, "row", 3) == 0) {
                const uint8_t *r = c.p;
                if (r_skip(&c, DRIFT_MSG_MAX_DEPTH) < 0)
                    return r_fail(err, cap, "ops[%llu]: malformed value", (unsigned long long)i);
                op.row_mp = r;
                op.row_mp_len = (uint32_t)(c.p - r);
            } else if (r_skip(&c, DRIFT_MSG_MAX_DEPTH) < 0) {
                return r_fail(err, cap, "ops[%llu]: malformed value", (unsigned long long)i);
            }
        }
        if (!op.op || !have_table || (!op.key && op.op != DRIFT_COP_DDL))
            return r_fail(err, cap, "ops[%llu] lacks op, table or key", (unsigned long long)i);
        int rc = fn ? fn(&op, arg) : 0;
        if (rc)
            return rc;
    }
    if (c.p != c.end)
        return r_fail(err, cap, "trailing bytes after the op array");
    return 0;
}


/* ---- a generator of frame bodies: the packers' layout, and everything else MessagePack allows ---- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} gbuf_t;

static uint64_t s_rng = 0x9e3779b97f4a7c15ull;

/* xorshift64*: the next pseudo-random number (fixed seed: every run generates the same bodies). */
static uint64_t s_rand(void)
{
    s_rng ^= s_rng >> 12;
    s_rng ^= s_rng << 25;
    s_rng ^= s_rng >> 27;
    return s_rng * 0x2545f4914f6cdd1dull;
}

/* A pseudo-random number below n (n > 0). */
static uint32_t s_below(uint32_t n)
{
    return (uint32_t)(s_rand() % n);
}

/* Appends n bytes. */
static void g_put(gbuf_t *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

/* Appends one byte. */
static void g_u8(gbuf_t *b, uint8_t v)
{
    g_put(b, &v, 1);
}

/* Appends v as a w-byte big-endian integer. */
static void g_be(gbuf_t *b, uint64_t v, int w)
{
    for (int i = w - 1; i >= 0; i--)
        g_u8(b, (uint8_t)(v >> (8 * i)));
}

/* Appends n pseudo-random bytes. */
static void g_noise(gbuf_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        g_u8(b, (uint8_t)s_rand());
}

/* A header of family fix (tag base fixb, fixed limit fixmax), 8/16/32-bit tags t8/t16/t32 (0: none) for
 * length n: the smallest that fits, or (any) a random one that fits. */
static void g_head(gbuf_t *b, uint64_t n, int any, int fixb, uint64_t fixmax, int t8, int t16, int t32)
{
    int choice[4], k = 0;
    if (fixb >= 0 && n <= fixmax)
        choice[k++] = 0;
    if (t8 && n <= 0xff)
        choice[k++] = 1;
    if (t16 && n <= 0xffff)
        choice[k++] = 2;
    choice[k++] = 3;
    int c = any ? choice[s_below((uint32_t)k)] : choice[0];
    if (c == 0)
        g_u8(b, (uint8_t)(fixb + n));
    else if (c == 1)
        g_u8(b, (uint8_t)t8), g_be(b, n, 1);
    else if (c == 2)
        g_u8(b, (uint8_t)t16), g_be(b, n, 2);
    else
        g_u8(b, (uint8_t)t32), g_be(b, n, 4);
}

/* Appends a str of n bytes (encoding: the smallest, or any that fits). */
static void g_str(gbuf_t *b, const char *s, size_t n, int any)
{
    g_head(b, n, any, 0xa0, 31, 0xd9, 0xda, 0xdb);
    g_put(b, s, n);
}

/* Appends a bin of n bytes. */
static void g_bin(gbuf_t *b, const void *s, size_t n, int any)
{
    g_head(b, n, any, -1, 0, 0xc4, 0xc5, 0xc6);
    g_put(b, s, n);
}

/* Appends an unsigned integer: the smallest encoding, or any that fits. */
static void g_uint(gbuf_t *b, uint64_t v, int any)
{
    int w = v <= 0x7f ? 0 : v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffffu ? 4 : 8;
    if (any && s_below(2))
        w = w == 0 && s_below(2) ? 0 : (int[]){1, 2, 4, 8}[s_below(4)] < w ? w : (int[]){1, 2, 4, 8}[s_below(4)];
    if (w < (v <= 0x7f ? 0 : v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffffu ? 4 : 8))
        w = 8;
    if (w == 0) {
        g_u8(b, (uint8_t)v);
        return;
    }
    g_u8(b, (uint8_t)(w == 1 ? 0xcc : w == 2 ? 0xcd : w == 4 ? 0xce : 0xcf));
    g_be(b, v, w);
}

/* A length for a string or blob: mostly short, sometimes past the fix/8-bit limits, rarely large. */
static size_t g_len(void)
{
    uint32_t r = s_below(100);
    return r < 70 ? s_below(32) : r < 95 ? 32 + s_below(300) : r < 99 ? 256 + s_below(2000) : 65536 + s_below(5000);
}

/* Appends one random MessagePack value nested at most depth levels (every type and encoding). */
static void g_value(gbuf_t *b, int depth)
{
    static const char text[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    static uint8_t scratch[72000]; /* filled and used before any nested call */
    uint32_t kind = s_below(depth > 1 ? 22 : 13); /* at depth 1: scalars, strings, bin, ext only */
    size_t n;
    switch (kind) {
    case 0: g_u8(b, 0xc0); break;
    case 1: g_u8(b, s_below(2) ? 0xc2 : 0xc3); break;
    case 2: g_u8(b, (uint8_t)s_below(0x80)); break;
    case 3: g_u8(b, (uint8_t)(0xe0 + s_below(32))); break;
    case 4: g_uint(b, s_rand() >> s_below(64), 1); break;
    case 5: { /* signed ints of every width */
        int w = 1 << s_below(4);
        g_u8(b, (uint8_t)(0xd0 + (w == 1 ? 0 : w == 2 ? 1 : w == 4 ? 2 : 3)));
        g_be(b, (uint64_t)-(int64_t)(s_rand() >> s_below(64)), w);
        break;
    }
    case 6: g_u8(b, 0xca), g_noise(b, 4); break;
    case 7: g_u8(b, 0xcb), g_noise(b, 8); break;
    case 8:
    case 9:
        n = g_len();
        for (size_t i = 0; i < n; i++)
            scratch[i] = (uint8_t)text[s_below(sizeof text - 1)];
        g_str(b, (const char *)scratch, n, kind == 9);
        break;
    case 10:
        n = g_len();
        for (size_t i = 0; i < n; i++)
            scratch[i] = (uint8_t)s_rand();
        g_bin(b, scratch, n, 1);
        break;
    case 11: { /* fixext 1, 2, 4, 8, 16 */
        int e = (int)s_below(5);
        g_u8(b, (uint8_t)(0xd4 + e));
        g_noise(b, 1 + ((size_t)1 << e));
        break;
    }
    case 12: /* ext 8/16/32 */
        n = s_below(40);
        g_head(b, n, 1, -1, 0, 0xc7, 0xc8, 0xc9);
        g_noise(b, 1 + n);
        break;
    case 13: /* a row as the engine writes it: a fixarray of scalars and short strings */
    case 14:
    case 15:
        n = s_below(12);
        g_u8(b, (uint8_t)(0x90 + n));
        for (size_t i = 0; i < n; i++)
            g_value(b, 1);
        break;
    case 16:
    case 17:
    case 18: /* arrays: fix/16/32, sometimes more than 15 items */
        n = s_below(4) ? s_below(6) : s_below(40);
        g_head(b, n, 1, 0x90, 15, 0, 0xdc, 0xdd);
        for (size_t i = 0; i < n; i++)
            g_value(b, depth - 1);
        break;
    default: /* maps: fix/16/32, keys of any type */
        n = s_below(4) ? s_below(5) : s_below(20);
        g_head(b, n, 1, 0x80, 15, 0, 0xde, 0xdf);
        for (size_t i = 0; i < 2 * n; i++)
            g_value(b, depth - 1);
        break;
    }
}

/* Appends one op: mostly the packers' layout (drift_commit_pack_op_delta, drift_commit_pack_body), else
 * the entries in any order, encoding, number or kind, valid or not. */
static void g_op(gbuf_t *b, int pure)
{
    static const char *const names[] = {"insert", "update", "patch", "delete", "ddl", "upsert", "", "inserts"};
    uint8_t key[300];
    size_t kl = s_below(4) ? 1 + s_below(24) : s_below(300);
    for (size_t i = 0; i < kl; i++)
        key[i] = (uint8_t)s_rand();
    if (pure || s_below(8)) { /* the packers' layout */
        drift_cop_t op = (drift_cop_t)(1 + s_below(5));
        int has_key = op != DRIFT_COP_DDL || s_below(2), has_row = op != DRIFT_COP_DELETE || !s_below(4);
        int has_delta = op == DRIFT_COP_UPDATE && !s_below(4) && has_key && has_row;
        g_u8(b, (uint8_t)(0x82 + has_key + has_row + has_delta));
        int odd = !s_below(4); /* other encodings of the same (the packers write the smallest) */
        g_str(b, "op", 2, odd && !s_below(8));
        g_str(b, r_op_names[op], strlen(r_op_names[op]), odd && !s_below(4));
        g_str(b, "table", 5, odd && !s_below(8));
        g_uint(b, s_below(4) ? s_below(300) : s_rand() >> (32 + s_below(32)), odd); /* up to 32 bits */
        if (has_key) {
            g_str(b, "key", 3, odd && !s_below(8));
            g_bin(b, key, kl, odd);
        }
        if (has_row) {
            g_str(b, "row", 3, odd && !s_below(8));
            g_value(b, s_below(4) ? 1 : 2 + (int)s_below(5));
        }
        if (has_delta) {
            g_str(b, "delta", 5, 0);
            g_value(b, 3);
        }
        return;
    }
    /* free form */
    int ne = (int)s_below(7), order[8];
    for (int i = 0; i < ne; i++)
        order[i] = (int)s_below(9);
    int count = ne + (s_below(20) ? 0 : (int)s_below(3) - 1);
    g_head(b, (uint64_t)(count < 0 ? 0 : count), 1, 0x80, 15, 0, 0xde, 0xdf);
    for (int i = 0; i < ne; i++) {
        switch (order[i]) {
        case 0:
        case 1: /* op: a known name, an unknown one, or not a str */
            g_str(b, "op", 2, 1);
            if (s_below(8)) {
                const char *nm = s_below(4) ? r_op_names[1 + s_below(5)] : names[s_below(8)];
                g_str(b, nm, strlen(nm), 1);
            } else {
                g_value(b, 2);
            }
            break;
        case 2: /* table: any uint encoding, sometimes past 32 bits or not a uint */
            g_str(b, "table", 5, 1);
            if (s_below(8))
                g_uint(b, s_rand() >> (s_below(2) ? 60 : s_below(64)), 1);
            else
                g_value(b, 2);
            break;
        case 3:
        case 4: /* key: bin of any width, or something else */
            g_str(b, "key", 3, 1);
            if (s_below(8))
                g_bin(b, key, kl, 1);
            else
                g_value(b, 2);
            break;
        case 5:
        case 6:
            g_str(b, "row", 3, 1);
            g_value(b, (int)s_below(6) + 1);
            break;
        case 7: { /* another name, sometimes close to the known ones */
            static const char *const other[] = {"delta", "ke", "keys", "rows", "tablE", "o", "opp", "x", "tables"};
            const char *nm = other[s_below(9)];
            g_str(b, nm, strlen(nm), 1);
            g_value(b, (int)s_below(4) + 1);
            break;
        }
        default: /* a key that is not a str */
            g_value(b, 2);
            g_value(b, 2);
            break;
        }
    }
}

/* A frame body: an array (fix/16/32 header) of ops (half the bodies: all in the packers' layout); sometimes a
 * wrong count or trailing bytes. */
static void g_body(gbuf_t *b)
{
    b->n = 0;
    uint32_t nops = s_below(8) ? s_below(6) : s_below(40);
    int sloppy = !s_below(25), pure = s_below(2);
    uint64_t head = sloppy ? nops + s_below(3) : nops;
    g_head(b, head > 0 ? head - (sloppy && s_below(2)) : 0, 1, 0x90, 15, 0, 0xdc, 0xdd);
    for (uint32_t i = 0; i < nops; i++)
        g_op(b, pure);
    if (!s_below(30))
        g_noise(b, 1 + s_below(3));
}

/* ---- the comparison ---- */

typedef struct {
    int op;
    uint32_t table, key_len, row_len;
    long key_off, row_off; /* offsets in the body; -1 when absent */
} rec_t;

typedef struct {
    const uint8_t *base;
    rec_t *v;
    size_t n, cap, stop_at; /* the callback returns 7 at op stop_at */
} recs_t;

/* The walks' callback: records what each op reports. */
static int s_rec(const drift_commit_op_t *op, void *arg)
{
    recs_t *r = arg;
    if (r->n == r->cap) {
        r->cap = r->cap * 2 + 16;
        r->v = realloc(r->v, r->cap * sizeof *r->v);
        assert_non_null(r->v);
    }
    rec_t *e = &r->v[r->n++];
    memset(e, 0, sizeof *e);
    e->op = (int)op->op;
    e->table = op->table;
    e->key_len = op->key_len;
    e->key_off = op->key ? (long)(op->key - r->base) : -1;
    e->row_len = op->row_mp_len;
    e->row_off = op->row_mp ? (long)(op->row_mp - r->base) : -1;
    return r->n == r->stop_at + 1 ? 7 : 0;
}

/* Walks body[0..len) (copied to a buffer of exactly len bytes: ASan sees any read past it) with both walks;
 * asserts the same return, message and callback sequence; returns the return value. */
static int s_same_walk(const uint8_t *body, size_t len, size_t stop_at)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, body, len);
    recs_t a = {copy, NULL, 0, 0, stop_at}, b = {copy, NULL, 0, 0, stop_at};
    char ea[256] = "", eb[256] = "";
    int ra = drift_commit_body_keys(copy, len, s_rec, &a, ea, sizeof ea);
    int rb = r_body_keys(copy, len, s_rec, &b, eb, sizeof eb);
    assert_int_equal(ra, rb);
    assert_string_equal(ea, eb);
    assert_int_equal(a.n, b.n);
    if (a.n)
        assert_memory_equal(a.v, b.v, a.n * sizeof *a.v);
    free(a.v);
    free(b.v);
    free(copy);
    return ra;
}

/* Many generated bodies: the fast walk reports what the old walk reported, op by op, whole, cut at every
 * length, with an early stop, and with random bytes changed. */
static void t_walk_differential(void **state)
{
    (void)state;
    gbuf_t b = {0};
    int valid = 0, invalid = 0;
    size_t ops_seen = 0;
    for (int i = 0; i < 2000; i++) {
        g_body(&b);
        int rc = s_same_walk(b.p, b.n, SIZE_MAX);
        if (rc == 0) {
            valid++;
            recs_t r = {b.p, NULL, 0, 0, SIZE_MAX};
            assert_int_equal(drift_commit_body_keys(b.p, b.n, s_rec, &r, NULL, 0), 0);
            ops_seen += r.n;
            if (r.n)
                assert_int_equal(s_same_walk(b.p, b.n, s_below((uint32_t)r.n)), 7);
            free(r.v);
        } else {
            invalid++;
        }
        /* every truncation (sampled for large bodies) */
        for (size_t cut = 0; cut < b.n; cut += b.n <= 1500 ? 1 : 1 + s_below((uint32_t)(b.n / 100)))
            s_same_walk(b.p, cut, SIZE_MAX);
        /* random corruptions, with bytes that matter to MessagePack among them */
        static const uint8_t hot[] = {0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc4, 0xc7, 0xcc, 0xcf,
                                      0xd4, 0xd8, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff};
        uint8_t *m = malloc(b.n ? b.n : 1);
        for (int k = 0; b.n && k < 20; k++) {
            memcpy(m, b.p, b.n);
            for (int f = 1 + (int)s_below(3); f > 0; f--)
                m[s_below((uint32_t)b.n)] = s_below(2) ? hot[s_below(sizeof hot)] : (uint8_t)s_rand();
            s_same_walk(m, b.n, SIZE_MAX);
        }
        free(m);
    }
    /* the generator makes both kinds, and valid bodies with ops in them */
    assert_true(valid > 1000);
    assert_true(invalid > 300);
    assert_true(ops_seen > 3000);
    free(b.p);
}

/* Nesting in a row: both walks take 31 arrays around a nil (32 levels) and refuse 32 (33 levels), and agree
 * at every depth in between, with maps and 16/32-bit headers too. */
static void t_walk_depth(void **state)
{
    (void)state;
    for (int form = 0; form < 4; form++) {
        for (int d = 0; d <= 40; d++) {
            gbuf_t b = {0};
            g_u8(&b, 0x91);
            g_u8(&b, 0x84);
            g_str(&b, "op", 2, 0);
            g_str(&b, "insert", 6, 0);
            g_str(&b, "table", 5, 0);
            g_u8(&b, 3);
            g_str(&b, "key", 3, 0);
            g_bin(&b, "k", 1, 0);
            g_str(&b, "row", 3, 0);
            for (int i = 0; i < d; i++) {
                if (form == 0)
                    g_u8(&b, 0x91);
                else if (form == 1)
                    g_u8(&b, 0xdc), g_be(&b, 1, 2);
                else if (form == 2)
                    g_u8(&b, 0xdd), g_be(&b, 1, 4);
                else
                    g_u8(&b, 0x81), g_u8(&b, 0x01); /* {1: ...} */
            }
            g_u8(&b, 0xc0);
            int rc = s_same_walk(b.p, b.n, SIZE_MAX);
            assert_int_equal(rc, d <= (int)DRIFT_MSG_MAX_DEPTH - 1 ? 0 : DRIFT_EPROTO);
            free(b.p);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_round_trip),
        cmocka_unit_test(t_malformed),
        cmocka_unit_test(t_delta),
        cmocka_unit_test(t_session),
        cmocka_unit_test(t_random),
        cmocka_unit_test(t_walk_differential),
        cmocka_unit_test(t_walk_depth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
