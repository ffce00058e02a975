/* common/json.c — see json.h. One recursive-descent parser drives three
 * outputs: a counting pass (validates and records each container's element
 * count, since MessagePack headers come before their elements), a MessagePack
 * pass (replays the text with the recorded counts) and a canonical JSON pass
 * (drift_json_canon, single pass). Numbers and strings are written by the
 * same helpers as drift_json_from_msgpack, so canon(x) equals
 * from_msgpack(to_msgpack(x)). Recursion is bounded by DRIFT_JSON_MAX_DEPTH.
 * No globals; thread-safe. */
#include "common/json.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

/* ------------------------------------------------------------------ strbuf */

/* Makes room for n more bytes (plus a NUL); returns 0 or -1 (oom set). */
static int s_reserve(drift_strbuf_t *b, size_t n)
{
    if (b->oom)
        return -1;
    if (b->cap - b->len > n)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len <= n) {
        if (cap > SIZE_MAX / 2) {
            b->oom = 1;
            return -1;
        }
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

/* Appends n bytes and keeps the text NUL-terminated (the NUL is not counted in len). */
void drift_strbuf_append(drift_strbuf_t *b, const void *p, size_t n)
{
    if (s_reserve(b, n) < 0)
        return;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = 0;
}

/* Frees the buffer's memory and zeroes it (usable again). */
void drift_strbuf_free(drift_strbuf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* Appends a C string. */
static void s_puts(drift_strbuf_t *b, const char *s)
{
    drift_strbuf_append(b, s, strlen(s));
}

/* Appends one character. */
static void s_putc(drift_strbuf_t *b, char c)
{
    drift_strbuf_append(b, &c, 1);
}

/* ------------------------------------------------------------------ shared writers */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when it is not valid (overlong, surrogate, > U+10FFFF). */
static size_t s_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if (c == 0xe0 && s[1] < 0xa0) /* overlong */
            return 0;
        if (c == 0xed && s[1] >= 0xa0) /* UTF-16 surrogate */
            return 0;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        if (c == 0xf0 && s[1] < 0x90) /* overlong */
            return 0;
        if (c == 0xf4 && s[1] >= 0x90) /* > U+10FFFF */
            return 0;
        return 4;
    }
    return 0;
}

/* Writes s[0..n) as a JSON string: quotes, backslash and control characters escaped, valid UTF-8 kept,
 * invalid bytes replaced by U+FFFD (so that the output is always valid JSON). */
static void s_write_str(drift_strbuf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    s_putc(b, '"');
    size_t run = 0; /* start of the pending run of bytes copied verbatim */
    size_t i = 0;
    while (i < n) {
        unsigned c = u[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        size_t l = c >= 0x80 ? s_utf8_len(u + i, n - i) : 0;
        if (l) {
            i += l;
            continue;
        }
        drift_strbuf_append(b, s + run, i - run);
        switch (c) {
        case '"': s_puts(b, "\\\""); break;
        case '\\': s_puts(b, "\\\\"); break;
        case '\b': s_puts(b, "\\b"); break;
        case '\f': s_puts(b, "\\f"); break;
        case '\n': s_puts(b, "\\n"); break;
        case '\r': s_puts(b, "\\r"); break;
        case '\t': s_puts(b, "\\t"); break;
        default:
            if (c < 0x20) {
                char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                drift_strbuf_append(b, e, 6);
            } else {
                s_puts(b, "\xef\xbf\xbd"); /* U+FFFD for an invalid byte */
            }
        }
        i++;
        run = i;
    }
    drift_strbuf_append(b, s + run, n - run);
    s_putc(b, '"');
}

/* Writes a double as the shortest digits that read back to the same value, always recognisable as a
 * float (a '.' or an exponent) so that a round trip keeps the type: fixed notation for exponents -4..15
 * ("100.0", "0.0025"), else scientific ("1e+300"); NaN and infinities become null. */
static void s_write_double(drift_strbuf_t *b, double d)
{
    if (!isfinite(d)) {
        s_puts(b, "null");
        return;
    }
    /* If some k <= 15 digits read back exactly, rounding to 15 digits gives those k digits followed by
     * zeros (half an ulp is below half a unit of the 15th digit), which are stripped below; so 15, 16
     * and 17 digits are the only precisions worth trying. Subnormals have fewer bits: try them all. */
    char t[40];
    for (int prec = fabs(d) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
        snprintf(t, sizeof t, "%.*e", prec - 1, d);
        if (prec == 17 || strtod(t, NULL) == d)
            break;
    }
    /* t = [-]d[.ddd]e(+|-)xx: split into the digits and the decimal exponent */
    char digits[24], o[64];
    size_t nd = 0, on = 0;
    const char *p = t;
    if (*p == '-')
        o[on++] = *p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    int e = *p == 'e' ? atoi(p + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    if (e >= -4 && e < 16) {
        if (e < 0) {
            o[on++] = '0';
            o[on++] = '.';
            for (int k = -1; k > e; k--)
                o[on++] = '0';
            memcpy(o + on, digits, nd);
            on += nd;
        } else {
            for (int k = 0; k <= e; k++)
                o[on++] = (size_t)k < nd ? digits[k] : '0';
            o[on++] = '.';
            if ((size_t)e + 1 < nd) {
                memcpy(o + on, digits + e + 1, nd - (size_t)e - 1);
                on += nd - (size_t)e - 1;
            } else {
                o[on++] = '0';
            }
        }
        o[on] = 0;
    } else {
        o[on++] = digits[0];
        if (nd > 1) {
            o[on++] = '.';
            memcpy(o + on, digits + 1, nd - 1);
            on += nd - 1;
        }
        snprintf(o + on, sizeof o - on, "e%c%d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
    s_puts(b, o);
}

/* Writes a signed integer. */
static void s_write_i64(drift_strbuf_t *b, int64_t v)
{
    char t[24];
    snprintf(t, sizeof t, "%" PRId64, v);
    s_puts(b, t);
}

/* Writes an unsigned integer. */
static void s_write_u64(drift_strbuf_t *b, uint64_t v)
{
    char t[24];
    snprintf(t, sizeof t, "%" PRIu64, v);
    s_puts(b, t);
}

/* Writes bytes as a base64 (RFC 4648, padded) JSON string. */
static void s_write_base64(drift_strbuf_t *b, const unsigned char *p, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    s_putc(b, '"');
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        char o[4] = {a[v >> 18 & 63], a[v >> 12 & 63], i + 1 < n ? a[v >> 6 & 63] : '=', i + 2 < n ? a[v & 63] : '='};
        drift_strbuf_append(b, o, 4);
    }
    s_putc(b, '"');
}

/* ------------------------------------------------------------------ parser */

typedef enum { S_COUNT, S_MSGPACK, S_JSON } s_mode_t;

typedef struct {
    const char *s;
    size_t n, i;
    s_mode_t mode;
    msgpack_packer *pk;  /* S_MSGPACK */
    drift_strbuf_t *out; /* S_JSON */
    uint32_t *counts;    /* element count of each container, in opening order */
    size_t ncounts, capcounts, next_count;
    char *scratch; /* decoded string */
    size_t scap;
    char *err;
    size_t errcap;
    size_t errpos;
    int rc;
} s_json_t;

/* Records an error at byte offset at; returns -1. */
static int s_fail(s_json_t *j, size_t at, const char *msg)
{
    if (j->rc == 0) {
        j->rc = DRIFT_EPROTO;
        j->errpos = at;
        if (j->err && j->errcap)
            snprintf(j->err, j->errcap, "invalid JSON at byte %zu: %s", at, msg);
    }
    return -1;
}

/* Records -ENOMEM; returns -1. */
static int s_oom(s_json_t *j)
{
    if (j->rc == 0) {
        j->rc = -ENOMEM;
        j->errpos = j->i;
        if (j->err && j->errcap)
            snprintf(j->err, j->errcap, "out of memory");
    }
    return -1;
}

/* Describes the unexpected byte at j->i and fails there. */
static int s_unexpected(s_json_t *j, const char *expect)
{
    char m[96];
    if (j->i >= j->n)
        snprintf(m, sizeof m, "unexpected end of input, expected %s", expect);
    else if ((unsigned char)j->s[j->i] >= 0x20 && (unsigned char)j->s[j->i] < 0x7f)
        snprintf(m, sizeof m, "unexpected character '%c', expected %s", j->s[j->i], expect);
    else
        snprintf(m, sizeof m, "unexpected byte 0x%02x, expected %s", (unsigned char)j->s[j->i], expect);
    return s_fail(j, j->i, m);
}

/* Skips JSON whitespace (space, tab, CR, LF). */
static void s_ws(s_json_t *j)
{
    while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' || j->s[j->i] == '\r'))
        j->i++;
}

/* Maps a msgpack-c packer result (non-zero: the buffer could not grow) to -ENOMEM. */
static int s_pk_ok(s_json_t *j, int rc)
{
    return rc == 0 ? 0 : s_oom(j);
}

/* Appends one byte to the scratch string. */
static int s_sput(s_json_t *j, size_t *len, const char *p, size_t n)
{
    if (j->mode == S_COUNT) { /* the counting pass only validates */
        *len += n;
        return 0;
    }
    if (*len + n > j->scap) {
        size_t cap = j->scap ? j->scap : 64;
        while (cap < *len + n)
            cap *= 2;
        char *q = realloc(j->scratch, cap);
        if (!q)
            return s_oom(j);
        j->scratch = q;
        j->scap = cap;
    }
    memcpy(j->scratch + *len, p, n);
    *len += n;
    return 0;
}

/* The value of 4 hex digits, or -1. */
static int s_hex4(const char *p)
{
    int v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p[k];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v << 4 | d;
    }
    return v;
}

/* Encodes code point cp as UTF-8 into o; returns the length. */
static size_t s_utf8_put(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Parses a string (j->i at the opening quote) into the scratch buffer; *ret_len = decoded length. */
static int s_string(s_json_t *j, size_t *ret_len)
{
    size_t len = 0;
    const unsigned char *u = (const unsigned char *)j->s;
    j->i++;
    for (;;) {
        size_t start = j->i;
        while (j->i < j->n && u[j->i] >= 0x20 && u[j->i] < 0x80 && u[j->i] != '"' && u[j->i] != '\\')
            j->i++;
        if (j->i > start && s_sput(j, &len, j->s + start, j->i - start) < 0)
            return -1;
        if (j->i >= j->n)
            return s_fail(j, j->i, "unterminated string");
        unsigned c = u[j->i];
        if (c == '"') {
            j->i++;
            break;
        }
        if (c < 0x20)
            return s_fail(j, j->i, "control character in string (must be escaped)");
        if (c >= 0x80) {
            size_t l = s_utf8_len(u + j->i, j->n - j->i);
            if (!l)
                return s_fail(j, j->i, "invalid UTF-8 in string");
            if (s_sput(j, &len, j->s + j->i, l) < 0)
                return -1;
            j->i += l;
            continue;
        }
        /* backslash escape */
        size_t esc = j->i;
        if (j->i + 1 >= j->n)
            return s_fail(j, j->n, "unterminated string");
        char e = j->s[j->i + 1], o[4];
        size_t ol = 1;
        j->i += 2;
        switch (e) {
        case '"': o[0] = '"'; break;
        case '\\': o[0] = '\\'; break;
        case '/': o[0] = '/'; break;
        case 'b': o[0] = '\b'; break;
        case 'f': o[0] = '\f'; break;
        case 'n': o[0] = '\n'; break;
        case 'r': o[0] = '\r'; break;
        case 't': o[0] = '\t'; break;
        case 'u': {
            int cp = j->i + 4 <= j->n ? s_hex4(j->s + j->i) : -1;
            if (cp < 0)
                return s_fail(j, esc, "invalid \\u escape (4 hex digits expected)");
            j->i += 4;
            uint32_t c32 = (uint32_t)cp;
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return s_fail(j, esc, "unpaired low surrogate in \\u escape");
            if (cp >= 0xd800 && cp <= 0xdbff) {
                int lo = j->i + 6 <= j->n && j->s[j->i] == '\\' && j->s[j->i + 1] == 'u' ? s_hex4(j->s + j->i + 2) : -1;
                if (lo < 0xdc00 || lo > 0xdfff)
                    return s_fail(j, esc, "unpaired high surrogate in \\u escape");
                j->i += 6;
                c32 = 0x10000 + (((uint32_t)cp - 0xd800) << 10) + ((uint32_t)lo - 0xdc00);
            }
            ol = s_utf8_put(o, c32);
            break;
        }
        default: return s_fail(j, esc, "invalid escape sequence in string");
        }
        if (s_sput(j, &len, o, ol) < 0)
            return -1;
    }
    *ret_len = len;
    return 0;
}

/* Emits the decoded scratch string. */
static int s_emit_str(s_json_t *j, size_t len)
{
    if (j->mode == S_MSGPACK) {
        if (s_pk_ok(j, msgpack_pack_str(j->pk, len)) < 0 ||
            s_pk_ok(j, msgpack_pack_str_body(j->pk, j->scratch, len)) < 0)
            return -1;
    } else if (j->mode == S_JSON) {
        s_write_str(j->out, j->scratch, len);
    }
    return 0;
}

/* A syntactically valid JSON number below 1e308 in magnitude (so strtod cannot overflow): decided from
 * the count of integer digits and the exponent, without converting. */
static int s_surely_finite(const char *s, size_t n)
{
    size_t i = s[0] == '-' ? 1 : 0;
    long intdigits = 0, e = 0;
    while (i < n && s[i] == '0')
        i++;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, intdigits++;
    if (intdigits == 0) /* 0.000ddd: at most the exponent counts */
        intdigits = 1;
    while (i < n && s[i] != 'e' && s[i] != 'E')
        i++;
    if (i < n) {
        int neg = s[++i] == '-';
        if (s[i] == '-' || s[i] == '+')
            i++;
        for (; i < n; i++) {
            if (e > 100000)
                return neg;
            e = e * 10 + (s[i] - '0');
        }
        if (neg)
            e = -e;
    }
    return intdigits + e <= 308;
}

/* Parses a number at j->i (RFC 8259 grammar). */
static int s_number(s_json_t *j)
{
    const char *s = j->s;
    size_t start = j->i, i = j->i;
    int neg = 0, isint = 1;
    if (i < j->n && s[i] == '-') {
        neg = 1;
        i++;
    }
    if (i >= j->n || s[i] < '0' || s[i] > '9') {
        j->i = i;
        return s_unexpected(j, "a digit");
    }
    if (s[i] == '0') {
        i++;
        if (i < j->n && s[i] >= '0' && s[i] <= '9')
            return s_fail(j, i, "leading zeros are not allowed in numbers");
    } else {
        while (i < j->n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < j->n && s[i] == '.') {
        isint = 0;
        i++;
        if (i >= j->n || s[i] < '0' || s[i] > '9') {
            j->i = i;
            return s_unexpected(j, "a digit after the decimal point");
        }
        while (i < j->n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < j->n && (s[i] == 'e' || s[i] == 'E')) {
        isint = 0;
        i++;
        if (i < j->n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= j->n || s[i] < '0' || s[i] > '9') {
            j->i = i;
            return s_unexpected(j, "a digit in the exponent");
        }
        while (i < j->n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    j->i = i;
    if (isint) {
        /* magnitude as uint64; fits int64 (negative) or uint64 (positive), else a double */
        uint64_t v = 0;
        int over = 0;
        for (size_t k = start + (size_t)neg; k < i; k++) {
            unsigned d = (unsigned)(s[k] - '0');
            if (v > (UINT64_MAX - d) / 10) {
                over = 1;
                break;
            }
            v = v * 10 + d;
        }
        if (!over && (!neg || v <= (uint64_t)INT64_MAX + 1)) {
            if (neg) {
                int64_t x = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
                if (j->mode == S_MSGPACK)
                    return s_pk_ok(j, msgpack_pack_int64(j->pk, x));
                if (j->mode == S_JSON)
                    s_write_i64(j->out, x);
            } else {
                if (j->mode == S_MSGPACK)
                    return s_pk_ok(j, msgpack_pack_uint64(j->pk, v));
                if (j->mode == S_JSON)
                    s_write_u64(j->out, v);
            }
            return 0;
        }
    }
    if (j->mode == S_COUNT && s_surely_finite(s + start, i - start))
        return 0; /* the counting pass only needs to know that the number is in range */
    char small[64], *t = small;
    size_t tl = i - start;
    if (tl >= sizeof small && !(t = malloc(tl + 1)))
        return s_oom(j);
    memcpy(t, s + start, tl);
    t[tl] = 0;
    double d = strtod(t, NULL);
    if (t != small)
        free(t);
    if (!isfinite(d))
        return s_fail(j, start, "number out of range");
    if (j->mode == S_MSGPACK)
        return s_pk_ok(j, msgpack_pack_double(j->pk, d));
    if (j->mode == S_JSON)
        s_write_double(j->out, d);
    return 0;
}

/* Matches the literal word w at j->i. */
static int s_word(s_json_t *j, const char *w)
{
    size_t l = strlen(w);
    for (size_t k = 0; k < l; k++)
        if (j->i + k >= j->n || j->s[j->i + k] != w[k]) {
            j->i += k;
            return s_unexpected(j, "a JSON value");
        }
    j->i += l;
    return 0;
}

/* Starts a container: returns the index of its count slot (count pass) or emits its header. */
static int s_open(s_json_t *j, int map, size_t *ret_slot)
{
    if (j->mode == S_COUNT) {
        if (j->ncounts == j->capcounts) {
            size_t cap = j->capcounts ? j->capcounts * 2 : 16;
            uint32_t *c = realloc(j->counts, cap * sizeof *c);
            if (!c)
                return s_oom(j);
            j->counts = c;
            j->capcounts = cap;
        }
        *ret_slot = j->ncounts;
        j->counts[j->ncounts++] = 0;
        return 0;
    }
    if (j->mode == S_MSGPACK) {
        uint32_t c = j->counts[j->next_count++];
        return s_pk_ok(j, map ? msgpack_pack_map(j->pk, c) : msgpack_pack_array(j->pk, c));
    }
    s_putc(j->out, map ? '{' : '[');
    return 0;
}

static int s_value(s_json_t *j, int depth);

/* Parses an array or object at j->i. */
static int s_container(s_json_t *j, int depth, int map)
{
    size_t open = j->i, slot = 0;
    uint32_t count = 0;
    if (depth >= DRIFT_JSON_MAX_DEPTH)
        return s_fail(j, open, "nesting too deep");
    if (s_open(j, map, &slot) < 0)
        return -1;
    j->i++;
    s_ws(j);
    if (j->i < j->n && j->s[j->i] == (map ? '}' : ']')) {
        j->i++;
    } else {
        for (;;) {
            if (map) {
                size_t len;
                if (j->i >= j->n || j->s[j->i] != '"')
                    return s_unexpected(j, "a string key");
                if (s_string(j, &len) < 0 || s_emit_str(j, len) < 0)
                    return -1;
                s_ws(j);
                if (j->i >= j->n || j->s[j->i] != ':')
                    return s_unexpected(j, "':'");
                j->i++;
                if (j->mode == S_JSON)
                    s_putc(j->out, ':');
                s_ws(j);
            }
            if (s_value(j, depth + 1) < 0)
                return -1;
            if (count == UINT32_MAX)
                return s_fail(j, j->i, "too many elements");
            count++;
            s_ws(j);
            if (j->i < j->n && j->s[j->i] == ',') {
                j->i++;
                if (j->mode == S_JSON)
                    s_putc(j->out, ',');
                s_ws(j);
                continue;
            }
            if (j->i < j->n && j->s[j->i] == (map ? '}' : ']')) {
                j->i++;
                break;
            }
            return s_unexpected(j, map ? "',' or '}'" : "',' or ']'");
        }
    }
    if (j->mode == S_COUNT)
        j->counts[slot] = count;
    else if (j->mode == S_JSON)
        s_putc(j->out, map ? '}' : ']');
    return 0;
}

/* Parses one value at j->i (leading whitespace already skipped); depth = enclosing containers. */
static int s_value(s_json_t *j, int depth)
{
    if (j->i >= j->n)
        return s_unexpected(j, "a JSON value");
    switch (j->s[j->i]) {
    case '{': return s_container(j, depth, 1);
    case '[': return s_container(j, depth, 0);
    case '"': {
        size_t len;
        if (s_string(j, &len) < 0)
            return -1;
        return s_emit_str(j, len);
    }
    case 't':
        if (s_word(j, "true") < 0)
            return -1;
        if (j->mode == S_MSGPACK)
            return s_pk_ok(j, msgpack_pack_true(j->pk));
        if (j->mode == S_JSON)
            s_puts(j->out, "true");
        return 0;
    case 'f':
        if (s_word(j, "false") < 0)
            return -1;
        if (j->mode == S_MSGPACK)
            return s_pk_ok(j, msgpack_pack_false(j->pk));
        if (j->mode == S_JSON)
            s_puts(j->out, "false");
        return 0;
    case 'n':
        if (s_word(j, "null") < 0)
            return -1;
        if (j->mode == S_MSGPACK)
            return s_pk_ok(j, msgpack_pack_nil(j->pk));
        if (j->mode == S_JSON)
            s_puts(j->out, "null");
        return 0;
    default:
        if (j->s[j->i] == '-' || (j->s[j->i] >= '0' && j->s[j->i] <= '9'))
            return s_number(j);
        return s_unexpected(j, "a JSON value");
    }
}

/* One whole document: ws value ws end. */
static int s_document(s_json_t *j)
{
    j->i = 0;
    j->next_count = 0;
    s_ws(j);
    if (s_value(j, 0) < 0)
        return -1;
    s_ws(j);
    if (j->i < j->n)
        return s_fail(j, j->i, "unexpected data after the JSON value");
    return 0;
}

/* Returns the result code and the error position. */
static int s_finish(s_json_t *j, size_t *ret_errpos)
{
    free(j->counts);
    free(j->scratch);
    if (j->rc && ret_errpos)
        *ret_errpos = j->errpos;
    return j->rc;
}

/* Validates (count pass), then packs with the recorded container sizes. */
int drift_json_to_msgpack(const char *s, size_t n, msgpack_packer *pk, char *err, size_t errcap, size_t *ret_errpos)
{
    s_json_t j = {.s = s, .n = n, .mode = S_COUNT, .pk = pk, .err = err, .errcap = errcap};
    if (s_document(&j) == 0) {
        j.mode = S_MSGPACK;
        s_document(&j);
    }
    return s_finish(&j, ret_errpos);
}

/* One pass writing canonical JSON; on error the output is rolled back to its previous length. */
int drift_json_canon(const char *s, size_t n, drift_strbuf_t *out, char *err, size_t errcap, size_t *ret_errpos)
{
    size_t len0 = out->len;
    s_json_t j = {.s = s, .n = n, .mode = S_JSON, .out = out, .err = err, .errcap = errcap};
    s_document(&j);
    if (j.rc == 0 && out->oom)
        s_oom(&j);
    if (j.rc && !out->oom && out->p) {
        out->len = len0; /* drop the partial output */
        out->p[len0] = 0;
    }
    return s_finish(&j, ret_errpos);
}

/* ------------------------------------------------------------------ msgpack -> JSON */

/* Writes a map key: strings as they are, anything else as the string of its JSON text. */
static void s_write_key(const msgpack_object *k, drift_strbuf_t *out);

/* Writes one MessagePack object as JSON (recursion bounded by the object's own depth). */
static void s_from(const msgpack_object *o, drift_strbuf_t *out)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: s_puts(out, "null"); break;
    case MSGPACK_OBJECT_BOOLEAN: s_puts(out, o->via.boolean ? "true" : "false"); break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: s_write_u64(out, o->via.u64); break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: s_write_i64(out, o->via.i64); break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: s_write_double(out, o->via.f64); break;
    case MSGPACK_OBJECT_STR: s_write_str(out, o->via.str.ptr, o->via.str.size); break;
    case MSGPACK_OBJECT_BIN: s_write_base64(out, (const unsigned char *)o->via.bin.ptr, o->via.bin.size); break;
    case MSGPACK_OBJECT_ARRAY:
        s_putc(out, '[');
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i)
                s_putc(out, ',');
            s_from(&o->via.array.ptr[i], out);
        }
        s_putc(out, ']');
        break;
    case MSGPACK_OBJECT_MAP:
        s_putc(out, '{');
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            if (i)
                s_putc(out, ',');
            s_write_key(&o->via.map.ptr[i].key, out);
            s_putc(out, ':');
            s_from(&o->via.map.ptr[i].val, out);
        }
        s_putc(out, '}');
        break;
    default: s_puts(out, "null"); break; /* ext */
    }
}

/* Writes a map key: strings as they are, anything else as the string of its JSON text. */
static void s_write_key(const msgpack_object *k, drift_strbuf_t *out)
{
    if (k->type == MSGPACK_OBJECT_STR || k->type == MSGPACK_OBJECT_BIN) {
        s_from(k, out);
        return;
    }
    drift_strbuf_t t = {0};
    s_from(k, &t);
    if (t.oom)
        out->oom = 1;
    else
        s_write_str(out, t.p ? t.p : "", t.len);
    drift_strbuf_free(&t);
}

/* Writes o as canonical JSON (see json.h). */
int drift_json_from_msgpack(const msgpack_object *o, drift_strbuf_t *out)
{
    s_from(o, out);
    if (!out->oom && !out->p)
        drift_strbuf_append(out, "", 0);
    return out->oom ? -ENOMEM : 0;
}
