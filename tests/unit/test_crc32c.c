/* tests/unit/test_crc32c.c — CRC-32C against published vectors (RFC 3720 B.4,
 * the "123456789" check value), both implementations, every alignment and
 * split point. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/crc32c.h"

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

/* RFC 3720 appendix B.4 vectors. */
static void s_vectors(crc_fn f)
{
    uint8_t buf[48];
    assert_int_equal(f(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(f(0, "", 0), 0);
    memset(buf, 0, 32);
    assert_int_equal(f(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xff, 32);
    assert_int_equal(f(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    assert_int_equal(f(0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    assert_int_equal(f(0, buf, 32), 0x113FDB5Cu);
    static const uint8_t iscsi[48] = {0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                      0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
                                      0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
                                      0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    assert_int_equal(f(0, iscsi, 48), 0xD9963A56u);
}

static void t_sw_vectors(void **state)
{
    (void)state;
    s_vectors(drift_crc32c_sw);
}

static void t_hw_vectors(void **state)
{
    (void)state;
    if (!drift_crc32c_hw_available())
        skip();
    s_vectors(drift_crc32c_hw);
}

static void t_dispatch_vectors(void **state)
{
    (void)state;
    s_vectors(drift_crc32c);
}

/* Both paths agree on random data at every alignment, length and split point (incremental use). */
static void t_agree_incremental(void **state)
{
    (void)state;
    uint8_t *buf = malloc(4096 + 16);
    srand(42);
    for (int i = 0; i < 4096 + 16; i++)
        buf[i] = (uint8_t)rand();
    for (size_t align = 0; align < 8; align++)
        for (size_t len = 0; len < 300; len += 7) {
            uint32_t whole = drift_crc32c_sw(0, buf + align, len);
            if (drift_crc32c_hw_available())
                assert_int_equal(whole, drift_crc32c_hw(0, buf + align, len));
            for (size_t cut = 0; cut <= len; cut += 13) {
                uint32_t c = drift_crc32c(0, buf + align, cut);
                assert_int_equal(drift_crc32c(c, buf + align + cut, len - cut), whole);
            }
        }
    uint32_t big = drift_crc32c_sw(0, buf, 4096);
    assert_int_equal(drift_crc32c(0, buf, 4096), big);
    buf[100] ^= 1; /* a single bit flip changes it */
    assert_int_not_equal(drift_crc32c(0, buf, 4096), big);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_sw_vectors),
        cmocka_unit_test(t_hw_vectors),
        cmocka_unit_test(t_dispatch_vectors),
        cmocka_unit_test(t_agree_incremental),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
