/* common/config.h — the configuration file and command-line overrides.
 *
 * Format: `key = value` lines, `#` comments, optional double quotes, sizes with
 * units (64MB), durations with units (200ms), `include PATH` (relative to the
 * including file). The last assignment of a key wins. Every error is reported
 * as "file:line: message". Used by the supervisor (load, validate, reload) and
 * re-read by each role after exec; plain data, no locks. */
#ifndef DRIFT_COMMON_CONFIG_H
#define DRIFT_COMMON_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define DRIFT_CFG_STR 256

typedef enum { DRIFT_DURABILITY_SYNC = 0, DRIFT_DURABILITY_ASYNC = 1 } drift_durability_t;
typedef enum { DRIFT_REPL_NONE = 0, DRIFT_REPL_PRIMARY = 1, DRIFT_REPL_REPLICA = 2 } drift_repl_mode_t;

typedef struct {
    char data_dir[PATH_MAX];
    char listen[DRIFT_CFG_STR];
    char http[DRIFT_CFG_STR];
    int64_t query_workers;
    char log_target[DRIFT_CFG_STR];
    int64_t log_level; /* 0 error .. 4 debug; drift_config_log_level() maps it */
    uint64_t segment_size;
    int64_t durability; /* drift_durability_t */
    uint64_t sync_interval_ns;
    uint64_t commit_gather_ns; /* durability = sync: longest wait of a group commit for expected sessions; 0 = off */
    uint64_t index_stall_ns;   /* commits wait while the oldest unindexed one is older than this; 0 = off */
    int64_t keymap_forget_at;  /* the writer's key map forgets indexed keys above this many; 0 = never */
    uint64_t max_message_size;
    int64_t max_inflight_per_client;
    int64_t max_queue;
    int64_t gateway_fast_reads; /* 1 on, 0 off: the gateway answers short reads itself */
    uint64_t request_timeout_ns;
    uint64_t heartbeat_interval_ns;
    uint64_t heartbeat_timeout_ns;
    uint64_t start_timeout_ns;
    uint64_t shutdown_grace_ns;
    uint64_t restart_backoff_min_ns;
    uint64_t restart_backoff_max_ns;
    int64_t replication_mode; /* drift_repl_mode_t */
    char replication_endpoint[DRIFT_CFG_STR];
    uint64_t index_map_size;   /* LMDB map size of <data_dir>/index (docs/indexes.md) */
    uint64_t index_lag_max_ns; /* /health/ready fails when the index lags more; 0 = never */

    char source[PATH_MAX]; /* the file loaded last, "" when only defaults */
} drift_config_t;

typedef enum {
    DRIFT_CFG_T_STRING,
    DRIFT_CFG_T_INT,
    DRIFT_CFG_T_SIZE,
    DRIFT_CFG_T_DURATION,
    DRIFT_CFG_T_ENUM,
} drift_cfg_type_t;

/* How a change of the key is applied on SIGHUP. */
typedef enum {
    DRIFT_CFG_RESTART_ROLES, /* restart the roles in `roles` */
    DRIFT_CFG_LIVE,          /* every role re-reads it on SIGHUP, nothing restarts */
    DRIFT_CFG_SUPERVISOR,    /* the supervisor applies it itself */
    DRIFT_CFG_FIXED,         /* cannot change without a full restart; a reload that changes it is refused */
} drift_cfg_apply_t;

typedef struct {
    const char *name;
    drift_cfg_type_t type;
    size_t offset;
    size_t size;             /* for strings: buffer size */
    const char *def;         /* default, in file syntax */
    const char *const *enums; /* NULL-terminated names for ENUM (value = index) */
    int64_t min, max;        /* bounds for INT (and SIZE/DURATION when max > 0) */
    drift_cfg_apply_t apply;
    unsigned roles;          /* DRIFT_ROLE_BIT mask for DRIFT_CFG_RESTART_ROLES */
    const char *help;
} drift_cfg_key_t;

/* Returns the key table and its length. */
const drift_cfg_key_t *drift_config_keys(size_t *ret_n);
/* Fills every key with its default. */
void drift_config_defaults(drift_config_t *c);
/* Loads a file over the current values. On error returns DRIFT_ECONFIG (or -errno
 * when the file can't be read) and writes "file:line: message" into err. */
int drift_config_load(drift_config_t *c, const char *path, char *err, size_t errcap);
/* Sets one key from its text form (command-line overrides). err gets "key: message". */
int drift_config_set(drift_config_t *c, const char *key, const char *value, char *err, size_t errcap);
/* Cross-key checks after loading. */
int drift_config_validate(const drift_config_t *c, char *err, size_t errcap);
/* Formats a key's current value in file syntax into buf. */
void drift_config_format(const drift_config_t *c, const drift_cfg_key_t *k, char *buf, size_t cap);
/* The DRIFT_LOG_* level for log_level. */
int drift_config_log_level(const drift_config_t *c);
/* Number of query workers to run (query_workers, or the number of cores when 0). */
int drift_config_query_workers(const drift_config_t *c);

#endif
