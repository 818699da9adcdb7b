"""What every Organizations handler mixin uses: errors, the action marker, the caller's
organization and the JSON shapes of organizations and accounts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from opensts.protocol.errors import ServiceError
from opensts.protocol.json_input import offset_token
from opensts.service.context import RequestInfo
from opensts.service.control_policies import FULL_AWS_ACCESS_ID, SCP
from opensts.service.paging import Source, next_page
from opensts.store.organization_repository import MemberRecord, OrganizationRecord

if TYPE_CHECKING:  # the authorizer reads SCPs from this package: no import cycle at run time
    from opensts.service.authorization import Authorizer
    from opensts.store.cache import StoreCache

__all__ = ["OrganizationsError", "OrganizationsBase", "default_scps", "op", "page", "keyset", "KEYSET", "BOUNDED", "administers", "is_delegated_admin", "IAM_SERVICE_PRINCIPAL", "ROOT_SESSIONS",
           "ROOT_CREDENTIALS_MANAGEMENT", "management_email", "account_email", "describe_organization"]

IAM_SERVICE_PRINCIPAL = "iam.amazonaws.com"
#: The IAM features of centralized root access (ListOrganizationsFeatures' names).
ROOT_SESSIONS = "RootSessions"
ROOT_CREDENTIALS_MANAGEMENT = "RootCredentialsManagement"

Params = dict[str, Any]
Result = dict[str, Any]


class OrganizationsError(ServiceError):
    """An Organizations exception: JSON ``{"__type": code, "Message": …}``, HTTP 400."""

    status = 400

    def __init__(self, code: str, message: str, reason: str | None = None) -> None:
        super().__init__(message, code=code, status=400)
        self.reason = reason


def op(name: str) -> Callable[[Callable[..., Result]], Callable[..., Result]]:
    """Mark a method as the handler of the Organizations operation ``name``."""

    def mark(fn: Callable[..., Result]) -> Callable[..., Result]:
        fn.__org_action__ = name  # type: ignore[attr-defined]
        return fn

    return mark


def is_delegated_admin(repo: Any, org_id: str, account_id: str, service: str) -> bool:
    """``account_id`` is registered as the organization's delegated administrator for ``service``."""
    return any(d.account_id == account_id and d.service_principal == service for d in repo.delegated_admins(org_id))


def administers(repo: Any, org: OrganizationRecord, account_id: str, service: str) -> bool:
    """``account_id`` may act for the organization on ``service``: its management account, or the
    delegated administrator for that service."""
    return account_id == org.management_account_id or is_delegated_admin(repo, org.id, account_id, service)


def not_in_use() -> OrganizationsError:
    return OrganizationsError("AWSOrganizationsNotInUseException", "Your account is not a member of an organization.")


def denied() -> OrganizationsError:
    return OrganizationsError("AccessDeniedException", "You don't have permissions to access this resource.")


def account_not_found() -> OrganizationsError:
    return OrganizationsError("AccountNotFoundException", "You specified an account that doesn't exist.")


def default_scps(org: OrganizationRecord) -> tuple[str, ...]:
    """What a new account or OU starts with: FullAWSAccess while SCPs are enabled, as on AWS."""
    return (FULL_AWS_ACCESS_ID,) if SCP in org.policy_types else ()


class OrganizationsBase:
    _cache: StoreCache
    _repo: Any
    _authz: Authorizer

    @staticmethod
    def caller_account(info: RequestInfo) -> str:
        assert info.caller is not None  # the edge authenticates every Organizations call
        return info.caller.account_id

    def _org(self, info: RequestInfo) -> OrganizationRecord:
        org = self._repo.organization_of(self.caller_account(info))
        if org is None:
            raise not_in_use()
        return org

    def _managed(self, info: RequestInfo) -> OrganizationRecord:
        """The caller's organization, which the caller's account must manage."""
        org = self._org(info)
        if org.management_account_id != self.caller_account(info):
            raise denied()
        return org

    def _administered(self, info: RequestInfo) -> OrganizationRecord:
        """The caller's organization, managed by the caller's account or delegated to it."""
        org = self._org(info)
        account = self.caller_account(info)
        if org.management_account_id != account and not any(
                d.account_id == account for d in self._repo.delegated_admins(org.id)):
            raise denied()
        return org

    def _written(self) -> None:
        self._cache.catch_up()

    def with_default_scp(self, org: OrganizationRecord, target: str) -> None:
        """A new OU starts with FullAWSAccess while SCPs are enabled, as on AWS (a new member
        account gets ``default_scps`` in the transaction that adds it)."""
        for policy_id in default_scps(org):
            self._repo.attach_org_policy(org.id, policy_id, target)

    def _member_or_management(self, org: OrganizationRecord, account_id: str) -> MemberRecord | None:
        member = self._repo.member_account(account_id)
        if account_id != org.management_account_id and (member is None or member.organization_id != org.id):
            raise account_not_found()
        return member

    def _account_sources(self, org: OrganizationRecord, parent_id: str | None = None) -> list[Source[Any]]:
        """The organization's accounts (under ``parent_id`` only, if given) as ListAccounts orders
        them: the management account (under the root), then the members as they joined, each
        member row with its account's name (one query a page)."""
        management = parent_id is None or parent_id == org.root_id

        def the_management(key: Any, limit: int) -> list[Any]:
            return [None] if management and key is None and limit > 0 else []

        return [
            Source(the_management, lambda _: (org.management_account_id,)),
            Source(lambda key, limit: self._repo.members_page(org.id, parent_id, org.root_id, key, limit),
                   lambda row: (row.joined_at, row.account_id), arity=2),
        ]

    def _listed_account(self, org: OrganizationRecord, row: Any) -> Result:
        """``_account_result`` of an item of ``_account_sources`` (None: the management account)."""
        if row is None:
            return self._account_result(org, org.management_account_id, None)
        return {
            "Id": row.account_id,
            "Arn": f"arn:aws:organizations::{org.management_account_id}:account/{org.id}/{row.account_id}",
            "Email": row.email, "Name": row.name if row.name is not None else row.account_id,
            "Status": "ACTIVE", "State": "ACTIVE", "JoinedMethod": row.joined_method,
            "JoinedTimestamp": row.joined_at,
        }

    def _account_result(self, org: OrganizationRecord, account_id: str, member: MemberRecord | None) -> Result:
        record = self._repo.get_account(account_id)
        return {
            "Id": account_id,
            "Arn": f"arn:aws:organizations::{org.management_account_id}:account/{org.id}/{account_id}",
            "Email": member.email if member else management_email(org),
            "Name": record.name if record else account_id,
            "Status": "ACTIVE",
            "State": "ACTIVE",
            "JoinedMethod": member.joined_method if member else "INVITED",
            "JoinedTimestamp": member.joined_at if member else org.created_at,
        }


def management_email(org: OrganizationRecord) -> str:
    return account_email(org.management_account_id)


def account_email(account_id: str) -> str:
    """Accounts have no e-mail address in OpenSTS; this stands in for one (a reserved domain) where
    Organizations shows it: the management account, accounts that joined by invitation."""
    return f"root+{account_id}@opensts.invalid"


def describe_organization(org: OrganizationRecord) -> Result:
    mgmt = org.management_account_id
    return {
        "Id": org.id,
        "Arn": f"arn:aws:organizations::{mgmt}:organization/{org.id}",
        "FeatureSet": org.feature_set,
        "MasterAccountArn": f"arn:aws:organizations::{mgmt}:account/{org.id}/{mgmt}",
        "MasterAccountId": mgmt,
        "MasterAccountEmail": management_email(org),
        "AvailablePolicyTypes": [],
    }


NEXT_TOKEN_MAX = 100_000  # botocore's NextToken


def invalid_token() -> OrganizationsError:
    return OrganizationsError("InvalidInputException", "The provided pagination token is not valid.",
                              "INVALID_NEXT_TOKEN")


def keyset(params: Params, key: str, listing: str, sources: Sequence[Source[Any]],
           render: Callable[[Any], Result]) -> Result:
    """A keyset page (service/paging.py) of a listing that grows with the organization:
    ``NextToken`` names the position after the last item, ``MaxResults`` (default 20) caps it."""
    chunk, token = next_page(params.get("NextToken"), params.get("MaxResults") or 20, listing, sources,
                             invalid_token, NEXT_TOKEN_MAX)
    out: Result = {key: [render(item) for item in chunk]}
    if token:
        out["NextToken"] = token
    return out


#: Organizations operations that page in the database (keyset: the token names the position).
KEYSET = frozenset({
    "ListAccounts", "ListAccountsForParent", "ListChildren", "ListOrganizationalUnitsForParent", "ListPolicies",
    "ListTargetsForPolicy", "ListHandshakesForAccount", "ListHandshakesForOrganization", "ListDelegatedAdministrators",
})
#: Operations over a collection that cannot grow (``page``): operation → what bounds it.
BOUNDED: dict[str, str] = {
    "ListRoots": "one root per organization",
    "ListParents": "one parent per child",
    "ListPoliciesForTarget": "SCPs per target: 5 (policies.MAX_SCPS_PER_TARGET)",
    "ListAWSServiceAccessForOrganization": "a set in the organization's own row (read whole with it)",
}


def page(items: list[Result], params: Params, key: str) -> Result:
    """Offset pagination of a ``BOUNDED`` listing: ``NextToken`` is the index of the next item."""
    size = params.get("MaxResults") or 20
    start = offset_token(params.get("NextToken"))
    if start is None:
        raise OrganizationsError("InvalidInputException", "The provided pagination token is not valid.",
                                 "INVALID_NEXT_TOKEN")
    out: Result = {key: items[start : start + size]}
    if start + size < len(items):
        out["NextToken"] = str(start + size)
    return out
