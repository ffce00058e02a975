/* ipc/proto.c — see proto.h. */
#include "ipc/proto.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "ipc/msg.h"

#define FAIL(...)                                                                                                      \
    do {                                                                                                               \
        if (err && errcap)                                                                                             \
            snprintf(err, errcap, __VA_ARGS__);                                                                        \
        return DRIFT_EPROTO;                                                                                           \
    } while (0)

/* True when o is a str equal to s. */
static int s_str_is(const msgpack_object *o, const char *s)
{
    size_t n = strlen(s);
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n && memcmp(o->via.str.ptr, s, n) == 0;
}

static int s_is_int(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER || o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
}

int drift_proto_parse(const msgpack_object *root, drift_proto_req_t *req, char *err, size_t errcap)
{
    memset(req, 0, sizeof *req);
    req->chunk_rows = DRIFT_PROTO_CHUNK_ROWS_DEFAULT;
    if (root->type != MSGPACK_OBJECT_MAP)
        FAIL("a request must be a MessagePack map");
    const msgpack_object *id = NULL, *v = NULL, *op = NULL, *sql = NULL, *params = NULL, *tp = NULL, *cr = NULL,
                         *asof = NULL;
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object *k = &root->via.map.ptr[i].key, *val = &root->via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR)
            continue; /* non-string keys are ignored like unknown keys; checked below for id */
        if (s_str_is(k, "id"))
            id = val;
        else if (s_str_is(k, "v"))
            v = val;
        else if (s_str_is(k, "op"))
            op = val;
        else if (s_str_is(k, "sql"))
            sql = val;
        else if (s_str_is(k, "params"))
            params = val;
        else if (s_str_is(k, "traceparent"))
            tp = val;
        else if (s_str_is(k, "chunk_rows"))
            cr = val;
        else if (s_str_is(k, "as_of"))
            asof = val;
    }
    if (id && s_is_int(id)) {
        req->has_id = 1;
        req->id = *id;
    }
    if (!id)
        FAIL("missing 'id'");
    if (!req->has_id)
        FAIL("'id' must be an integer");
    if (v && !(v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 == DRIFT_PROTO_VERSION))
        FAIL("unsupported protocol version (this server speaks v=%d)", DRIFT_PROTO_VERSION);
    if (!op)
        FAIL("missing 'op'");
    if (op->type != MSGPACK_OBJECT_STR)
        FAIL("'op' must be a string");
    if (s_str_is(op, "ping"))
        req->op = DRIFT_OP_PING;
    else if (s_str_is(op, "query"))
        req->op = DRIFT_OP_QUERY;
    else
        FAIL("unknown op '%.*s'", (int)(op->via.str.size > 64 ? 64 : op->via.str.size), op->via.str.ptr);
    if (sql) {
        if (sql->type != MSGPACK_OBJECT_STR)
            FAIL("'sql' must be a string");
        req->sql = sql->via.str.ptr;
        req->sql_len = sql->via.str.size;
    }
    if (req->op == DRIFT_OP_QUERY && !sql)
        FAIL("op 'query' needs 'sql'");
    if (params && params->type != MSGPACK_OBJECT_NIL) {
        if (params->type != MSGPACK_OBJECT_ARRAY)
            FAIL("'params' must be an array");
        req->params = params;
    }
    if (tp && tp->type != MSGPACK_OBJECT_NIL) {
        if (tp->type != MSGPACK_OBJECT_STR)
            FAIL("'traceparent' must be a string");
        if (tp->via.str.size > DRIFT_PROTO_TRACEPARENT_MAX)
            FAIL("'traceparent' longer than %d bytes", DRIFT_PROTO_TRACEPARENT_MAX);
        for (uint32_t i = 0; i < tp->via.str.size; i++) {
            char c = tp->via.str.ptr[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '-'))
                FAIL("'traceparent' may hold only hex digits and '-'");
        }
        req->traceparent = tp->via.str.ptr;
        req->traceparent_len = tp->via.str.size;
    }
    if (cr && cr->type != MSGPACK_OBJECT_NIL) {
        if (cr->type != MSGPACK_OBJECT_POSITIVE_INTEGER || cr->via.u64 < 1 || cr->via.u64 > DRIFT_PROTO_CHUNK_ROWS_MAX)
            FAIL("'chunk_rows' must be an integer from 1 to %u", DRIFT_PROTO_CHUNK_ROWS_MAX);
        req->chunk_rows = (uint32_t)cr->via.u64;
    }
    if (asof && asof->type != MSGPACK_OBJECT_NIL) {
        if (asof->type == MSGPACK_OBJECT_POSITIVE_INTEGER && asof->via.u64 <= INT64_MAX) {
            req->as_of_seq = (int64_t)asof->via.u64;
        } else if (asof->type == MSGPACK_OBJECT_STR) {
            req->as_of_time = asof->via.str.ptr;
            req->as_of_time_len = asof->via.str.size;
        } else {
            FAIL("'as_of' must be a non-negative integer (seq) or a string (RFC 3339 time)");
        }
        req->has_as_of = 1;
    }
    return 0;
}

const char *drift_proto_op_name(drift_proto_op_t op)
{
    switch (op) {
    case DRIFT_OP_PING: return "ping";
    case DRIFT_OP_QUERY: return "query";
    default: return "unknown";
    }
}

void drift_proto_pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

void drift_proto_pack_id(msgpack_packer *pk, const drift_proto_req_t *req)
{
    drift_proto_pack_str(pk, "id");
    if (req && req->has_id)
        msgpack_pack_object(pk, req->id);
    else
        msgpack_pack_nil(pk);
}

void drift_proto_error(msgpack_sbuffer *sb, const drift_proto_req_t *req, const char *code, const char *message,
                       int64_t position, int64_t retry_after_ms, const char *txn)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, txn ? 4 : 3);
    drift_proto_pack_id(&pk, req);
    drift_proto_pack_str(&pk, "ok");
    msgpack_pack_false(&pk);
    drift_proto_pack_str(&pk, "error");
    msgpack_pack_map(&pk, 2 + (position > 0) + (retry_after_ms >= 0));
    drift_proto_pack_str(&pk, "code");
    drift_proto_pack_str(&pk, code);
    drift_proto_pack_str(&pk, "message");
    drift_proto_pack_str(&pk, message);
    if (position > 0) {
        drift_proto_pack_str(&pk, "position");
        msgpack_pack_int64(&pk, position);
    }
    if (retry_after_ms >= 0) {
        drift_proto_pack_str(&pk, "retry_after_ms");
        msgpack_pack_int64(&pk, retry_after_ms);
    }
    if (txn) {
        drift_proto_pack_str(&pk, "txn");
        drift_proto_pack_str(&pk, txn);
    }
}

void drift_proto_errorf(msgpack_sbuffer *sb, const drift_proto_req_t *req, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    drift_proto_error(sb, req, code, msg, 0, -1, NULL);
}

static void s_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t s_get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

void drift_wire_encode(const drift_wire_hdr_t *h, uint8_t out[DRIFT_WIRE_HDR_SIZE])
{
    out[0] = h->type;
    out[1] = h->flags;
    out[2] = out[3] = 0;
    for (int i = 0; i < 4; i++)
        out[4 + i] = (uint8_t)(h->aux >> (8 * i));
    s_put64(out + 8, h->token);
    s_put64(out + 16, h->session);
}

int drift_wire_decode(const void *buf, size_t len, drift_wire_hdr_t *ret)
{
    const uint8_t *p = buf;
    if (len != DRIFT_WIRE_HDR_SIZE || p[0] < DRIFT_WIRE_HELLO || p[0] > DRIFT_WIRE_BYE)
        return DRIFT_EPROTO;
    ret->type = p[0];
    ret->flags = p[1];
    ret->aux = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
    ret->token = s_get64(p + 8);
    ret->session = s_get64(p + 16);
    return 0;
}
