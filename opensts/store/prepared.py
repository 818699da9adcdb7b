"""Statements built once and executed with their parameters.

Why: SQLAlchemy compiles a statement once per *shape* (its cache key), but it recomputes that key
for every new statement object — for a small statement built per call (``select(t.roles).where(
t.roles.c.id == role_id)``) that is about half of what executing it costs (bench/iam_write_cost.py:
≈ 80 µs built per call, ≈ 30 µs built once). The statements every IAM write runs are therefore
built once, at import, with ``bindparam()`` placeholders, and executed with a parameter dict (or a
list of dicts: executemany). The change log (store/changes.py) reads the keys a write touched
from those parameters exactly as from literal values.

A repository write method may hand ``_write``/``locked`` loops either a statement or a
``(statement, parameters)`` pair; ``run`` executes both.
"""

from __future__ import annotations

from typing import Any, Union

from sqlalchemy import Connection, CursorResult
from sqlalchemy.sql import Executable

__all__ = ["Bound", "run"]

#: A statement built once, with the parameters of one execution (a list: executemany).
Bound = tuple[Executable, Union[dict[str, Any], list[dict[str, Any]]]]


def run(conn: Connection, stmt: Executable | Bound) -> CursorResult[Any]:
    """Execute a statement or a ``(statement, parameters)`` pair on ``conn``."""
    if isinstance(stmt, tuple):
        return conn.execute(stmt[0], stmt[1])
    return conn.execute(stmt)
