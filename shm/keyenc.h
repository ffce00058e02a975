/* shm/keyenc.h — order-preserving ("memcomparable") encoding of SQL values.
 *
 * memcmp() order of two encodings equals the SQL order of the values, so that
 * LMDB (which compares keys with memcmp) keeps rows and index entries in
 * value order and ranges are byte ranges. Rules (docs/indexes.md, "Keys"):
 *
 *   every value starts with a one-byte tag, chosen so that NULL sorts first:
 *     NULL       0x05
 *     BOOLEAN    0x10 false, 0x11 true
 *     INTEGER    0x20, 8 bytes big-endian two's complement with the sign bit flipped
 *     REAL       0x30, 8 bytes: IEEE-754 bits big-endian; positive (sign 0): sign bit set;
 *                negative: every bit inverted. -0.0 is encoded as +0.0 (they compare equal);
 *                every NaN is encoded as one canonical quiet NaN and sorts after +infinity.
 *     TIMESTAMP  0x40, like INTEGER (ns since the Unix epoch, may be negative)
 *     TEXT       0x50, the UTF-8 bytes with 0x00 escaped as 0x00 0xFF, ended by 0x00 0x01
 *     BLOB       0x60, same escaping as TEXT
 *     JSON       0x70, the JSON text, same escaping (orders by text, not by value)
 *   A composite key is the concatenation of its columns' encodings: each
 *   encoding is self-delimiting and no encoding of a value is a proper prefix of
 *   another of the same type, so concatenations of the same arity compare
 *   column by column. TEXT is ordered by bytes (binary collation = code point order).
 *
 * Stateless; safe from any thread or process. */
#ifndef DRIFT_SHM_KEYENC_H
#define DRIFT_SHM_KEYENC_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* SQL column types (the values stored in the catalog). */
typedef enum {
    DRIFT_COL_NULL = 0, /* only as the type of a NULL value */
    DRIFT_COL_INTEGER = 1,
    DRIFT_COL_REAL = 2,
    DRIFT_COL_TEXT = 3,
    DRIFT_COL_BOOLEAN = 4,
    DRIFT_COL_BLOB = 5,
    DRIFT_COL_JSON = 6,
    DRIFT_COL_TIMESTAMP = 7,
} drift_coltype_t;

#define DRIFT_KEYENC_NULL 0x05
#define DRIFT_KEYENC_FALSE 0x10
#define DRIFT_KEYENC_TRUE 0x11
#define DRIFT_KEYENC_INT 0x20
#define DRIFT_KEYENC_REAL 0x30
#define DRIFT_KEYENC_TS 0x40
#define DRIFT_KEYENC_TEXT 0x50
#define DRIFT_KEYENC_BLOB 0x60
#define DRIFT_KEYENC_JSON 0x70

/* A growable output buffer. */
typedef struct {
    uint8_t *buf;
    size_t len, cap;
    int oom; /* set when an allocation failed; later puts are ignored */
} drift_keybuf_t;

/* Empties kb (keeps the allocation). */
void drift_keybuf_reset(drift_keybuf_t *kb);
/* Frees the buffer. */
void drift_keybuf_free(drift_keybuf_t *kb);
/* Appends raw bytes (out of line: when kb must grow, or after an allocation failed). */
void drift_keybuf_raw_slow(drift_keybuf_t *kb, const void *p, size_t n);
/* Appends raw bytes. Inline: the index's write path appends ~30 small pieces a version (4-byte ids,
 * 8-byte seqs, keys), and a call plus the room check per piece cost as much as the copies. */
static inline void drift_keybuf_raw(drift_keybuf_t *kb, const void *p, size_t n)
{
    if (kb->cap - kb->len >= n && !kb->oom) {
        if (n)
            memcpy(kb->buf + kb->len, p, n);
        kb->len += n;
    } else
        drift_keybuf_raw_slow(kb, p, n);
}

/* Appends one encoded value. */
void drift_keyenc_null(drift_keybuf_t *kb);
void drift_keyenc_bool(drift_keybuf_t *kb, int v);
void drift_keyenc_int(drift_keybuf_t *kb, int64_t v);
void drift_keyenc_real(drift_keybuf_t *kb, double v);
void drift_keyenc_ts(drift_keybuf_t *kb, int64_t ns);
void drift_keyenc_text(drift_keybuf_t *kb, const void *p, size_t n);
void drift_keyenc_blob(drift_keybuf_t *kb, const void *p, size_t n);
void drift_keyenc_json(drift_keybuf_t *kb, const void *p, size_t n);

/* Appends the encoding of a MessagePack value as a value of column type t (nil = NULL whatever t).
 * Integers are accepted for REAL; REAL with an integral value is not accepted for INTEGER.
 * Returns 0 or DRIFT_EPROTO when the value does not fit the type. */
int drift_keyenc_msgpack(drift_keybuf_t *kb, drift_coltype_t t, const msgpack_object *v);

/* One decoded value; text/blob/json bytes are unescaped into the caller's scratch buffer. */
typedef struct {
    drift_coltype_t type;
    int64_t i;        /* INTEGER, TIMESTAMP, BOOLEAN (0/1) */
    double r;         /* REAL */
    const uint8_t *p; /* TEXT/BLOB/JSON bytes (in scratch) */
    size_t n;
} drift_keyval_t;

/* Decodes the value at *p (avail bytes); advances *p. scratch (scratch_cap bytes) receives the
 * unescaped bytes of text/blob/json. Returns 0, DRIFT_ECORRUPT or -ENOSPC (scratch too small). */
int drift_keyenc_decode(const uint8_t **p, size_t *avail, drift_keyval_t *ret, uint8_t *scratch, size_t scratch_cap);
/* Length of the encoded value at p (avail bytes) or DRIFT_ECORRUPT. */
long drift_keyenc_skip(const uint8_t *p, size_t avail);

/* Parses a type name ("INTEGER", "int", "text", ...; case-insensitive). Returns the type or -1. */
int drift_coltype_parse(const char *name, size_t len);
/* Canonical upper-case name of a type. */
const char *drift_coltype_name(drift_coltype_t t);

#endif
