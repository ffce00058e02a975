/* shm/recovery.h — verifies the whole log and cuts a torn tail.
 *
 * Used by the writer at start (with repair, while it holds log/LOCK) and by
 * offline verification tools (without repair). Rules (docs/storage.md,
 * "Recovery"): every segment header must verify and link (first_seq, prev_hash)
 * to the segment before it; every frame must pass its CRC and link to the one
 * before it (seq, prev_hash, ts, epoch). Only the LAST segment may end in a
 * torn tail — an incomplete frame, zeroed sectors, garbage after the last good
 * frame, a bad final frame — and only if no valid frame after the damage says
 * the damaged frame was already durable (sync_seq). That tail is overwritten
 * with zeros and fdatasynced (repair) and its size reported. Anything else is
 * damage: the function fails with a message naming the file, the byte offset
 * and what is wrong. Sealed segments are verified by up to two helper threads (joined before
 * returning); fn is called on the calling thread, in log order. No global state.
 * With trust_seals (the writer's start, drift_recovery_run_opts), a sealed segment whose seal
 * record (segment.h, docs/storage.md "Seal record") matches it and the next segment's header is
 * CRC-checked frame by frame but not re-hashed; anything else about the record (missing, torn,
 * stale, not matching) means that segment is verified in full, as without the option. */
#ifndef DRIFT_SHM_RECOVERY_H
#define DRIFT_SHM_RECOVERY_H

#include <stdint.h>

#include "shm/segment.h"

typedef struct {
    uint64_t segments, frames;
    uint64_t last_seq, last_ts, last_epoch;
    uint8_t last_hash[DRIFT_HASH_LEN]; /* chain head: hash of the frame last_seq */
    uint64_t active_id;                /* last segment's id, 0 when the log has none */
    uint64_t active_end;               /* where its next frame goes */
    uint64_t active_size;              /* its usable size */
    uint64_t dropped_bytes;            /* torn tail cut (or that would be cut without repair) */
    uint64_t dropped_off;              /* its offset in the last segment */
    char dropped_why[160];
    uint64_t bytes_scanned;
    uint64_t elapsed_ns;
    int threads;                       /* helper threads that verified sealed segments */
    uint64_t bytes_hashed;             /* bytes whose BLAKE2b chain was recomputed */
    uint64_t seg_by_seal;              /* sealed segments verified by CRC + their seal record (not re-hashed) */
    uint64_t seals_rejected;           /* seal records present but not matching (those segments verified in full) */
    uint64_t seals_written;            /* missing/rejected seal records written after a full verification */
    char err[8192]; /* on failure: "<path>: offset N: what is wrong" */
} drift_recovery_t;

/* Verifies every segment of log_dir in order, calling fn for each good frame (may be NULL).
 * repair: zero the torn tail of the last segment and fdatasync it. Returns 0, DRIFT_ECORRUPT or
 * DRIFT_ECHAIN for damage (ret->err tells where), the callback's non-zero value, or -errno. */
int drift_recovery_run(const char *log_dir, int repair, drift_seg_frame_fn fn, void *arg, drift_recovery_t *ret);

/* Options of drift_recovery_run_opts. */
typedef struct {
    int repair;      /* as in drift_recovery_run */
    int trust_seals; /* a sealed segment whose seal record matches it and its neighbours is not re-hashed:
                      * every frame's CRC-32C, seq, ts and epoch are still checked, and the CRCs against the
                      * record's crc_digest (docs/storage.md, "Seal record") */
    int write_seals; /* after a successful run, write the seal records of the sealed segments that had
                      * none (or a rejected one) and were just verified in full (needs repair: the lock) */
} drift_recovery_opts_t;

/* drift_recovery_run with options. drift_recovery_run(d, repair, ...) equals this with
 * {repair, 0, 0}: a full verification of every byte (what offline verification uses). */
int drift_recovery_run_opts(const char *log_dir, const drift_recovery_opts_t *o, drift_seg_frame_fn fn, void *arg,
                            drift_recovery_t *ret);

/* Writes the seal record of the sealed segment id of log_dir: re-checks its frames' CRCs and seqs
 * (no hash), which must end at next_first_seq - 1, and records chain_head (the BLAKE2b of its last
 * frame, which the next segment's header carries; checked by hashing that one frame) — the writer calls it after a rotation, off the
 * commit path. Returns 0, -errno, or DRIFT_ECORRUPT when the segment does not verify. */
int drift_recovery_seal(const char *log_dir, uint64_t id, const uint8_t chain_head[DRIFT_HASH_LEN],
                        uint64_t next_first_seq);

#endif
