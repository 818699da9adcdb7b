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

    def _used_in(self, account: str, arn: str) -> int:
        """How many of ``account``'s users, groups and roles use the policy (attached)."""
        return sum(len(rows) for rows in self.repo.policy_entities(arn, account).values())

    @staticmethod
    def _attached(policies: list[PolicyRecord]) -> list[Result]:
        return [{"PolicyName": p.name, "PolicyArn": p.arn} for p in policies]

    @staticmethod
    def _inline(docs: dict[str, str]) -> list[Result]:
        return [{"PolicyName": n, "PolicyDocument": encode_document(d)} for n, d in sorted(docs.items())]

    def _user_detail(self, info: RequestInfo, row: Any) -> Result:
        out: Result = {
            "Path": row.path, "UserName": row.name, "UserId": row.id,
            "Arn": self.arn(info, f"user{row.path}{row.name}"), "CreateDate": utc(row.created_at),
            "UserPolicyList": self._inline(self.repo.list_user_policies(row.id)),
            "GroupList": [g.name for g in self.repo.groups_for_user(row.id)],
            "AttachedManagedPolicies": self._attached(self.repo.attached_policies("user", row.id)),
        }
        if row.permissions_boundary_arn:
            out["PermissionsBoundary"] = boundary_result(row.permissions_boundary_arn)
        tags = self.repo.get_tags("user", row.id)
        if tags:
            out["Tags"] = tag_list(tags)
        return out

    def _group_detail(self, info: RequestInfo, group: Any) -> Result:
        return {
            "Path": group.path, "GroupName": group.name, "GroupId": group.id,
            "Arn": self.arn(info, f"group{group.path}{group.name}"), "CreateDate": utc(group.created_at),
            "GroupPolicyList": self._inline(self.repo.list_group_policies(group.id)),
            "AttachedManagedPolicies": self._attached(self.repo.attached_policies("group", group.id)),
        }

    def _role_detail(self, info: RequestInfo, role: Any) -> Result:
        out: Result = {
            "Path": role.path, "RoleName": role.name, "RoleId": role.id, "Arn": self.role_arn(info, role),
            "CreateDate": utc(role.created_at), "AssumeRolePolicyDocument": encode_document(role.trust_policy),
            "InstanceProfileList": self._instance_profiles(info, role),
            "RolePolicyList": self._inline(self.repo.list_role_policies(role.id)),
            "AttachedManagedPolicies": self._attached(self.repo.attached_policies("role", role.id)),
            "RoleLastUsed": {},
        }
        if role.permissions_boundary_arn:
            out["PermissionsBoundary"] = boundary_result(role.permissions_boundary_arn)
        if role.tags:
            out["Tags"] = tag_list(role.tags)
        return out

    def _instance_profiles(self, info: RequestInfo, role: Any) -> list[Result]:
        """The role's instance profiles (InstanceProfileList), as GetInstanceProfile shows them."""
        return [self.profile_result(info, p) for p in self.repo.instance_profiles_for_role(role.id)]  # type: ignore[attr-defined]

    def _policy_detail(self, account: str, policy: PolicyRecord) -> Result:
        count = self._used_in(account, policy.arn) if policy.account_id is None else policy.attachment_count
        out: Result = {
            "PolicyName": policy.name, "PolicyId": policy.id, "Arn": policy.arn, "Path": policy.path,
            "DefaultVersionId": policy.default_version, "AttachmentCount": count,
            "PermissionsBoundaryUsageCount": sum(len(r) for r in self.repo.boundary_entities(policy.arn, account).values()),
            "IsAttachable": True, "CreateDate": utc(policy.created_at), "UpdateDate": utc(policy.updated_at),
            "PolicyVersionList": [
                {"Document": encode_document(v.document), "VersionId": v.version_id,
                 "IsDefaultVersion": v.is_default, "CreateDate": utc(v.created_at)}
                for v in self.repo.policy_versions(policy.arn)
            ],
        }
        if policy.description is not None:
            out["Description"] = policy.description
        return out

    @action("GetAccountAuthorizationDetails")
    def get_account_authorization_details(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "GetAccountAuthorizationDetails", "*")
        account = self.caller(info).account_id
        wanted = set(params.get("Filter") or _KINDS)
        chunk, extra = keyset_page(params, "account-details", self._sources(account, wanted))
        out: Result = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []}
        for kind, entity in chunk:
            if kind == "User":
                out["UserDetailList"].append(self._user_detail(info, entity))  # the user's full row
            elif kind == "Group":
                out["GroupDetailList"].append(self._group_detail(info, entity))
            elif kind == "Role":
                out["RoleDetailList"].append(self._role_detail(info, entity))
            else:
                out["Policies"].append(self._policy_detail(account, entity))
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
