"""DriftDB connections and cursors (PEP 249), over one ZeroMQ DEALER socket.

The wire protocol is docs/protocol.md: one MessagePack map per request and per
reply, replies matched by ``id``; large results come in several replies
(``more: true``) that are assembled here.

Thread safety: ``threadsafety = 1`` — threads may share the module, not a
connection (or its cursors). Use one connection per thread.
"""
import datetime
import itertools
import re
import time

import msgpack
import zmq

from . import errors
from .errors import (DataError, InterfaceError, NotSupportedError, OperationalError, ProgrammingError)

DEFAULT_ENDPOINT = "tcp://127.0.0.1:7433"
_UTC = datetime.timezone.utc
_TS_RE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)?$")


def _encode_param(v, index):
    """One Python value as a protocol value (see "Values" in docs/protocol.md)."""
    if v is None or isinstance(v, (bool, float, str, bytes)):
        return v
    if isinstance(v, int):
        if not -(2 ** 63) <= v < 2 ** 63:
            raise DataError("parameter $%d: integer %d does not fit in 64 bits" % (index, v), "22003")
        return v
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=_UTC)  # naive datetimes are taken as UTC (documented)
        return v.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, (dict, list, tuple)):
        return _json_value(v, index)
    raise InterfaceError("parameter $%d: unsupported type %s" % (index, type(v).__name__))


def _json_value(v, index):
    """A JSON parameter (dict/list) checked to hold only JSON-representable values."""
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if not isinstance(k, str):
                raise InterfaceError("parameter $%d: JSON object keys must be str, not %s" % (index, type(k).__name__))
            out[k] = _json_value(x, index)
        return out
    if isinstance(v, (list, tuple)):
        return [_json_value(x, index) for x in v]
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    raise InterfaceError("parameter $%d: %s is not a JSON value" % (index, type(v).__name__))


def parse_timestamp(s):
    """An RFC 3339 timestamp string as an aware datetime (UTC when no offset); ValueError when malformed."""
    m = _TS_RE.match(s)
    if not m:
        raise ValueError("not an RFC 3339 timestamp: %r" % s)
    y, mo, d, h, mi, se = (int(x) for x in m.group(1, 2, 3, 4, 5, 6))
    frac = m.group(7) or ""
    us = int((frac + "000000")[:6])
    tz = m.group(8)
    if tz in (None, "Z"):
        tzinfo = _UTC
    else:
        sign = 1 if tz[0] == "+" else -1
        tzinfo = datetime.timezone(sign * datetime.timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
    return datetime.datetime(y, mo, d, h, mi, se, us, tzinfo=tzinfo)


def _as_of_value(as_of):
    """The protocol ``as_of`` value for a user value: int seq, '@seq:N', a datetime or an RFC 3339 string."""
    if as_of is None:
        return None
    if isinstance(as_of, bool):
        raise InterfaceError("as_of must be a commit seq (int), '@seq:N', a datetime or an RFC 3339 string")
    if isinstance(as_of, int):
        if as_of < 0:
            raise DataError("as_of seq must be >= 0", "22023")
        return as_of
    if isinstance(as_of, datetime.datetime):
        return _encode_param(as_of, 0)
    if isinstance(as_of, str):
        if as_of.startswith("@seq:"):
            try:
                return int(as_of[5:])
            except ValueError:
                raise DataError("malformed as_of %r (expected @seq:N)" % as_of, "22023") from None
        try:
            parse_timestamp(as_of)
        except ValueError:
            raise DataError("malformed as_of %r (expected @seq:N or an RFC 3339 timestamp)" % as_of,
                            "22023") from None
        return as_of
    raise InterfaceError("as_of must be a commit seq (int), '@seq:N', a datetime or an RFC 3339 string")


class Result:
    """One assembled result: columns, types, rows and the reply's counters."""

    def __init__(self):
        self.columns = None
        self.types = None
        self.rows = []
        self.affected = None
        self.seq = None
        self.txn = None
        self.server = None
        self.chunks = 0


class _Pending:
    """A request in flight: its result as assembled so far."""

    __slots__ = ("result", "error", "done")

    def __init__(self):
        self.result = Result()
        self.error = None
        self.done = False


class Connection:
    """A connection to driftdbd (PEP 249 Connection). Not thread-safe."""

    def __init__(self, endpoint=DEFAULT_ENDPOINT, timeout=30.0, connect_timeout=5.0, as_of=None,
                 autocommit=True, chunk_rows=None, traceparent=None):
        self.endpoint = endpoint or DEFAULT_ENDPOINT
        self.timeout = timeout
        self._as_of = _as_of_value(as_of)
        self.autocommit = autocommit
        self.chunk_rows = chunk_rows
        self.traceparent = traceparent
        self.txn = "idle"
        self.server = None
        self._ids = itertools.count(1)
        self._pending = {}
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.DEALER)
        self._sock.setsockopt(zmq.LINGER, 0)
        try:
            self._sock.connect(self.endpoint)
        except zmq.ZMQError as e:
            self._teardown()
            raise InterfaceError("cannot connect to %r: %s" % (self.endpoint, e), "08001") from None
        if connect_timeout:
            try:
                self.ping(timeout=connect_timeout)
            except OperationalError as e:
                self._teardown()
                if e.sqlstate == "08006":
                    raise OperationalError("no answer from %s within %.1f s (is driftdbd running?)"
                                           % (self.endpoint, connect_timeout), "08001") from None
                raise

    # -- transport -------------------------------------------------------

    def _teardown(self):
        if self._sock is not None:
            self._sock.close(0)
            self._sock = None
        if self._ctx is not None:
            self._ctx.term()
            self._ctx = None

    def _check_open(self):
        if self._sock is None:
            raise InterfaceError("connection is closed")

    def send(self, op, sql=None, params=None, as_of=None):
        """Sends one request without waiting; returns its id (pipelining: receive with recv(id))."""
        self._check_open()
        rid = next(self._ids)
        req = {"v": 1, "id": rid, "op": op}
        if sql is not None:
            if not isinstance(sql, str):
                raise InterfaceError("operation must be str, not %s" % type(sql).__name__)
            req["sql"] = sql
        if params is not None:
            if isinstance(params, (str, bytes, dict)) or not hasattr(params, "__iter__"):
                raise InterfaceError("parameters must be a sequence for $1, $2, ... (paramstyle 'numeric')")
            req["params"] = [_encode_param(v, i + 1) for i, v in enumerate(params)]
        if op == "query":
            if as_of is not None:
                req["as_of"] = as_of
            if self.chunk_rows:
                req["chunk_rows"] = int(self.chunk_rows)
        if self.traceparent:
            req["traceparent"] = self.traceparent
        try:
            data = msgpack.packb(req, use_bin_type=True)
        except (OverflowError, TypeError, ValueError) as e:
            raise DataError("cannot encode parameters: %s" % e, "22023") from None
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            try:
                self._sock.send(data, flags=zmq.NOBLOCK)
                break
            except zmq.Again:
                # High-water mark: keep reading replies while waiting, so that a
                # long pipeline cannot deadlock; bounded by the timeout.
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise OperationalError("could not send to %s within %s s" % (self.endpoint, self.timeout),
                                           "08006") from None
                ev = self._sock.poll(self._ms(left), zmq.POLLIN | zmq.POLLOUT)
                if ev & zmq.POLLIN:
                    self._read_one(0)
        self._pending[rid] = _Pending()
        return rid

    @staticmethod
    def _ms(timeout):
        return None if timeout is None else max(0, int(timeout * 1000))

    def _read_one(self, timeout_ms):
        """Receives and files at most one reply (waits up to timeout_ms; None = forever)."""
        # A blocking receive with a timeout costs one wakeup less than poll + recv.
        self._sock.rcvtimeo = -1 if timeout_ms is None else timeout_ms
        try:
            frames = self._sock.recv_multipart()
        except zmq.Again:
            return
        if len(frames) != 1:
            return  # not part of the protocol
        try:
            rep = msgpack.unpackb(frames[0], raw=False, strict_map_key=False)
        except Exception:  # malformed reply: skip it, the wait goes on
            return
        if not isinstance(rep, dict):
            return
        p = self._pending.get(rep.get("id"))
        if p is None or p.done:
            return  # a late reply to an abandoned request
        res = p.result
        res.chunks += 1
        if isinstance(rep.get("txn"), str):
            self.txn = rep["txn"]
            res.txn = rep["txn"]
        if rep.get("ok") is not True:
            # The stream ends with the error; a partial result is discarded.
            p.error = errors.from_reply(rep.get("error"))
            p.done = True
            return
        if res.columns is None and isinstance(rep.get("columns"), list):
            res.columns = rep["columns"]
            if isinstance(rep.get("types"), list):
                res.types = rep["types"]
        rows = rep.get("rows")
        if isinstance(rows, list):
            res.rows.extend(rows)
        if isinstance(rep.get("affected"), int):
            res.affected = rep["affected"]
        if isinstance(rep.get("seq"), int):
            res.seq = rep["seq"]
        if isinstance(rep.get("server"), str):
            res.server = self.server = rep["server"]
        if rep.get("more") is not True:
            p.done = True

    def recv(self, rid, timeout=None):
        """Waits for the complete result of request rid; raises the mapped exception on an error reply.

        Replies to other requests that arrive meanwhile are kept for their own recv()."""
        self._check_open()
        p = self._pending.get(rid)
        if p is None:
            raise InterfaceError("request %r is not in flight" % (rid,))
        timeout = self.timeout if timeout is None else timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while not p.done:
                left = None
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise OperationalError("no reply from %s within %s s" % (self.endpoint, timeout), "08006")
                self._read_one(self._ms(left))
        except BaseException:
            # Timeout or KeyboardInterrupt: the request is abandoned, a late reply is dropped.
            self._pending.pop(rid, None)
            raise
        del self._pending[rid]
        if p.error is not None:
            raise p.error
        return p.result

    @property
    def inflight(self):
        """Number of requests sent and not yet received."""
        return len(self._pending)

    def request(self, op, sql=None, params=None, as_of=None, timeout=None):
        """Sends one request and waits for its whole result."""
        return self.recv(self.send(op, sql, params, as_of), timeout)

    # -- PEP 249 -----------------------------------------------------------

    def ping(self, timeout=None):
        """Sends ``ping``; returns the server's commit seq (also sets .server)."""
        return self.request("ping", timeout=timeout).seq

    @property
    def as_of(self):
        return self._as_of

    @as_of.setter
    def as_of(self, value):
        self._as_of = _as_of_value(value)

    @property
    def closed(self):
        return self._sock is None

    def cursor(self, as_of=None):
        """A new cursor; as_of (seq, '@seq:N', datetime or RFC 3339 text) overrides the connection's."""
        self._check_open()
        return Cursor(self, as_of)

    def begin(self):
        """Sends BEGIN (explicit transaction start)."""
        self.request("query", "BEGIN")

    def _begin_if_needed(self):
        if not self.autocommit and self.txn not in ("open", "failed"):
            self.begin()

    def commit(self):
        """Sends COMMIT when a transaction is open; does nothing otherwise."""
        self._check_open()
        if self.txn in ("open", "failed"):
            self.request("query", "COMMIT")

    def rollback(self):
        """Sends ROLLBACK when a transaction is open; does nothing otherwise."""
        self._check_open()
        if self.txn in ("open", "failed"):
            self.request("query", "ROLLBACK")

    def close(self):
        """Closes the socket (an open transaction is rolled back by the server). Idempotent."""
        self._teardown()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if self._sock is not None and self.txn in ("open", "failed"):
                if exc_type is None:
                    self.commit()
                else:
                    self.rollback()
        finally:
            self.close()
        return False

    def __del__(self):
        try:
            self._teardown()
        except Exception:
            pass

    # PEP 249 optional extension: exceptions as connection attributes.
    Warning = errors.Warning
    Error = errors.Error
    InterfaceError = errors.InterfaceError
    DatabaseError = errors.DatabaseError
    DataError = errors.DataError
    OperationalError = errors.OperationalError
    IntegrityError = errors.IntegrityError
    InternalError = errors.InternalError
    ProgrammingError = errors.ProgrammingError
    NotSupportedError = errors.NotSupportedError


class Cursor:
    """A PEP 249 cursor. Results are fetched from the server whole (chunks assembled) at execute()."""

    def __init__(self, connection, as_of=None):
        self.connection = connection
        self.arraysize = 1
        self._as_of = _as_of_value(as_of)
        self._rows = []
        self._pos = 0
        self.description = None
        self.rowcount = -1
        self.lastrowid = None
        self.seq = None
        self._closed = False

    @property
    def as_of(self):
        return self._as_of if self._as_of is not None else self.connection.as_of

    @as_of.setter
    def as_of(self, value):
        self._as_of = _as_of_value(value)

    def _check(self):
        if self._closed:
            raise InterfaceError("cursor is closed")
        self.connection._check_open()

    def _reset(self):
        self._rows = []
        self._pos = 0
        self.description = None
        self.rowcount = -1
        self.seq = None

    def execute(self, operation, parameters=None):
        """Runs one statement; parameters is a sequence for $1, $2, ... Returns the cursor."""
        self._check()
        self._reset()
        self.connection._begin_if_needed()
        res = self.connection.request("query", operation, parameters, self.as_of)
        self._load(res)
        return self

    def _load(self, res):
        self.seq = res.seq
        if res.columns is not None:
            types = res.types if res.types and len(res.types) == len(res.columns) else [None] * len(res.columns)
            types = [t if t != "NULL" else None for t in types]
            self.description = tuple((name, t, None, None, None, None, None) for name, t in zip(res.columns, types))
            ts_cols = [i for i, t in enumerate(types) if t == "TIMESTAMP"]
            rows = []
            for r in res.rows:
                row = list(r)
                for i in ts_cols:
                    if i < len(row) and isinstance(row[i], str):
                        try:
                            row[i] = parse_timestamp(row[i])
                        except ValueError:
                            pass  # leave text the server sent as it is
                rows.append(tuple(row))
            self._rows = rows
            self.rowcount = len(rows)
        elif res.affected is not None:
            self.rowcount = res.affected

    def executemany(self, operation, seq_of_parameters):
        """Runs the statement once per parameter sequence, in order; rowcount sums affected rows."""
        self._check()
        total = 0
        counted = False
        for params in seq_of_parameters:
            self.execute(operation, params)
            if self.rowcount >= 0:
                total += self.rowcount
                counted = True
        self._reset()
        self.rowcount = total if counted else -1
        return self

    def history(self, table, key):
        """Every version of one row, oldest first, deletes included: ``SHOW DRIFT <table> KEY $1``
        (columns _seq, _ts, _op, then the row's)."""
        if not isinstance(table, str) or not table:
            raise InterfaceError("table must be a non-empty str")
        ident = '"%s"' % table.replace('"', '""')
        return self.execute("SHOW DRIFT %s KEY $1" % ident, [key])

    def fetchone(self):
        self._check()
        if self.description is None:
            raise ProgrammingError("no result set: the last statement returned no rows")
        if self._pos >= len(self._rows):
            return None
        row = self._rows[self._pos]
        self._pos += 1
        return row

    def fetchmany(self, size=None):
        self._check()
        if self.description is None:
            raise ProgrammingError("no result set: the last statement returned no rows")
        n = self.arraysize if size is None else size
        rows = self._rows[self._pos:self._pos + n]
        self._pos += len(rows)
        return rows

    def fetchall(self):
        self._check()
        if self.description is None:
            raise ProgrammingError("no result set: the last statement returned no rows")
        rows = self._rows[self._pos:]
        self._pos = len(self._rows)
        return rows

    def __iter__(self):
        return self

    def __next__(self):
        row = self.fetchone()
        if row is None:
            raise StopIteration
        return row

    def setinputsizes(self, sizes):
        pass

    def setoutputsize(self, size, column=None):
        pass

    def close(self):
        self._closed = True
        self._rows = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


__all__ = ["Connection", "Cursor", "Result", "DEFAULT_ENDPOINT", "parse_timestamp", "NotSupportedError"]
