/* daemon/role.c — see role.h. Runs in every role process, single-threaded. */
#include "daemon/role.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/options.h"
#include "daemon/roles.h"

void drift_role_ready(drift_role_t *r)
{
    uint64_t now = drift_now_mono_ns();
    atomic_store(&r->slot->heartbeat_mono_ns, now);
    atomic_store(&r->slot->ready_mono_ns, now);
    atomic_store(&r->slot->state, DRIFT_SLOT_READY);
    DLOG_INFO("ready");
}

void drift_role_exit(drift_role_t *r, int code)
{
    r->exit_code = code;
    event_base_loopbreak(r->base);
}

int drift_run_endpoint(const char *data_dir, const char *name, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "ipc://%s/run/%s.sock", data_dir, name);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int drift_role_endpoint(const drift_role_t *r, const char *name, char *buf, size_t cap)
{
    return drift_run_endpoint(r->data_dir, name, buf, cap);
}

static void s_on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    drift_role_t *r = arg;
    atomic_store(&r->slot->heartbeat_mono_ns, drift_now_mono_ns());
    /* The supervisor is our parent; if it is gone, PDEATHSIG should have killed us already. */
    if (getppid() == 1) {
        DLOG_ERR("supervisor is gone; exiting");
        drift_role_exit(r, DRIFT_EXIT_OK);
        return;
    }
    if (r->on_heartbeat)
        r->on_heartbeat(r);
}

static void s_on_term(evutil_socket_t sig, short what, void *arg)
{
    drift_role_t *r = arg;
    if (r->stopping)
        return;
    r->stopping = 1;
    atomic_store(&r->slot->state, DRIFT_SLOT_STOPPING);
    DLOG_INFO("stopping (signal %d)", (int)sig);
    if (r->on_stop)
        r->on_stop(r);
    else
        drift_role_exit(r, DRIFT_EXIT_OK);
}

static void s_on_hup(evutil_socket_t sig, short what, void *arg)
{
    drift_role_t *r = arg;
    drift_config_t cfg;
    char err[1024];
    if (drift_opts_load_config(r->opts, &cfg, err, sizeof err) < 0) {
        DLOG_WARN("reload: %s; keeping the running configuration", err);
        return;
    }
    drift_log_set_level(drift_config_log_level(&cfg));
    if (strcmp(cfg.log_target, r->cfg.log_target) != 0 && drift_log_set_target(cfg.log_target) < 0)
        DLOG_WARN("reload: cannot open log target %s", cfg.log_target);
    r->cfg = cfg;
    DLOG_DEBUG("configuration re-read on SIGHUP"); /* visible only once the new level is in force */
    if (r->on_reload)
        r->on_reload(r);
}

int drift_role_run(drift_role_t *r)
{
    if (event_base_dispatch(r->base) < 0) {
        DLOG_ERR("event loop failed");
        return DRIFT_EXIT_RESTART;
    }
    return r->exit_code;
}

/* Test hooks (documented in docs/operations.md): DRIFT_FAULT=crash_at_start:ROLE makes that
 * role die by SIGABRT before it is ready; DRIFT_FAULT=fatal_at_start:ROLE makes it exit with
 * code 2 (fatal configuration error). Returns an exit code to use, or -1 to go on. */
static int s_fault_at_start(const char *role)
{
    const char *f = getenv("DRIFT_FAULT");
    if (!f)
        return -1;
    const char *colon = strchr(f, ':');
    if (!colon || strcmp(colon + 1, role) != 0)
        return -1;
    if (strncmp(f, "crash_at_start:", 15) == 0) {
        DLOG_ERR("DRIFT_FAULT: crashing at start");
        signal(SIGABRT, SIG_DFL);
        raise(SIGABRT);
        _exit(DRIFT_EXIT_RESTART);
    }
    if (strncmp(f, "fatal_at_start:", 15) == 0) {
        DLOG_ERR("DRIFT_FAULT: fatal configuration error at start");
        return DRIFT_EXIT_FATAL;
    }
    return -1;
}

int drift_role_main(const drift_opts_t *opts, const drift_config_t *cfg)
{
    const drift_role_desc_t *desc = drift_roles_find(opts->role);
    if (!desc) {
        fprintf(stderr, "driftdbd: unknown role '%s'\n", opts->role);
        return DRIFT_EXIT_FATAL;
    }
    /* Die with the supervisor even if it is SIGKILLed (it set this before exec too; exec keeps it
     * unless the binary is set-id, and re-setting it here closes any gap). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        return DRIFT_EXIT_OK;

    int code = DRIFT_EXIT_RESTART;
    drift_role_t *r = calloc(1, sizeof *r);
    if (!r)
        return DRIFT_EXIT_RESTART;
    r->cfg = *cfg;
    r->opts = opts;
    r->kind = desc->kind;
    if (!realpath(cfg->data_dir, r->data_dir)) {
        fprintf(stderr, "driftdbd: data_dir %s: %s\n", cfg->data_dir, strerror(errno));
        goto out;
    }
    drift_path_join(r->run_dir, sizeof r->run_dir, r->data_dir, "run");
    char ctl_path[PATH_MAX + 16];
    snprintf(ctl_path, sizeof ctl_path, "%s/control", r->run_dir);
    int rc = drift_ctl_attach(ctl_path, &r->ctl);
    if (rc < 0) {
        fprintf(stderr, "driftdbd --role=%s: control block %s: %s\n", opts->role, ctl_path, drift_strerror(rc));
        goto out;
    }
    r->hdr = drift_ctl_header(r->ctl);
    r->slot = opts->slot >= 0 ? drift_ctl_slot(r->ctl, (uint32_t)opts->slot) : NULL;
    if (!r->slot || atomic_load(&r->slot->role) != (uint32_t)desc->kind) {
        fprintf(stderr, "driftdbd --role=%s: slot %lld is not assigned to this role\n", opts->role,
                (long long)opts->slot);
        code = DRIFT_EXIT_FATAL;
        goto out;
    }
    r->instance = atomic_load(&r->slot->instance);
    if (desc->kind == DRIFT_ROLE_QUERY)
        snprintf(r->name, sizeof r->name, "%s.%u", desc->name, r->instance);
    else
        snprintf(r->name, sizeof r->name, "%s", desc->name);
    drift_log_set_tag(r->name);
    atomic_store(&r->slot->heartbeat_mono_ns, drift_now_mono_ns());

    int fault = s_fault_at_start(desc->name);
    if (fault >= 0) {
        code = fault;
        goto out;
    }

    r->base = event_base_new();
    if (!r->base)
        goto out;
    r->ev_term = evsignal_new(r->base, SIGTERM, s_on_term, r);
    r->ev_int = evsignal_new(r->base, SIGINT, s_on_term, r);
    r->ev_hup = evsignal_new(r->base, SIGHUP, s_on_hup, r);
    r->ev_hb = event_new(r->base, -1, EV_PERSIST, s_on_heartbeat, r);
    if (!r->ev_term || !r->ev_int || !r->ev_hup || !r->ev_hb)
        goto out;
    struct timeval tv = {(time_t)(cfg->heartbeat_interval_ns / 1000000000ull),
                         (suseconds_t)(cfg->heartbeat_interval_ns % 1000000000ull / 1000)};
    event_add(r->ev_term, NULL);
    event_add(r->ev_int, NULL);
    event_add(r->ev_hup, NULL);
    event_add(r->ev_hb, &tv);
    signal(SIGPIPE, SIG_IGN);

    code = desc->main(r);
    DLOG_INFO("exiting with code %d", code);
out:
    if (r->ev_hb)
        event_free(r->ev_hb);
    if (r->ev_term)
        event_free(r->ev_term);
    if (r->ev_int)
        event_free(r->ev_int);
    if (r->ev_hup)
        event_free(r->ev_hup);
    if (r->base)
        event_base_free(r->base);
    drift_ctl_detach(&r->ctl);
    free(r);
    return code;
}
