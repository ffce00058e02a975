/* tests/unit/test_drift_client.c — libdrift's reply side without a server:
 * the MessagePack validator, chunk assembly (`more`), typed accessors and the
 * JSON/text renderers, on replies packed here with msgpack-c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/drift_int.h"

/* Packs a str key. */
static void s_key(msgpack_packer *pk, const char *k)
{
    msgpack_pack_str(pk, strlen(k));
    msgpack_pack_str_body(pk, k, strlen(k));
}

/* Adds the packed bytes of sb as one chunk of r (copying them, as the client does). */
static int s_add(drift_result_t *r, msgpack_sbuffer *sb)
{
    assert_int_equal(drift_mp_check(sb->data, sb->size, DRIFT_CLIENT_MAX_DEPTH), 0);
    char *buf = malloc(sb->size);
    memcpy(buf, sb->data, sb->size);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&up, buf, sb->size, &off), MSGPACK_UNPACK_SUCCESS);
    int rc = drift_result_add_chunk(r, buf, sb->size, &up);
    msgpack_sbuffer_clear(sb);
    return rc;
}

static void test_validator_rejects_hostile(void **state)
{
    (void)state;
    /* array32 declaring 0xdddddddd elements with nothing behind them */
    const char huge[] = "\xdd\xdd\xdd\xdd\xdd\x00\x00\x00\x00";
    assert_int_equal(drift_mp_check(huge, 9, 64), DRIFT_CLIENT_EPROTO);
    assert_int_equal(drift_mp_check("", 0, 64), DRIFT_CLIENT_EPROTO);
    assert_int_equal(drift_mp_check("\xc1", 1, 64), DRIFT_CLIENT_EPROTO);                 /* never used */
    assert_int_equal(drift_mp_check("\xdb\xff\xff\xff\xff", 5, 64), DRIFT_CLIENT_EPROTO); /* str32 too long */
    assert_int_equal(drift_mp_check("\xd4\x01\x02", 3, 64), DRIFT_CLIENT_EPROTO);         /* fixext */
    assert_int_equal(drift_mp_check("\x01\x02", 2, 64), DRIFT_CLIENT_EPROTO);             /* trailing bytes */
    assert_int_equal(drift_mp_check("\xcb\x00", 2, 64), DRIFT_CLIENT_EPROTO);             /* truncated float */
    /* nesting: 100 nested one-element arrays around nil */
    char deep[101];
    memset(deep, 0x91, 100);
    deep[100] = (char)0xc0;
    assert_int_equal(drift_mp_check(deep, sizeof deep, 64), DRIFT_CLIENT_EPROTO);
    assert_int_equal(drift_mp_check(deep + 50, 51, 64), 0);
    assert_int_equal(drift_mp_check("\x81\xa1k\xc3", 4, 64), 0);
    assert_int_equal(drift_mp_check("\x82\xa1k\xc3", 4, 64), DRIFT_CLIENT_EPROTO); /* map missing a pair */
}

static void test_chunks_and_accessors(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    drift_result_t *r = drift_result_new(7);
    assert_non_null(r);

    /* chunk 1: columns + 2 rows, more */
    msgpack_pack_map(&pk, 5);
    s_key(&pk, "id");
    msgpack_pack_uint64(&pk, 7);
    s_key(&pk, "ok");
    msgpack_pack_true(&pk);
    s_key(&pk, "columns");
    msgpack_pack_array(&pk, 4);
    s_key(&pk, "i");
    s_key(&pk, "d");
    s_key(&pk, "t");
    s_key(&pk, "j");
    s_key(&pk, "rows");
    msgpack_pack_array(&pk, 2);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int64(&pk, -5);
    msgpack_pack_double(&pk, 2.5);
    s_key(&pk, "he\"llo");
    msgpack_pack_nil(&pk);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint64(&pk, 42);
    msgpack_pack_double(&pk, 3.0);
    msgpack_pack_bin(&pk, 3);
    msgpack_pack_bin_body(&pk, "\x00\xff\x10", 3);
    msgpack_pack_map(&pk, 2);
    s_key(&pk, "a");
    msgpack_pack_array(&pk, 2);
    msgpack_pack_true(&pk);
    msgpack_pack_nil(&pk);
    msgpack_pack_int(&pk, 1);
    s_key(&pk, "x\n");
    s_key(&pk, "more");
    msgpack_pack_true(&pk);
    assert_int_equal(s_add(r, &sb), 0);
    assert_false(r->done);

    /* chunk 2: one more row, last, with seq */
    msgpack_pack_map(&pk, 4);
    s_key(&pk, "id");
    msgpack_pack_uint64(&pk, 7);
    s_key(&pk, "ok");
    msgpack_pack_true(&pk);
    s_key(&pk, "rows");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_true(&pk);
    msgpack_pack_int(&pk, 7);
    s_key(&pk, "");
    msgpack_pack_array(&pk, 0);
    s_key(&pk, "seq");
    msgpack_pack_uint64(&pk, 99);
    assert_int_equal(s_add(r, &sb), 0);
    assert_true(r->done);

    assert_true(drift_result_ok(r));
    assert_int_equal(drift_result_nchunks(r), 2);
    assert_int_equal(drift_result_ncolumns(r), 4);
    assert_string_equal(drift_result_column_name(r, 2), "t");
    assert_null(drift_result_column_name(r, 4));
    assert_int_equal(drift_result_nrows(r), 3);
    int64_t seq = 0;
    assert_true(drift_result_seq(r, &seq));
    assert_int_equal(seq, 99);
    assert_false(drift_result_affected(r, NULL));

    int64_t i;
    double d;
    bool b;
    const char *s;
    size_t n;
    const void *p;
    assert_int_equal(drift_result_get_int64(r, 0, 0, &i), 0);
    assert_int_equal(i, -5);
    assert_int_equal(drift_result_get_int64(r, 1, 0, &i), 0);
    assert_int_equal(i, 42);
    assert_int_equal(drift_result_get_int64(r, 0, 1, &i), DRIFT_CLIENT_EINVAL); /* 2.5 */
    assert_int_equal(drift_result_get_int64(r, 1, 1, &i), 0);                   /* 3.0 */
    assert_int_equal(i, 3);
    assert_int_equal(drift_result_get_double(r, 0, 1, &d), 0);
    assert_true(d == 2.5);
    assert_int_equal(drift_result_get_text(r, 0, 2, &s, &n), 0);
    assert_int_equal(n, 6);
    assert_memory_equal(s, "he\"llo", 6);
    assert_int_equal(drift_result_get_text(r, 0, 0, &s, &n), DRIFT_CLIENT_EINVAL);
    assert_true(drift_result_is_null(r, 0, 3));
    assert_true(drift_result_is_null(r, 9, 0));
    assert_int_equal(drift_result_type(r, 1, 2), DRIFT_TYPE_BLOB);
    assert_int_equal(drift_result_get_blob(r, 1, 2, &p, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(p, "\x00\xff\x10", 3);
    assert_int_equal(drift_result_get_bool(r, 2, 0, &b), 0);
    assert_true(b);
    assert_int_equal(drift_result_type(r, 1, 3), DRIFT_TYPE_JSON);

    char *j = drift_result_json(r, 1, 3);
    assert_string_equal(j, "{\"a\":[true,null],\"1\":\"x\\n\"}");
    free(j);
    j = drift_result_json(r, 1, 2);
    assert_string_equal(j, "\"AP8Q\"");
    free(j);
    j = drift_result_json(r, 0, 2);
    assert_string_equal(j, "\"he\\\"llo\"");
    free(j);
    j = drift_result_text(r, 1, 1);
    assert_string_equal(j, "3.0");
    free(j);
    j = drift_result_text(r, 1, 2);
    assert_string_equal(j, "\\x00ff10");
    free(j);
    errno = 0;
    assert_null(drift_result_text(r, 0, 3));
    assert_int_equal(errno, 0);
    j = drift_result_json(r, 0, 3);
    assert_string_equal(j, "null");
    free(j);
    drift_result_free(&r);
    assert_null(r);
    drift_result_free(&r);
    msgpack_sbuffer_destroy(&sb);
}

static void test_error_reply_and_bad_types(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

    drift_result_t *r = drift_result_new(3);
    msgpack_pack_map(&pk, 3);
    s_key(&pk, "id");
    msgpack_pack_uint64(&pk, 3);
    s_key(&pk, "ok");
    msgpack_pack_false(&pk);
    s_key(&pk, "error");
    msgpack_pack_map(&pk, 2);
    s_key(&pk, "code");
    s_key(&pk, "42P01");
    s_key(&pk, "message");
    s_key(&pk, "no such table: t");
    assert_int_equal(s_add(r, &sb), 0);
    assert_true(r->done);
    assert_false(drift_result_ok(r));
    assert_string_equal(drift_result_errcode(r), "42P01");
    assert_string_equal(drift_result_errmsg(r), "no such table: t");
    drift_result_free(&r);

    /* rows that is not an array: a protocol error reported as 08P01 */
    r = drift_result_new(4);
    msgpack_pack_map(&pk, 3);
    s_key(&pk, "id");
    msgpack_pack_uint64(&pk, 4);
    s_key(&pk, "ok");
    msgpack_pack_true(&pk);
    s_key(&pk, "rows");
    msgpack_pack_int(&pk, 5);
    assert_int_equal(s_add(r, &sb), DRIFT_CLIENT_EPROTO);
    assert_true(r->done);
    assert_string_equal(drift_result_errcode(r), "08P01");
    drift_result_free(&r);

    /* missing ok */
    r = drift_result_new(5);
    msgpack_pack_map(&pk, 1);
    s_key(&pk, "id");
    msgpack_pack_uint64(&pk, 5);
    assert_int_equal(s_add(r, &sb), DRIFT_CLIENT_EPROTO);
    drift_result_free(&r);
    msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validator_rejects_hostile),
        cmocka_unit_test(test_chunks_and_accessors),
        cmocka_unit_test(test_error_reply_and_bad_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
