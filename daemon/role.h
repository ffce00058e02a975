/* daemon/role.h — the runtime every role process runs inside.
 *
 * After the supervisor fork+execs `driftdbd --role=NAME --slot=N ...`, main()
 * builds a drift_role_t: the configuration (re-read from the same file and
 * flags), the control block mapped MAP_SHARED, the role's own slot, and a
 * libevent base with SIGTERM/SIGINT/SIGHUP handlers and the heartbeat timer.
 * The role's main function adds its sockets and timers, calls
 * drift_role_ready() once it serves, and returns an exit code from
 * drift_role_run(). Single-threaded; one ZeroMQ context per role, created
 * after exec by the role itself.
 *
 * Exit-code contract (the supervisor's restart policy, see docs/operations.md):
 *   0 DRIFT_EXIT_OK      finished, do not restart
 *   1 DRIFT_EXIT_RESTART failed, restart with exponential backoff
 *   2 DRIFT_EXIT_FATAL   configuration error, never respawn (the daemon stops if the role is essential)
 * Death by a signal is treated like exit 1. */
#ifndef DRIFT_DAEMON_ROLE_H
#define DRIFT_DAEMON_ROLE_H

#include <limits.h>
#include <stdint.h>

#include "common/config.h"
#include "common/roles.h"
#include "shm/control.h"

#define DRIFT_EXIT_OK 0
#define DRIFT_EXIT_RESTART 1
#define DRIFT_EXIT_FATAL 2

struct event_base;
struct event;
typedef struct drift_role drift_role_t;

struct drift_role {
    drift_role_kind_t kind;
    uint32_t instance;
    char name[32];              /* "writer", "query.1" */
    drift_config_t cfg;
    char data_dir[PATH_MAX];    /* absolute */
    char run_dir[PATH_MAX];     /* <data_dir>/run */
    drift_ctl_t *ctl;
    drift_ctl_header_t *hdr;    /* borrowed from ctl */
    drift_ctl_slot_t *slot;     /* this process's slot */
    struct event_base *base;
    int stopping;               /* set once SIGTERM arrived */
    /* Optional hooks set by the role's main before drift_role_run(). */
    void (*on_stop)(drift_role_t *r);   /* default: leave the loop */
    void (*on_reload)(drift_role_t *r); /* after cfg was re-read on SIGHUP */
    void (*on_heartbeat)(drift_role_t *r);
    void *user;
    /* private */
    struct event *ev_hb, *ev_term, *ev_int, *ev_hup;
    const struct drift_opts_s *opts;
    int exit_code;
};

typedef int (*drift_role_main_fn)(drift_role_t *r);

/* Marks the slot READY (call once the role serves). */
void drift_role_ready(drift_role_t *r);
/* Leaves the event loop; drift_role_run() then returns code. */
void drift_role_exit(drift_role_t *r, int code);
/* Runs the event loop until a stop; returns the exit code. */
int drift_role_run(drift_role_t *r);
/* Writes "ipc://<run_dir>/<name>.sock" into buf. Returns 0 or -ENAMETOOLONG. */
int drift_role_endpoint(const drift_role_t *r, const char *name, char *buf, size_t cap);
/* Same for any data directory (for tools and tests that are not a role). */
int drift_run_endpoint(const char *data_dir, const char *name, char *buf, size_t cap);

struct drift_opts_s;
/* Used by daemon/main.c: sets up and runs the role named in opts (--role, --slot) with cfg
 * (built from the same opts); returns the process exit code. */
int drift_role_main(const struct drift_opts_s *opts, const drift_config_t *cfg);

#endif
