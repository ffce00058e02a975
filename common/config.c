/* common/config.c — see config.h. A table describes every key once: its type,
 * default, bounds, how a reload applies it, and the help text that
 * etc/driftdb.conf and docs/operations.md repeat. */
#include "common/config.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/roles.h"
#include "common/util.h"

#define OFF(f) offsetof(drift_config_t, f), sizeof(((drift_config_t *)0)->f)
#define R(k) DRIFT_ROLE_BIT(DRIFT_ROLE_##k)

static const char *const s_durability[] = {"sync", "async", NULL};
static const char *const s_repl[] = {"none", "primary", "replica", NULL};
static const char *const s_onoff[] = {"off", "on", NULL};
static const char *const s_levels[] = {"error", "warning", "notice", "info", "debug", NULL};

static const drift_cfg_key_t s_keys[] = {
    {"data_dir", DRIFT_CFG_T_STRING, OFF(data_dir), "./data", NULL, 0, 0, DRIFT_CFG_FIXED, 0,
     "Directory holding the log, indexes, snapshots and the run directory."},
    {"listen", DRIFT_CFG_T_STRING, OFF(listen), "tcp://127.0.0.1:7433", NULL, 0, 0, DRIFT_CFG_RESTART_ROLES,
     R(GATEWAY), "ZeroMQ endpoint the gateway binds for clients."},
    {"http", DRIFT_CFG_T_STRING, OFF(http), "127.0.0.1:7434", NULL, 0, 0, DRIFT_CFG_SUPERVISOR, 0,
     "ADDR:PORT of the health and metrics HTTP server (empty disables it)."},
    {"query_workers", DRIFT_CFG_T_INT, OFF(query_workers), "0", NULL, 0, 64, DRIFT_CFG_SUPERVISOR, 0,
     "Number of query worker processes; 0 = one per CPU core."},
    {"log_target", DRIFT_CFG_T_STRING, OFF(log_target), "stderr", NULL, 0, 0, DRIFT_CFG_LIVE, 0,
     "Where logs go: stderr, syslog, or file:/path/to/file."},
    {"log_level", DRIFT_CFG_T_ENUM, OFF(log_level), "info", s_levels, 0, 0, DRIFT_CFG_LIVE, 0,
     "Most verbose level logged: error, warning, notice, info, debug."},
    {"segment_size", DRIFT_CFG_T_SIZE, OFF(segment_size), "64MB", NULL, 1 << 16, 1ll << 40,
     DRIFT_CFG_RESTART_ROLES, R(WRITER), "Size of a log segment; the writer rotates to a new one when full."},
    {"durability", DRIFT_CFG_T_ENUM, OFF(durability), "sync", s_durability, 0, 0, DRIFT_CFG_RESTART_ROLES,
     R(WRITER),
     "sync: a commit is acknowledged after fdatasync; async: after the write, fsync every sync_interval."},
    {"sync_interval", DRIFT_CFG_T_DURATION, OFF(sync_interval_ns), "200ms", NULL, 1000000, 0,
     DRIFT_CFG_RESTART_ROLES, R(WRITER), "With durability = async: longest time between fdatasyncs."},
    {"commit_gather", DRIFT_CFG_T_DURATION, OFF(commit_gather_ns), "0", NULL, 0, 100000000, DRIFT_CFG_RESTART_ROLES,
     R(WRITER), "durability = sync: longest time a group commit waits for sessions expected to commit; 0 = off."},
    {"index_stall", DRIFT_CFG_T_DURATION, OFF(index_stall_ns), "500ms", NULL, 0, 60000000000ll,
     DRIFT_CFG_RESTART_ROLES, R(WRITER),
     "Flow control: while the oldest unindexed commit is older than half of this, new commits wait (each at most "
     "this long, one op let through per two the indexer applies) until the indexer is back under a quarter of it; 0 = off."},
    {"keymap_forget_at", DRIFT_CFG_T_INT, OFF(keymap_forget_at), "1000000", NULL, 0, 1ll << 40,
     DRIFT_CFG_RESTART_ROLES, R(WRITER),
     "The writer's key map forgets the keys the index answers for when it holds more than this many (and twice "
     "what it kept last time); 0 = never."},
    {"max_message_size", DRIFT_CFG_T_SIZE, OFF(max_message_size), "16MB", NULL, 1024, 1ll << 31,
     DRIFT_CFG_RESTART_ROLES, R(GATEWAY) | R(QUERY), "Largest client message accepted (ZMQ_MAXMSGSIZE)."},
    {"max_inflight_per_client", DRIFT_CFG_T_INT, OFF(max_inflight_per_client), "1024", NULL, 1, 1 << 24,
     DRIFT_CFG_RESTART_ROLES, R(GATEWAY), "Requests one client may have in flight before it gets 53300."},
    {"max_queue", DRIFT_CFG_T_INT, OFF(max_queue), "65536", NULL, 1, 1 << 26, DRIFT_CFG_RESTART_ROLES,
     R(GATEWAY), "Requests the gateway holds for all clients before it answers 53300."},
    {"gateway_fast_reads", DRIFT_CFG_T_ENUM, OFF(gateway_fast_reads), "on", s_onoff, 0, 0, DRIFT_CFG_RESTART_ROLES,
     R(GATEWAY), "on: the gateway answers short read-only statements (key and index lookups) itself; off: all go to workers."},
    {"request_timeout", DRIFT_CFG_T_DURATION, OFF(request_timeout_ns), "30s", NULL, 1000000, 0,
     DRIFT_CFG_RESTART_ROLES, R(GATEWAY), "A request a worker has not answered in this time gets an error reply."},
    {"heartbeat_interval", DRIFT_CFG_T_DURATION, OFF(heartbeat_interval_ns), "250ms", NULL, 1000000, 0,
     DRIFT_CFG_RESTART_ROLES, DRIFT_ROLE_ALL, "How often each role publishes its heartbeat."},
    {"heartbeat_timeout", DRIFT_CFG_T_DURATION, OFF(heartbeat_timeout_ns), "3s", NULL, 10000000, 0,
     DRIFT_CFG_SUPERVISOR, 0, "A role whose heartbeat is older than this is killed and restarted."},
    {"start_timeout", DRIFT_CFG_T_DURATION, OFF(start_timeout_ns), "60s", NULL, 10000000, 0, DRIFT_CFG_SUPERVISOR,
     0, "A role not ready this long after its start is killed and restarted."},
    {"shutdown_grace", DRIFT_CFG_T_DURATION, OFF(shutdown_grace_ns), "10s", NULL, 0, 0, DRIFT_CFG_SUPERVISOR, 0,
     "On stop, how long each role gets to exit after SIGTERM before SIGKILL."},
    {"restart_backoff_min", DRIFT_CFG_T_DURATION, OFF(restart_backoff_min_ns), "100ms", NULL, 0, 0,
     DRIFT_CFG_SUPERVISOR, 0, "First delay before restarting a role that failed."},
    {"restart_backoff_max", DRIFT_CFG_T_DURATION, OFF(restart_backoff_max_ns), "30s", NULL, 0, 0,
     DRIFT_CFG_SUPERVISOR, 0, "Longest delay between restarts of a role that keeps failing."},
    {"replication_mode", DRIFT_CFG_T_ENUM, OFF(replication_mode), "none", s_repl, 0, 0, DRIFT_CFG_SUPERVISOR, 0,
     "none, primary or replica; the replicator role runs only when this is not none."},
    {"replication_endpoint", DRIFT_CFG_T_STRING, OFF(replication_endpoint), "", NULL, 0, 0,
     DRIFT_CFG_RESTART_ROLES, R(REPLICATOR), "Primary: endpoint to ship the log on; replica: primary to follow."},
    {"index_map_size", DRIFT_CFG_T_SIZE, OFF(index_map_size), "16GB", NULL, 1 << 20, 1ll << 44,
     DRIFT_CFG_RESTART_ROLES, R(INDEXER), "Initial LMDB map size of the index (virtual; the indexer doubles it when full)."},
    {"index_lag_max", DRIFT_CFG_T_DURATION, OFF(index_lag_max_ns), "10s", NULL, 0, 0, DRIFT_CFG_SUPERVISOR, 0,
     "/health/ready fails while the indexer is behind the last commit by more than this; 0 disables the check."},
};

const drift_cfg_key_t *drift_config_keys(size_t *ret_n)
{
    *ret_n = sizeof s_keys / sizeof s_keys[0];
    return s_keys;
}

static const drift_cfg_key_t *s_find(const char *name)
{
    for (size_t i = 0; i < sizeof s_keys / sizeof s_keys[0]; i++)
        if (strcmp(s_keys[i].name, name) == 0)
            return &s_keys[i];
    return NULL;
}

/* Parses `value` for key k into c; on failure writes a message (without location) into err. */
static int s_assign(drift_config_t *c, const drift_cfg_key_t *k, const char *value, char *err, size_t cap)
{
    char *base = (char *)c + k->offset;
    int rc;
    switch (k->type) {
    case DRIFT_CFG_T_STRING:
        if (strlen(value) >= k->size) {
            snprintf(err, cap, "value of %s is too long (max %zu bytes)", k->name, k->size - 1);
            return DRIFT_ECONFIG;
        }
        memcpy(base, value, strlen(value) + 1);
        return 0;
    case DRIFT_CFG_T_INT: {
        int64_t v;
        if ((rc = drift_parse_i64(value, &v)) < 0) {
            snprintf(err, cap, "%s: '%s' is not an integer", k->name, value);
            return DRIFT_ECONFIG;
        }
        if (v < k->min || v > k->max) {
            snprintf(err, cap, "%s: %lld is out of range [%lld, %lld]", k->name, (long long)v, (long long)k->min,
                     (long long)k->max);
            return DRIFT_ECONFIG;
        }
        *(int64_t *)base = v;
        return 0;
    }
    case DRIFT_CFG_T_SIZE:
    case DRIFT_CFG_T_DURATION: {
        uint64_t v;
        rc = k->type == DRIFT_CFG_T_SIZE ? drift_parse_size(value, &v) : drift_parse_duration(value, &v);
        if (rc < 0) {
            snprintf(err, cap, "%s: '%s' is not a valid %s", k->name, value,
                     k->type == DRIFT_CFG_T_SIZE ? "size (e.g. 64MB)" : "duration (e.g. 200ms, 5s)");
            return DRIFT_ECONFIG;
        }
        if ((int64_t)v < 0 || (int64_t)v < k->min || (k->max > 0 && (int64_t)v > k->max)) {
            snprintf(err, cap, "%s: '%s' is out of range", k->name, value);
            return DRIFT_ECONFIG;
        }
        *(uint64_t *)base = v;
        return 0;
    }
    case DRIFT_CFG_T_ENUM:
        for (int i = 0; k->enums[i]; i++) {
            if (strcmp(value, k->enums[i]) != 0)
                continue;
            *(int64_t *)base = i;
            return 0;
        }
        {
            char list[160] = "";
            for (int i = 0; k->enums[i]; i++) {
                strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
                strncat(list, k->enums[i], sizeof list - strlen(list) - 1);
            }
            snprintf(err, cap, "%s: '%s' is not one of: %s", k->name, value, list);
        }
        return DRIFT_ECONFIG;
    }
    snprintf(err, cap, "%s: unsupported key type", k->name);
    return DRIFT_ECONFIG;
}

void drift_config_defaults(drift_config_t *c)
{
    memset(c, 0, sizeof *c);
    char err[256];
    for (size_t i = 0; i < sizeof s_keys / sizeof s_keys[0]; i++) {
        int rc = s_assign(c, &s_keys[i], s_keys[i].def, err, sizeof err);
        (void)rc;
    }
}

int drift_config_set(drift_config_t *c, const char *key, const char *value, char *err, size_t errcap)
{
    const drift_cfg_key_t *k = s_find(key);
    if (!k) {
        snprintf(err, errcap, "unknown key '%s'", key);
        return DRIFT_ECONFIG;
    }
    return s_assign(c, k, value, err, errcap);
}

static char *s_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

/* Removes a trailing comment outside double quotes and unquotes the value. Returns NULL on a bad quote. */
static char *s_value(char *v)
{
    if (*v == '"') {
        char *end = strchr(v + 1, '"');
        if (!end)
            return NULL;
        char *rest = s_trim(end + 1);
        if (*rest && *rest != '#')
            return NULL;
        *end = 0;
        return v + 1;
    }
    char *hash = strchr(v, '#');
    if (hash)
        *hash = 0;
    return s_trim(v);
}

static int s_load(drift_config_t *c, const char *path, int depth, char *err, size_t errcap)
{
    if (depth > 8) {
        snprintf(err, errcap, "%s: include nesting deeper than 8 (include loop?)", path);
        return DRIFT_ECONFIG;
    }
    FILE *f = fopen(path, "re");
    if (!f) {
        int e = errno;
        snprintf(err, errcap, "%s: cannot open: %s", path, strerror(e));
        return -e;
    }
    char line[4096];
    char msg[512];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            snprintf(err, errcap, "%s:%d: line too long (max %zu bytes)", path, lineno, sizeof line - 2);
            rc = DRIFT_ECONFIG;
            goto out;
        }
        char *s = s_trim(line);
        if (!*s || *s == '#')
            continue;
        if (strncmp(s, "include", 7) == 0 && (!s[7] || isspace((unsigned char)s[7]))) {
            char *target = s_value(s_trim(s + 7));
            if (!target || !*target) {
                snprintf(err, errcap, "%s:%d: include needs a file name", path, lineno);
                rc = DRIFT_ECONFIG;
                goto out;
            }
            char full[PATH_MAX];
            if (target[0] == '/') {
                snprintf(full, sizeof full, "%s", target);
            } else {
                char dir[PATH_MAX];
                snprintf(dir, sizeof dir, "%s", path);
                if (snprintf(full, sizeof full, "%s/%s", dirname(dir), target) >= (int)sizeof full) {
                    snprintf(err, errcap, "%s:%d: include path too long", path, lineno);
                    rc = DRIFT_ECONFIG;
                    goto out;
                }
            }
            char sub[1024];
            rc = s_load(c, full, depth + 1, sub, sizeof sub);
            if (rc < 0) {
                if (rc != DRIFT_ECONFIG && strstr(sub, "cannot open"))
                    snprintf(err, errcap, "%s:%d: %s", path, lineno, sub);
                else
                    snprintf(err, errcap, "%s", sub);
                rc = DRIFT_ECONFIG;
                goto out;
            }
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errcap, "%s:%d: expected 'key = value', got '%.80s'", path, lineno, s);
            rc = DRIFT_ECONFIG;
            goto out;
        }
        *eq = 0;
        char *key = s_trim(s);
        char *val = s_value(s_trim(eq + 1));
        if (!*key) {
            snprintf(err, errcap, "%s:%d: missing key before '='", path, lineno);
            rc = DRIFT_ECONFIG;
            goto out;
        }
        if (!val) {
            snprintf(err, errcap, "%s:%d: unterminated or misplaced quote in value of %s", path, lineno, key);
            rc = DRIFT_ECONFIG;
            goto out;
        }
        if (drift_config_set(c, key, val, msg, sizeof msg) < 0) {
            snprintf(err, errcap, "%s:%d: %s", path, lineno, msg);
            rc = DRIFT_ECONFIG;
            goto out;
        }
    }
    if (ferror(f)) {
        snprintf(err, errcap, "%s: read error", path);
        rc = -EIO;
    }
out:
    fclose(f);
    return rc;
}

int drift_config_load(drift_config_t *c, const char *path, char *err, size_t errcap)
{
    int rc = s_load(c, path, 0, err, errcap);
    if (rc == 0)
        snprintf(c->source, sizeof c->source, "%s", path);
    return rc;
}

int drift_config_validate(const drift_config_t *c, char *err, size_t errcap)
{
    if (!c->data_dir[0]) {
        snprintf(err, errcap, "data_dir must not be empty");
        return DRIFT_ECONFIG;
    }
    if (!c->listen[0]) {
        snprintf(err, errcap, "listen must not be empty");
        return DRIFT_ECONFIG;
    }
    if (c->http[0] && !strrchr(c->http, ':')) {
        snprintf(err, errcap, "http: '%s' is not ADDR:PORT", c->http);
        return DRIFT_ECONFIG;
    }
    if (c->restart_backoff_min_ns > c->restart_backoff_max_ns) {
        snprintf(err, errcap, "restart_backoff_min is larger than restart_backoff_max");
        return DRIFT_ECONFIG;
    }
    if (c->heartbeat_timeout_ns <= c->heartbeat_interval_ns) {
        snprintf(err, errcap, "heartbeat_timeout must be longer than heartbeat_interval");
        return DRIFT_ECONFIG;
    }
    if (c->replication_mode != DRIFT_REPL_NONE && !c->replication_endpoint[0]) {
        snprintf(err, errcap, "replication_mode is %s but replication_endpoint is empty",
                 c->replication_mode == DRIFT_REPL_PRIMARY ? "primary" : "replica");
        return DRIFT_ECONFIG;
    }
    if (strcmp(c->log_target, "stderr") != 0 && strcmp(c->log_target, "syslog") != 0 &&
        !(strncmp(c->log_target, "file:", 5) == 0 && c->log_target[5])) {
        snprintf(err, errcap, "log_target: '%s' is not stderr, syslog or file:PATH", c->log_target);
        return DRIFT_ECONFIG;
    }
    return 0;
}

void drift_config_format(const drift_config_t *c, const drift_cfg_key_t *k, char *buf, size_t cap)
{
    const char *base = (const char *)c + k->offset;
    switch (k->type) {
    case DRIFT_CFG_T_STRING:
        snprintf(buf, cap, "%s", base);
        break;
    case DRIFT_CFG_T_INT:
        snprintf(buf, cap, "%lld", (long long)*(const int64_t *)base);
        break;
    case DRIFT_CFG_T_SIZE:
    case DRIFT_CFG_T_DURATION: {
        uint64_t v = *(const uint64_t *)base;
        if (k->type == DRIFT_CFG_T_SIZE)
            snprintf(buf, cap, "%lluB", (unsigned long long)v);
        else
            snprintf(buf, cap, "%lluns", (unsigned long long)v);
        break;
    }
    case DRIFT_CFG_T_ENUM:
        snprintf(buf, cap, "%s", k->enums[*(const int64_t *)base]);
        break;
    }
}

int drift_config_query_workers(const drift_config_t *c)
{
    if (c->query_workers > 0)
        return (int)c->query_workers;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int drift_config_log_level(const drift_config_t *c)
{
    return 3 + (int)c->log_level; /* error=3 (LOG_ERR) .. debug=7 (LOG_DEBUG) */
}
