"""STS GetDelegatedAccessToken: a partner trades in the exchange token of a finalized delegation
request (``service/iam/delegation.py``) for temporary credentials.

The credentials are the *approver's* identity as recorded at acceptance (an IAM user, a role
session or the root user of the owner account), bounded by the request's permission policy — a
scope-down layer sealed in the token that every decision must also pass (authorization.py's
``scope_refusal``; for a root approver, whom no identity policy binds, a sealed session
policy), so the partner never gets more than both the approver and the policy allow. They
expire when the delegation does: ``SessionDuration`` seconds after the token was sent. A token is
traded in once, by an identity of the account that made the request.

Spending the token is STS's own write, so it goes where STS writes in a Region (the Region
store, ``store/region_state.py``; on a single server its own database) — never the control
plane's database: a fleet Region keeps trading tokens in while us-east-1 is lost. In a fleet a
token is therefore spent once per Region.
"""

from __future__ import annotations

from typing import Any

from opensts.protocol.errors import AccessDenied
from opensts.protocol.model import modelled_error
from opensts.service.context import RequestInfo
from opensts.service.iam.delegation import token_hash
from opensts.service.minting import Minter

__all__ = ["delegated_access_token"]

_EXPIRED = "The trade-in token is invalid, already used or expired."


def delegated_access_token(repo: Any, spent: Any, minter: Minter, info: RequestInfo,
                           params: dict[str, Any]) -> dict[str, Any]:
    """``repo``: the data plane's reads; ``spent``: the Region's record of spent tokens (its
    ``remember_assertion``: False when the key was recorded already)."""
    caller = info.caller
    if caller is None:  # pragma: no cover - the edge refuses unsigned calls
        raise AccessDenied("Request is missing Authentication Token")
    digest = token_hash(params["TradeInToken"])
    found = repo.delegation_request_by_token(digest)
    if found is None or info.epoch > found.expires_at:
        raise modelled_error("sts", "ExpiredTradeInTokenException", _EXPIRED)
    if found.requestor_account_id != caller.account_id:
        raise AccessDenied(f"User: {caller.arn} is not authorized to perform: sts:GetDelegatedAccessToken")
    if not spent.remember_assertion(f"delegation:{digest}", int(found.expires_at) + 1, int(info.epoch)):
        raise modelled_error("sts", "ExpiredTradeInTokenException", _EXPIRED)  # traded in already
    record = found
    approver = record.document["Approver"]
    policy = record.document["PermissionPolicy"]
    extra = dict(approver.get("extra") or {})
    extra["delegation_request"] = record.id
    kind = approver["type"]
    session_policies = tuple(approver.get("session_policies") or ())
    if kind == "Root":  # no policy binds the root user itself: the policy is its session policy
        session_policies, extra["has_session_policy"] = (*session_policies, policy), True
    else:
        extra["scope"] = [*extra.get("scope", ()), policy]
    minted = minter.mint(
        info, max(1, int(record.expires_at - info.epoch)), account_id=str(record.owner_account_id),
        principal_type=kind, arn=approver["arn"], user_id=approver["user_id"], name=approver["name"],
        parent_id=approver.get("parent_id"), session_name=approver.get("session_name"),
        session_policies=session_policies, extra=extra,
    )
    return {"Credentials": minted.credentials, "PackedPolicySize": minted.utilization,
            "AssumedPrincipal": approver["arn"]}
