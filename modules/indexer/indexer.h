/* modules/indexer/indexer.h — the indexer role's entry point (see daemon/role.h for the runtime and exit codes). */
#ifndef DRIFT_MODULES_INDEXER_H
#define DRIFT_MODULES_INDEXER_H

#include "daemon/role.h"

/* Runs the indexer role in this process; returns the exit code. */
int drift_indexer_main(drift_role_t *r);

#endif
