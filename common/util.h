/* common/util.h — small helpers shared by every process: clocks, unit
 * parsing, paths. No state, no locks. */
#ifndef DRIFT_COMMON_UTIL_H
#define DRIFT_COMMON_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t drift_now_mono_ns(void);
/* CLOCK_REALTIME in nanoseconds since the Unix epoch. */
uint64_t drift_now_real_ns(void);

/* Parses a byte size with optional unit (B, KB, MB, GB, TB; powers of 1024; also KiB...).
 * Returns 0 or -EINVAL / -ERANGE. */
int drift_parse_size(const char *s, uint64_t *ret_bytes);
/* Parses a duration with unit (ns, us, ms, s, m, h; a bare number is ms).
 * Returns 0 or -EINVAL / -ERANGE. */
int drift_parse_duration(const char *s, uint64_t *ret_ns);
/* Parses a signed 64-bit decimal integer, whole string. Returns 0 or -EINVAL / -ERANGE. */
int drift_parse_i64(const char *s, int64_t *ret);

/* Creates a directory and its parents (mode 0750). Returns 0 or -errno. */
int drift_mkdir_p(const char *path);
/* fsyncs a directory. Returns 0 or -errno. */
int drift_fsync_dir(const char *path);
/* Formats "<dir>/<name>" into buf; returns -ENAMETOOLONG if it does not fit. */
int drift_path_join(char *buf, size_t cap, const char *dir, const char *name);

/* xorshift64*: a fast deterministic pseudo-random sequence (not for secrets) from a non-zero state. */
static inline uint64_t drift_rand64(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

#endif
