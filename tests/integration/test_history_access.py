#!/usr/bin/python3
"""History queries by primary key through the real daemon (driftharness).

`FOR SYSTEM_TIME ALL / BETWEEN / FROM..TO` relations with a primary-key
condition are read by a version scan of only the keys it selects (`PK VERSION
LOOKUP` / `PK VERSION RANGE SCAN` in EXPLAIN) instead of every version of the
table. A seeded random history (inserts, updates, deletes and re-inserts of the
same keys, in autocommit statements and multi-statement transactions) is
written to a single-column INTEGER key table, a composite (INTEGER, TEXT) key
table and a TEXT key table (and a DriftQL document table gets inserts,
patches, a soft delete and a re-insert); then a battery of history queries (point, IN, OR of
points, ranges, composite prefixes and prefix + range, bind parameters, probes
of another type, joins on the key, BETWEEN and FROM..TO windows from the
recorded seqs) must give exactly the rows of the full version scan that
`SET enable_indexscan = off` forces, and EXPLAIN shows which path each used.
A point history read of a 4000-key table must also be clearly cheaper than the
full version scan (minimum of several runs, measured in one process).

The seed is printed; set DRIFT_HA_SEED to replay one."""
import os
import random
import re
import sys
import time
import unittest

import driftdb
from driftharness import Daemon

SEED = int(os.environ.get("DRIFT_HA_SEED") or random.SystemRandom().randrange(1, 2 ** 31))
NKEYS = 40  # keys per small table


def plan(cur, sql, params=None):
    cur.execute("EXPLAIN " + sql, params)
    return "\n".join(r[0] for r in cur.fetchall())


class HistoryAccessTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        print("test_history_access: seed %d (DRIFT_HA_SEED to replay)" % SEED, file=sys.stderr)
        cls.d = Daemon(query_workers=1)
        cls.d.__enter__()
        cls.conn = driftdb.connect(cls.d.endpoint)
        cls.rng = random.Random(SEED)
        c = cls.conn.cursor()
        c.execute("CREATE TABLE kv (id INTEGER PRIMARY KEY, v TEXT, n INTEGER)")
        c.execute("CREATE INDEX kv_n ON kv (n)")
        c.execute("CREATE TABLE comp (a INTEGER, b TEXT, v INTEGER, PRIMARY KEY (a, b))")
        c.execute("CREATE TABLE tk (k TEXT PRIMARY KEY, n INTEGER)")
        c.execute("CREATE TABLE big (id INTEGER PRIMARY KEY, v INTEGER)")
        # a DriftQL document table: insert, patch, soft delete and re-insert of the same documents
        c.execute("CREATE TABLE docs (pk=id)")
        for i in range(1, 7):
            c.execute('INSERT INTO docs {"id": %d, "n": %d}' % (i, i))
        for i in (2, 3, 5):
            c.execute('PATCH docs KEY %d SET {"n": %d}' % (i, 10 * i))
        c.execute("SOFT DELETE FROM docs KEY 3")
        c.execute('INSERT INTO docs {"id": 3, "n": 33}')
        c.execute('PATCH docs KEY 3 SET {"m": 1}')
        cls.seqs = cls.write_history(c)
        # big: 4000 keys x 3 versions (v = 0, 1, 2), for the cost check
        for lo in range(0, 4000, 1000):
            c.execute("INSERT INTO big VALUES %s" % ", ".join("(%d, 0)" % i for i in range(lo, lo + 1000)))
        for ver in (1, 2):
            c.execute("UPDATE big SET v = %d" % ver)

    @classmethod
    def tearDownClass(cls):
        cls.conn.close()
        cls.d.__exit__(None, None, None)

    @classmethod
    def write_history(cls, c):
        """Random inserts / updates / deletes / re-inserts of NKEYS keys per table; returns the commit seqs."""
        rng = cls.rng
        live = {"kv": set(), "comp": set(), "tk": set()}
        seqs = []

        def key_sql(table, k):
            if table == "kv":
                return "id = %d" % k
            if table == "comp":
                return "a = %d AND b = '%s'" % k
            return "k = '%s'" % k

        def keys(table):
            if table == "kv":
                return list(range(1, NKEYS + 1))
            if table == "comp":
                return [(a, b) for a in range(1, NKEYS // 4 + 1) for b in ("x", "y", "yy", "z")]
            return ["k%02d" % i for i in range(NKEYS)]

        def stmt(table):
            k = rng.choice(keys(table))
            v = rng.randrange(100)
            if k in live[table]:
                if rng.random() < 0.35:
                    live[table].discard(k)
                    return "DELETE FROM %s WHERE %s" % (table, key_sql(table, k))
                col = {"kv": "n", "comp": "v", "tk": "n"}[table]
                return "UPDATE %s SET %s = %d WHERE %s" % (table, col, v, key_sql(table, k))
            live[table].add(k)
            if table == "kv":
                return "INSERT INTO kv VALUES (%d, 'v%d', %d)" % (k, v, v % 7)
            if table == "comp":
                return "INSERT INTO comp VALUES (%d, '%s', %d)" % (k[0], k[1], v)
            return "INSERT INTO tk VALUES ('%s', %d)" % (k, v)

        for i in range(260):
            table = rng.choice(["kv", "comp", "tk"])
            if rng.random() < 0.2:
                c.execute("BEGIN")
                for _ in range(rng.randrange(2, 5)):
                    c.execute(stmt(rng.choice(["kv", "comp", "tk"])))
                if rng.random() < 0.15:
                    c.execute("ROLLBACK")
                    # the model of live keys is only used to pick statements: re-read it
                    for t, kc in (("kv", "id"), ("comp", "a, b"), ("tk", "k")):
                        c.execute("SELECT %s FROM %s" % (kc, t))
                        live[t] = set(tuple(r) if t == "comp" else r[0] for r in c.fetchall())
                    continue
                c.execute("COMMIT")
            else:
                c.execute(stmt(table))
            if isinstance(c.seq, int) and c.seq > 0:
                seqs.append(c.seq)
        return seqs

    def battery(self):
        rng = random.Random(SEED + 1)
        s = self.seqs
        wins = ["FOR SYSTEM_TIME ALL"]
        for _ in range(4):
            a, b = sorted(rng.sample(s, 2))
            wins.append("FOR SYSTEM_TIME BETWEEN @seq:%d AND @seq:%d" % (a, b))
            wins.append("FOR SYSTEM_TIME FROM @seq:%d TO @seq:%d" % (a, b))
        wins.append("FOR SYSTEM_TIME FROM @seq:%d TO @seq:%d" % (s[10], s[10]))  # empty window
        qs = []
        for w in wins:
            k = rng.randrange(1, NKEYS + 1)
            a = rng.randrange(1, NKEYS // 4 + 1)
            qs += [
                ("SELECT *, _seq, _end_seq, _op FROM kv %s WHERE id = %d" % (w, k), None, "PK VERSION LOOKUP kv"),
                ("SELECT id, v, _seq FROM kv %s WHERE id = $1" % w, (k,), "PK VERSION LOOKUP kv"),
                ("SELECT id, n, _seq FROM kv %s WHERE id IN (%d, 3, %d, 3, 1000)" % (w, k, NKEYS - k + 1), None,
                 "PK VERSION LOOKUP kv (id IN"),
                ("SELECT id, _seq FROM kv %s WHERE id = 2 OR id = %d" % (w, k), None, "PK VERSION LOOKUP kv"),
                ("SELECT id, _seq, _end_seq FROM kv %s WHERE id BETWEEN %d AND %d" % (w, k, k + 6), None,
                 "PK VERSION RANGE SCAN kv"),
                ("SELECT id, _seq FROM kv %s WHERE id > %d" % (w, k), None, "PK VERSION RANGE SCAN kv"),
                ("SELECT id, _seq FROM kv %s WHERE id <= %d AND n < 4" % (w, k), None, "PK VERSION RANGE SCAN kv"),
                ("SELECT count(*), max(_seq) FROM kv %s WHERE id = %d AND n = 3" % (w, k), None,
                 "PK VERSION LOOKUP kv"),
                ("SELECT id, _seq FROM kv %s WHERE id = '%d'" % (w, k), None, None),  # text probe of an int key
                ("SELECT id, _seq FROM kv %s WHERE id = 2.5" % w, None, None),
                ("SELECT id FROM kv %s WHERE id = NULL" % w, None, None),
                ("SELECT id, _seq FROM kv %s WHERE n = 3" % w, None, "VERSION SCAN kv"),  # secondary: full
                ("SELECT a, b, v, _seq, _end_seq FROM comp %s WHERE a = %d" % (w, a), None,
                 "PK VERSION RANGE SCAN comp (a = "),
                ("SELECT a, b, v, _seq FROM comp %s WHERE a = %d AND b = 'y'" % (w, a), None,
                 "PK VERSION LOOKUP comp"),
                ("SELECT a, b, _seq FROM comp %s WHERE a = %d AND b > 'y'" % (w, a), None,
                 "PK VERSION RANGE SCAN comp"),
                ("SELECT a, b, _seq FROM comp %s WHERE a >= %d AND a < %d" % (w, a, a + 2), None,
                 "PK VERSION RANGE SCAN comp"),
                ("SELECT a, b, _seq FROM comp %s WHERE b = 'x'" % w, None, "VERSION SCAN comp"),
                ("SELECT k, n, _seq FROM tk %s WHERE k = 'k%02d'" % (w, k % NKEYS), None, "PK VERSION LOOKUP tk"),
                ("SELECT k, n, _seq FROM tk %s WHERE k >= 'k1' AND k < 'k2'" % w, None, "PK VERSION RANGE SCAN tk"),
                ("SELECT k, _seq FROM tk %s WHERE k IN ('k01', 'k%02d', 'zz')" % (w, k % NKEYS), None,
                 "PK VERSION LOOKUP tk (k IN"),
                ("SELECT id, doc, _seq, _op, _end_seq FROM docs %s WHERE id = 3" % w, None, "PK VERSION LOOKUP docs"),
                ("SELECT id, doc, _seq FROM docs %s WHERE id IN (2, 3, 9)" % w, None, "PK VERSION LOOKUP docs"),
                ("SELECT id, _seq FROM docs %s WHERE id >= 3" % w, None, "PK VERSION RANGE SCAN docs"),
                # joins on the key of the history relation
                ("SELECT h.id, h._seq, p.v FROM kv p JOIN kv %s h ON h.id = p.id WHERE p.n = 2 ORDER BY 1, 2" % w,
                 None, "PK VERSION LOOKUP kv (id = p.id)"),
                ("SELECT c.a, c.b, c._seq FROM kv k JOIN comp %s c ON c.a = k.id WHERE k.id < 4 ORDER BY 1, 2, 3" % w,
                 None, "PK VERSION RANGE SCAN comp (a = k.id)"),
                ("SELECT p.id, h._seq FROM kv p LEFT JOIN kv %s h ON h.id = p.id AND h.n = 1 WHERE p.id < 12 "
                 "ORDER BY 1, 2" % w, None, "LEFT JOIN PK VERSION LOOKUP kv (id = p.id)"),
                ("SELECT count(*) FROM kv %s h WHERE h.id IN (SELECT id FROM kv WHERE n = 1)" % w, None, None),
                ("SELECT id, _seq FROM kv %s WHERE id = %d ORDER BY _seq DESC" % (w, k), None,
                 "PK VERSION LOOKUP kv"),
            ]
        return qs

    def test_same_rows_as_full_version_scan(self):
        c = self.conn.cursor()
        used = set()
        for sql, params, want_path in self.battery():
            where = "%s %r (seed %d)" % (sql, params, SEED)
            p = plan(c, sql, params)
            if want_path:
                self.assertIn(want_path, p, where + "\n" + p)
            for kind in ("PK VERSION LOOKUP", "PK VERSION RANGE SCAN", "VERSION SCAN"):
                if kind in p:
                    used.add(kind)
            c.execute(sql, params)
            got = c.fetchall()
            c.execute("SET enable_indexscan = off")
            try:
                p_off = plan(c, sql, params)
                self.assertNotIn("PK VERSION", p_off, where)
                c.execute(sql, params)
                want = c.fetchall()
            finally:
                c.execute("RESET enable_indexscan")
            self.assertEqual(got, want, where + "\n" + p)
        self.assertEqual(used, {"PK VERSION LOOKUP", "PK VERSION RANGE SCAN", "VERSION SCAN"})

    def test_results_are_not_vacuous(self):
        """The random history has keys with several versions, deletes and re-inserts, seen by the point path."""
        c = self.conn.cursor()
        c.execute("SELECT id, count(*) FROM kv FOR SYSTEM_TIME ALL GROUP BY id HAVING count(*) >= 3")
        multi = c.fetchall()
        self.assertTrue(multi, "seed %d" % SEED)
        k = multi[0][0]
        c.execute("SELECT _seq, _end_seq FROM kv FOR SYSTEM_TIME ALL WHERE id = %d" % k)
        rows = c.fetchall()
        self.assertEqual(len(rows), multi[0][1])
        self.assertEqual([r[0] for r in rows], sorted(r[0] for r in rows))
        # a deleted and re-inserted key: a version that ended where no version of the key begins
        c.execute("SELECT id, _seq, _end_seq FROM kv FOR SYSTEM_TIME ALL ORDER BY id, _seq")
        allv = c.fetchall()
        gaps = [(a[0]) for a, b in zip(allv, allv[1:]) if a[0] == b[0] and a[2] != b[1]]
        self.assertTrue(gaps, "no delete + re-insert in the history (seed %d)" % SEED)
        c.execute("SELECT _seq FROM kv FOR SYSTEM_TIME ALL WHERE id = $1", (gaps[0],))
        self.assertEqual([r[0] for r in c.fetchall()], [r[1] for r in allv if r[0] == gaps[0]])

    def test_explain_text(self):
        c = self.conn.cursor()
        p = plan(c, "SELECT * FROM kv FOR SYSTEM_TIME ALL WHERE id = 5")
        self.assertRegex(p, r"^PK VERSION LOOKUP kv \(id = 5\) FOR SYSTEM_TIME ALL \(rows=\d+\)")
        self.assertIn("FILTER id = 5", p)
        a, b = self.seqs[3], self.seqs[9]
        p = plan(c, "SELECT * FROM comp FOR SYSTEM_TIME BETWEEN @seq:%d AND @seq:%d AS h WHERE a = 2" % (a, b))
        self.assertRegex(p, r"^PK VERSION RANGE SCAN comp \(a = 2\) FOR SYSTEM_TIME BETWEEN @seq:%d AND @seq:%d "
                            r"AS h \(rows=" % (a, b))
        c.execute("SET enable_indexscan = off")
        p = plan(c, "SELECT * FROM kv FOR SYSTEM_TIME ALL WHERE id = 5")
        c.execute("RESET enable_indexscan")
        self.assertRegex(p, r"^VERSION SCAN kv FOR SYSTEM_TIME ALL \(rows=")

    def test_point_history_reads_only_its_versions(self):
        """4000 keys x 3 versions: EXPLAIN ANALYZE's scanned count (index entries the scan stepped over) is the
        key's own versions on the pk path and every version with forced full scans."""
        c = self.conn.cursor()
        sql = "SELECT v, _seq FROM big FOR SYSTEM_TIME ALL WHERE id = 1037"

        def scanned():
            c.execute("EXPLAIN ANALYZE " + sql)
            p = "\n".join(r[0] for r in c.fetchall())
            m = re.search(r"\(scanned=(\d+)\)", p)
            self.assertTrue(m, p)
            self.assertIn("actual rows=3 ", p)
            return int(m.group(1))

        fast = scanned()
        c.execute("SET enable_indexscan = off")
        try:
            slow = scanned()
        finally:
            c.execute("RESET enable_indexscan")
        self.assertLessEqual(fast, 4)
        self.assertGreaterEqual(slow, 4000 * 3)


if __name__ == "__main__":
    unittest.main()
