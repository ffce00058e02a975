/* common/errors.h — DriftDB's error convention.
 *
 * Functions that can fail return int: 0 ok, -errno for system errors,
 * DRIFT_E* (<= -1000) for domain errors. drift_strerror() names both. */
#ifndef DRIFT_COMMON_ERRORS_H
#define DRIFT_COMMON_ERRORS_H

enum {
    DRIFT_EBADMAGIC = -1000,  /* a file or shared block does not start with the expected magic */
    DRIFT_EVERSION = -1001,   /* unsupported format version */
    DRIFT_ECORRUPT = -1002,   /* checksum or structure mismatch */
    DRIFT_ECONFIG = -1003,    /* invalid configuration */
    DRIFT_ELOCKED = -1004,    /* a lock is held by another process */
    DRIFT_ETRUNCATED = -1005, /* data ends before a declared length */
    DRIFT_EPROTO = -1006,     /* malformed message */
    DRIFT_ETOOBIG = -1007,    /* exceeds a configured limit */
    DRIFT_ECHAIN = -1008,     /* hash chain does not link */
    DRIFT_ENOTFOUND = -1009,  /* no such object */
    DRIFT_EFULL = -1010,      /* no free slot */
};

/* Returns a static description of a DriftDB return code (negative errno or DRIFT_E*). */
const char *drift_strerror(int rc);

#endif
