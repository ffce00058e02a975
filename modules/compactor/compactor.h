/* modules/compactor/compactor.h — the compactor role's entry point (see daemon/role.h for the runtime and exit codes). */
#ifndef DRIFT_MODULES_COMPACTOR_H
#define DRIFT_MODULES_COMPACTOR_H

#include "daemon/role.h"

/* Runs the compactor role in this process; returns the exit code. */
int drift_compactor_main(drift_role_t *r);

#endif
