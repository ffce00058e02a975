/* tests/unit/test_frame.c — frame encode/decode round trip, CRC, padding,
 * every field, truncation and bit flips, unknown flags. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/errors.h"
#include "shm/frame.h"

/* A frame with a 13-byte body (so there is padding). */
static size_t s_make(uint8_t *buf, size_t cap, uint64_t seq)
{
    drift_frame_t f = {.seq = seq, .ts_ns = 1000 + seq, .epoch = 3, .sync_seq = seq - 1, .key_id = 0};
    for (unsigned i = 0; i < DRIFT_HASH_LEN; i++)
        f.prev_hash[i] = (uint8_t)(i + seq);
    size_t size;
    assert_int_equal(drift_frame_encode(buf, cap, &f, "hello, world!", 13, &size), 0);
    return size;
}

static void t_round_trip(void **state)
{
    (void)state;
    uint8_t buf[256];
    memset(buf, 0xAA, sizeof buf);
    size_t size = s_make(buf, sizeof buf, 7);
    assert_int_equal(size, drift_frame_size(13));
    assert_int_equal(size % 8, 0);
    assert_int_equal(size, 88 + 16);
    drift_frame_t f;
    assert_int_equal(drift_frame_decode(buf, size, &f), 0);
    assert_int_equal(f.len, 88 + 13);
    assert_int_equal(f.seq, 7);
    assert_int_equal(f.ts_ns, 1007);
    assert_int_equal(f.epoch, 3);
    assert_int_equal(f.sync_seq, 6);
    assert_int_equal(f.flags, 0);
    assert_int_equal(f.hdr_len, 88);
    assert_int_equal(f.raw_len, 13);
    assert_int_equal(f.body_len, 13);
    assert_memory_equal(f.body, "hello, world!", 13);
    for (unsigned i = 0; i < DRIFT_HASH_LEN; i++)
        assert_int_equal(f.prev_hash[i], (uint8_t)(i + 7));
    /* Padding is zero, the byte after the frame untouched. */
    for (size_t i = f.len; i < size; i++)
        assert_int_equal(buf[i], 0);
    assert_int_equal(buf[size], 0xAA);
    /* Fixed byte positions (docs/storage.md). */
    assert_int_equal(drift_le_get32(buf), 101);
    assert_int_equal(drift_le_get64(buf + 8), 7);
    assert_int_equal(drift_le_get64(buf + 32), 6);
    assert_int_equal(drift_le_get16(buf + 48), 88);
    assert_int_equal(drift_le_get32(buf + 4), drift_frame_crc(buf, 101));
}

static void t_every_bit_flip_detected(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t size = s_make(buf, sizeof buf, 1);
    drift_frame_t f;
    for (size_t byte = 0; byte < size; byte++)
        for (int bit = 0; bit < 8; bit++) {
            buf[byte] ^= (uint8_t)(1u << bit);
            int rc = drift_frame_decode(buf, size, &f);
            assert_true(rc < 0);
            buf[byte] ^= (uint8_t)(1u << bit);
        }
    assert_int_equal(drift_frame_decode(buf, size, &f), 0);
}

static void t_truncated_and_empty(void **state)
{
    (void)state;
    uint8_t buf[256] = {0};
    drift_frame_t f;
    assert_int_equal(drift_frame_decode(buf, sizeof buf, &f), DRIFT_ENOTFOUND);
    size_t size = s_make(buf, sizeof buf, 1);
    for (size_t cut = 4; cut < 101; cut++)
        assert_int_equal(drift_frame_decode(buf, cut, &f), DRIFT_ETRUNCATED);
    assert_int_equal(drift_frame_decode(buf, size, &f), 0);
    /* An implausible length is corruption, not truncation. */
    drift_le_put32(buf, 12);
    assert_int_equal(drift_frame_decode(buf, size, &f), DRIFT_ECORRUPT);
    drift_le_put32(buf, 0x7fffffff);
    assert_int_equal(drift_frame_decode(buf, size, &f), DRIFT_ECORRUPT);
}

static void t_cap_and_flags(void **state)
{
    (void)state;
    uint8_t buf[128];
    drift_frame_t f = {.seq = 1, .ts_ns = 1};
    size_t size;
    assert_int_equal(drift_frame_encode(buf, 100, &f, "0123456789abcdef", 16, &size), -ENOSPC);
    f.flags = 0x80;
    assert_int_equal(drift_frame_encode(buf, sizeof buf, &f, "x", 1, &size), -EINVAL);
    f.flags = 0;
    assert_int_equal(drift_frame_encode(buf, sizeof buf, &f, "x", 1, &size), 0);
    /* A frame from a future version (unknown flag, valid CRC) is refused as such. */
    drift_le_put32(buf + 40, 0x100);
    drift_le_put32(buf + 4, drift_frame_crc(buf, drift_le_get32(buf)));
    drift_frame_t g;
    assert_int_equal(drift_frame_decode(buf, size, &g), DRIFT_EVERSION);
    /* Non-zero padding is corruption. */
    assert_int_equal(drift_frame_encode(buf, sizeof buf, &f, "x", 1, &size), 0);
    buf[size - 1] = 1;
    assert_int_equal(drift_frame_decode(buf, size, &g), DRIFT_ECORRUPT);
}

static void t_hash_chain(void **state)
{
    (void)state;
    uint8_t a[256], b[256];
    size_t sa = s_make(a, sizeof a, 1);
    (void)sa;
    drift_frame_t fa;
    assert_int_equal(drift_frame_decode(a, sizeof a, &fa), 0);
    uint8_t h1[DRIFT_HASH_LEN], h2[DRIFT_HASH_LEN];
    drift_frame_hash(a, fa.len, h1);
    drift_frame_hash(a, fa.len, h2);
    assert_memory_equal(h1, h2, DRIFT_HASH_LEN);
    memcpy(b, a, sizeof a);
    b[90] ^= 1;
    drift_frame_hash(b, fa.len, h2);
    assert_memory_not_equal(h1, h2, DRIFT_HASH_LEN);
    /* BLAKE2b-256 of the empty string (a known value) proves the hash is BLAKE2b with 32-byte output. */
    static const uint8_t empty[32] = {0x0e, 0x57, 0x51, 0xc0, 0x26, 0xe5, 0x43, 0xb2, 0xe8, 0xab, 0x2e,
                                      0xb0, 0x60, 0x99, 0xda, 0xa1, 0xd1, 0xe5, 0xdf, 0x47, 0x77, 0x8f,
                                      0x77, 0x87, 0xfa, 0xab, 0x45, 0xcd, 0xf1, 0x2f, 0xe3, 0xa8};
    drift_frame_hash((const uint8_t *)"", 0, h1);
    assert_memory_equal(h1, empty, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_round_trip),          cmocka_unit_test(t_every_bit_flip_detected),
        cmocka_unit_test(t_truncated_and_empty), cmocka_unit_test(t_cap_and_flags),
        cmocka_unit_test(t_hash_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
