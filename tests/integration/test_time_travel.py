"""Time travel, model-based, against the real daemon.

A seeded random stream of transactions (autocommit statements and BEGIN ...
COMMIT blocks of several statements, some rolled back) inserts, updates and
deletes rows of an SQL table and inserts, patches and soft-deletes documents
of a DriftQL document table, through the Python client. A Python model records
each commit's seq (from the reply), its commit time (read back as the `_ts` of
the versions it created; commits that only deleted are bracketed by the
client's clock), the state of both tables after it, and every version with
its [_seq, _end_seq) lifetime. Then random `AS OF @seq:N`, `FOR SYSTEM_TIME
AS OF '<ts>'`, `FOR SYSTEM_TIME ALL`, `BETWEEN a AND b`, `FROM a TO b`, `SET
AS OF` and present-time pseudo-column queries are compared with the model;
the daemon is restarted on the same data directory and everything is compared
again. AS OF the `_ts` shown for a version sees that version. Errors: a seq
beyond the last commit, a time in the future and a malformed point are 22023,
a malformed timestamp 22007, a broken clause 42601.

The seed is printed; set DRIFT_TT_SEED to replay one. Sizes: DRIFT_TT_TXNS
(default 120 transactions), DRIFT_TT_QUERIES (default 40 per kind)."""
import datetime
import json
import os
import random
import shutil
import sys
import tempfile
import time
import unittest

import driftdb
from driftharness import Daemon

SEED = int(os.environ.get("DRIFT_TT_SEED") or random.SystemRandom().randrange(1, 2 ** 31))
NTXNS = int(os.environ.get("DRIFT_TT_TXNS") or 120)
NQUERIES = int(os.environ.get("DRIFT_TT_QUERIES") or 40)
UTC = datetime.timezone.utc


def ts_text(dt):
    """An aware datetime as RFC 3339 text with microseconds."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def as_dt(v):
    if isinstance(v, datetime.datetime):
        return v if v.tzinfo else v.replace(tzinfo=UTC)
    return driftdb.parse_timestamp(v)


class Model:
    """Commits, versions and states of the two tables."""

    def __init__(self):
        self.commits = []  # [(seq, ts or None, lo, hi)] in seq order; lo/hi: client clock bracket
        self.state = {"acct": {}, "docs": {}}  # current: key -> row tuple (acct) or dict (docs)
        self.states = []  # [(seq, {"acct": {...}, "docs": {...}})] after each commit
        self.versions = {"acct": [], "docs": []}  # dicts: key, row, seq, op, end
        self.live = {"acct": {}, "docs": {}}  # key -> version dict

    def apply(self, seq, ops, lo, hi):
        """Records a committed transaction: ops [(table, kind, key, row)] with kind insert/update/patch/delete."""
        for table, kind, key, row in ops:
            old = self.live[table].get(key)
            if old is not None:
                old["end"] = seq
                del self.live[table][key]
            if kind == "delete":
                del self.state[table][key]
                continue
            v = {"key": key, "row": row, "seq": seq, "op": kind, "end": None}
            self.versions[table].append(v)
            self.live[table][key] = v
            self.state[table][key] = row
        self.commits.append([seq, None, lo, hi])
        self.states.append((seq, {t: dict(s) for t, s in self.state.items()}))

    def state_at(self, seq):
        """The state as of seq (the last commit <= seq), or None before the first recorded commit."""
        best = None
        for s, st in self.states:
            if s <= seq:
                best = st
            else:
                break
        return best

    def seq_at_time(self, t):
        """The last commit seq whose time is <= t; None when ambiguous (a commit of unknown time nearby)."""
        best = None
        for seq, ts, lo, hi in self.commits:
            if ts is not None:
                if ts <= t:
                    best = seq
                else:
                    break
            else:
                if hi <= t:
                    best = seq
                elif lo <= t:
                    return None
                else:
                    break
        return best

    def versions_in(self, table, lo, hi, hi_inclusive):
        """Versions live at some point in [lo, hi] (hi_inclusive) or [lo, hi)."""
        out = []
        for v in self.versions[table]:
            starts_ok = v["seq"] <= hi if hi_inclusive else v["seq"] < hi
            if starts_ok and (v["end"] is None or v["end"] > lo):
                out.append(v)
        return out


class TimeTravelTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        sys.stderr.write("test_time_travel: seed %d (DRIFT_TT_SEED=%d to replay)\n" % (SEED, SEED))
        cls.rng = random.Random(SEED)
        cls.tmp = tempfile.mkdtemp(prefix="drift-tt-")
        cls.data_dir = os.path.join(cls.tmp, "data")
        cls.daemon = Daemon(data_dir=cls.data_dir, query_workers=2).start()
        cls.conn = driftdb.connect(cls.daemon.endpoint, timeout=30)
        cls.model = Model()
        cls.build_history()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.conn.close()
        finally:
            cls.daemon.close()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    # ------------------------------------------------------------------ the history

    @classmethod
    def q(cls, sql, params=None, conn=None):
        cur = (conn or cls.conn).cursor()
        cur.execute(sql, params)
        return cur

    @classmethod
    def build_history(cls):
        m, rng = cls.model, cls.rng
        cls.q("CREATE TABLE acct (id INTEGER PRIMARY KEY, name TEXT, bal INTEGER)")
        cur = cls.q("CREATE TABLE docs (pk=id)")
        cls.created_seq = cur.seq if isinstance(cur.seq, int) else 0
        m.states.append((cls.created_seq, {"acct": {}, "docs": {}}))
        next_id = {"acct": 1, "docs": 1}
        for n in range(NTXNS):
            nstmts = 1 if rng.random() < 0.5 else rng.randint(2, 4)
            explicit = nstmts > 1 or rng.random() < 0.2
            rollback = explicit and rng.random() < 0.1
            touched = set()  # one op per key per transaction: versions are per commit
            ops, stmts = [], []
            for _ in range(nstmts):
                op = cls.random_op(next_id, touched)
                if op:
                    stmts.append(op[0])
                    ops.extend(op[1])
            if not stmts:
                continue
            lo = datetime.datetime.now(UTC)
            if explicit:
                cls.q("BEGIN")
                for sql, params in stmts:
                    cls.q(sql, params)
                if rollback:
                    cls.q("ROLLBACK")
                    # keys an insert reserved are not used: the ids were consumed anyway
                    continue
                seq = cls.q("COMMIT").seq
            else:
                (sql, params), = stmts
                seq = cls.q(sql, params).seq
            hi = datetime.datetime.now(UTC)
            assert isinstance(seq, int), "no commit seq in the reply (seed %d)" % SEED
            m.apply(seq, ops, lo, hi)
            if rng.random() < 0.15:
                time.sleep(0.003)  # some commits far enough apart for timestamps between them
        # commit times: the _ts of the versions each commit created
        ts_of = {}
        for table in ("acct", "docs"):
            for seq, ts in cls.q("SELECT _seq, _ts FROM %s FOR SYSTEM_TIME ALL" % table).fetchall():
                ts_of[seq] = as_dt(ts)
        for c in m.commits:
            c[1] = ts_of.get(c[0])
        cls.last_seq = m.commits[-1][0]

    @classmethod
    def random_op(cls, next_id, touched):
        """One statement: (sql, params) and its model ops; None when nothing fits."""
        rng, st = cls.rng, cls.model.state
        kind = rng.choice(["ins", "ins", "ins_multi", "upd", "upd", "del", "dins", "dins", "patch", "patch", "sdel"])
        acct_free = [k for k in st["acct"] if ("acct", k) not in touched]
        docs_free = [k for k in st["docs"] if ("docs", k) not in touched]
        if kind in ("ins", "ins_multi") or (kind in ("upd", "del") and not acct_free):
            n = 1 if kind != "ins_multi" else rng.randint(2, 4)
            rows = []
            for _ in range(n):
                k = next_id["acct"]
                next_id["acct"] += 1
                rows.append((k, "n%d" % rng.randint(0, 999), rng.randint(-1000, 1000)))
                touched.add(("acct", k))
            sql = "INSERT INTO acct (id, name, bal) VALUES " + ", ".join(
                "($%d, $%d, $%d)" % (3 * i + 1, 3 * i + 2, 3 * i + 3) for i in range(n))
            params = [x for r in rows for x in r]
            return (sql, params), [("acct", "insert", r[0], r) for r in rows]
        if kind == "upd":
            k = rng.choice(acct_free)
            touched.add(("acct", k))
            old = st["acct"][k]
            row = (k, old[1] if rng.random() < 0.5 else "u%d" % rng.randint(0, 999), rng.randint(-1000, 1000))
            return ("UPDATE acct SET name = $1, bal = $2 WHERE id = $3", [row[1], row[2], k]), \
                [("acct", "update", k, row)]
        if kind == "del":
            k = rng.choice(acct_free)
            touched.add(("acct", k))
            return ("DELETE FROM acct WHERE id = $1", [k]), [("acct", "delete", k, None)]
        if kind == "dins" or not docs_free:
            k = next_id["docs"]
            next_id["docs"] += 1
            touched.add(("docs", k))
            doc = {"id": k, "v": rng.randint(0, 99), "tag": rng.choice(["a", "b", "c"])}
            if rng.random() < 0.3:
                doc["nested"] = {"x": rng.randint(0, 9), "list": [1, 2]}
            return ("INSERT INTO docs %s" % json.dumps(doc), None), [("docs", "insert", k, doc)]
        k = rng.choice(docs_free)
        touched.add(("docs", k))
        if kind == "patch":
            patch = {"v": rng.randint(100, 199)}
            if rng.random() < 0.5:
                patch["p%d" % rng.randint(0, 3)] = rng.choice(["x", 1, [3], {"deep": True}])
            doc = dict(st["docs"][k])
            doc.update(patch)  # shallow merge: top-level keys replaced or added
            return ("PATCH docs KEY %d SET %s" % (k, json.dumps(patch)), None), [("docs", "patch", k, doc)]
        return ("SOFT DELETE FROM docs KEY %d" % k, None), [("docs", "delete", k, None)]

    # ------------------------------------------------------------------ reading back

    def acct_rows(self, rows):
        return sorted(tuple(r) for r in rows)

    def docs_rows(self, rows):
        out = []
        for key, doc in rows:
            if isinstance(doc, str):
                doc = json.loads(doc)
            if isinstance(key, str):
                key = json.loads(key)
            out.append((key, json.dumps(doc, sort_keys=True)))
        return sorted(out)

    def expect_acct(self, state):
        return sorted(state["acct"].values())

    def expect_docs(self, state):
        return sorted((k, json.dumps(d, sort_keys=True)) for k, d in state["docs"].items())

    def check_state(self, where, seq, clause, conn=None, cursor_as_of=None):
        exp = self.model.state_at(seq)
        self.assertIsNotNone(exp)
        cur = (conn or self.conn).cursor(as_of=cursor_as_of)
        cur.execute("SELECT id, name, bal FROM acct %s" % clause)
        got_a = self.acct_rows(cur.fetchall())
        cur.execute("SELECT id, doc FROM docs %s" % clause)
        got_d = self.docs_rows(cur.fetchall())
        self.assertEqual(got_a, self.expect_acct(exp), "%s: acct %s (seq %d, seed %d)" % (where, clause, seq, SEED))
        self.assertEqual(got_d, self.expect_docs(exp), "%s: docs %s (seq %d, seed %d)" % (where, clause, seq, SEED))

    def pick_seq(self):
        return self.rng.randint(self.created_seq, self.last_seq)

    def check_as_of_seq(self, where, conn=None):
        for _ in range(NQUERIES):
            seq = self.pick_seq()
            form = self.rng.choice(["AS OF @seq:%d", "FOR SYSTEM_TIME AS OF @seq:%d"])
            self.check_state(where, seq, form % seq, conn)
        # every commit's state at least once, through the short form
        for seq, _, _, _ in self.model.commits[:: max(1, len(self.model.commits) // 15)]:
            self.check_state(where, seq, "AS OF @seq:%d" % seq, conn)

    def check_as_of_time(self, where, conn=None):
        known = [c for c in self.model.commits if c[1] is not None]
        self.assertTrue(known)
        checked = 0
        us = datetime.timedelta(microseconds=1)
        for _ in range(NQUERIES):
            i = self.rng.randrange(len(known))
            t = known[i][1]
            # _ts is shown in microseconds and the commit time may have more digits: the points used
            # here are at least 1 us after the shown time (test_5 checks the shown time itself)
            if i + 1 < len(known) and known[i + 1][1] - t <= us:
                continue
            if self.rng.random() < 0.5 and i + 1 < len(known) and known[i + 1][1] - t > 2 * us:
                t = t + (known[i + 1][1] - t) / 2  # a point between two commits
            else:
                t = t + us
            seq = self.model.seq_at_time(t)
            if seq is None:
                continue
            self.check_state(where, seq, "FOR SYSTEM_TIME AS OF '%s'" % ts_text(t), conn)
            checked += 1
        self.assertGreater(checked, 0)

    def check_versions(self, where, conn=None):
        conn = conn or self.conn
        m = self.model
        # ALL
        got = self.q("SELECT id, name, bal, _seq, _op, _end_seq FROM acct FOR SYSTEM_TIME ALL", conn=conn).fetchall()
        exp = [v["row"] + (v["seq"], v["op"], v["end"]) for v in m.versions["acct"]]
        self.assertEqual(sorted(map(tuple, got)), sorted(exp), "%s: acct ALL (seed %d)" % (where, SEED))
        got = self.q("SELECT id, doc, _seq, _op, _end_seq FROM docs FOR SYSTEM_TIME ALL", conn=conn).fetchall()
        got = sorted((k if not isinstance(k, str) else json.loads(k),
                      json.dumps(d if not isinstance(d, str) else json.loads(d), sort_keys=True), s, o, e)
                     for k, d, s, o, e in got)
        exp = sorted((v["key"], json.dumps(v["row"], sort_keys=True), v["seq"], v["op"], v["end"])
                     for v in m.versions["docs"])
        self.assertEqual(got, exp, "%s: docs ALL (seed %d)" % (where, SEED))
        # _ts of every version is its commit's time
        ts_of = {c[0]: c[1] for c in m.commits}
        for seq, ts in self.q("SELECT _seq, _ts FROM acct FOR SYSTEM_TIME ALL", conn=conn).fetchall():
            self.assertEqual(as_dt(ts), ts_of[seq], "%s: _ts of seq %d (seed %d)" % (where, seq, SEED))
        # BETWEEN / FROM .. TO, by seq and by time
        for _ in range(NQUERIES):
            a = self.pick_seq()
            b = self.rng.randint(a, self.last_seq)
            incl = self.rng.random() < 0.5
            by_time = self.rng.random() < 0.3
            if by_time:
                known = [c for c in m.commits if c[1] is not None and a <= c[0] <= b]
                if len(known) < 1:
                    continue
                ta, tb = known[0], known[-1]
                a, b = ta[0], tb[0]
                # 1 us after the shown times (see check_as_of_time)
                us = datetime.timedelta(microseconds=1)
                pa, pb = "'%s'" % ts_text(ta[1] + us), "'%s'" % ts_text(tb[1] + us)
                if m.seq_at_time(ta[1] + us) != a or m.seq_at_time(tb[1] + us) != b:
                    continue
            else:
                pa, pb = "@seq:%d" % a, "@seq:%d" % b
            clause = ("FOR SYSTEM_TIME BETWEEN %s AND %s" if incl else "FOR SYSTEM_TIME FROM %s TO %s") % (pa, pb)
            got = self.q("SELECT id, bal, _seq, _end_seq FROM acct %s" % clause, conn=conn).fetchall()
            exp = [(v["row"][0], v["row"][2], v["seq"], v["end"]) for v in m.versions_in("acct", a, b, incl)]
            self.assertEqual(sorted(map(tuple, got)), sorted(exp),
                             "%s: %s (seed %d)" % (where, clause, SEED))
        # present-time pseudo-columns: the live version's _seq, _end_seq NULL
        got = self.q("SELECT id, _seq, _op, _end_seq FROM acct", conn=conn).fetchall()
        exp = [(k, v["seq"], v["op"], None) for k, v in m.live["acct"].items()]
        self.assertEqual(sorted(map(tuple, got)), sorted(exp), "%s: present pseudo-columns (seed %d)" % (where, SEED))

    def check_session_default(self, where):
        conn = driftdb.connect(self.daemon.endpoint, timeout=30)
        try:
            for _ in range(5):
                seq = self.pick_seq()
                self.q("SET AS OF @seq:%d" % seq, conn=conn)
                self.check_state(where, seq, "", conn)
                # a per-table clause wins over the session default
                seq2 = self.pick_seq()
                self.check_state(where, seq2, "AS OF @seq:%d" % seq2, conn)
            self.q("SET AS OF DEFAULT", conn=conn)
            self.check_state(where, self.last_seq, "", conn)
            # the protocol's as_of field (the Python client's cursor as_of)
            seq = self.pick_seq()
            self.check_state(where, seq, "", conn, cursor_as_of=seq)
        finally:
            conn.close()

    def check_all(self, where, conn=None):
        self.check_state(where, self.last_seq, "", conn)
        self.check_as_of_seq(where, conn)
        self.check_as_of_time(where, conn)
        self.check_versions(where, conn)

    # ------------------------------------------------------------------ tests

    def test_1_commit_times(self):
        """Commit times increase with seq and lie within the client's clock bracket of each commit."""
        prev = None
        slack = datetime.timedelta(milliseconds=5)
        for seq, ts, lo, hi in self.model.commits:
            if ts is None:
                continue
            self.assertTrue(lo - slack <= ts <= hi + slack, "seq %d ts %s not in [%s, %s] (seed %d)" %
                            (seq, ts, lo, hi, SEED))
            if prev is not None:
                self.assertGreaterEqual(ts, prev, "commit times go back at seq %d (seed %d)" % (seq, SEED))
            prev = ts

    def test_2_queries(self):
        self.check_all("before restart")
        self.check_session_default("before restart")

    def test_3_errors(self):
        def code_of(sql, conn=None):
            with self.assertRaises(driftdb.Error) as cm:
                self.q(sql, conn=conn).fetchall()
            return cm.exception.sqlstate

        beyond = self.last_seq + 1000
        self.assertEqual(code_of("SELECT * FROM acct AS OF @seq:%d" % beyond), "22023")
        self.assertEqual(code_of("SELECT * FROM acct FOR SYSTEM_TIME BETWEEN @seq:1 AND @seq:%d" % beyond), "22023")
        future = ts_text(datetime.datetime.now(UTC) + datetime.timedelta(days=365))
        self.assertEqual(code_of("SELECT * FROM acct FOR SYSTEM_TIME AS OF '%s'" % future), "22023")
        self.assertEqual(code_of("SELECT * FROM acct AS OF '2026-13-45T99:00:00Z'"), "22007")
        self.assertEqual(code_of("SELECT * FROM acct AS OF 'yesterday'"), "22007")
        # a malformed point is 22023 (issue 6); a broken clause is a syntax error
        self.assertEqual(code_of("SELECT * FROM acct AS OF @seq:abc"), "22023")
        self.assertEqual(code_of("SELECT * FROM acct AS OF @sq:5"), "22023")
        self.assertEqual(code_of("SELECT * FROM acct FOR SYSTEM_TIME AS"), "42601")
        self.assertEqual(code_of("SELECT * FROM acct FOR SYSTEM_TIME BETWEEN @seq:1"), "42601")
        # SET AS OF checks its point when it is set, or at the latest when a query uses it
        conn = driftdb.connect(self.daemon.endpoint, timeout=30)
        try:
            try:
                self.q("SET AS OF @seq:%d" % beyond, conn=conn)
                self.assertEqual(code_of("SELECT * FROM acct", conn=conn), "22023")
            except driftdb.Error as e:
                self.assertEqual(e.sqlstate, "22023")
        finally:
            conn.close()
        # the protocol field: the same checks
        cur = self.conn.cursor(as_of=beyond)
        with self.assertRaises(driftdb.Error) as cm:
            cur.execute("SELECT * FROM acct")
        self.assertEqual(cm.exception.sqlstate, "22023")
        # the connection still works, at the present
        self.check_state("after errors", self.last_seq, "")

    def test_4_restart(self):
        """The same answers from a daemon restarted on the same data directory."""
        cls = type(self)
        cls.conn.close()
        cls.daemon.close()
        cls.daemon = Daemon(data_dir=cls.data_dir, query_workers=2).start()
        cls.conn = driftdb.connect(cls.daemon.endpoint, timeout=30)
        self.assertEqual(self.conn.ping(), self.last_seq, "commit seq after restart (seed %d)" % SEED)
        self.check_all("after restart")
        self.check_session_default("after restart")


    def test_5_as_of_shown_ts(self):
        """AS OF the `_ts` a query showed for a version sees that version (a user copies it from a result)."""
        for v in self.model.versions["acct"][:: max(1, len(self.model.versions["acct"]) // 10)]:
            ts = self.q("SELECT _ts FROM acct FOR SYSTEM_TIME ALL WHERE id = $1 AND _seq = $2",
                        [v["row"][0], v["seq"]]).fetchall()
            self.assertEqual(len(ts), 1)
            shown = ts[0][0] if isinstance(ts[0][0], str) else ts_text(as_dt(ts[0][0]))
            got = self.q("SELECT id, name, bal, _seq FROM acct FOR SYSTEM_TIME AS OF '%s' WHERE id = $1" % shown,
                         [v["row"][0]]).fetchall()
            self.assertEqual(got, [v["row"] + (v["seq"],)],
                             "AS OF the shown _ts %s of version seq %d (seed %d)" % (shown, v["seq"], SEED))

    def test_6_schema_history(self):
        """A query as of seq N uses the schema in force at N; a dropped table stays readable before the drop."""
        seqs = {}

        def step(name, sql, params=None):
            seqs[name] = self.q(sql, params).seq

        step("create", "CREATE TABLE sch (id INTEGER PRIMARY KEY, a TEXT, b INTEGER)")
        step("ins", "INSERT INTO sch VALUES (1, 'x', 10), (2, 'y', 20)")
        step("add", "ALTER TABLE sch ADD COLUMN c TEXT DEFAULT 'dflt'")
        step("ins2", "INSERT INTO sch (id, a, b, c) VALUES (3, 'z', 30, 'given')")
        step("rename", "ALTER TABLE sch RENAME COLUMN a TO name")
        step("dropcol", "ALTER TABLE sch DROP COLUMN b")
        step("upd", "UPDATE sch SET name = 'w' WHERE id = 1")
        step("drop", "DROP TABLE sch")

        def read(seq):
            cur = self.q("SELECT * FROM sch AS OF @seq:%d ORDER BY id" % seq)
            return [d[0] for d in cur.description], cur.fetchall()

        self.assertEqual(read(seqs["ins"]), (["id", "a", "b"], [(1, "x", 10), (2, "y", 20)]))
        self.assertEqual(read(seqs["add"]), (["id", "a", "b", "c"], [(1, "x", 10, "dflt"), (2, "y", 20, "dflt")]))
        self.assertEqual(read(seqs["rename"]), (["id", "name", "b", "c"], [(1, "x", 10, "dflt"), (2, "y", 20, "dflt"),
                                                                           (3, "z", 30, "given")]))
        self.assertEqual(read(seqs["upd"]), (["id", "name", "c"], [(1, "w", "dflt"), (2, "y", "dflt"),
                                                                   (3, "z", "given")]))
        with self.assertRaises(driftdb.Error) as cm:
            self.q("SELECT * FROM sch")
        self.assertEqual(cm.exception.sqlstate, "42P01")
        with self.assertRaises(driftdb.Error) as cm:
            self.q("SELECT * FROM sch AS OF @seq:%d" % (seqs["create"] - 1))
        self.assertEqual(cm.exception.sqlstate, "42P01")
        # a column that did not exist yet is an unknown column as of then
        with self.assertRaises(driftdb.Error) as cm:
            self.q("SELECT c FROM sch AS OF @seq:%d" % seqs["ins"])
        self.assertEqual(cm.exception.sqlstate, "42703")


if __name__ == "__main__":
    unittest.main()
