/* modules/writer/writer.h — the writer role's entry point (see daemon/role.h for the runtime and
 * exit codes, docs/storage.md for the log format, the commit protocol and recovery). */
#ifndef DRIFT_MODULES_WRITER_H
#define DRIFT_MODULES_WRITER_H

#include "daemon/role.h"

/* hdr->writer_state values: why writes are currently refused (0 = accepting). */
#define DRIFT_WSTATE_OK 0u
#define DRIFT_WSTATE_DISK_FULL 1u  /* the next segment cannot be preallocated: commits that need it get 53100 */
#define DRIFT_WSTATE_RECOVERING 2u /* scanning the log at start */
#define DRIFT_WSTATE_FAILED 3u     /* a write or fdatasync failed; the writer is exiting to restart */

/* Writer counters in its control-block slot (besides DRIFT_CTR_REQUESTS / ERRORS / BYTES_IN). */
#define DRIFT_CTR_W_BATCHES (DRIFT_CTR_ROLE0 + 0)   /* write groups (one flush-thread turn each) */
#define DRIFT_CTR_W_SYNCS (DRIFT_CTR_ROLE0 + 1)     /* fdatasync calls */
#define DRIFT_CTR_W_FRAMES (DRIFT_CTR_ROLE0 + 2)    /* frames (transactions) appended */
#define DRIFT_CTR_W_BYTES (DRIFT_CTR_ROLE0 + 3)     /* frame bytes appended */
#define DRIFT_CTR_W_CONFLICTS (DRIFT_CTR_ROLE0 + 4) /* 23505 / 40001 / 02000 answers */
#define DRIFT_CTR_W_DISKFULL (DRIFT_CTR_ROLE0 + 5)  /* 53100 answers */
#define DRIFT_CTR_W_SEGMENTS (DRIFT_CTR_ROLE0 + 6)  /* segments created */
/* Group-commit gathering (commit_gather, docs/storage.md "Group commit"): pending batches held back for a session
 * expected to join them, and of those, batches that went at the bound with an expected session still missing. */
#define DRIFT_CTR_W_GATHER_WAITS (DRIFT_CTR_ROLE0 + 7)
#define DRIFT_CTR_W_GATHER_TIMEOUTS (DRIFT_CTR_ROLE0 - 1) /* generic slot 7, unused by the writer otherwise */
/* Index flow control (index_stall, docs/indexes.md "Flow control"): episodes in which commits were held back for the
 * indexer, and their total length in milliseconds (generic slots 4 and 5, unused by the writer otherwise). */
#define DRIFT_CTR_W_STALLS (DRIFT_CTR_ROLE0 - 4)
#define DRIFT_CTR_W_STALL_MS (DRIFT_CTR_ROLE0 - 3)
/* Row keys in the writer's key map now (a gauge; keymap_forget_at, docs/storage.md): generic slot 6. */
#define DRIFT_CTR_W_KEYMAP_KEYS (DRIFT_CTR_ROLE0 - 2)
/* Commits that waited the whole index_stall (let through at the bound, not by the indexer's pace): the first of the
 * two counters past the generic ones (DRIFT_CTL_COUNTERS 18 since control-block version 2). */
#define DRIFT_CTR_W_STALL_BOUND 16

/* Runs the writer role in this process; returns the exit code. */
int drift_writer_main(drift_role_t *r);

#endif
