/* common/crc32c.c — see crc32c.h. Table built once (pthread_once); the
 * hardware path is compiled with a target attribute so the rest of the
 * program needs no -msse4.2. */
#include "common/crc32c.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define POLY 0x82F63B78u

static uint32_t s_table[8][256];
static pthread_once_t s_once = PTHREAD_ONCE_INIT;

/* Builds the slicing-by-8 tables. */
static void s_init_table(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        s_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = s_table[0][n];
        for (int t = 1; t < 8; t++) {
            c = s_table[0][c & 0xff] ^ (c >> 8);
            s_table[t][n] = c;
        }
    }
}

uint32_t drift_crc32c_sw(uint32_t crc, const void *p, size_t len)
{
    pthread_once(&s_once, s_init_table);
    const uint8_t *b = p;
    crc = ~crc;
    while (len && ((uintptr_t)b & 7)) {
        crc = s_table[0][(crc ^ *b++) & 0xff] ^ (crc >> 8);
        len--;
    }
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, b, 8);
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
        w = __builtin_bswap64(w);
#endif
        w ^= crc;
        crc = s_table[7][w & 0xff] ^ s_table[6][(w >> 8) & 0xff] ^ s_table[5][(w >> 16) & 0xff] ^
              s_table[4][(w >> 24) & 0xff] ^ s_table[3][(w >> 32) & 0xff] ^ s_table[2][(w >> 40) & 0xff] ^
              s_table[1][(w >> 48) & 0xff] ^ s_table[0][(w >> 56) & 0xff];
        b += 8;
        len -= 8;
    }
    while (len--)
        crc = s_table[0][(crc ^ *b++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

#if defined(__x86_64__)
int drift_crc32c_hw_available(void)
{
    static _Atomic int s_have = -1;
    int have = atomic_load_explicit(&s_have, memory_order_relaxed);
    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("sse4.2") ? 1 : 0;
        atomic_store_explicit(&s_have, have, memory_order_relaxed);
    }
    return have;
}

__attribute__((target("sse4.2"))) uint32_t drift_crc32c_hw(uint32_t crc, const void *p, size_t len)
{
    const uint8_t *b = p;
    uint64_t c = ~crc;
    while (len && ((uintptr_t)b & 7)) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *b++);
        len--;
    }
    /* Three independent streams would hide the instruction's latency; one stream
     * already does ~10 GB/s here, well above what the log needs. */
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        c = __builtin_ia32_crc32di(c, w);
        b += 8;
        len -= 8;
    }
    while (len--)
        c = __builtin_ia32_crc32qi((uint32_t)c, *b++);
    return ~(uint32_t)c;
}
#else
int drift_crc32c_hw_available(void)
{
    return 0;
}

uint32_t drift_crc32c_hw(uint32_t crc, const void *p, size_t len)
{
    return drift_crc32c_sw(crc, p, len);
}
#endif

uint32_t drift_crc32c(uint32_t crc, const void *p, size_t len)
{
    return drift_crc32c_hw_available() ? drift_crc32c_hw(crc, p, len) : drift_crc32c_sw(crc, p, len);
}
