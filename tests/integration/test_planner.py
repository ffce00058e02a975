#!/usr/bin/python3
"""The cost-based planner through the real daemon (driftharness): ANALYZE
gathers statistics of hand-built tables with known distributions, EXPLAIN
then picks the access path (index for a rare value of a skewed column, full
scan for its common value and for a low-selectivity column) and the join
order (the smallest filtered relation first) and shows estimated rows; a
battery of queries gives the same rows with the planner's choice and with
SET enable_indexscan / enable_hashjoin = off; statistics are history-aware (a
query AS OF a point before the second ANALYZE plans with the first), survive a
restart, and `driftctl verify --indexes` / `reindex` rebuild them from the log."""
import os
import re
import subprocess
import unittest

import driftdb
import driftharness as H

DRIFTCTL = os.path.join(H.BUILDDIR, "driftctl")


def plan(cur, sql):
    cur.execute("EXPLAIN " + sql)
    return "\n".join(r[0] for r in cur.fetchall())


def first_rel_lines(p):
    """The access-path lines of a plan (not FILTER / AGGREGATE / ...), in nesting order."""
    keys = ("FULL SCAN", "PK LOOKUP", "PK RANGE SCAN", "INDEX SCAN", "HASH JOIN", "NESTED LOOP")
    return [ln.strip() for ln in p.splitlines() if ln.strip().startswith(keys)]


def est_rows(line):
    m = re.search(r"\(rows=(\d+)", line)
    return int(m.group(1)) if m else None


def insert_many(cur, table, rows, chunk=500):
    for i in range(0, len(rows), chunk):
        cur.execute("INSERT INTO %s VALUES %s" % (table, ", ".join(rows[i:i + chunk])))


BATTERY = [
    "SELECT id FROM sk WHERE k = 1 AND id < 40 ORDER BY id",
    "SELECT id, k FROM sk WHERE k = 230 ORDER BY id",
    "SELECT count(*) FROM sk WHERE grp = 2",
    "SELECT count(*), min(id), max(id) FROM sk WHERE k BETWEEN 100 AND 400",
    "SELECT id FROM sk WHERE k IN (10, 20, 30, 1000000) ORDER BY id",
    "SELECT count(*) FROM sk WHERE s IS NULL",
    "SELECT count(*) FROM sk WHERE k <> 1",
    "SELECT id FROM sk WHERE id IN (5, 50, 500) OR k = 70 ORDER BY id",
    "SELECT count(*), sum(big.v) FROM big JOIN mid ON big.mid_id = mid.id JOIN small ON mid.small_id = small.id "
    "WHERE small.tag = 'x'",
    "SELECT small.id, count(*) FROM small, mid, big WHERE mid.small_id = small.id AND big.mid_id = mid.id "
    "AND big.v < 3 GROUP BY small.id ORDER BY small.id",
    "SELECT mid.id FROM mid LEFT JOIN big ON big.mid_id = mid.id AND big.v = 99 WHERE big.id IS NULL "
    "AND mid.id < 30 ORDER BY mid.id",
    "SELECT count(*) FROM sk a, sk b WHERE a.k = b.id AND a.grp = 1",
    "SELECT big.id FROM big WHERE big.mid_id IN (SELECT id FROM mid WHERE small_id = 3) ORDER BY big.id",
    "SELECT count(*) FROM big WHERE v >= 50 AND mid_id BETWEEN 10 AND 20",
]


class PlannerTest(H.DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cur = cls.conn.cursor()
        # sk: 4000 rows; k is skewed (90% are 1, the rest unique), grp has 4 values (25% each), s is NULL in 10%
        cur.execute("CREATE TABLE sk (id INTEGER PRIMARY KEY, k INTEGER, grp INTEGER, s TEXT)")
        cur.execute("CREATE INDEX sk_k ON sk (k)")
        cur.execute("CREATE INDEX sk_grp ON sk (grp)")
        insert_many(cur, "sk", ["(%d, %d, %d, %s)" % (i, i if i % 10 == 0 else 1, i % 4,
                                                      "NULL" if i % 10 == 3 else "'s%d'" % (i % 13))
                                for i in range(1, 4001)])
        # a 3-table chain: big (6000) -> mid (600) -> small (40, 'x' on 4 of them)
        cur.execute("CREATE TABLE small (id INTEGER PRIMARY KEY, tag TEXT)")
        cur.execute("CREATE TABLE mid (id INTEGER PRIMARY KEY, small_id INTEGER)")
        cur.execute("CREATE TABLE big (id INTEGER PRIMARY KEY, mid_id INTEGER, v INTEGER)")
        cur.execute("CREATE INDEX big_mid ON big (mid_id)")
        insert_many(cur, "small", ["(%d, '%s')" % (i, "x" if i % 10 == 0 else "y") for i in range(1, 41)])
        insert_many(cur, "mid", ["(%d, %d)" % (i, i % 40 + 1) for i in range(1, 601)])
        insert_many(cur, "big", ["(%d, %d, %d)" % (i, i % 600 + 1, i % 100) for i in range(1, 6001)])
        cur.execute("ANALYZE")

    def test_access_paths_from_statistics(self):
        c = self.cur()
        # the common value of the skewed column: a full scan, estimated at ~90% of 4000
        p = plan(c, "SELECT * FROM sk WHERE k = 1")
        self.assertRegex(p, r"^FULL SCAN sk .*cost=", p)
        self.assertLess(abs(est_rows(p.splitlines()[0]) - 3600), 100, p)
        # a rare value: the index
        p = plan(c, "SELECT * FROM sk WHERE k = 230")
        self.assertIn("INDEX SCAN sk USING sk_k (k = 230)", p)
        self.assertEqual(est_rows(p.splitlines()[0]), 1, p)
        # a value outside [min, max] is estimated at (at least) 1 row: the index
        self.assertIn("INDEX SCAN sk USING sk_k", plan(c, "SELECT * FROM sk WHERE k = 99999999"))
        # a low-selectivity column (4 values): the full scan beats 1000 index lookups
        p = plan(c, "SELECT * FROM sk WHERE grp = 2")
        self.assertRegex(p, r"^FULL SCAN sk", p)
        self.assertLess(abs(est_rows(p.splitlines()[0]) - 1000), 50, p)
        # a narrow range of k (3 rows in 100..120): the index; a wide one (> 90%): a scan
        self.assertIn("INDEX SCAN sk USING sk_k (k >= 100 AND k <= 120)", plan(c, "SELECT * FROM sk WHERE k BETWEEN 100 AND 120"))
        self.assertRegex(plan(c, "SELECT * FROM sk WHERE k >= 1"), r"^FULL SCAN sk")
        # IS NULL from the null fraction (10%)
        p = plan(c, "SELECT * FROM sk WHERE s IS NULL")
        self.assertLess(abs(est_rows(p.splitlines()[0]) - 400), 40, p)
        # a primary-key point lookup needs no statistics
        self.assertRegex(plan(c, "SELECT * FROM sk WHERE id = 5"), r"^PK LOOKUP sk \(id = 5\)")
        # without statistics (a new table) the rule-based paths stay: no cost shown
        c.execute("CREATE TABLE nostats (id INTEGER PRIMARY KEY, k INTEGER)")
        c.execute("CREATE INDEX nostats_k ON nostats (k)")
        c.execute("INSERT INTO nostats VALUES (1, 1), (2, 1), (3, 1)")
        p = plan(c, "SELECT * FROM nostats WHERE k = 1")
        self.assertIn("INDEX SCAN nostats USING nostats_k (k = 1)", p)
        self.assertNotIn("cost=", p)

    def test_join_order(self):
        c = self.cur()
        # written largest first: the filtered small relation goes first, then index / key lookups inward
        p = plan(c, "SELECT count(*) FROM big JOIN mid ON big.mid_id = mid.id JOIN small ON mid.small_id = small.id "
                    "WHERE small.tag = 'x'")
        rels = first_rel_lines(p)
        self.assertTrue(rels[0].startswith("FULL SCAN small"), p)
        self.assertEqual(est_rows(rels[0]), 4, p)
        self.assertIn("mid", rels[1], p)
        self.assertIn("big", rels[2], p)
        self.assertIn("INDEX SCAN big USING big_mid (mid_id = mid.id)", p)
        # with a key lookup on big, big goes first and the others are looked up by key
        p = plan(c, "SELECT count(*) FROM small, mid, big WHERE mid.small_id = small.id AND big.mid_id = mid.id "
                    "AND big.id = 17")
        rels = first_rel_lines(p)
        self.assertTrue(rels[0].startswith("PK LOOKUP big (id = 17)"), p)
        self.assertTrue(rels[1].startswith("PK LOOKUP mid (id = big.mid_id)"), p)
        self.assertTrue(rels[2].startswith("PK LOOKUP small (id = mid.small_id)"), p)
        # an equi-join without a usable index on the inner side: a hash join
        p = plan(c, "SELECT count(*) FROM mid, small WHERE mid.small_id = small.id AND small.tag = 'y'")
        self.assertIn("HASH JOIN", p)
        # EXPLAIN ANALYZE: estimates next to what happened, per node
        c.execute("EXPLAIN ANALYZE SELECT count(*) FROM big JOIN mid ON big.mid_id = mid.id JOIN small "
                  "ON mid.small_id = small.id WHERE small.tag = 'x'")
        lines = [r[0] for r in c.fetchall()]
        rel = [ln for ln in lines if ln.strip().startswith("FULL SCAN small")][0]
        self.assertRegex(rel, r"\(rows=4 cost=\d+\) \(actual rows=4 loops=1 time=\d+\.\d{3} ms\)")
        big = [ln for ln in lines if "USING big_mid" in ln][0]
        self.assertRegex(big, r"\(actual rows=600 loops=60 time=")  # 60 mid rows under 'x', 10 big rows each
        self.assertEqual(lines[-1].split(":")[0], "EXECUTION")

    def test_forced_plans_give_the_same_rows(self):
        c = self.cur()
        used = set()
        for q in BATTERY:
            p = plan(c, q)
            for k in ("INDEX SCAN", "HASH JOIN", "PK LOOKUP", "FULL SCAN"):
                if k in p:
                    used.add(k)
            c.execute(q)
            want = c.fetchall()
            c.execute("SET enable_indexscan = off")
            p = plan(c, q)
            self.assertNotIn("INDEX SCAN", p, q)
            self.assertNotIn("PK LOOKUP", p, q)
            c.execute(q)
            self.assertEqual(c.fetchall(), want, q)
            c.execute("SET enable_hashjoin = off")
            p = plan(c, q)
            self.assertNotIn("HASH JOIN", p, q)
            c.execute(q)
            self.assertEqual(c.fetchall(), want, q)
            c.execute("SET enable_indexscan TO on")
            self.assertNotIn("HASH JOIN", plan(c, q), q)
            c.execute(q)
            self.assertEqual(c.fetchall(), want, q)
            c.execute("RESET ALL")
        # the battery exercised the paths it is meant to compare
        self.assertEqual(used, {"INDEX SCAN", "HASH JOIN", "PK LOOKUP", "FULL SCAN"})
        self.err("42704", "SET enable_bogus = off")
        self.err("42601", "SET enable_indexscan = maybe")
        c.execute("RESET enable_hashjoin")

    def test_analyze_errors(self):
        c = self.cur()
        self.err("42P01", "ANALYZE no_such_table")
        c.execute("CREATE VIEW skv AS SELECT id FROM sk")
        self.err("42809", "ANALYZE skv")
        c.execute("ANALYZE")  # views are skipped

    def test_stats_as_of(self):
        c = self.cur()
        c.execute("CREATE TABLE h (id INTEGER PRIMARY KEY, k INTEGER)")
        c.execute("CREATE INDEX h_k ON h (k)")
        insert_many(c, "h", ["(%d, %d)" % (i, i % 100) for i in range(1, 1001)])
        c.execute("INSERT INTO h VALUES (1001, 7)")
        before_first = c.seq
        c.execute("ANALYZE h")
        first = c.seq
        self.assertGreater(first, before_first)
        # k = 7 is 11 of 1001 rows: the index
        p = plan(c, "SELECT * FROM h WHERE k = 7")
        self.assertIn("INDEX SCAN h USING h_k", p)
        self.assertEqual(est_rows(p.splitlines()[0]), 10, p)  # 1001 rows / 100 distinct values
        insert_many(c, "h", ["(%d, 7)" % i for i in range(1002, 10001)])
        between = c.seq
        c.execute("ANALYZE h")
        second = c.seq
        self.assertGreater(second, between)
        # now k = 7 is ~90%: a full scan
        p = plan(c, "SELECT * FROM h WHERE k = 7")
        self.assertRegex(p, r"^FULL SCAN h .*cost=", p)
        self.assertGreater(est_rows(p.splitlines()[0]), 8500, p)
        # as of a point before the second ANALYZE: the first statistics (1001 rows, k = 7 rare)
        p = plan(c, "SELECT * FROM h AS OF @seq:%d WHERE k = 7" % between)
        self.assertIn("INDEX SCAN h USING h_k", p)
        self.assertIn("AS OF @seq:%d" % between, p)
        self.assertEqual(est_rows(p.splitlines()[0]), 10, p)
        # as of before the first ANALYZE: no statistics, the rule-based plan (no cost)
        p = plan(c, "SELECT * FROM h AS OF @seq:%d WHERE k = 7" % before_first)
        self.assertNotIn("cost=", p)
        # the session default point works the same way
        c.execute("SET AS OF @seq:%d" % between)
        self.assertEqual(est_rows(plan(c, "SELECT * FROM h WHERE k = 7").splitlines()[0]), 10)
        c.execute("SET AS OF DEFAULT")
        # and the rows are right either way
        c.execute("SELECT count(*) FROM h AS OF @seq:%d WHERE k = 7" % between)
        self.assertEqual(c.fetchall(), [(9010,)])


class PlannerRestartTest(unittest.TestCase):
    def test_stats_survive_restart_and_reindex(self):
        with H.Daemon(query_workers=2) as d:
            conn = driftdb.connect(d.endpoint)
            c = conn.cursor()
            c.execute("CREATE TABLE r (id INTEGER PRIMARY KEY, k INTEGER)")
            c.execute("CREATE INDEX r_k ON r (k)")
            insert_many(c, "r", ["(%d, %d)" % (i, 1 if i % 20 else i) for i in range(1, 2001)])
            c.execute("ANALYZE r")
            want = plan(c, "SELECT * FROM r WHERE k = 1")
            self.assertRegex(want, r"^FULL SCAN r .*\(rows=1900 cost=", want)
            self.assertIn("INDEX SCAN r USING r_k", plan(c, "SELECT * FROM r WHERE k = 40"))
            # every worker shares the statistics (a fresh connection may land on the other worker)
            for _ in range(4):
                c2 = driftdb.connect(d.endpoint)
                self.assertEqual(plan(c2.cursor(), "SELECT * FROM r WHERE k = 1"), want)
                c2.close()
            # the live index equals a rebuild from the log (statistics included)
            p = subprocess.run([DRIFTCTL, "verify", "--indexes", "-D", d.data_dir], capture_output=True, text=True,
                               timeout=120)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            conn.close()
            d.stop()
            p = subprocess.run([DRIFTCTL, "reindex", "-D", d.data_dir], capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
            d.start()
            conn = driftdb.connect(d.endpoint)
            self.assertEqual(plan(conn.cursor(), "SELECT * FROM r WHERE k = 1"), want)
            conn.close()


if __name__ == "__main__":
    unittest.main()
