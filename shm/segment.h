/* shm/segment.h — one log segment file, <data_dir>/log/%020llu.seg, named by
 * its first commit seq (byte layout in docs/storage.md, "Segment").
 *
 *   off size field
 *     0   8  magic          "DRFTSEG1"
 *     8   4  version        1
 *    12   4  header_size    128; the first frame starts here
 *    16   8  segment_id     == first_seq for segments written by the writer
 *    24   8  first_seq      seq of the first frame this segment holds
 *    32   8  epoch          epoch when the segment was created
 *    40   8  created_ns     creation time, ns since the Unix epoch
 *    48   8  file_size      preallocated size (frames never go past it)
 *    56   4  flags          DRIFT_SEG_F_*: codecs frames of this segment may use
 *    60   4  key_id         cipher key id in use at creation, 0 = none
 *    64  32  prev_hash      BLAKE2b-256 of the last frame of the previous segment (zeros for seq 1)
 *    96  28  reserved       zero
 *   124   4  header_crc     CRC-32C of bytes [0,124)
 *
 * A segment is created as a pre-zeroed file (zeros written once + fsync, so
 * that later overwrites allocate nothing and a full disk shows up here and not
 * in the middle of a commit), its header written and synced, then renamed to
 * its final name and the directory fsynced. Frames follow the header back to
 * back; the first frame whose len is 0 ends the data. Only the writer process
 * writes (pwrite, never a writable mmap); everyone else maps read-only.
 * Functions here are stateless apart from the mapping object they return. */
#ifndef DRIFT_SHM_SEGMENT_H
#define DRIFT_SHM_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "shm/frame.h"

#define DRIFT_SEG_MAGIC "DRFTSEG1"
#define DRIFT_SEG_VERSION 1u
#define DRIFT_SEG_HDR_SIZE 128u
#define DRIFT_SEG_F_LZ4 0x1u
#define DRIFT_SEG_F_SEALED 0x2u
/* The preallocated next segment while it is being zeroed / once ready. */
#define DRIFT_SEG_SPARE_TMP "spare.tmp"
#define DRIFT_SEG_SPARE "spare"

typedef struct {
    uint64_t segment_id;
    uint64_t first_seq;
    uint64_t epoch;
    uint64_t created_ns;
    uint64_t file_size;
    uint32_t flags;
    uint32_t key_id;
    uint8_t prev_hash[DRIFT_HASH_LEN];
} drift_seg_header_t;

/* Serializes h into out (DRIFT_SEG_HDR_SIZE bytes, CRC included). */
void drift_seg_header_encode(const drift_seg_header_t *h, uint8_t out[DRIFT_SEG_HDR_SIZE]);
/* Parses and verifies a header. Returns 0, DRIFT_ETRUNCATED, DRIFT_EBADMAGIC, DRIFT_EVERSION or DRIFT_ECORRUPT. */
int drift_seg_header_decode(const uint8_t *p, size_t avail, drift_seg_header_t *ret);

/* "<log_dir>/<id as %020llu>.seg" into buf. Returns 0 or -ENAMETOOLONG. */
int drift_seg_path(char *buf, size_t cap, const char *log_dir, uint64_t id);
/* Parses a segment file name ("00000000000000000001.seg"). Returns 0 or -EINVAL. */
int drift_seg_parse_name(const char *name, uint64_t *ret_id);
/* Lists segment ids in log_dir in ascending order (*ret_ids malloc'd, the caller frees). Returns 0 or -errno. */
int drift_seg_list(const char *log_dir, uint64_t **ret_ids, size_t *ret_n);

/* Creates path (O_EXCL) of size bytes by writing zeros, fdatasyncs it. On any failure
 * (typically -ENOSPC) removes the partial file. Returns 0 or -errno. */
int drift_seg_prealloc(const char *path, uint64_t size);
/* Makes the pre-zeroed file at spare_path the segment described by h: writes the header,
 * fdatasyncs, renames it to its final name in log_dir, fsyncs the directory; returns an
 * O_RDWR descriptor in *ret_fd. Returns 0 or -errno (-EEXIST if the segment exists). */
int drift_seg_install(const char *log_dir, const char *spare_path, const drift_seg_header_t *h, int *ret_fd);

/* A read-only mapping of a whole segment file. */
typedef struct drift_seg drift_seg_t;
/* Maps path read-only and parses its header. Returns 0 or -errno / header errors. */
int drift_seg_open(const char *path, drift_seg_t **ret);
/* Unmaps; NULLs *self_p; accepts NULL. */
void drift_seg_close(drift_seg_t **self_p);
/* Header, mapped bytes and size (borrowed, valid until close). */
const drift_seg_header_t *drift_seg_header(const drift_seg_t *self);
const uint8_t *drift_seg_data(const drift_seg_t *self);
size_t drift_seg_size(const drift_seg_t *self);

/* Called for each verified frame during a scan with its offset; a non-zero return stops the scan
 * and is returned by drift_seg_scan. */
typedef int (*drift_seg_frame_fn)(const drift_frame_t *f, uint64_t segment_id, uint64_t off, void *arg);

/* What a scan found. */
typedef struct {
    uint64_t frames;
    uint64_t last_seq, last_ts, last_epoch;
    uint8_t last_hash[DRIFT_HASH_LEN]; /* hash of the last good frame (the chain head) */
    uint64_t end_off;                  /* offset after the last good frame: where the next frame goes */
    int stopped;                       /* 0 clean end (all zeros after end_off), 1 something else follows */
    int bad_rc;                        /* why the frame at end_off is not good (DRIFT_E*) */
    char why[160];                     /* the same, for humans */
    uint64_t garbage_end;              /* offset after the last non-zero byte past end_off */
    int durable_damage;                /* a valid frame past end_off says the damaged one was durable */
    uint64_t durable_witness_off;      /* where that frame is */
    uint8_t crc_digest[DRIFT_HASH_LEN]; /* BLAKE2b-256 of (len, crc32c, seq) of every good frame (seal records) */
    uint64_t last_off;                 /* offset of the last good frame (when frames > 0) */
} drift_seg_scan_t;

/* drift_seg_scan_ex flags. */
#define DRIFT_SEG_SCAN_NOHASH 0x1u /* no BLAKE2b: prev_hash links are not checked, last_hash is left as given */

/* Verifies every frame of a segment (data p, size bytes, header h): CRC, dense seq starting at
 * expect_seq, strictly increasing ts (> prev_ts), non-decreasing epoch, prev_hash chain from
 * prev_hash. Stops at the first frame that is not good and describes the rest (see
 * drift_seg_scan_t). Returns 0 or the callback's non-zero value. */
int drift_seg_scan(const uint8_t *p, size_t size, const drift_seg_header_t *h, const uint8_t prev_hash[DRIFT_HASH_LEN],
                   uint64_t expect_seq, uint64_t prev_ts, uint64_t prev_epoch, drift_seg_frame_fn fn, void *arg,
                   drift_seg_scan_t *ret);
/* drift_seg_scan with flags (DRIFT_SEG_SCAN_*). */
int drift_seg_scan_ex(const uint8_t *p, size_t size, const drift_seg_header_t *h,
                      const uint8_t prev_hash[DRIFT_HASH_LEN], uint64_t expect_seq, uint64_t prev_ts,
                      uint64_t prev_epoch, unsigned flags, drift_seg_frame_fn fn, void *arg, drift_seg_scan_t *ret);

/* ---- seal records: <log_dir>/%020llu.seal, one per sealed segment (docs/storage.md, "Seal record")
 *
 *   off size field
 *     0   8  magic          "DRFTSEAL"
 *     8   4  version        1
 *    12   4  size           192
 *    16   8  segment_id     the segment it describes (== its header's segment_id and file name)
 *    24   8  first_seq      its header's first_seq
 *    32   8  last_seq       seq of its last frame
 *    40   8  frames         number of frames
 *    48   8  end_off        offset after the last frame (header + frames + padding)
 *    56   8  file_size      its header's file_size (== the file's length)
 *    64   8  created_ns     its header's created_ns   } which incarnation of the segment id
 *    72   4  header_crc     its header's header_crc   }
 *    76   4  reserved       zero
 *    80   8  last_ts        ts_ns of the last frame
 *    88   8  last_epoch     epoch of the last frame
 *    96  32  chain_head     BLAKE2b-256 of the last frame (== the next segment header's prev_hash)
 *   128  32  crc_digest     BLAKE2b-256 over (len u32, crc32c u32, seq u64) LE of every frame in order
 *   160  28  reserved       zero
 *   188   4  seal_crc       CRC-32C of bytes [0,188)
 *
 * Written by the writer after the segment is sealed (never needed for correctness: a missing,
 * torn or non-matching seal record only means "verify that segment in full"). */
#define DRIFT_SEAL_MAGIC "DRFTSEAL"
#define DRIFT_SEAL_VERSION 1u
#define DRIFT_SEAL_SIZE 192u

typedef struct {
    uint64_t segment_id, first_seq, last_seq, frames, end_off, file_size, created_ns;
    uint32_t header_crc;
    uint64_t last_ts, last_epoch;
    uint8_t chain_head[DRIFT_HASH_LEN];
    uint8_t crc_digest[DRIFT_HASH_LEN];
} drift_seal_t;

/* Serializes s into out (DRIFT_SEAL_SIZE bytes, CRC included). */
void drift_seal_encode(const drift_seal_t *s, uint8_t out[DRIFT_SEAL_SIZE]);
/* Parses and verifies a seal record. Returns 0, DRIFT_ETRUNCATED, DRIFT_EBADMAGIC, DRIFT_EVERSION or DRIFT_ECORRUPT. */
int drift_seal_decode(const uint8_t *p, size_t avail, drift_seal_t *ret);
/* "<log_dir>/<id as %020llu>.seal" into buf. Returns 0 or -ENAMETOOLONG. */
int drift_seal_path(char *buf, size_t cap, const char *log_dir, uint64_t id);
/* Reads and decodes the seal record of segment id. Returns 0, -ENOENT (none), -errno or a decode error. */
int drift_seal_read(const char *log_dir, uint64_t id, drift_seal_t *ret);
/* Writes the seal record (a .tmp file, fdatasync, rename); sync_dir: fsync log_dir after.
 * Returns 0 or -errno. */
int drift_seal_write(const char *log_dir, const drift_seal_t *s, int sync_dir);
/* The header CRC as stored in a mapped segment (what a seal record ties itself to). */
uint32_t drift_seg_header_crc(const drift_seg_t *self);

#endif
