"""Group-commit gathering in the writer (commit_gather, docs/storage.md "Group commit").

Against the real daemon, with counts rather than timings (the bound is made
generous, 50 ms, and where a count depends on sessions being in step the disk
is made slow with the writer's test hook DRIFT_FAULT=sync_delay:20, so that the
sessions' round trips are far shorter than an fdatasync on any machine):
- K concurrent closed-loop sessions share fdatasyncs: straight on the writer
  socket (one DEALER per session) and through SQL (K client connections on ONE
  query worker: the writer sees one link and tells the sessions apart by the
  commit request's "session" field), fdatasyncs per commit stay at most 1.5/K
  where two cohorts alternating give about 2/K (checked with gathering off);
- a lone session is never held back: zero gather waits, one fdatasync per commit;
- a session that stops committing is waited for at most once, not on every
  batch of the session still going;
- commit_gather = 0 turns it off: no waits at all;
- nothing acknowledged is lost or reordered: every reply's seq is durable
  (commit_seq in the control block) when it arrives, each session's seqs
  increase, and after kill -9 the restarted writer holds every acknowledged seq."""
import os
import threading
import time
import unittest

import msgpack
import zmq

import driftdb
import driftharness as H
from test_writer import Writer, control, ins

K = 8
GATHER = {"commit_gather": "50ms"}
# A slow disk (the writer's test hook: 20 ms after each fdatasync): the sessions' round trips are then far shorter
# than an fdatasync, the case gathering is for, and the counts below do not depend on this machine's disk or load.
SLOW = {"DRIFT_FAULT": "sync_delay:20"}


def counts(d):
    m = d.metrics()
    out = {}
    for k in ("fdatasyncs", "commits", "gather_waits", "gather_timeouts"):
        v = [x for (n, _), x in m.items() if n == "driftdb_writer_" + k + "_total"]
        assert v, "no driftdb_writer_%s_total in /metrics" % k
        out[k] = sum(v)
    return out


def delta(a, b):
    d = {k: b[k] - a[k] for k in a}
    if os.environ.get("GATHER_VERBOSE"):
        print(d)
    return d


def run_sessions(d, k, n, tag, warm=3, check_durable=False):
    """k threads, each a DEALER on the writer socket committing warm inserts and then (after a barrier) n more in
    a closed loop. Returns ({thread: [seq of the n, ...]}, counts(d) delta over the n); raises on any refused or
    missing reply."""
    bar = threading.Barrier(k + 1)
    out, errs = {}, []

    def body(i):
        w = Writer(d.data_dir, zmq.Context.instance())
        try:
            snap = w.ping()["seq"]
            seqs = []
            for j in range(warm + n):
                if j == warm:
                    bar.wait()  # the main thread reads the counters
                    bar.wait()
                    seqs = []
                r = w.commit([ins(("%s-%d-%d" % (tag, i, j)).encode())], snapshot=snap, timeout=30)
                if r is None or not r.get("ok"):
                    errs.append(r)
                    bar.abort()
                    return
                if check_durable and control(d.data_dir)[1] < r["seq"]:
                    errs.append(("acknowledged before durable", r["seq"], control(d.data_dir)[1]))
                seqs.append(r["seq"])
            out[i] = seqs
        finally:
            w.close()

    ts = [threading.Thread(target=body, args=(i,)) for i in range(k)]
    for t in ts:
        t.start()
    try:
        bar.wait()
        c0 = counts(d)
        bar.wait()
    except threading.BrokenBarrierError:
        pass
    for t in ts:
        t.join()
    if errs:
        raise AssertionError(errs[:3])
    return out, delta(c0, counts(d))


class GroupCommitTest(unittest.TestCase):
    def test_concurrent_sessions_share_fdatasyncs(self):
        with H.Daemon(query_workers=1, config=GATHER, env=SLOW) as d:
            seqs, c = run_sessions(d, K, 30, "c", check_durable=True)
            self.assertEqual(c["commits"], K * 30, c)
            # each session's acknowledged seqs increase, and all are distinct
            for s in seqs.values():
                self.assertEqual(s, sorted(s))
            allseqs = [x for s in seqs.values() for x in s]
            self.assertEqual(len(set(allseqs)), len(allseqs))
            # two cohorts alternating: 2/K; everyone in each: 1/K (+ a few batches that went at the bound)
            self.assertLessEqual(c["fdatasyncs"] / c["commits"], 1.5 / K, c)
            self.assertGreater(c["gather_waits"], 0, c)
            # nothing acknowledged is lost: kill -9 everything, restart, the log holds every acknowledged seq
            d.crash_restart(timeout=60)
            w = Writer(d.data_dir)
            try:
                self.assertGreaterEqual(w.ping()["seq"], max(allseqs))
            finally:
                w.close()

    def test_sql_sessions_on_one_worker_share_fdatasyncs(self):
        n = 6
        with H.Daemon(query_workers=1, config=GATHER, env=SLOW) as d:
            conns = [driftdb.connect(d.endpoint) for _ in range(n)]
            try:
                conns[0].cursor().execute("CREATE TABLE g (id INTEGER PRIMARY KEY, v TEXT)")
                bar = threading.Barrier(n)
                errs = []

                def body(i, rows, base):
                    try:
                        cur = conns[i].cursor()
                        bar.wait()
                        for j in range(rows):
                            cur.execute("INSERT INTO g VALUES (?, ?)", (base + i * 1000 + j, "x"))
                    except Exception as e:  # noqa: BLE001 - reported below
                        errs.append(e)

                def round_(rows, base):
                    ts = [threading.Thread(target=body, args=(i, rows, base)) for i in range(n)]
                    for t in ts:
                        t.start()
                    for t in ts:
                        t.join()
                    self.assertEqual(errs, [])

                round_(3, 0)
                c0 = counts(d)
                round_(25, 100000)
                c = delta(c0, counts(d))
                self.assertEqual(c["commits"], n * 25, c)
                self.assertLessEqual(c["fdatasyncs"] / c["commits"], 1.5 / n, c)
                cur = conns[0].cursor()
                cur.execute("SELECT count(*) FROM g")
                self.assertEqual(cur.fetchall()[0][0], n * 28)
            finally:
                for c in conns:
                    c.close()

    def test_lone_session_never_waits(self):
        with H.Daemon(query_workers=1, config=GATHER) as d:
            _, c = run_sessions(d, 1, 30, "lone", warm=0)
            self.assertEqual(c["commits"], 30, c)
            self.assertEqual(c["gather_waits"], 0, c)
            self.assertEqual(c["gather_timeouts"], 0, c)
            self.assertGreaterEqual(c["fdatasyncs"], 30, c)  # one each: nothing to share
            # the same through SQL, once that first session is overdue (it would be waited for once if it had
            # just stopped: test_idle_session_is_not_waited_for)
            time.sleep(0.2)
            c0 = counts(d)
            conn = driftdb.connect(d.endpoint)
            try:
                cur = conn.cursor()
                cur.execute("CREATE TABLE l (id INTEGER PRIMARY KEY)")
                for i in range(20):
                    cur.execute("INSERT INTO l VALUES (?)", (i,))
            finally:
                conn.close()
            c = delta(c0, counts(d))
            self.assertEqual(c["commits"], 21, c)
            self.assertEqual(c["gather_waits"], 0, c)
            self.assertEqual(c["gather_timeouts"], 0, c)
            self.assertGreaterEqual(c["fdatasyncs"], 21, c)

    def test_idle_session_is_not_waited_for(self):
        with H.Daemon(query_workers=1, config=GATHER) as d:
            # two sessions in step; then one stops (stays connected) and the other goes on alone
            ctx = zmq.Context.instance()
            a, b = Writer(d.data_dir, ctx), Writer(d.data_dir, ctx)
            try:
                snap = a.ping()["seq"]
                b.ping()
                for j in range(20):  # both in every round: each is expected by the other's batches
                    for w, nm in ((a, b"a"), (b, b"b")):
                        w.s.send(msgpack.packb({"id": j, "op": "commit", "snapshot": snap,
                                                "ops": [ins(nm + b"%d" % j)]}))
                    for w in (a, b):
                        self.assertTrue(w.s.poll(30000))
                        self.assertTrue(msgpack.unpackb(w.s.recv())["ok"])
                c0 = counts(d)
                for j in range(30):
                    r = a.commit([ins(b"alone%d" % j)], snapshot=snap, timeout=30)
                    self.assertTrue(r["ok"], r)
                c = delta(c0, counts(d))
                self.assertEqual(c["commits"], 30, c)
                # b is waited for once at most (it was due right after its last reply), never again
                self.assertLessEqual(c["gather_timeouts"], 1, c)
                self.assertLessEqual(c["gather_waits"], 1, c)
            finally:
                a.close()
                b.close()

    def test_gather_off(self):
        with H.Daemon(query_workers=1, config={"commit_gather": "0"}, env=SLOW) as d:
            _, c = run_sessions(d, K, 10, "off", check_durable=True)
            self.assertEqual(c["commits"], K * 10, c)
            self.assertGreater(c["fdatasyncs"] / c["commits"], 1.5 / K, c)  # the cohorts alternate
            self.assertEqual(c["gather_waits"], 0, c)
            self.assertEqual(c["gather_timeouts"], 0, c)
            self.assertIn("commit_gather 0 us", d.log())


if __name__ == "__main__":
    unittest.main()
