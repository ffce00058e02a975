/* common/crc32c.h — CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the
 * checksum of every segment header and log frame.
 *
 * Uses the SSE4.2 `crc32` instruction when the CPU has it (checked once, at
 * the first call, with __builtin_cpu_supports) and a slicing-by-8 table
 * otherwise. Pure functions; the one-time dispatch is race-free (every thread
 * computes the same answer) so callers need no lock. */
#ifndef DRIFT_COMMON_CRC32C_H
#define DRIFT_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 for a fresh checksum) over len bytes at p; returns the new CRC-32C
 * (pre- and post-inverted, so crc32c("123456789") == 0xE3069283). */
uint32_t drift_crc32c(uint32_t crc, const void *p, size_t len);

/* The same with a forced implementation (tests and benchmarks). */
uint32_t drift_crc32c_sw(uint32_t crc, const void *p, size_t len);
/* Hardware version; only valid when drift_crc32c_hw_available() returns 1. */
uint32_t drift_crc32c_hw(uint32_t crc, const void *p, size_t len);
/* 1 when the SSE4.2 crc32 instruction is usable on this CPU. */
int drift_crc32c_hw_available(void);

#endif
