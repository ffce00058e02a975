/* client/drift_int.h — libdrift internals shared by drift.c and result.c (not installed).
 *
 * A result owns every reply message (chunk) it was assembled from: msgpack-c
 * objects point into those buffers (zero-copy strings), so the buffers live as
 * long as the result. Single-threaded, like the connection. */
#ifndef DRIFT_CLIENT_DRIFT_INT_H
#define DRIFT_CLIENT_DRIFT_INT_H

#include <msgpack.h>

#include "client/drift.h"

/* Internal symbols are not exported from libdrift.so. */
#define DRIFT_INTERNAL __attribute__((visibility("hidden")))

/* Deepest nesting accepted in a reply (the server's limit is lower). */
#define DRIFT_CLIENT_MAX_DEPTH 64

typedef struct drift_chunk {
    char *buf; /* the reply bytes (msgpack strings point here) */
    size_t len;
    msgpack_unpacked up; /* the decoded reply; its zone holds the objects */
} drift_chunk_t;

struct drift_result {
    uint64_t id;
    bool ok;
    bool done;
    char errcode[8];
    char *errmsg;
    char *server;
    bool has_affected, has_seq;
    int64_t affected, seq;
    const msgpack_object *columns; /* array of str, from the first chunk that had it */
    char **colnames;               /* NUL-terminated copies, NULL-terminated array */
    char **coltypes;               /* same for `types` (NULL when not sent) */
    char txn[16];
    int64_t errpos, retry_after_ms;
    const msgpack_object **rows; /* each an array of cells */
    size_t nrows, caprows;
    drift_chunk_t *chunks;
    size_t nchunks, capchunks;
};

/* Checks that buf holds exactly one well-formed MessagePack value: every
 * declared length fits in the remaining bytes, nesting <= max_depth, no ext
 * types. Returns 0 or DRIFT_CLIENT_EPROTO. Never allocates. */
DRIFT_INTERNAL int drift_mp_check(const char *buf, size_t len, int max_depth);

/* Looks key up in a msgpack map; NULL when absent or obj is not a map. */
DRIFT_INTERNAL const msgpack_object *drift_mp_get(const msgpack_object *map, const char *key);

/* A new, empty result for request id. NULL on ENOMEM. */
DRIFT_INTERNAL drift_result_t *drift_result_new(uint64_t id);
/* Adds one reply (buf is handed over: freed by the result or here on error)
 * whose decoded root map is in *up (handed over too). Sets done when the
 * reply has no `more: true` or is an error. Returns 0, ENOMEM or EPROTO. */
DRIFT_INTERNAL int drift_result_add_chunk(drift_result_t *r, char *buf, size_t len, msgpack_unpacked *up);

#endif
