/* common/util.c — see util.h. */
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

uint64_t drift_now_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t drift_now_real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Splits "123 unit" into a number and a unit suffix; multiplies by the unit's factor. */
static int s_parse_with_units(const char *s, const char *const *units, const uint64_t *factors, size_t nunits,
                              uint64_t default_factor, uint64_t *ret)
{
    while (isspace((unsigned char)*s))
        s++;
    if (!isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return -ERANGE;
    while (isspace((unsigned char)*end))
        end++;
    size_t ulen = strlen(end);
    while (ulen && isspace((unsigned char)end[ulen - 1]))
        ulen--;
    uint64_t factor = default_factor;
    if (ulen) {
        size_t i;
        for (i = 0; i < nunits; i++)
            if (strlen(units[i]) == ulen && strncasecmp(end, units[i], ulen) == 0)
                break;
        if (i == nunits)
            return -EINVAL;
        factor = factors[i];
    }
    if (factor && v > UINT64_MAX / factor)
        return -ERANGE;
    *ret = (uint64_t)v * factor;
    return 0;
}

int drift_parse_size(const char *s, uint64_t *ret_bytes)
{
    static const char *const u[] = {"B", "K", "KB", "KiB", "M", "MB", "MiB", "G", "GB", "GiB", "T", "TB", "TiB"};
    static const uint64_t f[] = {1,       1ull << 10, 1ull << 10, 1ull << 10, 1ull << 20, 1ull << 20, 1ull << 20,
                                 1ull << 30, 1ull << 30, 1ull << 30, 1ull << 40, 1ull << 40, 1ull << 40};
    return s_parse_with_units(s, u, f, sizeof u / sizeof u[0], 1, ret_bytes);
}

int drift_parse_duration(const char *s, uint64_t *ret_ns)
{
    static const char *const u[] = {"ns", "us", "ms", "s", "m", "min", "h"};
    static const uint64_t f[] = {1, 1000, 1000000, 1000000000ull, 60000000000ull, 60000000000ull, 3600000000000ull};
    return s_parse_with_units(s, u, f, sizeof u / sizeof u[0], 1000000, ret_ns);
}

int drift_parse_i64(const char *s, int64_t *ret)
{
    if (!*s)
        return -EINVAL;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE)
        return -ERANGE;
    if (*end)
        return -EINVAL;
    *ret = v;
    return 0;
}

int drift_mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -ENAMETOOLONG;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0750) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0750) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int drift_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

int drift_path_join(char *buf, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(buf, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return -ENAMETOOLONG;
    return 0;
}
