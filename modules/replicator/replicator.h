/* modules/replicator/replicator.h — the replicator role's entry point (see daemon/role.h for the runtime and exit codes). */
#ifndef DRIFT_MODULES_REPLICATOR_H
#define DRIFT_MODULES_REPLICATOR_H

#include "daemon/role.h"

/* Runs the replicator role in this process; returns the exit code. */
int drift_replicator_main(drift_role_t *r);

#endif
