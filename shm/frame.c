/* shm/frame.c — see frame.h. Stateless; libsodium's crypto_generichash is
 * thread-safe without sodium_init() (it does not use the RNG). */
#include "shm/frame.h"

#include <errno.h>
#include <sodium.h>

#include "common/crc32c.h"
#include "common/errors.h"

uint32_t drift_frame_crc(const uint8_t *p, uint32_t len)
{
    uint32_t c = drift_crc32c(0, p, 4);
    return drift_crc32c(c, p + 8, len - 8);
}

void drift_frame_hash(const uint8_t *p, uint32_t len, uint8_t out[DRIFT_HASH_LEN])
{
    crypto_generichash(out, DRIFT_HASH_LEN, p, len, NULL, 0);
}

int drift_frame_encode(uint8_t *buf, size_t cap, const drift_frame_t *f, const void *body, size_t body_len,
                       size_t *ret_size)
{
    if (f->flags & ~DRIFT_FRAME_F_KNOWN)
        return -EINVAL;
    if (body_len > DRIFT_FRAME_MAX_LEN - DRIFT_FRAME_HDR_LEN)
        return DRIFT_ETOOBIG;
    size_t len = DRIFT_FRAME_HDR_LEN + body_len;
    size_t padded = drift_frame_size(body_len);
    if (padded > cap)
        return -ENOSPC;
    drift_le_put32(buf, (uint32_t)len);
    drift_le_put64(buf + 8, f->seq);
    drift_le_put64(buf + 16, f->ts_ns);
    drift_le_put64(buf + 24, f->epoch);
    drift_le_put64(buf + 32, f->sync_seq);
    drift_le_put32(buf + 40, f->flags);
    drift_le_put32(buf + 44, f->key_id);
    drift_le_put16(buf + 48, DRIFT_FRAME_HDR_LEN);
    drift_le_put16(buf + 50, 0);
    drift_le_put32(buf + 52, (f->flags & DRIFT_FRAME_F_LZ4) ? f->raw_len : (uint32_t)body_len);
    memcpy(buf + 56, f->prev_hash, DRIFT_HASH_LEN);
    if (body_len)
        memcpy(buf + DRIFT_FRAME_HDR_LEN, body, body_len);
    memset(buf + len, 0, padded - len);
    drift_le_put32(buf + 4, drift_frame_crc(buf, (uint32_t)len));
    *ret_size = padded;
    return 0;
}

/* The structural part of decoding, shared by decode and parse: lengths and header fields, no CRC. */
static int s_parse(const uint8_t *p, size_t avail, drift_frame_t *ret)
{
    if (avail < 4)
        return avail && p[0] ? DRIFT_ETRUNCATED : DRIFT_ENOTFOUND;
    uint32_t len = drift_le_get32(p);
    if (len == 0)
        return DRIFT_ENOTFOUND;
    if (len < DRIFT_FRAME_HDR_LEN || len > DRIFT_FRAME_MAX_LEN)
        return DRIFT_ECORRUPT;
    if (avail < DRIFT_FRAME_HDR_LEN || len > avail)
        return DRIFT_ETRUNCATED;
    uint16_t hdr_len = drift_le_get16(p + 48);
    if (hdr_len < DRIFT_FRAME_HDR_LEN || hdr_len > len || (hdr_len & (DRIFT_FRAME_ALIGN - 1)))
        return DRIFT_ECORRUPT;
    ret->len = len;
    ret->crc = drift_le_get32(p + 4);
    ret->seq = drift_le_get64(p + 8);
    ret->ts_ns = drift_le_get64(p + 16);
    ret->epoch = drift_le_get64(p + 24);
    ret->sync_seq = drift_le_get64(p + 32);
    ret->flags = drift_le_get32(p + 40);
    ret->key_id = drift_le_get32(p + 44);
    ret->hdr_len = hdr_len;
    ret->raw_len = drift_le_get32(p + 52);
    memcpy(ret->prev_hash, p + 56, DRIFT_HASH_LEN);
    ret->bytes = p;
    ret->body = p + hdr_len;
    ret->body_len = len - hdr_len;
    return 0;
}

int drift_frame_decode(const uint8_t *p, size_t avail, drift_frame_t *ret)
{
    drift_frame_t f;
    int rc = s_parse(p, avail, &f);
    if (rc < 0)
        return rc;
    if (f.crc != drift_frame_crc(p, f.len))
        return DRIFT_ECORRUPT;
    /* Padding to the next 8-byte boundary must be zero when it is within reach. */
    size_t padded = (f.len + DRIFT_FRAME_ALIGN - 1) & ~(size_t)(DRIFT_FRAME_ALIGN - 1);
    for (size_t i = f.len; i < padded && i < avail; i++)
        if (p[i])
            return DRIFT_ECORRUPT;
    if (drift_le_get16(p + 50) != 0)
        return DRIFT_ECORRUPT;
    *ret = f;
    if (ret->flags & ~DRIFT_FRAME_F_KNOWN)
        return DRIFT_EVERSION;
    return 0;
}

int drift_frame_parse(const uint8_t *p, size_t avail, drift_frame_t *ret)
{
    return s_parse(p, avail, ret);
}
