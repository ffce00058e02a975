"""test_bench_index — issue 5's benchmark tool, bench/index/bench_index, run small against this build:
- with SQLite: it loads the same versions into the index (through the indexer's code path, from a real log)
  and into SQLite's history-table emulation, cross-checks every query's answers between the two (it exits
  non-zero on a mismatch) and prints a table with a number in every cell;
- with --no-sqlite: the SQLite cells say "not run" (regression: they showed the timings of statements on
  SQLite's empty tables, and an absurd loading rate);
- --hot-keys: keys with few and with many versions in one tree, read side by side (the sums of both systems
  cross-checked by the tool), six more rows and the paired summary line;
- --lag against a running daemon: the writer's and the indexer's rates and the lag, and the indexer catches
  up after the load."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import driftharness as H

TOOL = os.path.join(H.BUILDDIR, "bench", "index", "bench_index")


def run(*args, timeout=300):
    p = subprocess.run([TOOL] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def table_rows(out):
    """The rows of the result table: [what, DriftDB, SQLite, ratio]."""
    rows = []
    for line in out.splitlines():
        if line.startswith("| ") and not line.startswith("| what"):
            rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


@unittest.skipUnless(os.path.exists(TOOL), "bench_index not built (needs libsqlite3-dev)")
class BenchIndexTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="drift-bench-index-test-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_side_by_side_with_sqlite(self):
        rc, out, err = run("--rows", "3000", "--versions", "4", "--queries", "1000", "--dir",
                           os.path.join(self.tmp, "b"))
        self.assertEqual(rc, 0, out + err)
        rows = table_rows(out)
        self.assertEqual(len(rows), 9, out)  # loading + 8 queries
        self.assertIn("loading 12000 versions", rows[0][0])
        for what, drift, sqlite, ratio in rows:
            self.assertRegex(drift, r"^[0-9.]+ ", what)
            self.assertRegex(sqlite, r"^[0-9.]+ ", what)
            self.assertGreater(float(ratio), 0.0, what)
        self.assertRegex(out, r"as-of point read \(old seq\) / latest point read: [0-9.]+")
        self.assertRegex(out, r"SQLite file [0-9]+ MiB")
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "b")))  # removed without --keep

    def test_hot_keys(self):
        rc, out, err = run("--rows", "2000", "--versions", "3", "--hot-keys", "20", "--hot-versions", "50",
                           "--queries", "500", "--dir", os.path.join(self.tmp, "h"))
        self.assertEqual(rc, 0, out + err)
        rows = table_rows(out)
        self.assertEqual(len(rows), 15, out)  # loading + 8 queries + 6 of keys with 3 / 53 versions
        self.assertIn("loading 7000 versions", rows[0][0])  # 2 000 x 3 + 20 x 50
        hot = [r for r in rows if "key with" in r[0]]
        self.assertEqual([r[0].rsplit(" ", 2)[1] for r in hot], ["3", "53"] * 3, out)
        for what, drift, sqlite, ratio in hot:
            self.assertRegex(drift, r"^[0-9.]+ ", what)
            self.assertRegex(sqlite, r"^[0-9.]+ ", what)
        self.assertRegex(out, r"keys with 3 / 53 versions \(paired, 9 rounds, medians\): latest [0-9.]+ / [0-9.]+ µs")
        rc, out, err = run("--rows", "2000", "--versions", "3", "--hot-keys", "1001", "--dir", self.tmp + "/x")
        self.assertEqual(rc, 2, out + err)  # more hot keys than half the rows: refused
        self.assertIn("hot-keys <= rows / 2", err)

    def test_no_sqlite_leaves_its_cells_empty(self):
        rc, out, err = run("--rows", "2000", "--versions", "3", "--queries", "500", "--no-sqlite", "--dir",
                           os.path.join(self.tmp, "n"))
        self.assertEqual(rc, 0, out + err)
        rows = table_rows(out)
        self.assertEqual(len(rows), 9, out)
        for what, drift, sqlite, ratio in rows:
            self.assertRegex(drift, r"^[0-9.]+ ", what)
            self.assertEqual(sqlite, "not run", what)
            self.assertEqual(ratio, "-", what)
        self.assertIn("SQLite file not loaded", out)

    def test_lag_against_the_daemon(self):
        with H.Daemon(query_workers=1) as d:
            rc, out, err = run("--lag", d.data_dir, "--clients", "2", "--ops-per-commit", "10", "--seconds", "1",
                               timeout=120)
            self.assertEqual(rc, 0, out + err)
            m = re.search(r"RESULT (.*)", out)
            self.assertIsNotNone(m, out + err)
            r = dict(kv.split("=") for kv in m.group(1).split())
            self.assertEqual(r["errors"], "0")
            self.assertGreater(float(r["writer_rows_s"]), 0)
            self.assertGreater(float(r["indexer_rows_s"]), 0)
            self.assertLess(float(r["catch_up_ms"]), 60000)  # it caught up (the tool waits at most 60 s)
            m = d.metrics()
            self.assertEqual(m[("driftdb_indexed_seq", frozenset())], m[("driftdb_commit_seq", frozenset())])


if __name__ == "__main__":
    unittest.main(verbosity=2)
