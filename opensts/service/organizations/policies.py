"""Service control policies: enabling the type on the root, the policies, and their attachments.

Enabling SERVICE_CONTROL_POLICY attaches the AWS managed FullAWSAccess to the root, every OU and
every account, as AWS does; from then on every level keeps at least one SCP. Other policy types
(RCPs, tag, backup … policies) are not modelled: PolicyTypeNotAvailableForOrganizationException.
SCP documents are validated by the policy engine as SCPs (no Principal, 5,120 characters).
"""

from __future__ import annotations

from typing import Any

from opensts.fastrand import base32_upper
from opensts.policy import MalformedPolicyDocument, parse_policy
from opensts.service.context import RequestInfo
from opensts.service.control_policies import FULL_AWS_ACCESS, FULL_AWS_ACCESS_ID, SCP
from opensts.service.organizations._base import (
    OrganizationsBase,
    OrganizationsError,
    Params,
    Result,
    denied,
    keyset,
    op,
    page,
)
from opensts.service.paging import Source
from opensts.store.organization_repository import OrganizationRecord, OrgPolicyRecord
from opensts.store.repository import EntityAlreadyExists, LimitReached, StaleState

__all__ = ["PolicyActions", "MAX_SCP_BYTES", "MAX_SCPS_PER_TARGET"]

MAX_SCP_BYTES = 5120
MAX_SCPS_PER_TARGET = 5
_FULL = OrgPolicyRecord(FULL_AWS_ACCESS_ID, None, "FullAWSAccess", "Allows access to every operation", SCP,
                        FULL_AWS_ACCESS)


def _policy_not_found() -> OrganizationsError:
    return OrganizationsError("PolicyNotFoundException", "We can't find a policy with the PolicyId that you specified.")


def _target_not_found() -> OrganizationsError:
    return OrganizationsError("TargetNotFoundException", "We can't find a root, OU, account, or email that matches the "
                              "TargetId that you specified.")


def _unavailable(kind: str) -> OrganizationsError:
    return OrganizationsError("PolicyTypeNotAvailableForOrganizationException",
                              f"The policy type {kind} is not available in OpenSTS: only SERVICE_CONTROL_POLICY is.")



def _duplicate_attachment() -> OrganizationsError:
    return OrganizationsError("DuplicatePolicyAttachmentException", "The selected policy is already attached to the "
                              "specified target.")


def _not_attached() -> OrganizationsError:
    return OrganizationsError("PolicyNotAttachedException", "The policy isn't attached to the specified target in "
                              "the specified root.")

class PolicyActions(OrganizationsBase):
    # -- helpers --------------------------------------------------------------------------------------
    def _policy(self, org: OrganizationRecord, policy_id: str) -> OrgPolicyRecord:
        if policy_id == FULL_AWS_ACCESS_ID:
            return _FULL
        policy = self._repo.get_org_policy(policy_id)
        if policy is None or policy.organization_id != org.id:
            raise _policy_not_found()
        return policy

    def _summary(self, org: OrganizationRecord, policy: OrgPolicyRecord) -> Result:
        owner = "aws" if policy.organization_id is None else f"{org.management_account_id}"
        middle = "" if policy.organization_id is None else f"{org.id}/"
        return {"Id": policy.id,
                "Arn": f"arn:aws:organizations::{owner}:policy/{middle}service_control_policy/{policy.id}",
                "Name": policy.name, "Description": policy.description, "Type": policy.type,
                "AwsManaged": policy.organization_id is None}

    def _full(self, org: OrganizationRecord, policy: OrgPolicyRecord) -> Result:
        return {"Policy": {"PolicySummary": self._summary(org, policy), "Content": policy.content}}

    def _check_content(self, content: str) -> None:
        if len(content) > MAX_SCP_BYTES:
            raise OrganizationsError("ConstraintViolationException", "You attempted to create a policy that is "
                                     "larger than the maximum size.", "POLICY_CONTENT_LIMIT_EXCEEDED")
        try:
            parse_policy(content, "scp")
        except MalformedPolicyDocument as exc:
            raise OrganizationsError("MalformedPolicyDocumentException", "The provided policy document doesn't meet "
                                     f"the requirements of the specified policy type: {exc.message}") from None

    def _target(self, org: OrganizationRecord, target: str) -> tuple[str, str, str]:
        """(kind, name, ARN) of a root, OU or account of the organization."""
        mgmt = org.management_account_id
        if target == org.root_id:
            return "ROOT", "Root", f"arn:aws:organizations::{mgmt}:root/{org.id}/{target}"
        if target.startswith("ou-"):
            ou = self._repo.get_ou(target)
            if ou is None or ou.organization_id != org.id:
                raise _target_not_found()
            return "ORGANIZATIONAL_UNIT", ou.name, f"arn:aws:organizations::{mgmt}:ou/{org.id}/{target}"
        try:
            self._member_or_management(org, target)
        except OrganizationsError:
            raise _target_not_found() from None
        record = self._repo.get_account(target)
        return "ACCOUNT", record.name if record else target, f"arn:aws:organizations::{mgmt}:account/{org.id}/{target}"

    def _attached(self, org: OrganizationRecord) -> list[tuple[str, str]]:
        return self._repo.org_policy_targets(org.id)

    # -- the policy type ----------------------------------------------------------------------------
    def _root(self, info: RequestInfo, params: Params) -> OrganizationRecord:
        org = self._managed(info)
        if params["RootId"] != org.root_id:
            raise OrganizationsError("RootNotFoundException", "We can't find a root with the RootId that you specified.")
        if params["PolicyType"] != SCP:
            raise _unavailable(params["PolicyType"])
        return org

    @op("EnablePolicyType")
    def enable_policy_type(self, info: RequestInfo, params: Params) -> Result:
        org = self._root(info, params)
        if SCP in org.policy_types:
            raise OrganizationsError("PolicyTypeAlreadyEnabledException", "The specified policy type is already "
                                     "enabled.")
        if org.feature_set != "ALL":
            raise OrganizationsError("ConstraintViolationException", "The organization must have all features "
                                     "enabled.", "ORGANIZATION_NOT_IN_ALL_FEATURES_MODE")
        targets = [org.root_id, org.management_account_id, *(ou.id for ou in self._repo.ous(org.id)),
                   *(m.account_id for m in self._repo.member_accounts(org.id))]
        try:
            for target in targets:
                self._repo.attach_org_policy(org.id, FULL_AWS_ACCESS_ID, target)
        except EntityAlreadyExists:  # a concurrent EnablePolicyType attached it first
            raise OrganizationsError("PolicyTypeAlreadyEnabledException", "The specified policy type is already "
                                     "enabled.") from None
        self._repo.edit_organization_set(org.id, "policy_types", add=frozenset({SCP}))
        self._written()
        return {"Root": self.root_result(self._repo.get_organization(org.id))}  # type: ignore[attr-defined]

    @op("DisablePolicyType")
    def disable_policy_type(self, info: RequestInfo, params: Params) -> Result:
        org = self._root(info, params)
        if SCP not in org.policy_types:
            raise OrganizationsError("PolicyTypeNotEnabledException", "This operation can be performed only for "
                                     "enabled policy types.")
        scps = {FULL_AWS_ACCESS_ID, *(p.id for p in self._repo.org_policies(org.id) if p.type == SCP)}
        self._repo.detach_org_policies(org.id, scps)
        self._repo.edit_organization_set(org.id, "policy_types", remove=frozenset({SCP}))
        self._written()
        return {"Root": self.root_result(self._repo.get_organization(org.id))}  # type: ignore[attr-defined]

    # -- policies -------------------------------------------------------------------------------------
    @op("CreatePolicy")
    def create_policy(self, info: RequestInfo, params: Params) -> Result:
        org = self._managed(info)
        if params["Type"] != SCP:
            raise _unavailable(params["Type"])
        self._check_content(params["Content"])
        if any(p.name == params["Name"] for p in self._repo.org_policies(org.id)):
            raise OrganizationsError("DuplicatePolicyException", "A policy with the same name already exists.")
        policy = OrgPolicyRecord("p-" + base32_upper(8).lower(), org.id, params["Name"], params["Description"],
                                 SCP, params["Content"])
        self._repo.create_org_policy(policy)
        self._written()
        return self._full(org, policy)

    @op("DescribePolicy")
    def describe_policy(self, info: RequestInfo, params: Params) -> Result:
        org = self._administered(info)
        return self._full(org, self._policy(org, params["PolicyId"]))

    @op("UpdatePolicy")
    def update_policy(self, info: RequestInfo, params: Params) -> Result:
        org = self._managed(info)
        policy = self._policy(org, params["PolicyId"])
        if policy.organization_id is None:
            raise denied()  # AWS managed policies cannot be changed
        changes = {k.lower(): params[k] for k in ("Name", "Description", "Content") if params.get(k) is not None}
        if "content" in changes:
            self._check_content(changes["content"])
        if "name" in changes and any(p.name == changes["name"] and p.id != policy.id
                                     for p in self._repo.org_policies(org.id)):
            raise OrganizationsError("DuplicatePolicyException", "A policy with the same name already exists.")
        if changes:
            self._repo.update_org_policy(policy.id, **changes)
            self._written()
        return self._full(org, self._policy(org, policy.id))

    @op("DeletePolicy")
    def delete_policy(self, info: RequestInfo, params: Params) -> Result:
        org = self._managed(info)
        policy = self._policy(org, params["PolicyId"])
        if policy.organization_id is None:
            raise denied()
        if any(p == policy.id for p, _ in self._attached(org)):
            raise OrganizationsError("PolicyInUseException", "The policy is attached to one or more entities. You "
                                     "must detach it from all roots, OUs, and accounts before performing this "
                                     "operation.")
        self._repo.delete_org_policy(policy.id)
        self._written()
        return {}

    @op("ListPolicies")
    def list_policies(self, info: RequestInfo, params: Params) -> Result:
        org = self._administered(info)
        if params["Filter"] != SCP:
            return page([], params, "Policies")
        sources: list[Source[Any]] = [  # FullAWSAccess (not stored) first, then the organization's by name
            Source(lambda key, limit: [_FULL] if key is None and limit > 0 else [], lambda p: (p.id,)),
            Source(lambda key, limit: self._repo.org_policies_page(org.id, key, limit),
                   lambda row: (row.name, row.id), arity=2),
        ]
        return keyset(params, "Policies", "org-policies", sources, lambda p: self._summary(org, p))

    # -- attachments ----------------------------------------------------------------------------------
    def _attachment(self, info: RequestInfo, params: Params) -> tuple[OrganizationRecord, OrgPolicyRecord, str, list[str]]:
        """(organization, policy, target, the policies already on the target) of Attach/DetachPolicy."""
        org = self._managed(info)
        policy = self._policy(org, params["PolicyId"])
        target = params["TargetId"]
        self._target(org, target)
        return org, policy, target, [p for p, t in self._attached(org) if t == target]

    @op("AttachPolicy")
    def attach_policy(self, info: RequestInfo, params: Params) -> Result:
        org, policy, target, on_target = self._attachment(info, params)
        if SCP not in org.policy_types:
            raise OrganizationsError("PolicyTypeNotEnabledException", "This operation can be performed only for "
                                     "enabled policy types.")
        if policy.id in on_target:
            raise _duplicate_attachment()
        try:  # counted under the organization's row lock: concurrent attachments cannot pass the limit
            self._repo.attach_org_policy(org.id, policy.id, target, limit=MAX_SCPS_PER_TARGET)
        except EntityAlreadyExists:
            raise _duplicate_attachment() from None
        except LimitReached:
            raise OrganizationsError("ConstraintViolationException", "You attempted to attach more policies of this "
                                     "type to an entity than the maximum allowed.",
                                     "MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED") from None
        self._written()
        return {}

    @op("DetachPolicy")
    def detach_policy(self, info: RequestInfo, params: Params) -> Result:
        org, policy, target, on_target = self._attachment(info, params)
        if policy.id not in on_target:
            raise _not_attached()
        try:  # the minimum (one policy left) is checked under the organization's row lock
            self._repo.detach_org_policy(org.id, policy.id, target, minimum=1)
        except StaleState:
            raise _not_attached() from None
        except LimitReached:
            raise OrganizationsError("ConstraintViolationException", "You attempted to detach a policy from an entity "
                                     "that would leave the entity with fewer than the minimum number of policies of "
                                     "that type.", "MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED") from None
        self._written()
        return {}

    @op("ListPoliciesForTarget")
    def list_policies_for_target(self, info: RequestInfo, params: Params) -> Result:
        org = self._administered(info)
        target = params["TargetId"]
        self._target(org, target)
        if params["Filter"] != SCP:
            return page([], params, "Policies")
        found = [self._summary(org, _FULL if r.policy_id == FULL_AWS_ACCESS_ID else OrgPolicyRecord(
            r.policy_id, r.p_organization_id, r.p_name, r.p_description, r.p_type, r.p_content))
            for r in self._repo.target_policies(org.id, target)
            if r.policy_id == FULL_AWS_ACCESS_ID or r.p_name is not None]  # at most MAX_SCPS_PER_TARGET
        return page(found, params, "Policies")

    @op("ListTargetsForPolicy")
    def list_targets_for_policy(self, info: RequestInfo, params: Params) -> Result:
        org = self._administered(info)
        policy = self._policy(org, params["PolicyId"])
        return keyset(params, "Targets", "org-policy-targets", [Source(
            lambda key, limit: self._repo.policy_targets_page(org.id, policy.id, key, limit),
            lambda row: (row.target_id,))], lambda row: self._listed_target(org, row))

    @staticmethod
    def _listed_target(org: OrganizationRecord, row: Any) -> Result:
        """``_target``'s answer for a row of ``policy_targets_page`` (names read with the page)."""
        mgmt, target = org.management_account_id, row.target_id
        if target == org.root_id:
            kind, name, arn = "ROOT", "Root", f"arn:aws:organizations::{mgmt}:root/{org.id}/{target}"
        elif target.startswith("ou-"):
            kind, name, arn = "ORGANIZATIONAL_UNIT", row.ou_name, f"arn:aws:organizations::{mgmt}:ou/{org.id}/{target}"
        else:
            kind, name = "ACCOUNT", row.account_name if row.account_name is not None else target
            arn = f"arn:aws:organizations::{mgmt}:account/{org.id}/{target}"
        return {"TargetId": target, "Arn": arn, "Name": name, "Type": kind}


