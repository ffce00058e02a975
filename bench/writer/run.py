#!/usr/bin/python3
"""Writer benchmark (issue 3): durable commits side by side, in one run.

  DRIFT_BUILDDIR=<non-sanitizer build> /usr/bin/python3 bench/writer/run.py

Runs, alternating for each (clients, rows) point: DriftDB's writer (wbench
clients sending commits straight to the writer's ipc endpoint — this bypasses
the gateway and SQL, which are not built yet), SQLite (WAL, synchronous=FULL,
in process), PostgreSQL 15 (private cluster on 127.0.0.1, synchronous_commit=on,
one multi-row INSERT ... SELECT unnest(...) per transaction) and a raw libzmq
DEALER/ROUTER echo (the ceiling of any request/reply design here). Before
that, the machine's raw limit: pwrite + fdatasync of records the size of a
single-row DriftDB frame, one fdatasync per record and per batch of 8 / 32
(measured in the same round as the 1 / 8 / 32-client points).
Every client keeps one transaction in flight (plus one DriftDB point with 16 in flight
per client). BENCH_SECONDS (default 3) per point.
"""
import mmap
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("DRIFT_BUILDDIR", SRC)
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
os.environ["DRIFT_BUILDDIR"] = BUILD
import driftharness as H  # noqa: E402

SECS = float(os.environ.get("BENCH_SECONDS", "3"))
WBENCH = os.path.join(BUILD, "bench", "writer", "wbench")
PG = "/usr/lib/postgresql/15/bin"
RECORD = 224  # bytes of a single-row DriftDB frame in this benchmark (88-byte header + body + padding)
POINTS = [(1, 1), (8, 1), (32, 1), (1, 1000), (8, 1000)]


def result(cmd):
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=SECS * 10 + 60)
    m = re.search(r"RESULT (.*)", out.stdout.decode())
    if not m:
        raise RuntimeError("%s: %s %s" % (cmd, out.stdout.decode(), out.stderr.decode()))
    return dict(kv.split("=") for kv in m.group(1).split())


def writer_counters(data_dir):
    """The writer slot's counters from the control block (docs/storage.md): (batches/groups written, fdatasyncs, frames)."""
    with open(os.path.join(data_dir, "run", "control"), "rb") as f:
        m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        try:
            slot_size, nslots = struct.unpack_from("<II", m, 16)
            base = struct.unpack_from("<Q", m, 24)[0]
            for i in range(nslots):
                c = struct.unpack_from("<16Q", m, base + i * slot_size + 56)
                if c[10]:  # frames appended: only the writer has that counter
                    return c[8], c[9], c[10]
        finally:
            m.close()
    return 0, 0, 0


def start_pg(tmp):
    pgdir = os.path.join(tmp, "pg")
    os.makedirs(pgdir)
    shutil.chown(pgdir, "postgres", "postgres")
    os.chmod(pgdir, 0o700)
    port = H.free_port()
    run = ["runuser", "-u", "postgres", "--"]
    subprocess.run(run + [PG + "/initdb", "-D", pgdir + "/data", "-A", "trust", "-U", "postgres"],
                   check=True, stdout=subprocess.DEVNULL)
    with open(pgdir + "/data/postgresql.conf", "a") as f:
        f.write("listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n"
                "fsync = on\nsynchronous_commit = on\nwal_sync_method = fdatasync\nmax_connections = 100\n"
                "shared_buffers = 256MB\n" % (port, pgdir))
    subprocess.run(run + [PG + "/pg_ctl", "-D", pgdir + "/data", "-l", pgdir + "/log", "-w", "start"],
                   check=True, stdout=subprocess.DEVNULL)
    conninfo = "host=127.0.0.1 port=%d user=postgres dbname=postgres" % port
    subprocess.run(["psql", conninfo, "-q", "-c",
                    "CREATE TABLE t (k text PRIMARY KEY, id bigint, name text, balance float8, note text)"],
                   check=True, stdout=subprocess.DEVNULL)
    return pgdir, conninfo


def stop_pg(pgdir):
    subprocess.run(["runuser", "-u", "postgres", "--", PG + "/pg_ctl", "-D", pgdir + "/data", "-m", "immediate",
                    "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    tmp = tempfile.mkdtemp(prefix="drift-bench-", dir=os.environ.get("BENCH_DIR", "/tmp"))
    os.chmod(tmp, 0o755)
    peers = os.path.join(tmp, "peers")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "sqlite3", "libpq"], stdout=subprocess.PIPE,
                           check=True).stdout.decode().split()
    subprocess.run(["cc", "-O2", "-o", peers, os.path.join(SRC, "bench", "writer", "peers.c")] + flags + ["-lpthread"],
                   check=True)
    fs = subprocess.run(["df", "-T", tmp], stdout=subprocess.PIPE).stdout.decode().splitlines()[-1].split()[1]
    print("# Writer benchmark: %s, %d s per point, files on %s (%s), %s" % (
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), SECS, tmp, fs, os.uname().release))
    rows = []
    sq = os.path.join(tmp, "sqlite.db")
    subprocess.run(["sqlite3", sq, "PRAGMA journal_mode=WAL; CREATE TABLE t (k TEXT PRIMARY KEY, id INTEGER, "
                    "name TEXT, balance REAL, note TEXT);"], check=True, stdout=subprocess.DEVNULL)
    pgdir, conninfo = start_pg(tmp)
    d = H.Daemon(data_dir=os.path.join(tmp, "drift"), query_workers=1, config={"log_level": "notice"}).start()
    ep = "ipc://%s/run/writer.sock" % d.data_dir
    try:
        for clients, nrows in POINTS:
            if nrows == 1:  # the raw limit, measured in the same round: one fdatasync per `clients` records
                r = result([WBENCH, "fsync", os.path.join(tmp, "probe"), str(RECORD), str(SECS), str(clients)])
                rows.append(("raw pwrite+fdatasync, %d x %d B per sync" % (clients, RECORD), 1, clients, r))
            before = writer_counters(d.data_dir)
            r = result([WBENCH, "drift", ep, str(clients), str(nrows), str(SECS)])
            after = writer_counters(d.data_dir)
            groups, syncs, frames = (a - b for a, b in zip(after, before))
            r["errors"] += " (%.1f tx per fdatasync)" % (frames / syncs if syncs else 0)
            rows.append(("DriftDB writer (ipc, no SQL)", clients, nrows, r))
            rows.append(("SQLite WAL synchronous=FULL", clients, nrows,
                         result([peers, "sqlite", sq, str(clients), str(nrows), str(SECS)])))
            rows.append(("PostgreSQL 15 synchronous_commit=on", clients, nrows,
                         result([peers, "pg", conninfo, str(clients), str(nrows), str(SECS)])))
            if nrows == 1:
                rows.append(("libzmq DEALER/ROUTER echo (%d B)" % 200, clients, 1,
                             result([WBENCH, "echo", str(clients), "200", str(SECS)])))
            if (clients, nrows) == (8, 1):
                # The same 8 clients keeping 16 commits each in flight (as query workers with many
                # sessions will): how far grouping takes durable commits.
                before = writer_counters(d.data_dir)
                r = result([WBENCH, "drift", ep, "8", "1", str(SECS), "16"])
                after = writer_counters(d.data_dir)
                groups, syncs, frames = (a - b for a, b in zip(after, before))
                r["errors"] += " (%.1f tx per fdatasync)" % (frames / syncs if syncs else 0)
                rows.append(("DriftDB writer, 16 in flight per client", 8, 1, r))
    finally:
        d.close()
        stop_pg(pgdir)
    print()
    print("| system | clients | rows/tx | commits/s | rows/s | p50 µs | p99 µs | errors (group size) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, c, n, r in rows:
        print("| %s | %d | %d | %s | %s | %s | %s | %s |" % (name, c, n, r["ops_s"], r["rows_s"], r["p50_us"],
                                                          r["p99_us"], r["errors"]))
    get = {(name.split()[0], c, n): float(r["ops_s"]) for name, c, n, r in rows if "in flight" not in name}
    print()
    for c in (1, 8, 32):
        dr, pg, ec, sq_ = (get.get((k, c, 1), 0) for k in ("DriftDB", "PostgreSQL", "libzmq", "SQLite"))
        print("- %d clients, single-row: DriftDB / PostgreSQL = %.2fx, DriftDB / SQLite = %.2fx, "
              "DriftDB / raw echo = %.0f%%" % (c, dr / pg if pg else 0, dr / sq_ if sq_ else 0,
                                               100 * dr / ec if ec else 0))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
