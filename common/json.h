/* common/json.h — JSON text <-> MessagePack, for JSON columns, DriftQL
 * {json} literals, JSON parameters and replies, and driftctl ingest.
 *
 * The parser is strict RFC 8259 (UTF-8 checked, no trailing commas, no
 * comments, numbers: integers that fit int64/uint64 stay integers, others are
 * float64), bounded (nesting depth DRIFT_JSON_MAX_DEPTH) and reports the byte
 * offset of the first error. The writer emits canonical compact JSON (no
 * spaces, keys in the order given, shortest round-trip doubles, non-ASCII
 * kept as UTF-8, control characters escaped). Stateless; thread-safe. */
#ifndef DRIFT_COMMON_JSON_H
#define DRIFT_COMMON_JSON_H

#include <msgpack.h>
#include <stddef.h>

/* Nested arrays/objects allowed in one document. msgpack-c unpacks at most 32
 * nested containers (and ipc/msg.h caps messages at 32): 24 leaves room for the
 * envelopes a document travels in (commit message, row, reply). */
#define DRIFT_JSON_MAX_DEPTH 24

/* A growable text buffer. */
typedef struct {
    char *p;
    size_t len, cap;
    int oom; /* set when an allocation failed; later appends are ignored */
} drift_strbuf_t;

void drift_strbuf_append(drift_strbuf_t *b, const void *p, size_t n);
void drift_strbuf_free(drift_strbuf_t *b);

/* Parses JSON text s[0..n) into pk (exactly one value, surrounding whitespace allowed).
 * Returns 0, or DRIFT_EPROTO with a message in err and the byte offset in *ret_errpos (may be NULL),
 * or -ENOMEM. */
int drift_json_to_msgpack(const char *s, size_t n, msgpack_packer *pk, char *err, size_t errcap, size_t *ret_errpos);
/* Writes o as canonical JSON text (bin is written as a base64 string; ext as null). Returns 0 or -ENOMEM. */
int drift_json_from_msgpack(const msgpack_object *o, drift_strbuf_t *out);
/* Validates JSON text and rewrites it canonically into out. Same errors as drift_json_to_msgpack. */
int drift_json_canon(const char *s, size_t n, drift_strbuf_t *out, char *err, size_t errcap, size_t *ret_errpos);

#endif
