/* tests/unit/test_json.c — common/json: strict RFC 8259 parsing to MessagePack
 * (every error kind with its byte offset), the canonical writer, canon ==
 * from_msgpack(to_msgpack), unicode escapes and surrogate pairs, integer/float
 * boundaries, the depth limit and invalid UTF-8. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/errors.h"
#include "common/json.h"

/* The packed bytes of the last s_to_obj (the unpacked object borrows strings from them). */
static msgpack_sbuffer s_last;

/* Frees an object from s_to_obj. */
static void s_unpacked_done(msgpack_unpacked *u)
{
    msgpack_unpacked_destroy(u);
    msgpack_sbuffer_destroy(&s_last);
}

/* Parses s to MessagePack and unpacks it into *ret (free with s_unpacked_done). */
static int s_to_obj(const char *s, size_t n, msgpack_unpacked *ret, size_t *ret_errpos, char *err, size_t errcap)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    int rc = drift_json_to_msgpack(s, n, &pk, err, errcap, ret_errpos);
    if (rc == 0) {
        msgpack_unpacked_init(ret);
        size_t off = 0;
        assert_int_equal(msgpack_unpack_next(ret, sb.data, sb.size, &off), MSGPACK_UNPACK_SUCCESS);
        assert_int_equal(off, sb.size); /* exactly one value */
        s_last = sb;
        return 0;
    }
    assert_int_equal(sb.size, 0); /* nothing packed on error */
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* canon(in) == want, and from_msgpack(to_msgpack(in)) == want, and canon(want) == want. */
static void s_roundtrip(const char *in, const char *want)
{
    char err[160] = "";
    drift_strbuf_t b = {0};
    size_t pos = 99;
    int rc = drift_json_canon(in, strlen(in), &b, err, sizeof err, &pos);
    if (rc != 0)
        fail_msg("canon(%s) failed: %s", in, err);
    assert_string_equal(b.p, want);
    assert_int_equal(b.len, strlen(want));
    drift_strbuf_free(&b);

    msgpack_unpacked u;
    assert_int_equal(s_to_obj(in, strlen(in), &u, &pos, err, sizeof err), 0);
    assert_int_equal(drift_json_from_msgpack(&u.data, &b), 0);
    assert_string_equal(b.p, want);
    s_unpacked_done(&u);
    drift_strbuf_free(&b);

    assert_int_equal(drift_json_canon(want, strlen(want), &b, err, sizeof err, &pos), 0);
    assert_string_equal(b.p, want);
    drift_strbuf_free(&b);
}

static void t_roundtrip(void **state)
{
    (void)state;
    s_roundtrip("null", "null");
    s_roundtrip(" true ", "true");
    s_roundtrip("\t\r\nfalse\n", "false");
    s_roundtrip("0", "0");
    s_roundtrip("-0", "0");
    s_roundtrip("42", "42");
    s_roundtrip("-17", "-17");
    s_roundtrip("1.5", "1.5");
    s_roundtrip("0.1", "0.1");
    s_roundtrip("-2.5e-3", "-0.0025");
    s_roundtrip("1e2", "100.0");
    s_roundtrip("1E+2", "100.0");
    s_roundtrip("2.0", "2.0");
    s_roundtrip("1e300", "1e+300");
    s_roundtrip("123456789.125", "123456789.125");
    s_roundtrip("\"\"", "\"\"");
    s_roundtrip("\"abc\"", "\"abc\"");
    s_roundtrip("[]", "[]");
    s_roundtrip("{}", "{}");
    s_roundtrip("[ 1 , 2 ,3 ]", "[1,2,3]");
    s_roundtrip("{ \"b\" : 1 , \"a\" : [ true , null , { } ] }", "{\"b\":1,\"a\":[true,null,{}]}");
    s_roundtrip("{\"a\":1,\"a\":2}", "{\"a\":1,\"a\":2}"); /* keys in the order given, duplicates kept */
    s_roundtrip("[[[[\"deep\"]]]]", "[[[[\"deep\"]]]]");
    s_roundtrip("{\"name\":\"Ada\",\"tags\":[\"x\",\"y\"],\"n\":{\"k\":-1.25}}",
                "{\"name\":\"Ada\",\"tags\":[\"x\",\"y\"],\"n\":{\"k\":-1.25}}");
}

static void t_strings_and_escapes(void **state)
{
    (void)state;
    s_roundtrip("\"a\\\"b\\\\c\\/d\"", "\"a\\\"b\\\\c/d\"");
    s_roundtrip("\"\\b\\f\\n\\r\\t\"", "\"\\b\\f\\n\\r\\t\"");
    s_roundtrip("\"\\u0001\\u001F\\u007f\"", "\"\\u0001\\u001f\x7f\"");
    s_roundtrip("\"\\u0000\"", "\"\\u0000\"");
    s_roundtrip("\"\\u00e9\\u00E9\"", "\"\xc3\xa9\xc3\xa9\""); /* é twice */
    s_roundtrip("\"\\u20ac\"", "\"\xe2\x82\xac\"");            /* € */
    s_roundtrip("\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\""); /* U+1F600 from a surrogate pair */
    s_roundtrip("\"\\uDBFF\\uDFFF\"", "\"\xf4\x8f\xbf\xbf\""); /* U+10FFFF */
    s_roundtrip("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
                "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""); /* raw UTF-8 kept */

    /* the decoded bytes reach MessagePack */
    msgpack_unpacked u;
    size_t pos;
    char err[160];
    const char *in = "\"x\\ud83d\\ude00\\u0000y\"";
    assert_int_equal(s_to_obj(in, strlen(in), &u, &pos, err, sizeof err), 0);
    assert_int_equal(u.data.type, MSGPACK_OBJECT_STR);
    assert_int_equal(u.data.via.str.size, 7);
    assert_memory_equal(u.data.via.str.ptr, "x\xf0\x9f\x98\x80\0y", 7);
    s_unpacked_done(&u);
}

static void t_numbers(void **state)
{
    (void)state;
    msgpack_unpacked u;
    size_t pos;
    char err[160];
    static const struct {
        const char *in;
        msgpack_object_type type;
        int64_t i;
        uint64_t u;
        double d;
    } cases[] = {
        {"9223372036854775807", MSGPACK_OBJECT_POSITIVE_INTEGER, 0, 9223372036854775807ULL, 0},
        {"18446744073709551615", MSGPACK_OBJECT_POSITIVE_INTEGER, 0, 18446744073709551615ULL, 0},
        {"18446744073709551616", MSGPACK_OBJECT_FLOAT64, 0, 0, 18446744073709551616.0},
        {"-9223372036854775808", MSGPACK_OBJECT_NEGATIVE_INTEGER, INT64_MIN, 0, 0},
        {"-9223372036854775809", MSGPACK_OBJECT_FLOAT64, 0, 0, -9223372036854775809.0},
        {"-1", MSGPACK_OBJECT_NEGATIVE_INTEGER, -1, 0, 0},
        {"0", MSGPACK_OBJECT_POSITIVE_INTEGER, 0, 0, 0},
        {"-0", MSGPACK_OBJECT_POSITIVE_INTEGER, 0, 0, 0},
        {"1.0", MSGPACK_OBJECT_FLOAT64, 0, 0, 1.0},
        {"-0.5", MSGPACK_OBJECT_FLOAT64, 0, 0, -0.5},
        {"1e-320", MSGPACK_OBJECT_FLOAT64, 0, 0, 1e-320},
        {"123456789012345678901234567890", MSGPACK_OBJECT_FLOAT64, 0, 0, 123456789012345678901234567890.0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        assert_int_equal(s_to_obj(cases[k].in, strlen(cases[k].in), &u, &pos, err, sizeof err), 0);
        assert_int_equal(u.data.type, cases[k].type);
        if (cases[k].type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            assert_true(u.data.via.i64 == cases[k].i);
        else if (cases[k].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            assert_true(u.data.via.u64 == cases[k].u);
        else
            assert_true(u.data.via.f64 == cases[k].d);
        s_unpacked_done(&u);
    }
    s_roundtrip("18446744073709551615", "18446744073709551615");
    s_roundtrip("-9223372036854775808", "-9223372036854775808");
    s_roundtrip("18446744073709551616", "1.8446744073709552e+19");
    s_roundtrip("0.30000000000000004", "0.30000000000000004");
    s_roundtrip("1.7976931348623157e308", "1.7976931348623157e+308");
    s_roundtrip("17976931348623157e292", "1.7976931348623157e+308");
    s_roundtrip("0.0000e400", "0.0");
    s_roundtrip("-1e-400", "-0.0");
    s_roundtrip("1e-99999999999999999999", "0.0");
    s_roundtrip("5e-324", "5e-324"); /* the smallest denormal */
    s_roundtrip("0.0001", "0.0001");
    s_roundtrip("0.00001", "1e-5");
    s_roundtrip("1e15", "1000000000000000.0");
    s_roundtrip("1e16", "1e+16");
    s_roundtrip("-12.5e1", "-125.0");
    /* a long number beyond the small stack buffer */
    char big[400];
    memset(big, '1', 300);
    strcpy(big + 300, ".5");
    assert_int_equal(s_to_obj(big, strlen(big), &u, &pos, err, sizeof err), 0);
    assert_int_equal(u.data.type, MSGPACK_OBJECT_FLOAT64);
    s_unpacked_done(&u);
}

/* in must fail with DRIFT_EPROTO at byte offset want_pos and a message containing want_msg. */
static void s_bad(const char *in, size_t n, size_t want_pos, const char *want_msg)
{
    char err[200] = "";
    size_t pos = 12345;
    msgpack_unpacked u;
    int rc = s_to_obj(in, n, &u, &pos, err, sizeof err);
    if (rc != DRIFT_EPROTO)
        fail_msg("%.*s: rc %d, expected DRIFT_EPROTO", (int)n, in, rc);
    if (pos != want_pos)
        fail_msg("%.*s: error at %zu, expected %zu (%s)", (int)n, in, pos, want_pos, err);
    if (!strstr(err, want_msg))
        fail_msg("%.*s: message \"%s\" lacks \"%s\"", (int)n, in, err, want_msg);
    /* canon reports the same and leaves the buffer as it was */
    drift_strbuf_t b = {0};
    drift_strbuf_append(&b, "keep", 4);
    pos = 12345;
    assert_int_equal(drift_json_canon(in, n, &b, err, sizeof err, &pos), DRIFT_EPROTO);
    assert_int_equal(pos, want_pos);
    assert_string_equal(b.p, "keep");
    drift_strbuf_free(&b);
    /* ret_errpos and err may be NULL */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assert_int_equal(drift_json_to_msgpack(in, n, &pk, NULL, 0, NULL), DRIFT_EPROTO);
    msgpack_sbuffer_destroy(&sb);
}

#define BAD(s, pos, msg) s_bad(s, sizeof(s) - 1, pos, msg)

static void t_errors(void **state)
{
    (void)state;
    BAD("", 0, "unexpected end of input");
    BAD("   ", 3, "unexpected end of input");
    BAD("nul", 3, "unexpected end of input");
    BAD("nulL", 3, "unexpected character 'L'");
    BAD("tru", 3, "unexpected end of input");
    BAD("fals3", 4, "unexpected character '3'");
    BAD("True", 0, "unexpected character 'T'");
    BAD("[1,]", 3, "unexpected character ']', expected a JSON value");
    BAD("[1 2]", 3, "expected ',' or ']'");
    BAD("{\"a\":1,}", 7, "expected a string key");
    BAD("{\"a\" 1}", 5, "expected ':'");
    BAD("{a:1}", 1, "expected a string key");
    BAD("{\"a\":1 \"b\":2}", 7, "expected ',' or '}'");
    BAD("[1", 2, "unexpected end of input");
    BAD("{\"a\":", 5, "unexpected end of input");
    BAD("1 2", 2, "unexpected data after the JSON value");
    BAD("{} x", 3, "unexpected data after the JSON value");
    BAD("// c\n1", 0, "unexpected character '/'");
    BAD("'a'", 0, "unexpected character");
    BAD("\"abc", 4, "unterminated string");
    BAD("\"abc\\", 5, "unterminated string");
    BAD("\"a\nb\"", 2, "control character in string");
    BAD("\"a\tb\"", 2, "control character in string");
    BAD("\"a\\xb\"", 2, "invalid escape sequence");
    BAD("\"a\\'b\"", 2, "invalid escape sequence");
    BAD("\"\\u12\"", 1, "invalid \\u escape");
    BAD("\"\\u12g4\"", 1, "invalid \\u escape");
    BAD("\"ab\\ud800\"", 3, "unpaired high surrogate");
    BAD("\"\\ud800\\u0041\"", 1, "unpaired high surrogate");
    BAD("\"\\ud800\\ud800\"", 1, "unpaired high surrogate");
    BAD("\"\\udc00\"", 1, "unpaired low surrogate");
    BAD("01", 1, "leading zeros");
    BAD("-", 1, "expected a digit");
    BAD("-a", 1, "expected a digit");
    BAD("+1", 0, "unexpected character '+'");
    BAD(".5", 0, "unexpected character '.'");
    BAD("1.", 2, "digit after the decimal point");
    BAD("1.e5", 2, "digit after the decimal point");
    BAD("1e", 2, "digit in the exponent");
    BAD("1e+", 3, "digit in the exponent");
    BAD("[1e400]", 1, "number out of range");
    BAD("-1e400", 0, "number out of range");
    BAD("[1, 1.8e308]", 4, "number out of range");
    BAD("{\"a\": -18e307}", 6, "number out of range");
    BAD("1e99999999999999999999", 0, "number out of range");
    BAD("NaN", 0, "unexpected character 'N'");
    BAD("[Infinity]", 1, "unexpected character 'I'");
    BAD("\x01", 0, "unexpected byte 0x01");
    /* a NUL inside the given length is a byte like any other */
    s_bad("[1\0]", 4, 2, "unexpected byte 0x00");
}

static void t_invalid_utf8(void **state)
{
    (void)state;
    BAD("\"a\xc0\x80\"", 2, "invalid UTF-8");        /* overlong NUL */
    BAD("\"\xe0\x80\xaf\"", 1, "invalid UTF-8");     /* overlong '/' */
    BAD("\"\xed\xa0\x80\"", 1, "invalid UTF-8");     /* encoded surrogate */
    BAD("\"\xf4\x90\x80\x80\"", 1, "invalid UTF-8"); /* > U+10FFFF */
    BAD("\"\xf5\x80\x80\x80\"", 1, "invalid UTF-8");
    BAD("\"ab\x80\"", 3, "invalid UTF-8"); /* lone continuation byte */
    BAD("\"\xc3\"", 1, "invalid UTF-8");   /* truncated by the quote */
    BAD("\"\xe2\x82\"", 1, "invalid UTF-8");
    BAD("\"\xff\"", 1, "invalid UTF-8");
    BAD("\xc3\xa9", 0, "unexpected byte 0xc3"); /* non-ASCII outside a string */
}

/* DRIFT_JSON_MAX_DEPTH nested containers parse (and the MessagePack unpacks); one more fails at its bracket. */
static void t_depth(void **state)
{
    (void)state;
    char s[DRIFT_JSON_MAX_DEPTH + 8];
    size_t n = 0;
    /* alternately {"k":[{"k":[... */
    char buf[8 * DRIFT_JSON_MAX_DEPTH + 16];
    for (int i = 0; i < DRIFT_JSON_MAX_DEPTH; i++)
        if (i % 2 == 0)
            n += (size_t)sprintf(buf + n, "{\"k\":");
        else
            buf[n++] = '[';
    buf[n++] = '1';
    for (int i = DRIFT_JSON_MAX_DEPTH - 1; i >= 0; i--)
        buf[n++] = i % 2 == 0 ? '}' : ']';
    buf[n] = 0;
    msgpack_unpacked u;
    size_t pos;
    char err[160];
    assert_int_equal(s_to_obj(buf, n, &u, &pos, err, sizeof err), 0);
    s_unpacked_done(&u);
    s_roundtrip(buf, buf);

    for (int i = 0; i <= DRIFT_JSON_MAX_DEPTH; i++)
        s[i] = '[';
    s_bad(s, DRIFT_JSON_MAX_DEPTH + 1, DRIFT_JSON_MAX_DEPTH, "nesting too deep");
    /* a very deep document fails at the same place without recursing further */
    size_t big = 100000;
    char *d = malloc(big);
    assert_non_null(d);
    memset(d, '[', big);
    s_bad(d, big, DRIFT_JSON_MAX_DEPTH, "nesting too deep");
    free(d);
}

static void t_writer(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 7);
    msgpack_pack_str_with_body(&pk, "bin", 3);
    msgpack_pack_bin_with_body(&pk, "\x00\xff\x10\x20", 4);
    msgpack_pack_int64(&pk, 7); /* a non-string key becomes the string of its JSON */
    msgpack_pack_float(&pk, 0.5f);
    msgpack_pack_str_with_body(&pk, "ext", 3);
    msgpack_pack_ext_with_body(&pk, "ab", 2, 1);
    msgpack_pack_str_with_body(&pk, "bad\xff\x01", 5); /* invalid UTF-8 is replaced, controls escaped */
    msgpack_pack_double(&pk, -0.0);
    msgpack_pack_str_with_body(&pk, "nan", 3);
    msgpack_pack_double(&pk, NAN);
    msgpack_pack_str_with_body(&pk, "b64", 3);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_bin_with_body(&pk, "a", 1);
    msgpack_pack_bin_with_body(&pk, "ab", 2);
    msgpack_pack_bin_with_body(&pk, "", 0);
    msgpack_pack_str_with_body(&pk, "q\"\\", 3);
    msgpack_pack_int64(&pk, INT64_MIN);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
    drift_strbuf_t b = {0};
    assert_int_equal(drift_json_from_msgpack(&u.data, &b), 0);
    assert_string_equal(b.p,
                        "{\"bin\":\"AP8QIA==\",\"7\":0.5,\"ext\":null,\"bad\xef\xbf\xbd\\u0001\":-0.0,\"nan\":null,"
                        "\"b64\":[\"YQ==\",\"YWI=\",\"\"],\"q\\\"\\\\\":-9223372036854775808}");
    /* the output is valid JSON and canonical */
    drift_strbuf_t c = {0};
    char err[160];
    assert_int_equal(drift_json_canon(b.p, b.len, &c, err, sizeof err, NULL), 0);
    assert_string_equal(c.p, b.p);
    drift_strbuf_free(&c);
    drift_strbuf_free(&b);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
}

/* Random doubles: the writer's text reads back to the same bits, and has as few digits as any text that does. */
static void t_double_roundtrip(void **state)
{
    (void)state;
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double d;
        uint64_t bits = x;
        if (i % 4 == 1)
            bits = (x & 0x800FFFFFFFFFFFFFULL) | (uint64_t)(1023 + (int)(x >> 52) % 40 - 20) << 52; /* near 1 */
        else if (i % 4 == 2)
            bits = x & 0x800FFFFFFFFFFFFFULL; /* subnormal */
        memcpy(&d, &bits, sizeof d);
        if (!isfinite(d))
            continue;
        if (i % 4 == 3)
            d = (double)(int64_t)(x % 2000001) / 1000.0 - 1000.0; /* short decimals like 12.345 */
        msgpack_object o = {.type = MSGPACK_OBJECT_FLOAT64, .via.f64 = d};
        drift_strbuf_t b = {0};
        assert_int_equal(drift_json_from_msgpack(&o, &b), 0);
        msgpack_unpacked u;
        size_t pos;
        char err[160];
        if (s_to_obj(b.p, b.len, &u, &pos, err, sizeof err) != 0)
            fail_msg("%s: %s", b.p, err);
        assert_int_equal(u.data.type, MSGPACK_OBJECT_FLOAT64);
        if (memcmp(&u.data.via.f64, &d, sizeof d) != 0)
            fail_msg("%.17g written as %s reads back as %.17g", d, b.p, u.data.via.f64);
        s_unpacked_done(&u);
        /* significant digits written (mantissa without sign, point, leading and trailing zeros) */
        char m[64];
        size_t mn = 0;
        for (const char *c = b.p; *c && *c != 'e'; c++)
            if (*c >= '0' && *c <= '9')
                m[mn++] = *c;
        size_t m0 = 0;
        while (m0 < mn && m[m0] == '0')
            m0++;
        while (mn > m0 && m[mn - 1] == '0')
            mn--;
        int digits = (int)(mn - m0);
        int best = 17;
        for (int p = 1; p <= 17; p++) {
            char t[40];
            snprintf(t, sizeof t, "%.*e", p - 1, d);
            if (strtod(t, NULL) == d) {
                best = p;
                break;
            }
        }
        if (d != 0 && digits > best)
            fail_msg("%.17g written as %s: more than %d digits", d, b.p, best);
        drift_strbuf_free(&b);
    }
}

static void t_strbuf(void **state)
{
    (void)state;
    drift_strbuf_t b = {0};
    for (int i = 0; i < 1000; i++)
        drift_strbuf_append(&b, "abc", 3);
    assert_int_equal(b.len, 3000);
    assert_int_equal(strlen(b.p), 3000);
    assert_false(b.oom);
    drift_strbuf_free(&b);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    drift_strbuf_free(&b); /* twice is fine */
    /* canon appends after what is already there */
    drift_strbuf_append(&b, "x=", 2);
    assert_int_equal(drift_json_canon("[ 1 ]", 5, &b, NULL, 0, NULL), 0);
    assert_string_equal(b.p, "x=[1]");
    drift_strbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_roundtrip),        cmocka_unit_test(t_strings_and_escapes),
        cmocka_unit_test(t_numbers),          cmocka_unit_test(t_errors),
        cmocka_unit_test(t_invalid_utf8),     cmocka_unit_test(t_depth),
        cmocka_unit_test(t_writer),           cmocka_unit_test(t_strbuf),
        cmocka_unit_test(t_double_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
