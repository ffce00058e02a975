"""The indexer catching up a large backlog (here: rebuilding its index from
a log of 3 000 000 row versions after the index was deleted) must keep its
heartbeat going between batches: the supervisor must not take it for hung and
kill it.

Regression tests:
- batches re-armed with event_active() ran in one libevent pass and starved
  the heartbeat timer (a quiet rebuild);
- every writer announcement on the SUB socket ran a batch inside the socket
  watcher's loop (ipc/zwatch.c), up to 512 of them before the loop could run
  a timer, so under a steady commit stream the supervisor killed the indexer
  as hung, again and again (a rebuild while commits keep arriving; the same
  happened at the writer's peak rate, bench/index/run.py --lag-only)."""
import os
import shutil
import threading
import time
import unittest

from driftharness import Daemon, wait_for
from test_writer import Writer, ins

BACKLOG_COMMITS = 3000
BACKLOG_ROWS = 1000  # a frame


def value(m, name, **labels):
    return m.get((name, frozenset(labels.items())))


class CatchUpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cfg = {"heartbeat_interval": "20ms", "heartbeat_timeout": "500ms", "index_lag_max": "0"}
        cls.d = Daemon(query_workers=1, config=cfg)
        try:
            cls.d.start()
            w = Writer(cls.d.data_dir)
            try:
                for c in range(BACKLOG_COMMITS):
                    r = w.commit([ins(b"c%05dr%04d" % (c, k), [c, k]) for k in range(BACKLOG_ROWS)], snapshot=0)
                    assert r["ok"], r
            finally:
                w.close()
            assert cls.d.stop() == 0
        except BaseException:
            cls.d.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.d.close()

    def restart_without_index(self):
        """Starts the daemon on the log with the index deleted; returns the log's length before."""
        d = self.d
        shutil.rmtree(os.path.join(d.data_dir, "index"))
        d.notify_msgs.clear()
        mark = len(d.log())
        d.start()
        return mark

    def check_not_killed(self, mark):
        d = self.d
        log = d.log()[mark:]
        m = d.metrics()
        self.assertEqual(value(m, "driftdb_role_restarts_total", role="indexer", instance="0"), 0, log[-3000:])
        self.assertNotIn("missed its heartbeat", log)
        self.assertGreater(value(m, "driftdb_indexer_batches_total", instance="0"), 1)  # really in batches

    def test_rebuild_keeps_heartbeat(self):
        mark = self.restart_without_index()
        d = self.d
        try:
            total = value(d.metrics(), "driftdb_commit_seq")
            self.assertGreaterEqual(total, BACKLOG_COMMITS)
            wait_for(lambda: value(d.metrics(), "driftdb_indexed_seq") == total, 120, what="index rebuilt")
            self.check_not_killed(mark)
        finally:
            self.assertEqual(d.stop(), 0)

    def test_rebuild_under_a_commit_stream_keeps_heartbeat(self):
        mark = self.restart_without_index()
        d = self.d
        stop = threading.Event()
        done = []

        def stream():
            # one small commit after another while the indexer rebuilds: announcements reach its
            # SUB socket during every batch
            w = Writer(d.data_dir)
            try:
                n = 0
                while not stop.is_set():
                    r = w.commit([ins(b"s%07d" % n, [n])], snapshot=0)
                    if not r["ok"]:
                        done.append(r)
                        return
                    n += 1
                done.append(n)
            except Exception as e:  # reported by the main thread
                done.append(e)
            finally:
                w.close()

        try:
            backlog = value(d.metrics(), "driftdb_commit_seq")
            t = threading.Thread(target=stream)
            t.start()
            try:
                wait_for(lambda: value(d.metrics(), "driftdb_indexed_seq") >= backlog, 120, what="backlog indexed")
                time.sleep(0.5)  # and some of the stream beyond it
            finally:
                stop.set()
                t.join(30)
            self.assertEqual(len(done), 1, done)
            self.assertIsInstance(done[0], int, done)
            self.assertGreater(done[0], 50)  # the stream really ran
            wait_for(lambda: value(d.metrics(), "driftdb_indexed_seq") == value(d.metrics(), "driftdb_commit_seq"),
                     60, what="stream indexed")
            self.check_not_killed(mark)
        finally:
            self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
