/* ipc/commit.c — see commit.h. */
#include "ipc/commit.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "common/errors.h"
#include "ipc/chan.h"
#include "ipc/msg.h"

static const char *const s_op_names[] = {NULL, "insert", "update", "patch", "delete", "ddl"};
static const char *const s_iso_names[] = {"read committed", "repeatable read", "serializable"};

const char *drift_commit_op_name(drift_cop_t op)
{
    return op >= DRIFT_COP_INSERT && op <= DRIFT_COP_DDL ? s_op_names[op] : "?";
}

/* printf into err; returns DRIFT_EPROTO. */
__attribute__((format(printf, 3, 4))) static int s_fail(char *err, size_t cap, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return DRIFT_EPROTO;
}

/* 1 when o is a str equal to s. */
static int s_str_is(const msgpack_object *o, const char *s)
{
    size_t n = strlen(s);
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n && memcmp(o->via.str.ptr, s, n) == 0;
}

/* Reads a uint32 table id. */
static int s_table(const msgpack_object *o, uint32_t *ret)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > UINT32_MAX)
        return -1;
    *ret = (uint32_t)o->via.u64;
    return 0;
}

/* Checks the shape of a "delta" array: [base_seq, (pos, "add"|"set", value)...], add values numbers. 0 or -1. */
static int s_delta_check(const msgpack_object *v)
{
    if (v->type != MSGPACK_OBJECT_ARRAY || v->via.array.size < 4 || (v->via.array.size - 1) % 3 != 0)
        return -1;
    const msgpack_object *a = v->via.array.ptr;
    if (a[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return -1;
    for (uint32_t i = 1; i < v->via.array.size; i += 3) {
        if (a[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[i].via.u64 > UINT32_MAX)
            return -1;
        if (s_str_is(&a[i + 1], "add")) {
            msgpack_object_type t = a[i + 2].type;
            if (t != MSGPACK_OBJECT_POSITIVE_INTEGER && t != MSGPACK_OBJECT_NEGATIVE_INTEGER &&
                t != MSGPACK_OBJECT_FLOAT32 && t != MSGPACK_OBJECT_FLOAT64)
                return -1;
        } else if (!s_str_is(&a[i + 1], "set"))
            return -1;
    }
    return 0;
}

/* Parses one op map into op; idx is for messages. */
static int s_parse_op(const msgpack_object *m, drift_commit_op_t *op, size_t idx, char *err, size_t cap)
{
    if (m->type != MSGPACK_OBJECT_MAP)
        return s_fail(err, cap, "ops[%zu] is not a map", idx);
    memset(op, 0, sizeof *op);
    int have_table = 0, have_key = 0;
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key, *v = &m->via.map.ptr[i].val;
        if (s_str_is(k, "op")) {
            for (int j = DRIFT_COP_INSERT; j <= DRIFT_COP_DDL; j++)
                if (s_str_is(v, s_op_names[j]))
                    op->op = (drift_cop_t)j;
            if (!op->op)
                return s_fail(err, cap, "ops[%zu].op must be insert, update, patch, delete or ddl", idx);
        } else if (s_str_is(k, "table")) {
            if (s_table(v, &op->table) < 0)
                return s_fail(err, cap, "ops[%zu].table must be an unsigned 32-bit integer", idx);
            have_table = 1;
        } else if (s_str_is(k, "key")) {
            if (v->type != MSGPACK_OBJECT_BIN)
                return s_fail(err, cap, "ops[%zu].key must be bin", idx);
            op->key = (const uint8_t *)v->via.bin.ptr;
            op->key_len = v->via.bin.size;
            have_key = 1;
        } else if (s_str_is(k, "row")) {
            op->row = v;
        } else if (s_str_is(k, "delta")) {
            if (s_delta_check(v) < 0)
                return s_fail(err, cap,
                              "ops[%zu].delta must be [base_seq, pos, \"add\"|\"set\", value, ...] (add: a number)",
                              idx);
            op->delta = v;
        } else {
            return s_fail(err, cap, "ops[%zu] has an unknown field", idx);
        }
    }
    if (!op->op || !have_table)
        return s_fail(err, cap, "ops[%zu] needs op and table", idx);
    if (!have_key && op->op != DRIFT_COP_DDL)
        return s_fail(err, cap, "ops[%zu] (%s) needs a key", idx, s_op_names[op->op]);
    if (!op->row && (op->op == DRIFT_COP_INSERT || op->op == DRIFT_COP_UPDATE || op->op == DRIFT_COP_PATCH ||
                     op->op == DRIFT_COP_DDL))
        return s_fail(err, cap, "ops[%zu] (%s) needs a row", idx, s_op_names[op->op]);
    if (op->row && op->op == DRIFT_COP_DELETE)
        return s_fail(err, cap, "ops[%zu]: delete takes no row", idx);
    if (op->delta && op->op != DRIFT_COP_UPDATE)
        return s_fail(err, cap, "ops[%zu]: only an update takes a delta", idx);
    return 0;
}

int drift_commit_parse(const msgpack_object *root, drift_commit_req_t *req, char *err, size_t cap)
{
    memset(req, 0, sizeof *req);
    req->iso = DRIFT_ISO_READ_COMMITTED;
    if (root->type != MSGPACK_OBJECT_MAP)
        return s_fail(err, cap, "request is not a map");
    const msgpack_object *ops = NULL, *reads = NULL;
    int have_snapshot = 0;
    /* The id first, so that an error reply can carry it. */
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object *k = &root->via.map.ptr[i].key, *v = &root->via.map.ptr[i].val;
        if (s_str_is(k, "id") &&
            (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER || v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)) {
            req->has_id = 1;
            req->id = *v;
        }
    }
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object *k = &root->via.map.ptr[i].key, *v = &root->via.map.ptr[i].val;
        if (s_str_is(k, "id")) {
            if (!req->has_id)
                return s_fail(err, cap, "id must be an integer");
        } else if (s_str_is(k, "op")) {
            if (s_str_is(v, "commit"))
                req->kind = DRIFT_CREQ_COMMIT;
            else if (s_str_is(v, "ping"))
                req->kind = DRIFT_CREQ_PING;
            else
                return s_fail(err, cap, "op must be commit or ping");
        } else if (s_str_is(k, "snapshot")) {
            if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                return s_fail(err, cap, "snapshot must be an unsigned integer");
            req->snapshot = v->via.u64;
            have_snapshot = 1;
        } else if (s_str_is(k, "isolation")) {
            int found = 0;
            for (int j = 0; j < 3; j++)
                if (s_str_is(v, s_iso_names[j])) {
                    req->iso = (drift_iso_t)j;
                    found = 1;
                }
            if (!found)
                return s_fail(err, cap, "isolation must be read committed, repeatable read or serializable");
        } else if (s_str_is(k, "ops")) {
            if (v->type != MSGPACK_OBJECT_ARRAY)
                return s_fail(err, cap, "ops must be an array");
            ops = v;
        } else if (s_str_is(k, "reads")) {
            if (v->type != MSGPACK_OBJECT_ARRAY)
                return s_fail(err, cap, "reads must be an array");
            reads = v;
        } else if (s_str_is(k, "session")) {
            if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                return s_fail(err, cap, "session must be an unsigned integer");
            req->has_session = 1;
            req->session = v->via.u64;
        } else {
            return s_fail(err, cap, "unknown field in request");
        }
    }
    if (req->kind == DRIFT_CREQ_PING)
        return 0;
    if (!ops || ops->via.array.size == 0)
        return s_fail(err, cap, "a commit needs a non-empty ops array");
    if (!have_snapshot)
        return s_fail(err, cap, "a commit needs its snapshot seq");
    if (reads && req->iso != DRIFT_ISO_SERIALIZABLE)
        return s_fail(err, cap, "reads are only sent for serializable transactions");
    req->ops = calloc(ops->via.array.size, sizeof *req->ops);
    if (!req->ops)
        return -ENOMEM;
    for (uint32_t i = 0; i < ops->via.array.size; i++) {
        int rc = s_parse_op(&ops->via.array.ptr[i], &req->ops[i], i, err, cap);
        if (rc < 0)
            return rc;
        req->nops++;
    }
    if (reads && reads->via.array.size) {
        req->reads = calloc(reads->via.array.size, sizeof *req->reads);
        if (!req->reads)
            return -ENOMEM;
        for (uint32_t i = 0; i < reads->via.array.size; i++) {
            const msgpack_object *m = &reads->via.array.ptr[i];
            drift_commit_read_t *r = &req->reads[i];
            int have_table = 0;
            if (m->type != MSGPACK_OBJECT_MAP)
                return s_fail(err, cap, "reads[%u] is not a map", i);
            r->whole_table = 1;
            for (uint32_t j = 0; j < m->via.map.size; j++) {
                const msgpack_object *k = &m->via.map.ptr[j].key, *v = &m->via.map.ptr[j].val;
                if (s_str_is(k, "table") && s_table(v, &r->table) == 0) {
                    have_table = 1;
                } else if (s_str_is(k, "key") && v->type == MSGPACK_OBJECT_BIN) {
                    r->whole_table = 0;
                    r->key = (const uint8_t *)v->via.bin.ptr;
                    r->key_len = v->via.bin.size;
                } else {
                    return s_fail(err, cap, "reads[%u]: only table (uint32) and key (bin) are allowed", i);
                }
            }
            if (!have_table)
                return s_fail(err, cap, "reads[%u] needs a table", i);
            req->nreads++;
        }
    }
    return 0;
}

void drift_commit_req_clear(drift_commit_req_t *req)
{
    free(req->ops);
    free(req->reads);
    req->ops = NULL;
    req->reads = NULL;
    req->nops = req->nreads = 0;
}

/* Packs a C string. */
static void s_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

void drift_commit_pack_body(msgpack_packer *pk, const drift_commit_req_t *req)
{
    msgpack_pack_array(pk, req->nops);
    for (size_t i = 0; i < req->nops; i++) {
        const drift_commit_op_t *op = &req->ops[i];
        int has_key = op->key || op->op != DRIFT_COP_DDL;
        msgpack_pack_map(pk, 2 + has_key + (op->row != NULL));
        s_str(pk, "op");
        s_str(pk, s_op_names[op->op]);
        s_str(pk, "table");
        msgpack_pack_uint32(pk, op->table);
        if (has_key) {
            s_str(pk, "key");
            msgpack_pack_bin(pk, op->key_len);
            msgpack_pack_bin_body(pk, op->key, op->key_len);
        }
        if (op->row) {
            s_str(pk, "row");
            msgpack_pack_object(pk, *op->row);
        }
    }
}

int drift_commit_body_foreach(const void *body, size_t len, drift_commit_op_fn fn, void *arg, char *err, size_t cap)
{
    drift_msg_limits_t lim = drift_msg_limits(len);
    lim.max_elems = UINT32_MAX; /* a frame body was checked when it was written; bound only by its size */
    drift_msg_t *msg = NULL;
    int rc = drift_msg_decode(body, len, &lim, &msg, err, cap);
    if (rc < 0)
        return rc;
    const msgpack_object *root = drift_msg_root(msg);
    if (root->type != MSGPACK_OBJECT_ARRAY) {
        rc = s_fail(err, cap, "frame body is not an array");
        goto out;
    }
    for (uint32_t i = 0; i < root->via.array.size; i++) {
        drift_commit_op_t op;
        rc = s_parse_op(&root->via.array.ptr[i], &op, i, err, cap);
        if (rc < 0)
            goto out;
        if (fn && (rc = fn(&op, arg)) != 0)
            goto out;
    }
out:
    drift_msg_destroy(&msg);
    return rc;
}

/* ---- allocation-free body walk (drift_commit_body_keys) ----
 *
 * One pass over the bytes, no allocation, no recursion: every read is bounds-checked against the end of
 * the body, so malformed input fails (-1 from the helpers, DRIFT_EPROTO with a message from the walk) and
 * never reads past it. The common cases come first in each helper (fixstr map keys, fixints, rows that
 * are arrays of scalars and strings); the rest of MessagePack takes the tag table. Rows and unknown
 * values are skipped iteratively with one small stack of counts (DRIFT_MSG_MAX_DEPTH levels), so a row of
 * n scalars costs one loop of n steps, not n calls. Each op first tries s_fast_op, which reads the layout
 * the packers write by fixed byte patterns and gives up (cursor untouched, no callback) on anything else;
 * the general walk then reads that op as before. tests/unit/test_commit.c compares the whole walk with a
 * copy of the recursive walk it replaced (same returns, messages and callbacks, on valid, cut and
 * corrupted bodies). Pure functions of their input: safe from any thread. */

typedef struct {
    const uint8_t *p, *end;
} s_cur_t;

/* Loads a 1-, 2- or 4-byte big-endian unsigned integer at p (the caller checked the bytes are there). */
static inline uint64_t s_load(const uint8_t *p, int w)
{
    switch (w) {
    case 1: return p[0];
    case 2: return (uint64_t)p[0] << 8 | p[1];
    default: return (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
    }
}

/* What a MessagePack tag byte says about the value it starts: 0x00-0x1f: that many payload bytes follow
 * (fixint, nil, bool: 0; fixstr; the fixed-size numbers and fixext); 0x40|w: str/bin with a w-byte length;
 * 0x60|w: ext with a w-byte length (plus the type byte); 0x80: fixarray, 0x81: fixmap (count in the tag);
 * 0x90|w: array, 0xa0|w: map with a w-byte count; 0xff: never used (0xc1). */
static const uint8_t s_tag[256] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x00 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x10 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x20 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x30 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x40 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x50 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x60 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x70 */
    0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, /* 0x80 */
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, /* 0x90 */
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, /* 0xa0 */
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, /* 0xb0 */
    0x00, 0xff, 0x00, 0x00, 0x41, 0x42, 0x44, 0x61, 0x62, 0x64, 0x04, 0x08, 0x01, 0x02, 0x04, 0x08, /* 0xc0 */
    0x01, 0x02, 0x04, 0x08, 0x02, 0x03, 0x05, 0x09, 0x11, 0x41, 0x42, 0x44, 0x92, 0x94, 0xa2, 0xa4, /* 0xd0 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0xe0 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0xf0 */
};

/* Skips one MessagePack value (any type) nested at most DRIFT_MSG_MAX_DEPTH levels deep (the value itself
 * is level 1); -1 when it is malformed, too deep or runs past the end (the cursor is then unspecified). */
static int s_skip(s_cur_t *c)
{
    uint64_t left[DRIFT_MSG_MAX_DEPTH]; /* values still to skip at each open level; left[0] is the value itself */
    int lvl = 0;
    const uint8_t *p = c->p, *end = c->end;
    left[0] = 1;
    for (;;) {
        while (left[lvl] == 0) {
            if (lvl == 0) {
                c->p = p;
                return 0;
            }
            lvl--;
        }
        left[lvl]--;
        if (p >= end)
            return -1;
        uint8_t t = *p++, k = s_tag[t];
        uint64_t n;
        if (k < 0x40) {
            n = k; /* scalars and fixstr */
        } else if (k < 0x80) {
            int w = k & 0x0f; /* str, bin, ext: a w-byte length, then the bytes (ext: and the type byte) */
            if (end - p < w)
                return -1;
            n = s_load(p, w) + (k >= 0x60);
            p += w;
        } else {
            if (k == 0xff)
                return -1;
            if (k <= 0x81) {
                n = (uint64_t)(t & 0x0f) << (k & 1); /* fixarray, fixmap (2 values per entry) */
            } else {
                int w = k & 0x0f;
                if (end - p < w)
                    return -1;
                n = s_load(p, w) << (k >= 0xa0); /* array, map */
                p += w;
            }
            /* Each value takes at least one byte: a count larger than what remains is malformed. */
            if (n > (uint64_t)(end - p))
                return -1;
            if (n == 0)
                continue;
            if (lvl + 1 >= (int)DRIFT_MSG_MAX_DEPTH)
                return -1; /* its first value would be nested one level too deep */
            left[++lvl] = n;
            continue;
        }
        if ((uint64_t)(end - p) < n)
            return -1;
        p += n;
    }
}

/* Reads a container header of the given family (0x90 array / 0x80 map). */
static inline int s_container(s_cur_t *c, int map, uint64_t *n)
{
    if (c->p >= c->end)
        return -1;
    uint8_t t = *c->p++;
    if ((t & 0xf0) == (map ? 0x80 : 0x90)) {
        *n = t & 0x0f;
        return 0;
    }
    int w = t == (map ? 0xde : 0xdc) ? 2 : t == (map ? 0xdf : 0xdd) ? 4 : 0;
    if (!w || c->end - c->p < w)
        return -1;
    *n = s_load(c->p, w);
    c->p += w;
    return 0;
}

/* Reads a str (want_bin = 0) or bin (1) and returns its bytes. */
static inline int s_bytes(s_cur_t *c, int want_bin, const uint8_t **ptr, uint64_t *n)
{
    if (c->p >= c->end)
        return -1;
    uint8_t t = *c->p++;
    if (!want_bin && (t & 0xe0) == 0xa0) {
        *n = t & 0x1f;
    } else {
        int w = t == (want_bin ? 0xc4 : 0xd9) ? 1 : t == (want_bin ? 0xc5 : 0xda) ? 2 : t == (want_bin ? 0xc6 : 0xdb) ? 4 : 0;
        if (!w || c->end - c->p < w)
            return -1;
        *n = s_load(c->p, w);
        c->p += w;
    }
    if ((uint64_t)(c->end - c->p) < *n)
        return -1;
    *ptr = c->p;
    c->p += *n;
    return 0;
}

/* Reads an unsigned integer. */
static inline int s_uint(s_cur_t *c, uint64_t *v)
{
    if (c->p >= c->end)
        return -1;
    uint8_t t = *c->p++;
    if (t <= 0x7f) {
        *v = t;
        return 0;
    }
    if (t < 0xcc || t > 0xcf)
        return -1;
    if (t == 0xcf) {
        if (c->end - c->p < 8)
            return -1;
        *v = s_load(c->p, 4) << 32 | s_load(c->p + 4, 4);
        c->p += 8;
        return 0;
    }
    int w = 1 << (t - 0xcc);
    if (c->end - c->p < w)
        return -1;
    *v = s_load(c->p, w);
    c->p += w;
    return 0;
}

/* The op kind named by the str v (vl bytes), or 0 for none. */
static inline drift_cop_t s_op_kind(const uint8_t *v, uint64_t vl)
{
    switch (vl) {
    case 6:
        if (memcmp(v, "insert", 6) == 0)
            return DRIFT_COP_INSERT;
        if (memcmp(v, "update", 6) == 0)
            return DRIFT_COP_UPDATE;
        if (memcmp(v, "delete", 6) == 0)
            return DRIFT_COP_DELETE;
        return 0;
    case 5: return memcmp(v, "patch", 5) == 0 ? DRIFT_COP_PATCH : 0;
    case 3: return memcmp(v, "ddl", 3) == 0 ? DRIFT_COP_DDL : 0;
    default: return 0;
    }
}

/* The fast path for the op layout the packers write (drift_commit_pack_body, drift_commit_pack_op_delta): a
 * fixmap of 2-5 entries whose first keys are fixstr "op" (a fixstr name) and "table" (a uint up to 32
 * bits), then only fixstr "key" (bin) and "row" (any value) entries. Fills op and advances the cursor
 * only when the whole op has that shape and is complete; otherwise returns 0 with the cursor where it
 * was, and the general walk reads the op (and gives the error, when there is one): for the inputs it
 * takes, it reports exactly what the general walk reports. */
static inline int s_fast_op(s_cur_t *c, drift_commit_op_t *ret)
{
    const uint8_t *p = c->p, *end = c->end;
    drift_commit_op_t op = {0};
    if (end - p < 13 || p[0] < 0x82 || p[0] > 0x85 || memcmp(p + 1, "\xa2op", 3) != 0 || (p[4] & 0xe0) != 0xa0)
        return 0;
    int nk = p[0] & 0x0f, ol = p[4] & 0x1f;
    p += 5;
    if (end - p < ol + 7 || !(op.op = s_op_kind(p, (uint64_t)ol)))
        return 0;
    p += ol;
    if (memcmp(p, "\xa5table", 6) != 0)
        return 0;
    p += 6;
    uint8_t t = *p++;
    if (t <= 0x7f) {
        op.table = t;
    } else if (t >= 0xcc && t <= 0xce) {
        int w = 1 << (t - 0xcc);
        if (end - p < w)
            return 0;
        op.table = (uint32_t)s_load(p, w);
        p += w;
    } else {
        return 0;
    }
    for (int k = 2; k < nk; k++) {
        if (end - p < 5)
            return 0;
        if (memcmp(p, "\xa3key", 4) == 0) {
            s_cur_t kc = {p + 4, end};
            uint64_t kl;
            if (s_bytes(&kc, 1, &op.key, &kl) < 0)
                return 0;
            op.key_len = (uint32_t)kl; /* a bin length is at most 32 bits */
            p = kc.p;
        } else if (memcmp(p, "\xa3row", 4) == 0) {
            s_cur_t rc = {p + 4, end};
            int nv = (p[4] & 0xf0) == 0x90 ? p[4] & 0x0f : -1;
            const uint8_t *q = p + 5;
            /* The common row: a fixarray of scalars and fixstrs, skipped in one loop; anything else (or
             * anything short) takes s_skip from the row's start. */
            for (; nv > 0 && q < end && s_tag[*q] < 0x40 && end - q > s_tag[*q]; nv--)
                q += 1 + s_tag[*q];
            if (nv == 0)
                rc.p = q;
            else if (s_skip(&rc) < 0)
                return 0;
            op.row_mp = p + 4;
            op.row_mp_len = (uint32_t)(rc.p - op.row_mp);
            p = rc.p;
        } else {
            return 0;
        }
    }
    if (!op.key && op.op != DRIFT_COP_DDL)
        return 0;
    *ret = op;
    c->p = p;
    return 1;
}

int drift_commit_body_keys(const void *body, size_t len, drift_commit_op_fn fn, void *arg, char *err, size_t cap)
{
    s_cur_t c = {body, (const uint8_t *)body + len};
    uint64_t nops;
    if (s_container(&c, 0, &nops) < 0 || nops > len)
        return s_fail(err, cap, "frame body is not an array");
    for (uint64_t i = 0; i < nops; i++) {
        drift_commit_op_t op = {0};
        uint64_t nkeys;
        int have_table = 0;
        if (s_fast_op(&c, &op))
            goto report;
        if (s_container(&c, 1, &nkeys) < 0)
            return s_fail(err, cap, "ops[%llu] is not a map", (unsigned long long)i);
        for (uint64_t k = 0; k < nkeys; k++) {
            const uint8_t *name;
            uint64_t nl;
            if (c.p < c.end && (*c.p & 0xe0) == 0xa0) {
                nl = *c.p & 0x1f; /* a fixstr, as the packers write every key name */
                name = c.p + 1;
                if ((uint64_t)(c.end - name) < nl)
                    return s_fail(err, cap, "ops[%llu]: a key is not a str", (unsigned long long)i);
                c.p = name + nl;
            } else if (s_bytes(&c, 0, &name, &nl) < 0) {
                return s_fail(err, cap, "ops[%llu]: a key is not a str", (unsigned long long)i);
            }
            int which = 0; /* 1 op, 2 table, 3 key, 4 row, 0 any other name */
            if (nl == 2)
                which = name[0] == 'o' && name[1] == 'p';
            else if (nl == 3)
                which = memcmp(name, "key", 3) == 0 ? 3 : memcmp(name, "row", 3) == 0 ? 4 : 0;
            else if (nl == 5)
                which = memcmp(name, "table", 5) == 0 ? 2 : 0;
            if (which == 1) {
                const uint8_t *v;
                uint64_t vl;
                if (s_bytes(&c, 0, &v, &vl) < 0)
                    return s_fail(err, cap, "ops[%llu].op is not a str", (unsigned long long)i);
                drift_cop_t kind = s_op_kind(v, vl);
                if (kind)
                    op.op = kind; /* an unknown name leaves it as it was */
            } else if (which == 2) {
                uint64_t t;
                if (s_uint(&c, &t) < 0 || t > UINT32_MAX)
                    return s_fail(err, cap, "ops[%llu].table is not a uint32", (unsigned long long)i);
                op.table = (uint32_t)t;
                have_table = 1;
            } else if (which == 3) {
                uint64_t kl;
                if (s_bytes(&c, 1, &op.key, &kl) < 0 || kl > UINT32_MAX)
                    return s_fail(err, cap, "ops[%llu].key is not bin", (unsigned long long)i);
                op.key_len = (uint32_t)kl;
            } else if (which == 4) {
                const uint8_t *r = c.p;
                if (s_skip(&c) < 0)
                    return s_fail(err, cap, "ops[%llu]: malformed value", (unsigned long long)i);
                op.row_mp = r;
                op.row_mp_len = (uint32_t)(c.p - r);
            } else if (s_skip(&c) < 0) {
                return s_fail(err, cap, "ops[%llu]: malformed value", (unsigned long long)i);
            }
        }
        if (!op.op || !have_table || (!op.key && op.op != DRIFT_COP_DDL))
            return s_fail(err, cap, "ops[%llu] lacks op, table or key", (unsigned long long)i);
    report:;
        int rc = fn ? fn(&op, arg) : 0;
        if (rc)
            return rc;
    }
    if (c.p != c.end)
        return s_fail(err, cap, "trailing bytes after the op array");
    return 0;
}

/* Packs the "id" key and value (nil when the request had none). */
static void s_pack_id(msgpack_packer *pk, const drift_commit_req_t *req)
{
    s_str(pk, "id");
    if (req && req->has_id)
        msgpack_pack_object(pk, req->id);
    else
        msgpack_pack_nil(pk);
}

void drift_commit_pack_ok(msgpack_sbuffer *sb, const drift_commit_req_t *req, uint64_t seq, uint64_t ts_ns)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    s_pack_id(&pk, req);
    s_str(&pk, "ok");
    msgpack_pack_true(&pk);
    s_str(&pk, "seq");
    msgpack_pack_uint64(&pk, seq);
    s_str(&pk, "ts");
    msgpack_pack_uint64(&pk, ts_ns);
}

void drift_commit_pack_error(msgpack_sbuffer *sb, const drift_commit_req_t *req, const char *code, const char *message)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    s_pack_id(&pk, req);
    s_str(&pk, "ok");
    msgpack_pack_false(&pk);
    s_str(&pk, "error");
    msgpack_pack_map(&pk, 2);
    s_str(&pk, "code");
    s_str(&pk, code);
    s_str(&pk, "message");
    s_str(&pk, message);
}

void drift_commit_pack_request(msgpack_packer *pk, uint64_t id, uint64_t snapshot, drift_iso_t iso, size_t nops,
                               size_t nreads)
{
    drift_commit_pack_request_session(pk, id, snapshot, iso, nops, nreads, 0);
}

void drift_commit_pack_request_session(msgpack_packer *pk, uint64_t id, uint64_t snapshot, drift_iso_t iso,
                                       size_t nops, size_t nreads, uint64_t session)
{
    msgpack_pack_map(pk, 5 + (nreads > 0) + (session != 0));
    if (session) {
        s_str(pk, "session");
        msgpack_pack_uint64(pk, session);
    }
    s_str(pk, "id");
    msgpack_pack_uint64(pk, id);
    s_str(pk, "op");
    s_str(pk, "commit");
    s_str(pk, "snapshot");
    msgpack_pack_uint64(pk, snapshot);
    s_str(pk, "isolation");
    s_str(pk, s_iso_names[iso <= DRIFT_ISO_SERIALIZABLE ? iso : 0]);
    s_str(pk, "ops");
    msgpack_pack_array(pk, nops);
}

void drift_commit_pack_op(msgpack_packer *pk, drift_cop_t op, uint32_t table, const void *key, size_t key_len,
                          const void *row_mp, size_t row_len)
{
    drift_commit_pack_op_delta(pk, op, table, key, key_len, row_mp, row_len, NULL, 0);
}

void drift_commit_pack_op_delta(msgpack_packer *pk, drift_cop_t op, uint32_t table, const void *key, size_t key_len,
                                const void *row_mp, size_t row_len, const void *delta_mp, size_t delta_len)
{
    msgpack_pack_map(pk, 2 + (key != NULL) + (row_mp != NULL) + (delta_mp != NULL));
    s_str(pk, "op");
    s_str(pk, drift_commit_op_name(op));
    s_str(pk, "table");
    msgpack_pack_uint32(pk, table);
    if (key) {
        s_str(pk, "key");
        msgpack_pack_bin(pk, key_len);
        msgpack_pack_bin_body(pk, key, key_len);
    }
    if (row_mp) {
        s_str(pk, "row");
        /* Already encoded: append the bytes as they are. */
        pk->callback(pk->data, row_mp, row_len);
    }
    if (delta_mp) {
        s_str(pk, "delta");
        pk->callback(pk->data, delta_mp, delta_len);
    }
}

void drift_commit_pack_reads_header(msgpack_packer *pk, size_t nreads)
{
    s_str(pk, "reads");
    msgpack_pack_array(pk, nreads);
}

void drift_commit_pack_read(msgpack_packer *pk, uint32_t table, const void *key, size_t key_len)
{
    msgpack_pack_map(pk, 1 + (key != NULL));
    s_str(pk, "table");
    msgpack_pack_uint32(pk, table);
    if (key) {
        s_str(pk, "key");
        msgpack_pack_bin(pk, key_len);
        msgpack_pack_bin_body(pk, key, key_len);
    }
}

int drift_commit_reply_parse(const void *buf, size_t len, drift_commit_reply_t *ret)
{
    memset(ret, 0, sizeof *ret);
    drift_msg_limits_t lim = drift_msg_limits(1u << 16);
    drift_msg_t *msg = NULL;
    int rc = drift_msg_decode(buf, len, &lim, &msg, NULL, 0);
    if (rc < 0)
        return DRIFT_EPROTO;
    const msgpack_object *root = drift_msg_root(msg), *v;
    rc = DRIFT_EPROTO;
    if (root->type != MSGPACK_OBJECT_MAP)
        goto out;
    if ((v = drift_msg_map_get(root, "id")) && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        ret->id = v->via.u64;
    if (!(v = drift_msg_map_get(root, "ok")) || v->type != MSGPACK_OBJECT_BOOLEAN)
        goto out;
    ret->ok = v->via.boolean;
    if ((v = drift_msg_map_get(root, "seq")) && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        ret->seq = v->via.u64;
    if ((v = drift_msg_map_get(root, "ts")) && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        ret->ts_ns = v->via.u64;
    if (!ret->ok) {
        const msgpack_object *e = drift_msg_map_get(root, "error");
        if (!e || e->type != MSGPACK_OBJECT_MAP)
            goto out;
        if ((v = drift_msg_map_get(e, "code")) && v->type == MSGPACK_OBJECT_STR)
            snprintf(ret->code, sizeof ret->code, "%.*s", (int)v->via.str.size, v->via.str.ptr);
        if ((v = drift_msg_map_get(e, "message")) && v->type == MSGPACK_OBJECT_STR)
            snprintf(ret->message, sizeof ret->message, "%.*s", (int)v->via.str.size, v->via.str.ptr);
    }
    rc = 0;
out:
    drift_msg_destroy(&msg);
    return rc;
}

/* ---- the client: ZeroMQ DEALER, or the unix stream transport ----
 * The unix transport is single-threaded (the owner's thread). Without drift_commit_client_watch it is driven by
 * the calls (send writes or queues; recv polls); with it, libevent events on the owner's loop read, flush the
 * queue and reconnect. */

#define UNIX_MAX_REPLY (1u << 20)   /* replies are small maps */
#define UNIX_QUEUE_MAX (256u << 20) /* bytes queued while the writer is slow or away */
#define UNIX_BACKOFF_MIN_MS 5
#define UNIX_BACKOFF_MAX_MS 20 /* commits wait in the client while the writer restarts: find it fast */

struct drift_commit_client {
    void *ctx;
    void *sock;
    /* unix transport */
    char *path;
    int fd; /* -1: not connected */
    drift_chan_rbuf_t rb;
    drift_chan_wbuf_t wb; /* framed requests not yet written (whole messages, or the rest of one) */
    int lost;     /* the connection dropped and that was not reported yet */
    uint64_t gen; /* connections dropped so far: a request sent under gen is lost when gen moves on */
    int backoff_ms;
    int64_t next_try_ms;
    struct event_base *base;
    struct event *rev, *wev, *tev;
    void (*fn)(void *);
    void *arg;
};

static int64_t s_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void s_u_drop(drift_commit_client_t *self);

/* Writes what is queued; arms EV_WRITE while something is left. Returns 0 or -errno (connection dropped). */
static int s_u_flush(drift_commit_client_t *self)
{
    if (self->fd >= 0) {
        int rc = drift_chan_wbuf_flush(&self->wb, self->fd);
        if (rc < 0 && rc != -EAGAIN) {
            s_u_drop(self);
            return rc;
        }
    }
    if (self->wev) {
        if (drift_chan_wbuf_pending(&self->wb))
            event_add(self->wev, NULL);
        else
            event_del(self->wev);
    }
    return 0;
}

static void s_u_on_read(evutil_socket_t fd, short what, void *arg);
static void s_u_on_write(evutil_socket_t fd, short what, void *arg);

/* Arms the reconnect/notify timer after ms. */
static void s_u_timer(drift_commit_client_t *self, int ms)
{
    if (!self->tev)
        return;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(self->tev, &tv);
}

/* Connects when not connected (at most once per back-off period unless force). Returns 0 when connected. */
static int s_u_connect(drift_commit_client_t *self, int force)
{
    if (self->fd >= 0)
        return 0;
    int64_t now = s_mono_ms();
    if (!force && now < self->next_try_ms)
        return -EAGAIN;
    int fd = drift_chan_connect(self->path, 1);
    if (fd < 0) {
        self->next_try_ms = now + self->backoff_ms;
        s_u_timer(self, self->backoff_ms);
        self->backoff_ms = self->backoff_ms * 2 > UNIX_BACKOFF_MAX_MS ? UNIX_BACKOFF_MAX_MS : self->backoff_ms * 2;
        return fd;
    }
    self->fd = fd;
    self->backoff_ms = UNIX_BACKOFF_MIN_MS;
    self->next_try_ms = 0;
    if (self->base) {
        self->rev = event_new(self->base, fd, EV_READ | EV_PERSIST, s_u_on_read, self);
        self->wev = event_new(self->base, fd, EV_WRITE | EV_PERSIST, s_u_on_write, self);
        if (!self->rev || !self->wev || event_add(self->rev, NULL) < 0) {
            s_u_drop(self);
            return -ENOMEM;
        }
    }
    return s_u_flush(self);
}

/* The connection is gone: every request written or queued on it is lost; report it once, reconnect later. */
static void s_u_drop(drift_commit_client_t *self)
{
    if (self->rev)
        event_free(self->rev);
    if (self->wev)
        event_free(self->wev);
    self->rev = self->wev = NULL;
    if (self->fd >= 0)
        close(self->fd);
    self->fd = -1;
    drift_chan_rbuf_free(&self->rb);
    drift_chan_wbuf_clear(&self->wb);
    self->lost = 1;
    self->gen++;
    self->next_try_ms = 0;
    s_u_timer(self, 0); /* notify the owner from the loop, then reconnect */
}

static void s_u_on_read(evutil_socket_t fd, short what, void *arg)
{
    drift_commit_client_t *self = arg;
    (void)fd;
    (void)what;
    self->fn(self->arg);
    /* Replies the owner left in the buffer (it takes a bounded number per call): come back next turn. */
    drift_chan_msg_t m;
    drift_chan_rbuf_t peek = self->rb;
    if (self->rev && drift_chan_rbuf_next(&peek, &m) != 0)
        event_active(self->rev, EV_READ, 0);
}

static void s_u_on_write(evutil_socket_t fd, short what, void *arg)
{
    drift_commit_client_t *self = arg;
    (void)fd;
    (void)what;
    if (s_u_flush(self) < 0)
        self->fn(self->arg); /* dropped */
}

static void s_u_on_timer(evutil_socket_t fd, short what, void *arg)
{
    drift_commit_client_t *self = arg;
    (void)fd;
    (void)what;
    if (self->lost)
        self->fn(self->arg); /* the owner fails what was in flight */
    if (self->fd < 0)
        s_u_connect(self, 1);
}

static int s_u_send(drift_commit_client_t *self, const void *buf, size_t len)
{
    uint8_t hdr[8];
    struct iovec in = {(void *)buf, len}, out[2];
    size_t total;
    int k = drift_chan_frame(&in, 1, UINT32_MAX, hdr, out, &total);
    if (k < 0)
        return k == DRIFT_ETOOBIG ? -EMSGSIZE : -EINVAL;
    if (self->fd < 0)
        s_u_connect(self, !self->base); /* watched: the timer paces the attempts */
    if (self->fd >= 0 && !drift_chan_wbuf_pending(&self->wb)) {
        struct msghdr mh = {.msg_iov = out, .msg_iovlen = (size_t)k};
        ssize_t w;
        do
            w = sendmsg(self->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        while (w < 0 && errno == EINTR);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            /* The connection is broken (the writer died) and nothing of this request went out: drop the
             * connection (what was in flight on it is lost) and keep the request for the next one. */
            s_u_drop(self);
            return drift_chan_wbuf_queue(&self->wb, out, k, 0, total);
        }
        if (w < 0)
            w = 0;
        if ((size_t)w == total)
            return 0;
        int rc = drift_chan_wbuf_queue(&self->wb, out, k, (size_t)w, total); /* the rest must follow */
        if (rc == 0)
            rc = s_u_flush(self);
        return rc;
    }
    if (drift_chan_wbuf_pending(&self->wb) + total > UNIX_QUEUE_MAX)
        return -ENOBUFS;
    int rc = drift_chan_wbuf_queue(&self->wb, out, k, 0, total);
    if (rc == 0 && self->fd >= 0)
        rc = s_u_flush(self);
    return rc;
}

static int s_u_try_recv(drift_commit_client_t *self, drift_commit_reply_t *ret)
{
    if (self->lost) {
        self->lost = 0;
        return -ECONNRESET;
    }
    if (self->fd < 0) {
        if (!self->base)
            s_u_connect(self, 0);
        return -EAGAIN;
    }
    if (drift_chan_wbuf_pending(&self->wb) && s_u_flush(self) < 0) {
        self->lost = 0;
        return -ECONNRESET;
    }
    for (int pass = 0; pass < 2; pass++) {
        drift_chan_msg_t m;
        int rc = drift_chan_rbuf_next(&self->rb, &m);
        if (rc == 1) {
            if (m.nparts != 1)
                return DRIFT_EPROTO;
            return drift_commit_reply_parse(m.part[0], m.len[0], ret);
        }
        if (rc < 0) { /* a malformed stream cannot be resynchronised */
            s_u_drop(self);
            self->lost = 0;
            return -ECONNRESET;
        }
        if (pass == 1)
            break;
        ssize_t n = drift_chan_rbuf_read(&self->rb, self->fd);
        if (n == -EAGAIN)
            return -EAGAIN;
        if (n <= 0) {
            s_u_drop(self);
            self->lost = 0;
            return -ECONNRESET;
        }
    }
    return -EAGAIN;
}

static int s_u_recv(drift_commit_client_t *self, int timeout_ms, drift_commit_reply_t *ret)
{
    int64_t deadline = timeout_ms < 0 ? -1 : s_mono_ms() + timeout_ms;
    for (;;) {
        int rc = s_u_try_recv(self, ret);
        if (rc != -EAGAIN)
            return rc;
        int left = -1;
        if (deadline >= 0) {
            int64_t l = deadline - s_mono_ms();
            if (l <= 0)
                return -EAGAIN;
            left = (int)l;
        }
        if (self->fd < 0) {
            if (s_u_connect(self, 1) < 0) {
                int nap = left >= 0 && left < self->backoff_ms ? left : self->backoff_ms;
                struct timespec ts = {nap / 1000, (long)(nap % 1000) * 1000000L};
                nanosleep(&ts, NULL);
            }
            continue;
        }
        struct pollfd p = {.fd = self->fd, .events = (short)(POLLIN | (drift_chan_wbuf_pending(&self->wb) ? POLLOUT : 0))};
        int n = poll(&p, 1, left);
        if (n < 0 && errno != EINTR)
            return -errno;
        if (n == 0)
            return -EAGAIN;
    }
}

drift_commit_client_t *drift_commit_client_new(const char *endpoint)
{
    drift_commit_client_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->fd = -1;
    if (strncmp(endpoint, "unix:", 5) == 0) {
        self->path = strdup(endpoint + 5);
        if (!self->path) {
            free(self);
            errno = ENOMEM;
            return NULL;
        }
        drift_chan_rbuf_init(&self->rb, UNIX_MAX_REPLY);
        self->backoff_ms = UNIX_BACKOFF_MIN_MS;
        s_u_connect(self, 1); /* not listening yet is fine: requests wait for the connection */
        return self;
    }
    self->ctx = zmq_ctx_new();
    if (!self->ctx)
        goto fail;
    self->sock = zmq_socket(self->ctx, ZMQ_DEALER);
    int zero = 0;
    /* No high-water marks: a query worker keeps many commits in flight (bounded by the gateway's max_queue);
     * a full pipe would block the send or drop a reply. */
    if (!self->sock || zmq_setsockopt(self->sock, ZMQ_LINGER, &zero, sizeof zero) < 0 ||
        zmq_setsockopt(self->sock, ZMQ_SNDHWM, &zero, sizeof zero) < 0 ||
        zmq_setsockopt(self->sock, ZMQ_RCVHWM, &zero, sizeof zero) < 0 ||
        zmq_connect(self->sock, endpoint) < 0)
        goto fail;
    return self;
fail : {
    int e = errno;
    drift_commit_client_destroy(&self);
    errno = e;
    return NULL;
}
}

void drift_commit_client_destroy(drift_commit_client_t **self_p)
{
    drift_commit_client_t *self = *self_p;
    if (!self)
        return;
    if (self->sock)
        zmq_close(self->sock);
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    if (self->rev)
        event_free(self->rev);
    if (self->wev)
        event_free(self->wev);
    if (self->tev)
        event_free(self->tev);
    if (self->fd >= 0)
        close(self->fd);
    drift_chan_rbuf_free(&self->rb);
    drift_chan_wbuf_free(&self->wb);
    free(self->path);
    free(self);
    *self_p = NULL;
}

int drift_commit_client_send(drift_commit_client_t *self, const void *buf, size_t len)
{
    if (self->path)
        return s_u_send(self, buf, len);
    return zmq_send(self->sock, buf, len, 0) < 0 ? -errno : 0;
}

int drift_commit_client_recv(drift_commit_client_t *self, int timeout_ms, drift_commit_reply_t *ret)
{
    if (self->path)
        return s_u_recv(self, timeout_ms, ret);
    zmq_pollitem_t it = {self->sock, 0, ZMQ_POLLIN, 0};
    int n = zmq_poll(&it, 1, timeout_ms);
    if (n < 0)
        return -errno;
    if (n == 0)
        return -EAGAIN;
    return drift_commit_client_try_recv(self, ret);
}

int drift_commit_client_try_recv(drift_commit_client_t *self, drift_commit_reply_t *ret)
{
    if (self->path)
        return s_u_try_recv(self, ret);
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, self->sock, ZMQ_DONTWAIT) < 0) {
        int e = errno;
        zmq_msg_close(&m);
        return -e;
    }
    int rc = drift_commit_reply_parse(zmq_msg_data(&m), zmq_msg_size(&m), ret);
    zmq_msg_close(&m);
    return rc;
}

void *drift_commit_client_socket(drift_commit_client_t *self)
{
    return self ? self->sock : NULL;
}

int drift_commit_client_watch(drift_commit_client_t *self, struct event_base *base, void (*fn)(void *arg), void *arg)
{
    if (!self->path)
        return -ENOTSUP;
    if (self->base)
        return -EBUSY;
    self->base = base;
    self->fn = fn;
    self->arg = arg;
    self->tev = evtimer_new(base, s_u_on_timer, self);
    if (!self->tev)
        return -ENOMEM;
    if (self->fd >= 0) {
        self->rev = event_new(base, self->fd, EV_READ | EV_PERSIST, s_u_on_read, self);
        self->wev = event_new(base, self->fd, EV_WRITE | EV_PERSIST, s_u_on_write, self);
        if (!self->rev || !self->wev || event_add(self->rev, NULL) < 0)
            return -ENOMEM;
        s_u_flush(self);
    } else {
        s_u_timer(self, 0);
    }
    return 0;
}

uint64_t drift_commit_client_gen(const drift_commit_client_t *self)
{
    return self ? self->gen : 0;
}

int drift_commit_client_connected(const drift_commit_client_t *self)
{
    return self && self->path && self->fd >= 0;
}
