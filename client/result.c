/* client/result.c — libdrift results: the reply validator, chunk assembly,
 * typed cell accessors and the JSON/text renderers.
 *
 * Concurrency: a result is plain memory owned by one caller; nothing here is
 * shared or locked. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/drift_int.h"

/* Reads a big-endian unsigned integer of n bytes. */
static uint64_t s_be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Skips one value starting at p; returns the byte after it or NULL when malformed. */
static const unsigned char *s_skip(const unsigned char *p, const unsigned char *end, int depth)
{
    if (p >= end || depth < 0)
        return NULL;
    unsigned char b = *p++;
    size_t avail = (size_t)(end - p);
    uint64_t n = 0; /* payload bytes or element count */
    int hdr = 0;    /* bytes of length field */
    int kind = 0;   /* 0 scalar with n payload bytes, 1 array of n, 2 map of n */
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return p;
    if (b >= 0x80 && b <= 0x8f) {
        kind = 2;
        n = b & 0x0f;
    } else if (b >= 0x90 && b <= 0x9f) {
        kind = 1;
        n = b & 0x0f;
    } else if (b >= 0xa0 && b <= 0xbf) {
        n = b & 0x1f;
    } else {
        switch (b) {
        case 0xc4:
        case 0xd9: hdr = 1; break;
        case 0xc5:
        case 0xda: hdr = 2; break;
        case 0xc6:
        case 0xdb: hdr = 4; break;
        case 0xca: n = 4; break;
        case 0xcb: n = 8; break;
        case 0xcc:
        case 0xd0: n = 1; break;
        case 0xcd:
        case 0xd1: n = 2; break;
        case 0xce:
        case 0xd2: n = 4; break;
        case 0xcf:
        case 0xd3: n = 8; break;
        case 0xdc:
            kind = 1;
            hdr = 2;
            break;
        case 0xdd:
            kind = 1;
            hdr = 4;
            break;
        case 0xde:
            kind = 2;
            hdr = 2;
            break;
        case 0xdf:
            kind = 2;
            hdr = 4;
            break;
        default: return NULL; /* 0xc1, ext types: not part of the protocol */
        }
        if (hdr) {
            if (avail < (size_t)hdr)
                return NULL;
            n = s_be(p, hdr);
            p += hdr;
            avail -= (size_t)hdr;
        }
    }
    if (kind == 0) {
        if (n > avail)
            return NULL;
        return p + n;
    }
    /* Every element takes at least one byte: reject impossible counts before looping. */
    uint64_t elems = kind == 2 ? n * 2 : n;
    if (elems > avail)
        return NULL;
    for (uint64_t i = 0; i < elems; i++) {
        p = s_skip(p, end, depth - 1);
        if (!p)
            return NULL;
    }
    return p;
}

int drift_mp_check(const char *buf, size_t len, int max_depth)
{
    if (!buf || len == 0)
        return DRIFT_CLIENT_EPROTO;
    const unsigned char *p = (const unsigned char *)buf, *end = p + len;
    const unsigned char *q = s_skip(p, end, max_depth);
    return q == end ? 0 : DRIFT_CLIENT_EPROTO;
}

/* True when o is a str equal to the NUL-terminated s. */
static bool s_str_eq(const msgpack_object *o, const char *s)
{
    size_t n = strlen(s);
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n && memcmp(o->via.str.ptr, s, n) == 0;
}

const msgpack_object *drift_mp_get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++)
        if (s_str_eq(&map->via.map.ptr[i].key, key))
            return &map->via.map.ptr[i].val;
    return NULL;
}

/* Reads an integer object into *ret; false when o is not an int64-representable integer. */
static bool s_get_i64(const msgpack_object *o, int64_t *ret)
{
    if (!o)
        return false;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= (uint64_t)INT64_MAX) {
        *ret = (int64_t)o->via.u64;
        return true;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *ret = o->via.i64;
        return true;
    }
    return false;
}

/* strndup of a msgpack str (or "" when not a str). */
static char *s_dup_str(const msgpack_object *o)
{
    if (!o || o->type != MSGPACK_OBJECT_STR)
        return strdup("");
    return strndup(o->via.str.ptr, o->via.str.size);
}

/* Copies the reply's `txn` state into r when present. */
static void s_get_txn(drift_result_t *r, const msgpack_object *root)
{
    const msgpack_object *t = drift_mp_get(root, "txn");
    if (t && t->type == MSGPACK_OBJECT_STR && t->via.str.size < sizeof r->txn) {
        memcpy(r->txn, t->via.str.ptr, t->via.str.size);
        r->txn[t->via.str.size] = 0;
    }
}

/* Frees a NULL-terminated array of strings. */
static void s_free_strv(char **v)
{
    if (v)
        for (size_t i = 0; v[i]; i++)
            free(v[i]);
    free(v);
}

drift_result_t *drift_result_new(uint64_t id)
{
    drift_result_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->id = id;
    r->ok = true;
    return r;
}

void drift_result_free(drift_result_t **result_p)
{
    if (!result_p || !*result_p)
        return;
    drift_result_t *r = *result_p;
    for (size_t i = 0; i < r->nchunks; i++) {
        msgpack_unpacked_destroy(&r->chunks[i].up);
        free(r->chunks[i].buf);
    }
    free(r->chunks);
    free(r->rows);
    s_free_strv(r->colnames);
    s_free_strv(r->coltypes);
    free(r->errmsg);
    free(r->server);
    free(r);
    *result_p = NULL;
}

int drift_result_add_chunk(drift_result_t *r, char *buf, size_t len, msgpack_unpacked *up)
{
    int rc = 0;
    if (r->nchunks == r->capchunks) {
        size_t cap = r->capchunks ? r->capchunks * 2 : 2;
        drift_chunk_t *c = realloc(r->chunks, cap * sizeof *c);
        if (!c) {
            msgpack_unpacked_destroy(up);
            free(buf);
            return DRIFT_CLIENT_ENOMEM;
        }
        r->chunks = c;
        r->capchunks = cap;
    }
    drift_chunk_t *ch = &r->chunks[r->nchunks++];
    ch->buf = buf;
    ch->len = len;
    ch->up = *up; /* the zone moves with the struct (msgpack_unpacked holds a pointer) */
    msgpack_unpacked_init(up);
    const msgpack_object *root = &ch->up.data;

    const msgpack_object *ok = drift_mp_get(root, "ok");
    if (!ok || ok->type != MSGPACK_OBJECT_BOOLEAN) {
        rc = DRIFT_CLIENT_EPROTO;
        goto out;
    }
    if (!ok->via.boolean) {
        const msgpack_object *err = drift_mp_get(root, "error");
        const msgpack_object *code = drift_mp_get(err, "code");
        const msgpack_object *msg = drift_mp_get(err, "message");
        r->ok = false;
        r->done = true;
        if (code && code->type == MSGPACK_OBJECT_STR && code->via.str.size < sizeof r->errcode) {
            memcpy(r->errcode, code->via.str.ptr, code->via.str.size);
            r->errcode[code->via.str.size] = 0;
        } else {
            snprintf(r->errcode, sizeof r->errcode, "XX000");
        }
        free(r->errmsg);
        r->errmsg = s_dup_str(msg);
        if (!r->errmsg)
            rc = DRIFT_CLIENT_ENOMEM;
        int64_t n;
        if (s_get_i64(drift_mp_get(err, "position"), &n))
            r->errpos = n;
        if (s_get_i64(drift_mp_get(err, "retry_after_ms"), &n))
            r->retry_after_ms = n;
        s_get_txn(r, root);
        goto out;
    }
    const msgpack_object *cols = drift_mp_get(root, "columns");
    if (cols) {
        if (cols->type != MSGPACK_OBJECT_ARRAY) {
            rc = DRIFT_CLIENT_EPROTO;
            goto out;
        }
        for (uint32_t i = 0; i < cols->via.array.size; i++)
            if (cols->via.array.ptr[i].type != MSGPACK_OBJECT_STR) {
                rc = DRIFT_CLIENT_EPROTO;
                goto out;
            }
        if (!r->columns && !r->colnames) {
            r->colnames = calloc(cols->via.array.size + 1, sizeof *r->colnames);
            if (!r->colnames) {
                rc = DRIFT_CLIENT_ENOMEM;
                goto out;
            }
            for (uint32_t i = 0; i < cols->via.array.size; i++) {
                r->colnames[i] = s_dup_str(&cols->via.array.ptr[i]);
                if (!r->colnames[i]) {
                    rc = DRIFT_CLIENT_ENOMEM;
                    goto out;
                }
            }
            r->columns = cols;
        }
    }
    const msgpack_object *types = drift_mp_get(root, "types");
    if (types && types->type == MSGPACK_OBJECT_ARRAY && !r->coltypes) {
        r->coltypes = calloc(types->via.array.size + 1, sizeof *r->coltypes);
        if (!r->coltypes) {
            rc = DRIFT_CLIENT_ENOMEM;
            goto out;
        }
        for (uint32_t i = 0; i < types->via.array.size; i++) {
            const msgpack_object *t = &types->via.array.ptr[i];
            r->coltypes[i] = t->type == MSGPACK_OBJECT_STR ? s_dup_str(t) : strdup("NULL");
            if (!r->coltypes[i]) {
                rc = DRIFT_CLIENT_ENOMEM;
                goto out;
            }
        }
    }
    s_get_txn(r, root);
    const msgpack_object *rows = drift_mp_get(root, "rows");
    if (rows) {
        if (rows->type != MSGPACK_OBJECT_ARRAY) {
            rc = DRIFT_CLIENT_EPROTO;
            goto out;
        }
        uint32_t n = rows->via.array.size;
        if (r->nrows + n > r->caprows) {
            size_t cap = r->caprows ? r->caprows : 16;
            while (cap < r->nrows + n)
                cap *= 2;
            const msgpack_object **nr = realloc(r->rows, cap * sizeof *nr);
            if (!nr) {
                rc = DRIFT_CLIENT_ENOMEM;
                goto out;
            }
            r->rows = nr;
            r->caprows = cap;
        }
        for (uint32_t i = 0; i < n; i++) {
            const msgpack_object *row = &rows->via.array.ptr[i];
            if (row->type != MSGPACK_OBJECT_ARRAY) {
                rc = DRIFT_CLIENT_EPROTO;
                goto out;
            }
            r->rows[r->nrows++] = row;
        }
    }
    int64_t v;
    const msgpack_object *o = drift_mp_get(root, "affected");
    if (o) {
        if (!s_get_i64(o, &v)) {
            rc = DRIFT_CLIENT_EPROTO;
            goto out;
        }
        r->has_affected = true;
        r->affected = v;
    }
    o = drift_mp_get(root, "seq");
    if (o && o->type != MSGPACK_OBJECT_NIL) {
        if (!s_get_i64(o, &v)) {
            rc = DRIFT_CLIENT_EPROTO;
            goto out;
        }
        r->has_seq = true;
        r->seq = v;
    }
    o = drift_mp_get(root, "server");
    if (o && o->type == MSGPACK_OBJECT_STR) {
        free(r->server);
        r->server = s_dup_str(o);
    }
    o = drift_mp_get(root, "more");
    r->done = !(o && o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean);
out:
    if (rc == DRIFT_CLIENT_EPROTO) {
        r->ok = false;
        r->done = true;
        snprintf(r->errcode, sizeof r->errcode, "08P01");
        free(r->errmsg);
        r->errmsg = strdup("malformed reply from the server (wrong field types)");
    }
    return rc;
}

bool drift_result_ok(const drift_result_t *r)
{
    return r && r->ok;
}

const char *drift_result_errcode(const drift_result_t *r)
{
    return r && !r->ok ? r->errcode : "";
}

const char *drift_result_errmsg(const drift_result_t *r)
{
    return r && !r->ok && r->errmsg ? r->errmsg : "";
}

uint64_t drift_result_id(const drift_result_t *r)
{
    return r ? r->id : 0;
}

size_t drift_result_ncolumns(const drift_result_t *r)
{
    return r && r->columns ? r->columns->via.array.size : 0;
}

const char *drift_result_column_name(const drift_result_t *r, size_t col)
{
    if (col >= drift_result_ncolumns(r))
        return NULL;
    return r->colnames[col];
}

const char *drift_result_column_type(const drift_result_t *r, size_t col)
{
    if (!r || !r->coltypes || col >= drift_result_ncolumns(r))
        return NULL;
    for (size_t i = 0; i <= col; i++)
        if (!r->coltypes[i])
            return NULL; /* fewer types than columns */
    return r->coltypes[col];
}

const char *drift_result_txn(const drift_result_t *r)
{
    return r ? r->txn : "";
}

int64_t drift_result_errpos(const drift_result_t *r)
{
    return r && !r->ok ? r->errpos : 0;
}

int64_t drift_result_retry_after_ms(const drift_result_t *r)
{
    return r && !r->ok ? r->retry_after_ms : 0;
}

size_t drift_result_nrows(const drift_result_t *r)
{
    return r ? r->nrows : 0;
}

bool drift_result_affected(const drift_result_t *r, int64_t *ret_n)
{
    if (!r || !r->has_affected)
        return false;
    if (ret_n)
        *ret_n = r->affected;
    return true;
}

bool drift_result_seq(const drift_result_t *r, int64_t *ret_seq)
{
    if (!r || !r->has_seq)
        return false;
    if (ret_seq)
        *ret_seq = r->seq;
    return true;
}

size_t drift_result_nchunks(const drift_result_t *r)
{
    return r ? r->nchunks : 0;
}

/* The cell object, or NULL when out of range. */
static const msgpack_object *s_cell(const drift_result_t *r, size_t row, size_t col)
{
    if (!r || row >= r->nrows)
        return NULL;
    const msgpack_object *a = r->rows[row];
    if (col >= a->via.array.size)
        return NULL;
    return &a->via.array.ptr[col];
}

/* Maps a msgpack type to a protocol value type. */
static drift_type_t s_type(const msgpack_object *o)
{
    if (!o)
        return DRIFT_TYPE_NULL;
    switch (o->type) {
    case MSGPACK_OBJECT_BOOLEAN: return DRIFT_TYPE_BOOL;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return DRIFT_TYPE_INT;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return DRIFT_TYPE_DOUBLE;
    case MSGPACK_OBJECT_STR: return DRIFT_TYPE_TEXT;
    case MSGPACK_OBJECT_BIN: return DRIFT_TYPE_BLOB;
    case MSGPACK_OBJECT_ARRAY:
    case MSGPACK_OBJECT_MAP: return DRIFT_TYPE_JSON;
    default: return DRIFT_TYPE_NULL;
    }
}

drift_type_t drift_result_type(const drift_result_t *r, size_t row, size_t col)
{
    return s_type(s_cell(r, row, col));
}

bool drift_result_is_null(const drift_result_t *r, size_t row, size_t col)
{
    return drift_result_type(r, row, col) == DRIFT_TYPE_NULL;
}

int drift_result_get_int64(const drift_result_t *r, size_t row, size_t col, int64_t *ret_v)
{
    const msgpack_object *o = s_cell(r, row, col);
    if (!o || !ret_v)
        return DRIFT_CLIENT_EINVAL;
    if (s_get_i64(o, ret_v))
        return 0;
    if (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32) {
        double d = o->via.f64;
        if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
            *ret_v = (int64_t)d;
            return 0;
        }
    }
    return DRIFT_CLIENT_EINVAL;
}

int drift_result_get_double(const drift_result_t *r, size_t row, size_t col, double *ret_v)
{
    const msgpack_object *o = s_cell(r, row, col);
    if (!o || !ret_v)
        return DRIFT_CLIENT_EINVAL;
    switch (o->type) {
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: *ret_v = o->via.f64; return 0;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: *ret_v = (double)o->via.u64; return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *ret_v = (double)o->via.i64; return 0;
    default: return DRIFT_CLIENT_EINVAL;
    }
}

int drift_result_get_bool(const drift_result_t *r, size_t row, size_t col, bool *ret_v)
{
    const msgpack_object *o = s_cell(r, row, col);
    if (!o || !ret_v || o->type != MSGPACK_OBJECT_BOOLEAN)
        return DRIFT_CLIENT_EINVAL;
    *ret_v = o->via.boolean;
    return 0;
}

int drift_result_get_text(const drift_result_t *r, size_t row, size_t col, const char **ret_s, size_t *ret_len)
{
    const msgpack_object *o = s_cell(r, row, col);
    if (!o || !ret_s || o->type != MSGPACK_OBJECT_STR)
        return DRIFT_CLIENT_EINVAL;
    *ret_s = o->via.str.ptr;
    if (ret_len)
        *ret_len = o->via.str.size;
    return 0;
}

int drift_result_get_blob(const drift_result_t *r, size_t row, size_t col, const void **ret_p, size_t *ret_len)
{
    const msgpack_object *o = s_cell(r, row, col);
    if (!o || !ret_p || o->type != MSGPACK_OBJECT_BIN)
        return DRIFT_CLIENT_EINVAL;
    *ret_p = o->via.bin.ptr;
    if (ret_len)
        *ret_len = o->via.bin.size;
    return 0;
}

/* A growing NUL-terminated string. */
typedef struct {
    char *p;
    size_t len, cap;
    bool oom;
} s_buf_t;

/* Appends n bytes. */
static void s_put(s_buf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

/* Appends printf output (short items only). */
static void s_putf(s_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_putf(s_buf_t *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        s_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Appends a double in the shortest form that reads back exactly. */
static void s_put_double(s_buf_t *b, double d, bool json)
{
    if (!isfinite(d)) {
        if (json)
            s_put(b, "null", 4);
        else
            s_putf(b, "%s", isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
        return;
    }
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    s_put(b, tmp, strlen(tmp));
    /* Keep a REAL recognisable as one (1.0 rather than 1). */
    if (!strpbrk(tmp, ".eEn"))
        s_put(b, ".0", 2);
}

/* Appends a JSON string literal. */
static void s_put_json_str(s_buf_t *b, const char *s, size_t n)
{
    s_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': s_put(b, "\\\"", 2); break;
        case '\\': s_put(b, "\\\\", 2); break;
        case '\n': s_put(b, "\\n", 2); break;
        case '\r': s_put(b, "\\r", 2); break;
        case '\t': s_put(b, "\\t", 2); break;
        default:
            if (c < 0x20)
                s_putf(b, "\\u%04x", c);
            else
                s_put(b, (const char *)&c, 1);
        }
    }
    s_put(b, "\"", 1);
}

/* Appends base64 of n bytes (standard alphabet, padded). */
static void s_put_base64(s_buf_t *b, const unsigned char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        char q[4] = {tab[(v >> 18) & 63], tab[(v >> 12) & 63], i + 1 < n ? tab[(v >> 6) & 63] : '=',
                     i + 2 < n ? tab[v & 63] : '='};
        s_put(b, q, 4);
    }
}

/* Appends o as JSON. */
static void s_put_json(s_buf_t *b, const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: s_put(b, "null", 4); break;
    case MSGPACK_OBJECT_BOOLEAN: o->via.boolean ? s_put(b, "true", 4) : s_put(b, "false", 5); break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: s_putf(b, "%" PRIu64, o->via.u64); break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: s_putf(b, "%" PRId64, o->via.i64); break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: s_put_double(b, o->via.f64, true); break;
    case MSGPACK_OBJECT_STR: s_put_json_str(b, o->via.str.ptr, o->via.str.size); break;
    case MSGPACK_OBJECT_BIN:
        s_put(b, "\"", 1);
        s_put_base64(b, (const unsigned char *)o->via.bin.ptr, o->via.bin.size);
        s_put(b, "\"", 1);
        break;
    case MSGPACK_OBJECT_ARRAY:
        s_put(b, "[", 1);
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i)
                s_put(b, ",", 1);
            s_put_json(b, &o->via.array.ptr[i]);
        }
        s_put(b, "]", 1);
        break;
    case MSGPACK_OBJECT_MAP:
        s_put(b, "{", 1);
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            if (i)
                s_put(b, ",", 1);
            if (k->type == MSGPACK_OBJECT_STR) {
                s_put_json(b, k);
            } else {
                /* JSON keys are strings: quote the JSON text of other keys. */
                s_buf_t kb = {0};
                s_put_json(&kb, k);
                if (kb.oom)
                    b->oom = true;
                else
                    s_put_json_str(b, kb.p ? kb.p : "", kb.len);
                free(kb.p);
            }
            s_put(b, ":", 1);
            s_put_json(b, &o->via.map.ptr[i].val);
        }
        s_put(b, "}", 1);
        break;
    default: s_put(b, "null", 4); break;
    }
}

/* Finishes a buffer: the string, or NULL + ENOMEM. */
static char *s_finish(s_buf_t *b)
{
    if (b->oom) {
        free(b->p);
        errno = ENOMEM;
        return NULL;
    }
    if (!b->p)
        return strdup("");
    return b->p;
}

char *drift_result_json(const drift_result_t *r, size_t row, size_t col)
{
    const msgpack_object *o = s_cell(r, row, col);
    if (!o) {
        errno = EINVAL;
        return NULL;
    }
    s_buf_t b = {0};
    s_put_json(&b, o);
    return s_finish(&b);
}

char *drift_result_text(const drift_result_t *r, size_t row, size_t col)
{
    const msgpack_object *o = s_cell(r, row, col);
    if (!o) {
        errno = EINVAL;
        return NULL;
    }
    s_buf_t b = {0};
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: errno = 0; return NULL;
    case MSGPACK_OBJECT_STR: s_put(&b, o->via.str.ptr, o->via.str.size); break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: s_put_double(&b, o->via.f64, false); break;
    case MSGPACK_OBJECT_BIN:
        s_put(&b, "\\x", 2);
        for (uint32_t i = 0; i < o->via.bin.size; i++)
            s_putf(&b, "%02x", (unsigned char)o->via.bin.ptr[i]);
        break;
    default: s_put_json(&b, o); break;
    }
    return s_finish(&b);
}
