/* modules/writer/writer.h — the writer role's entry point (see daemon/role.h for the runtime and exit codes). */
#ifndef DRIFT_MODULES_WRITER_H
#define DRIFT_MODULES_WRITER_H

#include "daemon/role.h"

/* Runs the writer role in this process; returns the exit code. */
int drift_writer_main(drift_role_t *r);

#endif
