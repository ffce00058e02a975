#!/usr/bin/python3
"""SQL views through the real daemon (issue 7): CREATE VIEW [IF NOT EXISTS],
DROP VIEW [IF EXISTS]; a view in FROM like a table (joins, aliases, WHERE on
its columns, nested views, SELECT *); history-aware: a view read AS OF @seq:N
reads its tables as of N and its own definition as of N (a dropped view is
readable as of before the drop, a view created after N does not exist as of
N); name clashes (42P07), a view over a missing table (42P01), writes to a
view (42809); views survive a restart; `driftctl verify --indexes` finds no
difference once views exist."""
import os
import subprocess
import tempfile
import unittest

import driftdb
import driftharness as H
from driftharness import Daemon, DaemonTestCase

DRIFTCTL = os.path.join(H.BUILDDIR, "driftctl")


def driftctl(*args, timeout=120):
    p = subprocess.run([DRIFTCTL] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


class ViewTest(DaemonTestCase):
    def test_select_join_where_nested(self):
        self.x("CREATE TABLE emp (id INTEGER PRIMARY KEY, name TEXT, dept INTEGER, pay INTEGER)")
        self.x("CREATE TABLE dept (id INTEGER PRIMARY KEY, title TEXT)")
        self.x("INSERT INTO emp VALUES (1, 'ann', 1, 100), (2, 'bob', 1, 80), (3, 'cy', 2, 120), (4, 'dee', NULL, 50)")
        self.x("INSERT INTO dept VALUES (1, 'eng'), (2, 'ops')")
        self.x("CREATE VIEW rich AS SELECT id, name AS who, pay FROM emp WHERE pay >= 80")
        self.assertEqual(self.q("SELECT * FROM rich ORDER BY id"), [(1, "ann", 100), (2, "bob", 80), (3, "cy", 120)])
        self.assertEqual(self.q("SELECT who FROM rich WHERE pay > 90 ORDER BY who"), [("ann",), ("cy",)])
        self.assertEqual(self.q("SELECT r.who, d.title FROM rich r JOIN emp e ON e.id = r.id "
                                "JOIN dept d ON d.id = e.dept ORDER BY r.who"),
                         [("ann", "eng"), ("bob", "eng"), ("cy", "ops")])
        self.assertEqual(self.q("SELECT count(*), sum(pay) FROM rich"), [(3, 300)])
        # a view over a join with an aggregate, and a view over views
        self.x("CREATE VIEW dept_pay AS SELECT d.title, sum(e.pay) AS total FROM emp e JOIN dept d ON d.id = e.dept "
               "GROUP BY d.title")
        self.assertEqual(self.q("SELECT * FROM dept_pay ORDER BY title"), [("eng", 180), ("ops", 120)])
        self.x("CREATE VIEW richest AS SELECT who FROM rich WHERE pay = (SELECT max(pay) FROM rich)")
        self.x("CREATE VIEW top_name AS SELECT upper(who) AS w FROM richest")
        self.assertEqual(self.q("SELECT w FROM top_name"), [("CY",)])
        self.assertEqual(self.q("SELECT t.w, r.pay FROM top_name t, rich r WHERE lower(t.w) = r.who"), [("CY", 120)])
        # a view sees later writes to its tables
        self.x("UPDATE emp SET pay = 200 WHERE id = 1")
        self.assertEqual(self.q("SELECT w FROM top_name"), [("ANN",)])
        # a view is not a table: no writes, no DROP TABLE, no index; DROP VIEW of a table is refused
        self.err("42809", "INSERT INTO rich VALUES (9, 'x', 1)")
        self.err("42809", "UPDATE rich SET pay = 1")
        self.err("42809", "DELETE FROM rich")
        self.err("42809", "DROP TABLE rich")
        self.err("42809", "CREATE INDEX rich_pay ON rich (pay)")
        self.err("42809", "DROP VIEW emp")
        self.err("0A000", "SELECT * FROM rich FOR SYSTEM_TIME ALL")

    def test_names_and_if_exists(self):
        self.x("CREATE TABLE nv (a INTEGER PRIMARY KEY)")
        self.err("42P07", "CREATE VIEW nv AS SELECT 1 AS one")
        self.x("CREATE VIEW nv_v AS SELECT a FROM nv")
        self.err("42P07", "CREATE VIEW nv_v AS SELECT 2 AS two")
        self.err("42P07", "CREATE TABLE nv_v (x INTEGER)")
        self.x("CREATE VIEW IF NOT EXISTS nv_v AS SELECT 2 AS two")
        self.assertEqual([d[0] for d in self.x("SELECT * FROM nv_v").description], ["a"])
        self.err("42P01", "CREATE VIEW bad_v AS SELECT * FROM no_such_table")
        self.err("42703", "CREATE VIEW bad_v AS SELECT no_such_col FROM nv")
        self.err("42P01", "SELECT * FROM bad_v")
        self.x("DROP VIEW nv_v")
        self.err("42P01", "SELECT * FROM nv_v")
        self.err("42P01", "DROP VIEW nv_v")
        self.x("DROP VIEW IF EXISTS nv_v")
        # the name is free again, for a table or a view
        self.x("CREATE VIEW nv_v AS SELECT a * 10 AS ten FROM nv")
        self.x("INSERT INTO nv VALUES (3)")
        self.assertEqual(self.q("SELECT ten FROM nv_v"), [(30,)])

    def test_history(self):
        s_before = self.x("CREATE TABLE hv (id INTEGER PRIMARY KEY, v TEXT)").seq
        s_row = self.x("INSERT INTO hv VALUES (1, 'old'), (2, 'two')").seq
        s_view = self.x("CREATE VIEW hv_v AS SELECT id, v FROM hv WHERE id < 10").seq
        s_upd = self.x("UPDATE hv SET v = 'new' WHERE id = 1").seq
        self.assertEqual(self.q("SELECT v FROM hv_v ORDER BY id"), [("new",), ("two",)])
        # AS OF before the update: the view reads its table as of that point
        self.assertEqual(self.q("SELECT v FROM hv_v AS OF @seq:%d ORDER BY id" % s_view), [("old",), ("two",)])
        self.assertEqual(self.q("SELECT v FROM hv_v FOR SYSTEM_TIME AS OF @seq:%d ORDER BY id" % s_upd),
                         [("new",), ("two",)])
        # the view did not exist yet
        self.err("42P01", "SELECT * FROM hv_v AS OF @seq:%d" % s_row)
        self.err("42P01", "SELECT * FROM hv_v AS OF @seq:%d" % s_before)
        # the session default applies to the view and to its tables
        self.x("SET AS OF @seq:%d" % s_view)
        try:
            self.assertEqual(self.q("SELECT v FROM hv_v ORDER BY id"), [("old",), ("two",)])
        finally:
            self.x("SET AS OF DEFAULT")
        # the view over a table altered later: the schema as of each point
        s_alter = self.x("ALTER TABLE hv RENAME COLUMN v TO w").seq
        self.err("42703", "SELECT * FROM hv_v")  # the present view refers to a column that is gone
        self.assertEqual(self.q("SELECT v FROM hv_v AS OF @seq:%d ORDER BY id" % s_upd), [("new",), ("two",)])
        self.x("ALTER TABLE hv ADD COLUMN v TEXT DEFAULT 'dflt'")
        self.assertEqual(self.q("SELECT v FROM hv_v ORDER BY id"), [("dflt",), ("dflt",)])
        self.assertLess(s_upd, s_alter)
        # dropped: gone now, readable as of before the drop (definition and rows)
        s_drop = self.x("DROP VIEW hv_v").seq
        self.err("42P01", "SELECT * FROM hv_v")
        self.assertEqual(self.q("SELECT v FROM hv_v AS OF @seq:%d ORDER BY id" % s_view), [("old",), ("two",)])
        self.assertEqual(self.q("SELECT count(*) FROM hv_v AS OF @seq:%d" % (s_drop - 1)), [(2,)])
        # a new view of the same name has its own history
        s_new = self.x("CREATE VIEW hv_v AS SELECT w FROM hv WHERE id = 2").seq
        self.assertEqual(self.q("SELECT * FROM hv_v"), [("two",)])
        self.err("42P01", "SELECT * FROM hv_v AS OF @seq:%d" % (s_new - 1))
        self.assertEqual(self.q("SELECT v FROM hv_v AS OF @seq:%d WHERE id = 1" % s_view), [("old",)])

    def test_column_list(self):
        # CREATE VIEW v (a, b) AS ...: the list names the view's columns, in SELECT *, WHERE, joins, AS OF
        self.x("CREATE TABLE cl (id INTEGER PRIMARY KEY, name TEXT, pay INTEGER)")
        self.x("INSERT INTO cl VALUES (1, 'ann', 10), (2, 'bob', 20)")
        c = self.x("CREATE VIEW cl_v (who, \"double pay\") AS SELECT name, pay * 2 FROM cl WHERE pay > 5")
        s_made = c.seq
        c = self.x("SELECT * FROM cl_v ORDER BY who")
        self.assertEqual([d[0] for d in c.description], ["who", "double pay"])
        self.assertEqual(c.fetchall(), [("ann", 20), ("bob", 40)])
        self.assertEqual(self.q("SELECT v.\"double pay\" FROM cl_v v JOIN cl ON cl.name = v.who WHERE cl.id = 2"),
                         [(40,)])
        self.x("CREATE VIEW cl_w (n) AS SELECT count(*) FROM cl_v")
        self.x("UPDATE cl SET pay = 1 WHERE id = 1")
        self.assertEqual(self.q("SELECT n FROM cl_w"), [(1,)])
        self.assertEqual(self.q("SELECT n FROM cl_w AS OF @seq:%d" % (s_made + 1)), [(2,)])
        # the SELECT's own names are gone
        self.err("42703", "SELECT name FROM cl_v")
        # as many names as columns, each once
        self.err("42601", "CREATE VIEW cl_bad (a) AS SELECT id, name FROM cl")
        self.err("42601", "CREATE VIEW cl_bad (a, b, c) AS SELECT id, name FROM cl")
        self.err("42701", "CREATE VIEW cl_bad (a, a) AS SELECT id, name FROM cl")
        self.err("42P01", "SELECT * FROM cl_bad")

    def test_transaction(self):
        self.x("CREATE TABLE tv (id INTEGER PRIMARY KEY)")
        self.x("BEGIN")
        try:
            self.x("INSERT INTO tv VALUES (1)")
            self.x("CREATE VIEW tv_v AS SELECT id + 1 AS n FROM tv")
            self.assertEqual(self.q("SELECT n FROM tv_v"), [(2,)])
            self.x("ROLLBACK")
        except Exception:
            self.x("ROLLBACK")
            raise
        self.err("42P01", "SELECT * FROM tv_v")


class ViewRestartTest(unittest.TestCase):
    def test_restart_and_verify(self):
        with tempfile.TemporaryDirectory() as tmp:
            data = os.path.join(tmp, "data")
            with Daemon(data_dir=data, query_workers=1) as d:
                conn = driftdb.connect(d.endpoint)
                cur = conn.cursor()
                cur.execute("CREATE TABLE rt (id INTEGER PRIMARY KEY, v TEXT)")
                cur.execute("INSERT INTO rt VALUES (1, 'a'), (2, 'b')")
                cur.execute("CREATE VIEW rt_v AS SELECT v FROM rt WHERE id > 1")
                cur.execute("CREATE VIEW gone_v AS SELECT id FROM rt")
                cur.execute("CREATE VIEW named_v (k, val) AS SELECT id, v FROM rt")
                cur.execute("SELECT 1")
                s_gone = cur.seq
                cur.execute("DROP VIEW gone_v")
                conn.close()
                H.wait_for(lambda: self._indexed(d), 30.0, interval=0.05, what="indexed_seq to reach commit_seq")
                rc, out, err = driftctl("verify", "--indexes", "-D", d.data_dir)
                self.assertEqual(rc, 0, out + err)
                self.assertIn("indexes ok: 0 differences", out)
            with Daemon(data_dir=data, query_workers=1) as d:
                conn = driftdb.connect(d.endpoint)
                cur = conn.cursor()
                cur.execute("SELECT * FROM rt_v")
                self.assertEqual(cur.fetchall(), [("b",)])
                cur.execute("SELECT val FROM named_v WHERE k = 1")
                self.assertEqual(cur.fetchall(), [("a",)])
                cur.execute("SELECT count(*) FROM gone_v AS OF @seq:%d" % s_gone)
                self.assertEqual(cur.fetchall(), [(2,)])
                with self.assertRaises(driftdb.Error) as cm:
                    cur.execute("SELECT * FROM gone_v")
                self.assertEqual(cm.exception.sqlstate, "42P01")
                conn.close()
                d.stop()
            rc, out, err = driftctl("verify", "--indexes", "-D", data)
            self.assertEqual(rc, 0, out + err)
            self.assertIn("indexes ok: 0 differences", out)

    @staticmethod
    def _indexed(d):
        m = d.metrics()
        return m[("driftdb_indexed_seq", frozenset())] >= m[("driftdb_commit_seq", frozenset())] > 0


if __name__ == "__main__":
    unittest.main()
