"""Isolation levels with two real clients against the real daemon.

For each level (READ COMMITTED, REPEATABLE READ, SERIALIZABLE) the classic
anomalies are played step by step by two connections (two sessions, on any of
the two query workers) and the outcome is asserted to be exactly what
docs/query-language.md ("Transactions", the anomaly table) says that level
allows or rejects with 40001: dirty read, non-repeatable read, phantom, read
skew, lost update (read-modify-write across statements, and an UPDATE racing
a commit), write skew (on rows, and through a phantom). Also: 25P02 after a
failed statement until ROLLBACK (COMMIT of a failed transaction rolls back
with 40000), savepoints (ROLLBACK TO, RELEASE, 3B001, leaving the failed
state), read-your-own-writes, one transaction = one seq, 25001 for a nested
BEGIN."""
import itertools
import unittest

import driftdb
from driftharness import Daemon

RC, RR, SER = "READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE"
LEVELS = (RC, RR, SER)

# What docs/query-language.md promises: True = the anomaly can happen, False = it cannot
# (for write conflicts: the later commit gets 40001).
ALLOWS = {
    "dirty read": {RC: False, RR: False, SER: False},
    "non-repeatable read": {RC: True, RR: False, SER: False},
    "phantom": {RC: True, RR: False, SER: False},
    "read skew": {RC: True, RR: False, SER: False},
    "lost update": {RC: True, RR: False, SER: False},
    "write skew": {RC: True, RR: True, SER: False},
}

_names = itertools.count(1)


def sqlstate(exc):
    return getattr(exc, "sqlstate", None)


class IsolationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(query_workers=2).start()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.close()

    def setUp(self):
        self.c1 = driftdb.connect(self.daemon.endpoint, timeout=30)
        self.c2 = driftdb.connect(self.daemon.endpoint, timeout=30)
        self.admin = driftdb.connect(self.daemon.endpoint, timeout=30)

    def tearDown(self):
        for c in (self.c1, self.c2, self.admin):
            try:
                c.cursor().execute("ROLLBACK")
            except driftdb.Error:
                pass
            c.close()

    # helpers
    def q(self, conn, sql, params=None):
        cur = conn.cursor()
        cur.execute(sql, params)
        return cur

    def rows(self, conn, sql, params=None):
        return self.q(conn, sql, params).fetchall()

    def one(self, conn, sql, params=None):
        r = self.rows(conn, sql, params)
        self.assertEqual(len(r), 1, (sql, r))
        return r[0][0]

    def table(self, rows):
        """A fresh table t_N (k INTEGER PRIMARY KEY, v INTEGER) holding rows; returns its name."""
        name = "t_%d" % next(_names)
        self.q(self.admin, "CREATE TABLE %s (k INTEGER PRIMARY KEY, v INTEGER)" % name)
        if rows:
            vals = ", ".join("(%d, %d)" % kv for kv in rows)
            self.q(self.admin, "INSERT INTO %s (k, v) VALUES %s" % (name, vals))
        return name

    def begin(self, conn, level):
        self.q(conn, "BEGIN ISOLATION LEVEL %s" % level)

    def commit_or_40001(self, conn):
        """COMMIT; returns True when it committed, False on 40001 (anything else fails the test)."""
        try:
            self.q(conn, "COMMIT")
            return True
        except driftdb.Error as e:
            self.assertEqual(sqlstate(e), "40001", "COMMIT failed with %r, expected success or 40001" % e)
            return False

    def write_or_40001(self, conn, sql, params=None):
        """A write inside a transaction: True when accepted, False on 40001 (the transaction is then rolled back)."""
        try:
            self.q(conn, sql, params)
            return True
        except driftdb.Error as e:
            self.assertEqual(sqlstate(e), "40001", "%s failed with %r, expected success or 40001" % (sql, e))
            self.q(conn, "ROLLBACK")
            return False

    # ------------------------------------------------------------------ anomalies, per level

    def check_dirty_read(self, level):
        t = self.table([(1, 10)])
        self.begin(self.c2, level)
        self.q(self.c2, "UPDATE %s SET v = 99 WHERE k = 1" % t)
        self.begin(self.c1, level)
        seen = self.one(self.c1, "SELECT v FROM %s WHERE k = 1" % t)
        self.q(self.c1, "COMMIT")
        self.q(self.c2, "ROLLBACK")
        self.assertEqual(seen == 99, ALLOWS["dirty read"][level], (level, seen))
        self.assertEqual(self.one(self.admin, "SELECT v FROM %s WHERE k = 1" % t), 10)

    def check_non_repeatable_read(self, level):
        t = self.table([(1, 50)])
        self.begin(self.c1, level)
        first = self.one(self.c1, "SELECT v FROM %s WHERE k = 1" % t)
        self.q(self.c2, "UPDATE %s SET v = 60 WHERE k = 1" % t)  # autocommit
        second = self.one(self.c1, "SELECT v FROM %s WHERE k = 1" % t)
        self.q(self.c1, "COMMIT")
        self.assertEqual(first, 50)
        self.assertEqual(second != first, ALLOWS["non-repeatable read"][level], (level, first, second))
        self.assertIn(second, (50, 60))

    def check_phantom(self, level):
        t = self.table([(1, 20), (2, 30), (3, 5)])
        self.begin(self.c1, level)
        first = self.one(self.c1, "SELECT count(*) FROM %s WHERE v > 10" % t)
        self.q(self.c2, "INSERT INTO %s (k, v) VALUES (4, 40)" % t)
        second = self.one(self.c1, "SELECT count(*) FROM %s WHERE v > 10" % t)
        ks = [r[0] for r in self.rows(self.c1, "SELECT k FROM %s WHERE v > 10 ORDER BY k" % t)]
        self.q(self.c1, "COMMIT")  # read-only: always commits
        self.assertEqual(first, 2)
        self.assertEqual(second == 3, ALLOWS["phantom"][level], (level, first, second))
        self.assertEqual(ks, [1, 2, 4] if ALLOWS["phantom"][level] else [1, 2])

    def check_read_skew(self, level):
        # invariant: v(1) + v(2) = 100
        t = self.table([(1, 50), (2, 50)])
        self.begin(self.c1, level)
        a = self.one(self.c1, "SELECT v FROM %s WHERE k = 1" % t)
        self.q(self.c2, "BEGIN")
        self.q(self.c2, "UPDATE %s SET v = 25 WHERE k = 1" % t)
        self.q(self.c2, "UPDATE %s SET v = 75 WHERE k = 2" % t)
        self.q(self.c2, "COMMIT")
        b = self.one(self.c1, "SELECT v FROM %s WHERE k = 2" % t)
        total = self.one(self.c1, "SELECT sum(v) FROM %s" % t)
        self.q(self.c1, "COMMIT")
        self.assertEqual(a + b != 100, ALLOWS["read skew"][level], (level, a, b))
        # one statement always sees one consistent state
        self.assertEqual(total, 100)

    def check_lost_update(self, level):
        # read-modify-write in the client, both add to the balance read
        t = self.table([(1, 100)])
        self.begin(self.c1, level)
        self.begin(self.c2, level)
        v1 = self.one(self.c1, "SELECT v FROM %s WHERE k = 1" % t)
        v2 = self.one(self.c2, "SELECT v FROM %s WHERE k = 1" % t)
        self.assertEqual((v1, v2), (100, 100))
        self.q(self.c2, "UPDATE %s SET v = $1 WHERE k = 1" % t, [v2 + 10])
        self.assertTrue(self.commit_or_40001(self.c2), "the first committer must win")
        ok = self.write_or_40001(self.c1, "UPDATE %s SET v = $1 WHERE k = 1" % t, [v1 + 20])
        if ok:
            ok = self.commit_or_40001(self.c1)
        final = self.one(self.admin, "SELECT v FROM %s WHERE k = 1" % t)
        if ALLOWS["lost update"][level]:
            self.assertTrue(ok, "%s: the second writer must commit (lost update allowed)" % level)
            self.assertEqual(final, 120)  # c2's +10 is lost
        else:
            self.assertFalse(ok, "%s: the second writer must get 40001" % level)
            self.assertEqual(final, 110)

    def check_update_race(self, level):
        # UPDATE v = v + 20 pending in c1; c2 commits v = v + 10 before c1 commits: never lost, at any level
        t = self.table([(1, 100)])
        self.begin(self.c1, level)
        self.q(self.c1, "UPDATE %s SET v = v + 20 WHERE k = 1" % t)
        self.q(self.c2, "UPDATE %s SET v = v + 10 WHERE k = 1" % t)  # autocommit
        ok = self.commit_or_40001(self.c1)
        final = self.one(self.admin, "SELECT v FROM %s WHERE k = 1" % t)
        self.assertFalse(ok, "%s: a commit over a key written after the statement's snapshot is 40001" % level)
        self.assertEqual(final, 110)

    def check_write_skew(self, level):
        # two doctors on call (v = 1); each goes off call if the other still is
        t = self.table([(1, 1), (2, 1)])
        self.begin(self.c1, level)
        self.begin(self.c2, level)
        n1 = self.one(self.c1, "SELECT count(*) FROM %s WHERE v = 1" % t)
        n2 = self.one(self.c2, "SELECT count(*) FROM %s WHERE v = 1" % t)
        self.assertEqual((n1, n2), (2, 2))
        self.q(self.c1, "UPDATE %s SET v = 0 WHERE k = 1" % t)
        self.q(self.c2, "UPDATE %s SET v = 0 WHERE k = 2" % t)
        ok1 = self.commit_or_40001(self.c1)
        ok2 = self.commit_or_40001(self.c2)
        self.assertTrue(ok1, "the first committer commits")
        on_call = self.one(self.admin, "SELECT count(*) FROM %s WHERE v = 1" % t)
        if ALLOWS["write skew"][level]:
            self.assertTrue(ok2, "%s allows write skew: both commit" % level)
            self.assertEqual(on_call, 0)
        else:
            self.assertFalse(ok2, "%s rejects write skew with 40001" % level)
            self.assertEqual(on_call, 1)

    def check_phantom_write_skew(self, level):
        # each inserts a row if the table holds fewer than 3 (a predicate read, not a key read)
        t = self.table([(1, 1), (2, 1)])
        self.begin(self.c1, level)
        self.begin(self.c2, level)
        self.assertEqual(self.one(self.c1, "SELECT count(*) FROM %s" % t), 2)
        self.assertEqual(self.one(self.c2, "SELECT count(*) FROM %s" % t), 2)
        self.q(self.c1, "INSERT INTO %s (k, v) VALUES (10, 1)" % t)
        self.q(self.c2, "INSERT INTO %s (k, v) VALUES (20, 1)" % t)
        ok1 = self.commit_or_40001(self.c1)
        ok2 = self.commit_or_40001(self.c2)
        self.assertTrue(ok1)
        n = self.one(self.admin, "SELECT count(*) FROM %s" % t)
        if ALLOWS["write skew"][level]:
            self.assertTrue(ok2)
            self.assertEqual(n, 4)
        else:
            self.assertFalse(ok2)
            self.assertEqual(n, 3)

    def run_levels(self, check):
        for level in LEVELS:
            with self.subTest(level=level):
                check(level)

    def test_dirty_read(self):
        self.run_levels(self.check_dirty_read)

    def test_non_repeatable_read(self):
        self.run_levels(self.check_non_repeatable_read)

    def test_phantom(self):
        self.run_levels(self.check_phantom)

    def test_read_skew(self):
        self.run_levels(self.check_read_skew)

    def test_lost_update(self):
        self.run_levels(self.check_lost_update)

    def test_update_race(self):
        self.run_levels(self.check_update_race)

    def test_write_skew(self):
        self.run_levels(self.check_write_skew)

    def test_phantom_write_skew(self):
        self.run_levels(self.check_phantom_write_skew)

    def test_default_level_is_repeatable_read(self):
        t = self.table([(1, 50)])
        self.q(self.c1, "BEGIN")
        first = self.one(self.c1, "SELECT v FROM %s WHERE k = 1" % t)
        self.q(self.c2, "UPDATE %s SET v = 60 WHERE k = 1" % t)
        second = self.one(self.c1, "SELECT v FROM %s WHERE k = 1" % t)
        self.q(self.c1, "COMMIT")
        self.assertEqual((first, second), (50, 50))

    # ------------------------------------------------------------------ transaction mechanics

    def test_failed_transaction_25p02_until_rollback(self):
        t = self.table([])
        self.q(self.c1, "BEGIN")
        self.q(self.c1, "INSERT INTO %s (k, v) VALUES (1, 1)" % t)
        with self.assertRaises(driftdb.Error) as cm:
            self.q(self.c1, "SELECT * FROM no_such_table_here")
        self.assertEqual(sqlstate(cm.exception), "42P01")
        for sql in ("SELECT 1", "INSERT INTO %s (k, v) VALUES (2, 2)" % t, "SAVEPOINT s"):
            with self.assertRaises(driftdb.Error) as cm:
                self.q(self.c1, sql)
            self.assertEqual(sqlstate(cm.exception), "25P02", sql)
        self.q(self.c1, "ROLLBACK")
        self.assertEqual(self.one(self.c1, "SELECT 1"), 1)  # usable again
        self.assertEqual(self.one(self.admin, "SELECT count(*) FROM %s" % t), 0)  # nothing committed

    def test_commit_of_failed_transaction_rolls_back(self):
        t = self.table([])
        self.q(self.c1, "BEGIN")
        self.q(self.c1, "INSERT INTO %s (k, v) VALUES (1, 1)" % t)
        with self.assertRaises(driftdb.Error):
            self.q(self.c1, "INSERT INTO %s (k, v) VALUES (1, 2)" % t)  # duplicate key in the same transaction
        with self.assertRaises(driftdb.Error) as cm:
            self.q(self.c1, "COMMIT")
        self.assertEqual(sqlstate(cm.exception), "40000")
        self.assertEqual(self.one(self.admin, "SELECT count(*) FROM %s" % t), 0)
        self.assertEqual(self.one(self.c1, "SELECT 2"), 2)  # the session is idle again

    def test_nested_begin_25001(self):
        self.q(self.c1, "BEGIN")
        with self.assertRaises(driftdb.Error) as cm:
            self.q(self.c1, "BEGIN")
        self.assertEqual(sqlstate(cm.exception), "25001")
        self.q(self.c1, "ROLLBACK")

    def test_savepoints(self):
        t = self.table([])
        self.q(self.c1, "BEGIN")
        self.q(self.c1, "INSERT INTO %s (k, v) VALUES (1, 1)" % t)
        self.q(self.c1, "SAVEPOINT a")
        self.q(self.c1, "INSERT INTO %s (k, v) VALUES (2, 2)" % t)
        self.q(self.c1, "SAVEPOINT b")
        self.q(self.c1, "UPDATE %s SET v = 100 WHERE k = 1" % t)
        self.assertEqual(self.rows(self.c1, "SELECT k, v FROM %s ORDER BY k" % t), [(1, 100), (2, 2)])
        self.q(self.c1, "ROLLBACK TO SAVEPOINT b")
        self.assertEqual(self.rows(self.c1, "SELECT k, v FROM %s ORDER BY k" % t), [(1, 1), (2, 2)])
        self.q(self.c1, "ROLLBACK TO a")
        self.assertEqual(self.rows(self.c1, "SELECT k, v FROM %s ORDER BY k" % t), [(1, 1)])
        self.q(self.c1, "INSERT INTO %s (k, v) VALUES (3, 3)" % t)
        self.q(self.c1, "RELEASE SAVEPOINT a")
        with self.assertRaises(driftdb.Error) as cm:
            self.q(self.c1, "ROLLBACK TO b")  # released with a
        self.assertEqual(sqlstate(cm.exception), "3B001")
        self.q(self.c1, "ROLLBACK")
        self.assertEqual(self.one(self.admin, "SELECT count(*) FROM %s" % t), 0)

        # a savepoint survives a failed statement: ROLLBACK TO leaves the failed state
        self.q(self.c1, "BEGIN")
        self.q(self.c1, "INSERT INTO %s (k, v) VALUES (1, 1)" % t)
        self.q(self.c1, "SAVEPOINT s")
        with self.assertRaises(driftdb.Error):
            self.q(self.c1, "INSERT INTO %s (k, v) VALUES (1, 9)" % t)
        with self.assertRaises(driftdb.Error) as cm:
            self.q(self.c1, "SELECT 1")
        self.assertEqual(sqlstate(cm.exception), "25P02")
        self.q(self.c1, "ROLLBACK TO SAVEPOINT s")
        self.q(self.c1, "INSERT INTO %s (k, v) VALUES (2, 2)" % t)
        self.q(self.c1, "COMMIT")
        self.assertEqual(self.rows(self.admin, "SELECT k, v FROM %s ORDER BY k" % t), [(1, 1), (2, 2)])

    def test_savepoint_outside_transaction(self):
        with self.assertRaises(driftdb.Error) as cm:
            self.q(self.c1, "SAVEPOINT x")
        self.assertEqual(sqlstate(cm.exception), "25P01")

    def test_read_your_own_writes(self):
        t = self.table([(1, 1)])
        for level in LEVELS:
            with self.subTest(level=level):
                self.begin(self.c1, level)
                self.q(self.c1, "INSERT INTO %s (k, v) VALUES (5, 50)" % t)
                self.assertEqual(self.one(self.c1, "SELECT v FROM %s WHERE k = 5" % t), 50)
                # history never shows pending writes
                self.assertEqual(self.rows(self.c1, "SELECT k FROM %s FOR SYSTEM_TIME ALL ORDER BY k" % t), [(1,)])
                self.assertEqual(self.rows(self.c2, "SELECT v FROM %s WHERE k = 5" % t), [])  # not visible outside
                self.q(self.c1, "UPDATE %s SET v = v + 1 WHERE k >= 1" % t)
                self.assertEqual(self.rows(self.c1, "SELECT k, v FROM %s ORDER BY k" % t), [(1, 2), (5, 51)])
                self.q(self.c1, "DELETE FROM %s WHERE k = 1" % t)
                self.assertEqual(self.rows(self.c1, "SELECT k, v FROM %s ORDER BY k" % t), [(5, 51)])
                self.assertEqual(self.one(self.c1, "SELECT count(*) FROM %s" % t), 1)
                self.assertEqual(self.rows(self.c2, "SELECT k, v FROM %s ORDER BY k" % t), [(1, 1)])
                self.q(self.c1, "ROLLBACK")
                self.assertEqual(self.rows(self.c2, "SELECT k, v FROM %s ORDER BY k" % t), [(1, 1)])

    def test_read_only_transactions_commit(self):
        # a read-only transaction commits at every level, whatever changed meanwhile
        t = self.table([(1, 1), (2, 2)])
        for level in LEVELS:
            with self.subTest(level=level):
                self.begin(self.c1, level)
                self.rows(self.c1, "SELECT * FROM %s" % t)
                self.q(self.c2, "UPDATE %s SET v = v + 1" % t)
                self.rows(self.c1, "SELECT v FROM %s WHERE k = 1" % t)
                self.q(self.c1, "COMMIT")

    def test_one_transaction_one_seq(self):
        t = self.table([])
        self.q(self.c1, "BEGIN")
        for k in (1, 2, 3):
            self.q(self.c1, "INSERT INTO %s (k, v) VALUES ($1, $2)" % t, [k, k * 10])
        self.q(self.c1, "UPDATE %s SET v = 0 WHERE k = 2" % t)
        cur = self.q(self.c1, "COMMIT")
        seq = cur.seq
        self.assertIsInstance(seq, int)
        rows = self.rows(self.admin, "SELECT k, v, _seq FROM %s ORDER BY k" % t)
        self.assertEqual(rows, [(1, 10, seq), (2, 0, seq), (3, 30, seq)])
        before = self.rows(self.admin, "SELECT k FROM %s AS OF @seq:%d" % (t, seq - 1))
        self.assertEqual(before, [])


if __name__ == "__main__":
    unittest.main()
