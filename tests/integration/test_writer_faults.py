"""Fault injection for the writer (issue 3), on the real daemon:
- fdatasync failing with EIO (strace -e inject=fdatasync:error=EIO attached to
  the running writer): the batch is never acknowledged, the writer exits with
  the restart code, the supervisor restarts it, recovery re-reads the disk and
  the log verifies;
- disk full (a 4 MiB tmpfs with small segments, filled by a filler file): the
  commits that need a new segment get 53100, the writer does not crash, and
  writing resumes by itself once space is freed."""
import errno
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import driftharness as H
from test_writer import Writer, control, ins, logcheck, writer_pid


def traced(pid):
    """True when every thread of pid has a tracer attached."""
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/status" % (pid, t)) as f:
                if "TracerPid:\t0\n" in f.read():
                    return False
        return True
    except OSError:
        return False


class FdatasyncEIO(unittest.TestCase):
    @unittest.skipUnless(shutil.which("strace"), "strace is not installed")
    def test_eio_never_acknowledged(self):
        with H.Daemon(query_workers=1) as d:
            w = Writer(d.data_dir)
            for i in range(5):
                self.assertTrue(w.commit([ins(b"before%d" % i)])["ok"])
            pid = writer_pid(d)
            out = os.path.join(d.tmp, "strace.out")
            st = subprocess.Popen(["strace", "-f", "-qq", "-p", str(pid), "-e", "trace=fdatasync", "-e",
                                   "inject=fdatasync:error=EIO:when=1", "-o", out],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                H.wait_for(lambda: traced(pid) or st.poll() is not None, 10, what="strace attached")
                if st.poll() is not None:
                    self.skipTest("strace cannot attach here (ptrace not permitted?)")
                r = w.commit([ins(b"doomed")], snapshot=0, timeout=3.0)
                # Never "ok": either no reply at all or an error.
                self.assertTrue(r is None or not r["ok"], r)
                H.wait_for(lambda: writer_pid(d) not in (None, pid), 20, what="writer restarted after EIO")
            finally:
                st.wait(20)
            with open(out) as f:
                self.assertIn("EIO (Input/output error) (INJECTED)", f.read())
            log = d.log()
            self.assertRegex(log, r"fdatasync failed on segment .* Input/output error; the batch is not acknowledged")
            self.assertRegex(log, r"writer died \(exit code 1\)|writer .*exit.* 1")
            H.wait_for(lambda: w.ping(1.0), 20, what="restarted writer answers")
            # Writing works again and the log verifies end to end.
            r2 = w.commit([ins(b"after")])
            self.assertTrue(r2["ok"], r2)
            rc, lines = logcheck(d.data_dir)
            self.assertEqual(rc, 0, lines[-1:])
            w.close()


class DiskFull(unittest.TestCase):
    def setUp(self):
        self.mnt = tempfile.mkdtemp(prefix="drift-full-")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", self.mnt],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            os.rmdir(self.mnt)
            self.skipTest("cannot mount a tmpfs here (needs root): %s" % r.stdout.decode().strip())

    def tearDown(self):
        subprocess.run(["umount", "-l", self.mnt])
        os.rmdir(self.mnt)

    def test_enospc_53100_and_resume(self):
        data = os.path.join(self.mnt, "data")
        with H.Daemon(data_dir=data, query_workers=1, config={"segment_size": "256KB"}) as d:
            w = Writer(data)
            pad = "p" * 2000
            n = 0

            def commit():
                nonlocal n
                n += 1
                return w.commit([ins(b"k%d" % n, {"pad": pad})], snapshot=0)

            for _ in range(40):
                self.assertTrue(commit()["ok"])
            pid = writer_pid(d)
            # Fill the file system.
            filler = os.path.join(self.mnt, "filler")
            with open(filler, "wb") as f:
                try:
                    while True:
                        f.write(b"\1" * 65536)
                        f.flush()
                except OSError as e:
                    self.assertEqual(e.errno, errno.ENOSPC)
            acked_before = []
            full = None
            for _ in range(1000):
                r = commit()
                if r["ok"]:
                    acked_before.append(r["seq"])
                    continue
                full = r
                break
            self.assertIsNotNone(full, "never ran out of space")
            self.assertEqual(full["error"]["code"], "53100", full)
            self.assertIn("disk full", full["error"]["message"])
            self.assertEqual(writer_pid(d), pid, "the writer crashed on a full disk")
            self.assertEqual(control(data)[6], 1)  # writer_state = DRIFT_WSTATE_DISK_FULL
            self.assertEqual(commit()["error"]["code"], "53100")  # stays a clean error
            self.assertTrue(w.ping()["ok"])
            # Free the space: writing resumes by itself.
            os.unlink(filler)
            H.wait_for(lambda: commit()["ok"], 10, interval=0.2, what="commits accepted again after space returned")
            for _ in range(200):  # through at least one more rotation
                self.assertTrue(commit()["ok"])
            self.assertEqual(writer_pid(d), pid)
            self.assertEqual(control(data)[6], 0)
            self.assertIn("disk space is back", d.log())
            rc, lines = logcheck(data)
            self.assertEqual(rc, 0, lines[-1:])
            present = {int(l.split()[1]) for l in lines if l.startswith("F ")}
            self.assertTrue(set(acked_before) <= present)
            w.close()


if __name__ == "__main__":
    unittest.main()
