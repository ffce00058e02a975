"""Writer role (issue 3) against the real daemon: the commit protocol,
uniqueness and conflict rules, the control block and PUB announcements,
restart correctness (key map rebuilt from the log, timestamps increasing even
when the wall clock steps back), torn-tail cutting and refusal of a damaged
log, the log lock, async durability. Clients talk straight to the writer's
ipc endpoint (the SQL engine is not built yet)."""
import fcntl
import mmap
import os
import re
import struct
import subprocess
import time
import unittest

import msgpack
import zmq

import driftharness as H

LOGCHECK = os.path.join(H.BUILDDIR, "tests", "crash", "logcheck")


class Writer:
    """A DEALER on the writer endpoint of a data directory."""

    def __init__(self, data_dir, ctx=None):
        self.ctx = ctx or zmq.Context.instance()
        self.ep = "ipc://%s/run/writer.sock" % data_dir
        self.s = self.ctx.socket(zmq.DEALER)
        self.s.setsockopt(zmq.LINGER, 0)
        self.s.connect(self.ep)
        self.next_id = 0

    def raw(self, payload, timeout=5.0):
        self.s.send(payload)
        if not self.s.poll(int(timeout * 1000)):
            return None
        return msgpack.unpackb(self.s.recv())

    def req(self, r, timeout=5.0):
        self.next_id += 1
        r = dict(r)
        r.setdefault("id", self.next_id)
        return self.raw(msgpack.packb(r), timeout)

    def commit(self, ops, snapshot=None, isolation=None, reads=None, timeout=5.0):
        if snapshot is None:
            snapshot = self.ping()["seq"]
        r = {"snapshot": snapshot, "ops": ops}
        if isolation:
            r["isolation"] = isolation
        if reads is not None:
            r["reads"] = reads
        return self.req(r, timeout)

    def ping(self, timeout=5.0):
        return self.req({"op": "ping"}, timeout)

    def close(self):
        self.s.close()


def ins(key, row=None, table=1):
    return {"op": "insert", "table": table, "key": key, "row": row if row is not None else {"v": 1}}


def op(kind, key, row=None, table=1):
    d = {"op": kind, "table": table, "key": key}
    if row is not None:
        d["row"] = row
    return d


def control(data_dir):
    """(epoch, commit_seq, commit_ts, active_segment_id, committed_len, written_seq, writer_state)."""
    with open(os.path.join(data_dir, "run", "control"), "rb") as f:
        m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        try:
            vals = struct.unpack_from("<6Q", m, 72) + struct.unpack_from("<Q", m, 160)
        finally:
            m.close()
    return vals


def logcheck(data_dir):
    p = subprocess.run([LOGCHECK, os.path.join(data_dir, "log")], stdout=subprocess.PIPE, timeout=60)
    out = p.stdout.decode().splitlines()
    return p.returncode, out


def writer_pid(d):
    return d.role_pids().get("writer", [None])[0]


class WriterProtocol(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = H.Daemon(query_workers=1, config={"segment_size": "128KB"}).start()
        cls.w = Writer(cls.d.data_dir)

    @classmethod
    def tearDownClass(cls):
        cls.w.close()
        cls.d.close()

    def ok(self, r):
        self.assertIsNotNone(r, "no reply")
        self.assertTrue(r["ok"], r)
        return r

    def err(self, r, code):
        self.assertIsNotNone(r, "no reply")
        self.assertFalse(r["ok"], r)
        self.assertEqual(r["error"]["code"], code, r)
        return r

    def test_uniqueness(self):
        w = self.w
        r1 = self.ok(w.commit([ins(b"u1")]))
        self.err(w.commit([ins(b"u1")]), "23505")
        self.err(w.commit([ins(b"u2"), ins(b"u2")]), "23505")  # twice in one transaction
        self.ok(w.commit([op("delete", b"u1")]))
        self.ok(w.commit([ins(b"u1", {"again": True})]))  # re-insert after delete
        self.ok(w.commit([ins(b"u1", table=2)]))  # same key, other table
        self.err(w.commit([op("update", b"never", {"x": 1})]), "02000")
        self.err(w.commit([op("delete", b"never")]), "02000")
        # A failed transaction leaves nothing behind: u2 is insertable.
        r = self.ok(w.commit([ins(b"u2")]))
        self.assertGreater(r["seq"], r1["seq"])

    def test_write_write_conflicts(self):
        w = self.w
        base = self.ok(w.commit([ins(b"ww1"), ins(b"ww2")]))["seq"]
        self.ok(w.commit([op("update", b"ww1", {"v": 2})], snapshot=base, isolation="repeatable read"))
        # Same snapshot, same key: first committer wins.
        r = self.err(w.commit([op("update", b"ww1", {"v": 3})], snapshot=base, isolation="repeatable read"), "40001")
        self.assertIn("after snapshot", r["error"]["message"])
        self.err(w.commit([op("delete", b"ww1")], snapshot=base, isolation="serializable"), "40001")
        # Read committed does not check write-write conflicts.
        self.ok(w.commit([op("patch", b"ww1", {"v": 4})], snapshot=base, isolation="read committed"))
        # Another key from the same snapshot is fine.
        self.ok(w.commit([op("update", b"ww2", {"v": 2})], snapshot=base, isolation="repeatable read"))

    def test_serializable_read_set(self):
        w = self.w
        base = self.ok(w.commit([ins(b"r1", table=5), ins(b"r2", table=6)]))["seq"]
        self.ok(w.commit([op("update", b"r1", {"v": 9}, table=5)]))
        self.err(w.commit([ins(b"r3", table=7)], snapshot=base, isolation="serializable",
                          reads=[{"table": 5, "key": b"r1"}]), "40001")
        self.ok(w.commit([ins(b"r3", table=7)], snapshot=base, isolation="serializable",
                         reads=[{"table": 6, "key": b"r2"}]))
        # A whole-table (predicate) read conflicts with any later write to that table.
        self.err(w.commit([ins(b"r4", table=7)], snapshot=base, isolation="serializable",
                          reads=[{"table": 5}]), "40001")
        # reads without serializable is a protocol error.
        self.err(w.commit([ins(b"r5", table=7)], snapshot=base, reads=[{"table": 6}]), "08P01")

    def test_ddl_conflicts(self):
        w = self.w
        base = self.ok(w.commit([ins(b"d1", table=9)]))["seq"]
        # (a ddl row is {"ddl": kind, "def": TABLEDEF}: docs/indexes.md §1; the writer's catalog checks it)
        tdef = {"name": "t9", "version": 1, "columns": [{"id": 1, "name": "k", "type": "BLOB"}], "pk": [1]}
        self.ok(w.commit([{"op": "ddl", "table": 9, "row": {"ddl": "create_table", "def": tdef}}]))
        # Rows written against the old schema are refused whatever the isolation.
        self.err(w.commit([ins(b"d2", table=9)], snapshot=base, isolation="read committed"), "40001")
        self.ok(w.commit([ins(b"d2", table=9)]))

    def test_malformed(self):
        w = self.w
        bad = [b"", b"\xc1", b"\xdd\xdd\xdd\xdd\xdd\x00\x00\x00\x00", b"\x91" * 1000 + b"\x00",
               msgpack.packb([1, 2, 3]), msgpack.packb({"id": 7, "ops": "x", "snapshot": 0}),
               msgpack.packb({"id": 8, "ops": [{"op": "insert", "table": -1, "key": b"k", "row": 1}], "snapshot": 0}),
               msgpack.packb({"id": 9, "ops": [{"op": "frob", "table": 1, "key": b"k", "row": 1}], "snapshot": 0}),
               msgpack.packb({"id": 10, "ops": [{"op": "insert", "table": 1, "key": "str", "row": 1}], "snapshot": 0}),
               msgpack.packb({"id": 11, "ops": [], "snapshot": 0}),
               msgpack.packb({"id": 12, "ops": [ins(b"k")]}),
               msgpack.packb({"id": 13, "ops": [ins(b"k")], "snapshot": 0, "isolation": "chaos"}),
               msgpack.packb({"id": 14, "ops": [ins(b"k")], "snapshot": 0, "extra": 1}),
               msgpack.packb({"id": 15, "ops": [ins(b"k")], "snapshot": 10 ** 12})]
        for payload in bad:
            r = w.raw(payload)
            self.assertIsNotNone(r, payload[:20])
            self.assertFalse(r["ok"])
            self.assertEqual(r["error"]["code"], "08P01", (payload[:40], r))
        self.assertEqual(w.raw(msgpack.packb({"id": 13, "snapshot": 0, "ops": [ins(b"k")], "isolation": "x"}))["id"], 13)
        self.assertTrue(w.ping()["ok"])  # still alive

    def test_control_block_and_pub(self):
        w = self.w
        sub = zmq.Context.instance().socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect("ipc://%s/run/commits.sock" % self.d.data_dir)
        time.sleep(0.2)  # slow joiner
        r = self.ok(w.commit([ins(b"pub1")]))
        self.assertTrue(sub.poll(5000), "no announcement on commits.sock")
        seen = 0
        while sub.poll(200):
            seen = max(seen, msgpack.unpackb(sub.recv())["seq"])
        sub.close()
        self.assertGreaterEqual(seen, r["seq"])
        epoch, commit_seq, commit_ts, active, clen, written, state = control(self.d.data_dir)
        self.assertGreaterEqual(commit_seq, r["seq"])
        self.assertEqual(written, commit_seq)  # durability = sync
        self.assertGreaterEqual(commit_ts, r["ts"])
        self.assertGreaterEqual(epoch, 1)
        self.assertGreater(clen, 128)
        self.assertEqual(state, 0)
        self.assertTrue(os.path.exists(os.path.join(self.d.data_dir, "log", "%020d.seg" % active)))

    def test_log_lock(self):
        fd = os.open(os.path.join(self.d.data_dir, "log", "LOCK"), os.O_RDWR)
        try:
            with self.assertRaises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)

    def test_many_clients_rotation_and_reader(self):
        ctx = zmq.Context.instance()
        socks = [ctx.socket(zmq.DEALER) for _ in range(16)]
        for s in socks:
            s.setsockopt(zmq.LINGER, 0)
            s.connect(self.w.ep)
        snap = self.w.ping()["seq"]
        for i, s in enumerate(socks):
            for j in range(50):
                s.send(msgpack.packb({"id": j, "snapshot": snap,
                                      "ops": [ins(b"mc-%d-%d-%d" % (i, j, k), {"pad": "y" * 200}, table=3)
                                              for k in range(3)]}))
        seqs = []
        for s in socks:
            for _ in range(50):
                self.assertTrue(s.poll(10000))
                r = msgpack.unpackb(s.recv())
                self.assertTrue(r["ok"], r)
                seqs.append(r["seq"])
            s.close()
        self.assertEqual(len(set(seqs)), len(seqs))
        rc, out = logcheck(self.d.data_dir)
        self.assertEqual(rc, 0, out[-1:])
        self.assertIn("END ok", out[-1])
        segs = int(re.search(r"segments=(\d+)", out[-1]).group(1))
        self.assertGreater(segs, 2)  # 800 frames of ~700 bytes over 128 KB segments rotated
        ts = [int(l.split()[2]) for l in out if l.startswith("F ")]
        self.assertEqual(ts, sorted(set(ts)))


class WriterRestart(unittest.TestCase):
    def test_restart_keeps_keys_and_time(self):
        d = H.Daemon(query_workers=1)
        d.start()
        try:
            w = Writer(d.data_dir)
            r1 = w.commit([ins(b"persist")])
            self.assertTrue(r1["ok"])
            pid = writer_pid(d)
            os.kill(pid, 9)
            H.wait_for(lambda: writer_pid(d) not in (None, pid), 20, what="writer restart")
            H.wait_for(lambda: w.ping(1.0), 20, what="writer answers")
            # A ping that timed out is answered later: a fresh socket leaves such replies behind.
            w.close()
            w = Writer(d.data_dir)
            # The key map was rebuilt from the log: the key is still live.
            self.assertEqual(w.commit([ins(b"persist")])["error"]["code"], "23505")
            self.assertIn("recovered 1 frames", d.log())
            w.close()
            self.assertEqual(d.stop(), 0)
            # The wall clock "steps back" one hour: timestamps still increase.
            d2 = H.Daemon(data_dir=d.data_dir, query_workers=1, env={"DRIFT_FAULT": "clock_back:3600"}).start()
            try:
                w = Writer(d2.data_dir)
                r2 = w.commit([ins(b"later")])
                r3 = w.commit([ins(b"later2")])
                self.assertTrue(r2["ok"] and r3["ok"])
                self.assertGreater(r2["ts"], r1["ts"])
                self.assertGreater(r3["ts"], r2["ts"])
                self.assertLess(r3["ts"] - r1["ts"], 3600 * 10 ** 9 // 2)
                w.close()
            finally:
                d2.close()
        finally:
            d.close()

    def test_torn_tail_cut_and_damage_refused(self):
        d = H.Daemon(query_workers=1, config={"segment_size": "64KB"}).start()
        data = d.data_dir
        try:
            w = Writer(data)
            for i in range(300):
                self.assertTrue(w.commit([ins(b"t%d" % i, {"pad": "z" * 400})], snapshot=0)["ok"])
            w.close()
            self.assertEqual(d.stop(), 0)
            log = os.path.join(data, "log")
            segs = sorted(n for n in os.listdir(log) if n.endswith(".seg"))
            self.assertGreater(len(segs), 2)
            rc, out = logcheck(data)
            last_seq = int(re.search(r"last_seq=(\d+)", out[-1]).group(1))
            # Torn tail: garbage after the last frame of the last segment.
            last = os.path.join(log, segs[-1])
            end = max(int(l.split()[1]) for l in out if l.startswith("F "))
            self.assertEqual(end, last_seq)
            with open(last, "r+b") as f:
                data_bytes = f.read()
                tail = len(data_bytes.rstrip(b"\0"))
                f.seek((tail + 7) & ~7)
                f.write(b"\xab" * 333)
            d2 = H.Daemon(data_dir=data, query_workers=1, config={"segment_size": "64KB"}).start()
            try:
                H.wait_for(lambda: "cut a torn tail" in d2.log(), 10, what="torn tail message")
                self.assertRegex(d2.log(), r"cut a torn tail of 33[6-9] bytes at offset \d+ of segment %s" % segs[-1])
                w = Writer(data)
                self.assertEqual(w.ping()["seq"], last_seq)
                w.close()
            finally:
                d2.close()
            # Damage in a sealed segment: refuse to start, name file and offset, exit code 2.
            mid = os.path.join(log, segs[1])
            with open(mid, "r+b") as f:
                f.seek(128 + 30)
                b = f.read(1)
                f.seek(128 + 30)
                f.write(bytes([b[0] ^ 0x40]))
            d3 = H.Daemon(data_dir=data, query_workers=1)
            d3.start(wait_ready=False)
            try:
                code = d3.proc.wait(30)
                self.assertEqual(code, 2, d3.log())
                self.assertRegex(d3.log(), r"refusing to start.*%s: offset 128: frame fails its CRC" % segs[1])
            finally:
                d3.close()
        finally:
            d.close()


class WriterAsync(unittest.TestCase):
    def test_async_durability(self):
        with H.Daemon(query_workers=1, config={"durability": "async", "sync_interval": "300ms"}) as d:
            w = Writer(d.data_dir)
            seqs = [w.commit([ins(b"a%d" % i)], snapshot=0)["seq"] for i in range(20)]
            _, commit_seq, _, _, _, written, _ = control(d.data_dir)
            self.assertEqual(written, seqs[-1])  # acknowledged = written
            self.assertLessEqual(commit_seq, written)  # durable may lag
            H.wait_for(lambda: control(d.data_dir)[1] == seqs[-1], 5, what="commit_seq catching up after sync_interval")
            w.close()

    def test_async_stop_syncs(self):
        # sync_interval far away: only the orderly stop can make the last commits durable.
        d = H.Daemon(query_workers=1, config={"durability": "async", "sync_interval": "1h"}).start()
        try:
            w = Writer(d.data_dir)
            first = w.commit([ins(b"s0")], snapshot=0)["seq"]
            H.wait_for(lambda: control(d.data_dir)[1] >= first - 1, 5, what="startup position")
            seqs = [w.commit([ins(b"s%d" % i)], snapshot=0)["seq"] for i in range(1, 6)]
            w.close()
            self.assertLess(control(d.data_dir)[1], seqs[-1])  # not durable yet
            self.assertEqual(d.stop(), 0)
            self.assertTrue(os.path.exists(os.path.join(d.data_dir, "run", "control")))
            _, commit_seq, _, _, _, written, _ = control(d.data_dir)
            self.assertEqual(written, seqs[-1])
            self.assertEqual(commit_seq, seqs[-1])  # synced before exiting
        finally:
            d.close()


if __name__ == "__main__":
    unittest.main()
