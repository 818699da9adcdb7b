"""Keyset pagination: a page is the next ``limit`` rows after a position in an index order.

WHY: an offset page (``LIMIT n OFFSET k`` or, worse, slicing a full list in Python) costs the
whole store on every page. A keyset page names the position by the sort key of the last row
returned (``WHERE key > :last ORDER BY key LIMIT n``), so the database seeks in an index and
reads only the page: the cost of a page is its size, whatever the size of the store. The key
must be unique within the listing (a unique index, or the sort column plus the primary key).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, tuple_

__all__ = ["after", "Key"]

Key = tuple[Any, ...]


def after(query: Select[Any], columns: Sequence[Any], key: Key | None, limit: int | None) -> Select[Any]:
    """``query`` ordered by ``columns``, from just after ``key`` (None: from the start), at most
    ``limit`` rows (None: all). Row-value comparison (SQLite ≥ 3.15, PostgreSQL) seeks an index
    on the columns in that order."""
    if key is not None:
        if len(columns) != len(key):
            raise ValueError("key arity")
        query = query.where(columns[0] > key[0] if len(columns) == 1 else tuple_(*columns) > tuple_(*key))
    query = query.order_by(*columns)
    return query if limit is None else query.limit(limit)
