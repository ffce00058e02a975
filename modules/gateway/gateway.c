/* modules/gateway/gateway.c — the gateway role: DriftDB's front door.
 *
 * Front: a ROUTER bound on `listen` (ZMQ_ROUTER_MANDATORY, ZMQ_MAXMSGSIZE =
 * max_message_size) for REQ and DEALER clients. Every request is validated
 * and decoded with the bounded codec (ipc/msg) and parsed (ipc/proto) before
 * anything else; a malformed one gets 08P01 when an id can be read. Admission
 * control (per-client in-flight cap, global bound) answers 53300 with a retry
 * hint. Back: an AF_UNIX stream listener on <data_dir>/run/query.chan
 * (ipc/chan.h: one thread wake-up per message, where a ZeroMQ ROUTER cost
 * three) to which each query worker connects and says HELLO; requests go to
 * the least-loaded worker, or to the worker a session is pinned to while it has
 * an open transaction. The request bytes are forwarded without re-encoding.
 *
 * Failure handling: every forwarded request is tracked by token and worker. A
 * worker is declared dead when its connection drops (seen directly on its
 * stream), when its control-block slot shows another pid/generation or
 * EXITED, or when it stops answering PINGs for heartbeat_timeout while its slot
 * heartbeat (which a long statement keeps fresh as it progresses) is as old
 * (then it is SIGKILLed and the supervisor restarts it); all its requests get 08006 at
 * once. Requests older than request_timeout get 57014. Client disconnects are
 * seen through a socket monitor on the front ROUTER (fd matched with
 * ZMQ_SRCFD) and end the session on its pinned worker.
 *
 * Memory: requests <= max_queue, sessions exist only while they have requests
 * in flight or are pinned, workers <= DRIFT_CTL_MAX_SLOTS.
 * Single-threaded, in the role's libevent loop; one ZeroMQ context made here
 * (the client side only). */
#include "modules/gateway/gateway.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zmq.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/util.h"
#include "config.h"
#include "ipc/chan.h"
#include "ipc/msg.h"
#include "ipc/proto.h"
#include "ipc/zwatch.h"
#include "modules/gateway/fastread.h"

#define MAX_WORKERS 64
#define SESS_BUCKETS 4096u
#define BACK_REPLY_MAX (1u << 31) /* a worker's reply to a REQ client is one message, however big */
#define BACK_OUT_MAX (1u << 30)   /* requests queued for a worker that reads slowly (bounded by max_queue) */

/* Role-specific counters in the gateway's slot (docs/operations.md). */
enum {
    CTR_REJECTED = DRIFT_CTR_ROLE0, /* answered 53300 */
    CTR_MALFORMED,                  /* answered 08P01 or dropped */
    CTR_DROPPED_REPLIES,            /* a reply could not be delivered (client gone or at HWM) */
    CTR_TIMEOUTS,                   /* answered 57014 / 57P03 */
    CTR_WORKER_DEATHS,              /* workers declared dead */
    CTR_INFLIGHT,                   /* gauge: requests held now */
    CTR_SESSIONS,                   /* gauge: sessions held now */
    CTR_FAST_READS,                 /* queries answered here (gateway_fast_reads) */
    /* queries sent to a worker (fast-path misses): counters[7], a generic slot no role uses, because the
     * gateway's role-specific ones (8..15) are all taken */
    CTR_FORWARDED = DRIFT_CTR_ROLE0 - 1,
};

typedef struct {
    int used;
    char ident[64];
    size_t ident_len;
    uint32_t instance;
    int32_t pid;
    uint64_t generation;
    int slot; /* control-block slot index, -1 unknown */
    struct s_conn *conn; /* its connection */
    uint32_t inflight;
    uint64_t last_pong_ns;
    uint64_t ping_seq;
    int stopping;
} s_wk_t;

typedef struct s_sess {
    struct s_sess *hnext, *prev, *next;
    uint64_t hash;
    uint64_t id;
    uint32_t inflight;
    int pinned;   /* worker index, -1 none */
    int aborted;  /* its pinned worker died while it was idle: the next query learns it */
    int notified; /* scratch in s_worker_dead */
    int fd;
    size_t rid_len;
    uint8_t rid[256];
} s_sess_t;

typedef struct s_req {
    struct s_req *hnext, *prev, *next; /* token hash chain; all-requests list (oldest first) */
    struct s_req *pnext;               /* pending FIFO */
    uint64_t token;
    s_sess_t *sess;
    int worker; /* -1 while pending */
    int req_env;
    drift_proto_req_t id; /* only has_id/id are used */
    uint64_t start_ns, deadline_ns;
    zmq_msg_t body; /* held while pending */
    int has_body;
} s_req_t;

/* A worker connection (before and after its HELLO). */
typedef struct s_conn {
    struct s_conn *prev, *next;
    struct s_gw *g;
    drift_chan_t *ch;
    int wi; /* the worker it says it is; -1 before HELLO */
} s_conn_t;

typedef struct s_gw {
    drift_role_t *r;
    void *zctx;
    void *front, *fmon;
    drift_zwatch_t *wf, *wfm;
    drift_chan_listener_t *back;
    s_conn_t *conns;
    struct event *tick;
    drift_msg_limits_t lim;
    drift_fastread_t *fr; /* NULL: gateway_fast_reads = off */
    s_wk_t workers[MAX_WORKERS];
    s_sess_t *sess_buckets[SESS_BUCKETS];
    s_sess_t *sess_all;
    uint64_t next_session;
    s_req_t **req_buckets;
    size_t req_nbuckets;
    s_req_t *req_head, *req_tail;
    s_req_t *pend_head, *pend_tail;
    uint64_t next_token;
    uint64_t total; /* requests held */
    uint64_t nsessions;
    uint64_t ewma_us;
    unsigned rr; /* round-robin start for ties */
    int got;     /* the last *_one call received a message */
} s_gw_t;

/* ---------- small helpers ---------- */

static uint64_t s_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static void s_gauges(s_gw_t *g)
{
    atomic_store(&g->r->slot->counters[CTR_INFLIGHT], g->total);
    atomic_store(&g->r->slot->counters[CTR_SESSIONS], g->nsessions);
}

static void s_count(s_gw_t *g, int ctr)
{
    atomic_fetch_add(&g->r->slot->counters[ctr], 1);
}

/* Sends one reply message to a client: [rid][empty if REQ][data]. Returns 0 or -1 (dropped). */
static int s_send_client(s_gw_t *g, const uint8_t *rid, size_t rid_len, int req_env, zmq_msg_t *msg, const void *data,
                         size_t len)
{
    if (zmq_send(g->front, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        goto drop;
    if (req_env && zmq_send(g->front, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        goto drop;
    size_t n = msg ? zmq_msg_size(msg) : len;
    if (msg ? zmq_msg_send(msg, g->front, ZMQ_DONTWAIT) < 0 : zmq_send(g->front, data, len, ZMQ_DONTWAIT) < 0)
        goto drop;
    atomic_fetch_add(&g->r->slot->counters[DRIFT_CTR_BYTES_OUT], n);
    drift_zwatch_kick(g->wf);
    return 0;
drop:
    /* EHOSTUNREACH: the client is gone; EAGAIN: its queue is full (slow reader). */
    {
        int e = errno;
        uint64_t dropped = atomic_fetch_add(&g->r->slot->counters[CTR_DROPPED_REPLIES], 1);
        if (dropped % 1000 == 0) /* rate-limited: a gone client can cause many */
            DLOG_WARN("reply to a client dropped (%s); %" PRIu64 " dropped so far", zmq_strerror(e), dropped + 1);
    }
    return -1;
}

/* Sends an error reply for req (or for a bare id when req is NULL). */
static void s_error_to(s_gw_t *g, const uint8_t *rid, size_t rid_len, int req_env, const drift_proto_req_t *id,
                       const char *code, const char *msg, int64_t retry_ms, const char *txn)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    drift_proto_error(&sb, id, code, msg, 0, retry_ms, txn);
    s_send_client(g, rid, rid_len, req_env, NULL, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    atomic_fetch_add(&g->r->slot->counters[DRIFT_CTR_ERRORS], 1);
}

/* ---------- sessions ---------- */

static s_sess_t *s_sess_get(s_gw_t *g, const uint8_t *rid, size_t rid_len, int create)
{
    uint64_t h = s_hash(rid, rid_len);
    s_sess_t *s = g->sess_buckets[h % SESS_BUCKETS];
    for (; s; s = s->hnext)
        if (s->hash == h && s->rid_len == rid_len && memcmp(s->rid, rid, rid_len) == 0)
            return s;
    if (!create || rid_len > sizeof s->rid)
        return NULL;
    s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->hash = h;
    s->id = ++g->next_session;
    s->pinned = -1;
    s->fd = -1;
    s->rid_len = rid_len;
    memcpy(s->rid, rid, rid_len);
    s->hnext = g->sess_buckets[h % SESS_BUCKETS];
    g->sess_buckets[h % SESS_BUCKETS] = s;
    s->next = g->sess_all;
    if (s->next)
        s->next->prev = s;
    g->sess_all = s;
    g->nsessions++;
    return s;
}

/* Frees a session that holds nothing (no requests in flight, not pinned). */
static void s_sess_maybe_free(s_gw_t *g, s_sess_t *s)
{
    if (s->inflight || s->pinned >= 0 || s->aborted)
        return;
    s_sess_t **pp = &g->sess_buckets[s->hash % SESS_BUCKETS];
    while (*pp != s)
        pp = &(*pp)->hnext;
    *pp = s->hnext;
    if (s->prev)
        s->prev->next = s->next;
    else
        g->sess_all = s->next;
    if (s->next)
        s->next->prev = s->prev;
    g->nsessions--;
    free(s);
}

/* ---------- requests ---------- */

static s_req_t *s_req_find(s_gw_t *g, uint64_t token)
{
    for (s_req_t *q = g->req_buckets[token & (g->req_nbuckets - 1)]; q; q = q->hnext)
        if (q->token == token)
            return q;
    return NULL;
}

static void s_req_finish(s_gw_t *g, s_req_t *q)
{
    s_req_t **pp = &g->req_buckets[q->token & (g->req_nbuckets - 1)];
    while (*pp != q)
        pp = &(*pp)->hnext;
    *pp = q->hnext;
    if (q->prev)
        q->prev->next = q->next;
    else
        g->req_head = q->next;
    if (q->next)
        q->next->prev = q->prev;
    else
        g->req_tail = q->prev;
    if (q->worker < 0) {
        /* unlink from the pending FIFO */
        s_req_t **pq = &g->pend_head, *prevp = NULL;
        while (*pq && *pq != q) {
            prevp = *pq;
            pq = &(*pq)->pnext;
        }
        if (*pq) {
            *pq = q->pnext;
            if (g->pend_tail == q)
                g->pend_tail = prevp;
        }
    } else {
        g->workers[q->worker].inflight--;
    }
    if (q->has_body)
        zmq_msg_close(&q->body);
    q->sess->inflight--;
    s_sess_maybe_free(g, q->sess);
    g->total--;
    free(q);
    s_gauges(g);
}

/* Answers q with an error and forgets it. */
static void s_req_fail(s_gw_t *g, s_req_t *q, const char *code, const char *msg, const char *txn)
{
    s_error_to(g, q->sess->rid, q->sess->rid_len, q->req_env, &q->id, code, msg, -1, txn);
    s_req_finish(g, q);
}

/* ---------- workers ---------- */

/* Closes a worker connection and forgets it (safe inside its own callbacks). */
static void s_conn_close(s_gw_t *g, s_conn_t *c)
{
    if (c->wi >= 0 && g->workers[c->wi].conn == c)
        g->workers[c->wi].conn = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else
        g->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    drift_chan_destroy(&c->ch);
    free(c);
}

/* Sends [hdr][body] to worker wi. Returns 0, or -1 when it cannot be delivered (no connection, or broken). */
static int s_send_worker(s_gw_t *g, int wi, const drift_wire_hdr_t *h, const void *body, size_t len)
{
    s_wk_t *w = &g->workers[wi];
    uint8_t hb[DRIFT_WIRE_HDR_SIZE];
    drift_wire_encode(h, hb);
    if (!w->conn || !w->conn->ch)
        return -1;
    struct iovec v[2] = {{hb, sizeof hb}, {(void *)body, len}};
    int rc = drift_chan_sendv(w->conn->ch, v, 2);
    if (rc < 0 && rc != -EPIPE)
        DLOG_WARN("send to query worker %.*s failed: %s", (int)w->ident_len, w->ident, drift_strerror(rc));
    return rc < 0 ? -1 : 0;
}

static void s_worker_dead(s_gw_t *g, int wi, const char *why);

/* The alive worker with the fewest requests in flight (ties: round robin), or -1. */
static int s_pick_worker(s_gw_t *g)
{
    int best = -1;
    for (int k = 0; k < MAX_WORKERS; k++) {
        int i = (int)((g->rr + (unsigned)k) % MAX_WORKERS);
        s_wk_t *w = &g->workers[i];
        if (!w->used || w->stopping)
            continue;
        if (best < 0 || w->inflight < g->workers[best].inflight)
            best = i;
    }
    if (best >= 0)
        g->rr = (unsigned)best + 1;
    return best;
}

/* Sends q (holding its body) to worker wi. Returns 0, or -1 when the worker is unreachable (q untouched). */
static int s_dispatch(s_gw_t *g, s_req_t *q, int wi)
{
    drift_wire_hdr_t h = {.type = DRIFT_WIRE_REQ, .token = q->token, .session = q->sess->id};
    /* aux: a tag of the client connection that outlives its sessions (the writer's group commit, docs/storage.md) */
    h.aux = (uint32_t)(q->sess->hash ^ q->sess->hash >> 32);
    h.aux += !h.aux;
    if (q->req_env)
        h.flags |= DRIFT_WIRE_F_ONE_REPLY;
    if (s_send_worker(g, wi, &h, zmq_msg_data(&q->body), zmq_msg_size(&q->body)) < 0)
        return -1;
    zmq_msg_close(&q->body); /* the bytes are in the socket (or the connection's buffer) */
    q->has_body = 0;
    q->worker = wi;
    g->workers[wi].inflight++;
    return 0;
}

/* Sends pending requests while workers are available. */
static void s_drain_pending(s_gw_t *g)
{
    while (g->pend_head) {
        s_req_t *q = g->pend_head;
        int wi = q->sess->pinned >= 0 ? q->sess->pinned : s_pick_worker(g);
        if (wi < 0)
            return;
        g->pend_head = q->pnext;
        if (!g->pend_head)
            g->pend_tail = NULL;
        q->pnext = NULL;
        if (s_dispatch(g, q, wi) < 0) {
            /* Not delivered (the worker's connection is gone): put it back first in line,
             * declare the worker dead (which drains the queue again), and stop here. */
            q->pnext = g->pend_head;
            g->pend_head = q;
            if (!g->pend_tail)
                g->pend_tail = q;
            s_worker_dead(g, wi, "unreachable");
            return;
        }
    }
}

static void s_worker_dead(s_gw_t *g, int wi, const char *why)
{
    s_wk_t *w = &g->workers[wi];
    if (!w->used)
        return;
    DLOG_WARN("query worker %.*s (pid %d) is gone (%s); failing its %u request(s)", (int)w->ident_len, w->ident,
              (int)w->pid, why, w->inflight);
    s_count(g, CTR_WORKER_DEATHS);
    for (s_sess_t *s = g->sess_all; s; s = s->next)
        s->notified = 0;
    for (s_req_t *q = g->req_head, *n; q; q = n) {
        n = q->next;
        /* its requests, and pending requests of sessions whose transaction lived there */
        if (q->worker != wi && !(q->worker < 0 && q->sess->pinned == wi))
            continue;
        int had_txn = q->sess->pinned == wi;
        q->sess->notified |= had_txn;
        s_req_fail(g, q, DRIFT_SQLSTATE_CONN_FAILURE,
                   had_txn ? "query worker died while running the request; the open transaction was rolled back"
                           : "query worker died while running the request; it may or may not have taken effect",
                   had_txn ? "aborted" : NULL);
    }
    for (s_sess_t *s = g->sess_all, *n; s; s = n) {
        n = s->next;
        if (s->pinned == wi) {
            s->pinned = -1;
            s->aborted = !s->notified; /* tell the client at its next query */
            s_sess_maybe_free(g, s);
        }
    }
    /* Pending requests of sessions that were pinned there now go anywhere. */
    if (w->conn)
        s_conn_close(g, w->conn); /* whatever it still sends is not trusted any more */
    memset(w, 0, sizeof *w);
    w->slot = -1;
    s_drain_pending(g);
}

static int s_find_worker_ident(s_gw_t *g, const void *id, size_t n)
{
    for (int i = 0; i < MAX_WORKERS; i++)
        if (g->workers[i].used && g->workers[i].ident_len == n && memcmp(g->workers[i].ident, id, n) == 0)
            return i;
    return -1;
}

/* The control-block slot of query worker `instance`, or -1. */
static int s_find_slot(s_gw_t *g, uint32_t instance)
{
    uint32_t n = drift_ctl_nslots(g->r->ctl);
    for (uint32_t i = 0; i < n; i++) {
        drift_ctl_slot_t *sl = drift_ctl_slot(g->r->ctl, i);
        if (atomic_load(&sl->role) == DRIFT_ROLE_QUERY && atomic_load(&sl->instance) == instance)
            return (int)i;
    }
    return -1;
}

static void s_on_hello(s_gw_t *g, s_conn_t *c, const void *payload, size_t len)
{
    drift_msg_t *m = NULL;
    drift_msg_limits_t lim = drift_msg_limits(4096);
    if (drift_msg_decode(payload, len, &lim, &m, NULL, 0) < 0) {
        DLOG_WARN("malformed HELLO from a query worker ignored");
        return;
    }
    const msgpack_object *root = drift_msg_root(m);
    const msgpack_object *inst = drift_msg_map_get(root, "instance"), *pid = drift_msg_map_get(root, "pid"),
                         *gen = drift_msg_map_get(root, "generation");
    if (!inst || !pid || !gen || inst->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        pid->type != MSGPACK_OBJECT_POSITIVE_INTEGER || gen->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        drift_msg_destroy(&m);
        return;
    }
    char ident[64];
    size_t ident_len = (size_t)snprintf(ident, sizeof ident, "q%" PRIu64 ".%" PRIu64, inst->via.u64, gen->via.u64);
    int wi = s_find_worker_ident(g, ident, ident_len);
    if (wi < 0) {
        /* An older incarnation of the same instance is dead by definition. */
        for (int i = 0; i < MAX_WORKERS; i++)
            if (g->workers[i].used && g->workers[i].instance == (uint32_t)inst->via.u64)
                s_worker_dead(g, i, "replaced by a new generation");
        for (int i = 0; i < MAX_WORKERS && wi < 0; i++)
            if (!g->workers[i].used)
                wi = i;
        if (wi < 0) {
            drift_msg_destroy(&m);
            return;
        }
        s_wk_t *w = &g->workers[wi];
        memset(w, 0, sizeof *w);
        w->used = 1;
        memcpy(w->ident, ident, ident_len);
        w->ident_len = ident_len;
        w->instance = (uint32_t)inst->via.u64;
        w->pid = (int32_t)pid->via.u64;
        w->generation = gen->via.u64;
        w->slot = s_find_slot(g, w->instance);
        DLOG_INFO("query worker %.*s (pid %d) joined", (int)ident_len, (const char *)ident, (int)w->pid);
    }
    g->workers[wi].last_pong_ns = drift_now_mono_ns();
    g->workers[wi].conn = c;
    c->wi = wi;
    drift_msg_destroy(&m);
    /* Ping at once so the worker stops repeating its hello. */
    drift_wire_hdr_t h = {.type = DRIFT_WIRE_PING, .token = ++g->workers[wi].ping_seq};
    s_send_worker(g, wi, &h, "", 0);
    s_drain_pending(g);
}

/* ---------- back link: messages from workers ---------- */

static void s_on_back_msg(drift_chan_t *ch, const drift_chan_msg_t *m, void *arg)
{
    s_conn_t *c = arg;
    s_gw_t *g = c->g;
    (void)ch;
    drift_wire_hdr_t h;
    if (m->nparts < 1 || drift_wire_decode(m->part[0], m->len[0], &h) < 0)
        return;
    const void *data = m->nparts >= 2 ? (const void *)m->part[1] : (const void *)"";
    size_t len = m->nparts >= 2 ? m->len[1] : 0;
    if (h.type == DRIFT_WIRE_HELLO) {
        if (m->nparts == 2)
            s_on_hello(g, c, data, len); /* may close c: nothing below touches it */
        return;
    }
    int wi = c->wi;
    if (wi < 0 || g->workers[wi].conn != c)
        return; /* unknown (e.g. declared dead): ignore until it says hello */
    s_wk_t *w = &g->workers[wi];
    switch (h.type) {
    case DRIFT_WIRE_PONG: w->last_pong_ns = drift_now_mono_ns(); break;
    case DRIFT_WIRE_BYE: w->stopping = 1; break;
    case DRIFT_WIRE_REP: {
        w->last_pong_ns = drift_now_mono_ns(); /* any answer proves life */
        s_req_t *q = s_req_find(g, h.token);
        if (!q || q->worker != wi || m->nparts < 2)
            break; /* timed out or failed already: the late reply is dropped */
        s_sess_t *s = q->sess;
        if (g->fr && !(h.flags & DRIFT_WIRE_F_MORE)) /* a write's seq: read-your-writes for fast reads */
            drift_fastread_note_reply(g->fr, data, len);
        s_send_client(g, s->rid, s->rid_len, q->req_env, NULL, data, len);
        if (h.flags & DRIFT_WIRE_F_TXN_OPEN)
            s->pinned = wi;
        else if (!(h.flags & DRIFT_WIRE_F_MORE))
            s->pinned = -1;
        if (h.flags & DRIFT_WIRE_F_MORE)
            break;
        uint64_t us = (drift_now_mono_ns() - q->start_ns) / 1000;
        g->ewma_us = g->ewma_us ? (g->ewma_us * 7 + us) / 8 : us;
        drift_ctl_slot_observe_us(g->r->slot, us);
        s_req_finish(g, q);
        break;
    }
    default: break;
    }
}

/* A worker connection ended: the worker is dead (its requests get 08006 at once). */
static void s_on_back_close(drift_chan_t *ch, int err, void *arg)
{
    s_conn_t *c = arg;
    s_gw_t *g = c->g;
    (void)ch;
    if (c->wi >= 0 && g->workers[c->wi].conn == c) {
        char why[96];
        snprintf(why, sizeof why, "connection closed%s%s", err ? ": " : "", err ? drift_strerror(err) : "");
        s_worker_dead(g, c->wi, why); /* closes c */
    } else {
        s_conn_close(g, c);
    }
}

/* A worker connected: it says HELLO next. */
static void s_on_back_accept(int fd, void *arg)
{
    s_gw_t *g = arg;
    s_conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->g = g;
    c->wi = -1;
    c->ch = drift_chan_new(g->r->base, fd, BACK_REPLY_MAX, BACK_OUT_MAX, s_on_back_msg, s_on_back_close, c);
    if (!c->ch) {
        DLOG_WARN("cannot set up a query worker connection: %s", strerror(errno));
        free(c);
        return;
    }
    c->next = g->conns;
    if (c->next)
        c->next->prev = c;
    g->conns = c;
}

/* ---------- front socket: messages from clients ---------- */

static int s_alive_workers(s_gw_t *g)
{
    int n = 0;
    for (int i = 0; i < MAX_WORKERS; i++)
        n += g->workers[i].used && !g->workers[i].stopping;
    return n;
}

/* Answers a ping: {id, ok, seq, server, txn}. */
static void s_ping_reply(s_gw_t *g, const uint8_t *rid, size_t rid_len, int req_env, const drift_proto_req_t *id)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 5);
    drift_proto_pack_id(&pk, id);
    drift_proto_pack_str(&pk, "ok");
    msgpack_pack_true(&pk);
    drift_proto_pack_str(&pk, "seq");
    msgpack_pack_uint64(&pk, atomic_load(&g->r->hdr->commit_seq));
    drift_proto_pack_str(&pk, "server");
    drift_proto_pack_str(&pk, "driftdb " PACKAGE_VERSION);
    drift_proto_pack_str(&pk, "txn");
    drift_proto_pack_str(&pk, "idle");
    s_send_client(g, rid, rid_len, req_env, NULL, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    drift_ctl_slot_observe_us(g->r->slot, 0);
}

/* Answers a message that failed validation/parsing: 08P01 when an id is readable (or for REQ clients). */
static void s_malformed(s_gw_t *g, const uint8_t *rid, size_t rid_len, int req_env, const drift_proto_req_t *id,
                        const char *msg)
{
    s_count(g, CTR_MALFORMED);
    if (!id->has_id && !req_env) {
        DLOG_DEBUG("malformed request without a readable id dropped: %s", msg);
        return;
    }
    s_error_to(g, rid, rid_len, req_env, id, DRIFT_SQLSTATE_PROTOCOL, msg, -1, NULL);
}

typedef struct {
    s_gw_t *g;
    const uint8_t *rid;
    size_t rid_len;
    int req_env;
} s_fast_to_t;

static void s_fast_send(void *arg, const void *data, size_t len)
{
    s_fast_to_t *t = arg;
    s_send_client(t->g, t->rid, t->rid_len, t->req_env, NULL, data, len);
}

/* Answers a query here (gateway_fast_reads) when the session is one a fresh worker session would serve the
 * same way: nothing in flight at a worker (a fast read must not overtake the session's earlier requests), not
 * pinned (no transaction, no SET), no pending abort notice; and the pool can serve (as for ping). The rest
 * (a bounded plan, the index at the write floor) is fastread's decision. Returns 1 when answered. */
static int s_fast(s_gw_t *g, const s_sess_t *s, const uint8_t *rid, size_t rid_len, int req_env,
                  const drift_proto_req_t *req)
{
    if (!g->fr || (s && (s->inflight || s->pinned >= 0 || s->aborted)) || s_alive_workers(g) == 0)
        return 0;
    uint64_t t0 = drift_now_mono_ns();
    s_fast_to_t to = {g, rid, rid_len, req_env};
    if (!drift_fastread_try(g->fr, req, req_env, s_fast_send, &to))
        return 0;
    s_count(g, CTR_FAST_READS);
    drift_ctl_slot_observe_us(g->r->slot, (drift_now_mono_ns() - t0) / 1000);
    return 1;
}

static void s_front_one(void *sock, void *arg)
{
    s_gw_t *g = arg;
    zmq_msg_t f[3];
    int nf = 0, ntotal = 0, more = 1, fd = -1;
    while (more) {
        zmq_msg_t t;
        zmq_msg_init(&t);
        if (zmq_msg_recv(&t, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&t);
            break;
        }
        more = zmq_msg_more(&t);
        ntotal++;
        if (!more)
            fd = zmq_msg_get(&t, ZMQ_SRCFD);
        if (nf < 3) {
            zmq_msg_init(&f[nf]);
            zmq_msg_move(&f[nf++], &t);
            zmq_msg_close(&t);
        } else
            zmq_msg_close(&t);
    }
    g->got = nf > 0;
    if (nf < 2)
        goto out;
    const uint8_t *rid = zmq_msg_data(&f[0]);
    size_t rid_len = zmq_msg_size(&f[0]);
    int req_env = nf >= 3 && zmq_msg_size(&f[1]) == 0;
    zmq_msg_t *body = req_env ? &f[2] : &f[1];
    drift_proto_req_t req;
    memset(&req, 0, sizeof req);
    atomic_fetch_add(&g->r->slot->counters[DRIFT_CTR_BYTES_IN], zmq_msg_size(body));
    int expected = req_env ? 3 : 2;
    if (ntotal != expected) {
        int64_t id;
        int us = 0;
        if (drift_msg_peek_id(zmq_msg_data(body), zmq_msg_size(body), &id, &us)) {
            req.has_id = 1;
            req.id.type = us ? MSGPACK_OBJECT_POSITIVE_INTEGER : MSGPACK_OBJECT_NEGATIVE_INTEGER;
            req.id.via.i64 = id;
        }
        s_malformed(g, rid, rid_len, req_env, &req, "a request must be exactly one MessagePack frame");
        goto out;
    }
    char err[256];
    drift_msg_t *m = NULL;
    void *data = zmq_msg_data(body);
    size_t len = zmq_msg_size(body);
    if (drift_msg_decode(data, len, &g->lim, &m, err, sizeof err) < 0) {
        int64_t id;
        int us = 0;
        if (drift_msg_peek_id(data, len, &id, &us)) {
            req.has_id = 1;
            req.id.type = us ? MSGPACK_OBJECT_POSITIVE_INTEGER : MSGPACK_OBJECT_NEGATIVE_INTEGER;
            req.id.via.i64 = id;
        }
        s_malformed(g, rid, rid_len, req_env, &req, err);
        goto out;
    }
    int prc = drift_proto_parse(drift_msg_root(m), &req, err, sizeof err);
    /* Only the id is kept: it is plain data, no pointer into the message. */
    drift_proto_req_t id = {.has_id = req.has_id, .id = req.id};
    if (prc < 0) {
        drift_msg_destroy(&m);
        s_malformed(g, rid, rid_len, req_env, &id, err);
        goto out;
    }
    s_sess_t *s = s_sess_get(g, rid, rid_len, 0);
    /* A short read is answered here when it can be (req borrows from m until then). */
    int fast = req.op == DRIFT_OP_QUERY && s_fast(g, s, rid, rid_len, req_env, &req);
    drift_msg_destroy(&m);
    if (fast)
        goto out;
    /* ping is answered here, without a hop to a worker, when the session is not pinned to a
     * worker and at least one worker is alive (so a successful ping still means "the pool can serve"). */
    if (id.has_id && req.op == DRIFT_OP_PING && (!s || s->pinned < 0) && s_alive_workers(g) > 0) {
        s_ping_reply(g, rid, rid_len, req_env, &id);
        goto out;
    }
    if (s && s->aborted && req.op == DRIFT_OP_QUERY) {
        s->aborted = 0;
        s_error_to(g, rid, rid_len, req_env, &id, DRIFT_SQLSTATE_CONN_FAILURE,
                   "the open transaction was rolled back: its query worker died", -1, "aborted");
        s_sess_maybe_free(g, s);
        goto out;
    }
    /* Admission control. */
    if ((s && s->inflight >= (uint64_t)g->r->cfg.max_inflight_per_client) ||
        g->total >= (uint64_t)g->r->cfg.max_queue) {
        /* A slot frees when a request completes: hint the mean service time (1 ms .. 1 s). */
        uint64_t retry = g->ewma_us / 1000;
        if (retry < 1)
            retry = 1;
        if (retry > 1000)
            retry = 1000;
        char msg[160];
        if (s && s->inflight >= (uint64_t)g->r->cfg.max_inflight_per_client)
            snprintf(msg, sizeof msg, "too many requests in flight for this client (%u); retry after %" PRIu64 " ms",
                     s->inflight, retry);
        else
            snprintf(msg, sizeof msg, "server busy (%" PRIu64 " requests queued); retry after %" PRIu64 " ms", g->total,
                     retry);
        s_count(g, CTR_REJECTED);
        s_error_to(g, rid, rid_len, req_env, &id, DRIFT_SQLSTATE_BUSY, msg, (int64_t)retry, NULL);
        goto out;
    }
    if (!s)
        s = s_sess_get(g, rid, rid_len, 1);
    s_req_t *q = s ? calloc(1, sizeof *q) : NULL;
    if (!q) {
        s_error_to(g, rid, rid_len, req_env, &id, "53200", "out of memory", 10, NULL);
        if (s)
            s_sess_maybe_free(g, s);
        goto out;
    }
    s->fd = fd;
    s->inflight++;
    if (req.op == DRIFT_OP_QUERY)
        s_count(g, CTR_FORWARDED);
    q->token = ++g->next_token;
    q->sess = s;
    q->worker = -1;
    q->req_env = req_env;
    q->id = id;
    q->start_ns = drift_now_mono_ns();
    q->deadline_ns = q->start_ns + g->r->cfg.request_timeout_ns;
    zmq_msg_init(&q->body);
    zmq_msg_move(&q->body, body); /* take the frame over (zero copy) */
    q->has_body = 1;
    q->hnext = g->req_buckets[q->token & (g->req_nbuckets - 1)];
    g->req_buckets[q->token & (g->req_nbuckets - 1)] = q;
    q->prev = g->req_tail;
    if (g->req_tail)
        g->req_tail->next = q;
    else
        g->req_head = q;
    g->req_tail = q;
    g->total++;
    s_gauges(g);
    int wi = s->pinned >= 0 ? s->pinned : s_pick_worker(g);
    int unreachable = 0;
    if (wi >= 0 && !g->pend_head) {
        if (s_dispatch(g, q, wi) == 0)
            goto out;
        unreachable = 1; /* not delivered: queue it, then fail the worker over */
    }
    if (g->pend_tail)
        g->pend_tail->pnext = q;
    else
        g->pend_head = q;
    g->pend_tail = q;
    if (unreachable)
        s_worker_dead(g, wi, "unreachable"); /* also drains the queue */
    else
        s_drain_pending(g);
out:
    for (int i = 0; i < nf; i++)
        zmq_msg_close(&f[i]);
}

/* zwatch callbacks: drain up to BATCH messages per call, so that ZMQ_EVENTS (a poll
 * syscall inside libzmq) is asked once per batch instead of once per message. zwatch
 * calls us at most 512 times per wakeup before it yields to the loop, so a wakeup
 * handles at most 512 * BATCH messages: keep BATCH small, or a flood starves the
 * heartbeat timer and the supervisor kills the gateway as hung. */
#define BATCH 4

static void s_on_front(void *sock, void *arg)
{
    s_gw_t *g = arg;
    for (int i = 0; i < BATCH; i++) {
        s_front_one(sock, arg);
        if (!g->got)
            break;
    }
}

/* ---------- socket monitors: disconnects ---------- */

/* Reads one monitor event; returns the event id and sets *ret_value (the fd for (DIS)CONNECT events). */
static int s_monitor_event(void *sock, uint32_t *ret_value)
{
    zmq_msg_t a, b;
    zmq_msg_init(&a);
    zmq_msg_init(&b);
    int ev = -1;
    if (zmq_msg_recv(&a, sock, ZMQ_DONTWAIT) < 0)
        goto out;
    if (zmq_msg_more(&a))
        zmq_msg_recv(&b, sock, ZMQ_DONTWAIT);
    if (zmq_msg_size(&a) >= 6) {
        const uint8_t *p = zmq_msg_data(&a);
        uint16_t e;
        memcpy(&e, p, 2);
        memcpy(ret_value, p + 2, 4);
        ev = e;
    }
out:
    zmq_msg_close(&a);
    zmq_msg_close(&b);
    return ev;
}

static void s_on_front_monitor(void *sock, void *arg)
{
    s_gw_t *g = arg;
    uint32_t fd = 0;
    if (s_monitor_event(sock, &fd) != ZMQ_EVENT_DISCONNECTED)
        return;
    for (s_sess_t *s = g->sess_all, *n; s; s = n) {
        n = s->next;
        if (s->fd != (int)fd)
            continue;
        s->fd = -1;
        s->aborted = 0;
        if (s->pinned >= 0) {
            DLOG_INFO("client disconnected with an open transaction: ending its session %" PRIu64, s->id);
            drift_wire_hdr_t h = {.type = DRIFT_WIRE_END, .session = s->id};
            s_send_worker(g, s->pinned, &h, "", 0);
            s->pinned = -1;
        }
        s_sess_maybe_free(g, s);
    }
}

/* ---------- timer: heartbeats, slot checks, timeouts ---------- */

static void s_on_tick(evutil_socket_t fd, short what, void *arg)
{
    s_gw_t *g = arg;
    uint64_t now = drift_now_mono_ns();
    for (int i = 0; i < MAX_WORKERS; i++) {
        s_wk_t *w = &g->workers[i];
        if (!w->used)
            continue;
        if (w->slot < 0)
            w->slot = s_find_slot(g, w->instance);
        if (w->slot >= 0) {
            drift_ctl_slot_t *sl = drift_ctl_slot(g->r->ctl, (uint32_t)w->slot);
            uint32_t st = atomic_load(&sl->state);
            if (atomic_load(&sl->pid) != w->pid || atomic_load(&sl->generation) != w->generation ||
                st == DRIFT_SLOT_EXITED || st == DRIFT_SLOT_FREE) {
                s_worker_dead(g, i, "its control-block slot shows it exited");
                continue;
            }
        }
        if (kill(w->pid, 0) < 0 && errno == ESRCH) {
            s_worker_dead(g, i, "process gone");
            continue;
        }
        /* A worker busy with a long statement cannot answer PINGs, but the engine refreshes its slot
         * heartbeat while the statement makes progress (drift_qctx_check): only both silent means hung. */
        uint64_t slot_hb = 0;
        if (w->slot >= 0)
            slot_hb = atomic_load(&drift_ctl_slot(g->r->ctl, (uint32_t)w->slot)->heartbeat_mono_ns);
        uint64_t slot_age = slot_hb >= now ? 0 : now - slot_hb; /* written after `now` was read: fresh */
        if (now - w->last_pong_ns > g->r->cfg.heartbeat_timeout_ns &&
            (slot_hb == 0 || slot_age > g->r->cfg.heartbeat_timeout_ns)) {
            DLOG_ERR("query worker %.*s (pid %d) did not answer heartbeats for %" PRIu64 " ms; killing it",
                     (int)w->ident_len, w->ident, (int)w->pid, (now - w->last_pong_ns) / 1000000);
            kill(w->pid, SIGKILL);
            s_worker_dead(g, i, "heartbeat timeout");
            continue;
        }
        drift_wire_hdr_t h = {.type = DRIFT_WIRE_PING, .token = ++w->ping_seq};
        if (s_send_worker(g, i, &h, "", 0) < 0)
            s_worker_dead(g, i, "unreachable");
    }
    /* Requests are listed oldest first and share one timeout: stop at the first that is not late. */
    while (g->req_head && g->req_head->deadline_ns <= now) {
        s_req_t *q = g->req_head;
        s_count(g, CTR_TIMEOUTS);
        if (q->worker < 0)
            s_req_fail(g, q, DRIFT_SQLSTATE_CANNOT_CONNECT, "no query worker became available within request_timeout",
                       NULL);
        else
            s_req_fail(g, q, DRIFT_SQLSTATE_CANCELED, "request not answered within request_timeout", NULL);
    }
}

static void s_on_stop(drift_role_t *r)
{
    s_gw_t *g = r->user;
    while (g->req_head)
        s_req_fail(g, g->req_head, DRIFT_SQLSTATE_CANNOT_CONNECT, "the server is shutting down", NULL);
    drift_role_exit(r, DRIFT_EXIT_OK);
}

static void *s_monitor(s_gw_t *g, void *sock, const char *name)
{
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://gw-%s-monitor", name);
    if (zmq_socket_monitor(sock, ep, ZMQ_EVENT_DISCONNECTED) < 0)
        return NULL;
    void *m = zmq_socket(g->zctx, ZMQ_PAIR);
    if (m && zmq_connect(m, ep) < 0) {
        zmq_close(m);
        return NULL;
    }
    return m;
}

int drift_gateway_main(drift_role_t *r)
{
    s_gw_t *g = calloc(1, sizeof *g);
    int code = DRIFT_EXIT_RESTART;
    char ep[PATH_MAX + 16];
    if (!g)
        return code;
    g->r = r;
    for (int i = 0; i < MAX_WORKERS; i++)
        g->workers[i].slot = -1;
    g->lim = drift_msg_limits(r->cfg.max_message_size);
    if (r->cfg.gateway_fast_reads && !(g->fr = drift_fastread_new(r)))
        DLOG_WARN("gateway fast reads: out of memory; every query goes to a worker");
    /* Session ids carry this gateway's incarnation in their top bits, so that ids of a restarted
     * gateway never match sessions a worker still holds from the previous one. */
    g->next_session = (atomic_load(&r->slot->generation) & 0xffffffu) << 40;
    g->req_nbuckets = 1024;
    while (g->req_nbuckets < (size_t)r->cfg.max_queue && g->req_nbuckets < (1u << 20))
        g->req_nbuckets <<= 1;
    g->req_buckets = calloc(g->req_nbuckets, sizeof *g->req_buckets);
    g->zctx = zmq_ctx_new();
    if (!g->req_buckets || !g->zctx)
        goto out;
    g->front = zmq_socket(g->zctx, ZMQ_ROUTER);
    if (!g->front)
        goto out;
    int one = 1, zero = 0;
    int64_t maxmsg = (int64_t)r->cfg.max_message_size;
    int hwm = (int)(r->cfg.max_inflight_per_client * 4 > 1000 ? r->cfg.max_inflight_per_client * 4 : 1000);
    zmq_setsockopt(g->front, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(g->front, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    zmq_setsockopt(g->front, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(g->front, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(g->front, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind(g->front, r->cfg.listen) < 0) {
        DLOG_ERR("cannot listen on %s: %s", r->cfg.listen, zmq_strerror(errno));
        code = errno == EINVAL || errno == EPROTONOSUPPORT ? DRIFT_EXIT_FATAL : DRIFT_EXIT_RESTART;
        goto out;
    }
    if ((size_t)snprintf(ep, sizeof ep, "%s/query.chan", r->run_dir) >= sizeof ep) {
        code = DRIFT_EXIT_FATAL;
        goto out;
    }
    g->back = drift_chan_listen(r->base, ep, s_on_back_accept, g); /* a file left by a previous gateway: replaced */
    if (!g->back) {
        DLOG_ERR("cannot listen on %s: %s", ep, strerror(errno));
        goto out;
    }
    g->fmon = s_monitor(g, g->front, "front");
    if (!g->fmon)
        goto out;
    g->wf = drift_zwatch_new(r->base, g->front, s_on_front, g);
    g->wfm = drift_zwatch_new(r->base, g->fmon, s_on_front_monitor, g);
    g->tick = event_new(r->base, -1, EV_PERSIST, s_on_tick, g);
    if (!g->wf || !g->wfm || !g->tick)
        goto out;
    uint64_t iv = r->cfg.heartbeat_interval_ns;
    struct timeval tv = {(time_t)(iv / 1000000000ull), (suseconds_t)(iv % 1000000000ull / 1000)};
    event_add(g->tick, &tv);
    r->user = g;
    r->on_stop = s_on_stop;
    DLOG_INFO("gateway listening on %s, workers on %s", r->cfg.listen, ep);
    drift_role_ready(r);
    code = drift_role_run(r);
out:
    while (g->req_head)
        s_req_finish(g, g->req_head);
    while (g->sess_all) {
        s_sess_t *n = g->sess_all->next;
        free(g->sess_all);
        g->sess_all = n;
    }
    if (g->tick)
        event_free(g->tick);
    drift_zwatch_destroy(&g->wf);
    drift_zwatch_destroy(&g->wfm);
    while (g->conns)
        s_conn_close(g, g->conns);
    drift_chan_listener_destroy(&g->back);
    if (g->front)
        zmq_socket_monitor(g->front, NULL, 0);
    if (g->fmon)
        zmq_close(g->fmon);
    if (g->front)
        zmq_close(g->front);
    if (g->zctx)
        zmq_ctx_term(g->zctx);
    free(g->req_buckets);
    drift_fastread_destroy(&g->fr);
    free(g);
    return code;
}
