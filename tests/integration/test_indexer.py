"""The indexer role (issue 5) against the real daemon: it follows the writer
(indexed_seq reaches commit_seq, lag metrics in /metrics), `driftctl verify
--indexes` finds no difference from a rebuild, /health/ready fails while the
index lags more than index_lag_max, and after kill -9 of the indexer at
random moments under load the restarted indexer resumes and its indexes
equal a rebuild; `driftctl reindex` refuses a running daemon and rebuilds
offline. Clients talk straight to the writer endpoint (ipc/commit.h)."""
import os
import random
import signal
import struct
import subprocess
import threading
import time
import unittest

import msgpack
import zmq

import driftharness as H

DRIFTCTL = os.path.join(H.BUILDDIR, "driftctl")
TABLE = 1


def pk(i):
    """keyenc INTEGER: tag 0x20 + big-endian with the sign bit flipped (shm/keyenc.h)."""
    return b"\x20" + struct.pack(">Q", (i + (1 << 63)) & ((1 << 64) - 1))


def table_def(version, indexes=True):
    d = {"name": "items", "version": version,
         "columns": [{"id": 1, "name": "id", "type": "INTEGER", "not_null": True},
                     {"id": 2, "name": "name", "type": "TEXT"},
                     {"id": 3, "name": "score", "type": "INTEGER"}],
         "pk": [1], "indexes": []}
    if indexes:
        d["indexes"] = [{"id": 10, "name": "by_score", "columns": [3]},
                        {"id": 11, "name": "by_name", "columns": [2]}]
    return d


class Client:
    def __init__(self, data_dir):
        self.ctx = zmq.Context.instance()
        self.s = self.ctx.socket(zmq.DEALER)
        self.s.setsockopt(zmq.LINGER, 0)
        self.s.connect("ipc://%s/run/writer.sock" % data_dir)
        self.n = 0

    def req(self, r, timeout=10.0):
        self.n += 1
        r = dict(r, id=self.n)
        self.s.send(msgpack.packb(r, use_bin_type=True))
        if not self.s.poll(int(timeout * 1000)):
            raise AssertionError("writer did not answer %r" % (r,))
        return msgpack.unpackb(self.s.recv(), raw=False)

    def seq(self):
        return self.req({"op": "ping"})["seq"]

    def commit(self, ops):
        r = self.req({"snapshot": self.seq(), "ops": ops})
        assert r["ok"], r
        return r["seq"]

    def close(self):
        self.s.close()


def driftctl(*args, timeout=120):
    p = subprocess.run([DRIFTCTL] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def metric(d, name):
    return d.metrics()[(name, frozenset())]


def wait_indexed(d, timeout=30.0):
    H.wait_for(lambda: metric(d, "driftdb_indexed_seq") >= metric(d, "driftdb_commit_seq") > 0, timeout,
               interval=0.05, what="indexed_seq to reach commit_seq")


class Workload:
    """Random transactions over 200 keys: insert, update, patch, delete (the writer refuses
    inserts of live keys and deletes of absent ones with an error: we track live keys)."""

    def __init__(self, client, seed):
        self.c = client
        self.rng = random.Random(seed)
        self.live = set()

    def one(self):
        ops = []
        used = set()
        for _ in range(self.rng.randint(1, 4)):
            k = self.rng.randrange(200)
            if k in used:
                continue
            used.add(k)
            name = self.rng.choice(["ann", "bob", "cy", "dee", "ed\x00x"])
            score = self.rng.choice([None, self.rng.randrange(50)])
            if k not in self.live:
                ops.append({"op": "insert", "table": TABLE, "key": pk(k), "row": [k, name, score]})
                self.live.add(k)
            else:
                r = self.rng.random()
                if r < 0.2:
                    ops.append({"op": "delete", "table": TABLE, "key": pk(k)})
                    self.live.discard(k)
                elif r < 0.5:
                    ops.append({"op": "patch", "table": TABLE, "key": pk(k), "row": {"score": score}})
                else:
                    ops.append({"op": "update", "table": TABLE, "key": pk(k), "row": [k, name, score]})
        return self.c.commit(ops)


class IndexerTest(unittest.TestCase):
    def test_follow_metrics_verify_and_offline_reindex(self):
        with H.Daemon(query_workers=1, config={"segment_size": "256KB"}) as d:
            c = Client(d.data_dir)
            c.commit([{"op": "ddl", "table": TABLE, "row": {"ddl": "create_table", "def": table_def(1)}}])
            w = Workload(c, 1)
            for _ in range(300):
                w.one()
            c.commit([{"op": "ddl", "table": TABLE, "row": {"ddl": "drop_index", "def": table_def(2, False)}}])
            for _ in range(100):
                w.one()
            c.commit([{"op": "ddl", "table": TABLE, "row": {"ddl": "create_index", "def": table_def(3)}}])
            last = w.one()
            wait_indexed(d)
            m = d.metrics()
            self.assertEqual(m[("driftdb_indexed_seq", frozenset())], last)
            self.assertEqual(m[("driftdb_index_lag_seqs", frozenset())], 0)
            self.assertEqual(m[("driftdb_index_lag_seconds", frozenset())], 0)
            st, body = d.http_get("/health/ready")
            self.assertEqual(st, 200, body)
            self.assertIn('"index_lag_seqs":0', body)
            # online verify: rebuild up to what the live index applied, compare
            rc, out, err = driftctl("verify", "--indexes", "-D", d.data_dir)
            self.assertEqual(rc, 0, out + err)
            self.assertIn("indexes ok: 0 differences", out)
            # reindex refuses a running daemon
            rc, out, err = driftctl("reindex", "-D", d.data_dir)
            self.assertEqual(rc, 1, out + err)
            self.assertIn("stop it first", err)
            c.close()
            d.stop()
            # offline: verify, reindex, verify again; the daemon then resumes on the rebuilt index
            rc, out, err = driftctl("verify", "--indexes", "-D", d.data_dir)
            self.assertEqual(rc, 0, out + err)
            rc, out, err = driftctl("reindex", "-D", d.data_dir)
            self.assertEqual(rc, 0, out + err)
            self.assertIn("reindexed", out)
            self.assertIn(" %d commits" % last, out)
            rc, out, err = driftctl("verify", "--indexes", "-D", d.data_dir)
            self.assertEqual(rc, 0, out + err)
            d.start()
            c = Client(d.data_dir)
            before = last
            last = c.commit([{"op": "insert", "table": TABLE, "key": pk(100000), "row": [100000, "z", 1]}])
            wait_indexed(d)
            self.assertEqual(metric(d, "driftdb_indexed_seq"), last)
            # it resumed where the rebuilt index ends, without rebuilding again
            self.assertIn("from seq %d\n" % (before + 1), d.log())
            self.assertNotIn("does not match the log", d.log())
            c.close()

    def test_verify_detects_a_damaged_index(self):
        with H.Daemon(query_workers=1) as d:
            c = Client(d.data_dir)
            c.commit([{"op": "ddl", "table": TABLE, "row": {"ddl": "create_table", "def": table_def(1)}}])
            w = Workload(c, 3)
            for _ in range(50):
                w.one()
            wait_indexed(d)
            c.close()
            d.stop()
            # damage the stored rows in place: LMDB pages hold them verbatim and carry no checksum
            path = os.path.join(d.data_dir, "index", "data.mdb")
            with open(path, "r+b") as f:
                data = f.read()
                self.assertIn(b"\xa3bob", data)
                f.seek(0)
                f.write(data.replace(b"\xa3bob", b"\xa3Bob"))
            rc, out, err = driftctl("verify", "--indexes", "-D", d.data_dir)
            self.assertEqual(rc, 1, out + err)
            self.assertIn("DIFFER", out)
            self.assertIn("values differ", out)

    def test_dirty_marker_from_another_boot_rebuilds(self):
        """LMDB runs without fsync: a dirty marker left by another boot (a system crash) means the index
        may be torn, so the indexer rebuilds it; a clean stop removes the marker."""
        with H.Daemon(query_workers=1) as d:
            c = Client(d.data_dir)
            c.commit([{"op": "ddl", "table": TABLE, "row": {"ddl": "create_table", "def": table_def(1)}}])
            w = Workload(c, 6)
            for _ in range(30):
                last = w.one()
            wait_indexed(d)
            marker = os.path.join(d.data_dir, "index", "dirty")
            with open(marker) as f:
                self.assertEqual(f.read().strip(), open("/proc/sys/kernel/random/boot_id").read().strip())
            c.close()
            d.stop()
            self.assertFalse(os.path.exists(marker), "a clean stop leaves no dirty marker")
            with open(marker, "w") as f:
                f.write("00000000-0000-0000-0000-000000000000\n")
            d.start()
            wait_indexed(d)
            self.assertEqual(metric(d, "driftdb_indexed_seq"), last)
            self.assertIn("the system restarted while the index was being written", d.log())
            rc, out, err = driftctl("verify", "--indexes", "-D", d.data_dir)
            self.assertEqual(rc, 0, out + err)

    def test_index_of_an_older_format_is_rebuilt(self):
        """An index written by an earlier build (its meta record says format 1: `versions` one entry per
        version; format 2: chunks holding every row whole; format 3: compact chunks without the directory of
        format 4) is refused by drift_index_open; the indexer then rebuilds it from the log and the rebuilt index equals a fresh
        rebuild."""
        with H.Daemon(query_workers=1) as d:
            c = Client(d.data_dir)
            c.commit([{"op": "ddl", "table": TABLE, "row": {"ddl": "create_table", "def": table_def(1)}}])
            w = Workload(c, 7)
            for _ in range(60):
                last = w.one()
            wait_indexed(d)
            c.close()
            for old in (1, 2, 3):
                with self.subTest(format=old):
                    d.stop()
                    # the meta record "applied" -> seq(8) ts(8) format(4), inline after its key in an LMDB leaf
                    path = os.path.join(d.data_dir, "index", "data.mdb")
                    with open(path, "r+b") as f:
                        data = bytearray(f.read())
                        n, at = 0, data.find(b"applied")
                        while at >= 0:
                            v = at + 7
                            if (data[v + 16:v + 20] == struct.pack(">I", 4)
                                    and struct.unpack(">Q", data[v:v + 8])[0] == last):
                                data[v + 16:v + 20] = struct.pack(">I", old)
                                n += 1
                            at = data.find(b"applied", at + 1)
                        self.assertGreater(n, 0, "meta record not found")
                        f.seek(0)
                        f.write(data)
                    log_before = len(d.log())
                    d.start()
                    wait_indexed(d)
                    self.assertEqual(metric(d, "driftdb_indexed_seq"), last)
                    self.assertIn("rebuilding the index from the log", d.log()[log_before:])
                    rc, out, err = driftctl("verify", "--indexes", "-D", d.data_dir)
                    self.assertEqual(rc, 0, out + err)

    def test_ready_fails_while_lagging(self):
        cfg = {"index_lag_max": "1s", "heartbeat_timeout": "30s"}
        with H.Daemon(query_workers=1, config=cfg) as d:
            c = Client(d.data_dir)
            c.commit([{"op": "ddl", "table": TABLE, "row": {"ddl": "create_table", "def": table_def(1)}}])
            wait_indexed(d)
            pid = d.role_pids()["indexer"][0]
            os.kill(pid, signal.SIGSTOP)
            try:
                c.commit([{"op": "insert", "table": TABLE, "key": pk(1), "row": [1, "a", 1]}])
                time.sleep(1.3)
                st, body = d.http_get("/health/ready")
                self.assertEqual(st, 503, body)
                self.assertIn('"index_lagging":true', body)
                self.assertGreaterEqual(metric(d, "driftdb_index_lag_seqs"), 1)
                self.assertGreater(metric(d, "driftdb_index_lag_seconds"), 1.0)
            finally:
                os.kill(pid, signal.SIGCONT)
            wait_indexed(d)
            st, body = d.http_get("/health/ready")
            self.assertEqual(st, 200, body)
            c.close()

    def test_map_full_grows_and_loses_nothing(self):
        # a 1 MB map: the batches find it full, in their ops and in their commit (where the queued
        # secondary-index writes are applied); each time the indexer grows the map and redoes the batch
        with H.Daemon(query_workers=1, config={"index_map_size": "1MB"}) as d:
            c = Client(d.data_dir)
            c.commit([{"op": "ddl", "table": TABLE, "row": {"ddl": "create_table", "def": table_def(1)}}])
            for b in range(100):
                c.commit([{"op": "insert", "table": TABLE, "key": pk(b * 200 + i),
                           "row": [b * 200 + i, "name %d" % ((b * 200 + i) * 7919 % 5000), (b * 200 + i) % 97]}
                          for i in range(200)])
            wait_indexed(d, 60)
            self.assertIn("index map full: growing it", d.log())
            self.assertNotIn("died", d.log())
            rc, out, err = driftctl("verify", "--indexes", "-D", d.data_dir)
            self.assertEqual(rc, 0, out + err)
            self.assertIn("indexes ok: 0 differences", out)
            c.close()

    def test_kill_indexer_under_load(self):
        with H.Daemon(query_workers=1, config={"segment_size": "256KB", "restart_backoff_min": "10ms"}) as d:
            c = Client(d.data_dir)
            c.commit([{"op": "ddl", "table": TABLE, "row": {"ddl": "create_table", "def": table_def(1)}}])
            stop = threading.Event()
            errors = []

            def load():
                cl = Client(d.data_dir)
                w = Workload(cl, 4)
                try:
                    for _ in range(6000):
                        if stop.is_set():
                            break
                        w.one()
                except Exception as e:  # reported by the main thread
                    errors.append(e)
                finally:
                    cl.close()

            t = threading.Thread(target=load)
            t.start()
            rng = random.Random(5)
            kills = 0
            try:
                deadline = time.time() + 60
                while kills < 5 and time.time() < deadline:
                    time.sleep(rng.uniform(0.1, 0.6))
                    pids = d.role_pids().get("indexer")
                    if not pids:
                        continue
                    os.kill(pids[0], signal.SIGKILL)
                    kills += 1
                    H.wait_for(lambda: d.role_pids().get("indexer", [pids[0]])[0] != pids[0], 20,
                               what="indexer restarted")
            finally:
                stop.set()
                t.join(120)
            self.assertFalse(errors, errors)
            self.assertEqual(kills, 5)
            wait_indexed(d, 60)
            rc, out, err = driftctl("verify", "--indexes", "-D", d.data_dir)
            self.assertEqual(rc, 0, out + err)
            self.assertIn("indexes ok: 0 differences", out)
            c.close()


if __name__ == "__main__":
    unittest.main()
