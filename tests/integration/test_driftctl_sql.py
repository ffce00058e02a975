"""`driftctl sql` against the real daemon: -e, -f (multi-line statements,
stopping at the first error with FILE:LINE), --json/--csv, exit codes (0, 1,
2, 3), and the interactive shell driven through a pseudo-terminal (libedit
prompts, multi-line input, \\timing, \\x, \\q, the history file and recalling
it with the arrow key in a new shell)."""
import csv
import io
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from driftharness import DRIFTCTL, Daemon, free_port

HANG = "DRIFT_HANG_MARKER"


def driftctl(*args, stdin=None, env=None, timeout=60):
    return subprocess.run([DRIFTCTL] + list(args), input=stdin, capture_output=True, text=True, env=env,
                          timeout=timeout)


class Pty:
    """driftctl running on a pseudo-terminal; expect() reads until a text appears."""

    def __init__(self, args, env):
        self.master, slave = os.openpty()
        self.proc = subprocess.Popen([DRIFTCTL] + args, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     start_new_session=True)
        os.close(slave)
        self.buf = b""

    def expect(self, text, timeout=15.0):
        """Returns everything read up to and including text."""
        pat = text.encode()
        deadline = time.monotonic() + timeout
        while pat not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out waiting for %r; got %r" % (text, self.buf))
            r, _, _ = select.select([self.master], [], [], min(left, 0.2))
            if r:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    data = b""
                if not data:
                    raise AssertionError("terminal closed while waiting for %r; got %r" % (text, self.buf))
                self.buf += data
        i = self.buf.index(pat) + len(pat)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out.decode(errors="replace").replace("\r\n", "\n")

    def send(self, text):
        os.write(self.master, text.encode())

    def wait(self, timeout=15):
        """Waits for the exit while reading the terminal: a program that restores the terminal on exit
        (tcsetattr TCSADRAIN, as libedit does) blocks until its last output has been read."""
        try:
            deadline = time.monotonic() + timeout
            while self.proc.poll() is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return self.proc.wait(0.1)  # raises TimeoutExpired
                r, _, _ = select.select([self.master], [], [], min(left, 0.1))
                if r:
                    try:
                        self.buf += os.read(self.master, 4096)
                    except OSError:
                        pass
            return self.proc.returncode
        finally:
            os.close(self.master)

    def quit(self, keys, timeout=15):
        """Sends keys that end the shell and waits for its exit status. libedit switches the terminal mode
        (flushing unread input) right after it prints the prompt, so keys sent at that moment can be lost:
        they are sent again each second until the shell exits."""
        deadline = time.monotonic() + timeout
        first = True
        while True:
            # on a retry, Ctrl-U first: a partly received earlier key can have left text on the line, and
            # Ctrl-D ends the shell only on an empty line
            self.send(keys if first else "\x15" + keys)
            first = False
            end = min(deadline, time.monotonic() + 1.0)
            while self.proc.poll() is None and time.monotonic() < end:
                r, _, _ = select.select([self.master], [], [], 0.1)
                if r:
                    try:
                        self.buf += os.read(self.master, 4096)
                    except OSError:
                        pass
            if self.proc.poll() is not None:
                return self.wait(0.5)
            if time.monotonic() >= deadline:
                raise AssertionError("the shell did not exit on %r; its terminal showed:\n%s"
                                     % (keys, self.buf[-2000:].decode(errors="replace")))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


class DriftctlSqlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(query_workers=2).start()
        cls.tmp = tempfile.mkdtemp(prefix="drift-ctl-")

    @classmethod
    def tearDownClass(cls):
        cls.daemon.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def sql(self, *args, **kw):
        return driftctl("-H", self.daemon.endpoint, "sql", *args, **kw)

    # -- -e and output formats -----------------------------------------------

    def test_execute_table(self):
        r = self.sql("-e", "SELECT 40 + 2 AS answer, 'hi' AS greeting")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual([c.strip() for c in lines[0].split("|")], ["answer", "greeting"])
        self.assertRegex(lines[1], r"^-+\+-+$")
        self.assertEqual([c.strip() for c in lines[2].split("|")], ["42", "hi"])
        self.assertEqual(lines[3], "(1 row)")

    def test_execute_json_and_csv(self):
        r = self.sql("--json", "-e", "SELECT 1 AS a, 'x,y' AS b, NULL AS c; SELECT 2.5 AS d")
        self.assertEqual(r.returncode, 0, r.stderr)
        objs = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertEqual(len(objs), 2)
        self.assertEqual(objs[0]["columns"], ["a", "b", "c"])
        self.assertEqual(objs[0]["rows"], [[1, "x,y", None]])
        self.assertEqual(objs[1]["rows"], [[2.5]])
        self.assertIsInstance(objs[1]["seq"], int)
        r = self.sql("--csv", "-e", "SELECT 1 AS a, 'x,\"y' AS b, NULL AS c, '' AS d")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = list(csv.reader(io.StringIO(r.stdout)))
        self.assertEqual(rows, [["a", "b", "c", "d"], ["1", 'x,"y', "", ""]])
        self.assertEqual(r.stdout.splitlines()[1], '1,"x,""y",,""')  # '' is quoted, NULL is not

    def test_statement_error_exit_1(self):
        r = self.sql("-e", "SELECT FROM")
        self.assertEqual(r.returncode, 1)
        self.assertIn("ERROR 42601", r.stderr)
        r = self.sql("-e", "CREATE TABLE t (a INTEGER)")  # served by the SQL issue later
        self.assertEqual(r.returncode, 1 if "0A000" in r.stderr else 0, r.stderr)

    # -- -f ------------------------------------------------------------------

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_file_multiline_and_error_line(self):
        path = self.write("script.sql", "\n".join([
            "-- a comment line",                 # 1
            "SELECT 1",                          # 2
            "   + 2 AS three;",                  # 3
            "SELECT 'a;b' AS s; SELECT /* ; */", # 4
            "  4 AS four;",                      # 5
            "",                                  # 6
            "SELECT 1,",                         # 7: a statement whose error
            "  2 +* 3;",                         # 8: is on its second line
            "SELECT 5 AS never_run;",            # 9
        ]) + "\n")
        r = self.sql("--json", "-f", path)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        outs = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertEqual([o["rows"] for o in outs], [[[3]], [["a;b"]], [[4]]])
        self.assertIn("%s:8: ERROR 42601" % path, r.stderr)  # the line of the error position
        self.assertNotIn("never_run", r.stdout)

    def test_file_last_statement_without_semicolon_and_stdin(self):
        path = self.write("ok.sql", "SELECT 1 AS one;\nSELECT\n  2 AS two")
        r = self.sql("--json", "-f", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([json.loads(x)["rows"] for x in r.stdout.splitlines()], [[[1]], [[2]]])
        r = self.sql("--json", stdin="SELECT 3 AS three;\nSELECT FROM;\nSELECT 4;\n")
        self.assertEqual(r.returncode, 1)
        self.assertEqual([json.loads(x)["rows"] for x in r.stdout.splitlines()], [[[3]]])
        self.assertIn("<stdin>:2: ERROR 42601", r.stderr)

    def test_unterminated_quote_in_file(self):
        path = self.write("quote.sql", "SELECT 1;\nSELECT 'abc\n")
        r = self.sql("-f", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s:2: ERROR 42601: unterminated quoted string" % path, r.stderr)

    # -- exit codes ------------------------------------------------------------

    def test_usage_errors_exit_2(self):
        for args in (["sql", "--no-such-option"], ["no-such-command"], [], ["sql", "-e", "SELECT 1", "-f", "x"],
                     ["sql", "-f", os.path.join(self.tmp, "missing.sql")], ["--timeout", "abc", "ping"],
                     ["-H", "not-an-endpoint", "sql", "-e", "SELECT 1"]):
            r = driftctl(*args)
            self.assertEqual(r.returncode, 2, "%s: %s" % (args, r.stderr))
            self.assertTrue(r.stderr)

    def test_unreachable_exit_3(self):
        t0 = time.monotonic()
        r = driftctl("--connect-timeout", "300", "-H", "tcp://127.0.0.1:%d" % free_port(), "sql", "-e", "SELECT 1")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("is driftdbd running", r.stderr)
        self.assertLess(time.monotonic() - t0, 10)

    def test_stopped_daemon_exit_3(self):
        with Daemon(query_workers=1) as d:
            self.assertEqual(driftctl("-H", d.endpoint, "ping").returncode, 0)
            d.stop()
            r = driftctl("--connect-timeout", "300", "-H", d.endpoint, "sql", "-e", "SELECT 1")
            self.assertEqual(r.returncode, 3, r.stderr)

    def test_as_of_option(self):
        # Sent as the protocol's as_of field: a seq that was never committed is 22023.
        r = self.sql("--as-of", "@seq:999999999", "-e", "SELECT 1")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("ERROR 22023", r.stderr)
        r = self.sql("--as-of", "@seq:x1", "-e", "SELECT 1")
        self.assertEqual(r.returncode, 2, r.stderr)

    def hang_daemon(self):
        """A daemon whose query workers hang on statements holding HANG (the worker's fault hook)."""
        return Daemon(query_workers=2, env={"DRIFT_FAULT": "query_hang:" + HANG},
                      config={"request_timeout": "60s", "heartbeat_timeout": "20s", "shutdown_grace": "1s"})

    def test_request_timeout_exit_3(self):
        with self.hang_daemon() as d:
            t0 = time.monotonic()
            r = driftctl("--timeout", "400", "-H", d.endpoint, "sql", "-e", "SELECT '%s'" % HANG)
            self.assertEqual(r.returncode, 3, r.stderr)
            self.assertIn("ERROR 08006", r.stderr)
            self.assertLess(time.monotonic() - t0, 10)

    def test_interactive_ctrl_c_abandons_running_statement(self):
        with self.hang_daemon() as d:
            env = dict(os.environ, TERM="xterm", DRIFTCTL_HISTORY=os.path.join(self.tmp, "history-c"), HOME=self.tmp)
            t = Pty(["-H", d.endpoint, "sql"], env)
            try:
                t.expect("drift=> ")
                t.send("SELECT '%s';\r" % HANG)  # hangs in the worker
                time.sleep(0.3)
                t0 = time.monotonic()
                t.send("\x03")  # Ctrl-C stops waiting at once; the shell stays
                out = t.expect("drift=> ")
                self.assertIn("ERROR 57014: interrupted", out)
                self.assertLess(time.monotonic() - t0, 2.0)
                t.send("SELECT 6 AS six;\r")  # served by the other worker
                self.assertRegex(t.expect("drift=> "), r"six\s*\n-+\s*\n\s*6\s*\n\(1 row\)")
                t.send("\\q\r")
                self.assertEqual(t.wait(), 0)
            finally:
                t.kill()

    def test_ping(self):
        r = driftctl("-H", self.daemon.endpoint, "ping")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^driftdb \S+ at tcp://127\.0\.0\.1:\d+: commit seq \d+$")

    # -- the interactive shell -----------------------------------------------

    def test_interactive_shell_history_multiline(self):
        hist = os.path.join(self.tmp, "history")
        env = dict(os.environ, TERM="xterm", DRIFTCTL_HISTORY=hist, HOME=self.tmp)
        t = Pty(["-H", self.daemon.endpoint, "sql"], env)
        try:
            t.expect("drift=> ")
            t.send("SELECT\r")
            t.expect("drift-> ")  # continuation prompt: the statement is not complete
            t.send("  20 + 22\r")
            t.expect("drift-> ")
            t.send("  AS answer;\r")
            out = t.expect("drift=> ")
            self.assertRegex(out, r"answer\s*\n-+\s*\n\s*42\s*\n\(1 row\)")
            t.send("SELECT 'abandoned'\r")
            t.expect("drift-> ")
            t.send("\x03")  # Ctrl-C drops the unfinished statement, the shell stays
            t.expect("^C")
            t.expect("drift=> ")
            t.send("SELECT FROM;\r")
            out = t.expect("drift=> ")
            self.assertIn("ERROR 42601", out)  # an error does not end the shell
            t.send("\\timing\r")
            self.assertIn("Timing is on.", t.expect("drift=> "))
            t.send("SELECT 7 AS seven;\r")
            out = t.expect("drift=> ")
            self.assertRegex(out, r"Time: \d+\.\d{3} ms")
            t.send("\\x\r")
            self.assertIn("Expanded display is on.", t.expect("drift=> "))
            t.send("SELECT 8 AS eight;\r")
            self.assertRegex(t.expect("drift=> "), r"-\[ RECORD 1 \]-\s*\neight \| 8")
            t.send("\\?\r")
            self.assertIn("\\timing", t.expect("drift=> "))
            self.assertEqual(t.quit("\\q\r"), 0)
        finally:
            t.kill()
        with open(hist) as f:
            saved = f.read()
        # One entry per statement (the multi-line one joined), backslash commands too.
        for entry in ("SELECT", "20", "AS\\040answer", "SELECT\\0407\\040AS\\040seven;", "\\134timing"):
            self.assertIn(entry, saved)
        self.assertNotIn("abandoned", saved)  # the Ctrl-C'd statement never ran
        # A new shell reads the history: three arrow-ups recall the statement before "\q" and "\?".
        t = Pty(["-H", self.daemon.endpoint, "sql"], env)
        try:
            t.expect("drift=> ")
            t.send("\x1b[A\x1b[A\x1b[A\r")
            out = t.expect("(1 row)")
            self.assertRegex(out, r"eight\s*\n-+\s*\n\s*8\s*\n")
            t.expect("drift=> ")
            self.assertEqual(t.quit("\x04"), 0)  # Ctrl-D ends the shell too
        finally:
            t.kill()


if __name__ == "__main__":
    unittest.main()
