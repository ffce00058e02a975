/* common/log.h — process-wide logging for the supervisor and every role.
 *
 * One logger per process, configured once at start (before any thread).
 * Targets: stderr with "<N>" level prefixes that systemd-journald understands
 * (plain "LEVEL:" prefixes when stderr is a terminal), an append-only file,
 * or syslog. Libraries (ipc/, shm/) log only at debug level. */
#ifndef DRIFT_COMMON_LOG_H
#define DRIFT_COMMON_LOG_H

#include <stdarg.h>

/* syslog(3) priorities, which are also the sd-daemon(3) prefixes. */
enum {
    DRIFT_LOG_ERR = 3,
    DRIFT_LOG_WARNING = 4,
    DRIFT_LOG_NOTICE = 5,
    DRIFT_LOG_INFO = 6,
    DRIFT_LOG_DEBUG = 7,
};

/* Sets the process tag shown on each line ("driftdbd", "writer", "query.1"). */
void drift_log_set_tag(const char *tag);
/* Sets the most verbose level written. */
void drift_log_set_level(int level);
/* Parses "error|warning|notice|info|debug"; returns the level or -1. */
int drift_log_parse_level(const char *name);
/* Directs output: "stderr", "syslog" or "file:/path". Returns 0 or -errno. */
int drift_log_set_target(const char *target);
/* Sets a per-process context string appended to lines (e.g. a traceparent); NULL clears. */
void drift_log_set_context(const char *ctx);

void drift_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void drift_vlog(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define DLOG_ERR(...) drift_log(DRIFT_LOG_ERR, __VA_ARGS__)
#define DLOG_WARN(...) drift_log(DRIFT_LOG_WARNING, __VA_ARGS__)
#define DLOG_NOTICE(...) drift_log(DRIFT_LOG_NOTICE, __VA_ARGS__)
#define DLOG_INFO(...) drift_log(DRIFT_LOG_INFO, __VA_ARGS__)
#define DLOG_DEBUG(...) drift_log(DRIFT_LOG_DEBUG, __VA_ARGS__)

#endif
