/* modules/indexer/indexer.c — the indexer role. Not built yet beyond the lifecycle: it
 * starts, reports ready, heartbeats and exits cleanly on SIGTERM (see
 * docs/architecture.md for what it will do). */
#include "modules/indexer/indexer.h"

int drift_indexer_main(drift_role_t *r)
{
    drift_role_ready(r);
    return drift_role_run(r);
}
