/* modules/query/func.c — the scalar SQL functions of the evaluator (expr.h),
 * with SQLite's semantics: abs, round, length, substr/substring, upper, lower,
 * trim/ltrim/rtrim, replace, instr, coalesce, ifnull, nullif, iif, typeof,
 * hex, printf/format, now/current_timestamp, json_extract, json_type,
 * json, json_valid, json_array_length, min/max (2+ arguments), sign, and a
 * few more of SQLite's/PostgreSQL's: concat, concat_ws, quote, unicode, char. The function table is constant; results
 * live in env->arena. Single-threaded. */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "ipc/proto.h"
#include "modules/query/expr_priv.h"

typedef int (*s_fn_t)(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out);

typedef struct {
    const char *name;
    uint32_t min, max; /* argument count range (max UINT32_MAX: any) */
    s_fn_t fn;
    drift_val_type_t hint; /* static result type, NULL when it depends on the arguments */
} s_func_t;

static int s_oom(drift_evalenv_t *env)
{
    return drift_sqlerr_set(env->err, "53200", 0, "out of memory");
}

/* The text form of v (borrowed or in the arena). */
static const char *s_text(drift_evalenv_t *env, const drift_value_t *v, size_t *ret_n)
{
    if (v->type == DRIFT_VAL_TEXT || v->type == DRIFT_VAL_BLOB || v->type == DRIFT_VAL_JSON) {
        *ret_n = v->u.s.n;
        return v->u.s.p;
    }
    return drift_val_to_text(env->arena, v, ret_n);
}

/* Number of UTF-8 characters in p[0..n). */
static size_t s_nchars(const char *p, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)p[i] & 0xC0) != 0x80;
    return c;
}

/* Byte offset of character k of p[0..n) (n when past the end). */
static size_t s_charoff(const char *p, size_t n, size_t k)
{
    size_t i = 0;
    while (i < n && k > 0) {
        i++;
        while (i < n && ((unsigned char)p[i] & 0xC0) == 0x80)
            i++;
        k--;
    }
    return i;
}

static int s_anynull(const drift_value_t *a, uint32_t na)
{
    for (uint32_t i = 0; i < na; i++)
        if (a[i].type == DRIFT_VAL_NULL)
            return 1;
    return 0;
}

/* ------------------------------------------------------------------ numbers */

static int f_abs(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)na;
    switch (a[0].type) {
    case DRIFT_VAL_NULL: *out = a[0]; return 0;
    case DRIFT_VAL_INT:
    case DRIFT_VAL_BOOL:
    case DRIFT_VAL_TIMESTAMP: {
        int64_t i = a[0].type == DRIFT_VAL_BOOL ? a[0].u.b : a[0].u.i;
        if (i == INT64_MIN)
            return drift_sqlerr_set(env->err, DRIFT_SQLSTATE_OUT_OF_RANGE, drift_expr_pos(env, n), "integer overflow");
        *out = drift_val_int(i < 0 ? -i : i);
        return 0;
    }
    default: *out = drift_val_real(fabs(drift_val_real_of(&a[0]))); return 0;
    }
}

/* SQLite's printf of a double, digit for digit (its printf.c: %f %e %g and upper case): the value is scaled to
 * [1, 10) and its digits peeled off in 80-bit long double arithmetic with its double constants, at most 16
 * significant digits (26 with the '!' flag) then zeros, with its rounder (and, for %f, a 3e-16 relative fudge:
 * printf('%.2f', 1.005) is 1.01); -0.0 prints as 0. prec < 0: 6. alt: '#', alt2: '!', sign: '+', ' ' or 0.
 * Writes at most cap - 1 bytes of the number without width padding to buf; returns its length. */
static size_t s_sqlite_float(double r, char conv, int prec, int alt, int alt2, char sign, char *buf, size_t cap)
{
    long double v = r, rounder;
    char prefix = sign;
    int exp = 0, nsd = 16 + alt2 * 10, rtz;
    size_t n = 0;
    char xt = (char)(conv | 0x20); /* f, e or g */
    if (prec < 0)
        prec = 6;
    if (prec > 1000)
        prec = 1000;
    if (r < 0.0) {
        v = -v;
        prefix = '-';
    }
    if (xt == 'g' && prec > 0)
        prec--;
    int idx = prec & 0xfff;
    static const double round_to[] = {5.0e-01, 5.0e-02, 5.0e-03, 5.0e-04, 5.0e-05,
                                      5.0e-06, 5.0e-07, 5.0e-08, 5.0e-09, 5.0e-10};
    rounder = round_to[idx % 10];
    while (idx >= 10) {
        rounder *= 1.0e-10;
        idx -= 10;
    }
    if (xt == 'f') {
        double rx = (double)v;
        uint64_t u;
        memcpy(&u, &rx, sizeof u);
        int ex = -1023 + (int)((u >> 52) & 0x7ff);
        if (prec + (ex / 3) < 15)
            rounder += v * 3e-16;
        v += rounder;
    }
    if (isnan(r))
        return (size_t)snprintf(buf, cap, "NaN");
    if (v > 0.0) {
        long double scale = 1.0;
        while (v >= 1e100 * scale && exp <= 350) {
            scale *= 1e100;
            exp += 100;
        }
        while (v >= 1e10 * scale && exp <= 350) {
            scale *= 1e10;
            exp += 10;
        }
        while (v >= 10.0 * scale && exp <= 350) {
            scale *= 10.0;
            exp++;
        }
        v /= scale;
        while (v < 1e-8) {
            v *= 1e8;
            exp -= 8;
        }
        while (v < 1.0) {
            v *= 10.0;
            exp--;
        }
        if (exp > 350)
            return (size_t)snprintf(buf, cap, "%sInf", prefix ? (prefix == '-' ? "-" : prefix == '+' ? "+" : " ") : "");
    }
    if (xt != 'f') {
        v += rounder;
        if (v >= 10.0) {
            v *= 0.1;
            exp++;
        }
    }
    if (xt == 'g') {
        rtz = !alt;
        if (exp < -4 || exp > prec) {
            xt = 'e';
        } else {
            prec = prec - exp;
            xt = 'f';
        }
    } else {
        rtz = alt2;
    }
    int e2 = xt == 'e' ? 0 : exp;
    int dp = (prec > 0) | alt | alt2;
    /* enough room: sign, up to 351 integer digits, the point, prec digits, the exponent */
    if (cap < (size_t)(e2 > 0 ? e2 : 0) + (size_t)prec + 16)
        return (size_t)snprintf(buf, cap, "%s", "");
#define DIGIT()                                                                                                            do {                                                                                                                       int d_ = 0;                                                                                                            if (nsd > 0) {                                                                                                             nsd--;                                                                                                                 d_ = (int)v;                                                                                                           v = (v - d_) * 10.0;                                                                                               }                                                                                                                      buf[n++] = (char)('0' + d_);                                                                                       } while (0)
    if (prefix)
        buf[n++] = prefix;
    if (e2 < 0) {
        buf[n++] = '0';
    } else {
        for (; e2 >= 0; e2--)
            DIGIT();
    }
    if (dp)
        buf[n++] = '.';
    for (e2++; e2 < 0 && prec > 0; prec--, e2++)
        buf[n++] = '0';
    while ((prec--) > 0)
        DIGIT();
#undef DIGIT
    if (rtz && dp) {
        while (buf[n - 1] == '0')
            n--;
        if (buf[n - 1] == '.') {
            if (alt2)
                buf[n++] = '0';
            else
                n--;
        }
    }
    if (xt == 'e') {
        buf[n++] = conv == 'E' || conv == 'G' ? 'E' : 'e';
        buf[n++] = exp < 0 ? '-' : '+';
        if (exp < 0)
            exp = -exp;
        if (exp >= 100) {
            buf[n++] = (char)('0' + exp / 100);
            exp %= 100;
        }
        buf[n++] = (char)('0' + exp / 10);
        buf[n++] = (char)('0' + exp % 10);
    }
    buf[n] = 0;
    return n;
}

/* SQLite's round(): half away from zero; n decimals (clamped to 0..30). */
static int f_round(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)env;
    (void)n;
    if (s_anynull(a, na)) {
        *out = drift_val_null();
        return 0;
    }
    int64_t d = na > 1 ? (int32_t)(uint32_t)drift_val_int_of(&a[1]) : 0; /* a 32-bit int, as in SQLite */
    if (d < 0)
        d = 0;
    if (d > 30)
        d = 30;
    double r = drift_val_real_of(&a[0]);
    if (isnan(r) || isinf(r)) {
        *out = drift_val_real(r);
        return 0;
    }
    if (fabs(r) > 4503599627370496.0) { /* beyond 2^52: no fraction to round (SQLite) */
        *out = drift_val_real(r);
        return 0;
    }
    if (d == 0) {
        double t = (double)(int64_t)(fabs(r) + 0.5);
        *out = drift_val_real(r < 0 ? -t : t);
        return 0;
    }
    /* SQLite: printf("%.*f", n, r) read back (16 significant digits) */
    char buf[480];
    s_sqlite_float(r, 'f', (int)d, 0, 0, 0, buf, sizeof buf);
    double v = strtod(buf, NULL);
    *out = drift_val_real(v == 0 ? 0.0 : v);
    return 0;
}

static int f_sign(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)env;
    (void)n;
    (void)na;
    drift_value_t x = a[0];
    *out = drift_val_null();
    if (x.type == DRIFT_VAL_TEXT || x.type == DRIFT_VAL_BLOB) {
        if (!drift_text_numeric(x.u.s.p, x.u.s.n, &x))
            return 0;
    } else if (x.type == DRIFT_VAL_NULL) {
        return 0;
    } else {
        drift_val_numify(&a[0], &x);
    }
    if (x.type == DRIFT_VAL_INT)
        *out = drift_val_int((x.u.i > 0) - (x.u.i < 0));
    else if (x.type == DRIFT_VAL_REAL && !isnan(x.u.r))
        *out = drift_val_int((x.u.r > 0) - (x.u.r < 0));
    return 0;
}

/* ------------------------------------------------------------------ strings */

static int f_length(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)n;
    (void)na;
    if (a[0].type == DRIFT_VAL_NULL) {
        *out = a[0];
        return 0;
    }
    if (a[0].type == DRIFT_VAL_BLOB) {
        *out = drift_val_int((int64_t)a[0].u.s.n);
        return 0;
    }
    size_t len;
    const char *p = s_text(env, &a[0], &len);
    if (!p)
        return s_oom(env);
    *out = drift_val_int((int64_t)s_nchars(p, len));
    return 0;
}

static int f_substr(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)n;
    *out = drift_val_null();
    if (s_anynull(a, na))
        return 0;
    int blob = a[0].type == DRIFT_VAL_BLOB;
    size_t bn;
    const char *p = s_text(env, &a[0], &bn);
    if (!p)
        return s_oom(env);
    int64_t len = blob ? (int64_t)bn : (int64_t)s_nchars(p, bn);
    /* SQLite reads the start and length as 32-bit ints (sqlite3_value_int): huge values wrap the same way */
    int64_t p1 = (int32_t)(uint32_t)drift_val_int_of(&a[1]), p2 = INT64_MAX / 4;
    int neg2 = 0;
    if (na == 3) {
        p2 = (int32_t)(uint32_t)drift_val_int_of(&a[2]);
        if (p2 < 0) {
            p2 = p2 == INT64_MIN ? INT64_MAX / 4 : -p2;
            neg2 = 1;
        }
    }
    if (p1 < -(INT64_MAX / 4))
        p1 = -(INT64_MAX / 4);
    if (p1 > INT64_MAX / 4)
        p1 = INT64_MAX / 4;
    if (p2 > INT64_MAX / 4)
        p2 = INT64_MAX / 4;
    if (p1 < 0) {
        p1 += len;
        if (p1 < 0) {
            p2 += p1;
            if (p2 < 0)
                p2 = 0;
            p1 = 0;
        }
    } else if (p1 > 0) {
        p1--;
    } else if (p2 > 0) {
        p2--;
    }
    if (neg2) {
        p1 -= p2;
        if (p1 < 0) {
            p2 += p1;
            p1 = 0;
        }
    }
    if (p1 > len)
        p1 = len;
    if (p1 + p2 > len)
        p2 = len - p1;
    if (p2 < 0)
        p2 = 0;
    size_t b0, b1;
    if (blob) {
        b0 = (size_t)p1;
        b1 = (size_t)(p1 + p2);
    } else {
        b0 = s_charoff(p, bn, (size_t)p1);
        b1 = b0 + s_charoff(p + b0, bn - b0, (size_t)p2);
    }
    char *r = drift_arena_memdup(env->arena, p + b0, b1 - b0);
    if (!r)
        return s_oom(env);
    *out = blob ? drift_val_blob(r, b1 - b0) : drift_val_text(r, b1 - b0);
    return 0;
}

static int s_case_map(drift_evalenv_t *env, drift_value_t *a, drift_value_t *out, int up)
{
    if (a[0].type == DRIFT_VAL_NULL) {
        *out = a[0];
        return 0;
    }
    size_t len;
    const char *p = s_text(env, &a[0], &len);
    if (!p)
        return s_oom(env);
    char *r = drift_arena_memdup(env->arena, p, len);
    if (!r)
        return s_oom(env);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)r[i];
        if (c < 128)
            r[i] = (char)(up ? toupper(c) : tolower(c));
    }
    *out = drift_val_text(r, len);
    return 0;
}

static int f_upper(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)n;
    (void)na;
    return s_case_map(env, a, out, 1);
}

static int f_lower(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)n;
    (void)na;
    return s_case_map(env, a, out, 0);
}

/* Length of the UTF-8 character at p[0..n). */
static size_t s_clen(const char *p, size_t n)
{
    size_t i = 1;
    while (i < n && ((unsigned char)p[i] & 0xC0) == 0x80)
        i++;
    return i;
}

/* Whether the character p[0..cl) is one of set[0..sn). */
static int s_in_set(const char *p, size_t cl, const char *set, size_t sn)
{
    for (size_t i = 0; i < sn;) {
        size_t l = s_clen(set + i, sn - i);
        if (l == cl && memcmp(set + i, p, cl) == 0)
            return 1;
        i += l;
    }
    return 0;
}

static int s_trim(drift_evalenv_t *env, drift_value_t *a, uint32_t na, drift_value_t *out, int left, int right)
{
    *out = drift_val_null();
    if (s_anynull(a, na))
        return 0;
    size_t len, sn = 1;
    const char *p = s_text(env, &a[0], &len), *set = " ";
    if (na > 1)
        set = s_text(env, &a[1], &sn);
    if (!p || !set)
        return s_oom(env);
    size_t b = 0, e = len;
    if (left)
        while (b < e) {
            size_t l = s_clen(p + b, e - b);
            if (!s_in_set(p + b, l, set, sn))
                break;
            b += l;
        }
    if (right)
        while (e > b) {
            size_t s = e - 1;
            while (s > b && ((unsigned char)p[s] & 0xC0) == 0x80)
                s--;
            if (!s_in_set(p + s, e - s, set, sn))
                break;
            e = s;
        }
    *out = drift_val_text(p + b, e - b); /* TEXT even for a BLOB argument (SQLite) */
    return 0;
}

static int f_trim(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)n;
    return s_trim(env, a, na, out, 1, 1);
}

static int f_ltrim(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)n;
    return s_trim(env, a, na, out, 1, 0);
}

static int f_rtrim(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)n;
    return s_trim(env, a, na, out, 0, 1);
}

static int f_replace(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)n;
    *out = drift_val_null();
    if (a[0].type == DRIFT_VAL_NULL || a[1].type == DRIFT_VAL_NULL)
        return 0;
    size_t sn, fn, rn = 0;
    const char *s = s_text(env, &a[0], &sn), *f = s_text(env, &a[1], &fn);
    if (!s || !f)
        return s_oom(env);
    if (fn == 0) { /* nothing to replace: x unchanged (type too), even when the replacement is NULL (SQLite) */
        *out = a[0];
        return 0;
    }
    if (a[2].type == DRIFT_VAL_NULL)
        return 0;
    const char *r = s_text(env, &a[2], &rn);
    if (!r)
        return s_oom(env);
    size_t count = 0;
    for (size_t i = 0; i + fn <= sn;)
        if (memcmp(s + i, f, fn) == 0) {
            count++;
            i += fn;
        } else {
            i++;
        }
    size_t total = sn - count * fn + count * rn;
    char *d = drift_arena_alloc(env->arena, total + 1), *w = d;
    if (!d)
        return s_oom(env);
    for (size_t i = 0; i < sn;)
        if (i + fn <= sn && memcmp(s + i, f, fn) == 0) {
            memcpy(w, r, rn);
            w += rn;
            i += fn;
        } else {
            *w++ = s[i++];
        }
    *out = drift_val_text(d, total);
    return 0;
}

static int f_instr(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)n;
    *out = drift_val_null();
    if (s_anynull(a, na))
        return 0;
    int blob = a[0].type == DRIFT_VAL_BLOB && a[1].type == DRIFT_VAL_BLOB;
    size_t hn, nn;
    const char *h = s_text(env, &a[0], &hn), *nd = s_text(env, &a[1], &nn);
    if (!h || !nd)
        return s_oom(env);
    int64_t pos = 0;
    for (size_t i = 0; i + nn <= hn; i++)
        if (memcmp(h + i, nd, nn) == 0) {
            pos = 1 + (int64_t)(blob ? i : s_nchars(h, i));
            break;
        }
    *out = drift_val_int(pos);
    return 0;
}

static int f_hex(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)n;
    (void)na;
    size_t len = 0;
    const char *p = a[0].type == DRIFT_VAL_NULL ? "" : s_text(env, &a[0], &len);
    if (!p)
        return s_oom(env);
    char *h = drift_arena_alloc(env->arena, len * 2 + 1);
    if (!h)
        return s_oom(env);
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        h[2 * i] = digits[(unsigned char)p[i] >> 4];
        h[2 * i + 1] = digits[(unsigned char)p[i] & 15];
    }
    *out = drift_val_text(h, len * 2);
    return 0;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
/* printf(fmt, ...) (SQLite's subset): the conversion specs passed to snprintf are rebuilt from checked characters only
 * (flags, width and precision up to 1000, one conversion letter). %d %i %u %x %X %o %c %s %z %q %Q %f %e %g %%
 * with flags (',' groups thousands), width and precision; an unknown conversion ends the output. */
static int f_printf(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)n;
    if (a[0].type == DRIFT_VAL_NULL) {
        *out = a[0];
        return 0;
    }
    size_t fl;
    const char *f = s_text(env, &a[0], &fl);
    if (!f)
        return s_oom(env);
    drift_strbuf_t sb = {0};
    uint32_t ai = 1;
    drift_value_t nul = drift_val_null();
    int any = 0; /* a conversion was made (its output may be empty) */
    for (size_t i = 0; i < fl; i++) {
        if (f[i] != '%' || i + 1 >= fl) {
            drift_strbuf_append(&sb, f + i, 1);
            continue;
        }
        size_t s = i++;
        int comma = 0, any_before = any;
        any = 1;
        while (i < fl && strchr("-+ 0#!,", f[i]))
            comma |= f[i++] == ',';
        unsigned width = 0, prec = 0;
        while (i < fl && isdigit((unsigned char)f[i]) && width < 100000)
            width = width * 10 + (unsigned)(f[i++] - '0');
        if (i < fl && f[i] == '.') {
            i++;
            while (i < fl && isdigit((unsigned char)f[i]) && prec < 100000)
                prec = prec * 10 + (unsigned)(f[i++] - '0');
        }
        if (width > 1000 || prec > 1000) {
            drift_strbuf_free(&sb);
            return drift_sqlerr_set(env->err, DRIFT_SQLSTATE_INVALID_PARAM, drift_expr_pos(env, n),
                                    "printf: width or precision above 1000");
        }
        while (i < fl && (f[i] == 'l' || f[i] == 'h'))
            i++;
        if (i >= fl)
            break;
        char conv = f[i];
        if (conv == '%') {
            drift_strbuf_append(&sb, "%", 1);
            continue;
        }
        char spec[48];
        size_t sl = i - s;
        if (sl > 30)
            sl = 30;
        /* keep flags/width/precision, drop length modifiers and SQLite-only flags */
        size_t k = 0;
        for (size_t j = s; j < s + sl; j++)
            if (f[j] != 'l' && f[j] != 'h' && f[j] != '!' && f[j] != ',')
                spec[k++] = f[j];
        const drift_value_t *v = ai < na ? &a[ai++] : &nul;
        char buf[2048];
        int w = 0;
        switch (conv) {
        case 'd':
        case 'i':
            memcpy(spec + k, PRId64, sizeof PRId64);
            w = snprintf(buf, sizeof buf, spec, drift_val_int_of(v));
            break;
        case 'u':
        case 'x':
        case 'X':
        case 'o': {
            const char *m = conv == 'u' ? PRIu64 : conv == 'x' ? PRIx64 : conv == 'X' ? PRIX64 : PRIo64;
            memcpy(spec + k, m, strlen(m) + 1);
            w = snprintf(buf, sizeof buf, spec, (uint64_t)drift_val_int_of(v));
            break;
        }
        case 'f':
        case 'F':
        case 'e':
        case 'E':
        case 'g':
        case 'G':
        {
            /* SQLite's own digits (s_sqlite_float), then width: '-' left-justifies, '0' pads after the sign */
            int left = 0, zero = 0, alt = 0, alt2 = 0, have_prec = 0;
            char sign = 0;
            for (size_t j = s + 1; j < i && strchr("-+ 0#!,", f[j]); j++) {
                left |= f[j] == '-';
                alt |= f[j] == '#';
                alt2 |= f[j] == '!';
                if (f[j] == '+')
                    sign = '+';
                else if (f[j] == ' ' && sign != '+')
                    sign = ' ';
                if (f[j] == '0')
                    zero = 1;
            }
            for (size_t j = s + 1; j < i; j++)
                have_prec |= f[j] == '.';
            char num[1500];
            size_t nl = s_sqlite_float(drift_val_real_of(v), conv, have_prec ? (int)prec : -1, alt, alt2, sign, num,
                                       sizeof num);
            if (nl >= width) {
                w = snprintf(buf, sizeof buf, "%s", num);
            } else if (left) {
                w = snprintf(buf, sizeof buf, "%-*s", (int)width, num);
            } else if (zero) {
                size_t pre = num[0] == '-' || num[0] == '+' || num[0] == ' ';
                w = snprintf(buf, sizeof buf, "%.*s%0*d%s", (int)pre, num, (int)(width - nl), 0, num + pre);
            } else {
                w = snprintf(buf, sizeof buf, "%*s", (int)width, num);
            }
            break;
        }
        case 'c': {
            size_t tl;
            const char *t = v->type == DRIFT_VAL_NULL ? "" : s_text(env, v, &tl);
            spec[k++] = 'c';
            spec[k] = 0;
            w = snprintf(buf, sizeof buf, spec, t && *t ? *t : ' ');
            break;
        }
        case 's':
        case 'q':
        case 'Q':
        case 'z': {
            size_t tl = 0;
            const char *t = v->type == DRIFT_VAL_NULL ? (conv == 'Q' ? "NULL" : "") : s_text(env, v, &tl);
            if (!t) {
                drift_strbuf_free(&sb);
                return s_oom(env);
            }
            if (v->type == DRIFT_VAL_NULL)
                tl = strlen(t);
            char *z;
            if ((conv == 'q' || conv == 'Q') && v->type != DRIFT_VAL_NULL) { /* quotes doubled; Q adds them */
                z = drift_arena_alloc(env->arena, tl * 2 + 3);
                size_t zl = 0;
                if (z && conv == 'Q')
                    z[zl++] = '\'';
                for (size_t q = 0; z && q < tl; q++) {
                    if (t[q] == '\'')
                        z[zl++] = '\'';
                    z[zl++] = t[q];
                }
                if (z && conv == 'Q')
                    z[zl++] = '\'';
            } else {
                z = drift_arena_strndup(env->arena, t, tl);
            }
            if (!z) {
                drift_strbuf_free(&sb);
                return s_oom(env);
            }
            spec[k++] = 's';
            spec[k] = 0;
            int need = snprintf(NULL, 0, spec, z);
            if (need >= 0) {
                char *o = drift_arena_alloc(env->arena, (size_t)need + 1);
                if (!o) {
                    drift_strbuf_free(&sb);
                    return s_oom(env);
                }
                snprintf(o, (size_t)need + 1, spec, z);
                drift_strbuf_append(&sb, o, (size_t)need);
            }
            continue;
        }
        default: /* an unknown conversion ends the output (SQLite) */ any = any_before; goto done;
        }
        if (comma && (conv == 'd' || conv == 'i') && w > 0 && (size_t)w < sizeof buf / 2) {
            /* the ',' flag: thousands separators in the digits */
            char tmp[sizeof buf];
            size_t b0 = 0, o = 0;
            while (b0 < (size_t)w && !isdigit((unsigned char)buf[b0]))
                tmp[o++] = buf[b0++];
            size_t e0 = b0;
            while (e0 < (size_t)w && isdigit((unsigned char)buf[e0]))
                e0++;
            for (size_t d = b0; d < e0; d++) {
                tmp[o++] = buf[d];
                if (d + 1 < e0 && (e0 - d - 1) % 3 == 0)
                    tmp[o++] = ',';
            }
            for (size_t d = e0; d < (size_t)w; d++)
                tmp[o++] = buf[d];
            memcpy(buf, tmp, o);
            w = (int)o;
        }
        if (w > 0)
            drift_strbuf_append(&sb, buf, (size_t)w < sizeof buf ? (size_t)w : sizeof buf - 1);
    }
done:
    if (sb.oom) {
        drift_strbuf_free(&sb);
        return s_oom(env);
    }
    if (!sb.p && !any) { /* nothing written at all ('' or an unknown conversion first): NULL, as SQLite */
        *out = drift_val_null();
        return 0;
    }
    char *r = drift_arena_memdup(env->arena, sb.p, sb.len);
    size_t rl = sb.len;
    drift_strbuf_free(&sb);
    if (!r)
        return s_oom(env);
    *out = drift_val_text(r, rl);
    return 0;
}
#pragma GCC diagnostic pop

/* ------------------------------------------------------------------ NULL handling, types */

static int f_coalesce(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)env;
    (void)n;
    *out = drift_val_null();
    for (uint32_t i = 0; i < na; i++)
        if (a[i].type != DRIFT_VAL_NULL) {
            *out = a[i];
            break;
        }
    return 0;
}

static int f_nullif(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)env;
    (void)n;
    (void)na;
    *out = drift_val_compare_op(DRIFT_BOP_EQ, &a[0], &a[1]) == 1 ? drift_val_null() : a[0];
    return 0;
}

static int f_iif(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)env;
    (void)n;
    (void)na;
    *out = drift_val_truth(&a[0]) == 1 ? a[1] : a[2];
    return 0;
}

static int f_typeof(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)env;
    (void)n;
    (void)na;
    static const char *const names[] = {
        [DRIFT_VAL_NULL] = "null", [DRIFT_VAL_INT] = "integer",         [DRIFT_VAL_REAL] = "real",
        [DRIFT_VAL_TEXT] = "text", [DRIFT_VAL_BOOL] = "boolean",        [DRIFT_VAL_BLOB] = "blob",
        [DRIFT_VAL_JSON] = "json", [DRIFT_VAL_TIMESTAMP] = "timestamp",
    };
    const char *s = (unsigned)a[0].type < sizeof names / sizeof names[0] ? names[a[0].type] : "null";
    *out = drift_val_text(s, strlen(s));
    return 0;
}

/* min(a, b, ...) / max(a, b, ...): NULL when any argument is NULL (SQLite). */
static int s_minmax(drift_value_t *a, uint32_t na, drift_value_t *out, int want_max)
{
    *out = drift_val_null();
    if (s_anynull(a, na))
        return 0;
    uint32_t best = 0; /* on ties min takes the last argument, max the first (SQLite) */
    for (uint32_t i = 1; i < na; i++) {
        int c = drift_val_cmp(&a[i], &a[best]);
        if (want_max ? c > 0 : c <= 0)
            best = i;
    }
    *out = a[best];
    return 0;
}

static int f_min(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)env;
    (void)n;
    return s_minmax(a, na, out, 0);
}

static int f_max(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)env;
    (void)n;
    return s_minmax(a, na, out, 1);
}

static int f_now(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)n;
    (void)a;
    (void)na;
    *out = drift_val_ts(env->now_ns);
    return 0;
}

/* ------------------------------------------------------------------ JSON */

/* Parses a JSON argument; -1 with the error set. */
static int s_jarg(drift_evalenv_t *env, const drift_node_t *n, const drift_value_t *v, drift_jdoc_t *d)
{
    size_t len;
    const char *p = s_text(env, v, &len);
    char msg[160];
    if (!p)
        return s_oom(env);
    if (drift_jdoc_parse(d, p, len, msg, sizeof msg) < 0) {
        drift_jdoc_free(d);
        return drift_sqlerr_set(env->err, DRIFT_SQLSTATE_BAD_VALUE, drift_expr_pos(env, n), "%s", msg);
    }
    return 0;
}

/* The JSON text of node o appended to sb. */
static void s_jappend(drift_strbuf_t *sb, const msgpack_object *o)
{
    if (!o) {
        drift_strbuf_append(sb, "null", 4);
        return;
    }
    drift_json_from_msgpack(o, sb);
}

static int f_json_extract(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na,
                          drift_value_t *out)
{
    *out = drift_val_null();
    if (a[0].type == DRIFT_VAL_NULL)
        return 0;
    drift_jdoc_t d;
    char msg[160];
    if (s_jarg(env, n, &a[0], &d) < 0)
        return -1;
    int rc = 0;
    drift_strbuf_t sb = {0};
    if (na > 2)
        drift_strbuf_append(&sb, "[", 1);
    for (uint32_t i = 1; i < na; i++) {
        if (a[i].type == DRIFT_VAL_NULL) {
            if (na == 2)
                goto out;
            s_jappend(&sb, NULL);
            continue;
        }
        size_t pl;
        const char *path = s_text(env, &a[i], &pl);
        const msgpack_object *node = NULL;
        int f = path ? drift_json_path(&d, path, pl, &node, msg, sizeof msg) : -1;
        if (f < 0) {
            rc = path ? drift_sqlerr_set(env->err, DRIFT_SQLSTATE_BAD_VALUE, drift_expr_pos(env, n), "%s", msg)
                      : s_oom(env);
            goto out;
        }
        if (na == 2) {
            if (f == 1) {
                int r = drift_jnode_value(env->arena, node, out);
                if (r < 0) {
                    rc = s_oom(env);
                } else if (r == 1 && (out->type == DRIFT_VAL_TEXT || out->type == DRIFT_VAL_BLOB)) {
                    const char *c = drift_arena_memdup(env->arena, out->u.s.p, out->u.s.n);
                    if (!c)
                        rc = s_oom(env);
                    else
                        out->u.s.p = c;
                }
            }
            goto out;
        }
        if (i > 1)
            drift_strbuf_append(&sb, ",", 1);
        s_jappend(&sb, f == 1 ? node : NULL);
    }
    drift_strbuf_append(&sb, "]", 1);
    if (sb.oom) {
        rc = s_oom(env);
        goto out;
    }
    {
        char *p = drift_arena_memdup(env->arena, sb.p, sb.len);
        if (!p)
            rc = s_oom(env);
        else
            *out = drift_val_json(p, sb.len);
    }
out:
    drift_strbuf_free(&sb);
    drift_jdoc_free(&d);
    return rc < 0 ? -1 : 0;
}

static int f_json_type(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    *out = drift_val_null();
    if (s_anynull(a, na))
        return 0;
    drift_jdoc_t d;
    char msg[160];
    if (s_jarg(env, n, &a[0], &d) < 0)
        return -1;
    const msgpack_object *node = d.root;
    int rc = 0;
    if (na > 1) {
        size_t pl;
        const char *path = s_text(env, &a[1], &pl);
        int f = path ? drift_json_path(&d, path, pl, &node, msg, sizeof msg) : -1;
        if (f < 0)
            rc = path ? drift_sqlerr_set(env->err, DRIFT_SQLSTATE_BAD_VALUE, drift_expr_pos(env, n), "%s", msg)
                      : s_oom(env);
        if (f != 1)
            node = NULL;
    }
    if (node) {
        const char *t = "null";
        switch (node->type) {
        case MSGPACK_OBJECT_BOOLEAN: t = node->via.boolean ? "true" : "false"; break;
        case MSGPACK_OBJECT_POSITIVE_INTEGER: t = node->via.u64 > INT64_MAX ? "real" : "integer"; break;
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: t = "integer"; break;
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64: t = "real"; break;
        case MSGPACK_OBJECT_STR: t = "text"; break;
        case MSGPACK_OBJECT_ARRAY: t = "array"; break;
        case MSGPACK_OBJECT_MAP: t = "object"; break;
        default: break;
        }
        *out = drift_val_text(t, strlen(t));
    }
    drift_jdoc_free(&d);
    return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ more strings */

/* concat(a, ...): the text forms, NULLs skipped (PostgreSQL, SQLite 3.44). */
static int s_concat_sep(drift_evalenv_t *env, drift_value_t *a, uint32_t na, const char *sep, size_t sepn,
                        drift_value_t *out)
{
    drift_strbuf_t sb = {0};
    int first = 1;
    for (uint32_t i = 0; i < na; i++) {
        if (a[i].type == DRIFT_VAL_NULL)
            continue;
        size_t len;
        const char *p = s_text(env, &a[i], &len);
        if (!p) {
            drift_strbuf_free(&sb);
            return s_oom(env);
        }
        if (!first)
            drift_strbuf_append(&sb, sep, sepn);
        drift_strbuf_append(&sb, p, len);
        first = 0;
    }
    char *r = sb.oom ? NULL : drift_arena_memdup(env->arena, sb.p ? sb.p : "", sb.len);
    size_t rl = sb.len;
    drift_strbuf_free(&sb);
    if (!r)
        return s_oom(env);
    *out = drift_val_text(r, rl);
    return 0;
}

static int f_concat(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)n;
    return s_concat_sep(env, a, na, "", 0, out);
}

static int f_concat_ws(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)n;
    if (a[0].type == DRIFT_VAL_NULL) {
        *out = drift_val_null();
        return 0;
    }
    size_t sl;
    const char *sep = s_text(env, &a[0], &sl);
    if (!sep)
        return s_oom(env);
    return s_concat_sep(env, a + 1, na - 1, sep, sl, out);
}

/* quote(x): an SQL literal of x ('it''s', X'01AB', NULL, numbers as text). */
static int f_quote(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)n;
    (void)na;
    drift_strbuf_t sb = {0};
    size_t len = 0;
    const char *p = NULL;
    switch (a[0].type) {
    case DRIFT_VAL_NULL: drift_strbuf_append(&sb, "NULL", 4); break;
    case DRIFT_VAL_INT:
    case DRIFT_VAL_REAL:
    case DRIFT_VAL_BOOL:
        p = drift_val_to_text(env->arena, &a[0], &len);
        if (p && a[0].type == DRIFT_VAL_REAL && isfinite(a[0].u.r)) {
            /* 15 digits unless they do not read back as the same double: then 21 (SQLite's %!.20e) */
            char buf[64];
            snprintf(buf, sizeof buf, "%.*s", (int)(len < 63 ? len : 63), p);
            if (strtod(buf, NULL) != a[0].u.r) {
                size_t k = s_sqlite_float(a[0].u.r, 'e', 20, 0, 1, 0, buf, sizeof buf); /* %!.20e */
                drift_strbuf_append(&sb, buf, k);
                break;
            }
        }
        if (p)
            drift_strbuf_append(&sb, p, len);
        break;
    case DRIFT_VAL_BLOB: {
        static const char digits[] = "0123456789ABCDEF";
        drift_strbuf_append(&sb, "X'", 2);
        for (size_t i = 0; i < a[0].u.s.n; i++) {
            char h[2] = {digits[(unsigned char)a[0].u.s.p[i] >> 4], digits[(unsigned char)a[0].u.s.p[i] & 15]};
            drift_strbuf_append(&sb, h, 2);
        }
        drift_strbuf_append(&sb, "'", 1);
        break;
    }
    default:
        p = s_text(env, &a[0], &len);
        drift_strbuf_append(&sb, "'", 1);
        for (size_t i = 0; p && i < len; i++) {
            if (p[i] == '\'')
                drift_strbuf_append(&sb, "'", 1);
            drift_strbuf_append(&sb, p + i, 1);
        }
        drift_strbuf_append(&sb, "'", 1);
        break;
    }
    char *r = sb.oom ? NULL : drift_arena_memdup(env->arena, sb.p ? sb.p : "", sb.len);
    size_t rl = sb.len;
    drift_strbuf_free(&sb);
    if (!r)
        return s_oom(env);
    *out = drift_val_text(r, rl);
    return 0;
}

/* unicode(x): the code point of the first character, NULL for '' (SQLite). */
static int f_unicode(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)n;
    (void)na;
    *out = drift_val_null();
    if (a[0].type == DRIFT_VAL_NULL)
        return 0;
    size_t len;
    const unsigned char *p = (const unsigned char *)s_text(env, &a[0], &len);
    if (!p)
        return s_oom(env);
    if (len == 0)
        return 0;
    uint32_t c = p[0];
    int more = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    if (more) {
        c &= 0x3Fu >> more;
        for (int k = 1; k <= more && (size_t)k < len; k++)
            c = (c << 6) | (p[k] & 0x3F);
    }
    *out = drift_val_int(c);
    return 0;
}

/* char(c, ...): the text of those code points (NULL arguments count as 0 and are skipped). */
static int f_char(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)n;
    char *buf = drift_arena_alloc(env->arena, (size_t)na * 4 + 1), *w = buf;
    if (!buf)
        return s_oom(env);
    for (uint32_t i = 0; i < na; i++) {
        int64_t c = drift_val_int_of(&a[i]);
        if (c < 0 || c > 0x10FFFF)
            c = 0xFFFD;
        if (c < 0x80) {
            *w++ = (char)c;
        } else if (c < 0x800) {
            *w++ = (char)(0xC0 | (c >> 6));
            *w++ = (char)(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            *w++ = (char)(0xE0 | (c >> 12));
            *w++ = (char)(0x80 | ((c >> 6) & 0x3F));
            *w++ = (char)(0x80 | (c & 0x3F));
        } else {
            *w++ = (char)(0xF0 | (c >> 18));
            *w++ = (char)(0x80 | ((c >> 12) & 0x3F));
            *w++ = (char)(0x80 | ((c >> 6) & 0x3F));
            *w++ = (char)(0x80 | (c & 0x3F));
        }
    }
    *out = drift_val_text(buf, (size_t)(w - buf));
    return 0;
}

/* json(x): x validated and rewritten canonically (22P02 when it is not JSON). */
static int f_json(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)na;
    if (a[0].type == DRIFT_VAL_NULL) {
        *out = a[0];
        return 0;
    }
    drift_value_t t = a[0];
    if (t.type == DRIFT_VAL_JSON || t.type == DRIFT_VAL_BLOB)
        t.type = DRIFT_VAL_TEXT;
    if (drift_val_coerce(env->arena, DRIFT_COL_JSON, &t, out, NULL, env->err) < 0) {
        if (env->err && env->err->position == 0)
            env->err->position = drift_expr_pos(env, n);
        return -1;
    }
    return 0;
}

static int f_json_valid(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na, drift_value_t *out)
{
    (void)n;
    (void)na;
    if (a[0].type == DRIFT_VAL_NULL) { /* false, not NULL (SQLite 3.40) */
        *out = drift_val_bool(0);
        return 0;
    }
    size_t len;
    const char *p = s_text(env, &a[0], &len);
    if (!p)
        return s_oom(env);
    drift_jdoc_t d;
    int ok = drift_jdoc_parse(&d, p, len, NULL, 0) == 0;
    drift_jdoc_free(&d);
    *out = drift_val_bool(ok);
    return 0;
}

static int f_json_array_length(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *a, uint32_t na,
                               drift_value_t *out)
{
    *out = drift_val_null();
    if (s_anynull(a, na))
        return 0;
    drift_jdoc_t d;
    char msg[160];
    if (s_jarg(env, n, &a[0], &d) < 0)
        return -1;
    const msgpack_object *node = d.root;
    int rc = 0;
    if (na > 1) {
        size_t pl;
        const char *path = s_text(env, &a[1], &pl);
        int f = path ? drift_json_path(&d, path, pl, &node, msg, sizeof msg) : -1;
        if (f < 0)
            rc = path ? drift_sqlerr_set(env->err, DRIFT_SQLSTATE_BAD_VALUE, drift_expr_pos(env, n), "%s", msg)
                      : s_oom(env);
        if (f != 1)
            node = NULL;
    }
    if (node)
        *out = drift_val_int(node->type == MSGPACK_OBJECT_ARRAY ? (int64_t)node->via.array.size : 0);
    drift_jdoc_free(&d);
    return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ the table */

#define ANY UINT32_MAX

static const s_func_t s_funcs[] = {
    {"abs", 1, 1, f_abs, DRIFT_VAL_NULL},
    {"char", 0, ANY, f_char, DRIFT_VAL_TEXT},
    {"coalesce", 2, ANY, f_coalesce, DRIFT_VAL_NULL},
    {"concat", 1, ANY, f_concat, DRIFT_VAL_TEXT},
    {"concat_ws", 2, ANY, f_concat_ws, DRIFT_VAL_TEXT},
    {"current_timestamp", 0, 0, f_now, DRIFT_VAL_TIMESTAMP},
    {"format", 1, ANY, f_printf, DRIFT_VAL_TEXT},
    {"hex", 1, 1, f_hex, DRIFT_VAL_TEXT},
    {"ifnull", 2, 2, f_coalesce, DRIFT_VAL_NULL},
    {"iif", 3, 3, f_iif, DRIFT_VAL_NULL},
    {"instr", 2, 2, f_instr, DRIFT_VAL_INT},
    {"json", 1, 1, f_json, DRIFT_VAL_JSON},
    {"json_array_length", 1, 2, f_json_array_length, DRIFT_VAL_INT},
    {"json_extract", 2, ANY, f_json_extract, DRIFT_VAL_NULL},
    {"json_type", 1, 2, f_json_type, DRIFT_VAL_TEXT},
    {"json_valid", 1, 1, f_json_valid, DRIFT_VAL_BOOL},
    {"length", 1, 1, f_length, DRIFT_VAL_INT},
    {"lower", 1, 1, f_lower, DRIFT_VAL_TEXT},
    {"ltrim", 1, 2, f_ltrim, DRIFT_VAL_TEXT},
    {"max", 2, ANY, f_max, DRIFT_VAL_NULL},
    {"min", 2, ANY, f_min, DRIFT_VAL_NULL},
    {"now", 0, 0, f_now, DRIFT_VAL_TIMESTAMP},
    {"nullif", 2, 2, f_nullif, DRIFT_VAL_NULL},
    {"printf", 1, ANY, f_printf, DRIFT_VAL_TEXT},
    {"quote", 1, 1, f_quote, DRIFT_VAL_TEXT},
    {"replace", 3, 3, f_replace, DRIFT_VAL_TEXT},
    {"round", 1, 2, f_round, DRIFT_VAL_REAL},
    {"rtrim", 1, 2, f_rtrim, DRIFT_VAL_TEXT},
    {"sign", 1, 1, f_sign, DRIFT_VAL_INT},
    {"substr", 2, 3, f_substr, DRIFT_VAL_NULL},
    {"substring", 2, 3, f_substr, DRIFT_VAL_NULL},
    {"trim", 1, 2, f_trim, DRIFT_VAL_TEXT},
    {"typeof", 1, 1, f_typeof, DRIFT_VAL_TEXT},
    {"unicode", 1, 1, f_unicode, DRIFT_VAL_INT},
    {"upper", 1, 1, f_upper, DRIFT_VAL_TEXT},
};

static const s_func_t *s_find(const char *name, uint32_t nargs)
{
    for (size_t i = 0; i < sizeof s_funcs / sizeof s_funcs[0]; i++)
        if (!strcmp(s_funcs[i].name, name) && nargs >= s_funcs[i].min && nargs <= s_funcs[i].max)
            return &s_funcs[i];
    return NULL;
}

int drift_func_exists(const char *name, uint32_t nargs)
{
    return name && s_find(name, nargs) != NULL;
}

drift_val_type_t drift_func_type_hint(const char *name, uint32_t nargs)
{
    const s_func_t *f = name ? s_find(name, nargs) : NULL;
    return f ? f->hint : DRIFT_VAL_NULL;
}

int drift_func_call(drift_evalenv_t *env, const drift_node_t *n, drift_value_t *args, uint32_t nargs,
                    drift_value_t *out)
{
    const char *name = n->name ? n->name : "";
    const s_func_t *f = s_find(name, nargs);
    *out = drift_val_null();
    if (!f)
        return drift_sqlerr_set(env->err, DRIFT_SQLSTATE_UNDEF_FUNCTION, drift_expr_pos(env, n),
                                "function %s(%u args) does not exist", name, nargs);
    return f->fn(env, n, args, nargs, out);
}
