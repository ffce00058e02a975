"""PEP 249 exception hierarchy, and the mapping from SQLSTATE codes to it.

Every exception raised for a server error carries the SQLSTATE in ``.sqlstate``
and, when the server gave them, ``.position`` (1-based character offset into the
SQL) and ``.retry_after_ms`` (for 53300/53400).
"""


class Warning(Exception):  # noqa: A001 (the name is fixed by PEP 249)
    """Important warnings (PEP 249); not raised by this driver today."""


class Error(Exception):
    """Base of every driver error (PEP 249)."""

    def __init__(self, message="", sqlstate=None, position=None, retry_after_ms=None):
        super().__init__(("%s: %s" % (sqlstate, message)) if sqlstate else message)
        self.message = message
        self.sqlstate = sqlstate
        self.position = position
        self.retry_after_ms = retry_after_ms

    # psycopg-style alias
    @property
    def pgcode(self):
        return self.sqlstate


class InterfaceError(Error):
    """Misuse of the driver itself (closed cursor, bad parameter type...)."""


class DatabaseError(Error):
    """An error reported by (or about) the database."""


class DataError(DatabaseError):
    """SQLSTATE class 22: bad value, out of range, division by zero, bad AS OF."""


class OperationalError(DatabaseError):
    """Classes 08 (connection), 53 (busy/limits), 57 (canceled, not available) and 40."""


class TransactionRollbackError(OperationalError):
    """Class 40: the transaction was rolled back (e.g. 40001 serialization failure: retry)."""


class IntegrityError(DatabaseError):
    """Class 23: unique or not-null violation."""


class InternalError(DatabaseError):
    """Class 25 (transaction state, e.g. 25P02) and XX (internal error)."""


class ProgrammingError(DatabaseError):
    """Class 42 (syntax, unknown table/column) and 07 (wrong number of parameters)."""


class NotSupportedError(DatabaseError):
    """Class 0A: the server does not run this (yet)."""


_BY_CLASS = {
    "22": DataError,
    "23": IntegrityError,
    "40": TransactionRollbackError,
    "42": ProgrammingError,
    "07": ProgrammingError,
    "0A": NotSupportedError,
    "08": OperationalError,
    "53": OperationalError,
    "57": OperationalError,
    "58": OperationalError,
    "25": InternalError,
    "XX": InternalError,
}


def error_class(sqlstate):
    """The PEP 249 exception class for a SQLSTATE code (DatabaseError when unknown)."""
    if not isinstance(sqlstate, str) or len(sqlstate) != 5:
        return DatabaseError
    return _BY_CLASS.get(sqlstate[:2].upper(), DatabaseError)


def from_reply(error):
    """Builds the exception for a reply's ``error`` map."""
    if not isinstance(error, dict):
        return InterfaceError("malformed error reply: %r" % (error,), "08P01")
    code = error.get("code")
    msg = error.get("message", "")
    if not isinstance(msg, str):
        msg = repr(msg)
    cls = error_class(code)
    return cls(msg, code if isinstance(code, str) else None, error.get("position"), error.get("retry_after_ms"))
