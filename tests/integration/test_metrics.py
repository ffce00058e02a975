"""/metrics against real work: commits sent to the writer show up, with the
same numbers, in the commit position, the writer's and the indexer's counters;
the gateway's admission counters are exported. Nothing here is a constant."""
import time
import unittest

from driftharness import Daemon, wait_for
from test_writer import Writer, ins


def value(m, name, **labels):
    return m.get((name, frozenset(labels.items())))


class MetricsTest(unittest.TestCase):
    def test_writer_and_indexer_counters(self):
        with Daemon(query_workers=1) as d:
            m0 = d.metrics()
            self.assertEqual(value(m0, "driftdb_commit_seq"), 0)
            self.assertEqual(value(m0, "driftdb_writer_commits_total", instance="0"), 0)
            self.assertEqual(value(m0, "driftdb_writer_state"), 0)
            w = Writer(d.data_dir)
            try:
                for k in range(5):
                    r = w.commit([ins(b"k%d" % k), ins(b"j%d" % k)])
                    self.assertTrue(r["ok"], r)
                dup = w.commit([ins(b"k0")])
                self.assertFalse(dup["ok"])
                self.assertEqual(dup["error"]["code"], "23505")
            finally:
                w.close()
            wait_for(lambda: value(d.metrics(), "driftdb_indexed_seq") == 5, 10, what="indexer to catch up")
            m = d.metrics()
            self.assertEqual(value(m, "driftdb_commit_seq"), 5)
            self.assertEqual(value(m, "driftdb_writer_commits_total", instance="0"), 5)
            self.assertEqual(value(m, "driftdb_writer_conflicts_total", instance="0"), 1)
            syncs = value(m, "driftdb_writer_fdatasyncs_total", instance="0")
            self.assertTrue(1 <= syncs <= 5 + 2, syncs)  # durability = sync: at least one per acknowledged group
            self.assertGreater(value(m, "driftdb_writer_bytes_total", instance="0"), 5 * 88)
            self.assertEqual(value(m, "driftdb_indexer_commits_total", instance="0"), 5)
            self.assertEqual(value(m, "driftdb_index_lag_seqs"), 0)
            self.assertGreater(value(m, "driftdb_commit_timestamp_seconds"), time.time() - 60)
            self.assertIsNotNone(value(m, "driftdb_gateway_rejected_total", instance="0"))
            self.assertEqual(value(m, "driftdb_gateway_sessions", instance="0"), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
