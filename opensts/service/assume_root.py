"""AssumeRoot: a short root session in a member account, scoped by an AWS managed task policy.

The caller is an IAM principal (never a root user) of the organization's management account or
of IAM's delegated administrator, in an organization with centralized root sessions enabled
(``iam enable-organizations-root-sessions``); its identity policy must allow ``sts:AssumeRoot``
on ``arn:aws:iam::MEMBER:root`` (condition key ``sts:TaskPolicyArn``). The session is the member
account's root user (``GetCallerIdentity`` answers ``arn:aws:iam::MEMBER:root``) bound by the task
policy, which is sealed in the token as the session policy; its requests carry
``aws:AssumedRoot = true``. At most 900 seconds. Regional endpoints only (the pipeline refuses the
global one).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from opensts.protocol.errors import AccessDenied, ValidationError
from opensts.service.context import RequestInfo
from opensts.service.iam.aws_managed import ROOT_TASK_POLICY_ARNS
from opensts.service.identifiers import parse_arn, root_arn
from opensts.service.minting import Minter
from opensts.service.organizations import may_assume_root
from opensts.service.sessions import minify
from opensts.store.cache import StoreCache

__all__ = ["AssumeRootAction", "DEFAULT_DURATION"]

DEFAULT_DURATION = 900
_ACCOUNT = re.compile(r"\d{12}", re.ASCII)

Authorize = Callable[[RequestInfo, str, str, dict[str, Any]], None]


class AssumeRootAction:
    def __init__(self, cache: StoreCache, minter: Minter, authorize: Authorize) -> None:
        self._cache = cache
        self._minter = minter
        self._authorize = authorize

    def __call__(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        caller = info.caller
        assert caller is not None  # the edge refuses unsigned AssumeRoot
        target = _target_account(params["TargetPrincipal"])
        task_arn = params["TaskPolicyArn"]["arn"]
        if task_arn not in ROOT_TASK_POLICY_ARNS:
            raise ValidationError(f"The TaskPolicyArn {task_arn} is not a supported root task policy. Use one of: "
                                  + ", ".join(sorted(ROOT_TASK_POLICY_ARNS)) + ".")
        resource = root_arn(caller.partition, target)
        denied = AccessDenied(f"User: {caller.arn} is not authorized to perform: sts:AssumeRoot on resource: {resource}")
        if caller.type == "Root":
            raise denied  # AWS: root user credentials cannot call AssumeRoot
        org = self._cache.organization(caller.account_id)
        member = self._cache.organization(target)
        if (org is None or member is None or member.id != org.id or target == org.management_account_id
                or not may_assume_root(self._cache.repo, org, caller.account_id)):
            raise denied
        self._authorize(info, "sts:AssumeRoot", resource, {"sts:TaskPolicyArn": task_arn})
        task_doc = self._cache.repo.default_policy_document(task_arn)  # type: ignore[attr-defined]
        source = caller.session.source_identity if caller.session else None
        minted = self._minter.mint(
            info, params.get("DurationSeconds", DEFAULT_DURATION),
            account_id=target, principal_type="Root", arn=resource, user_id=target, name="root",
            policy_arns=(task_arn,), source_identity=source,
            extra={"assumed_root": True, "spm": [minify(task_doc)], "has_session_policy": True, "issuer_arn": caller.arn},
            minimum_size=params.get("MinimumSessionTokenSize"),
        )
        info.extra["owner_account"] = target  # the member account's trail gets the event too
        result: dict[str, Any] = {"Credentials": minted.credentials, **self._minter.result_sizes(minted)}
        if source is not None:
            result["SourceIdentity"] = source
        return result


def _target_account(principal: str) -> str:
    """A member account id, or the ARN of its root user."""
    if _ACCOUNT.fullmatch(principal):
        return principal
    parts = parse_arn(principal)
    if parts is not None and parts[1] == "iam" and parts[4] == "root" and _ACCOUNT.fullmatch(parts[3]):
        return parts[3]
    raise ValidationError("TargetPrincipal must be a member account ID or the ARN of its root user "
                          "(arn:aws:iam::ACCOUNT:root).")
