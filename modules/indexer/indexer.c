/* modules/indexer/indexer.c — the indexer role: follows the log and
 * maintains the LMDB indexes (shm/index.h, docs/indexes.md).
 *
 * Concurrency story. One thread, one libevent loop. The indexer is the only
 * writer of <data_dir>/index (LMDB serializes writers anyway, and the
 * supervisor runs one indexer) and the only writer of hdr->indexed_seq /
 * indexed_ts_ns. It wakes up on the writer's PUB announcements
 * (ipc://<run>/commits.sock, SUB) and, as a fallback against lost or early
 * announcements, on a 10 ms timer; each wake-up applies every committed
 * frame it can see in batches of at most BATCH_FRAMES frames / BATCH_NS of
 * work per LMDB transaction, publishing indexed_seq after each commit.
 * A batch that fails is aborted as a whole; the applied position lives in
 * the same LMDB transaction, so after a crash (kill -9) the indexer resumes
 * from the last committed batch. If the index is ahead of the log or does not
 * match it (a log replaced or truncated by recovery), it is rebuilt from seq 1.
 *
 * Sync: LMDB runs with MDB_NOSYNC (no fsync per batch, which would compete with
 * the writer's fdatasyncs and make the lag jump by tens of ms). A process crash
 * loses nothing (the page cache survives); a system crash could leave the
 * environment torn, so while the indexer runs, <index>/dirty holds the boot id
 * (fsynced); a clean stop syncs LMDB and removes it. At start, a dirty marker
 * from another boot means the system went down under us: the index is rebuilt. */
#include "modules/indexer/indexer.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/util.h"
#include "ipc/zwatch.h"
#include "modules/writer/writer.h"
#include "shm/index.h"

#define BATCH_FRAMES 50000u
#define BATCH_NS 50000000ull /* 50 ms of work per LMDB transaction at most */
#define POLL_MS 10

typedef struct {
    drift_role_t *r;
    drift_index_t *ix;
    drift_logr_t *lr;
    void *zctx, *sub;
    drift_zwatch_t *zw;
    struct event *ev_poll, *ev_more;
    uint64_t next_seq;  /* next frame to apply */
    uint32_t batch_max; /* frames per LMDB transaction (halved when LMDB says the transaction is too big) */
    int positioned;
    int verified; /* the index was checked against the log (see s_verify) */
    unsigned fault_slow_ms; /* test hook DRIFT_FAULT=index_slow:N[:MS]: batches of at most N frames, MS (10) ms apart */
    uint64_t ops;           /* ops applied since start (published as indexed_ops) */
    char index_dir[PATH_MAX + 16], dirty_path[PATH_MAX + 32];
} indexer_t;

/* Publishes the applied position in the control block. */
static void s_publish(indexer_t *x)
{
    uint64_t seq, ts;
    drift_index_applied(x->ix, &seq, &ts);
    atomic_store_explicit(&x->r->hdr->indexed_ts_ns, ts, memory_order_release);
    atomic_store_explicit(&x->r->hdr->indexed_seq, seq, memory_order_release);
}

/* Applies one batch. Returns 1 when more frames are waiting, 0 when caught up, <0 on error. */
static int s_batch(indexer_t *x)
{
    if (!x->positioned) {
        int rc = drift_logr_seek(x->lr, x->next_seq);
        if (rc < 0)
            return rc;
        x->positioned = 1;
    }
    int rc = drift_index_begin(x->ix);
    if (rc < 0)
        return rc;
    uint64_t t0 = drift_now_mono_ns(), n = 0, ops0 = drift_index_ops(x->ix), skipped0 = drift_index_skipped(x->ix);
    drift_frame_t f;
    drift_logr_pos_t pos;
    int more = 0;
    while ((rc = drift_logr_next(x->lr, &f, &pos)) == 1) {
        if ((rc = drift_index_apply(x->ix, &f, pos)) < 0)
            break;
        n++;
        /* the clock after every frame (a vDSO read, ~20 ns, against tens of µs per frame): a frame can
         * hold hundreds of ops, and 256 of them between checks overran the heartbeat on a loaded host */
        if (n >= x->batch_max || drift_now_mono_ns() - t0 > BATCH_NS) {
            more = 1;
            break;
        }
    }
    /* (the commit applies the queued secondary-index writes: it can find the map full too) */
    if (rc >= 0 && n > 0 && (rc = drift_index_commit(x->ix)) < 0 && rc != DRIFT_EFULL && rc != DRIFT_ETOOBIG) {
        DLOG_ERR("index commit: %s", drift_index_error(x->ix));
        x->positioned = 0;
        return rc;
    }
    if (rc < 0) {
        const char *why = rc == DRIFT_ECORRUPT || rc == DRIFT_ECHAIN || rc == DRIFT_EVERSION ? drift_logr_error(x->lr)
                                                                                             : drift_index_error(x->ix);
        drift_index_abort(x->ix);
        x->positioned = 0;
        if (rc == DRIFT_EFULL) {
            DLOG_NOTICE("index map full: growing it and redoing the batch");
            rc = drift_index_grow(x->ix);
            return rc < 0 ? rc : 1;
        }
        if (rc == DRIFT_ETOOBIG && n > 0) {
            x->batch_max = n / 2 ? (uint32_t)(n / 2) : 1;
            DLOG_NOTICE("LMDB transaction too big after %" PRIu64 " frames: batches of %u from now on", n,
                        x->batch_max);
            return 1;
        }
        DLOG_ERR("indexing seq %" PRIu64 ": %s: %s", x->next_seq, drift_strerror(rc), why);
        return rc;
    }
    if (n == 0) {
        drift_index_abort(x->ix);
        return 0;
    }
    x->next_seq = f.seq + 1;
    x->ops += drift_index_ops(x->ix) - ops0;
    atomic_store_explicit(&x->r->hdr->indexed_ops, x->ops, memory_order_release);
    s_publish(x);
    drift_ctl_slot_t *slot = x->r->slot;
    atomic_fetch_add(&slot->counters[DRIFT_CTR_IX_FRAMES], n);
    atomic_fetch_add(&slot->counters[DRIFT_CTR_IX_BATCHES], 1);
    atomic_fetch_add(&slot->counters[DRIFT_CTR_IX_SKIPPED], drift_index_skipped(x->ix) - skipped0);
    drift_ctl_slot_observe_us(slot, (drift_now_mono_ns() - t0) / 1000);
    if (x->fault_slow_ms)
        usleep(x->fault_slow_ms * 1000u);
    return more;
}

/* Checks that the index was built from this log: the frame at the applied seq must be there with the
 * same ts. Returns 1 when it matches (or the index is empty), 0 when not, <0 on error. */
static int s_matches_log(indexer_t *x)
{
    uint64_t seq, ts;
    drift_index_applied(x->ix, &seq, &ts);
    if (seq == 0)
        return 1;
    int rc = drift_logr_seek(x->lr, seq);
    if (rc < 0)
        return rc;
    drift_frame_t f;
    rc = drift_logr_next(x->lr, &f, NULL);
    x->positioned = 0;
    if (rc < 0)
        return rc;
    return rc == 1 && f.seq == seq && f.ts_ns == ts;
}

/* Before the first batch: once the writer has recovered the log (it publishes the log bounds), checks
 * that the index was built from this log; if not (log replaced, or a tail the index had seen was cut
 * by recovery), clears it to rebuild from seq 1. Returns 1 when checked, 0 to wait, <0 on error. */
static int s_verify(indexer_t *x)
{
    const drift_ctl_header_t *h = x->r->hdr;
    if (atomic_load(&h->active_segment_id) == 0 || atomic_load(&h->writer_state) == DRIFT_WSTATE_RECOVERING)
        return 0; /* the writer has not published the log yet */
    uint64_t applied;
    drift_index_applied(x->ix, &applied, NULL);
    int rc = drift_logr_visible_seq(x->lr) >= applied ? s_matches_log(x) : 0;
    if (rc < 0) {
        DLOG_ERR("reading the log: %s", drift_logr_error(x->lr));
        return rc;
    }
    if (rc == 0) {
        DLOG_WARN("the index (applied seq %" PRIu64 ") does not match the log: rebuilding it", applied);
        if ((rc = drift_index_clear(x->ix)) < 0) {
            DLOG_ERR("clearing the index: %s", drift_index_error(x->ix));
            return rc;
        }
        x->next_seq = 1;
        x->positioned = 0;
    }
    x->verified = 1;
    s_publish(x);
    return 1;
}

/* Runs s_catch_up on the next loop turn, after timers and I/O. Not event_active(): libevent 2.1 runs
 * an event activated during the active-queue pass in that same pass, so a long catch-up would starve
 * the heartbeat timer and the supervisor would kill the indexer as hung. A zero timeout is only looked
 * at after the next poll. */
static void s_schedule(indexer_t *x)
{
    static const struct timeval zero = {0, 0};
    event_add(x->ev_more, &zero);
}

/* Applies what is visible, one batch; re-arms itself through ev_more when the batch was cut. */
static void s_catch_up(indexer_t *x)
{
    if (x->r->stopping)
        return;
    int rc = x->verified ? 1 : s_verify(x);
    if (rc == 0)
        return; /* the 10 ms timer tries again */
    if (rc > 0)
        rc = s_batch(x);
    if (rc < 0) {
        drift_role_exit(x->r, DRIFT_EXIT_RESTART);
        return;
    }
    if (rc == 1)
        s_schedule(x);
}

static void s_on_more(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    s_catch_up(arg);
}

/* A PUB announcement: its content does not matter, the control block bounds what is read. The batch
 * runs from ev_more, not here: the socket watcher calls this again while announcements keep coming,
 * and a batch (up to BATCH_NS) per call held the loop for seconds at the writer's peak rate; the
 * supervisor killed the indexer as hung (tests/integration/test_indexer_catchup.py). */
static void s_on_sub(void *zsock, void *arg)
{
    char buf[256];
    while (zmq_recv(zsock, buf, sizeof buf, ZMQ_DONTWAIT) >= 0) {
    }
    s_schedule(arg);
}

/* The current boot id (32 hex digits + dashes) into buf; "" when unknown. */
static void s_boot_id(char *buf, size_t cap)
{
    buf[0] = 0;
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (!f)
        return;
    if (!fgets(buf, (int)cap, f))
        buf[0] = 0;
    buf[strcspn(buf, "\n")] = 0;
    fclose(f);
}

/* Reads the dirty marker: 1 and its boot id when present, 0 when absent. */
static int s_dirty_read(const char *path, char *boot, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    if (!fgets(boot, (int)cap, f))
        boot[0] = 0;
    boot[strcspn(boot, "\n")] = 0;
    fclose(f);
    return 1;
}

/* Writes the dirty marker durably. Returns 0 or -errno. */
static int s_dirty_write(const char *path, const char *dir, const char *boot)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int rc = 0;
    size_t n = strlen(boot);
    if (write(fd, boot, n) != (ssize_t)n || write(fd, "\n", 1) != 1 || fsync(fd) < 0)
        rc = -errno;
    close(fd);
    return rc < 0 ? rc : drift_fsync_dir(dir);
}

static void s_on_stop(drift_role_t *r)
{
    indexer_t *x = r->user;
    if (x->ix && drift_index_sync(x->ix) == 0 && x->dirty_path[0]) {
        unlink(x->dirty_path); /* clean: everything applied is on disk */
        drift_fsync_dir(x->index_dir);
    }
    drift_role_exit(r, DRIFT_EXIT_OK);
}

int drift_indexer_main(drift_role_t *r)
{
    indexer_t x = {.r = r, .next_seq = 1, .batch_max = BATCH_FRAMES};
    int code = DRIFT_EXIT_RESTART, rc;
    char *index_dir = x.index_dir, log_dir[PATH_MAX + 16], ep[PATH_MAX + 64], boot[64], old_boot[64];
    snprintf(x.index_dir, sizeof x.index_dir, "%s/index", r->data_dir);
    snprintf(x.dirty_path, sizeof x.dirty_path, "%s/dirty", x.index_dir);
    snprintf(log_dir, sizeof log_dir, "%s/log", r->data_dir);
    r->user = &x;
    const char *fault = getenv("DRIFT_FAULT");
    if (fault && strncmp(fault, "index_slow:", 11) == 0 && atoi(fault + 11) > 0) {
        const char *ms = strchr(fault + 11, ':');
        x.batch_max = (uint32_t)atoi(fault + 11);
        x.fault_slow_ms = ms && atoi(ms + 1) > 0 ? (unsigned)atoi(ms + 1) : 10;
        DLOG_WARN("DRIFT_FAULT: index_slow: batches of at most %u frames, %u ms apart", x.batch_max, x.fault_slow_ms);
    }
    drift_index_opts_t o = {.map_size = r->cfg.index_map_size, .sync = 2};
    s_boot_id(boot, sizeof boot);
    int crashed_system = s_dirty_read(x.dirty_path, old_boot, sizeof old_boot) && strcmp(old_boot, boot) != 0;
    if ((rc = drift_index_open(index_dir, log_dir, r->hdr, &o, &x.ix)) < 0) {
        DLOG_ERR("cannot open the index in %s: %s", index_dir, drift_strerror(rc));
        if (rc == DRIFT_EVERSION || rc == DRIFT_ECORRUPT || crashed_system) {
            /* derived data in an old format: start over from the log */
            DLOG_NOTICE("rebuilding the index from the log");
            char old[PATH_MAX + 32];
            snprintf(old, sizeof old, "%s/data.mdb", index_dir);
            unlink(old);
            snprintf(old, sizeof old, "%s/lock.mdb", index_dir);
            unlink(old);
            rc = drift_index_open(index_dir, log_dir, r->hdr, &o, &x.ix);
        }
        if (rc < 0)
            goto out;
    }
    if ((rc = drift_logr_open(log_dir, r->hdr, &x.lr)) < 0) {
        DLOG_ERR("cannot open the log in %s: %s", log_dir, drift_strerror(rc));
        goto out;
    }
    uint64_t applied;
    drift_index_applied(x.ix, &applied, NULL);
    if (crashed_system) {
        DLOG_WARN("the system restarted while the index was being written (boot %s, now %s): rebuilding it", old_boot,
                  boot);
        if ((rc = drift_index_clear(x.ix)) < 0) {
            DLOG_ERR("clearing the index: %s", drift_index_error(x.ix));
            goto out;
        }
        applied = 0;
    }
    if ((rc = s_dirty_write(x.dirty_path, index_dir, boot)) < 0) {
        DLOG_ERR("%s: %s", x.dirty_path, drift_strerror(rc));
        goto out;
    }
    x.next_seq = applied + 1;
    x.verified = applied == 0;
    if (x.verified)
        s_publish(&x);
    x.zctx = zmq_ctx_new();
    x.sub = x.zctx ? zmq_socket(x.zctx, ZMQ_SUB) : NULL;
    if (!x.sub)
        goto out;
    int zero = 0;
    zmq_setsockopt(x.sub, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(x.sub, ZMQ_SUBSCRIBE, "", 0);
    drift_role_endpoint(r, "commits", ep, sizeof ep);
    if (zmq_connect(x.sub, ep) < 0) {
        DLOG_ERR("cannot connect %s: %s", ep, zmq_strerror(errno));
        goto out;
    }
    x.zw = drift_zwatch_new(r->base, x.sub, s_on_sub, &x);
    x.ev_more = event_new(r->base, -1, 0, s_on_more, &x);
    x.ev_poll = event_new(r->base, -1, EV_PERSIST, s_on_more, &x);
    if (!x.zw || !x.ev_more || !x.ev_poll)
        goto out;
    struct timeval tv = {0, POLL_MS * 1000};
    event_add(x.ev_poll, &tv);
    r->on_stop = s_on_stop;
    DLOG_INFO("indexing %s into %s from seq %" PRIu64, log_dir, index_dir, x.next_seq);
    drift_role_ready(r);
    event_active(x.ev_more, 0, 0);
    code = drift_role_run(r);
out:
    drift_zwatch_destroy(&x.zw);
    if (x.ev_more)
        event_free(x.ev_more);
    if (x.ev_poll)
        event_free(x.ev_poll);
    if (x.sub)
        zmq_close(x.sub);
    if (x.zctx)
        zmq_ctx_term(x.zctx);
    drift_logr_close(&x.lr);
    drift_index_close(&x.ix);
    return code;
}
