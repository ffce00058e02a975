#!/usr/bin/python3
"""Row estimates only when a plan needs them, through the real daemon (driftharness).

Without ANALYZE statistics a table's row estimate counts up to 1000 rows of the
index (drift_table_estimate_rows); EXPLAIN ANALYZE reports the index entries that
count stepped over as `(estimate scanned=N)`. A statement whose access path is
forced — a primary-key point, an IN list on the key, a history read by key — must
not count at all (the planner has nothing to choose), while a plan that does choose
(a join, a full scan's row estimate in EXPLAIN) still counts, and EXPLAIN's text is
the same either way. Deterministic counts, no timings."""
import re
import unittest

import driftdb
from driftharness import Daemon

NROWS = 5000


def explain(cur, sql):
    cur.execute("EXPLAIN ANALYZE " + sql)
    return "\n".join(r[0] for r in cur.fetchall())


def est_scanned(p):
    """Sum of the `estimate scanned=` counts of a plan (0 when none is reported)."""
    return sum(int(m) for m in re.findall(r"\(estimate scanned=(\d+)\)", p))


class LazyEstimateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(query_workers=1)
        cls.d.__enter__()
        cls.conn = driftdb.connect(cls.d.endpoint)
        c = cls.conn.cursor()
        c.execute("CREATE TABLE acc (id INTEGER PRIMARY KEY, bal INTEGER, br INTEGER)")
        c.execute("CREATE TABLE br (id INTEGER PRIMARY KEY, name TEXT)")
        for lo in range(0, NROWS, 1000):
            c.execute("INSERT INTO acc VALUES %s" % ", ".join("(%d, 0, %d)" % (i, i % 10) for i in range(lo, lo + 1000)))
        c.execute("INSERT INTO br VALUES %s" % ", ".join("(%d, 'b%d')" % (i, i) for i in range(10)))
        c.execute("UPDATE acc SET bal = 7 WHERE id = 42")

    @classmethod
    def tearDownClass(cls):
        cls.conn.close()
        cls.d.__exit__(None, None, None)

    def test_point_reads_do_not_count_rows(self):
        c = self.conn.cursor()
        for sql, rows in (("SELECT bal FROM acc WHERE id = 42", 1),
                          ("SELECT bal FROM acc WHERE id IN (1, 2, 3)", 3),
                          ("SELECT bal, _seq FROM acc FOR SYSTEM_TIME ALL WHERE id = 42", 2)):
            p = explain(c, sql)
            self.assertIn("actual rows=%d " % rows, p)
            self.assertRegex(p, r"PK (VERSION )?LOOKUP", p)
            self.assertLessEqual(est_scanned(p), 5, p)
            self.assertRegex(p, r"\(rows=\d+\)", p)  # EXPLAIN's estimate is still there (not from the count)

    def test_point_write_result(self):
        c = self.conn.cursor()
        c.execute("UPDATE acc SET bal = bal + 1 WHERE id = 43")
        self.assertEqual(c.rowcount, 1)
        c.execute("SELECT bal FROM acc WHERE id = 43")
        self.assertEqual(c.fetchall(), [(1,)])

    def test_plans_that_choose_still_count(self):
        c = self.conn.cursor()
        # a full scan: its rows= estimate comes from the count (1000 rows walked, then live rows / tables)
        p = explain(c, "SELECT count(*) FROM acc WHERE bal > 5")
        self.assertEqual(est_scanned(p), 1000, p)
        self.assertRegex(p, r"SCAN acc .*\(rows=\d+\)", p)
        # a join: the order is chosen from both tables' estimates
        p = explain(c, "SELECT count(*) FROM acc JOIN br ON acc.br = br.id WHERE br.name = 'b3'")
        self.assertEqual(est_scanned(p), 1000 + 10, p)
        self.assertIn("actual rows=%d " % (NROWS // 10), p)


if __name__ == "__main__":
    unittest.main()
