"""`driftctl ingest` against the real daemon: a 20 000-line file into an SQL
table (one transaction = one seq per batch, the summary line, values of every
JSON type), other batch sizes, objects with differing key sets, a DriftQL
document table (detected), a bad JSON line (FILE:LINE:BYTE, the batches before
it committed, nothing of its batch, resuming with --skip), a batch the server
refuses (SQLSTATE, rolled back whole), usage errors and exit codes, and the
progress bar on a pseudo-terminal."""
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
import unittest

import driftdb
from driftharness import DRIFTCTL, Daemon, free_port

SUMMARY = re.compile(r"^ingested (\d+) rows in (\d+) transactions?, (\d+) rows/s, last seq (\d+|none)$", re.M)


class IngestTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(query_workers=2).start()
        cls.tmp = tempfile.mkdtemp(prefix="drift-ingest-")
        cls.conn = driftdb.connect(cls.daemon.endpoint, timeout=60)

    @classmethod
    def tearDownClass(cls):
        cls.conn.close()
        cls.daemon.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def ctl(self, *args, timeout=300):
        return subprocess.run([DRIFTCTL, "-H", self.daemon.endpoint] + list(args), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def sql(self, sql, params=None):
        cur = self.conn.cursor()
        cur.execute(sql, params)
        return cur

    def rows(self, sql, params=None):
        return self.sql(sql, params).fetchall()

    def write(self, name, lines):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            for line in lines:
                f.write(line if isinstance(line, str) else json.dumps(line))
                f.write("\n")
        return path

    def item(self, i):
        return {"id": i, "name": "item %d" % i, "qty": i % 17, "price": (i % 40) * 0.25, "ok": i % 3 == 0,
                "meta": {"i": i, "tags": ["a", "b"][: i % 3]}}

    def create_items(self, name):
        self.sql("CREATE TABLE %s (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER, price REAL, ok BOOLEAN, "
                 "meta JSON)" % name)

    def summary(self, out):
        m = SUMMARY.search(out)
        self.assertIsNotNone(m, "no summary line in %r" % out)
        return int(m.group(1)), int(m.group(2)), m.group(4)

    def test_20k_lines(self):
        self.create_items("items")
        n = 20000
        path = self.write("items.jsonl", (self.item(i) for i in range(1, n + 1)))
        t0 = time.monotonic()
        r = self.ctl("ingest", "items", path)
        dt = time.monotonic() - t0
        self.assertEqual(r.returncode, 0, r.stderr)
        rows, txns, last = self.summary(r.stdout)
        self.assertEqual((rows, txns), (n, 20))
        self.assertEqual(r.stderr, "")  # no progress bar when stderr is not a terminal
        self.assertEqual(int(last), self.conn.ping())
        self.assertEqual(self.rows("SELECT count(*), sum(qty), min(id), max(id) FROM items"),
                         [(n, sum(i % 17 for i in range(1, n + 1)), 1, n)])
        # one transaction = one seq per batch of 1000 lines, in file order
        seqs = self.rows("SELECT _seq, count(*), min(id), max(id) FROM items GROUP BY _seq ORDER BY _seq")
        self.assertEqual([(c, lo, hi) for _, c, lo, hi in seqs], [(1000, k * 1000 + 1, k * 1000 + 1000)
                                                                 for k in range(20)])
        self.assertEqual(seqs[-1][0], int(last))
        # every JSON type arrived as the column's type
        self.assertEqual(self.rows("SELECT id, name, qty, price, ok, meta FROM items WHERE id = 7"),
                         [(7, "item 7", 7, 1.75, False, {"i": 7, "tags": ["a"]})])
        self.assertEqual(self.rows("SELECT ok FROM items WHERE id = 9"), [(True,)])
        print("ingest: %d rows in %.2f s (%.0f rows/s with ASan if enabled)" % (n, dt, n / dt))

    def test_batch_size_and_key_sets(self):
        self.create_items("mixed")
        lines = []
        for i in range(1, 1201):
            o = self.item(i)
            if i % 5 == 0:
                del o["meta"]  # another key set: another statement in the same transaction
            if i % 7 == 0:
                o = {k: o[k] for k in reversed(list(o))}  # same key set, another order: same statement
            lines.append(o)
        path = self.write("mixed.jsonl", lines)
        r = self.ctl("ingest", "--batch", "500", "mixed", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.summary(r.stdout)[:2], (1200, 3))
        self.assertEqual([c for _, c in self.rows("SELECT _seq, count(*) FROM mixed GROUP BY _seq ORDER BY _seq")],
                         [500, 500, 200])
        self.assertEqual(self.rows("SELECT count(*) FROM mixed WHERE meta IS NULL"), [(240,)])
        self.assertEqual(self.rows("SELECT name, qty FROM mixed WHERE id = 14"), [("item 14", 14)])

    def test_bad_line_and_resume(self):
        self.create_items("bad")
        lines = [json.dumps(self.item(i)) for i in range(1, 2501)]
        lines[1233] = '{"id": 1234, "name": "broken", "qty": 1,,}'
        path = self.write("bad.jsonl", lines)
        r = self.ctl("ingest", "bad", path)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr, re.escape(path) + r":1234:\d+: bad JSON line")
        self.assertIn("nothing of the batch of lines 1001-1234 was committed", r.stderr)
        self.assertIn("committed 1000 rows in 1 transaction before the error", r.stderr)
        self.assertIn("--skip 1000", r.stderr)
        self.assertEqual(self.rows("SELECT count(*), max(id) FROM bad"), [(1000, 1000)])
        # fix the line, resume
        lines[1233] = json.dumps(self.item(1234))
        path = self.write("bad.jsonl", lines)
        r = self.ctl("ingest", "--skip", "1000", "bad", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.summary(r.stdout)[:2], (1500, 2))
        self.assertEqual(self.rows("SELECT count(*), max(id) FROM bad"), [(2500, 2500)])

    def test_not_an_object(self):
        self.create_items("notobj")
        path = self.write("notobj.jsonl", [self.item(1), "", "   ", "[1, 2]", self.item(5)])
        r = self.ctl("ingest", "notobj", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn(path + ":4:1: bad JSON line: not a JSON object", r.stderr)
        self.assertEqual(self.rows("SELECT count(*) FROM notobj"), [(0,)])

    def test_refused_batch_rolls_back(self):
        self.create_items("dup")
        lines = [self.item(i) for i in range(1, 301)]
        lines[250] = self.item(120)  # duplicate primary key in the third batch
        path = self.write("dup.jsonl", lines)
        r = self.ctl("ingest", "--batch", "100", "dup", path)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr, re.escape(path) + r":201-300: ERROR 23505: ")
        self.assertIn("nothing of the batch of lines 201-300 was committed", r.stderr)
        self.assertEqual(self.rows("SELECT count(*), max(id) FROM dup"), [(200, 200)])

    def test_wrong_column_and_missing_table(self):
        self.create_items("wrongcol")
        path = self.write("wrongcol.jsonl", [{"id": 1, "nosuch": 2}])
        r = self.ctl("ingest", "wrongcol", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("ERROR 42703", r.stderr)
        r = self.ctl("ingest", "no_such_table", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("ERROR 42P01", r.stderr)

    def test_document_table(self):
        self.sql("CREATE TABLE events (pk=id, INDEX(kind))")
        n = 2500
        docs = [{"id": i, "kind": ["click", "view", "buy"][i % 3], "n": i, "attrs": {"x": i % 10}}
                for i in range(1, n + 1)]
        path = self.write("events.jsonl", docs)
        r = self.ctl("ingest", "events", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.summary(r.stdout)[:2], (n, 3))
        self.assertEqual(self.rows("SELECT count(*) FROM events"), [(n,)])
        self.assertEqual(len(self.rows("SELECT DISTINCT _seq FROM events")), 3)
        doc = self.rows("SELECT doc FROM events WHERE id = 77")[0][0]
        if isinstance(doc, str):
            doc = json.loads(doc)
        self.assertEqual(doc, docs[76])
        self.assertEqual(self.rows("SELECT count(*) FROM events WHERE doc->>'kind' = 'buy'"), [(n // 3,)])
        # a duplicate document key fails its batch only
        path = self.write("events2.jsonl", [{"id": n + 1, "kind": "view"}, {"id": 5, "kind": "dup"}])
        r = self.ctl("ingest", "--doc", "events", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn(path + ":2: ERROR 23505", r.stderr)
        self.assertEqual(self.rows("SELECT count(*) FROM events"), [(n,)])

    def test_usage_and_unreachable(self):
        self.create_items("usage")
        path = self.write("one.jsonl", [self.item(1)])
        for args in (["ingest"], ["ingest", "usage"], ["ingest", "--batch", "0", "usage", path],
                     ["ingest", "--batch", "x", "usage", path], ["ingest", "usage", path, "extra"],
                     ["ingest", "usage", os.path.join(self.tmp, "missing.jsonl")]):
            r = self.ctl(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
        r = subprocess.run([DRIFTCTL, "-H", "tcp://127.0.0.1:%d" % free_port(), "--connect-timeout", "300", "ingest",
                            "usage", path], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 3, r.stderr)
        # stdin
        r = subprocess.run([DRIFTCTL, "-H", self.daemon.endpoint, "ingest", "usage", "-"], input=json.dumps(
            self.item(2)) + "\n", capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.summary(r.stdout)[:2], (1, 1))
        # -q: no summary
        r = self.ctl("ingest", "-q", "usage", self.write("three.jsonl", [self.item(3)]))
        self.assertEqual((r.returncode, r.stdout), (0, ""))

    def test_progress_bar_on_a_terminal(self):
        self.create_items("tty")
        path = self.write("tty.jsonl", (self.item(i) for i in range(1, 5001)))
        master, slave = os.openpty()
        proc = subprocess.Popen([DRIFTCTL, "-H", self.daemon.endpoint, "ingest", "--batch", "250", "tty", path],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        err = b""
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    data = os.read(master, 4096)
                except OSError:
                    data = b""
                if not data:
                    break
                err += data
            elif proc.poll() is not None:
                break
        out = proc.stdout.read().decode()
        proc.stdout.close()
        proc.wait(60)
        os.close(master)
        self.assertEqual(proc.returncode, 0, err)
        text = err.decode(errors="replace")
        self.assertRegex(text, r"\r\x1b\[K\[[#.]{30}\] +\d+%  \d+ rows  \d+ rows/s")
        self.assertTrue(text.endswith("\r\x1b[K"), repr(text[-40:]))  # the bar is cleared at the end
        self.assertEqual(self.summary(out)[:2], (5000, 20))


if __name__ == "__main__":
    unittest.main()
