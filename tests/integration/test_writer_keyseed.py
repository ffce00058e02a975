"""The writer's key map seeded from the LMDB index (session 6, workload 7; docs/storage.md "Recovery",
"The key map at start"), against the real daemon with raw commits (ipc/commit.h).

At start the writer no longer rebuilds its key map from every frame: it applies in full only the frames
after the index's applied seq S (plus, from the older frames, the table records and the keys of writes
the index may not hold: patches, rows that are not arrays, empty or over-long keys) and answers a miss
from the index (drift_index_last_write, deletes included). 23505 and 40001 must be exactly what the
full rebuild gave. One data set is checked through every start path:
  A. kill -9 of the writer while the indexer is stopped (SIGSTOP): a tail of commits after S;
  B. kill -9 of the whole daemon once the index caught up;
  C. the last frame torn after the index applied it: recovery cuts it, the index (applied seq beyond the
     log's end) is refused and the key map is completed from the log;
  D. an index of an older format (the indexer rebuilds it; the writer cannot use it);
  E. the index directory removed.
Checks (non-mutating, repeated after every start): duplicate inserts of old, tail and unindexed-kind
keys (23505), deleted keys (02000 on update; 40001 for an insert from a snapshot before the delete),
write-write and read-set conflicts against old writes (40001), whole-table and DDL records (40001);
at the end re-inserts of deleted keys succeed once. Phase C fails without the completion (the keys of
the frames up to S would be missing), phases A/B fail when rows that are not arrays (the index skips
them) are trusted to the index (test_writer.py's map rows), and the delete checks fail when a miss is
answered from `current` (latest live row) instead of the newest write."""
import os
import re
import shutil
import signal
import struct
import unittest

import driftharness as H
from test_writer_unique import Base, Client, ddl, dele, ins, patch, pk, tdef, upd, wait_indexed

T = 1      # a defined table (array rows)
M = 50     # no definition: map rows (the index skips them), like test_writer.py's
LONG = b"L" * 600  # longer than an LMDB key can be (DRIFT_INDEX_PK_MAX): never in the index

CFG = {"heartbeat_timeout": "60s", "index_lag_max": "0", "restart_backoff_min": "10ms"}


def mins(key, table=M):
    return {"op": "insert", "table": table, "key": key, "row": {"v": 1}}


def seed_lines(log):
    """The writer's recovery lines: ("index", S) when seeded from the index, ("log", 0) when not."""
    out = []
    for m in re.finditer(r"key map rebuilt: [^\n]*?(seeded from the index at seq (\d+)|from the whole log)", log):
        out.append(("index", int(m.group(2))) if m.group(2) else ("log", 0))
    return out


class KeySeed(Base):
    def rr(self, c, ops, snap):
        return self._iso(c, ops, snap, "repeatable read")

    def _iso(self, c, ops, snap, iso, reads=None):
        r = {"snapshot": snap, "ops": ops, "isolation": iso}
        if reads is not None:
            r["reads"] = reads
        c.send(r)
        return c.recv()

    def base_set(self, c):
        """The data set's indexed part; returns the seqs the checks need."""
        st = {}
        st["ddl"] = self.ok(c.commit([ddl(T, "create_table", tdef("t", 1))]))["seq"]
        self.ok(c.commit([ins(T, i, "e%d" % i) for i in range(1, 41)]))
        st["del3"] = self.ok(c.commit([dele(T, 3)]))["seq"]
        st["del7"] = self.ok(c.commit([dele(T, 7)]))["seq"]
        st["up2"] = self.ok(c.commit([upd(T, 2, "u2")]))["seq"]
        st["up8"] = self.ok(c.commit([upd(T, 8, "u8")]))["seq"]
        st["patch9"] = self.ok(c.commit([patch(T, 9, {"email": "p9"})]))["seq"]
        self.ok(c.commit([mins(b"m1")]))
        self.ok(c.commit([{"op": "insert", "table": M, "key": LONG, "row": [1]}]))
        self.ok(c.commit([ins(T, 60, "x"), dele(T, 60)]))
        self.ok(c.commit([ins(T, 61, "x"), dele(T, 61), ins(T, 61, "y")]))
        return st

    def tail_set(self, c, st):
        """The data set's part written while the indexer is stopped."""
        self.ok(c.commit([ins(T, i, "t%d" % i) for i in range(100, 105)]))
        st["del101"] = self.ok(c.commit([dele(T, 101)]))["seq"]
        st["up102"] = self.ok(c.commit([upd(T, 102, "u102")]))["seq"]
        st["del10"] = self.ok(c.commit([dele(T, 10)]))["seq"]
        st["lastT"] = self.ok(c.commit([mins(b"m2")]))["seq"] - 1
        st["last"] = c.seq()

    def build(self, d):
        """The data set; returns the seqs the checks need."""
        c = Client(d.data_dir)
        st = self.base_set(c)
        wait_indexed(d, c)
        st["indexed"] = c.seq()
        ix = d.role_pids()["indexer"][0]
        os.kill(ix, signal.SIGSTOP)
        try:
            # the tail: after the index's applied seq
            self.tail_set(c, st)
            # A: the writer alone is killed; the index stays at st["indexed"]
            w = d.role_pids()["writer"][0]
            os.kill(w, signal.SIGKILL)
            H.wait_for(lambda: d.role_pids().get("writer", [w])[0] != w, 20, what="writer restarted")
            c.close()
            c = Client(d.data_dir)
            H.wait_for(lambda: c.seq() == st["last"], 20, what="writer answering")
            self.assertEqual(seed_lines(d.log())[-1], ("index", st["indexed"]), d.log()[-3000:])
            self.verify(c, st, "A")
        finally:
            os.kill(ix, signal.SIGCONT)
        c.close()
        return st

    def verify(self, c, st, phase):
        """Every check refuses (nothing changes): the same answers after every start."""
        with self.subTest(phase=phase):
            for i in (1, 4, 40, 61, 100, 103, 104):
                self.err(c.commit([ins(T, i, "dup")]), "23505")
            self.err(c.commit([mins(b"m1")]), "23505")
            self.err(c.commit([mins(b"m2")]), "23505")
            self.err(c.commit([{"op": "insert", "table": M, "key": LONG, "row": [2]}]), "23505")
            # deleted (indexed, in one transaction with its insert, in the tail) and never written keys
            for i in (3, 7, 60, 101, 10, 999):
                self.err(c.commit([upd(T, i, "gone")]), "02000")
            # an insert of a deleted key from a snapshot before the delete conflicts with the delete
            for key, s in ((3, st["del3"]), (7, st["del7"]), (101, st["del101"]), (10, st["del10"])):
                self.err(self.rr(c, [ins(T, key, "again")], s - 1), "40001")
            # write-write conflicts against old and tail writes (an update, a patch)
            for key, s in ((2, st["up2"]), (9, st["patch9"]), (102, st["up102"])):
                self.err(self.rr(c, [upd(T, key, "ww")], s - 1), "40001")
            # a serializable read of a key written after the snapshot
            r = self._iso(c, [ins(T, 900, "r")], st["up8"] - 1, "serializable", reads=[{"table": T, "key": pk(8)}])
            self.err(r, "40001")
            # table records: a whole-table read before the table's last write, a write before its DDL
            r = self._iso(c, [ins(T, 901, "r")], st["lastT"] - 1, "serializable", reads=[{"table": T}])
            self.err(r, "40001")
            self.err(self.rr(c, [ins(T, 902, "r")], st["ddl"] - 1), "40001")

    def finish(self, c, st):
        """Mutating checks, once: re-inserts of deleted keys succeed once, an insert from a snapshot at the
        delete succeeds."""
        self.ok(c.commit([ins(T, 3, "back")]))
        self.err(c.commit([ins(T, 3, "back")]), "23505")
        self.ok(self.rr(c, [ins(T, 7, "back")], st["del7"]))
        self.ok(c.commit([ins(T, 101, "back")]))
        self.ok(c.commit([ins(T, 999, "new")]))
        self.err(c.commit([ins(T, 999, "new")]), "23505")
        self.ok(self.rr(c, [upd(T, 2, "late")], st["up2"]))

    def restart(self, d):
        d.notify_msgs = []
        d.start()
        c = Client(d.data_dir)
        H.wait_for(lambda: c.seq() > 0, 20, what="writer answering")
        return c

    def crash_seeded(self, d, c, st, phase):
        """Once the index has caught up, kill -9 the daemon: the writer must seed from the index at the last seq
        and answer every check of the phase. Returns the new client."""
        wait_indexed(d, c)
        c.close()
        d.crash_restart()
        c = Client(d.data_dir)
        H.wait_for(lambda: c.seq() == st["last"], 20, what="writer answering")
        self.assertEqual(seed_lines(d.log())[-1], ("index", st["last"]))
        self.verify(c, st, phase)
        return c

    def test_every_start_path(self):
        with H.Daemon(query_workers=1, config=CFG) as d:
            st = self.build(d)
            # B: the whole daemon killed once the index has caught up
            c = Client(d.data_dir)
            c = self.crash_seeded(d, c, st, "B")
            # C: a last frame the index applied is torn: cut by recovery, the index is refused
            st["cut"] = self.ok(c.commit([ins(T, 500, "cut")]))["seq"]
            wait_indexed(d, c)
            c.close()
            self.assertEqual(d.stop(), 0)
            log = os.path.join(d.data_dir, "log")
            last = os.path.join(log, sorted(n for n in os.listdir(log) if n.endswith(".seg"))[-1])
            with open(last, "r+b") as f:
                b = f.read()
                end = len(b.rstrip(b"\0"))
                f.seek(end - 1)
                f.write(bytes([b[end - 1] ^ 0xff]))
            c = self.restart(d)
            self.assertIn("cut a torn tail", d.log())
            self.assertRegex(d.log(), r"the index \(applied seq %d\) does not match the log" % st["cut"])
            self.assertEqual(seed_lines(d.log())[-1], ("index", st["cut"]))
            self.assertEqual(c.seq(), st["last"])
            self.verify(c, st, "C")  # fails without the completion: the keys of frames <= S are gone
            done = "key map completed from the log: %d frames up to seq %d" % (st["last"], st["cut"])
            self.assertTrue(done in d.log(), done)
            wait_indexed(d, c)  # the indexer rebuilt the index from the log
            c.close()
            # D: an index of an older format: the writer cannot read it, the indexer rebuilds it
            self.assertEqual(d.stop(), 0)
            path = os.path.join(d.data_dir, "index", "data.mdb")
            with open(path, "r+b") as f:
                b = bytearray(f.read())
                n = 0
                for m in re.finditer(rb"applied", bytes(b)):
                    at = m.end() + 16
                    if at + 4 <= len(b) and 2 <= struct.unpack(">I", b[at:at + 4])[0] < 100:
                        b[at:at + 4] = struct.pack(">I", 1)
                        n += 1
                self.assertGreater(n, 0)
                f.seek(0)
                f.write(b)
            c = self.restart(d)
            H.wait_for(lambda: "rebuilding the index from the log" in d.log(), 20, what="index rebuild")
            kind, s = seed_lines(d.log())[-1]
            # the writer opened either nothing (the old file) or the indexer's new, partial index
            self.assertTrue(kind == "log" or s <= st["last"], (kind, s))
            self.verify(c, st, "D")
            wait_indexed(d, c)
            c.close()
            # E: no index directory at all
            self.assertEqual(d.stop(), 0)
            shutil.rmtree(os.path.join(d.data_dir, "index"))
            c = self.restart(d)
            self.assertEqual(seed_lines(d.log())[-1], ("log", 0))
            self.verify(c, st, "E")
            # and once more seeded from the index the indexer rebuilt
            c = self.crash_seeded(d, c, st, "F")
            self.finish(c, st)
            c.close()


class KeyForget(KeySeed):
    """The key map forgets, while the writer runs, the keys the index answers for (keymap_forget_at; docs/storage.md
    "Forgetting keys while the writer runs"): with a bound of 50 keys, the map shrinks to the keys the index may not
    hold as the log says (map rows, an over-long key, a patched key) and what was written after the snapshot, and
    every check of KeySeed answers as before — with the tail unindexed (its keys kept), and once the tail is indexed
    and forgotten too. The pinned keys' 23505 fail when pinning is left out; without the sweep no pass is ever
    logged and the gauge stays at the whole history."""

    def keys_in_map(self, d):
        return int(d.metrics()[("driftdb_writer_keymap_keys", frozenset({("instance", "0")}))])

    def passes(self, d):
        """[(applied seq at the pass's end, keys kept)] of the key map's passes (debug log lines)."""
        return [(int(s), int(k)) for s, k in re.findall(r"key map: pass \d+ over seqs up to \d+\.\.(\d+): \d+ keys, "
                                                      r"kept (\d+)", d.log())]

    def forgotten_upto(self, d, c, seq, first_key):
        """Waits for a pass over the key map at a snapshot at or after seq; while there is none, writes 100 new keys
        (first_key on) and waits for the indexer (a pass starts once the map holds twice what the last one kept).
        Returns that pass's (snapshot seq, keys kept)."""
        for b in range(20):
            try:
                return H.wait_for(lambda: next(((s, k) for s, k in self.passes(d) if s >= seq), None), 1,
                                  what="a pass over the key map at seq %d or later" % seq)
            except AssertionError:
                pass
            self.ok(c.commit([ins(T, i, "n") for i in range(first_key + 100 * b, first_key + 100 * (b + 1))]))
            wait_indexed(d, c)
        self.fail("no pass over the key map at seq %d or later: %r" % (seq, self.passes(d)))

    def test_forgetting_while_running(self):
        cfg = dict(CFG, keymap_forget_at="50", log_level="debug")
        with H.Daemon(query_workers=1, config=cfg) as d:
            c = Client(d.data_dir)
            st = self.base_set(c)
            for b in range(4):  # 400 more keys: the map passes its bound
                self.ok(c.commit([ins(T, i, "b") for i in range(1000 + 100 * b, 1100 + 100 * b)]))
            wait_indexed(d, c)
            st["indexed"] = c.seq()
            _, kept = self.forgotten_upto(d, c, st["indexed"], 3000)
            self.assertLess(kept, 50, self.passes(d))  # of 450 keys or more: the pinned ones (m1, LONG, 9)
            self.assertLess(self.keys_in_map(d), 50)
            npasses = len(self.passes(d))
            ix = d.role_pids()["indexer"][0]
            os.kill(ix, signal.SIGSTOP)
            try:
                self.tail_set(c, st)  # after the snapshot: kept whatever the map's size
                self.verify(c, st, "forgotten, tail unindexed")
                self.assertEqual(len(self.passes(d)), npasses)  # under the bound: no pass
            finally:
                os.kill(ix, signal.SIGCONT)
            wait_indexed(d, c)
            _, kept = self.forgotten_upto(d, c, st["last"], 5000)  # the tail forgotten too
            self.assertLess(kept, 50, self.passes(d))
            self.verify(c, st, "tail forgotten too")
            self.finish(c, st)
            for i in (1000, 1399):
                self.err(c.commit([ins(T, i, "dup")]), "23505")
            self.ok(c.commit([upd(T, 1200, "still there")]))
            c.close()


if __name__ == "__main__":
    unittest.main()
