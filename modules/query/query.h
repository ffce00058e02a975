/* modules/query/query.h — the query role's entry point (see daemon/role.h for the runtime and exit codes). */
#ifndef DRIFT_MODULES_QUERY_H
#define DRIFT_MODULES_QUERY_H

#include "daemon/role.h"

/* Runs the query role in this process; returns the exit code. */
int drift_query_main(drift_role_t *r);

#endif
