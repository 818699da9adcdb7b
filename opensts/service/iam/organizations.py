"""Centralized root access (IAM): Enable/DisableOrganizationsRootCredentialsManagement,
Enable/DisableOrganizationsRootSessions, ListOrganizationsFeatures.

``RootSessions`` is what lets the management account (or IAM's delegated administrator) call
``sts:AssumeRoot`` on member accounts. As on AWS, both features need an organization in
all-features mode with trusted access enabled for ``iam.amazonaws.com``.
"""

from __future__ import annotations

from opensts.service.context import RequestInfo
from opensts.service.iam._base import IamBase, Params, Result, action
from opensts.service.organizations._base import (
    IAM_SERVICE_PRINCIPAL,
    ROOT_CREDENTIALS_MANAGEMENT,
    ROOT_SESSIONS,
    administers,
)
from opensts.store.organization_repository import OrganizationRecord

__all__ = ["OrganizationFeatureActions"]


class OrganizationFeatureActions(IamBase):
    def _feature_org(self, info: RequestInfo, action_name: str) -> OrganizationRecord:
        self.authorize(info, action_name, "*")
        account = self.caller(info).account_id
        org = self.repo.organization_of(account)
        if org is None:
            raise self.err("OrganizationNotFoundException",
                           "The request was rejected because no organization is associated with your account.")
        if not administers(self.repo, org, account, IAM_SERVICE_PRINCIPAL):
            raise self.err("AccountNotManagementOrDelegatedAdministratorException",
                           "The request was rejected because the account making the request is not the "
                           "management account or delegated administrator account for centralized root access.")
        if org.feature_set != "ALL":
            raise self.err("OrganizationNotInAllFeaturesModeException",
                           "The request was rejected because your organization does not have All features enabled.")
        if IAM_SERVICE_PRINCIPAL not in org.service_access:
            raise self.err("ServiceAccessNotEnabledException",
                           "The request was rejected because trusted access is not enabled for IAM in AWS "
                           "Organizations.")
        return org

    def _set_feature(self, info: RequestInfo, action_name: str, feature: str, on: bool) -> Result:
        org = self._feature_org(info, action_name)
        change = frozenset({feature})
        features = self.repo.edit_organization_set(org.id, "iam_features", add=change if on else frozenset(),
                                                   remove=frozenset() if on else change)
        self.written()
        return _result(org.id, features)

    @action("EnableOrganizationsRootCredentialsManagement")
    def enable_root_credentials_management(self, info: RequestInfo, params: Params) -> Result:
        return self._set_feature(info, "EnableOrganizationsRootCredentialsManagement",
                                 ROOT_CREDENTIALS_MANAGEMENT, True)

    @action("DisableOrganizationsRootCredentialsManagement")
    def disable_root_credentials_management(self, info: RequestInfo, params: Params) -> Result:
        return self._set_feature(info, "DisableOrganizationsRootCredentialsManagement",
                                 ROOT_CREDENTIALS_MANAGEMENT, False)

    @action("EnableOrganizationsRootSessions")
    def enable_root_sessions(self, info: RequestInfo, params: Params) -> Result:
        return self._set_feature(info, "EnableOrganizationsRootSessions", ROOT_SESSIONS, True)

    @action("DisableOrganizationsRootSessions")
    def disable_root_sessions(self, info: RequestInfo, params: Params) -> Result:
        return self._set_feature(info, "DisableOrganizationsRootSessions", ROOT_SESSIONS, False)

    @action("ListOrganizationsFeatures")
    def list_organizations_features(self, info: RequestInfo, params: Params) -> Result:
        org = self._feature_org(info, "ListOrganizationsFeatures")
        return _result(org.id, org.iam_features)


def _result(org_id: str, features: frozenset[str]) -> Result:
    return {"OrganizationId": org_id, "EnabledFeatures": sorted(features)}
