/* ipc/msg.h — the bounded MessagePack validator and decoder for messages that
 * come from outside (clients) or from another process.
 *
 * msgpack-c has no size limits: a 9-byte message can ask it for 128 GiB. So
 * every message is first walked by drift_msg_validate(), which checks the size,
 * the nesting depth, every declared length (str/bin/ext bytes, array/map
 * counts) against the bytes that remain, and the total element count, without
 * allocating. Only a valid message is decoded, with msgpack_unpack() into a
 * zone whose size the validated element count bounds.
 * Pure functions plus one owned object; no globals, any thread. */
#ifndef DRIFT_IPC_MSG_H
#define DRIFT_IPC_MSG_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#define DRIFT_MSG_MAX_DEPTH 32u          /* hard cap: msgpack-c's own unpack stack is 32 deep */
#define DRIFT_MSG_DEFAULT_ELEMS 1000000u /* default element cap per message */

typedef struct {
    size_t max_size;    /* bytes; 0 = no limit besides the buffer */
    uint32_t max_depth; /* 1 = a scalar or an empty container at top level; capped at DRIFT_MSG_MAX_DEPTH */
    uint32_t max_elems; /* every object counts (keys, values, containers); 0 = DRIFT_MSG_DEFAULT_ELEMS */
} drift_msg_limits_t;

/* What the validator learned (for bounding the decode). */
typedef struct {
    size_t elems;      /* objects in the message */
    size_t containers; /* arrays + maps */
    uint32_t depth;    /* deepest nesting seen */
} drift_msg_stats_t;

/* Default limits for a message of at most max_size bytes. */
drift_msg_limits_t drift_msg_limits(size_t max_size);

/* Checks that buf[0..len) is exactly one well-formed MessagePack object within lim.
 * Returns 0, DRIFT_ETOOBIG (size/depth/element limit), DRIFT_ETRUNCATED (a length
 * runs past the end) or DRIFT_EPROTO (bad byte, trailing bytes, ext type, empty).
 * err (may be NULL) gets a message naming the byte offset. ret_stats may be NULL. */
int drift_msg_validate(const void *buf, size_t len, const drift_msg_limits_t *lim, drift_msg_stats_t *ret_stats,
                       char *err, size_t errcap);

/* Best effort for error replies: if buf starts with a map, scans its top-level
 * pairs (bounded, tolerant of a broken tail) for the key "id" with an integer
 * value. Returns 1 and sets *ret_id (and *ret_unsigned for a positive fixint/uint) when found, else 0. */
/* Size of the one MessagePack value at the start of buf (len bytes available; more may follow),
 * walked with the default limits. Returns 0 and *ret_used, or DRIFT_ETRUNCATED / DRIFT_ETOOBIG /
 * DRIFT_EPROTO. For readers of stored MessagePack (log bodies, index rows). */
int drift_msg_skip(const void *buf, size_t len, size_t *ret_used);
/* Reads the header of an array (is_map 0) or map (is_map 1) at *pp (before end): *ret_n elements, *pp
 * moved past the header. Returns 0, or -1 when the bytes there are not such a header. */
int drift_msg_container(const uint8_t **pp, const uint8_t *end, int is_map, uint32_t *ret_n);
int drift_msg_peek_id(const void *buf, size_t len, int64_t *ret_id, int *ret_unsigned);

typedef struct drift_msg drift_msg_t;

/* Validates then decodes buf (which must outlive the message: strings and
 * bins point into it). Returns 0 and *ret_msg, or the validator's error. */
int drift_msg_decode(const void *buf, size_t len, const drift_msg_limits_t *lim, drift_msg_t **ret_msg, char *err,
                     size_t errcap);
/* The decoded root object (borrowed). */
const msgpack_object *drift_msg_root(const drift_msg_t *self);
/* Frees the message; NULLs *self_p; accepts NULL. */
void drift_msg_destroy(drift_msg_t **self_p);

/* Looks up a string key in a map object; NULL when absent or obj is not a map (borrowed). */
const msgpack_object *drift_msg_map_get(const msgpack_object *obj, const char *key);

#endif
