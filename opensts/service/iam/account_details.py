"""The account seen whole: GetAccountAuthorizationDetails (what security tools read: every user,
group, role and managed policy with their relationships), ListEntitiesForPolicy, the account
alias and account properties.

Pagination runs over one ordered list of (kind, entity): users, groups, roles, then policies, so
a Marker continues across kinds; only the page returned is expanded into its details.
"""

from __future__ import annotations

from typing import Any

from opensts.service.context import RequestInfo
from opensts.service.iam._base import (
    IamBase,
    Params,
    Result,
    action,
    boundary_result,
    encode_document,
    page,
    tag_list,
    utc,
)
from opensts.service.iam.paging import Source, keyset_page
from opensts.store.iam_repository import PolicyRecord
from opensts.store.repository import EntityAlreadyExists

__all__ = ["AccountDetailActions"]

_KINDS = ("User", "Group", "Role", "LocalManagedPolicy", "AWSManagedPolicy")


class AccountDetailActions(IamBase):
    # -- GetAccountAuthorizationDetails ---------------------------------------------------
    def _sources(self, account: str, wanted: set[str]) -> list[Source[tuple[str, Any]]]:
        """Users, groups, roles, then managed policies (the account's and the AWS managed ones it
        uses, merged by name): each a keyset source, so a page reads only its own entities."""
        repo = self.repo

        def of(kind: str, fetch: Any, key: Any, arity: int = 1) -> Source[tuple[str, Any]]:
            return Source(lambda k, limit: [(kind, e) for e in fetch(k, limit)], lambda item: key(item[1]), arity)

        local, aws = "LocalManagedPolicy" in wanted, "AWSManagedPolicy" in wanted
        none = lambda k, limit: []  # noqa: E731 - a kind the Filter leaves out
        return [
            of("User", (lambda k, n: repo.users_page(account, "/", k, n)) if "User" in wanted else none,
               lambda u: (u.name_lower,)),
            of("Group", (lambda k, n: repo.groups_page(account, "/", k, n)) if "Group" in wanted else none,
               lambda g: (g.name.lower(),)),
            of("Role", (lambda k, n: repo.roles_page(account, "/", k, n, tags=True)) if "Role" in wanted else none,
               lambda r: (r.name.lower(),)),
            of("Policy", (lambda k, n: repo.policies_page(account, local=local, aws=aws, aws_used_only=True,
                                                          key=k, limit=n)) if local or aws else none,
               lambda p: (p.name, p.id), 2),
        ]

    @staticmethod
    def _attached(policies: list[tuple[str, str]]) -> list[Result]:
        return [{"PolicyName": name, "PolicyArn": arn} for name, arn in policies]

    @staticmethod
    def _inline(docs: dict[str, str]) -> list[Result]:
        return [{"PolicyName": n, "PolicyDocument": encode_document(d)} for n, d in sorted(docs.items())]

    # Each ``_*_details`` expands one page's entities of a kind with a fixed number of queries
    # (each relation read for the whole page at once), whatever the page's size.
    def _user_details(self, info: RequestInfo, rows: list[Any]) -> list[Result]:
        ids = [r.id for r in rows]
        inline, groups = self.repo.inline_policies_of("user", ids), self.repo.group_names_of(ids)
        attached, tags = self.repo.attached_of("user", ids), self.repo.tags_of("user", ids)
        out = []
        for row in rows:
            item: Result = {
                "Path": row.path, "UserName": row.name, "UserId": row.id,
                "Arn": self.arn(info, f"user{row.path}{row.name}"), "CreateDate": utc(row.created_at),
                "UserPolicyList": self._inline(inline.get(row.id, {})),
                "GroupList": groups.get(row.id, []),
                "AttachedManagedPolicies": self._attached(attached.get(row.id, [])),
            }
            if row.permissions_boundary_arn:
                item["PermissionsBoundary"] = boundary_result(row.permissions_boundary_arn)
            if row.id in tags:
                item["Tags"] = tag_list(tags[row.id])
            out.append(item)
        return out

    def _group_details(self, info: RequestInfo, groups: list[Any]) -> list[Result]:
        ids = [g.id for g in groups]
        inline, attached = self.repo.inline_policies_of("group", ids), self.repo.attached_of("group", ids)
        return [{
            "Path": group.path, "GroupName": group.name, "GroupId": group.id,
            "Arn": self.arn(info, f"group{group.path}{group.name}"), "CreateDate": utc(group.created_at),
            "GroupPolicyList": self._inline(inline.get(group.id, {})),
            "AttachedManagedPolicies": self._attached(attached.get(group.id, [])),
        } for group in groups]

    def _role_details(self, info: RequestInfo, roles: list[Any]) -> list[Result]:
        ids = [r.id for r in roles]
        inline, attached = self.repo.inline_policies_of("role", ids), self.repo.attached_of("role", ids)
        profiles = self.repo.instance_profiles_of(ids)
        shown = self.profile_results(  # type: ignore[attr-defined]  # InstanceProfileActions
            info, list({p.id: p for ps in profiles.values() for p in ps}.values()))
        by_id = {item["InstanceProfileId"]: item for item in shown}
        out = []
        for role in roles:
            item: Result = {
                "Path": role.path, "RoleName": role.name, "RoleId": role.id, "Arn": self.role_arn(info, role),
                "CreateDate": utc(role.created_at), "AssumeRolePolicyDocument": encode_document(role.trust_policy),
                "InstanceProfileList": [by_id[p.id] for p in profiles.get(role.id, [])],
                "RolePolicyList": self._inline(inline.get(role.id, {})),
                "AttachedManagedPolicies": self._attached(attached.get(role.id, [])),
                "RoleLastUsed": {},
            }
            if role.permissions_boundary_arn:
                item["PermissionsBoundary"] = boundary_result(role.permissions_boundary_arn)
            if role.tags:
                item["Tags"] = tag_list(role.tags)
            out.append(item)
        return out

    def _policy_details(self, account: str, policies: list[PolicyRecord]) -> list[Result]:
        versions = self.repo.versions_of(policies)
        used, bounded = self.repo.account_uses_of(account, [p.arn for p in policies])
        out = []
        for policy in policies:
            item: Result = {
                "PolicyName": policy.name, "PolicyId": policy.id, "Arn": policy.arn, "Path": policy.path,
                "DefaultVersionId": policy.default_version,
                "AttachmentCount": used.get(policy.arn, 0) if policy.account_id is None else policy.attachment_count,
                "PermissionsBoundaryUsageCount": bounded.get(policy.arn, 0),
                "IsAttachable": True, "CreateDate": utc(policy.created_at), "UpdateDate": utc(policy.updated_at),
                "PolicyVersionList": [
                    {"Document": encode_document(v.document), "VersionId": v.version_id,
                     "IsDefaultVersion": v.is_default, "CreateDate": utc(v.created_at)}
                    for v in versions.get(policy.arn, [])
                ],
            }
            if policy.description is not None:
                item["Description"] = policy.description
            out.append(item)
        return out

    @action("GetAccountAuthorizationDetails")
    def get_account_authorization_details(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "GetAccountAuthorizationDetails", "*")
        account = self.caller(info).account_id
        wanted = set(params.get("Filter") or _KINDS)
        chunk, extra = keyset_page(params, "account-details", self._sources(account, wanted))
        of = {kind: [e for k, e in chunk if k == kind] for kind in ("User", "Group", "Role", "Policy")}
        out: Result = {
            "UserDetailList": self._user_details(info, of["User"]) if of["User"] else [],
            "GroupDetailList": self._group_details(info, of["Group"]) if of["Group"] else [],
            "RoleDetailList": self._role_details(info, of["Role"]) if of["Role"] else [],
            "Policies": self._policy_details(account, of["Policy"]) if of["Policy"] else [],
        }
        return {**out, **extra}

    # -- ListEntitiesForPolicy ------------------------------------------------------------
    @action("ListEntitiesForPolicy")
    def list_entities_for_policy(self, info: RequestInfo, params: Params) -> Result:
        arn = params["PolicyArn"]
        self.authorize(info, "ListEntitiesForPolicy", arn)
        if self.visible_policy(info, arn) is None:
            raise self.no_such(f"Policy {arn} was not found.")
        account = self.caller(info).account_id
        usage = params.get("PolicyUsageFilter")
        entity_filter = params.get("EntityFilter")
        only = {"User": "user", "Group": "group", "Role": "role"}.get(entity_filter or "")
        prefix = params.get("PathPrefix", "/")

        def source(kind: str) -> Source[tuple[str, Any]]:
            def fetch(key: Any, limit: int) -> list[tuple[str, Any]]:
                if entity_filter is not None and kind != only:
                    return []
                rows = self.repo.policy_entities_page(
                    kind, arn, account, attached=usage in (None, "PermissionsPolicy"),
                    boundary=usage in (None, "PermissionsBoundary"), path_prefix=prefix, key=key, limit=limit)
                return [(kind, r) for r in rows]
            return Source(fetch, lambda item: (item[1].name.lower(),))

        # groups, then users, then roles, each by name: one query per kind at most per page
        chunk, extra = keyset_page(params, "policy-entities", [source(k) for k in ("group", "user", "role")])
        return {
            "PolicyGroups": [{"GroupName": r.name, "GroupId": r.id} for k, r in chunk if k == "group"],
            "PolicyUsers": [{"UserName": r.name, "UserId": r.id} for k, r in chunk if k == "user"],
            "PolicyRoles": [{"RoleName": r.name, "RoleId": r.id} for k, r in chunk if k == "role"],
            **extra,
        }

    # -- account alias --------------------------------------------------------------------
    @action("CreateAccountAlias")
    def create_account_alias(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "CreateAccountAlias", "*")
        alias, account = params["AccountAlias"], self.caller(info).account_id
        taken = f"The account alias {alias} already exists."
        owner = self.repo.alias_owner(alias)
        if owner is not None and owner != account:
            raise self.err("EntityAlreadyExists", taken)
        if owner == account:
            return {}
        try:  # the alias is the table's key: unique across every account even under a race
            self.repo.set_account_alias(account, alias)
        except EntityAlreadyExists:
            raise self.err("EntityAlreadyExists", taken) from None
        self.written()
        return {}

    @action("DeleteAccountAlias")
    def delete_account_alias(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "DeleteAccountAlias", "*")
        alias = params["AccountAlias"]
        if not self.repo.delete_account_alias(self.caller(info).account_id, alias):
            raise self.no_such(f"The account alias {alias} cannot be found.")
        self.written()
        return {}

    @action("ListAccountAliases")
    def list_account_aliases(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "ListAccountAliases", "*")
        chunk, extra = page(self.repo.account_aliases(self.caller(info).account_id), params)
        return {"AccountAliases": chunk, **extra}

    # -- account properties ---------------------------------------------------------------
    @action("GetAccountProperties")
    def get_account_properties(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "GetAccountProperties", "*")
        return {"Properties": self.repo.account_properties(self.caller(info).account_id)}

    @action("PutAccountProperties")
    def put_account_properties(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "PutAccountProperties", "*")
        properties: dict[str, str] = dict(params["Properties"])
        if not properties:
            raise self.invalid("Properties must contain at least one property.")
        namespaces = set()
        for key in properties:
            namespace, slash, name = key.partition("/")
            if not slash or not namespace or not name or "/" in name:
                raise self.invalid(f"Invalid property key {key}: a key is Namespace/PropertyName, "
                                   "with exactly one '/' and neither part empty.")
            namespaces.add(namespace)
        if len(namespaces) > 1:
            raise self.invalid("All properties in a request must belong to the same namespace.")
        self.repo.put_account_properties(self.caller(info).account_id, properties)
        self.written()
        return {}
