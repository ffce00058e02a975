/* shm/segment.c — see segment.h. The writer calls prealloc/install (from its
 * flush or preallocation thread, never concurrently on the same file); any
 * process may open/scan read-only mappings. */
#include "shm/segment.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "common/crc32c.h"
#include "common/errors.h"
#include "common/util.h"

struct drift_seg {
    drift_seg_header_t hdr;
    uint8_t *map;
    size_t map_len; /* what was mapped */
    size_t size;    /* usable bytes: min(file size, header file_size) */
};

void drift_seg_header_encode(const drift_seg_header_t *h, uint8_t out[DRIFT_SEG_HDR_SIZE])
{
    memset(out, 0, DRIFT_SEG_HDR_SIZE);
    memcpy(out, DRIFT_SEG_MAGIC, 8);
    drift_le_put32(out + 8, DRIFT_SEG_VERSION);
    drift_le_put32(out + 12, DRIFT_SEG_HDR_SIZE);
    drift_le_put64(out + 16, h->segment_id);
    drift_le_put64(out + 24, h->first_seq);
    drift_le_put64(out + 32, h->epoch);
    drift_le_put64(out + 40, h->created_ns);
    drift_le_put64(out + 48, h->file_size);
    drift_le_put32(out + 56, h->flags);
    drift_le_put32(out + 60, h->key_id);
    memcpy(out + 64, h->prev_hash, DRIFT_HASH_LEN);
    drift_le_put32(out + 124, drift_crc32c(0, out, 124));
}

int drift_seg_header_decode(const uint8_t *p, size_t avail, drift_seg_header_t *ret)
{
    if (avail < DRIFT_SEG_HDR_SIZE)
        return DRIFT_ETRUNCATED;
    if (memcmp(p, DRIFT_SEG_MAGIC, 8) != 0)
        return DRIFT_EBADMAGIC;
    if (drift_le_get32(p + 8) != DRIFT_SEG_VERSION || drift_le_get32(p + 12) != DRIFT_SEG_HDR_SIZE)
        return DRIFT_EVERSION;
    if (drift_le_get32(p + 124) != drift_crc32c(0, p, 124))
        return DRIFT_ECORRUPT;
    ret->segment_id = drift_le_get64(p + 16);
    ret->first_seq = drift_le_get64(p + 24);
    ret->epoch = drift_le_get64(p + 32);
    ret->created_ns = drift_le_get64(p + 40);
    ret->file_size = drift_le_get64(p + 48);
    ret->flags = drift_le_get32(p + 56);
    ret->key_id = drift_le_get32(p + 60);
    memcpy(ret->prev_hash, p + 64, DRIFT_HASH_LEN);
    if (ret->file_size < DRIFT_SEG_HDR_SIZE)
        return DRIFT_ECORRUPT;
    return 0;
}

int drift_seg_path(char *buf, size_t cap, const char *log_dir, uint64_t id)
{
    int n = snprintf(buf, cap, "%s/%020" PRIu64 ".seg", log_dir, id);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int drift_seg_parse_name(const char *name, uint64_t *ret_id)
{
    if (strlen(name) != 24 || strcmp(name + 20, ".seg") != 0)
        return -EINVAL;
    uint64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return -EINVAL;
        uint64_t d = (uint64_t)(name[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    *ret_id = v;
    return 0;
}

/* qsort comparator for uint64_t. */
static int s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int drift_seg_list(const char *log_dir, uint64_t **ret_ids, size_t *ret_n)
{
    int rc = 0;
    size_t n = 0, cap = 16;
    uint64_t *ids = malloc(cap * sizeof *ids);
    DIR *d = opendir(log_dir);
    if (!ids || !d) {
        rc = -errno;
        goto out;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint64_t id;
        if (drift_seg_parse_name(e->d_name, &id) < 0)
            continue;
        if (n == cap) {
            uint64_t *nids = realloc(ids, 2 * cap * sizeof *ids);
            if (!nids) {
                rc = -ENOMEM;
                goto out;
            }
            ids = nids;
            cap *= 2;
        }
        ids[n++] = id;
    }
    qsort(ids, n, sizeof *ids, s_cmp_u64);
    *ret_ids = ids;
    *ret_n = n;
    ids = NULL;
out:
    if (d)
        closedir(d);
    free(ids);
    return rc;
}

int drift_seg_prealloc(const char *path, uint64_t size)
{
    int rc = 0;
    const size_t chunk = 1u << 20;
    void *zeros = calloc(1, chunk);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (!zeros || fd < 0) {
        rc = zeros ? -errno : -ENOMEM;
        goto out;
    }
    for (uint64_t off = 0; off < size;) {
        size_t n = size - off < chunk ? (size_t)(size - off) : chunk;
        ssize_t w = pwrite(fd, zeros, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            goto out;
        }
        if (w == 0) {
            rc = -ENOSPC;
            goto out;
        }
        off += (uint64_t)w;
    }
    if (fsync(fd) < 0)
        rc = -errno;
out:
    if (fd >= 0) {
        close(fd);
        if (rc < 0)
            unlink(path);
    }
    free(zeros);
    return rc;
}

int drift_seg_install(const char *log_dir, const char *spare_path, const drift_seg_header_t *h, int *ret_fd)
{
    char path[4096];
    uint8_t hdr[DRIFT_SEG_HDR_SIZE];
    int rc = drift_seg_path(path, sizeof path, log_dir, h->segment_id);
    if (rc < 0)
        return rc;
    int fd = open(spare_path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto out;
    }
    if ((uint64_t)st.st_size != h->file_size) {
        rc = -EINVAL;
        goto out;
    }
    drift_seg_header_encode(h, hdr);
    if (pwrite(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr) {
        rc = errno ? -errno : -EIO;
        goto out;
    }
    if (fdatasync(fd) < 0) {
        rc = -errno;
        goto out;
    }
    if (renameat2(AT_FDCWD, spare_path, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
        rc = -errno;
        goto out;
    }
    rc = drift_fsync_dir(log_dir);
out:
    if (rc < 0) {
        close(fd);
        return rc;
    }
    *ret_fd = fd;
    return 0;
}

int drift_seg_open(const char *path, drift_seg_t **ret)
{
    int rc = 0;
    drift_seg_t *self = calloc(1, sizeof *self);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (!self || fd < 0) {
        rc = self ? -errno : -ENOMEM;
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto out;
    }
    if ((uint64_t)st.st_size < DRIFT_SEG_HDR_SIZE) {
        rc = DRIFT_ETRUNCATED;
        goto out;
    }
    self->size = self->map_len = (size_t)st.st_size;
    self->map = mmap(NULL, self->map_len, PROT_READ, MAP_SHARED, fd, 0);
    if (self->map == MAP_FAILED) {
        self->map = NULL;
        rc = -errno;
        goto out;
    }
    rc = drift_seg_header_decode(self->map, self->size, &self->hdr);
    if (rc < 0)
        goto out;
    /* Frames never go past the size the header promises, even if the file grew. */
    if (self->hdr.file_size < self->size)
        self->size = (size_t)self->hdr.file_size;
out:
    if (fd >= 0)
        close(fd);
    if (rc < 0) {
        drift_seg_close(&self);
        return rc;
    }
    *ret = self;
    return 0;
}

void drift_seg_close(drift_seg_t **self_p)
{
    drift_seg_t *self = *self_p;
    if (!self)
        return;
    if (self->map)
        munmap(self->map, self->map_len);
    free(self);
    *self_p = NULL;
}

const drift_seg_header_t *drift_seg_header(const drift_seg_t *self)
{
    return &self->hdr;
}

const uint8_t *drift_seg_data(const drift_seg_t *self)
{
    return self->map;
}

size_t drift_seg_size(const drift_seg_t *self)
{
    return self->size;
}

/* Offset just after the last non-zero byte in [from, size), rounded up to 8; from when all zero. */
static uint64_t s_last_nonzero(const uint8_t *p, uint64_t from, uint64_t size)
{
    uint64_t end = size;
    while (end > from && (end & 7))
        if (p[--end])
            return (end + 8) & ~7ull;
    while (end >= from + 8) {
        uint64_t w;
        memcpy(&w, p + end - 8, 8);
        if (w)
            return end;
        end -= 8;
    }
    while (end > from)
        if (p[--end])
            return (end + 8) & ~7ull;
    return from;
}

int drift_seg_scan(const uint8_t *p, size_t size, const drift_seg_header_t *h, const uint8_t prev_hash[DRIFT_HASH_LEN],
                   uint64_t expect_seq, uint64_t prev_ts, uint64_t prev_epoch, drift_seg_frame_fn fn, void *arg,
                   drift_seg_scan_t *ret)
{
    return drift_seg_scan_ex(p, size, h, prev_hash, expect_seq, prev_ts, prev_epoch, 0, fn, arg, ret);
}

int drift_seg_scan_ex(const uint8_t *p, size_t size, const drift_seg_header_t *h,
                      const uint8_t prev_hash[DRIFT_HASH_LEN], uint64_t expect_seq, uint64_t prev_ts,
                      uint64_t prev_epoch, unsigned flags, drift_seg_frame_fn fn, void *arg, drift_seg_scan_t *ret)
{
    int nohash = (flags & DRIFT_SEG_SCAN_NOHASH) != 0;
    crypto_generichash_state dg;
    crypto_generichash_init(&dg, NULL, 0, DRIFT_HASH_LEN);
    memset(ret, 0, sizeof *ret);
    memcpy(ret->last_hash, prev_hash, DRIFT_HASH_LEN);
    ret->last_seq = expect_seq - 1;
    ret->last_ts = prev_ts;
    ret->last_epoch = prev_epoch;
    if (h->file_size < size)
        size = (size_t)h->file_size;
    uint64_t off = DRIFT_SEG_HDR_SIZE;
    while (off < size) {
        drift_frame_t f;
        int rc = drift_frame_decode(p + off, size - off, &f);
        if (rc == DRIFT_ENOTFOUND)
            break;
        if (rc < 0) {
            ret->bad_rc = rc;
            snprintf(ret->why, sizeof ret->why, "%s",
                     rc == DRIFT_ETRUNCATED ? "frame runs past the end of the segment"
                     : rc == DRIFT_EVERSION ? "frame uses flags this version does not know"
                                            : "frame fails its CRC-32C or structure check");
            break;
        }
        if (f.seq != ret->last_seq + 1) {
            ret->bad_rc = DRIFT_ECHAIN;
            snprintf(ret->why, sizeof ret->why, "frame has seq %" PRIu64 ", expected %" PRIu64, f.seq,
                     ret->last_seq + 1);
            break;
        }
        if (!nohash && memcmp(f.prev_hash, ret->last_hash, DRIFT_HASH_LEN) != 0) {
            ret->bad_rc = DRIFT_ECHAIN;
            snprintf(ret->why, sizeof ret->why, "frame seq %" PRIu64 ": prev_hash does not match the previous frame",
                     f.seq);
            break;
        }
        if (f.ts_ns <= ret->last_ts) {
            ret->bad_rc = DRIFT_ECHAIN;
            snprintf(ret->why, sizeof ret->why, "frame seq %" PRIu64 ": timestamp %" PRIu64 " not after %" PRIu64,
                     f.seq, f.ts_ns, ret->last_ts);
            break;
        }
        if (f.epoch < ret->last_epoch) {
            ret->bad_rc = DRIFT_ECHAIN;
            snprintf(ret->why, sizeof ret->why, "frame seq %" PRIu64 ": epoch %" PRIu64 " below %" PRIu64, f.seq,
                     f.epoch, ret->last_epoch);
            break;
        }
        if (fn) {
            rc = fn(&f, h->segment_id, off, arg);
            if (rc)
                return rc;
        }
        if (!nohash)
            drift_frame_hash(f.bytes, f.len, ret->last_hash);
        uint8_t rec[16];
        drift_le_put32(rec, f.len);
        drift_le_put32(rec + 4, f.crc);
        drift_le_put64(rec + 8, f.seq);
        crypto_generichash_update(&dg, rec, sizeof rec);
        ret->last_off = off;
        ret->last_seq = f.seq;
        ret->last_ts = f.ts_ns;
        ret->last_epoch = f.epoch;
        ret->frames++;
        off += drift_frame_size(f.body_len);
    }
    crypto_generichash_final(&dg, ret->crc_digest, DRIFT_HASH_LEN);
    if (off > size)
        off = size;
    ret->end_off = off;
    ret->garbage_end = s_last_nonzero(p, off, size);
    if (ret->garbage_end > off || ret->bad_rc) {
        ret->stopped = 1;
        if (!ret->bad_rc) {
            ret->bad_rc = DRIFT_ECORRUPT;
            snprintf(ret->why, sizeof ret->why, "zero frame length followed by non-zero bytes");
        }
    }
    if (!ret->stopped)
        return 0;
    /* Is the damage older than a frame that was written after it was known durable? Every frame
     * records the highest seq that was durable when it was written (sync_seq); finding one past
     * the damage with sync_seq >= the damaged seq proves an acknowledged frame is damaged. */
    uint64_t bad_seq = ret->last_seq + 1;
    for (uint64_t o = off + 8; o + DRIFT_FRAME_HDR_LEN <= ret->garbage_end; o += 8) {
        uint32_t len = drift_le_get32(p + o);
        if (len < DRIFT_FRAME_HDR_LEN || len > size - o)
            continue;
        uint64_t seq = drift_le_get64(p + o + 8), sync = drift_le_get64(p + o + 32);
        if (seq <= bad_seq || sync < bad_seq || sync >= seq)
            continue;
        drift_frame_t f;
        if (drift_frame_decode(p + o, size - o, &f) == 0) {
            ret->durable_damage = 1;
            ret->durable_witness_off = o;
            break;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- seal records */

void drift_seal_encode(const drift_seal_t *s, uint8_t out[DRIFT_SEAL_SIZE])
{
    memset(out, 0, DRIFT_SEAL_SIZE);
    memcpy(out, DRIFT_SEAL_MAGIC, 8);
    drift_le_put32(out + 8, DRIFT_SEAL_VERSION);
    drift_le_put32(out + 12, DRIFT_SEAL_SIZE);
    drift_le_put64(out + 16, s->segment_id);
    drift_le_put64(out + 24, s->first_seq);
    drift_le_put64(out + 32, s->last_seq);
    drift_le_put64(out + 40, s->frames);
    drift_le_put64(out + 48, s->end_off);
    drift_le_put64(out + 56, s->file_size);
    drift_le_put64(out + 64, s->created_ns);
    drift_le_put32(out + 72, s->header_crc);
    drift_le_put64(out + 80, s->last_ts);
    drift_le_put64(out + 88, s->last_epoch);
    memcpy(out + 96, s->chain_head, DRIFT_HASH_LEN);
    memcpy(out + 128, s->crc_digest, DRIFT_HASH_LEN);
    drift_le_put32(out + 188, drift_crc32c(0, out, 188));
}

int drift_seal_decode(const uint8_t *p, size_t avail, drift_seal_t *ret)
{
    if (avail < DRIFT_SEAL_SIZE)
        return DRIFT_ETRUNCATED;
    if (memcmp(p, DRIFT_SEAL_MAGIC, 8) != 0)
        return DRIFT_EBADMAGIC;
    if (drift_le_get32(p + 8) != DRIFT_SEAL_VERSION || drift_le_get32(p + 12) != DRIFT_SEAL_SIZE)
        return DRIFT_EVERSION;
    if (drift_le_get32(p + 188) != drift_crc32c(0, p, 188))
        return DRIFT_ECORRUPT;
    ret->segment_id = drift_le_get64(p + 16);
    ret->first_seq = drift_le_get64(p + 24);
    ret->last_seq = drift_le_get64(p + 32);
    ret->frames = drift_le_get64(p + 40);
    ret->end_off = drift_le_get64(p + 48);
    ret->file_size = drift_le_get64(p + 56);
    ret->created_ns = drift_le_get64(p + 64);
    ret->header_crc = drift_le_get32(p + 72);
    ret->last_ts = drift_le_get64(p + 80);
    ret->last_epoch = drift_le_get64(p + 88);
    memcpy(ret->chain_head, p + 96, DRIFT_HASH_LEN);
    memcpy(ret->crc_digest, p + 128, DRIFT_HASH_LEN);
    return 0;
}

int drift_seal_path(char *buf, size_t cap, const char *log_dir, uint64_t id)
{
    int n = snprintf(buf, cap, "%s/%020" PRIu64 ".seal", log_dir, id);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int drift_seal_read(const char *log_dir, uint64_t id, drift_seal_t *ret)
{
    char path[4096];
    uint8_t buf[DRIFT_SEAL_SIZE + 1];
    int rc = drift_seal_path(path, sizeof path, log_dir, id);
    if (rc < 0)
        return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    rc = n < 0 ? -errno : n != (ssize_t)DRIFT_SEAL_SIZE ? DRIFT_ETRUNCATED : drift_seal_decode(buf, (size_t)n, ret);
    close(fd);
    return rc;
}

int drift_seal_write(const char *log_dir, const drift_seal_t *s, int sync_dir)
{
    char path[4096], tmp[4104];
    uint8_t buf[DRIFT_SEAL_SIZE];
    int rc = drift_seal_path(path, sizeof path, log_dir, s->segment_id);
    if (rc < 0)
        return rc;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    drift_seal_encode(s, buf);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    if (pwrite(fd, buf, sizeof buf, 0) != (ssize_t)sizeof buf)
        rc = errno ? -errno : -EIO;
    else if (fdatasync(fd) < 0)
        rc = -errno;
    close(fd);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0) {
        unlink(tmp);
        return rc;
    }
    return sync_dir ? drift_fsync_dir(log_dir) : 0;
}

uint32_t drift_seg_header_crc(const drift_seg_t *self)
{
    return drift_le_get32(self->map + 124);
}
