/* modules/writer/lagring.h — how long the oldest commit the indexer has not
 * applied has waited, for the writer's index flow control (index_stall,
 * docs/indexes.md "Flow control"): a ring of (seq, commit timestamp) samples,
 * one per millisecond of commits, searched by seq. Single-threaded (the
 * writer's event loop). */
#ifndef DRIFT_WRITER_LAGRING_H
#define DRIFT_WRITER_LAGRING_H

#include <stdint.h>

/* Samples kept: at one a millisecond of commits, the last 8 s of them (power of 2). */
#define DRIFT_LAGRING_SLOTS 8192

typedef struct drift_lagring drift_lagring_t;

/* Returns NULL + errno. */
drift_lagring_t *drift_lagring_new(void);
/* NULLs *self_p; accepts NULL. */
void drift_lagring_destroy(drift_lagring_t **self_p);
/* Commit seq got timestamp ts (ns; seqs and timestamps only grow): kept when it is the first of its
 * millisecond. */
void drift_lagring_note(drift_lagring_t *self, uint64_t seq, uint64_t ts);
/* How long, at now (the timestamps' clock), the oldest commit after indexed seq `indexed` has waited,
 * given that commits up to `written` are written (0 when indexed >= written, or nothing was noted): at
 * most a millisecond more than the truth (its sample is the first of its millisecond), or, when that commit
 * is older than every sample, the age of the oldest sample (the lag is at least that). */
uint64_t drift_lagring_age(const drift_lagring_t *self, uint64_t indexed, uint64_t written, uint64_t now);

#endif
