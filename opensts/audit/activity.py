"""Who used which service, when and where: the access advisor's source, read from the audit
index (the same index LookupEvents reads; records still in the journal logs are indexed first).

One query per report: for the accounts asked about, the latest call per (event source, event
name, entity) — the entity being the role behind an assumed-role session, else the caller's own
ARN — with the Region of that call, kept up to date by ingestion (index.py's ``activity``). Failed calls count, as on AWS (access advisor reports
attempts to access a service, successful or not).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from opensts.audit.index import connect, index_path, ingest
from opensts.frozen import frozen

__all__ = ["Activity", "account_activity"]


@frozen
class Activity:
    namespace: str  # iam, sts … (the event source's first label)
    action: str  # the event name: GetUser, AssumeRole …
    entity_arn: str  # the IAM user or role (a session's role), or the root
    account_id: str
    last: int  # epoch seconds
    region: str


_SQL = """
SELECT event_source, event_name, account_id, entity, last, trail_region
FROM activity WHERE account_id IN ({marks})
"""


def account_activity(folder: Path | None, account_ids: Iterable[str]) -> list[Activity]:
    """Every (service, action, entity)'s latest call in these accounts; [] without an audit trail."""
    accounts = sorted(set(account_ids))
    if folder is None or not accounts or not index_path(folder).parent.exists():
        return []
    conn = connect(index_path(folder))
    try:
        ingest(folder, conn)
        rows = conn.execute(_SQL.format(marks=",".join("?" * len(accounts))), accounts).fetchall()
    except sqlite3.Error:
        return []
    finally:
        conn.close()
    return [Activity(str(source).split(".", 1)[0], str(name), str(entity), str(account), int(last), str(region))
            for source, name, account, entity, last, region in rows if entity]
