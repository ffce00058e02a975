"""Hostile input: a fixed corpus and 10 000 random messages; the daemon keeps answering,
nothing crashes, and the gateway's memory stays bounded."""
import os
import random
import sys
import time
import unittest

import msgpack
import zmq

from driftharness import Daemon
from protoutil import Raw, pack, rss_kb, wait_ping


def corpus():
    """(name, bytes, expected reply code or None when the message must be dropped, id)."""
    items = [
        ("empty", b"", None, None),
        ("invalid msgpack", b"\xc1\xc1\xc1", None, None),
        ("dd declared lengths", bytes.fromhex("dddddddddd00000000"), None, None),
        ("str32 of 4 GiB", b"\xdb\xff\xff\xff\xff" + b"a" * 10, None, None),
        ("map32 of 4G pairs", b"\xdf\xff\xff\xff\xff\xa2id\x01", "08P01", 1),  # the id is readable
        ("bin32 huge after id", b"\x82\xa2id\x0b\xa3sql\xc6\x7f\xff\xff\xff", "08P01", 11),
        ("array nested 1000 deep", b"\x91" * 1000 + b"\xc0", None, None),
        ("params nested 1000 deep with id", b"\x83\xa2id\x0c\xa2op\xa5query\xa6params" + b"\x91" * 1000 + b"\xc0",
         "08P01", 12),
        ("not a map", msgpack.packb([1, 2, 3]), None, None),
        ("id is a string", msgpack.packb({"id": "13", "op": "ping"}), None, None),
        ("op is an int", msgpack.packb({"id": 14, "op": 1}), "08P01", 14),
        ("sql is a map", msgpack.packb({"id": 15, "op": "query", "sql": {"a": 1}}), "08P01", 15),
        ("params is a string", msgpack.packb({"id": 16, "op": "query", "sql": "SELECT 1", "params": "x"}),
         "08P01", 16),
        ("unknown op", msgpack.packb({"id": 17, "op": "drop_everything"}), "08P01", 17),
        ("trailing bytes", msgpack.packb({"id": 18, "op": "ping"}) + b"\x00", "08P01", 18),
        ("ext type", b"\x82\xa2id\x13\xa2op\xd4\x01\x00", "08P01", 19),
        ("truncated sql", msgpack.packb({"id": 20, "op": "query", "sql": "SELECT 12345"})[:-4], "08P01", 20),
        ("chunk_rows zero", msgpack.packb({"id": 21, "op": "query", "sql": "SELECT 1", "chunk_rows": 0}),
         "08P01", 21),
        ("id too large for an int", msgpack.packb({"id": 2.5, "op": "ping"}), None, None),
    ]
    return items


class HostileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Under ASan, freed memory sits in a quarantine (256 MB by default) and RSS measures that:
        # keep it small so the RSS bound measures the gateway, not the sanitizer.
        asan = os.environ.get("ASAN_OPTIONS", "")
        cls.d = Daemon(query_workers=2, config={"max_message_size": "64KB"},
                       env={"ASAN_OPTIONS": (asan + ":" if asan else "") + "quarantine_size_mb=4"})
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        cls.d.close()

    def gateway_pid(self):
        return self.d.role_pids()["gateway"][0]

    def test_fixed_corpus(self):
        pids = self.d.role_pids()
        c = Raw(self.d.endpoint, timeout_ms=3000)
        for name, data, code, rid in corpus():
            c.send(data)
            if code is None:
                self.assertFalse(c.poll(150), "%s: expected no reply" % name)
            else:
                r = c.recv()
                self.assertEqual((r["id"], r["ok"], r["error"]["code"]), (rid, False, code), (name, r))
            # the daemon keeps answering on the same socket
            r = c.call(id=999, op="ping")
            self.assertTrue(r["ok"], name)
        c.close()
        # REQ clients get an 08P01 reply even without a readable id (a REQ socket must get an answer)
        q = Raw(self.d.endpoint, zmq.REQ, timeout_ms=3000)
        q.send(b"\xc1")
        r = q.recv()
        self.assertEqual((r["id"], r["error"]["code"]), (None, "08P01"))
        self.assertTrue(q.call(id=1, op="ping")["ok"])
        q.close()
        # nothing restarted
        self.assertEqual(self.d.role_pids(), pids)

    def test_over_size_limit(self):
        pid = self.gateway_pid()
        c = Raw(self.d.endpoint, timeout_ms=3000)
        big = pack(id=30, op="query", sql="SELECT '" + "x" * (100 * 1024) + "'")
        c.send(big)  # over max_message_size: libzmq drops it and closes that connection
        self.assertFalse(c.poll(300))
        c.close()
        c = Raw(self.d.endpoint, timeout_ms=3000)
        self.assertTrue(c.call(id=31, op="ping")["ok"])
        # just under the limit works
        r = c.call(id=32, op="query", sql="SELECT '" + "y" * (60 * 1024) + "'")
        self.assertTrue(r["ok"], r.get("error"))
        self.assertEqual(len(r["rows"][0][0]), 60 * 1024)
        c.close()
        self.assertEqual(self.gateway_pid(), pid)

    def test_random_messages_rss_bounded(self):
        rng = random.Random(1234)
        pid = self.gateway_pid()
        wpids = self.d.role_pids()["query"]
        valid = pack(id=5, op="query", sql="SELECT $1 + 1 AS x", params=[1], traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01")

        def batch(n):
            c = Raw(self.d.endpoint, timeout_ms=5000)
            for i in range(n):
                k = rng.random()
                if k < 0.4:
                    m = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 200)))
                elif k < 0.9:
                    b = bytearray(valid)
                    for _ in range(rng.randrange(1, 4)):
                        b[rng.randrange(len(b))] = rng.getrandbits(8)
                    m = bytes(b[:rng.randrange(1, len(b) + 1)]) if rng.random() < 0.3 else bytes(b)
                else:
                    m = pack(id=i, op=rng.choice(["ping", "query", "nope"]), sql=rng.choice(["SELECT 1", "SELECT (", 7]))
                c.send(m)
            # drain whatever replies came, then prove liveness
            time.sleep(0.2)
            while c.poll(50):
                c.sock.recv()
            r = c.call(id=424242, op="ping")
            while r.get("id") != 424242:
                r = c.recv()
            self.assertTrue(r["ok"])
            c.close()

        batch(2000)
        rss0 = rss_kb(pid)
        batch(10000)
        rss1 = rss_kb(pid)
        sys.stderr.write("gateway RSS after 2000 random messages %d KiB, after 10000 more %d KiB\n" % (rss0, rss1))
        self.assertEqual(self.gateway_pid(), pid, "gateway restarted")
        self.assertEqual(self.d.role_pids()["query"], wpids, "a worker restarted")
        self.assertLess(rss1 - rss0, 16 * 1024, "gateway RSS grew from %d to %d KiB" % (rss0, rss1))
        wait_ping(self.d.endpoint)


if __name__ == "__main__":
    unittest.main()
