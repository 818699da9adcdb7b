"""The change log: what each store write touched, so caches drop only that.

Why: every write used to empty every process's cache (issue 19: ~120 IAM writes/s cut AssumeRole
1.5-10x). Now each write transaction that bumps ``meta.generation`` also records, under the new
generation and in the same transaction, the entities it touched as *tokens* — ``("role", id)``,
``("user", id)``, ``("group", id)``, ``("policy", arn)``, ``("access_key", id)``,
``("account", id)``, ``("org", "*")``, ``("saml_provider", arn)``, ``("oidc_provider", arn)``,
``("table", name)`` for tables no cached decision reads, and ``EVERYTHING`` when the rows a
statement touched cannot be pinned to entities.

The tokens are derived from the SQL statements themselves (a SQLAlchemy ``after_execute`` hook on
the engine), not declared by each write method: a write method added tomorrow is covered by
construction, and a statement whose rows cannot be pinned (no key column fixed by its WHERE clause
or its VALUES) records ``EVERYTHING``. ``SqlRepository._bump`` stays the single place a write
ends: it bumps the generation and flushes the transaction's tokens (see ``bump``).

Why the generation is the sequence number: ``bump`` updates the generation row first, which takes
that row's lock until commit (on SQLite the database write lock), so generations commit in order —
a reader that has seen generation G has seen every change ≤ G (an autoincrement id would not give
this: ids are allocated before commit, out of commit order). Every bump records at least one row,
so a reader catching up from g0 to g1 expects exactly the generations g0+1..g1; a missing one (rows
pruned, or a bump made by code that predates this log, e.g. an old migration) means "clear all".
The log replicates with the rows it describes (same transaction), so a hot standby's readers see
both together.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import Connection, Delete, Engine, Insert, Update, bindparam, delete, event, insert, select, text, update
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, BooleanClauseList

from opensts.store import tables as t

__all__ = ["EVERYTHING", "ORG", "Token", "track", "bump", "changes_between", "tokens_of", "take_committed",
           "KEEP_GENERATIONS"]

Token = tuple[str, str]
EVERYTHING: Token = ("*", "*")
ORG: Token = ("org", "*")  # organizations are small and rarely written: one token for all of it
NOTHING: Token = ("", "")  # a bump that touched no tracked row (still accounts for its generation)

KEEP_GENERATIONS = 20_000  # change rows older than this many generations are pruned
_PRUNE_EVERY = 500

# Per table: the (kind, column) pairs that pin a statement's rows to entities. "@col" as kind: the
# kind is that column's value (tags and policy attachments name their entity's type). Any ONE pair
# pinned by the statement suffices (every row it touches then belongs to that entity); every pinned
# pair is recorded.
_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    "accounts": (("account", "id"),),
    "account_regions": (("account", "account_id"),),
    "users": (("user", "id"),),
    "user_policies": (("user", "user_id"),),
    "access_keys": (("access_key", "id"),),
    "roles": (("role", "id"),),
    "role_policies": (("role", "role_id"),),
    "managed_policies": (("policy", "arn"),),
    "policy_versions": (("policy", "policy_arn"),),
    "policy_attachments": (("@entity_type", "entity_id"), ("policy", "policy_arn")),
    "tags": (("@entity_type", "entity_id"),),
    "iam_groups": (("group", "id"),),
    "group_policies": (("group", "group_id"),),
    "group_members": (("group", "group_id"), ("user", "user_id")),
    "oidc_providers": (("oidc_provider", "arn"),),
    "oidc_provider_configs": (("oidc_provider", "arn"),),
    "saml_providers": (("saml_provider", "arn"),),
}
_ORG_TABLES = frozenset({
    "organizations", "organization_accounts", "organizational_units", "organization_policies",
    "organization_policy_targets", "delegated_administrators", "handshakes",
})
# Tables no cache entry is built from (the cache's users: grep ``cache.memo`` / ``StoreCache``):
# their writes record ("table", name), which drops only entries without declared dependencies.
# A table in none of these sets (a new one) records EVERYTHING until it is classified here.
_UNCACHED = frozenset({
    "access_key_last_used", "access_report_jobs", "account_aliases", "account_properties", "account_settings",
    "credential_reports", "delegation_requests", "federation_signing_keys", "instance_profile_roles",
    "instance_profiles", "login_profiles", "mfa_devices", "outbound_federation", "password_policies",
    "saml_assertion_ids", "sealing_keys", "server_certificates", "service_linked_role_deletions",
    "service_linked_roles", "service_specific_credentials", "signing_certificates", "ssh_public_keys",
})
_UNTRACKED = frozenset({"meta", "changes"})
_STATE = "opensts.changes"


# -- deriving tokens from a statement ----------------------------------------------------------
def tokens_of(stmt: Any, rows: list[dict[str, Any]] | None = None, params: dict[str, Any] | None = None) -> set[Token]:
    """The tokens of one INSERT/UPDATE/DELETE (``rows``: executemany parameters; ``params``: the
    parameters of a single execution, which fill a statement built once with ``bindparam()``)."""
    name = stmt.table.name
    if name in _ORG_TABLES:
        return {ORG}
    if name in _UNCACHED:
        return {("table", name)}
    rules = _KEYS.get(name)
    if rules is None:
        return {EVERYTHING}
    found: set[Token] = set()
    pinned = False
    value_sets = _value_sets(stmt, rows, params)
    where = _pinned_by_where(stmt, params) if isinstance(stmt, (Update, Delete)) else {}
    for kind, column in rules:
        kind_col = kind[1:] if kind.startswith("@") else None
        wanted = (column, kind_col) if kind_col else (column,)
        if isinstance(stmt, Update) and any(c in values for values in value_sets for c in wanted):
            return {EVERYTHING}  # an UPDATE moving rows to another entity: rare, so simply everything
        if isinstance(stmt, Insert):
            sources = [{c: [values[c]] for c in wanted} for values in value_sets
                       if all(values.get(c, _Opaque) is not _Opaque for c in wanted)]
            if not sources or len(sources) != len(value_sets):
                continue
        elif all(c in where for c in wanted):
            sources = [where]
        else:
            continue
        pinned = True
        for source in sources:
            for key in source[column]:
                for k in (source[kind_col] if kind_col else [kind]):
                    found.add((str(k), str(key)))
    return found if pinned else {EVERYTHING}


def _value_sets(stmt: Any, rows: list[dict[str, Any]] | None,
                params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The column values each row of an INSERT gets (or an UPDATE sets)."""
    if isinstance(stmt, Delete):
        return []
    multi = getattr(stmt, "_multi_values", ())
    if multi:
        return [{_name(c): _literal(v, params) for c, v in row.items()} for batch in multi for row in batch]
    base = {_name(c): _literal(v, params) for c, v in (stmt._values or {}).items()}
    if isinstance(stmt, Update):
        # the columns it sets are its VALUES; the execution's parameters only fill their binds
        # (or, with no VALUES clause, name the columns themselves)
        if base:
            return [base]
        return [dict(row) for row in rows] if rows else [dict(params)] if params else [base]
    if rows:
        return [{**base, **row} for row in rows]
    if params and not stmt._values:
        return [dict(params)]  # insert(table) executed with a row of column values
    return [base]


def _name(column: Any) -> str:
    return column if isinstance(column, str) else column.key


def _literal(value: Any, params: dict[str, Any] | None = None) -> Any:
    if isinstance(value, BindParameter):
        return _bound(value, params)
    return _Opaque  # an SQL expression: not a literal key


def _bound(bind: BindParameter[Any], params: dict[str, Any] | None) -> Any:
    """A bind's value: its own, or (a ``bindparam(name)`` built without one) the execution's."""
    if bind.callable is None and bind.value is None and params is not None and bind.key in params:
        return params[bind.key]
    if bind.required:
        return _Opaque  # no value known here: pins nothing
    return bind.effective_value


class _Opaque:
    """A value computed by SQL (never equal to a key): makes the column unpinned."""


def _pinned_by_where(stmt: Any, params: dict[str, Any] | None = None) -> dict[str, list[Any]]:
    """Columns of the statement's own table fixed by top-level AND terms ``col = v`` / ``col IN (…)``.
    Only these narrow the rows touched; anything else (OR, subqueries) pins nothing."""
    where = stmt.whereclause
    if where is None:
        return {}
    terms: Iterable[Any] = where.clauses if isinstance(where, BooleanClauseList) and where.operator is operators.and_ \
        else [where]
    pinned: dict[str, list[Any]] = {}
    for term in terms:
        if not isinstance(term, BinaryExpression):
            continue
        column, value = term.left, term.right
        if isinstance(column, BindParameter):
            column, value = value, column
        if getattr(column, "table", None) is not stmt.table or not isinstance(value, BindParameter):
            continue
        if term.operator is operators.eq:
            pinned[column.key] = [_bound(value, params)]
        elif term.operator is operators.in_op and value.expanding:
            found = _bound(value, params)
            pinned[column.key] = [_Opaque] if found is _Opaque else list(found or [])
    return {k: v for k, v in pinned.items() if _Opaque not in v}


# -- recording, in the writing transaction -----------------------------------------------------
def track(engine: Engine) -> None:
    """Record the tokens of every DML statement run on ``engine`` (idempotent)."""
    if event.contains(engine, "after_execute", _after_execute):
        return
    event.listen(engine, "after_execute", _after_execute)
    event.listen(engine, "begin", _reset)
    event.listen(engine, "commit", _committed)
    event.listen(engine, "rollback", _reset)


def _reset(conn: Connection) -> None:
    """A transaction begins or rolls back: nothing it touched is recorded. On a connection the
    database dropped (an outage) there is nothing to reset, and asking for its ``info`` would
    raise PendingRollbackError in place of the OperationalError the edge answers 503 for."""
    if conn.invalidated or conn.closed:
        return
    try:
        conn.info.pop(_STATE, None)
    except sa_exc.InvalidRequestError:  # PendingRollbackError: the connection is being discarded
        pass


_local = threading.local()
_MAX_LOCAL = 1_000  # tokens kept for ``take_committed``; beyond: EVERYTHING (a bulk write)


def _committed(conn: Connection) -> None:
    """Keep what a bumping transaction touched for this thread's ``take_committed`` (the process
    that wrote drops it from its caches at once, without asking the database)."""
    state = conn.info.pop(_STATE, None)
    if state is None or state["generation"] is None:
        return
    mine = getattr(_local, "committed", None)
    if mine is None:
        mine = _local.committed = {}
    kept = mine.setdefault(id(conn.engine), set())
    kept |= state["all"]
    if len(kept) > _MAX_LOCAL:
        mine[id(conn.engine)] = {EVERYTHING}


def take_committed(engine: Engine) -> set[Token]:
    """The tokens of the write transactions this thread committed on ``engine`` since the last call."""
    mine = getattr(_local, "committed", None)
    return mine.pop(id(engine), set()) if mine else set()


def _after_execute(conn: Connection, clause: Any, multiparams: Any, params: Any, options: Any, result: Any) -> None:
    if not isinstance(clause, (Insert, Update, Delete)) or clause.table.name in _UNTRACKED:
        return
    rows = multiparams if isinstance(multiparams, list) and multiparams and isinstance(multiparams[0], dict) else None
    tokens = tokens_of(clause, rows, params if isinstance(params, dict) and params else None)
    state = conn.info.setdefault(_STATE, _fresh())
    state["all"] |= tokens
    if state["generation"] is None:
        state["pending"] |= tokens
    else:  # a statement after the bump, in the same transaction: recorded under that generation
        _insert(conn, state["generation"], tokens)


# Built once: a statement object carries its compiled form's cache key, which SQLAlchemy would
# otherwise recompute for every write (about half of a small statement's cost).
_BUMPED = (update(t.meta).where(t.meta.c.key == "generation")
           .values(value=(t.meta.c.value.cast(t.Integer) + 1).cast(t.Text)))
_BUMP_RETURNING = _BUMPED.returning(t.meta.c.value)
_GENERATION = select(t.meta.c.value).where(t.meta.c.key == "generation")
_INSERT = insert(t.changes)
_PRUNE = delete(t.changes).where(t.changes.c.generation <= bindparam("oldest"))


# PostgreSQL: the bump and its change rows in one statement (one round trip fewer per write);
# the UPDATE takes the generation row's lock exactly as the two-statement form does.
_BUMP_AND_RECORD = text(
    "WITH bumped AS (UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) "
    "WHERE key = 'generation' RETURNING CAST(value AS BIGINT) AS generation) "
    "INSERT INTO changes (generation, kind, key) "
    "SELECT bumped.generation, token.kind, token.key FROM bumped, "
    "unnest(CAST(:kinds AS VARCHAR[]), CAST(:keys AS VARCHAR[])) AS token(kind, key) "
    "RETURNING generation")


def bump(conn: Connection) -> int:
    """Advance the generation and record this transaction's tokens under it (call once the
    transaction's statements ran; later statements are recorded too). The new generation."""
    state = conn.info.setdefault(_STATE, _fresh())
    if conn.dialect.name == "postgresql":
        tokens = _recorded(state["pending"] or {NOTHING})
        generation = int(conn.execute(_BUMP_AND_RECORD, {"kinds": [k for k, _ in tokens],
                                                         "keys": [key for _, key in tokens]}).scalars().first())
    else:
        if conn.dialect.update_returning:  # SQLite >= 3.35: one statement
            generation = int(conn.execute(_BUMP_RETURNING).scalar_one())
        else:  # pragma: no cover - older SQLite
            conn.execute(_BUMPED)
            generation = int(conn.execute(_GENERATION).scalar_one())
        _insert(conn, generation, state["pending"] or {NOTHING})
    state["pending"], state["generation"] = set(), generation
    if generation % _PRUNE_EVERY == 0:
        conn.execute(_PRUNE, {"oldest": generation - KEEP_GENERATIONS})
    return generation


def _fresh() -> dict[str, Any]:
    return {"pending": set(), "all": set(), "generation": None}


def _recorded(tokens: set[Token]) -> list[Token]:
    """The rows recording ``tokens`` (EVERYTHING alone when present; kinds and keys cut to their columns)."""
    if EVERYTHING in tokens:
        tokens = {EVERYTHING}
    return [(k[:32], key[:2048]) for k, key in sorted(tokens)]


def _insert(conn: Connection, generation: int, tokens: set[Token]) -> None:
    conn.execute(_INSERT, [{"generation": generation, "kind": k, "key": key} for k, key in _recorded(tokens)])


# -- reading -----------------------------------------------------------------------------------
def changes_between(conn: Connection, after: int, upto: int) -> set[Token] | None:
    """Every token recorded in generations ``after``+1..``upto``; None when one of them has no
    row (pruned, or bumped without recording): the caller must then assume everything changed."""
    c = t.changes.c
    rows = conn.execute(select(c.generation, c.kind, c.key)
                        .where(c.generation > after, c.generation <= upto)).all()
    if len({r.generation for r in rows}) != upto - after:
        return None
    return {(r.kind, r.key) for r in rows}
