"""Delegated administrators: a member account trusted to administer one AWS service (IAM's
delegated administrator may open root sessions; Account Management's may manage Regions)."""

from __future__ import annotations

from typing import Any

from opensts.service.context import RequestInfo
from opensts.service.organizations._base import (
    OrganizationsBase,
    OrganizationsError,
    Params,
    Result,
    is_delegated_admin,
    keyset,
    management_email,
    op,
)
from opensts.service.paging import Source
from opensts.store.organization_repository import OrganizationRecord
from opensts.store.repository import EntityAlreadyExists

__all__ = ["DelegationActions"]


class DelegationActions(OrganizationsBase):
    @op("RegisterDelegatedAdministrator")
    def register_delegated_admin(self, info: RequestInfo, params: Params) -> Result:
        org = self._managed(info)
        account, service = params["AccountId"], params["ServicePrincipal"]
        if account == org.management_account_id:
            raise OrganizationsError("ConstraintViolationException", "You cannot register the management account "
                                     "of the organization as a delegated administrator for an AWS service.",
                                     "CANNOT_REGISTER_MASTER_AS_DELEGATED_ADMINISTRATOR")
        self._member_or_management(org, account)
        already = OrganizationsError("AccountAlreadyRegisteredException",
                                     "The provided account is already a delegated administrator for your organization.")
        if is_delegated_admin(self._repo, org.id, account, service):
            raise already
        try:  # (account, service) is the primary key: a concurrent registration collides
            self._repo.register_delegated_admin(org.id, account, service)
        except EntityAlreadyExists:
            raise already from None
        self._written()
        return {}

    @op("DeregisterDelegatedAdministrator")
    def deregister_delegated_admin(self, info: RequestInfo, params: Params) -> Result:
        org = self._managed(info)
        account, service = params["AccountId"], params["ServicePrincipal"]
        self._member_or_management(org, account)
        if not is_delegated_admin(self._repo, org.id, account, service):
            raise OrganizationsError("AccountNotRegisteredException", "The provided account is not a registered "
                                     "delegated administrator for your organization.")
        self._repo.deregister_delegated_admin(account, service)
        self._written()
        return {}

    @op("ListDelegatedAdministrators")
    def list_delegated_admins(self, info: RequestInfo, params: Params) -> Result:
        org = self._administered(info)
        wanted = params.get("ServicePrincipal")
        return keyset(params, "DelegatedAdministrators", "org-delegated-admins", [Source(
            lambda key, limit: self._repo.delegated_admins_page(org.id, wanted, key, limit),
            lambda row: (row.enabled_at, row.account_id), arity=2)], lambda row: self._delegated(org, row))

    @staticmethod
    def _delegated(org: OrganizationRecord, row: Any) -> Result:
        """``_account_result`` of a row of ``delegated_admins_page``, and since when it is one."""
        member = row.email is not None
        return {
            "Id": row.account_id,
            "Arn": f"arn:aws:organizations::{org.management_account_id}:account/{org.id}/{row.account_id}",
            "Email": row.email if member else management_email(org),
            "Name": row.name if row.name is not None else row.account_id,
            "Status": "ACTIVE", "State": "ACTIVE",
            "JoinedMethod": row.joined_method if member else "INVITED",
            "JoinedTimestamp": row.joined_at if member else org.created_at,
            "DelegationEnabledDate": row.enabled_at,
        }
