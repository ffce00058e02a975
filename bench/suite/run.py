#!/usr/bin/python3
"""bench/suite/run.py — DriftDB's benchmark suite (issues 7 and 8) in one command.

    make bench                                  # from a build directory: full run, report into docs/
    /usr/bin/python3 bench/suite/run.py [--quick] [--out DIR] [--rounds N] [--seconds S]
                                        [--rows N] [--versions V] [--json FILE] [--keep]

Build: DRIFT_BUILDDIR when it is a release build (no sanitizers), else a private
release build in $DRIFT_BENCH_BUILDDIR or ~/.cache/driftdb/build-bench
(configured and built here with `make -j2`); `--quick` uses DRIFT_BUILDDIR as it is.

Starts its peers privately on 127.0.0.1 in one temporary directory — a
PostgreSQL 15 cluster (synchronous_commit=on, fsync=on), Redis (appendonly yes,
appendfsync always), a SQLite file (WAL, synchronous=FULL; in process in
bench/suite/loadgen, and the sqlite3 CLI for `.import`), a DriftDB daemon
(durability = sync, one query worker per core), a raw libzmq echo server
(`loadgen --serve-echo`) and a durable one (`loadgen --serve-echo --durable
FILE`: each request answered after an fdatasync covering it, group commit — the
ceiling of a durable request/reply server, in workloads 1 and 6) — loads the same data into each (`loadgen --workload
setup`), then runs every workload of issue 8 and the four queries of issue 7,
ALTERNATING the systems inside each round (the order rotates from round to
round), for several rounds, and writes the report: the "## Suite" section of
docs/benchmarks.md (between `<!-- suite:begin -->` and `<!-- suite:end -->`)
and PNG plots by gnuplot into docs/bench/. Everything started is stopped and
the temporary directory removed at exit, also on Ctrl-C, SIGTERM or failure.

`--quick` runs every workload and system briefly (a smoke test: the run fails
when a workload did no operation or had errors; no speed threshold).
"""
import argparse
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PGBIN = "/usr/lib/postgresql/15/bin"
NAMES = {"drift": "DriftDB", "pg": "PostgreSQL 15", "redis": "Redis", "sqlite": "SQLite", "echo": "raw echo",
         "decho": "durable echo"}
ECHOES = ("echo", "decho")  # loadgen --system echo against `loadgen --serve-echo` (raw) or `... --durable FILE`
DB3 = ["drift", "pg", "sqlite"]
DB4 = ["drift", "pg", "redis", "sqlite"]
# (issue-8 workload number or issue-7 label, loadgen workload, what it is, client counts, systems; "echo" = the raw
# libzmq echo measured in the same rotation as the ceiling of request/reply; "decho" = the durable echo, the ceiling
# of a durable request/reply server: one durable round trip per insert, TPC-B's round trips per transaction in W6)
WORKLOADS = [
    ("1", "insert", "durable single-row insert, autocommit", (1, 8, 32), DB4 + ["echo", "decho"]),
    ("2", "bulk", "1000-row transactions", (1, 8), DB4),
    ("3", "point_latest", "point read by primary key, latest", (1, 8), DB3 + ["echo"]),
    ("3", "point_asof", "point read by primary key, as of an old point", (1, 8), DB3),
    ("4", "idx_latest", "secondary-index lookup, latest", (1, 8), DB3),
    ("4", "idx_asof", "secondary-index lookup, as of an old point", (1, 8), DB3),
    ("5", "history", "all versions of one key", (1, 8), DB3),
    ("5", "diff", "net diff of one table between two points", (1, 8), DB3),
    ("6", "tpcb", "TPC-B-like transaction (pgbench default script)", (1, 8), DB3 + ["echo", "decho"]),
    ("i7", "join_agg", "2-table join with aggregation, latest", (1, 8), DB3),
    ("i7", "join_agg_asof", "2-table join with aggregation, as of an old point", (1, 8), DB3),
    ("i7", "scan", "filtered scan, latest", (1, 8), DB3),
    ("i7", "scan_asof", "filtered scan, as of an old point", (1, 8), DB3),
]
QUICK_CLIENTS = {"insert": (1, 32)}  # --quick: these client counts only (8 for the other workloads)
LIVE = set()  # loadgen processes running now (killed on the way out)


class Interrupted(Exception):
    pass


def on_signal(signum, _frame):
    raise Interrupted("signal %d" % signum)


def log(msg):
    sys.stderr.write("[suite %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def sh(cmd, **kw):
    """Runs cmd, returns its stdout text; raises with its stderr on failure."""
    kw.setdefault("timeout", 600)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if p.returncode != 0:
        raise RuntimeError("%s exited %d: %s%s" % (" ".join(cmd), p.returncode, p.stdout.decode(errors="replace")[-2000:],
                                                  p.stderr.decode(errors="replace")[-2000:]))
    return p.stdout.decode(errors="replace")


def free_port():
    import driftharness  # on sys.path once main() has run; it reads DRIFT_BUILDDIR at import
    return driftharness.free_port()


# ---------------------------------------------------------------------------------------------- build


def is_sanitizer_build(b):
    try:
        with open(os.path.join(b, "config.status")) as f:
            return "enable-sanitizers" in f.read()
    except OSError:
        return False


def resolve_build(quick):
    """(build dir, how it was chosen). Builds the binaries the suite needs when they are missing or stale."""
    given = os.environ.get("DRIFT_BUILDDIR")
    if given and (quick or not is_sanitizer_build(given)):
        b, how = os.path.abspath(given), "DRIFT_BUILDDIR"
    else:
        b = os.environ.get("DRIFT_BENCH_BUILDDIR") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "driftdb", "build-bench")
        how = "private release build" + (" (DRIFT_BUILDDIR %s has sanitizers)" % given if given else "")
        os.makedirs(b, exist_ok=True)
        if not os.path.exists(os.path.join(b, "Makefile")):
            log("configuring a release build in %s" % b)
            sh([os.path.join(SRC, "configure"), "-q"], cwd=b, timeout=900)
    need = ["driftdbd", "driftctl"] + ([] if os.environ.get("DRIFT_LOADGEN") else ["bench/suite/loadgen"])
    if how == "DRIFT_BUILDDIR":  # the caller's build is used as it is (make bench builds it first)
        missing = [n for n in need if not os.access(os.path.join(b, n), os.X_OK)]
        if missing:
            raise SystemExit("run.py: %s missing in %s: run make there first" % (", ".join(missing), b))
    else:
        log("make %s in %s" % (" ".join(need), b))
        sh(["make", "-j2", "-s"] + need, cwd=b, timeout=1800)
    return b, how + (", sanitizers (ASan+UBSan)" if is_sanitizer_build(b) else ", release (no sanitizers)")


# ---------------------------------------------------------------------------------------------- peers


class Peers:
    """Every process the suite starts, in one temporary directory; stop() undoes all of it."""

    def __init__(self, work, build, quick):
        self.work, self.build, self.quick = work, build, quick
        self.loadgen = os.environ.get("DRIFT_LOADGEN") or os.path.join(build, "bench", "suite", "loadgen")
        self.driftctl = os.path.join(build, "driftctl")
        self.pgdir = self.redis = self.echo = self.decho = self.daemon = self.pg_thread = None
        self.decho_stats = {}  # the durable echo's counters, printed when it stops
        self.conf = {}  # system -> configuration text for the report
        self.targets = {}

    # PostgreSQL refuses to run as root: as root, every pg command runs as the postgres user.
    def pg_cmd(self, argv):
        return (["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []) + argv

    def start_pg(self):
        self.pgdir = os.path.join(self.work, "pg")
        os.makedirs(self.pgdir)
        if os.geteuid() == 0:
            shutil.chown(self.pgdir, "postgres", "postgres")
        os.chmod(self.pgdir, 0o700)
        port = free_port()
        sh(self.pg_cmd([PGBIN + "/initdb", "-D", self.pgdir + "/data", "-A", "trust", "-U", "postgres", "-E", "UTF8", "-N",
                        "--no-instructions"]), timeout=120)
        mem = meminfo_bytes()
        sb = 128 if self.quick else max(128, min(mem // 4 // 2**20, 2048))
        conf = ("listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n"
                "fsync = on\nsynchronous_commit = on\nwal_sync_method = fdatasync\nfull_page_writes = on\n"
                "max_connections = 100\nshared_buffers = %dMB\neffective_cache_size = %dMB\n"
                "max_wal_size = 4GB\n" % (port, self.pgdir, sb, max(256, mem // 2 // 2**20)))
        with open(self.pgdir + "/data/postgresql.conf", "a") as f:
            f.write(conf)
        sh(self.pg_cmd([PGBIN + "/pg_ctl", "-D", self.pgdir + "/data", "-l", self.pgdir + "/log", "-w", "-t", "60",
                        "start"]), timeout=90)
        self.conf["pg"] = re.sub(r"port = \d+\n|unix_socket_directories = .*\n", "", conf)
        self.targets["pg"] = "host=127.0.0.1 port=%d user=postgres dbname=postgres" % port

    def stop_pg(self):
        if not self.pgdir:
            return
        data = self.pgdir + "/data"
        subprocess.run(self.pg_cmd([PGBIN + "/pg_ctl", "-D", data, "-m", "immediate", "-w", "-t", "20", "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=40)
        try:  # pg_ctl failed or timed out: the postmaster's pid is in postmaster.pid
            with open(data + "/postmaster.pid") as f:
                os.kill(int(f.readline()), signal.SIGKILL)
        except (OSError, ValueError):
            pass
        self.pgdir = None

    def start_redis(self):
        d = os.path.join(self.work, "redis")
        os.makedirs(d)
        port = free_port()
        conf = ("appendonly yes\nappendfsync always\nsave \"\"\n")
        with open(os.path.join(d, "redis.conf"), "w") as f:
            f.write("bind 127.0.0.1\nport %d\ndir %s\ndaemonize no\nprotected-mode no\nlogfile %s/redis.log\n%s"
                    % (port, d, d, conf))
        self.redis = subprocess.Popen(["redis-server", os.path.join(d, "redis.conf")], stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while subprocess.run(["redis-cli", "-p", str(port), "ping"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL).stdout.strip() != b"PONG":
            if self.redis.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start (see %s/redis.log)" % d)
            time.sleep(0.05)
        self.conf["redis"] = conf
        self.targets["redis"] = "127.0.0.1:%d" % port

    def start_sqlite(self):
        d = os.path.join(self.work, "sqlite")
        os.makedirs(d)
        path = os.path.join(d, "bench.db")
        sh(["sqlite3", path, "PRAGMA journal_mode=WAL;"])
        self.conf["sqlite"] = ("journal_mode = WAL, synchronous = FULL (each connection); in process in loadgen, one "
                               "connection per client thread\n")
        self.targets["sqlite"] = path

    def start_drift(self):
        import driftharness as H
        cfg = {"durability": "sync", "query_workers": str(os.cpu_count() or 1), "log_level": "warning",
               "heartbeat_interval": "250ms", "heartbeat_timeout": "10s", "shutdown_grace": "10s"}
        self.daemon = H.Daemon(data_dir=os.path.join(self.work, "drift"), query_workers=cfg["query_workers"],
                               config=cfg)
        self.daemon.start(timeout=120)
        self.conf["drift"] = "".join("%s = %s\n" % kv for kv in sorted(self.daemon.config.items()))
        self.targets["drift"] = self.daemon.endpoint

    def start_echo(self):
        ep = "tcp://127.0.0.1:%d" % free_port()
        self.echo = subprocess.Popen([self.loadgen, "--serve-echo", ep], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.work)
        time.sleep(0.2)
        if self.echo.poll() is not None:
            raise RuntimeError("loadgen --serve-echo exited: %s" % self.echo.stderr.read().decode(errors="replace"))
        self.targets["echo"] = ep

    def start_decho(self):
        """The durable echo: every request not flagged "no sync" is appended to a pre-zeroed file and answered after
        an fdatasync that covers it (group commit; bench/suite/loadgen.c s_serve_durable)."""
        d = os.path.join(self.work, "decho")
        os.makedirs(d)
        ep = "tcp://127.0.0.1:%d" % free_port()
        mb = 8 if self.quick else 64
        self.decho = subprocess.Popen([self.loadgen, "--serve-echo", ep, "--durable", os.path.join(d, "decho.log"),
                                       "--durable-mb", str(mb), "--gather-us", "1000"], stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, cwd=self.work)
        line = read_line(self.decho.stderr, 120)  # after pre-zeroing the file and binding
        if "durable echo on" not in line:
            kill_proc(self.decho)
            raise RuntimeError("loadgen --serve-echo --durable did not start: %s%s" % (
                line, self.decho.stderr.read().decode(errors="replace")))
        self.conf["decho"] = (
            "loadgen --serve-echo --durable FILE --durable-mb %d --gather-us 1000: a libzmq ROUTER; every request is "
            "appended to FILE "
            "(%d MB pre-zeroed and fsynced at start, as the DriftDB writer pre-zeroes a segment; records "
            "[4-byte header 0xEC000000 | length][payload] back to back) and answered only after an fdatasync that covers it; group "
            "commit: a loop thread drains every queued request into the pending batch, a flush thread writes the "
            "whole batch with one pwrite and one fdatasync while the loop keeps receiving, then the loop sends the "
            "batch's replies; a batch is handed over once every client active in the last 100 ms has a request in "
            "it, or 1 ms after its first (so with closed-loop clients one fdatasync covers all of them instead of "
            "two cohorts alternating). A request whose first byte is 'n' needs no sync and is answered at once "
            "(TPC-B's BEGIN and statements; only its COMMIT round trip waits for the disk).\n" % (mb, mb))
        self.targets["decho"] = ep

    def stop_decho(self):
        """SIGTERM, then the counters line the durable echo prints on exit."""
        if self.decho is None:
            return
        kill_proc(self.decho, 10)
        text = self.decho.stderr.read().decode(errors="replace")
        for line in text.splitlines():
            if "durable echo: requests=" in line:
                self.decho_stats = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}
        self.decho = None

    def stop(self):
        for p in list(LIVE):
            kill_proc(p)
        if self.pg_thread is not None:  # initdb/pg_ctl start still running: let it finish, then stop the server
            self.pg_thread.join(180)
        for name, fn in (("echo", lambda: kill_proc(self.echo)), ("durable echo", self.stop_decho),
                         ("redis", lambda: kill_proc(self.redis, 5)),
                         ("drift", lambda: self.daemon and self.daemon.close()), ("pg", self.stop_pg)):
            try:
                fn()
            except Exception as e:  # keep stopping the others
                log("stopping %s: %s" % (name, e))
        self.echo = self.redis = self.daemon = None


def read_line(f, timeout):
    """One line from the pipe f within timeout seconds ("" at EOF or timeout)."""
    import select
    buf = b""
    deadline = time.monotonic() + timeout
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([f], [], [], left)[0]:
            break
        ch = os.read(f.fileno(), 1)
        if not ch:
            break
        buf += ch
    return buf.decode(errors="replace").strip()


def kill_proc(p, grace=0.0):
    if p is None or p.poll() is not None:
        return
    if grace:
        p.terminate()
        try:
            p.wait(grace)
            return
        except subprocess.TimeoutExpired:
            pass
    p.kill()
    p.wait()


# ---------------------------------------------------------------------------------------------- machine


def meminfo_bytes():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def revision():
    """The source's git commit, and whether the tree had uncommitted changes (what the build was made from)."""
    try:
        rev = subprocess.run(["git", "-C", SRC, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=30).stdout.decode().strip()
        dirty = subprocess.run(["git", "-C", SRC, "status", "--porcelain", "--untracked-files=no"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (rev + (" with uncommitted changes in the tree" if dirty else "")) if rev else "unknown"


def machine(work):
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    df = subprocess.run(["df", "-T", work], stdout=subprocess.PIPE).stdout.decode().splitlines()[-1].split()
    return {"cores": os.cpu_count(), "cpu": cpu, "memory_gib": round(meminfo_bytes() / 2**30, 1),
            "filesystem": "%s on %s" % (df[1], df[0]), "kernel": os.uname().release,
            "os": distro()}


def distro():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "?"


def fsync_probe(path, seconds, per_sync, size):
    """pwrite + fdatasync of `size`-byte records, `per_sync` records per fdatasync, for `seconds`:
    (records/s, MB/s, p50 µs of one fdatasync)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    buf = b"\xa5" * size
    off, n, lat = 0, 0, []
    try:
        end = time.monotonic() + seconds
        t0 = time.monotonic()
        while True:
            for _ in range(per_sync):
                os.pwrite(fd, buf, off)
                off += size
            s = time.perf_counter()
            os.fdatasync(fd)
            lat.append(time.perf_counter() - s)
            n += per_sync
            if off > 512 * 2**20:  # keep the file small: start over (the blocks are allocated: rewrite cost)
                off = 0
            if time.monotonic() >= end:
                break
        dt = time.monotonic() - t0
    finally:
        os.close(fd)
        os.unlink(path)
    return n / dt, n * size / dt / 1e6, statistics.median(lat) * 1e6


# ---------------------------------------------------------------------------------------------- runs


def echo_workload(workload):
    """What an echo server runs in the cell of `workload`: TPC-B's round trips per transaction (loadgen echo_tpcb:
    TPCB_ROUND_TRIPS round trips, only the last one durable on the durable echo), else one round trip per operation."""
    return "echo_tpcb" if workload == "tpcb" else "echo"


def tpcb_params(workload, system, params):
    """TPC-B runs at READ COMMITTED on DriftDB and PostgreSQL alike (PostgreSQL's default and pgbench's level;
    DriftDB's default is REPEATABLE READ); SQLite's BEGIN IMMEDIATE is serializable whatever is asked."""
    if workload != "tpcb" or system not in ("drift", "pg"):
        return params
    return dict(params or {}, isolation="read_committed")


def run_loadgen(peers, system, workload, clients, seconds, args, params=None, timeout=None):
    """One loadgen run: its JSON result (errors = -1 and "failure" when it printed none)."""
    cmd = [peers.loadgen, "--system", "echo" if system in ECHOES else system, "--target", peers.targets[system],
           "--workload", workload,
           "--clients", str(clients), "--seconds", str(seconds), "--rows", str(args.rows),
           "--versions", str(args.versions), "--seed", str(args.seed)]
    if args.warmup and workload != "setup":
        cmd += ["--warmup", str(args.warmup)]
    for k, v in sorted((params or {}).items()):
        cmd += ["--param", "%s=%s" % (k, v)]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=peers.work)
    LIVE.add(p)
    try:
        out, err = p.communicate(timeout=timeout or (seconds + args.warmup) * 3 + 60)
    except subprocess.TimeoutExpired:
        kill_proc(p)
        out, err = b"", b"timed out"
    except BaseException:
        kill_proc(p)
        raise
    finally:
        LIVE.discard(p)
    res = None
    for line in reversed(out.decode(errors="replace").splitlines()):
        if line.startswith("{"):
            try:
                res = json.loads(line)
                break
            except ValueError:
                pass
    msg = err.decode(errors="replace").strip()
    if res is None:
        res = {"ops": 0, "ops_per_s": 0.0, "errors": -1, "failure": "exit %s: %s" % (p.returncode, msg[-800:])}
    elif p.returncode != 0:
        res["failure"] = "exit %d: %s" % (p.returncode, (res.get("error") or msg)[-800:])
    res["cmd"] = " ".join(shlex.quote(c) for c in cmd)
    res["wall_s"] = round(time.monotonic() - t0, 3)
    if workload != "setup" and res["wall_s"] > seconds + args.warmup + 3:
        log("slow run: %s %s %d clients took %.1f s" % (workload, system, clients, res["wall_s"]))
    return res


def run_all(peers, runs, args, together, timeout=None):
    """Runs [(system, workload, clients, seconds, params)] one after the other — or, with together (--quick: a
    smoke test, not a measurement), all at once; returns their results in order."""
    if not together:
        return [run_loadgen(peers, s, w, c, secs, args, prm, timeout) for s, w, c, secs, prm in runs]
    out = [None] * len(runs)

    def one(i, s, w, c, secs, prm):
        try:
            out[i] = run_loadgen(peers, s, w, c, secs, args, prm, timeout)
        except Exception as e:  # noqa: BLE001
            out[i] = {"ops": 0, "errors": -1, "failure": str(e)}
    ths = [threading.Thread(target=one, args=(i,) + r, daemon=True) for i, r in enumerate(runs)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    return [r if r is not None else {"ops": 0, "errors": -1, "failure": "no result"} for r in out]


def ingest_round(peers, rnd, files, nrows):
    """Workload 2b: one bulk load of the same rows per system (driftctl ingest, sqlite3 .import, psql \\copy);
    wall time of the load command. Returns [(system, tool, rows/s, seconds, error)]."""
    jsonl, csv = files
    table = "ingest_r%d" % rnd
    ddl = "CREATE TABLE %s (id INTEGER PRIMARY KEY, name TEXT, amount REAL, note TEXT)" % table
    out = []
    order = ["drift", "sqlite", "pg"]
    order = order[rnd % 3:] + order[:rnd % 3]
    for s in order:
        try:
            if s == "drift":
                ep = peers.targets["drift"]
                sh([peers.driftctl, "-H", ep, "sql", "-e", ddl])
                cmd = [peers.driftctl, "-H", ep, "ingest", table, jsonl, "--batch", "1000", "--no-progress", "-q"]
                tool = "driftctl ingest --batch 1000 (1000-row transactions)"
            elif s == "sqlite":
                sh(["sqlite3", peers.targets["sqlite"], ddl + ";"])
                cmd = ["sqlite3", peers.targets["sqlite"], "PRAGMA synchronous=FULL;", ".mode csv",
                       ".import %s %s" % (csv, table)]
                tool = "sqlite3 .import (one transaction)"
            else:
                sh(["psql", peers.targets["pg"], "-q", "-c", ddl.replace("INTEGER", "bigint").replace("REAL", "float8")])
                cmd = ["psql", peers.targets["pg"], "-q", "-c", "\\copy %s FROM '%s' WITH (FORMAT csv)" % (table, csv)]
                tool = "psql \\copy (COPY FROM STDIN, one transaction)"
            t0 = time.monotonic()
            sh(cmd, timeout=3600)
            dt = time.monotonic() - t0
            out.append((s, tool, nrows / dt, dt, None))
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            out.append((s, "", 0.0, 0.0, str(e)[-500:]))
    return out


def write_ingest_files(work, nrows):
    jsonl, csv = os.path.join(work, "ingest.jsonl"), os.path.join(work, "ingest.csv")
    with open(jsonl, "w") as fj, open(csv, "w") as fc:
        for i in range(1, nrows + 1):
            name, amount, note = "name-%d" % (i * 7919 % 100003), (i * 37 % 100000) / 100.0, "note %08x" % (i * 2654435761 % 2**32)
            fj.write('{"id": %d, "name": "%s", "amount": %.2f, "note": "%s"}\n' % (i, name, amount, note))
            fc.write("%d,%s,%.2f,%s\n" % (i, name, amount, note))
    return jsonl, csv


def log_bytes(d):
    """Bytes of DriftDB's log: committed bytes of the active segment plus the full earlier segments."""
    m = d.metrics()
    active = next((v for (n, _), v in m.items() if n == "driftdb_active_segment_committed_bytes"), 0)
    segs = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(os.path.join(d.data_dir, "log")) for f in fs
                  if f.endswith(".seg"))
    return int(active + sum(os.path.getsize(s) for s in segs[:-1])), len(segs)


def grow_log(peers, target_bytes):
    """Appends wide rows (3.9 kB of random text) through `driftctl ingest` (streamed on stdin, 100 rows per
    transaction) until the log holds target_bytes."""
    d = peers.daemon
    ep = peers.targets["drift"]
    sh([peers.driftctl, "-H", ep, "sql", "-e", "CREATE TABLE IF NOT EXISTS ballast (id INTEGER PRIMARY KEY, pad TEXT)"])
    have, _ = log_bytes(d)
    next_id = 1
    while have < target_bytes:
        n = max(50, min(20000, (target_bytes - have) // 4000 + 50))
        p = subprocess.Popen([peers.driftctl, "-H", ep, "ingest", "ballast", "-", "--batch", "100", "--no-progress",
                              "-q"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        LIVE.add(p)
        try:
            for i in range(next_id, next_id + n):  # random text: LZ4 must not shrink the frames
                p.stdin.write(('{"id": %d, "pad": "%s"}\n' % (i, os.urandom(1950).hex())).encode())
            p.stdin.close()
            p.wait(timeout=3600)
        except BaseException:
            kill_proc(p)
            raise
        finally:
            LIVE.discard(p)
        if p.returncode != 0:
            raise RuntimeError("driftctl ingest ballast: %s" % p.stderr.read().decode(errors="replace"))
        next_id += n
        have, _ = log_bytes(d)
    return have


def recovery_run(peers):
    """kill -9 of the whole daemon, restart on the same data directory, time until /health/ready answers 200."""
    return peers.daemon.crash_restart()


# ---------------------------------------------------------------------------------------------- report


def med(xs):
    return statistics.median(xs) if xs else 0.0


def fmt_n(x):
    """A rate as a whole number with thin groups: 14 276."""
    return "{:,.0f}".format(x).replace(",", "\u202f") if x else "–"


def fmt(x, digits=3):
    if x is None:
        return "–"
    if x >= 100:
        return "%.0f" % x
    return ("%%.%dg" % digits) % x


def ratio(a, b):
    return a / b if a and b else None


def summarize(runs):
    ok = [r for r in runs if r.get("errors", -1) >= 0]
    ops = [r.get("ops_per_s", 0.0) for r in ok]
    return {"ops_per_s": med(ops), "min": min(ops) if ops else 0.0, "max": max(ops) if ops else 0.0,
            "p50_us": med([r.get("p50_us", 0) for r in ok]), "p99_us": med([r.get("p99_us", 0) for r in ok]),
            "ops": sum(r.get("ops", 0) for r in runs), "errors": sum(abs(r.get("errors", 0)) for r in runs),
            "runs": len(runs), "failures": [r["failure"] for r in runs if "failure" in r]}


def median_run(runs):
    ok = sorted((r for r in runs if r.get("hist")), key=lambda r: r.get("ops_per_s", 0))
    return ok[len(ok) // 2] if ok else None


def gnuplot(script, work):
    path = os.path.join(work, "plot.gp")
    with open(path, "w") as f:
        f.write(script)
    p = subprocess.run(["gnuplot", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if p.returncode != 0:
        raise RuntimeError("gnuplot: %s" % p.stderr.decode(errors="replace")[-1500:])


def plots(summ, results, work, outdir):
    """Writes suite-throughput.png (ops/s vs clients, one panel per workload) and suite-latency.png (latency CDFs
    at 1 and 8 clients); returns their file names."""
    os.makedirs(os.path.join(outdir, "bench"), exist_ok=True)
    colors = {"drift": "#d62728", "pg": "#1f77b4", "redis": "#2ca02c", "sqlite": "#9467bd", "echo": "#7f7f7f",
              "decho": "#000000"}
    wl = [x for x in WORKLOADS if any(k[0] == x[1] for k in summ)]  # a panel per workload that ran
    cols = 4
    rows = (len(wl) + cols - 1) // cols
    s = ["set terminal pngcairo noenhanced size 1600,%d font 'sans,9'" % (330 * rows),
         "set output '%s'" % os.path.join(outdir, "bench", "suite-throughput.png"),
         "set multiplot layout %d,%d title 'DriftDB suite: throughput (median ops/s) vs clients'" % (rows, cols),
         "set logscale x 2", "set logscale y", "set key top left font ',8'", "set grid", "set xlabel 'clients'",
         "set ylabel 'ops/s'"]
    for num, w, what, clients, systems in wl:
        plot = []
        for sysname in systems:
            fn = os.path.join(work, "tp-%s-%s.dat" % (w, sysname))
            with open(fn, "w") as f:
                for c in clients:
                    v = summ.get((w, c, sysname), {}).get("ops_per_s", 0)
                    if v > 0:
                        f.write("%d %g\n" % (c, v))
            if os.path.getsize(fn) == 0:
                continue
            plot.append("'%s' using 1:2 with linespoints lw 2 lc rgb '%s' title '%s'" % (fn, colors[sysname],
                                                                                       NAMES[sysname]))
        s.append("set title '%s: %s'" % (num if num != "i7" else "issue 7", w))
        s.append("set xrange [0.7:%d]" % (max(clients) * 1.4))
        s.append(("plot " + ", ".join(plot)) if plot else "set label 1 'no data' at graph 0.5,0.5 center\n"
                 "unset logscale y\nset yrange [0:1]\nplot 2 notitle\nunset label 1\nset logscale y\nset autoscale y")
    s.append("unset multiplot")
    gnuplot("\n".join(s) + "\n", work)
    s = ["set terminal pngcairo noenhanced size 1600,%d font 'sans,9'" % (330 * rows),
         "set output '%s'" % os.path.join(outdir, "bench", "suite-latency.png"),
         "set multiplot layout %d,%d title 'DriftDB suite: latency CDF (median round; solid 1 client, dashed 8 "
         "clients)'" % (rows, cols), "set logscale x", "set key bottom right font ',8'", "set grid",
         "set xlabel 'latency µs'", "set ylabel 'fraction ≤'", "set yrange [0:1]"]
    for num, w, what, clients, systems in wl:
        plot = []
        for c in [c for c in clients if c in (1, 8)]:
            for sysname in systems:
                r = median_run(results.get((w, c, sysname), []))
                if not r:
                    continue
                total = sum(n for _, n in r["hist"]) or 1
                fn = os.path.join(work, "cdf-%s-%d-%s.dat" % (w, c, sysname))
                acc = 0
                with open(fn, "w") as f:
                    for up, n in r["hist"]:
                        acc += n
                        if up > 0:
                            f.write("%g %g\n" % (up, acc / total))
                plot.append("'%s' using 1:2 with lines lw 2 dt %d lc rgb '%s' title '%s %d'" % (
                    fn, 1 if c == 1 else 2, colors[sysname], NAMES[sysname], c))
        s.append("set title '%s: %s'" % (num if num != "i7" else "issue 7", w))
        s.append(("plot " + ", ".join(plot)) if plot else "set label 1 'no data' at graph 0.5,0.5 center\n"
                 "unset logscale x\nplot 2 notitle\nunset label 1\nset logscale x")
    s.append("unset multiplot")
    gnuplot("\n".join(s) + "\n", work)
    return ["bench/suite-throughput.png", "bench/suite-latency.png"]


def goals(summ, recovery, full_log):
    """[(goal, measured text, met: True/False/None)] for the goals of issue 8."""
    def ops(w, c, s):
        return summ.get((w, c, s), {}).get("ops_per_s", 0)

    def p50(w, c, s):
        return summ.get((w, c, s), {}).get("p50_us", 0)

    def g(name, val, target, higher=True, unit="×", need=None):
        """need = (workload, peer): the goal in absolute terms (target × the peer's rate) next to the durable echo's
        rate in the same cell — the ceiling of a durable request/reply server on this machine (information only:
        the verdict is the issue's ratio)."""
        if not val:
            return (name, "not measured", None)
        met = val >= target if higher else val <= target
        text = "%s%s (goal %s %s%s)" % (fmt(val), unit, "≥" if higher else "≤", fmt(target), unit)
        if need:
            w, peer = need
            unit_s = " tps" if w == "tpcb" else "/s"
            needed, ceil, dr = target * ops(w, 8, peer), ops(w, 8, "decho"), ops(w, 8, "drift")
            text += "; needs %s%s" % (fmt_n(needed), unit_s)
            if ceil:
                text += " — %s the ceiling measured in this run: durable echo%s %s%s (DriftDB %s%s = %.0f %% of it)" % (
                    "**above**" if needed > ceil else "below", " with TPC-B's 7 round trips" if w == "tpcb" else "",
                    fmt_n(ceil), unit_s, fmt_n(dr), unit_s, 100.0 * dr / ceil)
            else:
                text += "; durable echo not measured"
        return (name, text, met)

    out = [g("W1, 8 clients: DriftDB ≥ 2× PostgreSQL", ratio(ops("insert", 8, "drift"), ops("insert", 8, "pg")), 2,
             need=("insert", "pg")),
           g("W1, 8 clients: DriftDB ≥ 1.5× Redis appendfsync always",
             ratio(ops("insert", 8, "drift"), ops("insert", 8, "redis")), 1.5, need=("insert", "redis")),
           g("W1, 8 clients: DriftDB ≥ 70% of the raw echo",
             ratio(ops("insert", 8, "drift"), ops("insert", 8, "echo")), 0.7, need=("insert", "echo")),
           g("W3, 1 client: p50 ≤ 1.3× the raw echo round trip",
             ratio(p50("point_latest", 1, "drift"), p50("point_latest", 1, "echo")), 1.3, higher=False),
           g("W3, 1 client: as-of p50 ≤ 1.2× latest p50",
             ratio(p50("point_asof", 1, "drift"), p50("point_latest", 1, "drift")), 1.2, higher=False),
           g("W3, 8 clients: ≥ 70% of the raw echo throughput",
             ratio(ops("point_latest", 8, "drift"), ops("point_latest", 8, "echo")), 0.7),
           g("W6, 8 clients: DriftDB ≥ 2× PostgreSQL tps", ratio(ops("tpcb", 8, "drift"), ops("tpcb", 8, "pg")), 2,
             need=("tpcb", "pg"))]
    if recovery:
        r = med(recovery)
        met = r < 2.0 if full_log else None
        out.append(("W7: ready < 2 s after kill -9 with a 1 GB log",
                    "%.2f s (goal < 2 s)%s" % (r, "" if full_log else "; log smaller than 1 GB (quick run): not judged"),
                    met))
    else:
        out.append(("W7: ready < 2 s after kill -9 with a 1 GB log", "not measured", None))
    return out


def report(ctx, summ, results, ingest, recovery, raw, pngs):
    m = ctx["machine"]
    L = ["<!-- suite:begin -->", "## Suite", "",
         "Written by `bench/suite/run.py` (issue 8 workloads 1–8 and issue 7's four queries), "
         "run of %s; do not edit by hand, re-run instead:" % ctx["date"], "", "```", ctx["command"], "```", "",
         "%s. Runner source: commit %s. Build: `%s` (%s; `driftdbd --version`: %s). %d round(s), %s s per run (%s s warm-up), %s; data: %d keys × %d versions, seed %d. "
         "Figures: median over the rounds, spread = min–max of the rounds. Whole run: %.0f s." % (
             "**Quick mode** (smoke test: tiny data, very short runs, the systems of each cell run at the same "
             "time; the figures mean nothing)" if ctx["quick"] else "Full mode", ctx["revision"], ctx["build"], ctx["build_how"], ctx["version"], ctx["rounds"], fmt(ctx["seconds"]),
             fmt(ctx["warmup"]), "all systems at once in each cell" if ctx["quick"] else
             "one system at a time, alternating inside each round (the order rotates from cell to cell and round "
             "to round)", ctx["rows"], ctx["versions"], ctx["seed"], ctx["elapsed"]), "",
         "Machine: %d cores (%s), %.1f GiB RAM, data on %s, kernel %s, %s; fdatasync p50 %.0f µs "
         "(224-byte pwrite + fdatasync); load average %s before, %s after%s." % (
             m["cores"], m["cpu"], m["memory_gib"], m["filesystem"], m["kernel"], m["os"], raw.get("p50", 0),
             "/".join("%.2f" % x for x in ctx["load_before"]), "/".join("%.2f" % x for x in ctx["load_after"]),
             ("; " + ctx["note"]) if ctx.get("note") else ""), ""]
    L += ["### Goals of issue 8", "", "| goal | measured | met |", "|---|---|---|"]
    for name, val, met in goals(summ, recovery, ctx["full_log"]):
        L.append("| %s | %s | %s |" % (name, val, {True: "met", False: "**not met**", None: "–"}[met]))
    L += ["", "Ratios are DriftDB ÷ the other system in the same round position (throughput: > 1 is DriftDB "
          "faster; p50: < 1 is DriftDB faster). \"raw echo\" is a libzmq DEALER→ROUTER echo with the same clients: "
          "the ceiling of any request/reply here, with no durability. \"durable echo\" is the same echo made "
          "durable: each request is appended to a pre-zeroed file and answered only after an fdatasync that covers "
          "it, with group commit (a flush thread writes every waiting request with one pwrite and one fdatasync "
          "while the loop keeps receiving; a batch waits up to 1 ms for every active client, so one fdatasync covers "
          "them all): the ceiling of a durable request/reply server over libzmq (DriftDB's transport) on this "
          "machine with these closed-loop clients (one request in flight each); its configuration is below. In W6 both echoes do TPC-B's round trips per "
          "transaction (BEGIN, 5 statements, COMMIT = 7; on the durable echo only the last waits for the disk). "
          "The W1/W6 goal lines give what each goal needs in absolute terms next to that ceiling.", ""]
    for p in pngs:
        L.append("![%s](%s)" % (os.path.basename(p), p))
    L += ["", "### Workloads", ""]
    L += ["- %s %s — %s" % ("issue 7:" if num == "i7" else "W%s:" % num, w, what) for num, w, what, _, _ in WORKLOADS]
    cols = ["drift", "pg", "sqlite", "redis", "echo", "decho"]
    L += ["", "Throughput, ops/s: median (min–max of the rounds), and DriftDB ÷ each peer (> 1: DriftDB faster).", "",
          "| # | workload | clients | " + " | ".join(NAMES[c] for c in cols) + " | errors | "
          + " | ".join("DriftDB÷" + NAMES[c] for c in cols[1:]) + " |",
          "|---|---|---:|" + "---:|" * (len(cols) * 2)]
    lat = ["", "Latency, µs: p50 / p99 (median of the rounds), and DriftDB p50 ÷ each peer's (< 1: DriftDB faster).", "",
           "| # | workload | clients | " + " | ".join(NAMES[c] for c in cols) + " | "
           + " | ".join("DriftDB÷" + NAMES[c] for c in cols[1:]) + " |",
           "|---|---|---:|" + "---:|" * (len(cols) * 2 - 1)]
    echo_by_c = {}
    for (w, c, s), v in summ.items():
        if s == "echo" and w != "tpcb":  # one round trip per operation (W6's echo does TPC-B's round trips)
            echo_by_c.setdefault(c, []).append(v)
    for num, w, what, clients, systems in WORKLOADS:
        for c in clients:
            row = {s: summ[(w, c, s)] for s in systems if (w, c, s) in summ}
            if not row:
                continue
            dr = row.get("drift", {})
            ech = row.get("echo") or (echo_by_c.get(c) or [None])[0]
            head = "| %s | %s | %d | " % ("q" if num == "i7" else num, w, c)
            cells, ratios, lcells, lratios = [], [], [], []
            for s in cols:
                v = row.get(s) or (ech if s == "echo" else None)
                mark = "" if s in row or v is None else "¹"
                cells.append("–" if v is None else "%s (%s–%s)%s" % (fmt(v["ops_per_s"]), fmt(v["min"]), fmt(v["max"]),
                                                                    mark))
                lcells.append("–" if v is None else "%s / %s%s" % (fmt(v["p50_us"]), fmt(v["p99_us"]), mark))
                if s != "drift":
                    ratios.append(fmt(ratio(dr.get("ops_per_s"), v and v["ops_per_s"])))
                    lratios.append(fmt(ratio(dr.get("p50_us"), v and v["p50_us"])))
            errs = sum(v["errors"] for v in row.values())
            L.append(head + " | ".join(cells) + " | %s | " % errs + " | ".join(ratios) + " |")
            lat.append(head + " | ".join(lcells) + " | " + " | ".join(lratios) + " |")
    L += lat
    L += ["", "q = issue 7's queries. Redis runs the write-path workloads only. \"raw echo\" = the `echo` workload "
          "against `loadgen --serve-echo`, measured in the same rotation (¹: measured in another cell of the same "
          "round with the same clients). \"durable echo\" = the same clients against `loadgen --serve-echo "
          "--durable FILE`, in the same rotation. W6's echo columns are transactions/s of `echo_tpcb` (7 round "
          "trips per transaction, the durable echo syncing the last one).", ""]
    st = ctx.get("decho_stats") or {}
    if st.get("requests"):
        L += ["The durable echo server over the whole run: %d requests, %d of them flagged \"no sync\" (answered at "
              "once), %d made durable by %d fdatasyncs (%.1f requests per fdatasync, at most %d in one; %d batches "
              "left after the 1 ms wait without every active client), %d bytes written." % (
                  st["requests"], st.get("nosync", 0), st.get("records", 0), st.get("fdatasyncs", 0),
                  st.get("records", 0) / max(1, st.get("fdatasyncs", 0)), st.get("max_batch", 0),
                  st.get("gather_timeouts", 0), st.get("bytes", 0)), ""]
    L += ["### Workload 2b: bulk load of a %d-row file" % ctx["ingest_rows"], "",
          "| system | tool | rows/s (median) | spread | seconds (median) | DriftDB÷this |", "|---|---|---:|---:|---:|---:|"]
    by = {}
    for rnd in ingest:
        for s, tool, rate, dt, err in rnd:
            by.setdefault(s, {"tool": tool, "rates": [], "dts": [], "errors": []})
            if err:
                by[s]["errors"].append(err)
            else:
                by[s]["rates"].append(rate)
                by[s]["dts"].append(dt)
                by[s]["tool"] = tool
    for s in ("drift", "sqlite", "pg"):
        v = by.get(s)
        if not v:
            continue
        rates = v["rates"]
        L.append("| %s | %s | %s | %s–%s | %s | %s |" % (
            NAMES[s], v["tool"] + (" — %d error(s)" % len(v["errors"]) if v["errors"] else ""), fmt(med(rates)),
            fmt(min(rates) if rates else 0), fmt(max(rates) if rates else 0), fmt(med(v["dts"])),
            "–" if s == "drift" else fmt(ratio(med(by.get("drift", {}).get("rates", [])), med(rates)))))
    L += ["", "### Workload 7: recovery", ""]
    if recovery:
        L.append("`kill -9` of the supervisor (its roles die with it), a new `driftdbd` on the same data directory, "
                 "time until `GET /health/ready` answers 200: median **%.2f s**, spread %.2f–%.2f s over %d kills; "
                 "log %.0f MB in %d segment(s), commit seq %d, %d keys × %d versions indexed plus every workload's "
                 "writes." % (med(recovery), min(recovery), max(recovery), len(recovery), ctx["log_bytes"] / 1e6,
                              ctx["log_segments"], ctx["commit_seq"], ctx["rows"], ctx["versions"]))
    else:
        L.append("Not measured%s." % (": " + ctx["recovery_error"] if ctx.get("recovery_error") else ""))
    L += ["", "The issue's other case of workload 7, a 1 GB log with 10 M versions indexed (1 M keys × 10), is not "
          "part of this run (growing it takes minutes): `bench/recovery/recovery.py --keys 1000000 --versions 10 "
          "--log-mb 1024` measures it; its figures are in \"## Recovery\" below."]
    L += ["", "### Workload 8: raw limits of this machine (same run)", "",
          "| measure | median | spread |", "|---|---:|---:|"]
    for key, label, unit in raw.get("rows", []):
        xs = raw.get(key, [])
        L.append("| %s | %s %s | %s–%s |" % (label, fmt(med(xs)), unit, fmt(min(xs) if xs else 0),
                                            fmt(max(xs) if xs else 0)))
    L += ["| libzmq DEALER/ROUTER echo | see the \"raw echo\" rows above | |", "",
          "### Configuration of the systems", "",
          "W6 (TPC-B) runs each transaction as `BEGIN ISOLATION LEVEL READ COMMITTED` on DriftDB and PostgreSQL "
          "(PostgreSQL's default and pgbench's level; DriftDB's default is REPEATABLE READ), `BEGIN IMMEDIATE` on "
          "SQLite; a transaction failing with 40001/40P01/busy is retried whole, as `pgbench --max-tries`.", ""]
    for s in ("drift", "pg", "redis", "sqlite", "decho"):
        L += ["%s:" % NAMES[s], "", "```", ctx["conf"].get(s, "(not started)").rstrip(), "```", ""]
    fails = [(k, f) for k, v in summ.items() for f in v["failures"]]
    if fails:
        L += ["### Failures", ""]
        for (w, c, s), f in fails[:40]:
            L.append("- %s, %d clients, %s: `%s`" % (w, c, NAMES[s], f.replace("`", "'")[:300]))
        L.append("")
    L.append("<!-- suite:end -->")
    return "\n".join(L) + "\n"


def write_report(outdir, text):
    path = os.path.join(outdir, "benchmarks.md")
    old = ""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
    b, e = old.find("<!-- suite:begin -->"), old.find("<!-- suite:end -->")
    if b >= 0 and e > b:
        new = old[:b] + text.rstrip("\n") + old[e + len("<!-- suite:end -->"):]
    elif old:  # first run: the section goes right after the title paragraph, before the first "## " section
        i = old.find("\n## ")
        new = (old[:i + 1] + text + "\n" + old[i + 1:]) if i >= 0 else old.rstrip("\n") + "\n\n" + text
    else:
        new = "# DriftDB benchmarks\n\n" + text
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(new)
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke test: every workload briefly (< 3 min)")
    ap.add_argument("--out", help="write benchmarks.md and bench/*.png here instead of docs/")
    ap.add_argument("--rounds", type=int, help="rounds (default 3; quick 1)")
    ap.add_argument("--seconds", type=float, help="seconds per run (default 5; quick 0.5)")
    ap.add_argument("--warmup", type=float, help="warm-up seconds per run (default 1; quick 0)")
    ap.add_argument("--rows", type=int, help="keys loaded by setup (default 100000; quick 200)")
    ap.add_argument("--versions", type=int, help="versions per key (default 10; quick 2)")
    ap.add_argument("--ingest-rows", type=int, help="rows of the bulk-load file (default 1000000; quick 1000)")
    ap.add_argument("--log-mb", type=int, help="DriftDB log size before the recovery kill (default 1024; quick 8)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--only", help="comma-separated loadgen workloads to run (default: all)")
    ap.add_argument("--json", help="also write every run's raw result here (JSON)")
    ap.add_argument("--tmpdir", help="parent of the temporary directory (default $BENCH_DIR or /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--note", help="a sentence added to the machine line of the report (e.g. other load)")
    args = ap.parse_args()
    q = args.quick
    if q and args.rounds and args.rounds > 1:
        ap.error("--quick runs one round")
    for k, full, quick in (("rounds", 3, 1), ("seconds", 5.0, 0.5), ("warmup", 1.0, 0.0), ("rows", 100000, 200),
                           ("versions", 10, 2), ("ingest_rows", 1000000, 1000), ("log_mb", 1024, 8)):
        if getattr(args, k) is None:
            setattr(args, k, quick if q else full)
    only = set(args.only.split(",")) if args.only else None
    outdir = os.path.abspath(args.out or os.path.join(SRC, "docs"))
    t_start = time.monotonic()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    if os.environ.get("DRIFT_BUILDDIR"):
        os.environ["DRIFT_BUILDDIR_GIVEN"] = os.environ["DRIFT_BUILDDIR"]
    build, how = resolve_build(q)
    os.environ["DRIFT_BUILDDIR"] = build
    os.environ.setdefault("DRIFT_SRCDIR", SRC)
    sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
    parent = args.tmpdir or os.environ.get("BENCH_DIR") or "/tmp"
    work = tempfile.mkdtemp(prefix="drift-suite-", dir=parent)
    os.chmod(work, 0o755)
    tempfile.tempdir = work  # driftharness's own temporary directory goes inside too
    log("build %s (%s); working directory %s" % (build, how, work))
    try:
        version = subprocess.run([os.path.join(build, "driftdbd"), "--version"], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, timeout=30).stdout.decode(errors="replace").strip()
    except (OSError, subprocess.TimeoutExpired):
        version = "?"
    load_before = os.getloadavg()
    if load_before[0] > (os.cpu_count() or 1) and not args.note:
        args.note = ("the machine was busy with other work when the run started (load average %.1f on %d cores): "
                     "absolute figures are noisy, compare ratios within the run" % (load_before[0], os.cpu_count()))
    peers = Peers(work, build, q)
    results, ingest, recovery = {}, [], []
    raw = {"rows": [("sync1", "pwrite 224 B + fdatasync, 1 record per sync", "records/s"),
                    ("sync8", "pwrite 224 B, 8 records per fdatasync", "records/s"),
                    ("sync32", "pwrite 224 B, 32 records per fdatasync", "records/s"),
                    ("bw256k", "group-commit bandwidth: 256 KiB pwrite + fdatasync", "MB/s"),
                    ("bw1m", "group-commit bandwidth: 1 MiB pwrite + fdatasync", "MB/s")]}
    ctx = {"quick": q, "build": build, "build_how": how, "rounds": args.rounds, "seconds": args.seconds,
           "warmup": args.warmup, "rows": args.rows, "versions": args.versions, "seed": args.seed,
           "ingest_rows": args.ingest_rows, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "command": " ".join((["DRIFT_BUILDDIR=" + shlex.quote(os.environ["DRIFT_BUILDDIR_GIVEN"])]
                                if os.environ.get("DRIFT_BUILDDIR_GIVEN") else [])
                               + ["/usr/bin/python3", "bench/suite/run.py"] + [shlex.quote(a) for a in sys.argv[1:]]),
           "revision": revision(), "version": version,
           "note": args.note, "full_log": False, "log_bytes": 0, "log_segments": 0, "commit_seq": 0}
    rc = 0
    try:
        ctx["machine"] = machine(work)
        log("starting PostgreSQL, Redis, SQLite, DriftDB, echo, durable echo")
        pg_err = []

        def pg_thread():
            try:
                peers.start_pg()
            except Exception as e:  # noqa: BLE001 — reported by the main thread
                pg_err.append(str(e))
        th = peers.pg_thread = threading.Thread(target=pg_thread)
        th.start()  # initdb takes seconds of CPU: the other peers start meanwhile
        try:
            peers.start_redis()
            peers.start_sqlite()
            peers.start_drift()
            peers.start_echo()
            peers.start_decho()
        finally:
            th.join()
        if "pg" not in peers.targets:
            raise RuntimeError("PostgreSQL did not start: %s" % "; ".join(pg_err))
        ctx["conf"] = peers.conf
        params = {}
        for s, r in zip(DB4, run_all(peers, [(s, "setup", 1, 1, None) for s in DB4], args, q, timeout=7200)):
            if r.get("errors", -1) != 0 or "failure" in r:
                raise RuntimeError("setup on %s failed: %s" % (s, r.get("failure", r)))
            params[s] = {k: r[k] for k in ("old_point", "recent_point", "scale") if k in r}
            log("setup %s: %.1f s %s" % (s, r.get("wall_s", 0), params[s]))
        files = write_ingest_files(work, args.ingest_rows) if not only or "ingest" in only else None
        cells = [(num, w, c, systems) for num, w, what, clients, systems in WORKLOADS
                 for c in (QUICK_CLIENTS.get(w, (8,)) if q else clients) if not only or w in only]
        for rnd in range(args.rounds):
            log("round %d/%d" % (rnd + 1, args.rounds))
            if not only or "raw" in only:  # workload 8: the disk's limits, in every round
                ps = os.path.join(work, "probe")
                secs = max(0.2, args.seconds / 2)
                for key, per, size in (("sync1", 1, 224), ("sync8", 8, 224), ("sync32", 32, 224),
                                       ("bw256k", 1, 256 * 1024), ("bw1m", 1, 2**20)):
                    rate, mbs, p50 = fsync_probe(ps, secs, per, size)
                    raw.setdefault(key, []).append(mbs if key.startswith("bw") else rate)
                    if key == "sync1":
                        raw.setdefault("p50s", []).append(p50)
            for i, (num, w, c, systems) in enumerate(cells):
                k = (rnd + i) % len(systems)
                order = systems[k:] + systems[:k]
                secs = args.seconds
                if q and w in ("bulk", "tpcb", "diff", "history"):
                    secs = max(secs, 1.0)  # at least one slow operation finishes under sanitizers
                runs = [(s, echo_workload(w) if s in ECHOES else w, c, secs, tpcb_params(w, s, params.get(s)))
                        for s in order]
                got = run_all(peers, runs, args, q)
                again = [i for i, r in enumerate(got) if q and not r.get("ops") and r.get("errors") == 0
                         and "failure" not in r]
                if again:  # --quick on a busy machine: no operation ended inside the short window; a longer one
                    log("%s %d clients: no operation finished in %s s on %s: again with %s s" % (
                        w, c, fmt(secs), ", ".join(order[i] for i in again), fmt(secs * 4)))
                    for i, r in zip(again, run_all(peers, [runs[i][:3] + (secs * 4,) + runs[i][4:] for i in again],
                                                   args, q)):
                        got[i] = r
                for s, r in zip(order, got):
                    results.setdefault((w, c, s), []).append(r)
                    if r.get("errors", -1) != 0 or "failure" in r:
                        log("%s %s %d clients: errors=%s %s" % (w, s, c, r.get("errors"), r.get("failure", "")[:300]))
            if files:
                ingest.append(ingest_round(peers, rnd, files, args.ingest_rows))
                for s, tool, rate, dt, err in ingest[-1]:
                    if err:
                        log("ingest %s: %s" % (s, err[:300]))
        raw["p50"] = med(raw.get("p50s", []))
        if not only or "recovery" in only:  # workload 7, on the daemon that holds every workload's data
            try:
                log("growing DriftDB's log to %d MB" % args.log_mb)
                ctx["log_bytes"] = grow_log(peers, args.log_mb * 2**20)
                ctx["log_bytes"], ctx["log_segments"] = log_bytes(peers.daemon)
                ctx["full_log"] = ctx["log_bytes"] >= 2**30 * 0.95
                m = peers.daemon.metrics()
                ctx["commit_seq"] = int(next((v for (n, _), v in m.items() if n == "driftdb_commit_seq"), 0))
                for i in range(max(1, args.rounds)):
                    recovery.append(recovery_run(peers))
                    log("recovery %d: %.2f s" % (i + 1, recovery[-1]))
                r = run_loadgen(peers, "drift", "point_latest", 1, args.seconds, args, params.get("drift"))
                if r.get("errors", -1) != 0 or not r.get("ops"):
                    raise RuntimeError("point reads after the recovery failed: %s" % r.get("failure", r))
            except (RuntimeError, AssertionError, OSError) as e:
                ctx["recovery_error"] = str(e)[:500]
                log("recovery: %s" % e)
                rc = 1
    except Interrupted as e:
        log("interrupted (%s): stopping everything" % e)
        rc = 130
    except Exception as e:  # noqa: BLE001 — report, then clean up
        log("failed: %s: %s" % (type(e).__name__, e))
        rc = 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        peers.stop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, on_signal)
    try:
        if rc == 130:
            raise Interrupted("before the report")
        ctx["load_after"] = os.getloadavg()
        ctx["decho_stats"] = peers.decho_stats
        ctx["load_before"] = load_before
        ctx["elapsed"] = time.monotonic() - t_start
        summ = {k: summarize(v) for k, v in results.items()}
        if not results:
            raise RuntimeError("no workload ran: no report written")
        ctx.setdefault("conf", peers.conf)
        try:
            pngs = plots(summ, results, work, outdir)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
            log("plots failed: %s" % e)
            pngs, rc = [], rc or 1
        path = write_report(outdir, report(ctx, summ, results, ingest, recovery, raw, pngs))
        log("report written to %s (plots: %s)" % (path, ", ".join(pngs)))
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"context": {k: v for k, v in ctx.items()},
                           "results": [{"workload": w, "clients": c, "system": s, "runs": v}
                                       for (w, c, s), v in sorted(results.items())],
                           "ingest": [[{"system": s, "tool": t, "rows_per_s": r, "seconds": d, "error": e}
                                       for s, t, r, d, e in rnd] for rnd in ingest],
                           "recovery_s": recovery, "raw": {k: v for k, v in raw.items() if k != "rows"},
                           "decho_stats": peers.decho_stats}, f, indent=1)
        bad = [(k, v) for k, v in summ.items() if v["errors"] or not v["ops"]]
        bad += [(("ingest", 0, s), {"errors": e}) for rnd in ingest for s, _, _, _, e in rnd if e]
        for (w, c, s), v in bad:
            log("FAILED: %s, %d clients, %s: ops=%s errors=%s %s" % (w, c, s, v.get("ops"), v.get("errors"),
                                                                   "; ".join(v.get("failures", []))[:300]))
        if bad:
            rc = rc or 1
    except Interrupted as e:
        log("interrupted (%s): no report" % e)
        rc = 130
    except Exception as e:  # noqa: BLE001
        log("report: %s: %s" % (type(e).__name__, e))
        rc = rc or 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log("kept %s" % work)
    log("done in %.0f s, exit %d" % (time.monotonic() - t_start, rc))
    return rc


if __name__ == "__main__":
    sys.exit(main())
