"""Self-test of the sqllogictest runner (tests/slt/slt.py) against the real
daemon: records that must pass pass, records that must fail are counted as
failures, unsupported kinds and other engines are counted apart, hashing and
labels work. Uses DriftDB's own files in tests/slt/selftest/."""
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import slt  # noqa: E402


def run(*paths):
    p = subprocess.run([sys.executable, os.path.join(HERE, "slt.py"), "--root", HERE] + list(paths),
                       capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout + p.stderr


class RunnerTest(unittest.TestCase):
    def test_pass_file(self):
        rc, out = run(os.path.join(HERE, "selftest", "pass.test"))
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"selftest/pass.test\s+9 passed\s+0 failed\s+1 skipped\s+2 other-engine")

    def test_fail_file(self):
        rc, out = run(os.path.join(HERE, "selftest", "fail.test"))
        self.assertEqual(rc, 0, out)  # failures are reported, not fatal, without a baseline
        self.assertRegex(out, r"selftest/fail.test\s+0 passed\s+5 failed\s+0 skipped")
        self.assertIn("sqllogictest total: 0 records passed, 5 failed", out)

    def test_baseline_ratchet(self):
        import tempfile
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write("selftest/pass.test 10\n")  # more than the file can pass
        try:
            rc, out = run("--baseline", f.name, os.path.join(HERE, "selftest", "pass.test"))
            self.assertEqual(rc, 1, out)
            self.assertIn("REGRESSION: selftest/pass.test passed 9 records, baseline 10", out)
        finally:
            os.unlink(f.name)

    def test_format_and_hash(self):
        self.assertEqual(slt.fmt_value(None, "I"), "NULL")
        self.assertEqual(slt.fmt_value(2.7, "I"), "2")
        self.assertEqual(slt.fmt_value(1, "R"), "1.000")
        self.assertEqual(slt.fmt_value("", "T"), "(empty)")
        self.assertEqual(slt.fmt_value("a\tb", "T"), "a@b")
        self.assertEqual(slt.result_values([[2, "b"], [1, "a"]], "IT", "rowsort"), ["1", "a", "2", "b"])
        self.assertEqual(slt.result_values([[2, 9], [1, 3]], "II", "valuesort"), ["1", "2", "3", "9"])
        self.assertEqual(slt.md5_of(["1", "2"]), "6ddb4095eb719e2a9f0a3f95677d24e0")

    def test_skip_kinds_documented(self):
        with open(os.path.join(HERE, "..", "..", "docs", "query-language.md")) as f:
            doc = f.read()
        section = doc.split("## Statement kinds DriftDB deliberately does not support", 1)[1].split("\n## ", 1)[0]
        for _, name in slt.SKIP_KINDS:
            self.assertIn("`%s`" % name, section)

    def test_real_format(self):
        # SQLite's printf keeps 16 significant digits (evidence/slt_lang_aggfunc.test expects this)
        self.assertEqual(slt.fmt_value(-9223372036854775808.0, "R"), "-9223372036854776000.000")
        self.assertEqual(slt.fmt_value(-18446744073709551616.0, "R"), "-18446744073709550000.000")
        self.assertEqual(slt.fmt_value(1.5, "R"), "1.500")
        self.assertEqual(slt.fmt_value(2, "R"), "2.000")
        self.assertEqual(slt.fmt_value(0.1 + 0.2, "R"), "0.300")
        self.assertEqual(slt.fmt_value(None, "R"), "NULL")

    def test_split_statements(self):
        # a record may hold several statements (sqlite3_exec runs them in turn); ';' in quotes/comments stays
        self.assertEqual(slt.split_statements("INSERT INTO t VALUES('a;b'); DROP INDEX i;"),
                         ["INSERT INTO t VALUES('a;b')", " DROP INDEX i"])
        self.assertEqual(slt.split_statements('SELECT "x;y" -- c;d\n'), ['SELECT "x;y" -- c;d\n'])
        self.assertEqual(slt.split_statements("SELECT 1 /* ; */ ; ;"), ["SELECT 1 /* ; */ "])
        self.assertEqual(slt.split_statements("SELECT 'it''s; ok'"), ["SELECT 'it''s; ok'"])

    def test_parse(self):
        recs = slt.parse(os.path.join(HERE, "selftest", "pass.test"))
        kinds = [r.kind for r in recs]
        self.assertEqual(kinds.count("statement"), 3)
        self.assertEqual(kinds.count("other-engine"), 2)
        self.assertEqual(kinds.count("hash-threshold"), 1)
        trig = [r for r in recs if "TRIGGER" in r.sql][0]
        self.assertEqual(trig.skip_reason, "unsupported statement kind: CREATE TRIGGER")
        q = [r for r in recs if r.kind == "query"][1]
        self.assertEqual((q.types, q.sort, q.expected), ("R", "nosort", ["1.500"]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
