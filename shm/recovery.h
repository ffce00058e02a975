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
 * returning); fn is called on the calling thread, in log order. No global state. */
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
    char err[8192]; /* on failure: "<path>: offset N: what is wrong" */
} drift_recovery_t;

/* Verifies every segment of log_dir in order, calling fn for each good frame (may be NULL).
 * repair: zero the torn tail of the last segment and fdatasync it. Returns 0, DRIFT_ECORRUPT or
 * DRIFT_ECHAIN for damage (ret->err tells where), the callback's non-zero value, or -errno. */
int drift_recovery_run(const char *log_dir, int repair, drift_seg_frame_fn fn, void *arg, drift_recovery_t *ret);

#endif
