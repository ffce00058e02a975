/* common/log.c — see log.h. Single-threaded use per process; each line is
 * written with one write(2) so lines from several processes sharing stderr
 * or an O_APPEND file do not interleave. */
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static char s_tag[32] = "driftdb";
static char s_ctx[96];
static int s_level = DRIFT_LOG_INFO;
static int s_fd = 2;
static int s_syslog;
static int s_tty = -1;

static const char *const s_names[8] = {"EMERG", "ALERT", "CRIT", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG"};

void drift_log_set_tag(const char *tag)
{
    snprintf(s_tag, sizeof s_tag, "%s", tag);
    if (s_syslog) {
        closelog();
        openlog(s_tag, LOG_PID | LOG_NDELAY, LOG_DAEMON);
    }
}

void drift_log_set_level(int level) { s_level = level; }

void drift_log_set_context(const char *ctx)
{
    if (ctx)
        snprintf(s_ctx, sizeof s_ctx, "%s", ctx);
    else
        s_ctx[0] = 0;
}

int drift_log_parse_level(const char *name)
{
    static const struct {
        const char *name;
        int level;
    } t[] = {{"error", DRIFT_LOG_ERR}, {"warning", DRIFT_LOG_WARNING}, {"notice", DRIFT_LOG_NOTICE},
             {"info", DRIFT_LOG_INFO}, {"debug", DRIFT_LOG_DEBUG}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(name, t[i].name) == 0)
            return t[i].level;
    return -1;
}

int drift_log_set_target(const char *target)
{
    if (strcmp(target, "stderr") == 0) {
        s_fd = 2;
        s_syslog = 0;
        return 0;
    }
    if (strcmp(target, "syslog") == 0) {
        s_syslog = 1;
        openlog(s_tag, LOG_PID | LOG_NDELAY, LOG_DAEMON);
        return 0;
    }
    if (strncmp(target, "file:", 5) == 0 && target[5]) {
        int fd = open(target + 5, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd < 0)
            return -errno;
        if (s_fd > 2)
            close(s_fd);
        s_fd = fd;
        s_syslog = 0;
        s_tty = 0;
        return 0;
    }
    return -EINVAL;
}

void drift_vlog(int level, const char *fmt, va_list ap)
{
    if (level > s_level)
        return;
    int saved = errno;
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (s_syslog) {
        if (s_ctx[0])
            syslog(level, "%s [%s]", msg, s_ctx);
        else
            syslog(level, "%s", msg);
        errno = saved;
        return;
    }
    if (s_tty < 0)
        s_tty = isatty(s_fd);
    char line[2400];
    int n;
    const char *ctx_open = s_ctx[0] ? " [" : "", *ctx_close = s_ctx[0] ? "]" : "";
    if (s_fd != 2) {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ %s %s[%d]: %s%s%s%s\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000, s_names[level & 7], s_tag, (int)getpid(), msg, ctx_open, s_ctx,
                     ctx_close);
    } else if (s_tty) {
        n = snprintf(line, sizeof line, "%s: %s[%d]: %s%s%s%s\n", s_names[level & 7], s_tag, (int)getpid(),
                     msg, ctx_open, s_ctx, ctx_close);
    } else {
        n = snprintf(line, sizeof line, "<%d>%s[%d]: %s%s%s%s\n", level, s_tag, (int)getpid(), msg, ctx_open,
                     s_ctx, ctx_close);
    }
    if (n > (int)sizeof line - 1)
        n = (int)sizeof line - 1;
    ssize_t w = write(s_fd, line, (size_t)n);
    (void)w;
    errno = saved;
}

void drift_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    drift_vlog(level, fmt, ap);
    va_end(ap);
}
