"""Read-your-writes without blocking the query worker (issue 8 performance pass, session 5).

A statement must see every commit acknowledged before it started, so it waits
until the indexer has applied them. Checked against the real daemon, with the
indexer stopped (SIGSTOP) so that the index stays behind for as long as the
test needs:
- an autocommit INSERT ... VALUES reads nothing the writer does not check
  again, so it commits and replies without waiting for the index (it used to
  wait and fail with 57014), while a SELECT of the same session waits and sees
  the row once the indexer goes on (SIGCONT);
- a worker whose only session waits for the index still serves other sessions
  (the statement is parked, not slept on): another session's INSERT and a ping
  complete while the first SELECT still waits, on query_workers = 1;
- the wait keeps its bound: a SELECT that waits longer than wait_ms
  (request_timeout / 2) fails with 57014, and so does an INSERT inside an
  explicit transaction (whose rules did not change); the session works after;
- read-your-writes holds in insert-then-select loops of several clients, with
  the indexer running."""
import os
import signal
import threading
import time
import unittest

import driftdb
from driftharness import Daemon
from protoutil import Raw, pack, wait_ping
import zmq


def _wait_indexed(cur, table):
    """A read of table: returns once the index holds everything acknowledged so far."""
    cur.execute("SELECT count(*) FROM %s" % table)
    return cur.fetchone()[0]


class _Bg(threading.Thread):
    """Runs one statement on a cursor in the background; result or exception kept."""

    def __init__(self, cur, sql, params=None):
        super().__init__(daemon=True)
        self.cur, self.sql, self.params = cur, sql, params
        self.rows, self.exc = None, None

    def run(self):
        try:
            self.cur.execute(self.sql, self.params) if self.params else self.cur.execute(self.sql)
            self.rows = self.cur.fetchall()
        except Exception as e:  # noqa: BLE001 - inspected by the test
            self.exc = e


class IndexStoppedTest(unittest.TestCase):
    """Long wait bound (request_timeout 60 s -> wait_ms 30 s): nothing here may time out."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(query_workers=1, config={"durability": "sync", "request_timeout": "60s",
                                                "heartbeat_timeout": "120s"})
        cls.d.__enter__()
        wait_ping(cls.d.endpoint)
        c = driftdb.connect(cls.d.endpoint)
        cur = c.cursor()
        cur.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT DEFAULT 'dflt')")
        _wait_indexed(cur, "t")
        c.close()

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def test_insert_does_not_wait_select_does_and_worker_serves_others(self):
        a = driftdb.connect(self.d.endpoint, timeout=90)
        b = driftdb.connect(self.d.endpoint, timeout=90)
        ca, cb = a.cursor(), b.cursor()
        pid = self.d.role_pids()["indexer"][0]
        os.kill(pid, signal.SIGSTOP)
        bg = None
        try:
            # Each of these commits while the index cannot move: none of them waits for it.
            ca.execute("INSERT INTO t VALUES (1, 'a')")
            self.assertEqual(ca.rowcount, 1)
            ca.execute("INSERT INTO t (id, v) VALUES (?, ?), (?, upper(?))", (2, "b", 3, "c"))
            self.assertEqual(ca.rowcount, 2)
            ca.execute("INSERT INTO t (id) VALUES (4)")
            self.assertEqual(ca.rowcount, 1)
            # The same session's read must see them: it waits (parked in the worker) for the indexer.
            bg = _Bg(ca, "SELECT id, v FROM t WHERE id <= 4 ORDER BY id")
            bg.start()
            bg.join(1.0)
            self.assertTrue(bg.is_alive(), (bg.rows, bg.exc))
            # Meanwhile the one worker serves another session: its insert commits and replies ...
            cb.execute("INSERT INTO t VALUES (10, 'other')")
            self.assertEqual(cb.rowcount, 1)
            # ... and a ping through a raw socket answers.
            r = Raw(self.d.endpoint, zmq.DEALER)
            try:
                r.send(pack(id=7, op="ping"))
                rep = r.recv()
                self.assertTrue(rep["ok"], rep)
            finally:
                r.close()
            self.assertTrue(bg.is_alive(), (bg.rows, bg.exc))  # the first read still waits for the index
        finally:
            os.kill(pid, signal.SIGCONT)
        bg.join(60)
        self.assertFalse(bg.is_alive())
        self.assertIsNone(bg.exc)
        self.assertEqual([tuple(x) for x in bg.rows], [(1, "a"), (2, "b"), (3, "C"), (4, "dflt")])
        cb.execute("SELECT v FROM t WHERE id = 10")
        self.assertEqual([tuple(x) for x in cb.fetchall()], [("other",)])
        a.close()
        b.close()

    def test_pipelined_insert_select_while_stopped(self):
        """INSERT and SELECT of one session sent back to back: the INSERT replies at once, the SELECT after SIGCONT
        sees it, in order."""
        r = Raw(self.d.endpoint, zmq.DEALER)
        pid = self.d.role_pids()["indexer"][0]
        os.kill(pid, signal.SIGSTOP)
        try:
            r.send(pack(id=1, op="query", sql="INSERT INTO t VALUES (100, 'p')"))
            r.send(pack(id=2, op="query", sql="INSERT INTO t VALUES (101, 'q')"))
            r.send(pack(id=3, op="query", sql="SELECT v FROM t WHERE id >= 100 AND id <= 101 ORDER BY id"))
            a, a2 = r.recv(), r.recv()
            self.assertEqual((a["id"], a2["id"]), (1, 2))
            self.assertTrue(a["ok"], a)
            self.assertTrue(a2["ok"], a2)
            self.assertGreater(a2["seq"], a["seq"])
            self.assertEqual(r.poll(700), 0)  # the SELECT waits for the index
        finally:
            os.kill(pid, signal.SIGCONT)
        r.sock.setsockopt(zmq.RCVTIMEO, 60000)
        b = r.recv()
        r.close()
        self.assertEqual(b["id"], 3)
        self.assertTrue(b["ok"], b)
        self.assertEqual(b["rows"], [["p"], ["q"]])
        self.assertGreaterEqual(b["seq"], a2["seq"])


class IndexWaitBoundTest(unittest.TestCase):
    """Short wait bound (request_timeout 2 s -> wait_ms 1 s)."""

    def test_57014_after_wait_ms(self):
        with Daemon(query_workers=1, config={"durability": "sync", "request_timeout": "2s",
                                             "heartbeat_timeout": "60s"}) as d:
            wait_ping(d.endpoint)
            c = driftdb.connect(d.endpoint, timeout=30)
            cur = c.cursor()
            cur.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
            _wait_indexed(cur, "t")
            pid = d.role_pids()["indexer"][0]
            os.kill(pid, signal.SIGSTOP)
            try:
                cur.execute("INSERT INTO t VALUES (1, 'a')")  # no wait: commits
                self.assertEqual(cur.rowcount, 1)
                cur.execute("INSERT INTO t VALUES (3, 'c')")  # nor does the next one (the index is behind now)
                self.assertEqual(cur.rowcount, 1)
                with self.assertRaises(driftdb.Error) as cm:
                    cur.execute("SELECT v FROM t WHERE id = 1")
                self.assertEqual(getattr(cm.exception, "sqlstate", None), "57014")
                self.assertIn("index lag", str(cm.exception))
                # Inside an explicit transaction an INSERT still waits for the index (unchanged rules).
                cur.execute("BEGIN")
                with self.assertRaises(driftdb.Error) as cm:
                    cur.execute("INSERT INTO t VALUES (2, 'b')")
                self.assertEqual(getattr(cm.exception, "sqlstate", None), "57014")
                cur.execute("ROLLBACK")
                # A read that needs the index (INSERT ... SELECT) waits too.
                with self.assertRaises(driftdb.Error) as cm:
                    cur.execute("INSERT INTO t SELECT id + 100, v FROM t")
                self.assertEqual(getattr(cm.exception, "sqlstate", None), "57014")
            finally:
                os.kill(pid, signal.SIGCONT)
            cur.execute("SELECT id, v FROM t ORDER BY id")
            self.assertEqual([tuple(x) for x in cur.fetchall()], [(1, "a"), (3, "c")])
            c.close()


class ReadYourWritesLoopTest(unittest.TestCase):
    def test_insert_then_select_loops(self):
        with Daemon(query_workers=2, config={"durability": "sync"}) as d:
            wait_ping(d.endpoint)
            c = driftdb.connect(d.endpoint)
            cur = c.cursor()
            cur.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, n INTEGER)")
            cur.execute("CREATE TABLE u (id INTEGER PRIMARY KEY, v TEXT UNIQUE)")
            c.close()
            nclients, per = 4, 60
            errors = []

            def client(k):
                try:
                    cc = driftdb.connect(d.endpoint, timeout=60)
                    cu = cc.cursor()
                    for i in range(per):
                        key = k * 100000 + i
                        cu.execute("INSERT INTO t VALUES (?, ?, ?)", (key, "v%d" % key, i))
                        cu.execute("SELECT v FROM t WHERE id = ?", (key,))
                        got = cu.fetchall()
                        if [list(x) for x in got] != [["v%d" % key]]:
                            errors.append(("row", key, got))
                        cu.execute("SELECT count(*) FROM t WHERE id >= ? AND id < ?", (k * 100000, k * 100000 + per))
                        n = cu.fetchone()[0]
                        if n != i + 1:
                            errors.append(("count", key, n))
                        # delete then re-insert the same key: the insert must not trip on the deleted row
                        if i % 10 == 0:
                            cu.execute("DELETE FROM t WHERE id = ?", (key,))
                            cu.execute("INSERT INTO t VALUES (?, ?, ?)", (key, "v%d" % key, i))
                            if cu.rowcount != 1:
                                errors.append(("reinsert", key, cu.rowcount))
                        # a UNIQUE value just freed by this session is free for its next insert
                        if i % 15 == 0:
                            cu.execute("INSERT INTO u VALUES (?, ?)", (key, "u%d" % k))
                            cu.execute("DELETE FROM u WHERE id = ?", (key,))
                    cc.close()
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(repr(e))

            th = [threading.Thread(target=client, args=(k,)) for k in range(nclients)]
            for t in th:
                t.start()
            for t in th:
                t.join(300)
            self.assertEqual(errors, [])
            c = driftdb.connect(d.endpoint)
            cur = c.cursor()
            cur.execute("SELECT count(*) FROM t")
            self.assertEqual(cur.fetchone()[0], nclients * per)
            # a duplicate is still 23505, and a table created just before is visible to the insert that follows
            with self.assertRaises(driftdb.Error) as cm:
                cur.execute("INSERT INTO t VALUES (0, 'dup', 0)")
            self.assertEqual(getattr(cm.exception, "sqlstate", None), "23505")
            for i in range(20):
                cur.execute("CREATE TABLE n%d (id INTEGER PRIMARY KEY)" % i)
                cur.execute("INSERT INTO n%d VALUES (1)" % i)
                cur.execute("ALTER TABLE n%d ADD COLUMN w TEXT DEFAULT 'x'" % i)
                cur.execute("INSERT INTO n%d VALUES (2, 'y')" % i)
                cur.execute("SELECT id, w FROM n%d ORDER BY id" % i)
                self.assertEqual([tuple(x) for x in cur.fetchall()], [(1, "x"), (2, "y")])
            c.close()


if __name__ == "__main__":
    unittest.main()
