/* modules/indexer/indexer.h — the indexer role's entry point (see daemon/role.h for the runtime and exit codes,
 * docs/indexes.md for what it maintains). */
#ifndef DRIFT_MODULES_INDEXER_H
#define DRIFT_MODULES_INDEXER_H

#include "daemon/role.h"

/* Indexer counters in its control-block slot (the latency histogram holds batch durations). */
#define DRIFT_CTR_IX_FRAMES (DRIFT_CTR_ROLE0 + 0)  /* frames (commits) applied */
#define DRIFT_CTR_IX_BATCHES (DRIFT_CTR_ROLE0 + 1) /* LMDB write transactions committed */
#define DRIFT_CTR_IX_SKIPPED (DRIFT_CTR_ROLE0 + 2) /* ops skipped as meaningless (see shm/index.h) */

/* Runs the indexer role in this process; returns the exit code. */
int drift_indexer_main(drift_role_t *r);

#endif
