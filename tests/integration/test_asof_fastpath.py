"""As-of point reads answered by the gateway (modules/gateway/fastread.c) stay correct across schema history.

The gateway's fast reads keep decoded table definitions across statements (table.h drift_tdef_cache_t, keyed by
the table id and the TABLEDEF bytes in force at the point read). Against the real daemon: a table goes through
inserts, updates, ADD COLUMN with a DEFAULT, RENAME COLUMN, DROP COLUMN, a delete, DROP TABLE and a new table of
the same name; point reads by primary key as of every step, and latest, are answered by the gateway (its
fast-read counter in /metrics), in several orders (so definitions decoded earlier are reused after later ones),
and return exactly what a query worker returns for the same statement (read inside BEGIN ... COMMIT, which the
gateway never answers) and the values written then. More tables than the cache holds are read in rotation.
Read-your-writes holds for latest reads right after writes.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from driftharness import Daemon, wait_for  # noqa: E402
from protoutil import Raw  # noqa: E402

FAST = "driftdb_gateway_fast_reads_total"


def counter(d, name):
    return sum(v for (n, _l), v in d.metrics().items() if n == name)


class AsOfFastPathTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(query_workers=1)
        cls.d.__enter__()
        cls.c = Raw(cls.d.endpoint)
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        cls.d.__exit__(None, None, None)

    def call(self, sql, params=None, ok=True):
        type(self).n += 1
        kw = dict(id=self.n, op="query", sql=sql)
        if params is not None:
            kw["params"] = params
        r = self.c.call(**kw)
        if ok:
            self.assertTrue(r["ok"], (sql, r))
        return r

    def worker(self, sql, params=None):
        """The same statement answered by a query worker (a session in a transaction is pinned to one)."""
        self.call("BEGIN")
        try:
            return self.call(sql, params, ok=False)
        finally:
            self.call("COMMIT")

    def wait_fast(self, sql, params):
        def fast():
            f0 = counter(self.d, FAST)
            self.call(sql, params)
            return counter(self.d, FAST) > f0
        wait_for(fast, 20, what="a read answered by the gateway")

    def test_1_schema_history(self):
        seqs = {}

        def step(name, sql, params=None):
            seqs[name] = self.call(sql, params)["seq"]

        step("create", "CREATE TABLE kv (id INTEGER PRIMARY KEY, val INTEGER, pad TEXT)")
        for i in range(1, 11):
            step("ins", "INSERT INTO kv VALUES ($1, $2, $3)", [i, i * 10, "p%d" % i])
        step("upd", "UPDATE kv SET val = val + 1000")
        step("add", "ALTER TABLE kv ADD COLUMN extra TEXT DEFAULT 'dflt'")
        step("upd2", "UPDATE kv SET extra = 'x' || id WHERE id <= 5")
        step("rename", "ALTER TABLE kv RENAME COLUMN pad TO pad2")
        step("dropcol", "ALTER TABLE kv DROP COLUMN val")
        step("del", "DELETE FROM kv WHERE id = 3")
        step("drop", "DROP TABLE kv")
        step("new", "CREATE TABLE kv (id INTEGER PRIMARY KEY, other TEXT)")
        step("newins", "INSERT INTO kv VALUES (3, 'new3'), (7, 'new7')")

        # what each point must show for ids 3 and 7: (columns, {id: row or None})
        want = {
            "ins": (["id", "val", "pad"], {3: [3, 30, "p3"], 7: [7, 70, "p7"]}),
            "upd": (["id", "val", "pad"], {3: [3, 1030, "p3"], 7: [7, 1070, "p7"]}),
            "add": (["id", "val", "pad", "extra"], {3: [3, 1030, "p3", "dflt"], 7: [7, 1070, "p7", "dflt"]}),
            "upd2": (["id", "val", "pad", "extra"], {3: [3, 1030, "p3", "x3"], 7: [7, 1070, "p7", "dflt"]}),
            "rename": (["id", "val", "pad2", "extra"], {3: [3, 1030, "p3", "x3"], 7: [7, 1070, "p7", "dflt"]}),
            "dropcol": (["id", "pad2", "extra"], {3: [3, "p3", "x3"], 7: [7, "p7", "dflt"]}),
            "del": (["id", "pad2", "extra"], {3: None, 7: [7, "p7", "dflt"]}),
            "newins": (["id", "other"], {3: [3, "new3"], 7: [7, "new7"]}),
        }
        sql_at = "SELECT * FROM kv AS OF @seq:%d WHERE id = $1"
        latest = "SELECT * FROM kv WHERE id = $1"
        self.wait_fast(latest, [7])  # the index has every write the gateway forwarded

        def check(name, key, r):
            cols, rows = want[name]
            self.assertTrue(r["ok"], (name, key, r))
            self.assertEqual(r["columns"], cols, (name, key))
            self.assertEqual(r["rows"], [rows[key]] if rows[key] else [], (name, key))

        # forwards, backwards, and newest/oldest alternated: every definition is reused after others
        names = list(want)
        orders = [names, names[::-1], [x for pair in zip(names, names[::-1]) for x in pair]]
        reads = 0
        f0 = counter(self.d, FAST)
        for order in orders:
            for name in order:
                for key in (3, 7):
                    check(name, key, self.call(sql_at % seqs[name], [key]))
                    check("newins", key, self.call(latest, [key]))
                    reads += 2
        self.assertEqual(counter(self.d, FAST) - f0, reads, "every point read is answered by the gateway")
        # the same statements answered by a worker: the same columns and rows
        for name in names:
            for key in (3, 7):
                fast = self.call(sql_at % seqs[name], [key])
                slow = self.worker(sql_at % seqs[name], [key])
                self.assertEqual((fast["columns"], fast["rows"]), (slow["columns"], slow["rows"]), name)
                check(name, key, slow)
        # a column that did not exist then is still an unknown column as of then; before the table, no table
        r = self.call("SELECT extra FROM kv AS OF @seq:%d WHERE id = $1" % seqs["upd"], [7], ok=False)
        self.assertEqual(r["error"]["code"], "42703", r)
        r = self.call("SELECT pad2 FROM kv AS OF @seq:%d WHERE id = $1" % seqs["dropcol"], [7])
        self.assertEqual(r["rows"], [["p7"]])
        r = self.call(sql_at % (seqs["create"] - 1), [7], ok=False)
        self.assertEqual(r["error"]["code"], "42P01", r)

    def test_2_more_tables_than_the_cache_holds(self):
        n = 40  # the cache holds 16 definitions
        seqs = []
        for t in range(n):
            self.call("CREATE TABLE m%d (id INTEGER PRIMARY KEY, v TEXT)" % t)
            seqs.append(self.call("INSERT INTO m%d VALUES (1, $1)" % t, ["old%d" % t])["seq"])
            self.call("UPDATE m%d SET v = $1 WHERE id = 1" % t, ["new%d" % t])
        self.wait_fast("SELECT v FROM m%d WHERE id = $1" % (n - 1), [1])
        f0 = counter(self.d, FAST)
        reads = 0
        for rnd in range(3):
            for t in (range(n) if rnd != 1 else reversed(range(n))):
                r = self.call("SELECT v FROM m%d AS OF @seq:%d WHERE id = $1" % (t, seqs[t]), [1])
                self.assertEqual(r["rows"], [["old%d" % t]], (rnd, t))
                r = self.call("SELECT v FROM m%d WHERE id = $1" % t, [1])
                self.assertEqual(r["rows"], [["new%d" % t]], (rnd, t))
                reads += 2
        self.assertEqual(counter(self.d, FAST) - f0, reads)

    def test_3_read_your_writes_and_old_points(self):
        self.call("CREATE TABLE ryw (id INTEGER PRIMARY KEY, v INTEGER)")
        s0 = self.call("INSERT INTO ryw VALUES (1, 0)")["seq"]
        for i in range(1, 101):
            s = self.call("UPDATE ryw SET v = $1 WHERE id = 1", [i])["seq"]
            self.assertEqual(self.call("SELECT v FROM ryw WHERE id = $1", [1])["rows"], [[i]], i)
            self.assertEqual(self.call("SELECT v FROM ryw AS OF @seq:%d WHERE id = $1" % s, [1])["rows"], [[i]])
            self.assertEqual(self.call("SELECT v FROM ryw AS OF @seq:%d WHERE id = $1" % s0, [1])["rows"], [[0]])
        self.wait_fast("SELECT v FROM ryw WHERE id = $1", [1])
        f0 = counter(self.d, FAST)
        self.assertEqual(self.call("SELECT v FROM ryw AS OF @seq:%d WHERE id = $1" % s0, [1])["rows"], [[0]])
        self.assertEqual(counter(self.d, FAST) - f0, 1)


if __name__ == "__main__":
    unittest.main()
