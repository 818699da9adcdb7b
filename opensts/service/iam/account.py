"""Account-wide IAM settings: SetSecurityTokenServicePreferences, GetAccountSummary."""

from __future__ import annotations

from opensts.policy import choices
from opensts.service.context import RequestInfo
from opensts.service.iam._base import IamBase, Params, Result, action
from opensts.service.iam.groups import GROUPS_PER_ACCOUNT, GROUPS_PER_USER, POLICIES_PER_GROUP
from opensts.service.iam.managed import MAX_ATTACHED, MAX_VERSIONS
from opensts.service.iam.users import ACCESS_KEYS_PER_USER

__all__ = ["AccountActions", "QUOTAS"]

QUOTAS: dict[str, int] = {
    "UsersQuota": 5000,
    "GroupsQuota": GROUPS_PER_ACCOUNT,
    "RolesQuota": 1000,
    "PoliciesQuota": 1500,
    "InstanceProfilesQuota": 1000,
    "ServerCertificatesQuota": 20,
    "PolicyVersionsInUseQuota": 10000,
    "VersionsPerPolicyQuota": MAX_VERSIONS,
    "AccessKeysPerUserQuota": ACCESS_KEYS_PER_USER,
    "SigningCertificatesPerUserQuota": 2,
    "GroupsPerUserQuota": GROUPS_PER_USER,
    "AttachedPoliciesPerUserQuota": MAX_ATTACHED,
    "AttachedPoliciesPerRoleQuota": MAX_ATTACHED,
    "AttachedPoliciesPerGroupQuota": POLICIES_PER_GROUP,
    "PolicySizeQuota": choices.MANAGED_POLICY_QUOTA,
    "UserPolicySizeQuota": choices.INLINE_POLICY_QUOTAS["user"],
    "GroupPolicySizeQuota": choices.INLINE_POLICY_QUOTAS["group"],
    "RolePolicySizeQuota": choices.INLINE_POLICY_QUOTAS["role"],
    "AssumeRolePolicySizeQuota": choices.TRUST_POLICY_QUOTA,
}


class AccountActions(IamBase):
    @action("SetSecurityTokenServicePreferences")
    def set_sts_preferences(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "SetSecurityTokenServicePreferences", "*")
        version = 2 if params["GlobalEndpointTokenVersion"] == "v2Token" else 1
        self.repo.set_global_endpoint_token_version(self.caller(info).account_id, version)
        self.written()
        return {}

    @action("GetAccountSummary")
    def get_account_summary(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "GetAccountSummary", "*")
        account = self.caller(info).account_id
        counts = self.repo.account_counts(account)
        in_use = sum(p.attachment_count for p in self.repo.list_policies(account, include_aws=False))
        summary = {
            **QUOTAS,
            **counts,
            "Groups": self.repo.group_count(account),
            "InstanceProfiles": 0,
            "ServerCertificates": 0,
            "AccountSigningCertificatesPresent": 0,
            "AccountMFAEnabled": 0,
            **self.repo.credential_account_counts(account),  # InstanceProfiles, ServerCertificates, …
            "PolicyVersionsInUse": in_use,
            "GlobalEndpointTokenVersion": self.repo.global_endpoint_token_version(account),
        }
        summary["AccountAccessKeysPresent"] = min(summary["AccountAccessKeysPresent"], 1)
        return {"SummaryMap": summary}
