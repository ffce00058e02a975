/* client/drift.c — libdrift connections: options, the DEALER socket, request
 * encoding, pipelined sends and receives matched by id, chunk assembly.
 *
 * Concurrency: a connection is used by one thread at a time (documented in
 * drift.h); it owns its own ZeroMQ context, so distinct connections share
 * nothing. Replies that arrive for other requests while waiting for one are
 * kept in the in-flight table until their own drift_recv. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "client/drift_int.h"

/* One request in flight. The table is sorted by id (ids only grow). */
typedef struct {
    uint64_t id;
    drift_result_t *r; /* partial or complete result; NULL before the first reply */
    bool dead;         /* received or abandoned: skipped, removed by s_compact */
} s_pending_t;

struct drift_conn {
    void *ctx;
    void *sock;
    char *endpoint;
    int connect_timeout_ms;
    int request_timeout_ms;
    uint64_t next_id;
    s_pending_t *pend;
    size_t npend, cappend, ndead;
    char errcode[8];
    char errmsg[512];
    char *server;
    int chunk_rows;
    char *traceparent;
    char *as_of_text; /* timestamp form of as_of, or NULL */
    bool has_as_of_seq;
    uint64_t as_of_seq;
    volatile sig_atomic_t *intr; /* caller's interrupt flag, or NULL */
};

drift_value_t drift_null(void)
{
    drift_value_t v = {.type = DRIFT_TYPE_NULL};
    return v;
}

drift_value_t drift_int(int64_t i)
{
    drift_value_t v = {.type = DRIFT_TYPE_INT, .u.i = i};
    return v;
}

drift_value_t drift_double(double d)
{
    drift_value_t v = {.type = DRIFT_TYPE_DOUBLE, .u.d = d};
    return v;
}

drift_value_t drift_bool(bool b)
{
    drift_value_t v = {.type = DRIFT_TYPE_BOOL, .u.b = b};
    return v;
}

drift_value_t drift_text(const char *s)
{
    return s ? drift_textn(s, strlen(s)) : drift_null();
}

drift_value_t drift_textn(const char *s, size_t len)
{
    drift_value_t v = {.type = DRIFT_TYPE_TEXT, .u.s = {s, len}};
    return v;
}

drift_value_t drift_blob(const void *p, size_t len)
{
    drift_value_t v = {.type = DRIFT_TYPE_BLOB, .u.s = {p, len}};
    return v;
}

drift_value_t drift_json_msgpack(const void *mp, size_t len)
{
    drift_value_t v = {.type = DRIFT_TYPE_JSON, .u.s = {mp, len}};
    return v;
}

void drift_options_init(drift_options_t *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->size = sizeof *opts;
    opts->endpoint = DRIFT_DEFAULT_ENDPOINT;
    opts->connect_timeout_ms = 5000;
    opts->request_timeout_ms = 30000;
    opts->max_message_size = (size_t)64 << 20;
}

const char *drift_strerror_client(int rc)
{
    switch (rc) {
    case DRIFT_CLIENT_OK: return "success";
    case DRIFT_CLIENT_ESERVER: return "the server answered with an error";
    case DRIFT_CLIENT_ETIMEOUT: return "no reply within the request timeout";
    case DRIFT_CLIENT_ECONNECT: return "could not reach the server";
    case DRIFT_CLIENT_EPROTO: return "malformed reply";
    case DRIFT_CLIENT_EINVAL: return "invalid argument";
    case DRIFT_CLIENT_ENOMEM: return "out of memory";
    case DRIFT_CLIENT_EZMQ: return "ZeroMQ error";
    case DRIFT_CLIENT_EUNKNOWNID: return "no such request in flight";
    case DRIFT_CLIENT_ENOTSUP: return "not supported";
    case DRIFT_CLIENT_EINTR: return "interrupted";
    default: return "unknown error";
    }
}

/* Records a failure on the connection; returns rc for tail calls. */
static int s_fail(drift_conn_t *c, int rc, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int s_fail(drift_conn_t *c, int rc, const char *code, const char *fmt, ...)
{
    snprintf(c->errcode, sizeof c->errcode, "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
    return rc;
}

/* Clears the last error (a call succeeded). */
static void s_ok(drift_conn_t *c)
{
    c->errcode[0] = 0;
    c->errmsg[0] = 0;
}

const char *drift_conn_errcode(const drift_conn_t *c)
{
    return c ? c->errcode : "";
}

const char *drift_conn_errmsg(const drift_conn_t *c)
{
    return c ? c->errmsg : "";
}

const char *drift_conn_server(const drift_conn_t *c)
{
    return c && c->server ? c->server : "";
}

size_t drift_inflight(const drift_conn_t *c)
{
    return c ? c->npend - c->ndead : 0;
}

/* Milliseconds on the monotonic clock. */
static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until deadline (-1 = forever) as a zmq_poll timeout. */
static long s_left(int64_t deadline)
{
    if (deadline < 0)
        return -1;
    int64_t left = deadline - s_now_ms();
    return left > 0 ? (long)left : 0;
}

/* Deadline for a new wait of timeout_ms (-1 = forever). */
static int64_t s_deadline(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : s_now_ms() + timeout_ms;
}

/* Index of live request id in the table, or -1. */
static ssize_t s_find(const drift_conn_t *c, uint64_t id)
{
    size_t lo = 0, hi = c->npend;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->pend[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < c->npend && c->pend[lo].id == id && !c->pend[lo].dead)
        return (ssize_t)lo;
    return -1;
}

/* Drops dead entries once they are at least half of the table. */
static void s_compact(drift_conn_t *c)
{
    if (c->ndead == 0 || c->ndead * 2 < c->npend)
        return;
    size_t j = 0;
    for (size_t i = 0; i < c->npend; i++)
        if (!c->pend[i].dead)
            c->pend[j++] = c->pend[i];
    c->npend = j;
    c->ndead = 0;
}

/* Marks entry i received or abandoned, freeing what it still holds. */
static void s_retire(drift_conn_t *c, size_t i)
{
    drift_result_free(&c->pend[i].r);
    c->pend[i].dead = true;
    c->ndead++;
    s_compact(c);
}

/* Adds request id to the table. */
static int s_track(drift_conn_t *c, uint64_t id)
{
    if (c->npend == c->cappend) {
        size_t cap = c->cappend ? c->cappend * 2 : 16;
        s_pending_t *p = realloc(c->pend, cap * sizeof *p);
        if (!p)
            return s_fail(c, DRIFT_CLIENT_ENOMEM, "53200", "out of memory");
        c->pend = p;
        c->cappend = cap;
    }
    c->pend[c->npend++] = (s_pending_t){.id = id};
    return 0;
}

/* Packs a str from a NUL-terminated C string. */
static void s_pack_cstr(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* True when a MessagePack value starting with byte b is a map or an array. */
static bool s_is_container(unsigned char b)
{
    return (b & 0xe0) == 0x80 || (b >= 0xdc && b <= 0xdf); /* fixmap, fixarray, array16/32, map16/32 */
}

/* Encodes a request map into sb. op is "ping" or "query". */
static int s_encode(drift_conn_t *c, msgpack_sbuffer *sb, uint64_t id, const char *op, const char *sql,
                    const drift_value_t *params, size_t nparams)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    bool query = strcmp(op, "query") == 0;
    bool as_of = query && (c->has_as_of_seq || c->as_of_text);
    bool chunk = query && c->chunk_rows > 0;
    size_t nkeys = 3 + (sql ? 1 : 0) + (nparams ? 1 : 0) + (c->traceparent ? 1 : 0) + as_of + chunk;
    msgpack_pack_map(&pk, nkeys);
    s_pack_cstr(&pk, "v");
    msgpack_pack_int(&pk, 1);
    s_pack_cstr(&pk, "id");
    msgpack_pack_uint64(&pk, id);
    s_pack_cstr(&pk, "op");
    s_pack_cstr(&pk, op);
    if (sql) {
        s_pack_cstr(&pk, "sql");
        s_pack_cstr(&pk, sql);
    }
    if (c->traceparent) {
        s_pack_cstr(&pk, "traceparent");
        s_pack_cstr(&pk, c->traceparent);
    }
    if (as_of) {
        s_pack_cstr(&pk, "as_of");
        if (c->as_of_text)
            s_pack_cstr(&pk, c->as_of_text);
        else
            msgpack_pack_uint64(&pk, c->as_of_seq);
    }
    if (chunk) {
        s_pack_cstr(&pk, "chunk_rows");
        msgpack_pack_int(&pk, c->chunk_rows);
    }
    if (nparams) {
        s_pack_cstr(&pk, "params");
        msgpack_pack_array(&pk, nparams);
        for (size_t i = 0; i < nparams; i++) {
            const drift_value_t *v = &params[i];
            switch (v->type) {
            case DRIFT_TYPE_NULL: msgpack_pack_nil(&pk); break;
            case DRIFT_TYPE_INT: msgpack_pack_int64(&pk, v->u.i); break;
            case DRIFT_TYPE_DOUBLE: msgpack_pack_double(&pk, v->u.d); break;
            case DRIFT_TYPE_BOOL: v->u.b ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk); break;
            case DRIFT_TYPE_TEXT:
                if (!v->u.s.ptr && v->u.s.len)
                    return s_fail(c, DRIFT_CLIENT_EINVAL, "22023", "parameter $%zu: NULL text pointer", i + 1);
                msgpack_pack_str(&pk, v->u.s.len);
                msgpack_pack_str_body(&pk, v->u.s.ptr ? v->u.s.ptr : "", v->u.s.len);
                break;
            case DRIFT_TYPE_BLOB:
                if (!v->u.s.ptr && v->u.s.len)
                    return s_fail(c, DRIFT_CLIENT_EINVAL, "22023", "parameter $%zu: NULL blob pointer", i + 1);
                msgpack_pack_bin(&pk, v->u.s.len);
                msgpack_pack_bin_body(&pk, v->u.s.ptr ? v->u.s.ptr : "", v->u.s.len);
                break;
            case DRIFT_TYPE_JSON:
                /* One pre-encoded MessagePack map or array, copied as it is once checked. */
                if (!v->u.s.ptr || drift_mp_check(v->u.s.ptr, v->u.s.len, DRIFT_CLIENT_MAX_DEPTH) < 0 ||
                    !s_is_container((unsigned char)v->u.s.ptr[0]))
                    return s_fail(c, DRIFT_CLIENT_EINVAL, "22023",
                                  "parameter $%zu: JSON must be one well-formed MessagePack map or array", i + 1);
                msgpack_sbuffer_write(sb, v->u.s.ptr, v->u.s.len);
                break;
            default:
                return s_fail(c, DRIFT_CLIENT_EINVAL, "22023", "parameter $%zu: unsupported type %d", i + 1,
                              (int)v->type);
            }
        }
    }
    return 0;
}

/* Handles one received reply message: validates, decodes and files it under its id.
 * Replies to unknown ids (abandoned after a timeout) are dropped. */
static int s_dispatch(drift_conn_t *c, const void *data, size_t len)
{
    if (drift_mp_check(data, len, DRIFT_CLIENT_MAX_DEPTH) < 0)
        return s_fail(c, DRIFT_CLIENT_EPROTO, "08P01", "malformed reply (%zu bytes of invalid MessagePack)", len);
    char *buf = malloc(len);
    if (!buf)
        return s_fail(c, DRIFT_CLIENT_ENOMEM, "53200", "out of memory");
    memcpy(buf, data, len);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    int rc = 0;
    if (msgpack_unpack_next(&up, buf, len, &off) != MSGPACK_UNPACK_SUCCESS || up.data.type != MSGPACK_OBJECT_MAP) {
        rc = s_fail(c, DRIFT_CLIENT_EPROTO, "08P01", "malformed reply (not a map)");
        goto out;
    }
    const msgpack_object *ido = drift_mp_get(&up.data, "id");
    if (!ido || ido->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        /* A reply without a usable id cannot be matched to a request: drop it. */
        goto out;
    }
    ssize_t i = s_find(c, ido->via.u64);
    if (i < 0)
        goto out;
    s_pending_t *p = &c->pend[i];
    if (!p->r) {
        p->r = drift_result_new(p->id);
        if (!p->r) {
            rc = s_fail(c, DRIFT_CLIENT_ENOMEM, "53200", "out of memory");
            goto out;
        }
    }
    if (p->r->done)
        goto out; /* a stray extra chunk after the last one: ignore */
    /* Hands buf and up over to the result (it frees them on error too). The
     * result records a malformed reply as an 08P01 error for its caller. */
    drift_result_add_chunk(p->r, buf, len, &up);
    return 0;
out:
    msgpack_unpacked_destroy(&up);
    free(buf);
    return rc;
}

/* Receives and dispatches at most one message, waiting up to timeout_ms.
 * Returns 1 when one was handled, 0 on timeout, < 0 on a ZeroMQ error. */
static int s_read_one(drift_conn_t *c, long timeout_ms)
{
    zmq_pollitem_t it = {.socket = c->sock, .events = ZMQ_POLLIN};
    int n = zmq_poll(&it, 1, timeout_ms);
    if (n < 0) {
        if (errno == EINTR)
            return 0;
        return s_fail(c, DRIFT_CLIENT_EZMQ, "08006", "zmq_poll: %s", zmq_strerror(errno));
    }
    if (n == 0)
        return 0;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, c->sock, ZMQ_DONTWAIT) < 0) {
        int e = errno;
        zmq_msg_close(&msg);
        if (e == EAGAIN || e == EINTR)
            return 0;
        return s_fail(c, DRIFT_CLIENT_EZMQ, "08006", "zmq_msg_recv: %s", zmq_strerror(e));
    }
    int more = zmq_msg_more(&msg);
    int rc = 0;
    if (!more)
        rc = s_dispatch(c, zmq_msg_data(&msg), zmq_msg_size(&msg));
    zmq_msg_close(&msg);
    /* A multi-frame reply is not part of the protocol: skip all of its frames. */
    while (more) {
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, c->sock, 0) < 0) {
            zmq_msg_close(&msg);
            break;
        }
        more = zmq_msg_more(&msg);
        zmq_msg_close(&msg);
    }
    if (rc == DRIFT_CLIENT_ENOMEM)
        return rc;
    return 1; /* a malformed reply is skipped, the wait goes on */
}

/* Sends one encoded request; while the socket cannot take it (high-water
 * mark), keeps reading replies so that a long pipeline cannot deadlock. */
static int s_send_raw(drift_conn_t *c, const char *data, size_t len, int64_t deadline)
{
    for (;;) {
        if (zmq_send(c->sock, data, len, ZMQ_DONTWAIT) >= 0)
            return 0;
        if (errno != EAGAIN && errno != EINTR)
            return s_fail(c, DRIFT_CLIENT_EZMQ, "08006", "zmq_send: %s", zmq_strerror(errno));
        if (c->intr && *c->intr)
            return s_fail(c, DRIFT_CLIENT_EINTR, "57014", "interrupted before the request was sent");
        zmq_pollitem_t it = {.socket = c->sock, .events = ZMQ_POLLIN | ZMQ_POLLOUT};
        long left = s_left(deadline);
        if (left == 0)
            return s_fail(c, DRIFT_CLIENT_ETIMEOUT, "08006", "could not send to %s within the timeout", c->endpoint);
        if (zmq_poll(&it, 1, left) < 0 && errno != EINTR)
            return s_fail(c, DRIFT_CLIENT_EZMQ, "08006", "zmq_poll: %s", zmq_strerror(errno));
        if (it.revents & ZMQ_POLLIN) {
            int rc = s_read_one(c, 0);
            if (rc < 0)
                return rc;
        }
    }
}

/* Encodes, tracks and sends one request; *ret_id gets its id. */
static int s_send(drift_conn_t *c, const char *op, const char *sql, const drift_value_t *params, size_t nparams,
                  int timeout_ms, uint64_t *ret_id)
{
    if (!c || (nparams && !params) || (sql == NULL && strcmp(op, "ping") != 0)) {
        if (c)
            return s_fail(c, DRIFT_CLIENT_EINVAL, "22023", "invalid argument");
        return DRIFT_CLIENT_EINVAL;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    uint64_t id = c->next_id++;
    int rc = s_encode(c, &sb, id, op, sql, params, nparams);
    if (rc < 0)
        goto out;
    if (!sb.data) {
        rc = s_fail(c, DRIFT_CLIENT_ENOMEM, "53200", "out of memory");
        goto out;
    }
    rc = s_track(c, id);
    if (rc < 0)
        goto out;
    rc = s_send_raw(c, sb.data, sb.size, s_deadline(timeout_ms));
    if (rc < 0) {
        ssize_t i = s_find(c, id);
        if (i >= 0)
            s_retire(c, (size_t)i);
        goto out;
    }
    if (ret_id)
        *ret_id = id;
    s_ok(c);
out:
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

int drift_send(drift_conn_t *c, const char *sql, const drift_value_t *params, size_t nparams, uint64_t *ret_id)
{
    return s_send(c, "query", sql, params, nparams, c ? c->request_timeout_ms : 0, ret_id);
}

int drift_send_ping(drift_conn_t *c, uint64_t *ret_id)
{
    return s_send(c, "ping", NULL, NULL, 0, c ? c->request_timeout_ms : 0, ret_id);
}

/* Waits up to timeout_ms for the complete result of id. */
static int s_recv(drift_conn_t *c, uint64_t id, int timeout_ms, drift_result_t **ret_result)
{
    if (ret_result)
        *ret_result = NULL;
    if (!c)
        return DRIFT_CLIENT_EINVAL;
    ssize_t i = s_find(c, id);
    if (i < 0)
        return s_fail(c, DRIFT_CLIENT_EUNKNOWNID, "22023", "request %" PRIu64 " is not in flight", id);
    int64_t deadline = s_deadline(timeout_ms);
    for (;;) {
        i = s_find(c, id); /* the table may have been compacted */
        if (c->pend[i].r && c->pend[i].r->done)
            break;
        if (c->intr && *c->intr) {
            s_retire(c, (size_t)i);
            return s_fail(c, DRIFT_CLIENT_EINTR, "57014", "interrupted: request %" PRIu64 " abandoned", id);
        }
        long left = s_left(deadline);
        if (left == 0) {
            s_retire(c, (size_t)i);
            return s_fail(c, DRIFT_CLIENT_ETIMEOUT, "08006", "no reply from %s within %d ms", c->endpoint, timeout_ms);
        }
        int rc = s_read_one(c, left);
        if (rc < 0) {
            i = s_find(c, id);
            if (i >= 0)
                s_retire(c, (size_t)i);
            return rc;
        }
    }
    drift_result_t *r = c->pend[i].r;
    c->pend[i].r = NULL;
    s_retire(c, (size_t)i);
    if (r->server) {
        free(c->server);
        c->server = strdup(r->server);
    }
    int rc = 0;
    if (!r->ok)
        rc = s_fail(c, DRIFT_CLIENT_ESERVER, r->errcode, "%s", r->errmsg ? r->errmsg : "");
    else
        s_ok(c);
    if (ret_result)
        *ret_result = r;
    else
        drift_result_free(&r);
    return rc;
}

int drift_recv(drift_conn_t *c, uint64_t id, drift_result_t **ret_result)
{
    return s_recv(c, id, c ? c->request_timeout_ms : 0, ret_result);
}

int drift_exec(drift_conn_t *c, const char *sql, const drift_value_t *params, size_t nparams,
               drift_result_t **ret_result)
{
    if (ret_result)
        *ret_result = NULL;
    uint64_t id;
    int rc = drift_send(c, sql, params, nparams, &id);
    if (rc < 0)
        return rc;
    return drift_recv(c, id, ret_result);
}

/* Pings with the given timeout. */
static int s_ping(drift_conn_t *c, int timeout_ms, int64_t *ret_seq)
{
    uint64_t id;
    int rc = s_send(c, "ping", NULL, NULL, 0, timeout_ms, &id);
    if (rc < 0)
        return rc;
    drift_result_t *r = NULL;
    rc = s_recv(c, id, timeout_ms, &r);
    if (rc == 0 && ret_seq)
        *ret_seq = r->has_seq ? r->seq : 0;
    drift_result_free(&r);
    return rc;
}

int drift_ping(drift_conn_t *c, int64_t *ret_seq)
{
    return s_ping(c, c ? c->request_timeout_ms : 0, ret_seq);
}

int drift_conn_set_as_of(drift_conn_t *c, const char *as_of)
{
    if (!c)
        return DRIFT_CLIENT_EINVAL;
    free(c->as_of_text);
    c->as_of_text = NULL;
    c->has_as_of_seq = false;
    if (!as_of || !*as_of)
        return 0;
    const char *digits = strncmp(as_of, "@seq:", 5) == 0 ? as_of + 5 : as_of;
    if (*digits && strspn(digits, "0123456789") == strlen(digits)) {
        errno = 0;
        char *end;
        unsigned long long v = strtoull(digits, &end, 10);
        if (errno || v > (unsigned long long)INT64_MAX)
            return s_fail(c, DRIFT_CLIENT_EINVAL, "22023", "as_of seq out of range: %s", as_of);
        c->has_as_of_seq = true;
        c->as_of_seq = v;
        return 0;
    }
    if (digits != as_of)
        return s_fail(c, DRIFT_CLIENT_EINVAL, "22023", "malformed as_of '%s' (expected @seq:N)", as_of);
    c->as_of_text = strdup(as_of);
    return c->as_of_text ? 0 : DRIFT_CLIENT_ENOMEM;
}

void drift_conn_set_interrupt(drift_conn_t *c, volatile sig_atomic_t *flag)
{
    if (c)
        c->intr = flag;
}

int drift_conn_set_timeout(drift_conn_t *c, int request_timeout_ms)
{
    if (!c || request_timeout_ms < -1)
        return DRIFT_CLIENT_EINVAL;
    c->request_timeout_ms = request_timeout_ms;
    return 0;
}

int drift_conn_set_traceparent(drift_conn_t *c, const char *traceparent)
{
    if (!c)
        return DRIFT_CLIENT_EINVAL;
    free(c->traceparent);
    c->traceparent = NULL;
    if (!traceparent)
        return 0;
    c->traceparent = strdup(traceparent);
    return c->traceparent ? 0 : DRIFT_CLIENT_ENOMEM;
}

/* Runs a statement whose result only matters as success/failure. */
static int s_simple(drift_conn_t *c, const char *sql)
{
    drift_result_t *r = NULL;
    int rc = drift_exec(c, sql, NULL, 0, &r);
    drift_result_free(&r);
    return rc;
}

int drift_begin(drift_conn_t *c)
{
    return s_simple(c, "BEGIN");
}

int drift_commit(drift_conn_t *c)
{
    return s_simple(c, "COMMIT");
}

int drift_rollback(drift_conn_t *c)
{
    return s_simple(c, "ROLLBACK");
}

int drift_connect(const drift_options_t *opts, drift_conn_t **ret_conn)
{
    drift_options_t o;
    drift_options_init(&o);
    if (!ret_conn)
        return DRIFT_CLIENT_EINVAL;
    *ret_conn = NULL;
    if (opts) {
        if (opts->size < offsetof(drift_options_t, curve_server_key) || opts->size > sizeof o)
            return DRIFT_CLIENT_EINVAL;
        memcpy(&o, opts, opts->size);
        o.size = sizeof o;
    }
    if (!o.endpoint || !*o.endpoint)
        o.endpoint = DRIFT_DEFAULT_ENDPOINT;
    drift_conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return DRIFT_CLIENT_ENOMEM;
    c->next_id = 1;
    c->connect_timeout_ms = o.connect_timeout_ms;
    c->request_timeout_ms = o.request_timeout_ms;
    c->chunk_rows = o.chunk_rows;
    c->endpoint = strdup(o.endpoint);
    if (!c->endpoint) {
        free(c);
        return DRIFT_CLIENT_ENOMEM;
    }
    *ret_conn = c;
    if (o.curve_server_key || o.curve_public_key || o.curve_secret_key)
        return s_fail(c, DRIFT_CLIENT_ENOTSUP, "0A000", "CURVE keys are not supported yet by this libdrift");
    c->ctx = zmq_ctx_new();
    if (!c->ctx)
        return s_fail(c, DRIFT_CLIENT_EZMQ, "08001", "zmq_ctx_new: %s", zmq_strerror(errno));
    c->sock = zmq_socket(c->ctx, ZMQ_DEALER);
    if (!c->sock)
        return s_fail(c, DRIFT_CLIENT_EZMQ, "08001", "zmq_socket: %s", zmq_strerror(errno));
    int linger = 0;
    int64_t maxsz = o.max_message_size ? (int64_t)o.max_message_size : -1;
    if (zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
        zmq_setsockopt(c->sock, ZMQ_MAXMSGSIZE, &maxsz, sizeof maxsz) < 0)
        return s_fail(c, DRIFT_CLIENT_EZMQ, "08001", "zmq_setsockopt: %s", zmq_strerror(errno));
    if (zmq_connect(c->sock, c->endpoint) < 0)
        return s_fail(c, DRIFT_CLIENT_EZMQ, "08001", "cannot connect to '%s': %s", c->endpoint, zmq_strerror(errno));
    if (o.connect_timeout_ms != 0) {
        int rc = s_ping(c, o.connect_timeout_ms, NULL);
        if (rc == DRIFT_CLIENT_ETIMEOUT)
            return s_fail(c, DRIFT_CLIENT_ECONNECT, "08001", "no answer from %s within %d ms (is driftdbd running?)",
                          c->endpoint, o.connect_timeout_ms);
        if (rc < 0)
            return rc;
    }
    s_ok(c);
    return 0;
}

void drift_close(drift_conn_t **conn_p)
{
    if (!conn_p || !*conn_p)
        return;
    drift_conn_t *c = *conn_p;
    for (size_t i = 0; i < c->npend; i++)
        drift_result_free(&c->pend[i].r);
    free(c->pend);
    if (c->sock)
        zmq_close(c->sock);
    if (c->ctx)
        zmq_ctx_term(c->ctx);
    free(c->endpoint);
    free(c->server);
    free(c->traceparent);
    free(c->as_of_text);
    free(c);
    *conn_p = NULL;
}
