"""What counts as "a store this node depends on is unreachable": the class of failures that is
AWS's ``ServiceUnavailable`` (HTTP 503, which every SDK retries), never an ``InternalFailure``.

Why one tuple: a database or Redis that is down, restarting, read-only, or slower than our
timeouts fails in many exception types (refused connection, a connection the server closed,
``statement_timeout``, a pool that cannot hand out a connection, a write that reached a hot
standby). They all mean the same to a caller — try again shortly — and the edges map them in one
place (``edge/asgi.py``, ``edge/control_plane.py``) instead of each handler guessing.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

__all__ = ["StoreUnavailable", "OUTAGES", "is_outage"]


class StoreUnavailable(Exception):
    """A Region-local store (Redis) or a key the node needs cannot be used right now."""


#: Exceptions that mean "unavailable, retry": connection-level database errors (OperationalError
#: covers refused/closed connections and statement timeouts; InterfaceError a connection already
#: closed; TimeoutError the pool), plus the Region store's own.
OUTAGES: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    StoreUnavailable,
)


def is_outage(exc: BaseException) -> bool:
    """``exc`` says a store is unavailable (not a bug, not bad input).

    A write that reached a read-only hot standby (SQLSTATE 25006, ``read_only_sql_transaction``)
    counts too: it happens for a moment while a standby is promoted or a primary demoted."""
    if isinstance(exc, OUTAGES):
        return True
    orig = getattr(exc, "orig", None)
    return isinstance(exc, sa_exc.DBAPIError) and getattr(orig, "sqlstate", None) == "25006"
