/* daemon/supervisor.c — see supervisor.h. Modelled on Postfix master (role
 * table, fork+exec, reap loop, throttle of children dying before ready) and
 * nginx/PostgreSQL exit-code contracts. Everything runs on one libevent loop:
 * signals arrive as events, a 50 ms tick drives spawns, heartbeat checks,
 * readiness, the watchdog and the staged stop. */
#include "daemon/supervisor.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/util.h"
#include "config.h"
#include "daemon/http.h"
#include "daemon/notify.h"

#define TICK_MS 50
#define STABLE_NS (10ull * 1000000000ull) /* ready this long => failures reset */

static void s_status(drift_super_t *s);

int drift_super_child_ready(const drift_super_t *s, const drift_child_t *c)
{
    if (c->state != DRIFT_CHILD_RUNNING || c->pid <= 0)
        return 0;
    drift_ctl_slot_t *slot = drift_ctl_slot(s->ctl, c->slot);
    return atomic_load(&slot->state) == DRIFT_SLOT_READY && atomic_load(&slot->pid) == c->pid;
}

/* Takes the data directory lock; on contention names the holder's pid. */
static int s_lock_data_dir(drift_super_t *s)
{
    char path[PATH_MAX];
    if (drift_path_join(path, sizeof path, s->data_dir, "LOCK") < 0)
        return -ENAMETOOLONG;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        DLOG_ERR("cannot open %s: %s", path, strerror(errno));
        return -errno;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        char buf[32] = "";
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = 0;
        close(fd);
        if (e == EWOULDBLOCK) {
            DLOG_ERR("data directory %s is locked by another driftdbd (pid %ld); refusing to start", s->data_dir,
                     strtol(buf, NULL, 10));
            return DRIFT_ELOCKED;
        }
        DLOG_ERR("cannot lock %s: %s", path, strerror(e));
        return -e;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        DLOG_ERR("cannot write %s: %s", path, strerror(errno));
        close(fd);
        return -EIO;
    }
    s->lock_fd = fd;
    return 0;
}

/* Adds a child for (desc, instance) bound to a control-block slot. */
static drift_child_t *s_add_child(drift_super_t *s, const drift_role_desc_t *desc, uint32_t instance)
{
    if (s->nchildren >= DRIFT_CTL_MAX_SLOTS)
        return NULL;
    int slot = drift_ctl_claim_slot(s->ctl, desc->kind, instance);
    if (slot < 0)
        return NULL;
    drift_child_t *c = &s->children[s->nchildren++];
    memset(c, 0, sizeof *c);
    c->desc = desc;
    c->instance = instance;
    c->slot = (uint32_t)slot;
    c->state = DRIFT_CHILD_WAITING;
    c->restart_at_ns = 0;
    return c;
}

static const char *s_child_name(const drift_child_t *c, char *buf, size_t cap)
{
    if (c->desc->kind == DRIFT_ROLE_QUERY)
        snprintf(buf, cap, "%s.%u", c->desc->name, c->instance);
    else
        snprintf(buf, cap, "%s", c->desc->name);
    return buf;
}

/* Builds the role table from the configuration (start order = table order). */
static int s_plan_children(drift_super_t *s)
{
    size_t n;
    const drift_role_desc_t *t = drift_roles_table(&n);
    for (size_t i = 0; i < n; i++) {
        int count = 1;
        if (t[i].kind == DRIFT_ROLE_QUERY)
            count = drift_config_query_workers(&s->cfg);
        if (t[i].kind == DRIFT_ROLE_REPLICATOR && s->cfg.replication_mode == DRIFT_REPL_NONE)
            count = 0;
        for (int k = 0; k < count; k++)
            if (!s_add_child(s, &t[i], (uint32_t)k))
                return DRIFT_EFULL;
    }
    return 0;
}

/* fork+exec one role: `driftdbd <the supervisor's args> --role=NAME --slot=N`. */
static int s_spawn(drift_super_t *s, drift_child_t *c)
{
    char name[48], role_arg[64], slot_arg[32];
    snprintf(role_arg, sizeof role_arg, "--role=%s", c->desc->name);
    snprintf(slot_arg, sizeof slot_arg, "--slot=%u", c->slot);
    char **argv = calloc((size_t)s->argc + 3, sizeof *argv);
    if (!argv)
        return -ENOMEM;
    for (int i = 0; i < s->argc; i++)
        argv[i] = s->argv[i];
    argv[s->argc] = role_arg;
    argv[s->argc + 1] = slot_arg;

    drift_ctl_slot_t *slot = drift_ctl_slot(s->ctl, c->slot);
    uint64_t now = drift_now_mono_ns();
    atomic_store(&slot->state, DRIFT_SLOT_STARTING);
    atomic_store(&slot->heartbeat_mono_ns, now);
    atomic_store(&slot->ready_mono_ns, 0);
    atomic_store(&slot->started_real_ns, drift_now_real_ns());
    uint64_t gen = atomic_fetch_add(&slot->generation, 1) + 1;
    if (gen > 1)
        atomic_fetch_add(&slot->restarts, 1);

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        free(argv);
        atomic_store(&slot->state, DRIFT_SLOT_EXITED);
        return -e;
    }
    if (pid == 0) {
        /* Child: die with the supervisor, even after a SIGKILL of it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(DRIFT_EXIT_OK);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(s->exe, argv);
        fprintf(stderr, "driftdbd: exec %s: %s\n", s->exe, strerror(errno));
        _exit(DRIFT_EXIT_FATAL);
    }
    free(argv);
    atomic_store(&slot->pid, (int32_t)pid);
    if (c->spawned_ns)
        c->restarts++;
    c->pid = pid;
    c->state = DRIFT_CHILD_RUNNING;
    c->spawned_ns = now;
    c->ready_ns = 0;
    c->term_sent_ns = 0;
    c->restart_now = 0;
    DLOG_INFO("started %s (pid %d, slot %u, generation %llu)", s_child_name(c, name, sizeof name), (int)pid,
              c->slot, (unsigned long long)gen);
    return 0;
}

static uint64_t s_backoff_ns(const drift_super_t *s, uint32_t failures)
{
    uint64_t d = s->cfg.restart_backoff_min_ns;
    for (uint32_t i = 1; i < failures && d < s->cfg.restart_backoff_max_ns; i++)
        d *= 2;
    return d < s->cfg.restart_backoff_max_ns ? d : s->cfg.restart_backoff_max_ns;
}

static void s_begin_stop(drift_super_t *s, int exit_code, const char *why)
{
    if (s->stopping)
        return;
    s->stopping = 1;
    s->exit_code = exit_code;
    s->stop_order = 1 << 30;
    s->stop_deadline_ns = 0;
    DLOG_NOTICE("stopping: %s", why);
    drift_notifyf("STOPPING=1\nSTATUS=stopping: %s", why);
}

/* Applies the restart policy to a child that has just been reaped. */
static void s_on_exit(drift_super_t *s, drift_child_t *c, int status)
{
    char name[48];
    s_child_name(c, name, sizeof name);
    uint64_t now = drift_now_mono_ns();
    drift_ctl_slot_t *slot = drift_ctl_slot(s->ctl, c->slot);
    atomic_store(&slot->state, DRIFT_SLOT_EXITED);
    atomic_store(&slot->pid, 0);
    c->pid = 0;
    c->last_status = status;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    char how[64];
    if (WIFEXITED(status))
        snprintf(how, sizeof how, "exit code %d", code);
    else
        snprintf(how, sizeof how, "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));

    if (s->stopping || c->remove) {
        DLOG_INFO("%s stopped (%s)", name, how);
        c->state = DRIFT_CHILD_DONE;
        return;
    }
    if (c->restart_now) {
        DLOG_INFO("%s exited (%s); restarting as requested", name, how);
        c->state = DRIFT_CHILD_WAITING;
        c->restart_at_ns = now;
        c->failures = 0;
        return;
    }
    if (code == DRIFT_EXIT_OK) {
        DLOG_NOTICE("%s finished (exit code 0); not restarting", name);
        c->state = DRIFT_CHILD_DONE;
        if (c->desc->essential)
            s_begin_stop(s, 1, "an essential role finished");
        return;
    }
    if (code == DRIFT_EXIT_FATAL) {
        DLOG_ERR("%s failed with a fatal configuration error (exit code 2); not respawning", name);
        c->state = DRIFT_CHILD_FATAL;
        if (c->desc->essential)
            s_begin_stop(s, DRIFT_EXIT_FATAL, "an essential role has a fatal configuration error");
        return;
    }
    if (c->ready_ns && now - c->ready_ns >= STABLE_NS)
        c->failures = 1;
    else
        c->failures++;
    uint64_t delay = s_backoff_ns(s, c->failures);
    c->state = DRIFT_CHILD_WAITING;
    c->restart_at_ns = now + delay;
    DLOG_WARN("%s died (%s)%s; restarting in %llu ms (failure %u)", name, how,
              c->ready_ns ? "" : " before it was ready", (unsigned long long)(delay / 1000000), c->failures);
}

static void s_on_sigchld(evutil_socket_t sig, short what, void *arg)
{
    drift_super_t *s = arg;
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            break;
        for (uint32_t i = 0; i < s->nchildren; i++) {
            if (s->children[i].pid == pid) {
                s_on_exit(s, &s->children[i], status);
                break;
            }
        }
    }
    s_status(s);
}

/* Sends systemd the readiness/status line when it changes. */
static void s_status(drift_super_t *s)
{
    if (s->stopping)
        return;
    int ready = 1, nready = 0, nessential = 0;
    char missing[512] = "";
    for (uint32_t i = 0; i < s->nchildren; i++) {
        drift_child_t *c = &s->children[i];
        if (!c->desc->essential || c->state == DRIFT_CHILD_DONE)
            continue;
        nessential++;
        if (drift_super_child_ready(s, c)) {
            nready++;
            continue;
        }
        ready = 0;
        char name[48];
        size_t len = strlen(missing);
        snprintf(missing + len, sizeof missing - len, "%s%s", len ? ", " : "", s_child_name(c, name, sizeof name));
    }
    if (ready == s->all_ready && s->ready_sent)
        return;
    s->all_ready = ready;
    if (ready) {
        if (!s->ready_sent)
            DLOG_NOTICE("all %d essential roles ready; serving on %s", nessential, s->cfg.listen);
        else
            DLOG_NOTICE("all essential roles ready again");
        drift_notifyf("READY=1\nSTATUS=serving on %s, %d roles ready", s->cfg.listen, nready);
        s->ready_sent = 1;
    } else if (s->ready_sent) {
        drift_notifyf("STATUS=degraded: waiting for %s", missing);
    }
}

/* Checks heartbeats and start timeouts; kills roles that stopped answering. */
static void s_check_children(drift_super_t *s, uint64_t now)
{
    char name[48];
    for (uint32_t i = 0; i < s->nchildren; i++) {
        drift_child_t *c = &s->children[i];
        if (c->state != DRIFT_CHILD_RUNNING || c->pid <= 0)
            continue;
        drift_ctl_slot_t *slot = drift_ctl_slot(s->ctl, c->slot);
        uint32_t st = atomic_load(&slot->state);
        if (st == DRIFT_SLOT_READY && !c->ready_ns) {
            c->ready_ns = now;
            DLOG_INFO("%s is ready (%.1f ms after start)", s_child_name(c, name, sizeof name),
                      (double)(now - c->spawned_ns) / 1e6);
        }
        if (c->term_sent_ns) {
            if (now - c->term_sent_ns > s->cfg.shutdown_grace_ns) {
                DLOG_WARN("%s did not exit within shutdown_grace; sending SIGKILL", s_child_name(c, name, sizeof name));
                kill(c->pid, SIGKILL);
                c->term_sent_ns = now; /* don't repeat every tick */
            }
            continue;
        }
        uint64_t hb = atomic_load(&slot->heartbeat_mono_ns);
        if (now < c->spawned_ns)
            continue; /* spawned during this tick */
        if (st == DRIFT_SLOT_STARTING && now - c->spawned_ns > s->cfg.start_timeout_ns) {
            DLOG_ERR("%s not ready after %llu ms; killing it", s_child_name(c, name, sizeof name),
                     (unsigned long long)((now - c->spawned_ns) / 1000000));
            kill(c->pid, SIGKILL);
            c->term_sent_ns = now;
        } else if (st != DRIFT_SLOT_STARTING && now > hb && now - hb > s->cfg.heartbeat_timeout_ns) {
            DLOG_ERR("%s (pid %d) missed its heartbeat for %llu ms; killing and replacing it",
                     s_child_name(c, name, sizeof name), (int)c->pid, (unsigned long long)((now - hb) / 1000000));
            kill(c->pid, SIGKILL);
            c->term_sent_ns = now;
        }
    }
}

/* Staged stop: SIGTERM the roles of the highest remaining order, wait for them
 * (SIGKILL after shutdown_grace), then the next order down. */
static void s_stop_step(drift_super_t *s, uint64_t now)
{
    for (;;) {
        int running_at_order = 0, next_order = -1;
        for (uint32_t i = 0; i < s->nchildren; i++) {
            drift_child_t *c = &s->children[i];
            if (c->pid <= 0)
                continue;
            if (c->desc->order == s->stop_order)
                running_at_order++;
            else if (c->desc->order < s->stop_order && c->desc->order > next_order)
                next_order = c->desc->order;
        }
        if (running_at_order) {
            if (now >= s->stop_deadline_ns && !s->kill_sent) {
                for (uint32_t i = 0; i < s->nchildren; i++) {
                    drift_child_t *c = &s->children[i];
                    if (c->pid > 0 && c->desc->order == s->stop_order) {
                        char name[48];
                        DLOG_WARN("%s did not stop within %llu ms; SIGKILL", s_child_name(c, name, sizeof name),
                                  (unsigned long long)(s->cfg.shutdown_grace_ns / 1000000));
                        kill(c->pid, SIGKILL);
                    }
                }
                s->kill_sent = 1;
            }
            return;
        }
        if (next_order < 0) {
            event_base_loopbreak(s->base);
            return;
        }
        s->stop_order = next_order;
        s->stop_deadline_ns = now + s->cfg.shutdown_grace_ns;
        s->kill_sent = 0;
        for (uint32_t i = 0; i < s->nchildren; i++) {
            drift_child_t *c = &s->children[i];
            if (c->pid > 0 && c->desc->order == s->stop_order) {
                kill(c->pid, SIGTERM);
                c->term_sent_ns = now;
            }
        }
    }
}

static void s_on_tick(evutil_socket_t fd, short what, void *arg)
{
    drift_super_t *s = arg;
    uint64_t now = drift_now_mono_ns();
    atomic_store(&s->hdr->supervisor_heartbeat_mono_ns, now);
    if (s->stopping) {
        s_stop_step(s, now);
        return;
    }
    for (uint32_t i = 0; i < s->nchildren; i++) {
        drift_child_t *c = &s->children[i];
        if (c->state == DRIFT_CHILD_WAITING && now >= c->restart_at_ns) {
            int rc = s_spawn(s, c);
            if (rc < 0) {
                char name[48];
                c->failures++;
                c->restart_at_ns = now + s_backoff_ns(s, c->failures);
                DLOG_ERR("cannot start %s: %s", s_child_name(c, name, sizeof name), strerror(-rc));
            }
        }
    }
    s_check_children(s, now);
    s_status(s);
    if (s->watchdog_ns && now - s->last_watchdog_ns >= s->watchdog_ns / 2) {
        drift_notify("WATCHDOG=1");
        s->last_watchdog_ns = now;
    }
}

static void s_on_term(evutil_socket_t sig, short what, void *arg)
{
    drift_super_t *s = arg;
    s_begin_stop(s, 0, sig == SIGINT ? "SIGINT" : "SIGTERM");
    s_stop_step(s, drift_now_mono_ns());
}

/* Asks a running child to exit and be respawned at once (reload, replacement). */
static void s_restart_child(drift_super_t *s, drift_child_t *c, const char *why)
{
    char name[48];
    if (c->state == DRIFT_CHILD_RUNNING && c->pid > 0) {
        DLOG_INFO("restarting %s: %s", s_child_name(c, name, sizeof name), why);
        c->restart_now = 1;
        c->term_sent_ns = drift_now_mono_ns();
        kill(c->pid, SIGTERM);
    } else if (c->state == DRIFT_CHILD_WAITING) {
        c->restart_at_ns = 0;
    }
}

/* Changes the number of query workers to n. */
static void s_resize_query(drift_super_t *s, int n)
{
    const drift_role_desc_t *q = drift_roles_by_kind(DRIFT_ROLE_QUERY);
    int have = 0;
    for (uint32_t i = 0; i < s->nchildren; i++) {
        drift_child_t *c = &s->children[i];
        if (c->desc->kind != DRIFT_ROLE_QUERY)
            continue;
        if ((int)c->instance < n) {
            if (c->remove || c->state == DRIFT_CHILD_DONE) {
                c->remove = 0;
                if (c->state == DRIFT_CHILD_DONE) {
                    c->state = DRIFT_CHILD_WAITING;
                    c->restart_at_ns = 0;
                }
            }
            have++;
        } else if (!c->remove && c->state != DRIFT_CHILD_DONE) {
            c->remove = 1;
            if (c->pid > 0) {
                c->term_sent_ns = drift_now_mono_ns();
                kill(c->pid, SIGTERM);
            } else {
                c->state = DRIFT_CHILD_DONE;
            }
        }
    }
    for (int k = have; k < n; k++)
        if (!s_add_child(s, q, (uint32_t)k))
            DLOG_ERR("no free control-block slot for query.%d", k);
}

/* SIGHUP: re-read and validate; apply nothing if invalid; restart only what changed. */
static void s_on_hup(evutil_socket_t sig, short what, void *arg)
{
    drift_super_t *s = arg;
    if (s->stopping)
        return;
    drift_notify("RELOADING=1");
    drift_config_t nc;
    char err[1024];
    if (drift_opts_load_config(s->opts, &nc, err, sizeof err) < 0) {
        s->reload_failures++;
        DLOG_ERR("reload refused: %s; the running configuration is unchanged", err);
        drift_notifyf("READY=1\nSTATUS=reload refused: %s", err);
        return;
    }
    size_t nkeys;
    const drift_cfg_key_t *keys = drift_config_keys(&nkeys);
    unsigned restart_mask = 0;
    int live = 0, http_changed = 0, changed = 0;
    for (size_t i = 0; i < nkeys; i++) {
        char a[512], b[512];
        drift_config_format(&s->cfg, &keys[i], a, sizeof a);
        drift_config_format(&nc, &keys[i], b, sizeof b);
        if (strcmp(a, b) == 0)
            continue;
        changed++;
        DLOG_INFO("reload: %s changed from '%s' to '%s'", keys[i].name, a, b);
        switch (keys[i].apply) {
        case DRIFT_CFG_FIXED:
            s->reload_failures++;
            DLOG_ERR("reload refused: %s cannot change without a restart of driftdbd; nothing applied", keys[i].name);
            drift_notifyf("READY=1\nSTATUS=reload refused: %s needs a restart", keys[i].name);
            return;
        case DRIFT_CFG_RESTART_ROLES: restart_mask |= keys[i].roles; break;
        case DRIFT_CFG_LIVE: live = 1; break;
        case DRIFT_CFG_SUPERVISOR:
            if (strcmp(keys[i].name, "http") == 0)
                http_changed = 1;
            break;
        }
    }
    drift_config_t old = s->cfg;
    s->cfg = nc;
    s->reloads++;
    atomic_fetch_add(&s->hdr->config_generation, 1);
    if (live) {
        drift_log_set_level(drift_config_log_level(&nc));
        if (strcmp(old.log_target, nc.log_target) != 0 && drift_log_set_target(nc.log_target) < 0)
            DLOG_WARN("reload: cannot open log target %s", nc.log_target);
    }
    if (http_changed) {
        drift_http_destroy(&s->http);
        if (nc.http[0] && !(s->http = drift_http_new(s->base, nc.http, s)))
            DLOG_ERR("reload: cannot serve HTTP on %s: %s", nc.http, strerror(errno));
    }
    if (drift_config_query_workers(&old) != drift_config_query_workers(&nc))
        s_resize_query(s, drift_config_query_workers(&nc));
    if (old.replication_mode != nc.replication_mode) {
        const drift_role_desc_t *r = drift_roles_by_kind(DRIFT_ROLE_REPLICATOR);
        drift_child_t *rc = NULL;
        for (uint32_t i = 0; i < s->nchildren; i++)
            if (s->children[i].desc == r)
                rc = &s->children[i];
        if (nc.replication_mode == DRIFT_REPL_NONE && rc) {
            rc->remove = 1;
            if (rc->pid > 0)
                kill(rc->pid, SIGTERM);
            else
                rc->state = DRIFT_CHILD_DONE;
        } else if (nc.replication_mode != DRIFT_REPL_NONE) {
            if (!rc)
                rc = s_add_child(s, r, 0);
            else if (rc->state == DRIFT_CHILD_DONE || rc->remove) {
                rc->remove = 0;
                rc->state = DRIFT_CHILD_WAITING;
                rc->restart_at_ns = 0;
            }
            restart_mask |= DRIFT_ROLE_BIT(DRIFT_ROLE_REPLICATOR);
        }
    }
    for (uint32_t i = 0; i < s->nchildren; i++) {
        drift_child_t *c = &s->children[i];
        if (c->remove)
            continue;
        if (restart_mask & DRIFT_ROLE_BIT(c->desc->kind))
            s_restart_child(s, c, "its configuration changed");
        else if (live && c->pid > 0 && c->state == DRIFT_CHILD_RUNNING)
            kill(c->pid, SIGHUP);
    }
    DLOG_NOTICE("configuration reloaded (%d keys changed)", changed);
    drift_notifyf("READY=1\nSTATUS=configuration reloaded (%d keys changed)", changed);
}

static int s_prepare_dirs(drift_super_t *s)
{
    int rc = drift_mkdir_p(s->cfg.data_dir);
    if (rc < 0) {
        DLOG_ERR("cannot create data_dir %s: %s", s->cfg.data_dir, strerror(-rc));
        return rc;
    }
    if (!realpath(s->cfg.data_dir, s->data_dir)) {
        DLOG_ERR("data_dir %s: %s", s->cfg.data_dir, strerror(errno));
        return -errno;
    }
    if (drift_path_join(s->run_dir, sizeof s->run_dir, s->data_dir, "run") < 0) {
        DLOG_ERR("data_dir path too long");
        return -ENAMETOOLONG;
    }
    /* ipc:// endpoints live in run/: sun_path is 108 bytes. */
    if (strlen(s->run_dir) + 24 > 107) {
        DLOG_ERR("data_dir %s is too long for ipc:// endpoints (sockets need < 80 bytes of path)", s->data_dir);
        return -ENAMETOOLONG;
    }
    const char *subdirs[] = {"run", "log", "index", "snap"};
    for (size_t i = 0; i < sizeof subdirs / sizeof subdirs[0]; i++) {
        char p[PATH_MAX];
        drift_path_join(p, sizeof p, s->data_dir, subdirs[i]);
        if ((rc = drift_mkdir_p(p)) < 0) {
            DLOG_ERR("cannot create %s: %s", p, strerror(-rc));
            return rc;
        }
    }
    return 0;
}

int drift_super_main(const drift_opts_t *o, const drift_config_t *cfg, int argc, char **argv)
{
    int code = 1;
    drift_super_t *s = calloc(1, sizeof *s);
    if (!s)
        return 1;
    s->opts = o;
    s->cfg = *cfg;
    s->argc = argc;
    s->argv = argv;
    s->lock_fd = -1;
    s->start_mono_ns = drift_now_mono_ns();
    s->start_real_ns = drift_now_real_ns();
    ssize_t n = readlink("/proc/self/exe", s->exe, sizeof s->exe - 1);
    if (n <= 0) {
        DLOG_ERR("cannot find my own executable: %s", strerror(errno));
        goto out;
    }
    s->exe[n] = 0;

    if (s_prepare_dirs(s) < 0)
        goto out;
    if (s_lock_data_dir(s) < 0)
        goto out;
    char ctl_path[PATH_MAX + 16];
    snprintf(ctl_path, sizeof ctl_path, "%s/control", s->run_dir);
    s->ctl = drift_ctl_create(ctl_path, DRIFT_CTL_MAX_SLOTS);
    if (!s->ctl) {
        DLOG_ERR("cannot create control block %s: %s", ctl_path, strerror(errno));
        goto out;
    }
    s->hdr = drift_ctl_header(s->ctl);
    if (s_plan_children(s) < 0) {
        DLOG_ERR("too many roles for the control block (%u slots)", DRIFT_CTL_MAX_SLOTS);
        code = DRIFT_EXIT_FATAL;
        goto out;
    }

    signal(SIGPIPE, SIG_IGN);
    s->base = event_base_new();
    if (!s->base)
        goto out;
    s->ev_chld = evsignal_new(s->base, SIGCHLD, s_on_sigchld, s);
    s->ev_term = evsignal_new(s->base, SIGTERM, s_on_term, s);
    s->ev_int = evsignal_new(s->base, SIGINT, s_on_term, s);
    s->ev_hup = evsignal_new(s->base, SIGHUP, s_on_hup, s);
    s->ev_tick = event_new(s->base, -1, EV_PERSIST, s_on_tick, s);
    struct timeval tick = {0, TICK_MS * 1000};
    if (!s->ev_chld || !s->ev_term || !s->ev_int || !s->ev_hup || !s->ev_tick || event_add(s->ev_chld, NULL) ||
        event_add(s->ev_term, NULL) || event_add(s->ev_int, NULL) || event_add(s->ev_hup, NULL) ||
        event_add(s->ev_tick, &tick))
        goto out;
    if (s->cfg.http[0] && !(s->http = drift_http_new(s->base, s->cfg.http, s))) {
        DLOG_ERR("cannot serve HTTP on %s: %s", s->cfg.http, strerror(errno));
        goto out;
    }
    s->watchdog_ns = drift_notify_watchdog_ns();
    DLOG_NOTICE("driftdbd %s starting: data_dir %s, %u roles, listen %s, http %s", PACKAGE_VERSION, s->data_dir,
                s->nchildren, s->cfg.listen, s->cfg.http[0] ? s->cfg.http : "(off)");
    drift_notifyf("MAINPID=%d\nSTATUS=starting roles", (int)getpid());
    s_on_tick(-1, 0, s);
    event_base_dispatch(s->base);
    /* Reap anything left (stop waits for every child, this is belt and braces). */
    for (uint32_t i = 0; i < s->nchildren; i++) {
        if (s->children[i].pid > 0) {
            kill(s->children[i].pid, SIGKILL);
            waitpid(s->children[i].pid, NULL, 0);
        }
    }
    code = s->exit_code;
    DLOG_NOTICE("driftdbd stopped (exit code %d)", code);
out:
    drift_http_destroy(&s->http);
    if (s->ev_tick)
        event_free(s->ev_tick);
    if (s->ev_chld)
        event_free(s->ev_chld);
    if (s->ev_term)
        event_free(s->ev_term);
    if (s->ev_int)
        event_free(s->ev_int);
    if (s->ev_hup)
        event_free(s->ev_hup);
    if (s->base)
        event_base_free(s->base);
    drift_ctl_detach(&s->ctl);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    free(s);
    return code;
}
