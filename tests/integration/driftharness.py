"""driftharness — start and stop a real driftdbd for integration tests.

Every test gets its own temporary data directory, random free TCP ports on
127.0.0.1, and a NOTIFY_SOCKET of its own so it sees what systemd would see.
Runs under /usr/bin/python3 (python3-zmq, python3-msgpack from Debian).

    with Daemon(query_workers=2) as d:
        d.endpoint        # tcp://127.0.0.1:PORT for clients
        d.http_get('/health/ready')  -> (status, body)
        d.role_pids()     # {'writer': [pid], 'query': [pid, pid], ...}
"""
import json
import unittest
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

BUILDDIR = os.environ.get("DRIFT_BUILDDIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
SRCDIR = os.environ.get("DRIFT_SRCDIR") or BUILDDIR
DRIFTDBD = os.path.join(BUILDDIR, "driftdbd")
DRIFTCTL = os.path.join(BUILDDIR, "driftctl")


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout=20.0, interval=0.05, what="condition"):
    """Polls pred() until it returns a truthy value; raises AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def children_of(pid):
    """Pids whose parent is pid (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
            ppid = int(st[st.rindex(")") + 2:].split()[1])
            if ppid == pid:
                out.append(int(d))
        except (OSError, ValueError):
            pass
    return out


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode() for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def proc_state(pid):
    """The one-letter state of a process (R, S, T, Z...), or None if gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        return st[st.rindex(")") + 2]
    except OSError:
        return None


def pid_alive(pid):
    s = proc_state(pid)
    return s is not None and s != "Z"


class Daemon:
    """One driftdbd supervisor with its roles, in a private data directory."""

    def __init__(self, data_dir=None, config=None, query_workers=2, env=None, extra_args=(), keep=False):
        self.tmp = tempfile.mkdtemp(prefix="drift-it-")
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        self.port = free_port()
        self.http_port = free_port()
        self.endpoint = "tcp://127.0.0.1:%d" % self.port
        self.http_addr = "127.0.0.1:%d" % self.http_port
        self.config = {"query_workers": str(query_workers), "heartbeat_interval": "100ms",
                       "heartbeat_timeout": "4s", "shutdown_grace": "5s"}
        self.config.update(config or {})
        self.config_path = os.path.join(self.tmp, "driftdb.conf")
        self.write_config()
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.extra_args = list(extra_args)
        self.keep = keep
        self.proc = None
        self.notify_path = os.path.join(self.tmp, "notify.sock")
        self.notify_sock = None
        self.notify_msgs = []
        self.log_path = os.path.join(self.tmp, "driftdbd.log")
        self.log_file = None

    def write_config(self, extra=None, raw=None):
        """Writes the config file (used at start and before a SIGHUP)."""
        with open(self.config_path, "w") as f:
            if raw is not None:
                f.write(raw)
                return
            cfg = dict(self.config)
            cfg.update(extra or {})
            for k, v in cfg.items():
                f.write("%s = %s\n" % (k, v))

    def argv(self):
        # A key set in the config file is left to the file (so that a reload can change it).
        dd = ["--data-dir", self.data_dir] if "data_dir" not in self.config else []
        http = ["--http", self.http_addr] if "http" not in self.config else []
        return [DRIFTDBD, "-c", self.config_path] + dd + ["--listen", self.endpoint] + http + self.extra_args

    def start(self, wait_ready=True, timeout=30.0):
        if self.notify_sock is None:
            self.notify_sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.notify_sock.bind(self.notify_path)
            self.notify_sock.setblocking(False)
        env = dict(self.env)
        env["NOTIFY_SOCKET"] = self.notify_path
        if self.log_file:
            self.log_file.close()  # (a restart: the last run's handle)
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv(), env=env, stdout=self.log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def read_notify(self):
        """Drains the NOTIFY_SOCKET and returns every message received so far."""
        while self.notify_sock is not None:
            try:
                data = self.notify_sock.recv(4096)
            except BlockingIOError:
                break
            self.notify_msgs.append(data.decode(errors="replace"))
        return list(self.notify_msgs)

    def notified(self, line):
        return any(line in m.split("\n") for m in self.read_notify())

    def wait_ready(self, timeout=30.0):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("driftdbd exited with %s before READY=1:\n%s" % (self.proc.returncode, self.log()))
            return self.notified("READY=1")
        wait_for(ready, timeout, what="READY=1")
        wait_for(lambda: self.http_get("/health/ready")[0] == 200, timeout, what="/health/ready 200")

    def http_get(self, path, timeout=5.0):
        """(status, body text) of GET path on the daemon's HTTP port; (0, error) when unreachable."""
        try:
            with urllib.request.urlopen("http://%s%s" % (self.http_addr, path), timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except (urllib.error.URLError, OSError) as e:
            return 0, str(e)

    def health(self):
        st, body = self.http_get("/health/ready")
        try:
            return st, json.loads(body)
        except ValueError:
            return st, body

    def metrics(self):
        """Parsed /metrics: {(name, frozenset(labels.items())): value}."""
        st, body = self.http_get("/metrics")
        assert st == 200, (st, body)
        out = {}
        for line in body.splitlines():
            if not line or line.startswith("#"):
                continue
            name_labels, value = line.rsplit(" ", 1)
            labels = {}
            if "{" in name_labels:
                name, rest = name_labels.split("{", 1)
                for part in rest.rstrip("}").split(","):
                    if part:
                        k, v = part.split("=", 1)
                        labels[k] = v.strip('"')
            else:
                name = name_labels
            out[(name, frozenset(labels.items()))] = float(value)
        return out

    def role_pids(self):
        """{role name: [pid, ...]} of the supervisor's live children, read from /proc/PID/cmdline."""
        roles = {}
        if self.proc is None:
            return roles
        for pid in children_of(self.proc.pid):
            if not pid_alive(pid):
                continue
            for a in cmdline(pid):
                if a.startswith("--role="):
                    roles.setdefault(a[len("--role="):], []).append(pid)
        for v in roles.values():
            v.sort()
        return roles

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        """Stops the supervisor; returns its exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("driftdbd did not exit within %.0fs of signal %d:\n%s" % (timeout, sig, self.log()))

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def kill_all(self):
        """SIGKILLs the supervisor and any role still alive (test cleanup)."""
        pids = [p for v in self.role_pids().values() for p in v] if self.proc else []
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass

    def crash_restart(self, timeout=600.0):
        """kill -9 of the supervisor and every role, then a restart on the same data directory; returns the
        seconds from the kill until /health/ready answers 200 (what the recovery benchmarks measure)."""
        old = [p for v in self.role_pids().values() for p in v] + [self.proc.pid]
        t0 = time.monotonic()
        self.kill_all()
        for pid in old:  # the roles die by PR_SET_PDEATHSIG
            while pid_alive(pid) and time.monotonic() - t0 < 30:
                time.sleep(0.002)
        self.log_file.close()
        self.start(wait_ready=False)
        while self.http_get("/health/ready", timeout=1.0)[0] != 200:
            if self.proc.poll() is not None:
                raise RuntimeError("driftdbd exited %s during recovery:\n%s" % (self.proc.returncode,
                                                                                self.log()[-3000:]))
            if time.monotonic() - t0 > timeout:
                raise RuntimeError("driftdbd not ready %.0f s after kill -9" % timeout)
            time.sleep(0.005)
        return time.monotonic() - t0

    def close(self):
        try:
            if self.proc is not None and self.proc.poll() is None:
                try:
                    self.stop(timeout=20)
                except AssertionError:
                    pass
            self.kill_all()
        finally:
            if self.log_file:
                self.log_file.close()
            if self.notify_sock is not None:
                self.notify_sock.close()
                self.notify_sock = None
            if not self.keep:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if exc[0] is not None:
            sys.stderr.write("---- driftdbd log ----\n%s\n" % self.log())
        self.close()


class DaemonTestCase(unittest.TestCase):
    """A test class sharing one daemon (started in setUpClass with DAEMON_OPTIONS) and one
    client connection (cls.conn) among its tests; q() runs a statement and returns its rows."""
    DAEMON_OPTIONS = {"query_workers": 1}

    @classmethod
    def setUpClass(cls):
        import driftdb
        cls.d = Daemon(**cls.DAEMON_OPTIONS)
        cls.d.__enter__()
        cls.conn = driftdb.connect(cls.d.endpoint)

    @classmethod
    def tearDownClass(cls):
        cls.conn.close()
        cls.d.__exit__(None, None, None)

    def cur(self):
        return self.conn.cursor()

    def q(self, sql, params=None):
        c = self.conn.cursor()
        c.execute(sql, params)
        return c.fetchall()

    def x(self, sql, params=None):
        """Runs a statement; returns its cursor."""
        c = self.conn.cursor()
        c.execute(sql, params)
        return c

    def err(self, sqlstate, sql, params=None):
        """Runs a statement that must fail with sqlstate; returns the error."""
        import driftdb
        with self.assertRaises(driftdb.Error) as cm:
            self.x(sql, params)
        self.assertEqual(cm.exception.sqlstate, sqlstate, str(cm.exception))
        return cm.exception
