/* shm/recovery.c — see recovery.h.
 *
 * Concurrency: the sealed segments (every one but the last) are verified on their own —
 * CRC, seq, prev_hash, timestamps and epochs inside the segment, starting from the chain
 * state the segment header carries — by up to RECOVERY_THREADS helper threads, which run
 * ahead of the calling thread by at most RECOVERY_AHEAD segments. The calling thread takes
 * the results strictly in order: it checks each header against the chain so far (first_seq,
 * prev_hash) and the segment's first frame against the last timestamp and epoch, which
 * makes the result identical to one sequential scan, then walks the verified frames for the
 * callback (no second CRC or hash). The last segment (the one a torn tail may end) is scanned
 * by the calling thread with the callback as before. Helpers share only the job array,
 * under one mutex; they are joined before the function returns. With trust_seals a helper first
 * reads the segment's seal record and the next segment's header; when they match, it scans with
 * DRIFT_SEG_SCAN_NOHASH and accepts the result only if it equals the record exactly (frames, last
 * seq/ts/epoch, end offset, digest of the frame CRCs), taking the chain head from the record;
 * otherwise it verifies the segment in full. Seal records are written by the calling thread
 * after the whole log verified (write_seals). */
#include "shm/recovery.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/util.h"

/* Overwrites [from, to) of path with zeros and fdatasyncs. Returns 0 or -errno. */
static int s_zero_range(const char *path, uint64_t from, uint64_t to)
{
    int rc = 0;
    const size_t chunk = 1u << 20;
    void *zeros = calloc(1, chunk);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (!zeros || fd < 0) {
        rc = zeros ? -errno : -ENOMEM;
        goto out;
    }
    for (uint64_t off = from; off < to;) {
        size_t n = to - off < chunk ? (size_t)(to - off) : chunk;
        ssize_t w = pwrite(fd, zeros, n, (off_t)off);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            rc = w < 0 ? -errno : -EIO;
            goto out;
        }
        off += (uint64_t)w;
    }
    if (fdatasync(fd) < 0)
        rc = -errno;
out:
    if (fd >= 0)
        close(fd);
    free(zeros);
    return rc;
}

#define RECOVERY_THREADS 2 /* helper threads verifying sealed segments */
#define RECOVERY_AHEAD 4   /* how many segments they may run ahead of the calling thread */
#ifdef MADV_POPULATE_READ
#define RECOVERY_MADV_POPULATE_READ MADV_POPULATE_READ
#else
#define RECOVERY_MADV_POPULATE_READ 22 /* Linux uapi value; older kernels answer EINVAL */
#endif

/* One sealed segment to verify. */
typedef struct {
    uint64_t id;
    char path[4096];
    drift_seg_t *seg;
    int open_rc;
    drift_seg_scan_t sc;
    int done;
    int by_seal;       /* verified by CRC + a matching seal record (not re-hashed) */
    int seal_rejected; /* a seal record was there but did not match: verified in full */
    uint64_t hashed;   /* by_seal: bytes hashed all the same (its last frame, against the chain head) */
} s_job_t;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    s_job_t *jobs;
    size_t njobs;  /* sealed segments */
    size_t next;   /* the next job nobody claimed yet */
    size_t taken;  /* jobs the calling thread has consumed */
    int stop;
    const char *log_dir;
    int trust;     /* use seal records (drift_recovery_opts_t.trust_seals) */
    const uint64_t *ids; /* every segment id, so a job can read the header of the segment after it */
} s_pool_t;

/* The seal record of a verified segment from its header and its scan (chain_head: its last frame's hash). */
static void s_seal_of(const drift_seg_t *seg, const drift_seg_scan_t *sc, const uint8_t chain_head[DRIFT_HASH_LEN],
                      drift_seal_t *s)
{
    const drift_seg_header_t *h = drift_seg_header(seg);
    *s = (drift_seal_t){.segment_id = h->segment_id,
                        .first_seq = h->first_seq,
                        .last_seq = sc->last_seq,
                        .frames = sc->frames,
                        .end_off = sc->end_off,
                        .file_size = h->file_size,
                        .created_ns = h->created_ns,
                        .header_crc = drift_seg_header_crc(seg),
                        .last_ts = sc->last_ts,
                        .last_epoch = sc->last_epoch};
    memcpy(s->chain_head, chain_head, DRIFT_HASH_LEN);
    memcpy(s->crc_digest, sc->crc_digest, DRIFT_HASH_LEN);
}

/* 1 when seal record s describes the opened segment of job i (same incarnation: id, first seq,
 * created_ns, header CRC; same size) and the next segment's header continues exactly where the
 * record ends (first_seq = last_seq + 1, prev_hash = chain_head). */
static int s_seal_matches(const s_pool_t *p, size_t i, const drift_seg_t *seg, const drift_seal_t *s)
{
    const drift_seg_header_t *h = drift_seg_header(seg);
    if (s->segment_id != h->segment_id || s->first_seq != h->first_seq || s->created_ns != h->created_ns ||
        s->header_crc != drift_seg_header_crc(seg) || s->file_size != h->file_size ||
        drift_seg_size(seg) != h->file_size || s->last_seq < s->first_seq ||
        s->frames != s->last_seq - s->first_seq + 1 || s->end_off > h->file_size)
        return 0;
    char path[4096];
    uint8_t buf[DRIFT_SEG_HDR_SIZE];
    drift_seg_header_t nh;
    if (drift_seg_path(path, sizeof path, p->log_dir, p->ids[i + 1]) < 0)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    close(fd);
    return n == (ssize_t)sizeof buf && drift_seg_header_decode(buf, sizeof buf, &nh) == 0 &&
           nh.first_seq == s->last_seq + 1 && memcmp(nh.prev_hash, s->chain_head, DRIFT_HASH_LEN) == 0;
}

/* The length of the frame at off of a verified segment when it hashes to want (the chain head a
 * seal record carries: one frame is hashed, not the segment), else 0. */
static uint64_t s_last_frame_is(const uint8_t *data, size_t size, uint64_t off, const uint8_t want[DRIFT_HASH_LEN])
{
    drift_frame_t f;
    uint8_t h[DRIFT_HASH_LEN];
    if (off >= size || drift_frame_parse(data + off, size - off, &f) < 0)
        return 0;
    drift_frame_hash(f.bytes, f.len, h);
    return memcmp(h, want, DRIFT_HASH_LEN) == 0 ? f.len : 0;
}

/* Opens and verifies one sealed segment on its own, from the chain state in its header: by CRC
 * and its seal record when that matches (trust), else in full (CRC + BLAKE2b chain). */
static void s_verify_job(const s_pool_t *p, s_job_t *j)
{
    j->open_rc = drift_seg_open(j->path, &j->seg);
    if (j->open_rc < 0)
        return;
    const drift_seg_header_t *h = drift_seg_header(j->seg);
    uint8_t *data = (uint8_t *)drift_seg_data(j->seg);
    size_t size = drift_seg_size(j->seg);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (((uintptr_t)data & (page - 1)) == 0) {
        (void)madvise(data, size, MADV_SEQUENTIAL);
        /* One call fills the page tables (Linux >= 5.14) instead of a fault per few pages. */
        if (madvise(data, size, RECOVERY_MADV_POPULATE_READ) < 0)
            (void)madvise(data, size, MADV_WILLNEED);
    }
    if (p->trust) {
        drift_seal_t s;
        int src = drift_seal_read(p->log_dir, j->id, &s);
        if (src == 0 && s_seal_matches(p, (size_t)(j - p->jobs), j->seg, &s)) {
            (void)drift_seg_scan_ex(data, size, h, h->prev_hash, h->first_seq, 0, 0, DRIFT_SEG_SCAN_NOHASH, NULL, NULL,
                                    &j->sc);
            if (!j->sc.stopped && j->sc.frames == s.frames && j->sc.last_seq == s.last_seq &&
                j->sc.end_off == s.end_off && j->sc.last_ts == s.last_ts && j->sc.last_epoch == s.last_epoch &&
                memcmp(j->sc.crc_digest, s.crc_digest, DRIFT_HASH_LEN) == 0 &&
                (j->hashed = s_last_frame_is(data, size, j->sc.last_off, s.chain_head)) != 0) {
                memcpy(j->sc.last_hash, s.chain_head, DRIFT_HASH_LEN);
                j->by_seal = 1;
                return;
            }
        }
        j->seal_rejected = src != -ENOENT; /* none at all is the compatible case, not a rejection */
    }
    (void)drift_seg_scan(data, size, h, h->prev_hash, h->first_seq, 0, 0, NULL, NULL, &j->sc);
}

/* Claims the next job under the lock, or returns NULL (stop, all claimed, or too far ahead). */
static s_job_t *s_claim(s_pool_t *p, int wait_ahead)
{
    for (;;) {
        if (p->stop || p->next >= p->njobs)
            return NULL;
        if (p->next < p->taken + RECOVERY_AHEAD)
            return &p->jobs[p->next++];
        if (!wait_ahead)
            return NULL;
        pthread_cond_wait(&p->cv, &p->mu);
    }
}

/* Helper thread: verifies jobs in claim order until none is left. */
static void *s_worker(void *arg)
{
    s_pool_t *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        s_job_t *j = s_claim(p, 1);
        if (!j)
            break;
        pthread_mutex_unlock(&p->mu);
        s_verify_job(p, j);
        pthread_mutex_lock(&p->mu);
        j->done = 1;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* The calling thread: waits for job i (verifying it itself when no helper took it yet). */
static s_job_t *s_take(s_pool_t *p, size_t i)
{
    s_job_t *j = &p->jobs[i];
    pthread_mutex_lock(&p->mu);
    p->taken = i;
    pthread_cond_broadcast(&p->cv);
    if (p->next == i) {
        p->next++;
        pthread_mutex_unlock(&p->mu);
        s_verify_job(p, j);
        pthread_mutex_lock(&p->mu);
        j->done = 1;
    }
    while (!j->done)
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    return j;
}

/* Calls fn for every frame of a verified segment, [header, end). */
static int s_walk(const drift_seg_t *seg, uint64_t end, drift_seg_frame_fn fn, void *arg)
{
    const uint8_t *p = drift_seg_data(seg);
    uint64_t id = drift_seg_header(seg)->segment_id;
    for (uint64_t off = DRIFT_SEG_HDR_SIZE; off < end;) {
        drift_frame_t f;
        int rc = drift_frame_parse(p + off, end - off, &f);
        if (rc < 0)
            return DRIFT_ECORRUPT; /* cannot happen: the same bytes verified */
        if ((rc = fn(&f, id, off, arg)) != 0)
            return rc;
        off += drift_frame_size(f.body_len);
    }
    return 0;
}

int drift_recovery_run(const char *log_dir, int repair, drift_seg_frame_fn fn, void *arg, drift_recovery_t *ret)
{
    drift_recovery_opts_t o = {.repair = repair};
    return drift_recovery_run_opts(log_dir, &o, fn, arg, ret);
}

int drift_recovery_run_opts(const char *log_dir, const drift_recovery_opts_t *o, drift_seg_frame_fn fn, void *arg,
                            drift_recovery_t *ret)
{
    int rc = 0;
    int repair = o->repair;
    drift_seal_t *pend = NULL; /* seal records to write once everything verified */
    size_t npend = 0;
    uint64_t *ids = NULL;
    size_t n = 0;
    drift_seg_t *seg = NULL;
    char path[4096];
    uint64_t t0 = drift_now_mono_ns();
    s_pool_t pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    pthread_t thr[RECOVERY_THREADS];
    int nthr = 0;

    memset(ret, 0, sizeof *ret);
    rc = drift_seg_list(log_dir, &ids, &n);
    if (rc < 0) {
        snprintf(ret->err, sizeof ret->err, "%s: cannot list segments: %s", log_dir, drift_strerror(rc));
        goto out;
    }
    pool.log_dir = log_dir;
    pool.trust = o->trust_seals;
    pool.ids = ids;
    if (n > 1) {
        pool.njobs = n - 1;
        pool.jobs = calloc(pool.njobs, sizeof *pool.jobs);
        pend = o->write_seals && repair ? calloc(pool.njobs, sizeof *pend) : NULL;
        if (!pool.jobs || (o->write_seals && repair && !pend)) {
            rc = -ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < pool.njobs; i++) {
            pool.jobs[i].id = ids[i];
            drift_seg_path(pool.jobs[i].path, sizeof pool.jobs[i].path, log_dir, ids[i]);
        }
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        int want = cpus < 2 ? 0 : pool.njobs < RECOVERY_THREADS ? (int)pool.njobs : RECOVERY_THREADS;
        while (nthr < want && pthread_create(&thr[nthr], NULL, s_worker, &pool) == 0)
            nthr++; /* none at all: the calling thread verifies every segment itself */
    }
    ret->threads = nthr;
    for (size_t i = 0; i < n; i++) {
        int last = i + 1 == n;
        s_job_t *job = NULL;
        drift_seg_close(&seg);
        drift_seg_path(path, sizeof path, log_dir, ids[i]);
        if (!last) {
            job = s_take(&pool, i);
            seg = job->seg;
            job->seg = NULL;
            rc = job->open_rc;
        } else {
            rc = drift_seg_open(path, &seg);
        }
        if (rc < 0) {
            snprintf(ret->err, sizeof ret->err, "%s: offset 0: segment header unreadable: %s", path,
                     drift_strerror(rc));
            if (rc > -1000)
                goto out; /* an I/O error, not a verdict on the data */
            rc = DRIFT_ECORRUPT;
            goto out;
        }
        const drift_seg_header_t *h = drift_seg_header(seg);
        uint64_t expect = ret->last_seq + 1;
        if (h->segment_id != ids[i] || h->first_seq != expect) {
            snprintf(ret->err, sizeof ret->err,
                     "%s: offset 16: header says segment %" PRIu64 " first seq %" PRIu64 ", expected %" PRIu64
                     " / %" PRIu64 " (missing or extra segment?)",
                     path, h->segment_id, h->first_seq, ids[i], expect);
            rc = DRIFT_ECHAIN;
            goto out;
        }
        if (memcmp(h->prev_hash, ret->last_hash, DRIFT_HASH_LEN) != 0) {
            snprintf(ret->err, sizeof ret->err,
                     "%s: offset 64: header prev_hash does not match the last frame of the previous segment", path);
            rc = DRIFT_ECHAIN;
            goto out;
        }
        drift_seg_scan_t sc;
        int rescan = !job;
        if (job) {
            /* Verified on its own from this header, which links (checked above): the result equals
             * the sequential scan's unless its first frame goes back in time or epoch — then that
             * scan is redone here, in sequence, for the exact verdict. */
            sc = job->sc;
            drift_frame_t first;
            if (sc.frames > 0 &&
                drift_frame_parse(drift_seg_data(seg) + DRIFT_SEG_HDR_SIZE, drift_seg_size(seg) - DRIFT_SEG_HDR_SIZE,
                                  &first) == 0 &&
                (first.ts_ns <= ret->last_ts || first.epoch < ret->last_epoch))
                rescan = 1;
            else if (fn && (rc = s_walk(seg, sc.end_off, fn, arg)) != 0)
                goto out;
        }
        if (rescan) {
            rc = drift_seg_scan(drift_seg_data(seg), drift_seg_size(seg), h, ret->last_hash, expect, ret->last_ts,
                                ret->last_epoch, fn, arg, &sc);
            if (rc)
                goto out;
        }
        ret->segments++;
        ret->frames += sc.frames;
        ret->bytes_scanned += sc.end_off;
        if (job && job->by_seal && !rescan) {
            ret->seg_by_seal++;
            ret->bytes_hashed += job->hashed;
        } else
            ret->bytes_hashed += sc.end_off;
        if (job && job->seal_rejected)
            ret->seals_rejected++;
        if (pend && job && !(job->by_seal && !rescan) && !sc.stopped && sc.frames > 0) {
            s_seal_of(seg, &sc, sc.last_hash, &pend[npend++]);
        }
        if (sc.stopped) {
            int torn = last && !sc.durable_damage && sc.bad_rc != DRIFT_ECHAIN && sc.bad_rc != DRIFT_EVERSION;
            if (!torn) {
                if (sc.durable_damage)
                    snprintf(ret->err, sizeof ret->err,
                             "%s: offset %" PRIu64 ": %s (seq %" PRIu64 "), and the frame at offset %" PRIu64
                             " shows it had been acknowledged as durable",
                             path, sc.end_off, sc.why, sc.last_seq + 1, sc.durable_witness_off);
                else
                    snprintf(ret->err, sizeof ret->err, "%s: offset %" PRIu64 ": %s (seq %" PRIu64 ")%s", path,
                             sc.end_off, sc.why, sc.last_seq + 1, last ? "" : " in a sealed segment");
                rc = sc.bad_rc == DRIFT_ECHAIN ? DRIFT_ECHAIN : DRIFT_ECORRUPT;
                goto out;
            }
            ret->dropped_off = sc.end_off;
            ret->dropped_bytes = sc.garbage_end > sc.end_off ? sc.garbage_end - sc.end_off : 0;
            snprintf(ret->dropped_why, sizeof ret->dropped_why, "%s", sc.why);
            if (repair && ret->dropped_bytes) {
                rc = s_zero_range(path, sc.end_off, sc.garbage_end);
                if (rc < 0) {
                    snprintf(ret->err, sizeof ret->err, "%s: cannot cut the torn tail at offset %" PRIu64 ": %s", path,
                             sc.end_off, drift_strerror(rc));
                    goto out;
                }
            }
        }
        if (!last && sc.frames == 0) {
            snprintf(ret->err, sizeof ret->err, "%s: offset %u: sealed segment holds no frame", path,
                     DRIFT_SEG_HDR_SIZE);
            rc = DRIFT_ECORRUPT;
            goto out;
        }
        ret->last_seq = sc.last_seq;
        ret->last_ts = sc.last_ts;
        ret->last_epoch = sc.last_epoch;
        memcpy(ret->last_hash, sc.last_hash, DRIFT_HASH_LEN);
        if (last) {
            ret->active_id = ids[i];
            ret->active_end = sc.end_off;
            ret->active_size = drift_seg_size(seg);
        }
    }
    /* Every segment verified and linked: the records of the ones just verified in full can be
     * written (a failure only costs the next start a full verification of that segment). */
    for (size_t i = 0; i < npend; i++)
        if (drift_seal_write(log_dir, &pend[i], 0) == 0)
            ret->seals_written++;
    if (ret->seals_written)
        (void)drift_fsync_dir(log_dir);
out:
    free(pend);
    pthread_mutex_lock(&pool.mu);
    pool.stop = 1;
    pthread_cond_broadcast(&pool.cv);
    pthread_mutex_unlock(&pool.mu);
    for (int t = 0; t < nthr; t++)
        pthread_join(thr[t], NULL);
    for (size_t i = 0; i < pool.njobs; i++)
        drift_seg_close(&pool.jobs[i].seg);
    free(pool.jobs);
    drift_seg_close(&seg);
    free(ids);
    ret->elapsed_ns = drift_now_mono_ns() - t0;
    return rc;
}

int drift_recovery_seal(const char *log_dir, uint64_t id, const uint8_t chain_head[DRIFT_HASH_LEN],
                        uint64_t next_first_seq)
{
    char path[4096];
    drift_seg_t *seg = NULL;
    drift_seg_scan_t sc;
    int rc = drift_seg_path(path, sizeof path, log_dir, id);
    if (rc < 0 || (rc = drift_seg_open(path, &seg)) < 0)
        goto out;
    const drift_seg_header_t *h = drift_seg_header(seg);
    (void)drift_seg_scan_ex(drift_seg_data(seg), drift_seg_size(seg), h, h->prev_hash, h->first_seq, 0, 0,
                            DRIFT_SEG_SCAN_NOHASH, NULL, NULL, &sc);
    if (sc.stopped || sc.frames == 0 || sc.last_seq + 1 != next_first_seq || drift_seg_size(seg) != h->file_size ||
        !s_last_frame_is(drift_seg_data(seg), drift_seg_size(seg), sc.last_off, chain_head)) {
        rc = DRIFT_ECORRUPT;
        goto out;
    }
    drift_seal_t s;
    s_seal_of(seg, &sc, chain_head, &s);
    rc = drift_seal_write(log_dir, &s, 1);
out:
    drift_seg_close(&seg);
    return rc < 0 ? rc : 0;
}
