/* modules/query/value.c — values (expr.h): constructors, the total order and
 * SQL comparison, hashing, truth, copies, storage coercion, SQLite-style CAST,
 * storage (MessagePack) and key encoding, text form, RFC 3339 timestamps, and
 * the JSON helpers shared by the evaluator (expr_priv.h).
 *
 * Numbers follow SQLite: text converts to a number by its numeric prefix,
 * REAL prints like SQLite's "%!.15g" (1.0, 1.0e+20, 0.333333333333333).
 * Single-threaded; no global state. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/json.h"
#include "ipc/proto.h"
#include "modules/query/expr_priv.h"

/* ------------------------------------------------------------------ constructors */

drift_value_t drift_val_null(void)
{
    return (drift_value_t){.type = DRIFT_VAL_NULL};
}

drift_value_t drift_val_int(int64_t i)
{
    return (drift_value_t){.type = DRIFT_VAL_INT, .u.i = i};
}

drift_value_t drift_val_real(double r)
{
    return (drift_value_t){.type = DRIFT_VAL_REAL, .u.r = r};
}

drift_value_t drift_val_bool(int b)
{
    return (drift_value_t){.type = DRIFT_VAL_BOOL, .u.b = b ? 1 : 0};
}

drift_value_t drift_val_text(const char *p, size_t n)
{
    return (drift_value_t){.type = DRIFT_VAL_TEXT, .u.s = {p ? p : "", n}};
}

drift_value_t drift_val_blob(const void *p, size_t n)
{
    return (drift_value_t){.type = DRIFT_VAL_BLOB, .u.s = {p ? p : "", n}};
}

drift_value_t drift_val_ts(int64_t ns)
{
    return (drift_value_t){.type = DRIFT_VAL_TIMESTAMP, .u.i = ns};
}

drift_value_t drift_val_json(const char *p, size_t n)
{
    return (drift_value_t){.type = DRIFT_VAL_JSON, .u.s = {p ? p : "null", p ? n : 4}};
}

/* ------------------------------------------------------------------ JSON helpers */

int drift_jdoc_parse(drift_jdoc_t *d, const char *p, size_t n, char *err, size_t errcap)
{
    char msg[128] = "";
    msgpack_sbuffer_init(&d->sb);
    msgpack_unpacked_init(&d->u);
    d->root = NULL;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &d->sb, msgpack_sbuffer_write);
    size_t epos = 0;
    int rc = drift_json_to_msgpack(p, n, &pk, msg, sizeof msg, &epos);
    if (rc < 0) {
        if (err)
            snprintf(err, errcap, "malformed JSON: %s", rc == -ENOMEM ? "out of memory" : msg); /* msg has the byte */
        return -1;
    }
    size_t off = 0;
    if (msgpack_unpack_next(&d->u, d->sb.data, d->sb.size, &off) != MSGPACK_UNPACK_SUCCESS) {
        if (err)
            snprintf(err, errcap, "malformed JSON");
        return -1;
    }
    d->root = &d->u.data;
    return 0;
}

void drift_jdoc_free(drift_jdoc_t *d)
{
    msgpack_unpacked_destroy(&d->u);
    msgpack_sbuffer_destroy(&d->sb);
    d->root = NULL;
}

int drift_jnode_value(drift_arena_t *a, const msgpack_object *o, drift_value_t *out)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: *out = drift_val_null(); return 1;
    case MSGPACK_OBJECT_BOOLEAN: *out = drift_val_bool(o->via.boolean); return 1;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        *out = o->via.u64 > INT64_MAX ? drift_val_real((double)o->via.u64) : drift_val_int((int64_t)o->via.u64);
        return 1;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = drift_val_int(o->via.i64); return 1;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: *out = drift_val_real(o->via.f64); return 1;
    case MSGPACK_OBJECT_STR: *out = drift_val_text(o->via.str.ptr, o->via.str.size); return 1;
    case MSGPACK_OBJECT_BIN: *out = drift_val_blob(o->via.bin.ptr, o->via.bin.size); return 1;
    default: break;
    }
    if (!a)
        return 0;
    drift_strbuf_t sb = {0};
    if (drift_json_from_msgpack(o, &sb) < 0 || sb.oom) {
        drift_strbuf_free(&sb);
        return -1;
    }
    char *p = drift_arena_memdup(a, sb.p ? sb.p : "", sb.len);
    size_t len = sb.len;
    drift_strbuf_free(&sb);
    if (!p)
        return -1;
    *out = drift_val_json(p, len);
    return 0;
}

void drift_val_unwrap(const drift_value_t *v, drift_value_t *out, drift_jdoc_t *tmp, int *ret_used)
{
    *ret_used = 0;
    *out = *v;
    if (v->type != DRIFT_VAL_JSON)
        return;
    /* cheap cases first: containers stay JSON, no parse needed */
    size_t i = 0;
    while (i < v->u.s.n && isspace((unsigned char)v->u.s.p[i]))
        i++;
    if (i < v->u.s.n && (v->u.s.p[i] == '{' || v->u.s.p[i] == '['))
        return;
    if (drift_jdoc_parse(tmp, v->u.s.p, v->u.s.n, NULL, 0) < 0) {
        drift_jdoc_free(tmp);
        return; /* not valid JSON: compared as its text (below) */
    }
    *ret_used = 1;
    drift_jnode_value(NULL, tmp->root, out);
}

static int s_path_err(char *err, size_t errcap, const char *path, size_t plen)
{
    if (err)
        snprintf(err, errcap, "bad JSON path: '%.*s'", (int)(plen > 64 ? 64 : plen), path);
    return -1;
}

int drift_json_path(drift_jdoc_t *d, const char *path, size_t plen, const msgpack_object **ret_node, char *err,
                    size_t errcap)
{
    const msgpack_object *o = d->root;
    size_t i = 0;
    if (plen == 0 || path[0] != '$')
        return s_path_err(err, errcap, path, plen);
    i = 1;
    while (i < plen) {
        if (path[i] == '.') {
            i++;
            const char *k;
            size_t kn;
            if (i < plen && path[i] == '"') {
                size_t j = ++i;
                while (j < plen && path[j] != '"')
                    j++;
                if (j >= plen)
                    return s_path_err(err, errcap, path, plen);
                k = path + i;
                kn = j - i;
                i = j + 1;
            } else {
                size_t j = i;
                while (j < plen && path[j] != '.' && path[j] != '[')
                    j++;
                if (j == i)
                    return s_path_err(err, errcap, path, plen);
                k = path + i;
                kn = j - i;
                i = j;
            }
            if (o->type != MSGPACK_OBJECT_MAP)
                return 0;
            const msgpack_object *found = NULL;
            for (uint32_t m = 0; m < o->via.map.size; m++) {
                const msgpack_object *key = &o->via.map.ptr[m].key;
                if (key->type == MSGPACK_OBJECT_STR && key->via.str.size == kn && memcmp(key->via.str.ptr, k, kn) == 0)
                    found = &o->via.map.ptr[m].val; /* the last duplicate wins */
            }
            if (!found)
                return 0;
            o = found;
        } else if (path[i] == '[') {
            i++;
            int from_end = 0;
            if (i < plen && path[i] == '#') {
                from_end = 1;
                i++;
                if (i < plen && path[i] == '-')
                    i++;
                else if (i < plen && path[i] == ']')
                    return 0; /* [#] is one past the end: nothing there */
                else
                    return s_path_err(err, errcap, path, plen);
            }
            uint64_t idx = 0;
            size_t j = i;
            while (j < plen && isdigit((unsigned char)path[j]) && idx < (1ull << 40))
                idx = idx * 10 + (uint64_t)(path[j++] - '0');
            if (j == i || j >= plen || path[j] != ']')
                return s_path_err(err, errcap, path, plen);
            i = j + 1;
            if (o->type != MSGPACK_OBJECT_ARRAY)
                return 0;
            uint64_t sz = o->via.array.size;
            if (from_end) {
                if (idx == 0 || idx > sz)
                    return 0;
                idx = sz - idx;
            }
            if (idx >= sz)
                return 0;
            o = &o->via.array.ptr[idx];
        } else {
            return s_path_err(err, errcap, path, plen);
        }
    }
    *ret_node = o;
    return 1;
}

/* ------------------------------------------------------------------ numbers */

/* Parses the longest numeric prefix at p[i..n) (after blanks). Returns the end offset (i when there
 * is no digit at all); *out gets the number. */
static size_t s_num_scan(const char *p, size_t n, drift_value_t *out)
{
    size_t i = 0;
    while (i < n && isspace((unsigned char)p[i]))
        i++;
    size_t start = i;
    if (i < n && (p[i] == '+' || p[i] == '-'))
        i++;
    size_t nd = 0, nf = 0;
    while (i < n && isdigit((unsigned char)p[i]))
        i++, nd++;
    int real = 0;
    if (i < n && p[i] == '.') {
        size_t j = i + 1;
        while (j < n && isdigit((unsigned char)p[j]))
            j++, nf++;
        if (nd + nf > 0) {
            i = j;
            real = 1;
        }
    }
    if (nd + nf == 0) {
        *out = drift_val_int(0);
        return 0;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        size_t j = i + 1;
        if (j < n && (p[j] == '+' || p[j] == '-'))
            j++;
        if (j < n && isdigit((unsigned char)p[j])) {
            while (j < n && isdigit((unsigned char)p[j]))
                j++;
            i = j;
            real = 1;
        }
    }
    char sbuf[64];
    char *buf = sbuf;
    size_t len = i - start;
    if (len >= sizeof sbuf) {
        buf = malloc(len + 1);
        if (!buf) {
            *out = drift_val_int(0);
            return i;
        }
    }
    memcpy(buf, p + start, len);
    buf[len] = 0;
    if (!real) {
        errno = 0;
        long long v = strtoll(buf, NULL, 10);
        if (errno == ERANGE)
            *out = drift_val_real(strtod(buf, NULL));
        else
            *out = drift_val_int((int64_t)v);
    } else {
        *out = drift_val_real(strtod(buf, NULL));
    }
    if (buf != sbuf)
        free(buf);
    return i;
}

void drift_text_num_prefix(const char *p, size_t n, drift_value_t *out)
{
    s_num_scan(p, n, out);
}

int drift_text_numeric(const char *p, size_t n, drift_value_t *out)
{
    size_t e = s_num_scan(p, n, out);
    if (e == 0)
        return 0;
    while (e < n && isspace((unsigned char)p[e]))
        e++;
    return e == n;
}

void drift_val_numify(const drift_value_t *v, drift_value_t *out)
{
    switch (v->type) {
    case DRIFT_VAL_NULL:
    case DRIFT_VAL_INT:
    case DRIFT_VAL_REAL: *out = *v; return;
    case DRIFT_VAL_BOOL: *out = drift_val_int(v->u.b ? 1 : 0); return;
    case DRIFT_VAL_TIMESTAMP: *out = drift_val_int(v->u.i); return;
    case DRIFT_VAL_TEXT:
    case DRIFT_VAL_BLOB: s_num_scan(v->u.s.p, v->u.s.n, out); return;
    case DRIFT_VAL_JSON: {
        drift_jdoc_t d;
        int used;
        drift_value_t u;
        drift_val_unwrap(v, &u, &d, &used);
        if (u.type == DRIFT_VAL_JSON)
            *out = drift_val_int(0);
        else
            drift_val_numify(&u, out);
        if (used)
            drift_jdoc_free(&d);
        return;
    }
    }
    *out = drift_val_null();
}

double drift_val_real_of(const drift_value_t *v)
{
    drift_value_t n;
    drift_val_numify(v, &n);
    if (n.type == DRIFT_VAL_INT)
        return (double)n.u.i;
    if (n.type == DRIFT_VAL_REAL)
        return n.u.r;
    return 0.0;
}

/* A double truncated toward zero and clamped to the int64 range (SQLite's sqlite3RealToI64). */
static int64_t s_real_to_i64(double r)
{
    if (isnan(r))
        return 0;
    if (r <= -9223372036854775808.0)
        return INT64_MIN;
    if (r >= 9223372036854775807.0)
        return INT64_MAX;
    return (int64_t)r;
}

static int64_t s_text_int_prefix(const char *p, size_t n);

int64_t drift_val_int_of(const drift_value_t *v)
{
    drift_value_t n;
    if (v->type == DRIFT_VAL_TEXT || v->type == DRIFT_VAL_BLOB) /* SQLite's sqlite3VdbeIntValue: digits only */
        return s_text_int_prefix(v->u.s.p, v->u.s.n);
    drift_val_numify(v, &n);
    if (n.type == DRIFT_VAL_INT)
        return n.u.i;
    if (n.type == DRIFT_VAL_REAL)
        return s_real_to_i64(n.u.r);
    return 0;
}

/* ------------------------------------------------------------------ order, comparison, hash */

/* The class of a (non-JSON) value in the total order. */
static int s_class(drift_val_type_t t)
{
    switch (t) {
    case DRIFT_VAL_NULL: return 0;
    case DRIFT_VAL_INT:
    case DRIFT_VAL_REAL:
    case DRIFT_VAL_BOOL:
    case DRIFT_VAL_TIMESTAMP: return 1;
    case DRIFT_VAL_TEXT:
    case DRIFT_VAL_JSON: return 2; /* a JSON container orders as its text */
    case DRIFT_VAL_BLOB: return 3;
    }
    return 0;
}

/* Compares an integer with a double exactly (NaN sorts after every number). */
static int s_int_real_cmp(int64_t i, double r)
{
    if (isnan(r))
        return -1;
    if (r < -9223372036854775808.0)
        return 1;
    if (r >= 9223372036854775808.0)
        return -1;
    int64_t y = (int64_t)r;
    if (i < y)
        return -1;
    if (i > y)
        return 1;
    double fy = (double)y;
    return r > fy ? -1 : r < fy ? 1 : 0;
}

static int64_t s_intlike(const drift_value_t *v)
{
    return v->type == DRIFT_VAL_BOOL ? (v->u.b ? 1 : 0) : v->u.i;
}

static int s_num_cmp(const drift_value_t *a, const drift_value_t *b)
{
    int ar = a->type == DRIFT_VAL_REAL, br = b->type == DRIFT_VAL_REAL;
    if (!ar && !br) {
        int64_t x = s_intlike(a), y = s_intlike(b);
        return (x > y) - (x < y);
    }
    if (ar && br) {
        double x = a->u.r, y = b->u.r;
        if (isnan(x) || isnan(y))
            return isnan(x) - isnan(y);
        return (x > y) - (x < y);
    }
    if (ar)
        return -s_int_real_cmp(s_intlike(b), a->u.r);
    return s_int_real_cmp(s_intlike(a), b->u.r);
}

static int s_bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    size_t m = an < bn ? an : bn;
    int c = m ? memcmp(a, b, m) : 0;
    if (c)
        return c < 0 ? -1 : 1;
    return (an > bn) - (an < bn);
}

/* Compares two unwrapped values. */
static int s_cmp_plain(const drift_value_t *a, const drift_value_t *b)
{
    int ca = s_class(a->type), cb = s_class(b->type);
    if (ca != cb)
        return ca < cb ? -1 : 1;
    switch (ca) {
    case 0: return 0;
    case 1: return s_num_cmp(a, b);
    default: return s_bytes_cmp(a->u.s.p, a->u.s.n, b->u.s.p, b->u.s.n);
    }
}

int drift_val_cmp(const drift_value_t *a, const drift_value_t *b)
{
    if (a->type != DRIFT_VAL_JSON && b->type != DRIFT_VAL_JSON)
        return s_cmp_plain(a, b);
    drift_jdoc_t da, db;
    int ua, ub;
    drift_value_t x, y;
    drift_val_unwrap(a, &x, &da, &ua);
    drift_val_unwrap(b, &y, &db, &ub);
    int c = s_cmp_plain(&x, &y);
    if (ua)
        drift_jdoc_free(&da);
    if (ub)
        drift_jdoc_free(&db);
    return c;
}

/* A TIMESTAMP compared with a TEXT that parses as a timestamp compares as timestamps. */
static void s_ts_text(const drift_value_t *ts, drift_value_t *other)
{
    int64_t ns;
    (void)ts;
    if (other->type == DRIFT_VAL_TEXT && drift_ts_parse(other->u.s.p, other->u.s.n, &ns) == 0)
        *other = drift_val_ts(ns);
}

int drift_val_compare_op(drift_bop_t op, const drift_value_t *a, const drift_value_t *b)
{
    drift_jdoc_t da, db;
    int ua = 0, ub = 0, res;
    drift_value_t x, y;
    drift_val_unwrap(a, &x, &da, &ua);
    drift_val_unwrap(b, &y, &db, &ub);
    if (x.type == DRIFT_VAL_NULL || y.type == DRIFT_VAL_NULL) {
        res = -1;
        goto out;
    }
    if (x.type == DRIFT_VAL_TIMESTAMP)
        s_ts_text(&x, &y);
    else if (y.type == DRIFT_VAL_TIMESTAMP)
        s_ts_text(&y, &x);
    int c = s_cmp_plain(&x, &y);
    switch (op) {
    case DRIFT_BOP_EQ: res = c == 0; break;
    case DRIFT_BOP_NE: res = c != 0; break;
    case DRIFT_BOP_LT: res = c < 0; break;
    case DRIFT_BOP_LE: res = c <= 0; break;
    case DRIFT_BOP_GT: res = c > 0; break;
    case DRIFT_BOP_GE: res = c >= 0; break;
    default: res = -1; break;
    }
out:
    if (ua)
        drift_jdoc_free(&da);
    if (ub)
        drift_jdoc_free(&db);
    return res;
}

/* splitmix64 finalizer. */
static uint64_t s_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t s_hash_bytes(const void *p, size_t n, uint64_t h)
{
    const unsigned char *s = p;
    h ^= 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    return s_mix(h ^ n);
}

static uint64_t s_hash_plain(const drift_value_t *v, uint64_t seed)
{
    switch (s_class(v->type)) {
    case 0: return s_mix(seed ^ 0x5a5a);
    case 1: {
        if (v->type != DRIFT_VAL_REAL)
            return s_mix(seed ^ 1 ^ s_mix((uint64_t)s_intlike(v)));
        double r = v->u.r;
        if (isnan(r))
            return s_mix(seed ^ 3);
        if (r >= -9223372036854775808.0 && r < 9223372036854775808.0 && r == floor(r))
            return s_mix(seed ^ 1 ^ s_mix((uint64_t)(int64_t)r));
        uint64_t bits;
        memcpy(&bits, &r, sizeof bits);
        return s_mix(seed ^ 2 ^ s_mix(bits));
    }
    case 2: return s_hash_bytes(v->u.s.p, v->u.s.n, seed ^ 0x7e47);
    default: return s_hash_bytes(v->u.s.p, v->u.s.n, seed ^ 0xb10b);
    }
}

uint64_t drift_val_hash(const drift_value_t *v, uint64_t seed)
{
    if (v->type != DRIFT_VAL_JSON)
        return s_hash_plain(v, seed);
    drift_jdoc_t d;
    int used;
    drift_value_t x;
    drift_val_unwrap(v, &x, &d, &used);
    uint64_t h = s_hash_plain(&x, seed);
    if (used)
        drift_jdoc_free(&d);
    return h;
}

int drift_val_truth(const drift_value_t *v)
{
    switch (v->type) {
    case DRIFT_VAL_NULL: return -1;
    case DRIFT_VAL_BOOL: return v->u.b ? 1 : 0;
    case DRIFT_VAL_INT:
    case DRIFT_VAL_TIMESTAMP: return v->u.i != 0;
    case DRIFT_VAL_REAL: return v->u.r != 0.0;
    default: break;
    }
    drift_value_t n;
    drift_val_numify(v, &n);
    if (n.type == DRIFT_VAL_NULL)
        return -1;
    if (v->type == DRIFT_VAL_JSON) {
        /* JSON null is NULL, JSON true/false are booleans */
        drift_jdoc_t d;
        int used;
        drift_value_t x;
        drift_val_unwrap(v, &x, &d, &used);
        int t = x.type == DRIFT_VAL_NULL ? -1 : x.type == DRIFT_VAL_BOOL ? x.u.b : -2;
        if (used)
            drift_jdoc_free(&d);
        if (t != -2)
            return t;
    }
    return n.type == DRIFT_VAL_INT ? n.u.i != 0 : n.u.r != 0.0;
}

int drift_val_copy(drift_arena_t *a, const drift_value_t *src, drift_value_t *dst)
{
    *dst = *src;
    if (src->type == DRIFT_VAL_TEXT || src->type == DRIFT_VAL_BLOB || src->type == DRIFT_VAL_JSON) {
        char *p = drift_arena_memdup(a, src->u.s.p, src->u.s.n);
        if (!p)
            return -1;
        dst->u.s.p = p;
    }
    return 0;
}

/* ------------------------------------------------------------------ text form */

/* SQLite's "%!.15g": 15 significant digits, always a decimal point ("1.0", "1.0e+20"); -0 prints 0.0. */
static size_t s_fmt_real(double r, char *buf, size_t cap)
{
    if (isnan(r))
        return (size_t)snprintf(buf, cap, "NaN");
    if (isinf(r))
        return (size_t)snprintf(buf, cap, r < 0 ? "-Inf" : "Inf");
    if (r == 0)
        r = 0; /* -0.0 -> 0.0 */
    char tmp[48];
    int n = snprintf(tmp, sizeof tmp, "%.15g", r);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return (size_t)snprintf(buf, cap, "%g", r);
    char *e = strchr(tmp, 'e');
    int has_dot = strchr(tmp, '.') != NULL;
    if (has_dot)
        return (size_t)snprintf(buf, cap, "%s", tmp);
    if (e)
        return (size_t)snprintf(buf, cap, "%.*s.0%s", (int)(e - tmp), tmp, e);
    return (size_t)snprintf(buf, cap, "%s.0", tmp);
}

const char *drift_val_to_text(drift_arena_t *a, const drift_value_t *v, size_t *ret_len)
{
    char buf[64];
    size_t n = 0;
    const char *src = buf;
    switch (v->type) {
    case DRIFT_VAL_NULL: n = 0; break;
    case DRIFT_VAL_INT: n = (size_t)snprintf(buf, sizeof buf, "%" PRId64, v->u.i); break;
    case DRIFT_VAL_REAL: n = s_fmt_real(v->u.r, buf, sizeof buf); break;
    case DRIFT_VAL_BOOL: n = (size_t)snprintf(buf, sizeof buf, "%d", v->u.b ? 1 : 0); break;
    case DRIFT_VAL_TIMESTAMP: n = drift_ts_format(v->u.i, buf, sizeof buf); break;
    case DRIFT_VAL_TEXT:
    case DRIFT_VAL_BLOB:
    case DRIFT_VAL_JSON:
        src = v->u.s.p;
        n = v->u.s.n;
        break;
    }
    if (ret_len)
        *ret_len = n;
    return drift_arena_strndup(a, src, n);
}

/* ------------------------------------------------------------------ timestamps */

/* Days since 1970-01-01 of a proleptic Gregorian date (the era algorithm). */
static int64_t s_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void s_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int s_digits(const char *s, size_t n, size_t at, size_t count, int *ret)
{
    if (at + count > n)
        return -1;
    int v = 0;
    for (size_t i = 0; i < count; i++) {
        if (!isdigit((unsigned char)s[at + i]))
            return -1;
        v = v * 10 + (s[at + i] - '0');
    }
    *ret = v;
    return 0;
}

int drift_ts_parse(const char *s, size_t n, int64_t *ret_ns)
{
    int y, mo, d, h = 0, mi = 0, sec = 0;
    int64_t frac = 0;
    int64_t off = 0;
    size_t i = 0;
    if (s_digits(s, n, 0, 4, &y) < 0 || n < 10 || s[4] != '-' || s_digits(s, n, 5, 2, &mo) < 0 || s[7] != '-' ||
        s_digits(s, n, 8, 2, &d) < 0)
        return -1;
    i = 10;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1)
        return -1;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[mo - 1] + (mo == 2 && leap))
        return -1;
    if (i < n && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
        i++;
        if (s_digits(s, n, i, 2, &h) < 0 || i + 2 >= n || s[i + 2] != ':' || s_digits(s, n, i + 3, 2, &mi) < 0)
            return -1;
        i += 5;
        if (i < n && s[i] == ':') {
            if (s_digits(s, n, i + 1, 2, &sec) < 0)
                return -1;
            i += 3;
            if (i < n && (s[i] == '.' || s[i] == ',')) {
                i++;
                size_t nd = 0;
                while (i < n && isdigit((unsigned char)s[i])) {
                    if (++nd > 9)
                        return -1;
                    frac = frac * 10 + (s[i++] - '0');
                }
                if (nd == 0)
                    return -1;
                for (size_t k = nd; k < 9; k++)
                    frac *= 10;
            }
        }
        if (h > 23 || mi > 59 || sec > 59)
            return -1;
        if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
            i++;
        } else if (i < n && (s[i] == '+' || s[i] == '-')) {
            int sign = s[i] == '-' ? -1 : 1, oh, om = 0;
            i++;
            if (s_digits(s, n, i, 2, &oh) < 0)
                return -1;
            i += 2;
            if (i < n && s[i] == ':') {
                if (s_digits(s, n, i + 1, 2, &om) < 0)
                    return -1;
                i += 3;
            } else if (i + 2 <= n && s_digits(s, n, i, 2, &om) == 0) {
                i += 2;
            }
            if (oh > 23 || om > 59)
                return -1;
            off = sign * (int64_t)(oh * 3600 + om * 60);
        }
    }
    if (i != n)
        return -1;
    int64_t secs = s_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec - off;
    int64_t ns;
    if (__builtin_mul_overflow(secs, (int64_t)1000000000, &ns) || __builtin_add_overflow(ns, frac, &ns))
        return -1;
    *ret_ns = ns;
    return 0;
}

size_t drift_ts_format(int64_t ns, char *buf, size_t cap)
{
    int64_t secs = ns / 1000000000, frac = ns % 1000000000;
    if (frac < 0) {
        frac += 1000000000;
        secs--;
    }
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    unsigned m, d;
    s_civil_from_days(days, &y, &m, &d);
    char fr[16] = "";
    if (frac) {
        snprintf(fr, sizeof fr, ".%09" PRId64, frac);
        size_t l = strlen(fr);
        while (l > 1 && fr[l - 1] == '0')
            fr[--l] = 0;
    }
    int n = snprintf(buf, cap, "%04" PRId64 "-%02u-%02uT%02d:%02d:%02d%sZ", y, m, d, (int)(rem / 3600),
                     (int)(rem / 60 % 60), (int)(rem % 60), fr);
    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : (cap ? cap - 1 : 0);
}

/* ------------------------------------------------------------------ coercion and CAST */

static const char *s_tname(drift_coltype_t t)
{
    return drift_coltype_name(t);
}

/* A short printable form of v for error messages. */
static const char *s_show(char *buf, size_t cap, const drift_value_t *v)
{
    switch (v->type) {
    case DRIFT_VAL_TEXT:
    case DRIFT_VAL_JSON: snprintf(buf, cap, "\"%.*s\"", (int)(v->u.s.n > 40 ? 40 : v->u.s.n), v->u.s.p); break;
    case DRIFT_VAL_BLOB: snprintf(buf, cap, "a BLOB of %zu bytes", v->u.s.n); break;
    case DRIFT_VAL_INT: snprintf(buf, cap, "%" PRId64, v->u.i); break;
    case DRIFT_VAL_REAL: s_fmt_real(v->u.r, buf, cap); break;
    case DRIFT_VAL_BOOL: snprintf(buf, cap, "%s", v->u.b ? "true" : "false"); break;
    case DRIFT_VAL_TIMESTAMP: drift_ts_format(v->u.i, buf, cap); break;
    default: snprintf(buf, cap, "NULL"); break;
    }
    return buf;
}

static int s_bad(drift_sqlerr_t *err, const char *code, drift_coltype_t t, const drift_value_t *v, const char *col,
                 const char *why)
{
    char b[96];
    if (col)
        return drift_sqlerr_set(err, code, 0, "invalid value for column \"%s\" of type %s: %s%s%s", col, s_tname(t),
                                s_show(b, sizeof b, v), why ? ": " : "", why ? why : "");
    return drift_sqlerr_set(err, code, 0, "invalid value for type %s: %s%s%s", s_tname(t), s_show(b, sizeof b, v),
                            why ? ": " : "", why ? why : "");
}

/* A case-insensitive comparison of v's text with a word. */
static int s_word(const drift_value_t *v, const char *w)
{
    size_t n = strlen(w), b = 0, e = v->u.s.n;
    while (b < e && isspace((unsigned char)v->u.s.p[b]))
        b++;
    while (e > b && isspace((unsigned char)v->u.s.p[e - 1]))
        e--;
    return e - b == n && strncasecmp(v->u.s.p + b, w, n) == 0;
}

/* A value encoded as JSON text in the arena. */
static int s_to_json(drift_arena_t *a, const drift_value_t *v, drift_value_t *out)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    char tsb[48];
    switch (v->type) {
    case DRIFT_VAL_INT: msgpack_pack_int64(&pk, v->u.i); break;
    case DRIFT_VAL_REAL: msgpack_pack_double(&pk, v->u.r); break;
    case DRIFT_VAL_BOOL:
        if (v->u.b)
            msgpack_pack_true(&pk);
        else
            msgpack_pack_false(&pk);
        break;
    case DRIFT_VAL_TIMESTAMP: {
        size_t n = drift_ts_format(v->u.i, tsb, sizeof tsb);
        msgpack_pack_str(&pk, n);
        msgpack_pack_str_body(&pk, tsb, n);
        break;
    }
    case DRIFT_VAL_TEXT:
    case DRIFT_VAL_BLOB:
        msgpack_pack_str(&pk, v->u.s.n);
        msgpack_pack_str_body(&pk, v->u.s.p, v->u.s.n);
        break;
    default: msgpack_pack_nil(&pk); break;
    }
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    int rc = -1;
    if (msgpack_unpack_next(&u, sb.data, sb.size, NULL) == MSGPACK_UNPACK_SUCCESS) {
        drift_strbuf_t js = {0};
        if (drift_json_from_msgpack(&u.data, &js) == 0 && !js.oom) {
            char *p = drift_arena_memdup(a, js.p ? js.p : "", js.len);
            if (p) {
                *out = drift_val_json(p, js.len);
                rc = 0;
            }
        }
        drift_strbuf_free(&js);
    }
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static int s_oom(drift_sqlerr_t *err)
{
    return drift_sqlerr_set(err, "53200", 0, "out of memory");
}

int drift_val_coerce(drift_arena_t *a, drift_coltype_t t, const drift_value_t *v, drift_value_t *out, const char *col,
                     drift_sqlerr_t *err)
{
    drift_value_t u = *v, num;
    drift_jdoc_t d;
    int used = 0, rc = 0;
    if (v->type == DRIFT_VAL_NULL) {
        *out = *v;
        return 0;
    }
    /* a JSON scalar stored into a non-JSON column is unwrapped first */
    if (v->type == DRIFT_VAL_JSON && t != DRIFT_COL_JSON) {
        drift_val_unwrap(v, &u, &d, &used);
        if (u.type == DRIFT_VAL_NULL) {
            *out = u;
            goto out;
        }
    }
    switch (t) {
    case DRIFT_COL_INTEGER:
        switch (u.type) {
        case DRIFT_VAL_INT: *out = u; break;
        case DRIFT_VAL_BOOL: *out = drift_val_int(u.u.b); break;
        case DRIFT_VAL_TIMESTAMP: *out = drift_val_int(u.u.i); break;
        case DRIFT_VAL_REAL:
            if (isnan(u.u.r) || u.u.r != floor(u.u.r))
                rc = s_bad(err, DRIFT_SQLSTATE_BAD_VALUE, t, &u, col, "not an integer");
            else if (u.u.r < -9223372036854775808.0 || u.u.r >= 9223372036854775808.0)
                rc = s_bad(err, DRIFT_SQLSTATE_OUT_OF_RANGE, t, &u, col, "out of the 64-bit integer range");
            else
                *out = drift_val_int((int64_t)u.u.r);
            break;
        case DRIFT_VAL_TEXT:
            if (!drift_text_numeric(u.u.s.p, u.u.s.n, &num))
                rc = s_bad(err, DRIFT_SQLSTATE_BAD_VALUE, t, &u, col, "not a number");
            else
                rc = drift_val_coerce(a, t, &num, out, col, err);
            break;
        default: rc = s_bad(err, DRIFT_SQLSTATE_BAD_VALUE, t, &u, col, NULL); break;
        }
        break;
    case DRIFT_COL_REAL:
        switch (u.type) {
        case DRIFT_VAL_INT: *out = drift_val_real((double)u.u.i); break;
        case DRIFT_VAL_REAL: *out = u; break;
        case DRIFT_VAL_BOOL: *out = drift_val_real(u.u.b); break;
        case DRIFT_VAL_TEXT:
            if (!drift_text_numeric(u.u.s.p, u.u.s.n, &num))
                rc = s_bad(err, DRIFT_SQLSTATE_BAD_VALUE, t, &u, col, "not a number");
            else
                *out = drift_val_real(num.type == DRIFT_VAL_INT ? (double)num.u.i : num.u.r);
            break;
        default: rc = s_bad(err, DRIFT_SQLSTATE_BAD_VALUE, t, &u, col, NULL); break;
        }
        break;
    case DRIFT_COL_TEXT:
        switch (u.type) {
        case DRIFT_VAL_TEXT: *out = u; break;
        case DRIFT_VAL_BLOB: rc = s_bad(err, DRIFT_SQLSTATE_BAD_VALUE, t, &u, col, NULL); break;
        default: {
            size_t n;
            const char *p = drift_val_to_text(a, &u, &n);
            if (!p)
                rc = s_oom(err);
            else
                *out = drift_val_text(p, n);
            break;
        }
        }
        if (rc == 0 && used && out->u.s.p == u.u.s.p) { /* borrowed from the temporary JSON parse */
            const char *p = drift_arena_memdup(a, u.u.s.p, u.u.s.n);
            if (!p)
                rc = s_oom(err);
            else
                out->u.s.p = p;
        }
        break;
    case DRIFT_COL_BOOLEAN:
        switch (u.type) {
        case DRIFT_VAL_BOOL: *out = u; break;
        case DRIFT_VAL_INT:
            if (u.u.i != 0 && u.u.i != 1)
                rc = s_bad(err, DRIFT_SQLSTATE_BAD_VALUE, t, &u, col, "expected 0 or 1");
            else
                *out = drift_val_bool((int)u.u.i);
            break;
        case DRIFT_VAL_REAL:
            if (u.u.r != 0.0 && u.u.r != 1.0)
                rc = s_bad(err, DRIFT_SQLSTATE_BAD_VALUE, t, &u, col, "expected 0 or 1");
            else
                *out = drift_val_bool(u.u.r == 1.0);
            break;
        case DRIFT_VAL_TEXT:
            if (s_word(&u, "true") || s_word(&u, "t") || s_word(&u, "1") || s_word(&u, "yes") || s_word(&u, "on"))
                *out = drift_val_bool(1);
            else if (s_word(&u, "false") || s_word(&u, "f") || s_word(&u, "0") || s_word(&u, "no") || s_word(&u, "off"))
                *out = drift_val_bool(0);
            else
                rc = s_bad(err, DRIFT_SQLSTATE_BAD_VALUE, t, &u, col, "expected true or false");
            break;
        default: rc = s_bad(err, DRIFT_SQLSTATE_BAD_VALUE, t, &u, col, NULL); break;
        }
        break;
    case DRIFT_COL_BLOB:
        if (u.type == DRIFT_VAL_BLOB)
            *out = u;
        else if (u.type == DRIFT_VAL_TEXT && !used)
            *out = drift_val_blob(u.u.s.p, u.u.s.n);
        else
            rc = s_bad(err, DRIFT_SQLSTATE_BAD_VALUE, t, &u, col, NULL);
        break;
    case DRIFT_COL_TIMESTAMP:
        switch (u.type) {
        case DRIFT_VAL_TIMESTAMP: *out = u; break;
        case DRIFT_VAL_INT: *out = drift_val_ts(u.u.i); break;
        case DRIFT_VAL_TEXT: {
            int64_t ns;
            if (drift_ts_parse(u.u.s.p, u.u.s.n, &ns) < 0)
                rc = s_bad(err, "22007", t, &u, col, "expected an RFC 3339 timestamp");
            else
                *out = drift_val_ts(ns);
            break;
        }
        default: rc = s_bad(err, DRIFT_SQLSTATE_BAD_VALUE, t, &u, col, NULL); break;
        }
        break;
    case DRIFT_COL_JSON:
        if (u.type == DRIFT_VAL_JSON || u.type == DRIFT_VAL_TEXT) {
            drift_strbuf_t sb = {0};
            char msg[128] = "";
            size_t epos = 0;
            int jr = drift_json_canon(u.u.s.p, u.u.s.n, &sb, msg, sizeof msg, &epos);
            if (jr == -ENOMEM || sb.oom) {
                rc = s_oom(err);
            } else if (jr < 0) {
                char b[96];
                if (col)
                    rc = drift_sqlerr_set(err, DRIFT_SQLSTATE_BAD_VALUE, 0,
                                          "invalid value for column \"%s\" of type JSON: %s: %s", col,
                                          s_show(b, sizeof b, &u), msg);
                else
                    rc = drift_sqlerr_set(err, DRIFT_SQLSTATE_BAD_VALUE, 0, "invalid value for type JSON: %s: %s",
                                          s_show(b, sizeof b, &u), msg);
            } else {
                char *p = drift_arena_memdup(a, sb.p ? sb.p : "", sb.len);
                if (!p)
                    rc = s_oom(err);
                else
                    *out = drift_val_json(p, sb.len);
            }
            drift_strbuf_free(&sb);
        } else if (u.type == DRIFT_VAL_BLOB) {
            rc = s_bad(err, DRIFT_SQLSTATE_BAD_VALUE, t, &u, col, NULL);
        } else if (s_to_json(a, &u, out) < 0) {
            rc = s_oom(err);
        }
        break;
    default: rc = s_bad(err, DRIFT_SQLSTATE_BAD_VALUE, t, &u, col, "unknown column type"); break;
    }
out:
    if (used) {
        if (rc == 0 && (out->type == DRIFT_VAL_TEXT || out->type == DRIFT_VAL_BLOB) && out->u.s.p >= d.sb.data &&
            out->u.s.p < d.sb.data + d.sb.size) {
            const char *p = drift_arena_memdup(a, out->u.s.p, out->u.s.n);
            if (!p)
                rc = s_oom(err);
            else
                out->u.s.p = p;
        }
        drift_jdoc_free(&d);
    }
    return rc < 0 ? -1 : 0;
}

/* CAST text AS INTEGER: an optional sign and the leading digits, clamped (SQLite). */
static int64_t s_text_int_prefix(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && isspace((unsigned char)p[i]))
        i++;
    int neg = 0;
    if (i < n && (p[i] == '+' || p[i] == '-'))
        neg = p[i++] == '-';
    uint64_t v = 0;
    int over = 0;
    while (i < n && isdigit((unsigned char)p[i])) {
        if (v > (UINT64_MAX - 9) / 10)
            over = 1;
        else
            v = v * 10 + (uint64_t)(p[i] - '0');
        i++;
    }
    if (neg)
        return over || v > (uint64_t)INT64_MAX + 1 ? INT64_MIN : (int64_t)(0 - v);
    return over || v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

int drift_val_cast(drift_arena_t *a, drift_coltype_t t, const drift_value_t *v, drift_value_t *out, drift_sqlerr_t *err)
{
    drift_value_t u = *v;
    drift_jdoc_t d;
    int used = 0, rc = 0;
    if (v->type == DRIFT_VAL_NULL) {
        *out = *v;
        return 0;
    }
    if (v->type == DRIFT_VAL_JSON && t != DRIFT_COL_JSON && t != DRIFT_COL_TEXT && t != DRIFT_COL_BLOB) {
        drift_val_unwrap(v, &u, &d, &used);
        if (u.type == DRIFT_VAL_JSON) /* a container: its text */
            u.type = DRIFT_VAL_TEXT;
    }
    switch (t) {
    case DRIFT_COL_INTEGER:
        switch (u.type) {
        case DRIFT_VAL_NULL: *out = u; break;
        case DRIFT_VAL_INT: *out = u; break;
        case DRIFT_VAL_BOOL: *out = drift_val_int(u.u.b); break;
        case DRIFT_VAL_TIMESTAMP: *out = drift_val_int(u.u.i); break;
        case DRIFT_VAL_REAL: *out = drift_val_int(s_real_to_i64(u.u.r)); break;
        default: *out = drift_val_int(s_text_int_prefix(u.u.s.p, u.u.s.n)); break;
        }
        break;
    case DRIFT_COL_REAL:
        switch (u.type) {
        case DRIFT_VAL_NULL: *out = u; break;
        case DRIFT_VAL_REAL: *out = u; break;
        default: *out = drift_val_real(drift_val_real_of(&u)); break;
        }
        break;
    case DRIFT_COL_TEXT:
    case DRIFT_COL_BLOB: {
        size_t n;
        const char *p = drift_val_to_text(a, &u, &n);
        if (!p)
            rc = s_oom(err);
        else
            *out = t == DRIFT_COL_TEXT ? drift_val_text(p, n) : drift_val_blob(p, n);
        break;
    }
    case DRIFT_COL_BOOLEAN:
        if (u.type == DRIFT_VAL_NULL) {
            *out = u;
        } else if (u.type == DRIFT_VAL_TEXT && (s_word(&u, "true") || s_word(&u, "t"))) {
            *out = drift_val_bool(1);
        } else if (u.type == DRIFT_VAL_TEXT && (s_word(&u, "false") || s_word(&u, "f"))) {
            *out = drift_val_bool(0);
        } else {
            int tr = drift_val_truth(&u);
            *out = tr < 0 ? drift_val_null() : drift_val_bool(tr);
        }
        break;
    case DRIFT_COL_TIMESTAMP:
        switch (u.type) {
        case DRIFT_VAL_NULL: *out = u; break;
        case DRIFT_VAL_TIMESTAMP: *out = u; break;
        case DRIFT_VAL_INT: *out = drift_val_ts(u.u.i); break;
        case DRIFT_VAL_BOOL: *out = drift_val_ts(u.u.b); break;
        case DRIFT_VAL_REAL: *out = drift_val_ts(s_real_to_i64(u.u.r)); break;
        case DRIFT_VAL_TEXT: {
            int64_t ns;
            if (drift_ts_parse(u.u.s.p, u.u.s.n, &ns) < 0) {
                char b[96];
                rc = drift_sqlerr_set(err, "22007", 0, "invalid input syntax for type TIMESTAMP: %s",
                                      s_show(b, sizeof b, &u));
            } else {
                *out = drift_val_ts(ns);
            }
            break;
        }
        default: rc = s_bad(err, DRIFT_SQLSTATE_BAD_VALUE, t, &u, NULL, NULL); break;
        }
        break;
    case DRIFT_COL_JSON: rc = drift_val_coerce(a, t, &u, out, NULL, err); break;
    default: *out = u; break;
    }
    if (used) {
        if (rc == 0 && (out->type == DRIFT_VAL_TEXT || out->type == DRIFT_VAL_BLOB) && out->u.s.p >= d.sb.data &&
            out->u.s.p < d.sb.data + d.sb.size) {
            const char *p = drift_arena_memdup(a, out->u.s.p, out->u.s.n);
            if (!p)
                rc = s_oom(err);
            else
                out->u.s.p = p;
        }
        drift_jdoc_free(&d);
    }
    return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ storage and keys */

void drift_val_pack(msgpack_packer *pk, const drift_value_t *v)
{
    switch (v->type) {
    case DRIFT_VAL_INT:
    case DRIFT_VAL_TIMESTAMP: msgpack_pack_int64(pk, v->u.i); break;
    case DRIFT_VAL_REAL: msgpack_pack_double(pk, v->u.r); break;
    case DRIFT_VAL_BOOL:
        if (v->u.b)
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
        break;
    case DRIFT_VAL_TEXT:
    case DRIFT_VAL_JSON:
        msgpack_pack_str(pk, v->u.s.n);
        msgpack_pack_str_body(pk, v->u.s.p, v->u.s.n);
        break;
    case DRIFT_VAL_BLOB:
        msgpack_pack_bin(pk, v->u.s.n);
        msgpack_pack_bin_body(pk, v->u.s.p, v->u.s.n);
        break;
    default: msgpack_pack_nil(pk); break;
    }
}

int drift_val_unpack(drift_coltype_t t, const msgpack_object *o, drift_value_t *out)
{
    *out = drift_val_null();
    if (o->type == MSGPACK_OBJECT_NIL)
        return 0;
    int64_t i = 0;
    int isint = 0;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
        i = (int64_t)o->via.u64;
        isint = 1;
    } else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        i = o->via.i64;
        isint = 1;
    }
    switch (t) {
    case DRIFT_COL_INTEGER:
        if (!isint)
            return DRIFT_EPROTO;
        *out = drift_val_int(i);
        return 0;
    case DRIFT_COL_TIMESTAMP:
        if (!isint)
            return DRIFT_EPROTO;
        *out = drift_val_ts(i);
        return 0;
    case DRIFT_COL_REAL:
        if (isint)
            *out = drift_val_real((double)i);
        else if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64)
            *out = drift_val_real(o->via.f64);
        else
            return DRIFT_EPROTO;
        return 0;
    case DRIFT_COL_BOOLEAN:
        if (o->type != MSGPACK_OBJECT_BOOLEAN)
            return DRIFT_EPROTO;
        *out = drift_val_bool(o->via.boolean);
        return 0;
    case DRIFT_COL_TEXT:
    case DRIFT_COL_JSON:
        if (o->type != MSGPACK_OBJECT_STR)
            return DRIFT_EPROTO;
        *out = t == DRIFT_COL_TEXT ? drift_val_text(o->via.str.ptr, o->via.str.size)
                                   : drift_val_json(o->via.str.ptr, o->via.str.size);
        return 0;
    case DRIFT_COL_BLOB:
        if (o->type != MSGPACK_OBJECT_BIN)
            return DRIFT_EPROTO;
        *out = drift_val_blob(o->via.bin.ptr, o->via.bin.size);
        return 0;
    default: return DRIFT_EPROTO;
    }
}

void drift_val_keyenc(drift_keybuf_t *kb, drift_coltype_t t, const drift_value_t *v)
{
    switch (v->type) {
    case DRIFT_VAL_NULL: drift_keyenc_null(kb); return;
    case DRIFT_VAL_BOOL:
        if (t == DRIFT_COL_INTEGER)
            drift_keyenc_int(kb, v->u.b);
        else
            drift_keyenc_bool(kb, v->u.b);
        return;
    case DRIFT_VAL_INT:
        if (t == DRIFT_COL_REAL)
            drift_keyenc_real(kb, (double)v->u.i);
        else if (t == DRIFT_COL_TIMESTAMP)
            drift_keyenc_ts(kb, v->u.i);
        else
            drift_keyenc_int(kb, v->u.i);
        return;
    case DRIFT_VAL_REAL:
        if (t == DRIFT_COL_INTEGER && v->u.r == floor(v->u.r) && v->u.r >= -9223372036854775808.0 &&
            v->u.r < 9223372036854775808.0)
            drift_keyenc_int(kb, (int64_t)v->u.r);
        else
            drift_keyenc_real(kb, v->u.r);
        return;
    case DRIFT_VAL_TIMESTAMP:
        if (t == DRIFT_COL_INTEGER)
            drift_keyenc_int(kb, v->u.i);
        else
            drift_keyenc_ts(kb, v->u.i);
        return;
    case DRIFT_VAL_TEXT:
        if (t == DRIFT_COL_BLOB)
            drift_keyenc_blob(kb, v->u.s.p, v->u.s.n);
        else if (t == DRIFT_COL_JSON)
            drift_keyenc_json(kb, v->u.s.p, v->u.s.n);
        else
            drift_keyenc_text(kb, v->u.s.p, v->u.s.n);
        return;
    case DRIFT_VAL_BLOB: drift_keyenc_blob(kb, v->u.s.p, v->u.s.n); return;
    case DRIFT_VAL_JSON:
        if (t == DRIFT_COL_TEXT)
            drift_keyenc_text(kb, v->u.s.p, v->u.s.n);
        else
            drift_keyenc_json(kb, v->u.s.p, v->u.s.n);
        return;
    }
}
