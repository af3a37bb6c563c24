"""Telling a dependency outage from a bug, by the exception its client raised.

A request that fails because Redis, the SQL database, MongoDB or S3 cannot be reached is the
platform's temporary state, not a defect: the client gets a 503 naming the dependency and a
`Retry-After`, and the log gets one line instead of a traceback. The names are the ready-check
names (`sql`, `redis`, `mongo`, `s3`).
"""

import types

import pymongo.errors
import redis.exceptions
import sqlalchemy.exc
import urllib3.exceptions
from minio.error import ServerError as S3ServerError

# Seconds a client is asked to wait before retrying a request refused for an outage: long
# enough not to hammer a restarting server, short enough that a blip costs little.
OUTAGE_RETRY_AFTER_SECONDS = 5

# The exceptions each client raises when its server is unreachable, timed out or overloaded.
_OUTAGE_TYPES: tuple[tuple[str, tuple[type[BaseException], ...]], ...] = (
    ("redis", (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)),
    (
        "sql",
        (
            sqlalchemy.exc.OperationalError,
            sqlalchemy.exc.InterfaceError,
            sqlalchemy.exc.TimeoutError,
        ),
    ),
    ("mongo", (pymongo.errors.ConnectionFailure,)),
    ("s3", (urllib3.exceptions.HTTPError, S3ServerError)),
)

# A bare socket error carries no client's name: the library frames it passed through tell
# whose connection it was (asyncpg's connect raises ConnectionRefusedError unwrapped).
_FRAME_MODULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("redis", ("redis.",)),
    ("sql", ("sqlalchemy.", "asyncpg.", "aiosqlite.")),
    ("mongo", ("pymongo.", "motor.")),
    ("s3", ("minio.", "urllib3.")),
)

_CHAIN_LIMIT = 10


def outage_of(exc: BaseException) -> str | None:
    """The dependency whose outage `exc` reports (`redis`, `sql`, `mongo`, `s3`), else `None`.

    Looks through the exception's causes, as libraries wrap the client's error in their own
    (Celery's publisher raises kombu's `OperationalError` from Redis's `ConnectionError`).
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < _CHAIN_LIMIT:
        seen.add(id(current))
        name = _named_outage(current)
        if name is not None:
            return name
        current = current.__cause__ or current.__context__
    return None


def _named_outage(exc: BaseException) -> str | None:
    for name, types_ in _OUTAGE_TYPES:
        if isinstance(exc, types_):
            return name
    if isinstance(exc, OSError | TimeoutError):
        return _library_in(exc.__traceback__)
    return None


def _library_in(tb: types.TracebackType | None) -> str | None:
    """The dependency whose client code the traceback passes through last (nearest the error)."""
    found = None
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        for name, prefixes in _FRAME_MODULES:
            if module.startswith(prefixes):
                found = name
        tb = tb.tb_next
    return found
