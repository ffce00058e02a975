/* tests/unit/logfixture.h — builds real log directories for the segment and
 * recovery tests with the library's own primitives (prealloc, install,
 * frame encode, pwrite), the way the writer lays them out. */
#ifndef DRIFT_TESTS_LOGFIXTURE_H
#define DRIFT_TESTS_LOGFIXTURE_H

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "shm/frame.h"
#include "shm/segment.h"

typedef struct {
    char root[256];
    char dir[300]; /* root/log */
    uint64_t seg_size;
    uint64_t next_seq, ts, sync_seq;
    uint8_t hash[DRIFT_HASH_LEN];
    int fd;
    uint64_t seg_id, off;
    int batch; /* when set, sync_seq stays where it is (frames of one unsynced batch) */
} fx_log_t;

__attribute__((unused)) static int fx_rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

__attribute__((unused)) static void fx_init(fx_log_t *fx, uint64_t seg_size)
{
    memset(fx, 0, sizeof *fx);
    snprintf(fx->root, sizeof fx->root, "/tmp/drift-test-XXXXXX");
    if (!mkdtemp(fx->root))
        abort();
    snprintf(fx->dir, sizeof fx->dir, "%s/log", fx->root);
    drift_mkdir_p(fx->dir);
    fx->seg_size = seg_size;
    fx->next_seq = 1;
    fx->ts = 1000;
    fx->fd = -1;
}

__attribute__((unused)) static void fx_close(fx_log_t *fx)
{
    if (fx->fd >= 0)
        close(fx->fd);
    fx->fd = -1;
}

__attribute__((unused)) static void fx_done(fx_log_t *fx)
{
    fx_close(fx);
    nftw(fx->root, fx_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Starts a new segment whose first frame will be next_seq. */
__attribute__((unused)) static void fx_new_segment(fx_log_t *fx)
{
    char spare[400];
    snprintf(spare, sizeof spare, "%s/%s", fx->dir, DRIFT_SEG_SPARE);
    if (drift_seg_prealloc(spare, fx->seg_size) < 0)
        abort();
    drift_seg_header_t h = {
        .segment_id = fx->next_seq, .first_seq = fx->next_seq, .epoch = 1, .created_ns = 1, .file_size = fx->seg_size};
    memcpy(h.prev_hash, fx->hash, DRIFT_HASH_LEN);
    fx_close(fx);
    if (drift_seg_install(fx->dir, spare, &h, &fx->fd) < 0)
        abort();
    fx->seg_id = fx->next_seq;
    fx->off = DRIFT_SEG_HDR_SIZE;
}

/* Appends one frame with body; rotates when it does not fit. Returns its offset. */
__attribute__((unused)) static uint64_t fx_append(fx_log_t *fx, const void *body, size_t len)
{
    size_t size = drift_frame_size(len);
    if (fx->fd < 0 || fx->off + size > fx->seg_size)
        fx_new_segment(fx);
    uint8_t *buf = malloc(size);
    drift_frame_t f = {
        .seq = fx->next_seq, .ts_ns = ++fx->ts, .epoch = 1, .sync_seq = fx->batch ? fx->sync_seq : fx->next_seq - 1};
    memcpy(f.prev_hash, fx->hash, DRIFT_HASH_LEN);
    size_t n;
    if (drift_frame_encode(buf, size, &f, body, len, &n) < 0 || pwrite(fx->fd, buf, n, (off_t)fx->off) != (ssize_t)n)
        abort();
    drift_frame_hash(buf, (uint32_t)(DRIFT_FRAME_HDR_LEN + len), fx->hash);
    if (!fx->batch)
        fx->sync_seq = fx->next_seq;
    fx->next_seq++;
    uint64_t at = fx->off;
    fx->off += n;
    free(buf);
    return at;
}

/* Overwrites bytes of segment id at off. */
__attribute__((unused)) static void fx_poke(fx_log_t *fx, uint64_t id, uint64_t off, const void *bytes, size_t n)
{
    char path[400];
    drift_seg_path(path, sizeof path, fx->dir, id);
    int fd = open(path, O_WRONLY);
    if (fd < 0 || pwrite(fd, bytes, n, (off_t)off) != (ssize_t)n)
        abort();
    close(fd);
}

/* Flips one bit of segment id at off. */
__attribute__((unused)) static void fx_flip(fx_log_t *fx, uint64_t id, uint64_t off)
{
    char path[400];
    drift_seg_path(path, sizeof path, fx->dir, id);
    int fd = open(path, O_RDWR);
    uint8_t b;
    if (fd < 0 || pread(fd, &b, 1, (off_t)off) != 1)
        abort();
    b ^= 0x10;
    if (pwrite(fd, &b, 1, (off_t)off) != 1)
        abort();
    close(fd);
}

#endif
