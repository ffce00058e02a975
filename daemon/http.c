/* daemon/http.c — see http.h. Runs on the supervisor's loop; every figure is
 * read at request time from the supervisor's child table, the control block
 * and /proc. */
#include "daemon/http.h"

#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "common/git_rev.h"
#include "config.h"
#include "daemon/supervisor.h"

struct drift_http {
    struct evhttp *http;
    drift_super_t *sup;
};

static const char *const s_slot_states[] = {"free", "starting", "ready", "stopping", "exited"};

static const char *s_state_name(const drift_super_t *s, const drift_child_t *c)
{
    switch (c->state) {
    case DRIFT_CHILD_DONE: return c->remove ? "removed" : "finished";
    case DRIFT_CHILD_FATAL: return "fatal";
    case DRIFT_CHILD_WAITING: return c->spawned_ns ? "backoff" : "pending";
    case DRIFT_CHILD_RUNNING: break;
    }
    drift_ctl_slot_t *slot = drift_ctl_slot(s->ctl, c->slot);
    uint32_t st = atomic_load(&slot->state);
    return st < 5 ? s_slot_states[st] : "?";
}

static void s_reply(struct evhttp_request *req, int code, const char *reason, const char *ctype, struct evbuffer *b)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    evhttp_send_reply(req, code, reason, b);
}

static void s_live(struct evhttp_request *req, void *arg)
{
    drift_http_t *h = arg;
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "{\"status\":\"alive\",\"pid\":%d,\"uptime_seconds\":%.3f}\n", (int)getpid(),
                        (double)(drift_now_mono_ns() - h->sup->start_mono_ns) / 1e9);
    s_reply(req, 200, "OK", "application/json", b);
    evbuffer_free(b);
}

/* Index lag (issue 5): commits not yet indexed, and an upper bound of how long the oldest of them has
 * waited (now - commit time of the last indexed one; 0 when nothing waits). */
static void s_index_lag(const drift_ctl_header_t *hdr, uint64_t *ret_seqs, double *ret_seconds)
{
    uint64_t c = atomic_load(&hdr->commit_seq), i = atomic_load(&hdr->indexed_seq);
    uint64_t its = atomic_load(&hdr->indexed_ts_ns), now = drift_now_real_ns();
    *ret_seqs = c > i ? c - i : 0;
    *ret_seconds = *ret_seqs && now > its ? (double)(now - its) / 1e9 : 0.0;
}

static void s_ready(struct evhttp_request *req, void *arg)
{
    drift_http_t *h = arg;
    drift_super_t *s = h->sup;
    struct evbuffer *b = evbuffer_new();
    int ready = !s->stopping;
    evbuffer_add_printf(b, "{\"roles\":[");
    int first = 1;
    char not_ready[1024] = "";
    for (uint32_t i = 0; i < s->nchildren; i++) {
        drift_child_t *c = &s->children[i];
        if (c->state == DRIFT_CHILD_DONE && c->remove)
            continue;
        int r = drift_super_child_ready(s, c);
        char name[48];
        if (c->desc->kind == DRIFT_ROLE_QUERY)
            snprintf(name, sizeof name, "%s.%u", c->desc->name, c->instance);
        else
            snprintf(name, sizeof name, "%s", c->desc->name);
        if (c->desc->essential && !r) {
            ready = 0;
            size_t len = strlen(not_ready);
            snprintf(not_ready + len, sizeof not_ready - len, "%s\"%s\"", len ? "," : "", name);
        }
        evbuffer_add_printf(b, "%s{\"name\":\"%s\",\"role\":\"%s\",\"instance\":%u,\"pid\":%d,\"state\":\"%s\","
                               "\"essential\":%s,\"ready\":%s,\"restarts\":%llu}",
                            first ? "" : ",", name, c->desc->name, c->instance, (int)c->pid, s_state_name(s, c),
                            c->desc->essential ? "true" : "false", r ? "true" : "false",
                            (unsigned long long)c->restarts);
        first = 0;
    }
    uint64_t lag_seqs;
    double lag_s;
    s_index_lag(s->hdr, &lag_seqs, &lag_s);
    int lagging = s->cfg.index_lag_max_ns && lag_s * 1e9 > (double)s->cfg.index_lag_max_ns;
    if (lagging)
        ready = 0;
    evbuffer_add_printf(b, "],\"index_lag_seqs\":%llu,\"index_lag_seconds\":%.3f,\"index_lagging\":%s",
                        (unsigned long long)lag_seqs, lag_s, lagging ? "true" : "false");
    evbuffer_add_printf(b, ",\"not_ready\":[%s],\"stopping\":%s,\"ready\":%s}\n", not_ready,
                        s->stopping ? "true" : "false", ready ? "true" : "false");
    s_reply(req, ready ? 200 : 503, ready ? "OK" : "Service Unavailable", "application/json", b);
    evbuffer_free(b);
}

/* Reads utime+stime (seconds), RSS (bytes), start time (seconds since boot) and open fds of pid. */
static int s_proc_stats(pid_t pid, double *cpu, double *rss, double *start_s, int *fds)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return -EINVAL;
    /* fields after ')': state(3) ppid(4) ... utime(14) stime(15) ... starttime(22) vsize(23) rss(24) */
    unsigned long long v[25] = {0};
    int field = 3;
    for (char *tok = strtok(p + 2, " "); tok && field <= 24; tok = strtok(NULL, " "), field++)
        v[field] = strtoull(tok, NULL, 10);
    long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    *cpu = (double)(v[14] + v[15]) / (double)tck;
    *start_s = (double)v[22] / (double)tck;
    *rss = (double)v[24] * (double)page;
    *fds = 0;
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.')
                (*fds)++;
        closedir(d);
    }
    return 0;
}

/* Boot time in seconds since the epoch (to turn /proc start times into Unix times). */
static double s_boot_time(void)
{
    FILE *f = fopen("/proc/stat", "re");
    if (!f)
        return 0;
    char line[256];
    double bt = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "btime ", 6) == 0)
            bt = strtod(line + 6, NULL);
    fclose(f);
    return bt;
}

static void s_metrics(struct evhttp_request *req, void *arg)
{
    drift_http_t *h = arg;
    drift_super_t *s = h->sup;
    struct evbuffer *b = evbuffer_new();
    uint64_t now = drift_now_mono_ns();
    drift_ctl_header_t *hdr = s->hdr;
    double btime = s_boot_time();

    evbuffer_add_printf(b, "# HELP driftdb_build_info DriftDB build information.\n# TYPE driftdb_build_info gauge\n"
                           "driftdb_build_info{version=\"%s\",revision=\"%s\"} 1\n",
                        PACKAGE_VERSION, DRIFT_GIT_REV);
    int ready = 1;
    for (uint32_t i = 0; i < s->nchildren; i++)
        if (s->children[i].desc->essential && s->children[i].state != DRIFT_CHILD_DONE &&
            !drift_super_child_ready(s, &s->children[i]))
            ready = 0;
    evbuffer_add_printf(b, "# HELP driftdb_ready 1 when every essential role is ready.\n# TYPE driftdb_ready gauge\n"
                           "driftdb_ready %d\n",
                        ready && !s->stopping);
    evbuffer_add_printf(b, "# HELP driftdb_supervisor_uptime_seconds Time since the supervisor started.\n"
                           "# TYPE driftdb_supervisor_uptime_seconds gauge\ndriftdb_supervisor_uptime_seconds %.3f\n",
                        (double)(now - s->start_mono_ns) / 1e9);
    evbuffer_add_printf(b, "# HELP driftdb_config_reloads_total Configuration reloads applied.\n"
                           "# TYPE driftdb_config_reloads_total counter\ndriftdb_config_reloads_total %llu\n"
                           "# HELP driftdb_config_reload_failures_total Configuration reloads refused.\n"
                           "# TYPE driftdb_config_reload_failures_total counter\n"
                           "driftdb_config_reload_failures_total %llu\n",
                        (unsigned long long)s->reloads, (unsigned long long)s->reload_failures);

    /* Database positions published in the control block by the roles that own them. */
    struct {
        const char *name, *help;
        uint64_t v;
    } pos[] = {
        {"driftdb_commit_seq", "Last durable commit sequence number.", atomic_load(&hdr->commit_seq)},
        {"driftdb_indexed_seq", "Last commit applied to the indexes.", atomic_load(&hdr->indexed_seq)},
        {"driftdb_active_segment_committed_bytes", "Committed bytes of the active log segment.",
         atomic_load(&hdr->committed_len)},
        {"driftdb_epoch", "Replication epoch.", atomic_load(&hdr->epoch)},
    };
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++)
        evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", pos[i].name, pos[i].help, pos[i].name,
                            pos[i].name, (unsigned long long)pos[i].v);
    uint64_t lag_seqs;
    double lag_s;
    s_index_lag(hdr, &lag_seqs, &lag_s);
    evbuffer_add_printf(b, "# HELP driftdb_index_lag_seqs Commits not yet applied to the indexes.\n"
                           "# TYPE driftdb_index_lag_seqs gauge\ndriftdb_index_lag_seqs %llu\n"
                           "# HELP driftdb_index_lag_seconds Upper bound of how long the oldest unindexed commit has waited.\n"
                           "# TYPE driftdb_index_lag_seconds gauge\ndriftdb_index_lag_seconds %.6f\n",
                        (unsigned long long)lag_seqs, lag_s);
    uint64_t cts = atomic_load(&hdr->commit_ts_ns);
    evbuffer_add_printf(b, "# HELP driftdb_commit_timestamp_seconds Commit time of the last commit.\n"
                           "# TYPE driftdb_commit_timestamp_seconds gauge\ndriftdb_commit_timestamp_seconds %.9f\n",
                        (double)cts / 1e9);

    /* Per role: one metric family at a time, as the text format requires. */
    static const struct {
        const char *name, *type, *help;
    } fam[] = {
        {"driftdb_role_up", "gauge", "1 when the role process is running."},
        {"driftdb_role_ready", "gauge", "1 when the role reported ready."},
        {"driftdb_role_restarts_total", "counter", "Restarts of the role since the supervisor started."},
        {"driftdb_role_uptime_seconds", "gauge", "Time since the role process started."},
        {"driftdb_role_heartbeat_age_seconds", "gauge", "Age of the role's last heartbeat."},
        {"driftdb_role_requests_total", "counter", "Requests handled by the role process."},
        {"driftdb_role_errors_total", "counter", "Requests the role process answered with an error."},
        {"driftdb_process_cpu_seconds_total", "counter", "User and system CPU time of the process."},
        {"driftdb_process_resident_memory_bytes", "gauge", "Resident memory of the process."},
        {"driftdb_process_open_fds", "gauge", "Open file descriptors of the process."},
        {"driftdb_process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch."},
    };
    for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++) {
        evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help, fam[f].name, fam[f].type);
        if (f >= 7) {
            double cpu, rss, st;
            int fds;
            if (s_proc_stats(getpid(), &cpu, &rss, &st, &fds) == 0) {
                double v = f == 7 ? cpu : f == 8 ? rss : f == 9 ? fds : btime + st;
                evbuffer_add_printf(b, "%s{role=\"supervisor\",instance=\"0\"} %.3f\n", fam[f].name, v);
            }
        }
        for (uint32_t i = 0; i < s->nchildren; i++) {
            drift_child_t *c = &s->children[i];
            if (c->state == DRIFT_CHILD_DONE && c->remove)
                continue;
            drift_ctl_slot_t *slot = drift_ctl_slot(s->ctl, c->slot);
            char lab[96];
            snprintf(lab, sizeof lab, "role=\"%s\",instance=\"%u\"", c->desc->name, c->instance);
            int up = c->state == DRIFT_CHILD_RUNNING && c->pid > 0;
            double v = 0;
            switch (f) {
            case 0: v = up; break;
            case 1: v = drift_super_child_ready(s, c); break;
            case 2: v = (double)c->restarts; break;
            case 3: v = up ? (double)(now - c->spawned_ns) / 1e9 : 0; break;
            case 4: {
                uint64_t hb = atomic_load(&slot->heartbeat_mono_ns);
                if (!up)
                    continue;
                v = now > hb ? (double)(now - hb) / 1e9 : 0;
                break;
            }
            case 5: v = (double)atomic_load(&slot->counters[DRIFT_CTR_REQUESTS]); break;
            case 6: v = (double)atomic_load(&slot->counters[DRIFT_CTR_ERRORS]); break;
            default: {
                double cpu, rss, st;
                int fds;
                if (!up || s_proc_stats(c->pid, &cpu, &rss, &st, &fds) < 0)
                    continue;
                v = f == 7 ? cpu : f == 8 ? rss : f == 9 ? fds : btime + st;
            }
            }
            evbuffer_add_printf(b, "%s{%s} %.*f\n", fam[f].name, lab, (f == 3 || f == 4 || f == 7) ? 3 : 0, v);
        }
    }

    /* Role-specific counters from the slots (their meaning is documented with each role). */
    static const struct {
        drift_role_kind_t kind;
        unsigned ctr;
        const char *name, *type, *help;
    } rc[] = {
        {DRIFT_ROLE_WRITER, DRIFT_CTR_ROLE0 + 0, "driftdb_writer_groups_total", "counter", "Write groups (one pwritev each)."},
        {DRIFT_ROLE_WRITER, DRIFT_CTR_ROLE0 + 1, "driftdb_writer_fdatasyncs_total", "counter", "fdatasync calls on the log."},
        {DRIFT_ROLE_WRITER, DRIFT_CTR_ROLE0 + 2, "driftdb_writer_commits_total", "counter", "Transactions appended to the log."},
        {DRIFT_ROLE_WRITER, DRIFT_CTR_ROLE0 + 3, "driftdb_writer_bytes_total", "counter", "Frame bytes appended to the log."},
        {DRIFT_ROLE_WRITER, DRIFT_CTR_ROLE0 + 4, "driftdb_writer_conflicts_total", "counter", "Commits refused with 23505, 40001 or 02000."},
        {DRIFT_ROLE_WRITER, DRIFT_CTR_ROLE0 + 5, "driftdb_writer_disk_full_total", "counter", "Commits refused with 53100."},
        {DRIFT_ROLE_WRITER, DRIFT_CTR_ROLE0 + 6, "driftdb_writer_segments_total", "counter", "Log segments created."},
        {DRIFT_ROLE_WRITER, DRIFT_CTR_ROLE0 + 7, "driftdb_writer_gather_waits_total", "counter", "Group commits held back for a session expected to join (commit_gather)."},
        {DRIFT_ROLE_WRITER, DRIFT_CTR_ROLE0 - 1, "driftdb_writer_gather_timeouts_total", "counter", "Held group commits sent at the commit_gather bound with an expected session missing."},
        {DRIFT_ROLE_WRITER, DRIFT_CTR_ROLE0 - 4, "driftdb_writer_index_stalls_total", "counter", "Episodes in which new commits waited for the indexer (index_stall)."},
        {DRIFT_ROLE_WRITER, DRIFT_CTR_ROLE0 - 3, "driftdb_writer_index_stall_milliseconds_total", "counter", "Total length of those episodes."},
        {DRIFT_ROLE_WRITER, DRIFT_CTR_ROLE0 - 2, "driftdb_writer_keymap_keys", "gauge", "Row keys in the writer's key map (keymap_forget_at)."},
        {DRIFT_ROLE_WRITER, DRIFT_CTR_ROLE0 + 8, "driftdb_writer_index_stall_bound_total", "counter", "Held commits let through at the index_stall bound (not by the indexer's pace)."},
        {DRIFT_ROLE_INDEXER, DRIFT_CTR_ROLE0 + 0, "driftdb_indexer_commits_total", "counter", "Commits applied to the indexes."},
        {DRIFT_ROLE_INDEXER, DRIFT_CTR_ROLE0 + 1, "driftdb_indexer_batches_total", "counter", "LMDB write transactions committed."},
        {DRIFT_ROLE_GATEWAY, DRIFT_CTR_ROLE0 + 0, "driftdb_gateway_rejected_total", "counter", "Requests answered 53300 (admission control)."},
        {DRIFT_ROLE_GATEWAY, DRIFT_CTR_ROLE0 + 1, "driftdb_gateway_malformed_total", "counter", "Malformed requests (08P01 or dropped)."},
        {DRIFT_ROLE_GATEWAY, DRIFT_CTR_ROLE0 + 2, "driftdb_gateway_dropped_replies_total", "counter", "Replies that could not be delivered."},
        {DRIFT_ROLE_GATEWAY, DRIFT_CTR_ROLE0 + 3, "driftdb_gateway_timeouts_total", "counter", "Requests answered with a timeout error."},
        {DRIFT_ROLE_GATEWAY, DRIFT_CTR_ROLE0 + 4, "driftdb_gateway_worker_deaths_total", "counter", "Query workers declared dead."},
        {DRIFT_ROLE_GATEWAY, DRIFT_CTR_ROLE0 + 5, "driftdb_gateway_inflight_requests", "gauge", "Requests held by the gateway now."},
        {DRIFT_ROLE_GATEWAY, DRIFT_CTR_ROLE0 + 6, "driftdb_gateway_sessions", "gauge", "Client sessions held by the gateway now."},
        {DRIFT_ROLE_GATEWAY, DRIFT_CTR_ROLE0 + 7, "driftdb_gateway_fast_reads_total", "counter", "Queries answered by the gateway itself (gateway_fast_reads)."},
        {DRIFT_ROLE_GATEWAY, DRIFT_CTR_ROLE0 - 1, "driftdb_gateway_forwarded_queries_total", "counter", "Queries sent to a query worker (fast-path misses)."},
    };
    for (size_t k = 0; k < sizeof rc / sizeof rc[0]; k++) {
        evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", rc[k].name, rc[k].help, rc[k].name, rc[k].type);
        for (uint32_t i = 0; i < s->nchildren; i++) {
            drift_child_t *c = &s->children[i];
            if (c->desc->kind != rc[k].kind || (c->state == DRIFT_CHILD_DONE && c->remove))
                continue;
            drift_ctl_slot_t *slot = drift_ctl_slot(s->ctl, c->slot);
            evbuffer_add_printf(b, "%s{instance=\"%u\"} %llu\n", rc[k].name, c->instance,
                                (unsigned long long)atomic_load(&slot->counters[rc[k].ctr]));
        }
    }
    evbuffer_add_printf(b, "# HELP driftdb_writer_state Why the writer refuses writes: 0 ok, 1 disk full, "
                           "2 recovering, 3 failed.\n# TYPE driftdb_writer_state gauge\ndriftdb_writer_state %llu\n",
                        (unsigned long long)atomic_load(&hdr->writer_state));

    /* Request latency histograms of the roles that serve requests. */
    evbuffer_add_printf(b, "# HELP driftdb_role_request_duration_seconds Request latency inside the role.\n"
                           "# TYPE driftdb_role_request_duration_seconds histogram\n");
    for (uint32_t i = 0; i < s->nchildren; i++) {
        drift_child_t *c = &s->children[i];
        if (c->desc->kind != DRIFT_ROLE_GATEWAY && c->desc->kind != DRIFT_ROLE_QUERY &&
            c->desc->kind != DRIFT_ROLE_WRITER)
            continue;
        drift_ctl_slot_t *slot = drift_ctl_slot(s->ctl, c->slot);
        uint64_t cum = 0;
        for (unsigned k = 0; k < DRIFT_CTL_HIST_BUCKETS; k++) {
            cum += atomic_load(&slot->latency_us_hist[k]);
            if (k < 24) /* up to 2^24 us = 16.8 s, then +Inf */
                evbuffer_add_printf(b,
                                    "driftdb_role_request_duration_seconds_bucket{role=\"%s\",instance=\"%u\","
                                    "le=\"%.6f\"} %llu\n",
                                    c->desc->name, c->instance, (double)(2ull << k) / 1e6, (unsigned long long)cum);
        }
        evbuffer_add_printf(b,
                            "driftdb_role_request_duration_seconds_bucket{role=\"%s\",instance=\"%u\",le=\"+Inf\"} "
                            "%llu\ndriftdb_role_request_duration_seconds_sum{role=\"%s\",instance=\"%u\"} %.6f\n"
                            "driftdb_role_request_duration_seconds_count{role=\"%s\",instance=\"%u\"} %llu\n",
                            c->desc->name, c->instance, (unsigned long long)cum, c->desc->name, c->instance,
                            (double)atomic_load(&slot->latency_us_sum) / 1e6, c->desc->name, c->instance,
                            (unsigned long long)cum);
    }
    s_reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", b);
    evbuffer_free(b);
}

static void s_not_found(struct evhttp_request *req, void *arg)
{
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "{\"error\":\"not found\",\"paths\":[\"/health/live\",\"/health/ready\",\"/metrics\"]}\n");
    s_reply(req, 404, "Not Found", "application/json", b);
    evbuffer_free(b);
}

drift_http_t *drift_http_new(struct event_base *base, const char *addr, drift_super_t *sup)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof host) {
        errno = EINVAL;
        return NULL;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port <= 0 || port > 65535) {
        errno = EINVAL;
        return NULL;
    }
    drift_http_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->sup = sup;
    self->http = evhttp_new(base);
    if (!self->http) {
        free(self);
        errno = ENOMEM;
        return NULL;
    }
    evhttp_set_allowed_methods(self->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_max_headers_size(self->http, 8192);
    evhttp_set_max_body_size(self->http, 0);
    evhttp_set_timeout(self->http, 10);
    evhttp_set_cb(self->http, "/health/live", s_live, self);
    evhttp_set_cb(self->http, "/health/ready", s_ready, self);
    evhttp_set_cb(self->http, "/metrics", s_metrics, self);
    evhttp_set_gencb(self->http, s_not_found, self);
    if (!evhttp_bind_socket_with_handle(self->http, host, (ev_uint16_t)port)) {
        int e = errno ? errno : EADDRINUSE;
        evhttp_free(self->http);
        free(self);
        errno = e;
        return NULL;
    }
    return self;
}

void drift_http_destroy(drift_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    evhttp_free((*self_p)->http);
    free(*self_p);
    *self_p = NULL;
}
