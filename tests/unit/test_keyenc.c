/* tests/unit/test_keyenc.c — memcmp order of encodings equals value order for
 * every type (random values plus edge cases), NULL first, -0.0 == 0.0, NaN
 * last, TEXT with embedded zero bytes, composite keys, decode round trip. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/errors.h"
#include "shm/keyenc.h"

typedef struct {
    int is_null;
    int64_t i;
    double r;
    uint8_t s[12];
    size_t n;
} val_t;

static drift_coltype_t g_type;

/* The SQL order of two values of g_type (NULL first). */
static int s_cmp_val(const val_t *a, const val_t *b)
{
    if (a->is_null || b->is_null)
        return b->is_null - a->is_null;
    switch (g_type) {
    case DRIFT_COL_REAL: {
        int an = isnan(a->r), bn = isnan(b->r);
        if (an || bn)
            return an - bn;
        return a->r < b->r ? -1 : a->r > b->r;
    }
    case DRIFT_COL_TEXT:
    case DRIFT_COL_BLOB: {
        size_t m = a->n < b->n ? a->n : b->n;
        int c = memcmp(a->s, b->s, m);
        return c ? (c < 0 ? -1 : 1) : (a->n < b->n ? -1 : a->n > b->n);
    }
    default: return a->i < b->i ? -1 : a->i > b->i;
    }
}

static void s_enc(drift_keybuf_t *kb, const val_t *v)
{
    if (v->is_null) {
        drift_keyenc_null(kb);
        return;
    }
    switch (g_type) {
    case DRIFT_COL_INTEGER: drift_keyenc_int(kb, v->i); break;
    case DRIFT_COL_TIMESTAMP: drift_keyenc_ts(kb, v->i); break;
    case DRIFT_COL_BOOLEAN: drift_keyenc_bool(kb, (int)v->i); break;
    case DRIFT_COL_REAL: drift_keyenc_real(kb, v->r); break;
    case DRIFT_COL_TEXT: drift_keyenc_text(kb, v->s, v->n); break;
    default: drift_keyenc_blob(kb, v->s, v->n); break;
    }
}

static int s_sign(int c)
{
    return c < 0 ? -1 : c > 0;
}

static int s_cmp_enc(const drift_keybuf_t *a, const drift_keybuf_t *b)
{
    size_t m = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->buf, b->buf, m);
    return c ? s_sign(c) : (a->len < b->len ? -1 : a->len > b->len);
}

static uint64_t g_rng = 88172645463325252ull;
static uint64_t s_rand(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

/* A random value of g_type, edge cases included often. */
static void s_random(val_t *v)
{
    memset(v, 0, sizeof *v);
    if (s_rand() % 17 == 0) {
        v->is_null = 1;
        return;
    }
    static const int64_t ints[] = {INT64_MIN, INT64_MIN + 1, -256, -255, -1, 0, 1, 255, 256, INT64_MAX - 1, INT64_MAX};
    static const double reals[] = {-INFINITY, -1e308, -1.5, -1.0, -5e-324, -0.0,     0.0,
                                   5e-324,    1e-300, 1.0,  2.0,  1e308,   INFINITY, NAN};
    switch (g_type) {
    case DRIFT_COL_INTEGER:
    case DRIFT_COL_TIMESTAMP:
        v->i = s_rand() % 3 == 0 ? ints[s_rand() % 11] : (int64_t)(s_rand() >> (s_rand() % 64));
        if (s_rand() % 2 && v->i != INT64_MIN)
            v->i = -v->i;
        break;
    case DRIFT_COL_BOOLEAN: v->i = (int64_t)(s_rand() % 2); break;
    case DRIFT_COL_REAL:
        if (s_rand() % 3 == 0)
            v->r = reals[s_rand() % 14];
        else {
            uint64_t u = s_rand();
            memcpy(&v->r, &u, 8); /* any bit pattern, NaNs and subnormals included */
        }
        break;
    default:
        v->n = s_rand() % 6;
        for (size_t i = 0; i < v->n; i++) {
            static const uint8_t alphabet[] = {0x00, 0x01, 0xFF, 'a', 'b', 0xFE};
            v->s[i] = alphabet[s_rand() % 6];
        }
        break;
    }
}

/* For every pair of many random values: sign(memcmp) == sign(value compare), and decode round trips. */
static void s_check_type(drift_coltype_t t)
{
    g_type = t;
    enum { N = 300 };
    val_t v[N];
    drift_keybuf_t k[N];
    memset(k, 0, sizeof k);
    for (int i = 0; i < N; i++) {
        s_random(&v[i]);
        s_enc(&k[i], &v[i]);
        assert_false(k[i].oom);
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            if (s_cmp_val(&v[i], &v[j]) != s_cmp_enc(&k[i], &k[j])) {
                print_error("type %s: values %d and %d disagree (value %d, bytes %d)\n", drift_coltype_name(t), i, j,
                            s_cmp_val(&v[i], &v[j]), s_cmp_enc(&k[i], &k[j]));
                fail();
            }
    for (int i = 0; i < N; i++) {
        const uint8_t *p = k[i].buf;
        size_t avail = k[i].len;
        drift_keyval_t d;
        uint8_t scratch[32];
        assert_int_equal(drift_keyenc_decode(&p, &avail, &d, scratch, sizeof scratch), 0);
        assert_int_equal(avail, 0);
        if (v[i].is_null) {
            assert_int_equal(d.type, DRIFT_COL_NULL);
        } else if (t == DRIFT_COL_REAL) {
            if (isnan(v[i].r))
                assert_true(isnan(d.r));
            else
                assert_true(d.r == v[i].r);
        } else if (t == DRIFT_COL_TEXT || t == DRIFT_COL_BLOB) {
            assert_int_equal(d.n, v[i].n);
            assert_memory_equal(d.p, v[i].s, d.n);
        } else {
            assert_int_equal(d.i, v[i].i);
        }
        drift_keybuf_free(&k[i]);
    }
}

static void t_integer(void **s)
{
    (void)s;
    s_check_type(DRIFT_COL_INTEGER);
}
static void t_timestamp(void **s)
{
    (void)s;
    s_check_type(DRIFT_COL_TIMESTAMP);
}
static void t_boolean(void **s)
{
    (void)s;
    s_check_type(DRIFT_COL_BOOLEAN);
}
static void t_real(void **s)
{
    (void)s;
    s_check_type(DRIFT_COL_REAL);
}
static void t_text(void **s)
{
    (void)s;
    s_check_type(DRIFT_COL_TEXT);
}
static void t_blob(void **s)
{
    (void)s;
    s_check_type(DRIFT_COL_BLOB);
}

/* Explicit edge cases: -0.0 and 0.0 encode the same; NaN after +inf; "a" < "a\0" < "a\1" < "ab". */
static void t_edges(void **s)
{
    (void)s;
    drift_keybuf_t a = {0}, b = {0};
    drift_keyenc_real(&a, -0.0);
    drift_keyenc_real(&b, 0.0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.buf, b.buf, a.len);
    drift_keybuf_reset(&a);
    drift_keybuf_reset(&b);
    drift_keyenc_real(&a, INFINITY);
    drift_keyenc_real(&b, -NAN);
    assert_true(s_cmp_enc(&a, &b) < 0);
    const char *texts[] = {"", "a", "a\0", "a\0\0", "a\1", "ab", "b"};
    size_t lens[] = {0, 1, 2, 3, 2, 2, 1};
    for (int i = 0; i + 1 < 7; i++) {
        drift_keybuf_reset(&a);
        drift_keybuf_reset(&b);
        drift_keyenc_text(&a, texts[i], lens[i]);
        drift_keyenc_text(&b, texts[i + 1], lens[i + 1]);
        assert_true(s_cmp_enc(&a, &b) < 0);
    }
    /* NULL sorts before every non-NULL of every type */
    drift_keybuf_reset(&a);
    drift_keyenc_null(&a);
    drift_keybuf_reset(&b);
    drift_keyenc_bool(&b, 0);
    assert_true(s_cmp_enc(&a, &b) < 0);
    drift_keybuf_reset(&b);
    drift_keyenc_int(&b, INT64_MIN);
    assert_true(s_cmp_enc(&a, &b) < 0);
    drift_keybuf_free(&a);
    drift_keybuf_free(&b);
}

/* Composite (INTEGER, TEXT) keys compare column by column, whatever the text lengths. */
static void t_composite(void **s)
{
    (void)s;
    enum { N = 200 };
    int64_t a[N];
    val_t t[N];
    drift_keybuf_t k[N];
    memset(k, 0, sizeof k);
    g_type = DRIFT_COL_TEXT;
    for (int i = 0; i < N; i++) {
        a[i] = (int64_t)(s_rand() % 5) - 2;
        s_random(&t[i]);
        t[i].is_null = 0;
        drift_keyenc_int(&k[i], a[i]);
        drift_keyenc_text(&k[i], t[i].s, t[i].n);
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            int want = a[i] != a[j] ? (a[i] < a[j] ? -1 : 1) : s_cmp_val(&t[i], &t[j]);
            assert_int_equal(want, s_cmp_enc(&k[i], &k[j]));
        }
    for (int i = 0; i < N; i++)
        drift_keybuf_free(&k[i]);
}

/* Typed encoding from MessagePack: type mismatches are errors; integers widen to REAL. */
static void t_msgpack(void **s)
{
    (void)s;
    drift_keybuf_t a = {0}, b = {0};
    msgpack_object o = {.type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = 3};
    assert_int_equal(drift_keyenc_msgpack(&a, DRIFT_COL_REAL, &o), 0);
    drift_keyenc_real(&b, 3.0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.buf, b.buf, a.len);
    assert_int_equal(drift_keyenc_msgpack(&a, DRIFT_COL_TEXT, &o), DRIFT_EPROTO);
    o.via.u64 = UINT64_MAX;
    assert_int_equal(drift_keyenc_msgpack(&a, DRIFT_COL_INTEGER, &o), DRIFT_EPROTO);
    o.type = MSGPACK_OBJECT_NIL;
    drift_keybuf_reset(&a);
    assert_int_equal(drift_keyenc_msgpack(&a, DRIFT_COL_BLOB, &o), 0);
    assert_int_equal(a.len, 1);
    assert_int_equal(a.buf[0], DRIFT_KEYENC_NULL);
    /* garbage does not decode */
    const uint8_t bad[] = {DRIFT_KEYENC_TEXT, 'a', 0x00, 0x07};
    assert_int_equal(drift_keyenc_skip(bad, sizeof bad), DRIFT_ECORRUPT);
    assert_int_equal(drift_keyenc_skip(bad, 0), DRIFT_ECORRUPT);
    const uint8_t shortint[] = {DRIFT_KEYENC_INT, 1, 2};
    assert_int_equal(drift_keyenc_skip(shortint, sizeof shortint), DRIFT_ECORRUPT);
    assert_int_equal(drift_coltype_parse("integer", 7), DRIFT_COL_INTEGER);
    assert_int_equal(drift_coltype_parse("nope", 4), -1);
    drift_keybuf_free(&a);
    drift_keybuf_free(&b);
}

/* drift_keybuf_raw: pieces of every size up to 300 bytes appended across the buffer's growth (the inline
 * path while there is room, the out-of-line one when it must grow), mixed with encoded values, give the
 * same bytes as the pieces laid end to end; reset keeps the allocation and empties it. */
static void t_keybuf_raw(void **s)
{
    (void)s;
    drift_keybuf_t kb = {0};
    uint8_t src[300], want[64 * 1024];
    size_t wl = 0;
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (uint8_t)(i * 7 + 1);
    for (size_t n = 0; n <= 300 && wl + n + 9 <= sizeof want; n += 1 + n / 8) {
        drift_keybuf_raw(&kb, src, n);
        memcpy(want + wl, src, n);
        wl += n;
        drift_keyenc_int(&kb, (int64_t)n);
        wl += 9;
        assert_int_equal(kb.buf[kb.len - 9], DRIFT_KEYENC_INT);
        memcpy(want + wl - 9, kb.buf + kb.len - 9, 9);
    }
    assert_int_equal(kb.oom, 0);
    assert_int_equal(kb.len, wl);
    assert_memory_equal(kb.buf, want, wl);
    size_t cap = kb.cap;
    drift_keybuf_reset(&kb);
    assert_int_equal(kb.len, 0);
    assert_int_equal(kb.cap, cap);
    drift_keybuf_raw(&kb, src, 5);
    assert_int_equal(kb.len, 5);
    assert_memory_equal(kb.buf, src, 5);
    drift_keybuf_raw(&kb, NULL, 0);
    assert_int_equal(kb.len, 5);
    drift_keybuf_free(&kb);
    drift_keybuf_raw(&kb, NULL, 0); /* an empty buffer and nothing to add: no allocation needed */
    assert_int_equal(kb.len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_integer), cmocka_unit_test(t_timestamp), cmocka_unit_test(t_boolean),
        cmocka_unit_test(t_real),    cmocka_unit_test(t_text),      cmocka_unit_test(t_blob),
        cmocka_unit_test(t_edges),   cmocka_unit_test(t_composite), cmocka_unit_test(t_msgpack),
        cmocka_unit_test(t_keybuf_raw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
