"""READ COMMITTED re-evaluation of single-row UPDATEs, against the real daemon.

Under READ COMMITTED, an UPDATE whose every SET is `c = c + k` / `c = c - k`
(INTEGER or REAL column, k a constant or parameter) or `c = k`, on columns
outside the primary key and UNIQUE indexes, with a WHERE of primary-key
equality, is applied at COMMIT to the newest committed version of the row when
another commit changed it after the statement read it (PostgreSQL's
EvalPlanQual), instead of failing with 40001 (docs/query-language.md,
"Isolation levels"; docs/architecture.md, "Commit path"). Checked here:
concurrent clients never fail and never lose an increment (every version in
the history), a transaction that read its own re-evaluable row still gets
40001, a concurrently deleted row is 40001, REAL columns, integer overflow on
re-evaluation is 22003 like the worker's, `c = k` mixed with deltas, columns
the update did not set come from the newest version, and the forms and
isolation levels that are not re-evaluated keep the write-write rule (40001).
The daemon runs with `keymap_forget_at = 20`: the writer's key map forgets
indexed keys all the time (the concurrent increments run beside a stream of
new keys), and the keys whose latest row is in the re-evaluation cache must
stay (a re-evaluation after a sweep past the cached commit fails with 40001
when the sweep drops them; docs/storage.md, "Forgetting keys while the writer
runs")."""
import itertools
import re
import threading
import unittest

import driftdb
from driftharness import DaemonTestCase

RC, RR, SER = "READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE"
_names = itertools.count(1)


def sqlstate(exc):
    return getattr(exc, "sqlstate", None)


class RcUpdateTest(DaemonTestCase):
    DAEMON_OPTIONS = {"query_workers": 2, "config": {"keymap_forget_at": "20", "log_level": "debug"}}

    def setUp(self):
        self.conns = []
        self.c1, self.c2, self.admin = self.connect(), self.connect(), self.connect()

    def tearDown(self):
        for c in self.conns:
            try:
                c.cursor().execute("ROLLBACK")
            except driftdb.Error:
                pass
            c.close()

    def connect(self):
        c = driftdb.connect(self.d.endpoint, timeout=60)
        self.conns.append(c)
        return c

    def on(self, conn, sql, params=None):
        cur = conn.cursor()
        cur.execute(sql, params)
        return cur

    def one(self, conn, sql, params=None):
        r = self.on(conn, sql, params).fetchall()
        self.assertEqual(len(r), 1, (sql, r))
        return r[0][0] if len(r[0]) == 1 else tuple(r[0])

    def table(self, cols, rows):
        """A fresh table named t_N with columns cols (SQL) holding rows; returns its name."""
        name = "t_%d" % next(_names)
        self.on(self.admin, "CREATE TABLE %s (%s)" % (name, cols))
        for r in rows:
            self.on(self.admin, "INSERT INTO %s VALUES (%s)" % (name, ", ".join("$%d" % (i + 1) for i in range(len(r)))),
                   list(r))
        return name

    def commit_state(self, conn):
        """COMMIT; returns None when it committed, else the SQLSTATE (the transaction is over either way)."""
        try:
            self.on(conn, "COMMIT")
            return None
        except driftdb.Error as e:
            try:
                self.on(conn, "ROLLBACK")
            except driftdb.Error:
                pass
            return sqlstate(e)

    def race(self, table, mine, theirs, level=RC, their_level=RC, read_back=None):
        """c1 runs `mine` in a transaction at level; c2 then commits `theirs` (a transaction at their_level);
        then c1 commits. Returns c1's COMMIT outcome (None or the SQLSTATE)."""
        self.on(self.c1, "BEGIN ISOLATION LEVEL %s" % level)
        for sql, params in mine:
            self.on(self.c1, sql, params)
        if read_back:
            self.on(self.c1, read_back).fetchall()
        self.on(self.c2, "BEGIN ISOLATION LEVEL %s" % their_level)
        for sql, params in theirs:
            self.on(self.c2, sql, params)
        self.assertIsNone(self.commit_state(self.c2), "the first committer commits")
        return self.commit_state(self.c1)

    # ---------------------------------------------------------------- re-evaluated

    def test_concurrent_increments_never_fail_nor_get_lost(self):
        n_clients, n_txns, n_tellers = 6, 12, 3
        b = self.table("id INTEGER PRIMARY KEY, bal INTEGER", [(1, 0)])
        t = self.table("id INTEGER PRIMARY KEY, bal INTEGER", [(i, 0) for i in range(1, n_tellers + 1)])
        failures, errors = [], []
        start = threading.Barrier(n_clients)

        def client(k):
            c = driftdb.connect(self.d.endpoint, timeout=60)
            try:
                start.wait()
                done = 0
                while done < n_txns:
                    tid = (k + done) % n_tellers + 1
                    try:
                        self.on(c, "BEGIN ISOLATION LEVEL READ COMMITTED")
                        self.on(c, "UPDATE %s SET bal = bal + 1 WHERE id = 1" % b)
                        self.on(c, "UPDATE %s SET bal = bal + 1 WHERE id = $1" % t, [tid])
                        self.on(c, "COMMIT")
                        done += 1
                    except driftdb.Error as e:
                        try:
                            self.on(c, "ROLLBACK")
                        except driftdb.Error:
                            pass
                        if sqlstate(e) != "40001":
                            errors.append(repr(e))
                            return
                        failures.append(k)  # retried
            finally:
                c.close()

        side = self.table("id INTEGER PRIMARY KEY", [])
        passes0 = len(re.findall(r"key map: pass ", self.d.log()))
        stop = threading.Event()

        def filler():  # new keys all along: the key map passes its bound and sweeps while the clients run
            c, i = driftdb.connect(self.d.endpoint, timeout=60), 0
            try:
                while not stop.is_set():
                    self.on(c, "INSERT INTO %s VALUES %s" % (side, ", ".join("(%d)" % (i + j) for j in range(40))))
                    i += 40
            finally:
                c.close()

        fill = threading.Thread(target=filler)
        fill.start()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(n_clients)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        stop.set()
        fill.join()
        self.assertGreater(len(re.findall(r"key map: pass ", self.d.log())), passes0, "the key map never swept")
        total = n_clients * n_txns
        self.assertEqual(errors, [])
        self.assertEqual(len(failures), 0, "READ COMMITTED delta updates must not fail with 40001")
        self.assertEqual(self.one(self.admin, "SELECT bal FROM %s WHERE id = 1" % b), total)
        self.assertEqual(self.one(self.admin, "SELECT sum(bal) FROM %s" % t), total)
        hist = [r[0] for r in self.on(self.admin, "SELECT bal FROM %s FOR SYSTEM_TIME ALL WHERE id = 1 ORDER BY _seq"
                                     % b).fetchall()]
        self.assertEqual(hist, list(range(total + 1)), "every increment is one version, none lost")

    def test_reevaluated_on_the_newest_version(self):
        # c1's pending +1 is applied on top of c2's committed +10 (and c2's other column survives)
        t = self.table("id INTEGER PRIMARY KEY, bal INTEGER, other TEXT", [(1, 100, "a")])
        state = self.race(t, [("UPDATE %s SET bal = bal + 1 WHERE id = $1" % t, [1])],
                          [("UPDATE %s SET bal = bal + 10, other = 'b' WHERE id = 1" % t, None)])
        self.assertIsNone(state, "the READ COMMITTED update is re-evaluated, not 40001")
        self.assertEqual(self.one(self.admin, "SELECT bal, other FROM %s WHERE id = 1" % t), (111, "b"))
        # a third one, re-evaluated on the re-evaluated row, with a minus and a parameter
        state = self.race(t, [("UPDATE %s SET bal = bal - $1 WHERE id = 1" % t, [7])],
                          [("UPDATE %s SET bal = bal + 1000 WHERE id = 1" % t, None)])
        self.assertIsNone(state)
        self.assertEqual(self.one(self.admin, "SELECT bal FROM %s WHERE id = 1" % t), 1104)
        hist = [r[0] for r in self.on(self.admin, "SELECT bal FROM %s FOR SYSTEM_TIME ALL WHERE id = 1 ORDER BY _seq"
                                     % t).fetchall()]
        self.assertEqual(hist, [100, 110, 111, 1111, 1104])

    def test_reevaluated_after_the_key_map_swept(self):
        # c2's committed +10 leaves the row in the writer's re-evaluation cache; then the key map sweeps past that
        # commit (new keys, indexed); c1's pending +1 still re-evaluates on it. Fails (40001) when the sweep drops
        # the entries the cache names.
        t = self.table("id INTEGER PRIMARY KEY, bal INTEGER", [(1, 100)])
        side = self.table("id INTEGER PRIMARY KEY", [])
        self.on(self.c1, "BEGIN ISOLATION LEVEL READ COMMITTED")
        self.on(self.c1, "UPDATE %s SET bal = bal + 1 WHERE id = 1" % t)
        self.on(self.c2, "BEGIN ISOLATION LEVEL READ COMMITTED")
        self.on(self.c2, "UPDATE %s SET bal = bal + 10 WHERE id = 1" % t)
        self.assertIsNone(self.commit_state(self.c2))
        after = self.d.metrics()[("driftdb_commit_seq", frozenset())]
        for i in range(0, 4000, 100):
            if any(int(a) >= after for a in re.findall(r"key map: pass \d+ over seqs up to \d+\.\.(\d+)", self.d.log())):
                break
            self.on(self.admin, "INSERT INTO %s VALUES %s" % (side, ", ".join("(%d)" % j for j in range(i, i + 100))))
        else:
            self.fail("the key map never swept past the commit")
        self.assertIsNone(self.commit_state(self.c1), "re-evaluated on the cached row, not 40001")
        self.assertEqual(self.one(self.admin, "SELECT bal FROM %s WHERE id = 1" % t), 111)

    def test_real_column(self):
        t = self.table("id INTEGER PRIMARY KEY, x REAL", [(1, 1.5)])
        state = self.race(t, [("UPDATE %s SET x = x + 0.25 WHERE id = 1" % t, None)],
                          [("UPDATE %s SET x = x + $1 WHERE id = 1" % t, [2])])
        self.assertIsNone(state)
        self.assertEqual(self.one(self.admin, "SELECT x FROM %s WHERE id = 1" % t), 3.75)

    def test_set_constant_mixed_with_delta(self):
        t = self.table("id INTEGER PRIMARY KEY, bal INTEGER, note TEXT, other INTEGER", [(1, 100, "x", 0)])
        state = self.race(t, [("UPDATE %s SET bal = bal + 1, note = $1 WHERE id = 1" % t, ["mine"])],
                          [("UPDATE %s SET bal = bal + 10, note = 'theirs', other = 7 WHERE id = 1" % t, None)])
        self.assertIsNone(state)
        self.assertEqual(self.one(self.admin, "SELECT bal, note, other FROM %s WHERE id = 1" % t), (111, "mine", 7))

    def test_overflow_on_reevaluation(self):
        big = 9223372036854775800
        t = self.table("id INTEGER PRIMARY KEY, bal INTEGER", [(1, big), (2, big + 5)])
        # what the worker answers when it computes the same overflow itself
        try:
            self.on(self.admin, "UPDATE %s SET bal = bal + 5 WHERE id = 2" % t)
            worker = None
        except driftdb.Error as e:
            worker = sqlstate(e)
        self.assertEqual(worker, "22003")
        state = self.race(t, [("UPDATE %s SET bal = bal + 5 WHERE id = 1" % t, None)],
                          [("UPDATE %s SET bal = bal + 5 WHERE id = 1" % t, None)])
        self.assertEqual(state, worker, "re-evaluation overflows like the worker")
        self.assertEqual(self.one(self.admin, "SELECT bal FROM %s WHERE id = 1" % t), big + 5)

    # ---------------------------------------------------------------- still 40001

    def test_read_of_own_delta_row_keeps_40001(self):
        t = self.table("id INTEGER PRIMARY KEY, bal INTEGER", [(1, 100)])
        state = self.race(t, [("UPDATE %s SET bal = bal + 1 WHERE id = 1" % t, None)],
                          [("UPDATE %s SET bal = bal + 10 WHERE id = 1" % t, None)],
                          read_back="SELECT bal FROM %s WHERE id = 1" % t)
        self.assertEqual(state, "40001", "the transaction saw 101: it cannot commit 111")
        self.assertEqual(self.one(self.admin, "SELECT bal FROM %s WHERE id = 1" % t), 110)
        # a second update of the same row reads the pending row: 40001 too
        state = self.race(t, [("UPDATE %s SET bal = bal + 1 WHERE id = 1" % t, None),
                              ("UPDATE %s SET bal = bal + 1 WHERE id = 1" % t, None)],
                          [("UPDATE %s SET bal = bal + 10 WHERE id = 1" % t, None)])
        self.assertEqual(state, "40001")
        self.assertEqual(self.one(self.admin, "SELECT bal FROM %s WHERE id = 1" % t), 120)
        # the same without the concurrent commit goes through
        self.on(self.c1, "BEGIN ISOLATION LEVEL READ COMMITTED")
        self.on(self.c1, "UPDATE %s SET bal = bal + 1 WHERE id = 1" % t)
        self.assertEqual(self.one(self.c1, "SELECT bal FROM %s WHERE id = 1" % t), 121)
        self.assertIsNone(self.commit_state(self.c1))

    def test_deleted_row_is_40001(self):
        t = self.table("id INTEGER PRIMARY KEY, bal INTEGER", [(1, 100)])
        # cache the row through a re-evaluable commit first
        self.on(self.admin, "BEGIN ISOLATION LEVEL READ COMMITTED")
        self.on(self.admin, "UPDATE %s SET bal = bal + 1 WHERE id = 1" % t)
        self.on(self.admin, "COMMIT")
        state = self.race(t, [("UPDATE %s SET bal = bal + 1 WHERE id = 1" % t, None)],
                          [("DELETE FROM %s WHERE id = 1" % t, None)])
        self.assertEqual(state, "40001")
        self.assertEqual(self.one(self.admin, "SELECT count(*) FROM %s" % t), 0)

    def test_forms_not_reevaluated(self):
        forms = [
            ("id INTEGER PRIMARY KEY, bal INTEGER, b INTEGER", "UPDATE {t} SET bal = b + 1 WHERE id = 1"),
            ("id INTEGER PRIMARY KEY, bal INTEGER, b INTEGER", "UPDATE {t} SET bal = bal * 2 WHERE id = 1"),
            ("id INTEGER PRIMARY KEY, bal INTEGER, b INTEGER", "UPDATE {t} SET bal = bal + 1 WHERE b = 0"),
            ("id INTEGER PRIMARY KEY, bal INTEGER, b INTEGER", "UPDATE {t} SET bal = bal + 1 WHERE id = 1 AND bal > 0"),
            ("id INTEGER PRIMARY KEY, bal INTEGER, b INTEGER UNIQUE", "UPDATE {t} SET b = b + 1 WHERE id = 1"),
            ("id INTEGER PRIMARY KEY, bal TEXT, b INTEGER", "UPDATE {t} SET bal = bal + 1 WHERE id = 1"),
        ]
        for cols, sql in forms:
            with self.subTest(sql=sql, cols=cols):
                t = self.table(cols, [(1, 100, 0)])
                state = self.race(t, [(sql.format(t=t), None)],
                                  [("UPDATE %s SET bal = bal + 10 WHERE id = 1" % t, None)])
                self.assertEqual(state, "40001")

    def test_other_levels_keep_40001(self):
        for level in (RR, SER):
            with self.subTest(level=level):
                t = self.table("id INTEGER PRIMARY KEY, bal INTEGER", [(1, 100)])
                state = self.race(t, [("UPDATE %s SET bal = bal + 1 WHERE id = 1" % t, None)],
                                  [("UPDATE %s SET bal = bal + 10 WHERE id = 1" % t, None)], level=level)
                self.assertEqual(state, "40001")
                self.assertEqual(self.one(self.admin, "SELECT bal FROM %s WHERE id = 1" % t), 110)

    def test_altered_table_keeps_40001(self):
        t = self.table("id INTEGER PRIMARY KEY, bal INTEGER", [(1, 100)])
        self.on(self.c1, "BEGIN ISOLATION LEVEL READ COMMITTED")
        self.on(self.c1, "UPDATE %s SET bal = bal + 1 WHERE id = 1" % t)
        self.on(self.admin, "ALTER TABLE %s ADD COLUMN z INTEGER" % t)
        self.assertEqual(self.commit_state(self.c1), "40001")

    def test_rejected_transaction_leaves_no_row_behind(self):
        # c1's re-evaluable update is in a transaction the writer rejects (23505 on its insert): nothing of it may
        # be used by a later re-evaluation
        t = self.table("id INTEGER PRIMARY KEY, bal INTEGER", [(1, 100)])
        h = self.table("id INTEGER PRIMARY KEY", [])
        state = self.race(t, [("UPDATE %s SET bal = bal + 1 WHERE id = 1" % t, None),
                              ("INSERT INTO %s VALUES (5)" % h, None)],
                          [("UPDATE %s SET bal = bal + 10 WHERE id = 1" % t, None),
                           ("INSERT INTO %s VALUES (5)" % h, None)])
        self.assertEqual(state, "23505")
        self.assertEqual(self.one(self.admin, "SELECT bal FROM %s WHERE id = 1" % t), 110)
        state = self.race(t, [("UPDATE %s SET bal = bal + 2 WHERE id = 1" % t, None)],
                          [("UPDATE %s SET bal = bal + 20 WHERE id = 1" % t, None)])
        self.assertIsNone(state)
        self.assertEqual(self.one(self.admin, "SELECT bal FROM %s WHERE id = 1" % t), 132)
        hist = [r[0] for r in self.on(self.admin, "SELECT bal FROM %s FOR SYSTEM_TIME ALL WHERE id = 1 ORDER BY _seq"
                                     % t).fetchall()]
        self.assertEqual(hist, [100, 110, 130, 132])


if __name__ == "__main__":
    unittest.main()
