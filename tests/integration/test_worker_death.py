"""Worker failure: a query worker killed mid-request, a hung worker and a request over
request_timeout all give the client an error reply in bounded time; workers come back."""
import os
import signal
import time
import unittest

import zmq

from driftharness import Daemon, pid_alive, wait_for
from protoutil import Raw, pack, wait_ping

HANG = "DRIFT_HANG_MARKER"


class WorkerDeathTest(unittest.TestCase):
    def test_killed_mid_request(self):
        with Daemon(query_workers=2, env={"DRIFT_FAULT": "query_hang:" + HANG},
                    config={"heartbeat_timeout": "20s", "request_timeout": "60s"}) as d:
            wait_ping(d.endpoint)
            time.sleep(0.3)
            before = d.role_pids()["query"]
            c = Raw(d.endpoint, timeout_ms=10000)
            c.send(pack(id=1, op="query", sql="SELECT '%s'" % HANG))
            time.sleep(0.5)  # the worker is now blocked inside the request
            self.assertFalse(c.poll(0))
            # other requests still flow through the other worker
            other = Raw(d.endpoint, timeout_ms=5000)
            self.assertTrue(other.call(id=2, op="query", sql="SELECT 2")["ok"])
            t0 = time.monotonic()
            for pid in before:
                os.kill(pid, signal.SIGKILL)
            r = c.recv()
            elapsed = time.monotonic() - t0
            self.assertEqual((r["id"], r["ok"], r["error"]["code"]), (1, False, "08006"), r)
            self.assertLess(elapsed, 2.0, "error reply took %.2fs" % elapsed)
            # the supervisor restarts the workers and service resumes
            wait_for(lambda: len(d.role_pids().get("query", [])) == 2 and
                     not set(d.role_pids()["query"]) & set(before), 15, what="workers restarted")
            wait_ping(d.endpoint)
            self.assertEqual(c.call(id=3, op="query", sql="SELECT 3")["rows"], [[3]])
            c.close()
            other.close()

    def test_open_transaction_aborted_when_worker_dies(self):
        with Daemon(query_workers=2, env={"DRIFT_FAULT": "query_hang:" + HANG},
                    config={"heartbeat_timeout": "20s"}) as d:
            wait_ping(d.endpoint)
            time.sleep(0.3)
            pids = d.role_pids()["query"]
            c = Raw(d.endpoint, timeout_ms=10000)
            self.assertEqual(c.call(id=1, op="query", sql="BEGIN")["txn"], "open")
            # idle in the transaction when its worker dies: the next query is told
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            wait_for(lambda: d.log().count("is gone") >= 2, 5, what="gateway to notice the deaths")
            wait_ping(d.endpoint)
            r = c.call(id=2, op="query", sql="SELECT 1")
            self.assertEqual((r["ok"], r["error"]["code"], r["txn"]), (False, "08006", "aborted"), r)
            r = c.call(id=3, op="query", sql="SELECT 3")
            self.assertEqual((r["rows"], r["txn"]), ([[3]], "idle"))
            # in flight inside a transaction: the error reply itself says aborted
            self.assertEqual(c.call(id=4, op="query", sql="BEGIN")["txn"], "open")
            c.send(pack(id=5, op="query", sql="SELECT '%s'" % HANG))
            time.sleep(0.5)
            for pid in d.role_pids()["query"]:
                os.kill(pid, signal.SIGKILL)
            r = c.recv()
            self.assertEqual((r["id"], r["error"]["code"], r["txn"]), (5, "08006", "aborted"), r)
            # a request sent before the gateway noticed the other death would (rightly) get 08006 too
            wait_for(lambda: d.log().count("is gone") >= 4, 5, what="gateway to notice the deaths")
            wait_ping(d.endpoint)
            r = c.call(id=6, op="query", sql="SELECT 6")
            self.assertEqual((r.get("rows"), r.get("txn")), ([[6]], "idle"), r)
            c.close()

    def test_gateway_restart_does_not_leak_sessions(self):
        with Daemon(query_workers=1) as d:
            wait_ping(d.endpoint)
            a = Raw(d.endpoint, timeout_ms=5000)
            self.assertEqual(a.call(id=1, op="query", sql="BEGIN")["txn"], "open")
            gw = d.role_pids()["gateway"][0]
            os.kill(gw, signal.SIGKILL)
            wait_for(lambda: d.role_pids().get("gateway", [gw]) != [gw], 10, what="gateway restarted")
            # a new client (the new gateway's first session) must not inherit the old client's
            # transaction on the worker; its request waits until the worker has said hello
            b = Raw(d.endpoint, timeout_ms=10000)
            r = b.call(id=2, op="query", sql="SELECT 1")
            self.assertEqual((r["ok"], r["txn"]), (True, "idle"), r)
            wait_for(lambda: "the gateway restarted: ended 1 session(s)" in d.log(), 5,
                     what="the worker to drop the old gateway's sessions")
            a.close()
            b.close()

    def test_hung_worker_is_replaced(self):
        with Daemon(query_workers=1, env={"DRIFT_FAULT": "query_hang:" + HANG},
                    config={"heartbeat_timeout": "1s", "request_timeout": "60s"}) as d:
            wait_ping(d.endpoint)
            before = d.role_pids()["query"]
            c = Raw(d.endpoint, timeout_ms=10000)
            t0 = time.monotonic()
            r = c.call(id=7, op="query", sql="SELECT '%s'" % HANG)
            elapsed = time.monotonic() - t0
            self.assertEqual((r["id"], r["error"]["code"]), (7, "08006"), r)
            self.assertLess(elapsed, 4.0, "hung worker noticed after %.2fs" % elapsed)
            wait_for(lambda: not any(pid_alive(p) for p in before), 5, what="hung worker killed")
            wait_ping(d.endpoint)
            self.assertNotEqual(d.role_pids()["query"], before)
            c.close()

    def test_request_timeout(self):
        with Daemon(query_workers=1, env={"DRIFT_FAULT": "query_hang:" + HANG},
                    config={"heartbeat_timeout": "20s", "request_timeout": "400ms"}) as d:
            wait_ping(d.endpoint)
            c = Raw(d.endpoint, timeout_ms=10000)
            t0 = time.monotonic()
            r = c.call(id=8, op="query", sql="SELECT '%s'" % HANG)
            elapsed = time.monotonic() - t0
            self.assertEqual((r["id"], r["error"]["code"]), (8, "57014"), r)
            self.assertGreaterEqual(elapsed, 0.35)
            self.assertLess(elapsed, 2.0)
            c.close()

    def test_req_socket_gets_error_too(self):
        with Daemon(query_workers=1, env={"DRIFT_FAULT": "query_hang:" + HANG},
                    config={"heartbeat_timeout": "20s"}) as d:
            wait_ping(d.endpoint)
            pid = d.role_pids()["query"][0]
            c = Raw(d.endpoint, zmq.REQ, timeout_ms=10000)
            c.send(pack(id=9, op="query", sql="SELECT '%s'" % HANG))
            time.sleep(0.3)
            os.kill(pid, signal.SIGKILL)
            r = c.recv()
            self.assertEqual((r["id"], r["error"]["code"]), (9, "08006"))
            wait_ping(d.endpoint)
            self.assertTrue(c.call(id=10, op="ping")["ok"])
            c.close()


if __name__ == "__main__":
    unittest.main()
