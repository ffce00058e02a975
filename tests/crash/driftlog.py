"""driftlog — an independent reader of DriftDB's log, written from
docs/storage.md only (not from the C code): segment headers, frames, CRC-32C,
the BLAKE2b-256 hash chain. Used by the crash test to cross-check the C
verifier, and usable by hand:  python3 driftlog.py <data_dir>/log
"""
import hashlib
import os
import struct
import sys

SEG_MAGIC = b"DRFTSEG1"
SEG_HDR = 128
FRAME_HDR = 88

_T = []
for n in range(256):
    c = n
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    _T.append(c)


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    t = _T
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


class LogError(Exception):
    pass


def frame_index(log_dir):
    """[(path, offset, len, seq, sync_seq)] of every frame that passes its CRC, in order, for
    tests that damage the log on purpose (no chain checks: use read_log for verification)."""
    out = []
    for name in sorted(n for n in os.listdir(log_dir) if n.endswith(".seg") and len(n) == 24):
        path = os.path.join(log_dir, name)
        with open(path, "rb") as f:
            data = f.read()
        off = SEG_HDR
        while off + FRAME_HDR <= len(data):
            length = struct.unpack_from("<I", data, off)[0]
            if length < FRAME_HDR or length > len(data) - off:
                break
            fr = data[off:off + length]
            if struct.unpack_from("<I", fr, 4)[0] != crc32c(fr[8:], crc32c(fr[:4])):
                break
            seq, _ts, _ep, sync_seq = struct.unpack_from("<QQQQ", fr, 8)
            out.append((path, off, length, seq, sync_seq))
            off += (length + 7) & ~7
    return out


def read_log(log_dir):
    """Yields (seq, ts_ns, body bytes) for every frame; raises LogError on damage.
    A torn tail of the last segment ends the iteration (it is never acknowledged data)."""
    names = sorted(n for n in os.listdir(log_dir) if n.endswith(".seg") and len(n) == 24)
    prev_hash = bytes(32)
    expect = 1
    last_ts = 0
    for i, name in enumerate(names):
        path = os.path.join(log_dir, name)
        with open(path, "rb") as f:
            data = f.read()
        h = data[:SEG_HDR]
        if h[:8] != SEG_MAGIC:
            raise LogError("%s: bad magic" % path)
        version, hsize, seg_id, first_seq, epoch, created, fsize, flags, key_id = struct.unpack_from("<IIQQQQQII", h, 8)
        if version != 1 or hsize != SEG_HDR:
            raise LogError("%s: version %d header %d" % (path, version, hsize))
        if struct.unpack_from("<I", h, 124)[0] != crc32c(h[:124]):
            raise LogError("%s: header CRC" % path)
        if seg_id != int(name[:20]) or first_seq != expect:
            raise LogError("%s: first_seq %d, expected %d" % (path, first_seq, expect))
        if h[64:96] != prev_hash:
            raise LogError("%s: header prev_hash does not link" % path)
        size = min(len(data), fsize)
        off = SEG_HDR
        while off + 4 <= size:
            length = struct.unpack_from("<I", data, off)[0]
            if length == 0:
                break
            ok = FRAME_HDR <= length <= size - off
            if ok:
                fr = data[off:off + length]
                crc = struct.unpack_from("<I", fr, 4)[0]
                ok = crc == crc32c(fr[8:], crc32c(fr[:4]))
            if not ok:
                if i + 1 == len(names):
                    return  # torn tail of the last segment
                raise LogError("%s: offset %d: bad frame in a sealed segment" % (path, off))
            seq, ts, ep, sync_seq, fflags, fkey, hdr_len, _res, raw_len = struct.unpack_from("<QQQQIIHHI", fr, 8)
            if seq != expect or fr[56:88] != prev_hash or ts <= last_ts:
                raise LogError("%s: offset %d: frame %d does not link (expected seq %d)" % (path, off, seq, expect))
            yield seq, ts, fr[hdr_len:]
            prev_hash = hashlib.blake2b(fr, digest_size=32).digest()
            expect = seq + 1
            last_ts = ts
            off += (length + 7) & ~7


if __name__ == "__main__":
    n = 0
    for seq, ts, body in read_log(sys.argv[1]):
        n += 1
    print("ok: %d frames" % n)
