"""`driftctl demo` against a fresh daemon: exit 0, every statement of the
walkthrough printed with a non-empty result where one is expected (the order
before the changes AS OF a seq and a time, its three versions, SHOW DRIFT with
the delete, EXPLAIN with a primary-key lookup and an index scan, the DriftQL
table), the data loaded through the ingest path (10 000 orders, 10
transactions); a second run on the same daemon uses orders_2 and says so."""
import re
import shutil
import subprocess
import tempfile
import unittest

import driftdb
from driftharness import DRIFTCTL, Daemon


def blocks(out):
    """{statement: its printed result} from the demo's output."""
    res = {}
    cur = None
    for line in out.splitlines():
        if line.startswith("drift=> "):
            cur = line[len("drift=> "):].rstrip(";")
            res[cur] = []
        elif line.startswith("-- ") or line.startswith("$ "):
            cur = None
        elif cur is not None:
            res[cur].append(line)
    return {k: "\n".join(v) for k, v in res.items()}


def nrows(result):
    m = re.search(r"^\((\d+) rows?\)$", result, re.M)
    return int(m.group(1)) if m else None


class DemoTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(query_workers=2).start()
        cls.tmp = tempfile.mkdtemp(prefix="drift-demo-")

    @classmethod
    def tearDownClass(cls):
        cls.daemon.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def demo(self):
        return subprocess.run([DRIFTCTL, "-H", self.daemon.endpoint, "demo"], capture_output=True, text=True,
                              timeout=600, stdin=subprocess.DEVNULL, env={"TMPDIR": self.tmp, "PATH": "/usr/bin:/bin"})

    def find(self, b, *parts):
        """The result of the one statement containing every part."""
        hits = [k for k in b if all(p in k for p in parts)]
        self.assertEqual(len(hits), 1, (parts, list(b)))
        return b[hits[0]]

    def test_demo_twice(self):
        r = self.demo()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out = r.stdout
        b = blocks(out)
        self.assertRegex(out, r"ingested 10000 rows in 10 transactions, \d+ rows/s, last seq \d+")
        self.assertIn("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, amount REAL, status TEXT, "
                      "created TIMESTAMP)", b)
        # order 42 is gone now, and there before the changes (by seq and by time)
        self.assertEqual(nrows(b["SELECT id, customer, amount, status FROM orders WHERE id = 42"]), 0)
        before = self.find(b, "FROM orders AS OF @seq:", "WHERE id = 42", "customer")
        self.assertEqual(nrows(before), 1)
        by_time = self.find(b, "FOR SYSTEM_TIME AS OF '", "WHERE id = 42")
        self.assertEqual(nrows(by_time), 1)
        self.assertEqual(before.splitlines()[2], by_time.splitlines()[2])  # the same row
        # its versions: insert, update, update (the last ended by the delete)
        hist = self.find(b, "FOR SYSTEM_TIME ALL WHERE id = 42")
        self.assertEqual(nrows(hist), 3)
        for col in ("_seq", "_ts", "_op", "_end_seq"):
            self.assertIn(col, hist.splitlines()[0])
        self.assertEqual([ln.count("update") for ln in hist.splitlines()[2:5]], [0, 1, 1])
        self.assertIn("insert", hist.splitlines()[2])
        self.assertEqual([ln.split("|")[1].strip() for ln in hist.splitlines()[2:5]], ["paid", "shipped", "shipped"])
        self.assertIn("paid", before)
        self.assertEqual(nrows(self.find(b, "FOR SYSTEM_TIME BETWEEN")), 2)
        drift = self.find(b, "SHOW DRIFT orders KEY 42")
        self.assertEqual(nrows(drift), 4)  # insert, update, update, delete
        self.assertIn("delete", drift)
        # EXPLAIN: the access paths
        self.assertRegex(self.find(b, "EXPLAIN", "id = 43").upper(), r"PK|PRIMARY")
        self.assertIn("INDEX", self.find(b, "EXPLAIN", "customer = 'alice'").upper())
        # group counts before and after the changes: 4 fewer orders now (7, 8, 9, 42)
        now = b["SELECT status, count(*) AS n FROM orders GROUP BY status ORDER BY status"]
        then = self.find(b, "GROUP BY status", "AS OF @seq:")
        total = lambda res: sum(int(ln.split("|")[1]) for ln in res.splitlines()[2:-1])
        self.assertEqual(total(then), 10000)
        self.assertEqual(total(now), 9996)
        self.assertIn("cancelled", now)
        self.assertNotIn("cancelled", then)
        # DriftQL
        self.assertEqual(nrows(self.find(b, "doc->>'name' AS name")), 2)  # before the soft delete
        self.assertIn("London", self.find(b, "AS OF @seq:", "doc->>'city' AS city FROM profiles"))
        self.assertEqual(nrows(self.find(b, "SHOW DRIFT profiles KEY 1")), 2)
        self.assertEqual(r.stderr, "")

        # the data are really there
        with driftdb.connect(self.daemon.endpoint) as c:
            cur = c.cursor()
            cur.execute("SELECT count(*) FROM orders")
            self.assertEqual(cur.fetchone()[0], 9996)

        # a second run: new table names, said clearly
        r2 = self.demo()
        self.assertEqual(r2.returncode, 0, r2.stdout + r2.stderr)
        self.assertIn("NOTE: table orders already exists", r2.stdout)
        self.assertIn("CREATE TABLE orders_2 (", r2.stdout)
        self.assertIn("SHOW DRIFT orders_2 KEY 42", r2.stdout)


if __name__ == "__main__":
    unittest.main()
