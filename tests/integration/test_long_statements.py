"""A statement that runs longer than heartbeat_timeout is not a hung worker:
while it makes progress it keeps the worker's heartbeat fresh, so the
supervisor leaves it alone and the client gets its answer. A statement that
runs past request_timeout is cancelled with 57014 and the worker goes on
serving (it is not restarted). Real daemon, real worker processes."""
import time
import unittest

import driftdb
from driftharness import Daemon

ROWS = 2200  # a self cross join of ROWS^2 rows with a non-equi condition: a nested loop of seconds


def load(cur):
    cur.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER)")
    for b in range(0, ROWS, 550):
        cur.execute("INSERT INTO t VALUES " + ",".join("(%d, %d)" % (i, i % 97) for i in range(b, b + 550)))


def restarts(d):
    return sum(v for (name, labels), v in d.metrics().items()
               if name == "driftdb_role_restarts_total" and "query" in dict(labels).get("role", ""))


class LongStatementTest(unittest.TestCase):
    def test_long_statement_outlives_heartbeat_timeout(self):
        with Daemon(query_workers=1, config={"heartbeat_timeout": "500ms"}) as d:
            c = driftdb.connect(d.endpoint, timeout=120)
            cur = c.cursor()
            load(cur)
            before = restarts(d)
            t0 = time.monotonic()
            cur.execute("SELECT count(*) FROM t a, t b WHERE a.v + b.v < 0 OR a.k * 0 = 1")
            took = time.monotonic() - t0
            self.assertEqual(cur.fetchall(), [(0,)])
            # the statement ran for several heartbeat timeouts and the worker was never replaced
            self.assertGreater(took, 1.0, "the query was too quick to test anything: raise ROWS")
            self.assertEqual(restarts(d), before)
            cur.execute("SELECT 1")
            self.assertEqual(cur.fetchall(), [(1,)])
            c.close()

    def test_long_queue_of_short_statements(self):
        # 6000 pipelined statements of a fraction of a ms each: the worker drains them in one loop turn
        # (seconds), during which its heartbeat timer cannot fire; every finished request counts as a heartbeat.
        # (3000 drained in 0.7 s on this session's machine, too fast to test anything.)
        with Daemon(query_workers=1, config={"heartbeat_timeout": "500ms", "max_inflight_per_client": "8192",
                                             "max_queue": "16384"}) as d:
            c = driftdb.connect(d.endpoint, timeout=120)
            cur = c.cursor()
            cur.execute("CREATE TABLE s (k INTEGER PRIMARY KEY, v INTEGER)")
            cur.execute("INSERT INTO s VALUES " + ",".join("(%d, %d)" % (i, i % 7) for i in range(200)))
            before = restarts(d)
            t0 = time.monotonic()
            ids = [c.send("query", "SELECT count(*), sum(v) FROM s WHERE v >= $1", [i % 7]) for i in range(6000)]
            for i, rid in enumerate(ids):
                self.assertEqual(c.recv(rid).rows[0][0], sum(1 for k in range(200) if k % 7 >= i % 7))
            took = time.monotonic() - t0
            self.assertGreater(took, 1.0, "the queue drained too fast to test anything")
            self.assertEqual(restarts(d), before)
            c.close()

    def test_statement_timeout(self):
        with Daemon(query_workers=1, config={"request_timeout": "700ms"}) as d:
            c = driftdb.connect(d.endpoint, timeout=120)
            cur = c.cursor()
            load(cur)
            before = restarts(d)
            with self.assertRaises(driftdb.Error) as cm:
                cur.execute("SELECT count(*) FROM t a, t b, t c WHERE a.v + b.v + c.v < 0")
            self.assertEqual(cm.exception.sqlstate, "57014")
            # the worker cancelled the statement and serves the next request (no restart)
            deadline = time.monotonic() + 10
            while True:
                try:
                    cur.execute("SELECT count(*) FROM t")
                    self.assertEqual(cur.fetchall(), [(ROWS,)])
                    break
                except driftdb.Error as e:  # the gateway may still see the worker busy for a moment
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            self.assertEqual(restarts(d), before)
            c.close()


if __name__ == "__main__":
    unittest.main()
