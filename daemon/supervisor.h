/* daemon/supervisor.h — the driftdbd supervisor: owns the data directory
 * lock and the control block, spawns and watches the roles, serves health
 * and metrics, talks to systemd. One process, one libevent loop, no threads,
 * no ZeroMQ context; it never writes data files.
 *
 * Restart policy (see docs/operations.md): a role that exits 0 has finished
 * and is not restarted; exit 2 is a fatal configuration error — never
 * respawned, and the daemon stops (exit 2) if the role is essential; any
 * other exit or a signal restarts it after an exponential backoff that grows
 * while the role keeps dying before it has been ready for a while. A role
 * whose heartbeat in the control block stops is SIGKILLed and restarted. */
#ifndef DRIFT_DAEMON_SUPERVISOR_H
#define DRIFT_DAEMON_SUPERVISOR_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"
#include "daemon/options.h"
#include "daemon/roles.h"
#include "shm/control.h"

struct event_base;
struct event;
typedef struct drift_http drift_http_t;

typedef enum {
    DRIFT_CHILD_WAITING = 0, /* not running; (re)spawn at restart_at_ns */
    DRIFT_CHILD_RUNNING = 1,
    DRIFT_CHILD_DONE = 2,  /* exited 0, or removed by a reload: not restarted */
    DRIFT_CHILD_FATAL = 3, /* exited 2: never respawned */
} drift_child_state_t;

/* One role process the supervisor manages (bound to one control-block slot). */
typedef struct {
    const drift_role_desc_t *desc;
    uint32_t instance;
    uint32_t slot;
    pid_t pid;
    drift_child_state_t state;
    uint64_t spawned_ns;     /* monotonic */
    uint64_t ready_ns;       /* monotonic, 0 until the role reported ready */
    uint64_t restart_at_ns;  /* monotonic */
    uint64_t term_sent_ns;   /* when we sent SIGTERM (stop or restart), 0 if not */
    uint32_t failures;       /* consecutive failures, drives the backoff */
    uint64_t restarts;       /* spawns after the first */
    int restart_now;         /* respawn without backoff when it exits (reload, replacement) */
    int remove;              /* do not respawn when it exits (query_workers reduced) */
    int last_status;         /* waitpid status of the last exit */
} drift_child_t;

typedef struct drift_super {
    const drift_opts_t *opts;
    drift_config_t cfg;
    int argc;
    char **argv;
    char exe[PATH_MAX];
    char data_dir[PATH_MAX];
    char run_dir[PATH_MAX];
    int lock_fd;
    struct event_base *base;
    struct event *ev_tick, *ev_chld, *ev_term, *ev_int, *ev_hup;
    drift_ctl_t *ctl;
    drift_ctl_header_t *hdr;
    drift_child_t children[DRIFT_CTL_MAX_SLOTS];
    uint32_t nchildren;
    drift_http_t *http;
    uint64_t start_mono_ns, start_real_ns;
    int ready_sent;    /* READY=1 sent at least once */
    int all_ready;     /* every essential role ready now */
    int stopping;
    int stop_order;    /* role order being stopped now */
    uint64_t stop_deadline_ns;
    int kill_sent;
    int exit_code;
    uint64_t watchdog_ns, last_watchdog_ns;
    uint64_t reloads, reload_failures;
} drift_super_t;

/* Runs the supervisor until SIGTERM/SIGINT or a fatal role failure; returns the exit status. */
int drift_super_main(const drift_opts_t *o, const drift_config_t *cfg, int argc, char **argv);

/* Whether child c counts as ready now (running and its slot says READY). */
int drift_super_child_ready(const drift_super_t *s, const drift_child_t *c);

#endif
