/* shm/recovery.c — see recovery.h. */
#include "shm/recovery.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int drift_recovery_run(const char *log_dir, int repair, drift_seg_frame_fn fn, void *arg, drift_recovery_t *ret)
{
    int rc = 0;
    uint64_t *ids = NULL;
    size_t n = 0;
    drift_seg_t *seg = NULL;
    char path[4096];
    uint64_t t0 = drift_now_mono_ns();

    memset(ret, 0, sizeof *ret);
    rc = drift_seg_list(log_dir, &ids, &n);
    if (rc < 0) {
        snprintf(ret->err, sizeof ret->err, "%s: cannot list segments: %s", log_dir, drift_strerror(rc));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        int last = i + 1 == n;
        drift_seg_close(&seg);
        drift_seg_path(path, sizeof path, log_dir, ids[i]);
        rc = drift_seg_open(path, &seg);
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
        rc = drift_seg_scan(drift_seg_data(seg), drift_seg_size(seg), h, ret->last_hash, expect, ret->last_ts,
                            ret->last_epoch, fn, arg, &sc);
        if (rc)
            goto out;
        ret->segments++;
        ret->frames += sc.frames;
        ret->bytes_scanned += sc.end_off;
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
out:
    drift_seg_close(&seg);
    free(ids);
    ret->elapsed_ns = drift_now_mono_ns() - t0;
    return rc;
}
