/* modules/query/query.c — the query worker role.
 *
 * One AF_UNIX stream connection to the gateway's listener
 * (<data_dir>/run/query.chan, ipc/chan.h; reconnected every 10 ms when the
 * gateway restarts), named "q<instance>.<generation>" in the logs. It says
 * HELLO on every (re)connect (and again every heartbeat until the gateway
 * pings it), answers PING with PONG, and runs each
 * REQ: decode (bounded, ipc/msg), parse (ipc/proto), then ping or the SQL
 * engine (engine.h) with a result sink that streams chunked replies. Sessions
 * that hold state (an open transaction) live in a small table keyed by the
 * gateway's session id until the gateway sends END.
 *
 * Commits do not block the worker: a statement that needs the writer (an
 * autocommit write, COMMIT) sends its commit and parks (drift_engine_execute_async);
 * the worker goes on serving other sessions, and the reply is sent when the
 * writer's acknowledgement (after its fsync) arrives on the engine's writer
 * link (an AF_UNIX stream, ipc/commit.h), watched in the same loop; when that
 * connection drops, every commit in flight fails at once with 08006 (outcome
 * unknown) and the link reconnects. So one worker keeps many commits in
 * flight and the writer can group them. A parked session's later requests
 * wait in its queue and run in arrival order once it finishes. Parked
 * commits past commit_timeout are failed (08006) from the heartbeat hook.
 *
 * Waiting for the index does not block the worker either: a statement that
 * must see commits the indexer has not applied yet (read-your-writes) parks
 * the same way, and a timerfd ticking every DRIFT_QUERY_INDEX_TICK_US — armed
 * only while such a statement waits; the indexer sends no notification —
 * checks indexed_seq and runs the statements it reached (57014 after
 * wait_ms). An autocommit INSERT ... VALUES does not wait at all (engine.c).
 * Single-threaded, in the role's libevent loop; no ZeroMQ (both links are
 * stream sockets read by this loop: one thread wake-up per message).
 * See docs/protocol.md ("Internal gateway <-> worker protocol"). */
#include "modules/query/query.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/util.h"
#include "config.h"
#include "ipc/chan.h"
#include "ipc/msg.h"
#include "ipc/proto.h"
#include "modules/query/engine.h"
#include "modules/query/result.h"

#define SERVER_NAME "driftdb " PACKAGE_VERSION
#define DRIFT_QUERY_INDEX_TICK_US 150 /* how often parked statements look at indexed_seq */

typedef struct s_job s_job_t;

typedef struct s_sess {
    struct s_sess *next;
    uint64_t id;
    drift_session_t *s;
    s_job_t *busy;          /* its request waiting for the writer */
    s_job_t *qhead, *qtail; /* its next requests, in arrival order */
    int ended;              /* END (or a gateway restart) came while busy: a fresh session afterwards */
} s_sess_t;

/* One request from arrival to its last reply (it outlives its loop turn while its commit is parked). */
struct s_job {
    s_job_t *next; /* in its session's queue */
    drift_wire_hdr_t h;
    uint8_t *payload; /* the request bytes (a copy); sql and params borrow from them */
    size_t payload_len;
    drift_msg_t *m;
    drift_proto_req_t req;
    drift_result_t *res;
    drift_sqlerr_t serr;
    drift_session_t *tmp_sess; /* a session without state, not in the table */
    drift_engine_pending_t *pend;
    uint64_t t0;
    int send_failed; /* a reply of it could not be sent to the gateway (no error reply then either) */
};

typedef struct {
    drift_role_t *r;
    drift_chan_t *gw;          /* the connection to the gateway; NULL while (re)connecting */
    drift_chan_dialer_t *dial; /* connects it */
    char ident[64];
    int tfd;                /* timerfd: ticks while statements wait for the index */
    struct event *tev;
    int tarmed;
    drift_engine_t *engine;
    s_sess_t *sessions; /* only sessions with state worth keeping */
    uint64_t last_ping_ns;
    uint64_t inflight;
    /* current request, for the result emitter */
    uint64_t cur_token, cur_session;
    s_job_t *cur_job;
    const drift_session_t *cur_sess; /* its transaction state rides on every reply (TXN_OPEN) */
    const char *hang_marker;         /* DRIFT_FAULT=query_hang:TEXT (tests) */
    uint64_t gw_epoch;               /* top bits of the gateway's session ids (its incarnation) */
} s_worker_t;

/* Sends [hdr][payload] to the gateway. */
static int s_send(s_worker_t *w, const drift_wire_hdr_t *h, const void *payload, size_t len)
{
    uint8_t hb[DRIFT_WIRE_HDR_SIZE];
    drift_wire_encode(h, hb);
    if (!w->gw) {
        DLOG_DEBUG("not connected to the gateway: message dropped");
        return -1;
    }
    struct iovec v[2] = {{hb, sizeof hb}, {(void *)payload, len}};
    int rc = drift_chan_sendv(w->gw, v, 2);
    if (rc < 0) { /* -EPIPE: the connection just dropped (s_on_gw_close follows) */
        if (rc == -EPIPE)
            DLOG_DEBUG("send to gateway failed: %s", drift_strerror(rc));
        else
            DLOG_WARN("send to gateway failed: %s", drift_strerror(rc));
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

/* Frees a job that will not reply (worker exit). */
static void s_job_free(s_job_t *j)
{
    if (!j)
        return;
    drift_engine_pending_destroy(&j->pend);
    drift_result_destroy(&j->res);
    drift_session_destroy(&j->tmp_sess);
    drift_msg_destroy(&j->m);
    free(j->payload);
    free(j);
}

/* Ends every session (rolling back open transactions). A session with a request in progress is ended when that
 * request finishes, unless `all` (worker exit: its requests are dropped). */
static void s_drop_sessions(s_worker_t *w, const char *why, int all)
{
    int n = 0;
    s_sess_t **pp = &w->sessions;
    while (*pp) {
        s_sess_t *e = *pp;
        if (!all && (e->busy || e->qhead)) {
            e->ended = 1;
            pp = &e->next;
            continue;
        }
        *pp = e->next;
        s_job_free(e->busy);
        while (e->qhead) {
            s_job_t *j = e->qhead;
            e->qhead = j->next;
            s_job_free(j);
        }
        drift_session_destroy(&e->s);
        free(e);
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
    int rc = s_send(w, &h, data, len);
    if (rc < 0 && w->cur_job)
        w->cur_job->send_failed = 1;
    return rc;
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

/* Points the reply emitter at job j. */
static void s_job_current(s_worker_t *w, s_job_t *j, const drift_session_t *sess)
{
    w->cur_token = j->h.token;
    w->cur_session = j->h.session;
    w->cur_sess = sess;
    w->cur_job = j;
}

/* Log lines of this request carry its traceparent. */
static void s_job_trace(const s_job_t *j)
{
    if (!j->req.traceparent)
        return;
    char ctx[DRIFT_PROTO_TRACEPARENT_MAX + 16];
    snprintf(ctx, sizeof ctx, "traceparent=%.*s", (int)j->req.traceparent_len, j->req.traceparent);
    drift_log_set_context(ctx);
}

/* Starts a job: decode, parse, run. Returns 1 when it parked (its commit is with the writer), 0 when finished
 * (the statement's outcome is in j->res / j->serr; rc in *ret_rc). */
static int s_job_start(s_worker_t *w, s_job_t *j, int *ret_rc)
{
    drift_msg_limits_t lim = drift_msg_limits(w->r->cfg.max_message_size);
    char err[256];
    *ret_rc = 0;
    j->t0 = drift_now_mono_ns();
    s_job_current(w, j, NULL);
    atomic_fetch_add(&w->r->slot->counters[DRIFT_CTR_BYTES_IN], j->payload_len);
    if (drift_msg_decode(j->payload, j->payload_len, &lim, &j->m, err, sizeof err) < 0) {
        s_reply_error(w, &j->req, DRIFT_SQLSTATE_PROTOCOL, err);
        return 0;
    }
    if (drift_proto_parse(drift_msg_root(j->m), &j->req, err, sizeof err) < 0) {
        s_reply_error(w, &j->req, DRIFT_SQLSTATE_PROTOCOL, err);
        return 0;
    }
    s_job_trace(j);
    s_sess_t *e = *s_sess_find(w, j->h.session);
    drift_session_t *sess = e ? e->s : NULL;
    if (!sess)
        sess = j->tmp_sess = drift_session_new(w->engine, j->h.session);
    if (!sess) {
        s_reply_error(w, &j->req, "53200", "out of memory");
        return 0;
    }
    /* the client connection's tag (the gateway's aux; 0 = none): its commits' "session" (ipc/commit.h) */
    drift_session_set_source(sess, j->h.aux);
    const drift_proto_req_t *req = &j->req;
    DLOG_DEBUG("request id=%" PRId64 " op=%s session=%" PRIu64 "%s%.*s", req->id.via.i64, drift_proto_op_name(req->op),
               j->h.session, req->sql ? " sql=" : "", (int)(req->sql_len > 200 ? 200 : req->sql_len),
               req->sql ? req->sql : "");
    s_job_current(w, j, sess);
    if (req->op == DRIFT_OP_PING) {
        s_ping_reply(w, req, drift_txn_name(drift_session_txn(sess)));
        return 0;
    }
    s_maybe_hang(w, req);
    /* A REQ client can take only one reply: the gateway flags it and we do not chunk. */
    uint32_t chunk = (j->h.flags & DRIFT_WIRE_F_ONE_REPLY) ? 0 : req->chunk_rows;
    j->res = drift_result_new(req, chunk, chunk ? DRIFT_PROTO_CHUNK_BYTES : 0, s_emit, w);
    if (!j->res) {
        s_reply_error(w, req, "53200", "out of memory");
        return 0;
    }
    drift_stmt_input_t in = drift_result_input(req);
    drift_result_set_session(j->res, sess);
    int rc = drift_engine_execute_async(w->engine, sess, &in, drift_result_sink(j->res), &j->serr, j, &j->pend);
    if (rc == 1) {
        if (!e && (e = calloc(1, sizeof *e))) { /* the session waits in the table: its next requests queue behind */
            e->id = j->h.session;
            e->s = j->tmp_sess;
            j->tmp_sess = NULL;
            e->next = w->sessions;
            w->sessions = e;
        }
        if (e)
            e->busy = j;
        else /* out of memory: the job keeps its session; only this session's order is not enforced */
            DLOG_WARN("out of memory while parking a commit");
        return 1;
    }
    *ret_rc = rc;
    return 0;
}

/* Finishes a job whose statement ended (rc 0 or -1): error reply, session bookkeeping, latency. Frees it and
 * returns the next queued request of its session, if any. */
static s_job_t *s_job_finish(s_worker_t *w, s_job_t *j, int rc)
{
    if (rc < 0 && j->res) {
        /* Every failure is answered (08006 from the writer link too: its outcome is unknown), unless the failure
         * was that a reply could not be sent at all. */
        if (!j->send_failed)
            drift_result_fail(j->res, &j->serr);
        atomic_fetch_add(&w->r->slot->counters[DRIFT_CTR_ERRORS], 1);
        DLOG_DEBUG("request id=%" PRId64 " failed: %s %s", j->req.id.via.i64, j->serr.code, j->serr.message);
    }
    drift_result_destroy(&j->res);
    w->cur_sess = NULL;
    w->cur_job = NULL;
    s_job_t *next = NULL;
    s_sess_t **pp = s_sess_find(w, j->h.session);
    s_sess_t *e = *pp;
    if (e) {
        if (e->busy == j)
            e->busy = NULL;
        if (e->ended) { /* the session was ended while this request ran: what follows starts afresh */
            drift_session_destroy(&e->s);
            e->s = drift_session_new(w->engine, e->id);
            e->ended = 0;
        }
        if ((next = e->qhead)) {
            e->qhead = next->next;
            if (!e->qhead)
                e->qtail = NULL;
            next->next = NULL;
        }
        /* Keep a session only while it holds state (or has requests waiting). */
        if (!e->s || (!next && !drift_session_keep(e->s))) {
            *pp = e->next;
            while (e->qhead) { /* only when a fresh session could not be made (out of memory) */
                s_job_t *q = e->qhead;
                e->qhead = q->next;
                s_job_free(q);
            }
            drift_session_destroy(&e->s);
            free(e);
        }
    } else if (j->tmp_sess && drift_session_keep(j->tmp_sess)) {
        s_sess_t *ns = calloc(1, sizeof *ns);
        if (ns) {
            ns->id = j->h.session;
            ns->s = j->tmp_sess;
            ns->next = w->sessions;
            w->sessions = ns;
            j->tmp_sess = NULL;
        }
    }
    uint64_t t1 = drift_now_mono_ns();
    drift_ctl_slot_observe_us(w->r->slot, (t1 - j->t0) / 1000);
    /* A worker draining a long queue of requests in one loop turn is busy, not hung: each finished request
     * counts as a heartbeat (the timer cannot fire until the queue is drained). */
    atomic_store(&w->r->slot->heartbeat_mono_ns, t1);
    s_job_free(j);
    return next;
}

/* Arms the index tick while statements wait for the index, disarms it when none does. */
static void s_itick_update(s_worker_t *w)
{
    int want = drift_engine_index_waiting(w->engine) > 0;
    if (want == w->tarmed || w->tfd < 0)
        return;
    struct itimerspec its = {{0, 0}, {0, 0}};
    if (want)
        its.it_interval.tv_nsec = its.it_value.tv_nsec = DRIFT_QUERY_INDEX_TICK_US * 1000L;
    if (timerfd_settime(w->tfd, 0, &its, NULL) < 0) {
        DLOG_WARN("timerfd_settime: %s (parked statements are looked at every heartbeat)", strerror(errno));
        return;
    }
    w->tarmed = want;
}

/* Runs j and then, while they finish without parking, the requests queued behind it in its session. */
static void s_job_run(s_worker_t *w, s_job_t *j)
{
    while (j) {
        int rc = 0;
        int parked = s_job_start(w, j, &rc);
        drift_log_set_context(NULL);
        if (parked) {
            s_itick_update(w); /* it may wait for the index */
            return;
        }
        j = s_job_finish(w, j, rc);
    }
}

/* A parked job's commit was answered (or timed out): finish it, then run its session's queued requests. */
static void s_job_resume(s_worker_t *w, s_job_t *j, drift_engine_pending_t *p)
{
    s_sess_t *e = *s_sess_find(w, j->h.session);
    s_job_current(w, j, e ? e->s : NULL);
    s_job_trace(j);
    j->pend = NULL;
    drift_engine_pending_t *np = NULL;
    int rc = drift_engine_resume(w->engine, p, &j->serr, &np);
    if (rc == 1) { /* ran after the index wait and parked for its commit, or re-run after 40001 and parked */
        j->pend = np;
    } else {
        s_job_t *next = s_job_finish(w, j, rc);
        drift_log_set_context(NULL);
        s_job_run(w, next);
    }
    drift_log_set_context(NULL);
    s_itick_update(w);
}

/* Runs the statements whose index wait is over (the index reached their seq, or wait_ms passed: 57014). */
static void s_index_poll(s_worker_t *w)
{
    drift_engine_pending_t *p;
    uint64_t now = drift_now_mono_ns();
    while ((p = drift_engine_index_ready(w->engine, now)))
        s_job_resume(w, drift_engine_pending_user(p), p);
    s_itick_update(w);
}

/* The index tick (timerfd). */
static void s_on_itick(evutil_socket_t fd, short what, void *arg)
{
    uint64_t n;
    (void)what;
    if (read(fd, &n, sizeof n) < 0 && errno != EAGAIN)
        DLOG_DEBUG("timerfd read: %s", strerror(errno));
    s_index_poll(arg);
}

/* A request from the gateway: runs now, or waits behind its session's request in progress. */
static void s_handle_req(s_worker_t *w, const drift_wire_hdr_t *h, const uint8_t *payload, size_t len)
{
    if (h->session >> 40 != w->gw_epoch) {
        /* A new gateway incarnation: the sessions of the old one are gone for good. */
        s_drop_sessions(w, "the gateway restarted", 0);
        w->gw_epoch = h->session >> 40;
    }
    s_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        drift_proto_req_t none;
        memset(&none, 0, sizeof none);
        w->cur_token = h->token;
        w->cur_session = h->session;
        w->cur_sess = NULL;
        w->cur_job = NULL;
        s_reply_error(w, &none, "53200", "out of memory");
        return;
    }
    j->h = *h;
    j->payload = malloc(len ? len : 1);
    if (!j->payload) {
        free(j);
        w->cur_token = h->token;
        w->cur_session = h->session;
        w->cur_sess = NULL;
        w->cur_job = NULL;
        drift_proto_req_t none;
        memset(&none, 0, sizeof none);
        s_reply_error(w, &none, "53200", "out of memory");
        return;
    }
    memcpy(j->payload, payload, len);
    j->payload_len = len;
    s_sess_t *e = *s_sess_find(w, h->session);
    if (e && (e->busy || e->qhead)) {
        if (e->qtail)
            e->qtail->next = j;
        else
            e->qhead = j;
        e->qtail = j;
        return;
    }
    s_job_run(w, j);
}

static void s_end_session(s_worker_t *w, uint64_t id)
{
    s_sess_t **pp = s_sess_find(w, id);
    if (!*pp)
        return;
    s_sess_t *s = *pp;
    if (s->busy || s->qhead) { /* ended once its requests in progress finish */
        s->ended = 1;
        return;
    }
    *pp = s->next;
    if (drift_session_txn(s->s) != DRIFT_TXN_IDLE)
        DLOG_INFO("session %" PRIu64 " ended with an open transaction: rolled back", id);
    drift_session_destroy(&s->s);
    free(s);
}

/* One message from the gateway: [hdr][payload]. */
static void s_on_gw_msg(drift_chan_t *ch, const drift_chan_msg_t *m, void *arg)
{
    s_worker_t *w = arg;
    (void)ch;
    drift_wire_hdr_t h;
    if (m->nparts < 1 || drift_wire_decode(m->part[0], m->len[0], &h) < 0) {
        DLOG_WARN("malformed message from the gateway dropped");
        return;
    }
    switch (h.type) {
    case DRIFT_WIRE_PING: {
        w->last_ping_ns = drift_now_mono_ns();
        drift_wire_hdr_t p = {.type = DRIFT_WIRE_PONG, .token = h.token};
        s_send(w, &p, "", 0);
        break;
    }
    case DRIFT_WIRE_REQ:
        if (m->nparts == 2)
            s_handle_req(w, &h, m->part[1], m->len[1]);
        break;
    case DRIFT_WIRE_END: s_end_session(w, h.session); break;
    default: DLOG_DEBUG("unexpected message type %u from the gateway", h.type);
    }
}

/* The gateway connection ended (the gateway restarted or is stopping): reconnect (dialer). Replies of
 * requests still running are dropped (their gateway is gone); sessions end when the new gateway's first
 * request shows its new incarnation. */
static void s_on_gw_close(drift_chan_t *ch, int err, void *arg)
{
    s_worker_t *w = arg;
    (void)ch;
    if (!w->r->stopping)
        DLOG_INFO("connection to the gateway lost (%s); reconnecting", err ? drift_strerror(err) : "closed");
    drift_chan_destroy(&w->gw);
    if (!w->r->stopping)
        drift_chan_dialer_start(w->dial, 0);
}

/* Connected to the gateway: say hello. */
static void s_on_gw_dial(int fd, void *arg)
{
    s_worker_t *w = arg;
    drift_chan_destroy(&w->gw);
    w->gw = drift_chan_new(w->r->base, fd, w->r->cfg.max_message_size + DRIFT_CHAN_SLACK, 0, s_on_gw_msg,
                           s_on_gw_close, w);
    if (!w->gw) {
        DLOG_WARN("cannot set up the gateway connection: %s", strerror(errno));
        drift_chan_dialer_start(w->dial, 0);
        return;
    }
    DLOG_DEBUG("query worker %s connected to the gateway", w->ident);
    s_hello(w);
}

/* The engine's writer link: commit acknowledgements, or the connection dropped (every commit in flight fails). */
static void s_on_writer(void *arg)
{
    s_worker_t *w = arg;
    for (int i = 0; i < 64; i++) {
        drift_engine_pending_t *p = NULL;
        if (!drift_engine_writer_recv(w->engine, &p))
            break;
        if (p)
            s_job_resume(w, drift_engine_pending_user(p), p);
    }
    drift_engine_pending_t *p;
    uint64_t now = drift_now_mono_ns();
    while ((p = drift_engine_expired(w->engine, now))) /* after a dropped connection: all of them, now */
        s_job_resume(w, drift_engine_pending_user(p), p);
}

static void s_on_heartbeat(drift_role_t *r)
{
    s_worker_t *w = r->user;
    uint64_t now = drift_now_mono_ns();
    drift_engine_pending_t *p;
    while ((p = drift_engine_expired(w->engine, now))) /* the writer did not answer within commit_timeout */
        s_job_resume(w, drift_engine_pending_user(p), p);
    s_index_poll(w); /* also without the tick (timerfd failed) */
    /* Not pinged lately: the gateway may not know us (it restarted): say hello again. */
    if (now - w->last_ping_ns > 2 * r->cfg.heartbeat_interval_ns)
        s_hello(w);
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
    s_worker_t w = {.r = r, .tfd = -1};
    int code = DRIFT_EXIT_RESTART;
    char path[PATH_MAX + 16];
    const char *f = getenv("DRIFT_FAULT");
    if (f && strncmp(f, "query_hang:", 11) == 0 && f[11])
        w.hang_marker = f + 11;
    if ((size_t)snprintf(path, sizeof path, "%s/query.chan", r->run_dir) >= sizeof path) {
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
    if (!w.engine)
        goto out;
    snprintf(w.ident, sizeof w.ident, "q%u.%" PRIu64, r->instance, (uint64_t)atomic_load(&r->slot->generation));
    /* The gateway starts after the workers and reports ready once it listens: retry every 10 ms (as the ZeroMQ
     * DEALER's reconnect interval did), so workers join it at once, at start and after it restarts; a failed
     * connect to a missing socket file costs one syscall. */
    w.dial = drift_chan_dialer_new(r->base, path, 10, 10, s_on_gw_dial, &w);
    if (!w.dial)
        goto out;
    drift_sqlerr_t werr;
    if (drift_engine_writer_watch(w.engine, r->base, s_on_writer, &w, &werr) < 0) {
        DLOG_ERR("cannot watch the writer link: %s", werr.message);
        goto out;
    }
    w.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (w.tfd < 0 || !(w.tev = event_new(r->base, w.tfd, EV_READ | EV_PERSIST, s_on_itick, &w)) ||
        event_add(w.tev, NULL) < 0) {
        DLOG_ERR("cannot set up the index tick: %s", strerror(errno));
        goto out;
    }
    r->user = &w;
    r->on_heartbeat = s_on_heartbeat;
    r->on_stop = s_on_stop;
    drift_chan_dialer_start(w.dial, 1);
    DLOG_INFO("query worker %s connecting to %s", w.ident, path);
    drift_role_ready(r);
    code = drift_role_run(r);
out:
    s_drop_sessions(&w, "exiting", 1);
    if (w.tev)
        event_free(w.tev);
    if (w.tfd >= 0)
        close(w.tfd);
    drift_chan_destroy(&w.gw);
    drift_chan_dialer_destroy(&w.dial);
    drift_engine_destroy(&w.engine);
    return code;
}
