"""Service control policies as the policy engine sees them, and an account's place in the tree.

``scp_levels(repo, account)`` is the chain the engine checks for every signed request of a
principal of ``account``: one document per level — the root, each OU down to the account, the
account itself — merging the SCPs attached at that level (a level allows what any of its SCPs
allows; every level must allow; a Deny anywhere wins: ``policy/evaluate.py``). Empty for accounts
outside an organization, for the management account (SCPs never apply to it) and while the
SERVICE_CONTROL_POLICY type is disabled on the root. Pure reads: cached per store generation by the
caller (``Authorizer``).
"""

from __future__ import annotations

import json
from typing import Any

from opensts.store.organization_repository import OrganizationRecord

__all__ = ["SCP", "FULL_AWS_ACCESS_ID", "FULL_AWS_ACCESS", "scp_levels", "scp_level", "parent_chain", "org_path",
           "policy_content"]

SCP = "SERVICE_CONTROL_POLICY"
FULL_AWS_ACCESS_ID = "p-FullAWSAccess"
FULL_AWS_ACCESS = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"}]}, indent=2)
#: A level with nothing attached allows nothing (AWS never lets a level get there).
_NOTHING = '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotAction":"*","Resource":"*"}]}'


def parent_chain(repo: Any, org: OrganizationRecord, parent_id: str | None) -> list[str]:
    """[root id, OU id, …, ``parent_id``]: the path from the root down to a parent."""
    chain: list[str] = []
    current = parent_id
    while current and current != org.root_id and len(chain) < 10:
        chain.append(current)
        ou = repo.get_ou(current)
        current = ou.parent_id if ou else None
    return [org.root_id, *reversed(chain)]


def _account_chain(repo: Any, org: OrganizationRecord, account_id: str) -> list[str]:
    member = repo.member_account(account_id)
    return parent_chain(repo, org, member.parent_id if member else None)


def org_path(repo: Any, account_id: str) -> str:
    """``aws:PrincipalOrgPaths`` of an account (``o-…/r-…/ou-…/``), or "" outside any organization."""
    org = repo.organization_of(account_id)
    if org is None:
        return ""
    return "/".join([org.id, *_account_chain(repo, org, account_id)]) + "/"


def policy_content(repo: Any, policy_id: str) -> str | None:
    if policy_id == FULL_AWS_ACCESS_ID:
        return FULL_AWS_ACCESS
    policy = repo.get_org_policy(policy_id)
    return policy.content if policy else None


def scp_levels(repo: Any, account_id: str) -> tuple[str, ...]:
    org = repo.organization_of(account_id)
    if org is None or SCP not in org.policy_types or account_id == org.management_account_id:
        return ()
    attached: dict[str, list[str]] = {}
    for policy_id, target in repo.org_policy_targets(org.id):
        attached.setdefault(target, []).append(policy_id)
    levels = []
    for target in [*_account_chain(repo, org, account_id), account_id]:
        levels.append(scp_level([doc for doc in (policy_content(repo, p) for p in attached.get(target, ())) if doc]))
    return tuple(levels)


def scp_level(docs: list[str]) -> str:
    """One level of the SCP chain as one document: the statements of all its SCPs (a level allows
    if any of them does), or a document allowing nothing when the level has none."""
    if not docs:
        return _NOTHING
    if len(docs) == 1:
        return docs[0]
    statements: list[Any] = []
    for doc in docs:
        body = json.loads(doc)
        found = body.get("Statement", [])
        statements.extend(found if isinstance(found, list) else [found])
    return json.dumps({"Version": "2012-10-17", "Statement": statements})
