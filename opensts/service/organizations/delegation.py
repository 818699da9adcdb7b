"""Delegated administrators: a member account trusted to administer one AWS service (IAM's
delegated administrator may open root sessions; Account Management's may manage Regions)."""

from __future__ import annotations

from opensts.service.context import RequestInfo
from opensts.service.organizations._base import (
    OrganizationsBase,
    OrganizationsError,
    Params,
    Result,
    is_delegated_admin,
    op,
    page,
)
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
        seen: dict[str, Result] = {}
        for d in self._repo.delegated_admins(org.id):
            if wanted is None or d.service_principal == wanted:
                entry = self._account_result(org, d.account_id, self._repo.member_account(d.account_id))
                seen.setdefault(d.account_id, {**entry, "DelegationEnabledDate": d.registered_at})
        return page(list(seen.values()), params, "DelegatedAdministrators")
