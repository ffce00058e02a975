#!/usr/bin/python3
"""Index benchmark (issue 5), in one run:

  DRIFT_BUILDDIR=<non-sanitizer build> /usr/bin/python3 bench/index/run.py [--rows N] [--versions V]

1. Index lag at the writer's maximum rate: a daemon is started (driftharness),
   bench_index --lag drives the writer with C clients x B rows per commit for
   BENCH_SECONDS (default 5) while sampling commit_seq - indexed_seq in the
   control block every millisecond; points (8 x 1), (32 x 1), (8 x 100), (8 x 1000), each with the
   index flow control on (index_stall at its default, 500ms) and off (index_stall = 0): off shows how
   fast each role goes unchecked, on what the two sustain together (docs/indexes.md, "Flow control").
   Meanwhile one SQL session (the Python client, through the gateway) inserts a row and reads it back,
   again and again: the read waits until the indexer has applied the insert (read-your-writes), so its
   latency is what the lag costs a reader.
2. Queries: bench_index builds N rows x V versions as a real log, indexes it
   with the indexer's code path, loads the same versions into SQLite's
   history-table emulation and times the same queries on both.
Options of this script (the rest goes to bench_index): --lag-only, --no-lag.
Build the tool first: make bench/index/bench_index.
"""
import os
import re
import subprocess
import sys
import threading
import time

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("DRIFT_BUILDDIR", SRC)
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
os.environ["DRIFT_BUILDDIR"] = BUILD
import driftharness as H  # noqa: E402

sys.path.insert(0, os.path.join(SRC, "client", "python"))
import driftdb  # noqa: E402

TOOL = os.path.join(BUILD, "bench", "index", "bench_index")
SECS = os.environ.get("BENCH_SECONDS", "5")
POINTS = [(8, 1), (32, 1), (8, 100), (8, 1000)]
STALLS = ("driftdb_writer_index_stalls_total", "driftdb_writer_index_stall_milliseconds_total")


def pct(xs, p):
    return sorted(xs)[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")


def read_own_writes(d, stop, out):
    """One session: INSERT a row, then SELECT it, until stop; appends (insert ms, select ms) to out, or
    the SQLSTATE of a failed statement. Starts once bench_index has created its table (table id 1)."""
    H.wait_for(lambda: d.metrics()[("driftdb_commit_seq", frozenset())] >= 1, 30, what="the load's table")
    conn = driftdb.connect(d.endpoint, timeout=60)
    cur = conn.cursor()
    cur.execute("CREATE TABLE rw (id INTEGER PRIMARY KEY, v TEXT)")
    i = 0
    while not stop.is_set():
        i += 1
        try:
            t0 = time.perf_counter()
            cur.execute("INSERT INTO rw VALUES ($1, 'x')", [i])
            t1 = time.perf_counter()
            cur.execute("SELECT v FROM rw WHERE id = $1", [i])
            row = cur.fetchone()
            t2 = time.perf_counter()
            if row != ("x",):
                raise SystemExit("read-your-writes: row %d read back as %r" % (i, row))
            out.append((1000 * (t1 - t0), 1000 * (t2 - t1)))
        except driftdb.Error as e:
            out.append(getattr(e, "sqlstate", None) or str(e))
    conn.close()


def main():
    args = sys.argv[1:]
    lag_only, no_lag = "--lag-only" in args, "--no-lag" in args
    args = [a for a in args if a not in ("--lag-only", "--no-lag")]
    if no_lag:
        subprocess.run([TOOL] + args, check=True)
        return
    print("| clients x rows/commit | index_stall | writer commits/s | writer rows/s | indexer rows/s "
          "| lag p50 / p99 / max (commits) | lag p50 / p99 / max (ms) | catch-up after the load (ms) "
          "| stall episodes / ms | a session's INSERT p50 / p99 (ms) | its SELECT of that row p50 / p99 / max (ms) "
          "| failed statements |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (clients, rows), stall in [(p, s) for p in POINTS for s in ("500ms", "0")]:
        with H.Daemon(query_workers=1, config={"segment_size": "256MB", "index_stall": stall}) as d:
            stop, rw = threading.Event(), []
            reader = threading.Thread(target=read_own_writes, args=(d, stop, rw))
            reader.start()
            out = subprocess.run([TOOL, "--lag", d.data_dir, "--clients", str(clients), "--ops-per-commit", str(rows),
                                  "--seconds", SECS], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
            m = re.search(r"RESULT (.*)", out.stdout.decode())
            if not m:
                raise SystemExit("bench_index --lag failed: %s %s" % (out.stdout.decode(), out.stderr.decode()))
            stop.set()
            reader.join()
            r = dict(kv.split("=") for kv in m.group(1).split())
            met = d.metrics()
            ok = [x for x in rw if isinstance(x, tuple)]
            ins, sel = [x[0] for x in ok], [x[1] for x in ok]
            ep, ms = (int(met[(n, frozenset({("instance", "0")}))]) for n in STALLS)
            print("| %d x %d | %s | %s | %s | %s | %s / %s / %s | %s / %s / %s | %s | %d / %d | %.1f / %.1f "
                  "| %.1f / %.1f / %.1f | %d of %d |" % (
                      clients, rows, stall, r["writer_commits_s"], r["writer_rows_s"], r["indexer_rows_s"],
                      r["lag_seqs_p50"], r["lag_seqs_p99"], r["lag_seqs_max"], r["lag_ms_p50"], r["lag_ms_p99"],
                      r["lag_ms_max"], r["catch_up_ms"], ep, ms, pct(ins, 0.5), pct(ins, 0.99), pct(sel, 0.5),
                      pct(sel, 0.99), max(sel) if sel else float("nan"), len(rw) - len(ok), len(rw)), flush=True)
    if not lag_only:
        subprocess.run([TOOL] + args, check=True)


if __name__ == "__main__":
    main()
