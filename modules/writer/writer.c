/* modules/writer/writer.c — the writer role: the only process that appends
 * to the log (docs/storage.md has the format, the commit protocol, the
 * durability modes and the recovery rules).
 *
 * Concurrency story. Three threads, no shared state without the mutex:
 *  - the event-loop thread (libevent + ZeroMQ) owns the sockets, the key map,
 *    the chain head and every batch until it is submitted. It validates each
 *    commit request, checks uniqueness and conflicts, assigns seq + ts, encodes
 *    the frame into the open batch and remembers the reply;
 *  - the flush thread takes submitted batches in order and, for each, does one
 *    pwrite and (durability = sync) one fdatasync, rotating to the spare
 *    segment first when the batch says so; it reports through an eventfd;
 *  - a short-lived preallocation thread zero-fills the next segment ("spare")
 *    ahead of time, so that rotation is a rename and a full disk shows up as a
 *    failed preallocation (53100 to the commits that need the new segment)
 *    rather than as a failed write.
 * Group commit: while one submission is being written and synced, everything
 * that arrives joins the open batch; when the flush thread reports, the loop
 * publishes commit_seq/commit_ts/committed_len (release stores, in the order
 * docs/storage.md gives), announces on PUB, answers the clients, and submits
 * what accumulated meanwhile. Gathering (commit_gather > 0, durability = sync;
 * docs/storage.md "Group commit"): the loop learns, per commit source (a
 * client session: the request's "session" field on a query worker's link, else
 * the connection), the time from its last reply to its next commit; the open
 * batch is held back, at most commit_gather (and no longer than an fdatasync
 * takes) after the flush thread became free (or after its first commit), while
 * a source expected within that window has no commit in it yet, so that N
 * closed-loop sessions share one fdatasync
 * instead of two cohorts alternating. A batch nobody is expected for goes at
 * once (a lone session never waits), and a source that stops committing stops
 * being expected once it is overdue. All of it is loop-thread state.
 * Index flow control (index_stall > 0, docs/indexes.md "Flow control"): while
 * the oldest commit the indexer has not applied is older than index_stall / 2
 * and the indexer is advancing, new commits wait in the deferred queue (in
 * arrival order) until that age is back under index_stall / 4, or each at
 * most index_stall — but still go at half the indexer's pace (one op for every
 * two it applies: indexed_ops in the control block), so that it gains on any
 * backlog while writes never stall on a long one (a rebuild); a ring of (seq, ts) samples (lagring.h), one
 * per millisecond of commits, gives the age of the oldest unindexed commit.
 * A failed pwrite/fdatasync is never retried or
 * acknowledged: the writer exits with DRIFT_EXIT_RESTART and recovery re-reads
 * the disk. Holds an exclusive flock on <data_dir>/log/LOCK for its lifetime. */
#include "modules/writer/writer.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <msgpack.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zmq.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/util.h"
#include "ipc/commit.h"
#include "ipc/msg.h"
#include "ipc/zwatch.h"
#include "modules/writer/catalog.h"
#include "modules/writer/chan_in.h"
#include "modules/writer/keymap.h"
#include "modules/writer/lagring.h"
#include "shm/index.h"
#include "shm/logreader.h"
#include "shm/recovery.h"
#include "shm/segment.h"

#define BATCH_MAX_BYTES (8u << 20)  /* a batch is closed past this; several can go in one submission */
#define FRAME_MAX_BYTES (64u << 20) /* also bounded by the segment size */
#define ENV_MAX_PARTS 4             /* routing frames accepted before the payload */
#define SPARE_RETRY_MS 500          /* how often a failed preallocation (disk full) is retried */
#define DEFERRED_MAX 100000         /* requests waiting for the next segment */
#define CATALOG_TICK_MS 20          /* how often the catalog moves to a newer LMDB snapshot */
#define KM_SWEEP_NS 2000000ull      /* key map pass (s_km_forget): longest sweep per catalog tick */
#define RCACHE_SLOTS 16384          /* READ COMMITTED re-evaluation: latest rows kept (2-way sets, power of 2) */
#define RCACHE_ROW_MAX 8192         /* larger rows are not kept (their re-evaluable updates fall back to 40001) */
#define GSRC_INIT 64                /* commit sources tracked for gathering: initial table size (power of 2) ... */
#define GSRC_MAX 16384              /* ... and largest (a source beyond it is not tracked: never waited for) */
#define GSRC_STALE_NS 2000000000ull /* a source idle this long with nothing in flight is forgotten */
#define STALL_TICK_US 1000           /* how often held commits look at the indexer again */
#define STALL_PROGRESS_MIN_NS 1000000000ull /* an indexer idle longer (and 2 x index_stall) holds nothing back */
#define STALL_PACE 0.5              /* while holding, ops let through per op the indexer applies */
#define STALL_CREDIT_MAX 65536.0    /* ... saved up at most (no burst after a big batch) */

/* One commit source of the gathering rule (see the file comment): open addressing on key, 0 = empty. */
typedef struct {
    uint64_t key;
    uint64_t ack_ns;    /* when its last commit was answered (0: never) */
    uint64_t think_ns;  /* smoothed time from an answer to its next commit (0: unknown) ... */
    uint64_t dev_ns;    /* ... and its smoothed deviation: the next commit is due by ack + think + 4 dev */
    uint32_t out;       /* commits received and not yet answered */
    uint32_t gen_in;    /* the open batch generation it has a commit in */
    uint32_t wait_eval; /* the gathering evaluation that waits for it */
} gsrc_t;

/* One slot of the re-evaluation row cache: the row e's key holds after commit seq (valid while e->seq == seq). */
typedef struct {
    drift_kentry_t *e;
    uint64_t seq;
    uint8_t *row;
    uint32_t len;
} rslot_t;

typedef struct {
    uint8_t *env; /* routing parts, each preceded by a 2-byte length */
    size_t env_len;
    char *reply;
    size_t reply_len;
    uint64_t t0_ns;
    uint64_t src; /* gathering: the commit source's key (0: untracked) */
} waiter_t;

enum { BATCH_WRITE = 0, BATCH_SYNC = 1 };

typedef struct batch {
    struct batch *next;
    int kind;
    int rotate; /* install the spare as newhdr before writing */
    drift_seg_header_t newhdr;
    uint64_t sealed_id; /* rotate: the segment this rotation seals (0: none), gets a seal record */
    uint8_t *buf;
    size_t len, cap;
    uint64_t seg_id, off; /* where buf goes */
    uint64_t first_seq, last_seq, last_ts;
    uint64_t durable_upto; /* after success, every seq <= this is durable (0 = unchanged) */
    uint64_t durable_ts;
    int sync; /* fdatasync after the write */
    waiter_t *w;
    size_t nw, capw;
    int err;
    const char *what;
    uint64_t sync_ns; /* the group's fdatasync took this long (flush thread; 0: none) */
} batch_t;

typedef struct deferred {
    struct deferred *next;
    uint8_t *env;
    size_t env_len;
    uint8_t *payload;
    size_t len;
    uint64_t t0_ns;
} deferred_t;

enum { SPARE_NONE, SPARE_RUNNING, SPARE_READY, SPARE_FAILED };

typedef struct {
    drift_role_t *r;
    char log_dir[PATH_MAX + 8];
    char spare_path[PATH_MAX + 32], spare_tmp[PATH_MAX + 32];
    int lock_fd;
    int sync_mode;
    void *zctx, *router, *pub;
    drift_zwatch_t *zw;
    drift_wchan_t *wchan; /* the query workers' stream link, run/writer.chan (chan_in.h) */
    struct event *ev_done, *ev_submit, *ev_sync, *ev_spare_retry, *ev_cat;
    int efd;
    drift_keymap_t *keys;
    drift_wcat_t *cat; /* schema, DDL validation, UNIQUE (catalog.h) */
    /* Key map seeding (s_find): the map holds every write after seed_seq, the table records of the whole log and
     * the keys of older writes the LMDB index may not hold (s_index_vouches); a miss of any other key is answered
     * from the catalog's LMDB snapshot (applied seq >= seed_seq) and cached. 0: the map holds the whole log. */
    uint64_t seed_seq;
    uint64_t seed_asked, seed_found;       /* misses answered from the index / of them, keys the index holds */
    /* Forgetting at run time (s_km_forget): when the map holds more than km_forget_at row keys (config
     * keymap_forget_at; 0 = never) and twice what the last pass kept, the keys whose last write the catalog's
     * snapshot holds are dropped and seed_seq moves up to that snapshot. km_no_forget: the index failed a
     * lookup (the map was completed from the log): never again. */
    uint64_t km_forget_at, km_kept;
    int km_no_forget, km_sweeping;
    size_t km_cursor;                                     /* the pass's next slot */
    uint64_t km_pass_rows, km_pass_ns, km_pass_t0, km_pass_seq0; /* the pass: keys at its start, time swept, ... */
    uint64_t km_passes, km_forgot, km_logged_ns;          /* passes done, keys forgotten, last INFO line */
    drift_kentry_t *scan_t;                 /* recovery scan: the last table record touched ... */
    uint32_t scan_tid;                      /* ... and its table id */
    /* log position (loop thread) */
    uint64_t next_seq, last_ts, epoch;
    uint8_t chain[DRIFT_HASH_LEN];
    uint64_t seg_id, seg_end, seg_size; /* where the next frame goes */
    uint64_t durable_seq, written_seq;  /* as acknowledged by the flush thread */
    uint64_t placed_ts;                 /* ts of the last placed frame (for sync jobs) */
    int64_t clock_skew_ns;              /* test hook: DRIFT_FAULT=clock_back:SECONDS */
    /* batches (loop thread): built, not yet submitted */
    batch_t *ready_head, *ready_tail;
    size_t inflight;
    /* gathering (loop thread): the sources, and the open batch (everything built since the last submission) */
    uint64_t gather_ns;     /* commit_gather (0: off, and always with durability = async) */
    gsrc_t *src;            /* GSRC table, nsrc used of capsrc */
    size_t nsrc, capsrc;
    uint32_t gen;           /* generation of the open batch */
    uint32_t eval;          /* evaluations of the expected sources */
    int evaluated;          /* the open batch's expected sources are counted in missing */
    int held;               /* the open batch was held back (counted once in DRIFT_CTR_W_GATHER_WAITS) */
    size_t missing;         /* expected sources without a commit in the open batch */
    uint64_t first_ns;      /* arrival of the open batch's first commit */
    uint64_t free_ns;       /* when the flush thread last became idle */
    uint64_t until_ns;      /* the latest time an expected source is due by (its ack + think + 4 dev) */
    uint64_t sync_avg_ns;   /* smoothed duration of an fdatasync (0: none yet) */
    struct event *ev_gather;
    /* index flow control (loop thread) */
    uint64_t stall_ns;           /* index_stall (0: off) */
    drift_lagring_t *lagring;    /* the commits' (seq, ts) samples (NULL when off) */
    uint64_t st_idx_seq, st_progress_ns; /* indexed_seq last seen, and when it last moved (mono) */
    int stalling;                        /* holding commits back */
    uint64_t stall_start_ns;             /* when the current episode began (mono) */
    double st_credit;                    /* ops the episode may let through now (STALL_PACE) */
    uint64_t st_credit_ops;              /* indexed_ops the credit was counted up to */
    struct event *ev_stall;
    deferred_t *def_head, *def_tail;
    size_t ndeferred;
    /* spare preallocation */
    int spare_state;
    int rotations_pending; /* rotate batches not yet installed: the spare file is still theirs */
    uint64_t spare_size;
    pthread_t spare_thr;
    int spare_thr_live;
    _Atomic int spare_done;
    int spare_rc;
    /* seal record of the segment the last rotation sealed: written by the preallocation thread
     * before it zero-fills the next spare (set before it starts, cleared after it is joined) */
    uint64_t seal_id, seal_next;
    uint8_t seal_chain[DRIFT_HASH_LEN];
    int seal_rc;
    int fault_seal_kill; /* test hook: DRIFT_FAULT=seal_kill: SIGKILL just before writing a seal record */
    unsigned fault_sync_delay_us; /* test hook: DRIFT_FAULT=sync_delay:MS: a slow disk (sleep after each fdatasync) */
    int disk_full_logged;
    /* flush thread */
    pthread_t flush_thr;
    int flush_thr_live;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    batch_t *q_head, *q_tail;       /* submitted (mu) */
    batch_t *done_head, *done_tail; /* finished (mu) */
    int stop;                       /* (mu) */
    int flush_fd;                   /* owned by the flush thread once it runs */
    int fatal;
    /* scratch */
    msgpack_sbuffer body;
    drift_commit_req_t req;
    struct undo {
        drift_kentry_t *e;
        uint64_t seq, seq2;
        uint8_t live;
    } * undo;
    size_t nundo, capundo;
    /* READ COMMITTED re-evaluation (s_check): latest rows of keys written by delta ops, the slots the current
     * transaction replaced (restored by s_undo_all, their old rows freed at commit), and scratch */
    rslot_t *rcache;
    struct rundo {
        size_t idx;
        rslot_t old;
    } * rundo;
    size_t nrundo, caprundo;
    msgpack_zone rzone; /* recomputed rows of the request being checked */
    int rzone_live;
    msgpack_sbuffer rbuf;
} writer_t;

static void s_process_deferred(writer_t *w);

/* ---------------------------------------------------------------- helpers */

/* Wall clock for commit timestamps (with the test skew applied). */
static uint64_t s_now(const writer_t *w)
{
    int64_t t = (int64_t)drift_now_real_ns() - w->clock_skew_ns;
    return t > 0 ? (uint64_t)t : 1;
}

static void s_batch_free(batch_t *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->nw; i++) {
        free(b->w[i].env);
        free(b->w[i].reply);
    }
    free(b->w);
    free(b->buf);
    free(b);
}

/* Sends routing parts + payload to a client; a vanished client is not an error. */
static void s_send(writer_t *w, const uint8_t *env, size_t env_len, const void *data, size_t len)
{
    if (drift_wchan_is_env(env, env_len)) { /* a request from a stream connection: reply on it */
        if (drift_wchan_reply(w->wchan, env, env_len, data, len) == 0)
            atomic_fetch_add(&w->r->slot->counters[DRIFT_CTR_BYTES_OUT], len);
        return;
    }
    size_t at = 0;
    while (at + 2 <= env_len) {
        size_t n = (size_t)env[at] | (size_t)env[at + 1] << 8;
        if (zmq_send(w->router, env + at + 2, n, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
            goto fail;
        at += 2 + n;
    }
    if (zmq_send(w->router, data, len, ZMQ_DONTWAIT) < 0)
        goto fail;
    atomic_fetch_add(&w->r->slot->counters[DRIFT_CTR_BYTES_OUT], len);
    return;
fail:
    if (errno != EHOSTUNREACH)
        DLOG_DEBUG("reply not sent: %s", zmq_strerror(errno));
}

/* Sends an error reply right away. */
static void s_reply_error(writer_t *w, const uint8_t *env, size_t env_len, const drift_commit_req_t *req,
                          const char *code, const char *msg)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    drift_commit_pack_error(&sb, req, code, msg);
    s_send(w, env, env_len, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    atomic_fetch_add(&w->r->slot->counters[DRIFT_CTR_ERRORS], 1);
}

/* Publishes the active segment and its committed length (see docs/storage.md for the order readers rely on). */
static void s_publish_segment(writer_t *w, uint64_t id, uint64_t len)
{
    drift_ctl_header_t *h = w->r->hdr;
    if (atomic_load_explicit(&h->active_segment_id, memory_order_relaxed) != id) {
        atomic_store_explicit(&h->committed_len, 0, memory_order_release);
        atomic_store_explicit(&h->active_segment_id, id, memory_order_release);
    }
    atomic_store_explicit(&h->committed_len, len, memory_order_release);
}

/* Announces the current positions on the PUB socket. */
static void s_announce(writer_t *w, uint64_t seg_len)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 5);
    msgpack_pack_str_with_body(&pk, "seq", 3);
    msgpack_pack_uint64(&pk, w->written_seq);
    msgpack_pack_str_with_body(&pk, "durable", 7);
    msgpack_pack_uint64(&pk, w->durable_seq);
    msgpack_pack_str_with_body(&pk, "ts", 2);
    msgpack_pack_uint64(&pk, atomic_load(&w->r->hdr->commit_ts_ns));
    msgpack_pack_str_with_body(&pk, "segment", 7);
    msgpack_pack_uint64(&pk, atomic_load(&w->r->hdr->active_segment_id));
    msgpack_pack_str_with_body(&pk, "len", 3);
    msgpack_pack_uint64(&pk, seg_len);
    zmq_send(w->pub, sb.data, sb.size, ZMQ_DONTWAIT);
    msgpack_sbuffer_destroy(&sb);
}

/* ---------------------------------------------------------------- flush thread */

/* Writes consecutive batches of one segment with one pwritev (short writes continued). Returns 0 or -errno. */
static int s_pwritev_all(int fd, struct iovec *iov, int n, uint64_t off)
{
    while (n > 0) {
        ssize_t k = pwritev(fd, iov, n, (off_t)off);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (k == 0)
            return -EIO;
        off += (uint64_t)k;
        while (n > 0 && (size_t)k >= iov->iov_len) {
            k -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + k;
            iov->iov_len -= (size_t)k;
        }
    }
    return 0;
}

/* Writes a run of batches [b, end) that go back to back into the current segment. */
static int s_write_run(writer_t *w, batch_t *b, batch_t *end, const char **what)
{
    struct iovec iov[64];
    while (b != end) {
        int n = 0;
        uint64_t off = b->off;
        for (; b != end && n < 64; b = b->next)
            if (b->len)
                iov[n++] = (struct iovec){b->buf, b->len};
        int rc = n ? s_pwritev_all(w->flush_fd, iov, n, off) : 0;
        if (rc < 0) {
            *what = "pwrite";
            return rc;
        }
    }
    return 0;
}

/* The flush thread. It takes everything submitted since its last turn as one group: the
 * batches are written in order (one pwritev per run of batches in the same segment), then one
 * fdatasync covers the whole group. So while it syncs, the next group accumulates, and it
 * never waits for the loop thread between two groups. */
static void *s_flush_main(void *arg)
{
    writer_t *w = arg;
    drift_ctl_slot_t *slot = w->r->slot;
    int broken = 0; /* a write failed: nothing after it is written (the process is exiting) */
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->q_head && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        batch_t *group = w->q_head, *tail = w->q_tail;
        w->q_head = w->q_tail = NULL;
        pthread_mutex_unlock(&w->mu);
        if (!group)
            break;

        int rc = broken ? -EIO : 0, need_sync = 0;
        const char *what = broken ? "not written after an earlier failure" : NULL;
        batch_t *run = group;
        for (batch_t *b = group; b && !rc; b = b->next) {
            need_sync |= b->sync;
            if (!b->rotate)
                continue;
            /* Write what goes to the old segment, make it durable, then install the new one:
             * a later segment may only exist once the sealed one is complete on disk (recovery
             * forgives a torn tail only in the last segment). */
            if ((rc = s_write_run(w, run, b, &what)) < 0)
                break;
            if (w->flush_fd >= 0 && fdatasync(w->flush_fd) < 0) {
                rc = -errno;
                what = "fdatasync of the segment being sealed";
                break;
            }
            atomic_fetch_add(&slot->counters[DRIFT_CTR_W_SYNCS], 1);
            int fd = -1;
            rc = drift_seg_install(w->log_dir, w->spare_path, &b->newhdr, &fd);
            if (rc < 0) {
                what = "installing the next segment";
                break;
            }
            if (w->flush_fd >= 0)
                close(w->flush_fd);
            w->flush_fd = fd;
            run = b;
        }
        if (!rc)
            rc = s_write_run(w, run, NULL, &what);
        broken |= rc != 0;
        if (!rc)
            atomic_fetch_add(&slot->counters[DRIFT_CTR_W_BATCHES], 1);
        uint64_t sync_ns = 0;
        if (!rc && need_sync) {
            sync_ns = drift_now_mono_ns();
            int src = fdatasync(w->flush_fd);
            if (w->fault_sync_delay_us)
                usleep(w->fault_sync_delay_us);
            sync_ns = drift_now_mono_ns() - sync_ns;
            if (src < 0) {
                rc = -errno;
                what = "fdatasync";
                broken = 1;
            } else {
                atomic_fetch_add(&slot->counters[DRIFT_CTR_W_SYNCS], 1);
            }
        }
        for (batch_t *b = group; b; b = b->next) {
            b->err = rc;
            b->what = what;
            b->sync_ns = rc ? 0 : sync_ns;
        }
        pthread_mutex_lock(&w->mu);
        if (w->done_tail)
            w->done_tail->next = group;
        else
            w->done_head = group;
        w->done_tail = tail;
        pthread_mutex_unlock(&w->mu);
        uint64_t one = 1;
        if (write(w->efd, &one, sizeof one) < 0) {
            /* eventfd writes only fail on overflow, which 2^64 wakeups cannot reach */
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------- spare segment */

/* Preallocation thread: zero-fills spare.tmp, then renames it to spare. */
static void *s_spare_main(void *arg)
{
    writer_t *w = arg;
    if (w->seal_id) {
        if (w->fault_seal_kill)
            raise(SIGKILL);
        w->seal_rc = drift_recovery_seal(w->log_dir, w->seal_id, w->seal_chain, w->seal_next);
    }
    unlink(w->spare_tmp);
    int rc = drift_seg_prealloc(w->spare_tmp, w->spare_size);
    if (rc == 0 && rename(w->spare_tmp, w->spare_path) < 0)
        rc = -errno;
    if (rc == 0)
        rc = drift_fsync_dir(w->log_dir);
    w->spare_rc = rc;
    atomic_store(&w->spare_done, 1);
    uint64_t one = 1;
    if (write(w->efd, &one, sizeof one) < 0) {
    }
    return NULL;
}

/* Starts preallocating the next segment in the background. */
static void s_spare_start(writer_t *w)
{
    if (w->spare_state == SPARE_RUNNING || w->spare_state == SPARE_READY || w->rotations_pending)
        return;
    w->spare_size = w->r->cfg.segment_size;
    atomic_store(&w->spare_done, 0);
    if (pthread_create(&w->spare_thr, NULL, s_spare_main, w) != 0) {
        w->spare_state = SPARE_FAILED;
        w->spare_rc = -EAGAIN;
        return;
    }
    w->spare_thr_live = 1;
    w->spare_state = SPARE_RUNNING;
}

/* The preallocation thread finished: join it and act on the result. */
static void s_spare_finished(writer_t *w)
{
    pthread_join(w->spare_thr, NULL);
    w->spare_thr_live = 0;
    atomic_store(&w->spare_done, 0);
    if (w->seal_id) {
        if (w->seal_rc < 0) /* not an error for the log: the next start verifies that segment in full */
            DLOG_WARN("cannot write the seal record of segment %020" PRIu64 ".seg: %s", w->seal_id,
                      drift_strerror(w->seal_rc));
        w->seal_id = 0;
    }
    if (w->spare_rc == 0) {
        w->spare_state = SPARE_READY;
        if (atomic_load(&w->r->hdr->writer_state) == DRIFT_WSTATE_DISK_FULL) {
            DLOG_NOTICE("disk space is back: next segment preallocated, accepting commits again");
            atomic_store(&w->r->hdr->writer_state, DRIFT_WSTATE_OK);
        }
        w->disk_full_logged = 0;
        s_process_deferred(w);
        return;
    }
    w->spare_state = SPARE_FAILED;
    if (!w->disk_full_logged)
        DLOG_ERR("cannot preallocate the next segment (%" PRIu64 " bytes) in %s: %s; commits that need it get 53100, "
                 "retrying every %d ms",
                 w->spare_size, w->log_dir, drift_strerror(w->spare_rc), SPARE_RETRY_MS);
    w->disk_full_logged = 1;
    atomic_store(&w->r->hdr->writer_state, DRIFT_WSTATE_DISK_FULL);
    struct timeval tv = {0, SPARE_RETRY_MS * 1000};
    event_add(w->ev_spare_retry, &tv);
    /* Whatever waited for this segment can't have it now. */
    s_process_deferred(w);
}

static void s_on_spare_retry(evutil_socket_t fd, short what, void *arg)
{
    writer_t *w = arg;
    if (w->spare_state == SPARE_FAILED) {
        w->spare_state = SPARE_NONE;
        s_spare_start(w);
    }
}

/* ---------------------------------------------------------------- batches */

/* Makes a new batch for the segment position at the end of the ready list. */
static batch_t *s_batch_new(writer_t *w, int kind)
{
    batch_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->kind = kind;
    b->seg_id = w->seg_id;
    b->off = w->seg_end;
    b->sync = w->sync_mode;
    if (w->ready_tail)
        w->ready_tail->next = b;
    else
        w->ready_head = b;
    w->ready_tail = b;
    return b;
}

/* The batch the next frame of `size` bytes goes into: rotates when it doesn't fit.
 * Returns it, or NULL with *ret_rc = -EAGAIN (spare being prepared: defer), -ENOSPC (disk full),
 * -ENOMEM. */
static batch_t *s_place(writer_t *w, size_t size, int *ret_rc)
{
    batch_t *b = w->ready_tail;
    if (w->seg_id == 0 || w->seg_end + size > w->seg_size) {
        if (w->spare_state != SPARE_READY) {
            if (w->spare_state == SPARE_NONE)
                s_spare_start(w);
            *ret_rc = w->spare_state == SPARE_FAILED ? -ENOSPC : -EAGAIN;
            return NULL;
        }
        if (size + DRIFT_SEG_HDR_SIZE > w->spare_size) {
            *ret_rc = DRIFT_ETOOBIG;
            return NULL;
        }
        uint64_t prev_seg = w->seg_id, prev_end = w->seg_end, prev_size = w->seg_size;
        w->seg_id = w->next_seq;
        w->seg_end = DRIFT_SEG_HDR_SIZE;
        w->seg_size = w->spare_size;
        b = s_batch_new(w, BATCH_WRITE);
        if (!b) {
            w->seg_id = prev_seg;
            w->seg_end = prev_end;
            w->seg_size = prev_size;
            *ret_rc = -ENOMEM;
            return NULL;
        }
        b->rotate = 1;
        b->sealed_id = prev_seg;
        b->newhdr = (drift_seg_header_t){.segment_id = w->next_seq,
                                         .first_seq = w->next_seq,
                                         .epoch = w->epoch,
                                         .created_ns = drift_now_real_ns(),
                                         .file_size = w->spare_size};
        memcpy(b->newhdr.prev_hash, w->chain, DRIFT_HASH_LEN);
        if (!w->sync_mode) { /* the flush thread syncs the old segment before installing */
            b->durable_upto = w->next_seq - 1;
            b->durable_ts = w->last_ts;
        }
        w->spare_state = SPARE_NONE; /* consumed; the next one starts once it is installed */
        w->rotations_pending++;
        return b;
    }
    if (!b || b->kind != BATCH_WRITE || b->seg_id != w->seg_id || b->len >= BATCH_MAX_BYTES) {
        b = s_batch_new(w, BATCH_WRITE);
        if (!b)
            *ret_rc = -ENOMEM;
    }
    return b;
}

/* Hands every built batch to the flush thread; what it receives while it syncs forms its next group. */
static void s_submit(writer_t *w)
{
    if (!w->ready_head)
        return;
    size_t n = 0;
    for (batch_t *b = w->ready_head; b; b = b->next)
        n++;
    pthread_mutex_lock(&w->mu);
    if (w->q_tail)
        w->q_tail->next = w->ready_head;
    else
        w->q_head = w->ready_head;
    w->q_tail = w->ready_tail;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    w->ready_head = w->ready_tail = NULL;
    w->inflight += n;
    /* the next commit opens a new batch */
    w->gen++;
    w->evaluated = w->held = 0;
    w->missing = 0;
    if (w->ev_gather)
        event_del(w->ev_gather);
}

/* ---------------------------------------------------------------- gathering */

/* The slot of key in the source table (its entry, or the empty slot where it goes). */
static gsrc_t *s_src_slot(gsrc_t *t, size_t cap, uint64_t key)
{
    size_t i = (size_t)(key * 0x9e3779b97f4a7c15ull >> 20) & (cap - 1);
    while (t[i].key && t[i].key != key)
        i = (i + 1) & (cap - 1);
    return &t[i];
}

/* Rebuilds the source table with capacity cap, forgetting sources idle for GSRC_STALE_NS. 0 or -ENOMEM. */
static int s_src_rebuild(writer_t *w, size_t cap, uint64_t now)
{
    gsrc_t *t = calloc(cap, sizeof *t);
    if (!t)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < w->capsrc; i++) {
        gsrc_t *e = &w->src[i];
        if (!e->key || (e->out == 0 && now - e->ack_ns > GSRC_STALE_NS && e->gen_in != w->gen))
            continue;
        *s_src_slot(t, cap, e->key) = *e;
        n++;
    }
    free(w->src);
    w->src = t;
    w->capsrc = cap;
    w->nsrc = n;
    return 0;
}

/* The entry of source key, created when absent; NULL when the table cannot take it (the source is not tracked). */
static gsrc_t *s_src_get(writer_t *w, uint64_t key, uint64_t now)
{
    if (w->capsrc) {
        gsrc_t *e = s_src_slot(w->src, w->capsrc, key);
        if (e->key)
            return e;
    }
    if (2 * (w->nsrc + 1) > w->capsrc) { /* at most half full: forget stale sources, else grow */
        size_t cap = w->capsrc ? w->capsrc : GSRC_INIT;
        if (w->capsrc && s_src_rebuild(w, cap, now) < 0)
            return NULL;
        if (2 * (w->nsrc + 1) > cap) {
            if (cap >= GSRC_MAX)
                return NULL;
            cap *= 2;
        }
        if ((cap != w->capsrc || !w->src) && s_src_rebuild(w, cap, now) < 0)
            return NULL;
    }
    gsrc_t *e = s_src_slot(w->src, w->capsrc, key);
    memset(e, 0, sizeof *e);
    e->key = key;
    w->nsrc++;
    return e;
}

/* The source key of a commit: its connection (the routing parts or the stream envelope) and its "session". */
static uint64_t s_src_key(const uint8_t *env, size_t env_len, const drift_commit_req_t *req)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < env_len; i++)
        h = (h ^ env[i]) * 0x100000001b3ull;
    if (req->has_session)
        h = (h ^ req->session) * 0x9e3779b97f4a7c15ull;
    return h ? h : 1;
}

/* A commit of source key joined the open batch at now: learns its think time, counts it in. Returns the key to
 * remember with the commit's reply (0: untracked). */
static uint64_t s_src_arrive(writer_t *w, uint64_t key, uint64_t now)
{
    gsrc_t *e = s_src_get(w, key, now);
    if (!e)
        return 0;
    if (e->out == 0 && e->ack_ns) { /* a closed-loop sample: the time since its last reply */
        uint64_t d = now - e->ack_ns, t = e->think_ns;
        if (t && d < 8 * t && t < 8 * d) { /* smoothed like a TCP round trip (RFC 6298: 1/8, 1/4) */
            e->dev_ns = (3 * e->dev_ns + (d > t ? d - t : t - d)) / 4;
            e->think_ns = (7 * t + d) / 8;
        } else { /* a change of rhythm (a session going slow, or busy again) is taken at once */
            e->think_ns = d;
            e->dev_ns = d / 2;
        }
    }
    e->out++;
    if (e->gen_in != w->gen) {
        e->gen_in = w->gen;
        if (w->evaluated && e->wait_eval == w->eval && w->missing)
            w->missing--;
    }
    return key;
}

/* The commit of source key was answered at now. */
static void s_src_acked(writer_t *w, uint64_t key, uint64_t now)
{
    if (!key || !w->capsrc)
        return;
    gsrc_t *e = s_src_slot(w->src, w->capsrc, key);
    if (e->key != key)
        return;
    if (e->out)
        e->out--;
    e->ack_ns = now;
}

/* How long an open batch may wait: commit_gather, and no longer than an fdatasync takes. Waiting w for a session
 * saves one fdatasync (its commit would go in the next group, after the current one and its own fdatasync); with
 * waits longer than an fdatasync the sessions would be served sooner by the two cohorts alternating. */
static uint64_t s_gather_window(const writer_t *w)
{
    return w->sync_avg_ns && w->sync_avg_ns < w->gather_ns ? w->sync_avg_ns : w->gather_ns;
}

/* Counts the sources the open batch should wait for: those without a commit in it and a think time within the
 * bound that are either being written (answered when the flush ends, evaluated again then) or were answered at
 * ack_ns with their next commit due, even late (ack + think + 4 dev), before the batch's deadline and not yet
 * overdue (that time passed; the latest such time of the counted sources also ends the wait: until_ns). A source
 * whose round trips vary more than the window allows is not waited for: its wait would mostly time out. */
static void s_gather_eval(writer_t *w, uint64_t now)
{
    int busy = w->inflight > 0;
    uint64_t start = w->first_ns > w->free_ns ? w->first_ns : w->free_ns;
    uint64_t deadline = (busy ? now : start) + s_gather_window(w);
    w->eval++;
    w->missing = 0;
    w->until_ns = 0;
    w->evaluated = 1;
    for (size_t i = 0; i < w->capsrc; i++) {
        gsrc_t *e = &w->src[i];
        if (!e->key || e->gen_in == w->gen || !e->think_ns || e->think_ns > w->gather_ns)
            continue;
        uint64_t due = e->ack_ns + e->think_ns, late = due + 4 * e->dev_ns;
        if (e->out > 0 ? busy : (late <= deadline && now <= late)) {
            e->wait_eval = w->eval;
            w->missing++;
            if (e->out == 0 && late > w->until_ns)
                w->until_ns = late;
        }
    }
}

/* Submits the open batch now, or holds it back while an expected source is missing and the bound has not passed
 * (gathering off, a deferred request waiting or the writer stopping: at once). */
static void s_gather(writer_t *w, int reevaluate)
{
    if (!w->ready_head)
        return;
    if (!w->gather_ns || w->def_head || w->r->stopping || w->fatal) {
        s_submit(w);
        return;
    }
    uint64_t now = drift_now_mono_ns();
    if (!w->evaluated || reevaluate)
        s_gather_eval(w, now);
    drift_ctl_slot_t *slot = w->r->slot;
    if (!w->missing) {
        s_submit(w); /* everyone expected is in (a lone session: at once) */
        return;
    }
    if (!w->held) {
        w->held = 1;
        atomic_fetch_add(&slot->counters[DRIFT_CTR_W_GATHER_WAITS], 1);
    }
    if (w->inflight) /* held until the flush ends (s_on_done evaluates again) */
        return;
    uint64_t start = w->first_ns > w->free_ns ? w->first_ns : w->free_ns, deadline = start + s_gather_window(w);
    if (w->until_ns && w->until_ns < deadline) /* no expected source is due later than that */
        deadline = w->until_ns;
    if (now >= deadline) {
        atomic_fetch_add(&slot->counters[DRIFT_CTR_W_GATHER_TIMEOUTS], 1);
        s_submit(w);
        return;
    }
    uint64_t left = deadline - now;
    struct timeval tv = {(time_t)(left / 1000000000ull), (suseconds_t)(left % 1000000000ull / 1000)};
    if (tv.tv_sec == 0 && tv.tv_usec == 0)
        tv.tv_usec = 1;
    event_add(w->ev_gather, &tv);
}

/* A new commit is in the open batch. */
static void s_on_submit(evutil_socket_t fd, short what, void *arg)
{
    s_gather(arg, 0);
}

/* The gathering bound of the open batch passed. */
static void s_on_gather(evutil_socket_t fd, short what, void *arg)
{
    s_gather(arg, 0);
}

/* Fatal write error: never acknowledge, exit to restart; recovery re-reads the disk. */
static void s_fatal(writer_t *w, batch_t *b)
{
    DLOG_ERR("%s failed on segment %020" PRIu64 ".seg at offset %" PRIu64 " (seqs %" PRIu64 "..%" PRIu64 "): %s; "
             "the batch is not acknowledged, exiting for a restart and recovery",
             b->what ? b->what : "write", b->rotate ? b->newhdr.segment_id : b->seg_id, b->off, b->first_seq,
             b->last_seq, drift_strerror(b->err));
    atomic_store(&w->r->hdr->writer_state, DRIFT_WSTATE_FAILED);
    w->fatal = 1;
    drift_role_exit(w->r, DRIFT_EXIT_RESTART);
}

/* A batch is on disk (and synced when b->sync): publish, announce, answer. */
static void s_batch_done(writer_t *w, batch_t *b)
{
    drift_ctl_header_t *h = w->r->hdr;
    drift_ctl_slot_t *slot = w->r->slot;
    if (b->rotate) {
        w->rotations_pending--;
        atomic_fetch_add(&slot->counters[DRIFT_CTR_W_SEGMENTS], 1);
        DLOG_INFO("segment %020" PRIu64 ".seg created (%" PRIu64 " bytes)", b->newhdr.segment_id, b->newhdr.file_size);
        if (b->sealed_id && !w->spare_thr_live) {
            w->seal_id = b->sealed_id;
            w->seal_next = b->newhdr.first_seq;
            w->seal_rc = 0;
            memcpy(w->seal_chain, b->newhdr.prev_hash, DRIFT_HASH_LEN);
        }
        s_spare_start(w);
    }
    if (b->durable_upto > w->durable_seq) {
        w->durable_seq = b->durable_upto;
        atomic_store_explicit(&h->commit_ts_ns, b->durable_ts ? b->durable_ts : atomic_load(&h->commit_ts_ns),
                              memory_order_release);
        atomic_store_explicit(&h->commit_seq, w->durable_seq, memory_order_release);
    }
    if (b->kind == BATCH_SYNC) {
        s_announce(w, atomic_load(&h->committed_len));
        return;
    }
    atomic_fetch_add(&slot->counters[DRIFT_CTR_W_FRAMES], b->last_seq ? b->last_seq - b->first_seq + 1 : 0);
    atomic_fetch_add(&slot->counters[DRIFT_CTR_W_BYTES], b->len);
    if (b->last_seq) {
        s_publish_segment(w, b->rotate ? b->newhdr.segment_id : b->seg_id, b->off + b->len);
        w->written_seq = b->last_seq;
        if (b->sync) {
            w->durable_seq = b->last_seq;
            atomic_store_explicit(&h->commit_ts_ns, b->last_ts, memory_order_release);
            atomic_store_explicit(&h->commit_seq, b->last_seq, memory_order_release);
        }
        atomic_store_explicit(&h->written_seq, b->last_seq, memory_order_release);
        s_announce(w, b->off + b->len);
    }
    uint64_t now = drift_now_mono_ns();
    for (size_t i = 0; i < b->nw; i++) {
        waiter_t *x = &b->w[i];
        s_send(w, x->env, x->env_len, x->reply, x->reply_len);
        s_src_acked(w, x->src, now);
        drift_ctl_slot_observe_us(slot, (now - x->t0_ns) / 1000);
    }
}

/* eventfd: batches finished and/or the preallocation thread is done. */
static void s_on_done(evutil_socket_t fd, short what, void *arg)
{
    writer_t *w = arg;
    uint64_t v;
    if (read(w->efd, &v, sizeof v) < 0 && errno != EAGAIN)
        DLOG_WARN("eventfd read: %s", strerror(errno));
    pthread_mutex_lock(&w->mu);
    batch_t *list = w->done_head;
    w->done_head = w->done_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    int sent = 0;
    while (list) {
        batch_t *b = list;
        list = b->next;
        w->inflight--;
        if (!w->fatal) {
            if (b->err)
                s_fatal(w, b);
            else {
                if (b->sync_ns)
                    w->sync_avg_ns = w->sync_avg_ns ? (7 * w->sync_avg_ns + b->sync_ns) / 8 : b->sync_ns;
                s_batch_done(w, b);
                sent = 1;
            }
        }
        s_batch_free(b);
    }
    if (sent)
        drift_zwatch_kick(w->zw);
    if (atomic_load(&w->spare_done))
        s_spare_finished(w);
    if (w->fatal)
        return;
    if (w->def_head)
        s_process_deferred(w); /* e.g. a CREATE UNIQUE INDEX that waited for the tail to be written */
    if (!w->inflight)
        w->free_ns = drift_now_mono_ns();
    s_gather(w, 1); /* the sources just answered may now be expected */
    if (w->r->stopping && !w->inflight && !w->ready_head)
        drift_role_exit(w->r, DRIFT_EXIT_OK);
}

/* durability = async: make everything written so far durable (runs in order with the batches). */
static void s_on_sync_timer(evutil_socket_t fd, short what, void *arg)
{
    writer_t *w = arg;
    if (w->fatal)
        return;
    uint64_t placed = w->next_seq - 1;
    if (placed <= w->durable_seq)
        return;
    /* Already covered by a sync job still queued? */
    for (batch_t *b = w->ready_head; b; b = b->next)
        if (b->kind == BATCH_SYNC)
            return;
    batch_t *b = s_batch_new(w, BATCH_SYNC);
    if (!b)
        return;
    b->sync = 1;
    b->durable_upto = placed;
    b->durable_ts = w->placed_ts;
    s_submit(w);
}

/* ---------------------------------------------------------------- commits */

/* Makes room for one more element in *arr (n used of *cap, elements of size bytes; the first allocation holds
 * first). 0 or -ENOMEM (the array is unchanged). */
static int s_room(void **arr, size_t *cap, size_t n, size_t size, size_t first)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? 2 * *cap : first;
    void *p = realloc(*arr, c * size);
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = c;
    return 0;
}

/* Records the old state of e before the current transaction changes it. */
static int s_undo_push(writer_t *w, drift_kentry_t *e)
{
    if (s_room((void **)&w->undo, &w->capundo, w->nundo, sizeof *w->undo, 64) < 0)
        return -ENOMEM;
    w->undo[w->nundo++] = (struct undo){e, e->seq, e->seq2, e->live};
    return 0;
}

/* ---- READ COMMITTED re-evaluation: row cache ---- */

/* The slot holding e's row, or NULL. A key can be in either slot of its set (hash & ~1, hash | 1). */
static rslot_t *s_rc_find(writer_t *w, const drift_kentry_t *e)
{
    if (!w->rcache)
        return NULL;
    size_t a = e->hash & (RCACHE_SLOTS - 2);
    return w->rcache[a].e == e ? &w->rcache[a] : w->rcache[a + 1].e == e ? &w->rcache[a + 1] : NULL;
}

/* Replaces e's slot by (e, seq, row) (row NULL: empties the slot holding e, if any), recording the old slot; a key
 * not cached yet takes the empty or older slot of its set. 0 or -ENOMEM. */
static int s_rc_set(writer_t *w, drift_kentry_t *e, uint64_t seq, const void *row, size_t len)
{
    if (!w->rcache && !(w->rcache = calloc(RCACHE_SLOTS, sizeof *w->rcache)))
        return -ENOMEM;
    rslot_t *sl = s_rc_find(w, e);
    if (!sl && !row)
        return 0;
    if (!sl) {
        rslot_t *a = &w->rcache[e->hash & (RCACHE_SLOTS - 2)], *b = a + 1;
        sl = !a->e ? a : !b->e ? b : a->seq <= b->seq ? a : b;
    }
    size_t idx = (size_t)(sl - w->rcache);
    if (s_room((void **)&w->rundo, &w->caprundo, w->nrundo, sizeof *w->rundo, 16) < 0)
        return -ENOMEM;
    uint8_t *copy = NULL;
    if (row && len <= RCACHE_ROW_MAX) {
        if (!(copy = malloc(len ? len : 1)))
            return -ENOMEM;
        memcpy(copy, row, len);
    }
    w->rundo[w->nrundo++] = (struct rundo){idx, *sl};
    *sl = copy ? (rslot_t){e, seq, copy, (uint32_t)len} : (rslot_t){0};
    return 0;
}

/* The transaction is placed: frees the rows its slot changes replaced. */
static void s_rc_commit(writer_t *w)
{
    for (size_t i = 0; i < w->nrundo; i++)
        free(w->rundo[i].old.row);
    w->nrundo = 0;
}

/* The transaction is rejected: restores the slots it changed, newest first. */
static void s_rc_undo(writer_t *w)
{
    while (w->nrundo) {
        struct rundo *u = &w->rundo[--w->nrundo];
        free(w->rcache[u->idx].row);
        w->rcache[u->idx] = u->old;
    }
}

/* Frees the cache (writer exit). */
static void s_rc_free(writer_t *w)
{
    s_rc_commit(w);
    for (size_t i = 0; w->rcache && i < RCACHE_SLOTS; i++)
        free(w->rcache[i].row);
    free(w->rcache);
    free(w->rundo);
    if (w->rzone_live)
        msgpack_zone_destroy(&w->rzone);
    msgpack_sbuffer_destroy(&w->rbuf);
}

/* Re-evaluates the delta op number i of req (update of e, which commit e->seq changed after the op's base) on the
 * latest row: the op's row becomes the recomputed one (in w->rzone). Returns NULL, or the SQLSTATE with msg: 40001
 * when the latest row is not cached or the delta cannot be applied to it exactly as a worker would, 22003 on an
 * integer result out of range (what the worker answers for the same UPDATE). */
static const char *s_rc_recompute(writer_t *w, const drift_commit_req_t *req, size_t i, drift_kentry_t *e,
                                  const drift_kentry_t *t, char *msg, size_t cap)
{
    const drift_commit_op_t *op = &req->ops[i];
    const rslot_t *sl = s_rc_find(w, e);
    const char *why = "its latest row is not in the writer's re-evaluation cache";
    if (!sl || sl->e != e || sl->seq != e->seq || (t && t->seq2 >= sl->seq))
        goto conflict;
    if (!w->rzone_live) {
        if (!msgpack_zone_init(&w->rzone, 4096))
            goto conflict;
        w->rzone_live = 1;
    }
    msgpack_object cur;
    size_t off = 0;
    why = "the delta does not apply to its latest row";
    if (msgpack_unpack((const char *)sl->row, sl->len, &off, &w->rzone, &cur) != MSGPACK_UNPACK_SUCCESS ||
        cur.type != MSGPACK_OBJECT_ARRAY)
        goto conflict;
    uint32_t n = cur.via.array.size;
    msgpack_object *row = msgpack_zone_malloc(&w->rzone, sizeof *row);
    msgpack_object *el = msgpack_zone_malloc(&w->rzone, (n ? n : 1) * sizeof *el);
    if (!row || !el)
        goto conflict;
    if (n)
        memcpy(el, cur.via.array.ptr, n * sizeof *el);
    const msgpack_object *d = op->delta->via.array.ptr;
    for (uint32_t k = 1; k + 2 < op->delta->via.array.size; k += 3) {
        uint64_t pos = d[k].via.u64;
        const msgpack_object *v = &d[k + 2];
        if (pos >= n)
            goto conflict;
        msgpack_object *x = &el[pos];
        if (d[k + 1].via.str.size == 3 && memcmp(d[k + 1].via.str.ptr, "set", 3) == 0) {
            *x = *v;
            continue;
        }
        int xi = x->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ||
                 (x->type == MSGPACK_OBJECT_POSITIVE_INTEGER && x->via.u64 <= INT64_MAX);
        int vi = v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ||
                 (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= INT64_MAX);
        int xf = x->type == MSGPACK_OBJECT_FLOAT32 || x->type == MSGPACK_OBJECT_FLOAT64;
        int vf = v->type == MSGPACK_OBJECT_FLOAT32 || v->type == MSGPACK_OBJECT_FLOAT64;
        if (x->type == MSGPACK_OBJECT_NIL)
            continue; /* NULL + k is NULL */
        if (xi && vi) {
            int64_t a = x->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? x->via.i64 : (int64_t)x->via.u64;
            int64_t b = v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? v->via.i64 : (int64_t)v->via.u64;
            int64_t r;
            if (__builtin_add_overflow(a, b, &r)) {
                /* the worker computes an overflowing sum again in floating point, then stores it in the INTEGER
                 * column only when it is in range */
                double f = (double)a + (double)b;
                if (f < -9223372036854775808.0 || f >= 9223372036854775808.0) {
                    snprintf(msg, cap, "integer out of range: an update of table %u re-evaluated on the row of "
                                       "transaction %" PRIu64 " overflows",
                             op->table, e->seq);
                    return "22003";
                }
                r = (int64_t)f;
            }
            x->type = r < 0 ? MSGPACK_OBJECT_NEGATIVE_INTEGER : MSGPACK_OBJECT_POSITIVE_INTEGER;
            if (r < 0)
                x->via.i64 = r;
            else
                x->via.u64 = (uint64_t)r;
        } else if (xf && (vf || vi)) {
            double b = vf ? v->via.f64
                          : (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? (double)v->via.i64 : (double)v->via.u64);
            double r = x->via.f64 + b;
            if (!isfinite(r))
                goto conflict;
            x->type = MSGPACK_OBJECT_FLOAT64;
            x->via.f64 = r;
        } else
            goto conflict;
    }
    row->type = MSGPACK_OBJECT_ARRAY;
    row->via.array.size = n;
    row->via.array.ptr = el;
    req->ops[i].row = row;
    return NULL;
conflict:
    snprintf(msg, cap,
             "could not serialize access: a row of table %u was changed by transaction %" PRIu64
             " after the version the update read (%s)",
             op->table, e->seq, why);
    return DRIFT_SQLSTATE_SERIALIZATION;
}

/* Restores every entry the current transaction touched. */
static void s_undo_all(writer_t *w)
{
    s_rc_undo(w);
    drift_wcat_txn_undo(w->cat);
    while (w->nundo) {
        struct undo *u = &w->undo[--w->nundo];
        u->e->seq = u->seq;
        u->e->seq2 = u->seq2;
        u->e->live = u->live;
    }
}

/* Whether the LMDB index can hold (table, key) at all (shm/index.c skips empty or over-long keys). */
static int s_index_key(uint32_t table, uint32_t klen)
{
    return klen > 0 && klen <= DRIFT_INDEX_PK_MAX && table != UINT32_MAX;
}

/* Whether the index applies op exactly as the key map does, so that its newest write (drift_index_last_write)
 * is this op's seq and kind: inserts and updates with an array row (the index skips other rows; a commit's op
 * holds the decoded row, a recovered one its bytes) and deletes
 * (the writer accepts only deletes of live rows, which the index holds). Not patches: the index merges them
 * by the schema and skips those that do not fit. */
static int s_index_vouches(const drift_commit_op_t *op)
{
    if (!s_index_key(op->table, op->key_len))
        return 0;
    if (op->op == DRIFT_COP_DELETE)
        return 1;
    if (op->op != DRIFT_COP_INSERT && op->op != DRIFT_COP_UPDATE)
        return 0;
    if (op->row) /* a commit's op (decoded); recovery's ops carry the row's bytes instead */
        return op->row->type == MSGPACK_OBJECT_ARRAY;
    if (!op->row_mp || !op->row_mp_len)
        return 0;
    uint8_t t = op->row_mp[0];
    return (t >= 0x90 && t <= 0x9f) || t == 0xdc || t == 0xdd;
}

/* Applies one op of a transaction at seq to the key map (recovery and commits share it). */
static int s_apply(writer_t *w, const drift_commit_op_t *op, uint64_t seq, int undo)
{
    drift_kentry_t *t = drift_keymap_table(w->keys, op->table, 1);
    if (!t || (undo && s_undo_push(w, t) < 0))
        return -ENOMEM;
    if (op->op == DRIFT_COP_DDL) {
        t->seq2 = seq;
        return 0;
    }
    t->seq = seq;
    drift_kentry_t *e = drift_keymap_get(w->keys, op->table, op->key, op->key_len, NULL);
    if (!e || (undo && s_undo_push(w, e) < 0))
        return -ENOMEM;
    e->seq = seq;
    e->live = op->op != DRIFT_COP_DELETE;
    if (!e->pinned && !s_index_vouches(op))
        e->pinned = 1; /* s_km_forget keeps it: the index may not answer for this key as the log does */
    if (!op->delta && s_rc_find(w, e)) {
        /* a cached key written by another op: keep its new full row (insert/update), else forget it */
        int rc;
        msgpack_packer pk;
        w->rbuf.size = 0;
        msgpack_packer_init(&pk, &w->rbuf, msgpack_sbuffer_write);
        if ((op->op == DRIFT_COP_INSERT || op->op == DRIFT_COP_UPDATE) && op->row &&
            msgpack_pack_object(&pk, *op->row) == 0 && w->rbuf.data)
            rc = s_rc_set(w, e, seq, w->rbuf.data, w->rbuf.size);
        else
            rc = s_rc_set(w, e, 0, NULL, 0);
        if (rc < 0)
            return -ENOMEM;
    }
    return 0;
}

/* ---- key map seeding (the state of keys written before seed_seq comes from the LMDB index) ---- */

/* Completion callback: op of frame *a[1] (<= seed_seq) for a key the map may lack; never overrides a later write. */
static int s_complete_op(const drift_commit_op_t *op, void *arg)
{
    void **a = arg;
    writer_t *w = a[0];
    uint64_t seq = *(uint64_t *)a[1];
    if (op->op == DRIFT_COP_DDL)
        return 0; /* table records were kept from every frame */
    drift_kentry_t *e = drift_keymap_get(w->keys, op->table, op->key, op->key_len, NULL);
    if (!e)
        return -ENOMEM;
    if (e->seq <= seq) {
        e->seq = seq;
        e->live = op->op != DRIFT_COP_DELETE;
    }
    if (!s_index_vouches(op))
        e->pinned = 1;
    return 0;
}

/* The index cannot be used: adds the keys of frames 1..seed_seq from the log (what today's full rebuild reads),
 * keeping entries already newer, then stops asking the index. 0 or an error. */
static int s_seed_complete(writer_t *w)
{
    uint64_t upto = w->seed_seq, n = 0, t0 = drift_now_mono_ns();
    drift_logr_t *lr = NULL;
    char err[256] = "";
    int rc = drift_logr_open(w->log_dir, NULL, &lr);
    if (rc == 0)
        rc = drift_logr_seek(lr, 1);
    while (rc == 0) {
        drift_frame_t f;
        if ((rc = drift_logr_next(lr, &f, NULL)) <= 0) {
            if (rc < 0)
                snprintf(err, sizeof err, "%s", drift_logr_error(lr));
            break;
        }
        if (f.seq > upto) {
            rc = 0;
            break;
        }
        if (f.flags & (DRIFT_FRAME_F_LZ4 | DRIFT_FRAME_F_SEALED)) {
            rc = DRIFT_EVERSION;
            break;
        }
        uint64_t seq = f.seq;
        void *a[2] = {w, &seq};
        rc = drift_commit_body_keys(f.body, f.body_len, s_complete_op, a, err, sizeof err);
        n++;
    }
    drift_logr_close(&lr);
    if (rc < 0) {
        DLOG_ERR("cannot complete the key map from the log: %s", err[0] ? err : drift_strerror(rc));
        return rc;
    }
    DLOG_INFO("key map completed from the log: %" PRIu64 " frames up to seq %" PRIu64 " read in %.1f ms, %zu entries",
              n, upto, (drift_now_mono_ns() - t0) / 1e6, drift_keymap_count(w->keys));
    w->seed_seq = 0;
    w->km_no_forget = 1; /* the map holds the whole log again; the index is not asked any more */
    return 0;
}

/* The key map's entry of a row key in *ret (NULL: never written). A miss of a key written before seed_seq is
 * answered from the LMDB index (any snapshot at or after seed_seq is right: every later write is in the map, and
 * the map wins) and cached, also as "never written". When the index cannot answer, the map is completed from the
 * log first. 0, -ENOMEM or an error. */
static int s_find(writer_t *w, uint32_t table, const uint8_t *key, uint32_t klen, drift_kentry_t **ret)
{
    drift_kentry_t *e = drift_keymap_find(w->keys, table, key, klen);
    *ret = e;
    if (e || !w->seed_seq || !s_index_key(table, klen))
        return 0;
    uint64_t seq = 0;
    int op = 0;
    int rc = drift_wcat_last_write(w->cat, w->seed_seq, table, key, klen, &seq, &op);
    if (rc < 0 && rc != DRIFT_ENOTFOUND) {
        DLOG_WARN("the index cannot answer a key lookup (%s): completing the key map from the log",
                  drift_strerror(rc));
        if ((rc = s_seed_complete(w)) < 0)
            return rc;
        *ret = drift_keymap_find(w->keys, table, key, klen);
        return 0;
    }
    if (!(e = drift_keymap_get(w->keys, table, key, klen, NULL)))
        return -ENOMEM;
    w->seed_asked++;
    if (rc == 0) {
        e->seq = seq;
        e->live = op != DRIFT_COP_DELETE;
        w->seed_found++;
    }
    *ret = e;
    return 0;
}

/* s_find failed (out of memory, or the log could not be read to complete the map): refuse the transaction. */
static const char *s_find_failed(writer_t *w, char *msg, size_t cap)
{
    (void)w;
    snprintf(msg, cap, "the writer cannot look up a key (out of memory or the log is unreadable)");
    return "53200";
}

/* Before the checks of op i of a commit: the key map's slots of op i + KM_AHEAD and the entry of op i + KM_AHEAD / 2
 * are asked for (on the first op, those of the ops before them too), so that the checks find them in the cache.
 * Row keys of new commits land all over a map of millions of keys: without this, the slot's cache miss was a
 * third of the writer's CPU under 1 000-row commits of new keys. */
static void s_prefetch_keys(writer_t *w, const drift_commit_req_t *req, size_t i)
{
    enum { KM_AHEAD = 16 };
    for (size_t j = i ? i + KM_AHEAD : 0; j <= i + KM_AHEAD && j < req->nops; j++)
        if (req->ops[j].op != DRIFT_COP_DDL)
            drift_keymap_prefetch(w->keys, req->ops[j].table, req->ops[j].key, req->ops[j].key_len, 0);
    for (size_t j = i ? i + KM_AHEAD / 2 : 0; j <= i + KM_AHEAD / 2 && j < req->nops; j++)
        if (req->ops[j].op != DRIFT_COP_DDL)
            drift_keymap_prefetch(w->keys, req->ops[j].table, req->ops[j].key, req->ops[j].key_len, 1);
}

/* Uniqueness and conflict checks of req as transaction seq; applies it to the key map (with undo).
 * Returns NULL, or the SQLSTATE with a message in msg. */
static const char *s_check(writer_t *w, const drift_commit_req_t *req, uint64_t seq, char *msg, size_t cap)
{
    uint64_t snap = req->snapshot;
    int rr = req->iso >= DRIFT_ISO_REPEATABLE_READ;
    w->nundo = 0;
    s_rc_commit(w); /* nothing is pending here; keeps the slot log empty */
    if (w->rzone_live)
        msgpack_zone_clear(&w->rzone);
    /* Serializable: nothing it read may have changed after its snapshot. */
    for (size_t i = 0; i < req->nreads; i++) {
        const drift_commit_read_t *rd = &req->reads[i];
        drift_kentry_t *e = NULL;
        if (rd->whole_table)
            e = drift_keymap_table(w->keys, rd->table, 0);
        else if (s_find(w, rd->table, rd->key, rd->key_len, &e) < 0)
            return s_find_failed(w, msg, cap);
        if (e && e->seq > snap) {
            snprintf(msg, cap,
                     "could not serialize access: %s of table %u read at snapshot %" PRIu64
                     " was changed by transaction %" PRIu64,
                     rd->whole_table ? "a scan" : "a row", rd->table, snap, e->seq);
            return DRIFT_SQLSTATE_SERIALIZATION;
        }
    }
    for (size_t i = 0; i < req->nops; i++) {
        const drift_commit_op_t *op = &req->ops[i];
        s_prefetch_keys(w, req, i);
        drift_kentry_t *t = drift_keymap_table(w->keys, op->table, 0);
        if (t && t->seq2 > snap && t->seq2 != seq) {
            snprintf(msg, cap, "table %u was altered by transaction %" PRIu64 " after snapshot %" PRIu64, op->table,
                     t->seq2, snap);
            return DRIFT_SQLSTATE_SERIALIZATION;
        }
        if (op->op == DRIFT_COP_DDL) {
            if (rr && t && t->seq > snap && t->seq != seq) {
                snprintf(msg, cap, "table %u was written by transaction %" PRIu64 " after snapshot %" PRIu64, op->table,
                         t->seq, snap);
                return DRIFT_SQLSTATE_SERIALIZATION;
            }
        } else {
            drift_kentry_t *e = NULL;
            if (s_find(w, op->table, op->key, op->key_len, &e) < 0)
                return s_find_failed(w, msg, cap);
            int live = e && e->live;
            if (op->op == DRIFT_COP_INSERT && live) {
                if (drift_wcat_pk_message(w->cat, op->table, op->key, op->key_len, msg, cap))
                    return DRIFT_SQLSTATE_UNIQUE;
                snprintf(msg, cap, "duplicate key: table %u already has a live row with this primary key%s", op->table,
                         e->seq == seq ? " (inserted earlier in this transaction)" : "");
                return DRIFT_SQLSTATE_UNIQUE;
            }
            if (op->delta && live && e->seq != seq) {
                /* READ COMMITTED re-evaluation (ipc/commit.h "delta"): the row sent is right when the key still
                 * holds the version it was computed from; otherwise recompute it on the latest version, as
                 * PostgreSQL re-evaluates the UPDATE on the newest row after waiting for its row lock */
                if (e->seq != op->delta->via.array.ptr[0].via.u64) {
                    const char *code = s_rc_recompute(w, req, i, e, t, msg, cap);
                    if (code)
                        return code;
                }
            } else if (rr && e && e->seq > snap && e->seq != seq) {
                snprintf(msg, cap,
                         "could not serialize access: a row of table %u was changed by transaction %" PRIu64
                         " after snapshot %" PRIu64,
                         op->table, e->seq, snap);
                return DRIFT_SQLSTATE_SERIALIZATION;
            }
            if (op->op != DRIFT_COP_INSERT && !live) {
                snprintf(msg, cap, "%s of a row that does not exist in table %u", drift_commit_op_name(op->op),
                         op->table);
                return DRIFT_SQLSTATE_NO_DATA;
            }
        }
        /* schema: DDL validation, dropped tables, UNIQUE (one hash lookup for tables without unique indexes) */
        const char *code = drift_wcat_op(w->cat, req->ops, req->nops, i, seq, msg, cap);
        if (code)
            return code;
        if (s_apply(w, op, seq, 1) < 0) {
            snprintf(msg, cap, "out of memory");
            return "53200";
        }
        if (op->delta) {
            /* keep the row this commit writes: the next re-evaluation of this key starts from it */
            drift_kentry_t *e = drift_keymap_find(w->keys, op->table, op->key, op->key_len);
            msgpack_packer pk;
            w->rbuf.size = 0;
            msgpack_packer_init(&pk, &w->rbuf, msgpack_sbuffer_write);
            if (e && msgpack_pack_object(&pk, *op->row) == 0 && w->rbuf.data &&
                s_rc_set(w, e, seq, w->rbuf.data, w->rbuf.size) < 0) {
                snprintf(msg, cap, "out of memory");
                return "53200";
            }
        }
    }
    return NULL;
}

/* Copies the routing parts for a later reply. */
static uint8_t *s_env_dup(const uint8_t *env, size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    if (p && len)
        memcpy(p, env, len);
    return p;
}

/* ---------------------------------------------------------------- index flow control */

/* Ends a stall episode at mono time now. */
static void s_stall_end(writer_t *w, uint64_t now)
{
    w->stalling = 0;
    atomic_fetch_add(&w->r->slot->counters[DRIFT_CTR_W_STALL_MS], (now - w->stall_start_ns) / 1000000);
}

/* Whether a commit that arrived at t0 (mono) must wait for the indexer now (the file comment has the rule); when it
 * must, the stall timer is armed to try again. */
static int s_hold(writer_t *w, uint64_t t0, size_t nops)
{
    if (!w->stall_ns)
        return 0;
    uint64_t now = drift_now_mono_ns(), i = atomic_load(&w->r->hdr->indexed_seq);
    if (i != w->st_idx_seq) {
        w->st_idx_seq = i;
        w->st_progress_ns = now;
    }
    uint64_t idle_max = 2 * w->stall_ns > STALL_PROGRESS_MIN_NS ? 2 * w->stall_ns : STALL_PROGRESS_MIN_NS;
    int advancing = now - w->st_progress_ns <= idle_max && !w->r->stopping;
    uint64_t age = drift_lagring_age(w->lagring, i, w->written_seq, s_now(w));
    if (!w->stalling && advancing && age > w->stall_ns / 2) {
        w->stalling = 1;
        w->stall_start_ns = now;
        w->st_credit = 0;
        w->st_credit_ops = atomic_load(&w->r->hdr->indexed_ops);
        atomic_fetch_add(&w->r->slot->counters[DRIFT_CTR_W_STALLS], 1);
    } else if (w->stalling && (!advancing || age <= w->stall_ns / 4)) {
        s_stall_end(w, now);
    }
    if (!w->stalling)
        return 0;
    if (now - t0 >= w->stall_ns) { /* a commit waits at most index_stall */
        atomic_fetch_add(&w->r->slot->counters[DRIFT_CTR_W_STALL_BOUND], 1);
        return 0;
    }
    /* Paced, not stopped: each op the indexer applies lets STALL_PACE ops of held commits through. The indexer
     * gains on the backlog at (1 - STALL_PACE) of its rate whatever the backlog's size, so a long catch-up (a
     * rebuild at start: minutes of backlog) slows writes to half its pace instead of one commit per index_stall.
     * Counted in ops, not commits: a backlog of big commits does not hold small ones to its commit rate. */
    uint64_t ops = atomic_load(&w->r->hdr->indexed_ops);
    if (ops < w->st_credit_ops) /* a new indexer process counts from 0 */
        w->st_credit_ops = ops;
    w->st_credit += (double)(ops - w->st_credit_ops) * STALL_PACE;
    if (w->st_credit > STALL_CREDIT_MAX)
        w->st_credit = STALL_CREDIT_MAX;
    w->st_credit_ops = ops;
    double need = (double)nops; /* 0: the stall timer looking at the episode, nothing to let through */
    if (w->st_credit >= (need < STALL_CREDIT_MAX ? need : STALL_CREDIT_MAX)) {
        w->st_credit -= need; /* a commit bigger than the cap may leave it below 0: the next ones wait longer */
        return 0;
    }
    if (!evtimer_pending(w->ev_stall, NULL)) {
        struct timeval tv = {0, STALL_TICK_US};
        evtimer_add(w->ev_stall, &tv);
    }
    return 1;
}

/* Stall timer: the held commits try again (or, none waiting, the episode is looked at again). */
static void s_on_stall(evutil_socket_t fd, short what, void *arg)
{
    writer_t *w = arg;
    if (w->def_head)
        s_process_deferred(w);
    else if (w->stalling)
        s_hold(w, drift_now_mono_ns(), 0);
}

/* Handles one commit; returns -EAGAIN when it must wait (for the next segment, or held for the indexer; nothing
 * changed). */
static int s_commit(writer_t *w, const uint8_t *env, size_t env_len, const drift_commit_req_t *req, uint64_t t0)
{
    char msg[PATH_MAX + 512];
    uint64_t seq = w->next_seq;
    if (s_hold(w, t0, req->nops))
        return -EAGAIN; /* held for the indexer: deferred, tried again by the stall timer */
    if (req->snapshot > seq - 1) {
        snprintf(msg, sizeof msg, "snapshot %" PRIu64 " is ahead of the log (last seq %" PRIu64 ")", req->snapshot,
                 seq - 1);
        s_reply_error(w, env, env_len, req, DRIFT_SQLSTATE_PROTO, msg);
        return 0;
    }
    const char *code = s_check(w, req, seq, msg, sizeof msg);
    if (code && strcmp(code, DRIFT_WCAT_DEFER) == 0) { /* needs frames still being written: retried after the flush */
        s_undo_all(w);
        return -EAGAIN;
    }
    if (code) {
        s_undo_all(w);
        atomic_fetch_add(&w->r->slot->counters[DRIFT_CTR_W_CONFLICTS], 1);
        s_reply_error(w, env, env_len, req, code, msg);
        return 0;
    }
    w->body.size = 0;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &w->body, msgpack_sbuffer_write);
    drift_commit_pack_body(&pk, req);
    size_t size = drift_frame_size(w->body.size);
    uint64_t limit = w->r->cfg.segment_size - DRIFT_SEG_HDR_SIZE;
    if (limit > FRAME_MAX_BYTES)
        limit = FRAME_MAX_BYTES;
    if (size > limit) {
        s_undo_all(w);
        snprintf(msg, sizeof msg, "transaction of %zu bytes exceeds the largest frame (%" PRIu64 " bytes)", size,
                 limit);
        s_reply_error(w, env, env_len, req, DRIFT_SQLSTATE_TOO_BIG, msg);
        return 0;
    }
    int rc = 0, opens = !w->ready_head; /* the first commit of the open batch */
    batch_t *b = s_place(w, size, &rc);
    if (!b) {
        s_undo_all(w);
        if (rc == -EAGAIN)
            return -EAGAIN;
        if (rc == -ENOSPC) {
            atomic_fetch_add(&w->r->slot->counters[DRIFT_CTR_W_DISKFULL], 1);
            snprintf(msg, sizeof msg, "disk full: cannot create the next log segment in %s (%s)", w->log_dir,
                     drift_strerror(w->spare_rc));
            s_reply_error(w, env, env_len, req, DRIFT_SQLSTATE_DISK_FULL, msg);
        } else {
            s_reply_error(w, env, env_len, req, rc == DRIFT_ETOOBIG ? DRIFT_SQLSTATE_TOO_BIG : "53200",
                          drift_strerror(rc));
        }
        return 0;
    }
    if (b->len + size > b->cap || b->nw == b->capw) {
        size_t cap = b->cap;
        while (b->len + size > cap)
            cap = cap ? 2 * cap : 64 * 1024;
        uint8_t *nb = cap != b->cap ? realloc(b->buf, cap) : b->buf;
        size_t capw = b->nw == b->capw ? (b->capw ? 2 * b->capw : 16) : b->capw;
        waiter_t *nw = capw != b->capw ? realloc(b->w, capw * sizeof *nw) : b->w;
        if (nb)
            b->buf = nb, b->cap = cap;
        if (nw)
            b->w = nw, b->capw = capw;
        if (!nb || !nw) {
            s_undo_all(w);
            w->seg_end -= 0;
            s_reply_error(w, env, env_len, req, "53200", "out of memory");
            return 0;
        }
    }
    uint64_t ts = s_now(w);
    if (ts <= w->last_ts)
        ts = w->last_ts + 1;
    drift_frame_t f = {.seq = seq, .ts_ns = ts, .epoch = w->epoch, .sync_seq = w->durable_seq};
    memcpy(f.prev_hash, w->chain, DRIFT_HASH_LEN);
    size_t n;
    rc = drift_frame_encode(b->buf + b->len, b->cap - b->len, &f, w->body.data, w->body.size, &n);
    if (rc < 0) { /* cannot happen: sizes were checked */
        s_undo_all(w);
        s_reply_error(w, env, env_len, req, "XX000", drift_strerror(rc));
        return 0;
    }
    drift_frame_hash(b->buf + b->len, (uint32_t)(DRIFT_FRAME_HDR_LEN + w->body.size), w->chain);
    b->len += n;
    w->seg_end += n;
    if (!b->first_seq)
        b->first_seq = seq;
    b->last_seq = seq;
    b->last_ts = ts;
    w->next_seq = seq + 1;
    w->last_ts = ts;
    w->placed_ts = ts;
    if (w->lagring)
        drift_lagring_note(w->lagring, seq, ts);
    w->nundo = 0;
    s_rc_commit(w);
    drift_wcat_txn_commit(w->cat);
    waiter_t *x = &b->w[b->nw++];
    memset(x, 0, sizeof *x);
    x->env = s_env_dup(env, env_len);
    x->env_len = x->env ? env_len : 0;
    x->t0_ns = t0;
    if (w->gather_ns) {
        uint64_t now = drift_now_mono_ns();
        if (opens)
            w->first_ns = now;
        x->src = s_src_arrive(w, s_src_key(env, env_len, req), now);
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    drift_commit_pack_ok(&sb, req, seq, ts);
    x->reply = sb.data;
    x->reply_len = sb.size;
    event_active(w->ev_submit, EV_TIMEOUT, 0);
    return 0;
}

/* Validates, decodes and handles one request. Returns -EAGAIN when it must be deferred. */
static int s_handle(writer_t *w, const uint8_t *env, size_t env_len, const uint8_t *data, size_t len, uint64_t t0)
{
    char err[256];
    drift_msg_limits_t lim = drift_msg_limits(w->r->cfg.max_message_size);
    drift_msg_t *msg = NULL;
    drift_commit_req_t *req = &w->req;
    memset(req, 0, sizeof *req);
    int rc = drift_msg_decode(data, len, &lim, &msg, err, sizeof err);
    if (rc < 0) {
        /* Still answer with the id when one can be read, so the client is not left waiting. */
        int64_t id;
        int uns;
        if (drift_msg_peek_id(data, len, &id, &uns)) {
            req->has_id = 1;
            req->id.type = uns ? MSGPACK_OBJECT_POSITIVE_INTEGER : MSGPACK_OBJECT_NEGATIVE_INTEGER;
            if (uns)
                req->id.via.u64 = (uint64_t)id;
            else
                req->id.via.i64 = id;
        }
        s_reply_error(w, env, env_len, req, DRIFT_SQLSTATE_PROTO, err);
        return 0;
    }
    rc = drift_commit_parse(drift_msg_root(msg), req, err, sizeof err);
    if (rc < 0) {
        s_reply_error(w, env, env_len, req, rc == -ENOMEM ? "53200" : DRIFT_SQLSTATE_PROTO,
                      rc == -ENOMEM ? "out of memory" : err);
        goto out;
    }
    if (req->kind == DRIFT_CREQ_PING) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        drift_commit_pack_ok(&sb, req, w->written_seq, atomic_load(&w->r->hdr->commit_ts_ns));
        s_send(w, env, env_len, sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
        goto out;
    }
    if (w->r->stopping || w->fatal) {
        s_reply_error(w, env, env_len, req, "57P01", "the writer is shutting down");
        goto out;
    }
    rc = s_commit(w, env, env_len, req, t0);
out:
    drift_commit_req_clear(req);
    drift_msg_destroy(&msg);
    return rc == -EAGAIN ? -EAGAIN : 0;
}

/* Keeps a request for when the next segment is ready. */
static void s_defer(writer_t *w, const uint8_t *env, size_t env_len, const uint8_t *data, size_t len, uint64_t t0)
{
    deferred_t *d = calloc(1, sizeof *d);
    if (d) {
        d->env = s_env_dup(env, env_len);
        d->payload = malloc(len ? len : 1);
    }
    if (!d || !d->env || !d->payload || w->ndeferred >= DEFERRED_MAX) {
        if (d) {
            free(d->env);
            free(d->payload);
            free(d);
        }
        s_reply_error(w, env, env_len, NULL, "53300", "the writer is busy preparing the next segment");
        return;
    }
    memcpy(d->payload, data, len);
    d->env_len = env_len;
    d->len = len;
    d->t0_ns = t0;
    if (w->def_tail)
        w->def_tail->next = d;
    else
        w->def_head = d;
    w->def_tail = d;
    w->ndeferred++;
}

/* Retries deferred requests in arrival order (after the spare segment became ready or failed). */
static void s_process_deferred(writer_t *w)
{
    while (w->def_head) {
        deferred_t *d = w->def_head;
        if (s_handle(w, d->env, d->env_len, d->payload, d->len, d->t0_ns) == -EAGAIN)
            break;
        w->def_head = d->next;
        if (!w->def_head)
            w->def_tail = NULL;
        w->ndeferred--;
        free(d->env);
        free(d->payload);
        free(d);
    }
    drift_zwatch_kick(w->zw);
}

/* One message on the ROUTER: routing parts, then the payload. */
static void s_on_router(void *zsock, void *arg)
{
    writer_t *w = arg;
    uint8_t env[ENV_MAX_PARTS * (2 + 256)];
    size_t env_len = 0;
    int parts = 0, bad = 0;
    zmq_msg_t m;
    uint64_t t0 = drift_now_mono_ns();
    for (;;) {
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, zsock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        if (!zmq_msg_more(&m))
            break;
        size_t n = zmq_msg_size(&m);
        if (parts < ENV_MAX_PARTS && n <= 256) {
            env[env_len] = (uint8_t)n;
            env[env_len + 1] = (uint8_t)(n >> 8);
            memcpy(env + env_len + 2, zmq_msg_data(&m), n);
            env_len += 2 + n;
        } else {
            bad = 1;
        }
        parts++;
        zmq_msg_close(&m);
    }
    const uint8_t *data = zmq_msg_data(&m);
    size_t len = zmq_msg_size(&m);
    atomic_fetch_add(&w->r->slot->counters[DRIFT_CTR_BYTES_IN], len);
    if (bad || parts == 0) {
        /* Not a routable request (too many envelope parts): nothing sensible to answer to. */
        atomic_fetch_add(&w->r->slot->counters[DRIFT_CTR_ERRORS], 1);
    } else if (w->def_head) {
        s_defer(w, env, env_len, data, len, t0); /* keep arrival order behind what already waits */
    } else if (s_handle(w, env, env_len, data, len, t0) == -EAGAIN) {
        s_defer(w, env, env_len, data, len, t0);
    }
    zmq_msg_close(&m);
}

/* One request from a stream connection (chan_in.h): handled exactly like one from the ROUTER. */
static void s_on_chan(void *arg, const uint8_t *env, size_t env_len, const uint8_t *data, size_t len)
{
    writer_t *w = arg;
    uint64_t t0 = drift_now_mono_ns();
    atomic_fetch_add(&w->r->slot->counters[DRIFT_CTR_BYTES_IN], len);
    if (w->def_head)
        s_defer(w, env, env_len, data, len, t0); /* keep arrival order behind what already waits */
    else if (s_handle(w, env, env_len, data, len, t0) == -EAGAIN)
        s_defer(w, env, env_len, data, len, t0);
}

/* ---------------------------------------------------------------- start and stop */

/* Recovery callback: rebuilds the key map from every frame. */
static int s_rebuild_op(const drift_commit_op_t *op, void *arg)
{
    void **a = arg;
    writer_t *w = a[0];
    uint64_t seq = *(uint64_t *)a[1];
    if (op->op == DRIFT_COP_DDL)
        *(int *)a[2] = 1;
    if (seq > w->seed_seq)
        return s_apply(w, op, seq, 0) < 0 ? -ENOMEM : 0;
    /* a frame the index holds: the table records (exact, from every frame), and the key only when the index
     * may not hold this write (or the key is in the map already, from such a write) */
    drift_kentry_t *t = w->scan_t && w->scan_tid == op->table ? w->scan_t : drift_keymap_table(w->keys, op->table, 1);
    if (!t)
        return -ENOMEM;
    w->scan_t = t;
    w->scan_tid = op->table;
    if (op->op == DRIFT_COP_DDL) {
        t->seq2 = seq;
        return 0;
    }
    t->seq = seq;
    drift_kentry_t *e = NULL;
    if (!s_index_vouches(op)) {
        if (!(e = drift_keymap_get(w->keys, op->table, op->key, op->key_len, NULL)))
            return -ENOMEM;
        e->pinned = 1;
    } else if (drift_keymap_rows(w->keys)) {
        e = drift_keymap_find(w->keys, op->table, op->key, op->key_len);
    }
    if (e) {
        e->seq = seq;
        e->live = op->op != DRIFT_COP_DELETE;
    }
    return 0;
}

static int s_rebuild_frame(const drift_frame_t *f, uint64_t seg, uint64_t off, void *arg)
{
    writer_t *w = arg;
    char err[256];
    if (f->flags & (DRIFT_FRAME_F_LZ4 | DRIFT_FRAME_F_SEALED)) {
        DLOG_ERR("segment %020" PRIu64 ".seg offset %" PRIu64 ": frame %" PRIu64
                 " is compressed or sealed; this build has no codec plugin for it",
                 seg, off, f->seq);
        return DRIFT_EVERSION;
    }
    uint64_t seq = f->seq;
    int has_ddl = 0;
    void *a[3] = {w, &seq, &has_ddl};
    int rc = drift_commit_body_keys(f->body, f->body_len, s_rebuild_op, a, err, sizeof err);
    if (rc == 0)
        rc = drift_wcat_recover_frame(w->cat, f, has_ddl); /* the schema: DDL frames are decoded */
    if (rc < 0) {
        DLOG_ERR("segment %020" PRIu64 ".seg offset %" PRIu64 ": frame %" PRIu64 " has a CRC-valid but unreadable "
                 "body: %s",
                 seg, off, f->seq, rc == -ENOMEM ? "out of memory" : err);
        return rc == -ENOMEM ? -ENOMEM : DRIFT_ECORRUPT;
    }
    return 0;
}

static void s_on_stop(drift_role_t *r)
{
    writer_t *w = r->user;
    /* Requests still waiting for a segment are refused; everything accepted is written and
     * (also with durability = async) synced; exit once the flush thread has reported. */
    while (w->def_head) {
        deferred_t *d = w->def_head;
        w->def_head = d->next;
        s_reply_error(w, d->env, d->env_len, NULL, "57P01", "the writer is shutting down");
        free(d->env);
        free(d->payload);
        free(d);
    }
    w->def_tail = NULL;
    w->ndeferred = 0;
    if (!w->sync_mode)
        s_on_sync_timer(-1, 0, w);
    s_submit(w);
    drift_zwatch_kick(w->zw);
    if (!w->inflight && !w->ready_head)
        drift_role_exit(r, DRIFT_EXIT_OK);
}

/* s_km_forget's sweep: whether the map may forget e at snapshot seq a[1]. */
static int s_km_drop(const drift_kentry_t *e, void *arg)
{
    void **a = arg;
    writer_t *w = a[0];
    uint64_t upto = *(const uint64_t *)a[1];
    /* kept: written after the snapshot, or the index may not answer for it as the log does, or its row is in the
     * re-evaluation cache (which names entries by address) */
    return e->seq <= upto && !e->pinned && !s_rc_find(w, e);
}

/* The key map forgets what the index answers for (docs/storage.md, "Forgetting keys while the writer runs"). When
 * it holds more than keymap_forget_at row keys and twice what the last pass kept, a pass over its slots starts:
 * each catalog tick sweeps for at most KM_SWEEP_NS, dropping the entries of keys whose last write the catalog's
 * LMDB snapshot (applied seq A) holds, and seed_seq moves up to A, so that a later miss of such a key asks the
 * index (s_find), as after a restart. Runs between transactions (no undo pending). */
static void s_km_forget(writer_t *w)
{
    uint64_t upto = drift_wcat_snapshot_seq(w->cat); /* 0: the index is not in use */
    if (!w->km_forget_at || w->km_no_forget || w->nundo || !upto)
        return;
    size_t rows = drift_keymap_rows(w->keys);
    uint64_t t0 = drift_now_mono_ns();
    if (!w->km_sweeping) {
        if (rows <= w->km_forget_at || rows <= 2 * w->km_kept)
            return;
        w->km_sweeping = 1;
        w->km_cursor = 0;
        w->km_pass_rows = rows;
        w->km_pass_ns = 0;
        w->km_pass_t0 = t0;
        w->km_pass_seq0 = upto;
    }
    if (upto > w->seed_seq)
        w->seed_seq = upto; /* before any entry goes: from now on a miss asks a snapshot at or after upto */
    w->scan_t = NULL;
    void *a[2] = {w, &upto};
    size_t before = drift_keymap_rows(w->keys);
    int done = 0;
    do
        done = drift_keymap_sweep(w->keys, &w->km_cursor, 4096, s_km_drop, a);
    while (!done && drift_now_mono_ns() - t0 < KM_SWEEP_NS);
    uint64_t t1 = drift_now_mono_ns();
    w->km_pass_ns += t1 - t0;
    w->km_forgot += before - drift_keymap_rows(w->keys);
    if (!done)
        return;
    w->km_sweeping = 0;
    w->km_kept = drift_keymap_rows(w->keys);
    w->km_passes++;
    DLOG_DEBUG("key map: pass %" PRIu64 " over seqs up to %" PRIu64 "..%" PRIu64 ": %zu keys, kept %zu, swept in "
               "%.1f ms over %.1f ms",
               w->km_passes, w->km_pass_seq0, upto, w->km_pass_rows, (size_t)w->km_kept, w->km_pass_ns / 1e6,
               (t1 - w->km_pass_t0) / 1e6);
    if (w->km_passes == 1 || t1 - w->km_logged_ns > 60000000000ull) {
        DLOG_INFO("key map: forgot %" PRIu64 " keys the index answers for in %" PRIu64 " passes (applied seq %" PRIu64
                  "); kept %zu, %.1f MB",
                  w->km_forgot, w->km_passes, upto, (size_t)w->km_kept, drift_keymap_bytes(w->keys) / 1e6);
        w->km_logged_ns = t1;
    }
}

/* Catalog timer: a newer LMDB snapshot lets it forget the tail the indexer has applied, and the key map the keys
 * that snapshot answers for. */
static void s_on_cat_tick(evutil_socket_t fd, short what, void *arg)
{
    writer_t *w = arg;
    drift_wcat_tick(w->cat);
    s_km_forget(w);
    atomic_store(&w->r->slot->counters[DRIFT_CTR_W_KEYMAP_KEYS], drift_keymap_rows(w->keys));
}

/* Takes log/LOCK. Returns 0, DRIFT_ELOCKED or -errno. */
static int s_lock(writer_t *w)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/LOCK", w->log_dir);
    w->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (w->lock_fd < 0)
        return -errno;
    if (flock(w->lock_fd, LOCK_EX | LOCK_NB) < 0)
        return errno == EWOULDBLOCK ? DRIFT_ELOCKED : -errno;
    return 0;
}

/* Opens, binds and watches the sockets. Returns 0 or -errno. */
static int s_sockets(writer_t *w)
{
    char ep[PATH_MAX + 64];
    int one = 1, hwm = 100000;
    int64_t maxmsg = (int64_t)w->r->cfg.max_message_size;
    w->zctx = zmq_ctx_new();
    if (!w->zctx)
        return -errno;
    w->router = zmq_socket(w->zctx, ZMQ_ROUTER);
    w->pub = zmq_socket(w->zctx, ZMQ_PUB);
    if (!w->router || !w->pub)
        return -errno;
    int zero = 0;
    zmq_setsockopt(w->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(w->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    zmq_setsockopt(w->router, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(w->router, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(w->router, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(w->pub, ZMQ_LINGER, &zero, sizeof zero);
    drift_role_endpoint(w->r, "writer", ep, sizeof ep);
    if (zmq_bind(w->router, ep) < 0) {
        DLOG_ERR("cannot bind %s: %s", ep, zmq_strerror(errno));
        return -errno;
    }
    drift_role_endpoint(w->r, "commits", ep, sizeof ep);
    if (zmq_bind(w->pub, ep) < 0) {
        DLOG_ERR("cannot bind %s: %s", ep, zmq_strerror(errno));
        return -errno;
    }
    w->zw = drift_zwatch_new(w->r->base, w->router, s_on_router, w);
    if (!w->zw)
        return -errno;
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/writer.chan", w->r->run_dir);
    w->wchan = drift_wchan_new(w->r->base, path, w->r->cfg.max_message_size, s_on_chan, w);
    if (!w->wchan) {
        DLOG_ERR("cannot listen on %s: %s", path, strerror(errno));
        return -errno;
    }
    return 0;
}

/* Recovery and the first segment. Returns an exit code, or -1 to go on. */
static int s_recover(writer_t *w)
{
    drift_ctl_header_t *h = w->r->hdr;
    drift_recovery_t *rec = calloc(1, sizeof *rec);
    if (!rec)
        return DRIFT_EXIT_RESTART;
    int code = -1;
    atomic_store(&h->writer_state, DRIFT_WSTATE_RECOVERING);
    /* the key map is seeded from the index: only the frames after its applied seq are applied in full */
    w->seed_seq = drift_wcat_open_index(w->cat);
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    /* Sealed segments with a matching seal record are CRC-checked, not re-hashed; records missing
     * for segments verified in full are written (docs/storage.md, "Seal record"). */
    drift_recovery_opts_t ro = {.repair = 1, .trust_seals = 1, .write_seals = 1};
    int rc = drift_recovery_run_opts(w->log_dir, &ro, s_rebuild_frame, w, rec);
    getrusage(RUSAGE_SELF, &ru1);
    if (rc < 0) {
        if (rc == DRIFT_ECORRUPT || rc == DRIFT_ECHAIN || rc == DRIFT_EVERSION) {
            DLOG_ERR("the log is damaged, refusing to start (exit code %d: restarting cannot help; see "
                     "docs/storage.md, Recovery): %s",
                     DRIFT_EXIT_FATAL, rec->err[0] ? rec->err : drift_strerror(rc));
            code = DRIFT_EXIT_FATAL;
        } else {
            DLOG_ERR("recovery failed: %s", rec->err[0] ? rec->err : drift_strerror(rc));
            code = DRIFT_EXIT_RESTART;
        }
        goto out;
    }
    if (rec->dropped_bytes)
        DLOG_WARN("cut a torn tail of %" PRIu64 " bytes at offset %" PRIu64 " of segment %020" PRIu64
                  ".seg (%s); those frames were never acknowledged",
                  rec->dropped_bytes, rec->dropped_off, rec->active_id, rec->dropped_why);
#define TV_MS(a, b) (((b).tv_sec - (a).tv_sec) * 1e3 + ((b).tv_usec - (a).tv_usec) / 1e3)
    DLOG_INFO("recovered %" PRIu64 " frames in %" PRIu64 " segments (%.1f MB verified: CRC of every frame; hashed %" PRIu64
              " bytes, %" PRIu64 " sealed segments by seal record, %" PRIu64 " seal records rejected, %" PRIu64
              " written) in %.1f ms (cpu %.0f ms user + %.0f ms sys, %d verify threads); key map rebuilt: %zu entries, "
              "%.1f MB, %s%" PRIu64,
              rec->frames, rec->segments, rec->bytes_scanned / 1e6, rec->bytes_hashed, rec->seg_by_seal,
              rec->seals_rejected, rec->seals_written, rec->elapsed_ns / 1e6, TV_MS(ru0.ru_utime, ru1.ru_utime),
              TV_MS(ru0.ru_stime, ru1.ru_stime), rec->threads, drift_keymap_count(w->keys),
              drift_keymap_bytes(w->keys) / 1e6,
              w->seed_seq ? "seeded from the index at seq " : "from the whole log (no index), seq ", w->seed_seq);
#undef TV_MS
    w->next_seq = rec->last_seq + 1;
    w->last_ts = rec->last_ts;
    memcpy(w->chain, rec->last_hash, DRIFT_HASH_LEN);
    uint64_t epoch = atomic_load(&h->epoch);
    if (rec->last_epoch > epoch)
        epoch = rec->last_epoch;
    w->epoch = epoch ? epoch : 1;
    atomic_store(&h->epoch, w->epoch);
    w->flush_fd = -1;
    if (rec->active_id) {
        char path[PATH_MAX + 64];
        drift_seg_path(path, sizeof path, w->log_dir, rec->active_id);
        w->flush_fd = open(path, O_RDWR | O_CLOEXEC);
        /* What a previous writer wrote may still be only in the page cache (async, or a crash
         * between pwrite and fdatasync): make it durable before anything builds on it. */
        if (w->flush_fd < 0 || fdatasync(w->flush_fd) < 0) {
            DLOG_ERR("%s: %s", path, strerror(errno));
            code = DRIFT_EXIT_RESTART;
            goto out;
        }
        w->seg_id = rec->active_id;
        w->seg_end = rec->active_end;
        w->seg_size = rec->active_size;
    }
    w->durable_seq = w->written_seq = rec->last_seq;
    atomic_store(&h->commit_ts_ns, rec->last_ts);
    atomic_store(&h->written_seq, rec->last_seq);
    atomic_store(&h->commit_seq, rec->last_seq);
    s_publish_segment(w, w->seg_id, w->seg_id ? w->seg_end : 0);
    /* The catalog: the frames after what the LMDB index holds are replayed for the UNIQUE checks. */
    uint64_t t0 = drift_now_mono_ns();
    char err[512] = "";
    if ((rc = drift_wcat_replay(w->cat, rec->last_seq, err, sizeof err)) < 0) {
        DLOG_ERR("cannot rebuild the catalog from the log: %s", err[0] ? err : drift_strerror(rc));
        code = DRIFT_EXIT_RESTART;
        goto out;
    }
    if (w->seed_seq && !drift_wcat_index_usable(w->cat)) {
        /* the index was refused (it does not match the log, e.g. a torn tail it had applied was cut): the key
         * map lacks the keys of the frames up to seed_seq */
        if (s_seed_complete(w) < 0) {
            code = DRIFT_EXIT_RESTART;
            goto out;
        }
    }
    drift_wcat_stats_t cs;
    drift_wcat_stats(w->cat, &cs);
    DLOG_INFO("catalog: %zu tables (%zu live, %zu with unique indexes); index base seq %" PRIu64 " (%s), %" PRIu64
              " frames replayed, %zu tail entries, in %.1f ms",
              cs.tables, cs.live, cs.unique, cs.base_seq,
              cs.index_state == 1 ? "in use" : cs.index_state == 2 ? "refused" : "none", rec->last_seq - cs.base_seq,
              cs.tail_nodes, (drift_now_mono_ns() - t0) / 1e6);
    atomic_store(&h->writer_state, DRIFT_WSTATE_OK);
out:
    free(rec);
    return code;
}

/* Checks a spare left by a previous run: keeps it when complete and of the configured size. */
static void s_spare_adopt(writer_t *w)
{
    struct stat st;
    unlink(w->spare_tmp);
    if (stat(w->spare_path, &st) == 0) {
        if ((uint64_t)st.st_size == w->r->cfg.segment_size) {
            w->spare_state = SPARE_READY;
            w->spare_size = (uint64_t)st.st_size;
            return;
        }
        unlink(w->spare_path);
    }
    w->spare_state = SPARE_NONE;
}

int drift_writer_main(drift_role_t *r)
{
    int code = DRIFT_EXIT_RESTART, rc;
    writer_t *w = calloc(1, sizeof *w);
    if (!w)
        return DRIFT_EXIT_RESTART;
    w->r = r;
    w->lock_fd = w->efd = w->flush_fd = -1;
    w->sync_mode = r->cfg.durability == DRIFT_DURABILITY_SYNC;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    msgpack_sbuffer_init(&w->body);
    r->user = w;
    const char *fault = getenv("DRIFT_FAULT");
    if (fault && strncmp(fault, "clock_back:", 11) == 0)
        w->clock_skew_ns = (int64_t)(atof(fault + 11) * 1e9);
    w->fault_seal_kill = fault && strcmp(fault, "seal_kill") == 0;
    if (fault && strncmp(fault, "sync_delay:", 11) == 0)
        w->fault_sync_delay_us = (unsigned)(atof(fault + 11) * 1000);
    snprintf(w->log_dir, sizeof w->log_dir, "%s/log", r->data_dir);
    snprintf(w->spare_path, sizeof w->spare_path, "%s/%s", w->log_dir, DRIFT_SEG_SPARE);
    snprintf(w->spare_tmp, sizeof w->spare_tmp, "%s/%s", w->log_dir, DRIFT_SEG_SPARE_TMP);
    if ((rc = drift_mkdir_p(w->log_dir)) < 0) {
        DLOG_ERR("cannot create %s: %s", w->log_dir, drift_strerror(rc));
        goto out;
    }
    if ((rc = s_lock(w)) < 0) {
        DLOG_ERR("%s/LOCK: %s", w->log_dir,
                 rc == DRIFT_ELOCKED ? "another writer holds the log lock" : drift_strerror(rc));
        goto out;
    }
    w->keys = drift_keymap_new();
    if (!w->keys)
        goto out;
    char index_dir[PATH_MAX + 16];
    snprintf(index_dir, sizeof index_dir, "%s/index", r->data_dir);
    w->cat = drift_wcat_new(index_dir, w->log_dir, r->hdr);
    if (!w->cat)
        goto out;
    int c = s_recover(w);
    if (c >= 0) {
        code = c;
        goto out;
    }
    s_spare_adopt(w);
    if (w->seg_id == 0 && w->spare_state != SPARE_READY) {
        /* A new log: make the first segment now, so that the first commit does not wait. */
        w->spare_size = r->cfg.segment_size;
        rc = drift_seg_prealloc(w->spare_tmp, w->spare_size);
        if (rc == 0 && rename(w->spare_tmp, w->spare_path) == 0)
            w->spare_state = SPARE_READY;
        else
            DLOG_WARN("cannot preallocate the first segment: %s (will retry)", drift_strerror(rc));
    }
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->efd < 0)
        goto out;
    w->ev_done = event_new(r->base, w->efd, EV_READ | EV_PERSIST, s_on_done, w);
    w->ev_submit = event_new(r->base, -1, 0, s_on_submit, w);
    w->ev_gather = evtimer_new(r->base, s_on_gather, w);
    w->ev_spare_retry = evtimer_new(r->base, s_on_spare_retry, w);
    w->ev_sync = event_new(r->base, -1, EV_PERSIST, s_on_sync_timer, w);
    w->ev_cat = event_new(r->base, -1, EV_PERSIST, s_on_cat_tick, w);
    w->ev_stall = evtimer_new(r->base, s_on_stall, w);
    w->stall_ns = r->cfg.index_stall_ns;
    w->km_forget_at = (uint64_t)r->cfg.keymap_forget_at;
    if (w->stall_ns)
        w->lagring = drift_lagring_new();
    if (!w->ev_done || !w->ev_submit || !w->ev_gather || !w->ev_spare_retry || !w->ev_sync || !w->ev_cat ||
        !w->ev_stall || (w->stall_ns && !w->lagring))
        goto out;
    w->gather_ns = w->sync_mode ? r->cfg.commit_gather_ns : 0; /* async answers after the write: nothing to share */
    event_add(w->ev_done, NULL);
    struct timeval ctv = {0, CATALOG_TICK_MS * 1000};
    event_add(w->ev_cat, &ctv);
    if (!w->sync_mode) {
        struct timeval tv = {(time_t)(r->cfg.sync_interval_ns / 1000000000ull),
                             (suseconds_t)(r->cfg.sync_interval_ns % 1000000000ull / 1000)};
        event_add(w->ev_sync, &tv);
    }
    if (pthread_create(&w->flush_thr, NULL, s_flush_main, w) != 0)
        goto out;
    w->flush_thr_live = 1;
    if ((rc = s_sockets(w)) < 0)
        goto out;
    if (w->spare_state == SPARE_NONE)
        s_spare_start(w);
    r->on_stop = s_on_stop;
    DLOG_INFO("writing to %s: next seq %" PRIu64 ", epoch %" PRIu64 ", durability %s, commit_gather %" PRIu64
              " us%s",
              w->log_dir, w->next_seq, w->epoch, w->sync_mode ? "sync" : "async", w->gather_ns / 1000,
              w->clock_skew_ns ? " (test clock skew)" : "");
    drift_role_ready(r);
    code = drift_role_run(r);
out:
    if (w->flush_thr_live) {
        pthread_mutex_lock(&w->mu);
        w->stop = 1;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->flush_thr, NULL);
    }
    if (w->spare_thr_live)
        pthread_join(w->spare_thr, NULL);
    while (w->ready_head) {
        batch_t *b = w->ready_head;
        w->ready_head = b->next;
        s_batch_free(b);
    }
    for (batch_t *lists[2] = {w->q_head, w->done_head}, **l = lists; l < lists + 2; l++)
        while (*l) {
            batch_t *b = *l;
            *l = b->next;
            s_batch_free(b);
        }
    while (w->def_head) {
        deferred_t *d = w->def_head;
        w->def_head = d->next;
        free(d->env);
        free(d->payload);
        free(d);
    }
    drift_zwatch_destroy(&w->zw);
    drift_wchan_destroy(&w->wchan);
    if (w->router)
        zmq_close(w->router);
    if (w->pub)
        zmq_close(w->pub);
    if (w->zctx)
        zmq_ctx_term(w->zctx);
    if (w->ev_done)
        event_free(w->ev_done);
    if (w->ev_submit)
        event_free(w->ev_submit);
    if (w->ev_gather)
        event_free(w->ev_gather);
    if (w->ev_spare_retry)
        event_free(w->ev_spare_retry);
    if (w->ev_stall)
        event_free(w->ev_stall);
    drift_lagring_destroy(&w->lagring);
    if (w->ev_sync)
        event_free(w->ev_sync);
    if (w->ev_cat)
        event_free(w->ev_cat);
    if (w->efd >= 0)
        close(w->efd);
    if (w->flush_fd >= 0)
        close(w->flush_fd);
    if (w->lock_fd >= 0)
        close(w->lock_fd);
    if (w->seed_asked)
        DLOG_INFO("key map: %" PRIu64 " lookups answered from the index (%" PRIu64 " keys it held), %zu entries",
                  w->seed_asked, w->seed_found, w->keys ? drift_keymap_count(w->keys) : 0);
    drift_keymap_destroy(&w->keys);
    drift_wcat_destroy(&w->cat);
    msgpack_sbuffer_destroy(&w->body);
    free(w->undo);
    free(w->src);
    s_rc_free(w);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
    return code;
}
