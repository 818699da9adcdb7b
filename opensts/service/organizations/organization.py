"""The organization itself and the AWS services trusted to act in it."""

from __future__ import annotations

from opensts.fastrand import base32_upper
from opensts.service.context import RequestInfo
from opensts.service.organizations._base import (
    OrganizationsBase,
    OrganizationsError,
    Params,
    Result,
    describe_organization,
    op,
    page,
)
from opensts.store.repository import EntityAlreadyExists

__all__ = ["OrganizationActions"]


def _already_in_organization() -> OrganizationsError:
    return OrganizationsError("AlreadyInOrganizationException", "The AWS account is already a member of an "
                              "organization.")


class OrganizationActions(OrganizationsBase):
    @op("CreateOrganization")
    def create_organization(self, info: RequestInfo, params: Params) -> Result:
        account = self.caller_account(info)
        if self._repo.organization_of(account) is not None:
            raise _already_in_organization()
        org_id = "o-" + base32_upper(10).lower()
        try:  # one organization per management account: a unique column, so a concurrent create collides
            self._repo.create_organization(org_id, "r-" + base32_upper(4).lower(), account,
                                           params.get("FeatureSet", "ALL"))
        except EntityAlreadyExists:
            raise _already_in_organization() from None
        self._written()
        return {"Organization": describe_organization(self._repo.get_organization(org_id))}

    @op("DescribeOrganization")
    def describe_organization(self, info: RequestInfo, params: Params) -> Result:
        return {"Organization": describe_organization(self._org(info))}

    @op("DeleteOrganization")
    def delete_organization(self, info: RequestInfo, params: Params) -> Result:
        org = self._managed(info)
        if self._repo.member_accounts(org.id):
            raise OrganizationsError("OrganizationNotEmptyException", "To delete an organization you must first "
                                     "remove all member accounts (except the master).")
        self._repo.delete_organization(org.id)
        self._written()
        return {}

    @op("EnableAWSServiceAccess")
    def enable_service_access(self, info: RequestInfo, params: Params) -> Result:
        org = self._managed(info)
        self._repo.edit_organization_set(org.id, "service_access", add=frozenset({params["ServicePrincipal"]}))
        self._written()
        return {}

    @op("DisableAWSServiceAccess")
    def disable_service_access(self, info: RequestInfo, params: Params) -> Result:
        org = self._managed(info)
        self._repo.edit_organization_set(org.id, "service_access", remove=frozenset({params["ServicePrincipal"]}))
        self._written()
        return {}

    @op("ListAWSServiceAccessForOrganization")
    def list_service_access(self, info: RequestInfo, params: Params) -> Result:
        org = self._administered(info)
        return page([{"ServicePrincipal": s} for s in sorted(org.service_access)], params, "EnabledServicePrincipals")
