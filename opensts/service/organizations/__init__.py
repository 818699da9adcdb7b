"""AWS Organizations, the part STS depends on: an organization with a management account, member
accounts (created in it, or invited and accepted), trusted access for AWS services and delegated
administrators.

It exists for AssumeRoot (a management or delegated-administrator account for IAM opens a root
session in a member account), for the ``aws:PrincipalOrgID`` / ``aws:PrincipalOrgPaths`` condition
keys, for service control policies, and for the Account API's ``AccountId`` (the management account
manages members' Regions).
Handlers take JSON input validated against botocore's model (``protocol/json_input.py``) and return
JSON output; refusals are ``OrganizationsError`` with Organizations' exception names. Every
operation is first authorized as ``organizations:<Operation>``.

Organizational units and service control policies are modelled (``tree.py``, ``policies.py``);
the SCPs over an account bind its principals in every decision (``service/control_policies.py``).
Not modelled: policy types other than SCPs (RCPs, tag, backup … policies), closing accounts,
invitations by e-mail.
CreateAccount answers ``IN_PROGRESS`` and the account is ready by the first
DescribeCreateAccountStatus, as clients expect to poll.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opensts.service.context import RequestInfo
from opensts.service.organizations._base import (
    IAM_SERVICE_PRINCIPAL,
    ROOT_CREDENTIALS_MANAGEMENT,
    ROOT_SESSIONS,
    OrganizationsError,
    administers,
)
from opensts.service.organizations.accounts import AccountActions
from opensts.service.organizations.delegation import DelegationActions
from opensts.service.organizations.handshakes import HandshakeActions
from opensts.service.organizations.organization import OrganizationActions
from opensts.service.organizations.policies import PolicyActions
from opensts.service.organizations.tree import TreeActions
from opensts.store.organization_repository import OrganizationRecord
from opensts.store.repository import EntityAlreadyExists, ParentGone, StaleState

if TYPE_CHECKING:  # the authorizer reads SCPs from this package: no import cycle at run time
    from opensts.service.authorization import Authorizer
    from opensts.store.cache import StoreCache

__all__ = ["OrganizationsService", "OrganizationsError", "IAM_SERVICE_PRINCIPAL", "ROOT_SESSIONS",
           "ROOT_CREDENTIALS_MANAGEMENT", "may_assume_root", "administers"]

Handler = Callable[[RequestInfo, dict[str, Any]], dict[str, Any]]


def may_assume_root(repo: Any, org: OrganizationRecord, account_id: str) -> bool:
    """Centralized root sessions are enabled and ``account_id`` administers them: the
    management account, or the delegated administrator for IAM."""
    return ROOT_SESSIONS in org.iam_features and administers(repo, org, account_id, IAM_SERVICE_PRINCIPAL)


class OrganizationsService(OrganizationActions, AccountActions, TreeActions, PolicyActions, HandshakeActions,
                           DelegationActions):
    """One method per operation (mixins per concept); ``handlers`` is the dispatch table."""

    def __init__(self, cache: StoreCache, authorizer: Authorizer) -> None:
        self._cache = cache
        self._repo = cache.repo
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
        try:
            return handler(info, params)
        except (EntityAlreadyExists, StaleState, ParentGone):
            # A store conflict no handler turned into its own error (a concurrent write won): AWS's answer.
            raise OrganizationsError("ConcurrentModificationException", "AWS Organizations can't complete your "
                                     "request because it conflicts with another attempt to modify the same "
                                     "entity. Try again later.") from None
