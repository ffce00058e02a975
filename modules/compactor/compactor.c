/* modules/compactor/compactor.c — the compactor role. Not built yet beyond the lifecycle: it
 * starts, reports ready, heartbeats and exits cleanly on SIGTERM (see
 * docs/architecture.md for what it will do). */
#include "modules/compactor/compactor.h"

int drift_compactor_main(drift_role_t *r)
{
    drift_role_ready(r);
    return drift_role_run(r);
}
