/* ipc/commit.c — see commit.h. */
#include "ipc/commit.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/errors.h"
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

int drift_commit_body_foreach(const void *body, size_t len, drift_commit_op_fn fn, void *arg, char *err,
                              size_t cap)
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

void drift_commit_pack_error(msgpack_sbuffer *sb, const drift_commit_req_t *req, const char *code,
                             const char *message)
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
    msgpack_pack_map(pk, 5 + (nreads > 0));
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
    msgpack_pack_map(pk, 2 + (key != NULL) + (row_mp != NULL));
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

struct drift_commit_client {
    void *ctx;
    void *sock;
};

drift_commit_client_t *drift_commit_client_new(const char *endpoint)
{
    drift_commit_client_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ctx = zmq_ctx_new();
    if (!self->ctx)
        goto fail;
    self->sock = zmq_socket(self->ctx, ZMQ_DEALER);
    int zero = 0;
    if (!self->sock || zmq_setsockopt(self->sock, ZMQ_LINGER, &zero, sizeof zero) < 0 ||
        zmq_connect(self->sock, endpoint) < 0)
        goto fail;
    return self;
fail: {
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
    free(self);
    *self_p = NULL;
}

int drift_commit_client_send(drift_commit_client_t *self, const void *buf, size_t len)
{
    return zmq_send(self->sock, buf, len, 0) < 0 ? -errno : 0;
}

int drift_commit_client_recv(drift_commit_client_t *self, int timeout_ms, drift_commit_reply_t *ret)
{
    zmq_pollitem_t it = {self->sock, 0, ZMQ_POLLIN, 0};
    int n = zmq_poll(&it, 1, timeout_ms);
    if (n < 0)
        return -errno;
    if (n == 0)
        return -EAGAIN;
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, self->sock, 0) < 0) {
        int e = errno;
        zmq_msg_close(&m);
        return -e;
    }
    int rc = drift_commit_reply_parse(zmq_msg_data(&m), zmq_msg_size(&m), ret);
    zmq_msg_close(&m);
    return rc;
}
