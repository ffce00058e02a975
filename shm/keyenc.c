/* shm/keyenc.c — see keyenc.h (the encoding rules are listed there). */
#include "shm/keyenc.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/errors.h"

void drift_keybuf_reset(drift_keybuf_t *kb)
{
    kb->len = 0;
    kb->oom = 0;
}

void drift_keybuf_free(drift_keybuf_t *kb)
{
    free(kb->buf);
    memset(kb, 0, sizeof *kb);
}

/* Makes room for n more bytes; returns the write pointer or NULL. */
static uint8_t *s_room(drift_keybuf_t *kb, size_t n)
{
    if (kb->oom)
        return NULL;
    if (kb->len + n > kb->cap) {
        size_t cap = kb->cap ? kb->cap : 64;
        while (cap < kb->len + n)
            cap *= 2;
        uint8_t *b = realloc(kb->buf, cap);
        if (!b) {
            kb->oom = 1;
            return NULL;
        }
        kb->buf = b;
        kb->cap = cap;
    }
    return kb->buf + kb->len;
}

void drift_keybuf_raw_slow(drift_keybuf_t *kb, const void *p, size_t n)
{
    uint8_t *w = s_room(kb, n);
    if (!w)
        return;
    if (n)
        memcpy(w, p, n);
    kb->len += n;
}

/* Tag + 8 big-endian bytes. */
static void s_put_u64(drift_keybuf_t *kb, uint8_t tag, uint64_t u)
{
    uint8_t *w = s_room(kb, 9);
    if (!w)
        return;
    w[0] = tag;
    for (int i = 0; i < 8; i++)
        w[1 + i] = (uint8_t)(u >> (56 - 8 * i));
    kb->len += 9;
}

/* Tag + bytes with 0x00 escaped as 00 FF, ended by 00 01. */
static void s_put_bytes(drift_keybuf_t *kb, uint8_t tag, const uint8_t *p, size_t n)
{
    size_t zeros = 0;
    for (size_t i = 0; i < n; i++)
        zeros += p[i] == 0;
    uint8_t *w = s_room(kb, 1 + n + zeros + 2);
    if (!w)
        return;
    *w++ = tag;
    for (size_t i = 0; i < n; i++) {
        *w++ = p[i];
        if (p[i] == 0)
            *w++ = 0xFF;
    }
    *w++ = 0x00;
    *w++ = 0x01;
    kb->len += 1 + n + zeros + 2;
}

void drift_keyenc_null(drift_keybuf_t *kb)
{
    uint8_t t = DRIFT_KEYENC_NULL;
    drift_keybuf_raw(kb, &t, 1);
}

void drift_keyenc_bool(drift_keybuf_t *kb, int v)
{
    uint8_t t = v ? DRIFT_KEYENC_TRUE : DRIFT_KEYENC_FALSE;
    drift_keybuf_raw(kb, &t, 1);
}

void drift_keyenc_int(drift_keybuf_t *kb, int64_t v)
{
    s_put_u64(kb, DRIFT_KEYENC_INT, (uint64_t)v ^ (1ull << 63));
}

void drift_keyenc_ts(drift_keybuf_t *kb, int64_t ns)
{
    s_put_u64(kb, DRIFT_KEYENC_TS, (uint64_t)ns ^ (1ull << 63));
}

void drift_keyenc_real(drift_keybuf_t *kb, double v)
{
    uint64_t u;
    if (isnan(v))
        u = 0x7ff8000000000000ull; /* canonical quiet NaN: after +inf (0x7ff0...) */
    else {
        if (v == 0.0)
            v = 0.0; /* -0.0 == +0.0 */
        memcpy(&u, &v, 8);
    }
    u = (u >> 63) ? ~u : u | (1ull << 63);
    s_put_u64(kb, DRIFT_KEYENC_REAL, u);
}

void drift_keyenc_text(drift_keybuf_t *kb, const void *p, size_t n)
{
    s_put_bytes(kb, DRIFT_KEYENC_TEXT, p, n);
}

void drift_keyenc_blob(drift_keybuf_t *kb, const void *p, size_t n)
{
    s_put_bytes(kb, DRIFT_KEYENC_BLOB, p, n);
}

void drift_keyenc_json(drift_keybuf_t *kb, const void *p, size_t n)
{
    s_put_bytes(kb, DRIFT_KEYENC_JSON, p, n);
}

int drift_keyenc_msgpack(drift_keybuf_t *kb, drift_coltype_t t, const msgpack_object *v)
{
    if (v->type == MSGPACK_OBJECT_NIL) {
        drift_keyenc_null(kb);
        return 0;
    }
    switch (t) {
    case DRIFT_COL_INTEGER:
    case DRIFT_COL_TIMESTAMP: {
        int64_t i;
        if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            if (v->via.u64 > INT64_MAX)
                return DRIFT_EPROTO;
            i = (int64_t)v->via.u64;
        } else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            i = v->via.i64;
        else
            return DRIFT_EPROTO;
        if (t == DRIFT_COL_INTEGER)
            drift_keyenc_int(kb, i);
        else
            drift_keyenc_ts(kb, i);
        return 0;
    }
    case DRIFT_COL_REAL:
        if (v->type == MSGPACK_OBJECT_FLOAT32 || v->type == MSGPACK_OBJECT_FLOAT64)
            drift_keyenc_real(kb, v->via.f64);
        else if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            drift_keyenc_real(kb, (double)v->via.u64);
        else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            drift_keyenc_real(kb, (double)v->via.i64);
        else
            return DRIFT_EPROTO;
        return 0;
    case DRIFT_COL_BOOLEAN:
        if (v->type != MSGPACK_OBJECT_BOOLEAN)
            return DRIFT_EPROTO;
        drift_keyenc_bool(kb, v->via.boolean);
        return 0;
    case DRIFT_COL_TEXT:
    case DRIFT_COL_JSON:
        if (v->type != MSGPACK_OBJECT_STR)
            return DRIFT_EPROTO;
        s_put_bytes(kb, t == DRIFT_COL_TEXT ? DRIFT_KEYENC_TEXT : DRIFT_KEYENC_JSON, (const uint8_t *)v->via.str.ptr,
                    v->via.str.size);
        return 0;
    case DRIFT_COL_BLOB:
        if (v->type == MSGPACK_OBJECT_BIN)
            drift_keyenc_blob(kb, v->via.bin.ptr, v->via.bin.size);
        else if (v->type == MSGPACK_OBJECT_STR)
            drift_keyenc_blob(kb, v->via.str.ptr, v->via.str.size);
        else
            return DRIFT_EPROTO;
        return 0;
    default: return DRIFT_EPROTO;
    }
}

long drift_keyenc_skip(const uint8_t *p, size_t avail)
{
    if (avail < 1)
        return DRIFT_ECORRUPT;
    switch (p[0]) {
    case DRIFT_KEYENC_NULL:
    case DRIFT_KEYENC_FALSE:
    case DRIFT_KEYENC_TRUE: return 1;
    case DRIFT_KEYENC_INT:
    case DRIFT_KEYENC_REAL:
    case DRIFT_KEYENC_TS: return avail >= 9 ? 9 : DRIFT_ECORRUPT;
    case DRIFT_KEYENC_TEXT:
    case DRIFT_KEYENC_BLOB:
    case DRIFT_KEYENC_JSON:
        for (size_t i = 1; i + 1 < avail; i++) {
            if (p[i] != 0)
                continue;
            if (p[i + 1] == 0x01)
                return (long)(i + 2);
            if (p[i + 1] != 0xFF)
                return DRIFT_ECORRUPT;
            i++;
        }
        return DRIFT_ECORRUPT;
    default: return DRIFT_ECORRUPT;
    }
}

int drift_keyenc_decode(const uint8_t **pp, size_t *avail, drift_keyval_t *ret, uint8_t *scratch, size_t scratch_cap)
{
    const uint8_t *p = *pp;
    long n = drift_keyenc_skip(p, *avail);
    if (n < 0)
        return (int)n;
    memset(ret, 0, sizeof *ret);
    uint64_t u = 0;
    if (n == 9)
        for (int i = 0; i < 8; i++)
            u = u << 8 | p[1 + i];
    switch (p[0]) {
    case DRIFT_KEYENC_NULL: ret->type = DRIFT_COL_NULL; break;
    case DRIFT_KEYENC_FALSE:
    case DRIFT_KEYENC_TRUE:
        ret->type = DRIFT_COL_BOOLEAN;
        ret->i = p[0] == DRIFT_KEYENC_TRUE;
        break;
    case DRIFT_KEYENC_INT:
    case DRIFT_KEYENC_TS:
        ret->type = p[0] == DRIFT_KEYENC_INT ? DRIFT_COL_INTEGER : DRIFT_COL_TIMESTAMP;
        ret->i = (int64_t)(u ^ (1ull << 63));
        break;
    case DRIFT_KEYENC_REAL:
        ret->type = DRIFT_COL_REAL;
        u = (u >> 63) ? u & ~(1ull << 63) : ~u;
        memcpy(&ret->r, &u, 8);
        break;
    default: {
        ret->type = p[0] == DRIFT_KEYENC_TEXT   ? DRIFT_COL_TEXT
                    : p[0] == DRIFT_KEYENC_BLOB ? DRIFT_COL_BLOB
                                                : DRIFT_COL_JSON;
        size_t w = 0;
        for (long i = 1; i < n - 2; i++) {
            if (w >= scratch_cap)
                return -ENOSPC;
            scratch[w++] = p[i];
            if (p[i] == 0)
                i++; /* skip the 0xFF escape */
        }
        ret->p = scratch;
        ret->n = w;
        break;
    }
    }
    *pp += n;
    *avail -= (size_t)n;
    return 0;
}

static const char *const s_names[] = {"NULL", "INTEGER", "REAL", "TEXT", "BOOLEAN", "BLOB", "JSON", "TIMESTAMP"};

int drift_coltype_parse(const char *name, size_t len)
{
    static const struct {
        const char *n;
        drift_coltype_t t;
    } alias[] = {{"INTEGER", DRIFT_COL_INTEGER},     {"INT", DRIFT_COL_INTEGER},
                 {"BIGINT", DRIFT_COL_INTEGER},      {"SMALLINT", DRIFT_COL_INTEGER},
                 {"TINYINT", DRIFT_COL_INTEGER},     {"REAL", DRIFT_COL_REAL},
                 {"DOUBLE", DRIFT_COL_REAL},         {"FLOAT", DRIFT_COL_REAL},
                 {"DECIMAL", DRIFT_COL_REAL},        {"NUMERIC", DRIFT_COL_REAL},
                 {"TEXT", DRIFT_COL_TEXT},           {"VARCHAR", DRIFT_COL_TEXT},
                 {"CHAR", DRIFT_COL_TEXT},           {"CHARACTER", DRIFT_COL_TEXT},
                 {"BOOLEAN", DRIFT_COL_BOOLEAN},     {"BOOL", DRIFT_COL_BOOLEAN},
                 {"BLOB", DRIFT_COL_BLOB},           {"BYTEA", DRIFT_COL_BLOB},
                 {"JSON", DRIFT_COL_JSON},           {"JSONB", DRIFT_COL_JSON},
                 {"TIMESTAMP", DRIFT_COL_TIMESTAMP}, {"TIMESTAMPTZ", DRIFT_COL_TIMESTAMP}};
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (strlen(alias[i].n) == len && strncasecmp(alias[i].n, name, len) == 0)
            return (int)alias[i].t;
    return -1;
}

const char *drift_coltype_name(drift_coltype_t t)
{
    return (unsigned)t < sizeof s_names / sizeof s_names[0] ? s_names[t] : "?";
}
