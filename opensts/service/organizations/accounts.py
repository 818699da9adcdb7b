"""Member accounts: created in the organization, listed, described, removed, or leaving."""

from __future__ import annotations

import json

from opensts.fastrand import base32_upper
from opensts.service.context import RequestInfo
from opensts.service.iam.aws_managed import aws_policy_arn
from opensts.service.identifiers import new_account_id, new_unique_id
from opensts.service.organizations._base import (
    OrganizationsBase,
    default_scps,
    OrganizationsError,
    Params,
    Result,
    account_not_found,
    not_in_use,
    keyset,
    op,
)
from opensts.store.organization_repository import MemberRecord

__all__ = ["AccountActions", "ACCESS_ROLE"]

ACCESS_ROLE = "OrganizationAccountAccessRole"


def _management_cannot_leave() -> OrganizationsError:
    return OrganizationsError("MasterCannotLeaveOrganizationException",
                              "You can't remove the management account from an organization. If you want the "
                              "management account to become a member account in another organization, you must "
                              "first delete the current organization.")


class AccountActions(OrganizationsBase):
    @op("CreateAccount")
    def create_account(self, info: RequestInfo, params: Params) -> Result:
        """A new account in the organization, with a role the management account may assume."""
        org = self._managed(info)
        account_id = new_account_id()
        while self._repo.get_account(account_id) is not None:  # pragma: no cover - 1 in 10^11
            account_id = new_account_id()
        self._repo.create_account(account_id, params["AccountName"])  # no IAM user: reached through the role
        self._access_role(account_id, org.management_account_id, params.get("RoleName") or ACCESS_ROLE)
        request_id = "car-" + base32_upper(32).lower()
        self._repo.add_member_account(org.id, account_id, params["Email"], "CREATED", request_id, default_scps(org))
        self._written()
        status = self._create_status(self._repo.member_by_create_request(request_id))
        return {"CreateAccountStatus": {**status, "State": "IN_PROGRESS", "AccountId": None, "CompletedTimestamp": None}}

    def _access_role(self, account_id: str, management_account_id: str, name: str) -> None:
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{management_account_id}:root"},
            "Action": "sts:AssumeRole"}]})
        role = self._repo.create_role(new_unique_id("AROA"), account_id, name, "/", trust)
        self._repo.attach_policy("role", role.id, aws_policy_arn("AdministratorAccess"))

    def _create_status(self, member: MemberRecord) -> Result:
        record = self._repo.get_account(member.account_id)
        return {"Id": member.create_request_id, "AccountName": record.name if record else member.account_id,
                "State": "SUCCEEDED", "RequestedTimestamp": member.joined_at,
                "CompletedTimestamp": member.joined_at, "AccountId": member.account_id}

    @op("DescribeCreateAccountStatus")
    def describe_create_account_status(self, info: RequestInfo, params: Params) -> Result:
        org = self._managed(info)
        member = self._repo.member_by_create_request(params["CreateAccountRequestId"])
        if member is None or member.organization_id != org.id:
            raise OrganizationsError("CreateAccountStatusNotFoundException", "We can't find an create account "
                                     "request with the CreateAccountRequestId that you specified.")
        return {"CreateAccountStatus": self._create_status(member)}

    @op("ListAccounts")
    def list_accounts(self, info: RequestInfo, params: Params) -> Result:
        org = self._administered(info)
        return keyset(params, "Accounts", "org-accounts", self._account_sources(org),
                      lambda row: self._listed_account(org, row))

    @op("DescribeAccount")
    def describe_account(self, info: RequestInfo, params: Params) -> Result:
        org = self._administered(info)
        member = self._member_or_management(org, params["AccountId"])
        return {"Account": self._account_result(org, params["AccountId"], member)}

    @op("RemoveAccountFromOrganization")
    def remove_account(self, info: RequestInfo, params: Params) -> Result:
        org = self._managed(info)
        account = params["AccountId"]
        if account == org.management_account_id:
            raise _management_cannot_leave()
        self._member_or_management(org, account)
        self._repo.remove_member_account(account)
        self._written()
        return {}

    @op("LeaveOrganization")
    def leave_organization(self, info: RequestInfo, params: Params) -> Result:
        account = self.caller_account(info)
        org = self._repo.organization_of(account)
        if org is None:
            raise not_in_use()
        if account == org.management_account_id:
            raise _management_cannot_leave()
        if self._repo.member_account(account) is None:  # pragma: no cover - organization_of found it
            raise account_not_found()
        self._repo.remove_member_account(account)
        self._written()
        return {}
