"""driftdb — the Python client of DriftDB (PEP 249, DB-API 2.0).

Pure Python on Debian's python3-zmq and python3-msgpack::

    import driftdb
    with driftdb.connect("tcp://127.0.0.1:7433", timeout=5) as conn:
        cur = conn.cursor()
        cur.execute("SELECT $1 + 1 AS x", [41])
        print(cur.description[0][0], cur.fetchone()[0])   # x 42

Placeholders are ``$1``, ``$2``, ... (``paramstyle = "numeric"``); parameters
are a sequence. Statements run in autocommit mode unless the connection was
opened with ``autocommit=False`` (then BEGIN is sent before the first statement
of each transaction, PEP 249 style). See docs/client-python.md.
"""
import datetime as _dt
import time as _time

from .connection import DEFAULT_ENDPOINT, Connection, Cursor, parse_timestamp
from .errors import (DatabaseError, DataError, Error, IntegrityError, InterfaceError, InternalError,
                     NotSupportedError, OperationalError, ProgrammingError, TransactionRollbackError, Warning,
                     error_class)

__version__ = "0.1.0"

apilevel = "2.0"
threadsafety = 1  # threads may share the module, but not connections
paramstyle = "numeric"  # $1, $2, ... (PEP 249's numeric style with the server's '$' marker)


def connect(endpoint=DEFAULT_ENDPOINT, timeout=30.0, connect_timeout=5.0, as_of=None, autocommit=True,
            chunk_rows=None, traceparent=None):
    """Opens a connection and checks that the daemon answers a ping within connect_timeout seconds.

    timeout: seconds to wait for each reply (None = forever).
    as_of: run every read at a commit seq (int or '@seq:N') or an RFC 3339 time / datetime;
      sent as the protocol's ``as_of`` field (the server answers 22023 when it is malformed or
      in the future, 0A000 NotSupportedError while it cannot time-travel).
    Raises OperationalError (08001) when the daemon does not answer."""
    return Connection(endpoint, timeout=timeout, connect_timeout=connect_timeout, as_of=as_of, autocommit=autocommit,
                      chunk_rows=chunk_rows, traceparent=traceparent)


# Type objects and constructors (PEP 249). type_code in cursor.description is the
# server's declared type name ("INTEGER", "TEXT", ...) or None when unknown.
class DBAPITypeObject:
    def __init__(self, *values):
        self.values = frozenset(values)

    def __eq__(self, other):
        return other in self.values

    def __ne__(self, other):
        return other not in self.values

    def __hash__(self):
        return hash(self.values)


STRING = DBAPITypeObject("TEXT")
BINARY = DBAPITypeObject("BLOB")
NUMBER = DBAPITypeObject("INTEGER", "REAL", "BOOLEAN")
DATETIME = DBAPITypeObject("TIMESTAMP")
ROWID = DBAPITypeObject()
JSON = DBAPITypeObject("JSON")

Date = _dt.date
Time = _dt.time
Timestamp = _dt.datetime
Binary = bytes


def DateFromTicks(ticks):
    return Date(*_time.gmtime(ticks)[:3])


def TimeFromTicks(ticks):
    return Time(*_time.gmtime(ticks)[3:6])


def TimestampFromTicks(ticks):
    return _dt.datetime.fromtimestamp(ticks, _dt.timezone.utc)


__all__ = ["connect", "Connection", "Cursor", "apilevel", "threadsafety", "paramstyle", "Warning", "Error",
           "InterfaceError", "DatabaseError", "DataError", "OperationalError", "IntegrityError", "InternalError",
           "ProgrammingError", "NotSupportedError", "TransactionRollbackError", "error_class", "STRING", "BINARY",
           "NUMBER", "DATETIME", "ROWID", "JSON", "Date", "Time", "Timestamp", "Binary", "DateFromTicks",
           "TimeFromTicks", "TimestampFromTicks", "parse_timestamp", "DEFAULT_ENDPOINT"]
