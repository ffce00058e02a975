"""Index flow control (index_stall, docs/indexes.md "Flow control") against the real daemon: while the
oldest commit the indexer has not applied is older than index_stall / 2 and the indexer is advancing, the
writer holds new commits back until the indexer has caught up, each at most index_stall, letting one op through
for every two ops the indexer applies (so a long catch-up paces writes instead of stopping them); an
indexer that does not advance at all holds nothing back; index_stall = 0 turns it off. A slow indexer is made
with SIGSTOP / SIGCONT on the real indexer process, a long catch-up with DRIFT_FAULT=index_slow. Clients talk
straight to the writer endpoint."""
import contextlib
import os
import signal
import time
import unittest

import msgpack

import driftharness as H
from test_indexer import TABLE, Client, metric, pk, table_def, wait_indexed

STALLS = "driftdb_writer_index_stalls_total"
STALL_MS = "driftdb_writer_index_stall_milliseconds_total"
BOUND = "driftdb_writer_index_stall_bound_total"


def writer_metric(d, name):
    return d.metrics()[(name, frozenset({("instance", "0")}))]


def insert(i):
    return [{"op": "insert", "table": TABLE, "key": pk(i), "row": [i, "n%d" % i, i]}]


class FlowTest(unittest.TestCase):
    def start(self, d):
        """A table, indexed; returns the client and the indexer's pid."""
        c = Client(d.data_dir)
        c.commit([{"op": "ddl", "table": TABLE, "row": {"ddl": "create_table", "def": table_def(1)}}])
        wait_indexed(d)
        return c, d.role_pids()["indexer"][0]

    def send(self, c, i):
        """Sends an insert of key i without waiting for the answer."""
        c.n += 1
        c.s.send(msgpack.packb({"id": c.n, "snapshot": c.seq(), "ops": insert(i)}, use_bin_type=True))

    def answer(self, c, timeout, ok=True):
        """The answer to the last request sent (checked to be a success, or with ok=False a failure), or None if
        none came within timeout seconds."""
        if not c.s.poll(int(timeout * 1000)):
            return None
        r = msgpack.unpackb(c.s.recv(), raw=False)
        self.assertEqual(r["ok"], ok, r)
        return r

    @contextlib.contextmanager
    def lagging(self, stall, secs, env=None, **config):
        """A daemon with index_stall = stall and a table; the indexer is stopped, key 1 committed (answered at
        once: nothing waits yet) and left unindexed for secs. Yields (daemon, client, indexer pid); the
        indexer runs again (SIGCONT) on the way out, and catches up."""
        with H.Daemon(query_workers=1, env=env,
                      config=dict(config, index_stall=stall, heartbeat_timeout="30s")) as d:
            c, pid = self.start(d)
            os.kill(pid, signal.SIGSTOP)
            try:
                c.commit(insert(1))
                time.sleep(secs)
                yield d, c, pid
            finally:
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass  # (a test that restarted the daemon)
            wait_indexed(d)
            c.close()

    def test_commits_wait_for_a_lagging_indexer(self):
        # key 1 unindexed for 1.3 s: more than index_stall / 2 of a 2 s bound
        with self.lagging("2s", 1.3) as (d, c, pid):
            self.send(c, 2)
            self.assertIsNone(self.answer(c, 0.3),
                              "a commit was answered while the indexer lagged by more than index_stall / 2")
            # another client's ping queues behind the held commit (arrival order)
            c2 = Client(d.data_dir)
            c2.n += 1
            c2.s.send(msgpack.packb({"id": c2.n, "op": "ping"}, use_bin_type=True))
            self.assertIsNone(self.answer(c2, 0.3), "a ping overtook the held commit")
            # the indexer runs again: it catches up, and the held commit goes through, then the ping
            os.kill(pid, signal.SIGCONT)
            self.assertIsNotNone(self.answer(c, 10), "the held commit was never answered")
            self.assertIsNotNone(self.answer(c2, 10), "the ping behind the held commit was never answered")
            c2.close()
            self.assertEqual(writer_metric(d, STALLS), 1)
            wait_indexed(d)
            c.commit(insert(3))  # nothing waits: at once (the episode ended)
            H.wait_for(lambda: writer_metric(d, STALL_MS) > 0, 5, what="the episode's length in the metrics")

    def test_flow_control_off(self):
        with self.lagging("0", 1.3) as (d, c, pid):
            self.send(c, 2)
            self.assertIsNotNone(self.answer(c, 10), "with index_stall = 0 a commit waited for the stopped indexer")
            self.assertEqual(writer_metric(d, STALLS), 0)

    def test_a_commit_waits_at_most_index_stall(self):
        with self.lagging("2s", 1.3) as (d, c, pid):
            self.send(c, 2)
            # the indexer stays stopped: the commit goes through once it has waited index_stall
            r = self.answer(c, 10)
            self.assertIsNotNone(r, "a held commit waited longer than index_stall")
            self.assertEqual(writer_metric(d, STALLS), 1)
            self.assertEqual(writer_metric(d, BOUND), 1)  # through at the bound: the stopped indexer paced nothing
            self.assertLess(metric(d, "driftdb_indexed_seq"), r["seq"])

    def test_a_long_catch_up_paces_commits_instead_of_stopping_them(self):
        # The indexer stopped for 1.2 s (no longer advancing: nothing is held), then 4 000 commits pipelined in:
        # with batches of 10 frames 10 ms apart it needs ~4 s to apply them. Commits sent during that catch-up
        # are held (an episode starts) but go at half its pace, none waiting its whole index_stall. Before the
        # pacing each waited the whole 500 ms until the backlog was gone.
        env = dict(os.environ, DRIFT_FAULT="index_slow:10")
        with self.lagging("500ms", 1.2, env=env) as (d, c, pid):
            snap = c.seq()
            for i in range(10, 4010):
                c.n += 1
                c.s.send(msgpack.packb({"id": c.n, "snapshot": snap, "ops": insert(i)}, use_bin_type=True))
            backlog_end = 0
            for _ in range(4000):
                r = self.answer(c, 30)
                self.assertIsNotNone(r, "a pipelined commit got no answer")
                backlog_end = max(backlog_end, r["seq"])
            self.assertEqual(writer_metric(d, STALLS), 0)  # a stopped indexer holds nothing back
            bound0 = writer_metric(d, BOUND)
            os.kill(pid, signal.SIGCONT)
            H.wait_for(lambda: metric(d, "driftdb_indexed_seq") > 2, 10, what="the indexer advancing")
            time.sleep(0.5)  # the oldest unapplied commit is now older than index_stall / 2
            for i in range(5000, 5030):
                c.commit(insert(i))
            indexed = metric(d, "driftdb_indexed_seq")
            self.assertGreaterEqual(writer_metric(d, STALLS), 1)  # the flow control was holding ...
            self.assertEqual(writer_metric(d, BOUND), bound0)  # ... and paced every commit: none waited 500 ms
            self.assertLess(indexed, backlog_end, "the catch-up was over before the 30 commits: nothing shown")

    def test_the_pace_counts_ops_not_commits(self):
        # A backlog of 20 commits of 500 rows, applied one frame every 300 ms: ~3 commits (1 700 ops) a second.
        # Single-row commits sent meanwhile go at half of that in ops (~850/s): none waits its whole
        # index_stall. Paced in commits (~1.7/s) each would wait ~600 ms and go at the bound.
        env = dict(os.environ, DRIFT_FAULT="index_slow:1:300")
        with self.lagging("500ms", 1.2, env=env) as (d, c, pid):
            snap = c.seq()
            for b in range(20):
                c.n += 1
                ops = [insert(10 + 500 * b + j)[0] for j in range(500)]
                c.s.send(msgpack.packb({"id": c.n, "snapshot": snap, "ops": ops}, use_bin_type=True))
            backlog_end = 0
            for _ in range(20):
                r = self.answer(c, 30)
                self.assertIsNotNone(r, "a pipelined commit got no answer")
                backlog_end = max(backlog_end, r["seq"])
            bound0 = writer_metric(d, BOUND)
            os.kill(pid, signal.SIGCONT)
            H.wait_for(lambda: metric(d, "driftdb_indexed_seq") > 2, 10, what="the indexer advancing")
            time.sleep(0.5)  # the oldest unapplied commit is now older than index_stall / 2
            for i in range(20000, 20010):
                c.commit(insert(i))
            indexed = metric(d, "driftdb_indexed_seq")
            self.assertGreaterEqual(writer_metric(d, STALLS), 1)
            self.assertEqual(writer_metric(d, BOUND), bound0)
            self.assertLess(indexed, backlog_end, "the catch-up was over before the 10 commits: nothing shown")

    def test_an_indexer_that_does_not_advance_holds_nothing(self):
        # index_stall 300 ms: an indexer that has not advanced for 1 s (the least such bound) is stuck or
        # gone (the supervisor's heartbeat deals with it); holding writes back would not help it
        with self.lagging("300ms", 1.5) as (d, c, pid):
            for i in range(2, 7):
                c.commit(insert(i))
            self.assertEqual(writer_metric(d, STALLS), 0)

    def test_a_held_commit_is_refused_at_shutdown_and_not_written(self):
        with self.lagging("2s", 1.3, shutdown_grace="1s") as (d, c, pid):
            self.send(c, 2)
            self.assertIsNone(self.answer(c, 0.3), "the commit was not held")
            d.stop()
            r = self.answer(c, 10, ok=False)
            self.assertIsNotNone(r, "the held commit got no answer at shutdown")
            self.assertEqual(r["error"]["code"], "57P01", r)
            d.start()
            # key 1 (acknowledged) is in the log, key 2 (refused) is not
            r = c.req({"snapshot": c.seq(), "ops": insert(1)})
            self.assertFalse(r["ok"], r)
            self.assertEqual(r["error"]["code"], "23505", r)
            c.commit(insert(2))


if __name__ == "__main__":
    unittest.main()
