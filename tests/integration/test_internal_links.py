"""The internal links over AF_UNIX stream sockets (ipc/chan.h, docs/architecture.md "Internal links"):
the writer SIGKILLed while commits are in flight (every client gets an answer: ok or a clear 08006
saying the outcome is unknown; nothing waits for request_timeout; the next commits succeed over the
reconnected link), a query worker SIGKILLed mid-request (its dropped connection is the death notice),
and the sockets themselves (mode 0600)."""
import os
import signal
import stat
import threading
import time
import unittest

import driftdb
from driftharness import Daemon, wait_for
from protoutil import Raw, pack, wait_ping

HANG = "DRIFT_HANG_MARKER_LINKS"


class WriterKillTest(unittest.TestCase):
    def test_writer_killed_with_commits_in_flight(self):
        # request_timeout far above the test's duration: an answer that came from a timeout would show
        with Daemon(query_workers=2, config={"request_timeout": "120s"}) as d:
            wait_ping(d.endpoint)
            c0 = driftdb.connect(d.endpoint)
            c0.cursor().execute("CREATE TABLE t (id INTEGER PRIMARY KEY, c INTEGER, w INTEGER)")
            c0.close()
            writer0 = d.role_pids()["writer"][0]
            stop = threading.Event()
            killed = threading.Event()
            results = {}  # thread -> list of (phase, outcome)

            def client(k):
                out = results.setdefault(k, [])
                conn = driftdb.connect(d.endpoint, timeout=60.0)
                cur = conn.cursor()
                i = 0
                after_ok = 0
                while not stop.is_set() and after_ok < 20:
                    i += 1
                    phase = "after" if killed.is_set() else "before"
                    try:
                        cur.execute("INSERT INTO t VALUES ($1, $2, $3)", (k * 1000000 + i, i, k))
                        out.append((phase, "ok"))
                        if phase == "after" and d.role_pids().get("writer", [writer0])[0] != writer0:
                            after_ok += 1
                    except driftdb.Error as e:
                        out.append((phase, (e.sqlstate, str(e))))
                conn.close()

            threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
            for t in threads:
                t.start()
            wait_for(lambda: sum(len(v) for v in results.values()) >= 200, 30, what="commits flowing")
            os.kill(writer0, signal.SIGKILL)
            killed.set()
            for t in threads:
                t.join(90)
            stop.set()
            hung = [t for t in threads if t.is_alive()]
            self.assertEqual(hung, [], "clients still waiting for an answer")
            errors = [o for v in results.values() for (_, o) in v if o != "ok"]
            print("commits ok before/after the kill: %d/%d, errors: %d (%s)" % (
                sum(1 for v in results.values() for (p, o) in v if p == "before" and o == "ok"),
                sum(1 for v in results.values() for (p, o) in v if p == "after" and o == "ok"),
                len(errors), sorted(set(c for c, _ in errors))))
            # every error is the clear one: 08006, outcome unknown (or the writer refusing while it stops/restarts)
            for code, msg in errors:
                self.assertIn(code, ("08006", "57P01"), msg)
                if code == "08006":
                    self.assertIn("connection to the writer was lost", msg)
            # commits were in flight when it died (8 clients, group commit): some got the 08006
            self.assertGreater(len(errors), 0, "no commit was in flight when the writer died?")
            # the writer restarted and every client committed again over the reconnected link
            self.assertNotEqual(d.role_pids()["writer"][0], writer0)
            for k, v in results.items():
                self.assertGreaterEqual(sum(1 for (p, o) in v if p == "after" and o == "ok"), 20, (k, v[-5:]))
            # what was acknowledged is there (the unknown outcomes may or may not be)
            c = driftdb.connect(d.endpoint)
            cur = c.cursor()
            cur.execute("SELECT count(*) FROM t")
            n = cur.fetchone()[0]
            acked = sum(1 for v in results.values() for (_, o) in v if o == "ok")
            self.assertGreaterEqual(n, acked)
            self.assertLessEqual(n, acked + len(errors))
            c.close()
            self.assertIn("writer.chan", "".join(os.listdir(os.path.join(d.data_dir, "run"))))


class LinkTest(unittest.TestCase):
    def test_worker_killed_mid_request_seen_on_its_connection(self):
        with Daemon(query_workers=2, env={"DRIFT_FAULT": "query_hang:" + HANG},
                    config={"heartbeat_timeout": "60s", "request_timeout": "60s"}) as d:
            wait_ping(d.endpoint)
            time.sleep(0.3)
            run = os.path.join(d.data_dir, "run")
            for name in ("query.chan", "writer.chan"):
                st = os.stat(os.path.join(run, name))
                self.assertTrue(stat.S_ISSOCK(st.st_mode), name)
                self.assertEqual(st.st_mode & 0o777, 0o600, name)
            before = d.role_pids()["query"]
            c = Raw(d.endpoint, timeout_ms=10000)
            c.send(pack(id=1, op="query", sql="SELECT '%s'" % HANG))
            time.sleep(0.5)
            self.assertFalse(c.poll(0))
            for pid in before:
                os.kill(pid, signal.SIGKILL)
            r = c.recv()
            self.assertEqual((r["id"], r["ok"], r["error"]["code"]), (1, False, "08006"), r)
            # the gateway learnt it from the dropped connection (heartbeat_timeout is 60 s)
            self.assertIn("(connection closed", d.log())
            wait_for(lambda: len(d.role_pids().get("query", [])) == 2 and
                     not set(d.role_pids()["query"]) & set(before), 15, what="workers restarted")
            wait_ping(d.endpoint)
            self.assertEqual(c.call(id=2, op="query", sql="SELECT 2")["rows"], [[2]])
            c.close()

    def test_gateway_restart_workers_reconnect(self):
        with Daemon(query_workers=2) as d:
            wait_ping(d.endpoint)
            gw = d.role_pids()["gateway"][0]
            os.kill(gw, signal.SIGKILL)
            wait_for(lambda: d.role_pids().get("gateway", [gw])[0] != gw, 15, what="gateway restarted")
            wait_for(lambda: len(d.role_pids().get("gateway", [])) == 1, 15, what="gateway up")
            ngw = d.role_pids()["gateway"][0]
            wait_for(lambda: d.log().count("gateway[%d]: query worker" % ngw) >= 2, 15,
                     what="both workers to join the new gateway")
            wait_ping(d.endpoint)
            c = driftdb.connect(d.endpoint)
            cur = c.cursor()
            cur.execute("CREATE TABLE g (id INTEGER PRIMARY KEY)")
            cur.execute("INSERT INTO g VALUES (1)")
            cur.execute("SELECT id FROM g")
            self.assertEqual(cur.fetchall(), [(1,)])
            c.close()


if __name__ == "__main__":
    unittest.main()
