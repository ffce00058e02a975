"""The indexer catching up a large backlog (here: rebuilding its index from
a log of 500 000 row versions after the index was deleted) must keep its
heartbeat going between batches: the supervisor must not take it for hung and
kill it (regression test: batches re-armed with event_active() ran in one
libevent pass and starved the heartbeat timer)."""
import os
import shutil
import unittest

from driftharness import Daemon, wait_for
from test_writer import Writer, ins


def value(m, name, **labels):
    return m.get((name, frozenset(labels.items())))


class CatchUpTest(unittest.TestCase):
    def test_rebuild_keeps_heartbeat(self):
        cfg = {"heartbeat_interval": "20ms", "heartbeat_timeout": "500ms", "index_lag_max": "0"}
        d = Daemon(query_workers=1, config=cfg)
        try:
            d.start()
            w = Writer(d.data_dir)
            try:
                for c in range(10000):
                    r = w.commit([ins(b"c%05dr%02d" % (c, k), [c, k]) for k in range(50)], snapshot=0)
                    self.assertTrue(r["ok"], r)
            finally:
                w.close()
            self.assertEqual(d.stop(), 0)
            shutil.rmtree(os.path.join(d.data_dir, "index"))
            d.notify_msgs.clear()
            d.start()
            wait_for(lambda: value(d.metrics(), "driftdb_indexed_seq") == 10000, 120, what="index rebuilt")
            m = d.metrics()
            self.assertEqual(value(m, "driftdb_role_restarts_total", role="indexer", instance="0"), 0, d.log())
            self.assertNotIn("missed its heartbeat", d.log())
            self.assertGreater(value(m, "driftdb_indexer_batches_total", instance="0"), 1)  # really in batches
        finally:
            d.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
