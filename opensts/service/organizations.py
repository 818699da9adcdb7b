"""AWS Organizations, the part STS depends on: an organization with a management account, member
accounts created in it, trusted access for AWS services and delegated administrators.

It exists for AssumeRoot (a management or delegated-administrator account for IAM opens a root
session in a member account) and for the ``aws:PrincipalOrgID`` / ``aws:PrincipalOrgPaths``
condition keys. Handlers take validated JSON input (``protocol/json_input.py``) and return JSON
output; refusals are ``OrganizationsError`` with Organizations' exception names.

Not modelled: organizational units and policies (SCPs), invitations/handshakes, leaving or
removing accounts, closing accounts. CreateAccount answers ``IN_PROGRESS`` and the account is ready
by the first DescribeCreateAccountStatus, as clients expect to poll.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from opensts.fastrand import base32_upper
from opensts.protocol.errors import ServiceError
from opensts.service.authorization import Authorizer
from opensts.service.context import RequestInfo
from opensts.service.iam.aws_managed import aws_policy_arn
from opensts.service.identifiers import new_account_id, new_unique_id
from opensts.store.cache import StoreCache
from opensts.store.organization_repository import MemberRecord, OrganizationRecord

__all__ = ["OrganizationsService", "OrganizationsError", "IAM_SERVICE_PRINCIPAL", "may_assume_root"]

IAM_SERVICE_PRINCIPAL = "iam.amazonaws.com"
#: The IAM features of centralized root access (ListOrganizationsFeatures' names).
ROOT_SESSIONS = "RootSessions"
ROOT_CREDENTIALS_MANAGEMENT = "RootCredentialsManagement"
ACCESS_ROLE = "OrganizationAccountAccessRole"

Handler = Callable[[RequestInfo, dict[str, Any]], dict[str, Any]]


def may_assume_root(repo: Any, org: OrganizationRecord, account_id: str) -> bool:
    """Centralized root sessions are enabled and ``account_id`` administers them: the
    management account, or the delegated administrator for IAM."""
    if ROOT_SESSIONS not in org.iam_features:
        return False
    return org.management_account_id == account_id or any(
        d.account_id == account_id and d.service_principal == IAM_SERVICE_PRINCIPAL for d in repo.delegated_admins(org.id))


class OrganizationsError(ServiceError):
    """An Organizations exception: JSON ``{"__type": code, "Message": …}``, HTTP 400."""

    status = 400

    def __init__(self, code: str, message: str, reason: str | None = None) -> None:
        super().__init__(message, code=code, status=400)
        self.reason = reason


def _not_in_use() -> OrganizationsError:
    return OrganizationsError("AWSOrganizationsNotInUseException", "Your account is not a member of an organization.")


def _denied() -> OrganizationsError:
    return OrganizationsError("AccessDeniedException", "You don't have permissions to access this resource.")


def _op(name: str) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    def mark(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        fn.__org_action__ = name  # type: ignore[attr-defined]
        return fn

    return mark


class OrganizationsService:
    def __init__(self, cache: StoreCache, authorizer: Authorizer) -> None:
        self._cache = cache
        self._repo: Any = cache.repo
        self._authz = authorizer
        self.handlers: dict[str, Handler] = {}
        for attr in dir(type(self)):
            name = getattr(getattr(type(self), attr), "__org_action__", None)
            if name:
                self.handlers[name] = getattr(self, attr)

    def handle(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        handler = self.handlers.get(info.action)
        if handler is None:
            raise OrganizationsError("UnsupportedAPIEndpointException",
                                     f"{info.action} is not implemented by this OpenSTS server yet.")
        self._authz.authorize(info, f"organizations:{info.action}", "*")
        return handler(info, params)

    # -- helpers ------------------------------------------------------------------------------
    def _org(self, info: RequestInfo) -> OrganizationRecord:
        org = self._repo.organization_of(_account(info))
        if org is None:
            raise _not_in_use()
        return org

    def _managed(self, info: RequestInfo) -> OrganizationRecord:
        """The caller's organization, which the caller's account must manage."""
        org = self._org(info)
        if org.management_account_id != _account(info):
            raise _denied()
        return org

    def _administered(self, info: RequestInfo) -> OrganizationRecord:
        """The caller's organization, managed by the caller's account or delegated to it."""
        org = self._org(info)
        account = _account(info)
        if org.management_account_id != account and not any(
                d.account_id == account for d in self._repo.delegated_admins(org.id)):
            raise _denied()
        return org

    def _written(self) -> None:
        self._cache.invalidate()

    def _account_result(self, org: OrganizationRecord, account_id: str, member: MemberRecord | None) -> dict[str, Any]:
        record = self._repo.get_account(account_id)
        joined = member.joined_at if member else org.created_at
        return {
            "Id": account_id,
            "Arn": f"arn:aws:organizations::{org.management_account_id}:account/{org.id}/{account_id}",
            "Email": member.email if member else _management_email(org),
            "Name": record.name if record else account_id,
            "Status": "ACTIVE",
            "State": "ACTIVE",
            "JoinedMethod": member.joined_method if member else "INVITED",
            "JoinedTimestamp": joined,
        }

    def _member_or_management(self, org: OrganizationRecord, account_id: str) -> MemberRecord | None:
        member = self._repo.member_account(account_id)
        if account_id != org.management_account_id and (member is None or member.organization_id != org.id):
            raise OrganizationsError("AccountNotFoundException", "You specified an account that doesn't exist.")
        return member

    # -- the organization -----------------------------------------------------------------------
    @_op("CreateOrganization")
    def create_organization(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        account = _account(info)
        if self._repo.organization_of(account) is not None:
            raise OrganizationsError("AlreadyInOrganizationException",
                                     "The AWS account is already a member of an organization.")
        org_id = "o-" + base32_upper(10).lower()
        self._repo.create_organization(org_id, "r-" + base32_upper(4).lower(), account, params.get("FeatureSet", "ALL"))
        self._written()
        return {"Organization": _describe(self._repo.get_organization(org_id))}

    @_op("DescribeOrganization")
    def describe_organization(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        return {"Organization": _describe(self._org(info))}

    @_op("DeleteOrganization")
    def delete_organization(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        org = self._managed(info)
        if self._repo.member_accounts(org.id):
            raise OrganizationsError("OrganizationNotEmptyException", "To delete an organization you must first "
                                     "remove all member accounts (except the master).")
        self._repo.delete_organization(org.id)
        self._written()
        return {}

    # -- accounts -------------------------------------------------------------------------------
    @_op("CreateAccount")
    def create_account(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        """A new account in the organization, with a role the management account may assume."""
        org = self._managed(info)
        account_id = new_account_id()
        while self._repo.get_account(account_id) is not None:  # pragma: no cover - 1 in 10^11
            account_id = new_account_id()
        self._repo.create_account(account_id, params["AccountName"])  # no IAM user: reached through the role
        self._access_role(account_id, org.management_account_id, params.get("RoleName") or ACCESS_ROLE)
        request_id = "car-" + base32_upper(32).lower()
        self._repo.add_member_account(org.id, account_id, params["Email"], "CREATED", request_id)
        self._written()
        status = self._create_status(self._repo.member_by_create_request(request_id))
        return {"CreateAccountStatus": {**status, "State": "IN_PROGRESS", "AccountId": None, "CompletedTimestamp": None}}

    def _access_role(self, account_id: str, management_account_id: str, name: str) -> None:
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{management_account_id}:root"},
            "Action": "sts:AssumeRole"}]})
        role = self._repo.create_role(new_unique_id("AROA"), account_id, name, "/", trust)
        self._repo.attach_policy("role", role.id, aws_policy_arn("AdministratorAccess"))

    def _create_status(self, member: MemberRecord) -> dict[str, Any]:
        record = self._repo.get_account(member.account_id)
        return {"Id": member.create_request_id, "AccountName": record.name if record else member.account_id,
                "State": "SUCCEEDED", "RequestedTimestamp": member.joined_at,
                "CompletedTimestamp": member.joined_at, "AccountId": member.account_id}

    @_op("DescribeCreateAccountStatus")
    def describe_create_account_status(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        org = self._managed(info)
        member = self._repo.member_by_create_request(params["CreateAccountRequestId"])
        if member is None or member.organization_id != org.id:
            raise OrganizationsError("CreateAccountStatusNotFoundException", "We can't find an create account "
                                     "request with the CreateAccountRequestId that you specified.")
        return {"CreateAccountStatus": self._create_status(member)}

    @_op("ListAccounts")
    def list_accounts(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        org = self._administered(info)
        accounts = [self._account_result(org, org.management_account_id, None)]
        accounts += [self._account_result(org, m.account_id, m) for m in self._repo.member_accounts(org.id)]
        return _page(accounts, params, "Accounts")

    @_op("DescribeAccount")
    def describe_account(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        org = self._administered(info)
        member = self._member_or_management(org, params["AccountId"])
        return {"Account": self._account_result(org, params["AccountId"], member)}

    # -- trusted access and delegated administrators ------------------------------------------------
    @_op("EnableAWSServiceAccess")
    def enable_service_access(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        org = self._managed(info)
        self._repo.set_organization_sets(org.id, service_access=org.service_access | {params["ServicePrincipal"]})
        self._written()
        return {}

    @_op("DisableAWSServiceAccess")
    def disable_service_access(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        org = self._managed(info)
        self._repo.set_organization_sets(org.id, service_access=org.service_access - {params["ServicePrincipal"]})
        self._written()
        return {}

    @_op("ListAWSServiceAccessForOrganization")
    def list_service_access(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        org = self._administered(info)
        return _page([{"ServicePrincipal": s} for s in sorted(org.service_access)], params,
                     "EnabledServicePrincipals")

    @_op("RegisterDelegatedAdministrator")
    def register_delegated_admin(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        org = self._managed(info)
        account, service = params["AccountId"], params["ServicePrincipal"]
        if account == org.management_account_id:
            raise OrganizationsError("ConstraintViolationException", "You cannot register the management account "
                                     "of the organization as a delegated administrator for an AWS service.",
                                     "CANNOT_REGISTER_MASTER_AS_DELEGATED_ADMINISTRATOR")
        self._member_or_management(org, account)
        if any(d.account_id == account and d.service_principal == service for d in self._repo.delegated_admins(org.id)):
            raise OrganizationsError("AccountAlreadyRegisteredException",
                                     "The provided account is already a delegated administrator for your organization.")
        self._repo.register_delegated_admin(org.id, account, service)
        self._written()
        return {}

    @_op("DeregisterDelegatedAdministrator")
    def deregister_delegated_admin(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        org = self._managed(info)
        account, service = params["AccountId"], params["ServicePrincipal"]
        self._member_or_management(org, account)
        if not any(d.account_id == account and d.service_principal == service
                   for d in self._repo.delegated_admins(org.id)):
            raise OrganizationsError("AccountNotRegisteredException",
                                     "The provided account is not a registered delegated administrator for your "
                                     "organization.")
        self._repo.deregister_delegated_admin(account, service)
        self._written()
        return {}

    @_op("ListDelegatedAdministrators")
    def list_delegated_admins(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        org = self._administered(info)
        wanted = params.get("ServicePrincipal")
        seen: dict[str, dict[str, Any]] = {}
        for d in self._repo.delegated_admins(org.id):
            if wanted is None or d.service_principal == wanted:
                entry = self._account_result(org, d.account_id, self._repo.member_account(d.account_id))
                seen.setdefault(d.account_id, {**entry, "DelegationEnabledDate": d.registered_at})
        return _page(list(seen.values()), params, "DelegatedAdministrators")


def _account(info: RequestInfo) -> str:
    assert info.caller is not None  # the edge authenticates every Organizations call
    return info.caller.account_id


def _management_email(org: OrganizationRecord) -> str:
    return f"root+{org.management_account_id}@opensts.invalid"


def _describe(org: OrganizationRecord) -> dict[str, Any]:
    mgmt = org.management_account_id
    return {
        "Id": org.id,
        "Arn": f"arn:aws:organizations::{mgmt}:organization/{org.id}",
        "FeatureSet": org.feature_set,
        "MasterAccountArn": f"arn:aws:organizations::{mgmt}:account/{org.id}/{mgmt}",
        "MasterAccountId": mgmt,
        "MasterAccountEmail": _management_email(org),
        "AvailablePolicyTypes": [],
    }


def _page(items: list[dict[str, Any]], params: dict[str, Any], key: str) -> dict[str, Any]:
    """Offset pagination: ``NextToken`` is the index of the next item."""
    size = params.get("MaxResults") or 20
    token = params.get("NextToken")
    if token is not None and not (isinstance(token, str) and token.isdigit()):
        raise OrganizationsError("InvalidInputException", "The provided pagination token is not valid.",
                                 "INVALID_NEXT_TOKEN")
    start = int(token or 0)
    out: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        out["NextToken"] = str(start + size)
    return out
