#!/usr/bin/python3
"""SQL through the real daemon (driftharness) and the Python client: one
test per executor feature — the clauses of SELECT, INSERT forms, UPDATE and
DELETE, joins, aggregates, subqueries, compound selects, EXPLAIN access paths,
time travel (AS OF a seq or a timestamp, FOR SYSTEM_TIME ALL / BETWEEN with
the pseudo-columns, the schema as of before an ALTER, a dropped table read as
of before the drop, the session default), the DriftQL statements and the
SQLSTATEs of bad statements."""
import datetime
import time
import unittest

from driftharness import DaemonTestCase


def plan_text(cur, sql, params=None):
    cur.execute("EXPLAIN " + sql, params)
    return "\n".join(r[0] for r in cur.fetchall())


class SqlTest(DaemonTestCase):
    # ------------------------------------------------------------ SELECT clauses

    def test_select_clauses(self):
        self.x("CREATE TABLE sc (id INTEGER PRIMARY KEY, name TEXT, score REAL, grp INTEGER)")
        c = self.x("INSERT INTO sc VALUES (1, 'ann', 3.5, 1), (2, 'bob', NULL, 1), (3, 'cy', 7.25, 2), "
                   "(4, 'dee', 1.0, 2), (5, 'ed', 3.5, 3)")
        self.assertEqual(c.rowcount, 5)
        self.assertEqual(self.q("SELECT name FROM sc WHERE score > 3 ORDER BY name"), [("ann",), ("cy",), ("ed",)])
        self.assertEqual(self.q("SELECT id FROM sc WHERE score IS NULL"), [(2,)])
        self.assertEqual(self.q("SELECT id FROM sc WHERE id IN (5, 1, 9) ORDER BY id"), [(1,), (5,)])
        self.assertEqual(self.q("SELECT id FROM sc WHERE id NOT BETWEEN 2 AND 4 ORDER BY id DESC"), [(5,), (1,)])
        self.assertEqual(self.q("SELECT name FROM sc WHERE name LIKE '%e%' ORDER BY 1"), [("dee",), ("ed",)])
        self.assertEqual(self.q("SELECT id FROM sc WHERE grp = 1 OR (score >= 7 AND NOT id = 4) ORDER BY id"),
                         [(1,), (2,), (3,)])
        # ORDER BY multi-key with NULLs first ascending (SQLite), alias and position
        self.assertEqual(self.q("SELECT id, score AS s FROM sc ORDER BY s, id DESC"),
                         [(2, None), (4, 1.0), (5, 3.5), (1, 3.5), (3, 7.25)])
        self.assertEqual(self.q("SELECT id FROM sc ORDER BY score DESC, 1"), [(3,), (1,), (5,), (4,), (2,)])
        # LIMIT / OFFSET, also as parameters
        self.assertEqual(self.q("SELECT id FROM sc ORDER BY id LIMIT 2 OFFSET 1"), [(2,), (3,)])
        self.assertEqual(self.q("SELECT id FROM sc ORDER BY id LIMIT $1 OFFSET $2", [2, 3]), [(4,), (5,)])
        self.assertEqual(self.q("SELECT id FROM sc ORDER BY id LIMIT -1 OFFSET 4"), [(5,)])
        # DISTINCT, expressions, column names from alias / source text
        self.assertEqual(self.q("SELECT DISTINCT grp FROM sc ORDER BY grp"), [(1,), (2,), (3,)])
        c = self.x("SELECT id * 2 AS dbl, name, score + 1 FROM sc WHERE id = $1", [3])
        self.assertEqual(c.fetchall(), [(6, "cy", 8.25)])
        self.assertEqual([d[0] for d in c.description], ["dbl", "name", "score + 1"])
        self.assertEqual(c.description[1][1], "TEXT")
        c = self.x("SELECT * FROM sc WHERE id = 1")
        self.assertEqual([d[0] for d in c.description], ["id", "name", "score", "grp"])
        # no FROM, WHERE false
        self.assertEqual(self.q("SELECT 1 + 2, 'x' || 'y'"), [(3, "xy")])
        self.assertEqual(self.q("SELECT id FROM sc WHERE 1 = 0"), [])
        self.assertEqual(self.q("VALUES (1, 'a'), (2, 'b')"), [(1, "a"), (2, "b")])

    def test_order_limit_topn(self):
        # ORDER BY ... LIMIT keeps only the first rows (a heap): same answers as a full sort
        import random
        rnd = random.Random(7)
        rows = [(i, rnd.randint(0, 50), rnd.choice(["a", "b", None])) for i in range(1, 301)]
        self.x("CREATE TABLE tn (id INTEGER PRIMARY KEY, v INTEGER, t TEXT)")
        self.x("INSERT INTO tn VALUES " + ", ".join("(%d, %d, %s)" % (i, v, "NULL" if t is None else "'%s'" % t)
                                                      for i, v, t in rows))
        want = sorted(rows, key=lambda r: (-r[1], r[0]))[5:12]
        self.assertEqual(self.q("SELECT id, v, t FROM tn ORDER BY v DESC, id LIMIT 7 OFFSET 5"), want)
        nulls_first = sorted(rows, key=lambda r: (r[2] is not None, r[2] or "", -r[0]))[:4]
        self.assertEqual(self.q("SELECT id, v, t FROM tn ORDER BY t, id DESC LIMIT 4"), nulls_first)
        self.assertEqual(self.q("SELECT v FROM tn ORDER BY v LIMIT 1 OFFSET 299"), [(max(r[1] for r in rows),)])
        self.assertEqual(self.q("SELECT v FROM tn ORDER BY v LIMIT 5 OFFSET 400"), [])

    # ------------------------------------------------------------ INSERT / UPDATE / DELETE

    def test_insert_forms(self):
        self.x("CREATE TABLE ins (id INTEGER PRIMARY KEY, a TEXT DEFAULT 'dflt', b INTEGER)")
        self.x("INSERT INTO ins (b, id) VALUES (10, 1), (20, 2)")
        self.x("INSERT INTO ins VALUES ($1, $2, $3)", [3, "p", 30])
        self.x("CREATE TABLE ins2 (id INTEGER PRIMARY KEY, a TEXT, b INTEGER)")
        c = self.x("INSERT INTO ins2 SELECT id + 100, a, b * 2 FROM ins WHERE b >= 20")
        self.assertEqual(c.rowcount, 2)
        self.assertEqual(self.q("SELECT * FROM ins ORDER BY id"), [(1, "dflt", 10), (2, "dflt", 20), (3, "p", 30)])
        self.assertEqual(self.q("SELECT * FROM ins2 ORDER BY id"), [(102, "dflt", 40), (103, "p", 60)])
        # INSERT ... SELECT from the same table reads first
        c = self.x("INSERT INTO ins SELECT id + 10, a, b FROM ins")
        self.assertEqual(c.rowcount, 3)
        self.assertEqual(self.q("SELECT count(*) FROM ins"), [(6,)])
        self.err("42601", "INSERT INTO ins VALUES (1, 2)")
        self.err("42703", "INSERT INTO ins (nope) VALUES (1)")
        self.err("23505", "INSERT INTO ins VALUES (1, 'x', 1)")
        # a table without a primary key: hidden rowid, not in *
        self.x("CREATE TABLE nopk (a INTEGER, b TEXT)")
        self.x("INSERT INTO nopk VALUES (1, 'x'), (1, 'x')")
        c = self.x("SELECT * FROM nopk")
        self.assertEqual([d[0] for d in c.description], ["a", "b"])
        self.assertEqual(c.fetchall(), [(1, "x"), (1, "x")])

    def test_update_delete(self):
        self.x("CREATE TABLE ud (id INTEGER PRIMARY KEY, v INTEGER, t TEXT)")
        self.x("INSERT INTO ud VALUES (1, 10, 'a'), (2, 20, 'b'), (3, 30, 'c'), (4, 40, 'd')")
        c = self.x("UPDATE ud SET v = v + id, t = t || '!' WHERE id >= 3")
        self.assertEqual(c.rowcount, 2)
        self.assertEqual(self.q("SELECT id, v, t FROM ud ORDER BY id"),
                         [(1, 10, "a"), (2, 20, "b"), (3, 33, "c!"), (4, 44, "d!")])
        # SET expressions see the old row (swap)
        self.x("UPDATE ud SET v = id, id = id WHERE id = 1")
        self.assertEqual(self.q("SELECT v FROM ud WHERE id = 1"), [(1,)])
        self.assertIn("PK LOOKUP ud", plan_text(self.cur(), "UPDATE ud SET v = 0 WHERE id = 2"))
        c = self.x("DELETE FROM ud WHERE v > 30")
        self.assertEqual(c.rowcount, 2)
        c = self.x("DELETE FROM ud WHERE id = 99")
        self.assertEqual(c.rowcount, 0)
        self.assertEqual(self.q("SELECT id FROM ud ORDER BY id"), [(1,), (2,)])
        self.err("42703", "UPDATE ud SET nope = 1")

    # ------------------------------------------------------------ joins

    def test_joins(self):
        self.x("CREATE TABLE cust (id INTEGER PRIMARY KEY, name TEXT)")
        self.x("CREATE TABLE ord (oid INTEGER PRIMARY KEY, cid INTEGER, amount INTEGER)")
        self.x("INSERT INTO cust VALUES (1, 'ann'), (2, 'bob'), (3, 'cy')")
        self.x("INSERT INTO ord VALUES (10, 1, 5), (11, 1, 7), (12, 2, 9), (13, 9, 1)")
        self.assertEqual(self.q("SELECT c.name, o.amount FROM cust c JOIN ord o ON o.cid = c.id ORDER BY 2"),
                         [("ann", 5), ("ann", 7), ("bob", 9)])
        self.assertEqual(self.q("SELECT name, oid FROM cust, ord WHERE cid = id AND amount > 6 ORDER BY oid"),
                         [("ann", 11), ("bob", 12)])
        self.assertEqual(self.q("SELECT c.name, o.oid FROM cust c LEFT JOIN ord o ON o.cid = c.id "
                                "ORDER BY c.id, o.oid"),
                         [("ann", 10), ("ann", 11), ("bob", 12), ("cy", None)])
        self.assertEqual(self.q("SELECT c.name FROM cust c LEFT JOIN ord o ON o.cid = c.id WHERE o.oid IS NULL"),
                         [("cy",)])
        self.x("CREATE TABLE ord2 (oid INTEGER PRIMARY KEY, id INTEGER)")
        self.x("INSERT INTO ord2 VALUES (1, 2), (2, 3)")
        c = self.x("SELECT * FROM cust JOIN ord2 USING (id) ORDER BY oid")
        self.assertEqual([d[0] for d in c.description], ["id", "name", "oid"])
        self.assertEqual(c.fetchall(), [(2, "bob", 1), (3, "cy", 2)])
        self.assertEqual(self.q("SELECT name, oid FROM cust NATURAL JOIN ord2 ORDER BY oid"),
                         [("bob", 1), ("cy", 2)])
        self.assertEqual(self.q("SELECT count(*) FROM cust a, cust b WHERE a.id < b.id"), [(3,)])
        self.assertEqual(self.q("SELECT count(*) FROM cust CROSS JOIN ord"), [(12,)])
        self.err("42702", "SELECT oid FROM ord, ord2")
        self.err("42P01", "SELECT zz.id FROM cust")
        # the inner side of an equi-join is a pk lookup, else a hash join
        self.assertIn("PK LOOKUP cust", plan_text(self.cur(), "SELECT * FROM ord o JOIN cust c ON c.id = o.cid"))
        self.assertIn("HASH JOIN", plan_text(self.cur(), "SELECT * FROM cust c JOIN ord o ON o.amount = c.id + 4"))

    def test_join_order_many_tables(self):
        # an equality chain over six tables: hash joins or lookups, never a cross product
        for t in range(1, 7):
            self.x("CREATE TABLE j%d (a%d INTEGER, b%d INTEGER, x%d TEXT)" % (t, t, t, t))
            self.x("INSERT INTO j%d VALUES %s" % (t, ", ".join("(%d, %d, 'v%d')" % (i, (i * 7) % 30, i)
                                                            for i in range(1, 31))))
        where = "a1 = b2 AND a2 = b3 AND a3 = b4 AND a4 = b5 AND a5 = b6"
        p = plan_text(self.cur(), "SELECT count(*) FROM j1, j2, j3, j4, j5, j6 WHERE " + where)
        self.assertEqual(p.count("HASH JOIN"), 5, p)
        self.assertNotIn("NESTED LOOP", p)
        self.assertEqual(self.q("SELECT count(*) FROM j1, j2, j3, j4, j5, j6 WHERE " + where), [(29,)])
        self.assertEqual(self.q("SELECT x1, x6 FROM j1, j2, j3, j4, j5, j6 WHERE %s AND a6 = 3" % where),
                         [("v21", "v3")])
        # the same answer with the tables listed in another order
        self.assertEqual(self.q("SELECT count(*) FROM j6, j4, j2, j5, j3, j1 WHERE " + where), [(29,)])

    # ------------------------------------------------------------ aggregates

    def test_aggregates(self):
        self.x("CREATE TABLE ag (id INTEGER PRIMARY KEY, g TEXT, v INTEGER)")
        self.assertEqual(self.q("SELECT count(*), sum(v), max(v) FROM ag"), [(0, None, None)])
        self.assertEqual(self.q("SELECT g, count(*) FROM ag GROUP BY g"), [])
        self.x("INSERT INTO ag VALUES (1, 'a', 1), (2, 'a', 3), (3, 'b', 10), (4, 'b', NULL), (5, 'c', 7)")
        self.assertEqual(self.q("SELECT count(*), count(v), sum(v), min(v), max(v), avg(v) FROM ag"),
                         [(5, 4, 21, 1, 10, 5.25)])
        self.assertEqual(self.q("SELECT g, count(*), sum(v) FROM ag GROUP BY g ORDER BY g"),
                         [("a", 2, 4), ("b", 2, 10), ("c", 1, 7)])
        self.assertEqual(self.q("SELECT g, sum(v) AS s FROM ag GROUP BY 1 HAVING sum(v) > 5 ORDER BY s DESC"),
                         [("b", 10), ("c", 7)])
        self.assertEqual(self.q("SELECT g FROM ag GROUP BY g ORDER BY count(*) DESC, g LIMIT 1"), [("a",)])
        self.assertEqual(self.q("SELECT count(DISTINCT g), sum(DISTINCT id % 2) FROM ag"), [(3, 1)])
        self.assertEqual(self.q("SELECT g, max(v) - min(v) FROM ag WHERE id <> 5 GROUP BY g ORDER BY g"),
                         [("a", 2), ("b", 0)])
        # SQLite: with a single min()/max(), the bare columns come from its row
        self.assertEqual(self.q("SELECT max(v), id, g FROM ag"), [(10, 3, "b")])
        self.assertEqual(self.q("SELECT g, min(v), id FROM ag GROUP BY g ORDER BY g"),
                         [("a", 1, 1), ("b", 10, 3), ("c", 7, 5)])
        self.err("42803", "SELECT g FROM ag WHERE count(*) > 1")

    # ------------------------------------------------------------ subqueries, compound selects

    def test_subqueries(self):
        self.x("CREATE TABLE sq (id INTEGER PRIMARY KEY, v INTEGER)")
        self.x("INSERT INTO sq VALUES (1, 10), (2, 20), (3, 30), (4, NULL)")
        self.assertEqual(self.q("SELECT id FROM sq WHERE v > (SELECT avg(v) FROM sq)"), [(3,)])
        self.assertEqual(self.q("SELECT id FROM sq WHERE id IN (SELECT v / 10 FROM sq) ORDER BY id"),
                         [(1,), (2,), (3,)])
        self.assertEqual(self.q("SELECT id FROM sq WHERE 5 NOT IN (SELECT v FROM sq)"), [])  # NULL in the set
        self.assertEqual(self.q("SELECT id FROM sq a WHERE EXISTS (SELECT 1 FROM sq b WHERE b.v > a.v) "
                                "ORDER BY id"), [(1,), (2,)])
        self.assertEqual(self.q("SELECT id, (SELECT count(*) FROM sq b WHERE b.id <= a.id) FROM sq a ORDER BY id"),
                         [(1, 1), (2, 2), (3, 3), (4, 4)])
        # SQLite: a scalar subquery yields its first row
        self.assertEqual(self.q("SELECT (SELECT v FROM sq ORDER BY id)"), [(10,)])
        self.err("21000", "SELECT (SELECT id, v FROM sq)")
        self.assertEqual(self.q("SELECT t.x FROM (SELECT v * 2 AS x FROM sq WHERE v IS NOT NULL) t "
                                "WHERE t.x > 20 ORDER BY 1"), [(40,), (60,)])

    def test_compound(self):
        self.x("CREATE TABLE ca (x INTEGER PRIMARY KEY)")
        self.x("CREATE TABLE cb (x INTEGER PRIMARY KEY)")
        self.x("INSERT INTO ca VALUES (1), (2), (3)")
        self.x("INSERT INTO cb VALUES (2), (3), (4)")
        self.assertEqual(self.q("SELECT x FROM ca UNION SELECT x FROM cb"), [(1,), (2,), (3,), (4,)])
        self.assertEqual(self.q("SELECT x FROM ca UNION ALL SELECT x FROM cb ORDER BY x DESC LIMIT 3"),
                         [(4,), (3,), (3,)])
        self.assertEqual(self.q("SELECT x FROM ca INTERSECT SELECT x FROM cb"), [(2,), (3,)])
        self.assertEqual(self.q("SELECT x FROM ca EXCEPT SELECT x FROM cb"), [(1,)])
        self.err("42601", "SELECT x FROM ca UNION SELECT x, x FROM cb")

    # ------------------------------------------------------------ EXPLAIN

    def test_explain_access_paths(self):
        self.x("CREATE TABLE ex (id INTEGER PRIMARY KEY, customer TEXT, amount INTEGER)")
        self.x("CREATE INDEX ex_by_customer ON ex (customer)")
        self.x("INSERT INTO ex VALUES (1, 'x', 5), (2, 'y', 6), (3, 'x', 7)")
        cur = self.cur()
        p = plan_text(cur, "SELECT * FROM ex WHERE id = $1", [2])
        self.assertIn("PK LOOKUP ex (id = $1)", p)
        self.assertIn("AS OF @seq:", p)
        p = plan_text(cur, "SELECT * FROM ex WHERE customer = 'x'")
        self.assertIn("INDEX SCAN ex USING ex_by_customer (customer = 'x')", p)
        self.assertIn("FULL SCAN ex", plan_text(cur, "SELECT * FROM ex WHERE amount = 5"))
        self.assertIn("PK RANGE SCAN ex", plan_text(cur, "SELECT * FROM ex WHERE id BETWEEN 1 AND 2"))
        self.assertIn("PK LOOKUP ex (id IN (1, 3))", plan_text(cur, "SELECT * FROM ex WHERE id IN (1, 3)"))
        self.assertIn("PK LOOKUP ex (id IN (1, 3))", plan_text(cur, "SELECT * FROM ex WHERE id = 1 OR 3 = id"))
        self.assertEqual(self.q("SELECT id FROM ex WHERE id = 3 OR id = 1 OR id = 3 ORDER BY id"), [(1,), (3,)])
        self.assertIn("INDEX SCAN ex USING ex_by_customer (customer IN ('y', 'z'))",
                      plan_text(cur, "SELECT * FROM ex WHERE customer = 'y' OR customer = 'z'"))
        self.assertIn("FULL SCAN", plan_text(cur, "SELECT * FROM ex WHERE id = 1 OR amount = 6"))
        self.assertEqual(self.q("SELECT id FROM ex WHERE id = 1 OR amount = 6 ORDER BY id"), [(1,), (2,)])
        p = plan_text(cur, "SELECT customer, count(*) FROM ex GROUP BY customer ORDER BY 2")
        self.assertIn("SORT", p)
        self.assertIn("AGGREGATE", p)
        # the paths give the same answers as scans
        self.assertEqual(self.q("SELECT id FROM ex WHERE customer = 'x' ORDER BY id"), [(1,), (3,)])
        self.assertEqual(self.q("SELECT id FROM ex WHERE id IN (3, 1, 3) ORDER BY id"), [(1,), (3,)])
        self.assertEqual(self.q("SELECT id FROM ex WHERE id > 1 AND id <= 3 ORDER BY id"), [(2,), (3,)])
        self.assertEqual(self.q("SELECT id FROM ex WHERE id = 2.0"), [(2,)])
        self.assertEqual(self.q("SELECT id FROM ex WHERE id = 2.5"), [])
        # ORDER BY the primary key needs no sort; DESC does
        p = plan_text(cur, "SELECT id FROM ex WHERE id >= 2 ORDER BY id")
        self.assertIn("no sort", p)
        self.assertNotIn("SORT (", p)
        self.assertIn("SORT (id DESC)", plan_text(cur, "SELECT id FROM ex ORDER BY id DESC"))
        self.assertEqual(self.q("SELECT id FROM ex ORDER BY id LIMIT 2"), [(1,), (2,)])
        self.assertEqual(self.q("SELECT id FROM ex ORDER BY id DESC LIMIT 2"), [(3,), (2,)])
        cur.execute("EXPLAIN ANALYZE SELECT * FROM ex WHERE customer = 'x'")
        p = "\n".join(r[0] for r in cur.fetchall())
        self.assertIn("actual rows=2", p)
        self.assertIn("EXECUTION: 2 rows in ", p)

    # ------------------------------------------------------------ time travel

    def test_as_of_seq_and_time(self):
        self.x("CREATE TABLE tt (id INTEGER PRIMARY KEY, v TEXT)")
        c1 = self.x("INSERT INTO tt VALUES (1, 'one')")
        seq1 = c1.seq
        time.sleep(0.05)
        mid = datetime.datetime.now(datetime.timezone.utc)
        time.sleep(0.05)
        c2 = self.x("UPDATE tt SET v = 'uno' WHERE id = 1")
        self.x("INSERT INTO tt VALUES (2, 'two')")
        self.assertEqual(self.q("SELECT v FROM tt ORDER BY id"), [("uno",), ("two",)])
        self.assertEqual(self.q("SELECT v FROM tt AS OF @seq:%d" % seq1), [("one",)])
        self.assertEqual(self.q("SELECT v FROM tt FOR SYSTEM_TIME AS OF @seq:%d ORDER BY id" % c2.seq), [("uno",)])
        ts = mid.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.assertEqual(self.q("SELECT v FROM tt FOR SYSTEM_TIME AS OF '%s'" % ts), [("one",)])
        self.assertEqual(self.q("SELECT v FROM tt AS OF $1", [seq1]), [("one",)])
        # two points of time in one query
        self.assertEqual(self.q("SELECT a.v, b.v FROM tt AS OF @seq:%d a JOIN tt b ON a.id = b.id" % seq1),
                         [("one", "uno")])
        self.err("22023", "SELECT * FROM tt AS OF @seq:999999999")
        self.err("22007", "SELECT * FROM tt FOR SYSTEM_TIME AS OF 'not a time'")
        self.err("22023", "SELECT * FROM tt FOR SYSTEM_TIME AS OF '2200-01-01T00:00:00Z'")
        # the request's as_of
        c = self.conn.cursor(as_of=seq1)
        c.execute("SELECT v FROM tt")
        self.assertEqual(c.fetchall(), [("one",)])

    def test_session_as_of(self):
        self.x("CREATE TABLE sao (id INTEGER PRIMARY KEY, v TEXT)")
        seq1 = self.x("INSERT INTO sao VALUES (1, 'one')").seq
        self.x("INSERT INTO sao VALUES (2, 'two')")
        self.x("SET AS OF @seq:%d" % seq1)
        try:
            c = self.x("SELECT v FROM sao")
            self.assertEqual(c.fetchall(), [("one",)])
            self.assertEqual(c.seq, seq1)
        finally:
            self.x("SET AS OF DEFAULT")
        self.assertEqual(self.q("SELECT count(*) FROM sao"), [(2,)])

    def test_history_and_pseudo_columns(self):
        self.x("CREATE TABLE hv (id INTEGER PRIMARY KEY, v INTEGER)")
        s1 = self.x("INSERT INTO hv VALUES (1, 100)").seq
        s2 = self.x("UPDATE hv SET v = 200 WHERE id = 1").seq
        s3 = self.x("UPDATE hv SET v = 300 WHERE id = 1").seq
        rows = self.q("SELECT v, _seq, _op, _end_seq FROM hv FOR SYSTEM_TIME ALL ORDER BY _seq")
        self.assertEqual(rows, [(100, s1, "insert", s2), (200, s2, "update", s3), (300, s3, "update", None)])
        rows = self.q("SELECT v FROM hv FOR SYSTEM_TIME BETWEEN @seq:%d AND @seq:%d ORDER BY _seq" % (s2, s3))
        self.assertEqual(rows, [(200,), (300,)])
        rows = self.q("SELECT v FROM hv FOR SYSTEM_TIME FROM @seq:%d TO @seq:%d ORDER BY _seq" % (s1, s3))
        self.assertEqual(rows, [(100,), (200,)])
        # pseudo-columns on a present-time query; not in *
        c = self.x("SELECT *, _seq, _op, _end_seq FROM hv")
        self.assertEqual([d[0] for d in c.description], ["id", "v", "_seq", "_op", "_end_seq"])
        self.assertEqual(c.fetchall(), [(1, 300, s3, "update", None)])
        rows = self.q("SELECT _ts FROM hv")
        self.assertIsInstance(rows[0][0], datetime.datetime)

    def test_schema_as_of_and_drop(self):
        self.x("CREATE TABLE sa (id INTEGER PRIMARY KEY, a TEXT)")
        s1 = self.x("INSERT INTO sa VALUES (1, 'x')").seq
        self.x("ALTER TABLE sa ADD COLUMN b INTEGER DEFAULT 7")
        self.x("INSERT INTO sa VALUES (2, 'y', 8)")
        c = self.x("SELECT * FROM sa ORDER BY id")
        self.assertEqual([d[0] for d in c.description], ["id", "a", "b"])
        self.assertEqual(c.fetchall(), [(1, "x", 7), (2, "y", 8)])
        c = self.x("SELECT * FROM sa AS OF @seq:%d" % s1)
        self.assertEqual([d[0] for d in c.description], ["id", "a"])
        self.assertEqual(c.fetchall(), [(1, "x")])
        self.err("42703", "SELECT b FROM sa AS OF @seq:%d" % s1)
        s3 = self.cur()
        s3.execute("SELECT count(*) FROM sa")
        before_drop = s3.seq
        self.x("DROP TABLE sa")
        self.err("42P01", "SELECT * FROM sa")
        self.assertEqual(self.q("SELECT id, b FROM sa AS OF @seq:%d ORDER BY id" % before_drop), [(1, 7), (2, 8)])

    # ------------------------------------------------------------ DriftQL

    def test_driftql(self):
        self.x("CREATE TABLE docs (pk=id, INDEX(kind))")
        self.x('INSERT INTO docs {"id": "k1", "kind": "a", "n": 1}')
        s_ins = self.x('INSERT INTO docs {"id": "k2", "kind": "b", "n": 2}').seq
        c = self.x('PATCH docs KEY \'k1\' SET {"n": 5, "extra": true}')
        self.assertEqual(c.rowcount, 1)
        self.assertEqual(self.x('PATCH docs KEY \'nope\' SET {"n": 5}').rowcount, 0)
        self.assertIn("PK LOOKUP docs", plan_text(self.cur(), "SELECT doc FROM docs WHERE id = 'k1'"))
        self.assertIn("INDEX SCAN docs", plan_text(self.cur(), "SELECT doc FROM docs WHERE kind = 'a'"))
        self.assertEqual(self.q("SELECT kind FROM docs WHERE id = 'k2'"), [("b",)])
        self.assertEqual(self.q("SELECT count(*) FROM docs WHERE id = 'k3' OR kind = 'zz'"), [(0,)])
        rows = self.q("SELECT doc->>'n' FROM docs WHERE kind = 'a'")
        self.assertEqual([str(r[0]) for r in rows], ["5"])
        self.assertEqual(self.x("SOFT DELETE FROM docs KEY 'k2'").rowcount, 1)
        self.assertEqual(self.q("SELECT count(*) FROM docs"), [(1,)])
        self.assertEqual(self.q("SELECT count(*) FROM docs AS OF @seq:%d" % s_ins), [(2,)])
        c = self.x("SHOW DRIFT docs KEY 'k1'")
        names = [d[0] for d in c.description]
        self.assertEqual(names[:3], ["_seq", "_ts", "_op"])
        rows = c.fetchall()
        self.assertEqual([r[2] for r in rows], ["insert", "patch"])
        self.assertLess(rows[0][0], rows[1][0])
        rows = self.q("SHOW DRIFT docs KEY 'k2'")
        self.assertEqual([r[2] for r in rows], ["insert", "delete"])
        self.assertTrue(all(v is None for v in rows[1][3:]))
        c = self.x("SNAPSHOT docs")
        self.assertEqual([d[0] for d in c.description], ["table", "seq", "ts", "rows"])
        snap = c.fetchall()[0]
        self.assertEqual((snap[0], snap[3]), ("docs", 1))
        self.assertEqual(self.q("SELECT count(*) FROM docs AS OF @seq:%d" % snap[1]), [(1,)])
        e = self.err("0A000", "COMPACT docs")
        self.assertIn("compactor", str(e))
        self.assertIn(("docs",), self.q("SHOW TABLES"))

    # ------------------------------------------------------------ errors

    def test_errors(self):
        self.x("CREATE TABLE er (id INTEGER PRIMARY KEY, v INTEGER)")
        self.err("42P01", "SELECT * FROM no_such_table")
        e = self.err("42703", "SELECT nope FROM er")
        self.assertEqual(e.position, 8)
        self.err("42883", "SELECT no_such_fn(v) FROM er")
        self.err("42601", "SELECT FROM WHERE")
        self.err("42P10", "SELECT v FROM er ORDER BY 3")
        self.err("07001", "SELECT * FROM er WHERE id = $2", [1])


if __name__ == "__main__":
    unittest.main()
