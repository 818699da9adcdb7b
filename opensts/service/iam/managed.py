"""Customer managed policies, their versions, and attachments to roles and users."""

from __future__ import annotations

from opensts.policy import parse_policy
from opensts.service.context import RequestInfo
from opensts.service.iam._base import IamBase, Params, Result, action, encode_document, page, tag_list, tag_map, utc
from opensts.service.iam.paging import Source, keyset_page
from opensts.service.iam.tags import check_new_tags
from opensts.service.identifiers import new_unique_id
from opensts.store.iam_repository import PolicyRecord
from opensts.store.repository import EntityAlreadyExists, LimitReached, ParentGone, StaleState

__all__ = ["ManagedPolicyActions", "MAX_VERSIONS", "MAX_ATTACHED", "policy_arn_key"]

MAX_VERSIONS = 5
MAX_ATTACHED = 10
_VERSION_LIMIT = (
    "A managed policy can have up to 5 versions. Before you create a new version, you must delete an "
    "existing version."
)
_HAS_VERSIONS = (
    "This policy has more than one version. Before you delete a policy, you must delete the policy's "
    "versions. The default version is deleted with the policy."
)


def policy_arn_key(params: Params) -> dict[str, str]:
    """``iam:PolicyARN``: the condition key of the attach and detach actions (users, groups, roles)."""
    return {"iam:PolicyARN": params["PolicyArn"]}


class ManagedPolicyActions(IamBase):
    def policy_result(self, policy: PolicyRecord, *, description: bool = True, tags: bool = True) -> Result:
        out: Result = {
            "PolicyName": policy.name,
            "PolicyId": policy.id,
            "Arn": policy.arn,
            "Path": policy.path,
            "DefaultVersionId": policy.default_version,
            "AttachmentCount": policy.attachment_count,
            "PermissionsBoundaryUsageCount": self.repo.boundary_usage_count(policy.arn)
            if policy.boundary_usage_count is None else policy.boundary_usage_count,
            "IsAttachable": True,
            "CreateDate": utc(policy.created_at),
            "UpdateDate": utc(policy.updated_at),
        }
        if description and policy.description is not None:
            out["Description"] = policy.description
        if tags:
            tag_map_ = self.repo.get_tags("policy", policy.arn)
            if tag_map_:
                out["Tags"] = tag_list(tag_map_)
        return out

    def _policy(self, info: RequestInfo, params: Params, action_name: str) -> PolicyRecord:
        arn = params["PolicyArn"]
        self.authorize(info, action_name, arn)
        policy = self.visible_policy(info, arn)
        if policy is None:
            raise self.no_such(f"Policy {arn} was not found.")
        return policy

    def _own_policy(self, info: RequestInfo, params: Params, action_name: str) -> PolicyRecord:
        policy = self._policy(info, params, action_name)
        if policy.account_id is None:
            raise self.err("UnmodifiableEntity" if action_name == "DeletePolicy" else "InvalidInput",
                           f"Policy {policy.arn} is an AWS managed policy and cannot be modified.")
        return policy

    # -- policies ---------------------------------------------------------------------------
    @action("CreatePolicy")
    def create_policy(self, info: RequestInfo, params: Params) -> Result:
        name, path = params["PolicyName"], params.get("Path", "/")
        arn = self.arn(info, f"policy{path}{name}")
        self.authorize(info, "CreatePolicy", arn)
        document = params["PolicyDocument"]
        parse_policy(document, "managed")
        check_new_tags(self, params.get("Tags"), {})
        account = self.caller(info).account_id
        duplicate = f"A policy called {name} already exists. Duplicate names are not allowed."
        try:  # names are unique per account in any case: checked under the account's row lock
            policy = self.repo.create_policy(arn, new_unique_id("ANPA"), account, name, path, document,
                                             params.get("Description"), tag_map(params.get("Tags")))
        except EntityAlreadyExists:
            raise self.err("EntityAlreadyExists", duplicate) from None
        self.written()
        return {"Policy": self.policy_result(policy, description=True)}

    @action("GetPolicy")
    def get_policy(self, info: RequestInfo, params: Params) -> Result:
        return {"Policy": self.policy_result(self._policy(info, params, "GetPolicy"))}

    @action("ListPolicies")
    def list_policies(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "ListPolicies", self.arn(info, "policy/"))
        scope = params.get("Scope", "All")
        prefix = params.get("PathPrefix", "/")
        account = self.caller(info).account_id
        only_attached = bool(params.get("OnlyAttached"))
        chunk, extra = keyset_page(params, "policies", [Source(
            lambda key, limit: self.repo.policies_page(account, local=scope != "AWS", aws=scope != "Local",
                                                       path_prefix=prefix, only_attached=only_attached,
                                                       key=key, limit=limit),
            lambda p: (p.name, p.id), arity=2)])
        return {"Policies": [self.policy_result(p, description=False, tags=False) for p in chunk], **extra}

    @action("DeletePolicy")
    def delete_policy(self, info: RequestInfo, params: Params) -> Result:
        policy = self._own_policy(info, params, "DeletePolicy")
        if policy.attachment_count:
            raise self.err("DeleteConflict", "Cannot delete a policy attached to entities.")
        if len(self.repo.policy_versions(policy.arn)) > 1:
            raise self.err("DeleteConflict", _HAS_VERSIONS)
        try:  # checked again under the policy's lock: a version or attachment made meanwhile
            self.repo.delete_policy(policy.arn)
        except StaleState:
            raise self.err("DeleteConflict", _HAS_VERSIONS if len(self.repo.policy_versions(policy.arn)) > 1
                           else "Cannot delete a policy attached to entities.") from None
        except ParentGone:
            raise self.no_such(f"Policy {policy.arn} was not found.") from None
        self.written()
        return {}

    # -- versions ---------------------------------------------------------------------------
    @staticmethod
    def _version_result(v: object, *, document: bool) -> Result:
        out: Result = {"VersionId": v.version_id, "IsDefaultVersion": v.is_default,  # type: ignore[attr-defined]
                       "CreateDate": utc(v.created_at)}  # type: ignore[attr-defined]
        if document:
            out["Document"] = encode_document(v.document)  # type: ignore[attr-defined]
        return out

    def _version_missing(self, arn: str, version_id: str) -> Exception:
        return self.no_such(f"Policy {arn} version {version_id} does not exist or is not attachable.")

    @action("CreatePolicyVersion")
    def create_policy_version(self, info: RequestInfo, params: Params) -> Result:
        policy = self._own_policy(info, params, "CreatePolicyVersion")
        document = params["PolicyDocument"]
        parse_policy(document, "managed")
        default = bool(params.get("SetAsDefault"))
        try:  # the count and the next id are read under the policy's row lock
            version_id = self.repo.create_policy_version(policy.arn, document, default, MAX_VERSIONS)
        except LimitReached:
            raise self.err("LimitExceeded", _VERSION_LIMIT) from None
        except ParentGone:
            raise self.no_such(f"Policy {policy.arn} was not found.") from None
        self.written()
        version = self.repo.get_policy_version(policy.arn, version_id)
        return {"PolicyVersion": self._version_result(version, document=False)}

    @action("GetPolicyVersion")
    def get_policy_version(self, info: RequestInfo, params: Params) -> Result:
        policy = self._policy(info, params, "GetPolicyVersion")
        version = self.repo.get_policy_version(policy.arn, params["VersionId"])
        if version is None:
            raise self._version_missing(policy.arn, params["VersionId"])
        return {"PolicyVersion": self._version_result(version, document=True)}

    @action("ListPolicyVersions")
    def list_policy_versions(self, info: RequestInfo, params: Params) -> Result:
        policy = self._policy(info, params, "ListPolicyVersions")
        chunk, extra = page(self.repo.policy_versions(policy.arn), params)
        return {"Versions": [self._version_result(v, document=False) for v in chunk], **extra}

    @action("DeletePolicyVersion")
    def delete_policy_version(self, info: RequestInfo, params: Params) -> Result:
        policy = self._own_policy(info, params, "DeletePolicyVersion")
        version = self.repo.get_policy_version(policy.arn, params["VersionId"])
        if version is None:
            raise self._version_missing(policy.arn, params["VersionId"])
        if version.is_default:
            raise self.err("DeleteConflict", "Cannot delete the default version of a policy.")
        try:  # checked again under the policy's lock: it may have become the default meanwhile
            self.repo.delete_policy_version(policy.arn, version.version_id)
        except StaleState:
            if self.repo.get_policy_version(policy.arn, version.version_id) is None:
                raise self._version_missing(policy.arn, version.version_id) from None
            raise self.err("DeleteConflict", "Cannot delete the default version of a policy.") from None
        except ParentGone:
            raise self.no_such(f"Policy {policy.arn} was not found.") from None
        self.written()
        return {}

    @action("SetDefaultPolicyVersion")
    def set_default_policy_version(self, info: RequestInfo, params: Params) -> Result:
        policy = self._own_policy(info, params, "SetDefaultPolicyVersion")
        try:  # the version must still exist under the policy's lock (a delete may race)
            self.repo.set_default_policy_version(policy.arn, params["VersionId"])
        except (StaleState, ParentGone):
            raise self._version_missing(policy.arn, params["VersionId"]) from None
        self.written()
        return {}

    # -- attachments ------------------------------------------------------------------------
    def _attach(self, info: RequestInfo, kind: str, entity_id: str, name: str, arn: str) -> Result:
        self.attachable_policy(info, arn)
        try:  # counted under the user's/role's row lock
            self.repo.attach_policy(kind, entity_id, arn, limit=MAX_ATTACHED)
        except LimitReached:
            quota = "PoliciesPerRole" if kind == "role" else "PoliciesPerUser"
            raise self.err("LimitExceeded", f"Cannot exceed quota for {quota}: {MAX_ATTACHED}") from None
        except StaleState:
            raise self.no_such(f"Policy {arn} does not exist or is not attachable.") from None
        except ParentGone:
            raise self.no_such(f"The {kind} with name {name} cannot be found.") from None
        self.written()
        return {}

    def _detach(self, kind: str, entity_id: str, arn: str) -> Result:
        if all(p.arn != arn for p in self.repo.attached_policies(kind, entity_id)):
            raise self.no_such(f"Policy {arn} was not found.")
        self.repo.detach_policy(kind, entity_id, arn)
        self.written()
        return {}

    def _list_attached(self, kind: str, entity_id: str, params: Params) -> Result:
        prefix = params.get("PathPrefix", "/")
        attached = [p for p in self.repo.attached_policies(kind, entity_id) if p.path.startswith(prefix)]
        chunk, extra = page(attached, params)
        return {"AttachedPolicies": [{"PolicyName": p.name, "PolicyArn": p.arn} for p in chunk], **extra}

    @action("AttachRolePolicy")
    def attach_role_policy(self, info: RequestInfo, params: Params) -> Result:
        role = self.authorized_role(info, params, "AttachRolePolicy", policy_arn_key(params))
        self.refuse_service_linked(role)  # type: ignore[attr-defined]  # ServiceLinkedRoleActions
        return self._attach(info, "role", role.id, role.name, params["PolicyArn"])

    @action("DetachRolePolicy")
    def detach_role_policy(self, info: RequestInfo, params: Params) -> Result:
        role = self.authorized_role(info, params, "DetachRolePolicy", policy_arn_key(params))
        self.refuse_service_linked(role)  # type: ignore[attr-defined]  # ServiceLinkedRoleActions
        return self._detach("role", role.id, params["PolicyArn"])

    @action("ListAttachedRolePolicies")
    def list_attached_role_policies(self, info: RequestInfo, params: Params) -> Result:
        role = self.authorized_role(info, params, "ListAttachedRolePolicies")
        return self._list_attached("role", role.id, params)

    @action("AttachUserPolicy")
    def attach_user_policy(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "AttachUserPolicy", policy_arn_key(params))
        return self._attach(info, "user", user.id, user.name, params["PolicyArn"])

    @action("DetachUserPolicy")
    def detach_user_policy(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "DetachUserPolicy", policy_arn_key(params))
        return self._detach("user", user.id, params["PolicyArn"])

    @action("ListAttachedUserPolicies")
    def list_attached_user_policies(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "ListAttachedUserPolicies")
        return self._list_attached("user", user.id, params)
