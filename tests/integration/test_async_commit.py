"""Asynchronous commits in the query worker (issue 8 performance pass).

A statement that commits through the writer parks in its worker until the
writer's acknowledgement arrives; the worker meanwhile serves other sessions.
Checked against the real daemon:
- one worker keeps many commits in flight: 16 concurrent autocommit clients on
  query_workers = 1 all succeed and the writer groups several transactions per
  fdatasync (with a worker that blocks on every commit each group holds exactly
  one transaction);
- a session's pipelined requests still run in arrival order: an INSERT followed,
  without waiting, by a SELECT of the same key on the same session sees the row
  (the SELECT waits behind the parked INSERT), and a pipelined
  BEGIN / INSERT / COMMIT / SELECT works;
- writer errors come back with their SQLSTATE through the parked path (23505
  for a duplicate key, 40001-free autocommit retries for concurrent updates of
  one row)."""
import threading
import unittest

import driftdb
import zmq
from driftharness import Daemon
from protoutil import Raw, pack, wait_ping


def _metric(d, name):
    return sum(v for (n, _), v in d.metrics().items() if n == name)


class AsyncCommitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(query_workers=1, config={"durability": "sync"})
        cls.d.__enter__()
        wait_ping(cls.d.endpoint)
        c = driftdb.connect(cls.d.endpoint)
        cur = c.cursor()
        cur.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        cur.execute("CREATE TABLE ctr (id INTEGER PRIMARY KEY, n INTEGER)")
        cur.execute("INSERT INTO ctr VALUES (1, 0)")
        c.close()

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def test_many_commits_in_flight_on_one_worker(self):
        nclients, per = 16, 25
        commits0 = _metric(self.d, "driftdb_writer_commits_total")
        syncs0 = _metric(self.d, "driftdb_writer_fdatasyncs_total")
        errors = []

        def client(k):
            try:
                c = driftdb.connect(self.d.endpoint)
                cur = c.cursor()
                for i in range(per):
                    cur.execute("INSERT INTO t VALUES (?, ?)", (100000 + k * 1000 + i, "c%d" % k))
                c.close()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        th = [threading.Thread(target=client, args=(k,)) for k in range(nclients)]
        for t in th:
            t.start()
        for t in th:
            t.join(120)
        self.assertEqual(errors, [])
        c = driftdb.connect(self.d.endpoint)
        cur = c.cursor()
        cur.execute("SELECT count(*) FROM t WHERE id >= 100000 AND id < 200000")
        self.assertEqual(cur.fetchone()[0], nclients * per)
        c.close()
        commits = _metric(self.d, "driftdb_writer_commits_total") - commits0
        syncs = _metric(self.d, "driftdb_writer_fdatasyncs_total") - syncs0
        self.assertGreaterEqual(commits, nclients * per)
        # One worker that waited for each commit could never put two transactions in one group.
        self.assertGreater(commits / max(syncs, 1), 1.5, (commits, syncs))

    def test_pipelined_session_keeps_its_order(self):
        r = Raw(self.d.endpoint, zmq.DEALER)
        try:
            for k in range(40):
                key = 300000 + k
                r.send(pack(id=2 * k, op="query", sql="INSERT INTO t VALUES (%d, 'p')" % key))
                r.send(pack(id=2 * k + 1, op="query", sql="SELECT count(*) FROM t WHERE id = %d" % key))
                a, b = r.recv(), r.recv()
                self.assertEqual((a["id"], b["id"]), (2 * k, 2 * k + 1))  # in order: one worker, one session
                self.assertTrue(a["ok"], a)
                self.assertTrue(b["ok"], b)
                self.assertEqual(b["rows"], [[1]], b)
                self.assertGreaterEqual(b["seq"], a["seq"])
            sqls = ["BEGIN", "INSERT INTO t VALUES (400001, 'x')", "INSERT INTO t VALUES (400002, 'y')", "COMMIT",
                    "SELECT count(*) FROM t WHERE id > 400000 AND id < 400003"]
            for i, s in enumerate(sqls):
                r.send(pack(id=1000 + i, op="query", sql=s))
            reps = [r.recv() for _ in sqls]
            self.assertEqual([x["id"] for x in reps], [1000 + i for i in range(len(sqls))])
            self.assertTrue(all(x["ok"] for x in reps), reps)
            self.assertEqual(reps[3]["txn"], "idle")
            self.assertEqual(reps[4]["rows"], [[2]])
        finally:
            r.close()

    def test_writer_errors_through_the_parked_path(self):
        c = driftdb.connect(self.d.endpoint)
        cur = c.cursor()
        cur.execute("INSERT INTO t VALUES (500000, 'a')")
        with self.assertRaises(driftdb.Error) as cm:
            cur.execute("INSERT INTO t VALUES (500000, 'b')")
        self.assertEqual(getattr(cm.exception, "sqlstate", None), "23505")
        c.close()
        # Concurrent read-modify-write of one row in autocommit: 40001 at the writer is re-run by the engine.
        errors, done = [], []

        def bump():
            cc = driftdb.connect(self.d.endpoint)
            cu = cc.cursor()
            for _ in range(15):
                try:
                    cu.execute("UPDATE ctr SET n = n + 1 WHERE id = 1")
                    done.append(1)
                except driftdb.Error as e:
                    errors.append(repr(e))
            cc.close()

        th = [threading.Thread(target=bump) for _ in range(4)]
        for t in th:
            t.start()
        for t in th:
            t.join(120)
        c = driftdb.connect(self.d.endpoint)
        cur = c.cursor()
        cur.execute("SELECT n FROM ctr WHERE id = 1")
        n = cur.fetchone()[0]
        c.close()
        # Every UPDATE that succeeded added exactly one; one that exhausted its re-runs failed with 40001.
        self.assertTrue(all("40001" in e for e in errors), errors)
        self.assertEqual(len(done) + len(errors), 60)
        self.assertEqual(n, len(done))


if __name__ == "__main__":
    unittest.main()
