"""test_bench_quick — the benchmark suite's smoke test (issue 8): `bench/suite/run.py --quick` against this
build runs every workload on every system it compares, with operations and without errors, writes the report
and its plots, finishes within the CI budget and leaves no process behind (PostgreSQL, Redis, driftdbd,
loadgen), even when it fails or is stopped."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

SRC = os.environ.get("DRIFT_SRCDIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RUN = os.path.join(SRC, "bench", "suite", "run.py")
BUDGET = 170.0  # seconds: CI's limit for the quick mode is 3 minutes
# Every workload of issue 8 and issue 7's queries, and the systems each is compared on.
DB3 = {"drift", "pg", "sqlite"}
EXPECTED = {"insert": DB3 | {"redis", "echo"}, "bulk": DB3 | {"redis"}, "point_latest": DB3 | {"echo"},
            "point_asof": DB3, "idx_latest": DB3, "idx_asof": DB3, "history": DB3, "diff": DB3, "tpcb": DB3,
            "join_agg": DB3, "join_agg_asof": DB3, "scan": DB3, "scan_asof": DB3}
CLIENTS = {"insert": {1, 32}}  # --quick runs 8 clients, and 1 and 32 for inserts


def procs_under(path):
    """Pids of live processes whose command line or working directory is inside path."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open("/proc/%s/stat" % d) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
            cwd = os.readlink("/proc/%s/cwd" % d)
        except OSError:
            continue
        if path in cmd or cwd.startswith(path):
            out.append((int(d), cmd.strip()))
    return out


class BenchQuick(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="drift-benchq-")
        os.chmod(self.tmp, 0o755)  # PostgreSQL runs as the postgres user inside it

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_suite(self, extra, budget):
        """Runs run.py; returns (exit code, seconds, stderr text); stops it with SIGTERM (then SIGKILL) at budget."""
        work = os.path.join(self.tmp, "work")
        os.makedirs(work, exist_ok=True)
        os.chmod(work, 0o755)
        err = open(os.path.join(self.tmp, "stderr"), "w+")
        t0 = time.monotonic()
        p = subprocess.Popen([sys.executable, RUN, "--tmpdir", work] + extra, stdin=subprocess.DEVNULL,
                             stdout=err, stderr=subprocess.STDOUT)
        try:
            rc = p.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            rc = "timeout"
        dt = time.monotonic() - t0
        err.seek(0)
        text = err.read()
        err.close()
        left = procs_under(self.tmp)
        for pid, _ in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.assertEqual(left, [], "processes left behind by run.py:\n%s\n%s" % (left, text[-4000:]))
        self.assertEqual(os.listdir(work), [], "run.py left files in its temporary directory")
        return rc, dt, text

    def test_quick_runs_every_workload(self):
        out = os.path.join(self.tmp, "out")
        js = os.path.join(self.tmp, "results.json")
        rc, dt, text = self.run_suite(["--quick", "--out", out, "--json", js], BUDGET)
        sys.stderr.write(text[-6000:] + "\nquick run: %.0f s\n" % dt)
        self.assertEqual(rc, 0, text[-6000:])
        self.assertLess(dt, BUDGET)
        with open(js) as f:
            res = json.load(f)
        got = {}
        for row in res["results"]:
            got.setdefault(row["workload"], {}).setdefault(row["system"], set()).add(row["clients"])
            for r in row["runs"]:
                what = "%s %s %d clients: %s" % (row["workload"], row["system"], row["clients"], r)
                self.assertGreater(r["ops"], 0, what)
                self.assertEqual(r["errors"], 0, what)
                self.assertNotIn("failure", r, what)
        for w, systems in EXPECTED.items():
            self.assertIn(w, got, "workload %s missing" % w)
            for s in systems:
                self.assertEqual(got[w].get(s), CLIENTS.get(w, {8}), "%s on %s: clients" % (w, s))
        for rnd in res["ingest"]:
            self.assertEqual({r["system"] for r in rnd}, {"drift", "sqlite", "pg"})
            for r in rnd:
                self.assertIsNone(r["error"], r)
                self.assertGreater(r["rows_per_s"], 0, r)
        self.assertTrue(res["recovery_s"] and all(0 < x < 120 for x in res["recovery_s"]), res["recovery_s"])
        self.assertGreater(res["raw"]["sync1"][0], 0)
        with open(os.path.join(out, "benchmarks.md")) as f:
            md = f.read()
        self.assertEqual(md.count("<!-- suite:begin -->"), 1)
        self.assertEqual(md.count("<!-- suite:end -->"), 1)
        for needle in ("## Suite", "### Goals of issue 8", "Workload 7: recovery", "shared_buffers",
                       "appendfsync always", "durability = sync", "fdatasync p50"):
            self.assertIn(needle, md)
        for png in ("suite-throughput.png", "suite-latency.png"):
            with open(os.path.join(out, "bench", png), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n", png)

    def test_interrupted_run_cleans_up(self):
        # SIGTERM while the peers are up: everything stops and the temporary directory is removed.
        work = os.path.join(self.tmp, "work")
        os.makedirs(work)
        os.chmod(work, 0o755)
        p = subprocess.Popen([sys.executable, RUN, "--quick", "--tmpdir", work, "--out", os.path.join(self.tmp, "o")],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("postgres" in c for _, c in procs_under(self.tmp)):
            time.sleep(0.1)
        time.sleep(1.0)
        p.send_signal(signal.SIGTERM)
        try:
            out = p.communicate(timeout=60)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            p.kill()
            out = p.communicate()[0].decode(errors="replace")
            self.fail("run.py did not stop within 60 s of SIGTERM:\n" + out[-3000:])
        self.assertEqual(p.returncode, 130, out[-3000:])
        left = procs_under(self.tmp)
        for pid, _ in left:
            os.kill(pid, signal.SIGKILL)
        self.assertEqual(left, [], out[-3000:])
        self.assertEqual(os.listdir(work), [], out[-3000:])


if __name__ == "__main__":
    unittest.main()
