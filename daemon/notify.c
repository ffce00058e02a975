/* daemon/notify.c — see notify.h. Used by the supervisor only. */
#include "daemon/notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int drift_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    if (n >= sizeof sa.sun_path)
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, path, n);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = 0;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    ssize_t w = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
                       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
    int rc = w < 0 ? -errno : 0;
    close(fd);
    return rc;
}

int drift_notifyf(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return drift_notify(buf);
}

uint64_t drift_notify_watchdog_ns(void)
{
    const char *us = getenv("WATCHDOG_USEC");
    if (!us)
        return 0;
    const char *wpid = getenv("WATCHDOG_PID");
    if (wpid && atol(wpid) != (long)getpid())
        return 0;
    unsigned long long v = strtoull(us, NULL, 10);
    return (uint64_t)v * 1000ull;
}
