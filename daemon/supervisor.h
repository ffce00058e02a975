/* daemon/supervisor.h — the driftdbd supervisor: owns the data directory
 * lock and the control block, spawns and watches the roles, serves health
 * and metrics, talks to systemd. Single-threaded libevent loop. */
#ifndef DRIFT_DAEMON_SUPERVISOR_H
#define DRIFT_DAEMON_SUPERVISOR_H

#include "common/config.h"
#include "daemon/options.h"

/* Runs the supervisor until SIGTERM/SIGINT or a fatal role failure; returns the exit status. */
int drift_super_main(const drift_opts_t *o, const drift_config_t *cfg, int argc, char **argv);

#endif
