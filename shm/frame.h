/* shm/frame.h — one log frame = one committed transaction (byte layout in
 * docs/storage.md, "Frame").
 *
 *   off size field
 *     0   4  len        header + body bytes, unpadded; the next frame starts at align8(len)
 *     4   4  crc32c     CRC-32C of bytes [0,4) then [8,len) (everything but itself)
 *     8   8  seq        commit sequence number, dense, from 1
 *    16   8  ts_ns      commit time, ns since the Unix epoch, strictly increasing
 *    24   8  epoch      writer/primary epoch (fencing), never decreases
 *    32   8  sync_seq   every frame with seq <= sync_seq was durable before this one was written
 *    40   4  flags      DRIFT_FRAME_F_*; unknown bits make a reader refuse the frame
 *    44   4  key_id     cipher key id when SEALED, else 0
 *    48   2  hdr_len    88 in format 1; the body starts here (room for later header fields)
 *    50   2  reserved   0
 *    52   4  raw_len    body length before compression (== stored body length when not LZ4)
 *    56  32  prev_hash  BLAKE2b-256 of the previous frame's bytes [0,len); zeros before seq 1
 *    88   …  body       MessagePack array of operations (ipc/commit.h), possibly LZ4 then sealed
 *
 * All integers little-endian. Pure functions over caller buffers; no state,
 * safe from any thread or process. */
#ifndef DRIFT_SHM_FRAME_H
#define DRIFT_SHM_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define DRIFT_FRAME_HDR_LEN 88u
#define DRIFT_FRAME_ALIGN 8u
#define DRIFT_HASH_LEN 32u
/* Largest frame any reader accepts (plausibility bound while scanning). */
#define DRIFT_FRAME_MAX_LEN (1u << 30)

/* flags */
#define DRIFT_FRAME_F_LZ4 0x1u    /* body is one LZ4 block; raw_len is its decompressed size */
#define DRIFT_FRAME_F_SEALED 0x2u /* body = nonce[24] | XChaCha20-Poly1305 ciphertext | tag[16] */
#define DRIFT_FRAME_F_KNOWN (DRIFT_FRAME_F_LZ4 | DRIFT_FRAME_F_SEALED)

/* A decoded frame header; body/bytes point into the caller's buffer (borrowed). */
typedef struct {
    uint32_t len;
    uint32_t crc;
    uint64_t seq;
    uint64_t ts_ns;
    uint64_t epoch;
    uint64_t sync_seq;
    uint32_t flags;
    uint32_t key_id;
    uint16_t hdr_len;
    uint32_t raw_len;
    uint8_t prev_hash[DRIFT_HASH_LEN];
    const uint8_t *bytes; /* the whole frame, len bytes */
    const uint8_t *body;  /* bytes + hdr_len */
    uint32_t body_len;    /* len - hdr_len */
} drift_frame_t;

static inline void drift_le_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void drift_le_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void drift_le_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t drift_le_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t drift_le_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t drift_le_get64(const uint8_t *p)
{
    return (uint64_t)drift_le_get32(p) | (uint64_t)drift_le_get32(p + 4) << 32;
}

/* Bytes a frame with body_len body bytes occupies in a segment (header + body + padding to 8). */
static inline size_t drift_frame_size(size_t body_len)
{
    return (DRIFT_FRAME_HDR_LEN + body_len + DRIFT_FRAME_ALIGN - 1) & ~(size_t)(DRIFT_FRAME_ALIGN - 1);
}

/* Writes a frame into buf (cap bytes): header fields from f (len, crc, hdr_len, bytes, body are
 * ignored and computed), then body, then zero padding; *ret_size = padded size.
 * Returns 0, -ENOSPC when cap is too small, DRIFT_ETOOBIG past DRIFT_FRAME_MAX_LEN, -EINVAL for unknown flags. */
int drift_frame_encode(uint8_t *buf, size_t cap, const drift_frame_t *f, const void *body, size_t body_len,
                       size_t *ret_size);

/* Decodes and verifies the frame at p (avail readable bytes). Returns 0 and fills *ret, or:
 * DRIFT_ENOTFOUND  len == 0 (no frame here: the zeroed rest of a segment),
 * DRIFT_ETRUNCATED the header or the declared length runs past avail,
 * DRIFT_ECORRUPT   CRC mismatch, implausible len/hdr_len, non-zero reserved or padding bytes,
 * DRIFT_EVERSION   valid CRC but flags this build does not know. */
int drift_frame_decode(const uint8_t *p, size_t avail, drift_frame_t *ret);

/* Reads the header fields of a frame that drift_frame_decode already verified (recovery's
 * second pass over a verified segment): the length checks only, no CRC, padding or flags
 * check. Never use it on bytes that were not verified. Same return codes. */
int drift_frame_parse(const uint8_t *p, size_t avail, drift_frame_t *ret);

/* The CRC a frame of len bytes at p should carry. */
uint32_t drift_frame_crc(const uint8_t *p, uint32_t len);

/* BLAKE2b-256 of a frame's bytes [0,len): the next frame's prev_hash. */
void drift_frame_hash(const uint8_t *p, uint32_t len, uint8_t out[DRIFT_HASH_LEN]);

#endif
