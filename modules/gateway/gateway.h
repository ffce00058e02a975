/* modules/gateway/gateway.h — the gateway role's entry point (see daemon/role.h for the runtime and exit codes). */
#ifndef DRIFT_MODULES_GATEWAY_H
#define DRIFT_MODULES_GATEWAY_H

#include "daemon/role.h"

/* Runs the gateway role in this process; returns the exit code. */
int drift_gateway_main(drift_role_t *r);

#endif
