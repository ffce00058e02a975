"""The writer's catalog (modules/writer/catalog.c) against the real daemon:
DDL validation (42P07 duplicate names and index ids, 40001 reused table ids
and concurrent ALTERs, 42P01 DDL / rows on missing or dropped tables) and
UNIQUE enforcement for live rows (23505 on insert, update and patch; values
freed by an earlier, still unindexed commit are reusable; conflicts inside one
frame and between commits of one batch; NULLs never conflict; CREATE UNIQUE
INDEX over duplicates refused), also after a daemon restart, after a writer
kill -9, and while the indexer is stopped (SIGSTOP: the whole tail is
unindexed, then replayed from the log by a restarted writer). Clients send
raw commits (ipc/commit.h) to the writer endpoint, with keys in the
memcomparable encoding (docs/indexes.md §2) and rows as MessagePack arrays."""
import os
import signal
import struct
import time
import unittest

import msgpack
import zmq

import driftharness as H


def pk(i):
    """keyenc INTEGER: tag 0x20 + big-endian with the sign bit flipped."""
    return b"\x20" + struct.pack(">Q", (i + (1 << 63)) & ((1 << 64) - 1))


def col(cid, name, typ, **kw):
    d = {"id": cid, "name": name, "type": typ}
    d.update(kw)
    return d


def tdef(name, version, indexes=(), extra_cols=()):
    """id INTEGER pk, email TEXT, a INTEGER, b TEXT (+ extra columns)."""
    return {"name": name, "version": version,
            "columns": [col(1, "id", "INTEGER", not_null=True), col(2, "email", "TEXT"),
                        col(3, "a", "INTEGER"), col(4, "b", "TEXT")] + list(extra_cols),
            "pk": [1], "indexes": list(indexes)}


def uidx(iid, name, cols, unique=True):
    return {"id": iid, "name": name, "columns": cols, "unique": unique}


def ddl(table, kind, d=None):
    row = {"ddl": kind}
    if d is not None:
        row["def"] = d
    return {"op": "ddl", "table": table, "row": row}


def ins(table, i, email, a=None, b=None):
    return {"op": "insert", "table": table, "key": pk(i), "row": [i, email, a, b]}


def upd(table, i, email, a=None, b=None):
    return {"op": "update", "table": table, "key": pk(i), "row": [i, email, a, b]}


def patch(table, i, changes):
    return {"op": "patch", "table": table, "key": pk(i), "row": changes}


def dele(table, i):
    return {"op": "delete", "table": table, "key": pk(i)}


class Client:
    """A DEALER on the writer endpoint; several requests may be in flight."""

    def __init__(self, data_dir):
        self.s = zmq.Context.instance().socket(zmq.DEALER)
        self.s.setsockopt(zmq.LINGER, 0)
        self.s.connect("ipc://%s/run/writer.sock" % data_dir)
        self.n = 0

    def send(self, r):
        self.n += 1
        r = dict(r, id=self.n)
        self.s.send(msgpack.packb(r, use_bin_type=True))
        return self.n

    def recv(self, timeout=10.0):
        if not self.s.poll(int(timeout * 1000)):
            raise AssertionError("the writer did not answer")
        return msgpack.unpackb(self.s.recv(), raw=False)

    def seq(self):
        self.send({"op": "ping"})
        return self.recv()["seq"]

    def commit(self, ops, snapshot=None):
        self.send({"snapshot": self.seq() if snapshot is None else snapshot, "ops": ops})
        return self.recv()

    def pipeline(self, *op_lists):
        """Sends every commit back to back (they land in one writer batch), then returns the replies in order."""
        snap = self.seq()
        ids = [self.send({"snapshot": snap, "ops": ops}) for ops in op_lists]
        replies = {}
        while len(replies) < len(ids):
            r = self.recv()
            replies[r["id"]] = r
        return [replies[i] for i in ids]

    def close(self):
        self.s.close()


class Base(unittest.TestCase):
    def ok(self, r):
        self.assertTrue(r["ok"], r)
        return r

    def err(self, r, code, text=None):
        self.assertFalse(r["ok"], r)
        self.assertEqual(r["error"]["code"], code, r)
        if text:
            self.assertIn(text, r["error"]["message"])
        return r


def wait_indexed(d, c, timeout=20.0):
    target = c.seq()

    def done():
        m = d.metrics()
        for (name, _), v in m.items():
            if name == "driftdb_index_lag_seqs":
                return v == 0 and c.seq() >= target
        return False
    H.wait_for(done, timeout, what="indexer caught up")


class UniqueChecks(Base):
    """One daemon; each test uses its own tables (ids and names)."""

    @classmethod
    def setUpClass(cls):
        cls.d = H.Daemon(query_workers=1).start()
        cls.c = Client(cls.d.data_dir)

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        cls.d.close()

    def make(self, tid, name, indexes):
        self.ok(self.c.commit([ddl(tid, "create_table", tdef(name, 1, indexes))]))

    def test_insert_violation(self):
        c = self.c
        self.make(101, "t101", [uidx(1001, "t101_email_key", [2])])
        self.ok(c.commit([ins(101, 1, "a@x")]))
        r = self.err(c.commit([ins(101, 2, "a@x")]), "23505", 'unique constraint "t101_email_key"')
        self.assertIn("Key (email)=(a@x) already exists", r["error"]["message"])
        self.ok(c.commit([ins(101, 2, "b@x")]))
        # the pk itself is still checked by the key map; the message names the table's pkey
        self.err(c.commit([ins(101, 1, "z@x")]), "23505",
                 'duplicate key value violates unique constraint "t101_pkey": Key (id)=(1) already exists.')

    def test_update_and_patch_violation(self):
        c = self.c
        self.make(102, "t102", [uidx(1002, "t102_email_key", [2]), uidx(1003, "t102_ab_key", [3, 4])])
        self.ok(c.commit([ins(102, 1, "a", 1, "x"), ins(102, 2, "b", 2, "y")]))
        self.err(c.commit([upd(102, 2, "a", 2, "y")]), "23505", "t102_email_key")
        self.ok(c.commit([upd(102, 1, "a", 1, "x")]))  # keeps its own values
        self.err(c.commit([patch(102, 2, {"email": "a"})]), "23505", "t102_email_key")
        self.err(c.commit([patch(102, 2, {3: 1, "b": "x"})]), "23505", "Key (a, b)=(1, x)")  # by id and by name
        self.ok(c.commit([patch(102, 2, {"a": 1})]))  # (1, y): free
        self.err(c.commit([patch(102, 1, {"b": "y"})]), "23505", "t102_ab_key")
        self.err(c.commit([patch(102, 1, {"nope": 1})]), "42703")
        # a patch on top of a patch: the merged row is what counts
        self.ok(c.commit([patch(102, 2, {"email": "c"})]))
        self.err(c.commit([ins(102, 3, "c")]), "23505")
        self.ok(c.commit([ins(102, 3, "b")]))  # freed by the patch of 2

    def test_freed_values_are_reusable_back_to_back(self):
        c = self.c
        self.make(103, "t103", [uidx(1004, "t103_email_key", [2])])
        self.ok(c.commit([ins(103, 1, "a"), ins(103, 2, "b")]))
        # delete then re-insert the value, update then take the old value: pipelined, so that each
        # commit is checked before the previous one is written or indexed
        r = c.pipeline([dele(103, 1)], [ins(103, 3, "a")], [upd(103, 2, "c")], [ins(103, 4, "b")],
                       [ins(103, 5, "c")], [ins(103, 6, "a")])
        for x in r[:4]:
            self.ok(x)
        self.err(r[4], "23505", "Key (email)=(c)")  # taken by the update of 2
        self.err(r[5], "23505", "Key (email)=(a)")  # taken by 3

    def test_conflicts_in_one_frame_and_one_batch(self):
        c = self.c
        self.make(104, "t104", [uidx(1005, "t104_email_key", [2])])
        self.err(c.commit([ins(104, 1, "a"), ins(104, 2, "a")]), "23505")
        # nothing of the refused transaction remains
        self.ok(c.commit([ins(104, 2, "a")]))
        # in one frame: the value is freed by an earlier op, then taken
        self.ok(c.commit([upd(104, 2, "b"), ins(104, 3, "a")]))
        self.ok(c.commit([dele(104, 3), ins(104, 4, "a")]))
        # two commits of one batch
        r = c.pipeline([ins(104, 5, "q")], [ins(104, 6, "q")])
        self.ok(r[0])
        self.err(r[1], "23505", "Key (email)=(q)")

    def test_nulls_never_conflict(self):
        c = self.c
        self.make(105, "t105", [uidx(1006, "t105_email_key", [2]), uidx(1007, "t105_ab_key", [3, 4])])
        self.ok(c.commit([ins(105, 1, None, 1, None), ins(105, 2, None, 1, None)]))
        self.ok(c.commit([{"op": "insert", "table": 105, "key": pk(3), "row": [3]}]))  # short row: trailing NULLs
        self.ok(c.commit([ins(105, 4, "x", 1, "z")]))
        self.err(c.commit([ins(105, 5, "y", 1, "z")]), "23505", "t105_ab_key")

    def test_create_unique_index_over_duplicates(self):
        c = self.c
        self.make(106, "t106", [])
        self.ok(c.commit([ins(106, 1, "a"), ins(106, 2, "a"), ins(106, 3, "b")]))
        r = self.err(c.commit([ddl(106, "create_index", tdef("t106", 2, [uidx(1008, "t106_email_key", [2])]))]),
                     "23505", 'could not create unique index "t106_email_key"')
        self.assertIn("Key (email)=(a) is duplicated", r["error"]["message"])
        # a plain index over the same values is fine, and version 2 is still free
        self.ok(c.commit([ddl(106, "create_index", tdef("t106", 2, [uidx(1009, "t106_by_email", [2], False)]))]))
        self.ok(c.commit([dele(106, 2)]))
        self.ok(c.commit([ddl(106, "create_index",
                              tdef("t106", 3, [uidx(1009, "t106_by_email", [2], False),
                                               uidx(1008, "t106_email_key", [2])]))]))
        self.err(c.commit([ins(106, 4, "a")]), "23505", "t106_email_key")
        self.err(c.commit([ins(106, 4, "b")]), "23505", "t106_email_key")
        self.ok(c.commit([ins(106, 4, "c")]))
        # in one frame: table, rows, then the unique index over them
        self.err(c.commit([ddl(107, "create_table", tdef("t107", 1)), ins(107, 1, "d"), ins(107, 2, "d"),
                           ddl(107, "create_index", tdef("t107", 2, [uidx(1010, "t107_email_key", [2])]))]),
                 "23505", "could not create unique index")
        self.ok(c.commit([ddl(107, "create_table", tdef("t107", 1)), ins(107, 1, "d"), ins(107, 2, "e"),
                          ddl(107, "create_index", tdef("t107", 2, [uidx(1010, "t107_email_key", [2])])),
                          ins(107, 3, "f")]))
        self.err(c.commit([ins(107, 4, "e")]), "23505")
        # pipelined: rows written just before (not yet on disk) are seen by the index build
        self.make(108, "t108", [])
        r = c.pipeline([ins(108, 3, "h")], [ins(108, 1, "g")], [ins(108, 2, "g")],
                       [ddl(108, "create_index", tdef("t108", 2, [uidx(1011, "t108_email_key", [2])]))])
        for x in r[:3]:
            self.ok(x)
        self.err(r[3], "23505", "could not create unique index")

    def test_ddl_validation(self):
        c = self.c
        self.make(110, "t110", [uidx(1020, "t110_email_key", [2])])
        self.err(c.commit([ddl(111, "create_table", tdef("t110", 1))]), "42P07", 'relation "t110" already exists')
        self.err(c.commit([ddl(110, "create_table", tdef("other", 1))]), "40001", "table id 110")
        self.err(c.commit([ddl(110, "add_column", tdef("t110", 3, [uidx(1020, "t110_email_key", [2])]))]),
                 "40001", "concurrent ALTER")
        self.err(c.commit([ddl(110, "add_column", tdef("t110", 1, [uidx(1020, "t110_email_key", [2])]))]),
                 "40001", "concurrent ALTER")
        self.err(c.commit([ddl(112, "alter_table", tdef("t112", 2))]), "42P01")
        self.err(c.commit([ddl(112, "drop_table")]), "42P01")
        self.err(c.commit([ddl(113, "create_table", tdef("t113", 1, [uidx(1020, "x", [2])]))]), "42P07",
                 "index id 1020")
        self.err(c.commit([ddl(113, "create_table", tdef("t113", 1, [uidx(1021, "t110_email_key", [2])]))]),
                 "42P07", 'relation "t110_email_key" already exists')
        self.err(c.commit([ddl(113, "create_table", tdef("t113", 1, [uidx(1021, "i1", [2]), uidx(1022, "i1", [3])]))]),
                 "42P07")
        self.err(c.commit([ddl(113, "create_table", {"name": "t113"})]), "08P01")
        # two creates of one name in one frame
        self.err(c.commit([ddl(114, "create_table", tdef("t114", 1)), ddl(115, "create_table", tdef("t114", 1))]),
                 "42P07")
        # alter with the right version, then drop: rows are refused, the name is free again
        self.ok(c.commit([ddl(110, "add_column", tdef("t110", 2, [uidx(1020, "t110_email_key", [2])],
                                                      [col(5, "c", "REAL")]))]))
        self.ok(c.commit([ins(110, 1, "a")]))
        self.ok(c.commit([ddl(110, "drop_table")]))
        self.err(c.commit([ins(110, 2, "b")]), "42P01", "dropped")
        self.err(c.commit([dele(110, 1)]), "42P01")
        self.err(c.commit([ddl(110, "create_table", tdef("t110", 1))]), "40001")  # ids are never reused
        self.ok(c.commit([ddl(116, "create_table", tdef("t110", 1, [uidx(1020, "t110_email_key", [2])]))]))
        self.ok(c.commit([ins(116, 1, "a")]))  # the dropped table's value is not held
        self.err(c.commit([ins(116, 2, "a")]), "23505")
        # a table never defined is the raw protocol's schemaless table: accepted as before
        self.ok(c.commit([{"op": "insert", "table": 119, "key": b"k", "row": {"v": 1}}]))


class Restart(Base):
    def test_checks_survive_restart_and_writer_kill(self):
        with H.Daemon(query_workers=1, config={"restart_backoff_min": "10ms"}) as d:
            c = Client(d.data_dir)
            self.ok(c.commit([ddl(1, "create_table", tdef("users", 1, [uidx(10, "users_email_key", [2])])),
                              ins(1, 1, "a"), ins(1, 2, "b")]))
            self.ok(c.commit([dele(1, 2)]))
            wait_indexed(d, c)
            self.ok(c.commit([ins(1, 3, "c")]))  # possibly unindexed at the stop
            c.close()
            d.stop()
            d.notify_msgs = []
            d.start()
            self.assertIn("catalog: 1 tables (1 live, 1 with unique indexes)", d.log())
            c = Client(d.data_dir)
            self.err(c.commit([ins(1, 4, "a")]), "23505")
            self.err(c.commit([ins(1, 4, "c")]), "23505")
            self.ok(c.commit([ins(1, 4, "b")]))
            self.err(c.commit([ddl(2, "create_table", tdef("users", 1))]), "42P07")
            self.err(c.commit([ddl(1, "add_column", tdef("users", 3, [uidx(10, "users_email_key", [2])]))]), "40001")
            # kill -9 of the writer right after commits: the replacement rebuilds from the log and the index
            self.ok(c.commit([upd(1, 4, "d")]))
            old = d.role_pids()["writer"][0]
            os.kill(old, signal.SIGKILL)
            H.wait_for(lambda: d.role_pids().get("writer", [old])[0] != old, 20, what="writer restarted")
            c.close()
            c = Client(d.data_dir)
            H.wait_for(lambda: c.commit([ins(1, 9, "zz")]).get("ok"), 20, what="writer answering")
            self.err(c.commit([ins(1, 5, "d")]), "23505")
            self.ok(c.commit([ins(1, 5, "b")]))  # freed by the update of 4
            c.close()


class IndexerStopped(Base):
    def test_unindexed_tail_then_restart_then_continue(self):
        cfg = {"heartbeat_timeout": "60s", "index_lag_max": "0", "restart_backoff_min": "10ms"}
        with H.Daemon(query_workers=1, config=cfg) as d:
            c = Client(d.data_dir)
            self.ok(c.commit([ddl(1, "create_table", tdef("t", 1, [uidx(10, "t_email_key", [2])])),
                              ins(1, 1, "a"), ins(1, 2, "b")]))
            self.ok(c.commit([ddl(2, "create_table", tdef("u", 1)), ins(2, 1, "x"), ins(2, 2, "x"), ins(2, 3, "y")]))
            wait_indexed(d, c)
            ix = d.role_pids()["indexer"][0]
            os.kill(ix, signal.SIGSTOP)
            try:
                # everything below stays unindexed: the checks use the writer's tail alone
                self.ok(c.commit([dele(1, 1)]))
                self.ok(c.commit([ins(1, 3, "a")]))
                self.err(c.commit([ins(1, 4, "a")]), "23505")
                self.ok(c.commit([upd(1, 2, "c")]))
                self.ok(c.commit([ins(1, 5, "b")]))
                self.err(c.commit([patch(1, 5, {"email": "c"})]), "23505")
                self.err(c.commit([ddl(2, "create_index", tdef("u", 2, [uidx(20, "u_email_key", [2])]))]), "23505")
                self.ok(c.commit([upd(2, 2, "z")]))
                self.ok(c.commit([ddl(2, "create_index", tdef("u", 2, [uidx(20, "u_email_key", [2])]))]))
                self.err(c.commit([ins(2, 4, "x")]), "23505")
                self.err(c.commit([ins(2, 4, "z")]), "23505")
                # a restarted writer replays the unindexed tail from the log
                w = d.role_pids()["writer"][0]
                os.kill(w, signal.SIGKILL)
                H.wait_for(lambda: d.role_pids().get("writer", [w])[0] != w, 20, what="writer restarted")
                c.close()
                c = Client(d.data_dir)
                H.wait_for(lambda: c.commit([ins(1, 100, "zz")]).get("ok"), 20, what="writer answering")
                self.err(c.commit([ins(1, 6, "a")]), "23505")
                self.err(c.commit([ins(1, 6, "c")]), "23505")
                self.err(c.commit([ins(1, 6, "b")]), "23505")
                self.ok(c.commit([ins(1, 6, "d")]))
                self.err(c.commit([ins(2, 4, "x")]), "23505")
                self.err(c.commit([ins(2, 4, "y")]), "23505")
                self.ok(c.commit([ins(2, 4, "w")]))
            finally:
                os.kill(ix, signal.SIGCONT)
            wait_indexed(d, c)
            time.sleep(0.2)  # the writer moves to the new LMDB snapshot (20 ms timer) and forgets its tail
            self.err(c.commit([ins(1, 7, "a")]), "23505")
            self.err(c.commit([ins(1, 7, "d")]), "23505")
            self.err(c.commit([ins(2, 5, "w")]), "23505")
            self.ok(c.commit([dele(2, 4)]))
            self.ok(c.commit([ins(2, 5, "w")]))
            c.close()


if __name__ == "__main__":
    unittest.main()
