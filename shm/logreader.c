/* shm/logreader.c — see logreader.h. */
#include "shm/logreader.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "shm/segment.h"

struct drift_logr {
    char dir[4096];
    const drift_ctl_header_t *hdr;
    uint64_t *ids;
    drift_seg_t **segs; /* parallel to ids, opened lazily */
    size_t n;
    /* iterator */
    int positioned;
    uint64_t cur_id; /* segment being read */
    uint64_t off;
    uint64_t min_seq; /* skip frames below (set by seek) */
    uint64_t expect;  /* next seq expected, 0 = unknown */
    char err[8192];
};

int drift_logr_open(const char *log_dir, const drift_ctl_header_t *hdr, drift_logr_t **ret)
{
    drift_logr_t *self = calloc(1, sizeof *self);
    if (!self)
        return -ENOMEM;
    if (snprintf(self->dir, sizeof self->dir, "%s", log_dir) >= (int)sizeof self->dir) {
        free(self);
        return -ENAMETOOLONG;
    }
    self->hdr = hdr;
    self->off = DRIFT_SEG_HDR_SIZE;
    self->min_seq = 1;
    *ret = self;
    return 0;
}

void drift_logr_close(drift_logr_t **self_p)
{
    drift_logr_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->n; i++)
        drift_seg_close(&self->segs[i]);
    free(self->segs);
    free(self->ids);
    free(self);
    *self_p = NULL;
}

/* Re-reads the directory; keeps the mappings of segments still listed. */
static int s_refresh(drift_logr_t *self)
{
    uint64_t *ids;
    size_t n;
    int rc = drift_seg_list(self->dir, &ids, &n);
    if (rc < 0)
        return rc;
    drift_seg_t **segs = calloc(n ? n : 1, sizeof *segs);
    if (!segs) {
        free(ids);
        return -ENOMEM;
    }
    for (size_t i = 0, j = 0; i < n; i++) {
        while (j < self->n && self->ids[j] < ids[i])
            j++;
        if (j < self->n && self->ids[j] == ids[i]) {
            segs[i] = self->segs[j];
            self->segs[j] = NULL;
        }
    }
    for (size_t j = 0; j < self->n; j++)
        drift_seg_close(&self->segs[j]);
    free(self->segs);
    free(self->ids);
    self->ids = ids;
    self->segs = segs;
    self->n = n;
    return 0;
}

/* Index of segment id in the list, or n. */
static size_t s_index(const drift_logr_t *self, uint64_t id)
{
    size_t lo = 0, hi = self->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (self->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < self->n && self->ids[lo] == id ? lo : self->n;
}

/* The mapping of segment index i, opened on first use. */
static int s_seg(drift_logr_t *self, size_t i, drift_seg_t **ret)
{
    if (!self->segs[i]) {
        char path[4200];
        drift_seg_path(path, sizeof path, self->dir, self->ids[i]);
        int rc = drift_seg_open(path, &self->segs[i]);
        if (rc < 0) {
            snprintf(self->err, sizeof self->err, "%s: %s", path, drift_strerror(rc));
            return rc;
        }
    }
    *ret = self->segs[i];
    return 0;
}

/* How many bytes of segment id are readable; *ret_sealed when no more will come. */
static uint64_t s_bound(const drift_logr_t *self, uint64_t id, uint64_t size, int *ret_sealed)
{
    if (!self->hdr) {
        *ret_sealed = 0;
        return size;
    }
    uint64_t active, len;
    for (;;) {
        active = atomic_load_explicit(&self->hdr->active_segment_id, memory_order_acquire);
        len = atomic_load_explicit(&self->hdr->committed_len, memory_order_acquire);
        if (atomic_load_explicit(&self->hdr->active_segment_id, memory_order_acquire) == active)
            break;
    }
    *ret_sealed = id < active;
    if (id < active)
        return size;
    if (id > active || len < DRIFT_SEG_HDR_SIZE)
        return 0;
    return len < size ? len : size;
}

uint64_t drift_logr_visible_seq(const drift_logr_t *self)
{
    return self->hdr ? atomic_load_explicit(&self->hdr->written_seq, memory_order_acquire) : UINT64_MAX;
}

const char *drift_logr_error(const drift_logr_t *self)
{
    return self->err;
}

/* Binary search: index of the last segment whose first seq <= seq (0 if none). */
static size_t s_find(const drift_logr_t *self, uint64_t seq)
{
    size_t lo = 0, hi = self->n;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (self->ids[mid] <= seq)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

int drift_logr_seek(drift_logr_t *self, uint64_t seq)
{
    int rc = s_refresh(self);
    if (rc < 0)
        return rc;
    self->positioned = self->n > 0;
    self->cur_id = self->n ? self->ids[s_find(self, seq)] : 0;
    self->off = DRIFT_SEG_HDR_SIZE;
    self->min_seq = seq;
    self->expect = 0;
    return 0;
}

int drift_logr_next(drift_logr_t *self, drift_frame_t *ret, drift_logr_pos_t *ret_pos)
{
    int refreshed = 0, rc;
    if (!self->positioned) {
        rc = drift_logr_seek(self, self->min_seq);
        if (rc < 0 || !self->positioned)
            return rc;
        refreshed = 1;
    }
    for (;;) {
        size_t idx = s_index(self, self->cur_id);
        if (idx >= self->n) {
            if (refreshed) {
                snprintf(self->err, sizeof self->err, "segment %020" PRIu64 ".seg vanished while being read",
                         self->cur_id);
                return DRIFT_ENOTFOUND;
            }
            if ((rc = s_refresh(self)) < 0)
                return rc;
            refreshed = 1;
            continue;
        }
        drift_seg_t *seg;
        if ((rc = s_seg(self, idx, &seg)) < 0)
            return rc;
        int sealed;
        uint64_t bound = s_bound(self, self->cur_id, drift_seg_size(seg), &sealed);
        const uint8_t *p = drift_seg_data(seg);
        if (self->off + 4 > bound || drift_le_get32(p + self->off) == 0) {
            if (self->hdr && !sealed)
                return 0; /* the end of what is committed */
            if (idx + 1 >= self->n) {
                /* Offline: a later segment means this one is sealed; look once for one. */
                if (refreshed)
                    return 0;
                if ((rc = s_refresh(self)) < 0)
                    return rc;
                refreshed = 1;
                continue;
            }
            self->cur_id = self->ids[idx + 1];
            self->off = DRIFT_SEG_HDR_SIZE;
            continue;
        }
        drift_frame_t f;
        rc = drift_frame_decode(p + self->off, bound - self->off, &f);
        if (rc == 0 && self->expect && f.seq != self->expect)
            rc = DRIFT_ECHAIN;
        if (rc < 0) {
            if (rc == DRIFT_ETRUNCATED && !self->hdr && idx + 1 >= self->n)
                return 0; /* offline: a frame being written right now, or a torn tail */
            snprintf(self->err, sizeof self->err, "segment %020" PRIu64 ".seg: offset %" PRIu64 ": %s", self->cur_id,
                     self->off, rc == DRIFT_ECHAIN ? "frame out of sequence" : drift_strerror(rc));
            return rc == DRIFT_ETRUNCATED ? DRIFT_ECORRUPT : rc;
        }
        uint64_t at = self->off;
        self->off += drift_frame_size(f.body_len);
        self->expect = f.seq + 1;
        if (f.seq < self->min_seq)
            continue;
        *ret = f;
        if (ret_pos) {
            ret_pos->segment_id = self->cur_id;
            ret_pos->offset = at;
        }
        return 1;
    }
}

int drift_logr_fetch(drift_logr_t *self, drift_logr_pos_t pos, drift_frame_t *ret)
{
    size_t i = s_index(self, pos.segment_id);
    if (i >= self->n) {
        int rc = s_refresh(self);
        if (rc < 0)
            return rc;
        i = s_index(self, pos.segment_id);
    }
    if (i >= self->n)
        return DRIFT_ENOTFOUND;
    drift_seg_t *seg;
    int rc = s_seg(self, i, &seg);
    if (rc < 0)
        return rc;
    int sealed;
    uint64_t bound = s_bound(self, pos.segment_id, drift_seg_size(seg), &sealed);
    if (pos.offset < DRIFT_SEG_HDR_SIZE || (pos.offset & (DRIFT_FRAME_ALIGN - 1)) || pos.offset >= bound)
        return DRIFT_ENOTFOUND;
    rc = drift_frame_decode(drift_seg_data(seg) + pos.offset, bound - pos.offset, ret);
    if (rc < 0)
        snprintf(self->err, sizeof self->err, "segment %020" PRIu64 ".seg: offset %" PRIu64 ": %s", pos.segment_id,
                 pos.offset, drift_strerror(rc));
    return rc;
}
