/* shm/logreader.h — the log reader every role uses (indexer, query workers,
 * compactor, replicator, tools).
 *
 * Maps segments read-only (never writable), iterates frames from a seq,
 * fetches the frame at a (segment, offset) location, verifies each frame's
 * CRC-32C and seq on read, and never reads past what the writer published in
 * the control block: segments older than active_segment_id are sealed and
 * read to their end; the active one only up to committed_len; newer ones not
 * at all. Without a control block (offline tools, the daemon stopped) it reads
 * every frame that verifies. One reader per thread (not thread-safe); any
 * number of readers in any number of processes. */
#ifndef DRIFT_SHM_LOGREADER_H
#define DRIFT_SHM_LOGREADER_H

#include <stdint.h>

#include "shm/control.h"
#include "shm/frame.h"

typedef struct drift_logr drift_logr_t;

/* Where a frame lives. */
typedef struct {
    uint64_t segment_id;
    uint64_t offset;
} drift_logr_pos_t;

/* Opens a reader on log_dir; hdr (borrowed, may be NULL) bounds what is visible. Returns 0 or -errno. */
int drift_logr_open(const char *log_dir, const drift_ctl_header_t *hdr, drift_logr_t **ret);
/* Unmaps everything; NULLs *self_p; accepts NULL. */
void drift_logr_close(drift_logr_t **self_p);

/* Positions the iterator so that the next frame returned is the first with seq >= seq. Returns 0 or -errno. */
int drift_logr_seek(drift_logr_t *self, uint64_t seq);
/* Returns 1 and the next visible frame (its bytes stay valid until close), 0 when no further frame
 * is committed yet (call again later), or DRIFT_ECORRUPT / DRIFT_ECHAIN / DRIFT_EVERSION when the
 * bytes there do not verify (drift_logr_error() says where). *ret_pos may be NULL. */
int drift_logr_next(drift_logr_t *self, drift_frame_t *ret, drift_logr_pos_t *ret_pos);
/* Reads the frame at pos, verified and within the committed bounds. Returns 0, DRIFT_ENOTFOUND
 * (no such segment or not committed), or a verification error. */
int drift_logr_fetch(drift_logr_t *self, drift_logr_pos_t pos, drift_frame_t *ret);
/* The highest seq readers may see now (written_seq from the control block; UINT64_MAX without one). */
uint64_t drift_logr_visible_seq(const drift_logr_t *self);
/* A description of the last error (borrowed). */
const char *drift_logr_error(const drift_logr_t *self);

#endif
