"""The Python DB-API client (client/python/driftdb) against the real daemon.

Statements the server cannot run yet (tables, transactions, SHOW DRIFT) are
checked for their clean SQLSTATE error path: each such test asserts the exact
exception class and code the server gives today, and the full behaviour once
the server answers them (so the test keeps meaning something after the SQL
issue lands)."""
import datetime
import os
import signal
import time
import unittest

import driftdb
from driftharness import Daemon, free_port, wait_for

HANG = "DRIFT_HANG_MARKER"  # the query worker's fault hook blocks on statements holding it


class PythonClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(query_workers=2).start()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.close()

    def setUp(self):
        self.conn = driftdb.connect(self.daemon.endpoint, timeout=10)

    def tearDown(self):
        self.conn.close()

    # -- module ------------------------------------------------------------

    def test_module_globals_and_hierarchy(self):
        self.assertEqual(driftdb.apilevel, "2.0")
        self.assertEqual(driftdb.threadsafety, 1)
        self.assertEqual(driftdb.paramstyle, "numeric")
        E = driftdb
        for sub in (E.InterfaceError, E.DatabaseError):
            self.assertTrue(issubclass(sub, E.Error))
        for sub in (E.DataError, E.OperationalError, E.IntegrityError, E.InternalError, E.ProgrammingError,
                    E.NotSupportedError):
            self.assertTrue(issubclass(sub, E.DatabaseError))
        self.assertTrue(issubclass(E.TransactionRollbackError, E.OperationalError))
        expect = {"22012": E.DataError, "23505": E.IntegrityError, "40001": E.TransactionRollbackError,
                  "42601": E.ProgrammingError, "42P01": E.ProgrammingError, "0A000": E.NotSupportedError,
                  "08006": E.OperationalError, "53300": E.OperationalError, "57014": E.OperationalError,
                  "25P02": E.InternalError, "XX000": E.InternalError, "07001": E.ProgrammingError,
                  "99999": E.DatabaseError, None: E.DatabaseError}
        for code, cls in expect.items():
            self.assertIs(driftdb.error_class(code), cls, code)
        self.assertTrue(driftdb.NUMBER == "INTEGER" and driftdb.STRING == "TEXT" and driftdb.BINARY != "TEXT")

    # -- connecting --------------------------------------------------------

    def test_ping_and_server(self):
        seq = self.conn.ping()
        self.assertIsInstance(seq, int)
        self.assertGreaterEqual(seq, 0)
        self.assertRegex(self.conn.server, r"^driftdb \d+\.\d+\.\d+")

    def test_unreachable_raises_operational_error_quickly(self):
        t0 = time.monotonic()
        with self.assertRaises(driftdb.OperationalError) as cm:
            driftdb.connect("tcp://127.0.0.1:%d" % free_port(), connect_timeout=0.5)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(cm.exception.sqlstate, "08001")
        self.assertIn("is driftdbd running", str(cm.exception))

    def test_bad_endpoint_is_interface_error(self):
        with self.assertRaises(driftdb.InterfaceError):
            driftdb.connect("not-an-endpoint")

    def test_closed_connection_and_cursor(self):
        c = driftdb.connect(self.daemon.endpoint)
        cur = c.cursor()
        cur.close()
        with self.assertRaises(driftdb.InterfaceError):
            cur.execute("SELECT 1")
        c.close()
        c.close()  # idempotent
        self.assertTrue(c.closed)
        with self.assertRaises(driftdb.InterfaceError):
            c.cursor()
        with self.assertRaises(driftdb.InterfaceError):
            c.ping()

    # -- statements and values ---------------------------------------------

    def test_execute_with_parameter(self):
        cur = self.conn.cursor()
        self.assertIs(cur.execute("SELECT $1 + 1 AS x", [41]), cur)
        self.assertEqual(cur.description[0][0], "x")
        self.assertEqual(len(cur.description[0]), 7)
        self.assertEqual(cur.rowcount, 1)
        self.assertEqual(cur.fetchone(), (42,))
        self.assertIsNone(cur.fetchone())
        self.assertIsInstance(cur.seq, int)

    def test_parameter_values_round_trip(self):
        cur = self.conn.cursor()
        values = [None, True, False, -5, 2 ** 62, 2.5, "héllo ✓", b"\x00\xff\x01", ""]
        for v in values:
            cur.execute("SELECT $1 AS v", [v])
            got = cur.fetchone()[0]
            self.assertEqual(got, v, "value %r came back as %r" % (v, got))
            self.assertIs(type(got), type(v), "value %r came back as %r" % (v, got))

    def test_json_and_datetime_parameters_and_type_codes(self):
        cur = self.conn.cursor()
        cur.execute("SELECT $1 AS j, $2 AS l", [{"a": [1, 2.5, None], "b": {"c": "d"}}, [1, "x", True]])
        self.assertEqual(cur.fetchone(), ({"a": [1, 2.5, None], "b": {"c": "d"}}, [1, "x", True]))
        self.assertEqual([d[1] for d in cur.description], ["JSON", "JSON"])
        self.assertTrue(cur.description[0][1] == driftdb.JSON)
        ts = datetime.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
        cur.execute("SELECT $1 AS ts, $2 AS naive, $3 AS d", [ts, datetime.datetime(2026, 1, 2, 3, 4, 5),
                                                            datetime.date(2026, 1, 2)])
        # Sent as RFC 3339 UTC text with microseconds (naive datetimes are taken as UTC).
        self.assertEqual(cur.fetchone(), ("2026-01-02T01:04:05.123456Z", "2026-01-02T03:04:05.000000Z",
                                          "2026-01-02"))
        self.assertEqual(driftdb.parse_timestamp("2026-01-02T01:04:05.123456Z"), ts)
        with self.assertRaises(ValueError):
            driftdb.parse_timestamp("2026-13-02")
        cur.execute("SELECT 1 AS a, 2.5 AS b, 'x' AS c, true AS d, NULL AS e")
        self.assertEqual([d[1] for d in cur.description], ["INTEGER", "REAL", "TEXT", "BOOLEAN", None])
        self.assertTrue(cur.description[0][1] == driftdb.NUMBER and cur.description[2][1] == driftdb.STRING)
        with self.assertRaises(driftdb.InterfaceError):
            cur.execute("SELECT $1 AS v", [{1: "non-str key"}])

    def test_several_columns_and_fetch_methods(self):
        cur = self.conn.cursor()
        cur.execute("SELECT 1 AS a, 'two' AS b, $1 AS c", [3.5])
        self.assertEqual([d[0] for d in cur.description], ["a", "b", "c"])
        self.assertEqual(cur.fetchmany(10), [(1, "two", 3.5)])
        self.assertEqual(cur.fetchmany(), [])
        self.assertEqual(cur.fetchall(), [])
        cur.execute("SELECT 7 AS n")
        self.assertEqual(list(cur), [(7,)])
        cur.arraysize = 5
        cur.execute("SELECT 8 AS n")
        self.assertEqual(cur.fetchmany(), [(8,)])

    def test_executemany(self):
        cur = self.conn.cursor()
        cur.executemany("SELECT $1 + 1 AS x", [[1], [2], [3]])
        self.assertIsNone(cur.description)
        with self.assertRaises(driftdb.ProgrammingError):
            cur.fetchall()

    def test_parameter_errors(self):
        cur = self.conn.cursor()
        with self.assertRaises(driftdb.DataError) as cm:
            cur.execute("SELECT $1 AS v", [2 ** 63])
        self.assertEqual(cm.exception.sqlstate, "22003")
        with self.assertRaises(driftdb.InterfaceError):
            cur.execute("SELECT $1 AS v", [object()])
        with self.assertRaises(driftdb.InterfaceError):
            cur.execute("SELECT $1 AS v", {"a": 1})  # numeric style takes a sequence
        with self.assertRaises(driftdb.ProgrammingError) as cm:
            cur.execute("SELECT $2 AS v", [1])
        self.assertEqual(cm.exception.sqlstate, "07001")

    # -- errors mapped from SQLSTATE ---------------------------------------

    def test_syntax_error(self):
        with self.assertRaises(driftdb.ProgrammingError) as cm:
            self.conn.cursor().execute("SELECT FROM")
        self.assertEqual(cm.exception.sqlstate, "42601")
        self.assertTrue(cm.exception.message)

    def test_bad_value_is_data_error(self):
        cur = self.conn.cursor()
        cur.execute("SELECT 1 / 0")  # NULL, as SQLite (docs/query-language.md, "Values")
        self.assertEqual(cur.fetchone(), (None,))
        cur.execute("CREATE TABLE IF NOT EXISTS drift_py_num (k INTEGER PRIMARY KEY, n INTEGER)")
        with self.assertRaises(driftdb.DataError) as cm:
            cur.execute("INSERT INTO drift_py_num VALUES (1, 'not a number')")
        self.assertEqual(cm.exception.sqlstate, "22P02")

    def test_table_statements(self):
        cur = self.conn.cursor()
        cur.execute("CREATE TABLE drift_py_t (k INTEGER PRIMARY KEY, v TEXT)")
        cur.execute("INSERT INTO drift_py_t VALUES ($1, $2)", [1, "a"])
        self.assertEqual(cur.rowcount, 1)
        cur.execute("SELECT v FROM drift_py_t WHERE k = $1", [1])
        self.assertEqual(cur.fetchall(), [("a",)])
        with self.assertRaises(driftdb.IntegrityError):
            cur.execute("INSERT INTO drift_py_t VALUES ($1, $2)", [1, "b"])

    def test_connection_survives_errors(self):
        cur = self.conn.cursor()
        for _ in range(3):
            with self.assertRaises(driftdb.ProgrammingError):
                cur.execute("SELECT FROM")
            cur.execute("SELECT 2 AS two")
            self.assertEqual(cur.fetchone(), (2,))

    # -- transactions --------------------------------------------------------

    def test_transactions(self):
        self.assertEqual(self.conn.txn, "idle")
        self.conn.commit()  # nothing open: no-op, no error
        self.conn.rollback()
        try:
            self.conn.begin()
        except driftdb.NotSupportedError as e:
            self.assertEqual(e.sqlstate, "0A000")
            self.assertEqual(self.conn.txn, "idle")
            # autocommit=False sends BEGIN implicitly: same clean error, nothing run.
            c2 = driftdb.connect(self.daemon.endpoint, autocommit=False)
            with self.assertRaises(driftdb.NotSupportedError):
                c2.cursor().execute("SELECT 1")
            c2.close()
            return
        self.assertEqual(self.conn.txn, "open")
        self.conn.cursor().execute("SELECT 1")
        self.conn.commit()
        self.assertEqual(self.conn.txn, "idle")
        self.conn.begin()
        self.conn.rollback()
        self.assertEqual(self.conn.txn, "idle")

    # -- time travel and history ---------------------------------------------

    def test_as_of(self):
        seq = self.conn.ping()
        with self.assertRaises(driftdb.DataError):
            self.conn.cursor(as_of="yesterday")  # refused before anything is sent
        # A seq in the future is refused by the server, never silently "now".
        cur = self.conn.cursor(as_of=seq + 10 ** 9)
        self.assertEqual(cur.as_of, seq + 10 ** 9)
        with self.assertRaises(driftdb.DataError) as cm:
            cur.execute("SELECT 1 AS one")
        self.assertEqual(cm.exception.sqlstate, "22023")
        # The connection-wide setting is sent too (and a cursor's own value wins).
        c2 = driftdb.connect(self.daemon.endpoint, as_of="@seq:%d" % (seq + 10 ** 9))
        try:
            with self.assertRaises(driftdb.DataError):
                c2.cursor().execute("SELECT 1")
            self.assertEqual(c2.cursor(as_of=5).as_of, 5)
            self.assertEqual(c2.cursor().as_of, seq + 10 ** 9)
        finally:
            c2.close()
        # A timestamp before the first commit reads the empty database at seq 0, never "now".
        ts = datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
        cur = self.conn.cursor(as_of=ts)
        cur.execute("SELECT 1 AS one")
        self.assertEqual(cur.seq, 0)
        # and one in the future is refused
        with self.assertRaises(driftdb.DataError) as cm:
            self.conn.cursor(as_of=datetime.datetime(2200, 1, 1, tzinfo=datetime.timezone.utc)).execute("SELECT 1")
        self.assertEqual(cm.exception.sqlstate, "22023")
        if seq >= 1:  # once something was committed, a past seq reads at that snapshot
            cur = self.conn.cursor(as_of=seq)
            cur.execute("SELECT 1 AS one")
            self.assertEqual(cur.seq, seq)

    def test_history_helper(self):
        cur = self.conn.cursor()
        with self.assertRaises(driftdb.DatabaseError) as cm:
            cur.history("no_such_table", 1)
        self.assertEqual(cm.exception.sqlstate, "42P01")
        self.assertIsInstance(cm.exception, driftdb.ProgrammingError)
        cur.execute('CREATE TABLE "Hist" (k INTEGER PRIMARY KEY, v TEXT)')
        cur.execute('INSERT INTO "Hist" VALUES (1, $1)', ["a"])
        s1 = cur.seq
        cur.execute('UPDATE "Hist" SET v = $1 WHERE k = 1', ["b"])
        s2 = cur.seq
        cur.execute('DELETE FROM "Hist" WHERE k = 1')
        s3 = cur.seq
        cur.history("Hist", 1)
        self.assertEqual([d[0] for d in cur.description][:3], ["_seq", "_ts", "_op"])
        rows = cur.fetchall()
        self.assertEqual([(r[0], r[2], r[4]) for r in rows], [(s1, "insert", "a"), (s2, "update", "b"),
                                                              (s3, "delete", None)])

    # -- pipelining ----------------------------------------------------------

    def test_pipelined_requests_matched_by_id(self):
        ids = [(self.conn.send("query", "SELECT $1 + 1 AS x", [i]), i) for i in range(500)]
        for rid, i in reversed(ids):
            res = self.conn.recv(rid)
            self.assertEqual(res.rows, [[i + 1]])

    def test_context_manager_closes(self):
        with driftdb.connect(self.daemon.endpoint) as c:
            c.cursor().execute("SELECT 1")
        self.assertTrue(c.closed)


class PythonClientFailureTest(unittest.TestCase):
    """Timeouts and worker death, seen through the DB-API (the server's fault hook hangs a statement)."""

    def test_client_timeout_then_late_reply_is_ignored(self):
        with Daemon(query_workers=2, env={"DRIFT_FAULT": "query_hang:" + HANG},
                    config={"request_timeout": "1s", "heartbeat_timeout": "20s", "shutdown_grace": "1s"}) as d:
            conn = driftdb.connect(d.endpoint, timeout=0.3)
            cur = conn.cursor()
            t0 = time.monotonic()
            with self.assertRaises(driftdb.OperationalError) as cm:
                cur.execute("SELECT '%s'" % HANG)
            self.assertEqual(cm.exception.sqlstate, "08006")
            self.assertLess(time.monotonic() - t0, 2.0)
            self.assertEqual(conn.inflight, 0)
            time.sleep(1.5)  # the gateway's 57014 for the abandoned request arrives now
            conn.timeout = 10
            cur.execute("SELECT $1 + 1 AS x", [1])
            self.assertEqual(cur.fetchall(), [(2,)])
            conn.close()

    def test_worker_killed_mid_request(self):
        with Daemon(query_workers=1, env={"DRIFT_FAULT": "query_hang:" + HANG},
                    config={"request_timeout": "60s", "heartbeat_timeout": "20s", "shutdown_grace": "1s"}) as d:
            conn = driftdb.connect(d.endpoint, timeout=10)
            rid = conn.send("query", "SELECT '%s'" % HANG)
            time.sleep(0.5)  # the worker is blocked inside the request
            t0 = time.monotonic()
            for pid in d.role_pids()["query"]:
                os.kill(pid, signal.SIGKILL)
            with self.assertRaises(driftdb.OperationalError) as cm:
                conn.recv(rid)
            self.assertEqual(cm.exception.sqlstate, "08006")
            self.assertLess(time.monotonic() - t0, 3.0)
            # the supervisor restarts the worker; the same connection works again
            def answers():
                try:
                    return conn.cursor().execute("SELECT 3 AS three").fetchone() == (3,)
                except driftdb.OperationalError:
                    return False
            wait_for(answers, 20, what="query worker back")
            conn.close()


if __name__ == "__main__":
    unittest.main()
