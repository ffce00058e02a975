#!/usr/bin/python3
"""Workload 7 alone, for A/B runs of the recovery path: kill -9 of the whole daemon with a big log,
restart on the same data directory, time until GET /health/ready answers 200 (as bench/suite/run.py
does), alternating builds.

  bench/recovery/recovery.py --data /tmp/recov/data --log-mb 1024 --builds /tmp/rel-before,/tmp/rel-after \
      --rounds 2 --kills 2

The first use of --data grows the log: a table of --keys small rows (default 200 000, 1000-row transactions) and wide
rows of 3.9 kB of random text (100 per transaction, `driftctl ingest`, like the suite's ballast) until
the sealed segments hold --log-mb. Each build then starts once (not timed) and is killed --kills times;
the writer's own log line (wall and CPU time of the recovery; with seal records also the bytes hashed and
the sealed segments taken by their record) is printed with each figure. A build with seal records writes
them at its first (untimed) start on a log that has none; builds without them ignore the .seal files.

Many keys (the writer's key map; docs/benchmarks.md "Recovery", session 6): --keys 2000000 --log-mb 1024 builds
the 2.25 M-key, 1.09 GB log (2 M small rows, then ~250 000 wide rows). Before timing, each build's first start
waits until the indexer has applied the whole log (--index-wait), so that every build recovers with the same
index position; the writer's line says from which seq its key map was seeded.

Many versions (issue 8, workload 7: "with 10M versions indexed"): --versions V writes each of the --keys rows V
times in all: the first insert (`driftctl ingest`, 1000-row transactions), then V-1 rounds of
`UPDATE kv SET amount = amount + 1 WHERE id BETWEEN a AND a+999` (1000-row transactions, as the suite's
`loadgen --workload setup --versions` does), then ballast only if the sealed segments are still under --log-mb.
--keys 1000000 --versions 10 --log-mb 1024 gives 10 M versions and a log of at least 1 GB. The shape of the data
set (keys, versions, log MB, segments, index MiB, indexed seq) is printed before the kills and kept in
DATA.shape.json (next to the data directory, not in it); growing resumes from it after an interruption."""
import argparse
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
sys.path.insert(0, os.path.join(SRC, "client", "python"))

CFG = {"durability": "sync", "query_workers": "2", "log_level": "info", "heartbeat_interval": "250ms",
       "heartbeat_timeout": "10s", "shutdown_grace": "10s"}


def daemon(H, build, data):
    os.environ["DRIFT_BUILDDIR"] = build
    H.DRIFTDBD = os.path.join(build, "driftdbd")
    H.DRIFTCTL = os.path.join(build, "driftctl")
    return H.Daemon(data_dir=data, query_workers=2, config=CFG)


def sealed_bytes(data):
    segs = sorted(f for f in os.listdir(os.path.join(data, "log")) if f.endswith(".seg"))
    return sum(os.path.getsize(os.path.join(data, "log", s)) for s in segs[:-1]), len(segs)


def shape_path(data):
    return data.rstrip("/") + ".shape.json"


def load_shape(data):
    try:
        with open(shape_path(data)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def save_shape(data, shape):
    tmp = shape_path(data) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(shape, f)
    os.replace(tmp, shape_path(data))


def dir_bytes(path):
    n = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                n += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return n


def updates(H, ep, nkeys, versions, data, shape):
    """Versions 2..V of the kv rows: one UPDATE of 1000 consecutive keys per transaction (autocommit), in rounds;
    records each finished round in the shape file (resumable)."""
    import driftdb
    conn = driftdb.connect(ep, timeout=600.0)
    try:
        cur = conn.cursor()
        for v in range(shape.get("versions_done", 1) + 1, versions + 1):
            t0 = time.monotonic()
            for a in range(shape.get("update_next", 1), nkeys + 1, 1000):
                cur.execute("UPDATE kv SET amount = amount + 1 WHERE id BETWEEN $1 AND $2", (a, min(a + 999, nkeys)))
                shape["update_next"] = a + 1000  # a restart may repeat at most the statement in flight
                save_shape(data, shape)
            shape["versions_done"], shape["update_next"] = v, 1
            save_shape(data, shape)
            el = time.monotonic() - t0
            print("versions: round %d/%d: %d rows updated in %.1f s (%.0f rows/s); log %d MB sealed"
                  % (v, versions, nkeys, el, nkeys / el, sealed_bytes(data)[0] >> 20), flush=True)
    finally:
        conn.close()


def grow(H, build, data, target, nkeys=200000, versions=None):
    d = daemon(H, build, data)
    d.start(timeout=600)
    shape = load_shape(data) or {"keys": nkeys, "versions": versions or 1, "versions_done": 0}
    if versions and (shape["keys"] != nkeys or shape["versions"] != versions):
        raise SystemExit("%s holds %d keys x %d versions, not %d x %d: use another --data"
                         % (data, shape["keys"], shape["versions"], nkeys, versions))
    try:
        ctl, ep = H.DRIFTCTL, d.endpoint

        def ingest(table, rows, batch):
            p = subprocess.Popen([ctl, "-H", ep, "ingest", table, "-", "--batch", str(batch), "--no-progress", "-q"],
                                 stdin=subprocess.PIPE)
            for r in rows:
                p.stdin.write(r.encode())
            p.stdin.close()
            if p.wait() != 0:
                raise RuntimeError("driftctl ingest %s failed" % table)

        for s in ("CREATE TABLE IF NOT EXISTS ballast (id INTEGER PRIMARY KEY, pad TEXT)",
                  "CREATE TABLE IF NOT EXISTS kv (id INTEGER PRIMARY KEY, name TEXT, amount REAL)"):
            subprocess.run([ctl, "-H", ep, "sql", "-e", s], check=True, stdout=subprocess.DEVNULL)
        if shape["versions_done"] < 1:
            ingest("kv", ('{"id": %d, "name": "n%d", "amount": %d}\n' % (i, i, i) for i in range(1, nkeys + 1)), 1000)
            shape["versions_done"] = 1
            if versions:
                save_shape(data, shape)
        if versions:
            updates(H, ep, nkeys, versions, data, shape)
        nid = 1
        if versions:  # resume after the ballast rows already committed
            out = subprocess.run([ctl, "-H", ep, "sql", "--csv", "-e", "SELECT max(id) FROM ballast"], check=True,
                                 stdout=subprocess.PIPE).stdout.decode().split()
            nid = int(out[1]) + 1 if len(out) > 1 and out[1].isdigit() else 1
        while sealed_bytes(data)[0] < target:
            ingest("ballast", ('{"id": %d, "pad": "%s"}\n' % (i, os.urandom(1950).hex())
                               for i in range(nid, nid + 20000)), 100)
            nid += 20000
            print("log: %d MB sealed, %d segments" % (sealed_bytes(data)[0] >> 20, sealed_bytes(data)[1]), flush=True)
        if not versions and load_shape(data) is None:
            save_shape(data, {"keys": nkeys, "versions": 1, "versions_done": 1})
        d.stop()
    finally:
        d.close()


def index_caught_up(d, timeout=3600.0):
    """Waits until the indexer has applied every commit (metrics: indexed_seq == commit_seq)."""
    t0 = last = time.monotonic()
    while time.monotonic() - t0 < timeout:
        m = {k[0]: v for k, v in d.metrics().items() if not k[1]}
        if m.get("driftdb_commit_seq") and m.get("driftdb_indexed_seq") == m.get("driftdb_commit_seq"):
            return
        if time.monotonic() - last > 30:
            last = time.monotonic()
            print("waiting for the indexer: seq %d of %d (%.0f s)" % (m.get("driftdb_indexed_seq", -1),
                  m.get("driftdb_commit_seq", -1), last - t0), flush=True)
        time.sleep(0.2)
    raise RuntimeError("the indexer did not catch up in %.0f s" % timeout)


def print_shape(H, d, data):
    """The data set: keys, versions (from the shape file, and one key's history counted through the index), log,
    index, indexed seq."""
    shape = load_shape(data) or {}
    m = {k[0]: v for k, v in d.metrics().items() if not k[1]}
    hist = "?"
    if shape.get("keys"):
        r = subprocess.run([H.DRIFTCTL, "-H", d.endpoint, "sql", "--csv", "-e", "SELECT count(*) FROM kv FOR "
                            "SYSTEM_TIME ALL WHERE id = %d" % shape["keys"]], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT).stdout.decode().split()
        hist = r[1] if len(r) > 1 else "?"
    sealed, nseg = sealed_bytes(data)
    total = sealed + int(m.get("driftdb_active_segment_committed_bytes", 0))
    print("data: %s keys x %s versions (%s versions of key %s in the index) = %s versions; log %d MB (%d MB sealed) "
          "in %d segments; index %.0f MiB; indexed seq %d, commit seq %d"
          % (shape.get("keys", "?"), shape.get("versions_done", "?"), hist, shape.get("keys", "?"),
             shape["keys"] * shape["versions_done"] if shape.get("keys") else "?", total / 1e6, sealed / 1e6, nseg,
             dir_bytes(os.path.join(data, "index")) / 1048576.0, m.get("driftdb_indexed_seq", -1),
             m.get("driftdb_commit_seq", -1)), flush=True)


def kills(H, build, data, n, index_wait=True, show_log=0):
    d = daemon(H, build, data)
    d.start(timeout=600)
    out = []
    try:
        if index_wait:
            index_caught_up(d)
            print_shape(H, d, data)
        for _ in range(n):
            mark = len(d.log())
            el = d.crash_restart()
            m = re.search(r"recovered .*", d.log()[mark:])
            out.append(el)
            line = m.group(0) if m else "?"
            # the counts, hashed bytes (seal records) and CPU time, without the long middle of the line
            short = re.sub(r"\(([\d.]+) MB verified(?:[^)]*?(hashed \d+ bytes, \d+ sealed segments by seal record))?[^)]*\)",
                           lambda x: "(%s MB%s)" % (x.group(1), ", " + x.group(2) if x.group(2) else ""), line)
            print("%s: ready %.3f s after kill -9 (load %s) | %s" % (build, el, open("/proc/loadavg").read().split()[0],
                                                                     short[:300]), flush=True)
            if show_log:  # the daemon's own lines of this start (timestamps: where the time goes)
                time.sleep(0.2)
                for ln in d.log()[mark:].splitlines()[:show_log]:
                    print("    " + ln[:400])
        d.stop()
    finally:
        d.close()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="data directory (kept; grown on first use)")
    ap.add_argument("--builds", required=True, help="comma-separated build directories (release), alternated")
    ap.add_argument("--log-mb", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--kills", type=int, default=2)
    ap.add_argument("--keys", type=int, default=200000, help="rows of the small-row table when growing --data")
    ap.add_argument("--versions", type=int, default=None,
                    help="versions per kv row when growing --data (the insert, then V-1 rounds of 1000-row UPDATEs)")
    ap.add_argument("--show-log", type=int, default=0, metavar="N",
                    help="print the first N lines the daemon logs after each kill")
    ap.add_argument("--no-index-wait", action="store_true",
                    help="do not wait for the indexer to catch up before the timed kills")
    a = ap.parse_args()
    os.environ.setdefault("DRIFT_SRCDIR", SRC)
    import driftharness as H
    builds = a.builds.split(",")
    if a.versions is not None and a.versions < 1:
        ap.error("--versions: expected >= 1")
    shape = load_shape(a.data)
    unfinished = a.versions and (not shape or shape.get("versions_done", 0) < a.versions)
    if unfinished or (sealed_bytes(a.data)[0] < a.log_mb << 20 if os.path.isdir(os.path.join(a.data, "log")) else True):
        grow(H, builds[-1], a.data, a.log_mb << 20, a.keys, a.versions)
    res = {b: [] for b in builds}
    for _ in range(a.rounds):
        for b in builds:
            res[b] += kills(H, b, a.data, a.kills, not a.no_index_wait, a.show_log)
    for b in builds:
        xs = sorted(res[b])
        if not xs:
            continue  # --rounds 0: only grow --data
        print("%s: median %.2f s, %.2f–%.2f s over %d kills" % (b, xs[len(xs) // 2], xs[0], xs[-1], len(xs)))


if __name__ == "__main__":
    main()
