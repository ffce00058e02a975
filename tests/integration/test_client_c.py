"""libdrift against the real daemon: the example of docs/client-c.md is
extracted, compiled (once against the build tree, once against a
`make install DESTDIR=...` tree through pkg-config) and run; its output must
show the values computed by the server. Also: the installed files (versioned
soname, header, drift.pc) and the unreachable-daemon path."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from driftharness import BUILDDIR, SRCDIR, Daemon, free_port

DOC = os.path.join(SRCDIR, "docs", "client-c.md")


def example_source():
    """The C block that follows the '<!-- example: client-example.c -->' marker."""
    with open(DOC) as f:
        text = f.read()
    m = re.search(r"<!-- example: client-example\.c -->\s*```c\n(.*?)```", text, re.S)
    assert m, "docs/client-c.md has no example block"
    return m.group(1)


def sanitizer_flags():
    """-fsanitize flags libdrift was built with (the example must link with them too)."""
    with open(os.path.join(BUILDDIR, "Makefile")) as f:
        for line in f:
            if line.startswith("DRIFT_LDFLAGS ="):
                return line.split("=", 1)[1].split()
    return []


def clean_env():
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(k, None)
    return env


class ClientCTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="drift-cc-")
        cls.src = os.path.join(cls.tmp, "client-example.c")
        with open(cls.src, "w") as f:
            f.write(example_source())
        libs = os.path.join(BUILDDIR, ".libs")
        cls.exe = os.path.join(cls.tmp, "client-example")
        cmd = ["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-I", os.path.join(SRCDIR, "client"), cls.src,
               "-o", cls.exe, "-L", libs, "-ldrift", "-Wl,-rpath," + libs] + sanitizer_flags()
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, "compiling the docs example failed:\n%s\n%s" % (" ".join(cmd), r.stderr)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_example(self, exe, endpoint, timeout=60):
        return subprocess.run([exe, endpoint], capture_output=True, text=True, timeout=timeout)

    def check_output(self, r):
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = r.stdout.splitlines()
        self.assertRegex(lines[0], r"^connected to driftdb \d+\.\d+\.\d+")
        self.assertEqual(lines[1], "x = 42 (1 row)")
        self.assertEqual(lines[2:5], ["pipelined 2: x = 21", "pipelined 1: x = 11", "pipelined 0: x = 1"])
        self.assertRegex(lines[5], r"^error 42601: \S")
        self.assertEqual(len(lines), 6, r.stdout)
        self.assertNotIn("ERROR: LeakSanitizer", r.stderr)

    def test_example_against_daemon(self):
        with Daemon(query_workers=2) as d:
            self.check_output(self.run_example(self.exe, d.endpoint))

    def test_example_unreachable(self):
        r = self.run_example(self.exe, "tcp://127.0.0.1:%d" % free_port())
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("is driftdbd running", r.stderr)

    def pipeline(self, endpoint, mode, n):
        exe = os.path.join(BUILDDIR, "tests", "integration", "client_probe")
        return subprocess.run([exe, endpoint, mode, str(n)], capture_output=True, text=True, timeout=120)

    def test_pipelined_10000_matched_by_id(self):
        with Daemon(query_workers=2) as d:
            r = self.pipeline(d.endpoint, "window", 10000)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertRegex(r.stdout, r"^ok 10000 sent, 10000 matched, \d+ busy$")

    def test_typed_accessors_and_error_paths(self):
        with Daemon(query_workers=1) as d:
            r = self.pipeline(d.endpoint, "types", 0)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            lines = r.stdout.splitlines()
            self.assertEqual(lines[:8], ["ok int", "ok double", "ok bool", "ok text", "ok blob", "ok json",
                                         "ok null", "ok errors"])
            self.assertIn(lines[8], ("ok begin not supported yet", "ok transactions"))
            self.assertEqual(lines[9:], ["ok as_of", "ok misc"])

    def test_client_timeout_and_late_reply(self):
        with Daemon(query_workers=2, env={"DRIFT_FAULT": "query_hang:DRIFT_HANG_MARKER"},
                    config={"request_timeout": "1s", "heartbeat_timeout": "20s", "shutdown_grace": "1s"}) as d:
            r = self.pipeline(d.endpoint, "late", 0)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(r.stdout.splitlines(), ["ok timeout", "ok late reply dropped"])

    def test_burst_beyond_inflight_cap_gets_53300(self):
        # 3000 requests sent without reading: beyond max_inflight_per_client the
        # gateway answers 53300 with retry_after_ms; every other reply carries its value.
        with Daemon(query_workers=2, config={"max_inflight_per_client": "64"}) as d:
            r = self.pipeline(d.endpoint, "burst", 3000)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            m = re.match(r"^burst 3000: (\d+) values, (\d+) busy, 0 other$", r.stdout)
            self.assertTrue(m, r.stdout)
            values, busy = int(m.group(1)), int(m.group(2))
            self.assertGreater(busy, 0)
            self.assertGreaterEqual(values, 64)

    def test_install_tree_and_pkgconfig(self):
        dest = os.path.join(self.tmp, "destdir")
        r = subprocess.run(["make", "-C", BUILDDIR, "install", "DESTDIR=" + dest], capture_output=True, text=True,
                           env=clean_env())
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        found = {}
        for root, _dirs, files in os.walk(dest):
            for fn in files + _dirs:
                found[fn] = os.path.join(root, fn)
        for name in ("drift.h", "drift.pc", "libdrift.so", "libdrift.so.0", "driftctl"):
            self.assertIn(name, found, sorted(found))
        soname = subprocess.run(["objdump", "-p", found["libdrift.so"]], capture_output=True, text=True).stdout
        self.assertRegex(soname, r"SONAME\s+libdrift\.so\.0\b")
        # The library links libzmq and msgpack-c, never the server's code.
        needed = re.findall(r"NEEDED\s+(\S+)", soname)
        self.assertTrue(any(n.startswith("libzmq") for n in needed), needed)
        self.assertTrue(any(n.startswith("libmsgpackc") for n in needed), needed)
        # Only the client API is exported (drift_*; no server symbols such as drift_config_*).
        syms = subprocess.run(["nm", "-D", "--defined-only", found["libdrift.so"]], capture_output=True,
                              text=True).stdout.split("\n")
        exported = [ln.split()[-1] for ln in syms if re.search(r" [TDB] ", ln)]
        self.assertIn("drift_exec", exported)
        self.assertEqual([x for x in exported if not x.startswith("drift_")], [])
        header = open(os.path.join(SRCDIR, "client", "drift.h")).read()
        self.assertEqual([x for x in exported if not re.search(r"\b%s\(" % x, header)], [])
        # Compile the example through pkg-config against the installed tree only.
        env = clean_env()
        env["PKG_CONFIG_PATH"] = os.path.dirname(found["drift.pc"])
        env["PKG_CONFIG_SYSROOT_DIR"] = dest
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "drift"], capture_output=True, text=True,
                               env=env)
        self.assertEqual(flags.returncode, 0, flags.stderr)
        self.assertIn("-ldrift", flags.stdout)
        exe = os.path.join(self.tmp, "client-example-installed")
        libdir = os.path.dirname(found["libdrift.so"])
        cmd = ["cc", "-std=c11", self.src, "-o", exe] + flags.stdout.split() + ["-Wl,-rpath," + libdir] + \
            sanitizer_flags()
        r = subprocess.run(cmd, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, " ".join(cmd) + "\n" + r.stderr)
        ldd = subprocess.run(["ldd", exe], capture_output=True, text=True).stdout
        self.assertIn(libdir, ldd)
        with Daemon(query_workers=1) as d:
            self.check_output(self.run_example(exe, d.endpoint))


if __name__ == "__main__":
    unittest.main()
