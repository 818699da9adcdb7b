"""What policies refer to: GetContextKeysForCustomPolicy / GetContextKeysForPrincipalPolicy (the
condition keys and policy variables a simulation would need) and ListPoliciesGrantingServiceAccess
(which of an identity's policies allow anything of a service).

Both read the policies a decision reads: a user's own, those of every group it is in; a group's;
a role's (permissions policies only, as AWS documents: no boundary, SCP or resource policy).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from opensts.frozen import frozen
from opensts.policy import MalformedPolicyDocument, Policy, parse_policy
from opensts.policy.matching import compile_glob
from opensts.service.context import RequestInfo
from opensts.service.iam._base import IamBase, Params, Result, action

__all__ = ["ContextKeyActions", "context_keys"]

_VARIABLE = re.compile(r"\$\{([^{}]*)\}")
_ENTITY_ARN = re.compile(r"^arn:[a-z-]+:iam::(\d{12}):(user|role|group)(/(?:[^/]+/)*)?([^/]+)\Z", re.ASCII)
_SPECIAL = {"*", "?", "$"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _variables(values: Iterable[Any]) -> Iterator[str]:
    for value in values:
        if isinstance(value, str):
            for inner in _VARIABLE.findall(value):
                name = inner.split(",", 1)[0].strip()
                if name and name not in _SPECIAL:
                    yield name


def context_keys(policies: Iterable[Policy]) -> list[str]:
    """The context keys the policies use, in the order they appear, once each (case-insensitively,
    as keys compare): policy variables in resources and condition values (2012-10-17 documents
    only), then each condition's keys."""
    seen: dict[str, str] = {}
    for policy in policies:
        statements = _as_list(policy.document.get("Statement"))
        for st in statements:
            if not isinstance(st, dict):
                continue
            names: list[str] = []
            if policy.version == "2012-10-17":
                names += _variables(_as_list(st.get("Resource")) + _as_list(st.get("NotResource")))
            for block in (st.get("Condition") or {}).values():
                for key, values in (block or {}).items():
                    names.append(key)
                    if policy.version == "2012-10-17":
                        names += _variables(_as_list(values))
            for name in names:
                seen.setdefault(name.lower(), name)
    return list(seen.values())


@frozen
class _Owned:
    """One policy of an identity, named as ListPoliciesGrantingServiceAccess names it."""

    name: str
    managed_arn: str | None  # None: inline
    entity_type: str  # USER | GROUP | ROLE (inline policies only)
    entity_name: str
    document: str


def wildcard_match(pattern: str, value: str) -> bool:
    return compile_glob(pattern, ignore_case=True).match(value)


def _grants(policy: Policy, service: str) -> bool:
    """True when an Allow statement of the policy covers some action of ``service``."""
    for st in _as_list(policy.document.get("Statement")):
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        if "Action" in st:
            for pattern in _as_list(st["Action"]):
                prefix = pattern.split(":", 1)[0] if ":" in pattern else pattern
                if pattern == "*" or wildcard_match(prefix.lower(), service.lower()):
                    return True
        elif "NotAction" in st:  # allows every action it does not name: the service unless all excluded
            excluded = any(p == "*" or (":" in p and p.split(":", 1)[1] == "*"
                                        and wildcard_match(p.split(":", 1)[0].lower(), service.lower()))
                           for p in _as_list(st["NotAction"]))
            if not excluded:
                return True
    return False


class ContextKeyActions(IamBase):
    def _parsed(self, docs: Iterable[str]) -> list[Policy]:
        out = []
        for doc in docs:
            try:
                out.append(parse_policy(doc, "identity", strict=False))
            except MalformedPolicyDocument as exc:
                raise self.invalid(exc.message) from None
        return out

    def _entity(self, info: RequestInfo, arn: str) -> tuple[str, Any]:
        """(kind, record) of the user, group or role an ARN names in the caller's account."""
        match = _ENTITY_ARN.match(arn)
        if match is None:
            raise self.invalid(f"ARN {arn} is not valid.")
        account, kind, name = match.group(1), match.group(2), match.group(4)
        record = None
        if account == self.caller(info).account_id:
            if kind == "user":
                record = self.repo.get_user_by_name(account, name)
            elif kind == "role":
                record = self.repo.get_role(account, name)
            else:
                record = self.repo.get_group(account, name)
        if record is None:
            raise self.no_such(f"The {kind} with name {name} cannot be found.")
        return kind, record

    def _owned_policies(self, kind: str, record: Any) -> list[_Owned]:
        """The entity's permissions policies; a user's include its groups'."""
        inline = {"user": self.repo.list_user_policies, "role": self.repo.list_role_policies,
                  "group": self.repo.list_group_policies}[kind](record.id)
        out = [_Owned(n, None, kind.upper(), record.name, d) for n, d in sorted(inline.items())]
        out += [_Owned(arn.rsplit("/", 1)[-1], arn, "", "", d) for arn, d in self.repo.attached_documents(kind, record.id)]
        if kind == "user":
            for group_name, origin, pname, doc in self.repo.user_group_documents(record.id):
                out.append(_Owned(pname, None, "GROUP", group_name, doc) if origin == "inline"
                           else _Owned(pname.rsplit("/", 1)[-1], pname, "", "", doc))
        seen: set[str] = set()  # a managed policy attached to the user and to a group: listed once
        return [o for o in out if o.managed_arn is None or not (o.managed_arn in seen or seen.add(o.managed_arn))]

    @action("GetContextKeysForCustomPolicy")
    def get_context_keys_for_custom_policy(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "GetContextKeysForCustomPolicy", "*")
        return {"ContextKeyNames": context_keys(self._parsed(params["PolicyInputList"]))}

    @action("GetContextKeysForPrincipalPolicy")
    def get_context_keys_for_principal_policy(self, info: RequestInfo, params: Params) -> Result:
        arn = params["PolicySourceArn"]
        self.authorize(info, "GetContextKeysForPrincipalPolicy", arn)
        kind, record = self._entity(info, arn)
        docs = [o.document for o in self._owned_policies(kind, record)] + list(params.get("PolicyInputList") or ())
        return {"ContextKeyNames": context_keys(self._parsed(docs))}

    @action("ListPoliciesGrantingServiceAccess")
    def list_policies_granting_service_access(self, info: RequestInfo, params: Params) -> Result:
        arn = params["Arn"]
        self.authorize(info, "ListPoliciesGrantingServiceAccess", arn)
        kind, record = self._entity(info, arn)
        owned = [(o, self._parsed([o.document])[0]) for o in self._owned_policies(kind, record)]
        entries = []
        for service in dict.fromkeys(params["ServiceNamespaces"]):
            policies = []
            for o, parsed in owned:
                if not _grants(parsed, service):
                    continue
                item: Result = {"PolicyName": o.name, "PolicyType": "MANAGED" if o.managed_arn else "INLINE"}
                if o.managed_arn:
                    item["PolicyArn"] = o.managed_arn
                else:
                    item["EntityType"], item["EntityName"] = o.entity_type, o.entity_name
                policies.append(item)
            entries.append({"ServiceNamespace": service, "Policies": policies})
        return {"PoliciesGrantingServiceAccess": entries, "IsTruncated": False}
