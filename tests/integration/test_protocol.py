"""Protocol conformance through raw pyzmq REQ and DEALER sockets (docs/protocol.md)."""
import random
import re
import time
import unittest

import zmq

from driftharness import Daemon, wait_for
from protoutil import Raw, pack, unpack


class ProtocolTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(query_workers=2, config={"max_inflight_per_client": "20000"})
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        cls.d.close()

    def important_log(self):
        """The daemon's log without debug lines (for failure messages)."""
        return "\n".join(l for l in self.d.log().splitlines() if not l.startswith("<7>"))[-4000:]

    def test_req_ping_and_select(self):
        c = Raw(self.d.endpoint, zmq.REQ)
        r = c.call(id=1, op="ping")
        self.assertEqual(r["id"], 1)
        self.assertIs(r["ok"], True)
        self.assertIsInstance(r["seq"], int)
        self.assertTrue(r["server"].startswith("driftdb "), r)
        r = c.call(id=2, op="query", sql="SELECT 1")
        self.assertEqual((r["id"], r["ok"], r["rows"]), (2, True, [[1]]))
        self.assertEqual(len(r["columns"]), 1)
        self.assertNotIn("more", r)
        r = c.call(id=3, op="query", sql="SELECT $1 + 1 AS x, $2 || '!' AS s, $3", params=[41, "hi", None])
        self.assertEqual(r["columns"], ["x", "s", "$3"])
        self.assertEqual(r["rows"], [[42, "hi!", None]])
        self.assertEqual(r["types"], ["INTEGER", "TEXT", "NULL"])
        c.close()

    def test_values_roundtrip(self):
        c = Raw(self.d.endpoint)
        params = [None, True, False, -5, 2 ** 63 - 1, 1.25, "tëxt", b"\x00\xff"]
        sql = "SELECT " + ", ".join("$%d" % (i + 1) for i in range(len(params)))
        r = c.call(id=9, op="query", sql=sql, params=params)
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["rows"], [params])
        self.assertEqual(r["types"], ["NULL", "BOOLEAN", "BOOLEAN", "INTEGER", "INTEGER", "REAL", "TEXT", "BLOB"])
        c.close()

    def test_sql_errors(self):
        c = Raw(self.d.endpoint)
        cases = [("SELECT 1 +", "42601", 11), ("SELEKT 1", "42601", 1), ("SELECT nosuch(1)", "42883", 8),
                 ("CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END", "0A000", 1),
                 ("SELECT a FROM nosuchtable", "42P01", 15), ("SELECT $2", "07001", 8),
                 ("SELECT nosuchcolumn", "42703", 8)]
        for i, (sql, code, pos) in enumerate(cases):
            r = c.call(id=100 + i, op="query", sql=sql, params=[1])
            self.assertEqual(r["id"], 100 + i)
            self.assertIs(r["ok"], False, sql)
            self.assertEqual(r["error"]["code"], code, (sql, r))
            self.assertTrue(r["error"]["message"])
            if pos is not None:
                self.assertEqual(r["error"].get("position"), pos, (sql, r))
        c.close()

    def test_as_of_field(self):
        c = Raw(self.d.endpoint)
        seq = c.call(id=1, op="ping")["seq"]
        r = c.call(id=2, op="query", sql="SELECT 1", as_of=seq + 1000)
        self.assertEqual(r["error"]["code"], "22023", r)  # never silently "now"
        r = c.call(id=3, op="query", sql="SELECT 1", as_of="2026-01-02T03:04:05.123456Z")
        self.assertEqual((r["ok"], r["seq"]), (True, 0), r)  # before the first commit: the empty database
        r = c.call(id=5, op="query", sql="SELECT 1", as_of="2200-01-02T03:04:05Z")
        self.assertEqual(r["error"]["code"], "22023", r)  # in the future
        r = c.call(id=6, op="query", sql="SELECT 1", as_of="yesterday")
        self.assertEqual(r["error"]["code"], "22007", r)
        r = c.call(id=4, op="query", sql="SELECT 1", as_of=[1])
        self.assertEqual(r["error"]["code"], "08P01", r)
        c.close()

    def test_protocol_errors(self):
        c = Raw(self.d.endpoint)
        r = c.call(id=5, op="frobnicate")
        self.assertEqual((r["id"], r["ok"], r["error"]["code"]), (5, False, "08P01"))
        self.assertIn("unknown op", r["error"]["message"])
        r = c.call(id=6, op="ping", v=2)
        self.assertEqual(r["error"]["code"], "08P01")
        r = c.call(id=7, op="query")
        self.assertEqual(r["error"]["code"], "08P01")
        r = c.call(id=8, op="query", sql=5)
        self.assertEqual((r["id"], r["error"]["code"]), (8, "08P01"))
        r = c.call(id=-9, op="query", sql="SELECT 1", params={"a": 1})
        self.assertEqual((r["id"], r["error"]["code"]), (-9, "08P01"))
        # two frames from a DEALER: malformed, but the id is readable
        c.sock.send_multipart([pack(id=10, op="ping"), b"extra"])
        r = c.recv()
        self.assertEqual((r["id"], r["error"]["code"]), (10, "08P01"))
        # an unsigned 64-bit id is echoed as is, also in error replies to broken messages
        r = c.call(id=2 ** 64 - 1, op="ping")
        self.assertEqual(r["id"], 2 ** 64 - 1)
        c.sock.send_multipart([pack(id=2 ** 64 - 2, op="ping"), b"extra"])
        self.assertEqual(c.recv()["id"], 2 ** 64 - 2)
        c.send(pack(id=2 ** 64 - 3, op="query", sql="SELECT 1")[:-3])
        r = c.recv()
        self.assertEqual((r["id"], r["error"]["code"]), (2 ** 64 - 3, "08P01"))
        c.send(pack(id=-(2 ** 63), op="query", sql="SELECT 1")[:-3])
        self.assertEqual(c.recv()["id"], -(2 ** 63))
        c.close()

    def test_dealer_pipelining_10000(self):
        c = Raw(self.d.endpoint)
        n = 10000
        expect = {}
        for i in range(n):
            rid = i * 7 + 3
            if i % 3 == 0:
                c.send(pack(id=rid, op="query", sql="SELECT $1 * 2", params=[i]))
                expect[rid] = [[i * 2]]
            else:
                c.send(pack(id=rid, op="ping"))
                expect[rid] = None
        seen = set()
        for _ in range(n):
            try:
                r = c.recv()
            except zmq.Again:
                self.fail("reply missing after %d of %d; daemon log:\n%s" % (len(seen), n, self.important_log()))
            self.assertTrue(r["ok"], r)
            self.assertNotIn(r["id"], seen)
            seen.add(r["id"])
            if expect[r["id"]] is not None:
                self.assertEqual(r["rows"], expect[r["id"]])
        self.assertEqual(seen, set(expect))
        self.assertFalse(c.poll(200), "an extra reply arrived")
        c.close()

    def test_many_clients_both_workers_used(self):
        time.sleep(0.5)  # both workers have said hello (they reconnect every 10 ms until the gateway binds)
        clients = [Raw(self.d.endpoint) for _ in range(8)]
        for k, c in enumerate(clients):
            for i in range(200):
                c.send(pack(id=i, op="query", sql="SELECT %d" % (k * 1000 + i)))
        for k, c in enumerate(clients):
            got = {}
            for _ in range(200):
                r = c.recv()
                self.assertTrue(r["ok"], (r, self.important_log()))
                got[r["id"]] = r["rows"][0][0]
            self.assertEqual(got, {i: k * 1000 + i for i in range(200)})
            c.close()
        m = self.d.metrics()
        served = {dict(labels)["instance"]: v for (name, labels), v in m.items()
                  if name == "driftdb_role_requests_total" and ("role", "query") in labels}
        # both query workers handled requests (least-loaded routing spreads a burst)
        self.assertEqual(len(served), 2, served)
        self.assertTrue(all(v > 0 for v in served.values()), served)

class TraceparentTest(unittest.TestCase):
    def test_traceparent_in_log(self):
        # debug level logs one line per request: only here, with few requests (a flood of debug
        # lines into a file can block the roles on a busy disk)
        with Daemon(query_workers=1, config={"log_level": "debug"}) as d:
            self.check(d)

    def check(self, d):
        tp = "00-%032x-%016x-01" % (random.getrandbits(128), random.getrandbits(64))
        c = Raw(d.endpoint)
        r = c.call(id=77, op="query", sql="SELECT 'traced'", traceparent=tp)
        self.assertTrue(r["ok"], r)
        r = c.call(id=78, op="query", sql="SELECT 1", traceparent="not hex!")
        self.assertEqual(r["error"]["code"], "08P01")
        c.close()
        deadline = time.monotonic() + 5
        while tp not in d.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        lines = [l for l in d.log().splitlines() if tp in l]
        self.assertTrue(lines, "traceparent not found in the log")
        self.assertTrue(any(re.search(r"query\.\d+", l) for l in lines), lines)


def worker_requests(d):
    """{instance: requests handled} of the query workers, from /metrics."""
    return {dict(labels)["instance"]: v for (name, labels), v in d.metrics().items()
            if name == "driftdb_role_requests_total" and ("role", "query") in labels}


class TransactionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(query_workers=2)
        cls.d.start()
        time.sleep(0.5)

    @classmethod
    def tearDownClass(cls):
        cls.d.close()

    def test_affinity_while_open(self):
        c = Raw(self.d.endpoint)
        before = worker_requests(self.d)
        r = c.call(id=1, op="query", sql="BEGIN")
        self.assertEqual((r["ok"], r["txn"]), (True, "open"), r)
        for i in range(200):
            c.send(pack(id=100 + i, op="query", sql="SELECT $1", params=[i]))
        for _ in range(200):
            r = c.recv()
            self.assertEqual((r["ok"], r["txn"]), (True, "open"), r)
            self.assertEqual(r["rows"], [[r["id"] - 100]])
        r = c.call(id=2, op="query", sql="COMMIT")
        self.assertEqual((r["ok"], r["txn"]), (True, "idle"), r)
        # every statement of the transaction ran on one worker (a worker counts a request just
        # after its reply: wait for the count to settle)
        wait_for(lambda: sum(worker_requests(self.d).values()) - sum(before.values()) >= 202, 5,
                 what="request counters")
        after = worker_requests(self.d)
        delta = sorted(after[k] - before.get(k, 0) for k in after)
        self.assertEqual(delta, [0, 202], (before, after))
        c.close()

    def test_ping_inside_transaction_goes_to_its_worker(self):
        c = Raw(self.d.endpoint)
        self.assertEqual(c.call(id=1, op="query", sql="BEGIN")["txn"], "open")
        r = c.call(id=2, op="ping")  # only the pinned worker knows the session is in a transaction
        self.assertEqual((r["ok"], r["txn"]), (True, "open"), r)
        self.assertIsInstance(r["seq"], int)
        self.assertTrue(r["server"].startswith("driftdb "))
        self.assertEqual(c.call(id=3, op="query", sql="ROLLBACK")["txn"], "idle")
        self.assertEqual(c.call(id=4, op="ping")["txn"], "idle")
        c.close()

    def test_failed_transaction(self):
        c = Raw(self.d.endpoint)
        self.assertEqual(c.call(id=1, op="query", sql="BEGIN")["txn"], "open")
        r = c.call(id=2, op="query", sql="SELECT nosuchcolumn")
        self.assertEqual((r["error"]["code"], r["txn"]), ("42703", "failed"))
        r = c.call(id=3, op="query", sql="SELECT 1")
        self.assertEqual((r["error"]["code"], r["txn"]), ("25P02", "failed"))
        r = c.call(id=4, op="query", sql="ROLLBACK")
        self.assertEqual((r["ok"], r["txn"]), (True, "idle"))
        self.assertEqual(c.call(id=5, op="query", sql="SELECT 5")["rows"], [[5]])
        c.close()

    def test_disconnect_rolls_back(self):
        c = Raw(self.d.endpoint)
        self.assertEqual(c.call(id=1, op="query", sql="BEGIN")["txn"], "open")
        c.close()
        wait_for(lambda: "ended with an open transaction: rolled back" in self.d.log(), 10,
                 what="the worker to end the disconnected session")
        self.assertIn("client disconnected with an open transaction", self.d.log())


class AdmissionTest(unittest.TestCase):
    def test_inflight_cap_answers_53300(self):
        with Daemon(query_workers=1, config={"max_inflight_per_client": "4"}) as d:
            c = Raw(d.endpoint)
            n = 300
            for i in range(n):
                c.send(pack(id=i, op="query", sql="SELECT $1", params=[i]))
            ok = busy = 0
            seen = set()
            for _ in range(n):
                r = c.recv()
                self.assertNotIn(r["id"], seen)
                seen.add(r["id"])
                if r["ok"]:
                    ok += 1
                    self.assertEqual(r["rows"], [[r["id"]]])
                else:
                    self.assertEqual(r["error"]["code"], "53300", r)
                    self.assertGreaterEqual(r["error"]["retry_after_ms"], 1)
                    busy += 1
            self.assertEqual(len(seen), n)
            self.assertGreater(busy, 0)
            self.assertGreaterEqual(ok, 4)
            # another client is not affected by this client's cap
            c2 = Raw(d.endpoint)
            self.assertTrue(c2.call(id=1, op="ping")["ok"])
            c.close()
            c2.close()


if __name__ == "__main__":
    unittest.main()
