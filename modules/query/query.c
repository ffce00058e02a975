/* modules/query/query.c — the query worker role.
 *
 * One DEALER socket connected to the gateway's backend ROUTER
 * (ipc://<data_dir>/run/query.sock), routing id "q<instance>.<generation>".
 * It says HELLO (again every heartbeat until the gateway pings it, so a
 * restarted gateway learns about it), answers PING with PONG, and runs each
 * REQ: decode (bounded, ipc/msg), parse (ipc/proto), then ping or the SQL
 * engine (engine.h) with a result sink that streams chunked replies. Sessions
 * that hold state (an open transaction) live in a small table keyed by the
 * gateway's session id until the gateway sends END. Single-threaded, in the
 * role's libevent loop; the ZeroMQ context is created here, after exec.
 * See docs/protocol.md ("Internal gateway <-> worker protocol"). */
#include "modules/query/query.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/util.h"
#include "config.h"
#include "ipc/msg.h"
#include "ipc/proto.h"
#include "ipc/zwatch.h"
#include "modules/query/engine.h"
#include "modules/query/result.h"

#define SERVER_NAME "driftdb " PACKAGE_VERSION

typedef struct s_sess {
    struct s_sess *next;
    uint64_t id;
    drift_session_t *s;
} s_sess_t;

typedef struct {
    drift_role_t *r;
    void *zctx;
    void *sock;
    drift_zwatch_t *watch;
    drift_engine_t *engine;
    s_sess_t *sessions; /* only sessions with state worth keeping */
    uint64_t last_ping_ns;
    uint64_t inflight;
    /* current request, for the result emitter */
    uint64_t cur_token, cur_session;
    const drift_session_t *cur_sess; /* its transaction state rides on every reply (TXN_OPEN) */
    const char *hang_marker;         /* DRIFT_FAULT=query_hang:TEXT (tests) */
    uint64_t gw_epoch;               /* top bits of the gateway's session ids (its incarnation) */
} s_worker_t;

/* Sends [hdr][payload] to the gateway. */
static int s_send(s_worker_t *w, const drift_wire_hdr_t *h, const void *payload, size_t len)
{
    uint8_t hb[DRIFT_WIRE_HDR_SIZE];
    drift_wire_encode(h, hb);
    if (zmq_send(w->sock, hb, sizeof hb, ZMQ_SNDMORE) < 0 || zmq_send(w->sock, payload, len, 0) < 0) {
        DLOG_WARN("send to gateway failed: %s", zmq_strerror(errno));
        return -1;
    }
    atomic_fetch_add(&w->r->slot->counters[DRIFT_CTR_BYTES_OUT], len);
    return 0;
}

static void s_hello(s_worker_t *w)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    drift_proto_pack_str(&pk, "instance");
    msgpack_pack_uint32(&pk, w->r->instance);
    drift_proto_pack_str(&pk, "pid");
    msgpack_pack_int32(&pk, (int32_t)getpid());
    drift_proto_pack_str(&pk, "generation");
    msgpack_pack_uint64(&pk, atomic_load(&w->r->slot->generation));
    drift_wire_hdr_t h = {.type = DRIFT_WIRE_HELLO};
    s_send(w, &h, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

static s_sess_t **s_sess_find(s_worker_t *w, uint64_t id)
{
    s_sess_t **pp = &w->sessions;
    while (*pp && (*pp)->id != id)
        pp = &(*pp)->next;
    return pp;
}

/* Ends every session (rolling back open transactions). */
static void s_drop_sessions(s_worker_t *w, const char *why)
{
    int n = 0;
    while (w->sessions) {
        s_sess_t *next = w->sessions->next;
        drift_session_destroy(&w->sessions->s);
        free(w->sessions);
        w->sessions = next;
        n++;
    }
    if (n)
        DLOG_INFO("%s: ended %d session(s), open transactions rolled back", why, n);
}

static int s_emit(void *arg, const void *data, size_t len, int more)
{
    s_worker_t *w = arg;
    drift_wire_hdr_t h = {.type = DRIFT_WIRE_REP, .token = w->cur_token, .session = w->cur_session};
    /* pinned while the session holds state: an open transaction or a SET AS OF default */
    int open = w->cur_sess && drift_session_keep(w->cur_sess);
    h.flags = (uint8_t)((more ? DRIFT_WIRE_F_MORE : 0) | (open ? DRIFT_WIRE_F_TXN_OPEN : 0));
    return s_send(w, &h, data, len);
}

/* Replies with an error for a request that could not even be parsed (should not happen: the gateway validated it). */
static void s_reply_error(s_worker_t *w, const drift_proto_req_t *req, const char *code, const char *msg)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    drift_proto_error(&sb, req, code, msg, 0, -1, NULL);
    s_emit(w, sb.data, sb.size, 0);
    msgpack_sbuffer_destroy(&sb);
    atomic_fetch_add(&w->r->slot->counters[DRIFT_CTR_ERRORS], 1);
}

static void s_ping_reply(s_worker_t *w, const drift_proto_req_t *req, const char *txn)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 5);
    drift_proto_pack_id(&pk, req);
    drift_proto_pack_str(&pk, "ok");
    msgpack_pack_true(&pk);
    drift_proto_pack_str(&pk, "seq");
    msgpack_pack_uint64(&pk, atomic_load(&w->r->hdr->commit_seq));
    drift_proto_pack_str(&pk, "server");
    drift_proto_pack_str(&pk, SERVER_NAME);
    drift_proto_pack_str(&pk, "txn");
    drift_proto_pack_str(&pk, txn);
    s_emit(w, sb.data, sb.size, 0);
    msgpack_sbuffer_destroy(&sb);
}

/* Test hook: blocks this process (no heartbeats, no answers) while the statement contains the marker. */
static void s_maybe_hang(s_worker_t *w, const drift_proto_req_t *req)
{
    if (!w->hang_marker || !req->sql || !memmem(req->sql, req->sql_len, w->hang_marker, strlen(w->hang_marker)))
        return;
    DLOG_WARN("DRIFT_FAULT: hanging on request");
    for (;;)
        pause();
}

static void s_handle_req(s_worker_t *w, const drift_wire_hdr_t *h, zmq_msg_t *payload)
{
    uint64_t t0 = drift_now_mono_ns();
    drift_msg_limits_t lim = drift_msg_limits(w->r->cfg.max_message_size);
    drift_msg_t *m = NULL;
    drift_proto_req_t req;
    char err[256];
    w->cur_token = h->token;
    w->cur_session = h->session;
    w->cur_sess = NULL;
    memset(&req, 0, sizeof req);
    atomic_fetch_add(&w->r->slot->counters[DRIFT_CTR_BYTES_IN], zmq_msg_size(payload));
    if (drift_msg_decode(zmq_msg_data(payload), zmq_msg_size(payload), &lim, &m, err, sizeof err) < 0) {
        s_reply_error(w, &req, DRIFT_SQLSTATE_PROTOCOL, err);
        return;
    }
    if (drift_proto_parse(drift_msg_root(m), &req, err, sizeof err) < 0) {
        s_reply_error(w, &req, DRIFT_SQLSTATE_PROTOCOL, err);
        goto out;
    }
    char ctx[DRIFT_PROTO_TRACEPARENT_MAX + 16];
    if (req.traceparent) {
        snprintf(ctx, sizeof ctx, "traceparent=%.*s", (int)req.traceparent_len, req.traceparent);
        drift_log_set_context(ctx);
    }
    if (h->session >> 40 != w->gw_epoch) {
        /* A new gateway incarnation: the sessions of the old one are gone for good. */
        s_drop_sessions(w, "the gateway restarted");
        w->gw_epoch = h->session >> 40;
    }
    s_sess_t **pp = s_sess_find(w, h->session);
    drift_session_t *sess = *pp ? (*pp)->s : NULL;
    drift_session_t *tmp_sess = NULL;
    if (!sess)
        sess = tmp_sess = drift_session_new(w->engine, h->session);
    if (!sess) {
        s_reply_error(w, &req, "53200", "out of memory");
        goto out_ctx;
    }
    DLOG_DEBUG("request id=%" PRId64 " op=%s session=%" PRIu64 "%s%.*s", req.id.via.i64, drift_proto_op_name(req.op),
               h->session, req.sql ? " sql=" : "", (int)(req.sql_len > 200 ? 200 : req.sql_len),
               req.sql ? req.sql : "");
    w->cur_sess = sess;
    if (req.op == DRIFT_OP_PING) {
        s_ping_reply(w, &req, drift_txn_name(drift_session_txn(sess)));
    } else {
        s_maybe_hang(w, &req);
        /* A REQ client can take only one reply: the gateway flags it and we do not chunk. */
        uint32_t chunk = (h->flags & DRIFT_WIRE_F_ONE_REPLY) ? 0 : req.chunk_rows;
        drift_result_t *res = drift_result_new(&req, chunk, chunk ? DRIFT_PROTO_CHUNK_BYTES : 0, s_emit, w);
        drift_sqlerr_t serr;
        memset(&serr, 0, sizeof serr);
        if (!res) {
            s_reply_error(w, &req, "53200", "out of memory");
        } else {
            drift_stmt_input_t in = {.sql = req.sql,
                                     .sql_len = req.sql_len,
                                     .params = req.params,
                                     .has_as_of = req.has_as_of,
                                     .as_of_seq = req.as_of_seq,
                                     .as_of_time = req.as_of_time,
                                     .as_of_time_len = req.as_of_time_len};
            drift_result_set_session(res, sess);
            int rc = drift_engine_execute(w->engine, sess, &in, drift_result_sink(res), &serr);
            if (rc < 0) {
                if (strcmp(serr.code, "08006") != 0) /* 08006 here: the reply could not be sent */
                    drift_result_fail(res, &serr);
                atomic_fetch_add(&w->r->slot->counters[DRIFT_CTR_ERRORS], 1);
                DLOG_DEBUG("request id=%" PRId64 " failed: %s %s", req.id.via.i64, serr.code, serr.message);
            }
            drift_result_destroy(&res);
        }
    }
    /* Keep a session only while it holds state. */
    if (tmp_sess && drift_session_keep(tmp_sess)) {
        s_sess_t *ns = calloc(1, sizeof *ns);
        if (ns) {
            ns->id = h->session;
            ns->s = tmp_sess;
            ns->next = w->sessions;
            w->sessions = ns;
            tmp_sess = NULL;
        }
    }
    w->cur_sess = NULL;
    drift_session_destroy(&tmp_sess);
    uint64_t t1 = drift_now_mono_ns();
    drift_ctl_slot_observe_us(w->r->slot, (t1 - t0) / 1000);
    /* A worker draining a long queue of requests in one loop turn is busy, not hung: each finished request
     * counts as a heartbeat (the timer cannot fire until the queue is drained). */
    atomic_store(&w->r->slot->heartbeat_mono_ns, t1);
out_ctx:
    if (req.traceparent)
        drift_log_set_context(NULL);
out:
    drift_msg_destroy(&m);
}

static void s_end_session(s_worker_t *w, uint64_t id)
{
    s_sess_t **pp = s_sess_find(w, id);
    if (!*pp)
        return;
    s_sess_t *s = *pp;
    *pp = s->next;
    if (drift_session_txn(s->s) != DRIFT_TXN_IDLE)
        DLOG_INFO("session %" PRIu64 " ended with an open transaction: rolled back", id);
    drift_session_destroy(&s->s);
    free(s);
}

/* One message from the gateway: [hdr][payload]. */
static int s_msg_one(void *sock, void *arg)
{
    s_worker_t *w = arg;
    zmq_msg_t f[2];
    int nf = 0, more = 1;
    while (more) {
        zmq_msg_t tmp;
        zmq_msg_init(&tmp);
        if (zmq_msg_recv(&tmp, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&tmp);
            break;
        }
        more = zmq_msg_more(&tmp);
        if (nf < 2) {
            zmq_msg_init(&f[nf]);
            zmq_msg_move(&f[nf++], &tmp);
            zmq_msg_close(&tmp);
        } else
            zmq_msg_close(&tmp);
    }
    if (nf == 0)
        return 0;
    drift_wire_hdr_t h;
    if (nf < 1 || drift_wire_decode(zmq_msg_data(&f[0]), zmq_msg_size(&f[0]), &h) < 0) {
        DLOG_WARN("malformed message from the gateway dropped");
        goto out;
    }
    switch (h.type) {
    case DRIFT_WIRE_PING: {
        w->last_ping_ns = drift_now_mono_ns();
        drift_wire_hdr_t p = {.type = DRIFT_WIRE_PONG, .token = h.token};
        s_send(w, &p, "", 0);
        break;
    }
    case DRIFT_WIRE_REQ:
        if (nf == 2)
            s_handle_req(w, &h, &f[1]);
        break;
    case DRIFT_WIRE_END: s_end_session(w, h.session); break;
    default: DLOG_DEBUG("unexpected message type %u from the gateway", h.type);
    }
out:
    for (int i = 0; i < nf; i++)
        zmq_msg_close(&f[i]);
    return 1;
}

/* zwatch callback: drains up to 4 messages per call (one ZMQ_EVENTS poll per batch); small,
 * because zwatch calls it up to 512 times per wakeup and the heartbeat timer must still run. */
static void s_on_msg(void *sock, void *arg)
{
    for (int i = 0; i < 4 && s_msg_one(sock, arg); i++)
        ;
}

static void s_on_heartbeat(drift_role_t *r)
{
    s_worker_t *w = r->user;
    uint64_t now = drift_now_mono_ns();
    /* Not pinged lately: the gateway may not know us (it restarted): say hello again. */
    if (now - w->last_ping_ns > 2 * r->cfg.heartbeat_interval_ns) {
        s_hello(w);
        drift_zwatch_kick(w->watch);
    }
}

static void s_on_stop(drift_role_t *r)
{
    s_worker_t *w = r->user;
    drift_wire_hdr_t h = {.type = DRIFT_WIRE_BYE};
    s_send(w, &h, "", 0);
    drift_role_exit(r, DRIFT_EXIT_OK);
}

int drift_query_main(drift_role_t *r)
{
    s_worker_t w = {.r = r};
    int code = DRIFT_EXIT_RESTART;
    char ep[PATH_MAX + 16], ident[64];
    const char *f = getenv("DRIFT_FAULT");
    if (f && strncmp(f, "query_hang:", 11) == 0 && f[11])
        w.hang_marker = f + 11;
    if (drift_role_endpoint(r, "query", ep, sizeof ep) < 0) {
        DLOG_ERR("run directory path too long");
        return DRIFT_EXIT_FATAL;
    }
    drift_engine_opts_t eo = {.data_dir = r->data_dir,
                              .worker_id = r->instance % 64,
                              .index_map_size = r->cfg.index_map_size,
                              .wait_ms = (int)(r->cfg.request_timeout_ns / 1000000 / 2),
                              .commit_timeout_ms = (int)(r->cfg.request_timeout_ns / 1000000),
                              .statement_timeout_ms = (int)(r->cfg.request_timeout_ns / 1000000),
                              .heartbeat = &r->slot->heartbeat_mono_ns};
    w.engine = drift_engine_new_opts(r->hdr, &eo);
    w.zctx = zmq_ctx_new();
    if (!w.engine || !w.zctx)
        goto out;
    w.sock = zmq_socket(w.zctx, ZMQ_DEALER);
    if (!w.sock)
        goto out;
    int zero = 0;
    snprintf(ident, sizeof ident, "q%u.%" PRIu64, r->instance, (uint64_t)atomic_load(&r->slot->generation));
    zmq_setsockopt(w.sock, ZMQ_ROUTING_ID, ident, strlen(ident));
    zmq_setsockopt(w.sock, ZMQ_LINGER, &zero, sizeof zero);
    int ivl = 10; /* the gateway starts after the workers: find it fast */
    zmq_setsockopt(w.sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(w.sock, ZMQ_SNDHWM, &zero, sizeof zero); /* bounded by the gateway's max_queue */
    zmq_setsockopt(w.sock, ZMQ_RCVHWM, &zero, sizeof zero);
    if (zmq_connect(w.sock, ep) < 0) {
        DLOG_ERR("connect %s: %s", ep, zmq_strerror(errno));
        goto out;
    }
    w.watch = drift_zwatch_new(r->base, w.sock, s_on_msg, &w);
    if (!w.watch)
        goto out;
    r->user = &w;
    r->on_heartbeat = s_on_heartbeat;
    r->on_stop = s_on_stop;
    s_hello(&w);
    DLOG_INFO("query worker %s connected to %s", ident, ep);
    drift_role_ready(r);
    code = drift_role_run(r);
out:
    s_drop_sessions(&w, "exiting");
    drift_zwatch_destroy(&w.watch);
    if (w.sock)
        zmq_close(w.sock);
    if (w.zctx)
        zmq_ctx_term(w.zctx);
    drift_engine_destroy(&w.engine);
    return code;
}
