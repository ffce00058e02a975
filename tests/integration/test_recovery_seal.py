"""Seal records (docs/storage.md, "Seal record") on the real daemon: the writer writes
log/<id>.seal for every segment a rotation seals; a restart CRC-checks those segments but does not
re-hash them (the writer's "recovered ..." line counts the hashed bytes); a damaged, missing or
stale seal record only means a full verification of that segment (no error, no loss, the record is
rewritten); damage inside a sealed segment that has a valid record is still refused with file and
offset; a writer killed (SIGKILL) between a rotation and its seal record loses nothing; the offline
checker (tests/crash/logcheck: drift_recovery_run, every byte hashed) reports as before."""
import os
import re
import time
import unittest

import driftharness as H
from test_writer import Writer, ins, logcheck, writer_pid

CFG = {"segment_size": "64KB"}
LINE = re.compile(r"recovered (\d+) frames in (\d+) segments .*?hashed (\d+) bytes, (\d+) sealed segments by seal "
                  r"record, (\d+) seal records rejected, (\d+) written")


def segs_and_seals(data):
    log = os.path.join(data, "log")
    names = os.listdir(log)
    segs = sorted(n[:-4] for n in names if n.endswith(".seg"))
    seals = sorted(n[:-5] for n in names if n.endswith(".seal"))
    return segs, seals


def recoveries(d):
    """(frames, segments, hashed, by_seal, rejected, written) of every writer start in d's log."""
    return [tuple(int(x) for x in m.groups()) for m in LINE.finditer(d.log())]


def fill(data, n, prefix):
    w = Writer(data)
    for i in range(n):
        r = w.commit([ins(b"%s%d" % (prefix, i), {"pad": "z" * 400})], snapshot=0)
        assert r and r["ok"], r
    last = w.ping()["seq"]
    w.close()
    return last


class SealRecords(unittest.TestCase):
    def test_written_used_and_damage_still_refused(self):
        d = H.Daemon(query_workers=1, config=CFG).start()
        data = d.data_dir
        try:
            last = fill(data, 300, b"k")
            self.assertEqual(d.stop(), 0)
            segs, seals = segs_and_seals(data)
            self.assertGreater(len(segs), 2)
            self.assertEqual(seals, segs[:-1])  # every sealed segment got its record at rotation
            seg_bytes = os.path.getsize(os.path.join(data, "log", segs[-1] + ".seg"))
            d2 = H.Daemon(data_dir=data, query_workers=1, config=CFG).start()
            try:
                frames, nseg, hashed, by_seal, rejected, written = recoveries(d2)[-1]
                self.assertEqual((frames, nseg), (last, len(segs)))
                self.assertEqual((by_seal, rejected, written), (len(segs) - 1, 0, 0))
                # the last segment, and the last frame of each sealed one (against its record's chain head)
                self.assertLess(hashed, seg_bytes + (len(segs) - 1) * 1024)
                w = Writer(data)
                self.assertEqual(w.ping()["seq"], last)
                r = w.commit([ins(b"k7")], snapshot=0)  # the key map was rebuilt: still a duplicate
                self.assertEqual(r["error"]["code"], "23505")
                w.close()
            finally:
                d2.close()
            rc, out = logcheck(data)  # offline verification: unchanged, every byte
            self.assertEqual(rc, 0, out[-3:])
            # A bit flip inside a sealed segment whose record is valid: refused, file and offset named.
            mid = os.path.join(data, "log", segs[1] + ".seg")
            with open(mid, "r+b") as f:
                f.seek(128 + 200)
                b = f.read(1)
                f.seek(128 + 200)
                f.write(bytes([b[0] ^ 0x40]))
            d3 = H.Daemon(data_dir=data, query_workers=1, config=CFG)
            d3.start(wait_ready=False)
            try:
                self.assertEqual(d3.proc.wait(30), 2, d3.log())
                self.assertRegex(d3.log(), r"refusing to start.*%s\.seg: offset 128: frame fails its CRC" % segs[1])
            finally:
                d3.close()
        finally:
            d.close()

    def test_damaged_missing_stale_seal_falls_back(self):
        d = H.Daemon(query_workers=1, config=CFG).start()
        data = d.data_dir
        try:
            last = fill(data, 800, b"k")
            self.assertEqual(d.stop(), 0)
            segs, seals = segs_and_seals(data)
            self.assertGreater(len(seals), 5)
            log = os.path.join(data, "log")
            with open(os.path.join(log, seals[0] + ".seal"), "r+b") as f:  # garbled (bad checksum)
                f.seek(40)
                f.write(b"\xff\xff")
            os.truncate(os.path.join(log, seals[1] + ".seal"), 50)  # torn
            os.unlink(os.path.join(log, seals[2] + ".seal"))  # missing (a log from before seal records)
            # stale: the record of another segment under this name (a valid checksum, the wrong segment)
            with open(os.path.join(log, seals[4] + ".seal"), "rb") as g:
                other = g.read()
            with open(os.path.join(log, seals[3] + ".seal"), "wb") as f:
                f.write(other)
            d2 = H.Daemon(data_dir=data, query_workers=1, config=CFG).start()
            try:
                frames, nseg, hashed, by_seal, rejected, written = recoveries(d2)[-1]
                self.assertEqual((frames, nseg), (last, len(segs)))
                self.assertEqual(by_seal, len(segs) - 1 - 4)
                self.assertEqual(rejected, 3)  # garbled, torn, stale; a missing one is not a rejection
                self.assertEqual(written, 4)
                w = Writer(data)
                self.assertEqual(w.ping()["seq"], last)
                w.close()
                self.assertEqual(d2.stop(), 0)
            finally:
                d2.close()
            self.assertEqual(segs_and_seals(data)[1], segs[:-1])
            d3 = H.Daemon(data_dir=data, query_workers=1, config=CFG).start()
            try:
                self.assertEqual(recoveries(d3)[-1][3:], (len(segs) - 1, 0, 0))  # fast again
            finally:
                d3.close()
        finally:
            d.close()

    def test_kill_between_rotation_and_seal_loses_nothing(self):
        # DRIFT_FAULT=seal_kill: the writer SIGKILLs itself right after a rotation (the new segment
        # installed, its commits acknowledged) before writing the sealed segment's record.
        d = H.Daemon(query_workers=1, config=CFG, env={"DRIFT_FAULT": "seal_kill"}).start()
        data = d.data_dir
        try:
            pid0 = writer_pid(d)
            w = Writer(data)
            acked = []
            i = 0
            t0 = time.monotonic()
            while writer_pid(d) == pid0 and time.monotonic() - t0 < 60:
                r = w.commit([ins(b"a%d" % i, {"pad": "y" * 400})], snapshot=0, timeout=2.0)
                if r and r.get("ok"):
                    acked.append(b"a%d" % i)
                i += 1
            self.assertNotEqual(writer_pid(d), pid0, "the writer did not die at the seal point")
            H.wait_for(lambda: len(recoveries(d)) >= 2, 30, what="the writer's second start")
            frames, nseg, hashed, by_seal, rejected, written = recoveries(d)[-1]
            self.assertGreaterEqual(nseg, 2)
            self.assertEqual(written, nseg - 1)  # the unsealed segment was verified in full and sealed
            w.close()
            w = Writer(data)
            seq = None
            t0 = time.monotonic()
            while seq is None and time.monotonic() - t0 < 30:
                r = w.ping(timeout=1.0)
                seq = r and r["seq"]
            self.assertGreaterEqual(seq, len(acked))
            for k in acked:  # every acknowledged insert is there: inserting it again is a duplicate
                r = w.commit([ins(k)], snapshot=0)
                self.assertEqual(r["error"]["code"], "23505", k)
            w.close()
            segs, seals = segs_and_seals(data)
            self.assertEqual(seals, segs[:-1])
            rc, out = logcheck(data)
            self.assertEqual(rc, 0, out[-3:])
        finally:
            d.close()


if __name__ == "__main__":
    unittest.main()
